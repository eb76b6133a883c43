//! IPv6, the sending side: the fixed 40-byte header (RFC 8200 §3) as the agent writes it on
//! its header-included raw socket, and a complete Ethernet + IPv6 + VRRPv3 frame for tests.
//!
//! (Decoding IPv6 adverts is the receive side's; the two halves share `checksum`'s pseudo
//! header and `vrrp::Repr`.)
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |Version| Traffic Class |           Flow Label                  |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |         Payload Length        |  Next Header  |   Hop Limit   |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                  Source Address (16 bytes)                    |
//! |               Destination Address (16 bytes)                  |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use std::net::Ipv6Addr;

use super::{ethernet, vrrp};

/// Length of the fixed IPv6 header.
pub const HEADER_LEN: usize = 40;
/// Next header value of ICMPv6.
pub const NEXT_HEADER_ICMPV6: u8 = 58;
/// The hop limit VRRP (RFC 9568 §5.1.2.3) and neighbour discovery (RFC 4861 §7.1.2) need:
/// a receiver drops anything else, so a packet from off-link cannot pass.
pub const HOP_LIMIT: u8 = 255;
/// Traffic class of adverts: CS6 "network control", the IPv4 TOS 0xc0 the v4 adverts carry.
pub const TCLASS_NETWORK_CONTROL: u8 = 0xc0;
/// All-nodes link-local multicast (RFC 4291 §2.7.1), where unsolicited NAs go.
pub const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

/// Whether `a` is a link-local unicast address (fe80::/10), the only source RFC 9568
/// §5.1.2.1 allows for an IPv6 advert.
pub fn is_link_local(a: &Ipv6Addr) -> bool {
    a.segments()[0] & 0xffc0 == 0xfe80
}

/// The fixed IPv6 header, without extension headers. Flow label 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderRepr {
    pub src: Ipv6Addr,
    pub dst: Ipv6Addr,
    pub next_header: u8,
    pub hop_limit: u8,
    pub traffic_class: u8,
    /// Length of what follows the 40-byte header.
    pub payload_len: u16,
}

impl HeaderRepr {
    /// Writes the header into `buf[..40]`.
    ///
    /// # Panics
    ///
    /// If `buf.len() < HEADER_LEN`.
    pub fn emit(&self, buf: &mut [u8]) {
        assert!(buf.len() >= HEADER_LEN, "IPv6 header needs 40 bytes");
        let tc = self.traffic_class;
        // Version 6, traffic class split over the first two bytes, flow label 0.
        buf[0] = 0x60 | (tc >> 4);
        buf[1] = tc << 4;
        buf[2] = 0;
        buf[3] = 0;
        buf[4..6].copy_from_slice(&self.payload_len.to_be_bytes());
        buf[6] = self.next_header;
        buf[7] = self.hop_limit;
        buf[8..24].copy_from_slice(&self.src.octets());
        buf[24..40].copy_from_slice(&self.dst.octets());
    }
}

/// An IPv6 header and a VRRP message after it: what the agent hands its header-included
/// raw socket. `vrrp_msg` is already emitted (checksum over the IPv6 pseudo header made
/// with the same `src` and `dst`).
///
/// # Panics
///
/// If `vrrp_msg` is longer than 65535 bytes (a valid advert is at most 8 + 255 × 16).
pub fn vrrp_packet(src: Ipv6Addr, dst: Ipv6Addr, vrrp_msg: &[u8]) -> Vec<u8> {
    let payload_len = u16::try_from(vrrp_msg.len()).expect("VRRP message fits in IPv6");
    let mut buf = vec![0u8; HEADER_LEN + vrrp_msg.len()];
    HeaderRepr {
        src,
        dst,
        next_header: vrrp::IP_PROTO_VRRP,
        hop_limit: HOP_LIMIT,
        traffic_class: TCLASS_NETWORK_CONTROL,
        payload_len,
    }
    .emit(&mut buf[..HEADER_LEN]);
    buf[HEADER_LEN..].copy_from_slice(vrrp_msg);
    buf
}

/// Test/bench helper: a complete Ethernet + IPv6 + VRRPv3 frame as a router puts it on the
/// wire: Ethernet destination the group's MAC when `dst` is multicast (33:33:00:00:00:12 for
/// ff02::12), else broadcast (no neighbour MAC known here); the IPv6 header of
/// [`vrrp_packet`] with the given `hop_limit`; the advert with the pseudo-header checksum
/// (always, over IPv6). No padding is needed: the frame is longer than 60 bytes.
///
/// # Panics
///
/// As [`vrrp::Repr::emit`]: if `vrrp` fails [`vrrp::Repr::validate`] over IPv6 (v2, no
/// address, an IPv4 address).
pub fn vrrp_frame_v6(src_mac: [u8; 6], src: Ipv6Addr, dst: Ipv6Addr, hop_limit: u8, vrrp: &vrrp::Repr) -> Vec<u8> {
    let carrier = vrrp::Carrier { src: src.into(), dst: dst.into() };
    let message = vrrp.to_bytes(&carrier, vrrp::ChecksumMode::PseudoHeader);
    let mut packet = vrrp_packet(src, dst, &message);
    packet[7] = hop_limit;
    let dst_mac = if dst.is_multicast() { ethernet::ipv6_multicast_mac(dst) } else { ethernet::BROADCAST };
    let mut frame = vec![0u8; ethernet::HEADER_LEN];
    ethernet::emit_header(&mut frame, dst_mac, src_mac, ethernet::ETHERTYPE_IPV6);
    frame.extend_from_slice(&packet);
    frame
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::vrrp::{Auth, Repr, Version};
    use std::net::IpAddr;

    fn addr(s: &str) -> Ipv6Addr {
        s.parse().expect("address")
    }

    /// The Internet checksum written out longhand, byte pair by byte pair, over an explicit
    /// pseudo header buffer: an independent computation to check `checksum` against.
    fn naive_checksum(src: Ipv6Addr, dst: Ipv6Addr, next: u8, payload: &[u8]) -> u16 {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&src.octets());
        bytes.extend_from_slice(&dst.octets());
        bytes.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        bytes.extend_from_slice(&[0, 0, 0, next]);
        bytes.extend_from_slice(payload);
        if bytes.len() % 2 == 1 {
            bytes.push(0);
        }
        let mut sum: u64 = 0;
        for pair in bytes.chunks(2) {
            sum += (u64::from(pair[0]) << 8) | u64::from(pair[1]);
        }
        while sum >> 16 != 0 {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        !(sum as u16)
    }

    fn advert() -> Repr {
        Repr {
            version: Version::V3,
            vrid: 51,
            priority: 100,
            adver_int_cs: 10,
            auth: Auth::None,
            addresses: vec![IpAddr::V6(addr("fe80::51")), IpAddr::V6(addr("2001:db8::100"))],
        }
    }

    #[test]
    fn header_fields() {
        let mut b = [0u8; 40];
        HeaderRepr {
            src: addr("fe80::1"),
            dst: vrrp::MCAST_V6,
            next_header: 112,
            hop_limit: 255,
            traffic_class: 0xc0,
            payload_len: 40,
        }
        .emit(&mut b);
        assert_eq!(&b[..8], &[0x6c, 0x00, 0, 0, 0, 40, 112, 255], "version 6, TC 0xc0, flow 0, length, NH, hop limit");
        assert_eq!(&b[8..24], &addr("fe80::1").octets());
        assert_eq!(&b[24..40], &addr("ff02::12").octets());
    }

    #[test]
    fn link_local_is_fe80_slash_10() {
        assert!(is_link_local(&addr("fe80::1")));
        assert!(is_link_local(&addr("febf::1")));
        assert!(!is_link_local(&addr("fec0::1")));
        assert!(!is_link_local(&addr("2001:db8::1")));
        assert!(!is_link_local(&addr("ff02::12")));
    }

    /// Every byte of a v3 advert over IPv6, checksum included, against a hand-made frame,
    /// and the checksum against the longhand computation.
    #[test]
    fn golden_advert_frame() {
        let mac = [0x02, 0x76, 0x72, 0, 0, 1];
        let src = addr("fe80::1");
        let f = vrrp_frame_v6(mac, src, vrrp::MCAST_V6, 255, &advert());
        let vrrp_msg = &f[14 + 40..];
        assert_eq!(vrrp_msg.len(), 8 + 2 * 16);
        let want_sum = naive_checksum(src, vrrp::MCAST_V6, 112, &{
            let mut m = vrrp_msg.to_vec();
            m[6] = 0;
            m[7] = 0;
            m
        });
        #[rustfmt::skip]
        let mut golden: Vec<u8> = vec![
            // Ethernet: 33:33:00:00:00:12 <- our MAC, IPv6
            0x33, 0x33, 0x00, 0x00, 0x00, 0x12, 0x02, 0x76, 0x72, 0x00, 0x00, 0x01, 0x86, 0xdd,
            // IPv6: v6 TC 0xc0, payload 40, next header 112, hop limit 255
            0x6c, 0x00, 0x00, 0x00, 0x00, 0x28, 0x70, 0xff,
            0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01,
            0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x12,
            // VRRP: v3 advert, VRID 51, priority 100, 2 addresses, 10 cs, checksum
            0x31, 51, 100, 2, 0x00, 0x0a, 0x00, 0x00,
            0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x51,
            0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x00,
        ];
        golden[14 + 40 + 6..14 + 40 + 8].copy_from_slice(&want_sum.to_be_bytes());
        assert_eq!(f, golden);
        // Computed once with an outside tool (fe80::1 -> ff02::12, this message): a fixed number, so a
        // change in both implementations at once is still caught.
        assert_eq!(want_sum, 0x3f06, "checksum {want_sum:#06x}");
    }

    #[test]
    fn checksum_matches_the_longhand_for_many_messages() {
        for vrid in [1u8, 51, 200, 255] {
            for prio in [0u8, 1, 100, 254, 255] {
                for n in [1usize, 2, 7, 90] {
                    let r = Repr {
                        version: Version::V3,
                        vrid,
                        priority: prio,
                        adver_int_cs: u16::from(vrid) * 16 % 4095 + 1,
                        auth: Auth::None,
                        addresses: (0..n).map(|i| IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, vrid.into(), i as u16))).collect(),
                    };
                    let src = Ipv6Addr::new(0xfe80, 0, 0, 0, 0x76, 0x72ff, 0xfe00, u16::from(prio));
                    for dst in [vrrp::MCAST_V6, addr("2001:db8::2"), addr("fe80::2")] {
                        let f = vrrp_frame_v6([2; 6], src, dst, 255, &r);
                        let msg = &f[54..];
                        let mut zeroed = msg.to_vec();
                        zeroed[6..8].fill(0);
                        assert_eq!(u16::from_be_bytes([msg[6], msg[7]]), naive_checksum(src, dst, 112, &zeroed));
                        let carrier = vrrp::Carrier { src: src.into(), dst: dst.into() };
                        let (back, _) = Repr::parse(msg, &carrier).expect("parses back");
                        assert_eq!(back, r);
                        assert_eq!(u16::from_be_bytes([f[18], f[19]]) as usize, msg.len());
                    }
                }
            }
        }
    }

    #[test]
    fn unicast_peer_gets_broadcast_mac_in_the_test_frame() {
        let f = vrrp_frame_v6([2; 6], addr("fe80::1"), addr("2001:db8::2"), 255, &advert());
        assert_eq!(&f[..6], &ethernet::BROADCAST);
        assert_eq!(&f[38..54], &addr("2001:db8::2").octets());
    }
}
