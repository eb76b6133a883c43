//! `vrrp-agent status`: each instance's state and counters, and each tracker's state, read
//! from the pinned maps (the same ones an on-call engineer dumps with bpftool), so it works
//! without talking to the agent and shows the last known state even if the agent was killed
//! or is hung. [`publish`] builds the tracker and priority records the agent writes.
//!
//! [`collect`] reads the maps into one snapshot, [`StatusView`]; everything that shows the
//! agent's state renders that snapshot: the table ([`render`]), `--json` (serde), the
//! Prometheus metrics (`crate::metrics`) and keepalived's dump files ([`keepalived`]).
pub mod keepalived;
pub mod publish;
#[cfg(test)]
mod tests;

use std::{
    collections::BTreeMap,
    fmt::Write as _,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    path::Path,
};

use anyhow::Context as _;
use aya::maps::{Array, HashMap, MapData, PerCpuArray, PerCpuHashMap};
use serde::Serialize;
use vrrp_common::{
    AF_INET6, AddrList, AddrListV6, AdvertRecord, AgentLease, DropReason, GlobalStats, InstancePriority, InstanceStats, InstanceStatus,
    PriorityReason, TrackerKey, TrackerStatus, VridAddr, VridAddrKey, VridAddrKeyV6, VridConfig, VridDrops, VridKey, VridPeer, VridStats,
    addr_kind, names, priority_why, script_outcome, state, tracker_fault, tracker_flags, tracker_state,
};

use crate::core::priority::{FaultSource, FaultWhy};
use crate::core::tracker::TrackKind;
use crate::dataplane::{open_pinned, sum_drops, sum_global, sum_vrid, tracker_kind_from_code};

#[derive(Debug, Clone, Serialize)]
pub struct InstanceView {
    pub name: String,
    pub ifindex: u32,
    pub interface: Option<String>,
    pub vrid: u16,
    pub state: &'static str,
    pub priority: u32,
    pub base_priority: u32,
    /// The master's address, of the instance's family.
    pub master: Option<IpAddr>,
    pub adver_int_cs: u32,
    pub master_down_interval_us: u32,
    pub transitions: u32,
    pub agent_pid: u32,
    pub agent_running: bool,
    pub last_advert: Option<AdvertView>,
    pub adverts_rx: u64,
    pub adverts_accepted: u64,
    pub adverts_dropped: u64,
    pub v3_checksum_pseudo: u64,
    pub v3_checksum_plain: u64,
    pub agent_wakeups: u64,
    pub arp_replies: u64,
    /// ARP frames from another MAC claiming one of this instance's VIPs.
    pub vip_conflicts: u64,
    /// How the trackers make `priority` out of `base_priority` (absent when the agent did
    /// not publish it).
    pub tracking: Option<TrackingView>,
    /// VRRP version (2 or 3; `None` when the instance's VRID_CONFIG entry is gone).
    pub version: Option<u32>,
    /// `virtual_ipaddress`, in advert order, and `virtual_ipaddress_excluded`.
    pub vips: Vec<IpAddr>,
    pub excluded_vips: Vec<IpAddr>,
    /// A unicast instance (`unicast_peer`s).
    pub unicast: bool,
    /// The peer allow-list (`allowed_peer`; the `unicast_peer`s with `check_unicast_src`): the
    /// only sources whose adverts XDP accepts, in list order; `None` when the instance has
    /// none (any source is heard).
    pub allowed_peers: Option<Vec<IpAddr>>,
    /// How long ago the last transition was, in ms (`None`: none yet).
    pub since_transition_ms: Option<u64>,
    /// Adverts whose interval differed from ours (v3: learned).
    pub interval_mismatch: u64,
    /// Dropped adverts of this instance by reason: every `DropReason`'s counter name.
    pub drops: BTreeMap<&'static str, u64>,
    /// What the agent sent and decided (`INSTANCE_STATS`; zeros from an agent that does not
    /// publish it).
    pub adverts_tx: u64,
    pub priority_zero_tx: u64,
    pub priority_zero_rx: u64,
    pub garp_sent: u64,
    pub na_sent: u64,
    pub become_master: u64,
    pub release_master: u64,
    /// How long ago the agent last sent an advert, in ms.
    pub last_advert_tx_ms: Option<u64>,
}

/// The agent's liveness lease (`AGENT_LEASE`), which fences the datapath when it goes stale.
#[derive(Debug, Clone, Serialize)]
pub struct LeaseView {
    /// "none" (no agent took it yet), "fresh" or "stale" (the datapath is fenced).
    pub state: &'static str,
    /// Time since the last renewal, in ms (`None` with no lease).
    pub age_ms: Option<u64>,
    pub fence_after_ms: u64,
    pub agent_pid: u32,
}

/// An instance's `INSTANCE_PRIORITY` record.
#[derive(Debug, Clone, Serialize)]
pub struct TrackingView {
    pub base_priority: u32,
    pub effective_priority: u32,
    /// base + every tracker's weight, before clamping to 1..=254.
    pub total_priority: i64,
    /// "CLEAR", "INIT_HOLD" (a weight-0 tracker has no result yet) or "FAULT".
    pub tracker_fault: &'static str,
    pub trackers_in_fault: u32,
    pub trackers_waiting: u32,
    pub weighted_trackers: u32,
    /// Faults, then holds, then weights.
    pub reasons: Vec<ReasonView>,
    /// Reasons that did not fit the map record.
    pub reasons_omitted: u32,
    pub sync_group: Option<String>,
}

/// One tracker's part in an instance's priority or fault.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ReasonView {
    pub kind: &'static str,
    pub name: String,
    /// "weight", "waiting" or "fault".
    pub effect: &'static str,
    /// What a weighted tracker adds; a faulting file's value; 0 otherwise.
    pub delta: i64,
    /// In words, as the agent logs it.
    pub text: String,
}

/// One `TRACKER_STATUS` entry.
#[derive(Debug, Clone, Serialize)]
pub struct TrackerView {
    pub name: String,
    /// "interface", "script", "file", "process" (or "unknown" from a newer agent).
    pub kind: &'static str,
    /// "INIT", "UP", "DOWN" or, for files, "VALUE".
    pub state: &'static str,
    /// File: its value; process: how many match; script: its result counter; interface: 1/0.
    pub value: i64,
    /// How long ago the state last changed (or tracking began), in ms.
    pub since_ms: Option<u64>,
    /// How long ago the last reading came in, in ms (`None`: none yet).
    pub last_reading_ms: Option<u64>,
    pub transitions: u64,
    pub runs: u64,
    pub failures: u64,
    pub timeouts: u64,
    pub not_run: u64,
    /// Script: how its last run ended ("exit 0", "exit 2", "killed by a signal", "timed
    /// out", "not run").
    pub last_result: Option<String>,
    /// A script a reload added or changed, with no result since.
    pub reloaded: bool,
    /// A process quorum change waiting for its delay.
    pub pending: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rise: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fall: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quorum: Option<u32>,
    /// `None` with a quorum: no upper bound.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quorum_max: Option<u32>,
    pub agent_pid: u32,
    pub agent_running: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct AdvertView {
    pub src: IpAddr,
    pub priority: u32,
    pub adver_int_cs: u32,
    /// How many addresses the advert listed.
    pub addresses: u32,
    pub age_ms: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct StatusView {
    pub instances: Vec<InstanceView>,
    pub trackers: Vec<TrackerView>,
    pub counters: BTreeMap<&'static str, u64>,
    /// `None`: no `AGENT_LEASE` pin (an agent without fencing).
    pub lease: Option<LeaseView>,
    /// Whether `vrrp-agent trace on` is in force (`None`: no `TRACE_CONTROL` pin).
    pub trace: Option<bool>,
}

/// Every drop reason's counter name with its count in `drops` (indexed by `DropReason`).
pub fn drops_by_reason(drops: &VridDrops) -> BTreeMap<&'static str, u64> {
    DropReason::ALL.iter().map(|r| (r.counter_name(), drops.count(*r))).collect()
}

/// The lease as `status` shows it; ages relative to `now` (CLOCK_MONOTONIC ns).
pub fn lease_view(l: &AgentLease, now: u64) -> LeaseView {
    let age = (l.renewed_ns != 0).then(|| now.saturating_sub(l.renewed_ns));
    LeaseView {
        state: match age {
            None => "none",
            Some(a) if a > l.fence_after_ns => "stale",
            Some(_) => "fresh",
        },
        age_ms: age.map(|a| a / 1_000_000),
        fence_after_ms: l.fence_after_ns / 1_000_000,
        agent_pid: l.pid,
    }
}

pub fn state_name(s: u32) -> &'static str {
    match s {
        state::INIT => "INIT",
        state::BACKUP => "BACKUP",
        state::MASTER => "MASTER",
        state::FAULT => "FAULT",
        _ => "UNKNOWN",
    }
}

fn pid_alive(pid: u32) -> bool {
    // No signal: only whether the process exists (and may be signalled).
    pid != 0 && i32::try_from(pid).is_ok_and(|p| nix::sys::signal::kill(nix::unistd::Pid::from_raw(p), None).is_ok())
}

fn kind_name(kind: Option<TrackKind>) -> &'static str {
    match kind {
        Some(TrackKind::Interface) => "interface",
        Some(TrackKind::Script) => "script",
        Some(TrackKind::File) => "file",
        Some(TrackKind::Process) => "process",
        None => "unknown",
    }
}

fn tracker_state_name(s: u32) -> &'static str {
    match s {
        tracker_state::INIT => "INIT",
        tracker_state::UP => "UP",
        tracker_state::DOWN => "DOWN",
        tracker_state::VALUE => "VALUE",
        _ => "UNKNOWN",
    }
}

/// A `TRACKER_STATUS` entry as `status` shows it; ages are relative to `now` (CLOCK_MONOTONIC ns).
pub fn tracker_view(key: &TrackerKey, st: &TrackerStatus, now: u64, agent_running: bool) -> TrackerView {
    let kind = tracker_kind_from_code(key.kind);
    let ago = |ns: u64| (ns != 0).then(|| now.saturating_sub(ns) / 1_000_000);
    let last_result = match st.last_outcome {
        script_outcome::SUCCESS | script_outcome::FAILED => Some(format!("exit {}", st.last_exit)),
        script_outcome::SIGNALLED => Some("killed by a signal".to_string()),
        script_outcome::TIMED_OUT => Some("timed out".to_string()),
        script_outcome::NOT_RUN => Some("not run".to_string()),
        _ => None,
    };
    let script = kind == Some(TrackKind::Script);
    let process = kind == Some(TrackKind::Process);
    TrackerView {
        name: key.name().to_string(),
        kind: kind_name(kind),
        state: tracker_state_name(st.state),
        value: st.value,
        since_ms: ago(st.since_ns),
        last_reading_ms: ago(st.updated_ns),
        transitions: st.transitions,
        runs: st.runs,
        failures: st.failures,
        timeouts: st.timeouts,
        not_run: st.not_run,
        last_result,
        reloaded: st.flags & tracker_flags::RELOADED != 0,
        pending: st.flags & tracker_flags::PENDING != 0,
        rise: script.then_some(st.rise),
        fall: script.then_some(st.fall),
        quorum: process.then_some(st.quorum),
        quorum_max: (process && st.quorum_max != u32::MAX).then_some(st.quorum_max),
        agent_pid: st.pid,
        agent_running,
    }
}

fn reason_view(r: &PriorityReason) -> ReasonView {
    let kind = tracker_kind_from_code(r.kind);
    let name = r.name().to_string();
    let fault = |why| match kind {
        Some(kind) => FaultSource { kind, name: name.clone(), why }.to_string(),
        None => format!("tracker {name} faults it"),
    };
    let (effect, text) = match r.why {
        priority_why::WEIGHT => ("weight", format!("{} {name} {:+}", kind_name(kind), r.delta)),
        priority_why::WAITING => ("waiting", format!("{} {name} has no result yet", kind_name(kind))),
        priority_why::FAULT_DOWN => ("fault", fault(FaultWhy::Down)),
        priority_why::FAULT_UP_REVERSED => ("fault", fault(FaultWhy::UpReversed)),
        priority_why::FAULT_FILE => ("fault", fault(FaultWhy::FileStatus(r.delta))),
        _ => ("unknown", format!("{} {name}", kind_name(kind))),
    };
    ReasonView { kind: kind_name(kind), name, effect, delta: r.delta, text }
}

/// An `INSTANCE_PRIORITY` record as `status` shows it.
pub fn tracking_view(p: &InstancePriority) -> TrackingView {
    let all = u64::from(p.faults) + u64::from(p.waiting) + u64::from(p.contributions);
    let shown = p.reasons().len() as u64;
    TrackingView {
        base_priority: p.base_priority,
        effective_priority: p.effective_priority,
        total_priority: p.total_priority,
        tracker_fault: match p.tracker_fault {
            tracker_fault::CLEAR => "CLEAR",
            tracker_fault::INIT_HOLD => "INIT_HOLD",
            tracker_fault::FAULT => "FAULT",
            _ => "UNKNOWN",
        },
        trackers_in_fault: p.faults,
        trackers_waiting: p.waiting,
        weighted_trackers: p.contributions,
        reasons: p.reasons().iter().map(reason_view).collect(),
        reasons_omitted: u32::try_from(all.saturating_sub(shown)).unwrap_or(u32::MAX),
        sync_group: Some(p.sync_group().to_string()).filter(|g| !g.is_empty()),
    }
}

/// Opens a pinned map that an older agent may not have pinned: `None` if there is no pin.
fn open_optional(dir: &Path, name: &str) -> anyhow::Result<Option<aya::maps::Map>> {
    if !dir.join(name).exists() {
        return Ok(None);
    }
    let map = open_pinned(dir, name).with_context(|| format!("reading the pinned map {}", dir.join(name).display()))?;
    Ok(Some(map))
}

pub fn collect(dir: &Path) -> anyhow::Result<StatusView> {
    let hint = || format!("reading pinned maps in {} (is a vrrp-agent running with --bpffs {}?)", dir.display(), dir.display());
    let status: HashMap<MapData, VridKey, InstanceStatus> =
        HashMap::try_from(open_pinned(dir, names::INSTANCE_STATUS).with_context(hint)?)?;
    let stats: PerCpuHashMap<MapData, VridKey, VridStats> =
        PerCpuHashMap::try_from(open_pinned(dir, names::VRID_STATS).with_context(hint)?)?;
    let records: HashMap<MapData, VridKey, AdvertRecord> =
        HashMap::try_from(open_pinned(dir, names::ADVERT_RECORD).with_context(hint)?)?;
    let global: PerCpuArray<MapData, GlobalStats> =
        PerCpuArray::try_from(open_pinned(dir, names::GLOBAL_STATS).with_context(hint)?)?;
    let priorities: Option<HashMap<MapData, VridKey, InstancePriority>> =
        open_optional(dir, names::INSTANCE_PRIORITY)?.map(HashMap::try_from).transpose()?;
    let trackers: Option<HashMap<MapData, TrackerKey, TrackerStatus>> =
        open_optional(dir, names::TRACKER_STATUS)?.map(HashMap::try_from).transpose()?;
    // Maps an older agent may not pin.
    let agent_stats: Option<HashMap<MapData, VridKey, InstanceStats>> =
        open_optional(dir, names::INSTANCE_STATS)?.map(HashMap::try_from).transpose()?;
    let drops: Option<PerCpuHashMap<MapData, VridKey, VridDrops>> =
        open_optional(dir, names::VRID_DROPS)?.map(PerCpuHashMap::try_from).transpose()?;
    let configs: Option<HashMap<MapData, VridKey, VridConfig>> =
        open_optional(dir, names::VRID_CONFIG)?.map(HashMap::try_from).transpose()?;
    let addr_lists: Option<HashMap<MapData, VridKey, AddrList>> =
        open_optional(dir, names::VRID_ADDR_LIST)?.map(HashMap::try_from).transpose()?;
    let addrs: Option<HashMap<MapData, VridAddrKey, VridAddr>> =
        open_optional(dir, names::VRID_ADDRS)?.map(HashMap::try_from).transpose()?;
    let addr_lists_v6: Option<HashMap<MapData, VridKey, AddrListV6>> =
        open_optional(dir, names::VRID_ADDR_LIST_V6)?.map(HashMap::try_from).transpose()?;
    let addrs_v6: Option<HashMap<MapData, VridAddrKeyV6, VridAddr>> =
        open_optional(dir, names::VRID_ADDRS_V6)?.map(HashMap::try_from).transpose()?;
    let peers: Option<HashMap<MapData, VridAddrKey, VridPeer>> =
        open_optional(dir, names::VRID_PEERS)?.map(HashMap::try_from).transpose()?;
    let peers_v6: Option<HashMap<MapData, VridAddrKeyV6, VridPeer>> =
        open_optional(dir, names::VRID_PEERS_V6)?.map(HashMap::try_from).transpose()?;
    let lease: Option<Array<MapData, AgentLease>> =
        open_optional(dir, names::AGENT_LEASE)?.map(Array::try_from).transpose()?;
    let trace: Option<Array<MapData, u32>> = open_optional(dir, names::TRACE_CONTROL)?.map(Array::try_from).transpose()?;
    // (instance key, position in its list, address) of every allow-listed peer.
    let mut allowed: Vec<(VridKey, u32, IpAddr)> = peers
        .iter()
        .flat_map(|m| m.iter())
        .filter_map(Result::ok)
        .map(|(k, p)| (VridKey { ifindex: k.ifindex, vrid: k.vrid, family: k.family }, p.index, IpAddr::from(Ipv4Addr::from(k.addr_v4))))
        .collect();
    allowed.extend(
        peers_v6
            .iter()
            .flat_map(|m| m.iter())
            .filter_map(Result::ok)
            .map(|(k, p)| (VridKey { ifindex: k.ifindex, vrid: k.vrid, family: k.family }, p.index, IpAddr::from(Ipv6Addr::from(k.addr_v6)))),
    );
    allowed.sort_by_key(|(_, i, _)| *i);
    // (instance key, address) of every excluded VIP, IPv4 and IPv6.
    let mut excluded: Vec<(VridKey, IpAddr)> = addrs
        .iter()
        .flat_map(|m| m.iter())
        .filter_map(Result::ok)
        .filter(|(_, a)| a.kind == addr_kind::EXCLUDED)
        .map(|(k, _)| (VridKey { ifindex: k.ifindex, vrid: k.vrid, family: k.family }, IpAddr::from(Ipv4Addr::from(k.addr_v4))))
        .collect();
    excluded.extend(
        addrs_v6
            .iter()
            .flat_map(|m| m.iter())
            .filter_map(Result::ok)
            .filter(|(_, a)| a.kind == addr_kind::EXCLUDED)
            .map(|(k, _)| (VridKey { ifindex: k.ifindex, vrid: k.vrid, family: k.family }, IpAddr::from(Ipv6Addr::from(k.addr_v6)))),
    );
    let now = crate::clock::now_ns();
    let mut instances = Vec::new();
    for item in status.iter() {
        let (key, st) = item?;
        let s = stats.get(&key, 0).map(|v| sum_vrid(&v)).unwrap_or_default();
        let last_advert = records.get(&key, 0).ok().filter(|r| r.ts_ns != 0).map(|r| AdvertView {
            src: r.src(key.family),
            priority: r.priority,
            adver_int_cs: r.adver_int_cs,
            addresses: r.count_addrs,
            age_ms: now.saturating_sub(r.ts_ns) / 1_000_000,
        });
        let cfg = configs.as_ref().and_then(|m| m.get(&key, 0).ok());
        let sent = agent_stats.as_ref().and_then(|m| m.get(&key, 0).ok()).unwrap_or_default();
        let dropped = drops.as_ref().and_then(|m| m.get(&key, 0).ok()).map(|v| sum_drops(&v)).unwrap_or_default();
        let vips: Vec<IpAddr> = if key.family == AF_INET6 {
            addr_lists_v6
                .as_ref()
                .and_then(|m| m.get(&key, 0).ok())
                .map(|l| l.addrs_v6.iter().take(l.count as usize).map(|a| IpAddr::from(Ipv6Addr::from(*a))).collect())
                .unwrap_or_default()
        } else {
            addr_lists
                .as_ref()
                .and_then(|m| m.get(&key, 0).ok())
                .map(|l| l.addrs_v4.iter().take(l.count as usize).map(|a| IpAddr::from(Ipv4Addr::from(*a))).collect())
                .unwrap_or_default()
        };
        let mut excluded_vips: Vec<IpAddr> = excluded.iter().filter(|(k, _)| *k == key).map(|(_, a)| *a).collect();
        excluded_vips.sort();
        let ago = |ns: u64| (ns != 0).then(|| now.saturating_sub(ns) / 1_000_000);
        instances.push(InstanceView {
            version: cfg.map(|c| c.version),
            vips,
            excluded_vips,
            unicast: cfg.is_some_and(|c| c.flags & vrrp_common::flags::UNICAST != 0),
            allowed_peers: cfg
                .filter(|c| c.flags & vrrp_common::flags::PEER_ALLOW_LIST != 0)
                .map(|_| allowed.iter().filter(|(k, _, _)| *k == key).map(|(_, _, a)| *a).collect()),
            since_transition_ms: ago(st.last_transition_ns),
            interval_mismatch: s.interval_mismatch,
            drops: drops_by_reason(&dropped),
            adverts_tx: sent.adverts_sent,
            priority_zero_tx: sent.priority_zero_sent,
            priority_zero_rx: sent.priority_zero_rx,
            garp_sent: sent.garp_sent,
            na_sent: sent.na_sent,
            become_master: sent.become_master,
            release_master: sent.release_master,
            last_advert_tx_ms: ago(sent.last_advert_sent_ns),
            name: st.name().to_string(),
            ifindex: key.ifindex,
            interface: Some(st.ifname().to_string()).filter(|n| !n.is_empty()),
            vrid: key.vrid,
            state: state_name(st.state),
            priority: st.priority,
            base_priority: st.base_priority,
            master: if key.family == AF_INET6 {
                (st.master_v6 != [0; 16]).then(|| IpAddr::from(Ipv6Addr::from(st.master_v6)))
            } else {
                (st.master_v4 != [0; 4]).then(|| IpAddr::from(Ipv4Addr::from(st.master_v4)))
            },
            adver_int_cs: st.adver_int_cs,
            master_down_interval_us: st.master_down_interval_us,
            transitions: st.transitions,
            agent_pid: st.pid,
            agent_running: pid_alive(st.pid),
            last_advert,
            adverts_rx: s.rx,
            adverts_accepted: s.accepted,
            adverts_dropped: s.dropped,
            v3_checksum_pseudo: s.v3_csum_pseudo,
            v3_checksum_plain: s.v3_csum_plain,
            agent_wakeups: s.events,
            arp_replies: s.arp_replies,
            vip_conflicts: s.vip_conflict,
            tracking: priorities.as_ref().and_then(|m| m.get(&key, 0).ok()).map(|p| tracking_view(&p)),
        });
    }
    instances.sort_by(|a, b| a.name.cmp(&b.name));
    let mut tracker_views = Vec::new();
    let mut alive = std::collections::BTreeMap::new();
    // An entry removed between listing and reading it (a reload) is skipped, not an error.
    for (key, st) in trackers.iter().flat_map(|m| m.iter()).filter_map(Result::ok) {
        let running = *alive.entry(st.pid).or_insert_with(|| pid_alive(st.pid));
        tracker_views.push(tracker_view(&key, &st, now, running));
    }
    tracker_views.sort_by(|a, b| (a.kind, &a.name).cmp(&(b.kind, &b.name)));
    let g = global.get(&0, 0).map(|v| sum_global(&v)).unwrap_or_default();
    // Every GlobalStats field is a u64 counter, named in COUNTER_NAMES (one list, in
    // vrrp-common, for the XDP program, the slow path and this view).
    let counters = GlobalStats::COUNTER_NAMES
        .iter()
        .copied()
        .zip(bytemuck::cast_slice::<GlobalStats, u64>(std::slice::from_ref(&g)).iter().copied())
    .collect();
    let lease = lease.as_ref().map(|m| m.get(&0, 0).map(|l| lease_view(&l, now))).transpose()?;
    let trace = trace.as_ref().map(|m| m.get(&0, 0).map(|on| on != 0)).transpose()?;
    Ok(StatusView { instances, trackers: tracker_views, counters, lease, trace })
}

/// "12.3 s", "4 min 5 s", "2 h 3 min", "3 d 4 h".
pub fn fmt_age(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        0..60 => format!("{}.{} s", s, (ms % 1000) / 100),
        60..3600 => format!("{} min {} s", s / 60, s % 60),
        3600..86400 => format!("{} h {} min", s / 3600, (s % 3600) / 60),
        _ => format!("{} d {} h", s / 86400, (s % 86400) / 3600),
    }
}

/// A tracker's state in words, by kind.
fn describe_state(t: &TrackerView) -> String {
    let words = match (t.kind, t.state) {
        (_, "INIT") => "init (no result yet)",
        ("script", "UP") => "up (succeeding)",
        ("script", "DOWN") => "down (failing)",
        ("process", "UP") => "quorum held",
        ("process", "DOWN") => "quorum lost",
        ("file", "VALUE") => "read",
        (_, "UP") => "up",
        (_, "DOWN") => "down",
        (_, other) => other,
    };
    let mut s = words.to_string();
    if t.reloaded {
        s.push_str(", reloaded");
    }
    if t.pending {
        s.push_str(", change pending");
    }
    s
}

/// A tracker's value in words, by kind.
fn describe_value(t: &TrackerView) -> String {
    match t.kind {
        "script" => format!("result {} (rise {}, fall {})", t.value, t.rise.unwrap_or(0), t.fall.unwrap_or(0)),
        "process" => {
            let max = t.quorum_max.map(|m| m.to_string()).unwrap_or_default();
            format!("{} running (quorum {}..{max})", t.value, t.quorum.unwrap_or(0))
        }
        "file" if t.state == "INIT" => "-".to_string(),
        "file" => t.value.to_string(),
        _ => "-".to_string(),
    }
}

/// Left-aligned columns, two spaces apart, each row indented by `indent`.
fn table(rows: &[Vec<String>], indent: &str) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> =
        (0..cols).map(|c| rows.iter().filter_map(|r| r.get(c)).map(|x| x.chars().count()).max().unwrap_or(0)).collect();
    let mut out = String::new();
    for row in rows {
        let mut line = indent.to_string();
        for (c, cell) in row.iter().enumerate() {
            if c + 1 < row.len() {
                let _ = write!(line, "{cell:<w$}  ", w = widths[c]);
            } else {
                line.push_str(cell);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// The human-readable `status` output.
pub fn render(view: &StatusView) -> String {
    let mut out = String::new();
    if view.instances.is_empty() {
        out.push_str("no instances\n");
    }
    for i in &view.instances {
        let iface = i.interface.clone().unwrap_or_else(|| format!("ifindex {}", i.ifindex));
        let _ = writeln!(
            out,
            "{} {} vrid {}: {} priority {} -> {}, master {}, master down interval {:.3} ms{}",
            i.name,
            iface,
            i.vrid,
            i.state,
            i.base_priority,
            i.priority,
            i.master.map(|a| a.to_string()).unwrap_or_else(|| "unknown".into()),
            f64::from(i.master_down_interval_us) / 1000.0,
            if i.agent_running { String::new() } else { format!(" [agent pid {} not running: state is stale]", i.agent_pid) },
        );
        if let Some(t) = &i.tracking {
            let mut parts: Vec<String> = t.reasons.iter().map(|r| r.text.clone()).collect();
            if t.reasons_omitted > 0 {
                parts.push(format!("{} more", t.reasons_omitted));
            }
            let mut line = format!("    trackers: {}", if parts.is_empty() { "none".to_string() } else { parts.join(", ") });
            if t.total_priority != i64::from(t.effective_priority) {
                let _ = write!(line, "; total {} (clamped to {})", t.total_priority, t.effective_priority);
            }
            match t.tracker_fault {
                "FAULT" => line.push_str("; tracker FAULT"),
                "INIT_HOLD" => line.push_str("; held until every weight-0 tracker has a result"),
                _ => {}
            }
            if let Some(g) = &t.sync_group {
                let _ = write!(line, "; sync group {g}");
            }
            out.push_str(&line);
            out.push('\n');
        }
        let _ = writeln!(
            out,
            "    adverts: {} received, {} accepted, {} dropped, {} woke the agent; ARP replies {}, VIP conflicts {}",
            i.adverts_rx, i.adverts_accepted, i.adverts_dropped, i.agent_wakeups, i.arp_replies, i.vip_conflicts
        );
        if let Some(a) = &i.last_advert {
            let _ = writeln!(out, "    last advert: from {} priority {} interval {} cs, {} ms ago", a.src, a.priority, a.adver_int_cs, a.age_ms);
        }
        if let Some(peers) = &i.allowed_peers {
            let list: Vec<String> = peers.iter().map(ToString::to_string).collect();
            let _ = writeln!(out, "    peer allow-list: {} (adverts from anyone else are dropped: drop_unknown_peer {})", list.join(" "), i.drops.get("drop_unknown_peer").copied().unwrap_or(0));
        }
        let _ = writeln!(
            out,
            "    sent: {} adverts ({} priority 0), {} gratuitous ARP, {} NA; priority 0 received {}; became master {}, released {}",
            i.adverts_tx, i.priority_zero_tx, i.garp_sent, i.na_sent, i.priority_zero_rx, i.become_master, i.release_master
        );
        let since = i.since_transition_ms.map(|ms| format!("{} ago", fmt_age(ms))).unwrap_or_else(|| "none yet".into());
        let _ = writeln!(out, "    advert interval {} cs; transitions {}, last {since}", i.adver_int_cs, i.transitions);
        let dropped: Vec<String> = i.drops.iter().filter(|(_, v)| **v != 0).map(|(k, v)| format!("{k}={v}")).collect();
        if !dropped.is_empty() {
            let _ = writeln!(out, "    drops: {}", dropped.join(" "));
        }
    }
    match &view.lease {
        None => out.push_str("lease: no AGENT_LEASE pin (this agent does not fence the datapath)\n"),
        Some(l) if l.state == "none" => out.push_str("lease: none taken yet\n"),
        Some(l) => {
            let age = l.age_ms.map(fmt_age).unwrap_or_default();
            let _ = writeln!(out, "lease: {} ({age} old, stale after {} ms, agent pid {})", l.state, l.fence_after_ms, l.agent_pid);
        }
    }
    if view.trace == Some(true) {
        out.push_str("trace: on (the XDP program reports every VRRP and ARP packet; `vrrp-agent trace off` stops it)\n");
    }
    if !view.trackers.is_empty() {
        out.push_str("trackers:\n");
        let mut rows = vec![
            ["NAME", "KIND", "STATE", "VALUE", "SINCE", "RUNS", "FAILED", "TIMEOUTS", "LAST"].map(String::from).to_vec(),
        ];
        for t in &view.trackers {
            let stale = if t.agent_running { String::new() } else { format!(" [agent pid {} not running]", t.agent_pid) };
            rows.push(vec![
                t.name.clone(),
                t.kind.to_string(),
                describe_state(t),
                describe_value(t),
                t.since_ms.map(|ms| format!("{} ago", fmt_age(ms))).unwrap_or_else(|| "-".into()),
                t.runs.to_string(),
                t.failures.to_string(),
                t.timeouts.to_string(),
                t.last_result.clone().unwrap_or_else(|| "-".into()) + &stale,
            ]);
        }
        out.push_str(&table(&rows, "  "));
    }
    let nonzero: Vec<String> = view.counters.iter().filter(|(_, v)| **v != 0).map(|(k, v)| format!("{k}={v}")).collect();
    let _ = writeln!(out, "counters: {}", if nonzero.is_empty() { "all zero".to_string() } else { nonzero.join(" ") });
    out
}

pub fn print(view: &StatusView) {
    print!("{}", render(view));
}
