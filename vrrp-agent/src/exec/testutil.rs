//! Helpers for tests that run real scripts: a per-test directory (root-owned, 0755, under
//! the system temp dir so that its path passes the script security checks), scripts in it,
//! waiting on a deadline, and processes checked by pid.
use std::{
    os::unix::fs::PermissionsExt as _,
    path::{Path, PathBuf},
    sync::atomic::{AtomicU32, Ordering},
    time::{Duration, Instant},
};

/// A directory removed (with what is in it) on drop.
pub(crate) struct TempDir(pub PathBuf);

impl TempDir {
    pub(crate) fn new(tag: &str) -> TempDir {
        static N: AtomicU32 = AtomicU32::new(0);
        let d = std::env::temp_dir().join(format!("vrrp-exec-{}-{}-{tag}", std::process::id(), N.fetch_add(1, Ordering::Relaxed)));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).unwrap();
        TempDir(d)
    }

    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// A `#!/bin/sh` script, mode 0755.
    pub(crate) fn script(&self, name: &str, body: &str) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p
    }

    pub(crate) fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.path(name)).unwrap_or_default()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub(crate) fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// False (and says why) when the test needs root and we are not.
pub(crate) fn require_root(test: &str) -> bool {
    if is_root() {
        return true;
    }
    assert!(std::env::var_os("CI").is_none(), "{test}: needs root, and CI is set: refusing to skip");
    eprintln!("SKIP {test}: needs root (switching users, chown)");
    false
}

/// Polls `f` every 10 ms until it gives a value or `limit` has passed.
pub(crate) async fn wait_for<T>(limit: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(start.elapsed() < limit, "timed out after {:.2} s waiting for {what}", limit.as_secs_f64());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Is `pid` a live process (present and not a zombie)?
pub(crate) fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|st| st.rsplit_once(')').map(|(_, rest)| rest.split_whitespace().next() != Some("Z")))
        .unwrap_or(false)
}

/// The pid a script wrote to `file`, once it is there.
pub(crate) async fn read_pid(file: &Path) -> i32 {
    wait_for(Duration::from_secs(5), &format!("a pid in {}", file.display()), || {
        std::fs::read_to_string(file).ok().and_then(|s| s.trim().parse().ok())
    })
    .await
}

/// Kills the listed pids on drop if they still live (a failed test leaves nothing behind).
pub(crate) struct Reap(pub Vec<i32>);

impl Drop for Reap {
    fn drop(&mut self) {
        for &p in &self.0 {
            if p > 1 && alive(p) {
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(p), nix::sys::signal::Signal::SIGKILL);
            }
        }
    }
}
