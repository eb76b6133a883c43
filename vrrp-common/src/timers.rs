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
