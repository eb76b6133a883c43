//! The agent's liveness lease and what a starting agent does with the pins an earlier one
//! left: adopt them (a hitless restart) or start clean. Pure decisions, unit-tested here; the
//! dataplane reads the pins and the driver carries the decisions out.
//!
//! The lease (`AGENT_LEASE`, index 0) holds the CLOCK_MONOTONIC time of the last renewal,
//! the age after which it is stale (`vrrp_common::timers::lease_fence_after_us`) and the
//! holder's pid. The XDP program answers ARP for owned VIPs only while it is fresh; a stale
//! lease fences the datapath (requests for owned VIPs are dropped, so the kernel cannot
//! answer for addresses a dead agent left on the interface).
use vrrp_common::{AgentLease, InstanceStatus, state};

/// What a starting agent does with an earlier agent's pins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Start {
    /// The lease is fresh and its holder is gone: reuse the pinned maps and XDP links and
    /// resume the instances that were master without a transition.
    Adopt { from_pid: u32, age_ns: u64 },
    /// Start from nothing: new maps; VIPs left behind are removed; our own old program on the
    /// interfaces (a pinned link in this directory) is replaced.
    Clean(CleanReason),
    /// Another agent still runs on these pins.
    Refuse { pid: u32 },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CleanReason {
    /// No pinned lease: nothing to adopt.
    NoPins,
    /// The lease was never renewed.
    NeverRenewed,
    /// Older than its bound: the backups may have taken over (and the datapath was fenced).
    Stale { age_ns: u64, fence_after_ns: u64 },
    /// The pinned maps do not have this build's layout (an upgrade that changed them).
    Incompatible(String),
}

impl std::fmt::Display for CleanReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CleanReason::NoPins => write!(f, "no earlier agent's lease"),
            CleanReason::NeverRenewed => write!(f, "the earlier agent never renewed its lease"),
            CleanReason::Stale { age_ns, fence_after_ns } => write!(
                f,
                "the earlier agent's lease is stale ({:.1} ms old, bound {:.1} ms)",
                *age_ns as f64 / 1e6,
                *fence_after_ns as f64 / 1e6
            ),
            CleanReason::Incompatible(why) => write!(f, "the pinned maps do not match this build ({why})"),
        }
    }
}

/// Decides from the pinned lease (`None`: none pinned), the time now (CLOCK_MONOTONIC ns),
/// and whether its holder still runs, what a starting agent with pid `our_pid` does.
/// `layout` is the result of comparing the pinned maps with this build's (`Err(why)`).
pub fn decide_start(lease: Option<AgentLease>, now_ns: u64, our_pid: u32, holder_running: bool, layout: Result<(), String>) -> Start {
    let Some(lease) = lease else { return Start::Clean(CleanReason::NoPins) };
    if holder_running && lease.pid != our_pid && lease.pid != 0 {
        return Start::Refuse { pid: lease.pid };
    }
    if lease.renewed_ns == 0 {
        return Start::Clean(CleanReason::NeverRenewed);
    }
    let age_ns = now_ns.saturating_sub(lease.renewed_ns);
    if age_ns > lease.fence_after_ns {
        return Start::Clean(CleanReason::Stale { age_ns, fence_after_ns: lease.fence_after_ns });
    }
    if let Err(why) = layout {
        return Start::Clean(CleanReason::Incompatible(why));
    }
    Start::Adopt { from_pid: lease.pid, age_ns }
}

/// Whether one instance resumes as master from what the earlier agent published for its key
/// (same interface, VRID and family: a changed VRID or interface is another key and starts
/// clean): only if the agent adopts, the instance was MASTER, its interface is up and every
/// VIP of it is on its interface (nothing to add, so nothing for a client to miss), and the
/// earlier agent's lease is still fresh now (`lease_age_ns` ≤ its `fence_after_ns`): the
/// decision to adopt was taken before loading the program, which can take a large part of the
/// lease; once it is stale a backup may already be taking over (it does at most one advert
/// interval later), so a resumed master would make two.
pub fn resume_as_master(
    adopting: bool,
    prior: Option<&InstanceStatus>,
    link_up: bool,
    vips_present: bool,
    lease_age_ns: u64,
    fence_after_ns: u64,
) -> bool {
    adopting
        && prior.is_some_and(|s| s.state == state::MASTER)
        && link_up
        && vips_present
        && lease_age_ns <= fence_after_ns
}

/// The lease value for a renewal at `now_ns`.
pub fn lease_at(now_ns: u64, fence_after_ns: u64, pid: u32) -> AgentLease {
    AgentLease { renewed_ns: now_ns, fence_after_ns, pid, _pad: 0 }
}

/// Whether `pid` is a running vrrp-agent (not a reused pid of some other program).
pub fn agent_running(pid: u32) -> bool {
    if pid == 0 {
        return false;
    }
    match std::fs::read_to_string(format!("/proc/{pid}/comm")) {
        Ok(comm) => {
            let ours = std::fs::read_to_string("/proc/self/comm").unwrap_or_default();
            comm.trim() == ours.trim() || comm.trim().starts_with("vrrp-agent")
        }
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    fn lease(renewed_ms: u64, pid: u32) -> AgentLease {
        lease_at(renewed_ms * MS, 200 * MS, pid)
    }

    #[test]
    fn adopt_only_a_fresh_lease_of_a_gone_agent() {
        let ok = || Ok(());
        assert_eq!(decide_start(None, 5_000 * MS, 7, false, ok()), Start::Clean(CleanReason::NoPins));
        assert_eq!(decide_start(Some(lease(0, 3)), 5_000 * MS, 7, false, ok()), Start::Clean(CleanReason::NeverRenewed));
        // Fresh: 150 ms old, bound 200 ms.
        assert_eq!(decide_start(Some(lease(1_000, 3)), 1_150 * MS, 7, false, ok()), Start::Adopt { from_pid: 3, age_ns: 150 * MS });
        // Exactly at the bound is still fresh (XDP fences only beyond it).
        assert_eq!(decide_start(Some(lease(1_000, 3)), 1_200 * MS, 7, false, ok()), Start::Adopt { from_pid: 3, age_ns: 200 * MS });
        // Stale.
        assert_eq!(
            decide_start(Some(lease(1_000, 3)), 1_201 * MS, 7, false, ok()),
            Start::Clean(CleanReason::Stale { age_ns: 201 * MS, fence_after_ns: 200 * MS })
        );
        // The holder still runs (even stopped, with a stale lease): refused.
        assert_eq!(decide_start(Some(lease(1_000, 3)), 9_000 * MS, 7, true, ok()), Start::Refuse { pid: 3 });
        // A fresh lease with an incompatible layout: clean.
        assert_eq!(
            decide_start(Some(lease(1_000, 3)), 1_100 * MS, 7, false, Err("x".into())),
            Start::Clean(CleanReason::Incompatible("x".into()))
        );
    }

    #[test]
    fn resume_only_a_master_with_its_vips_in_place() {
        let master = InstanceStatus { state: state::MASTER, ..InstanceStatus::default() };
        let backup = InstanceStatus { state: state::BACKUP, ..InstanceStatus::default() };
        assert!(resume_as_master(true, Some(&master), true, true, 0, 1));
        assert!(!resume_as_master(false, Some(&master), true, true, 0, 1), "not adopting");
        assert!(!resume_as_master(true, Some(&backup), true, true, 0, 1), "was a backup");
        assert!(!resume_as_master(true, None, true, true, 0, 1), "a new VRID or interface");
        assert!(!resume_as_master(true, Some(&master), false, true, 0, 1), "interface down");
        assert!(!resume_as_master(true, Some(&master), true, false, 0, 1), "a VIP is missing");
        assert!(resume_as_master(true, Some(&master), true, true, 200, 200), "fresh at the bound");
        assert!(!resume_as_master(true, Some(&master), true, true, 201, 200), "the lease ran out while loading");
    }
}
