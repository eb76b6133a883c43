//! VRRP v2/v3 decoding (`wire::vrrp`): never a panic, and round trips.
//!
//! The first byte picks the carrier (IPv4 or IPv6, multicast or unicast, addresses from the
//! input); the rest is the VRRP message. Properties:
//! - `Packet` accessors never panic on a checked packet;
//! - a message `Repr::parse` accepts is re-emitted (`emit`) to a message that parses to the
//!   same `Repr`, and to the same bytes when the input had nothing `emit` normalises (v3
//!   reserved bits, v2 authentication data other than a password);
//! - a `Repr` built from the input that `validate`s emits and parses back to itself.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use libfuzzer_sys::fuzz_target;
use vrrp_agent::wire::vrrp::{Auth, Carrier, ChecksumMode, Family, Packet, Repr, Version};

fn carrier(sel: u8, bytes: &[u8]) -> Carrier {
    let b = |i: usize| bytes.get(i).copied().unwrap_or(i as u8);
    if sel & 1 == 0 {
        let src = Ipv4Addr::new(198, 18, b(0), b(1));
        let dst = if sel & 2 == 0 { Ipv4Addr::new(224, 0, 0, 18) } else { Ipv4Addr::new(198, 18, b(2), b(3)) };
        Carrier { src: src.into(), dst: dst.into() }
    } else {
        let src = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, u16::from(b(0)), u16::from(b(1)));
        let dst = if sel & 2 == 0 { "ff02::12".parse().unwrap_or(Ipv6Addr::LOCALHOST) } else { Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, u16::from(b(2)), u16::from(b(3))) };
        Carrier { src: src.into(), dst: dst.into() }
    }
}

fn mode(sel: u8) -> ChecksumMode {
    if sel & 4 == 0 { ChecksumMode::Plain } else { ChecksumMode::PseudoHeader }
}

/// A `Repr` from bytes (not necessarily valid: `validate` decides).
fn repr_from(sel: u8, b: &[u8]) -> Option<Repr> {
    let [v, vrid, priority, int_hi, int_lo, auth, count, rest @ ..] = b else { return None };
    let version = if v & 1 == 0 { Version::V2 } else { Version::V3 };
    let auth = match auth % 3 {
        0 => Auth::None,
        1 => Auth::Pass(<[u8; 8]>::try_from(rest.get(..8)?).ok()?),
        _ => Auth::Ah,
    };
    let n = usize::from(*count);
    let addresses: Vec<IpAddr> = if sel & 1 == 0 {
        (0..n).map(|i| IpAddr::V4(Ipv4Addr::new(198, 18, (i >> 8) as u8, i as u8))).collect()
    } else {
        (0..n).map(|i| IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, i as u16))).collect()
    };
    let adver_int_cs = u16::from_be_bytes([*int_hi, *int_lo]);
    Some(Repr { version, vrid: *vrid, priority: *priority, adver_int_cs, auth, addresses })
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else { return };
    let c = carrier(sel, rest);
    let msg = rest.get(4..).unwrap_or(&[]);
    let family = if sel & 1 == 0 { Family::V4 } else { Family::V6 };

    if let Ok(p) = Packet::new_checked(msg, family) {
        let _ = (p.version(), p.kind(), p.vrid(), p.priority(), p.count_addrs(), p.auth_type(), p.adver_int_raw(), p.checksum());
        let _ = (p.addrs().count(), p.auth_data().len(), p.total_len(), p.reserved_v3());
        let _ = (p.verify_checksum(&c, ChecksumMode::Plain), p.verify_checksum(&c, ChecksumMode::PseudoHeader));
    }

    if let Ok((repr, m)) = Repr::parse(msg, &c) {
        repr.validate(&c).unwrap_or_else(|e| panic!("parsed {repr:?} does not validate: {e}"));
        let again = repr.to_bytes(&c, m);
        let (back, _) = Repr::parse(&again, &c).unwrap_or_else(|e| panic!("re-emitted {repr:?} does not parse: {e}"));
        assert_eq!(back, repr, "parse(emit(parse(x))) differs");
        let p = Packet::new_unchecked(msg, family);
        let normalised = match repr.version {
            Version::V3 => p.reserved_v3() != 0,
            Version::V2 => repr.auth != Auth::Pass(<[u8; 8]>::try_from(p.auth_data()).unwrap_or_default()) && p.auth_data().iter().any(|b| *b != 0),
        };
        if !normalised {
            assert_eq!(again, msg, "emit(parse(x)) != x for {repr:?} ({m:?})");
        }
    }

    if let Some(r) = repr_from(sel, msg)
        && r.validate(&c).is_ok()
    {
        let bytes = r.to_bytes(&c, mode(sel));
        assert_eq!(bytes.len(), r.buffer_len());
        let (back, _) = Repr::parse(&bytes, &c).unwrap_or_else(|e| panic!("emitted {r:?} does not parse: {e}"));
        assert_eq!(back, r, "parse(emit(r)) != r");
    }
});
