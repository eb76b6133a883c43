//! keepalived's process settings for its VRRP process, read by the agent from `global_defs`
//! and checked on the running agent in /proc: `vrrp_rt_priority` (SCHED_RR, its scripts
//! back at SCHED_OTHER), `vrrp_rlimit_rttime`, `vrrp_no_swap`, `vrrp_cpu_affinity` and,
//! without a real-time priority, `vrrp_priority` (nice).
use std::{net::Ipv4Addr, path::Path};

use vrrp_tests::{ScratchDir, agent_binary, election::STARTUP, has_addr, lan, require_root, spawn_agent, wait_for};

const VIP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 100);

fn config(global: &str, notify_master: &Path) -> String {
    // Priority 255: the address owner is master at once, and its notify script runs.
    format!(
        "global_defs {{\n{global}\n}}\nvrrp_instance VI_1 {{\n  interface eth0\n  virtual_router_id 51\n  priority 255\n  \
         advert_int 1\n  notify_master {}\n  virtual_ipaddress {{\n    {VIP}/24\n  }}\n}}\n",
        notify_master.display()
    )
}

/// Fields of /proc/PID/stat after the command name, numbered as proc(5) numbers them.
fn stat_field(stat: &str, n: usize) -> i64 {
    let rest = &stat[stat.rfind(')').expect("comm") + 2..];
    rest.split_whitespace().nth(n - 3).and_then(|f| f.parse().ok()).unwrap_or_else(|| panic!("field {n} of {stat:?}"))
}

fn proc_line<'a>(text: &'a str, key: &str) -> &'a str {
    text.lines().find(|l| l.starts_with(key)).unwrap_or_else(|| panic!("{key} in {text}"))
}

const POLICY: usize = 41;
const RT_PRIORITY: usize = 40;
const NICE: usize = 19;
const SCHED_RR: i64 = 2;

#[test]
fn realtime_priority_memory_lock_affinity_and_rttime_limit_apply_to_the_agent_not_its_scripts() {
    if !require_root("realtime_priority_memory_lock_affinity_and_rttime_limit_apply_to_the_agent_not_its_scripts") {
        return;
    }
    let lan = lan("schedrt", &[("r1", Ipv4Addr::new(198, 18, 0, 1))]).expect("lan");
    let r1 = lan.host("r1");
    let dir = ScratchDir::new("schedrt").expect("scratch dir");
    let out = dir.join("script.stat");
    let script = dir.script("master.sh", &format!("#!/bin/sh\ncat /proc/$$/stat > {0}.tmp && mv {0}.tmp {0}\n", out.display())).expect("script");
    let global = " vrrp_rt_priority 10\n vrrp_rlimit_rttime 40000\n vrrp_no_swap\n vrrp_cpu_affinity 0";
    let bin = agent_binary().expect("agent binary");
    let agent = spawn_agent(&bin, r1, &config(global, &script), &[]).expect("spawn");
    wait_for(STARTUP, "the master to hold its VIP and run its notify script", || (has_addr(r1, VIP) && out.exists()).then_some(()))
        .unwrap_or_else(|e| panic!("{e}\n{}", agent.log_tail(20)));
    let log = agent.log_text();
    assert!(log.contains("real-time scheduling: SCHED_RR priority 10; at most 40000 us of CPU without blocking (warned at 20000 us)"), "{}", agent.log_tail(20));

    let stat = std::fs::read_to_string(format!("/proc/{}/stat", agent.pid)).expect("agent stat");
    assert_eq!((stat_field(&stat, POLICY), stat_field(&stat, RT_PRIORITY)), (SCHED_RR, 10), "the agent runs SCHED_RR at 10: {stat}");
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", agent.pid)).expect("agent limits");
    let rttime: Vec<&str> = proc_line(&limits, "Max realtime timeout").split_whitespace().collect();
    assert_eq!(rttime[3..], ["20000", "40000", "us"], "RLIMIT_RTTIME soft = half, hard = vrrp_rlimit_rttime: {limits}");
    let status = std::fs::read_to_string(format!("/proc/{}/status", agent.pid)).expect("agent status");
    assert_eq!(proc_line(&status, "Cpus_allowed_list:").split_whitespace().nth(1), Some("0"), "{status}");
    let locked_kb: u64 = proc_line(&status, "VmLck:").split_whitespace().nth(1).and_then(|v| v.parse().ok()).expect("VmLck");
    assert!(locked_kb > 0, "vrrp_no_swap locks the agent's memory: {}", proc_line(&status, "VmLck:"));

    // The notify script: an ordinary process (SCHED_RESET_ON_FORK), whatever the agent runs at.
    let child = std::fs::read_to_string(&out).expect("script stat");
    assert_eq!((stat_field(&child, POLICY), stat_field(&child, RT_PRIORITY)), (0, 0), "the script runs SCHED_OTHER: {child}");
    assert!(agent.log_text().matches("Entering").count() == 1, "one state change, no trouble: {}", agent.log_tail(20));
}

#[test]
fn vrrp_priority_sets_the_agents_nice_value() {
    if !require_root("vrrp_priority_sets_the_agents_nice_value") {
        return;
    }
    let lan = lan("schednice", &[("r1", Ipv4Addr::new(198, 18, 0, 1))]).expect("lan");
    let r1 = lan.host("r1");
    let dir = ScratchDir::new("schednice").expect("scratch dir");
    let script = dir.script("master.sh", "#!/bin/sh\nexit 0\n").expect("script");
    let bin = agent_binary().expect("agent binary");
    let agent = spawn_agent(&bin, r1, &config(" vrrp_priority -5", &script), &[]).expect("spawn");
    wait_for(STARTUP, "the master to hold its VIP", || has_addr(r1, VIP).then_some(())).unwrap_or_else(|e| panic!("{e}\n{}", agent.log_tail(20)));
    wait_for(STARTUP, "the agent to log its priority", || agent.log_text().contains("process priority (nice) -5").then_some(()))
        .unwrap_or_else(|e| panic!("{e}\n{}", agent.log_tail(20)));
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", agent.pid)).expect("agent stat");
    assert_eq!((stat_field(&stat, NICE), stat_field(&stat, POLICY)), (-5, 0), "nice -5, SCHED_OTHER: {stat}");
}

/// How many instances the RTTIME test runs: setting them all up again on a reload, or
/// stopping them all, is far more CPU than RLIMIT_RTTIME's default 10 ms (about 0.5 ms each
/// here), so an agent that never blocks in between is killed by the kernel.
const MANY: u8 = 100;

fn many_instances(priority: u8) -> String {
    let mut c = String::from("global_defs {\n vrrp_rt_priority 10\n vrrp_rlimit_rttime 2000000\n}\n");
    for vrid in 1..=MANY {
        c += &format!(
            "vrrp_instance VI_{vrid} {{\n  interface eth0\n  virtual_router_id {vrid}\n  priority {priority}\n  advert_int 1\n  \
             virtual_ipaddress {{\n    198.18.1.{vrid}/24\n  }}\n}}\n"
        );
    }
    c
}

/// keepalived's default `vrrp_rlimit_rttime` (10 ms) with `vrrp_rt_priority`: the kernel
/// kills a real-time task that runs that long without blocking (with no SIGXCPU first at
/// HZ=250: the check comes at the third tick, past both limits). A reload that sets up 100
/// instances again, and a shutdown that stops them, are each several times that much CPU;
/// the agent blocks for a moment whenever it has run a tenth of the limit without
/// blocking, so it survives both. (Found as an agent killed by SIGKILL in the middle of a
/// reload hand-over, on a loaded machine, with a single instance.)
#[test]
fn a_realtime_agent_survives_reloading_and_stopping_many_instances_under_the_default_rttime_limit() {
    if !require_root("a_realtime_agent_survives_reloading_and_stopping_many_instances_under_the_default_rttime_limit") {
        return;
    }
    let lan = lan("schedmany", &[("r1", Ipv4Addr::new(198, 18, 0, 1))]).expect("lan");
    let r1 = lan.host("r1");
    let bin = agent_binary().expect("agent binary");
    let mut agent = spawn_agent(&bin, r1, &many_instances(100), &[]).expect("spawn");
    let backups = |a: &vrrp_tests::Agent, n: usize| a.log_text().matches("Entering BACKUP STATE").count() >= n;
    wait_for(STARTUP, "every instance in BACKUP", || backups(&agent, MANY.into()).then_some(()))
        .unwrap_or_else(|e| panic!("{e}\n{}", agent.log_tail(20)));
    assert!(agent.log_text().contains("real-time scheduling: SCHED_RR priority 10; at most "), "{}", agent.log_tail(20));
    for round in 1..=3u8 {
        // A new priority changes every instance: each is stopped and set up again.
        std::fs::write(&agent.config, many_instances(100 - round)).expect("rewrite the config");
        agent.signal(libc::SIGHUP);
        let reloaded = usize::from(round);
        wait_for(STARTUP, &format!("reload {round} to finish"), || {
            let log = agent.log_text();
            (log.matches("SIGHUP: configuration reloaded").count() >= reloaded || !agent.is_running()).then_some(())
        })
        .unwrap_or_else(|e| panic!("{e}\n{}", agent.log_tail(20)));
        assert!(agent.is_running(), "the agent died in reload {round} ({})\n{}", agent.liveness(), agent.log_tail(20));
        assert!(agent.log_text().contains(&format!("{MANY} started")), "reload {round} restarted every instance\n{}", agent.log_tail(5));
    }
    agent.terminate();
    let st = agent.wait_exit(STARTUP).unwrap_or_else(|e| panic!("{e}\n{}", agent.log_tail(20)));
    assert!(st.success(), "stopping {MANY} instances ends the agent cleanly, not killed: {st}\n{}", agent.log_tail(20));
    let log = agent.log_text();
    assert!(!log.contains("without blocking (half of"), "no SIGXCPU either\n{}", agent.log_tail(20));
    for vrid in [1, MANY] {
        assert!(!has_addr(r1, Ipv4Addr::new(198, 18, 1, vrid)), "no VIP left behind");
    }
}
