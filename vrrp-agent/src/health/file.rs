//! `vrrp_track_file` / `track_file`: the integer in a file, watched with inotify.
//!
//! What keepalived 2.2.7 does, and so what this does:
//! - the value is read from the first 127 bytes as C's `strtol(buf, NULL, 0)` reads it:
//!   leading white space, an optional sign, then hex after `0x`, octal after a leading `0`,
//!   else decimal, up to the first character that is not a digit. No digits reads as 0; a
//!   missing, unreadable or empty file reads as 0. A number that overflows, or lies outside
//!   -2147483648..=2147483648, is logged and ignored (the previous value stays);
//! - the file's *directory* is watched (close-after-write, delete, moves), so a file written
//!   in place, replaced by rename, deleted (reads as 0) and created again are all seen. A
//!   writer that keeps the file open is seen when it closes it;
//! - `init_file [VALUE] [overwrite]`: at start the file is created with `VALUE\n` if it is
//!   missing, or always written with `overwrite`; on a reload ([`FileTrackers::update`]) an
//!   existing file is never overwritten. The write goes through a temporary file and a rename,
//!   so a reader never sees a half-written file;
//! - a track file whose directory does not exist is dropped with an error, as keepalived does.
//!
//! Output: a [`HealthEvent::File`] with the raw value (the weight is the core's business), once
//! when a tracker starts and then whenever the value changes. A new tracker's file is read
//! by `start`/`update` themselves, so [`FileTrackers::value`] knows it when they return; one
//! task sends, so the events of one tracker are always in the order the file changed.
use std::collections::HashMap;
use std::ffi::OsString;
use std::io::{Read as _, Write as _};
use std::os::fd::{AsFd as _, AsRawFd, RawFd};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify, WatchDescriptor};
use tokio::io::unix::AsyncFd;
use tokio::sync::{Notify, mpsc};

use super::HealthEvent;
use crate::config::TrackFile;

/// What went wrong with the track files.
#[derive(Debug, thiserror::Error)]
pub enum FileTrackError {
    /// No inotify instance: no track file can be watched.
    #[error("cannot watch track files: inotify: {0}")]
    Inotify(nix::errno::Errno),
    /// One track file, located at its block in the configuration.
    #[error("{}:{line}: track_file {name}: {why}", file.display())]
    File { file: PathBuf, line: usize, name: String, why: String },
}

impl FileTrackError {
    fn at(def: &TrackFile, why: impl Into<String>) -> Self {
        FileTrackError::File { file: def.file.clone(), line: def.line, name: def.name.clone(), why: why.into() }
    }
}

/// The track files being watched. Stops watching when dropped.
pub struct FileTrackers {
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

struct Shared {
    inotify: Arc<Inotify>,
    state: Mutex<State>,
    /// Wakes the task to announce trackers started since it last looked.
    wake: Notify,
}

#[derive(Default)]
struct State {
    trackers: HashMap<String, Tracked>,
}

struct Tracked {
    def: TrackFile,
    /// The path with its directory resolved (symlinks followed), as keepalived resolves it.
    path: PathBuf,
    /// The last component of `path`, as inotify names it in the directory's events.
    file_name: OsString,
    wd: WatchDescriptor,
    /// The current value: read when the tracker starts, then at every change.
    value: i64,
    /// Whether `value` has been sent once (the watcher task announces new trackers).
    announced: bool,
}

impl FileTrackers {
    /// Starts watching `defs` (`init_file` applied, with `overwrite` honoured) and sends each
    /// tracker's current value, then every change, on `tx`. Must be called inside a tokio
    /// runtime. Track files that cannot be watched are left out and reported; the others run.
    pub fn start(defs: &[TrackFile], tx: mpsc::Sender<HealthEvent>) -> Result<(Self, Vec<FileTrackError>), FileTrackError> {
        let inotify = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC).map_err(FileTrackError::Inotify)?;
        let shared = Arc::new(Shared { inotify: Arc::new(inotify), state: Mutex::new(State::default()), wake: Notify::new() });
        // SAFETY: the fd belongs to the `Inotify` behind the Arc that `InotifyFd` holds, so it
        // stays open, and the same, for as long as the AsyncFd owns that `InotifyFd`.
        let afd = unsafe { AsyncFd::register_with_interest(InotifyFd(shared.inotify.clone()), tokio::io::Interest::READABLE) }
            .map_err(|e| FileTrackError::Inotify(io_errno(&std::io::Error::from(e))))?;
        let errors = apply(&shared, defs, true);
        let task = tokio::spawn(run(shared.clone(), afd, tx));
        Ok((FileTrackers { shared, task }, errors))
    }

    /// A reload: trackers whose definition did not change keep running with their value (no
    /// event); new or changed ones start (and send their value); removed ones stop.
    /// `init_file` creates missing files but never overwrites here.
    pub fn update(&mut self, defs: &[TrackFile]) -> Vec<FileTrackError> {
        let errors = apply(&self.shared, defs, false);
        self.shared.wake.notify_one();
        errors
    }

    /// A tracker's current value (`None`: unknown name). Known as soon as [`start`] or
    /// [`update`] returns: they read new trackers' files themselves (the event announcing
    /// the value follows from the watcher task).
    ///
    /// [`start`]: FileTrackers::start
    /// [`update`]: FileTrackers::update
    pub fn value(&self, name: &str) -> Option<i64> {
        lock(&self.shared.state).trackers.get(name).map(|t| t.value)
    }

    /// The names being watched.
    pub fn names(&self) -> Vec<String> {
        let mut v: Vec<String> = lock(&self.shared.state).trackers.keys().cloned().collect();
        v.sort();
        v
    }
}

impl Drop for FileTrackers {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct InotifyFd(Arc<Inotify>);

impl AsRawFd for InotifyFd {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_fd().as_raw_fd()
    }
}

fn io_errno(e: &std::io::Error) -> nix::errno::Errno {
    nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO))
}

fn lock(m: &Mutex<State>) -> MutexGuard<'_, State> {
    // A panic while holding the lock leaves plain data behind: keep going with it.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Starts, keeps or stops trackers so that `defs` are watched. `at_start`: `init_file ...
/// overwrite` may overwrite an existing file.
fn apply(shared: &Shared, defs: &[TrackFile], at_start: bool) -> Vec<FileTrackError> {
    let mut errors = Vec::new();
    let mut st = lock(&shared.state);
    let mut dropped = Vec::new();
    st.trackers.retain(|name, t| {
        let keep = defs.iter().any(|d| &d.name == name && d.path == t.def.path && d.init_file == t.def.init_file);
        if !keep {
            dropped.push(t.wd);
        }
        keep
    });
    for d in defs {
        if let Some(t) = st.trackers.get_mut(&d.name) {
            // Same file: the watch and the value stay; the weight is the core's.
            t.def = d.clone();
            continue;
        }
        let (path, exists) = match resolve(&d.path) {
            Ok(p) => p,
            Err(why) => {
                errors.push(FileTrackError::at(d, why));
                continue;
            }
        };
        if let Some(init) = &d.init_file
            && let Err(why) = init_file(&path, exists, init.value, init.overwrite && at_start)
        {
            // keepalived reports it and still watches the file.
            errors.push(FileTrackError::at(d, why));
        }
        let (Some(dir), Some(file_name)) = (path.parent(), path.file_name()) else {
            errors.push(FileTrackError::at(d, format!("'{}' does not name a file", d.path)));
            continue;
        };
        let mask = AddWatchFlags::IN_CLOSE_WRITE
            | AddWatchFlags::IN_DELETE
            | AddWatchFlags::IN_MOVED_FROM
            | AddWatchFlags::IN_MOVED_TO
            | AddWatchFlags::IN_ONLYDIR;
        match shared.inotify.add_watch(dir, mask) {
            Ok(wd) => {
                tracing::debug!(track_file = %d.name, path = %path.display(), "watching");
                let file_name = file_name.to_os_string();
                // Read now (after the watch is set, so no change is missed), so that the
                // caller knows the value when we return. An invalid number at start reads
                // as 0, as in keepalived.
                let value = read_value(&path).unwrap_or(0);
                st.trackers.insert(d.name.clone(), Tracked { def: d.clone(), path, file_name, wd, value, announced: false });
            }
            Err(e) => errors.push(FileTrackError::at(d, format!("cannot watch directory {}: {e}", dir.display()))),
        }
    }
    for wd in dropped {
        if !st.trackers.values().any(|t| t.wd == wd) {
            // Fails only if the directory is gone already (its watch went with it).
            let _ = shared.inotify.rm_watch(wd);
        }
    }
    errors
}

/// The path with symlinks resolved (the directory only, if the file does not exist yet),
/// and whether the file exists.
fn resolve(path: &str) -> Result<(PathBuf, bool), String> {
    let p = Path::new(path);
    match std::fs::canonicalize(p) {
        Ok(r) => return Ok((r, true)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("{path} is not accessible: {e}; ignored")),
    }
    let Some(name) = p.file_name() else { return Err(format!("'{path}' does not name a file")) };
    let dir = match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    match std::fs::canonicalize(dir) {
        Ok(d) if d.is_dir() => Ok((d.join(name), false)),
        _ => Err(format!("the directory of {path} does not exist; track file dropped")),
    }
}

/// `init_file`: write `VALUE\n` if the file is missing, or if `overwrite` (a regular file only).
fn init_file(path: &Path, exists: bool, value: i64, overwrite: bool) -> Result<(), String> {
    if exists {
        if !overwrite {
            return Ok(());
        }
        if !std::fs::metadata(path).is_ok_and(|m| m.is_file()) {
            return Err(format!("cannot initialise {}: not a regular file", path.display()));
        }
    }
    write_atomically(path, &format!("{value}\n"))
        .map_err(|e| format!("cannot initialise {}: {e}", path.display()))
}

/// Writes through a temporary file in the same directory and a rename.
fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(std::io::Error::from(std::io::ErrorKind::InvalidInput));
    };
    let mut tmp_name = OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".vrrp-agent-{}.tmp", std::process::id()));
    let tmp = dir.join(tmp_name);
    let _ = std::fs::remove_file(&tmp); // a leftover of a crash
    let result = (|| {
        let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o644).open(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Reads the value as keepalived does: `None` means "an invalid number: keep the last value".
fn read_value(path: &Path) -> Option<i64> {
    let mut buf = [0u8; 127];
    let n = match std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(path) {
        // One read, as keepalived does; an error (a FIFO without data) reads as nothing.
        Ok(mut f) => f.read(&mut buf).unwrap_or(0),
        Err(_) => 0,
    };
    if n == 0 {
        return Some(0);
    }
    let v = parse_value(&buf[..n]);
    if v.is_none() {
        tracing::info!(path = %path.display(), "track file does not hold a number in range; value unchanged");
    }
    v
}

/// C's `strtol(text, NULL, 0)` limited as keepalived limits it: `None` on overflow or outside
/// -2147483648..=2147483648.
pub(crate) fn parse_value(text: &[u8]) -> Option<i64> {
    let mut i = 0;
    while text.get(i).is_some_and(|c| matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')) {
        i += 1;
    }
    let neg = match text.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let (radix, start) = match (text.get(i), text.get(i + 1), text.get(i + 2)) {
        (Some(b'0'), Some(b'x' | b'X'), Some(h)) if h.is_ascii_hexdigit() => (16u32, i + 2),
        (Some(b'0'), _, _) => (8, i),
        _ => (10, i),
    };
    let limit = u128::from(i64::MAX.unsigned_abs()) + 1;
    let mut v: u128 = 0;
    for &c in &text[start..] {
        let Some(d) = char::from(c).to_digit(radix) else { break };
        // Saturate past i64's range (strtol's ERANGE), keep consuming digits.
        v = (v * u128::from(radix) + u128::from(d)).min(limit + 1);
    }
    let v = if neg {
        if v > limit {
            return None;
        }
        -(i128::try_from(v).ok()?)
    } else {
        if v >= limit {
            return None;
        }
        i128::try_from(v).ok()?
    };
    let v = i64::try_from(v).ok()?;
    (i64::from(i32::MIN)..=i64::from(i32::MAX) + 1).contains(&v).then_some(v)
}

/// The watcher task: reads new trackers, follows inotify events, sends what changed.
async fn run(shared: Arc<Shared>, afd: AsyncFd<InotifyFd>, tx: mpsc::Sender<HealthEvent>) {
    loop {
        for ev in read_unread(&shared) {
            if tx.send(ev).await.is_err() {
                return; // nobody listens any more
            }
        }
        tokio::select! {
            _ = shared.wake.notified() => {}
            ready = afd.readable() => {
                let mut guard = match ready {
                    Ok(g) => g,
                    Err(e) => {
                        tracing::warn!("track files: inotify failed: {e}; no longer watching");
                        return;
                    }
                };
                match shared.inotify.read_events() {
                    Ok(events) => {
                        for ev in handle_events(&shared, &events) {
                            if tx.send(ev).await.is_err() {
                                return;
                            }
                        }
                    }
                    Err(nix::errno::Errno::EAGAIN) => guard.clear_ready(),
                    Err(e) => {
                        tracing::warn!("track files: reading inotify events: {e}");
                        guard.clear_ready();
                    }
                }
            }
        }
    }
}

/// The values of the trackers started since the last call, not sent yet.
fn read_unread(shared: &Shared) -> Vec<HealthEvent> {
    let mut st = lock(&shared.state);
    let mut out = Vec::new();
    for (name, t) in st.trackers.iter_mut().filter(|(_, t)| !t.announced) {
        t.announced = true;
        out.push(HealthEvent::File { name: name.clone(), value: t.value });
    }
    out
}

fn handle_events(shared: &Shared, events: &[nix::sys::inotify::InotifyEvent]) -> Vec<HealthEvent> {
    let mut st = lock(&shared.state);
    let mut out = Vec::new();
    for ev in events {
        if ev.mask.contains(AddWatchFlags::IN_Q_OVERFLOW) {
            // Events were lost: read every file again.
            tracing::warn!("track files: inotify queue overflowed; reading every track file again");
            for (name, t) in st.trackers.iter_mut() {
                update(name, t, read_value(&t.path), &mut out);
            }
            continue;
        }
        if ev.mask.contains(AddWatchFlags::IN_IGNORED) {
            for (name, t) in st.trackers.iter().filter(|(_, t)| t.wd == ev.wd) {
                tracing::warn!(track_file = %name, "the directory of {} went away: no longer watched", t.path.display());
            }
            continue;
        }
        if ev.mask.contains(AddWatchFlags::IN_ISDIR) {
            continue;
        }
        let Some(file) = &ev.name else { continue };
        for (name, t) in st.trackers.iter_mut().filter(|(_, t)| t.wd == ev.wd && &t.file_name == file) {
            let v = if ev.mask.intersects(AddWatchFlags::IN_DELETE | AddWatchFlags::IN_MOVED_FROM) {
                Some(0) // gone: reads as 0
            } else {
                read_value(&t.path)
            };
            update(name, t, v, &mut out);
        }
    }
    out
}

fn update(name: &str, t: &mut Tracked, v: Option<i64>, out: &mut Vec<HealthEvent>) {
    // `None`: invalid, keep the last value.
    let Some(v) = v else { return };
    if t.value != v {
        tracing::debug!(track_file = %name, value = v, "track file changed");
        t.value = v;
        t.announced = true;
        out.push(HealthEvent::File { name: name.to_string(), value: v });
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests: a failing step fails the test")]
mod tests;
