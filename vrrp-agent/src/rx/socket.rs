//! The slow path: raw IPv4 and IPv6 sockets for protocol 112.
//!
//! XDP is an accelerator, not a requirement: every advert it does not consume reaches this
//! socket (one with IP options, a fragmented one once the kernel has reassembled it, and
//! every advert when XDP is not attached to the interface). Those for a configured VRID are
//! judged by [`validate`](super::validate::validate) against the same map contents the XDP
//! program reads, and an accepted one is handed to the election as the `AdvertEvent` the ring
//! buffer would have carried. Adverts XDP consumed (accepted or dropped) never reach the
//! socket, so nothing is delivered twice.
//!
//! The IPv6 socket gets the VRRP message after the IPv6 header and any extension headers (the
//! kernel walks and strips them; a fragmented advert arrives reassembled), with the source
//! address, and the destination, interface and hop limit as ancillary data
//! (`IPV6_RECVPKTINFO`, `IPV6_RECVHOPLIMIT`): [`validate_v6`](super::validate::validate_v6)
//! judges it. The kernel does not check the checksum (no `IPV6_CHECKSUM`), so a bad one is
//! counted under its reason, as in XDP. [`SlowPath::join_v6`] joins ff02::12 on an interface.
//!
//! Every drop is counted per reason and logged at debug; every [`REPORT_EVERY`] the counters
//! that moved (here and in the XDP program's maps) are logged once, so an address-list
//! mismatch or a v3 interval mismatch is visible without flooding the log.
use std::{
    collections::HashMap as StdHashMap,
    io::{self, IoSliceMut},
    net::Ipv6Addr,
    os::fd::AsRawFd as _,
    time::Duration,
};

use aya::maps::{HashMap, MapData, PerCpuArray, PerCpuHashMap};
use nix::sys::socket::{ControlMessageOwned, MsgFlags, SockaddrIn, SockaddrIn6, recvmsg, setsockopt, sockopt};
use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::unix::AsyncFd;
use tracing::{debug, info, warn};
use vrrp_common::{
    AddrListV6, VridAddrKeyV6,
    AddrList, AdvertEvent, AdvertRecord, DropReason, GlobalStats, VridAddr, VridAddrKey, VridConfig, VridKey, VridPeer,
    VridStats, event_reason,
};

use super::validate::{Ipv6Carrier, Rules, Verdict, validate, validate_v6};
use crate::dataplane::{Dataplane, sum_global, sum_vrid};

/// How often moved counters are logged (keepalived logs address-list mismatches per advert;
/// one line per interval and reason is enough to see them).
pub const REPORT_EVERY: Duration = Duration::from_secs(10);

/// The XDP program's validation maps, read through our own handles.
pub struct MapRules {
    config: HashMap<MapData, VridKey, VridConfig>,
    addrs: HashMap<MapData, VridAddrKey, VridAddr>,
    peers: HashMap<MapData, VridAddrKey, VridPeer>,
    lists: HashMap<MapData, VridKey, AddrList>,
    addrs_v6: HashMap<MapData, VridAddrKeyV6, VridAddr>,
    peers_v6: HashMap<MapData, VridAddrKeyV6, VridPeer>,
    lists_v6: HashMap<MapData, VridKey, AddrListV6>,
}

impl Rules for MapRules {
    fn config(&self, key: &VridKey) -> Option<VridConfig> {
        self.config.get(key, 0).ok()
    }
    fn addr(&self, key: &VridAddrKey) -> Option<VridAddr> {
        self.addrs.get(key, 0).ok()
    }
    fn is_peer(&self, key: &VridAddrKey) -> bool {
        self.peers.get(key, 0).is_ok()
    }
    fn addr_list(&self, key: &VridKey) -> Option<AddrList> {
        self.lists.get(key, 0).ok()
    }
    fn addr_v6(&self, key: &VridAddrKeyV6) -> Option<VridAddr> {
        self.addrs_v6.get(key, 0).ok()
    }
    fn is_peer_v6(&self, key: &VridAddrKeyV6) -> bool {
        self.peers_v6.get(key, 0).is_ok()
    }
    fn addr_list_v6(&self, key: &VridKey) -> Option<AddrListV6> {
        self.lists_v6.get(key, 0).ok()
    }
}

/// Where a datagram came from: the interface, and for IPv6 the header fields the checks need.
#[derive(Debug, Clone, Copy)]
enum From {
    V4 { ifindex: u32 },
    V6 { ifindex: u32, carrier: Ipv6Carrier },
}

pub struct SlowPath {
    sock: AsyncFd<Socket>,
    /// `None` on a host without IPv6 (`ipv6.disable=1`): IPv4 works as before.
    sock6: Option<AsyncFd<Socket>>,
    rules: MapRules,
    buf: Vec<u8>,
    /// Slow-path drops per reason (index = `DropReason as usize`), and accepted adverts.
    drops: Vec<u64>,
    accepted: u64,
    report: tokio::time::Interval,
    reported_drops: Vec<u64>,
    global: PerCpuArray<MapData, GlobalStats>,
    vrid_stats: PerCpuHashMap<MapData, VridKey, VridStats>,
    reported_global: GlobalStats,
    reported_mismatch: StdHashMap<VridKey, u64>,
    /// The last advert accepted per VRID: an event's `prev`, as XDP's record gives it.
    last: StdHashMap<VridKey, AdvertRecord>,
}

impl SlowPath {
    /// Opens the socket (IP_PKTINFO tells the receiving interface) and our handles on the
    /// dataplane's maps.
    pub fn open(dp: &Dataplane) -> anyhow::Result<Self> {
        let sock = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::from(i32::from(crate::wire::vrrp::IP_PROTO_VRRP))))?;
        sock.set_nonblocking(true)?;
        setsockopt(&sock, sockopt::Ipv4PacketInfo, &true)?;
        let sock6 = match open_v6() {
            Ok(s) => Some(s),
            Err(e) if e.raw_os_error() == Some(nix::libc::EAFNOSUPPORT) => {
                info!("IPv6 is disabled on this host: no IPv6 VRRP receive socket");
                None
            }
            Err(e) => return Err(e.into()),
        };
        let rules = MapRules {
            config: HashMap::try_from(dp.reopen(vrrp_common::names::VRID_CONFIG)?)?,
            addrs: HashMap::try_from(dp.reopen(vrrp_common::names::VRID_ADDRS)?)?,
            peers: HashMap::try_from(dp.reopen(vrrp_common::names::VRID_PEERS)?)?,
            lists: HashMap::try_from(dp.reopen(vrrp_common::names::VRID_ADDR_LIST)?)?,
            addrs_v6: HashMap::try_from(dp.reopen(vrrp_common::names::VRID_ADDRS_V6)?)?,
            peers_v6: HashMap::try_from(dp.reopen(vrrp_common::names::VRID_PEERS_V6)?)?,
            lists_v6: HashMap::try_from(dp.reopen(vrrp_common::names::VRID_ADDR_LIST_V6)?)?,
        };
        let global = PerCpuArray::try_from(dp.reopen(vrrp_common::names::GLOBAL_STATS)?)?;
        let vrid_stats = PerCpuHashMap::try_from(dp.reopen(vrrp_common::names::VRID_STATS)?)?;
        let mut report = tokio::time::interval(REPORT_EVERY);
        report.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let reported_global = global.get(&0, 0).map(|v| sum_global(&v)).unwrap_or_default();
        Ok(SlowPath {
            // SAFETY: the AsyncFd owns the socket, so the fd stays open while it is registered.
            sock: unsafe { AsyncFd::register(sock) }?,
            // SAFETY: as above.
            sock6: sock6.map(|s| unsafe { AsyncFd::register(s) }).transpose()?,
            rules,
            buf: vec![0; 65536],
            drops: vec![0; DropReason::ALL.len()],
            accepted: 0,
            report,
            reported_drops: vec![0; DropReason::ALL.len()],
            global,
            vrid_stats,
            reported_global,
            reported_mismatch: StdHashMap::new(),
            last: StdHashMap::new(),
        })
    }

    /// The next advert the slow path accepted, as the ring buffer would deliver it. Cancel
    /// safe (for `select!`): nothing is lost between polls, a packet is read whole or not.
    pub async fn recv(&mut self) -> AdvertEvent {
        loop {
            tokio::select! {
                guard = self.sock.readable() => {
                    let mut guard = match guard {
                        Ok(g) => g,
                        Err(e) => {
                            warn!("VRRP receive socket: {e}");
                            tokio::time::sleep(Duration::from_secs(1)).await;
                            continue;
                        }
                    };
                    match guard.try_io(|s| recv_one(s.get_ref(), &mut self.buf)) {
                        Ok(Ok((len, from))) => {
                            if let Some(ev) = self.judge(len, from) {
                                return ev;
                            }
                        }
                        Ok(Err(e)) => debug!("VRRP receive socket: {e}"),
                        Err(_would_block) => {}
                    }
                }
                guard = readable(self.sock6.as_ref()) => {
                    let mut guard = match guard {
                        Ok(g) => g,
                        Err(e) => {
                            warn!("VRRP IPv6 receive socket: {e}");
                            tokio::time::sleep(Duration::from_secs(1)).await;
                            continue;
                        }
                    };
                    match guard.try_io(|s| recv_one_v6(s.get_ref(), &mut self.buf)) {
                        Ok(Ok((len, from))) => {
                            if let Some(ev) = self.judge(len, from) {
                                return ev;
                            }
                        }
                        Ok(Err(e)) => debug!("VRRP IPv6 receive socket: {e}"),
                        Err(_would_block) => {}
                    }
                }
                _ = self.report.tick() => self.report_counters(),
            }
        }
    }

    /// Every advert already waiting on the socket, without waiting (bounded): a backup about
    /// to take over takes these first, as it drains the ring buffer.
    pub fn drain_now(&mut self) -> Vec<AdvertEvent> {
        let mut out = Vec::new();
        for _ in 0..1024 {
            match recv_one(self.sock.get_ref(), &mut self.buf) {
                Ok((len, from)) => out.extend(self.judge(len, from)),
                Err(_) => break,
            }
        }
        for _ in 0..1024 {
            let Some(sock6) = self.sock6.as_ref() else { break };
            match recv_one_v6(sock6.get_ref(), &mut self.buf) {
                Ok((len, from)) => out.extend(self.judge(len, from)),
                Err(_) => break,
            }
        }
        out
    }

    /// Adverts the slow path dropped for `reason` so far.
    pub fn dropped(&self, reason: DropReason) -> u64 {
        self.drops.get(reason as usize).copied().unwrap_or(0)
    }

    /// Adverts the slow path accepted so far.
    pub fn accepted(&self) -> u64 {
        self.accepted
    }

    /// Joins ff02::12 on an interface with an IPv6 instance (again after the interface was
    /// re-created: the membership goes with the device). Adverts to the group then reach this
    /// socket (what XDP passes) and are not filtered out by the NIC.
    pub fn join_v6(&self, ifindex: u32) -> io::Result<()> {
        let Some(sock6) = self.sock6.as_ref() else {
            return Err(io::Error::from_raw_os_error(nix::libc::EAFNOSUPPORT));
        };
        match sock6.get_ref().join_multicast_v6(&Ipv6Addr::from(vrrp_common::VRRP_GROUP_V6), ifindex) {
            // Already a member on this interface (an instance of another VRID, a restart).
            Err(e) if e.raw_os_error() == Some(nix::libc::EADDRINUSE) => Ok(()),
            r => r,
        }
    }

    /// Leaves ff02::12 on an interface that has no IPv6 instance any more.
    pub fn leave_v6(&self, ifindex: u32) {
        if let Some(sock6) = self.sock6.as_ref() {
            let _ = sock6.get_ref().leave_multicast_v6(&Ipv6Addr::from(vrrp_common::VRRP_GROUP_V6), ifindex);
        }
    }

    fn judge(&mut self, len: usize, from: From) -> Option<AdvertEvent> {
        let packet = self.buf.get(..len)?;
        let (verdict, ifindex) = match from {
            From::V4 { ifindex } => (validate(packet, ifindex, &self.rules), ifindex),
            From::V6 { ifindex, carrier } => (validate_v6(&carrier, packet, ifindex, &self.rules), ifindex),
        };
        match verdict {
            Verdict::Accept(a) => {
                self.accepted += 1;
                let mut record = a.record;
                record.ts_ns = crate::clock::now_ns();
                debug!(vrid = a.key.vrid, ifindex, src = %record.src(a.key.family), prio = record.priority, "slow path: advert accepted");
                let prev = self.last.insert(a.key, record).unwrap_or_default();
                Some(AdvertEvent { key: a.key, reasons: event_reason::SLOW_PATH, _pad: 0, record, prev })
            }
            Verdict::Drop { key, reason } => {
                if let Some(c) = self.drops.get_mut(reason as usize) {
                    *c += 1;
                }
                debug!(vrid = key.map(|k| k.vrid), ifindex, reason = reason.counter_name(), "slow path: advert dropped");
                None
            }
            Verdict::Pass(why) => {
                tracing::trace!(ifindex, ?why, "slow path: not for us");
                None
            }
        }
    }

    /// Logs, once per `REPORT_EVERY`, the drop reasons that moved (slow path and XDP) and the
    /// instances that accepted v3 adverts with another interval than ours.
    fn report_counters(&mut self) {
        let g = self.global.get(&0, 0).map(|v| sum_global(&v)).unwrap_or_default();
        for (i, r) in DropReason::ALL.iter().enumerate() {
            let xdp = g.drop_count(*r).saturating_sub(self.reported_global.drop_count(*r));
            let slow = self.drops[i].saturating_sub(self.reported_drops[i]);
            if xdp + slow > 0 {
                let msg = format!("{} advert(s) dropped as {} in the last {} s ({xdp} in XDP, {slow} on the slow path)", xdp + slow, r.counter_name(), REPORT_EVERY.as_secs());
                match r {
                    DropReason::AddrList | DropReason::UnknownPeer | DropReason::SourceIsVip | DropReason::AuthPass => warn!("{msg}"),
                    _ => info!("{msg}"),
                }
            }
        }
        self.reported_global = g;
        self.reported_drops.clone_from(&self.drops);
        let keys: Vec<VridKey> = self.vrid_stats.keys().filter_map(Result::ok).collect();
        for key in keys {
            let Ok(v) = self.vrid_stats.get(&key, 0) else { continue };
            let n = sum_vrid(&v).interval_mismatch;
            let before = self.reported_mismatch.insert(key, n).unwrap_or(0);
            if n > before {
                warn!(vrid = key.vrid, ifindex = key.ifindex, "{} VRRPv3 advert(s) with an advert interval different from ours in the last {} s: learned, as RFC 5798 says; a forged one with a long interval delays takeover (see the README)", n - before, REPORT_EVERY.as_secs());
            }
        }
    }
}

/// Readiness of an optional socket: never, without one.
async fn readable(sock: Option<&AsyncFd<Socket>>) -> io::Result<tokio::io::unix::AsyncFdReadyGuard<'_, Socket>> {
    match sock {
        Some(s) => s.readable().await,
        None => std::future::pending().await,
    }
}

/// The raw IPv6 socket: protocol 112, with the destination, interface and hop limit of each
/// datagram as ancillary data. No `IPV6_CHECKSUM`: the validator checks (and counts) it.
fn open_v6() -> io::Result<Socket> {
    let sock = Socket::new(Domain::IPV6, Type::RAW, Some(Protocol::from(i32::from(crate::wire::vrrp::IP_PROTO_VRRP))))?;
    sock.set_nonblocking(true)?;
    setsockopt(&sock, sockopt::Ipv6RecvPacketInfo, &true)?;
    setsockopt(&sock, sockopt::Ipv6RecvHopLimit, &true)?;
    Ok(sock)
}

/// Reads one IPv6 VRRP message (what follows the IPv6 header and extension headers) and where
/// it came from. A datagram without its ancillary data is refused (never judged on guesses).
fn recv_one_v6(sock: &Socket, buf: &mut [u8]) -> io::Result<(usize, From)> {
    let mut cmsg = nix::cmsg_space!(nix::libc::in6_pktinfo, nix::libc::c_int);
    let mut iov = [IoSliceMut::new(buf)];
    let msg = recvmsg::<SockaddrIn6>(sock.as_raw_fd(), &mut iov, Some(&mut cmsg), MsgFlags::MSG_DONTWAIT)?;
    if msg.flags.contains(MsgFlags::MSG_TRUNC) {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "datagram larger than the buffer"));
    }
    let src = msg.address.map(|a| a.ip());
    let (mut info, mut hop_limit) = (None, None);
    for c in msg.cmsgs()? {
        match c {
            ControlMessageOwned::Ipv6PacketInfo(i) => info = Some(i),
            ControlMessageOwned::Ipv6HopLimit(h) => hop_limit = u8::try_from(h).ok(),
            _ => {}
        }
    }
    match (src, info, hop_limit) {
        (Some(src), Some(info), Some(hop_limit)) => {
            let carrier = Ipv6Carrier { src, dst: Ipv6Addr::from(info.ipi6_addr.s6_addr), hop_limit };
            Ok((msg.bytes, From::V6 { ifindex: info.ipi6_ifindex, carrier }))
        }
        _ => Err(io::Error::new(io::ErrorKind::InvalidData, "IPv6 datagram without its source, IPV6_PKTINFO or IPV6_HOPLIMIT")),
    }
}

/// Reads one datagram (IP header included, as raw IPv4 sockets deliver it) and the index of
/// the interface it arrived on.
fn recv_one(sock: &Socket, buf: &mut [u8]) -> io::Result<(usize, From)> {
    let mut cmsg = nix::cmsg_space!(nix::libc::in_pktinfo);
    let mut iov = [IoSliceMut::new(buf)];
    let msg = recvmsg::<SockaddrIn>(sock.as_raw_fd(), &mut iov, Some(&mut cmsg), MsgFlags::MSG_DONTWAIT)?;
    if msg.flags.contains(MsgFlags::MSG_TRUNC) {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "datagram larger than the buffer"));
    }
    let mut ifindex = 0;
    for c in msg.cmsgs()? {
        if let ControlMessageOwned::Ipv4PacketInfo(info) = c {
            ifindex = info.ipi_ifindex as u32;
        }
    }
    Ok((msg.bytes, From::V4 { ifindex }))
}
