//! `vrrp-agent check -f node-a.conf -f node-b.conf [...]`: one keepalived.conf per node, read
//! together, and a verdict on whether failover between them will actually happen.
//!
//! How instances pair up across nodes (keepalived peers know nothing of each other's names):
//! routers are peers when they run the same VRID, of the same address family, on the same
//! network. The files do not say which interfaces share a network (`eth0` on one host may be
//! `ens3` on the other), so within one VRID and family an instance joins the other nodes'
//! instance with which it shares the most: VIPs first, then unicast peering (one lists the
//! other's `unicast_src_ip`), then the interface name; with nothing shared it joins the first
//! one (the usual case: one instance per VRID per node). Names never matter. Instances that
//! share a VIP but not a VRID are reported as a VRID mismatch.
//!
//! What is reported, located (file:line):
//! - errors (failover breaks; exit 1): VRID/version/advert interval (v2)/authentication/VIP
//!   list mismatches, unicast on one node and multicast on another, a unicast peer list that
//!   leaves out a peer's `unicast_src_ip`, two address owners (priority 255), a configuration
//!   error in one of the files;
//! - warnings (exit 0 unless `--strict`): equal or defaulted priorities, an instance with no
//!   peer, a `state MASTER` that is not the highest priority, a VRRPv3 interval mismatch,
//!   instances in one sync group on one node but not moving together on another, and
//!   from the what-if table: a tracker that can never move mastership, one failure that makes
//!   two nodes equal, `nopreempt` keeping a recovered node from taking back, a weight-0
//!   tracker that puts the node in FAULT;
//! - a what-if table per instance: every node stopping, and every tracker of the instance
//!   (its own and its sync group's, the interfaces of its tracked virtual routes and rules,
//!   and a FAULT of another member of its sync group) failing on every node, with the
//!   effective priorities (computed by `core::priority`, as the agent computes them) and who
//!   becomes master. A `track_file` with
//!   a weight is shown at the value that first changes the master.
//!
//! Per-file diagnostics (what `check -f FILE` prints) are carried along; their errors count,
//! their warnings do not (not even with `--strict`: they are `check -f FILE`'s business).
mod checks;
mod pairing;
pub mod priority;
mod render;
mod whatif;
#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests;

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::config::{self, ConfigError, Diagnostic, Instance, Loaded, LoadOptions, Severity};

pub use priority::{Effective, TrackKind, Tracker};
pub use whatif::{InstanceReport, Member, Outcome, WhatIf};

/// One node's configuration.
#[derive(Debug, Clone)]
pub struct Node {
    /// How the report names the node: its config id (`-i`) if given, else the file name
    /// without its extension (the whole path when two nodes would share a name).
    pub label: String,
    pub path: PathBuf,
    pub loaded: Loaded,
}

impl Node {
    fn instance(&self, i: usize) -> &Instance {
        &self.loaded.config.instances[i]
    }
}

/// Reads one file per node. `config_ids` is empty, or one `@id` selector (keepalived's `-i`)
/// per file, in order: one keepalived.conf shared by all nodes with `@lb1`/`@lb2` lines is
/// checked as `-f k.conf -i lb1 -f k.conf -i lb2`, and the nodes are named by their ids.
/// The per-instance verdict is `check -f FILE`'s, except that interfaces are not looked up:
/// the files describe other hosts.
pub fn load_nodes(paths: &[PathBuf], config_ids: &[String]) -> Result<Vec<Node>, ConfigError> {
    if !config_ids.is_empty() && config_ids.len() != paths.len() {
        return Err(ConfigError {
            file: paths.first().cloned().unwrap_or_default(),
            line: 0,
            message: format!("{} config ids (-i) for {} files (-f): give one per file, or none", config_ids.len(), paths.len()),
        });
    }
    let stem = |p: &Path| p.file_stem().map_or_else(|| p.display().to_string(), |s| s.to_string_lossy().into_owned());
    let mut nodes = Vec::new();
    for (k, path) in paths.iter().enumerate() {
        let config_id = config_ids.get(k).cloned();
        let mut loaded = config::load(path, &LoadOptions { config_id: config_id.clone() })?;
        crate::verdict::judge(&mut loaded, &|_| true);
        nodes.push(Node { label: config_id.unwrap_or_else(|| stem(path)), path: path.clone(), loaded });
    }
    Ok(with_unique_labels(nodes))
}

/// Nodes from configuration texts already read (tests, or a caller that has the files).
pub fn nodes_from_loaded(nodes: Vec<(PathBuf, Loaded)>) -> Vec<Node> {
    let nodes = nodes
        .into_iter()
        .map(|(path, loaded)| {
            let label = path.file_stem().map_or_else(|| path.display().to_string(), |s| s.to_string_lossy().into_owned());
            Node { label, path, loaded }
        })
        .collect();
    with_unique_labels(nodes)
}

fn with_unique_labels(mut nodes: Vec<Node>) -> Vec<Node> {
    let labels: Vec<String> = nodes.iter().map(|n| n.label.clone()).collect();
    for n in &mut nodes {
        if labels.iter().filter(|l| **l == n.label).count() > 1 {
            n.label = n.path.display().to_string();
        }
    }
    nodes
}

/// One node as the report lists it.
#[derive(Debug, Clone, Serialize)]
pub struct NodeSummary {
    pub label: String,
    pub file: PathBuf,
    pub instances: usize,
    /// Errors in the file itself (as `check -f FILE` reports them).
    pub errors: usize,
    pub warnings: usize,
}

/// The verdict on a set of nodes.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub nodes: Vec<NodeSummary>,
    /// One entry per instance matched across the nodes (see the module docs for how).
    pub instances: Vec<InstanceReport>,
    /// Cross-node errors and warnings, located.
    pub findings: Vec<Diagnostic>,
    /// Each file's own diagnostics (as `check -f FILE` prints them).
    pub file_diagnostics: Vec<Diagnostic>,
}

impl Report {
    /// Errors: the cross-node ones and those in the files.
    pub fn errors(&self) -> usize {
        self.findings.iter().chain(&self.file_diagnostics).filter(|d| d.severity >= Severity::Error).count()
    }

    /// Cross-node warnings (what `--strict` counts).
    pub fn warnings(&self) -> usize {
        self.findings.iter().filter(|d| d.severity == Severity::Warning).count()
    }

    /// 0: failover works as configured; 1: errors (or, with `strict`, warnings).
    pub fn exit_code(&self, strict: bool) -> u8 {
        u8::from(self.errors() > 0 || (strict && self.warnings() > 0))
    }

    /// The report as a readable text: the per-instance tables, then the findings.
    pub fn to_text(&self) -> String {
        render::text(self)
    }
}

/// Checks the nodes against each other.
pub fn check(nodes: &[Node]) -> Report {
    let clusters = pairing::pair(nodes);
    let mut findings = checks::consistency(nodes, &clusters);
    let mut instances = Vec::new();
    for c in &clusters {
        let (report, said) = whatif::analyse(nodes, c);
        findings.extend(said);
        instances.push(report);
    }
    // Order: by node (the order the files were given), then file, then line; one of each.
    let order = |d: &Diagnostic| {
        let node = nodes.iter().position(|n| {
            d.file == n.path
                || n.loaded.config.instances.iter().any(|i| i.file == d.file)
                || n.loaded.diagnostics.iter().any(|x| x.file == d.file)
        });
        (node.unwrap_or(usize::MAX), d.file.clone(), d.line)
    };
    findings.sort_by_key(|d| order(d));
    findings.dedup();
    let summaries = nodes
        .iter()
        .map(|n| NodeSummary {
            label: n.label.clone(),
            file: n.path.clone(),
            instances: n.loaded.config.instances.len(),
            errors: n.loaded.diagnostics.iter().filter(|d| d.severity >= Severity::Error).count(),
            warnings: n.loaded.diagnostics.iter().filter(|d| d.severity == Severity::Warning).count(),
        })
        .collect();
    Report {
        nodes: summaries,
        instances,
        findings,
        file_diagnostics: nodes.iter().flat_map(|n| n.loaded.diagnostics.iter().cloned()).collect(),
    }
}

/// The address family of an instance: its first VIP's, else its `unicast_src_ip`'s, else IPv4.
fn family(inst: &Instance) -> Family {
    match inst.vips.first().map(|v| v.addr).or(inst.unicast_src_ip) {
        Some(IpAddr::V6(_)) => Family::Ipv6,
        _ => Family::Ipv4,
    }
}

/// IPv4 or IPv6 (VRRP runs one election per family).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    Ipv4,
    Ipv6,
}

fn diag(severity: Severity, file: &Path, line: usize, message: String) -> Diagnostic {
    Diagnostic { file: file.to_path_buf(), line, severity, message }
}
