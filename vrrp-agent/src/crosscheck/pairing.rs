//! Which instances on different nodes are peers (the rule is in the module docs of
//! `crosscheck`).
use super::{Family, Node, family};
use crate::config::Instance;

/// One instance matched across nodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Cluster {
    pub vrid: u8,
    pub family: Family,
    /// (node index, instance index in that node's `config.instances`), one per node at most,
    /// in node order.
    pub members: Vec<(usize, usize)>,
}

/// How much two instances of the same VRID and family share.
fn affinity(a: &Instance, b: &Instance) -> u32 {
    let shared_vips = a.vips.iter().filter(|v| b.vips.iter().any(|w| w.addr == v.addr)).count() as u32;
    let peering = |x: &Instance, y: &Instance| y.unicast_src_ip.is_some_and(|s| x.unicast_peers.contains(&s));
    let unicast = u32::from(peering(a, b)) + u32::from(peering(b, a));
    let same_if = u32::from(a.interface == b.interface);
    shared_vips * 100 + unicast * 10 + same_if
}

pub(super) fn pair(nodes: &[Node]) -> Vec<Cluster> {
    let mut clusters: Vec<Cluster> = Vec::new();
    for (n, node) in nodes.iter().enumerate() {
        for (i, inst) in node.loaded.config.instances.iter().enumerate() {
            let fam = family(inst);
            let best = clusters
                .iter()
                .enumerate()
                .filter(|(_, c)| c.vrid == inst.vrid && c.family == fam && c.members.iter().all(|&(m, _)| m != n))
                .map(|(k, c)| {
                    let score: u32 = c.members.iter().map(|&(m, j)| affinity(inst, nodes[m].instance(j))).sum();
                    (k, score)
                })
                // The highest score; the first cluster among equals.
                .fold(None, |acc: Option<(usize, u32)>, (k, s)| match acc {
                    Some((_, best)) if best >= s => acc,
                    _ => Some((k, s)),
                });
            match best {
                Some((k, _)) => clusters[k].members.push((n, i)),
                None => clusters.push(Cluster { vrid: inst.vrid, family: fam, members: vec![(n, i)] }),
            }
        }
    }
    clusters
}
