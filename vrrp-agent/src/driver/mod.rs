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
    dataplane::{Dataplane, KernelLogLevel, XdpMode},
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
}

pub(super) struct Ctx {
    pub(super) dp: Dataplane,
    pub(super) nl: Netlink,
    pub(super) senders: Vec<std::sync::Arc<Sender>>,
    pub(super) garp_interval: Duration,
    /// `vrrp_gna_interval`: the spacing of unsolicited NAs, as garp_interval spaces GARPs.
    pub(super) gna_interval: Duration,
    pub(super) notifier: Notifier,
    pub(super) health: health::Health,
    /// virtual_routes/rules with mastership, static_* for the agent's lifetime.
    pub(super) routes: crate::net::routes::Routes,
    /// Instances waiting in FAULT for their interface to appear (as keepalived starts them).
    pub(super) waiting: Vec<config::Instance>,
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

    let runner = crate::exec::Runner::new();
    let routes = crate::net::routes::Routes::new(nl.handle());
    let mut ctx = Ctx {
        dp,
        nl,
        senders: Vec::new(),
        garp_interval: Duration::from_millis(u64::from(config.global.vrrp_garp_interval_ms)),
        gna_interval: Duration::from_millis(u64::from(config.global.vrrp_gna_interval_ms)),
        notifier: Notifier::from_config(opts.notify_timeout, &config.global, runner.clone()),
        health: health::Health::start(&config, &runner),
        routes,
        waiting: Vec::new(),
    };
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
    for cfg in &config.instances {
        match setup_instance(&mut ctx, cfg, opts.xdp_mode).await {
            Ok(inst) => instances.push(inst),
            Err(e) => setup_failed(&mut ctx, cfg, &e, false),
        }
    }
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
    info!("stopped");
    result
}
