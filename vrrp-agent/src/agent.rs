//! The daemon: drives one sans-IO `fsm::Instance` per configured VRRP instance with the
//! real world around it (XDP records and events, timers, rtnetlink, raw sockets, signals).
//!
//! Steady state costs nothing per received advert: the XDP program records the last accepted
//! advert per VRID and only pushes an event when an advert can change a decision. The agent
//! wakes on its own deadlines; before acting on one it reads the instance's record, so an
//! advert that arrived since is taken into account with its kernel receive time.
use std::{
    net::{IpAddr, Ipv4Addr},
    path::PathBuf,
    time::Duration,
};

use anyhow::{Context as _, bail};
use tokio::{io::unix::AsyncFd, signal::unix::SignalKind};
use tracing::{Instrument as _, debug, error, info, warn};
use vrrp_common::{AF_INET, InstanceStatus, VipKey, VipValue, VridConfig, VridKey, flags, state};

use crate::{
    clock::Deadline,
    rx::socket::SlowPath,
    config,
    dataplane::{self, Dataplane, KernelLogLevel, XdpMode},
    core::fsm::{self, Action, State},
    net::netlink::{LinkEvents, LinkInfo, Netlink, Vip},
    notify::{Notifier, NotifyState, Scripts},
    net::tx::Sender,
    wire::{arp, vrrp},
};

pub use crate::clock::now_ns;

#[derive(Debug, Clone)]
pub struct RunOptions {
    pub config: PathBuf,
    pub config_id: Option<String>,
    pub bpffs: PathBuf,
    pub xdp_mode: XdpMode,
    pub kernel_log: KernelLogLevel,
    /// How long a notify script may run before it is killed.
    pub notify_timeout: Duration,
}

/// One running VRRP instance and what it needs to act.
struct Vrrp {
    cfg: config::Instance,
    key: VridKey,
    link: LinkInfo,
    primary: Ipv4Addr,
    fsm: fsm::Instance,
    vips: Vec<OwnedVip>,
    sender: usize,
    scripts: Scripts,
    auth: vrrp::Auth,
    checksum: vrrp::ChecksumMode,
    /// Kernel timestamp of the newest advert already given to the FSM.
    last_fed_ts: u64,
    /// The interface disappeared (deleted): when one of that name is back, it is a new one.
    link_gone: bool,
    /// Retired by a reload and handing over: what to do once stopped.
    pending: Option<Pending>,
    /// Sequence number of the last ring-buffer event given to the FSM: events are applied
    /// in this order, and an event is never skipped because of a record read.
    last_seq: Option<u64>,
    /// (source, priority, interval) of the last event: a record read that matches it only
    /// says "the same master is still there" and may refresh the timer.
    known: Option<([u8; 4], u32, u32)>,
    master: Option<Ipv4Addr>,
    transitions: u32,
    last_transition_ns: u64,
    owns_vips: bool,
    /// A GARP burst spaced by vrrp_garp_interval, running on its own so it delays nothing.
    garp_task: Option<tokio::task::JoinHandle<()>>,
    span: tracing::Span,
}

/// A VIP as the instance owns it: on which device, sent out of which sender, advertised or
/// excluded (virtual_ipaddress_excluded).
struct OwnedVip {
    vip: Vip,
    link: LinkInfo,
    sender: usize,
    advertised: bool,
}

/// The sender for a device, opened on first use. `primary` joins the VRRP multicast group
/// (only the instance's own interface needs it).
fn sender_for(ctx: &mut Ctx, link: &LinkInfo, primary: Option<Ipv4Addr>) -> anyhow::Result<usize> {
    // By name and index: a re-created interface of the same name needs new sockets.
    if let Some(i) = ctx.senders.iter().position(|s| s.ifname() == link.name && s.ifindex() == link.index) {
        if let Some(p) = primary {
            ctx.senders[i].join_vrrp_group(p);
        }
        return Ok(i);
    }
    let s = Sender::new(&link.name, link.index).with_context(|| format!("opening sockets on {}", link.name))?;
    if let Some(p) = primary {
        s.join_vrrp_group(p);
    }
    ctx.senders.push(std::sync::Arc::new(s));
    Ok(ctx.senders.len() - 1)
}

struct Ctx {
    dp: Dataplane,
    nl: Netlink,
    senders: Vec<std::sync::Arc<Sender>>,
    garp_interval: Duration,
    notifier: Notifier,
    /// Instances waiting in FAULT for their interface to appear (as keepalived starts them).
    waiting: Vec<config::Instance>,
}

/// Loads and checks the config. We never guess a value: an instance whose lines have errors
/// does not run (each is named), and errors outside any instance (an unclosed block, a
/// missing include, a bad global setting), which may hide or change what follows them, stop
/// the whole file.
pub fn load_config(path: &std::path::Path, config_id: Option<String>) -> anyhow::Result<config::Config> {
    let mut loaded = config::load(path, &config::LoadOptions { config_id }).map_err(|e| anyhow::anyhow!("{e}"))?;
    // The same per-instance verdict as `check`.
    crate::verdict::judge(&mut loaded, &crate::verdict::interface_exists);
    for d in &loaded.diagnostics {
        match d.severity {
            config::Severity::Warning => warn!("{d}"),
            _ => error!("{d}"),
        }
    }
    let file_errors = loaded.file_level_errors();
    if file_errors > 0 {
        bail!("{}: {file_errors} error(s) outside any vrrp_instance (see above)", path.display());
    }
    for r in &loaded.config.rejected {
        match r.errors {
            0 => warn!("{}:{}: vrrp_instance {}: not started: not supported yet (see above)", r.file.display(), r.line, r.name),
            n => error!("{}:{}: vrrp_instance {}: not started: {n} error(s) in its configuration (see above)", r.file.display(), r.line, r.name),
        }
    }
    // As `check`: only errors make a file that runs nothing an error.
    if loaded.config.instances.is_empty() && loaded.config.rejected.iter().any(|r| r.errors > 0) {
        bail!("{}: no vrrp_instance without errors", path.display());
    }
    Ok(loaded.config)
}

pub async fn run(opts: RunOptions) -> anyhow::Result<()> {
    let config = load_config(&opts.config, opts.config_id.clone()).context("not starting")?;
    if config.instances.is_empty() {
        warn!("no vrrp_instance in {}: nothing to do", opts.config.display());
    }
    let nl = Netlink::new().context("opening rtnetlink")?;
    let dp = Dataplane::load(&opts.bpffs, opts.kernel_log).context("loading the XDP dataplane")?;
    info!(bpffs = %opts.bpffs.display(), "maps pinned; inspect with `bpftool map dump pinned {}/<MAP>`", opts.bpffs.display());

    let mut ctx = Ctx {
        dp,
        nl,
        senders: Vec::new(),
        garp_interval: Duration::from_millis(u64::from(config.global.vrrp_garp_interval_ms)),
        notifier: Notifier::new(opts.notify_timeout),
        waiting: Vec::new(),
    };
    let mut instances = Vec::new();
    for cfg in &config.instances {
        match setup_instance(&mut ctx, cfg, opts.xdp_mode).await {
            Ok(inst) => instances.push(inst),
            Err(e) => setup_failed(&mut ctx, cfg, &e, false),
        }
    }
    if instances.is_empty() && ctx.waiting.is_empty() && !config.instances.is_empty() {
        ctx.dp.shutdown();
        bail!("{}: no vrrp_instance could be started (see above)", opts.config.display());
    }

    let result = event_loop(&mut ctx, &mut instances, &opts).await;

    // Shutdown (also after an error): priority 0 from masters, VIPs removed, XDP detached.
    let now = now_ns();
    for inst in &mut instances {
        stop_instance(&mut ctx, inst, now).await;
    }
    // notify_stop and `notify ... STOP` were started above: give them a moment.
    ctx.notifier.drain(Duration::from_secs(2)).await;
    ctx.dp.shutdown();
    info!("stopped");
    result
}

/// An instance that could not be set up. One whose interface does not exist (or has no IPv4
/// address yet) waits in FAULT and starts when it appears, as keepalived does; any other
/// failure is named and the instance is not started. `quiet`: it was already waiting.
fn setup_failed(ctx: &mut Ctx, cfg: &config::Instance, e: &anyhow::Error, quiet: bool) {
    let waits = e.chain().any(|c| {
        matches!(
            c.downcast_ref::<crate::net::netlink::NetlinkError>(),
            Some(crate::net::netlink::NetlinkError::NoSuchInterface(_) | crate::net::netlink::NetlinkError::NoPrimaryAddress(_))
        )
    });
    if !waits {
        error!("{}:{}: vrrp_instance {}: {e:#}; not started", cfg.file.display(), cfg.line, cfg.name);
        return;
    }
    if !quiet {
        warn!("{}:{}: vrrp_instance {}: {e:#}", cfg.file.display(), cfg.line, cfg.name);
        info!("({}) Entering FAULT STATE ({e:#}; waiting for it)", cfg.name);
        let scripts = Scripts {
            notify: cfg.notify.clone(),
            master: cfg.notify_master.clone(),
            backup: cfg.notify_backup.clone(),
            fault: cfg.notify_fault.clone(),
            stop: cfg.notify_stop.clone(),
        };
        ctx.notifier.notify(&scripts, &cfg.name, NotifyState::Fault, cfg.priority);
    }
    ctx.waiting.push(cfg.clone());
}

/// Starts the instances waiting for an interface that is now there.
async fn start_waiting(ctx: &mut Ctx, instances: &mut Vec<Vrrp>, mode: XdpMode) {
    for cfg in std::mem::take(&mut ctx.waiting) {
        if !crate::verdict::interfaces(&cfg).into_iter().all(crate::verdict::interface_exists) {
            ctx.waiting.push(cfg);
            continue;
        }
        match setup_instance(ctx, &cfg, mode).await {
            Ok(mut inst) => {
                info!(parent: &inst.span, "({}) interface {} is there: starting the instance", cfg.name, cfg.interface);
                start_instance(ctx, &mut inst).await;
                instances.push(inst);
            }
            Err(e) => setup_failed(ctx, &cfg, &e, true),
        }
    }
}

async fn setup_instance(ctx: &mut Ctx, cfg: &config::Instance, mode: XdpMode) -> anyhow::Result<Vrrp> {
    let span = tracing::info_span!("vrrp", instance = %cfg.name, iface = %cfg.interface, vrid = cfg.vrid);
    let link = ctx.nl.link(&cfg.interface).await?;
    let primary = match cfg.unicast_src_ip {
        Some(IpAddr::V4(a)) => a,
        Some(IpAddr::V6(a)) => bail!("unicast_src_ip {a}: IPv6 instances are not supported yet"),
        None => {
            let all: Vec<IpAddr> = cfg.vips.iter().chain(&cfg.excluded_vips).map(|v| v.addr).collect();
            ctx.nl.primary_ipv4(&link, &all).await?
        }
    };
    let vlans = ctx.nl.vlan_uppers(link.index).await.unwrap_or_default();
    let used = ctx.dp.attach(&link.name, link.index, link.kind.as_deref(), mode, &vlans)?;
    let sender = sender_for(ctx, &link, Some(primary))?;
    // virtual_ipaddress (advertised) and virtual_ipaddress_excluded (owned, not advertised),
    // each on its own device (`dev`, default the instance's interface), where XDP answers ARP.
    let mut vips = Vec::new();
    for (v, advertised) in cfg.vips.iter().map(|v| (v, true)).chain(cfg.excluded_vips.iter().map(|v| (v, false))) {
        if v.addr.is_ipv6() {
            warn!(parent: &span, "{}:{}: IPv6 VIP {} is not supported yet; ignored", cfg.file.display(), v.line, v.addr);
            continue;
        }
        let vlink = match &v.dev {
            Some(dev) if dev != &link.name => ctx
                .nl
                .link(dev)
                .await
                .with_context(|| format!("{}:{}: VIP {} dev {dev}", cfg.file.display(), v.line, v.addr))?,
            _ => link.clone(),
        };
        if vlink.index != link.index {
            let vlans = ctx.nl.vlan_uppers(vlink.index).await.unwrap_or_default();
            ctx.dp.attach(&vlink.name, vlink.index, vlink.kind.as_deref(), mode, &vlans)?;
        }
        let vip = Vip { addr: v.addr, prefix_len: v.prefix_len, label: v.label.clone() };
        // A VIP left behind by an agent that was killed: keepalived removes them at start too.
        if ctx.nl.remove_vip(vlink.index, &vip).await? {
            warn!(parent: &span, "removed VIP {} left on {} by an earlier run", vip.addr, vlink.name);
        }
        let sender = sender_for(ctx, &vlink, None)?;
        vips.push(OwnedVip { vip, advertised, sender, link: vlink });
    }
    if !vips.iter().any(|v| v.advertised) {
        bail!("no usable IPv4 virtual_ipaddress: an advert must carry at least one address");
    }
    let version = if cfg.version == 3 { fsm::Version::V3 } else { fsm::Version::V2 };
    let (auth, pass) = match &cfg.auth {
        Some(config::Auth::Pass(p)) if cfg.version == 2 => (vrrp::Auth::Pass(*p), Some(*p)),
        Some(config::Auth::Ah) if cfg.version == 2 => {
            bail!("auth_type AH is not supported yet (keepalived deprecates it; use PASS or none)")
        }
        Some(_) => {
            warn!(parent: &span, "authentication is a VRRPv2 feature; ignored for version 3 (as keepalived does)");
            (vrrp::Auth::None, None)
        }
        None => (vrrp::Auth::None, None),
    };
    let key = VridKey { ifindex: link.index, vrid: u16::from(cfg.vrid), family: AF_INET };
    let mut vflags = 0;
    if cfg.priority == 255 {
        vflags |= flags::OWNER;
    }
    // What the receive checks compare adverts with (XDP and the slow path read the same maps).
    let rx = crate::rx::InstanceRules::new(cfg, vips.iter().map(|v| (v.vip.addr, v.advertised)));
    let vcfg = VridConfig {
        version: u32::from(cfg.version),
        adver_int_cs: u32::from(cfg.advert_int_cs),
        state: state::INIT,
        flags: vflags | rx.flags,
        priority: u32::from(cfg.priority),
        primary_v4: primary.octets(),
        count_addrs: rx.count_addrs(),
        ..VridConfig::default()
    };
    let vcfg = match pass {
        Some(p) => vcfg.with_pass(p),
        None => vcfg.without_auth(),
    };
    ctx.dp.set_vrid_addrs(key, &rx.advertised, &rx.excluded, &rx.peers).context("writing the VRID's addresses to the dataplane")?;
    let first_seq = ctx.dp.init_vrid(key, vcfg).context("configuring the VRID in the dataplane")?;
    let secs = |s: u32| u64::from(s) * fsm::US_PER_S;
    let params = fsm::Params {
        version,
        priority: cfg.priority,
        advert_int_cs: cfg.advert_int_cs,
        preempt: cfg.preempt,
        preempt_delay_us: secs(cfg.preempt_delay_s),
        initial_master: cfg.initial_state == config::InitialState::Master && cfg.priority != 255,
        primary_addr: IpAddr::V4(primary),
        garp_master_repeat: cfg.garp_master_repeat,
        garp_master_delay_us: secs(cfg.garp_master_delay_s),
        garp_master_refresh_us: secs(cfg.garp_master_refresh_s),
        lower_prio_advert: !cfg.lower_prio_no_advert,
        garp_lower_prio_repeat: cfg.garp_lower_prio_repeat,
        garp_lower_prio_delay_us: secs(cfg.garp_lower_prio_delay_s),
        higher_prio_send_advert: cfg.higher_prio_send_advert,
        make_before_break: true,
    };
    let checksum = if cfg.version == 3 && !cfg.v3_checksum_as_v2 {
        vrrp::ChecksumMode::PseudoHeader
    } else {
        vrrp::ChecksumMode::Plain
    };
    info!(parent: &span, primary = %primary, xdp = ?used, priority = cfg.priority, version = cfg.version,
        "instance ready: master down interval {} us", fsm::master_down_interval_us(version, cfg.priority, cfg.advert_int_cs));
    Ok(Vrrp {
        cfg: cfg.clone(),
        key,
        link,
        primary,
        fsm: fsm::Instance::new(params),
        vips,
        sender,
        scripts: Scripts {
            notify: cfg.notify.clone(),
            master: cfg.notify_master.clone(),
            backup: cfg.notify_backup.clone(),
            fault: cfg.notify_fault.clone(),
            stop: cfg.notify_stop.clone(),
        },
        auth,
        checksum,
        last_fed_ts: 0,
        link_gone: false,
        pending: None,
        // Events of an earlier incarnation of this key (still queued) are older than this.
        last_seq: Some(first_seq),
        known: None,
        master: None,
        transitions: 0,
        last_transition_ns: 0,
        owns_vips: false,
        garp_task: None,
        span,
    })
}

/// Stops an instance now (a reload, or after the SIGTERM hand-over): priority 0 if it is a
/// master that has not sent it yet, VIPs removed (whatever happened before: no VIP is left
/// behind), STOP notifications.
async fn stop_instance(ctx: &mut Ctx, inst: &mut Vrrp, now: u64) {
    inst.fsm.handle_stop_now(now);
    apply_actions(ctx, inst).await;
    if inst.owns_vips {
        remove_vips(ctx, inst).await;
    }
}

/// Starts an instance's state machine (in FAULT if its interface is down).
async fn start_instance(ctx: &mut Ctx, inst: &mut Vrrp) {
    let now = now_ns();
    if !inst.link.up {
        inst.fsm.handle_fault(now, true);
    }
    inst.fsm.handle_startup(now);
    apply_actions(ctx, inst).await;
}

/// An instance's settings without where they were written, so that a reload does not restart
/// an instance because an edit above it moved its lines.
fn settings(cfg: &config::Instance) -> serde_json::Value {
    fn strip(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(m) => {
                for k in ["file", "line", "lines"] {
                    m.remove(k);
                }
                m.values_mut().for_each(strip);
            }
            serde_json::Value::Array(a) => a.iter_mut().for_each(strip),
            _ => {}
        }
    }
    let mut v = serde_json::to_value(cfg).unwrap_or_default();
    strip(&mut v);
    v
}

/// SIGHUP, as keepalived: re-read the configuration; instances whose settings did not change
/// keep running undisturbed, changed ones restart, removed ones stop, new ones start. A file
/// with errors is refused and the running configuration stays.
async fn reload(ctx: &mut Ctx, instances: &mut Vec<Vrrp>, opts: &RunOptions) {
    let config = match load_config(&opts.config, opts.config_id.clone()) {
        Ok(c) => c,
        Err(e) => {
            error!("SIGHUP: {e:#}; the running configuration stays");
            return;
        }
    };
    ctx.garp_interval = Duration::from_millis(u64::from(config.global.vrrp_garp_interval_ms));
    // Waiting instances are set up again from the new file (and wait again if need be).
    let was_waiting: Vec<String> = ctx.waiting.drain(..).map(|c| c.name).collect();
    let mut old: Vec<Vrrp> = std::mem::take(instances);
    let mut to_start = Vec::new();
    let (mut kept, mut stopped) = (0, 0);
    for cfg in &config.instances {
        match old.iter().position(|i| i.cfg.name == cfg.name) {
            Some(pos) if old[pos].pending.is_none() && settings(&old[pos].cfg) == settings(cfg) => {
                let mut inst = old.swap_remove(pos);
                inst.cfg = cfg.clone();
                instances.push(inst);
                kept += 1;
            }
            Some(pos) => {
                let mut inst = old.swap_remove(pos);
                stopped += 1;
                if retire(ctx, &mut inst, Pending::Restart(Box::new(cfg.clone()))).await {
                    instances.push(inst);
                } else {
                    to_start.push(cfg);
                }
            }
            None => to_start.push(cfg),
        }
    }
    for mut inst in old {
        if config.rejected.iter().any(|r| r.name == inst.cfg.name) {
            error!(parent: &inst.span, "({}) its new configuration has errors: it keeps running as before", inst.cfg.name);
            instances.push(inst);
            kept += 1;
            continue;
        }
        stopped += 1;
        if retire(ctx, &mut inst, Pending::Remove).await {
            instances.push(inst);
        }
    }
    let mut started = 0;
    for cfg in to_start {
        match setup_instance(ctx, cfg, opts.xdp_mode).await {
            Ok(mut inst) => {
                start_instance(ctx, &mut inst).await;
                instances.push(inst);
                started += 1;
            }
            Err(e) => setup_failed(ctx, cfg, &e, was_waiting.contains(&cfg.name)),
        }
    }
    info!("SIGHUP: configuration reloaded: {kept} instance(s) unchanged, {started} started, {stopped} stopped");
}

/// What happens to an instance a reload changed or removed once its make-before-break
/// hand-over is over.
enum Pending {
    Restart(Box<config::Instance>),
    Remove,
}

/// Stops an instance a reload changed or removed. A master (or one already handing over)
/// hands over make-before-break, as on SIGTERM: priority 0, VIPs kept until the successor
/// speaks; it stays in the instance list with `pending` set, and `finish_retired` restarts or
/// drops it once stopped (returns true). Anything else stops at once (returns false).
async fn retire(ctx: &mut Ctx, inst: &mut Vrrp, then: Pending) -> bool {
    let what = match then {
        Pending::Restart(_) => "configuration changed: restarting the instance",
        Pending::Remove => "removed from the configuration: stopping it",
    };
    if inst.fsm.state() == State::Master {
        info!(parent: &inst.span, "({}) {what}, after handing over (priority 0; VIPs kept until the successor speaks)", inst.cfg.name);
        inst.fsm.handle_shutdown(now_ns());
        apply_actions(ctx, inst).await;
    }
    if inst.fsm.is_releasing() {
        inst.pending = Some(then);
        return true;
    }
    info!(parent: &inst.span, "({}) {what}", inst.cfg.name);
    stop_instance(ctx, inst, now_ns()).await;
    ctx.dp.forget_vrid(&inst.key);
    false
}

/// Instances retired by a reload whose hand-over is over: forgotten, and set up again from
/// their new configuration if they were changed.
async fn finish_retired(ctx: &mut Ctx, instances: &mut Vec<Vrrp>, mode: XdpMode) {
    while let Some(n) = instances.iter().position(|i| i.pending.is_some() && i.fsm.is_stopped()) {
        let mut inst = instances.remove(n);
        stop_instance(ctx, &mut inst, now_ns()).await;
        ctx.dp.forget_vrid(&inst.key);
        if let Some(Pending::Restart(cfg)) = inst.pending.take() {
            match setup_instance(ctx, &cfg, mode).await {
                Ok(mut fresh) => {
                    start_instance(ctx, &mut fresh).await;
                    instances.push(fresh);
                }
                Err(e) => setup_failed(ctx, &cfg, &e, false),
            }
        }
    }
}

/// The XDP program's wake-ups: the ring buffer of adverts that can change a decision.
type Events = AsyncFd<aya::maps::RingBuf<aya::maps::MapData>>;

async fn event_loop(ctx: &mut Ctx, instances: &mut Vec<Vrrp>, opts: &RunOptions) -> anyhow::Result<()> {
    let mut sigterm = tokio::signal::unix::signal(SignalKind::terminate())?;
    let mut sigint = tokio::signal::unix::signal(SignalKind::interrupt())?;
    let mut sighup = tokio::signal::unix::signal(SignalKind::hangup())?;
    let mut events: Events = register_fd(ctx.dp.take_events().context("event ring buffer already taken")?)?;
    let mut deadline = Deadline::new().context("creating the timerfd")?;
    let mut conflicts = register_fd(ctx.dp.take_conflicts().context("VIP conflict ring buffer already taken")?)?;
    let mut conflict_log = crate::conflict::ConflictLog::default();
    let mut logger = match ctx.dp.take_logger() {
        Some(l) => Some(register_fd(l)?),
        None => None,
    };
    // Link state: pushed by the kernel; a slow poll stays as a safety net in case a
    // notification is lost (a netlink socket can overflow).
    let mut link_events = match LinkEvents::subscribe() {
        Ok(l) => Some(l),
        Err(e) => {
            warn!("cannot subscribe to link notifications ({e}); polling link state every 500 ms");
            None
        }
    };
    // The slow path: adverts XDP does not judge (IP options, fragments, no XDP attached).
    let mut slow_path = crate::rx::socket::SlowPath::open(&ctx.dp).context("opening the VRRP receive socket")?;
    let poll_every = if link_events.is_some() { Duration::from_secs(5) } else { Duration::from_millis(500) };
    let mut link_poll = tokio::time::interval(poll_every);
    link_poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);

    for inst in instances.iter_mut() {
        start_instance(ctx, inst).await;
    }

    loop {
        deadline.arm(next_deadline(instances))?;
        tokio::select! {
            _ = sigterm.recv() => {
                info!("SIGTERM: shutting down");
                hand_over(ctx, instances, &mut events, &mut slow_path, &mut deadline, [&mut sigterm, &mut sigint]).await;
                return Ok(());
            }
            _ = sigint.recv() => {
                info!("SIGINT: shutting down");
                hand_over(ctx, instances, &mut events, &mut slow_path, &mut deadline, [&mut sigterm, &mut sigint]).await;
                return Ok(());
            }
            _ = sighup.recv() => {
                info!("SIGHUP: reloading {}", opts.config.display());
                reload(ctx, instances, opts).await;
            }
            guard = events.readable_mut() => {
                let mut guard = guard?;
                let batch = drain_ring(guard.get_inner_mut());
                guard.clear_ready();
                dispatch(ctx, instances, batch).await;
            }
            ev = slow_path.recv() => slow_dispatch(ctx, instances, vec![ev]).await,
            guard = conflicts.readable_mut() => {
                let mut guard = guard?;
                while let Some(item) = guard.get_inner_mut().next() {
                    let Some(ev) = dataplane::parse_conflict(&item) else { continue };
                    if let Some(c) = conflict_log.handle(&ev, now_ns()) {
                        let vip = IpAddr::V4(c.vip);
                        let owner = instances.iter().find(|i| i.vips.iter().any(|v| v.vip.addr == vip && v.link.index == c.ifindex));
                        let iface = owner.and_then(|i| i.vips.iter().find(|v| v.vip.addr == vip)).map_or(String::new(), |v| v.link.name.clone());
                        match owner {
                            Some(i) => warn!(parent: &i.span, "({}) {c} on {iface}", i.cfg.name),
                            None => warn!("{c} on ifindex {}", c.ifindex),
                        }
                    }
                }
                guard.clear_ready();
            }
            guard = async { match logger.as_mut() { Some(l) => l.readable_mut().await, None => std::future::pending().await } } => {
                let mut guard = guard?;
                guard.get_inner_mut().flush();
                guard.clear_ready();
            }
            event = async { match link_events.as_mut() { Some(l) => l.next().await, None => std::future::pending().await } } => {
                if event.is_none() {
                    warn!("link notifications ended; polling link state every 500 ms");
                    link_events = None;
                    link_poll = tokio::time::interval(Duration::from_millis(500));
                }
                check_links(ctx, instances).await;
                start_waiting(ctx, instances, opts.xdp_mode).await;
            }
            _ = link_poll.tick() => {
                check_links(ctx, instances).await;
                start_waiting(ctx, instances, opts.xdp_mode).await;
            }
            r = deadline.wait() => r?,
        }
        run_due(ctx, instances, &mut events, &mut slow_path).await;
        finish_retired(ctx, instances, opts.xdp_mode).await;
    }
}

fn next_deadline(instances: &[Vrrp]) -> Option<u64> {
    instances.iter().filter_map(|i| i.fsm.poll_timeout()).min()
}

/// Everything the XDP program queued, parsed.
fn drain_ring(ring: &mut aya::maps::RingBuf<aya::maps::MapData>) -> Vec<vrrp_common::AdvertEvent> {
    let mut batch = Vec::new();
    while let Some(item) = ring.next() {
        match dataplane::parse_event(&item) {
            Some(ev) => batch.push(ev),
            None => warn!("short event from the XDP program ({} bytes)", item.len()),
        }
    }
    batch
}

/// Gives each instance its events in sequence order (two CPUs may queue them out of order).
async fn dispatch(ctx: &mut Ctx, instances: &mut [Vrrp], mut batch: Vec<vrrp_common::AdvertEvent>) {
    batch.sort_by_key(|e| e.record.seq);
    for ev in batch {
        if let Some(inst) = instances.iter_mut().find(|i| i.key == ev.key) {
            debug!(parent: &inst.span, reasons = ev.reasons, seq = ev.record.seq, prio = ev.record.priority, "advert event");
            if feed_event(inst, &ev.record) {
                apply_actions(ctx, inst).await;
            }
        }
    }
}

/// Adverts from the slow path (what XDP passed: IP options, fragments, no XDP): judged by
/// the same rules in userspace, given to the FSM in arrival order.
async fn slow_dispatch(ctx: &mut Ctx, instances: &mut [Vrrp], batch: Vec<vrrp_common::AdvertEvent>) {
    for ev in batch {
        if let Some(inst) = instances.iter_mut().find(|i| i.key == ev.key) {
            debug!(parent: &inst.span, prio = ev.record.priority, "advert from the slow path");
            feed(inst, &ev.record);
            apply_actions(ctx, inst).await;
        }
    }
}

/// Fires the instances' due timers. A backup about to become master first closes the
/// takeover window: it tells the XDP program it is (about to be) master, so every advert
/// from now on wakes us, then takes every advert that arrived before: the ring buffer, the
/// slow-path socket and the advert record. Only if none of them changed its mind does it take over; otherwise the
/// XDP program is told it is a backup again.
async fn run_due(ctx: &mut Ctx, instances: &mut [Vrrp], events: &mut Events, slow_path: &mut SlowPath) {
    let now = now_ns();
    let due: Vec<usize> = (0..instances.len()).filter(|&i| instances[i].fsm.poll_timeout().is_some_and(|d| d <= now)).collect();
    if due.is_empty() {
        return;
    }
    let takeovers: Vec<usize> = due.iter().copied().filter(|&i| instances[i].fsm.takeover_due(now)).collect();
    if !takeovers.is_empty() {
        for &i in &takeovers {
            publish_state(ctx, &instances[i], state::MASTER);
        }
        let batch = drain_ring(events.get_mut());
        dispatch(ctx, instances, batch).await;
        let slow = slow_path.drain_now();
        slow_dispatch(ctx, instances, slow).await;
        for &i in &takeovers {
            refresh_from_record(ctx, &mut instances[i]);
        }
    }
    // Two passes: every due instance's state and first advert go out before any of them
    // waits on netlink for its VIPs, so several VRIDs taking over at once do not delay each
    // other's adverts (the next backup may be only Δpriority/256 × interval behind).
    let mut later = Vec::with_capacity(due.len());
    for &i in &due {
        let inst = &mut instances[i];
        // Adverts taken above carry their own (later) receive times: a restarted timer is
        // no longer due at `now`, and handle_timeout leaves it alone.
        inst.fsm.handle_timeout(now);
        let (first, rest) = split_before_netlink(take_actions(inst));
        let mut notify = None;
        run_actions(ctx, inst, first, &mut notify).await;
        later.push((i, rest, notify));
    }
    for (i, rest, mut notify) in later {
        let inst = &mut instances[i];
        run_actions(ctx, inst, rest, &mut notify).await;
        // Whatever the FSM queued meanwhile (nothing, normally) goes out too.
        let more = take_actions(inst);
        run_actions(ctx, inst, more, &mut notify).await;
        finish_actions(ctx, inst, notify);
        if takeovers.contains(&i) && inst.fsm.state() != State::Master {
            publish_state(ctx, inst, state_code(inst.fsm.state()));
            debug!(parent: &inst.span, "takeover cancelled by an advert that arrived at the deadline");
        }
    }
}

/// SIGTERM/SIGINT, make-before-break: masters send priority 0 but keep their VIPs (and keep
/// answering for them) until their successor's advert arrives, at most Master_Down_Interval
/// each; then everything is stopped. A second signal stops at once.
async fn hand_over(
    ctx: &mut Ctx,
    instances: &mut [Vrrp],
    events: &mut Events,
    slow_path: &mut SlowPath,
    deadline: &mut Deadline,
    [sigterm, sigint]: [&mut tokio::signal::unix::Signal; 2],
) {
    let now = now_ns();
    for inst in instances.iter_mut() {
        inst.fsm.handle_shutdown(now);
        apply_actions(ctx, inst).await;
    }
    let releasing = instances.iter().filter(|i| i.fsm.is_releasing()).count();
    if releasing == 0 {
        return;
    }
    info!("waiting for {releasing} successor(s) to take over before removing the VIPs");
    // The FSM bounds each hand-over by Master_Down_Interval; this bounds the loop itself.
    let longest = instances.iter().map(|i| i.fsm.master_down_interval_us()).max().unwrap_or(0);
    let limit = tokio::time::Instant::now() + Duration::from_micros(longest) + Duration::from_secs(1);
    while instances.iter().any(|i| i.fsm.is_releasing()) {
        if let Err(e) = deadline.arm(next_deadline(instances)) {
            warn!("timerfd: {e}; stopping without waiting for successors");
            return;
        }
        tokio::select! {
            guard = events.readable_mut() => {
                let Ok(mut guard) = guard else { return };
                let batch = drain_ring(guard.get_inner_mut());
                guard.clear_ready();
                dispatch(ctx, instances, batch).await;
            }
            ev = slow_path.recv() => slow_dispatch(ctx, instances, vec![ev]).await,
            r = deadline.wait() => if r.is_err() { return },
            _ = sigterm.recv() => { info!("second signal: stopping now"); return; }
            _ = sigint.recv() => { info!("second signal: stopping now"); return; }
            _ = tokio::time::sleep_until(limit) => { warn!("successors did not take over in time; stopping"); return; }
        }
        run_due(ctx, instances, events, slow_path).await;
    }
}

fn state_code(s: State) -> u32 {
    match s {
        State::Initialize => state::INIT,
        State::Backup => state::BACKUP,
        State::Master => state::MASTER,
        State::Fault => state::FAULT,
    }
}

/// Tells the XDP program the instance's state (it wakes us for every advert unless Backup).
fn publish_state(ctx: &mut Ctx, inst: &Vrrp, s: u32) {
    match ctx.dp.config.get(&inst.key, 0) {
        Ok(mut c) => {
            c.state = s;
            c.priority = u32::from(inst.fsm.priority());
            if let Err(e) = ctx.dp.config.insert(inst.key, c, 0) {
                error!(parent: &inst.span, "updating VRID_CONFIG: {e}");
            }
        }
        Err(e) => error!(parent: &inst.span, "reading VRID_CONFIG: {e}"),
    }
}

/// Re-reads each instance's interface and raises or clears FAULT on a change (keepalived's
/// FAULT: the interface is down or gone; no VIPs, no adverts).
async fn check_links(ctx: &mut Ctx, instances: &mut Vec<Vrrp>) {
    let mut recreated = Vec::new();
    for (n, inst) in instances.iter_mut().enumerate() {
        let up = match ctx.nl.link(&inst.link.name).await {
            Ok(link) if link.index != inst.link.index || inst.link_gone => {
                // Deleted and created again: the XDP attachment went with the old interface,
                // and the map keys and sockets belong to the old ifindex. Stop here (FAULT:
                // VIPs removed) and set the instance up again on the new interface.
                warn!(parent: &inst.span, "interface {} was re-created (ifindex {} -> {}): setting the instance up again", inst.link.name, inst.link.index, link.index);
                recreated.push((n, vec![(inst.link.name.clone(), inst.link.index, link.index)]));
                continue;
            }
            Ok(link) => {
                // A VIP's own device (`dev`) re-created: its XDP attachment and sockets are
                // gone too, so the instance is set up again the same way.
                let mut moved = Vec::new();
                for v in inst.vips.iter().filter(|v| v.link.index != inst.link.index) {
                    if moved.iter().any(|(name, _, _)| *name == v.link.name) {
                        continue;
                    }
                    if let Ok(now) = ctx.nl.link(&v.link.name).await
                        && now.index != v.link.index
                    {
                        moved.push((v.link.name.clone(), v.link.index, now.index));
                    }
                }
                if !moved.is_empty() {
                    warn!(parent: &inst.span, "VIP device(s) re-created ({}): setting the instance up again",
                        moved.iter().map(|(n, a, b)| format!("{n}: ifindex {a} -> {b}")).collect::<Vec<_>>().join(", "));
                    recreated.push((n, moved));
                    continue;
                }
                link.up
            }
            Err(e @ crate::net::netlink::NetlinkError::NoSuchInterface(_)) => {
                inst.link_gone = true;
                if inst.link.up {
                    warn!(parent: &inst.span, "interface {}: {e}", inst.link.name);
                }
                false
            }
            Err(e) => {
                // A netlink hiccup (ENOBUFS, a lost answer) says nothing about the link:
                // keep the state we have; the next notification or poll looks again.
                warn!(parent: &inst.span, "reading interface {}: {e}; state unchanged", inst.link.name);
                continue;
            }
        };
        follow_macs(ctx, inst).await;
        if up != inst.link.up {
            info!(parent: &inst.span, "interface {} is {}", inst.link.name, if up { "up" } else { "down" });
            inst.link.up = up;
            inst.fsm.handle_fault(now_ns(), !up);
            apply_actions(ctx, inst).await;
        }
    }
    for (n, devices) in recreated.into_iter().rev() {
        let mut inst = instances.remove(n);
        inst.link.up = false;
        inst.fsm.handle_fault(now_ns(), true);
        apply_actions(ctx, &mut inst).await;
        if inst.owns_vips {
            remove_vips(ctx, &mut inst).await;
        }
        ctx.dp.forget_vrid(&inst.key);
        for (name, old, new) in devices {
            ctx.dp.forget_interface(old);
            // Fresh sockets in place (instances hold indices into ctx.senders): bound to the
            // new device, and the VRRP group joined again (the membership died with the
            // old one, even when the ifindex is reused).
            for s in ctx.senders.iter_mut().filter(|s| s.ifname() == name) {
                match Sender::new(&name, new) {
                    Ok(fresh) => *s = std::sync::Arc::new(fresh),
                    Err(e) => warn!(parent: &inst.span, "opening sockets on the re-created {name}: {e}"),
                }
            }
        }
        // Set up again by start_waiting (right after this, on the same notification).
        ctx.waiting.push(inst.cfg.clone());
    }
}

/// Follows MAC address changes of the instance's interface and of its VIPs' devices (seen
/// through rtnetlink link notifications): XDP answers ARP with the interface's current MAC,
/// so the OWNED_VIPS values are rewritten, and a master re-announces its VIPs at once.
async fn follow_macs(ctx: &mut Ctx, inst: &mut Vrrp) {
    let mut devices: Vec<(String, u32)> = vec![(inst.link.name.clone(), inst.link.index)];
    for v in &inst.vips {
        if !devices.iter().any(|(n, _)| *n == v.link.name) {
            devices.push((v.link.name.clone(), v.link.index));
        }
    }
    let mut changed = false;
    for (name, index) in devices {
        let Ok(now) = ctx.nl.link(&name).await else { continue };
        // A recreated interface (new ifindex) is not a MAC change.
        if now.index != index {
            continue;
        }
        if inst.link.name == name && inst.link.mac != now.mac {
            inst.link.mac = now.mac;
        }
        let span = &inst.span;
        for v in inst.vips.iter_mut().filter(|v| v.link.name == name && v.link.mac != now.mac) {
            info!(parent: span, "interface {name}: MAC changed to {}; answering ARP for {} with it", crate::conflict::fmt_mac(&now.mac), v.vip.addr);
            v.link.mac = now.mac;
            changed = true;
        }
    }
    if !changed || !inst.owns_vips {
        return;
    }
    for OwnedVip { vip, link, .. } in &inst.vips {
        if let IpAddr::V4(a) = vip.addr {
            let key = VipKey { ifindex: link.index, addr_v4: a.octets() };
            // Only the VIPs marked owned (really added) are rewritten.
            if ctx.dp.vips.get(&key, 0).is_ok()
                && let Err(e) = ctx.dp.vips.insert(key, VipValue::new(link.mac, inst.cfg.vrid), 0)
            {
                error!(parent: &inst.span, "updating the MAC of VIP {a} in OWNED_VIPS: {e}");
            }
        }
    }
    if inst.fsm.state() == State::Master {
        send_garps(ctx, inst, inst.cfg.garp_master_repeat.max(1));
    }
}

/// Registers a file descriptor we own with the tokio reactor.
fn register_fd<T: std::os::fd::AsRawFd>(inner: T) -> anyhow::Result<AsyncFd<T>> {
    // SAFETY: `inner` owns its fd (a map or the log ring buffer) and the AsyncFd owns `inner`,
    // so the fd stays open for as long as it is registered.
    unsafe { AsyncFd::register(inner) }.map_err(|e| anyhow::anyhow!("registering a BPF map fd with tokio: {e}"))
}

fn content(rec: &vrrp_common::AdvertRecord) -> ([u8; 4], u32, u32) {
    (rec.src_v4, rec.priority, rec.adver_int_cs)
}

/// An advert from the ring buffer: an exact copy, applied unless an event at or after its
/// sequence number was applied already.
fn feed_event(inst: &mut Vrrp, rec: &vrrp_common::AdvertRecord) -> bool {
    if inst.last_seq.is_some_and(|last| rec.seq <= last) {
        return false;
    }
    inst.last_seq = Some(rec.seq);
    inst.known = Some(content(rec));
    feed(inst, rec);
    true
}

/// Re-reads the instance's advert record (XDP updates it in place for every accepted advert
/// and wakes us only on changes). A record from the master we know refreshes its timer.
/// A different one means its event is on its way (XDP writes the record first) or was lost
/// (ring buffer full, counted as `events_lost`): it is applied as well, but never advances
/// the event order, so the exact event is still applied when it comes.
fn refresh_from_record(ctx: &mut Ctx, inst: &mut Vrrp) {
    let Some(rec) = ctx.dp.record(&inst.key) else { return };
    if rec.ts_ns == 0 || rec.ts_ns <= inst.last_fed_ts {
        return;
    }
    if inst.known != Some(content(&rec)) {
        debug!(parent: &inst.span, seq = rec.seq, prio = rec.priority, "advert record ahead of the events: applying it");
    }
    feed(inst, &rec);
}

/// Gives the FSM an advert with its kernel receive time.
fn feed(inst: &mut Vrrp, rec: &vrrp_common::AdvertRecord) {
    inst.last_fed_ts = inst.last_fed_ts.max(rec.ts_ns);
    let src = Ipv4Addr::from(rec.src_v4);
    if rec.priority != 0 && inst.fsm.state() == State::Backup {
        inst.master = Some(src);
    }
    let advert = fsm::Advert {
        src: IpAddr::V4(src),
        priority: rec.priority.min(255) as u8,
        max_adver_int_cs: rec.adver_int_cs.min(4095) as u16,
    };
    inst.fsm.handle_advert(rec.ts_ns, advert);
}

async fn apply_actions(ctx: &mut Ctx, inst: &mut Vrrp) {
    let actions = take_actions(inst);
    let mut notify = None;
    run_actions(ctx, inst, actions, &mut notify).await;
    finish_actions(ctx, inst, notify);
}

fn take_actions(inst: &mut Vrrp) -> Vec<Action> {
    std::iter::from_fn(|| inst.fsm.poll_action()).collect()
}

/// Splits a batch of actions before its first netlink round trip (installing the VIPs):
/// the part before (publishing the state, the first advert) is what other routers' timers
/// are waiting for.
fn split_before_netlink(mut actions: Vec<Action>) -> (Vec<Action>, Vec<Action>) {
    let at = actions.iter().position(|a| matches!(a, Action::AddVips)).unwrap_or(actions.len());
    let rest = actions.split_off(at);
    (actions, rest)
}

/// After a batch: the status map, then the notify scripts (keepalived runs them after the
/// transition's side effects: VIPs added, GARPs sent).
fn finish_actions(ctx: &mut Ctx, inst: &mut Vrrp, notify: Option<NotifyState>) {
    write_status(ctx, inst);
    if let Some(state) = notify {
        ctx.notifier.notify(&inst.scripts, &inst.cfg.name, state, inst.fsm.priority());
    }
}

async fn run_actions(ctx: &mut Ctx, inst: &mut Vrrp, actions: Vec<Action>, notify: &mut Option<NotifyState>) {
    for action in actions {
        match action {
            Action::StateChange { from, to, reason } => {
                *notify = match to {
                    State::Master => Some(NotifyState::Master),
                    State::Backup => Some(NotifyState::Backup),
                    State::Fault => Some(NotifyState::Fault),
                    State::Initialize if reason.is_stop() => Some(NotifyState::Stop),
                    State::Initialize => None,
                };
                let _e = inst.span.enter();
                match to {
                    State::Initialize if reason.is_stop() => info!("({}) Entering STOP STATE ({reason})", inst.cfg.name),
                    _ => info!(from = %from, "({}) Entering {to} STATE ({reason})", inst.cfg.name),
                }
                inst.transitions += 1;
                inst.last_transition_ns = now_ns();
                match to {
                    State::Master => inst.master = Some(inst.primary),
                    State::Backup => {
                        inst.master = match &reason {
                            fsm::Reason::HigherPriority { src: IpAddr::V4(a), .. }
                            | fsm::Reason::EqualPriorityHigherAddress { src: IpAddr::V4(a) } => Some(*a),
                            _ => None,
                        }
                    }
                    _ => inst.master = None,
                }
                // Before the first advert of the new state leaves.
                publish_state(ctx, inst, state_code(to));
            }
            Action::AddVips => add_vips(ctx, inst).await,
            Action::RemoveVips => remove_vips(ctx, inst).await,
            Action::SendAdvert { priority } => send_advert(ctx, inst, priority),
            Action::SendGarp { count } => send_garps(ctx, inst, count),
            Action::Reassert { src, priority: 255 } => {
                warn!(parent: &inst.span, "({}) {src} also claims to be the address owner (priority 255) of VRID {}: re-asserting mastership; two owners is a configuration error", inst.cfg.name, inst.cfg.vrid);
            }
            Action::Reassert { src, priority } => {
                info!(parent: &inst.span, "({}) lower priority advert from {src} (priority {priority}): re-asserting mastership (advert, gratuitous ARP)", inst.cfg.name);
            }
        }
    }
}

async fn add_vips(ctx: &mut Ctx, inst: &mut Vrrp) {
    inst.owns_vips = true;
    for OwnedVip { vip, link, .. } in &inst.vips {
        if let Err(e) = ctx.nl.add_vip(link.index, vip).await {
            // Not on the interface: XDP must not answer ARP for it either.
            error!(parent: &inst.span, "adding VIP {}/{} to {}: {e}; not answering ARP for it", vip.addr, vip.prefix_len, link.name);
            continue;
        }
        if let IpAddr::V4(a) = vip.addr {
            let key = VipKey { ifindex: link.index, addr_v4: a.octets() };
            let value = VipValue::new(link.mac, inst.cfg.vrid);
            if let Err(e) = ctx.dp.vips.insert(key, value, 0) {
                error!(parent: &inst.span, "marking VIP {a} owned in OWNED_VIPS: {e}");
            }
        }
    }
}

async fn remove_vips(ctx: &mut Ctx, inst: &mut Vrrp) {
    if let Some(t) = inst.garp_task.take() {
        t.abort();
    }
    // Stop answering ARP first, then remove the addresses.
    for OwnedVip { vip, link, .. } in &inst.vips {
        if let IpAddr::V4(a) = vip.addr {
            let _ = ctx.dp.vips.remove(&VipKey { ifindex: link.index, addr_v4: a.octets() });
        }
    }
    for OwnedVip { vip, link, .. } in &inst.vips {
        if let Err(e) = ctx.nl.remove_vip(link.index, vip).await {
            error!(parent: &inst.span, "removing VIP {}/{} from {}: {e}", vip.addr, vip.prefix_len, link.name);
        }
    }
    inst.owns_vips = false;
}

fn send_advert(ctx: &mut Ctx, inst: &mut Vrrp, priority: u8) {
    let repr = advert_repr(inst, priority);
    let peers: Vec<Ipv4Addr> = if inst.cfg.unicast_peers.is_empty() {
        vec![vrrp::MCAST_V4]
    } else {
        inst.cfg.unicast_peers.iter().filter_map(|p| match p { IpAddr::V4(a) => Some(*a), IpAddr::V6(_) => None }).collect()
    };
    for dst in peers {
        let carrier = vrrp::Carrier { src: IpAddr::V4(inst.primary), dst: IpAddr::V4(dst) };
        if let Err(e) = repr.validate(&carrier) {
            error!(parent: &inst.span, "cannot build an advert: {e}");
            return;
        }
        let bytes = repr.to_bytes(&carrier, inst.checksum);
        if let Err(e) = ctx.senders[inst.sender].send_vrrp(inst.primary, dst, &bytes) {
            if inst.link.up {
                warn!(parent: &inst.span, "sending advert to {dst}: {e}");
            } else {
                // The priority-0 advert of a master whose interface just went down or away.
                debug!(parent: &inst.span, "sending advert to {dst} on a link that is down: {e}");
            }
        }
    }
}

fn advert_repr(inst: &Vrrp, priority: u8) -> vrrp::Repr {
    vrrp::Repr {
        version: if inst.cfg.version == 3 { vrrp::Version::V3 } else { vrrp::Version::V2 },
        vrid: inst.cfg.vrid,
        priority,
        adver_int_cs: inst.cfg.advert_int_cs,
        auth: inst.auth,
        addresses: inst.vips.iter().filter(|v| v.advertised).map(|v| v.vip.addr).collect(),
    }
}

fn send_garps(ctx: &mut Ctx, inst: &mut Vrrp, count: u32) {
    let frames: Vec<(std::sync::Arc<Sender>, Vec<u8>)> = inst
        .vips
        .iter()
        .filter_map(|OwnedVip { vip, link, sender, .. }| match vip.addr {
            IpAddr::V4(a) => Some((ctx.senders[*sender].clone(), arp::gratuitous_frame(link.mac, a))),
            IpAddr::V6(_) => None,
        })
        .collect();
    let send_round = |frames: &[(std::sync::Arc<Sender>, Vec<u8>)]| {
        for (sender, frame) in frames {
            if let Err(e) = sender.send_frame(frame) {
                warn!("sending gratuitous ARP on {}: {e}", sender.ifname());
            }
        }
    };
    if ctx.garp_interval.is_zero() || count <= 1 {
        for _ in 0..count {
            send_round(&frames);
        }
        debug!(parent: &inst.span, "sent {count} gratuitous ARP round(s) for {} VIP(s)", frames.len());
        return;
    }
    // Spaced rounds (vrrp_garp_interval) run in a task so no other instance waits for them.
    if let Some(t) = inst.garp_task.take() {
        t.abort();
    }
    let interval = ctx.garp_interval;
    let span = inst.span.clone();
    inst.garp_task = Some(tokio::spawn(
        async move {
            for round in 0..count {
                if round > 0 {
                    tokio::time::sleep(interval).await;
                }
                send_round(&frames);
            }
            debug!("sent {count} gratuitous ARP rounds {} ms apart", interval.as_millis());
        }
        .instrument(span),
    ));
}

fn write_status(ctx: &mut Ctx, inst: &Vrrp) {
    let mut st = InstanceStatus {
        state: state_code(inst.fsm.state()),
        priority: u32::from(inst.fsm.priority()),
        base_priority: u32::from(inst.cfg.priority),
        adver_int_cs: u32::from(inst.fsm.master_adver_int_cs()),
        master_down_interval_us: u32::try_from(inst.fsm.master_down_interval_us()).unwrap_or(u32::MAX),
        master_v4: inst.master.map(|a| a.octets()).unwrap_or_default(),
        pid: std::process::id(),
        transitions: inst.transitions,
        last_transition_ns: inst.last_transition_ns,
        name: [0; 32],
        ifname: [0; 16],
    };
    st.set_name(&inst.cfg.name);
    st.set_ifname(&inst.link.name);
    if let Err(e) = ctx.dp.status.insert(inst.key, st, 0) {
        debug!("writing INSTANCE_STATUS: {e}");
    }
}
