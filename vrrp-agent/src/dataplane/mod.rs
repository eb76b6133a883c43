//! The XDP dataplane: loads the embedded program, pins its maps, attaches it, and gives the
//! agent typed access to the maps and the advert event ring buffer.
use std::{
    collections::BTreeMap,
    io,
    net::IpAddr,
    path::{Path, PathBuf},
};

use aya::{
    Ebpf, EbpfLoader,
    maps::{Array, HashMap, Map, MapData, MapInfo, PerCpuArray, PerCpuHashMap, PerCpuValues, RingBuf},
    programs::{
        ProgramError, Xdp, XdpMode as AyaXdpMode,
        links::{FdLink, LinkError, PinnedLink},
        xdp::{XdpLink, XdpLinkId},
    },
};
use vrrp_common::{
    AddrList, AdvertEvent, AdvertRecord, AgentLease, GlobalStats, InstancePriority, InstanceStatus, TrackerKey,
    TrackerStatus, VipConflictEvent, VipKey, VipValue, VridAddr, VridAddrKey, VridConfig, VridKey, VridPeer, VridStats,
    names, tracker_kind, InstanceStats, TraceEvent, VridDrops, AddrListV6, VipKeyV6, VridAddrKeyV6,
};

use crate::core::tracker::TrackKind;
pub mod lease;
mod proc_events;
pub use proc_events::{ProcEventLinks, proc_events_lost};

/// The XDP object this agent was built with (see build.rs).
pub static EBPF_OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/vrrp-xdp.o"));

/// Loads one program, again if the kernel gave up for a passing reason. The verifier returns
/// EAGAIN when a signal arrives while it walks the program (a quarter of a second and more on a
/// busy 2-core machine) and ENOMEM under memory pressure; neither says anything about the
/// program, and a start must not fail for them. Any other error is returned at once.
pub fn load_retrying(name: &str, mut load: impl FnMut() -> Result<(), ProgramError>) -> Result<(), ProgramError> {
    const ATTEMPTS: u32 = 4;
    let mut attempt = 1;
    loop {
        match load() {
            Err(ProgramError::LoadError { io_error, verifier_log })
                if attempt < ATTEMPTS
                    && matches!(
                        io_error.kind(),
                        io::ErrorKind::Interrupted | io::ErrorKind::WouldBlock | io::ErrorKind::OutOfMemory
                    ) =>
            {
                tracing::warn!(program = name, attempt, error = %io_error, "the kernel did not finish loading the program; loading it again");
                drop(verifier_log);
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// How to attach the XDP program.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
pub enum XdpMode {
    /// Native where XDP_TX is known to work, generic (skb) otherwise.
    Auto,
    /// Native (driver) mode; fails if the driver has no XDP support.
    Native,
    /// Generic mode, in the kernel stack: works on every interface.
    Skb,
}

#[derive(Debug, thiserror::Error)]
pub enum DataplaneError {
    #[error("loading the XDP program: {0}")]
    Load(#[from] aya::EbpfError),
    #[error("XDP program: {0}")]
    Program(#[from] ProgramError),
    #[error("map {name}: {source}")]
    Map { name: &'static str, source: aya::maps::MapError },
    #[error("map {0} missing from the XDP object")]
    MissingMap(&'static str),
    #[error("pinning map {name} at {path}: {source}")]
    Pin { name: &'static str, path: PathBuf, source: aya::pin::PinError },
    #[error("bpffs at {path}: {source}")]
    Bpffs { path: PathBuf, source: io::Error },
    #[error("detaching XDP: {0}")]
    Link(#[from] LinkError),
    #[error("XDP in {mode:?} mode on {iface}: {reason}")]
    Unsupported { iface: String, mode: XdpMode, reason: &'static str },
    #[error(
        "{iface} already runs XDP program id {prog_id}, which is not this agent's (no pinned link of ours in {pins}){hint}; \
         refusing to replace it: detach it (`ip link set dev {iface} xdp off`) or run with --force-xdp"
    )]
    ForeignProgram { iface: String, prog_id: u32, pins: PathBuf, hint: &'static str },
    #[error("pinning the XDP link of {iface} at {path}: {source}")]
    PinLink { iface: String, path: PathBuf, source: aya::pin::PinError },
    #[error("tracefs at {path}: {source}")]
    Tracefs { path: PathBuf, source: io::Error },
    #[error(
        "{path}: field {field} is at (offset, size) {found:?}, the process-event programs read it at {expected:?}; \
         vrrp_track_process cannot work on this kernel"
    )]
    TracepointFormat { path: PathBuf, field: &'static str, expected: (usize, usize), found: Option<(usize, usize)> },
}

/// How to attach to one interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    Native,
    Skb,
    /// Try native, fall back to generic.
    NativeThenSkb,
}

/// Which XDP mode can attribute frames to this interface, by rtnetlink link kind. What the
/// kernel does (net/core/dev.c, drivers/net/bonding, net/8021q):
/// - bond, native: the bond installs the program on each member and it runs in the member's
///   driver, so `ingress_ifindex` is the member's: adverts would be looked up under the wrong
///   key (counted `unknown_vrid` and passed), never reaching the election. Refused; generic
///   mode runs after the bond's rx handler, on the bond, with the bond's ifindex.
/// - vlan, native: VLAN devices have no native XDP. Generic mode runs after the tag was
///   removed and the frame handed to the VLAN device: the VLAN's ifindex, untagged frame.
/// - veth: native XDP_TX frames are dropped unless the peer runs XDP too (toolchain.md).
pub fn plan_attach(ifname: &str, kind: Option<&str>, mode: XdpMode) -> Result<Plan, DataplaneError> {
    let refuse = |reason| Err(DataplaneError::Unsupported { iface: ifname.to_string(), mode, reason });
    match (mode, kind) {
        (XdpMode::Native, Some("bond")) => refuse(
            "the kernel runs a bond's native XDP program on each member, with the member's ifindex, so adverts would \
             not be attributed to the bond; use --xdp-mode skb (or auto), which runs on the bond itself",
        ),
        (XdpMode::Native, Some("vlan")) => refuse(
            "VLAN devices have no native XDP; use --xdp-mode skb (or auto): generic XDP sees the VLAN's frames \
             untagged, with the VLAN device's ifindex",
        ),
        (XdpMode::Native, _) => Ok(Plan::Native),
        (XdpMode::Skb, _) => Ok(Plan::Skb),
        (XdpMode::Auto, Some("veth" | "bond" | "vlan")) => Ok(Plan::Skb),
        (XdpMode::Auto, _) => Ok(Plan::NativeThenSkb),
    }
}

fn map_err(name: &'static str) -> impl FnOnce(aya::maps::MapError) -> DataplaneError {
    move |source| DataplaneError::Map { name, source }
}

/// Every map the agent pins, so operators can `bpftool map dump pinned DIR/NAME`, with its
/// key and value sizes: a restarted agent reuses the pins only if this build agrees with
/// them (see [`pinned_layout`]).
const PINNED_LAYOUT: [(&str, usize, usize); 21] = {
    use std::mem::size_of;
    [
        (names::VRID_CONFIG, size_of::<VridKey>(), size_of::<VridConfig>()),
        (names::VRID_ADDR_LIST, size_of::<VridKey>(), size_of::<AddrList>()),
        (names::VRID_ADDRS, size_of::<VridAddrKey>(), size_of::<VridAddr>()),
        (names::VRID_PEERS, size_of::<VridAddrKey>(), size_of::<VridPeer>()),
        (names::ADVERT_RECORD, size_of::<VridKey>(), size_of::<AdvertRecord>()),
        (names::VRID_STATS, size_of::<VridKey>(), size_of::<VridStats>()),
        (names::GLOBAL_STATS, size_of::<u32>(), size_of::<GlobalStats>()),
        (names::OWNED_VIPS, size_of::<VipKey>(), size_of::<VipValue>()),
        (names::INSTANCE_STATUS, size_of::<VridKey>(), size_of::<InstanceStatus>()),
        (names::TRACKER_STATUS, size_of::<TrackerKey>(), size_of::<TrackerStatus>()),
        (names::INSTANCE_PRIORITY, size_of::<VridKey>(), size_of::<InstancePriority>()),
        (names::AGENT_LEASE, size_of::<u32>(), size_of::<AgentLease>()),
        (names::FENCED_VIPS, size_of::<VipKey>(), size_of::<VipValue>()),
        (names::INSTANCE_STATS, size_of::<VridKey>(), size_of::<InstanceStats>()),
        (names::VRID_DROPS, size_of::<VridKey>(), size_of::<VridDrops>()),
        (names::TRACE_CONTROL, size_of::<u32>(), size_of::<u32>()),
        (names::VRID_ADDRS_V6, size_of::<VridAddrKeyV6>(), size_of::<VridAddr>()),
        (names::VRID_PEERS_V6, size_of::<VridAddrKeyV6>(), size_of::<VridPeer>()),
        (names::VRID_ADDR_LIST_V6, size_of::<VridKey>(), size_of::<AddrListV6>()),
        (names::OWNED_VIPS_V6, size_of::<VipKeyV6>(), size_of::<VipValue>()),
        (names::FENCED_VIPS_V6, size_of::<VipKeyV6>(), size_of::<VipValue>()),
    ]
};
const PINNED: [&str; PINNED_LAYOUT.len()] = {
    let mut out = [""; PINNED_LAYOUT.len()];
    let mut i = 0;
    while i < out.len() {
        out[i] = PINNED_LAYOUT[i].0;
        i += 1;
    }
    out
};

/// The pin of the XDP link on interface `ifname`, in the agent's bpffs directory. The link is
/// pinned so the program outlives the agent (the fence needs it; a restarted agent adopts it).
pub fn link_pin(dir: &Path, ifname: &str) -> PathBuf {
    dir.join(format!("{}{ifname}", names::XDP_LINK_PREFIX))
}

/// Whether the maps pinned in `dir` have this build's key and value sizes (`Err` names the
/// first that does not). A missing pin is fine: it is created.
pub fn pinned_layout(dir: &Path) -> Result<(), String> {
    for (name, key, value) in PINNED_LAYOUT {
        let path = dir.join(name);
        if !path.exists() {
            continue;
        }
        let info = MapInfo::from_pin(&path).map_err(|e| format!("{name}: {e}"))?;
        if info.key_size() as usize != key || info.value_size() as usize != value {
            return Err(format!(
                "{name}: key/value {}/{} bytes pinned, {key}/{value} in this build",
                info.key_size(),
                info.value_size()
            ));
        }
    }
    Ok(())
}

/// What an earlier agent left in the bpffs directory, read before this one loads.
#[derive(Debug)]
pub struct PriorPins {
    pub lease: Option<AgentLease>,
    pub statuses: Vec<(VridKey, InstanceStatus)>,
    /// The VIPs it answered for (`OWNED_VIPS` and `OWNED_VIPS_V6`): (ifindex, address).
    pub owned: Vec<(u32, IpAddr)>,
    /// [`pinned_layout`].
    pub layout: Result<(), String>,
}

/// Reads the lease, the instances' published status and the owned VIPs (both families)
/// pinned in `dir`.
pub fn read_prior_pins(dir: &Path) -> PriorPins {
    let lease = open_pinned(dir, names::AGENT_LEASE)
        .ok()
        .and_then(|m| Array::<_, AgentLease>::try_from(m).ok())
        .and_then(|a| a.get(&0, 0).ok());
    let statuses = open_pinned(dir, names::INSTANCE_STATUS)
        .ok()
        .and_then(|m| HashMap::<_, VridKey, InstanceStatus>::try_from(m).ok())
        .map(|h| h.iter().filter_map(Result::ok).collect())
        .unwrap_or_default();
    let mut owned: Vec<(u32, IpAddr)> = open_pinned(dir, names::OWNED_VIPS)
        .ok()
        .and_then(|m| HashMap::<_, VipKey, VipValue>::try_from(m).ok())
        .map(|h| h.keys().filter_map(Result::ok).map(|k| (k.ifindex, IpAddr::from(k.addr_v4))).collect())
        .unwrap_or_default();
    // IPv6 ones too: an instance removed by the new configuration leaves nothing behind.
    owned.extend(
        open_pinned(dir, names::OWNED_VIPS_V6)
            .ok()
            .and_then(|m| HashMap::<_, VipKeyV6, VipValue>::try_from(m).ok())
            .map(|h| h.keys().filter_map(Result::ok).map(|k| (k.ifindex, IpAddr::from(k.addr_v6))).collect::<Vec<_>>())
            .unwrap_or_default(),
    );
    PriorPins { lease, statuses, owned, layout: pinned_layout(dir) }
}

/// An XDP attachment: pinned (the agent's, in its bpffs directory) or held only by the
/// program (a load without pins).
enum Attachment {
    Pinned(FdLink),
    Owned(XdpLinkId),
}

pub struct Dataplane {
    ebpf: Ebpf,
    pin_dir: Option<PathBuf>,
    config: HashMap<MapData, VridKey, VridConfig>,
    records: HashMap<MapData, VridKey, AdvertRecord>,
    vrid_stats: PerCpuHashMap<MapData, VridKey, VridStats>,
    global_stats: PerCpuArray<MapData, GlobalStats>,
    vips: HashMap<MapData, VipKey, VipValue>,
    fenced_vips: HashMap<MapData, VipKey, VipValue>,
    status: HashMap<MapData, VridKey, InstanceStatus>,
    trackers: HashMap<MapData, TrackerKey, TrackerStatus>,
    priorities: HashMap<MapData, VridKey, InstancePriority>,
    addrs: HashMap<MapData, VridAddrKey, VridAddr>,
    peers: HashMap<MapData, VridAddrKey, VridPeer>,
    addr_lists: HashMap<MapData, VridKey, AddrList>,
    addrs_v6: HashMap<MapData, VridAddrKeyV6, VridAddr>,
    peers_v6: HashMap<MapData, VridAddrKeyV6, VridPeer>,
    addr_lists_v6: HashMap<MapData, VridKey, AddrListV6>,
    vips_v6: HashMap<MapData, VipKeyV6, VipValue>,
    fenced_vips_v6: HashMap<MapData, VipKeyV6, VipValue>,
    events: Option<RingBuf<MapData>>,
    conflicts: Option<RingBuf<MapData>>,
    instance_stats: HashMap<MapData, VridKey, InstanceStats>,
    vrid_drops: PerCpuHashMap<MapData, VridKey, VridDrops>,
    trace: Option<RingBuf<MapData>>,
    trace_control: Array<MapData, u32>,
    logger: Option<aya_log::EbpfLogger<&'static dyn log::Log>>,
    attached: BTreeMap<u32, (String, Attachment, Option<XdpMode>)>,
    lease: Array<MapData, AgentLease>,
    fence_after_ns: u64,
}

/// Log level patched into the program before load (aya-log's `AYA_LOG_LEVEL`): statements
/// above it are dead code the verifier removes, so the fast path pays nothing for them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum KernelLogLevel {
    Off,
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

impl KernelLogLevel {
    fn as_u8(self) -> u8 {
        match self {
            KernelLogLevel::Off => 0,
            KernelLogLevel::Error => 1,
            KernelLogLevel::Warn => 2,
            KernelLogLevel::Info => 3,
            KernelLogLevel::Debug => 4,
            KernelLogLevel::Trace => 5,
        }
    }
}

/// Makes sure `dir` is on a bpf filesystem (mounting one there if it is not) and exists.
pub fn ensure_bpffs(dir: &Path) -> Result<(), DataplaneError> {
    let err = |source| DataplaneError::Bpffs { path: dir.to_path_buf(), source };
    std::fs::create_dir_all(dir).map_err(err)?;
    if is_bpffs(dir).map_err(err)? {
        return Ok(());
    }
    nix::mount::mount(Some("bpf"), dir, Some("bpf"), nix::mount::MsFlags::empty(), None::<&str>)
        .map_err(|e| err(io::Error::from(e)))?;
    tracing::info!("mounted bpffs at {}", dir.display());
    Ok(())
}

pub fn is_bpffs(dir: &Path) -> io::Result<bool> {
    let st = nix::sys::statfs::statfs(dir)?;
    Ok(st.filesystem_type() == nix::sys::statfs::BPF_FS_MAGIC)
}

impl Dataplane {
    /// Loads the program and pins its maps under `pin_dir` (replacing stale pins of an agent
    /// that died without cleaning up).
    pub fn load(pin_dir: &Path, log_level: KernelLogLevel) -> Result<Self, DataplaneError> {
        Self::load_with(pin_dir, log_level, false)
    }

    /// [`Dataplane::load`]; with `adopt`, the maps an earlier agent pinned under `pin_dir` are
    /// reused as they are (its owned VIPs, advert records, status and counters survive) and
    /// only the missing ones are created (a hitless restart, see [`lease`]).
    pub fn load_with(pin_dir: &Path, log_level: KernelLogLevel, adopt: bool) -> Result<Self, DataplaneError> {
        ensure_bpffs(pin_dir)?;
        Self::load_inner(Some(pin_dir), log_level, adopt)
    }

    /// Loads the program without pinning or attaching anything: for BPF_PROG_TEST_RUN in
    /// tests and benchmarks.
    pub fn load_unpinned(log_level: KernelLogLevel) -> Result<Self, DataplaneError> {
        Self::load_inner(None, log_level, false)
    }

    fn load_inner(pin_dir: Option<&Path>, log_level: KernelLogLevel, adopt: bool) -> Result<Self, DataplaneError> {
        let level = log_level.as_u8();
        let mut loader = EbpfLoader::new();
        loader.override_global("AYA_LOG_LEVEL", &level, true);
        let reuse: Vec<(&'static str, PathBuf)> = match pin_dir {
            Some(dir) if adopt => PINNED.iter().map(|n| (*n, dir.join(n))).collect(),
            _ => Vec::new(),
        };
        for (name, path) in &reuse {
            // Opened if pinned, else created and pinned there.
            loader.map_pin_path(name, path.as_path());
        }
        let mut ebpf = loader.load(EBPF_OBJECT)?;
        let logger = match aya_log::EbpfLogger::init(&mut ebpf) {
            Ok(l) => Some(l),
            Err(e) => {
                tracing::debug!("kernel-side logging unavailable: {e}");
                None
            }
        };
        for name in [names::PROGRAM, names::PASS_PROGRAM] {
            let prog: &mut Xdp = ebpf
                .program_mut(name)
                .ok_or(DataplaneError::MissingMap(names::PROGRAM))?
                .try_into()?;
            load_retrying(name, || prog.load())?;
        }
        for name in PINNED.iter().copied().filter(|_| pin_dir.is_some() && !adopt) {
            let path = pin_dir.map(|d| d.join(name)).unwrap_or_default();
            if path.exists() {
                let _ = std::fs::remove_file(&path);
            }
            let map = ebpf.map(name).ok_or(DataplaneError::MissingMap(name))?;
            map.pin(&path).map_err(|source| DataplaneError::Pin { name, path: path.clone(), source })?;
        }
        let mut take = |name: &'static str| ebpf.take_map(name).ok_or(DataplaneError::MissingMap(name));
        let config = HashMap::try_from(take(names::VRID_CONFIG)?).map_err(map_err(names::VRID_CONFIG))?;
        let records = HashMap::try_from(take(names::ADVERT_RECORD)?).map_err(map_err(names::ADVERT_RECORD))?;
        let vrid_stats = PerCpuHashMap::try_from(take(names::VRID_STATS)?).map_err(map_err(names::VRID_STATS))?;
        let global_stats = PerCpuArray::try_from(take(names::GLOBAL_STATS)?).map_err(map_err(names::GLOBAL_STATS))?;
        let vips = HashMap::try_from(take(names::OWNED_VIPS)?).map_err(map_err(names::OWNED_VIPS))?;
        let fenced_vips = HashMap::try_from(take(names::FENCED_VIPS)?).map_err(map_err(names::FENCED_VIPS))?;
        let status = HashMap::try_from(take(names::INSTANCE_STATUS)?).map_err(map_err(names::INSTANCE_STATUS))?;
        let trackers = HashMap::try_from(take(names::TRACKER_STATUS)?).map_err(map_err(names::TRACKER_STATUS))?;
        let priorities =
            HashMap::try_from(take(names::INSTANCE_PRIORITY)?).map_err(map_err(names::INSTANCE_PRIORITY))?;
        let addrs = HashMap::try_from(take(names::VRID_ADDRS)?).map_err(map_err(names::VRID_ADDRS))?;
        let peers = HashMap::try_from(take(names::VRID_PEERS)?).map_err(map_err(names::VRID_PEERS))?;
        let addr_lists = HashMap::try_from(take(names::VRID_ADDR_LIST)?).map_err(map_err(names::VRID_ADDR_LIST))?;
        let addrs_v6 = HashMap::try_from(take(names::VRID_ADDRS_V6)?).map_err(map_err(names::VRID_ADDRS_V6))?;
        let peers_v6 = HashMap::try_from(take(names::VRID_PEERS_V6)?).map_err(map_err(names::VRID_PEERS_V6))?;
        let addr_lists_v6 =
            HashMap::try_from(take(names::VRID_ADDR_LIST_V6)?).map_err(map_err(names::VRID_ADDR_LIST_V6))?;
        let vips_v6 = HashMap::try_from(take(names::OWNED_VIPS_V6)?).map_err(map_err(names::OWNED_VIPS_V6))?;
        let fenced_vips_v6 = HashMap::try_from(take(names::FENCED_VIPS_V6)?).map_err(map_err(names::FENCED_VIPS_V6))?;
        let events = RingBuf::try_from(take(names::EVENTS)?).map_err(map_err(names::EVENTS))?;
        let conflicts = RingBuf::try_from(take(names::VIP_CONFLICTS)?).map_err(map_err(names::VIP_CONFLICTS))?;
        let instance_stats = HashMap::try_from(take(names::INSTANCE_STATS)?).map_err(map_err(names::INSTANCE_STATS))?;
        let vrid_drops = PerCpuHashMap::try_from(take(names::VRID_DROPS)?).map_err(map_err(names::VRID_DROPS))?;
        let trace = RingBuf::try_from(take(names::TRACE_EVENTS)?).map_err(map_err(names::TRACE_EVENTS))?;
        let trace_control = Array::try_from(take(names::TRACE_CONTROL)?).map_err(map_err(names::TRACE_CONTROL))?;
        let lease = Array::try_from(take(names::AGENT_LEASE)?).map_err(map_err(names::AGENT_LEASE))?;
        Ok(Dataplane {
            ebpf,
            pin_dir: pin_dir.map(Path::to_path_buf),
            config,
            records,
            vrid_stats,
            global_stats,
            vips,
            fenced_vips,
            status,
            trackers,
            priorities,
            addrs,
            peers,
            addr_lists,
            addrs_v6,
            peers_v6,
            addr_lists_v6,
            vips_v6,
            fenced_vips_v6,
            events: Some(events),
            conflicts: Some(conflicts),
            instance_stats,
            vrid_drops,
            trace: Some(trace),
            trace_control,
            logger,
            attached: BTreeMap::new(),
            lease,
            fence_after_ns: 0,
        })
    }

    /// The age after which the lease is stale (written with every renewal).
    pub fn set_fence_after(&mut self, fence_after_ns: u64) {
        self.fence_after_ns = fence_after_ns;
    }

    /// Renews the lease: the XDP program answers for the owned VIPs while the last renewal
    /// is at most `fence_after_ns` old.
    pub fn renew_lease(&mut self, now_ns: u64) -> Result<(), DataplaneError> {
        let value = lease::lease_at(now_ns, self.fence_after_ns, std::process::id());
        self.lease.set(0, value, 0).map_err(map_err(names::AGENT_LEASE))
    }

    /// The lease as it is now in the map.
    pub fn lease(&self) -> Option<AgentLease> {
        self.lease.get(&0, 0).ok()
    }

    /// The VIPs XDP answers for now.
    pub fn owned_vips(&self) -> Vec<(VipKey, VipValue)> {
        self.vips.iter().filter_map(Result::ok).collect()
    }

    /// The id of the program behind the pinned link of ours on `ifname`, if there is one.
    pub fn our_pinned_program(&self, ifname: &str) -> Option<u32> {
        let dir = self.pin_dir.as_ref()?;
        let link = PinnedLink::from_pin(link_pin(dir, ifname)).ok()?;
        FdLink::from(link).info().ok().map(|i| i.program_id())
    }

    /// Whether the XDP program `prog_id` found on `ifname` is somebody else's: not behind
    /// our pinned link there, and not attached by this agent.
    pub fn is_foreign_program(&self, ifname: &str, ifindex: u32, prog_id: u32) -> bool {
        if self.attached.contains_key(&ifindex) {
            return false;
        }
        self.our_pinned_program(ifname) != Some(prog_id)
    }

    /// The error for a foreign program on an interface.
    pub fn foreign_program_error(&self, ifname: &str, prog_id: u32) -> DataplaneError {
        let name = aya::programs::loaded_programs()
            .filter_map(Result::ok)
            .find(|p| p.id() == prog_id)
            .and_then(|p| p.name_as_str().map(str::to_string))
            .unwrap_or_default();
        DataplaneError::ForeignProgram {
            iface: ifname.to_string(),
            prog_id,
            pins: self.pin_dir.clone().unwrap_or_default(),
            hint: if name == names::PROGRAM {
                " (it is a vrrp-agent program: another agent's, or one left pinned in another --bpffs directory)"
            } else {
                ""
            },
        }
    }

    /// Puts our program into the link of ours pinned for `ifname`, atomically (the interface
    /// never runs without XDP). `None` if there is no such link or it no longer works (its
    /// interface was deleted); its pin is then removed.
    fn adopt_pinned_link(&mut self, ifname: &str) -> Result<Option<FdLink>, DataplaneError> {
        let Some(dir) = self.pin_dir.clone() else { return Ok(None) };
        let path = link_pin(&dir, ifname);
        if !path.exists() {
            return Ok(None);
        }
        let stale = |path: &Path, why: String| {
            tracing::info!(iface = ifname, "removing the stale XDP link pin {} ({why})", path.display());
            let _ = std::fs::remove_file(path);
            Ok(None)
        };
        let link = match PinnedLink::from_pin(&path) {
            Ok(l) => FdLink::from(l),
            Err(e) => return stale(&path, e.to_string()),
        };
        let xdp_link = match XdpLink::try_from(link) {
            Ok(l) => l,
            Err(e) => return stale(&path, e.to_string()),
        };
        let prog: &mut Xdp = self
            .ebpf
            .program_mut(names::PROGRAM)
            .ok_or(DataplaneError::MissingMap(names::PROGRAM))?
            .try_into()?;
        let id = match prog.attach_to_link(xdp_link) {
            Ok(id) => id,
            Err(e) => return stale(&path, e.to_string()),
        };
        let link = prog.take_link(id)?;
        // Still pinned at `path`: this fd is one more reference to it.
        Ok(Some(FdLink::try_from(link)?))
    }

    /// Attaches the XDP program to an interface. `kind` is the rtnetlink link kind; see
    /// [`plan_attach`] for the modes each kind allows and what `auto` picks (generic on veth,
    /// bond and VLAN devices; elsewhere native first, falling back to generic). `vlans` are
    /// the VLAN devices stacked on the interface: frames of those VLANs whose tag travels out
    /// of band (NIC VLAN stripping; always on veth) reach XDP on this interface untagged.
    pub fn attach(&mut self, ifname: &str, ifindex: u32, kind: Option<&str>, mode: XdpMode, vlans: &[String]) -> Result<XdpMode, DataplaneError> {
        if let Some((_, _, m)) = self.attached.get(&ifindex) {
            return Ok(m.unwrap_or(mode));
        }
        let plan = plan_attach(ifname, kind, mode)?;
        if !vlans.is_empty() {
            tracing::warn!(
                iface = ifname,
                "{ifname} carries VLANs ({}): when the NIC strips their tags (rx-vlan-offload; always on veth), XDP on \
                 {ifname} sees their frames untagged, as if they arrived on {ifname}, so a VRRP advert for the same VRID \
                 on one of those VLANs would count for the {ifname} instance. Use different VRIDs on {ifname} and its \
                 VLANs, or `ethtool -K {ifname} rxvlan off` on a NIC",
                vlans.join(", ")
            );
        }
        if let Some(link) = self.adopt_pinned_link(ifname)? {
            tracing::info!(iface = ifname, "XDP program replaced in the pinned link (no moment without XDP)");
            self.attached.insert(ifindex, (ifname.to_string(), Attachment::Pinned(link), None));
            return Ok(mode);
        }
        let prog: &mut Xdp = self
            .ebpf
            .program_mut(names::PROGRAM)
            .ok_or(DataplaneError::MissingMap(names::PROGRAM))?
            .try_into()?;
        let (link, used) = match plan {
            Plan::Native => {
                if kind == Some("veth") {
                    tracing::warn!(iface = ifname, "native XDP on a veth: ARP replies (XDP_TX) only leave if the peer also runs an XDP program");
                }
                (prog.attach_to_if_index(ifindex, AyaXdpMode::Driver)?, XdpMode::Native)
            }
            Plan::Skb => (prog.attach_to_if_index(ifindex, AyaXdpMode::Skb)?, XdpMode::Skb),
            Plan::NativeThenSkb => match prog.attach_to_if_index(ifindex, AyaXdpMode::Driver) {
                Ok(link) => (link, XdpMode::Native),
                Err(e) => {
                    tracing::info!(iface = ifname, "native XDP unavailable ({e}); using generic (skb) mode");
                    (prog.attach_to_if_index(ifindex, AyaXdpMode::Skb)?, XdpMode::Skb)
                }
            },
        };
        tracing::info!(iface = ifname, mode = ?used, "XDP program attached");
        let attachment = match &self.pin_dir {
            Some(dir) => {
                // Pinned, so the program outlives the agent: the lease fences it, and a
                // restarted agent adopts it.
                let path = link_pin(dir, ifname);
                let _ = std::fs::remove_file(&path);
                let fd_link = FdLink::try_from(prog.take_link(link)?)?;
                let pinned = fd_link
                    .pin(&path)
                    .map_err(|source| DataplaneError::PinLink { iface: ifname.to_string(), path: path.clone(), source })?;
                Attachment::Pinned(FdLink::from(pinned))
            }
            None => Attachment::Owned(link),
        };
        self.attached.insert(ifindex, (ifname.to_string(), attachment, Some(used)));
        Ok(used)
    }

    /// Detaches from every interface and removes the pins.
    /// Forgets the attachment to an interface that was deleted (its XDP link went with it),
    /// so a re-created interface of the same name is attached afresh.
    pub fn forget_interface(&mut self, ifindex: u32) {
        if let Some((ifname, link, _)) = self.attached.remove(&ifindex) {
            // The kernel dropped the attachment with the interface; this releases aya's
            // handle on it (an error here only says the interface is gone).
            let _ = self.release_attachment(&ifname, link);
            tracing::info!(iface = %ifname, ifindex, "interface gone: XDP attachment forgotten");
        }
    }

    pub fn shutdown(&mut self) {
        for (_, (ifname, link, _)) in std::mem::take(&mut self.attached) {
            match self.release_attachment(&ifname, link) {
                Ok(()) => tracing::info!(iface = %ifname, "XDP program detached"),
                Err(e) => tracing::warn!(iface = %ifname, "detaching XDP: {e}"),
            }
        }
        if let Some(dir) = self.pin_dir.take() {
            for name in PINNED {
                let _ = std::fs::remove_file(dir.join(name));
            }
            let _ = std::fs::remove_dir(&dir);
        }
    }

    /// Detaches one attachment: a pinned link loses its pin and, with our fd closed, its
    /// last reference.
    fn release_attachment(&mut self, ifname: &str, link: Attachment) -> Result<(), ProgramError> {
        match link {
            Attachment::Pinned(fd_link) => {
                if let Some(dir) = &self.pin_dir {
                    let _ = std::fs::remove_file(link_pin(dir, ifname));
                }
                drop(fd_link);
                Ok(())
            }
            Attachment::Owned(id) => {
                let prog: &mut Xdp = self
                    .ebpf
                    .program_mut(names::PROGRAM)
                    .ok_or(ProgramError::NotLoaded)?
                    .try_into()?;
                prog.detach(id)
            }
        }
    }

    /// Runs the XDP program once on `frame` with BPF_PROG_TEST_RUN, as if it had arrived on
    /// `ifindex` (which must exist in the caller's network namespace; 1 = lo always does).
    /// Returns the XDP action and the frame as the program left it.
    pub fn test_run(&self, frame: &[u8], ifindex: u32) -> Result<(u32, Vec<u8>), DataplaneError> {
        let (action, out, _) = self.test_run_repeat(frame, ifindex, 1)?;
        Ok((action, out))
    }

    /// Like `test_run`, `repeat` times in the kernel; also returns the kernel's mean time per run.
    pub fn test_run_repeat(&self, frame: &[u8], ifindex: u32, repeat: u32) -> Result<(u32, Vec<u8>, std::time::Duration), DataplaneError> {
        self.test_run_program(names::PROGRAM, frame, ifindex, repeat)
    }

    /// `test_run_repeat` for one of the object's programs by name (the pass-through program
    /// is the baseline in benchmarks).
    pub fn test_run_program(&self, program: &'static str, frame: &[u8], ifindex: u32, repeat: u32) -> Result<(u32, Vec<u8>, std::time::Duration), DataplaneError> {
        use aya::programs::{TestRun as _, TestRunOptions};
        let prog: &Xdp = self
            .ebpf
            .program(program)
            .ok_or(DataplaneError::MissingMap(names::PROGRAM))?
            .try_into()?;
        // struct xdp_md { data, data_end, data_meta, ingress_ifindex, rx_queue_index, egress_ifindex }
        let mut md = [0u32; 6];
        md[1] = frame.len() as u32; // data_end: the kernel checks it equals the frame length
        md[3] = ifindex;
        let md_bytes: &[u8] = bytemuck::cast_slice(&md);
        let mut out = vec![0u8; frame.len() + 256];
        let res = prog.test_run(TestRunOptions {
            data_in: Some(frame),
            data_out: Some(&mut out),
            ctx_in: Some(md_bytes),
            repeat,
            ..TestRunOptions::new()
        })?;
        out.truncate(res.data_size_out as usize);
        Ok((res.return_value, out, res.duration))
    }

    /// Drains pending advert events (for tests; the daemon polls the ring buffer with tokio).
    pub fn drain_events(&mut self) -> Vec<AdvertEvent> {
        let mut out = Vec::new();
        if let Some(rb) = self.events.as_mut() {
            while let Some(item) = rb.next() {
                out.extend(parse_event(&item));
            }
        }
        out
    }

    pub fn take_events(&mut self) -> Option<RingBuf<MapData>> {
        self.events.take()
    }

    /// Drains pending VIP conflict reports (for tests; the daemon polls the ring buffer).
    pub fn drain_conflicts(&mut self) -> Vec<VipConflictEvent> {
        let mut out = Vec::new();
        if let Some(rb) = self.conflicts.as_mut() {
            while let Some(item) = rb.next() {
                out.extend(parse_conflict(&item));
            }
        }
        out
    }

    /// The `VIP_CONFLICTS` ring buffer, for the daemon to poll.
    pub fn take_conflicts(&mut self) -> Option<RingBuf<MapData>> {
        self.conflicts.take()
    }

    /// The `TRACE_EVENTS` ring buffer (`vrrp-agent trace on`), for the daemon to poll.
    pub fn take_trace(&mut self) -> Option<RingBuf<MapData>> {
        self.trace.take()
    }

    /// Turns packet tracing on or off (`vrrp-agent trace` does the same through the pin).
    pub fn set_trace(&mut self, on: bool) -> Result<(), DataplaneError> {
        self.trace_control.set(0, u32::from(on), 0).map_err(map_err(names::TRACE_CONTROL))
    }

    /// Drains pending trace reports (for tests; the daemon polls the ring buffer).
    pub fn drain_trace(&mut self) -> Vec<TraceEvent> {
        let mut out = Vec::new();
        if let Some(rb) = self.trace.as_mut() {
            while let Some(item) = rb.next() {
                out.extend(crate::trace::parse(&item));
            }
        }
        out
    }

    /// An instance's dropped adverts by reason, summed over CPUs.
    pub fn vrid_drops(&self, key: &VridKey) -> Option<VridDrops> {
        self.vrid_drops.get(key, 0).ok().map(|v| sum_drops(&v))
    }

    /// Publishes what the agent did for an instance (read by `status`, metrics and the
    /// keepalived dumps); removed with the instance by `forget_vrid`.
    pub fn write_instance_stats(&mut self, key: VridKey, stats: &InstanceStats) -> Result<(), DataplaneError> {
        self.instance_stats.insert(key, stats, 0).map_err(map_err(names::INSTANCE_STATS))
    }

    pub fn take_logger(&mut self) -> Option<aya_log::EbpfLogger<&'static dyn log::Log>> {
        self.logger.take()
    }

    /// Tells the XDP program an instance's state and priority. Unless it is BACKUP, the program
    /// wakes the agent for every accepted advert.
    pub fn set_role(&mut self, key: &VridKey, state: u32, priority: u32) -> Result<(), DataplaneError> {
        let mut c = self.config.get(key, 0).map_err(map_err(names::VRID_CONFIG))?;
        c.state = state;
        c.priority = priority;
        self.config.insert(key, c, 0).map_err(map_err(names::VRID_CONFIG))
    }

    /// Marks a VIP owned: XDP answers ARP for it on `key.ifindex` with `value`'s MAC. Call it
    /// only once the address is really on the interface.
    pub fn own_vip(&mut self, key: VipKey, value: VipValue) -> Result<(), DataplaneError> {
        self.vips.insert(key, value, 0).map_err(map_err(names::OWNED_VIPS))
    }

    /// Registers a configured VIP with the fence: while the lease is stale, ARP requests for
    /// it are dropped whether it is owned or not. Entries stay until the pins are removed (a
    /// stale one only drops, while fenced, requests for an address this host no longer has).
    pub fn fence_vip(&mut self, key: VipKey, value: VipValue) -> Result<(), DataplaneError> {
        self.fenced_vips.insert(key, value, 0).map_err(map_err(names::FENCED_VIPS))
    }

    /// `fence_vip` for an IPv6 VIP: neighbour solicitations for it are dropped while the
    /// lease is stale, owned or not.
    pub fn fence_vip_v6(&mut self, key: VipKeyV6, value: VipValue) -> Result<(), DataplaneError> {
        self.fenced_vips_v6.insert(key, value, 0).map_err(map_err(names::FENCED_VIPS_V6))
    }

    /// `fence_vip` or `fence_vip_v6`, by the address's family.
    pub fn fence_ip(&mut self, ifindex: u32, addr: IpAddr, value: VipValue) -> Result<(), DataplaneError> {
        match addr {
            IpAddr::V4(a) => self.fence_vip(VipKey { ifindex, addr_v4: a.octets() }, value),
            IpAddr::V6(a) => self.fence_vip_v6(VipKeyV6 { ifindex, addr_v6: a.octets() }, value),
        }
    }

    /// Stops answering ARP for a VIP (nothing to do if it was not owned).
    pub fn disown_vip(&mut self, key: &VipKey) {
        let _ = self.vips.remove(key);
    }

    /// Whether XDP answers ARP for this VIP now.
    pub fn owns_vip(&self, key: &VipKey) -> bool {
        self.vips.get(key, 0).is_ok()
    }

    /// Marks an IPv6 VIP owned: XDP answers neighbour solicitations for it on `key.ifindex`
    /// with `value`'s MAC (Router and Override flags set). Call it only once the address is
    /// really on the interface.
    pub fn own_vip_v6(&mut self, key: VipKeyV6, value: VipValue) -> Result<(), DataplaneError> {
        self.vips_v6.insert(key, value, 0).map_err(map_err(names::OWNED_VIPS_V6))
    }

    /// Stops answering neighbour solicitations for an IPv6 VIP (nothing to do if not owned).
    pub fn disown_vip_v6(&mut self, key: &VipKeyV6) {
        let _ = self.vips_v6.remove(key);
    }

    /// Whether XDP answers neighbour solicitations for this IPv6 VIP now.
    pub fn owns_vip_v6(&self, key: &VipKeyV6) -> bool {
        self.vips_v6.get(key, 0).is_ok()
    }

    /// `own_vip` or `own_vip_v6`, by the address's family.
    pub fn own_ip(&mut self, ifindex: u32, addr: IpAddr, value: VipValue) -> Result<(), DataplaneError> {
        match addr {
            IpAddr::V4(a) => self.own_vip(VipKey { ifindex, addr_v4: a.octets() }, value),
            IpAddr::V6(a) => self.own_vip_v6(VipKeyV6 { ifindex, addr_v6: a.octets() }, value),
        }
    }

    /// `disown_vip` or `disown_vip_v6`, by the address's family.
    pub fn disown_ip(&mut self, ifindex: u32, addr: IpAddr) {
        match addr {
            IpAddr::V4(a) => self.disown_vip(&VipKey { ifindex, addr_v4: a.octets() }),
            IpAddr::V6(a) => self.disown_vip_v6(&VipKeyV6 { ifindex, addr_v6: a.octets() }),
        }
    }

    /// `owns_vip` or `owns_vip_v6`, by the address's family.
    pub fn owns_ip(&self, ifindex: u32, addr: IpAddr) -> bool {
        match addr {
            IpAddr::V4(a) => self.owns_vip(&VipKey { ifindex, addr_v4: a.octets() }),
            IpAddr::V6(a) => self.owns_vip_v6(&VipKeyV6 { ifindex, addr_v6: a.octets() }),
        }
    }

    /// Publishes an instance's status (read by `vrrp-agent status` and bpftool).
    pub fn write_status(&mut self, key: VridKey, status: InstanceStatus) -> Result<(), DataplaneError> {
        self.status.insert(key, status, 0).map_err(map_err(names::INSTANCE_STATUS))
    }

    /// Publishes how an instance's effective priority came about (see
    /// `crate::status::publish::instance_priority`); removed with the instance by `forget_vrid`.
    pub fn write_priority(&mut self, key: VridKey, priority: &InstancePriority) -> Result<(), DataplaneError> {
        self.priorities.insert(key, priority, 0).map_err(map_err(names::INSTANCE_PRIORITY))
    }

    /// Publishes one tracker's state and counters (see `crate::status::publish::TrackerLedger`). Fails
    /// only when the kernel refuses, e.g. more than `MAX_TRACKERS` trackers.
    pub fn write_tracker(&mut self, kind: TrackKind, name: &str, status: &TrackerStatus) -> Result<(), DataplaneError> {
        self.trackers.insert(TrackerKey::new(tracker_kind_code(kind), name), status, 0).map_err(map_err(names::TRACKER_STATUS))
    }

    /// Removes a tracker a reload dropped (nothing to do if it was not published).
    pub fn forget_tracker(&mut self, kind: TrackKind, name: &str) {
        let _ = self.trackers.remove(&TrackerKey::new(tracker_kind_code(kind), name));
    }

    /// The published trackers, as (kind, stored name, status): what `status` will show.
    pub fn trackers(&self) -> Vec<(Option<TrackKind>, String, TrackerStatus)> {
        self.trackers
            .iter()
            .filter_map(Result::ok)
            .map(|(k, v)| (tracker_kind_from_code(k.kind), k.name().to_string(), v))
            .collect()
    }

    /// A second handle on one of the maps the receive checks read (the slow path keeps its
    /// own, on the same kernel maps).
    pub fn reopen(&self, name: &'static str) -> Result<aya::maps::Map, DataplaneError> {
        use aya::maps::IterableMap as _;
        let data = match name {
            names::VRID_CONFIG => self.config.map(),
            names::VRID_ADDRS => self.addrs.map(),
            names::VRID_PEERS => self.peers.map(),
            names::VRID_ADDR_LIST => self.addr_lists.map(),
            names::VRID_ADDRS_V6 => self.addrs_v6.map(),
            names::VRID_PEERS_V6 => self.peers_v6.map(),
            names::VRID_ADDR_LIST_V6 => self.addr_lists_v6.map(),
            names::GLOBAL_STATS => self.global_stats.map(),
            names::VRID_STATS => self.vrid_stats.map(),
            _ => return Err(DataplaneError::MissingMap(name)),
        };
        let again = data.info().and_then(|info| MapData::from_id(info.id())).map_err(map_err(name))?;
        aya::maps::Map::from_map_data(again).map_err(map_err(name))
    }

    /// The last accepted advert for an instance, if one was heard.
    pub fn record(&self, key: &VridKey) -> Option<AdvertRecord> {
        self.records.get(key, 0).ok().filter(|r| r.ts_ns != 0)
    }

    /// Configures an instance in the dataplane: its validation settings, a zeroed per-CPU
    /// stats entry and an empty advert record, both updated in place by XDP.
    ///
    /// Returns the record's first sequence number. Sequence numbers are never reused for a
    /// key, even when an instance is restarted (a reload, a re-created interface with the same
    /// ifindex): they start at the current CLOCK_MONOTONIC time in ns, above any number handed
    /// out before (at most one per accepted advert since an earlier, smaller start), so events
    /// of an earlier incarnation still in the ring buffer are recognised as older and skipped.
    pub fn init_vrid(&mut self, key: VridKey, config: VridConfig) -> Result<u64, DataplaneError> {
        // An adopted instance keeps the counters the earlier agent's program kept.
        if self.vrid_stats.get(&key, 0).is_err() {
            self.init_vrid_stats(key)?;
        }
        let seq = crate::clock::now_ns();
        self.records.insert(key, AdvertRecord { seq, ..AdvertRecord::default() }, 0).map_err(map_err(names::ADVERT_RECORD))?;
        self.config.insert(key, config, 0).map_err(map_err(names::VRID_CONFIG))?;
        Ok(seq)
    }

    /// Writes an instance's addresses for the receive checks: `advertised` (our
    /// `virtual_ipaddress`, in advert order; `VridConfig::count_addrs` must be their number),
    /// `excluded` (`virtual_ipaddress_excluded`) and its unicast `peers`. Replaces what was
    /// there for the instance.
    pub fn set_vrid_addrs(&mut self, key: VridKey, advertised: &[[u8; 4]], excluded: &[[u8; 4]], peers: &[[u8; 4]]) -> Result<(), DataplaneError> {
        self.forget_vrid_addrs(&key);
        // The same entries the slow path's RuleTable holds (one function writes both).
        for (k, v) in crate::rx::validate::addr_entries(key, advertised, excluded) {
            self.addrs.insert(k, v, 0).map_err(map_err(names::VRID_ADDRS))?;
        }
        for (k, v) in crate::rx::validate::peer_entries(key, peers) {
            self.peers.insert(k, v, 0).map_err(map_err(names::VRID_PEERS))?;
        }
        self.addr_lists.insert(key, AddrList::new(advertised), 0).map_err(map_err(names::VRID_ADDR_LIST))?;
        Ok(())
    }

    /// `set_vrid_addrs` for an IPv6 instance (`key.family` `AF_INET6`): `advertised` in advert
    /// order (at most `MAX_ADDRS_V6` are compared in order by XDP; all are in `VRID_ADDRS_V6`).
    pub fn set_vrid_addrs_v6(&mut self, key: VridKey, advertised: &[[u8; 16]], excluded: &[[u8; 16]], peers: &[[u8; 16]]) -> Result<(), DataplaneError> {
        self.forget_vrid_addrs(&key);
        for (k, v) in crate::rx::validate::addr_entries_v6(key, advertised, excluded) {
            self.addrs_v6.insert(k, v, 0).map_err(map_err(names::VRID_ADDRS_V6))?;
        }
        for (k, v) in crate::rx::validate::peer_entries_v6(key, peers) {
            self.peers_v6.insert(k, v, 0).map_err(map_err(names::VRID_PEERS_V6))?;
        }
        self.addr_lists_v6.insert(key, AddrListV6::new(advertised), 0).map_err(map_err(names::VRID_ADDR_LIST_V6))?;
        Ok(())
    }

    /// Writes an instance's addresses for the receive checks, of its family (`key.family`):
    /// what `set_vrid_addrs` or `set_vrid_addrs_v6` write. `VridConfig::count_addrs` must be
    /// `rules.count_addrs_of(key.family)`.
    pub fn set_instance_addrs(&mut self, key: VridKey, rules: &crate::rx::InstanceRules) -> Result<(), DataplaneError> {
        if key.family == vrrp_common::AF_INET6 {
            self.set_vrid_addrs_v6(key, &rules.advertised_v6, &rules.excluded_v6, &rules.peers_v6)
        } else {
            self.set_vrid_addrs(key, &rules.advertised, &rules.excluded, &rules.peers)
        }
    }

    fn forget_vrid_addrs(&mut self, key: &VridKey) {
        let same6 = |k: &VridAddrKeyV6| k.ifindex == key.ifindex && k.vrid == key.vrid && k.family == key.family;
        let addrs: Vec<VridAddrKeyV6> = self.addrs_v6.keys().filter_map(Result::ok).filter(same6).collect();
        for k in addrs {
            let _ = self.addrs_v6.remove(&k);
        }
        let peers: Vec<VridAddrKeyV6> = self.peers_v6.keys().filter_map(Result::ok).filter(same6).collect();
        for k in peers {
            let _ = self.peers_v6.remove(&k);
        }
        let _ = self.addr_lists_v6.remove(key);
        let same = |k: &VridAddrKey| k.ifindex == key.ifindex && k.vrid == key.vrid && k.family == key.family;
        let addrs: Vec<VridAddrKey> = self.addrs.keys().filter_map(Result::ok).filter(same).collect();
        for k in addrs {
            let _ = self.addrs.remove(&k);
        }
        let peers: Vec<VridAddrKey> = self.peers.keys().filter_map(Result::ok).filter(same).collect();
        for k in peers {
            let _ = self.peers.remove(&k);
        }
        let _ = self.addr_lists.remove(key);
    }

    pub fn global_stats(&self) -> Option<GlobalStats> {
        self.global_stats.get(&0, 0).ok().map(|v| sum_global(&v))
    }

    pub fn vrid_stats(&self, key: &VridKey) -> Option<VridStats> {
        self.vrid_stats.get(key, 0).ok().map(|v| sum_vrid(&v))
    }

    /// Removes an instance from the dataplane (XDP then passes its adverts as an unknown VRID).
    pub fn forget_vrid(&mut self, key: &VridKey) {
        let _ = self.config.remove(key);
        let _ = self.records.remove(key);
        let _ = self.vrid_stats.remove(key);
        let _ = self.status.remove(key);
        let _ = self.priorities.remove(key);
        let _ = self.instance_stats.remove(key);
        let _ = self.vrid_drops.remove(key);
        self.forget_vrid_addrs(key);
    }

    /// Creates the zeroed per-CPU stats entry XDP updates in place.
    fn init_vrid_stats(&mut self, key: VridKey) -> Result<(), DataplaneError> {
        let n = aya::util::nr_cpus().map_err(|(_, e)| DataplaneError::Bpffs { path: "/sys/devices/system/cpu/possible".into(), source: e })?;
        let zero = PerCpuValues::try_from(vec![VridStats::default(); n])
            .map_err(|source| DataplaneError::Bpffs { path: "/sys/devices/system/cpu/possible".into(), source })?;
        self.vrid_stats.insert(key, zero, 0).map_err(map_err(names::VRID_STATS))?;
        let zero = PerCpuValues::try_from(vec![VridDrops::default(); n])
            .map_err(|source| DataplaneError::Bpffs { path: "/sys/devices/system/cpu/possible".into(), source })?;
        self.vrid_drops.insert(key, zero, 0).map_err(map_err(names::VRID_DROPS))
    }
}

/// `TrackKind` as stored in `TrackerKey::kind` (`vrrp_common::tracker_kind`).
pub fn tracker_kind_code(kind: TrackKind) -> u32 {
    match kind {
        TrackKind::Interface => tracker_kind::INTERFACE,
        TrackKind::Script => tracker_kind::SCRIPT,
        TrackKind::File => tracker_kind::FILE,
        TrackKind::Process => tracker_kind::PROCESS,
    }
}

/// The inverse of [`tracker_kind_code`] (`None` for a code this build does not know).
pub fn tracker_kind_from_code(code: u32) -> Option<TrackKind> {
    match code {
        tracker_kind::INTERFACE => Some(TrackKind::Interface),
        tracker_kind::SCRIPT => Some(TrackKind::Script),
        tracker_kind::FILE => Some(TrackKind::File),
        tracker_kind::PROCESS => Some(TrackKind::Process),
        _ => None,
    }
}

pub fn sum_vrid(values: &PerCpuValues<VridStats>) -> VridStats {
    values.iter().fold(VridStats::default(), |mut acc, v| {
        acc.rx += v.rx;
        acc.accepted += v.accepted;
        acc.v3_csum_pseudo += v.v3_csum_pseudo;
        acc.v3_csum_plain += v.v3_csum_plain;
        acc.events += v.events;
        acc.dropped += v.dropped;
        acc.arp_replies += v.arp_replies;
        acc.interval_mismatch += v.interval_mismatch;
        acc.vip_conflict += v.vip_conflict;
        acc.na_replies += v.na_replies;
        acc
    })
}

pub fn sum_drops(values: &PerCpuValues<VridDrops>) -> VridDrops {
    values.iter().fold(VridDrops::default(), |mut acc, v| {
        for (a, x) in acc.counts.iter_mut().zip(v.counts) {
            *a += x;
        }
        acc
    })
}

pub fn sum_global(values: &PerCpuValues<GlobalStats>) -> GlobalStats {
    // Every field is a u64 counter: sum them as a slice of u64s.
    let mut acc = GlobalStats::default();
    for v in values.iter() {
        let sum = bytemuck::cast_slice_mut::<GlobalStats, u64>(std::slice::from_mut(&mut acc));
        for (a, x) in sum.iter_mut().zip(bytemuck::cast_slice::<GlobalStats, u64>(std::slice::from_ref(v))) {
            *a += x;
        }
    }
    acc
}

/// Opens a pinned map of this agent (for `status`).
pub fn open_pinned(dir: &Path, name: &str) -> Result<Map, aya::maps::MapError> {
    let data = MapData::from_pin(dir.join(name))?;
    Map::from_map_data(data)
}

impl Drop for Dataplane {
    fn drop(&mut self) {
        if !self.attached.is_empty() || self.pin_dir.is_some() {
            self.shutdown();
        }
    }
}

/// Decodes one `VIP_CONFLICTS` ring buffer item.
pub fn parse_conflict(bytes: &[u8]) -> Option<VipConflictEvent> {
    bytemuck::try_pod_read_unaligned(bytes.get(..std::mem::size_of::<VipConflictEvent>())?).ok()
}

/// Decodes one ring buffer item.
pub fn parse_event(bytes: &[u8]) -> Option<AdvertEvent> {
    bytemuck::try_pod_read_unaligned(bytes.get(..std::mem::size_of::<AdvertEvent>())?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attach_modes_by_interface_kind() {
        let plan = |kind, mode| plan_attach("x0", kind, mode).map_err(|e| e.to_string());
        assert_eq!(plan(Some("bond"), XdpMode::Auto), Ok(Plan::Skb));
        assert_eq!(plan(Some("vlan"), XdpMode::Auto), Ok(Plan::Skb));
        assert_eq!(plan(Some("veth"), XdpMode::Auto), Ok(Plan::Skb));
        assert_eq!(plan(None, XdpMode::Auto), Ok(Plan::NativeThenSkb));
        assert_eq!(plan(Some("bond"), XdpMode::Skb), Ok(Plan::Skb));
        assert_eq!(plan(Some("veth"), XdpMode::Native), Ok(Plan::Native));
        let bond = plan(Some("bond"), XdpMode::Native).expect_err("refused");
        assert!(bond.starts_with("XDP in Native mode on x0: the kernel runs a bond's native XDP program on each member"), "{bond}");
        let vlan = plan(Some("vlan"), XdpMode::Native).expect_err("refused");
        assert!(vlan.contains("VLAN devices have no native XDP"), "{vlan}");
    }
}
