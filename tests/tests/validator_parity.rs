//! One rule set, two implementations: the XDP program (in the kernel, BPF_PROG_TEST_RUN) and
//! the agent's slow-path validator (`vrrp_agent::rx::validate`) get the same frames and the
//! same instance data, and must reach the same verdict with the same reason: a table of valid
//! and forged frames covering every `DropReason`, then seeded random mutations of them, through
//! the same check as the `xdp_differential` fuzz target (`vrrp_agent::rx::parity::check`).
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proptest::{
    prelude::*,
    test_runner::{Config, RngAlgorithm, TestRng, TestRunner},
};
use vrrp_agent::{
    rx::parity::{self, ALLOW, EXCLUDED, Fixture, IFINDEX, OWNER, Observed, PEER, SKIP, UNICAST, US, V2, V3, VIP, XDP_PASS, advert, check, compare, edit, fix_ip, fix_vrrp, frame_from, good},
    rx::validate::{Verdict, validate},
    wire::{self, checksum, vrrp},
};
use vrrp_common::{AF_INET6, DropReason};
use vrrp_tests::require_root;


/// A host that is no configured peer (the VIP thief of the allow-list rows).
const STRANGER: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 66);

/// The VIP thief's advert: valid in every way, priority 255.
fn thief(vrid: u8) -> vrrp::Repr {
    vrrp::Repr { priority: 255, ..advert(vrid) }
}

/// (what, frame, the verdict both must reach)
fn table() -> Vec<(&'static str, Vec<u8>, Expect)> {
    use DropReason as R;
    use Expect::{Accept, Drop, Pass};
    let mut three = advert(V3);
    three.addresses.push(IpAddr::V4(Ipv4Addr::new(198, 18, 0, 102)));
    let mut foreign = advert(V3);
    foreign.addresses = (1..=100).map(|i| IpAddr::V4(Ipv4Addr::new(198, 19, 1, i))).collect();
    let mut long_v3 = advert(V3);
    long_v3.adver_int_cs = 4095;
    let mut unknown = advert(V3);
    unknown.vrid = 99;
    let mut with_excluded = advert(V3);
    with_excluded.addresses[1] = IpAddr::V4(EXCLUDED);
    let mut twice = advert(V3);
    twice.addresses[1] = IpAddr::V4(VIP);
    let mut reordered = advert(V3);
    reordered.addresses.reverse();
    vec![
        ("v2 with PASS", good(V2), Accept),
        ("v3 plain checksum", good(V3), Accept),
        ("v3 pseudo-header checksum", frame_from(PEER, vrrp::MCAST_V4, 255, &advert(V3), vrrp::ChecksumMode::PseudoHeader), Accept),
        ("v3 addresses in another order", frame_from(PEER, vrrp::MCAST_V4, 255, &reordered, vrrp::ChecksumMode::Plain), Accept),
        ("v3 interval 4095 (learned, counted)", frame_from(PEER, vrrp::MCAST_V4, 255, &long_v3, vrrp::ChecksumMode::Plain), Accept),
        ("unicast, routed (TTL 61)", frame_from(PEER, US, 61, &advert(UNICAST), vrrp::ChecksumMode::PseudoHeader), Accept),
        ("skip_check_adv_addr, foreign list", frame_from(PEER, vrrp::MCAST_V4, 255, &{ let mut r = foreign.clone(); r.vrid = SKIP; r }, vrrp::ChecksumMode::Plain), Accept),
        ("unknown VRID", frame_from(PEER, vrrp::MCAST_V4, 255, &unknown, vrrp::ChecksumMode::Plain), Pass),
        ("first fragment", edit(good(V3), |f| { f[20] = 0x20; fix_ip(f) }), Pass),
        ("UDP", edit(good(V3), |f| { f[23] = 17; fix_ip(f) }), Pass),
        ("VRRP header cut", good(V3)[..38].to_vec(), Drop(R::Truncated)),
        ("bad IPv4 header checksum", edit(good(V3), |f| f[24] ^= 0x40), Drop(R::IpChecksum)),
        ("ttl 254", edit(good(V3), |f| { f[22] = 254; fix_ip(f) }), Drop(R::Ttl)),
        ("version 3 to a v2 instance", edit(good(V2), |f| { f[34] = 0x31; fix_vrrp(f) }), Drop(R::Version)),
        ("type 2", edit(good(V3), |f| { f[34] = 0x32; fix_vrrp(f) }), Drop(R::Type)),
        ("bad checksum v2", edit(good(V2), |f| f[41] ^= 1), Drop(R::Checksum)),
        ("bad checksum v3", edit(good(V3), |f| f[41] ^= 1), Drop(R::Checksum)),
        ("to the owner (heard, so it can re-assert)", edit(good(V3), |f| { f[35] = OWNER; fix_vrrp(f) }), Accept),
        ("auth type 0 to a PASS instance", edit(good(V2), |f| { f[38] = 0; fix_vrrp(f) }), Drop(R::AuthType)),
        ("wrong password", edit(good(V2), |f| { f[50] ^= 0x20; fix_vrrp(f) }), Drop(R::AuthPass)),
        ("v2 interval 2 s", edit(good(V2), |f| { f[39] = 2; fix_vrrp(f) }), Drop(R::Interval)),
        ("v3 interval 0", edit(good(V3), |f| { f[38] = 0; f[39] = 0; fix_vrrp(f) }), Drop(R::BadInterval)),
        ("count 1 with 3 addresses", edit(frame_from(PEER, vrrp::MCAST_V4, 255, &three, vrrp::ChecksumMode::Plain), |f| { f[37] = 1; fix_vrrp(f) }), Drop(R::Length)),
        ("count 3 with 2 addresses", edit(good(V3), |f| { f[37] = 3; fix_vrrp(f) }), Drop(R::Truncated)),
        ("count 0", edit(good(V3), |f| { f[37] = 0; fix_vrrp(f) }), Drop(R::AddrCountZero)),
        ("unicast to someone else", frame_from(PEER, Ipv4Addr::new(198, 18, 0, 9), 255, &advert(UNICAST), vrrp::ChecksumMode::Plain), Drop(R::WrongDestination)),
        ("multicast instance, another group", frame_from(PEER, Ipv4Addr::new(224, 0, 0, 5), 255, &advert(V3), vrrp::ChecksumMode::Plain), Drop(R::WrongDestination)),
        ("multicast to a unicast instance", frame_from(PEER, vrrp::MCAST_V4, 255, &advert(UNICAST), vrrp::ChecksumMode::Plain), Drop(R::MulticastToUnicast)),
        ("unicast to a multicast instance", frame_from(PEER, US, 255, &advert(V3), vrrp::ChecksumMode::Plain), Drop(R::UnicastToMulticast)),
        ("source 0.0.0.0", frame_from(Ipv4Addr::UNSPECIFIED, vrrp::MCAST_V4, 255, &advert(V3), vrrp::ChecksumMode::Plain), Drop(R::MartianSource)),
        ("source 127.0.0.1", frame_from(Ipv4Addr::LOCALHOST, vrrp::MCAST_V4, 255, &advert(V3), vrrp::ChecksumMode::Plain), Drop(R::MartianSource)),
        ("source 224.0.0.5", frame_from(Ipv4Addr::new(224, 0, 0, 5), vrrp::MCAST_V4, 255, &advert(V3), vrrp::ChecksumMode::Plain), Drop(R::MartianSource)),
        ("source 255.255.255.255", frame_from(Ipv4Addr::BROADCAST, vrrp::MCAST_V4, 255, &advert(V3), vrrp::ChecksumMode::Plain), Drop(R::MartianSource)),
        ("source = a VIP", frame_from(VIP, vrrp::MCAST_V4, 255, &advert(V3), vrrp::ChecksumMode::Plain), Drop(R::SourceIsVip)),
        ("source = an excluded VIP", frame_from(EXCLUDED, vrrp::MCAST_V4, 255, &advert(V3), vrrp::ChecksumMode::Plain), Drop(R::SourceIsVip)),
        ("source = us", frame_from(US, vrrp::MCAST_V4, 255, &advert(V3), vrrp::ChecksumMode::Plain), Drop(R::SourceIsSelf)),
        ("unicast from a stranger", frame_from(Ipv4Addr::new(198, 18, 0, 3), US, 255, &advert(UNICAST), vrrp::ChecksumMode::Plain), Drop(R::UnknownPeer)),
        ("allow-list: the listed peer", good(ALLOW), Accept),
        ("allow-list: a stranger at priority 255", frame_from(STRANGER, vrrp::MCAST_V4, 255, &thief(ALLOW), vrrp::ChecksumMode::Plain), Drop(R::UnknownPeer)),
        ("allow-list: a stranger with a bad checksum", edit(frame_from(STRANGER, vrrp::MCAST_V4, 255, &thief(ALLOW), vrrp::ChecksumMode::Plain), |f| f[41] ^= 1), Drop(R::UnknownPeer)),
        ("allow-list: from us", frame_from(US, vrrp::MCAST_V4, 255, &advert(ALLOW), vrrp::ChecksumMode::Plain), Drop(R::SourceIsSelf)),
        ("no allow-list: the stranger is heard", frame_from(STRANGER, vrrp::MCAST_V4, 255, &thief(V3), vrrp::ChecksumMode::Plain), Accept),
        ("foreign cluster, 100 addresses", frame_from(PEER, vrrp::MCAST_V4, 255, &foreign, vrrp::ChecksumMode::Plain), Drop(R::AddrList)),
        ("an excluded VIP advertised", frame_from(PEER, vrrp::MCAST_V4, 255, &with_excluded, vrrp::ChecksumMode::Plain), Drop(R::AddrList)),
        ("one of ours twice", frame_from(PEER, vrrp::MCAST_V4, 255, &twice, vrrp::ChecksumMode::Plain), Drop(R::AddrList)),
    ]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Accept,
    Pass,
    Drop(DropReason),
}

fn load(test: &str) -> Option<Fixture> {
    if !require_root(test) {
        return None;
    }
    Some(Fixture::load().expect("the XDP object loads"))
}



#[test]
fn the_table_of_valid_and_forged_frames_gets_the_same_verdicts() {
    let Some(fx) = load("the_table_of_valid_and_forged_frames_gets_the_same_verdicts") else { return };
    let mut covered = std::collections::HashSet::new();
    for (what, frame, expect) in table() {
        let got = compare(&fx.dp, &fx.rules, what, &frame).unwrap_or_else(|e| panic!("{e}"));
        let ok = match (expect, &got) {
            (Expect::Accept, Observed::Accept { .. }) | (Expect::Pass, Observed::Pass(_)) => true,
            (Expect::Drop(r), Observed::Drop(g)) => r == *g,
            _ => false,
        };
        assert!(ok, "{what}: expected {expect:?}, both said {got:?}");
        if let Expect::Drop(r) = expect {
            covered.insert(r);
        }
    }
    let missing: Vec<_> = DropReason::ALL.iter().filter(|r| !covered.contains(r)).collect();
    assert!(missing.is_empty(), "drop reasons without a frame in the table: {missing:?}");
}

/// IP options: XDP passes the frame; the validator judges it exactly as the frame without them.
#[test]
fn frames_with_ip_options_are_judged_in_userspace_as_without() {
    let Some(fx) = load("frames_with_ip_options_are_judged_in_userspace_as_without") else { return };
    for (what, frame, _) in table() {
        // (with_ipv4_options rewrites the header checksum, so a bad one would be repaired.)
        if frame[14] != 0x45 || frame.len() < 42 || usize::from(u16::from_be_bytes([frame[16], frame[17]])) + 14 > frame.len() || !wire::ipv4::checksum_ok(&frame[14..]) {
            continue;
        }
        let opts = wire::with_ipv4_options(&frame, &[0x94, 0x04, 0x00, 0x00]);
        let (action, _) = fx.dp.test_run(&opts, IFINDEX).expect("run");
        assert_eq!(action, XDP_PASS, "{what} with options: passed to the stack");
        let plain = validate(&frame[14..], IFINDEX, &fx.rules);
        let with = validate(&opts[14..], IFINDEX, &fx.rules);
        let same = match (plain, with) {
            (Verdict::Accept(a), Verdict::Accept(b)) => a == b,
            (a, b) => a == b,
        };
        assert!(same, "{what}: without options {plain:?}, with {with:?}");
    }
}

/// Seeded random mutations of the table's frames: byte edits anywhere in the first 80 bytes,
/// with or without fixing the checksums afterwards, and truncation.
#[test]
fn random_mutations_get_the_same_verdicts() {
    let Some(fx) = load("random_mutations_get_the_same_verdicts") else { return };
    let frames: Vec<Vec<u8>> = table().into_iter().map(|(_, f, _)| f).collect();
    let n = frames.len();
    let strategy = (
        0..n,
        proptest::collection::vec((0usize..80, any::<u8>()), 1..4),
        any::<bool>(),
        any::<bool>(),
        0usize..6,
    );
    let config = Config { cases: 3000, failure_persistence: None, ..Config::default() };
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &[6u8; 32]);
    let mut runner = TestRunner::new_with_rng(config, rng);
    let seen = std::cell::RefCell::new(std::collections::BTreeMap::<String, u32>::new());
    let result = runner.run(&strategy, |(i, edits, fix_ip_sum, fix_vrrp_sum, cut)| {
        let mut f = frames[i].clone();
        for (at, b) in edits {
            if let Some(x) = f.get_mut(at) {
                *x = b;
            }
        }
        let total = 14 + usize::from(u16::from_be_bytes([f[16], f[17]]));
        if fix_ip_sum && f[14] == 0x45 {
            fix_ip(&mut f);
        }
        if fix_vrrp_sum && f.len() >= total && total >= 42 && f[14] == 0x45 {
            fix_vrrp(&mut f);
        }
        let keep = f.len().saturating_sub(cut * 3).max(14);
        f.truncate(keep);
        let got = check(&fx, &f).map_err(|e| TestCaseError::fail(format!("{e}\nframe: {f:02x?}")))?;
        let kind = got.label();
        *seen.borrow_mut().entry(kind).or_default() += 1;
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    let seen = seen.into_inner();
    println!("verdicts over the mutations: {seen:?}");
    assert!(seen.len() >= 12, "the mutations reach many verdicts: {seen:?}");
}

/// VRRPv3 over IPv6: the same two implementations, the same verdicts, on IPv6 frames (the
/// IPv4 and IPv6 instances live side by side in the same maps, as on a mixed interface).
mod v6 {
    use super::*;
    pub use vrrp_agent::rx::parity::v6::*;

    /// A link-local host that is no configured peer.
    pub const STRANGER6: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0x66);

    pub fn thief6(vrid: u8) -> vrrp::Repr {
        vrrp::Repr { priority: 255, ..advert6(vrid) }
    }

    pub fn table6() -> Vec<(&'static str, Vec<u8>, Expect)> {
        use DropReason as R;
        use Expect::{Accept, Drop, Pass};
        let ed = |vrid: u8, e: &dyn Fn(&mut Vec<u8>)| {
            let mut f = good6(vrid);
            e(&mut f);
            fix6(&mut f);
            f
        };
        let with = |r: vrrp::Repr| frame6(PEER6, vrrp::MCAST_V6, 255, &r);
        let mut reordered = advert6(M6);
        reordered.addresses.reverse();
        let mut three = advert6(M6);
        three.addresses.push(IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x102)));
        let mut foreign = advert6(M6);
        foreign.addresses = (1..=90u16).map(|i| IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, i))).collect();
        let mut too_many = foreign.clone();
        too_many.addresses.push(IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 91)));
        let mut with_excluded = advert6(M6);
        with_excluded.addresses[1] = IpAddr::V6(EXCLUDED6);
        let mut twice = advert6(M6);
        twice.addresses[1] = IpAddr::V6(VIP6_LL);
        let mut unknown = advert6(M6);
        unknown.vrid = 99;
        let mut long = advert6(M6);
        long.adver_int_cs = 4095;
        let mut skip_foreign = foreign.clone();
        skip_foreign.vrid = SKIP6;
        vec![
            ("v6: valid", good6(M6), Accept),
            ("v6: from a global address (keepalived accepts it)", frame6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 9), vrrp::MCAST_V6, 255, &advert6(M6)), Accept),
            ("v6: addresses in another order", with(reordered), Accept),
            ("v6: interval 4095 (learned, counted)", with(long), Accept),
            ("v6: unicast, routed (hop limit 60)", frame6(UPEER6, UUS6, 60, &advert6(UNICAST6)), Accept),
            ("v6: skip_check_adv_addr, 90 foreign addresses", with(skip_foreign), Accept),
            ("v6: to the owner (heard, so it can re-assert)", good6(OWNER6), Accept),
            ("v6: unknown VRID", with(unknown), Pass),
            ("v6: 91 addresses (judged by the slow path)", with(too_many), Pass),
            ("v6: hop-by-hop header", edit(good6(M6), |f| f[20] = 0), Pass),
            ("v6: ICMPv6 echo", edit(good6(M6), |f| { f[20] = 58; f[54] = 128 }), Pass),
            ("v6: VRRP header cut", good6(M6)[..58].to_vec(), Drop(R::Truncated)),
            ("v6: hop limit 254", edit(good6(M6), |f| f[21] = 254), Drop(R::Ttl)),
            ("v6: VRRPv2 over IPv6", ed(M6, &|f| f[54] = 0x21), Drop(R::Version)),
            ("v6: type 2", ed(M6, &|f| f[54] = 0x32), Drop(R::Type)),
            ("v6: bad checksum", edit(good6(M6), |f| f[61] ^= 1), Drop(R::Checksum)),
            ("v6: checksum without the pseudo-header", edit(good6(M6), |f| {
                f[60..62].copy_from_slice(&[0, 0]);
                let c = checksum::fold(checksum::ones_complement_sum(&f[54..], 0));
                f[60..62].copy_from_slice(&c.to_be_bytes());
            }), Drop(R::Checksum)),
            ("v6: interval 0", ed(M6, &|f| { f[58] = 0; f[59] = 0 }), Drop(R::BadInterval)),
            ("v6: count 1 with 3 addresses", edit(with(three), |f| { f[57] = 1; fix6(f) }), Drop(R::Length)),
            ("v6: count 3 with 2 addresses", ed(M6, &|f| f[57] = 3), Drop(R::Truncated)),
            ("v6: payload length past the frame", edit(good6(M6), |f| f[19] += 16), Drop(R::Truncated)),
            ("v6: count 0", ed(M6, &|f| f[57] = 0), Drop(R::AddrCountZero)),
            ("v6: unicast to someone else", frame6(UPEER6, Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 9), 255, &advert6(UNICAST6)), Drop(R::WrongDestination)),
            ("v6: multicast instance, another group", frame6(PEER6, "ff02::1".parse().expect("addr"), 255, &advert6(M6)), Drop(R::WrongDestination)),
            ("v6: multicast to a unicast instance", frame6(UPEER6, vrrp::MCAST_V6, 255, &advert6(UNICAST6)), Drop(R::MulticastToUnicast)),
            ("v6: unicast to a multicast instance", frame6(PEER6, US6, 255, &advert6(M6)), Drop(R::UnicastToMulticast)),
            ("v6: source ::", frame6(Ipv6Addr::UNSPECIFIED, vrrp::MCAST_V6, 255, &advert6(M6)), Drop(R::MartianSource)),
            ("v6: source ::1", frame6(Ipv6Addr::LOCALHOST, vrrp::MCAST_V6, 255, &advert6(M6)), Drop(R::MartianSource)),
            ("v6: source ff02::5", frame6("ff02::5".parse().expect("addr"), vrrp::MCAST_V6, 255, &advert6(M6)), Drop(R::MartianSource)),
            ("v6: source IPv4-mapped", frame6("::ffff:198.18.0.2".parse().expect("addr"), vrrp::MCAST_V6, 255, &advert6(M6)), Drop(R::MartianSource)),
            ("v6: source = a VIP", frame6(VIP6, vrrp::MCAST_V6, 255, &advert6(M6)), Drop(R::SourceIsVip)),
            ("v6: source = an excluded VIP", frame6(EXCLUDED6, vrrp::MCAST_V6, 255, &advert6(M6)), Drop(R::SourceIsVip)),
            ("v6: source = us", frame6(US6, vrrp::MCAST_V6, 255, &advert6(M6)), Drop(R::SourceIsSelf)),
            ("v6: unicast from a stranger", frame6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 3), UUS6, 255, &advert6(UNICAST6)), Drop(R::UnknownPeer)),
            ("v6: allow-list: the listed peer", good6(ALLOW6), Accept),
            ("v6: allow-list: a link-local stranger at priority 255", frame6(STRANGER6, vrrp::MCAST_V6, 255, &thief6(ALLOW6)), Drop(R::UnknownPeer)),
            ("v6: allow-list: a global stranger", frame6(UPEER6, vrrp::MCAST_V6, 255, &thief6(ALLOW6)), Drop(R::UnknownPeer)),
            ("v6: no allow-list: the stranger is heard", frame6(STRANGER6, vrrp::MCAST_V6, 255, &thief6(SKIP6)), Accept),
            ("v6: foreign cluster, 90 addresses", with(foreign), Drop(R::AddrList)),
            ("v6: an excluded VIP advertised", with(with_excluded), Drop(R::AddrList)),
            ("v6: one of ours twice", with(twice), Drop(R::AddrList)),
        ]
    }
}

#[test]
fn the_ipv6_table_gets_the_same_verdicts() {
    let Some(fx) = load("the_ipv6_table_gets_the_same_verdicts") else { return };
    let mut covered = std::collections::HashSet::new();
    for (what, frame, expect) in v6::table6() {
        let got = compare(&fx.dp, &fx.rules, what, &frame).unwrap_or_else(|e| panic!("{e}"));
        let ok = match (expect, &got) {
            (Expect::Accept, Observed::Accept { .. }) | (Expect::Pass, Observed::Pass(_)) => true,
            (Expect::Drop(r), Observed::Drop(g)) => r == *g,
            _ => false,
        };
        assert!(ok, "{what}: expected {expect:?}, both said {got:?}");
        if let Expect::Drop(r) = expect {
            covered.insert(r);
        }
    }
    // Every reason but the IPv4 header checksum and VRRPv2's authentication and interval.
    let v4_only = [DropReason::IpChecksum, DropReason::AuthType, DropReason::AuthPass, DropReason::Interval];
    let missing: Vec<_> = DropReason::ALL.iter().filter(|r| !covered.contains(r) && !v4_only.contains(r)).collect();
    assert!(missing.is_empty(), "drop reasons without an IPv6 frame in the table: {missing:?}");
    // The accepted one is recorded under the IPv6 key with its IPv6 source.
    let rec = fx.dp.record(&v6::key6(v6::M6)).expect("recorded");
    assert_eq!(rec.src(AF_INET6), IpAddr::V6(v6::PEER6), "the last accepted advert of that instance");
    assert_eq!(rec.src_v4, [0; 4]);
}

/// Seeded random mutations of the IPv6 frames, as for IPv4.
#[test]
fn random_ipv6_mutations_get_the_same_verdicts() {
    let Some(fx) = load("random_ipv6_mutations_get_the_same_verdicts") else { return };
    let frames: Vec<Vec<u8>> = v6::table6().into_iter().map(|(_, f, _)| f).collect();
    let n = frames.len();
    let strategy = (0..n, proptest::collection::vec((0usize..110, any::<u8>()), 1..4), any::<bool>(), 0usize..6);
    let config = Config { cases: 2000, failure_persistence: None, ..Config::default() };
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &[9u8; 32]);
    let mut runner = TestRunner::new_with_rng(config, rng);
    let seen = std::cell::RefCell::new(std::collections::BTreeMap::<String, u32>::new());
    let result = runner.run(&strategy, |(i, edits, fix, cut)| {
        let mut f = frames[i].clone();
        for (at, b) in edits {
            if let Some(x) = f.get_mut(at) {
                *x = b;
            }
        }
        if fix && f.len() > 62 {
            v6::fix6(&mut f);
        }
        let keep = f.len().saturating_sub(cut * 5).max(14);
        f.truncate(keep);
        let got = check(&fx, &f).map_err(|e| TestCaseError::fail(format!("{e}\nframe: {f:02x?}")))?;
        let kind = got.label();
        *seen.borrow_mut().entry(kind).or_default() += 1;
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    let seen = seen.into_inner();
    println!("verdicts over the IPv6 mutations: {seen:?}");
    assert!(seen.len() >= 10, "the mutations reach many verdicts: {seen:?}");
}
/// The rest of what the XDP program sees: seeded mutations of adverts, ARP requests and
/// neighbour solicitations (for owned VIPs and others) and other traffic, checksums repaired
/// or not, through the whole check (no ABORTED, DROP and TX only where the design says,
/// counters consistent, PASS leaves the frame alone). The `xdp_differential` fuzz target runs
/// the same check on what libFuzzer makes.
#[test]
fn random_frames_of_every_kind_keep_the_dataplane_promises() {
    let Some(fx) = load("random_frames_of_every_kind_keep_the_dataplane_promises") else { return };
    let seeds = parity::seeds();
    let n = seeds.len();
    let strategy = (0..n, proptest::collection::vec((0usize..100, any::<u8>()), 0..4), 0u8..8, 0usize..8);
    let config = Config { cases: 3000, failure_persistence: None, ..Config::default() };
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &[10u8; 32]);
    let mut runner = TestRunner::new_with_rng(config, rng);
    let seen = std::cell::RefCell::new(std::collections::BTreeMap::<String, u32>::new());
    let result = runner.run(&strategy, |(i, edits, fix, cut)| {
        let mut f = seeds[i].clone();
        for (at, b) in edits {
            if let Some(x) = f.get_mut(at) {
                *x = b;
            }
        }
        parity::repair(&mut f, fix);
        let keep = f.len().saturating_sub(cut * 4);
        f.truncate(keep);
        let got = check(&fx, &f).map_err(|e| TestCaseError::fail(format!("{e}\nframe: {f:02x?}")))?;
        *seen.borrow_mut().entry(got.label()).or_default() += 1;
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    let seen = seen.into_inner();
    println!("outcomes over the mutations: {seen:?}");
    for want in ["Replied", "Passed", "ns_drop_invalid"] {
        assert!(seen.contains_key(want), "the mutations reach {want}: {seen:?}");
    }
    assert!(seen.len() >= 12, "the mutations reach many outcomes: {seen:?}");
}

/// The fuzz targets' seed inputs (fuzz/corpus/<target>/seed-*) are the frames above in each
/// target's input format, so they stay in step with the fixture: this test fails when they
/// drift, and `VRRP_WRITE_FUZZ_SEEDS=1` rewrites them. (The config target's seeds are sample
/// configurations, copied, not generated.)
#[test]
fn the_fuzz_seed_corpus_holds_the_parity_frames() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus");
    let mut want: Vec<(&str, String, Vec<u8>)> = Vec::new();
    for (i, f) in parity::seeds().into_iter().enumerate() {
        for (fix, tag) in [(0u8, "raw"), (parity::fix::IPV4 | parity::fix::VRRP | parity::fix::ICMPV6, "fixed")] {
            let input = [&[fix][..], &f].concat();
            want.push(("xdp_differential", format!("seed-{i:02}-{tag}"), input.clone()));
            want.push(("validator", format!("seed-{i:02}-{tag}"), input));
        }
        match f.get(12..14) {
            Some([0x08, 0x00]) => want.push(("ipv4_arp", format!("seed-{i:02}-ipv4"), f[14..].to_vec())),
            Some([0x08, 0x06]) => {
                want.push(("ipv4_arp", format!("seed-{i:02}-arp-frame"), f.clone()));
                want.push(("ipv4_arp", format!("seed-{i:02}-arp"), f[14..].to_vec()));
            }
            Some([0x86, 0xdd]) => want.push(("ipv6_nd", format!("seed-{i:02}"), f[14..].to_vec())),
            _ => {}
        }
    }
    // The VRRP target: a carrier byte (bit 0 IPv6, bit 1 unicast, bit 2 pseudo-header), four
    // address bytes (source 198.18.x.y / fe80::x:y, unicast destination 198.18.x.y), the message.
    for vrid in [V2, V3, UNICAST, OWNER, SKIP] {
        let f = good(vrid);
        let total = usize::from(u16::from_be_bytes([f[16], f[17]]));
        let sel = if vrid == UNICAST { 2 } else { 0 };
        let input = [&[sel, 0, 2, 0, 1][..], &f[34..14 + total]].concat();
        want.push(("vrrp", format!("seed-v4-{vrid}"), input));
    }
    for vrid in [v6::M6, v6::SKIP6, v6::OWNER6] {
        let f = v6::good6(vrid);
        want.push(("vrrp", format!("seed-v6-{vrid}"), [&[1u8, 0, 2, 0, 0][..], &f[54..]].concat()));
    }
    let write = std::env::var_os("VRRP_WRITE_FUZZ_SEEDS").is_some();
    let mut stale = Vec::new();
    for (target, name, bytes) in want {
        let path = dir.join(target).join(&name);
        if write {
            std::fs::create_dir_all(path.parent().expect("a directory")).expect("corpus directory");
            std::fs::write(&path, &bytes).expect("write a seed");
        } else if std::fs::read(&path).ok().as_deref() != Some(&bytes[..]) {
            stale.push(format!("{target}/{name}"));
        }
    }
    assert!(stale.is_empty(), "fuzz seeds missing or stale (rewrite them with VRRP_WRITE_FUZZ_SEEDS=1): {stale:?}");
}
