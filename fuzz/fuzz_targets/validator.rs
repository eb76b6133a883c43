//! The userspace advert validator (`rx::validate`) on any frame, with the fixture's instances
//! (`rx::parity::rule_table`, the same the differential target loads into XDP): never a panic,
//! and a frame with IPv4 options is judged as the same frame without them.
//!
//! The first byte says which checksums to repair after the fuzzer's edits (`parity::fix`), so
//! inputs get past the checksum checks; the rest is an Ethernet frame.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use vrrp_agent::{
    rx::{
        parity::{self, IFINDEX},
        validate::{Ipv6Carrier, RuleTable, validate, validate_ipv6_packet, validate_v6},
    },
    wire::{self, ipv4},
};

static RULES: LazyLock<RuleTable> = LazyLock::new(parity::rule_table);

fuzz_target!(|data: &[u8]| {
    let Some((&fix, frame)) = data.split_first() else { return };
    let mut f = frame.to_vec();
    parity::repair(&mut f, fix);
    let rules = &*RULES;
    let ip = f.get(14..).unwrap_or(&[]);
    let plain = validate(ip, IFINDEX, rules);
    let _ = validate_ipv6_packet(ip, IFINDEX, rules);
    // The slow path's IPv6 entry: the message after the header, carrier from the header.
    if let Some(h) = ip.get(..40) {
        let a = |at: usize| std::net::Ipv6Addr::from(<[u8; 16]>::try_from(&h[at..at + 16]).unwrap_or_default());
        let c = Ipv6Carrier { src: a(8), dst: a(24), hop_limit: h[7] };
        let _ = validate_v6(&c, &ip[40..], IFINDEX, rules);
    }
    // IPv4 options change nothing (XDP passes such frames: the validator alone judges them).
    // `with_ipv4_options` drops the bytes after the IPv4 total length (Ethernet padding), so the
    // frame without options is judged cut there too: a VRRP header shorter than 8 bytes is read
    // from the padding that follows it (by XDP as well), which names a VRID the cut frame lacks.
    let total = f.get(16..18).map_or(0, |b| usize::from(u16::from_be_bytes([b[0], b[1]])));
    let whole = f.len() >= 34 && f[14] == 0x45 && ipv4::checksum_ok(ip) && (20..=1500).contains(&total) && 14 + total <= f.len();
    if whole {
        let plain = if 14 + total == f.len() { plain } else { validate(&f[14..14 + total], IFINDEX, rules) };
        let opts = wire::with_ipv4_options(&f, &[0x94, 0x04, 0x00, 0x00]);
        let with = validate(&opts[14..], IFINDEX, rules);
        assert_eq!(plain, with, "the same frame with a router-alert option is judged differently");
    }
});
