//! The protocol's timer arithmetic, in integer microseconds (keepalived's resolution).
//!
//! RFC 5798 §6.1 states the intervals in centiseconds, but Skew_Time exists so that backups
//! of different priorities time out at different moments. Truncated to whole centiseconds it
//! stops doing that: at a 100 ms interval priorities 90 and 80 both get 6 cs, at 10 ms every
//! backup gets 0, and all backups take over in the same instant. Everything here is exact
//! integer arithmetic on microseconds, rounded down once at the end, as keepalived does.
//!
//! This is the one place these formulas are written; the agent's election, `status`, the
//! tests and the lab (`cargo xtask lab`) all call these functions.

/// Protocol version, which decides the shape of Skew_Time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// RFC 3768.
    V2,
    /// RFC 5798 / RFC 9568.
    V3,
}

/// Microseconds.
pub type Micros = u64;

/// Microseconds per centisecond, the unit of the VRRPv3 interval field.
pub const US_PER_CS: Micros = 10_000;
/// Microseconds per second, the unit of the VRRPv2 interval field and of VRRPv2's skew.
pub const US_PER_S: Micros = 1_000_000;

/// An advertisement interval given in centiseconds, in microseconds.
pub fn cs_to_us(cs: u16) -> Micros {
    Micros::from(cs) * US_PER_CS
}

/// `(256 - priority) * unit / 256`, the shape of both versions' Skew_Time.
fn skew_of(weight: u64, unit_us: Micros) -> Micros {
    weight * unit_us / 256
}

/// Skew_Time for `priority` (ours), in microseconds.
///
/// * v3 (RFC 5798 §6.1): `((256 - Priority) * Master_Adver_Interval) / 256`.
/// * v2 (RFC 3768 §6.1): `(256 - Priority) / 256` seconds, independent of the interval.
pub fn skew_time_us(version: Version, priority: u8, master_adver_int_cs: u16) -> Micros {
    let weight = 256 - u64::from(priority);
    match version {
        Version::V3 => skew_of(weight, cs_to_us(master_adver_int_cs)),
        Version::V2 => skew_of(weight, US_PER_S),
    }
}

/// Master_Down_Interval in microseconds: `3 * Master_Adver_Interval + Skew_Time`
/// (RFC 5798 §6.1, RFC 3768 §6.1).
pub fn master_down_interval_us(version: Version, priority: u8, master_adver_int_cs: u16) -> Micros {
    3 * cs_to_us(master_adver_int_cs) + skew_time_us(version, priority, master_adver_int_cs)
}

/// The first Master_Down_Timer of a non-owner configured `state MASTER` (keepalived):
/// one interval plus the smallest skew (that of priority 255), so it claims mastership
/// after one silent interval instead of three, yet still yields to a running master.
pub fn initial_master_down_us(version: Version, master_adver_int_cs: u16) -> Micros {
    cs_to_us(master_adver_int_cs) + skew_time_us(version, 255, master_adver_int_cs)
}

/// The agent's liveness lease (`AgentLease`): how old the last renewal may be before the XDP
/// program fences the datapath (stops answering ARP/NS for the VIPs and drops requests for
/// them, so the kernel cannot answer either), given the shortest advertisement interval
/// `shortest_adver_int_us` of the agent's instances.
///
/// The argument, with I = that interval and t_a = the stopped master's last advert:
/// - the earliest a backup can take over is Master_Down_Interval after t_a, and
///   Master_Down_Interval = 3 × I + Skew_Time > 3 × I (a v3 backup learns I from the master;
///   a v2 backup's interval is configured the same on every router);
/// - a master renews the lease on every turn of its event loop, and it has a turn at least
///   at every advert; so its last renewal t_r is no earlier than t_a and, because the turn
///   that would send the next advert renews first, before t_a + I;
/// - the fence is up at t_r + `fence_after` < t_a + I + `fence_after`.
///
/// `fence_after` = 2 × I therefore fences the stopped master before t_a + 3 × I, that is
/// before the earliest takeover. The margin against a healthy agent being fenced is
/// `fence_after` − [`lease_renewal_us`] = 1.5 × I of scheduling delay: at 1 s adverts 1.5 s,
/// at 100 ms 150 ms, at 10 ms only 15 ms (a loaded host may fence a healthy agent briefly:
/// it answers again at its next renewal).
///
/// A hitless restart (`SIGQUIT`, then a new agent adopting the pins) must renew within this
/// bound after the old agent's last renewal, and send its first advert before 3 × I: at 1 s
/// adverts that leaves 2 s, plenty; at 100 ms it leaves 200 ms, about what loading and
/// verifying the XDP program takes on a small host; at 10 ms it is not possible.
pub fn lease_fence_after_us(shortest_adver_int_us: Micros) -> Micros {
    2 * shortest_adver_int_us
}

/// How often a quiet agent renews its lease at the latest (every event loop turn renews
/// too): a quarter of [`lease_fence_after_us`], i.e. half the shortest interval.
pub fn lease_renewal_us(fence_after_us: Micros) -> Micros {
    fence_after_us / 4
}

/// Used when no instance runs (the lease still tells `status` the agent is alive).
pub const LEASE_DEFAULT_INTERVAL_US: Micros = US_PER_S;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lease_fences_the_master_before_the_earliest_takeover() {
        for cs in [1u16, 10, 100, 4095] {
            let i = cs_to_us(cs);
            let fence = lease_fence_after_us(i);
            // Last renewal at most one interval after the last advert.
            let latest_fence = i + fence;
            // The fastest backup: priority 254, the smallest skew.
            for version in [Version::V2, Version::V3] {
                if version == Version::V2 && cs % 100 != 0 {
                    continue;
                }
                let takeover = master_down_interval_us(version, 254, cs);
                assert!(latest_fence <= 3 * i && 3 * i < takeover, "{cs} cs {version:?}: fence {latest_fence} takeover {takeover}");
            }
            // A healthy agent renews well inside the bound.
            assert!(lease_renewal_us(fence) * 4 == fence && lease_renewal_us(fence) > 0);
        }
        assert_eq!(lease_fence_after_us(cs_to_us(100)), 2_000_000);
        assert_eq!(lease_renewal_us(lease_fence_after_us(cs_to_us(10))), 50_000);
    }
}
