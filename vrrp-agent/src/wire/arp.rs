//! ARP for Ethernet/IPv4 (RFC 826), and the gratuitous ARP sent on takeover.

use std::net::Ipv4Addr;

pub use super::Error;
use super::ethernet;

/// Length of an Ethernet/IPv4 ARP packet.
pub const PACKET_LEN: usize = 28;
/// Length of an Ethernet frame carrying ARP, without padding.
pub const FRAME_LEN: usize = ethernet::HEADER_LEN + PACKET_LEN;

const HTYPE_ETHERNET: u16 = 1;
const OP_REQUEST: u16 = 1;
const OP_REPLY: u16 = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Request,
    Reply,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    pub operation: Operation,
    pub sender_mac: [u8; 6],
    pub sender_ip: Ipv4Addr,
    pub target_mac: [u8; 6],
    pub target_ip: Ipv4Addr,
}

impl Repr {
    /// Parses an ARP packet (the Ethernet payload; trailing padding is
    /// ignored). Only hardware type Ethernet (1, length 6) with protocol IPv4
    /// (0x0800, length 4) is accepted (`BadArpFormat` otherwise), and only
    /// operations request/reply (`BadOperation`). Shorter than 28 bytes:
    /// `Truncated`.
    pub fn parse(arp_payload: &[u8]) -> Result<Repr, Error> {
        let p = arp_payload.get(..PACKET_LEN).ok_or(Error::Truncated)?;
        let htype = u16::from_be_bytes([p[0], p[1]]);
        let ptype = u16::from_be_bytes([p[2], p[3]]);
        if htype != HTYPE_ETHERNET || ptype != ethernet::ETHERTYPE_IPV4 || p[4] != 6 || p[5] != 4 {
            return Err(Error::BadArpFormat);
        }
        let operation = match u16::from_be_bytes([p[6], p[7]]) {
            OP_REQUEST => Operation::Request,
            OP_REPLY => Operation::Reply,
            op => return Err(Error::BadOperation(op)),
        };
        let mac = |at: usize| {
            let mut m = [0u8; 6];
            m.copy_from_slice(&p[at..at + 6]);
            m
        };
        let ip = |at: usize| Ipv4Addr::new(p[at], p[at + 1], p[at + 2], p[at + 3]);
        Ok(Repr {
            operation,
            sender_mac: mac(8),
            sender_ip: ip(14),
            target_mac: mac(18),
            target_ip: ip(24),
        })
    }

    /// Writes the 28-byte ARP packet into `buf[..28]`.
    ///
    /// # Panics
    ///
    /// If `buf.len() < 28`.
    pub fn emit(&self, buf: &mut [u8]) {
        assert!(buf.len() >= PACKET_LEN, "ARP packet needs 28 bytes");
        let op = match self.operation {
            Operation::Request => OP_REQUEST,
            Operation::Reply => OP_REPLY,
        };
        buf[0..2].copy_from_slice(&HTYPE_ETHERNET.to_be_bytes());
        buf[2..4].copy_from_slice(&ethernet::ETHERTYPE_IPV4.to_be_bytes());
        buf[4] = 6;
        buf[5] = 4;
        buf[6..8].copy_from_slice(&op.to_be_bytes());
        buf[8..14].copy_from_slice(&self.sender_mac);
        buf[14..18].copy_from_slice(&self.sender_ip.octets());
        buf[18..24].copy_from_slice(&self.target_mac);
        buf[24..28].copy_from_slice(&self.target_ip.octets());
    }
}

fn frame(eth_dst: [u8; 6], eth_src: [u8; 6], repr: &Repr) -> Vec<u8> {
    let mut f = vec![0u8; FRAME_LEN];
    ethernet::emit_header(&mut f, eth_dst, eth_src, ethernet::ETHERTYPE_ARP);
    repr.emit(&mut f[ethernet::HEADER_LEN..]);
    f
}

/// A complete Ethernet frame (42 bytes, no padding) for a gratuitous ARP as
/// keepalived sends it on takeover (`send_gratuitous_arp_immediate` in
/// keepalived/vrrp/vrrp_arp.c):
///
/// * Ethernet destination ff:ff:ff:ff:ff:ff, source `mac`, type ARP;
/// * ARP **request**, sender = (`mac`, `vip`), target IP = `vip`,
///   target MAC **ff:ff:ff:ff:ff:ff** (keepalived fills `ar_tha` with 0xff,
///   not zeros).
pub fn gratuitous_frame(mac: [u8; 6], vip: Ipv4Addr) -> Vec<u8> {
    frame(
        ethernet::BROADCAST,
        mac,
        &Repr {
            operation: Operation::Request,
            sender_mac: mac,
            sender_ip: vip,
            target_mac: ethernet::BROADCAST,
            target_ip: vip,
        },
    )
}

/// A complete Ethernet + ARP request frame (42 bytes, no padding): "who has
/// `target_ip`, tell `sender_ip`", to broadcast, with target MAC
/// 00:00:00:00:00:00 as Linux sends it.
pub fn request_frame(sender_mac: [u8; 6], sender_ip: Ipv4Addr, target_ip: Ipv4Addr) -> Vec<u8> {
    frame(
        ethernet::BROADCAST,
        sender_mac,
        &Repr {
            operation: Operation::Request,
            sender_mac,
            sender_ip,
            target_mac: [0; 6],
            target_ip,
        },
    )
}

/// Parses a full Ethernet frame carrying ARP: `(eth dst, eth src, Repr)`.
/// Trailing padding is ignored. A frame whose ethertype is not ARP gives
/// `BadEthertype`; otherwise errors are as [`Repr::parse`].
pub fn parse_frame(frame: &[u8]) -> Result<([u8; 6], [u8; 6], Repr), Error> {
    let (dst, src, ethertype) = ethernet::parse_header(frame)?;
    if ethertype != ethernet::ETHERTYPE_ARP {
        return Err(Error::BadEthertype(ethertype));
    }
    let repr = Repr::parse(&frame[ethernet::HEADER_LEN..])?;
    Ok((dst, src, repr))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAC: [u8; 6] = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];

    #[test]
    fn gratuitous_known_answer() {
        let vip = Ipv4Addr::new(192, 0, 2, 100);
        #[rustfmt::skip]
        let expected: [u8; 42] = [
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // eth dst: broadcast
            0x52, 0x54, 0x00, 0x12, 0x34, 0x56, // eth src
            0x08, 0x06,                         // ARP
            0x00, 0x01, 0x08, 0x00, 6, 4,       // Ethernet / IPv4
            0x00, 0x01,                         // request
            0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 192, 0, 2, 100, // sender
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 192, 0, 2, 100, // target
        ];
        let f = gratuitous_frame(MAC, vip);
        assert_eq!(f, expected);
        let (dst, src, r) = parse_frame(&f).expect("parse");
        assert_eq!(dst, ethernet::BROADCAST);
        assert_eq!(src, MAC);
        assert_eq!(r.operation, Operation::Request);
        assert_eq!((r.sender_ip, r.target_ip), (vip, vip));
        assert_eq!(r.target_mac, ethernet::BROADCAST);
    }

    #[test]
    fn request_frame_roundtrip() {
        let s = Ipv4Addr::new(192, 0, 2, 1);
        let t = Ipv4Addr::new(192, 0, 2, 100);
        let mut f = request_frame(MAC, s, t);
        assert_eq!(f.len(), 42);
        let want = Repr {
            operation: Operation::Request,
            sender_mac: MAC,
            sender_ip: s,
            target_mac: [0; 6],
            target_ip: t,
        };
        assert_eq!(parse_frame(&f), Ok((ethernet::BROADCAST, MAC, want)));
        f.resize(60, 0); // padding is ignored
        assert_eq!(parse_frame(&f), Ok((ethernet::BROADCAST, MAC, want)));
    }

    #[test]
    fn reply_roundtrip() {
        let r = Repr {
            operation: Operation::Reply,
            sender_mac: MAC,
            sender_ip: Ipv4Addr::new(10, 1, 2, 3),
            target_mac: [1, 2, 3, 4, 5, 6],
            target_ip: Ipv4Addr::new(10, 3, 2, 1),
        };
        let mut b = [0u8; 28];
        r.emit(&mut b);
        assert_eq!(&b[6..8], &[0, 2]);
        assert_eq!(Repr::parse(&b), Ok(r));
    }

    #[test]
    fn rejects() {
        let f = gratuitous_frame(MAC, Ipv4Addr::new(10, 0, 0, 1));
        for n in 0..f.len() {
            assert_eq!(parse_frame(&f[..n]), Err(Error::Truncated), "len {n}");
        }
        let mut b = f.clone();
        b[13] = 0x00;
        assert_eq!(parse_frame(&b), Err(Error::BadEthertype(0x0800)));
        for (i, v) in [(15, 6u8), (17, 0xdd), (18, 8), (19, 16)] {
            let mut b = f.clone();
            b[i] = v;
            assert_eq!(parse_frame(&b), Err(Error::BadArpFormat), "byte {i}");
        }
        let mut b = f.clone();
        b[21] = 3;
        assert_eq!(parse_frame(&b), Err(Error::BadOperation(3)));
    }
}
