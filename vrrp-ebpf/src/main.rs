//! The VRRP fast path, in XDP.
//!
//! It decides only what must be decided per packet:
//! - VRRP adverts (IPv4, v2 and v3) for a VRID configured on the receiving interface are
//!   validated as RFC 3768 §7.1 / RFC 5798 §7.1 say, counted per VRID and per drop reason,
//!   and the last accepted one is recorded for the agent's election. Only adverts that can
//!   change a decision wake the agent (ring buffer); steady-state adverts cost userspace
//!   nothing. Adverts for configured VRIDs are consumed (XDP_DROP) once recorded.
//!   IPv6 (VRRPv3 to ff02::12, or to our address for unicast instances) is judged by the same
//!   rules with the same drop reasons, from its own address maps.
//! - ARP requests for a VIP this host owns on the receiving interface are turned into replies
//!   in place and sent back with XDP_TX; so are IPv6 neighbour solicitations for an owned IPv6
//!   VIP (neighbour advertisements, RFC 4861 §7.2.4, with the Router flag of a VRRP master).
//!   Only while the agent's lease is fresh: once it is stale (the agent is dead or hung) they
//!   are dropped, so the kernel cannot answer either (`lease_fresh`).
//! - Everything else, including anything the parser does not fully understand, is passed.
#![no_std]
#![no_main]
#![feature(core_intrinsics)]
#![allow(internal_features, reason = "atomic_xadd: BPF fetch-and-add for the advert sequence number")]
#![expect(
    clippy::needless_borrows_for_generic_args,
    reason = "map helpers take pointers: references keep map keys and values off extra stack copies"
)]

mod proc_events;

use aya_ebpf::{
    bindings::{
        xdp_action::{XDP_DROP, XDP_PASS, XDP_TX},
        xdp_md,
    },
    btf_maps::{Array, HashMap, PerCpuArray, PerCpuHashMap, RingBuf},
    helpers::bpf_ktime_get_ns,
    macros::{btf_map, xdp},
    programs::XdpContext,
};
use aya_log_ebpf::trace;
use core::intrinsics::{AtomicOrdering, atomic_xadd};
use vrrp_common::{
    AF_INET6, MAX_ADDRS_V6, VRRP_GROUP_V6, AddrListV6, VipKeyV6, VridAddrKeyV6, is_martian_source_v6,
    AF_INET, AddrList, AdvertEvent, AdvertRecord, DropReason, EVENTS_BYTES, GlobalStats, InstanceStatus,
    MAX_ADDRS_V4, MAX_VIPS, MAX_VRID_ADDRS, MAX_VRIDS, VIP_CONFLICT_BYTES, VIP_CONFLICT_EVENT_GAP_NS,
    VRRP_GROUP_V4, VipConflictEvent, VipKey, VipValue, VridAddr, VridAddrKey, VridConfig, VridKey, VridPeer,
    VridStats, addr_kind, conflict_op, event_reason, flags, is_martian_source_v4, state,
    InstancePriority, MAX_TRACKERS, TrackerKey, TrackerStatus, AgentLease,
    DROP_REASONS, InstanceStats, TRACE_EVENTS_BYTES, TraceEvent, VridDrops, trace_kind, trace_verdict,
};

#[btf_map]
static VRID_CONFIG: HashMap<VridKey, VridConfig, { MAX_VRIDS as usize }> = HashMap::new();
#[btf_map]
static VRID_ADDRS: HashMap<VridAddrKey, VridAddr, { MAX_VRID_ADDRS as usize }> = HashMap::new();
#[btf_map]
static VRID_PEERS: HashMap<VridAddrKey, VridPeer, { MAX_VRID_ADDRS as usize }> = HashMap::new();
#[btf_map]
static VRID_ADDR_LIST: HashMap<VridKey, AddrList, { MAX_VRIDS as usize }> = HashMap::new();
#[btf_map]
static VRID_ADDRS_V6: HashMap<VridAddrKeyV6, VridAddr, { MAX_VRID_ADDRS as usize }> = HashMap::new();
#[btf_map]
static VRID_PEERS_V6: HashMap<VridAddrKeyV6, VridPeer, { MAX_VRID_ADDRS as usize }> = HashMap::new();
#[btf_map]
static VRID_ADDR_LIST_V6: HashMap<VridKey, AddrListV6, { MAX_VRIDS as usize }> = HashMap::new();
#[btf_map]
static OWNED_VIPS_V6: HashMap<VipKeyV6, VipValue, { MAX_VIPS as usize }> = HashMap::new();
#[btf_map]
static ADVERT_RECORD: HashMap<VridKey, AdvertRecord, { MAX_VRIDS as usize }> = HashMap::new();
#[btf_map]
static VRID_STATS: PerCpuHashMap<VridKey, VridStats, { MAX_VRIDS as usize }> =
    PerCpuHashMap::new();
#[btf_map]
static GLOBAL_STATS: PerCpuArray<GlobalStats, 1> = PerCpuArray::new();
#[btf_map]
static OWNED_VIPS: HashMap<VipKey, VipValue, { MAX_VIPS as usize }> = HashMap::new();
/// Written only by the agent (state, priority, master per instance), declared here so it has
/// BTF and `bpftool map dump` prints its fields by name.
#[btf_map]
static INSTANCE_STATUS: HashMap<VridKey, InstanceStatus, { MAX_VRIDS as usize }> =
    HashMap::new();
/// Written only by the agent (each tracker's state and counters; why each instance has its
/// priority), declared here for their BTF, like `INSTANCE_STATUS`.
#[btf_map]
static TRACKER_STATUS: HashMap<TrackerKey, TrackerStatus, { MAX_TRACKERS as usize }> =
    HashMap::new();
#[btf_map]
static INSTANCE_PRIORITY: HashMap<VridKey, InstancePriority, { MAX_VRIDS as usize }> =
    HashMap::new();
/// The agent's liveness lease (index 0), renewed by its event loop: while it is stale the
/// datapath is fenced (see `AgentLease`).
#[btf_map]
static AGENT_LEASE: Array<AgentLease, 1> = Array::new();
/// Written only by the agent (what it sent and decided per instance), declared here for its
/// BTF, like `INSTANCE_STATUS`.
#[btf_map]
static INSTANCE_STATS: HashMap<VridKey, InstanceStats, { MAX_VRIDS as usize }> = HashMap::new();
/// Each instance's dropped adverts by reason (the agent creates the entry with the VRID).
#[btf_map]
static VRID_DROPS: PerCpuHashMap<VridKey, VridDrops, { MAX_VRIDS as usize }> = PerCpuHashMap::new();
/// `vrrp-agent trace on|off` writes index 0; read once per VRRP or ARP packet.
#[btf_map]
static TRACE_CONTROL: Array<u32, 1> = Array::new();
#[btf_map]
static TRACE_EVENTS: RingBuf<TraceEvent, { TRACE_EVENTS_BYTES as usize }> = RingBuf::new();
/// Every configured VIP (written by the agent at setup): fenced too while the lease is stale.
#[btf_map]
static FENCED_VIPS: HashMap<VipKey, VipValue, { MAX_VIPS as usize }> = HashMap::new();
/// Every configured IPv6 VIP: neighbour solicitations for them are fenced like `FENCED_VIPS`.
#[btf_map]
static FENCED_VIPS_V6: HashMap<VipKeyV6, VipValue, { MAX_VIPS as usize }> = HashMap::new();

/// Whether the agent's lease is fresh: renewed no longer than `fence_after_ns` ago. While it
/// is stale the datapath is fenced: ARP requests (and, with IPv6, neighbour solicitations)
/// for the owned VIPs are dropped instead of answered, so a dead or hung agent's host stops
/// claiming them before a backup can take over (`vrrp_common::timers::lease_fence_after_us`).
/// A lease nobody has taken (no agent yet, or a test load) does not fence.
#[inline(always)]
fn lease_fresh() -> bool {
    let Some(lease) = AGENT_LEASE.get(0) else { return true };
    // SAFETY: plain helper call.
    let now = unsafe { bpf_ktime_get_ns() };
    lease.fresh_at(now)
}

/// Scratch space for the address-list check (one bit per advertised address of ours).
#[repr(C)]
#[derive(Clone, Copy)]
struct SeenAddrs {
    words: [u64; 4],
}
#[btf_map]
static SEEN: PerCpuArray<SeenAddrs, 1> = PerCpuArray::new();
#[btf_map]
static ADVERT_EVENTS: RingBuf<AdvertEvent, { EVENTS_BYTES as usize }> = RingBuf::new();

const ETH_HLEN: usize = 14;
const ETH_P_IP: u16 = 0x0800;
const ETH_P_ARP: u16 = 0x0806;
const IPPROTO_VRRP: u8 = 112;
const VRRP_HLEN: usize = 8;
const VRRP_AUTH_LEN: usize = 8;
/// Longest IPv4 VRRP message: header + 255 addresses + v2 auth data (259 words).
const MAX_VRRP_WORDS: usize = (VRRP_HLEN + 4 * MAX_ADDRS_V4 as usize + VRRP_AUTH_LEN) / 4;

#[xdp]
pub fn vrrp_xdp(ctx: XdpContext) -> u32 {
    match try_vrrp_xdp(&ctx) {
        Ok(action) => action,
        Err(()) => XDP_PASS,
    }
}

/// Does nothing but pass. A veth only transmits XDP_TX frames when its peer runs an XDP
/// program (toolchain.md); the test topologies attach this one to the bridge-side peers.
#[xdp]
pub fn vrrp_xdp_pass(_ctx: XdpContext) -> u32 {
    XDP_PASS
}

/// A pointer to a `T` at `offset` in the packet, if the whole `T` is inside it.
#[inline(always)]
fn ptr_at<T>(ctx: &XdpContext, offset: usize) -> Result<*const T, ()> {
    let start = ctx.data();
    let end = ctx.data_end();
    if start + offset + core::mem::size_of::<T>() > end {
        return Err(());
    }
    Ok((start + offset) as *const T)
}

#[inline(always)]
fn ptr_at_mut<T>(ctx: &XdpContext, offset: usize) -> Result<*mut T, ()> {
    ptr_at::<T>(ctx, offset).map(|p| p as *mut T)
}

#[inline(always)]
fn read_u8(ctx: &XdpContext, offset: usize) -> Result<u8, ()> {
    // SAFETY: ptr_at checked the byte is inside the packet.
    Ok(unsafe { *ptr_at::<u8>(ctx, offset)? })
}

#[inline(always)]
fn read_be16(ctx: &XdpContext, offset: usize) -> Result<u16, ()> {
    // SAFETY: bounds checked; unaligned read of plain bytes.
    Ok(u16::from_be(unsafe { ptr_at::<u16>(ctx, offset)?.read_unaligned() }))
}

/// A u32 as it lies in the packet (network order kept).
#[inline(always)]
fn read_raw32(ctx: &XdpContext, offset: usize) -> Result<u32, ()> {
    // SAFETY: bounds checked; unaligned read of plain bytes.
    Ok(unsafe { ptr_at::<u32>(ctx, offset)?.read_unaligned() })
}

#[inline(always)]
fn global_stats() -> Option<*mut GlobalStats> {
    GLOBAL_STATS.get_ptr_mut(0)
}

/// Adds one to a field of the per-CPU global counters.
macro_rules! count {
    ($field:ident) => {
        if let Some(s) = global_stats() {
            // SAFETY: per-CPU value, only this CPU writes it while we run.
            unsafe { (*s).$field += 1 };
        }
    };
}

#[inline(always)]
fn try_vrrp_xdp(ctx: &XdpContext) -> Result<u32, ()> {
    let ethertype = read_be16(ctx, 12)?;
    match ethertype {
        ETH_P_IP => handle_ipv4(ctx),
        ETH_P_ARP => handle_arp_traced(ctx),
        ETH_P_IPV6 => handle_ipv6(ctx),
        _ => Ok(XDP_PASS),
    }
}

/// Reports one judged VRRP packet (`trace_verdict::*`; an unknown VRID was passed, the rest
/// were consumed), only reached while tracing is on. Inlined, but written straight into the
/// reserved ring-buffer entry (addresses read from the packet into it), so it adds next to
/// nothing to the handlers' stack frames: the verifier allows 512 bytes per call chain and the
/// IPv6 handler is close to it.
#[inline(always)]
fn trace_advert(ctx: &XdpContext, key: &VridKey, verdict: u32, reason: u32, priority: u32) {
    let Some(mut entry) = TRACE_EVENTS.reserve(0) else { return };
    let e: *mut TraceEvent = entry.as_mut_ptr();
    let v6 = key.family == AF_INET6;
    // SAFETY: `e` points to reserved ring-buffer memory the size of a TraceEvent, ours until
    // submitted; every field is a plain integer written once.
    unsafe {
        (*e).ts_ns = bpf_ktime_get_ns();
        (*e).ifindex = key.ifindex;
        (*e).kind = trace_kind::VRRP;
        (*e).verdict = verdict;
        (*e).reason = reason;
        (*e).action = if verdict == trace_verdict::UNKNOWN_VRID { XDP_PASS } else { XDP_DROP };
        (*e).vrid = key.vrid as u32;
        (*e).priority = priority;
        (*e).family = key.family as u32;
        for i in 0..4 {
            let (src, dst) = match (v6, i) {
                (true, _) => (ETH_HLEN + 8 + 4 * i, ETH_HLEN + 24 + 4 * i),
                (false, 0) => (ETH_HLEN + 12, ETH_HLEN + 16),
                (false, _) => (usize::MAX, usize::MAX),
            };
            (*e).src[i] = if src == usize::MAX { 0 } else { read_raw32(ctx, src).unwrap_or(0) };
            (*e).dst[i] = if dst == usize::MAX { 0 } else { read_raw32(ctx, dst).unwrap_or(0) };
        }
    }
    entry.submit(0);
}

/// `handle_arp` with its trace report: a call of its own, so the report's stack is not added
/// to the program's entry frame (the verifier allows 512 bytes per call chain).
#[inline(never)]
fn handle_arp_traced(ctx: &XdpContext) -> Result<u32, ()> {
    // Tracing: the addresses are read before the handler may turn the request into a
    // reply in place. Off (the default), this costs one array lookup.
    let before = if tracing_on() { arp_addrs(ctx) } else { None };
    let action = handle_arp(ctx);
    if let Some((op, spa, tpa)) = before {
        let act = *action.as_ref().unwrap_or(&XDP_PASS);
        let verdict = if act == XDP_TX { trace_verdict::REPLIED } else { trace_verdict::NOT_REPLIED };
        let ifindex = ctx.ingress_ifindex() as u32;
        // SAFETY: whole-value read.
        let vrid = unsafe { OWNED_VIPS.get(&VipKey { ifindex, addr_v4: tpa.to_ne_bytes() }) }.map_or(0, |v| v.vrid as u32);
        report(ifindex, trace_kind::ARP, verdict, 0, act, vrid, op as u32, spa, tpa);
    }
    action
}

#[inline(always)]
fn tracing_on() -> bool {
    matches!(TRACE_CONTROL.get(0), Some(on) if *on != 0)
}

/// The IP source and destination of the frame, raw words (IPv4 in word 0), for a trace report.
#[inline(always)]
fn packet_addrs(ctx: &XdpContext, family: u16) -> ([u32; 4], [u32; 4]) {
    let mut src = [0u32; 4];
    let mut dst = [0u32; 4];
    if family == AF_INET6 {
        for i in 0..4 {
            src[i] = read_raw32(ctx, ETH_HLEN + 8 + 4 * i).unwrap_or(0);
            dst[i] = read_raw32(ctx, ETH_HLEN + 24 + 4 * i).unwrap_or(0);
        }
    } else {
        src[0] = read_raw32(ctx, ETH_HLEN + 12).unwrap_or(0);
        dst[0] = read_raw32(ctx, ETH_HLEN + 16).unwrap_or(0);
    }
    (src, dst)
}

/// An ARP frame's (operation, sender IP, target IP), raw.
#[inline(always)]
fn arp_addrs(ctx: &XdpContext) -> Option<(u16, u32, u32)> {
    let op = read_be16(ctx, ETH_HLEN + ARP_OP).ok()?;
    let spa = read_raw32(ctx, ETH_HLEN + ARP_SPA).ok()?;
    let tpa = read_raw32(ctx, ETH_HLEN + ARP_TPA).ok()?;
    Some((op, spa, tpa))
}

/// Reports one handled IPv4 packet to the agent (`TRACE_EVENTS`); a full ring buffer loses
/// the report, never the packet. Addresses raw (wire order).
#[inline(always)]
#[expect(clippy::too_many_arguments, reason = "one scalar per TraceEvent field: no struct copies in BPF")]
fn report(ifindex: u32, kind: u32, verdict: u32, reason: u32, action: u32, vrid: u32, priority: u32, src: u32, dst: u32) {
    report_family(ifindex, kind, verdict, reason, action, vrid, priority, AF_INET, [src, 0, 0, 0], [dst, 0, 0, 0]);
}

/// `report` for any address family: IPv6 (ND, VRRP over IPv6) passes its 16-byte addresses
/// as four raw words with `AF_INET6`.
#[inline(always)]
#[expect(clippy::too_many_arguments, reason = "one scalar per TraceEvent field: no struct copies in BPF")]
fn report_family(
    ifindex: u32,
    kind: u32,
    verdict: u32,
    reason: u32,
    action: u32,
    vrid: u32,
    priority: u32,
    family: u16,
    src: [u32; 4],
    dst: [u32; 4],
) {
    // Written in place in the ring buffer: no event copy on the stack.
    let Some(mut entry) = TRACE_EVENTS.reserve(0) else { return };
    let e: *mut TraceEvent = entry.as_mut_ptr();
    // SAFETY: `e` points to reserved ring-buffer memory the size of a TraceEvent, ours until
    // submitted; every field is a plain integer written once.
    unsafe {
        (*e).ts_ns = bpf_ktime_get_ns();
        (*e).ifindex = ifindex;
        (*e).kind = kind;
        (*e).verdict = verdict;
        (*e).reason = reason;
        (*e).action = action;
        (*e).vrid = vrid;
        (*e).priority = priority;
        (*e).family = family as u32;
        (*e).src = src;
        (*e).dst = dst;
    }
    entry.submit(0);
}

/// Counts a drop under its reason (the counter list is defined once, in vrrp-common).
#[inline(always)]
fn count_drop(reason: DropReason) {
    if let Some(s) = global_stats() {
        // SAFETY: per-CPU value, only this CPU writes it while we run.
        unsafe { *(*s).drop_counter_mut(reason) += 1 };
    }
}

/// Offset of the VRRP message: Ethernet + an IPv4 header without options. VRRP routers
/// never send IP options; a header with options is passed to the stack, where the agent's
/// slow path (a raw socket) judges it with the same rules.
const L4: usize = ETH_HLEN + 20;

// A BPF-to-BPF call of its own: its stack frame is not added to the other handlers'. (All
// inlined, the IPv4 path's 352 bytes and the IPv6 advert path's 424 were one frame of 776;
// the verifier allows 512 per call chain. Measured cost of the call: within the noise of
// `cargo xtask bench`.)
#[inline(never)]
fn handle_ipv4(ctx: &XdpContext) -> Result<u32, ()> {
    // One bounds check for the whole IPv4 header, one for the VRRP fixed header.
    // SAFETY: ptr_at checked that all 20 bytes are inside the packet.
    let ip: [u8; 20] = unsafe { *ptr_at::<[u8; 20]>(ctx, ETH_HLEN)? };
    if ip[0] != 0x45 || ip[9] != IPPROTO_VRRP {
        return Ok(XDP_PASS);
    }
    // A fragment is not an advert we can judge whole: the stack reassembles it for the
    // agent's slow path.
    if u16::from_be_bytes([ip[6], ip[7]]) & 0x3fff != 0 {
        return Ok(XDP_PASS);
    }
    count!(vrrp_rx);
    // SAFETY: ptr_at checked that the 8-byte VRRP fixed header is inside the packet.
    let Ok(hdr) = ptr_at::<[u8; VRRP_HLEN]>(ctx, L4).map(|p| unsafe { *p }) else {
        count_drop(DropReason::Truncated);
        return Ok(XDP_DROP);
    };
    let vrid = hdr[1];

    let key = VridKey {
        ifindex: ctx.ingress_ifindex() as u32,
        vrid: vrid as u16,
        family: AF_INET,
    };
    // SAFETY: the agent only writes whole values; a torn read of a config update is at worst
    // one advert judged by the old settings.
    let Some(cfg) = (unsafe { VRID_CONFIG.get(&key) }) else {
        // Not ours to judge: another VRRP speaker on this host may want it.
        count!(unknown_vrid);
        if tracing_on() {
            trace_advert(ctx, &key, trace_verdict::UNKNOWN_VRID, 0, hdr[2] as u32);
        }
        return Ok(XDP_PASS);
    };
    let stats = VRID_STATS.get_ptr_mut(&key);
    if let Some(s) = stats {
        // SAFETY: per-CPU value.
        unsafe { (*s).rx += 1 };
    }
    account(ctx, &key, cfg, stats, validate(ctx, &key, cfg, &ip, &hdr));
    Ok(XDP_DROP)
}

/// Counts a judged advert (globally and per VRID) and records an accepted one: the same for
/// IPv4 and IPv6.
#[inline(always)]
fn account(
    ctx: &XdpContext,
    key: &VridKey,
    cfg: &VridConfig,
    stats: Option<*mut VridStats>,
    verdict: Result<(AdvertRecord, bool), DropReason>,
) {
    let vrid = key.vrid;
    match verdict {
        Ok((record, pseudo)) => {
            count!(vrrp_accepted);
            let mismatch = record.version == 3 && record.adver_int_cs != cfg.adver_int_cs;
            if mismatch {
                count!(interval_mismatch);
            }
            if let Some(s) = stats {
                // SAFETY: per-CPU value.
                unsafe {
                    (*s).accepted += 1;
                    if record.version == 3 {
                        if pseudo {
                            (*s).v3_csum_pseudo += 1;
                        } else {
                            (*s).v3_csum_plain += 1;
                        }
                        if mismatch {
                            (*s).interval_mismatch += 1;
                        }
                    }
                }
            }
            let mut record = record;
            let woke = record_advert(ctx, key, cfg.state, &mut record, stats.unwrap_or(core::ptr::null_mut()));
            if tracing_on() {
                trace_advert(ctx, key, trace_verdict::ACCEPTED, woke, record.priority);
            }
        }
        Err(reason) => {
            count_drop(reason);
            if let Some(s) = stats {
                // SAFETY: per-CPU value.
                unsafe { (*s).dropped += 1 };
            }
            if let Some(d) = VRID_DROPS.get_ptr_mut(key) {
                let i = reason as usize;
                if i < DROP_REASONS {
                    // SAFETY: per-CPU value; i is in bounds.
                    unsafe { (*d).counts[i] += 1 };
                }
            }
            if tracing_on() {
                let prio = read_u8(ctx, if key.family == AF_INET6 { L4_V6 } else { L4 } + 2).unwrap_or(0);
                trace_advert(ctx, key, trace_verdict::DROPPED, reason as u32, prio as u32);
            }
            trace!(ctx, "vrrp: vrid {} dropped, reason {}", vrid, reason as u32);
        }
    }
}

/// The receive checks (RFC 3768/5798 §7.1 and keepalived's), in THE order documented on
/// `vrrp_agent::rx::validate::validate`, which implements the same rules for the slow path
/// (tests/tests/validator_parity.rs holds the two to the same verdicts). Returns the record
/// and whether a v3 advert matched with the IPv4 pseudo-header checksum.
#[inline(always)]
fn validate(
    ctx: &XdpContext,
    key: &VridKey,
    cfg: &VridConfig,
    ip: &[u8; 20],
    hdr: &[u8; VRRP_HLEN],
) -> Result<(AdvertRecord, bool), DropReason> {
    // 1. IPv4 header checksum (the kernel would drop it; XDP runs before the kernel checks).
    let mut ip_sum: u64 = 0;
    let mut i = 0;
    while i < 20 {
        ip_sum += u16::from_ne_bytes([ip[i], ip[i + 1]]) as u64;
        i += 2;
    }
    if fold(ip_sum) != 0xffff {
        return Err(DropReason::IpChecksum);
    }
    let total_len = u16::from_be_bytes([ip[2], ip[3]]) as usize;
    let ttl = ip[8];
    let src = [ip[12], ip[13], ip[14], ip[15]];
    let dst = [ip[16], ip[17], ip[18], ip[19]];
    // 2. Destination: the group for a multicast instance, our primary for a unicast one.
    let unicast = cfg.flags & flags::UNICAST != 0;
    if unicast {
        if dst == VRRP_GROUP_V4 {
            return Err(DropReason::MulticastToUnicast);
        }
        if dst != cfg.primary_v4 {
            return Err(DropReason::WrongDestination);
        }
    } else if dst != VRRP_GROUP_V4 {
        if dst[0] & 0xf0 == 0xe0 {
            return Err(DropReason::WrongDestination);
        }
        return Err(DropReason::UnicastToMulticast);
    }
    // 3. TTL 255, multicast only (keepalived skips it for unicast: peers may be routed).
    if !unicast && ttl != 255 {
        return Err(DropReason::Ttl);
    }
    // 4. Source: never a martian, never us, never one of our VIPs.
    if is_martian_source_v4(src) {
        return Err(DropReason::MartianSource);
    }
    if src == cfg.primary_v4 {
        return Err(DropReason::SourceIsSelf);
    }
    let src_key = VridAddrKey::new(*key, src);
    // SAFETY: presence test only.
    if unsafe { VRID_ADDRS.get(&src_key) }.is_some() {
        return Err(DropReason::SourceIsVip);
    }
    // 5. The peer allow-list (`allowed_peer`, or the unicast peers with
    // vrrp_check_unicast_src): one lookup, before any of the costlier checks below, so a
    // stranger's advert (a priority-255 VIP thief) never reaches the election.
    if cfg.flags & flags::PEER_ALLOW_LIST != 0 {
        // SAFETY: presence test only.
        if unsafe { VRID_PEERS.get(&src_key) }.is_none() {
            return Err(DropReason::UnknownPeer);
        }
    }
    // 6. Version, type, address owner.
    let ver_type = hdr[0];
    let version = (ver_type >> 4) as u32;
    if version != cfg.version {
        return Err(DropReason::Version);
    }
    if ver_type & 0x0f != 1 {
        return Err(DropReason::Type);
    }
    // The address owner hears adverts too (keepalived does; RFC 5798 §7.1 would discard
    // them): only so can it re-announce after a healed split brain and notice a second
    // owner. Its election never yields (the FSM), so they cannot demote it.
    // 7. Address count and lengths.
    let priority = hdr[2];
    let count = hdr[3] as usize;
    if count == 0 {
        return Err(DropReason::AddrCountZero);
    }
    let auth_len = if version == 2 { VRRP_AUTH_LEN } else { 0 };
    let needed = VRRP_HLEN + 4 * count + auth_len;
    if total_len < 20 + VRRP_HLEN {
        return Err(DropReason::Truncated);
    }
    let vrrp_len = total_len - 20;
    if vrrp_len < needed || ctx.data() + L4 + vrrp_len > ctx.data_end() {
        return Err(DropReason::Truncated);
    }
    if vrrp_len > needed {
        return Err(DropReason::Length);
    }
    // 8. v2: authentication and interval; v3: a non-zero interval.
    let adver_int_cs = if version == 2 {
        let auth_type = hdr[4] as u32;
        if auth_type != cfg.auth_type {
            return Err(DropReason::AuthType);
        }
        if cfg.flags & flags::AUTH_PASS != 0 {
            // count <= 255, so the offset is bounded for the verifier.
            let auth = L4 + VRRP_HLEN + 4 * (count & 0xff);
            let lo = read_raw32(ctx, auth).map_err(|()| DropReason::Truncated)?;
            let hi = read_raw32(ctx, auth + 4).map_err(|()| DropReason::Truncated)?;
            if lo != cfg.auth_pass_lo || hi != cfg.auth_pass_hi {
                return Err(DropReason::AuthPass);
            }
        }
        let secs = hdr[5] as u32;
        if secs * 100 != cfg.adver_int_cs {
            return Err(DropReason::Interval);
        }
        secs * 100
    } else {
        let raw = u16::from_be_bytes([hdr[4], hdr[5]]) as u32 & 0x0fff;
        if raw == 0 {
            return Err(DropReason::BadInterval);
        }
        raw
    };

    // 9. Checksum: one's complement sum of the message, 32 bits at a time (IPv4 VRRP
    // messages are whole words: needed is a multiple of 4 and vrrp_len == needed).
    let sum = packet_sum(ctx, L4, vrrp_len / 4).ok_or(DropReason::Truncated)?;
    let plain_ok = fold(sum) == 0xffff;
    let mut pseudo = false;
    if !plain_ok {
        if version != 3 {
            return Err(DropReason::Checksum);
        }
        // v3 over IPv4 as keepalived and FRR send it by default: with the pseudo-header
        // (src, dst, zero, protocol, VRRP length), each summed as it lies on the wire.
        let len = vrrp_len as u16;
        let proto_len = u32::from_ne_bytes([0, IPPROTO_VRRP, (len >> 8) as u8, len as u8]);
        let with_pseudo = sum
            + u32::from_ne_bytes(src) as u64
            + u32::from_ne_bytes(dst) as u64
            + proto_len as u64;
        if fold(with_pseudo) != 0xffff {
            return Err(DropReason::Checksum);
        }
        pseudo = true;
    }
    // 10. The address list must be ours: the same count, and each of ours exactly once
    // (membership + a bitmap of our indexes catches repeats).
    if cfg.flags & flags::SKIP_CHECK_ADV_ADDR == 0 {
        if count as u32 != cfg.count_addrs {
            return Err(DropReason::AddrList);
        }
        addr_list_verdict(vrrp_addr_list_v4(ctx.ctx, key.ifindex, key.vrid as u32, count as u32))?;
    }
    // SAFETY: plain integer helper.
    let ts_ns = unsafe { bpf_ktime_get_ns() };
    Ok((
        AdvertRecord {
            ts_ns,
            src_v4: src,
            priority: priority as u32,
            adver_int_cs,
            version,
            count_addrs: count as u32,
            _pad: 0,
            seq: 0,
            src_v6: no_src_v6(),
        },
        pseudo,
    ))
}

/// `vrrp_addr_list_v4`/`_v6` answers (plain integers: a global function returns a scalar).
const ADDR_LIST_OK: u32 = 0;
const ADDR_LIST_WRONG: u32 = 1;
const ADDR_LIST_TRUNCATED: u32 = 2;

#[inline(always)]
fn addr_list_verdict(v: u32) -> Result<(), DropReason> {
    match v {
        ADDR_LIST_OK => Ok(()),
        ADDR_LIST_TRUNCATED => Err(DropReason::Truncated),
        _ => Err(DropReason::AddrList),
    }
}

#[inline(always)]
fn addr_list_answer(r: Result<(), DropReason>) -> u32 {
    match r {
        Ok(()) => ADDR_LIST_OK,
        Err(DropReason::Truncated) => ADDR_LIST_TRUNCATED,
        Err(_) => ADDR_LIST_WRONG,
    }
}

/// Check 10 for IPv4: the advert's `count` addresses are ours. Fast path: our list in our
/// order (what our peers send), one lookup in all; else as a set (`check_addr_set`). A global
/// BPF function, like `vrrp_packet_sum`: its loops (255 addresses) are verified once, not
/// once per state of the caller's checks before it.
#[unsafe(no_mangle)]
#[inline(never)]
pub extern "C" fn vrrp_addr_list_v4(ctx: *mut xdp_md, ifindex: u32, vrid: u32, count: u32) -> u32 {
    let ctx = XdpContext::new(ctx);
    let key = VridKey { ifindex, vrid: vrid as u16, family: AF_INET };
    let count = count as usize;
    if count > MAX_ADDRS_V4 as usize {
        return ADDR_LIST_WRONG;
    }
    // SAFETY: whole-value reads of a map value.
    if let Some(list) = unsafe { VRID_ADDR_LIST.get(&key) }
        && list.count as usize == count
    {
        let mut same = true;
        for i in 0..MAX_ADDRS_V4 as usize {
            if i >= count {
                break;
            }
            let Ok(addr) = read_raw32(&ctx, L4 + VRRP_HLEN + i * 4) else { return ADDR_LIST_TRUNCATED };
            if addr != u32::from_ne_bytes(list.addrs_v4[i]) {
                same = false;
                break;
            }
        }
        if same {
            return ADDR_LIST_OK;
        }
    }
    addr_list_answer(check_addr_set(&ctx, &key, count))
}

/// Check 10 for IPv6, as `vrrp_addr_list_v4`.
#[unsafe(no_mangle)]
#[inline(never)]
pub extern "C" fn vrrp_addr_list_v6(ctx: *mut xdp_md, ifindex: u32, vrid: u32, count: u32) -> u32 {
    let ctx = XdpContext::new(ctx);
    let key = VridKey { ifindex, vrid: vrid as u16, family: AF_INET6 };
    let count = count as usize;
    if count > MAX_ADDRS_V6 as usize {
        return ADDR_LIST_WRONG;
    }
    // SAFETY: whole-value reads of a map value.
    if let Some(list) = unsafe { VRID_ADDR_LIST_V6.get(&key) }
        && list.count as usize == count
    {
        let mut same = true;
        for i in 0..MAX_ADDRS_V6 as usize {
            if i >= count {
                break;
            }
            let Ok(a) = read_addr6(&ctx, L4_V6 + VRRP_HLEN + i * 16) else { return ADDR_LIST_TRUNCATED };
            if a != map_addr6(&list.addrs_v6[i]) {
                same = false;
                break;
            }
        }
        if same {
            return ADDR_LIST_OK;
        }
    }
    addr_list_answer(check_addr_set_v6(&ctx, &key, count))
}

/// `AdvertRecord::src_v6` of an IPv4 advert: zero, from two u64 stores (a zeroed byte array
/// is a memset, which BPF cannot call).
#[inline(always)]
fn no_src_v6() -> [u8; 16] {
    let zero = [0u64, 0u64];
    // SAFETY: a u64 on our stack; the volatile read keeps LLVM from seeing a constant.
    let z = unsafe { core::ptr::read_volatile(&zero[0]) };
    bytes6([z, z])
}

/// The address list as a set: each of the advert's addresses is one of our advertised ones,
/// and none twice (with the count equal to ours, that is our list in another order).
#[inline(always)]
fn check_addr_set(ctx: &XdpContext, key: &VridKey, count: usize) -> Result<(), DropReason> {
    // Which of our addresses the advert named so far: a bitmap in a per-CPU scratch value
    // (indexed without branches, so the verifier walks the loop once per path).
    let Some(seen) = SEEN.get_ptr_mut(0) else {
        return Err(DropReason::AddrList);
    };
    // SAFETY: per-CPU scratch value, only this CPU uses it while we run. Volatile: LLVM
    // would merge four plain stores into a memset, which BPF cannot call.
    unsafe {
        let w = &raw mut (*seen).words;
        for i in 0..4 {
            core::ptr::write_volatile(&raw mut (*w)[i], 0);
        }
    }
    for i in 0..MAX_ADDRS_V4 as usize {
        if i >= count {
            break;
        }
        let addr = read_raw32(ctx, L4 + VRRP_HLEN + i * 4).map_err(|()| DropReason::Truncated)?;
        let k = VridAddrKey::new(*key, addr.to_ne_bytes());
        // SAFETY: whole-value read of a map value.
        let Some(a) = (unsafe { VRID_ADDRS.get(&k) }) else {
            return Err(DropReason::AddrList);
        };
        if a.kind != addr_kind::ADVERTISED {
            return Err(DropReason::AddrList);
        }
        let idx = (a.index & 0xff) as usize;
        let bit = 1u64 << (idx & 63);
        // SAFETY: idx >> 6 < 4: inside the scratch value.
        let w = unsafe { &mut (*seen).words[idx >> 6] };
        if *w & bit != 0 {
            return Err(DropReason::AddrList);
        }
        *w |= bit;
    }
    Ok(())
}

/// The one's complement sum (unfolded) of `words` 32-bit words of the packet from `offset`,
/// as they lie on the wire; None if they are not all inside it.
#[inline(always)]
fn packet_sum(ctx: &XdpContext, offset: usize, words: usize) -> Option<u64> {
    let sum = vrrp_packet_sum(ctx.ctx, offset as u32, words as u32);
    (sum != NOT_IN_PACKET).then_some(sum)
}

/// What `vrrp_packet_sum` returns when the words are not all in the packet: no sum of at most
/// `MAX_SUM_WORDS` 32-bit words reaches it.
const NOT_IN_PACKET: u64 = u64::MAX;
/// The longest message summed: an IPv6 advert with `MAX_ADDRS_V6` addresses (362 words; an
/// IPv4 one has at most 259, a solicitation XDP answers 32).
const MAX_SUM_WORDS: usize = MAX_VRRP_WORDS_V6;
const _: () = assert!(MAX_SUM_WORDS >= MAX_VRRP_WORDS && MAX_SUM_WORDS >= MAX_NS_LEN / 4);

/// `packet_sum`'s loop, in a global BPF function: the kernel verifies a global function once,
/// on its own, where the loop inlined into each checksum was walked again for every state a
/// caller reached it in (each word a step of its own). Scalars and the context only, as
/// global functions require; `offset` is bounded here for the packet arithmetic.
#[unsafe(no_mangle)]
#[inline(never)]
pub extern "C" fn vrrp_packet_sum(ctx: *mut xdp_md, offset: u32, words: u32) -> u64 {
    if offset > 255 || words as usize > MAX_SUM_WORDS {
        return NOT_IN_PACKET;
    }
    let ctx = XdpContext::new(ctx);
    let mut sum = 0u64;
    for i in 0..MAX_SUM_WORDS {
        if i >= words as usize {
            break;
        }
        match read_raw32(&ctx, offset as usize + i * 4) {
            Ok(w) => sum += w as u64,
            Err(()) => return NOT_IN_PACKET,
        }
    }
    sum
}

/// Folds a wide one's complement sum to 16 bits.
#[inline(always)]
fn fold(mut sum: u64) -> u16 {
    sum = (sum & 0xffff_ffff) + (sum >> 32);
    sum = (sum & 0xffff_ffff) + (sum >> 32);
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    sum as u16
}

/// Stores the advert and wakes the agent only if it can change a decision. Returns why it
/// woke the agent (`event_reason` bits; 0: it did not).
// A call of its own: the event it builds is not on the advert handlers' stack frames.
#[inline(never)]
fn record_advert(
    ctx: &XdpContext,
    key: &VridKey,
    vrid_state: u32,
    record: &mut AdvertRecord,
    stats: *mut VridStats,
) -> u32 {
    let mut reasons = 0u32;
    // The agent creates the record (ts_ns 0 = nothing heard yet) when it configures the VRID,
    // so the steady state is an in-place update, not a hash insert per advert. Readers may
    // see a record half-written by another CPU; only the event (a private copy) has to be
    // exact, and in the steady state successive records are identical but for ts_ns and seq.
    let slot = ADVERT_RECORD.get_ptr_mut(key);
    // The event order: every accepted advert takes the next number with one atomic add, so
    // two CPUs never hand out the same one and the agent can apply events in this order.
    // `seq` is written only here; the other fields are written one by one below.
    record.seq = match slot {
        // SAFETY: a valid, aligned map value pointer; the field is only ever accessed
        // atomically by concurrent writers.
        // (`AtomicU64::fetch_add` is not offered on BPF, which has no compare-and-swap in
        // Rust's target spec; the intrinsic is BPF's atomic fetch-and-add. SeqCst, not
        // Relaxed: with Relaxed this LLVM emits the non-fetching XADD and hands back the
        // addend, so every event carried seq 2; tests/dataplane.rs checks the number.)
        Some(p) => unsafe { atomic_xadd::<u64, u64, { AtomicOrdering::SeqCst }>(&raw mut (*p).seq, 1) }
            .wrapping_add(1),
        None => 1,
    };
    // The record as it was (for the event's `prev`). None: ts_ns 0 and a copy of this
    // advert, not zeroes (LLVM makes those a memset, which BPF has no built-in for) nor an
    // Option (LLVM spills its undefined payload, which the verifier refuses).
    let prev = match slot {
        // SAFETY: a valid map value pointer; see above on concurrent writers.
        Some(p) => unsafe { *p },
        None => AdvertRecord { ts_ns: 0, ..*record },
    };
    match slot.map(|_| &prev) {
        None => reasons |= event_reason::FIRST,
        Some(last) if last.ts_ns == 0 => reasons |= event_reason::FIRST,
        Some(last) => {
            if last.src_v4 != record.src_v4 || map_addr6(&last.src_v6) != map_addr6(&record.src_v6) {
                reasons |= event_reason::NEW_SOURCE;
            }
            if last.priority != record.priority {
                reasons |= event_reason::PRIORITY_CHANGED;
            }
            if last.adver_int_cs != record.adver_int_cs {
                reasons |= event_reason::INTERVAL_CHANGED;
            }
        }
    }
    if record.priority == 0 {
        reasons |= event_reason::PRIORITY_ZERO;
    }
    if vrid_state != state::BACKUP {
        reasons |= event_reason::NOT_BACKUP;
    }
    // The event is written in place in the ring buffer (not built on this frame: with the
    // old record in it, it would take the stack past BPF's 512 bytes) and submitted once the
    // record is written, so the agent never sees an event ahead of the record.
    let mut entry = if reasons != 0 { ADVERT_EVENTS.reserve(0) } else { None };
    if let Some(e) = entry.as_mut() {
        let ev = e.as_mut_ptr();
        // SAFETY: the reserved entry is ours, sized and aligned for an `AdvertEvent`; every
        // field is written before it is submitted.
        unsafe {
            (*ev).key = *key;
            (*ev).reasons = reasons;
            (*ev)._pad = 0;
            // Plain copies (the entry and the stack never overlap), never a memmove.
            core::ptr::copy_nonoverlapping(&raw const *record, &raw mut (*ev).record, 1);
            // When the old content was last heard (see `AdvertEvent::prev`).
            core::ptr::copy_nonoverlapping(&raw const prev, &raw mut (*ev).prev, 1);
        }
    }
    match slot {
        // SAFETY: as above; every field but `seq`.
        Some(p) => unsafe {
            (*p).ts_ns = record.ts_ns;
            (*p).src_v4 = record.src_v4;
            // Not overlapping (the record is on our stack): a plain copy, never a memmove,
            // which BPF has no built-in for.
            core::ptr::copy_nonoverlapping(&record.src_v6, core::ptr::addr_of_mut!((*p).src_v6), 1);
            (*p).priority = record.priority;
            (*p).adver_int_cs = record.adver_int_cs;
            (*p).version = record.version;
            (*p).count_addrs = record.count_addrs;
        },
        None => {
            let _ = ADVERT_RECORD.insert(key, &*record, 0);
        }
    }
    if reasons != 0 {
        match entry {
            Some(e) => {
                e.submit(0);
                if !stats.is_null() {
                    // SAFETY: per-CPU value.
                    unsafe { (*stats).events += 1 };
                }
            }
            None => count!(events_lost),
        }
        trace!(ctx, "vrrp: vrid {} event reasons {}", key.vrid, reasons);
    }
    reasons
}

// ARP over Ethernet/IPv4, offsets from the start of the ARP header.
const ARP_HLEN: usize = 28;
const ARP_OP: usize = 6;
const ARP_SHA: usize = 8;
const ARP_SPA: usize = 14;
const ARP_THA: usize = 18;
const ARP_TPA: usize = 24;
const ARP_REQUEST: u16 = 1;
const ARP_REPLY: u16 = 2;

/// Another host announcing one of our VIPs: reported to the agent, at most once per VIP per
/// `VIP_CONFLICT_EVENT_GAP_NS` (the counters count every frame).
#[btf_map]
static VIP_CONFLICTS: RingBuf<VipConflictEvent, { VIP_CONFLICT_BYTES as usize }> = RingBuf::new();
/// When the last `VipConflictEvent` was sent, per VIP of either family (the rate limit
/// above), keyed as the event names it (an IPv4 VIP in the first four bytes).
#[btf_map]
static VIP_CONFLICT_LAST: HashMap<VipKeyV6, u64, { MAX_VIPS as usize }> = HashMap::new();

/// ARP: answers requests for an owned VIP in place (check, validate, prepare, respond), and
/// notices another host claiming one of our VIPs.
///
/// Not answered, each under its own counter: martian senders (224.0.0.0/4,
/// 255.255.255.255, 127.0.0.0/8: the kernel's own ARP code refuses them as martian sources,
/// so they are dropped here rather than passed for the stack to answer) and a
/// broadcast/multicast Ethernet or ARP sender MAC (dropped: no valid station has one, and a
/// reply to it would go to every host); a request unicast to another host's MAC (passed:
/// the stack ignores it as PACKET_OTHERHOST, and a bridge above this port may forward it).
/// Sender 0.0.0.0 is an RFC 5227 probe and is answered as Linux answers it (`arp_process`):
/// a unicast reply to the prober's MAC, target IP 0.0.0.0.
// A BPF-to-BPF call of its own: its stack frame is not added to the other handlers'.
#[inline(never)]
fn handle_arp(ctx: &XdpContext) -> Result<u32, ()> {
    let arp = ETH_HLEN;
    // Check: the whole header is there and it is Ethernet/IPv4.
    ptr_at::<[u8; ARP_HLEN]>(ctx, arp)?;
    if read_be16(ctx, arp)? != 1
        || read_be16(ctx, arp + 2)? != ETH_P_IP
        || read_u8(ctx, arp + 4)? != 6
        || read_u8(ctx, arp + 5)? != 4
    {
        return Ok(XDP_PASS);
    }
    let op = read_be16(ctx, arp + ARP_OP)?;
    if op != ARP_REQUEST && op != ARP_REPLY {
        return Ok(XDP_PASS);
    }
    let ifindex = ctx.ingress_ifindex() as u32;
    let spa = read_raw32(ctx, arp + ARP_SPA)?;
    let sha_hi = read_raw32(ctx, arp + ARP_SHA)?;
    let sha_lo = read_raw16(ctx, arp + ARP_SHA + 4)?;

    // Someone announcing one of our VIPs (gratuitous ARP, reply, or a request sent from it)
    // from a MAC that is not ours: count it, tell the agent, and pass it to the stack.
    if spa != 0 {
        let claimed = VipKey { ifindex, addr_v4: spa.to_ne_bytes() };
        // SAFETY: whole-value read.
        if let Some(vip) = unsafe { OWNED_VIPS.get(&claimed) }
            && (vip.mac_hi != sha_hi || vip.mac_lo != sha_lo)
        {
            let ev = VipConflictEvent {
                ifindex,
                family: AF_INET,
                vrid: vip.vrid,
                // The IPv4 address in the first four bytes (the host is little-endian BPF).
                addr: bytes6([spa as u64, 0]),
                // SAFETY: plain integer helper. (Non-zero here: with the zero bytes of
                // `addr` next to it LLVM would zero them with a memset, which BPF lacks.)
                ts_ns: unsafe { bpf_ktime_get_ns() },
                mac_hi: sha_hi,
                mac_lo: sha_lo,
                op,
            };
            vip_conflict(ctx, &ev);
            return Ok(XDP_PASS);
        }
    }
    if op != ARP_REQUEST {
        return Ok(XDP_PASS);
    }
    count!(arp_requests);
    let tpa = read_raw32(ctx, arp + ARP_TPA)?;
    let vip_key = VipKey { ifindex, addr_v4: tpa.to_ne_bytes() };
    // SAFETY: whole-value reads.
    let owned = unsafe { OWNED_VIPS.get(&vip_key) };
    // Fenced: the agent is dead or hung. Neither we nor the kernel (the address may still be
    // on the interface) may answer for one of its VIPs: a backup is taking over.
    if (owned.is_some() || unsafe { FENCED_VIPS.get(&vip_key) }.is_some()) && !lease_fresh() {
        count!(arp_fenced);
        return Ok(XDP_DROP);
    }
    // Validate: a VIP we own here, and not our own announcement of it.
    let Some(vip) = owned else {
        return Ok(XDP_PASS);
    };
    if spa == tpa {
        return Ok(XDP_PASS);
    }
    let mac_hi = vip.mac_hi;
    let mac_lo = vip.mac_lo;
    let vrid = vip.vrid;
    let spa_b = spa.to_ne_bytes();
    if spa_b[0] & 0xf0 == 0xe0 {
        count!(arp_drop_sender_multicast);
        return Ok(XDP_DROP);
    }
    if spa == u32::MAX {
        count!(arp_drop_sender_broadcast);
        return Ok(XDP_DROP);
    }
    if spa_b[0] == 127 {
        count!(arp_drop_sender_loopback);
        return Ok(XDP_DROP);
    }
    // The group bit is the lowest bit of a MAC's first byte.
    if read_u8(ctx, 6)? & 1 != 0 || sha_hi.to_ne_bytes()[0] & 1 != 0 {
        count!(arp_drop_group_src_mac);
        return Ok(XDP_DROP);
    }
    let dst_hi = read_raw32(ctx, 0)?;
    let dst_lo = read_raw16(ctx, 4)?;
    let broadcast = dst_hi == u32::MAX && dst_lo == u16::MAX;
    if !broadcast && (dst_hi != mac_hi || dst_lo != mac_lo) {
        count!(arp_other_host_dst);
        return Ok(XDP_PASS);
    }

    // Prepare and respond, in place, as Linux's arp_process does: to the requester's ARP
    // sender MAC, "VIP is at our MAC", target = the requester (0.0.0.0 for a probe).
    write_raw32(ctx, 0, sha_hi)?;
    write_raw16(ctx, 4, sha_lo)?;
    write_raw32(ctx, 6, mac_hi)?;
    write_raw16(ctx, 10, mac_lo)?;
    write_raw16(ctx, arp + ARP_OP, ARP_REPLY.to_be())?;
    write_raw32(ctx, arp + ARP_THA, sha_hi)?;
    write_raw16(ctx, arp + ARP_THA + 4, sha_lo)?;
    write_raw32(ctx, arp + ARP_TPA, spa)?;
    write_raw32(ctx, arp + ARP_SHA, mac_hi)?;
    write_raw16(ctx, arp + ARP_SHA + 4, mac_lo)?;
    write_raw32(ctx, arp + ARP_SPA, tpa)?;
    count!(arp_replies);
    if spa == 0 {
        count!(arp_probe_replies);
    }
    let key = VridKey { ifindex, vrid, family: AF_INET };
    if let Some(s) = VRID_STATS.get_ptr_mut(&key) {
        // SAFETY: per-CPU value.
        unsafe { (*s).arp_replies += 1 };
    }
    trace!(ctx, "arp: replied for owned vip, vrid {}", vrid);
    Ok(XDP_TX)
}

/// Counts a VIP conflict of either family (global and per VRID) and reports it to the agent
/// (`ev`, stamped with its receive time), rate-limited per VIP.
// One copy for the ARP and NA handlers; a pointer to the caller's event keeps it to 2 args.
#[inline(never)]
fn vip_conflict(ctx: &XdpContext, ev: &VipConflictEvent) {
    count!(vip_conflict);
    let key = VridKey { ifindex: ev.ifindex, vrid: ev.vrid, family: ev.family };
    if let Some(s) = VRID_STATS.get_ptr_mut(&key) {
        // SAFETY: per-CPU value.
        unsafe { (*s).vip_conflict += 1 };
    }
    trace!(ctx, "another host claims an owned vip, vrid {} op {}", ev.vrid, ev.op);
    let now = ev.ts_ns;
    let vip = VipKeyV6 { ifindex: ev.ifindex, addr_v6: ev.addr };
    match VIP_CONFLICT_LAST.get_ptr_mut(&vip) {
        // SAFETY: a valid map value pointer; a race between CPUs costs one extra event.
        Some(last) if now.wrapping_sub(unsafe { *last }) < VIP_CONFLICT_EVENT_GAP_NS => return,
        // SAFETY: as above.
        Some(last) => unsafe { *last = now },
        None => {
            let _ = VIP_CONFLICT_LAST.insert(&vip, &now, 0);
        }
    }
    if VIP_CONFLICTS.output(ev, 0).is_err() {
        count!(vip_conflict_events_lost);
    }
}

#[inline(always)]
fn read_raw16(ctx: &XdpContext, offset: usize) -> Result<u16, ()> {
    // SAFETY: bounds checked; unaligned read of plain bytes.
    Ok(unsafe { ptr_at::<u16>(ctx, offset)?.read_unaligned() })
}

#[inline(always)]
fn write_raw16(ctx: &XdpContext, offset: usize, v: u16) -> Result<(), ()> {
    // SAFETY: bounds checked; unaligned write of plain bytes.
    unsafe { ptr_at_mut::<u16>(ctx, offset)?.write_unaligned(v) };
    Ok(())
}

#[inline(always)]
fn write_raw32(ctx: &XdpContext, offset: usize, v: u32) -> Result<(), ()> {
    // SAFETY: bounds checked; unaligned write of plain bytes.
    unsafe { ptr_at_mut::<u32>(ctx, offset)?.write_unaligned(v) };
    Ok(())
}

// ---- IPv6 -------------------------------------------------------------------------------
//
// Addresses are handled as two u64 words holding the wire bytes (`Addr6`): they stay in
// registers, where 16-byte arrays would be copied byte by byte through the stack (512 bytes
// in all) and compared with memcmp, which BPF cannot call.

const ETH_P_IPV6: u16 = 0x86dd;
const IPV6_HLEN: usize = 40;
const IPPROTO_ICMPV6: u8 = 58;
/// Offsets of the IPv6 header fields.
const IP6_PLEN: usize = ETH_HLEN + 4;
const IP6_NEXT: usize = ETH_HLEN + 6;
const IP6_HOPS: usize = ETH_HLEN + 7;
const IP6_SRC: usize = ETH_HLEN + 8;
const IP6_DST: usize = ETH_HLEN + 24;
/// Offset of the VRRP message (or ICMPv6 message): Ethernet + an IPv6 header without
/// extension headers. VRRP routers send none; a packet with them is passed to the stack,
/// where the agent's slow path (a raw IPv6 socket, which gets the payload after them)
/// judges it with the same rules.
const L4_V6: usize = ETH_HLEN + IPV6_HLEN;
/// Longest IPv6 VRRP message XDP judges: header + `MAX_ADDRS_V6` addresses (362 words).
const MAX_VRRP_WORDS_V6: usize = (VRRP_HLEN + 16 * MAX_ADDRS_V6 as usize) / 4;

/// An IPv6 address: its 16 wire bytes as two native u64s.
type Addr6 = [u64; 2];

#[inline(always)]
const fn addr6(b: [u8; 16]) -> Addr6 {
    [
        u64::from_ne_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]),
        u64::from_ne_bytes([b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]]),
    ]
}

#[inline(always)]
fn bytes6(a: Addr6) -> [u8; 16] {
    // SAFETY: two u64s are 16 plain bytes, in memory order.
    unsafe { core::mem::transmute::<Addr6, [u8; 16]>(a) }
}

/// An IPv6 address at `offset` in the packet.
#[inline(always)]
fn read_addr6(ctx: &XdpContext, offset: usize) -> Result<Addr6, ()> {
    // SAFETY: ptr_at checked the 16 bytes are inside the packet; unaligned plain bytes.
    Ok(unsafe { ptr_at::<Addr6>(ctx, offset)?.read_unaligned() })
}

/// An IPv6 address field of a map value.
#[inline(always)]
fn map_addr6(field: &[u8; 16]) -> Addr6 {
    // SAFETY: a valid 16-byte field; unaligned read of plain bytes.
    unsafe { (field as *const [u8; 16] as *const Addr6).read_unaligned() }
}

/// `N` bytes at a variable `offset` in the packet, copied by the kernel (bpf_xdp_load_bytes):
/// offsets that depend on earlier lengths (the options of an NS) are bounds-checked by the
/// helper, where a direct read's check is one LLVM may fold into earlier ones, leaving the
/// verifier without its proof.
#[inline(always)]
fn load_bytes<const N: usize>(ctx: &XdpContext, offset: usize) -> Result<[u8; N], ()> {
    // Not zeroed first: the helper fills it (the verifier allows it uninitialised memory),
    // and zeroing 16 bytes or more turns into a memset, which BPF cannot call.
    let mut buf = core::mem::MaybeUninit::<[u8; N]>::uninit();
    // SAFETY: the helper writes exactly N bytes into our buffer, or fails.
    let rc = unsafe {
        aya_ebpf::helpers::bpf_xdp_load_bytes(ctx.ctx, offset as u32, buf.as_mut_ptr() as *mut core::ffi::c_void, N as u32)
    };
    if rc != 0 {
        return Err(());
    }
    // SAFETY: on success all N bytes were written.
    Ok(unsafe { buf.assume_init() })
}

/// Neighbour advertisements: another host advertising one of our IPv6 VIPs (target owned
/// here, hop limit 255, code 0) with a link-layer address that is not ours is a VIP conflict,
/// counted and reported to the agent as ARP's are (`vip_conflict`), and passed. The
/// address is its target link-layer option's when that is the first option, else the frame's
/// source MAC.
// A BPF-to-BPF call of its own: its stack frame is not added to the other handlers'.
#[inline(never)]
fn handle_na(ctx: &XdpContext) -> Result<u32, ()> {
    let target = read_addr6(ctx, L4_V6 + ND_TARGET)?;
    let ifindex = ctx.ingress_ifindex() as u32;
    let vip_key = VipKeyV6 { ifindex, addr_v6: bytes6(target) };
    // SAFETY: whole-value read.
    let Some(vip) = (unsafe { OWNED_VIPS_V6.get(&vip_key) }) else {
        return Ok(XDP_PASS);
    };
    if read_u8(ctx, IP6_HOPS)? != 255 || read_u8(ctx, L4_V6 + 1)? != 0 {
        return Ok(XDP_PASS);
    }
    let (mac_hi, mac_lo) = match load_bytes::<8>(ctx, L4_V6 + ND_HLEN) {
        Ok(o) if o[0] == ND_OPT_TLLA && o[1] == 1 => {
            (u32::from_ne_bytes([o[2], o[3], o[4], o[5]]), u16::from_ne_bytes([o[6], o[7]]))
        }
        _ => (read_raw32(ctx, 6)?, read_raw16(ctx, 10)?),
    };
    if mac_hi == vip.mac_hi && mac_lo == vip.mac_lo {
        return Ok(XDP_PASS);
    }
    let ev = VipConflictEvent {
        ifindex,
        family: AF_INET6,
        vrid: vip.vrid,
        addr: bytes6(target),
        // SAFETY: plain integer helper.
        ts_ns: unsafe { bpf_ktime_get_ns() },
        mac_hi,
        mac_lo,
        op: conflict_op::NEIGHBOUR_ADVERT,
    };
    vip_conflict(ctx, &ev);
    Ok(XDP_PASS)
}

#[inline(always)]
fn write_addr6(ctx: &XdpContext, offset: usize, a: Addr6) -> Result<(), ()> {
    // SAFETY: bounds checked; unaligned write of plain bytes.
    unsafe { ptr_at_mut::<Addr6>(ctx, offset)?.write_unaligned(a) };
    Ok(())
}

const GROUP_V6: Addr6 = addr6(VRRP_GROUP_V6);
const ALL_NODES: Addr6 = addr6([0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);

/// The first byte of an address (the multicast test).
#[inline(always)]
fn first_byte(a: Addr6) -> u8 {
    a[0].to_ne_bytes()[0]
}

/// The one's complement sum of an address, as 32-bit words in wire order.
#[inline(always)]
fn sum6(a: Addr6) -> u64 {
    (a[0] & 0xffff_ffff) + (a[0] >> 32) + (a[1] & 0xffff_ffff) + (a[1] >> 32)
}

/// The IPv6 pseudo-header's sum (RFC 8200 §8.1): source, destination, upper-layer length
/// (32 bits) and next header, each as it lies on the wire.
#[inline(always)]
fn pseudo_sum_v6(src: Addr6, dst: Addr6, len: u16, next_header: u8) -> u64 {
    sum6(src)
        + sum6(dst)
        + u32::from_ne_bytes([0, 0, (len >> 8) as u8, len as u8]) as u64
        + u32::from_ne_bytes([0, 0, 0, next_header]) as u64
}

#[inline(always)]
fn handle_ipv6(ctx: &XdpContext) -> Result<u32, ()> {
    ptr_at::<[u8; IPV6_HLEN]>(ctx, ETH_HLEN)?;
    if read_u8(ctx, ETH_HLEN)? >> 4 != 6 {
        return Ok(XDP_PASS);
    }
    match read_u8(ctx, IP6_NEXT)? {
        IPPROTO_VRRP => handle_vrrp_v6(ctx),
        IPPROTO_ICMPV6 => match read_u8(ctx, L4_V6)? {
            ICMPV6_NS => handle_ns_traced(ctx),
            ICMPV6_NA => handle_na(ctx),
            _ => Ok(XDP_PASS),
        },
        // Behind extension headers: the stack walks them (the slow path judges a VRRP
        // advert) and answers a solicitation, unless the fence must stop it.
        IPPROTO_HOPOPTS | IPPROTO_ROUTING | IPPROTO_DSTOPTS => Ok(fence_ns_behind_ext_headers(ctx)),
        _ => Ok(XDP_PASS),
    }
}

/// IPv6 extension headers walked to find a fenced solicitation (RFC 8200 §4.1 order: a
/// hop-by-hop, a destination options, a routing header, then the upper layer; more than
/// `MAX_EXT_HEADERS` is not a real NS).
const IPPROTO_HOPOPTS: u8 = 0;
const IPPROTO_ROUTING: u8 = 43;
const IPPROTO_DSTOPTS: u8 = 60;
const MAX_EXT_HEADERS: usize = 3;

/// A VIP's solicitation must not be answered by anyone here: the agent's lease is stale and
/// the VIP is owned (`owned`) or configured (`FENCED_VIPS_V6`). The one rule for a plain NS
/// (`handle_ns`) and one behind extension headers.
#[inline(always)]
fn ns_fenced(key: &VipKeyV6, owned: bool) -> bool {
    // The lease is read first: while it is fresh, the map is not looked up.
    // SAFETY: presence test only.
    !lease_fresh() && (owned || unsafe { FENCED_VIPS_V6.get(key) }.is_some())
}

/// A neighbour solicitation behind extension headers is left to the kernel, which answers it
/// for a VIP on the interface as we would (XDP builds its NA in place only for a plain one);
/// but while the lease is stale it is dropped (`arp_fenced`) when its target is a VIP, as a
/// plain one is, or a fenced host's kernel would still answer. Fragments (header 44) are
/// passed: Linux drops fragmented neighbour discovery (RFC 6980, `suppress_frag_ndisc`).
// A call of its own: its header walk is verified once, not in every caller's branches.
#[inline(never)]
fn fence_ns_behind_ext_headers(ctx: &XdpContext) -> u32 {
    if lease_fresh() {
        return XDP_PASS;
    }
    let Ok(mut next) = read_u8(ctx, IP6_NEXT) else { return XDP_PASS };
    let mut off = L4_V6;
    for _ in 0..MAX_EXT_HEADERS {
        if next != IPPROTO_HOPOPTS && next != IPPROTO_ROUTING && next != IPPROTO_DSTOPTS {
            break;
        }
        // Next header, then the length in 8-byte units not counting the first.
        let Ok([nh, units]) = load_bytes::<2>(ctx, off) else { return XDP_PASS };
        next = nh;
        off += (units as usize + 1) * 8;
    }
    if next != IPPROTO_ICMPV6 {
        return XDP_PASS;
    }
    let Ok([icmp_type]) = load_bytes::<1>(ctx, off) else { return XDP_PASS };
    if icmp_type != ICMPV6_NS {
        return XDP_PASS;
    }
    let Ok(target) = load_bytes::<16>(ctx, off + ND_TARGET) else { return XDP_PASS };
    let key = VipKeyV6 { ifindex: ctx.ingress_ifindex() as u32, addr_v6: target };
    // SAFETY: presence test only.
    let owned = unsafe { OWNED_VIPS_V6.get(&key) }.is_some();
    if ns_fenced(&key, owned) {
        count!(arp_fenced);
        return XDP_DROP;
    }
    XDP_PASS
}

// A BPF-to-BPF call of its own: its stack frame is not added to the other handlers'.
#[inline(never)]
fn handle_vrrp_v6(ctx: &XdpContext) -> Result<u32, ()> {
    // SAFETY: ptr_at checked that the 8-byte VRRP fixed header is inside the packet.
    let Ok(hdr) = ptr_at::<[u8; VRRP_HLEN]>(ctx, L4_V6).map(|p| unsafe { *p }) else {
        count!(vrrp_rx);
        count_drop(DropReason::Truncated);
        return Ok(XDP_DROP);
    };
    // More addresses than a 1500-byte frame holds (a jumbo frame): the slow path judges it.
    if hdr[3] as u32 > MAX_ADDRS_V6 {
        return Ok(XDP_PASS);
    }
    count!(vrrp_rx);
    let key = VridKey {
        ifindex: ctx.ingress_ifindex() as u32,
        vrid: hdr[1] as u16,
        family: AF_INET6,
    };
    // SAFETY: whole-value reads; see handle_ipv4.
    let Some(cfg) = (unsafe { VRID_CONFIG.get(&key) }) else {
        count!(unknown_vrid);
        if tracing_on() {
            trace_advert(ctx, &key, trace_verdict::UNKNOWN_VRID, 0, hdr[2] as u32);
        }
        return Ok(XDP_PASS);
    };
    let stats = VRID_STATS.get_ptr_mut(&key);
    if let Some(s) = stats {
        // SAFETY: per-CPU value.
        unsafe { (*s).rx += 1 };
    }
    account(ctx, &key, cfg, stats, validate_v6(ctx, &key, cfg, &hdr));
    Ok(XDP_DROP)
}

/// The receive checks for VRRPv3 over IPv6, in the order of `validate` (IPv4) without its
/// IPv4 header checksum, as `vrrp_agent::rx::validate::validate_v6` documents them.
#[inline(always)]
fn validate_v6(
    ctx: &XdpContext,
    key: &VridKey,
    cfg: &VridConfig,
    hdr: &[u8; VRRP_HLEN],
) -> Result<(AdvertRecord, bool), DropReason> {
    let trunc = |()| DropReason::Truncated;
    let payload_len = read_be16(ctx, IP6_PLEN).map_err(trunc)? as usize;
    let hop_limit = read_u8(ctx, IP6_HOPS).map_err(trunc)?;
    let src = read_addr6(ctx, IP6_SRC).map_err(trunc)?;
    let dst = read_addr6(ctx, IP6_DST).map_err(trunc)?;
    let primary = map_addr6(&cfg.primary_v6);
    // 2. Destination.
    let unicast = cfg.flags & flags::UNICAST != 0;
    if unicast {
        if dst == GROUP_V6 {
            return Err(DropReason::MulticastToUnicast);
        }
        if dst != primary {
            return Err(DropReason::WrongDestination);
        }
    } else if dst != GROUP_V6 {
        if first_byte(dst) == 0xff {
            return Err(DropReason::WrongDestination);
        }
        return Err(DropReason::UnicastToMulticast);
    }
    // 3. Hop limit 255, multicast only.
    if !unicast && hop_limit != 255 {
        return Err(DropReason::Ttl);
    }
    // 4. Source.
    let src_bytes = bytes6(src);
    if is_martian_source_v6(src_bytes) {
        return Err(DropReason::MartianSource);
    }
    if src == primary {
        return Err(DropReason::SourceIsSelf);
    }
    let src_key = VridAddrKeyV6::new(*key, src_bytes);
    // SAFETY: presence test only.
    if unsafe { VRID_ADDRS_V6.get(&src_key) }.is_some() {
        return Err(DropReason::SourceIsVip);
    }
    // 5. The peer allow-list (see validate).
    if cfg.flags & flags::PEER_ALLOW_LIST != 0 {
        // SAFETY: presence test only.
        if unsafe { VRID_PEERS_V6.get(&src_key) }.is_none() {
            return Err(DropReason::UnknownPeer);
        }
    }
    // 6. Version (only 3 exists over IPv6), type.
    let ver_type = hdr[0];
    let version = (ver_type >> 4) as u32;
    if version != cfg.version || version != 3 {
        return Err(DropReason::Version);
    }
    if ver_type & 0x0f != 1 {
        return Err(DropReason::Type);
    }
    // 7. Address count and lengths.
    let priority = hdr[2];
    let count = hdr[3] as usize;
    if count == 0 {
        return Err(DropReason::AddrCountZero);
    }
    let needed = VRRP_HLEN + 16 * count;
    let vrrp_len = payload_len;
    if vrrp_len < needed || ctx.data() + L4_V6 + vrrp_len > ctx.data_end() {
        return Err(DropReason::Truncated);
    }
    if vrrp_len > needed {
        return Err(DropReason::Length);
    }
    // 8. A non-zero interval.
    let adver_int_cs = u16::from_be_bytes([hdr[4], hdr[5]]) as u32 & 0x0fff;
    if adver_int_cs == 0 {
        return Err(DropReason::BadInterval);
    }
    // 9. Checksum, always with the IPv6 pseudo-header (RFC 5798 §5.2.8).
    let sum = pseudo_sum_v6(src, dst, vrrp_len as u16, IPPROTO_VRRP)
        + packet_sum(ctx, L4_V6, vrrp_len / 4).ok_or(DropReason::Truncated)?;
    if fold(sum) != 0xffff {
        return Err(DropReason::Checksum);
    }
    // 10. The address list.
    if cfg.flags & flags::SKIP_CHECK_ADV_ADDR == 0 {
        if count as u32 != cfg.count_addrs {
            return Err(DropReason::AddrList);
        }
        addr_list_verdict(vrrp_addr_list_v6(ctx.ctx, key.ifindex, key.vrid as u32, count as u32))?;
    }
    // SAFETY: plain integer helper.
    let ts_ns = unsafe { bpf_ktime_get_ns() };
    Ok((
        AdvertRecord {
            ts_ns,
            src_v4: [0; 4],
            priority: priority as u32,
            adver_int_cs,
            version,
            count_addrs: count as u32,
            _pad: 0,
            seq: 0,
            src_v6: src_bytes,
        },
        true,
    ))
}

/// `check_addr_set` for IPv6: each address is one of our advertised ones, none twice.
#[inline(always)]
fn check_addr_set_v6(ctx: &XdpContext, key: &VridKey, count: usize) -> Result<(), DropReason> {
    let Some(seen) = SEEN.get_ptr_mut(0) else {
        return Err(DropReason::AddrList);
    };
    // SAFETY: per-CPU scratch value; volatile against a memset (see check_addr_set).
    unsafe {
        let w = &raw mut (*seen).words;
        for i in 0..4 {
            core::ptr::write_volatile(&raw mut (*w)[i], 0);
        }
    }
    for i in 0..MAX_ADDRS_V6 as usize {
        if i >= count {
            break;
        }
        let addr = read_addr6(ctx, L4_V6 + VRRP_HLEN + i * 16).map_err(|()| DropReason::Truncated)?;
        let k = VridAddrKeyV6::new(*key, bytes6(addr));
        // SAFETY: whole-value read of a map value.
        let Some(a) = (unsafe { VRID_ADDRS_V6.get(&k) }) else {
            return Err(DropReason::AddrList);
        };
        if a.kind != addr_kind::ADVERTISED {
            return Err(DropReason::AddrList);
        }
        let idx = (a.index & 0xff) as usize;
        let bit = 1u64 << (idx & 63);
        // SAFETY: idx >> 6 < 4: inside the scratch value.
        let w = unsafe { &mut (*seen).words[idx >> 6] };
        if *w & bit != 0 {
            return Err(DropReason::AddrList);
        }
        *w |= bit;
    }
    Ok(())
}

// ICMPv6 neighbour discovery (RFC 4861), offsets from the start of the ICMPv6 message.
const ICMPV6_NS: u8 = 135;
const ICMPV6_NA: u8 = 136;
/// Type, code, checksum, reserved (NS) or flags (NA), target.
const ND_HLEN: usize = 24;
const ND_TARGET: usize = 8;
const ND_OPT_SLLA: u8 = 1;
const ND_OPT_TLLA: u8 = 2;
/// Longest solicitation judged here (header and up to 13 options of 8 bytes: a real one
/// carries one or two); a longer one is passed to the stack, which answers it.
const MAX_NS_LEN: usize = 128;
/// The advertisement we send: header + a target link-layer address option.
const NA_LEN: usize = ND_HLEN + 8;
/// NA flags (RFC 4861 §4.4): Router (a VRRP master is one, RFC 5798 §6.4.3), Solicited,
/// Override.
const NA_ROUTER: u8 = 0x80;
const NA_SOLICITED: u8 = 0x40;
const NA_OVERRIDE: u8 = 0x20;

/// `vrrp_ns_options` answers: bits of the returned word; with `NS_OPTS_SLLA`, the low 48 bits
/// are the source link-layer address (`mac_hi` in bits 0..32, `mac_lo` in 32..48, wire order).
const NS_OPTS_SLLA: u64 = 1 << 48;
/// An option of length 0, or one running past the message: the solicitation is invalid.
const NS_OPTS_INVALID: u64 = 1 << 62;
/// The options could not be read (not in the packet): passed, as any parse failure.
const NS_OPTS_UNREADABLE: u64 = 1 << 63;

/// The options of the solicitation at `L4_V6`, `len` bytes in all (checked to be in the
/// packet): valid lengths, and the source link-layer address (the first one given). A global
/// BPF function, verified once: inlined, each option layout was a state of its own, and the
/// verifier walked the rest of the NS handler once per layout (half the program's
/// verification when the offset of the option was kept for later).
#[unsafe(no_mangle)]
#[inline(never)]
pub extern "C" fn vrrp_ns_options(ctx: *mut xdp_md, len: u32) -> u64 {
    let ctx = XdpContext::new(ctx);
    let len = len as usize;
    if len > MAX_NS_LEN {
        return NS_OPTS_UNREADABLE;
    }
    let mut off = ND_HLEN;
    let mut found = 0u64;
    for _ in 0..(MAX_NS_LEN - ND_HLEN) / 8 {
        if off >= len {
            break;
        }
        // Every option is at least 8 bytes (a length of 0 is refused below).
        let Ok(o) = load_bytes::<8>(&ctx, L4_V6 + off) else { return NS_OPTS_UNREADABLE };
        let opt_len = o[1] as usize * 8;
        if opt_len == 0 || off + opt_len > len {
            return NS_OPTS_INVALID;
        }
        // The first one counts, as in Linux (`ndisc_parse_options` ignores repeats).
        if o[0] == ND_OPT_SLLA && opt_len == 8 && found == 0 {
            found = NS_OPTS_SLLA
                | u32::from_ne_bytes([o[2], o[3], o[4], o[5]]) as u64
                | (u16::from_ne_bytes([o[6], o[7]]) as u64) << 32;
        }
        off += opt_len;
    }
    found
}

/// `handle_ns` with its trace report, a call of its own like `handle_arp_traced`.
#[inline(never)]
fn handle_ns_traced(ctx: &XdpContext) -> Result<u32, ()> {
    // Tracing: the addresses are read before the handler may turn the solicitation
    // into an advertisement in place. Off (the default), one array lookup.
    let before = if tracing_on() { Some(packet_addrs(ctx, AF_INET6)) } else { None };
    let action = handle_ns(ctx);
    if let Some((src, dst)) = before {
        let act = *action.as_ref().unwrap_or(&XDP_PASS);
        let verdict = if act == XDP_TX { trace_verdict::REPLIED } else { trace_verdict::NOT_REPLIED };
        report_family(ctx.ingress_ifindex() as u32, trace_kind::ND, verdict, 0, act, 0, ICMPV6_NS as u32, AF_INET6, src, dst);
    }
    action
}

/// Neighbour solicitations: answers one for an owned IPv6 VIP in place, as Linux's
/// `ndisc_recv_ns` answers for its own addresses: check (an NS whose target is a VIP we own
/// here), validate (RFC 4861 §7.1.1), prepare and respond (XDP_TX). The decision to answer is
/// taken only here, like ARP's in `handle_arp`.
///
/// Not answered: an NS that fails §7.1.1 (dropped, `ns_drop_invalid`; the stack would
/// discard it too), one from a multicast IPv6 source or a group Ethernet source MAC (dropped,
/// `ns_drop_group_src`), one unicast to another host's MAC (passed, `ns_other_host_dst`), one
/// whose destination is neither the VIP nor its solicited-node group (passed), and anything
/// not fully understood (passed: the stack answers for the VIP, which is on the interface).
/// A duplicate address detection probe (source ::) is answered to ff02::1 with the Solicited
/// flag clear (§7.2.4).
// A BPF-to-BPF call of its own: its stack frame is not added to the other handlers'.
#[inline(never)]
fn handle_ns(ctx: &XdpContext) -> Result<u32, ()> {
    // Check: an NS whose target we own on this interface.
    if read_u8(ctx, L4_V6)? != ICMPV6_NS {
        return Ok(XDP_PASS);
    }
    count!(ns_requests);
    let target = read_addr6(ctx, L4_V6 + ND_TARGET)?;
    let ifindex = ctx.ingress_ifindex() as u32;
    let vip_key = VipKeyV6 { ifindex, addr_v6: bytes6(target) };
    // SAFETY: whole-value reads.
    let owned = unsafe { OWNED_VIPS_V6.get(&vip_key) };
    // Fenced: the agent is dead or hung; neither we nor the kernel may answer for a VIP it
    // owns or was adding or removing (see handle_arp).
    if ns_fenced(&vip_key, owned.is_some()) {
        count!(arp_fenced);
        return Ok(XDP_DROP);
    }
    let Some(vip) = owned else {
        return Ok(XDP_PASS);
    };
    let mac_hi = vip.mac_hi;
    let mac_lo = vip.mac_lo;
    let vrid = vip.vrid;

    // Validate.
    let src = read_addr6(ctx, IP6_SRC)?;
    let dst = read_addr6(ctx, IP6_DST)?;
    if first_byte(src) == 0xff || read_u8(ctx, 6)? & 1 != 0 {
        count!(ns_drop_group_src);
        return Ok(XDP_DROP);
    }
    let eth_dst_hi = read_raw32(ctx, 0)?;
    let eth_dst_lo = read_raw16(ctx, 4)?;
    if eth_dst_hi.to_ne_bytes()[0] & 1 == 0 && (eth_dst_hi != mac_hi || eth_dst_lo != mac_lo) {
        count!(ns_other_host_dst);
        return Ok(XDP_PASS);
    }
    let dad = src == [0, 0];
    // The solicited-node group of the target: ff02::1:ffXX:XXXX (RFC 4291 §2.7.1): the
    // target's last 24 bits after ff02:0:0:0:0:1:ff.
    let t = target[1].to_ne_bytes();
    let snm = [
        ALL_NODES[0],
        u64::from_ne_bytes([0, 0, 0, 1, 0xff, t[5], t[6], t[7]]),
    ];
    let to_snm = dst == snm;
    if !to_snm && dst != target {
        if dad {
            count!(ns_drop_invalid);
            return Ok(XDP_DROP);
        }
        return Ok(XDP_PASS);
    }
    let len = read_be16(ctx, IP6_PLEN)? as usize;
    if len > MAX_NS_LEN {
        return Ok(XDP_PASS);
    }
    if read_u8(ctx, IP6_HOPS)? != 255
        || read_u8(ctx, L4_V6 + 1)? != 0
        || len < ND_HLEN
        || !len.is_multiple_of(8)
        || ctx.data() + L4_V6 + len > ctx.data_end()
    {
        count!(ns_drop_invalid);
        return Ok(XDP_DROP);
    }
    // ICMPv6 checksum over the pseudo-header and the message (whole words: len % 8 == 0).
    let sum = pseudo_sum_v6(src, dst, len as u16, IPPROTO_ICMPV6) + packet_sum(ctx, L4_V6, len / 4).ok_or(())?;
    if fold(sum) != 0xffff {
        count!(ns_drop_invalid);
        return Ok(XDP_DROP);
    }
    // Options: none of length 0, and the source link-layer address (the first one given).
    let opts = vrrp_ns_options(ctx.ctx, len as u32);
    if opts & NS_OPTS_UNREADABLE != 0 {
        return Err(());
    }
    if opts & NS_OPTS_INVALID != 0 {
        count!(ns_drop_invalid);
        return Ok(XDP_DROP);
    }
    let slla = (opts & NS_OPTS_SLLA != 0).then_some((opts as u32, (opts >> 32) as u16));
    if dad && (slla.is_some() || !to_snm) {
        count!(ns_drop_invalid);
        return Ok(XDP_DROP);
    }
    // Where the answer goes: all nodes for a DAD probe, else the solicitor, at the MAC its
    // source link-layer address option gives, or the frame's source MAC.
    let (to_hi, to_lo) = if dad {
        (u32::from_ne_bytes([0x33, 0x33, 0, 0]), u16::from_ne_bytes([0, 1]))
    } else if let Some(mac) = slla {
        mac
    } else {
        (read_raw32(ctx, 6)?, read_raw16(ctx, 10)?)
    };
    if !dad && to_hi.to_ne_bytes()[0] & 1 != 0 {
        count!(ns_drop_group_src);
        return Ok(XDP_DROP);
    }
    let to = if dad { ALL_NODES } else { src };
    let na_flags = if dad { NA_ROUTER | NA_OVERRIDE } else { NA_ROUTER | NA_SOLICITED | NA_OVERRIDE };

    // Prepare: the frame becomes exactly Ethernet + IPv6 + NA + target link-layer option.
    let want = L4_V6 + NA_LEN;
    let have = ctx.data_end() - ctx.data();
    if have != want {
        // SAFETY: the helper only moves data_end; every pointer is re-derived from ctx below.
        let rc = unsafe { aya_ebpf::helpers::bpf_xdp_adjust_tail(ctx.ctx, want as i32 - have as i32) };
        if rc != 0 {
            // No room to grow: the stack answers (the VIP is on the interface).
            return Ok(XDP_PASS);
        }
    }
    let m = mac_hi.to_ne_bytes();
    let n = mac_lo.to_ne_bytes();
    let w_type = u32::from_ne_bytes([ICMPV6_NA, 0, 0, 0]);
    let w_flags = u32::from_ne_bytes([na_flags, 0, 0, 0]);
    let w_opt0 = u32::from_ne_bytes([ND_OPT_TLLA, 1, m[0], m[1]]);
    let w_opt1 = u32::from_ne_bytes([m[2], m[3], n[0], n[1]]);
    let csum = !fold(
        pseudo_sum_v6(target, to, NA_LEN as u16, IPPROTO_ICMPV6)
            + w_type as u64
            + w_flags as u64
            + sum6(target)
            + w_opt0 as u64
            + w_opt1 as u64,
    );
    // Respond.
    write_raw32(ctx, 0, to_hi)?;
    write_raw16(ctx, 4, to_lo)?;
    write_raw32(ctx, 6, mac_hi)?;
    write_raw16(ctx, 10, mac_lo)?;
    write_raw32(ctx, ETH_HLEN, u32::from_ne_bytes([0x60, 0, 0, 0]))?;
    write_raw16(ctx, IP6_PLEN, (NA_LEN as u16).to_be())?;
    write_raw16(ctx, IP6_NEXT, u16::from_ne_bytes([IPPROTO_ICMPV6, 255]))?;
    write_addr6(ctx, IP6_SRC, target)?;
    write_addr6(ctx, IP6_DST, to)?;
    write_raw32(ctx, L4_V6, w_type)?;
    write_raw16(ctx, L4_V6 + 2, csum)?;
    write_raw32(ctx, L4_V6 + 4, w_flags)?;
    write_addr6(ctx, L4_V6 + ND_TARGET, target)?;
    write_raw32(ctx, L4_V6 + ND_HLEN, w_opt0)?;
    write_raw32(ctx, L4_V6 + ND_HLEN + 4, w_opt1)?;
    count!(ns_replies);
    if dad {
        count!(ns_dad_replies);
    }
    let key = VridKey { ifindex, vrid, family: AF_INET6 };
    if let Some(s) = VRID_STATS.get_ptr_mut(&key) {
        // SAFETY: per-CPU value.
        unsafe { (*s).na_replies += 1 };
    }
    trace!(ctx, "ndisc: advertised an owned vip, vrid {}", vrid);
    Ok(XDP_TX)
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";
