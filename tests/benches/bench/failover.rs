//! Figure 2: failover, ours and keepalived's. Three routers 100/90/80 and a client on one LAN
//! ([`Cluster`], the lab's topology and config text), the same for both daemons. Two events
//! hit the master at a seeded random phase of its advert timer: a crash (SIGKILL and its switch
//! port down at once, as a host dying) and a planned stop (SIGTERM: priority 0, then exit).
//!
//! Per run, from the wire (adverts captured on the client with kernel timestamps): the
//! takeover time, the new master's first advert minus the old master's last one, against
//! Master_Down_Interval (crash) or Skew_Time (planned: a backup hearing priority 0 waits only
//! that long); which survivors advertised as master (more than one: a second master). From
//! the client probing the VIP every 1 ms: its longest time without a reply and the probes
//! lost; and the MAC its neighbour entry for the VIP ends on (the new master's?).
use std::{
    net::Ipv4Addr,
    os::fd::{AsFd, AsRawFd, OwnedFd},
    path::Path,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    thread::JoinHandle,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};
use nix::sys::socket::{self, AddressFamily, ControlMessageOwned, MsgFlags, SockFlag, SockProtocol, SockType, sockopt};
use serde::Serialize;
use vrrp_tests::{
    Host,
    election::{self as el, Cluster, ClusterSpec, RouterDaemon, SplitMix64, VIP},
    neigh_lladdr, wait_for,
};
use vrrp_tests::report::{Chart, Section, Series, Summary, Table};

use crate::Ctx;

/// The settings of the figure: (VRRP version, advert interval in centiseconds).
const SETTINGS: &[(u8, u16)] = &[(2, 100), (3, 10), (3, 1)];
/// The client's probe interval (ping's floor for root).
const PROBE: Duration = Duration::from_millis(1);
/// Scheduling slack on a shared 2-core machine: added to the protocol's windows (how long a
/// wrongly timed-out backup still counts, how long the cluster may take to settle). It only
/// lengthens a run; no figure is judged against it.
const SCHED_SLACK: Duration = Duration::from_millis(50);
/// Replies the client must get from the new master before a run ends (20 ms at 1 ms).
const RECOVERED_REPLIES: usize = 20;
/// Probes sent this long before the prober stops and still unanswered count as lost.
const PROBE_GRACE: Duration = Duration::from_millis(20);
/// Most adverts a capture keeps (a cluster at 10 ms sends ~100/s; runs last minutes).
const CAPTURE_MAX: usize = 1_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
enum Event {
    /// SIGKILL the master and take its switch port down at the same instant.
    Crash,
    /// SIGTERM the master: it sends priority 0 and exits (keepalived removes its VIP at once;
    /// ours keeps it until the successor's first advert, make-before-break).
    Planned,
}

impl Event {
    fn label(self) -> &'static str {
        match self {
            Event::Crash => "crash (SIGKILL + port down)",
            Event::Planned => "planned (SIGTERM)",
        }
    }
}

// ---------------------------------------------------------------------------------------
// Adverts on the wire
// ---------------------------------------------------------------------------------------

/// One VRRP advert the client saw.
#[derive(Debug, Clone, Copy, Serialize)]
struct Advert {
    /// Kernel receive timestamp (CLOCK_REALTIME, the clock of `ping -D`), us since the epoch.
    ts_us: i64,
    src: Ipv4Addr,
    prio: u8,
}

/// IPv4 VRRP adverts (protocol 112) in an Ethernet frame: (source, priority).
fn parse_advert(frame: &[u8]) -> Option<(Ipv4Addr, u8)> {
    if frame.get(12..14)? != [0x08, 0x00] {
        return None;
    }
    let ip = frame.get(14..)?;
    let hdr = ip.get(..20)?;
    let ihl = usize::from(hdr[0] & 0x0f) * 4;
    if hdr[0] >> 4 != 4 || ihl < 20 || hdr[9] != 112 {
        return None;
    }
    let src = Ipv4Addr::new(hdr[12], hdr[13], hdr[14], hdr[15]);
    let vrrp = ip.get(ihl..)?;
    // version/type, VRID, priority.
    Some((src, *vrrp.get(2)?))
}

/// A live capture of the adverts reaching a host: an AF_PACKET socket opened by a thread that
/// entered the host's network namespace (setns affects that thread only), with kernel
/// timestamps. Bounded in count ([`CAPTURE_MAX`]) and time; stopped and joined on drop.
struct AdvertCapture {
    adverts: Arc<Mutex<Vec<Advert>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// A socket made by `make` inside the network namespace at `ns_path`: a thread enters the
/// namespace (setns affects that thread only), makes it and ends; the socket stays in that
/// namespace wherever it is used from.
fn socket_in_netns(ns_path: &Path, make: impl FnOnce() -> Result<OwnedFd> + Send + 'static) -> Result<OwnedFd> {
    let ns_path = ns_path.to_path_buf();
    std::thread::Builder::new()
        .name("netns-socket".into())
        .spawn(move || -> Result<OwnedFd> {
            let ns = std::fs::File::open(&ns_path).with_context(|| format!("opening {}", ns_path.display()))?;
            nix::sched::setns(ns.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET).context("setns")?;
            make()
        })
        .context("starting a thread")?
        .join()
        .map_err(|_| anyhow::anyhow!("the socket thread panicked"))?
}

/// Receive one datagram/frame with its kernel timestamp (us since the epoch); None on the
/// receive timeout or a signal.
fn recv_stamped(fd: &OwnedFd, buf: &mut [u8]) -> Option<(usize, i64)> {
    let mut cmsg = nix::cmsg_space!(nix::sys::time::TimeSpec);
    let mut iov = [std::io::IoSliceMut::new(buf)];
    let m = socket::recvmsg::<()>(fd.as_raw_fd(), &mut iov, Some(&mut cmsg), MsgFlags::empty()).ok()?;
    let ts = m.cmsgs().ok()?.find_map(|c| match c {
        ControlMessageOwned::ScmTimestampns(t) => Some(t.tv_sec() * 1_000_000 + t.tv_nsec() / 1_000),
        _ => None,
    })?;
    Some((m.bytes, ts))
}

/// Kernel receive timestamps and a 50 ms receive timeout (to look at a stop flag).
fn stamped(fd: OwnedFd) -> Result<OwnedFd> {
    socket::setsockopt(&fd, sockopt::ReceiveTimestampns, &true).context("SO_TIMESTAMPNS")?;
    socket::setsockopt(&fd, sockopt::ReceiveTimeout, &nix::sys::time::TimeVal::new(0, 50_000)).context("SO_RCVTIMEO")?;
    Ok(fd)
}

impl AdvertCapture {
    fn start(host: &Host, max: Duration) -> Result<AdvertCapture> {
        let sock = socket_in_netns(&host.ns.path(), || {
            stamped(socket::socket(AddressFamily::Packet, SockType::Raw, SockFlag::SOCK_CLOEXEC, SockProtocol::EthIp).context("AF_PACKET socket")?)
        })?;
        let adverts = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (out, quit) = (adverts.clone(), stop.clone());
        let thread = std::thread::Builder::new()
            .name("advert-capture".into())
            .spawn(move || {
                let t0 = Instant::now();
                let mut buf = [0u8; 2048];
                while !quit.load(Ordering::Relaxed) && t0.elapsed() < max {
                    let Some((n, ts_us)) = recv_stamped(&sock, &mut buf) else { continue };
                    if let Some((src, prio)) = parse_advert(&buf[..n]) {
                        let mut v = out.lock().unwrap_or_else(|p| p.into_inner());
                        if v.len() >= CAPTURE_MAX {
                            break;
                        }
                        v.push(Advert { ts_us, src, prio });
                    }
                }
            })
            .context("starting the capture thread")?;
        Ok(AdvertCapture { adverts, stop, thread: Some(thread) })
    }

    /// Adverts received at or after `from_us`, in arrival order.
    fn since(&self, from_us: i64) -> Vec<Advert> {
        let v = self.adverts.lock().unwrap_or_else(|p| p.into_inner());
        let start = v.partition_point(|a| a.ts_us < from_us);
        v[start..].to_vec()
    }

    /// The last advert from `src` received before `before_us`.
    fn last_from(&self, src: Ipv4Addr, before_us: i64) -> Option<Advert> {
        let v = self.adverts.lock().unwrap_or_else(|p| p.into_inner());
        v.iter().rev().filter(|a| a.ts_us < before_us).find(|a| a.src == src).copied()
    }
}

impl Drop for AdvertCapture {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

// ---------------------------------------------------------------------------------------
// The client's probes
// ---------------------------------------------------------------------------------------

/// An ICMP echo request with identifier `id` and sequence `seq`.
fn echo_request(id: u16, seq: u16) -> [u8; 16] {
    let mut p = [0u8; 16];
    p[0] = 8;
    p[4..6].copy_from_slice(&id.to_be_bytes());
    p[6..8].copy_from_slice(&seq.to_be_bytes());
    p[8..16].copy_from_slice(b"vrrpfail");
    let mut sum: u32 = p.chunks(2).map(|c| u32::from(u16::from_be_bytes([c[0], c[1]]))).sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    p[2..4].copy_from_slice(&(!(sum as u16)).to_be_bytes());
    p
}

/// An ICMP echo reply from `from` with identifier `id` in an IPv4 packet (as a raw socket
/// hands it over): its sequence number.
fn echo_reply_seq(pkt: &[u8], id: u16, from: Ipv4Addr) -> Option<u16> {
    let ihl = usize::from(pkt.first()? & 0x0f) * 4;
    if pkt.get(12..16)? != from.octets() {
        return None;
    }
    let icmp = pkt.get(ihl..ihl + 8)?;
    (icmp[0] == 0 && icmp[4..6] == id.to_be_bytes()).then(|| u16::from_be_bytes([icmp[6], icmp[7]]))
}

/// The client probing the VIP every [`PROBE`], on its own clock: unlike `ping -i 0.001`
/// (iputils slows to one probe per 10 ms while probes go unanswered, i.e. during the very
/// outage measured), a probe leaves every millisecond whatever happens. A raw ICMP socket in
/// the client's namespace; replies carry kernel timestamps. Bounded in count and time;
/// stopped on drop.
struct Prober {
    replies: Arc<Mutex<Vec<vrrp_tests::PingReply>>>,
    sent: Arc<Mutex<Vec<i64>>>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

/// The identifier of the next [`Prober`]'s probes.
static PROBE_ID: std::sync::atomic::AtomicU16 = std::sync::atomic::AtomicU16::new(0x7600);

impl Prober {
    fn start(host: &Host, dst: Ipv4Addr, max: Duration) -> Result<Prober> {
        if !vrrp_tests::in_test_range(dst) {
            bail!("refusing to probe {dst}: outside 198.18.0.0/15");
        }
        let sock = Arc::new(socket_in_netns(&host.ns.path(), || {
            stamped(socket::socket(AddressFamily::Inet, SockType::Raw, SockFlag::SOCK_CLOEXEC, SockProtocol::Icmp).context("raw ICMP socket")?)
        })?);
        let id = PROBE_ID.fetch_add(1, Ordering::Relaxed);
        let max_probes = (max.as_micros() / PROBE.as_micros()).min(u128::from(u16::MAX)) as usize;
        let (replies, sent, stop) = (Arc::new(Mutex::new(Vec::new())), Arc::new(Mutex::new(Vec::new())), Arc::new(AtomicBool::new(false)));
        let (rx_sock, rx_out, rx_stop) = (sock.clone(), replies.clone(), stop.clone());
        let rx = std::thread::Builder::new()
            .name("probe-rx".into())
            .spawn(move || {
                let t0 = Instant::now();
                let mut buf = [0u8; 1500];
                let mut seen = vec![false; max_probes];
                while !rx_stop.load(Ordering::Relaxed) && t0.elapsed() < max + Duration::from_secs(1) {
                    let Some((n, ts_us)) = recv_stamped(&rx_sock, &mut buf) else { continue };
                    if let Some(seq) = echo_reply_seq(&buf[..n], id, dst)
                        && let Some(s) = seen.get_mut(usize::from(seq))
                    {
                        let dup = std::mem::replace(s, true);
                        rx_out.lock().unwrap_or_else(|p| p.into_inner()).push(vrrp_tests::PingReply { ts: ts_us as f64 / 1e6, seq: u32::from(seq), dup });
                    }
                }
            })
            .context("starting the probe receiver")?;
        let (tx_sent, tx_stop) = (sent.clone(), stop.clone());
        let tx = std::thread::Builder::new()
            .name("probe-tx".into())
            .spawn(move || {
                let to = socket::SockaddrIn::from(std::net::SocketAddrV4::new(dst, 0));
                let t0 = Instant::now();
                for seq in 0..max_probes {
                    if tx_stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let at = t0 + PROBE * seq as u32;
                    if let Some(d) = at.checked_duration_since(Instant::now()) {
                        // Deliberate: the probe schedule itself (one per millisecond).
                        std::thread::sleep(d);
                    }
                    let now = el::wall_clock_us();
                    // A probe the kernel refused (e.g. its neighbour queue full while the VIP's
                    // MAC is unreachable) counts as sent and unanswered, as on the wire.
                    let _ = socket::sendto(sock.as_raw_fd(), &echo_request(id, seq as u16), &to, MsgFlags::MSG_DONTWAIT);
                    tx_sent.lock().unwrap_or_else(|p| p.into_inner()).push(now);
                }
            })
            .context("starting the probe sender")?;
        Ok(Prober { replies, sent, stop, threads: vec![rx, tx] })
    }

    fn replies_so_far(&self) -> Vec<vrrp_tests::PingReply> {
        self.replies.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Stop probing; the replies, and the probes sent up to `grace` before the stop that got
    /// no reply (later ones may still be on their way).
    fn stop(mut self, grace: Duration) -> (Vec<vrrp_tests::PingReply>, u32) {
        let cut = el::wall_clock_us() - grace.as_micros() as i64;
        // Deliberate: replies to the last probes are on the wire for microseconds; the grace
        // is part of the definition of "lost".
        std::thread::sleep(grace);
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        let replies = self.replies_so_far();
        let sent = self.sent.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let answered: std::collections::HashSet<u32> = replies.iter().map(|r| r.seq).collect();
        let lost = sent.iter().enumerate().filter(|(seq, t)| **t < cut && !answered.contains(&(*seq as u32))).count() as u32;
        (replies, lost)
    }
}

impl Drop for Prober {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

// ---------------------------------------------------------------------------------------
// One run
// ---------------------------------------------------------------------------------------

/// A host's switch ports set down by an `ip -batch -` started beforehand in the switch
/// namespace: [`PortDown::fire`] only writes its command (as [`vrrp_tests::Lan::isolate`] would
/// run it); [`vrrp_tests::Lan::reconnect`] undoes it. Killed and reaped on drop.
struct PortDown {
    child: std::process::Child,
    ports: Vec<String>,
    fired: Option<Instant>,
}

impl PortDown {
    fn prime(c: &Cluster, i: usize) -> Result<PortDown> {
        let h = c.host(i);
        let ports: Vec<String> = std::iter::once(&h.switch_port).chain(&h.extra_switch_ports).cloned().collect();
        let child = std::process::Command::new("ip")
            .args(["-n", &c.lan.switch.name, "-batch", "-"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .spawn()
            .context("starting ip -batch")?;
        Ok(PortDown { child, ports, fired: None })
    }

    fn fire(&mut self) -> Result<()> {
        use std::io::Write;
        let cmds: String = self.ports.iter().map(|p| format!("link set dev {p} down\n")).collect();
        self.fired = Some(Instant::now());
        let mut stdin = self.child.stdin.take().context("ip -batch has no stdin")?;
        stdin.write_all(cmds.as_bytes()).context("writing to ip -batch")?;
        // EOF: ip runs what it read and exits.
        Ok(())
    }

    /// Wait (bounded) for `ip` to finish; the time from [`PortDown::fire`], ms.
    fn wait(mut self) -> Result<f64> {
        let st = wait_for(Duration::from_secs(5), "ip -batch to set the port down", || self.child.try_wait().ok().flatten())?;
        if !st.success() {
            bail!("ip -batch failed ({st}) setting {:?} down", self.ports);
        }
        Ok(self.fired.map(|t| t.elapsed().as_secs_f64() * 1e3).unwrap_or(0.0))
    }
}

impl Drop for PortDown {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------------

/// Every raw measurement of one run (all go to the report's JSON).
#[derive(Debug, Clone, Serialize)]
struct Run {
    daemon: &'static str,
    version: u8,
    advert_int_ms: f64,
    event: Event,
    rep: usize,
    /// The chosen phase (after the old master's advert) and the one achieved, in ms.
    phase_target_ms: f64,
    phase_ms: Option<f64>,
    /// The event, wall clock, us since the epoch.
    event_us: i64,
    /// Crash: from the event until `ip` had set the port down, ms (an upper bound: polled
    /// every 10 ms).
    port_down_ms: Option<f64>,
    /// The old master's last advert on the wire (the priority-0 one for a planned stop).
    old_last_advert_us: Option<i64>,
    old_last_prio: Option<u8>,
    /// The first survivor's first advert after the event.
    new_master: Option<String>,
    new_first_advert_us: Option<i64>,
    /// new_first_advert_us - old_last_advert_us, ms.
    takeover_ms: Option<f64>,
    /// What the protocol allows for it: Master_Down_Interval (crash) or Skew_Time (planned)
    /// of the router that should take over, ms.
    protocol_ms: f64,
    expected: String,
    /// Survivors that advertised as master after the event (from the wire).
    advertised_as_master: Vec<String>,
    /// Survivors whose log gained an `Entering MASTER STATE` line.
    logged_master: Vec<String>,
    split_brain: bool,
    /// The client's longest time without a reply over probes that went unanswered, from its
    /// last reply before the event, ms ([`el::outage_over_lost_us`]).
    outage_ms: Option<f64>,
    /// The longest gap between replies at all (also when every probe in it was answered late:
    /// the prober not scheduled on a busy machine), ms.
    longest_reply_gap_ms: Option<f64>,
    lost_probes: u32,
    /// Probes answered more than once (two routers answering for the VIP).
    dup_replies: u32,
    /// The client was answered again (else the outage only says "at least").
    recovered: bool,
    /// The client's neighbour entry for the VIP at the end, and the MAC of the router then
    /// holding the VIP.
    client_mac: Option<String>,
    holder: Option<String>,
    holder_mac: Option<String>,
    wrong_mac: bool,
}

fn ms(us: i64) -> f64 {
    us as f64 / 1e3
}

fn wall_us() -> i64 {
    el::wall_clock_us()
}

/// Wait until r1 (index 0) is master alone, as the logs, the wire and the kernel see it:
/// every other router logged BACKUP last, then r1's advert is the last on the wire, r1 holds
/// the VIP and nobody else does.
fn wait_r1_settled(c: &mut Cluster, cap: &AdvertCapture, timeout: Duration) -> Result<()> {
    let r1 = c.routers[0].addr;
    let iv = c.spec.interval();
    let deadline = Instant::now() + timeout;
    let mut exited = None;
    let backups = wait_for(timeout, "the other routers to be BACKUP", || {
        if let Err(e) = c.check_running() {
            exited = Some(e);
            return Some(());
        }
        (1..c.routers.len()).all(|i| c.logged_state(i).as_deref() == Some("BACKUP")).then_some(())
    });
    if let Some(e) = exited {
        return Err(e);
    }
    let states: Vec<String> = (0..c.routers.len()).map(|i| format!("{}={:?}", c.routers[i].name, c.logged_state(i))).collect();
    backups.with_context(|| format!("logged states {}\n{}", states.join(" "), c.log_tails(10)))?;
    // An advert from r1 after this, heard by backups in BACKUP state, restarts their timers.
    let from_us = wall_us();
    let res = wait_for(deadline.saturating_duration_since(Instant::now()), "r1 to be the only master", || {
        if let Err(e) = c.check_running() {
            exited = Some(e);
            return Some(());
        }
        let ads = cap.since(from_us);
        // r1's advert is the last on the wire: the survivor that was master stepped down on
        // hearing it (it holds the VIP no more) and every backup heard the same advert.
        let tail_ok = ads.last().is_some_and(|a| a.src == r1 && a.prio > 0);
        // The last advert is recent: r1 is still advertising.
        let fresh = ads.last().is_some_and(|a| wall_us() - a.ts_us < (iv * 2 + SCHED_SLACK).as_micros() as i64);
        (tail_ok && fresh && c.holders() == [c.routers[0].name.clone()]).then_some(())
    });
    if let Some(e) = exited {
        return Err(e);
    }
    res.with_context(|| format!("holders {:?}\n{}", c.holders(), c.log_tails(10)))
}

fn one_run(c: &mut Cluster, cap: &AdvertCapture, event: Event, phase: Duration, rep: usize) -> Result<Run> {
    let spec = c.spec.clone();
    let iv = spec.interval();
    let r1_addr = c.routers[0].addr;
    let survivors: Vec<usize> = (1..c.routers.len()).collect();
    let expected = 1usize;
    let (p_exp, p_low) = (c.routers[expected].priority, c.routers[survivors.len()].priority);
    let (protocol, lowest_wait) = match event {
        Event::Crash => (spec.master_down_interval(p_exp), spec.master_down_interval(p_low)),
        Event::Planned => (el::skew_time(spec.version, p_exp, spec.advert_int_cs), el::skew_time(spec.version, p_low, spec.advert_int_cs)),
    };
    // Until the first survivor advertises: its timer, from the old master's last advert (at
    // most one interval before the event), and room for a late one.
    let give_up = lowest_wait + iv * 4 + Duration::from_secs(2);

    let pinger = Prober::start(c.client(), VIP, give_up * 3 + Duration::from_secs(5))?;
    wait_for(Duration::from_secs(5), "the client's first reply from the VIP", || (!pinger.replies_so_far().is_empty()).then_some(()))?;
    let entries_before: Vec<usize> = survivors.iter().map(|&i| c.master_entries(i)).collect();

    // The crash's port down, ready before the event: exec'ing `ip` then takes hundreds of ms
    // on a busy machine, during which the "crashed" master would go on advertising.
    let mut port_down = match event {
        Event::Crash => Some(PortDown::prime(c, 0)?),
        Event::Planned => None,
    };

    // The event `phase` after one of r1's adverts: the next such instant at least 2 ms ahead.
    let last = cap.last_from(r1_addr, i64::MAX).context("no advert from r1 seen")?;
    let mut target = last.ts_us + phase.as_micros() as i64;
    while target < wall_us() + 2_000 {
        target += iv.as_micros() as i64;
    }
    // Deliberate: the event happens at a chosen phase of the advert timer (the scenario), not
    // when some condition holds.
    std::thread::sleep(Duration::from_micros((target - wall_us()).max(0) as u64));

    let event_us = wall_us();
    match event {
        Event::Crash => {
            // The port first, then SIGKILL at once: no advert leaves after the event,
            // whatever the daemon does.
            if let Some(p) = port_down.as_mut() {
                p.fire()?;
            }
            if let Some(d) = c.daemon_mut(0) {
                d.kill();
            }
        }
        Event::Planned => {
            if let Some(d) = c.daemon_mut(0) {
                d.terminate();
            }
        }
    }

    let port_down_ms = match port_down.take() {
        Some(p) => Some(p.wait()?),
        None => None,
    };
    let survivor_addrs: Vec<(String, Ipv4Addr)> = survivors.iter().map(|&i| (c.routers[i].name.clone(), c.routers[i].addr)).collect();
    let first_new = |cap: &AdvertCapture| cap.since(event_us).into_iter().find(|a| a.prio > 0 && survivor_addrs.iter().any(|(_, s)| *s == a.src));
    let first = wait_for(give_up, "a survivor to advertise as master", || first_new(cap))?;
    // A backup that wrongly times out does so within the lowest priority's timer of the old
    // master's last advert (the priority-0 one for a planned stop), which started every
    // survivor's timer.
    let old_last_us = cap.last_from(r1_addr, first.ts_us + 1).map(|a| a.ts_us).unwrap_or(event_us);
    let window_end_us = old_last_us + (lowest_wait + SCHED_SLACK).as_micros() as i64;
    let left = window_end_us - wall_us();
    if left > 0 {
        // Deliberate: the observation window is the scenario (a backup whose timer misfires
        // does so inside it); there is no event to wait for instead.
        std::thread::sleep(Duration::from_micros(left as u64));
    }
    // Settled: one survivor holds the VIP and the client has been answered by it again.
    let survivor_names: Vec<String> = survivor_addrs.iter().map(|(n, _)| n.clone()).collect();
    let holders = |c: &Cluster| -> Vec<String> { c.holders().into_iter().filter(|h| survivor_names.contains(h)).collect() };
    let holder = wait_for(give_up, "exactly one survivor holding the VIP", || {
        let h = holders(c);
        (h.len() == 1).then(|| h[0].clone())
    })
    .ok();
    let settled_us = wall_us();
    let recovered = wait_for(give_up, "the client to be answered after the failover", || {
        let n = pinger.replies_so_far().iter().filter(|r| (r.ts * 1e6) as i64 > settled_us).count();
        (n >= RECOVERED_REPLIES).then_some(())
    })
    .is_ok();
    let end_us = wall_us();
    let (replies, lost) = pinger.stop(PROBE_GRACE);
    let dup_replies = replies.iter().filter(|r| r.dup).count() as u32;
    let client_mac = neigh_lladdr(c.client(), VIP);
    let holder_mac = holder.as_ref().map(|h| c.lan.host(h).mac_string());

    let after = cap.since(event_us);
    let first = Some(first);
    let old_last = first.and_then(|f| cap.last_from(r1_addr, f.ts_us + 1));
    let mut advertised: Vec<String> = Vec::new();
    for a in after.iter().filter(|a| a.prio > 0) {
        if let Some((n, _)) = survivor_addrs.iter().find(|(_, s)| *s == a.src)
            && !advertised.contains(n)
        {
            advertised.push(n.clone());
        }
    }
    let logged: Vec<String> =
        survivors.iter().zip(&entries_before).filter(|(i, before)| c.master_entries(**i) > **before).map(|(i, _)| c.routers[*i].name.clone()).collect();
    let phase_ms = cap.last_from(r1_addr, event_us).map(|a| ms(event_us - a.ts_us));
    let name_of = |src: Ipv4Addr| survivor_addrs.iter().find(|(_, s)| *s == src).map(|(n, _)| n.clone());
    Ok(Run {
        daemon: c.daemon.label(),
        version: spec.version,
        advert_int_ms: iv.as_secs_f64() * 1e3,
        event,
        rep,
        phase_target_ms: phase.as_secs_f64() * 1e3,
        phase_ms,
        event_us,
        port_down_ms,
        old_last_advert_us: old_last.map(|a| a.ts_us),
        old_last_prio: old_last.map(|a| a.prio),
        new_master: first.and_then(|f| name_of(f.src)),
        new_first_advert_us: first.map(|f| f.ts_us),
        takeover_ms: first.zip(old_last).map(|(f, o)| ms(f.ts_us - o.ts_us)),
        protocol_ms: protocol.as_secs_f64() * 1e3,
        expected: c.routers[expected].name.clone(),
        split_brain: advertised.len() > 1 || logged.len() > 1,
        advertised_as_master: advertised,
        logged_master: logged,
        outage_ms: el::outage_over_lost_us(&replies, event_us, end_us, !recovered).map(ms),
        longest_reply_gap_ms: el::longest_outage_us(&replies, event_us, end_us).map(ms),
        lost_probes: lost,
        dup_replies,
        recovered,
        wrong_mac: client_mac.is_none() || client_mac != holder_mac,
        client_mac,
        holder,
        holder_mac,
    })
}

impl Run {
    fn line(&self) -> String {
        let f = |x: Option<f64>| x.map(|v| format!("{v:.1} ms")).unwrap_or_else(|| "n/a".into());
        format!(
            "phase {}, takeover {} by {} (protocol {:.1} ms), outage {}{}, lost {}{}{}",
            f(self.phase_ms),
            f(self.takeover_ms),
            self.new_master.as_deref().unwrap_or("nobody"),
            self.protocol_ms,
            if self.recovered { "" } else { ">= " },
            f(self.outage_ms),
            self.lost_probes,
            if self.split_brain { format!(", SECOND MASTER {:?}/{:?}", self.advertised_as_master, self.logged_master) } else { String::new() },
            if self.wrong_mac { format!(", client on MAC {:?} (holder {:?})", self.client_mac, self.holder_mac) } else { String::new() },
        )
    }
}

// ---------------------------------------------------------------------------------------
// A cluster per (daemon, setting)
// ---------------------------------------------------------------------------------------

fn setting_label(version: u8, cs: u16) -> String {
    let iv = el::interval(cs);
    if iv >= Duration::from_secs(1) { format!("VRRPv{version} {} s", iv.as_secs()) } else { format!("VRRPv{version} {} ms", iv.as_millis()) }
}

/// `phases[2 * rep]` for the crash of `rep`, `phases[2 * rep + 1]` for its planned stop: the
/// same for both daemons, so their runs pair up.
fn measure_setting(ctx: &Ctx, daemon: RouterDaemon, version: u8, cs: u16, phases: &[Duration], runs: &mut Vec<Run>) -> Result<()> {
    let reps = phases.len() / 2;
    let spec = ClusterSpec { version, advert_int_cs: cs, priorities: vec![100, 90, 80], agent_args: Vec::new() };
    let label = format!("{} {}", daemon.label(), setting_label(version, cs));
    let mut c = Cluster::new("bfail", &ctx.agent_bin, spec.clone())?;
    c.daemon = daemon;
    // Native XDP_TX on a veth needs an XDP program on its peer (as the lab does); the same
    // switch for both daemons.
    c.lan.attach_xdp_pass_to_switch_ports()?;
    // The whole setting, bounded: every rep at most its give-up times, generously.
    let per_rep = el::STARTUP + spec.master_down_interval(80) * 3 + spec.interval() * 8 + Duration::from_secs(8);
    let cap = AdvertCapture::start(c.client(), per_rep * (2 * reps as u32 + 2) + Duration::from_secs(60))?;
    let res = c.start_agents().and_then(|()| reps_on(ctx, &mut c, &cap, &label, phases, runs));
    if res.is_err() {
        // Keep every log of a setting that could not be measured (the paths are printed).
        for i in 0..c.routers.len() {
            if let Some(d) = c.daemon_mut(i) {
                d.keep_files();
                ctx.progress(format!("failover: {label}: {} log kept at {}", c.routers[i].name, c.daemon(i).map(|d| d.log.display().to_string()).unwrap_or_default()));
            }
        }
    }
    res
}

/// The initial election, then every rep of a setting, r1 restored and master again after each.
fn reps_on(ctx: &Ctx, c: &mut Cluster, cap: &AdvertCapture, label: &str, phases: &[Duration], runs: &mut Vec<Run>) -> Result<()> {
    let spec = c.spec.clone();
    let reps = phases.len() / 2;
    let settle = el::STARTUP * 2 + spec.master_down_interval(80) * 2 + Duration::from_secs(5);
    wait_r1_settled(c, cap, settle).with_context(|| format!("{label}: initial election"))?;
    ctx.progress(format!("failover: {label}: r1 is master"));
    for rep in 0..reps {
        for (k, event) in [Event::Crash, Event::Planned].into_iter().enumerate() {
            let phase = phases[2 * rep + k];
            let r = one_run(c, cap, event, phase, rep).with_context(|| format!("{label}, {}, rep {}", event.label(), rep + 1))?;
            ctx.progress(format!("failover: {label}, {} {}/{reps}: {}", event.label(), rep + 1, r.line()));
            runs.push(r);
            c.restore(0).with_context(|| format!("{label}: restoring r1"))?;
            let t = el::STARTUP + spec.master_down_interval(100) + spec.interval() * 3 + Duration::from_secs(5);
            wait_r1_settled(c, cap, t).with_context(|| format!("{label}: r1 back as master"))?;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// The figure
// ---------------------------------------------------------------------------------------

fn fmt_summary(v: &[f64]) -> [String; 4] {
    match Summary::of(v) {
        Some(s) => [s.min, s.median, s.p95, s.max].map(|x| format!("{x:.1}")),
        None => std::array::from_fn(|_| "n/a".to_string()),
    }
}

pub fn run(ctx: &Ctx) -> Result<Section> {
    let keepalived = ctx.keepalived().is_ok();
    let daemons: Vec<RouterDaemon> = if keepalived { vec![RouterDaemon::Agent, RouterDaemon::Keepalived] } else { vec![RouterDaemon::Agent] };
    let reps = ctx.reps(20, 5);
    let seed = std::env::var("VRRP_BENCH_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(SplitMix64::seed_from_clock);
    let mut rng = SplitMix64::new(seed);
    let started = Instant::now();
    let mut runs: Vec<Run> = Vec::new();
    let mut errors: Vec<String> = Vec::new();
    // Ours and keepalived's side by side per setting, minutes apart.
    for &(version, cs) in SETTINGS {
        let phases: Vec<Duration> = (0..2 * reps).map(|_| rng.below(el::interval(cs))).collect();
        for &d in &daemons {
            if let Err(e) = measure_setting(ctx, d, version, cs, &phases, &mut runs) {
                ctx.progress(format!("failover: NOT MEASURED: {e:#}"));
                errors.push(format!("{e:#}"));
            }
        }
    }
    if runs.is_empty() {
        bail!("no run measured: {}", errors.join("; "));
    }

    let mut section = Section::new(
        "failover",
        "Failover, ours and keepalived's",
        format!(
            "Three routers (priorities 100/90/80, preempt on, one VIP) and a client on one bridge, in network namespaces; \
             the same keepalived.conf text for both daemons. The master is hit at a seeded random phase of its advert timer \
             (seed {seed}, `VRRP_BENCH_SEED` to repeat; the same phases for both daemons) by a crash (SIGKILL and its switch port down at once) or a planned \
             stop (SIGTERM: priority 0). {reps} repetitions per daemon, setting and event, the killed router restored and \
             master again between them. Takeover = the new master's first advert minus the old master's last advert, both \
             as the client's kernel timestamped them (AF_PACKET); protocol = Master_Down_Interval (crash) or Skew_Time \
             (planned) of priority 90, exact in microseconds. Outage = the client's longest time without a reply while \
             it sends an ICMP echo to the VIP every 1 ms (its own prober: iputils ping slows to one probe per 10 ms \
             while unanswered), over probes that went unanswered (a gap in which every probe was answered is the prober \
             not scheduled; the raw longest gap between replies is in the JSON); lost = probes never answered. On SIGTERM keepalived removes the VIP at once, ours \
             keeps it until the successor's first advert (make-before-break). A second master = more than one survivor advertised as master on the wire or \
             logged `Entering MASTER STATE`. Wrong MAC = the client's neighbour entry for the VIP does not name the router \
             holding it at the end. Times in ms."
        ),
    );
    let mut takeover = Table::new(
        "Takeover (ms): new master's first advert - old master's last advert",
        &["setting", "event", "daemon", "n", "protocol", "min", "median", "p95", "max", "ours/keepalived (median)"],
    );
    let mut outage = Table::new(
        "Client outage (ms, probes every 1 ms), lost probes, second masters, wrong MAC",
        &["setting", "event", "daemon", "n", "min", "median", "p95", "max", "ours/keepalived (median)", "lost (median/max)", "second master", "wrong MAC"],
    );
    let mut charts = Vec::new();
    let med = |v: &[f64]| Summary::of(v).map(|s| s.median);
    for &(version, cs) in SETTINGS {
        let setting = setting_label(version, cs);
        let mut series = Vec::new();
        for event in [Event::Crash, Event::Planned] {
            let of = |d: RouterDaemon| -> Vec<&Run> { runs.iter().filter(|r| r.daemon == d.label() && r.version == version && r.advert_int_ms == el::interval(cs).as_secs_f64() * 1e3 && r.event == event).collect() };
            let takeovers = |d| of(d).iter().filter_map(|r| r.takeover_ms).collect::<Vec<f64>>();
            let outages = |d| of(d).iter().filter_map(|r| r.outage_ms).collect::<Vec<f64>>();
            let ratio = |f: &dyn Fn(RouterDaemon) -> Vec<f64>| match (med(&f(RouterDaemon::Agent)), med(&f(RouterDaemon::Keepalived))) {
                (Some(a), Some(k)) if k > 0.0 => format!("{:.2}", a / k),
                _ => "n/a".into(),
            };
            for &d in &daemons {
                let rs = of(d);
                if rs.is_empty() {
                    continue;
                }
                let n = rs.len();
                let protocol = rs[0].protocol_ms;
                let [a, b, c, e] = fmt_summary(&takeovers(d));
                let first = d == RouterDaemon::Agent;
                takeover.row(vec![setting.clone(), event.label().into(), d.label().into(), n.to_string(), format!("{protocol:.1}"), a, b, c, e, if first { ratio(&takeovers) } else { String::new() }]);
                let [a, b, c, e] = fmt_summary(&outages(d));
                let mut lost: Vec<u32> = rs.iter().map(|r| r.lost_probes).collect();
                lost.sort();
                let unrecovered = rs.iter().filter(|r| !r.recovered).count();
                outage.row(vec![
                    setting.clone(),
                    event.label().into(),
                    d.label().into(),
                    n.to_string(),
                    a,
                    b,
                    c,
                    format!("{}{e}", if unrecovered > 0 { ">= " } else { "" }),
                    if first { ratio(&outages) } else { String::new() },
                    format!("{}/{}", lost[(lost.len() - 1) / 2], lost[lost.len() - 1]),
                    format!("{}/{n}", rs.iter().filter(|r| r.split_brain).count()),
                    format!("{}/{n}", rs.iter().filter(|r| r.wrong_mac).count()),
                ]);
                let split = rs.iter().filter(|r| r.split_brain).count();
                if split > 0 {
                    let wrong_first = rs.iter().filter(|r| r.new_master.as_ref().is_some_and(|m| *m != r.expected)).count();
                    let dups: u32 = rs.iter().map(|r| r.dup_replies).sum();
                    section.notes.push(format!(
                        "{} {setting} {}: a second router entered MASTER in {split}/{n} (a lower priority advertised first in {wrong_first}; {dups} duplicate replies to the client)",
                        d.label(),
                        event.label()
                    ));
                }
                if unrecovered > 0 {
                    section.notes.push(format!("{} {setting} {}: the client was not answered again within the run in {unrecovered}/{n}", d.label(), event.label()));
                }
                let ev = match event {
                    Event::Crash => "crash",
                    Event::Planned => "planned",
                };
                series.push(Series { name: format!("{} {ev}", d.label()), values: outages(d) });
            }
        }
        let file = format!("failover-outage-v{version}-{}ms.png", el::interval(cs).as_millis());
        charts.push(Chart::Distributions { file, title: format!("Client outage, {setting}"), unit: "ms".into(), series });
    }
    section.tables = vec![takeover, outage];
    section.charts = charts;
    if !keepalived {
        section.notes.push("keepalived is not installed: ours only (`cargo xtask setup` installs 2.2.7)".into());
    }
    for e in &errors {
        section.notes.push(format!("not measured: {e}"));
    }
    section.notes.push(format!("{} runs in {:.0} s", runs.len(), started.elapsed().as_secs_f64()));
    section.samples = serde_json::json!({ "seed": seed, "runs": runs });
    Ok(section)
}
