//! The what-if table of one instance matched across nodes: who is master with every tracker
//! healthy, and after each single failure (a node stopping, a tracker failing on one node),
//! with the effective priorities; and the warnings that table shows.
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;

use serde::Serialize;

use super::pairing::Cluster;
use super::priority::{Effective, TrackKind, Tracked, Tracker, effective, tracked};
use super::{Family, Node, diag};
use crate::config::{Config, Diagnostic, InitialState, Instance, Severity};
use crate::core::priority::InstanceTracks;
use crate::core::tracker::Reading;

/// One instance matched across nodes.
#[derive(Debug, Clone, Serialize)]
pub struct InstanceReport {
    pub vrid: u8,
    pub family: Family,
    /// One per node that runs it, in the order the files were given.
    pub members: Vec<Member>,
    /// With every tracker healthy (scripts succeeding, interfaces up, processes running,
    /// track files at their `init_file` value or 0).
    pub baseline: Outcome,
    pub what_if: Vec<WhatIf>,
}

/// The instance on one node.
#[derive(Debug, Clone, Serialize)]
pub struct Member {
    pub node: String,
    pub instance: String,
    pub file: PathBuf,
    pub line: usize,
    pub interface: String,
    pub state: &'static str,
    pub base_priority: u8,
    pub preempt: bool,
    pub preempt_delay_s: u32,
    pub sync_group: Option<String>,
    /// `unicast_src_ip`, the only primary address the file tells (it breaks priority ties).
    pub address: Option<IpAddr>,
    pub trackers: Vec<Tracker>,
}

/// Who is master for a set of effective priorities.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Outcome {
    /// One per member, in `members` order.
    pub priorities: Vec<Effective>,
    /// The node that is master; `None` when every node is in FAULT, or when nodes tie at the
    /// top priority and the files do not tell their primary addresses.
    pub master: Option<String>,
    /// The nodes at the top priority when two or more are (the higher primary address wins).
    pub tied: Vec<String>,
}

/// One row of the what-if table.
#[derive(Debug, Clone, Serialize)]
pub struct WhatIf {
    /// The node where it happens.
    pub node: String,
    /// "node-a stops, or its eth0 goes down", "track_script chk fails on node-a", ...
    pub scenario: String,
    /// The tracker that fails, if it is one.
    pub tracker: Option<Tracker>,
    pub outcome: Outcome,
    /// The master is not the baseline's.
    pub moves: bool,
    /// What happens when the failure ends (only where the master moved).
    pub after_recovery: Option<String>,
}

/// A member as the analysis sees it.
struct Seat<'a> {
    label: &'a str,
    cfg: &'a Config,
    inst: &'a Instance,
    tracked: Tracked,
}

impl Seat<'_> {
    /// Every tracker healthy but tracker number `failing` (if any), which reads the reading.
    fn priority_with(&self, failing: Option<(usize, Reading)>) -> Effective {
        effective(self.cfg, &self.tracked, failing)
    }
}

/// The master among `prios`: the highest priority; among equals the higher primary address
/// (RFC 5798 §6.4.3), when every tied node's address is known.
fn elect(seats: &[Seat], prios: &[Effective]) -> Outcome {
    let top = prios.iter().filter_map(|p| p.priority()).max();
    let tied: Vec<usize> = match top {
        Some(t) => (0..prios.len()).filter(|&k| prios[k] == Effective::Priority(t)).collect(),
        None => Vec::new(),
    };
    let master = match tied.as_slice() {
        [] => None,
        [one] => Some(*one),
        many => {
            let addrs: Option<Vec<IpAddr>> = many.iter().map(|&k| seats[k].inst.unicast_src_ip).collect();
            addrs.and_then(|a| a.iter().enumerate().max_by_key(|(_, ip)| **ip).map(|(j, _)| many[j]))
        }
    };
    Outcome {
        priorities: prios.to_vec(),
        master: master.map(|k| seats[k].label.to_string()),
        tied: if tied.len() > 1 { tied.iter().map(|&k| seats[k].label.to_string()).collect() } else { Vec::new() },
    }
}

/// What failing means for a tracker without a weight to scale (a weight-0 file: the value
/// that faults it).
fn failing_words(t: &Tracker) -> &'static str {
    match (t.kind, t.reverse) {
        (TrackKind::File, false) => "reads non-zero",
        (TrackKind::File, true) => "reads 0",
        (kind, _) => kind.failing(),
    }
}

/// Whether the master differs (or, without one, who ties for it).
fn changed(before: &Outcome, after: &Outcome) -> bool {
    after.master != before.master || (after.master.is_none() && after.tied != before.tied)
}

fn who_wins_tie(o: &Outcome) -> String {
    match &o.master {
        Some(m) => format!("the higher primary address wins: {m} (unicast_src_ip)"),
        None => "the higher primary address wins, which the files do not tell".to_string(),
    }
}

/// The table and the warnings it shows for one matched instance.
pub(super) fn analyse(nodes: &[Node], c: &Cluster) -> (InstanceReport, Vec<Diagnostic>) {
    let seats: Vec<Seat> = c
        .members
        .iter()
        .map(|&(n, i)| {
            let cfg = &nodes[n].loaded.config;
            let inst = nodes[n].instance(i);
            Seat { label: &nodes[n].label, cfg, inst, tracked: tracked(cfg, inst) }
        })
        .collect();
    let mut said = Vec::new();
    let base_prios: Vec<Effective> = seats.iter().map(|s| s.priority_with(None)).collect();
    let baseline = elect(&seats, &base_prios);
    let base_master = baseline.master.as_ref().and_then(|m| seats.iter().position(|s| s.label == m));
    let vrid = c.vrid;
    let say = |said: &mut Vec<Diagnostic>, file: &PathBuf, line: usize, inst: &Instance, msg: String| {
        said.push(diag(Severity::Warning, file, line, format!("vrrp_instance {} (VRID {vrid}): {msg}", inst.name)));
    };

    // Equal priorities with every tracker healthy.
    for (k, s) in seats.iter().enumerate() {
        // Two owners (255) are an error of their own (checks.rs).
        if let Some(j) = (0..k).find(|&j| base_prios[j] == base_prios[k] && base_prios[k].priority().is_some_and(|p| p < 255)) {
            let pair = elect(&[seats_ref(&seats[j]), seats_ref(s)], &[base_prios[j], base_prios[k]]);
            say(
                &mut said,
                &s.inst.file,
                s.inst.priority_line.unwrap_or(s.inst.line),
                s.inst,
                format!(
                    "priority {} on {} and on {} ({}:{}): equal priorities, {}",
                    base_prios[k],
                    s.label,
                    seats[j].label,
                    seats[j].inst.file.display(),
                    seats[j].inst.line,
                    who_wins_tie(&pair)
                ),
            );
        }
    }

    let mut rows: Vec<WhatIf> = Vec::new();
    let row = |rows: &mut Vec<WhatIf>, k: usize, scenario: String, tracker: Option<Tracker>, prios: Vec<Effective>| {
        let outcome = elect(&seats, &prios);
        let moves = changed(&baseline, &outcome);
        let after_recovery = match (moves, base_master, &outcome.master) {
            (true, Some(b), Some(y)) if *y != seats[b].label => {
                let yk = seats.iter().position(|s| s.label == y).unwrap_or(b);
                let (bs, bp, yp) = (&seats[b], base_prios[b], base_prios[yk]);
                Some(if bp > yp && bs.inst.preempt {
                    if bs.inst.preempt_delay_s > 0 {
                        format!("{} takes back after preempt_delay {} s", bs.label, bs.inst.preempt_delay_s)
                    } else {
                        format!("{} takes back", bs.label)
                    }
                } else if bp > yp {
                    format!("{y} stays master: {} has nopreempt", bs.label)
                } else {
                    format!("{y} stays master (equal priority)")
                })
            }
            (true, _, None) if outcome.tied.is_empty() => Some("no master until a node recovers".to_string()),
            _ => None,
        };
        rows.push(WhatIf { node: seats[k].label.to_string(), scenario, tracker, outcome, moves, after_recovery });
    };

    for (k, s) in seats.iter().enumerate() {
        let others = |p: Effective| {
            let mut v = base_prios.clone();
            v[k] = p;
            v
        };
        row(&mut rows, k, format!("{} stops, or its {} goes down", s.label, s.inst.interface), None, others(Effective::Fault));
        for (ti, t) in s.tracked.trackers.iter().enumerate() {
            if t.kind == TrackKind::File && t.weight != 0 {
                // The value that first changes the master: lower on the master, higher elsewhere.
                let m: i64 = if t.reverse { -1 } else { 1 };
                let up = i64::from(t.weight).signum() * m;
                let dir = if base_master == Some(k) { -up } else { up };
                // A value that only ties is passed over: the next one settles it.
                let found = (1..=254).map(|step| dir * step).find_map(|v| {
                    let prios = others(s.priority_with(Some((ti, Reading::Value(v)))));
                    let o = elect(&seats, &prios);
                    (changed(&baseline, &o) && o.tied.is_empty()).then_some((v, prios))
                });
                if let Some((v, prios)) = found {
                    let beyond = if v > 0 { "or more" } else { "or less" };
                    row(&mut rows, k, format!("{} reads {v} {beyond} on {}", t.describe(), s.label), Some(t.clone()), prios);
                }
                continue;
            }
            let failing = match t.kind {
                TrackKind::File => Reading::Value(if t.reverse { 0 } else { 1 }),
                _ => Reading::Down,
            };
            row(&mut rows, k, format!("{} {} on {}", t.describe(), failing_words(t), s.label), Some(t.clone()), others(s.priority_with(Some((ti, failing)))));
        }
        // Another member of the sync group going to FAULT takes this one with it.
        if let Some(g) = &s.inst.sync_group {
            for other in s.cfg.instances.iter().filter(|i| i.sync_group.as_ref() == Some(g) && i.name != s.inst.name) {
                for t in tracked(s.cfg, other).trackers.into_iter().filter(|t| t.weight == 0 && t.sync_group.is_none()) {
                    row(
                        &mut rows,
                        k,
                        format!("{} of {} {} on {}: sync group {g} to FAULT", t.what(), other.name, failing_words(&t), s.label),
                        Some(t.clone()),
                        others(Effective::Fault),
                    );
                }
            }
        }
    }

    // Warnings from the table.
    let mut nopreempt_said = false;
    for r in &rows {
        let Some(k) = seats.iter().position(|s| s.label == r.node) else { continue };
        let s = &seats[k];
        let (file, line) = r.tracker.as_ref().map_or((&s.inst.file, s.inst.line), |t| (&t.file, t.line));
        if let Some(t) = &r.tracker
            && t.weight != 0
            && t.kind != TrackKind::File
            && base_master == Some(k)
            && !r.moves
            && r.outcome.tied.is_empty()
        {
            let (p0, p1) = (base_prios[k], r.outcome.priorities[k]);
            let runner_up = (0..seats.len()).filter(|&j| j != k).max_by_key(|&j| r.outcome.priorities[j]);
            if let Some(j) = runner_up
                && let (Some(a), Some(b)) = (p0.priority(), r.outcome.priorities[j].priority())
            {
                say(
                    &mut said,
                    file,
                    line,
                    s.inst,
                    format!(
                        "{} ({}) can never move mastership: failing takes {} from {p0} to {p1}, still above {}'s {b}; it takes a change of more than {}",
                        t.describe(),
                        t.weight_text(),
                        s.label,
                        seats[j].label,
                        a.saturating_sub(b)
                    ),
                );
            }
        }
        if r.tracker.as_ref().is_some_and(|t| t.kind != TrackKind::File) && r.outcome.tied.len() > 1 && baseline.tied.is_empty() {
            say(
                &mut said,
                file,
                line,
                s.inst,
                format!(
                    "one failure makes two nodes equal: when {}, {} are at {}: {}",
                    r.scenario,
                    r.outcome.tied.join(" and "),
                    r.outcome.priorities[k],
                    who_wins_tie(&r.outcome)
                ),
            );
        }
        if let (Some(text), Some(b)) = (&r.after_recovery, base_master)
            && text.ends_with("has nopreempt")
            && !nopreempt_said
        {
            nopreempt_said = true;
            let bs = &seats[b];
            say(
                &mut said,
                &bs.inst.file,
                bs.inst.line,
                bs.inst,
                format!(
                    "nopreempt on {}: once it loses mastership (e.g. {}) it does not take it back when it recovers ({})",
                    bs.label, r.scenario, text
                ),
            );
        }
    }
    // Weight 0: FAULT, once per tracker (named the same on every node).
    /// The first node's tracker (where the warning points) and the nodes that have it.
    struct Faulting<'a> {
        first: &'a Tracker,
        inst: &'a Instance,
        on: Vec<&'a str>,
    }
    let mut faulting: BTreeMap<String, Faulting> = BTreeMap::new();
    for s in &seats {
        for t in s.tracked.trackers.iter().filter(|t| t.weight == 0) {
            faulting
                .entry(t.what())
                .or_insert_with(|| Faulting { first: t, inst: s.inst, on: Vec::new() })
                .on
                .push(s.label);
        }
    }
    for (what, Faulting { first, inst, on }) in faulting {
        let (file, line) = (&first.file, first.line);
        let everywhere = if on.len() == seats.len() && seats.len() > 1 {
            "; failing on every node at once leaves no master"
        } else {
            ""
        };
        say(
            &mut said,
            file,
            line,
            inst,
            format!("{what} has weight 0: failing puts the instance in FAULT on {} (no VIPs there){everywhere}", on.join(", ")),
        );
    }

    let members = seats
        .iter()
        .map(|s| Member {
            node: s.label.to_string(),
            instance: s.inst.name.clone(),
            file: s.inst.file.clone(),
            line: s.inst.line,
            interface: s.inst.interface.clone(),
            state: match s.inst.initial_state {
                InitialState::Master => "MASTER",
                InitialState::Backup => "BACKUP",
            },
            base_priority: s.inst.priority,
            preempt: s.inst.preempt,
            preempt_delay_s: s.inst.preempt_delay_s,
            sync_group: s.inst.sync_group.clone(),
            address: s.inst.unicast_src_ip,
            trackers: s.tracked.trackers.clone(),
        })
        .collect();
    (InstanceReport { vrid: c.vrid, family: c.family, members, baseline, what_if: rows }, said)
}

fn seats_ref<'a>(s: &Seat<'a>) -> Seat<'a> {
    Seat { label: s.label, cfg: s.cfg, inst: s.inst, tracked: Tracked { tracks: InstanceTracks::new(s.inst.priority, Vec::new()), trackers: Vec::new() } }
}
