//! A real keepalived (2.2.7) as a VRRPv3-over-IPv6 master: its adverts reach our XDP program
//! on a real veth and are accepted (checksum with the IPv6 pseudo-header, hop limit 255,
//! ff02::12, its link-local source, its address list) with no drop of any reason.
use std::{
    net::{Ipv4Addr, Ipv6Addr},
    sync::mpsc,
    time::Duration,
};

use vrrp_agent::dataplane::{Dataplane, KernelLogLevel, XdpMode};
use vrrp_common::{AF_INET6, AdvertEvent, AdvertRecord, DropReason, GlobalStats, VridConfig, VridKey, event_reason, state};
use vrrp_tests::{lan, require_root, spawn_keepalived, wait_for};

const VRID: u8 = 61;
const VIP_LL: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0x100);
const VIP: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x100);

/// What the router thread saw.
struct Seen {
    stats: GlobalStats,
    record: Option<AdvertRecord>,
    events: Vec<AdvertEvent>,
}

#[test]
fn keepalived_ipv6_adverts_are_accepted_by_xdp() {
    if !require_root("keepalived_ipv6_adverts_are_accepted_by_xdp") {
        return;
    }
    if vrrp_tests::keepalived_binary().is_err() {
        println!("skipped: no keepalived binary (install the Debian package keepalived)");
        return;
    }
    let lan = lan("kav6", &[("r", Ipv4Addr::new(198, 18, 0, 1)), ("k", Ipv4Addr::new(198, 18, 0, 2))]).expect("lan");
    let r_path = lan.host("r").ns.path();
    let (ready_tx, ready_rx) = mpsc::channel::<()>();
    let (ask_tx, ask_rx) = mpsc::channel::<bool>();
    let (seen_tx, seen_rx) = mpsc::channel::<Seen>();
    let router = std::thread::spawn(move || {
        let f = std::fs::File::open(&r_path).expect("netns");
        nix::sched::setns(f, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
        let ifindex = nix::net::if_::if_nametoindex("eth0").expect("eth0");
        let mut dp = Dataplane::load_unpinned(KernelLogLevel::Off).expect("load");
        dp.attach("eth0", ifindex, Some("veth"), XdpMode::Skb, &[]).expect("attach");
        let key = VridKey { ifindex, vrid: u16::from(VRID), family: AF_INET6 };
        let cfg = VridConfig { version: 3, adver_int_cs: 10, state: state::BACKUP, priority: 100, count_addrs: 2, ..VridConfig::default() };
        dp.set_vrid_addrs_v6(key, &[VIP_LL.octets(), VIP.octets()], &[], &[]).expect("addrs");
        dp.init_vrid(key, cfg).expect("config");
        let _ = ready_tx.send(());
        let mut events = Vec::new();
        // One report per question (bounded by the main thread's deadline); `true` ends it.
        while let Ok(last) = ask_rx.recv_timeout(Duration::from_secs(30)) {
            events.extend(dp.drain_events());
            let seen = Seen { stats: dp.global_stats().unwrap_or_default(), record: dp.record(&key), events: events.clone() };
            let _ = seen_tx.send(seen);
            if last {
                break;
            }
        }
    });
    ready_rx.recv_timeout(Duration::from_secs(30)).expect("XDP attached in r");

    let conf = format!(
        "vrrp_instance VI_6 {{\n  state MASTER\n  interface eth0\n  virtual_router_id {VRID}\n  priority 150\n  version 3\n  \
         advert_int 0.1\n  virtual_ipaddress {{\n    {VIP_LL}/64\n    {VIP}/64\n  }}\n}}\n"
    );
    let ka = spawn_keepalived(lan.host("k"), &conf).expect("keepalived");
    let ask = |last: bool| {
        ask_tx.send(last).expect("ask");
        seen_rx.recv_timeout(Duration::from_secs(5)).expect("router report")
    };
    // keepalived's startup and its first master-down interval, then ten adverts (100 ms).
    let seen = wait_for(Duration::from_secs(15), "ten keepalived IPv6 adverts accepted by XDP", || {
        let s = ask(false);
        (s.stats.vrrp_accepted >= 10).then_some(s)
    })
    .unwrap_or_else(|e| {
        let s = ask(false);
        let drops: Vec<_> = DropReason::ALL.iter().filter(|r| s.stats.drop_count(**r) > 0).map(|r| (r.counter_name(), s.stats.drop_count(*r))).collect();
        panic!("{e}: accepted {}, drops {drops:?}\n{}", s.stats.vrrp_accepted, ka.log_tail(30))
    });
    let drops: Vec<_> = DropReason::ALL.iter().filter(|r| seen.stats.drop_count(**r) > 0).map(|r| r.counter_name()).collect();
    assert!(drops.is_empty(), "keepalived's adverts dropped as {drops:?}\n{}", ka.log_tail(30));
    let rec = seen.record.expect("an advert recorded");
    let src = Ipv6Addr::from(rec.src_v6);
    assert_eq!(src.segments()[0], 0xfe80, "from keepalived's link-local address: {src}");
    assert_eq!((rec.priority, rec.version, rec.adver_int_cs, rec.count_addrs), (150, 3, 10, 2));
    let first = seen.events.iter().find(|e| e.reasons & event_reason::FIRST != 0).expect("the first advert woke the agent");
    assert_eq!(first.key.family, AF_INET6);
    // Steady state: the same master, nothing new to tell.
    assert!(seen.events.len() <= 3, "steady-state adverts do not wake the agent: {} events for {} adverts", seen.events.len(), seen.stats.vrrp_accepted);
    let _ = ask(true);
    router.join().expect("router thread");
    drop(ka);
}
