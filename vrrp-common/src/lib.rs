//! Types shared by the XDP program (`vrrp-ebpf`) and the agent through BPF maps.
//!
//! Every type here is `#[repr(C)]`, `Copy`, and has no implicit padding: padding is spelled
//! out as `_pad` fields so the kernel, the agent and `bpftool map dump` (which prints these
//! structs with their field names thanks to BTF) all agree on every byte. Booleans are `u32`
//! flags. With the `user` feature the types implement `bytemuck::Pod` and `aya::Pod`.
#![no_std]

/// Names of the maps and the program, used by both sides (and by operators with bpftool).
pub mod names {
    /// The XDP program.
    pub const PROGRAM: &str = "vrrp_xdp";
    /// A pass-through XDP program (veth peers need one for XDP_TX in native mode).
    pub const PASS_PROGRAM: &str = "vrrp_xdp_pass";
    /// `VridKey` → `VridConfig`, written by the agent.
    pub const VRID_CONFIG: &str = "VRID_CONFIG";
    /// `VridKey` → `AdvertRecord`, the last accepted advert, written by XDP.
    pub const ADVERT_RECORD: &str = "ADVERT_RECORD";
    /// `VridKey` → `VridStats` (per CPU), written by XDP.
    pub const VRID_STATS: &str = "VRID_STATS";
    /// index 0 → `GlobalStats` (per CPU), written by XDP.
    pub const GLOBAL_STATS: &str = "GLOBAL_STATS";
    /// `VipKey` → `VipValue`: the VIPs this host owns now (ARP is answered for them).
    pub const OWNED_VIPS: &str = "OWNED_VIPS";
    /// Ring buffer of `AdvertEvent`s: only adverts that can change a decision.
    pub const EVENTS: &str = "ADVERT_EVENTS";
    /// `VridKey` → `InstanceStatus`, written by the agent for `vrrp-agent status`.
    pub const INSTANCE_STATUS: &str = "INSTANCE_STATUS";
    /// Ring buffer of `VipConflictEvent`s: another host announced one of our VIPs.
    pub const VIP_CONFLICTS: &str = "VIP_CONFLICTS";
}

pub const MAX_VRIDS: u32 = 1024;
pub const MAX_VIPS: u32 = 4096;
/// The XDP program checksums at most this many addresses (RFC allows 255; keepalived
/// rejects configs with more than a few dozen). Longer adverts are dropped as `too_many_addrs`.
pub const MAX_ADDRS_V4: u32 = 64;
pub const EVENTS_BYTES: u32 = 64 * 1024;
/// Size of the `VIP_CONFLICTS` ring buffer (128 events; XDP sends at most one per VIP per
/// `VIP_CONFLICT_EVENT_GAP_NS`, the rest are only counted).
pub const VIP_CONFLICT_BYTES: u32 = 4096;
/// Minimum gap between two `VipConflictEvent`s for the same VIP, so a flood of forged ARP
/// costs the agent at most a few wake-ups per second (the agent logs once per second).
pub const VIP_CONFLICT_EVENT_GAP_NS: u64 = 100_000_000;

pub const AF_INET: u16 = 2;
pub const AF_INET6: u16 = 10;

/// Key of every per-VRID map: one VRRP instance is (interface, VRID, address family).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct VridKey {
    pub ifindex: u32,
    pub vrid: u16,
    /// `AF_INET` or `AF_INET6`.
    pub family: u16,
}

/// Instance state as the XDP program sees it (`VridConfig::state`).
pub mod state {
    pub const INIT: u32 = 0;
    pub const BACKUP: u32 = 1;
    pub const MASTER: u32 = 2;
    pub const FAULT: u32 = 3;
}

/// `VridConfig::flags`
pub mod flags {
    /// We are the address owner (priority 255): adverts for this VRID are dropped (§7.1).
    pub const OWNER: u32 = 1;
    /// Check the v2 PASS authentication string.
    pub const AUTH_PASS: u32 = 2;
}

/// What the XDP program needs to validate an advert for one configured instance.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct VridConfig {
    /// 2 or 3.
    pub version: u32,
    /// v2: expected auth type (0 none, 1 PASS, 2 AH).
    pub auth_type: u32,
    /// v2: the advert interval, centiseconds (adverts must match it exactly).
    pub adver_int_cs: u32,
    /// `state::*`, updated by the agent on every transition.
    pub state: u32,
    /// `flags::*`.
    pub flags: u32,
    /// Our effective priority (for status and debugging).
    pub priority: u32,
    /// v2 PASS string, bytes 0..4 and 4..8 as they appear on the wire.
    pub auth_pass_lo: u32,
    pub auth_pass_hi: u32,
}

impl VridConfig {
    /// VRRPv2 PASS authentication: auth type 1, and the 8-byte string XDP compares with the
    /// advert's auth data, split into the two map words in wire order.
    pub const fn with_pass(mut self, pass: [u8; 8]) -> Self {
        self.auth_type = 1;
        self.flags |= flags::AUTH_PASS;
        self.auth_pass_lo = u32::from_ne_bytes([pass[0], pass[1], pass[2], pass[3]]);
        self.auth_pass_hi = u32::from_ne_bytes([pass[4], pass[5], pass[6], pass[7]]);
        self
    }

    /// No authentication (VRRPv3, or VRRPv2 without it).
    pub const fn without_auth(mut self) -> Self {
        self.auth_type = 0;
        self.flags &= !flags::AUTH_PASS;
        self.auth_pass_lo = 0;
        self.auth_pass_hi = 0;
        self
    }
}

/// The last accepted advert for an instance.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct AdvertRecord {
    /// Kernel receive time, `bpf_ktime_get_ns` (CLOCK_MONOTONIC).
    pub ts_ns: u64,
    /// Source IPv4 address, bytes in wire order (bpftool prints them as four numbers).
    pub src_v4: [u8; 4],
    pub priority: u32,
    /// v3: max advert interval (cs); v2: interval seconds * 100.
    pub adver_int_cs: u32,
    pub version: u32,
    pub count_addrs: u32,
    /// How many adverts were accepted in total (lets the agent see it missed none).
    pub seq: u32,
}

/// Why an `AdvertEvent` was sent to userspace.
pub mod event_reason {
    pub const FIRST: u32 = 1;
    pub const PRIORITY_ZERO: u32 = 2;
    pub const NEW_SOURCE: u32 = 4;
    pub const PRIORITY_CHANGED: u32 = 8;
    pub const INTERVAL_CHANGED: u32 = 16;
    /// We are not Backup (Master, or just starting): every advert matters.
    pub const NOT_BACKUP: u32 = 32;
}

/// Sent through the ring buffer for adverts that can change a decision.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct AdvertEvent {
    pub key: VridKey,
    /// `event_reason::*` bits.
    pub reasons: u32,
    pub _pad: u32,
    pub record: AdvertRecord,
}

/// Per-VRID counters (a per-CPU hash: no atomics on the fast path; the agent sums CPUs).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct VridStats {
    /// Adverts seen for this VRID (valid or not).
    pub rx: u64,
    pub accepted: u64,
    /// v3 over IPv4: accepted with the pseudo-header checksum (keepalived/FRR default).
    pub v3_csum_pseudo: u64,
    /// v3 over IPv4: accepted with the plain checksum (RFC 9568, most vendors).
    pub v3_csum_plain: u64,
    /// Adverts that woke the agent.
    pub events: u64,
    /// Adverts dropped for any reason (the reasons are in `GlobalStats`).
    pub dropped: u64,
    pub arp_replies: u64,
    /// ARP frames from another MAC claiming one of this instance's VIPs (passed to the stack).
    pub vip_conflict: u64,
}

/// Global counters: one per drop reason, plus ARP and pass-through counts.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct GlobalStats {
    pub vrrp_rx: u64,
    pub vrrp_accepted: u64,
    pub drop_ttl: u64,
    pub drop_version: u64,
    pub drop_type: u64,
    pub drop_truncated: u64,
    pub drop_checksum: u64,
    /// A VRID not configured on this interface: counted and passed to the stack.
    pub unknown_vrid: u64,
    pub drop_owner: u64,
    pub drop_auth_type: u64,
    pub drop_auth_pass: u64,
    pub drop_interval: u64,
    pub drop_too_many_addrs: u64,
    pub drop_bad_interval: u64,
    pub events_lost: u64,
    pub arp_requests: u64,
    pub arp_replies: u64,
    /// ARP requests for an owned VIP not answered (dropped): sender IP in 224.0.0.0/4.
    pub arp_drop_sender_multicast: u64,
    /// ... sender IP 255.255.255.255.
    pub arp_drop_sender_broadcast: u64,
    /// ... sender IP in 127.0.0.0/8.
    pub arp_drop_sender_loopback: u64,
    /// ... Ethernet source or ARP sender MAC is broadcast/multicast (group bit set).
    pub arp_drop_group_src_mac: u64,
    /// ARP requests for an owned VIP sent unicast to another host's MAC: not answered,
    /// passed (the stack drops them as PACKET_OTHERHOST; a bridge above may forward them).
    pub arp_other_host_dst: u64,
    /// ARP probes (sender 0.0.0.0, RFC 5227) for an owned VIP, answered as Linux does.
    pub arp_probe_replies: u64,
    /// ARP frames from another MAC claiming one of our VIPs (counted, passed, and reported
    /// to the agent through `VIP_CONFLICTS`).
    pub vip_conflict: u64,
    /// `VipConflictEvent`s that did not fit the ring buffer.
    pub vip_conflict_events_lost: u64,
}

/// Key of `OWNED_VIPS`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct VipKey {
    pub ifindex: u32,
    /// IPv4 address, bytes in wire order.
    pub addr_v4: [u8; 4],
}

/// Value of `OWNED_VIPS`: what to answer ARP with.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct VipValue {
    /// MAC bytes 0..4 and 4..6 (wire order), split so the XDP side writes no byte arrays.
    pub mac_hi: u32,
    pub mac_lo: u16,
    pub vrid: u16,
}

impl VipValue {
    pub const fn new(mac: [u8; 6], vrid: u8) -> Self {
        VipValue {
            mac_hi: u32::from_ne_bytes([mac[0], mac[1], mac[2], mac[3]]),
            mac_lo: u16::from_ne_bytes([mac[4], mac[5]]),
            vrid: vrid as u16,
        }
    }
    pub const fn mac(&self) -> [u8; 6] {
        let a = self.mac_hi.to_ne_bytes();
        let b = self.mac_lo.to_ne_bytes();
        [a[0], a[1], a[2], a[3], b[0], b[1]]
    }
}

/// Another host announced one of our VIPs: a gratuitous ARP, an ARP reply or a request whose
/// sender IP is a VIP we own on that interface, from a MAC that is not ours.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct VipConflictEvent {
    /// Interface and VIP.
    pub vip: VipKey,
    /// Kernel receive time, `bpf_ktime_get_ns`.
    pub ts_ns: u64,
    /// The offender's ARP sender MAC, bytes 0..4 and 4..6 in wire order (as `VipValue`).
    pub mac_hi: u32,
    pub mac_lo: u16,
    /// The VRID owning the VIP.
    pub vrid: u16,
    /// ARP operation: 1 request, 2 reply.
    pub op: u32,
    pub _pad: u32,
}

impl VipConflictEvent {
    pub const fn mac(&self) -> [u8; 6] {
        let a = self.mac_hi.to_ne_bytes();
        let b = self.mac_lo.to_ne_bytes();
        [a[0], a[1], a[2], a[3], b[0], b[1]]
    }
}

/// Written by the agent for `vrrp-agent status` and for on-call engineers with bpftool.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct InstanceStatus {
    /// `state::*`.
    pub state: u32,
    pub priority: u32,
    pub base_priority: u32,
    pub adver_int_cs: u32,
    pub master_down_interval_cs: u32,
    /// Current master's address (wire order), ours when Master, 0.0.0.0 if unknown.
    pub master_v4: [u8; 4],
    /// Agent pid.
    pub pid: u32,
    /// Transitions so far.
    pub transitions: u32,
    /// CLOCK_MONOTONIC ns of the last transition.
    pub last_transition_ns: u64,
    /// The instance name, NUL padded (read with `InstanceStatus::name`).
    pub name: [u8; 32],
    /// The interface name, NUL padded: `status` may run in another network namespace, where
    /// the ifindex means nothing.
    pub ifname: [u8; 16],
}

impl InstanceStatus {
    pub fn name(&self) -> &str {
        c_str(&self.name)
    }
    pub fn set_name(&mut self, name: &str) {
        set_c_str(&mut self.name, name);
    }
    pub fn ifname(&self) -> &str {
        c_str(&self.ifname)
    }
    pub fn set_ifname(&mut self, name: &str) {
        set_c_str(&mut self.ifname, name);
    }
}

fn c_str(bytes: &[u8]) -> &str {
    let end = bytes.iter().position(|b| *b == 0).unwrap_or(bytes.len());
    core::str::from_utf8(&bytes[..end]).unwrap_or("?")
}

/// Copies `s` NUL padded, truncated on a character boundary to leave a final NUL.
fn set_c_str(dst: &mut [u8], s: &str) {
    dst.fill(0);
    let mut n = s.len().min(dst.len().saturating_sub(1));
    while !s.is_char_boundary(n) {
        n -= 1;
    }
    dst[..n].copy_from_slice(&s.as_bytes()[..n]);
}

#[cfg(feature = "user")]
mod user {
    use super::*;
    macro_rules! pod {
        ($($t:ty),*) => {$(
            // SAFETY: repr(C), Copy, every field is an integer or integer array, no padding
            // (checked by the size assertions below).
            unsafe impl bytemuck::Zeroable for $t {}
            unsafe impl bytemuck::Pod for $t {}
            unsafe impl aya::Pod for $t {}
        )*};
    }
    pod!(VridKey, VridConfig, AdvertRecord, AdvertEvent, VridStats, GlobalStats, VipKey, VipValue, InstanceStatus, VipConflictEvent);
}

// No implicit padding anywhere: the sizes are the sums of the field sizes.
const _: () = assert!(core::mem::size_of::<VridKey>() == 8);
const _: () = assert!(core::mem::size_of::<VridConfig>() == 32);
const _: () = assert!(core::mem::size_of::<AdvertRecord>() == 8 + 6 * 4);
const _: () = assert!(core::mem::size_of::<AdvertEvent>() == 16 + core::mem::size_of::<AdvertRecord>());
const _: () = assert!(core::mem::size_of::<VridStats>() == 8 * 8);
const _: () = assert!(core::mem::size_of::<GlobalStats>() == 25 * 8);
const _: () = assert!(core::mem::size_of::<VipKey>() == 8);
const _: () = assert!(core::mem::size_of::<VipValue>() == 8);
const _: () = assert!(core::mem::size_of::<VipConflictEvent>() == 32);
const _: () = assert!(core::mem::size_of::<InstanceStatus>() == 8 * 4 + 8 + 32 + 16);
