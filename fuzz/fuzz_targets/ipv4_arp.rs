//! Ethernet, IPv4 header and ARP decoding (`wire::{ethernet, ipv4, arp}`): never a panic, and
//! what parses re-emits to something that parses the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vrrp_agent::wire::{arp, checksum, ethernet, ipv4};

fuzz_target!(|data: &[u8]| {
    let _ = ethernet::parse_header(data);
    let _ = checksum::fold(checksum::ones_complement_sum(data, 0));

    // The input as an IPv4 packet.
    let ok = ipv4::checksum_ok(data);
    if let Ok((h, hl)) = ipv4::HeaderRepr::parse(data) {
        assert!(ok, "parsed a header whose checksum is wrong");
        assert!((20..=60).contains(&hl) && hl + usize::from(h.payload_len) <= data.len());
        let mut again = [0u8; ipv4::HEADER_LEN];
        h.emit(&mut again);
        let mut padded = again.to_vec();
        padded.resize(ipv4::HEADER_LEN + usize::from(h.payload_len), 0);
        let (back, back_hl) = ipv4::HeaderRepr::parse(&padded).unwrap_or_else(|e| panic!("re-emitted {h:?} does not parse: {e}"));
        assert_eq!((back, back_hl), (h, ipv4::HEADER_LEN));
    }

    // The input as an ARP packet, and as a whole frame.
    if let Ok(r) = arp::Repr::parse(data) {
        let mut again = [0u8; arp::PACKET_LEN];
        r.emit(&mut again);
        assert_eq!(&again[..], &data[..arp::PACKET_LEN], "emit(parse(x)) != x");
    }
    if let Ok((dst, src, r)) = arp::parse_frame(data) {
        assert_eq!(&data[..6], &dst);
        assert_eq!(&data[6..12], &src);
        assert_eq!(arp::Repr::parse(&data[ethernet::HEADER_LEN..]), Ok(r));
    }
});
