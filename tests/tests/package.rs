//! Issue 8, "Install and run as a service": the Debian package installed for real with
//! `dpkg -i` (standard paths on this machine's root filesystem, purged at the end, also when
//! the test fails), its files checked, its unit verified by `systemd-analyze verify`, and the
//! INSTALLED agent taken through a failover in a namespace lab by the unit's own lines (no
//! systemd runs in CI, so the test does what systemd would): `ExecStart=` starts each router,
//! `ExecReload=` (with `$MAINPID`) reloads the master, `KillSignal=` stops it, and the backup
//! takes over without the client losing a probe (the make-before-break hand-over).
//!
//! The package comes from `cargo xtask test` (env `VRRP_DEB`); run alone, the test builds it
//! with `cargo xtask package`.

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use vrrp_tests::{
    election::{self as el, Cluster, ClusterSpec, STARTUP, VIP, wall_clock_us},
    package::{self as pkg, Unit},
    pid_alive, require_root, run_cmd, spawn_agent_cmdline, spawn_agent_cmdline_on_pins, start_ping_every, wait_for,
    workspace_root,
};

/// Added to protocol-derived bounds, for the scheduling delays of a shared 2-core VM
/// (the reasoning is SCHED_SLACK's in tests/tests/election.rs).
const SCHED_SLACK: Duration = Duration::from_millis(100);

/// Records which test process installed the package, so a run killed before its purge can be
/// told from a package someone installed by hand (tmpfs: gone at reboot).
const STAMP: &str = "/run/vrrp-tests-package.pid";

fn dpkg_status(package: &str) -> Option<String> {
    let out = Command::new("dpkg-query").args(["-W", "-f=${Status}", package]).stderr(Stdio::null()).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string()).filter(|s| !s.ends_with("not-installed"))
}

fn dpkg(args: &[&str]) -> anyhow::Result<String> {
    run_cmd(Command::new("dpkg").args(args).env("DEBIAN_FRONTEND", "noninteractive"))
}

/// The package installed by this test; purged on drop (also when the test panics).
struct Installed {
    purged: bool,
}

impl Installed {
    fn install(deb: &Path) -> Installed {
        if let Some(status) = dpkg_status(pkg::PACKAGE) {
            let ours = std::fs::read_to_string(STAMP).ok().and_then(|s| s.trim().parse::<u32>().ok());
            match ours {
                Some(pid) if !pid_alive(pid) => {
                    eprintln!("purging {} left installed by an earlier run (pid {pid}) of this test", pkg::PACKAGE);
                    dpkg(&["--purge", pkg::PACKAGE]).expect("purge the earlier run's package");
                }
                _ => panic!(
                    "{} is installed on this machine ({status}) and not by an earlier run of this test: refusing to replace and purge it",
                    pkg::PACKAGE
                ),
            }
        }
        std::fs::write(STAMP, std::process::id().to_string()).expect("write the stamp");
        let installed = Installed { purged: false };
        dpkg(&["-i", &deb.to_string_lossy()]).expect("dpkg -i");
        installed
    }

    /// `dpkg --purge`, then every file the package had listed is gone.
    fn purge(&mut self, files: &[String]) {
        self.purged = true;
        dpkg(&["--purge", pkg::PACKAGE]).expect("dpkg --purge");
        let _ = std::fs::remove_file(STAMP);
        assert_eq!(dpkg_status(pkg::PACKAGE), None, "still known to dpkg after the purge");
        let left: Vec<&String> = files.iter().filter(|f| Path::new(f).is_file()).collect();
        assert!(left.is_empty(), "left behind after the purge: {left:?}");
        assert!(!Path::new(pkg::CONFIG).exists(), "the conffile outlives the purge");
        assert!(!Path::new(pkg::CONFIG).parent().is_some_and(Path::exists), "the config directory outlives the purge");
    }
}

impl Drop for Installed {
    fn drop(&mut self) {
        if !self.purged {
            if let Err(e) = dpkg(&["--purge", pkg::PACKAGE]) {
                eprintln!("warning: purging {}: {e}", pkg::PACKAGE);
            }
            let _ = std::fs::remove_file(STAMP);
        }
    }
}

/// The .deb: `VRRP_DEB` (set by `cargo xtask test`), else built now by `cargo xtask package`.
fn deb_path() -> PathBuf {
    if let Some(p) = std::env::var_os(pkg::DEB_ENV) {
        let p = PathBuf::from(p);
        assert!(p.is_file(), "{}={} does not exist", pkg::DEB_ENV, p.display());
        return p;
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    eprintln!("{} not set: building the package (cargo xtask package)", pkg::DEB_ENV);
    let out = Command::new(cargo)
        .args(["xtask", "package"])
        .current_dir(workspace_root())
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .expect("run cargo xtask package");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "cargo xtask package failed:\n{text}");
    text.lines()
        .filter_map(|l| l.strip_prefix("[package] "))
        .filter_map(|l| l.split_once(" (").map(|(p, _)| p))
        .find(|p| p.ends_with(".deb"))
        .map(PathBuf::from)
        .unwrap_or_else(|| panic!("no .deb path in the output of cargo xtask package:\n{text}"))
}

/// What `dpkg -L` lists, and the conffile, man page and completions are what they should be.
fn check_installed_files() -> Vec<String> {
    let listed: Vec<String> = dpkg(&["-L", pkg::PACKAGE]).expect("dpkg -L").lines().map(str::to_string).collect();
    let mut expected = vec![pkg::BIN, pkg::UNIT, pkg::CONFIG, pkg::MAN_PAGE, pkg::COPYRIGHT];
    expected.extend(pkg::COMPLETIONS.iter().map(|(_, p)| *p));
    for sub in ["run", "check", "status"] {
        let page = format!("{}/vrrp-agent-{sub}.8.gz", pkg::MAN_DIR);
        assert!(listed.contains(&page), "dpkg -L lacks {page}: {listed:#?}");
    }
    for path in &expected {
        assert!(listed.iter().any(|l| l == path), "dpkg -L lacks {path}: {listed:#?}");
        assert!(Path::new(path).is_file(), "{path} listed but not installed");
    }
    let conffiles = run_cmd(Command::new("dpkg-query").args(["-W", "-f=${Conffiles}", pkg::PACKAGE])).expect("dpkg-query");
    assert!(conffiles.lines().any(|l| l.split_whitespace().next() == Some(pkg::CONFIG)), "{} is not a conffile: {conffiles:?}", pkg::CONFIG);

    // The man page: roff source with its title and every subcommand, rendered by man(1).
    let source = run_cmd(Command::new("gzip").args(["-dc", pkg::MAN_PAGE])).expect("gunzip the man page");
    assert!(source.contains(".TH VRRP-AGENT 8"), "no .TH in {}", pkg::MAN_PAGE);
    for sub in ["run", "check", "status"] {
        assert!(source.contains(&format!("vrrp\\-agent\\-{sub}(8)")), "{sub} missing from {}", pkg::MAN_PAGE);
    }
    let out = Command::new("man").args(["-l", pkg::MAN_PAGE]).env("MANPAGER", "cat").env("MANWIDTH", "80").output().expect("man -l");
    let rendered = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "man -l failed: {}", String::from_utf8_lossy(&out.stderr));
    for section in ["NAME", "SYNOPSIS", "SIGNALS", "SERVICE", "EXIT STATUS", "FILES"] {
        assert!(rendered.lines().any(|l| l == section), "man -l {}: no {section} section:\n{rendered}", pkg::MAN_PAGE);
    }
    for page in listed.iter().filter(|l| l.starts_with(pkg::MAN_DIR) && l.ends_with(".gz")) {
        let check = Command::new("sh")
            .args(["-c", "gzip -dc \"$1\" | groff -man -Tutf8 -ww -z", "sh", page])
            .output()
            .expect("groff");
        let warnings = String::from_utf8_lossy(&check.stderr);
        assert!(check.status.success() && warnings.trim().is_empty(), "groff -ww on {page}: {warnings}");
    }
    let words: Vec<&str> = rendered.split_whitespace().collect();
    assert!(words.join(" ").contains("systemctl kill -s QUIT"), "the hitless restart command is not in the man page:\n{rendered}");

    // Completions: bash loads its script and registers a completion for vrrp-agent; the zsh and
    // fish scripts are for vrrp-agent (those shells are not installed here to load them).
    let (_, bash_path) = pkg::COMPLETIONS.iter().find(|(s, _)| *s == "bash").expect("bash completion");
    let registered = run_cmd(Command::new("bash").args(["-c", &format!("source {bash_path} && complete -p vrrp-agent")])).expect("bash completion loads");
    assert!(registered.contains("vrrp-agent"), "{registered}");
    for (shell, path) in pkg::COMPLETIONS {
        let text = std::fs::read_to_string(path).expect("completion script");
        for word in ["run", "check", "status", "bpffs"] {
            assert!(text.contains(word), "{shell} completion lacks {word}");
        }
    }
    listed
}

/// Installing the package again (dpkg's upgrade path: postinst `configure <old version>`) keeps
/// a conffile the administrator changed.
fn check_conffile_kept_on_upgrade(deb: &Path) {
    let shipped = std::fs::read_to_string(pkg::CONFIG).expect("read the conffile");
    let edited = format!("{shipped}# edited by the package test\n");
    std::fs::write(pkg::CONFIG, &edited).expect("edit the conffile");
    dpkg(&["-i", &deb.to_string_lossy()]).expect("dpkg -i again (upgrade path)");
    assert_eq!(std::fs::read_to_string(pkg::CONFIG).expect("read the conffile"), edited, "the upgrade overwrote the edited conffile");
    assert!(Path::new(pkg::BIN).is_file());
}

/// `systemd-analyze verify` on the installed unit: exit 0 and not one warning (it only warns,
/// exit 0, about an unknown key or a bad signal name; it fails on a missing binary).
fn verify_unit() {
    let out = Command::new("systemd-analyze").args(["verify", pkg::UNIT]).stdin(Stdio::null()).output().expect(
        "systemd-analyze (package systemd; cargo xtask setup installs it)",
    );
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && said.trim().is_empty(), "systemd-analyze verify {} ({}):\n{said}", pkg::UNIT, out.status);
}

/// The installed binary is the packaged version, and the shipped conffile passes `check`.
fn check_installed_binary() {
    let version = run_cmd(Command::new("dpkg-query").args(["-W", "-f=${Version}", pkg::PACKAGE])).expect("dpkg-query");
    let said = run_cmd(Command::new(pkg::BIN).arg("--version")).expect("vrrp-agent --version");
    assert_eq!(said.trim(), format!("vrrp-agent {version}"));
    let out = Command::new(pkg::BIN).args(["check", "-f", pkg::CONFIG]).output().expect("vrrp-agent check");
    assert!(out.status.success(), "the shipped {} fails check: {}", pkg::CONFIG, String::from_utf8_lossy(&out.stderr));
}

/// `argv` (the unit's ExecStart, split) for one router of the lab: its own config file in place
/// of the conffile, its own pin directory (several agents share this host's bpffs).
fn router_argv(exec_start: &[String], config: &Path, bpffs: &Path) -> Vec<std::ffi::OsString> {
    let mut argv: Vec<std::ffi::OsString> = Vec::new();
    let mut it = exec_start.iter();
    while let Some(a) = it.next() {
        argv.push(a.into());
        if ["-f", "--use-file", "--config"].contains(&a.as_str()) {
            it.next();
            argv.push(config.into());
        }
    }
    argv.extend(["--bpffs".into(), bpffs.into()]);
    argv
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Two routers (100, 90) whose agents are started by the unit's `ExecStart=` line (config
/// and pin dir substituted per router), r1 elected and heard by r2.
fn elected_through_exec_start(tag: &str, advert_int_cs: u16, exec_start: &[String]) -> (Cluster, ClusterSpec) {
    let spec = ClusterSpec { version: 3, advert_int_cs, priorities: vec![100, 90], agent_args: vec![] };
    let mut c = Cluster::new(tag, Path::new(pkg::BIN), spec.clone()).expect("lan");
    for i in 0..c.routers.len() {
        let cfg = el::router_config(spec.version, spec.advert_int_cs, c.routers[i].priority, VIP);
        let agent = spawn_agent_cmdline(c.host(i), &cfg, |config, bpffs| router_argv(exec_start, config, bpffs))
            .unwrap_or_else(|e| panic!("ExecStart on {}: {e:#}", c.routers[i].name));
        c.agents[i] = Some(agent);
    }
    let settle = STARTUP + spec.master_down_interval(90) + spec.interval() + SCHED_SLACK;
    c.wait_settled(0, settle).unwrap_or_else(|e| panic!("initial election through ExecStart: {e}"));
    (c, spec)
}

/// Two routers (100, 90) and a client, VRRPv3 at 100 ms, each agent started by the installed
/// unit's ExecStart; then ExecReload on the master (the agent logs the reload, nothing moves)
/// and KillSignal to it (the hand-over: r2 takes the VIP, no 10 ms probe is lost, r1 exits 0
/// well within TimeoutStopSec).
fn failover_through_the_unit() {
    let unit = Unit::parse(&std::fs::read_to_string(pkg::UNIT).expect("read the installed unit"));
    let exec_start = pkg::split_command_line(unit.get("Service", "ExecStart").expect("ExecStart"));
    assert_eq!(exec_start[0], pkg::BIN, "ExecStart runs the installed binary");
    assert_eq!(pkg::config_arg(&exec_start), Some(pkg::CONFIG), "ExecStart reads the conffile");

    let (mut c, spec) = elected_through_exec_start("pkg", 10, &exec_start);

    // ExecReload=, $MAINPID substituted, run in the service's namespace as systemd would.
    let r1_pid = c.agents[0].as_ref().expect("r1").pid;
    let reload = pkg::substitute(
        &pkg::split_command_line(unit.get("Service", "ExecReload").expect("ExecReload")),
        &[("MAINPID", r1_pid.to_string())],
    );
    let changes_before = c.state_changes(0).len();
    let (prog, args) = reload.split_first().expect("ExecReload has a command");
    run_cmd(c.host(0).ns.cmd(prog).args(args)).expect("run ExecReload");
    let r1 = c.agents[0].as_ref().expect("r1");
    wait_for(Duration::from_secs(5), "r1 to log the reload", || {
        r1.log_text().contains("SIGHUP: configuration reloaded: 1 instance(s) unchanged").then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", r1.log_tail(15)));
    assert_eq!(c.state_changes(0).len(), changes_before, "an unchanged reload moved r1's state:\n{}", r1.log_tail(15));
    assert_eq!(c.holders(), ["r1"], "r1 keeps the VIP through the reload");

    // KillSignal= (KillMode=mixed: to the main process only) while the client probes.
    let sig = unit.get("Service", "KillSignal").and_then(pkg::signal_number).expect("KillSignal");
    let stop_timeout = unit.get("Service", "TimeoutStopSec").and_then(pkg::parse_timespan).expect("TimeoutStopSec");
    let pinger = start_ping_every(c.client(), VIP, spec.probe_interval(), 30).expect("ping");
    wait_for(Duration::from_secs(5), "20 replies before the stop", || (pinger.replies_so_far().len() >= 20).then_some(()))
        .expect("the client reaches the VIP");
    let stop_us = wall_clock_us();
    let stopped = Instant::now();
    c.agents[0].as_mut().expect("r1").signal(sig);
    // r2 takes over Skew_Time(90) after the priority-0 advert; r1 leaves once it hears r2, at
    // the latest after its Master_Down_Interval.
    let bound = spec.master_down_interval(90) + spec.interval() + SCHED_SLACK;
    let status = c.agents[0].as_mut().expect("r1").wait_exit(bound + Duration::from_secs(2)).expect("r1 exits after KillSignal");
    let took = stopped.elapsed();
    eprintln!("KillSignal: r1 exited {:.1} ms after it ({status}); TimeoutStopSec {:?}", ms(took), stop_timeout);
    assert_eq!(status.code(), Some(0), "a clean stop exits 0");
    assert!(took < stop_timeout, "the hand-over outlasted TimeoutStopSec: systemd would SIGKILL it");
    wait_for(bound, "r2 to be the only holder of the VIP", || (c.holders() == ["r2"]).then_some(()))
        .unwrap_or_else(|e| panic!("{e}; holders {:?}", c.holders()));
    let after = wall_clock_us();
    wait_for(Duration::from_secs(3), "20 replies after the hand-over", || {
        (pinger.replies_so_far().iter().filter(|r| (r.ts * 1e6) as i64 > after).count() >= 20).then_some(())
    })
    .expect("the client reaches r2");
    let replies = pinger.stop().expect("ping");
    let lost = el::lost_probes(&replies);
    let r2_entered = c.state_changes(1).into_iter().filter(|s| s.state == "MASTER" && s.ts_us >= stop_us).count();
    eprintln!("KillSignal hand-over: {lost} probe(s) lost, r2 entered MASTER {r2_entered} time(s)");
    assert_eq!(lost, 0, "probes lost in the hand-over through the installed agent");
    assert_eq!(r2_entered, 1, "r2 takes over, once");
}

/// The hitless restart (or upgrade) the README documents, through the installed unit: SIGQUIT
/// to the main process alone (what `systemctl kill -s QUIT --kill-who=main vrrp-agent` sends),
/// the agent exits with the status the unit names in `RestartForceExitStatus=` (75, also in
/// `SuccessExitStatus=`), and, as systemd then does, `ExecStart=` runs again on the same pins.
/// With 1 s adverts (a 2 s lease), the new agent must resume as MASTER before the lease
/// fences XDP and before the backup's Master_Down_Interval: no router logs a MASTER
/// transition and the client, probing every 10 ms, loses no probe.
fn hitless_restart_through_the_unit() {
    use vrrp_common::timers;
    let unit = Unit::parse(&std::fs::read_to_string(pkg::UNIT).expect("read the installed unit"));
    let exec_start = pkg::split_command_line(unit.get("Service", "ExecStart").expect("ExecStart"));
    let restart_status: i32 = unit
        .get("Service", "RestartForceExitStatus")
        .and_then(|v| v.parse().ok())
        .expect("RestartForceExitStatus= names the hitless-restart exit status");
    assert_eq!(unit.get("Service", "SuccessExitStatus"), Some(restart_status.to_string().as_str()), "not a failure either");

    let (mut c, spec) = elected_through_exec_start("pkgq", 100, &exec_start);
    let masters = |c: &Cluster, i: usize| c.state_changes(i).iter().filter(|s| s.state == "MASTER").count();
    let r2_masters = masters(&c, 1);

    let pinger = start_ping_every(c.client(), VIP, Duration::from_millis(10), 30).expect("ping");
    wait_for(Duration::from_secs(5), "20 replies before the restart", || (pinger.replies_so_far().len() >= 20).then_some(()))
        .expect("the client reaches the VIP");
    let mut old = c.agents[0].take().expect("r1");
    let old_pid = old.pid;
    let bpffs = old.bpffs.clone();
    let quit = Instant::now();
    // --kill-who=main: the signal goes to the main process only, as Daemon::signal sends it.
    old.signal(libc::SIGQUIT);
    let status = old.wait_exit(Duration::from_secs(2)).expect("r1 exits after SIGQUIT");
    let exited = quit.elapsed();
    assert_eq!(status.code(), Some(restart_status), "SIGQUIT exits with RestartForceExitStatus:\n{}", old.log_tail(10));
    old.leave_pins();
    c.old_logs[0].push(old.log_text());
    drop(old);
    // systemd: the exit status is in RestartForceExitStatus=, so ExecStart= runs again at once.
    let cfg = el::router_config(spec.version, spec.advert_int_cs, c.routers[0].priority, VIP);
    let new = spawn_agent_cmdline_on_pins(c.host(0), &cfg, &bpffs, |config, bpffs| router_argv(&exec_start, config, bpffs))
        .expect("ExecStart again");
    c.agents[0] = Some(new);
    let resumed = format!("resumed as MASTER (adopted from pid {old_pid})");
    let lease = Duration::from_micros(timers::lease_fence_after_us(timers::cs_to_us(spec.advert_int_cs)));
    wait_for(lease, "the restarted r1 to resume as MASTER within the lease", || {
        c.agents[0].as_ref().expect("r1").log_text().contains(&resumed).then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", c.log_tails(30)));
    let restart = quit.elapsed();
    eprintln!(
        "hitless restart through the unit: exit {:?} after {:.1} ms, resumed as MASTER {:.0} ms after SIGQUIT (lease {:.0} ms, Master_Down_Interval of 90 {:.0} ms)",
        status.code(),
        ms(exited),
        ms(restart),
        ms(lease),
        ms(spec.master_down_interval(90))
    );
    assert!(restart < lease, "the restart ({restart:?}) outlasted the lease ({lease:?}): XDP was fenced");
    c.holds_only_master(0, spec.master_down_interval(90) * 2).unwrap_or_else(|e| panic!("{e:#}"));
    let (replies, sent) = pinger.stop_counted().expect("ping");
    let sent = sent.unwrap_or(0);
    let lost = sent.saturating_sub(replies.iter().filter(|r| !r.dup).count() as u32);
    eprintln!("hitless restart through the unit: {sent} probes, {lost} lost");
    assert_eq!(masters(&c, 0), 0, "the restarted r1 logs no MASTER transition:\n{}", c.agents[0].as_ref().expect("r1").log_tail(20));
    assert_eq!(masters(&c, 1), r2_masters, "r2 never entered MASTER:\n{}", c.agents[1].as_ref().expect("r2").log_tail(20));
    assert_eq!(lost, 0, "no probe lost ({sent} sent, {} answered)", replies.len());
    assert!(replies.len() > 100, "the client probed throughout ({} replies)", replies.len());
}

#[test]
fn the_installed_package_verifies_and_fails_over_through_its_unit() {
    if !require_root("the_installed_package_verifies_and_fails_over_through_its_unit") {
        return;
    }
    let deb = deb_path();
    let mut installed = Installed::install(&deb);
    let files = check_installed_files();
    check_conffile_kept_on_upgrade(&deb);
    verify_unit();
    check_installed_binary();
    failover_through_the_unit();
    hitless_restart_through_the_unit();
    installed.purge(&files);
}
