//! Real agent binaries as child processes in network namespaces on a bridged LAN: election,
//! failover after the master dies, hand-over on SIGTERM, ARP for the VIP answered by XDP.
//!
//! Timing bounds are protocol-derived: a backup takes over at most Master_Down_Interval after
//! the master's last advert (so at most that long after the master dies), and at most
//! Skew_Time after a priority-0 advert. The stated slack (SLACK) covers process scheduling on
//! a shared 2-core machine, the 10 ms polling of `ip addr`, and netlink latency.
use std::{
    net::Ipv4Addr,
    time::{Duration, Instant},
};

use vrrp_tests::{Agent, Lan, election, agent_binary, has_addr, lan, ping_once, require_root, spawn_agent, wait_for};

const VIP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 100);
const SLACK: Duration = Duration::from_millis(250);
/// Agent start-up: one deadline for every test (see the harness).
use vrrp_tests::election::STARTUP;

/// Master_Down_Interval of a VRRPv2 backup, 1 s adverts (vrrp_common::timers, exact in us).
fn v2_mdi(priority: u8) -> Duration {
    election::master_down_interval(2, priority, 100)
}

/// Master_Down_Interval and Skew_Time of a VRRPv3 backup at `interval_cs`.
fn v3_mdi(priority: u8, interval_cs: u16) -> Duration {
    election::master_down_interval(3, priority, interval_cs)
}

fn v3_skew(priority: u8, interval_cs: u16) -> Duration {
    election::skew_time(3, priority, interval_cs)
}

fn cs(n: u32) -> Duration {
    Duration::from_millis(u64::from(n) * 10)
}

fn config(priority: u8, version: u8, advert_int: &str) -> String {
    format!(
        "global_defs {{\n  router_id test\n}}\n\
         vrrp_instance VI_1 {{\n  state BACKUP\n  interface eth0\n  virtual_router_id 51\n  \
         priority {priority}\n  advert_int {advert_int}\n  version {version}\n  \
         authentication {{\n    auth_type PASS\n    auth_pass vrrptest\n  }}\n  \
         virtual_ipaddress {{\n    {VIP}/24\n  }}\n}}\n"
    )
}

fn routers_with_vip<'a>(lan: &'a Lan, names: &[&'a str]) -> Vec<&'a str> {
    names.iter().copied().filter(|n| has_addr(lan.host(n), VIP)).collect()
}

fn instance_state(agent: &Agent) -> String {
    agent.status_json()["instances"][0]["state"].as_str().unwrap_or("?").to_string()
}

/// Starts agents on `routers` (name, priority) and waits until `expected` holds the VIP.
/// The last router runs with the XDP program's own trace logging on.
fn start_and_elect(lan: &Lan, routers: &[(&str, u8)], version: u8, advert_int: &str, expected: &str, mdi: Duration) -> Vec<Agent> {
    let bin = agent_binary().expect("agent binary (cargo xtask test builds it)");
    let agents: Vec<Agent> = routers
        .iter()
        .enumerate()
        .map(|(i, (name, prio))| {
            let extra: &[&str] = if i + 1 == routers.len() { &["--kernel-log", "trace", "--log", "info,vrrp_xdp=trace"] } else { &[] };
            spawn_agent(&bin, lan.host(name), &config(*prio, version, advert_int), extra).expect("spawn agent")
        })
        .collect();
    let names: Vec<&str> = routers.iter().map(|(n, _)| *n).collect();
    // Agents start a few hundred ms apart (program load), so a lower-priority one may win
    // first and be preempted: wait for the expected router to be the only holder. It gets
    // there at most Master_Down_Interval after it started (preempt is on).
    let elected = wait_for(STARTUP + mdi + SLACK, &format!("{expected} to be the only holder of the VIP"), || {
        (routers_with_vip(lan, &names) == [expected]).then_some(())
    });
    if let Err(e) = elected {
        panic!("{e}\n{}", agents.iter().map(|a| a.log_tail(20)).collect::<Vec<_>>().join("\n---\n"));
    }
    // Every backup has heard the master before the test goes on.
    for (agent, (name, _)) in agents.iter().zip(routers) {
        if *name != expected {
            wait_for(cs(300), "backups to record the master's adverts", || {
                let v = agent.status_json();
                (v["instances"][0]["adverts_accepted"].as_u64().unwrap_or(0) > 0).then_some(())
            })
            .expect("backup hears adverts");
        }
    }
    agents
}

#[test]
fn three_routers_elect_one_master_and_the_vip_is_never_on_two() {
    if !require_root("three_routers_elect_one_master_and_the_vip_is_never_on_two") {
        return;
    }
    let lan = lan("elect3", &[("r1", Ipv4Addr::new(198, 18, 0, 1)), ("r2", Ipv4Addr::new(198, 18, 0, 2)), ("r3", Ipv4Addr::new(198, 18, 0, 3)), ("c", Ipv4Addr::new(198, 18, 0, 10))]).expect("lan");
    let routers = [("r1", 150), ("r2", 100), ("r3", 50)];
    let agents = start_and_elect(&lan, &routers, 2, "1", "r1", v2_mdi(150));

    let states: Vec<String> = agents.iter().map(instance_state).collect();
    assert_eq!(states, ["MASTER", "BACKUP", "BACKUP"]);

    // The backups' wake-ups so far: the election itself (first advert, a new master, a
    // preemption if one router loaded its XDP program later than the others) wakes them.
    let wakeups = |a: &vrrp_tests::Agent| a.status_json()["instances"][0]["agent_wakeups"].as_u64().unwrap_or(u64::MAX);
    let settled: Vec<u64> = agents[1..].iter().map(wakeups).collect();

    // Steady state over three advert intervals: always exactly one holder.
    let names = ["r1", "r2", "r3"];
    let until = Instant::now() + Duration::from_secs(3);
    let mut samples = 0;
    while Instant::now() < until {
        let holders = routers_with_vip(&lan, &names);
        assert_eq!(holders, ["r1"], "VIP holders in steady state");
        samples += 1;
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(samples > 10);

    // r3 runs with --kernel-log trace: the XDP program's own lines reach the agent's log.
    let r3_log = agents[2].log_text();
    assert!(r3_log.contains("vrrp: vrid 51 event reasons"), "kernel trace lines in the agent log:\n{}", agents[2].log_tail(20));
    // The others run at the default (warn): no per-packet lines.
    assert!(!agents[1].log_text().contains("vrrp: vrid 51"), "per-packet kernel lines are off by default");

    // The client reaches the VIP; the master's XDP program answered its ARP request.
    assert!(ping_once(lan.host("c"), VIP), "client reaches the VIP");
    let st = agents[0].status_json();
    assert!(st["counters"]["arp_replies"].as_u64().unwrap_or(0) >= 1, "ARP answered by XDP: {st}");
    // The backups' XDP programs accepted the master's adverts and nothing was dropped.
    for a in &agents[1..] {
        let st = a.status_json();
        let i = &st["instances"][0];
        assert!(i["adverts_accepted"].as_u64().unwrap_or(0) >= 3, "{st}");
        assert_eq!(i["adverts_dropped"].as_u64(), Some(0), "{st}");
        assert_eq!(i["master"].as_str(), Some("198.18.0.1"), "{st}");
    }
    // Steady state: the master's three-plus adverts since the election woke no backup.
    let after: Vec<u64> = agents[1..].iter().map(wakeups).collect();
    assert_eq!(after, settled, "backups are not woken per advert in steady state");
}

#[test]
fn master_killed_backup_takes_over_within_master_down_interval() {
    if !require_root("master_killed_backup_takes_over_within_master_down_interval") {
        return;
    }
    let lan = lan("kill", &[("r1", Ipv4Addr::new(198, 18, 0, 1)), ("r2", Ipv4Addr::new(198, 18, 0, 2)), ("r3", Ipv4Addr::new(198, 18, 0, 3)), ("c", Ipv4Addr::new(198, 18, 0, 10))]).expect("lan");
    let routers = [("r1", 150), ("r2", 100), ("r3", 50)];
    let mut agents = start_and_elect(&lan, &routers, 2, "1", "r1", v2_mdi(150));
    assert!(ping_once(lan.host("c"), VIP));
    let garps = GarpCapture::start(&lan, "c");

    // The master dies: its agent is SIGKILLed and its host drops off the LAN (a killed
    // process cannot remove its VIP; a dead host cannot answer for it).
    let killed = Instant::now();
    agents[0].kill();
    lan.isolate("r1").expect("isolate r1");

    let bound = v2_mdi(100) + SLACK;
    let took_over = wait_for(bound + Duration::from_secs(2), "r2 to hold the VIP", || has_addr(lan.host("r2"), VIP).then(Instant::now))
        .unwrap_or_else(|e| panic!("{e}\n{}", agents[1].log_tail(30)));
    let elapsed = took_over - killed;
    eprintln!("takeover after {:.0} ms (bound {:.0} ms)", elapsed.as_secs_f64() * 1e3, bound.as_secs_f64() * 1e3);
    assert!(elapsed <= bound, "takeover took {elapsed:?}, more than Master_Down_Interval + slack = {bound:?}");
    // And not before the protocol allows: the last advert came at most one interval before
    // the kill, so at least Master_Down_Interval - Advert_Interval must pass.
    assert!(elapsed >= v2_mdi(100) - Duration::from_secs(1), "takeover too early: {elapsed:?}");

    wait_for(Duration::from_secs(3), "the client to reach the VIP again", || ping_once(lan.host("c"), VIP).then_some(()))
        .expect("client reaches the new master");
    assert!(!has_addr(lan.host("r3"), VIP), "r3 (lower priority) stays backup");
    assert_eq!(instance_state(&agents[2]), "BACKUP");
    assert!(agents[1].log_text().contains("(VI_1) Entering MASTER STATE"), "operators' log line");

    // keepalived's defaults: garp_master_repeat 5 at takeover, again after garp_master_delay 5 s.
    let r2_mac = lan.host("r2").mac_string();
    let times = wait_for(Duration::from_secs(5) + Duration::from_secs(2), "10 gratuitous ARPs from r2", || {
        let t = garps.sent_by(&r2_mac);
        (t.len() >= 10).then_some(t)
    })
    .unwrap_or_else(|e| panic!("{e}; captured:\n{}", garps.text()));
    let first = times[0];
    assert!(times[..5].iter().all(|t| t - first < 1.0), "first burst of 5 together: {times:?}");
    let second = times[5] - first;
    assert!((4.5..=6.0).contains(&second), "second burst after garp_master_delay (5 s), got {second:.2} s: {times:?}");
}

/// tcpdump in a host's namespace capturing gratuitous ARPs (request, sender IP = target IP)
/// for the VIP; bounded by packet count and killed on drop.
struct GarpCapture {
    child: std::process::Child,
    out: std::path::PathBuf,
}

impl GarpCapture {
    fn start(lan: &Lan, host: &str) -> GarpCapture {
        let out = std::env::temp_dir().join(format!("vrrp-garp-{}-{}.txt", lan.prefix, host));
        let err = out.with_extension("err");
        let child = lan
            .host(host)
            .ns
            .cmd("tcpdump")
            .args(["-i", "eth0", "-n", "-e", "-l", "-tt", "--immediate-mode", "-c", "20"])
            .arg(format!("arp and arp[6:2] = 1 and arp[14:4] = arp[24:4] and arp[24:4] = 0x{:08x}", u32::from(VIP)))
            .stdout(std::fs::File::create(&out).expect("capture file"))
            .stderr(std::fs::File::create(&err).expect("capture err file"))
            .spawn()
            .expect("tcpdump");
        wait_for(Duration::from_secs(5), "tcpdump to listen", || {
            std::fs::read_to_string(&err).ok().filter(|t| t.contains("listening on")).map(|_| ())
        })
        .expect("tcpdump starts");
        GarpCapture { child, out }
    }

    fn text(&self) -> String {
        std::fs::read_to_string(&self.out).unwrap_or_default()
    }

    /// Capture times (seconds) of the gratuitous ARPs sent from `mac`.
    fn sent_by(&self, mac: &str) -> Vec<f64> {
        self.text()
            .lines()
            .filter(|l| l.split_whitespace().nth(1) == Some(mac))
            .filter_map(|l| l.split_whitespace().next()?.parse().ok())
            .collect()
    }
}

impl Drop for GarpCapture {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.out);
        let _ = std::fs::remove_file(self.out.with_extension("err"));
    }
}

#[test]
fn master_terminated_hands_over_within_skew_time_v3() {
    if !require_root("master_terminated_hands_over_within_skew_time_v3") {
        return;
    }
    let lan = lan("term", &[("r1", Ipv4Addr::new(198, 18, 0, 1)), ("r2", Ipv4Addr::new(198, 18, 0, 2)), ("c", Ipv4Addr::new(198, 18, 0, 10))]).expect("lan");
    // VRRPv3 with a sub-second interval: 50 cs.
    let mut agents = start_and_elect(&lan, &[("r1", 200), ("r2", 100)], 3, "0.5", "r1", v3_mdi(200, 50));

    let terminated = Instant::now();
    agents[0].terminate();
    let bound = v3_skew(100, 50) + SLACK;
    let took_over = wait_for(bound + Duration::from_secs(2), "r2 to hold the VIP", || has_addr(lan.host("r2"), VIP).then(Instant::now))
        .unwrap_or_else(|e| panic!("{e}\n{}", agents[1].log_tail(30)));
    let elapsed = took_over - terminated;
    eprintln!("hand-over after {:.0} ms (bound {:.0} ms)", elapsed.as_secs_f64() * 1e3, bound.as_secs_f64() * 1e3);
    assert!(elapsed <= bound, "hand-over took {elapsed:?}, more than Skew_Time + slack = {bound:?}");

    let status = agents[0].wait_exit(Duration::from_secs(5)).expect("r1 exits after SIGTERM");
    assert!(status.success(), "exit status {status}");
    assert!(!has_addr(lan.host("r1"), VIP), "SIGTERM removes the VIP");
    assert!(agents[0].log_text().contains("(VI_1) Entering STOP STATE"));
    assert!(!agents[0].bpffs.join("VRID_CONFIG").exists(), "pins removed on a clean exit");
    wait_for(Duration::from_secs(3), "the client to reach the VIP", || ping_once(lan.host("c"), VIP).then_some(()))
        .expect("client reaches the new master");
}

#[test]
fn native_mode_answers_arp_with_xdp_tx() {
    if !require_root("native_mode_answers_arp_with_xdp_tx") {
        return;
    }
    let lan = lan("native", &[("r1", Ipv4Addr::new(198, 18, 0, 1)), ("c", Ipv4Addr::new(198, 18, 0, 10))]).expect("lan");
    // veth only transmits XDP_TX frames when the peer runs XDP (toolchain.md).
    lan.attach_xdp_pass_to_switch_ports().expect("pass-through XDP on the switch ports");
    let bin = agent_binary().expect("agent binary");
    // Priority 255: the address owner is master at once (RFC 5798 §6.4.1).
    let agent = spawn_agent(&bin, lan.host("r1"), &config(255, 2, "1"), &["--xdp-mode", "native"]).expect("spawn");
    wait_for(STARTUP + SLACK, "the owner to hold the VIP", || has_addr(lan.host("r1"), VIP).then_some(()))
        .unwrap_or_else(|e| panic!("{e}\n{}", agent.log_tail(30)));
    assert!(agent.log_text().contains("mode=Native"), "attached in native mode:\n{}", agent.log_tail(20));
    assert!(ping_once(lan.host("c"), VIP), "client reaches the VIP through an XDP_TX ARP reply");
    let st = agent.status_json();
    assert!(st["counters"]["arp_replies"].as_u64().unwrap_or(0) >= 1, "{st}");
}

fn unicast_config(priority: u8, src: &str, peers: &[&str]) -> String {
    let peers: String = peers.iter().map(|p| format!("    {p}\n")).collect();
    format!(
        "vrrp_instance VI_1 {{\n  state BACKUP\n  interface eth0\n  virtual_router_id 52\n  \
         priority {priority}\n  advert_int 1\n  unicast_src_ip {src}\n  unicast_peer {{\n{peers}  }}\n  \
         virtual_ipaddress {{\n    {VIP}/24\n  }}\n}}\n"
    )
}

#[test]
fn unicast_peers_elect_and_hand_over() {
    if !require_root("unicast_peers_elect_and_hand_over") {
        return;
    }
    let lan = lan("ucast", &[("r1", Ipv4Addr::new(198, 18, 0, 1)), ("r2", Ipv4Addr::new(198, 18, 0, 2)), ("c", Ipv4Addr::new(198, 18, 0, 10))]).expect("lan");
    let bin = agent_binary().expect("agent binary");
    let mut r1 = spawn_agent(&bin, lan.host("r1"), &unicast_config(150, "198.18.0.1", &["198.18.0.2"]), &[]).expect("spawn r1");
    let r2 = spawn_agent(&bin, lan.host("r2"), &unicast_config(100, "198.18.0.2", &["198.18.0.1"]), &[]).expect("spawn r2");
    wait_for(STARTUP + v2_mdi(150) + SLACK, "r1 to be the only holder of the VIP", || {
        (routers_with_vip(&lan, &["r1", "r2"]) == ["r1"]).then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}\n{}\n---\n{}", r1.log_tail(20), r2.log_tail(20)));
    // r2 hears r1's unicast adverts through XDP.
    wait_for(cs(300), "r2 to accept r1's unicast adverts", || {
        let st = r2.status_json();
        (st["instances"][0]["adverts_accepted"].as_u64().unwrap_or(0) >= 2
            && st["instances"][0]["master"].as_str() == Some("198.18.0.1"))
        .then_some(())
    })
    .expect("unicast adverts accepted");

    let terminated = Instant::now();
    r1.terminate();
    let bound = election::skew_time(2, 100, 100) + SLACK;
    wait_for(bound + Duration::from_secs(2), "r2 to hold the VIP", || has_addr(lan.host("r2"), VIP).then_some(()))
        .unwrap_or_else(|e| panic!("{e}\n{}", r2.log_tail(30)));
    let elapsed = terminated.elapsed();
    assert!(elapsed <= bound, "hand-over over unicast took {elapsed:?}, bound {bound:?}");
    wait_for(Duration::from_secs(3), "the client to reach the VIP", || ping_once(lan.host("c"), VIP).then_some(()))
        .expect("client reaches r2");
}

#[test]
fn excluded_vips_on_another_device_are_owned_but_not_advertised() {
    if !require_root("excluded_vips_on_another_device_are_owned_but_not_advertised") {
        return;
    }
    let lan = lan("excl", &[("r1", Ipv4Addr::new(198, 18, 0, 1)), ("r2", Ipv4Addr::new(198, 18, 0, 2))]).expect("lan");
    let r1 = lan.host("r1");
    // A second device (this kernel has no dummy links: a veth pair inside the namespace).
    r1.ns.ip(&["link", "add", "dummy1", "type", "veth", "peer", "name", "dummy1p"]).expect("dummy1");
    r1.ns.ip(&["link", "set", "dummy1", "up"]).expect("dummy1 up");
    r1.ns.ip(&["link", "set", "dummy1p", "up"]).expect("dummy1p up");
    let excluded = Ipv4Addr::new(198, 18, 5, 1);
    let conf = |prio: u8| {
        config(prio, 2, "1").replace(
            "  virtual_ipaddress {",
            &format!("  virtual_ipaddress_excluded {{\n    {excluded}/32 dev dummy1\n  }}\n  virtual_ipaddress {{"),
        )
    };
    let bin = agent_binary().expect("agent binary");
    let mut a1 = spawn_agent(&bin, r1, &conf(150), &[]).expect("spawn r1");
    // r2 has no dummy1: a backup never adds VIPs, but it must resolve the device to start, so
    // give it one too.
    lan.host("r2").ns.ip(&["link", "add", "dummy1", "type", "veth", "peer", "name", "dummy1p"]).expect("dummy1 on r2");
    let a2 = spawn_agent(&bin, lan.host("r2"), &conf(100), &[]).expect("spawn r2");
    wait_for(STARTUP + v2_mdi(150) + SLACK, "r1 to own the VIP and the excluded VIP", || {
        let on_dummy = r1.ns.ip(&["-4", "-o", "addr", "show", "dev", "dummy1"]).unwrap_or_default();
        (has_addr(r1, VIP) && on_dummy.contains(&format!("{excluded}/32")) && !has_addr(lan.host("r2"), VIP)).then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", a1.log_tail(20)));
    // The backup sees adverts that list only the advertised VIP.
    wait_for(cs(300), "r2 to record r1's advert", || {
        let st = a2.status_json();
        st["instances"][0]["last_advert"]["addresses"].as_u64().map(|n| (n, st))
    })
    .map(|(n, st)| assert_eq!(n, 1, "virtual_ipaddress_excluded is not advertised: {st}"))
    .expect("record");
    // The VIP's device is deleted and created again (a new ifindex; a veth pair holds the
    // old one): r1 sets the instance up again and, priority 150, is master again with the
    // excluded VIP on the new dummy1 within its Master_Down_Interval of being set up.
    r1.ns.ip(&["link", "del", "dummy1"]).expect("del dummy1");
    r1.ns.ip(&["link", "add", "gap1", "type", "veth", "peer", "name", "gap1p"]).expect("gap");
    r1.ns.ip(&["link", "add", "dummy1", "type", "veth", "peer", "name", "dummy1p"]).expect("dummy1 again");
    r1.ns.ip(&["link", "set", "dummy1", "up"]).expect("dummy1 up");
    r1.ns.ip(&["link", "set", "dummy1p", "up"]).expect("dummy1p up");
    wait_for(Duration::from_secs(5) + v2_mdi(150) + SLACK, "r1 master again with the excluded VIP on the new dummy1", || {
        let on_dummy = r1.ns.ip(&["-4", "-o", "addr", "show", "dev", "dummy1"]).unwrap_or_default();
        (a1.log_text().contains("VIP device(s) re-created") && has_addr(r1, VIP) && on_dummy.contains(&format!("{excluded}/32"))).then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", a1.log_tail(20)));
    a1.terminate();
    a1.wait_exit(Duration::from_secs(5)).expect("r1 exits");
    let on_dummy = r1.ns.ip(&["-4", "-o", "addr", "show", "dev", "dummy1"]).unwrap_or_default();
    assert!(!on_dummy.contains(&excluded.to_string()), "excluded VIP removed on exit: {on_dummy}");
}

#[test]
fn interface_down_is_fault_and_recovery_preempts_back() {
    if !require_root("interface_down_is_fault_and_recovery_preempts_back") {
        return;
    }
    let lan = lan("fault", &[("r1", Ipv4Addr::new(198, 18, 0, 1)), ("r2", Ipv4Addr::new(198, 18, 0, 2))]).expect("lan");
    let agents = start_and_elect(&lan, &[("r1", 150), ("r2", 100)], 2, "1", "r1", v2_mdi(150));
    let r1 = lan.host("r1");

    // The master's own interface goes down: FAULT (keepalived's), VIPs removed, no adverts;
    // the backup takes over. The kernel notifies the agent of link changes (RTNLGRP_LINK).
    r1.ns.ip(&["link", "set", "eth0", "down"]).expect("eth0 down");
    wait_for(SLACK, "r1 to enter FAULT", || (instance_state(&agents[0]) == "FAULT").then_some(()))
        .unwrap_or_else(|e| panic!("{e}\n{}", agents[0].log_tail(20)));
    assert!(!has_addr(r1, VIP), "no VIP in FAULT");
    assert!(agents[0].log_text().contains("(VI_1) Entering FAULT STATE"));
    wait_for(v2_mdi(100) + SLACK, "r2 to take over", || has_addr(lan.host("r2"), VIP).then_some(()))
        .unwrap_or_else(|e| panic!("{e}\n{}", agents[1].log_tail(20)));

    // Back up: BACKUP first, then r1 (higher priority, preempt on) takes the VIP back once
    // its master-down timer runs out (it ignores r2's lower-priority adverts).
    r1.ns.ip(&["link", "set", "eth0", "up"]).expect("eth0 up");
    // veth carrier comes back within a second of `link set up`.
    wait_for(v2_mdi(150) + Duration::from_secs(1) + SLACK, "r1 to preempt back", || {
        (routers_with_vip(&lan, &["r1", "r2"]) == ["r1"]).then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}\n{}\n---\n{}", agents[0].log_tail(20), agents[1].log_tail(20)));
    assert_eq!(instance_state(&agents[1]), "BACKUP");
}

#[test]
fn a_restarted_agent_removes_the_vip_a_killed_one_left_behind() {
    if !require_root("a_restarted_agent_removes_the_vip_a_killed_one_left_behind") {
        return;
    }
    let lan = lan("leftover", &[("r1", Ipv4Addr::new(198, 18, 0, 1))]).expect("lan");
    let r1 = lan.host("r1");
    let bin = agent_binary().expect("agent binary");
    // The address owner is master at once.
    let mut first = spawn_agent(&bin, r1, &config(255, 2, "1"), &[]).expect("spawn");
    wait_for(STARTUP + SLACK, "the owner to hold the VIP", || has_addr(r1, VIP).then_some(())).expect("owner master");
    first.kill();
    first.wait_exit(Duration::from_secs(5)).expect("killed");
    assert!(has_addr(r1, VIP), "a SIGKILLed agent cannot remove its VIP");
    // Its pins go (its bpffs dir is removed), and with them its pinned XDP link: the new
    // agent below, on pins of its own, finds no program of somebody else's on eth0. (A
    // restart on the same pins is tests/tests/fencing.rs.)
    drop(first);

    // A new agent (now a plain backup) removes it before it starts, and only adds it back
    // when it becomes master on its own timer.
    let second = spawn_agent(&bin, r1, &config(100, 2, "1"), &[]).expect("spawn again");
    wait_for(STARTUP, "the leftover VIP to be removed", || (!has_addr(r1, VIP)).then_some(()))
        .unwrap_or_else(|e| panic!("{e}\n{}", second.log_tail(20)));
    assert!(second.log_text().contains("left on eth0 by an earlier run"), "{}", second.log_tail(20));
    wait_for(v2_mdi(100) + SLACK, "the new agent to become master", || has_addr(r1, VIP).then_some(()))
        .unwrap_or_else(|e| panic!("{e}\n{}", second.log_tail(20)));
}

#[test]
fn vrrp_garp_interval_spaces_the_gratuitous_arps() {
    if !require_root("vrrp_garp_interval_spaces_the_gratuitous_arps") {
        return;
    }
    let lan = lan("garpint", &[("r1", Ipv4Addr::new(198, 18, 0, 1)), ("c", Ipv4Addr::new(198, 18, 0, 10))]).expect("lan");
    let garps = GarpCapture::start(&lan, "c");
    let conf = config(255, 2, "1").replace("  router_id test\n", "  router_id test\n  vrrp_garp_interval 0.2\n  vrrp_garp_master_delay 0\n");
    let bin = agent_binary().expect("agent binary");
    let agent = spawn_agent(&bin, lan.host("r1"), &conf, &[]).expect("spawn");
    let mac = lan.host("r1").mac_string();
    let times = wait_for(STARTUP + Duration::from_secs(2), "5 gratuitous ARPs", || {
        let t = garps.sent_by(&mac);
        (t.len() >= 5).then_some(t)
    })
    .unwrap_or_else(|e| panic!("{e}\n{}\n{}", garps.text(), agent.log_tail(20)));
    for w in times.windows(2) {
        let gap = w[1] - w[0];
        assert!((0.15..=0.5).contains(&gap), "rounds 200 ms apart (vrrp_garp_interval), got {gap:.3} s: {times:?}");
    }
}

#[test]
fn v3_with_and_without_the_ipv4_pseudo_header_interoperate_both_ways() {
    if !require_root("v3_with_and_without_the_ipv4_pseudo_header_interoperate_both_ways") {
        return;
    }
    let lan = lan("v3csum", &[("r1", Ipv4Addr::new(198, 18, 0, 1)), ("r2", Ipv4Addr::new(198, 18, 0, 2))]).expect("lan");
    let bin = agent_binary().expect("agent binary");
    // r1 sends RFC 9568 checksums (no pseudo-header); r2 sends keepalived's default (with).
    let plain = config(150, 3, "0.5").replace("  version 3\n", "  version 3\n  v3_checksum_as_v2\n");
    let mut a1 = spawn_agent(&bin, lan.host("r1"), &plain, &[]).expect("spawn r1");
    let a2 = spawn_agent(&bin, lan.host("r2"), &config(100, 3, "0.5"), &[]).expect("spawn r2");
    let mdi = v3_mdi(150, 50);
    wait_for(STARTUP + mdi + SLACK, "r1 to be the only holder", || (routers_with_vip(&lan, &["r1", "r2"]) == ["r1"]).then_some(()))
        .unwrap_or_else(|e| panic!("{e}\n{}", a1.log_tail(20)));
    // r2 accepts r1's plain-checksum adverts and counts them as such.
    wait_for(cs(100), "r2 to count plain v3 checksums", || {
        let i = a2.status_json()["instances"][0].clone();
        (i["v3_checksum_plain"].as_u64().unwrap_or(0) >= 2 && i["v3_checksum_pseudo"].as_u64() == Some(0) && i["adverts_dropped"].as_u64() == Some(0)).then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}: {}", a2.status_json()));
    // The other way: r1 goes away, r2 becomes master, r1 comes back and must accept r2's
    // pseudo-header adverts while it waits to preempt.
    a1.terminate();
    a1.wait_exit(Duration::from_secs(5)).expect("r1 exits");
    wait_for(v3_skew(100, 50) + SLACK, "r2 to take over", || has_addr(lan.host("r2"), VIP).then_some(())).expect("takeover");
    let a1 = spawn_agent(&bin, lan.host("r1"), &plain, &[]).expect("respawn r1");
    wait_for(STARTUP, "r1 to count pseudo-header v3 checksums", || {
        let st = a1.try_status_json()?;
        let i = &st["instances"][0];
        (i["v3_checksum_pseudo"].as_u64().unwrap_or(0) >= 1 && i["adverts_dropped"].as_u64() == Some(0)).then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}: {}", a1.log_tail(10)));
    wait_for(mdi + SLACK, "r1 to preempt back", || (routers_with_vip(&lan, &["r1", "r2"]) == ["r1"]).then_some(())).expect("preempt");
}

/// The master's interface is deleted and created again (a new ifindex): the XDP program, the
/// map keys and the sockets all belonged to the old one. The agent must not carry on as a
/// master on a dead dataplane: it drops the VIP (FAULT), sets the instance up again on the
/// new interface, and takes the VIP back as the highest priority; the backup holds it
/// meanwhile. Afterwards exactly one master, XDP attached to the new eth0, no send errors.
#[test]
fn a_recreated_interface_is_attached_and_keyed_again() {
    if !require_root("a_recreated_interface_is_attached_and_keyed_again") {
        return;
    }
    let lan = lan("recreate", &[("r1", Ipv4Addr::new(198, 18, 0, 1)), ("r2", Ipv4Addr::new(198, 18, 0, 2))]).expect("lan");
    let agents = start_and_elect(&lan, &[("r1", 150), ("r2", 100)], 3, "0.1", "r1", v3_mdi(150, 10));
    let r1 = lan.host("r1");
    // (`ip`, not /sys: the harness enters only the network namespace, /sys is the host's.)
    let ifindex = || r1.ns.ip(&["-o", "link", "show", "eth0"]).expect("ip link").split(':').next().unwrap_or_default().to_string();
    let old_index = ifindex();

    lan.recreate_link("r1").expect("re-create eth0");
    assert_ne!(old_index, ifindex(), "a new ifindex");
    // r1 is set up again as a backup and, priority 150 with preempt, takes the VIP back
    // within its Master_Down_Interval (v3 100 ms, priority 150: 341 ms) of being set up; the harness
    // re-adds the address and sets the link up right after creating it, and the agent
    // learns of it from the link notification (5 s poll as a safety net).
    let bound = Duration::from_secs(5) + v3_mdi(150, 10) + SLACK;
    wait_for(bound, "r1 set up again on the new eth0 and master", || {
        (agents[0].log_text().contains("was re-created") && routers_with_vip(&lan, &["r1", "r2"]) == ["r1"] && instance_state(&agents[0]) == "MASTER")
            .then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}\n{}\n---\n{}", agents[0].log_tail(30), agents[1].log_tail(20)));
    assert_eq!(instance_state(&agents[1]), "BACKUP");
    let xdp = r1.ns.ip(&["-d", "link", "show", "eth0"]).expect("ip link");
    assert!(xdp.contains("xdp"), "XDP attached to the new eth0: {xdp}");
    let log = agents[0].log_text();
    assert!(!log.contains("sending advert"), "no send errors on a dead interface:\n{log}");
}
