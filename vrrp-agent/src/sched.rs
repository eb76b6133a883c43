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
use nix::sched::{CpuSet, sched_setaffinity};
use nix::sys::mman::{MlockAllFlags, mlockall};
use nix::sys::resource::{Resource, setrlimit};
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
                    Ok(()) => info!("real-time scheduling: SCHED_RR priority {prio}; at most {limit} us of CPU without blocking (warned at {} us)", limit / 2),
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
