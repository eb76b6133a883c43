//! Notify scripts, run as keepalived runs them: `notify_master` / `notify_backup` /
//! `notify_fault` / `notify_stop` on entering that state, then the generic `notify` with the
//! arguments `INSTANCE <name> <MASTER|BACKUP|FAULT|STOP> <priority>` appended.
//!
//! A script line is split into words like a shell would split it (quotes respected), but no
//! shell runs it, as in keepalived. Each script runs in the background in its own process
//! group; one that outlives the timeout is killed with its children. A script that cannot be
//! started, fails or hangs is logged; the election never waits for a script.
use std::{process::Stdio, time::Duration};

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
}

impl Notifier {
    pub fn new(timeout: Duration) -> Self {
        Notifier { timeout, running: JoinSet::new() }
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
        self.running.spawn(async move {
            match tokio::time::timeout(timeout, child.wait()).await {
                Ok(Ok(status)) if status.success() => debug!("({instance}) notify script `{shown}` done"),
                Ok(Ok(status)) => warn!("({instance}) notify script `{shown}` failed: {status}"),
                Ok(Err(e)) => warn!("({instance}) notify script `{shown}`: {e}"),
                Err(_) => {
                    if let Some(pid) = child.id() {
                        // SAFETY: the script runs in its own process group (pgid = its pid),
                        // which we created and have not reaped: kill it and its children.
                        unsafe { libc::kill(-(pid as i32), libc::SIGKILL) };
                    }
                    let _ = child.wait().await;
                    warn!("({instance}) notify script `{shown}` timed out after {:.1} s and was killed", timeout.as_secs_f64());
                }
            }
        });
    }

    /// At shutdown: waits up to `bound` for running scripts (notify_stop among them); any
    /// still running are left to finish on their own.
    pub async fn drain(&mut self, bound: Duration) {
        let all = async { while self.running.join_next().await.is_some() {} };
        if tokio::time::timeout(bound, all).await.is_err() {
            info!("{} notify script(s) still running at exit; left to finish", self.running.len());
            self.running.detach_all();
        }
    }
}
