//! One running VRRP instance: set up from its configuration (interface, addresses, XDP
//! keys, sockets), started, stopped; instances waiting for their interface.
use std::net::IpAddr;

use anyhow::{Context as _, bail};
use tracing::{error, info, warn};
use vrrp_common::{AF_INET, AF_INET6, VridConfig, VridKey, flags, state};

use crate::{
    config,
    dataplane::XdpMode,
    core::fsm,
    net::netlink::{LinkInfo, Vip},
    notify::{NotifyState, Scripts},
    net::tx::Sender,
    wire::vrrp,
};

pub use crate::clock::now_ns;
use super::Ctx;
use super::actions::{add_routes, apply_actions, publish_state, release};
use super::reload::Pending;

/// One running VRRP instance and what it needs to act.
pub(super) struct Vrrp {
    pub(super) cfg: config::Instance,
    pub(super) key: VridKey,
    pub(super) link: LinkInfo,
    /// The advert source: IPv4, the interface's primary address (or unicast_src_ip); IPv6,
    /// its first usable link-local address (or unicast_src_ip). Its family is the instance's.
    pub(super) primary: IpAddr,
    pub(super) fsm: fsm::Instance,
    pub(super) vips: Vec<OwnedVip>,
    pub(super) sender: usize,
    pub(super) scripts: Scripts,
    pub(super) auth: vrrp::Auth,
    pub(super) checksum: vrrp::ChecksumMode,
    /// Kernel timestamp of the newest advert already given to the FSM.
    pub(super) last_fed_ts: u64,
    /// The interface disappeared (deleted): when one of that name is back, it is a new one.
    pub(super) link_gone: bool,
    /// Retired by a reload and handing over: what to do once stopped.
    pub(super) pending: Option<Pending>,
    /// Sequence number of the last ring-buffer event given to the FSM: events are applied
    /// in this order, and an event is never skipped because of a record read.
    pub(super) last_seq: Option<u64>,
    /// (source, priority, interval) of the last event: a record read that matches it only
    /// says "the same master is still there" and may refresh the timer.
    pub(super) known: Option<(IpAddr, u32, u32)>,
    pub(super) master: Option<IpAddr>,
    pub(super) transitions: u32,
    pub(super) last_transition_ns: u64,
    /// What the agent sent and decided (published as `INSTANCE_STATS`).
    pub(super) stats: vrrp_common::InstanceStats,
    /// What was last published to `INSTANCE_STATUS` and `INSTANCE_STATS`.
    pub(super) published: super::actions::Published,
    pub(super) owns_vips: bool,
    /// A GARP burst spaced by vrrp_garp_interval, running on its own so it delays nothing.
    pub(super) garp_task: Option<tokio::task::JoinHandle<()>>,
    pub(super) span: tracing::Span,
    /// Resumes as the Master the agent with this pid was (a hitless restart): its VIPs were
    /// left in place for it.
    pub(super) adopted_from: Option<u32>,
    /// The "re-asserting mastership" line: once per `REASSERT_LOG_EVERY`, so forged
    /// lower-priority adverts cannot flood the log.
    pub(super) reassert_log: super::actions::LogLimit,
}

/// Attaches XDP to an interface, unless another tool's program is there: that is refused
/// unless `--force-xdp`, which detaches it first. Our own program (a pinned link of ours in
/// the bpffs directory, alive or left by an earlier agent) is replaced in place.
async fn attach_xdp(ctx: &mut Ctx, link: &LinkInfo, mode: XdpMode, vlans: &[String]) -> anyhow::Result<XdpMode> {
    let current = ctx.nl.xdp_program(link.index).await.ok().flatten();
    if let Some((prog_id, skb)) = current
        && ctx.dp.is_foreign_program(&link.name, link.index, prog_id)
    {
        if !ctx.force_xdp {
            return Err(ctx.dp.foreign_program_error(&link.name, prog_id).into());
        }
        warn!("--force-xdp: detaching XDP program id {prog_id} from {}", link.name);
        ctx.nl
            .detach_xdp(link.index, skb)
            .await
            .with_context(|| format!("detaching XDP program id {prog_id} from {} (--force-xdp)", link.name))?;
    }
    let used = ctx.dp.attach(&link.name, link.index, link.kind.as_deref(), mode, vlans)?;
    // Our program swapped into a pinned link runs in the mode the link was made with.
    Ok(match (used, current) {
        (XdpMode::Auto, Some((_, true))) => XdpMode::Skb,
        (XdpMode::Auto, Some((_, false))) => XdpMode::Native,
        (used, _) => used,
    })
}

/// A VIP as the instance owns it: on which device, sent out of which sender, advertised or
/// excluded (virtual_ipaddress_excluded).
pub(super) struct OwnedVip {
    pub(super) vip: Vip,
    pub(super) link: LinkInfo,
    pub(super) sender: usize,
    pub(super) advertised: bool,
}

/// The sender for a device, opened on first use. `primary` joins the VRRP multicast group of
/// its family (only the instance's own interface needs it).
pub(super) fn sender_for(ctx: &mut Ctx, link: &LinkInfo, primary: Option<IpAddr>) -> anyhow::Result<usize> {
    let join = |s: &Sender| match primary {
        Some(IpAddr::V4(p)) => s.join_vrrp_group(p),
        Some(IpAddr::V6(_)) => s.join_vrrp_group_v6(),
        None => {}
    };
    // By name and index: a re-created interface of the same name needs new sockets.
    if let Some(i) = ctx.senders.iter().position(|s| s.ifname() == link.name && s.ifindex() == link.index) {
        join(&ctx.senders[i]);
        return Ok(i);
    }
    let s = Sender::new(&link.name, link.index).with_context(|| format!("opening sockets on {}", link.name))?;
    join(&s);
    ctx.senders.push(std::sync::Arc::new(s));
    Ok(ctx.senders.len() - 1)
}

/// An instance that could not be set up. One whose interface does not exist (or has no IPv4
/// address, or no usable IPv6 link-local address, yet) waits in FAULT and starts when it appears, as keepalived does; any other
/// failure is named and the instance is not started. `quiet`: it was already waiting.
pub(super) fn setup_failed(ctx: &mut Ctx, cfg: &config::Instance, e: &anyhow::Error, quiet: bool) {
    let waits = e.chain().any(|c| {
        matches!(
            c.downcast_ref::<crate::net::netlink::NetlinkError>(),
            Some(
                crate::net::netlink::NetlinkError::NoSuchInterface(_)
                    | crate::net::netlink::NetlinkError::NoPrimaryAddress(_)
                    | crate::net::netlink::NetlinkError::NoLinkLocal(_)
            )
        )
    });
    if !waits {
        error!("{}:{}: vrrp_instance {}: {e:#}; not started", cfg.file.display(), cfg.line, cfg.name);
        return;
    }
    if !quiet {
        warn!("{}:{}: vrrp_instance {}: {e:#}", cfg.file.display(), cfg.line, cfg.name);
        info!("({}) Entering FAULT STATE ({e:#}; waiting for it)", cfg.name);
        ctx.notifier.notify(&notify_scripts(cfg), &cfg.name, NotifyState::Fault, cfg.priority);
    }
    ctx.waiting.push(cfg.clone());
}

/// Starts the instances waiting for an interface that is now there.
pub(super) async fn start_waiting(ctx: &mut Ctx, instances: &mut Vec<Vrrp>, mode: XdpMode) {
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

pub(super) async fn setup_instance(ctx: &mut Ctx, cfg: &config::Instance, mode: XdpMode) -> anyhow::Result<Vrrp> {
    // Setting up many (at start, on a reload) is long: see `sched::breathe`.
    crate::sched::breathe();
    let span = tracing::info_span!("vrrp", instance = %cfg.name, iface = %cfg.interface, vrid = cfg.vrid);
    let link = ctx.nl.link(&cfg.interface).await?;
    let v6 = cfg.is_ipv6();
    // The parser keeps only a unicast_src_ip of the instance's family.
    let primary = match cfg.unicast_src_ip {
        Some(a) => a,
        None => {
            let all: Vec<IpAddr> = cfg.vips.iter().chain(&cfg.excluded_vips).map(|v| v.addr).collect();
            if v6 {
                IpAddr::V6(ctx.nl.primary_ipv6(&link, &all).await?)
            } else {
                IpAddr::V4(ctx.nl.primary_ipv4(&link, &all).await?)
            }
        }
    };
    let vlans = ctx.nl.vlan_uppers(link.index).await.unwrap_or_default();
    let used = attach_xdp(ctx, &link, mode, &vlans).await?;
    let key = VridKey { ifindex: link.index, vrid: u16::from(cfg.vrid), family: if v6 { AF_INET6 } else { AF_INET } };
    // A hitless restart: the earlier agent's Master keeps its VIPs (they are not removed
    // below) if they are all still there.
    let prior = ctx.adopt.as_ref().and_then(|a| a.statuses.get(&key).copied());
    let mut all_present = true;
    if prior.is_some_and(|p| p.state == state::MASTER) {
        for v in cfg.vips.iter().chain(&cfg.excluded_vips) {
            let index = match &v.dev {
                Some(dev) if dev != &link.name => ctx.nl.link(dev).await.map(|l| l.index).unwrap_or(0),
                _ => link.index,
            };
            all_present &= ctx.nl.has_addr(index, v.addr).await.unwrap_or(false);
        }
    }
    let (lease_age_ns, fence_after_ns) =
        ctx.adopt.as_ref().map_or((0, 0), |a| (crate::clock::now_ns().saturating_sub(a.lease.renewed_ns), a.lease.fence_after_ns));
    if ctx.adopt.is_some() && lease_age_ns > fence_after_ns && prior.is_some_and(|p| p.state == state::MASTER) {
        warn!(parent: &span, "({}) the earlier agent's lease ran out ({:.1} ms old, bound {:.1} ms) while this one loaded: not resuming as MASTER", cfg.name, lease_age_ns as f64 / 1e6, fence_after_ns as f64 / 1e6);
    }
    let adopted_from = crate::dataplane::lease::resume_as_master(ctx.adopt.is_some(), prior.as_ref(), link.up, all_present, lease_age_ns, fence_after_ns)
        .then(|| ctx.adopt.as_ref().map(|a| a.from_pid))
        .flatten();
    let sender = sender_for(ctx, &link, Some(primary))?;
    // virtual_ipaddress (advertised) and virtual_ipaddress_excluded (owned, not advertised),
    // each on its own device (`dev`, default the instance's interface), where XDP answers ARP.
    let mut vips = Vec::new();
    // IPv6 ones are added without DAD (net::netlink::Netlink::add_vip) and announced with
    // unsolicited neighbour advertisements. The advertised ones go in the adverts in the
    // order written, as keepalived sends them (the parser warns when an IPv6 instance's
    // first is not link-local, RFC 9568 5.2.9).
    for (v, advertised) in cfg.vips.iter().map(|v| (v, true)).chain(cfg.excluded_vips.iter().map(|v| (v, false))) {
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
            attach_xdp(ctx, &vlink, mode, &vlans).await?;
        }
        let vip = Vip { addr: v.addr, prefix_len: v.prefix_len, label: v.label.clone() };
        // A VIP left behind by an agent that was killed: keepalived removes them at start too
        // (unless this instance resumes as the Master that left it).
        if adopted_from.is_none() && ctx.nl.remove_vip(vlink.index, &vip).await? {
            warn!(parent: &span, "removed VIP {} left on {} by an earlier run", vip.addr, vlink.name);
        }
        let sender = sender_for(ctx, &vlink, None)?;
        if let Err(e) = ctx.dp.fence_ip(vlink.index, vip.addr, vrrp_common::VipValue::new(vlink.mac, cfg.vrid)) {
            warn!(parent: &span, "registering VIP {} with the fence: {e}", vip.addr);
        }
        vips.push(OwnedVip { vip, advertised, sender, link: vlink });
    }
    if !vips.iter().any(|v| v.advertised) {
        bail!("no usable virtual_ipaddress: an advert must carry at least one address");
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
    let mut vflags = 0;
    if cfg.priority == 255 {
        vflags |= flags::OWNER;
    }
    // What the receive checks compare adverts with (XDP and the slow path read the same maps),
    // each family in its own maps.
    let rx = crate::rx::InstanceRules::new(cfg, vips.iter().map(|v| (v.vip.addr, v.advertised)));
    let vcfg = VridConfig {
        version: u32::from(cfg.version),
        adver_int_cs: u32::from(cfg.advert_int_cs),
        state: state::INIT,
        flags: vflags | rx.flags,
        priority: u32::from(cfg.priority),
        primary_v4: match primary {
            IpAddr::V4(a) => a.octets(),
            IpAddr::V6(_) => [0; 4],
        },
        primary_v6: match primary {
            IpAddr::V4(_) => [0; 16],
            IpAddr::V6(a) => a.octets(),
        },
        count_addrs: rx.count_addrs_of(key.family),
        ..VridConfig::default()
    };
    let vcfg = match pass {
        Some(p) => vcfg.with_pass(p),
        None => vcfg.without_auth(),
    };
    ctx.dp.set_instance_addrs(key, &rx).context("writing the VRID's addresses to the dataplane")?;
    let first_seq = ctx.dp.init_vrid(key, vcfg).context("configuring the VRID in the dataplane")?;
    let secs = |s: u32| u64::from(s) * fsm::US_PER_S;
    let params = fsm::Params {
        version,
        priority: cfg.priority,
        advert_int_cs: cfg.advert_int_cs,
        preempt: cfg.preempt,
        preempt_delay_us: secs(cfg.preempt_delay_s),
        initial_master: cfg.initial_state == config::InitialState::Master && cfg.priority != 255,
        primary_addr: primary,
        garp_master_repeat: cfg.garp_master_repeat,
        garp_master_delay_us: secs(cfg.garp_master_delay_s),
        garp_master_refresh_us: secs(cfg.garp_master_refresh_s),
        lower_prio_advert: !cfg.lower_prio_no_advert,
        garp_lower_prio_repeat: cfg.garp_lower_prio_repeat,
        garp_lower_prio_delay_us: secs(cfg.garp_lower_prio_delay_s),
        higher_prio_send_advert: cfg.higher_prio_send_advert,
        make_before_break: true,
        advert_tick_us: fsm::ADVERT_TICK_US,
    };
    // Over IPv6 the pseudo header is always in (the wire code applies that rule).
    let checksum = if cfg.version == 3 && (v6 || !cfg.v3_checksum_as_v2) {
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
        scripts: notify_scripts(cfg),
        auth,
        checksum,
        last_fed_ts: 0,
        link_gone: false,
        pending: None,
        // Events of an earlier incarnation of this key (still queued) are older than this.
        last_seq: Some(first_seq),
        known: None,
        master: None,
        // A resumed instance goes on counting where the earlier agent was.
        transitions: prior.filter(|_| adopted_from.is_some()).map_or(0, |p| p.transitions),
        last_transition_ns: prior.filter(|_| adopted_from.is_some()).map_or(0, |p| p.last_transition_ns),
        owns_vips: adopted_from.is_some(),
        stats: vrrp_common::InstanceStats::default(),
        published: Default::default(),
        garp_task: None,
        span,
        adopted_from,
        reassert_log: Default::default(),
    })
}

/// Stops an instance now (a reload, or after the SIGTERM hand-over): priority 0 if it is a
/// master that has not sent it yet, VIPs removed (whatever happened before: no VIP is left
/// behind), STOP notifications.
pub(super) async fn stop_instance(ctx: &mut Ctx, inst: &mut Vrrp, now: u64) {
    inst.fsm.handle_stop_now(now);
    apply_actions(ctx, inst).await;
    if inst.owns_vips {
        release(ctx, inst).await;
    }
}

/// Starts an instance's state machine (in FAULT if its interface is down).
pub(super) async fn start_instance(ctx: &mut Ctx, inst: &mut Vrrp) {
    let now = now_ns();
    if !inst.link.up {
        inst.fsm.handle_fault(now, true);
    }
    super::health::prepare_instance(ctx, inst);
    let Some(pid) = inst.adopted_from else {
        inst.fsm.handle_startup(now);
        apply_actions(ctx, inst).await;
        return;
    };
    if inst.fsm.handle_resume_master(now) {
        info!(parent: &inst.span, "({}) resumed as MASTER (adopted from pid {pid})", inst.cfg.name);
        inst.master = Some(inst.primary);
        publish_state(ctx, inst, state::MASTER);
        // The advert first (the backups' timers run since the earlier agent's last one).
        apply_actions(ctx, inst).await;
        // Already answered for: this only refreshes the MACs (the interface's, now).
        for OwnedVip { vip, link, .. } in &inst.vips {
            if let Err(e) = ctx.dp.own_ip(link.index, vip.addr, vrrp_common::VipValue::new(link.mac, inst.cfg.vrid)) {
                error!(parent: &inst.span, "marking VIP {} owned in OWNED_VIPS: {e}", vip.addr);
            }
        }
        add_routes(ctx, inst).await;
    } else {
        // Not resumable after all (a fault): nothing of the earlier mastership stays.
        info!(parent: &inst.span, "({}) not resuming as MASTER (adopted from pid {pid}): removing its VIPs", inst.cfg.name);
        inst.adopted_from = None;
        release(ctx, inst).await;
        apply_actions(ctx, inst).await;
    }
}

/// An instance's notify scripts.
fn notify_scripts(cfg: &config::Instance) -> Scripts {
    Scripts {
        notify: cfg.notify.clone(),
        master: cfg.notify_master.clone(),
        backup: cfg.notify_backup.clone(),
        fault: cfg.notify_fault.clone(),
        stop: cfg.notify_stop.clone(),
    }
}
