//! `vrrp_track_process`: how many running processes match each definition, kept current from
//! kernel process events, reported as [`HealthEvent::Process`] whenever a count changes.
//!
//! Where the events come from: tracepoint programs in the dataplane object
//! (`vrrp-ebpf/src/proc_events.rs`) report every exec, process (not thread) fork, process
//! exit and process rename on the host, from any network namespace (keepalived's proc
//! connector only delivers in the initial one). `/proc` is scanned once when a definition
//! starts being tracked, and again only if the kernel reports that events were lost (the
//! ring buffer was full); otherwise an exec costs at most one read of `/proc/PID/cmdline`
//! (only when some definition compares command lines; names come with the event).
//!
//! Matching is keepalived 2.2.7's (track_process.c, keepalived.conf(5)):
//! - without `full_command` the `process` string is compared, exactly, with the process name
//!   (`/proc/PID/comm`, at most 15 bytes: a longer `process` can never match it);
//! - with `full_command` (implied by parameters on the `process` line or by `param_match`) it
//!   is compared with the first word of the command line (argv\[0\]), and the parameters
//!   with the rest as `param_match` says: exact (the same parameters), `partial` (the
//!   configured ones come first, more may follow) or `initial` (as partial, but the last
//!   configured one may be only the start of the process's), `param_match` without
//!   parameters: the process must have none;
//! - a forked child counts as its parent does (it runs the same program under the same name)
//!   until it execs; zombies do not count.
//!
//! Deliberate differences from keepalived: a process is counted once per definition (a
//! process that re-execs itself under the same name is counted twice by keepalived); a
//! rename to the tracked name of an untracked process counts. `quorum`, `quorum_max` and the
//! delays are not applied here: the core turns counts into up/down.
//!
//! Every `/proc` read (scans, command lines at exec) happens on a thread of the tracker's
//! own, never on the agent's runtime: a read of `/proc/PID/cmdline` can stall for as long as
//! that process is stuck in the kernel (D state), and the runtime has one thread. The table
//! goes to that thread and back for each step, so events still apply in ring-buffer order.
//!
//! Process ids are the kernel's global ones: an agent in its own PID namespace (not only a
//! network namespace) cannot see the processes' `/proc` entries under those ids; it warns.
use std::{
    collections::{BTreeSet, HashSet, VecDeque},
    fs::File,
    io::{self, Read as _},
    path::Path,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};

use aya::maps::{MapData, PerCpuArray, RingBuf};
use tokio::{
    io::unix::AsyncFd,
    sync::{mpsc, oneshot},
    task::JoinHandle,
};
use vrrp_common::{ProcEvent, proc_event};

use super::HealthEvent;
use crate::{
    config::{ParamMatch, TrackProcess},
    dataplane::{Dataplane, DataplaneError, ProcEventLinks, proc_events_lost},
};

/// Longest process name the kernel keeps (`TASK_COMM_LEN` - 1).
pub const COMM_LEN: usize = 15;

// ---------------------------------------------------------------------------------------
// Matching
// ---------------------------------------------------------------------------------------

/// One `vrrp_track_process` definition, ready to match processes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matcher {
    process: Vec<u8>,
    /// The parameters as the command line holds them: each followed by a NUL. `None` when
    /// none were configured.
    params: Option<Vec<u8>>,
    param_match: ParamMatch,
    full_command: bool,
}

impl Matcher {
    pub fn new(def: &TrackProcess) -> Self {
        let params = (!def.args.is_empty()).then(|| {
            let mut p = Vec::new();
            for a in &def.args {
                p.extend_from_slice(a.as_bytes());
                p.push(0);
            }
            p
        });
        Matcher { process: def.process.as_bytes().to_vec(), params, param_match: def.param_match, full_command: def.full_command }
    }

    /// Whether this definition compares command lines (else process names).
    pub fn uses_cmdline(&self) -> bool {
        self.full_command
    }

    /// How much of `/proc/PID/cmdline` decides a match: argv\[0\] and the parameters, and
    /// two bytes more, so that a longer command line is seen to be longer (keepalived reads
    /// no more either: the command line lives in the process's memory, which may be swapped).
    pub fn cmdline_bytes(&self) -> usize {
        self.process.len() + 1 + self.params.as_ref().map_or(0, Vec::len) + 2
    }

    /// A process name or a command line that can never match: a `process` longer than a
    /// process name can be, without `full_command`.
    pub fn can_never_match(&self) -> bool {
        !self.full_command && self.process.len() > COMM_LEN
    }

    /// Does a process with this name (`comm`, without the trailing newline) and command line
    /// (the raw `/proc/PID/cmdline` bytes, possibly cut after [`Self::cmdline_bytes`];
    /// `None` when unreadable) count?
    pub fn matches(&self, comm: &[u8], cmdline: Option<&[u8]>) -> bool {
        if !self.full_command {
            return comm == self.process.as_slice();
        }
        let Some(cmd) = cmdline else { return false };
        let (argv0, rest) = match cmd.iter().position(|b| *b == 0) {
            Some(i) => (&cmd[..i], Some(&cmd[i + 1..])),
            None => (cmd, None),
        };
        if argv0 != self.process.as_slice() {
            return false;
        }
        self.param_match == ParamMatch::None || params_match(self.param_match, self.params.as_deref(), rest)
    }
}

/// keepalived's parameter check. `want`: the configured parameters, NUL terminated each;
/// `got`: what follows argv\[0\]'s NUL in the command line (`None`: argv\[0\] is not NUL
/// terminated, as after a process rewrote its command line as one string).
fn params_match(how: ParamMatch, want: Option<&[u8]>, got: Option<&[u8]>) -> bool {
    let Some(got) = got else {
        // No parameter can be there; only "initial"/"partial" with none configured accept.
        return how != ParamMatch::Exact && want.is_none();
    };
    let Some(want) = want else {
        // `param_match` alone means "no parameters"; initial/partial without any: anything.
        return how != ParamMatch::Exact || got.is_empty();
    };
    if got.len() < want.len() {
        return false;
    }
    match how {
        ParamMatch::None | ParamMatch::Exact => got == want,
        // The configured parameters, each complete, then possibly more.
        ParamMatch::Partial => got.starts_with(want),
        // As partial, but the last configured parameter may be a prefix of the process's.
        ParamMatch::Initial => got.starts_with(&want[..want.len() - 1]),
    }
}

// ---------------------------------------------------------------------------------------
// The table (sans-IO)
// ---------------------------------------------------------------------------------------

#[derive(Debug)]
struct Tracked {
    name: String,
    matcher: Matcher,
    pids: BTreeSet<u32>,
    /// The count last reported; `None` before the first report.
    reported: Option<u32>,
    /// Defined but not yet filled from a `/proc` scan.
    needs_scan: bool,
}

/// One process as a `/proc` scan (or an exec) shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessInfo {
    pub pid: u32,
    /// The name, `/proc/PID/comm` without its newline.
    pub comm: Vec<u8>,
    /// `/proc/PID/cmdline`, cut after [`ProcessTable::cmdline_bytes`]; `None` when no
    /// definition needs it or it could not be read.
    pub cmdline: Option<Vec<u8>>,
}

/// The processes matching each definition, updated by process events. No I/O: the caller
/// reads `/proc` and the event ring buffer, and sends what [`Self::poll_events`] returns.
#[derive(Debug, Default)]
pub struct ProcessTable {
    trackers: Vec<Tracked>,
}

impl ProcessTable {
    pub fn new(defs: &[TrackProcess]) -> Self {
        let mut t = ProcessTable::default();
        t.update(defs);
        t
    }

    /// Applies a new set of definitions (SIGHUP): a definition whose matching is unchanged
    /// (same name, `process`, parameters, `param_match`, `full_command`) keeps its processes
    /// and its last report; a new or changed one starts empty and needs a scan
    /// ([`Self::needs_scan`]); a removed one is forgotten.
    pub fn update(&mut self, defs: &[TrackProcess]) {
        let mut old = std::mem::take(&mut self.trackers);
        for def in defs {
            let matcher = Matcher::new(def);
            if self.trackers.iter().any(|t| t.name == def.name) {
                tracing::warn!("vrrp_track_process {} defined twice; the first definition is used", def.name);
                continue;
            }
            match old.iter().position(|t| t.name == def.name && t.matcher == matcher) {
                Some(i) => self.trackers.push(old.swap_remove(i)),
                None => {
                    if matcher.can_never_match() {
                        tracing::warn!(
                            "vrrp_track_process {}: process '{}' is longer than a process name can be ({COMM_LEN} bytes) \
                             and can never match; use full_command to match the command line",
                            def.name,
                            def.process
                        );
                    }
                    self.trackers.push(Tracked {
                        name: def.name.clone(),
                        matcher,
                        pids: BTreeSet::new(),
                        reported: None,
                        needs_scan: true,
                    })
                }
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.trackers.is_empty()
    }

    /// Whether some definition waits for a `/proc` scan.
    pub fn needs_scan(&self) -> bool {
        self.trackers.iter().any(|t| t.needs_scan)
    }

    /// How many bytes of a command line to read (`None`: no definition looks at command
    /// lines, so none need be read).
    pub fn cmdline_bytes(&self) -> Option<usize> {
        self.trackers.iter().filter(|t| t.matcher.uses_cmdline()).map(|t| t.matcher.cmdline_bytes()).max()
    }

    /// Fills the definitions waiting for a scan (all of them with `all`, after lost
    /// events) from a full listing of the running processes (zombies left out).
    pub fn handle_scan(&mut self, procs: &[ProcessInfo], all: bool) {
        for t in self.trackers.iter_mut().filter(|t| all || t.needs_scan) {
            t.pids = procs.iter().filter(|p| t.matcher.matches(&p.comm, p.cmdline.as_deref())).map(|p| p.pid).collect();
            t.needs_scan = false;
        }
    }

    /// `pid` exec'd: it now runs under `comm` with `cmdline` (see [`ProcessInfo`]).
    pub fn handle_exec(&mut self, pid: u32, comm: &[u8], cmdline: Option<&[u8]>) {
        for t in &mut self.trackers {
            if t.matcher.matches(comm, cmdline) {
                t.pids.insert(pid);
            } else {
                t.pids.remove(&pid);
            }
        }
    }

    /// `pid` renamed itself to `comm`: only name matching is affected (the command line
    /// did not change).
    pub fn handle_comm(&mut self, pid: u32, comm: &[u8]) {
        for t in self.trackers.iter_mut().filter(|t| !t.matcher.uses_cmdline()) {
            if t.matcher.matches(comm, None) {
                t.pids.insert(pid);
            } else {
                t.pids.remove(&pid);
            }
        }
    }

    /// `parent` forked `child`: the child counts wherever the parent does.
    pub fn handle_fork(&mut self, parent: u32, child: u32) {
        for t in &mut self.trackers {
            if t.pids.contains(&parent) {
                t.pids.insert(child);
            }
        }
    }

    /// `pid` exited.
    pub fn handle_exit(&mut self, pid: u32) {
        for t in &mut self.trackers {
            t.pids.remove(&pid);
        }
    }

    /// The current count of each definition, by name.
    pub fn counts(&self) -> Vec<(String, u32)> {
        self.trackers.iter().map(|t| (t.name.clone(), count(t))).collect()
    }

    /// A [`HealthEvent::Process`] for each definition whose count differs from the last one
    /// reported, and for each one never reported (scanned ones only).
    pub fn poll_events(&mut self) -> Vec<HealthEvent> {
        let mut out = Vec::new();
        for t in self.trackers.iter_mut().filter(|t| !t.needs_scan) {
            let n = count(t);
            if t.reported != Some(n) {
                tracing::debug!(track_process = %t.name, "{} matching process(es) now (was {:?})", n, t.reported);
                t.reported = Some(n);
                out.push(HealthEvent::Process { name: t.name.clone(), count: n });
            }
        }
        out
    }
}

fn count(t: &Tracked) -> u32 {
    u32::try_from(t.pids.len()).unwrap_or(u32::MAX)
}

// ---------------------------------------------------------------------------------------
// /proc
// ---------------------------------------------------------------------------------------

/// Name and state from the contents of `/proc/PID/stat`: `PID (NAME) S ...`. The name may
/// itself hold ") ", so it ends at the last ')'.
pub fn parse_stat(stat: &[u8]) -> Option<(Vec<u8>, u8)> {
    let open = stat.iter().position(|b| *b == b'(')?;
    let close = stat.iter().rposition(|b| *b == b')')?;
    if close < open {
        return None;
    }
    let state = *stat.get(close + 2)?;
    Some((stat[open + 1..close].to_vec(), state))
}

/// Up to `limit` bytes of `/proc/PID/cmdline`.
fn read_cmdline(proc: &Path, pid: u32, limit: usize) -> io::Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(limit);
    File::open(proc.join(pid.to_string()).join("cmdline"))?.take(limit as u64).read_to_end(&mut buf)?;
    Ok(buf)
}

/// One process from `/proc`: `None` if it is gone or a zombie.
fn read_process(proc: &Path, pid: u32, cmdline_bytes: Option<usize>) -> Option<ProcessInfo> {
    let stat = std::fs::read(proc.join(pid.to_string()).join("stat")).ok()?;
    let (comm, state) = parse_stat(&stat)?;
    // Z: zombie (exited, not yet reaped); X: dead.
    if matches!(state, b'Z' | b'X') {
        return None;
    }
    let cmdline = match cmdline_bytes {
        Some(n) => Some(read_cmdline(proc, pid, n).ok()?),
        None => None,
    };
    Some(ProcessInfo { pid, comm, cmdline })
}

/// Every process in `proc` (normally `/proc`).
pub fn scan_processes(proc: &Path, cmdline_bytes: Option<usize>) -> io::Result<Vec<ProcessInfo>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(proc)? {
        let Ok(entry) = entry else { continue };
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        if let Some(p) = read_process(proc, pid, cmdline_bytes) {
            out.push(p);
        }
    }
    Ok(out)
}

/// Whether this process sees the kernel's global process ids (it is in the initial PID
/// namespace): `/proc/self/status` lists one id per nested namespace on its `NSpid` line.
fn in_initial_pid_namespace() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("NSpid:")).map(|l| l.split_whitespace().count() == 2))
        .unwrap_or(true)
}

// ---------------------------------------------------------------------------------------
// The driver
// ---------------------------------------------------------------------------------------

#[derive(Debug, thiserror::Error)]
pub enum ProcessTrackError {
    #[error("process events: {0}")]
    Dataplane(#[from] DataplaneError),
    #[error("registering the process event ring buffer with tokio: {0}")]
    Register(io::Error),
    #[error("the process tracker task has stopped")]
    Stopped,
    #[error("starting the /proc reader thread: {0}")]
    Thread(io::Error),
}

type Job = Box<dyn FnOnce() + Send>;

/// The thread that does the tracker's `/proc` reads (see the module documentation). It ends
/// when this is dropped, after the job in hand; a job stuck in a read does not keep the agent
/// from exiting (the thread is not joined).
struct ProcReader {
    jobs: std::sync::mpsc::Sender<Job>,
}

impl ProcReader {
    fn start() -> io::Result<ProcReader> {
        let (jobs, rx) = std::sync::mpsc::channel::<Job>();
        std::thread::Builder::new().name("vrrp-proc-read".into()).spawn(move || {
            while let Ok(job) = rx.recv() {
                job();
            }
        })?;
        Ok(ProcReader { jobs })
    }

    /// Runs `f` on the table on the reader thread and gives the table back (`None`: the
    /// thread is gone, or `f` panicked).
    async fn with_table(&self, mut table: ProcessTable, f: impl FnOnce(&mut ProcessTable) + Send + 'static) -> Option<ProcessTable> {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move || {
            f(&mut table);
            let _ = tx.send(table);
        });
        self.jobs.send(job).ok()?;
        rx.await.ok()
    }
}

enum Command {
    Update(Vec<TrackProcess>, oneshot::Sender<()>),
}

/// What the tracker has done so far (for `status` and tests).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct ProcessStats {
    /// Process events read from the ring buffer.
    pub events: u64,
    /// Events the kernel could not queue (ring buffer full).
    pub lost: u64,
    /// Full `/proc` scans after lost events.
    pub rescans: u64,
}

#[derive(Debug, Default)]
struct SharedStats {
    events: AtomicU64,
    lost: AtomicU64,
    rescans: AtomicU64,
}

/// How long `start`/`update` wait for the tracker task to apply new definitions.
const UPDATE_WAIT: std::time::Duration = std::time::Duration::from_millis(250);

/// The `vrrp_track_process` trackers of a running agent: the tracepoint programs are
/// attached only while at least one definition exists. Dropping it detaches them and stops
/// its task.
pub struct ProcessTrackers {
    tx: mpsc::Sender<HealthEvent>,
    stats: Arc<SharedStats>,
    links: Option<ProcEventLinks>,
    task: Option<(JoinHandle<()>, mpsc::UnboundedSender<Command>)>,
}

impl ProcessTrackers {
    /// Starts tracking `defs`: attaches the tracepoint programs (not when `defs` is empty),
    /// scans `/proc` once, then sends a [`HealthEvent::Process`] with each definition's
    /// count on `tx`, and another whenever a count changes. Returns once the scan is done;
    /// the reports follow (it never waits for the receiver). Must be called in a tokio
    /// runtime.
    pub async fn start(dp: &mut Dataplane, defs: &[TrackProcess], tx: mpsc::Sender<HealthEvent>) -> Result<Self, ProcessTrackError> {
        let mut me = ProcessTrackers { tx, stats: Arc::default(), links: None, task: None };
        me.update(dp, defs).await?;
        Ok(me)
    }

    /// Applies new definitions (SIGHUP). Unchanged ones keep their processes and send
    /// nothing; new or changed ones are filled from a `/proc` scan (done when this returns,
    /// unless a `/proc` read hangs: this waits at most 250 ms)
    /// and report their count, even 0; removed ones send nothing more. Reports are sent in
    /// order: those of one update before any of the next. Attaches the programs when the
    /// first definition appears, detaches them when the last one goes.
    pub async fn update(&mut self, dp: &mut Dataplane, defs: &[TrackProcess]) -> Result<(), ProcessTrackError> {
        if defs.is_empty() {
            if self.links.take().is_some() {
                tracing::info!("no vrrp_track_process left: process-event programs detached");
            }
        } else if self.links.is_none() {
            // Attached before the scan: a process that starts or ends during the scan is
            // then seen by one or the other (both is harmless).
            self.links = Some(dp.attach_proc_events()?);
            if !in_initial_pid_namespace() {
                tracing::warn!(
                    "the agent runs in its own PID namespace: process events carry the host's process ids, so \
                     vrrp_track_process counts will be wrong; run the agent in the host's PID namespace"
                );
            }
        }
        if self.task.is_none() {
            if defs.is_empty() {
                return Ok(());
            }
            let ring = dp.take_proc_events()?;
            let lost = dp.take_proc_events_lost()?;
            // SAFETY: the ring buffer owns its map fd and the AsyncFd owns the ring buffer,
            // so the fd stays open exactly as long as it is registered.
            let ring = unsafe { AsyncFd::register(ring) }.map_err(|e| ProcessTrackError::Register(e.into()))?;
            let reader = ProcReader::start().map_err(ProcessTrackError::Thread)?;
            let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
            let task = tokio::spawn(run(ring, lost, reader, cmd_rx, self.tx.clone(), self.stats.clone()));
            self.task = Some((task, cmd_tx));
        }
        let Some((_, cmd)) = &self.task else { return Ok(()) };
        let (done_tx, done_rx) = oneshot::channel();
        cmd.send(Command::Update(defs.to_vec(), done_tx)).map_err(|_| ProcessTrackError::Stopped)?;
        // Bounded: the tracker task may be waiting for a /proc read that hangs (a process in
        // D state); the caller is the event loop, which must never wait for that. The update
        // is applied when the task gets to it and the counts follow on the channel.
        match tokio::time::timeout(UPDATE_WAIT, done_rx).await {
            Ok(r) => r.map_err(|_| ProcessTrackError::Stopped),
            Err(_) => {
                tracing::warn!("vrrp_track_process: the process tracker is busy reading /proc; the new definitions apply when it is done");
                Ok(())
            }
        }
    }
}

impl ProcessTrackers {
    pub fn stats(&self) -> ProcessStats {
        ProcessStats {
            events: self.stats.events.load(Ordering::Relaxed),
            lost: self.stats.lost.load(Ordering::Relaxed),
            rescans: self.stats.rescans.load(Ordering::Relaxed),
        }
    }

    /// The kernel ids of the attached tracepoint programs; empty while detached.
    pub fn attached_programs(&self) -> &[u32] {
        self.links.as_ref().map_or(&[], |l| l.program_ids())
    }
}

impl Drop for ProcessTrackers {
    fn drop(&mut self) {
        if let Some((task, _)) = self.task.take() {
            task.abort();
        }
        // `links` drops here: the programs are detached.
    }
}

/// Reports waiting for room in the channel, beyond which they are merged (the latest count
/// of each definition kept) rather than queued: a receiver that stopped reading must not
/// make the tracker grow without bound.
const MAX_OUTBOX: usize = 4096;

/// The tracker task: owns the table, applies events in ring-buffer order, queues reports.
/// It never waits for the receiver: the one who reads the reports may be the one waiting
/// for an update to be applied.
async fn run(
    mut ring: AsyncFd<RingBuf<MapData>>,
    lost_map: PerCpuArray<MapData, u64>,
    reader: ProcReader,
    mut cmds: mpsc::UnboundedReceiver<Command>,
    tx: mpsc::Sender<HealthEvent>,
    stats: Arc<SharedStats>,
) {
    let proc = Path::new("/proc");
    let mut table = ProcessTable::default();
    // The table visits the reader thread for every step that may read /proc.
    macro_rules! off_runtime {
        ($f:expr) => {
            match reader.with_table(table, $f).await {
                Some(t) => t,
                None => {
                    tracing::error!("the /proc reader thread failed; vrrp_track_process counts no longer follow");
                    return;
                }
            }
        };
    }
    let mut lost = proc_events_lost(&lost_map);
    let mut outbox = VecDeque::new();
    loop {
        tokio::select! {
            permit = tx.reserve(), if !outbox.is_empty() => {
                let Ok(permit) = permit else {
                    tracing::debug!("health event receiver gone: process tracker stops");
                    return;
                };
                if let Some(ev) = outbox.pop_front() {
                    permit.send(ev);
                }
            }
            cmd = cmds.recv() => {
                let Some(Command::Update(defs, done)) = cmd else { return };
                table.update(&defs);
                if table.needs_scan() {
                    table = off_runtime!(move |t: &mut ProcessTable| scan(t, proc, false));
                }
                queue(&mut outbox, table.poll_events());
                let _ = done.send(());
            }
            guard = ring.readable_mut() => {
                let mut guard = match guard {
                    Ok(g) => g,
                    Err(e) => {
                        tracing::error!("process event ring buffer: {e}; vrrp_track_process counts no longer follow");
                        return;
                    }
                };
                let ring = guard.get_inner_mut();
                let mut n = 0u32;
                let mut batch = Vec::new();
                while let Some(item) = ring.next() {
                    n += 1;
                    match bytemuck::try_pod_read_unaligned::<ProcEvent>(item.get(..size_of::<ProcEvent>()).unwrap_or(&[])) {
                        Ok(ev) => batch.push(ev),
                        Err(_) => tracing::debug!("process event of {} bytes ignored", item.len()),
                    }
                }
                guard.clear_ready();
                drop(guard);
                // Only an exec may read /proc, and only when a definition compares command
                // lines; other batches are applied here.
                if table.cmdline_bytes().is_some() && batch.iter().any(|ev| ev.kind == proc_event::EXEC) {
                    table = off_runtime!(move |t: &mut ProcessTable| batch.iter().for_each(|ev| apply(t, proc, ev)));
                } else {
                    batch.iter().for_each(|ev| apply(&mut table, proc, ev));
                }
                tracing::trace!("{n} process event(s)");
                stats.events.fetch_add(u64::from(n), Ordering::Relaxed);
                let now_lost = proc_events_lost(&lost_map);
                if now_lost != lost {
                    stats.lost.fetch_add(now_lost.wrapping_sub(lost), Ordering::Relaxed);
                    stats.rescans.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(
                        "{} process event(s) lost (ring buffer full): rescanning /proc for vrrp_track_process",
                        now_lost.wrapping_sub(lost)
                    );
                    lost = now_lost;
                    table = off_runtime!(move |t: &mut ProcessTable| scan(t, proc, true));
                }
                queue(&mut outbox, table.poll_events());
            }
        }
    }
}

/// Appends reports in order; past [`MAX_OUTBOX`], keeps only each definition's latest.
fn queue(outbox: &mut VecDeque<HealthEvent>, reports: Vec<HealthEvent>) {
    outbox.extend(reports);
    if outbox.len() > MAX_OUTBOX {
        tracing::warn!("{} process reports not yet received: keeping only the latest count of each", outbox.len());
        let mut seen = HashSet::new();
        let mut latest: Vec<HealthEvent> = outbox
            .drain(..)
            .rev()
            .filter(|e| match e {
                HealthEvent::Process { name, .. } => seen.insert(name.clone()),
                _ => true,
            })
            .collect();
        latest.reverse();
        outbox.extend(latest);
    }
}

fn scan(table: &mut ProcessTable, proc: &Path, all: bool) {
    match scan_processes(proc, table.cmdline_bytes()) {
        Ok(procs) => table.handle_scan(&procs, all),
        Err(e) => tracing::error!("scanning {}: {e}; vrrp_track_process counts start from events only", proc.display()),
    }
}

/// One event. An exec reads the command line only when a definition compares command lines;
/// a process already gone by then matches nothing (its exit event follows).
fn apply(table: &mut ProcessTable, proc: &Path, ev: &ProcEvent) {
    if table.is_empty() {
        return;
    }
    match ev.kind {
        proc_event::EXEC => {
            let cmdline = table.cmdline_bytes().and_then(|n| read_cmdline(proc, ev.pid, n).ok());
            table.handle_exec(ev.pid, ev.comm_bytes(), cmdline.as_deref());
        }
        proc_event::EXIT => table.handle_exit(ev.pid),
        proc_event::FORK => table.handle_fork(ev.parent, ev.pid),
        proc_event::COMM => table.handle_comm(ev.pid, ev.comm_bytes()),
        other => tracing::debug!("unknown process event kind {other} ignored"),
    }
}

#[cfg(test)]
mod tests;
