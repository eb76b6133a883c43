//! Issue 7: trackers and the effective priority in `vrrp-agent status`, read from the pinned
//! maps. The real XDP object is loaded with its maps pinned in a fresh bpffs dir; tracker
//! records and an instance's priority record are written through the `Dataplane` API the
//! driver uses (built by `status::publish` from real tracker and priority states), then read
//! back with the `vrrp-agent status` binary (`--json` and the table) and with
//! `bpftool map dump`, whose output must name every field.
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use vrrp_agent::{
    config,
    core::{priority::Priorities, tracker::{TrackKind, Trackers}},
    dataplane::{Dataplane, KernelLogLevel},
    health::{HealthEvent, ScriptOutcome},
    status::publish::{TrackerLedger, instance_priority, tracker_of},
};
use vrrp_common::{AF_INET, InstanceStatus, VridKey, names, state};
use vrrp_tests::{BPFFS_ROOT, agent_binary, new_prefix, require_root};

const SEC: u64 = 1_000_000_000;

const CONF: &str = r#"
vrrp_script chk_http {
    script "/bin/true"
    weight -30
    rise 2
    fall 3
}
vrrp_track_file tf {
    file /nonexistent/vrrp-status-test
}
vrrp_track_process haproxy {
    process haproxy
    quorum 2
}
vrrp_sync_group G1 {
    group { VI_1 }
    sync_group_tracking_weight
}
vrrp_instance VI_1 {
    interface lo
    virtual_router_id 51
    priority 100
    virtual_ipaddress { 198.18.0.100/24 }
    track_script { chk_http }
    track_file { tf weight 0 }
    track_process { haproxy weight 10 }
}
"#;

fn status_json(dir: &Path) -> Value {
    let bin = agent_binary().expect("the agent binary");
    let out = Command::new(&bin).args(["status", "--json", "--bpffs"]).arg(dir).output().expect("running status");
    assert!(out.status.success(), "{} status: {}", bin.display(), String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).expect("status --json is JSON");
    assert!(
        v.get("trackers").is_some(),
        "no \"trackers\" in {}'s output: a binary older than issue 7? (set VRRP_AGENT_BIN)",
        bin.display()
    );
    v
}

fn status_text(dir: &Path) -> String {
    let out = Command::new(agent_binary().expect("the agent binary"))
        .args(["status", "--bpffs"])
        .arg(dir)
        .output()
        .expect("running status");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("UTF-8")
}

/// `bpftool map dump pinned PATH -j`: one {key, value, formatted} object per entry.
fn bpftool_dump(path: &Path) -> Vec<Value> {
    let out = Command::new("bpftool").args(["map", "dump", "pinned"]).arg(path).arg("-j").output().expect("bpftool is installed");
    assert!(out.status.success(), "bpftool: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("bpftool -j prints JSON")
}

fn tracker<'a>(v: &'a Value, kind: &str, name: &str) -> &'a Value {
    v["trackers"]
        .as_array()
        .and_then(|a| a.iter().find(|t| t["kind"] == kind && t["name"] == name))
        .unwrap_or_else(|| panic!("no {kind} {name} in {v:#}"))
}

#[test]
fn trackers_and_effective_priority_in_status_and_bpftool() {
    if !require_root("trackers_and_effective_priority_in_status_and_bpftool") {
        return;
    }
    let dir: PathBuf = Path::new(BPFFS_ROOT).join(new_prefix("status"));
    // Drop (also on a failed assertion) unpins every map and removes the dir.
    let mut dp = Dataplane::load(&dir, KernelLogLevel::Off).expect("the XDP object loads, maps pinned");
    for name in [names::TRACKER_STATUS, names::INSTANCE_PRIORITY] {
        assert!(dir.join(name).exists(), "{name} pinned in {}", dir.display());
    }

    // The driver's path: readings through the ledger and the core, records out.
    let cfg = config::parse_str(CONF, "t.conf", &Default::default()).expect("config").config;
    let mut trackers = Trackers::new(&cfg);
    let mut ledger = TrackerLedger::new(&cfg, SEC);
    let readings = [
        (2 * SEC, HealthEvent::Script { name: "chk_http".into(), outcome: ScriptOutcome::Success }),
        (3 * SEC, HealthEvent::Script { name: "chk_http".into(), outcome: ScriptOutcome::Failed(Some(7)) }),
        (4 * SEC, HealthEvent::Script { name: "chk_http".into(), outcome: ScriptOutcome::TimedOut }),
        (5 * SEC, HealthEvent::Script { name: "chk_http".into(), outcome: ScriptOutcome::Failed(Some(2)) }),
        (5 * SEC, HealthEvent::Process { name: "haproxy".into(), count: 3 }),
    ];
    for (now, ev) in &readings {
        ledger.record_health(*now, ev);
        trackers.handle_health(*now, ev).expect("a configured tracker");
        let (kind, name) = tracker_of(ev);
        let st = ledger.update(*now, kind, name, &trackers).expect("a configured tracker");
        dp.write_tracker(kind, name, &st).expect("TRACKER_STATUS write");
    }
    // The file is never read: INIT (so VI_1, which tracks it with weight 0, is held).
    for (kind, name, st) in ledger.all(5 * SEC, &trackers) {
        dp.write_tracker(kind, &name, &st).expect("TRACKER_STATUS write");
    }
    let long_name = format!("{}-and-then-some", "p".repeat(70));
    let mut long = ledger.all(5 * SEC, &trackers)[0].2;
    long.runs = 9;
    dp.write_tracker(TrackKind::Script, &long_name, &long).expect("a long name is shortened, not refused");

    let (prios, _) = Priorities::new(&cfg, &trackers);
    let verdict = prios.verdict("VI_1").expect("VI_1's verdict");
    let key = VridKey { ifindex: 1, vrid: 51, family: AF_INET };
    dp.write_priority(key, &instance_priority(verdict, Some("G1"), 5 * SEC)).expect("INSTANCE_PRIORITY write");
    let mut inst = InstanceStatus {
        state: state::FAULT,
        priority: u32::from(verdict.priority),
        base_priority: 100,
        pid: std::process::id(),
        ..InstanceStatus::default()
    };
    inst.set_name("VI_1");
    inst.set_ifname("lo");
    dp.write_status(key, inst).expect("INSTANCE_STATUS write");

    // --json: the trackers...
    let v = status_json(&dir);
    let chk = tracker(&v, "script", "chk_http");
    assert_eq!(chk["state"], "DOWN", "success took it up, then 3 failures (fall 3) down: {chk:#}");
    assert_eq!((chk["runs"].as_u64(), chk["failures"].as_u64(), chk["timeouts"].as_u64()), (Some(4), Some(2), Some(1)), "{chk:#}");
    assert_eq!((chk["transitions"].as_u64(), chk["last_result"].as_str()), (Some(2), Some("exit 2")), "{chk:#}");
    assert_eq!((chk["value"].as_i64(), chk["rise"].as_u64(), chk["fall"].as_u64()), (Some(0), Some(2), Some(3)));
    assert_eq!(chk["agent_running"], true);
    let hap = tracker(&v, "process", "haproxy");
    assert_eq!((hap["state"].as_str(), hap["value"].as_i64(), hap["quorum"].as_u64()), (Some("UP"), Some(3), Some(2)), "{hap:#}");
    assert!(hap.get("quorum_max").is_none(), "no upper bound: {hap:#}");
    let tf = tracker(&v, "file", "tf");
    assert_eq!((tf["state"].as_str(), tf["runs"].as_u64(), tf["last_reading_ms"].as_u64()), (Some("INIT"), Some(0), None));
    let stored = vrrp_common::TrackerKey::new(vrrp_common::tracker_kind::SCRIPT, &long_name).name().to_string();
    assert!(stored.starts_with(&"p".repeat(55)) && stored.len() == 64, "{stored}");
    assert_eq!(tracker(&v, "script", &stored)["runs"], 9);
    assert_eq!(v["trackers"].as_array().map(Vec::len), Some(4));

    // ... and why VI_1 has the priority it has (its old keys unchanged).
    let i = &v["instances"][0];
    assert_eq!((i["name"].as_str(), i["state"].as_str()), (Some("VI_1"), Some("FAULT")), "{i:#}");
    assert_eq!((i["base_priority"].as_u64(), i["priority"].as_u64()), (Some(100), Some(80)), "100 - 30 + 10: {i:#}");
    let t = &i["tracking"];
    assert_eq!((t["total_priority"].as_i64(), t["tracker_fault"].as_str(), t["sync_group"].as_str()), (Some(80), Some("INIT_HOLD"), Some("G1")), "{t:#}");
    let reasons: Vec<&str> = t["reasons"].as_array().expect("reasons").iter().filter_map(|r| r["text"].as_str()).collect();
    assert_eq!(reasons, ["file tf has no result yet", "script chk_http -30", "process haproxy +10"], "{t:#}");

    // The table.
    let text = status_text(&dir);
    assert!(text.contains("VI_1 lo vrid 51: FAULT priority 100 -> 80"), "{text}");
    assert!(text.contains("trackers: file tf has no result yet, script chk_http -30, process haproxy +10; held until"), "{text}");
    let row = text.lines().find(|l| l.trim_start().starts_with("chk_http")).unwrap_or_else(|| panic!("{text}"));
    for cell in ["script", "down (failing)", "result 0 (rise 2, fall 3)", " ago", "exit 2"] {
        assert!(row.contains(cell), "{cell:?} in {row:?}");
    }

    // bpftool names every field (BTF from the XDP object).
    let dump = bpftool_dump(&dir.join(names::TRACKER_STATUS));
    assert_eq!(dump.len(), 4, "{dump:#?}");
    let entry = dump
        .iter()
        .map(|e| &e["formatted"])
        .find(|f| f["key"]["kind"] == vrrp_common::tracker_kind::SCRIPT && f["value"]["runs"] == 4)
        .unwrap_or_else(|| panic!("chk_http's entry with named fields: {dump:#?}"));
    let name: Vec<u8> = entry["key"]["name"].as_array().expect("name bytes").iter().filter_map(|b| b.as_u64()).map(|b| b as u8).collect();
    assert!(name.starts_with(b"chk_http\0"), "{entry:#}");
    for (field, want) in [("state", 2), ("failures", 2), ("timeouts", 1), ("last_exit", 2), ("rise", 2), ("fall", 3), ("transitions", 2)] {
        assert_eq!(entry["value"][field], want, "{field} in {entry:#}");
    }
    for field in ["since_ns", "updated_ns", "not_run", "last_outcome", "flags", "quorum", "quorum_max", "pid", "value", "kind"] {
        assert!(entry["value"].get(field).is_some(), "{field} named in {entry:#}");
    }
    let dump = bpftool_dump(&dir.join(names::INSTANCE_PRIORITY));
    let f = &dump[0]["formatted"]["value"];
    assert_eq!((f["base_priority"].as_u64(), f["effective_priority"].as_u64(), f["waiting"].as_u64()), (Some(100), Some(80), Some(1)), "{f:#}");
    assert_eq!(f["reasons"][1]["delta"], -30, "{f:#}");

    // A tracker a reload dropped disappears.
    dp.forget_tracker(TrackKind::Script, &long_name);
    dp.forget_tracker(TrackKind::File, "tf");
    let v = status_json(&dir);
    let left: Vec<&str> = v["trackers"].as_array().expect("trackers").iter().filter_map(|t| t["name"].as_str()).collect();
    assert_eq!(left, ["haproxy", "chk_http"], "sorted by kind then name: {v:#}");

    // forget_vrid takes the priority record with the instance.
    dp.forget_vrid(&key);
    assert!(bpftool_dump(&dir.join(names::INSTANCE_PRIORITY)).is_empty());

    dp.shutdown();
    assert!(!dir.exists(), "pins removed");
}
