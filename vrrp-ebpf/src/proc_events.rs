//! Process events for `vrrp_track_process`, from scheduler and task tracepoints.
//!
//! keepalived hears these through the proc connector, which only delivers in the initial
//! network namespace; tracepoints fire for every process on the host whatever namespace the
//! agent runs in. The programs only report; matching names against the configuration is the
//! agent's job (`vrrp-agent/src/health/process.rs`). Threads are filtered out here: a thread
//! starting or ending is not a process starting or ending.
use aya_ebpf::{
    btf_maps::{PerCpuArray, RingBuf},
    helpers::{bpf_get_current_pid_tgid, bpf_ktime_get_ns, generated},
    macros::{btf_map, tracepoint},
    programs::TracePointContext,
};
use vrrp_common::{PROC_EVENTS_BYTES, ProcEvent, proc_event, tracepoint_offsets as off};

#[btf_map]
static PROC_EVENTS: RingBuf<ProcEvent, { PROC_EVENTS_BYTES as usize }> = RingBuf::new();
/// Events that did not fit the ring buffer: the agent rescans `/proc` when this moves.
#[btf_map]
static PROC_EVENTS_LOST: PerCpuArray<u64, 1> = PerCpuArray::new();

/// The calling task's (thread id, thread-group id).
#[inline(always)]
fn current_ids() -> (u32, u32) {
    let id = bpf_get_current_pid_tgid();
    (id as u32, (id >> 32) as u32)
}

/// Where an event's `comm` comes from.
enum Comm {
    /// The calling task's (the process the event is about).
    Current,
    /// Read from the tracepoint record.
    Given([u8; 16]),
}

#[inline(always)]
fn send(kind: u32, pid: u32, parent: u32, comm: Comm) {
    let Some(mut entry) = PROC_EVENTS.reserve(0) else {
        if let Some(lost) = PROC_EVENTS_LOST.get_ptr_mut(0) {
            // SAFETY: per-CPU value, only this CPU writes it while we run.
            unsafe { *lost += 1 };
        }
        return;
    };
    let event = entry.as_mut_ptr();
    // SAFETY: `event` points at a reserved, 8-byte aligned record of our size; every field
    // is written before submit. The comm helper writes its 16 NUL-padded bytes into the
    // record itself (zeroing a local [u8; 16] would need a memset, which BPF does not have).
    unsafe {
        (*event).kind = kind;
        (*event).pid = pid;
        (*event).parent = parent;
        (*event)._pad = 0;
        (*event).ts_ns = bpf_ktime_get_ns();
        match comm {
            Comm::Given(c) => (*event).comm = c,
            Comm::Current => {
                // On failure (no current task) the helper zero-fills the buffer itself.
                let comm = &raw mut (*event).comm;
                generated::bpf_get_current_comm(comm.cast(), 16);
            }
        }
    }
    entry.submit(0);
}

/// `sched/sched_process_exec`: runs in the task that exec'd, after the kernel made it the
/// thread-group leader and gave it the new program's name.
#[tracepoint(category = "sched", name = "sched_process_exec")]
pub fn vrrp_proc_exec(_ctx: TracePointContext) -> u32 {
    let (_, tgid) = current_ids();
    send(proc_event::EXEC, tgid, 0, Comm::Current);
    0
}

/// `sched/sched_process_exit`: runs in each exiting task; only the thread-group leader's
/// exit is the process's (as keepalived counts it: a thread ending is not reported).
#[tracepoint(category = "sched", name = "sched_process_exit")]
pub fn vrrp_proc_exit(_ctx: TracePointContext) -> u32 {
    let (pid, tgid) = current_ids();
    if pid == tgid {
        send(proc_event::EXIT, tgid, 0, Comm::Current);
    }
    0
}

/// `task/task_newtask`: runs in the parent while it creates a task; `clone_flags` tells a
/// new process from a new thread (`CLONE_THREAD`), which `sched_process_fork` does not.
#[tracepoint(category = "task", name = "task_newtask")]
pub fn vrrp_proc_fork(ctx: TracePointContext) -> u32 {
    // SAFETY: offsets of this tracepoint's record, checked by the agent against the
    // kernel's format file before attaching; read_at copies with bpf_probe_read.
    let (child, flags) = unsafe {
        (ctx.read_at::<i32>(off::NEWTASK_PID), ctx.read_at::<u64>(off::NEWTASK_CLONE_FLAGS))
    };
    let (Ok(child), Ok(flags)) = (child, flags) else { return 0 };
    if flags & off::CLONE_THREAD != 0 {
        return 0;
    }
    let (_, parent) = current_ids();
    send(proc_event::FORK, child as u32, parent, Comm::Current);
    0
}

/// `task/task_rename`: a task's comm changed. Only a thread-group leader's name is the
/// process's name (`/proc/PID/comm`); the kernel renames only tasks of the caller's own
/// thread group (prctl, `/proc/PID/task/TID/comm`, exec), so the renamed task is the leader
/// when its id is the caller's thread-group id.
#[tracepoint(category = "task", name = "task_rename")]
pub fn vrrp_proc_comm(ctx: TracePointContext) -> u32 {
    // SAFETY: as in vrrp_proc_fork.
    let (pid, comm) = unsafe {
        (ctx.read_at::<i32>(off::RENAME_PID), ctx.read_at::<[u8; 16]>(off::RENAME_NEWCOMM))
    };
    let (Ok(pid), Ok(comm)) = (pid, comm) else { return 0 };
    let (_, tgid) = current_ids();
    if pid as u32 == tgid {
        send(proc_event::COMM, tgid, 0, Comm::Given(comm));
    }
    0
}
