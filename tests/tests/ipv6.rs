//! VRRPv3 over IPv6, the sending side, around a real agent in network namespaces: adverts
//! as tshark decodes them (link-local source, ff02::12, hop limit 255, a checksum tshark
//! verifies, the VIPs in the order written), VIPs added without DAD, unsolicited neighbour
//! advertisements on takeover with the configured repeat and spacing, IPv4 and IPv6
//! instances side by side on one interface, and IPv6 unicast peers.
//!
//! Every router here is alone in its VRID (a backup does not hear IPv6 adverts before the
//! receive side is merged: failover is `ipv6_failover.rs`).
use std::{
    net::{Ipv4Addr, Ipv6Addr},
    time::Duration,
};

use vrrp_tests::{
    Capture, Host, addr6, agent_binary, election, has_addr, has_addr6, holds_for, lan, ping6_once, require_root, spawn_agent, spawn_keepalived,
    usable_link_local, wait_for,
};

const LL_VIP: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0x51);
const VIP6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x100);
const VIP4: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 100);
/// Startup (XDP load and verification) plus Master_Down_Interval (v3, 100 ms, priority
/// 150: 3 × 100 ms + 41 ms), with slack for a loaded 2-core machine.
const ELECTION: Duration = Duration::from_secs(8);

fn v6_instance(name: &str, vrid: u8, extra: &str) -> String {
    format!(
        "vrrp_instance {name} {{\n  state BACKUP\n  interface eth0\n  virtual_router_id {vrid}\n  priority 150\n  \
         advert_int 0.1\n{extra}  virtual_ipaddress {{\n    {LL_VIP}/64\n    {VIP6}/64\n  }}\n}}\n"
    )
}

/// The host's eth0 link-local address once it is usable (the kernel made it from the MAC).
fn link_local(host: &Host) -> Ipv6Addr {
    wait_for(Duration::from_secs(5), "a usable link-local address on eth0", || usable_link_local(host))
        .unwrap_or_else(|e| panic!("{e}: {:?}", vrrp_tests::ipv6_addrs(host)))
}

/// The client's address in the VIP's prefix (so 2001:db8::/64 is on-link for it).
fn client_address(c: &Host) {
    c.ns.ip(&["addr", "add", "2001:db8::9/64", "dev", "eth0"]).expect("client address");
}

/// DAD on for the router's eth0 (the harness turns it off): an address added WITH DAD would
/// then stay tentative for a second, so "never tentative" checks NODAD.
fn dad_on(host: &Host) {
    host.ns.sysctl("net.ipv6.conf.eth0.accept_dad", "1").expect("accept_dad");
    host.ns.sysctl("net.ipv6.conf.eth0.dad_transmits", "1").expect("dad_transmits");
}

const ADVERT_FIELDS: &[&str] = &[
    "eth.src",
    "eth.dst",
    "ipv6.src",
    "ipv6.dst",
    "ipv6.hlim",
    "vrrp.version",
    "vrrp.type",
    "vrrp.virt_rtr_id",
    "vrrp.prio",
    "vrrp.addr_count",
    "vrrp.ipv6_addr",
    "vrrp.short_adver_int",
    "vrrp.checksum.status",
];

fn field<'r>(r: &'r [String], name: &str) -> &'r str {
    r[ADVERT_FIELDS.iter().position(|x| *x == name).expect("field")].as_str()
}

#[test]
fn v6_adverts_are_well_formed_and_the_vips_are_added_without_dad() {
    if !require_root("v6_adverts_are_well_formed_and_the_vips_are_added_without_dad") {
        return;
    }
    vrrp_tests::install_ctrlc_cleanup();
    let lan = lan("v6adv", &[("r1", Ipv4Addr::new(198, 18, 0, 1)), ("c", Ipv4Addr::new(198, 18, 0, 9))]).expect("lan");
    let (r1, c) = (lan.host("r1"), lan.host("c"));
    dad_on(r1);
    let src = link_local(r1);
    link_local(c);
    client_address(c);
    let mut cap = Capture::start(c, "adv", "ip6 proto 112", 8, 20).expect("tshark");
    let bin = agent_binary().expect("agent binary");
    let agent = spawn_agent(&bin, r1, &v6_instance("VI_6", 51, ""), &[]).expect("spawn");
    wait_for(ELECTION, "r1 to hold its IPv6 VIPs", || (has_addr6(r1, VIP6) && has_addr6(r1, LL_VIP)).then_some(()))
        .unwrap_or_else(|e| panic!("{e}\n{}", agent.log_tail(30)));
    // From the first look on, never tentative: added with NODAD.
    for vip in [LL_VIP, VIP6] {
        let a = addr6(r1, vip).expect("VIP");
        assert!(a.nodad && !a.tentative && !a.dadfailed, "{vip} must be added without DAD: {a:?}");
        assert_eq!(a.prefix_len, 64);
    }
    assert!(agent.log_text().contains("(VI_6) Entering MASTER STATE"), "{}", agent.log_tail(30));

    cap.finish(Duration::from_secs(25)).expect("capture");
    let rows = cap.fields("vrrp", ADVERT_FIELDS).expect("tshark -r");
    assert!(rows.len() >= 8, "captured {} adverts, want 8:\n{}", rows.len(), agent.log_tail(30));
    for r in &rows {
        assert_eq!(field(r, "eth.src"), r1.mac_string(), "{r:?}");
        assert_eq!(field(r, "eth.dst"), "33:33:00:00:00:12", "{r:?}");
        assert_eq!(field(r, "ipv6.src"), src.to_string(), "from the link-local address: {r:?}");
        assert_eq!(field(r, "ipv6.dst"), "ff02::12", "{r:?}");
        assert_eq!(field(r, "ipv6.hlim"), "255", "{r:?}");
        assert_eq!(field(r, "vrrp.version"), "3", "{r:?}");
        assert_eq!(field(r, "vrrp.type"), "1", "{r:?}");
        assert_eq!(field(r, "vrrp.virt_rtr_id"), "51", "{r:?}");
        assert_eq!(field(r, "vrrp.prio"), "150", "{r:?}");
        assert_eq!(field(r, "vrrp.addr_count"), "2", "{r:?}");
        assert_eq!(field(r, "vrrp.ipv6_addr"), format!("{LL_VIP},{VIP6}"), "in the order written, link-local first: {r:?}");
        assert_eq!(field(r, "vrrp.short_adver_int"), "10", "{r:?}");
        // 0 = Bad, 1 = Good, 2 = Unverified.
        assert_eq!(field(r, "vrrp.checksum.status"), "1", "tshark says the checksum is not Good: {r:?}\n{}", cap.verbose("vrrp", 1));
    }
    // The VIPs are reachable from the client (the kernel answers NS for them until the
    // receive side's XDP NS responder is merged).
    wait_for(Duration::from_secs(5), "the client to ping the IPv6 VIP", || ping6_once(c, VIP6).then_some(()))
        .unwrap_or_else(|e| panic!("{e}\n{}", agent.log_tail(30)));
}

const NA_FIELDS: &[&str] = &[
    "frame.time_relative",
    "eth.src",
    "eth.dst",
    "ipv6.src",
    "ipv6.dst",
    "ipv6.hlim",
    "icmpv6.type",
    "icmpv6.code",
    "icmpv6.nd.na.flag.r",
    "icmpv6.nd.na.flag.s",
    "icmpv6.nd.na.flag.o",
    "icmpv6.nd.na.target_address",
    "icmpv6.opt.linkaddr",
    "icmpv6.checksum.status",
];

/// keepalived's schedule, for NAs: `garp_master_repeat` now and again `garp_master_delay`
/// later, the NAs of a burst `vrrp_gna_interval` apart.
#[test]
fn takeover_sends_unsolicited_nas_with_the_configured_repeat_and_spacing() {
    if !require_root("takeover_sends_unsolicited_nas_with_the_configured_repeat_and_spacing") {
        return;
    }
    vrrp_tests::install_ctrlc_cleanup();
    const REPEAT: usize = 3;
    const GNA_MS: f64 = 200.0;
    const DELAY_S: f64 = 2.0;
    let lan = lan("v6na", &[("r1", Ipv4Addr::new(198, 18, 0, 1)), ("c", Ipv4Addr::new(198, 18, 0, 9))]).expect("lan");
    let (r1, c) = (lan.host("r1"), lan.host("c"));
    link_local(r1);
    link_local(c);
    // Both bursts (2 VIPs × 3 each), within DELAY + the bursts' length + startup.
    let mut cap = Capture::start(c, "na", "icmp6 and ip6[40] == 136", (4 * REPEAT) as u32, 20).expect("tshark");
    let config = format!(
        "global_defs {{\n  vrrp_gna_interval {}\n  vrrp_garp_interval 0.5\n}}\n{}",
        GNA_MS / 1000.0,
        v6_instance("VI_6", 51, &format!("  garp_master_repeat {REPEAT}\n  garp_master_delay {DELAY_S}\n"))
    );
    let bin = agent_binary().expect("agent binary");
    let agent = spawn_agent(&bin, r1, &config, &[]).expect("spawn");
    wait_for(ELECTION, "r1 to hold its IPv6 VIPs", || has_addr6(r1, VIP6).then_some(()))
        .unwrap_or_else(|e| panic!("{e}\n{}", agent.log_tail(30)));
    cap.finish(Duration::from_secs(25)).expect("capture");
    let rows = cap.fields("icmpv6.type == 136", NA_FIELDS).expect("tshark -r");
    let f = |r: &[String], name: &str| r[NA_FIELDS.iter().position(|x| *x == name).expect("field")].clone();
    assert_eq!(rows.len(), 4 * REPEAT, "2 VIPs × {REPEAT} NAs × 2 bursts: {rows:#?}\n{}", agent.log_tail(30));
    for r in &rows {
        let target = f(r, "icmpv6.nd.na.target_address");
        assert!(target == LL_VIP.to_string() || target == VIP6.to_string(), "{r:?}");
        assert_eq!(f(r, "ipv6.src"), target, "from the VIP itself: {r:?}");
        assert_eq!(f(r, "ipv6.dst"), "ff02::1", "{r:?}");
        assert_eq!(f(r, "eth.dst"), "33:33:00:00:00:01", "{r:?}");
        assert_eq!(f(r, "eth.src"), r1.mac_string(), "{r:?}");
        assert_eq!(f(r, "ipv6.hlim"), "255", "{r:?}");
        assert_eq!((f(r, "icmpv6.type"), f(r, "icmpv6.code")), ("136".into(), "0".into()), "{r:?}");
        assert_eq!(
            (f(r, "icmpv6.nd.na.flag.r"), f(r, "icmpv6.nd.na.flag.s"), f(r, "icmpv6.nd.na.flag.o")),
            ("1".into(), "0".into(), "1".into()),
            "Router and Override set, Solicited clear: {r:?}"
        );
        assert_eq!(f(r, "icmpv6.opt.linkaddr"), r1.mac_string(), "target link-layer address: {r:?}");
        assert_eq!(f(r, "icmpv6.checksum.status"), "1", "tshark says the checksum is not Good: {r:?}\n{}", cap.verbose("icmpv6.type == 136", 1));
    }
    // Per VIP: two bursts of REPEAT, NAs within a burst GNA apart (tokio sleeps at least that
    // long; 10 ms of capture timestamp jitter allowed below it, 150 ms of scheduling above),
    // the second burst garp_master_delay after the first (± 0.5 s).
    for vip in [LL_VIP, VIP6] {
        let ts: Vec<f64> = rows
            .iter()
            .filter(|r| f(r, "icmpv6.nd.na.target_address") == vip.to_string())
            .map(|r| f(r, "frame.time_relative").parse().expect("time"))
            .collect();
        assert_eq!(ts.len(), 2 * REPEAT, "{vip}: {ts:?}");
        for burst in ts.chunks(REPEAT) {
            for w in burst.windows(2) {
                let gap_ms = (w[1] - w[0]) * 1000.0;
                assert!((GNA_MS - 10.0..=GNA_MS + 150.0).contains(&gap_ms), "{vip}: NAs {gap_ms:.1} ms apart, want vrrp_gna_interval {GNA_MS} ms: {ts:?}");
            }
        }
        let second = ts[REPEAT] - ts[0];
        let gaps: Vec<String> = ts.windows(2).map(|w| format!("{:.1}", (w[1] - w[0]) * 1000.0)).collect();
        eprintln!("[v6 NA] {vip}: gaps {} ms", gaps.join(", "));
        assert!((DELAY_S - 0.5..=DELAY_S + 0.5).contains(&second), "{vip}: second burst {second:.3} s after the first, want {DELAY_S} s: {ts:?}");
    }
}

/// An IPv4 and an IPv6 instance on one interface, even with the same VRID (two elections:
/// RFC 9568 §7.3 keys a virtual router by VRID and family), both master, both advertising.
#[test]
fn mixed_v4_and_v6_instances_run_side_by_side() {
    if !require_root("mixed_v4_and_v6_instances_run_side_by_side") {
        return;
    }
    vrrp_tests::install_ctrlc_cleanup();
    let lan = lan("v6mix", &[("r1", Ipv4Addr::new(198, 18, 0, 1)), ("c", Ipv4Addr::new(198, 18, 0, 9))]).expect("lan");
    let (r1, c) = (lan.host("r1"), lan.host("c"));
    let src6 = link_local(r1);
    link_local(c);
    client_address(c);
    let config = format!(
        "vrrp_instance VI_4 {{\n  state BACKUP\n  interface eth0\n  virtual_router_id 51\n  priority 150\n  version 3\n  \
         advert_int 0.1\n  virtual_ipaddress {{\n    {VIP4}/24\n  }}\n}}\n{}",
        v6_instance("VI_6", 51, "")
    );
    let mut cap = Capture::start(c, "mix", "ip proto 112 or ip6 proto 112", 20, 20).expect("tshark");
    let bin = agent_binary().expect("agent binary");
    let agent = spawn_agent(&bin, r1, &config, &[]).expect("spawn");
    wait_for(ELECTION, "r1 to hold both VIPs", || (has_addr(r1, VIP4) && has_addr6(r1, VIP6)).then_some(()))
        .unwrap_or_else(|e| panic!("{e}\n{}", agent.log_tail(30)));
    let log = agent.log_text();
    for name in ["VI_4", "VI_6"] {
        assert!(log.contains(&format!("({name}) Entering MASTER STATE")), "{}", agent.log_tail(30));
    }
    assert!(vrrp_tests::ping_once(c, VIP4), "the IPv4 VIP answers");
    wait_for(Duration::from_secs(5), "the client to ping the IPv6 VIP", || ping6_once(c, VIP6).then_some(()))
        .unwrap_or_else(|e| panic!("{e}\n{}", agent.log_tail(30)));
    cap.finish(Duration::from_secs(25)).expect("capture");
    let rows = cap
        .fields("vrrp", &["ip.src", "ipv6.src", "ipv6.hlim", "ip.ttl", "vrrp.virt_rtr_id", "vrrp.ip_addr", "vrrp.ipv6_addr", "vrrp.checksum.status"])
        .expect("tshark -r");
    let v4: Vec<_> = rows.iter().filter(|r| !r[0].is_empty()).collect();
    let v6: Vec<_> = rows.iter().filter(|r| !r[1].is_empty()).collect();
    assert!(v4.len() >= 5 && v6.len() >= 5, "both families advertise: {} v4, {} v6 of {rows:#?}", v4.len(), v6.len());
    for r in v4 {
        assert_eq!((r[0].as_str(), r[3].as_str(), r[4].as_str(), r[5].as_str(), r[7].as_str()), ("198.18.0.1", "255", "51", "198.18.0.100", "1"), "{r:?}");
    }
    for r in v6 {
        assert_eq!((r[1].clone(), r[2].as_str(), r[4].as_str(), r[6].clone(), r[7].as_str()), (src6.to_string(), "255", "51", format!("{LL_VIP},{VIP6}"), "1"), "{r:?}");
    }
}

/// unicast_src_ip and unicast_peer in IPv6: the adverts go to the peer, from the configured
/// source, hop limit 255, with a checksum over that source and destination.
#[test]
fn v6_unicast_adverts_go_to_the_peer_from_unicast_src_ip() {
    if !require_root("v6_unicast_adverts_go_to_the_peer_from_unicast_src_ip") {
        return;
    }
    vrrp_tests::install_ctrlc_cleanup();
    let lan = lan("v6uni", &[("r1", Ipv4Addr::new(198, 18, 0, 1)), ("r2", Ipv4Addr::new(198, 18, 0, 2))]).expect("lan");
    let (r1, r2) = (lan.host("r1"), lan.host("r2"));
    let me: Ipv6Addr = "2001:db8::1".parse().expect("addr");
    let peer: Ipv6Addr = "2001:db8::2".parse().expect("addr");
    r1.ns.ip(&["addr", "add", &format!("{me}/64"), "dev", "eth0"]).expect("r1 address");
    r2.ns.ip(&["addr", "add", &format!("{peer}/64"), "dev", "eth0"]).expect("r2 address");
    link_local(r1);
    link_local(r2);
    let mut cap = Capture::start(r2, "uni", "ip6 proto 112", 5, 20).expect("tshark");
    let config = format!(
        "vrrp_instance VI_6 {{\n  state BACKUP\n  interface eth0\n  virtual_router_id 52\n  priority 150\n  advert_int 0.1\n  \
         unicast_src_ip {me}\n  unicast_peer {{\n    {peer}\n  }}\n  virtual_ipaddress {{\n    {VIP6}/64\n  }}\n}}\n"
    );
    let bin = agent_binary().expect("agent binary");
    let agent = spawn_agent(&bin, r1, &config, &[]).expect("spawn");
    wait_for(ELECTION, "r1 to hold its IPv6 VIP", || has_addr6(r1, VIP6).then_some(()))
        .unwrap_or_else(|e| panic!("{e}\n{}", agent.log_tail(30)));
    cap.finish(Duration::from_secs(25)).expect("capture");
    let rows = cap.fields("vrrp", &["ipv6.src", "ipv6.dst", "ipv6.hlim", "vrrp.virt_rtr_id", "vrrp.ipv6_addr", "vrrp.checksum.status"]).expect("tshark -r");
    assert!(rows.len() >= 5, "captured {} adverts at the peer:\n{}", rows.len(), agent.log_tail(30));
    for r in &rows {
        assert_eq!(r, &[me.to_string(), peer.to_string(), "255".into(), "52".into(), VIP6.to_string(), "1".into()], "{r:?}");
    }
}

fn epoch_s() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs_f64()
}

/// A link flap with DAD on: the kernel removes the link-local address and adds it again,
/// tentative for a second. The instance waits in FAULT until it is usable and only then
/// advertises again, from it: never from a tentative address (RFC 4862 §5.4).
#[test]
fn a_tentative_link_local_is_never_the_advert_source() {
    if !require_root("a_tentative_link_local_is_never_the_advert_source") {
        return;
    }
    vrrp_tests::install_ctrlc_cleanup();
    let lan = lan("v6tent", &[("r1", Ipv4Addr::new(198, 18, 0, 1)), ("c", Ipv4Addr::new(198, 18, 0, 9))]).expect("lan");
    let (r1, c) = (lan.host("r1"), lan.host("c"));
    dad_on(r1);
    let src = link_local(r1);
    link_local(c);
    let bin = agent_binary().expect("agent binary");
    let agent = spawn_agent(&bin, r1, &v6_instance("VI_6", 51, ""), &[]).expect("spawn");
    wait_for(ELECTION, "r1 to hold its IPv6 VIP", || has_addr6(r1, VIP6).then_some(()))
        .unwrap_or_else(|e| panic!("{e}\n{}", agent.log_tail(30)));
    let mut cap = Capture::start(c, "tent", "ip6 proto 112", 1000, 14).expect("tshark");

    r1.ns.ip(&["link", "set", "eth0", "down"]).expect("down");
    r1.ns.ip(&["link", "set", "eth0", "up"]).expect("up");
    let t_up = epoch_s();
    // Control: DAD really runs (the address is absent or tentative at first).
    let first = addr6(r1, src);
    assert!(first.as_ref().is_none_or(|a| a.tentative), "the link-local should be tentative after the flap: {first:?}");
    let t_usable = wait_for(Duration::from_secs(5), "the link-local to be usable again", || {
        let usable = usable_link_local(r1) == Some(src);
        usable.then(epoch_s)
    })
    .expect("DAD finishes");
    assert!(t_usable - t_up > 0.5, "DAD took {:.3} s: too short to test anything", t_usable - t_up);
    // Back as master: the waiting instance is retried within 5 s, then Master_Down_Interval.
    wait_for(Duration::from_secs(12), "r1 to be master again", || {
        (agent.log_text().matches("(VI_6) Entering MASTER STATE").count() >= 2).then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", agent.log_tail(30)));
    assert!(agent.log_text().contains("no longer usable on eth0"), "{}", agent.log_tail(30));
    cap.finish(Duration::from_secs(20)).expect("capture");
    let rows = cap.fields("vrrp", &["frame.time_epoch", "ipv6.src", "vrrp.prio"]).expect("tshark -r");
    let after: Vec<(f64, &str)> = rows
        .iter()
        .map(|r| (r[0].parse::<f64>().expect("time"), r[1].as_str()))
        .filter(|(t, _)| *t > t_up)
        .collect();
    assert!(!after.is_empty(), "adverts resumed after the flap: {rows:?}\n{}", agent.log_tail(30));
    for (t, s) in &after {
        assert_eq!(*s, src.to_string(), "from the link-local address");
        // 50 ms: our polling of the address's state, above.
        assert!(*t >= t_usable - 0.05, "an advert {:.3} s before the link-local was usable: {after:?}", t_usable - t);
    }
    eprintln!("[v6 tentative] DAD {:.3} s; first advert {:.3} s after the link-local was usable", t_usable - t_up, after[0].0 - t_usable);
}

/// The real keepalived 2.2.7 as a backup behind our IPv6 master: it accepts our adverts
/// (source, hop limit, checksum with the IPv6 pseudo header, the address list) and so stays
/// BACKUP, without a complaint in its log; it takes over when our agent stops.
#[test]
fn keepalived_accepts_our_v6_adverts_and_stays_backup() {
    if !require_root("keepalived_accepts_our_v6_adverts_and_stays_backup") {
        return;
    }
    vrrp_tests::install_ctrlc_cleanup();
    let lan = lan("v6ka", &[("ours", Ipv4Addr::new(198, 18, 0, 2)), ("ka", Ipv4Addr::new(198, 18, 0, 1))]).expect("lan");
    let (ours, ka) = (lan.host("ours"), lan.host("ka"));
    link_local(ours);
    link_local(ka);
    let config = |prio: u8| v6_instance("VI_6", 51, "").replace("priority 150", &format!("priority {prio}"));
    let bin = agent_binary().expect("agent binary");
    let mut agent = spawn_agent(&bin, ours, &config(150), &[]).expect("spawn");
    wait_for(ELECTION, "our agent to hold the IPv6 VIP", || has_addr6(ours, VIP6).then_some(()))
        .unwrap_or_else(|e| panic!("{e}\n{}", agent.log_tail(30)));
    let k = spawn_keepalived(ka, &config(100)).expect("keepalived");
    wait_for(Duration::from_secs(5), "keepalived to start as backup", || k.log_text().contains("(VI_6) Entering BACKUP STATE").then_some(()))
        .unwrap_or_else(|e| panic!("{e}\n{}", k.log_tail(30)));
    // Three of its Master_Down_Intervals: it would be master by then had it dropped our adverts.
    let mdi = election::master_down_interval(3, 100, 10);
    holds_for(mdi * 3, "keepalived stays backup", || {
        let log = k.log_text();
        if log.contains("(VI_6) Entering MASTER STATE") || has_addr6(ka, VIP6) {
            return Err(format!("keepalived became master:\n{}", k.log_tail(30)));
        }
        Ok(())
    })
    .expect("keepalived hears our adverts");
    let log = k.log_text();
    for complaint in ["invalid TTL", "wrong version", "Invalid VRRPv3 checksum", "VIPs but received", "ip address associated with VRID", "unexpected ip number count", "packet too"] {
        assert!(!log.contains(complaint), "keepalived complains ({complaint}):\n{}", k.log_tail(30));
    }
    // Control: our agent gone, keepalived takes over (so "stays backup" meant something).
    agent.terminate();
    wait_for(Duration::from_secs(5), "keepalived to take over", || has_addr6(ka, VIP6).then_some(()))
        .unwrap_or_else(|e| panic!("{e}\n{}", k.log_tail(30)));
}

/// A killed agent leaves its IPv6 VIPs on the interface (nobody removed them); the next one
/// removes them at start, as it does IPv4 ones (and keepalived does), before any election.
#[test]
fn a_restarted_agent_removes_the_v6_vips_a_killed_one_left_behind() {
    if !require_root("a_restarted_agent_removes_the_v6_vips_a_killed_one_left_behind") {
        return;
    }
    vrrp_tests::install_ctrlc_cleanup();
    let lan = lan("v6left", &[("r1", Ipv4Addr::new(198, 18, 0, 1))]).expect("lan");
    let r1 = lan.host("r1");
    link_local(r1);
    let bin = agent_binary().expect("agent binary");
    let mut first = spawn_agent(&bin, r1, &v6_instance("VI_6", 51, ""), &[]).expect("spawn");
    wait_for(ELECTION, "r1 to hold its IPv6 VIPs", || (has_addr6(r1, VIP6) && has_addr6(r1, LL_VIP)).then_some(()))
        .unwrap_or_else(|e| panic!("{e}\n{}", first.log_tail(30)));
    first.kill();
    first.wait_exit(Duration::from_secs(5)).expect("killed");
    assert!(has_addr6(r1, VIP6) && has_addr6(r1, LL_VIP), "a killed agent cannot remove its VIPs");
    // Its pins go, and with them its pinned XDP link: the new agent, on pins of its own, finds
    // no other program on eth0 (a restart on the same pins is tests/tests/fencing.rs).
    drop(first);
    let second = spawn_agent(&bin, r1, &v6_instance("VI_6", 51, ""), &[]).expect("spawn");
    for vip in [LL_VIP, VIP6] {
        let line = format!("removed VIP {vip} left on eth0 by an earlier run");
        wait_for(ELECTION, "the left-behind VIP to be removed", || second.log_text().contains(&line).then_some(()))
            .unwrap_or_else(|e| panic!("{e}: {line}\n{}", second.log_tail(30)));
    }
    // The link-local VIP (newest, so first in the kernel's list) was not taken for the advert
    // source: it is ours, left behind.
    let log = second.log_text();
    assert!(!log.contains(&format!("primary={LL_VIP}")), "{}", second.log_tail(30));
}

/// An IPv4 instance may own IPv6 addresses through `virtual_ipaddress_excluded` (keepalived
/// points there for the other family): added without DAD with mastership, announced with
/// unsolicited NAs as its IPv4 VIPs are with gratuitous ARP, not advertised.
#[test]
fn an_ipv4_instance_owns_excluded_ipv6_vips_and_announces_them() {
    if !require_root("an_ipv4_instance_owns_excluded_ipv6_vips_and_announces_them") {
        return;
    }
    vrrp_tests::install_ctrlc_cleanup();
    let lan = lan("v6excl", &[("r1", Ipv4Addr::new(198, 18, 0, 1)), ("c", Ipv4Addr::new(198, 18, 0, 9))]).expect("lan");
    let (r1, c) = (lan.host("r1"), lan.host("c"));
    dad_on(r1);
    link_local(r1);
    link_local(c);
    let mut cap = Capture::start(c, "excl", "(icmp6 and ip6[40] == 136) or ip proto 112", 8, 15).expect("tshark");
    let config = format!(
        "vrrp_instance VI_4 {{\n  state BACKUP\n  interface eth0\n  virtual_router_id 51\n  priority 150\n  version 3\n  advert_int 0.1\n  \
         garp_master_repeat 2\n  virtual_ipaddress {{\n    {VIP4}/24\n  }}\n  virtual_ipaddress_excluded {{\n    {VIP6}/64\n  }}\n}}\n"
    );
    let bin = agent_binary().expect("agent binary");
    let agent = spawn_agent(&bin, r1, &config, &[]).expect("spawn");
    wait_for(ELECTION, "r1 to hold both addresses", || (has_addr(r1, VIP4) && has_addr6(r1, VIP6)).then_some(()))
        .unwrap_or_else(|e| panic!("{e}\n{}", agent.log_tail(30)));
    let a = addr6(r1, VIP6).expect("VIP");
    assert!(a.nodad && !a.tentative, "{a:?}");
    cap.finish(Duration::from_secs(20)).expect("capture");
    let nas = cap.fields("icmpv6.type == 136", &["icmpv6.nd.na.target_address", "icmpv6.nd.na.flag.o"]).expect("tshark -r");
    assert_eq!(nas, vec![vec![VIP6.to_string(), "1".to_string()]; 2], "garp_master_repeat 2 NAs for the excluded IPv6 VIP\n{}", agent.log_tail(30));
    let adverts = cap.fields("vrrp", &["vrrp.addr_count", "vrrp.ip_addr"]).expect("tshark -r");
    assert!(!adverts.is_empty());
    for r in &adverts {
        assert_eq!(r, &["1".to_string(), VIP4.to_string()], "only the IPv4 VIP is advertised");
    }
}

/// SIGQUIT leaves an IPv6 master's VIPs for the next agent; when that one's configuration no
/// longer has the instance, nothing keeps them: they are removed (as IPv4 ones are) and XDP
/// stops answering neighbour solicitations for them (`OWNED_VIPS_V6` empty), whether the new
/// agent adopted the datapath (restarted within the lease) or started clean.
#[test]
fn a_restarted_agent_removes_the_v6_vips_of_an_instance_no_longer_configured() {
    if !require_root("a_restarted_agent_removes_the_v6_vips_of_an_instance_no_longer_configured") {
        return;
    }
    vrrp_tests::install_ctrlc_cleanup();
    let lan = lan("v6gone", &[("r1", Ipv4Addr::new(198, 18, 0, 1))]).expect("lan");
    let r1 = lan.host("r1");
    link_local(r1);
    let bin = agent_binary().expect("agent binary");
    // 1 s adverts: a 2 s lease bound, so the restart below usually adopts the datapath.
    let v6 = v6_instance("VI_6", 51, "").replace("advert_int 0.1", "advert_int 1");
    let mut first = spawn_agent(&bin, r1, &v6, &[]).expect("spawn");
    // Alone in its VRID: MASTER after Master_Down_Interval (3 s + skew) plus startup.
    wait_for(ELECTION, "r1 to hold its IPv6 VIPs", || (has_addr6(r1, VIP6) && has_addr6(r1, LL_VIP)).then_some(()))
        .unwrap_or_else(|e| panic!("{e}\n{}", first.log_tail(30)));
    first.signal(libc::SIGQUIT);
    let st = first.wait_exit(Duration::from_secs(5)).expect("exit after SIGQUIT");
    assert_eq!(st.code(), Some(75), "{}", first.log_tail(10));
    assert!(has_addr6(r1, VIP6) && has_addr6(r1, LL_VIP), "SIGQUIT leaves the VIPs in place");
    first.leave_pins();
    let bpffs = first.bpffs.clone();
    drop(first);
    let v4_only = "vrrp_instance VI_4 {\n  state BACKUP\n  interface eth0\n  virtual_router_id 52\n  priority 150\n  \
                   advert_int 1\n  virtual_ipaddress {\n    198.18.0.100/24\n  }\n}\n";
    let second = vrrp_tests::spawn_agent_on_pins(&bin, r1, v4_only, &bpffs, &[]).expect("restart");
    wait_for(ELECTION, "the VI_6 VIPs to be removed", || (!has_addr6(r1, VIP6) && !has_addr6(r1, LL_VIP)).then_some(()))
        .unwrap_or_else(|e| panic!("{e}: the IPv6 VIPs of a removed instance were left behind\n{}", second.log_tail(30)));
    let owned = vrrp_agent::dataplane::open_pinned(&bpffs, vrrp_common::names::OWNED_VIPS_V6).expect("OWNED_VIPS_V6 pinned");
    let owned = aya::maps::HashMap::<_, vrrp_common::VipKeyV6, vrrp_common::VipValue>::try_from(owned).expect("OWNED_VIPS_V6");
    let left: Vec<_> = owned.keys().filter_map(Result::ok).collect();
    assert!(left.is_empty(), "XDP still answers for {left:?}\n{}", second.log_tail(30));
    let log = second.log_text();
    eprintln!("restart: {}", if log.contains("adopting the datapath") { "adopted the datapath" } else { "started clean" });
}

/// `vrrp-agent status` reads an IPv6 instance as it reads an IPv4 one: its master (the
/// advert source, a link-local address) and its VIPs in advert order.
#[test]
fn status_shows_an_ipv6_masters_address_and_vips() {
    if !require_root("status_shows_an_ipv6_masters_address_and_vips") {
        return;
    }
    vrrp_tests::install_ctrlc_cleanup();
    let lan = lan("v6stat", &[("r1", Ipv4Addr::new(198, 18, 0, 1))]).expect("lan");
    let r1 = lan.host("r1");
    let ll = link_local(r1);
    let bin = agent_binary().expect("agent binary");
    let agent = spawn_agent(&bin, r1, &v6_instance("VI_6", 51, ""), &[]).expect("spawn");
    wait_for(ELECTION, "r1 to hold its IPv6 VIPs", || (has_addr6(r1, VIP6) && has_addr6(r1, LL_VIP)).then_some(()))
        .unwrap_or_else(|e| panic!("{e}\n{}", agent.log_tail(30)));
    let st = wait_for(Duration::from_secs(2), "status to show VI_6 MASTER", || {
        let st = agent.try_status_json()?;
        (st["instances"][0]["state"] == "MASTER").then_some(st)
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", agent.log_tail(30)));
    let i = &st["instances"][0];
    assert_eq!(i["master"], ll.to_string(), "{i:#}");
    assert_eq!(i["vips"], serde_json::json!([LL_VIP.to_string(), VIP6.to_string()]), "{i:#}");
}
