//! IPv6 header and neighbour discovery decoding (`wire::ipv6_decode`): never a panic; the
//! payload is exactly what the header declares; an NS/NA that parses has a correct checksum.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vrrp_agent::wire::{checksum, ipv6_decode as v6};

fuzz_target!(|data: &[u8]| {
    if let Ok((h, payload)) = v6::HeaderRepr::parse(data) {
        assert_eq!(payload.len(), usize::from(h.payload_len));
        assert_eq!(data[0] >> 4, 6);
        if let Ok(nd) = v6::NdRepr::parse(payload, h.src, h.dst) {
            let ph = checksum::pseudo_header_v6(h.src, h.dst, v6::NEXT_HEADER_ICMPV6, payload.len() as u32);
            assert_eq!(checksum::fold(checksum::ones_complement_sum(payload, ph)), 0, "accepted {nd:?} with a bad checksum");
            assert!(payload.len() >= 24);
            assert_eq!(nd.target.octets()[..], payload[8..24]);
        }
        let _ = v6::solicited_node(h.dst);
    }
    // The input as an ICMPv6 message, between fixed addresses (the checksum rarely matches;
    // the option walk and the type checks come first for short or odd inputs).
    let _ = v6::NdRepr::parse(data, "fe80::2".parse().unwrap_or(std::net::Ipv6Addr::LOCALHOST), "ff02::1:ff00:100".parse().unwrap_or(std::net::Ipv6Addr::LOCALHOST));
});
