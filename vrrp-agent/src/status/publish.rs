//! What the agent publishes for `vrrp-agent status` about health tracking: one
//! `TrackerStatus` per tracked object (`TRACKER_STATUS`) and one `InstancePriority` per
//! instance (`INSTANCE_PRIORITY`). The states come from the core (`Trackers`, `Verdict`);
//! this module only adds the counters the core does not keep (runs, failures, timeouts, when
//! a state last changed) and encodes everything for the maps. The driver writes the results
//! with `Dataplane::write_tracker` / `write_priority`.
use std::collections::BTreeMap;

use vrrp_common::{
    InstancePriority, PriorityReason, TrackerStatus, priority_why, script_outcome, tracker_fault, tracker_flags,
    tracker_state,
};

use crate::config::Config;
use crate::core::fsm::{Nanos, TrackerFault};
use crate::core::priority::{FaultWhy, Verdict};
use crate::core::tracker::{ScriptStatus, TrackKind, Trackers, tracked_interfaces};
use crate::dataplane::tracker_kind_code;
use crate::health::{HealthEvent, ScriptOutcome};

/// The tracker a reading is about.
pub fn tracker_of(ev: &HealthEvent) -> (TrackKind, &str) {
    match ev {
        HealthEvent::Script { name, .. } => (TrackKind::Script, name),
        HealthEvent::File { name, .. } => (TrackKind::File, name),
        HealthEvent::Process { name, .. } => (TrackKind::Process, name),
    }
}

/// Every tracker's published record, kept between updates for its counters.
///
/// The driver, for each reading: [`TrackerLedger::record_health`] (or
/// [`TrackerLedger::record_link`]), then `Trackers::handle_health` (`handle_link`), then
/// [`TrackerLedger::update`] for that tracker and `Dataplane::write_tracker` with the result;
/// the same `update` after `Trackers::handle_timeout` for the trackers `poll_change` names.
/// At startup and after a reload: [`TrackerLedger::all`] and write each, and
/// `Dataplane::forget_tracker` for what [`TrackerLedger::reload`] returns.
#[derive(Debug, Clone, Default)]
pub struct TrackerLedger {
    entries: BTreeMap<(TrackKind, String), TrackerStatus>,
}

impl TrackerLedger {
    /// Every tracker `cfg` defines (and every tracked interface), in INIT since `now`.
    pub fn new(cfg: &Config, now: Nanos) -> Self {
        let mut ledger = TrackerLedger::default();
        ledger.reload(cfg, now);
        ledger
    }

    /// The trackers of a new configuration: the ones kept keep their counters (their state
    /// is re-read from `Trackers` by the next `update`/`all`), new ones start in INIT since
    /// `now`. Returns the trackers that are gone, for `Dataplane::forget_tracker`.
    pub fn reload(&mut self, cfg: &Config, now: Nanos) -> Vec<(TrackKind, String)> {
        let fresh = |kind: TrackKind| TrackerStatus {
            kind: tracker_kind_code(kind),
            state: tracker_state::INIT,
            since_ns: now,
            pid: std::process::id(),
            quorum_max: u32::MAX,
            ..TrackerStatus::default()
        };
        let mut next = BTreeMap::new();
        let mut take = |kind: TrackKind, name: &str| -> TrackerStatus {
            self.entries.remove(&(kind, name.to_string())).unwrap_or_else(|| fresh(kind))
        };
        for s in &cfg.scripts {
            let mut st = take(TrackKind::Script, &s.name);
            // As the core counts them (0 is taken as 1).
            (st.rise, st.fall) = (s.rise.max(1), s.fall.max(1));
            next.insert((TrackKind::Script, s.name.clone()), st);
        }
        for f in &cfg.track_files {
            next.insert((TrackKind::File, f.name.clone()), take(TrackKind::File, &f.name));
        }
        for p in &cfg.track_processes {
            let mut st = take(TrackKind::Process, &p.name);
            (st.quorum, st.quorum_max) = (p.quorum, p.quorum_max.unwrap_or(u32::MAX));
            next.insert((TrackKind::Process, p.name.clone()), st);
        }
        for name in tracked_interfaces(cfg) {
            let st = take(TrackKind::Interface, &name);
            next.insert((TrackKind::Interface, name), st);
        }
        std::mem::replace(&mut self.entries, next).into_keys().collect()
    }

    /// Counts a reading (before or after the core applies it: the counters do not depend on
    /// the state). Readings for trackers the configuration does not have are ignored (the
    /// core counts those as dropped).
    pub fn record_health(&mut self, now: Nanos, ev: &HealthEvent) {
        let (kind, name) = tracker_of(ev);
        let Some(st) = self.entries.get_mut(&(kind, name.to_string())) else { return };
        st.runs += 1;
        st.updated_ns = now;
        if let HealthEvent::Script { outcome, .. } = ev {
            let (outcome, exit) = match *outcome {
                ScriptOutcome::Success => (script_outcome::SUCCESS, 0),
                ScriptOutcome::Failed(Some(code)) => {
                    st.failures += 1;
                    (script_outcome::FAILED, code)
                }
                ScriptOutcome::Failed(None) => {
                    st.failures += 1;
                    (script_outcome::SIGNALLED, st.last_exit)
                }
                ScriptOutcome::TimedOut => {
                    st.timeouts += 1;
                    (script_outcome::TIMED_OUT, st.last_exit)
                }
                ScriptOutcome::NotRun => {
                    st.not_run += 1;
                    (script_outcome::NOT_RUN, st.last_exit)
                }
            };
            st.last_outcome = outcome;
            st.last_exit = exit;
        }
    }

    /// Counts a link report for a tracked interface (others are ignored).
    pub fn record_link(&mut self, now: Nanos, ifname: &str) {
        if let Some(st) = self.entries.get_mut(&(TrackKind::Interface, ifname.to_string())) {
            st.runs += 1;
            st.updated_ns = now;
        }
    }

    /// The record of one tracker with its state as `trackers` has it now; a change of state
    /// (or of a file's value) since the last update counts as a transition at `now`.
    /// `None` for a tracker the configuration does not have.
    pub fn update(&mut self, now: Nanos, kind: TrackKind, name: &str, trackers: &Trackers) -> Option<TrackerStatus> {
        let st = self.entries.get_mut(&(kind, name.to_string()))?;
        let (state, value, flags) = current(kind, name, trackers)?;
        let value_counts = kind == TrackKind::File;
        if state != st.state || (value_counts && value != st.value) {
            st.transitions += 1;
            st.since_ns = now;
        }
        (st.state, st.value, st.flags) = (state, value, flags);
        Some(*st)
    }

    /// [`TrackerLedger::update`] for every tracker.
    pub fn all(&mut self, now: Nanos, trackers: &Trackers) -> Vec<(TrackKind, String, TrackerStatus)> {
        let keys: Vec<(TrackKind, String)> = self.entries.keys().cloned().collect();
        keys.into_iter()
            .filter_map(|(kind, name)| self.update(now, kind, &name, trackers).map(|st| (kind, name, st)))
            .collect()
    }
}

/// (state, value, flags) of a tracker as the core has it.
fn current(kind: TrackKind, name: &str, trackers: &Trackers) -> Option<(u32, i64, u32)> {
    let up_down = |up: bool| if up { tracker_state::UP } else { tracker_state::DOWN };
    Some(match kind {
        TrackKind::Script => {
            let s = trackers.script(name)?;
            let state = match s.status() {
                ScriptStatus::Init => tracker_state::INIT,
                ScriptStatus::Up => tracker_state::UP,
                ScriptStatus::Down => tracker_state::DOWN,
            };
            let flags = if s.is_reloaded() { tracker_flags::RELOADED } else { 0 };
            (state, i64::from(s.result()), flags)
        }
        TrackKind::File => match trackers.file(name)? {
            Some(v) => (tracker_state::VALUE, v, 0),
            None => (tracker_state::INIT, 0, 0),
        },
        TrackKind::Process => {
            let p = trackers.process(name)?;
            let state = p.have_quorum().map_or(tracker_state::INIT, up_down);
            let flags = if p.pending().is_some() { tracker_flags::PENDING } else { 0 };
            (state, i64::from(p.count().unwrap_or(0)), flags)
        }
        TrackKind::Interface => match trackers.interface(name)? {
            Some(up) => (up_down(up), i64::from(up), 0),
            None => (tracker_state::INIT, 0, 0),
        },
    })
}

/// An instance's `INSTANCE_PRIORITY` record from its verdict (`Priorities::verdict`): base,
/// effective and total priority, the fault state and its reasons (faults, then the weight-0
/// trackers it waits for, then weights), and its sync group.
pub fn instance_priority(verdict: &Verdict, sync_group: Option<&str>, now: Nanos) -> InstancePriority {
    let mut p = InstancePriority {
        base_priority: u32::from(verdict.base),
        effective_priority: u32::from(verdict.priority),
        total_priority: verdict.total,
        tracker_fault: match verdict.tracker_fault() {
            TrackerFault::Clear => tracker_fault::CLEAR,
            TrackerFault::InitHold => tracker_fault::INIT_HOLD,
            TrackerFault::Fault => tracker_fault::FAULT,
        },
        faults: count(verdict.faults.len()),
        waiting: count(verdict.waiting.len()),
        contributions: count(verdict.contributions.len()),
        updated_ns: now,
        ..InstancePriority::default()
    };
    p.set_sync_group(sync_group.unwrap_or(""));
    let faults = verdict.faults.iter().map(|f| {
        let (why, delta) = match f.why {
            FaultWhy::Down => (priority_why::FAULT_DOWN, 0),
            FaultWhy::UpReversed => (priority_why::FAULT_UP_REVERSED, 0),
            FaultWhy::FileStatus(v) => (priority_why::FAULT_FILE, v),
        };
        PriorityReason::new(tracker_kind_code(f.kind), &f.name, why, delta)
    });
    let waiting = verdict
        .waiting
        .iter()
        .map(|(kind, name)| PriorityReason::new(tracker_kind_code(*kind), name, priority_why::WAITING, 0));
    let weights = verdict
        .contributions
        .iter()
        .map(|c| PriorityReason::new(tracker_kind_code(c.kind), &c.name, priority_why::WEIGHT, c.delta));
    for reason in faults.chain(waiting).chain(weights) {
        if !p.push_reason(reason) {
            break;
        }
    }
    p
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}
