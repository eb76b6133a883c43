//! Unsolicited neighbour advertisements (RFC 4861 §4.4, §7.2.6): what a new master sends for
//! each IPv6 VIP, as it sends gratuitous ARP for each IPv4 one (RFC 9568 §6.4.2).
//!
//! ```text
//! Ethernet  33:33:00:00:00:01 <- our MAC, type 0x86dd
//! IPv6      VIP -> ff02::1, next header 58, hop limit 255
//! ICMPv6    type 136, code 0, checksum (pseudo header)
//!           R S O reserved(29)        R = 1 (a VRRP router), S = 0, O = 1
//!           target address = VIP
//!           option 2 (target link-layer address), length 1 (8 bytes), our MAC
//! ```
//!
//! RFC 9568 §6.4.2 asks for the Router flag; keepalived sets it only when the interface
//! forwards IPv6. We follow the RFC: a host running VRRP for an address is that address's
//! router.
//!
//! Nothing here panics.

use std::net::Ipv6Addr;

use super::{checksum, ethernet, ipv6_emit};

/// ICMPv6 type of a neighbour advertisement.
pub const ICMPV6_NEIGHBOR_ADVERT: u8 = 136;
/// NA flag: the sender is a router.
pub const FLAG_ROUTER: u8 = 0x80;
/// NA flag: an answer to a solicitation.
pub const FLAG_SOLICITED: u8 = 0x40;
/// NA flag: replace a cached link-layer address.
pub const FLAG_OVERRIDE: u8 = 0x20;
/// ND option type: target link-layer address.
pub const OPT_TARGET_LLADDR: u8 = 2;
/// ICMPv6 part: 4 (type, code, checksum) + 4 (flags, reserved) + 16 (target) + 8 (option).
pub const ICMP_LEN: usize = 32;
/// The whole frame: Ethernet + IPv6 + ICMPv6.
pub const FRAME_LEN: usize = ethernet::HEADER_LEN + ipv6_emit::HEADER_LEN + ICMP_LEN;

/// The frame announcing that `target` (one of our VIPs) is at `mac`, to all nodes, with the
/// Router and Override flags (Solicited clear). The IPv6 source is the VIP itself, an
/// address of the interface (RFC 4861 §7.2.6), as keepalived sends it.
pub fn unsolicited_frame(mac: [u8; 6], target: Ipv6Addr) -> Vec<u8> {
    let mut f = vec![0u8; FRAME_LEN];
    ethernet::emit_header(&mut f, ethernet::ipv6_multicast_mac(ipv6_emit::ALL_NODES), mac, ethernet::ETHERTYPE_IPV6);
    let ip = ethernet::HEADER_LEN;
    let icmp = ip + ipv6_emit::HEADER_LEN;
    ipv6_emit::HeaderRepr {
        src: target,
        dst: ipv6_emit::ALL_NODES,
        next_header: ipv6_emit::NEXT_HEADER_ICMPV6,
        hop_limit: ipv6_emit::HOP_LIMIT,
        traffic_class: 0,
        payload_len: ICMP_LEN as u16,
    }
    .emit(&mut f[ip..icmp]);
    let m = &mut f[icmp..];
    m[0] = ICMPV6_NEIGHBOR_ADVERT;
    m[1] = 0;
    m[4] = FLAG_ROUTER | FLAG_OVERRIDE;
    m[8..24].copy_from_slice(&target.octets());
    m[24] = OPT_TARGET_LLADDR;
    m[25] = 1;
    m[26..32].copy_from_slice(&mac);
    let pseudo = checksum::pseudo_header_v6(target, ipv6_emit::ALL_NODES, ipv6_emit::NEXT_HEADER_ICMPV6, ICMP_LEN as u32);
    let sum = checksum::fold(checksum::ones_complement_sum(m, pseudo));
    m[2..4].copy_from_slice(&sum.to_be_bytes());
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn golden_frame() {
        let mac = [0x02, 0x76, 0x72, 0x00, 0x00, 0x02];
        let vip: Ipv6Addr = "2001:db8::100".parse().expect("addr");
        let f = unsolicited_frame(mac, vip);
        #[rustfmt::skip]
        let golden: [u8; FRAME_LEN] = [
            // Ethernet: all-nodes MAC <- ours, IPv6
            0x33, 0x33, 0x00, 0x00, 0x00, 0x01, 0x02, 0x76, 0x72, 0x00, 0x00, 0x02, 0x86, 0xdd,
            // IPv6: version 6, TC 0, flow 0; payload 32, ICMPv6, hop limit 255
            0x60, 0x00, 0x00, 0x00, 0x00, 0x20, 0x3a, 0xff,
            0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x00,
            0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01,
            // ICMPv6 NA, code 0, checksum (computed with an outside tool)
            0x88, 0x00, 0x04, 0xb5,
            // R=1 S=0 O=1, reserved
            0xa0, 0x00, 0x00, 0x00,
            // target
            0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x00,
            // target link-layer address option
            0x02, 0x01, 0x02, 0x76, 0x72, 0x00, 0x00, 0x02,
        ];
        assert_eq!(f, golden);
    }

    #[test]
    fn checksum_verifies_for_any_target() {
        for (i, target) in ["fe80::1", "2001:db8::1", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", "fe80::5efe:c612:1"].iter().enumerate() {
            let t: Ipv6Addr = target.parse().expect("addr");
            let f = unsolicited_frame([0x02, 0, 0, 0, 0, i as u8], t);
            let icmp = &f[54..];
            let pseudo = checksum::pseudo_header_v6(t, ipv6_emit::ALL_NODES, 58, icmp.len() as u32);
            assert_eq!(checksum::fold(checksum::ones_complement_sum(icmp, pseudo)), 0, "{target}");
            assert_eq!(&f[22..38], &t.octets(), "source is the VIP");
            assert_eq!(&f[62..78], &t.octets(), "target is the VIP");
        }
    }
}
