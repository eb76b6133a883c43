//! One rule set, two implementations: the XDP program (in the kernel, BPF_PROG_TEST_RUN) and
//! the agent's slow-path validator (`vrrp_agent::rx::validate`) get the same frames and the
//! same instance data, and must reach the same verdict with the same reason: a table of valid
//! and forged frames covering every `DropReason`, then seeded random mutations of them.
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proptest::{
    prelude::*,
    test_runner::{Config, RngAlgorithm, TestRng, TestRunner},
};
use vrrp_agent::{
    dataplane::{Dataplane, KernelLogLevel},
    rx::validate::{PassReason, RuleTable, Verdict, validate, validate_ipv6_packet},
    wire::{self, checksum, vrrp},
};
use vrrp_common::{AF_INET, AF_INET6, DropReason, GlobalStats, VridConfig, VridKey, flags, state};
use vrrp_tests::require_root;

const XDP_DROP: u32 = 1;
const XDP_PASS: u32 = 2;
const IFINDEX: u32 = 1;
const MAC: [u8; 6] = [0x02, 0x00, 0x5e, 0x10, 0x00, 0x02];
const US: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const PEER: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
const VIP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 100);
const VIP2: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 101);
const EXCLUDED: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 200);
const PASS: [u8; 8] = *b"s3cret!!";
const V2: u8 = 51;
const V3: u8 = 52;
const UNICAST: u8 = 53;
const OWNER: u8 = 54;
const SKIP: u8 = 55;

fn key(vrid: u8) -> VridKey {
    VridKey { ifindex: IFINDEX, vrid: u16::from(vrid), family: AF_INET }
}

/// The instances, written to the XDP maps and to the validator's table by the same calls.
fn setup(dp: &mut Dataplane) -> RuleTable {
    let base = VridConfig { version: 2, adver_int_cs: 100, state: state::BACKUP, priority: 100, primary_v4: US.octets(), ..VridConfig::default() };
    let v3 = VridConfig { version: 3, ..base }.without_auth();
    let ours = [VIP.octets(), VIP2.octets()];
    let instances: [(u8, VridConfig, &[[u8; 4]]); 5] = [
        (V2, base.with_pass(PASS), &[]),
        (V3, v3, &[]),
        (UNICAST, VridConfig { flags: flags::UNICAST | flags::CHECK_UNICAST_SRC, ..v3 }, &[PEER.octets()]),
        (OWNER, VridConfig { flags: flags::OWNER, ..v3 }, &[]),
        (SKIP, VridConfig { flags: flags::SKIP_CHECK_ADV_ADDR, ..v3 }, &[]),
    ];
    let mut table = RuleTable::default();
    for (vrid, cfg, peers) in instances {
        table.insert(key(vrid), cfg, &ours, &[EXCLUDED.octets()], peers);
        let cfg = table.configs[&key(vrid)];
        dp.set_vrid_addrs(key(vrid), &ours, &[EXCLUDED.octets()], peers).expect("addrs");
        dp.init_vrid(key(vrid), cfg).expect("config");
    }
    table
}

fn advert(vrid: u8) -> vrrp::Repr {
    let v2 = vrid == V2;
    vrrp::Repr {
        version: if v2 { vrrp::Version::V2 } else { vrrp::Version::V3 },
        vrid,
        priority: 150,
        adver_int_cs: 100,
        auth: if v2 { vrrp::Auth::Pass(PASS) } else { vrrp::Auth::None },
        addresses: vec![IpAddr::V4(VIP), IpAddr::V4(VIP2)],
    }
}

fn frame_from(src: Ipv4Addr, dst: Ipv4Addr, ttl: u8, r: &vrrp::Repr, mode: vrrp::ChecksumMode) -> Vec<u8> {
    wire::vrrp_frame_v4(MAC, src, dst, ttl, r, mode)
}

fn good(vrid: u8) -> Vec<u8> {
    let dst = if vrid == UNICAST { US } else { vrrp::MCAST_V4 };
    frame_from(PEER, dst, 255, &advert(vrid), vrrp::ChecksumMode::Plain)
}

fn fix_ip(f: &mut [u8]) {
    f[24..26].copy_from_slice(&[0, 0]);
    let c = checksum::fold(checksum::ones_complement_sum(&f[14..34], 0));
    f[24..26].copy_from_slice(&c.to_be_bytes());
}

fn fix_vrrp(f: &mut [u8]) {
    let end = 14 + usize::from(u16::from_be_bytes([f[16], f[17]]));
    f[40..42].copy_from_slice(&[0, 0]);
    let c = checksum::fold(checksum::ones_complement_sum(&f[34..end], 0));
    f[40..42].copy_from_slice(&c.to_be_bytes());
}

fn edit(mut f: Vec<u8>, e: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    e(&mut f);
    f
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

/// What the XDP program did with `frame`, read from its action and counters (and record).
fn xdp_verdict(dp: &Dataplane, frame: &[u8]) -> (u32, Observed) {
    let before = dp.global_stats().expect("stats");
    let (action, _) = dp.test_run(frame, IFINDEX).expect("test run");
    let after = dp.global_stats().expect("stats");
    let moved = |f: fn(&GlobalStats) -> u64| f(&after) - f(&before);
    let drops: Vec<DropReason> = DropReason::ALL.iter().copied().filter(|r| after.drop_count(*r) != before.drop_count(*r)).collect();
    let observed = match (action, drops.as_slice()) {
        (XDP_PASS, []) if moved(|g| g.unknown_vrid) == 1 => Observed::Pass(Some(PassReason::UnknownVrid)),
        (XDP_PASS, []) => Observed::Pass(None),
        (XDP_DROP, []) if moved(|g| g.vrrp_accepted) == 1 => Observed::Accept { interval_mismatch: moved(|g| g.interval_mismatch) == 1 },
        (XDP_DROP, [r]) => Observed::Drop(*r),
        _ => Observed::Other(format!("action {action}, drop counters moved: {drops:?}")),
    };
    (action, observed)
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Observed {
    /// `None`: passed without a counter (not VRRP, a fragment, IP options).
    Pass(Option<PassReason>),
    Accept { interval_mismatch: bool },
    Drop(DropReason),
    Other(String),
}

/// The validator's verdict in the same terms, for a frame XDP can judge (IPv4 without options).
fn user_verdict(rules: &RuleTable, frame: &[u8]) -> Observed {
    let verdict = match frame.get(12..14) {
        Some([0x08, 0x00]) => validate(&frame[14..], IFINDEX, rules),
        Some([0x86, 0xdd]) => validate_ipv6_packet(&frame[14..], IFINDEX, rules),
        _ => return Observed::Pass(None),
    };
    match verdict {
        Verdict::Pass(PassReason::UnknownVrid) => Observed::Pass(Some(PassReason::UnknownVrid)),
        Verdict::Pass(_) => Observed::Pass(None),
        Verdict::Accept(a) => Observed::Accept { interval_mismatch: a.interval_mismatch },
        Verdict::Drop { reason, .. } => Observed::Drop(reason),
    }
}

/// Compares the two on one frame; for an accepted advert, also the record XDP wrote.
fn compare(dp: &Dataplane, rules: &RuleTable, what: &str, frame: &[u8]) -> Result<Observed, String> {
    let (_, xdp) = xdp_verdict(dp, frame);
    let ipv4_not_plain = frame.get(12..14) == Some(&[0x08, 0x00][..]) && frame.get(14).is_some_and(|b| *b != 0x45);
    if ipv4_not_plain {
        // Not IPv4 without options: XDP must leave it to the slow path, uncounted.
        return if xdp == Observed::Pass(None) { Ok(xdp) } else { Err(format!("{what}: XDP judged a frame with IHL {:#x}: {xdp:?}", frame[14])) };
    }
    let user = user_verdict(rules, frame);
    if xdp != user {
        return Err(format!("{what}: XDP {xdp:?}, userspace {user:?}"));
    }
    let judged = if frame.get(12..14) == Some(&[0x86, 0xdd][..]) { validate_ipv6_packet(&frame[14..], IFINDEX, rules) } else { validate(&frame[14..], IFINDEX, rules) };
    if let (Observed::Accept { .. }, Verdict::Accept(a)) = (&xdp, judged) {
        let rec = dp.record(&a.key).ok_or_else(|| format!("{what}: accepted without a record"))?;
        let r = a.record;
        if (rec.src_v4, rec.src_v6, rec.priority, rec.adver_int_cs, rec.version, rec.count_addrs) != (r.src_v4, r.src_v6, r.priority, r.adver_int_cs, r.version, r.count_addrs) {
            return Err(format!("{what}: XDP recorded {rec:?}, userspace {r:?}"));
        }
    }
    Ok(xdp)
}

fn load(test: &str) -> Option<(Dataplane, RuleTable)> {
    if !require_root(test) {
        return None;
    }
    let mut dp = Dataplane::load_unpinned(KernelLogLevel::Off).expect("the XDP object loads");
    let mut rules = setup(&mut dp);
    v6::setup(&mut dp, &mut rules);
    Some((dp, rules))
}

#[test]
fn the_table_of_valid_and_forged_frames_gets_the_same_verdicts() {
    let Some((dp, rules)) = load("the_table_of_valid_and_forged_frames_gets_the_same_verdicts") else { return };
    let mut covered = std::collections::HashSet::new();
    for (what, frame, expect) in table() {
        let got = compare(&dp, &rules, what, &frame).unwrap_or_else(|e| panic!("{e}"));
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
    let Some((dp, rules)) = load("frames_with_ip_options_are_judged_in_userspace_as_without") else { return };
    for (what, frame, _) in table() {
        // (with_ipv4_options rewrites the header checksum, so a bad one would be repaired.)
        if frame[14] != 0x45 || frame.len() < 42 || usize::from(u16::from_be_bytes([frame[16], frame[17]])) + 14 > frame.len() || !wire::ipv4::checksum_ok(&frame[14..]) {
            continue;
        }
        let opts = wire::with_ipv4_options(&frame, &[0x94, 0x04, 0x00, 0x00]);
        let (action, _) = dp.test_run(&opts, IFINDEX).expect("run");
        assert_eq!(action, XDP_PASS, "{what} with options: passed to the stack");
        let plain = validate(&frame[14..], IFINDEX, &rules);
        let with = validate(&opts[14..], IFINDEX, &rules);
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
    let Some((dp, rules)) = load("random_mutations_get_the_same_verdicts") else { return };
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
        let got = compare(&dp, &rules, "mutation", &f).map_err(|e| TestCaseError::fail(format!("{e}\nframe: {f:02x?}")))?;
        let kind = match got {
            Observed::Drop(r) => r.counter_name().to_string(),
            other => format!("{other:?}"),
        };
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

    pub const US6: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1);
    pub const PEER6: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 2);
    pub const VIP6_LL: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0x100);
    pub const VIP6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x100);
    pub const EXCLUDED6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x200);
    pub const UUS6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
    pub const UPEER6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2);
    /// The same VRIDs as the IPv4 instances where both exist: the family tells them apart.
    pub const M6: u8 = V3;
    pub const UNICAST6: u8 = UNICAST;
    pub const SKIP6: u8 = SKIP;
    pub const OWNER6: u8 = OWNER;

    pub fn key6(vrid: u8) -> VridKey {
        VridKey { ifindex: IFINDEX, vrid: u16::from(vrid), family: AF_INET6 }
    }

    pub fn setup(dp: &mut Dataplane, table: &mut RuleTable) {
        let base = VridConfig { version: 3, adver_int_cs: 100, state: state::BACKUP, priority: 100, primary_v6: US6.octets(), ..VridConfig::default() };
        let ours = [VIP6_LL.octets(), VIP6.octets()];
        let excluded = [EXCLUDED6.octets()];
        let instances: [(u8, VridConfig, &[[u8; 16]]); 4] = [
            (M6, base, &[]),
            (UNICAST6, VridConfig { flags: flags::UNICAST | flags::CHECK_UNICAST_SRC, primary_v6: UUS6.octets(), ..base }, &[UPEER6.octets()]),
            (SKIP6, VridConfig { flags: flags::SKIP_CHECK_ADV_ADDR, ..base }, &[]),
            (OWNER6, VridConfig { flags: flags::OWNER, ..base }, &[]),
        ];
        for (vrid, cfg, peers) in instances {
            table.insert_v6(key6(vrid), cfg, &ours, &excluded, peers);
            let cfg = table.configs[&key6(vrid)];
            dp.set_vrid_addrs_v6(key6(vrid), &ours, &excluded, peers).expect("addrs");
            dp.init_vrid(key6(vrid), cfg).expect("config");
        }
    }

    pub fn advert6(vrid: u8) -> vrrp::Repr {
        vrrp::Repr {
            version: vrrp::Version::V3,
            vrid,
            priority: 150,
            adver_int_cs: 100,
            auth: vrrp::Auth::None,
            addresses: vec![IpAddr::V6(VIP6_LL), IpAddr::V6(VIP6)],
        }
    }

    /// Ethernet + IPv6 (no extension headers) + the VRRP message with the pseudo-header
    /// checksum, as a router sends it.
    pub fn frame6(src: Ipv6Addr, dst: Ipv6Addr, hop_limit: u8, r: &vrrp::Repr) -> Vec<u8> {
        let msg = r.to_bytes(&vrrp::Carrier { src: src.into(), dst: dst.into() }, vrrp::ChecksumMode::PseudoHeader);
        let dst_mac = if dst.octets()[0] == 0xff {
            let o = dst.octets();
            [0x33, 0x33, o[12], o[13], o[14], o[15]]
        } else {
            [0x02, 0x00, 0x5e, 0x10, 0x00, 0x01]
        };
        let mut f = dst_mac.to_vec();
        f.extend_from_slice(&MAC);
        f.extend_from_slice(&[0x86, 0xdd, 0x60, 0, 0, 0]);
        f.extend_from_slice(&(msg.len() as u16).to_be_bytes());
        f.extend_from_slice(&[112, hop_limit]);
        f.extend_from_slice(&src.octets());
        f.extend_from_slice(&dst.octets());
        f.extend_from_slice(&msg);
        f
    }

    pub fn good6(vrid: u8) -> Vec<u8> {
        if vrid == UNICAST6 { frame6(UPEER6, UUS6, 255, &advert6(vrid)) } else { frame6(PEER6, vrrp::MCAST_V6, 255, &advert6(vrid)) }
    }

    /// Recomputes the VRRP checksum of an IPv6 frame (pseudo-header from the frame).
    pub fn fix6(f: &mut [u8]) {
        let len = usize::from(u16::from_be_bytes([f[18], f[19]]));
        let end = (54 + len).min(f.len());
        if end < 62 {
            return;
        }
        let addr = |at: usize| Ipv6Addr::from(<[u8; 16]>::try_from(&f[at..at + 16]).expect("16 bytes"));
        let (src, dst) = (addr(22), addr(38));
        f[60..62].copy_from_slice(&[0, 0]);
        let ph = checksum::pseudo_header_v6(src, dst, 112, len as u32);
        let c = checksum::fold(checksum::ones_complement_sum(&f[54..end], ph));
        f[60..62].copy_from_slice(&c.to_be_bytes());
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
            ("v6: foreign cluster, 90 addresses", with(foreign), Drop(R::AddrList)),
            ("v6: an excluded VIP advertised", with(with_excluded), Drop(R::AddrList)),
            ("v6: one of ours twice", with(twice), Drop(R::AddrList)),
        ]
    }
}

#[test]
fn the_ipv6_table_gets_the_same_verdicts() {
    let Some((dp, rules)) = load("the_ipv6_table_gets_the_same_verdicts") else { return };
    let mut covered = std::collections::HashSet::new();
    for (what, frame, expect) in v6::table6() {
        let got = compare(&dp, &rules, what, &frame).unwrap_or_else(|e| panic!("{e}"));
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
    let rec = dp.record(&v6::key6(v6::M6)).expect("recorded");
    assert_eq!(rec.src(AF_INET6), IpAddr::V6(v6::PEER6), "the last accepted advert of that instance");
    assert_eq!(rec.src_v4, [0; 4]);
}

/// Seeded random mutations of the IPv6 frames, as for IPv4.
#[test]
fn random_ipv6_mutations_get_the_same_verdicts() {
    let Some((dp, rules)) = load("random_ipv6_mutations_get_the_same_verdicts") else { return };
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
        let got = compare(&dp, &rules, "v6 mutation", &f).map_err(|e| TestCaseError::fail(format!("{e}\nframe: {f:02x?}")))?;
        let kind = match got {
            Observed::Drop(r) => r.counter_name().to_string(),
            other => format!("{other:?}"),
        };
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
