//! keepalived's monitoring files, written from the status snapshot so scripts that watch a
//! keepalived host keep working: SIGUSR1 writes `keepalived.data`, SIGUSR2
//! `keepalived.stats`, SIGRTMIN+2 (`keepalived --signum=JSON`) `keepalived.json`, in
//! keepalived's directory (`$TMPDIR` when it is an absolute path, else `/tmp`), with the
//! lines and keys keepalived 2.2.7 writes for what this agent has (`vrrp_print.c`,
//! `vrrp_json.c`, `vrrp_data.c`); lines about what it does not have (VMACs, sockets, SMTP)
//! are left out.
use std::{
    fmt::Write as _,
    io::Write as _,
    os::unix::fs::OpenOptionsExt as _,
    path::{Path, PathBuf},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use serde_json::{Value, json};
use vrrp_common::DropReason;

use super::{InstanceView, StatusView, TrackerView};

/// Which file a signal asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dump {
    /// SIGUSR1: `keepalived.data`.
    Data,
    /// SIGUSR2: `keepalived.stats`.
    Stats,
    /// SIGRTMIN+2: `keepalived.json`.
    Json,
}

impl Dump {
    pub const fn file_name(self) -> &'static str {
        match self {
            Dump::Data => "keepalived.data",
            Dump::Stats => "keepalived.stats",
            Dump::Json => "keepalived.json",
        }
    }

    /// The file's contents for `view`; `now` is the wall-clock time of the dump.
    pub fn render(self, view: &StatusView, now: SystemTime) -> String {
        match self {
            Dump::Data => data(view, now),
            Dump::Stats => stats(view),
            Dump::Json => {
                let mut s = serde_json::to_string(&json_dump(view, now)).unwrap_or_else(|_| "[]".into());
                s.push('\n');
                s
            }
        }
    }
}

/// keepalived's signal numbers (`keepalived --signum=NAME`, lib/signals.c): `vrrp-agent
/// signum NAME` prints the same, so `kill -s $(... --signum=JSON)` habits keep working.
pub fn signum(name: &str) -> Option<i32> {
    Some(match name {
        "STOP" => libc::SIGTERM,
        "RELOAD" => libc::SIGHUP,
        "DATA" => libc::SIGUSR1,
        "STATS" => libc::SIGUSR2,
        "JSON" => libc::SIGRTMIN() + 2,
        _ => return None,
    })
}

/// Where keepalived writes its dumps: `$TMPDIR` if it is an absolute path, else `/tmp`.
pub fn dump_dir() -> PathBuf {
    match std::env::var_os("TMPDIR") {
        Some(d) if Path::new(&d).is_absolute() => PathBuf::from(d),
        _ => PathBuf::from("/tmp"),
    }
}

/// Writes `contents` to `dir/name` without following a symlink planted there: a private
/// temporary file (created, never opened through a link), renamed over the target.
pub fn write_file(dir: &Path, name: &str, contents: &str) -> std::io::Result<PathBuf> {
    let path = dir.join(name);
    let tmp = dir.join(format!(".{name}.{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&tmp)?;
    let written = f.write_all(contents.as_bytes()).and_then(|()| f.sync_all());
    drop(f);
    if let Err(e) = written.and_then(|()| std::fs::rename(&tmp, &path)) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    Ok(path)
}

/// Reads the pins in `bpffs` and writes one dump in `dir` (normally [`dump_dir`]).
pub fn write_dump(dump: Dump, bpffs: &Path, dir: &Path) -> anyhow::Result<PathBuf> {
    let view = super::collect(bpffs)?;
    Ok(write_file(dir, dump.file_name(), &dump.render(&view, SystemTime::now()))?)
}

/// keepalived's per-instance error counters (`vrrp_stats`) a drop reason counts in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KaError {
    PacketLen,
    Ttl,
    InvalidType,
    AdvertInterval,
    AddrList,
    AuthTypeMismatch,
    AuthFailure,
}

/// Exhaustive on purpose: a new `DropReason` must say where keepalived would count it.
fn keepalived_error(r: DropReason) -> Option<KaError> {
    match r {
        DropReason::Truncated | DropReason::Length => Some(KaError::PacketLen),
        DropReason::Ttl => Some(KaError::Ttl),
        DropReason::Type => Some(KaError::InvalidType),
        DropReason::Interval | DropReason::BadInterval => Some(KaError::AdvertInterval),
        DropReason::AddrList | DropReason::AddrCountZero => Some(KaError::AddrList),
        DropReason::AuthType => Some(KaError::AuthTypeMismatch),
        DropReason::AuthPass => Some(KaError::AuthFailure),
        DropReason::Version
        | DropReason::Checksum
        | DropReason::IpChecksum
        | DropReason::WrongDestination
        | DropReason::MulticastToUnicast
        | DropReason::UnicastToMulticast
        | DropReason::MartianSource
        | DropReason::SourceIsVip
        | DropReason::SourceIsSelf
        | DropReason::UnknownPeer => None,
    }
}

fn errors(i: &InstanceView, which: KaError) -> u64 {
    DropReason::ALL
        .iter()
        .filter(|r| keepalived_error(**r) == Some(which))
        .map(|r| i.drops.get(r.counter_name()).copied().unwrap_or(0))
        .sum()
}

/// `keepalived.stats`, as `vrrp_print_stats` writes it.
pub fn stats(view: &StatusView) -> String {
    let mut out = String::new();
    for i in &view.instances {
        let e = |k| errors(i, k);
        let _ = write!(
            out,
            "VRRP Instance: {}\n  Advertisements:\n    Received: {}\n    Sent: {}\n  Became master: {}\n  Released master: {}\n  \
             Packet Errors:\n    Length: {}\n    TTL: {}\n    Invalid Type: {}\n    Advertisement Interval: {}\n    \
             Address List: {}\n  Authentication Errors:\n    Invalid Type: {}\n    Type Mismatch: {}\n    Failure: {}\n  \
             Priority Zero:\n    Received: {}\n    Sent: {}\n",
            i.name,
            i.adverts_rx,
            i.adverts_tx,
            i.become_master,
            i.release_master,
            e(KaError::PacketLen),
            e(KaError::Ttl),
            e(KaError::InvalidType),
            e(KaError::AdvertInterval),
            e(KaError::AddrList),
            0,
            e(KaError::AuthTypeMismatch),
            e(KaError::AuthFailure),
            i.priority_zero_rx,
            i.priority_zero_tx,
        );
    }
    out
}

/// keepalived's numeric states (`VRRP_STATE_*`), the same numbers as `vrrp_common::state`.
fn state_code(name: &str) -> u32 {
    match name {
        "BACKUP" => 1,
        "MASTER" => 2,
        "FAULT" => 3,
        _ => 0,
    }
}

/// When the last transition was, on the wall clock.
fn last_transition(i: &InstanceView, now: SystemTime) -> Option<Duration> {
    let since = Duration::from_millis(i.since_transition_ms?);
    now.checked_sub(since)?.duration_since(UNIX_EPOCH).ok()
}

/// asctime's layout with microseconds, as keepalived's `ctime_us_r`, in UTC:
/// `Tue Dec  1 18:42:12.123456 2026`.
pub fn ctime_us(t: Duration) -> String {
    let secs = t.as_secs();
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    const WDAY: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MON: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    format!(
        "{} {} {:2} {:02}:{:02}:{:02}.{:06} {}",
        WDAY[days.rem_euclid(7) as usize],
        MON[(month - 1) as usize],
        day,
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60,
        t.subsec_micros(),
        year
    )
}

/// `keepalived.data`: the VRRP topology and the trackers, with `dump_vrrp`'s line layout.
pub fn data(view: &StatusView, now: SystemTime) -> String {
    let mut out = String::new();
    out.push_str("------< Global definitions >------\n");
    let _ = writeln!(out, " Dump written by vrrp-agent (pid {}) from its pinned maps", std::process::id());
    if !view.instances.is_empty() {
        out.push_str("------< VRRP Topology >------\n");
    }
    for i in &view.instances {
        let _ = writeln!(out, " VRRP Instance = {}", i.name);
        let mut lines: Vec<String> = Vec::new();
        if let Some(ver) = i.version {
            lines.push(format!("VRRP Version = {ver}"));
        }
        if let Some(g) = i.tracking.as_ref().and_then(|t| t.sync_group.as_ref()) {
            lines.push(format!("Sync group = {g}"));
        }
        lines.push(format!("State = {}", i.state));
        if i.state == "BACKUP" {
            lines.push(format!("Master router = {}", i.master.map(|a| a.to_string()).unwrap_or_else(|| "0.0.0.0".into())));
            lines.push(format!("Master priority = {}", i.last_advert.as_ref().map_or(0, |a| a.priority)));
            if i.version == Some(3) {
                lines.push(format!("Master advert int = {:.2} sec", f64::from(i.adver_int_cs) / 100.0));
            }
        }
        if i.unicast {
            lines.push("Flags:".into());
            lines.push("  Using unicast".into());
        } else {
            lines.push("Flags: none".into());
        }
        if let Some(t) = &i.tracking {
            lines.push(format!("Number of interface and track script faults = {}", t.trackers_in_fault));
            lines.push(format!("Number of track scripts init = {}", t.trackers_waiting));
        }
        match last_transition(i, now) {
            Some(t) => lines.push(format!("Last transition = {}.{:06} ({})", t.as_secs(), t.subsec_micros(), ctime_us(t))),
            None => lines.push("Last transition = 0.000000 (none)".into()),
        }
        lines.push(format!("Master down timer = {} usecs", i.master_down_interval_us));
        lines.push(format!("Interface = {}", i.interface.clone().unwrap_or_else(|| format!("ifindex {}", i.ifindex))));
        lines.push(format!("Virtual Router ID = {}", i.vrid));
        lines.push(format!("Priority = {}", i.base_priority));
        lines.push(format!("Effective priority = {}", i.priority));
        lines.push(format!(
            "Total priority = {}",
            i.tracking.as_ref().map_or(i64::from(i.priority), |t| t.total_priority)
        ));
        if i.version == Some(2) {
            lines.push(format!("Advert interval = {} sec", i.adver_int_cs / 100));
        } else {
            lines.push(format!("Advert interval = {} milli-sec", u64::from(i.adver_int_cs) * 10));
        }
        if !i.vips.is_empty() {
            lines.push(format!("Virtual IP ({}):", i.vips.len()));
            lines.extend(i.vips.iter().map(|a| format!("  {a}")));
        }
        if !i.excluded_vips.is_empty() {
            lines.push("Virtual IP Excluded :".into());
            lines.extend(i.excluded_vips.iter().map(|a| format!("  {a}")));
        }
        for l in lines {
            let _ = writeln!(out, "   {l}");
        }
    }
    let scripts: Vec<&TrackerView> = view.trackers.iter().filter(|t| t.kind == "script").collect();
    if !scripts.is_empty() {
        out.push_str("------< VRRP Scripts >------\n");
    }
    for t in scripts {
        let rise = t.rise.unwrap_or(1);
        let _ = write!(
            out,
            " VRRP Script = {}\n   Rise = {}\n   Fall = {}\n   Result = {}\n   Status = {}\n",
            t.name,
            rise,
            t.fall.unwrap_or(1),
            t.value,
            if t.value >= i64::from(rise) { "GOOD" } else { "BAD" }
        );
    }
    let procs: Vec<&TrackerView> = view.trackers.iter().filter(|t| t.kind == "process").collect();
    if !procs.is_empty() {
        out.push_str("------< VRRP Track processes >------\n");
    }
    for t in procs {
        let _ = writeln!(out, " VRRP Track process = {}", t.name);
        let _ = writeln!(out, "   Min processes = {}", t.quorum.unwrap_or(1));
        if let Some(max) = t.quorum_max {
            let _ = writeln!(out, "   Max processes = {max}");
        }
        let _ = writeln!(out, "   Current processes = {}", t.value);
        let _ = writeln!(out, "   Have quorum = {}", if t.state == "UP" { "true" } else { "false" });
    }
    out
}

/// `keepalived.json`: an array of `{"data": {...}, "stats": {...}}`, one per instance, with
/// `vrrp_json.c`'s key names for what this agent knows.
pub fn json_dump(view: &StatusView, now: SystemTime) -> Value {
    let instances = view.instances.iter().map(|i| {
        let e = |k| errors(i, k);
        let last = last_transition(i, now).map_or(0.0, |t| t.as_secs_f64());
        let master_priority = match i.state {
            "MASTER" => i.priority,
            _ => i.last_advert.as_ref().map_or(0, |a| a.priority),
        };
        let mut data = json!({
            "iname": i.name,
            "ifp_ifname": i.interface.clone().unwrap_or_default(),
            "master_priority": master_priority,
            "last_transition": last,
            "vrid": i.vrid,
            "base_priority": i.base_priority,
            "effective_priority": i.priority,
            "vipset": i.state == "MASTER",
            "adver_int": f64::from(i.adver_int_cs) / 100.0,
            "master_adver_int": f64::from(i.last_advert.as_ref().map_or(i.adver_int_cs, |a| a.adver_int_cs)) / 100.0,
            "state": state_code(i.state),
            "wantstate": state_code(i.state),
            "version": i.version.unwrap_or(0),
        });
        if !i.vips.is_empty() {
            data["vips"] = json!(i.vips.iter().map(|a| a.to_string()).collect::<Vec<_>>());
        }
        if !i.excluded_vips.is_empty() {
            data["evips"] = json!(i.excluded_vips.iter().map(|a| a.to_string()).collect::<Vec<_>>());
        }
        json!({
            "data": data,
            "stats": {
                "advert_rcvd": i.adverts_rx,
                "advert_sent": i.adverts_tx,
                "become_master": i.become_master,
                "release_master": i.release_master,
                "packet_len_err": e(KaError::PacketLen),
                "advert_interval_err": e(KaError::AdvertInterval),
                "ip_ttl_err": e(KaError::Ttl),
                "invalid_type_rcvd": e(KaError::InvalidType),
                "addr_list_err": e(KaError::AddrList),
                "invalid_authtype": 0,
                "authtype_mismatch": e(KaError::AuthTypeMismatch),
                "auth_failure": e(KaError::AuthFailure),
                "pri_zero_rcvd": i.priority_zero_rx,
                "pri_zero_sent": i.priority_zero_tx,
            }
        })
    });
    Value::Array(instances.collect())
}
