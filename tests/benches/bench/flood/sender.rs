//! The frames of figures 4 and 5's bounded floods, and how a reply to them is judged. The
//! flood itself (an AF_PACKET socket in the flooding host's namespace, bounded in count and
//! time) is the tests' crafted-frame sender, [`vrrp_tests::hostile::Flood`], shared with the
//! hostile-input suite.
//!
//! Only hosts of the bench's own namespaces are addressed, from 198.18.0.0/15 sources.
use std::net::Ipv4Addr;

use vrrp_agent::wire::{arp, ethernet, ipv4};
pub use vrrp_tests::hostile::{Flood, Reply, Sent};
use vrrp_tests::{election::SplitMix64, in_test_range};

/// The IPv4 protocol number of UDP.
const IP_PROTO_UDP: u8 = 17;

// ---------------------------------------------------------------------------------------
// Frames
// ---------------------------------------------------------------------------------------

/// `n` junk UDP datagrams (60-byte frames) from `src_mac` to `dst` (MAC, address): random
/// source and destination ports (1024..=65535), random sources in 198.18.0.0/15 outside
/// `lan_24` (the LAN's /24: an answer to them has no route, so the flood draws no ICMP and
/// no ARP for its sources).
pub fn junk_udp(rng: &mut SplitMix64, n: usize, src_mac: [u8; 6], dst_mac: [u8; 6], dst: Ipv4Addr, lan_24: Ipv4Addr) -> Vec<Vec<u8>> {
    let base = u32::from(Ipv4Addr::new(198, 18, 0, 0));
    let lan = u32::from(lan_24) & 0xffff_ff00;
    (0..n)
        .map(|_| {
            let src = loop {
                let a = base + (rng.next_u64() % (1 << 17)) as u32;
                // Not the LAN's /24, not a .0 or .255 of any /24.
                if a & 0xffff_ff00 != lan && !matches!(a & 0xff, 0 | 255) {
                    break Ipv4Addr::from(a);
                }
            };
            debug_assert!(in_test_range(src));
            let port = |r: &mut SplitMix64| 1024 + (r.next_u64() % (65536 - 1024)) as u16;
            let (sport, dport) = (port(rng), port(rng));
            let payload = 18u16;
            let mut f = vec![0u8; ethernet::MIN_FRAME_LEN];
            ethernet::emit_header(&mut f, dst_mac, src_mac, ethernet::ETHERTYPE_IPV4);
            let ip = ethernet::HEADER_LEN;
            ipv4::HeaderRepr { src, dst, protocol: IP_PROTO_UDP, ttl: 64, payload_len: 8 + payload, ident: rng.next_u64() as u16 }
                .emit(&mut f[ip..]);
            let udp = ip + ipv4::HEADER_LEN;
            f[udp..udp + 2].copy_from_slice(&sport.to_be_bytes());
            f[udp + 2..udp + 4].copy_from_slice(&dport.to_be_bytes());
            f[udp + 4..udp + 6].copy_from_slice(&(8 + payload).to_be_bytes());
            // Checksum 0: none, valid for UDP over IPv4.
            f
        })
        .collect()
}

/// ARP requests from (`src_mac`, `src`) for each of `targets`, to `eth_dst` (broadcast as a
/// host asks, or one host's MAC as a refresh does).
pub fn arp_requests(src_mac: [u8; 6], src: Ipv4Addr, eth_dst: [u8; 6], targets: &[Ipv4Addr]) -> Vec<Vec<u8>> {
    targets
        .iter()
        .map(|t| {
            let mut f = arp::request_frame(src_mac, src, *t);
            f[..6].copy_from_slice(&eth_dst);
            f
        })
        .collect()
}

/// Judges an ARP reply for `vip` to (`to_mac`, `to`): good when it comes from `owner_mac`
/// (Ethernet source and ARP sender) to `to_mac` (Ethernet destination and ARP target).
pub fn judge_arp_reply(frame: &[u8], vip: Ipv4Addr, owner_mac: [u8; 6], to_mac: [u8; 6], to: Ipv4Addr) -> Reply {
    let Ok((eth_dst, eth_src, r)) = arp::parse_frame(frame) else { return Reply::Other };
    if r.operation != arp::Operation::Reply || r.sender_ip != vip || r.target_ip != to {
        return Reply::Other;
    }
    let mac = |m: [u8; 6]| m.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":");
    if r.sender_mac != owner_mac || eth_src != owner_mac {
        return Reply::Wrong(format!("{vip} is-at {} (Ethernet source {}), the master is {}", mac(r.sender_mac), mac(eth_src), mac(owner_mac)));
    }
    if eth_dst != to_mac || r.target_mac != to_mac {
        return Reply::Wrong(format!("reply to {} / {}, not to the asker {}", mac(eth_dst), mac(r.target_mac), mac(to_mac)));
    }
    Reply::Good
}
