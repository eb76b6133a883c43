//! Health tracking, driven: the trackers' readings (scripts, files, processes, tracked
//! interfaces) go to the core (`core::tracker`), whose changes re-evaluate the instances
//! that track them (`core::priority`); each verdict goes to its FSM. Sync groups
//! (`core::sync_group`) see every member's transitions, faults and wishes, and their
//! commands are applied until the group is quiet. Trackers never touch an instance
//! themselves.
use tokio::sync::mpsc;
use tracing::{error, info, warn};

use crate::{
    clock::now_ns,
    config::{self, Config},
    core::{
        fsm::{Reason, State, TrackerFault},
        priority::{Priorities, Verdict},
        sync_group::{MemberNow, SyncCommand, SyncGroup},
        tracker::{TrackKind, Trackers},
    },
    exec::{ExecEnv, Runner},
    health::{HealthEvent, file::FileTrackers, process::ProcessTrackers, script::ScriptTrackers},
    notify::{NotifyState, Scripts},
};

use crate::dataplane::Dataplane;
use crate::status::publish::{TrackerLedger, instance_priority, tracker_of};

use super::Ctx;
use super::actions::{apply_actions, publish_state, state_code};
use super::instance::Vrrp;

/// Readings queued by the trackers' tasks before the event loop takes them.
const HEALTH_QUEUE: usize = 1024;

/// A member transition, queued by `run_actions` for the sync groups.
pub(super) struct Transition {
    pub(super) instance: String,
    pub(super) from: State,
    pub(super) to: State,
    pub(super) reason: Reason,
}

/// Everything health tracking needs at run time.
pub(crate) struct Health {
    /// The configuration the trackers were built from (a reload compares against it).
    config: Config,
    env: ExecEnv,
    runner: Runner,
    pub(super) trackers: Trackers,
    pub(super) priorities: Priorities,
    groups: Vec<SyncGroup>,
    scripts: Option<ScriptTrackers>,
    files: Option<FileTrackers>,
    processes: Option<ProcessTrackers>,
    /// Process watching was tried and could not start.
    processes_failed: bool,
    tx: mpsc::Sender<HealthEvent>,
    pub(super) rx: mpsc::Receiver<HealthEvent>,
    /// Member transitions not yet given to their sync group.
    pub(super) transitions: Vec<Transition>,
    /// What `status` shows about each tracker (counters the core does not keep).
    ledger: TrackerLedger,
    /// Trackers a reload removed, to forget in the status map.
    gone: Vec<(TrackKind, String)>,
}

impl Health {
    /// Starts the script and file trackers of `cfg` (inside the runtime).
    pub(super) fn start(cfg: &Config, runner: &Runner) -> Health {
        let (tx, rx) = mpsc::channel(HEALTH_QUEUE);
        let env = ExecEnv::from_global(&cfg.global);
        let scripts = (!cfg.scripts.is_empty()).then(|| ScriptTrackers::start(&cfg.scripts, &env, runner.clone(), tx.clone()));
        let files = start_files(&cfg.track_files, tx.clone());
        let trackers = Trackers::new(cfg);
        let (priorities, _) = Priorities::new(cfg, &trackers);
        let mut health = Health {
            config: cfg.clone(),
            env,
            runner: runner.clone(),
            trackers,
            priorities,
            groups: SyncGroup::from_config(cfg),
            scripts,
            files,
            processes: None,
            processes_failed: false,
            tx,
            rx,
            transitions: Vec::new(),
            ledger: TrackerLedger::new(cfg, now_ns()),
            gone: Vec::new(),
        };
        health.read_files_now();
        health.disable_broken();
        health
    }

    /// Every instance evaluated against the trackers' readings now (at start, once the first
    /// readings are in; the notes are logged once).
    pub(super) fn evaluate_all(&mut self) {
        let (priorities, notes) = Priorities::new(&self.config, &self.trackers);
        for n in notes {
            warn!("{n}");
        }
        self.priorities = priorities;
    }

    /// A track file's current value, read synchronously, so an instance starts with it.
    fn read_files_now(&mut self) {
        let Some(files) = &self.files else { return };
        let now = now_ns();
        for name in files.names() {
            if let Some(value) = files.value(&name) {
                let ev = HealthEvent::File { name, value };
                self.ledger.record_health(now, &ev);
                let _ = self.trackers.handle_health(now, &ev);
            }
        }
    }

    /// Logs the changes the first readings made (at start, after `evaluate_all` already took
    /// them into account), so that they are not logged later as if they were new.
    pub(super) fn log_changes(&mut self) {
        while let Some(change) = self.trackers.poll_change() {
            info!("{change}");
        }
    }

    /// Readings already queued (the first ones, at start) taken now, synchronously.
    pub(super) fn take_queued(&mut self) {
        let now = now_ns();
        while let Ok(ev) = self.rx.try_recv() {
            self.ledger.record_health(now, &ev);
            if let Err(e) = self.trackers.handle_health(now, &ev) {
                warn!("{e}");
            }
        }
    }

    /// Process trackers (tracepoint programs attached only while some are configured).
    pub(super) async fn start_processes(&mut self, dp: &mut Dataplane, defs: &[config::TrackProcess]) {
        match &mut self.processes {
            Some(p) => {
                match p.update(dp, defs).await {
                    Ok(()) => {}
                    // The tracker's task is gone: its counts would freeze. Dropped (detaching
                    // its programs) and its trackers disabled, so nothing waits on them.
                    Err(crate::health::process::ProcessTrackError::Stopped) => {
                        error!("vrrp_track_process: the process tracker stopped; process trackers are disabled");
                        self.processes = None;
                        self.processes_failed = true;
                        self.disable_broken();
                    }
                    Err(e) => error!("vrrp_track_process: {e}; process trackers keep their last state"),
                }
                return;
            }
            None if defs.is_empty() => {}
            None => match ProcessTrackers::start(dp, defs, self.tx.clone()).await {
                Ok(p) => {
                    self.processes = Some(p);
                    self.processes_failed = false;
                }
                Err(e) => {
                    error!("vrrp_track_process: cannot watch processes: {e}; process trackers are disabled");
                    self.processes_failed = true;
                }
            },
        }
        self.disable_broken();
    }

    /// The instance's verdict now (at startup: before `handle_startup`).
    pub(super) fn verdict(&self, instance: &str) -> Option<&Verdict> {
        self.priorities.verdict(instance)
    }

    /// The configuration running now (until a reload replaces it).
    pub(super) fn config(&self) -> &Config {
        &self.config
    }

    pub(super) fn is_sync_member(&self, instance: &str) -> bool {
        self.groups.iter().any(|g| g.member_index(instance).is_some())
    }

    pub(super) fn poll_timeout(&self) -> Option<u64> {
        self.trackers.poll_timeout()
    }

    /// SIGHUP: trackers whose definition did not change keep their state (and keep running);
    /// changed and new ones start again; sync groups are rebuilt from the new file.
    pub(super) fn reload(&mut self, cfg: &Config) {
        self.env = ExecEnv::from_global(&cfg.global);
        self.trackers = self.trackers.reload(&self.config, cfg);
        match &mut self.scripts {
            Some(s) => {
                let restarted = s.update(&cfg.scripts, &self.env);
                if !restarted.is_empty() {
                    info!("SIGHUP: vrrp_script(s) started again: {}", restarted.join(", "));
                }
            }
            None if !cfg.scripts.is_empty() => {
                self.scripts = Some(ScriptTrackers::start(&cfg.scripts, &self.env, self.runner.clone(), self.tx.clone()));
            }
            None => {}
        }
        match &mut self.files {
            Some(f) => {
                for e in f.update(&cfg.track_files) {
                    error!("{e}");
                }
            }
            None => self.files = start_files(&cfg.track_files, self.tx.clone()),
        }
        self.config = cfg.clone();
        self.read_files_now();
        self.disable_broken();
        self.gone = self.ledger.reload(cfg, now_ns());
        // Rebuilt from the new file; `resync_groups` tells them where their members are.
        self.groups = SyncGroup::from_config(cfg);
    }

    /// Trackers that cannot run (a script refused by its checks, a track file that cannot be
    /// watched, process watching that could not start) no longer count for any instance, as
    /// keepalived drops them: otherwise they would hold their instances waiting for ever.
    fn disable_broken(&mut self) {
        let mut broken: Vec<(TrackKind, String)> = Vec::new();
        if let Some(s) = &self.scripts {
            broken.extend(s.disabled().iter().map(|d| (TrackKind::Script, d.name.clone())));
        }
        let watched = self.files.as_ref().map(FileTrackers::names).unwrap_or_default();
        broken.extend(
            self.config.track_files.iter().filter(|f| !watched.contains(&f.name)).map(|f| (TrackKind::File, f.name.clone())),
        );
        if self.processes_failed {
            broken.extend(self.config.track_processes.iter().map(|p| (TrackKind::Process, p.name.clone())));
        }
        for (kind, name) in broken {
            if !self.trackers.is_disabled(kind, &name) {
                self.trackers.disable(kind, &name);
            }
        }
    }

    /// Shutdown: scripts stopped (their process groups killed), watchers dropped.
    pub(super) async fn stop(&mut self) {
        if let Some(s) = self.scripts.take() {
            s.stop().await;
        }
        self.files = None;
        self.processes = None;
    }
}

/// Every tracker's status written (at start and after a reload), the removed ones forgotten.
pub(super) fn publish_all(ctx: &mut Ctx) {
    for (kind, name) in std::mem::take(&mut ctx.health.gone) {
        ctx.dp.forget_tracker(kind, &name);
    }
    let all = ctx.health.ledger.all(now_ns(), &ctx.health.trackers);
    for (kind, name, st) in all {
        if let Err(e) = ctx.dp.write_tracker(kind, &name, &st) {
            warn!("publishing tracker {kind} {name}: {e}");
        }
    }
}

/// One tracker's status written after a reading or a change.
fn publish_tracker(ctx: &mut Ctx, kind: TrackKind, name: &str) {
    if let Some(st) = ctx.health.ledger.update(now_ns(), kind, name, &ctx.health.trackers)
        && let Err(e) = ctx.dp.write_tracker(kind, name, &st)
    {
        warn!("publishing tracker {kind} {name}: {e}");
    }
}

/// Why the instance has the priority it has, for `status`.
fn publish_priority(ctx: &mut Ctx, inst: &Vrrp, v: &Verdict) {
    let p = instance_priority(v, inst.cfg.sync_group.as_deref(), now_ns());
    if let Err(e) = ctx.dp.write_priority(inst.key, &p) {
        warn!(parent: &inst.span, "publishing the priority's reasons: {e}");
    }
}

fn start_files(defs: &[config::TrackFile], tx: mpsc::Sender<HealthEvent>) -> Option<FileTrackers> {
    if defs.is_empty() {
        return None;
    }
    match FileTrackers::start(defs, tx) {
        Ok((files, errors)) => {
            for e in errors {
                error!("{e}");
            }
            Some(files)
        }
        Err(e) => {
            error!("{e}; track files are not watched");
            None
        }
    }
}

/// Gives an instance its verdict before it starts (effective priority, tracker faults) and
/// gates it if it is a sync group member.
pub(super) fn prepare_instance(ctx: &mut Ctx, inst: &mut Vrrp) {
    let now = now_ns();
    if ctx.health.is_sync_member(&inst.cfg.name) {
        inst.fsm.set_sync_gated(true);
    }
    let Some(v) = ctx.health.verdict(&inst.cfg.name).cloned() else { return };
    publish_priority(ctx, inst, &v);
    if v.priority != inst.fsm.priority() {
        info!(parent: &inst.span, "({}) Changing effective priority from {} to {}", inst.cfg.name, inst.fsm.priority(), v.priority);
        set_priority(ctx, inst, now, v.priority);
    }
    apply_fault(inst, now, &v);
}

/// A new effective priority: to the FSM (a master advertises it at once) and to the
/// VRID_CONFIG map (where bpftool shows it).
fn set_priority(ctx: &mut Ctx, inst: &mut Vrrp, now: u64, priority: u8) {
    inst.fsm.handle_priority_change(now, priority);
    publish_state(ctx, inst, state_code(inst.fsm.state()));
}

fn apply_fault(inst: &mut Vrrp, now: u64, v: &Verdict) {
    let fault = v.tracker_fault();
    if fault == TrackerFault::Fault && inst.fsm.tracker_fault() != TrackerFault::Fault {
        let why: Vec<String> = v.faults.iter().map(ToString::to_string).collect();
        info!(parent: &inst.span, "({}) entering FAULT state ({})", inst.cfg.name, why.join(", "));
    }
    inst.fsm.handle_tracker_fault(now, fault);
}

/// One reading from a tracker task.
pub(super) async fn handle_event(ctx: &mut Ctx, instances: &mut [Vrrp], ev: HealthEvent) {
    let now = now_ns();
    ctx.health.ledger.record_health(now, &ev);
    if let Err(e) = ctx.health.trackers.handle_health(now, &ev) {
        warn!("{e}");
    }
    let (kind, name) = tracker_of(&ev);
    publish_tracker(ctx, kind, name);
    apply_changes(ctx, instances).await;
}

/// The trackers' own deadlines (process delays).
pub(super) async fn run_due(ctx: &mut Ctx, instances: &mut [Vrrp]) {
    let now = now_ns();
    if ctx.health.trackers.poll_timeout().is_some_and(|d| d <= now) {
        ctx.health.trackers.handle_timeout(now);
        apply_changes(ctx, instances).await;
    }
}

/// Tracked interfaces read again after a link notification (a missing one is down).
pub(super) async fn check_tracked_links(ctx: &mut Ctx, instances: &mut [Vrrp]) {
    read_tracked_links(ctx).await;
    apply_changes(ctx, instances).await;
}

/// Every tracked interface's state, from rtnetlink, into the trackers.
pub(super) async fn read_tracked_links(ctx: &mut Ctx) {
    let names: Vec<String> = ctx.health.trackers.interface_names().map(str::to_string).collect();
    let now = now_ns();
    for name in names {
        let up = match ctx.nl.link(&name).await {
            Ok(l) => l.up,
            Err(crate::net::netlink::NetlinkError::NoSuchInterface(_)) => false,
            Err(e) => {
                warn!("reading tracked interface {name}: {e}; state unchanged");
                continue;
            }
        };
        ctx.health.ledger.record_link(now, &name);
        if ctx.health.trackers.handle_link(now, &name, up) {
            publish_tracker(ctx, TrackKind::Interface, &name);
        }
    }
}

/// Logs the trackers' changes and hands the instances that track them their new verdicts.
async fn apply_changes(ctx: &mut Ctx, instances: &mut [Vrrp]) {
    let now = now_ns();
    while let Some(change) = ctx.health.trackers.poll_change() {
        info!("{change}");
        if !change.affects_instances() {
            continue;
        }
        let (kind, name): (TrackKind, String) = {
            let (k, n) = change.tracker();
            (k, n.to_string())
        };
        publish_tracker(ctx, kind, &name);
        let changes = ctx.health.priorities.reevaluate(kind, &name, &ctx.health.trackers);
        for vc in changes {
            let Some(inst) = instances.iter_mut().find(|i| i.cfg.name == vc.instance) else { continue };
            publish_priority(ctx, inst, &vc.verdict);
            if let Some(line) = vc.priority_log() {
                info!(parent: &inst.span, "{line}");
            }
            if vc.verdict.priority != inst.fsm.priority() {
                set_priority(ctx, inst, now, vc.verdict.priority);
            }
            if vc.verdict.tracker_fault() != vc.from_fault {
                if vc.verdict.tracker_fault() == TrackerFault::Clear {
                    info!(parent: &inst.span, "({}) tracker fault cleared", inst.cfg.name);
                }
                apply_fault(inst, now, &vc.verdict);
            }
            apply_actions(ctx, inst).await;
        }
    }
    settle_groups(ctx, instances).await;
}

/// After a reload: each instance gated as a member of its (new) group or not, and each
/// rebuilt group told where its members are; the commands that bring members in line (a
/// stale sync fault cleared, a sibling of a master made master) are applied by
/// `settle_groups`.
pub(super) async fn resync_groups(ctx: &mut Ctx, instances: &mut [Vrrp]) {
    let now = now_ns();
    for inst in instances.iter_mut() {
        let member = ctx.health.is_sync_member(&inst.cfg.name);
        inst.fsm.set_sync_gated(member);
        if !member && inst.fsm.sync_fault() != TrackerFault::Clear {
            inst.fsm.handle_sync_fault(now, TrackerFault::Clear);
            apply_actions(ctx, inst).await;
        }
    }
    for g in &mut ctx.health.groups {
        g.resync(|name| {
            instances.iter().find(|i| i.cfg.name == name).map(|i| MemberNow {
                state: i.fsm.state(),
                own: i.fsm.own_fault(),
                sync: i.fsm.sync_fault(),
                wants: i.fsm.wants_master(),
            })
        });
    }
    ctx.health.transitions.clear();
    settle_groups(ctx, instances).await;
}

/// After a hitless restart: the sync groups with a member that resumed as MASTER (which
/// emits no transition) take their members' states as they are, as on a reload, so a later
/// step-down of one member moves the others with it. Other groups are left to their startup
/// transitions.
pub(super) fn resync_adopted_groups(ctx: &mut Ctx, instances: &[Vrrp]) {
    for g in &mut ctx.health.groups {
        let adopted = g.member_names().any(|n| instances.iter().any(|i| i.cfg.name == n && i.adopted_from.is_some()));
        if !adopted {
            continue;
        }
        g.resync(|name| {
            instances.iter().find(|i| i.cfg.name == name).map(|i| MemberNow {
                state: i.fsm.state(),
                own: i.fsm.own_fault(),
                sync: i.fsm.sync_fault(),
                wants: i.fsm.wants_master(),
            })
        });
    }
}

/// Feeds the sync groups every member's transitions, faults and wishes, and applies their
/// commands, until no group has anything more to say. A member waiting for its interface is a
/// faulty member. Group notify scripts run once the members have moved (as keepalived: the
/// members first, then the group's notifies).
pub(super) async fn settle_groups(ctx: &mut Ctx, instances: &mut [Vrrp]) {
    if ctx.health.groups.is_empty() {
        ctx.health.transitions.clear();
        return;
    }
    // Bounded: the commands cause transitions the groups ignore (Reason::Synced /
    // SyncFault), so two or three rounds are the most a change needs.
    for _ in 0..16 {
        let transitions = std::mem::take(&mut ctx.health.transitions);
        let mut commands = Vec::new();
        let mut changes = Vec::new();
        for g in &mut ctx.health.groups {
            for t in &transitions {
                if let Some(m) = g.member_index(&t.instance) {
                    g.handle_transition(m, t.from, t.to, &t.reason);
                }
            }
            for inst in instances.iter_mut() {
                let Some(m) = g.member_index(&inst.cfg.name) else { continue };
                g.handle_own_fault(m, inst.fsm.own_fault());
                if let Some(wants) = inst.fsm.poll_want_master() {
                    g.handle_want_master(m, wants);
                }
            }
            for w in &ctx.waiting {
                if let Some(m) = g.member_index(&w.name) {
                    g.handle_own_fault(m, TrackerFault::Fault);
                }
            }
            while let Some(change) = g.poll_change() {
                changes.push(change);
            }
            while let Some((m, cmd)) = g.poll_command() {
                let name = g.member_names().nth(m).map(str::to_string);
                commands.extend(name.map(|n| (n, cmd)));
            }
        }
        let now = now_ns();
        for (name, cmd) in &commands {
            let Some(inst) = instances.iter_mut().find(|i| &i.cfg.name == name) else { continue };
            match *cmd {
                SyncCommand::Master => inst.fsm.handle_sync_master(now),
                SyncCommand::Backup => inst.fsm.handle_sync_backup(now),
                SyncCommand::Fault(f) => inst.fsm.handle_sync_fault(now, f),
            }
            apply_actions(ctx, inst).await;
        }
        for change in changes {
            info!("{change}");
            let state = match change.to {
                State::Master => NotifyState::Master,
                State::Backup => NotifyState::Backup,
                State::Fault => NotifyState::Fault,
                State::Initialize => continue,
            };
            notify_group(ctx, &change.group, state);
        }
        if commands.is_empty() && ctx.health.transitions.is_empty() {
            return;
        }
    }
    warn!("sync groups did not settle after 16 rounds; carrying on");
}

/// A sync group's notify scripts (and FIFO lines) for a group state.
fn notify_group(ctx: &mut Ctx, group: &str, state: NotifyState) {
    let Some(sg) = ctx.health.config.sync_groups.iter().find(|s| s.name == group) else { return };
    let scripts = Scripts {
        notify: sg.notify.clone(),
        master: sg.notify_master.clone(),
        backup: sg.notify_backup.clone(),
        fault: sg.notify_fault.clone(),
        stop: sg.notify_stop.clone(),
    };
    ctx.notifier.notify_group(&scripts, group, state);
}

/// Shutdown: every sync group is told STOP, as keepalived does.
pub(super) fn notify_groups_stop(ctx: &mut Ctx) {
    let names: Vec<String> = ctx.health.config.sync_groups.iter().map(|g| g.name.clone()).collect();
    for g in names {
        notify_group(ctx, &g, NotifyState::Stop);
    }
}
