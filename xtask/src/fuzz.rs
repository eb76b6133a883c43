//! `cargo xtask fuzz --time N [--target T]`: the cargo-fuzz targets of `fuzz/`, each for N
//! seconds, from the seeds in `fuzz/corpus/<target>/`. Fails if any target finds a crash (the
//! input is left in `fuzz/artifacts/<target>/`; `cargo +nightly fuzz run <target> <file>`
//! replays it). `cargo xtask test` runs every target briefly.
use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use anyhow::{Context as _, Result, bail};

use super::{capture, cargo, describe, stream, stream_status, workspace_root};

/// cargo-fuzz, pinned (installed with `--locked` by `cargo xtask setup`).
const CARGO_FUZZ_VERSION: &str = "0.13.2";

/// Every target in fuzz/Cargo.toml, and whether it needs root (it loads the XDP object).
pub const TARGETS: &[(&str, bool)] = &[
    ("config", false),
    ("vrrp", false),
    ("ipv4_arp", false),
    ("ipv6_nd", false),
    ("validator", false),
    ("xdp_differential", true),
];

/// Seconds per target in `cargo xtask test`.
pub const CI_SECONDS: u64 = 10;

/// How the targets are built.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Build {
    /// Optimised (cargo-fuzz's default): 5-25 times the executions per second. Measured here
    /// with others compiling: 11m50s cold.
    Release,
    /// Unoptimised: about half the cold build time (5m52s, same conditions), for the short
    /// run in `cargo xtask test`, where the build is most of the time.
    Dev,
}

/// `rustup run nightly cargo ...` in the repository, with the PATH the other cargo calls get
/// (bpf-linker for the agent's build.rs). cargo-fuzz needs nightly (sanitizer coverage flags).
fn nightly_cargo() -> Command {
    let base = cargo();
    let mut c = Command::new("rustup");
    c.current_dir(workspace_root()).args(["run", "nightly", "cargo"]);
    for (k, v) in base.get_envs() {
        if let Some(v) = v {
            c.env(k, v);
        }
    }
    // The outer (stable) cargo's settings are not the fuzz workspace's.
    for key in ["CARGO", "RUSTC", "RUSTC_WRAPPER", "RUSTUP_TOOLCHAIN", "CARGO_TARGET_DIR", "RUSTFLAGS", "CARGO_ENCODED_RUSTFLAGS"] {
        c.env_remove(key);
    }
    c
}

fn installed_version() -> Option<String> {
    let (ok, out, _) = capture(nightly_cargo().args(["fuzz", "--version"])).ok()?;
    ok.then(|| out.trim().to_string())
}

/// Installs cargo-fuzz (the pinned version) unless that version is there.
pub fn ensure_cargo_fuzz() -> Result<()> {
    if installed_version().is_some_and(|v| v.contains(CARGO_FUZZ_VERSION)) {
        println!("[setup] cargo-fuzz: ok (already installed: {CARGO_FUZZ_VERSION})");
        return Ok(());
    }
    println!("[setup] cargo-fuzz: installing {CARGO_FUZZ_VERSION}");
    stream(cargo().args(["install", "cargo-fuzz", "--locked", "--version", CARGO_FUZZ_VERSION, "--force"]))?;
    match installed_version() {
        Some(v) => println!("[setup] cargo-fuzz: ok (installed: {v})"),
        None => bail!("cargo-fuzz was installed but `cargo fuzz --version` fails"),
    }
    Ok(())
}

/// Build flags shared by `build` and `run` (the same, or cargo rebuilds): no sanitizer (the
/// targets are safe Rust over the agent's decoders; debug assertions and overflow checks stay
/// on, cargo-fuzz's default).
const BUILD_FLAGS: &[&str] = &["--fuzz-dir", "fuzz", "--sanitizer", "none"];

/// Runs `targets` (all when `None`) for `seconds` each; an error names the ones that crashed.
pub fn run(seconds: u64, only: Option<&str>, build: Build) -> Result<()> {
    ensure_cargo_fuzz()?;
    let root = super::harness::is_root();
    let chosen: Vec<(&str, bool)> = match only {
        Some(t) => vec![*TARGETS.iter().find(|(n, _)| *n == t).with_context(|| {
            format!("no fuzz target {t}; there are: {}", TARGETS.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", "))
        })?],
        None => TARGETS.to_vec(),
    };
    let started = Instant::now();
    let mut b = nightly_cargo();
    let flags: Vec<&str> = BUILD_FLAGS.iter().copied().chain((build == Build::Dev).then_some("--dev")).collect();
    b.args(["fuzz", "build"]).args(&flags);
    if let [(t, _)] = chosen.as_slice() {
        b.arg(t);
    }
    println!("[fuzz] {}", describe(&b));
    stream(&mut b)?;
    println!("[fuzz] built in {:.0?}", started.elapsed());

    let fuzz_dir = workspace_root().join("fuzz");
    let mut crashed = Vec::new();
    for (target, needs_root) in chosen {
        if needs_root && !root {
            println!("[fuzz] {target}: SKIPPED: needs root to load the XDP program (run as root; CI does)");
            continue;
        }
        let seeds = fuzz_dir.join("corpus").join(target);
        // New inputs go to a scratch corpus under target/, so the repository keeps only seeds.
        let scratch: PathBuf = fuzz_dir.join("target").join("corpus").join(target);
        std::fs::create_dir_all(&scratch).with_context(|| format!("creating {}", scratch.display()))?;
        let mut c = nightly_cargo();
        c.args(["fuzz", "run"]).args(&flags).arg(target).arg(&scratch);
        if seeds.is_dir() {
            c.arg(&seeds);
        }
        // The real-world configs in the shared data beside the repository (read there, not
        // copied: see its SOURCES.md), when present.
        let shared = workspace_root().join("../shared/keepalived-configs");
        if target == "config" && shared.is_dir() {
            c.arg(&shared);
        }
        c.args(["--", &format!("-max_total_time={seconds}"), "-timeout=10", "-rss_limit_mb=2048", "-max_len=4096", "-print_final_stats=1"]);
        println!("[fuzz] {target}: {seconds} s: {}", describe(&c));
        let t = Instant::now();
        let st = stream_status(&mut c)?;
        if st.success() {
            println!("[fuzz] {target}: ok, {:.0?}", t.elapsed());
        } else {
            eprintln!("[fuzz] {target}: FAILED ({st}): the input is in {}", fuzz_dir.join("artifacts").join(target).display());
            crashed.push(target);
        }
    }
    println!("[fuzz] total {:.0?}", started.elapsed());
    if !crashed.is_empty() {
        bail!("fuzz targets found crashes: {}", crashed.join(", "));
    }
    Ok(())
}
