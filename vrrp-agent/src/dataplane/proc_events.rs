//! The process-event tracepoint programs (`vrrp_track_process`): loaded and attached only
//! when some process is tracked, their ring buffer handed to `crate::health::process`.
//!
//! They live in the XDP object (one object, one build, one BTF) but are not loaded with it:
//! an agent without `vrrp_track_process` never runs them.
use std::path::Path;

use aya::{
    maps::{MapData, PerCpuArray, RingBuf},
    programs::{TracePoint, trace_point::TracePointLink},
};
use vrrp_common::{names, tracepoint_offsets as off};

use super::{Dataplane, DataplaneError, map_err};

/// The programs and the tracepoints they attach to.
const PROGRAMS: [(&str, &str, &str); 4] = [
    (names::PROC_EXEC_PROGRAM, "sched", "sched_process_exec"),
    (names::PROC_EXIT_PROGRAM, "sched", "sched_process_exit"),
    (names::PROC_FORK_PROGRAM, "task", "task_newtask"),
    (names::PROC_COMM_PROGRAM, "task", "task_rename"),
];

/// Where the kernel's tracing filesystem is looked for (aya looks in the same places, in
/// this order, and needs it to find a tracepoint's id).
const TRACEFS: [&str; 2] = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"];

/// Attached process-event programs; dropping this detaches them.
pub struct ProcEventLinks {
    _links: Vec<TracePointLink>,
    program_ids: Vec<u32>,
}

impl ProcEventLinks {
    /// The kernel's ids of the attached programs (`bpftool prog show id N`).
    pub fn program_ids(&self) -> &[u32] {
        &self.program_ids
    }
}

impl std::fmt::Debug for ProcEventLinks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProcEventLinks").field("program_ids", &self.program_ids).finish()
    }
}

impl Dataplane {
    /// Loads the process-event programs (the first time) and attaches them to their
    /// tracepoints. Mounts tracefs first if this mount namespace has none (`ip netns exec`
    /// gives a fresh /sys without it), and checks that the tracepoint records are laid out as
    /// the programs read them. Dropping the returned links detaches the programs.
    pub fn attach_proc_events(&mut self) -> Result<ProcEventLinks, DataplaneError> {
        let tracefs = ensure_tracefs()?;
        check_tracepoint_formats(tracefs)?;
        let mut links = Vec::with_capacity(PROGRAMS.len());
        let mut program_ids = Vec::with_capacity(PROGRAMS.len());
        for (name, category, event) in PROGRAMS {
            let prog: &mut TracePoint =
                self.ebpf.program_mut(name).ok_or(DataplaneError::MissingMap(name))?.try_into()?;
            if prog.fd().is_err() {
                super::load_retrying(name, || prog.load())?;
            }
            program_ids.push(prog.info()?.id());
            let id = prog.attach(category, event)?;
            links.push(prog.take_link(id)?);
        }
        tracing::debug!(?program_ids, "process-event programs attached");
        Ok(ProcEventLinks { _links: links, program_ids })
    }

    /// The `PROC_EVENTS` ring buffer (`vrrp_common::ProcEvent` records), handed out once.
    pub fn take_proc_events(&mut self) -> Result<RingBuf<MapData>, DataplaneError> {
        let map = self.ebpf.take_map(names::PROC_EVENTS).ok_or(DataplaneError::MissingMap(names::PROC_EVENTS))?;
        RingBuf::try_from(map).map_err(map_err(names::PROC_EVENTS))
    }

    /// The per-CPU count of process events that did not fit the ring buffer, handed out once.
    pub fn take_proc_events_lost(&mut self) -> Result<PerCpuArray<MapData, u64>, DataplaneError> {
        let map =
            self.ebpf.take_map(names::PROC_EVENTS_LOST).ok_or(DataplaneError::MissingMap(names::PROC_EVENTS_LOST))?;
        PerCpuArray::try_from(map).map_err(map_err(names::PROC_EVENTS_LOST))
    }
}

/// The sum over CPUs of `PROC_EVENTS_LOST`.
pub fn proc_events_lost(map: &PerCpuArray<MapData, u64>) -> u64 {
    map.get(&0, 0).map(|v| v.iter().sum()).unwrap_or(0)
}

fn tracefs_present(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_some())
}

/// A tracefs directory, mounting one at /sys/kernel/tracing if none is there.
fn ensure_tracefs() -> Result<&'static Path, DataplaneError> {
    if let Some(dir) = TRACEFS.iter().map(Path::new).find(|d| tracefs_present(d)) {
        return Ok(dir);
    }
    let dir = Path::new(TRACEFS[0]);
    let err = |source: std::io::Error| DataplaneError::Tracefs { path: dir.to_path_buf(), source };
    nix::mount::mount(Some("tracefs"), dir, Some("tracefs"), nix::mount::MsFlags::empty(), None::<&str>)
        .map_err(|e| err(e.into()))?;
    tracing::info!("mounted tracefs at {}", dir.display());
    Ok(dir)
}

/// One field of a tracepoint format file: (name, offset, size).
fn format_fields(format: &str) -> Vec<(String, usize, usize)> {
    let mut fields = Vec::new();
    for line in format.lines() {
        let mut name = None;
        let mut offset = None;
        let mut size = None;
        for part in line.trim().split(';') {
            let part = part.trim();
            if let Some(decl) = part.strip_prefix("field:") {
                // "char newcomm[16]" -> "newcomm"
                let last = decl.rsplit(' ').next().unwrap_or(decl);
                name = Some(last.split('[').next().unwrap_or(last).to_string());
            } else if let Some(v) = part.strip_prefix("offset:") {
                offset = v.parse().ok();
            } else if let Some(v) = part.strip_prefix("size:") {
                size = v.parse().ok();
            }
        }
        if let (Some(n), Some(o), Some(s)) = (name, offset, size) {
            fields.push((n, o, s));
        }
    }
    fields
}

/// The fields the programs read from tracepoint records (`bpf_probe_read` at fixed offsets):
/// (category, event, field, offset, size).
const READ_FIELDS: [(&str, &str, &str, usize, usize); 4] = [
    ("task", "task_newtask", "pid", off::NEWTASK_PID, 4),
    ("task", "task_newtask", "clone_flags", off::NEWTASK_CLONE_FLAGS, 8),
    ("task", "task_rename", "pid", off::RENAME_PID, 4),
    ("task", "task_rename", "newcomm", off::RENAME_NEWCOMM, 16),
];

/// Refuses a kernel whose records differ from what the programs read (they would report
/// garbage, silently).
fn check_tracepoint_formats(tracefs: &Path) -> Result<(), DataplaneError> {
    for (category, event, field, offset, size) in READ_FIELDS {
        let path = tracefs.join("events").join(category).join(event).join("format");
        let text = std::fs::read_to_string(&path)
            .map_err(|source| DataplaneError::Tracefs { path: path.clone(), source })?;
        let found = format_fields(&text).into_iter().find(|(n, _, _)| n == field);
        if found.as_ref().map(|(_, o, s)| (*o, *s)) != Some((offset, size)) {
            return Err(DataplaneError::TracepointFormat {
                path,
                field,
                expected: (offset, size),
                found: found.map(|(_, o, s)| (o, s)),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_file_fields() {
        let text = "name: task_rename\nID: 204\nformat:\n\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n\
                    \tfield:pid_t pid;\toffset:8;\tsize:4;\tsigned:1;\n\tfield:char oldcomm[16];\toffset:12;\tsize:16;\tsigned:0;\n\
                    \tfield:char newcomm[16];\toffset:28;\tsize:16;\tsigned:0;\n\nprint fmt: \"pid=%d\", REC->pid\n";
        let f = format_fields(text);
        assert_eq!(f[0], ("common_type".to_string(), 0, 2));
        assert!(f.contains(&("pid".to_string(), 8, 4)), "{f:?}");
        assert!(f.contains(&("newcomm".to_string(), 28, 16)), "{f:?}");
        assert_eq!(f.len(), 4);
    }
}
