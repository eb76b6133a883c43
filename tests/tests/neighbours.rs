//! Hostile-but-plausible neighbours, with real agents in network namespaces (issue 6):
//! - a foreign cluster on the same LAN reusing our VRID with other VIPs: each cluster keeps
//!   its own master (the other's adverts are dropped as an address-list mismatch and
//!   counted), and a crash in one does not move the other's VIP;
//! - adverts carrying 100 addresses: elected and failed over like any other;
//! - a routed unicast pair (adverts arrive with TTL 254): elected and failed over.
//!
//! Bounds are protocol-derived (Master_Down_Interval, `vrrp_common::timers`) plus SLACK for
//! scheduling on a shared 2-core machine, 10 ms polling and netlink latency.
use std::{net::Ipv4Addr, time::Duration};

use vrrp_tests::{Agent, Host, Netns, agent_binary, election, has_addr, lan, require_root, spawn_agent, wait_for};

const SLACK: Duration = Duration::from_millis(250);
/// Agent start-up: one deadline for every test (see the harness).
use vrrp_tests::election::STARTUP;

/// A VRRPv3 instance, VRID 51, 100 ms adverts, with `vips` (first one /24, the rest /32).
fn config(priority: u8, vips: &[Ipv4Addr]) -> String {
    let list: String = vips.iter().enumerate().map(|(i, v)| format!("    {v}/{}\n", if i == 0 { 24 } else { 32 })).collect();
    format!(
        "vrrp_instance VI_1 {{\n  state BACKUP\n  interface eth0\n  virtual_router_id 51\n  priority {priority}\n  \
         advert_int 0.1\n  version 3\n  virtual_ipaddress {{\n{list}  }}\n}}\n"
    )
}

fn holders<'a>(hosts: &[&'a Host], vip: Ipv4Addr) -> Vec<&'a str> {
    hosts.iter().filter(|h| has_addr(h, vip)).map(|h| h.name.as_str()).collect()
}

#[test]
fn a_foreign_cluster_reusing_our_vrid_does_not_disturb_our_election() {
    if !require_root("a_foreign_cluster_reusing_our_vrid_does_not_disturb_our_election") {
        return;
    }
    let (ours, theirs) = (Ipv4Addr::new(198, 18, 0, 100), Ipv4Addr::new(198, 18, 0, 200));
    let lan = lan(
        "foreign",
        &[
            ("a1", Ipv4Addr::new(198, 18, 0, 1)),
            ("a2", Ipv4Addr::new(198, 18, 0, 2)),
            ("b1", Ipv4Addr::new(198, 18, 0, 11)),
            ("b2", Ipv4Addr::new(198, 18, 0, 12)),
        ],
    )
    .expect("lan");
    let bin = agent_binary().expect("agent binary");
    let hosts: Vec<&Host> = ["a1", "a2", "b1", "b2"].iter().map(|n| lan.host(n)).collect();
    // Same VRID, same priorities, different VIPs: to each cluster the other is a stranger.
    let mut agents: Vec<Agent> = [(100, ours), (90, ours), (100, theirs), (90, theirs)]
        .iter()
        .zip(&hosts)
        .map(|((prio, vip), h)| spawn_agent(&bin, h, &config(*prio, &[*vip]), &[]).expect("spawn"))
        .collect();
    let mdi_90 = election::master_down_interval(3, 90, 10);
    let both = wait_for(STARTUP + 2 * mdi_90 + SLACK, "a1 and b1 to hold their own VIPs, alone", || {
        (holders(&hosts, ours) == ["a1"] && holders(&hosts, theirs) == ["b1"]).then_some(())
    });
    if let Err(e) = both {
        panic!("{e}\n{}", agents.iter().map(|a| a.log_tail(15)).collect::<Vec<_>>().join("\n---\n"));
    }
    // The strangers' adverts are dropped and counted, on both sides.
    for a in &agents {
        wait_for(Duration::from_secs(1), "address-list drops counted", || (a.counter("drop_addr_list") > 0).then_some(()))
            .unwrap_or_else(|e| panic!("{e}\n{}", a.log_tail(15)));
    }
    // A crash in our cluster moves our VIP to a2 only; b1 keeps theirs throughout. (Agents
    // start a few hundred ms apart, so a lower priority may win first and be preempted:
    // count transitions from here on.)
    let masters = |a: &Agent| a.log_text().matches("Entering MASTER STATE").count();
    let (b1_before, b2_before) = (masters(&agents[2]), masters(&agents[3]));
    agents[0].kill();
    lan.isolate("a1").expect("isolate a1");
    // (a1's kernel keeps the VIP: a killed agent cannot remove it, and a1 is cut off.)
    wait_for(mdi_90 + SLACK, "a2 to take our VIP", || has_addr(hosts[1], ours).then_some(()))
        .unwrap_or_else(|e| panic!("{e}\n{}", agents[1].log_tail(15)));
    assert_eq!(holders(&hosts, theirs), ["b1"], "the other cluster is undisturbed");
    assert_eq!(masters(&agents[2]), b1_before, "b1 did not change state:\n{}", agents[2].log_tail(10));
    assert_eq!(masters(&agents[3]), b2_before, "b2 did not change state:\n{}", agents[3].log_tail(10));
}

#[test]
fn adverts_with_100_addresses_elect_and_fail_over() {
    if !require_root("adverts_with_100_addresses_elect_and_fail_over") {
        return;
    }
    // 198.18.1.0 .. 198.18.1.99 (the first /24, the rest /32): 100 addresses in every advert.
    let vips: Vec<Ipv4Addr> = (0..100).map(|i| Ipv4Addr::new(198, 18, 1, i)).collect();
    let lan = lan("vips100", &[("r1", Ipv4Addr::new(198, 18, 0, 1)), ("r2", Ipv4Addr::new(198, 18, 0, 2))]).expect("lan");
    let bin = agent_binary().expect("agent binary");
    let (h1, h2) = (lan.host("r1"), lan.host("r2"));
    let mut a1 = spawn_agent(&bin, h1, &config(100, &vips), &[]).expect("spawn r1");
    let a2 = spawn_agent(&bin, h2, &config(90, &vips), &[]).expect("spawn r2");
    let last = *vips.last().expect("100 VIPs");
    wait_for(STARTUP + 2 * election::master_down_interval(3, 90, 10) + SLACK, "r1 to hold all 100 VIPs, alone", || {
        (has_addr(h1, vips[0]) && has_addr(h1, last) && !has_addr(h2, vips[0])).then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}\n{}\n---\n{}", a1.log_tail(15), a2.log_tail(15)));
    wait_for(Duration::from_secs(1), "r2 to accept r1's 100-address adverts", || {
        (a2.counter("vrrp_accepted") > 0).then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", a2.log_tail(15)));
    assert_eq!(a2.counter("drop_addr_list"), 0, "the list matches ours");
    a1.kill();
    lan.isolate("r1").expect("isolate r1");
    wait_for(election::master_down_interval(3, 90, 10) + SLACK, "r2 to take all 100 VIPs", || {
        (has_addr(h2, vips[0]) && has_addr(h2, last)).then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", a2.log_tail(15)));
}

/// A routed unicast pair: the two routers sit on different subnets with a router between
/// them (keepalived's usual cloud setup), so adverts arrive with TTL 254. keepalived skips
/// the TTL check for unicast, and so do we: the backup accepts the adverts (no drop_ttl),
/// stays backup, and takes over when the master dies.
#[test]
fn a_routed_unicast_pair_elects_and_fails_over() {
    if !require_root("a_routed_unicast_pair_elects_and_fails_over") {
        return;
    }
    let prefix = vrrp_tests::new_prefix("routed");
    let rt = Netns::create(&format!("{prefix}-rt")).expect("router ns");
    let mut hosts = Vec::new();
    for (i, (name, subnet)) in [("r1", 10u8), ("r2", 11u8)].into_iter().enumerate() {
        let ns = Netns::create(&format!("{prefix}-{name}")).expect("host ns");
        let port = format!("rt{i}");
        rt.ip(&["link", "add", &port, "type", "veth", "peer", "name", "eth0", "netns", &ns.name]).expect("veth");
        rt.ip(&["addr", "add", &format!("198.18.{subnet}.254/24"), "dev", &port]).expect("router addr");
        rt.ip(&["link", "set", &port, "up"]).expect("up");
        let addr = Ipv4Addr::new(198, 18, subnet, i as u8 + 1);
        ns.ip(&["addr", "add", &format!("{addr}/24"), "dev", "eth0"]).expect("addr");
        ns.ip(&["link", "set", "eth0", "up"]).expect("up");
        ns.ip(&["route", "add", "198.18.0.0/15", "via", &format!("198.18.{subnet}.254")]).expect("route");
        let mac = [0x02, 0x76, 0x72, 0x01, 0x00, i as u8 + 1];
        ns.ip(&["link", "set", "eth0", "address", &mac.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")]).expect("mac");
        hosts.push(Host { name: name.into(), ns, ifname: "eth0".into(), addr, mac, switch_port: String::new(), extra_switch_ports: Vec::new() });
    }
    rt.sysctl("net.ipv4.ip_forward", "1").expect("forwarding");
    let vip = Ipv4Addr::new(198, 18, 12, 100);
    let unicast = |prio: u8, me: Ipv4Addr, peer: Ipv4Addr| {
        format!(
            "vrrp_instance VI_1 {{\n  state BACKUP\n  interface eth0\n  virtual_router_id 51\n  priority {prio}\n  \
             advert_int 0.1\n  version 3\n  unicast_src_ip {me}\n  unicast_peer {{\n    {peer}\n  }}\n  \
             virtual_ipaddress {{\n    {vip}/32\n  }}\n}}\n"
        )
    };
    let bin = agent_binary().expect("agent binary");
    let (h1, h2) = (&hosts[0], &hosts[1]);
    let mut a1 = spawn_agent(&bin, h1, &unicast(150, h1.addr, h2.addr), &[]).expect("spawn r1");
    let a2 = spawn_agent(&bin, h2, &unicast(100, h2.addr, h1.addr), &[]).expect("spawn r2");
    let mdi_100 = election::master_down_interval(3, 100, 10);
    wait_for(STARTUP + 2 * mdi_100 + SLACK, "r1 to hold the VIP, alone", || {
        (has_addr(h1, vip) && !has_addr(h2, vip)).then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}\n{}\n---\n{}", a1.log_tail(15), a2.log_tail(15)));
    let a2_masters = a2.log_text().matches("Entering MASTER STATE").count();
    wait_for(Duration::from_secs(1), "r2 to accept r1's routed adverts", || (a2.counter("vrrp_accepted") > 5).then_some(()))
        .unwrap_or_else(|e| panic!("{e}\n{}", a2.log_tail(15)));
    assert_eq!(a2.counter("drop_ttl"), 0, "TTL 254 is fine for unicast");
    assert_eq!(a2.log_text().matches("Entering MASTER STATE").count(), a2_masters, "r2 stayed backup while hearing r1");
    a1.kill();
    wait_for(mdi_100 + SLACK, "r2 to take the VIP", || has_addr(h2, vip).then_some(()))
        .unwrap_or_else(|e| panic!("{e}\n{}", a2.log_tail(15)));
}
