//! Which trackers reach an instance on one node, with what weight, and the effective
//! priority they give it.
//!
//! The tracker list follows keepalived 2.2.7's configuration rules (vrrp.c, "Add sync group
//! members to the vrrp list of the script, file, i/f"): a `track_*` entry without `weight`
//! takes the tracked object's own weight (and `reverse`); a sync group's trackers apply to
//! every member, replacing the member's own weight for the same tracker unless that weight is
//! 0; a sync group with an address owner (priority 255) among its members has its tracker
//! weights cleared to 0. The parser has already dropped weighted instance-level trackers of
//! sync group members without `sync_group_tracking_weight` (with a located warning).
use std::path::PathBuf;

use serde::Serialize;

use crate::config::{Config, Instance, TrackRef};

/// What a tracker watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TrackKind {
    Script,
    Interface,
    File,
    Process,
}

impl TrackKind {
    /// The configuration keyword.
    pub fn keyword(self) -> &'static str {
        match self {
            TrackKind::Script => "track_script",
            TrackKind::Interface => "track_interface",
            TrackKind::File => "track_file",
            TrackKind::Process => "track_process",
        }
    }

    /// What "failing" means for it, for the what-if table.
    pub fn failing(self) -> &'static str {
        match self {
            TrackKind::Script => "fails",
            TrackKind::Interface => "goes down",
            TrackKind::File => "changes",
            TrackKind::Process => "loses quorum",
        }
    }
}

/// One tracker as it applies to one instance on one node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Tracker {
    pub kind: TrackKind,
    pub name: String,
    /// keepalived's weight (as written or inherited), before `reverse`.
    pub weight: i32,
    pub reverse: bool,
    /// `None`: the instance's own `track_*`; `Some(group)`: the sync group's.
    pub sync_group: Option<String>,
    /// Where the `track_*` entry is.
    pub file: PathBuf,
    pub line: usize,
}

impl Tracker {
    /// "track_script chk_nginx", "track_script chk_gw of sync group G1".
    pub fn describe(&self) -> String {
        let mut s = format!("{} {}", self.kind.keyword(), self.name);
        if let Some(g) = &self.sync_group {
            s.push_str(&format!(" of sync group {g}"));
        }
        s
    }

    /// "weight -20", "weight 10 reverse".
    pub fn weight_text(&self) -> String {
        let mut s = format!("weight {}", self.weight);
        if self.reverse {
            s.push_str(" reverse");
        }
        s
    }
}

/// The trackers that reach `inst` on the node whose configuration is `cfg`.
pub fn trackers_of(cfg: &Config, inst: &Instance) -> Vec<Tracker> {
    let own = |kind: TrackKind, r: &TrackRef, group: Option<&str>, file: &PathBuf| -> Tracker {
        // An entry without a weight takes the object's weight and its `reverse`.
        let (obj_weight, obj_reverse) = match kind {
            TrackKind::Interface => (0, false),
            TrackKind::Script => cfg.scripts.iter().find(|s| s.name == r.name).map_or((0, false), |s| (s.weight, s.weight_reverse)),
            TrackKind::File => cfg.track_files.iter().find(|t| t.name == r.name).map_or((1, false), |t| (t.weight, t.weight_reverse)),
            TrackKind::Process => {
                cfg.track_processes.iter().find(|t| t.name == r.name).map_or((0, false), |t| (t.weight, t.weight_reverse))
            }
        };
        let (weight, reverse) = match r.weight {
            Some(w) => (w, r.reverse_or(obj_reverse)),
            None => (obj_weight, obj_reverse),
        };
        Tracker { kind, name: r.name.clone(), weight, reverse, sync_group: group.map(str::to_string), file: file.clone(), line: r.line }
    };
    let lists = |i: &Instance| -> Vec<(TrackKind, Vec<TrackRef>)> {
        vec![
            (TrackKind::Interface, i.track_interfaces.clone()),
            (TrackKind::Script, i.track_scripts.clone()),
            (TrackKind::File, i.track_files.clone()),
            (TrackKind::Process, i.track_processes.clone()),
        ]
    };
    let mut out: Vec<Tracker> = Vec::new();
    for (kind, refs) in lists(inst) {
        out.extend(refs.iter().map(|r| own(kind, r, None, &inst.file)));
    }
    let Some(group) = inst.sync_group.as_deref().and_then(|g| cfg.sync_groups.iter().find(|sg| sg.name == g)) else {
        return out;
    };
    let has_owner = group.instances.iter().any(|m| cfg.instances.iter().any(|i| i.name == *m && i.priority == 255));
    let glists = [
        (TrackKind::Interface, &group.track_interfaces),
        (TrackKind::Script, &group.track_scripts),
        (TrackKind::File, &group.track_files),
        (TrackKind::Process, &group.track_processes),
    ];
    for (kind, refs) in glists {
        for r in refs {
            let mut t = own(kind, r, Some(&group.name), &group.file);
            if has_owner {
                t.weight = 0;
            }
            match out.iter_mut().find(|o| o.kind == kind && o.name == t.name) {
                // keepalived keeps one entry: the group's weight, unless the instance's is 0.
                Some(o) => {
                    if o.weight != 0 {
                        o.weight = t.weight;
                        o.reverse = t.reverse;
                    }
                    o.sync_group = t.sync_group;
                    o.file = t.file;
                    o.line = t.line;
                }
                None => out.push(t),
            }
        }
    }
    out
}

/// An instance's effective priority, or FAULT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Effective {
    Fault,
    Priority(u8),
}

impl Effective {
    pub fn priority(self) -> Option<u8> {
        match self {
            Effective::Priority(p) => Some(p),
            Effective::Fault => None,
        }
    }
}

impl std::fmt::Display for Effective {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Effective::Priority(p) => write!(f, "{p}"),
            Effective::Fault => f.write_str("FAULT"),
        }
    }
}

impl Serialize for Effective {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Effective::Priority(p) => s.serialize_u8(*p),
            Effective::Fault => s.serialize_str("FAULT"),
        }
    }
}

/// What a tracker reads at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reading {
    /// Script succeeding, interface up, process quorum reached.
    Up,
    /// Script failing, interface down, process quorum lost.
    Down,
    /// The integer a track file holds.
    Value(i64),
}

// TODO(lead): switch to core::priority
// (h-core: `InstanceTracks::from_config(cfg, inst)` replaces `trackers_of` above, and
// `.evaluate(&|kind, name| reading)` this function: `faults` non-empty = FAULT, else
// `priority`. This file is the only place `crosscheck` computes priorities.)
/// keepalived 2.2.7's effective priority (vrrp_track.c): base + the trackers' weights,
/// clamped to 1..=254; the address owner (255) never changes (keepalived ignores weights on
/// it) but still goes to FAULT. A tracker with weight `w` and `reverse` (`m` = -1, else 1):
/// up adds `w × m` when `w > 0`, down adds `w × m` when `w < 0`; `w = 0` is FAULT while down
/// (while up with `reverse`). A track file adds `value × w × m` (at most 253), and is FAULT
/// at `≤ -254`; with `w = 0` a non-zero value is FAULT (a zero one with `reverse`).
pub fn effective_priority(base: u8, trackers: &[(&Tracker, Reading)]) -> Effective {
    let mut total = i64::from(base);
    for (t, reading) in trackers {
        let m: i64 = if t.reverse { -1 } else { 1 };
        let w = i64::from(t.weight);
        match reading {
            Reading::Value(v) => {
                let status = if w == 0 {
                    if (*v != 0) == (m == 1) { -254 } else { 0 }
                } else {
                    v.saturating_mul(w).saturating_mul(m)
                };
                if status <= -254 {
                    return Effective::Fault;
                }
                total += status.min(253);
            }
            Reading::Up | Reading::Down => {
                let up = *reading == Reading::Up;
                if w == 0 {
                    if up != (m == 1) {
                        return Effective::Fault;
                    }
                } else if (up && w > 0) || (!up && w < 0) {
                    total += w * m;
                }
            }
        }
    }
    if base == 255 {
        return Effective::Priority(255);
    }
    Effective::Priority(total.clamp(1, 254) as u8)
}

/// The reading of a healthy tracker: up, or a track file's `init_file` value (else 0).
pub fn healthy(cfg: &Config, t: &Tracker) -> Reading {
    match t.kind {
        TrackKind::File => Reading::Value(
            cfg.track_files.iter().find(|f| f.name == t.name).and_then(|f| f.init_file.as_ref()).map_or(0, |i| i.value),
        ),
        _ => Reading::Up,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(kind: TrackKind, weight: i32, reverse: bool) -> Tracker {
        Tracker { kind, name: "x".into(), weight, reverse, sync_group: None, file: PathBuf::new(), line: 1 }
    }

    #[test]
    fn weights_follow_keepalived() {
        let neg = t(TrackKind::Script, -20, false);
        let pos = t(TrackKind::Script, 10, false);
        let rev = t(TrackKind::Script, 10, true);
        let zero = t(TrackKind::Interface, 0, false);
        use Effective::*;
        assert_eq!(effective_priority(100, &[(&neg, Reading::Up)]), Priority(100));
        assert_eq!(effective_priority(100, &[(&neg, Reading::Down)]), Priority(80));
        assert_eq!(effective_priority(100, &[(&pos, Reading::Up)]), Priority(110));
        assert_eq!(effective_priority(100, &[(&pos, Reading::Down)]), Priority(100));
        assert_eq!(effective_priority(100, &[(&rev, Reading::Up)]), Priority(90), "reverse: up subtracts");
        assert_eq!(effective_priority(100, &[(&rev, Reading::Down)]), Priority(100));
        assert_eq!(effective_priority(100, &[(&zero, Reading::Down)]), Fault);
        assert_eq!(effective_priority(100, &[(&zero, Reading::Up)]), Priority(100));
        assert_eq!(effective_priority(250, &[(&pos, Reading::Up)]), Priority(254), "clamped below 255");
        assert_eq!(effective_priority(10, &[(&neg, Reading::Down)]), Priority(1), "clamped above 0");
        assert_eq!(effective_priority(255, &[(&neg, Reading::Down)]), Priority(255), "the owner never changes");
        assert_eq!(effective_priority(255, &[(&zero, Reading::Down)]), Fault, "but goes to FAULT");
    }

    #[test]
    fn track_files_multiply_and_fault_at_minus_254() {
        let f = t(TrackKind::File, 5, false);
        let f0 = t(TrackKind::File, 0, false);
        use Effective::*;
        assert_eq!(effective_priority(244, &[(&f, Reading::Value(1))]), Priority(249));
        assert_eq!(effective_priority(100, &[(&f, Reading::Value(-10))]), Priority(50));
        assert_eq!(effective_priority(100, &[(&f, Reading::Value(-51))]), Fault, "-255 <= -254");
        assert_eq!(effective_priority(100, &[(&f, Reading::Value(1000))]), Priority(254), "at most +253, then clamped");
        assert_eq!(effective_priority(100, &[(&f0, Reading::Value(0))]), Priority(100));
        assert_eq!(effective_priority(100, &[(&f0, Reading::Value(3))]), Fault);
    }
}
