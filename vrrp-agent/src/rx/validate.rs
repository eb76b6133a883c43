//! The receive checks, in userspace: the same rules, in the same order, with the same
//! [`DropReason`]s as the XDP program (`vrrp-ebpf/src/main.rs`, `validate`), for the adverts XDP
//! does not judge (IP options, reassembled fragments, or every advert when XDP is not
//! attached). `tests/tests/validator_parity.rs` runs both on the same frames and requires the
//! same verdicts.
//!
//! The instance data comes from the same map contents the XDP program reads ([`Rules`]: the
//! `VRID_CONFIG`, `VRID_ADDRS` and `VRID_PEERS` maps, or a [`RuleTable`] holding the same
//! entries), written by one function ([`addr_entries`]).
//!
//! IPv6 (VRRPv3 only) is judged by [`validate_v6`] (the slow path: the VRRP message as a raw
//! IPv6 socket delivers it, with the addresses and hop limit from ancillary data) and
//! [`validate_ipv6_packet`] (a whole IPv6 packet, as XDP sees it), with the same reasons, from
//! the `_V6` address maps.
//!
//! Never panics, whatever the bytes (fuzzed below with proptest).
use std::{
    collections::{HashMap, HashSet},
    net::Ipv6Addr,
};

use vrrp_common::{
    AF_INET, AF_INET6, AddrList, AddrListV6, AdvertRecord, DropReason, MAX_ADDRS_V6, VRRP_GROUP_V4, VRRP_GROUP_V6,
    VridAddr, VridAddrKey, VridAddrKeyV6, VridConfig, VridKey, VridPeer, addr_kind, flags, is_martian_source_v4,
    is_martian_source_v6,
};

use crate::wire::checksum;

const IPPROTO_VRRP: u8 = 112;
const VRRP_HLEN: usize = 8;
const VRRP_AUTH_LEN: usize = 8;

/// What the validator needs to know about the configured instances: the contents of the
/// `VRID_CONFIG`, `VRID_ADDRS` and `VRID_PEERS` maps (and their `_V6` twins).
pub trait Rules {
    fn config(&self, key: &VridKey) -> Option<VridConfig>;
    fn addr(&self, key: &VridAddrKey) -> Option<VridAddr>;
    fn is_peer(&self, key: &VridAddrKey) -> bool;
    /// `VRID_ADDR_LIST`: our advertised addresses in advert order.
    fn addr_list(&self, key: &VridKey) -> Option<AddrList>;
    fn addr_v6(&self, key: &VridAddrKeyV6) -> Option<VridAddr>;
    fn is_peer_v6(&self, key: &VridAddrKeyV6) -> bool;
    fn addr_list_v6(&self, key: &VridKey) -> Option<AddrListV6>;
}

/// The address-map entries of one instance, either family: `advertised` in advert order
/// (index = position), then `excluded` addresses that are not also advertised.
fn entries<A: Copy + PartialEq, K>(advertised: &[A], excluded: &[A], key: impl Fn(A) -> K) -> Vec<(K, VridAddr)> {
    let adv = advertised
        .iter()
        .enumerate()
        .map(|(i, a)| (key(*a), VridAddr { kind: addr_kind::ADVERTISED, index: i as u32 }));
    let exc = excluded
        .iter()
        .filter(|a| !advertised.contains(a))
        .map(|a| (key(*a), VridAddr { kind: addr_kind::EXCLUDED, index: 0 }));
    adv.chain(exc).collect()
}

/// The `VRID_ADDRS` entries of one instance: `advertised` in advert order (index = position),
/// then `excluded` addresses that are not also advertised. `VridConfig::count_addrs` is
/// `advertised.len()`.
pub fn addr_entries(key: VridKey, advertised: &[[u8; 4]], excluded: &[[u8; 4]]) -> Vec<(VridAddrKey, VridAddr)> {
    entries(advertised, excluded, |a| VridAddrKey::new(key, a))
}

/// The `VRID_PEERS` entries of one instance.
pub fn peer_entries(key: VridKey, peers: &[[u8; 4]]) -> Vec<(VridAddrKey, VridPeer)> {
    peers.iter().enumerate().map(|(i, p)| (VridAddrKey::new(key, *p), VridPeer { index: i as u32 })).collect()
}

/// `addr_entries` for an IPv6 instance (`VRID_ADDRS_V6`).
pub fn addr_entries_v6(key: VridKey, advertised: &[[u8; 16]], excluded: &[[u8; 16]]) -> Vec<(VridAddrKeyV6, VridAddr)> {
    entries(advertised, excluded, |a| VridAddrKeyV6::new(key, a))
}

/// `peer_entries` for an IPv6 instance (`VRID_PEERS_V6`).
pub fn peer_entries_v6(key: VridKey, peers: &[[u8; 16]]) -> Vec<(VridAddrKeyV6, VridPeer)> {
    peers.iter().enumerate().map(|(i, p)| (VridAddrKeyV6::new(key, *p), VridPeer { index: i as u32 })).collect()
}

/// The map contents in memory (tests; the daemon reads the maps themselves).
#[derive(Debug, Clone, Default)]
pub struct RuleTable {
    pub configs: HashMap<VridKey, VridConfig>,
    pub addrs: HashMap<VridAddrKey, VridAddr>,
    pub peers: HashSet<VridAddrKey>,
    pub lists: HashMap<VridKey, AddrList>,
    pub addrs_v6: HashMap<VridAddrKeyV6, VridAddr>,
    pub peers_v6: HashSet<VridAddrKeyV6>,
    pub lists_v6: HashMap<VridKey, AddrListV6>,
}

impl RuleTable {
    /// Adds an instance as `Dataplane::init_vrid` + `set_vrid_addrs` write it to the maps
    /// (`count_addrs` is set from `advertised`).
    pub fn insert(&mut self, key: VridKey, mut config: VridConfig, advertised: &[[u8; 4]], excluded: &[[u8; 4]], peers: &[[u8; 4]]) {
        config.count_addrs = advertised.len() as u32;
        self.configs.insert(key, config);
        self.addrs.extend(addr_entries(key, advertised, excluded));
        self.peers.extend(peer_entries(key, peers).into_iter().map(|(k, _)| k));
        self.lists.insert(key, AddrList::new(advertised));
    }

    /// `insert` for an IPv6 instance, as `Dataplane::init_vrid` + `set_vrid_addrs_v6` write it.
    pub fn insert_v6(&mut self, key: VridKey, mut config: VridConfig, advertised: &[[u8; 16]], excluded: &[[u8; 16]], peers: &[[u8; 16]]) {
        config.count_addrs = advertised.len() as u32;
        self.configs.insert(key, config);
        self.addrs_v6.extend(addr_entries_v6(key, advertised, excluded));
        self.peers_v6.extend(peer_entries_v6(key, peers).into_iter().map(|(k, _)| k));
        self.lists_v6.insert(key, AddrListV6::new(advertised));
    }
}

impl Rules for RuleTable {
    fn config(&self, key: &VridKey) -> Option<VridConfig> {
        self.configs.get(key).copied()
    }
    fn addr(&self, key: &VridAddrKey) -> Option<VridAddr> {
        self.addrs.get(key).copied()
    }
    fn is_peer(&self, key: &VridAddrKey) -> bool {
        self.peers.contains(key)
    }
    fn addr_list(&self, key: &VridKey) -> Option<AddrList> {
        self.lists.get(key).copied()
    }
    fn addr_v6(&self, key: &VridAddrKeyV6) -> Option<VridAddr> {
        self.addrs_v6.get(key).copied()
    }
    fn is_peer_v6(&self, key: &VridAddrKeyV6) -> bool {
        self.peers_v6.contains(key)
    }
    fn addr_list_v6(&self, key: &VridKey) -> Option<AddrListV6> {
        self.lists_v6.get(key).copied()
    }
}

/// Why a packet is not judged at all (XDP passes these to the stack).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PassReason {
    /// Not an IPv4 VRRP packet (or an IPv4 header too short to say).
    NotVrrp,
    /// An IPv4 fragment: judged once the kernel has reassembled it.
    Fragment,
    /// A VRID not configured on this interface.
    UnknownVrid,
    /// An IPv6 packet with extension headers (XDP passes it; the raw socket gets the VRRP
    /// message after them, judged by `validate_v6`).
    ExtensionHeaders,
    /// An IPv6 advert naming more than `MAX_ADDRS_V6` addresses (a jumbo frame): XDP passes
    /// it, the slow path judges it.
    TooManyAddrs,
}

/// An advert that passed every check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Accepted {
    pub key: VridKey,
    /// As the XDP program records it; `ts_ns` and `seq` are 0 (the caller stamps it).
    pub record: AdvertRecord,
    /// v3: the checksum matched with the IPv4 pseudo-header (keepalived/FRR), not without.
    pub pseudo_header: bool,
    /// v3: the advert's interval differs from ours (accepted and learned, but counted).
    pub interval_mismatch: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Pass(PassReason),
    /// `key` is `None` when the packet was too short to read the VRID.
    Drop { key: Option<VridKey>, reason: DropReason },
    Accept(Accepted),
}

/// Judges one IPv4 packet (IP header, options included, then VRRP; trailing bytes after the
/// IP total length are ignored) received on `ifindex`.
///
/// The order of the checks, shared with the XDP program (the first failing one is the reason):
/// 0. not IPv4 / not protocol 112 / a fragment: pass; fewer than 8 VRRP bytes: `Truncated`;
///    the VRID not configured on `ifindex`: pass.
/// 1. IPv4 header checksum (`IpChecksum`).
/// 2. destination: a unicast instance wants our primary address (`MulticastToUnicast` for
///    224.0.0.18, else `WrongDestination`); a multicast one 224.0.0.18 (`WrongDestination`
///    for another group, `UnicastToMulticast` otherwise).
/// 3. TTL 255, multicast instances only (`Ttl`).
/// 4. source: martian (`MartianSource`), our primary (`SourceIsSelf`), one of our VIPs
///    (`SourceIsVip`).
/// 5. with a peer allow-list (`flags::PEER_ALLOW_LIST`: `allowed_peer`, or
///    `vrrp_check_unicast_src` on a unicast instance), multicast or unicast: a source in it
///    (`UnknownPeer`).
/// 6. version (`Version`), type (`Type`). (The address owner accepts adverts too: it
///    re-asserts against them and reports a second owner.)
/// 7. count 0 (`AddrCountZero`); message shorter than declared (`Truncated`), longer
///    (`Length`).
/// 8. v2: auth type (`AuthType`), PASS (`AuthPass`), interval equal to ours (`Interval`);
///    v3: interval non-zero (`BadInterval`).
/// 9. VRRP checksum; v3 over IPv4 with or without the pseudo-header (`Checksum`).
/// 10. unless `vrrp_skip_check_adv_addr`: the same count as ours, and either our list in our
///     order (`VRID_ADDR_LIST`) or each of our advertised addresses exactly once (`AddrList`).
pub fn validate(ip: &[u8], ifindex: u32, rules: &impl Rules) -> Verdict {
    // 0. What XDP passes without judging.
    let Some(fixed) = ip.get(..20) else {
        return Verdict::Pass(PassReason::NotVrrp);
    };
    let ihl = usize::from(fixed[0] & 0x0f) * 4;
    if fixed[0] >> 4 != 4 || ihl < 20 || fixed[9] != IPPROTO_VRRP {
        return Verdict::Pass(PassReason::NotVrrp);
    }
    if u16::from_be_bytes([fixed[6], fixed[7]]) & 0x3fff != 0 {
        return Verdict::Pass(PassReason::Fragment);
    }
    let (Some(header), Some(hdr)) = (ip.get(..ihl), ip.get(ihl..ihl + VRRP_HLEN)) else {
        return Verdict::Drop { key: None, reason: DropReason::Truncated };
    };
    let key = VridKey { ifindex, vrid: u16::from(hdr[1]), family: AF_INET };
    let Some(cfg) = rules.config(&key) else {
        return Verdict::Pass(PassReason::UnknownVrid);
    };
    match check(ip, header, hdr, key, &cfg, rules) {
        Ok(a) => Verdict::Accept(a),
        Err(reason) => Verdict::Drop { key: Some(key), reason },
    }
}

fn check(ip: &[u8], header: &[u8], hdr: &[u8], key: VridKey, cfg: &VridConfig, rules: &impl Rules) -> Result<Accepted, DropReason> {
    // 1.
    if checksum::fold(checksum::ones_complement_sum(header, 0)) != 0 {
        return Err(DropReason::IpChecksum);
    }
    let ihl = header.len();
    let total_len = usize::from(u16::from_be_bytes([header[2], header[3]]));
    let ttl = header[8];
    let src = [header[12], header[13], header[14], header[15]];
    let dst = [header[16], header[17], header[18], header[19]];
    // 2.
    let unicast = cfg.flags & flags::UNICAST != 0;
    if unicast {
        if dst == VRRP_GROUP_V4 {
            return Err(DropReason::MulticastToUnicast);
        }
        if dst != cfg.primary_v4 {
            return Err(DropReason::WrongDestination);
        }
    } else if dst != VRRP_GROUP_V4 {
        return Err(if dst[0] & 0xf0 == 0xe0 { DropReason::WrongDestination } else { DropReason::UnicastToMulticast });
    }
    // 3.
    if !unicast && ttl != 255 {
        return Err(DropReason::Ttl);
    }
    // 4.
    if is_martian_source_v4(src) {
        return Err(DropReason::MartianSource);
    }
    if src == cfg.primary_v4 {
        return Err(DropReason::SourceIsSelf);
    }
    let src_key = VridAddrKey::new(key, src);
    if rules.addr(&src_key).is_some() {
        return Err(DropReason::SourceIsVip);
    }
    // 5.
    if cfg.flags & flags::PEER_ALLOW_LIST != 0 && !rules.is_peer(&src_key) {
        return Err(DropReason::UnknownPeer);
    }
    // 6.
    let version = u32::from(hdr[0] >> 4);
    if version != cfg.version {
        return Err(DropReason::Version);
    }
    if hdr[0] & 0x0f != 1 {
        return Err(DropReason::Type);
    }
    // 7.
    let priority = hdr[2];
    let count = usize::from(hdr[3]);
    if count == 0 {
        return Err(DropReason::AddrCountZero);
    }
    let auth_len = if version == 2 { VRRP_AUTH_LEN } else { 0 };
    let needed = VRRP_HLEN + 4 * count + auth_len;
    if total_len < ihl + VRRP_HLEN {
        return Err(DropReason::Truncated);
    }
    let vrrp_len = total_len - ihl;
    let Some(msg) = ip.get(ihl..ihl + vrrp_len).filter(|_| vrrp_len >= needed) else {
        return Err(DropReason::Truncated);
    };
    if vrrp_len > needed {
        return Err(DropReason::Length);
    }
    let addrs = &msg[VRRP_HLEN..VRRP_HLEN + 4 * count];
    // 8.
    let adver_int_cs = if version == 2 {
        if u32::from(hdr[4]) != cfg.auth_type {
            return Err(DropReason::AuthType);
        }
        if cfg.flags & flags::AUTH_PASS != 0 {
            let auth = &msg[VRRP_HLEN + 4 * count..needed];
            let lo = u32::from_ne_bytes([auth[0], auth[1], auth[2], auth[3]]);
            let hi = u32::from_ne_bytes([auth[4], auth[5], auth[6], auth[7]]);
            if lo != cfg.auth_pass_lo || hi != cfg.auth_pass_hi {
                return Err(DropReason::AuthPass);
            }
        }
        let cs = u32::from(hdr[5]) * 100;
        if cs != cfg.adver_int_cs {
            return Err(DropReason::Interval);
        }
        cs
    } else {
        let raw = u32::from(u16::from_be_bytes([hdr[4], hdr[5]]) & 0x0fff);
        if raw == 0 {
            return Err(DropReason::BadInterval);
        }
        raw
    };
    // 9.
    let mut pseudo_header = false;
    if checksum::fold(checksum::ones_complement_sum(msg, 0)) != 0 {
        if version != 3 {
            return Err(DropReason::Checksum);
        }
        let ph = checksum::pseudo_header_v4(src.into(), dst.into(), IPPROTO_VRRP, vrrp_len as u16);
        if checksum::fold(checksum::ones_complement_sum(msg, ph)) != 0 {
            return Err(DropReason::Checksum);
        }
        pseudo_header = true;
    }
    // 10.
    if cfg.flags & flags::SKIP_CHECK_ADV_ADDR == 0 {
        if count as u32 != cfg.count_addrs {
            return Err(DropReason::AddrList);
        }
        // As XDP: our list in our order is accepted at once; otherwise as a set.
        let in_order = rules.addr_list(&key).is_some_and(|l| l.same_in_order(addrs));
        let mut seen = [0u64; 4];
        for a in addrs.chunks_exact(4).filter(|_| !in_order) {
            let k = VridAddrKey::new(key, [a[0], a[1], a[2], a[3]]);
            let Some(v) = rules.addr(&k).filter(|v| v.kind == addr_kind::ADVERTISED) else {
                return Err(DropReason::AddrList);
            };
            let idx = (v.index & 0xff) as usize;
            let (w, bit) = (idx >> 6, 1u64 << (idx & 63));
            if seen[w] & bit != 0 {
                return Err(DropReason::AddrList);
            }
            seen[w] |= bit;
        }
    }
    Ok(Accepted {
        key,
        record: AdvertRecord {
            ts_ns: 0,
            src_v4: src,
            priority: u32::from(priority),
            adver_int_cs,
            version,
            count_addrs: count as u32,
            _pad: 0,
            seq: 0,
            src_v6: [0; 16],
        },
        pseudo_header,
        interval_mismatch: version == 3 && adver_int_cs != cfg.adver_int_cs,
    })
}

/// Where an IPv6 VRRP message came from: the IPv6 header fields the checks read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv6Carrier {
    pub src: Ipv6Addr,
    pub dst: Ipv6Addr,
    pub hop_limit: u8,
}

const IPV6_HLEN: usize = 40;

/// Judges one IPv6 VRRP message as a raw IPv6 socket delivers it (the bytes after the IPv6
/// header and any extension headers; `carrier` from the source address, `IPV6_PKTINFO` and
/// `IPV6_HOPLIMIT`), received on `ifindex`. The slow path's half of [`validate_ipv6_packet`]:
/// the same checks, without XDP's limits.
///
/// The order of the checks (the first failing one is the reason), shared with the XDP program:
/// 0. fewer than 8 bytes: `Truncated`; the VRID not configured on `ifindex` for IPv6: pass.
/// 2. destination: a unicast instance wants our address (`VridConfig::primary_v6`;
///    `MulticastToUnicast` for ff02::12, else `WrongDestination`), a multicast one ff02::12
///    (`WrongDestination` for another group, `UnicastToMulticast` otherwise).
/// 3. hop limit 255, multicast instances only (`Ttl`).
/// 4. source: martian (::, ::1, multicast, IPv4-mapped: `MartianSource`), our address
///    (`SourceIsSelf`), one of our VIPs (`SourceIsVip`). A source that is not link-local is
///    accepted, as keepalived accepts it.
/// 5. with a peer allow-list (`flags::PEER_ALLOW_LIST`: `allowed_peer`, or
///    `vrrp_check_unicast_src` on a unicast instance), multicast or unicast: a source in it
///    (`UnknownPeer`).
/// 6. version 3, the instance's (`Version`: VRRPv2 does not exist over IPv6), type (`Type`).
/// 7. count 0 (`AddrCountZero`); message shorter than declared (`Truncated`), longer
///    (`Length`).
/// 8. interval non-zero (`BadInterval`).
/// 9. checksum with the IPv6 pseudo-header (`Checksum`; RFC 5798 §5.2.8, no other form).
/// 10. unless `vrrp_skip_check_adv_addr`: the same count as ours, and either our list in our
///     order (`VRID_ADDR_LIST_V6`) or each of our advertised addresses exactly once (`AddrList`).
pub fn validate_v6(carrier: &Ipv6Carrier, msg: &[u8], ifindex: u32, rules: &impl Rules) -> Verdict {
    let Some(hdr) = msg.get(..VRRP_HLEN) else {
        return Verdict::Drop { key: None, reason: DropReason::Truncated };
    };
    let key = VridKey { ifindex, vrid: u16::from(hdr[1]), family: AF_INET6 };
    let Some(cfg) = rules.config(&key) else {
        return Verdict::Pass(PassReason::UnknownVrid);
    };
    match check_v6(carrier, msg.len(), msg, key, &cfg, rules) {
        Ok(a) => Verdict::Accept(a),
        Err(reason) => Verdict::Drop { key: Some(key), reason },
    }
}

/// Judges one whole IPv6 packet (header, then payload; bytes after the payload length are
/// ignored) received on `ifindex`, as the XDP program does: what it passes to the stack
/// without judging (not VRRP, extension headers, more than `MAX_ADDRS_V6` addresses) is a
/// `Pass` here too; the rest as [`validate_v6`].
pub fn validate_ipv6_packet(ip: &[u8], ifindex: u32, rules: &impl Rules) -> Verdict {
    let Some(h) = ip.get(..IPV6_HLEN) else {
        return Verdict::Pass(PassReason::NotVrrp);
    };
    if h[0] >> 4 != 6 {
        return Verdict::Pass(PassReason::NotVrrp);
    }
    match h[6] {
        IPPROTO_VRRP => {}
        // Hop-by-hop, routing, destination options, AH.
        0 | 43 | 60 | 51 => return Verdict::Pass(PassReason::ExtensionHeaders),
        44 => return Verdict::Pass(PassReason::Fragment),
        _ => return Verdict::Pass(PassReason::NotVrrp),
    }
    let payload = &ip[IPV6_HLEN..];
    let Some(hdr) = payload.get(..VRRP_HLEN) else {
        return Verdict::Drop { key: None, reason: DropReason::Truncated };
    };
    if u32::from(hdr[3]) > MAX_ADDRS_V6 {
        return Verdict::Pass(PassReason::TooManyAddrs);
    }
    let key = VridKey { ifindex, vrid: u16::from(hdr[1]), family: AF_INET6 };
    let Some(cfg) = rules.config(&key) else {
        return Verdict::Pass(PassReason::UnknownVrid);
    };
    let addr = |at: usize| Ipv6Addr::from(<[u8; 16]>::try_from(&h[at..at + 16]).unwrap_or([0; 16]));
    let carrier = Ipv6Carrier { src: addr(8), dst: addr(24), hop_limit: h[7] };
    let payload_len = usize::from(u16::from_be_bytes([h[4], h[5]]));
    match check_v6(&carrier, payload_len, payload, key, &cfg, rules) {
        Ok(a) => Verdict::Accept(a),
        Err(reason) => Verdict::Drop { key: Some(key), reason },
    }
}

/// Steps 2..10 of `validate_v6`. `vrrp_len` is the message's length as declared (the IPv6
/// payload length; the received length on a socket); `avail` the bytes there are from its
/// start (at least 8).
fn check_v6(c: &Ipv6Carrier, vrrp_len: usize, avail: &[u8], key: VridKey, cfg: &VridConfig, rules: &impl Rules) -> Result<Accepted, DropReason> {
    let (src, dst) = (c.src.octets(), c.dst.octets());
    // 2.
    let unicast = cfg.flags & flags::UNICAST != 0;
    if unicast {
        if dst == VRRP_GROUP_V6 {
            return Err(DropReason::MulticastToUnicast);
        }
        if dst != cfg.primary_v6 {
            return Err(DropReason::WrongDestination);
        }
    } else if dst != VRRP_GROUP_V6 {
        return Err(if dst[0] == 0xff { DropReason::WrongDestination } else { DropReason::UnicastToMulticast });
    }
    // 3.
    if !unicast && c.hop_limit != 255 {
        return Err(DropReason::Ttl);
    }
    // 4.
    if is_martian_source_v6(src) {
        return Err(DropReason::MartianSource);
    }
    if src == cfg.primary_v6 {
        return Err(DropReason::SourceIsSelf);
    }
    let src_key = VridAddrKeyV6::new(key, src);
    if rules.addr_v6(&src_key).is_some() {
        return Err(DropReason::SourceIsVip);
    }
    // 5.
    if cfg.flags & flags::PEER_ALLOW_LIST != 0 && !rules.is_peer_v6(&src_key) {
        return Err(DropReason::UnknownPeer);
    }
    // 6.
    let hdr = avail.get(..VRRP_HLEN).ok_or(DropReason::Truncated)?;
    let version = u32::from(hdr[0] >> 4);
    if version != cfg.version || version != 3 {
        return Err(DropReason::Version);
    }
    if hdr[0] & 0x0f != 1 {
        return Err(DropReason::Type);
    }
    // 7.
    let priority = hdr[2];
    let count = usize::from(hdr[3]);
    if count == 0 {
        return Err(DropReason::AddrCountZero);
    }
    let needed = VRRP_HLEN + 16 * count;
    let Some(msg) = avail.get(..vrrp_len).filter(|_| vrrp_len >= needed) else {
        return Err(DropReason::Truncated);
    };
    if vrrp_len > needed {
        return Err(DropReason::Length);
    }
    let addrs = &msg[VRRP_HLEN..needed];
    // 8.
    let adver_int_cs = u32::from(u16::from_be_bytes([hdr[4], hdr[5]]) & 0x0fff);
    if adver_int_cs == 0 {
        return Err(DropReason::BadInterval);
    }
    // 9.
    let ph = checksum::pseudo_header_v6(c.src, c.dst, IPPROTO_VRRP, vrrp_len as u32);
    if checksum::fold(checksum::ones_complement_sum(msg, ph)) != 0 {
        return Err(DropReason::Checksum);
    }
    // 10.
    if cfg.flags & flags::SKIP_CHECK_ADV_ADDR == 0 {
        if count as u32 != cfg.count_addrs {
            return Err(DropReason::AddrList);
        }
        let in_order = rules.addr_list_v6(&key).is_some_and(|l| l.same_in_order(addrs));
        let mut seen = [0u64; 4];
        for a in addrs.chunks_exact(16).filter(|_| !in_order) {
            let mut b = [0u8; 16];
            b.copy_from_slice(a);
            let Some(v) = rules.addr_v6(&VridAddrKeyV6::new(key, b)).filter(|v| v.kind == addr_kind::ADVERTISED) else {
                return Err(DropReason::AddrList);
            };
            let idx = (v.index & 0xff) as usize;
            let (w, bit) = (idx >> 6, 1u64 << (idx & 63));
            if seen[w] & bit != 0 {
                return Err(DropReason::AddrList);
            }
            seen[w] |= bit;
        }
    }
    Ok(Accepted {
        key,
        record: AdvertRecord {
            ts_ns: 0,
            src_v4: [0; 4],
            priority: u32::from(priority),
            adver_int_cs,
            version,
            count_addrs: count as u32,
            _pad: 0,
            seq: 0,
            src_v6: src,
        },
        pseudo_header: true,
        interval_mismatch: adver_int_cs != cfg.adver_int_cs,
    })
}

#[cfg(test)]
mod tests;
