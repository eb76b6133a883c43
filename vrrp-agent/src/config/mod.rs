//! keepalived.conf reader for vrrp-agent.
//!
//! Reads keepalived 2.2.7 style configuration (comments, quoting, `include`,
//! `$NAME` parameters, `@id` conditional lines), builds a brace tree and turns
//! the parts vrrp-agent implements (`global_defs`, `vrrp_instance`, `vrrp_script`,
//! `vrrp_track_file`, `vrrp_track_process`, `vrrp_sync_group`, `static_ipaddress`,
//! `static_routes`, `static_rules`) into a [`Config`]. Everything else is reported as a
//! [`Diagnostic`]: nothing in the file is silently ignored.
//!
//! Severities:
//! * [`Severity::Warning`]: accepted, possibly adjusted the way keepalived does
//!   (e.g. VRRPv2 `advert_int 1.5` is rounded), or not implemented by vrrp-agent.
//! * [`Severity::Error`]: a configuration error; the affected `vrrp_instance` is
//!   left out of [`Config::instances`] (keepalived would often substitute a
//!   default instead; we refuse).
//! * [`Severity::Fatal`]: the configuration cannot be used (include nesting too
//!   deep / include loop). An unreadable top-level file is returned as
//!   [`ConfigError`] from [`load`].

pub mod advert_size;
mod lexer;
mod parser;
mod routes;
mod trackers;
#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests;

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use serde::Serialize;

/// Options for reading a configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadOptions {
    /// The config id used to select `@name` / `@^name` conditional lines
    /// (keepalived `-i`). With `None`, `@name` lines are skipped and `@^name`
    /// lines are kept. (keepalived itself defaults the id to the first part of
    /// the host name; the caller may pass that explicitly.)
    pub config_id: Option<String>,
}

/// How serious a [`Diagnostic`] is. Ordered: `Warning < Error < Fatal`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Accepted (possibly adjusted) or not implemented; the config still runs.
    Warning,
    /// A configuration error keepalived would work around (keepalived exit 4).
    Error,
    /// The configuration cannot be run (keepalived exit 3).
    Fatal,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Warning => "warning",
            Severity::Error => "error",
            Severity::Fatal => "fatal",
        })
    }
}

/// A located message about the configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub file: PathBuf,
    /// 1-based line number; 0 means "the whole file".
    pub line: usize,
    pub severity: Severity,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", Location(&self.file, self.line), self.severity, self.message)
    }
}

/// `file:line`, or `file` alone for line 0 (the whole file).
struct Location<'a>(&'a Path, usize);

impl fmt::Display for Location<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.1 {
            0 => write!(f, "{}", self.0.display()),
            line => write!(f, "{}:{line}", self.0.display()),
        }
    }
}

/// A configuration file's bytes as text, or the 1-based line of its first NUL byte and what
/// was found there. A NUL never occurs in a text file: a binary, a file zero-filled by a
/// crash or the wrong file given by mistake is refused as a whole rather than read as a
/// string of unknown keywords (which leaves a valid, empty configuration: every instance
/// stopped on a reload). Invalid UTF-8 is read as keepalived reads it, bytes in comments and
/// names (a Latin-1 comment is common in real files), replaced where shown.
pub(crate) fn decode_text(bytes: &[u8]) -> Result<std::borrow::Cow<'_, str>, (usize, String)> {
    if let Some(at) = bytes.iter().position(|&b| b == 0) {
        let line = bytes[..at].iter().filter(|&&b| b == b'\n').count() + 1;
        return Err((line, format!("not a text file: NUL byte at offset {at}")));
    }
    Ok(String::from_utf8_lossy(bytes))
}

/// A fatal, located error that stops reading altogether (for example an
/// unreadable top-level file). `line` is 0 when the whole file is meant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {message}", Location(file, *line))]
pub struct ConfigError {
    pub file: PathBuf,
    pub line: usize,
    pub message: String,
}

impl ConfigError {
    /// The same error as a [`Severity::Fatal`] diagnostic.
    pub fn to_diagnostic(&self) -> Diagnostic {
        Diagnostic {
            file: self.file.clone(),
            line: self.line,
            severity: Severity::Fatal,
            message: self.message.clone(),
        }
    }
}

/// A `vrrp_instance` left out of [`Config::instances`] because of errors in its own lines.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RejectedInstance {
    pub name: String,
    pub file: PathBuf,
    pub line: usize,
    /// How many of the file's errors were in this instance.
    pub errors: usize,
}

/// The result of reading a configuration: what vrrp-agent will run, and
/// everything that was said about the file(s).
#[derive(Debug, Clone, Serialize)]
pub struct Loaded {
    pub config: Config,
    pub diagnostics: Vec<Diagnostic>,
}

impl Loaded {
    /// keepalived-style exit code for a config check: 0 when clean or only
    /// warnings, 4 if any [`Severity::Error`], 3 if any [`Severity::Fatal`].
    /// Errors not confined to one instance (an unclosed block, a missing include, a bad
    /// global setting...): they may hide or change anything after them, so nothing should
    /// run. Errors inside an instance only keep that instance from running.
    pub fn file_level_errors(&self) -> usize {
        let total = self.diagnostics.iter().filter(|d| d.severity >= Severity::Error).count();
        total.saturating_sub(self.config.rejected.iter().map(|r| r.errors).sum())
    }

    pub fn exit_code(&self) -> i32 {
        match self.diagnostics.iter().map(|d| d.severity).max() {
            Some(Severity::Fatal) => 3,
            Some(Severity::Error) => 4,
            _ => 0,
        }
    }

    /// True if any diagnostic is an [`Severity::Error`] or [`Severity::Fatal`].
    pub fn has_errors(&self) -> bool {
        self.diagnostics
            .iter()
            .any(|d| d.severity >= Severity::Error)
    }
}

/// The parts of keepalived.conf that vrrp-agent implements.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Config {
    pub global: GlobalDefs,
    /// Only instances without errors.
    pub instances: Vec<Instance>,
    /// Instances left out because their own lines had errors.
    pub rejected: Vec<RejectedInstance>,
    /// `vrrp_script` blocks keepalived keeps (named, with a `script`, a usable user).
    pub scripts: Vec<VrrpScript>,
    /// `vrrp_track_file` / `track_file` blocks keepalived keeps (with a `file`).
    pub track_files: Vec<TrackFile>,
    /// `vrrp_track_process` blocks keepalived keeps (with a `process`).
    pub track_processes: Vec<TrackProcess>,
    /// `vrrp_sync_group` blocks, with only members that exist and are in no
    /// earlier group; groups left without members are dropped (as keepalived does).
    pub sync_groups: Vec<SyncGroup>,
    /// `static_ipaddress` entries.
    pub static_addresses: Vec<VirtualAddress>,
    /// `static_routes` entries.
    pub static_routes: Vec<Route>,
    /// `static_rules` entries.
    pub static_rules: Vec<Rule>,
}

/// `global_defs` values used by vrrp-agent.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GlobalDefs {
    pub router_id: Option<String>,
    /// `vrrp_version`, default 2.
    pub vrrp_version: u8,
    /// `vrrp_garp_master_delay`, default 5.
    pub garp_master_delay_s: u32,
    /// `vrrp_garp_master_repeat`, default 5.
    pub garp_master_repeat: u32,
    /// `vrrp_garp_master_refresh`, 0 = off.
    pub garp_master_refresh_s: u32,
    /// `vrrp_garp_lower_prio_repeat`; unset = each instance's `garp_master_repeat`.
    pub garp_lower_prio_repeat: Option<u32>,
    /// `vrrp_garp_lower_prio_delay`, default 0 (no second burst).
    pub garp_lower_prio_delay_s: u32,
    /// `vrrp_lower_prio_no_advert`: a master does not answer a lower-priority advert.
    pub lower_prio_no_advert: bool,
    /// `vrrp_higher_prio_send_advert`; on by default here (keepalived: off), see
    /// [`Instance::higher_prio_send_advert`].
    pub higher_prio_send_advert: bool,
    /// `vrrp_garp_interval` in milliseconds, default 0.
    pub vrrp_garp_interval_ms: u32,
    /// `vrrp_gna_interval` in milliseconds, default 0: the spacing of the unsolicited
    /// neighbour advertisements for IPv6 VIPs, as `vrrp_garp_interval` spaces the ARPs.
    pub vrrp_gna_interval_ms: u32,
    /// `v3_checksum_as_v2` in `global_defs` (keepalived after 2.2.7; an optional
    /// true/false argument, bare = true): VRRPv3 over IPv4 checksums leave out
    /// the pseudo-header. The default for every instance's
    /// [`Instance::v3_checksum_as_v2`].
    pub v3_checksum_as_v2: bool,
    /// `vrrp_skip_check_adv_addr`: do not compare a received advert's addresses with ours
    /// (default: compare, and drop on a mismatch, as keepalived 2.2.7).
    pub vrrp_skip_check_adv_addr: bool,
    /// `vrrp_check_unicast_src`: unicast instances accept adverts only from their peers.
    pub vrrp_check_unicast_src: bool,
    /// `enable_script_security`: refuse scripts that would run as root from a path a
    /// non-root user could change.
    pub enable_script_security: bool,
    /// `script_user USER [GROUP]`: the user scripts run as when they name none.
    pub script_user: Option<ScriptUser>,
    /// `notify_fifo FIFO [USER [GROUP]]`: every VRRP notification as a line on a FIFO.
    pub notify_fifo: Option<NotifyFifo>,
    /// `notify_fifo_script`: started with the FIFO's path as its last argument.
    pub notify_fifo_script: Option<ScriptCommand>,
    /// `vrrp_notify_fifo FIFO [USER [GROUP]]`: the same lines on a second FIFO.
    pub vrrp_notify_fifo: Option<NotifyFifo>,
    /// `vrrp_notify_fifo_script`.
    pub vrrp_notify_fifo_script: Option<ScriptCommand>,
    /// How the agent's own process is scheduled: [`crate::sched`].
    pub scheduling: Scheduling,
}

/// keepalived's process settings for its VRRP process, which are the agent's: the kernel
/// runs the agent's timers on time on a busy gateway only if it is told to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Scheduling {
    /// `vrrp_rt_priority 1..99`: SCHED_RR at this priority (children, the scripts, start
    /// back at SCHED_OTHER).
    pub rt_priority: Option<u8>,
    /// `vrrp_priority -20..19`: the nice value, when there is no real-time priority.
    pub nice: Option<i8>,
    /// `vrrp_no_swap`: lock the agent's memory (mlockall).
    pub no_swap: bool,
    /// `vrrp_cpu_affinity CPU...`: the CPUs the agent may run on (empty: any).
    pub cpu_affinity: Vec<u16>,
    /// `vrrp_rlimit_rttime` (µs; keepalived's default 10 000): with a real-time priority,
    /// the CPU time the agent may use without blocking: a warning at half, killed by the
    /// kernel at the limit, so a spinning real-time agent cannot take a core for good.
    pub rlimit_rttime_us: u32,
}

/// keepalived's `RT_RLIMIT_DEFAULT`.
pub const DEFAULT_RLIMIT_RTTIME_US: u32 = 10_000;

impl Default for GlobalDefs {
    fn default() -> Self {
        GlobalDefs {
            router_id: None,
            vrrp_version: 2,
            garp_master_delay_s: 5,
            garp_master_repeat: 5,
            garp_master_refresh_s: 0,
            garp_lower_prio_repeat: None,
            garp_lower_prio_delay_s: 0,
            lower_prio_no_advert: false,
            higher_prio_send_advert: true,
            vrrp_garp_interval_ms: 0,
            vrrp_gna_interval_ms: 0,
            v3_checksum_as_v2: false,
            vrrp_skip_check_adv_addr: false,
            vrrp_check_unicast_src: false,
            enable_script_security: false,
            script_user: None,
            notify_fifo: None,
            notify_fifo_script: None,
            vrrp_notify_fifo: None,
            vrrp_notify_fifo_script: None,
            scheduling: Scheduling { rlimit_rttime_us: DEFAULT_RLIMIT_RTTIME_US, ..Scheduling::default() },
        }
    }
}

/// `USER [GROUP]` after a script or a FIFO, in `script_user`, or a `vrrp_script`'s `user`.
/// Without a group, the user's own group.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct ScriptUser {
    pub user: String,
    pub group: Option<String>,
}

/// A `notify*` / `*_fifo_script` line as keepalived reads it: the first word after the
/// keyword is the command line (quote it to pass arguments: it is split into words again
/// when run), the next two are `USER [GROUP]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct ScriptCommand {
    /// The command line, split into argv (no shell) when run.
    pub command: String,
    /// `None`: `global_defs` `script_user`, else keepalived's default script user.
    pub user: Option<ScriptUser>,
    pub file: PathBuf,
    pub line: usize,
}

/// `notify_fifo` / `vrrp_notify_fifo`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NotifyFifo {
    pub path: PathBuf,
    /// Owner given to the FIFO when it is created.
    pub user: Option<ScriptUser>,
    pub file: PathBuf,
    pub line: usize,
}

/// keepalived `state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum InitialState {
    Backup,
    Master,
}

/// `authentication { auth_type ... }` (VRRPv2 only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    /// Simple password, zero padded / truncated to 8 bytes.
    Pass([u8; 8]),
    /// IPSEC AH.
    Ah,
}

impl Serialize for Auth {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        match self {
            Auth::Pass(p) => {
                let end = p.iter().position(|&b| b == 0).unwrap_or(p.len());
                let text = String::from_utf8_lossy(&p[..end]).into_owned();
                let mut st = s.serialize_struct("Auth", 2)?;
                st.serialize_field("type", "PASS")?;
                st.serialize_field("pass", &text)?;
                st.end()
            }
            Auth::Ah => {
                let mut st = s.serialize_struct("Auth", 1)?;
                st.serialize_field("type", "AH")?;
                st.end()
            }
        }
    }
}

/// One `virtual_ipaddress` / `virtual_ipaddress_excluded` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VirtualAddress {
    pub addr: IpAddr,
    /// Defaults to /32 (IPv4) or /128 (IPv6).
    pub prefix_len: u8,
    pub dev: Option<String>,
    pub label: Option<String>,
    pub scope: Option<String>,
    pub brd: Option<Ipv4Addr>,
    pub line: usize,
}

/// A `track_interface` / `track_script` / `track_file` / `track_process` entry
/// (in a `vrrp_instance` or a `vrrp_sync_group`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrackRef {
    pub name: String,
    /// `weight N` as written (already range-checked like keepalived); `None`
    /// means the tracked object's own weight (0 for an interface).
    pub weight: Option<i32>,
    pub line: usize,
    /// `weight N reverse`: `Some(true)`; `weight N noreverse` (not for interfaces):
    /// `Some(false)`; neither: `None`, the tracked object's own `reverse` applies (keepalived
    /// 2.2.7 vrrp_track.c / track_file.c start from the object's flag and let the entry
    /// override it either way). Resolve it with [`TrackRef::reverse_or`].
    pub reverse: Option<bool>,
}

impl TrackRef {
    /// The reverse flag this entry ends up with, given the tracked object's own
    /// (`weight_reverse` of a `vrrp_script` / track file / track process; `false` for an
    /// interface).
    pub fn reverse_or(&self, object_reverse: bool) -> bool {
        self.reverse.unwrap_or(object_reverse)
    }
}

/// A `vrrp_script NAME { ... }` block (keepalived 2.2.7 defaults).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VrrpScript {
    pub name: String,
    pub file: PathBuf,
    pub line: usize,
    /// The command line: the first word after `script` (quotes removed), split into argv
    /// again when run, as keepalived does.
    pub script: String,
    /// `interval`, seconds, default 1 (keepalived turns 0 into 1).
    pub interval_s: u32,
    /// `timeout`, seconds; `None` when not given (keepalived's 0 = unset).
    pub timeout_s: Option<u32>,
    /// `weight`, -253..253, default 0 (0: a failing script puts the instance in FAULT).
    pub weight: i32,
    /// `weight N reverse`.
    pub weight_reverse: bool,
    /// `rise`, default 1.
    pub rise: u32,
    /// `fall`, default 1.
    pub fall: u32,
    /// `user USER [GROUP]`; `None` = keepalived's default script user.
    pub user: Option<String>,
    pub group: Option<String>,
    /// `init_fail`: the script starts in the failed state.
    pub init_fail: bool,
}

/// `init_file [VALUE] [overwrite]` of a track file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrackFileInit {
    /// Value written to the file, default 0.
    pub value: i64,
    /// `overwrite`: write it even if the file exists (else only create it).
    pub overwrite: bool,
}

/// A `vrrp_track_file NAME { ... }` (or `track_file NAME { ... }`) block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrackFile {
    pub name: String,
    pub file: PathBuf,
    pub line: usize,
    /// `file PATH`.
    pub path: String,
    /// `weight`, -254..254, default 1.
    pub weight: i32,
    pub weight_reverse: bool,
    pub init_file: Option<TrackFileInit>,
}

/// `param_match` of a track process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ParamMatch {
    /// Not given and no parameters: only the process name is matched.
    None,
    /// Bare `param_match`, or parameters given on the `process` line.
    Exact,
    Initial,
    Partial,
}

/// A `vrrp_track_process NAME { ... }` block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrackProcess {
    pub name: String,
    pub file: PathBuf,
    pub line: usize,
    /// `process NAME [ARGS...]`: the name (or path).
    pub process: String,
    /// ... and its parameters.
    pub args: Vec<String>,
    pub param_match: ParamMatch,
    /// `weight`, -254..254, default 0.
    pub weight: i32,
    pub weight_reverse: bool,
    /// `quorum`, 1..65535, default 1 (0 only through `quorum_max 0`).
    pub quorum: u32,
    /// `quorum_max`, 0..65535; `None` = unlimited (keepalived's UINT_MAX).
    pub quorum_max: Option<u32>,
    /// `terminate_delay` (or `delay`), microseconds, 0 = none.
    pub terminate_delay_us: u64,
    /// `fork_delay` (or `delay`), microseconds, 0 = none.
    pub fork_delay_us: u64,
    /// `full_command` (also set by parameters or `param_match`).
    pub full_command: bool,
}

/// A `vrrp_sync_group NAME { ... }` block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SyncGroup {
    pub name: String,
    pub file: PathBuf,
    pub line: usize,
    /// Member instances (each exists and is in no other group).
    pub instances: Vec<String>,
    pub notify: Option<ScriptCommand>,
    pub notify_master: Option<ScriptCommand>,
    pub notify_backup: Option<ScriptCommand>,
    pub notify_fault: Option<ScriptCommand>,
    pub notify_stop: Option<ScriptCommand>,
    pub track_interfaces: Vec<TrackRef>,
    pub track_scripts: Vec<TrackRef>,
    pub track_files: Vec<TrackRef>,
    pub track_processes: Vec<TrackRef>,
    /// `sync_group_tracking_weight` (or the deprecated `global_tracking`):
    /// members keep the weights of their own trackers.
    pub sync_group_tracking_weight: bool,
}

/// An address with a prefix length (`ADDR[/LEN]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct IpPrefix {
    pub addr: IpAddr,
    pub prefix_len: u8,
}

/// The kind of a route (`blackhole`/`unreachable`/`prohibit`/`throw` before the destination).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RouteKind {
    Unicast,
    Blackhole,
    Unreachable,
    Prohibit,
    Throw,
}

/// A `static_routes` / `virtual_routes` line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Route {
    pub kind: RouteKind,
    /// Destination; `default` is 0.0.0.0/0 (or ::/0 with an IPv6 gateway/source).
    pub dest: IpPrefix,
    /// `via ADDR` (or the deprecated `gw ADDR`).
    pub via: Option<IpAddr>,
    /// Further gateways from the deprecated `or ADDR`.
    pub or_via: Vec<IpAddr>,
    pub dev: Option<String>,
    /// `table`, numeric (names from rt_tables resolved; main=254, local=255, default=253).
    pub table: Option<u32>,
    /// `metric` / `priority` / `preference`.
    pub metric: Option<u32>,
    /// `src ADDR` (preferred source).
    pub src: Option<IpAddr>,
    pub scope: Option<String>,
    /// `proto` / `protocol`.
    pub proto: Option<String>,
    pub onlink: bool,
    /// keepalived tracks the route's interface: `virtual_routes` by default
    /// (`no_track` turns it off), `static_routes` only with `track`.
    pub track: bool,
    pub line: usize,
}

/// The action of a rule (`blackhole`/`unreachable`/`prohibit`/`goto`/`nop`; else a table lookup).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RuleAction {
    Lookup,
    Blackhole,
    Unreachable,
    Prohibit,
    Nop,
    Goto,
}

/// A `static_rules` / `virtual_rules` line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rule {
    pub action: RuleAction,
    /// `not`: invert the selectors.
    pub invert: bool,
    pub from: Option<IpPrefix>,
    pub to: Option<IpPrefix>,
    /// `table` / `lookup`, numeric (names resolved as for routes).
    pub table: Option<u32>,
    /// `priority` / `preference` / `order`. A parsed rule always has one: without it,
    /// keepalived's 16384, 16383, ... in file order across `static_rules` and `virtual_rules`,
    /// IPv4 and IPv6 counted apart. (`None` only in rules built by hand: the kernel picks.)
    pub priority: Option<u32>,
    pub fwmark: Option<u32>,
    pub fwmask: Option<u32>,
    pub iif: Option<String>,
    pub oif: Option<String>,
    /// `goto N` target priority.
    pub goto: Option<u32>,
    pub track: bool,
    pub line: usize,
}

/// A valid `vrrp_instance`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Instance {
    pub name: String,
    /// Where the `vrrp_instance` block starts.
    pub file: PathBuf,
    pub line: usize,
    pub initial_state: InitialState,
    pub interface: String,
    pub vrid: u8,
    pub priority: u8,
    /// Line of the `priority` keyword; `None` when the default was used (100, or 255 with
    /// `state MASTER`). Not part of `check --dump`.
    #[serde(skip)]
    pub priority_line: Option<usize>,
    /// Advertisement interval in centiseconds (already rounded like keepalived:
    /// whole seconds for VRRPv2, 10 ms units capped at 4095 for VRRPv3).
    pub advert_int_cs: u16,
    pub version: u8,
    pub preempt: bool,
    pub preempt_delay_s: u32,
    pub auth: Option<Auth>,
    pub vips: Vec<VirtualAddress>,
    pub excluded_vips: Vec<VirtualAddress>,
    pub unicast_src_ip: Option<IpAddr>,
    pub unicast_peers: Vec<IpAddr>,
    /// `allowed_peer { ADDRESS ... }` (a vrrp-agent keyword; keepalived has none): the only
    /// sources whose adverts this instance accepts, multicast or unicast; XDP drops the rest
    /// as `drop_unknown_peer` before they reach the election. Of the instance's family, never
    /// a martian. Empty: no such list (with `check_unicast_src`, a unicast instance still
    /// accepts only its `unicast_peers`).
    pub allowed_peers: Vec<IpAddr>,
    pub garp_master_delay_s: u32,
    pub garp_master_repeat: u32,
    pub garp_master_refresh_s: u32,
    /// GARPs re-announcing the VIPs when a master hears a lower-priority advert.
    pub garp_lower_prio_repeat: u32,
    /// Delay of a second such burst, 0 = none.
    pub garp_lower_prio_delay_s: u32,
    /// A master does not answer a lower-priority advert with its own
    /// (`lower_prio_no_advert`, `vrrp_lower_prio_no_advert`, or `vrrp_strict`).
    pub lower_prio_no_advert: bool,
    /// A master stepping down for a higher priority first sends one advert at its own
    /// priority, so the winner re-announces the VIPs (`higher_prio_send_advert`; on by
    /// default here, off in keepalived: without it a healed partition can leave clients
    /// on the loser's MAC).
    pub higher_prio_send_advert: bool,
    pub accept: bool,
    pub track_interfaces: Vec<TrackRef>,
    pub track_scripts: Vec<TrackRef>,
    pub notify: Option<ScriptCommand>,
    pub notify_master: Option<ScriptCommand>,
    pub notify_backup: Option<ScriptCommand>,
    pub notify_fault: Option<ScriptCommand>,
    pub notify_stop: Option<ScriptCommand>,
    /// `v3_checksum_as_v2` for this instance: its own keyword, else the
    /// `global_defs` one, else false. Only meaningful for VRRPv3 over IPv4.
    pub v3_checksum_as_v2: bool,
    /// `skip_check_adv_addr` here, else `vrrp_skip_check_adv_addr` in `global_defs`.
    pub skip_check_adv_addr: bool,
    /// `check_unicast_src` here, else `vrrp_check_unicast_src` in `global_defs`.
    pub check_unicast_src: bool,
    /// `track_file` entries naming a defined track file.
    pub track_files: Vec<TrackRef>,
    /// `track_process` entries naming a defined track process.
    pub track_processes: Vec<TrackRef>,
    /// `virtual_routes`.
    pub virtual_routes: Vec<Route>,
    /// `virtual_rules`.
    pub virtual_rules: Vec<Rule>,
    /// The sync group this instance belongs to, if any.
    pub sync_group: Option<String>,
}

impl Instance {
    /// Whether this is an IPv6 instance: the family of its first `virtual_ipaddress`, else
    /// of its `unicast_src_ip`, else of its first `unicast_peer`, else IPv4 (keepalived's
    /// rule; the parser has dropped the addresses of the other family from these).
    pub fn is_ipv6(&self) -> bool {
        self.vips
            .first()
            .map(|v| v.addr.is_ipv6())
            .or(self.unicast_src_ip.map(|a| a.is_ipv6()))
            .or(self.unicast_peers.first().map(|a| a.is_ipv6()))
            .unwrap_or(false)
    }
}

/// Read a configuration file (and its includes). Relative includes are
/// resolved against the directory of the file containing the `include`.
///
/// Returns `Err` only if the top-level file cannot be read or is not text.
pub fn load(path: &Path, opts: &LoadOptions) -> Result<Loaded, ConfigError> {
    let bytes = std::fs::read(path).map_err(|e| ConfigError {
        file: path.to_path_buf(),
        line: 0,
        message: format!("cannot read configuration file: {e}"),
    })?;
    let text = decode_text(&bytes).map_err(|(line, message)| ConfigError { file: path.to_path_buf(), line, message })?;
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    Ok(run(&text, path.to_path_buf(), dir, opts))
}

/// Parse configuration text. `file_name` is used in diagnostics; includes in
/// the text are resolved relative to the current working directory.
pub fn parse_str(text: &str, file_name: &str, opts: &LoadOptions) -> Result<Loaded, ConfigError> {
    Ok(run(text, PathBuf::from(file_name), PathBuf::new(), opts))
}

fn run(text: &str, file: PathBuf, dir: PathBuf, opts: &LoadOptions) -> Loaded {
    let lexed = lexer::lex(text, file, dir, opts);
    let files = lexed.files.clone();
    let (config, mut diagnostics) = parser::parse(&lexed.toks, &lexed.files, lexed.diags);
    // Stable order: by file (in the order files were read), then line.
    let order = |p: &Path| files.iter().position(|f| f == p).unwrap_or(usize::MAX);
    diagnostics.sort_by_key(|d| (order(&d.file), d.line));
    Loaded { config, diagnostics }
}
