//! An instance's effective priority and fault sources, from its tracker references and the
//! trackers' states: the one place keepalived 2.2.7's weight rules live
//! (vrrp_track.c `initialise_*_tracking_priorities`, `process_script_update_priority`,
//! `vrrp_set_effective_priority`; track_file.c; vrrp.c for the address owner and sync groups).
//!
//! [`InstanceTracks`] is what an instance tracks, resolved from the configuration once;
//! [`InstanceTracks::evaluate`] turns any [`TrackerStates`] (the live
//! [`crate::core::tracker::Trackers`], or a hypothetical closure for `vrrp-agent check`)
//! into a [`Verdict`]. It is a pure function of its inputs: evaluate after every tracker change
//! and hand the verdict to the instance's FSM (`handle_priority_change`,
//! `handle_tracker_fault`).
//!
//! The rules, per tracked object with weight `w` and multiplier `m` (-1 with `reverse`):
//! - interface, script, process (up = link up, script succeeding, quorum held):
//!   `w == 0`: FAULT while down (while up with `reverse`). `w > 0`: `w * m` while up.
//!   `w < 0`: `w * m` while down. No result yet: nothing, and a `w == 0` tracker holds the
//!   instance out of BACKUP/MASTER until it has one (keepalived's INIT).
//! - file holding `v`: `w == 0`: FAULT while `v != 0` (while `v == 0` with `reverse`).
//!   Otherwise `v * w * m`, clamped to -254..253; -254 means FAULT.
//! - effective priority = base + contributions, clamped to 1..254; the address owner (255)
//!   never changes (its weight-0 trackers can still fault it).

use std::fmt;

use crate::config::{Config, Instance};
use crate::core::fsm::TrackerFault;
use crate::core::tracker::{Reading, TrackKind, TrackerStates};

/// Priority of the address owner.
pub const OWNER_PRIORITY: u8 = 255;

/// Where an instance's tracker reference came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The instance's own `track_*` block.
    Instance,
    /// Its sync group's `track_*` block.
    SyncGroup,
    /// The interface of a tracked `virtual_routes` / `virtual_rules` entry (weight 0).
    Route,
}

/// One tracked object as it counts for one instance: the weight and reverse flag already
/// resolved (the reference's override, else the object's own).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Track {
    pub kind: TrackKind,
    pub name: String,
    pub weight: i32,
    pub reverse: bool,
    pub origin: Origin,
}

impl Track {
    pub fn new(kind: TrackKind, name: &str, weight: i32, reverse: bool) -> Self {
        Track { kind, name: name.to_string(), weight, reverse, origin: Origin::Instance }
    }

    fn multiplier(&self) -> i64 {
        if self.reverse { -1 } else { 1 }
    }
}

/// Why a tracker faults an instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultSource {
    pub kind: TrackKind,
    pub name: String,
    pub why: FaultWhy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultWhy {
    /// A weight-0 interface/script/process is down (or up, with `reverse`).
    Down,
    /// ... is up, with `reverse`.
    UpReversed,
    /// A track file's status (value × weight) is -254 or below, or a weight-0 file reads
    /// non-zero (zero, with `reverse`). Carries the file's value.
    FileStatus(i64),
}

impl fmt::Display for FaultSource {
    /// keepalived's words after "entering FAULT state".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = &self.name;
        let rev = if self.why == FaultWhy::UpReversed { " (reverse)" } else { "" };
        let state = match self.why {
            FaultWhy::UpReversed => "up",
            _ => "down",
        };
        match (self.kind, self.why) {
            (TrackKind::File, FaultWhy::FileStatus(v)) => write!(f, "tracked file {n} has status {v}"),
            (TrackKind::Interface, _) => write!(f, "interface {n} {state}{rev}"),
            (TrackKind::Script, FaultWhy::UpReversed) => write!(f, "script {n} succeeded (reverse)"),
            (TrackKind::Script, _) => write!(f, "script {n} failed"),
            (TrackKind::Process, FaultWhy::UpReversed) => {
                write!(f, "tracked process {n} quorum achieved (reverse)")
            }
            (TrackKind::Process, _) => write!(f, "tracked process {n} quorum not achieved"),
            (TrackKind::File, _) => write!(f, "tracked file {n} {state}"),
        }
    }
}

/// What a tracker adds to the priority now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contribution {
    pub kind: TrackKind,
    pub name: String,
    pub delta: i64,
}

/// The result of [`InstanceTracks::evaluate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// Configured priority.
    pub base: u8,
    /// base + every contribution, unclamped (keepalived's `total_priority`).
    pub total: i64,
    /// Effective priority: `total` clamped to 1..=254, or 255 for the address owner.
    pub priority: u8,
    /// Non-zero contributions, in tracking order.
    pub contributions: Vec<Contribution>,
    /// Trackers that put the instance in FAULT.
    pub faults: Vec<FaultSource>,
    /// Weight-0 trackers without a result yet: the instance waits (keepalived's INIT).
    pub waiting: Vec<(TrackKind, String)>,
}

impl Verdict {
    /// What the FSM needs: a fault wins over a hold.
    pub fn tracker_fault(&self) -> TrackerFault {
        if !self.faults.is_empty() {
            TrackerFault::Fault
        } else if !self.waiting.is_empty() {
            TrackerFault::InitHold
        } else {
            TrackerFault::Clear
        }
    }
}

/// The reading of a tracker that is fine: up, or a file holding 0.
pub fn nominal(kind: TrackKind) -> Reading {
    match kind {
        TrackKind::File => Reading::Value(0),
        _ => Reading::Up,
    }
}

/// Tracker states for a what-if question: every tracker [`nominal`] except `kind`/`name`,
/// which reads `reading` (`vrrp-agent check`: "if this tracker fails on that node").
pub fn all_nominal_but(kind: TrackKind, name: &str, reading: Reading) -> impl TrackerStates + '_ {
    move |k: TrackKind, n: &str| if k == kind && n == name { reading } else { nominal(k) }
}

/// Everything one instance tracks, with its base priority.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceTracks {
    pub base: u8,
    pub tracks: Vec<Track>,
}

impl InstanceTracks {
    pub fn new(base: u8, tracks: Vec<Track>) -> Self {
        InstanceTracks { base, tracks }
    }

    /// Resolve `inst`'s tracker references (and its sync group's, and its tracked routes'
    /// interfaces) against `cfg` with keepalived's rules. Also returns what keepalived
    /// ignores or changes here, one message per case (the driver logs them once; the
    /// configuration check reports them):
    /// - the address owner keeps no weights: weighted interfaces and scripts are dropped, a
    ///   track file with the default weight 1 counts with weight 0, other weighted files
    ///   are dropped;
    /// - so does a sync group member unless the group has `sync_group_tracking_weight`
    ///   (weighted interfaces count with weight 0);
    /// - a sync group's own trackers apply to every member, with weight 0 if a member is the
    ///   address owner.
    ///
    /// A reference's `reverse` is the object's own unless the reference says `reverse` or
    /// `noreverse` ([`crate::config::TrackRef::reverse_or`]).
    pub fn from_config(cfg: &Config, inst: &Instance) -> (Self, Vec<String>) {
        let mut notes = Vec::new();
        let mut tracks: Vec<Track> = Vec::new();
        let owner = inst.priority == OWNER_PRIORITY;
        let group = inst
            .sync_group
            .as_ref()
            .and_then(|g| cfg.sync_groups.iter().find(|s| &s.name == g));
        let no_weights = owner || group.is_some_and(|g| !g.sync_group_tracking_weight);
        let because = if owner { "address owner" } else { "SYNC group" };
        let me = &inst.name;

        let push = |tracks: &mut Vec<Track>, t: Track| {
            if !tracks.iter().any(|x| x.kind == t.kind && x.name == t.name) {
                tracks.push(t);
            }
        };

        for r in &inst.track_interfaces {
            let mut t = Track::new(TrackKind::Interface, &r.name, r.weight.unwrap_or(0), r.reverse_or(false));
            if no_weights && t.weight != 0 {
                if owner {
                    notes.push(format!("({me}) ignoring tracked interface {} due to {because}", t.name));
                    continue;
                }
                notes.push(format!("({me}) ignoring {} tracked interface weight due to {because}", t.name));
                t.weight = 0;
            }
            push(&mut tracks, t);
        }
        for r in &inst.track_scripts {
            let Some(s) = cfg.scripts.iter().find(|s| s.name == r.name) else { continue };
            let t = Track::new(TrackKind::Script, &r.name, r.weight.unwrap_or(s.weight), r.reverse_or(s.weight_reverse));
            if no_weights && t.weight != 0 {
                notes.push(format!("({me}) ignoring tracked script {} with weights due to {because}", t.name));
                continue;
            }
            push(&mut tracks, t);
        }
        for r in &inst.track_files {
            let Some(f) = cfg.track_files.iter().find(|f| f.name == r.name) else { continue };
            let mut t = Track::new(TrackKind::File, &r.name, r.weight.unwrap_or(f.weight), r.reverse_or(f.weight_reverse));
            if no_weights && t.weight == 1 {
                notes.push(format!("({me}) ignoring weight from tracked file {} due to {because}: it counts with weight 0 (specify weight 0)", t.name));
                t.weight = 0;
            } else if no_weights && t.weight != 0 {
                notes.push(format!("({me}) ignoring tracked file {} with weight {} due to {because}", t.name, t.weight));
                continue;
            }
            push(&mut tracks, t);
        }
        for r in &inst.track_processes {
            let Some(p) = cfg.track_processes.iter().find(|p| p.name == r.name) else { continue };
            let t = Track::new(TrackKind::Process, &r.name, r.weight.unwrap_or(p.weight), r.reverse_or(p.weight_reverse));
            push(&mut tracks, t);
        }

        if let Some(g) = group {
            let member_owner = g.instances.iter().any(|m| {
                cfg.instances.iter().any(|i| &i.name == m && i.priority == OWNER_PRIORITY)
            });
            let gname = &g.name;
            let lists = [
                (TrackKind::Interface, &g.track_interfaces),
                (TrackKind::Script, &g.track_scripts),
                (TrackKind::File, &g.track_files),
                (TrackKind::Process, &g.track_processes),
            ];
            for (kind, refs) in lists {
                for r in refs {
                    let own = match kind {
                        TrackKind::Interface => Some((0, false)),
                        TrackKind::Script => cfg.scripts.iter().find(|s| s.name == r.name).map(|s| (s.weight, s.weight_reverse)),
                        TrackKind::File => cfg.track_files.iter().find(|s| s.name == r.name).map(|s| (s.weight, s.weight_reverse)),
                        TrackKind::Process => cfg.track_processes.iter().find(|s| s.name == r.name).map(|s| (s.weight, s.weight_reverse)),
                    };
                    let Some((w, rev)) = own else { continue };
                    let mut t = Track::new(kind, &r.name, r.weight.unwrap_or(w), r.reverse_or(rev));
                    t.origin = Origin::SyncGroup;
                    if member_owner && t.weight != 0 {
                        notes.push(format!("({gname}) cannot have weighted track {kind} '{}' with a member having priority 255: weight 0", t.name));
                        t.weight = 0;
                    }
                    // On the instance too: keepalived keeps one entry, with the group's weight
                    // and reverse unless the instance's own is unweighted (vrrp.c
                    // add_vrrp_to_track_script and its siblings).
                    match tracks.iter_mut().find(|x| x.kind == t.kind && x.name == t.name) {
                        Some(x) if x.weight != 0 => {
                            x.weight = t.weight;
                            x.reverse = t.reverse;
                            x.origin = Origin::SyncGroup;
                        }
                        Some(_) => {}
                        None => tracks.push(t),
                    }
                }
            }
        }

        // keepalived tracks the interface of a tracked route or rule with weight 0.
        let route_ifs = inst
            .virtual_routes
            .iter()
            .filter(|r| r.track)
            .filter_map(|r| r.dev.clone())
            .chain(inst.virtual_rules.iter().filter(|r| r.track).flat_map(|r| r.iif.iter().chain(r.oif.iter()).cloned()));
        for ifname in route_ifs {
            let mut t = Track::new(TrackKind::Interface, &ifname, 0, false);
            t.origin = Origin::Route;
            push(&mut tracks, t);
        }

        (InstanceTracks { base: inst.priority, tracks }, notes)
    }

    /// Does this instance track that object (worth re-evaluating after it changed)?
    pub fn tracks(&self, kind: TrackKind, name: &str) -> bool {
        self.tracks.iter().any(|t| t.kind == kind && t.name == name)
    }

    /// Effective priority, fault sources and init hold for these tracker states.
    pub fn evaluate(&self, states: &impl TrackerStates) -> Verdict {
        let mut v = Verdict {
            base: self.base,
            total: i64::from(self.base),
            priority: self.base,
            contributions: Vec::new(),
            faults: Vec::new(),
            waiting: Vec::new(),
        };
        for t in &self.tracks {
            let reading = states.reading(t.kind, &t.name);
            let m = t.multiplier();
            let w = i64::from(t.weight);
            let fault = |why| FaultSource { kind: t.kind, name: t.name.clone(), why };
            let delta = match (t.kind, reading) {
                (_, Reading::Reloaded | Reading::Disabled) => 0,
                (_, Reading::Unknown) => {
                    if t.weight == 0 {
                        v.waiting.push((t.kind, t.name.clone()));
                    }
                    0
                }
                (TrackKind::File, Reading::Value(value)) => {
                    if t.weight == 0 {
                        if (value != 0) != t.reverse {
                            v.faults.push(fault(FaultWhy::FileStatus(value)));
                        }
                        0
                    } else {
                        let status = i128::from(value) * i128::from(w * m);
                        let status = status.clamp(-254, 253) as i64;
                        if status == -254 {
                            v.faults.push(fault(FaultWhy::FileStatus(value)));
                            0
                        } else {
                            status
                        }
                    }
                }
                // A hypothetical source may say up/down for a file: no reading then.
                (TrackKind::File, Reading::Up | Reading::Down) => 0,
                (_, r) => {
                    let up = match r {
                        Reading::Value(x) => x != 0,
                        r => r == Reading::Up,
                    };
                    if t.weight == 0 {
                        if up == t.reverse {
                            v.faults.push(fault(if up { FaultWhy::UpReversed } else { FaultWhy::Down }));
                        }
                        0
                    } else if up == (t.weight > 0) {
                        w * m
                    } else {
                        0
                    }
                }
            };
            if delta != 0 {
                v.total += delta;
                v.contributions.push(Contribution { kind: t.kind, name: t.name.clone(), delta });
            }
        }
        if self.base != OWNER_PRIORITY {
            v.priority = v.total.clamp(1, i64::from(OWNER_PRIORITY) - 1) as u8;
        }
        v
    }
}

/// A change of an instance's verdict after a tracker change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerdictChange {
    pub instance: String,
    /// The effective priority before.
    pub from_priority: u8,
    /// The fault state before.
    pub from_fault: TrackerFault,
    pub verdict: Verdict,
}

impl VerdictChange {
    /// keepalived's log line for a priority change (`None` if only the fault state changed).
    pub fn priority_log(&self) -> Option<String> {
        (self.from_priority != self.verdict.priority).then(|| {
            format!(
                "({}) Changing effective priority from {} to {}",
                self.instance, self.from_priority, self.verdict.priority
            )
        })
    }
}

/// Every instance's tracks and current verdict: which instances a tracker change concerns,
/// and what changed for them. The driver feeds each FSM from the returned changes
/// (`handle_priority_change`, `handle_tracker_fault`) and shows [`Priorities::verdict`] in
/// `status`.
#[derive(Debug, Clone)]
pub struct Priorities {
    instances: Vec<(String, InstanceTracks, Verdict)>,
}

impl Priorities {
    /// Resolve every instance of `cfg` and evaluate it against `states`; also returns
    /// [`InstanceTracks::from_config`]'s notes.
    pub fn new(cfg: &Config, states: &impl TrackerStates) -> (Self, Vec<String>) {
        let mut notes = Vec::new();
        let instances = cfg
            .instances
            .iter()
            .map(|inst| {
                let (tracks, n) = InstanceTracks::from_config(cfg, inst);
                notes.extend(n);
                let v = tracks.evaluate(states);
                (inst.name.clone(), tracks, v)
            })
            .collect();
        (Priorities { instances }, notes)
    }

    /// The current verdict of an instance (for its FSM at startup, and for status).
    pub fn verdict(&self, instance: &str) -> Option<&Verdict> {
        self.instances.iter().find(|(n, _, _)| n == instance).map(|(_, _, v)| v)
    }

    pub fn tracks(&self, instance: &str) -> Option<&InstanceTracks> {
        self.instances.iter().find(|(n, _, _)| n == instance).map(|(_, t, _)| t)
    }

    /// Re-evaluate the instances that track `kind`/`name` (after a
    /// [`crate::core::tracker::TrackerChange`] about it); the ones whose effective priority
    /// or fault state changed.
    pub fn reevaluate(&mut self, kind: TrackKind, name: &str, states: &impl TrackerStates) -> Vec<VerdictChange> {
        let mut out = Vec::new();
        for (inst, tracks, verdict) in &mut self.instances {
            if !tracks.tracks(kind, name) {
                continue;
            }
            let v = tracks.evaluate(states);
            let (from_priority, from_fault) = (verdict.priority, verdict.tracker_fault());
            let changed = v.priority != from_priority || v.tracker_fault() != from_fault;
            *verdict = v;
            if changed {
                out.push(VerdictChange { instance: inst.clone(), from_priority, from_fault, verdict: verdict.clone() });
            }
        }
        out
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// A fixed set of readings; anything else is Up.
    fn states(list: &[(TrackKind, &str, Reading)]) -> impl TrackerStates {
        let map: HashMap<(TrackKind, String), Reading> =
            list.iter().map(|(k, n, r)| ((*k, n.to_string()), *r)).collect();
        move |k: TrackKind, n: &str| map.get(&(k, n.to_string())).copied().unwrap_or(Reading::Up)
    }

    use Reading::{Down, Unknown, Up, Value};
    use TrackKind::{File, Interface, Process, Script};

    fn one(base: u8, t: Track, r: Reading) -> Verdict {
        let name = t.name.clone();
        let kind = t.kind;
        InstanceTracks::new(base, vec![t]).evaluate(&states(&[(kind, &name, r)]))
    }

    #[test]
    fn track_file_value_times_weight() {
        // The issue's example: base 244 + track file value 5 × weight 1 = 249.
        let v = one(244, Track::new(File, "tf", 1, false), Value(5));
        assert_eq!((v.total, v.priority), (249, 249));
        assert_eq!(v.contributions, vec![Contribution { kind: File, name: "tf".into(), delta: 5 }]);
        assert_eq!(v.tracker_fault(), TrackerFault::Clear);
        // Negative weights and values, reverse.
        assert_eq!(one(100, Track::new(File, "tf", -2, false), Value(5)).priority, 90);
        assert_eq!(one(100, Track::new(File, "tf", 2, true), Value(5)).priority, 90);
        assert_eq!(one(100, Track::new(File, "tf", 1, false), Value(-30)).priority, 70);
        // Clamped at 253 per file (and 254 overall).
        let v = one(100, Track::new(File, "tf", 10, false), Value(1_000_000));
        assert_eq!((v.total, v.priority), (353, 254));
        // -254 and below: FAULT, no contribution.
        let v = one(100, Track::new(File, "tf", 1, false), Value(-254));
        assert_eq!(v.total, 100);
        assert_eq!(v.faults.len(), 1);
        assert_eq!(v.faults[0].to_string(), "tracked file tf has status -254");
        assert_eq!(v.tracker_fault(), TrackerFault::Fault);
        assert_eq!(one(100, Track::new(File, "tf", 254, false), Value(-1)).tracker_fault(), TrackerFault::Fault);
        assert_eq!(one(100, Track::new(File, "tf", 1, false), Value(-253)).priority, 1);
        // No overflow with extreme values.
        assert_eq!(one(100, Track::new(File, "tf", -254, true), Value(i64::MIN)).tracker_fault(), TrackerFault::Fault);
    }

    #[test]
    fn track_file_weight_zero_faults_on_non_zero() {
        assert_eq!(one(100, Track::new(File, "tf", 0, false), Value(0)).tracker_fault(), TrackerFault::Clear);
        assert_eq!(one(100, Track::new(File, "tf", 0, false), Value(3)).tracker_fault(), TrackerFault::Fault);
        assert_eq!(one(100, Track::new(File, "tf", 0, true), Value(0)).tracker_fault(), TrackerFault::Fault);
        assert_eq!(one(100, Track::new(File, "tf", 0, true), Value(-1)).tracker_fault(), TrackerFault::Clear);
    }

    #[test]
    fn weights_of_up_down_trackers() {
        for kind in [Interface, Script, Process] {
            // Positive: added while up.
            assert_eq!(one(100, Track::new(kind, "x", 20, false), Up).priority, 120);
            assert_eq!(one(100, Track::new(kind, "x", 20, false), Down).priority, 100);
            // Negative: added while down.
            assert_eq!(one(100, Track::new(kind, "x", -20, false), Up).priority, 100);
            assert_eq!(one(100, Track::new(kind, "x", -20, false), Down).priority, 80);
            // Reverse: the sign flips, the condition stays.
            assert_eq!(one(100, Track::new(kind, "x", 20, true), Up).priority, 80);
            assert_eq!(one(100, Track::new(kind, "x", 20, true), Down).priority, 100);
            assert_eq!(one(100, Track::new(kind, "x", -20, true), Down).priority, 120);
            assert_eq!(one(100, Track::new(kind, "x", -20, true), Up).priority, 100);
            // No result yet: nothing either way, no hold for a weighted tracker.
            let v = one(100, Track::new(kind, "x", -20, false), Unknown);
            assert_eq!((v.priority, v.tracker_fault()), (100, TrackerFault::Clear));
        }
    }

    #[test]
    fn weight_zero_faults_and_holds() {
        let v = one(100, Track::new(Script, "chk", 0, false), Down);
        assert_eq!(v.faults[0].to_string(), "script chk failed");
        assert_eq!(v.priority, 100);
        let v = one(100, Track::new(Interface, "eth1", 0, false), Down);
        assert_eq!(v.faults[0].to_string(), "interface eth1 down");
        let v = one(100, Track::new(Process, "p", 0, false), Down);
        assert_eq!(v.faults[0].to_string(), "tracked process p quorum not achieved");
        let v = one(100, Track::new(Process, "p", 0, true), Up);
        assert_eq!(v.faults[0].to_string(), "tracked process p quorum achieved (reverse)");
        assert_eq!(one(100, Track::new(Process, "p", 0, true), Down).tracker_fault(), TrackerFault::Clear);
        // A script a reload added holds nothing and counts nothing until its first result.
        let v = one(100, Track::new(Script, "chk", 0, false), Reading::Reloaded);
        assert_eq!(v.tracker_fault(), TrackerFault::Clear);
        assert_eq!(one(100, Track::new(Script, "chk", -10, false), Reading::Reloaded).priority, 100);
        // A weight-0 script in INIT holds the instance; a fault elsewhere wins.
        let v = one(100, Track::new(Script, "chk", 0, false), Unknown);
        assert_eq!(v.tracker_fault(), TrackerFault::InitHold);
        assert_eq!(v.waiting, vec![(Script, "chk".to_string())]);
        let both = InstanceTracks::new(
            100,
            vec![Track::new(Script, "a", 0, false), Track::new(Script, "b", 0, false)],
        )
        .evaluate(&states(&[(Script, "a", Unknown), (Script, "b", Down)]));
        assert_eq!(both.tracker_fault(), TrackerFault::Fault);
    }

    #[test]
    fn clamp_and_owner() {
        let tracks = vec![Track::new(Script, "a", 100, false), Track::new(Script, "b", 100, false)];
        let v = InstanceTracks::new(200, tracks.clone()).evaluate(&states(&[]));
        assert_eq!((v.total, v.priority), (400, 254));
        let down = vec![Track::new(Script, "a", -100, false), Track::new(Script, "b", -100, false)];
        let v = InstanceTracks::new(50, down.clone()).evaluate(&states(&[(Script, "a", Down), (Script, "b", Down)]));
        assert_eq!((v.total, v.priority), (-150, 1));
        // The owner stays at 255 whatever the weights say; weight 0 still faults it.
        let v = InstanceTracks::new(255, down).evaluate(&states(&[(Script, "a", Down), (Script, "b", Down)]));
        assert_eq!(v.priority, 255);
        let v = one(255, Track::new(Interface, "eth1", 0, false), Down);
        assert_eq!((v.priority, v.tracker_fault()), (255, TrackerFault::Fault));
    }

    #[test]
    fn what_if_with_a_closure() {
        // MASTER 100 / BACKUP 90 with track_script weight -20: the master failing its
        // script (80) loses to the backup (90).
        let t = InstanceTracks::new(100, vec![Track::new(Script, "chk", -20, false)]);
        let failing = |k: TrackKind, n: &str| if k == Script && n == "chk" { Down } else { Up };
        assert_eq!(t.evaluate(&failing).priority, 80);
        assert_eq!(t.evaluate(&|_: TrackKind, _: &str| Up).priority, 100);
        assert_eq!(t.evaluate(&all_nominal_but(Script, "chk", Down)).priority, 80);
        assert_eq!(t.evaluate(&all_nominal_but(Script, "other", Down)).priority, 100);
        // A file with weight 0 is fine at 0, faulty at anything else.
        let f = InstanceTracks::new(100, vec![Track::new(File, "tf", 0, false)]);
        assert_eq!(f.evaluate(&all_nominal_but(Script, "x", Down)).tracker_fault(), TrackerFault::Clear);
        assert_eq!(f.evaluate(&all_nominal_but(File, "tf", Value(1))).tracker_fault(), TrackerFault::Fault);
    }

    fn cfg(text: &str) -> Config {
        crate::config::parse_str(text, "t.conf", &Default::default()).unwrap().config
    }

    #[test]
    fn from_config_resolves_weights_like_keepalived() {
        let c = cfg(r#"
vrrp_script chk {
    script "/bin/true"
    weight -20
}
vrrp_script chk2 {
    script "/bin/true"
    weight 10 reverse
}
vrrp_track_file tf {
    file /tmp/x
}
vrrp_track_process tp {
    process foo
    weight 5
}
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 1
    priority 244
    virtual_ipaddress { 198.18.0.10/24 }
    track_interface {
        eth1
        eth2 weight 7
    }
    track_script {
        chk
        chk2 weight 30
    }
    track_file { tf }
    track_process { tp weight -6 reverse }
}
"#);
        let (t, notes) = InstanceTracks::from_config(&c, &c.instances[0]);
        assert!(notes.is_empty(), "{notes:?}");
        assert_eq!(
            t.tracks,
            vec![
                Track::new(Interface, "eth1", 0, false),
                Track::new(Interface, "eth2", 7, false),
                Track::new(Script, "chk", -20, false),
                // The reference's weight, the script's reverse.
                Track::new(Script, "chk2", 30, true),
                Track::new(File, "tf", 1, false),
                Track::new(Process, "tp", -6, true),
            ]
        );
        let v = t.evaluate(&states(&[(File, "tf", Value(5))]));
        // 244 + eth2 7 - chk2 30 + tf 5 = 226.
        assert_eq!(v.priority, 226);
        assert!(t.tracks(File, "tf"));
        assert!(!t.tracks(File, "other"));
    }

    #[test]
    fn from_config_group_weight_replaces_the_members_unless_unweighted() {
        let c = cfg(r#"
vrrp_script chk {
    script "/bin/true"
}
vrrp_sync_group G {
    group { VI_1 VI_2 }
    track_script { chk weight -30 }
    sync_group_tracking_weight
}
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 1
    priority 100
    virtual_ipaddress { 198.18.0.10/24 }
    track_script { chk weight -5 }
}
vrrp_instance VI_2 {
    interface eth0
    virtual_router_id 2
    priority 100
    virtual_ipaddress { 198.18.0.11/24 }
    track_script { chk weight 0 }
}
"#);
        let down = |_: TrackKind, _: &str| Down;
        let (t1, _) = InstanceTracks::from_config(&c, &c.instances[0]);
        assert_eq!(t1.evaluate(&down).priority, 70, "the group's -30 replaces the instance's -5");
        let (t2, _) = InstanceTracks::from_config(&c, &c.instances[1]);
        let v2 = t2.evaluate(&down);
        assert_eq!((v2.priority, v2.faults.len()), (100, 1), "an unweighted entry stays weight 0 (FAULT)");
    }

    #[test]
    fn from_config_owner_and_sync_group_drop_weights() {
        let c = cfg(r#"
vrrp_script chk {
    script "/bin/true"
    weight -20
}
vrrp_script gchk {
    script "/bin/true"
}
vrrp_track_file tf {
    file /tmp/x
}
vrrp_track_file tf5 {
    file /tmp/y
    weight 5
}
vrrp_sync_group G {
    group { VI_1 VI_2 }
    track_script { gchk }
    track_interface { eth9 weight 10 }
    sync_group_tracking_weight
}
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 1
    priority 255
    virtual_ipaddress { 198.18.0.10/24 }
    track_interface { eth1 weight 7 }
    track_script { chk }
    track_file {
        tf
        tf5
    }
}
vrrp_instance VI_2 {
    interface eth0
    virtual_router_id 2
    priority 100
    virtual_ipaddress { 198.18.0.11/24 }
    track_interface { eth1 weight 7 }
    track_script { chk }
    track_file { tf }
    virtual_routes { 198.18.5.0/24 dev eth3 }
}
"#);
        // The config parser already drops the weighted trackers of sync group members
        // (see below); parse with sync_group_tracking_weight, then clear it, to see the
        // rules here on their own.
        let mut c = c;
        c.sync_groups[0].sync_group_tracking_weight = false;
        let (t1, notes1) = InstanceTracks::from_config(&c, &c.instances[0]);
        assert_eq!(
            t1.tracks.iter().map(|t| (t.kind, t.name.as_str(), t.weight)).collect::<Vec<_>>(),
            vec![(File, "tf", 0), (Interface, "eth9", 0), (Script, "gchk", 0)]
        );
        assert_eq!(notes1.len(), 5, "{notes1:?}");
        assert!(notes1[0].contains("ignoring tracked interface eth1 due to address owner"), "{notes1:?}");
        let (t2, _) = InstanceTracks::from_config(&c, &c.instances[1]);
        assert_eq!(
            t2.tracks.iter().map(|t| (t.kind, t.name.as_str(), t.weight, t.origin)).collect::<Vec<_>>(),
            vec![
                (Interface, "eth1", 0, Origin::Instance),
                (File, "tf", 0, Origin::Instance),
                (Interface, "eth9", 0, Origin::SyncGroup),
                (Script, "gchk", 0, Origin::SyncGroup),
                (Interface, "eth3", 0, Origin::Route),
            ]
        );
        // With sync_group_tracking_weight, members keep their weights.
        let c2 = cfg(r#"
vrrp_script chk {
    script "/bin/true"
    weight -20
}
vrrp_sync_group G {
    group { VI_2 }
    sync_group_tracking_weight
}
vrrp_instance VI_2 {
    interface eth0
    virtual_router_id 2
    priority 100
    virtual_ipaddress { 198.18.0.11/24 }
    track_script { chk }
}
"#);
        let (t, notes) = InstanceTracks::from_config(&c2, &c2.instances[0]);
        assert!(notes.is_empty());
        assert_eq!(t.tracks, vec![Track::new(Script, "chk", -20, false)]);
    }

    #[test]
    fn priorities_reevaluate_only_the_instances_that_track_the_change() {
        use crate::core::tracker::Trackers;
        use crate::health::{HealthEvent, ScriptOutcome};
        let c = cfg(r#"
vrrp_script chk {
    script "/bin/true"
    weight -20
}
vrrp_track_file tf {
    file /tmp/x
}
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 1
    priority 100
    virtual_ipaddress { 198.18.0.10/24 }
    track_script {
        chk
    }
}
vrrp_instance VI_2 {
    interface eth0
    virtual_router_id 2
    priority 244
    virtual_ipaddress { 198.18.0.11/24 }
    track_file {
        tf
    }
}
"#);
        let mut t = Trackers::new(&c);
        let (mut p, notes) = Priorities::new(&c, &t);
        assert!(notes.is_empty());
        assert_eq!(p.verdict("VI_1").unwrap().priority, 100);
        t.handle_health(1, &HealthEvent::Script { name: "chk".into(), outcome: ScriptOutcome::Failed(Some(1)) }).unwrap();
        let change = t.poll_change().unwrap();
        let (kind, name) = change.tracker();
        let got = p.reevaluate(kind, name, &t);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].priority_log().unwrap(), "(VI_1) Changing effective priority from 100 to 80");
        // The file: only VI_2, 244 + 5 = 249.
        t.handle_health(2, &HealthEvent::File { name: "tf".into(), value: 5 }).unwrap();
        let got = p.reevaluate(File, "tf", &t);
        assert_eq!(got.iter().map(|c| (c.instance.as_str(), c.verdict.priority)).collect::<Vec<_>>(), vec![("VI_2", 249)]);
        // Nothing changed: nothing reported.
        assert!(p.reevaluate(File, "tf", &t).is_empty());
        assert!(p.tracks("VI_2").unwrap().tracks(File, "tf"));
    }
}
