//! The one place that starts scripts: notify scripts, `vrrp_script` trackers and the
//! notify FIFO scripts all go through here, with keepalived 2.2.7's rules.
//!
//! * A command line is split into words the way keepalived splits script lines (spaces
//!   separate words; `'…'` and `"…"` quote; backslash escapes such as `\t`, `\x41`, `\101`
//!   work inside and outside quotes) and run without a shell. The one exception, as in
//!   keepalived, is a line starting with `<` followed by a path (`</dev/tcp/…`: "can this be
//!   opened?"), which only a shell can run: it goes to `/bin/sh -c`.
//! * Who runs it: the script's own `USER [GROUP]`, else `global_defs` `script_user`, else the
//!   user `keepalived_script` if it exists, else the agent's own user (root), which
//!   `enable_script_security` forbids.
//! * Before it may run ([`prepare`]): a bare name is looked up in `PATH` (with a warning:
//!   give the full path); the path is resolved (symlinks, `..`) keeping the name the script
//!   was called by when it is the same file; the file must be executable by that user. A
//!   script that would run with root's rights (as root, as group root, or set-uid/set-gid
//!   root) must not be changeable by anyone else: the file and every directory up to `/` must
//!   be owned by root, and not writable by a non-root group or by everyone (a directory with
//!   the sticky bit, like /tmp, may be). With `enable_script_security` such a script is
//!   refused; without it, it runs and is reported (keepalived's "SECURITY VIOLATION").
//! * A run ([`Runner::spawn`]): its own process group, stdin/stdout/stderr on /dev/null (a
//!   chatty script never blocks anything), the user switched by the standard library
//!   (setgroups, setgid, setuid before exec), then SIGTERM as its parent-death signal, as
//!   keepalived gives it (the only code of ours in the child: one prctl). A run that
//!   outlives its timeout gets SIGTERM on its whole process group, then SIGKILL on the group
//!   2 s later if it is still there, as keepalived does; once the script has exited, what is
//!   left of its group is killed too. [`Runner::shutdown`] does the same to every run still
//!   going (SIGTERM, then SIGKILL after the grace period).
//!
//! Differences from keepalived, on purpose: what a script leaves running in its process
//! group when it exits is killed (keepalived leaves it, and nothing would ever stop it; a
//! notify script that means to start a long-lived service must detach it with `setsid` or
//! ask the service manager); a script that cannot be executed at run time (deleted after it
//! was checked) is reported as not run (keepalived's child exits 0, which counts as
//! success).
//!
//! The parent-death signal is sent when the *thread* that forked ends, not the process: the
//! agent runs one current-thread runtime on its main thread, so every script is forked by
//! the thread that lives as long as the agent (a multi-threaded runtime would need a
//! dedicated spawning thread). It reaches the script itself, not what the script started
//! (the setting is not inherited): a script killed with the agent should stop its own
//! children on SIGTERM.
use std::{
    collections::BTreeSet,
    ffi::OsStr,
    io,
    os::unix::{
        ffi::OsStrExt as _,
        fs::{MetadataExt as _, PermissionsExt as _},
        process::ExitStatusExt as _,
    },
    path::{Path, PathBuf},
    process::{ExitStatus, Stdio},
    sync::{Arc, Mutex},
    time::Duration,
};

use nix::{
    sys::{
        prctl::set_pdeathsig,
        signal::{Signal, killpg},
    },
    unistd::{Gid, Group, Pid, Uid, User, getegid, geteuid, getpid, getppid},
};
use tokio::{process::Command, sync::Notify};
use tracing::{debug, warn};

use crate::config::{Config, Diagnostic, GlobalDefs, ScriptCommand, ScriptUser, Severity};

/// How long a timed-out script has between SIGTERM and SIGKILL (keepalived: 2 s).
pub const TERM_GRACE: Duration = Duration::from_secs(2);

/// keepalived's default script user when `script_user` is not set.
pub const DEFAULT_SCRIPT_USER: &str = "keepalived_script";

/// Why a script cannot be run.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum ExecError {
    #[error("cannot split `{command}` into words: {reason}")]
    Split { command: String, reason: &'static str },
    #[error("empty command")]
    Empty,
    #[error("user '{0}' does not exist")]
    NoUser(String),
    #[error("group '{0}' does not exist")]
    NoGroup(String),
    #[error("cannot look up user/group '{name}': {reason}")]
    Lookup { name: String, reason: String },
    #[error(
        "enable_script_security is set but no script user is: set global_defs script_user, give the script a user, or create the user {DEFAULT_SCRIPT_USER} (keepalived: \"Unable to set default user\")"
    )]
    NoDefaultUser,
    #[error("{0} not found in PATH")]
    NotInPath(String),
    #[error("{0} found in PATH but not executable (permission denied)")]
    PathPermission(String),
    #[error("{path} cannot be accessed: {reason}")]
    NotFound { path: String, reason: String },
    #[error("{path} is not executable by uid:gid {uid}:{gid}")]
    NotExecutable { path: String, uid: u32, gid: u32 },
    #[error("{path}: {component} is not a {expected}")]
    WrongType { path: String, component: String, expected: &'static str },
    #[error(
        "refused by enable_script_security: {path} would run with root rights but {component} is {why}, so a non-root user could change what runs"
    )]
    Insecure { path: String, component: String, why: String },
}

/// Split a script line into words as keepalived does (quotes, backslash escapes; no
/// variables, globs or other shell syntax).
pub fn split_words(line: &str) -> Result<Vec<String>, ExecError> {
    let err = |reason| ExecError::Split { command: line.to_string(), reason };
    let mut words = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_ascii_whitespace()).is_some() {}
        if chars.peek().is_none() {
            return Ok(words);
        }
        let mut word = String::new();
        let mut quote: Option<char> = None;
        loop {
            let Some(c) = chars.next() else {
                if quote.is_some() {
                    return Err(err("missing closing quote"));
                }
                break;
            };
            match (c, quote) {
                ('\\', _) => {
                    let Some(e) = chars.next() else { return Err(err("backslash at the end")) };
                    word.push(unescape(e, &mut chars));
                }
                (q @ ('"' | '\''), None) => quote = Some(q),
                (q, Some(open)) if q == open => quote = None,
                (c, None) if c.is_ascii_whitespace() => break,
                (c, _) => word.push(c),
            }
        }
        words.push(word);
    }
}

/// The character a backslash escape `\e…` stands for (`e` already read).
fn unescape(e: char, chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> char {
    let byte = |v: u32| char::from_u32(v & 0xff).unwrap_or('?');
    match e {
        'x' if chars.peek().is_some_and(char::is_ascii_hexdigit) => {
            let mut v = 0u32;
            while let Some(d) = chars.next_if(char::is_ascii_hexdigit).and_then(|d| d.to_digit(16)) {
                v = (v << 4 | d) & 0xff;
            }
            byte(v)
        }
        'c' if chars.peek().is_some() => chars.next().map_or('c', |k| byte(k as u32 & 0x1f)),
        '0'..='7' => {
            let mut v = e.to_digit(8).unwrap_or(0);
            for _ in 0..2 {
                match chars.next_if(|d| d.is_digit(8)).and_then(|d| d.to_digit(8)) {
                    Some(d) => v = v << 3 | d,
                    None => break,
                }
            }
            byte(v)
        }
        'a' => '\x07',
        'b' => '\x08',
        'E' => '\x1b',
        'f' => '\x0c',
        'n' => '\n',
        'r' => '\r',
        't' => '\t',
        'v' => '\x0b',
        other => other,
    }
}

/// The uid and gid a script runs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RunAs {
    pub uid: u32,
    pub gid: u32,
}

impl RunAs {
    /// The agent's own effective uid and gid.
    pub fn ours() -> RunAs {
        RunAs { uid: geteuid().as_raw(), gid: getegid().as_raw() }
    }
}

/// What `global_defs` says about running scripts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecEnv {
    /// `enable_script_security`.
    pub security: bool,
    /// `script_user USER [GROUP]`.
    pub script_user: Option<ScriptUser>,
}

impl ExecEnv {
    pub fn from_global(g: &GlobalDefs) -> ExecEnv {
        ExecEnv { security: g.enable_script_security, script_user: g.script_user.clone() }
    }
}

fn lookup_user(name: &str) -> Result<Option<User>, ExecError> {
    User::from_name(name).map_err(|e| ExecError::Lookup { name: name.to_string(), reason: e.to_string() })
}

/// `USER [GROUP]` to ids: the user's own group unless a group is given.
pub fn resolve(u: &ScriptUser) -> Result<RunAs, ExecError> {
    let user = lookup_user(&u.user)?.ok_or_else(|| ExecError::NoUser(u.user.clone()))?;
    let gid = match &u.group {
        None => user.gid,
        Some(g) => {
            let group = Group::from_name(g)
                .map_err(|e| ExecError::Lookup { name: g.clone(), reason: e.to_string() })?
                .ok_or_else(|| ExecError::NoGroup(g.clone()))?;
            group.gid
        }
    };
    Ok(RunAs { uid: user.uid.as_raw(), gid: gid.as_raw() })
}

/// Who a script with `user` (its own `USER [GROUP]`, if any) runs as.
pub fn run_as(user: Option<&ScriptUser>, env: &ExecEnv) -> Result<RunAs, ExecError> {
    if let Some(u) = user.or(env.script_user.as_ref()) {
        return resolve(u);
    }
    match lookup_user(DEFAULT_SCRIPT_USER)? {
        Some(u) => Ok(RunAs { uid: u.uid.as_raw(), gid: u.gid.as_raw() }),
        None if env.security => Err(ExecError::NoDefaultUser),
        None => Ok(RunAs::ours()),
    }
}

/// A script that passed the checks: what to execute, as whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    /// argv; argv[0] is the resolved path (or the `<…` line run by the shell).
    pub argv: Vec<String>,
    pub run_as: RunAs,
    /// keepalived's `</path` file test: run by `/bin/sh -c`.
    pub via_shell: bool,
    /// Why the script would have been refused under `enable_script_security` (it is not
    /// set, so it runs: keepalived's "SECURITY VIOLATION").
    pub insecure: Option<String>,
}

impl Script {
    /// The command as a log line shows it: argv joined by spaces.
    pub fn display(&self) -> String {
        self.argv.join(" ")
    }
}

/// Splits `command`, finds who runs it and checks the file as keepalived does before it
/// first runs a script (see the module documentation). `label` names the script in the
/// warnings this logs (path search, insecure without `enable_script_security`), e.g.
/// "/etc/keepalived/keepalived.conf:12: vrrp_script chk".
pub fn prepare(label: &str, command: &str, user: Option<&ScriptUser>, env: &ExecEnv) -> Result<Script, ExecError> {
    let argv = split_words(command)?;
    if argv.first().is_none_or(|a| a.is_empty()) {
        return Err(ExecError::Empty);
    }
    let run_as = run_as(user, env)?;
    let mut script = Script { argv, run_as, via_shell: false, insecure: None };
    check(label, &mut script, env.security)?;
    Ok(script)
}

/// Every script of `cfg` through [`prepare`], as `check` (keepalived `-t`) reports them: a
/// script that will not run is an error at its line (keepalived disables it), one that runs
/// with root rights from a path others can change without `enable_script_security` a
/// warning.
pub fn check_scripts(cfg: &Config) -> Vec<Diagnostic> {
    let env = ExecEnv::from_global(&cfg.global);
    let mut out = Vec::new();
    let mut one = |file: &Path, line: usize, what: String, command: &str, user: Option<&ScriptUser>| {
        let label = format!("{}:{line}: {what}", file.display());
        let (severity, message) = match prepare(&label, command, user, &env) {
            Ok(Script { insecure: None, .. }) => return,
            Ok(Script { insecure: Some(why), .. }) => {
                (Severity::Warning, format!("{what}: runs with root rights but {why}; enable_script_security would refuse it"))
            }
            Err(e) => (Severity::Error, format!("{what}: will not run: {e}")),
        };
        out.push(Diagnostic { file: file.to_path_buf(), line, severity, message });
    };
    for s in &cfg.scripts {
        let user = s.user.clone().map(|user| ScriptUser { user, group: s.group.clone() });
        one(&s.file, s.line, format!("vrrp_script {}", s.name), &s.script, user.as_ref());
    }
    let mut cmd = |owner: &str, kw: &str, c: &Option<ScriptCommand>| {
        if let Some(c) = c {
            one(&c.file, c.line, format!("{owner}: {kw}"), &c.command, c.user.as_ref());
        }
    };
    for i in &cfg.instances {
        let owner = format!("vrrp_instance {}", i.name);
        for (kw, c) in [("notify", &i.notify), ("notify_master", &i.notify_master), ("notify_backup", &i.notify_backup), ("notify_fault", &i.notify_fault), ("notify_stop", &i.notify_stop)] {
            cmd(&owner, kw, c);
        }
    }
    for g in &cfg.sync_groups {
        let owner = format!("vrrp_sync_group {}", g.name);
        for (kw, c) in [("notify", &g.notify), ("notify_master", &g.notify_master), ("notify_backup", &g.notify_backup), ("notify_fault", &g.notify_fault), ("notify_stop", &g.notify_stop)] {
            cmd(&owner, kw, c);
        }
    }
    cmd("global_defs", "notify_fifo_script", &cfg.global.notify_fifo_script);
    cmd("global_defs", "vrrp_notify_fifo_script", &cfg.global.vrrp_notify_fifo_script);
    out
}

/// keepalived's `is_executable`: root needs any x bit; the owner the user bit; a member
/// of the file's group (by the run gid) the group bit; anyone else the other bit.
fn is_executable(mode: u32, owner: u32, group: u32, who: RunAs) -> bool {
    (who.uid == 0 && mode & 0o111 != 0)
        || (who.uid == owner && mode & 0o100 != 0)
        || (who.uid != owner && ((who.gid == group && mode & 0o010 != 0) || (who.gid != group && mode & 0o001 != 0)))
}

fn check(label: &str, script: &mut Script, security: bool) -> Result<(), ExecError> {
    let who = script.run_as;
    let first = script.argv[0].clone();
    // `<  /path…`: a test whether the file can be opened; only a shell can do that.
    if let Some(rest) = first.strip_prefix('<')
        && rest.trim_start_matches([' ', '\t']).starts_with('/')
    {
        script.via_shell = true;
        return Ok(());
    }
    let mut path = if first.contains('/') { PathBuf::from(&first) } else { search_path(&first, who)? };
    if !first.contains('/') {
        warn!("{label}: script `{first}` resolved by PATH search to `{}`; give the full path", path.display());
        script.argv[0] = path.display().to_string();
    }
    let real = std::fs::canonicalize(&path)
        .map_err(|e| ExecError::NotFound { path: path.display().to_string(), reason: e.to_string() })?;
    // The directories on the way must be searchable by the user running it.
    if who.uid != 0 {
        for dir in real.ancestors().skip(1) {
            let m = std::fs::metadata(dir)
                .map_err(|e| ExecError::NotFound { path: path.display().to_string(), reason: e.to_string() })?;
            if !is_executable(m.mode(), m.uid(), m.gid(), who) {
                return Err(ExecError::NotFound {
                    path: path.display().to_string(),
                    reason: format!("permission denied: {} is not searchable by uid:gid {}:{}", dir.display(), who.uid, who.gid),
                });
            }
        }
    }
    // Run it by its resolved path, keeping the name it was called by when that name is a
    // link to the same file in the resolved directory (some programs act on their name).
    let mut real_file = None;
    if real != path {
        let (orig_name, real_name) = (path.file_name(), real.file_name());
        let mut run_path = real.clone();
        if orig_name != real_name
            && let (Some(name), Some(dir)) = (orig_name, real.parent())
        {
            let named = dir.join(name);
            let same = |a: &Path, b: &Path| match (std::fs::metadata(a), std::fs::metadata(b)) {
                (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
                _ => false,
            };
            if same(&named, &real) {
                run_path = named;
                real_file = Some(real.clone());
            }
        }
        path = run_path;
        script.argv[0] = path.display().to_string();
    }
    let target = real_file.as_deref().unwrap_or(&path);
    let m = std::fs::metadata(target)
        .map_err(|e| ExecError::NotFound { path: target.display().to_string(), reason: e.to_string() })?;
    if !is_executable(m.mode(), m.uid(), m.gid(), who) {
        return Err(ExecError::NotExecutable { path: path.display().to_string(), uid: who.uid, gid: who.gid });
    }
    let mode = m.permissions().mode();
    let root_rights = who.uid == 0
        || who.gid == 0
        || (m.uid() == 0 && mode & 0o4100 == 0o4100)
        || (m.gid() == 0 && mode & 0o2010 == 0o2010);
    if !root_rights {
        return Ok(());
    }
    for p in std::iter::once(path.as_path()).chain(real_file.as_deref()) {
        if let Some((component, why)) = unsafe_component(p)? {
            if security {
                return Err(ExecError::Insecure { path: p.display().to_string(), component, why });
            }
            let reason = format!("{component} is {why}");
            warn!(
                "{label}: SECURITY VIOLATION: script {} runs with root rights but {reason} (enable_script_security would refuse it)",
                p.display()
            );
            script.insecure = Some(reason);
            break;
        }
    }
    Ok(())
}

/// keepalived's PATH search for a bare name (PATH, else `/bin:/usr/bin`): the first regular
/// file executable by `who`.
fn search_path(name: &str, who: RunAs) -> Result<PathBuf, ExecError> {
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/bin:/usr/bin".into());
    let mut denied = false;
    for dir in path.as_bytes().split(|&b| b == b':') {
        let dir = Path::new(OsStr::from_bytes(dir));
        let candidate = if dir.as_os_str().is_empty() { PathBuf::from(name) } else { dir.join(name) };
        if let Ok(m) = std::fs::metadata(&candidate) {
            if m.is_file() && is_executable(m.mode(), m.uid(), m.gid(), who) {
                return Ok(candidate);
            }
            denied = true;
        }
    }
    Err(if denied { ExecError::PathPermission(name.to_string()) } else { ExecError::NotInPath(name.to_string()) })
}

/// The first part of absolute `path`, from `/` down, that a non-root user could change:
/// (component, why). Symlinks are not followed (the link itself is checked).
fn unsafe_component(path: &Path) -> Result<Option<(String, String)>, ExecError> {
    let parts: Vec<&Path> = {
        let mut v: Vec<&Path> = path.ancestors().collect();
        v.reverse();
        v
    };
    let last = parts.len().saturating_sub(1);
    for (i, p) in parts.iter().enumerate() {
        let m = std::fs::symlink_metadata(p)
            .map_err(|e| ExecError::NotFound { path: path.display().to_string(), reason: format!("{}: {e}", p.display()) })?;
        let ft = m.file_type();
        if i < last && !ft.is_dir() {
            return Err(ExecError::WrongType { path: path.display().to_string(), component: p.display().to_string(), expected: "directory" });
        }
        if i == last && !ft.is_file() && !ft.is_symlink() {
            return Err(ExecError::WrongType { path: path.display().to_string(), component: p.display().to_string(), expected: "file" });
        }
        let what = if ft.is_dir() { "directory" } else { "file" };
        let mode = m.mode();
        let checked = (ft.is_dir() && mode & 0o1000 == 0) || ft.is_file();
        let why = if m.uid() != 0 {
            Some(format!("owned by uid {}", m.uid()))
        } else if checked && m.gid() != 0 && mode & 0o020 != 0 {
            Some(format!("writable by group {}", m.gid()))
        } else if checked && mode & 0o002 != 0 {
            Some("writable by everyone".to_string())
        } else {
            None
        };
        if let Some(why) = why {
            return Ok(Some((format!("{what} {}", p.display()), why)));
        }
    }
    Ok(None)
}

/// keepalived's command string for the shell: words quoted with `'`, except a leading
/// `<`/`>` redirection.
fn shell_line(argv: &[String]) -> String {
    argv.iter()
        .enumerate()
        .map(|(i, a)| if i == 0 && (a.starts_with('<') || a.starts_with('>')) { a.clone() } else { format!("'{a}'") })
        .collect::<Vec<_>>()
        .join(" ")
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunOutcome {
    /// Exited with this status.
    Exited(i32),
    /// Killed by this signal (not ours).
    Signaled(i32),
    /// Outlived its timeout and was killed with its process group.
    TimedOut,
}

impl RunOutcome {
    fn from_status(s: ExitStatus) -> RunOutcome {
        match (s.code(), s.signal()) {
            (Some(c), _) => RunOutcome::Exited(c),
            (None, Some(sig)) => RunOutcome::Signaled(sig),
            (None, None) => RunOutcome::Exited(-1),
        }
    }

    pub fn success(self) -> bool {
        self == RunOutcome::Exited(0)
    }
}

impl std::fmt::Display for RunOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunOutcome::Exited(c) => write!(f, "exit status: {c}"),
            RunOutcome::Signaled(s) => match Signal::try_from(*s) {
                Ok(sig) => write!(f, "killed by {sig}"),
                Err(_) => write!(f, "killed by signal {s}"),
            },
            RunOutcome::TimedOut => write!(f, "timed out"),
        }
    }
}

#[derive(Default)]
struct Shared {
    /// Process groups of runs not reaped yet (each run leads its own group, so its id
    /// cannot be reused while it is here).
    groups: Mutex<BTreeSet<i32>>,
    /// Signalled whenever a group leaves `groups`.
    changed: Notify,
}

impl Shared {
    fn groups(&self) -> std::sync::MutexGuard<'_, BTreeSet<i32>> {
        self.groups.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn remove(&self, pgid: i32) {
        self.groups().remove(&pgid);
        self.changed.notify_waiters();
    }
}

fn signal_group(pgid: i32, sig: Signal) {
    match killpg(Pid::from_raw(pgid), sig) {
        Ok(()) | Err(nix::errno::Errno::ESRCH) => {}
        Err(e) => debug!("{sig} to process group {pgid}: {e}"),
    }
}

/// Starts scripts and keeps track of the ones still running. Clones share the same set.
#[derive(Clone, Default)]
pub struct Runner {
    shared: Arc<Shared>,
}

/// One started script. [`Run::wait`] reaps it; dropping it unreaped kills its process
/// group (the runtime reaps it then).
pub struct Run {
    child: tokio::process::Child,
    pgid: i32,
    timeout: Option<Duration>,
    shared: Arc<Shared>,
    reaped: bool,
}

impl Runner {
    pub fn new() -> Runner {
        Runner::default()
    }

    /// Starts `script` with `extra` arguments after its own. The run is killed with its
    /// process group once it outlives `timeout` (`None`: it may run until shutdown).
    pub fn spawn(&self, script: &Script, extra: &[&str], timeout: Option<Duration>) -> io::Result<Run> {
        let mut cmd = if script.via_shell {
            let mut argv = script.argv.clone();
            argv.extend(extra.iter().map(|s| s.to_string()));
            let mut c = Command::new("/bin/sh");
            c.arg("-c").arg(shell_line(&argv));
            c
        } else {
            let mut c = Command::new(&script.argv[0]);
            c.args(&script.argv[1..]).args(extra);
            c
        };
        if script.run_as != RunAs::ours() {
            // With a uid set, the standard library also clears the supplementary groups
            // (setgroups), then sets the gid and the uid, in the child before exec.
            cmd.uid(script.run_as.uid).gid(script.run_as.gid);
        }
        cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).process_group(0).kill_on_drop(false);
        let agent = getpid();
        // SAFETY: runs in the child between fork and exec, after the standard library has
        // switched the user (which would clear the setting); it makes two system calls,
        // prctl and getppid, both async-signal-safe, and allocates nothing.
        unsafe {
            cmd.pre_exec(move || {
                set_pdeathsig(Signal::SIGTERM)?;
                // The agent died before the prctl: nobody would signal this script.
                if getppid() != agent {
                    return Err(io::Error::from(nix::errno::Errno::ESRCH));
                }
                Ok(())
            });
        }
        let child = cmd.spawn()?;
        let pgid = child.id().and_then(|p| i32::try_from(p).ok()).ok_or_else(|| io::Error::other("spawned child has no pid"))?;
        self.shared.groups().insert(pgid);
        Ok(Run { child, pgid, timeout, shared: self.shared.clone(), reaped: false })
    }

    /// Process groups of the runs not reaped yet.
    pub fn running(&self) -> Vec<i32> {
        self.shared.groups().iter().copied().collect()
    }

    /// Waits until no run is left or `bound` has passed; true if none is left.
    pub async fn wait_idle(&self, bound: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + bound;
        loop {
            let changed = self.shared.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if self.shared.groups().is_empty() {
                return true;
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                return self.shared.groups().is_empty();
            }
        }
    }

    /// At shutdown: SIGTERM to the process group of every run still going, SIGKILL to those
    /// still there after `grace` (keepalived: 1 s), then waits (bounded) for them to be
    /// reaped by their `wait`. Returns the groups that were signalled.
    pub async fn shutdown(&self, grace: Duration) -> Vec<i32> {
        let groups = self.running();
        for &g in &groups {
            signal_group(g, Signal::SIGTERM);
        }
        if !self.wait_idle(grace).await {
            for g in self.running() {
                signal_group(g, Signal::SIGKILL);
            }
            if !self.wait_idle(Duration::from_secs(2)).await {
                warn!("process groups {:?} not reaped after SIGKILL", self.running());
            }
        }
        groups
    }
}

impl Run {
    /// The script's pid, which is also its process group id.
    pub fn pid(&self) -> i32 {
        self.pgid
    }

    /// Waits for the script to end (killing it with its group at the timeout) and reaps it;
    /// then kills whatever the script left running in its process group, however it ended
    /// (a notify or track script that backgrounds a child must not leave it behind: nothing
    /// would ever stop it, not even the agent's shutdown, which only knows running scripts).
    pub async fn wait(mut self) -> io::Result<RunOutcome> {
        let outcome = self.wait_leader().await;
        // The leader is reaped, but its id cannot be given to a new process while members of
        // its group are left (Linux keeps a pid number allocated while it is any process's
        // group id), so this reaches exactly them. With none left it reaches nobody (ESRCH)
        // unless, in the microseconds since the reap, the kernel handed the number (pids are
        // allocated cyclically) to a new process that also made itself a group leader.
        signal_group(self.pgid, Signal::SIGKILL);
        self.finish();
        outcome
    }

    /// The script itself to its end: SIGTERM to its group at the timeout, SIGKILL after
    /// [`TERM_GRACE`].
    async fn wait_leader(&mut self) -> io::Result<RunOutcome> {
        let Some(t) = self.timeout else { return self.child.wait().await.map(RunOutcome::from_status) };
        if let Ok(s) = tokio::time::timeout(t, self.child.wait()).await {
            return s.map(RunOutcome::from_status);
        }
        signal_group(self.pgid, Signal::SIGTERM);
        if tokio::time::timeout(TERM_GRACE, self.child.wait()).await.is_err() {
            signal_group(self.pgid, Signal::SIGKILL);
            self.child.wait().await?;
        }
        Ok(RunOutcome::TimedOut)
    }

    fn finish(&mut self) {
        self.reaped = true;
        self.shared.remove(self.pgid);
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        if !self.reaped {
            signal_group(self.pgid, Signal::SIGKILL);
            self.shared.remove(self.pgid);
        }
    }
}

/// The uid/gid pair as nix types (for callers that chown).
pub fn ids(r: RunAs) -> (Uid, Gid) {
    (Uid::from_raw(r.uid), Gid::from_raw(r.gid))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
pub(crate) mod testutil;
#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests;
