//! Notify scripts, run as keepalived runs them: `notify_master` / `notify_backup` /
//! `notify_fault` / `notify_stop` on entering that state, then the generic `notify` with the
//! arguments `INSTANCE <name> <MASTER|BACKUP|FAULT|STOP> <priority>` appended.
//!
//! A script line is split into words like a shell would split it (quotes respected), but no
//! shell runs it, as in keepalived. Each script runs in the background in its own process
//! group; one that outlives the timeout is killed with its children. A script that cannot be
//! started, fails or hangs is logged; the election never waits for a script. At shutdown,
//! after a short drain, every script still running is killed with its process group, so no
//! script (nor anything it started in its group) outlives the agent.
use std::{
    collections::BTreeSet,
    process::Stdio,
    sync::{Arc, Mutex},
    time::Duration,
};

use nix::{sys::signal::Signal, unistd::Pid};

use tokio::{process::Command, task::JoinSet};
use tracing::{debug, error, info, warn};

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

/// The notify settings of one instance.
#[derive(Debug, Clone, Default)]
pub struct Scripts {
    pub notify: Option<String>,
    pub master: Option<String>,
    pub backup: Option<String>,
    pub fault: Option<String>,
    pub stop: Option<String>,
}

impl Scripts {
    fn specific(&self, state: NotifyState) -> Option<&str> {
        match state {
            NotifyState::Master => self.master.as_deref(),
            NotifyState::Backup => self.backup.as_deref(),
            NotifyState::Fault => self.fault.as_deref(),
            NotifyState::Stop => self.stop.as_deref(),
        }
    }
}

/// The script runs this agent started and has not reaped yet.
pub struct Notifier {
    timeout: Duration,
    running: JoinSet<()>,
    /// Process groups of the scripts started and not reaped yet (each script leads its own
    /// group, so its id cannot be reused while it is here).
    groups: Arc<Mutex<BTreeSet<i32>>>,
}

/// SIGKILL to a script's process group: the script and whatever it started.
fn kill_group(pgid: i32) {
    if let Err(e) = nix::sys::signal::killpg(Pid::from_raw(pgid), Signal::SIGKILL) {
        debug!("killing notify script process group {pgid}: {e}");
    }
}

impl Notifier {
    pub fn new(timeout: Duration) -> Self {
        Notifier { timeout, running: JoinSet::new(), groups: Arc::default() }
    }

    /// Starts the scripts for `instance` entering `state`. Returns at once.
    pub fn notify(&mut self, scripts: &Scripts, instance: &str, state: NotifyState, priority: u8) {
        // Reap finished runs so the set does not grow.
        while self.running.try_join_next().is_some() {}
        if let Some(cmd) = scripts.specific(state) {
            self.start(cmd, &[], instance);
        }
        if let Some(cmd) = &scripts.notify {
            let prio = priority.to_string();
            self.start(cmd, &["INSTANCE", instance, state.as_str(), &prio], instance);
        }
    }

    fn start(&mut self, cmdline: &str, extra: &[&str], instance: &str) {
        let Some(words) = shlex::split(cmdline).filter(|w| !w.is_empty()) else {
            error!("({instance}) notify script {cmdline:?}: cannot split into words (unbalanced quotes?)");
            return;
        };
        let mut cmd = Command::new(&words[0]);
        cmd.args(&words[1..])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .kill_on_drop(false);
        let shown = if extra.is_empty() { cmdline.to_string() } else { format!("{cmdline} {}", extra.join(" ")) };
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                error!("({instance}) cannot run notify script `{shown}`: {e}");
                return;
            }
        };
        debug!("({instance}) started notify script `{shown}` (pid {:?})", child.id());
        let timeout = self.timeout;
        let instance = instance.to_string();
        let pgid = child.id().and_then(|p| i32::try_from(p).ok());
        let groups = self.groups.clone();
        if let Some(g) = pgid {
            groups.lock().unwrap_or_else(|e| e.into_inner()).insert(g);
        }
        self.running.spawn(async move {
            match tokio::time::timeout(timeout, child.wait()).await {
                Ok(Ok(status)) if status.success() => debug!("({instance}) notify script `{shown}` done"),
                Ok(Ok(status)) => warn!("({instance}) notify script `{shown}` failed: {status}"),
                Ok(Err(e)) => warn!("({instance}) notify script `{shown}`: {e}"),
                Err(_) => {
                    // The script leads its own process group, not reaped yet: kill it and
                    // its children.
                    if let Some(g) = pgid {
                        kill_group(g);
                    }
                    let _ = child.wait().await;
                    warn!("({instance}) notify script `{shown}` timed out after {:.1} s and was killed", timeout.as_secs_f64());
                }
            }
            // Reaped: the group id may be reused from now on. (The runtime is single-threaded,
            // so `shutdown` cannot run between the reaping and this line.)
            if let Some(g) = pgid {
                groups.lock().unwrap_or_else(|e| e.into_inner()).remove(&g);
            }
        });
    }

    /// At shutdown: waits up to `bound` for running scripts (notify_stop among them), then
    /// kills the process group of every script still running (a script that never exits
    /// must not outlive the agent, nor its children) and reaps them.
    pub async fn drain(&mut self, bound: Duration) {
        let all = async { while self.running.join_next().await.is_some() {} };
        if tokio::time::timeout(bound, all).await.is_ok() {
            return;
        }
        let groups: Vec<i32> = self.groups.lock().unwrap_or_else(|e| e.into_inner()).iter().copied().collect();
        info!("{} notify script(s) still running at exit: killing their process groups {groups:?}", groups.len());
        for g in groups {
            kill_group(g);
        }
        // Each task now sees its script exit (killed) and reaps it.
        let all = async { while self.running.join_next().await.is_some() {} };
        if tokio::time::timeout(Duration::from_secs(2), all).await.is_err() {
            warn!("{} notify script(s) not reaped after SIGKILL", self.running.len());
            self.running.detach_all();
        }
    }
}
