//! Measurements more than one figure takes: a process's CPU time and resident memory.

/// (CPU seconds, user + system, since the process started; VmRSS in kB) of `pid`.
pub fn proc_stat(pid: u32) -> Option<(f64, u64)> {
    // utime + stime in clock ticks (fields 14, 15), VmRSS in kB.
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = after.split_whitespace().collect();
    let hz = clock_ticks_per_sec()?;
    let cpu = (f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?) / hz;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss = status.lines().find(|l| l.starts_with("VmRSS:"))?.split_whitespace().nth(1)?.parse().ok()?;
    Some((cpu, rss))
}

/// The kernel's USER_HZ: /proc's tick counts are in these.
pub fn clock_ticks_per_sec() -> Option<f64> {
    Some(nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK).ok()?? as f64)
}
