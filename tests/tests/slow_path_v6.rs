//! The IPv6 slow path: a raw IPv6 socket for protocol 112 judges what XDP passes (here, adverts
//! behind a hop-by-hop extension header), with the hop limit and destination from ancillary
//! data, and counts what it drops (a bad checksum reaches it: the kernel does not check one).
//! XDP is attached in the receiving namespace and consumes the plain adverts, which therefore
//! never reach the socket.
use std::{
    net::{Ipv4Addr, Ipv6Addr, SocketAddrV6},
    os::fd::AsRawFd as _,
    sync::mpsc,
    time::Duration,
};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use vrrp_agent::{
    dataplane::{Dataplane, KernelLogLevel, XdpMode},
    rx::socket::SlowPath,
    wire::vrrp,
};
use vrrp_common::{AF_INET6, AdvertEvent, DropReason, GlobalStats, VridConfig, VridKey, event_reason, state};
use vrrp_tests::{lan, require_root, wait_for};

const VRID: u8 = 61;
const VIP: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x100);

fn enter(ns: &std::path::Path) {
    let f = std::fs::File::open(ns).expect("open netns");
    // SAFETY: a valid namespace fd; only the calling thread changes namespace.
    let rc = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
    assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
}

fn set_int(s: &Socket, level: libc::c_int, opt: libc::c_int, v: libc::c_int) {
    // SAFETY: a valid socket and a c_int option value.
    let rc = unsafe { libc::setsockopt(s.as_raw_fd(), level, opt, (&raw const v).cast(), std::mem::size_of::<libc::c_int>() as libc::socklen_t) };
    assert_eq!(rc, 0, "setsockopt {opt}: {}", std::io::Error::last_os_error());
}

/// One advert from the peer's namespace, sent by its kernel from its link-local address to
/// ff02::12: `hbh` puts a hop-by-hop header (PadN) in front, `kernel_checksum` has the kernel
/// fill the checksum (else the message's own, here a wrong one, is sent).
struct Send {
    priority: u8,
    hop_limit: u32,
    hbh: bool,
    kernel_checksum: bool,
}

fn sender(ns: std::path::PathBuf, rx: mpsc::Receiver<Send>, done: mpsc::Sender<()>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        enter(&ns);
        let ifindex = nix::net::if_::if_nametoindex("eth0").expect("eth0");
        for s in rx {
            let sock = Socket::new(Domain::IPV6, Type::RAW, Some(Protocol::from(112))).expect("raw socket");
            set_int(&sock, libc::IPPROTO_IPV6, libc::IPV6_MULTICAST_HOPS, s.hop_limit as libc::c_int);
            set_int(&sock, libc::IPPROTO_IPV6, libc::IPV6_MULTICAST_IF, ifindex as libc::c_int);
            if s.kernel_checksum {
                set_int(&sock, libc::IPPROTO_IPV6, libc::IPV6_CHECKSUM, 6);
            }
            if s.hbh {
                let opt = [0u8, 0, 1, 4, 0, 0, 0, 0];
                // SAFETY: a valid socket and an 8-byte hop-by-hop header.
                let rc = unsafe { libc::setsockopt(sock.as_raw_fd(), libc::IPPROTO_IPV6, libc::IPV6_HOPOPTS, opt.as_ptr().cast(), 8) };
                assert_eq!(rc, 0, "IPV6_HOPOPTS: {}", std::io::Error::last_os_error());
            }
            let r = vrrp::Repr {
                version: vrrp::Version::V3,
                vrid: VRID,
                priority: s.priority,
                adver_int_cs: 100,
                auth: vrrp::Auth::None,
                addresses: vec![VIP.into()],
            };
            // The checksum over an arbitrary carrier: right only if the kernel redoes it.
            let carrier = vrrp::Carrier { src: Ipv6Addr::LOCALHOST.into(), dst: vrrp::MCAST_V6.into() };
            let msg = r.to_bytes(&carrier, vrrp::ChecksumMode::PseudoHeader);
            let to = SockAddr::from(SocketAddrV6::new(vrrp::MCAST_V6, 0, 0, ifindex));
            sock.send_to(&msg, &to).expect("send advert");
            let _ = done.send(());
        }
    })
}

enum Report {
    Event(Box<AdvertEvent>),
    Counts { ttl: u64, checksum: u64, accepted: u64, xdp: Box<GlobalStats> },
}

#[test]
fn ipv6_adverts_behind_extension_headers_are_judged_by_the_slow_path() {
    if !require_root("ipv6_adverts_behind_extension_headers_are_judged_by_the_slow_path") {
        return;
    }
    let lan = lan("slow6", &[("r", Ipv4Addr::new(198, 18, 0, 1)), ("p", Ipv4Addr::new(198, 18, 0, 2))]).expect("lan");
    let r_path = lan.host("r").ns.path();
    let (report_tx, report_rx) = mpsc::channel::<Report>();
    let (ask_tx, ask_rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let router = std::thread::spawn(move || {
        enter(&r_path);
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        rt.block_on(async move {
            let ifindex = nix::net::if_::if_nametoindex("eth0").expect("eth0");
            let mut dp = Dataplane::load_unpinned(KernelLogLevel::Off).expect("load");
            dp.attach("eth0", ifindex, Some("veth"), XdpMode::Skb, &[]).expect("attach XDP");
            let key = VridKey { ifindex, vrid: u16::from(VRID), family: AF_INET6 };
            let cfg = VridConfig { version: 3, adver_int_cs: 100, state: state::BACKUP, priority: 100, count_addrs: 1, ..VridConfig::default() };
            dp.set_vrid_addrs_v6(key, &[VIP.octets()], &[], &[]).expect("addrs");
            dp.init_vrid(key, cfg).expect("config");
            let mut slow = SlowPath::open(&dp).expect("slow path");
            slow.join_v6(ifindex).expect("join ff02::12");
            let mut ask_rx = ask_rx;
            let mut stop_rx = stop_rx;
            loop {
                tokio::select! {
                    ev = slow.recv() => { let _ = report_tx.send(Report::Event(Box::new(ev))); }
                    Some(()) = ask_rx.recv() => {
                        let xdp = Box::new(dp.global_stats().unwrap_or_default());
                        let _ = report_tx.send(Report::Counts { ttl: slow.dropped(DropReason::Ttl), checksum: slow.dropped(DropReason::Checksum), accepted: slow.accepted(), xdp });
                    }
                    _ = &mut stop_rx => break,
                }
            }
            drop(slow);
            drop(dp);
        });
    });
    let (send_tx, send_rx) = mpsc::channel::<Send>();
    let (sent_tx, sent_rx) = mpsc::channel::<()>();
    let tx = sender(lan.host("p").ns.path(), send_rx, sent_tx);
    let counts = || {
        ask_tx.send(()).expect("ask");
        match report_rx.recv_timeout(Duration::from_secs(5)).expect("router report") {
            Report::Counts { ttl, checksum, accepted, xdp } => (ttl, checksum, accepted, xdp),
            Report::Event(ev) => panic!("an unexpected slow-path event: {ev:?}"),
        }
    };
    let send = |s: Send| {
        send_tx.send(s).expect("to sender");
        sent_rx.recv_timeout(Duration::from_secs(5)).expect("sent");
    };
    // Wait for the router to be ready (its first report).
    let _ = counts();

    // 1. A plain advert: XDP consumes it (accepted there); the socket sees nothing.
    send(Send { priority: 150, hop_limit: 255, hbh: false, kernel_checksum: true });
    wait_for(Duration::from_secs(5), "XDP to accept the plain advert", || {
        let (_, _, accepted, xdp) = counts();
        assert_eq!(accepted, 0, "XDP consumed the plain advert: the socket never sees it");
        (xdp.vrrp_accepted == 1).then_some(())
    })
    .expect("XDP accepted the plain advert");

    // 2. Behind a hop-by-hop header: XDP passes it, the socket accepts it.
    send(Send { priority: 151, hop_limit: 255, hbh: true, kernel_checksum: true });
    let ev = match report_rx.recv_timeout(Duration::from_secs(5)).expect("a slow-path event") {
        Report::Event(ev) => ev,
        Report::Counts { .. } => panic!("no event"),
    };
    assert_eq!(ev.key.family, AF_INET6);
    assert_eq!(ev.key.vrid, u16::from(VRID));
    assert_eq!(ev.reasons, event_reason::SLOW_PATH);
    assert_eq!(ev.record.priority, 151);
    let src = Ipv6Addr::from(ev.record.src_v6);
    assert_eq!(src.segments()[0], 0xfe80, "from the peer's link-local address: {src}");
    assert_eq!(ev.record.src_v4, [0; 4]);

    // 3. Hop limit 254 and 4. a bad checksum, both behind the header: dropped and counted.
    send(Send { priority: 152, hop_limit: 254, hbh: true, kernel_checksum: true });
    send(Send { priority: 153, hop_limit: 255, hbh: true, kernel_checksum: false });
    let (_, _, accepted, xdp) = wait_for(Duration::from_secs(5), "the hop limit and checksum drops to be counted", || {
        let c = counts();
        (c.0 == 1 && c.1 == 1).then_some(c)
    })
    .expect("hop limit and checksum drops counted");
    assert_eq!(accepted, 1, "only the good one was accepted");
    assert_eq!(xdp.vrrp_accepted, 1, "XDP judged none of the three with the header");

    drop(send_tx);
    tx.join().expect("sender");
    let _ = stop_tx.send(());
    router.join().expect("router");
}
