//! Wire formats: VRRP (v2, RFC 3768; v3, RFC 9568), a minimal IPv4 header,
//! the IPv6 header the agent sends, Ethernet II headers, ARP and unsolicited
//! neighbour advertisements.
//!
//! The layout follows smoltcp's `wire` module: each protocol has a zero-copy
//! view over a byte buffer (`Packet<T: AsRef<[u8]>>`) with field accessors, and
//! a high-level `Repr` that is `parse`d from, and `emit`ted into, bytes.
//!
//! # Panics
//!
//! Nothing reachable from untrusted bytes panics: every `parse` /
//! `new_checked` function returns an [`Error`] for malformed input. The
//! functions that may panic are the ones that *write* into a caller-supplied
//! buffer (the buffer is too short) or that are handed an inconsistent
//! locally-built `Repr`; each documents its conditions under `# Panics`.

use std::net::Ipv4Addr;

pub mod arp;
pub mod checksum;
pub mod ethernet;
pub mod ipv4;
/// IPv6 receive side (h-v6rx): header and neighbour-discovery decoding.
pub mod ipv6_decode;
pub mod ipv6_emit;
pub mod na;
pub mod vrrp;

/// Error returned when parsing or validating any of the wire formats.
///
/// One type is shared by all the submodules; `vrrp::Error`, `ipv4::Error`
/// and `arp::Error` are re-exports of it.
#[derive(Debug, Clone, Copy, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// The buffer is shorter than the header, or than the lengths it declares.
    #[error("packet truncated")]
    Truncated,
    /// Unsupported protocol version (VRRP: not 2 or 3, or v2 over IPv6;
    /// IPv4 header: not 4).
    #[error("unsupported version {0}")]
    BadVersion(u8),
    /// VRRP type other than 1 (advertisement).
    #[error("unsupported VRRP packet type {0}")]
    BadType(u8),
    /// Checksum mismatch.
    #[error("bad checksum")]
    BadChecksum,
    /// VRRP address count of zero (or, for `Repr`s being emitted, above 255).
    #[error("bad VRRP address count")]
    BadAddressCount,
    /// VRRP advertisement interval of zero, or not representable in the
    /// version's field.
    #[error("bad VRRP advertisement interval")]
    BadInterval,
    /// VRRPv2 authentication type other than 0, 1 or 2.
    #[error("unsupported VRRPv2 authentication type {0}")]
    BadAuthType(u8),
    /// A length field is inconsistent: VRRP message longer than its address
    /// count implies, IPv4 IHL below 5 or total length below the header length.
    #[error("inconsistent length")]
    BadLength,
    /// Mixed IPv4/IPv6 addresses, or addresses of a family that does not
    /// match the carrier.
    #[error("address family mismatch")]
    BadAddressFamily,
    /// IPv4 packet is a fragment (MF set or non-zero offset).
    #[error("fragmented IPv4 packet")]
    Fragmented,
    /// Ethernet frame with an unexpected ethertype.
    #[error("unexpected ethertype {0:#06x}")]
    BadEthertype(u16),
    /// ARP hardware/protocol type or address lengths other than Ethernet/IPv4.
    #[error("ARP packet is not Ethernet/IPv4")]
    BadArpFormat,
    /// ARP operation other than request (1) or reply (2).
    #[error("unsupported ARP operation {0}")]
    BadOperation(u16),
}

/// Test/bench helper: a complete Ethernet + IPv4 + VRRP frame as a router puts
/// it on the wire, so callers can craft valid and invalid adverts.
///
/// * Ethernet: destination = [`ethernet::ipv4_multicast_mac`]`(dst)` when
///   `dst` is multicast (224.0.0.18 normally), otherwise broadcast (unicast
///   VRRP peers: no neighbour MAC is known here); source = `src_mac`.
/// * IPv4: 20-byte header from [`ipv4::HeaderRepr::emit`] (TOS 0xc0, ident 0,
///   DF clear, protocol 112, the given `ttl`).
/// * VRRP: `vrrp` emitted with `mode` (see [`vrrp::Repr::emit`]).
/// * The frame is zero-padded to the 60-byte Ethernet minimum (FCS excluded),
///   exactly as a receiver sees it, so parsers must use the IPv4 total length,
///   not the frame length, to find the end of the VRRP message.
///
/// # Panics
///
/// As [`vrrp::Repr::emit`]: if `vrrp` fails [`vrrp::Repr::validate`] for an
/// IPv4 carrier `src`/`dst` (e.g. v6 addresses or a zero address count).
pub fn vrrp_frame_v4(
    src_mac: [u8; 6],
    src: Ipv4Addr,
    dst: Ipv4Addr,
    ttl: u8,
    vrrp: &vrrp::Repr,
    mode: vrrp::ChecksumMode,
) -> Vec<u8> {
    let carrier = vrrp::Carrier {
        src: src.into(),
        dst: dst.into(),
    };
    // Emit (and so validate) the VRRP message first.
    let message = vrrp.to_bytes(&carrier, mode);
    let ip_start = ethernet::HEADER_LEN;
    let vrrp_start = ip_start + ipv4::HEADER_LEN;
    let vrrp_end = vrrp_start + message.len();
    let mut frame = vec![0u8; vrrp_end.max(ethernet::MIN_FRAME_LEN)];
    let dst_mac = if dst.is_multicast() {
        ethernet::ipv4_multicast_mac(dst)
    } else {
        ethernet::BROADCAST
    };
    ethernet::emit_header(&mut frame, dst_mac, src_mac, ethernet::ETHERTYPE_IPV4);
    // A valid Repr is at most 8 + 255 * 4 + 8 bytes over IPv4.
    let payload_len = u16::try_from(message.len()).expect("VRRP message fits in IPv4");
    ipv4::HeaderRepr {
        src,
        dst,
        protocol: vrrp::IP_PROTO_VRRP,
        ttl,
        payload_len,
        ident: 0,
    }
    .emit(&mut frame[ip_start..vrrp_start]);
    frame[vrrp_start..vrrp_end].copy_from_slice(&message);
    frame
}

/// Test/bench helper: `frame` (Ethernet + an IPv4 header without options + payload, as
/// [`vrrp_frame_v4`] builds it) with `options` inserted after the IPv4 header: IHL, total
/// length and header checksum updated. Anything after the IPv4 total length (Ethernet
/// padding) is dropped.
///
/// # Panics
///
/// If `options.len()` is not a multiple of 4 or above 40, or `frame` is shorter than its
/// Ethernet and IPv4 headers or its IPv4 total length.
pub fn with_ipv4_options(frame: &[u8], options: &[u8]) -> Vec<u8> {
    assert!(options.len().is_multiple_of(4) && options.len() <= 40, "IPv4 options: whole words, at most 40 bytes");
    let ip = ethernet::HEADER_LEN;
    let total = usize::from(u16::from_be_bytes([frame[ip + 2], frame[ip + 3]]));
    let mut out = frame[..ip + ipv4::HEADER_LEN].to_vec();
    out.extend_from_slice(options);
    out.extend_from_slice(&frame[ip + ipv4::HEADER_LEN..ip + total]);
    out[ip] = 0x40 | ((ipv4::HEADER_LEN + options.len()) / 4) as u8;
    let new_total = (total + options.len()) as u16;
    out[ip + 2..ip + 4].copy_from_slice(&new_total.to_be_bytes());
    out[ip + 10..ip + 12].copy_from_slice(&[0, 0]);
    let hl = ipv4::HEADER_LEN + options.len();
    let c = checksum::fold(checksum::ones_complement_sum(&out[ip..ip + hl], 0));
    out[ip + 10..ip + 12].copy_from_slice(&c.to_be_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::vrrp::{Auth, ChecksumMode, Repr, Version};
    use super::*;
    use std::net::IpAddr;

    fn repr() -> Repr {
        Repr {
            version: Version::V3,
            vrid: 51,
            priority: 150,
            adver_int_cs: 100,
            auth: Auth::None,
            addresses: vec![IpAddr::V4(Ipv4Addr::new(192, 0, 2, 100))],
        }
    }

    #[test]
    fn frame_layout_and_roundtrip() {
        let mac = [0x02, 0, 0, 0, 0, 1];
        let src = Ipv4Addr::new(192, 0, 2, 1);
        for mode in [ChecksumMode::Plain, ChecksumMode::PseudoHeader] {
            let f = vrrp_frame_v4(mac, src, vrrp::MCAST_V4, 255, &repr(), mode);
            assert_eq!(f.len(), 60, "padded to the Ethernet minimum");
            let (dst, smac, et) = ethernet::parse_header(&f).expect("eth");
            assert_eq!(dst, [0x01, 0x00, 0x5e, 0x00, 0x00, 0x12]);
            assert_eq!(smac, mac);
            assert_eq!(et, ethernet::ETHERTYPE_IPV4);
            let ip = &f[ethernet::HEADER_LEN..];
            let (h, hl) = ipv4::HeaderRepr::parse(ip).expect("ip");
            assert_eq!(hl, 20);
            assert_eq!(h.ttl, 255);
            assert_eq!(h.protocol, 112);
            assert_eq!(h.src, src);
            assert_eq!(h.dst, vrrp::MCAST_V4);
            assert_eq!(ip[1], ipv4::TOS_NETWORK_CONTROL);
            let payload = &ip[hl..hl + usize::from(h.payload_len)];
            let carrier = vrrp::Carrier {
                src: src.into(),
                dst: vrrp::MCAST_V4.into(),
            };
            let (r, m) = Repr::parse(payload, &carrier).expect("vrrp");
            assert_eq!(r, repr());
            assert_eq!(m, mode);
        }
    }

    #[test]
    fn unicast_destination_uses_broadcast_mac_and_large_frames_are_unpadded() {
        let mut r = repr();
        r.addresses = (1..=20)
            .map(|i| IpAddr::V4(Ipv4Addr::new(10, 0, 0, i)))
            .collect();
        let dst = Ipv4Addr::new(192, 0, 2, 2);
        let f = vrrp_frame_v4(
            [2; 6],
            Ipv4Addr::new(192, 0, 2, 1),
            dst,
            255,
            &r,
            ChecksumMode::Plain,
        );
        assert_eq!(&f[..6], &ethernet::BROADCAST);
        assert_eq!(f.len(), 14 + 20 + 8 + 80);
    }
}
