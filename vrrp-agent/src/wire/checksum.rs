//! The Internet checksum (RFC 1071): 16-bit one's complement of the one's
//! complement sum of big-endian 16-bit words.
//!
//! Typical use: `fold(ones_complement_sum(msg, pseudo_header_v4(..)))` with the
//! checksum field zeroed gives the value to store; a received message (checksum
//! field included) is intact when the same expression yields 0.
//!
//! Nothing here panics.

use std::net::{Ipv4Addr, Ipv6Addr};

/// Adds `data` as big-endian 16-bit words to `initial` (a partial sum, e.g.
/// from [`pseudo_header_v4`] or a previous call). A trailing odd byte is padded
/// with a zero byte, so when chaining calls every chunk but the last must have
/// an even length.
///
/// The result is a partial sum, reduced (end-around carry) to at most 0xffff;
/// pass it to [`fold`] for the checksum value.
pub fn ones_complement_sum(data: &[u8], initial: u32) -> u32 {
    let mut acc = u64::from(initial);
    let mut words = data.chunks_exact(2);
    for w in &mut words {
        acc += u64::from(u16::from_be_bytes([w[0], w[1]]));
    }
    if let [last] = words.remainder() {
        acc += u64::from(*last) << 8;
    }
    // Reduce with end-around carry; a u64 cannot overflow from u32 + n*0xffff
    // for any slice that fits in memory.
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u32
}

/// Folds the carries of a partial sum into 16 bits and returns its one's
/// complement: the value to put in a checksum field. Verifying a message
/// (checksum field included) gives 0 when the checksum is correct.
pub fn fold(sum: u32) -> u16 {
    let mut s = sum;
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

/// Partial sum of the IPv4 pseudo header (RFC 768 layout): source, destination,
/// a zero byte, the protocol number and the upper-layer length.
pub fn pseudo_header_v4(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, len: u16) -> u32 {
    let s = ones_complement_sum(&src.octets(), 0);
    let s = ones_complement_sum(&dst.octets(), s);
    ones_complement_sum(&[0, proto, (len >> 8) as u8, len as u8], s)
}

/// Partial sum of the IPv6 pseudo header (RFC 8200 section 8.1): source,
/// destination, the 32-bit upper-layer length, three zero bytes and the next
/// header value.
pub fn pseudo_header_v6(src: Ipv6Addr, dst: Ipv6Addr, next_header: u8, len: u32) -> u32 {
    let s = ones_complement_sum(&src.octets(), 0);
    let s = ones_complement_sum(&dst.octets(), s);
    let l = len.to_be_bytes();
    ones_complement_sum(&[l[0], l[1], l[2], l[3], 0, 0, 0, next_header], s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc1071_example() {
        // RFC 1071 section 3: bytes 00 01 f2 03 f4 f5 f6 f7 sum to ddf2.
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(ones_complement_sum(&data, 0), 0xddf2);
        assert_eq!(fold(ones_complement_sum(&data, 0)), !0xddf2);
    }

    #[test]
    fn odd_length_pads_with_zero() {
        assert_eq!(ones_complement_sum(&[0x12], 0), 0x1200);
        assert_eq!(ones_complement_sum(&[0x12, 0x34, 0x56], 0), 0x1234 + 0x5600);
    }

    #[test]
    fn carries_wrap_around() {
        assert_eq!(ones_complement_sum(&[0xff, 0xff, 0x00, 0x02], 0), 0x0002);
        assert_eq!(ones_complement_sum(&[], 0xffff_ffff), 0xffff);
        assert_eq!(fold(0x0001_fffe), 0);
        assert_eq!(fold(0), 0xffff);
        // Large inputs do not overflow.
        let big = vec![0xffu8; 1 << 20];
        assert_eq!(ones_complement_sum(&big, u32::MAX), 0xffff);
    }

    #[test]
    fn verify_yields_zero() {
        let mut msg = [0x45, 0x00, 0x00, 0x1c, 0x12, 0x34, 0, 0, 0x56, 0x78, 0x9a];
        let c = fold(ones_complement_sum(&msg, 0));
        msg[6..8].copy_from_slice(&c.to_be_bytes());
        assert_eq!(fold(ones_complement_sum(&msg, 0)), 0);
    }

    #[test]
    fn pseudo_headers() {
        let v4 = pseudo_header_v4(
            Ipv4Addr::new(192, 0, 2, 1),
            Ipv4Addr::new(224, 0, 0, 18),
            112,
            12,
        );
        assert_eq!(v4, (0xc000 + 0x0201 + 0xe000 + 0x0012 + 112 + 12) % 0xffff);
        let a: Ipv6Addr = "fe80::1".parse().expect("addr");
        let b: Ipv6Addr = "ff02::12".parse().expect("addr");
        let v6 = pseudo_header_v6(a, b, 112, 0x0001_0020);
        assert_eq!(
            v6,
            0xfe80 + 0x0001 + 0xff02 + 0x0012 + 0x0001 + 0x0020 + 112 - 0xffff
        );
    }
}
