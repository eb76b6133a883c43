//! One rule set, two implementations: the XDP program (in the kernel, BPF_PROG_TEST_RUN) and
//! the agent's slow-path validator (`vrrp_agent::rx::validate`) get the same frames and the
//! same instance data, and must reach the same verdict with the same reason: a table of valid
//! and forged frames covering every `DropReason`, then seeded random mutations of them.
use std::net::{IpAddr, Ipv4Addr};

use proptest::{
    prelude::*,
    test_runner::{Config, RngAlgorithm, TestRng, TestRunner},
};
use vrrp_agent::{
    dataplane::{Dataplane, KernelLogLevel},
    rx::validate::{PassReason, RuleTable, Verdict, validate},
    wire::{self, checksum, vrrp},
};
use vrrp_common::{AF_INET, DropReason, GlobalStats, VridConfig, VridKey, flags, state};
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
    if frame.get(12..14) != Some(&[0x08, 0x00][..]) {
        return Observed::Pass(None);
    }
    match validate(&frame[14..], IFINDEX, rules) {
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
    if let (Observed::Accept { .. }, Verdict::Accept(a)) = (&xdp, validate(&frame[14..], IFINDEX, rules)) {
        let rec = dp.record(&a.key).ok_or_else(|| format!("{what}: accepted without a record"))?;
        let r = a.record;
        if (rec.src_v4, rec.priority, rec.adver_int_cs, rec.version, rec.count_addrs) != (r.src_v4, r.priority, r.adver_int_cs, r.version, r.count_addrs) {
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
    let rules = setup(&mut dp);
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
