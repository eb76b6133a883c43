//! A minimal IPv4 header: emission for `IP_HDRINCL` raw sockets and frame
//! builders, and parsing (mainly for tests).

use std::net::Ipv4Addr;

pub use super::Error;
use super::checksum;

/// Length of an IPv4 header without options.
pub const HEADER_LEN: usize = 20;
/// TOS byte written by [`HeaderRepr::emit`]: precedence "Internetwork
/// Control" (DSCP CS6), as keepalived's `vrrp_build_ip4` sets for adverts.
pub const TOS_NETWORK_CONTROL: u8 = 0xc0;

/// The fields of an IPv4 header that VRRP cares about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderRepr {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub protocol: u8,
    pub ttl: u8,
    /// Length of the payload after the header (total length - header length).
    pub payload_len: u16,
    pub ident: u16,
}

impl HeaderRepr {
    /// Writes a 20-byte header (no options) into `buf[..20]`: version 4,
    /// IHL 5, TOS [`TOS_NETWORK_CONTROL`], total length `20 + payload_len`,
    /// flags and fragment offset 0 (DF not set), header checksum filled.
    ///
    /// # Panics
    ///
    /// If `buf.len() < 20`, or `payload_len > 65515` (total length overflow).
    pub fn emit(&self, buf: &mut [u8]) {
        assert!(buf.len() >= HEADER_LEN, "IPv4 header needs 20 bytes");
        let total = self
            .payload_len
            .checked_add(HEADER_LEN as u16)
            .expect("IPv4 payload_len too large");
        let h = &mut buf[..HEADER_LEN];
        h[0] = 0x45;
        h[1] = TOS_NETWORK_CONTROL;
        h[2..4].copy_from_slice(&total.to_be_bytes());
        h[4..6].copy_from_slice(&self.ident.to_be_bytes());
        h[6..8].copy_from_slice(&[0, 0]);
        h[8] = self.ttl;
        h[9] = self.protocol;
        h[10..12].copy_from_slice(&[0, 0]);
        h[12..16].copy_from_slice(&self.src.octets());
        h[16..20].copy_from_slice(&self.dst.octets());
        let c = checksum::fold(checksum::ones_complement_sum(h, 0));
        h[10..12].copy_from_slice(&c.to_be_bytes());
    }

    /// Parses the IPv4 header at the start of `buf` (which may hold the
    /// payload and trailing link-layer padding after it). Returns the header
    /// and its length in bytes (IHL * 4; options are skipped). The payload is
    /// `buf[len..len + payload_len]`.
    ///
    /// Errors: `Truncated` (buffer shorter than the header or than the total
    /// length), `BadVersion` (not 4), `BadLength` (IHL < 5 or total length <
    /// header length), `BadChecksum`, `Fragmented` (MF set or offset != 0).
    pub fn parse(buf: &[u8]) -> Result<(HeaderRepr, usize), Error> {
        let fixed = buf.get(..HEADER_LEN).ok_or(Error::Truncated)?;
        let version = fixed[0] >> 4;
        if version != 4 {
            return Err(Error::BadVersion(version));
        }
        let hl = usize::from(fixed[0] & 0x0f) * 4;
        if hl < HEADER_LEN {
            return Err(Error::BadLength);
        }
        let header = buf.get(..hl).ok_or(Error::Truncated)?;
        let total = u16::from_be_bytes([header[2], header[3]]);
        if usize::from(total) < hl {
            return Err(Error::BadLength);
        }
        if buf.len() < usize::from(total) {
            return Err(Error::Truncated);
        }
        if !checksum_ok(header) {
            return Err(Error::BadChecksum);
        }
        let frag = u16::from_be_bytes([header[6], header[7]]);
        // Bit 0x2000 = MF, low 13 bits = offset; DF (0x4000) is allowed.
        if frag & 0x3fff != 0 {
            return Err(Error::Fragmented);
        }
        let repr = HeaderRepr {
            src: Ipv4Addr::new(header[12], header[13], header[14], header[15]),
            dst: Ipv4Addr::new(header[16], header[17], header[18], header[19]),
            protocol: header[9],
            ttl: header[8],
            // total >= hl >= 20, and hl <= 60, so this neither underflows nor truncates.
            payload_len: total - hl as u16,
            ident: u16::from_be_bytes([header[4], header[5]]),
        };
        Ok((repr, hl))
    }
}

/// Whether the IPv4 header at the start of `header` has a correct checksum.
/// The header length is taken from IHL, so the whole packet may be passed.
/// Returns false when the slice is shorter than 20 bytes or than IHL * 4, or
/// when IHL < 5. Never panics.
pub fn checksum_ok(header: &[u8]) -> bool {
    let Some(&b0) = header.first() else {
        return false;
    };
    let hl = usize::from(b0 & 0x0f) * 4;
    match header.get(..hl) {
        Some(h) if hl >= HEADER_LEN => checksum::fold(checksum::ones_complement_sum(h, 0)) == 0,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // A header computed independently (python3, see vrrp.rs tests): src
    // 192.0.2.1, dst 224.0.0.18, proto 112, ttl 255, ident 0, payload 20, TOS 0xc0.
    const KNOWN: [u8; 20] = [
        0x45, 0xc0, 0x00, 0x28, 0x00, 0x00, 0x00, 0x00, 0xff, 0x70, 0x18, 0x92, 0xc0, 0x00, 0x02,
        0x01, 0xe0, 0x00, 0x00, 0x12,
    ];

    fn repr() -> HeaderRepr {
        HeaderRepr {
            src: Ipv4Addr::new(192, 0, 2, 1),
            dst: Ipv4Addr::new(224, 0, 0, 18),
            protocol: 112,
            ttl: 255,
            payload_len: 20,
            ident: 0,
        }
    }

    fn packet() -> Vec<u8> {
        let mut p = KNOWN.to_vec();
        p.extend_from_slice(&[0xaa; 20]);
        p
    }

    #[test]
    fn emit_known_answer() {
        let mut buf = [0u8; 20];
        repr().emit(&mut buf);
        assert_eq!(buf, KNOWN);
        assert!(checksum_ok(&buf));
    }

    #[test]
    fn parse_known_answer_with_padding() {
        let mut p = packet();
        assert_eq!(HeaderRepr::parse(&p), Ok((repr(), 20)));
        p.extend_from_slice(&[0; 6]);
        assert_eq!(HeaderRepr::parse(&p), Ok((repr(), 20)));
    }

    #[test]
    fn parse_rejects() {
        let p = packet();
        for n in 0..p.len() {
            assert_eq!(HeaderRepr::parse(&p[..n]), Err(Error::Truncated), "len {n}");
        }
        let mut bad = p.clone();
        bad[10] ^= 1;
        assert_eq!(HeaderRepr::parse(&bad), Err(Error::BadChecksum));
        assert!(!checksum_ok(&bad));
        let mut v6 = p.clone();
        v6[0] = 0x65;
        assert_eq!(HeaderRepr::parse(&v6), Err(Error::BadVersion(6)));
        let mut ihl = p.clone();
        ihl[0] = 0x44;
        assert_eq!(HeaderRepr::parse(&ihl), Err(Error::BadLength));
        assert!(!checksum_ok(&ihl));
        let mut frag = [0u8; 40];
        let mut r = repr();
        r.ident = 7;
        r.emit(&mut frag);
        frag[6] = 0x20; // MF
        frag[10..12].copy_from_slice(&[0, 0]);
        let c = checksum::fold(checksum::ones_complement_sum(&frag[..20], 0));
        frag[10..12].copy_from_slice(&c.to_be_bytes());
        assert_eq!(HeaderRepr::parse(&frag), Err(Error::Fragmented));
    }

    #[test]
    fn options_are_skipped() {
        let mut p = vec![0u8; 24 + 4];
        p[0] = 0x46;
        p[2..4].copy_from_slice(&28u16.to_be_bytes());
        p[6] = 0x40; // DF is fine
        p[8] = 1;
        p[9] = 112;
        p[12..16].copy_from_slice(&[10, 0, 0, 1]);
        p[16..20].copy_from_slice(&[10, 0, 0, 2]);
        let c = checksum::fold(checksum::ones_complement_sum(&p[..24], 0));
        p[10..12].copy_from_slice(&c.to_be_bytes());
        assert!(checksum_ok(&p));
        let (h, hl) = HeaderRepr::parse(&p).expect("parse");
        assert_eq!(hl, 24);
        assert_eq!(h.payload_len, 4);
    }

    #[test]
    fn checksum_ok_short_inputs() {
        assert!(!checksum_ok(&[]));
        assert!(!checksum_ok(&KNOWN[..19]));
    }
}
