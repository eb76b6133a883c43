//! Helpers shared by the FSM's unit tests and its multi-router simulation.

use super::*;
use std::net::Ipv4Addr;

pub const MS: Nanos = 1_000_000;

/// `n` centiseconds, as a time on the simulated clock.
pub fn cs(n: u64) -> Nanos {
    n * 10 * MS
}

/// `n` microseconds, as a time on the simulated clock.
pub fn us(n: u64) -> Nanos {
    n * NANOS_PER_US
}

pub fn v4(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(198, 18, 0, last))
}

/// VRRPv3 at 1 s, keepalived's defaults, but no make-before-break (tests of it opt in).
pub fn params(priority: u8, last: u8) -> Params {
    Params {
        make_before_break: false,
        ..Params::new(Version::V3, priority, 100, v4(last))
    }
}

/// An advert from 198.18.0.`last` at 1 s.
pub fn advert(last: u8, priority: u8) -> Advert {
    Advert {
        src: v4(last),
        priority,
        max_adver_int_cs: 100,
    }
}

pub fn change(from: State, to: State, reason: Reason) -> Action {
    Action::StateChange { from, to, reason }
}
