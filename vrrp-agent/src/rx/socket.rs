//! The slow path: a raw IPv4 socket for protocol 112.
//!
//! XDP is an accelerator, not a requirement: every advert it does not consume reaches this
//! socket (one with IP options, a fragmented one once the kernel has reassembled it, and
//! every advert when XDP is not attached to the interface). Those for a configured VRID are
//! judged by [`validate`](super::validate::validate) against the same map contents the XDP
//! program reads, and an accepted one is handed to the election as the `AdvertEvent` the ring
//! buffer would have carried. Adverts XDP consumed (accepted or dropped) never reach the
//! socket, so nothing is delivered twice.
//!
//! Every drop is counted per reason and logged at debug; every [`REPORT_EVERY`] the counters
//! that moved (here and in the XDP program's maps) are logged once, so an address-list
//! mismatch or a v3 interval mismatch is visible without flooding the log.
use std::{
    collections::HashMap as StdHashMap,
    io::{self, IoSliceMut},
    os::fd::AsRawFd as _,
    time::Duration,
};

use aya::maps::{HashMap, MapData, PerCpuArray, PerCpuHashMap};
use nix::sys::socket::{ControlMessageOwned, MsgFlags, SockaddrIn, recvmsg, setsockopt, sockopt};
use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::unix::AsyncFd;
use tracing::{debug, info, warn};
use vrrp_common::{
    AddrList, AdvertEvent, DropReason, GlobalStats, VridAddr, VridAddrKey, VridConfig, VridKey, VridPeer,
    VridStats, event_reason,
};

use super::validate::{Rules, Verdict, validate};
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
}

pub struct SlowPath {
    sock: AsyncFd<Socket>,
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
}

impl SlowPath {
    /// Opens the socket (IP_PKTINFO tells the receiving interface) and our handles on the
    /// dataplane's maps.
    pub fn open(dp: &Dataplane) -> anyhow::Result<Self> {
        let sock = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::from(i32::from(crate::wire::vrrp::IP_PROTO_VRRP))))?;
        sock.set_nonblocking(true)?;
        setsockopt(&sock, sockopt::Ipv4PacketInfo, &true)?;
        let rules = MapRules {
            config: HashMap::try_from(dp.reopen(vrrp_common::names::VRID_CONFIG)?)?,
            addrs: HashMap::try_from(dp.reopen(vrrp_common::names::VRID_ADDRS)?)?,
            peers: HashMap::try_from(dp.reopen(vrrp_common::names::VRID_PEERS)?)?,
            lists: HashMap::try_from(dp.reopen(vrrp_common::names::VRID_ADDR_LIST)?)?,
        };
        let global = PerCpuArray::try_from(dp.reopen(vrrp_common::names::GLOBAL_STATS)?)?;
        let vrid_stats = PerCpuHashMap::try_from(dp.reopen(vrrp_common::names::VRID_STATS)?)?;
        let mut report = tokio::time::interval(REPORT_EVERY);
        report.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let reported_global = global.get(&0, 0).map(|v| sum_global(&v)).unwrap_or_default();
        Ok(SlowPath {
            // SAFETY: the AsyncFd owns the socket, so the fd stays open while it is registered.
            sock: unsafe { AsyncFd::register(sock) }?,
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
                        Ok(Ok((len, ifindex))) => {
                            if let Some(ev) = self.judge(len, ifindex) {
                                return ev;
                            }
                        }
                        Ok(Err(e)) => debug!("VRRP receive socket: {e}"),
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
                Ok((len, ifindex)) => out.extend(self.judge(len, ifindex)),
                Err(_) => break,
            }
        }
        out
    }

    fn judge(&mut self, len: usize, ifindex: u32) -> Option<AdvertEvent> {
        let packet = self.buf.get(..len)?;
        match validate(packet, ifindex, &self.rules) {
            Verdict::Accept(a) => {
                self.accepted += 1;
                let mut record = a.record;
                record.ts_ns = crate::clock::now_ns();
                debug!(vrid = a.key.vrid, ifindex, src = %std::net::Ipv4Addr::from(record.src_v4), prio = record.priority, "slow path: advert accepted");
                Some(AdvertEvent { key: a.key, reasons: event_reason::SLOW_PATH, _pad: 0, record })
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

/// Reads one datagram (IP header included, as raw IPv4 sockets deliver it) and the index of
/// the interface it arrived on.
fn recv_one(sock: &Socket, buf: &mut [u8]) -> io::Result<(usize, u32)> {
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
    Ok((msg.bytes, ifindex))
}
