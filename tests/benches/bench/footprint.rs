//! Figure 6: the agent's footprint next to keepalived 2.2.7's: resident memory when idle
//! (1 and 255 VRIDs), binary size (and keepalived's shared libraries), and the time from spawn
//! to the first advert on the wire (ours: with the XDP load and verification part of it).
use std::{
    net::Ipv4Addr,
    path::Path,
    process::Command,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use anyhow::{Context, Result, bail};
use serde_json::json;
use vrrp_tests::{
    Capture, Daemon, Lan, lan, spawn_agent, spawn_keepalived, wait_for,
    report::{Chart, Section, Series, Summary, Table},
};

use crate::{Ctx, measure::proc_stat};

const DAEMON: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const LISTENER: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
/// Instance counts measured.
const SIZES: [u16; 2] = [1, 255];
/// Bounds: every step waits at most this long.
const FIRST_ADVERT_TIMEOUT: Duration = Duration::from_secs(30);
const SETTLE_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Clone, Copy, PartialEq)]
enum Who {
    Ours,
    Keepalived,
}

impl Who {
    fn name(self) -> &'static str {
        match self {
            Who::Ours => "ours",
            Who::Keepalived => "keepalived",
        }
    }
}

/// The VIP of instance `vrid` (1..=255): 198.18.1.1 .. 198.18.2.127.
fn vip(vrid: u16) -> Ipv4Addr {
    Ipv4Addr::new(198, 18, 1 + (vrid / 128) as u8, (vrid % 128) as u8 + 1)
}

/// The same keepalived.conf for both daemons: `n` instances, each the address owner
/// (priority 255: MASTER at once, no election to wait for), VRRPv2 at 1 s, one VIP each.
fn config(n: u16) -> String {
    let mut s = "global_defs {\n  router_id footprint\n}\n".to_string();
    for vrid in 1..=n {
        s.push_str(&format!(
            "vrrp_instance VI_{vrid} {{\n  state MASTER\n  interface eth0\n  virtual_router_id {vrid}\n  priority 255\n  advert_int 1\n  \
             virtual_ipaddress {{\n    {}/32\n  }}\n}}\n",
            vip(vrid)
        ));
    }
    s
}

/// One start of one daemon.
struct Run {
    /// Spawn to the first VRRP advert seen on the listener's interface (kernel timestamp).
    first_advert_ms: f64,
    /// Every instance MASTER, then this much idle, then VmRSS.
    rss_kb: u64,
    /// Ours: the agent's own log line for the XDP load and verification.
    xdp_load_ms: Option<f64>,
    /// Spawn to every instance MASTER.
    all_master_ms: f64,
}

fn epoch_secs(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

/// keepalived's VRRP child (its pid file in the daemon's dir).
fn keepalived_vrrp_child(d: &Daemon) -> Option<u32> {
    std::fs::read_to_string(d.dir.join("vrrp.pid")).ok()?.trim().parse().ok()
}

fn xdp_load_ms(log: &str) -> Option<f64> {
    let at = log.find("XDP object loaded and verified in ")? + "XDP object loaded and verified in ".len();
    log[at..].split_whitespace().next()?.parse().ok()
}

fn one_start(ctx: &Ctx, who: Who, n: u16, idle: Duration) -> Result<Run> {
    let lan: Lan = lan("fp", &[("d", DAEMON), ("l", LISTENER)])?;
    let mut cap = Capture::start(lan.host("l"), "first-advert", "ip proto 112", 1, FIRST_ADVERT_TIMEOUT.as_secs() as u32)?;
    let conf = config(n);
    let spawned_at = SystemTime::now();
    let t0 = Instant::now();
    // Kept alive until the measurement is done; dropping kills the group and cleans up.
    let (ours, ka) = match who {
        Who::Ours => (Some(spawn_agent(&ctx.agent_bin, lan.host("d"), &conf, &[])?), None),
        Who::Keepalived => (None, Some(spawn_keepalived(lan.host("d"), &conf)?)),
    };
    let daemon: &Daemon = match (&ours, &ka) {
        (Some(a), _) => a,
        (_, Some(k)) => k,
        _ => bail!("no daemon started"),
    };
    cap.finish(FIRST_ADVERT_TIMEOUT).with_context(|| format!("{}: no advert within {FIRST_ADVERT_TIMEOUT:?}\n{}", who.name(), daemon.log_tail(20)))?;
    let first = cap.fields("vrrp", &["frame.time_epoch"])?;
    let first_epoch: f64 = first.first().and_then(|r| r.first()).and_then(|t| t.parse().ok()).context("the capture has no VRRP advert")?;
    let first_advert_ms = (first_epoch - epoch_secs(spawned_at)) * 1e3;
    let masters = wait_for(SETTLE_TIMEOUT, &format!("{} instances of {} to enter MASTER", n, who.name()), || {
        (daemon.log_text().matches("Entering MASTER STATE").count() >= usize::from(n)).then_some(())
    });
    masters.with_context(|| daemon.log_tail(20))?;
    let all_master_ms = t0.elapsed().as_secs_f64() * 1e3;
    // Idle: nothing to do but send adverts; a window, then the resident memory.
    let idle_from = Instant::now();
    wait_for(idle + Duration::from_secs(5), "the idle window", || (idle_from.elapsed() >= idle).then_some(()))?;
    let pids: Vec<u32> = match who {
        Who::Ours => vec![daemon.pid],
        Who::Keepalived => {
            let child = wait_for(Duration::from_secs(5), "keepalived's VRRP child pid file", || keepalived_vrrp_child(daemon))?;
            vec![daemon.pid, child]
        }
    };
    let mut rss_kb = 0;
    for pid in pids {
        rss_kb += proc_stat(pid).with_context(|| format!("reading /proc/{pid} of {}", who.name()))?.1;
    }
    let xdp_load_ms = (who == Who::Ours).then(|| xdp_load_ms(&daemon.log_text())).flatten();
    Ok(Run { first_advert_ms, rss_kb, xdp_load_ms, all_master_ms })
}

/// (file size, [(library path, size)]) of a binary and the shared libraries `ldd` resolves.
fn binary_and_libs(bin: &Path) -> Result<(u64, Vec<(String, u64)>)> {
    let size = std::fs::metadata(bin).with_context(|| format!("reading {}", bin.display()))?.len();
    let out = Command::new("ldd").arg(bin).output().context("running ldd")?;
    let mut libs = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        // "libfoo.so.1 => /lib/x86_64-linux-gnu/libfoo.so.1 (0x...)" or "/lib64/ld-linux... (0x...)"
        let path = match line.split_once("=>") {
            Some((_, rest)) => rest.split_whitespace().next(),
            None => line.split_whitespace().next().filter(|p| p.starts_with('/')),
        };
        if let Some(p) = path.filter(|p| p.starts_with('/')) {
            let len = std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
            libs.push((p.to_string(), len));
        }
    }
    Ok((size, libs))
}

fn mib(bytes: f64) -> String {
    format!("{:.1}", bytes / (1024.0 * 1024.0))
}

/// "median (min–max)" of a sample.
fn cell(v: &[f64], fmt: impl Fn(f64) -> String) -> String {
    match Summary::of(v) {
        Some(s) if s.n > 1 => format!("{} ({}–{})", fmt(s.median), fmt(s.min), fmt(s.max)),
        Some(s) => fmt(s.median),
        None => "-".into(),
    }
}

fn ratio(a: &[f64], b: &[f64]) -> String {
    match (Summary::of(a), Summary::of(b)) {
        (Some(a), Some(b)) if b.median > 0.0 => format!("{:.2}", a.median / b.median),
        _ => "-".into(),
    }
}

pub fn run(ctx: &Ctx) -> Result<Section> {
    let keepalived = ctx.keepalived()?.clone();
    let reps = ctx.reps(7, 3);
    let idle = if ctx.quick { Duration::from_secs(1) } else { Duration::from_secs(3) };
    // runs[who][size] = every start.
    let mut runs: Vec<(Who, u16, Vec<Run>)> = Vec::new();
    for n in SIZES {
        for who in [Who::Ours, Who::Keepalived] {
            let mut v = Vec::new();
            for rep in 0..reps {
                ctx.progress(format!("footprint: {} with {n} VRID(s), start {}/{reps}", who.name(), rep + 1));
                let r = one_start(ctx, who, n, idle)?;
                ctx.progress(format!(
                    "footprint:   first advert after {:.1} ms, all MASTER after {:.0} ms, RSS {} kB{}",
                    r.first_advert_ms,
                    r.all_master_ms,
                    r.rss_kb,
                    r.xdp_load_ms.map(|x| format!(", XDP load+verify {x:.1} ms")).unwrap_or_default()
                ));
                v.push(r);
            }
            runs.push((who, n, v));
        }
    }
    let get = |who: Who, n: u16, f: &dyn Fn(&Run) -> Option<f64>| -> Vec<f64> {
        runs.iter().filter(|(w, m, _)| *w == who && *m == n).flat_map(|(_, _, v)| v.iter().filter_map(f)).collect()
    };
    let rss = |r: &Run| Some(r.rss_kb as f64 / 1024.0);
    let first = |r: &Run| Some(r.first_advert_ms);
    let xdp = |r: &Run| r.xdp_load_ms;
    let (ours_bin, ours_libs) = binary_and_libs(&ctx.agent_bin)?;
    let (ka_bin, ka_libs) = binary_and_libs(&keepalived)?;
    let libs_total = |l: &[(String, u64)]| l.iter().map(|x| x.1).sum::<u64>() as f64;

    let mut t = Table::new(
        format!("Footprint, median (min–max) of {reps} starts each, both daemons in a namespace with the same keepalived.conf"),
        &["", "ours", "keepalived 2.2.7", "ours / keepalived"],
    );
    for n in SIZES {
        let (o, k) = (get(Who::Ours, n, &rss), get(Who::Keepalived, n, &rss));
        t.row(vec![format!("RSS when idle, {n} VRID(s), MiB"), cell(&o, |v| format!("{v:.1}")), cell(&k, |v| format!("{v:.1}")), ratio(&o, &k)]);
    }
    for n in SIZES {
        let (o, k) = (get(Who::Ours, n, &first), get(Who::Keepalived, n, &first));
        t.row(vec![format!("spawn to first advert, {n} VRID(s), ms"), cell(&o, |v| format!("{v:.0}")), cell(&k, |v| format!("{v:.0}")), ratio(&o, &k)]);
        let x = get(Who::Ours, n, &xdp);
        t.row(vec![format!("  of which XDP load + verify, {n} VRID(s), ms"), cell(&x, |v| format!("{v:.0}")), "(no XDP)".into(), String::new()]);
    }
    t.row(vec!["binary, MiB".into(), mib(ours_bin as f64), mib(ka_bin as f64), format!("{:.2}", ours_bin as f64 / ka_bin as f64)]);
    t.row(vec![
        "shared libraries (ldd), count / MiB".into(),
        format!("{} / {}", ours_libs.len(), mib(libs_total(&ours_libs))),
        format!("{} / {}", ka_libs.len(), mib(libs_total(&ka_libs))),
        String::new(),
    ]);

    let mut s = Section::new(
        "footprint",
        "Figure 6: agent footprint",
        format!(
            "Each daemon is started {reps} times per size in a fresh two-host namespace LAN (daemon and listener on a bridge) \
             with the same keepalived.conf: 1 or 255 VRRPv2 instances at 1 s, each the address owner (priority 255, so MASTER at \
             once and the first advert is not an election timer) with one /32 VIP. Spawn to first advert: the wall clock just \
             before spawning to the kernel timestamp of the first VRRP packet captured (tshark, started before the spawn) on the \
             listener's interface; ours includes loading and verifying the XDP object, taken from the agent's own log line. \
             Resident memory: VmRSS once every instance has logged Entering MASTER STATE and {} s idle after; keepalived runs as \
             a parent and a VRRP child (--vrrp only): their RSS is summed (shared pages are counted twice, so keepalived's \
             figure is an upper bound). Binary: the file size (ours: release, debug info stripped, the XDP object embedded); \
             shared libraries: what ldd resolves, with their file sizes (mapped, mostly shared with other processes).",
            idle.as_secs()
        ),
    );
    s.tables.push(t);
    s.charts.push(Chart::Distributions {
        file: "footprint-first-advert.png".into(),
        title: "spawn to first advert on the wire".into(),
        unit: "ms".into(),
        series: SIZES
            .iter()
            .flat_map(|n| [Who::Ours, Who::Keepalived].map(|w| Series { name: format!("{}, {n} VRID(s)", w.name()), values: get(w, *n, &first) }))
            .collect(),
    });
    s.notes.push(format!("keepalived's shared libraries: {}", ka_libs.iter().map(|l| l.0.rsplit('/').next().unwrap_or(&l.0)).collect::<Vec<_>>().join(", ")));
    s.notes.push(format!("ours: {}", ours_libs.iter().map(|l| l.0.rsplit('/').next().unwrap_or(&l.0)).collect::<Vec<_>>().join(", ")));
    s.samples = json!({
        "reps": reps,
        "idle_s": idle.as_secs(),
        "binary_bytes": { "ours": ours_bin, "keepalived": ka_bin },
        "shared_libraries": { "ours": ours_libs, "keepalived": ka_libs },
        "starts": runs.iter().map(|(w, n, v)| json!({
            "daemon": w.name(),
            "vrids": n,
            "first_advert_ms": v.iter().map(|r| r.first_advert_ms).collect::<Vec<_>>(),
            "all_master_ms": v.iter().map(|r| r.all_master_ms).collect::<Vec<_>>(),
            "rss_kb": v.iter().map(|r| r.rss_kb).collect::<Vec<_>>(),
            "xdp_load_ms": v.iter().map(|r| r.xdp_load_ms).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    });
    Ok(s)
}
