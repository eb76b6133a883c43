//! The dataplane's differential check: one frame through the real XDP program (in the kernel,
//! BPF_PROG_TEST_RUN) and through the userspace validator ([`super::validate`]), and the
//! promises the XDP program keeps on every frame. One check, two drivers:
//! `tests/tests/validator_parity.rs` (tables of valid and forged frames, seeded proptest
//! mutations) and the cargo-fuzz target `xdp_differential` (`fuzz/`).
//!
//! [`check`] requires, for any bytes:
//! - the action is PASS, DROP or TX (never ABORTED or REDIRECT);
//! - a VRRP frame XDP judges gets the validator's verdict and reason, and an accepted one the
//!   same record ([`compare`]); a frame XDP leaves to the slow path is passed uncounted;
//! - counters only grow, each by at most one per frame; `vrrp_rx` moves exactly when one of
//!   `vrrp_accepted`, `unknown_vrid` or a drop reason moves, and by the same amount;
//! - DROP only for VRRP it judged, or an ARP request / neighbour solicitation for a VIP owned
//!   on that interface, under a drop counter;
//! - TX only for an ARP request / neighbour solicitation for an owned VIP from a station
//!   ([`unanswerable_sender`]): an ARP reply or neighbour advertisement for that VIP from its
//!   MAC, to one station (the asker; all nodes for an IPv6 DAD probe), counted as a reply;
//! - PASS leaves the frame as it was.
//!
//! The fixture ([`Fixture::load`]) needs root (CAP_BPF): it loads the object unpinned.
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use vrrp_common::{AF_INET, AF_INET6, DropReason, GlobalStats, VipKey, VipKeyV6, VipValue, VridConfig, VridKey, flags, state};

use super::validate::{PassReason, RuleTable, Verdict, validate, validate_ipv6_packet};
use crate::dataplane::{Dataplane, DataplaneError, KernelLogLevel};
use crate::wire::{self, checksum, vrrp};

pub const XDP_ABORTED: u32 = 0;
pub const XDP_DROP: u32 = 1;
pub const XDP_PASS: u32 = 2;
pub const XDP_TX: u32 = 3;
/// `lo`: the one interface every network namespace has (BPF_PROG_TEST_RUN wants a real one).
pub const IFINDEX: u32 = 1;
pub const MAC: [u8; 6] = [0x02, 0x00, 0x5e, 0x10, 0x00, 0x02];
/// The MAC the owned VIPs are answered with.
pub const VIP_MAC: [u8; 6] = [0x02, 0x00, 0x5e, 0x10, 0x00, 0x64];
pub const US: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
pub const PEER: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
/// Owned (XDP answers ARP for it) and advertised by every IPv4 instance.
pub const VIP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 100);
/// Advertised, not owned.
pub const VIP2: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 101);
pub const EXCLUDED: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 200);
pub const PASS: [u8; 8] = *b"s3cret!!";
pub const V2: u8 = 51;
pub const V3: u8 = 52;
pub const UNICAST: u8 = 53;
pub const OWNER: u8 = 54;
pub const SKIP: u8 = 55;
/// Multicast VRRPv3 with a peer allow-list (`allowed_peer`) holding only [`PEER`].
pub const ALLOW: u8 = 56;

pub fn key(vrid: u8) -> VridKey {
    VridKey { ifindex: IFINDEX, vrid: u16::from(vrid), family: AF_INET }
}

/// The real XDP object (unpinned) and the validator's table, filled by the same calls.
pub struct Fixture {
    pub dp: Dataplane,
    pub rules: RuleTable,
}

impl Fixture {
    /// Loads the XDP object and configures the instances (IPv4 and IPv6 side by side, as on a
    /// mixed interface) and the owned VIPs ([`VIP`], [`v6::VIP6`]).
    pub fn load() -> Result<Fixture, DataplaneError> {
        let mut dp = Dataplane::load_unpinned(KernelLogLevel::Off)?;
        let mut rules = setup(Some(&mut dp))?;
        v6::setup(Some(&mut dp), &mut rules)?;
        dp.own_ip(IFINDEX, IpAddr::V4(VIP), VipValue::new(VIP_MAC, V3))?;
        dp.own_ip(IFINDEX, IpAddr::V6(v6::VIP6), VipValue::new(VIP_MAC, v6::M6))?;
        Ok(Fixture { dp, rules })
    }
}

/// The validator's table of the fixture's instances, without loading anything (no root).
pub fn rule_table() -> RuleTable {
    let mut rules = setup(None).unwrap_or_default();
    let _ = v6::setup(None, &mut rules);
    rules
}

/// The IPv4 instances, into the table and (if given) the XDP maps by the same calls.
fn setup(mut dp: Option<&mut Dataplane>) -> Result<RuleTable, DataplaneError> {
    let base = VridConfig { version: 2, adver_int_cs: 100, state: state::BACKUP, priority: 100, primary_v4: US.octets(), ..VridConfig::default() };
    let v3 = VridConfig { version: 3, ..base }.without_auth();
    let ours = [VIP.octets(), VIP2.octets()];
    let instances: [(u8, VridConfig, &[[u8; 4]]); 6] = [
        (V2, base.with_pass(PASS), &[]),
        (V3, v3, &[]),
        (UNICAST, VridConfig { flags: flags::UNICAST | flags::PEER_ALLOW_LIST, ..v3 }, &[PEER.octets()]),
        (OWNER, VridConfig { flags: flags::OWNER, ..v3 }, &[]),
        (SKIP, VridConfig { flags: flags::SKIP_CHECK_ADV_ADDR, ..v3 }, &[]),
        (ALLOW, VridConfig { flags: flags::PEER_ALLOW_LIST, ..v3 }, &[PEER.octets()]),
    ];
    let mut table = RuleTable::default();
    for (vrid, cfg, peers) in instances {
        table.insert(key(vrid), cfg, &ours, &[EXCLUDED.octets()], peers);
        let cfg = table.configs[&key(vrid)];
        if let Some(dp) = dp.as_deref_mut() {
            dp.set_vrid_addrs(key(vrid), &ours, &[EXCLUDED.octets()], peers)?;
            dp.init_vrid(key(vrid), cfg)?;
        }
    }
    Ok(table)
}

/// A valid advert for one of the IPv4 instances.
pub fn advert(vrid: u8) -> vrrp::Repr {
    let v2 = vrid == V2;
    vrrp::Repr {
        version: if v2 { vrrp::Version::V2 } else { vrrp::Version::V3 },
        vrid,
        priority: 150,
        adver_int_cs: 100,
        auth: if v2 { vrrp::Auth::Pass(PASS) } else { vrrp::Auth::None },
        addresses: vec![IpAddr::V4(VIP), IpAddr::V4(VIP2)],
    }
}

pub fn frame_from(src: Ipv4Addr, dst: Ipv4Addr, ttl: u8, r: &vrrp::Repr, mode: vrrp::ChecksumMode) -> Vec<u8> {
    wire::vrrp_frame_v4(MAC, src, dst, ttl, r, mode)
}

/// The valid advert of `vrid` as the peer sends it.
pub fn good(vrid: u8) -> Vec<u8> {
    let dst = if vrid == UNICAST { US } else { vrrp::MCAST_V4 };
    frame_from(PEER, dst, 255, &advert(vrid), vrrp::ChecksumMode::Plain)
}

/// Recomputes the IPv4 header checksum of an Ethernet + IPv4 frame (header without options).
///
/// # Panics
///
/// If the frame is shorter than 34 bytes.
pub fn fix_ip(f: &mut [u8]) {
    f[24..26].copy_from_slice(&[0, 0]);
    let c = checksum::fold(checksum::ones_complement_sum(&f[14..34], 0));
    f[24..26].copy_from_slice(&c.to_be_bytes());
}

/// Recomputes the plain VRRP checksum of an Ethernet + IPv4 (no options) + VRRP frame.
///
/// # Panics
///
/// If the frame is shorter than its IPv4 total length, or that is below 28.
pub fn fix_vrrp(f: &mut [u8]) {
    let end = 14 + usize::from(u16::from_be_bytes([f[16], f[17]]));
    f[40..42].copy_from_slice(&[0, 0]);
    let c = checksum::fold(checksum::ones_complement_sum(&f[34..end], 0));
    f[40..42].copy_from_slice(&c.to_be_bytes());
}

pub fn edit(mut f: Vec<u8>, e: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    e(&mut f);
    f
}

/// An ARP request from the peer for `target`, broadcast.
pub fn arp_request(target: Ipv4Addr) -> Vec<u8> {
    wire::arp::request_frame(MAC, PEER, target)
}

/// What to repair in a frame after mutating it ([`repair`]): bits of one byte, so a fuzzer
/// can choose.
pub mod fix {
    /// The IPv4 header checksum (IHL 5 only).
    pub const IPV4: u8 = 1;
    /// The VRRP checksum over IPv4 (plain; v3 accepts it too) or IPv6 (pseudo-header).
    pub const VRRP: u8 = 2;
    /// The ICMPv6 checksum.
    pub const ICMPV6: u8 = 4;
}

/// Recomputes the checksums `what` names ([`fix`]) where the frame has them; anything too
/// short or of another kind is left alone. Never panics.
pub fn repair(f: &mut [u8], what: u8) {
    let is_v4 = f.get(12..14) == Some(&[0x08, 0x00][..]) && f.get(14) == Some(&0x45);
    let is_v6 = f.get(12..14) == Some(&[0x86, 0xdd][..]) && f.get(14).is_some_and(|b| b >> 4 == 6);
    if is_v4 && f.len() >= 34 {
        let end = 14 + usize::from(u16::from_be_bytes([f[16], f[17]]));
        if what & fix::VRRP != 0 && f[23] == 112 && end >= 42 && end <= f.len() {
            fix_vrrp(f);
        }
        if what & fix::IPV4 != 0 {
            fix_ip(f);
        }
    }
    if is_v6 && f.len() >= 54 {
        let len = usize::from(u16::from_be_bytes([f[18], f[19]]));
        // A declared length past the frame: the checksum over what is there.
        let end = (54 + len).min(f.len());
        let (at, wanted) = match f[20] {
            112 => (60, fix::VRRP),
            58 => (56, fix::ICMPV6),
            _ => return,
        };
        if what & wanted == 0 || end < at + 2 {
            return;
        }
        let addr = |at: usize| Ipv6Addr::from(<[u8; 16]>::try_from(&f[at..at + 16]).unwrap_or_default());
        let (src, dst) = (addr(22), addr(38));
        f[at..at + 2].copy_from_slice(&[0, 0]);
        let ph = checksum::pseudo_header_v6(src, dst, f[20], len as u32);
        let c = checksum::fold(checksum::ones_complement_sum(&f[54..end], ph));
        f[at..at + 2].copy_from_slice(&c.to_be_bytes());
    }
}

/// What the XDP program did with a frame, in the validator's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Observed {
    /// `None`: passed without a counter (not VRRP, a fragment, IP options).
    Pass(Option<PassReason>),
    Accept { interval_mismatch: bool },
    Drop(DropReason),
    Other(String),
}

fn moved(before: &GlobalStats, after: &GlobalStats) -> Vec<(&'static str, i128)> {
    let b: &[u64] = bytemuck::cast_slice(std::slice::from_ref(before));
    let a: &[u64] = bytemuck::cast_slice(std::slice::from_ref(after));
    GlobalStats::COUNTER_NAMES
        .iter()
        .zip(a.iter().zip(b))
        .filter(|(_, (a, b))| a != b)
        .map(|(n, (a, b))| (*n, i128::from(*a) - i128::from(*b)))
        .collect()
}

fn observed(action: u32, before: &GlobalStats, after: &GlobalStats) -> Observed {
    let delta = |f: fn(&GlobalStats) -> u64| f(after).wrapping_sub(f(before));
    let drops: Vec<DropReason> = DropReason::ALL.iter().copied().filter(|r| after.drop_count(*r) != before.drop_count(*r)).collect();
    match (action, drops.as_slice()) {
        (XDP_PASS, []) if delta(|g| g.unknown_vrid) == 1 => Observed::Pass(Some(PassReason::UnknownVrid)),
        (XDP_PASS, []) => Observed::Pass(None),
        (XDP_DROP, []) if delta(|g| g.vrrp_accepted) == 1 => Observed::Accept { interval_mismatch: delta(|g| g.interval_mismatch) == 1 },
        (XDP_DROP, [r]) => Observed::Drop(*r),
        _ => Observed::Other(format!("action {action}, drop counters moved: {drops:?}")),
    }
}

/// What the XDP program did with `frame`, read from its action and counters.
pub fn xdp_verdict(dp: &Dataplane, frame: &[u8]) -> Result<(u32, Observed), String> {
    let before = dp.global_stats().ok_or("no global stats")?;
    let (action, _) = dp.test_run(frame, IFINDEX).map_err(|e| format!("test run: {e}"))?;
    let after = dp.global_stats().ok_or("no global stats")?;
    Ok((action, observed(action, &before, &after)))
}

fn judge(rules: &RuleTable, frame: &[u8]) -> Option<Verdict> {
    match frame.get(12..14) {
        Some([0x08, 0x00]) => Some(validate(&frame[14..], IFINDEX, rules)),
        Some([0x86, 0xdd]) => Some(validate_ipv6_packet(&frame[14..], IFINDEX, rules)),
        _ => None,
    }
}

/// The validator's verdict in the same terms.
pub fn user_verdict(rules: &RuleTable, frame: &[u8]) -> Observed {
    match judge(rules, frame) {
        None => Observed::Pass(None),
        Some(Verdict::Pass(PassReason::UnknownVrid)) => Observed::Pass(Some(PassReason::UnknownVrid)),
        Some(Verdict::Pass(_)) => Observed::Pass(None),
        Some(Verdict::Accept(a)) => Observed::Accept { interval_mismatch: a.interval_mismatch },
        Some(Verdict::Drop { reason, .. }) => Observed::Drop(reason),
    }
}

/// XDP's verdict (already observed) against the validator's on one frame; for an accepted
/// advert, also the record XDP wrote.
fn agree(dp: &Dataplane, rules: &RuleTable, what: &str, frame: &[u8], xdp: Observed) -> Result<Observed, String> {
    let ipv4_not_plain = frame.get(12..14) == Some(&[0x08, 0x00][..]) && frame.get(14).is_some_and(|b| *b != 0x45);
    if ipv4_not_plain {
        // Not IPv4 without options: XDP must leave it to the slow path, uncounted.
        return if xdp == Observed::Pass(None) { Ok(xdp) } else { Err(format!("{what}: XDP judged a frame with IHL {:#x}: {xdp:?}", frame[14])) };
    }
    let user = user_verdict(rules, frame);
    if xdp != user {
        return Err(format!("{what}: XDP {xdp:?}, userspace {user:?}"));
    }
    if let (Observed::Accept { .. }, Some(Verdict::Accept(a))) = (&xdp, judge(rules, frame)) {
        let rec = dp.record(&a.key).ok_or_else(|| format!("{what}: accepted without a record"))?;
        let r = a.record;
        if (rec.src_v4, rec.src_v6, rec.priority, rec.adver_int_cs, rec.version, rec.count_addrs) != (r.src_v4, r.src_v6, r.priority, r.adver_int_cs, r.version, r.count_addrs) {
            return Err(format!("{what}: XDP recorded {rec:?}, userspace {r:?}"));
        }
    }
    Ok(xdp)
}

/// Runs `frame` through both and compares their verdicts (see [`check`] for every promise).
pub fn compare(dp: &Dataplane, rules: &RuleTable, what: &str, frame: &[u8]) -> Result<Observed, String> {
    let (_, xdp) = xdp_verdict(dp, frame)?;
    agree(dp, rules, what, frame, xdp)
}

/// How [`check`] saw a frame end (for tallies: a fuzzer or test can see what it reached).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A VRRP frame: both said this.
    Vrrp(Observed),
    /// Answered: an ARP reply or neighbour advertisement for an owned VIP.
    Replied,
    /// An ARP request or solicitation for an owned VIP, dropped under this counter.
    NeighbourDrop(&'static str),
    /// Anything else, passed unchanged.
    Passed,
}

impl Outcome {
    /// A short name for tallies.
    pub fn label(&self) -> String {
        match self {
            Outcome::Vrrp(Observed::Drop(r)) => r.counter_name().to_string(),
            Outcome::NeighbourDrop(c) => (*c).to_string(),
            other => format!("{other:?}"),
        }
    }
}

/// The frame's ARP request target, if it is an Ethernet/IPv4 ARP request.
fn arp_request_target(f: &[u8]) -> Option<Ipv4Addr> {
    if f.get(12..14)? != [0x08, 0x06] {
        return None;
    }
    let arp = f.get(14..42)?;
    let ok = arp[0..2] == [0, 1] && arp[2..4] == [0x08, 0x00] && arp[4] == 6 && arp[5] == 4 && arp[6..8] == [0, 1];
    ok.then(|| Ipv4Addr::new(arp[24], arp[25], arp[26], arp[27]))
}

/// The target of a neighbour solicitation (IPv6 without extension headers, ICMPv6 type 135).
fn ns_target(f: &[u8]) -> Option<Ipv6Addr> {
    if f.get(12..14)? != [0x86, 0xdd] || f.get(14)? >> 4 != 6 || *f.get(20)? != 58 || *f.get(54)? != 135 {
        return None;
    }
    Some(Ipv6Addr::from(<[u8; 16]>::try_from(f.get(62..78)?).ok()?))
}

/// Why a request for an owned VIP must never be answered, whatever else it says: its sender
/// is no station. ARP: a group (broadcast/multicast) Ethernet source or sender MAC, or a
/// multicast, broadcast or loopback sender IP (0.0.0.0 is an RFC 5227 probe, answered). A
/// neighbour solicitation: a group Ethernet source, a multicast IPv6 source, or a group
/// address in its source link-layer option (the first one, which Linux uses). A reply to such
/// a sender would go to every host, or to nobody who asked. XDP drops these under their own
/// counters (`arp_drop_*`, `ns_drop_group_src`); [`check`] holds it to never answering one.
pub fn unanswerable_sender(f: &[u8]) -> Option<&'static str> {
    let group = |mac_first: u8| mac_first & 1 != 0;
    if arp_request_target(f).is_some() {
        let spa = f.get(28..32)?;
        return if group(f[6]) {
            Some("a group Ethernet source")
        } else if group(f[22]) {
            Some("a group ARP sender MAC")
        } else if spa[0] & 0xf0 == 0xe0 {
            Some("a multicast sender IP")
        } else if spa == [255; 4] {
            Some("the broadcast sender IP")
        } else if spa[0] == 127 {
            Some("a loopback sender IP")
        } else {
            None
        };
    }
    ns_target(f)?;
    if group(f[6]) {
        return Some("a group Ethernet source");
    }
    if f[22] == 0xff {
        return Some("a multicast IPv6 source");
    }
    let end = (54 + usize::from(u16::from_be_bytes([f[18], f[19]]))).min(f.len());
    let mut at = 54 + 24;
    while let (Some(&kind), Some(&units)) = (f.get(at), f.get(at + 1)) {
        let len = usize::from(units) * 8;
        if len == 0 || at + len > end {
            break;
        }
        if kind == 1 {
            return f.get(at + 2).copied().filter(|b| group(*b)).map(|_| "a group source link-layer address");
        }
        at += len;
    }
    None
}

/// A frame the XDP program judges as VRRP (IPv4 protocol 112, or IPv6 next header 112).
fn is_vrrp(f: &[u8]) -> bool {
    match f.get(12..14) {
        Some([0x08, 0x00]) => f.get(23) == Some(&112),
        Some([0x86, 0xdd]) => f.get(20) == Some(&112),
        _ => false,
    }
}

/// Every promise of the module documentation on one frame. `Err` says which was broken.
pub fn check(fx: &Fixture, frame: &[u8]) -> Result<Outcome, String> {
    let dp = &fx.dp;
    let before = dp.global_stats().ok_or("no global stats")?;
    let (action, out) = dp.test_run(frame, IFINDEX).map_err(|e| format!("test run: {e}"))?;
    let after = dp.global_stats().ok_or("no global stats")?;
    let deltas = moved(&before, &after);
    if let Some((name, d)) = deltas.iter().find(|(_, d)| !(1..=1).contains(d)) {
        return Err(format!("counter {name} moved by {d} on one frame"));
    }
    let delta = |name: &str| deltas.iter().find(|(n, _)| *n == name).map_or(0, |(_, d)| *d);
    let outcomes = delta("vrrp_accepted") + delta("unknown_vrid") + DropReason::ALL.iter().map(|r| delta(r.counter_name())).sum::<i128>();
    if delta("vrrp_rx") != outcomes {
        return Err(format!("vrrp_rx moved by {} but accepted + unknown + drops by {outcomes}: {deltas:?}", delta("vrrp_rx")));
    }
    let counted_drop = |names: &[&'static str]| names.iter().copied().find(|n| delta(n) == 1);
    match action {
        XDP_PASS | XDP_DROP | XDP_TX => {}
        other => return Err(format!("action {other} (ABORTED or REDIRECT)")),
    }
    if is_vrrp(frame) {
        if action == XDP_TX {
            return Err("VRRP frame sent back (XDP_TX)".into());
        }
        let xdp = observed(action, &before, &after);
        return agree(dp, &fx.rules, "frame", frame, xdp).map(Outcome::Vrrp);
    }
    if delta("vrrp_rx") != 0 {
        return Err(format!("not VRRP, yet counted as VRRP: {deltas:?}"));
    }
    let owned_v4 = arp_request_target(frame).filter(|t| dp.owns_vip(&VipKey { ifindex: IFINDEX, addr_v4: t.octets() }));
    let owned_v6 = ns_target(frame).filter(|t| dp.owns_vip_v6(&VipKeyV6 { ifindex: IFINDEX, addr_v6: t.octets() }));
    match action {
        XDP_PASS => {
            if out != frame {
                return Err("passed, but the frame was changed".into());
            }
            if delta("arp_replies") != 0 || delta("ns_replies") != 0 {
                return Err(format!("passed, yet counted as replied: {deltas:?}"));
            }
            Ok(Outcome::Passed)
        }
        XDP_DROP => {
            let why = if owned_v4.is_some() {
                counted_drop(&["arp_drop_sender_multicast", "arp_drop_sender_broadcast", "arp_drop_sender_loopback", "arp_drop_group_src_mac", "arp_fenced"])
            } else if owned_v6.is_some() {
                counted_drop(&["ns_drop_invalid", "ns_drop_group_src", "arp_fenced"])
            } else {
                None
            };
            why.map(Outcome::NeighbourDrop).ok_or_else(|| format!("dropped a frame that is neither VRRP nor a request for an owned VIP (counters: {deltas:?})"))
        }
        _ => {
            if let Some(why) = unanswerable_sender(frame) {
                return Err(format!("answered (XDP_TX) a request from {why}: {deltas:?}"));
            }
            // The answer goes to one station: the asker (its MAC is unicast, checked above),
            // or all nodes for an IPv6 duplicate address detection probe.
            let all_nodes = out.get(0..6) == Some(&[0x33, 0x33, 0, 0, 0, 1][..]) && out.get(38..54) == Some(&Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1).octets()[..]);
            if out.first().is_some_and(|b| b & 1 != 0) && !all_nodes {
                return Err(format!("answer sent to a group MAC: {out:02x?}"));
            }
            if let Some(vip) = owned_v4 {
                let ok = delta("arp_replies") == 1
                    && out.get(12..14) == Some(&[0x08, 0x06][..])
                    && out.get(6..12) == Some(&VIP_MAC[..])
                    && out.get(20..22) == Some(&[0, 2][..])
                    && out.get(22..28) == Some(&VIP_MAC[..])
                    && out.get(28..32) == Some(&vip.octets()[..]);
                return if ok { Ok(Outcome::Replied) } else { Err(format!("ARP reply for {vip} malformed or uncounted: {out:02x?}")) };
            }
            if let Some(vip) = owned_v6 {
                let ok = delta("ns_replies") == 1
                    && out.get(6..12) == Some(&VIP_MAC[..])
                    && out.get(12..14) == Some(&[0x86, 0xdd][..])
                    && out.get(20) == Some(&58)
                    && out.get(54) == Some(&136)
                    && out.get(62..78) == Some(&vip.octets()[..])
                    && out.get(22..38) == Some(&vip.octets()[..]);
                return if ok { Ok(Outcome::Replied) } else { Err(format!("neighbour advertisement for {vip} malformed or uncounted: {out:02x?}")) };
            }
            Err(format!("sent back (XDP_TX) a frame that is no request for an owned VIP: {deltas:?}"))
        }
    }
}

/// Seed frames of every kind [`check`] tells apart: the valid adverts, ARP requests and
/// neighbour solicitations for owned and other addresses, and traffic XDP must pass.
pub fn seeds() -> Vec<Vec<u8>> {
    let mut s: Vec<Vec<u8>> = [V2, V3, UNICAST, OWNER, SKIP].into_iter().map(good).collect();
    s.extend([v6::M6, v6::UNICAST6, v6::SKIP6, v6::OWNER6].into_iter().map(v6::good6));
    s.push(arp_request(VIP));
    s.push(arp_request(VIP2));
    s.push(wire::arp::gratuitous_frame(MAC, VIP));
    s.push(v6::solicitation(v6::VIP6, true));
    s.push(v6::solicitation(v6::VIP6, false));
    s.push(v6::solicitation(v6::PEER6, true));
    s.push(edit(good(V3), |f| {
        f[23] = 17;
        fix_ip(f);
    }));
    s.push(edit(v6::good6(v6::M6), |f| f[20] = 17));
    // Later additions go last, so the corpus files of the earlier seeds keep their names.
    s.push(good(ALLOW));
    s.push(v6::good6(v6::ALLOW6));
    // Requests for owned VIPs from senders that are no station (dropped; a mutation away
    // from being answered).
    s.push(edit(arp_request(VIP), |f| f[6] = 0x01));
    s.push(edit(arp_request(VIP), |f| f[28] = 224));
    s.push(v6::solicitation_from(v6::VIP6, [0x33, 0x33, 0, 0, 0, 1]));
    s
}

/// The IPv6 half: instances, adverts and solicitations.
pub mod v6 {
    use super::*;

    pub const US6: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1);
    pub const PEER6: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 2);
    pub const VIP6_LL: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0x100);
    /// Owned (XDP answers neighbour solicitations for it).
    pub const VIP6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x100);
    pub const EXCLUDED6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x200);
    pub const UUS6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
    pub const UPEER6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2);
    /// The same VRIDs as the IPv4 instances where both exist: the family tells them apart.
    pub const M6: u8 = V3;
    pub const UNICAST6: u8 = UNICAST;
    pub const SKIP6: u8 = SKIP;
    pub const OWNER6: u8 = OWNER;
    /// Multicast with a peer allow-list holding only [`PEER6`] (link-local, as IPv6 adverts
    /// come from).
    pub const ALLOW6: u8 = ALLOW;

    pub fn key6(vrid: u8) -> VridKey {
        VridKey { ifindex: IFINDEX, vrid: u16::from(vrid), family: AF_INET6 }
    }

    pub(super) fn setup(mut dp: Option<&mut Dataplane>, table: &mut RuleTable) -> Result<(), DataplaneError> {
        let base = VridConfig { version: 3, adver_int_cs: 100, state: state::BACKUP, priority: 100, primary_v6: US6.octets(), ..VridConfig::default() };
        let ours = [VIP6_LL.octets(), VIP6.octets()];
        let excluded = [EXCLUDED6.octets()];
        let instances: [(u8, VridConfig, &[[u8; 16]]); 5] = [
            (M6, base, &[]),
            (UNICAST6, VridConfig { flags: flags::UNICAST | flags::PEER_ALLOW_LIST, primary_v6: UUS6.octets(), ..base }, &[UPEER6.octets()]),
            (SKIP6, VridConfig { flags: flags::SKIP_CHECK_ADV_ADDR, ..base }, &[]),
            (OWNER6, VridConfig { flags: flags::OWNER, ..base }, &[]),
            (ALLOW6, VridConfig { flags: flags::PEER_ALLOW_LIST, ..base }, &[PEER6.octets()]),
        ];
        for (vrid, cfg, peers) in instances {
            table.insert_v6(key6(vrid), cfg, &ours, &excluded, peers);
            let cfg = table.configs[&key6(vrid)];
            if let Some(dp) = dp.as_deref_mut() {
                dp.set_vrid_addrs_v6(key6(vrid), &ours, &excluded, peers)?;
                dp.init_vrid(key6(vrid), cfg)?;
            }
        }
        Ok(())
    }

    pub fn advert6(vrid: u8) -> vrrp::Repr {
        vrrp::Repr {
            version: vrrp::Version::V3,
            vrid,
            priority: 150,
            adver_int_cs: 100,
            auth: vrrp::Auth::None,
            addresses: vec![IpAddr::V6(VIP6_LL), IpAddr::V6(VIP6)],
        }
    }

    fn mcast_or(dst: Ipv6Addr) -> [u8; 6] {
        let o = dst.octets();
        if o[0] == 0xff { [0x33, 0x33, o[12], o[13], o[14], o[15]] } else { [0x02, 0x00, 0x5e, 0x10, 0x00, 0x01] }
    }

    fn ipv6_frame(dst_mac: [u8; 6], src: Ipv6Addr, dst: Ipv6Addr, next: u8, hop_limit: u8, payload: &[u8]) -> Vec<u8> {
        let mut f = dst_mac.to_vec();
        f.extend_from_slice(&MAC);
        f.extend_from_slice(&[0x86, 0xdd, 0x60, 0, 0, 0]);
        f.extend_from_slice(&(payload.len() as u16).to_be_bytes());
        f.extend_from_slice(&[next, hop_limit]);
        f.extend_from_slice(&src.octets());
        f.extend_from_slice(&dst.octets());
        f.extend_from_slice(payload);
        f
    }

    /// Ethernet + IPv6 (no extension headers) + the VRRP message with the pseudo-header
    /// checksum, as a router sends it.
    pub fn frame6(src: Ipv6Addr, dst: Ipv6Addr, hop_limit: u8, r: &vrrp::Repr) -> Vec<u8> {
        let msg = r.to_bytes(&vrrp::Carrier { src: src.into(), dst: dst.into() }, vrrp::ChecksumMode::PseudoHeader);
        ipv6_frame(mcast_or(dst), src, dst, 112, hop_limit, &msg)
    }

    pub fn good6(vrid: u8) -> Vec<u8> {
        if vrid == UNICAST6 { frame6(UPEER6, UUS6, 255, &advert6(vrid)) } else { frame6(PEER6, vrrp::MCAST_V6, 255, &advert6(vrid)) }
    }

    /// A neighbour solicitation from the peer for `target`, to its solicited-node group, with
    /// a source link-layer address option if `slla`.
    pub fn solicitation(target: Ipv6Addr, slla: bool) -> Vec<u8> {
        let dst = wire::ipv6_decode::solicited_node(target);
        let mut icmp = vec![135, 0, 0, 0, 0, 0, 0, 0];
        icmp.extend_from_slice(&target.octets());
        if slla {
            icmp.extend_from_slice(&[1, 1]);
            icmp.extend_from_slice(&MAC);
        }
        let c = checksum::fold(checksum::ones_complement_sum(&icmp, checksum::pseudo_header_v6(PEER6, dst, 58, icmp.len() as u32)));
        icmp[2..4].copy_from_slice(&c.to_be_bytes());
        ipv6_frame(mcast_or(dst), PEER6, dst, 58, 255, &icmp)
    }

    /// [`solicitation`] with a source link-layer address option of `slla` (a group address
    /// makes it unanswerable).
    pub fn solicitation_from(target: Ipv6Addr, slla: [u8; 6]) -> Vec<u8> {
        let mut f = solicitation(target, true);
        f[80..86].copy_from_slice(&slla);
        super::repair(&mut f, fix::ICMPV6);
        f
    }

    /// Recomputes the VRRP checksum of an IPv6 frame (pseudo-header from the frame).
    pub fn fix6(f: &mut [u8]) {
        super::repair(f, fix::VRRP);
    }
}
