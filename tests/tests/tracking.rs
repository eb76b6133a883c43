//! Health tracking with real agents, real scripts, files, processes and interfaces in
//! network namespaces: `track_script`, `track_file`, `track_process`, `track_interface`,
//! `vrrp_sync_group`, `virtual_routes`.
//!
//! Bounds are derived from the configuration: a script tracker changes state after `fall`
//! (or `rise`) consecutive results, one every `interval`, the first of them at most one
//! interval after the change; a priority change is advertised at once; a backup that now
//! outranks the master takes over at most Master_Down_Interval after the master's last
//! advert at the old priority. SLACK covers script start-up, process scheduling on a shared
//! 2-core machine, the 10 ms polling of `ip addr` and netlink latency.
use std::{
    net::Ipv4Addr,
    process::Command,
    time::{Duration, Instant},
};

use vrrp_tests::{
    Agent, Lan, Proc, ScratchDir, agent_binary, election, has_addr, holds_for, lan, pid_alive, require_root,
    spawn_agent, wait_for,
};

const VIP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 100);
const VIP2: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 101);
const R1: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const R2: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
const SLACK: Duration = Duration::from_millis(1500);
/// Agent start-up: one deadline for every test (see the harness).
use vrrp_tests::election::STARTUP;
/// VRRPv3 at 10 cs: failovers in a few hundred ms, so the scripts' seconds dominate.
const INTERVAL_CS: u16 = 10;

fn mdi(priority: u8) -> Duration {
    election::master_down_interval(3, priority, INTERVAL_CS)
}

fn advert() -> Duration {
    Duration::from_millis(u64::from(INTERVAL_CS) * 10)
}

/// One `vrrp_instance` block; `extra` goes inside it.
fn instance(name: &str, vrid: u8, priority: u8, vip: Ipv4Addr, extra: &str) -> String {
    format!(
        "vrrp_instance {name} {{\n  state BACKUP\n  interface eth0\n  virtual_router_id {vrid}\n  \
         priority {priority}\n  advert_int 0.{INTERVAL_CS}\n  version 3\n  \
         virtual_ipaddress {{\n    {vip}/24\n  }}\n{extra}}}\n"
    )
}

fn holders(lan: &Lan, vip: Ipv4Addr) -> Vec<&str> {
    ["r1", "r2"].into_iter().filter(|n| has_addr(lan.host(n), vip)).collect()
}

/// Waits until `who` (alone) holds `vip`.
fn wait_holder(lan: &Lan, agents: &[&Agent], vip: Ipv4Addr, who: &str, within: Duration, what: &str) -> Duration {
    let t0 = Instant::now();
    wait_for(within, what, || (holders(lan, vip) == [who]).then_some(())).unwrap_or_else(|e| {
        let logs: Vec<String> = agents.iter().map(|a| a.log_tail(30)).collect();
        panic!("{e}: holders {:?}\n{}", holders(lan, vip), logs.join("\n-----\n"))
    });
    t0.elapsed()
}

fn start(lan: &Lan, host: &str, config: &str) -> Agent {
    let bin = agent_binary().expect("agent binary (cargo xtask test builds it)");
    spawn_agent(&bin, lan.host(host), config, &[]).expect("spawn agent")
}

fn two_routers(test: &str) -> Lan {
    lan(test, &[("r1", R1), ("r2", R2)]).expect("lan")
}

/// How long a script tracker takes to change state after the world changed: `n` results,
/// one per interval, the first at most one interval later; each run may take `run` more.
fn script_delay(n: u32, interval: Duration) -> Duration {
    interval * (n + 1)
}

#[test]
fn failing_script_moves_the_vip_after_fall_and_back_after_rise() {
    if !require_root("failing_script_moves_the_vip_after_fall_and_back_after_rise") {
        return;
    }
    let lan = two_routers("trkscr");
    let dir = ScratchDir::new("trkscr").expect("scratch dir");
    let flag = dir.join("down");
    let chk = dir
        .script("chk.sh", &format!("#!/bin/sh\n[ ! -e {} ]\n", flag.display()))
        .expect("script");
    let script = format!(
        "vrrp_script chk {{\n  script \"{}\"\n  interval 1\n  weight -20\n  fall 2\n  rise 2\n}}\n",
        chk.display()
    );
    let track = "  track_script {\n    chk\n  }\n";
    let a1 = start(&lan, "r1", &format!("{script}{}", instance("VI_1", 51, 100, VIP, track)));
    let a2 = start(&lan, "r2", &instance("VI_1", 51, 90, VIP, ""));
    wait_holder(&lan, &[&a1, &a2], VIP, "r1", STARTUP + mdi(90) + SLACK, "r1 (100) to be master");

    // Fails twice in a row: 100 - 20 = 80 < 90, advertised at once; r2 takes over.
    std::fs::write(&flag, "").expect("flag");
    let bound = script_delay(2, Duration::from_secs(1)) + mdi(90) + advert() + SLACK;
    let took = wait_holder(&lan, &[&a1, &a2], VIP, "r2", bound, "r2 to take over from the failing r1");
    eprintln!("failing script: r2 took over after {took:?} (bound {bound:?})");
    assert!(a1.log_text().contains("VRRP_Script(chk) failed"), "{}", a1.log_tail(30));
    wait_for(Duration::from_secs(2), "r1 to report effective priority 80", || {
        (a1.status_json()["instances"][0]["priority"].as_u64() == Some(80)).then_some(())
    })
    .expect("priority 80");
    // `status` (read from the pinned maps) names the tracker and its state.
    let st = a1.status_json();
    let chk = st["trackers"].as_array().and_then(|a| a.iter().find(|t| t["name"] == "chk").cloned());
    assert_eq!(chk.as_ref().and_then(|c| c["state"].as_str()), Some("DOWN"), "{st:#}");

    // Succeeds twice: back to 100 > 90, r1 preempts.
    std::fs::remove_file(&flag).expect("unflag");
    let bound = script_delay(2, Duration::from_secs(1)) + mdi(100) + advert() + SLACK;
    let took = wait_holder(&lan, &[&a1, &a2], VIP, "r1", bound, "r1 to take back after rise");
    eprintln!("recovered script: r1 took back after {took:?} (bound {bound:?})");
    assert!(a1.log_text().contains("VRRP_Script(chk) succeeded"), "{}", a1.log_tail(30));
}

#[test]
fn hung_script_is_killed_at_its_timeout_and_counts_as_failed() {
    if !require_root("hung_script_is_killed_at_its_timeout_and_counts_as_failed") {
        return;
    }
    let lan = two_routers("trkhung");
    let dir = ScratchDir::new("trkhung").expect("scratch dir");
    let hang = dir.join("hang");
    let pids = dir.join("pids");
    // Hangs (with a child in its process group) while the flag exists.
    let chk = dir
        .script(
            "chk.sh",
            &format!(
                "#!/bin/sh\nif [ -e {hang} ]; then\n  sleep 60 &\n  echo $$ $! >> {pids}\n  wait\nfi\nexit 0\n",
                hang = hang.display(),
                pids = pids.display()
            ),
        )
        .expect("script");
    let script = format!(
        "vrrp_script chk {{\n  script \"{}\"\n  interval 1\n  timeout 1\n  weight 0\n  fall 1\n  rise 1\n}}\n",
        chk.display()
    );
    let track = "  track_script {\n    chk\n  }\n";
    let a1 = start(&lan, "r1", &format!("{script}{}", instance("VI_1", 51, 100, VIP, track)));
    let a2 = start(&lan, "r2", &instance("VI_1", 51, 90, VIP, ""));
    wait_holder(&lan, &[&a1, &a2], VIP, "r1", STARTUP + mdi(90) + SLACK, "r1 (100) to be master");

    // weight 0: one timed-out run sends r1 to FAULT; r2 takes over.
    std::fs::write(&hang, "").expect("flag");
    let bound = script_delay(1, Duration::from_secs(1)) + Duration::from_secs(1) + mdi(90) + advert() + SLACK;
    let took = wait_holder(&lan, &[&a1, &a2], VIP, "r2", bound, "r2 to take over from r1 in FAULT");
    eprintln!("hung script: r2 took over after {took:?} (bound {bound:?})");
    wait_for(Duration::from_secs(2), "r1 in FAULT", || {
        (a1.status_json()["instances"][0]["state"].as_str() == Some("FAULT")).then_some(())
    })
    .expect("FAULT");
    // The run was killed with its process group: neither the script nor its child lives.
    let text = std::fs::read_to_string(&pids).expect("pids written by the hung script");
    let first: Vec<u32> = text.lines().next().expect("a line").split_whitespace().map(|p| p.parse().expect("pid")).collect();
    wait_for(Duration::from_secs(3), "the hung script and its child to be killed", || {
        first.iter().all(|&p| !pid_alive(p)).then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}: {first:?} still alive"));

    std::fs::remove_file(&hang).expect("unflag");
    let bound = script_delay(1, Duration::from_secs(1)) + Duration::from_secs(1) + mdi(100) + advert() + SLACK;
    wait_holder(&lan, &[&a1, &a2], VIP, "r1", bound, "r1 back from FAULT");
}

#[test]
fn killing_a_tracked_process_fails_over() {
    if !require_root("killing_a_tracked_process_fails_over") {
        return;
    }
    let lan = two_routers("trkproc");
    let dir = ScratchDir::new("trkproc").expect("scratch dir");
    // A copy of sleep under a unique name (at most 15 characters: the kernel's comm).
    let name = format!("trk{}", std::process::id() % 1_000_000);
    let bin = dir.join(&name);
    std::fs::copy("/bin/sleep", &bin).expect("copy sleep");
    let mut p = Proc::spawn(lan.host("r1"), &bin, &["600"]).expect("tracked process");
    let tracker = format!("vrrp_track_process app {{\n  process {name}\n  weight -20\n}}\n");
    let track = "  track_process {\n    app\n  }\n";
    let a1 = start(&lan, "r1", &format!("{tracker}{}", instance("VI_1", 51, 100, VIP, track)));
    let a2 = start(&lan, "r2", &instance("VI_1", 51, 90, VIP, ""));
    wait_holder(&lan, &[&a1, &a2], VIP, "r1", STARTUP + mdi(90) + SLACK, "r1 (100) to be master");

    p.kill();
    let bound = mdi(90) + advert() + SLACK;
    let took = wait_holder(&lan, &[&a1, &a2], VIP, "r2", bound, "r2 to take over when the process dies");
    eprintln!("tracked process killed: r2 took over after {took:?} (bound {bound:?})");

    let _p2 = Proc::spawn(lan.host("r1"), &bin, &["600"]).expect("tracked process again");
    let bound = mdi(100) + advert() + SLACK;
    wait_holder(&lan, &[&a1, &a2], VIP, "r1", bound, "r1 to take back when the process is back");
}

/// The priorities r1 advertises, read from a bounded tcpdump capture on r1's switch port
/// (r2's XDP program consumes the adverts it accepts before a capture on r2 could see them).
fn advertised_priorities(lan: &Lan, count: u32) -> Vec<u32> {
    let port = lan.host("r1").switch_port.clone();
    let out = lan
        .switch
        .cmd("timeout")
        .args(["5", "tcpdump", "-i", &port, "-n", "-v", "-l", "-c", &count.to_string()])
        .arg(format!("ip proto 112 and src host {R1}"))
        .output()
        .expect("tcpdump");
    String::from_utf8_lossy(&out.stdout)
        .split("prio ")
        .skip(1)
        .filter_map(|s| s.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok())
        .collect()
}

#[test]
fn track_file_value_times_weight_is_advertised() {
    if !require_root("track_file_value_times_weight_is_advertised") {
        return;
    }
    let lan = two_routers("trkfile");
    let dir = ScratchDir::new("trkfile").expect("scratch dir");
    let file = dir.join("prio");
    std::fs::write(&file, "5\n").expect("track file");
    let tracker = format!("vrrp_track_file tf {{\n  file \"{}\"\n  weight 1\n}}\n", file.display());
    let track = "  track_file {\n    tf\n  }\n";
    let a1 = start(&lan, "r1", &format!("{tracker}{}", instance("VI_1", 51, 244, VIP, track)));
    let a2 = start(&lan, "r2", &instance("VI_1", 51, 200, VIP, ""));
    wait_holder(&lan, &[&a1, &a2], VIP, "r1", STARTUP + mdi(200) + SLACK, "r1 to be master");
    // 244 + 5 x 1 = 249, on the wire.
    let seen = advertised_priorities(&lan, 3);
    assert!(!seen.is_empty() && seen.iter().all(|&p| p == 249), "advertised priorities {seen:?}\n{}", a1.log_tail(20));

    // The file changes: -60 x 1 -> 184 < 200: advertised at once, r2 takes over.
    std::fs::write(&file, "-60\n").expect("rewrite");
    let took = wait_holder(&lan, &[&a1, &a2], VIP, "r2", mdi(200) + advert() + SLACK, "r2 to take over at 184 < 200");
    eprintln!("track file -60: r2 took over after {took:?}");
    assert_eq!(a1.status_json()["instances"][0]["priority"].as_u64(), Some(184));
}

#[test]
fn track_interface_with_weight_and_with_fault() {
    if !require_root("track_interface_with_weight_and_with_fault") {
        return;
    }
    let lan = two_routers("trkif");
    let r1 = lan.host("r1");
    r1.ns.ip(&["link", "add", "up0", "type", "veth", "peer", "name", "up1"]).expect("veth");
    r1.ns.ip(&["link", "add", "fl0", "type", "veth", "peer", "name", "fl1"]).expect("veth");
    for l in ["up0", "up1", "fl0", "fl1"] {
        r1.ns.ip(&["link", "set", l, "up"]).expect("up");
    }
    // up0: weight -20 (priority 80 < 90 while down); fl0: no weight, FAULT while down.
    let track = "  track_interface {\n    up0 weight -20\n    fl0\n  }\n";
    let a1 = start(&lan, "r1", &instance("VI_1", 51, 100, VIP, track));
    let a2 = start(&lan, "r2", &instance("VI_1", 51, 90, VIP, ""));
    wait_holder(&lan, &[&a1, &a2], VIP, "r1", STARTUP + mdi(90) + SLACK, "r1 (100) to be master");

    r1.ns.ip(&["link", "set", "up0", "down"]).expect("down");
    wait_holder(&lan, &[&a1, &a2], VIP, "r2", mdi(90) + advert() + SLACK, "r2 to take over (r1 at 80)");
    assert_eq!(a1.status_json()["instances"][0]["state"].as_str(), Some("BACKUP"));
    r1.ns.ip(&["link", "set", "up0", "up"]).expect("up");
    wait_holder(&lan, &[&a1, &a2], VIP, "r1", mdi(100) + advert() + SLACK, "r1 back at 100");

    r1.ns.ip(&["link", "set", "fl0", "down"]).expect("down");
    wait_holder(&lan, &[&a1, &a2], VIP, "r2", mdi(90) + advert() + SLACK, "r2 to take over (r1 in FAULT)");
    wait_for(Duration::from_secs(2), "r1 in FAULT", || {
        (a1.status_json()["instances"][0]["state"].as_str() == Some("FAULT")).then_some(())
    })
    .expect("FAULT");
    r1.ns.ip(&["link", "set", "fl0", "up"]).expect("up");
    wait_holder(&lan, &[&a1, &a2], VIP, "r1", mdi(100) + advert() + SLACK, "r1 back from FAULT");
}

#[test]
fn nopreempt_backup_does_not_take_over_from_a_degraded_master() {
    if !require_root("nopreempt_backup_does_not_take_over_from_a_degraded_master") {
        return;
    }
    let lan = two_routers("trknop");
    let dir = ScratchDir::new("trknop").expect("scratch dir");
    let file = dir.join("w");
    std::fs::write(&file, "0\n").expect("track file");
    let tracker = format!("vrrp_track_file tf {{\n  file \"{}\"\n  weight -1\n}}\n", file.display());
    let track = "  track_file {\n    tf\n  }\n  nopreempt\n";
    // With nopreempt on both, whoever times out first stays master: r1 starts alone.
    let a1 = start(&lan, "r1", &format!("{tracker}{}", instance("VI_1", 51, 100, VIP, track)));
    wait_holder(&lan, &[&a1], VIP, "r1", STARTUP + mdi(100) + SLACK, "r1 to be master alone");
    let a2 = start(&lan, "r2", &instance("VI_1", 51, 90, VIP, "  nopreempt\n"));
    wait_for(STARTUP, "r2 in BACKUP", || a2.try_status_json().filter(|s| s["instances"][0]["state"] == "BACKUP").map(|_| ()))
        .expect("r2 backup");
    // r1 drops to 70 < 90, but r2 does not preempt a live master: r1 keeps the VIP.
    std::fs::write(&file, "30\n").expect("rewrite");
    wait_for(Duration::from_secs(3), "r1 to advertise 70", || {
        (a1.status_json()["instances"][0]["priority"].as_u64() == Some(70)).then_some(())
    })
    .expect("priority 70");
    holds_for(mdi(90) * 3 + SLACK, "r1 alone holding the VIP", || match holders(&lan, VIP) {
        h if h == ["r1"] => Ok(()),
        h => Err(format!("holders {h:?}: r2 preempted despite nopreempt\n{}", a2.log_tail(20))),
    })
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(!a2.log_text().contains("Entering MASTER"), "{}", a2.log_tail(20));
}

#[test]
fn sync_group_members_fail_over_together() {
    if !require_root("sync_group_members_fail_over_together") {
        return;
    }
    let lan = two_routers("trksync");
    let r1 = lan.host("r1");
    r1.ns.ip(&["link", "add", "fl0", "type", "veth", "peer", "name", "fl1"]).expect("veth");
    for l in ["fl0", "fl1"] {
        r1.ns.ip(&["link", "set", l, "up"]).expect("up");
    }
    let group = "vrrp_sync_group G {\n  group {\n    VI_1\n    VI_2\n  }\n}\n";
    // r1's group runs a notify script: GROUP G <STATE> lines, after its members moved.
    let dir = ScratchDir::new("trksync").expect("scratch dir");
    let calls = dir.join("calls");
    let rec = dir.script("rec.sh", &format!("#!/bin/sh\necho \"$*\" >> {}\n", calls.display())).expect("script");
    let group1 = format!("vrrp_sync_group G {{\n  group {{\n    VI_1\n    VI_2\n  }}\n  notify {}\n}}\n", rec.display());
    let c1 = format!(
        "{group1}{}{}",
        instance("VI_1", 51, 100, VIP, "  track_interface {\n    fl0\n  }\n"),
        instance("VI_2", 52, 100, VIP2, "")
    );
    let c2 = format!("{group}{}{}", instance("VI_1", 51, 90, VIP, ""), instance("VI_2", 52, 90, VIP2, ""));
    let mut a1 = start(&lan, "r1", &c1);
    let a2 = start(&lan, "r2", &c2);
    for v in [VIP, VIP2] {
        wait_holder(&lan, &[&a1, &a2], v, "r1", STARTUP + mdi(90) + SLACK, "r1 master of both");
    }
    // Only VI_1 tracks fl0; the group takes VI_2 along.
    r1.ns.ip(&["link", "set", "fl0", "down"]).expect("down");
    for v in [VIP, VIP2] {
        wait_holder(&lan, &[&a1, &a2], v, "r2", mdi(90) + advert() + SLACK, "r2 master of both");
    }
    let st = a1.status_json();
    let states: Vec<&str> = st["instances"].as_array().expect("instances").iter().filter_map(|i| i["state"].as_str()).collect();
    assert_eq!(states, ["FAULT", "FAULT"], "{st}");
    r1.ns.ip(&["link", "set", "fl0", "up"]).expect("up");
    for v in [VIP, VIP2] {
        wait_holder(&lan, &[&a1, &a2], v, "r1", mdi(100) + advert() + SLACK, "r1 master of both again");
    }
    a1.terminate();
    a1.wait_exit(Duration::from_secs(10)).expect("r1 exits");
    let got: Vec<String> = std::fs::read_to_string(&calls).unwrap_or_default().lines().map(str::to_string).collect();
    let want: Vec<String> = ["BACKUP", "MASTER", "FAULT", "BACKUP", "MASTER", "STOP"].iter().map(|s| format!("GROUP G {s} 0")).collect();
    assert_eq!(got, want, "group notify calls in order");
}

fn has_route(lan: &Lan, host: &str, dest: &str) -> bool {
    let out = Command::new("ip").args(["-n", &lan.host(host).ns.name, "route", "show", dest]).output();
    out.map(|o| !o.stdout.is_empty()).unwrap_or(false)
}

#[test]
fn virtual_routes_follow_the_master() {
    if !require_root("virtual_routes_follow_the_master") {
        return;
    }
    let lan = two_routers("trkroute");
    let routes = "  virtual_routes {\n    198.19.5.0/24 via 198.18.0.254 dev eth0\n  }\n";
    let mut a1 = start(&lan, "r1", &instance("VI_1", 51, 100, VIP, routes));
    let a2 = start(&lan, "r2", &instance("VI_1", 51, 90, VIP, routes));
    wait_holder(&lan, &[&a1, &a2], VIP, "r1", STARTUP + mdi(90) + SLACK, "r1 (100) to be master");
    wait_for(Duration::from_secs(2), "the virtual route on r1", || has_route(&lan, "r1", "198.19.5.0/24").then_some(()))
        .expect("route on master");
    assert!(!has_route(&lan, "r2", "198.19.5.0/24"), "a backup must not have the virtual route");

    a1.terminate();
    wait_holder(&lan, &[&a2], VIP, "r2", mdi(90) + SLACK, "r2 to take over");
    wait_for(Duration::from_secs(2), "the virtual route on r2", || has_route(&lan, "r2", "198.19.5.0/24").then_some(()))
        .expect("route on new master");
    wait_for(Duration::from_secs(2), "the route gone from r1", || (!has_route(&lan, "r1", "198.19.5.0/24")).then_some(()))
        .expect("route removed from the old master");
}

#[test]
fn sighup_keeps_an_unchanged_trackers_state() {
    if !require_root("sighup_keeps_an_unchanged_trackers_state") {
        return;
    }
    let lan = two_routers("trkhup");
    let dir = ScratchDir::new("trkhup").expect("scratch dir");
    let flag = dir.join("down");
    let chk = dir
        .script("chk.sh", &format!("#!/bin/sh\n[ ! -e {} ]\n", flag.display()))
        .expect("script");
    let script = format!(
        "vrrp_script chk {{\n  script \"{}\"\n  interval 1\n  weight -20\n  fall 1\n  rise 3\n}}\n",
        chk.display()
    );
    let track = "  track_script {\n    chk\n  }\n";
    let mut a1 = start(&lan, "r1", &format!("{script}{}", instance("VI_1", 51, 100, VIP, track)));
    let a2 = start(&lan, "r2", &instance("VI_1", 51, 90, VIP, ""));
    wait_holder(&lan, &[&a1, &a2], VIP, "r1", STARTUP + mdi(90) + SLACK, "r1 (100) to be master");
    std::fs::write(&flag, "").expect("flag");
    let bound = script_delay(1, Duration::from_secs(1)) + mdi(90) + advert() + SLACK;
    wait_holder(&lan, &[&a1, &a2], VIP, "r2", bound, "r2 to take over from the failing r1");

    // The same file again: the failed tracker keeps its state (no new INIT, no flap back to
    // 100), the instance keeps running.
    a1.signal(libc::SIGHUP);
    wait_for(Duration::from_secs(5), "the reload to be logged", || a1.log_text().contains("SIGHUP: configuration reloaded").then_some(()))
        .expect("reloaded");
    // Two script intervals (a fresh INIT would have given a result by then) + 2 MDI.
    holds_for(Duration::from_secs(2) + mdi(100) * 2, "r2 holding the VIP, r1 at 80", || {
        let (h, p) = (holders(&lan, VIP), a1.status_json()["instances"][0]["priority"].as_u64());
        if h == ["r2"] && p == Some(80) { Ok(()) } else { Err(format!("holders {h:?}, r1 priority {p:?}\n{}", a1.log_tail(20))) }
    })
    .unwrap_or_else(|e| panic!("{e}"));
    let after = a1.log_text();
    let reload_at = after.find("SIGHUP: configuration reloaded").expect("reload line");
    assert!(!after[reload_at..].contains("Changing effective priority"), "{}", a1.log_tail(20));
}

#[test]
fn insecure_script_is_refused_under_enable_script_security() {
    if !require_root("insecure_script_is_refused_under_enable_script_security") {
        return;
    }
    use std::os::unix::fs::PermissionsExt as _;
    let lan = two_routers("trksec");
    let dir = ScratchDir::new("trksec").expect("scratch dir");
    // A directory anyone may write to (not sticky): anyone could replace the script.
    let open = dir.join("open");
    std::fs::create_dir(&open).expect("dir");
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let chk = open.join("chk.sh");
    std::fs::write(&chk, "#!/bin/sh\nexit 0\n").expect("script");
    std::fs::set_permissions(&chk, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let cfg = format!(
        "global_defs {{\n  enable_script_security\n  script_user root\n}}\n\
         vrrp_script chk {{\n  script \"{}\"\n  interval 1\n  weight 0\n}}\n{}",
        chk.display(),
        instance("VI_1", 51, 100, VIP, "  track_script {\n    chk\n  }\n")
    );
    let a1 = start(&lan, "r1", &cfg);
    let a2 = start(&lan, "r2", &instance("VI_1", 51, 90, VIP, ""));
    // As keepalived: the refused script is never run and is dropped from the instances that
    // track it, which run without it (its weight 0 does not hold r1 in FAULT for ever).
    wait_holder(&lan, &[&a1, &a2], VIP, "r1", STARTUP + mdi(90) + SLACK, "r1 master, the refused script dropped");
    let log = a1.log_text();
    let refusal = log.lines().find(|l| l.contains("vrrp_script chk") && l.contains("enable_script_security"));
    assert!(
        refusal.is_some_and(|l| l.contains("vrrp.conf:") && l.contains("writable")),
        "no located refusal in the log:\n{}",
        a1.log_tail(30)
    );
    assert!(log.contains("Tracked script chk disabled"), "{}", a1.log_tail(30));
}

#[test]
fn static_routes_live_with_the_agent_and_follow_sighup() {
    if !require_root("static_routes_live_with_the_agent_and_follow_sighup") {
        return;
    }
    let lan = two_routers("trkstat");
    let statics = |dests: &[&str]| -> String {
        let lines: String = dests.iter().map(|d| format!("  {d} via 198.18.0.254 dev eth0\n")).collect();
        format!("static_routes {{\n{lines}}}\n{}", instance("VI_1", 51, 90, VIP, ""))
    };
    // A backup: static routes do not depend on mastership.
    let mut a1 = start(&lan, "r1", &statics(&["198.19.7.0/24", "198.19.8.0/24"]));
    for d in ["198.19.7.0/24", "198.19.8.0/24"] {
        wait_for(STARTUP, "static route", || has_route(&lan, "r1", d).then_some(())).unwrap_or_else(|e| panic!("{e}: {d}\n{}", a1.log_tail(20)));
    }
    // The file now lists 8 and 9: 7 goes, 9 comes, 8 stays.
    std::fs::write(&a1.config, statics(&["198.19.9.0/24", "198.19.8.0/24"])).expect("rewrite");
    a1.signal(libc::SIGHUP);
    wait_for(Duration::from_secs(5), "the reload", || (has_route(&lan, "r1", "198.19.9.0/24") && !has_route(&lan, "r1", "198.19.7.0/24")).then_some(()))
        .unwrap_or_else(|e| panic!("{e}\n{}", a1.log_tail(20)));
    assert!(has_route(&lan, "r1", "198.19.8.0/24"), "an unchanged static route must stay");
    a1.terminate();
    a1.wait_exit(Duration::from_secs(10)).expect("agent exits");
    for d in ["198.19.8.0/24", "198.19.9.0/24"] {
        assert!(!has_route(&lan, "r1", d), "static route {d} left behind at exit");
    }
}

#[test]
fn a_sync_groups_own_track_interface_faults_every_member() {
    if !require_root("a_sync_groups_own_track_interface_faults_every_member") {
        return;
    }
    let lan = two_routers("trkgrpif");
    let r1 = lan.host("r1");
    r1.ns.ip(&["link", "add", "gl0", "type", "veth", "peer", "name", "gl1"]).expect("veth");
    for l in ["gl0", "gl1"] {
        r1.ns.ip(&["link", "set", l, "up"]).expect("up");
    }
    let g1 = "vrrp_sync_group G {\n  group {\n    VI_1\n    VI_2\n  }\n  track_interface {\n    gl0\n  }\n}\n";
    let g2 = "vrrp_sync_group G {\n  group {\n    VI_1\n    VI_2\n  }\n}\n";
    let c1 = format!("{g1}{}{}", instance("VI_1", 51, 100, VIP, ""), instance("VI_2", 52, 100, VIP2, ""));
    let c2 = format!("{g2}{}{}", instance("VI_1", 51, 90, VIP, ""), instance("VI_2", 52, 90, VIP2, ""));
    let a1 = start(&lan, "r1", &c1);
    let a2 = start(&lan, "r2", &c2);
    for v in [VIP, VIP2] {
        wait_holder(&lan, &[&a1, &a2], v, "r1", STARTUP + mdi(90) + SLACK, "r1 master of both");
    }
    r1.ns.ip(&["link", "set", "gl0", "down"]).expect("down");
    for v in [VIP, VIP2] {
        wait_holder(&lan, &[&a1, &a2], v, "r2", mdi(90) + advert() + SLACK, "r2 master of both");
    }
    r1.ns.ip(&["link", "set", "gl0", "up"]).expect("up");
    for v in [VIP, VIP2] {
        wait_holder(&lan, &[&a1, &a2], v, "r1", mdi(100) + advert() + SLACK, "r1 master of both again");
    }
}

#[test]
fn a_sync_group_with_split_priorities_stays_put_after_reloads() {
    if !require_root("a_sync_group_with_split_priorities_stays_put_after_reloads") {
        return;
    }
    let lan = two_routers("trkgrphup");
    let group = "vrrp_sync_group G {\n  group {\n    VI_1\n    VI_2\n  }\n}\n";
    let cfg = |p1: u8, p2: u8| format!("{group}{}{}", instance("VI_1", 51, p1, VIP, ""), instance("VI_2", 52, p2, VIP2, ""));
    let mut a1 = start(&lan, "r1", &cfg(100, 100));
    for v in [VIP, VIP2] {
        wait_holder(&lan, &[&a1], v, "r1", STARTUP + mdi(100) + SLACK, "r1 master of both");
    }
    let mut a2 = start(&lan, "r2", &cfg(90, 90));
    wait_for(STARTUP, "r2 in BACKUP", || {
        a2.try_status_json()
            .filter(|s| s["instances"].as_array().is_some_and(|a| a.len() == 2 && a.iter().all(|i| i["state"] == "BACKUP")))
            .map(|_| ())
    })
    .expect("r2 backup");
    // r1 reloads an unchanged file; r2's VI_1 now outranks r1's, its VI_2 does not. As in
    // keepalived, a member becomes master only when all of its group can (vrrp_sync.c
    // prefers BACKUP to thrashing): r2's VI_2 still hears a higher priority, so r2 stays
    // backup of both, and r1 keeps both VIPs without a flap.
    a1.signal(libc::SIGHUP);
    wait_for(Duration::from_secs(5), "r1's reload", || a1.log_text().contains("SIGHUP: configuration reloaded").then_some(()))
        .expect("reloaded");
    std::fs::write(&a2.config, cfg(110, 90)).expect("rewrite");
    a2.signal(libc::SIGHUP);
    wait_for(Duration::from_secs(5), "r2's reload", || a2.log_text().contains("SIGHUP: configuration reloaded").then_some(()))
        .expect("reloaded");
    holds_for(mdi(90) * 6 + SLACK, "r1 holding both VIPs", || match (holders(&lan, VIP), holders(&lan, VIP2)) {
        (a, b) if a == ["r1"] && b == ["r1"] => Ok(()),
        (a, b) => Err(format!("holders {a:?} / {b:?}\n{}\n-----\n{}", a1.log_tail(20), a2.log_tail(20))),
    })
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(!a2.log_text().contains("Entering MASTER"), "{}", a2.log_tail(20));
}
