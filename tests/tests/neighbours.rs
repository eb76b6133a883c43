//! Hostile-but-plausible neighbours, with real agents in network namespaces (issue 6):
//! - a foreign cluster on the same LAN reusing our VRID with other VIPs: each cluster keeps
//!   its own master (the other's adverts are dropped as an address-list mismatch and
//!   counted), and a crash in one does not move the other's VIP;
//! - adverts carrying 100 addresses: elected and failed over like any other.
//!
//! Bounds are protocol-derived (Master_Down_Interval, `vrrp_common::timers`) plus SLACK for
//! scheduling on a shared 2-core machine, 10 ms polling and netlink latency.
use std::{net::Ipv4Addr, time::Duration};

use vrrp_tests::{Agent, Host, agent_binary, election, has_addr, lan, require_root, spawn_agent, wait_for};

const SLACK: Duration = Duration::from_millis(250);
/// An agent's start (load and verify the XDP program, netlink) before its timers run.
const STARTUP: Duration = Duration::from_secs(3);

/// A VRRPv3 instance, VRID 51, 100 ms adverts, with `vips` (first one /24, the rest /32).
fn config(priority: u8, vips: &[Ipv4Addr]) -> String {
    let list: String = vips.iter().enumerate().map(|(i, v)| format!("    {v}/{}\n", if i == 0 { 24 } else { 32 })).collect();
    format!(
        "vrrp_instance VI_1 {{\n  state BACKUP\n  interface eth0\n  virtual_router_id 51\n  priority {priority}\n  \
         advert_int 0.1\n  version 3\n  virtual_ipaddress {{\n{list}  }}\n}}\n"
    )
}

fn counter(agent: &Agent, name: &str) -> u64 {
    let bin = agent_binary().expect("agent binary");
    let out = std::process::Command::new(bin).args(["status", "--json", "--bpffs"]).arg(&agent.bpffs).output().expect("status");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    v["counters"][name].as_u64().unwrap_or(0)
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
        wait_for(Duration::from_secs(1), "address-list drops counted", || (counter(a, "drop_addr_list") > 0).then_some(()))
            .unwrap_or_else(|e| panic!("{e}\n{}", a.log_tail(15)));
    }
    // A crash in our cluster moves our VIP to a2 only; b1 keeps theirs throughout.
    agents[0].kill();
    lan.isolate("a1").expect("isolate a1");
    // (a1's kernel keeps the VIP: a killed agent cannot remove it, and a1 is cut off.)
    wait_for(mdi_90 + SLACK, "a2 to take our VIP", || has_addr(hosts[1], ours).then_some(()))
        .unwrap_or_else(|e| panic!("{e}\n{}", agents[1].log_tail(15)));
    assert_eq!(holders(&hosts, theirs), ["b1"], "the other cluster is undisturbed");
    let log_b1 = agents[2].log_text();
    assert_eq!(log_b1.matches("Entering MASTER STATE").count(), 1, "b1 entered MASTER once:\n{log_b1}");
    assert!(!agents[3].log_text().contains("Entering MASTER STATE"), "b2 never entered MASTER");
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
        (counter(&a2, "vrrp_accepted") > 0).then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", a2.log_tail(15)));
    assert_eq!(counter(&a2, "drop_addr_list"), 0, "the list matches ours");
    a1.kill();
    lan.isolate("r1").expect("isolate r1");
    wait_for(election::master_down_interval(3, 90, 10) + SLACK, "r2 to take all 100 VIPs", || {
        (has_addr(h2, vips[0]) && has_addr(h2, last)).then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", a2.log_tail(15)));
}
