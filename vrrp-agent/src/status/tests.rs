#![expect(clippy::unwrap_used, reason = "tests")]
use super::publish::{TrackerLedger, instance_priority, tracker_of};
use super::*;
use crate::config::Config;
use crate::core::priority::{Contribution, Verdict};
use crate::core::tracker::Trackers;
use crate::health::{HealthEvent, ScriptOutcome};

const SEC: u64 = 1_000_000_000;

fn cfg(text: &str) -> Config {
    crate::config::parse_str(text, "t.conf", &Default::default()).unwrap().config
}

const CONF: &str = r#"
vrrp_script chk {
    script "/bin/true"
    rise 2
    fall 2
}
vrrp_track_file tf {
    file /tmp/x
}
vrrp_track_process tp {
    process sleepy
    quorum 2
    quorum_max 3
    delay 1
}
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 1
    priority 100
    virtual_ipaddress { 198.18.0.10/24 }
    track_interface { eth1 weight 10 }
    track_script { chk }
    track_file { tf }
    track_process { tp }
}
"#;

/// A reading through both the ledger and the core, as the driver does it; the new record.
fn feed(ledger: &mut TrackerLedger, trackers: &mut Trackers, now: u64, ev: HealthEvent) -> TrackerStatus {
    ledger.record_health(now, &ev);
    trackers.handle_health(now, &ev).unwrap();
    let (kind, name) = tracker_of(&ev);
    ledger.update(now, kind, name, trackers).unwrap()
}

fn script(outcome: ScriptOutcome) -> HealthEvent {
    HealthEvent::Script { name: "chk".into(), outcome }
}

#[test]
fn every_tracker_starts_in_init_with_its_limits() {
    let c = cfg(CONF);
    let trackers = Trackers::new(&c);
    let mut ledger = TrackerLedger::new(&c, 10);
    let all = ledger.all(10, &trackers);
    let names: Vec<(TrackKind, &str)> = all.iter().map(|(k, n, _)| (*k, n.as_str())).collect();
    assert_eq!(
        names,
        vec![(TrackKind::Interface, "eth1"), (TrackKind::Script, "chk"), (TrackKind::File, "tf"), (TrackKind::Process, "tp")]
    );
    for (kind, _, st) in &all {
        assert_eq!(st.state, tracker_state::INIT, "{kind}");
        assert_eq!((st.since_ns, st.transitions, st.runs, st.updated_ns), (10, 0, 0, 0), "{kind}");
        assert_eq!(st.kind, crate::dataplane::tracker_kind_code(*kind));
        assert_eq!(st.pid, std::process::id());
    }
    let chk = all.iter().find(|(k, _, _)| *k == TrackKind::Script).unwrap().2;
    assert_eq!((chk.rise, chk.fall, chk.value), (2, 2, 1), "INIT sits at rise - 1");
    let tp = all.iter().find(|(k, _, _)| *k == TrackKind::Process).unwrap().2;
    assert_eq!((tp.quorum, tp.quorum_max), (2, 3));
}

#[test]
fn script_runs_failures_and_timeouts_are_counted_and_state_changes_dated() {
    let c = cfg(CONF);
    let mut trackers = Trackers::new(&c);
    let mut ledger = TrackerLedger::new(&c, 0);

    let st = feed(&mut ledger, &mut trackers, SEC, script(ScriptOutcome::Success));
    assert_eq!((st.state, st.value, st.transitions, st.since_ns), (tracker_state::UP, 3, 1, SEC));
    assert_eq!((st.runs, st.last_outcome, st.last_exit, st.updated_ns), (1, script_outcome::SUCCESS, 0, SEC));

    // One failure: still up (result 3 -> 2), no transition, `since` unchanged.
    let st = feed(&mut ledger, &mut trackers, 2 * SEC, script(ScriptOutcome::Failed(Some(3))));
    assert_eq!((st.state, st.value, st.transitions, st.since_ns), (tracker_state::UP, 2, 1, SEC));
    assert_eq!((st.failures, st.last_outcome, st.last_exit), (1, script_outcome::FAILED, 3));

    // The second (a timeout) takes it down.
    let st = feed(&mut ledger, &mut trackers, 3 * SEC, script(ScriptOutcome::TimedOut));
    assert_eq!((st.state, st.value, st.transitions, st.since_ns), (tracker_state::DOWN, 0, 2, 3 * SEC));
    assert_eq!((st.failures, st.timeouts, st.last_outcome), (1, 1, script_outcome::TIMED_OUT));

    let st = feed(&mut ledger, &mut trackers, 4 * SEC, script(ScriptOutcome::NotRun));
    assert_eq!((st.not_run, st.last_outcome, st.state, st.transitions), (1, script_outcome::NOT_RUN, tracker_state::DOWN, 2));
    let st = feed(&mut ledger, &mut trackers, 5 * SEC, script(ScriptOutcome::Failed(None)));
    assert_eq!((st.failures, st.last_outcome, st.runs), (2, script_outcome::SIGNALLED, 5));
}

#[test]
fn file_value_changes_are_transitions_and_process_delays_show_as_pending() {
    let c = cfg(CONF);
    let mut trackers = Trackers::new(&c);
    let mut ledger = TrackerLedger::new(&c, 0);
    let file = |v| HealthEvent::File { name: "tf".into(), value: v };
    let st = feed(&mut ledger, &mut trackers, SEC, file(5));
    assert_eq!((st.state, st.value, st.transitions), (tracker_state::VALUE, 5, 1));
    let st = feed(&mut ledger, &mut trackers, 2 * SEC, file(5));
    assert_eq!((st.transitions, st.since_ns, st.runs), (1, SEC, 2), "same value: a reading, no change");
    let st = feed(&mut ledger, &mut trackers, 3 * SEC, file(-3));
    assert_eq!((st.value, st.transitions, st.since_ns), (-3, 2, 3 * SEC));

    let procs = |n| HealthEvent::Process { name: "tp".into(), count: n };
    let st = feed(&mut ledger, &mut trackers, SEC, procs(2));
    assert_eq!((st.state, st.value, st.flags), (tracker_state::UP, 2, 0), "first scan takes effect at once");
    // Below the quorum: lost only after the 1 s delay.
    let st = feed(&mut ledger, &mut trackers, 2 * SEC, procs(1));
    assert_eq!((st.state, st.value, st.flags), (tracker_state::UP, 1, tracker_flags::PENDING));
    trackers.handle_timeout(3 * SEC);
    let st = ledger.update(3 * SEC, TrackKind::Process, "tp", &trackers).unwrap();
    assert_eq!((st.state, st.flags, st.transitions, st.since_ns), (tracker_state::DOWN, 0, 2, 3 * SEC));
}

#[test]
fn links_unknown_trackers_and_reloads() {
    let c = cfg(CONF);
    let mut trackers = Trackers::new(&c);
    let mut ledger = TrackerLedger::new(&c, 0);
    ledger.record_link(SEC, "eth1");
    ledger.record_link(SEC, "eth9");
    trackers.handle_link(SEC, "eth1", false);
    let st = ledger.update(SEC, TrackKind::Interface, "eth1", &trackers).unwrap();
    assert_eq!((st.state, st.value, st.runs, st.transitions), (tracker_state::DOWN, 0, 1, 1));
    assert!(ledger.update(SEC, TrackKind::Interface, "eth9", &trackers).is_none(), "untracked link");
    // A reading for a tracker nobody defined is left to the core to count.
    ledger.record_health(SEC, &HealthEvent::Script { name: "nope".into(), outcome: ScriptOutcome::Success });
    assert!(ledger.update(SEC, TrackKind::Script, "nope", &trackers).is_none());
    feed(&mut ledger, &mut trackers, SEC, script(ScriptOutcome::Success));

    // Reload: the file tracker goes, a script comes, chk keeps its counters.
    let text = CONF.replace("vrrp_track_file tf {\n    file /tmp/x\n}", "vrrp_script chk2 {\n    script \"/bin/true\"\n}")
        .replace("track_file { tf }", "");
    let c2 = cfg(&text);
    let gone = ledger.reload(&c2, 5 * SEC);
    assert_eq!(gone, vec![(TrackKind::File, "tf".to_string())]);
    let trackers = trackers.reload(&c, &c2);
    let all = ledger.all(5 * SEC, &trackers);
    let chk = all.iter().find(|(_, n, _)| n == "chk").unwrap().2;
    assert_eq!((chk.runs, chk.state, chk.transitions), (1, tracker_state::UP, 1));
    let chk2 = all.iter().find(|(_, n, _)| n == "chk2").unwrap().2;
    assert_eq!((chk2.runs, chk2.state, chk2.since_ns, chk2.rise, chk2.fall), (0, tracker_state::INIT, 5 * SEC, 1, 1));
}

fn fault(kind: TrackKind, name: &str, why: FaultWhy) -> FaultSource {
    FaultSource { kind, name: name.into(), why }
}

#[test]
fn instance_priority_lists_faults_then_holds_then_weights() {
    let mut verdict = Verdict {
        base: 100,
        total: 70,
        priority: 70,
        contributions: vec![Contribution { kind: TrackKind::Script, name: "chk_http".into(), delta: -30 }],
        faults: vec![],
        waiting: vec![],
    };
    let p = instance_priority(&verdict, Some("G1"), 7);
    assert_eq!((p.base_priority, p.effective_priority, p.total_priority), (100, 70, 70));
    assert_eq!((p.tracker_fault, p.faults, p.waiting, p.contributions, p.updated_ns), (tracker_fault::CLEAR, 0, 0, 1, 7));
    let v = tracking_view(&p);
    assert_eq!(v.sync_group.as_deref(), Some("G1"));
    assert_eq!(
        v.reasons,
        vec![ReasonView { kind: "script", name: "chk_http".into(), effect: "weight", delta: -30, text: "script chk_http -30".into() }]
    );

    verdict.faults = vec![
        fault(TrackKind::File, "tf", FaultWhy::FileStatus(-300)),
        fault(TrackKind::Interface, "eth1", FaultWhy::UpReversed),
        fault(TrackKind::Process, "tp", FaultWhy::Down),
    ];
    verdict.waiting = vec![(TrackKind::Script, "chk0".into())];
    verdict.contributions.extend((0..6).map(|i| Contribution { kind: TrackKind::File, name: format!("w{i}"), delta: i }));
    verdict.total = -200;
    verdict.priority = 1;
    let v = tracking_view(&instance_priority(&verdict, None, 8));
    assert_eq!(v.tracker_fault, "FAULT");
    assert_eq!((v.trackers_in_fault, v.trackers_waiting, v.weighted_trackers), (3, 1, 7));
    let texts: Vec<&str> = v.reasons.iter().map(|r| r.text.as_str()).collect();
    assert_eq!(
        texts,
        vec![
            "tracked file tf has status -300",
            "interface eth1 up (reverse)",
            "tracked process tp quorum not achieved",
            "script chk0 has no result yet",
            "script chk_http -30",
            "file w0 +0",
            "file w1 +1",
            "file w2 +2",
        ]
    );
    assert_eq!(v.reasons[0].delta, -300);
    assert_eq!(v.reasons_omitted, 3, "11 reasons, 8 fit");
    assert_eq!(v.sync_group, None);

    verdict.faults.clear();
    assert_eq!(tracking_view(&instance_priority(&verdict, None, 9)).tracker_fault, "INIT_HOLD");
}

fn status_of(kind: u32, state: u32, value: i64) -> TrackerStatus {
    TrackerStatus { kind, state, value, since_ns: SEC, pid: 42, quorum_max: u32::MAX, ..TrackerStatus::default() }
}

#[test]
fn tracker_view_names_kind_state_and_ages() {
    let key = TrackerKey::new(vrrp_common::tracker_kind::SCRIPT, "chk_http");
    let st = TrackerStatus {
        updated_ns: 3 * SEC,
        rise: 2,
        fall: 3,
        failures: 4,
        last_outcome: script_outcome::FAILED,
        last_exit: 2,
        flags: tracker_flags::RELOADED,
        ..status_of(vrrp_common::tracker_kind::SCRIPT, tracker_state::DOWN, 0)
    };
    let v = tracker_view(&key, &st, 13 * SEC + 500_000, false);
    assert_eq!((v.name.as_str(), v.kind, v.state, v.value), ("chk_http", "script", "DOWN", 0));
    assert_eq!((v.since_ms, v.last_reading_ms), (Some(12_000), Some(10_000)));
    assert_eq!((v.rise, v.fall, v.quorum, v.quorum_max), (Some(2), Some(3), None, None));
    assert_eq!((v.failures, v.last_result.as_deref(), v.reloaded, v.pending), (4, Some("exit 2"), true, false));
    assert_eq!((v.agent_pid, v.agent_running), (42, false));
    let json = serde_json::to_value(&v).unwrap();
    assert!(json.get("quorum").is_none(), "no process fields on a script: {json}");

    let key = TrackerKey::new(vrrp_common::tracker_kind::PROCESS, "tp");
    let v = tracker_view(&key, &TrackerStatus { quorum: 2, ..status_of(vrrp_common::tracker_kind::PROCESS, tracker_state::UP, 3) }, SEC, true);
    assert_eq!((v.kind, v.quorum, v.quorum_max, v.rise), ("process", Some(2), None, None));
    assert_eq!((v.last_reading_ms, v.last_result), (None, None), "no reading yet");
    let v = tracker_view(&TrackerKey::new(99, "x"), &status_of(99, 77, 0), SEC, true);
    assert_eq!((v.kind, v.state), ("unknown", "UNKNOWN"), "a newer agent's codes do not break status");
}

#[test]
fn ages_read_as_an_operator_would_say_them() {
    assert_eq!(fmt_age(0), "0.0 s");
    assert_eq!(fmt_age(12_345), "12.3 s");
    assert_eq!(fmt_age(245_000), "4 min 5 s");
    assert_eq!(fmt_age(7_380_000), "2 h 3 min");
    assert_eq!(fmt_age(3 * 86_400_000 + 4 * 3_600_000), "3 d 4 h");
}

fn instance(tracking: Option<TrackingView>) -> InstanceView {
    InstanceView {
        name: "VI_1".into(),
        ifindex: 3,
        interface: Some("eth0".into()),
        vrid: 51,
        state: "BACKUP",
        priority: 70,
        base_priority: 100,
        master: Some(Ipv4Addr::new(198, 18, 0, 2).into()),
        adver_int_cs: 100,
        master_down_interval_us: 3_609_375,
        transitions: 1,
        agent_pid: std::process::id(),
        agent_running: true,
        last_advert: None,
        adverts_rx: 0,
        adverts_accepted: 0,
        adverts_dropped: 0,
        v3_checksum_pseudo: 0,
        v3_checksum_plain: 0,
        agent_wakeups: 0,
        arp_replies: 0,
        vip_conflicts: 0,
        tracking,
        version: Some(3),
        vips: vec![Ipv4Addr::new(198, 18, 0, 100).into()],
        excluded_vips: vec![],
        unicast: false,
        allowed_peers: None,
        since_transition_ms: None,
        interval_mismatch: 0,
        drops: drops_by_reason(&vrrp_common::VridDrops::default()),
        adverts_tx: 0,
        priority_zero_tx: 0,
        priority_zero_rx: 0,
        garp_sent: 0,
        na_sent: 0,
        become_master: 0,
        release_master: 0,
        last_advert_tx_ms: None,
    }
}

#[test]
fn render_shows_base_to_effective_priority_why_and_a_tracker_table() {
    let verdict = Verdict {
        base: 100,
        total: 70,
        priority: 70,
        contributions: vec![Contribution { kind: TrackKind::Script, name: "chk_http".into(), delta: -30 }],
        faults: vec![],
        waiting: vec![],
    };
    let tracking = tracking_view(&instance_priority(&verdict, Some("G1"), 0));
    let now = 1000 * SEC;
    let script = TrackerStatus {
        rise: 2,
        fall: 3,
        runs: 40,
        failures: 4,
        timeouts: 1,
        last_outcome: script_outcome::FAILED,
        last_exit: 2,
        since_ns: now - 12_300_000_000,
        pid: std::process::id(),
        ..status_of(vrrp_common::tracker_kind::SCRIPT, tracker_state::DOWN, 0)
    };
    let process = TrackerStatus {
        quorum: 2,
        quorum_max: 3,
        flags: tracker_flags::PENDING,
        since_ns: now - 245 * SEC,
        pid: std::process::id(),
        ..status_of(vrrp_common::tracker_kind::PROCESS, tracker_state::UP, 1)
    };
    let view = StatusView {
        instances: vec![instance(Some(tracking))],
        trackers: vec![
            tracker_view(&TrackerKey::new(vrrp_common::tracker_kind::SCRIPT, "chk_http"), &script, now, true),
            tracker_view(&TrackerKey::new(vrrp_common::tracker_kind::PROCESS, "haproxy"), &process, now, true),
            tracker_view(&TrackerKey::new(vrrp_common::tracker_kind::FILE, "tf"), &status_of(3, tracker_state::INIT, 0), now, false),
        ],
        counters: Default::default(),
        lease: None,
        trace: None,
    };
    let text = render(&view);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("VI_1 eth0 vrid 51: BACKUP priority 100 -> 70, master 198.18.0.2"), "{text}");
    assert_eq!(lines[1], "    trackers: script chk_http -30; sync group G1", "{text}");
    assert_eq!(lines[3], "    sent: 0 adverts (0 priority 0), 0 gratuitous ARP, 0 NA; priority 0 received 0; became master 0, released 0");
    assert_eq!(lines[4], "    advert interval 100 cs; transitions 1, last none yet");
    assert_eq!(lines[5], "lease: no AGENT_LEASE pin (this agent does not fence the datapath)");
    let lines = &lines[3..];
    assert_eq!(lines[3], "trackers:");
    assert_eq!(lines[4], "  NAME      KIND     STATE                        VALUE                      SINCE            RUNS  FAILED  TIMEOUTS  LAST");
    assert_eq!(lines[5], "  chk_http  script   down (failing)               result 0 (rise 2, fall 3)  12.3 s ago       40    4       1         exit 2");
    assert_eq!(lines[6], "  haproxy   process  quorum held, change pending  1 running (quorum 2..3)    4 min 5 s ago    0     0       0         -");
    assert!(lines[7].starts_with("  tf        file     init (no result yet)"), "{text}");
    assert!(lines[7].ends_with("[agent pid 42 not running]"), "{text}");
    assert_eq!(lines[8], "counters: all zero");

    // Clamped and faulted instances say so.
    let verdict = Verdict {
        base: 100,
        total: -20,
        priority: 1,
        contributions: vec![],
        faults: vec![fault(TrackKind::Script, "chk", FaultWhy::Down)],
        waiting: vec![],
    };
    let view = StatusView {
        instances: vec![instance(Some(tracking_view(&instance_priority(&verdict, None, 0))))],
        trackers: vec![],
        counters: Default::default(),
        lease: None,
        trace: None,
    };
    let text = render(&view);
    assert_eq!(text.lines().nth(1), Some("    trackers: script chk failed; total -20 (clamped to 1); tracker FAULT"), "{text}");
    assert!(!text.contains("\ntrackers:"), "no table without trackers: {text}");
}

#[test]
fn json_keeps_the_old_keys_and_adds_trackers() {
    let view = StatusView { instances: vec![instance(None)], trackers: vec![], counters: Default::default(), lease: None, trace: None };
    let json = serde_json::to_value(&view).unwrap();
    let i = &json["instances"][0];
    for key in ["name", "state", "priority", "base_priority", "master", "agent_pid", "adverts_rx", "vip_conflicts"] {
        assert!(i.get(key).is_some(), "{key} missing: {i}");
    }
    assert!(i["tracking"].is_null());
    assert_eq!(json["trackers"], serde_json::json!([]));
}

/// A MASTER and a BACKUP with counters, drops and a lease: the snapshot every renderer gets.
fn busy_view() -> StatusView {
    let mut drops = vrrp_common::VridDrops::default();
    drops.counts[vrrp_common::DropReason::Ttl as usize] = 4;
    drops.counts[vrrp_common::DropReason::Truncated as usize] = 2;
    drops.counts[vrrp_common::DropReason::Length as usize] = 1;
    drops.counts[vrrp_common::DropReason::AuthPass as usize] = 3;
    drops.counts[vrrp_common::DropReason::Checksum as usize] = 9;
    let master = InstanceView {
        state: "MASTER",
        priority: 100,
        master: Some(Ipv4Addr::new(198, 18, 0, 1).into()),
        since_transition_ms: Some(1500),
        drops: drops_by_reason(&drops),
        adverts_rx: 20,
        adverts_tx: 42,
        priority_zero_tx: 1,
        priority_zero_rx: 2,
        garp_sent: 5,
        become_master: 2,
        release_master: 1,
        transitions: 3,
        ..instance(None)
    };
    let backup = InstanceView {
        name: "VI_2".into(),
        vrid: 52,
        version: Some(2),
        state: "BACKUP",
        last_advert: Some(AdvertView { src: Ipv4Addr::new(198, 18, 0, 2).into(), priority: 150, adver_int_cs: 100, addresses: 1, age_ms: 300 }),
        ..instance(None)
    };
    let mut counters: std::collections::BTreeMap<&'static str, u64> =
        GlobalStats::COUNTER_NAMES.iter().map(|n| (*n, 0)).collect();
    counters.insert("drop_ttl", 4);
    counters.insert("vrrp_rx", 20);
    StatusView {
        instances: vec![master, backup],
        trackers: vec![],
        counters,
        lease: Some(lease_view(&vrrp_common::AgentLease { renewed_ns: 9 * SEC, fence_after_ns: 3 * SEC, pid: 7, _pad: 0 }, 10 * SEC)),
        trace: Some(false),
    }
}

#[test]
fn keepalived_stats_file_has_keepalived_layout() {
    let text = keepalived::stats(&busy_view());
    // vrrp_print_stats's lines (keepalived 2.2.7, with VRRP auth built in), in its order.
    let first: Vec<&str> = text.lines().take(19).collect();
    assert_eq!(
        first,
        [
            "VRRP Instance: VI_1",
            "  Advertisements:",
            "    Received: 20",
            "    Sent: 42",
            "  Became master: 2",
            "  Released master: 1",
            "  Packet Errors:",
            "    Length: 3",
            "    TTL: 4",
            "    Invalid Type: 0",
            "    Advertisement Interval: 0",
            "    Address List: 0",
            "  Authentication Errors:",
            "    Invalid Type: 0",
            "    Type Mismatch: 0",
            "    Failure: 3",
            "  Priority Zero:",
            "    Received: 2",
            "    Sent: 1",
        ]
    );
    assert_eq!(text.lines().nth(19), Some("VRRP Instance: VI_2"));
}

#[test]
fn keepalived_data_file_has_the_lines_scripts_grep_for() {
    let now = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_764_614_532);
    let text = keepalived::data(&busy_view(), now);
    let lines: Vec<&str> = text.lines().collect();
    let at = lines.iter().position(|l| *l == "------< VRRP Topology >------").unwrap();
    assert_eq!(&lines[at + 1..at + 5], [" VRRP Instance = VI_1", "   VRRP Version = 3", "   State = MASTER", "   Flags: none"]);
    for want in [
        "   Last transition = 1764614530.500000 (Mon Dec  1 18:42:10.500000 2025)",
        "   Master down timer = 3609375 usecs",
        "   Interface = eth0",
        "   Virtual Router ID = 51",
        "   Priority = 100",
        "   Effective priority = 100",
        "   Advert interval = 1000 milli-sec",
        "   Virtual IP (1):",
        "     198.18.0.100",
        " VRRP Instance = VI_2",
        "   State = BACKUP",
        "   Master router = 198.18.0.2",
        "   Master priority = 150",
        "   Advert interval = 1 sec",
    ] {
        assert!(lines.contains(&want), "{want:?} in\n{text}");
    }
}

#[test]
fn ctime_matches_asctime_layout() {
    use std::time::Duration;
    assert_eq!(keepalived::ctime_us(Duration::ZERO), "Thu Jan  1 00:00:00.000000 1970");
    assert_eq!(keepalived::ctime_us(Duration::from_micros(951_782_400_000_001)), "Tue Feb 29 00:00:00.000001 2000");
    assert_eq!(keepalived::ctime_us(Duration::from_secs(1_764_614_532)), "Mon Dec  1 18:42:12.000000 2025");
}

#[test]
fn keepalived_json_is_an_array_of_data_and_stats() {
    let v = keepalived::json_dump(&busy_view(), std::time::SystemTime::now());
    let a = v.as_array().unwrap();
    assert_eq!(a.len(), 2);
    let d = &a[0]["data"];
    assert_eq!((d["iname"].as_str(), d["state"].as_u64(), d["vrid"].as_u64()), (Some("VI_1"), Some(2), Some(51)));
    assert_eq!((d["base_priority"].as_u64(), d["effective_priority"].as_u64(), d["vipset"].as_bool()), (Some(100), Some(100), Some(true)));
    assert_eq!(d["vips"], serde_json::json!(["198.18.0.100"]));
    assert_eq!(d["adver_int"].as_f64(), Some(1.0));
    let s = &a[0]["stats"];
    for (k, want) in [("advert_rcvd", 20), ("advert_sent", 42), ("become_master", 2), ("release_master", 1), ("packet_len_err", 3),
        ("ip_ttl_err", 4), ("auth_failure", 3), ("pri_zero_rcvd", 2), ("pri_zero_sent", 1), ("addr_list_err", 0)]
    {
        assert_eq!(s[k].as_u64(), Some(want), "{k}: {s}");
    }
    assert_eq!(a[1]["data"]["state"].as_u64(), Some(1));
    assert_eq!(a[1]["data"]["master_priority"].as_u64(), Some(150));
    // The signal numbers `keepalived --signum` prints.
    assert_eq!(keepalived::signum("DATA"), Some(libc::SIGUSR1));
    assert_eq!(keepalived::signum("STATS"), Some(libc::SIGUSR2));
    assert_eq!(keepalived::signum("JSON"), Some(libc::SIGRTMIN() + 2));
    assert_eq!(keepalived::signum("TDUMP"), None);
}

#[test]
fn lease_is_fresh_then_stale_and_status_says_so() {
    let l = vrrp_common::AgentLease { renewed_ns: 9 * SEC, fence_after_ns: 3 * SEC, pid: 7, _pad: 0 };
    let v = lease_view(&l, 10 * SEC);
    assert_eq!((v.state, v.age_ms, v.fence_after_ms), ("fresh", Some(1000), 3000));
    assert_eq!(lease_view(&l, 12 * SEC).state, "fresh", "at the limit");
    assert_eq!(lease_view(&l, 12 * SEC + 1).state, "stale");
    let none = lease_view(&vrrp_common::AgentLease::default(), 10 * SEC);
    assert_eq!((none.state, none.age_ms), ("none", None));
    let text = render(&busy_view());
    assert!(text.contains("\nlease: fresh (1.0 s old, stale after 3000 ms, agent pid 7)\n"), "{text}");
    assert!(text.contains("    drops: drop_auth_pass=3 drop_checksum=9 drop_length=1 drop_truncated=2 drop_ttl=4\n"), "{text}");
    assert!(text.contains("    sent: 42 adverts (1 priority 0), 5 gratuitous ARP, 0 NA; priority 0 received 2; became master 2, released 1\n"), "{text}");
    let json = serde_json::to_value(busy_view()).unwrap();
    assert_eq!(json["lease"]["state"], "fresh");
    assert_eq!(json["instances"][0]["drops"]["drop_ttl"], 4);
    assert_eq!(json["instances"][0]["drops"].as_object().unwrap().len(), vrrp_common::DropReason::ALL.len());
}

/// Prometheus text: `name{labels} value` samples by family.
fn samples(text: &str) -> Vec<(String, String, f64)> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (series, value) = l.rsplit_once(' ').unwrap();
            let (name, labels) = series.split_once('{').map_or((series, ""), |(n, l)| (n, l.trim_end_matches('}')));
            (name.to_string(), labels.to_string(), value.parse().unwrap())
        })
        .collect()
}

#[test]
fn prometheus_text_iterates_the_counter_lists() {
    let text = crate::metrics::render(&busy_view()).unwrap();
    assert!(text.ends_with("# EOF\n"), "{text}");
    let s = samples(&text);
    let one = |name: &str, labels: &str| {
        let hits: Vec<f64> = s.iter().filter(|(n, l, _)| n == name && l == labels).map(|x| x.2).collect();
        assert_eq!(hits.len(), 1, "{name}{{{labels}}} in\n{text}");
        hits[0]
    };
    let vi1 = r#"instance="VI_1",interface="eth0",vrid="51""#;
    assert_eq!(one("vrrp_instance_state", &format!(r#"{vi1},state="MASTER""#)), 1.0);
    assert_eq!(one("vrrp_instance_state", &format!(r#"{vi1},state="BACKUP""#)), 0.0);
    assert_eq!(one("vrrp_instance_priority", vi1), 100.0);
    assert_eq!(one("vrrp_instance_adverts_sent_total", vi1), 42.0);
    assert_eq!(one("vrrp_instance_become_master_total", vi1), 2.0);
    assert_eq!(one("vrrp_instance_last_transition_age_seconds", vi1), 1.5);
    assert_eq!(one("vrrp_instance_advert_drops_total", &format!(r#"{vi1},reason="drop_ttl""#)), 4.0);
    assert_eq!(one("vrrp_agent_lease_age_seconds", ""), 1.0);
    assert_eq!(one("vrrp_agent_lease_fresh", ""), 1.0);
    assert_eq!(one("vrrp_xdp_vrrp_rx_total", ""), 20.0);
    // Every drop reason exactly once globally and once per instance; no drop counter twice.
    for r in vrrp_common::DropReason::ALL {
        assert_eq!(one("vrrp_xdp_advert_drops_total", &format!(r#"reason="{}""#, r.counter_name())), if *r == vrrp_common::DropReason::Ttl { 4.0 } else { 0.0 });
        one("vrrp_instance_advert_drops_total", &format!(r#"{vi1},reason="{}""#, r.counter_name()));
        assert!(!s.iter().any(|(n, _, _)| n == &format!("vrrp_xdp_{}_total", r.counter_name())), "{r:?} as its own family");
    }
    // Every other XDP counter under its own name.
    for n in GlobalStats::COUNTER_NAMES.iter().filter(|n| !n.starts_with("drop_")) {
        one(&format!("vrrp_xdp_{n}_total"), "");
    }
}
