//! IPv6 neighbour solicitations for owned IPv6 VIPs, answered by the real XDP program: first on
//! crafted frames (BPF_PROG_TEST_RUN), every byte of the advertisement checked and its
//! checksum recomputed here; then on a real veth, where a client in a namespace learns the
//! VIP's MAC from XDP's answer and a client probing the VIP with DAD finds it taken.
use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    time::Duration,
};

use vrrp_agent::{
    dataplane::{Dataplane, KernelLogLevel, XdpMode},
    wire::{
        arp, checksum,
        ipv6_decode::{self, NdKind, NdRepr},
    },
};
use vrrp_common::{AF_INET6, GlobalStats, VipValue, VridConfig, VridKey, state};
use vrrp_tests::{lan, require_root, wait_for};

const XDP_DROP: u32 = 1;
const XDP_PASS: u32 = 2;
const XDP_TX: u32 = 3;
/// BPF_PROG_TEST_RUN needs a real ingress device; lo exists in every namespace.
const IFINDEX: u32 = 1;
const VRID: u8 = 61;
const OUR_MAC: [u8; 6] = [0x00, 0x00, 0x5e, 0x00, 0x02, VRID];
const PEER_MAC: [u8; 6] = [0x02, 0x00, 0x5e, 0x10, 0x00, 0x02];
const OTHER_MAC: [u8; 6] = [0x02, 0x00, 0x5e, 0x10, 0x00, 0x09];
const VIP: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x100);
const CLIENT: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x10);
const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

fn load(test: &str) -> Option<Dataplane> {
    if !require_root(test) {
        return None;
    }
    let mut dp = Dataplane::load_unpinned(KernelLogLevel::Off).expect("the XDP object loads and passes the verifier");
    own(&mut dp, IFINDEX);
    Some(dp)
}

/// VIP owned by VRID on `ifindex`, with a per-VRID stats entry (as the agent sets it up).
fn own(dp: &mut Dataplane, ifindex: u32) {
    let key = VridKey { ifindex, vrid: u16::from(VRID), family: AF_INET6 };
    let cfg = VridConfig { version: 3, adver_int_cs: 100, state: state::MASTER, priority: 100, count_addrs: 1, ..VridConfig::default() };
    dp.set_vrid_addrs_v6(key, &[VIP.octets()], &[], &[]).expect("addrs");
    dp.init_vrid(key, cfg).expect("config");
    dp.own_ip(ifindex, IpAddr::V6(VIP), VipValue::new(OUR_MAC, VRID)).expect("own the VIP");
    assert!(dp.owns_ip(ifindex, IpAddr::V6(VIP)));
}

/// A neighbour solicitation as RFC 4861 §4.3 lays it out, with a correct checksum unless the
/// caller breaks it afterwards. `options` follow the target (each a whole option).
fn ns(eth_dst: [u8; 6], eth_src: [u8; 6], src: Ipv6Addr, dst: Ipv6Addr, hop_limit: u8, target: Ipv6Addr, options: &[u8]) -> Vec<u8> {
    let mut icmp = vec![135, 0, 0, 0, 0, 0, 0, 0];
    icmp.extend_from_slice(&target.octets());
    icmp.extend_from_slice(options);
    let c = checksum::fold(checksum::ones_complement_sum(&icmp, checksum::pseudo_header_v6(src, dst, 58, icmp.len() as u32)));
    icmp[2..4].copy_from_slice(&c.to_be_bytes());
    let mut f = eth_dst.to_vec();
    f.extend_from_slice(&eth_src);
    f.extend_from_slice(&[0x86, 0xdd, 0x60, 0, 0, 0]);
    f.extend_from_slice(&(icmp.len() as u16).to_be_bytes());
    f.extend_from_slice(&[58, hop_limit]);
    f.extend_from_slice(&src.octets());
    f.extend_from_slice(&dst.octets());
    f.extend_from_slice(&icmp);
    f
}

fn slla(mac: [u8; 6]) -> Vec<u8> {
    let mut o = vec![1, 1];
    o.extend_from_slice(&mac);
    o
}

fn mcast_mac(a: Ipv6Addr) -> [u8; 6] {
    let o = a.octets();
    [0x33, 0x33, o[12], o[13], o[14], o[15]]
}

/// The usual resolution: multicast to the VIP's solicited-node group, with our SLLA.
fn resolution() -> Vec<u8> {
    let snm = ipv6_decode::solicited_node(VIP);
    ns(mcast_mac(snm), PEER_MAC, CLIENT, snm, 255, VIP, &slla(PEER_MAC))
}

fn global(dp: &Dataplane) -> GlobalStats {
    dp.global_stats().expect("global stats")
}

/// Checks every byte of an NA from us: Ethernet, IPv6, ICMPv6 header, flags, target, the
/// target link-layer option, the length and (independently) the checksum.
fn assert_na(out: &[u8], eth_dst: [u8; 6], ip_dst: Ipv6Addr, flags: u8) {
    assert_eq!(out.len(), 14 + 40 + 32, "Ethernet + IPv6 + NA + TLLA option, nothing after");
    assert_eq!(&out[..6], &eth_dst, "Ethernet destination");
    assert_eq!(&out[6..12], &OUR_MAC, "Ethernet source: our MAC");
    assert_eq!(&out[12..14], &[0x86, 0xdd]);
    assert_eq!(&out[14..18], &[0x60, 0, 0, 0], "version 6, traffic class and flow label 0");
    assert_eq!(&out[18..20], &[0, 32], "payload length");
    assert_eq!(out[20], 58, "next header ICMPv6");
    assert_eq!(out[21], 255, "hop limit 255 (RFC 4861 §7.1.2)");
    assert_eq!(&out[22..38], &VIP.octets(), "source: the VIP");
    assert_eq!(&out[38..54], &ip_dst.octets(), "destination");
    let icmp = &out[54..];
    assert_eq!((icmp[0], icmp[1]), (136, 0), "neighbour advertisement, code 0");
    assert_eq!(icmp[4], flags, "flags");
    assert_eq!(&icmp[5..8], &[0, 0, 0], "reserved");
    assert_eq!(&icmp[8..24], &VIP.octets(), "target");
    assert_eq!(&icmp[24..26], &[2, 1], "target link-layer address option, 8 bytes");
    assert_eq!(&icmp[26..32], &OUR_MAC, "our MAC");
    // The checksum, recomputed here over the pseudo-header and the message.
    let mut zeroed = icmp.to_vec();
    zeroed[2..4].copy_from_slice(&[0, 0]);
    let want = checksum::fold(checksum::ones_complement_sum(&zeroed, checksum::pseudo_header_v6(VIP, ip_dst, 58, 32)));
    assert_eq!(u16::from_be_bytes([icmp[2], icmp[3]]), want, "ICMPv6 checksum");
    let nd = NdRepr::parse(icmp, VIP, ip_dst).expect("a valid NA");
    assert_eq!((nd.kind, nd.target, nd.lladdr), (NdKind::Advertisement, VIP, Some(OUR_MAC)));
}

fn na_replies(dp: &Dataplane) -> u64 {
    dp.vrid_stats(&VridKey { ifindex: IFINDEX, vrid: u16::from(VRID), family: AF_INET6 }).expect("stats").na_replies
}

#[test]
fn a_solicitation_for_an_owned_vip_is_answered_router_solicited_override() {
    let Some(dp) = load("a_solicitation_for_an_owned_vip_is_answered_router_solicited_override") else { return };
    let frame = resolution();
    assert_eq!(frame.len(), 86);
    let (action, out) = dp.test_run(&frame, IFINDEX).expect("run");
    assert_eq!(action, XDP_TX);
    assert_na(&out, PEER_MAC, CLIENT, 0x80 | 0x40 | 0x20);
    let g = global(&dp);
    assert_eq!((g.ns_requests, g.ns_replies, g.ns_dad_replies), (1, 1, 0));
    assert_eq!(na_replies(&dp), 1, "counted for the VRID");

    // Unicast (a reachability probe, no option), to the VIP at our MAC: answered to the
    // frame's source MAC, the frame grown by the 8-byte option.
    let probe = ns(OUR_MAC, PEER_MAC, CLIENT, VIP, 255, VIP, &[]);
    assert_eq!(probe.len(), 78);
    let (action, out) = dp.test_run(&probe, IFINDEX).expect("run");
    assert_eq!(action, XDP_TX);
    assert_na(&out, PEER_MAC, CLIENT, 0xe0);
    // A link-local solicitor, with a nonce option too (RFC 7527) and its SLLA first.
    let ll: Ipv6Addr = "fe80::2".parse().expect("addr");
    let snm = ipv6_decode::solicited_node(VIP);
    let mut opts = slla(OTHER_MAC);
    opts.extend_from_slice(&[14, 1, 1, 2, 3, 4, 5, 6]);
    let (action, out) = dp.test_run(&ns(mcast_mac(snm), PEER_MAC, ll, snm, 255, VIP, &opts), IFINDEX).expect("run");
    assert_eq!(action, XDP_TX);
    assert_na(&out, OTHER_MAC, ll, 0xe0);
    assert_eq!(global(&dp).ns_replies, 3);
}

#[test]
fn a_dad_probe_for_an_owned_vip_is_answered_to_all_nodes_without_the_solicited_flag() {
    let Some(dp) = load("a_dad_probe_for_an_owned_vip_is_answered_to_all_nodes_without_the_solicited_flag") else { return };
    let snm = ipv6_decode::solicited_node(VIP);
    // Linux's probe: from ::, to the solicited-node group, a nonce option, no SLLA.
    let probe = ns(mcast_mac(snm), PEER_MAC, Ipv6Addr::UNSPECIFIED, snm, 255, VIP, &[14, 1, 9, 8, 7, 6, 5, 4]);
    let (action, out) = dp.test_run(&probe, IFINDEX).expect("run");
    assert_eq!(action, XDP_TX);
    assert_na(&out, [0x33, 0x33, 0, 0, 0, 1], ALL_NODES, 0x80 | 0x20);
    let g = global(&dp);
    assert_eq!((g.ns_replies, g.ns_dad_replies), (1, 1));
}

#[test]
fn invalid_or_foreign_solicitations_are_dropped_or_passed_and_counted() {
    let Some(dp) = load("invalid_or_foreign_solicitations_are_dropped_or_passed_and_counted") else { return };
    let snm = ipv6_decode::solicited_node(VIP);
    let good = resolution();
    let edit = |e: &dyn Fn(&mut Vec<u8>)| {
        let mut f = good.clone();
        e(&mut f);
        f
    };
    let other: Ipv6Addr = "2001:db8::7".parse().expect("addr");
    let other_snm = ipv6_decode::solicited_node(other);
    type Counter = fn(&GlobalStats) -> u64;
    let invalid: Counter = |g| g.ns_drop_invalid;
    let group: Counter = |g| g.ns_drop_group_src;
    let other_dst: Counter = |g| g.ns_other_host_dst;
    let none: Counter = |_| 0;
    let cases: Vec<(&str, Vec<u8>, u32, Counter)> = vec![
        ("not an owned address", ns(mcast_mac(other_snm), PEER_MAC, CLIENT, other_snm, 255, other, &slla(PEER_MAC)), XDP_PASS, none),
        ("DAD probe with a source link-layer option (RFC 4861 §7.1.1)", ns(mcast_mac(snm), PEER_MAC, Ipv6Addr::UNSPECIFIED, snm, 255, VIP, &slla(PEER_MAC)), XDP_DROP, invalid),
        ("DAD probe not to the solicited-node group", ns(OUR_MAC, PEER_MAC, Ipv6Addr::UNSPECIFIED, VIP, 255, VIP, &[]), XDP_DROP, invalid),
        ("multicast source", ns(mcast_mac(snm), PEER_MAC, "ff02::1".parse().expect("addr"), snm, 255, VIP, &slla(PEER_MAC)), XDP_DROP, group),
        ("group source MAC", ns(mcast_mac(snm), [0x03, 0, 0, 0, 0, 1], CLIENT, snm, 255, VIP, &slla(PEER_MAC)), XDP_DROP, group),
        ("multicast source link-layer option", ns(mcast_mac(snm), PEER_MAC, CLIENT, snm, 255, VIP, &slla([0x33, 0x33, 0, 0, 0, 1])), XDP_DROP, group),
        // Linux uses the first source link-layer option (repeats are ignored): so do we.
        ("a group SLLA first, a unicast one after it", ns(mcast_mac(snm), PEER_MAC, CLIENT, snm, 255, VIP, &[slla([0x01, 0, 0x5e, 0, 0, 1]), slla(PEER_MAC)].concat()), XDP_DROP, group),
        ("hop limit 254", edit(&|f| f[21] = 254), XDP_DROP, invalid),
        ("bad checksum", edit(&|f| f[57] ^= 1), XDP_DROP, invalid),
        ("code 1", ns(mcast_mac(snm), PEER_MAC, CLIENT, snm, 255, VIP, &slla(PEER_MAC)).into_iter().enumerate().map(|(i, b)| if i == 55 { 1 } else { b }).collect(), XDP_DROP, invalid),
        ("an option of length 0", ns(mcast_mac(snm), PEER_MAC, CLIENT, snm, 255, VIP, &[1, 0, 2, 0, 0, 0, 0, 2]), XDP_DROP, invalid),
        ("too short (payload length 16)", edit(&|f| f[19] = 16), XDP_DROP, invalid),
        ("unicast to another host's MAC", ns(OTHER_MAC, PEER_MAC, CLIENT, VIP, 255, VIP, &slla(PEER_MAC)), XDP_PASS, other_dst),
        ("to an unrelated address", ns(OUR_MAC, PEER_MAC, CLIENT, "2001:db8::9".parse().expect("addr"), 255, VIP, &slla(PEER_MAC)), XDP_PASS, none),
    ];
    for (what, frame, want, counter) in cases {
        let before = global(&dp);
        let (action, out) = dp.test_run(&frame, IFINDEX).expect("run");
        let after = global(&dp);
        assert_eq!(action, want, "{what}");
        assert_eq!(out, frame, "{what}: the frame is left as it was");
        assert_eq!(after.ns_replies, before.ns_replies, "{what}: not answered");
        if want != XDP_PASS || counter(&after) != 0 {
            assert_eq!(counter(&after) - counter(&before), 1, "{what}: counted under its reason");
        }
    }
    assert_eq!(na_replies(&dp), 0);
}

/// IPv4 and IPv6 VIPs side by side on one interface: ARP and NS both answered, each with
/// its own counters, and a disowned IPv6 VIP is no longer answered.
#[test]
fn arp_and_neighbour_discovery_side_by_side() {
    let Some(mut dp) = load("arp_and_neighbour_discovery_side_by_side") else { return };
    let vip4 = Ipv4Addr::new(198, 18, 0, 100);
    dp.own_ip(IFINDEX, IpAddr::V4(vip4), VipValue::new(OUR_MAC, VRID)).expect("own v4");
    let (action, out) = dp.test_run(&arp::request_frame(PEER_MAC, Ipv4Addr::new(198, 18, 0, 10), vip4), IFINDEX).expect("run");
    assert_eq!(action, XDP_TX);
    assert_eq!(&out[6..12], &OUR_MAC);
    let (action, _) = dp.test_run(&resolution(), IFINDEX).expect("run");
    assert_eq!(action, XDP_TX);
    let g = global(&dp);
    assert_eq!((g.arp_replies, g.ns_replies), (1, 1));
    dp.disown_ip(IFINDEX, IpAddr::V6(VIP));
    assert!(!dp.owns_ip(IFINDEX, IpAddr::V6(VIP)));
    let (action, _) = dp.test_run(&resolution(), IFINDEX).expect("run");
    assert_eq!(action, XDP_PASS, "disowned: the stack decides");
    assert!(dp.owns_ip(IFINDEX, IpAddr::V4(vip4)), "the IPv4 VIP is not touched");
}

/// A client on a real veth resolves the VIP (ping -6): XDP on the router's interface answers
/// with the VIP's MAC, which the router's kernel does not even have (the VIP is not on the
/// interface): the client's neighbour entry can only come from XDP. Then a client probing the
/// VIP with DAD is told it is taken (the probe's frame grown in place to carry the NA).
#[test]
fn a_namespace_client_learns_the_vip_mac_from_xdp_and_its_dad_fails() {
    if !require_root("a_namespace_client_learns_the_vip_mac_from_xdp_and_its_dad_fails") {
        return;
    }
    let lan = lan("ndisc", &[("r1", Ipv4Addr::new(198, 18, 0, 1)), ("c", Ipv4Addr::new(198, 18, 0, 10))]).expect("lan");
    let (r1, c) = (lan.host("r1"), lan.host("c"));
    let r1_path = r1.ns.path();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<(), String>>();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    // The dataplane lives on a thread that entered r1's namespace (setns is per thread), so
    // the XDP attachment and the ifindex are r1's.
    let router = std::thread::spawn(move || -> Option<GlobalStats> {
        let setup = || -> Result<(Dataplane, u32), String> {
            let ns = std::fs::File::open(&r1_path).map_err(|e| e.to_string())?;
            nix::sched::setns(ns, nix::sched::CloneFlags::CLONE_NEWNET).map_err(|e| e.to_string())?;
            let ifindex = nix::net::if_::if_nametoindex("eth0").map_err(|e| e.to_string())?;
            let mut dp = Dataplane::load_unpinned(KernelLogLevel::Off).map_err(|e| e.to_string())?;
            dp.attach("eth0", ifindex, Some("veth"), XdpMode::Skb, &[]).map_err(|e| e.to_string())?;
            own(&mut dp, ifindex);
            Ok((dp, ifindex))
        };
        match setup() {
            Ok((dp, _)) => {
                let _ = ready_tx.send(Ok(()));
                let _ = done_rx.recv_timeout(Duration::from_secs(30));
                let g = dp.global_stats();
                drop(dp); // detaches XDP
                g
            }
            Err(e) => {
                let _ = ready_tx.send(Err(e));
                None
            }
        }
    });
    ready_rx.recv_timeout(Duration::from_secs(30)).expect("router thread").expect("XDP attached in r1");

    c.ns.ip(&["-6", "addr", "add", &format!("{CLIENT}/64"), "dev", "eth0", "nodad"]).expect("client address");
    let vip = VIP.to_string();
    let mac = OUR_MAC.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":");
    let learned = wait_for(Duration::from_secs(5), "the client to learn the VIP's MAC", || {
        // Each ping sends a solicitation (the echo itself gets no answer: the VIP is not on r1).
        let _ = c.ns.cmd("ping").args(["-6", "-c", "1", "-W", "0.3", &vip]).output();
        let out = c.ns.ip(&["-6", "neigh", "show", &vip, "dev", "eth0"]).ok()?;
        out.contains(&format!("lladdr {mac}")).then_some(out)
    });
    let learned = learned.unwrap_or_else(|e| panic!("{e}: {:?}", c.ns.ip(&["-6", "neigh", "show", "dev", "eth0"])));
    assert!(learned.contains("router"), "the Router flag reached the client: {learned}");

    // DAD: the client tries to take the VIP itself. Without enhanced DAD its probe carries no
    // nonce option: a 78-byte frame that XDP must grow by 8 bytes (bpf_xdp_adjust_tail) in
    // generic mode on a real device to fit the NA and its option.
    c.ns.sysctl("net.ipv6.conf.eth0.accept_dad", "1").expect("accept_dad");
    c.ns.sysctl("net.ipv6.conf.eth0.enhanced_dad", "0").expect("enhanced_dad");
    c.ns.ip(&["-6", "addr", "add", &format!("{VIP}/64"), "dev", "eth0"]).expect("tentative VIP on the client");
    wait_for(Duration::from_secs(5), "the client's DAD to fail", || {
        c.ns.ip(&["-6", "addr", "show", "dev", "eth0"]).ok().filter(|o| o.contains("dadfailed"))
    })
    .unwrap_or_else(|e| panic!("{e}: {:?}", c.ns.ip(&["-6", "addr", "show", "dev", "eth0"])));

    let _ = done_tx.send(());
    let g = router.join().expect("router thread").expect("stats");
    assert!(g.ns_replies >= 2, "answered by XDP: {g:?}");
    assert!(g.ns_dad_replies >= 1, "the DAD probe answered: {g:?}");
}

/// A neighbour advertisement for an owned IPv6 VIP from another host's MAC is a VIP conflict,
/// counted and reported to the agent (with the MAC, rate-limited per VIP) as ARP's are, and
/// passed; ours, or one for another address, is not.
#[test]
fn another_hosts_advertisement_for_our_vip_is_counted_as_a_conflict_and_passed() {
    let Some(mut dp) = load("another_hosts_advertisement_for_our_vip_is_counted_as_a_conflict_and_passed") else { return };
    let na = |eth_src: [u8; 6], target: Ipv6Addr, tlla: [u8; 6]| {
        let src: Ipv6Addr = "fe80::9".parse().expect("addr");
        let mut icmp = vec![136, 0, 0, 0, 0x20, 0, 0, 0];
        icmp.extend_from_slice(&target.octets());
        icmp.extend_from_slice(&[2, 1]);
        icmp.extend_from_slice(&tlla);
        let c = checksum::fold(checksum::ones_complement_sum(&icmp, checksum::pseudo_header_v6(src, ALL_NODES, 58, 32)));
        icmp[2..4].copy_from_slice(&c.to_be_bytes());
        let mut f = vec![0x33, 0x33, 0, 0, 0, 1];
        f.extend_from_slice(&eth_src);
        f.extend_from_slice(&[0x86, 0xdd, 0x60, 0, 0, 0, 0, 32, 58, 255]);
        f.extend_from_slice(&src.octets());
        f.extend_from_slice(&ALL_NODES.octets());
        f.extend_from_slice(&icmp);
        f
    };
    let conflicts = |dp: &Dataplane| {
        let per_vrid = dp.vrid_stats(&VridKey { ifindex: IFINDEX, vrid: u16::from(VRID), family: AF_INET6 }).expect("stats").vip_conflict;
        (global(dp).vip_conflict, per_vrid)
    };
    let other: Ipv6Addr = "2001:db8::7".parse().expect("addr");
    for (what, frame, counted) in [
        ("another MAC claims the VIP", na(OTHER_MAC, VIP, OTHER_MAC), true),
        ("our own MAC", na(OUR_MAC, VIP, OUR_MAC), false),
        ("another address", na(OTHER_MAC, other, OTHER_MAC), false),
    ] {
        let before = conflicts(&dp);
        let (action, out) = dp.test_run(&frame, IFINDEX).expect("run");
        assert_eq!(action, XDP_PASS, "{what}: passed to the stack");
        assert_eq!(out, frame, "{what}: untouched");
        let after = conflicts(&dp);
        let want = if counted { (before.0 + 1, before.1 + 1) } else { before };
        assert_eq!(after, want, "{what}");
        let reported: Vec<_> = dp.drain_conflicts().iter().map(|e| (e.ifindex, e.family, e.vip(), e.vrid, e.mac(), e.op)).collect();
        let want = if counted {
            vec![(IFINDEX, AF_INET6, IpAddr::V6(VIP), u16::from(VRID), OTHER_MAC, vrrp_common::conflict_op::NEIGHBOUR_ADVERT)]
        } else {
            vec![]
        };
        assert_eq!(reported, want, "{what}: reported to the agent");
    }
    // Within the 100 ms rate limit a second claim is counted, not reported again.
    assert_eq!(dp.test_run(&na(OTHER_MAC, VIP, OTHER_MAC), IFINDEX).expect("run").0, XDP_PASS);
    assert!(dp.drain_conflicts().is_empty(), "at most one report per VIP per 100 ms");
}

/// Around a real agent: another host announcing our IPv6 VIP (its kernel's unsolicited
/// neighbour advertisement when the address is added to it, `ndisc_notify`) is counted and
/// logged with its MAC, at most once per second per VIP, as an IPv4 conflict is (arp.rs).
#[test]
fn another_hosts_advertisement_for_our_vip_is_logged_once_per_second() {
    if !require_root("another_hosts_advertisement_for_our_vip_is_logged_once_per_second") {
        return;
    }
    let lan = lan("naconflict", &[("r1", Ipv4Addr::new(198, 18, 0, 1)), ("evil", Ipv4Addr::new(198, 18, 0, 66))]).expect("lan");
    let bin = vrrp_tests::agent_binary().expect("agent binary");
    let config = format!(
        "vrrp_instance VI_6 {{\n  state BACKUP\n  interface eth0\n  virtual_router_id {VRID}\n  priority 150\n  \
         advert_int 0.1\n  virtual_ipaddress {{\n    fe80::51/64\n    {VIP}/64\n  }}\n}}\n"
    );
    let agent = vrrp_tests::spawn_agent(&bin, lan.host("r1"), &config, &[]).expect("spawn");
    // Startup (XDP load and verification) plus Master_Down_Interval (~0.34 s), with slack.
    wait_for(Duration::from_secs(8), "r1 to hold the VIP", || vrrp_tests::has_addr6(lan.host("r1"), VIP).then_some(()))
        .unwrap_or_else(|e| panic!("{e}\n{}", agent.log_tail(20)));

    // Five claims: evil's kernel sends an unsolicited NA (override, its MAC as target
    // link-layer address) each time the VIP is added to it (no DAD, ndisc_notify on).
    let evil = lan.host("evil");
    evil.ns.sysctl("net.ipv6.conf.eth0.accept_dad", "0").expect("accept_dad");
    evil.ns.sysctl("net.ipv6.conf.eth0.ndisc_notify", "1").expect("ndisc_notify");
    let vip = format!("{VIP}/64");
    for n in 1..=5 {
        evil.ns.ip(&["-6", "addr", "add", &vip, "dev", "eth0"]).expect("add the VIP on evil");
        wait_for(Duration::from_secs(3), "evil's advertisement to be counted", || (agent.counter("vip_conflict") >= n).then_some(()))
            .unwrap_or_else(|e| panic!("{e}: {}\n{}", agent.status_json(), agent.log_tail(20)));
        evil.ns.ip(&["-6", "addr", "del", &vip, "dev", "eth0"]).expect("remove the VIP from evil");
    }
    let st = agent.status_json();
    assert_eq!(st["instances"][0]["vip_conflicts"].as_u64(), Some(5), "counted per instance: {st}");

    let line = format!("VIP conflict: {VIP} (VRID {VRID}) claimed by {} (neighbour advertisement)", evil.mac_string());
    wait_for(Duration::from_secs(2), "the conflict in the agent's log", || agent.log_text().contains(&line).then_some(()))
        .unwrap_or_else(|e| panic!("{e}\n{}", agent.log_tail(20)));
    assert!(agent.log_text().lines().any(|l| l.contains(&line) && l.contains("(VI_6)")), "the line names the instance:\n{}", agent.log_tail(20));
    // Five claims within a fraction of a second: one line, perhaps two if they spanned a
    // second boundary of the rate limit (once per second per VIP).
    let lines = agent.log_text().matches("VIP conflict:").count();
    assert!(lines <= 2, "rate-limited to one line per second, got {lines}:\n{}", agent.log_tail(20));
    // A conflict is reported, not acted on: we still hold the VIP.
    assert!(vrrp_tests::has_addr6(lan.host("r1"), VIP));
}
