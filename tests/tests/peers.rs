//! Hosts that are not who they should be, against real agents in network namespaces:
//! - the peer allow-list (`allowed_peer`): a stranger's priority-255 adverts (the cheapest VIP
//!   theft) are dropped and counted in XDP and change nothing, on the master and on the
//!   backup, which still takes over when the master goes; listed, the same host wins;
//!   IPv6 too, with link-local peers;
//! - ARP requests for an owned VIP from senders that are no station (a group sender MAC, a
//!   multicast, broadcast or loopback sender IP) are not answered, each counted, while a
//!   real host's request is.
//!
//! Frames are sent from the stranger's namespace by a thread of its own through an AF_PACKET
//! socket (setns affects only the calling thread), bounded in count and time.
use std::{
    fs::File,
    net::{Ipv4Addr, Ipv6Addr},
    os::fd::{AsFd, AsRawFd},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU32, Ordering},
    },
    time::{Duration, Instant},
};

use nix::{
    errno::Errno,
    poll::{PollFd, PollFlags, PollTimeout, poll},
    sched::{CloneFlags, setns},
    sys::socket::{MsgFlags, recv, send},
};
use serde_json::Value;
use vrrp_agent::{
    rx::parity,
    wire::{self, arp, vrrp},
};
use vrrp_tests::{Agent, Host, agent_binary, election, has_addr, has_addr6, hostile, holds_for, lan, require_root, spawn_agent, wait_for};

const VIP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 100);
const R1: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const R2: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
const EVIL: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 66);
/// v3, 100 ms adverts.
const ADVERT_INT_CS: u16 = 10;
/// Scheduling slack on a loaded 2-core machine, added to every protocol bound.
const SLACK: Duration = Duration::from_secs(2);

fn config(priority: u8, allowed: &[Ipv4Addr]) -> String {
    let list: String = allowed.iter().map(|a| format!("  {a}\n")).collect();
    format!(
        "vrrp_instance VI_1 {{\n state BACKUP\n interface eth0\n virtual_router_id 51\n priority {priority}\n version 3\n \
         advert_int 0.1\n allowed_peer {{\n{list} }}\n virtual_ipaddress {{\n  {VIP}/24\n }}\n}}\n"
    )
}

/// Sends `frames` in turn from `host`'s eth0 every `gap` until `stop` (at most `max` frames,
/// so at most `max * gap` whatever `stop` says). Returns how many went out.
fn sender(host: &Host, frames: Vec<Vec<u8>>, gap: Duration, max: u32, stop: Arc<AtomicBool>, sent: Arc<AtomicU32>) -> std::thread::JoinHandle<()> {
    let ns = File::open(host.ns.path()).expect("open the namespace");
    std::thread::spawn(move || {
        setns(ns.as_fd(), CloneFlags::CLONE_NEWNET).expect("enter the sender's namespace");
        let sock = hostile::packet_socket("eth0", hostile::SEND_ONLY).expect("an AF_PACKET socket");
        for i in 0..max {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            let f = &frames[i as usize % frames.len()];
            send(sock.as_raw_fd(), f, MsgFlags::empty()).expect("send a frame");
            sent.fetch_add(1, Ordering::Relaxed);
            std::thread::sleep(gap);
        }
    })
}

fn instance(agent: &Agent) -> Value {
    agent.status_json()["instances"][0].clone()
}

fn unknown_peer_drops(agent: &Agent) -> u64 {
    agent.try_status_json().and_then(|v| v["instances"][0]["drops"]["drop_unknown_peer"].as_u64()).unwrap_or(0)
}

/// The VIP thief: a valid VRRPv3 advert for VRID 51 naming our VIP, priority 255, from EVIL.
fn thief_advert(evil: &Host) -> Vec<u8> {
    let r = vrrp::Repr {
        version: vrrp::Version::V3,
        vrid: 51,
        priority: 255,
        adver_int_cs: ADVERT_INT_CS,
        auth: vrrp::Auth::None,
        addresses: vec![VIP.into()],
    };
    wire::vrrp_frame_v4(evil.mac, EVIL, vrrp::MCAST_V4, 255, &r, vrrp::ChecksumMode::PseudoHeader)
}

#[test]
fn a_stranger_at_priority_255_is_dropped_in_xdp_and_wins_only_once_listed() {
    if !require_root("a_stranger_at_priority_255_is_dropped_in_xdp_and_wins_only_once_listed") {
        return;
    }
    let lan = lan("peers", &[("r1", R1), ("r2", R2), ("evil", EVIL)]).expect("lan");
    let bin = agent_binary().expect("agent binary");
    let mut r1 = spawn_agent(&bin, lan.host("r1"), &config(150, &[R1, R2]), &[]).expect("spawn r1");
    let r2 = spawn_agent(&bin, lan.host("r2"), &config(100, &[R1, R2]), &[]).expect("spawn r2");
    let logs = |r1: &Agent, r2: &Agent| format!("r1:\n{}\nr2:\n{}", r1.log_tail(15), r2.log_tail(15));
    wait_for(election::STARTUP, "r1 master with the VIP, r2 backup", || {
        let b = r2.try_status_json()?;
        (has_addr(lan.host("r1"), VIP) && b["instances"][0]["state"] == "BACKUP").then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", logs(&r1, &r2)));
    let transitions = (instance(&r1)["transitions"].clone(), instance(&r2)["transitions"].clone());

    // The thief advertises priority 255 every 50 ms (twice our rate): a master that heard
    // one would step down at once, a backup that heard them would never take over.
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU32::new(0));
    let tx = sender(lan.host("evil"), vec![thief_advert(lan.host("evil"))], Duration::from_millis(50), 1200, stop.clone(), sent.clone());
    let stop_on_drop = StopOnDrop(stop.clone());
    let md = election::master_down_interval(3, 100, ADVERT_INT_CS);
    // Five of r2's Master_Down_Intervals: nothing moves.
    holds_for(md * 5, "r1 keeps the VIP, r2 stays backup", || {
        if !has_addr(lan.host("r1"), VIP) || has_addr(lan.host("r2"), VIP) {
            return Err(format!("the VIP moved\n{}", logs(&r1, &r2)));
        }
        Ok(())
    })
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(sent.load(Ordering::Relaxed) >= 5, "the thief sent adverts");
    wait_for(SLACK, "both routers to count the thief's adverts as unknown_peer", || {
        (unknown_peer_drops(&r1) >= 3 && unknown_peer_drops(&r2) >= 3).then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}: r1 {}, r2 {}", r1.status_json(), r2.status_json()));
    for (name, agent, was) in [("r1", &r1, &transitions.0), ("r2", &r2, &transitions.1)] {
        let i = instance(agent);
        assert_eq!(&i["transitions"], was, "{name}: no state change: {i}");
        assert_eq!(i["master"].as_str(), Some("198.18.0.1"), "{name}: r1 is still the master it knows: {i}");
        assert!(agent.counter("drop_unknown_peer") >= 3, "{name}: the XDP counter too");
        assert_eq!(i["allowed_peers"], serde_json::json!(["198.18.0.1", "198.18.0.2"]), "{name}: status shows the list");
    }

    // The master goes: r2, not listening to the thief, takes over within its
    // Master_Down_Interval (a backup that heard the 255s would wait for ever).
    r1.kill();
    let gone = Instant::now();
    wait_for(md + SLACK, "r2 to take the VIP while the thief keeps advertising", || has_addr(lan.host("r2"), VIP).then_some(()))
        .unwrap_or_else(|e| panic!("{e}\n{}", r2.log_tail(20)));
    println!("r2 took over {:?} after r1 was killed (Master_Down_Interval {md:?}), thief adverts sent {}", gone.elapsed(), sent.load(Ordering::Relaxed));

    // List the thief on r2 (SIGHUP): its 255s reach the election and r2 gives the VIP up.
    std::fs::write(&r2.config, config(100, &[R1, R2, EVIL])).expect("rewrite r2's config");
    // SAFETY: a signal to our own child, by pid.
    assert_eq!(unsafe { libc::kill(r2.pid as i32, libc::SIGHUP) }, 0);
    // A reload restarts the changed instance: a hand-over of at most Master_Down_Interval,
    // then the first accepted advert.
    wait_for(md * 2 + SLACK, "r2 to follow the listed host", || {
        let i = r2.try_status_json()?["instances"][0].clone();
        (i["state"] == "BACKUP" && i["master"].as_str() == Some("198.18.0.66") && !has_addr(lan.host("r2"), VIP)).then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}: {}\n{}", r2.status_json(), r2.log_tail(20)));
    drop(stop_on_drop);
    tx.join().expect("sender thread");
}

const LL_VIP: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0x51);
const VIP6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x100);
/// A link-local source no router here has.
const STRANGER6: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0x66);

fn config6(allowed: Ipv6Addr) -> String {
    format!(
        "vrrp_instance V6 {{\n state BACKUP\n interface eth0\n virtual_router_id 52\n priority 150\n version 3\n \
         advert_int 0.1\n allowed_peer {{\n  {allowed}\n }}\n virtual_ipaddress {{\n  {LL_VIP}/64\n  {VIP6}/64\n }}\n}}\n"
    )
}

/// IPv6 adverts come from link-local addresses: the list holds them, and a link-local
/// stranger's priority-255 adverts are dropped in XDP until it is listed.
#[test]
fn ipv6_a_link_local_stranger_is_dropped_unless_listed() {
    if !require_root("ipv6_a_link_local_stranger_is_dropped_unless_listed") {
        return;
    }
    let lan = lan("peers6", &[("r1", R1), ("evil", EVIL)]).expect("lan");
    let bin = agent_binary().expect("agent binary");
    // Listed: a peer that is not on the LAN.
    let agent = spawn_agent(&bin, lan.host("r1"), &config6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 2)), &[]).expect("spawn");
    wait_for(election::STARTUP, "r1 to hold the IPv6 VIP", || has_addr6(lan.host("r1"), VIP6).then_some(()))
        .unwrap_or_else(|e| panic!("{e}\n{}", agent.log_tail(20)));
    let transitions = instance(&agent)["transitions"].clone();
    let thief = vrrp::Repr {
        version: vrrp::Version::V3,
        vrid: 52,
        priority: 255,
        adver_int_cs: ADVERT_INT_CS,
        auth: vrrp::Auth::None,
        addresses: vec![LL_VIP.into(), VIP6.into()],
    };
    let frame = parity::v6::frame6(STRANGER6, vrrp::MCAST_V6, 255, &thief);
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU32::new(0));
    let tx = sender(lan.host("evil"), vec![frame], Duration::from_millis(50), 1200, stop.clone(), sent.clone());
    let stop_on_drop = StopOnDrop(stop.clone());
    let md = election::master_down_interval(3, 150, ADVERT_INT_CS);
    holds_for(md * 5, "r1 keeps the IPv6 VIP", || if has_addr6(lan.host("r1"), VIP6) { Ok(()) } else { Err(agent.log_tail(20)) })
        .unwrap_or_else(|e| panic!("{e}"));
    wait_for(SLACK, "the thief's adverts counted as unknown_peer", || (unknown_peer_drops(&agent) >= 3).then_some(()))
        .unwrap_or_else(|e| panic!("{e}: {}", agent.status_json()));
    assert_eq!(instance(&agent)["transitions"], transitions, "no state change");

    std::fs::write(&agent.config, config6(STRANGER6)).expect("rewrite the config");
    // SAFETY: a signal to our own child, by pid.
    assert_eq!(unsafe { libc::kill(agent.pid as i32, libc::SIGHUP) }, 0);
    wait_for(md * 2 + SLACK, "r1 to follow the listed host", || {
        let i = agent.try_status_json()?["instances"][0].clone();
        (i["state"] == "BACKUP" && i["master"].as_str() == Some("fe80::66") && !has_addr6(lan.host("r1"), VIP6)).then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}: {}\n{}", agent.status_json(), agent.log_tail(20)));
    assert_eq!(instance(&agent)["allowed_peers"], serde_json::json!(["fe80::66"]), "status shows the reloaded list");
    drop(stop_on_drop);
    tx.join().expect("sender thread");
}

/// Sets the flag when dropped, so a failed assertion stops the sender thread too.
struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

#[test]
fn arp_requests_from_senders_that_are_no_station_are_not_answered() {
    if !require_root("arp_requests_from_senders_that_are_no_station_are_not_answered") {
        return;
    }
    let lan = lan("peersarp", &[("r1", R1), ("evil", EVIL)]).expect("lan");
    let bin = agent_binary().expect("agent binary");
    let agent = spawn_agent(&bin, lan.host("r1"), &config(150, &[R1]), &[]).expect("spawn");
    wait_for(election::STARTUP, "r1 to hold the VIP", || has_addr(lan.host("r1"), VIP).then_some(()))
        .unwrap_or_else(|e| panic!("{e}\n{}", agent.log_tail(20)));
    let evil = lan.host("evil");
    let req = |sender_mac: [u8; 6], sender_ip: Ipv4Addr| {
        let mut f = arp::request_frame(sender_mac, sender_ip, VIP);
        // The Ethernet source stays evil's own (a bridge drops group sources).
        f[6..12].copy_from_slice(&evil.mac);
        f
    };
    // (what, frame, its counter)
    let bad: [(&str, Vec<u8>, &str); 4] = [
        ("a multicast sender MAC", req([0x01, 0x00, 0x5e, 0, 0, 1], EVIL), "arp_drop_group_src_mac"),
        ("a multicast sender IP", req(evil.mac, Ipv4Addr::new(224, 0, 0, 1)), "arp_drop_sender_multicast"),
        ("the broadcast sender IP", req(evil.mac, Ipv4Addr::BROADCAST), "arp_drop_sender_broadcast"),
        ("a loopback sender IP", req(evil.mac, Ipv4Addr::LOCALHOST), "arp_drop_sender_loopback"),
    ];
    let good = req(evil.mac, EVIL);
    let before: Vec<u64> = bad.iter().map(|(_, _, c)| agent.counter(c)).collect();
    let replies_before = agent.counter("arp_replies");

    let ns = File::open(evil.ns.path()).expect("open the namespace");
    let frames: Vec<Vec<u8>> = bad.iter().map(|(_, f, _)| f.clone()).collect();
    // Three of each bad one, then one good request; every ARP reply naming the VIP that
    // reaches evil's port (the bridge floods one sent to a group MAC) is collected.
    let replies = std::thread::scope(|s| {
        s.spawn(|| {
            setns(ns.as_fd(), CloneFlags::CLONE_NEWNET).expect("enter evil's namespace");
            let sock = hostile::packet_socket("eth0", 0x0806).expect("an AF_PACKET socket");
            for f in frames.iter().cycle().take(3 * frames.len()).chain(std::iter::once(&good)) {
                send(sock.as_raw_fd(), f, MsgFlags::empty()).expect("send a request");
            }
            let mut got = Vec::new();
            let mut buf = [0u8; 256];
            let deadline = Instant::now() + SLACK;
            // The good request's reply arrives; wait a little past it for any stray one.
            let mut quiet_until: Option<Instant> = None;
            while Instant::now() < deadline && quiet_until.is_none_or(|q| Instant::now() < q) {
                match recv(sock.as_raw_fd(), &mut buf, MsgFlags::MSG_DONTWAIT) {
                    Ok(n) if n >= 42 && buf[20..22] == [0, 2] && buf[28..32] == VIP.octets() => {
                        got.push(buf[..n].to_vec());
                        quiet_until.get_or_insert(Instant::now() + Duration::from_millis(300));
                    }
                    Ok(_) => {}
                    Err(Errno::EAGAIN) => {
                        // Nothing queued: wait for a frame, at most until the nearer deadline.
                        let until = quiet_until.map_or(deadline, |q| q.min(deadline));
                        let ms = u16::try_from(until.saturating_duration_since(Instant::now()).as_millis()).unwrap_or(u16::MAX);
                        let _ = poll(&mut [PollFd::new(sock.as_fd(), PollFlags::POLLIN)], PollTimeout::from(ms));
                    }
                    Err(Errno::EINTR) => {}
                    Err(e) => panic!("recv: {e}"),
                }
            }
            got
        })
        .join()
        .expect("sender thread")
    });
    assert_eq!(replies.len(), 1, "exactly one reply, to the real host's request: {replies:02x?}");
    let r = &replies[0];
    assert_eq!((&r[0..6], &r[32..38], &r[38..42]), (&evil.mac[..], &evil.mac[..], &EVIL.octets()[..]), "to the real host");
    for ((what, _, counter), was) in bad.iter().zip(before) {
        assert_eq!(agent.counter(counter) - was, 3, "{what}: counted under {counter}");
    }
    assert_eq!(agent.counter("arp_replies") - replies_before, 1, "{}", agent.status_json());
    assert!(has_addr(lan.host("r1"), VIP), "nothing changed for the VIP");
}
