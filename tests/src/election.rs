//! What `cargo xtask lab` and `tests/tests/election.rs` share: the protocol's timing bounds in
//! exact microseconds, the agent's state-change log lines parsed with their timestamps, a
//! seeded PRNG, and a [`Cluster`] of N routers and a client whose master can be crashed,
//! measured ([`CrashRep`]) and restored, repeatedly.
//!
//! Measurements come from what the agents log (`(VI_1) Entering MASTER STATE (...)`, with
//! tracing's RFC 3339 UTC timestamps in microseconds, taken from the same system clock as
//! [`wall_clock_us`]) and from the client's pings (`ping -D`, the same clock), not from polling
//! `ip addr`, so a second master that lasts a millisecond is still seen.

use crate::{Agent, Daemon, Host, Keepalived, Lan, PingReply, has_addr, lan, spawn_agent, spawn_keepalived, start_ping_every, wait_for, holds_for};
use anyhow::{Context, Result, bail};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use vrrp_common::timers;

// ---------------------------------------------------------------------------------------
// Protocol timers, exact, in microseconds (as keepalived computes them)
// ---------------------------------------------------------------------------------------

/// The advert interval of `advert_int_cs` centiseconds.
pub fn interval(advert_int_cs: u16) -> Duration {
    Duration::from_millis(u64::from(advert_int_cs) * 10)
}

fn version_of(version: u8) -> timers::Version {
    if version == 2 { timers::Version::V2 } else { timers::Version::V3 }
}

/// Master_Down_Interval of a backup of `priority` when the master advertises every
/// `advert_int_cs` centiseconds.
pub fn master_down_interval(version: u8, priority: u8, advert_int_cs: u16) -> Duration {
    Duration::from_micros(timers::master_down_interval_us(version_of(version), priority, advert_int_cs))
}

/// Skew_Time of a backup of `priority` (how long it waits after a priority-0 advert).
pub fn skew_time(version: u8, priority: u8, advert_int_cs: u16) -> Duration {
    Duration::from_micros(timers::skew_time_us(version_of(version), priority, advert_int_cs))
}

/// The protocol's bound on a crash failover, as seen by the backup of `priority` that should
/// take over and by a client: Master_Down_Interval (the backup's timer runs from the master's
/// last advert, which came before the crash) + one advert interval (the bound: the
/// new master's first advert and gratuitous ARP go out as it takes over; one interval leaves
/// room for the client's next probe and for the next-lower backup to hear that advert).
pub fn failover_bound(version: u8, priority: u8, advert_int_cs: u16) -> Duration {
    master_down_interval(version, priority, advert_int_cs) + interval(advert_int_cs)
}

/// `advert_int` as keepalived.conf writes it: 100 cs → "1", 10 → "0.1", 105 → "1.05".
pub fn advert_int_text(cs: u16) -> String {
    if cs.is_multiple_of(100) {
        format!("{}", cs / 100)
    } else {
        let s = format!("{}.{:02}", cs / 100, cs % 100);
        s.trim_end_matches('0').to_string()
    }
}

/// Priorities of an N-router lab: 100, 90, 80, ... (descending by 10, so adjacent backups'
/// skews differ by 10/256 of an interval).
pub fn default_priorities(n: usize) -> Vec<u8> {
    (0..n).map(|i| 100u8.saturating_sub(10 * i as u8).max(1)).collect()
}

/// A single-instance config (`VI_1`, VRID 51, state BACKUP, preempt on) holding `vip`/24 on
/// eth0.
pub fn router_config(version: u8, advert_int_cs: u16, priority: u8, vip: Ipv4Addr) -> String {
    router_config_with(version, advert_int_cs, priority, vip, &RouterExtra::default())
}

/// What a router's config has beyond [`router_config`]'s: blocks before the instance (e.g. a
/// `vrrp_track_file`) and lines inside it (e.g. `track_file { tf }`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RouterExtra {
    pub before: String,
    pub inside: String,
}

/// [`router_config`] with `extra` added.
pub fn router_config_with(version: u8, advert_int_cs: u16, priority: u8, vip: Ipv4Addr, extra: &RouterExtra) -> String {
    let global = if version == 3 { "global_defs {\n    vrrp_version 3\n}\n\n" } else { "" };
    format!(
        "{global}{}vrrp_instance VI_1 {{\n    state BACKUP\n    interface eth0\n    virtual_router_id 51\n    \
         priority {priority}\n    advert_int {}\n    virtual_ipaddress {{\n        {vip}/24\n    }}\n{}}}\n",
        extra.before,
        advert_int_text(advert_int_cs),
        extra.inside
    )
}

// ---------------------------------------------------------------------------------------
// Clock and log parsing
// ---------------------------------------------------------------------------------------

/// Now, in microseconds since the Unix epoch (the clock of the agents' log timestamps and of
/// `ping -D`).
pub fn wall_clock_us() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros() as i64).unwrap_or(0)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Microseconds since the epoch of tracing-subscriber's default timestamp,
/// `YYYY-MM-DDTHH:MM:SS.ffffffZ` (UTC; any number of fraction digits is accepted).
pub fn parse_log_timestamp_us(s: &str) -> Option<i64> {
    let s = s.strip_suffix('Z')?;
    let (date, time) = s.split_once('T')?;
    let mut d = date.splitn(3, '-').map(|x| x.parse::<i64>().ok());
    let (y, mo, da) = (d.next()??, d.next()??, d.next()??);
    let (hms, frac) = time.split_once('.').unwrap_or((time, ""));
    let mut t = hms.splitn(3, ':').map(|x| x.parse::<i64>().ok());
    let (h, mi, se) = (t.next()??, t.next()??, t.next()??);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&da) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) || frac.len() > 9 {
        return None;
    }
    let mut us = 0i64;
    for (i, b) in frac.bytes().take(6).enumerate() {
        us += i64::from(b - b'0') * 10i64.pow(5 - i as u32);
    }
    Some(((days_from_civil(y, mo, da) * 86_400 + h * 3600 + mi * 60 + se) * 1_000_000) + us)
}

/// One `(NAME) Entering <STATE> STATE (<reason>)` line of an agent log.
#[derive(Debug, Clone, PartialEq)]
pub struct StateChange {
    /// Log timestamp, microseconds since the epoch.
    pub ts_us: i64,
    /// The instance name (`VI_1`).
    pub instance: String,
    /// `MASTER`, `BACKUP`, `FAULT` or `STOP`.
    pub state: String,
    /// What the agent gave as the reason (the text in parentheses), if any.
    pub reason: String,
}

impl StateChange {
    /// For a takeover by the Master_Down_Timer: how long the master had been silent, as the
    /// agent logs it (`master down timer expired; last advert 364.1 ms ago`), microseconds.
    pub fn silent_us(&self) -> Option<i64> {
        let rest = &self.reason[self.reason.find("last advert ")? + "last advert ".len()..];
        let ms: f64 = rest.strip_suffix(" ms ago")?.parse().ok()?;
        Some((ms * 1e3).round() as i64)
    }
}

/// Every state change in an agent's log, in log order. Lines without a parseable leading
/// timestamp are skipped (the agent writes one on every line).
pub fn parse_state_changes(log: &str) -> Vec<StateChange> {
    log.lines()
        .filter_map(|l| {
            let ts_us = parse_log_timestamp_us(l.split_whitespace().next()?)?;
            let at = l.find(") Entering ")?;
            let instance = l[..at].rsplit_once('(')?.1.to_string();
            let rest = &l[at + ") Entering ".len()..];
            let (state, rest) = rest.split_once(" STATE")?;
            let reason = rest
                .trim_start()
                .strip_prefix('(')
                .and_then(|r| r.rsplit_once(')'))
                .map(|(r, _)| r.to_string())
                .unwrap_or_default();
            Some(StateChange { ts_us, instance, state: state.to_string(), reason })
        })
        .collect()
}

/// The intervals `[enter, leave)` (microseconds since the epoch) during which the log says
/// the instance was MASTER, clipped to `[from, to]`; an interval still open is closed at `to`.
pub fn master_intervals(changes: &[StateChange], from: i64, to: i64) -> Vec<(i64, i64)> {
    let mut out = Vec::new();
    let mut since: Option<i64> = None;
    for c in changes {
        match (c.state == "MASTER", since) {
            (true, None) => since = Some(c.ts_us),
            (false, Some(s)) => {
                out.push((s, c.ts_us));
                since = None;
            }
            _ => {}
        }
    }
    if let Some(s) = since {
        out.push((s, to.max(s)));
    }
    out.into_iter()
        .filter_map(|(a, b)| {
            let (a, b) = (a.max(from), b.min(to));
            (b > a).then_some((a, b))
        })
        .collect()
}

/// How long (microseconds) at least two of the routers were MASTER at the same time, given
/// each router's MASTER intervals.
pub fn overlap_us(per_router: &[Vec<(i64, i64)>]) -> i64 {
    let mut edges: Vec<(i64, i32)> = per_router.iter().flatten().flat_map(|&(a, b)| [(a, 1), (b, -1)]).collect();
    // At equal times close before open: touching intervals do not overlap.
    edges.sort();
    let (mut depth, mut last, mut total) = (0i32, 0i64, 0i64);
    for (t, d) in edges {
        if depth >= 2 {
            total += t - last;
        }
        depth += d;
        last = t;
    }
    total
}

/// The longest time without a reply between `from_us` and `to_us` (microseconds since the
/// epoch): gaps between consecutive replies, from the last reply before `from_us`, and from
/// the last reply to `to_us`. None if no reply came before `from_us`.
pub fn longest_outage_us(replies: &[PingReply], from_us: i64, to_us: i64) -> Option<i64> {
    let mut ts: Vec<i64> = replies.iter().filter(|r| !r.dup).map(|r| (r.ts * 1e6).round() as i64).collect();
    ts.sort();
    let start = ts.iter().rposition(|t| *t <= from_us)?;
    let mut pts: Vec<i64> = ts[start..].iter().copied().filter(|t| *t <= to_us).collect();
    pts.push(to_us);
    pts.windows(2).map(|w| w[1] - w[0]).max()
}

/// The client's outage counted over lost probes only: the longest gap between two
/// consecutive answered probes (by sequence) with unanswered probes between them, from the
/// last reply before `from_us`, and from the last reply to `to_us` if `open_tail` (the probes
/// after it went unanswered). Zero when no probe went unanswered; None if no reply came
/// before `from_us`. Unlike [`longest_outage_us`], a gap in which every probe was answered
/// (the prober itself not scheduled on a busy machine; it catches up in a burst) is not an
/// outage.
pub fn outage_over_lost_us(replies: &[PingReply], from_us: i64, to_us: i64, open_tail: bool) -> Option<i64> {
    let mut rs: Vec<(u32, i64)> = replies.iter().filter(|r| !r.dup).map(|r| (r.seq, (r.ts * 1e6).round() as i64)).collect();
    rs.sort();
    let start = rs.iter().rposition(|(_, t)| *t <= from_us)?;
    let rs: Vec<(u32, i64)> = rs[start..].iter().copied().filter(|(_, t)| *t <= to_us).collect();
    let gaps = rs.windows(2).filter(|w| w[1].0 > w[0].0 + 1).map(|w| w[1].1 - w[0].1);
    let tail = rs.last().filter(|_| open_tail).map(|(_, t)| to_us - t);
    Some(gaps.chain(tail).max().unwrap_or(0))
}

/// Probes sent but never answered between the first and the last reply (by icmp_seq).
pub fn lost_probes(replies: &[PingReply]) -> u32 {
    let mut seqs: Vec<u32> = replies.iter().filter(|r| !r.dup).map(|r| r.seq).collect();
    seqs.sort();
    seqs.dedup();
    match (seqs.first(), seqs.last()) {
        // icmp_seq wraps at 65536; probes here are bounded far below that.
        (Some(a), Some(b)) => (b - a + 1) - seqs.len() as u32,
        _ => 0,
    }
}

/// Median of a non-empty slice (the lower middle for an even length).
pub fn median<T: Copy + Ord>(v: &[T]) -> Option<T> {
    let mut s = v.to_vec();
    s.sort();
    s.get(s.len().saturating_sub(1) / 2).copied()
}

// ---------------------------------------------------------------------------------------
// Seeded randomness
// ---------------------------------------------------------------------------------------

/// SplitMix64: a tiny seeded generator, so a run is reproducible from its printed seed.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    /// A seed from the clock, for runs that were not given one.
    pub fn seed_from_clock() -> u64 {
        SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0x5eed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, d)` (microsecond resolution); zero if `d` is zero.
    pub fn below(&mut self, d: Duration) -> Duration {
        let us = d.as_micros() as u64;
        if us == 0 { Duration::ZERO } else { Duration::from_micros(self.next_u64() % us) }
    }
}

// ---------------------------------------------------------------------------------------
// A cluster that can be crashed and restored
// ---------------------------------------------------------------------------------------

/// The VIP every cluster shares.
pub const VIP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 100);
/// The client host's name and address.
pub const CLIENT: (&str, Ipv4Addr) = ("client", Ipv4Addr::new(198, 18, 0, 10));
/// The IPv6 VIP of a cluster [`Cluster::with_ipv6`] gave one.
pub const VIP6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x100);
/// The link-local VIP the IPv6 instance lists first (its adverts' source, RFC 9568 5.2.9).
pub const LL_VIP6: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0x2);
/// The client's IPv6 address (with [`Cluster::with_ipv6`]), in the VIP's /64.
pub const CLIENT6: (&str, Ipv6Addr) = ("client", Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x10));
/// Agent startup (load and verify the XDP program, netlink) before its timers run, for every
/// test: the kernel verifier walks the whole program (up to a second of CPU on this VM), and a
/// test starts several agents while other tests start theirs on the same 2 cores. Only a
/// deadline, never waited out when things go well.
pub const STARTUP: Duration = Duration::from_secs(8);

/// Which daemon a [`Cluster`]'s routers run: our agent, or keepalived (the same config text,
/// for side-by-side figures). Only the agent has pins, so [`Cluster::status`] and what is
/// built on it ([`Cluster::wait_settled`], [`Cluster::crash_master`]) need the agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RouterDaemon {
    #[default]
    Agent,
    Keepalived,
}

impl RouterDaemon {
    pub fn label(self) -> &'static str {
        match self {
            RouterDaemon::Agent => "vrrp-agent",
            RouterDaemon::Keepalived => "keepalived",
        }
    }
}

/// `(NAME) Entering MASTER STATE` lines in a log, whatever its timestamps: the agent's and
/// keepalived's (whose console log has whole-second timestamps) say it the same way.
pub fn count_master_entries(log: &str) -> usize {
    log.lines().filter(|l| l.contains(") Entering MASTER STATE")).count()
}

/// The state named by the last `(NAME) Entering <STATE> STATE` line of a log (agent or
/// keepalived), whatever its timestamps.
pub fn last_logged_state(log: &str) -> Option<String> {
    log.lines().rev().find_map(|l| {
        let rest = &l[l.find(") Entering ")? + ") Entering ".len()..];
        Some(rest.split_once(" STATE")?.0.to_string())
    })
}

#[derive(Debug, Clone)]
pub struct ClusterSpec {
    /// 2 or 3.
    pub version: u8,
    pub advert_int_cs: u16,
    /// One router per entry: `r1` gets the first priority, address 198.18.0.1, and so on.
    pub priorities: Vec<u8>,
    /// Extra agent arguments (e.g. `--xdp-mode skb`).
    pub agent_args: Vec<String>,
}

impl ClusterSpec {
    pub fn interval(&self) -> Duration {
        interval(self.advert_int_cs)
    }

    pub fn master_down_interval(&self, priority: u8) -> Duration {
        master_down_interval(self.version, priority, self.advert_int_cs)
    }

    pub fn failover_bound(&self, priority: u8) -> Duration {
        failover_bound(self.version, priority, self.advert_int_cs)
    }

    /// A client probe interval well under the advert interval: a tenth of it, 1..=10 ms.
    pub fn probe_interval(&self) -> Duration {
        (self.interval() / 10).clamp(Duration::from_millis(1), Duration::from_millis(10))
    }
}

pub struct Router {
    pub name: String,
    pub addr: Ipv4Addr,
    pub priority: u8,
}

/// N routers (`r1`..) and a client on one LAN, an agent per router. Fields drop in order:
/// the agents first, then the namespaces.
pub struct Cluster {
    pub agents: Vec<Option<Agent>>,
    /// The routers' keepalived processes when `daemon` is [`RouterDaemon::Keepalived`]
    /// (dropped, like the agents, before the namespaces).
    pub keepaliveds: Vec<Option<Keepalived>>,
    pub lan: Lan,
    pub routers: Vec<Router>,
    pub spec: ClusterSpec,
    pub bin: PathBuf,
    /// Keep every agent's log (also the replaced ones) and print where.
    pub keep_logs: bool,
    /// [`Cluster::crash_master`] also takes the master's switch port down (default), as if
    /// the host died; otherwise only its agent is killed (its kernel keeps the VIP).
    pub isolate_on_crash: bool,
    /// Logs of agents replaced by [`Cluster::restore`], per router, oldest first.
    pub old_logs: Vec<Vec<String>>,
    /// What [`Cluster::start_agents`] and [`Cluster::restore`] start (set it before them).
    pub daemon: RouterDaemon,
    /// The IPv6 VIP of a second instance (`VI_2`, VRID 2, VRRPv3), if
    /// [`Cluster::with_ipv6`] added one before the agents started.
    pub vip6: Option<Ipv6Addr>,
    /// Per router, what its config has beyond [`router_config`]'s (set it before the
    /// daemons start; empty by default).
    pub extra: Vec<RouterExtra>,
}

/// What one crash of the master showed.
#[derive(Debug, Clone)]
pub struct CrashRep {
    pub killed: String,
    /// The highest-priority survivor: the router that should take over, alone.
    pub expected: String,
    /// Kill time, microseconds since the epoch.
    pub kill_us: i64,
    /// Delay between the master's last advert (as the backups recorded it) and the kill.
    pub phase: Option<Duration>,
    /// Survivors that entered MASTER after the kill: (name, microseconds after the kill),
    /// in time order (a router entering twice appears twice).
    pub entered_master: Vec<(String, i64)>,
    /// How long the first survivor to enter MASTER had heard no advert when its timer
    /// fired, as it logged it (none for a takeover by another reason). Unlike the time
    /// since the kill, it does not depend on whether the master's last advert was on time.
    pub silence_us: Option<i64>,
    /// Survivors in MASTER when the cluster had settled again.
    pub final_masters: Vec<String>,
    /// How long two or more survivors were MASTER at once (from their logs).
    pub dual_master_us: i64,
    /// The client's longest time without a reply, from its last reply before the kill until
    /// it had been answered for a while after the cluster settled.
    pub outage_us: Option<i64>,
    /// Probes never answered (transmitted minus answered, as ping counts them).
    pub lost_probes: u32,
    /// The client was answered again after the failover (else `outage_us` only says how long
    /// the lab waited: at least that long).
    pub recovered: bool,
    pub probe_interval: Duration,
    /// Master_Down_Interval of the expected router, and the bound (+ one interval).
    pub master_down: Duration,
    pub bound: Duration,
}

impl CrashRep {
    /// A second survivor entered MASTER after the kill.
    pub fn split_brain(&self) -> bool {
        let mut names: Vec<&str> = self.entered_master.iter().map(|(n, _)| n.as_str()).collect();
        names.sort();
        names.dedup();
        names.len() > 1
    }

    /// The first survivor to enter MASTER, or the one left as master, is not the expected one.
    pub fn wrong_winner(&self) -> bool {
        self.entered_master.first().is_none_or(|(n, _)| *n != self.expected) || self.final_masters != [self.expected.clone()]
    }

    /// Kill → the first survivor entering MASTER.
    pub fn takeover_us(&self) -> Option<i64> {
        self.entered_master.first().map(|(_, t)| *t)
    }

    /// One line for logs and the lab.
    pub fn describe(&self) -> String {
        let entered: Vec<String> = self.entered_master.iter().map(|(n, t)| format!("{n}@{:.1}ms", *t as f64 / 1e3)).collect();
        format!(
            "killed {} (phase {}); entered MASTER: [{}]{}; final master {:?}; two masters for {:.1} ms; client outage {}; lost {} probes ({} ms apart); bound {:.1} ms (Master_Down_Interval {:.1} ms + one interval)",
            self.killed,
            self.phase.map(|p| format!("{:.1} ms after an advert", p.as_secs_f64() * 1e3)).unwrap_or_else(|| "?".into()),
            entered.join(", "),
            self.silence_us.map(|us| format!(" after {:.1} ms without an advert", us as f64 / 1e3)).unwrap_or_default(),
            self.final_masters,
            self.dual_master_us as f64 / 1e3,
            match (self.outage_us, self.recovered) {
                (Some(o), true) => format!("{:.1} ms", o as f64 / 1e3),
                (Some(o), false) => format!(">= {:.1} ms (NOT answered again yet)", o as f64 / 1e3),
                (None, _) => "n/a".into(),
            },
            self.lost_probes,
            self.probe_interval.as_millis(),
            self.bound.as_secs_f64() * 1e3,
            self.master_down.as_secs_f64() * 1e3,
        )
    }
}

impl Cluster {
    /// Build the LAN (`tag` names it) and start an agent on every router.
    pub fn start(tag: &str, bin: &Path, spec: ClusterSpec) -> Result<Cluster> {
        let mut c = Cluster::new(tag, bin, spec)?;
        c.start_agents()?;
        Ok(c)
    }

    /// Start an agent on every router that has none ([`Cluster::new`] starts none).
    pub fn start_agents(&mut self) -> Result<()> {
        for i in 0..self.routers.len() {
            if self.daemon(i).is_none() {
                self.spawn_into(i)?;
            }
        }
        Ok(())
    }

    /// Start router `i`'s daemon (of kind [`Cluster::daemon`]) in its slot.
    fn spawn_into(&mut self, i: usize) -> Result<()> {
        match self.daemon {
            RouterDaemon::Agent => {
                let a = self.spawn(i)?;
                self.agents[i] = Some(a);
            }
            RouterDaemon::Keepalived => {
                let r = &self.routers[i];
                let cfg = self.config_of(i);
                let k = spawn_keepalived(self.lan.host(&r.name), &cfg).with_context(|| format!("starting keepalived on {}", r.name))?;
                self.keepaliveds[i] = Some(k);
            }
        }
        Ok(())
    }

    /// Router `i`'s process, agent or keepalived, if one was started.
    pub fn daemon(&self, i: usize) -> Option<&Daemon> {
        self.agents[i].as_deref().or(self.keepaliveds[i].as_deref())
    }

    pub fn daemon_mut(&mut self, i: usize) -> Option<&mut Daemon> {
        match (&mut self.agents[i], &mut self.keepaliveds[i]) {
            (Some(a), _) => Some(&mut **a),
            (None, Some(k)) => Some(&mut **k),
            (None, None) => None,
        }
    }

    /// The state router `i`'s current log last entered (agent or keepalived).
    pub fn logged_state(&self, i: usize) -> Option<String> {
        self.daemon(i).and_then(|d| last_logged_state(&d.log_text()))
    }

    /// `Entering MASTER STATE` lines in router `i`'s current log (agent or keepalived).
    pub fn master_entries(&self, i: usize) -> usize {
        self.daemon(i).map(|d| count_master_entries(&d.log_text())).unwrap_or(0)
    }

    /// Build the LAN (`tag` names it): routers `r1`.. at 198.18.0.1.. and the client at
    /// 198.18.0.10; no agent runs yet.
    pub fn new(tag: &str, bin: &Path, spec: ClusterSpec) -> Result<Cluster> {
        let n = spec.priorities.len();
        if !(1..=8).contains(&n) {
            bail!("a cluster has 1..=8 routers, not {n}");
        }
        let routers: Vec<Router> = spec
            .priorities
            .iter()
            .enumerate()
            .map(|(i, p)| Router { name: format!("r{}", i + 1), addr: Ipv4Addr::new(198, 18, 0, i as u8 + 1), priority: *p })
            .collect();
        let mut hosts: Vec<(&str, Ipv4Addr)> = routers.iter().map(|r| (r.name.as_str(), r.addr)).collect();
        hosts.push(CLIENT);
        let lan = lan(tag, &hosts)?;
        Ok(Cluster {
            agents: routers.iter().map(|_| None).collect(),
            lan,
            old_logs: routers.iter().map(|_| Vec::new()).collect(),
            routers,
            spec,
            bin: bin.to_path_buf(),
            keep_logs: false,
            isolate_on_crash: true,
            daemon: RouterDaemon::Agent,
            keepaliveds: (0..n).map(|_| None).collect(),
            vip6: None,
            extra: vec![RouterExtra::default(); n],
        })
    }

    /// Adds a second instance to every router's config (before [`Cluster::start_agents`]):
    /// `VI_2`, VRID 2, the same priorities and interval, holding [`VIP6`] (after a link-local
    /// VIP, [`LL_VIP6`]); gives the client [`CLIENT6`]. VRRPv3 only (IPv6 has no v2). Status
    /// index 0 stays `VI_1`.
    pub fn with_ipv6(&mut self) -> Result<()> {
        if self.spec.version != 3 {
            bail!("an IPv6 instance needs VRRPv3, the cluster runs v{}", self.spec.version);
        }
        if (0..self.routers.len()).any(|i| self.daemon(i).is_some()) {
            bail!("with_ipv6 must come before the agents start");
        }
        for h in &self.lan.hosts {
            wait_for(Duration::from_secs(5), "a usable link-local address", || crate::usable_link_local(h))?;
        }
        let c = self.client();
        c.ns.ip(&["addr", "add", &format!("{}/64", CLIENT6.1), "dev", &c.ifname, "nodad"])?;
        self.vip6 = Some(VIP6);
        Ok(())
    }

    /// Router `i`'s config: [`router_config`], plus the IPv6 instance if [`Cluster::vip6`].
    pub fn config_of(&self, i: usize) -> String {
        let r = &self.routers[i];
        let mut cfg = router_config_with(self.spec.version, self.spec.advert_int_cs, r.priority, VIP, &self.extra[i]);
        if let Some(vip6) = self.vip6 {
            cfg.push_str(&format!(
                "\nvrrp_instance VI_2 {{\n    state BACKUP\n    interface eth0\n    virtual_router_id 2\n    \
                 priority {}\n    advert_int {}\n    virtual_ipaddress {{\n        {LL_VIP6}/64\n        {vip6}/64\n    }}\n}}\n",
                r.priority,
                advert_int_text(self.spec.advert_int_cs)
            ));
        }
        cfg
    }

    /// Routers whose eth0 holds the IPv6 VIP (none without one).
    pub fn holders6(&self) -> Vec<String> {
        let Some(v) = self.vip6 else { return Vec::new() };
        self.routers.iter().filter(|r| crate::has_addr6(self.lan.host(&r.name), v)).map(|r| r.name.clone()).collect()
    }

    fn spawn(&self, i: usize) -> Result<Agent> {
        let r = &self.routers[i];
        let cfg = self.config_of(i);
        let args: Vec<&str> = self.spec.agent_args.iter().map(String::as_str).collect();
        spawn_agent(&self.bin, self.lan.host(&r.name), &cfg, &args).with_context(|| format!("starting the agent on {}", r.name))
    }

    pub fn host(&self, i: usize) -> &Host {
        self.lan.host(&self.routers[i].name)
    }

    pub fn client(&self) -> &Host {
        self.lan.host(CLIENT.0)
    }

    pub fn index(&self, name: &str) -> Option<usize> {
        self.routers.iter().position(|r| r.name == name)
    }

    /// Routers whose eth0 holds the VIP.
    pub fn holders(&self) -> Vec<String> {
        self.routers.iter().filter(|r| has_addr(self.lan.host(&r.name), VIP)).map(|r| r.name.clone()).collect()
    }

    /// Indices of routers whose agent runs.
    pub fn alive(&mut self) -> Vec<usize> {
        (0..self.agents.len()).filter(|i| self.daemon_mut(*i).is_some_and(|d| d.is_running())).collect()
    }

    /// `vrrp-agent status --json` of router `i`'s agent (None while its maps are not pinned).
    pub fn status(&self, i: usize) -> Option<serde_json::Value> {
        let a = self.agents[i].as_ref()?;
        agent_status(&self.bin, &a.bpffs)
    }

    /// `instances[0].state` from [`Cluster::status`].
    pub fn state(&self, i: usize) -> Option<String> {
        Some(self.status(i)?["instances"][0]["state"].as_str()?.to_string())
    }

    /// Every state change in router `i`'s current agent log.
    pub fn state_changes(&self, i: usize) -> Vec<StateChange> {
        self.agents[i].as_ref().map(|a| parse_state_changes(&a.log_text())).unwrap_or_default()
    }

    /// Error out if an agent that should run has exited.
    pub fn check_running(&mut self) -> Result<()> {
        let what = self.daemon.label();
        for i in 0..self.routers.len() {
            if let Some(d) = self.daemon_mut(i)
                && !d.is_running()
            {
                let (st, tail) = (d.exit_status(), d.log_tail(20));
                bail!("the {what} on {} exited ({st:?}):\n{tail}", self.routers[i].name);
            }
        }
        Ok(())
    }

    /// Wait until router `m` is MASTER and the only holder of the VIP, and every other
    /// running agent is BACKUP and names `m` as its master (so it has heard `m`'s adverts).
    pub fn wait_settled(&mut self, m: usize, timeout: Duration) -> Result<()> {
        let name = self.routers[m].name.clone();
        let addr = self.routers[m].addr.to_string();
        let what = format!("{name} to be the only master, heard by every backup");
        // An agent that exits ends the wait at once, with its log.
        let mut exited = None;
        let waited = wait_for(timeout, &what, || {
            if let Err(e) = self.check_running() {
                exited = Some(e);
                return Some(());
            }
            let ok = self.holders() == [name.clone()]
                && self.alive().iter().all(|&i| {
                    let Some(st) = self.status(i) else { return false };
                    let inst = &st["instances"][0];
                    if i == m {
                        inst["state"] == "MASTER"
                    } else {
                        inst["state"] == "BACKUP" && inst["master"].as_str() == Some(addr.as_str())
                    }
                });
            ok.then_some(())
        });
        if let Some(e) = exited {
            return Err(e);
        }
        waited.map_err(|e| {
            let states: Vec<String> =
                (0..self.routers.len()).map(|i| format!("{}={}", self.routers[i].name, self.state(i).unwrap_or_else(|| "-".into()))).collect();
            anyhow::anyhow!("{e} (holders {:?}, states {})", self.holders(), states.join(" "))
        })
    }

    /// The running router with the highest priority (ties: the higher address, RFC 5798 §6.4.3).
    pub fn highest_alive(&mut self, except: Option<usize>) -> Option<usize> {
        self.alive()
            .into_iter()
            .filter(|i| Some(*i) != except)
            .max_by_key(|&i| (self.routers[i].priority, self.routers[i].addr))
    }

    /// Crash the master `m` (SIGKILL its agent and take its switch port down, like a host
    /// losing power), `phase` after its last advert, and measure what follows until the
    /// survivors settle and the client has been answered again for a while.
    ///
    /// `window_slack` is added to the lowest survivor's Master_Down_Interval + one interval:
    /// how long after the kill a wrongly timed-out backup still counts as "entered MASTER".
    pub fn crash_master(&mut self, m: usize, phase: Duration, window_slack: Duration) -> Result<CrashRep> {
        let spec = self.spec.clone();
        let survivors: Vec<usize> = self.alive().into_iter().filter(|i| *i != m).collect();
        let Some(exp) = self.highest_alive(Some(m)) else { bail!("no router would survive the crash") };
        let expected = self.routers[exp].name.clone();
        let lowest = survivors.iter().map(|&i| self.routers[i].priority).min().unwrap_or(255);
        let master_down = spec.master_down_interval(self.routers[exp].priority);
        let bound = spec.failover_bound(self.routers[exp].priority);
        // Every survivor's timer has run out by then if it was going to.
        let window = spec.failover_bound(lowest) + window_slack;

        let probe = spec.probe_interval();
        // Bounded: the whole rep, generously; stopped as soon as the rep is measured.
        let ping_secs = (STARTUP + window * 4 + Duration::from_secs(10)).as_secs().clamp(1, 600) as u32;
        let pinger = start_ping_every(self.client(), VIP, probe, ping_secs)?;
        wait_for(Duration::from_secs(5), "the client's first reply from the VIP", || (!pinger.replies_so_far().is_empty()).then_some(()))?;

        // Kill `phase` after an advert: a backup's record says how long ago the last one came.
        let advert_ago = survivors.iter().find_map(|&i| {
            let t = Instant::now();
            let st = self.status(i)?;
            let age = st["instances"][0]["last_advert"]["age_ms"].as_u64()?;
            t.checked_sub(Duration::from_millis(age))
        });
        let mut achieved_phase = None;
        if let Some(last) = advert_ago {
            let iv = spec.interval();
            let mut target = last + phase;
            while target < Instant::now() {
                target += iv;
            }
            // Deliberate: the crash happens at a chosen phase of the advert cycle (the
            // scenario), not when some condition holds.
            std::thread::sleep(target - Instant::now());
            let since = last.elapsed().as_micros() as u64 % iv.as_micros().max(1) as u64;
            achieved_phase = Some(Duration::from_micros(since));
        } else {
            std::thread::sleep(phase);
        }

        let kill_us = wall_clock_us();
        let killed_at = Instant::now();
        if let Some(a) = self.agents[m].as_mut() {
            a.kill();
        }
        if self.isolate_on_crash {
            self.lan.isolate(&self.routers[m].name)?;
        }

        // Someone must take over; then every backup's timer gets its chance to misfire.
        let takeovers = |c: &Cluster| -> Vec<(String, StateChange)> {
            let mut v: Vec<(String, StateChange)> = survivors
                .iter()
                .flat_map(|&i| {
                    c.state_changes(i)
                        .into_iter()
                        .filter(|s| s.state == "MASTER" && s.ts_us >= kill_us)
                        .map(move |s| (c.routers[i].name.clone(), s))
                })
                .collect();
            v.sort_by_key(|(_, s)| s.ts_us);
            v
        };
        let entered = |c: &Cluster| -> Vec<(String, i64)> { takeovers(c).into_iter().map(|(n, s)| (n, s.ts_us - kill_us)).collect() };
        let give_up = bound + window + Duration::from_secs(3);
        wait_for(give_up, "a survivor to enter MASTER", || (!entered(self).is_empty()).then_some(()))?;
        if let Some(left) = window.checked_sub(killed_at.elapsed()) {
            // Deliberate: the observation window is the scenario (any backup whose timer
            // would misfire does so inside it); there is no event to wait for instead.
            std::thread::sleep(left);
        }
        // Settled: exactly one survivor in MASTER (a second master steps down when it hears
        // the higher one, within one interval).
        let settle = wait_for(give_up, "exactly one survivor in MASTER", || {
            let masters: Vec<String> = survivors
                .iter()
                .filter(|&&i| self.state(i).as_deref() == Some("MASTER"))
                .map(|&i| self.routers[i].name.clone())
                .collect();
            (masters.len() == 1).then_some(masters)
        });
        let final_masters = match settle {
            Ok(m) => m,
            Err(_) => survivors.iter().filter(|&&i| self.state(i).as_deref() == Some("MASTER")).map(|&i| self.routers[i].name.clone()).collect(),
        };
        let settled_us = wall_clock_us();
        // The client answered again for 20 probes after the cluster settled (or give up: the
        // outage then runs to the end of the wait).
        let recovered = wait_for(give_up, "the client to be answered after the failover", || {
            let n = pinger.replies_so_far().iter().filter(|r| (r.ts * 1e6) as i64 > settled_us).count();
            (n >= 20).then_some(())
        })
        .is_ok();
        let end_us = wall_clock_us();
        let (replies, transmitted) = pinger.stop_counted()?;
        let answered = {
            let mut s: Vec<u32> = replies.iter().filter(|r| !r.dup).map(|r| r.seq).collect();
            s.sort();
            s.dedup();
            s.len() as u32
        };
        let lost = transmitted.map(|t| t.saturating_sub(answered)).unwrap_or_else(|| lost_probes(&replies));
        let obs_end = wall_clock_us();
        let intervals: Vec<Vec<(i64, i64)>> = survivors.iter().map(|&i| master_intervals(&self.state_changes(i), kill_us, obs_end)).collect();
        Ok(CrashRep {
            killed: self.routers[m].name.clone(),
            expected,
            kill_us,
            phase: achieved_phase,
            entered_master: entered(self),
            silence_us: takeovers(self).first().and_then(|(_, s)| s.silent_us()),
            final_masters,
            dual_master_us: overlap_us(&intervals),
            outage_us: longest_outage_us(&replies, kill_us, end_us),
            lost_probes: lost,
            recovered,
            probe_interval: probe,
            master_down,
            bound,
        })
    }

    /// Bring a crashed router back: a new agent (which removes the VIP the killed one left),
    /// then its switch port up. Waits only for the leftover VIP to go; the caller waits for
    /// the election ([`Cluster::wait_settled`]).
    /// keepalived, like the agent, removes a VIP left on its interface when it starts.
    pub fn restore(&mut self, i: usize) -> Result<()> {
        let keep = self.keep_logs;
        if let Some(old) = self.daemon_mut(i) {
            if keep {
                old.keep_files();
            }
            let log = old.log_text();
            self.old_logs[i].push(log);
        }
        // Dropping the old process kills and reaps what is left of it.
        drop(self.agents[i].take());
        drop(self.keepaliveds[i].take());
        self.spawn_into(i)?;
        let host = self.host(i);
        let what = format!("the restarted {} to remove the VIP the killed one left", self.daemon.label());
        wait_for(STARTUP, &what, || (!has_addr(host, VIP)).then_some(()))?;
        self.lan.reconnect(&self.routers[i].name)
    }

    /// Router `m` stays MASTER, every other live router BACKUP, and `m` the only holder of
    /// the VIP, for all of `window` (the steady state after a hitless restart or a
    /// hand-over); the logs' tails on failure.
    pub fn holds_only_master(&mut self, m: usize, window: Duration) -> Result<()> {
        let others: Vec<usize> = self.alive().into_iter().filter(|&i| i != m).collect();
        let name = self.routers[m].name.clone();
        let what = format!("{name} MASTER, the others BACKUP, {name} the only holder");
        holds_for(window, &what, || {
            let states: Vec<Option<String>> = std::iter::once(m).chain(others.iter().copied()).map(|i| self.state(i)).collect();
            let ok = states[0].as_deref() == Some("MASTER") && states[1..].iter().all(|s| s.as_deref() == Some("BACKUP"));
            if !ok || self.holders() != [name.clone()] {
                return Err(format!("states {states:?} (r{} first) holders {:?}", m + 1, self.holders()));
            }
            Ok(())
        })
        .map_err(|e| anyhow::anyhow!("{e}\n{}", self.log_tails(30)))
    }

    /// Print each agent's last lines (for a failure).
    pub fn log_tails(&self, n: usize) -> String {
        (0..self.routers.len())
            .filter_map(|i| self.daemon(i).map(|d| format!("---- {} ({}, pid {} {}):\n{}", self.routers[i].name, d.log.display(), d.pid, d.liveness(), d.log_tail(n))))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// `BIN status --json --bpffs DIR`, or None while the agent has not pinned its maps.
pub fn agent_status(bin: &Path, bpffs: &Path) -> Option<serde_json::Value> {
    let out = std::process::Command::new(bin)
        .args(["status", "--json", "--bpffs"])
        .arg(bpffs)
        .stdin(std::process::Stdio::null())
        .output()
        .ok()?;
    out.status.success().then(|| serde_json::from_slice(&out.stdout).ok()).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timers_exact_in_microseconds() {
        // The formulas are vrrp_common::timers (tested there and in the FSM); these are
        // the harness's wrappers around them.
        assert_eq!(master_down_interval(3, 90, 1), Duration::from_micros(36_484));
        assert_eq!(master_down_interval(2, 90, 100), Duration::from_micros(3_648_437));
        assert_eq!(skew_time(2, 100, 300), Duration::from_micros(609_375));
        assert_eq!(master_down_interval(3, 90, 10), Duration::from_micros(364_843));
        assert_eq!(master_down_interval(3, 80, 10), Duration::from_micros(368_750));
        assert_eq!(failover_bound(3, 90, 1), Duration::from_micros(46_484));
        assert_eq!(skew_time(3, 100, 50), Duration::from_micros(304_687));
    }

    #[test]
    fn config_text_and_priorities() {
        assert_eq!(advert_int_text(100), "1");
        assert_eq!(advert_int_text(10), "0.1");
        assert_eq!(advert_int_text(1), "0.01");
        assert_eq!(advert_int_text(105), "1.05");
        let c = router_config(3, 1, 90, VIP);
        assert!(c.contains("vrrp_version 3") && c.contains("advert_int 0.01") && c.contains("priority 90"));
        assert!(!router_config(2, 100, 50, VIP).contains("vrrp_version"));
        let extra = RouterExtra { before: "vrrp_track_file tf {\n    file /x\n}\n".into(), inside: "    track_file {\n        tf\n    }\n".into() };
        let c = router_config_with(3, 10, 100, VIP, &extra);
        assert!(c.contains("\nvrrp_track_file tf {") && c.find("vrrp_track_file") < c.find("vrrp_instance") && c.contains("}\n    track_file {\n        tf\n    }\n}\n"), "{c}");
        assert_eq!(default_priorities(3), [100, 90, 80]);
        assert_eq!(default_priorities(8), [100, 90, 80, 70, 60, 50, 40, 30]);
    }

    #[test]
    fn log_timestamps() {
        assert_eq!(parse_log_timestamp_us("1970-01-01T00:00:00.000000Z"), Some(0));
        assert_eq!(parse_log_timestamp_us("1970-01-02T00:00:01.5Z"), Some(86_401_500_000));
        // 2026-11-21T10:20:30.123456Z, checked with `date -u -d ... +%s`: 1795256430.
        assert_eq!(parse_log_timestamp_us("2026-11-21T10:20:30.123456Z"), Some(1_795_256_430_123_456));
        assert_eq!(parse_log_timestamp_us("2024-02-29T23:59:59.999999Z"), Some(1_709_251_199_999_999));
        assert_eq!(parse_log_timestamp_us("2026-11-21 10:20:30Z"), None);
        assert_eq!(parse_log_timestamp_us("2026-13-21T10:20:30Z"), None);
        assert_eq!(parse_log_timestamp_us("INFO"), None);
    }

    #[test]
    fn state_change_lines() {
        let log = "2026-11-21T10:20:30.100000Z  INFO vrrp_agent::agent: maps pinned\n\
2026-11-21T10:20:30.200000Z  INFO instance{iface=eth0 vrid=51 af=4}: vrrp_agent::agent: (VI_1) Entering BACKUP STATE (startup) from=INIT\n\
2026-11-21T10:20:30.565000Z  INFO instance{iface=eth0 vrid=51 af=4}: vrrp_agent::agent: (VI_1) Entering MASTER STATE (master down timer expired; last advert 364.1 ms ago) from=BACKUP\n\
garbage (VI_1) Entering MASTER STATE\n\
2026-11-21T10:20:31.000000Z  INFO instance{iface=eth0 vrid=51 af=4}: vrrp_agent::agent: (VI_1) Entering BACKUP STATE (higher priority 100 from 198.18.0.1) from=MASTER\n\
2026-11-21T10:20:32.000000Z  INFO vrrp_agent::agent: (VI_1) Entering STOP STATE (shutdown)\n";
        let c = parse_state_changes(log);
        assert_eq!(c.len(), 4);
        assert_eq!(c[1].state, "MASTER");
        assert_eq!(c[1].instance, "VI_1");
        assert_eq!(c[1].reason, "master down timer expired; last advert 364.1 ms ago");
        assert_eq!(c[1].silent_us(), Some(364_100));
        assert_eq!(c[0].silent_us(), None);
        assert_eq!(c[1].ts_us - c[0].ts_us, 365_000);
        assert_eq!(c[2].reason, "higher priority 100 from 198.18.0.1");
        assert_eq!(c[3].state, "STOP");
        let base = c[0].ts_us;
        assert_eq!(master_intervals(&c, base, base + 10_000_000), vec![(c[1].ts_us, c[2].ts_us)]);
        // Clipped to the window, and an open interval closes at its end.
        assert_eq!(master_intervals(&c[..2], base, c[1].ts_us + 5), vec![(c[1].ts_us, c[1].ts_us + 5)]);
        assert!(master_intervals(&c, c[2].ts_us, base + 10_000_000).is_empty());
    }

    #[test]
    fn states_from_either_daemons_log() {
        let keepalived = "Tue Dec  1 22:00:00 2026: (VI_1) Entering BACKUP STATE (init)\n\
Tue Dec  1 22:00:04 2026: (VI_1) Entering MASTER STATE\n\
Tue Dec  1 22:00:05 2026: (VI_1) received higher prio advert 100\n";
        assert_eq!(last_logged_state(keepalived).as_deref(), Some("MASTER"));
        assert_eq!(count_master_entries(keepalived), 1);
        let agent = "2026-11-21T10:20:30.200000Z  INFO instance{iface=eth0 vrid=51 af=4}: vrrp_agent::agent: (VI_1) Entering BACKUP STATE (startup) from=INIT\n";
        assert_eq!(last_logged_state(agent).as_deref(), Some("BACKUP"));
        assert_eq!(count_master_entries(agent), 0);
        assert_eq!(last_logged_state("no state here\n"), None);
    }

    #[test]
    fn overlaps_and_outages() {
        assert_eq!(overlap_us(&[vec![(0, 10)], vec![(5, 20)], vec![(30, 40)]]), 5);
        assert_eq!(overlap_us(&[vec![(0, 10)], vec![(10, 20)]]), 0);
        assert_eq!(overlap_us(&[vec![(0, 100)], vec![(10, 20), (50, 60)], vec![(15, 55)]]), 50);
        assert_eq!(overlap_us(&[vec![(0, 10)]]), 0);
        let r = |ts: f64, seq: u32| PingReply { ts, seq, dup: false };
        let replies = [r(1.000, 1), r(1.010, 2), r(1.400, 42), r(1.410, 43), r(1.420, 44)];
        assert_eq!(longest_outage_us(&replies, 1_005_000, 1_430_000), Some(390_000));
        // An outage still running at the end counts to the end.
        assert_eq!(longest_outage_us(&replies[..2], 1_005_000, 2_000_000), Some(990_000));
        assert_eq!(longest_outage_us(&replies[2..], 1_005_000, 2_000_000), None);
        assert_eq!(lost_probes(&replies), 39);
        // Only gaps over lost probes count: 2 -> 42 lost 39 probes; a late but answered
        // probe (seq 45, 50 ms after 44) is the prober, not the network.
        let late = [r(1.000, 1), r(1.010, 2), r(1.400, 42), r(1.410, 43), r(1.420, 44), r(1.470, 45)];
        assert_eq!(outage_over_lost_us(&late, 1_005_000, 1_500_000, false), Some(390_000));
        assert_eq!(longest_outage_us(&late, 1_005_000, 1_470_000), Some(390_000));
        assert_eq!(outage_over_lost_us(&late[2..], 1_405_000, 1_500_000, false), Some(0));
        assert_eq!(outage_over_lost_us(&late[..2], 1_005_000, 2_000_000, true), Some(990_000));
        assert_eq!(outage_over_lost_us(&late[2..], 1_005_000, 2_000_000, false), None);
        assert_eq!(lost_probes(&[]), 0);
        assert_eq!(median(&[5, 1, 3]), Some(3));
        assert_eq!(median(&[4, 1, 3, 2]), Some(2));
        assert_eq!(median::<i64>(&[]), None);
    }

    #[test]
    fn seeded_generator_reproduces() {
        let mut a = SplitMix64::new(42);
        let mut b = SplitMix64::new(42);
        let va: Vec<u64> = (0..5).map(|_| a.next_u64()).collect();
        let vb: Vec<u64> = (0..5).map(|_| b.next_u64()).collect();
        assert_eq!(va, vb);
        assert_ne!(va[0], va[1]);
        let d = Duration::from_millis(10);
        assert!((0..1000).all(|_| a.below(d) < d));
        assert_eq!(a.below(Duration::ZERO), Duration::ZERO);
    }
}
