//! Another host announcing one of our VIPs: the XDP program counts every such ARP frame
//! (IPv4) or neighbour advertisement (IPv6) and reports it (at most once per VIP per 100 ms)
//! through the `VIP_CONFLICTS` ring buffer. This logs the reports with the offender's MAC, at
//! most once per second per VIP, saying how many more were seen in between, so a flood of
//! forged ARP or NA cannot flood the log.
use std::{collections::HashMap, net::IpAddr};

use vrrp_common::{VipConflictEvent, conflict_op};

/// Minimum time between two log lines for the same VIP.
pub const LOG_EVERY_NS: u64 = 1_000_000_000;

/// Per-VIP rate limit of the conflict log lines.
#[derive(Debug, Default)]
pub struct ConflictLog {
    /// (ifindex, VIP) → (time of the last line, reports not logged since).
    seen: HashMap<(u32, IpAddr), (u64, u64)>,
}

/// What to log for one report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    pub vip: IpAddr,
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
            "VIP conflict: {} (VRID {}) claimed by {} ({}); clients may follow it",
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
        let vip = ev.vip();
        let entry = self.seen.entry((ev.ifindex, vip)).or_insert((0, 0));
        if entry.0 != 0 && now_ns.saturating_sub(entry.0) < LOG_EVERY_NS {
            entry.1 += 1;
            return None;
        }
        let suppressed = std::mem::take(&mut entry.1);
        entry.0 = now_ns.max(1);
        Some(Conflict {
            vip,
            ifindex: ev.ifindex,
            vrid: ev.vrid,
            mac: ev.mac(),
            op: match ev.op {
                conflict_op::ARP_REQUEST => "ARP request",
                conflict_op::ARP_REPLY => "ARP reply",
                conflict_op::NEIGHBOUR_ADVERT => "neighbour advertisement",
                _ => "?",
            },
            suppressed,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};
    use vrrp_common::{AF_INET, AF_INET6, VipValue};

    fn ev(vip: IpAddr, mac: [u8; 6], op: u16) -> VipConflictEvent {
        let v = VipValue::new(mac, 7);
        let (family, addr) = match vip {
            IpAddr::V4(a) => {
                let mut b = [0; 16];
                b[..4].copy_from_slice(&a.octets());
                (AF_INET, b)
            }
            IpAddr::V6(a) => (AF_INET6, a.octets()),
        };
        VipConflictEvent { ifindex: 3, family, vrid: 7, addr, ts_ns: 0, mac_hi: v.mac_hi, mac_lo: v.mac_lo, op }
    }

    /// One rule for both families: the first report is logged, then at most one line per
    /// second per VIP, the reports in between counted on the next line.
    #[test]
    fn at_most_one_line_per_second_per_vip_of_either_family() {
        let v4 = |d| IpAddr::V4(Ipv4Addr::new(198, 18, 0, d));
        let v6 = |d| IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, d));
        for (a, b, op, says) in [
            (v4(100), v4(101), conflict_op::ARP_REPLY, "VIP conflict: 198.18.0.100 (VRID 7) claimed by 02:00:00:00:00:09 (ARP reply); clients may follow it"),
            (v6(0x100), v6(0x101), conflict_op::NEIGHBOUR_ADVERT, "VIP conflict: 2001:db8::100 (VRID 7) claimed by 02:00:00:00:00:09 (neighbour advertisement); clients may follow it"),
        ] {
            let mut log = ConflictLog::default();
            let (a, b) = (ev(a, [2, 0, 0, 0, 0, 9], op), ev(b, [2, 0, 0, 0, 0, 9], op));
            let first = log.handle(&a, 5).expect("first report is logged");
            assert_eq!(first.to_string(), says);
            assert!(log.handle(&a, 5 + 100_000_000).is_none());
            assert!(log.handle(&a, 5 + 999_999_999).is_none());
            assert!(log.handle(&b, 5 + 999_999_999).is_some(), "another VIP has its own limit");
            let next = log.handle(&a, 5 + LOG_EVERY_NS).expect("a second later");
            assert_eq!(next.suppressed, 2);
            assert!(next.to_string().ends_with("(2 more report(s) since the last line)"));
        }
    }

    #[test]
    fn an_ipv4_and_an_ipv6_vip_have_their_own_limits() {
        let mut log = ConflictLog::default();
        let a = ev(IpAddr::V4(Ipv4Addr::new(198, 18, 0, 100)), [2, 0, 0, 0, 0, 9], conflict_op::ARP_REQUEST);
        let b = ev(IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x100)), [2, 0, 0, 0, 0, 9], conflict_op::NEIGHBOUR_ADVERT);
        assert_eq!(log.handle(&a, 5).map(|c| c.vip), Some(a.vip()));
        assert_eq!(log.handle(&b, 6).map(|c| c.vip), Some(b.vip()));
        assert!(log.handle(&a, 7).is_none() && log.handle(&b, 8).is_none());
    }
}
