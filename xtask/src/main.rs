//! `cargo xtask <cmd>`: setup, build, run, test, lab, bench, package.
//!
//! Compiles with stable alone and does not depend on vrrp-agent, so it works on a fresh
//! machine before the eBPF toolchain exists (`cargo xtask setup` installs it).

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand, ValueEnum};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};
use vrrp_tests as harness;
use vrrp_tests::package as pkg;
use vrrp_tests::election as el;

mod fuzz;

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
    /// Set everything up, build the release agent, run `cargo test --workspace --release`,
    /// then a short soak (`soak --failovers 9`), the bench (`--quick`) and every fuzz target
    /// for a few seconds (`fuzz --time 10 --dev`).
    /// Arguments after `--` go to cargo test.
    Test {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<OsString>,
    },
    /// N routers and a client in network namespaces; crash the master R times; measure each
    /// failover against the protocol's bound.
    Lab(LabOpts),
    /// 3 routers and a client: N forced failovers back and forth (crash, planned stop,
    /// tracker failure, mixed by a seed) under client probing, each against its protocol
    /// bound, then a search for leaks (VIPs, fds, memory, BPF objects, processes,
    /// namespaces). Exits non-zero if a failover misses its bound or something leaked.
    Soak(SoakOpts),
    /// Benchmarks that print figures: XDP per-packet cost, agent CPU and memory.
    Bench {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<OsString>,
    },
    /// Build the Debian package (target/debian/vrrp-agent_<version>_<arch>.deb): the release
    /// agent, its systemd unit, the conffile, man pages and shell completions.
    Package {
        /// Package this binary instead of building target/release/vrrp-agent.
        #[arg(long)]
        agent_bin: Option<PathBuf>,
    },
    /// Run the cargo-fuzz targets (fuzz/) for N seconds each, from the seeds in
    /// fuzz/corpus/; fails if one finds a crash. Needs nightly; xdp_differential needs root.
    Fuzz {
        /// Seconds per target.
        #[arg(long, default_value_t = 60)]
        time: u64,
        /// Only this target (config, vrrp, ipv4_arp, ipv6_nd, validator, xdp_differential).
        #[arg(long)]
        target: Option<String>,
        /// Build unoptimised (faster to build, slower to run: what `cargo xtask test` does).
        #[arg(long)]
        dev: bool,
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
    /// Routers on the LAN, priorities 100, 90, 80, ... (r1 is the first master).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u8).range(2..=8))]
    routers: u8,
    /// Crash the master this many times (restarting and reconnecting it in between) and
    /// print a summary; exits non-zero if any rep had a second master or the wrong winner.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1000))]
    reps: u32,
    /// Seed for the random kill phases (printed by every run; default: from the clock).
    #[arg(long)]
    seed: Option<u64>,
}

#[derive(clap::Args, Clone)]
struct SoakOpts {
    /// Forced failovers (mixed evenly: crash, planned stop, tracker failure).
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=1000))]
    failovers: u32,
    /// VRRP version of the generated configs.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u8).range(2..=3))]
    version: u8,
    /// Advertisement interval in centiseconds (v2: a multiple of 100).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..=4095))]
    advert_int_cs: u16,
    /// Seed for the order of the kinds and the trigger phases (printed by every run; default:
    /// from the clock).
    #[arg(long)]
    seed: Option<u64>,
    /// XDP attach mode passed to the agents.
    #[arg(long, value_enum, default_value_t = XdpMode::Auto)]
    xdp_mode: XdpMode,
    /// Use this binary instead of building target/release/vrrp-agent.
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
        Cmd::Soak(o) => soak(&o),
        Cmd::Bench { args } => bench(&args),
        Cmd::Package { agent_bin } => package(agent_bin.as_deref()).map(|_| ()),
        Cmd::Fuzz { time, target, dev } => fuzz::run(time, target.as_deref(), if dev { fuzz::Build::Dev } else { fuzz::Build::Release }),
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

const PACKAGES: &[&str] = &[
    "bpftool", "iproute2", "iputils-ping", "arping", "tcpdump", "keepalived", "tshark", "ethtool",
    // The bench report's charts (vrrp_tests::charts) draw their text with DejaVu Sans.
    "fonts-dejavu-core",
    // tests/tests/package.rs: `systemd-analyze verify` on the unit, `man -l` on the man page.
    "systemd", "man-db",
    // tests/tests/faults_net.rs: cuts VRRP between routers with a bridge-family nftables
    // table in the switch namespace.
    "nftables",
];

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
        ("cargo-fuzz", fuzz::ensure_cargo_fuzz()),
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
    target_dir().join("release").join("vrrp-agent")
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
    // tests/tests/package.rs installs this package and runs the installed agent.
    let deb = package_deb(&bin)?;
    let args = after_dashdash(args);
    let mut c = cargo();
    c.args(["test", "--workspace", "--release", "--no-fail-fast"])
        .args(args)
        .env("VRRP_AGENT_BIN", &bin)
        .env(harness::package::DEB_ENV, &deb);
    println!("[test] {} (VRRP_AGENT_BIN={}, {}={})", describe(&c), bin.display(), harness::package::DEB_ENV, deb.display());
    let st = stream_status(&mut c)?;
    // A short soak (three failovers of each kind, bounds and leaks checked: alone on the
    // machine, after the suite), the bench, only to prove it still runs and writes its whole
    // report (no figure is asserted), then every fuzz target briefly from its seeds (a crash
    // fails the run); a filtered run (arguments after --) is not the suite and skips them.
    let (soaked, bench, fuzzed) = if args.is_empty() {
        println!("[test] the test suite {}; now `cargo xtask soak --failovers {CI_SOAK_FAILOVERS}`", if st.success() { "passed" } else { "FAILED" });
        let o = SoakOpts {
            failovers: CI_SOAK_FAILOVERS,
            version: 3,
            advert_int_cs: 10,
            seed: None,
            xdp_mode: XdpMode::Auto,
            agent_bin: None,
            keep_logs: false,
        };
        let soaked = soak_with(&bin, &o);
        let out = target_dir().join("bench-quick");
        println!("[test] now `cargo xtask bench --quick --out {}`", out.display());
        let bench = quick_bench(&bin, &out);
        (soaked, bench, fuzz::run(fuzz::CI_SECONDS, None, fuzz::Build::Dev))
    } else {
        println!("[test] arguments given to cargo test: the soak, the bench (--quick) and the fuzz run are skipped");
        (Ok(()), Ok(()), Ok(()))
    };
    for e in [&soaked, &bench, &fuzzed].into_iter().filter_map(|r| r.as_ref().err()) {
        eprintln!("error: {e:#}");
    }
    if !st.success() {
        std::process::exit(st.code().unwrap_or(1));
    }
    if soaked.is_err() || bench.is_err() || fuzzed.is_err() {
        std::process::exit(1);
    }
    Ok(())
}

/// `cargo xtask bench --quick --out OUT`, then the report's files checked.
fn quick_bench(bin: &Path, out: &Path) -> Result<()> {
    let mut c = cargo();
    c.args(["bench", "-p", "vrrp-tests", "--bench", "bench", "--", "--quick", "--out"]).arg(out).env("VRRP_AGENT_BIN", bin);
    let st = stream_status(&mut c)?;
    if !st.success() {
        bail!("the bench (--quick) failed ({st}); its report, if written, is in {}", out.display());
    }
    let files = harness::report::Report::check_written(out).context("the bench's report is incomplete")?;
    println!("[test] bench report complete: {} files under {}", files.len(), out.display());
    Ok(())
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| workspace_root().join("target"))
}

/// The bench's arguments with `--out DIR` made absolute against our working directory (cargo
/// runs the bench in tests/), and where the report goes: DIR, else `target/bench` (the
/// bench's default).
fn bench_args(args: &[OsString]) -> (Vec<OsString>, PathBuf) {
    let mut out = workspace_root().join("target").join("bench");
    let mut v: Vec<OsString> = args.to_vec();
    if let Some(i) = v.iter().position(|a| a == "--out")
        && let Some(d) = v.get_mut(i + 1)
    {
        let p = PathBuf::from(&*d);
        out = if p.is_absolute() { p } else { std::env::current_dir().map(|c| c.join(&p)).unwrap_or(p) };
        *d = out.clone().into_os_string();
    }
    (v, out)
}

/// Figures, never a pass or fail on a timing (tests/benches/bench): the report (Markdown, JSON
/// with every raw sample, PNG charts) goes to `target/bench/` or `--out DIR`.
fn bench(args: &[OsString]) -> Result<()> {
    ensure_all()?;
    let bin = build_release_agent()?;
    let (args, out) = bench_args(after_dashdash(args));
    let mut c = cargo();
    c.args(["bench", "-p", "vrrp-tests", "--bench", "bench", "--"]).args(&args).env("VRRP_AGENT_BIN", &bin);
    let st = stream_status(&mut c)?;
    if out.join("report.md").is_file() {
        println!("[bench] report: {} (raw samples: {}, charts next to them)", out.join("report.md").display(), out.join("report.json").display());
    }
    std::process::exit(st.code().unwrap_or(1));
}

// ---------------------------------------------------------------------------------------
// package
// ---------------------------------------------------------------------------------------

/// `cargo xtask package`: the release agent (built unless `agent_bin` is given) packaged.
fn package(agent_bin: Option<&Path>) -> Result<PathBuf> {
    let bin = match agent_bin {
        Some(b) => b.canonicalize().with_context(|| format!("agent binary {}", b.display()))?,
        None => build()?,
    };
    package_deb(&bin)
}

/// Stages the package tree under `<target>/debian/` and builds the .deb with `dpkg-deb`, the
/// Debian tool itself (part of dpkg, on every Debian machine): nothing to `cargo install` at
/// CI time, as cargo-deb would need. The layout is [`pkg`]'s, which the install test checks;
/// the man pages and completions are generated by the binary being packaged, from its own
/// clap definition. Returns the .deb's path.
fn package_deb(bin: &Path) -> Result<PathBuf> {
    let version = env!("CARGO_PKG_VERSION");
    let (ok, arch, err) = capture(Command::new("dpkg").arg("--print-architecture")).context("dpkg is needed to build the package")?;
    if !ok {
        bail!("dpkg --print-architecture: {}", err.trim());
    }
    let arch = arch.trim();
    let src = workspace_root().join(pkg::SOURCE_DIR);
    let out = release_agent_path().parent().and_then(Path::parent).map(|t| t.join("debian")).context("no target dir")?;
    let stage = out.join(format!("{}_{version}_{arch}", pkg::PACKAGE));
    if stage.exists() {
        std::fs::remove_dir_all(&stage).with_context(|| format!("removing {}", stage.display()))?;
    }
    println!("[package] staging {}", stage.display());
    let staged = |abs: &str| stage.join(abs.trim_start_matches('/'));
    check_unit_agrees(&src)?;
    install_file(bin, &staged(pkg::BIN), 0o755)?;
    install_file(&src.join("vrrp-agent.service"), &staged(pkg::UNIT), 0o644)?;
    install_file(&src.join("keepalived.conf"), &staged(pkg::CONFIG), 0o644)?;
    install_file(&src.join("copyright"), &staged(pkg::COPYRIGHT), 0o644)?;

    let man_dir = staged(pkg::MAN_DIR);
    let (ok, listed, err) = capture(Command::new(bin).arg("generate-man").arg(&man_dir))?;
    if !ok {
        bail!("{} generate-man: {}", bin.display(), err.trim());
    }
    for page in listed.lines().filter(|l| !l.trim().is_empty()) {
        // Debian installs man pages compressed; -n keeps the name and time out (reproducible).
        stream(Command::new("gzip").args(["-9nf", page.trim()]))?;
    }
    for (shell, path) in pkg::COMPLETIONS {
        let (ok, text, err) = capture(Command::new(bin).args(["generate-completions", shell]))?;
        if !ok || text.is_empty() {
            bail!("{} generate-completions {shell}: {}", bin.display(), err.trim());
        }
        write_file(&staged(path), text.as_bytes(), 0o644)?;
    }

    let debian = stage.join("DEBIAN");
    for script in ["postinst", "prerm", "postrm"] {
        install_file(&src.join(script), &debian.join(script), 0o755)?;
    }
    install_file(&src.join("conffiles"), &debian.join("conffiles"), 0o644)?;
    let template = std::fs::read_to_string(src.join("control")).context("reading the control template")?;
    let control = template
        .replace("@VERSION@", version)
        .replace("@ARCH@", arch)
        .replace("@INSTALLED_SIZE@", &installed_size_kib(&stage)?.to_string())
        .replace("@DEPENDS@", &depends(bin)?);
    if let Some(field) = control.split('@').skip(1).step_by(2).find(|f| !f.is_empty() && f.bytes().all(|b| b.is_ascii_uppercase() || b == b'_')) {
        bail!("control template: @{field}@ left unfilled");
    }
    write_file(&debian.join("control"), control.as_bytes(), 0o644)?;

    let deb = out.join(format!("{}_{version}_{arch}.deb", pkg::PACKAGE));
    let t0 = Instant::now();
    // --root-owner-group: files owned by root in the package without fakeroot.
    stream(Command::new("dpkg-deb").args(["--root-owner-group", "--build"]).arg(&stage).arg(&deb))?;
    let size = std::fs::metadata(&deb).with_context(|| format!("{} missing after dpkg-deb", deb.display()))?.len();
    println!("[package] {} ({:.1} MiB, dpkg-deb {:.1} s)", deb.display(), size as f64 / (1024.0 * 1024.0), t0.elapsed().as_secs_f64());
    Ok(deb)
}

/// The unit runs the packaged binary on the packaged conffile: refuse to build otherwise.
fn check_unit_agrees(src: &Path) -> Result<()> {
    let text = std::fs::read_to_string(src.join("vrrp-agent.service")).context("reading the unit")?;
    let unit = pkg::Unit::parse(&text);
    let start = unit.get("Service", "ExecStart").context("the unit has no ExecStart")?;
    let argv = pkg::split_command_line(start);
    if argv.first().map(String::as_str) != Some(pkg::BIN) {
        bail!("the unit's ExecStart runs {:?}, the package installs {}", argv.first(), pkg::BIN);
    }
    if pkg::config_arg(&argv) != Some(pkg::CONFIG) {
        bail!("the unit's ExecStart reads {:?}, the package's conffile is {}", pkg::config_arg(&argv), pkg::CONFIG);
    }
    let conffiles = std::fs::read_to_string(src.join("conffiles")).context("reading conffiles")?;
    if !conffiles.lines().any(|l| l.trim() == pkg::CONFIG) {
        bail!("{} is not listed in {}/conffiles", pkg::CONFIG, pkg::SOURCE_DIR);
    }
    Ok(())
}

fn write_file(dest: &Path, data: &[u8], mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if let Some(dir) = dest.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(dest, data).with_context(|| format!("writing {}", dest.display()))?;
    std::fs::set_permissions(dest, std::fs::Permissions::from_mode(mode)).with_context(|| format!("chmod {}", dest.display()))
}

fn install_file(from: &Path, dest: &Path, mode: u32) -> Result<()> {
    let data = std::fs::read(from).with_context(|| format!("reading {}", from.display()))?;
    write_file(dest, &data, mode)
}

/// Installed-Size as dpkg-gencontrol counts it: KiB per file, rounded up, and 1 per directory.
fn installed_size_kib(stage: &Path) -> Result<u64> {
    fn walk(dir: &Path, total: &mut u64) -> Result<()> {
        for e in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
            let e = e?;
            let md = e.metadata()?;
            if md.is_dir() {
                if e.file_name() != "DEBIAN" {
                    *total += 1;
                    walk(&e.path(), total)?;
                }
            } else {
                *total += md.len().div_ceil(1024);
            }
        }
        Ok(())
    }
    let mut total = 0;
    walk(stage, &mut total)?;
    Ok(total)
}

/// `Depends:` of the binary: libc6 from the highest GLIBC_x.y symbol version it references,
/// and libgcc-s1 (Rust's unwinder). Any other shared library is refused rather than left
/// out of the dependencies.
fn depends(bin: &Path) -> Result<String> {
    let (ok, out, err) = capture(Command::new("ldd").arg(bin))?;
    if !ok {
        bail!("ldd {}: {}", bin.display(), err.trim());
    }
    let known = ["linux-vdso.so.1", "libc.so.6", "libm.so.6", "libgcc_s.so.1", "ld-linux-x86-64.so.2", "ld-linux-aarch64.so.1"];
    for lib in out.lines().filter_map(|l| l.split_whitespace().next()) {
        let name = Path::new(lib).file_name().and_then(|n| n.to_str()).unwrap_or(lib);
        if !known.contains(&name) {
            bail!("{} links {name}: add its Debian package to Depends in xtask's depends()", bin.display());
        }
    }
    let data = std::fs::read(bin).with_context(|| format!("reading {}", bin.display()))?;
    let glibc = max_glibc_version(&data).context("no GLIBC_ symbol version in the binary")?;
    Ok(format!("libc6 (>= {glibc}), libgcc-s1"))
}

/// The highest `GLIBC_<x.y[.z]>` version an ELF file names (its symbol version needs).
fn max_glibc_version(data: &[u8]) -> Option<String> {
    let pat = b"GLIBC_";
    let mut best: Option<(Vec<u32>, String)> = None;
    let mut i = 0;
    while let Some(off) = data[i..].windows(pat.len()).position(|w| w == pat) {
        let start = i + off + pat.len();
        let end = data[start..].iter().position(|b| !(b.is_ascii_digit() || *b == b'.')).map_or(data.len(), |e| start + e);
        let text = String::from_utf8_lossy(&data[start..end]).trim_end_matches('.').to_string();
        let parts: Vec<u32> = text.split('.').map_while(|p| p.parse().ok()).collect();
        if parts.len() >= 2 && best.as_ref().is_none_or(|(b, _)| parts > *b) {
            best = Some((parts, text));
        }
        i = start;
    }
    best.map(|(_, text)| text)
}

// ---------------------------------------------------------------------------------------
// lab
// ---------------------------------------------------------------------------------------

/// How long after the lowest backup's failover bound (its Master_Down_Interval + one interval)
/// the lab still watches for a router wrongly entering MASTER: its timer has run out by then
/// unless the agent was not scheduled. 200 ms covers that on a shared 2-core VM (see
/// tests/tests/election.rs, SCHED_SLACK, for the reasoning) with room to spare; it only
/// lengthens each rep, it loosens no bound.
const LAB_WINDOW_SLACK: Duration = Duration::from_millis(200);

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn us_ms(us: i64) -> String {
    format!("{:.1} ms", us as f64 / 1000.0)
}

/// The agent a namespace run (lab, soak) starts: `agent_bin` as given (with the packages and
/// bpffs it needs), or the release agent built now (after setup); then Ctrl-C cleanup, and
/// what a crashed earlier run left removed.
fn namespace_run_agent(agent_bin: Option<&Path>) -> Result<PathBuf> {
    let bin = match agent_bin {
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
    Ok(bin)
}

fn lab(o: &LabOpts) -> Result<()> {
    if o.version == 2 && !o.advert_int_cs.is_multiple_of(100) {
        bail!("VRRPv2 advert_int is whole seconds: --advert-int-cs must be a multiple of 100");
    }
    if !harness::is_root() {
        bail!("the lab needs root (network namespaces, XDP, bpffs)");
    }
    let bin = namespace_run_agent(o.agent_bin.as_deref())?;

    let spec = el::ClusterSpec {
        version: o.version,
        advert_int_cs: o.advert_int_cs,
        priorities: el::default_priorities(usize::from(o.routers)),
        agent_args: vec!["--xdp-mode".into(), o.xdp_mode.as_str().into()],
    };
    let mut cluster = el::Cluster::new("lab", &bin, spec)?;
    cluster.keep_logs = o.keep_logs;
    cluster.isolate_on_crash = !o.no_isolate;
    let layout: Vec<String> = cluster.routers.iter().map(|r| format!("{} {} (prio {})", r.name, r.addr, r.priority)).collect();
    println!("[lab] lan {}: {}, client {}; VIP {}", cluster.lan.prefix, layout.join(", "), el::CLIENT.1, el::VIP);
    // Native XDP_TX on a veth needs an XDP program on the peer: give every switch port one.
    cluster.lan.attach_xdp_pass_to_switch_ports()?;
    let r = cluster.start_agents().and_then(|()| lab_reps(o, &mut cluster));
    if r.is_err() || o.keep_logs {
        for a in cluster.agents.iter_mut().flatten() {
            a.keep_files();
        }
        eprintln!("{}", cluster.log_tails(20));
    }
    drop(cluster);
    println!("[lab] torn down");
    match r {
        Ok(true) => Ok(()),
        Ok(false) => bail!("a second router entered MASTER or the wrong router won in at least one rep (see the summary)"),
        Err(e) => Err(e),
    }
}

/// Ok(false) if a rep had a split brain or a wrong winner.
fn lab_reps(o: &LabOpts, c: &mut el::Cluster) -> Result<bool> {
    for (i, a) in c.agents.iter().enumerate() {
        if let Some(a) = a {
            println!("[lab] agent on {} (pid {}, log {})", c.routers[i].name, a.pid, a.log.display());
        }
    }
    let spec = c.spec.clone();
    let lowest = *spec.priorities.iter().min().unwrap_or(&1);
    // Agents start a few hundred ms apart; the highest priority wins at most its
    // Master_Down_Interval after it started (preempting whoever was first), and every backup
    // must then have heard it. Generous for up to 8 agents loading XDP on 2 busy cores.
    let settle = el::STARTUP * 2 + spec.master_down_interval(lowest) * 2 + Duration::from_secs(5);
    println!("[lab] waiting up to {} for r1 (the highest priority) to be master, heard by every backup", ms(settle));
    let t0 = Instant::now();
    c.wait_settled(0, settle)?;
    println!("[lab] r1 is master ({} after start)", ms(t0.elapsed()));

    let seed = o.seed.unwrap_or_else(el::SplitMix64::seed_from_clock);
    let mut rng = el::SplitMix64::new(seed);
    println!(
        "[lab] {} rep(s): kill the master a random phase after its advert (seed {seed}; rerun with --seed {seed}), probe every {} ms",
        o.reps,
        spec.probe_interval().as_millis()
    );
    let mut reps: Vec<el::CrashRep> = Vec::new();
    let mut failure = None;
    for rep in 1..=o.reps {
        let phase = rng.below(spec.interval());
        let r = c.crash_master(0, phase, LAB_WINDOW_SLACK).and_then(|r| {
            println!("[lab] rep {rep}/{}: {}{}", o.reps, r.describe(), verdict(&r));
            reps.push(r);
            c.restore(0)?;
            c.wait_settled(0, el::STARTUP + spec.master_down_interval(spec.priorities[0]) + Duration::from_secs(5))
        });
        if let Err(e) = r {
            failure = Some(e.context(format!("rep {rep}")));
            break;
        }
    }
    print_summary(o, &spec, seed, &reps);
    if let Some(e) = failure {
        return Err(e);
    }
    Ok(reps.iter().all(|r| !r.split_brain() && !r.wrong_winner()))
}

fn verdict(r: &el::CrashRep) -> &'static str {
    match (r.split_brain(), r.wrong_winner()) {
        (false, false) => "",
        (true, false) => "  <-- SECOND MASTER",
        (false, true) => "  <-- WRONG WINNER",
        (true, true) => "  <-- SECOND MASTER, WRONG WINNER",
    }
}

fn print_summary(o: &LabOpts, spec: &el::ClusterSpec, seed: u64, reps: &[el::CrashRep]) {
    let n = reps.len();
    let prios: Vec<String> = spec.priorities.iter().map(u8::to_string).collect();
    println!(
        "[lab] ---- summary: {n} rep(s) of {}, VRRPv{}, advert_int {} cs, {} routers ({}), xdp {}, seed {seed} ----",
        o.reps,
        spec.version,
        spec.advert_int_cs,
        spec.priorities.len(),
        prios.join("/"),
        o.xdp_mode.as_str()
    );
    if n == 0 {
        println!("[lab] no rep completed");
        return;
    }
    // Every rep kills r1; r2 (the second priority) should take over.
    let p2 = spec.priorities.get(1).copied().unwrap_or(spec.priorities[0]);
    let mdi = spec.master_down_interval(p2);
    let bound = spec.failover_bound(p2);
    let split = reps.iter().filter(|r| r.split_brain()).count();
    let wrong = reps.iter().filter(|r| r.wrong_winner()).count();
    let dual: Vec<i64> = reps.iter().map(|r| r.dual_master_us).collect();
    let outages: Vec<i64> = reps.iter().filter_map(|r| r.outage_us).collect();
    let takeovers: Vec<i64> = reps.iter().filter_map(|r| r.takeover_us()).collect();
    let lost: Vec<u32> = reps.iter().map(|r| r.lost_probes).collect();
    let over = |v: &[i64]| v.iter().filter(|x| **x > bound.as_micros() as i64).count();
    let opt = |x: Option<i64>| x.map(us_ms).unwrap_or_else(|| "n/a".into());
    let rows: Vec<(&str, String, String)> = vec![
        ("reps", format!("{n}"), String::new()),
        ("a second router entered MASTER", format!("{split}/{n}"), "0".into()),
        ("the wrong router won", format!("{wrong}/{n}"), "0".into()),
        ("two masters at once, worst", opt(dual.iter().copied().max()), "0 ms".into()),
        ("client outage, median", opt(el::median(&outages)), format!("<= {} (bound)", ms(bound))),
        (
            "client outage, worst",
            format!("{}{}", if reps.iter().any(|r| !r.recovered) { ">= " } else { "" }, opt(outages.iter().copied().max())),
            format!("<= {} (bound)", ms(bound)),
        ),
        ("client not answered again (gave up)", format!("{}/{n}", reps.iter().filter(|r| !r.recovered).count()), "0".into()),
        ("reps with outage over the bound", format!("{}/{}", over(&outages), outages.len()), "0".into()),
        ("takeover (kill -> MASTER), median", opt(el::median(&takeovers)), format!("<= {} (Master_Down_Interval)", ms(mdi))),
        ("takeover (kill -> MASTER), worst", opt(takeovers.iter().copied().max()), format!("<= {} (bound)", ms(bound))),
        ("lost probes, worst", format!("{} ({} ms apart)", lost.iter().max().unwrap_or(&0), spec.probe_interval().as_millis()), String::new()),
    ];
    println!("[lab] {:<36} {:>14}   protocol", "measure", "measured");
    for (k, v, b) in rows {
        println!("[lab] {k:<36} {v:>14}   {b}");
    }
    println!(
        "[lab] bound = Master_Down_Interval of priority {p2} ({}, exact in us) + one advert interval ({})",
        ms(mdi),
        ms(spec.interval())
    );
}

// ---------------------------------------------------------------------------------------
// soak
// ---------------------------------------------------------------------------------------

/// `cargo xtask test`'s soak: three failovers of each kind, at the soak's defaults (about a
/// minute on an idle machine).
const CI_SOAK_FAILOVERS: u32 = 9;

fn soak(o: &SoakOpts) -> Result<()> {
    if o.version == 2 && !o.advert_int_cs.is_multiple_of(100) {
        bail!("VRRPv2 advert_int is whole seconds: --advert-int-cs must be a multiple of 100");
    }
    if !harness::is_root() {
        bail!("the soak needs root (network namespaces, XDP, bpffs)");
    }
    let bin = namespace_run_agent(o.agent_bin.as_deref())?;
    soak_with(&bin, o)
}

fn soak_with(bin: &Path, o: &SoakOpts) -> Result<()> {
    let spec = harness::soak::SoakSpec {
        version: o.version,
        advert_int_cs: o.advert_int_cs,
        failovers: o.failovers as usize,
        seed: o.seed.unwrap_or_else(el::SplitMix64::seed_from_clock),
        agent_args: vec!["--xdp-mode".into(), o.xdp_mode.as_str().into()],
        keep_logs: o.keep_logs,
    };
    let t0 = Instant::now();
    let report = harness::soak::run(bin, &spec, &mut |l| println!("[soak] {l}"))?;
    println!(
        "[soak] ---- summary: {} of {} failovers, VRRPv{}, advert_int {} cs, xdp {}, seed {}, {:.0} s ----",
        report.failovers.len(),
        spec.failovers,
        spec.version,
        spec.advert_int_cs,
        o.xdp_mode.as_str(),
        spec.seed,
        t0.elapsed().as_secs_f64()
    );
    for l in report.summary() {
        println!("[soak] {l}");
    }
    if let Some(e) = &report.error {
        bail!("the soak stopped early: {e}");
    }
    if !report.passed() {
        bail!("a failover missed its bound or something leaked (see above; rerun with --seed {})", spec.seed);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_parses() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
        let c = Cli::try_parse_from(["xtask", "run", "--", "run", "-f", "x.conf"]).expect("parse");
        assert!(matches!(c.cmd, Cmd::Run { ref args } if args.len() >= 3));
        assert!(Cli::try_parse_from(["xtask", "lab", "--version", "4"]).is_err());
        let c = Cli::try_parse_from(["xtask", "lab", "--routers", "3", "--version", "3", "--advert-int-cs", "1", "--reps", "20", "--seed", "7"])
            .expect("parse");
        let Cmd::Lab(o) = c.cmd else { panic!("not lab") };
        assert_eq!((o.routers, o.reps, o.seed, o.version, o.advert_int_cs), (3, 20, Some(7), 3, 1));
        let Cmd::Lab(o) = Cli::try_parse_from(["xtask", "lab"]).expect("parse").cmd else { panic!("not lab") };
        assert_eq!((o.routers, o.reps, o.seed), (3, 1, None));
        assert!(Cli::try_parse_from(["xtask", "lab", "--routers", "1"]).is_err());
        assert!(Cli::try_parse_from(["xtask", "lab", "--routers", "9"]).is_err());
        assert!(Cli::try_parse_from(["xtask", "lab", "--reps", "0"]).is_err());
        let Cmd::Soak(o) = Cli::try_parse_from(["xtask", "soak"]).expect("parse").cmd else { panic!("not soak") };
        assert_eq!((o.failovers, o.version, o.advert_int_cs, o.seed), (30, 3, 10, None));
        let Cmd::Soak(o) = Cli::try_parse_from(["xtask", "soak", "--failovers", "9", "--seed", "5", "--advert-int-cs", "1"]).expect("parse").cmd
        else {
            panic!("not soak")
        };
        assert_eq!((o.failovers, o.seed, o.advert_int_cs), (9, Some(5), 1));
        assert!(Cli::try_parse_from(["xtask", "soak", "--failovers", "0"]).is_err());
        let Cmd::Package { agent_bin } = Cli::try_parse_from(["xtask", "package", "--agent-bin", "/x"]).expect("parse").cmd else {
            panic!("not package")
        };
        assert_eq!(agent_bin, Some(PathBuf::from("/x")));
    }

    #[test]
    fn bench_out_is_made_absolute_and_defaults_to_target_bench() {
        let (args, out) = bench_args(&["--quick".into()]);
        assert_eq!((args.len(), out), (1, workspace_root().join("target/bench")));
        let (args, out) = bench_args(&["--out".into(), "rel/dir".into(), "--quick".into()]);
        let cwd = std::env::current_dir().expect("cwd");
        assert_eq!(out, cwd.join("rel/dir"));
        assert_eq!(args[1], cwd.join("rel/dir").into_os_string());
        let (_, out) = bench_args(&["--out".into(), "/abs".into()]);
        assert_eq!(out, PathBuf::from("/abs"));
    }

    #[test]
    fn glibc_dependency_is_the_highest_version_named() {
        let elf = b"\0GLIBC_2.2.5\0GLIBC_2.34\0GLIBC_2.9\0GLIBC_PRIVATE\0GLIBC_2.3.4\0";
        assert_eq!(max_glibc_version(elf).as_deref(), Some("2.34"));
        assert_eq!(max_glibc_version(b"GLIBC_PRIVATE GLIBC_2"), None);
        assert_eq!(max_glibc_version(b"x GLIBC_2.17."), Some("2.17".to_string()));
    }

    #[test]
    fn the_packaged_unit_agrees_with_the_package() {
        check_unit_agrees(&workspace_root().join(pkg::SOURCE_DIR)).expect("unit and package agree");
    }
}
