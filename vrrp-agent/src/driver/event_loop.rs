//! The event loop: one select over signals, XDP events, the slow path, link notifications
//! and the timerfd; due deadlines fired with the takeover window closed; SIGTERM's hand-over.
use std::time::Duration;

use anyhow::Context as _;
use tokio::{io::unix::AsyncFd, signal::unix::SignalKind};
use tracing::{debug, info, warn};
use vrrp_common::state;

use crate::{
    status::keepalived::Dump,
    clock::Deadline,
    rx::socket::SlowPath,
    dataplane,
    core::fsm::State,
    net::netlink::LinkEvents,
};

pub use crate::clock::now_ns;
use super::{Ctx, RunOptions};
use super::actions::{apply_actions, finish_actions, flush_outbox, publish_state, run_actions, split_before_netlink, state_code, take_actions};
use super::adverts::{dispatch, drain_ring, refresh_from_record, slow_dispatch};
use super::instance::{Vrrp, start_instance, start_waiting};
use super::health;
use super::links::check_links;
use super::reload::{finish_retired, reload};

/// The XDP program's wake-ups: the ring buffer of adverts that can change a decision.
pub(super) type Events = AsyncFd<aya::maps::RingBuf<aya::maps::MapData>>;

pub(super) async fn event_loop(ctx: &mut Ctx, instances: &mut Vec<Vrrp>, opts: &RunOptions) -> anyhow::Result<()> {
    let mut sigterm = tokio::signal::unix::signal(SignalKind::terminate())?;
    let mut sigint = tokio::signal::unix::signal(SignalKind::interrupt())?;
    let mut sighup = tokio::signal::unix::signal(SignalKind::hangup())?;
    // keepalived's dump signals: SIGUSR1 data, SIGUSR2 stats, SIGRTMIN+2 JSON.
    let mut dumps = [
        (tokio::signal::unix::signal(SignalKind::user_defined1())?, Dump::Data),
        (tokio::signal::unix::signal(SignalKind::user_defined2())?, Dump::Stats),
        (tokio::signal::unix::signal(SignalKind::from_raw(libc::SIGRTMIN() + 2))?, Dump::Json),
    ];
    let mut trace = register_fd(ctx.dp.take_trace().context("trace ring buffer already taken")?)?;
    let mut sigquit = tokio::signal::unix::signal(SignalKind::quit())?;
    let mut events: Events = register_fd(ctx.dp.take_events().context("event ring buffer already taken")?)?;
    let mut deadline = Deadline::new().context("creating the timerfd")?;
    let mut conflicts = register_fd(ctx.dp.take_conflicts().context("VIP conflict ring buffer already taken")?)?;
    let mut conflict_log = crate::conflict::ConflictLog::default();
    let mut logger = match ctx.dp.take_logger() {
        Some(l) => Some(register_fd(l)?),
        None => None,
    };
    // Link state (and IPv6 addresses, for the link-local advert source): pushed by the
    // kernel; a slow poll stays as a safety net in case a notification is lost (a netlink
    // socket can overflow).
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
    // A hitless restart: a member resumed as MASTER emitted no transition, so its sync group
    // learns its members' states from them (silently: nothing moved).
    super::health::resync_adopted_groups(ctx, instances);

    loop {
        // After a stall longer than the lease the datapath has been fenced and a backup may
        // have taken over: what arrived meanwhile, and our overdue timers, are acted on
        // first (a higher master heard, or our advert sent), and only then may XDP answer for
        // our VIPs again. Renewing first had us answer ARP beside the new master until our
        // advert reached it, for as long as we stayed starved in between.
        if let Some(stalled_ns) = ctx.lease_lapsed(now_ns()) {
            warn!(
                "the event loop stalled for {:.1} ms, longer than the {:.1} ms lease: the datapath was fenced; catching up before answering for the VIPs again",
                stalled_ns as f64 / 1e6,
                ctx.lease.fence_after_ns as f64 / 1e6
            );
            let batch = drain_ring(events.get_mut());
            dispatch(ctx, instances, batch).await;
            let slow = slow_path.drain_now();
            slow_dispatch(ctx, instances, slow).await;
            run_due(ctx, instances, &mut events, &mut slow_path).await;
        }
        // Every turn renews the lease; a quiet agent wakes for it at least every
        // `renew_every_ns`.
        let renew_at = ctx.renew_lease();
        deadline.arm(next_deadline(instances).into_iter().chain(ctx.health.poll_timeout()).chain([renew_at]).min())?;
        tokio::select! {
            _ = sigquit.recv() => leave_datapath(ctx),
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
            dump = async {
                let [a, b, c] = &mut dumps;
                tokio::select! {
                    _ = a.0.recv() => a.1,
                    _ = b.0.recv() => b.1,
                    _ = c.0.recv() => c.1,
                }
            } => write_dump(dump, opts),
            guard = trace.readable_mut() => {
                let mut guard = guard?;
                while let Some(item) = guard.get_inner_mut().next() {
                    let Some(ev) = crate::trace::parse(&item) else { continue };
                    let ifname = instances.iter().find(|i| i.link.index == ev.ifindex).map_or_else(|| format!("ifindex {}", ev.ifindex), |i| i.link.name.clone());
                    info!(target: "vrrp_trace", "{}", crate::trace::describe(&ev, &ifname));
                }
                guard.clear_ready();
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
                        let vip = c.vip;
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
                health::check_tracked_links(ctx, instances).await;
                start_waiting(ctx, instances, opts.xdp_mode).await;
            }
            _ = link_poll.tick() => {
                check_links(ctx, instances).await;
                health::check_tracked_links(ctx, instances).await;
                start_waiting(ctx, instances, opts.xdp_mode).await;
            }
            Some(ev) = ctx.health.rx.recv() => health::handle_event(ctx, instances, ev).await,
            r = deadline.wait() => r?,
        }
        run_due(ctx, instances, &mut events, &mut slow_path).await;
        health::run_due(ctx, instances).await;
        finish_retired(ctx, instances, opts.xdp_mode).await;
        health::settle_groups(ctx, instances).await;
        // Whatever this turn did, it stays within vrrp_rlimit_rttime (see `sched::breathe`).
        crate::sched::breathe();
    }
}

/// Writes one of keepalived's dump files from the pinned maps (the agent's own snapshot).
fn write_dump(dump: Dump, opts: &RunOptions) {
    match crate::status::keepalived::write_dump(dump, &opts.bpffs, &opts.dump_dir) {
        Ok(path) => info!("wrote {}", path.display()),
        Err(e) => warn!("writing {}: {e:#}", dump.file_name()),
    }
}

pub(super) fn next_deadline(instances: &[Vrrp]) -> Option<u64> {
    instances.iter().filter_map(|i| i.fsm.poll_timeout()).min()
}

/// Fires the instances' due timers. A backup about to become master first closes the
/// takeover window: it tells the XDP program it is (about to be) master, so every advert
/// from now on wakes us, then takes every advert that arrived before: the ring buffer, the
/// slow-path socket and the advert record. Only if none of them changed its mind does it take over; otherwise the
/// XDP program is told it is a backup again.
pub(super) async fn run_due(ctx: &mut Ctx, instances: &mut [Vrrp], events: &mut Events, slow_path: &mut SlowPath) {
    let now = now_ns();
    let due: Vec<usize> = (0..instances.len()).filter(|&i| instances[i].fsm.poll_timeout().is_some_and(|d| d <= now)).collect();
    if due.is_empty() {
        return;
    }
    // Backups whose Master_Down_Timer ran out take the adverts that arrived since first (in
    // steady state adverts do not wake us). The ones about to take over also publish MASTER
    // before, so that every advert from now on wakes us; a sync group member only asks its
    // group, so it has no takeover window.
    let expired: Vec<usize> = due.iter().copied().filter(|&i| instances[i].fsm.master_down_due(now)).collect();
    let takeovers: Vec<usize> = expired.iter().copied().filter(|&i| instances[i].fsm.takeover_due(now)).collect();
    if !expired.is_empty() {
        for &i in &takeovers {
            publish_state(ctx, &instances[i], state::MASTER);
        }
        let batch = drain_ring(events.get_mut());
        dispatch(ctx, instances, batch).await;
        let slow = slow_path.drain_now();
        slow_dispatch(ctx, instances, slow).await;
        for &i in &expired {
            refresh_from_record(ctx, &mut instances[i]);
        }
    }
    // Two passes: every due instance's state and first advert go out before any of them
    // waits on netlink for its VIPs, so several VRIDs taking over at once do not delay each
    // other's adverts (the next backup may be only Δpriority/256 × interval behind). The
    // adverts of the first pass are collected and sent together, one sendmmsg per
    // interface: the FSM puts the Adver_Timers of instances due within one tick on the
    // same instant, so one wake-up sends them all.
    let mut later = Vec::with_capacity(due.len());
    ctx.outbox = Some(Vec::new());
    for &i in &due {
        let inst = &mut instances[i];
        // Adverts taken above carry their own (later) receive times: a restarted timer is
        // no longer due at `now`, and handle_timeout leaves it alone.
        inst.fsm.handle_timeout(now);
        let (first, rest) = split_before_netlink(take_actions(inst));
        let mut notify = None;
        let queued = ctx.outbox.as_ref().map_or(0, Vec::len);
        run_actions(ctx, inst, first, &mut notify).await;
        for q in ctx.outbox.iter_mut().flat_map(|o| o[queued..].iter_mut()) {
            q.owner = i;
        }
        later.push((i, rest, notify));
    }
    let queued = ctx.outbox.take().unwrap_or_default();
    flush_outbox(ctx, instances, queued);
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
pub(super) async fn hand_over(
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
        let renew_at = ctx.renew_lease();
        if let Err(e) = deadline.arm(next_deadline(instances).into_iter().chain([renew_at]).min()) {
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

/// SIGQUIT: leave the datapath for the next agent (`systemctl kill -s QUIT`, then systemd
/// restarts the agent on exit status 75: a hitless restart or upgrade). Exits at once: the
/// VIPs stay on the interfaces, the maps and XDP links stay pinned, no notify script runs,
/// and the lease is not renewed again, so the next agent must start within its bound to
/// adopt all this (else the XDP program fences the datapath and the backups take over).
fn leave_datapath(ctx: &Ctx) -> ! {
    info!(
        "SIGQUIT: leaving the datapath for the next agent (VIPs, pinned maps and XDP links stay; it must start within \
         {:.1} ms to adopt them); exiting with status {}",
        ctx.lease.fence_after_ns as f64 / 1e6,
        super::EXIT_LEFT_DATAPATH
    );
    std::process::exit(super::EXIT_LEFT_DATAPATH)
}

/// Registers a file descriptor we own with the tokio reactor.
pub(super) fn register_fd<T: std::os::fd::AsRawFd>(inner: T) -> anyhow::Result<AsyncFd<T>> {
    // SAFETY: `inner` owns its fd (a map or the log ring buffer) and the AsyncFd owns `inner`,
    // so the fd stays open for as long as it is registered.
    unsafe { AsyncFd::register(inner) }.map_err(|e| anyhow::anyhow!("registering a BPF map fd with tokio: {e}"))
}
