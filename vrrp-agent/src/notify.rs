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
//! are removed.
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
    fifos: Vec<FifoWriter>,
    /// The `*_fifo_script` runs (they live until shutdown).
    fifo_scripts: JoinSet<()>,
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
        }
    }

    /// Everything `global_defs` configures: script security and user, and the notify
    /// FIFOs (created if missing, their scripts started). A FIFO that cannot be set up is
    /// reported and left out; the agent runs on. Must be called within a tokio runtime.
    pub fn from_config(timeout: Duration, global: &GlobalDefs, runner: Runner) -> Self {
        let mut n = Notifier::with_env(timeout, ExecEnv::from_global(global), runner);
        let pairs = [
            ("notify_fifo", &global.notify_fifo, &global.notify_fifo_script),
            ("vrrp_notify_fifo", &global.vrrp_notify_fifo, &global.vrrp_notify_fifo_script),
        ];
        for (kw, fifo, script) in pairs {
            if let Some(f) = fifo {
                n.open_fifo(kw, f, script.as_ref());
            }
        }
        n
    }

    fn open_fifo(&mut self, kw: &str, f: &NotifyFifo, script: Option<&ScriptCommand>) {
        let at = format!("{}:{}", f.file.display(), f.line);
        if self.fifos.iter().any(|w| w.path() == f.path) {
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
        if let Some(s) = script {
            self.start_fifo_script(kw, s, &f.path);
        }
        match FifoWriter::open(&f.path, created) {
            Ok(w) => {
                info!("{kw}: writing notifications to {}", f.path.display());
                self.fifos.push(w);
            }
            Err(e) => {
                error!("{at}: {kw} {}: cannot open the FIFO: {e}", f.path.display());
                if created {
                    let _ = std::fs::remove_file(&f.path);
                }
            }
        }
    }

    fn start_fifo_script(&mut self, kw: &str, s: &ScriptCommand, path: &Path) {
        let label = format!("{}:{}: {kw}_script", s.file.display(), s.line);
        let script = match prepare(&label, &s.command, s.user.as_ref(), &self.env) {
            Ok(sc) => sc,
            Err(e) => {
                error!("{label}: not run: {e}");
                return;
            }
        };
        let path = path.display().to_string();
        match self.runner.spawn(&script, &[&path], None) {
            Ok(run) => {
                debug!("{label}: started `{} {path}` (pid {})", script.display(), run.pid());
                let label = label.clone();
                self.fifo_scripts.spawn(async move {
                    match run.wait().await {
                        Ok(o) => info!("{label}: notify fifo script terminated ({o})"),
                        Err(e) => warn!("{label}: notify fifo script: {e}"),
                    }
                });
            }
            Err(e) => error!("{label}: cannot run `{}`: {e}", script.display()),
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
            f.send(line.clone());
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
            f.close(FIFO_FLUSH).await;
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

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests;
