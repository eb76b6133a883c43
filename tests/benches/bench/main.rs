//! `cargo xtask bench [--quick] [--only ID,...] [--out DIR]`: figures, side by side with
//! keepalived where the figure compares, never a pass or fail on a timing. Every figure is one
//! module returning a [`Section`]; the report goes to `target/bench/` (Markdown, JSON
//! with every raw sample, PNG charts) and its tables are printed as each figure finishes.
//! Everything runs in network namespaces made here, addresses from 198.18.0.0/15 and
//! 2001:db8::/32 only, every load bounded in count and time.
use std::{
    path::PathBuf,
    time::Instant,
};

use anyhow::{Context, Result, bail};
use vrrp_tests::report::{Machine, Report, Section};

mod charts;
mod failover;
mod flood;
mod footprint;
mod measure;
mod steady;
mod xdp;

/// What every figure gets.
pub struct Ctx {
    /// `--quick`: fewer repetitions and shorter windows (CI runs it to prove the bench still
    /// runs and writes its report).
    pub quick: bool,
    pub agent_bin: PathBuf,
    /// keepalived 2.2.7 (installed by `cargo xtask setup`); figures that compare need it.
    pub keepalived_bin: Option<PathBuf>,
    pub out: PathBuf,
    started: Instant,
}

impl Ctx {
    /// A progress line (the full bench runs for many minutes).
    pub fn progress(&self, step: impl std::fmt::Display) {
        println!("[bench {:>7.1}s] {step}", self.started.elapsed().as_secs_f64());
    }

    /// Repetitions: `full`, or `quick` with --quick.
    pub fn reps(&self, full: usize, quick: usize) -> usize {
        if self.quick { quick } else { full }
    }

    pub fn keepalived(&self) -> Result<&PathBuf> {
        self.keepalived_bin.as_ref().context("keepalived is not installed (`cargo xtask setup` installs 2.2.7)")
    }
}

type Figure = fn(&Ctx) -> Result<Section>;

/// The figures, in the report's order (ids as given to --only).
const FIGURES: &[(&str, &str, Figure)] = &[
    ("xdp", "XDP per-packet cost", xdp::run),
    ("failover", "failover, ours and keepalived's", failover::run),
    ("steady", "steady state CPU and advert lateness", steady::run),
    ("flood", "busy gateway: floods at the backup, ARP under flood", flood::run),
    ("footprint", "agent footprint", footprint::run),
];

struct Args {
    quick: bool,
    only: Option<Vec<String>>,
    out: PathBuf,
}

fn parse_args() -> Result<Option<Args>> {
    let mut quick = false;
    let mut only = None;
    let mut out = None;
    let mut bench = false;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            // `cargo bench` passes --bench; `cargo test --benches` passes nothing.
            "--bench" => bench = true,
            "--quick" => quick = true,
            "--only" => only = Some(it.next().context("--only needs ids, e.g. --only xdp,failover")?.split(',').map(str::to_string).collect::<Vec<_>>()),
            "--out" => out = Some(PathBuf::from(it.next().context("--out needs a directory")?)),
            other => bail!("unknown argument {other:?} (known: --quick, --only ID,..., --out DIR)"),
        }
    }
    if !bench {
        return Ok(None);
    }
    if let Some(ids) = &only {
        for id in ids {
            if !FIGURES.iter().any(|(f, ..)| f == id) {
                bail!("--only: no figure {id:?} (figures: {})", FIGURES.iter().map(|f| f.0).collect::<Vec<_>>().join(", "));
            }
        }
    }
    let out = out.unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/bench"));
    Ok(Some(Args { quick, only, out }))
}

/// The wall clock in UTC, as `date` prints it (for the report's header).
fn utc_now() -> String {
    std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

fn main() -> Result<()> {
    let Some(args) = parse_args()? else { return Ok(()) };
    if !vrrp_tests::require_root("bench") {
        bail!("the bench needs root (network namespaces, XDP, BPF_PROG_TEST_RUN)");
    }
    vrrp_tests::install_ctrlc_cleanup();
    let agent_bin = vrrp_tests::agent_binary()?;
    let keepalived_bin = vrrp_tests::keepalived_binary().ok();
    let keepalived_version = keepalived_bin.as_ref().and_then(|k| {
        let out = std::process::Command::new(k).arg("--version").output().ok()?;
        let text = String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
        text.lines().next().map(|l| l.trim().to_string())
    });
    let ctx = Ctx { quick: args.quick, agent_bin, keepalived_bin, out: args.out, started: Instant::now() };
    let mut report = Report {
        started_utc: utc_now(),
        quick: args.quick,
        machine: Machine::describe(keepalived_version),
        sections: Vec::new(),
    };
    println!("[bench] {} ; report to {}", report.machine.line(), ctx.out.display());
    let mut failed = Vec::new();
    for (id, what, run) in FIGURES {
        if args.only.as_ref().is_some_and(|o| !o.iter().any(|x| x == id)) {
            continue;
        }
        ctx.progress(format!("{id}: {what}"));
        let section = run(&ctx).unwrap_or_else(|e| {
            failed.push(*id);
            Section::failed(id, &e)
        });
        Report::print_section(&section);
        report.sections.push(section);
    }
    report.write(&ctx.out, charts::draw)?;
    ctx.progress(format!("report written: {}", ctx.out.join("report.md").display()));
    if !failed.is_empty() {
        bail!("not measured: {} (see the report)", failed.join(", "));
    }
    Ok(())
}
