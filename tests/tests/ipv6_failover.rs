//! IPv6 failover end to end: three routers (priorities 100, 90, 80) share an IPv6 VIP with
//! VRRPv3 over IPv6; the master is crashed (SIGKILL and its switch port down, like a host
//! losing power); the 90 takes over within the protocol's bound, exactly one router is
//! master, and the client reaches the VIP with `ping -6`.
//!
//! Needs both halves of IPv6: the sending side (adverts to ff02::12, VIPs, unsolicited NAs)
//! and the receiving side (XDP/slow path accepting IPv6 adverts, so backups stay backups).
use std::{
    net::{Ipv4Addr, Ipv6Addr},
    time::Duration,
};

use vrrp_tests::{Agent, agent_binary, election, has_addr6, holds_for, lan, ping6_once, require_root, spawn_agent, usable_link_local, wait_for};

const VIP6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x100);
const LL_VIP: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0x51);
const INT_CS: u16 = 10;
/// Agent start-up: one deadline for every test (see the harness).
use vrrp_tests::election::STARTUP;
/// Scheduling slack on top of the protocol's bounds (a shared 2-core test machine).
const SLACK: Duration = Duration::from_millis(500);

fn config(priority: u8) -> String {
    format!(
        "vrrp_instance VI_6 {{\n  state BACKUP\n  interface eth0\n  virtual_router_id 61\n  priority {priority}\n  \
         advert_int 0.1\n  virtual_ipaddress {{\n    {LL_VIP}/64\n    {VIP6}/64\n  }}\n}}\n"
    )
}

/// The routers whose agent is master now.
fn masters(agents: &[(&str, &Agent)]) -> Vec<String> {
    agents.iter().filter(|(_, a)| is_master_now(a)).map(|(n, _)| n.to_string()).collect()
}

/// The agent's last state change was to MASTER.
fn is_master_now(a: &Agent) -> bool {
    let log = a.log_text();
    let last = |s: &str| log.rfind(s);
    match last("(VI_6) Entering MASTER STATE") {
        Some(m) => ["(VI_6) Entering BACKUP STATE", "(VI_6) Entering FAULT STATE", "(VI_6) Entering STOP STATE"].iter().all(|o| last(o).is_none_or(|x| x < m)),
        None => false,
    }
}

#[test]
fn v6_master_crash_the_90_takes_over_and_the_client_reaches_the_vip() {
    if !require_root("v6_master_crash_the_90_takes_over_and_the_client_reaches_the_vip") {
        return;
    }
    vrrp_tests::install_ctrlc_cleanup();
    let lan = lan(
        "v6fo",
        &[
            ("r1", Ipv4Addr::new(198, 18, 0, 1)),
            ("r2", Ipv4Addr::new(198, 18, 0, 2)),
            ("r3", Ipv4Addr::new(198, 18, 0, 3)),
            ("c", Ipv4Addr::new(198, 18, 0, 9)),
        ],
    )
    .expect("lan");
    for h in ["r1", "r2", "r3", "c"] {
        wait_for(Duration::from_secs(5), "a usable link-local address", || usable_link_local(lan.host(h))).expect("link-local");
    }
    let c = lan.host("c");
    c.ns.ip(&["addr", "add", "2001:db8::9/64", "dev", "eth0"]).expect("client address");
    let bin = agent_binary().expect("agent binary");
    let mut r1 = spawn_agent(&bin, lan.host("r1"), &config(100), &[]).expect("r1");
    wait_for(STARTUP + election::master_down_interval(3, 100, INT_CS), "r1 to become master", || is_master_now(&r1).then_some(()))
        .unwrap_or_else(|e| panic!("{e}\n{}", r1.log_tail(30)));
    let r2 = spawn_agent(&bin, lan.host("r2"), &config(90), &[]).expect("r2");
    let r3 = spawn_agent(&bin, lan.host("r3"), &config(80), &[]).expect("r3");
    // The backups hear r1 and stay backups (this needs the receive side).
    for (n, a) in [("r2", &r2), ("r3", &r3)] {
        wait_for(STARTUP, "the backup to enter BACKUP", || a.log_text().contains("(VI_6) Entering BACKUP STATE").then_some(()))
            .unwrap_or_else(|e| panic!("{n}: {e}\n{}", a.log_tail(30)));
    }
    holds_for(election::master_down_interval(3, 80, INT_CS) * 3, "r1 alone master", || {
        let m = masters(&[("r1", &r1), ("r2", &r2), ("r3", &r3)]);
        if m == ["r1"] { Ok(()) } else { Err(format!("masters: {m:?}\nr2:\n{}\nr3:\n{}", r2.log_tail(10), r3.log_tail(10))) }
    })
    .expect("one master before the crash");
    wait_for(Duration::from_secs(5), "the client to ping the VIP", || ping6_once(c, VIP6).then_some(())).expect("VIP reachable before");

    // Crash r1: SIGKILL and its switch port down (its kernel would keep the VIP).
    let t_kill = std::time::Instant::now();
    r1.kill();
    lan.isolate("r1").expect("isolate r1");
    let bound = election::failover_bound(3, 90, INT_CS) + SLACK;
    wait_for(bound, "r2 (priority 90) to take over", || is_master_now(&r2).then_some(()))
        .unwrap_or_else(|e| panic!("{e}\nr2:\n{}\nr3:\n{}", r2.log_tail(30), r3.log_tail(30)));
    // Seen by polling the log (a few ms late); the bound is Master_Down_Interval + one interval.
    eprintln!(
        "[v6 failover] r2 master {:.0} ms after the kill (bound {:.0} ms + {} ms slack)",
        t_kill.elapsed().as_secs_f64() * 1e3,
        election::failover_bound(3, 90, INT_CS).as_secs_f64() * 1e3,
        SLACK.as_millis()
    );
    assert!(has_addr6(lan.host("r2"), VIP6), "r2 holds the VIP");
    holds_for(election::master_down_interval(3, 80, INT_CS) * 3, "r2 alone master", || {
        let m = masters(&[("r2", &r2), ("r3", &r3)]);
        if m == ["r2"] && !r3.log_text().contains("(VI_6) Entering MASTER STATE") {
            Ok(())
        } else {
            Err(format!("masters: {m:?}\nr3:\n{}", r3.log_tail(10)))
        }
    })
    .expect("exactly one master after the crash");
    // The client follows (unsolicited NA from r2 with R|O) and reaches the VIP.
    wait_for(Duration::from_secs(5), "the client to ping the VIP on r2", || ping6_once(c, VIP6).then_some(()))
        .unwrap_or_else(|e| panic!("{e}\nr2:\n{}", r2.log_tail(30)));
    let neigh = c.ns.ip(&["-6", "neigh", "show", &VIP6.to_string(), "dev", "eth0"]).unwrap_or_default();
    assert!(neigh.contains(&lan.host("r2").mac_string()), "the client's neighbour entry for the VIP points at r2: {neigh}");
}
