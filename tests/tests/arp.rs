//! ARP around a real agent in network namespaces: another host announcing our VIP is
//! counted and logged (rate-limited, with its MAC); a MAC change of the interface is
//! followed (gratuitous ARP with the new MAC, and XDP answers with it).
use std::{net::Ipv4Addr, time::Duration};

use vrrp_tests::{Host, agent_binary, has_addr, lan, ping_once, require_root, spawn_agent, wait_for};

const VIP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 100);
/// Startup (XDP load and verification) plus Master_Down_Interval (v3, 100 ms: ~0.4 s), slack.
const ELECTION: Duration = Duration::from_secs(5);

fn config() -> String {
    format!(
        "vrrp_instance VI_1 {{\n  state BACKUP\n  interface eth0\n  virtual_router_id 51\n  priority 150\n  \
         version 3\n  advert_int 0.1\n  virtual_ipaddress {{\n    {VIP}/24\n  }}\n}}\n"
    )
}

/// The MAC `host` has in its neighbour table for `ip`, if any.
fn neighbour_mac(host: &Host, ip: Ipv4Addr) -> Option<String> {
    let out = host.ns.ip(&["-j", "neigh", "show", &ip.to_string(), "dev", "eth0"]).ok()?;
    let v: serde_json::Value = serde_json::from_str(out.trim()).ok()?;
    v.as_array()?.iter().find_map(|n| n["lladdr"].as_str().map(str::to_string))
}

#[test]
fn another_hosts_gratuitous_arp_for_our_vip_is_counted_and_logged_once_per_second() {
    if !require_root("another_hosts_gratuitous_arp_for_our_vip_is_counted_and_logged_once_per_second") {
        return;
    }
    let lan = lan("arpconflict", &[("r1", Ipv4Addr::new(198, 18, 0, 1)), ("evil", Ipv4Addr::new(198, 18, 0, 66))]).expect("lan");
    let bin = agent_binary().expect("agent binary");
    let agent = spawn_agent(&bin, lan.host("r1"), &config(), &[]).expect("spawn");
    wait_for(ELECTION, "r1 to hold the VIP", || has_addr(lan.host("r1"), VIP).then_some(()))
        .unwrap_or_else(|e| panic!("{e}\n{}", agent.log_tail(20)));

    // Five unsolicited ARP requests "VIP is at evil's MAC", 50 ms apart (arping -U).
    let evil = lan.host("evil");
    let vip = VIP.to_string();
    let _ = evil.ns.cmd("arping").args(["-q", "-U", "-i", "eth0", "-S", &vip, "-c", "5", "-W", "0.05", "-w", "3", &vip]).output();
    wait_for(Duration::from_secs(3), "the five conflicts to be counted", || (agent.counter("vip_conflict") >= 5).then_some(()))
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", agent.status_json(), agent.log_tail(20)));
    let st = agent.status_json();
    assert_eq!(st["instances"][0]["vip_conflicts"].as_u64(), Some(5), "counted per instance: {st}");
    assert_eq!(agent.counter("arp_replies"), 0, "a gratuitous ARP is not answered: {st}");

    let line = format!("VIP conflict: {VIP} (VRID 51) claimed by {} (ARP request)", evil.mac_string());
    wait_for(Duration::from_secs(2), "the conflict in the agent's log", || agent.log_text().contains(&line).then_some(()))
        .unwrap_or_else(|e| panic!("{e}\n{}", agent.log_tail(20)));
    // Five frames within ~0.2 s: one line (rate limit: once per second per VIP).
    let lines = agent.log_text().matches("VIP conflict:").count();
    assert!(lines <= 2, "rate-limited to one line per second, got {lines}:\n{}", agent.log_tail(20));
    assert!(agent.log_text().contains("(VI_1)"), "the line names the instance");
    // We still hold the VIP: a conflict is reported, not acted on.
    assert!(has_addr(lan.host("r1"), VIP));
}

#[test]
fn a_mac_change_is_followed_by_garp_and_xdp_replies() {
    if !require_root("a_mac_change_is_followed_by_garp_and_xdp_replies") {
        return;
    }
    let lan = lan("arpmac", &[("r1", Ipv4Addr::new(198, 18, 0, 1)), ("c", Ipv4Addr::new(198, 18, 0, 10))]).expect("lan");
    let bin = agent_binary().expect("agent binary");
    let agent = spawn_agent(&bin, lan.host("r1"), &config(), &[]).expect("spawn");
    wait_for(ELECTION, "r1 to hold the VIP", || has_addr(lan.host("r1"), VIP).then_some(()))
        .unwrap_or_else(|e| panic!("{e}\n{}", agent.log_tail(20)));
    let (r1, c) = (lan.host("r1"), lan.host("c"));
    assert!(ping_once(c, VIP), "client reaches the VIP");
    assert_eq!(neighbour_mac(c, VIP).as_deref(), Some(r1.mac_string().as_str()));

    let new_mac = "02:76:72:00:00:aa";
    r1.ns.ip(&["link", "set", "eth0", "address", new_mac]).expect("change MAC");
    // The agent re-announces the VIP: the client's entry follows without asking.
    wait_for(Duration::from_secs(3), "the client to learn the new MAC from a gratuitous ARP", || {
        (neighbour_mac(c, VIP).as_deref() == Some(new_mac)).then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}: client has {:?}\n{}", neighbour_mac(c, VIP), agent.log_tail(20)));
    assert!(agent.log_text().contains("MAC changed to 02:76:72:00:00:aa"), "{}", agent.log_tail(20));

    // And XDP answers a fresh request with the new MAC.
    let replies = agent.counter("arp_replies");
    c.ns.ip(&["neigh", "flush", "dev", "eth0"]).expect("flush");
    assert!(ping_once(c, VIP), "client reaches the VIP after the change");
    assert_eq!(neighbour_mac(c, VIP).as_deref(), Some(new_mac));
    assert!(agent.counter("arp_replies") > replies, "answered by XDP");
}
