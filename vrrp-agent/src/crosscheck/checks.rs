//! Do the peers agree? The settings every router of one VRID must share, unicast peering,
//! and the priorities that decide the election.
use std::collections::BTreeSet;
use std::net::IpAddr;

use super::pairing::Cluster;
use super::{Node, diag};
use crate::config::{Auth, Diagnostic, InitialState, Instance, Severity};

/// "node-b (b.conf:12)"
fn at(node: &Node, inst: &Instance) -> String {
    format!("{} ({}:{})", node.label, inst.file.display(), inst.line)
}

fn interval(inst: &Instance) -> String {
    let cs = inst.advert_int_cs;
    if cs.is_multiple_of(100) { format!("{} s", cs / 100) } else { format!("{} ms", u32::from(cs) * 10) }
}

fn auth_text(a: Option<&Auth>) -> &'static str {
    match a {
        None => "none",
        Some(Auth::Pass(_)) => "PASS",
        Some(Auth::Ah) => "AH",
    }
}

pub(super) fn consistency(nodes: &[Node], clusters: &[Cluster]) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let get = |&(n, i): &(usize, usize)| (&nodes[n], nodes[n].instance(i));
    let overlapping = vrid_mismatches(nodes, clusters, &mut out);
    for (k, c) in clusters.iter().enumerate() {
        let members: Vec<(&Node, &Instance)> = c.members.iter().map(get).collect();
        let Some(&(rn, r)) = members.first() else { continue };
        if members.len() == 1 {
            if !overlapping.contains(&k) && nodes.len() > 1 {
                // A peer of the same name that its file's errors keep from running explains it.
                let broken: Vec<String> = nodes
                    .iter()
                    .filter(|n| !std::ptr::eq(*n, rn))
                    .flat_map(|n| n.loaded.config.rejected.iter().filter(|x| x.name == r.name).map(move |x| (n, x)))
                    .map(|(n, x)| format!("; {}'s {} ({}:{}) is not started", n.label, x.name, x.file.display(), x.line))
                    .collect();
                out.push(diag(
                    Severity::Warning,
                    &r.file,
                    r.line,
                    format!("vrrp_instance {} (VRID {}): no peer in the other files: {} runs it alone{}", r.name, r.vrid, rn.label, broken.concat()),
                ));
            }
            continue;
        }
        for &(mn, m) in &members[1..] {
            let mk = |sev: Severity, msg: String| diag(sev, &m.file, m.line, format!("vrrp_instance {} (VRID {}): {msg}", m.name, m.vrid));
            let other = at(rn, r);
            if m.version != r.version {
                out.push(mk(
                    Severity::Error,
                    format!("VRRP version {} here, {} on {other}: each drops the other's adverts and both become master", m.version, r.version),
                ));
                continue;
            }
            if m.advert_int_cs != r.advert_int_cs {
                if m.version == 2 {
                    out.push(mk(
                        Severity::Error,
                        format!("advert_int {} here, {} on {other}: VRRPv2 drops adverts with another interval, both become master", interval(m), interval(r)),
                    ));
                } else {
                    out.push(mk(
                        Severity::Warning,
                        format!("advert_int {} here, {} on {other}: a VRRPv3 backup follows the master's interval, so failover times depend on who is master", interval(m), interval(r)),
                    ));
                }
            }
            if m.version == 2 && m.auth != r.auth {
                let what = match (&m.auth, &r.auth) {
                    (Some(Auth::Pass(_)), Some(Auth::Pass(_))) => "auth_pass differs".to_string(),
                    _ => format!("auth_type {} here, {} on {other}", auth_text(m.auth.as_ref()), auth_text(r.auth.as_ref())),
                };
                out.push(mk(Severity::Error, format!("{what}: each drops the other's adverts and both become master")));
            }
            let vips = |i: &Instance| i.vips.iter().map(|v| v.addr).collect::<BTreeSet<IpAddr>>();
            let (mine, theirs) = (vips(m), vips(r));
            if mine != theirs {
                let only_here: Vec<String> = mine.difference(&theirs).map(ToString::to_string).collect();
                let only_there: Vec<String> = theirs.difference(&mine).map(ToString::to_string).collect();
                let mut what = Vec::new();
                if !only_here.is_empty() {
                    what.push(format!("only here: {}", only_here.join(" ")));
                }
                if !only_there.is_empty() {
                    what.push(format!("only on {other}: {}", only_there.join(" ")));
                } else {
                    what.push(format!("against {other}"));
                }
                // A router that compares the addresses drops the other's adverts.
                if m.skip_check_adv_addr && r.skip_check_adv_addr {
                    out.push(mk(
                        Severity::Warning,
                        format!("virtual_ipaddress lists differ ({}); both skip the address check, so adverts are accepted but a failover moves other addresses", what.join("; ")),
                    ));
                } else {
                    out.push(mk(
                        Severity::Error,
                        format!("virtual_ipaddress lists differ ({}): adverts are dropped as an address mismatch unless skip_check_adv_addr, both become master", what.join("; ")),
                    ));
                }
            } else {
                for v in &m.vips {
                    if let Some(w) = r.vips.iter().find(|w| w.addr == v.addr && w.prefix_len != v.prefix_len) {
                        out.push(diag(
                            Severity::Warning,
                            &m.file,
                            v.line,
                            format!("vrrp_instance {}: VIP {}/{} here, /{} on {other}: the subnet route changes with the master", m.name, v.addr, v.prefix_len, w.prefix_len),
                        ));
                    }
                }
            }
            if m.unicast_peers.is_empty() != r.unicast_peers.is_empty() {
                let (u, mc) = if m.unicast_peers.is_empty() { (rn.label.as_str(), mn.label.as_str()) } else { (mn.label.as_str(), rn.label.as_str()) };
                out.push(mk(
                    Severity::Error,
                    format!("unicast on {u}, multicast on {mc} ({other}): neither hears the other, both become master"),
                ));
            }
        }
        unicast_peering(&members, &mut out);
        allow_lists(&members, &mut out);
        priorities(&members, &mut out);
    }
    sync_groups(nodes, clusters, &mut out);
    out
}

/// Instances that move together on one node (one sync group) must on every node, or after a
/// failover one node can be master of one and backup of the other.
fn sync_groups(nodes: &[Node], clusters: &[Cluster], out: &mut Vec<Diagnostic>) {
    let on = |c: &Cluster, n: usize| c.members.iter().find(|&&(m, _)| m == n).map(|&(_, i)| nodes[n].instance(i));
    for (a, ca) in clusters.iter().enumerate() {
        for cb in clusters.iter().skip(a + 1) {
            // (node, its instance in ca, its instance in cb, their common group)
            let both: Vec<(usize, &Instance, &Instance, Option<&String>)> = (0..nodes.len())
                .filter_map(|n| {
                    let (x, y) = (on(ca, n)?, on(cb, n)?);
                    let g = x.sync_group.as_ref().filter(|g| y.sync_group.as_ref() == Some(*g));
                    Some((n, x, y, g))
                })
                .collect();
            let Some(&(gn, _, _, Some(g))) = both.iter().find(|b| b.3.is_some()) else { continue };
            for &(n, x, y, other) in &both {
                if other.is_none() {
                    out.push(diag(
                        Severity::Warning,
                        &x.file,
                        x.line,
                        format!(
                            "vrrp_instance {} (VRID {}) and {} (VRID {}) are in sync group {g} on {} but do not move together on {}: a failover can split them across nodes",
                            x.name, x.vrid, y.name, y.vrid, nodes[gn].label, nodes[n].label
                        ),
                    ));
                }
            }
        }
    }
}

/// Clusters of different VRIDs sharing a VIP across nodes: each elects its own master and
/// both masters hold the address. Returns the clusters involved.
fn vrid_mismatches(nodes: &[Node], clusters: &[Cluster], out: &mut Vec<Diagnostic>) -> BTreeSet<usize> {
    let mut involved = BTreeSet::new();
    for (a, ca) in clusters.iter().enumerate() {
        for (b, cb) in clusters.iter().enumerate().skip(a + 1) {
            if ca.vrid == cb.vrid {
                continue;
            }
            for &(na, ia) in &ca.members {
                for &(nb, ib) in &cb.members {
                    if na == nb {
                        continue;
                    }
                    let (x, y) = (nodes[na].instance(ia), nodes[nb].instance(ib));
                    let shared: Vec<String> =
                        x.vips.iter().filter(|v| y.vips.iter().any(|w| w.addr == v.addr)).map(|v| v.addr.to_string()).collect();
                    if shared.is_empty() {
                        continue;
                    }
                    involved.insert(a);
                    involved.insert(b);
                    out.push(diag(
                        Severity::Error,
                        &y.file,
                        y.line,
                        format!(
                            "vrrp_instance {}: VRID {} here, VRID {} on {} for the same VIP(s) {}: two elections, two masters holding the address",
                            y.name,
                            y.vrid,
                            x.vrid,
                            at(&nodes[na], x),
                            shared.join(" ")
                        ),
                    ));
                }
            }
        }
    }
    involved
}

/// Each unicast router must send to every other: its `unicast_peer` list must hold every
/// peer's `unicast_src_ip` (when the peer does not set one, its interface's primary address,
/// which the files do not tell: then only the count is checked).
fn unicast_peering(members: &[(&Node, &Instance)], out: &mut Vec<Diagnostic>) {
    if members.iter().any(|(_, i)| i.unicast_peers.is_empty()) {
        return;
    }
    let all_known = members.iter().all(|(_, i)| i.unicast_src_ip.is_some());
    for (k, &(_, a)) in members.iter().enumerate() {
        let others: Vec<(&Node, &Instance)> =
            members.iter().enumerate().filter(|&(j, _)| j != k).map(|(_, &m)| m).collect();
        let mut say = |sev: Severity, msg: String| {
            out.push(diag(sev, &a.file, a.line, format!("vrrp_instance {} (VRID {}): {msg}", a.name, a.vrid)));
        };
        let mut missing = false;
        for &(bn, b) in &others {
            if let Some(src) = b.unicast_src_ip
                && !a.unicast_peers.contains(&src)
            {
                missing = true;
                say(
                    Severity::Error,
                    format!("unicast_peer does not list {src}, the unicast_src_ip of {}: it never hears this node's adverts and becomes master too", at(bn, b)),
                );
            }
        }
        if !all_known && !missing && a.unicast_peers.len() < others.len() {
            say(
                Severity::Error,
                format!("unicast_peer lists {} address(es) for {} other node(s): at least one never hears this node's adverts", a.unicast_peers.len(), others.len()),
            );
        }
        if let Some(own) = a.unicast_src_ip
            && a.unicast_peers.contains(&own)
        {
            say(Severity::Warning, format!("unicast_peer lists this node's own unicast_src_ip {own}"));
        }
        if all_known {
            for p in &a.unicast_peers {
                if Some(*p) != a.unicast_src_ip && !others.iter().any(|(_, b)| b.unicast_src_ip == Some(*p)) {
                    say(Severity::Warning, format!("unicast_peer {p} is none of the checked nodes' unicast_src_ip (a node not given to check, or a stale address?)"));
                }
            }
        }
    }
}

/// A node with a peer allow-list (`allowed_peer`, or `check_unicast_src` with unicast peers)
/// drops the adverts of every node it does not list: it never hears that node and becomes
/// master too. The list is the one the dataplane gets (`InstanceRules::new`). A node's
/// source is known only when its config names it (`unicast_src_ip`/`mcast_src_ip`);
/// otherwise the list must at least have an entry per other node.
fn allow_lists(members: &[(&Node, &Instance)], out: &mut Vec<Diagnostic>) {
    for (k, &(_, a)) in members.iter().enumerate() {
        let rules = crate::rx::InstanceRules::new(a, std::iter::empty());
        if rules.flags & vrrp_common::flags::PEER_ALLOW_LIST == 0 {
            continue;
        }
        let listed: Vec<IpAddr> = rules
            .peers
            .iter()
            .map(|p| IpAddr::from(*p))
            .chain(rules.peers_v6.iter().map(|p| IpAddr::from(*p)))
            .filter(|p| Some(*p) != a.unicast_src_ip)
            .collect();
        let others: Vec<(&Node, &Instance)> = members.iter().enumerate().filter(|&(j, _)| j != k).map(|(_, &m)| m).collect();
        let mut say = |msg: String| out.push(diag(Severity::Error, &a.file, a.line, format!("vrrp_instance {} (VRID {}): {msg}", a.name, a.vrid)));
        let mut missing = false;
        for &(bn, b) in &others {
            if let Some(src) = b.unicast_src_ip
                && !listed.contains(&src)
            {
                missing = true;
                say(format!(
                    "the peer allow-list does not hold {src}, the advert source of {}: its adverts are dropped here (drop_unknown_peer), both become master",
                    at(bn, b)
                ));
            }
        }
        if !missing && listed.len() < others.len() {
            say(format!(
                "the peer allow-list holds {} address(es) for {} other node(s): at least one node's adverts are dropped here, both become master",
                listed.len(),
                others.len()
            ));
        }
    }
}

fn priorities(members: &[(&Node, &Instance)], out: &mut Vec<Diagnostic>) {
    let owners: Vec<&(&Node, &Instance)> = members.iter().filter(|(_, i)| i.priority == 255).collect();
    if owners.len() > 1 {
        for (n, i) in &owners[1..] {
            let default = if i.priority_line.is_none() { " (state MASTER without a priority is 255)" } else { "" };
            out.push(diag(
                Severity::Error,
                &i.file,
                i.priority_line.unwrap_or(i.line),
                format!(
                    "vrrp_instance {} (VRID {}): priority 255{default} on {} and on {}: two address owners, neither ever yields",
                    i.name,
                    i.vrid,
                    n.label,
                    at(owners[0].0, owners[0].1)
                ),
            ));
        }
    }
    for (_, i) in members {
        if i.priority_line.is_none() {
            let (p, why) = match i.initial_state {
                InitialState::Master => (255, "state MASTER"),
                InitialState::Backup => (100, "the default"),
            };
            out.push(diag(
                Severity::Warning,
                &i.file,
                i.line,
                format!("vrrp_instance {} (VRID {}): no priority: {p} ({why}); give every node its priority so the order is deliberate", i.name, i.vrid),
            ));
        }
    }
    let top = members.iter().map(|(_, i)| i.priority).max().unwrap_or(0);
    for (n, i) in members {
        if i.initial_state == InitialState::Master && i.priority < top {
            out.push(diag(
                Severity::Warning,
                &i.file,
                i.line,
                format!(
                    "vrrp_instance {} (VRID {}): state MASTER on {} with priority {}, below another node's {top}: it takes the VIPs at start, then hands them back",
                    i.name, i.vrid, n.label, i.priority
                ),
            ));
        }
    }
}
