//! The driver: does what the core decides. It owns the real world around the sans-IO state
//! machines (XDP records and events, timers, rtnetlink, raw sockets, signals, scripts) and
//! feeds it to them, one job per file:
//! - `instance`: setting an instance up from its configuration, starting and stopping it;
//! - `event_loop`: the one select over every input, the deadlines, SIGTERM's hand-over;
//! - `adverts`: adverts from XDP (ring buffer, record) and the slow path, into the FSM;
//! - `actions`: the FSM's actions carried out (state to XDP, adverts, VIPs, GARPs, status);
//! - `links`: interface up/down/re-created and MAC changes;
//! - `reload`: SIGHUP.
//!
//! Steady state costs nothing per received advert: the XDP program records the last accepted
//! advert per VRID and only pushes an event when an advert can change a decision. The agent
//! wakes on its own deadlines; before acting on one it reads the instance's record, so an
//! advert that arrived since is taken into account with its kernel receive time.
use std::{path::PathBuf, time::Duration};

use anyhow::{Context as _, bail};
use tracing::{error, info, warn};

use crate::{
    config,
    dataplane::{self, Dataplane, KernelLogLevel, XdpMode, lease},
    net::netlink::Netlink,
    notify::Notifier,
    net::tx::Sender,
};

pub use crate::clock::now_ns;

mod actions;
mod adverts;
mod event_loop;
mod health;
mod instance;
mod links;
mod reload;
mod static_routes;

use self::event_loop::event_loop;
use self::instance::{setup_failed, setup_instance, stop_instance};

#[derive(Debug, Clone)]
pub struct RunOptions {
    pub config: PathBuf,
    pub config_id: Option<String>,
    pub bpffs: PathBuf,
    pub xdp_mode: XdpMode,
    pub kernel_log: KernelLogLevel,
    /// How long a notify script may run before it is killed.
    pub notify_timeout: Duration,
    /// Serve Prometheus metrics on this address (`--metrics`).
    pub metrics: Option<std::net::SocketAddr>,
    /// Where SIGUSR1/SIGUSR2/SIGRTMIN+2 write keepalived's dump files (keepalived's
    /// `$TMPDIR` or `/tmp`, `crate::status::keepalived::dump_dir`).
    pub dump_dir: PathBuf,
    /// Replace another tool's XDP program on our interfaces.
    pub force_xdp: bool,
}

/// Exit status of `SIGQUIT`: the agent left its datapath (VIPs, pinned maps and XDP links,
/// the lease) for the next agent to adopt. systemd restarts it (`RestartForceExitStatus=`).
pub const EXIT_LEFT_DATAPATH: i32 = 75;

/// What this agent adopted from an earlier one (a hitless restart).
pub(super) struct Adoption {
    pub(super) from_pid: u32,
    /// What the earlier agent published per instance (`INSTANCE_STATUS`).
    pub(super) statuses: std::collections::HashMap<vrrp_common::VridKey, vrrp_common::InstanceStatus>,
    /// Its lease as it was when this agent decided to adopt (see `lease::resume_as_master`).
    pub(super) lease: vrrp_common::AgentLease,
}

/// The liveness lease: renewed on every turn of the event loop and at least every
/// `renew_every_ns` (a deadline of the loop's timerfd), never from another thread, so a hung
/// loop lets it lapse and the XDP program fences the datapath.
pub(super) struct Lease {
    pub(super) fence_after_ns: u64,
    pub(super) renew_every_ns: u64,
    /// When this agent last renewed it (0: not yet).
    pub(super) renewed_ns: u64,
}

pub(super) struct Ctx {
    pub(super) dp: Dataplane,
    pub(super) nl: Netlink,
    pub(super) senders: Vec<std::sync::Arc<Sender>>,
    pub(super) garp_interval: Duration,
    /// The process settings applied at start ([`crate::sched`]); a reload cannot change them.
    pub(super) scheduling: config::Scheduling,
    /// `vrrp_gna_interval`: the spacing of unsolicited NAs, as garp_interval spaces GARPs.
    pub(super) gna_interval: Duration,
    pub(super) notifier: Notifier,
    pub(super) health: health::Health,
    /// virtual_routes/rules with mastership, static_* for the agent's lifetime.
    pub(super) routes: crate::net::routes::Routes,
    /// Instances waiting in FAULT for their interface to appear (as keepalived starts them).
    pub(super) waiting: Vec<config::Instance>,
    pub(super) force_xdp: bool,
    /// Set while the instances are set up after adopting an earlier agent's pins.
    pub(super) adopt: Option<Adoption>,
    pub(super) lease: Lease,
    /// While `event_loop::run_due` fires one wake-up's timers: the adverts they send, sent
    /// together once all are fired (one `sendmmsg` per interface). `None`: sent at once.
    pub(super) outbox: Option<Vec<actions::Queued>>,
}

impl Ctx {
    /// A new lease bound (a reload changed the intervals), renewed with it now.
    pub(super) fn set_lease(&mut self, lease: Lease) {
        self.dp.set_fence_after(lease.fence_after_ns);
        self.lease = lease;
        self.renew_lease();
    }

    /// Renews the lease now and returns when it is due again.
    pub(super) fn renew_lease(&mut self) -> u64 {
        let now = now_ns();
        if let Err(e) = self.dp.renew_lease(now) {
            warn!("renewing the agent lease: {e}");
        }
        self.lease.renewed_ns = now;
        now + self.lease.renew_every_ns
    }

    /// How long ago this agent last renewed its lease, if that is longer than the lease's
    /// bound: the XDP program has been fencing our datapath since (the event loop was not
    /// scheduled: SIGSTOP, CPU starvation), and a backup may have taken over meanwhile.
    pub(super) fn lease_lapsed(&self, now: u64) -> Option<u64> {
        let ours = lease::lease_at(self.lease.renewed_ns, self.lease.fence_after_ns, std::process::id());
        (!ours.fresh_at(now)).then(|| now - self.lease.renewed_ns)
    }
}

/// The lease bound for a configuration: from its shortest advertisement interval
/// (`vrrp_common::timers::lease_fence_after_us`).
pub(super) fn lease_for(config: &config::Config) -> Lease {
    use vrrp_common::timers;
    let shortest = config.instances.iter().map(|i| timers::cs_to_us(i.advert_int_cs)).min().unwrap_or(timers::LEASE_DEFAULT_INTERVAL_US);
    let fence_after_us = timers::lease_fence_after_us(shortest);
    Lease { fence_after_ns: fence_after_us * 1_000, renew_every_ns: timers::lease_renewal_us(fence_after_us) * 1_000, renewed_ns: 0 }
}

/// Removes the VIPs an earlier agent answered for (its pinned `OWNED_VIPS` and
/// `OWNED_VIPS_V6`: (ifindex, address)), except `kept`: XDP stops answering for them, then
/// the addresses go.
async fn remove_left_vips(ctx: &mut Ctx, owned: &[(u32, std::net::IpAddr)], kept: &[(u32, std::net::IpAddr)]) {
    for &(ifindex, addr) in owned.iter().filter(|v| !kept.contains(v)) {
        ctx.dp.disown_ip(ifindex, addr);
        match ctx.nl.remove_addr(ifindex, addr).await {
            Ok(true) => warn!("removed VIP {addr} left on ifindex {ifindex} by an earlier agent"),
            Ok(false) => {}
            Err(e) => warn!("removing VIP {addr} left on ifindex {ifindex} by an earlier agent: {e}"),
        }
    }
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
    // keepalived's dump signals terminate a process by default: catch them from the start
    // (tokio keeps a handler installed for the process's life; the event loop listens).
    for sig in [libc::SIGUSR1, libc::SIGUSR2, libc::SIGRTMIN() + 2] {
        drop(tokio::signal::unix::signal(tokio::signal::unix::SignalKind::from_raw(sig)).context("installing a signal handler")?);
    }
    let config = load_config(&opts.config, opts.config_id.clone()).context("not starting")?;
    if config.instances.is_empty() {
        warn!("no vrrp_instance in {}: nothing to do", opts.config.display());
    }
    let nl = Netlink::new().context("opening rtnetlink")?;
    // Adopt an earlier agent's datapath (its lease is fresh: a hitless restart) or start clean.
    let prior = dataplane::read_prior_pins(&opts.bpffs);
    let holder_running = prior.lease.is_some_and(|l| lease::agent_running(l.pid));
    let start = lease::decide_start(prior.lease, now_ns(), std::process::id(), holder_running, prior.layout.clone());
    let adopt = match &start {
        lease::Start::Refuse { pid } => bail!(
            "another vrrp-agent (pid {pid}) runs on the pins in {}: stop it first, or give this one another --bpffs",
            opts.bpffs.display()
        ),
        lease::Start::Adopt { from_pid, age_ns } => {
            info!("adopting the datapath of the agent with pid {from_pid} (its lease is {:.1} ms old): pinned maps and XDP links reused", *age_ns as f64 / 1e6);
            Some(Adoption { from_pid: *from_pid, statuses: prior.statuses.iter().copied().collect(), lease: prior.lease.unwrap_or_default() })
        }
        lease::Start::Clean(lease::CleanReason::NoPins) => None,
        lease::Start::Clean(reason) => {
            info!("starting clean: {reason}");
            None
        }
    };
    let loading = std::time::Instant::now();
    let mut dp = Dataplane::load_with(&opts.bpffs, opts.kernel_log, adopt.is_some()).context("loading the XDP dataplane")?;
    // `cargo xtask bench` (footprint) reads this line: the load and verification part of start-up.
    info!("XDP object loaded and verified in {:.1} ms", loading.elapsed().as_secs_f64() * 1e3);
    let lease = lease_for(&config);
    dp.set_fence_after(lease.fence_after_ns);
    dp.renew_lease(now_ns()).context("taking the agent lease")?;
    info!(bpffs = %opts.bpffs.display(), "maps pinned; inspect with `bpftool map dump pinned {}/<MAP>`", opts.bpffs.display());
    if let Some(addr) = opts.metrics {
        let local = crate::metrics::start(addr, opts.bpffs.clone()).await?;
        info!("metrics at http://{local}/metrics");
    }
    info!(
        "agent lease: XDP stops answering for the VIPs {:.1} ms after the last renewal (renewed at least every {:.1} ms)",
        lease.fence_after_ns as f64 / 1e6,
        lease.renew_every_ns as f64 / 1e6
    );

    let runner = crate::exec::Runner::new();
    let routes = crate::net::routes::Routes::new(nl.handle());
    let mut ctx = Ctx {
        dp,
        nl,
        senders: Vec::new(),
        garp_interval: Duration::from_millis(u64::from(config.global.vrrp_garp_interval_ms)),
        scheduling: config.global.scheduling.clone(),
        gna_interval: Duration::from_millis(u64::from(config.global.vrrp_gna_interval_ms)),
        notifier: Notifier::from_config(opts.notify_timeout, &config.global, runner.clone()),
        health: health::Health::start(&config, &runner),
        routes,
        waiting: Vec::new(),
        force_xdp: opts.force_xdp,
        adopt,
        lease,
        outbox: None,
    };
    if !matches!(start, lease::Start::Adopt { .. }) {
        // A dead agent's VIPs (those it answered for) go; the configured ones are removed by
        // the instances' setup as before.
        remove_left_vips(&mut ctx, &prior.owned, &[]).await;
    }
    static_routes::install(&mut ctx, &config).await;
    // The tracked interfaces' first readings (files were read above), then every instance's
    // verdict, before any instance starts.
    ctx.health.start_processes(&mut ctx.dp, &config.track_processes).await;
    health::read_tracked_links(&mut ctx).await;
    ctx.health.take_queued();
    ctx.health.evaluate_all();
    ctx.health.log_changes();
    health::publish_all(&mut ctx);
    let mut instances = Vec::new();
    ctx.renew_lease();
    for cfg in &config.instances {
        match setup_instance(&mut ctx, cfg, opts.xdp_mode).await {
            Ok(inst) => instances.push(inst),
            Err(e) => setup_failed(&mut ctx, cfg, &e, false),
        }
        ctx.renew_lease();
    }
    if ctx.adopt.take().is_some() {
        // VIPs the earlier agent answered for that no resumed instance keeps (an instance
        // removed or changed, or not resumed): not answered for, and removed.
        let kept: Vec<(u32, std::net::IpAddr)> = instances
            .iter()
            .filter(|i| i.adopted_from.is_some())
            .flat_map(|i| i.vips.iter().map(|v| (v.link.index, v.vip.addr)))
            .collect();
        remove_left_vips(&mut ctx, &prior.owned, &kept).await;
    }
    // Now that the programs are loaded (the verifier's walk counts against RLIMIT_RTTIME).
    let _rttime_watch = crate::sched::apply(&config.global.scheduling);
    let result = if instances.is_empty() && ctx.waiting.is_empty() && !config.instances.is_empty() {
        Err(anyhow::anyhow!("{}: no vrrp_instance could be started (see above)", opts.config.display()))
    } else {
        event_loop(&mut ctx, &mut instances, &opts).await
    };

    // Shutdown (also after an error, and when nothing could start): priority 0 from masters,
    // VIPs and routes removed, sync groups told STOP, static objects removed, scripts and
    // FIFOs finished, XDP detached.
    let now = now_ns();
    for inst in &mut instances {
        stop_instance(&mut ctx, inst, now).await;
    }
    health::notify_groups_stop(&mut ctx);
    static_routes::remove(&mut ctx).await;
    ctx.health.stop().await;
    // notify_stop and `notify ... STOP` were started above: give them a moment.
    ctx.notifier.drain(Duration::from_secs(2)).await;
    ctx.dp.shutdown();
    crate::sched::log_breaths();
    info!("stopped");
    result
}
