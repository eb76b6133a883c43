//! Decoding IPv6 on the receive side: the fixed IPv6 header and ICMPv6 neighbour discovery
//! messages (RFC 4861 §4.3/§4.4), for the slow path, the tests and the tools that check what
//! the XDP program sends. (Encoding adverts and unsolicited NAs lives with the senders.)
//!
//! Nothing here panics, whatever the bytes.

use std::net::Ipv6Addr;

pub use super::Error;
use super::checksum;

/// Length of the fixed IPv6 header.
pub const HEADER_LEN: usize = 40;
/// ICMPv6 in the next-header field.
pub const NEXT_HEADER_ICMPV6: u8 = 58;
/// ICMPv6 types of neighbour discovery.
pub const ICMPV6_NEIGHBOR_SOLICIT: u8 = 135;
pub const ICMPV6_NEIGHBOR_ADVERT: u8 = 136;
/// Neighbour advertisement flags (RFC 4861 §4.4).
pub const NA_FLAG_ROUTER: u8 = 0x80;
pub const NA_FLAG_SOLICITED: u8 = 0x40;
pub const NA_FLAG_OVERRIDE: u8 = 0x20;

/// The fields of the fixed IPv6 header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderRepr {
    pub src: Ipv6Addr,
    pub dst: Ipv6Addr,
    /// The first next header (112 for VRRP, 58 for ICMPv6; anything else may be an
    /// extension header).
    pub next_header: u8,
    pub hop_limit: u8,
    pub payload_len: u16,
}

impl HeaderRepr {
    /// Parses the IPv6 header at the start of `buf` and returns it with its payload
    /// (`payload_len` bytes; trailing link-layer padding is cut off).
    ///
    /// Errors: `Truncated` (shorter than the header or the payload length), `BadVersion`.
    pub fn parse(buf: &[u8]) -> Result<(HeaderRepr, &[u8]), Error> {
        let h = buf.get(..HEADER_LEN).ok_or(Error::Truncated)?;
        if h[0] >> 4 != 6 {
            return Err(Error::BadVersion(h[0] >> 4));
        }
        let addr = |at: usize| {
            let mut o = [0u8; 16];
            o.copy_from_slice(&h[at..at + 16]);
            Ipv6Addr::from(o)
        };
        let repr = HeaderRepr {
            src: addr(8),
            dst: addr(24),
            next_header: h[6],
            hop_limit: h[7],
            payload_len: u16::from_be_bytes([h[4], h[5]]),
        };
        let payload = buf.get(HEADER_LEN..HEADER_LEN + usize::from(repr.payload_len)).ok_or(Error::Truncated)?;
        Ok((repr, payload))
    }
}

/// Neighbour solicitation or advertisement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NdKind {
    Solicitation,
    Advertisement,
}

/// A neighbour discovery message, as RFC 4861 §7.1 validates it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NdRepr {
    pub kind: NdKind,
    /// NA: `NA_FLAG_*` (the first byte after the checksum); NS: 0.
    pub flags: u8,
    pub target: Ipv6Addr,
    /// The source (NS) or target (NA) link-layer address option, if present.
    pub lladdr: Option<[u8; 6]>,
}

impl NdRepr {
    /// Parses an ICMPv6 NS or NA carried from `src` to `dst` (the IPv6 payload): checksum
    /// over the pseudo-header (`BadChecksum`), code 0 and the options well formed (no option
    /// of length 0 or running past the end: `BadLength`), at least 24 bytes (`Truncated`),
    /// type 135 or 136 (`BadType`).
    pub fn parse(icmp: &[u8], src: Ipv6Addr, dst: Ipv6Addr) -> Result<NdRepr, Error> {
        let h = icmp.get(..24).ok_or(Error::Truncated)?;
        let kind = match h[0] {
            ICMPV6_NEIGHBOR_SOLICIT => NdKind::Solicitation,
            ICMPV6_NEIGHBOR_ADVERT => NdKind::Advertisement,
            t => return Err(Error::BadType(t)),
        };
        let Ok(len) = u32::try_from(icmp.len()) else {
            return Err(Error::BadLength);
        };
        let ph = checksum::pseudo_header_v6(src, dst, NEXT_HEADER_ICMPV6, len);
        if checksum::fold(checksum::ones_complement_sum(icmp, ph)) != 0 {
            return Err(Error::BadChecksum);
        }
        if h[1] != 0 {
            return Err(Error::BadType(h[1]));
        }
        let mut target = [0u8; 16];
        target.copy_from_slice(&h[8..24]);
        let wanted = if kind == NdKind::Solicitation { 1 } else { 2 };
        let mut lladdr = None;
        let mut rest = &icmp[24..];
        while !rest.is_empty() {
            let [t, l, ..] = rest else { return Err(Error::BadLength) };
            let n = usize::from(*l) * 8;
            let opt = rest.get(..n).filter(|_| n > 0).ok_or(Error::BadLength)?;
            if *t == wanted && n == 8 {
                let mut mac = [0u8; 6];
                mac.copy_from_slice(&opt[2..8]);
                lladdr = Some(mac);
            }
            rest = &rest[n..];
        }
        Ok(NdRepr {
            kind,
            flags: if kind == NdKind::Advertisement { h[4] } else { 0 },
            target: Ipv6Addr::from(target),
            lladdr,
        })
    }
}

/// The solicited-node multicast group of an address (RFC 4291 §2.7.1): ff02::1:ff00:0/104
/// with its last 24 bits.
pub fn solicited_node(a: Ipv6Addr) -> Ipv6Addr {
    let o = a.octets();
    Ipv6Addr::from([0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, o[13], o[14], o[15]])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An NS from fe80::2 for 2001:db8::100 with a source link-layer option, checksum
    /// computed by hand below.
    fn ns() -> (Vec<u8>, Ipv6Addr, Ipv6Addr) {
        let src: Ipv6Addr = "fe80::2".parse().expect("addr");
        let target: Ipv6Addr = "2001:db8::100".parse().expect("addr");
        let dst = solicited_node(target);
        let mut m = vec![135, 0, 0, 0, 0, 0, 0, 0];
        m.extend_from_slice(&target.octets());
        m.extend_from_slice(&[1, 1, 2, 0, 0, 0, 0, 2]);
        let c = checksum::fold(checksum::ones_complement_sum(&m, checksum::pseudo_header_v6(src, dst, 58, 32)));
        m[2..4].copy_from_slice(&c.to_be_bytes());
        (m, src, dst)
    }

    #[test]
    fn parses_a_solicitation_and_its_option() {
        let (m, src, dst) = ns();
        assert_eq!(dst, "ff02::1:ff00:100".parse::<Ipv6Addr>().expect("addr"));
        let r = NdRepr::parse(&m, src, dst).expect("valid");
        assert_eq!(r.kind, NdKind::Solicitation);
        assert_eq!(r.target, "2001:db8::100".parse::<Ipv6Addr>().expect("addr"));
        assert_eq!(r.lladdr, Some([2, 0, 0, 0, 0, 2]));
    }

    #[test]
    fn refuses_what_rfc_4861_refuses() {
        let (m, src, dst) = ns();
        let mut bad = m.clone();
        bad[3] ^= 1;
        assert_eq!(NdRepr::parse(&bad, src, dst), Err(Error::BadChecksum));
        assert_eq!(NdRepr::parse(&m[..20], src, dst), Err(Error::Truncated));
        // Option length 0 (checksum fixed so the option is what fails).
        let mut zero = m.clone();
        zero[25] = 0;
        zero[2..4].copy_from_slice(&[0, 0]);
        let c = checksum::fold(checksum::ones_complement_sum(&zero, checksum::pseudo_header_v6(src, dst, 58, 32)));
        zero[2..4].copy_from_slice(&c.to_be_bytes());
        assert_eq!(NdRepr::parse(&zero, src, dst), Err(Error::BadLength));
    }

    #[test]
    fn header_parse() {
        let mut p = vec![0x60, 0, 0, 0, 0, 4, 112, 255];
        p.extend_from_slice(&[0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        p.extend_from_slice(&[0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x12]);
        p.extend_from_slice(&[1, 2, 3, 4, 0, 0]);
        let (h, payload) = HeaderRepr::parse(&p).expect("valid");
        assert_eq!((h.next_header, h.hop_limit, h.payload_len), (112, 255, 4));
        assert_eq!(payload, &[1, 2, 3, 4], "padding cut off");
        assert_eq!(HeaderRepr::parse(&p[..43]), Err(Error::Truncated));
        p[0] = 0x45;
        assert_eq!(HeaderRepr::parse(&p), Err(Error::BadVersion(4)));
    }
}
