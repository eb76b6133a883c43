//! The agent's own process scheduling, from keepalived's `global_defs` for its VRRP process:
//! `vrrp_rt_priority`, `vrrp_priority`, `vrrp_no_swap`, `vrrp_cpu_affinity` and
//! `vrrp_rlimit_rttime`. Applied once, at start (as keepalived applies them when its VRRP
//! process starts; a reload that changes them says they wait for the next start).
//!
//! With a real-time priority the agent runs SCHED_RR with `SCHED_RESET_ON_FORK`, so the
//! scripts it starts run as ordinary processes, and under `RLIMIT_RTTIME`: the kernel sends
//! SIGXCPU at half the limit of CPU time used without blocking (logged here, once a second
//! at most, as the kernel repeats it) and kills the agent at the limit, so a real-time agent
//! that spins cannot keep a core from the rest of the host.
//!
//! The agent is not keepalived: setting up or stopping many instances, a reload, a burst of
//! gratuitous ARPs for many VIPs can each take more CPU than that limit, and the kernel
//! counts it whenever the agent has not blocked since it last woke up (network sends also
//! run the receivers' stacks on the sender's CPU time). So the long loops call [`breathe`]:
//! once the agent has run a tenth of the limit without blocking, it blocks for a moment,
//! which restarts the kernel's count. (At HZ=250 a 10 ms limit kills at the third tick the
//! agent is found running, past both limits at once: no SIGXCPU comes first. Found as an
//! agent killed in a reload hand-over on a loaded machine, with one instance.)
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use nix::sched::{CpuSet, sched_setaffinity};
use nix::sys::mman::{MlockAllFlags, mlockall};
use nix::sys::resource::{Resource, UsageWho, getrusage, setrlimit};
use nix::unistd::Pid;
use tracing::{info, warn};

use crate::config::Scheduling;

/// Applies `s` to this process; what cannot be applied is logged and the agent runs on (as
/// keepalived does: an unprivileged or confined agent still elects, only less promptly).
/// Call it inside the runtime, once the programs are loaded: the kernel verifier's walk is
/// CPU time without blocking, which `RLIMIT_RTTIME` counts. With a real-time priority it
/// returns the task that logs SIGXCPU (see [`watch_rttime`]).
pub fn apply(s: &Scheduling) -> Option<tokio::task::JoinHandle<()>> {
    let mut watcher = None;
    if let Some(prio) = s.rt_priority {
        // The handler first: SIGXCPU's default action would end the agent at the warning.
        match watch_rttime(s.rlimit_rttime_us) {
            Ok(w) => watcher = Some(w),
            Err(e) => warn!("vrrp_rt_priority {prio}: cannot watch for SIGXCPU ({e}); not raising the agent to SCHED_RR"),
        }
    }
    if let (Some(prio), Some(_)) = (s.rt_priority, &watcher) {
        match set_round_robin(prio) {
            Ok(()) => {
                let limit = u64::from(s.rlimit_rttime_us);
                match setrlimit(Resource::RLIMIT_RTTIME, limit / 2, limit) {
                    Ok(()) => {
                        BREATHE_AFTER_NS.store(breathe_after_ns(s.rlimit_rttime_us), Ordering::Relaxed);
                        info!("real-time scheduling: SCHED_RR priority {prio}; at most {limit} us of CPU without blocking (warned at {} us)", limit / 2)
                    }
                    Err(e) => warn!("real-time scheduling: SCHED_RR priority {prio}, but cannot limit its CPU time (vrrp_rlimit_rttime {limit}): {e}"),
                }
            }
            Err(e) => {
                warn!("vrrp_rt_priority {prio}: cannot raise the agent to SCHED_RR: {e}; it runs at normal priority");
                if let Some(w) = watcher.take() {
                    w.abort();
                }
            }
        }
    } else if let Some(nice) = s.nice {
        match rustix::process::setpriority_process(None, i32::from(nice)) {
            Ok(()) => info!("process priority (nice) {nice}"),
            Err(e) => warn!("vrrp_priority {nice}: cannot set the agent's priority: {e}"),
        }
    }
    if s.no_swap {
        // Pages locked as they are touched (MCL_ONFAULT), as keepalived does: the agent's
        // whole address space reserved for threads and maps is not forced into memory.
        let flags = MlockAllFlags::MCL_CURRENT | MlockAllFlags::MCL_FUTURE | MlockAllFlags::from_bits_retain(libc::MCL_ONFAULT);
        match mlockall(flags) {
            Ok(()) => info!("memory locked (vrrp_no_swap)"),
            Err(e) => warn!("vrrp_no_swap: cannot lock the agent's memory: {e}"),
        }
    }
    if !s.cpu_affinity.is_empty() {
        match cpu_set(&s.cpu_affinity).and_then(|set| sched_setaffinity(Pid::from_raw(0), &set)) {
            Ok(()) => info!("CPU affinity {:?}", s.cpu_affinity),
            Err(e) => warn!("vrrp_cpu_affinity {:?}: cannot bind the agent to those CPUs: {e}", s.cpu_affinity),
        }
    }
    watcher
}

/// How long the real-time agent runs without blocking before [`breathe`] blocks it; 0 = never
/// (no real-time priority, or no limit). Set once by [`apply`].
static BREATHE_AFTER_NS: AtomicU64 = AtomicU64::new(0);
/// How often [`breathe`] blocked (for the shutdown summary).
static BREATHS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// This thread's voluntary context switches (times it blocked) when [`breathe`] last saw
    /// the count change, and when that was.
    static LAST_BLOCK: Cell<Option<(i64, Instant)>> = const { Cell::new(None) };
}

/// A tenth of `vrrp_rlimit_rttime`. The count of runs without blocking starts when a check
/// first sees it, which may be well after the agent woke; and the work between two checks
/// is not bounded by this (the kernel kills after the limit less one tick of running).
fn breathe_after_ns(limit_us: u32) -> u64 {
    u64::from(limit_us) * 1_000 / 10
}

/// Call between pieces of work in any loop that can run long. With a real-time priority and
/// `vrrp_rlimit_rttime`: if this thread has not blocked for a tenth of the limit, it
/// blocks for some 50 µs, which restarts the kernel's RLIMIT_RTTIME count (see the
/// module). Otherwise one `getrusage` call; nothing at all without a real-time priority.
pub fn breathe() {
    let after = BREATHE_AFTER_NS.load(Ordering::Relaxed);
    if after == 0 {
        return;
    }
    let Some(blocked) = times_blocked() else { return };
    let now = Instant::now();
    LAST_BLOCK.with(|last| match last.get() {
        Some((count, since)) if count == blocked => {
            if now.duration_since(since).as_nanos() as u64 >= after {
                last.set(Some((pause(blocked), Instant::now())));
                BREATHS.fetch_add(1, Ordering::Relaxed);
            }
        }
        _ => last.set(Some((blocked, now))),
    });
}

/// This thread's voluntary context switches: how often it has blocked.
fn times_blocked() -> Option<i64> {
    getrusage(UsageWho::RUSAGE_THREAD).ok().map(|u| i64::from(u.voluntary_context_switches()))
}

/// Blocks this thread once: a real sleep, not a yield, as only a task that blocks and is
/// woken has its RLIMIT_RTTIME count restarted. A sleep so short that its timer fires before
/// the thread is switched out does not block (1 µs and 20 µs sleeps every 2 ms did not keep
/// a SCHED_RR loop alive here, 50 µs did), hence the check and the longer retries.
/// Returns the count of times blocked after it.
fn pause(blocked: i64) -> i64 {
    let mut sleep = Duration::from_micros(50);
    let mut now = blocked;
    for _ in 0..4 {
        std::thread::sleep(sleep);
        now = times_blocked().unwrap_or(blocked + 1);
        if now != blocked {
            break;
        }
        sleep *= 4;
    }
    now
}

/// How often [`breathe`] blocked the agent, logged at shutdown.
pub fn log_breaths() {
    let n = BREATHS.load(Ordering::Relaxed);
    if n > 0 {
        info!("real-time scheduling: blocked {n} time(s) to stay within vrrp_rlimit_rttime");
    }
}

fn cpu_set(cpus: &[u16]) -> nix::Result<CpuSet> {
    let mut set = CpuSet::new();
    for &c in cpus {
        set.set(usize::from(c))?;
    }
    Ok(set)
}

/// SCHED_RR at `prio` for this process, its children reset to SCHED_OTHER at fork.
fn set_round_robin(prio: u8) -> std::io::Result<()> {
    let param = libc::sched_param { sched_priority: i32::from(prio) };
    // SAFETY: a plain syscall on this process with a valid, initialised parameter. Neither
    // nix nor rustix wraps sched_setscheduler (SCHED_RESET_ON_FORK included).
    let rc = unsafe { libc::sched_setscheduler(0, libc::SCHED_RR | libc::SCHED_RESET_ON_FORK, &param) };
    if rc == 0 { Ok(()) } else { Err(std::io::Error::last_os_error()) }
}

/// Logs the kernel's SIGXCPU (half of `vrrp_rlimit_rttime` used without blocking): without
/// a handler its default action would end the agent at the warning, not at the limit.
fn watch_rttime(limit_us: u32) -> std::io::Result<tokio::task::JoinHandle<()>> {
    let mut sig = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::from_raw(libc::SIGXCPU))?;
    Ok(tokio::spawn(async move {
        while sig.recv().await.is_some() {
            warn!("the agent has run {} us on the CPU without blocking (half of vrrp_rlimit_rttime {limit_us} us); at the limit the kernel kills it", limit_us / 2);
        }
    }))
}

/// What a reload cannot change: process settings wait for the next start.
pub fn reload_note(running: &Scheduling, new: &Scheduling) -> Option<String> {
    (running != new).then(|| "the process settings (vrrp_rt_priority, vrrp_priority, vrrp_no_swap, vrrp_cpu_affinity, vrrp_rlimit_rttime) changed: they take effect when the agent next starts".to_string())
}
