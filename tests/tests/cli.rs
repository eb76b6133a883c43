//! The agent's command line as an operator uses it: `check` / `-t` verdicts and located
//! messages, `--dump`, `run` refusing a config with errors, and `check` and `run` agreeing on
//! each instance (that one needs root: it runs the agent in a namespace).
use std::process::{Command, Output};

use vrrp_tests::agent_binary;

fn agent(args: &[&str]) -> Output {
    Command::new(agent_binary().expect("agent binary (cargo xtask test builds it)"))
        .args(args)
        .env("RUST_LOG", "info")
        .output()
        .expect("run vrrp-agent")
}

fn write_conf(name: &str, text: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("vrrp-cli-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("keepalived.conf");
    std::fs::write(&path, text).expect("write config");
    path
}

const GOOD: &str = "\
global_defs {
  router_id lb1
}
vrrp_instance VI_1 {
  state MASTER
  interface eth0
  virtual_router_id 51
  priority 150
  advert_int 1
  authentication {
    auth_type PASS
    auth_pass s3cret
  }
  virtual_ipaddress {
    198.18.0.100/24
  }
}
";

#[test]
fn check_accepts_a_valid_config_and_dumps_what_it_understood() {
    let path = write_conf("good", GOOD);
    let out = agent(&["check", "-f", path.to_str().expect("utf-8 path"), "--dump"]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("--dump prints JSON");
    let inst = &json["instances"][0];
    assert_eq!(inst["name"], "VI_1");
    assert_eq!(inst["vrid"], 51);
    assert_eq!(inst["priority"], 150);
    assert_eq!(inst["advert_int_cs"], 100);
    assert_eq!(inst["vips"][0]["addr"], "198.18.0.100");
    assert_eq!(inst["vips"][0]["prefix_len"], 24);
}

#[test]
fn keepalived_style_dash_t_reports_file_and_line_and_exits_non_zero() {
    let bad = GOOD.replace("priority 150", "priority 400");
    let path = write_conf("bad", &bad);
    let p = path.to_str().expect("utf-8 path");
    let out = agent(&["-t", "-f", p]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "a value keepalived would replace is an error: {stderr}");
    assert!(stderr.contains(&format!("{p}:8:")), "names the file and the priority line: {stderr}");
    assert!(stderr.contains("priority"), "{stderr}");
}

#[test]
fn unknown_keyword_is_a_located_warning_not_silence() {
    let text = GOOD.replace("  advert_int 1\n", "  advert_int 1\n  frobnicate yes\n");
    let path = write_conf("unknown", &text);
    let p = path.to_str().expect("utf-8 path");
    let out = agent(&["check", "-f", p]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains(&format!("{p}:10:")) && stderr.contains("frobnicate"), "{stderr}");
}

#[test]
fn run_refuses_a_config_with_errors() {
    let bad = GOOD.replace("virtual_router_id 51", "virtual_router_id 300");
    let path = write_conf("refuse", &bad);
    let p = path.to_str().expect("utf-8 path");
    let dir = std::env::temp_dir().join(format!("vrrp-cli-{}-pins", std::process::id()));
    let out = agent(&["run", "-f", p, "--bpffs", dir.to_str().expect("utf-8")]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "must not start: {stderr}");
    assert!(stderr.contains(&format!("{p}:7:")), "the error names the line: {stderr}");
    assert!(stderr.contains("not starting"), "{stderr}");
}

/// `check` and `run` give the same verdict per instance: an instance with something not
/// implemented (`auth_type AH`, VRRPv2 over IPv6: warnings, as keepalived accepts them) is named by
/// both and not started by `run`, while the others run; an interface that does not exist yet is a
/// warning, and `run` starts that instance in FAULT and brings it up when the interface appears.
#[test]
fn check_and_run_agree_per_instance_and_a_missing_interface_waits_in_fault() {
    if !vrrp_tests::require_root("check_and_run_agree_per_instance_and_a_missing_interface_waits_in_fault") {
        return;
    }
    use std::{net::Ipv4Addr, time::Duration};
    let text = "\
vrrp_instance GOOD {
  state BACKUP
  interface eth0
  virtual_router_id 51
  priority 150
  version 3
  advert_int 0.1
  virtual_ipaddress {
    198.18.0.100/24
  }
}
vrrp_instance V2V6 {
  interface eth0
  virtual_router_id 52
  version 2
  virtual_ipaddress {
    2001:db8::100/64
  }
}
vrrp_instance AH {
  interface eth0
  virtual_router_id 53
  authentication {
    auth_type AH
    auth_pass secret1
  }
  virtual_ipaddress {
    198.18.0.101/24
  }
}
vrrp_instance LATE {
  state BACKUP
  interface late0
  virtual_router_id 54
  priority 150
  version 3
  advert_int 0.1
  virtual_ipaddress {
    198.18.1.100/24
  }
}
";
    let lan = vrrp_tests::lan("cliverdict", &[("r1", Ipv4Addr::new(198, 18, 0, 1))]).expect("lan");
    let r1 = lan.host("r1");
    let bin = agent_binary().expect("agent binary");

    // check, in the router's namespace.
    let path = write_conf("verdict", text);
    let p = path.to_str().expect("utf-8 path");
    let out = r1.ns.cmd(bin.to_str().expect("utf-8")).args(["check", "-f", p]).output().expect("check");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "warnings only: {stderr}");
    for want in [
        format!("{p}:12: warning: vrrp_instance V2V6: VRRP version 2 over IPv6 is not supported (RFC 3768 is IPv4 only; use version 3); not started"),
        format!("{p}:20: warning: vrrp_instance AH: auth_type AH is not supported (keepalived deprecates it; use PASS or none); not started"),
        format!("{p}:31: warning: vrrp_instance LATE: interface late0 does not exist: `run` starts this instance in FAULT until it appears"),
    ] {
        assert!(stderr.contains(&want), "check says {want:?}:\n{stderr}");
    }
    assert!(!stderr.contains("vrrp_instance GOOD"), "nothing to say about GOOD: {stderr}");

    // run: GOOD runs, the two are named and not started, LATE waits in FAULT.
    let agent = vrrp_tests::spawn_agent(&bin, r1, text, &[]).expect("spawn");
    let c = agent.config.display().to_string();
    vrrp_tests::wait_for(Duration::from_secs(5), "GOOD to hold its VIP", || vrrp_tests::has_addr(r1, Ipv4Addr::new(198, 18, 0, 100)).then_some(()))
        .unwrap_or_else(|e| panic!("{e}\n{}", agent.log_tail(30)));
    let log = agent.log_text();
    for want in [
        format!("{c}:12: vrrp_instance V2V6: not started: not supported yet"),
        format!("{c}:20: vrrp_instance AH: not started: not supported yet"),
        "(LATE) Entering FAULT STATE (interface late0 does not exist; waiting for it)".to_string(),
    ] {
        assert!(log.contains(&want), "run says {want:?}:\n{}", agent.log_tail(30));
    }
    assert!(!vrrp_tests::has_addr(r1, Ipv4Addr::new(198, 18, 0, 101)), "AH was not started");

    // The interface appears: LATE starts and, alone on it, becomes master.
    r1.ns.ip(&["link", "add", "late0", "type", "veth", "peer", "name", "late1"]).expect("add late0");
    r1.ns.ip(&["addr", "add", "198.18.1.1/24", "dev", "late0"]).expect("address");
    r1.ns.ip(&["link", "set", "late1", "up"]).expect("up");
    r1.ns.ip(&["link", "set", "late0", "up"]).expect("up");
    vrrp_tests::wait_for(Duration::from_secs(10), "LATE to hold its VIP on late0", || {
        r1.ns.ip(&["-4", "addr", "show", "dev", "late0"]).ok().filter(|o| o.contains("198.18.1.100/24")).map(|_| ())
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", agent.log_tail(30)));
    assert!(agent.log_text().contains("(LATE) interface late0 is there: starting the instance"), "{}", agent.log_tail(30));
}

/// `check -f A -f B`: the nodes against each other (the corpus and its verdicts are unit
/// tests in vrrp-agent's `crosscheck`; this is the command line around them).
fn corpus_case(case: &str) -> Vec<String> {
    let dir = vrrp_tests::workspace_root().join("vrrp-agent/testdata/crosscheck").join(case);
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .expect("corpus case")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "conf"))
        .map(|p| p.to_str().expect("utf-8 path").to_string())
        .collect();
    files.sort();
    files.into_iter().flat_map(|f| ["-f".to_string(), f]).collect()
}

fn check_nodes(case: &str, extra: &[&str]) -> Output {
    let mut args = vec!["check".to_string()];
    args.extend(corpus_case(case));
    args.extend(extra.iter().map(|s| s.to_string()));
    agent(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

#[test]
fn check_across_nodes_exits_by_the_verdict_and_strict_fails_on_warnings() {
    let out = check_nodes("typical", &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "warnings alone pass: {stdout}");
    assert!(stdout.contains("track_script chk_nginx fails on node-a  80      90      node-b (moves)"), "{stdout}");
    assert!(stdout.contains("node-a.conf:35: warning: vrrp_instance VI_1 (VRID 51): track_script chk_disk (weight -5) can never move mastership"), "{stdout}");
    assert_eq!(check_nodes("typical", &["--strict"]).status.code(), Some(1), "--strict: warnings fail");
    assert_eq!(check_nodes("typical-clean", &["--strict"]).status.code(), Some(0));
    let out = check_nodes("settings-mismatch", &[]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stdout));
}

#[test]
fn check_across_nodes_prints_json() {
    let out = check_nodes("triple", &["--json"]);
    assert_eq!(out.status.code(), Some(1), "node-c's peer list is an error");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("--json prints JSON");
    assert_eq!(v["nodes"].as_array().map(Vec::len), Some(3));
    let inst = &v["instances"][0];
    assert_eq!(inst["members"][2]["node"], "node-c");
    assert_eq!(inst["baseline"]["master"], "node-a");
    assert!(v["findings"].as_array().expect("findings").iter().any(|d| d["severity"] == "error" && d["line"] == 9));
}

#[test]
fn check_options_that_need_one_file_or_several_say_so() {
    let one = write_conf("one-node", GOOD);
    let p = one.to_str().expect("utf-8 path");
    let out = agent(&["check", "-f", p, "--json"]);
    assert_eq!(out.status.code(), Some(2), "--json is for several files");
    assert!(String::from_utf8_lossy(&out.stderr).contains("two or more -f files"));
    let out = agent(&["check", "-f", p, "-f", p, "--dump"]);
    assert_eq!(out.status.code(), Some(2), "--dump is for one file");
    let out = agent(&["check", "-f", p, "-f", "/nonexistent/b.conf"]);
    assert_eq!(out.status.code(), Some(3), "an unreadable file: {}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/b.conf"));
}
