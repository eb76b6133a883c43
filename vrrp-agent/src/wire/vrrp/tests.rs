use super::*;
use crate::wire::{arp, ethernet, ipv4};

// Known answers computed independently with this python3 script (run once;
// its output is pasted below):
//
//   import ipaddress, struct
//   def csum(b):
//       if len(b) % 2: b += b'\0'
//       s = sum(struct.unpack('!%dH' % (len(b)//2), b))
//       while s >> 16: s = (s & 0xffff) + (s >> 16)
//       return (~s) & 0xffff
//   def ph4(src, dst, ln):
//       return (ipaddress.IPv4Address(src).packed + ipaddress.IPv4Address(dst).packed
//               + bytes([0, 112]) + struct.pack('!H', ln))
//   def ph6(src, dst, ln):
//       return (ipaddress.IPv6Address(src).packed + ipaddress.IPv6Address(dst).packed
//               + struct.pack('!I', ln) + bytes([0, 0, 0, 112]))
//   # V2: vrid 51, prio 100, 192.0.2.100 + 192.0.2.101, auth PASS "secret", 1 s
//   msg = bytes([0x21, 51, 100, 2, 1, 1, 0, 0]) + <addrs> + b'secret\0\0'; c = csum(msg)
//   # V3 IPv4: vrid 51, prio 150, 100 cs, 192.0.2.100; 192.0.2.1 -> 224.0.0.18
//   msg = bytes([0x31, 51, 150, 1]) + struct.pack('!H', 100) + b'\0\0' + <addr>
//   plain: c = csum(msg); pseudo: c = csum(ph4('192.0.2.1', '224.0.0.18', len(msg)) + msg)
//   # V3 IPv6: vrid 7, prio 255, 50 cs, fe80::100 + 2001:db8::100; fe80::1 -> ff02::12
//   c = csum(ph6('fe80::1', 'ff02::12', len(msg)) + msg)

#[rustfmt::skip]
const V2: [u8; 24] = [
    0x21, 0x33, 0x64, 0x02, 0x01, 0x01, 0xb8, 0xb2,
    0xc0, 0x00, 0x02, 0x64, 0xc0, 0x00, 0x02, 0x65,
    0x73, 0x65, 0x63, 0x72, 0x65, 0x74, 0x00, 0x00,
];
#[rustfmt::skip]
const V3_PLAIN: [u8; 12] = [
    0x31, 0x33, 0x96, 0x01, 0x00, 0x64, 0x76, 0x02, 0xc0, 0x00, 0x02, 0x64,
];
#[rustfmt::skip]
const V3_PSEUDO: [u8; 12] = [
    0x31, 0x33, 0x96, 0x01, 0x00, 0x64, 0xd3, 0x71, 0xc0, 0x00, 0x02, 0x64,
];
#[rustfmt::skip]
const V3_V6: [u8; 40] = [
    0x31, 0x07, 0xff, 0x02, 0x00, 0x32, 0xa3, 0x5a,
    0xfe, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00,
    0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00,
];

fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(a, b, c, d))
}

fn v6(s: &str) -> IpAddr {
    IpAddr::V6(s.parse().expect("ipv6 literal"))
}

fn carrier4() -> Carrier {
    Carrier {
        src: v4(192, 0, 2, 1),
        dst: MCAST_V4.into(),
    }
}

fn carrier6() -> Carrier {
    Carrier {
        src: v6("fe80::1"),
        dst: MCAST_V6.into(),
    }
}

fn repr_v2() -> Repr {
    Repr {
        version: Version::V2,
        vrid: 51,
        priority: 100,
        adver_int_cs: 100,
        auth: Auth::Pass(*b"secret\0\0"),
        addresses: vec![v4(192, 0, 2, 100), v4(192, 0, 2, 101)],
    }
}

fn repr_v3() -> Repr {
    Repr {
        version: Version::V3,
        vrid: 51,
        priority: 150,
        adver_int_cs: 100,
        auth: Auth::None,
        addresses: vec![v4(192, 0, 2, 100)],
    }
}

fn repr_v3_v6() -> Repr {
    Repr {
        version: Version::V3,
        vrid: 7,
        priority: 255,
        adver_int_cs: 50,
        auth: Auth::None,
        addresses: vec![v6("fe80::100"), v6("2001:db8::100")],
    }
}

/// All known answers: (bytes, carrier, repr, mode parse must report).
fn known() -> Vec<(Vec<u8>, Carrier, Repr, ChecksumMode)> {
    vec![
        (V2.to_vec(), carrier4(), repr_v2(), ChecksumMode::Plain),
        (
            V3_PLAIN.to_vec(),
            carrier4(),
            repr_v3(),
            ChecksumMode::Plain,
        ),
        (
            V3_PSEUDO.to_vec(),
            carrier4(),
            repr_v3(),
            ChecksumMode::PseudoHeader,
        ),
        (
            V3_V6.to_vec(),
            carrier6(),
            repr_v3_v6(),
            ChecksumMode::PseudoHeader,
        ),
    ]
}

/// Recomputes the checksum of a (mutated) message in place.
fn refix(bytes: &mut [u8], carrier: &Carrier, mode: ChecksumMode) {
    let family = carrier.family().expect("carrier");
    Packet::new_unchecked(bytes, family).fill_checksum(carrier, mode);
}

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn byte(&mut self) -> u8 {
        self.next() as u8
    }
}

// ---- known-answer tests -------------------------------------------------

#[test]
fn v2_known_answer() {
    let r = repr_v2();
    assert_eq!(r.buffer_len(), 24);
    assert_eq!(r.to_bytes(&carrier4(), ChecksumMode::Plain), V2);
    // The mode is ignored for v2.
    assert_eq!(r.to_bytes(&carrier4(), ChecksumMode::PseudoHeader), V2);
    assert_eq!(Repr::parse(&V2, &carrier4()), Ok((r, ChecksumMode::Plain)));
}

#[test]
fn v3_ipv4_known_answer_both_modes() {
    let r = repr_v3();
    assert_eq!(r.buffer_len(), 12);
    assert_eq!(r.to_bytes(&carrier4(), ChecksumMode::Plain), V3_PLAIN);
    assert_eq!(
        r.to_bytes(&carrier4(), ChecksumMode::PseudoHeader),
        V3_PSEUDO
    );
    assert_eq!(
        Repr::parse(&V3_PLAIN, &carrier4()),
        Ok((r.clone(), ChecksumMode::Plain))
    );
    assert_eq!(
        Repr::parse(&V3_PSEUDO, &carrier4()),
        Ok((r, ChecksumMode::PseudoHeader))
    );
}

#[test]
fn v3_ipv4_pseudo_header_depends_on_carrier() {
    let other = Carrier {
        src: v4(192, 0, 2, 2),
        dst: MCAST_V4.into(),
    };
    // Plain does not depend on the addresses; the pseudo-header form does.
    assert_eq!(
        Repr::parse(&V3_PLAIN, &other).map(|r| r.1),
        Ok(ChecksumMode::Plain)
    );
    assert_eq!(Repr::parse(&V3_PSEUDO, &other), Err(Error::BadChecksum));
}

#[test]
fn v3_ipv6_known_answer() {
    let r = repr_v3_v6();
    assert_eq!(r.buffer_len(), 40);
    // v3 over IPv6 always uses the pseudo header, whatever mode is asked.
    assert_eq!(r.to_bytes(&carrier6(), ChecksumMode::PseudoHeader), V3_V6);
    assert_eq!(r.to_bytes(&carrier6(), ChecksumMode::Plain), V3_V6);
    assert_eq!(
        Repr::parse(&V3_V6, &carrier6()),
        Ok((r, ChecksumMode::PseudoHeader))
    );
}

#[test]
fn v3_ipv6_with_plain_checksum_is_rejected() {
    let mut b = V3_V6.to_vec();
    b[6..8].copy_from_slice(&[0, 0]);
    let c = checksum::fold(checksum::ones_complement_sum(&b, 0));
    b[6..8].copy_from_slice(&c.to_be_bytes());
    assert_eq!(Repr::parse(&b, &carrier6()), Err(Error::BadChecksum));
}

#[test]
fn packet_accessors() {
    let p = Packet::new_checked(&V2[..], Family::V4).expect("v2");
    assert_eq!(
        (
            p.version(),
            p.kind(),
            p.vrid(),
            p.priority(),
            p.count_addrs()
        ),
        (2, 1, 51, 100, 2)
    );
    assert_eq!(
        (p.auth_type(), p.adver_int_raw(), p.checksum()),
        (1, 1, 0xb8b2)
    );
    assert_eq!(p.addresses(), &V2[8..16]);
    assert_eq!(p.auth_data(), b"secret\0\0");
    assert_eq!(p.total_len(), 24);
    assert_eq!(p.addrs().collect::<Vec<_>>(), repr_v2().addresses);
    assert!(p.verify_checksum(&carrier4(), ChecksumMode::Plain));

    let p = Packet::new_checked(&V3_V6[..], Family::V6).expect("v3");
    assert_eq!(
        (p.version(), p.kind(), p.vrid(), p.priority()),
        (3, 1, 7, 255)
    );
    assert_eq!(
        (p.count_addrs(), p.adver_int_raw(), p.reserved_v3()),
        (2, 50, 0)
    );
    assert_eq!(p.checksum(), 0xa35a);
    assert_eq!(p.addresses().len(), 32);
    assert!(p.auth_data().is_empty());
    assert!(p.verify_checksum(&carrier6(), ChecksumMode::Plain)); // forced pseudo
    assert_eq!(p.into_inner(), &V3_V6[..]);

    // Setters round-trip through a view.
    let mut buf = V3_PLAIN;
    let mut p = Packet::new_unchecked(&mut buf[..], Family::V4);
    p.set_adver_int_raw(0xfff);
    assert_eq!(p.adver_int_raw(), 0xfff);
    p.set_priority(1);
    p.fill_checksum(&carrier4(), ChecksumMode::PseudoHeader);
    assert!(p.verify_checksum(&carrier4(), ChecksumMode::PseudoHeader));
    assert!(!p.verify_checksum(&carrier4(), ChecksumMode::Plain));
}

// ---- robustness ---------------------------------------------------------

#[test]
fn every_truncation_is_an_error() {
    for (bytes, carrier, _, _) in known() {
        for n in 0..bytes.len() {
            assert_eq!(
                Repr::parse(&bytes[..n], &carrier),
                Err(Error::Truncated),
                "len {n}"
            );
            assert!(Packet::new_checked(&bytes[..n], carrier.family().expect("c")).is_err());
        }
    }
}

#[test]
fn trailing_bytes_are_rejected() {
    for (mut bytes, carrier, _, _) in known() {
        bytes.push(0);
        assert_eq!(Repr::parse(&bytes, &carrier), Err(Error::BadLength));
        // The view itself accepts longer buffers.
        assert!(Packet::new_checked(&bytes[..], carrier.family().expect("c")).is_ok());
    }
}

#[test]
fn checksum_bit_flips_are_bad_checksum() {
    for (bytes, carrier, _, _) in known() {
        for bit in 0..16 {
            let mut b = bytes.clone();
            b[6 + bit / 8] ^= 1 << (bit % 8);
            assert_eq!(
                Repr::parse(&b, &carrier),
                Err(Error::BadChecksum),
                "bit {bit}"
            );
        }
        // Any single-bit error outside the version/type and count bytes is
        // caught by the checksum (before any other field check).
        for i in (1..bytes.len()).filter(|&i| i != 3) {
            for bit in 0..8 {
                let mut b = bytes.clone();
                b[i] ^= 1 << bit;
                assert_eq!(
                    Repr::parse(&b, &carrier),
                    Err(Error::BadChecksum),
                    "byte {i} bit {bit}"
                );
            }
        }
    }
}

#[test]
fn wrong_version_and_type_rejected() {
    for (bytes, carrier, _, _) in known() {
        for (b0, err) in [
            (0x11, Error::BadVersion(1)),
            (0x41, Error::BadVersion(4)),
            (0x01, Error::BadVersion(0)),
            (0xf1, Error::BadVersion(15)),
        ] {
            let mut b = bytes.clone();
            b[0] = b0;
            assert_eq!(Repr::parse(&b, &carrier), Err(err));
        }
        let version = bytes[0] & 0xf0;
        for t in [0u8, 2, 3, 15] {
            let mut b = bytes.clone();
            b[0] = version | t;
            assert_eq!(Repr::parse(&b, &carrier), Err(Error::BadType(t)));
        }
    }
    // VRRPv2 exists only over IPv4.
    assert_eq!(Repr::parse(&V2, &carrier6()), Err(Error::BadVersion(2)));
}

#[test]
fn mixed_carrier_rejected() {
    let c = Carrier {
        src: v4(192, 0, 2, 1),
        dst: MCAST_V6.into(),
    };
    assert_eq!(Repr::parse(&V3_PLAIN, &c), Err(Error::BadAddressFamily));
    assert_eq!(repr_v3().validate(&c), Err(Error::BadAddressFamily));
}

#[test]
fn field_errors_with_valid_checksum() {
    let c4 = carrier4();
    // Address count 0.
    let mut b = V3_PLAIN[..8].to_vec();
    b[3] = 0;
    refix(&mut b, &c4, ChecksumMode::Plain);
    assert_eq!(Repr::parse(&b, &c4), Err(Error::BadAddressCount));
    // Count larger than the message: truncated; smaller: trailing bytes.
    let mut b = V2;
    b[3] = 3;
    assert_eq!(Repr::parse(&b, &c4), Err(Error::Truncated));
    b[3] = 1;
    assert_eq!(Repr::parse(&b, &c4), Err(Error::BadLength));
    // Interval 0, v2 and v3.
    let mut b = V2;
    b[5] = 0;
    refix(&mut b, &c4, ChecksumMode::Plain);
    assert_eq!(Repr::parse(&b, &c4), Err(Error::BadInterval));
    for mode in [ChecksumMode::Plain, ChecksumMode::PseudoHeader] {
        let mut b = V3_PLAIN;
        b[4] = 0xf0; // reserved bits do not count
        b[5] = 0;
        refix(&mut b, &c4, mode);
        assert_eq!(Repr::parse(&b, &c4), Err(Error::BadInterval));
    }
    // Unknown v2 auth type.
    let mut b = V2;
    b[4] = 3;
    refix(&mut b, &c4, ChecksumMode::Plain);
    assert_eq!(Repr::parse(&b, &c4), Err(Error::BadAuthType(3)));
}

#[test]
fn v3_reserved_bits_ignored_and_max_interval() {
    let mut b = V3_PLAIN;
    b[4] = 0xaf;
    b[5] = 0xff;
    refix(&mut b, &carrier4(), ChecksumMode::PseudoHeader);
    let (r, mode) = Repr::parse(&b, &carrier4()).expect("parse");
    assert_eq!(mode, ChecksumMode::PseudoHeader);
    assert_eq!(r.adver_int_cs, 4095);
    // Re-emitting clears the reserved bits.
    assert_eq!(r.to_bytes(&carrier4(), mode)[4], 0x0f);
}

#[test]
fn v2_auth_variants() {
    let c = carrier4();
    for auth in [Auth::None, Auth::Ah, Auth::Pass(*b"12345678")] {
        let r = Repr {
            auth,
            adver_int_cs: 25500,
            ..repr_v2()
        };
        let b = r.to_bytes(&c, ChecksumMode::Plain);
        assert_eq!(b[4], auth.type_code());
        assert_eq!(b[5], 255);
        let expect_data = match auth {
            Auth::Pass(p) => p,
            _ => [0; 8],
        };
        assert_eq!(&b[16..24], &expect_data);
        assert_eq!(Repr::parse(&b, &c), Ok((r, ChecksumMode::Plain)));
    }
    // Auth type 0: data is ignored on receipt.
    let mut b = Repr {
        auth: Auth::None,
        ..repr_v2()
    }
    .to_bytes(&c, ChecksumMode::Plain);
    b[16..24].copy_from_slice(b"garbage!");
    refix(&mut b, &c, ChecksumMode::Plain);
    assert_eq!(Repr::parse(&b, &c).map(|(r, _)| r.auth), Ok(Auth::None));
}

#[test]
fn validate_rejects_unemittable_reprs() {
    let c4 = carrier4();
    let c6 = carrier6();
    let ok = repr_v3();
    assert_eq!(ok.validate(&c4), Ok(()));
    let cases = [
        (
            Repr {
                addresses: vec![],
                ..ok.clone()
            },
            &c4,
            Error::BadAddressCount,
        ),
        (
            Repr {
                addresses: vec![v4(10, 0, 0, 1); 256],
                ..ok.clone()
            },
            &c4,
            Error::BadAddressCount,
        ),
        (
            Repr {
                addresses: vec![v4(10, 0, 0, 1), v6("::1")],
                ..ok.clone()
            },
            &c4,
            Error::BadAddressFamily,
        ),
        (ok.clone(), &c6, Error::BadAddressFamily),
        (
            Repr {
                adver_int_cs: 0,
                ..ok.clone()
            },
            &c4,
            Error::BadInterval,
        ),
        (
            Repr {
                adver_int_cs: 4096,
                ..ok.clone()
            },
            &c4,
            Error::BadInterval,
        ),
        (
            Repr {
                auth: Auth::Ah,
                ..ok.clone()
            },
            &c4,
            Error::BadAuthType(2),
        ),
        (
            Repr {
                adver_int_cs: 150,
                ..repr_v2()
            },
            &c4,
            Error::BadInterval,
        ),
        (
            Repr {
                adver_int_cs: 25600,
                ..repr_v2()
            },
            &c4,
            Error::BadInterval,
        ),
        (
            Repr {
                adver_int_cs: 0,
                ..repr_v2()
            },
            &c4,
            Error::BadInterval,
        ),
        (
            Repr {
                addresses: vec![v6("::1")],
                ..repr_v2()
            },
            &c6,
            Error::BadVersion(2),
        ),
    ];
    for (r, c, e) in cases {
        assert_eq!(r.validate(c), Err(e), "{r:?}");
    }
    // 255 addresses is the maximum.
    let big = Repr {
        addresses: vec![v6("2001:db8::1"); 255],
        ..repr_v3_v6()
    };
    assert_eq!(big.validate(&c6), Ok(()));
    let b = big.to_bytes(&c6, ChecksumMode::PseudoHeader);
    assert_eq!(b.len(), 8 + 255 * 16);
    assert_eq!(Repr::parse(&b, &c6), Ok((big, ChecksumMode::PseudoHeader)));
}

#[test]
#[should_panic(expected = "invalid VRRP Repr")]
fn emit_panics_on_invalid_repr() {
    let r = Repr {
        addresses: vec![],
        ..repr_v3()
    };
    let mut buf = [0u8; 64];
    r.emit(&mut buf, &carrier4(), ChecksumMode::Plain);
}

#[test]
#[should_panic(expected = "buffer too short")]
fn emit_panics_on_short_buffer() {
    let mut buf = [0u8; 11];
    repr_v3().emit(&mut buf, &carrier4(), ChecksumMode::Plain);
}

#[test]
fn emit_leaves_the_rest_of_the_buffer_alone() {
    let mut buf = [0xeeu8; 32];
    repr_v3().emit(&mut buf, &carrier4(), ChecksumMode::PseudoHeader);
    assert_eq!(&buf[..12], &V3_PSEUDO);
    assert!(buf[12..].iter().all(|&b| b == 0xee));
}

#[test]
fn random_reprs_roundtrip() {
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    for _ in 0..3000 {
        let ipv6 = rng.below(3) == 0;
        let version = if ipv6 || rng.below(2) == 0 {
            Version::V3
        } else {
            Version::V2
        };
        let max = if rng.below(10) == 0 { 255 } else { 8 };
        let n = 1 + rng.below(max);
        let addresses = (0..n)
            .map(|_| {
                if ipv6 {
                    IpAddr::V6(Ipv6Addr::from(
                        u128::from(rng.next()) << 64 | u128::from(rng.next()),
                    ))
                } else {
                    IpAddr::V4(Ipv4Addr::from(rng.next() as u32))
                }
            })
            .collect();
        let (adver_int_cs, auth) = match version {
            Version::V2 => {
                let auth = match rng.below(3) {
                    0 => Auth::None,
                    1 => Auth::Ah,
                    _ => Auth::Pass(rng.next().to_be_bytes()),
                };
                ((1 + rng.below(255) as u16) * 100, auth)
            }
            Version::V3 => (1 + rng.below(4095) as u16, Auth::None),
        };
        let r = Repr {
            version,
            vrid: rng.byte(),
            priority: rng.byte(),
            adver_int_cs,
            auth,
            addresses,
        };
        let carrier = if ipv6 {
            Carrier {
                src: IpAddr::V6(Ipv6Addr::from(u128::from(rng.next()))),
                dst: MCAST_V6.into(),
            }
        } else {
            Carrier {
                src: IpAddr::V4(Ipv4Addr::from(rng.next() as u32)),
                dst: MCAST_V4.into(),
            }
        };
        let mode = if rng.below(2) == 0 {
            ChecksumMode::Plain
        } else {
            ChecksumMode::PseudoHeader
        };
        let b = r.to_bytes(&carrier, mode);
        assert_eq!(b.len(), r.buffer_len());
        let (parsed, got) = Repr::parse(&b, &carrier).expect("roundtrip");
        assert_eq!(parsed, r);
        let expected = match (version, ipv6) {
            (Version::V2, _) => ChecksumMode::Plain,
            (_, true) => ChecksumMode::PseudoHeader,
            _ => mode,
        };
        // Both modes can only match together when the pseudo-header sum is
        // 0 mod 0xffff, in which case the bytes are identical either way.
        if got != expected {
            assert_eq!(
                r.to_bytes(&carrier, ChecksumMode::Plain),
                r.to_bytes(&carrier, ChecksumMode::PseudoHeader)
            );
        }
    }
}

/// Exercise every parser and accessor on `data`; they must not panic.
fn poke(data: &[u8], carrier: &Carrier) {
    let _ = Repr::parse(data, carrier);
    for family in [Family::V4, Family::V6] {
        if let Ok(p) = Packet::new_checked(data, family) {
            let _ = (
                p.version(),
                p.kind(),
                p.vrid(),
                p.priority(),
                p.count_addrs(),
            );
            let _ = (
                p.auth_type(),
                p.adver_int_raw(),
                p.reserved_v3(),
                p.checksum(),
            );
            let _ = (p.addresses().len(), p.auth_data().len(), p.addrs().count());
            let _ = p.verify_checksum(carrier, ChecksumMode::Plain);
            let _ = p.verify_checksum(carrier, ChecksumMode::PseudoHeader);
        }
    }
    let _ = ipv4::HeaderRepr::parse(data);
    let _ = ipv4::checksum_ok(data);
    let _ = arp::Repr::parse(data);
    let _ = arp::parse_frame(data);
    let _ = ethernet::parse_header(data);
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = XorShift(0x2545_f491_4f6c_dd1d);
    let carriers = [
        carrier4(),
        carrier6(),
        Carrier {
            src: v4(10, 0, 0, 1),
            dst: v6("::1"),
        },
    ];
    let mut buf = [0u8; 128];
    for i in 0..100_000 {
        let len = rng.below(buf.len() + 1);
        for b in &mut buf[..len] {
            *b = rng.byte();
        }
        // Bias half the inputs toward plausible VRRP headers so the deeper
        // checks are reached, not just the version check.
        if i % 2 == 0 && len > 4 {
            buf[0] = [0x21, 0x31, 0x31, 0x45][rng.below(4)];
            buf[3] = rng.below(8) as u8;
        }
        poke(&buf[..len], &carriers[i % carriers.len()]);
    }
}

#[test]
fn mutated_valid_packets_never_panic() {
    let mut rng = XorShift(0xdead_beef_cafe_f00d);
    let known = known();
    let mut accepted = 0;
    for i in 0..50_000 {
        let (bytes, carrier, _, mode) = &known[i % known.len()];
        let mut b = bytes.clone();
        for _ in 0..1 + rng.below(3) {
            let at = rng.below(b.len());
            b[at] = rng.byte();
        }
        if rng.below(4) == 0 {
            b.truncate(rng.below(b.len() + 1));
        }
        // Usually repair the checksum so field validation is reached.
        if rng.below(4) != 0
            && let Ok(family) = carrier.family()
            && Packet::new_checked(&b[..], family).is_ok()
        {
            refix(&mut b, carrier, *mode);
        }
        if Repr::parse(&b, carrier).is_ok() {
            accepted += 1;
        }
        poke(&b, carrier);
    }
    assert!(
        accepted > 1000,
        "mutations reached the accept path only {accepted} times"
    );
}
