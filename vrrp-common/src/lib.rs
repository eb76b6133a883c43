//! Types shared by the XDP program (`vrrp-ebpf`) and the agent through BPF maps.
//!
//! Every type here is `#[repr(C)]`, `Copy`, and has no implicit padding: padding is spelled
//! out as `_pad` fields so the kernel, the agent and `bpftool map dump` (which prints these
//! structs with their field names thanks to BTF) all agree on every byte. Booleans are `u32`
//! flags. With the `user` feature the types implement `bytemuck::Pod` and `aya::Pod`.
#![no_std]

pub mod timers;

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
    /// `VridAddrKey` → `VridAddr`: each instance's own addresses (advertised and excluded
    /// VIPs), for the address-list check and the "source is one of our VIPs" check.
    pub const VRID_ADDRS: &str = "VRID_ADDRS";
    /// `VridAddrKey` → `VridPeer`: each instance's peer allow-list (`allowed_peer`, and the
    /// `unicast_peer`s with `vrrp_check_unicast_src`), checked when `flags::PEER_ALLOW_LIST`
    /// is set.
    pub const VRID_PEERS: &str = "VRID_PEERS";
    /// `VridKey` → `AddrList`: our advertised addresses in advert order, so an advert that
    /// lists them as we do is checked without a lookup per address.
    pub const VRID_ADDR_LIST: &str = "VRID_ADDR_LIST";
    /// Ring buffer of `VipConflictEvent`s: another host announced one of our VIPs.
    pub const VIP_CONFLICTS: &str = "VIP_CONFLICTS";
    /// `TrackerKey` → `TrackerStatus`: every tracked object's state and counters, written by
    /// the agent for `vrrp-agent status` (declared in the XDP object only for its BTF).
    pub const TRACKER_STATUS: &str = "TRACKER_STATUS";
    /// `VridKey` → `InstancePriority`: why an instance's effective priority is what it is
    /// (base, trackers' contributions, tracker faults), written by the agent.
    pub const INSTANCE_PRIORITY: &str = "INSTANCE_PRIORITY";
    /// Tracepoint program on `sched/sched_process_exec` (`vrrp_track_process`).
    pub const PROC_EXEC_PROGRAM: &str = "vrrp_proc_exec";
    /// Tracepoint program on `sched/sched_process_exit`: thread-group leaders only.
    pub const PROC_EXIT_PROGRAM: &str = "vrrp_proc_exit";
    /// Tracepoint program on `task/task_newtask`: new processes (not threads).
    pub const PROC_FORK_PROGRAM: &str = "vrrp_proc_fork";
    /// Tracepoint program on `task/task_rename`: a process leader's comm changed.
    pub const PROC_COMM_PROGRAM: &str = "vrrp_proc_comm";
    /// Ring buffer of `ProcEvent`s.
    pub const PROC_EVENTS: &str = "PROC_EVENTS";
    /// index 0 → u64 (per CPU): `ProcEvent`s that did not fit `PROC_EVENTS`.
    pub const PROC_EVENTS_LOST: &str = "PROC_EVENTS_LOST";
    /// index 0 → `AgentLease`: the agent's liveness lease, which fences the datapath.
    pub const AGENT_LEASE: &str = "AGENT_LEASE";
    /// `VridKey` → `InstanceStats`: what the agent did for each instance (adverts and
    /// gratuitous ARPs sent, mastership gained and released), written by the agent.
    pub const INSTANCE_STATS: &str = "INSTANCE_STATS";
    /// `VridKey` → `VridDrops` (per CPU): each instance's dropped adverts by `DropReason`,
    /// written by XDP.
    pub const VRID_DROPS: &str = "VRID_DROPS";
    /// index 0 → u32: 1 while `vrrp-agent trace on` asks the XDP program to report every
    /// VRRP and ARP/ND packet it handles (`TRACE_EVENTS`), 0 otherwise.
    pub const TRACE_CONTROL: &str = "TRACE_CONTROL";
    /// Ring buffer of `TraceEvent`s, drained and logged by the agent.
    pub const TRACE_EVENTS: &str = "TRACE_EVENTS";
    /// Prefix of the pinned XDP links, one per interface (`XDP_LINK_<ifname>`): pinned so
    /// the program (and the lease's fence) outlives the agent; a restarted agent adopts them.
    pub const XDP_LINK_PREFIX: &str = "XDP_LINK_";
    /// `VipKey` → `VipValue`: every VIP configured on this host (owned or not), where the
    /// fence drops ARP requests while the agent's lease is stale (a VIP the agent was adding
    /// or removing when it died may be on the interface without being in `OWNED_VIPS`).
    pub const FENCED_VIPS: &str = "FENCED_VIPS";
    /// `VridAddrKeyV6` → `VridAddr`: `VRID_ADDRS` for IPv6 instances.
    pub const VRID_ADDRS_V6: &str = "VRID_ADDRS_V6";
    /// `VridAddrKeyV6` → `VridPeer`: `VRID_PEERS` for IPv6 instances.
    pub const VRID_PEERS_V6: &str = "VRID_PEERS_V6";
    /// `VridKey` → `AddrListV6`: `VRID_ADDR_LIST` for IPv6 instances.
    pub const VRID_ADDR_LIST_V6: &str = "VRID_ADDR_LIST_V6";
    /// `VipKeyV6` → `VipValue`: the IPv6 VIPs this host owns now (neighbour solicitations
    /// for them are answered).
    pub const OWNED_VIPS_V6: &str = "OWNED_VIPS_V6";
    /// `VipKeyV6` → `VipValue`: `FENCED_VIPS` for IPv6 VIPs: neighbour solicitations for them
    /// are dropped while the agent's lease is stale, owned or not.
    pub const FENCED_VIPS_V6: &str = "FENCED_VIPS_V6";
}

pub const MAX_VRIDS: u32 = 1024;
pub const MAX_VIPS: u32 = 4096;
/// Most addresses an advert can carry (the count is 8 bits): the XDP program validates all.
pub const MAX_ADDRS_V4: u32 = 255;
/// Entries of `VRID_ADDRS` and `VRID_PEERS` (all instances together).
pub const MAX_VRID_ADDRS: u32 = 8192;
/// Most addresses an IPv6 advert judged in XDP can carry: what fits a 1500-byte MTU
/// ((1500 - 40 - 8) / 16). An advert naming more (only on a jumbo-frame link) is passed to the
/// stack and judged by the agent's slow path, which has no such limit.
pub const MAX_ADDRS_V6: u32 = 90;
/// The VRRP IPv4 multicast group, 224.0.0.18, bytes in wire order.
pub const VRRP_GROUP_V4: [u8; 4] = [224, 0, 0, 18];
/// The VRRP IPv6 multicast group, ff02::12, bytes in wire order.
pub const VRRP_GROUP_V6: [u8; 16] = [0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x12];
pub const EVENTS_BYTES: u32 = 64 * 1024;
/// Size of the `VIP_CONFLICTS` ring buffer (85 events; XDP sends at most one per VIP per
/// `VIP_CONFLICT_EVENT_GAP_NS`, the rest are only counted).
pub const VIP_CONFLICT_BYTES: u32 = 4096;
/// Minimum gap between two `VipConflictEvent`s for the same VIP, so a flood of forged ARP
/// (or neighbour advertisements) costs the agent at most a few wake-ups per second (the agent logs once per second).
pub const VIP_CONFLICT_EVENT_GAP_NS: u64 = 100_000_000;

/// Entries of `TRACKER_STATUS` (scripts, files, processes and interfaces together).
pub const MAX_TRACKERS: u32 = 1024;
/// Bytes of a tracker name in `TrackerKey` (see `TrackerKey::new` for longer names).
pub const TRACKER_NAME_LEN: usize = 64;
/// Reasons `InstancePriority` holds (faults first, then holds, then weights).
pub const MAX_PRIORITY_REASONS: usize = 8;

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
    /// A unicast instance (`unicast_peer`s configured): adverts must be addressed to
    /// `VridConfig::primary_v4` (IPv6: `primary_v6`), not to 224.0.0.18 (ff02::12), and need
    /// not have TTL (hop limit) 255.
    pub const UNICAST: u32 = 4;
    /// The peer allow-list is on: adverts are accepted only from a source in the instance's
    /// `VRID_PEERS` (`VRID_PEERS_V6`), multicast or unicast instance alike. The agent sets it
    /// for an `allowed_peer` block, and for `vrrp_check_unicast_src` on a unicast instance
    /// (the `unicast_peer`s are then in the list too).
    pub const PEER_ALLOW_LIST: u32 = 8;
    /// `vrrp_skip_check_adv_addr`: do not compare the advert's address list with ours.
    pub const SKIP_CHECK_ADV_ADDR: u32 = 16;
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
    /// Our primary address (`unicast_src_ip`), wire order: adverts from it are ours
    /// (dropped as `drop_src_is_self`); a unicast instance's adverts must be sent to it.
    pub primary_v4: [u8; 4],
    /// How many addresses our adverts carry (the `VRID_ADDRS` entries of kind ADVERTISED).
    pub count_addrs: u32,
    /// IPv6 instances (`VridKey::family` `AF_INET6`): our source address (the interface's
    /// link-local address, or `unicast_src_ip`), wire order; what `primary_v4` is for IPv4.
    pub primary_v6: [u8; 16],
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

/// Key of `VRID_ADDRS` and `VRID_PEERS`: an address of one instance.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct VridAddrKey {
    pub ifindex: u32,
    pub vrid: u16,
    pub family: u16,
    /// IPv4 address, bytes in wire order.
    pub addr_v4: [u8; 4],
}

impl VridAddrKey {
    pub const fn new(key: VridKey, addr_v4: [u8; 4]) -> Self {
        VridAddrKey { ifindex: key.ifindex, vrid: key.vrid, family: key.family, addr_v4 }
    }
}

/// Key of `VRID_ADDRS_V6` and `VRID_PEERS_V6`: an IPv6 address of one instance. IPv6 has
/// maps of its own rather than a 16-byte field in the IPv4 keys: IPv4 keys stay 12 bytes,
/// and `bpftool map dump` shows each family's addresses in a field named for it.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct VridAddrKeyV6 {
    pub ifindex: u32,
    pub vrid: u16,
    pub family: u16,
    /// IPv6 address, bytes in wire order.
    pub addr_v6: [u8; 16],
}

impl VridAddrKeyV6 {
    pub const fn new(key: VridKey, addr_v6: [u8; 16]) -> Self {
        VridAddrKeyV6 { ifindex: key.ifindex, vrid: key.vrid, family: key.family, addr_v6 }
    }
}

/// `VridAddr::kind`
pub mod addr_kind {
    /// In `virtual_ipaddress`: carried in our adverts.
    pub const ADVERTISED: u32 = 1;
    /// In `virtual_ipaddress_excluded`: ours, never advertised.
    pub const EXCLUDED: u32 = 2;
}

/// Value of `VRID_ADDRS`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct VridAddr {
    /// `addr_kind::*`.
    pub kind: u32,
    /// Position among the advertised addresses (0..count_addrs): lets the XDP program see
    /// that an advert names each of ours exactly once.
    pub index: u32,
}

/// Value of `VRID_ADDR_LIST`: the advertised addresses in advert order (the first `count`).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AddrList {
    pub count: u32,
    /// IPv4 addresses, bytes in wire order.
    pub addrs_v4: [[u8; 4]; MAX_ADDRS_V4 as usize],
}

impl Default for AddrList {
    fn default() -> Self {
        AddrList { count: 0, addrs_v4: [[0; 4]; MAX_ADDRS_V4 as usize] }
    }
}

impl AddrList {
    /// The first 255 of `addrs`.
    pub fn new(addrs: &[[u8; 4]]) -> Self {
        let mut l = AddrList::default();
        for (slot, a) in l.addrs_v4.iter_mut().zip(addrs) {
            *slot = *a;
            l.count += 1;
        }
        l
    }

    /// Whether `packet_addrs` (4 bytes each) is exactly our list, in our order.
    pub fn same_in_order(&self, packet_addrs: &[u8]) -> bool {
        packet_addrs.len() == 4 * self.count as usize
            && packet_addrs.chunks_exact(4).zip(&self.addrs_v4).all(|(p, a)| p == a)
    }
}

/// Value of `VRID_ADDR_LIST_V6`: our advertised IPv6 addresses in advert order (the first
/// `count`).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AddrListV6 {
    pub count: u32,
    /// IPv6 addresses, bytes in wire order.
    pub addrs_v6: [[u8; 16]; MAX_ADDRS_V6 as usize],
}

impl Default for AddrListV6 {
    fn default() -> Self {
        AddrListV6 { count: 0, addrs_v6: [[0; 16]; MAX_ADDRS_V6 as usize] }
    }
}

impl AddrListV6 {
    /// The first `MAX_ADDRS_V6` of `addrs`.
    pub fn new(addrs: &[[u8; 16]]) -> Self {
        let mut l = AddrListV6::default();
        for (slot, a) in l.addrs_v6.iter_mut().zip(addrs) {
            *slot = *a;
            l.count += 1;
        }
        l
    }

    /// Whether `packet_addrs` (16 bytes each) is exactly our list, in our order.
    pub fn same_in_order(&self, packet_addrs: &[u8]) -> bool {
        packet_addrs.len() == 16 * self.count as usize
            && packet_addrs.chunks_exact(16).zip(&self.addrs_v6).all(|(p, a)| p == a)
    }
}

/// Value of `VRID_PEERS` (its presence is what matters).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct VridPeer {
    /// Position in the instance's allow-list (`allowed_peer` entries first, then the
    /// `unicast_peer`s), for operators.
    pub index: u32,
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
    pub _pad: u32,
    /// Sequence number of the advert: taken with one atomic add per accepted advert (so
    /// unique across CPUs); in the map it is the number of the last one taken, and the agent
    /// applies ring-buffer events in this order. 64 bits: BPF atomics are 64-bit wide, and it
    /// never wraps.
    pub seq: u64,
    /// IPv6 instances: the source address (`src_v4` is then 0.0.0.0), wire order.
    pub src_v6: [u8; 16],
}

impl AdvertRecord {
    /// The advert's source address, for an instance of `family` (`VridKey::family`).
    pub fn src(&self, family: u16) -> core::net::IpAddr {
        if family == AF_INET6 {
            core::net::IpAddr::V6(core::net::Ipv6Addr::from(self.src_v6))
        } else {
            core::net::IpAddr::V4(core::net::Ipv4Addr::from(self.src_v4))
        }
    }
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
    /// Not from XDP: the agent's slow path (raw socket) accepted it (IP options, a
    /// reassembled fragment, or no XDP on the interface).
    pub const SLOW_PATH: u32 = 64;
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
    /// The record as it was before this advert overwrote it: the previous accepted advert
    /// (`ts_ns` 0: none, and the other fields mean nothing). In steady state adverts do not wake the agent, so when the
    /// content changes this is the only word of when the old content was last heard: a
    /// backup's Master_Down_Timer runs from the last advert it accepted (RFC 5798 §6.4.2),
    /// which is this one when the new advert is one it discards (a master whose priority
    /// fell below ours).
    pub prev: AdvertRecord,
}

/// Per-VRID counters (a per-CPU hash: no atomics on the fast path; the agent sums CPUs).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct VridStats {
    /// Adverts seen for this VRID (valid or not).
    pub rx: u64,
    pub accepted: u64,
    /// v3: accepted with the pseudo-header checksum (over IPv4 keepalived/FRR's default; over
    /// IPv6 always).
    pub v3_csum_pseudo: u64,
    /// v3 over IPv4: accepted with the plain checksum (RFC 9568, most vendors).
    pub v3_csum_plain: u64,
    /// Adverts that woke the agent.
    pub events: u64,
    /// Adverts dropped for any reason (the reasons are in `GlobalStats`).
    pub dropped: u64,
    pub arp_replies: u64,
    /// v3: accepted adverts whose interval differs from ours (v3 learns it; the agent logs it,
    /// rate-limited, as keepalived >= 2.3.3 warns).
    pub interval_mismatch: u64,
    /// ARP frames (IPv6: neighbour advertisements) from another MAC claiming one of this
    /// instance's VIPs (passed to the stack).
    pub vip_conflict: u64,
    /// Neighbour advertisements XDP sent for this instance's IPv6 VIPs.
    pub na_replies: u64,
}

/// Defines the counters ONCE: the traffic counters, then the drop reasons, from which come
/// the `DropReason` enum both validators return (the XDP program and the agent's slow path,
/// `vrrp_agent::rx::validate`), the `GlobalStats` fields (traffic counters first, then one per
/// reason, in the same order) and their names. Adding a counter or a rule is one line here.
macro_rules! counters {
    (
        counters { $( $(#[doc = $cdoc:literal])* $counter:ident, )* }
        drops { $( $(#[doc = $doc:literal])* $variant:ident => $field:ident, )* }
    ) => {
        /// Why an advert for a configured VRID was dropped. The order of the checks is the
        /// order documented on `vrrp_agent::rx::validate::validate`; both validators keep it,
        /// so they give the same reason for the same packet.
        #[repr(u32)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum DropReason {
            $( $(#[doc = $doc])* $variant, )*
        }

        impl DropReason {
            /// Every reason, in counter order.
            pub const ALL: &'static [DropReason] = &[$(DropReason::$variant,)*];

            /// The name of its `GlobalStats` field (and of the counter in `status`).
            pub const fn counter_name(self) -> &'static str {
                match self {
                    $(DropReason::$variant => stringify!($field),)*
                }
            }
        }

        /// Global counters (per CPU): traffic, then one counter per `DropReason`.
        #[repr(C)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
        pub struct GlobalStats {
            $( $(#[doc = $cdoc])* pub $counter: u64, )*
            $( $(#[doc = $doc])* pub $field: u64, )*
        }

        impl GlobalStats {
            /// Counter names in field order (every field is a u64).
            pub const COUNTER_NAMES: &'static [&'static str] = &[
                $(stringify!($counter),)* $(stringify!($field),)*
            ];
            /// How many traffic counters precede the drop reasons.
            pub const TRAFFIC_COUNTERS: usize = [$(stringify!($counter),)*].len();

            /// The counter of one drop reason.
            #[inline(always)]
            pub fn drop_counter_mut(&mut self, reason: DropReason) -> &mut u64 {
                match reason {
                    $(DropReason::$variant => &mut self.$field,)*
                }
            }

            pub const fn drop_count(&self, reason: DropReason) -> u64 {
                match reason {
                    $(DropReason::$variant => self.$field,)*
                }
            }
        }
    };
}

counters! {
  counters {
    /// VRRP (protocol 112, IPv4 without options and not a fragment, or IPv6 without
    /// extension headers) frames seen.
    vrrp_rx,
    vrrp_accepted,
    /// A VRID not configured on this interface: counted and passed to the stack.
    unknown_vrid,
    /// v3 adverts accepted with an interval different from ours (learned).
    interval_mismatch,
    events_lost,
    arp_requests,
    arp_replies,
    /// ARP requests for an owned VIP not answered (dropped): sender IP in 224.0.0.0/4.
    arp_drop_sender_multicast,
    /// ... sender IP 255.255.255.255.
    arp_drop_sender_broadcast,
    /// ... sender IP in 127.0.0.0/8.
    arp_drop_sender_loopback,
    /// ... Ethernet source or ARP sender MAC is broadcast/multicast (group bit set).
    arp_drop_group_src_mac,
    /// ARP requests for an owned VIP sent unicast to another host's MAC: not
    /// answered, passed (the stack drops them as PACKET_OTHERHOST; a bridge above
    /// may forward them).
    arp_other_host_dst,
    /// ARP probes (sender 0.0.0.0, RFC 5227) for an owned VIP, answered as Linux does.
    arp_probe_replies,
    /// ARP frames (and IPv6 neighbour advertisements) from another MAC claiming one of our
    /// VIPs: counted and passed; the ARP ones are reported to the agent through
    /// `VIP_CONFLICTS`.
    vip_conflict,
    /// `VipConflictEvent`s that did not fit the ring buffer.
    vip_conflict_events_lost,
    /// ARP requests (and, with IPv6, neighbour solicitations) for a configured VIP dropped
    /// because the agent's lease is stale (the datapath is fenced: neither XDP nor the kernel
    /// answers).
    arp_fenced,
    /// IPv6 neighbour solicitations seen (ICMPv6 type 135, no extension headers).
    ns_requests,
    /// Neighbour advertisements sent (XDP_TX) for owned IPv6 VIPs, DAD answers included.
    ns_replies,
    /// ... of which answered a duplicate address detection probe (source ::, RFC 4861
    /// §7.2.4: to ff02::1, Solicited flag clear).
    ns_dad_replies,
    /// Solicitations for an owned VIP that fail RFC 4861 §7.1.1 (hop limit not 255, ICMPv6
    /// code or checksum, too short, an option of length 0, source :: with a source
    /// link-layer address option or not sent to the solicited-node group): dropped.
    ns_drop_invalid,
    /// ... from a multicast IPv6 source or a group Ethernet source MAC: dropped.
    ns_drop_group_src,
    /// ... sent unicast to another host's MAC: passed, not answered (as ARP).
    ns_other_host_dst,
  }
  drops {
    /// Multicast instance: TTL (IPv6: hop limit) is not 255 (unicast instances skip this
    /// check, as keepalived).
    Ttl => drop_ttl,
    /// VRRP version is not the instance's.
    Version => drop_version,
    /// VRRP type is not 1 (advertisement).
    Type => drop_type,
    /// The packet is shorter than its headers or than the addresses (and auth data) it declares.
    Truncated => drop_truncated,
    /// VRRP checksum (v3 over IPv4: neither with nor without the pseudo-header).
    Checksum => drop_checksum,
    /// v2: auth type differs from ours.
    AuthType => drop_auth_type,
    /// v2: PASS string differs from ours.
    AuthPass => drop_auth_pass,
    /// v2: advert interval differs from ours.
    Interval => drop_interval,
    /// v3: advert interval 0.
    BadInterval => drop_bad_interval,
    /// IPv4 header checksum.
    IpChecksum => drop_ip_checksum,
    /// The VRRP message is longer than its address count says (count 1, 3 addresses sent).
    Length => drop_length,
    /// Address count 0.
    AddrCountZero => drop_addr_count_zero,
    /// Destination neither the VRRP group (multicast instance) nor our `unicast_src_ip`
    /// (unicast instance).
    WrongDestination => drop_wrong_dst,
    /// An advert to 224.0.0.18 for a unicast instance.
    MulticastToUnicast => drop_mcast_to_unicast,
    /// A unicast advert for a multicast instance.
    UnicastToMulticast => drop_unicast_to_mcast,
    /// Source 0.0.0.0, 127.0.0.0/8, multicast or 255.255.255.255 (IPv6: ::, ::1, ff00::/8 or
    /// an IPv4-mapped address).
    MartianSource => drop_martian_src,
    /// Source is one of our VIPs.
    SourceIsVip => drop_src_is_vip,
    /// Source is our own primary address.
    SourceIsSelf => drop_src_is_self,
    /// The instance has a peer allow-list (`allowed_peer`, or `vrrp_check_unicast_src` on a
    /// unicast instance) and the source is not in it.
    UnknownPeer => drop_unknown_peer,
    /// Address count or list differs from ours (unless `vrrp_skip_check_adv_addr`).
    AddrList => drop_addr_list,
  }
}

/// How many `DropReason`s there are (the length of `VridDrops::counts`).
pub const DROP_REASONS: usize = DropReason::ALL.len();

/// Value of `VRID_DROPS` (per CPU): one instance's dropped adverts, indexed by
/// `DropReason as usize` (the same order as the `GlobalStats` drop counters).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VridDrops {
    pub counts: [u64; DROP_REASONS],
}

impl Default for VridDrops {
    fn default() -> Self {
        VridDrops { counts: [0; DROP_REASONS] }
    }
}

impl VridDrops {
    pub const fn count(&self, reason: DropReason) -> u64 {
        self.counts[reason as usize]
    }
}

/// Value of `INSTANCE_STATS`: the counters only the agent can keep (XDP sees what arrives,
/// not what the agent sends or decides). Written by the agent when it changes; the advert
/// counters alone (`adverts_sent`, `last_advert_sent_ns`) at most every 100 ms.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct InstanceStats {
    /// Adverts sent (every destination of a unicast instance counts).
    pub adverts_sent: u64,
    /// Of those, with priority 0 (leaving mastership).
    pub priority_zero_sent: u64,
    /// Priority-0 adverts received and given to the election.
    pub priority_zero_rx: u64,
    /// Gratuitous ARP frames sent (one per VIP per round).
    pub garp_sent: u64,
    /// Unsolicited neighbour advertisements sent (IPv6 VIPs).
    pub na_sent: u64,
    /// Times the instance became MASTER.
    pub become_master: u64,
    /// Times it left MASTER.
    pub release_master: u64,
    /// CLOCK_MONOTONIC ns of the last advert sent (0: none yet).
    pub last_advert_sent_ns: u64,
}

/// `TraceEvent::kind`: which handler the packet went through.
pub mod trace_kind {
    pub const VRRP: u32 = 1;
    pub const ARP: u32 = 2;
    /// IPv6 neighbour discovery (solicitations for our VIPs).
    pub const ND: u32 = 3;
}

/// `TraceEvent::verdict`.
pub mod trace_verdict {
    /// A VRRP advert passed every check (`TraceEvent::reason`: its `event_reason` bits, 0
    /// when it did not wake the agent).
    pub const ACCEPTED: u32 = 1;
    /// A VRRP advert failed a check (`TraceEvent::reason`: `DropReason as u32`).
    pub const DROPPED: u32 = 2;
    /// A VRRP packet for a VRID not configured on the interface (passed).
    pub const UNKNOWN_VRID: u32 = 3;
    /// ARP/ND: answered in place (XDP_TX).
    pub const REPLIED: u32 = 4;
    /// ARP/ND: not answered; `TraceEvent::action` says passed or dropped.
    pub const NOT_REPLIED: u32 = 5;
}

/// One packet the XDP program handled, reported while `TRACE_CONTROL` is 1.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct TraceEvent {
    /// `bpf_ktime_get_ns` when it was handled.
    pub ts_ns: u64,
    pub ifindex: u32,
    /// `trace_kind::*`.
    pub kind: u32,
    /// `trace_verdict::*`.
    pub verdict: u32,
    /// See `trace_verdict`.
    pub reason: u32,
    /// The XDP action returned (XDP_DROP 1, XDP_PASS 2, XDP_TX 3).
    pub action: u32,
    /// VRRP: the VRID; ARP: the VRID owning the target VIP, 0 if none.
    pub vrid: u32,
    /// VRRP: the advertised priority; ARP: the operation (1 request, 2 reply).
    pub priority: u32,
    /// `AF_INET` or `AF_INET6`: how to read `src` and `dst`.
    pub family: u32,
    /// Source address (VRRP: IP source; ARP: sender IP), wire order; IPv4 in word 0.
    pub src: [u32; 4],
    /// VRRP: IP destination; ARP: target IP; same layout.
    pub dst: [u32; 4],
}

/// Size of the `TRACE_EVENTS` ring buffer: about 3000 events between two agent wake-ups;
/// a packet handled while it is full is not reported (tracing never changes a verdict).
pub const TRACE_EVENTS_BYTES: u32 = 256 * 1024;

/// Whether a source address can never be a VRRP router's (keepalived's and the kernel's
/// martians): 0.0.0.0, 127.0.0.0/8, multicast (224.0.0.0/4) and 255.255.255.255.
#[inline(always)]
pub const fn is_martian_source_v4(a: [u8; 4]) -> bool {
    let w = u32::from_be_bytes(a);
    w == 0 || a[0] == 127 || a[0] & 0xf0 == 0xe0 || w == u32::MAX
}

/// The IPv6 sources no VRRP router has (the kernel refuses most of them as well): ::
/// (unspecified), ::1 (loopback), multicast (ff00::/8) and IPv4-mapped (::ffff:0:0/96).
/// A source that is not link-local is accepted, as keepalived accepts it: RFC 5798 §5.1.2.1
/// says a router sends from its link-local address, but §7.1 does not ask receivers to check.
#[inline(always)]
pub const fn is_martian_source_v6(a: [u8; 16]) -> bool {
    let hi = u64::from_be_bytes([a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7]]);
    let lo = u64::from_be_bytes([a[8], a[9], a[10], a[11], a[12], a[13], a[14], a[15]]);
    a[0] == 0xff || (hi == 0 && (lo <= 1 || lo >> 32 == 0xffff))
}

/// Key of `OWNED_VIPS`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct VipKey {
    pub ifindex: u32,
    /// IPv4 address, bytes in wire order.
    pub addr_v4: [u8; 4],
}

/// Key of `OWNED_VIPS_V6` and `FENCED_VIPS_V6`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct VipKeyV6 {
    pub ifindex: u32,
    /// IPv6 address, bytes in wire order.
    pub addr_v6: [u8; 16],
}

/// Value of `OWNED_VIPS` and `OWNED_VIPS_V6`: what to answer ARP (neighbour solicitations)
/// with.
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

/// Another host announced one of our VIPs from a MAC that is not ours: over IPv4 a
/// gratuitous ARP, an ARP reply or a request whose sender IP is a VIP we own on that
/// interface; over IPv6 a neighbour advertisement whose target is one.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct VipConflictEvent {
    pub ifindex: u32,
    /// `AF_INET` or `AF_INET6`.
    pub family: u16,
    /// The VRID owning the VIP.
    pub vrid: u16,
    /// The VIP, bytes in wire order (IPv4: the first four, the rest zero).
    pub addr: [u8; 16],
    /// Kernel receive time, `bpf_ktime_get_ns`.
    pub ts_ns: u64,
    /// The offender's MAC (ARP sender, or the NA's target link-layer address, else its
    /// Ethernet source), bytes 0..4 and 4..6 in wire order (as `VipValue`).
    pub mac_hi: u32,
    pub mac_lo: u16,
    /// What announced it: a `conflict_op`.
    pub op: u16,
}

/// `VipConflictEvent::op`.
pub mod conflict_op {
    /// ARP request (operation 1).
    pub const ARP_REQUEST: u16 = 1;
    /// ARP reply (operation 2).
    pub const ARP_REPLY: u16 = 2;
    /// ICMPv6 neighbour advertisement (type 136).
    pub const NEIGHBOUR_ADVERT: u16 = 136;
}

impl VipConflictEvent {
    pub const fn mac(&self) -> [u8; 6] {
        let a = self.mac_hi.to_ne_bytes();
        let b = self.mac_lo.to_ne_bytes();
        [a[0], a[1], a[2], a[3], b[0], b[1]]
    }

    /// The VIP claimed.
    pub fn vip(&self) -> core::net::IpAddr {
        let a = self.addr;
        if self.family == AF_INET6 {
            core::net::IpAddr::V6(core::net::Ipv6Addr::from(a))
        } else {
            core::net::IpAddr::V4(core::net::Ipv4Addr::new(a[0], a[1], a[2], a[3]))
        }
    }
}

/// Size of the `PROC_EVENTS` ring buffer: about 10 000 events (40 bytes each and the ring
/// buffer's 8-byte header), a burst of process churn between two agent wake-ups. When it
/// overflows the agent rescans `/proc`.
pub const PROC_EVENTS_BYTES: u32 = 512 * 1024;

/// `ProcEvent::kind`.
pub mod proc_event {
    /// A process called execve: `pid` runs a new program now, `comm` is its new name.
    pub const EXEC: u32 = 1;
    /// A process (its thread-group leader) exited. Thread exits are not reported.
    pub const EXIT: u32 = 2;
    /// A process forked: `pid` is the child, `parent` the process that called fork/clone
    /// (the child runs the same program under the same name). New threads are not reported.
    pub const FORK: u32 = 3;
    /// A process leader's name changed (`prctl(PR_SET_NAME)`, a write to
    /// `/proc/PID/comm`, or an exec): `comm` is the new name.
    pub const COMM: u32 = 4;
}

/// Tracepoint record layouts the process programs read (from
/// `/sys/kernel/tracing/events/<category>/<name>/format`, stable since Linux 3.x). The agent
/// checks them against the running kernel's format files before attaching.
pub mod tracepoint_offsets {
    /// `task/task_newtask`: `pid_t pid` (the new task's id).
    pub const NEWTASK_PID: usize = 8;
    /// `task/task_newtask`: `unsigned long clone_flags`.
    pub const NEWTASK_CLONE_FLAGS: usize = 32;
    /// `task/task_rename`: `pid_t pid` (the renamed task's id).
    pub const RENAME_PID: usize = 8;
    /// `task/task_rename`: `char newcomm[16]`.
    pub const RENAME_NEWCOMM: usize = 28;
    /// `CLONE_THREAD` in `clone_flags`.
    pub const CLONE_THREAD: u64 = 0x0001_0000;
}

/// One process event from the tracepoint programs (ring buffer `PROC_EVENTS`). Process ids
/// are the kernel's global ones (the initial PID namespace's), as in `/proc` of a host
/// mount namespace; the tracepoints fire for processes of every network namespace.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct ProcEvent {
    /// `proc_event::*`.
    pub kind: u32,
    /// The process (thread-group id) the event is about.
    pub pid: u32,
    /// `FORK`: the parent process (thread-group id); 0 otherwise.
    pub parent: u32,
    pub _pad: u32,
    /// `bpf_ktime_get_ns` at the event.
    pub ts_ns: u64,
    /// The process name (NUL padded, up to 15 bytes) at the event: for `EXEC` and `COMM` the
    /// new name, for `FORK` the child's (= the parent's), for `EXIT` the last one.
    pub comm: [u8; 16],
}

impl ProcEvent {
    /// `comm` without its NUL padding, as raw bytes (a name need not be UTF-8).
    pub fn comm_bytes(&self) -> &[u8] {
        let end = self.comm.iter().position(|b| *b == 0).unwrap_or(self.comm.len());
        &self.comm[..end]
    }
}

/// Value of `AGENT_LEASE` (index 0): renewed by the agent's event loop while it is healthy.
/// The XDP program answers ARP/NS for owned VIPs only while the lease is fresh; once it is
/// older than `fence_after_ns` it answers for none of them and drops ARP requests / neighbour
/// solicitations for every configured VIP, so the kernel cannot answer for a VIP a dead or
/// hung agent left on the interface.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct AgentLease {
    /// CLOCK_MONOTONIC ns (the clock of `bpf_ktime_get_ns`) of the last renewal; 0: no agent
    /// has taken the lease yet.
    pub renewed_ns: u64,
    /// Age after which the lease is stale (derived from the Master_Down_Interval).
    pub fence_after_ns: u64,
    /// Pid of the agent holding the lease.
    pub pid: u32,
    pub _pad: u32,
}

impl AgentLease {
    /// Whether the lease is fresh at `now_ns` (CLOCK_MONOTONIC): renewed no longer than
    /// `fence_after_ns` ago, or never taken (no agent yet, or a test load: nothing to fence).
    /// The one rule both sides apply: XDP answers for the VIPs only while it holds, and an
    /// agent that finds its own lease lapsed knows its datapath was fenced meanwhile.
    #[inline(always)]
    pub fn fresh_at(&self, now_ns: u64) -> bool {
        self.renewed_ns == 0 || self.fence_after_ns == 0 || now_ns.saturating_sub(self.renewed_ns) <= self.fence_after_ns
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
    pub master_down_interval_us: u32,
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
    /// IPv6 instances: the current master's address (`master_v4` is then 0.0.0.0), ours when
    /// Master, :: if unknown.
    pub master_v6: [u8; 16],
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

/// `TrackerKey::kind` and `TrackerStatus::kind`: what is tracked.
pub mod tracker_kind {
    /// `track_interface`: a link's operational state.
    pub const INTERFACE: u32 = 1;
    /// `vrrp_script`.
    pub const SCRIPT: u32 = 2;
    /// `vrrp_track_file`.
    pub const FILE: u32 = 3;
    /// `vrrp_track_process`.
    pub const PROCESS: u32 = 4;
}

/// `TrackerStatus::state`.
pub mod tracker_state {
    /// No result yet (a script before its first run ends, a file not read yet, ...).
    pub const INIT: u32 = 0;
    /// Script succeeding, process quorum held, interface up.
    pub const UP: u32 = 1;
    /// Script failing, process quorum lost, interface down.
    pub const DOWN: u32 = 2;
    /// A track file: it holds `TrackerStatus::value`.
    pub const VALUE: u32 = 3;
}

/// `TrackerStatus::flags`.
pub mod tracker_flags {
    /// A script a reload added or changed, with no result since: it counts for nothing yet.
    pub const RELOADED: u32 = 1;
    /// A process tracker whose quorum change waits for `fork_delay`/`terminate_delay`.
    pub const PENDING: u32 = 2;
}

/// `TrackerStatus::last_outcome`: how a script's last run ended.
pub mod script_outcome {
    pub const NONE: u32 = 0;
    pub const SUCCESS: u32 = 1;
    /// Exited non-zero (`TrackerStatus::last_exit` holds the status).
    pub const FAILED: u32 = 2;
    /// Killed by a signal.
    pub const SIGNALLED: u32 = 3;
    /// Outlived its timeout and was killed.
    pub const TIMED_OUT: u32 = 4;
    /// Could not be started (missing, not executable, refused by script security).
    pub const NOT_RUN: u32 = 5;
}

/// Key of `TRACKER_STATUS`: a tracker's kind and its configuration name.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TrackerKey {
    /// `tracker_kind::*`.
    pub kind: u32,
    /// The name, NUL padded (every byte used by a name of exactly 64 bytes). Read it with
    /// `TrackerKey::name`; `TrackerKey::new` explains names longer than 64 bytes.
    pub name: [u8; TRACKER_NAME_LEN],
}

impl Default for TrackerKey {
    fn default() -> Self {
        TrackerKey { kind: 0, name: [0; TRACKER_NAME_LEN] }
    }
}

impl TrackerKey {
    /// A name of up to 64 bytes is stored as it is. A longer one keeps its first bytes (up
    /// to 55, cut on a character boundary), then `~` and the FNV-1a hash of the whole name in
    /// 8 hex digits, so two long names with the same beginning still get different keys.
    pub fn new(kind: u32, name: &str) -> Self {
        let mut key = TrackerKey { kind, ..TrackerKey::default() };
        if name.len() <= TRACKER_NAME_LEN {
            key.name[..name.len()].copy_from_slice(name.as_bytes());
            return key;
        }
        let mut n = TRACKER_NAME_LEN - 9;
        while !name.is_char_boundary(n) {
            n -= 1;
        }
        key.name[..n].copy_from_slice(&name.as_bytes()[..n]);
        key.name[n] = b'~';
        let hash = fnv1a32(name.as_bytes());
        for (i, slot) in key.name[n + 1..n + 9].iter_mut().enumerate() {
            let nibble = (hash >> (28 - 4 * i)) & 0xf;
            *slot = b"0123456789abcdef"[nibble as usize];
        }
        key
    }

    /// The stored name (a long one as `TrackerKey::new` shortened it).
    pub fn name(&self) -> &str {
        c_str(&self.name)
    }
}

/// 32-bit FNV-1a.
const fn fnv1a32(bytes: &[u8]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    let mut i = 0;
    while i < bytes.len() {
        h ^= bytes[i] as u32;
        h = h.wrapping_mul(0x0100_0193);
        i += 1;
    }
    h
}

/// Value of `TRACKER_STATUS`: one tracked object as the agent sees it, with the counters an
/// on-call engineer needs. Written by the agent only.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct TrackerStatus {
    /// `tracker_kind::*`.
    pub kind: u32,
    /// `tracker_state::*`.
    pub state: u32,
    /// File: the value read. Process: how many processes match. Script: keepalived's result
    /// counter (`0..rise` down, `rise..rise+fall` up). Interface: 1 up, 0 down.
    pub value: i64,
    /// CLOCK_MONOTONIC ns of the last change of state (or of a file's value); the time the
    /// agent started tracking it while there was none.
    pub since_ns: u64,
    /// CLOCK_MONOTONIC ns of the last reading (0: none yet).
    pub updated_ns: u64,
    /// Changes of state (or of a file's value) so far.
    pub transitions: u64,
    /// Readings: script runs, file reads, process scans, link reports.
    pub runs: u64,
    /// Script runs that exited non-zero or were killed by a signal (timeouts not included).
    pub failures: u64,
    /// Script runs killed at their timeout.
    pub timeouts: u64,
    /// Script runs that could not be started.
    pub not_run: u64,
    /// The script's last exit status (valid when `last_outcome` is FAILED or SUCCESS).
    pub last_exit: i32,
    /// `script_outcome::*`.
    pub last_outcome: u32,
    /// `tracker_flags::*`.
    pub flags: u32,
    /// Script: `rise` and `fall`.
    pub rise: u32,
    pub fall: u32,
    /// Process: the quorum range (`quorum_max` u32::MAX: no upper bound).
    pub quorum: u32,
    pub quorum_max: u32,
    /// The agent that wrote it.
    pub pid: u32,
}

/// `InstancePriority::tracker_fault`.
pub mod tracker_fault {
    pub const CLEAR: u32 = 0;
    /// A weight-0 tracker has no result yet: the instance waits out of BACKUP/MASTER.
    pub const INIT_HOLD: u32 = 1;
    /// A weight-0 tracker failed, or a track file's status is -254 or below.
    pub const FAULT: u32 = 2;
}

/// `PriorityReason::why`.
pub mod priority_why {
    /// A weighted tracker adds `delta` to the priority.
    pub const WEIGHT: u32 = 1;
    /// A weight-0 tracker has no result yet (holds the instance).
    pub const WAITING: u32 = 2;
    /// A weight-0 interface, script or process is down: FAULT.
    pub const FAULT_DOWN: u32 = 3;
    /// ... is up, with `reverse`: FAULT.
    pub const FAULT_UP_REVERSED: u32 = 4;
    /// A track file's status faults the instance (`delta` holds the file's value).
    pub const FAULT_FILE: u32 = 5;
}

/// One tracker's part in an instance's priority or fault.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PriorityReason {
    /// `tracker_kind::*`.
    pub kind: u32,
    /// `priority_why::*`.
    pub why: u32,
    /// WEIGHT: what it adds; FAULT_FILE: the file's value; otherwise 0.
    pub delta: i64,
    /// The tracker's name, encoded as in `TrackerKey` (read with `PriorityReason::name`).
    pub name: [u8; TRACKER_NAME_LEN],
}

impl Default for PriorityReason {
    fn default() -> Self {
        PriorityReason { kind: 0, why: 0, delta: 0, name: [0; TRACKER_NAME_LEN] }
    }
}

impl PriorityReason {
    pub fn new(kind: u32, name: &str, why: u32, delta: i64) -> Self {
        PriorityReason { kind, why, delta, name: TrackerKey::new(kind, name).name }
    }
    pub fn name(&self) -> &str {
        c_str(&self.name)
    }
}

/// Value of `INSTANCE_PRIORITY`: how an instance's effective priority came about.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InstancePriority {
    /// Configured priority.
    pub base_priority: u32,
    /// The priority it advertises: `total_priority` clamped to 1..=254 (255 for the owner).
    pub effective_priority: u32,
    /// base + every contribution, before clamping (keepalived's total priority).
    pub total_priority: i64,
    /// `tracker_fault::*`.
    pub tracker_fault: u32,
    /// Trackers faulting it, and weight-0 trackers it waits for.
    pub faults: u32,
    pub waiting: u32,
    /// Trackers adding a non-zero weight.
    pub contributions: u32,
    /// How many of `reasons` are filled (at most `MAX_PRIORITY_REASONS`); the rest of
    /// faults + waiting + contributions did not fit.
    pub reasons_count: u32,
    pub _pad: u32,
    /// CLOCK_MONOTONIC ns of the last change.
    pub updated_ns: u64,
    /// The instance's `vrrp_sync_group`, NUL padded (empty: none).
    pub sync_group: [u8; 32],
    /// Faults first, then holds, then weights, each in tracking order.
    pub reasons: [PriorityReason; MAX_PRIORITY_REASONS],
}

impl Default for InstancePriority {
    fn default() -> Self {
        InstancePriority {
            base_priority: 0,
            effective_priority: 0,
            total_priority: 0,
            tracker_fault: 0,
            faults: 0,
            waiting: 0,
            contributions: 0,
            reasons_count: 0,
            _pad: 0,
            updated_ns: 0,
            sync_group: [0; 32],
            reasons: [PriorityReason::default(); MAX_PRIORITY_REASONS],
        }
    }
}

impl InstancePriority {
    pub fn sync_group(&self) -> &str {
        c_str(&self.sync_group)
    }
    pub fn set_sync_group(&mut self, name: &str) {
        set_c_str(&mut self.sync_group, name);
    }
    /// Appends a reason; false (and nothing stored) when `reasons` is full.
    pub fn push_reason(&mut self, reason: PriorityReason) -> bool {
        let Some(slot) = self.reasons.get_mut(self.reasons_count as usize) else {
            return false;
        };
        *slot = reason;
        self.reasons_count += 1;
        true
    }
    /// The filled reasons.
    pub fn reasons(&self) -> &[PriorityReason] {
        &self.reasons[..(self.reasons_count as usize).min(MAX_PRIORITY_REASONS)]
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
    pod!(VridKey, VridConfig, AdvertRecord, AdvertEvent, VridStats, GlobalStats, VipKey, VipValue, InstanceStatus, VridAddrKey, VridAddr, VridPeer, AddrList, VipConflictEvent, ProcEvent,
        VridAddrKeyV6, AddrListV6, VipKeyV6,
        TrackerKey, TrackerStatus, PriorityReason, InstancePriority, AgentLease, VridDrops, InstanceStats, TraceEvent);
}

// No implicit padding anywhere: the sizes are the sums of the field sizes.
const _: () = assert!(core::mem::size_of::<VridKey>() == 8);
const _: () = assert!(core::mem::size_of::<VridConfig>() == 40 + 16);
const _: () = assert!(core::mem::size_of::<VridAddrKey>() == 12);
const _: () = assert!(core::mem::size_of::<VridAddrKeyV6>() == 8 + 16);
const _: () = assert!(core::mem::size_of::<AddrListV6>() == 4 + 16 * MAX_ADDRS_V6 as usize);
const _: () = assert!(core::mem::size_of::<VipKeyV6>() == 20);
const _: () = assert!(core::mem::size_of::<VridAddr>() == 8);
const _: () = assert!(core::mem::size_of::<VridPeer>() == 4);
const _: () = assert!(core::mem::size_of::<AddrList>() == 4 + 4 * MAX_ADDRS_V4 as usize);
const _: () = assert!(core::mem::size_of::<AdvertRecord>() == 8 + 6 * 4 + 8 + 16);
const _: () = assert!(core::mem::size_of::<AdvertEvent>() == 16 + 2 * core::mem::size_of::<AdvertRecord>());
const _: () = assert!(core::mem::size_of::<VridStats>() == 10 * 8);
const _: () = assert!(core::mem::size_of::<GlobalStats>() == GlobalStats::COUNTER_NAMES.len() * 8);
const _: () = assert!(GlobalStats::COUNTER_NAMES.len() == GlobalStats::TRAFFIC_COUNTERS + DropReason::ALL.len());
const _: () = assert!(core::mem::size_of::<VridDrops>() == DROP_REASONS * 8);
const _: () = assert!(core::mem::size_of::<InstanceStats>() == 8 * 8);
const _: () = assert!(core::mem::size_of::<TraceEvent>() == 8 + 8 * 4 + 2 * 16);
const _: () = assert!(core::mem::size_of::<VipKey>() == 8);
const _: () = assert!(core::mem::size_of::<VipValue>() == 8);
const _: () = assert!(core::mem::size_of::<AgentLease>() == 24);
const _: () = assert!(core::mem::size_of::<VipConflictEvent>() == 40);
const _: () = assert!(core::mem::size_of::<InstanceStatus>() == 8 * 4 + 8 + 32 + 16 + 16);
const _: () = assert!(core::mem::size_of::<ProcEvent>() == 4 * 4 + 8 + 16);
const _: () = assert!(core::mem::size_of::<TrackerKey>() == 4 + TRACKER_NAME_LEN);
const _: () = assert!(core::mem::size_of::<TrackerStatus>() == 8 + 8 * 8 + 8 * 4);
const _: () = assert!(core::mem::size_of::<PriorityReason>() == 16 + TRACKER_NAME_LEN);
const _: () = assert!(
    core::mem::size_of::<InstancePriority>() == 8 + 8 + 6 * 4 + 8 + 32 + MAX_PRIORITY_REASONS * (16 + TRACKER_NAME_LEN)
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_is_fresh_up_to_its_bound_and_untaken_leases_never_fence() {
        let l = AgentLease { renewed_ns: 1_000, fence_after_ns: 200, pid: 1, _pad: 0 };
        assert!(l.fresh_at(1_000) && l.fresh_at(1_200));
        assert!(!l.fresh_at(1_201));
        // A clock read before the renewal (another CPU's earlier read) is not stale.
        assert!(l.fresh_at(900));
        assert!(AgentLease { renewed_ns: 0, ..l }.fresh_at(u64::MAX));
        assert!(AgentLease { fence_after_ns: 0, ..l }.fresh_at(u64::MAX));
    }

    #[test]
    fn short_tracker_names_are_stored_as_they_are() {
        let k = TrackerKey::new(tracker_kind::SCRIPT, "chk_haproxy");
        assert_eq!(k.kind, tracker_kind::SCRIPT);
        assert_eq!(k.name(), "chk_haproxy");
        assert_eq!(&k.name[..12], b"chk_haproxy\0");
        let full = "x".repeat(TRACKER_NAME_LEN);
        assert_eq!(TrackerKey::new(tracker_kind::FILE, &full).name(), full, "64 bytes fit without a NUL");
        assert_eq!(TrackerKey::new(tracker_kind::FILE, "").name(), "");
    }

    #[test]
    fn long_tracker_names_keep_a_prefix_and_a_hash_of_the_whole() {
        let a = "a".repeat(60) + "-first-of-two-long-names";
        let b = "a".repeat(60) + "-second-of-two-long-names";
        let (ka, kb) = (TrackerKey::new(tracker_kind::SCRIPT, &a), TrackerKey::new(tracker_kind::SCRIPT, &b));
        assert_ne!(ka, kb, "same 55-byte prefix, different keys");
        assert_eq!(ka.name().len(), TRACKER_NAME_LEN);
        assert_eq!(&ka.name()[..56], &(("a".repeat(55)) + "~"));
        assert!(ka.name()[56..].bytes().all(|c| c.is_ascii_hexdigit()), "{}", ka.name());
        assert_eq!(ka, TrackerKey::new(tracker_kind::SCRIPT, &a), "deterministic");
        // Multi-byte characters are never cut: 'é' is 2 bytes, so byte 55 falls inside one.
        let accents = "é".repeat(40);
        let k = TrackerKey::new(tracker_kind::PROCESS, &accents);
        assert!(k.name().starts_with(&"é".repeat(27)), "{}", k.name());
        assert_eq!(k.name().as_bytes()[54], b'~', "cut back to the boundary at 54");
    }

    #[test]
    fn ipv6_martian_sources() {
        let a = |s: &str| s.parse::<core::net::Ipv6Addr>().expect("address").octets();
        for m in ["::", "::1", "ff02::12", "ff02::1", "::ffff:198.18.0.1"] {
            assert!(is_martian_source_v6(a(m)), "{m}");
        }
        // keepalived accepts adverts from a source that is not link-local; so do we.
        for ok in ["fe80::1", "2001:db8::1", "::2", "::1:0:0:1", "fe80::ffff:0:1"] {
            assert!(!is_martian_source_v6(a(ok)), "{ok}");
        }
    }

    #[test]
    fn counter_names_follow_the_fields() {
        let names = GlobalStats::COUNTER_NAMES;
        assert_eq!(names[0], "vrrp_rx");
        assert_eq!(names[GlobalStats::TRAFFIC_COUNTERS], DropReason::ALL[0].counter_name());
        assert!(names.contains(&"ns_dad_replies"));
        // Field order: setting one counter moves the u64 at its name's index.
        let mut g = GlobalStats { ns_replies: 7, ..GlobalStats::default() };
        *g.drop_counter_mut(DropReason::AddrList) = 9;
        // SAFETY: GlobalStats is repr(C), all u64 fields.
        let words: &[u64] = unsafe {
            core::slice::from_raw_parts(&raw const g as *const u64, names.len())
        };
        assert_eq!(words[names.iter().position(|n| *n == "ns_replies").expect("named")], 7);
        assert_eq!(words[names.iter().position(|n| *n == "drop_addr_list").expect("named")], 9);
    }

    #[test]
    fn fnv1a_known_answers() {
        assert_eq!(fnv1a32(b""), 0x811c_9dc5);
        assert_eq!(fnv1a32(b"a"), 0xe40c_292c);
        assert_eq!(fnv1a32(b"foobar"), 0xbf9c_f968);
    }

    #[test]
    fn priority_reasons_fill_up_to_the_limit() {
        let mut p = InstancePriority::default();
        for i in 0..MAX_PRIORITY_REASONS {
            assert!(p.push_reason(PriorityReason::new(tracker_kind::SCRIPT, "s", priority_why::WEIGHT, i as i64)));
        }
        assert!(!p.push_reason(PriorityReason::new(tracker_kind::SCRIPT, "s", priority_why::WEIGHT, 99)));
        assert_eq!(p.reasons().len(), MAX_PRIORITY_REASONS);
        assert_eq!(p.reasons()[7].delta, 7);
        p.set_sync_group("G1");
        assert_eq!(p.sync_group(), "G1");
    }
}
