//! `cargo xtask <cmd>`: setup, build, run, test, lab, bench.
//!
//! Compiles with stable alone and does not depend on vrrp-agent, so it works on a fresh
//! machine before the eBPF toolchain exists (`cargo xtask setup` installs it).

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand, ValueEnum};
use std::ffi::OsString;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use vrrp_tests as harness;

#[derive(Parser)]
#[command(name = "cargo xtask", about = "Developer tasks for vrrp-ebpf")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Install what the build and the tests need (idempotent): rust-src for nightly,
    /// bpf-linker, Debian packages, bpffs mount.
    Setup,
    /// Build the release agent (embeds the eBPF object).
    Build,
    /// Build the release agent and exec it: `cargo xtask run -- run -f vrrp.conf`.
    Run {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<OsString>,
    },
    /// Set everything up, build the release agent, run `cargo test --workspace --release`.
    /// Arguments after `--` go to cargo test.
    Test {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<OsString>,
    },
    /// Three routers and a client in network namespaces; kill the master; measure failover.
    Lab(LabOpts),
    /// Benchmarks that print figures: XDP per-packet cost, agent CPU and memory.
    Bench {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<OsString>,
    },
}

#[derive(clap::Args, Clone)]
struct LabOpts {
    /// VRRP version of the generated configs.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u8).range(2..=3))]
    version: u8,
    /// Advertisement interval in centiseconds (v2: a multiple of 100).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u16).range(1..=4095))]
    advert_int_cs: u16,
    /// XDP attach mode passed to the agents.
    #[arg(long, value_enum, default_value_t = XdpMode::Auto)]
    xdp_mode: XdpMode,
    /// Only SIGKILL the master's agent; by default its switch port is also taken down, as
    /// if the host died (otherwise its kernel keeps answering for the VIP it still holds).
    #[arg(long)]
    no_isolate: bool,
    /// Use this binary instead of building target/release/vrrp-agent (it is run as
    /// `BIN run -f CONF --bpffs DIR --xdp-mode MODE`).
    #[arg(long)]
    agent_bin: Option<PathBuf>,
    /// Keep agent configs and logs (printed paths) even on success.
    #[arg(long)]
    keep_logs: bool,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum XdpMode {
    Auto,
    Native,
    Skb,
}

impl XdpMode {
    fn as_str(self) -> &'static str {
        match self {
            XdpMode::Auto => "auto",
            XdpMode::Native => "native",
            XdpMode::Skb => "skb",
        }
    }
}

fn main() {
    let cli = Cli::parse();
    let r = match cli.cmd {
        Cmd::Setup => setup(),
        Cmd::Build => build().map(|_| ()),
        Cmd::Run { args } => run(&args),
        Cmd::Test { args } => test(&args),
        Cmd::Lab(o) => lab(&o),
        Cmd::Bench { args } => bench(&args),
    };
    if let Err(e) = r {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

// ---------------------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------------------

fn workspace_root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.parent().unwrap_or(here).to_path_buf()
}

fn cargo() -> Command {
    let mut c = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    c.current_dir(workspace_root());
    // bpf-linker (and other cargo-installed tools) must be found by the agent's build.rs
    // even when $CARGO_HOME/bin is not on PATH.
    let bin = cargo_home().join("bin");
    let path = std::env::var_os("PATH").unwrap_or_default();
    if !std::env::split_paths(&path).any(|p| p == bin)
        && let Ok(joined) = std::env::join_paths(std::env::split_paths(&path).chain([bin]))
    {
        c.env("PATH", joined);
    }
    c
}

fn cargo_home() -> PathBuf {
    if let Some(h) = std::env::var_os("CARGO_HOME") {
        return PathBuf::from(h);
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/root"));
    home.join(".cargo")
}

fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

/// Run with inherited stdio; error unless it succeeds.
fn stream(cmd: &mut Command) -> Result<()> {
    let st = stream_status(cmd)?;
    if !st.success() {
        bail!("`{}` failed ({st})", describe(cmd));
    }
    Ok(())
}

fn stream_status(cmd: &mut Command) -> Result<ExitStatus> {
    cmd.status().with_context(|| format!("cannot start `{}`", describe(cmd)))
}

/// Run capturing output; (success, stdout, stderr). Err only if it cannot start.
fn capture(cmd: &mut Command) -> Result<(bool, String, String)> {
    let o = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot start `{}`", describe(cmd)))?;
    Ok((
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    ))
}

fn say(step: &str, what: &str) {
    println!("[setup] {step}: {what}");
}

// ---------------------------------------------------------------------------------------
// setup
// ---------------------------------------------------------------------------------------

const PACKAGES: &[&str] =
    &["bpftool", "iproute2", "iputils-ping", "arping", "tcpdump", "keepalived", "tshark", "ethtool"];

fn setup() -> Result<()> {
    let root = harness::is_root();
    if !root {
        println!("[setup] not root: Debian packages and the bpffs mount need root (sudo cargo xtask setup)");
    }
    let mut failed = Vec::new();
    for (name, r) in [
        ("rust-src", ensure_rust_src()),
        ("bpf-linker", ensure_bpf_linker()),
        ("packages", ensure_packages()),
        ("bpffs", ensure_bpffs()),
    ] {
        if let Err(e) = r {
            eprintln!("[setup] {name}: FAILED: {e:#}");
            failed.push(name);
        }
    }
    if !failed.is_empty() {
        bail!("setup incomplete: {} failed", failed.join(", "));
    }
    println!("[setup] all done");
    Ok(())
}

/// rust-src for nightly + bpf-linker: what building the eBPF crate needs.
fn ensure_ebpf_toolchain() -> Result<()> {
    ensure_rust_src()?;
    ensure_bpf_linker()
}

fn ensure_rust_src() -> Result<()> {
    let step = "rust-src for nightly";
    let (ok, out, err) = capture(Command::new("rustup").args(["component", "list", "--toolchain", "nightly", "--installed"]))
        .context("rustup is needed")?;
    if !ok {
        bail!(
            "the `nightly` toolchain is not usable ({}); it is expected to be preinstalled \
             (RUSTUP_AUTO_INSTALL=0 stops rustup from fetching it)",
            err.trim()
        );
    }
    if out.lines().any(|l| l.trim() == "rust-src" || l.starts_with("rust-src")) {
        say(step, "ok (already installed)");
        return Ok(());
    }
    say(step, "installing (rustup component add rust-src --toolchain nightly)");
    stream(Command::new("rustup").args(["component", "add", "rust-src", "--toolchain", "nightly"]))?;
    say(step, "ok (installed)");
    Ok(())
}

/// `bpf-linker --version` from PATH, else from $CARGO_HOME/bin.
fn bpf_linker_version() -> Option<(PathBuf, String)> {
    let candidates = [PathBuf::from("bpf-linker"), cargo_home().join("bin").join("bpf-linker")];
    for c in candidates {
        if let Ok((true, out, _)) = capture(Command::new(&c).arg("--version")) {
            return Some((c, out.trim().to_string()));
        }
    }
    None
}

/// The libLLVM shared object inside the nightly sysroot.
fn nightly_libllvm() -> Result<PathBuf> {
    let (ok, out, err) = capture(Command::new("rustc").args(["+nightly", "--print", "sysroot"]))?;
    if !ok {
        bail!("`rustc +nightly --print sysroot` failed: {}", err.trim());
    }
    let lib = PathBuf::from(out.trim()).join("lib");
    let mut found: Vec<PathBuf> = std::fs::read_dir(&lib)
        .with_context(|| format!("reading {}", lib.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("libLLVM.so."))
                && p.metadata().is_ok_and(|m| m.is_file() && m.len() > 1 << 20)
        })
        .collect();
    found.sort();
    found
        .pop()
        .with_context(|| format!("no libLLVM.so.* in {} (is the nightly toolchain complete?)", lib.display()))
}

/// DT_SONAME of a shared object, via readelf if available.
fn soname(lib: &Path) -> Option<String> {
    let (ok, out, _) = capture(Command::new("readelf").arg("-d").arg(lib)).ok()?;
    if !ok {
        return None;
    }
    out.lines()
        .find(|l| l.contains("(SONAME)"))
        .and_then(|l| Some(l.split_once('[')?.1.split_once(']')?.0.to_string()))
}

fn ensure_symlink(link: &Path, target: &Path) -> Result<()> {
    if std::fs::read_link(link).is_ok_and(|t| t == target) {
        return Ok(());
    }
    if link.symlink_metadata().is_ok() {
        std::fs::remove_file(link).with_context(|| format!("removing {}", link.display()))?;
    }
    std::os::unix::fs::symlink(target, link)
        .with_context(|| format!("linking {} -> {}", link.display(), target.display()))
}

fn ensure_bpf_linker() -> Result<()> {
    let step = "bpf-linker";
    if let Some((path, v)) = bpf_linker_version() {
        let note = if path.components().count() > 1 { format!(" at {} (not on PATH)", path.display()) } else { String::new() };
        say(step, &format!("ok (already installed: {v}{note})"));
        return Ok(());
    }
    let llvm = nightly_libllvm()?;
    let prefix = cargo_home().join("vrrp-bpf-llvm");
    let libdir = prefix.join("lib");
    std::fs::create_dir_all(&libdir).with_context(|| format!("creating {}", libdir.display()))?;
    let file_name = llvm.file_name().context("libLLVM has no file name")?.to_owned();
    ensure_symlink(&libdir.join("libLLVM.so"), &llvm)?;
    ensure_symlink(&libdir.join(&file_name), &llvm)?;
    if let Some(so) = soname(&llvm)
        && so != file_name.to_string_lossy()
    {
        ensure_symlink(&libdir.join(so), &llvm)?;
    }
    say(step, &format!("installing with LLVM_PREFIX={} (libLLVM from the nightly sysroot; takes a few minutes)", prefix.display()));
    let mut c = cargo();
    c.args(["install", "bpf-linker", "--locked"]).env("LLVM_PREFIX", &prefix);
    if cargo_home().join("bin").join("bpf-linker").exists() {
        c.arg("--force"); // present but broken (e.g. its libLLVM moved)
    }
    stream(&mut c)?;
    match bpf_linker_version() {
        Some((_, v)) => say(step, &format!("ok (installed: {v})")),
        None => bail!("bpf-linker was installed but `bpf-linker --version` still fails"),
    }
    Ok(())
}

fn dpkg_installed(pkg: &str) -> bool {
    capture(Command::new("dpkg-query").args(["-W", "-f=${Status}", pkg]))
        .map(|(ok, out, _)| ok && out.trim() == "install ok installed")
        .unwrap_or(false)
}

fn ensure_packages() -> Result<()> {
    let missing: Vec<&str> = PACKAGES.iter().copied().filter(|p| !dpkg_installed(p)).collect();
    for p in PACKAGES.iter().filter(|p| !missing.contains(p)) {
        say(&format!("package {p}"), "ok (already installed)");
    }
    if missing.is_empty() {
        return Ok(());
    }
    if !harness::is_root() {
        bail!("missing Debian packages {} (installing them needs root: sudo cargo xtask setup)", missing.join(" "));
    }
    say("apt-get update", "running");
    stream(Command::new("apt-get").args(["update", "-q"]).env("DEBIAN_FRONTEND", "noninteractive"))?;
    say("packages", &format!("installing {}", missing.join(" ")));
    stream(
        Command::new("apt-get")
            .args(["install", "-y", "-q"])
            .args(&missing)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdin(Stdio::null()),
    )?;
    let still: Vec<&str> = missing.iter().copied().filter(|p| !dpkg_installed(p)).collect();
    if !still.is_empty() {
        bail!("apt-get finished but {} still not installed", still.join(" "));
    }
    for p in &missing {
        say(&format!("package {p}"), "ok (installed)");
    }
    Ok(())
}

fn ensure_bpffs() -> Result<()> {
    let step = "bpffs on /sys/fs/bpf";
    match harness::ensure_bpffs()? {
        true => say(step, "ok (mounted now)"),
        false => say(step, "ok (already mounted)"),
    }
    Ok(())
}

fn ensure_all() -> Result<()> {
    ensure_ebpf_toolchain()?;
    ensure_packages()?;
    ensure_bpffs()
}

// ---------------------------------------------------------------------------------------
// build / run / test / bench
// ---------------------------------------------------------------------------------------

fn release_agent_path() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    target.join("release").join("vrrp-agent")
}

fn build() -> Result<PathBuf> {
    ensure_ebpf_toolchain()?;
    build_release_agent()
}

fn build_release_agent() -> Result<PathBuf> {
    println!("[build] cargo build --release -p vrrp-agent");
    stream(cargo().args(["build", "--release", "-p", "vrrp-agent"]))?;
    let bin = release_agent_path();
    let size = std::fs::metadata(&bin)
        .with_context(|| format!("the build succeeded but {} is missing", bin.display()))?
        .len();
    let shown = bin.strip_prefix(workspace_root()).unwrap_or(&bin);
    println!("[build] {} ({:.1} MiB, {size} bytes)", shown.display(), size as f64 / (1024.0 * 1024.0));
    Ok(bin)
}

/// Arguments after a leading `--` (clap keeps it in trailing args).
fn after_dashdash(args: &[OsString]) -> &[OsString] {
    match args.first() {
        Some(a) if a == "--" => &args[1..],
        _ => args,
    }
}

fn run(args: &[OsString]) -> Result<()> {
    use std::os::unix::process::CommandExt;
    ensure_ebpf_toolchain()?;
    ensure_bpffs()?;
    let bin = build_release_agent()?;
    let args = after_dashdash(args);
    let err = Command::new(&bin).args(args).exec();
    Err(err).with_context(|| format!("exec {}", bin.display()))
}

fn test(args: &[OsString]) -> Result<()> {
    ensure_all()?;
    // Namespaces, pins and processes of earlier runs that were killed before their cleanup
    // ran (only those whose creating process is gone).
    harness::cleanup_stale();
    let bin = build_release_agent()?;
    let args = after_dashdash(args);
    let mut c = cargo();
    c.args(["test", "--workspace", "--release", "--no-fail-fast"]).args(args).env("VRRP_AGENT_BIN", &bin);
    println!("[test] {} (VRRP_AGENT_BIN={})", describe(&c), bin.display());
    let st = stream_status(&mut c)?;
    std::process::exit(st.code().unwrap_or(1));
}

/// Figures, no pass/fail: the XDP program's per-packet cost (BPF_PROG_TEST_RUN on the real
/// object, next to a do-nothing XDP program) and the agent's steady-state CPU and memory in a
/// namespace lab (tests/benches/dataplane.rs).
fn bench(args: &[OsString]) -> Result<()> {
    ensure_all()?;
    let bin = build_release_agent()?;
    let args = after_dashdash(args);
    let mut c = cargo();
    c.args(["bench", "-p", "vrrp-tests", "--bench", "dataplane"]).args(args).env("VRRP_AGENT_BIN", &bin);
    let st = stream_status(&mut c)?;
    std::process::exit(st.code().unwrap_or(1));
}

// ---------------------------------------------------------------------------------------
// lab
// ---------------------------------------------------------------------------------------

const VIP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 100);
const CLIENT: (&str, Ipv4Addr) = ("client", Ipv4Addr::new(198, 18, 0, 10));
const ROUTERS: [(&str, Ipv4Addr, u8); 3] = [
    ("r1", Ipv4Addr::new(198, 18, 0, 1), 150),
    ("r2", Ipv4Addr::new(198, 18, 0, 2), 100),
    ("r3", Ipv4Addr::new(198, 18, 0, 3), 50),
];

/// Master_Down_Interval in integer centiseconds, as the RFCs and the agent compute it:
/// v2 (RFC 3768) 3*Advert + (256-Prio)*100/256; v3 (RFC 5798) 3*Advert + ((256-Prio)*Advert)/256.
fn master_down_interval(version: u8, priority: u8, advert_cs: u16) -> Duration {
    let adv = u64::from(advert_cs);
    let p = 256 - u64::from(priority);
    if version == 2 {
        Duration::from_millis((3 * adv + p * 100 / 256) * 10)
    } else {
        Duration::from_millis((3 * adv + p * adv / 256) * 10)
    }
}

fn advert_int_text(cs: u16) -> String {
    if cs.is_multiple_of(100) {
        format!("{}", cs / 100)
    } else {
        let s = format!("{}.{:02}", cs / 100, cs % 100);
        s.trim_end_matches('0').to_string()
    }
}

fn lab_config(version: u8, advert_cs: u16, priority: u8) -> String {
    let global = if version == 3 { "global_defs {\n    vrrp_version 3\n}\n\n" } else { "" };
    format!(
        "{global}vrrp_instance VI_1 {{\n    state BACKUP\n    interface eth0\n    virtual_router_id 51\n    \
         priority {priority}\n    advert_int {}\n    virtual_ipaddress {{\n        {VIP}/24\n    }}\n}}\n",
        advert_int_text(advert_cs)
    )
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

fn holders(lan: &harness::Lan, names: &[&str]) -> Vec<String> {
    names.iter().filter(|n| harness::has_addr(lan.host(n), VIP)).map(|n| n.to_string()).collect()
}

fn lab(o: &LabOpts) -> Result<()> {
    if o.version == 2 && !o.advert_int_cs.is_multiple_of(100) {
        bail!("VRRPv2 advert_int is whole seconds: --advert-int-cs must be a multiple of 100");
    }
    if !harness::is_root() {
        bail!("the lab needs root (network namespaces, XDP, bpffs)");
    }
    let bin = match &o.agent_bin {
        Some(b) => {
            ensure_packages()?;
            ensure_bpffs()?;
            b.canonicalize().with_context(|| format!("agent binary {}", b.display()))?
        }
        None => {
            ensure_all()?;
            build_release_agent()?
        }
    };
    harness::install_ctrlc_cleanup();
    harness::cleanup_stale();

    let mut hosts: Vec<(&str, Ipv4Addr)> = ROUTERS.iter().map(|(n, a, _)| (*n, *a)).collect();
    hosts.push(CLIENT);
    let lan = harness::lan("lab", &hosts)?;
    println!("[lab] lan {}: r1 198.18.0.1 (prio 150), r2 .2 (100), r3 .3 (50), client .10; VIP {VIP}", lan.prefix);
    // Native XDP_TX on a veth needs an XDP program on the peer: give every switch port one.
    lan.attach_xdp_pass_to_switch_ports()?;

    let mut agents: Vec<harness::Agent> = Vec::new();
    let r = lab_inner(o, &bin, &lan, &mut agents);
    if r.is_err() || o.keep_logs {
        for a in agents.iter_mut() {
            a.keep_files();
            eprintln!("---- {} agent log {} (last 20 lines):\n{}", a.host_name, a.log.display(), a.log_tail(20));
        }
    }
    drop(agents);
    drop(lan);
    println!("[lab] torn down");
    r
}

fn lab_inner(o: &LabOpts, bin: &Path, lan: &harness::Lan, agents: &mut Vec<harness::Agent>) -> Result<()> {
    let names: Vec<&str> = ROUTERS.iter().map(|r| r.0).collect();
    let adv = Duration::from_millis(u64::from(o.advert_int_cs) * 10);
    for (name, _, prio) in ROUTERS {
        let cfg = lab_config(o.version, o.advert_int_cs, prio);
        let a = harness::spawn_agent(bin, lan.host(name), &cfg, &["--xdp-mode", o.xdp_mode.as_str()])?;
        println!("[lab] started agent on {name} (pid {}, log {})", a.pid, a.log.display());
        agents.push(a);
    }

    // Election: everyone starts as backup; the highest priority takes over after its
    // master-down interval (a lower one may win first if it starts sooner, and is then
    // preempted). Accept a master once it has held the VIP alone for a full master-down
    // interval of the slowest router: by then every backup's timer has had its chance.
    let slowest = master_down_interval(o.version, ROUTERS[2].2, o.advert_int_cs);
    let stable = slowest;
    let deadline = slowest + stable + Duration::from_secs(5);
    println!(
        "[lab] waiting up to {} for one router to hold {VIP} alone for {} (master-down interval of the lowest priority {} + the same again for stability + 5 s slack)",
        ms(deadline),
        ms(stable),
        ms(slowest)
    );
    let t0 = Instant::now();
    let mut current: Option<(String, Instant)> = None;
    let mut changes = 0u32;
    let master = harness::wait_for(deadline, "one router holding the VIP alone, stably", || {
        for a in agents.iter_mut() {
            if !a.is_running() {
                let st = a.exit_status().map(|s| s.to_string()).unwrap_or_default();
                return Some(Err(anyhow::anyhow!("agent on {} exited early ({st})", a.host_name)));
            }
        }
        let h = holders(lan, &names);
        if h.len() != 1 {
            current = None;
            return None;
        }
        match &current {
            Some((m, since)) if *m == h[0] => (since.elapsed() >= stable).then(|| Ok((m.clone(), *since))),
            _ => {
                changes += 1;
                current = Some((h[0].clone(), Instant::now()));
                None
            }
        }
    })??;
    let (master, since) = master;
    println!(
        "[lab] master: {master} (VIP up {} after start{})",
        ms(since - t0),
        if changes > 1 { format!(", after {} changes of holder", changes - 1) } else { String::new() }
    );

    let new_prio = ROUTERS.iter().filter(|r| r.0 != master).map(|r| r.2).max().unwrap_or(0);
    let mdi = master_down_interval(o.version, new_prio, o.advert_int_cs);
    let failover_deadline = mdi + adv + Duration::from_secs(3);
    let ping_secs = (failover_deadline + Duration::from_secs(10)).as_secs().min(600) as u32;
    let pinger = harness::start_ping(lan.host(CLIENT.0), VIP, ping_secs)?;
    harness::wait_for(Duration::from_secs(5), "the client's first ping reply from the VIP", || {
        (!pinger.replies_so_far().is_empty()).then_some(())
    })?;
    std::thread::sleep(Duration::from_millis(500));

    let idx = agents.iter().position(|a| a.host_name == master).context("master agent")?;
    let kill_wall = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0);
    let t_kill = Instant::now();
    agents[idx].kill();
    if !o.no_isolate {
        lan.isolate(&master)?;
    }
    println!(
        "[lab] SIGKILLed the agent on {master}{}; waiting up to {} for another router to take {VIP}",
        if o.no_isolate { "" } else { " and took its switch port down" },
        ms(failover_deadline)
    );
    let others: Vec<&str> = names.iter().copied().filter(|n| *n != master).collect();
    let new_master = harness::wait_for(failover_deadline, "another router holding the VIP", || {
        holders(lan, &others).into_iter().next()
    })?;
    let takeover = t_kill.elapsed();
    std::thread::sleep(Duration::from_secs(2));
    let replies = pinger.stop()?;
    let h = holders(lan, &others);
    let ts: Vec<f64> = replies.iter().map(|r| r.ts).collect();
    let after_kill = ts.iter().filter(|t| **t > kill_wall).count();
    let gap = harness::longest_gap(&ts);

    println!("[lab] ---- result (VRRPv{}, advert_int {} cs, xdp {}) ----", o.version, o.advert_int_cs, o.xdp_mode.as_str());
    println!("[lab] old master:                 {master}");
    println!("[lab] new master:                 {new_master}");
    match gap {
        Some(g) => println!("[lab] outage (longest ping gap):   {:.0} ms ({} replies, {after_kill} after the kill)", g * 1000.0, ts.len()),
        None => println!("[lab] outage (longest ping gap):   n/a ({} replies)", ts.len()),
    }
    println!("[lab] kill -> VIP on new master:  {}", ms(takeover));
    println!("[lab] master-down interval:       {} (theory, priority {new_prio})", ms(mdi));
    if h.len() != 1 {
        bail!("after failover the VIP is on {h:?}, expected exactly one of {others:?}");
    }
    if after_kill == 0 {
        bail!("no ping reply after the kill: traffic to the VIP did not recover");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mdi() {
        // v2: 300 + 156*100/256 = 360 cs; 300 + 106*100/256 = 341 cs (integer division).
        assert_eq!(master_down_interval(2, 100, 100), Duration::from_millis(3600));
        assert_eq!(master_down_interval(2, 150, 100), Duration::from_millis(3410));
        assert_eq!(master_down_interval(2, 100, 300), Duration::from_millis(9600));
        assert_eq!(master_down_interval(3, 100, 100), Duration::from_millis(3600));
        assert_eq!(master_down_interval(3, 100, 10), Duration::from_millis(360));
    }

    #[test]
    fn config_text() {
        assert_eq!(advert_int_text(100), "1");
        assert_eq!(advert_int_text(10), "0.1");
        assert_eq!(advert_int_text(105), "1.05");
        let c = lab_config(3, 10, 150);
        assert!(c.contains("vrrp_version 3") && c.contains("advert_int 0.1") && c.contains("priority 150"));
        assert!(c.contains("198.18.0.100/24"));
        assert!(!lab_config(2, 100, 50).contains("vrrp_version"));
    }

    #[test]
    fn cli_parses() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
        let c = Cli::try_parse_from(["xtask", "run", "--", "run", "-f", "x.conf"]).expect("parse");
        assert!(matches!(c.cmd, Cmd::Run { ref args } if args.len() >= 3));
        assert!(Cli::try_parse_from(["xtask", "lab", "--version", "4"]).is_err());
    }
}
