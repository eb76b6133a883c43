//! Health trackers: the drivers that watch something outside VRRP (a script's exit status,
//! a file's contents, a process's presence) and report what they saw as `HealthEvent`s.
//! They never change an instance's state or priority themselves: the core
//! (`crate::core::tracker`, `crate::core::priority`) turns readings into decisions.
//!
//! Interfaces (`track_interface`) need no tracker of their own: the driver already follows
//! the kernel's link notifications and feeds them to the core the same way.

pub mod file;
pub mod process;
pub mod script;

/// One reading from a tracker, named by its configuration block (`vrrp_script <name>`,
/// `vrrp_track_file <name>`, `vrrp_track_process <name>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HealthEvent {
    /// One run of a `vrrp_script` finished (or was killed at its timeout).
    Script { name: String, outcome: ScriptOutcome },
    /// The integer a `vrrp_track_file` now holds (keepalived reads the first integer in the
    /// file; unreadable or no integer reads as 0).
    File { name: String, value: i64 },
    /// How many running processes match a `vrrp_track_process` now.
    Process { name: String, count: u32 },
}

/// How one run of a script ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScriptOutcome {
    /// Exited with status 0.
    Success,
    /// Exited with a non-zero status, or was killed by a signal (`None`).
    Failed(Option<i32>),
    /// Did not finish within `timeout`: killed with its process group.
    TimedOut,
    /// Could not be started (missing, not executable, refused by script security).
    NotRun,
}

impl ScriptOutcome {
    /// keepalived counts only exit status 0 as success.
    pub fn is_success(self) -> bool {
        matches!(self, ScriptOutcome::Success)
    }
}
