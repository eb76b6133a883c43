//! The state of every tracked object (`vrrp_script`, `vrrp_track_file`,
//! `vrrp_track_process`, `track_interface`), with keepalived 2.2.7's semantics. Sans-IO:
//! readings come in (`handle_health`, `handle_link`) with the time they were taken, the
//! process delays are deadlines (`poll_timeout` / `handle_timeout`), and every change of a
//! tracker's state goes out through `poll_change`, worded as keepalived logs it.
//!
//! What a tracker's state does to an instance (weights, FAULT) is decided in
//! [`crate::core::priority`], which reads the states through [`TrackerStates`].
//!
//! Scripts follow keepalived's result counter: `0..rise` is down, `rise..rise+fall` is up.
//! A script starts at `rise - 1` in INIT (its first result decides, either way); with
//! `init_fail` it starts at 0, down, and needs `rise` successes. Up, `fall` consecutive
//! failures take it down; down, `rise` consecutive successes take it up; anything in between
//! changes nothing.
//!
//! Processes: the quorum is held while `quorum <= count <= quorum_max`. A change of the
//! count that loses or gains the quorum takes effect after `terminate_delay` (the count went
//! down) or `fork_delay` (it went up), and not at all if the count comes back first. The first
//! reading takes effect at once (keepalived's initial scan).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;

use crate::config::{Config, TrackProcess, VrrpScript};
use crate::core::fsm::Nanos;
use crate::health::{HealthEvent, ScriptOutcome};

/// The kinds of tracked objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TrackKind {
    Interface,
    Script,
    File,
    Process,
}

impl fmt::Display for TrackKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TrackKind::Interface => "interface",
            TrackKind::Script => "script",
            TrackKind::File => "file",
            TrackKind::Process => "process",
        })
    }
}

/// What a tracker says now, as [`crate::core::priority`] needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reading {
    /// No result yet: a script before its first run ends (keepalived's INIT), a file,
    /// process or interface the driver has not reported yet. A weight-0 tracker in this
    /// state holds its instance out of BACKUP/MASTER.
    Unknown,
    /// No result yet from a tracker (of any kind) a reload added or changed (keepalived's
    /// INIT_RELOAD for scripts): counts for nothing and, unlike `Unknown`, holds nothing, so
    /// a reload never takes a running instance down while the new tracker has its first
    /// reading.
    Reloaded,
    /// The driver could not set the tracker up (a script refused as insecure or not
    /// found, a track file's directory missing, process watching that failed to start):
    /// it drops out of every instance's priority and fault state, as keepalived removes a
    /// disabled script from the instances tracking it.
    Disabled,
    /// Script succeeding, process quorum held, interface up.
    Up,
    /// Script failing, process quorum lost, interface down.
    Down,
    /// The integer a track file holds.
    Value(i64),
}

/// Where tracker readings come from: the live [`Trackers`], or any hypothetical source
/// (`vrrp-agent check` asks "what if this tracker failed on that node"). Closures
/// `Fn(TrackKind, &str) -> Reading` implement it.
pub trait TrackerStates {
    fn reading(&self, kind: TrackKind, name: &str) -> Reading;
}

impl<F: Fn(TrackKind, &str) -> Reading> TrackerStates for F {
    fn reading(&self, kind: TrackKind, name: &str) -> Reading {
        self(kind, name)
    }
}

/// A script's state as keepalived names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScriptStatus {
    /// No result yet.
    Init,
    Up,
    Down,
}

impl fmt::Display for ScriptStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ScriptStatus::Init => "INIT",
            ScriptStatus::Up => "GOOD",
            ScriptStatus::Down => "BAD",
        })
    }
}

/// A change of one tracker's state. `Display` gives keepalived's log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrackerChange {
    /// A script's status changed (`VRRP_Script(name) succeeded` / `failed (...)` /
    /// `timed_out`), on the run whose `outcome` is given.
    Script { name: String, from: ScriptStatus, to: ScriptStatus, outcome: ScriptOutcome },
    /// A script's exit status differs from its previous one (keepalived:
    /// ``Script `name` now returning N``). Reported before any `Script` change of the run.
    ScriptReturning { name: String, status: i32 },
    /// A track file's value changed (`from` is `None` on the first reading).
    File { name: String, from: Option<i64>, to: i64 },
    /// A tracked process gained or lost its quorum (`count` processes match now).
    Process { name: String, quorum: bool, count: u32 },
    /// A tracked interface went up or down (or was reported for the first time).
    Interface { name: String, up: bool },
    /// The driver disabled the tracker ([`Trackers::disable`]): it no longer counts.
    Disabled { kind: TrackKind, name: String },
}

impl TrackerChange {
    /// The tracker this change is about.
    pub fn tracker(&self) -> (TrackKind, &str) {
        match self {
            TrackerChange::Script { name, .. } | TrackerChange::ScriptReturning { name, .. } => {
                (TrackKind::Script, name)
            }
            TrackerChange::File { name, .. } => (TrackKind::File, name),
            TrackerChange::Process { name, .. } => (TrackKind::Process, name),
            TrackerChange::Interface { name, .. } => (TrackKind::Interface, name),
            TrackerChange::Disabled { kind, name } => (*kind, name),
        }
    }

    /// Whether it can change an instance's priority or fault state (a script's new exit
    /// status alone cannot).
    pub fn affects_instances(&self) -> bool {
        !matches!(self, TrackerChange::ScriptReturning { .. })
    }
}

impl fmt::Display for TrackerChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrackerChange::Script { name, to, outcome, .. } => {
                write!(f, "VRRP_Script({name}) ")?;
                match (to, outcome) {
                    (_, ScriptOutcome::Success) => f.write_str("succeeded"),
                    (_, ScriptOutcome::TimedOut) => f.write_str("timed_out"),
                    (_, ScriptOutcome::Failed(Some(code))) => {
                        write!(f, "failed (exited with status {code})")
                    }
                    (_, ScriptOutcome::Failed(None)) => f.write_str("failed (killed by a signal)"),
                    (_, ScriptOutcome::NotRun) => f.write_str("failed (could not be run)"),
                }
            }
            TrackerChange::ScriptReturning { name, status } => {
                write!(f, "Script `{name}` now returning {status}")
            }
            TrackerChange::File { name, from: Some(v0), to } => {
                write!(f, "Tracked file {name} now reads {to} (was {v0})")
            }
            TrackerChange::File { name, from: None, to } => {
                write!(f, "Tracked file {name} reads {to}")
            }
            TrackerChange::Process { name, quorum, .. } => write!(
                f,
                "Quorum {} for tracked process {name}",
                if *quorum { "gained" } else { "lost" }
            ),
            TrackerChange::Interface { name, up } => {
                write!(f, "Tracked interface {name} is {}", if *up { "up" } else { "down" })
            }
            TrackerChange::Disabled { kind, name } => write!(
                f,
                "Tracked {kind} {name} disabled: it no longer counts for the instances tracking it"
            ),
        }
    }
}

/// A reading for a tracker nobody defined (a driver bug or a reload race): dropped and
/// counted, see [`Trackers::dropped`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no {kind} tracker named '{name}': reading dropped")]
pub struct UnknownTracker {
    pub kind: TrackKind,
    pub name: String,
}

/// One `vrrp_script`'s result counter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptState {
    rise: u32,
    fall: u32,
    /// keepalived's `result`: `0..rise` down, `rise..rise+fall` up.
    result: u32,
    /// No result yet (keepalived SCRIPT_INIT_STATE_INIT).
    init: bool,
    /// Created by a reload (keepalived SCRIPT_INIT_STATE_INIT_RELOAD): no init hold.
    reloaded: bool,
    /// The last exit status (keepalived starts from 0).
    last_exit: i32,
    /// When the last result came in.
    pub last_run: Option<Nanos>,
}

impl ScriptState {
    /// A script in INIT, or down with `init_fail`. `rise`/`fall` 0 are taken as 1.
    pub fn new(rise: u32, fall: u32, init_fail: bool) -> Self {
        let rise = rise.max(1);
        ScriptState {
            rise,
            fall: fall.max(1),
            result: if init_fail { 0 } else { rise - 1 },
            init: !init_fail,
            reloaded: false,
            last_exit: 0,
            last_run: None,
        }
    }

    pub fn status(&self) -> ScriptStatus {
        if self.init {
            ScriptStatus::Init
        } else if self.result >= self.rise {
            ScriptStatus::Up
        } else {
            ScriptStatus::Down
        }
    }

    /// No result yet since a reload added or changed it (keepalived's INIT_RELOAD).
    pub fn is_reloaded(&self) -> bool {
        self.reloaded && self.init
    }

    /// keepalived's counter, for status output.
    pub fn result(&self) -> u32 {
        self.result
    }

    /// Count one result; the new status if it changed.
    fn record(&mut self, success: bool) -> Option<ScriptStatus> {
        let before = self.status();
        let top = self.rise + self.fall - 1;
        let mut changed = false;
        if success {
            if self.result + 1 < self.rise {
                self.result += 1;
            } else if self.result != top {
                // At rise - 1 (or INIT, which starts there): this success takes it up.
                changed = self.result < self.rise;
                self.result = top;
            }
        } else if self.result > self.rise {
            self.result -= 1;
        } else {
            // At `rise` (the last good count), or INIT: this failure takes it down.
            changed = self.result == self.rise || self.init;
            self.result = 0;
        }
        self.init = false;
        let after = self.status();
        (changed || before != after).then_some(after)
    }
}

/// One `vrrp_track_process`'s quorum, with its delays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessState {
    quorum: u32,
    quorum_max: u32,
    fork_delay_ns: Nanos,
    terminate_delay_ns: Nanos,
    /// The last count reported (`None` before the first).
    count: Option<u32>,
    /// The quorum as it counts for instances (`None` before the first reading).
    have_quorum: Option<bool>,
    /// A quorum change waiting for its delay.
    pending: Option<Nanos>,
}

impl ProcessState {
    pub fn new(p: &TrackProcess) -> Self {
        ProcessState {
            quorum: p.quorum,
            quorum_max: p.quorum_max.unwrap_or(u32::MAX),
            fork_delay_ns: p.fork_delay_us.saturating_mul(1_000),
            terminate_delay_ns: p.terminate_delay_us.saturating_mul(1_000),
            count: None,
            have_quorum: None,
            pending: None,
        }
    }

    fn in_quorum(&self, count: u32) -> bool {
        (self.quorum..=self.quorum_max).contains(&count)
    }

    pub fn count(&self) -> Option<u32> {
        self.count
    }

    pub fn have_quorum(&self) -> Option<bool> {
        self.have_quorum
    }

    /// When a pending quorum change takes effect.
    pub fn pending(&self) -> Option<Nanos> {
        self.pending
    }

    /// A new count; the new quorum state if it changed now.
    fn record(&mut self, now: Nanos, count: u32) -> Option<bool> {
        let previous = self.count.replace(count);
        let raw = self.in_quorum(count);
        let Some(have) = self.have_quorum else {
            self.have_quorum = Some(raw);
            return Some(raw);
        };
        if raw == have {
            // Back where we were before the delay ran out: nothing happened.
            self.pending = None;
            return None;
        }
        if self.pending.is_some() {
            return None;
        }
        let delay = if previous.is_some_and(|p| count > p) {
            self.fork_delay_ns
        } else {
            self.terminate_delay_ns
        };
        if delay > 0 {
            self.pending = Some(now.saturating_add(delay));
            return None;
        }
        self.have_quorum = Some(raw);
        Some(raw)
    }

    fn fire(&mut self, now: Nanos) -> Option<bool> {
        if self.pending.is_none_or(|d| d > now) {
            return None;
        }
        self.pending = None;
        let raw = self.in_quorum(self.count.unwrap_or(0));
        if self.have_quorum == Some(raw) {
            return None;
        }
        self.have_quorum = Some(raw);
        Some(raw)
    }
}

/// Every tracker of a configuration, by name.
#[derive(Debug, Clone, Default)]
pub struct Trackers {
    scripts: BTreeMap<String, ScriptState>,
    files: BTreeMap<String, Option<i64>>,
    processes: BTreeMap<String, ProcessState>,
    interfaces: BTreeMap<String, Option<bool>>,
    /// Added or changed by a reload: [`Reading::Reloaded`] until the first reading.
    reloaded: BTreeSet<(TrackKind, String)>,
    /// Disabled by the driver: [`Reading::Disabled`]. Not carried over by a reload.
    disabled: BTreeSet<(TrackKind, String)>,
    changes: VecDeque<TrackerChange>,
    dropped: u64,
}

impl Trackers {
    /// Every tracker `cfg` defines, in its initial state, and every interface named by a
    /// `track_interface` of an instance or a sync group (or by a tracked route or rule).
    pub fn new(cfg: &Config) -> Self {
        let mut t = Trackers::default();
        for s in &cfg.scripts {
            t.add_script(s);
        }
        for f in &cfg.track_files {
            t.files.insert(f.name.clone(), None);
        }
        for p in &cfg.track_processes {
            t.processes.insert(p.name.clone(), ProcessState::new(p));
        }
        for name in tracked_interfaces(cfg) {
            t.interfaces.insert(name, None);
        }
        t
    }

    /// The trackers of `cfg` after a reload: a tracker whose definition did not change
    /// keeps its state (no flap on SIGHUP); a new or changed one starts afresh, reading
    /// [`Reading::Reloaded`] (no hold, no weight) until its first reading. A process tracker
    /// whose quorum, quorum_max or delays alone changed keeps its count, its quorum judged by
    /// the new bounds at once.
    pub fn reload(&self, old_cfg: &Config, cfg: &Config) -> Self {
        let mut t = Trackers::new(cfg);
        let mut fresh = |kind: TrackKind, name: &str| {
            t.reloaded.insert((kind, name.to_string()));
        };
        for s in &cfg.scripts {
            if !old_cfg.scripts.iter().any(|o| o.name == s.name && same_script(o, s)) || !self.scripts.contains_key(&s.name) {
                fresh(TrackKind::Script, &s.name);
            }
        }
        for f in &cfg.track_files {
            if !old_cfg.track_files.iter().any(|o| o.name == f.name && o.path == f.path) || !self.files.contains_key(&f.name) {
                fresh(TrackKind::File, &f.name);
            }
        }
        for p in &cfg.track_processes {
            if !old_cfg.track_processes.iter().any(|o| o.name == p.name && same_match(o, p)) || !self.processes.contains_key(&p.name) {
                fresh(TrackKind::Process, &p.name);
            }
        }
        for name in t.interfaces.keys() {
            if !self.interfaces.contains_key(name) {
                t.reloaded.insert((TrackKind::Interface, name.clone()));
            }
        }
        for s in &cfg.scripts {
            let same = old_cfg.scripts.iter().find(|o| o.name == s.name).is_some_and(|o| same_script(o, s));
            match (same, self.scripts.get(&s.name)) {
                (true, Some(st)) => {
                    t.scripts.insert(s.name.clone(), st.clone());
                }
                _ => {
                    if let Some(st) = t.scripts.get_mut(&s.name) {
                        st.reloaded = true;
                    }
                }
            }
        }
        for f in &cfg.track_files {
            let same = old_cfg.track_files.iter().any(|o| o.name == f.name && o.path == f.path);
            if let (true, Some(v)) = (same, self.files.get(&f.name)) {
                t.files.insert(f.name.clone(), *v);
            }
        }
        for p in &cfg.track_processes {
            let Some(old) = old_cfg.track_processes.iter().find(|o| o.name == p.name) else { continue };
            let (Some(st), Some(new)) = (self.processes.get(&p.name), t.processes.get_mut(&p.name)) else { continue };
            if same_process(old, p) {
                *new = st.clone();
            } else if same_match(old, p) {
                // The same processes counted: keep the count, judge it by the new bounds.
                new.count = st.count;
                new.have_quorum = st.count.map(|c| new.in_quorum(c));
            }
        }
        for (name, v) in &mut t.interfaces {
            if let Some(old) = self.interfaces.get(name) {
                *v = *old;
            }
        }
        // A tracker that was disabled (it could not run) counted for nothing: if it runs now,
        // it holds nothing until its first reading, like a new one, instead of suddenly
        // holding the instances that ran without it.
        for (kind, name) in &self.disabled {
            if *kind == TrackKind::Script {
                if let Some(st) = t.scripts.get_mut(name) {
                    st.reloaded = true;
                }
            } else {
                t.reloaded.insert((*kind, name.clone()));
            }
        }
        t
    }

    /// The driver could not set this tracker up: from now on it reads
    /// [`Reading::Disabled`] (no weight, no fault, no hold), whatever it reports.
    /// Queues a [`TrackerChange::Disabled`] (re-evaluate the instances tracking it, as for
    /// any change); `false` (nothing queued) if there is no such tracker or it is disabled
    /// already. A reload forgets it: disable again what is still broken after
    /// [`Trackers::reload`], before evaluating priorities.
    pub fn disable(&mut self, kind: TrackKind, name: &str) -> bool {
        let exists = match kind {
            TrackKind::Script => self.scripts.contains_key(name),
            TrackKind::File => self.files.contains_key(name),
            TrackKind::Process => self.processes.contains_key(name),
            TrackKind::Interface => self.interfaces.contains_key(name),
        };
        if !exists || !self.disabled.insert((kind, name.to_string())) {
            return false;
        }
        self.changes.push_back(TrackerChange::Disabled { kind, name: name.to_string() });
        true
    }

    pub fn is_disabled(&self, kind: TrackKind, name: &str) -> bool {
        self.disabled.contains(&(kind, name.to_string()))
    }

    fn add_script(&mut self, s: &VrrpScript) {
        self.scripts
            .insert(s.name.clone(), ScriptState::new(s.rise, s.fall, s.init_fail));
    }

    /// A tracker's reading. Applies the event, queues the changes it makes.
    pub fn handle_health(&mut self, now: Nanos, ev: &HealthEvent) -> Result<(), UnknownTracker> {
        match ev {
            HealthEvent::Script { name, outcome } => {
                let Some(s) = self.scripts.get_mut(name) else {
                    return self.drop_reading(TrackKind::Script, name);
                };
                s.last_run = Some(now);
                let from = s.status();
                let exit = match outcome {
                    ScriptOutcome::Success => Some(0),
                    ScriptOutcome::Failed(Some(code)) => Some(*code),
                    _ => None,
                };
                let returning = exit.filter(|&code| code != s.last_exit);
                if let Some(code) = returning {
                    s.last_exit = code;
                }
                let to = s.record(outcome.is_success());
                if let Some(status) = returning {
                    self.changes.push_back(TrackerChange::ScriptReturning { name: name.clone(), status });
                }
                if let Some(to) = to {
                    self.changes.push_back(TrackerChange::Script {
                        name: name.clone(),
                        from,
                        to,
                        outcome: *outcome,
                    });
                }
            }
            HealthEvent::File { name, value } => {
                let Some(v) = self.files.get_mut(name) else {
                    return self.drop_reading(TrackKind::File, name);
                };
                if *v != Some(*value) {
                    let from = v.replace(*value);
                    self.changes.push_back(TrackerChange::File { name: name.clone(), from, to: *value });
                }
            }
            HealthEvent::Process { name, count } => {
                let Some(p) = self.processes.get_mut(name) else {
                    return self.drop_reading(TrackKind::Process, name);
                };
                if let Some(quorum) = p.record(now, *count) {
                    self.changes.push_back(TrackerChange::Process { name: name.clone(), quorum, count: *count });
                }
            }
        }
        Ok(())
    }

    fn drop_reading(&mut self, kind: TrackKind, name: &str) -> Result<(), UnknownTracker> {
        self.dropped += 1;
        Err(UnknownTracker { kind, name: name.to_string() })
    }

    /// A link went up or down. Links nobody tracks are ignored (returns false).
    pub fn handle_link(&mut self, _now: Nanos, ifname: &str, up: bool) -> bool {
        let Some(v) = self.interfaces.get_mut(ifname) else { return false };
        if *v != Some(up) {
            *v = Some(up);
            self.changes.push_back(TrackerChange::Interface { name: ifname.to_string(), up });
        }
        true
    }

    /// The earliest pending process delay.
    pub fn poll_timeout(&self) -> Option<Nanos> {
        self.processes.values().filter_map(|p| p.pending).min()
    }

    /// Apply every process delay that has run out by `now`.
    pub fn handle_timeout(&mut self, now: Nanos) {
        for (name, p) in &mut self.processes {
            if let Some(quorum) = p.fire(now) {
                let count = p.count.unwrap_or(0);
                self.changes.push_back(TrackerChange::Process { name: name.clone(), quorum, count });
            }
        }
    }

    /// The next change, FIFO. After draining, re-evaluate the instances that track what
    /// changed ([`crate::core::priority`]).
    pub fn poll_change(&mut self) -> Option<TrackerChange> {
        self.changes.pop_front()
    }

    /// Readings dropped because no tracker had their name.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    pub fn script(&self, name: &str) -> Option<&ScriptState> {
        self.scripts.get(name)
    }

    pub fn process(&self, name: &str) -> Option<&ProcessState> {
        self.processes.get(name)
    }

    /// A track file's value (`None` before the first reading).
    pub fn file(&self, name: &str) -> Option<Option<i64>> {
        self.files.get(name).copied()
    }

    /// A tracked interface's state (`None` before the driver reported it).
    pub fn interface(&self, name: &str) -> Option<Option<bool>> {
        self.interfaces.get(name).copied()
    }

    /// The interfaces tracked by anything, for the driver to report at startup.
    pub fn interface_names(&self) -> impl Iterator<Item = &str> {
        self.interfaces.keys().map(String::as_str)
    }
}

impl TrackerStates for Trackers {
    fn reading(&self, kind: TrackKind, name: &str) -> Reading {
        if self.is_disabled(kind, name) {
            return Reading::Disabled;
        }
        match self.raw_reading(kind, name) {
            Reading::Unknown if self.reloaded.contains(&(kind, name.to_string())) => Reading::Reloaded,
            r => r,
        }
    }
}

impl Trackers {
    fn raw_reading(&self, kind: TrackKind, name: &str) -> Reading {
        let up = |b: bool| if b { Reading::Up } else { Reading::Down };
        match kind {
            TrackKind::Script => match self.scripts.get(name) {
                Some(s) if s.is_reloaded() => Reading::Reloaded,
                Some(s) => match s.status() {
                    ScriptStatus::Up => Reading::Up,
                    ScriptStatus::Down => Reading::Down,
                    ScriptStatus::Init => Reading::Unknown,
                },
                None => Reading::Unknown,
            },
            TrackKind::File => match self.files.get(name) {
                Some(Some(v)) => Reading::Value(*v),
                _ => Reading::Unknown,
            },
            TrackKind::Process => {
                self.processes.get(name).and_then(|p| p.have_quorum).map_or(Reading::Unknown, up)
            }
            TrackKind::Interface => {
                self.interfaces.get(name).copied().flatten().map_or(Reading::Unknown, up)
            }
        }
    }
}

/// Changing any of these restarts a script's counting on reload.
fn same_script(a: &VrrpScript, b: &VrrpScript) -> bool {
    a.script == b.script && a.rise == b.rise && a.fall == b.fall && a.init_fail == b.init_fail
}

/// Changing what is matched restarts a process tracker on reload.
fn same_match(a: &TrackProcess, b: &TrackProcess) -> bool {
    a.process == b.process && a.args == b.args && a.param_match == b.param_match && a.full_command == b.full_command
}

/// Nothing changed: the state carries over as it is (pending delay included).
fn same_process(a: &TrackProcess, b: &TrackProcess) -> bool {
    same_match(a, b)
        && a.quorum == b.quorum
        && a.quorum_max == b.quorum_max
        && a.fork_delay_us == b.fork_delay_us
        && a.terminate_delay_us == b.terminate_delay_us
}

/// Every interface tracked by a `track_interface` (instance or sync group) or through a
/// tracked virtual route or rule.
pub fn tracked_interfaces(cfg: &Config) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for i in &cfg.instances {
        out.extend(i.track_interfaces.iter().map(|t| t.name.clone()));
        for r in i.virtual_routes.iter().filter(|r| r.track) {
            out.extend(r.dev.clone());
        }
        for r in i.virtual_rules.iter().filter(|r| r.track) {
            out.extend(r.iif.clone());
            out.extend(r.oif.clone());
        }
    }
    for g in &cfg.sync_groups {
        out.extend(g.track_interfaces.iter().map(|t| t.name.clone()));
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::config::ParamMatch;

    fn script(rise: u32, fall: u32, init_fail: bool) -> ScriptState {
        ScriptState::new(rise, fall, init_fail)
    }

    /// Feed outcomes (`true` = success); the status after each.
    fn run(s: &mut ScriptState, outcomes: &[bool]) -> Vec<ScriptStatus> {
        outcomes
            .iter()
            .map(|&ok| {
                s.record(ok);
                s.status()
            })
            .collect()
    }

    use ScriptStatus::{Down, Init, Up};

    #[test]
    fn script_first_result_decides_from_init() {
        for rise in [1, 2, 5] {
            for fall in [1, 3] {
                let mut s = script(rise, fall, false);
                assert_eq!(s.status(), Init);
                assert_eq!(s.record(true), Some(Up), "rise {rise} fall {fall}");
                let mut s = script(rise, fall, false);
                assert_eq!(s.record(false), Some(Down), "rise {rise} fall {fall}");
                assert_eq!(s.result(), 0);
            }
        }
    }

    #[test]
    fn script_fall_and_rise_hysteresis() {
        // rise 2, fall 3: up after the first success, down after 3 failures in a row,
        // up again after 2 successes in a row.
        let mut s = script(2, 3, false);
        assert_eq!(s.record(true), Some(Up));
        assert_eq!(s.result(), 4);
        assert_eq!(run(&mut s, &[false, false]), vec![Up, Up]);
        // A success in between starts the count again.
        assert_eq!(run(&mut s, &[true, false, false]), vec![Up, Up, Up]);
        assert_eq!(s.record(false), Some(Down));
        assert_eq!(s.result(), 0);
        assert_eq!(run(&mut s, &[true]), vec![Down]);
        // A failure in between starts the count again.
        assert_eq!(run(&mut s, &[false, true]), vec![Down, Down]);
        assert_eq!(s.record(true), Some(Up));
        assert_eq!(s.result(), 4);
    }

    #[test]
    fn script_rise_fall_one_follows_every_result() {
        let mut s = script(1, 1, false);
        assert_eq!(run(&mut s, &[true, false, true, true, false]), vec![Up, Down, Up, Up, Down]);
    }

    #[test]
    fn script_init_fail_starts_down_and_needs_rise_successes() {
        let mut s = script(3, 1, true);
        assert_eq!(s.status(), Down);
        assert_eq!(run(&mut s, &[true, true]), vec![Down, Down]);
        assert_eq!(s.record(true), Some(Up));
        // A failure while already down changes nothing.
        let mut s = script(3, 1, true);
        assert_eq!(s.record(false), None);
    }

    #[test]
    fn script_zero_rise_fall_taken_as_one() {
        let mut s = script(0, 0, false);
        assert_eq!(run(&mut s, &[false, true, false]), vec![Down, Up, Down]);
    }

    fn cfg(text: &str) -> Config {
        let loaded = crate::config::parse_str(text, "t.conf", &Default::default()).unwrap();
        loaded.config
    }

    const CONF: &str = r#"
vrrp_script chk {
    script "/bin/true"
    rise 2
    fall 2
}
vrrp_track_file tf {
    file /tmp/x
}
vrrp_track_process tp {
    process sleepy
    quorum 2
    quorum_max 3
    delay 1
}
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 1
    priority 100
    virtual_ipaddress { 198.18.0.10/24 }
    track_interface { eth1 weight 10 }
    track_script { chk }
    track_file { tf }
    track_process { tp }
}
"#;

    #[test]
    fn trackers_from_config_log_like_keepalived() {
        let mut t = Trackers::new(&cfg(CONF));
        assert_eq!(t.interface_names().collect::<Vec<_>>(), vec!["eth1"]);
        assert_eq!(t.reading(TrackKind::Script, "chk"), Reading::Unknown);
        let ev = |o| HealthEvent::Script { name: "chk".into(), outcome: o };
        t.handle_health(1, &ev(ScriptOutcome::Success)).unwrap();
        assert_eq!(t.poll_change().unwrap().to_string(), "VRRP_Script(chk) succeeded");
        assert_eq!(t.reading(TrackKind::Script, "chk"), Reading::Up);
        t.handle_health(2, &ev(ScriptOutcome::Failed(Some(3)))).unwrap();
        assert_eq!(t.poll_change().unwrap().to_string(), "Script `chk` now returning 3");
        assert_eq!(t.poll_change(), None);
        t.handle_health(3, &ev(ScriptOutcome::Failed(Some(3)))).unwrap();
        let c = t.poll_change().unwrap();
        assert_eq!(c.to_string(), "VRRP_Script(chk) failed (exited with status 3)");
        assert_eq!(c.tracker(), (TrackKind::Script, "chk"));
        assert_eq!(t.reading(TrackKind::Script, "chk"), Reading::Down);
        t.handle_health(4, &ev(ScriptOutcome::TimedOut)).unwrap();
        assert_eq!(t.poll_change(), None);
        t.handle_health(5, &ev(ScriptOutcome::Success)).unwrap();
        assert_eq!(t.poll_change().unwrap().to_string(), "Script `chk` now returning 0");
        t.handle_health(6, &ev(ScriptOutcome::Success)).unwrap();
        assert_eq!(t.poll_change().unwrap().to_string(), "VRRP_Script(chk) succeeded");
        let mut t2 = Trackers::new(&cfg(CONF));
        t2.handle_health(1, &ev(ScriptOutcome::TimedOut)).unwrap();
        assert_eq!(t2.poll_change().unwrap().to_string(), "VRRP_Script(chk) timed_out");

        // Files: each new value is a change, the same value is not.
        t.handle_health(7, &HealthEvent::File { name: "tf".into(), value: 5 }).unwrap();
        assert_eq!(
            t.poll_change(),
            Some(TrackerChange::File { name: "tf".into(), from: None, to: 5 })
        );
        t.handle_health(8, &HealthEvent::File { name: "tf".into(), value: 5 }).unwrap();
        assert_eq!(t.poll_change(), None);
        assert_eq!(t.reading(TrackKind::File, "tf"), Reading::Value(5));

        // Interfaces: only tracked ones, only changes.
        assert!(!t.handle_link(9, "eth9", false));
        assert!(t.handle_link(9, "eth1", false));
        assert!(t.handle_link(9, "eth1", false));
        assert_eq!(t.poll_change().unwrap().to_string(), "Tracked interface eth1 is down");
        assert_eq!(t.poll_change(), None);
        assert_eq!(t.reading(TrackKind::Interface, "eth1"), Reading::Down);

        // Unknown names: a counted drop with a clear error, never a panic.
        let e = t.handle_health(10, &HealthEvent::File { name: "nope".into(), value: 1 });
        assert_eq!(e.unwrap_err().to_string(), "no file tracker named 'nope': reading dropped");
        assert_eq!(t.dropped(), 1);
    }

    #[test]
    fn process_quorum_with_delays() {
        const S: Nanos = 1_000_000_000;
        let mut t = Trackers::new(&cfg(CONF));
        let ev = |c| HealthEvent::Process { name: "tp".into(), count: c };
        // The first reading counts at once: 1 < quorum 2.
        t.handle_health(0, &ev(1)).unwrap();
        assert_eq!(t.poll_change().unwrap().to_string(), "Quorum lost for tracked process tp");
        assert_eq!(t.reading(TrackKind::Process, "tp"), Reading::Down);
        // 2 processes: quorum gained after the fork delay (1 s).
        t.handle_health(10, &ev(2)).unwrap();
        assert_eq!(t.poll_change(), None);
        assert_eq!(t.poll_timeout(), Some(10 + S));
        t.handle_timeout(10 + S - 1);
        assert_eq!(t.poll_change(), None);
        t.handle_timeout(10 + S);
        assert_eq!(t.poll_change().unwrap().to_string(), "Quorum gained for tracked process tp");
        assert_eq!(t.reading(TrackKind::Process, "tp"), Reading::Up);
        assert_eq!(t.poll_timeout(), None);
        // 3 is still within quorum_max: nothing.
        t.handle_health(2 * S, &ev(3)).unwrap();
        assert_eq!(t.poll_timeout(), None);
        // 4 exceeds quorum_max: lost after the (fork) delay ...
        t.handle_health(3 * S, &ev(4)).unwrap();
        assert_eq!(t.poll_timeout(), Some(4 * S));
        // ... unless the count comes back first: the pending change is dropped.
        t.handle_health(3 * S + 5, &ev(3)).unwrap();
        assert_eq!(t.poll_timeout(), None);
        t.handle_timeout(5 * S);
        assert_eq!(t.poll_change(), None);
        assert_eq!(t.reading(TrackKind::Process, "tp"), Reading::Up);
        // A process dies: lost after the terminate delay; a further exit does not restart it.
        t.handle_health(6 * S, &ev(1)).unwrap();
        t.handle_health(6 * S + 100, &ev(0)).unwrap();
        assert_eq!(t.poll_timeout(), Some(7 * S));
        t.handle_timeout(7 * S);
        assert_eq!(
            t.poll_change(),
            Some(TrackerChange::Process { name: "tp".into(), quorum: false, count: 0 })
        );
    }

    #[test]
    fn process_without_delay_changes_at_once() {
        let p = TrackProcess {
            name: "p".into(),
            file: Default::default(),
            line: 1,
            process: "x".into(),
            args: vec![],
            param_match: ParamMatch::None,
            weight: 0,
            weight_reverse: false,
            quorum: 1,
            quorum_max: None,
            terminate_delay_us: 0,
            fork_delay_us: 0,
            full_command: false,
        };
        let mut s = ProcessState::new(&p);
        assert_eq!(s.have_quorum(), None);
        assert_eq!(s.record(0, 3), Some(true));
        assert_eq!(s.record(1, 7), None);
        assert_eq!(s.record(2, 0), Some(false));
        assert_eq!(s.record(3, 1), Some(true));
        assert_eq!(s.pending(), None);
    }

    #[test]
    fn reload_keeps_unchanged_trackers_and_resets_changed_ones() {
        let old = cfg(CONF);
        let mut t = Trackers::new(&old);
        t.handle_health(1, &HealthEvent::Script { name: "chk".into(), outcome: ScriptOutcome::Success }).unwrap();
        t.handle_health(1, &HealthEvent::File { name: "tf".into(), value: 3 }).unwrap();
        t.handle_link(1, "eth1", true);
        let same = t.reload(&old, &old);
        assert_eq!(same.reading(TrackKind::Script, "chk"), Reading::Up);
        assert_eq!(same.reading(TrackKind::File, "tf"), Reading::Value(3));
        assert_eq!(same.reading(TrackKind::Interface, "eth1"), Reading::Up);
        let changed = cfg(&CONF.replace("rise 2", "rise 3").replace("/tmp/x", "/tmp/y"));
        let mut t2 = t.reload(&old, &changed);
        // A changed script holds nothing until its first result (keepalived INIT_RELOAD).
        assert_eq!(t2.reading(TrackKind::Script, "chk"), Reading::Reloaded);
        assert!(t2.script("chk").unwrap().is_reloaded());
        // Every kind: a changed file too, until its first reading.
        assert_eq!(t2.reading(TrackKind::File, "tf"), Reading::Reloaded);
        t2.handle_health(2, &HealthEvent::File { name: "tf".into(), value: 0 }).unwrap();
        assert_eq!(t2.reading(TrackKind::File, "tf"), Reading::Value(0));
        t2.handle_health(2, &HealthEvent::Script { name: "chk".into(), outcome: ScriptOutcome::Failed(Some(1)) }).unwrap();
        assert_eq!(t2.reading(TrackKind::Script, "chk"), Reading::Down);
    }

    #[test]
    fn reload_new_trackers_of_every_kind_hold_nothing() {
        let old = cfg(CONF);
        let t = Trackers::new(&old);
        let more = CONF.replace(
            "track_interface { eth1 weight 10 }",
            "track_interface { eth1 weight 10\n eth2 }",
        ) + "vrrp_track_file tf2 {\n file /tmp/z\n}\nvrrp_track_process tp2 {\n process other\n}\n";
        let new = cfg(&more);
        let t2 = t.reload(&old, &new);
        assert_eq!(t2.reading(TrackKind::File, "tf2"), Reading::Reloaded);
        assert_eq!(t2.reading(TrackKind::Process, "tp2"), Reading::Reloaded);
        assert_eq!(t2.reading(TrackKind::Interface, "eth2"), Reading::Reloaded);
        // Trackers that were there and are unchanged keep their (here: no) reading.
        assert_eq!(t2.reading(TrackKind::File, "tf"), Reading::Unknown);
        assert_eq!(t2.reading(TrackKind::Interface, "eth1"), Reading::Unknown);
    }

    #[test]
    fn reload_of_a_process_quorum_keeps_its_count() {
        let old = cfg(CONF);
        let mut t = Trackers::new(&old);
        t.handle_health(1, &HealthEvent::Process { name: "tp".into(), count: 3 }).unwrap();
        assert_eq!(t.reading(TrackKind::Process, "tp"), Reading::Up);
        // quorum 2..=3 becomes 4..: 3 processes no longer make it, judged at once.
        let new = cfg(&CONF.replace("quorum 2", "quorum 4").replace("quorum_max 3", "quorum_max 5"));
        let t2 = t.reload(&old, &new);
        assert_eq!(t2.reading(TrackKind::Process, "tp"), Reading::Down);
        assert_eq!(t2.process("tp").unwrap().count(), Some(3));
        // Another process matched: a fresh start.
        let new = cfg(&CONF.replace("process sleepy", "process other"));
        let t3 = t.reload(&old, &new);
        assert_eq!(t3.reading(TrackKind::Process, "tp"), Reading::Reloaded);
        assert_eq!(t3.process("tp").unwrap().count(), None);
    }

    #[test]
    fn disabled_trackers_drop_out_of_every_instance() {
        use crate::core::fsm::TrackerFault;
        use crate::core::priority::Priorities;
        let text = CONF.replace("track_script { chk }", "track_script { chk weight 0 }")
            .replace("track_file { tf }", "track_file { tf weight 0 }");
        let c = cfg(&text);
        let mut t = Trackers::new(&c);
        t.handle_link(0, "eth1", true);
        t.handle_health(0, &HealthEvent::Process { name: "tp".into(), count: 2 }).unwrap();
        while t.poll_change().is_some() {}
        let (mut p, _) = Priorities::new(&c, &t);
        // The refused script and the file without a directory hold VI_1 in INIT.
        assert_eq!(p.verdict("VI_1").unwrap().tracker_fault(), TrackerFault::InitHold);
        assert!(t.disable(TrackKind::Script, "chk"));
        assert!(!t.disable(TrackKind::Script, "chk"), "once");
        assert!(!t.disable(TrackKind::Script, "nope"));
        assert!(t.disable(TrackKind::File, "tf"));
        assert_eq!(t.reading(TrackKind::Script, "chk"), Reading::Disabled);
        let mut last = Vec::new();
        while let Some(change) = t.poll_change() {
            assert!(change.affects_instances());
            let (k, n) = change.tracker();
            last.extend(p.reevaluate(k, n, &t).into_iter().map(|vc| (k, vc)));
            if k == TrackKind::Script {
                assert_eq!(
                    change.to_string(),
                    "Tracked script chk disabled: it no longer counts for the instances tracking it"
                );
            }
        }
        // Both out: free (one verdict change, on the first re-evaluation).
        assert_eq!(last.len(), 1, "{last:?}");
        assert_eq!(last[0].1.verdict.tracker_fault(), TrackerFault::Clear);
        // Whatever it reports later does not count.
        t.handle_health(1, &HealthEvent::File { name: "tf".into(), value: 7 }).unwrap();
        assert_eq!(t.reading(TrackKind::File, "tf"), Reading::Disabled);
        // A reload forgets it (the driver disables again what is still broken); if it runs
        // now, it holds nothing until its first reading (no hold for instances that ran
        // without it).
        let r = t.reload(&c, &c);
        assert_eq!(r.reading(TrackKind::Script, "chk"), Reading::Reloaded);
        let (p, _) = Priorities::new(&c, &r);
        assert!(p.verdict("VI_1").unwrap().waiting.is_empty(), "nothing holds VI_1");
    }

    #[test]
    fn closures_are_tracker_states() {
        let what_if = |k: TrackKind, n: &str| {
            if k == TrackKind::Script && n == "chk" { Reading::Down } else { Reading::Up }
        };
        assert_eq!(what_if.reading(TrackKind::Script, "chk"), Reading::Down);
        assert_eq!(what_if.reading(TrackKind::Interface, "eth0"), Reading::Up);
    }
}
