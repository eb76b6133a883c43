//! Which trackers reach an instance on one node, with what weight, and the effective
//! priority they give it, for the what-if table.
//!
//! Nothing here decides a weight or a priority: [`core::priority::InstanceTracks`] does,
//! exactly as the agent does when it runs (keepalived 2.2.7's rules: a `track_*` entry without
//! `weight` takes the tracked object's own weight and `reverse`; the address owner and the
//! members of a sync group without `sync_group_tracking_weight` lose weights the way keepalived
//! drops or zeroes them; a sync group's trackers apply to every member; a tracked
//! `virtual_routes`/`virtual_rules` interface counts with weight 0). This module only adds
//! where each tracker is written, for located warnings, and asks the core "what if".
//!
//! [`core::priority::InstanceTracks`]: crate::core::priority::InstanceTracks
use std::path::PathBuf;

use serde::Serialize;

use crate::config::{Config, Instance, TrackRef};
use crate::core::priority::{InstanceTracks, Origin, nominal};
use crate::core::tracker::{self, Reading};

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

    /// The core's name for it.
    pub fn core(self) -> tracker::TrackKind {
        match self {
            TrackKind::Script => tracker::TrackKind::Script,
            TrackKind::Interface => tracker::TrackKind::Interface,
            TrackKind::File => tracker::TrackKind::File,
            TrackKind::Process => tracker::TrackKind::Process,
        }
    }

    fn from_core(kind: tracker::TrackKind) -> Self {
        match kind {
            tracker::TrackKind::Script => TrackKind::Script,
            tracker::TrackKind::Interface => TrackKind::Interface,
            tracker::TrackKind::File => TrackKind::File,
            tracker::TrackKind::Process => TrackKind::Process,
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
    /// The interface of a tracked `virtual_routes` / `virtual_rules` entry (weight 0: keepalived
    /// tracks it without a `track_interface`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub route: bool,
    /// Where the `track_*` entry is.
    pub file: PathBuf,
    pub line: usize,
}

impl Tracker {
    /// "track_script chk_nginx", "route interface eth3" (the interface of a tracked virtual route
    /// or rule).
    pub fn what(&self) -> String {
        if self.route {
            format!("route interface {}", self.name)
        } else {
            format!("{} {}", self.kind.keyword(), self.name)
        }
    }

    /// [`Tracker::what`], and "of sync group G1" for a sync group's tracker.
    pub fn describe(&self) -> String {
        let mut s = self.what();
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

/// What one instance tracks on one node: the core's resolved tracks (what priorities come
/// from) and, one for one in the same order, the report's view of each, located.
#[derive(Debug, Clone)]
pub struct Tracked {
    pub tracks: InstanceTracks,
    pub trackers: Vec<Tracker>,
}

/// The trackers that reach `inst` on the node whose configuration is `cfg`, resolved by
/// [`InstanceTracks::from_config`] (whose notes the parser already reported, located).
pub fn tracked(cfg: &Config, inst: &Instance) -> Tracked {
    let (tracks, _notes) = InstanceTracks::from_config(cfg, inst);
    let group = inst.sync_group.as_deref().and_then(|g| cfg.sync_groups.iter().find(|sg| sg.name == g));
    let refs = |kind: tracker::TrackKind, i: &Instance| -> Vec<TrackRef> {
        match kind {
            tracker::TrackKind::Interface => i.track_interfaces.clone(),
            tracker::TrackKind::Script => i.track_scripts.clone(),
            tracker::TrackKind::File => i.track_files.clone(),
            tracker::TrackKind::Process => i.track_processes.clone(),
        }
    };
    let trackers = tracks
        .tracks
        .iter()
        .map(|t| {
            let (file, line, sync_group) = match t.origin {
                Origin::Instance => {
                    let line = refs(t.kind, inst).iter().find(|r| r.name == t.name).map_or(inst.line, |r| r.line);
                    (inst.file.clone(), line, None)
                }
                Origin::SyncGroup => match group {
                    Some(g) => {
                        let list = match t.kind {
                            tracker::TrackKind::Interface => &g.track_interfaces,
                            tracker::TrackKind::Script => &g.track_scripts,
                            tracker::TrackKind::File => &g.track_files,
                            tracker::TrackKind::Process => &g.track_processes,
                        };
                        let line = list.iter().find(|r| r.name == t.name).map_or(g.line, |r| r.line);
                        (g.file.clone(), line, Some(g.name.clone()))
                    }
                    None => (inst.file.clone(), inst.line, None),
                },
                Origin::Route => {
                    let route = inst.virtual_routes.iter().find(|r| r.track && r.dev.as_deref() == Some(t.name.as_str())).map(|r| r.line);
                    let rule = || {
                        inst.virtual_rules
                            .iter()
                            .find(|r| r.track && (r.iif.as_deref() == Some(t.name.as_str()) || r.oif.as_deref() == Some(t.name.as_str())))
                            .map(|r| r.line)
                    };
                    (inst.file.clone(), route.or_else(rule).unwrap_or(inst.line), None)
                }
            };
            Tracker {
                kind: TrackKind::from_core(t.kind),
                name: t.name.clone(),
                weight: t.weight,
                reverse: t.reverse,
                sync_group,
                route: t.origin == Origin::Route,
                file,
                line,
            }
        })
        .collect();
    Tracked { tracks, trackers }
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

/// keepalived 2.2.7's verdict for `tracked` with every tracker healthy ([`healthy`]) except
/// tracker number `failing` (in `tracked.trackers` order), which reads the given reading: the
/// core's [`InstanceTracks::evaluate`] on a hypothetical source. A fault wins.
pub fn effective(cfg: &Config, tracked: &Tracked, failing: Option<(usize, Reading)>) -> Effective {
    let states = |kind: tracker::TrackKind, name: &str| -> Reading {
        if let Some((k, reading)) = failing
            && let Some(t) = tracked.tracks.tracks.get(k)
            && t.kind == kind
            && t.name == name
        {
            return reading;
        }
        healthy(cfg, kind, name)
    };
    let v = tracked.tracks.evaluate(&states);
    if v.faults.is_empty() { Effective::Priority(v.priority) } else { Effective::Fault }
}

/// The reading of a healthy tracker: [`nominal`] (up, or a track file holding 0), except that a
/// track file with `init_file` holds that value.
pub fn healthy(cfg: &Config, kind: tracker::TrackKind, name: &str) -> Reading {
    let init = cfg.track_files.iter().find(|f| f.name == name).and_then(|f| f.init_file.as_ref());
    match (kind, init) {
        (tracker::TrackKind::File, Some(i)) => Reading::Value(i.value),
        _ => nominal(kind),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn cfg(text: &str) -> Config {
        crate::config::parse_str(text, "n.conf", &Default::default()).unwrap().config
    }

    const CONF: &str = "vrrp_script chk {
    script /bin/true
    weight -20 reverse
}
vrrp_script gchk {
    script /bin/true
    weight -30
}
vrrp_track_file tf {
    file /run/tf
    weight 5
    init_file 2
}
vrrp_sync_group G {
    group {
        A
    }
    track_script {
        gchk
    }
    sync_group_tracking_weight
}
vrrp_instance A {
    interface eth0
    virtual_router_id 1
    priority 100
    virtual_ipaddress {
        198.18.0.1
    }
    track_script {
        chk weight -10 noreverse
    }
    track_file {
        tf
    }
    virtual_routes {
        198.18.5.0/24 dev eth3
    }
}
";

    #[test]
    fn trackers_are_the_cores_located_in_the_file() {
        let c = cfg(CONF);
        let t = tracked(&c, &c.instances[0]);
        let got: Vec<(String, String, usize)> = t.trackers.iter().map(|t| (t.describe(), t.weight_text(), t.line)).collect();
        assert_eq!(
            got,
            vec![
                // noreverse overrides the script's own reverse.
                ("track_script chk".to_string(), "weight -10".to_string(), 31),
                ("track_file tf".to_string(), "weight 5".to_string(), 34),
                ("track_script gchk of sync group G".to_string(), "weight -30".to_string(), 19),
                ("route interface eth3".to_string(), "weight 0".to_string(), 37),
            ]
        );
        assert_eq!(t.trackers.len(), t.tracks.tracks.len());
    }

    #[test]
    fn effective_priorities_come_from_the_core() {
        let c = cfg(CONF);
        let t = tracked(&c, &c.instances[0]);
        // Healthy: the track file at its init_file value 2 × weight 5.
        assert_eq!(effective(&c, &t, None), Effective::Priority(110));
        assert_eq!(effective(&c, &t, Some((0, Reading::Down))), Effective::Priority(100));
        assert_eq!(effective(&c, &t, Some((1, Reading::Value(-3)))), Effective::Priority(85));
        assert_eq!(effective(&c, &t, Some((1, Reading::Value(-60)))), Effective::Fault, "status -254 or below");
        assert_eq!(effective(&c, &t, Some((2, Reading::Down))), Effective::Priority(80));
        assert_eq!(effective(&c, &t, Some((3, Reading::Down))), Effective::Fault, "a tracked route's interface down");
        assert_eq!(healthy(&c, tracker::TrackKind::File, "tf"), Reading::Value(2));
        assert_eq!(healthy(&c, tracker::TrackKind::File, "other"), Reading::Value(0));
    }
}
