//! `vrrp_tests`: the network-namespace harness used by the integration tests and by
//! `cargo xtask lab`.
//!
//! Every test host lives in a network namespace this process creates. Names carry a
//! per-process, per-call prefix (`vrt<pid>x<n>-<tag>`), so parallel tests and parallel
//! runs never collide, and [`cleanup_stale`] can tell leftovers of dead runs from live
//! ones. Addresses must come from 198.18.0.0/15 ([`in_test_range`]); [`lan`] and
//! [`start_ping`] refuse anything else.
//!
//! Cleanup: [`Netns`], [`Agent`], [`Keepalived`] and [`Pinger`] clean up in `Drop`. Everything they
//! create is also recorded in a global registry, so [`install_ctrlc_cleanup`] can kill
//! our children, delete our namespaces and remove our bpffs dirs on SIGINT/SIGTERM.
//!
//! Processes run inside a namespace with `nsenter --net=/run/netns/NAME`, never
//! `ip netns exec` (which remounts /sys and hides /sys/fs/bpf pins from the host).

#[cfg(feature = "charts")]
pub mod charts;
pub mod election;
pub mod faults;
pub mod hostile;
pub mod package;
pub mod report;
pub mod soak;

use anyhow::{Context, Result, anyhow, bail};
use std::fs::{self, File};
use std::io::Read;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard, Once};
use std::time::{Duration, Instant};

/// Every namespace and bpffs dir this harness creates starts with this.
pub const NAME_PREFIX: &str = "vrt";
/// Root of the per-agent bpffs pin dirs.
pub const BPFFS_ROOT: &str = "/sys/fs/bpf/vrrp-test";
/// Where bpffs must be mounted.
pub const BPFFS_MOUNT: &str = "/sys/fs/bpf";
/// Polling period of [`wait_for`].
pub const POLL: Duration = Duration::from_millis(10);

// ---------------------------------------------------------------------------------------
// Privileges
// ---------------------------------------------------------------------------------------

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// For privileged tests: returns false and prints `SKIP <test>: <reason>` when not root.
/// When env `CI` is set and we are not root, panics instead (CI must never silently skip).
pub fn require_root(test: &str) -> bool {
    if is_root() {
        return true;
    }
    let reason = "needs root (network namespaces, bpffs, XDP)";
    if std::env::var_os("CI").is_some() {
        panic!("{test}: {reason}, and CI is set: refusing to skip");
    }
    eprintln!("SKIP {test}: {reason}");
    false
}

// ---------------------------------------------------------------------------------------
// Names
// ---------------------------------------------------------------------------------------

static COUNTER: AtomicU32 = AtomicU32::new(0);

fn next_id() -> u32 {
    COUNTER.fetch_add(1, Ordering::Relaxed)
}

/// Keep `[a-z0-9]` of `s`, lower-cased, at most `max` chars (at least "x").
pub fn sanitize_tag(s: &str, max: usize) -> String {
    let t: String = s
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .take(max)
        .collect();
    if t.is_empty() { "x".to_string() } else { t }
}

/// `vrt<pid>x<n>-<tag>`: unique per process (pid) and per call (n).
pub fn make_prefix(pid: u32, n: u32, test: &str) -> String {
    format!("{NAME_PREFIX}{pid}x{n}-{}", sanitize_tag(test, 10))
}

/// A fresh prefix for this process.
pub fn new_prefix(test: &str) -> String {
    make_prefix(std::process::id(), next_id(), test)
}

/// The creator pid encoded in a name made by [`make_prefix`], if it is one of ours.
pub fn prefix_pid(name: &str) -> Option<u32> {
    let rest = name.strip_prefix(NAME_PREFIX)?;
    let (pid, rest) = rest.split_once('x')?;
    let (n, _) = rest.split_once('-')?;
    if pid.is_empty() || n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    pid.parse().ok()
}

/// A valid Linux interface name: 1..=15 bytes, no '/', ':' or whitespace, not "." / "..".
pub fn valid_ifname(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 15
        && s != "."
        && s != ".."
        && !s.bytes().any(|b| b == b'/' || b == b':' || b.is_ascii_whitespace() || b == 0)
}

/// Switch-side port name for host number `i` called `host`: `p<i>-<host>` cut to 15 bytes.
pub fn switch_port_name(i: usize, host: &str) -> String {
    let mut s = format!("p{i}-{}", sanitize_tag(host, 15));
    s.truncate(15);
    s
}

/// Is `a` inside 198.18.0.0/15, the only range test hosts may use?
pub fn in_test_range(a: Ipv4Addr) -> bool {
    u32::from(a) & 0xfffe_0000 == 0xc612_0000
}

/// Whether `a` is an IPv6 address a test may use: 2001:db8::/32 (documentation) or
/// link-local fe80::/10 (only ever on the test's own veths).
pub fn in_test_range_v6(a: Ipv6Addr) -> bool {
    let s = a.segments();
    (s[0] == 0x2001 && s[1] == 0x0db8) || s[0] & 0xffc0 == 0xfe80
}

fn fmt_mac(m: &[u8; 6]) -> String {
    m.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
}

// ---------------------------------------------------------------------------------------
// Global registry (for Ctrl-C cleanup)
// ---------------------------------------------------------------------------------------

struct Registry {
    namespaces: Vec<String>,
    /// (pid, namespace it runs in)
    pids: Vec<(u32, String)>,
    dirs: Vec<PathBuf>,
}

static REGISTRY: Mutex<Registry> =
    Mutex::new(Registry { namespaces: Vec::new(), pids: Vec::new(), dirs: Vec::new() });

fn registry() -> MutexGuard<'static, Registry> {
    REGISTRY.lock().unwrap_or_else(|e| e.into_inner())
}

fn register_pid(pid: u32, ns: &str) {
    registry().pids.push((pid, ns.to_string()));
}

fn unregister_pid(pid: u32) {
    registry().pids.retain(|(p, _)| *p != pid);
}

fn register_dir(d: &Path) {
    registry().dirs.push(d.to_path_buf());
}

fn unregister_dir(d: &Path) {
    registry().dirs.retain(|x| x != d);
}

/// Does any live (non-zombie) process belong to process group `pgid`? (scans /proc)
fn group_has_members(pgid: u32) -> bool {
    let Ok(rd) = fs::read_dir("/proc") else { return false };
    rd.flatten().any(|e| {
        let name = e.file_name();
        let Some(n) = name.to_str() else { return false };
        if !n.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
        fs::read_to_string(e.path().join("stat"))
            .ok()
            .and_then(|st| {
                // pid (comm) state ppid pgrp ...
                let mut f = st.rsplit_once(')')?.1.split_whitespace();
                let state = f.next()?;
                let pgrp = f.nth(1)?.parse::<u32>().ok()?;
                Some(state != "Z" && state != "X" && pgrp == pgid)
            })
            .unwrap_or(false)
    })
}

/// After the leader `pgid` was reaped: SIGKILL what is left of its group (processes it
/// started), if anything is. While a member lives the group id cannot be reused.
fn kill_group_leftovers(pgid: u32) {
    if group_has_members(pgid) {
        // SAFETY: kill(2) on a process group we created that still has members.
        unsafe {
            libc::kill(-(pgid as libc::pid_t), libc::SIGKILL);
        }
    }
}

/// SIGKILL the process group led by `pid` (every child we spawn leads its own group, so
/// this also reaches what it started, e.g. notify scripts), and `pid` itself. Only for
/// children not reaped yet (the zombie keeps the pid and group id ours).
fn sigkill(pid: u32) {
    // SAFETY: plain kill(2) on a process group / pid we started. A group id stays
    // allocated while any member lives, so it cannot name someone else's group.
    unsafe {
        libc::kill(-(pid as libc::pid_t), libc::SIGKILL);
        libc::kill(pid as libc::pid_t, libc::SIGKILL);
    }
}

/// Kill every registered child, remove registered bpffs dirs, delete registered
/// namespaces. Used by the Ctrl-C handler; safe to call at any time.
pub fn cleanup_registered() {
    let (pids, dirs, nss) = {
        let mut r = registry();
        (std::mem::take(&mut r.pids), std::mem::take(&mut r.dirs), std::mem::take(&mut r.namespaces))
    };
    for (pid, _) in &pids {
        sigkill(*pid);
    }
    for d in &dirs {
        let _ = fs::remove_dir_all(d);
    }
    for ns in nss.iter().rev() {
        let _ = Command::new("ip").args(["netns", "del", ns]).stderr(Stdio::null()).status();
    }
}

/// On SIGINT/SIGTERM: kill the registered pids, remove bpffs dirs, delete the registered
/// namespaces and exit 130. Idempotent.
pub fn install_ctrlc_cleanup() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let r = ctrlc::set_handler(|| {
            eprintln!("interrupted: cleaning up test namespaces and processes");
            cleanup_registered();
            std::process::exit(130);
        });
        if let Err(e) = r {
            eprintln!("warning: could not install the Ctrl-C cleanup handler: {e}");
        }
    });
}

// ---------------------------------------------------------------------------------------
// Commands
// ---------------------------------------------------------------------------------------

fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

/// Run to completion; stdout on success, an error with the command line and stderr
/// otherwise.
pub fn run_cmd(cmd: &mut Command) -> Result<String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot start `{}`", describe(cmd)))?;
    if !out.status.success() {
        bail!(
            "`{}` failed ({}): {}",
            describe(cmd),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn ip(args: &[&str]) -> Result<String> {
    run_cmd(Command::new("ip").args(args))
}

// ---------------------------------------------------------------------------------------
// bpffs
// ---------------------------------------------------------------------------------------

pub fn bpffs_mounted() -> bool {
    fs::read_to_string("/proc/mounts")
        .map(|m| {
            m.lines().any(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                f.len() >= 3 && f[1] == BPFFS_MOUNT && f[2] == "bpf"
            })
        })
        .unwrap_or(false)
}

/// Mount bpffs on /sys/fs/bpf if it is not mounted. Returns true if it mounted it.
pub fn ensure_bpffs() -> Result<bool> {
    if bpffs_mounted() {
        return Ok(false);
    }
    if !is_root() {
        bail!("bpffs is not mounted on {BPFFS_MOUNT} and mounting it needs root");
    }
    fs::create_dir_all(BPFFS_MOUNT).ok();
    run_cmd(Command::new("mount").args(["-t", "bpf", "bpf", BPFFS_MOUNT]))
        .context("mounting bpffs")?;
    Ok(true)
}

// ---------------------------------------------------------------------------------------
// Netns
// ---------------------------------------------------------------------------------------

/// A named network namespace (`ip netns add`), deleted on drop after killing any child we
/// started in it.
pub struct Netns {
    pub name: String,
}

impl Netns {
    pub fn create(name: &str) -> Result<Netns> {
        ip(&["netns", "add", name]).with_context(|| format!("creating netns {name}"))?;
        registry().namespaces.push(name.to_string());
        let ns = Netns { name: name.to_string() };
        ns.ip(&["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    pub fn path(&self) -> PathBuf {
        PathBuf::from("/run/netns").join(&self.name)
    }

    /// `nsenter --net=/run/netns/NAME -- program`: runs in this namespace, keeping the
    /// host's mount namespace (so /sys/fs/bpf pins are shared).
    pub fn cmd(&self, program: &str) -> Command {
        let mut c = Command::new("nsenter");
        c.arg(format!("--net={}", self.path().display())).arg("--").arg(program);
        c
    }

    /// Run `program args` inside; stdout, or an error carrying stderr.
    pub fn run(&self, program: &str, args: &[&str]) -> Result<String> {
        run_cmd(self.cmd(program).args(args))
    }

    /// `ip -n NAME args...`
    pub fn ip(&self, args: &[&str]) -> Result<String> {
        let mut c = Command::new("ip");
        c.arg("-n").arg(&self.name).args(args);
        run_cmd(&mut c)
    }

    /// `sysctl -w key=value` inside the namespace (net.* keys are per namespace).
    pub fn sysctl(&self, key: &str, value: &str) -> Result<()> {
        self.run("sysctl", &["-q", "-w", &format!("{key}={value}")]).map(|_| ())
    }

    /// Does `ip netns list` still show this namespace?
    pub fn exists(name: &str) -> bool {
        list_netns().iter().any(|n| n == name)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let mine: Vec<u32> = registry()
            .pids
            .iter()
            .filter(|(_, ns)| *ns == self.name)
            .map(|(p, _)| *p)
            .collect();
        for p in mine {
            // Still un-reaped (it is unregistered when reaped), so the pid is still ours.
            sigkill(p);
        }
        if let Err(e) = ip(&["netns", "del", &self.name]) {
            eprintln!("warning: {e}");
        }
        registry().namespaces.retain(|n| *n != self.name);
    }
}

/// Names from `ip netns list`.
pub fn list_netns() -> Vec<String> {
    ip(&["netns", "list"])
        .map(|o| parse_netns_list(&o))
        .unwrap_or_default()
}

/// Parse `ip netns list` output ("name (id: 3)" or "name" per line).
pub fn parse_netns_list(out: &str) -> Vec<String> {
    out.lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

// ---------------------------------------------------------------------------------------
// Lan
// ---------------------------------------------------------------------------------------

pub struct Host {
    pub name: String,
    pub ns: Netns,
    /// The interface holding `addr`: "eth0", "bond0" ([`bonded_lan`]) or "eth0.<vid>"
    /// ([`Lan::add_vlan`]).
    pub ifname: String,
    pub addr: Ipv4Addr,
    pub mac: [u8; 6],
    /// The peer of `eth0` (or of the first bond member), attached to the bridge in the
    /// switch namespace.
    pub switch_port: String,
    /// Further switch-side ports of this host (the other bond member).
    pub extra_switch_ports: Vec<String>,
}

impl Host {
    pub fn mac_string(&self) -> String {
        fmt_mac(&self.mac)
    }
}

/// A switch namespace with bridge `br0` and one namespace per host, each wired to the
/// bridge by a veth pair. Fields drop in order: hosts first, then the switch.
pub struct Lan {
    pub prefix: String,
    pub hosts: Vec<Host>,
    pub switch: Netns,
}

/// Build a LAN: switch namespace `<prefix>-sw` with a Linux bridge (STP off, forward delay
/// 0, multicast snooping off, IPv6 off), one namespace `<prefix>-<host>` per host with
/// `eth0` = `addr/24` and MAC 02:76:72:00:00:<i+1>, its peer `p<i>-<host>` on the bridge.
/// Every address must be in 198.18.0.0/15. On error everything built so far is removed.
pub fn lan(test: &str, hosts: &[(&str, Ipv4Addr)]) -> Result<Lan> {
    if hosts.len() > 250 {
        bail!("too many hosts ({})", hosts.len());
    }
    for (i, (name, a)) in hosts.iter().enumerate() {
        if !in_test_range(*a) {
            bail!("host {name}: address {a} is outside 198.18.0.0/15");
        }
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            bail!("host name {name:?}: use [A-Za-z0-9_-]");
        }
        if hosts[..i].iter().any(|(n, _)| n == name) {
            bail!("duplicate host name {name}");
        }
    }
    let prefix = new_prefix(test);
    let switch = Netns::create(&format!("{prefix}-sw"))?;
    switch.sysctl("net.ipv6.conf.all.disable_ipv6", "1")?;
    switch.sysctl("net.ipv6.conf.default.disable_ipv6", "1")?;
    switch.ip(&[
        "link", "add", "br0", "type", "bridge", "stp_state", "0", "forward_delay", "0",
        "mcast_snooping", "0",
    ])?;
    switch.ip(&["link", "set", "br0", "up"])?;

    let mut lan = Lan { prefix: prefix.clone(), hosts: Vec::new(), switch };
    for (i, (name, addr)) in hosts.iter().enumerate() {
        let ns = Netns::create(&format!("{prefix}-{name}"))?;
        // No DAD delay for IPv6 addresses the tests add later.
        ns.sysctl("net.ipv6.conf.default.accept_dad", "0")?;
        ns.sysctl("net.ipv6.conf.all.accept_dad", "0")?;
        let port = switch_port_name(i, name);
        debug_assert!(valid_ifname(&port));
        let mac = [0x02, 0x76, 0x72, 0x00, 0x00, (i + 1) as u8];
        let host = Host {
            name: name.to_string(),
            ns,
            ifname: "eth0".to_string(),
            addr: *addr,
            mac,
            switch_port: port.clone(),
            extra_switch_ports: Vec::new(),
        };
        lan.switch.ip(&[
            "link", "add", &port, "type", "veth", "peer", "name", "eth0", "netns", &host.ns.name,
        ])?;
        lan.hosts.push(host);
        let host = lan.hosts.last().expect("just pushed");
        lan.switch.ip(&["link", "set", &port, "master", "br0"])?;
        lan.switch.ip(&["link", "set", &port, "up"])?;
        host.ns.ip(&["link", "set", "eth0", "address", &fmt_mac(&mac)])?;
        host.ns.ip(&["addr", "add", &format!("{addr}/24"), "dev", "eth0"])?;
        host.ns.ip(&["link", "set", "eth0", "up"])?;
    }
    Ok(lan)
}

/// Whether this kernel can create links of `kind` ("bond", "vlan", ...): tried in a scratch
/// namespace (a VLAN on a veth). `Err` carries the kernel's answer, for a skip message.
pub fn link_kind_supported(kind: &str) -> Result<()> {
    let ns = Netns::create(&format!("{}-probe", new_prefix("kind")))?;
    if kind == "vlan" {
        ns.ip(&["link", "add", "vp0", "type", "veth", "peer", "name", "vp1"])?;
        ns.ip(&["link", "add", "link", "vp0", "name", "vp0.5", "type", "vlan", "id", "5"])?;
    } else {
        ns.ip(&["link", "add", "probe0", "type", kind])?;
    }
    Ok(())
}

/// Like [`lan`], but each host reaches the bridge through `bond0` (active-backup, miimon
/// 100) over two veth members `m0`, `m1`, whose switch-side ports are `p<i>-<host>` and
/// `q<i>-<host>`; the address and MAC are on `bond0`, which is the host's `ifname`.
pub fn bonded_lan(test: &str, hosts: &[(&str, Ipv4Addr)]) -> Result<Lan> {
    for (name, a) in hosts {
        if !in_test_range(*a) {
            bail!("host {name}: address {a} is outside 198.18.0.0/15");
        }
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            bail!("host name {name:?}: use [A-Za-z0-9_-]");
        }
    }
    let prefix = new_prefix(test);
    let switch = Netns::create(&format!("{prefix}-sw"))?;
    switch.sysctl("net.ipv6.conf.all.disable_ipv6", "1")?;
    switch.sysctl("net.ipv6.conf.default.disable_ipv6", "1")?;
    switch.ip(&["link", "add", "br0", "type", "bridge", "stp_state", "0", "forward_delay", "0", "mcast_snooping", "0"])?;
    switch.ip(&["link", "set", "br0", "up"])?;
    let mut lan = Lan { prefix: prefix.clone(), hosts: Vec::new(), switch };
    for (i, (name, addr)) in hosts.iter().enumerate() {
        let ns = Netns::create(&format!("{prefix}-{name}"))?;
        let mac = [0x02, 0x76, 0x72, 0x00, 0x01, (i + 1) as u8];
        let ports = [switch_port_name(i, name), {
            let mut q = format!("q{i}-{}", sanitize_tag(name, 15));
            q.truncate(15);
            q
        }];
        let host = Host {
            name: name.to_string(),
            ns,
            ifname: "bond0".to_string(),
            addr: *addr,
            mac,
            switch_port: ports[0].clone(),
            extra_switch_ports: vec![ports[1].clone()],
        };
        lan.hosts.push(host);
        let host = lan.hosts.last().expect("just pushed");
        host.ns.ip(&["link", "add", "bond0", "type", "bond", "mode", "active-backup", "miimon", "100"])?;
        for (port, member) in ports.iter().zip(["m0", "m1"]) {
            lan.switch.ip(&["link", "add", port, "type", "veth", "peer", "name", member, "netns", &host.ns.name])?;
            lan.switch.ip(&["link", "set", port, "master", "br0"])?;
            lan.switch.ip(&["link", "set", port, "up"])?;
            host.ns.ip(&["link", "set", member, "master", "bond0"])?;
        }
        host.ns.ip(&["link", "set", "bond0", "address", &fmt_mac(&mac)])?;
        host.ns.ip(&["addr", "add", &format!("{addr}/24"), "dev", "bond0"])?;
        host.ns.ip(&["link", "set", "bond0", "up"])?;
    }
    Ok(lan)
}

impl Lan {
    /// The host called `name`; panics if there is none.
    pub fn host(&self, name: &str) -> &Host {
        self.try_host(name).unwrap_or_else(|| panic!("no host {name} in lan {}", self.prefix))
    }

    pub fn try_host(&self, name: &str) -> Option<&Host> {
        self.hosts.iter().find(|h| h.name == name)
    }

    /// Switch-side port names, in host order.
    pub fn switch_ports(&self) -> Vec<String> {
        self.hosts.iter().map(|h| h.switch_port.clone()).collect()
    }

    /// Cut a host off the LAN (its switch ports down), e.g. to simulate a dead host.
    pub fn isolate(&self, name: &str) -> Result<()> {
        let h = self.host(name);
        for port in std::iter::once(&h.switch_port).chain(&h.extra_switch_ports) {
            self.switch.ip(&["link", "set", port, "down"])?;
        }
        Ok(())
    }

    /// Deletes host `name`'s `eth0` (and with it its switch port) and creates it again with
    /// the same names, MAC and address: the interface comes back with a new ifindex (a dummy
    /// veth pair takes the old one).
    pub fn recreate_link(&self, name: &str) -> Result<()> {
        let h = self.host(name);
        h.ns.ip(&["link", "del", "eth0"])?;
        // Hold the old ifindex (the kernel would hand it out again) so eth0 gets a new one.
        h.ns.ip(&["link", "add", "ifgap0", "type", "veth", "peer", "name", "ifgap1"])?;
        self.switch.ip(&["link", "add", &h.switch_port, "type", "veth", "peer", "name", "eth0", "netns", &h.ns.name])?;
        self.switch.ip(&["link", "set", &h.switch_port, "master", "br0"])?;
        self.switch.ip(&["link", "set", &h.switch_port, "up"])?;
        h.ns.ip(&["link", "set", "eth0", "address", &fmt_mac(&h.mac)])?;
        h.ns.ip(&["addr", "add", &format!("{}/24", h.addr), "dev", "eth0"])?;
        h.ns.ip(&["link", "set", "eth0", "up"])?;
        Ok(())
    }

    /// Undo [`Lan::isolate`].
    pub fn reconnect(&self, name: &str) -> Result<()> {
        let h = self.host(name);
        for port in std::iter::once(&h.switch_port).chain(&h.extra_switch_ports) {
            self.switch.ip(&["link", "set", port, "up"])?;
        }
        Ok(())
    }

    /// Gives every host a VLAN device `eth0.<vid>` on its `eth0` with the address listed for
    /// it (/24, in 198.18.0.0/15), and makes it the host's interface (`ifname`, `addr`): the
    /// tests then run VRRP over the VLAN. `eth0` keeps its untagged address.
    pub fn add_vlan(&mut self, vid: u16, addrs: &[(&str, Ipv4Addr)]) -> Result<()> {
        let dev = format!("eth0.{vid}");
        for (name, a) in addrs {
            if !in_test_range(*a) {
                bail!("host {name}: address {a} is outside 198.18.0.0/15");
            }
            let host = self.hosts.iter_mut().find(|h| h.name == *name).ok_or_else(|| anyhow!("no host {name}"))?;
            host.ns.ip(&["link", "add", "link", "eth0", "name", &dev, "type", "vlan", "id", &vid.to_string()])?;
            host.ns.ip(&["addr", "add", &format!("{a}/24"), "dev", &dev])?;
            host.ns.ip(&["link", "set", &dev, "up"])?;
            host.ifname = dev.clone();
            host.addr = *a;
        }
        Ok(())
    }

    /// Partition a host from the LAN while its link stays up: its switch port leaves the
    /// bridge (carrier stays, so its agent does not go to FAULT as with [`Lan::isolate`]; it
    /// simply hears nobody and nobody hears it).
    pub fn partition(&self, name: &str) -> Result<()> {
        let port = &self.host(name).switch_port;
        self.switch.ip(&["link", "set", port, "nomaster"]).map(|_| ())
    }

    /// Undo [`Lan::partition`]: the port joins the bridge again (STP off, forward delay 0:
    /// it forwards at once).
    pub fn heal(&self, name: &str) -> Result<()> {
        let port = &self.host(name).switch_port;
        self.switch.ip(&["link", "set", port, "master", "br0"])?;
        self.switch.ip(&["link", "set", port, "up"]).map(|_| ())
    }

    /// Attach a pass-through XDP program (native mode) to every switch-side veth port.
    /// Needed when an agent runs XDP in native mode on a veth and uses XDP_TX: the kernel
    /// drops XDP_TX frames on a veth unless its peer has an XDP program.
    pub fn attach_xdp_pass_to_switch_ports(&self) -> Result<()> {
        ensure_bpffs()?;
        fs::create_dir_all(BPFFS_ROOT).with_context(|| format!("creating {BPFFS_ROOT}"))?;
        let pin = PathBuf::from(BPFFS_ROOT).join(format!("{}-xdppass", self.prefix));
        register_dir(&pin);
        let res = (|| {
            xdp_pass::load_and_pin(&pin)?;
            let pin_s = pin.to_string_lossy().into_owned();
            for port in self.switch_ports() {
                // Not `ip -n`: like `ip netns exec` it remounts /sys, hiding the pin.
                self.switch
                    .run("ip", &["link", "set", "dev", &port, "xdpdrv", "pinned", &pin_s])
                    .with_context(|| format!("attaching pass-through XDP to {port}"))?;
            }
            Ok(())
        })();
        // The attached links hold their own reference to the program.
        let _ = fs::remove_file(&pin);
        unregister_dir(&pin);
        res
    }
}

/// Makes every frame leaving `host`'s `eth0` carry 802.1Q tag `vid` out of band, in the skb
/// metadata, as a VLAN device on a NIC with tx VLAN offload sends it (and as veth delivers it
/// to the peer): a tc egress program calling `bpf_skb_vlan_push`. For tests of what XDP sees
/// of such frames on the receiving side. Removed with the namespace.
pub fn push_vlan_on_egress(host: &Host, vid: u16) -> Result<()> {
    ensure_bpffs()?;
    fs::create_dir_all(BPFFS_ROOT).with_context(|| format!("creating {BPFFS_ROOT}"))?;
    let pin = PathBuf::from(BPFFS_ROOT).join(format!("{}-vlanpush", host.ns.name));
    register_dir(&pin);
    let res = (|| {
        xdp_pass::load_vlan_push_and_pin(&pin, vid)?;
        let pin_s = pin.to_string_lossy().into_owned();
        // Not `ip netns exec`/`tc -n`: they remount /sys and would hide the pin.
        host.ns.run("tc", &["qdisc", "add", "dev", &host.ifname, "clsact"])?;
        host.ns.run("tc", &["filter", "add", "dev", &host.ifname, "egress", "bpf", "da", "object-pinned", &pin_s])?;
        Ok(())
    })();
    let _ = fs::remove_file(&pin);
    unregister_dir(&pin);
    res
}

/// Minimal loaders for tiny programs (XDP_PASS; tc VLAN push), via bpf(2), no toolchain needed.
mod xdp_pass {
    use anyhow::{Result, bail};
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    use std::path::Path;

    const BPF_PROG_LOAD: libc::c_long = 5;
    const BPF_OBJ_PIN: libc::c_long = 6;
    const BPF_PROG_TYPE_XDP: u32 = 6;

    fn bpf(cmd: libc::c_long, attr: &mut [u64; 16]) -> libc::c_long {
        // SAFETY: attr is a zero-filled 128-byte bpf_attr that outlives the call; the
        // pointers stored in it point to live buffers owned by the caller.
        unsafe { libc::syscall(libc::SYS_bpf, cmd, attr.as_mut_ptr(), 128usize) }
    }

    pub fn load_and_pin(pin: &Path) -> Result<()> {
        // r0 = XDP_PASS (2); exit
        load_and_pin_insns(pin, BPF_PROG_TYPE_XDP, b"vrt_xdp_pass\0\0\0\0", &[0xb7 | (2u64 << 32), 0x95])
    }

    /// tc (SCHED_CLS, direct action): bpf_skb_vlan_push(skb, htons(ETH_P_8021Q), vid); TC_ACT_OK.
    pub fn load_vlan_push_and_pin(pin: &Path, vid: u16) -> Result<()> {
        const BPF_PROG_TYPE_SCHED_CLS: u32 = 3;
        const BPF_FUNC_SKB_VLAN_PUSH: u64 = 18;
        // One instruction: opcode, dst | src << 4, offset, immediate (little endian).
        let insn = |code: u64, dst: u64, src: u64, imm: u32| code | (dst << 8) | (src << 12) | (u64::from(imm) << 32);
        let insns = [
            insn(0xbf, 6, 1, 0),                           // r6 = r1 (skb)
            insn(0xbf, 1, 6, 0),                           // r1 = r6
            insn(0xb7, 2, 0, u32::from(0x8100u16.to_be())), // r2 = htons(ETH_P_8021Q)
            insn(0xb7, 3, 0, u32::from(vid)),              // r3 = vid
            insn(0x85, 0, 0, BPF_FUNC_SKB_VLAN_PUSH as u32), // call bpf_skb_vlan_push
            insn(0xb7, 0, 0, 0),                           // r0 = TC_ACT_OK
            0x95,                                          // exit
        ];
        load_and_pin_insns(pin, BPF_PROG_TYPE_SCHED_CLS, b"vrt_vlan_push\0\0\0", &insns)
    }

    fn load_and_pin_insns(pin: &Path, prog_type: u32, name: &[u8; 16], insns: &[u64]) -> Result<()> {
        let license = b"GPL\0";
        let mut attr = [0u64; 16];
        attr[0] = prog_type as u64 | ((insns.len() as u64) << 32);
        attr[1] = insns.as_ptr() as u64;
        attr[2] = license.as_ptr() as u64;
        attr[6] = u64::from_le_bytes(name[..8].try_into().expect("8 bytes"));
        attr[7] = u64::from_le_bytes(name[8..16].try_into().expect("8 bytes"));
        let fd = bpf(BPF_PROG_LOAD, &mut attr);
        if fd < 0 {
            bail!("BPF_PROG_LOAD ({}): {}", pin.display(), std::io::Error::last_os_error());
        }
        let path = CString::new(pin.as_os_str().as_bytes())?;
        let mut attr = [0u64; 16];
        attr[0] = path.as_ptr() as u64;
        attr[1] = fd as u64 & 0xffff_ffff;
        let r = bpf(BPF_OBJ_PIN, &mut attr);
        let err = std::io::Error::last_os_error();
        // SAFETY: closing the fd we just got from the kernel.
        unsafe { libc::close(fd as libc::c_int) };
        if r < 0 {
            bail!("BPF_OBJ_PIN {}: {err}", pin.display());
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// Waiting and addresses
// ---------------------------------------------------------------------------------------

/// The negative of [`wait_for`]: `check` must hold on every poll for the whole `window`
/// (a protocol-derived time in which something must NOT happen). Returns the first
/// failure's message.
pub fn holds_for(window: Duration, what: &str, mut check: impl FnMut() -> std::result::Result<(), String>) -> Result<()> {
    let start = Instant::now();
    loop {
        if let Err(why) = check() {
            bail!("{what} stopped holding after {:.2} s: {why}", start.elapsed().as_secs_f64());
        }
        if start.elapsed() >= window {
            return Ok(());
        }
        std::thread::sleep(POLL);
    }
}

/// Poll `f` every ~10 ms until it returns `Some`, at most `timeout`.
pub fn wait_for<T>(timeout: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> Result<T> {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return Ok(v);
        }
        if start.elapsed() >= timeout {
            bail!("timed out after {:.2} s waiting for {what}", timeout.as_secs_f64());
        }
        std::thread::sleep(POLL);
    }
}

/// Parse `ip -j -4 addr show` output into the IPv4 addresses it lists.
pub fn parse_ip_addr_json(text: &str) -> Result<Vec<Ipv4Addr>> {
    let v: serde_json::Value = serde_json::from_str(text.trim()).context("parsing `ip -j addr` JSON")?;
    let mut out = Vec::new();
    for link in v.as_array().map(Vec::as_slice).unwrap_or_default() {
        for ai in link["addr_info"].as_array().map(Vec::as_slice).unwrap_or_default() {
            if ai["family"] == "inet"
                && let Some(a) = ai["local"].as_str().and_then(|s| s.parse().ok())
            {
                out.push(a);
            }
        }
    }
    Ok(out)
}

/// IPv4 addresses on the host's `eth0`.
pub fn ipv4_addrs(host: &Host) -> Result<Vec<Ipv4Addr>> {
    let out = host.ns.ip(&["-j", "-4", "addr", "show", "dev", &host.ifname])?;
    parse_ip_addr_json(&out)
}

pub fn has_addr(host: &Host, a: Ipv4Addr) -> bool {
    ipv4_addrs(host).map(|v| v.contains(&a)).unwrap_or(false)
}

/// The link-layer address (lower-case `aa:bb:..`) of `host`'s neighbour entry for `a` on
/// its eth0, if it has one with an address (any state but FAILED/INCOMPLETE).
pub fn neigh_lladdr(host: &Host, a: Ipv4Addr) -> Option<String> {
    let out = host.ns.ip(&["-j", "-4", "neigh", "show", &a.to_string(), "dev", &host.ifname]).ok()?;
    parse_neigh_json(&out, a)
}

/// The `lladdr` of the entry for `a` in `ip -j neigh show` output.
pub fn parse_neigh_json(text: &str, a: Ipv4Addr) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(text.trim()).ok()?;
    v.as_array()?
        .iter()
        .find(|e| e["dst"].as_str() == Some(a.to_string().as_str()))
        .and_then(|e| e["lladdr"].as_str())
        .map(str::to_ascii_lowercase)
}

/// One bounded ping (`ping -c 1 -W 1`); true if a reply came back.
pub fn ping_once(host: &Host, dst: Ipv4Addr) -> bool {
    in_test_range(dst)
        && host
            .ns
            .cmd("ping")
            .args(["-c", "1", "-W", "1", "-n", "-q", &dst.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
}

/// An IPv6 address on a host's interface as `ip -j -6 addr` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Addr6 {
    pub addr: Ipv6Addr,
    pub prefix_len: u8,
    /// `link`, `global`, ...
    pub scope: String,
    /// Duplicate address detection still running (the address cannot be used yet).
    pub tentative: bool,
    /// Added without DAD (IFA_F_NODAD).
    pub nodad: bool,
    pub dadfailed: bool,
}

/// The IPv6 addresses in `ip -j -6 addr show` output, in order.
pub fn parse_ip6_addr_json(text: &str) -> Result<Vec<Addr6>> {
    let v: serde_json::Value = serde_json::from_str(text.trim()).context("ip -j -6 addr output")?;
    let mut out = Vec::new();
    for link in v.as_array().into_iter().flatten() {
        for a in link["addr_info"].as_array().into_iter().flatten() {
            let Some(addr) = a["local"].as_str().and_then(|s| s.parse().ok()) else { continue };
            let flag = |k: &str| a[k].as_bool().unwrap_or(false);
            out.push(Addr6 {
                addr,
                prefix_len: a["prefixlen"].as_u64().unwrap_or(0) as u8,
                scope: a["scope"].as_str().unwrap_or("").to_string(),
                tentative: flag("tentative"),
                nodad: flag("nodad"),
                dadfailed: flag("dadfailed"),
            });
        }
    }
    Ok(out)
}

/// IPv6 addresses on the host's `eth0`.
pub fn ipv6_addrs(host: &Host) -> Result<Vec<Addr6>> {
    parse_ip6_addr_json(&host.ns.ip(&["-j", "-6", "addr", "show", "dev", &host.ifname])?)
}

/// The host's IPv6 address `a` on `eth0`, if it is there.
pub fn addr6(host: &Host, a: Ipv6Addr) -> Option<Addr6> {
    ipv6_addrs(host).ok()?.into_iter().find(|x| x.addr == a)
}

pub fn has_addr6(host: &Host, a: Ipv6Addr) -> bool {
    addr6(host, a).is_some()
}

/// The first usable (not tentative, DAD not failed) link-local address of `eth0`.
pub fn usable_link_local(host: &Host) -> Option<Ipv6Addr> {
    ipv6_addrs(host).ok()?.into_iter().find(|a| a.scope == "link" && !a.tentative && !a.dadfailed).map(|a| a.addr)
}

/// One bounded IPv6 ping (`ping -6 -c 1 -W 1`); true if a reply came back.
pub fn ping6_once(host: &Host, dst: Ipv6Addr) -> bool {
    in_test_range_v6(dst)
        && host
            .ns
            .cmd("ping")
            .args(["-6", "-c", "1", "-W", "1", "-n", "-q", "-I", &host.ifname, &dst.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
}

/// A bounded tshark capture on a host's `eth0` (capture filter `filter`), written to a pcap
/// in a temp dir removed on drop (kept when panicking). tshark stops by itself after
/// `packets` packets or `max_secs` seconds, and is killed and reaped on drop.
pub struct Capture {
    child: Child,
    dir: PathBuf,
    pub pcap: PathBuf,
}

impl Capture {
    pub fn start(host: &Host, tag: &str, filter: &str, packets: u32, max_secs: u32) -> Result<Capture> {
        let dir = run_tmp_dir(&format!("{}-tshark-{tag}-{}", host.ns.name, next_id()))?;
        let pcap = dir.join("capture.pcap");
        let err = dir.join("tshark.err");
        let mut cmd = host.ns.cmd("tshark");
        cmd.args(["-i", &host.ifname, "-n", "-q", "-f", filter])
            .args(["-c", &packets.to_string(), "-a", &format!("duration:{max_secs}"), "-w"])
            .arg(&pcap)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(&err)?);
        // Its own process group: tshark runs dumpcap, which a kill of tshark alone would
        // leave capturing until its duration ends.
        let child = spawn_registered(cmd, &host.ns.name).context("starting tshark")?;
        let cap = Capture { child, dir, pcap };
        wait_for(Duration::from_secs(10), "tshark to listen", || {
            fs::read_to_string(&err).ok().filter(|t| t.contains("Capturing on")).map(|_| ())
        })
        .with_context(|| fs::read_to_string(&err).unwrap_or_default())?;
        Ok(cap)
    }

    /// Waits (bounded) for tshark to stop by itself (packet count or duration).
    pub fn finish(&mut self, timeout: Duration) -> Result<()> {
        let child = &mut self.child;
        wait_for(timeout, "tshark to finish", || child.try_wait().ok().flatten()).map(|_| ())
    }

    /// `tshark -r` with display filter `display` and `-T fields`: one Vec per packet, several
    /// occurrences of a field joined by ','.
    pub fn fields(&self, display: &str, fields: &[&str]) -> Result<Vec<Vec<String>>> {
        let mut cmd = Command::new("tshark");
        cmd.arg("-r").arg(&self.pcap).args(["-n", "-Y", display, "-T", "fields", "-E", "separator=|", "-E", "occurrence=a", "-E", "aggregator=,"]);
        for f in fields {
            cmd.args(["-e", f]);
        }
        let out = cmd.output().context("tshark -r")?;
        if !out.status.success() {
            bail!("tshark -r failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(String::from_utf8_lossy(&out.stdout).lines().map(|l| l.split('|').map(str::to_string).collect()).collect())
    }

    /// `tshark -r -V` of the first `n` packets matching `display`, for failure messages.
    pub fn verbose(&self, display: &str, n: u32) -> String {
        Command::new("tshark")
            .arg("-r")
            .arg(&self.pcap)
            .args(["-n", "-V", "-Y", display, "-c", &n.to_string()])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        let pid = self.child.id();
        match self.child.try_wait() {
            // Reaped: only dumpcap may be left in its group.
            Ok(Some(_)) => kill_group_leftovers(pid),
            _ => sigkill(pid),
        }
        let _ = self.child.wait();
        unregister_pid(pid);
        if !std::thread::panicking() {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

// ---------------------------------------------------------------------------------------
// Temp dirs
// ---------------------------------------------------------------------------------------

fn run_tmp_dir(name: &str) -> Result<PathBuf> {
    let d = std::env::temp_dir().join("vrrp-tests").join(name);
    fs::create_dir_all(&d).with_context(|| format!("creating {}", d.display()))?;
    Ok(d)
}

fn tail_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Spawn a command in its own process group, register its pid (with the namespace) for
/// Ctrl-C cleanup, and make the kernel SIGKILL it if the spawning thread dies
/// (PR_SET_PDEATHSIG).
fn spawn_registered(mut cmd: Command, ns: &str) -> Result<Child> {
    use std::os::unix::process::CommandExt;
    cmd.process_group(0);
    // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong, 0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = cmd.spawn().with_context(|| format!("cannot start `{}`", describe(&cmd)))?;
    register_pid(child.id(), ns);
    Ok(child)
}

// ---------------------------------------------------------------------------------------
// Agent
// ---------------------------------------------------------------------------------------

/// The agent binary: env `VRRP_AGENT_BIN`, else `<target>/release/vrrp-agent` if it
/// exists, else `<target>/debug/vrrp-agent` (target = `CARGO_TARGET_DIR` or
/// `<workspace>/target`).
pub fn agent_binary() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("VRRP_AGENT_BIN") {
        let p = PathBuf::from(p);
        if !p.is_file() {
            bail!("VRRP_AGENT_BIN={} does not exist", p.display());
        }
        return Ok(p);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    for profile in ["release", "debug"] {
        let p = target.join(profile).join("vrrp-agent");
        if p.is_file() {
            return Ok(p);
        }
    }
    bail!(
        "no vrrp-agent binary: set VRRP_AGENT_BIN or build it (`cargo xtask build`); looked in {}/{{release,debug}}",
        target.display()
    )
}

/// The workspace root (parent of this crate's manifest dir).
pub fn workspace_root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.parent().unwrap_or(here).to_path_buf()
}

/// A process this harness started inside a host's namespace (the agent, keepalived): its
/// signals, waiting, its log, and the cleanup both kinds share.
pub struct Daemon {
    pub pid: u32,
    pub host_name: String,
    pub ns_name: String,
    pub log: PathBuf,
    pub config: PathBuf,
    /// Per-process temp dir holding the config and the log (and keepalived's pid files).
    pub dir: PathBuf,
    /// "agent" or "keepalived", for messages.
    what: &'static str,
    child: Option<Child>,
    status: Option<ExitStatus>,
    keep: bool,
}

impl Daemon {
    #[allow(clippy::too_many_arguments)]
    fn new(what: &'static str, child: Child, host: &Host, log: PathBuf, config: PathBuf, dir: PathBuf) -> Daemon {
        Daemon {
            pid: child.id(),
            host_name: host.name.clone(),
            ns_name: host.ns.name.clone(),
            log,
            config,
            dir,
            what,
            child: Some(child),
            status: None,
            keep: false,
        }
    }

    /// SIGKILL the process and its process group (does not wait; see [`Daemon::wait_exit`]).
    pub fn kill(&mut self) {
        if self.child.is_some() {
            sigkill(self.pid);
        } else {
            kill_group_leftovers(self.pid);
        }
    }

    /// SIGTERM to the process only, for a graceful shutdown (does not wait).
    pub fn terminate(&mut self) {
        if self.is_running() {
            // SAFETY: the child is not reaped yet, so the pid is still ours.
            unsafe {
                libc::kill(self.pid as libc::pid_t, libc::SIGTERM);
            }
        }
    }

    /// Send `sig` (e.g. `libc::SIGSTOP`, `libc::SIGCONT`) to the process only, if it has not
    /// been reaped (so the pid is still ours). Does not wait.
    pub fn signal(&mut self, sig: libc::c_int) {
        if self.child.is_some() && self.status.is_none() {
            // SAFETY: kill(2) on our un-reaped child.
            unsafe {
                libc::kill(self.pid as libc::pid_t, sig);
            }
        }
    }

    fn reaped(&mut self, st: ExitStatus) -> ExitStatus {
        self.status = Some(st);
        self.child = None;
        unregister_pid(self.pid);
        st
    }

    /// Wait up to `timeout` for the process to exit.
    pub fn wait_exit(&mut self, timeout: Duration) -> Result<ExitStatus> {
        if let Some(st) = self.status {
            return Ok(st);
        }
        let pid = self.pid;
        let st = wait_for(timeout, &format!("{} on {} (pid {pid}) to exit", self.what, self.host_name), || {
            self.child.as_mut().and_then(|c| c.try_wait().ok().flatten())
        })?;
        Ok(self.reaped(st))
    }

    pub fn is_running(&mut self) -> bool {
        if self.status.is_some() {
            return false;
        }
        match self.child.as_mut().map(|c| c.try_wait()) {
            Some(Ok(Some(st))) => {
                self.reaped(st);
                false
            }
            Some(Ok(None)) => true,
            _ => false,
        }
    }

    /// "running", or how it ended (a zombie's status read from /proc without reaping it),
    /// for failure messages: a daemon that died keeps its last state in its pinned maps.
    pub fn liveness(&self) -> String {
        if let Some(st) = self.status {
            return format!("exited: {st}");
        }
        match proc_stat_fields(self.pid) {
            Some(fields) if fields.first().map(String::as_str) != Some("Z") => "running".into(),
            // Field 52 (the last): the waitpid-style exit status.
            Some(fields) => match fields.last().and_then(|c| c.parse::<i32>().ok()) {
                Some(c) if c & 0x7f != 0 => format!("exited: killed by signal {}", c & 0x7f),
                Some(c) => format!("exited: code {}", (c >> 8) & 0xff),
                None => "exited".into(),
            },
            None => "exited".into(),
        }
    }

    /// Exit status if it has exited.
    pub fn exit_status(&mut self) -> Option<ExitStatus> {
        self.is_running();
        self.status
    }

    pub fn log_text(&self) -> String {
        let mut s = Vec::new();
        let _ = File::open(&self.log).and_then(|mut f| f.read_to_end(&mut s));
        String::from_utf8_lossy(&s).into_owned()
    }

    /// Last `n` lines of the log.
    pub fn log_tail(&self, n: usize) -> String {
        tail_lines(&self.log_text(), n)
    }

    /// Keep the config and log after drop.
    pub fn keep_files(&mut self) {
        self.keep = true;
    }

    /// First half of a drop: kill the whole group (even if the process itself exited:
    /// stragglers it started) and reap it.
    fn stop_and_reap(&mut self) {
        self.kill();
        if self.status.is_none() {
            let _ = self.wait_exit(Duration::from_secs(5));
        }
        if let Some(c) = self.child.as_mut() {
            // Should not happen (SIGKILL'd above); reap best-effort.
            let _ = c.kill();
            let _ = c.wait();
            unregister_pid(self.pid);
        }
    }

    /// Second half of a drop: a panicking test keeps the log and prints its tail; otherwise
    /// the temp dir goes unless [`Daemon::keep_files`] was called.
    fn report_or_clean(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "---- {} on {} (pid {}) log kept at {}; last 40 lines:\n{}\n----",
                self.what,
                self.host_name,
                self.pid,
                self.log.display(),
                self.log_tail(40)
            );
        } else if !self.keep {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// A running `vrrp-agent` inside a host's namespace ([`Daemon`] methods through `Deref`).
/// Drop: SIGKILL its group, reap, remove its bpffs dir; its log is kept (path and tail
/// printed) only if the thread is panicking or [`Daemon::keep_files`] was called.
pub struct Agent {
    daemon: Daemon,
    pub bpffs: PathBuf,
    /// Leave the bpffs dir when dropped (a restarted agent took it over).
    keep_pins: bool,
}

impl Agent {
    /// `vrrp-agent status --json` on this agent's pins; None until it has pinned its maps
    /// (or if the command fails).
    pub fn try_status_json(&self) -> Option<serde_json::Value> {
        let bin = agent_binary().ok()?;
        let out = Command::new(bin).args(["status", "--json", "--bpffs"]).arg(&self.bpffs).output().ok()?;
        out.status.success().then(|| serde_json::from_slice(&out.stdout).ok()).flatten()
    }

    /// [`Agent::try_status_json`] for a running agent: a failure is a test failure.
    pub fn status_json(&self) -> serde_json::Value {
        self.try_status_json().unwrap_or_else(|| panic!("vrrp-agent status --json failed\n{}", self.log_tail(20)))
    }

    /// Do not remove the bpffs dir when dropped: another agent, started with
    /// [`spawn_agent_on_pins`], uses it (and removes it when it is dropped).
    pub fn leave_pins(&mut self) {
        self.keep_pins = true;
    }

    /// A global counter (a `GlobalStats` field) from `status`, 0 when not readable.
    pub fn counter(&self, name: &str) -> u64 {
        self.try_status_json().and_then(|v| v["counters"][name].as_u64()).unwrap_or(0)
    }
}

impl std::ops::Deref for Agent {
    type Target = Daemon;
    fn deref(&self) -> &Daemon {
        &self.daemon
    }
}

impl std::ops::DerefMut for Agent {
    fn deref_mut(&mut self) -> &mut Daemon {
        &mut self.daemon
    }
}

/// Start `<bin> run -f <config> --bpffs <dir> <extra args>` in the host's namespace
/// (nsenter --net). Output goes to `<tmp>/vrrp-tests/<ns>-a<n>/agent.log`; the bpffs dir
/// is `/sys/fs/bpf/vrrp-test/<ns>-a<n>` (created empty). `RUST_LOG` defaults to `info`.
/// The agent is SIGKILLed by the kernel if the thread that spawned it exits.
pub fn spawn_agent(bin: &Path, host: &Host, config: &str, extra_args: &[&str]) -> Result<Agent> {
    spawn_agent_inner(host, config, None, agent_argv(bin, extra_args))
}

/// The agent's `run` command line for [`spawn_agent`]: `bin run -f CFG --bpffs DIR EXTRA...`.
fn agent_argv<'a>(bin: &'a Path, extra_args: &'a [&'a str]) -> impl FnOnce(&Path, &Path) -> Vec<std::ffi::OsString> + 'a {
    move |cfg, bpffs| {
        let mut argv: Vec<std::ffi::OsString> =
            vec![bin.into(), "run".into(), "-f".into(), cfg.into(), "--bpffs".into(), bpffs.into()];
        argv.extend(extra_args.iter().map(Into::into));
        argv
    }
}

/// [`spawn_agent`] on the pins of an earlier agent (its `bpffs` dir, which the caller kept
/// with [`Agent::leave_pins`]): a restart that may adopt them.
pub fn spawn_agent_on_pins(bin: &Path, host: &Host, config: &str, bpffs: &Path, extra_args: &[&str]) -> Result<Agent> {
    spawn_agent_inner(host, config, Some(bpffs), agent_argv(bin, extra_args))
}

/// [`spawn_agent`] with the command line given by `argv(config file, bpffs dir)`: the
/// program first (e.g. a unit's `ExecStart=` with its config path and pin directory made
/// this agent's own). Same files, cleanup and environment as [`spawn_agent`].
pub fn spawn_agent_cmdline(
    host: &Host,
    config: &str,
    argv: impl FnOnce(&Path, &Path) -> Vec<std::ffi::OsString>,
) -> Result<Agent> {
    spawn_agent_inner(host, config, None, argv)
}

/// [`spawn_agent_cmdline`] on the pins of an earlier agent (as [`spawn_agent_on_pins`]): a
/// unit's `ExecStart=` run again after a hitless-restart exit, on the same pin directory.
pub fn spawn_agent_cmdline_on_pins(
    host: &Host,
    config: &str,
    bpffs: &Path,
    argv: impl FnOnce(&Path, &Path) -> Vec<std::ffi::OsString>,
) -> Result<Agent> {
    spawn_agent_inner(host, config, Some(bpffs), argv)
}

fn spawn_agent_inner(
    host: &Host,
    config: &str,
    pins: Option<&Path>,
    argv: impl FnOnce(&Path, &Path) -> Vec<std::ffi::OsString>,
) -> Result<Agent> {
    ensure_bpffs()?;
    let tag = format!("{}-a{}", host.ns.name, next_id());
    let dir = run_tmp_dir(&tag)?;
    let cfg = dir.join("vrrp.conf");
    fs::write(&cfg, config).with_context(|| format!("writing {}", cfg.display()))?;
    let log = dir.join("agent.log");
    let logf = File::create(&log).with_context(|| format!("creating {}", log.display()))?;
    let bpffs = match pins {
        Some(p) => p.to_path_buf(),
        None => {
            let b = PathBuf::from(BPFFS_ROOT).join(&tag);
            fs::create_dir_all(&b).with_context(|| format!("creating {}", b.display()))?;
            b
        }
    };
    register_dir(&bpffs);

    let argv = argv(&cfg, &bpffs);
    let spawned = match argv.split_first() {
        Some((program, args)) => {
            let mut cmd = host.ns.cmd(&program.to_string_lossy());
            cmd.args(args).stdin(Stdio::null()).stdout(logf.try_clone()?).stderr(logf);
            if std::env::var_os("RUST_LOG").is_none() {
                cmd.env("RUST_LOG", "info");
            }
            spawn_registered(cmd, &host.ns.name)
        }
        None => Err(anyhow!("an empty agent command line")),
    };
    let child = match spawned {
        Ok(c) => c,
        Err(e) => {
            let _ = fs::remove_dir_all(&bpffs);
            unregister_dir(&bpffs);
            return Err(e);
        }
    };
    Ok(Agent { daemon: Daemon::new("agent", child, host, log, cfg, dir), bpffs, keep_pins: false })
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.daemon.stop_and_reap();
        if !self.keep_pins {
            let _ = fs::remove_dir_all(&self.bpffs);
            unregister_dir(&self.bpffs);
        }
        self.daemon.report_or_clean();
    }
}

/// Attaches a pass-through XDP program (generic mode) to `host`'s interface, as another
/// tool would: the agent must refuse to replace it unless forced.
pub fn attach_foreign_xdp(host: &Host) -> Result<()> {
    ensure_bpffs()?;
    fs::create_dir_all(BPFFS_ROOT).with_context(|| format!("creating {BPFFS_ROOT}"))?;
    let pin = PathBuf::from(BPFFS_ROOT).join(format!("{}-foreign", host.ns.name));
    register_dir(&pin);
    let res = (|| {
        xdp_pass::load_and_pin(&pin)?;
        let pin_s = pin.to_string_lossy().into_owned();
        host.ns.run("ip", &["link", "set", "dev", &host.ifname, "xdpgeneric", "pinned", &pin_s]).map(|_| ())
    })();
    let _ = fs::remove_file(&pin);
    unregister_dir(&pin);
    res
}

/// The id of the XDP program on `host`'s interface (`ip -d link`), if any.
pub fn xdp_prog_id(host: &Host) -> Option<u32> {
    let out = host.ns.ip(&["-d", "link", "show", "dev", &host.ifname]).ok()?;
    let at = out.find("prog/xdp id ")?;
    out[at + "prog/xdp id ".len()..].split_whitespace().next()?.parse().ok()
}

// ---------------------------------------------------------------------------------------
// keepalived (the interop peer)
// ---------------------------------------------------------------------------------------

/// The keepalived binary: env `KEEPALIVED_BIN`, else `/usr/sbin/keepalived`.
pub fn keepalived_binary() -> Result<PathBuf> {
    let p = std::env::var_os("KEEPALIVED_BIN").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/usr/sbin/keepalived"));
    if !p.is_file() {
        bail!("no keepalived at {} (install the Debian package `keepalived`, or set KEEPALIVED_BIN)", p.display());
    }
    Ok(p)
}

/// A running keepalived (VRRP subsystem only) inside a host's namespace. Drop: SIGKILL
/// its process group (the parent and its VRRP child), reap it, remove its temp dir (config,
/// pid files, log); the log is kept only if the thread is panicking or
/// [`Daemon::keep_files`] was called ([`Daemon`] methods through `Deref`).
pub struct Keepalived {
    daemon: Daemon,
}

impl std::ops::Deref for Keepalived {
    type Target = Daemon;
    fn deref(&self) -> &Daemon {
        &self.daemon
    }
}

impl std::ops::DerefMut for Keepalived {
    fn deref_mut(&mut self) -> &mut Daemon {
        &mut self.daemon
    }
}

/// Write `config` and start `keepalived -f CONFIG --dont-fork --log-console --log-detail
/// --no-syslog --vrrp` in the host's namespace (`nsenter --net`, host mount namespace kept).
/// Every file keepalived writes goes to `<tmp>/vrrp-tests/<ns>-k<n>/`: the pid files of the
/// parent, the VRRP, checker and BFD children (`--pid`, `--vrrp_pid`, `--checkers_pid`,
/// `--bfd_pid`), so several keepalived instances on one machine never see each other's
/// pid files ("daemon is already running"), and `keepalived.log` (stdout and stderr).
/// Nothing is written to /run or /etc: keepalived 2.2.7 needs no /etc/keepalived when given
/// `-f`, and no `script_user` when the config has no scripts.
/// keepalived runs in its own process group (with its VRRP child); the group and the temp
/// dir are registered for Ctrl-C cleanup ([`install_ctrlc_cleanup`] kills the group and
/// removes the dir), and the kernel SIGKILLs the keepalived parent if the spawning thread
/// dies (PR_SET_PDEATHSIG).
pub fn spawn_keepalived(host: &Host, config: &str) -> Result<Keepalived> {
    spawn_keepalived_env(host, config, &[])
}

/// [`spawn_keepalived`] with extra environment variables (e.g. `TMPDIR`, where keepalived
/// writes its SIGUSR1/SIGUSR2/JSON dumps).
pub fn spawn_keepalived_env(host: &Host, config: &str, env: &[(&str, &Path)]) -> Result<Keepalived> {
    let bin = keepalived_binary()?;
    let dir = run_tmp_dir(&format!("{}-k{}", host.ns.name, next_id()))?;
    let cfg = dir.join("keepalived.conf");
    fs::write(&cfg, config).with_context(|| format!("writing {}", cfg.display()))?;
    let log = dir.join("keepalived.log");
    let logf = File::create(&log).with_context(|| format!("creating {}", log.display()))?;
    // Ctrl-C cleanup removes the whole dir (pid files included) after killing keepalived.
    register_dir(&dir);
    let mut cmd = host.ns.cmd(&bin.to_string_lossy());
    cmd.arg("--use-file")
        .arg(&cfg)
        .args(["--dont-fork", "--log-console", "--log-detail", "--no-syslog", "--vrrp"])
        .arg("--pid")
        .arg(dir.join("keepalived.pid"))
        .arg("--vrrp_pid")
        .arg(dir.join("vrrp.pid"))
        .arg("--checkers_pid")
        .arg(dir.join("checkers.pid"))
        .arg("--bfd_pid")
        .arg(dir.join("bfd.pid"))
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(logf.try_clone()?)
        .stderr(logf);
    let child = match spawn_registered(cmd, &host.ns.name) {
        Ok(c) => c,
        Err(e) => {
            let _ = fs::remove_dir_all(&dir);
            unregister_dir(&dir);
            return Err(e);
        }
    };
    Ok(Keepalived { daemon: Daemon::new("keepalived", child, host, log, cfg, dir) })
}

impl Drop for Keepalived {
    fn drop(&mut self) {
        // Killing the group also takes keepalived's VRRP child.
        self.daemon.stop_and_reap();
        // A SIGKILLed keepalived leaves its pid files behind.
        for f in ["keepalived.pid", "vrrp.pid", "checkers.pid", "bfd.pid"] {
            let _ = fs::remove_file(self.daemon.dir.join(f));
        }
        unregister_dir(&self.daemon.dir);
        self.daemon.report_or_clean();
    }
}

// ---------------------------------------------------------------------------------------
// Ping
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PingReply {
    /// `-D` timestamp, seconds since the epoch.
    pub ts: f64,
    pub seq: u32,
    pub dup: bool,
}

/// Parse `ping -D -n` output: one [`PingReply`] per "... bytes from ..." line.
pub fn parse_ping_output(text: &str) -> Vec<PingReply> {
    text.lines()
        .filter_map(|l| {
            let l = l.trim();
            let rest = l.strip_prefix('[')?;
            let (ts, rest) = rest.split_once(']')?;
            if !rest.contains("bytes from") {
                return None;
            }
            let ts: f64 = ts.trim().parse().ok()?;
            let seq = rest
                .split_whitespace()
                .find_map(|w| w.strip_prefix("icmp_seq="))
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            Some(PingReply { ts, seq, dup: rest.contains("DUP!") })
        })
        .collect()
}

/// `N packets transmitted` from ping's summary.
pub fn parse_ping_transmitted(text: &str) -> Option<u32> {
    text.lines().find_map(|l| l.split_once(" packets transmitted")?.0.trim().parse().ok())
}

/// The longest interval between consecutive timestamps (sorted first); None if < 2.
pub fn longest_gap(ts: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = ts.iter().copied().filter(|t| t.is_finite()).collect();
    if v.len() < 2 {
        return None;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    v.windows(2).map(|w| w[1] - w[0]).reduce(f64::max)
}

/// A bounded background `ping -D -n -i <interval> -W 1 -w <secs>` from a host.
pub struct Pinger {
    pub pid: u32,
    pub dst: IpAddr,
    pub out: PathBuf,
    dir: PathBuf,
    secs: u32,
    child: Option<Child>,
}

/// Start pinging `dst` (must be in 198.18.0.0/15) from `host` every 10 ms for at most
/// `secs` (1..=600) seconds.
pub fn start_ping(host: &Host, dst: Ipv4Addr, secs: u32) -> Result<Pinger> {
    start_ping_every(host, dst, Duration::from_millis(10), secs)
}

/// [`start_ping`] with another probe interval (1 ms..=1 s; below 2 ms needs root).
pub fn start_ping_every(host: &Host, dst: Ipv4Addr, every: Duration, secs: u32) -> Result<Pinger> {
    if !in_test_range(dst) {
        bail!("refusing to ping {dst}: outside 198.18.0.0/15");
    }
    start_pinger(host, IpAddr::V4(dst), every, secs)
}

/// [`start_ping_every`] for an IPv6 destination (must be in 2001:db8::/32), `ping -6`.
pub fn start_ping6_every(host: &Host, dst: Ipv6Addr, every: Duration, secs: u32) -> Result<Pinger> {
    if !in_test_range_v6(dst) {
        bail!("refusing to ping {dst}: outside 2001:db8::/32");
    }
    start_pinger(host, IpAddr::V6(dst), every, secs)
}

fn start_pinger(host: &Host, dst: IpAddr, every: Duration, secs: u32) -> Result<Pinger> {
    if !(Duration::from_millis(1)..=Duration::from_secs(1)).contains(&every) {
        bail!("ping interval {every:?} out of range 1 ms..=1 s");
    }
    if !(1..=600).contains(&secs) {
        bail!("ping duration {secs} s out of range 1..=600");
    }
    let dir = run_tmp_dir(&format!("{}-ping{}", host.ns.name, next_id()))?;
    let out = dir.join("ping.out");
    let f = File::create(&out)?;
    let mut cmd = host.ns.cmd("ping");
    if dst.is_ipv6() {
        cmd.arg("-6");
    }
    let every = format!("{:.3}", every.as_secs_f64());
    cmd.args(["-D", "-n", "-i", &every, "-W", "1", "-w", &secs.to_string(), &dst.to_string()])
        .stdin(Stdio::null())
        .stdout(f.try_clone()?)
        .stderr(f);
    let child = spawn_registered(cmd, &host.ns.name)?;
    Ok(Pinger { pid: child.id(), dst, out, dir, secs, child: Some(child) })
}

impl Pinger {
    pub fn output(&self) -> String {
        fs::read_to_string(&self.out).unwrap_or_default()
    }

    /// Replies seen so far (ping flushes each line).
    pub fn replies_so_far(&self) -> Vec<PingReply> {
        parse_ping_output(&self.output())
    }

    /// SIGINT now (ping prints its summary and exits), then [`Pinger::finish_replies`].
    pub fn stop(mut self) -> Result<Vec<PingReply>> {
        if let Some(c) = self.child.as_mut()
            && matches!(c.try_wait(), Ok(None))
        {
            // SAFETY: un-reaped child of ours.
            unsafe {
                libc::kill(self.pid as libc::pid_t, libc::SIGINT);
            }
        }
        self.finish_replies()
    }

    /// Wait for ping to end (at most its deadline + 5 s, then SIGKILL) and return the
    /// reply timestamps.
    pub fn finish(self) -> Result<Vec<f64>> {
        Ok(self.finish_replies()?.iter().map(|r| r.ts).collect())
    }

    /// SIGINT now, wait for ping to end, and return the replies with the number of probes
    /// ping says it transmitted (from its summary line; None if it printed none).
    pub fn stop_counted(mut self) -> Result<(Vec<PingReply>, Option<u32>)> {
        if let Some(c) = self.child.as_mut()
            && matches!(c.try_wait(), Ok(None))
        {
            // SAFETY: un-reaped child of ours.
            unsafe {
                libc::kill(self.pid as libc::pid_t, libc::SIGINT);
            }
        }
        let replies = self.finish_inner()?;
        Ok((replies, parse_ping_transmitted(&self.output())))
    }

    pub fn finish_replies(mut self) -> Result<Vec<PingReply>> {
        self.finish_inner()
    }

    fn finish_inner(&mut self) -> Result<Vec<PingReply>> {
        let mut child = self.child.take().ok_or_else(|| anyhow!("ping already finished"))?;
        let limit = Duration::from_secs(u64::from(self.secs) + 5);
        let st = wait_for(limit, "ping to finish", || child.try_wait().ok().flatten());
        let st = match st {
            Ok(st) => st,
            Err(e) => {
                sigkill(self.pid);
                let _ = child.wait();
                unregister_pid(self.pid);
                return Err(e);
            }
        };
        unregister_pid(self.pid);
        let text = self.output();
        // ping: 0 = replies, 1 = no reply / deadline, 2 = error.
        if st.code() == Some(2) {
            bail!("ping {} failed: {}", self.dst, text.trim());
        }
        Ok(parse_ping_output(&text))
    }
}

impl Drop for Pinger {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            sigkill(self.pid);
            let _ = c.wait();
            unregister_pid(self.pid);
        }
        if !std::thread::panicking() {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

// ---------------------------------------------------------------------------------------
// Stale cleanup
// ---------------------------------------------------------------------------------------

/// Remove leftovers of earlier runs: namespaces and bpffs dirs named with our prefix whose
/// creator pid is dead. Processes still inside such namespaces are reported, not killed.
pub fn cleanup_stale() {
    let me = std::process::id();
    let stale = |name: &str| matches!(prefix_pid(name), Some(p) if p != me && !pid_alive(p));
    for ns in list_netns() {
        if !stale(&ns) {
            continue;
        }
        if let Ok(pids) = ip(&["netns", "pids", &ns])
            && !pids.trim().is_empty()
        {
            eprintln!("warning: stale netns {ns} still has processes: {}", pids.split_whitespace().collect::<Vec<_>>().join(" "));
        }
        match ip(&["netns", "del", &ns]) {
            Ok(_) => eprintln!("removed stale netns {ns}"),
            Err(e) => eprintln!("warning: {e}"),
        }
    }
    if let Ok(rd) = fs::read_dir(BPFFS_ROOT) {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if stale(&name) {
                let _ = fs::remove_dir_all(e.path()).or_else(|_| fs::remove_file(e.path()));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------

// ---------------------------------------------------------------------------------------
// Helper processes (tracked processes, scripts' fixtures)
// ---------------------------------------------------------------------------------------

/// A scratch directory for one test, `<tmp>/vrrp-tests/<tag>` (created empty; removed by
/// the caller's `ScratchDir` drop).
pub struct ScratchDir {
    pub path: PathBuf,
}

impl ScratchDir {
    pub fn new(tag: &str) -> Result<ScratchDir> {
        let path = run_tmp_dir(&format!("{tag}-{}", next_id()))?;
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).with_context(|| format!("creating {}", path.display()))?;
        Ok(ScratchDir { path })
    }

    /// Writes an executable file (mode 0755) and returns its path.
    pub fn script(&self, name: &str, text: &str) -> Result<PathBuf> {
        use std::os::unix::fs::PermissionsExt;
        let p = self.path.join(name);
        fs::write(&p, text).with_context(|| format!("writing {}", p.display()))?;
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755))?;
        Ok(p)
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

/// A process the test started in a host's namespace, SIGKILLed (by pid) and reaped on drop.
pub struct Proc {
    child: Child,
}

impl Proc {
    pub fn spawn(host: &Host, program: &Path, args: &[&str]) -> Result<Proc> {
        let mut cmd = host.ns.cmd(&program.to_string_lossy());
        cmd.args(args).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
        Ok(Proc { child: spawn_registered(cmd, &host.ns.name)? })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL and reap now.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Whether a process with this pid exists (and is not a zombie).
pub fn pid_alive(pid: u32) -> bool {
    proc_stat_fields(pid).is_some_and(|f| f.first().map(String::as_str) != Some("Z"))
}

/// The fields of /proc/PID/stat after the command name (the first is the state), or None
/// once the process is gone.
fn proc_stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    Some(stat.rsplit(')').next().unwrap_or("").split_whitespace().map(str::to_string).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gap_computation() {
        assert_eq!(longest_gap(&[]), None);
        assert_eq!(longest_gap(&[1.0]), None);
        let g = longest_gap(&[1.0, 1.01, 1.02, 4.5, 4.51]).expect("gap");
        assert!((g - 3.48).abs() < 1e-9, "{g}");
        // unsorted input
        let g = longest_gap(&[5.0, 1.0, 2.0]).expect("gap");
        assert!((g - 3.0).abs() < 1e-9);
        assert_eq!(longest_gap(&[f64::NAN, 1.0]), None);
    }

    #[test]
    fn ping_output_parsing() {
        let text = "PING 198.18.0.100 (198.18.0.100) 56(84) bytes of data.\n\
[1795309648.521027] 64 bytes from 198.18.0.100: icmp_seq=1 ttl=64 time=0.046 ms\n\
[1795309648.537945] 64 bytes from 198.18.0.100: icmp_seq=2 ttl=64 time=0.061 ms\n\
[1795309648.540000] From 198.18.0.10 icmp_seq=3 Destination Host Unreachable\n\
[1795309648.550000] 64 bytes from 198.18.0.100: icmp_seq=2 ttl=64 time=0.061 ms (DUP!)\n\
\n--- 198.18.0.100 ping statistics ---\n\
3 packets transmitted, 2 received, +1 duplicates, 33% packet loss, time 20ms\n";
        let r = parse_ping_output(text);
        assert_eq!(r.len(), 3);
        assert_eq!(r[0], PingReply { ts: 1795309648.521027, seq: 1, dup: false });
        assert_eq!(r[1].seq, 2);
        assert!(r[2].dup);
        assert!(parse_ping_output("garbage\n[x] 64 bytes from").is_empty());
        assert_eq!(parse_ping_transmitted(text), Some(3));
        assert_eq!(parse_ping_transmitted("nothing"), None);
    }

    #[test]
    fn names() {
        let p = make_prefix(123456, 7, "Fail-Over_Test!");
        assert_eq!(p, "vrt123456x7-failoverte");
        assert_eq!(prefix_pid(&p), Some(123456));
        assert_eq!(prefix_pid(&format!("{p}-r1")), Some(123456));
        assert_eq!(prefix_pid("vrtx1-a"), None);
        assert_eq!(prefix_pid("other-ns"), None);
        assert_eq!(prefix_pid("vrt12x-a"), None);
        assert_ne!(new_prefix("a"), new_prefix("a"));
        assert!(new_prefix("a").contains(&std::process::id().to_string()));
        for (i, h) in [(0, "r1"), (249, "averyveryverylonghostname"), (3, "client")] {
            let port = switch_port_name(i, h);
            assert!(valid_ifname(&port), "{port}");
        }
        assert_eq!(switch_port_name(2, "client"), "p2-client");
        assert!(valid_ifname("eth0") && valid_ifname("br0"));
        assert!(!valid_ifname("") && !valid_ifname("sixteen-chars-xx") && !valid_ifname("a/b"));
        assert_eq!(sanitize_tag("", 5), "x");
    }

    #[test]
    fn test_range() {
        assert!(in_test_range("198.18.0.1".parse().expect("ip")));
        assert!(in_test_range("198.19.255.255".parse().expect("ip")));
        assert!(!in_test_range("198.20.0.1".parse().expect("ip")));
        assert!(!in_test_range("198.17.255.255".parse().expect("ip")));
        assert!(!in_test_range("10.0.0.1".parse().expect("ip")));
    }

    #[test]
    fn ip_json_and_netns_list_parsing() {
        let j = r#"[{"ifindex":2,"ifname":"eth0","addr_info":[{"family":"inet","local":"198.18.0.1","prefixlen":24},{"family":"inet","local":"198.18.0.100","prefixlen":24}]}]"#;
        assert_eq!(
            parse_ip_addr_json(j).expect("parse"),
            vec![Ipv4Addr::new(198, 18, 0, 1), Ipv4Addr::new(198, 18, 0, 100)]
        );
        assert!(parse_ip_addr_json("[]").expect("parse").is_empty());
        assert!(parse_ip_addr_json("[{}]").expect("parse").is_empty());
        assert!(parse_ip_addr_json("not json").is_err());
        assert_eq!(parse_netns_list("a (id: 1)\nb\n\n"), vec!["a", "b"]);
        let n = r#"[{"dst":"198.18.0.100","dev":"eth0","lladdr":"02:76:72:00:00:02","state":["REACHABLE"]}]"#;
        let vip = Ipv4Addr::new(198, 18, 0, 100);
        assert_eq!(parse_neigh_json(n, vip).as_deref(), Some("02:76:72:00:00:02"));
        assert_eq!(parse_neigh_json(r#"[{"dst":"198.18.0.100","dev":"eth0","state":["FAILED"]}]"#, vip), None);
        assert_eq!(parse_neigh_json("[]", vip), None);
    }

    #[test]
    fn wait_for_times_out_and_succeeds() {
        let mut n = 0;
        assert_eq!(wait_for(Duration::from_secs(1), "n", || { n += 1; (n == 3).then_some(n) }).expect("ok"), 3);
        let e = wait_for::<()>(Duration::from_millis(30), "the moon", || None).expect_err("timeout");
        assert!(e.to_string().contains("the moon"), "{e}");
    }

    #[test]
    fn lan_three_hosts_ping_and_cleanup() {
        if !require_root("lan_three_hosts_ping_and_cleanup") {
            return;
        }
        let a = Ipv4Addr::new(198, 18, 0, 1);
        let b = Ipv4Addr::new(198, 18, 0, 2);
        let c = Ipv4Addr::new(198, 18, 0, 3);
        let lan = lan("harness", &[("a", a), ("b", b), ("c", c)]).expect("lan");
        let names: Vec<String> = lan
            .hosts
            .iter()
            .map(|h| h.ns.name.clone())
            .chain([lan.switch.name.clone()])
            .collect();
        for n in &names {
            assert!(Netns::exists(n), "{n} missing");
        }
        assert_eq!(ipv4_addrs(lan.host("a")).expect("addrs"), vec![a]);
        assert!(has_addr(lan.host("b"), b));
        assert_eq!(lan.switch_ports(), vec!["p0-a", "p1-b", "p2-c"]);
        assert!(ping_once(lan.host("a"), b), "a cannot ping b");
        assert!(ping_once(lan.host("c"), a), "c cannot ping a");
        // Isolating b cuts it off; reconnecting restores it.
        lan.isolate("b").expect("isolate");
        assert!(!ping_once(lan.host("a"), b), "b still reachable while isolated");
        lan.reconnect("b").expect("reconnect");
        wait_for(Duration::from_secs(3), "b reachable again", || ping_once(lan.host("a"), b).then_some(()))
            .expect("reconnect");
        drop(lan);
        let left = list_netns();
        for n in &names {
            assert!(!left.contains(n), "{n} still exists after drop");
        }
    }

    #[test]
    fn pinger_measures_replies() {
        if !require_root("pinger_measures_replies") {
            return;
        }
        let lan = lan("pinger", &[("a", Ipv4Addr::new(198, 18, 1, 1)), ("b", Ipv4Addr::new(198, 18, 1, 2))])
            .expect("lan");
        let p = start_ping(lan.host("a"), Ipv4Addr::new(198, 18, 1, 2), 5).expect("ping");
        wait_for(Duration::from_secs(3), "first reply", || (!p.replies_so_far().is_empty()).then_some(()))
            .expect("reply");
        std::thread::sleep(Duration::from_millis(300));
        let r = p.stop().expect("stop");
        assert!(r.len() >= 10, "only {} replies", r.len());
        let ts: Vec<f64> = r.iter().map(|x| x.ts).collect();
        let g = longest_gap(&ts).expect("gap");
        assert!(g < 0.5, "gap {g}");
        assert!(start_ping(lan.host("a"), Ipv4Addr::new(10, 0, 0, 1), 1).is_err());
    }

    /// spawn_agent with a stand-in script: CLI shape, netns, bpffs dir, log, and that
    /// dropping the Agent kills what it started (its process group) and removes its dirs.
    #[test]
    fn spawn_agent_with_stand_in() {
        if !require_root("spawn_agent_with_stand_in") {
            return;
        }
        let lan = lan("agent", &[("a", Ipv4Addr::new(198, 18, 3, 1))]).expect("lan");
        let dir = run_tmp_dir(&format!("{}-fakebin", lan.prefix)).expect("dir");
        let bin = dir.join("fake-agent");
        fs::write(
            &bin,
            "#!/bin/sh\nsleep 60 &\necho \"args: $*\"\ngrep -q eth0 /proc/net/dev && echo in-netns\n\
             [ -d \"$5\" ] && echo bpffs-ok\necho ready\nwait\n",
        )
        .expect("write");
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&bin, fs::Permissions::from_mode(0o755)).expect("chmod");
        }
        let mut agent = spawn_agent(&bin, lan.host("a"), "vrrp_instance X {}\n", &["--xdp-mode", "skb"])
            .expect("spawn");
        wait_for(Duration::from_secs(5), "fake agent ready", || agent.log_text().contains("ready").then_some(()))
            .expect("ready");
        let log = agent.log_text();
        assert!(log.contains("args: run -f "), "{log}");
        assert!(log.contains(&format!("--bpffs {}/", BPFFS_ROOT)) && log.contains("--xdp-mode skb"), "{log}");
        assert!(log.contains("in-netns") && log.contains("bpffs-ok"), "{log}");
        assert_eq!(fs::read_to_string(&agent.config).expect("cfg"), "vrrp_instance X {}\n");
        assert!(agent.is_running());
        let (pid, bpffs, adir) = (agent.pid, agent.bpffs.clone(), agent.dir.clone());
        assert!(group_has_members(pid));
        // SIGTERM reaches the shell only; its background sleep survives in the group ...
        agent.terminate();
        agent.wait_exit(Duration::from_secs(5)).expect("exit");
        assert!(!agent.is_running());
        assert!(group_has_members(pid), "expected the stray sleep to outlive the shell");
        // ... until the Agent is dropped.
        drop(agent);
        wait_for(Duration::from_secs(2), "the agent's process group to be empty", || {
            (!group_has_members(pid)).then_some(())
        })
        .expect("group killed");
        assert!(!bpffs.exists() && !adir.exists());
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn cleanup_stale_removes_dead_runs_only() {
        if !require_root("cleanup_stale_removes_dead_runs_only") {
            return;
        }
        // pid_max is at most 2^22, so this creator pid is certainly dead.
        let dead = make_prefix(4_999_999, next_id(), "stale");
        let live = new_prefix("live");
        let dead_ns = format!("{dead}-sw");
        ip(&["netns", "add", &dead_ns]).expect("add stale ns");
        let live_ns = Netns::create(&format!("{live}-sw")).expect("live ns");
        ensure_bpffs().expect("bpffs");
        let dead_dir = PathBuf::from(BPFFS_ROOT).join(format!("{dead}-r1-a0"));
        fs::create_dir_all(&dead_dir).expect("mkdir");
        cleanup_stale();
        assert!(!Netns::exists(&dead_ns), "stale netns survived");
        assert!(!dead_dir.exists(), "stale bpffs dir survived");
        assert!(Netns::exists(&live_ns.name), "live netns removed");
    }

    #[test]
    fn xdp_pass_on_switch_ports() {
        if !require_root("xdp_pass_on_switch_ports") {
            return;
        }
        let lan = lan("xdppass", &[("a", Ipv4Addr::new(198, 18, 2, 1)), ("b", Ipv4Addr::new(198, 18, 2, 2))])
            .expect("lan");
        lan.attach_xdp_pass_to_switch_ports().expect("attach");
        let out = lan.switch.ip(&["-d", "link", "show", "dev", "p0-a"]).expect("show");
        assert!(out.contains("xdp"), "{out}");
        assert!(ping_once(lan.host("a"), Ipv4Addr::new(198, 18, 2, 2)));
    }
}
