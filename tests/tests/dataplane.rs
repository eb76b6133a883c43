//! The real XDP object, in the real kernel, on crafted frames (BPF_PROG_TEST_RUN): ARP replies
//! for owned VIPs, pass-through for everything else, advert validation with one counted drop
//! reason per RFC rule, records and wake-up events.
use std::net::{IpAddr, Ipv4Addr};

use vrrp_agent::{
    dataplane::{Dataplane, KernelLogLevel},
    wire::{self, arp, checksum, vrrp},
};
use vrrp_common::{
    AF_INET, GlobalStats, VipKey, VipValue, VridConfig, VridKey, event_reason, flags, state,
};
use vrrp_tests::require_root;

const XDP_DROP: u32 = 1;
const XDP_PASS: u32 = 2;
const XDP_TX: u32 = 3;
/// BPF_PROG_TEST_RUN needs a real ingress device; lo exists in every namespace.
const IFINDEX: u32 = 1;
const VRID: u8 = 51;
const OUR_MAC: [u8; 6] = [0x02, 0x00, 0x5e, 0x10, 0x00, 0x01];
const PEER_MAC: [u8; 6] = [0x02, 0x00, 0x5e, 0x10, 0x00, 0x02];
const PEER: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
const VIP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 100);
const CLIENT: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 10);
const PASS: [u8; 8] = *b"s3cret!!";

fn load(test: &str) -> Option<Dataplane> {
    if !require_root(test) {
        return None;
    }
    Some(Dataplane::load_unpinned(KernelLogLevel::Off).expect("the XDP object loads and passes the verifier"))
}

fn key(vrid: u8) -> VridKey {
    VridKey { ifindex: IFINDEX, vrid: u16::from(vrid), family: AF_INET }
}

fn v2_config() -> VridConfig {
    VridConfig { version: 2, adver_int_cs: 100, state: state::BACKUP, priority: 100, ..VridConfig::default() }.with_pass(PASS)
}

fn v3_config() -> VridConfig {
    VridConfig { version: 3, ..v2_config() }.without_auth()
}

/// Our primary address (the instance's unicast_src_ip).
const US: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);

/// Configures an instance as the agent does: its addresses (one VIP advertised), then its
/// settings.
fn configure(dp: &mut Dataplane, vrid: u8, cfg: VridConfig) {
    configure_with(dp, vrid, cfg, &[VIP.octets()], &[]);
}

fn configure_with(dp: &mut Dataplane, vrid: u8, mut cfg: VridConfig, addrs: &[[u8; 4]], peers: &[[u8; 4]]) {
    cfg.primary_v4 = US.octets();
    cfg.count_addrs = addrs.len() as u32;
    dp.set_vrid_addrs(key(vrid), addrs, &[], peers).expect("the VRID's addresses");
    dp.init_vrid(key(vrid), cfg).expect("configure the VRID");
}

fn v2_advert(priority: u8) -> vrrp::Repr {
    vrrp::Repr {
        version: vrrp::Version::V2,
        vrid: VRID,
        priority,
        adver_int_cs: 100,
        auth: vrrp::Auth::Pass(PASS),
        addresses: vec![IpAddr::V4(VIP)],
    }
}

fn v3_advert(priority: u8, interval_cs: u16) -> vrrp::Repr {
    vrrp::Repr {
        version: vrrp::Version::V3,
        vrid: VRID,
        priority,
        adver_int_cs: interval_cs,
        auth: vrrp::Auth::None,
        addresses: vec![IpAddr::V4(VIP)],
    }
}

fn frame(repr: &vrrp::Repr, mode: vrrp::ChecksumMode) -> Vec<u8> {
    wire::vrrp_frame_v4(PEER_MAC, PEER, vrrp::MCAST_V4, 255, repr, mode)
}

/// Offset of the VRRP message in frames built by `frame` (Ethernet 14 + IPv4 20).
const VRRP_OFF: usize = 34;

/// Recomputes the VRRP checksum (plain) after a test changed a field, so only the field under
/// test is wrong.
fn fix_checksum(f: &mut [u8]) {
    let total = u16::from_be_bytes([f[16], f[17]]) as usize;
    let end = 14 + total;
    f[VRRP_OFF + 6] = 0;
    f[VRRP_OFF + 7] = 0;
    let c = checksum::fold(checksum::ones_complement_sum(&f[VRRP_OFF..end], 0));
    f[VRRP_OFF + 6..VRRP_OFF + 8].copy_from_slice(&c.to_be_bytes());
}

fn global(dp: &Dataplane) -> GlobalStats {
    dp.global_stats().expect("global stats")
}

#[test]
fn arp_request_for_an_owned_vip_is_answered_in_place() {
    let Some(mut dp) = load("arp_request_for_an_owned_vip_is_answered_in_place") else { return };
    let vip_key = VipKey { ifindex: IFINDEX, addr_v4: VIP.octets() };
    dp.own_vip(vip_key, VipValue::new(OUR_MAC, VRID)).expect("vip");
    configure(&mut dp, VRID, v2_config());

    let request = arp::request_frame(PEER_MAC, CLIENT, VIP);
    let (action, out) = dp.test_run(&request, IFINDEX).expect("test run");
    assert_eq!(action, XDP_TX);

    // The reply, byte by byte (RFC 826): to the requester, from us, "VIP is at OUR_MAC".
    let mut expected = Vec::new();
    expected.extend_from_slice(&PEER_MAC); // eth dst
    expected.extend_from_slice(&OUR_MAC); // eth src
    expected.extend_from_slice(&[0x08, 0x06]); // ARP
    expected.extend_from_slice(&[0x00, 0x01, 0x08, 0x00, 6, 4]); // Ethernet/IPv4
    expected.extend_from_slice(&[0x00, 0x02]); // reply
    expected.extend_from_slice(&OUR_MAC);
    expected.extend_from_slice(&VIP.octets());
    expected.extend_from_slice(&PEER_MAC);
    expected.extend_from_slice(&CLIENT.octets());
    assert_eq!(&out[..42], &expected[..], "reply bytes");
    assert_eq!(out.len(), request.len(), "the frame keeps its length");
    assert_eq!(global(&dp).arp_replies, 1);
    assert_eq!(dp.vrid_stats(&key(VRID)).expect("stats").arp_replies, 1);
}

#[test]
fn arp_for_anything_else_is_passed_untouched() {
    let Some(mut dp) = load("arp_for_anything_else_is_passed_untouched") else { return };
    let vip_key = VipKey { ifindex: IFINDEX, addr_v4: VIP.octets() };
    dp.own_vip(vip_key, VipValue::new(OUR_MAC, VRID)).expect("vip");

    // A VIP we do not own.
    let other = arp::request_frame(PEER_MAC, CLIENT, Ipv4Addr::new(198, 18, 0, 101));
    // Someone announcing our VIP (gratuitous ARP): never answer it.
    let garp = arp::gratuitous_frame(PEER_MAC, VIP);
    // An ARP reply for the VIP.
    let mut reply = arp::request_frame(PEER_MAC, CLIENT, VIP);
    reply[21] = 2;
    // Our VIP, but arriving on another interface (ifindex 1 vs key on ifindex 2 is the same
    // thing the other way round): a key on ifindex 2 must not answer on lo.
    dp.disown_vip(&vip_key);
    dp.own_vip(VipKey { ifindex: 2, ..vip_key }, VipValue::new(OUR_MAC, VRID)).expect("vip");
    let wrong_if = arp::request_frame(PEER_MAC, CLIENT, VIP);
    for (what, f) in [("unowned", &other), ("gratuitous", &garp), ("reply", &reply), ("other interface", &wrong_if)] {
        let (action, out) = dp.test_run(f, IFINDEX).expect("test run");
        assert_eq!(action, XDP_PASS, "{what}");
        assert_eq!(&out[..], &f[..], "{what}: frame untouched");
    }
    assert_eq!(global(&dp).arp_replies, 0);
}

#[test]
fn valid_v2_advert_is_consumed_recorded_and_wakes_the_agent_only_on_change() {
    let Some(mut dp) = load("valid_v2_advert_is_consumed_recorded_and_wakes_the_agent_only_on_change") else { return };
    configure(&mut dp, VRID, v2_config());
    let f = frame(&v2_advert(150), vrrp::ChecksumMode::Plain);

    let (action, _) = dp.test_run(&f, IFINDEX).expect("test run");
    assert_eq!(action, XDP_DROP, "a validated advert is consumed");
    let rec = dp.record(&key(VRID)).expect("record written");
    assert_eq!(Ipv4Addr::from(rec.src_v4), PEER);
    assert_eq!((rec.priority, rec.adver_int_cs, rec.version, rec.count_addrs), (150, 100, 2, 1));
    assert!(rec.ts_ns > 0);
    let ev = dp.drain_events();
    assert_eq!(ev.len(), 1, "the first advert wakes the agent");
    assert_ne!(ev[0].reasons & event_reason::FIRST, 0);
    assert_eq!(ev[0].key, key(VRID));
    assert_eq!(ev[0].prev.ts_ns, 0, "the first advert has no advert before it");

    // Steady state: the same master again, ten times: recorded, no wake-up.
    for _ in 0..10 {
        assert_eq!(dp.test_run(&f, IFINDEX).expect("test run").0, XDP_DROP);
    }
    assert!(dp.drain_events().is_empty(), "steady-state adverts must not wake userspace");
    let rec2 = dp.record(&key(VRID)).expect("record");
    // Every accepted advert took the next sequence number (the first is above the base
    // init_vrid chose, which is never reused).
    assert!(rec.seq > 0);
    assert_eq!(rec2.seq, rec.seq + 10);
    assert!(rec2.ts_ns >= rec.ts_ns);

    // A priority change, then priority 0: each wakes the agent with its reason.
    dp.test_run(&frame(&v2_advert(120), vrrp::ChecksumMode::Plain), IFINDEX).expect("run");
    let ev = dp.drain_events();
    assert_eq!(ev.len(), 1);
    assert_ne!(ev[0].reasons & event_reason::PRIORITY_CHANGED, 0);
    // The event carries the advert's own sequence number: the agent orders events by it.
    assert_eq!(ev[0].record.seq, rec.seq + 11);
    // And the advert it replaced, the last at 150 (which woke nobody): a backup's timer runs
    // from that one when it discards the new priority.
    let rec3 = dp.record(&key(VRID)).expect("record");
    assert_eq!((ev[0].prev.ts_ns, ev[0].prev.priority, ev[0].prev.src_v4), (rec2.ts_ns, 150, rec2.src_v4));
    assert_eq!((rec3.ts_ns, rec3.priority), (ev[0].record.ts_ns, 120));
    dp.test_run(&frame(&v2_advert(0), vrrp::ChecksumMode::Plain), IFINDEX).expect("run");
    let ev = dp.drain_events();
    assert_eq!(ev.len(), 1);
    assert_ne!(ev[0].reasons & event_reason::PRIORITY_ZERO, 0);

    let s = dp.vrid_stats(&key(VRID)).expect("stats");
    assert_eq!((s.rx, s.accepted, s.dropped, s.events), (13, 13, 0, 3));
    let g = global(&dp);
    assert_eq!((g.vrrp_rx, g.vrrp_accepted), (13, 13));
}

#[test]
fn a_master_is_told_about_every_advert() {
    let Some(mut dp) = load("a_master_is_told_about_every_advert") else { return };
    configure(&mut dp, VRID, VridConfig { state: state::MASTER, ..v2_config() });
    let f = frame(&v2_advert(90), vrrp::ChecksumMode::Plain);
    for _ in 0..3 {
        dp.test_run(&f, IFINDEX).expect("run");
    }
    let ev = dp.drain_events();
    assert_eq!(ev.len(), 3);
    assert!(ev.iter().all(|e| e.reasons & event_reason::NOT_BACKUP != 0));
}

#[test]
fn v3_over_ipv4_is_accepted_with_and_without_the_pseudo_header_and_counted() {
    let Some(mut dp) = load("v3_over_ipv4_is_accepted_with_and_without_the_pseudo_header_and_counted") else { return };
    configure(&mut dp, VRID, v3_config());
    let pseudo = frame(&v3_advert(200, 50), vrrp::ChecksumMode::PseudoHeader);
    let plain = frame(&v3_advert(200, 50), vrrp::ChecksumMode::Plain);
    assert_ne!(pseudo, plain, "the two checksum modes differ for this packet");
    assert_eq!(dp.test_run(&pseudo, IFINDEX).expect("run").0, XDP_DROP);
    assert_eq!(dp.test_run(&plain, IFINDEX).expect("run").0, XDP_DROP);
    assert_eq!(dp.test_run(&plain, IFINDEX).expect("run").0, XDP_DROP);
    let s = dp.vrid_stats(&key(VRID)).expect("stats");
    assert_eq!((s.accepted, s.v3_csum_pseudo, s.v3_csum_plain, s.dropped), (3, 1, 2, 0));
    let rec = dp.record(&key(VRID)).expect("record");
    assert_eq!((rec.version, rec.adver_int_cs, rec.priority), (3, 50, 200));
    // Sub-second v3 intervals are learned: a change wakes the agent.
    dp.drain_events();
    dp.test_run(&frame(&v3_advert(200, 100), vrrp::ChecksumMode::PseudoHeader), IFINDEX).expect("run");
    let ev = dp.drain_events();
    assert_eq!(ev.len(), 1);
    assert_ne!(ev[0].reasons & event_reason::INTERVAL_CHANGED, 0);
}

/// Each RFC 3768/5798 §7.1 rule: a frame that breaks only that rule is dropped and counted
/// under exactly that reason.
#[test]
fn each_receive_check_drops_and_counts_its_own_reason() {
    let Some(mut dp) = load("each_receive_check_drops_and_counts_its_own_reason") else { return };
    configure(&mut dp, VRID, v2_config());
    configure(&mut dp, 52, v3_config());
    configure(&mut dp, 53, VridConfig { flags: flags::OWNER | flags::AUTH_PASS, ..v2_config() });
    let good = frame(&v2_advert(100), vrrp::ChecksumMode::Plain);
    let good_v3 = {
        let mut r = v3_advert(100, 100);
        r.vrid = 52;
        frame(&r, vrrp::ChecksumMode::Plain)
    };
    let with = |base: &[u8], f: &dyn Fn(&mut Vec<u8>)| {
        let mut v = base.to_vec();
        f(&mut v);
        v
    };
    type Case = (&'static str, Vec<u8>, fn(&GlobalStats) -> u64);
    let cases: Vec<Case> = vec![
        ("ttl 254", with(&good, &|f| {
            f[22] = 254;
            let c = wire::checksum::fold(wire::checksum::ones_complement_sum(&{ let mut h = f[14..34].to_vec(); h[10] = 0; h[11] = 0; h }, 0));
            f[24..26].copy_from_slice(&c.to_be_bytes());
        }), |g| g.drop_ttl),
        ("version 3 on a v2 instance", with(&good, &|f| { f[VRRP_OFF] = 0x31; fix_checksum(f) }), |g| g.drop_version),
        ("type 2", with(&good, &|f| { f[VRRP_OFF] = 0x22; fix_checksum(f) }), |g| g.drop_type),
        ("bad checksum", with(&good, &|f| f[VRRP_OFF + 7] ^= 1), |g| g.drop_checksum),
        ("bad checksum v3", with(&good_v3, &|f| f[VRRP_OFF + 7] ^= 1), |g| g.drop_checksum),
        ("address count larger than the packet", with(&good, &|f| { f[VRRP_OFF + 3] = 3; fix_checksum(f) }), |g| g.drop_truncated),
        ("auth type AH on a PASS instance", with(&good, &|f| { f[VRRP_OFF + 4] = 2; fix_checksum(f) }), |g| g.drop_auth_type),
        ("wrong password", with(&good, &|f| { f[VRRP_OFF + 12] ^= 0x20; fix_checksum(f) }), |g| g.drop_auth_pass),
        ("interval 2 s on a 1 s instance", with(&good, &|f| { f[VRRP_OFF + 5] = 2; fix_checksum(f) }), |g| g.drop_interval),
        ("v3 interval 0", with(&good_v3, &|f| { f[VRRP_OFF + 4] = 0; f[VRRP_OFF + 5] = 0; fix_checksum(f) }), |g| g.drop_bad_interval),
    ];
    for (what, f, field) in cases {
        let before = global(&dp);
        let (action, _) = dp.test_run(&f, IFINDEX).expect("run");
        let after = global(&dp);
        assert_eq!(action, XDP_DROP, "{what}: dropped");
        assert_eq!(field(&after) - field(&before), 1, "{what}: counted under its reason");
        assert_eq!(after.vrrp_accepted, before.vrrp_accepted, "{what}: not accepted");
        // Exactly one counter besides vrrp_rx moved.
        let moved: u64 = bytemuck::cast_slice::<GlobalStats, u64>(std::slice::from_ref(&after))
            .iter()
            .zip(bytemuck::cast_slice::<GlobalStats, u64>(std::slice::from_ref(&before)))
            .map(|(a, b)| a - b)
            .sum();
        assert_eq!(moved, 2, "{what}: vrrp_rx and one reason, nothing else");
    }
    assert!(dp.record(&key(VRID)).is_none(), "no invalid advert was recorded");
    assert!(dp.drain_events().is_empty(), "no invalid advert woke the agent");
    // The address owner hears adverts (to re-assert against a second master, and to notice
    // a second owner): accepted, recorded, and the agent woken (it is not a backup).
    let to_owner = with(&good, &|f| { f[VRRP_OFF + 1] = 53; fix_checksum(f) });
    assert_eq!(dp.test_run(&to_owner, IFINDEX).expect("run").0, XDP_DROP);
    assert_eq!(dp.record(&key(53)).map(|r| r.priority), Some(100), "recorded for the owner");
    assert_eq!(dp.drain_events().len(), 1, "the owner's agent is woken");
    let s = dp.vrid_stats(&key(VRID)).expect("stats");
    assert_eq!(s.accepted, 0);
    assert!(s.dropped >= 8);
}

#[test]
fn unknown_vrids_and_other_traffic_pass_untouched() {
    let Some(mut dp) = load("unknown_vrids_and_other_traffic_pass_untouched") else { return };
    configure(&mut dp, VRID, v2_config());
    let mut unknown = v2_advert(100);
    unknown.vrid = 99;
    let unknown = frame(&unknown, vrrp::ChecksumMode::Plain);
    // UDP 198.18.0.2 -> 198.18.0.10, an IPv6 frame, a VLAN-tagged frame, a runt.
    let mut udp = frame(&v2_advert(100), vrrp::ChecksumMode::Plain);
    udp[23] = 17;
    let mut ipv6 = vec![0u8; 80];
    ipv6[12] = 0x86;
    ipv6[13] = 0xdd;
    ipv6[14] = 0x60;
    let mut vlan = frame(&v2_advert(100), vrrp::ChecksumMode::Plain);
    vlan[12] = 0x81;
    vlan[13] = 0x00;
    // An Ethernet header announcing IPv4 and nothing after it (the kernel needs >= 14 bytes).
    let mut runt = vec![0xffu8; 14];
    runt[12] = 0x08;
    runt[13] = 0x00;
    let truncated_ip = frame(&v2_advert(100), vrrp::ChecksumMode::Plain)[..30].to_vec();
    for (what, f) in [("unknown vrid", &unknown), ("udp", &udp), ("ipv6", &ipv6), ("vlan", &vlan), ("runt", &runt), ("truncated ip header", &truncated_ip)] {
        let (action, out) = dp.test_run(f, IFINDEX).expect("run");
        assert_eq!(action, XDP_PASS, "{what}");
        assert_eq!(&out[..], &f[..], "{what}: untouched");
    }
    let g = global(&dp);
    assert_eq!(g.unknown_vrid, 1);
    assert_eq!(g.vrrp_accepted, 0);
}

/// Rewrites the IPv4 header checksum after a test changed a header field.
fn fix_ip_checksum(f: &mut [u8]) {
    f[24] = 0;
    f[25] = 0;
    let c = checksum::fold(checksum::ones_complement_sum(&f[14..34], 0));
    f[24..26].copy_from_slice(&c.to_be_bytes());
}

/// Runs `f` and requires: dropped, `reason`'s counter +1, and no other counter but `vrrp_rx`.
fn assert_dropped_as(dp: &Dataplane, what: &str, f: &[u8], reason: vrrp_common::DropReason) {
    let before = global(dp);
    let (action, _) = dp.test_run(f, IFINDEX).expect("run");
    let after = global(dp);
    assert_eq!(action, XDP_DROP, "{what}: dropped");
    assert_eq!(after.drop_count(reason) - before.drop_count(reason), 1, "{what}: counted as {}", reason.counter_name());
    let a = bytemuck::cast_slice::<GlobalStats, u64>(std::slice::from_ref(&after));
    let b = bytemuck::cast_slice::<GlobalStats, u64>(std::slice::from_ref(&before));
    for ((name, x), y) in GlobalStats::COUNTER_NAMES.iter().zip(a).zip(b) {
        let expected = u64::from(*name == "vrrp_rx" || *name == reason.counter_name());
        assert_eq!(x - y, expected, "{what}: counter {name}");
    }
}

/// The forged adverts of issue 6, each accepted before although the kernel or keepalived
/// rejects it: each is dropped under its own reason, and nothing else moves.
#[test]
fn forged_adverts_from_the_issue_are_dropped_each_under_its_own_reason() {
    use vrrp_common::DropReason as R;
    let Some(mut dp) = load("forged_adverts_from_the_issue_are_dropped_each_under_its_own_reason") else { return };
    configure(&mut dp, VRID, v3_config());
    // A unicast instance: adverts must come to US.
    configure_with(&mut dp, 52, VridConfig { flags: flags::UNICAST, ..v3_config() }, &[VIP.octets()], &[PEER.octets()]);
    let good = frame(&v3_advert(100, 100), vrrp::ChecksumMode::PseudoHeader);
    assert_eq!(dp.test_run(&good, IFINDEX).expect("run").0, XDP_DROP);
    assert_eq!(global(&dp).vrrp_accepted, 1, "the untouched advert is accepted");

    let mut bad_ip_csum = good.clone();
    bad_ip_csum[24] ^= 0x40;
    assert_dropped_as(&dp, "bad IPv4 header checksum", &bad_ip_csum, R::IpChecksum);

    let mut unicast = v3_advert(100, 100);
    unicast.vrid = 52;
    // Not ours, even with another host's MAC (frames to unicast destinations carry one).
    let mut not_ours = wire::vrrp_frame_v4(PEER_MAC, PEER, Ipv4Addr::new(198, 18, 0, 9), 255, &unicast, vrrp::ChecksumMode::Plain);
    not_ours[..6].copy_from_slice(&[0x02, 0, 0x5e, 0x10, 0, 9]);
    assert_dropped_as(&dp, "unicast destination that is not ours", &not_ours, R::WrongDestination);
    let to_group = wire::vrrp_frame_v4(PEER_MAC, PEER, vrrp::MCAST_V4, 255, &unicast, vrrp::ChecksumMode::Plain);
    assert_dropped_as(&dp, "multicast advert to a unicast instance", &to_group, R::MulticastToUnicast);
    let to_us = frame(&v3_advert(100, 100), vrrp::ChecksumMode::Plain);
    let mut to_us_unicast = to_us.clone();
    to_us_unicast[30..34].copy_from_slice(&US.octets());
    fix_ip_checksum(&mut to_us_unicast);
    assert_dropped_as(&dp, "unicast advert to a multicast instance", &to_us_unicast, R::UnicastToMulticast);

    for (what, src, reason) in [
        ("source 0.0.0.0", Ipv4Addr::UNSPECIFIED, R::MartianSource),
        ("source 127.0.0.1", Ipv4Addr::LOCALHOST, R::MartianSource),
        ("source 224.0.0.5", Ipv4Addr::new(224, 0, 0, 5), R::MartianSource),
        ("source 255.255.255.255", Ipv4Addr::BROADCAST, R::MartianSource),
        ("source = the VIP", VIP, R::SourceIsVip),
        ("source = our own address", US, R::SourceIsSelf),
    ] {
        let f = wire::vrrp_frame_v4(PEER_MAC, src, vrrp::MCAST_V4, 255, &v3_advert(100, 100), vrrp::ChecksumMode::Plain);
        assert_dropped_as(&dp, what, &f, reason);
    }

    let mut count0 = good.clone();
    count0[VRRP_OFF + 3] = 0;
    fix_checksum(&mut count0);
    assert_dropped_as(&dp, "count 0", &count0, R::AddrCountZero);

    let mut three = v3_advert(100, 100);
    three.addresses = (100..103).map(|i| IpAddr::V4(Ipv4Addr::new(198, 18, 0, i))).collect();
    let mut count1_three = frame(&three, vrrp::ChecksumMode::Plain);
    count1_three[VRRP_OFF + 3] = 1;
    fix_checksum(&mut count1_three);
    assert_dropped_as(&dp, "count 1 with 3 addresses", &count1_three, R::Length);

    // A foreign cluster reusing our VRID, with 100 addresses of its own.
    let mut foreign = v3_advert(200, 100);
    foreign.addresses = (1..=100).map(|i| IpAddr::V4(Ipv4Addr::new(198, 19, 1, i))).collect();
    let foreign = frame(&foreign, vrrp::ChecksumMode::PseudoHeader);
    assert_dropped_as(&dp, "100-address advert of a foreign cluster", &foreign, R::AddrList);

    assert_eq!(dp.record(&key(VRID)).expect("record").priority, 100, "no forged advert was recorded");
    let s = dp.vrid_stats(&key(VRID)).expect("stats");
    assert_eq!((s.accepted, s.dropped), (1, 11));
}

/// 255 addresses (the most a count byte holds) are validated, v2 and v3, with the address list.
#[test]
fn adverts_with_255_addresses_are_validated() {
    let Some(mut dp) = load("adverts_with_255_addresses_are_validated") else { return };
    let addrs: Vec<Ipv4Addr> = (0..255u32).map(|i| Ipv4Addr::from(u32::from(Ipv4Addr::new(198, 18, 2, 0)) + i)).collect();
    let octets: Vec<[u8; 4]> = addrs.iter().map(|a| a.octets()).collect();
    configure_with(&mut dp, VRID, v2_config(), &octets, &[]);
    configure_with(&mut dp, 52, v3_config(), &octets, &[]);
    let mut v2 = v2_advert(150);
    v2.addresses = addrs.iter().map(|a| IpAddr::V4(*a)).collect();
    let mut v3 = v3_advert(150, 100);
    v3.vrid = 52;
    v3.addresses = v2.addresses.iter().rev().copied().collect();
    for (what, f) in [("v2", frame(&v2, vrrp::ChecksumMode::Plain)), ("v3, another order", frame(&v3, vrrp::ChecksumMode::PseudoHeader))] {
        assert_eq!(f.len(), 14 + 20 + 8 + 1020 + if what == "v2" { 8 } else { 0 });
        assert_eq!(dp.test_run(&f, IFINDEX).expect("run").0, XDP_DROP, "{what}");
    }
    let g = global(&dp);
    assert_eq!(g.vrrp_accepted, 2, "{g:?}");
    assert_eq!(dp.record(&key(52)).expect("record").count_addrs, 255);
    // The last address changed: a mismatch, found at the end of the list.
    let mut last = v2.clone();
    last.addresses[254] = IpAddr::V4(Ipv4Addr::new(198, 19, 0, 1));
    assert_dropped_as(&dp, "255 addresses, the last one not ours", &frame(&last, vrrp::ChecksumMode::Plain), vrrp_common::DropReason::AddrList);
    // One of ours twice (and another missing): same count, not the same list.
    let mut twice = v2.clone();
    twice.addresses[254] = twice.addresses[0];
    assert_dropped_as(&dp, "one of ours twice", &frame(&twice, vrrp::ChecksumMode::Plain), vrrp_common::DropReason::AddrList);
    // vrrp_skip_check_adv_addr: any list.
    configure_with(&mut dp, VRID, VridConfig { flags: flags::AUTH_PASS | flags::SKIP_CHECK_ADV_ADDR, ..v2_config() }, &octets, &[]);
    assert_eq!(dp.test_run(&frame(&last, vrrp::ChecksumMode::Plain), IFINDEX).expect("run").0, XDP_DROP);
    assert_eq!(global(&dp).vrrp_accepted, 3);
}

/// Unicast instances: TTL is not required to be 255 (peers may be routed), and with
/// vrrp_check_unicast_src only configured peers are heard. v3 interval mismatches are
/// accepted (learned) but counted.
#[test]
fn unicast_rules_and_interval_mismatch() {
    use vrrp_common::DropReason as R;
    let Some(mut dp) = load("unicast_rules_and_interval_mismatch") else { return };
    configure_with(&mut dp, VRID, VridConfig { flags: flags::UNICAST | flags::PEER_ALLOW_LIST, ..v3_config() }, &[VIP.octets()], &[PEER.octets()]);
    let routed = wire::vrrp_frame_v4(PEER_MAC, PEER, US, 61, &v3_advert(100, 100), vrrp::ChecksumMode::Plain);
    assert_eq!(dp.test_run(&routed, IFINDEX).expect("run").0, XDP_DROP);
    assert_eq!(global(&dp).vrrp_accepted, 1, "TTL 61 from a routed unicast peer is accepted");
    let stranger = wire::vrrp_frame_v4(PEER_MAC, Ipv4Addr::new(198, 18, 0, 3), US, 255, &v3_advert(100, 100), vrrp::ChecksumMode::Plain);
    assert_dropped_as(&dp, "not a configured peer", &stranger, R::UnknownPeer);
    let slow = wire::vrrp_frame_v4(PEER_MAC, PEER, US, 255, &v3_advert(255, 4095), vrrp::ChecksumMode::Plain);
    assert_eq!(dp.test_run(&slow, IFINDEX).expect("run").0, XDP_DROP);
    let g = global(&dp);
    assert_eq!((g.vrrp_accepted, g.interval_mismatch), (2, 1));
    assert_eq!(dp.vrid_stats(&key(VRID)).expect("stats").interval_mismatch, 1);
}

/// An advert with IP options (or a fragment) is not judged in XDP: passed untouched and
/// uncounted, for the agent's slow path (the raw socket and rx::validate, which accepts it:
/// see tests/tests/validator_parity.rs).
#[test]
fn adverts_with_ip_options_or_fragments_go_to_the_slow_path() {
    let Some(mut dp) = load("adverts_with_ip_options_or_fragments_go_to_the_slow_path") else { return };
    configure(&mut dp, VRID, v2_config());
    let good = frame(&v2_advert(150), vrrp::ChecksumMode::Plain);
    let opts = wire::with_ipv4_options(&good, &[0x94, 0x04, 0x00, 0x00]);
    let mut frag = good.clone();
    frag[20] = 0x20;
    fix_ip_checksum(&mut frag);
    for (what, f) in [("router alert option", &opts), ("first fragment", &frag)] {
        let before = global(&dp);
        let (action, out) = dp.test_run(f, IFINDEX).expect("run");
        assert_eq!(action, XDP_PASS, "{what}");
        assert_eq!(&out[..], &f[..], "{what}: untouched");
        assert_eq!(global(&dp), before, "{what}: nothing counted");
    }
}

/// The owned-VIP setup of the ARP hardening tests: VIP owned on IFINDEX by VRID, stats entry.
fn own_vip(dp: &mut Dataplane) {
    let vip_key = VipKey { ifindex: IFINDEX, addr_v4: VIP.octets() };
    dp.own_vip(vip_key, VipValue::new(OUR_MAC, VRID)).expect("vip");
    configure(dp, VRID, v2_config());
}

/// Every counter that moved between two snapshots, by position in `GlobalStats`.
fn moved(before: &GlobalStats, after: &GlobalStats) -> u64 {
    bytemuck::cast_slice::<GlobalStats, u64>(std::slice::from_ref(after))
        .iter()
        .zip(bytemuck::cast_slice::<GlobalStats, u64>(std::slice::from_ref(before)))
        .map(|(a, b)| a - b)
        .sum()
}

/// Requests for an owned VIP that must never be answered: each martian sender, a
/// broadcast/multicast source MAC, a request unicast to another host's MAC. Each is counted
/// under its own reason (plus `arp_requests`), nothing else moves, and the frame is untouched.
#[test]
fn arp_requests_from_martians_bad_macs_or_to_another_host_are_not_answered() {
    let Some(mut dp) = load("arp_requests_from_martians_bad_macs_or_to_another_host_are_not_answered") else { return };
    own_vip(&mut dp);
    let req = |sender: Ipv4Addr| arp::request_frame(PEER_MAC, sender, VIP);
    let with = |mut f: Vec<u8>, edit: &dyn Fn(&mut Vec<u8>)| {
        edit(&mut f);
        f
    };
    type Case = (&'static str, Vec<u8>, u32, fn(&GlobalStats) -> u64);
    let cases: Vec<Case> = vec![
        ("sender 224.0.0.1", req(Ipv4Addr::new(224, 0, 0, 1)), XDP_DROP, |g| g.arp_drop_sender_multicast),
        ("sender 239.255.255.250", req(Ipv4Addr::new(239, 255, 255, 250)), XDP_DROP, |g| g.arp_drop_sender_multicast),
        ("sender 255.255.255.255", req(Ipv4Addr::BROADCAST), XDP_DROP, |g| g.arp_drop_sender_broadcast),
        ("sender 127.0.0.1", req(Ipv4Addr::LOCALHOST), XDP_DROP, |g| g.arp_drop_sender_loopback),
        ("sender 127.1.2.3", req(Ipv4Addr::new(127, 1, 2, 3)), XDP_DROP, |g| g.arp_drop_sender_loopback),
        ("broadcast Ethernet source", with(req(CLIENT), &|f| f[6..12].fill(0xff)), XDP_DROP, |g| g.arp_drop_group_src_mac),
        ("multicast Ethernet source", with(req(CLIENT), &|f| f[6..12].copy_from_slice(&[0x01, 0x00, 0x5e, 0, 0, 1])), XDP_DROP, |g| g.arp_drop_group_src_mac),
        ("multicast ARP sender MAC", with(req(CLIENT), &|f| f[22] = 0x01), XDP_DROP, |g| g.arp_drop_group_src_mac),
        ("unicast to another host's MAC", with(req(CLIENT), &|f| f[0..6].copy_from_slice(&[0x02, 0, 0x5e, 0x10, 0, 0x99])), XDP_PASS, |g| g.arp_other_host_dst),
        ("multicast Ethernet destination", with(req(CLIENT), &|f| f[0..6].copy_from_slice(&[0x01, 0x00, 0x5e, 0, 0, 1])), XDP_PASS, |g| g.arp_other_host_dst),
    ];
    for (what, f, want, field) in cases {
        let before = global(&dp);
        let (action, out) = dp.test_run(&f, IFINDEX).expect("test run");
        let after = global(&dp);
        assert_eq!(action, want, "{what}");
        assert_eq!(&out[..], &f[..], "{what}: frame untouched");
        assert_eq!(field(&after) - field(&before), 1, "{what}: counted under its reason");
        assert_eq!(after.arp_requests - before.arp_requests, 1, "{what}: counted as a request");
        assert_eq!(moved(&before, &after), 2, "{what}: arp_requests and one reason, nothing else");
    }
    assert_eq!(global(&dp).arp_replies, 0);
    assert_eq!(dp.vrid_stats(&key(VRID)).expect("stats").arp_replies, 0);

    // The same request unicast to our own MAC is answered.
    let to_us = with(req(CLIENT), &|f| f[0..6].copy_from_slice(&OUR_MAC));
    let (action, out) = dp.test_run(&to_us, IFINDEX).expect("test run");
    assert_eq!(action, XDP_TX, "a request unicast to our MAC is answered");
    assert_eq!(&out[0..6], &PEER_MAC);
    assert_eq!(global(&dp).arp_replies, 1);
}

/// RFC 5227 probe (sender 0.0.0.0) for an owned VIP: answered as Linux's arp_process answers
/// it (`arp_send_dst(ARPOP_REPLY, .., sip=0, .., tip, sha, dev_addr, sha)`): unicast to the
/// prober's MAC, "VIP is at our MAC", target MAC the prober's, target IP 0.0.0.0.
#[test]
fn arp_probe_from_0_0_0_0_is_answered_like_linux() {
    let Some(mut dp) = load("arp_probe_from_0_0_0_0_is_answered_like_linux") else { return };
    own_vip(&mut dp);
    let probe = arp::request_frame(PEER_MAC, Ipv4Addr::UNSPECIFIED, VIP);
    let (action, out) = dp.test_run(&probe, IFINDEX).expect("test run");
    assert_eq!(action, XDP_TX);
    let (dst, src, r) = arp::parse_frame(&out).expect("an ARP frame");
    assert_eq!((dst, src), (PEER_MAC, OUR_MAC), "unicast to the prober, from us");
    assert_eq!(r.operation, arp::Operation::Reply);
    assert_eq!((r.sender_mac, r.sender_ip), (OUR_MAC, VIP));
    assert_eq!((r.target_mac, r.target_ip), (PEER_MAC, Ipv4Addr::UNSPECIFIED));
    let g = global(&dp);
    assert_eq!((g.arp_replies, g.arp_probe_replies, g.vip_conflict), (1, 1, 0));
    assert!(dp.drain_conflicts().is_empty(), "a probe is not a conflict");
}

/// Another host announcing our VIP (gratuitous ARP request, gratuitous reply, or a request
/// sent from the VIP) from a MAC that is not ours: passed to the stack untouched, counted
/// globally and per VRID, and reported to the agent with the offender's MAC (rate-limited
/// per VIP in XDP; every frame is counted). Our own announcement is none of that.
#[test]
fn gratuitous_arp_for_our_vip_from_another_mac_is_counted_reported_and_passed() {
    let Some(mut dp) = load("gratuitous_arp_for_our_vip_from_another_mac_is_counted_reported_and_passed") else { return };
    own_vip(&mut dp);
    let garp = arp::gratuitous_frame(PEER_MAC, VIP);
    let (action, out) = dp.test_run(&garp, IFINDEX).expect("test run");
    assert_eq!(action, XDP_PASS, "passed to the stack");
    assert_eq!(out, garp, "untouched");
    let ev = dp.drain_conflicts();
    assert_eq!(ev.len(), 1, "reported to the agent");
    assert_eq!(
        (ev[0].ifindex, ev[0].family, ev[0].vip(), ev[0].vrid, ev[0].mac(), ev[0].op),
        (IFINDEX, vrrp_common::AF_INET, IpAddr::V4(VIP), u16::from(VRID), PEER_MAC, vrrp_common::conflict_op::ARP_REQUEST)
    );

    // A gratuitous reply and a request from the VIP to someone else: counted too, and
    // within the rate limit no second report.
    let mut reply = garp.clone();
    reply[21] = 2;
    let asks = arp::request_frame(PEER_MAC, VIP, CLIENT);
    for f in [&reply, &asks] {
        assert_eq!(dp.test_run(f, IFINDEX).expect("test run").0, XDP_PASS);
    }
    assert!(dp.drain_conflicts().is_empty(), "at most one report per VIP per 100 ms");

    // Our own gratuitous ARP (our MAC) is no conflict, nor one for a VIP we do not own.
    let ours = arp::gratuitous_frame(OUR_MAC, VIP);
    let not_ours = arp::gratuitous_frame(PEER_MAC, Ipv4Addr::new(198, 18, 0, 101));
    for f in [&ours, &not_ours] {
        assert_eq!(dp.test_run(f, IFINDEX).expect("test run").0, XDP_PASS);
    }
    let g = global(&dp);
    assert_eq!((g.vip_conflict, g.arp_replies), (3, 0));
    assert_eq!(dp.vrid_stats(&key(VRID)).expect("stats").vip_conflict, 3);
}

/// VRRPv3 over IPv6, on the same interface as an IPv4 instance of the same VRID: recorded
/// under the IPv6 key with its IPv6 source, counted (v3 pseudo-header), waking the agent only
/// on a change, here a new source (another link-local address) and then priority 0; the
/// IPv4 instance's record is not touched.
#[test]
fn ipv6_adverts_are_recorded_per_family_and_wake_the_agent_on_a_new_source() {
    use std::net::Ipv6Addr;
    let Some(mut dp) = load("ipv6_adverts_are_recorded_per_family_and_wake_the_agent_on_a_new_source") else { return };
    configure(&mut dp, VRID, v3_config());
    let key6 = VridKey { family: vrrp_common::AF_INET6, ..key(VRID) };
    let vip6 = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x100);
    let cfg6 = VridConfig { count_addrs: 1, ..v3_config() };
    dp.set_vrid_addrs_v6(key6, &[vip6.octets()], &[], &[]).expect("addrs");
    dp.init_vrid(key6, cfg6).expect("config");
    let advert = |src: Ipv6Addr, priority: u8| {
        let r = vrrp::Repr { priority, addresses: vec![IpAddr::V6(vip6)], ..v3_advert(priority, 100) };
        let msg = r.to_bytes(&vrrp::Carrier { src: src.into(), dst: vrrp::MCAST_V6.into() }, vrrp::ChecksumMode::PseudoHeader);
        let mut f = vec![0x33, 0x33, 0, 0, 0, 0x12];
        f.extend_from_slice(&PEER_MAC);
        f.extend_from_slice(&[0x86, 0xdd, 0x60, 0, 0, 0]);
        f.extend_from_slice(&(msg.len() as u16).to_be_bytes());
        f.extend_from_slice(&[112, 255]);
        f.extend_from_slice(&src.octets());
        f.extend_from_slice(&vrrp::MCAST_V6.octets());
        f.extend_from_slice(&msg);
        f
    };
    let a: Ipv6Addr = "fe80::2".parse().expect("addr");
    let b: Ipv6Addr = "fe80::3".parse().expect("addr");
    for _ in 0..5 {
        assert_eq!(dp.test_run(&advert(a, 150), IFINDEX).expect("run").0, XDP_DROP);
    }
    let ev = dp.drain_events();
    assert_eq!(ev.len(), 1, "only the first of five wakes the agent");
    assert_eq!(ev[0].key, key6);
    assert_ne!(ev[0].reasons & event_reason::FIRST, 0);
    let rec = dp.record(&key6).expect("recorded");
    assert_eq!((Ipv6Addr::from(rec.src_v6), rec.src_v4, rec.priority, rec.count_addrs), (a, [0; 4], 150, 1));
    assert!(dp.record(&key(VRID)).is_none(), "the IPv4 instance heard nothing");

    dp.test_run(&advert(b, 150), IFINDEX).expect("run");
    let ev = dp.drain_events();
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].reasons, event_reason::NEW_SOURCE, "same priority and interval, another source");
    assert_eq!(Ipv6Addr::from(ev[0].record.src_v6), b);
    dp.test_run(&advert(b, 0), IFINDEX).expect("run");
    let ev = dp.drain_events();
    assert_ne!(ev[0].reasons & event_reason::PRIORITY_ZERO, 0);

    let s = dp.vrid_stats(&key6).expect("stats");
    assert_eq!((s.rx, s.accepted, s.v3_csum_pseudo, s.events), (7, 7, 7, 3));
    assert_eq!(dp.vrid_stats(&key(VRID)).expect("stats").rx, 0);
}
