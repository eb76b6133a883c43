//! Another host announcing one of our VIPs: the XDP program counts every such ARP frame and
//! reports it (at most once per VIP per 100 ms) through the `VIP_CONFLICTS` ring buffer. This
//! logs the reports with the offender's MAC, at most once per second per VIP, saying how many
//! more were seen in between, so a flood of forged ARP cannot flood the log.
use std::{collections::HashMap, net::Ipv4Addr};

use vrrp_common::VipConflictEvent;

/// Minimum time between two log lines for the same VIP.
pub const LOG_EVERY_NS: u64 = 1_000_000_000;

/// Per-VIP rate limit of the conflict log lines.
#[derive(Debug, Default)]
pub struct ConflictLog {
    /// (ifindex, VIP) → (time of the last line, reports not logged since).
    seen: HashMap<(u32, Ipv4Addr), (u64, u64)>,
}

/// What to log for one report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    pub vip: Ipv4Addr,
    pub ifindex: u32,
    pub vrid: u16,
    pub mac: [u8; 6],
    pub op: &'static str,
    /// Reports for this VIP that were not logged since the last line.
    pub suppressed: u64,
}

/// `aa:bb:cc:dd:ee:ff`
pub fn fmt_mac(m: &[u8; 6]) -> String {
    format!("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", m[0], m[1], m[2], m[3], m[4], m[5])
}

impl std::fmt::Display for Conflict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "VIP conflict: {} (VRID {}) claimed by {} (ARP {}); clients may follow it",
            self.vip,
            self.vrid,
            fmt_mac(&self.mac),
            self.op
        )?;
        if self.suppressed > 0 {
            write!(f, " ({} more report(s) since the last line)", self.suppressed)?;
        }
        Ok(())
    }
}

impl ConflictLog {
    /// Returns the line to log for `ev` received at `now_ns`, or `None` if this VIP was
    /// logged less than a second ago (the report is then counted for the next line).
    pub fn handle(&mut self, ev: &VipConflictEvent, now_ns: u64) -> Option<Conflict> {
        let vip = Ipv4Addr::from(ev.vip.addr_v4);
        let entry = self.seen.entry((ev.vip.ifindex, vip)).or_insert((0, 0));
        if entry.0 != 0 && now_ns.saturating_sub(entry.0) < LOG_EVERY_NS {
            entry.1 += 1;
            return None;
        }
        let suppressed = std::mem::take(&mut entry.1);
        entry.0 = now_ns.max(1);
        Some(Conflict {
            vip,
            ifindex: ev.vip.ifindex,
            vrid: ev.vrid,
            mac: ev.mac(),
            op: match ev.op {
                1 => "request",
                2 => "reply",
                _ => "?",
            },
            suppressed,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vrrp_common::{VipKey, VipValue};

    fn ev(addr: [u8; 4], mac: [u8; 6]) -> VipConflictEvent {
        let v = VipValue::new(mac, 7);
        VipConflictEvent { vip: VipKey { ifindex: 3, addr_v4: addr }, ts_ns: 0, mac_hi: v.mac_hi, mac_lo: v.mac_lo, vrid: 7, op: 2, _pad: 0 }
    }

    #[test]
    fn at_most_one_line_per_second_per_vip() {
        let mut log = ConflictLog::default();
        let a = ev([198, 18, 0, 100], [2, 0, 0, 0, 0, 9]);
        let b = ev([198, 18, 0, 101], [2, 0, 0, 0, 0, 9]);
        let first = log.handle(&a, 5).expect("first report is logged");
        assert_eq!(first.to_string(), "VIP conflict: 198.18.0.100 (VRID 7) claimed by 02:00:00:00:00:09 (ARP reply); clients may follow it");
        assert!(log.handle(&a, 5 + 100_000_000).is_none());
        assert!(log.handle(&a, 5 + 999_999_999).is_none());
        assert!(log.handle(&b, 5 + 999_999_999).is_some(), "another VIP has its own limit");
        let next = log.handle(&a, 5 + LOG_EVERY_NS).expect("a second later");
        assert_eq!(next.suppressed, 2);
        assert!(next.to_string().ends_with("(2 more report(s) since the last line)"));
    }
}
