//! Figure 3: steady state, ours and keepalived's, 2 routers: CPU of each daemon (master and
//! backup), userspace wake-ups per received advert, adverts sent against adverts owed, and
//! how late adverts arrive (per VRID inter-arrival minus the interval, kernel timestamps).
//!
//! Topology: a LAN of three namespaces, master `m` (priority 200), backup `b` (priority
//! 100) and a tap `t` running nothing: the bridge floods the adverts to it, where an
//! AF_PACKET socket stamps each with its kernel receive time, as the backup's NIC sees them
//! (the backup's own XDP program consumes them before any socket could).
use std::{
    collections::BTreeMap,
    fs::File,
    io::IoSliceMut,
    net::Ipv4Addr,
    os::fd::AsRawFd as _,
    path::Path,
    sync::mpsc,
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail};
use nix::sys::socket::{
    self, AddressFamily, ControlMessageOwned, MsgFlags, MultiHeaders, SockFlag, SockProtocol, SockType, sockopt,
};
use serde_json::json;
use vrrp_tests::{
    Host, ipv4_addrs, lan, spawn_agent, spawn_keepalived, wait_for,
    report::{Chart, Section, Series, Summary, Table},
};

use crate::{Ctx, measure::proc_stat};

const MASTER: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const BACKUP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
const TAP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 3);

/// One load: `vrids` VRRPv3 instances at `interval_cs`.
#[derive(Clone, Copy)]
struct Setting {
    vrids: u16,
    interval_cs: u16,
}

impl Setting {
    fn label(&self) -> String {
        format!("{} VRIDs x {} ms", self.vrids, u32::from(self.interval_cs) * 10)
    }

    fn interval_ns(&self) -> u64 {
        u64::from(self.interval_cs) * 10_000_000
    }

    /// Adverts per second the master owes.
    fn owed_per_s(&self) -> f64 {
        f64::from(self.vrids) * 100.0 / f64::from(self.interval_cs)
    }
}

const SETTINGS: [Setting; 2] = [Setting { vrids: 50, interval_cs: 10 }, Setting { vrids: 255, interval_cs: 1 }];

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Ours,
    Keepalived,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Ours => "ours",
            Kind::Keepalived => "keepalived",
        }
    }
}

/// VIP of VRID `vrid`: 198.18.{1,2}.x, one /32 per instance.
fn vip(vrid: u16) -> Ipv4Addr {
    Ipv4Addr::new(198, 18, 1 + (vrid / 200) as u8, (vrid % 200) as u8 + 1)
}

/// The same keepalived.conf for both daemons: `vrids` instances, all `state BACKUP`, the
/// priority decides.
fn config(s: Setting, priority: u8) -> String {
    let secs = f64::from(s.interval_cs) / 100.0;
    let mut c = String::new();
    for vrid in 1..=s.vrids {
        c.push_str(&format!(
            "vrrp_instance VI_{vrid} {{\n state BACKUP\n interface eth0\n virtual_router_id {vrid}\n priority {priority}\n \
             version 3\n advert_int {secs}\n virtual_ipaddress {{\n  {}/32\n }}\n}}\n",
            vip(vrid)
        ));
    }
    c
}

/// The processes of one daemon: ours is one; keepalived is its parent and its VRRP child.
fn pids_of(kind: Kind, d: &vrrp_tests::Daemon) -> Result<Vec<u32>> {
    if kind == Kind::Ours {
        return Ok(vec![d.pid]);
    }
    let file = d.dir.join("vrrp.pid");
    let child = wait_for(Duration::from_secs(10), "keepalived's VRRP child pid file", || {
        std::fs::read_to_string(&file).ok().and_then(|s| s.trim().parse::<u32>().ok())
    })?;
    Ok(vec![d.pid, child])
}

/// What one daemon used so far: CPU seconds (user + system, and user alone) and voluntary
/// context switches (every thread).
#[derive(Clone, Copy)]
struct Usage {
    cpu: f64,
    user: f64,
    vcs: u64,
}

impl std::ops::Sub for Usage {
    type Output = Usage;
    fn sub(self, o: Usage) -> Usage {
        Usage { cpu: self.cpu - o.cpu, user: self.user - o.user, vcs: self.vcs.saturating_sub(o.vcs) }
    }
}

/// [`Usage`] of `pids`, summed.
fn usage(pids: &[u32]) -> Result<Usage> {
    let mut u = Usage { cpu: 0.0, user: 0.0, vcs: 0 };
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    for &pid in pids {
        u.cpu += proc_stat(pid).with_context(|| format!("/proc/{pid}/stat: the daemon exited"))?.0;
        // utime is field 14 of /proc/PID/stat, the 12th after the command name.
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).with_context(|| format!("/proc/{pid}/stat"))?;
        u.user += stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(11)?.parse::<f64>().ok())
            .context("utime in /proc/PID/stat")?
            / hz;
        for task in std::fs::read_dir(format!("/proc/{pid}/task")).with_context(|| format!("/proc/{pid}/task"))? {
            let status = std::fs::read_to_string(task?.path().join("status")).unwrap_or_default();
            u.vcs += status
                .lines()
                .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
                .and_then(|v| v.trim().parse::<u64>().ok())
                .unwrap_or(0);
        }
    }
    Ok(u)
}

/// The master's adverts as the tap received them: (VRID, kernel receive time in ns).
type Arrivals = Vec<(u8, u64)>;

/// Captures the master's adverts in the tap's namespace for `window`, from a thread of its
/// own that enters the namespace (setns affects only the calling thread). Sends `()` on
/// `ready` once the socket is open, so the caller starts its CPU readings with the capture.
fn capture(netns: &Path, window: Duration, ready: mpsc::Sender<()>) -> Result<Arrivals> {
    let ns = File::open(netns).with_context(|| format!("opening {}", netns.display()))?;
    nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNET).context("entering the tap's namespace")?;
    let fd = socket::socket(AddressFamily::Packet, SockType::Raw, SockFlag::SOCK_CLOEXEC, SockProtocol::EthAll)
        .context("AF_PACKET socket")?;
    socket::setsockopt(&fd, sockopt::ReceiveTimestampns, &true).context("SO_TIMESTAMPNS")?;
    socket::setsockopt(&fd, sockopt::RcvBufForce, &(32 << 20)).context("SO_RCVBUFFORCE")?;
    socket::setsockopt(&fd, sockopt::ReceiveTimeout, &nix::sys::time::TimeVal::new(0, 50_000)).context("SO_RCVTIMEO")?;
    let _ = ready.send(());
    const BATCH: usize = 256;
    // Ethernet + IPv4 (no options from either daemon) + the first 4 bytes of VRRP.
    const SNAP: usize = 14 + 20 + 4;
    let mut out = Vec::new();
    let start = Instant::now();
    while start.elapsed() < window {
        let mut bufs = vec![[0u8; 64]; BATCH];
        let mut got: Vec<(usize, u64)> = Vec::with_capacity(BATCH);
        {
            let mut iovs: Vec<[IoSliceMut<'_>; 1]> = bufs.iter_mut().map(|b| [IoSliceMut::new(&mut b[..])]).collect();
            let mut headers = MultiHeaders::<()>::preallocate(BATCH, Some(nix::cmsg_space!(nix::sys::time::TimeSpec)));
            match socket::recvmmsg(fd.as_raw_fd(), &mut headers, &mut iovs, MsgFlags::MSG_WAITFORONE, None) {
                Ok(results) => {
                    for r in results {
                        let ts = r.cmsgs().ok().into_iter().flatten().find_map(|c| match c {
                            ControlMessageOwned::ScmTimestampns(t) => Some(t.tv_sec() as u64 * 1_000_000_000 + t.tv_nsec() as u64),
                            _ => None,
                        });
                        got.push((r.bytes, ts.unwrap_or(0)));
                    }
                }
                Err(nix::errno::Errno::EAGAIN | nix::errno::Errno::EINTR) => continue,
                Err(e) => bail!("recvmmsg on the tap: {e}"),
            }
        }
        for (b, (len, ts)) in bufs.iter().zip(got) {
            let f = &b[..len.min(64)];
            if len < SNAP || ts == 0 || f[12..14] != [0x08, 0x00] || f[14] != 0x45 || f[23] != 112 || f[26..30] != MASTER.octets() {
                continue;
            }
            // VRRPv3 advertisement (version 3, type 1), priority above 0.
            let (ver_type, vrid, prio) = (f[34], f[35], f[36]);
            if ver_type == 0x31 && prio != 0 {
                out.push((vrid, ts));
            }
        }
    }
    Ok(out)
}

/// Every inter-arrival of one VRID minus the interval, in microseconds (negative: sooner
/// than one interval after the one before).
fn lateness_us(arrivals: &Arrivals, interval_ns: u64) -> BTreeMap<u8, Vec<i64>> {
    let mut by_vrid: BTreeMap<u8, Vec<u64>> = BTreeMap::new();
    for &(vrid, ts) in arrivals {
        by_vrid.entry(vrid).or_default().push(ts);
    }
    by_vrid
        .into_iter()
        .map(|(vrid, mut ts)| {
            ts.sort_unstable();
            let late = ts.windows(2).map(|w| (w[1] as i64 - w[0] as i64 - interval_ns as i64) / 1_000).collect();
            (vrid, late)
        })
        .collect()
}

/// Adverts per second: per VRID, the arrivals after its first over the time they span.
fn rate(arrivals: &Arrivals) -> f64 {
    let mut span: BTreeMap<u8, (u64, u64, u64)> = BTreeMap::new();
    for &(vrid, ts) in arrivals {
        let e = span.entry(vrid).or_insert((ts, ts, 0));
        *e = (e.0.min(ts), e.1.max(ts), e.2 + 1);
    }
    span.values().filter(|(a, b, _)| b > a).map(|&(a, b, n)| (n - 1) as f64 * 1e9 / (b - a) as f64).sum()
}

/// One measurement: a daemon pair at one setting.
struct Run {
    kind: Kind,
    setting: Setting,
    window_s: f64,
    master: Usage,
    backup: Usage,
    adverts: usize,
    /// Adverts per second, the sum over the VRIDs of (arrivals - 1) / (last - first): no
    /// edge effect from where the window cuts the intervals.
    rate: f64,
    lateness_us: BTreeMap<u8, Vec<i64>>,
}

impl Run {
    fn per_min(&self, cpu_s: f64) -> f64 {
        cpu_s * 60.0 / self.window_s
    }

    fn late_all(&self) -> Vec<f64> {
        self.lateness_us.values().flatten().map(|&us| us as f64 / 1000.0).collect()
    }
}

fn wait_elected(m: &Host, b: &Host, s: Setting) -> Result<()> {
    let vips: Vec<Ipv4Addr> = (1..=s.vrids).map(vip).collect();
    let count = |h: &Host| ipv4_addrs(h).map(|a| a.iter().filter(|x| vips.contains(x)).count()).unwrap_or(0);
    wait_for(Duration::from_secs(60), "the master to hold every VIP and the backup none", || {
        (count(m) == vips.len() && count(b) == 0).then_some(())
    })
    .map(|_| ())
}

fn measure(ctx: &Ctx, kind: Kind, s: Setting) -> Result<Run> {
    let window = Duration::from_secs(if ctx.quick { 8 } else { 30 });
    let lan = lan("steady", &[("m", MASTER), ("b", BACKUP), ("t", TAP)])?;
    let (m, b, t) = (lan.host("m"), lan.host("b"), lan.host("t"));
    // Both daemons start together: the priority elects the master.
    let (master, backup): (Box<dyn std::ops::Deref<Target = vrrp_tests::Daemon>>, Box<dyn std::ops::Deref<Target = vrrp_tests::Daemon>>) =
        match kind {
            Kind::Ours => (Box::new(spawn_agent(&ctx.agent_bin, m, &config(s, 200), &[])?), Box::new(spawn_agent(&ctx.agent_bin, b, &config(s, 100), &[])?)),
            Kind::Keepalived => {
                ctx.keepalived()?;
                (Box::new(spawn_keepalived(m, &config(s, 200))?), Box::new(spawn_keepalived(b, &config(s, 100))?))
            }
        };
    wait_elected(m, b, s).with_context(|| format!("{}: electing the master of {}", kind.name(), s.label()))?;
    let (mp, bp) = (pids_of(kind, &master)?, pids_of(kind, &backup)?);
    let (tx, rx) = mpsc::channel();
    let netns = t.ns.path();
    let cap = std::thread::spawn(move || capture(&netns, window, tx));
    rx.recv_timeout(Duration::from_secs(5)).context("the tap's capture did not start")?;
    let (m0, b0, t0) = (usage(&mp)?, usage(&bp)?, Instant::now());
    let arrivals = cap.join().map_err(|_| anyhow::anyhow!("the capture thread panicked"))??;
    let (m1, b1, window_s) = (usage(&mp)?, usage(&bp)?, t0.elapsed().as_secs_f64());
    Ok(Run {
        kind,
        setting: s,
        window_s,
        master: m1 - m0,
        backup: b1 - b0,
        adverts: arrivals.len(),
        rate: rate(&arrivals),
        lateness_us: lateness_us(&arrivals, s.interval_ns()),
    })
}

pub fn run(ctx: &Ctx) -> Result<Section> {
    let mut sec = Section::new(
        "steady",
        "Steady state: CPU, wake-ups and advert lateness",
        "Two routers on one bridge (network namespaces), the same keepalived.conf for both daemons: every instance \
         `state BACKUP`, VRRPv3, one /32 VIP each, priority 200 on the master and 100 on the backup. Settings: 50 VRIDs \
         at 100 ms and 255 VRIDs at 10 ms (25 500 adverts/s from the master). Once the master holds every VIP, one \
         window (30 s; 8 s with --quick) per daemon and setting: CPU seconds (user + system, /proc/PID/stat; keepalived \
         = parent + VRRP child) of the master and of the backup, scaled to a minute; voluntary context switches (every \
         thread, /proc/PID/task/*/status) of the backup per advert it received, and of the master per second. A third \
         namespace on the bridge runs nothing and receives the master's adverts on an AF_PACKET socket with kernel \
         receive timestamps (SO_TIMESTAMPNS): adverts/s received (per VRID, arrivals over the time they span) against those owed, and per VRID every inter-arrival \
         minus the interval (lateness; negative = sooner than one interval after the one before). On veth the \
         receivers' kernel work (the bridge, the backup's and the tap's receive path, our XDP program on the backup) \
         runs in the sending process's context and is charged to its system time: the user column is the daemon's \
         own share. The same holds for both daemons.",
    );
    let mut runs = Vec::new();
    for s in SETTINGS {
        for kind in [Kind::Ours, Kind::Keepalived] {
            ctx.progress(format!("steady: {} at {}", kind.name(), s.label()));
            match measure(ctx, kind, s) {
                Ok(r) => runs.push(r),
                Err(e) if kind == Kind::Keepalived && ctx.keepalived_bin.is_none() => {
                    sec.notes.push(format!("keepalived not measured: {e:#}"));
                }
                Err(e) => return Err(e.context(format!("steady state, {} at {}", kind.name(), s.label()))),
            }
        }
    }
    let mut cpu = Table::new(
        "CPU seconds per minute (share of one core) and wake-ups",
        &["setting", "daemon", "master CPU s/min", "of which user", "backup CPU s/min", "of which user", "backup wake-ups / advert received", "master wake-ups / s"],
    );
    let mut adverts = Table::new(
        "Adverts from the master, as received on the LAN, and their lateness (inter-arrival per VRID minus the interval)",
        &["setting", "daemon", "adverts/s received", "owed/s", "received / owed", "late p50 ms", "late p99 ms", "late max ms"],
    );
    let mut bars = Vec::new();
    let mut series = Vec::new();
    let mut samples = Vec::new();
    for r in &runs {
        let s = r.setting;
        let rx_per_s = r.rate;
        let late = r.late_all();
        let sum = Summary::of(&late);
        let f = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.3}"));
        cpu.row(vec![
            s.label(),
            r.kind.name().into(),
            format!("{:.2} ({:.1}%)", r.per_min(r.master.cpu), 100.0 * r.master.cpu / r.window_s),
            format!("{:.2}", r.per_min(r.master.user)),
            format!("{:.2} ({:.1}%)", r.per_min(r.backup.cpu), 100.0 * r.backup.cpu / r.window_s),
            format!("{:.2}", r.per_min(r.backup.user)),
            format!("{:.3}", r.backup.vcs as f64 / r.adverts.max(1) as f64),
            format!("{:.0}", r.master.vcs as f64 / r.window_s),
        ]);
        adverts.row(vec![
            s.label(),
            r.kind.name().into(),
            format!("{rx_per_s:.0}"),
            format!("{:.0}", s.owed_per_s()),
            format!("{:.3}", rx_per_s / s.owed_per_s()),
            f(sum.map(|x| x.median)),
            f(sum.map(|x| x.p99)),
            f(sum.map(|x| x.max)),
        ]);
        bars.push((format!("{} {} master", r.kind.name(), s.label()), r.per_min(r.master.cpu)));
        bars.push((format!("{} {} backup", r.kind.name(), s.label()), r.per_min(r.backup.cpu)));
        series.push(Series { name: format!("{} {}", r.kind.name(), s.label()), values: late });
        samples.push(json!({
            "daemon": r.kind.name(),
            "vrids": s.vrids,
            "interval_ms": u32::from(s.interval_cs) * 10,
            "window_s": r.window_s,
            "master_cpu_s": r.master.cpu,
            "master_user_cpu_s": r.master.user,
            "backup_cpu_s": r.backup.cpu,
            "backup_user_cpu_s": r.backup.user,
            "master_voluntary_ctxt_switches": r.master.vcs,
            "backup_voluntary_ctxt_switches": r.backup.vcs,
            "adverts_received": r.adverts,
            "adverts_per_s": r.rate,
            "lateness_summary_ms": sum,
            "lateness_us_by_vrid": r.lateness_us.iter().map(|(v, l)| (v.to_string(), json!(l))).collect::<serde_json::Map<_, _>>(),
        }));
    }
    sec.tables = vec![cpu, adverts];
    sec.charts = vec![
        Chart::Bars { file: "steady-cpu.png".into(), title: "CPU seconds per minute, master and backup".into(), unit: "CPU s/min".into(), bars },
        Chart::Distributions { file: "steady-lateness.png".into(), title: "Advert lateness per VRID (inter-arrival minus interval)".into(), unit: "ms".into(), series },
    ];
    sec.samples = json!(samples);
    Ok(sec)
}
