//! Issue 8, "inspect it during an incident", against real agents in a namespace LAN: r1
//! (priority 100) is master and r2 (priority 50) its backup, VRRPv3 at 100 ms adverts.
//! - `status --json`: the new per-instance fields (adverts sent growing, mastership counts,
//!   time since the transition, drops by reason: a TTL-64 advert sent to r1 is counted
//!   under `drop_ttl` for its VRID), and the lease (or that there is none);
//! - `/metrics` fetched from inside r1's namespace (a thread that entered it), parsed as the
//!   Prometheus text format: every drop reason exactly once;
//! - SIGUSR1 / SIGUSR2 / SIGRTMIN+2 write keepalived.data / .stats / .json;
//! - `vrrp-agent trace on` makes r2 log a line per advert of r1's, `trace off` stops it.
use std::{
    io::{Read as _, Write as _},
    net::{Ipv4Addr, SocketAddrV4, TcpStream},
    path::Path,
    process::Command,
    time::Duration,
};

use serde_json::Value;
use vrrp_tests::{Agent, Host, agent_binary, lan, require_root, spawn_agent, wait_for};

const VIP: Ipv4Addr = Ipv4Addr::new(198, 18, 8, 100);
const R1: Ipv4Addr = Ipv4Addr::new(198, 18, 8, 1);
const R2: Ipv4Addr = Ipv4Addr::new(198, 18, 8, 2);
const METRICS_PORT: u16 = 9650;
/// Start-up (load, attach, first timer) plus r2's Master_Down_Interval at 100 ms (3.3 s
/// bound) and slack for a loaded 2-core machine.
const ELECT: Duration = Duration::from_secs(10);
/// Ten advert intervals of 100 ms, plus slack.
const ADVERTS: Duration = Duration::from_secs(5);

fn config(priority: u8) -> String {
    format!(
        "vrrp_instance VI_1 {{\n  state BACKUP\n  interface eth0\n  virtual_router_id 51\n  priority {priority}\n  \
         advert_int 0.1\n  version 3\n  virtual_ipaddress {{\n    {VIP}/24\n  }}\n}}\n"
    )
}

fn instance(agent: &Agent) -> Value {
    agent.status_json()["instances"][0].clone()
}

fn u(v: &Value, key: &str) -> u64 {
    v[key].as_u64().unwrap_or_else(|| panic!("{key} missing or not a number in {v:#}"))
}

/// Runs `f` on a thread that entered `host`'s network namespace (setns affects only the
/// calling thread).
fn in_netns<T: Send>(host: &Host, f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| {
        s.spawn(|| {
            let fd = std::fs::File::open(host.ns.path()).expect("open netns");
            nix::sched::setns(&fd, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
            f()
        })
        .join()
        .unwrap_or_else(|e| std::panic::resume_unwind(e))
    })
}

/// `GET /metrics` over HTTP/1.0 from inside the host's namespace: (status line, body).
fn get_metrics(host: &Host, addr: Ipv4Addr) -> Option<(String, String)> {
    in_netns(host, || {
        let mut s = TcpStream::connect_timeout(&SocketAddrV4::new(addr, METRICS_PORT).into(), Duration::from_secs(2)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        s.write_all(b"GET /metrics HTTP/1.0\r\nHost: vrrp\r\n\r\n").ok()?;
        let mut text = String::new();
        s.read_to_string(&mut text).ok()?;
        let (head, body) = text.split_once("\r\n\r\n")?;
        Some((head.lines().next()?.to_string(), body.to_string()))
    })
}

/// VRRPv3 advert for VRID 51 sent from r2's namespace with TTL 64 (multicast adverts
/// must have 255): dropped by r1's XDP program as `drop_ttl`.
fn send_ttl64_adverts(host: &Host, n: usize) {
    in_netns(host, || {
        let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::RAW, Some(socket2::Protocol::from(112))).expect("raw socket");
        s.set_multicast_ttl_v4(64).expect("ttl");
        s.set_multicast_if_v4(&R2).expect("multicast if");
        let mut msg = vec![0x31, 51, 50, 1, 0x00, 10, 0, 0];
        msg.extend_from_slice(&VIP.octets());
        let dst = SocketAddrV4::new(Ipv4Addr::new(224, 0, 0, 18), 0);
        for _ in 0..n {
            s.send_to(&msg, &dst.into()).expect("send");
        }
    });
}

fn agent_cmd(args: &[&str], bpffs: &Path) -> String {
    let out = Command::new(agent_binary().expect("agent binary")).args(args).arg("--bpffs").arg(bpffs).output().expect("run the agent binary");
    assert!(out.status.success(), "vrrp-agent {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn trace_lines(agent: &Agent) -> usize {
    let want = format!("trace: eth0 VRRP vrid 51 {R1} -> 224.0.0.18 priority 100: accepted");
    agent.log_text().lines().filter(|l| l.contains(&want)).count()
}

#[test]
fn status_metrics_dumps_and_trace_on_live_agents() {
    if !require_root("status_metrics_dumps_and_trace_on_live_agents") {
        return;
    }
    let lan = lan("inspect", &[("r1", R1), ("r2", R2)]).expect("lan");
    let bin = agent_binary().expect("agent binary");
    let dumps = std::env::temp_dir().join(format!("{}-dumps", lan.prefix));
    std::fs::create_dir_all(&dumps).expect("dump dir");
    struct Rm(std::path::PathBuf);
    impl Drop for Rm {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    let _rm = Rm(dumps.clone());
    let metrics = format!("{R1}:{METRICS_PORT}");
    let dump_dir = dumps.to_string_lossy().into_owned();
    let mut r1 = spawn_agent(&bin, lan.host("r1"), &config(100), &["--metrics", &metrics, "--dump-dir", &dump_dir]).expect("spawn r1");
    // r1 first, alone, so r2 only ever hears a master (no startup race to count).
    wait_for(ELECT, "r1 MASTER", || (r1.try_status_json()?["instances"][0]["state"] == "MASTER").then_some(()))
        .unwrap_or_else(|e| panic!("{e:#}\nr1:\n{}", r1.log_tail(20)));
    let r2 = spawn_agent(&bin, lan.host("r2"), &config(50), &[]).expect("spawn r2");
    wait_for(ELECT, "r1 MASTER and r2 BACKUP hearing it", || {
        let (a, b) = (r1.try_status_json()?, r2.try_status_json()?);
        let (a, b) = (&a["instances"][0], &b["instances"][0]);
        (a["state"] == "MASTER" && b["state"] == "BACKUP" && b["master"] == R1.to_string()).then_some(())
    })
    .unwrap_or_else(|e| panic!("{e:#}\nr1:\n{}\nr2:\n{}", r1.log_tail(20), r2.log_tail(20)));

    // status --json: what the agent sent and decided, growing.
    let first = instance(&r1);
    assert!(u(&first, "adverts_tx") >= 1, "{first:#}");
    assert_eq!((u(&first, "become_master"), u(&first, "release_master")), (1, 0), "{first:#}");
    assert_eq!(u(&first, "priority_zero_tx"), 0);
    assert!(u(&first, "garp_sent") >= 1, "gratuitous ARPs on takeover: {first:#}");
    assert!(first["since_transition_ms"].as_u64().is_some(), "{first:#}");
    assert_eq!((u(&first, "adver_int_cs"), u(&first, "version")), (10, 3));
    assert_eq!(first["vips"], serde_json::json!([VIP.to_string()]));
    let n = u(&first, "adverts_tx");
    wait_for(ADVERTS, "r1's adverts_tx to grow by 5", || (u(&instance(&r1), "adverts_tx") >= n + 5).then_some(()))
        .expect("adverts_tx grows");
    let backup = instance(&r2);
    assert!(u(&backup, "adverts_accepted") >= 1 && u(&backup, "adverts_tx") == 0, "{backup:#}");
    let drops = backup["drops"].as_object().expect("drops by reason");
    assert_eq!(drops.len(), vrrp_common::DropReason::ALL.len(), "{backup:#}");

    // A TTL-64 advert is dropped by r1's XDP and counted for VRID 51 under drop_ttl.
    send_ttl64_adverts(lan.host("r2"), 3);
    wait_for(ADVERTS, "r1 to count 3 drop_ttl for VRID 51", || (instance(&r1)["drops"]["drop_ttl"].as_u64()? >= 3).then_some(()))
        .expect("per-VRID drops");

    // The lease: fencing may not be in this build; status says which.
    let v = r1.status_json();
    let pinned = r1.bpffs.join(vrrp_common::names::AGENT_LEASE).exists();
    if pinned {
        assert_eq!(v["lease"]["state"], "fresh", "{v:#}");
        let age = v["lease"]["age_ms"].as_u64().expect("lease age");
        let fence = v["lease"]["fence_after_ms"].as_u64().expect("fence after");
        assert!(age <= fence, "a running agent's lease is younger than its fence limit: {v:#}");
    } else {
        assert!(v["lease"].is_null(), "{v:#}");
        let out = agent_cmd(&["status"], &r1.bpffs);
        assert!(out.contains("lease: no AGENT_LEASE pin"), "{out}");
    }

    // /metrics from inside r1's namespace.
    let (status, body) = wait_for(ADVERTS, "r1's /metrics to answer", || get_metrics(lan.host("r1"), R1)).expect("metrics reachable");
    assert!(status.contains(" 200 "), "{status}\n{body}");
    let samples: Vec<(&str, &str, f64)> = body
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (series, value) = l.rsplit_once(' ').unwrap_or_else(|| panic!("bad line {l:?}"));
            let (name, labels) = series.split_once('{').map_or((series, ""), |(n, l)| (n, l.trim_end_matches('}')));
            (name, labels, value.parse().unwrap_or_else(|_| panic!("bad value in {l:?}")))
        })
        .collect();
    let vi1 = r#"instance="VI_1",interface="eth0",vrid="51""#;
    let one = |name: &str, labels: &str| -> f64 {
        let hits: Vec<f64> = samples.iter().filter(|(n, l, _)| *n == name && *l == labels).map(|s| s.2).collect();
        assert_eq!(hits.len(), 1, "{name}{{{labels}}} once in\n{body}");
        hits[0]
    };
    assert_eq!(one("vrrp_instance_state", &format!(r#"{vi1},state="MASTER""#)), 1.0);
    assert_eq!(one("vrrp_instance_priority", vi1), 100.0);
    assert!(one("vrrp_instance_adverts_sent_total", vi1) >= (n + 5) as f64);
    assert!(one("vrrp_instance_advert_drops_total", &format!(r#"{vi1},reason="drop_ttl""#)) >= 3.0);
    for r in vrrp_common::DropReason::ALL {
        one("vrrp_xdp_advert_drops_total", &format!(r#"reason="{}""#, r.counter_name()));
    }
    assert!(!samples.iter().any(|(n, _, _)| *n == "vrrp_xdp_drop_ttl_total"), "drop reasons only as labels");

    // bpftool names the agent-side counters (BTF from the XDP object).
    let out = Command::new("bpftool").args(["map", "dump", "pinned"]).arg(r1.bpffs.join(vrrp_common::names::INSTANCE_STATS)).arg("-j").output().expect("bpftool");
    let dump: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("bpftool: {}", String::from_utf8_lossy(&out.stderr)));
    let entry = &dump[0]["formatted"]["value"];
    assert!(entry["adverts_sent"].as_u64().is_some_and(|sent| sent >= n + 5), "{dump:#}");
    for field in ["priority_zero_sent", "priority_zero_rx", "garp_sent", "na_sent", "become_master", "release_master", "last_advert_sent_ns"] {
        assert!(entry.get(field).is_some(), "{field} named in {dump:#}");
    }

    // keepalived's dumps, on keepalived's signals (`signum` prints keepalived's numbers).
    let signum = |name: &str| -> i32 {
        let out = Command::new(agent_binary().expect("agent binary")).args(["signum", name]).output().expect("signum");
        String::from_utf8_lossy(&out.stdout).trim().parse().unwrap_or_else(|_| panic!("signum {name}: {out:?}"))
    };
    assert_eq!((signum("DATA"), signum("STATS"), signum("JSON")), (libc::SIGUSR1, libc::SIGUSR2, libc::SIGRTMIN() + 2));
    for (sig, file) in [(libc::SIGUSR1, "keepalived.data"), (libc::SIGUSR2, "keepalived.stats"), (libc::SIGRTMIN() + 2, "keepalived.json")] {
        r1.signal(sig);
        wait_for(ADVERTS, &format!("{file} written"), || dumps.join(file).exists().then_some(())).expect("dump written");
    }
    let data = std::fs::read_to_string(dumps.join("keepalived.data")).expect("data");
    for line in [" VRRP Instance = VI_1", "   State = MASTER", "   Virtual Router ID = 51", "   Priority = 100", &format!("     {VIP}")] {
        assert!(data.lines().any(|l| l == line), "{line:?} in\n{data}");
    }
    let stats = std::fs::read_to_string(dumps.join("keepalived.stats")).expect("stats");
    let lines: Vec<&str> = stats.lines().collect();
    assert_eq!(lines[0], "VRRP Instance: VI_1", "{stats}");
    let sent: u64 = lines[3].strip_prefix("    Sent: ").and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("{stats}"));
    assert!(sent >= n + 5, "{stats}");
    assert!(lines[8].strip_prefix("    TTL: ").and_then(|n| n.parse::<u64>().ok()).is_some_and(|n| n >= 3), "{stats}");
    let json: Value = serde_json::from_str(&std::fs::read_to_string(dumps.join("keepalived.json")).expect("json")).expect("JSON");
    assert_eq!((json[0]["data"]["iname"].as_str(), json[0]["data"]["state"].as_u64()), (Some("VI_1"), Some(2)), "{json:#}");
    assert!(json[0]["stats"]["advert_sent"].as_u64().is_some_and(|n| n >= 1), "{json:#}");

    // trace on: r2 logs a line per advert of r1's; off: no more lines.
    assert_eq!(trace_lines(&r2), 0, "off by default");
    agent_cmd(&["trace", "on"], &r2.bpffs);
    assert_eq!(r2.status_json()["trace"], true);
    wait_for(ADVERTS, "r2 to log 5 traced adverts", || (trace_lines(&r2) >= 5).then_some(())).unwrap_or_else(|e| panic!("{e:#}\n{}", r2.log_tail(20)));
    agent_cmd(&["trace", "off"], &r2.bpffs);
    assert_eq!(r2.status_json()["trace"], false);
    // Events already in the ring buffer may still be logged: settle on the count once r2
    // has accepted 2 more adverts, then 10 more adverts must add no line.
    let accepted = |a: &Agent| u(&instance(a), "adverts_accepted");
    let at = accepted(&r2);
    wait_for(ADVERTS, "2 more adverts at r2", || (accepted(&r2) >= at + 2).then_some(())).expect("adverts");
    let settled = trace_lines(&r2);
    let at = accepted(&r2);
    wait_for(ADVERTS, "10 more adverts at r2", || (accepted(&r2) >= at + 10).then_some(())).expect("adverts");
    assert_eq!(trace_lines(&r2), settled, "trace off stops the lines\n{}", r2.log_tail(10));

    // A dead agent: its pins stay, and status still shows its last state, marked stale.
    r1.kill();
    r1.wait_exit(Duration::from_secs(5)).expect("r1 killed");
    let last = instance(&r1);
    assert_eq!((last["state"].as_str(), last["agent_running"].as_bool()), (Some("MASTER"), Some(false)), "{last:#}");
    assert!(u(&last, "adverts_tx") >= n + 5, "{last:#}");
    let out = agent_cmd(&["status"], &r1.bpffs);
    assert!(out.contains("not running: state is stale"), "{out}");
}

/// The XDP side alone (BPF_PROG_TEST_RUN on lo): drops are counted per VRID under the same
/// reason as globally, and the program reports packets only while tracing is on. Prints the
/// per-packet cost with tracing off and on (figures, not assertions).
#[test]
fn xdp_counts_drops_per_vrid_and_reports_packets_only_when_tracing() {
    use vrrp_agent::{
        dataplane::{Dataplane, KernelLogLevel},
        wire::{self, vrrp},
    };
    use vrrp_common::{AF_INET, DropReason, VridConfig, VridKey, state, trace_kind, trace_verdict};
    if !require_root("xdp_counts_drops_per_vrid_and_reports_packets_only_when_tracing") {
        return;
    }
    let mut dp = Dataplane::load_unpinned(KernelLogLevel::Off).expect("the XDP object loads and passes the verifier");
    let key = VridKey { ifindex: 1, vrid: 51, family: AF_INET };
    let cfg = VridConfig { version: 3, adver_int_cs: 100, state: state::BACKUP, priority: 100, primary_v4: R1.octets(), count_addrs: 1, ..VridConfig::default() };
    dp.set_vrid_addrs(key, &[VIP.octets()], &[], &[]).expect("addresses");
    dp.init_vrid(key, cfg).expect("configure the VRID");
    let repr = |vrid: u8| vrrp::Repr {
        version: vrrp::Version::V3,
        vrid,
        priority: 150,
        adver_int_cs: 100,
        auth: vrrp::Auth::None,
        addresses: vec![std::net::IpAddr::V4(VIP)],
    };
    let mac = [0x02, 0, 0x5e, 0x10, 0, 2];
    let good = wire::vrrp_frame_v4(mac, R2, vrrp_group(), 255, &repr(51), vrrp::ChecksumMode::PseudoHeader);
    let ttl = wire::vrrp_frame_v4(mac, R2, vrrp_group(), 64, &repr(51), vrrp::ChecksumMode::PseudoHeader);
    let unknown = wire::vrrp_frame_v4(mac, R2, vrrp_group(), 255, &repr(77), vrrp::ChecksumMode::PseudoHeader);

    // Off (the default): nothing reported.
    for f in [&good, &ttl, &unknown] {
        dp.test_run(f, 1).expect("run");
    }
    assert!(dp.drain_trace().is_empty(), "tracing is off by default");
    let drops = dp.vrid_drops(&key).expect("the VRID's drop counters");
    assert_eq!(drops.count(DropReason::Ttl), 1);
    assert_eq!(drops.counts.iter().sum::<u64>(), 1, "only drop_ttl: {drops:?}");
    assert_eq!(dp.global_stats().expect("global").drop_ttl, 1, "the same reason globally");

    dp.set_trace(true).expect("trace on");
    let arp = wire::arp::request_frame(mac, Ipv4Addr::new(198, 18, 8, 9), VIP);
    for f in [&good, &ttl, &unknown, &arp] {
        dp.test_run(f, 1).expect("run");
    }
    let evs = dp.drain_trace();
    let got: Vec<(u32, u32, u32, u32)> = evs.iter().map(|e| (e.kind, e.verdict, e.vrid, e.action)).collect();
    assert_eq!(
        got,
        [
            (trace_kind::VRRP, trace_verdict::ACCEPTED, 51, 1),
            (trace_kind::VRRP, trace_verdict::DROPPED, 51, 1),
            (trace_kind::VRRP, trace_verdict::UNKNOWN_VRID, 77, 2),
            (trace_kind::ARP, trace_verdict::NOT_REPLIED, 0, 2),
        ],
        "{evs:#?}"
    );
    assert_eq!(evs[1].reason, DropReason::Ttl as u32);
    assert_eq!((Ipv4Addr::from(evs[0].src[0].to_ne_bytes()), evs[0].priority), (R2, 150));
    assert_eq!(Ipv4Addr::from(evs[3].dst[0].to_ne_bytes()), VIP, "the ARP target, read before any rewrite");
    assert_eq!(dp.vrid_drops(&key).expect("drops").count(DropReason::Ttl), 2);

    dp.set_trace(false).expect("trace off");
    dp.test_run(&good, 1).expect("run");
    assert!(dp.drain_trace().is_empty(), "off again");

    // Figures: the kernel's mean time per run of an accepted steady-state advert.
    let per_run = |dp: &Dataplane| dp.test_run_repeat(&good, 1, 100_000).expect("repeat").2;
    let off = per_run(&dp);
    dp.set_trace(true).expect("trace on");
    let on = per_run(&dp);
    dp.set_trace(false).expect("trace off");
    let _ = dp.drain_trace();
    println!("accepted advert, XDP time per packet: tracing off {off:?}, on {on:?}");
}

fn vrrp_group() -> Ipv4Addr {
    Ipv4Addr::new(224, 0, 0, 18)
}

/// Digits collapsed, so lines compare by layout: "    Sent: 42" -> "    Sent: N".
fn shape(line: &str) -> String {
    let mut out = String::new();
    let mut in_num = false;
    for c in line.chars() {
        if c.is_ascii_digit() {
            if !in_num {
                out.push('N');
            }
            in_num = true;
        } else {
            in_num = false;
            out.push(c);
        }
    }
    out
}

/// The `key = ` parts of a keepalived.data section's lines.
fn section_keys(text: &str, section: &str) -> Vec<String> {
    text.lines()
        .skip_while(|l| *l != section)
        .skip(1)
        .take_while(|l| !l.starts_with("------<"))
        .map(|l| l.split_once(" = ").map_or(l.to_string(), |(k, _)| k.to_string()))
        .collect()
}

/// The real keepalived 2.2.7 and our agent as peers, each asked for its three dumps with
/// the same signals: our .stats has keepalived's exact layout, our .json keepalived's stats
/// keys and a subset of its data keys with the same JSON types, and every key our .data
/// prints in the VRRP topology keepalived prints too.
#[test]
fn dumps_have_the_layout_of_keepalived_s_own() {
    if !require_root("dumps_have_the_layout_of_keepalived_s_own") {
        return;
    }
    let Ok(_) = vrrp_tests::keepalived_binary() else {
        panic!("keepalived 2.2.7 is needed as the reference (cargo xtask setup installs it)");
    };
    const KA: Ipv4Addr = Ipv4Addr::new(198, 18, 9, 1);
    const OURS: Ipv4Addr = Ipv4Addr::new(198, 18, 9, 2);
    let lan = lan("kadump", &[("ka", KA), ("ours", OURS)]).expect("lan");
    let base = std::env::temp_dir().join(format!("{}-dumps", lan.prefix));
    struct Rm(std::path::PathBuf);
    impl Drop for Rm {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    let _rm = Rm(base.clone());
    let (ka_dir, our_dir) = (base.join("ka"), base.join("ours"));
    for d in [&ka_dir, &our_dir] {
        std::fs::create_dir_all(d).expect("dump dir");
    }
    let cfg = |priority: u8| {
        format!(
            "global_defs {{\n  router_id dump_{priority}\n}}\nvrrp_instance VI_1 {{\n  state BACKUP\n  interface eth0\n  \
             virtual_router_id 51\n  priority {priority}\n  advert_int 1\n  version 2\n  virtual_ipaddress {{\n    {VIP}/24\n  }}\n}}\n"
        )
    };
    let mut ka = vrrp_tests::spawn_keepalived_env(lan.host("ka"), &cfg(150), &[("TMPDIR", ka_dir.as_path())]).expect("spawn keepalived");
    let our_dir_s = our_dir.to_string_lossy().into_owned();
    let mut ours = spawn_agent(&agent_binary().expect("agent"), lan.host("ours"), &cfg(100), &["--dump-dir", &our_dir_s]).expect("spawn agent");
    // v2, 1 s adverts: our backup hears keepalived within its Master_Down_Interval (3.6 s).
    wait_for(Duration::from_secs(15), "our agent BACKUP behind keepalived", || {
        let v = ours.try_status_json()?;
        let i = &v["instances"][0];
        (i["state"] == "BACKUP" && i["master"] == KA.to_string() && i["adverts_accepted"].as_u64()? >= 1).then_some(())
    })
    .unwrap_or_else(|e| panic!("{e:#}\nours:\n{}\nkeepalived:\n{}", ours.log_tail(20), ka.log_tail(20)));
    for (sig, file) in [(libc::SIGUSR1, "keepalived.data"), (libc::SIGUSR2, "keepalived.stats"), (libc::SIGRTMIN() + 2, "keepalived.json")] {
        ka.signal(sig);
        ours.signal(sig);
        for d in [&ka_dir, &our_dir] {
            wait_for(Duration::from_secs(5), &format!("{}", d.join(file).display()), || {
                std::fs::metadata(d.join(file)).ok().filter(|m| m.len() > 0).map(|_| ())
            })
            .unwrap_or_else(|e| panic!("{e:#}\nkeepalived:\n{}", ka.log_tail(20)));
        }
    }
    let read = |d: &Path, f: &str| std::fs::read_to_string(d.join(f)).expect("dump");

    let (theirs, mine) = (read(&ka_dir, "keepalived.stats"), read(&our_dir, "keepalived.stats"));
    let (t, m): (Vec<String>, Vec<String>) = (theirs.lines().map(shape).collect(), mine.lines().map(shape).collect());
    assert_eq!(m, t, "our keepalived.stats:\n{mine}\nkeepalived's:\n{theirs}");

    // keepalived may finish the JSON file a moment after creating it.
    let ka_json: Value = wait_for(Duration::from_secs(5), "keepalived.json to parse", || serde_json::from_str(&read(&ka_dir, "keepalived.json")).ok())
        .expect("keepalived's JSON");
    let our_json: Value = serde_json::from_str(&read(&our_dir, "keepalived.json")).expect("our JSON");
    let kind = |v: &Value| match v {
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
        Value::Null => "null",
    };
    let (kd, od) = (&ka_json[0]["data"], &our_json[0]["data"]);
    for (k, v) in od.as_object().expect("our data object") {
        let theirs = kd.get(k).unwrap_or_else(|| panic!("{k} is not one of keepalived's data keys: {kd:#}"));
        assert_eq!(kind(v), kind(theirs), "{k}: ours {v}, keepalived's {theirs}");
    }
    let keys = |v: &Value| -> Vec<String> { v.as_object().expect("object").keys().cloned().collect() };
    assert_eq!(keys(&our_json[0]["stats"]), keys(&ka_json[0]["stats"]), "stats keys");
    assert_eq!((kd["state"].as_u64(), od["state"].as_u64()), (Some(2), Some(1)), "MASTER, BACKUP as keepalived numbers");
    assert_eq!((kd["vrid"].as_u64(), od["vrid"].as_u64(), od["iname"].as_str()), (Some(51), Some(51), kd["iname"].as_str()));

    let (theirs, mine) = (read(&ka_dir, "keepalived.data"), read(&our_dir, "keepalived.data"));
    let ka_keys = section_keys(&theirs, "------< VRRP Topology >------");
    // Printed by keepalived only in BACKUP (ours is the backup here, keepalived the master).
    let backup_only = ["   Master router", "   Master priority", "   Master advert int"];
    let our_keys = section_keys(&mine, "------< VRRP Topology >------");
    assert!(our_keys.iter().any(|k| k == "   State"), "{mine}");
    for k in our_keys.iter().filter(|k| !backup_only.contains(&k.as_str())) {
        let vip_line = k.trim_start().parse::<Ipv4Addr>().is_ok();
        let found = if vip_line { ka_keys.iter().any(|l| l.trim_start().starts_with(k.trim_start())) } else { ka_keys.contains(k) };
        assert!(found, "{k:?} is not in keepalived's VRRP Topology:\n{theirs}\n-- ours:\n{mine}");
    }
}
