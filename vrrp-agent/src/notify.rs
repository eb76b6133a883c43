//! Notify scripts and notify FIFOs, with keepalived's semantics: which scripts run on a
//! state change, with which arguments, and which lines go to the FIFOs. Starting, timing out
//! and killing the scripts is `crate::exec`'s job.
//!
//! On entering a state an instance runs its `notify_master` / `notify_backup` /
//! `notify_fault` / `notify_stop`, then the generic `notify` with the arguments
//! `INSTANCE <name> <MASTER|BACKUP|FAULT|STOP> <priority>` appended, and writes
//! `INSTANCE "<name>" <STATE> <priority>` to `notify_fifo` and `vrrp_notify_fifo` (sync
//! groups: `GROUP`, priority 0). Scripts run in the background; the election never waits
//! for one. A script refused by the checks (missing, not executable, insecure under
//! `enable_script_security`) is reported with its config line the first time it is wanted
//! and never run. At shutdown, after a short drain, every script still running is killed
//! with its process group, the FIFO queues are flushed (bounded) and FIFOs the agent created
//! are removed. A SIGHUP applies new `global_defs` with [`Notifier::reload`].
mod fifo;

pub use fifo::{FifoWriter, fifo_line};

use std::{collections::HashMap, path::Path, time::Duration};

use tokio::task::JoinSet;
use tracing::{debug, error, info, warn};

use crate::{
    config::{GlobalDefs, NotifyFifo, ScriptCommand},
    exec::{ExecEnv, ExecError, RunOutcome, Runner, Script, prepare, run_as},
};

/// How long scripts get between SIGTERM and SIGKILL at shutdown (keepalived: 1 s).
const SHUTDOWN_GRACE: Duration = Duration::from_secs(1);
/// How long queued FIFO lines may take to drain at shutdown.
const FIFO_FLUSH: Duration = Duration::from_secs(1);

/// The state a notification is about, in keepalived's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotifyState {
    Master,
    Backup,
    Fault,
    Stop,
}

impl NotifyState {
    pub fn as_str(self) -> &'static str {
        match self {
            NotifyState::Master => "MASTER",
            NotifyState::Backup => "BACKUP",
            NotifyState::Fault => "FAULT",
            NotifyState::Stop => "STOP",
        }
    }
}

/// The notify settings of one instance or sync group.
#[derive(Debug, Clone, Default)]
pub struct Scripts {
    pub notify: Option<ScriptCommand>,
    pub master: Option<ScriptCommand>,
    pub backup: Option<ScriptCommand>,
    pub fault: Option<ScriptCommand>,
    pub stop: Option<ScriptCommand>,
}

impl Scripts {
    fn specific(&self, state: NotifyState) -> Option<&ScriptCommand> {
        match state {
            NotifyState::Master => self.master.as_ref(),
            NotifyState::Backup => self.backup.as_ref(),
            NotifyState::Fault => self.fault.as_ref(),
            NotifyState::Stop => self.stop.as_ref(),
        }
    }
}

/// Runs the notify scripts and writes the notify FIFOs.
pub struct Notifier {
    timeout: Duration,
    env: ExecEnv,
    runner: Runner,
    /// Notify script runs not finished yet.
    running: JoinSet<()>,
    /// Each script line checked once (as keepalived checks them once at startup).
    checked: HashMap<ScriptCommand, Result<Script, ExecError>>,
    fifos: Vec<OpenFifo>,
    /// The `*_fifo_script` runs (they live until shutdown, or until a reload replaces them).
    fifo_scripts: JoinSet<()>,
    /// FIFOs a reload dropped, still writing out their last lines.
    closing: JoinSet<()>,
}

/// One notify FIFO being written, and its reader script.
struct OpenFifo {
    writer: FifoWriter,
    /// The `*_fifo_script` as checked, and its process group (= pid) once started.
    script: Option<(Script, Option<i32>)>,
}

/// The FIFOs `global_defs` configures: keyword, FIFO, its script.
fn fifo_defs(global: &GlobalDefs) -> [(&'static str, Option<&NotifyFifo>, Option<&ScriptCommand>); 2] {
    [
        ("notify_fifo", global.notify_fifo.as_ref(), global.notify_fifo_script.as_ref()),
        ("vrrp_notify_fifo", global.vrrp_notify_fifo.as_ref(), global.vrrp_notify_fifo_script.as_ref()),
    ]
}

/// SIGTERM to a FIFO script's process group, if the runner still has it (a group leaves the
/// runner when reaped, so the id cannot belong to someone else then).
fn stop_fifo_script(runner: &Runner, pgid: i32) {
    if runner.running().contains(&pgid)
        && let Err(e) = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pgid), nix::sys::signal::Signal::SIGTERM)
    {
        debug!("stopping notify fifo script (process group {pgid}): {e}");
    }
}

impl Notifier {
    /// Scripts time out after `timeout`; no `global_defs` (no script security, no FIFOs).
    pub fn new(timeout: Duration) -> Self {
        Notifier::with_env(timeout, ExecEnv::default(), Runner::new())
    }

    /// With `enable_script_security` / `script_user` from `env`, starting scripts on
    /// `runner` (share one runner with the trackers so that one shutdown covers all).
    pub fn with_env(timeout: Duration, env: ExecEnv, runner: Runner) -> Self {
        Notifier {
            timeout,
            env,
            runner,
            running: JoinSet::new(),
            checked: HashMap::new(),
            fifos: Vec::new(),
            fifo_scripts: JoinSet::new(),
            closing: JoinSet::new(),
        }
    }

    /// Everything `global_defs` configures: script security and user, and the notify
    /// FIFOs (created if missing, their scripts started). A FIFO that cannot be set up is
    /// reported and left out; the agent runs on. Must be called within a tokio runtime.
    pub fn from_config(timeout: Duration, global: &GlobalDefs, runner: Runner) -> Self {
        let mut n = Notifier::with_env(timeout, ExecEnv::from_global(global), runner);
        for (kw, fifo, script) in fifo_defs(global) {
            if let Some(f) = fifo {
                n.open_fifo(kw, f, script);
            }
        }
        n
    }

    /// A SIGHUP: the new `global_defs` take effect. Script security and `script_user` are
    /// the new ones, and every notify script is checked again when next wanted (one fixed
    /// or added since is run, one made insecure is refused). A FIFO at an unchanged path
    /// stays open with its queue (nothing lost); its reader script is restarted only if it
    /// changed (command, or user after the new settings), else left running. A FIFO at a new
    /// path is created and opened (its script started); one no longer configured writes out
    /// what it has queued (bounded) and is closed, removed if the agent created it, and its
    /// script stopped. Must be called within a tokio runtime.
    pub fn reload(&mut self, global: &GlobalDefs) {
        self.env = ExecEnv::from_global(global);
        self.checked.clear();
        let mut old = std::mem::take(&mut self.fifos);
        for (kw, fifo, script) in fifo_defs(global) {
            let Some(f) = fifo else { continue };
            let Some(i) = old.iter().position(|o| o.writer.path() == f.path) else {
                self.open_fifo(kw, f, script);
                continue;
            };
            let mut kept = old.swap_remove(i);
            let want = script.and_then(|s| self.check_fifo_script(kw, s).map(|sc| (s, sc)));
            let same = match (&kept.script, &want) {
                (Some((a, _)), Some((_, b))) => a == b,
                (None, None) => true,
                _ => false,
            };
            if !same {
                if let Some((_, Some(pgid))) = kept.script.take() {
                    info!("{kw} {}: its script changed; stopping the old one", f.path.display());
                    stop_fifo_script(&self.runner, pgid);
                }
                kept.script = want.map(|(s, sc)| {
                    let pgid = self.spawn_fifo_script(&fifo_script_label(kw, s), &sc, &f.path);
                    (sc, pgid)
                });
            }
            self.fifos.push(kept);
        }
        // Finished closes and FIFO scripts (a JoinSet keeps them until joined): one entry per
        // reload that replaced a FIFO would otherwise stay until exit.
        while self.closing.try_join_next().is_some() {}
        while self.fifo_scripts.try_join_next().is_some() {}
        for gone in old {
            info!("notify FIFO {}: no longer configured; closing it", gone.writer.path().display());
            let runner = self.runner.clone();
            self.closing.spawn(async move {
                // Its reader gets the last lines before it is stopped.
                gone.writer.close(FIFO_FLUSH).await;
                if let Some((_, Some(pgid))) = gone.script {
                    stop_fifo_script(&runner, pgid);
                }
            });
        }
    }

    fn open_fifo(&mut self, kw: &str, f: &NotifyFifo, script: Option<&ScriptCommand>) {
        let at = format!("{}:{}", f.file.display(), f.line);
        if self.fifos.iter().any(|o| o.writer.path() == f.path) {
            error!("{at}: {kw} {}: the FIFO names must all be different; ignored", f.path.display());
            return;
        }
        let owner = match run_as(f.user.as_ref(), &self.env) {
            Ok(o) => o,
            Err(e) => {
                error!("{at}: {kw} {}: {e}; not opened", f.path.display());
                return;
            }
        };
        let created = match fifo::create(&f.path, owner) {
            Ok(c) => c,
            Err(e) => {
                error!("{at}: {kw} {}: cannot create the FIFO: {e}", f.path.display());
                return;
            }
        };
        // As keepalived: the script first (it opens the FIFO for reading), then our end.
        let script = script.and_then(|s| {
            let sc = self.check_fifo_script(kw, s)?;
            let pgid = self.spawn_fifo_script(&fifo_script_label(kw, s), &sc, &f.path);
            Some((sc, pgid))
        });
        match FifoWriter::open(&f.path, created) {
            Ok(writer) => {
                info!("{kw}: writing notifications to {}", f.path.display());
                self.fifos.push(OpenFifo { writer, script });
            }
            Err(e) => {
                error!("{at}: {kw} {}: cannot open the FIFO: {e}", f.path.display());
                if let Some((_, Some(pgid))) = script {
                    stop_fifo_script(&self.runner, pgid);
                }
                if created {
                    let _ = std::fs::remove_file(&f.path);
                }
            }
        }
    }

    /// The FIFO script checked with the current settings (`None`, reported, if refused).
    fn check_fifo_script(&self, kw: &str, s: &ScriptCommand) -> Option<Script> {
        let label = fifo_script_label(kw, s);
        prepare(&label, &s.command, s.user.as_ref(), &self.env).map_err(|e| error!("{label}: not run: {e}")).ok()
    }

    /// Starts the FIFO script with the FIFO's path; its process group if it started.
    fn spawn_fifo_script(&mut self, label: &str, script: &Script, path: &Path) -> Option<i32> {
        let path = path.display().to_string();
        match self.runner.spawn(script, &[&path], None) {
            Ok(run) => {
                let pgid = run.pid();
                debug!("{label}: started `{} {path}` (pid {pgid})", script.display());
                let label = label.to_string();
                self.fifo_scripts.spawn(async move {
                    match run.wait().await {
                        Ok(o) => info!("{label}: notify fifo script terminated ({o})"),
                        Err(e) => warn!("{label}: notify fifo script: {e}"),
                    }
                });
                Some(pgid)
            }
            Err(e) => {
                error!("{label}: cannot run `{}`: {e}", script.display());
                None
            }
        }
    }

    /// Starts the scripts for `instance` entering `state` and queues the FIFO line.
    /// Returns at once.
    pub fn notify(&mut self, scripts: &Scripts, instance: &str, state: NotifyState, priority: u8) {
        self.notify_as("INSTANCE", scripts, instance, state, priority);
    }

    /// The same for sync group `group` (keepalived gives groups priority 0).
    pub fn notify_group(&mut self, scripts: &Scripts, group: &str, state: NotifyState) {
        self.notify_as("GROUP", scripts, group, state, 0);
    }

    fn notify_as(&mut self, kind: &str, scripts: &Scripts, name: &str, state: NotifyState, priority: u8) {
        // Reap finished runs so the set does not grow.
        while self.running.try_join_next().is_some() {}
        let line = fifo_line(kind, name, state.as_str(), priority);
        for f in &self.fifos {
            f.writer.send(line.clone());
        }
        if let Some(cmd) = scripts.specific(state) {
            self.start(cmd, &[], name);
        }
        if let Some(cmd) = &scripts.notify {
            let prio = priority.to_string();
            self.start(cmd, &[kind, name, state.as_str(), &prio], name);
        }
    }

    fn start(&mut self, cmd: &ScriptCommand, extra: &[&str], name: &str) {
        let env = &self.env;
        let checked = self.checked.entry(cmd.clone()).or_insert_with(|| {
            let label = format!("{}:{}: ({name})", cmd.file.display(), cmd.line);
            prepare(&label, &cmd.command, cmd.user.as_ref(), env)
        });
        let script = match checked {
            Ok(s) => s.clone(),
            Err(e) => {
                error!("{}:{}: ({name}) cannot run notify script `{}`: {e}", cmd.file.display(), cmd.line, cmd.command);
                return;
            }
        };
        let shown = std::iter::once(script.display()).chain(extra.iter().map(|s| s.to_string())).collect::<Vec<_>>().join(" ");
        let run = match self.runner.spawn(&script, extra, Some(self.timeout)) {
            Ok(r) => r,
            Err(e) => {
                error!("({name}) cannot run notify script `{shown}`: {e}");
                return;
            }
        };
        debug!("({name}) started notify script `{shown}` (pid {})", run.pid());
        let timeout = self.timeout;
        let name = name.to_string();
        self.running.spawn(async move {
            match run.wait().await {
                Ok(RunOutcome::Exited(0)) => debug!("({name}) notify script `{shown}` done"),
                Ok(RunOutcome::TimedOut) => {
                    warn!("({name}) notify script `{shown}` timed out after {:.1} s and was killed", timeout.as_secs_f64())
                }
                Ok(o) => warn!("({name}) notify script `{shown}` failed: {o}"),
                Err(e) => warn!("({name}) notify script `{shown}`: {e}"),
            }
        });
    }

    /// At shutdown: waits up to `bound` for running notify scripts (notify_stop among
    /// them), then kills the process group of every script still running (notify and FIFO
    /// scripts: none outlives the agent, nor its children), flushes the FIFO queues
    /// (bounded) and removes the FIFOs the agent created.
    pub async fn drain(&mut self, bound: Duration) {
        let all = async { while self.running.join_next().await.is_some() {} };
        if tokio::time::timeout(bound, all).await.is_err() {
            debug!("notify scripts still running after {:.1} s", bound.as_secs_f64());
        }
        // The last lines (STOP) reach the FIFOs' readers before those are stopped.
        for f in self.fifos.drain(..) {
            f.writer.close(FIFO_FLUSH).await;
        }
        // FIFOs a reload dropped: their close is bounded by FIFO_FLUSH too.
        if tokio::time::timeout(FIFO_FLUSH + Duration::from_millis(500), async { while self.closing.join_next().await.is_some() {} }).await.is_err() {
            self.closing.abort_all();
        }
        let groups = self.runner.running();
        if !groups.is_empty() {
            info!("{} script(s) still running at exit: killing their process groups {groups:?}", groups.len());
            self.runner.shutdown(SHUTDOWN_GRACE).await;
        }
        let all = async {
            while self.running.join_next().await.is_some() {}
            while self.fifo_scripts.join_next().await.is_some() {}
        };
        if tokio::time::timeout(Duration::from_secs(2), all).await.is_err() {
            warn!("{} notify script(s) not reaped after SIGKILL", self.running.len() + self.fifo_scripts.len());
            self.running.detach_all();
            self.fifo_scripts.detach_all();
        }
    }
}

fn fifo_script_label(kw: &str, s: &ScriptCommand) -> String {
    format!("{}:{}: {kw}_script", s.file.display(), s.line)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests;
