use std::path::{Path, PathBuf};

use super::*;

/// `testdata/crosscheck/<case>/`: one `*.conf` per node (in name order) and `expected.txt`, the
/// text report followed by the exit codes. `UPDATE_GOLDEN=1` rewrites the expected files
/// (review the diff before committing it).
const CORPUS: &str = "testdata/crosscheck";

fn case_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("case dir")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "conf"))
        .collect();
    files.sort();
    files
}

fn golden_text(files: &[PathBuf]) -> String {
    let nodes = load_nodes(files, &[]).expect("load");
    let report = check(&nodes);
    format!("{}exit: {}, with --strict: {}\n", report.to_text(), report.exit_code(false), report.exit_code(true))
}

#[test]
fn corpus_matches_golden_output() {
    // Paths relative to the package, as `cargo test` runs here: the output names them.
    let mut cases: Vec<PathBuf> = std::fs::read_dir(CORPUS)
        .expect("corpus dir")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    assert!(cases.len() >= 12, "the corpus is there: {cases:?}");
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let mut failed = Vec::new();
    for case in &cases {
        let files = case_files(case);
        assert!(files.len() >= 2, "{}: at least two nodes", case.display());
        let got = golden_text(&files);
        let expected_path = case.join("expected.txt");
        if update {
            std::fs::write(&expected_path, &got).expect("write golden");
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
        if got != expected {
            failed.push(format!("--- {} (expected)\n{expected}\n+++ got\n{got}", expected_path.display()));
        }
    }
    assert!(failed.is_empty(), "golden output differs (UPDATE_GOLDEN=1 rewrites it):\n{}", failed.join("\n"));
}

/// The verdict each case must keep, whatever the wording: the exit codes and the key finding.
#[test]
fn corpus_verdicts() {
    let expect: &[(&str, u8, u8, &[&str])] = &[
        ("typical", 0, 1, &["node-a.conf:35: warning", "track_script chk_disk (weight -5) can never move mastership"]),
        ("typical-clean", 0, 0, &[]),
        ("vrid-mismatch", 1, 1, &["node-b.conf:2: error", "VRID 52 here, VRID 51 on node-a"]),
        ("settings-mismatch", 1, 1, &["auth_pass differs", "advert_int 2 s here, 1 s", "VRRP version 2 here, 3", "virtual_ipaddress lists differ", "advert_int 200 ms here, 100 ms"]),
        ("unicast", 1, 1, &["unicast_peer does not list 198.18.2.2", "unicast on node-a, multicast on node-b", "unicast_peer 198.18.2.9 is none"]),
        ("priorities", 1, 1, &["two address owners", "the higher primary address wins: node-b", "state MASTER on node-a with priority 80", "no peer in the other files", "no priority: 100"]),
        ("nopreempt", 0, 1, &["nopreempt on node-a", "node-b stays master: node-a has nopreempt"]),
        ("tie-after-failure", 0, 1, &["one failure makes two nodes equal", "node-a and node-b are at 90"]),
        ("fault-weight0", 0, 1, &["track_script chk_upstream has weight 0", "failing on every node at once leaves no master"]),
        ("sync-group", 0, 1, &["track_process proc_haproxy of VI_INT loses quorum on node-a: sync group G1 to FAULT"]),
        ("sync-group-split", 0, 1, &["node-b.conf:9: warning", "are in sync group G1 on node-a but do not move together on node-b"]),
        ("sync-group-weights", 0, 1, &["track_interface eth2 (weight 0)", "route interface eth3 has weight 0"]),
        ("triple", 1, 1, &["node-c.conf:9: error", "unicast_peer does not list 198.18.7.2", "track_file maint reads 11 or more on node-a"]),
    ];
    for (case, code, strict, needles) in expect {
        let files = case_files(&Path::new(CORPUS).join(case));
        let report = check(&load_nodes(&files, &[]).expect("load"));
        let text = report.to_text();
        assert_eq!(report.exit_code(false), *code, "{case}:\n{text}");
        assert_eq!(report.exit_code(true), *strict, "{case} --strict:\n{text}");
        for n in *needles {
            assert!(text.contains(n), "{case}: {n:?} not in\n{text}");
        }
    }
}

fn nodes(texts: &[(&str, &str)]) -> Vec<Node> {
    nodes_from_loaded(
        texts
            .iter()
            .map(|(name, t)| (PathBuf::from(name), config::parse_str(t, name, &LoadOptions::default()).expect("parse")))
            .collect(),
    )
}

fn instance(name: &str, iface: &str, vrid: u8, prio: u8, vip: &str) -> String {
    format!("vrrp_instance {name} {{\n interface {iface}\n virtual_router_id {vrid}\n priority {prio}\n virtual_ipaddress {{\n  {vip}\n }}\n}}\n")
}

#[test]
fn instances_pair_by_vrid_then_vips_not_by_name_or_order() {
    // The same VRID on two networks of each node, listed in opposite orders, interface
    // names differing: the VIPs say which is which.
    let a = instance("X", "eth0", 7, 100, "198.18.10.1") + &instance("Y", "eth1", 7, 100, "198.18.11.1");
    let b = instance("P", "ens4", 7, 90, "198.18.11.1") + &instance("Q", "ens3", 7, 90, "198.18.10.1");
    let r = check(&nodes(&[("a.conf", &a), ("b.conf", &b)]));
    let pairs: Vec<Vec<&str>> = r.instances.iter().map(|i| i.members.iter().map(|m| m.instance.as_str()).collect()).collect();
    assert_eq!(pairs, [vec!["X", "Q"], vec!["Y", "P"]], "{}", r.to_text());
    assert_eq!(r.exit_code(true), 0, "{}", r.to_text());
}

#[test]
fn a_peer_missing_from_an_allow_list_is_an_error_on_the_node_that_drops_it() {
    let node = |src: &str, allowed: &str| {
        format!(
            "vrrp_instance VI {{\n interface eth0\n virtual_router_id 7\n priority 100\n mcast_src_ip {src}\n allowed_peer {{\n{allowed}\n }}\n virtual_ipaddress {{\n  198.18.10.1\n }}\n}}\n"
        )
    };
    // Each lists the other: clean.
    let (a, b) = (node("198.18.0.1", "  198.18.0.2"), node("198.18.0.2", "  198.18.0.1\n  198.18.0.2"));
    let r = check(&nodes(&[("a.conf", &a), ("b.conf", &b)]));
    assert!(r.exit_code(false) == 0 && !r.to_text().contains("allow-list"), "{}", r.to_text());
    // b forgot a: b drops a's adverts.
    let b = node("198.18.0.2", "  198.18.0.9");
    let r = check(&nodes(&[("a.conf", &a), ("b.conf", &b)]));
    let text = r.to_text();
    assert_eq!(r.exit_code(false), 1, "{text}");
    assert!(text.contains("b.conf:1: error") && text.contains("does not hold 198.18.0.1, the advert source of a (a.conf:1)"), "{text}");
    // Sources not in the files: an entry per other node at least (its own does not count).
    let anon = |allowed: &str| format!("vrrp_instance VI {{\n interface eth0\n virtual_router_id 7\n allowed_peer {{\n{allowed}\n }}\n virtual_ipaddress {{\n  198.18.10.1\n }}\n}}\n");
    let r = check(&nodes(&[("a.conf", &anon("  198.18.0.2")), ("b.conf", &anon("  198.18.0.1")), ("c.conf", &anon("  198.18.0.1\n  198.18.0.2"))]));
    let text = r.to_text();
    assert!(text.contains("a.conf:1: error") && text.contains("holds 1 address(es) for 2 other node(s)"), "{text}");
    assert!(!text.contains("c.conf:1: error"), "{text}");
}

#[test]
fn a_different_family_is_a_different_election() {
    let a = instance("V4", "eth0", 7, 100, "198.18.10.1");
    let b = instance("V6", "eth0", 7, 90, "2001:db8::1");
    let r = check(&nodes(&[("a.conf", &a), ("b.conf", &b)]));
    assert_eq!(r.instances.len(), 2);
    assert_eq!(r.instances[1].family, Family::Ipv6);
    assert!(r.findings.iter().filter(|d| d.message.contains("no peer in the other files")).count() == 2, "{}", r.to_text());
}

#[test]
fn json_names_nodes_priorities_and_masters() {
    let files = case_files(&Path::new(CORPUS).join("typical"));
    let report = check(&load_nodes(&files, &[]).expect("load"));
    let v = serde_json::to_value(&report).expect("json");
    let inst = &v["instances"][0];
    assert_eq!(inst["vrid"], 51);
    assert_eq!(inst["baseline"]["master"], "node-a");
    assert_eq!(inst["baseline"]["priorities"], serde_json::json!([100, 90]));
    let row = inst["what_if"].as_array().expect("rows").iter().find(|r| r["scenario"] == "track_script chk_nginx fails on node-a").expect("row");
    assert_eq!(row["outcome"]["master"], "node-b");
    assert_eq!(row["outcome"]["priorities"], serde_json::json!([80, 90]));
    assert_eq!(row["moves"], true);
    assert_eq!(row["tracker"]["weight"], -20);
    let stop = inst["what_if"].as_array().expect("rows").iter().find(|r| r["scenario"] == "node-a stops, or its eth0 goes down").expect("row");
    assert_eq!(stop["outcome"]["priorities"][0], "FAULT");
    assert_eq!(v["findings"][0]["severity"], "warning");
    assert_eq!(v["findings"][0]["line"], 35);
}

#[test]
fn a_file_with_errors_fails_the_check() {
    let a = instance("VI", "eth0", 7, 100, "198.18.10.1");
    let b = instance("VI", "eth0", 7, 90, "198.18.10.1").replace("priority 90", "priority 400");
    let r = check(&nodes(&[("a.conf", &a), ("b.conf", &b)]));
    let text = r.to_text();
    assert_eq!(r.exit_code(false), 1, "{text}");
    assert!(text.contains("b.conf:4: error: priority 400 is out of range"), "{text}");
    assert!(
        text.contains("a.conf:1: warning: vrrp_instance VI (VRID 7): no peer in the other files: a runs it alone; b's VI (b.conf:1) is not started"),
        "the missing peer is explained: {text}"
    );
}

#[test]
fn sync_group_weights_replace_the_members_own_and_owners_clear_them() {
    let text = "\
vrrp_script chk { \n script /usr/bin/true\n weight -5\n}
vrrp_instance A {\n interface eth0\n virtual_router_id 1\n priority 100\n virtual_ipaddress {\n  198.18.10.1\n }\n track_script {\n  chk weight 0\n }\n}
vrrp_instance B {\n interface eth0\n virtual_router_id 2\n priority 100\n virtual_ipaddress {\n  198.18.10.2\n }\n}
vrrp_sync_group G {\n group {\n  A\n  B\n }\n track_script {\n  chk weight -30\n }\n}
";
    let l = config::parse_str(text, "k.conf", &LoadOptions::default()).expect("parse");
    let cfg = &l.config;
    let a = cfg.instances.iter().find(|i| i.name == "A").expect("A");
    let b = cfg.instances.iter().find(|i| i.name == "B").expect("B");
    let ta = priority::tracked(cfg, a).trackers;
    let tb = priority::tracked(cfg, b).trackers;
    assert_eq!((ta.len(), ta[0].weight, ta[0].line), (1, 0, 13), "A's own weight 0 stays: {ta:?}");
    assert_eq!((tb.len(), tb[0].weight, tb[0].sync_group.as_deref()), (1, -30, Some("G")), "B gets the group's weight: {tb:?}");
    let owner = text.replace("virtual_router_id 2\n priority 100", "virtual_router_id 2\n priority 255");
    let l = config::parse_str(&owner, "k.conf", &LoadOptions::default()).expect("parse");
    let b = l.config.instances.iter().find(|i| i.name == "B").expect("B");
    assert_eq!(priority::tracked(&l.config, b).trackers[0].weight, 0, "a group with an owner has no weights");
}

/// A sync group member without `sync_group_tracking_weight`: the weighted script keepalived
/// ignores is not in the table at all (the parser says why, located).
#[test]
fn sync_group_member_weights_follow_keepalived() {
    let files = case_files(&Path::new(CORPUS).join("sync-group-weights"));
    let nodes = load_nodes(&files, &[]).expect("load");
    let text = check(&nodes).to_text();
    assert!(!text.contains("track_script chk_app"), "{text}");
    let said = nodes[0].loaded.diagnostics.iter().find(|d| d.message.contains("track_script chk_app (weight -60) is ignored")).expect("located");
    assert_eq!(said.line, 24);
}

/// The README shows `check` on the typical pair with its real output: keep it real.
#[test]
fn readme_shows_the_real_output_of_the_typical_pair() {
    let readme = std::fs::read_to_string("../README.md").expect("README.md");
    let start = readme.find("$ vrrp-agent check -f node-a.conf -f node-b.conf\n").expect("the README shows the command");
    let shown = &readme[start..];
    let shown = &shown[shown.find('\n').expect("newline") + 1..shown.find("\n```").expect("end of the block") + 1];
    let files = case_files(&Path::new(CORPUS).join("typical"));
    // The README runs it from the case's directory.
    let real = check(&load_nodes(&files, &[]).expect("load")).to_text().replace("testdata/crosscheck/typical/", "");
    assert_eq!(shown, real, "update the README's example (run the command in {CORPUS}/typical)");
}

/// One file for all nodes, `@id` lines telling them apart: `-f k.conf -i lb1 -f k.conf -i lb2`.
#[test]
fn one_shared_file_with_config_ids_is_checked_per_node() {
    let dir = std::env::temp_dir().join(format!("vrrp-crosscheck-ids-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("keepalived.conf");
    let text = "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 5\n @lb1 priority 100\n @lb2 priority 90\n virtual_ipaddress {\n  198.18.12.1\n }\n}\n";
    std::fs::write(&path, text).expect("write");
    let files = [path.clone(), path.clone()];
    let nodes = load_nodes(&files, &["lb1".to_string(), "lb2".to_string()]).expect("load");
    let r = check(&nodes);
    let _ = std::fs::remove_dir_all(&dir);
    let m = &r.instances[0].members;
    assert_eq!((m[0].node.as_str(), m[0].base_priority, m[1].node.as_str(), m[1].base_priority), ("lb1", 100, "lb2", 90), "{}", r.to_text());
    assert_eq!(r.instances[0].baseline.master.as_deref(), Some("lb1"));
    assert!(load_nodes(&files, &["lb1".to_string()]).is_err(), "one id per file, or none");
}
