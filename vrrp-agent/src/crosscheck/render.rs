//! The report as text: one block per matched instance (members, then the what-if table),
//! then the located findings and the verdict.
use std::fmt::Write as _;

use super::Report;
use crate::config::Severity;

/// Left-aligned columns, two spaces apart, each line indented by `indent`.
fn table(indent: &str, rows: &[Vec<String>]) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let width: Vec<usize> =
        (0..cols).map(|c| rows.iter().filter_map(|r| r.get(c)).map(|s| s.chars().count()).max().unwrap_or(0)).collect();
    let mut out = String::new();
    for r in rows {
        let mut line = indent.to_string();
        for (c, cell) in r.iter().enumerate() {
            if c + 1 == r.len() {
                line.push_str(cell);
            } else {
                let _ = write!(line, "{cell:<w$}  ", w = width[c]);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn plural(n: usize, what: &str) -> String {
    if n == 1 { format!("{n} {what}") } else { format!("{n} {what}s") }
}

pub(super) fn text(r: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Nodes:");
    let rows: Vec<Vec<String>> = r
        .nodes
        .iter()
        .map(|n| vec![n.label.clone(), n.file.display().to_string(), plural(n.instances, "instance")])
        .collect();
    out.push_str(&table("  ", &rows));
    for inst in &r.instances {
        let names: Vec<String> = inst.members.iter().map(|m| format!("{} on {} ({})", m.instance, m.node, m.interface)).collect();
        let _ = writeln!(out, "\nVRID {} ({}): {}", inst.vrid, match inst.family {
            super::Family::Ipv4 => "IPv4",
            super::Family::Ipv6 => "IPv6",
        }, names.join(", "));
        let mut rows = vec![["node", "state", "priority", "effective", "preempt", "trackers"].map(String::from).to_vec()];
        for (k, m) in inst.members.iter().enumerate() {
            let trackers: Vec<String> = m.trackers.iter().map(|t| format!("{} ({})", t.describe(), t.weight_text())).collect();
            let preempt = match (m.preempt, m.preempt_delay_s) {
                (false, _) => "nopreempt".to_string(),
                (true, 0) => "yes".to_string(),
                (true, d) => format!("after {d} s"),
            };
            rows.push(vec![
                m.node.clone(),
                m.state.to_string(),
                m.base_priority.to_string(),
                inst.baseline.priorities.get(k).map_or_else(String::new, ToString::to_string),
                preempt,
                if trackers.is_empty() { "-".to_string() } else { trackers.join(", ") },
            ]);
        }
        out.push_str(&table("  ", &rows));
        let master = |o: &super::Outcome| match (&o.master, o.tied.is_empty()) {
            (Some(m), true) => m.clone(),
            (Some(m), false) => format!("{m} (tie: {})", o.tied.join("=")),
            (None, false) => format!("tie: {}", o.tied.join("=")),
            (None, true) => "none".to_string(),
        };
        let _ = writeln!(out, "  master: {}", master(&inst.baseline));
        if inst.members.len() < 2 {
            continue;
        }
        let mut rows = vec![{
            let mut h = vec!["what if".to_string()];
            h.extend(inst.members.iter().map(|m| m.node.clone()));
            h.extend(["master".to_string(), "after recovery".to_string()]);
            h
        }];
        for w in &inst.what_if {
            let mut row = vec![w.scenario.clone()];
            row.extend(w.outcome.priorities.iter().map(ToString::to_string));
            let m = master(&w.outcome);
            row.push(if w.moves { format!("{m} (moves)") } else { m });
            row.push(w.after_recovery.clone().unwrap_or_else(|| "-".to_string()));
            rows.push(row);
        }
        out.push('\n');
        out.push_str(&table("  ", &rows));
    }
    let file_errors: Vec<_> = r.file_diagnostics.iter().filter(|d| d.severity >= Severity::Error).collect();
    if !r.findings.is_empty() || !file_errors.is_empty() {
        let _ = writeln!(out, "\nFindings:");
        for d in file_errors.iter().copied().chain(&r.findings) {
            let _ = writeln!(out, "  {d}");
        }
    }
    let own_warnings: Vec<String> = r
        .nodes
        .iter()
        .filter(|n| n.warnings > 0)
        .map(|n| format!("{} has {} of its own (vrrp-agent check -f {})", n.file.display(), plural(n.warnings, "warning"), n.file.display()))
        .collect();
    if !own_warnings.is_empty() {
        let _ = writeln!(out, "\nNot shown: {}.", own_warnings.join("; "));
    }
    let (e, w) = (r.errors(), r.warnings());
    let verdict = if e > 0 {
        "failover is broken"
    } else if w > 0 {
        "failover works, with warnings"
    } else {
        "failover works as configured"
    };
    let _ = writeln!(out, "\n{verdict}: {}, {}", plural(e, "error"), plural(w, "warning"));
    out
}
