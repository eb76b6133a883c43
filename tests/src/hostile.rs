//! The crafted-frame sender: prebuilt Ethernet frames sent from one host's namespace through
//! an AF_PACKET socket on its interface, from one thread (so at most one core), for at most a
//! fixed time AND at most a fixed number of frames. The benches' floods (figures 4 and 5) and
//! the hostile-input suite (`tests/tests/hostile.rs`) both send through it; the frames are
//! built by the callers with the agent's own encoders (`vrrp_agent::wire`) and then
//! corrupted, so there is no encoder here.
//!
//! Frames of the bound ethertype that come back to the sending host are read from the same
//! socket (a packet socket never receives its own transmissions) and judged by the caller, so
//! a flood can count the replies it draws (ARP replies for a VIP) where they arrive. Bound to
//! ethertype 0 ([`SEND_ONLY`]) the socket receives nothing.
//!
//! Only hosts of the tests' own namespaces are addressed: the socket is opened inside the
//! sending host's namespace, on its own interface.
use std::{
    fs::File,
    os::fd::{AsFd, AsRawFd, OwnedFd},
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail, ensure};
use nix::{
    errno::Errno,
    poll::{PollFd, PollFlags, PollTimeout, poll},
    sched::{CloneFlags, CpuSet, sched_getaffinity, sched_setaffinity, setns},
    sys::socket::{AddressFamily, LinkAddr, MsgFlags, SockFlag, SockType, SockaddrLike, bind, recv, send, setsockopt, socket, sockopt},
    time::{ClockId, clock_gettime},
    unistd::Pid,
};
use serde::Serialize;
use crate::{Host, Netns};

/// Frames the flood reads back between two checks of the clock and of the socket.
const BATCH: u64 = 64;
/// After the last frame: replies still on their way are read until the socket has been quiet
/// this long (or [`DRAIN_MAX`] has passed).
const DRAIN_QUIET: Duration = Duration::from_millis(100);
const DRAIN_MAX: Duration = Duration::from_secs(1);
/// Receive buffer of the flooding socket: replies queue here between two reads.
const RCVBUF: usize = 16 << 20;

/// What a frame that came back to the flooder is, for the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// Not a reply this flood is about (an advert, another host's ARP).
    Other,
    /// A reply as it should be.
    Good,
    /// A reply that answers the flood wrongly (says why).
    Wrong(String),
}

/// One bounded flood.
pub struct Flood<'a> {
    /// Sent in turn, over and over.
    pub frames: &'a [Vec<u8>],
    /// The socket is bound to this ethertype: frames of it arriving at the flooder are
    /// offered to `judge`.
    pub ethertype: u16,
    pub max_frames: u64,
    pub max_time: Duration,
    pub judge: &'a (dyn Fn(&[u8]) -> Reply + Sync),
}

/// What a flood achieved.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Sent {
    /// Frames the kernel took.
    pub sent: u64,
    /// Sends refused (ENOBUFS, EAGAIN): counted toward the frame bound, not sent.
    pub refused: u64,
    /// From the first send to the last.
    pub secs: f64,
    /// The CPU the flood ran on (the thread is pinned to it).
    pub cpu: usize,
    /// CPU time of the sending thread from the first send to the last (its scheduler
    /// clock, so with the softirq work the kernel ran in its context: on veth the receivers'
    /// processing, bridge, XDP or the stack, the replies on their way back, runs there).
    pub sender_cpu_secs: f64,
    /// Run time of that CPU's `ksoftirqd/N` over the same span: the softirq work the kernel
    /// deferred instead of running it in the sender's context.
    pub ksoftirqd_secs: f64,
    pub replies: u64,
    pub wrong_replies: u64,
    /// The first wrong reply, described.
    pub first_wrong: Option<String>,
    /// Replies read after the last send (queued or still in flight).
    pub late_replies: u64,
}

impl Sent {
    /// Frames per second sent.
    pub fn rate(&self) -> f64 {
        if self.secs > 0.0 { self.sent as f64 / self.secs } else { 0.0 }
    }

    /// CPU per frame sent, in µs: the sending thread's and its CPU's ksoftirqd's time (all
    /// the kernel's work for the frame on veth: sending, bridging, receiving, answering).
    pub fn us_per_frame(&self) -> f64 {
        1e6 * (self.sender_cpu_secs + self.ksoftirqd_secs) / self.sent.max(1) as f64
    }

    /// Replies per second of flood.
    pub fn reply_rate(&self) -> f64 {
        if self.secs > 0.0 { self.replies as f64 / self.secs } else { 0.0 }
    }
}

impl Flood<'_> {
    /// Runs the flood from `host`'s namespace out of its interface. The work happens on a
    /// thread of its own that enters the namespace (setns affects only the calling thread),
    /// so the caller's namespace is untouched, pinned to the highest CPU this process may
    /// use (one core, the same one every flood).
    pub fn run(&self, host: &Host) -> Result<Sent> {
        ensure!(!self.frames.is_empty(), "a flood needs frames");
        ensure!(self.max_frames > 0 && !self.max_time.is_zero(), "a flood is bounded in count and time");
        let ns = File::open(host.ns.path()).with_context(|| format!("opening {}", host.ns.path().display()))?;
        std::thread::scope(|s| {
            s.spawn(|| {
                setns(ns.as_fd(), CloneFlags::CLONE_NEWNET).context("entering the flooder's namespace")?;
                let cpu = pin_to_last_cpu()?;
                let sock = packet_socket(&host.ifname, self.ethertype)?;
                let mut out = self.send_all(&sock, cpu)?;
                out.cpu = cpu;
                Ok(out)
            })
            .join()
            .map_err(|_| anyhow::anyhow!("the flood thread panicked"))?
        })
    }

    fn send_all(&self, sock: &OwnedFd, cpu: usize) -> Result<Sent> {
        let fd = sock.as_raw_fd();
        let mut out = Sent::default();
        let mut buf = vec![0u8; 2048];
        let ksoftirqd = ksoftirqd_pid(cpu);
        let si0 = ksoftirqd.and_then(task_cpu_secs).unwrap_or(0.0);
        let cpu0 = thread_cpu()?;
        let start = Instant::now();
        let mut tried = 0u64;
        'flood: while tried < self.max_frames {
            let batch = BATCH.min(self.max_frames - tried);
            for _ in 0..batch {
                let frame = &self.frames[(tried % self.frames.len() as u64) as usize];
                tried += 1;
                match send(fd, frame, MsgFlags::empty()) {
                    Ok(_) => out.sent += 1,
                    Err(Errno::ENOBUFS | Errno::EAGAIN) => out.refused += 1,
                    Err(e) => bail!("sending frame {tried} of the flood: {e}"),
                }
            }
            self.read_ready(fd, &mut buf, &mut out)?;
            if start.elapsed() >= self.max_time {
                break 'flood;
            }
        }
        out.secs = start.elapsed().as_secs_f64();
        out.sender_cpu_secs = thread_cpu()? - cpu0;
        out.ksoftirqd_secs = ksoftirqd.and_then(task_cpu_secs).map_or(0.0, |s| s - si0);
        // Replies still in flight: read until the socket is quiet.
        let before = out.replies;
        let drain_end = Instant::now() + DRAIN_MAX;
        while Instant::now() < drain_end {
            let mut fds = [PollFd::new(sock.as_fd(), PollFlags::POLLIN)];
            let quiet = PollTimeout::try_from(DRAIN_QUIET).unwrap_or(PollTimeout::ZERO);
            match poll(&mut fds, quiet) {
                Ok(0) => break,
                Ok(_) => self.read_ready(fd, &mut buf, &mut out)?,
                Err(Errno::EINTR) => {}
                Err(e) => bail!("poll on the flood socket: {e}"),
            }
        }
        out.late_replies = out.replies - before;
        Ok(out)
    }

    /// Reads and judges every frame queued on the socket.
    fn read_ready(&self, fd: i32, buf: &mut [u8], out: &mut Sent) -> Result<()> {
        loop {
            match recv(fd, buf, MsgFlags::MSG_DONTWAIT) {
                Ok(n) => match (self.judge)(&buf[..n]) {
                    Reply::Other => {}
                    Reply::Good => out.replies += 1,
                    Reply::Wrong(why) => {
                        out.replies += 1;
                        out.wrong_replies += 1;
                        out.first_wrong.get_or_insert(why);
                    }
                },
                Err(Errno::EAGAIN) => return Ok(()),
                Err(Errno::EINTR) => {}
                Err(e) => bail!("reading the flood socket: {e}"),
            }
        }
    }
}

/// Pins the calling thread to the highest CPU it may run on; returns that CPU.
fn pin_to_last_cpu() -> Result<usize> {
    let allowed = sched_getaffinity(Pid::from_raw(0)).context("sched_getaffinity")?;
    let cpu = (0..CpuSet::count()).rev().find(|c| allowed.is_set(*c).unwrap_or(false)).context("no CPU to run on")?;
    let mut one = CpuSet::new();
    one.set(cpu)?;
    sched_setaffinity(Pid::from_raw(0), &one).context("pinning the flood thread")?;
    Ok(cpu)
}

/// The pid of `ksoftirqd/<cpu>` (a kernel thread, found by its name).
fn ksoftirqd_pid(cpu: usize) -> Option<u32> {
    let name = format!("ksoftirqd/{cpu}");
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: u32 = e.file_name().to_str()?.parse().ok()?;
        (std::fs::read_to_string(e.path().join("comm")).ok()?.trim() == name).then_some(pid)
    })
}

/// Run time of one task so far, from `/proc/<pid>/schedstat` (ns).
fn task_cpu_secs(pid: u32) -> Option<f64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/schedstat")).ok()?;
    Some(text.split_whitespace().next()?.parse::<u64>().ok()? as f64 * 1e-9)
}

/// CPU seconds of the calling thread.
fn thread_cpu() -> Result<f64> {
    let t = clock_gettime(ClockId::CLOCK_THREAD_CPUTIME_ID).context("the thread's CPU clock")?;
    Ok(t.tv_sec() as f64 + t.tv_nsec() as f64 * 1e-9)
}

/// A non-blocking AF_PACKET socket of the current namespace bound to `ifname` and to
/// `ethertype` (what it receives; it sends whole frames of any type), with a big receive
/// buffer.
pub fn packet_socket(ifname: &str, ethertype: u16) -> Result<OwnedFd> {
    let ifindex = nix::net::if_::if_nametoindex(ifname).with_context(|| format!("no interface {ifname} in the flooder's namespace"))?;
    let sock = socket(AddressFamily::Packet, SockType::Raw, SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC, None)
        .context("an AF_PACKET socket")?;
    setsockopt(&sock, sockopt::RcvBufForce, &RCVBUF).context("SO_RCVBUFFORCE on the flood socket")?;
    let sll = libc::sockaddr_ll {
        sll_family: libc::AF_PACKET as u16,
        sll_protocol: ethertype.to_be(),
        sll_ifindex: ifindex as i32,
        sll_hatype: 0,
        sll_pkttype: 0,
        sll_halen: 0,
        sll_addr: [0; 8],
    };
    // SAFETY: `sll` is a whole, initialised sockaddr_ll and the length given is its size
    // (nix has no safe constructor for a link-layer address).
    let addr = unsafe { LinkAddr::from_raw((&raw const sll).cast(), Some(std::mem::size_of::<libc::sockaddr_ll>() as u32)) }
        .context("building the AF_PACKET address")?;
    bind(sock.as_raw_fd(), &addr).with_context(|| format!("binding the flood socket to {ifname}"))?;
    Ok(sock)
}


/// Binding ethertype of a socket that only sends (protocol 0: no frame is delivered to it).
pub const SEND_ONLY: u16 = 0;

/// Sends each of `frames` once, in order, from `host` (a bounded [`Flood`] of one pass; at
/// most `max_time`). Frames the kernel refused (ENOBUFS) are in [`Sent::refused`], not sent.
pub fn send_once(host: &Host, frames: &[Vec<u8>], max_time: Duration) -> Result<Sent> {
    let judge = |_: &[u8]| Reply::Other;
    Flood { frames, ethertype: SEND_ONLY, max_frames: frames.len() as u64, max_time, judge: &judge }.run(host)
}

/// Dropped-frame counters of one interface (`ip -s link`: the kernel's rx and tx drops, which
/// on a veth include a full peer backlog or XDP ring).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkDrops {
    pub rx_dropped: u64,
    pub tx_dropped: u64,
}

impl LinkDrops {
    /// `ifname`'s counters in `ns`.
    pub fn read(ns: &Netns, ifname: &str) -> Result<LinkDrops> {
        let text = ns.ip(&["-j", "-s", "link", "show", "dev", ifname])?;
        let v: serde_json::Value = serde_json::from_str(&text).with_context(|| format!("ip -j -s link show {ifname}: {text}"))?;
        let s = &v[0]["stats64"];
        let n = |dir: &str| s[dir]["dropped"].as_u64().with_context(|| format!("no {dir}.dropped for {ifname} in {text}"));
        Ok(LinkDrops { rx_dropped: n("rx")?, tx_dropped: n("tx")? })
    }

    pub fn total(&self) -> u64 {
        self.rx_dropped + self.tx_dropped
    }
}

/// Drops on every hop a frame takes from one host to another on a [`crate::Lan`]: the
/// sender's interface, its switch port, the receiver's switch port and interface. The
/// difference of two readings bounds how many frames sent between them never reached the
/// receiver's XDP program.
pub fn path_drops(lan: &crate::Lan, from: &Host, to: &Host) -> Result<u64> {
    Ok(LinkDrops::read(&from.ns, &from.ifname)?.total()
        + LinkDrops::read(&lan.switch, &from.switch_port)?.total()
        + LinkDrops::read(&lan.switch, &to.switch_port)?.total()
        + LinkDrops::read(&to.ns, &to.ifname)?.total())
}
