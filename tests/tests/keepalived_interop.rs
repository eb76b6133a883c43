//! Interoperability with a real keepalived (2.2.7, `/usr/sbin/keepalived`): keepalived and
//! vrrp-agent share one VRID on a bridged LAN of network namespaces (two routers and a
//! client, VIP 198.18.0.100/24) and must elect, fail over and preempt each other, in VRRPv2
//! (PASS authentication, multicast and unicast) and VRRPv3 (500 ms adverts).
//!
//! Hosts: `ka` = 198.18.0.1 runs keepalived, `ours` = 198.18.0.2 runs vrrp-agent, `c` =
//! 198.18.0.10 is the client. Both routers read the same `keepalived.conf` text.
//!
//! Timing bounds are protocol-derived (RFC 3768/5798 §6.1): a backup takes over at most
//! Master_Down_Interval after the master's last advert, so at most that long after the master
//! dies, and at least Master_Down_Interval - Advert_Interval after it. A preempting router
//! takes the VIP at most its own Master_Down_Interval after its timers start (it ignores the
//! lower-priority master's adverts); for keepalived that start is its log line
//! `(VI_1) Entering BACKUP STATE (init)`, for our agent `(VI_1) Entering BACKUP STATE`, both
//! observed by polling the log. SLACK (250 ms, as in failover.rs) covers scheduling on a
//! shared 2-core machine, the 10 ms polling of `ip addr` and netlink latency. Process start
//! (keepalived parsing its config, our agent loading its XDP program) is bounded separately
//! by KA_STARTUP / STARTUP.
//!
//! keepalived's view of our packets is read from its log: it logs every advert it discards
//! and why (COMPLAINTS lists the 2.2.7 messages, taken from the binary's strings); our view
//! of its packets is read from `vrrp-agent status --json` (the XDP program's counters).
use std::{
    net::Ipv4Addr,
    path::PathBuf,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use vrrp_tests::{
    Agent, Keepalived, Lan, agent_binary, election, has_addr, lan, ping_once, require_root, spawn_agent, spawn_keepalived, wait_for,
};

const VIP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 100);
const KA_ADDR: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const OURS_ADDR: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
const CLIENT_ADDR: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 10);
const SLACK: Duration = Duration::from_millis(250);
/// Agent start-up: one deadline for every test (see the harness).
use vrrp_tests::election::STARTUP;
/// keepalived's startup (config, netlink, sockets) before its timers run; ~10 ms here.
const KA_STARTUP: Duration = Duration::from_secs(3);
const HIGH: u32 = 150;
const LOW: u32 = 100;

/// What keepalived 2.2.7 logs when it discards a VRRP packet or dislikes its contents
/// (`strings /usr/sbin/keepalived`, vrrp.c's receive path). None may appear about our adverts.
const COMPLAINTS: &[&str] = &[
    "vrrp packet too ",                    // "(%s) vrrp packet too %s, length %zu and expect %zu"
    "invalid TTL",                         // "(%s) invalid TTL/HL. Received %d and expect %d"
    "not in range",                        // "(%s) TTL/HL %d not in range %d - %d"
    "wrong version",                       // "(%s) wrong version. Received %d and expect %d"
    "auth, expecting",                     // "(%s) received a %d auth, expecting %d!"
    "invalid passwd",                      // "(%s) received an invalid passwd!"
    "advertisement interval mismatch",     // "(%s) advertisement interval mismatch mine=%u sec rcv'd=%d sec"
    "advertisement interval updated",      // v3: "(%s) advertisement interval updated from %ums to %ums by master"
    "changing advert interval",            // "(%s) changing advert interval from %ums to locally configured %ums"
    "Invalid packet type",                 // "(%s) Invalid packet type. %d and expect %d"
    "unexpected ip number count",          // "(%s) received an unexpected ip number count %u, expected %u!"
    "ip_tot_len mismatch",                 // "(%s) ip_tot_len mismatch against received length. ..."
    "icast packet but received",           // "(%s) Expected %sicast packet but received %sicast packet"
    "VIPs but received",                   // "(%s) expected %u VIPs but received %u"
    "ip address associated with VRID",     // "... not present in MASTER advert: %s"
    "not a unicast peer",                  // "(%s) unicast source address %s not a unicast peer"
    "Invalid VRRPv3 checksum",
    "Invalid VRRPv2 checksum",
    "Setting unicast VRRPv3 checksum to old version",
    "Unknown VRID",                        // "Unknown VRID(%d) received on interface(%s)..."
    "Discarding bogus packet",
    "recvmsg",                             // truncated / malformed receive
    "equal priority advert received",      // "... from remote host with our IP address"
    "CONFIGURATION ERROR",
    "AH header",                           // "(%s) Received AH header but auth type not AH"
];

fn cs(n: u32) -> Duration {
    Duration::from_millis(u64::from(n) * 10)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// One VRRP flavour both routers are configured with.
#[derive(Clone, Copy)]
struct Proto {
    version: u8,
    /// `advert_int` as written in the config.
    advert_int: &'static str,
    /// The same, in centiseconds.
    int_cs: u32,
    /// v2 only: `authentication { auth_type PASS auth_pass ... }`.
    auth: bool,
    /// `unicast_src_ip` (our own address) + `unicast_peer { the other router }`.
    unicast: bool,
}

const V2_PASS: Proto = Proto { version: 2, advert_int: "1", int_cs: 100, auth: true, unicast: false };
const V2_PASS_UNICAST: Proto = Proto { version: 2, advert_int: "1", int_cs: 100, auth: true, unicast: true };
const V3_500MS: Proto = Proto { version: 3, advert_int: "0.5", int_cs: 50, auth: false, unicast: false };

fn prio(p: u32) -> u8 {
    u8::try_from(p).unwrap_or(u8::MAX)
}

impl Proto {
    /// Master_Down_Interval (RFC 3768 / RFC 5798 §6.1), exact in microseconds as both our FSM
    /// and keepalived compute it (vrrp_common::timers, through the harness).
    fn mdi(&self, priority: u32) -> Duration {
        election::master_down_interval(self.version, prio(priority), self.int_cs as u16)
    }

    fn skew(&self, priority: u32) -> Duration {
        election::skew_time(self.version, prio(priority), self.int_cs as u16)
    }

    fn interval(&self) -> Duration {
        cs(self.int_cs)
    }

    /// The keepalived.conf both keepalived and our agent read; `me`/`peer` are only used
    /// for unicast.
    fn config(&self, priority: u32, me: Ipv4Addr, peer: Ipv4Addr) -> String {
        let auth = if self.auth {
            "  authentication {\n    auth_type PASS\n    auth_pass interop1\n  }\n".to_string()
        } else {
            String::new()
        };
        let unicast = if self.unicast {
            format!("  unicast_src_ip {me}\n  unicast_peer {{\n    {peer}\n  }}\n")
        } else {
            String::new()
        };
        format!(
            "global_defs {{\n  router_id interop_{me}\n}}\n\
             vrrp_instance VI_1 {{\n  state BACKUP\n  interface eth0\n  virtual_router_id 51\n  \
             priority {priority}\n  advert_int {}\n  version {}\n{auth}{unicast}  \
             virtual_ipaddress {{\n    {VIP}/24\n  }}\n}}\n",
            self.advert_int, self.version
        )
    }
}

fn interop_lan(test: &str) -> Lan {
    lan(test, &[("ka", KA_ADDR), ("ours", OURS_ADDR), ("c", CLIENT_ADDR)]).expect("lan")
}

fn holders(lan: &Lan) -> Vec<&'static str> {
    ["ka", "ours"].into_iter().filter(|n| has_addr(lan.host(n), VIP)).collect()
}

fn inst(st: &serde_json::Value) -> &serde_json::Value {
    &st["instances"][0]
}

fn u(v: &serde_json::Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

/// Every per-reason drop counter of our XDP program is zero (and nothing arrived for a VRID
/// we do not serve, nothing was lost on the way to the agent).
fn assert_no_drops(agent: &Agent, when: &str) {
    let st = agent.status_json();
    let counters = st["counters"].as_object().expect("counters object");
    let bad: Vec<String> = counters
        .iter()
        .filter(|(k, v)| (k.starts_with("drop_") || *k == "unknown_vrid" || *k == "events_lost") && u(v) != 0)
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    assert!(bad.is_empty(), "{when}: our XDP program dropped keepalived's adverts: {bad:?}\n{st:#}");
    assert_eq!(inst(&st)["adverts_dropped"].as_u64(), Some(0), "{when}: {st:#}");
}

/// The lines of keepalived's log that are complaints about received packets.
fn complaints(ka: &Keepalived) -> Vec<String> {
    ka.log_text().lines().filter(|l| COMPLAINTS.iter().any(|c| l.contains(c))).map(str::to_string).collect()
}

/// keepalived's log has none of its complaints about received packets.
fn assert_no_complaints(ka: &Keepalived, when: &str) {
    let bad = complaints(ka);
    assert!(bad.is_empty(), "{when}: keepalived complained about our adverts:\n{}", bad.join("\n"));
}

fn count(text: &str, needle: &str) -> usize {
    text.matches(needle).count()
}

/// Start keepalived and wait for it to enter BACKUP (its timers start then). Returns the
/// instance and when that line was first seen.
fn start_keepalived(lan: &Lan, cfg: &str) -> (Keepalived, Instant) {
    let started = Instant::now();
    let ka = spawn_keepalived(lan.host("ka"), cfg).expect("spawn keepalived");
    let t0 = wait_for(KA_STARTUP, "keepalived to enter BACKUP (init)", || {
        ka.log_text().contains("(VI_1) Entering BACKUP STATE").then(Instant::now)
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", ka.log_tail(30)));
    eprintln!("keepalived started in {:.0} ms", ms(t0 - started));
    (ka, t0)
}

/// Start our agent (with the XDP trace lines in its log, for the record) and wait for it to
/// enter BACKUP. Returns it and when that line was first seen.
fn start_ours(lan: &Lan, cfg: &str) -> (Agent, Instant) {
    let bin = agent_binary().expect("agent binary (cargo build --release -p vrrp-agent)");
    let started = Instant::now();
    let agent = spawn_agent(&bin, lan.host("ours"), cfg, &["--kernel-log", "debug", "--log", "info,vrrp_xdp=debug"]).expect("spawn agent");
    let t0 = wait_for(STARTUP, "our agent to enter BACKUP", || {
        agent.log_text().contains("(VI_1) Entering BACKUP STATE").then(Instant::now)
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", agent.log_tail(30)));
    eprintln!("our agent started in {:.0} ms", ms(t0 - started));
    (agent, t0)
}

/// After `lan.reconnect(name)`: wait until the host reaches the client again (its link is
/// up on both ends), so a router started now does not begin in FAULT.
fn wait_link(lan: &Lan, name: &str) {
    wait_for(Duration::from_secs(3), &format!("{name} to reach the client after reconnect"), || {
        ping_once(lan.host(name), CLIENT_ADDR).then_some(())
    })
    .expect("reconnected");
}

/// Our backup follows keepalived: BACKUP, master = keepalived's address, adverts accepted
/// and growing, nothing dropped. Returns the last status.
fn assert_ours_follows_keepalived(p: Proto, ours: &Agent) -> serde_json::Value {
    let st = wait_for(3 * p.interval() + SLACK, "our agent to accept keepalived's adverts", || {
        let st = ours.status_json();
        (u(&inst(&st)["adverts_accepted"]) > 0).then_some(st)
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", ours.log_tail(30)));
    let i = inst(&st);
    assert_eq!(i["state"].as_str(), Some("BACKUP"), "{st:#}");
    assert_eq!(i["master"].as_str(), Some("198.18.0.1"), "master is keepalived's address: {st:#}");
    assert_eq!(i["last_advert"]["src"].as_str(), Some("198.18.0.1"), "{st:#}");
    assert_eq!(u(&i["last_advert"]["priority"]), u64::from(HIGH), "{st:#}");
    assert_eq!(u(&i["last_advert"]["adver_int_cs"]), u64::from(p.int_cs), "{st:#}");
    let a0 = u(&i["adverts_accepted"]);
    // Three more adverts in at most three intervals.
    let st = wait_for(3 * p.interval() + SLACK, "adverts_accepted to grow by 3", || {
        let st = ours.status_json();
        (u(&inst(&st)["adverts_accepted"]) >= a0 + 3).then_some(st)
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", ours.log_tail(30)));
    assert_eq!(u(&inst(&st)["adverts_rx"]), u(&inst(&st)["adverts_accepted"]), "every advert received was accepted: {st:#}");
    assert_no_drops(ours, "our backup following keepalived");
    if p.version == 3 {
        // keepalived 2.2.7 always puts the IPv4 pseudo-header in VRRPv3 checksums.
        let i = inst(&st);
        assert!(u(&i["v3_checksum_pseudo"]) >= a0 + 3, "v3 adverts counted under v3_checksum_pseudo: {st:#}");
        assert_eq!(u(&i["v3_checksum_plain"]), 0, "none under v3_checksum_plain: {st:#}");
    }
    st
}

/// keepalived master (HIGH) + our backup (LOW): keepalived holds the VIP and we follow it;
/// keepalived dies → we take over within our Master_Down_Interval; keepalived comes back →
/// it preempts within its own Master_Down_Interval of entering BACKUP.
fn keepalived_master_ours_backup(test: &str, p: Proto) {
    let lan = interop_lan(test);
    let (mut ka, ka_t0) = start_keepalived(&lan, &p.config(HIGH, KA_ADDR, OURS_ADDR));
    let (ours, _) = start_ours(&lan, &p.config(LOW, OURS_ADDR, KA_ADDR));

    // keepalived started first and has the shorter Master_Down_Interval; even if ours won
    // a race, keepalived preempts it by then.
    let deadline = ka_t0 + p.mdi(HIGH) + SLACK;
    wait_for(deadline.saturating_duration_since(Instant::now()), "keepalived to be the only holder of the VIP", || {
        (holders(&lan) == ["ka"]).then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}\nkeepalived:\n{}\nours:\n{}", ka.log_tail(20), ours.log_tail(20)));
    assert!(ka.log_text().contains("(VI_1) Entering MASTER STATE"));
    assert_ours_follows_keepalived(p, &ours);
    assert!(ping_once(lan.host("c"), VIP), "client reaches the VIP on keepalived");

    // keepalived's host dies: SIGKILL (its VIP stays) and off the LAN.
    let killed = Instant::now();
    ka.kill();
    lan.isolate("ka").expect("isolate ka");
    let bound = p.mdi(LOW) + SLACK;
    let took = wait_for(bound + Duration::from_secs(2), "our agent to hold the VIP", || {
        has_addr(lan.host("ours"), VIP).then(Instant::now)
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", ours.log_tail(30)));
    let elapsed = took - killed;
    eprintln!(
        "[{test}] keepalived killed -> our agent holds the VIP after {:.0} ms (Master_Down_Interval {:.0} ms, bound {:.0} ms)",
        ms(elapsed),
        ms(p.mdi(LOW)),
        ms(bound)
    );
    assert!(elapsed <= bound, "takeover took {elapsed:?}, more than Master_Down_Interval + slack = {bound:?}");
    assert!(elapsed >= p.mdi(LOW) - p.interval(), "takeover too early: {elapsed:?}");
    wait_for(Duration::from_secs(3), "the client to reach the VIP on our agent", || ping_once(lan.host("c"), VIP).then_some(()))
        .expect("client reaches our agent");
    assert_eq!(inst(&ours.status_json())["state"].as_str(), Some("MASTER"));
    assert!(ours.log_text().contains("(VI_1) Entering MASTER STATE"));
    ka.wait_exit(Duration::from_secs(5)).expect("killed keepalived reaped");
    drop(ka);

    // keepalived comes back (preempt is keepalived's default): it ignores our lower-priority
    // adverts and takes over when its own Master_Down_Interval runs out.
    lan.reconnect("ka").expect("reconnect ka");
    wait_link(&lan, "ka");
    let (ka, ka_t0) = start_keepalived(&lan, &p.config(HIGH, KA_ADDR, OURS_ADDR));
    let bound = p.mdi(HIGH) + SLACK;
    let back = wait_for(bound + Duration::from_secs(2), "keepalived to preempt (sole holder, our agent BACKUP)", || {
        (holders(&lan) == ["ka"] && inst(&ours.status_json())["state"].as_str() == Some("BACKUP")).then(Instant::now)
    })
    .unwrap_or_else(|e| panic!("{e}\nkeepalived:\n{}\nours:\n{}", ka.log_tail(20), ours.log_tail(20)));
    let elapsed = back - ka_t0;
    eprintln!(
        "[{test}] keepalived restarted -> preempted our agent {:.0} ms after entering BACKUP (its Master_Down_Interval {:.0} ms, bound {:.0} ms)",
        ms(elapsed),
        ms(p.mdi(HIGH)),
        ms(bound)
    );
    assert!(elapsed <= bound, "keepalived's preemption took {elapsed:?}, bound {bound:?}");
    assert!(ours.log_text().contains("(VI_1) Entering BACKUP STATE (advert from 198.18.0.1 with higher priority 150)"), "{}", ours.log_tail(10));
    assert_ours_follows_keepalived(p, &ours);
    wait_for(Duration::from_secs(3), "the client to reach the VIP on keepalived again", || ping_once(lan.host("c"), VIP).then_some(()))
        .expect("client reaches keepalived");
    // While it was backup, keepalived validated our master's adverts.
    assert_no_complaints(&ka, "keepalived preempting our agent");
    assert_no_drops(&ours, "end of test");
}

/// Our master (HIGH) + keepalived backup (LOW): keepalived accepts our adverts (stays
/// BACKUP past its Master_Down_Interval, logs no complaint); our agent dies → keepalived
/// takes over within its Master_Down_Interval; our agent comes back → it preempts.
fn ours_master_keepalived_backup(test: &str, p: Proto) {
    let lan = interop_lan(test);
    let (mut ours, ours_t0) = start_ours(&lan, &p.config(HIGH, OURS_ADDR, KA_ADDR));
    wait_for(p.mdi(HIGH) + SLACK, "our agent to hold the VIP", || has_addr(lan.host("ours"), VIP).then_some(()))
        .unwrap_or_else(|e| panic!("{e}\n{}", ours.log_tail(30)));
    eprintln!("[{test}] our agent master {:.0} ms after entering BACKUP", ms(ours_t0.elapsed()));
    let (ka, ka_t0) = start_keepalived(&lan, &p.config(LOW, KA_ADDR, OURS_ADDR));

    // keepalived would be master after its Master_Down_Interval if it discarded our adverts:
    // sample for that long plus two intervals (bounded sampling, 50 ms).
    let until = ka_t0 + p.mdi(LOW) + 2 * p.interval();
    while Instant::now() < until {
        assert_eq!(holders(&lan), ["ours"], "VIP holders while our agent is master\nkeepalived:\n{}", ka.log_tail(20));
        std::thread::sleep(Duration::from_millis(50));
    }
    let log = ka.log_text();
    assert!(!log.contains("Entering MASTER STATE"), "keepalived became master: it ignored our adverts\n{log}");
    assert_no_complaints(&ka, "keepalived backup of our master");
    assert_eq!(inst(&ours.status_json())["state"].as_str(), Some("MASTER"));
    assert!(ping_once(lan.host("c"), VIP), "client reaches the VIP on our agent");

    // Our host dies.
    let killed = Instant::now();
    ours.kill();
    lan.isolate("ours").expect("isolate ours");
    let bound = p.mdi(LOW) + SLACK;
    let took = wait_for(bound + Duration::from_secs(2), "keepalived to hold the VIP", || has_addr(lan.host("ka"), VIP).then(Instant::now))
        .unwrap_or_else(|e| panic!("{e}\n{}", ka.log_tail(30)));
    let elapsed = took - killed;
    eprintln!(
        "[{test}] our agent killed -> keepalived holds the VIP after {:.0} ms (Master_Down_Interval {:.0} ms, bound {:.0} ms)",
        ms(elapsed),
        ms(p.mdi(LOW)),
        ms(bound)
    );
    assert!(elapsed <= bound, "keepalived's takeover took {elapsed:?}, more than Master_Down_Interval + slack = {bound:?}");
    assert!(elapsed >= p.mdi(LOW) - p.interval(), "keepalived took over too early: {elapsed:?}");
    assert!(ka.log_text().contains("(VI_1) Entering MASTER STATE"));
    wait_for(Duration::from_secs(3), "the client to reach the VIP on keepalived", || ping_once(lan.host("c"), VIP).then_some(()))
        .expect("client reaches keepalived");
    ours.wait_exit(Duration::from_secs(5)).expect("killed agent reaped");
    drop(ours);

    // Our agent comes back and preempts keepalived (it removes the VIP its predecessor left).
    lan.reconnect("ours").expect("reconnect ours");
    wait_link(&lan, "ours");
    let backups_before = count(&ka.log_text(), "Entering BACKUP STATE");
    let (ours, ours_t0) = start_ours(&lan, &p.config(HIGH, OURS_ADDR, KA_ADDR));
    let bound = p.mdi(HIGH) + SLACK;
    let back = wait_for(bound + Duration::from_secs(2), "our agent to preempt keepalived (sole holder)", || {
        (holders(&lan) == ["ours"]).then(Instant::now)
    })
    .unwrap_or_else(|e| panic!("{e}\nkeepalived:\n{}\nours:\n{}", ka.log_tail(20), ours.log_tail(20)));
    let elapsed = back - ours_t0;
    eprintln!(
        "[{test}] our agent restarted -> preempted keepalived {:.0} ms after entering BACKUP (Master_Down_Interval {:.0} ms, bound {:.0} ms)",
        ms(elapsed),
        ms(p.mdi(HIGH)),
        ms(bound)
    );
    assert!(elapsed <= bound, "our preemption took {elapsed:?}, bound {bound:?}");
    wait_for(SLACK, "keepalived to log BACKUP", || (count(&ka.log_text(), "Entering BACKUP STATE") > backups_before).then_some(()))
        .unwrap_or_else(|e| panic!("{e}\n{}", ka.log_tail(20)));
    wait_for(Duration::from_secs(3), "the client to reach the VIP on our agent again", || ping_once(lan.host("c"), VIP).then_some(()))
        .expect("client reaches our agent");
    // Ours, as master, also heard keepalived's adverts (before preempting): none dropped.
    assert_no_drops(&ours, "our agent preempting keepalived");
    if p.version == 3 {
        let st = ours.status_json();
        assert!(u(&inst(&st)["v3_checksum_pseudo"]) >= 1, "keepalived's adverts counted as pseudo-header: {st:#}");
        assert_eq!(u(&inst(&st)["v3_checksum_plain"]), 0, "{st:#}");
    }
    assert_no_complaints(&ka, "end of test");
    // Hold-on: keepalived stays backup over another Master_Down_Interval.
    let until = Instant::now() + p.mdi(LOW) + p.interval();
    while Instant::now() < until {
        assert_eq!(holders(&lan), ["ours"], "VIP holders after our preemption");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_no_complaints(&ka, "end of test");
}

// ---------------------------------------------------------------------------------------
// 1-4: both directions, v2 PASS, v3 500 ms, v2 unicast
// ---------------------------------------------------------------------------------------

#[test]
fn v2_pass_keepalived_master_our_backup_takes_over_and_yields() {
    if !require_root("v2_pass_keepalived_master_our_backup_takes_over_and_yields") {
        return;
    }
    vrrp_tests::install_ctrlc_cleanup();
    keepalived_master_ours_backup("kav2a", V2_PASS);
}

#[test]
fn v2_pass_our_master_keepalived_backup_takes_over_and_yields() {
    if !require_root("v2_pass_our_master_keepalived_backup_takes_over_and_yields") {
        return;
    }
    vrrp_tests::install_ctrlc_cleanup();
    ours_master_keepalived_backup("kav2b", V2_PASS);
}

#[test]
fn v3_500ms_keepalived_master_our_backup_takes_over_and_yields() {
    if !require_root("v3_500ms_keepalived_master_our_backup_takes_over_and_yields") {
        return;
    }
    vrrp_tests::install_ctrlc_cleanup();
    keepalived_master_ours_backup("kav3a", V3_500MS);
}

#[test]
fn v3_500ms_our_master_keepalived_backup_takes_over_and_yields() {
    if !require_root("v3_500ms_our_master_keepalived_backup_takes_over_and_yields") {
        return;
    }
    vrrp_tests::install_ctrlc_cleanup();
    ours_master_keepalived_backup("kav3b", V3_500MS);
}

#[test]
fn v2_unicast_keepalived_master_our_backup_takes_over_and_yields() {
    if !require_root("v2_unicast_keepalived_master_our_backup_takes_over_and_yields") {
        return;
    }
    vrrp_tests::install_ctrlc_cleanup();
    keepalived_master_ours_backup("kauni", V2_PASS_UNICAST);
}

// ---------------------------------------------------------------------------------------
// 5: the VRRPv3 checksum both ways
// ---------------------------------------------------------------------------------------

/// keepalived 2.2.7 always includes the IPv4 pseudo-header in VRRPv3 checksums (it has no
/// `v3_checksum_as_v2`; that keyword came later). Ours must send what it accepts and count
/// keepalived's adverts under `v3_checksum_pseudo`. Also: keepalived takes over after our
/// priority-0 advert (SIGTERM) within its Skew_Time.
#[test]
fn v3_checksum_pseudo_header_both_ways() {
    if !require_root("v3_checksum_pseudo_header_both_ways") {
        return;
    }
    vrrp_tests::install_ctrlc_cleanup();
    let p = V3_500MS;
    let lan = interop_lan("kacsum");
    let (mut ours, _) = start_ours(&lan, &p.config(HIGH, OURS_ADDR, KA_ADDR));
    wait_for(p.mdi(HIGH) + SLACK, "our agent to hold the VIP", || has_addr(lan.host("ours"), VIP).then_some(()))
        .unwrap_or_else(|e| panic!("{e}\n{}", ours.log_tail(30)));
    let (ka, ka_t0) = start_keepalived(&lan, &p.config(LOW, KA_ADDR, OURS_ADDR));
    // keepalived accepts our checksums: it stays BACKUP past its Master_Down_Interval.
    let until = ka_t0 + p.mdi(LOW) + 2 * p.interval();
    while Instant::now() < until {
        assert_eq!(holders(&lan), ["ours"], "keepalived must stay backup\n{}", ka.log_tail(20));
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!ka.log_text().contains("Invalid VRRPv3 checksum"), "{}", ka.log_text());
    assert_no_complaints(&ka, "keepalived backup of our v3 master");

    // Priority 0 on SIGTERM: keepalived takes over after Skew_Time.
    let terminated = Instant::now();
    ours.terminate();
    let bound = p.skew(LOW) + SLACK;
    wait_for(bound + Duration::from_secs(2), "keepalived to hold the VIP", || has_addr(lan.host("ka"), VIP).then_some(()))
        .unwrap_or_else(|e| panic!("{e}\n{}", ka.log_tail(20)));
    let elapsed = terminated.elapsed();
    eprintln!(
        "[kacsum] our agent SIGTERM (priority 0) -> keepalived holds the VIP after {:.0} ms (Skew_Time {:.0} ms, bound {:.0} ms)",
        ms(elapsed),
        ms(p.skew(LOW)),
        ms(bound)
    );
    assert!(elapsed <= bound, "hand-over to keepalived took {elapsed:?}, bound {bound:?}");
    assert!(ka.log_text().contains("(VI_1) Backup received priority 0 advertisement"), "{}", ka.log_tail(20));
    ours.wait_exit(Duration::from_secs(5)).expect("agent exits on SIGTERM");
    assert!(!has_addr(lan.host("ours"), VIP));
    drop(ours);

    // A low-priority agent now follows keepalived: its adverts count as pseudo-header ones.
    let (follower, _) = start_ours(&lan, &p.config(50, OURS_ADDR, KA_ADDR));
    let st = wait_for(6 * p.interval() + SLACK, "5 of keepalived's v3 adverts accepted", || {
        let st = follower.status_json();
        (u(&inst(&st)["adverts_accepted"]) >= 5).then_some(st)
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", follower.log_tail(30)));
    let i = inst(&st);
    eprintln!(
        "[kacsum] keepalived's v3 adverts at our backup: accepted {} pseudo {} plain {}",
        i["adverts_accepted"], i["v3_checksum_pseudo"], i["v3_checksum_plain"]
    );
    assert_eq!(i["master"].as_str(), Some("198.18.0.1"), "{st:#}");
    assert_eq!(u(&i["v3_checksum_plain"]), 0, "keepalived's adverts are never plain (RFC 9568) checksums: {st:#}");
    assert_eq!(u(&i["v3_checksum_pseudo"]), u(&i["adverts_accepted"]), "every accepted advert had a pseudo-header checksum: {st:#}");
    assert_no_drops(&follower, "follower of keepalived v3");
    assert_no_complaints(&ka, "end of test");
}

// ---------------------------------------------------------------------------------------
// 6: tshark decodes our adverts and validates their checksums
// ---------------------------------------------------------------------------------------

/// A bounded tshark capture of VRRP on a host's eth0, written to a pcap in a temp dir that is
/// removed on drop (kept when panicking). tshark is killed and reaped on drop.
struct Capture {
    child: std::process::Child,
    dir: PathBuf,
    pcap: PathBuf,
}

impl Capture {
    fn start(lan: &Lan, host: &str, packets: u32, max_secs: u32) -> Capture {
        let dir = std::env::temp_dir().join("vrrp-tests").join(format!("{}-tshark-{host}", lan.prefix));
        std::fs::create_dir_all(&dir).expect("capture dir");
        let pcap = dir.join("vrrp.pcap");
        let err = dir.join("tshark.err");
        let child = lan
            .host(host)
            .ns
            .cmd("tshark")
            .args(["-i", "eth0", "-n", "-q", "-f", "ip proto 112"])
            .args(["-c", &packets.to_string(), "-a", &format!("duration:{max_secs}"), "-w"])
            .arg(&pcap)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&err).expect("tshark stderr"))
            .spawn()
            .expect("tshark");
        wait_for(Duration::from_secs(10), "tshark to listen", || {
            std::fs::read_to_string(&err).ok().filter(|t| t.contains("Capturing on")).map(|_| ())
        })
        .unwrap_or_else(|e| panic!("{e}: {}", std::fs::read_to_string(&err).unwrap_or_default()));
        Capture { child, dir, pcap }
    }

    /// Wait for tshark to stop by itself (packet count or duration), bounded.
    fn finish(&mut self, timeout: Duration) {
        let child = &mut self.child;
        wait_for(timeout, "tshark to finish", || child.try_wait().ok().flatten()).expect("tshark finishes");
    }

    /// `tshark -r` with `-T fields`, one Vec per packet.
    fn fields(&self, prefs: &[&str], fields: &[&str]) -> Vec<Vec<String>> {
        let mut cmd = Command::new("tshark");
        cmd.arg("-r").arg(&self.pcap).args(["-n", "-Y", "vrrp", "-T", "fields", "-E", "separator=|", "-E", "occurrence=a", "-E", "aggregator=,"]);
        for p in prefs {
            cmd.args(["-o", p]);
        }
        for f in fields {
            cmd.args(["-e", f]);
        }
        let out = cmd.output().expect("tshark -r");
        assert!(out.status.success(), "tshark -r failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).lines().map(|l| l.split('|').map(str::to_string).collect()).collect()
    }

    fn verbose(&self, prefs: &[&str]) -> String {
        let mut cmd = Command::new("tshark");
        cmd.arg("-r").arg(&self.pcap).args(["-n", "-V", "-c", "1"]);
        for p in prefs {
            cmd.args(["-o", p]);
        }
        String::from_utf8_lossy(&cmd.output().expect("tshark -V").stdout).into_owned()
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

const TSHARK_FIELDS: &[&str] = &[
    "ip.src",
    "ip.dst",
    "ip.ttl",
    "vrrp.version",
    "vrrp.type",
    "vrrp.virt_rtr_id",
    "vrrp.prio",
    "vrrp.addr_count",
    "vrrp.ip_addr",
    "vrrp.checksum.status",
    "vrrp.auth_type",
    "vrrp.adver_int",
    "vrrp.auth_string",
    "vrrp.short_adver_int",
];

/// Capture `n` of our adverts on the client while our agent is the only router.
fn capture_our_adverts(test: &str, p: Proto, n: u32) -> (Lan, Capture) {
    let lan = interop_lan(test);
    let (ours, _) = start_ours(&lan, &p.config(HIGH, OURS_ADDR, KA_ADDR));
    wait_for(p.mdi(HIGH) + SLACK, "our agent to hold the VIP", || has_addr(lan.host("ours"), VIP).then_some(()))
        .unwrap_or_else(|e| panic!("{e}\n{}", ours.log_tail(30)));
    let max_secs = (n * p.int_cs).div_ceil(100) + 5;
    let mut cap = Capture::start(&lan, "c", n, max_secs);
    cap.finish(Duration::from_secs(u64::from(max_secs) + 5));
    drop(ours);
    (lan, cap)
}

#[test]
fn tshark_decodes_our_v2_and_v3_adverts_with_good_checksums() {
    if !require_root("tshark_decodes_our_v2_and_v3_adverts_with_good_checksums") {
        return;
    }
    vrrp_tests::install_ctrlc_cleanup();
    let defaults = String::from_utf8_lossy(&Command::new("tshark").args(["-G", "defaultprefs"]).output().expect("tshark -G").stdout).into_owned();
    // tshark 4.0: "#vrrp.v3_checksum_as_in_v2: FALSE" (FALSE = pseudo-header included).
    let pref = "vrrp.v3_checksum_as_in_v2";
    assert!(defaults.contains(pref), "tshark has no {pref} preference");

    // (status) 0 = Bad, 1 = Good, 2 = Unverified.
    for p in [V2_PASS, V3_500MS] {
        let n = 4;
        let (_lan, cap) = capture_our_adverts(&format!("ts{}", p.version), p, n);
        let as_v2 = format!("{pref}:FALSE");
        let rows = cap.fields(&[&as_v2], TSHARK_FIELDS);
        eprintln!("[tshark v{}] {} adverts: {:?}", p.version, rows.len(), rows.first());
        assert!(rows.len() >= n as usize, "captured {} adverts, want {n}:\n{}", rows.len(), cap.verbose(&[]));
        for r in &rows {
            let f = |name: &str| r[TSHARK_FIELDS.iter().position(|x| *x == name).expect("field")].as_str();
            assert_eq!(f("ip.src"), "198.18.0.2", "{r:?}");
            assert_eq!(f("ip.dst"), "224.0.0.18", "{r:?}");
            assert_eq!(f("ip.ttl"), "255", "{r:?}");
            assert_eq!(f("vrrp.version"), p.version.to_string(), "{r:?}");
            assert_eq!(f("vrrp.type"), "1", "{r:?}");
            assert_eq!(f("vrrp.virt_rtr_id"), "51", "{r:?}");
            assert_eq!(f("vrrp.prio"), HIGH.to_string(), "{r:?}");
            assert_eq!(f("vrrp.addr_count"), "1", "{r:?}");
            assert_eq!(f("vrrp.ip_addr"), "198.18.0.100", "{r:?}");
            assert_eq!(f("vrrp.checksum.status"), "1", "tshark says the checksum is not Good: {r:?}\n{}", cap.verbose(&[&as_v2]));
            if p.version == 2 {
                assert_eq!(f("vrrp.auth_type"), "1", "simple text password: {r:?}");
                assert_eq!(f("vrrp.adver_int"), "1", "{r:?}");
                assert_eq!(f("vrrp.auth_string"), "interop1", "{r:?}");
            } else {
                assert_eq!(f("vrrp.short_adver_int"), p.int_cs.to_string(), "{r:?}");
            }
        }
        if p.version == 3 {
            // Control: computed the RFC 9568 way (no pseudo-header) the same checksum is Bad,
            // so the Good above really checked the pseudo-header kind.
            let rows = cap.fields(&[&format!("{pref}:TRUE")], &["vrrp.checksum.status"]);
            assert!(rows.iter().all(|r| r[0] == "0"), "v3 checksum without pseudo-header should be Bad: {rows:?}");
        }
        let v = cap.verbose(&[&as_v2]);
        assert!(v.contains("Virtual Router Redundancy Protocol"), "{v}");
        assert!(v.contains("[Checksum Status: Good]"), "{v}");
    }
}

// ---------------------------------------------------------------------------------------
// Control: the checks above can fail
// ---------------------------------------------------------------------------------------

/// A PASS mismatch (ours "interop1", keepalived "mismatch"): keepalived must log a complaint
/// that COMPLAINTS catches (so `assert_no_complaints` is not vacuous: these lines do reach
/// its console log) and our XDP program must count keepalived's adverts under
/// `drop_auth_pass` (so `assert_no_drops` reads live counters). Both then claim the VIP, as
/// two routers that cannot authenticate each other must.
#[test]
fn control_pass_mismatch_is_reported_by_both_sides() {
    if !require_root("control_pass_mismatch_is_reported_by_both_sides") {
        return;
    }
    vrrp_tests::install_ctrlc_cleanup();
    let p = V2_PASS;
    let lan = interop_lan("kactl");
    let (ours, _) = start_ours(&lan, &p.config(HIGH, OURS_ADDR, KA_ADDR));
    wait_for(p.mdi(HIGH) + SLACK, "our agent to hold the VIP", || has_addr(lan.host("ours"), VIP).then_some(()))
        .unwrap_or_else(|e| panic!("{e}\n{}", ours.log_tail(30)));
    let (ka, ka_t0) = start_keepalived(&lan, &p.config(LOW, KA_ADDR, OURS_ADDR).replace("auth_pass interop1", "auth_pass mismatch"));
    wait_for(2 * p.interval() + SLACK, "keepalived to complain about our password", || {
        ka.log_text().contains("(VI_1) received an invalid passwd!").then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", ka.log_tail(20)));
    let found = complaints(&ka);
    assert!(found.iter().any(|l| l.contains("invalid passwd")), "COMPLAINTS missed it: {found:?}\n{}", ka.log_tail(10));
    // keepalived discards everything we send, so its master-down timer runs out.
    let deadline = ka_t0 + p.mdi(LOW) + SLACK;
    wait_for(deadline.saturating_duration_since(Instant::now()), "keepalived to claim the VIP too", || {
        has_addr(lan.host("ka"), VIP).then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", ka.log_tail(20)));
    let st = wait_for(p.interval() + SLACK, "our XDP program to drop keepalived's adverts (drop_auth_pass)", || {
        let st = ours.status_json();
        (u(&st["counters"]["drop_auth_pass"]) >= 1).then_some(st)
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", ours.log_tail(20)));
    assert_eq!(u(&inst(&st)["adverts_accepted"]), 0, "{st:#}");
    assert_eq!(inst(&st)["state"].as_str(), Some("MASTER"), "{st:#}");
    assert_eq!(holders(&lan), ["ka", "ours"]);
}
