//! Ethernet II headers (no 802.1Q tags) and the MAC addresses VRRP uses.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::Error;

pub const ETHERTYPE_IPV4: u16 = 0x0800;
pub const ETHERTYPE_ARP: u16 = 0x0806;
pub const ETHERTYPE_IPV6: u16 = 0x86dd;
/// The broadcast MAC address ff:ff:ff:ff:ff:ff.
pub const BROADCAST: [u8; 6] = [0xff; 6];
/// Length of an Ethernet II header: destination, source, ethertype.
pub const HEADER_LEN: usize = 14;
/// Minimum Ethernet frame length without the FCS; shorter frames are padded.
pub const MIN_FRAME_LEN: usize = 60;

/// Writes an Ethernet II header into `buf[..14]`.
///
/// # Panics
///
/// If `buf.len() < HEADER_LEN`.
pub fn emit_header(buf: &mut [u8], dst: [u8; 6], src: [u8; 6], ethertype: u16) {
    assert!(buf.len() >= HEADER_LEN, "ethernet header needs 14 bytes");
    buf[0..6].copy_from_slice(&dst);
    buf[6..12].copy_from_slice(&src);
    buf[12..14].copy_from_slice(&ethertype.to_be_bytes());
}

/// Reads an Ethernet II header: `(dst, src, ethertype)`. The payload starts at
/// `frame[HEADER_LEN..]` and may carry trailing padding.
pub fn parse_header(frame: &[u8]) -> Result<([u8; 6], [u8; 6], u16), Error> {
    let h = frame.get(..HEADER_LEN).ok_or(Error::Truncated)?;
    let mut dst = [0; 6];
    let mut src = [0; 6];
    dst.copy_from_slice(&h[0..6]);
    src.copy_from_slice(&h[6..12]);
    Ok((dst, src, u16::from_be_bytes([h[12], h[13]])))
}

/// The VRRP virtual router MAC for IPv4: 00:00:5e:00:01:{vrid} (RFC 9568 7.3).
pub fn virtual_mac_v4(vrid: u8) -> [u8; 6] {
    [0x00, 0x00, 0x5e, 0x00, 0x01, vrid]
}

/// The VRRP virtual router MAC for IPv6: 00:00:5e:00:02:{vrid} (RFC 9568 7.3).
pub fn virtual_mac_v6(vrid: u8) -> [u8; 6] {
    [0x00, 0x00, 0x5e, 0x00, 0x02, vrid]
}

/// The Ethernet address of an IPv4 multicast group (RFC 1112 6.4):
/// 01:00:5e followed by the low 23 bits of the address. 224.0.0.18 maps to
/// 01:00:5e:00:00:12. The address is not checked to be multicast.
pub fn ipv4_multicast_mac(addr: Ipv4Addr) -> [u8; 6] {
    let o = addr.octets();
    [0x01, 0x00, 0x5e, o[1] & 0x7f, o[2], o[3]]
}

/// The Ethernet address of an IPv6 multicast group (RFC 2464 7): 33:33
/// followed by the low 32 bits. ff02::12 maps to 33:33:00:00:00:12.
pub fn ipv6_multicast_mac(addr: Ipv6Addr) -> [u8; 6] {
    let o = addr.octets();
    [0x33, 0x33, o[12], o[13], o[14], o[15]]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macs() {
        assert_eq!(virtual_mac_v4(7), [0, 0, 0x5e, 0, 1, 7]);
        assert_eq!(virtual_mac_v6(255), [0, 0, 0x5e, 0, 2, 255]);
        assert_eq!(
            ipv4_multicast_mac(Ipv4Addr::new(224, 0, 0, 18)),
            [1, 0, 0x5e, 0, 0, 0x12]
        );
        assert_eq!(
            ipv4_multicast_mac(Ipv4Addr::new(239, 255, 1, 2)),
            [1, 0, 0x5e, 0x7f, 1, 2]
        );
        assert_eq!(
            ipv4_multicast_mac(Ipv4Addr::new(224, 128, 1, 2)),
            [1, 0, 0x5e, 0, 1, 2]
        );
        assert_eq!(
            ipv6_multicast_mac("ff02::12".parse().expect("addr")),
            [0x33, 0x33, 0, 0, 0, 0x12]
        );
    }

    #[test]
    fn header_roundtrip() {
        let mut buf = [0u8; 14];
        emit_header(&mut buf, BROADCAST, [1, 2, 3, 4, 5, 6], ETHERTYPE_ARP);
        assert_eq!(
            buf,
            [
                0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4, 5, 6, 0x08, 0x06
            ]
        );
        assert_eq!(
            parse_header(&buf),
            Ok((BROADCAST, [1, 2, 3, 4, 5, 6], ETHERTYPE_ARP))
        );
        for n in 0..14 {
            assert_eq!(parse_header(&buf[..n]), Err(Error::Truncated));
        }
    }
}
