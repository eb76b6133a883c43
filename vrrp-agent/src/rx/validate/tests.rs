use std::net::{IpAddr, Ipv4Addr};

use proptest::prelude::*;
use vrrp_common::{AF_INET, DropReason, VridConfig, VridKey, flags, state};

use super::*;
use crate::wire::{self, checksum, vrrp};

const IFINDEX: u32 = 7;
const US: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const PEER: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
const VIP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 100);
const PASS: [u8; 8] = *b"s3cret!!";

fn key(vrid: u8) -> VridKey {
    VridKey { ifindex: IFINDEX, vrid: u16::from(vrid), family: AF_INET }
}

fn rules() -> RuleTable {
    let mut t = RuleTable::default();
    let base = VridConfig { version: 2, adver_int_cs: 100, state: state::BACKUP, priority: 100, primary_v4: US.octets(), ..VridConfig::default() };
    t.insert(key(51), base.with_pass(PASS), &[VIP.octets()], &[], &[]);
    t.insert(key(52), VridConfig { version: 3, ..base }.without_auth(), &[VIP.octets()], &[], &[]);
    t.insert(key(53), VridConfig { version: 3, flags: flags::UNICAST | flags::PEER_ALLOW_LIST, ..base }.without_auth(), &[VIP.octets()], &[], &[PEER.octets()]);
    // Multicast, VRRPv2 with PASS, and a peer allow-list (`allowed_peer`).
    t.insert(key(54), VridConfig { flags: flags::PEER_ALLOW_LIST, ..base }.with_pass(PASS), &[VIP.octets()], &[], &[PEER.octets()]);
    t
}

fn repr(version: vrrp::Version, vrid: u8) -> vrrp::Repr {
    vrrp::Repr {
        version,
        vrid,
        priority: 150,
        adver_int_cs: 100,
        auth: if version == vrrp::Version::V2 { vrrp::Auth::Pass(PASS) } else { vrrp::Auth::None },
        addresses: vec![IpAddr::V4(VIP)],
    }
}

/// The IP packet (no Ethernet header) of an advert.
fn packet(r: &vrrp::Repr, dst: Ipv4Addr, mode: vrrp::ChecksumMode) -> Vec<u8> {
    let f = wire::vrrp_frame_v4([2, 0, 0, 0, 0, 2], PEER, dst, 255, r, mode);
    let total = usize::from(u16::from_be_bytes([f[16], f[17]]));
    f[14..14 + total].to_vec()
}

/// The same packet with `opts` (a multiple of 4 bytes) of IP options inserted.
fn with_options(p: &[u8], opts: &[u8]) -> Vec<u8> {
    let mut out = p[..20].to_vec();
    out.extend_from_slice(opts);
    out.extend_from_slice(&p[20..]);
    out[0] = 0x40 | ((20 + opts.len()) / 4) as u8;
    let total = (out.len() as u16).to_be_bytes();
    out[2..4].copy_from_slice(&total);
    fix_ip_checksum(&mut out);
    out
}

fn fix_ip_checksum(p: &mut [u8]) {
    let ihl = usize::from(p[0] & 0x0f) * 4;
    p[10..12].copy_from_slice(&[0, 0]);
    let c = checksum::fold(checksum::ones_complement_sum(&p[..ihl], 0));
    p[10..12].copy_from_slice(&c.to_be_bytes());
}

fn reason(v: Verdict) -> Option<DropReason> {
    match v {
        Verdict::Drop { reason, .. } => Some(reason),
        _ => None,
    }
}

#[test]
fn accepts_v2_and_v3_in_both_checksum_modes() {
    let t = rules();
    let v2 = packet(&repr(vrrp::Version::V2, 51), vrrp::MCAST_V4, vrrp::ChecksumMode::Plain);
    let Verdict::Accept(a) = validate(&v2, IFINDEX, &t) else { panic!("v2 accepted") };
    assert_eq!((a.key, a.record.priority, a.record.version, a.record.adver_int_cs, a.record.src_v4), (key(51), 150, 2, 100, PEER.octets()));
    for (mode, pseudo) in [(vrrp::ChecksumMode::Plain, false), (vrrp::ChecksumMode::PseudoHeader, true)] {
        let v3 = packet(&repr(vrrp::Version::V3, 52), vrrp::MCAST_V4, mode);
        let Verdict::Accept(a) = validate(&v3, IFINDEX, &t) else { panic!("v3 accepted") };
        assert_eq!(a.pseudo_header, pseudo);
        assert!(!a.interval_mismatch);
    }
    let mut r = repr(vrrp::Version::V3, 52);
    r.adver_int_cs = 4095;
    let Verdict::Accept(a) = validate(&packet(&r, vrrp::MCAST_V4, vrrp::ChecksumMode::Plain), IFINDEX, &t) else { panic!("accepted") };
    assert!(a.interval_mismatch, "v3 learns the interval, but it is counted");
}

#[test]
fn an_advert_with_ip_options_is_judged_here() {
    let t = rules();
    // Router Alert (RFC 2113), then NOP padding to a whole word.
    let ra = [0x94, 0x04, 0x00, 0x00];
    let good = packet(&repr(vrrp::Version::V2, 51), vrrp::MCAST_V4, vrrp::ChecksumMode::Plain);
    let opt = with_options(&good, &ra);
    assert_eq!(opt[0], 0x46);
    assert!(matches!(validate(&opt, IFINDEX, &t), Verdict::Accept(_)));
    let long = with_options(&good, &[1; 40]);
    assert!(matches!(validate(&long, IFINDEX, &t), Verdict::Accept(_)));
    // The same rules apply behind the options.
    let mut bad = with_options(&good, &ra);
    bad[24 + 7] ^= 1;
    assert_eq!(reason(validate(&bad, IFINDEX, &t)), Some(DropReason::Checksum));
    let mut ttl = with_options(&good, &ra);
    ttl[8] = 1;
    fix_ip_checksum(&mut ttl);
    assert_eq!(reason(validate(&ttl, IFINDEX, &t)), Some(DropReason::Ttl));
    let mut ipsum = with_options(&good, &ra);
    ipsum[21] ^= 0x10;
    assert_eq!(reason(validate(&ipsum, IFINDEX, &t)), Some(DropReason::IpChecksum));
}

#[test]
fn the_issue_forgeries_are_dropped_with_their_reason() {
    let t = rules();
    let good = packet(&repr(vrrp::Version::V2, 51), vrrp::MCAST_V4, vrrp::ChecksumMode::Plain);
    let with_src = |src: [u8; 4]| {
        let mut p = good.clone();
        p[12..16].copy_from_slice(&src);
        fix_ip_checksum(&mut p);
        p
    };
    let cases: [(&str, Vec<u8>, DropReason); 6] = [
        ("0.0.0.0", with_src([0, 0, 0, 0]), DropReason::MartianSource),
        ("127.0.0.1", with_src([127, 0, 0, 1]), DropReason::MartianSource),
        ("224.0.0.5", with_src([224, 0, 0, 5]), DropReason::MartianSource),
        ("255.255.255.255", with_src([255; 4]), DropReason::MartianSource),
        ("the VIP", with_src(VIP.octets()), DropReason::SourceIsVip),
        ("us", with_src(US.octets()), DropReason::SourceIsSelf),
    ];
    for (what, p, r) in cases {
        assert_eq!(reason(validate(&p, IFINDEX, &t)), Some(r), "{what}");
    }
    // Unicast instance: to 224.0.0.18, to someone else, from a stranger.
    let u = repr(vrrp::Version::V3, 53);
    assert_eq!(reason(validate(&packet(&u, vrrp::MCAST_V4, vrrp::ChecksumMode::Plain), IFINDEX, &t)), Some(DropReason::MulticastToUnicast));
    assert_eq!(reason(validate(&packet(&u, Ipv4Addr::new(198, 18, 0, 9), vrrp::ChecksumMode::Plain), IFINDEX, &t)), Some(DropReason::WrongDestination));
    let mut ttl1 = packet(&u, US, vrrp::ChecksumMode::Plain);
    ttl1[8] = 1;
    fix_ip_checksum(&mut ttl1);
    assert!(matches!(validate(&ttl1, IFINDEX, &t), Verdict::Accept(_)), "unicast: TTL is not checked");
    let mut stranger = packet(&u, US, vrrp::ChecksumMode::Plain);
    stranger[12..16].copy_from_slice(&[198, 18, 0, 3]);
    fix_ip_checksum(&mut stranger);
    assert_eq!(reason(validate(&stranger, IFINDEX, &t)), Some(DropReason::UnknownPeer));
    // Multicast instance, unicast advert.
    assert_eq!(reason(validate(&packet(&repr(vrrp::Version::V2, 51), US, vrrp::ChecksumMode::Plain), IFINDEX, &t)), Some(DropReason::UnicastToMulticast));
}

#[test]
fn a_multicast_allow_list_drops_strangers_before_auth_and_election() {
    let t = rules();
    let r = repr(vrrp::Version::V2, 54);
    let from = |src: Ipv4Addr, r: &vrrp::Repr| {
        let mut p = packet(r, vrrp::MCAST_V4, vrrp::ChecksumMode::Plain);
        p[12..16].copy_from_slice(&src.octets());
        fix_ip_checksum(&mut p);
        p
    };
    let Verdict::Accept(a) = validate(&from(PEER, &r), IFINDEX, &t) else { panic!("the listed peer is accepted") };
    assert_eq!(a.record.src_v4, PEER.octets());
    let stranger = Ipv4Addr::new(198, 18, 0, 66);
    // The VIP thief: priority 255, everything else right.
    let thief = vrrp::Repr { priority: 255, ..r.clone() };
    assert_eq!(reason(validate(&from(stranger, &thief), IFINDEX, &t)), Some(DropReason::UnknownPeer));
    // Before the costlier checks: wrong PASS and a bad checksum are still "unknown peer".
    let wrong_pass = vrrp::Repr { auth: vrrp::Auth::Pass(*b"guessed!"), ..thief.clone() };
    assert_eq!(reason(validate(&from(stranger, &wrong_pass), IFINDEX, &t)), Some(DropReason::UnknownPeer));
    // After the source checks: our own address is still SourceIsSelf, a VIP SourceIsVip.
    assert_eq!(reason(validate(&from(US, &thief), IFINDEX, &t)), Some(DropReason::SourceIsSelf));
    assert_eq!(reason(validate(&from(VIP, &thief), IFINDEX, &t)), Some(DropReason::SourceIsVip));
    // The same stranger on the instance without a list is heard (keepalived's default).
    let open = repr(vrrp::Version::V2, 51);
    assert!(matches!(validate(&from(stranger, &open), IFINDEX, &t), Verdict::Accept(_)));
}

#[test]
fn address_lists_must_match_unless_skipped() {
    let mut t = rules();
    let mut r = repr(vrrp::Version::V3, 52);
    r.addresses = (1..=100).map(|i| IpAddr::V4(Ipv4Addr::new(198, 19, 0, i))).collect();
    let foreign = packet(&r, vrrp::MCAST_V4, vrrp::ChecksumMode::Plain);
    assert_eq!(reason(validate(&foreign, IFINDEX, &t)), Some(DropReason::AddrList));
    // Same count, one of ours twice.
    let ours: Vec<[u8; 4]> = vec![VIP.octets(), [198, 18, 0, 101]];
    let cfg = t.configs[&key(52)];
    t.insert(key(52), cfg, &ours, &[], &[]);
    r.addresses = vec![IpAddr::V4(VIP), IpAddr::V4(VIP)];
    assert_eq!(reason(validate(&packet(&r, vrrp::MCAST_V4, vrrp::ChecksumMode::Plain), IFINDEX, &t)), Some(DropReason::AddrList));
    // Another order is the same list.
    r.addresses = vec![IpAddr::V4(Ipv4Addr::new(198, 18, 0, 101)), IpAddr::V4(VIP)];
    assert!(matches!(validate(&packet(&r, vrrp::MCAST_V4, vrrp::ChecksumMode::Plain), IFINDEX, &t), Verdict::Accept(_)));
    // vrrp_skip_check_adv_addr.
    t.configs.get_mut(&key(52)).expect("cfg").flags |= flags::SKIP_CHECK_ADV_ADDR;
    assert!(matches!(validate(&foreign, IFINDEX, &t), Verdict::Accept(_)));
}

#[test]
fn count_zero_and_length_mismatch() {
    let t = rules();
    let good = packet(&repr(vrrp::Version::V3, 52), vrrp::MCAST_V4, vrrp::ChecksumMode::Plain);
    let mut zero = good.clone();
    zero[23] = 0;
    assert_eq!(reason(validate(&zero, IFINDEX, &t)), Some(DropReason::AddrCountZero));
    // Count 1, three addresses on the wire.
    let mut r = repr(vrrp::Version::V3, 52);
    r.addresses = vec![IpAddr::V4(VIP), IpAddr::V4(Ipv4Addr::new(198, 18, 0, 101)), IpAddr::V4(Ipv4Addr::new(198, 18, 0, 102))];
    let mut three = packet(&r, vrrp::MCAST_V4, vrrp::ChecksumMode::Plain);
    three[23] = 1;
    assert_eq!(reason(validate(&three, IFINDEX, &t)), Some(DropReason::Length));
    let mut short = good.clone();
    short[23] = 3;
    assert_eq!(reason(validate(&short, IFINDEX, &t)), Some(DropReason::Truncated));
    assert_eq!(reason(validate(&good[..25], IFINDEX, &t)), Some(DropReason::Truncated));
}

#[test]
fn what_is_not_judged() {
    let t = rules();
    let good = packet(&repr(vrrp::Version::V2, 51), vrrp::MCAST_V4, vrrp::ChecksumMode::Plain);
    let mut unknown = packet(&repr(vrrp::Version::V2, 99), vrrp::MCAST_V4, vrrp::ChecksumMode::Plain);
    assert_eq!(validate(&unknown, IFINDEX, &t), Verdict::Pass(PassReason::UnknownVrid));
    assert_eq!(validate(&good, IFINDEX + 1, &t), Verdict::Pass(PassReason::UnknownVrid), "another interface");
    unknown[9] = 17;
    assert_eq!(validate(&unknown, IFINDEX, &t), Verdict::Pass(PassReason::NotVrrp));
    let mut frag = good.clone();
    frag[6] = 0x20;
    assert_eq!(validate(&frag, IFINDEX, &t), Verdict::Pass(PassReason::Fragment));
    assert_eq!(validate(&[], IFINDEX, &t), Verdict::Pass(PassReason::NotVrrp));
}

/// A valid advert for one of the configured instances, or a random mutation of one.
fn valid_packet() -> impl Strategy<Value = Vec<u8>> {
    (0usize..3, any::<bool>()).prop_map(|(which, pseudo)| {
        let mode = if pseudo { vrrp::ChecksumMode::PseudoHeader } else { vrrp::ChecksumMode::Plain };
        match which {
            0 => packet(&repr(vrrp::Version::V2, 51), vrrp::MCAST_V4, mode),
            1 => packet(&repr(vrrp::Version::V3, 52), vrrp::MCAST_V4, mode),
            _ => packet(&repr(vrrp::Version::V3, 53), US, mode),
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4096, rng_seed: proptest::test_runner::RngSeed::Fixed(6), ..ProptestConfig::default() })]

    #[test]
    fn never_panics_on_random_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..1200), ifindex in 0u32..10) {
        let _ = validate(&bytes, ifindex, &rules());
    }

    #[test]
    fn never_panics_on_mutated_adverts(
        p in valid_packet(),
        edits in proptest::collection::vec((0usize..64, any::<u8>()), 1..6),
        cut in 0usize..80,
        options in 0usize..11,
    ) {
        let mut p = p;
        if options > 0 {
            p = with_options(&p, &vec![1; options * 4]);
        }
        for (at, b) in edits {
            if let Some(x) = p.get_mut(at) {
                *x = b;
            }
        }
        let n = p.len().saturating_sub(cut % 8);
        let v = validate(&p[..n], IFINDEX, &rules());
        if let Verdict::Accept(a) = v {
            // Whatever got through really satisfies the rules that need no map.
            prop_assert!(a.record.count_addrs >= 1);
            prop_assert!(!vrrp_common::is_martian_source_v4(a.record.src_v4));
        }
    }
}

// ---- IPv6 ----

mod v6 {
    use std::net::{IpAddr, Ipv6Addr};

    use proptest::prelude::*;
    use vrrp_common::{AF_INET6, DropReason, VridConfig, VridKey, flags, state};

    use super::super::*;
    use crate::wire::{checksum, vrrp};

    const IFINDEX: u32 = 7;
    const US: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1);
    const PEER: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 2);
    const VIP_LL: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0x100);
    const VIP: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x100);
    const UPEER: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2);
    const UUS: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);

    fn key(vrid: u8) -> VridKey {
        VridKey { ifindex: IFINDEX, vrid: u16::from(vrid), family: AF_INET6 }
    }

    fn rules() -> RuleTable {
        let mut t = RuleTable::default();
        let base = VridConfig { version: 3, adver_int_cs: 100, state: state::BACKUP, priority: 100, primary_v6: US.octets(), ..VridConfig::default() };
        let ours = [VIP_LL.octets(), VIP.octets()];
        t.insert_v6(key(61), base, &ours, &[], &[]);
        let uni = VridConfig { flags: flags::UNICAST | flags::PEER_ALLOW_LIST, primary_v6: UUS.octets(), ..base };
        t.insert_v6(key(62), uni, &ours, &[], &[UPEER.octets()]);
        t.insert_v6(key(63), VridConfig { flags: flags::PEER_ALLOW_LIST, ..base }, &ours, &[], &[PEER.octets()]);
        t
    }

    fn repr(vrid: u8) -> vrrp::Repr {
        vrrp::Repr {
            version: vrrp::Version::V3,
            vrid,
            priority: 150,
            adver_int_cs: 100,
            auth: vrrp::Auth::None,
            addresses: vec![IpAddr::V6(VIP_LL), IpAddr::V6(VIP)],
        }
    }

    fn carrier(src: Ipv6Addr, dst: Ipv6Addr) -> Ipv6Carrier {
        Ipv6Carrier { src, dst, hop_limit: 255 }
    }

    fn msg(r: &vrrp::Repr, c: &Ipv6Carrier) -> Vec<u8> {
        r.to_bytes(&vrrp::Carrier { src: c.src.into(), dst: c.dst.into() }, vrrp::ChecksumMode::PseudoHeader)
    }

    /// The IPv6 packet (header + message) XDP would see.
    fn packet(c: &Ipv6Carrier, m: &[u8]) -> Vec<u8> {
        let mut p = vec![0x60, 0, 0, 0];
        p.extend_from_slice(&(m.len() as u16).to_be_bytes());
        p.extend_from_slice(&[112, c.hop_limit]);
        p.extend_from_slice(&c.src.octets());
        p.extend_from_slice(&c.dst.octets());
        p.extend_from_slice(m);
        p
    }

    fn fix_checksum(c: &Ipv6Carrier, m: &mut [u8]) {
        m[6..8].copy_from_slice(&[0, 0]);
        let ph = checksum::pseudo_header_v6(c.src, c.dst, 112, m.len() as u32);
        let s = checksum::fold(checksum::ones_complement_sum(m, ph));
        m[6..8].copy_from_slice(&s.to_be_bytes());
    }

    fn both(c: &Ipv6Carrier, m: &[u8]) -> Verdict {
        let slow = validate_v6(c, m, IFINDEX, &rules());
        let whole = validate_ipv6_packet(&packet(c, m), IFINDEX, &rules());
        assert_eq!(slow, whole, "the socket's and the packet's validator agree");
        slow
    }

    fn reason(v: Verdict) -> Option<DropReason> {
        match v {
            Verdict::Drop { reason, .. } => Some(reason),
            _ => None,
        }
    }

    #[test]
    fn accepts_a_v3_advert_with_the_pseudo_header_and_records_its_source() {
        let c = carrier(PEER, vrrp::MCAST_V6);
        let Verdict::Accept(a) = both(&c, &msg(&repr(61), &c)) else { panic!("accepted") };
        assert_eq!(a.key, key(61));
        assert_eq!(a.record.src_v6, PEER.octets());
        assert_eq!(a.record.src_v4, [0; 4]);
        assert_eq!(a.record.src(AF_INET6), IpAddr::V6(PEER));
        assert_eq!((a.record.priority, a.record.version, a.record.adver_int_cs, a.record.count_addrs), (150, 3, 100, 2));
        assert!(a.pseudo_header && !a.interval_mismatch);
        // A global source is accepted, as keepalived accepts it.
        let g = carrier(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 9), vrrp::MCAST_V6);
        assert!(matches!(both(&g, &msg(&repr(61), &g)), Verdict::Accept(_)));
        // Addresses in another order: accepted as a set.
        let mut r = repr(61);
        r.addresses.reverse();
        assert!(matches!(both(&c, &msg(&r, &c)), Verdict::Accept(_)));
    }

    #[test]
    fn each_rule_gives_its_reason() {
        use DropReason as R;
        let c = carrier(PEER, vrrp::MCAST_V6);
        let good = msg(&repr(61), &c);
        let edited = |c: &Ipv6Carrier, e: &dyn Fn(&mut Vec<u8>)| {
            let mut m = msg(&repr(61), c);
            e(&mut m);
            fix_checksum(c, &mut m);
            m
        };
        let cases: Vec<(&str, Ipv6Carrier, Vec<u8>, DropReason)> = vec![
            ("hop limit 254", Ipv6Carrier { hop_limit: 254, ..c }, good.clone(), R::Ttl),
            ("plain checksum (no pseudo-header)", c, {
                let mut m = good.clone();
                m[6..8].copy_from_slice(&[0, 0]);
                let s = checksum::fold(checksum::ones_complement_sum(&m, 0));
                m[6..8].copy_from_slice(&s.to_be_bytes());
                m
            }, R::Checksum),
            ("bad checksum", c, { let mut m = good.clone(); m[7] ^= 1; m }, R::Checksum),
            ("VRRPv2 over IPv6", c, edited(&c, &|m| m[0] = 0x21), R::Version),
            ("type 2", c, edited(&c, &|m| m[0] = 0x32), R::Type),
            ("count 0", c, edited(&c, &|m| m[3] = 0), R::AddrCountZero),
            ("count 3 with 2 addresses", c, edited(&c, &|m| m[3] = 3), R::Truncated),
            ("count 1 with 2 addresses", c, edited(&c, &|m| m[3] = 1), R::Length),
            ("interval 0", c, edited(&c, &|m| { m[4] = 0; m[5] = 0 }), R::BadInterval),
            ("a foreign address", c, edited(&c, &|m| m[8 + 16 + 15] = 0x99), R::AddrList),
            ("one of ours twice", c, edited(&c, &|m| { let a = m[8..24].to_vec(); m[24..40].copy_from_slice(&a) }), R::AddrList),
            ("to another group", carrier(PEER, "ff02::1".parse().expect("addr")), good.clone(), R::WrongDestination),
            ("unicast to a multicast instance", carrier(PEER, US), good.clone(), R::UnicastToMulticast),
            ("source ::", carrier(Ipv6Addr::UNSPECIFIED, vrrp::MCAST_V6), good.clone(), R::MartianSource),
            ("source ::1", carrier(Ipv6Addr::LOCALHOST, vrrp::MCAST_V6), good.clone(), R::MartianSource),
            ("source multicast", carrier("ff02::5".parse().expect("addr"), vrrp::MCAST_V6), good.clone(), R::MartianSource),
            ("source IPv4-mapped", carrier("::ffff:198.18.0.2".parse().expect("addr"), vrrp::MCAST_V6), good.clone(), R::MartianSource),
            ("source = us", carrier(US, vrrp::MCAST_V6), good.clone(), R::SourceIsSelf),
            ("source = a VIP", carrier(VIP, vrrp::MCAST_V6), good.clone(), R::SourceIsVip),
        ];
        for (what, c, m, want) in cases {
            // Checksums follow the carrier (a forged source must still sum right to reach its rule).
            let mut m = m;
            if want != R::Checksum && !what.contains("checksum") {
                fix_checksum(&c, &mut m);
            }
            assert_eq!(reason(both(&c, &m)), Some(want), "{what}");
        }
    }

    #[test]
    fn unicast_instances_want_our_address_and_a_known_peer() {
        use DropReason as R;
        let ok = carrier(UPEER, UUS);
        let m = |c: &Ipv6Carrier| msg(&repr(62), c);
        assert!(matches!(both(&ok, &m(&ok)), Verdict::Accept(_)));
        let routed = Ipv6Carrier { hop_limit: 60, ..ok };
        assert!(matches!(both(&routed, &m(&routed)), Verdict::Accept(_)), "no hop-limit check for unicast");
        let mc = carrier(UPEER, vrrp::MCAST_V6);
        assert_eq!(reason(both(&mc, &m(&mc))), Some(R::MulticastToUnicast));
        let other = carrier(UPEER, "2001:db8::77".parse().expect("addr"));
        assert_eq!(reason(both(&other, &m(&other))), Some(R::WrongDestination));
        let stranger = carrier("2001:db8::3".parse().expect("addr"), UUS);
        assert_eq!(reason(both(&stranger, &m(&stranger))), Some(R::UnknownPeer));
    }

    #[test]
    fn a_multicast_allow_list_takes_link_local_peers() {
        use DropReason as R;
        let m = |c: &Ipv6Carrier, prio: u8| msg(&vrrp::Repr { priority: prio, ..repr(63) }, c);
        let ok = carrier(PEER, vrrp::MCAST_V6);
        assert!(matches!(both(&ok, &m(&ok, 150)), Verdict::Accept(_)));
        for stranger in ["fe80::66", "2001:db8::2"] {
            let c = carrier(stranger.parse().expect("addr"), vrrp::MCAST_V6);
            assert_eq!(reason(both(&c, &m(&c, 255))), Some(R::UnknownPeer), "{stranger}");
        }
        // Instance 61 has no list: the same stranger is heard.
        let c = carrier("fe80::66".parse().expect("addr"), vrrp::MCAST_V6);
        assert!(matches!(both(&c, &msg(&repr(61), &c)), Verdict::Accept(_)));
    }

    #[test]
    fn what_xdp_passes_is_a_pass_and_the_socket_judges_it() {
        let c = carrier(PEER, vrrp::MCAST_V6);
        let good = msg(&repr(61), &c);
        let mut hbh = packet(&c, &good);
        hbh[6] = 0;
        assert_eq!(validate_ipv6_packet(&hbh, IFINDEX, &rules()), Verdict::Pass(PassReason::ExtensionHeaders));
        let mut unknown = repr(61);
        unknown.vrid = 99;
        assert_eq!(both(&c, &msg(&unknown, &c)), Verdict::Pass(PassReason::UnknownVrid));
        // Another family's instance of the same VRID does not count.
        let v4_only = VridKey { family: vrrp_common::AF_INET, ..key(61) };
        let mut t = RuleTable::default();
        t.insert(v4_only, VridConfig { version: 3, ..VridConfig::default() }, &[[198, 18, 0, 100]], &[], &[]);
        assert_eq!(validate_v6(&c, &good, IFINDEX, &t), Verdict::Pass(PassReason::UnknownVrid));
        // 91 addresses: more than XDP judges; the socket judges them (here: not our list).
        let mut many = repr(61);
        many.addresses = (1..=91u16).map(|i| IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, i))).collect();
        let big = msg(&many, &c);
        assert_eq!(validate_ipv6_packet(&packet(&c, &big), IFINDEX, &rules()), Verdict::Pass(PassReason::TooManyAddrs));
        assert_eq!(reason(validate_v6(&c, &big, IFINDEX, &rules())), Some(DropReason::AddrList));
        assert_eq!(validate_v6(&c, &good[..7], IFINDEX, &rules()), Verdict::Drop { key: None, reason: DropReason::Truncated });
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2048, rng_seed: proptest::test_runner::RngSeed::Fixed(7), ..ProptestConfig::default() })]

        #[test]
        fn never_panics_and_both_entry_points_agree(
            edits in proptest::collection::vec((0usize..40, any::<u8>()), 0..5),
            cut in 0usize..48,
            hop_limit in prop_oneof![Just(255u8), any::<u8>()],
            fix in any::<bool>(),
        ) {
            let c = Ipv6Carrier { hop_limit, ..carrier(PEER, vrrp::MCAST_V6) };
            let mut m = msg(&repr(61), &c);
            for (at, b) in edits {
                if let Some(x) = m.get_mut(at) {
                    *x = b;
                }
            }
            if fix {
                fix_checksum(&c, &mut m);
            }
            m.truncate(m.len().saturating_sub(cut));
            // More than MAX_ADDRS_V6 addresses: XDP (and the packet validator) pass them.
            prop_assume!(m.get(3).is_none_or(|n| u32::from(*n) <= vrrp_common::MAX_ADDRS_V6));
            let slow = validate_v6(&c, &m, IFINDEX, &rules());
            let whole = validate_ipv6_packet(&packet(&c, &m), IFINDEX, &rules());
            prop_assert_eq!(slow, whole);
        }

        #[test]
        fn never_panics_on_random_packets(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = validate_ipv6_packet(&bytes, IFINDEX, &rules());
        }
    }
}
