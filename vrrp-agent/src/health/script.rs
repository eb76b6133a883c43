//! `vrrp_script` trackers: each configured script runs every `interval` seconds, the first
//! time at once, and every run's outcome is sent as a [`HealthEvent::Script`]. Rise/fall and
//! weights are the core's business, not ours.
//!
//! keepalived's rules: a script is never run twice at once (a tick that finds the previous
//! run still going is skipped and logged); a run that outlives `timeout` (default: the
//! interval) is killed with its process group and reported as [`ScriptOutcome::TimedOut`];
//! a script refused by the checks of `crate::exec::prepare` (not found, not executable,
//! insecure under `enable_script_security`) is disabled: it never runs, sends nothing, and
//! is listed by [`ScriptTrackers::disabled`] so that the instances drop it from their
//! `track_script` lists as keepalived does.
use std::{collections::HashMap, future::Future, pin::Pin, time::Duration};

use tokio::{sync::mpsc, task::JoinHandle, time::MissedTickBehavior};
use tracing::{debug, error, info, warn};

use super::{HealthEvent, ScriptOutcome};
use crate::{
    config::VrrpScript,
    exec::{ExecEnv, ExecError, RunOutcome, Runner, Script, prepare},
};

/// A `vrrp_script` that will not run, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disabled {
    pub name: String,
    /// `file:line` of the `vrrp_script` block.
    pub at: String,
    pub error: ExecError,
}

/// What decides whether a SIGHUP restarts a tracker: the definition without its location,
/// and the checked script (user, resolved path).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Key {
    def: VrrpScript,
    script: Script,
}

impl Key {
    fn new(def: &VrrpScript, script: Script) -> Key {
        let mut def = def.clone();
        def.file = Default::default();
        def.line = 0;
        Key { def, script }
    }
}

struct Tracker {
    key: Key,
    task: JoinHandle<()>,
}

/// The running `vrrp_script` trackers.
pub struct ScriptTrackers {
    runner: Runner,
    tx: mpsc::Sender<HealthEvent>,
    trackers: HashMap<String, Tracker>,
    disabled: Vec<Disabled>,
}

fn location(def: &VrrpScript) -> String {
    format!("{}:{}", def.file.display(), def.line)
}

impl ScriptTrackers {
    /// Checks and starts every script in `defs` (first run at once), sending outcomes on
    /// `tx`. Must be called within a tokio runtime.
    pub fn start(defs: &[VrrpScript], env: &ExecEnv, runner: Runner, tx: mpsc::Sender<HealthEvent>) -> ScriptTrackers {
        let mut t = ScriptTrackers { runner, tx, trackers: HashMap::new(), disabled: Vec::new() };
        t.update(defs, env);
        t
    }

    /// After a reload: a script whose definition and checked command are unchanged keeps
    /// running untouched (no extra run, its schedule kept); a changed or new one (re)starts
    /// with a run at once; a removed or now disabled one stops (a run in progress is killed
    /// with its process group). Returns the names (re)started.
    pub fn update(&mut self, defs: &[VrrpScript], env: &ExecEnv) -> Vec<String> {
        self.disabled.clear();
        let mut started = Vec::new();
        let mut keep: HashMap<String, Tracker> = HashMap::new();
        for def in defs {
            if keep.contains_key(&def.name) {
                continue;
            }
            let at = location(def);
            let label = format!("{at}: vrrp_script {}", def.name);
            let user = def.user.clone().map(|user| crate::config::ScriptUser { user, group: def.group.clone() });
            let script = match prepare(&label, &def.script, user.as_ref(), env) {
                Ok(s) => s,
                Err(e) => {
                    error!("{label}: Disabling track script {}: {e}", def.name);
                    self.disabled.push(Disabled { name: def.name.clone(), at, error: e });
                    continue;
                }
            };
            let key = Key::new(def, script);
            if let Some(old) = self.trackers.remove(&def.name) {
                if old.key == key && !old.task.is_finished() {
                    keep.insert(def.name.clone(), old);
                    continue;
                }
                old.task.abort();
                info!("{label}: definition changed, restarting it");
            }
            let task = tokio::spawn(run_tracker(def.clone(), key.script.clone(), self.runner.clone(), self.tx.clone()));
            keep.insert(def.name.clone(), Tracker { key, task });
            started.push(def.name.clone());
        }
        for (name, old) in self.trackers.drain() {
            debug!("vrrp_script {name}: removed, stopping it");
            old.task.abort();
        }
        self.trackers = keep;
        started
    }

    /// Scripts that are configured but will not run (see the module documentation).
    pub fn disabled(&self) -> &[Disabled] {
        &self.disabled
    }

    /// Names of the scripts being run.
    pub fn running(&self) -> Vec<&str> {
        self.trackers.keys().map(String::as_str).collect()
    }

    /// Stops every tracker; a run in progress is killed with its process group.
    pub async fn stop(self) {
        for (_, t) in self.trackers {
            t.task.abort();
            let _ = t.task.await;
        }
    }
}

type RunFuture = Pin<Box<dyn Future<Output = ScriptOutcome> + Send>>;

/// One tracker: a tick every interval; a run per tick unless one is still going.
async fn run_tracker(def: VrrpScript, script: Script, runner: Runner, tx: mpsc::Sender<HealthEvent>) {
    let interval = Duration::from_secs(u64::from(def.interval_s.max(1)));
    let timeout = Duration::from_secs(u64::from(def.timeout_s.unwrap_or(def.interval_s).max(1)));
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut current: Option<RunFuture> = None;
    let name = def.name.clone();
    loop {
        tokio::select! {
            _ = ticks.tick() => {
                if current.is_some() {
                    info!("Track script {name} is already running, expect idle - skipping run");
                    continue;
                }
                current = Some(match runner.spawn(&script, &[], Some(timeout)) {
                    Ok(run) => {
                        debug!("vrrp_script {name}: running `{}` (pid {})", script.display(), run.pid());
                        Box::pin(async move {
                            match run.wait().await {
                                Ok(RunOutcome::Exited(0)) => ScriptOutcome::Success,
                                Ok(RunOutcome::Exited(c)) => ScriptOutcome::Failed(Some(c)),
                                Ok(RunOutcome::Signaled(_)) => ScriptOutcome::Failed(None),
                                Ok(RunOutcome::TimedOut) => ScriptOutcome::TimedOut,
                                Err(_) => ScriptOutcome::Failed(None),
                            }
                        })
                    }
                    Err(e) => {
                        warn!("{}: vrrp_script {name}: cannot run `{}`: {e}", location(&def), script.display());
                        Box::pin(std::future::ready(ScriptOutcome::NotRun))
                    }
                });
            }
            outcome = async { match current.as_mut() { Some(run) => run.await, None => std::future::pending().await } }, if current.is_some() => {
                current = None;
                // A change of exit status ("now returning N") is logged by the core, which
                // sees every reading; here only what the core cannot know.
                if outcome == ScriptOutcome::TimedOut {
                    warn!("vrrp_script {name}: timed out after {} s, killed with its process group", timeout.as_secs());
                }
                if tx.send(HealthEvent::Script { name: name.clone(), outcome }).await.is_err() {
                    debug!("vrrp_script {name}: nobody listens any more; stopping");
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests;
