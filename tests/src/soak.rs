//! `cargo xtask soak`: many forced failovers, back and forth, on a 3-router [`Cluster`] under
//! client probing, each measured against the protocol's bound for its kind, then a search
//! for what they may have leaked.
//!
//! Kinds of failover ([`Kind`]), each away from the home master r1 (the highest priority) to
//! the next router, which must take over alone:
//! * crash: SIGKILL of r1's agent and its switch port down ([`Cluster::crash_master`]); r2
//!   takes over when its Master_Down_Interval runs out. r1 is restarted (a new process).
//! * planned: SIGTERM to r1's agent, which advertises priority 0 and exits; r2 takes over
//!   after its Skew_Time. r1 is restarted.
//! * tracker: r1's `track_file` gets a value that takes its priority below r2's; r1 keeps
//!   running, advertises the lower priority at once, and r2 (preempt) ignores those adverts
//!   and takes over when its Master_Down_Interval runs out. The file is then set back and r1
//!   preempts. The agents of r2 and r3, and r1's between restarts, live through many
//!   failovers: their fds and memory are compared from the first failover to the last.
//!
//! Each failover is followed by the way back (r1 master again, heard by every backup) before
//! the next. The leak checks: no VIP on a non-master; every agent alone in its namespace (no
//! script or child left); per agent that lived through several failovers, its fd count and
//! RSS at the last settle against the first; after teardown, no agent process, namespace,
//! pin directory, or BPF program or map that any agent held (the ids read from its fds).
//! Other tests may run at the same time, so objects are tracked by id, never by counting
//! everything whose name is ours.

use crate::election::{
    self as el, CLIENT, Cluster, ClusterSpec, RouterExtra, SplitMix64, VIP, longest_outage_us, master_intervals, overlap_us, wall_clock_us,
};
use crate::{Netns, ScratchDir, pid_alive, start_ping_every, wait_for};
use anyhow::{Context, Result, bail};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How a failover is forced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Crash,
    Planned,
    Tracker,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::Crash, Kind::Planned, Kind::Tracker];

    pub fn label(self) -> &'static str {
        match self {
            Kind::Crash => "crash",
            Kind::Planned => "planned",
            Kind::Tracker => "tracker",
        }
    }
}

/// The failovers of a run: `n` kinds as evenly mixed as `n` allows (each kind `n / 3` times,
/// the remainder drawn), in an order shuffled by `seed`. The same seed gives the same plan.
pub fn plan(seed: u64, n: usize) -> Vec<Kind> {
    let mut rng = SplitMix64::new(seed);
    let mut v: Vec<Kind> = Kind::ALL.iter().flat_map(|&k| std::iter::repeat_n(k, n / 3)).collect();
    while v.len() < n {
        v.push(Kind::ALL[(rng.next_u64() % 3) as usize]);
    }
    // Fisher-Yates.
    for i in (1..v.len()).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        v.swap(i, j);
    }
    v
}

/// A failover's bound (the same for the takeover, trigger -> the new master's log line, and
/// for the client's outage) and how it is derived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bound {
    pub limit: Duration,
    pub why: String,
}

/// The bound of a failover of `kind` to a router of `priority`:
/// * crash: Master_Down_Interval (its timer runs from the dead master's last advert, sent
///   before the kill) + one advert interval (the new master's first advert and gratuitous ARP,
///   the client's next probe);
/// * planned: Skew_Time (a backup's timer after a priority-0 advert, which the stopping
///   master sends first) + one advert interval, as for a crash;
/// * tracker: the file tracker's detection time (inotify: the write is seen when the writer
///   closes the file; no protocol time) + Master_Down_Interval (the backup ignores the lower
///   priority adverts, so its timer runs from the last advert at the old priority, sent
///   before the write) + one advert interval.
pub fn bound(kind: Kind, spec: &ClusterSpec, priority: u8) -> Bound {
    let iv = spec.interval();
    let ms = |d: Duration| format!("{:.1} ms", d.as_secs_f64() * 1e3);
    match kind {
        Kind::Crash => {
            let mdi = spec.master_down_interval(priority);
            Bound { limit: mdi + iv, why: format!("Master_Down_Interval({priority}) {} + interval {}", ms(mdi), ms(iv)) }
        }
        Kind::Planned => {
            let skew = el::skew_time(spec.version, priority, spec.advert_int_cs);
            Bound { limit: skew + iv, why: format!("Skew_Time({priority}) {} + interval {}", ms(skew), ms(iv)) }
        }
        Kind::Tracker => {
            let mdi = spec.master_down_interval(priority);
            Bound {
                limit: TRACK_FILE_DETECTION + mdi + iv,
                why: format!("track_file detection {} + Master_Down_Interval({priority}) {} + interval {}", ms(TRACK_FILE_DETECTION), ms(mdi), ms(iv)),
            }
        }
    }
}

/// Added to every bound before a failover fails (not to the bound printed): what the machine
/// may add on top of the protocol between the trigger and what the soak observes (the soak's
/// own trigger, the agent's timer wake-up and log write, the netlink round trip adding the
/// VIP, the client's next probe), each possibly waiting behind other work on a small shared
/// VM. The same figure as the election tests' `SCHED_SLACK`: far below a missed takeover or
/// a lost client, which is what a soak exists to catch; the figures show the real margins.
pub const SCHED_SLACK: Duration = Duration::from_millis(100);

/// A track file is watched with inotify: the agent reads it when the writer closes it.
pub const TRACK_FILE_DETECTION: Duration = Duration::ZERO;

/// The track file's value while healthy (weight 1: priority unchanged).
pub const TRACK_OK: &str = "0\n";

/// The track file value that takes `own` below `next` (weight 1): 5 under it, so r1 (100)
/// drops to 85 < r2 (90) and stays above r3 (80).
pub fn tracker_penalty(own: u8, next: u8) -> i32 {
    -(i32::from(own) - i32::from(next) + 5)
}

/// What one failover showed.
#[derive(Debug, Clone)]
pub struct Failover {
    /// 1-based.
    pub n: usize,
    pub kind: Kind,
    pub from: String,
    /// The router that should take over (the highest priority left).
    pub expected: String,
    /// The first router to enter MASTER after the trigger (None: nobody did).
    pub to: Option<String>,
    /// Trigger -> that router's `Entering MASTER STATE` log line.
    pub takeover_us: Option<i64>,
    /// The client's longest time without a reply, from its last reply before the trigger.
    pub outage_us: Option<i64>,
    /// The client was answered again after the failover (else the outage is a lower bound).
    pub recovered: bool,
    /// Another router than `from` entered MASTER too (a second master for `dual_master_us`).
    pub second_master: bool,
    pub dual_master_us: i64,
    /// Who was MASTER once it settled.
    pub final_masters: Vec<String>,
    pub bound: Bound,
    /// Anything else wrong (e.g. a planned stop that did not exit cleanly).
    pub problem: Option<String>,
}

impl Failover {
    /// Failed: no takeover, the wrong router master once settled, a takeover or an outage
    /// over the bound, the client never answered again, or a problem. A short second master
    /// (even one that entered MASTER first) is reported, not failed: adjacent backups' timers
    /// are only 10/256 of an interval apart, so one late wake-up on a busy machine lets the
    /// lower one in until it hears the higher; what the client sees of it is in the outage.
    pub fn failures(&self) -> Vec<String> {
        let b = (self.bound.limit + SCHED_SLACK).as_micros() as i64;
        let mut f = Vec::new();
        match self.takeover_us {
            None => f.push("nobody took over".to_string()),
            Some(t) if t > b => f.push(format!("takeover {} over the bound + slack {}", fmt_us(t), fmt_us(b))),
            _ => {}
        }
        if self.final_masters != [self.expected.clone()] {
            f.push(format!("expected {} to take over, first {:?}, settled {:?}", self.expected, self.to, self.final_masters));
        }
        match (self.outage_us, self.recovered) {
            (_, false) => f.push("the client was not answered again".to_string()),
            (Some(o), true) if o > b => f.push(format!("outage {} over the bound + slack {}", fmt_us(o), fmt_us(b))),
            (None, true) => f.push("no client reply before the trigger".to_string()),
            _ => {}
        }
        f.extend(self.problem.clone());
        f
    }

    pub fn passed(&self) -> bool {
        self.failures().is_empty()
    }

    pub fn describe(&self, total: usize) -> String {
        let opt = |x: Option<i64>| x.map(fmt_us).unwrap_or_else(|| "n/a".into());
        let f = self.failures();
        format!(
            "{}/{total} {:<7} {} -> {}: takeover {}, outage {}{} (bound {}: {}){}{}",
            self.n,
            self.kind.label(),
            self.from,
            self.to.as_deref().unwrap_or("nobody"),
            opt(self.takeover_us),
            opt(self.outage_us),
            if self.recovered { "" } else { "+" },
            fmt_us(self.bound.limit.as_micros() as i64),
            self.bound.why,
            if self.second_master { format!(", second master for {}", fmt_us(self.dual_master_us)) } else { String::new() },
            if f.is_empty() { "  ok".to_string() } else { format!("  FAIL: {}", f.join("; ")) }
        )
    }
}

fn fmt_us(us: i64) -> String {
    format!("{:.1} ms", us as f64 / 1e3)
}

// ---------------------------------------------------------------------------------------
// Footprints and leaks
// ---------------------------------------------------------------------------------------

/// One agent process seen once the cluster had settled.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Footprint {
    pub pid: u32,
    pub router: String,
    /// Failovers done when it was taken (0: before the first).
    pub after: usize,
    pub fds: usize,
    pub rss_kib: u64,
    /// BPF programs and maps its fds hold (ids from /proc/PID/fdinfo).
    pub progs: BTreeSet<u32>,
    pub maps: BTreeSet<u32>,
}

/// An agent's fds may differ by this many between two settled moments without a leak (a
/// netlink request or a `status` reader's transient fd; a leak of one per failover passes it
/// within a few failovers).
pub const FD_SLACK: usize = 2;
/// RSS growth allowed from the first settled sample to the last: allocator arenas and
/// buffers reaching their working size (the first sample already follows a full election).
pub const RSS_SLACK_KIB: u64 = 2048;
/// Only agents that lived through at least this many failovers are compared.
pub const MIN_LIVED: usize = 3;

/// fd or RSS growth of each agent (by pid) from its first sample to its last, for those that
/// lived through [`MIN_LIVED`] failovers or more: one line per leak.
pub fn compare_footprints(samples: &[Footprint]) -> Vec<String> {
    let mut by_pid: BTreeMap<u32, Vec<&Footprint>> = BTreeMap::new();
    for s in samples {
        by_pid.entry(s.pid).or_default().push(s);
    }
    let mut leaks = Vec::new();
    for (pid, v) in by_pid {
        let (Some(first), Some(last)) = (v.iter().min_by_key(|s| s.after), v.iter().max_by_key(|s| s.after)) else { continue };
        let lived = last.after - first.after;
        if lived < MIN_LIVED {
            continue;
        }
        if last.fds > first.fds + FD_SLACK {
            leaks.push(format!(
                "agent on {} (pid {pid}): {} fds after failover {}, {} after failover {} ({} failovers; slack {FD_SLACK})",
                first.router, first.fds, first.after, last.fds, last.after, lived
            ));
        }
        if last.rss_kib > first.rss_kib + RSS_SLACK_KIB {
            leaks.push(format!(
                "agent on {} (pid {pid}): RSS {} KiB after failover {}, {} KiB after failover {} ({} failovers; slack {RSS_SLACK_KIB} KiB)",
                first.router, first.rss_kib, first.after, last.rss_kib, last.after, lived
            ));
        }
    }
    leaks
}

/// An agent that lived through [`MIN_LIVED`]+ failovers, first sample -> last.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lived {
    pub router: String,
    pub pid: u32,
    pub failovers: usize,
    pub fds: (usize, usize),
    pub rss_kib: (u64, u64),
}

/// Every agent that lived through [`MIN_LIVED`]+ failovers, for the report.
pub fn footprint_summary(samples: &[Footprint]) -> Vec<Lived> {
    let mut by_pid: BTreeMap<u32, Vec<&Footprint>> = BTreeMap::new();
    for s in samples {
        by_pid.entry(s.pid).or_default().push(s);
    }
    by_pid
        .into_iter()
        .filter_map(|(pid, v)| {
            let first = v.iter().min_by_key(|s| s.after)?;
            let last = v.iter().max_by_key(|s| s.after)?;
            let lived = last.after - first.after;
            (lived >= MIN_LIVED).then(|| Lived {
                router: first.router.clone(),
                pid,
                failovers: lived,
                fds: (first.fds, last.fds),
                rss_kib: (first.rss_kib, last.rss_kib),
            })
        })
        .collect()
}

/// `VmRSS` in KiB from a /proc/PID/status text.
pub fn parse_vm_rss_kib(status: &str) -> Option<u64> {
    status.lines().find_map(|l| l.strip_prefix("VmRSS:")?.split_whitespace().next()?.parse().ok())
}

/// The `prog_id:` or `map_id:` of a /proc/PID/fdinfo/N text (a BPF fd), if any.
pub fn parse_bpf_fdinfo(text: &str) -> (Option<u32>, Option<u32>) {
    let field = |k: &str| text.lines().find_map(|l| l.strip_prefix(k)?.trim().parse().ok());
    (field("prog_id:"), field("map_id:"))
}

/// The footprint of process `pid` now.
pub fn footprint(pid: u32, router: &str, after: usize) -> Result<Footprint> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).with_context(|| format!("reading /proc/{pid}/status"))?;
    let mut f = Footprint { pid, router: router.to_string(), after, rss_kib: parse_vm_rss_kib(&status).unwrap_or(0), ..Footprint::default() };
    let dir = PathBuf::from(format!("/proc/{pid}/fd"));
    for e in std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))?.flatten() {
        f.fds += 1;
        let info = std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{}", e.file_name().to_string_lossy())).unwrap_or_default();
        match parse_bpf_fdinfo(&info) {
            (Some(p), _) => {
                f.progs.insert(p);
            }
            (None, Some(m)) => {
                f.maps.insert(m);
            }
            _ => {}
        }
    }
    Ok(f)
}

/// The ids `bpftool -j {prog|map} list` shows.
fn bpf_ids(what: &str) -> Result<BTreeSet<u32>> {
    let out = std::process::Command::new("bpftool").args(["-j", what, "list"]).output().context("running bpftool")?;
    if !out.status.success() {
        bail!("bpftool {what} list: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).context("bpftool's JSON")?;
    Ok(v.as_array().into_iter().flatten().filter_map(|o| o["id"].as_u64().map(|i| i as u32)).collect())
}

/// Pids of the processes in network namespace `ns` (by the namespace's inode).
pub fn pids_in_netns(ns: &Netns) -> Vec<u32> {
    use std::os::unix::fs::MetadataExt as _;
    let Ok(want) = std::fs::metadata(ns.path()).map(|m| (m.dev(), m.ino())) else { return Vec::new() };
    let Ok(rd) = std::fs::read_dir("/proc") else { return Vec::new() };
    rd.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| std::fs::metadata(format!("/proc/{pid}/ns/net")).is_ok_and(|m| (m.dev(), m.ino()) == want) && pid_alive(*pid))
        .collect()
}

// ---------------------------------------------------------------------------------------
// The run
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
pub struct SoakSpec {
    pub version: u8,
    pub advert_int_cs: u16,
    pub failovers: usize,
    pub seed: u64,
    /// Extra agent arguments (e.g. `--xdp-mode skb`).
    pub agent_args: Vec<String>,
    /// Keep every agent's config and log.
    pub keep_logs: bool,
}

/// How long after the lowest backup's crash bound [`Cluster::crash_master`] still watches for
/// a wrong MASTER (as `cargo xtask lab`): only lengthens a failover, loosens no bound.
pub const WINDOW_SLACK: Duration = Duration::from_millis(200);

/// One kind's figures in a [`SoakReport`]: min, median, max in µs (None: no value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KindStats {
    pub kind: Kind,
    pub count: usize,
    pub failed: usize,
    pub takeover_us: [Option<i64>; 3],
    pub outage_us: [Option<i64>; 3],
}

#[derive(Debug, Default)]
pub struct SoakReport {
    pub failovers: Vec<Failover>,
    pub samples: Vec<Footprint>,
    pub leaks: Vec<String>,
    /// The run stopped early with this error (the failovers so far are kept).
    pub error: Option<String>,
}

impl SoakReport {
    pub fn passed(&self) -> bool {
        self.error.is_none() && self.leaks.is_empty() && self.failovers.iter().all(Failover::passed)
    }

    /// Per kind: how many, how many failed, takeover and outage min/median/max.
    pub fn per_kind(&self) -> Vec<KindStats> {
        let stats = |mut v: Vec<i64>| {
            v.sort();
            [v.first().copied(), el::median(&v), v.last().copied()]
        };
        Kind::ALL
            .iter()
            .map(|&k| {
                let of: Vec<&Failover> = self.failovers.iter().filter(|f| f.kind == k).collect();
                KindStats {
                    kind: k,
                    count: of.len(),
                    failed: of.iter().filter(|f| !f.passed()).count(),
                    takeover_us: stats(of.iter().filter_map(|f| f.takeover_us).collect()),
                    outage_us: stats(of.iter().filter_map(|f| f.outage_us).collect()),
                }
            })
            .collect()
    }

    /// The summary lines.
    pub fn summary(&self) -> Vec<String> {
        let opt = |x: Option<i64>| x.map(fmt_us).unwrap_or_else(|| "n/a".into());
        let mut out = vec![format!("{:<8} {:>5} {:>6}   {:<32} {:<32} {}", "kind", "count", "failed", "takeover min/median/max", "outage min/median/max", "bound")];
        for KindStats { kind: k, count: n, failed, takeover_us: t, outage_us: o } in self.per_kind() {
            let b = self.failovers.iter().find(|f| f.kind == k).map(|f| fmt_us(f.bound.limit.as_micros() as i64)).unwrap_or_default();
            let tri = |v: [Option<i64>; 3]| format!("{} / {} / {}", opt(v[0]), opt(v[1]), opt(v[2]));
            out.push(format!("{:<8} {n:>5} {failed:>6}   {:<32} {:<32} {b}", k.label(), tri(t), tri(o)));
        }
        let second = self.failovers.iter().filter(|f| f.second_master).count();
        out.push(format!("second master (reported, not failed): {second}/{}", self.failovers.len()));
        out.push(format!("a failover fails over its bound + {} ms of scheduling slack", SCHED_SLACK.as_millis()));
        for Lived { router: r, pid, failovers: lived, fds: (f0, f1), rss_kib: (r0, r1) } in footprint_summary(&self.samples) {
            out.push(format!("agent on {r} (pid {pid}) over {lived} failovers: fds {f0} -> {f1}, RSS {r0} -> {r1} KiB"));
        }
        if self.leaks.is_empty() {
            out.push("leaks: none".into());
        }
        for l in &self.leaks {
            out.push(format!("LEAK: {l}"));
        }
        out
    }
}

/// Runs the soak with the agent `bin`; `say` gets every progress line. Err only when the
/// cluster cannot be built; a failure during the run is in [`SoakReport::error`].
pub fn run(bin: &Path, spec: &SoakSpec, say: &mut dyn FnMut(String)) -> Result<SoakReport> {
    let cspec = ClusterSpec {
        version: spec.version,
        advert_int_cs: spec.advert_int_cs,
        priorities: el::default_priorities(3),
        agent_args: spec.agent_args.clone(),
    };
    let files = ScratchDir::new("soak")?;
    let mut cluster = Cluster::new("soak", bin, cspec)?;
    cluster.keep_logs = spec.keep_logs;
    let track_files: Vec<PathBuf> = (0..cluster.routers.len()).map(|i| files.join(&format!("track-r{}", i + 1))).collect();
    for (i, f) in track_files.iter().enumerate() {
        std::fs::write(f, TRACK_OK).with_context(|| format!("writing {}", f.display()))?;
        cluster.extra[i] = RouterExtra {
            before: format!("vrrp_track_file soak {{\n    file \"{}\"\n    weight 1\n}}\n\n", f.display()),
            inside: "    track_file {\n        soak\n    }\n".into(),
        };
    }
    let namespaces: Vec<String> = std::iter::once(cluster.lan.switch.name.clone()).chain(cluster.lan.hosts.iter().map(|h| h.ns.name.clone())).collect();
    let layout: Vec<String> = cluster.routers.iter().map(|r| format!("{} {} (prio {})", r.name, r.addr, r.priority)).collect();
    say(format!("lan {}: {}, client {}; VIP {}", cluster.lan.prefix, layout.join(", "), CLIENT.1, VIP));
    cluster.lan.attach_xdp_pass_to_switch_ports()?;

    let mut report = SoakReport::default();
    let mut pins: BTreeSet<PathBuf> = BTreeSet::new();
    let mut pids: BTreeSet<u32> = BTreeSet::new();
    let r = cluster.start_agents().and_then(|()| failovers(&mut cluster, spec, &track_files, &mut report, &mut pins, &mut pids, say));
    if let Err(e) = r {
        report.error = Some(format!("{e:#}"));
        for a in cluster.agents.iter_mut().flatten() {
            a.keep_files();
        }
        say(cluster.log_tails(20));
    }
    for a in cluster.agents.iter_mut().flatten() {
        pins.insert(a.bpffs.clone());
        pids.insert(a.pid);
        if spec.keep_logs {
            a.keep_files();
            say(format!("kept {}", a.log.display()));
        }
    }
    drop(cluster);
    drop(files);
    say("torn down; checking for leftovers".into());
    report.leaks.extend(compare_footprints(&report.samples));
    report.leaks.extend(after_teardown(&report.samples, &pids, &pins, &namespaces));
    Ok(report)
}

/// Everything the cluster's agents held is gone (bounded waits: namespace and veth teardown,
/// and with it the XDP programs' release, finish in the kernel's own time).
fn after_teardown(samples: &[Footprint], pids: &BTreeSet<u32>, pins: &BTreeSet<PathBuf>, namespaces: &[String]) -> Vec<String> {
    let mut leaks = Vec::new();
    let held_progs: BTreeSet<u32> = samples.iter().flat_map(|s| s.progs.iter().copied()).collect();
    let held_maps: BTreeSet<u32> = samples.iter().flat_map(|s| s.maps.iter().copied()).collect();
    let left = || -> Result<(BTreeSet<u32>, BTreeSet<u32>)> {
        Ok((bpf_ids("prog")?.intersection(&held_progs).copied().collect(), bpf_ids("map")?.intersection(&held_maps).copied().collect()))
    };
    match wait_for(Duration::from_secs(10), "the agents' BPF programs and maps to be released", || match left() {
        Ok((p, m)) if p.is_empty() && m.is_empty() => Some(Ok(())),
        Ok(_) => None,
        Err(e) => Some(Err(e)),
    }) {
        Ok(Ok(())) => {}
        Ok(Err(e)) => leaks.push(format!("cannot list BPF objects: {e:#}")),
        Err(_) => {
            let (p, m) = left().unwrap_or_default();
            leaks.push(format!("BPF objects the agents held still exist after teardown: programs {p:?}, maps {m:?}"));
        }
    }
    let live: Vec<u32> = pids.iter().copied().filter(|p| pid_alive(*p)).collect();
    if !live.is_empty() {
        leaks.push(format!("agent processes still alive after teardown: {live:?}"));
    }
    let dirs: Vec<&PathBuf> = pins.iter().filter(|p| p.exists()).collect();
    if !dirs.is_empty() {
        leaks.push(format!("pin directories left: {dirs:?}"));
    }
    let ns: Vec<&String> = namespaces.iter().filter(|n| Netns::exists(n)).collect();
    if !ns.is_empty() {
        leaks.push(format!("namespaces left: {ns:?}"));
    }
    leaks
}

/// Settled with r1 master: sample every agent, check the VIP and the namespaces' processes.
fn settled_checks(c: &mut Cluster, after: usize, report: &mut SoakReport, pins: &mut BTreeSet<PathBuf>, pids: &mut BTreeSet<u32>) -> Result<()> {
    let holders = c.holders();
    if holders != [c.routers[0].name.clone()] {
        report.leaks.push(format!("after failover {after}: VIP held by {holders:?}, master {}", c.routers[0].name));
    }
    for i in 0..c.routers.len() {
        let Some(a) = c.agents[i].as_ref() else { continue };
        pins.insert(a.bpffs.clone());
        pids.insert(a.pid);
        report.samples.push(footprint(a.pid, &c.routers[i].name, after)?);
        // Only the agent lives in a router's namespace: no script, no child of one.
        let others: Vec<u32> = pids_in_netns(&c.host(i).ns).into_iter().filter(|p| *p != a.pid).collect();
        if !others.is_empty() {
            let what: Vec<String> = others
                .iter()
                .map(|p| format!("{p} {}", std::fs::read_to_string(format!("/proc/{p}/cmdline")).unwrap_or_default().replace('\0', " ").trim()))
                .collect();
            report.leaks.push(format!("after failover {after}: processes besides the agent in {}'s namespace: {what:?}", c.routers[i].name));
        }
    }
    Ok(())
}

fn failovers(
    c: &mut Cluster,
    spec: &SoakSpec,
    track_files: &[PathBuf],
    report: &mut SoakReport,
    pins: &mut BTreeSet<PathBuf>,
    pids: &mut BTreeSet<u32>,
    say: &mut dyn FnMut(String),
) -> Result<()> {
    let cs = c.spec.clone();
    let lowest = *cs.priorities.iter().min().unwrap_or(&1);
    let settle_first = el::STARTUP * 2 + cs.master_down_interval(lowest) * 2 + Duration::from_secs(5);
    c.wait_settled(0, settle_first)?;
    // Back to r1 after a failover: a restarted agent's start-up, or r1's preemption.
    let settle = el::STARTUP + cs.master_down_interval(cs.priorities[0]) * 2 + Duration::from_secs(5);
    settled_checks(c, 0, report, pins, pids)?;
    let kinds = plan(spec.seed, spec.failovers);
    let mut rng = SplitMix64::new(spec.seed ^ 0x50a4);
    say(format!(
        "{} failovers (seed {}; rerun with --seed {}), VRRPv{} every {} ms, client probe every {} ms: {}",
        kinds.len(),
        spec.seed,
        spec.seed,
        cs.version,
        cs.interval().as_millis(),
        cs.probe_interval().as_millis(),
        kinds.iter().map(|k| k.label()).collect::<Vec<_>>().join(" ")
    ));
    for (n, &kind) in kinds.iter().enumerate() {
        let n = n + 1;
        let phase = rng.below(cs.interval());
        let f = match kind {
            Kind::Crash => crash(c, n, phase)?,
            Kind::Planned | Kind::Tracker => {
                let file = track_files[0].clone();
                let penalty = tracker_penalty(cs.priorities[0], cs.priorities[1]);
                measure(c, n, kind, phase, |c| match kind {
                    Kind::Planned => {
                        if let Some(a) = c.agents[0].as_mut() {
                            a.terminate();
                        }
                        Ok(())
                    }
                    _ => std::fs::write(&file, format!("{penalty}\n")).with_context(|| format!("writing {}", file.display())),
                })?
            }
        };
        say(f.describe(kinds.len()));
        report.failovers.push(f);
        // The way back.
        match kind {
            Kind::Crash => c.restore(0)?,
            Kind::Planned => {
                let st = c.agents[0].as_mut().context("r1's agent")?.wait_exit(Duration::from_secs(10))?;
                if !st.success()
                    && let Some(f) = report.failovers.last_mut()
                {
                    f.problem = Some(format!("the stopped agent exited with {st}"));
                    say(format!("  ^ FAIL: the stopped agent exited with {st}"));
                }
                c.restore(0)?;
            }
            Kind::Tracker => std::fs::write(&track_files[0], TRACK_OK).with_context(|| format!("writing {}", track_files[0].display()))?,
        }
        c.wait_settled(0, settle).with_context(|| format!("r1 master again after failover {n}"))?;
        settled_checks(c, n, report, pins, pids)?;
    }
    Ok(())
}

fn crash(c: &mut Cluster, n: usize, phase: Duration) -> Result<Failover> {
    let p2 = c.routers[1].priority;
    let r = c.crash_master(0, phase, WINDOW_SLACK)?;
    let second = r.split_brain();
    Ok(Failover {
        n,
        kind: Kind::Crash,
        from: r.killed.clone(),
        to: r.entered_master.first().map(|(n, _)| n.clone()),
        takeover_us: r.takeover_us(),
        outage_us: r.outage_us,
        recovered: r.recovered,
        second_master: second,
        dual_master_us: r.dual_master_us,
        final_masters: r.final_masters.clone(),
        expected: r.expected.clone(),
        bound: bound(Kind::Crash, &c.spec, p2),
        problem: None,
    })
}

/// A planned or tracker failover away from r1, measured as [`Cluster::crash_master`] measures
/// a crash: the client probes from before the trigger until it has been answered 20 times
/// after the cluster settled; takeover and second masters come from the agents' logs.
fn measure(c: &mut Cluster, n: usize, kind: Kind, phase: Duration, trigger: impl FnOnce(&mut Cluster) -> Result<()>) -> Result<Failover> {
    let spec = c.spec.clone();
    let m = 0;
    let others: Vec<usize> = c.alive().into_iter().filter(|i| *i != m).collect();
    let Some(exp) = c.highest_alive(Some(m)) else { bail!("no other router runs") };
    let expected = c.routers[exp].name.clone();
    let bound = bound(kind, &spec, c.routers[exp].priority);
    let lowest = others.iter().map(|&i| c.routers[i].priority).min().unwrap_or(255);
    // Every other router's timer has run out by then if it was going to.
    let window = bound.limit.max(spec.failover_bound(lowest)) + WINDOW_SLACK;
    let probe = spec.probe_interval();
    let ping_secs = (window * 4 + Duration::from_secs(20)).as_secs().clamp(1, 600) as u32;
    let pinger = start_ping_every(c.client(), VIP, probe, ping_secs)?;
    wait_for(Duration::from_secs(5), "the client's first reply from the VIP", || (!pinger.replies_so_far().is_empty()).then_some(()))?;
    // Deliberate: the trigger comes at a random phase of the advert cycle (the scenario).
    std::thread::sleep(phase);
    let t_us = wall_clock_us();
    let t0 = Instant::now();
    trigger(c)?;
    let entered = |c: &Cluster| -> Vec<(String, i64)> {
        let mut v: Vec<(String, i64)> = others
            .iter()
            .flat_map(|&i| {
                c.state_changes(i).into_iter().filter(|s| s.state == "MASTER" && s.ts_us >= t_us).map(move |s| (c.routers[i].name.clone(), s.ts_us - t_us))
            })
            .collect();
        v.sort_by_key(|(_, t)| *t);
        v
    };
    let give_up = window + Duration::from_secs(3);
    let took = wait_for(give_up, "another router to enter MASTER", || (!entered(c).is_empty()).then_some(()));
    if let Some(left) = window.checked_sub(t0.elapsed()) {
        // Deliberate: the observation window (a wrongly timed-out router does so inside it).
        std::thread::sleep(left);
    }
    // Settled: exactly one MASTER among the running routers (r1 after a tracker failure
    // steps down when it hears r2's higher priority; after a stop it is gone).
    let masters = |c: &mut Cluster| -> Vec<String> {
        c.alive().into_iter().filter(|&i| c.state(i).as_deref() == Some("MASTER")).map(|i| c.routers[i].name.clone()).collect()
    };
    let final_masters = wait_for(give_up, "exactly one MASTER", || {
        let v = masters(c);
        (v.len() == 1).then_some(v)
    })
    .unwrap_or_else(|_| masters(c));
    let settled_us = wall_clock_us();
    let recovered = wait_for(give_up, "the client to be answered after the failover", || {
        (pinger.replies_so_far().iter().filter(|r| (r.ts * 1e6) as i64 > settled_us).count() >= 20).then_some(())
    })
    .is_ok();
    let end_us = wall_clock_us();
    let replies = pinger.stop()?;
    let e = entered(c);
    let intervals: Vec<Vec<(i64, i64)>> = others.iter().map(|&i| master_intervals(&c.state_changes(i), t_us, end_us)).collect();
    let mut names: Vec<&str> = e.iter().map(|(n, _)| n.as_str()).collect();
    names.sort();
    names.dedup();
    Ok(Failover {
        n,
        kind,
        from: c.routers[m].name.clone(),
        expected,
        to: e.first().map(|(n, _)| n.clone()),
        takeover_us: e.first().map(|(_, t)| *t),
        outage_us: longest_outage_us(&replies, t_us, end_us),
        recovered,
        second_master: names.len() > 1,
        dual_master_us: overlap_us(&intervals),
        final_masters,
        bound,
        problem: took.err().map(|e| format!("{e:#}")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(cs: u16) -> ClusterSpec {
        ClusterSpec { version: 3, advert_int_cs: cs, priorities: el::default_priorities(3), agent_args: vec![] }
    }

    #[test]
    fn plans_are_mixed_evenly_and_reproducible() {
        let p = plan(7, 9);
        assert_eq!(p, plan(7, 9));
        for k in Kind::ALL {
            assert_eq!(p.iter().filter(|x| **x == k).count(), 3, "{p:?}");
        }
        let q = plan(8, 30);
        assert_ne!(q, plan(9, 30), "different seeds, different orders");
        for k in Kind::ALL {
            assert!(q.iter().filter(|x| **x == k).count() >= 10, "{q:?}");
        }
        assert_eq!(plan(1, 31).len(), 31);
        assert!(plan(1, 0).is_empty());
        // Shuffled, not in blocks.
        assert!((0..20).any(|s| plan(s, 9)[..3].iter().collect::<BTreeSet<_>>().len() > 1));
    }

    #[test]
    fn bounds_follow_the_protocol() {
        // v3, 100 ms, the backup of priority 90: Master_Down_Interval 300 + 166*100/256 ms.
        let s = spec(10);
        assert_eq!(bound(Kind::Crash, &s, 90).limit, Duration::from_micros(364_843 + 100_000));
        assert_eq!(bound(Kind::Planned, &s, 90).limit, Duration::from_micros(64_843 + 100_000));
        assert_eq!(bound(Kind::Tracker, &s, 90).limit, Duration::from_micros(364_843 + 100_000));
        assert!(bound(Kind::Planned, &s, 90).why.starts_with("Skew_Time(90) 64.8 ms"), "{}", bound(Kind::Planned, &s, 90).why);
        // 10 ms adverts.
        assert_eq!(bound(Kind::Planned, &spec(1), 90).limit, Duration::from_micros(6_484 + 10_000));
        assert_eq!(tracker_penalty(100, 90), -15);
        assert!(100 + tracker_penalty(100, 90) < 90 && 100 + tracker_penalty(100, 90) > 80);
    }

    fn fo(kind: Kind, takeover: Option<i64>, outage: Option<i64>, to: &str) -> Failover {
        Failover {
            n: 1,
            kind,
            from: "r1".into(),
            expected: "r2".into(),
            to: Some(to.into()),
            takeover_us: takeover,
            outage_us: outage,
            recovered: true,
            second_master: false,
            dual_master_us: 0,
            final_masters: vec![to.into()],
            bound: bound(kind, &spec(10), 90),
            problem: None,
        }
    }

    #[test]
    fn a_failover_fails_on_its_bound_winner_or_recovery() {
        assert!(fo(Kind::Crash, Some(400_000), Some(420_000), "r2").passed());
        // Bounds 464.8 ms (crash) and 164.8 ms (planned), each + SCHED_SLACK (100 ms).
        assert!(fo(Kind::Crash, Some(560_000), Some(420_000), "r2").passed());
        assert!(!fo(Kind::Crash, Some(570_000), Some(420_000), "r2").passed());
        assert!(!fo(Kind::Planned, Some(100_000), Some(270_000), "r2").passed());
        assert!(fo(Kind::Planned, Some(100_000), Some(260_000), "r2").passed());
        assert!(!fo(Kind::Tracker, Some(300_000), Some(0), "r3").passed(), "r3 settled as master");
        let mut f = fo(Kind::Crash, Some(300_000), Some(310_000), "r2");
        (f.to, f.second_master) = (Some("r3".into()), true);
        assert!(f.passed(), "r3 first but r2 settled: reported as a second master");
        assert!(!fo(Kind::Tracker, None, Some(0), "r2").passed());
        let mut f = fo(Kind::Crash, Some(400_000), Some(420_000), "r2");
        f.recovered = false;
        assert!(!f.passed());
        let mut f = fo(Kind::Crash, Some(400_000), Some(420_000), "r2");
        f.second_master = true;
        assert!(f.passed(), "reported, not failed");
        assert!(f.describe(9).contains("second master"));
        f.problem = Some("exit 1".into());
        assert!(f.describe(9).contains("FAIL: exit 1"));
    }

    fn fp(pid: u32, after: usize, fds: usize, rss_kib: u64) -> Footprint {
        Footprint { pid, router: "r2".into(), after, fds, rss_kib, ..Footprint::default() }
    }

    #[test]
    fn leaks_are_growth_over_the_slack_of_long_lived_agents() {
        // Steady: within the slack.
        assert!(compare_footprints(&[fp(1, 0, 20, 10_000), fp(1, 5, 22, 11_000), fp(1, 9, 21, 12_000)]).is_empty());
        // One fd per failover.
        let l = compare_footprints(&[fp(1, 0, 20, 10_000), fp(1, 9, 29, 10_000)]);
        assert_eq!(l.len(), 1);
        assert!(l[0].contains("20 fds after failover 0, 29 after failover 9"), "{l:?}");
        // Memory.
        let l = compare_footprints(&[fp(1, 0, 20, 10_000), fp(1, 9, 20, 10_000 + RSS_SLACK_KIB + 1)]);
        assert!(l.len() == 1 && l[0].contains("RSS"), "{l:?}");
        // An agent that lived through too few failovers is not compared; others still are.
        let l = compare_footprints(&[fp(1, 0, 20, 10_000), fp(1, 2, 40, 90_000), fp(2, 1, 20, 10_000), fp(2, 9, 30, 10_000)]);
        assert!(l.len() == 1 && l[0].contains("pid 2"), "{l:?}");
        assert_eq!(
            footprint_summary(&[fp(2, 1, 20, 10_000), fp(2, 9, 30, 10_000), fp(1, 0, 1, 1)]),
            vec![Lived { router: "r2".into(), pid: 2, failovers: 8, fds: (20, 30), rss_kib: (10_000, 10_000) }]
        );
    }

    #[test]
    fn the_report_sums_up_each_kind() {
        let mut r = SoakReport::default();
        r.failovers.push(fo(Kind::Crash, Some(300_000), Some(310_000), "r2"));
        r.failovers.push(fo(Kind::Crash, Some(350_000), Some(600_000), "r2"));
        r.failovers.push(fo(Kind::Crash, Some(320_000), Some(330_000), "r2"));
        let crash = &r.per_kind()[0];
        assert_eq!((crash.kind, crash.count, crash.failed), (Kind::Crash, 3, 1));
        assert_eq!(crash.takeover_us, [Some(300_000), Some(320_000), Some(350_000)]);
        assert_eq!(crash.outage_us, [Some(310_000), Some(330_000), Some(600_000)]);
        assert_eq!(r.per_kind()[1].takeover_us, [None, None, None]);
        assert!(!r.passed());
        r.failovers.remove(1);
        assert!(r.passed());
        assert!(r.summary().iter().any(|l| l == "leaks: none"));
        r.leaks.push("x".into());
        assert!(!r.passed());
    }

    #[test]
    fn proc_texts() {
        assert_eq!(parse_vm_rss_kib("Name:\tvrrp-agent\nVmPeak:\t  100 kB\nVmRSS:\t   12345 kB\n"), Some(12345));
        assert_eq!(parse_vm_rss_kib("Name:\tx\n"), None);
        assert_eq!(parse_bpf_fdinfo("pos:\t0\nflags:\t02000002\nprog_type:\t6\nprog_jited:\t1\nprog_tag:\tab\nmemlock:\t4096\nprog_id:\t812\n"), (Some(812), None));
        assert_eq!(parse_bpf_fdinfo("pos:\t0\nmap_type:\t1\nkey_size:\t4\nmap_id:\t77\nfrozen:\t0\n"), (None, Some(77)));
        assert_eq!(parse_bpf_fdinfo("pos:\t0\nflags:\t02\n"), (None, None));
    }

    #[test]
    fn this_process_has_a_footprint() {
        let f = footprint(std::process::id(), "self", 0).expect("own footprint");
        assert!(f.fds >= 3 && f.rss_kib > 0, "{f:?}");
    }
}
