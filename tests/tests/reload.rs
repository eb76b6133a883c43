//! SIGHUP reload as keepalived does it: unchanged instances keep running undisturbed (even if
//! their lines moved), removed ones stop and drop their VIPs, new ones start, and a config
//! with errors is refused while the running one stays.
use std::{net::Ipv4Addr, time::Duration};

use vrrp_tests::{Agent, Host, agent_binary, election, has_addr, lan, require_root, spawn_agent, wait_for};

/// Agent start-up: one deadline for every test (see the harness).
use vrrp_tests::election::STARTUP;

fn instance(name: &str, vrid: u8, vip: Ipv4Addr) -> String {
    // Priority 255: the address owner is master at once (RFC 5798 §6.4.1).
    format!(
        "vrrp_instance {name} {{\n  interface eth0\n  virtual_router_id {vrid}\n  priority 255\n  \
         advert_int 1\n  virtual_ipaddress {{\n    {vip}/24\n  }}\n}}\n"
    )
}

fn sighup(agent: &Agent) {
    // SAFETY: the agent is our child, alive (checked by the caller's waits).
    assert_eq!(unsafe { libc::kill(agent.pid as i32, libc::SIGHUP) }, 0);
}

fn names_in_status(agent: &Agent) -> Vec<String> {
    let bin = agent_binary().expect("agent binary");
    let out = std::process::Command::new(bin).args(["status", "--json", "--bpffs"]).arg(&agent.bpffs).output().expect("status");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    v["instances"].as_array().map(|a| a.iter().filter_map(|i| i["name"].as_str().map(str::to_string)).collect()).unwrap_or_default()
}

/// Polls until the agent logs `marker` a `n`th time, checking on every poll that `vip` is
/// still on `host` (it must never disappear during the reload).
fn reload_keeping(agent: &Agent, host: &Host, vip: Ipv4Addr, marker: &str, n: usize) {
    wait_for(Duration::from_secs(5), marker, || {
        assert!(has_addr(host, vip), "{vip} (an unchanged instance's VIP) disappeared during the reload");
        (agent.log_text().matches(marker).count() >= n).then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", agent.log_tail(20)));
}

#[test]
fn sighup_reload_keeps_unchanged_instances_and_applies_the_rest() {
    if !require_root("sighup_reload_keeps_unchanged_instances_and_applies_the_rest") {
        return;
    }
    let lan = lan("reload", &[("r1", Ipv4Addr::new(198, 18, 0, 1))]).expect("lan");
    let r1 = lan.host("r1");
    let (v1, v2, v3) = (Ipv4Addr::new(198, 18, 0, 100), Ipv4Addr::new(198, 18, 0, 101), Ipv4Addr::new(198, 18, 0, 102));
    let bin = agent_binary().expect("agent binary");
    let agent = spawn_agent(&bin, r1, &format!("{}{}", instance("VI_1", 51, v1), instance("VI_2", 52, v2)), &[]).expect("spawn");
    wait_for(STARTUP, "both owners to hold their VIPs", || (has_addr(r1, v1) && has_addr(r1, v2)).then_some(()))
        .unwrap_or_else(|e| panic!("{e}\n{}", agent.log_tail(20)));
    let entered_before = agent.log_text().matches("(VI_1) Entering").count();

    // VI_1 unchanged but two lines lower, VI_2 removed, VI_3 added.
    let next = format!("! edited\n! for the reload test\n{}{}", instance("VI_1", 51, v1), instance("VI_3", 53, v3));
    std::fs::write(&agent.config, next).expect("rewrite config");
    sighup(&agent);
    reload_keeping(&agent, r1, v1, "configuration reloaded: 1 instance(s) unchanged, 1 started, 1 stopped", 1);
    wait_for(Duration::from_secs(2), "VI_3 to hold its VIP", || has_addr(r1, v3).then_some(()))
        .unwrap_or_else(|e| panic!("{e}\n{}", agent.log_tail(20)));
    // VI_2 was master: it hands over make-before-break (priority 0, VIP kept until a
    // successor speaks). Alone on the LAN it hears none, so it lets go after its
    // Master_Down_Interval (priority 255, 1 s adverts: 3.004 s).
    assert!(has_addr(r1, v2), "a removed master keeps its VIP while it hands over");
    wait_for(election::master_down_interval(2, 255, 100) + Duration::from_millis(500), "VI_2 to stop and remove its VIP", || {
        (!has_addr(r1, v2) && agent.log_text().contains("(VI_2) Entering STOP STATE")).then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", agent.log_tail(20)));
    assert_eq!(agent.log_text().matches("(VI_1) Entering").count(), entered_before, "VI_1 was not restarted");
    let mut names = names_in_status(&agent);
    names.sort();
    assert_eq!(names, ["VI_1", "VI_3"], "status shows the running instances only");

    // A config with an error is refused; everything keeps running.
    std::fs::write(&agent.config, instance("VI_1", 51, v1).replace("priority 255", "priority 400")).expect("rewrite");
    sighup(&agent);
    reload_keeping(&agent, r1, v1, "the running configuration stays", 1);
    assert!(has_addr(r1, v3), "VI_3 keeps running after a refused reload");
}

#[test]
fn an_instance_with_errors_is_not_started_and_the_others_run() {
    if !require_root("an_instance_with_errors_is_not_started_and_the_others_run") {
        return;
    }
    let lan = lan("partial", &[("r1", Ipv4Addr::new(198, 18, 0, 1))]).expect("lan");
    let r1 = lan.host("r1");
    let (v1, v2) = (Ipv4Addr::new(198, 18, 0, 100), Ipv4Addr::new(198, 18, 0, 101));
    let bad = instance("VI_2", 52, v2).replace("priority 255", "priority 400");
    let bin = agent_binary().expect("agent binary");
    let agent = spawn_agent(&bin, r1, &format!("{}{bad}", instance("VI_1", 51, v1)), &[]).expect("spawn");
    wait_for(STARTUP, "VI_1 to run", || has_addr(r1, v1).then_some(())).unwrap_or_else(|e| panic!("{e}\n{}", agent.log_tail(20)));
    let log = agent.log_text();
    assert!(log.contains("vrrp.conf:13: error: priority 400"), "the error is located: {}", agent.log_tail(20));
    assert!(log.contains("vrrp_instance VI_2: not started"), "{}", agent.log_tail(20));
    assert!(!has_addr(r1, v2), "an instance with errors never takes its VIP");
    assert_eq!(names_in_status(&agent), ["VI_1"]);

    // On SIGHUP, an instance whose new version has errors keeps running as it was.
    std::fs::write(&agent.config, format!("{}{}", instance("VI_1", 51, v1).replace("priority 255", "priority 0"), instance("VI_3", 53, Ipv4Addr::new(198, 18, 0, 102)))).expect("rewrite");
    sighup(&agent);
    reload_keeping(&agent, r1, v1, "configuration reloaded: 1 instance(s) unchanged, 1 started, 0 stopped", 1);
    assert!(agent.log_text().contains("(VI_1) its new configuration has errors: it keeps running as before"));
}

/// Every kind of broken file, given by SIGHUP to a running agent: each gets a located error
/// in the log and changes nothing (the VIPs stay, no instance changes state or restarts,
/// status shows the same instances), and a good file reloads afterwards. keepalived reads
/// what it can of a broken file on reload; a demanding operator wants a mistake in the file
/// (a typo, a truncated or failed write, the wrong file) to leave the running routers alone.
#[test]
fn broken_files_on_reload_give_a_located_error_and_change_nothing() {
    if !require_root("broken_files_on_reload_give_a_located_error_and_change_nothing") {
        return;
    }
    let lan = lan("badreload", &[("r1", Ipv4Addr::new(198, 18, 0, 1))]).expect("lan");
    let r1 = lan.host("r1");
    let (v1, v2, v3) = (Ipv4Addr::new(198, 18, 0, 100), Ipv4Addr::new(198, 18, 0, 101), Ipv4Addr::new(198, 18, 0, 102));
    let good = format!("{}{}", instance("VI_1", 51, v1), instance("VI_2", 52, v2));
    let bin = agent_binary().expect("agent binary");
    let agent = spawn_agent(&bin, r1, &good, &[]).expect("spawn");
    wait_for(STARTUP, "both owners to hold their VIPs", || (has_addr(r1, v1) && has_addr(r1, v2)).then_some(()))
        .unwrap_or_else(|e| panic!("{e}\n{}", agent.log_tail(20)));
    let file = agent.config.file_name().expect("config file name").to_string_lossy().into_owned();
    let vi2 = instance("VI_2", 52, v2);
    let vi1_with = |from: &str, to: &str| format!("{}{vi2}", instance("VI_1", 51, v1).replace(from, to));
    // (what is wrong, the new content (None: the file is gone), what the log must say)
    let cases: Vec<(&str, Option<Vec<u8>>, String)> = vec![
        ("file missing", None, format!("{file}: cannot read configuration file")),
        ("truncated write", Some(good.as_bytes()[..good.len() - 12].to_vec()), format!("{file}:10: error: 'vrrp_instance VI_2' block opened here is never closed")),
        ("binary file", Some(b"! x\n\x7fELF\x02\x01\x01\0\0\0\0".to_vec()), format!("{file}:2: not a text file: NUL byte")),
        ("empty file", Some(Vec::new()), format!("{file}: no vrrp_instance to run")),
        ("priority out of range", Some(vi1_with("priority 255", "priority 400").into_bytes()), format!("{file}:4: error: priority 400")),
        ("VRID 0", Some(vi1_with("virtual_router_id 51", "virtual_router_id 0").into_bytes()), format!("{file}:3: error: virtual_router_id 0 is out of range")),
        ("bad VIP", Some(vi1_with("198.18.0.100/24", "198.18.0.300/24").into_bytes()), format!("{file}:7: error: bad address '198.18.0.300/24'")),
        ("undefined parameter", Some(vi1_with("priority 255", "priority $PRIO").into_bytes()), format!("{file}:4: error: priority '$PRIO' is not a number")),
        ("missing include", Some(format!("{good}include /nonexistent-vrrp-test/{file}.d/*.conf\ninclude missing.conf\n").into_bytes()), format!("{file}:20: error: include 'missing.conf'")),
    ];
    let outcome = |log: &str| ["the running configuration stays", "configuration reloaded:"].iter().map(|m| log.matches(m).count()).sum::<usize>();
    let entered = agent.log_text().matches(") Entering").count();
    for (what, content, says) in &cases {
        let before = outcome(&agent.log_text());
        match content {
            Some(bytes) => std::fs::write(&agent.config, bytes).expect("rewrite config"),
            None => std::fs::remove_file(&agent.config).expect("remove config"),
        }
        sighup(&agent);
        wait_for(Duration::from_secs(5), &format!("{what}: the reload's outcome in the log"), || (outcome(&agent.log_text()) > before).then_some(()))
            .unwrap_or_else(|e| panic!("{e}\n{}", agent.log_tail(20)));
        let log = agent.log_text();
        assert!(log.contains(says.as_str()), "{what}: the log says {says:?}:\n{}", agent.log_tail(12));
        assert!(has_addr(r1, v1) && has_addr(r1, v2), "{what}: both VIPs stay:\n{}", agent.log_tail(12));
        assert_eq!(log.matches(") Entering").count(), entered, "{what}: no instance changed state:\n{}", agent.log_tail(12));
        let mut names = names_in_status(&agent);
        names.sort();
        assert_eq!(names, ["VI_1", "VI_2"], "{what}: status shows the same instances");
        eprintln!("{what}: {}", log.lines().find(|l| l.contains(says.as_str())).unwrap_or_default());
    }
    // Reload still works: a good file with VI_3 added is applied.
    std::fs::write(&agent.config, format!("{good}{}", instance("VI_3", 53, v3))).expect("rewrite config");
    sighup(&agent);
    reload_keeping(&agent, r1, v1, "configuration reloaded: 2 instance(s) unchanged, 1 started, 0 stopped", 1);
    wait_for(Duration::from_secs(2), "VI_3 to hold its VIP", || has_addr(r1, v3).then_some(())).unwrap_or_else(|e| panic!("{e}\n{}", agent.log_tail(20)));
}
