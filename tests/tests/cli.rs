//! The agent's command line as an operator uses it: `check` / `-t` verdicts and located
//! messages, `--dump`, and `run` refusing a config with errors. No root needed.
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

#[test]
fn a_missing_interface_is_a_located_error_and_nothing_is_left_behind() {
    if !vrrp_tests::require_root("a_missing_interface_is_a_located_error_and_nothing_is_left_behind") {
        return;
    }
    let text = GOOD.replace("interface eth0", "interface nosuch0");
    let path = write_conf("noiface", &text);
    let p = path.to_str().expect("utf-8 path");
    let pins = std::path::PathBuf::from("/sys/fs/bpf").join(format!("vrrp-cli-{}-noiface", std::process::id()));
    let out = agent(&["run", "-f", p, "--bpffs", pins.to_str().expect("utf-8")]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains(&format!("{p}:4: vrrp_instance VI_1")), "names the instance's file and line: {stderr}");
    assert!(stderr.contains("interface nosuch0 does not exist"), "{stderr}");
    assert!(!pins.join("VRID_CONFIG").exists(), "no pins left behind");
    let _ = std::fs::remove_dir(&pins);
}
