//! `vrrp_script`, `vrrp_track_file`, `vrrp_track_process`, `vrrp_sync_group` blocks and
//! the `track_*` entries of instances and sync groups, with keepalived 2.2.7's defaults,
//! ranges and messages (keepalived/vrrp/vrrp_parser.c, vrrp_track.c, core/track_file.c).
//!
//! Severity rule used throughout: keepalived discarding something that was written (a
//! value out of range, an unknown option, an entry it ignores) is an Error; keepalived
//! adjusting a value (0 -> 1, +/-254 -> +/-253) or a deprecation is a Warning; a block
//! keepalived removes because something essential is missing (no `script`, no `file`,
//! no `process`, no members) is a Warning that says it is removed.

use std::collections::HashSet;
use std::path::Path;

use super::parser::{Ctx, Node, children, no_block, parse_decimal_us, parse_uint, unknown};
use super::{ParamMatch, ScriptCommand, ScriptUser, SyncGroup, TrackFile, TrackFileInit, TrackProcess, TrackRef, VrrpScript};

/// A signed decimal integer, optional leading '+'.
fn parse_int(s: &str) -> Option<i64> {
    let (neg, digits) = match s.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let v = i64::try_from(parse_uint(digits)?).ok()?;
    Some(if neg { -v } else { v })
}

fn u32_in(s: &str, lo: u64, hi: u64) -> Option<u32> {
    parse_uint(s).filter(|v| (lo..=hi).contains(v)).and_then(|v| u32::try_from(v).ok())
}

/// Does `name` exist in /etc/passwd (or /etc/group)?
pub(super) fn in_db(db: &str, name: &str) -> bool {
    if name.bytes().all(|b| b.is_ascii_digit()) && !name.is_empty() {
        return true;
    }
    std::fs::read_to_string(db)
        .map(|t| t.lines().any(|l| l.split(':').next() == Some(name)))
        .unwrap_or(true) // cannot tell: do not complain
}

/// `USER [GROUP]` words (`what` names the line in messages). `None` (reported as an error,
/// keepalived drops the line) if either does not exist here.
pub(super) fn script_user(ctx: &mut Ctx, n: &Node, words: &[String], what: &str) -> Option<ScriptUser> {
    let (u, g) = (words.first()?, words.get(1));
    if !in_db("/etc/passwd", u) {
        ctx.error(n, format!("{what}: user '{u}' does not exist on this host; keepalived ignores this line"));
        return None;
    }
    if let Some(g) = g.filter(|g| !in_db("/etc/group", g)) {
        ctx.error(n, format!("{what}: group '{g}' does not exist on this host; keepalived ignores this line"));
        return None;
    }
    if words.len() > 2 {
        ctx.warn(n, format!("{what}: extra arguments '{}' ignored", words[2..].join(" ")));
    }
    Some(ScriptUser { user: u.clone(), group: g.cloned() })
}

/// A `notify*` / `*_fifo_script` line: `COMMAND [USER [GROUP]]`, the command being one
/// word (quoted when it has arguments), as keepalived reads it. `None` (reported) if
/// keepalived ignores the line.
pub(super) fn script_command(ctx: &mut Ctx, n: &Node, what: &str) -> Option<ScriptCommand> {
    no_block(ctx, n);
    let Some((command, rest)) = n.args().split_first() else {
        ctx.error(n, format!("{what} needs a script"));
        return None;
    };
    let user = if rest.is_empty() {
        None
    } else {
        // keepalived takes the words after the command as USER [GROUP]: an unquoted
        // command with arguments is a user name that probably does not exist.
        let u = script_user(ctx, n, rest, &format!("{what} {command}"));
        if u.is_none() {
            ctx.warn(n, format!("{what}: to pass arguments, quote the whole command: \"{}\"", n.args().join(" ")));
            return None;
        }
        u
    };
    Some(ScriptCommand { command: command.clone(), user, file: ctx.path_buf(n.file), line: n.line })
}

/// What `global_defs` says about script users.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct ScriptEnv {
    /// `enable_script_security` is set.
    pub security: bool,
    /// `script_user` is set.
    pub script_user: bool,
}

/// A node at the closing '}' of `node`'s block: keepalived reports its end-of-block
/// checks ("No script set ...", "... - removing") there.
fn end_of(node: &Node) -> Node {
    Node {
        words: Vec::new(),
        file: node.file,
        line: node.block.as_ref().map(|b| b.end_line).unwrap_or(node.line),
        block: None,
    }
}

/// `vrrp_script NAME { ... }`. Returns the script if keepalived keeps it.
pub(super) fn parse_script(ctx: &mut Ctx, node: &Node, env: ScriptEnv) -> Option<VrrpScript> {
    let name = node.args().first().cloned().unwrap_or_default();
    let mut s = VrrpScript {
        name: name.clone(),
        file: ctx.files.get(node.file).cloned().unwrap_or_default(),
        line: node.line,
        script: String::new(),
        interval_s: 1,
        timeout_s: None,
        weight: 0,
        weight_reverse: false,
        rise: 1,
        fall: 1,
        user: None,
        group: None,
        init_fail: false,
    };
    let mut removed = false;
    let mut script_line = None;
    for n in children(node) {
        let a = n.args();
        let first = a.first().map(String::as_str);
        match n.kw() {
            "script" => {
                no_block(ctx, n);
                let Some(cmd) = a.first() else { continue };
                // keepalived runs the first word (split again into argv): a quoted
                // command line keeps its arguments, unquoted words after it are dropped.
                if a.len() > 1 {
                    ctx.warn(
                        n,
                        format!("vrrp_script {name}: keepalived runs only '{cmd}' and ignores '{}'; quote the whole command line to pass arguments", a[1..].join(" ")),
                    );
                }
                s.script = cmd.clone();
                script_line = Some(n);
            }
            kw @ ("interval" | "timeout") => {
                no_block(ctx, n);
                let max = u64::from(u32::MAX) / 1_000_000;
                match first.and_then(|v| u32_in(v, 0, max)) {
                    Some(0) => {
                        ctx.warn(n, format!("vrrp_script {name}: {kw} must be greater than 0, set to 1 (as keepalived does)"));
                        if kw == "interval" { s.interval_s = 1 } else { s.timeout_s = Some(1) }
                    }
                    Some(v) => {
                        if kw == "interval" { s.interval_s = v } else { s.timeout_s = Some(v) }
                    }
                    None => ctx.error(
                        n,
                        format!("vrrp_script {name}: {kw} '{}' is not valid (whole seconds, 1..{max}); ignored", first.unwrap_or("")),
                    ),
                }
            }
            "weight" => {
                no_block(ctx, n);
                match first.and_then(parse_int) {
                    Some(w) if (-253..=253).contains(&w) => s.weight = w as i32,
                    _ => ctx.error(
                        n,
                        format!("vrrp_script {name}: weight '{}' must be in -253..253", first.unwrap_or("")),
                    ),
                }
                match a.get(1).map(String::as_str) {
                    None => {}
                    Some("reverse") => s.weight_reverse = true,
                    Some(o) => ctx.error(n, format!("vrrp_script {name}: unknown weight option '{o}' (only 'reverse'), ignored")),
                }
            }
            kw @ ("rise" | "fall") => {
                no_block(ctx, n);
                match first.and_then(|v| u32_in(v, 1, i32::MAX as u64)) {
                    Some(v) => {
                        if kw == "rise" { s.rise = v } else { s.fall = v }
                    }
                    None => {
                        ctx.error(
                            n,
                            format!("vrrp_script {name}: {kw} '{}' is not valid (1..{}); keepalived uses 1", first.unwrap_or(""), i32::MAX),
                        );
                        if kw == "rise" { s.rise = 1 } else { s.fall = 1 }
                    }
                }
            }
            "user" => {
                no_block(ctx, n);
                match a {
                    [] => {
                        ctx.error(n, format!("vrrp_script {name}: user needs a user name; keepalived removes the script"));
                        removed = true;
                    }
                    [u, rest @ ..] => {
                        let g = rest.first();
                        let bad_user = !in_db("/etc/passwd", u);
                        let bad_group = g.is_some_and(|g| !in_db("/etc/group", g));
                        if bad_user || bad_group {
                            let what = if bad_user { format!("user '{u}'") } else { format!("group '{}'", g.map(String::as_str).unwrap_or("")) };
                            ctx.error(n, format!("vrrp_script {name}: {what} does not exist on this host; keepalived cannot set the uid/gid and removes the script"));
                            removed = true;
                        } else {
                            removed = false;
                            s.user = Some(u.clone());
                            s.group = g.cloned();
                        }
                        if rest.len() > 1 {
                            ctx.warn(n, format!("vrrp_script {name}: extra arguments '{}' ignored", rest[1..].join(" ")));
                        }
                    }
                }
            }
            "init_fail" => {
                no_block(ctx, n);
                s.init_fail = true;
            }
            _ => unknown(ctx, n),
        }
    }
    if s.script.is_empty() {
        ctx.warn(&end_of(node), format!("vrrp_script {name} has no script: keepalived removes it (\"No script set for vrrp_script {name} - removing\")"));
        return None;
    }
    // keepalived's default script user (get_default_script_user): global_defs
    // script_user, else `keepalived_script` if it exists, else root, which
    // enable_script_security forbids.
    if !removed && s.user.is_none() && env.security && !env.script_user && !in_db("/etc/passwd", "keepalived_script") {
        ctx.warn(
            &end_of(node),
            format!("vrrp_script {name}: no user, no global_defs script_user and no user keepalived_script on this host, while enable_script_security forbids root: keepalived removes the script (\"Unable to set default user for vrrp script {name}\")"),
        );
        return None;
    }
    if let Some(sl) = script_line {
        let prog = s.script.split_whitespace().next().unwrap_or("");
        if prog.starts_with('/') && !Path::new(prog).exists() {
            ctx.warn(
                sl,
                format!("vrrp_script {name}: {prog} does not exist on this host; keepalived disables the script (\"Disabling track script {name} since not found/accessible\")"),
            );
        }
    }
    if removed {
        return None;
    }
    Some(s)
}

/// `vrrp_track_file NAME { ... }` / `track_file NAME { ... }`.
pub(super) fn parse_track_file(ctx: &mut Ctx, node: &Node) -> Option<TrackFile> {
    let name = node.args().first().cloned().unwrap_or_default();
    let mut t = TrackFile {
        name: name.clone(),
        file: ctx.files.get(node.file).cloned().unwrap_or_default(),
        line: node.line,
        path: String::new(),
        weight: 1,
        weight_reverse: false,
        init_file: None,
    };
    let mut weight_set = false;
    for n in children(node) {
        let a = n.args();
        match n.kw() {
            "file" => {
                no_block(ctx, n);
                match a.first() {
                    None => ctx.error(n, format!("track file {name}: file needs a path")),
                    Some(p) if !t.path.is_empty() => {
                        ctx.error(n, format!("track file {name}: file already set, '{p}' ignored"))
                    }
                    Some(p) => t.path = p.clone(),
                }
            }
            "weight" => {
                no_block(ctx, n);
                let Some(v) = a.first() else {
                    ctx.error(n, format!("track file {name}: weight needs a value; ignored"));
                    continue;
                };
                if weight_set {
                    ctx.error(n, format!("track file {name}: weight already set, '{v}' ignored"));
                    continue;
                }
                match parse_int(v) {
                    Some(w) if (-254..=254).contains(&w) => {
                        t.weight = w as i32;
                        weight_set = w != 1;
                    }
                    _ => ctx.error(n, format!("track file {name}: weight '{v}' must be in -254..254; keepalived uses 1")),
                }
                match a.get(1).map(String::as_str) {
                    None => {}
                    Some("reverse") => t.weight_reverse = true,
                    Some(o) => ctx.error(n, format!("track file {name}: unknown weight option '{o}' (only 'reverse'), ignored")),
                }
            }
            "init_file" => {
                no_block(ctx, n);
                let mut init = TrackFileInit { value: 0, overwrite: false };
                for w in a {
                    if w.starts_with(|c: char| c.is_ascii_digit() || c == '-') {
                        match parse_int(w).filter(|v| i32::try_from(*v).is_ok()) {
                            Some(v) => {
                                if !(-254..=254).contains(&v) {
                                    ctx.warn(n, format!("track file {name}: init value {v} is outside the sensible range -254..254"));
                                }
                                init.value = v;
                            }
                            None => ctx.error(n, format!("track file {name}: init value '{w}' is not a valid integer; keepalived uses 0")),
                        }
                    } else if w == "overwrite" {
                        init.overwrite = true;
                    } else {
                        ctx.error(n, format!("track file {name}: unknown init_file option '{w}' (VALUE and/or 'overwrite'), ignored"));
                    }
                }
                t.init_file = Some(init);
            }
            _ => unknown(ctx, n),
        }
    }
    if t.path.is_empty() {
        ctx.warn(&end_of(node), format!("track file {name} has no file: keepalived ignores it (\"No file set for track_file {name}\")"));
        return None;
    }
    Some(t)
}

/// `vrrp_track_process NAME { ... }`.
pub(super) fn parse_track_process(ctx: &mut Ctx, node: &Node) -> Option<TrackProcess> {
    let name = node.args().first().cloned().unwrap_or_default();
    let mut t = TrackProcess {
        name: name.clone(),
        file: ctx.files.get(node.file).cloned().unwrap_or_default(),
        line: node.line,
        process: String::new(),
        args: Vec::new(),
        param_match: ParamMatch::None,
        weight: 0,
        weight_reverse: false,
        quorum: 1,
        quorum_max: None,
        terminate_delay_us: 0,
        fork_delay_us: 0,
        full_command: false,
    };
    for n in children(node) {
        let a = n.args();
        let first = a.first().map(String::as_str);
        match n.kw() {
            "process" => {
                no_block(ctx, n);
                match a {
                    [] => ctx.error(n, format!("track process {name}: process needs a name")),
                    [p, ..] if !t.process.is_empty() => {
                        ctx.error(n, format!("track process {name}: process already set, '{p}' ignored"))
                    }
                    [p, rest @ ..] => {
                        t.process = p.clone();
                        if !rest.is_empty() {
                            t.args = rest.to_vec();
                            if t.param_match == ParamMatch::None {
                                t.param_match = ParamMatch::Exact;
                            }
                            t.full_command = true;
                        }
                    }
                }
            }
            "param_match" => {
                no_block(ctx, n);
                match first {
                    None => t.param_match = ParamMatch::Exact,
                    Some("initial") => t.param_match = ParamMatch::Initial,
                    Some("partial") => t.param_match = ParamMatch::Partial,
                    Some(o) => {
                        ctx.error(n, format!("track process {name}: param_match '{o}' is not valid (none, 'initial' or 'partial'); ignored"));
                        continue;
                    }
                }
                t.full_command = true;
            }
            "weight" => {
                no_block(ctx, n);
                let Some(v) = first else {
                    ctx.error(n, format!("track process {name}: weight needs a value; ignored"));
                    continue;
                };
                if t.weight != 0 {
                    ctx.error(n, format!("track process {name}: weight already set, '{v}' ignored"));
                    continue;
                }
                match parse_int(v) {
                    Some(w) if (-254..=254).contains(&w) => t.weight = w as i32,
                    _ => {
                        ctx.error(n, format!("track process {name}: weight '{v}' must be in -254..254; ignored"));
                        continue;
                    }
                }
                match a.get(1).map(String::as_str) {
                    None => {}
                    Some("reverse") => t.weight_reverse = true,
                    Some(o) => ctx.error(n, format!("track process {name}: unknown weight option '{o}' (only 'reverse'), ignored")),
                }
            }
            "quorum" => {
                no_block(ctx, n);
                match first.and_then(|v| u32_in(v, 1, 65535)) {
                    None => ctx.error(n, format!("track process {name}: quorum '{}' must be in 1..65535; ignored", first.unwrap_or(""))),
                    Some(q) if t.quorum_max.is_some_and(|m| q > m) => {
                        ctx.error(n, format!("track process {name}: quorum {q} is greater than quorum_max; ignored"))
                    }
                    Some(q) => t.quorum = q,
                }
            }
            "quorum_max" => {
                no_block(ctx, n);
                match first.and_then(|v| u32_in(v, 0, 65535)) {
                    None => ctx.error(n, format!("track process {name}: quorum_max '{}' must be in 0..65535; ignored", first.unwrap_or(""))),
                    Some(m) if (m != 0 || t.quorum > 1) && m < t.quorum => {
                        ctx.error(n, format!("track process {name}: quorum_max {m} is less than quorum {}; ignored", t.quorum))
                    }
                    Some(m) => {
                        t.quorum_max = Some(m);
                        if m == 0 {
                            t.quorum = 0;
                        } else if t.quorum == 0 {
                            t.quorum = 1;
                        }
                    }
                }
            }
            kw @ ("delay" | "terminate_delay" | "fork_delay") => {
                no_block(ctx, n);
                match first.and_then(parse_decimal_us).filter(|us| (1..=3_600_000_000).contains(us)) {
                    Some(us) => {
                        if kw != "fork_delay" {
                            t.terminate_delay_us = us;
                        }
                        if kw != "terminate_delay" {
                            t.fork_delay_us = us;
                        }
                    }
                    None => ctx.error(
                        n,
                        format!("track process {name}: {kw} '{}' must be in 0.000001..3600 seconds; ignored", first.unwrap_or("")),
                    ),
                }
            }
            "full_command" => {
                no_block(ctx, n);
                t.full_command = true;
            }
            _ => unknown(ctx, n),
        }
    }
    if t.process.is_empty() {
        ctx.warn(&end_of(node), format!("track process {name} has no process: keepalived ignores it (\"process name not specified\")"));
        return None;
    }
    Some(t)
}

/// What a `track_*` entry refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TrackKind {
    Interface,
    Script,
    File,
    Process,
}

impl TrackKind {
    pub(super) fn keyword(self) -> &'static str {
        match self {
            TrackKind::Interface => "track_interface",
            TrackKind::Script => "track_script",
            TrackKind::File => "track_file",
            TrackKind::Process => "track_process",
        }
    }
}

/// Names of the tracked objects keepalived keeps (scripts with a script, files with
/// a file, processes with a process).
#[derive(Debug, Default)]
pub(super) struct Defined {
    pub scripts: HashSet<String>,
    pub files: HashSet<String>,
    pub processes: HashSet<String>,
}

/// One line of a `track_*` block, keepalived's checks in vrrp_track.c / track_file.c.
/// `owner` is "vrrp_instance X" / "vrrp_sync_group X" for messages. `None` if keepalived
/// drops the entry (reported).
pub(super) fn parse_track_entry(
    ctx: &mut Ctx,
    a: &Node,
    kind: TrackKind,
    owner: &str,
    defined: &Defined,
    seen: &mut Vec<String>,
) -> Option<TrackRef> {
    no_block(ctx, a);
    let name = a.kw();
    if name.is_empty() {
        return None;
    }
    let kw = kind.keyword();
    let (set, block) = match kind {
        TrackKind::Interface => (None, ""),
        TrackKind::Script => (Some(&defined.scripts), "vrrp_script"),
        TrackKind::File => (Some(&defined.files), "vrrp_track_file"),
        TrackKind::Process => (Some(&defined.processes), "vrrp_track_process"),
    };
    if let Some(set) = set
        && !set.contains(name)
    {
        let what = match kind {
            TrackKind::Script => "with a script",
            TrackKind::File => "with a file",
            _ => "with a process",
        };
        ctx.warn(a, format!("{owner}: {kw} {name}: no {block} {name} {what} is defined, ignored (as keepalived does)"));
        return None;
    }
    if seen.iter().any(|s| s == name) {
        ctx.warn(a, format!("{owner}: duplicate {kw} {name}, ignored (as keepalived does)"));
        return None;
    }
    seen.push(name.to_string());
    let mut t = TrackRef { name: name.to_string(), weight: None, line: a.line, reverse: None };
    let opts = a.args();
    let Some(first) = opts.first() else { return Some(t) };
    if first != "weight" {
        ctx.error(a, format!("{owner}: {kw} {name}: unknown option '{first}' (only 'weight N [reverse]'); keepalived ignores this entry"));
        return None;
    }
    let Some(v) = opts.get(1) else {
        ctx.error(a, format!("{owner}: {kw} {name}: weight without a value; keepalived ignores this entry"));
        return None;
    };
    match parse_int(v) {
        Some(w) if (-253..=253).contains(&w) => t.weight = Some(w as i32),
        Some(w) if w.abs() == 254 && matches!(kind, TrackKind::Interface | TrackKind::Script) => {
            let c = (w.signum() * 253) as i32;
            ctx.warn(a, format!("{owner}: {kw} {name}: weight cannot be +/-254, set to {c} (as keepalived does)"));
            t.weight = Some(c);
        }
        Some(w) if w.abs() == 254 => t.weight = Some(w as i32),
        _ => {
            let range = if matches!(kind, TrackKind::Interface | TrackKind::Script) { "-253..253" } else { "-254..254" };
            let instead = if kind == TrackKind::Interface { "0" } else { "the tracked object's own weight" };
            ctx.error(a, format!("{owner}: {kw} {name}: weight '{v}' must be in {range}; keepalived uses {instead}"));
        }
    }
    match opts.get(2).map(String::as_str) {
        None => {}
        Some("reverse") => t.reverse = Some(true),
        Some("noreverse") if kind != TrackKind::Interface => t.reverse = Some(false),
        Some(o) => {
            ctx.error(a, format!("{owner}: {kw} {name}: unknown weight option '{o}' (reverse|noreverse), ignored"));
            if matches!(kind, TrackKind::File) {
                return None;
            }
        }
    }
    if opts.len() > 3 {
        ctx.warn(a, format!("{owner}: {kw} {name}: extra arguments '{}' ignored", opts[3..].join(" ")));
    }
    Some(t)
}

/// A sync group as written; members are checked once all instances are known.
#[derive(Debug, Clone)]
pub(super) struct SyncDraft {
    pub group: SyncGroup,
    pub file: usize,
    /// (instance name, file index, line)
    pub members: Vec<(String, usize, usize)>,
    pub had_group: bool,
}

pub(super) fn parse_sync_group(ctx: &mut Ctx, node: &Node, defined: &Defined) -> SyncDraft {
    let name = node.args().first().cloned().unwrap_or_default();
    let owner = format!("vrrp_sync_group {name}");
    let mut d = SyncDraft {
        group: SyncGroup {
            name: name.clone(),
            file: ctx.files.get(node.file).cloned().unwrap_or_default(),
            line: node.line,
            instances: Vec::new(),
            notify: None,
            notify_master: None,
            notify_backup: None,
            notify_fault: None,
            notify_stop: None,
            track_interfaces: Vec::new(),
            track_scripts: Vec::new(),
            track_files: Vec::new(),
            track_processes: Vec::new(),
            sync_group_tracking_weight: false,
        },
        file: node.file,
        members: Vec::new(),
        had_group: false,
    };
    let mut seen: [Vec<String>; 4] = Default::default();
    for n in children(node) {
        let kw = n.kw();
        match kw {
            "group" => {
                if d.had_group {
                    ctx.error(n, format!("{owner}: group list already given; this one is ignored (as keepalived does)"));
                    continue;
                }
                d.had_group = true;
                if n.block.is_none() {
                    ctx.error(n, format!("{owner}: group needs a {{ ... }} block of instance names"));
                    continue;
                }
                for m in children(n) {
                    no_block(ctx, m);
                    for w in &m.words {
                        d.members.push((w.clone(), m.file, m.line));
                    }
                }
                if d.members.is_empty() {
                    ctx.warn(n, format!("{owner}: empty group block"));
                }
            }
            "notify" | "notify_master" | "notify_backup" | "notify_fault" | "notify_stop" => {
                let Some(cmd) = script_command(ctx, n, &format!("{owner}: {kw}")) else { continue };
                let slot = match kw {
                    "notify" => &mut d.group.notify,
                    "notify_master" => &mut d.group.notify_master,
                    "notify_backup" => &mut d.group.notify_backup,
                    "notify_fault" => &mut d.group.notify_fault,
                    _ => &mut d.group.notify_stop,
                };
                if slot.is_some() {
                    ctx.warn(n, format!("{owner}: {kw} script already given; '{}' ignored (as keepalived does)", n.args().join(" ")));
                } else {
                    *slot = Some(cmd);
                }
            }
            "track_interface" | "track_script" | "track_file" | "track_process" => {
                let (kind, idx) = match kw {
                    "track_interface" => (TrackKind::Interface, 0),
                    "track_script" => (TrackKind::Script, 1),
                    "track_file" => (TrackKind::File, 2),
                    _ => (TrackKind::Process, 3),
                };
                if n.block.is_none() {
                    ctx.error(n, format!("{owner}: {kw} needs a {{ ... }} block"));
                    continue;
                }
                let mut got = Vec::new();
                for a in children(n) {
                    if let Some(t) = parse_track_entry(ctx, a, kind, &owner, defined, &mut seen[idx]) {
                        got.push(t);
                    }
                }
                match kind {
                    TrackKind::Interface => d.group.track_interfaces.extend(got),
                    TrackKind::Script => d.group.track_scripts.extend(got),
                    TrackKind::File => d.group.track_files.extend(got),
                    TrackKind::Process => d.group.track_processes.extend(got),
                }
            }
            "global_tracking" => {
                no_block(ctx, n);
                ctx.warn(n, format!("{owner}: global_tracking is deprecated, use sync_group_tracking_weight or track_* on the sync group (as keepalived says)"));
                d.group.sync_group_tracking_weight = true;
            }
            "sync_group_tracking_weight" => {
                no_block(ctx, n);
                d.group.sync_group_tracking_weight = true;
            }
            "smtp_alert" | "notify_priority_changes" | "track_bfd" => {
                let msg = format!("{owner}: keyword {kw} not implemented yet, ignored");
                ctx.warn(n, msg);
            }
            _ => {
                // keepalived 2.2.7 reports "Unknown keyword" for a bare instance name
                // (members belong in `group { }`).
                let hint = if n.block.is_none() && n.args().is_empty() { " (instance names belong in a 'group { ... }' block)" } else { "" };
                ctx.warn(n, format!("{owner}: unknown keyword '{kw}', ignored{hint}"));
            }
        }
    }
    d
}
