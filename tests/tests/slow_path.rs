//! The slow path end to end: a real agent in a network namespace hears adverts that XDP does
//! not judge (they carry an IP option, Router Alert) only through its raw socket, validates
//! them in userspace and stays BACKUP; when they stop, it takes over.
use std::{
    net::{Ipv4Addr, SocketAddrV4},
    os::fd::AsRawFd as _,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU32, Ordering},
    },
    time::{Duration, Instant},
};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use vrrp_agent::wire::{self, vrrp};
use vrrp_tests::{Agent, agent_binary, has_addr, lan, require_root, spawn_agent, wait_for};

const VIP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 100);
const PEER: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
/// Agent start-up: one deadline for every test (see the harness).
use vrrp_tests::election::STARTUP;
const SLACK: Duration = Duration::from_millis(250);
/// v3, 100 ms adverts, priority 100: 3 * 100 ms + (256 - 100) * 100 ms / 256.
const MASTER_DOWN: Duration = Duration::from_micros(360_937);

fn status(agent: &Agent) -> Option<serde_json::Value> {
    let out = std::process::Command::new(agent_binary().ok()?).args(["status", "--json", "--bpffs"]).arg(&agent.bpffs).output().ok()?;
    out.status.success().then(|| serde_json::from_slice(&out.stdout).ok()).flatten()
}

/// Sends `packet` (an IPv4 packet, header included) from the network namespace at `ns_path`,
/// every 50 ms until `stop`: a thread of its own enters the namespace (setns affects only the
/// calling thread).
fn sender(ns_path: std::path::PathBuf, packet: Vec<u8>, stop: Arc<AtomicBool>, sent: Arc<AtomicU32>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let ns = std::fs::File::open(&ns_path).expect("open netns");
        // SAFETY: a valid namespace fd; only this thread changes namespace.
        let rc = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
        let s = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::from(libc::IPPROTO_RAW))).expect("raw socket");
        s.set_header_included_v4(true).expect("IP_HDRINCL");
        s.bind_device(Some(b"eth0")).expect("bind eth0");
        let to = SockAddr::from(SocketAddrV4::new(vrrp::MCAST_V4, 0));
        // Bounded in count and time (at most 1200 adverts, one minute), whatever `stop` says.
        for _ in 0..1200 {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            s.send_to(&packet, &to).expect("send advert");
            sent.fetch_add(1, Ordering::Relaxed);
            std::thread::sleep(Duration::from_millis(50));
        }
    })
}

#[test]
fn adverts_with_ip_options_reach_the_election_through_the_slow_path() {
    if !require_root("adverts_with_ip_options_reach_the_election_through_the_slow_path") {
        return;
    }
    let lan = lan("slowpath", &[("a", Ipv4Addr::new(198, 18, 0, 1)), ("p", PEER)]).expect("lan");
    let advert = vrrp::Repr {
        version: vrrp::Version::V3,
        vrid: 51,
        priority: 200,
        adver_int_cs: 10,
        auth: vrrp::Auth::None,
        addresses: vec![VIP.into()],
    };
    let frame = wire::vrrp_frame_v4([2, 0, 0, 0, 0, 2], PEER, vrrp::MCAST_V4, 255, &advert, vrrp::ChecksumMode::PseudoHeader);
    // Router Alert (RFC 2113): XDP passes any header with options to the stack.
    let with_option = wire::with_ipv4_options(&frame, &[0x94, 0x04, 0x00, 0x00]);
    let packet = with_option[14..].to_vec();
    assert_eq!(packet[0], 0x46);

    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU32::new(0));
    let tx = sender(lan.host("p").ns.path(), packet, stop.clone(), sent.clone());

    let conf = format!(
        "vrrp_instance VI_1 {{\n state BACKUP\n interface eth0\n virtual_router_id 51\n priority 100\n version 3\n advert_int 0.1\n virtual_ipaddress {{\n  {VIP}/24\n }}\n}}\n"
    );
    let bin = agent_binary().expect("agent binary (cargo xtask test builds it)");
    let agent = spawn_agent(&bin, lan.host("a"), &conf, &["--log", "info,vrrp_agent=debug"]).expect("spawn agent");
    let a = lan.host("a");
    let backup = wait_for(STARTUP, "the agent to run its instance", || {
        let v = status(&agent)?;
        (v["instances"][0]["state"] == "BACKUP").then_some(())
    });
    if let Err(e) = backup {
        stop.store(true, Ordering::Relaxed);
        panic!("{e}\n{}", agent.log_tail(30));
    }
    // Many master-down intervals with the option-carrying adverts only: no takeover.
    let window = Instant::now();
    let held = wait_for(MASTER_DOWN * 6 + SLACK, "a window of 6 master-down intervals", || {
        assert!(!has_addr(a, VIP), "the agent took the VIP although a priority-200 master is advertising:\n{}", agent.log_tail(30));
        (window.elapsed() >= MASTER_DOWN * 6).then_some(())
    });
    held.expect("window");
    let v = status(&agent).expect("status");
    assert_eq!(v["instances"][0]["state"], "BACKUP");
    assert_eq!(v["instances"][0]["adverts_accepted"], 0, "XDP accepted none: they came through the slow path");
    assert!(agent.log_tail(200).contains("advert from the slow path"), "{}", agent.log_tail(30));

    // The adverts stop: the agent takes over within Master_Down_Interval.
    stop.store(true, Ordering::Relaxed);
    tx.join().expect("sender");
    assert!(sent.load(Ordering::Relaxed) > 10);
    let stopped = Instant::now();
    wait_for(MASTER_DOWN + Duration::from_millis(50) + SLACK, "the agent to take over once the adverts stop", || has_addr(a, VIP).then_some(()))
        .unwrap_or_else(|e| panic!("{e}\n{}", agent.log_tail(30)));
    println!("takeover {:?} after the last advert (Master_Down_Interval {:?})", stopped.elapsed(), MASTER_DOWN);
}
