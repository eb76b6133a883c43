//! SIGHUP: the configuration read again, instances kept, restarted or retired.
use std::time::Duration;

use tracing::{error, info, warn};

use crate::{
    config,
    dataplane::XdpMode,
    core::fsm::State,
};

pub use crate::clock::now_ns;
use super::{Ctx, RunOptions, load_config};
use super::actions::apply_actions;
use super::instance::{Vrrp, setup_failed, setup_instance, start_instance, stop_instance};

/// An instance's settings without where they were written, so that a reload does not restart
/// an instance because an edit above it moved its lines.
pub(super) fn settings(cfg: &config::Instance) -> serde_json::Value {
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
pub(super) async fn reload(ctx: &mut Ctx, instances: &mut Vec<Vrrp>, opts: &RunOptions) {
    let config = match load_config(&opts.config, opts.config_id.clone()) {
        Ok(c) => c,
        Err(e) => {
            error!("SIGHUP: {e:#}; the running configuration stays");
            return;
        }
    };
    // A file that now runs nothing while instances run is far likelier a mistake (a file
    // emptied or truncated by a failed write, the wrong file) than a wish to drop every VIP
    // at once; stopping the agent does that.
    if config.instances.is_empty() && !instances.is_empty() {
        error!("SIGHUP: {}: no vrrp_instance to run; the running configuration stays (stop the agent to stop every instance)", opts.config.display());
        return;
    }
    if let Some(note) = crate::sched::reload_note(&ctx.scheduling, &config.global.scheduling) {
        warn!("SIGHUP: {note}");
    }
    ctx.garp_interval = Duration::from_millis(u64::from(config.global.vrrp_garp_interval_ms));
    // The lease bound follows the new shortest advert interval (renewed with it at once).
    ctx.set_lease(super::lease_for(&config));
    ctx.gna_interval = Duration::from_millis(u64::from(config.global.vrrp_gna_interval_ms));
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
    // What health tracking judges: the new file, plus the instances that keep running with
    // their old settings because their new ones have errors (their trackers keep counting).
    let mut tracked = config.clone();
    for mut inst in old {
        if config.rejected.iter().any(|r| r.name == inst.cfg.name) {
            error!(parent: &inst.span, "({}) its new configuration has errors: it keeps running as before", inst.cfg.name);
            tracked.instances.push(inst.cfg.clone());
            instances.push(inst);
            kept += 1;
            continue;
        }
        stopped += 1;
        if retire(ctx, &mut inst, Pending::Remove).await {
            instances.push(inst);
        }
    }
    // Notify settings (script security, script_user, FIFOs) from the new global_defs.
    ctx.notifier.reload(&config.global);
    let old = ctx.health.config().clone();
    super::static_routes::reload(ctx, &old, &config).await;
    // Trackers and sync groups from the new file (unchanged trackers keep their state); the
    // instances kept get their verdict again, as a tracker change would give it.
    ctx.health.start_processes(&mut ctx.dp, &tracked.track_processes).await;
    ctx.health.reload(&tracked);
    // Interfaces a reload starts tracking are read now, before any instance is re-judged.
    super::health::read_tracked_links(ctx).await;
    ctx.health.evaluate_all();
    ctx.health.log_changes();
    super::health::publish_all(ctx);
    for inst in instances.iter_mut().filter(|i| i.pending.is_none()) {
        super::health::prepare_instance(ctx, inst);
        apply_actions(ctx, inst).await;
    }
    super::health::resync_groups(ctx, instances).await;
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
pub(super) enum Pending {
    Restart(Box<config::Instance>),
    Remove,
}

/// Stops an instance a reload changed or removed. A master (or one already handing over)
/// hands over make-before-break, as on SIGTERM: priority 0, VIPs kept until the successor
/// speaks; it stays in the instance list with `pending` set, and `finish_retired` restarts or
/// drops it once stopped (returns true). Anything else stops at once (returns false).
pub(super) async fn retire(ctx: &mut Ctx, inst: &mut Vrrp, then: Pending) -> bool {
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
pub(super) async fn finish_retired(ctx: &mut Ctx, instances: &mut Vec<Vrrp>, mode: XdpMode) {
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
