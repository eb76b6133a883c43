//! Scripts that abuse the agent, with a real agent in a namespace: notify and track scripts
//! that fork and leave children, scripts that print megabytes, missing and non-executable
//! scripts, a script still running when the agent is SIGKILLed (hung and failing ones:
//! notify.rs and tracking.rs). What each must not do: delay the election or the adverts'
//! schedule, grow the agent, crash it, or leave a process behind.
//!
//! Bounds: the election comes Master_Down_Interval after start-up (a lone router, v3 at
//! 10 cs); a master sends an advert every interval, so on the wire no gap between two of them
//! exceeds one interval + [`SCHED_SLACK`] (what a busy 2-core machine may add to one
//! wake-up, as in advert_schedule.rs), and a window W holds about W / interval of them.
use std::{
    net::Ipv4Addr,
    os::unix::fs::PermissionsExt as _,
    path::Path,
    time::Duration,
};

use vrrp_tests::{
    Agent, Capture, Lan, ScratchDir, agent_binary, election, has_addr, lan, pid_alive, require_root, soak, spawn_agent, wait_for,
};

const VIP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 100);
const R1: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const INTERVAL_CS: u16 = 10;
const PRIORITY: u8 = 150;
/// Scheduling on a shared 2-core machine, the 10 ms polling of `ip addr`.
const SLACK: Duration = Duration::from_millis(1500);
/// How late a wake-up of the agent may be on a 2-core machine shared with builds
/// (election.rs's and advert_schedule.rs's figure).
const SCHED_SLACK: Duration = Duration::from_millis(100);

fn interval() -> Duration {
    election::interval(INTERVAL_CS)
}

/// Start-up, then a lone router's Master_Down_Interval, plus slack.
fn election_bound() -> Duration {
    election::STARTUP + election::master_down_interval(3, PRIORITY, INTERVAL_CS) + SLACK
}

/// `before` (vrrp_script blocks) then one instance holding VIP, `inside` added to it.
fn config(before: &str, inside: &str) -> String {
    format!(
        "{before}vrrp_instance VI_1 {{\n  state BACKUP\n  interface eth0\n  virtual_router_id 51\n  priority {PRIORITY}\n  \
         advert_int 0.{INTERVAL_CS}\n  version 3\n  virtual_ipaddress {{\n    {VIP}/24\n  }}\n{inside}}}\n"
    )
}

fn one_router(tag: &str) -> Lan {
    lan(tag, &[("r1", R1)]).expect("lan")
}

fn start(lan: &Lan, cfg: &str) -> Agent {
    let bin = agent_binary().expect("agent binary (cargo xtask test builds it)");
    spawn_agent(&bin, lan.host("r1"), cfg, &["--notify-timeout", "5"]).expect("spawn agent")
}

fn wait_master(lan: &Lan, agent: &Agent) {
    wait_for(election_bound(), "r1 to become master", || has_addr(lan.host("r1"), VIP).then_some(()))
        .unwrap_or_else(|e| panic!("{e}\n{}", agent.log_tail(30)));
}

fn pids_in(file: &Path) -> Vec<u32> {
    std::fs::read_to_string(file).unwrap_or_default().lines().filter_map(|l| l.trim().parse().ok()).collect()
}

fn count_lines(file: &Path) -> usize {
    std::fs::read_to_string(file).map(|t| t.lines().count()).unwrap_or(0)
}

/// Kills the pids listed in the files on drop if they still live (a failed test leaves
/// nothing behind; every one of them is bounded anyway).
struct Reap<'a>(Vec<&'a Path>);

impl Drop for Reap<'_> {
    fn drop(&mut self) {
        for p in self.0.iter().flat_map(|f| pids_in(f)) {
            if pid_alive(p) {
                // SAFETY: kill(2) on a pid a script of this test recorded.
                unsafe { libc::kill(p as libc::pid_t, libc::SIGKILL) };
            }
        }
    }
}

/// The master's adverts on its own eth0 for `window`: (count, longest gap between two).
fn adverts_on_the_wire(lan: &Lan, window: Duration) -> (usize, Duration) {
    let secs = window.as_secs().max(1) as u32;
    let mut cap = Capture::start(lan.host("r1"), "adverts", &format!("ip proto 112 and src host {R1}"), 100_000, secs).expect("tshark");
    cap.finish(window + Duration::from_secs(10)).expect("tshark ends after its duration");
    let ts: Vec<f64> = cap.fields("vrrp", &["frame.time_epoch"]).expect("fields").iter().filter_map(|r| r.first()?.parse().ok()).collect();
    let gap = ts.windows(2).map(|w| w[1] - w[0]).fold(0.0, f64::max);
    (ts.len(), Duration::from_secs_f64(gap))
}

/// The adverts kept their schedule over `window`: no gap over one interval + SCHED_SLACK,
/// and about one per interval.
fn assert_on_schedule(what: &str, (count, gap): (usize, Duration), window: Duration, agent: &Agent) {
    let expected = (window.as_micros() / interval().as_micros()) as usize;
    eprintln!("{what}: {count} adverts in {window:?} (expected ~{expected}), longest gap {:.1} ms", gap.as_secs_f64() * 1e3);
    assert!(gap <= interval() + SCHED_SLACK, "{what}: an advert skipped or late: gap {gap:?}\n{}", agent.log_tail(20));
    assert!(count + 3 >= expected, "{what}: {count} adverts in {window:?}, expected ~{expected}\n{}", agent.log_tail(20));
}

/// Only the agent lives in r1's namespace (a script between two runs has exited; what it
/// left is gone).
fn wait_alone(lan: &Lan, agent: &Agent, within: Duration) {
    let ns = &lan.host("r1").ns;
    wait_for(within, "only the agent in r1's namespace", || (soak::pids_in_netns(ns) == [agent.pid]).then_some(())).unwrap_or_else(|e| {
        let what: Vec<String> = soak::pids_in_netns(ns)
            .iter()
            .map(|p| format!("{p}: {}", std::fs::read_to_string(format!("/proc/{p}/cmdline")).unwrap_or_default().replace('\0', " ")))
            .collect();
        panic!("{e}: {what:?}\n{}", agent.log_tail(20))
    });
}

fn rss_kib(pid: u32) -> u64 {
    soak::footprint(pid, "r1", 0).map(|f| f.rss_kib).unwrap_or(0)
}

#[test]
fn scripts_that_fork_leave_no_children_and_never_block_the_next_run() {
    if !require_root("scripts_that_fork_leave_no_children_and_never_block_the_next_run") {
        return;
    }
    let lan = one_router("scrfork");
    let dir = ScratchDir::new("scrfork").expect("scratch dir");
    let (tchildren, truns, nchildren) = (dir.join("track.children"), dir.join("track.runs"), dir.join("notify.children"));
    let _reap = Reap(vec![&tchildren, &nchildren]);
    // Each run leaves a 10-minute sleeper in its process group and exits 0 at once.
    let track = dir
        .script("fork-track.sh", &format!("#!/bin/sh\nsleep 600 &\necho $! >> {}\necho run >> {}\nexit 0\n", tchildren.display(), truns.display()))
        .expect("script");
    let notify = dir.script("fork-notify.sh", &format!("#!/bin/sh\nsleep 600 &\necho $! >> {}\nexit 0\n", nchildren.display())).expect("script");
    let cfg = config(
        &format!("vrrp_script forker {{\n  script \"{}\"\n  interval 1\n  timeout 2\n  weight 0\n}}\n", track.display()),
        &format!("  track_script {{\n    forker\n  }}\n  notify_master {}\n  notify {}\n", notify.display(), notify.display()),
    );
    let mut agent = start(&lan, &cfg);
    wait_master(&lan, &agent);

    // Runs keep coming once a second: a run's children never hold up the next one.
    let runs = 5;
    wait_for(Duration::from_secs(runs as u64 + 1) + SLACK, "5 runs of the track script", || (count_lines(&truns) >= runs).then_some(()))
        .unwrap_or_else(|e| panic!("{e}: {} runs\n{}", count_lines(&truns), agent.log_tail(20)));
    let adverts = adverts_on_the_wire(&lan, Duration::from_secs(2));
    assert_on_schedule("while scripts fork", adverts, Duration::from_secs(2), &agent);
    let children: Vec<u32> = pids_in(&tchildren).into_iter().chain(pids_in(&nchildren)).collect();
    // notify_master, and notify for BACKUP and MASTER: notify runs, each with its child.
    assert!(children.len() >= runs + 2 && pids_in(&nchildren).len() >= 2, "children recorded {children:?}");
    wait_for(Duration::from_secs(2), "every child a script left to be killed", || children.iter().all(|p| !pid_alive(*p)).then_some(()))
        .unwrap_or_else(|e| panic!("{e}: alive {:?}\n{}", children.iter().filter(|p| pid_alive(**p)).collect::<Vec<_>>(), agent.log_tail(20)));
    wait_alone(&lan, &agent, Duration::from_secs(3));
    // The tracker succeeded throughout: still master, no fault.
    assert_eq!(agent.status_json()["instances"][0]["state"], "MASTER");

    agent.terminate();
    let st = agent.wait_exit(Duration::from_secs(10)).expect("the agent exits after SIGTERM");
    assert!(st.success(), "exit status {st}\n{}", agent.log_tail(20));
    let all: Vec<u32> = pids_in(&tchildren).into_iter().chain(pids_in(&nchildren)).collect();
    wait_for(Duration::from_secs(3), "no child left after the agent's exit", || all.iter().all(|p| !pid_alive(*p)).then_some(()))
        .unwrap_or_else(|e| panic!("{e}\n{}", agent.log_tail(20)));
    wait_for(Duration::from_secs(3), "r1's namespace empty", || soak::pids_in_netns(&lan.host("r1").ns).is_empty().then_some(()))
        .expect("no process left in r1's namespace");
}

#[test]
fn megabytes_of_script_output_neither_block_nor_slow_nor_grow_the_agent() {
    if !require_root("megabytes_of_script_output_neither_block_nor_slow_nor_grow_the_agent") {
        return;
    }
    let lan = one_router("scrchatty");
    let dir = ScratchDir::new("scrchatty").expect("scratch dir");
    let (truns, nruns) = (dir.join("track.runs"), dir.join("notify.runs"));
    // 50 MB on stdout and 50 MB on stderr per run: a pipe nobody drains blocks after 64 KiB;
    // a reader that keeps it all grows by 100 MB a run.
    let body = |runs: &Path| format!("#!/bin/sh\nhead -c 50000000 /dev/zero\nhead -c 50000000 /dev/zero >&2\necho run >> {}\nexit 0\n", runs.display());
    let track = dir.script("chatty-track.sh", &body(&truns)).expect("script");
    let notify = dir.script("chatty-notify.sh", &body(&nruns)).expect("script");
    let cfg = config(
        &format!("vrrp_script chatty {{\n  script \"{}\"\n  interval 1\n  timeout 5\n  weight 0\n}}\n", track.display()),
        &format!("  track_script {{\n    chatty\n  }}\n  notify_master {}\n  notify_backup {}\n", notify.display(), notify.display()),
    );
    let agent = start(&lan, &cfg);
    wait_master(&lan, &agent);
    wait_for(Duration::from_secs(2) + SLACK, "the first chatty track run and both notify runs to finish", || {
        (count_lines(&truns) >= 1 && count_lines(&nruns) >= 2).then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", agent.log_tail(20)));
    let rss0 = rss_kib(agent.pid);
    let window = Duration::from_secs(3);
    let before = count_lines(&truns);
    let adverts = adverts_on_the_wire(&lan, window);
    assert_on_schedule("while scripts print 100 MB a run", adverts, window, &agent);
    // The runs finished (none blocked on a full pipe) and kept their schedule.
    wait_for(Duration::from_secs(2), "runs to keep coming", || (count_lines(&truns) >= before + 2).then_some(()))
        .unwrap_or_else(|e| panic!("{e}: {} runs\n{}", count_lines(&truns), agent.log_tail(20)));
    let rss1 = rss_kib(agent.pid);
    eprintln!("agent RSS {rss0} KiB -> {rss1} KiB over {} chatty runs", count_lines(&truns) - before);
    // Unbounded buffering would add 100 MB a run; allocator noise is far below 4 MiB.
    assert!(rss1 < rss0 + 4096, "RSS grew from {rss0} to {rss1} KiB");
    assert_eq!(agent.status_json()["instances"][0]["state"], "MASTER");
    wait_alone(&lan, &agent, Duration::from_secs(5));
}

#[test]
fn missing_and_non_executable_scripts_are_located_errors_not_crashes() {
    if !require_root("missing_and_non_executable_scripts_are_located_errors_not_crashes") {
        return;
    }
    let lan = one_router("scrmissing");
    let dir = ScratchDir::new("scrmissing").expect("scratch dir");
    let noexec = dir.join("noexec.sh");
    std::fs::write(&noexec, "#!/bin/sh\nexit 0\n").expect("write");
    std::fs::set_permissions(&noexec, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    // Present when the agent checks it, deleted afterwards: fails at run time.
    let runs = dir.join("vanish.runs");
    let vanish = dir.script("vanish.sh", &format!("#!/bin/sh\necho run >> {}\nexit 0\n", runs.display())).expect("script");
    let missing = dir.join("missing.sh");
    let before = format!(
        "vrrp_script gone {{\n  script \"{}\"\n  interval 1\n}}\n\
         vrrp_script noexec {{\n  script \"{}\"\n  interval 1\n}}\n\
         vrrp_script vanish {{\n  script \"{}\"\n  interval 1\n  weight -10\n}}\n",
        missing.display(),
        noexec.display(),
        vanish.display()
    );
    let cfg = config(
        &before,
        &format!("  track_script {{\n    gone\n    noexec\n    vanish\n  }}\n  notify_master {}\n  notify_backup {}\n", noexec.display(), missing.display()),
    );
    let mut agent = start(&lan, &cfg);
    wait_master(&lan, &agent);
    // Each refused script named with its place in the config (lines 1 and 5 of the file).
    let conf = agent.config.display().to_string();
    wait_for(Duration::from_secs(3), "the refused scripts in the log, located", || {
        let log = agent.log_text();
        (log.contains(&format!("{conf}:1: vrrp_script gone")) && log.contains(&format!("{conf}:5: vrrp_script noexec"))).then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", agent.log_tail(30)));
    wait_for(Duration::from_secs(3), "the refused notify scripts in the log", || {
        let log = agent.log_text();
        (log.contains(&format!("cannot run notify script `{}`", noexec.display())) && log.contains(&format!("cannot run notify script `{}`", missing.display())))
            .then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", agent.log_tail(30)));

    wait_for(Duration::from_secs(2) + SLACK, "vanish.sh to run", || (count_lines(&runs) >= 1).then_some(())).expect("vanish.sh ran");
    std::fs::remove_file(&vanish).expect("delete vanish.sh");
    wait_for(Duration::from_secs(3) + SLACK, "the failed run of the deleted script, located", || {
        agent.log_text().contains(&format!("{conf}:9: vrrp_script vanish: cannot run")).then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", agent.log_tail(30)));
    let window = Duration::from_secs(2);
    let adverts = adverts_on_the_wire(&lan, window);
    assert_on_schedule("with refused and vanished scripts", adverts, window, &agent);
    assert!(agent.is_running(), "the agent runs on\n{}", agent.log_tail(20));
    wait_alone(&lan, &agent, Duration::from_secs(3));
    agent.terminate();
    let st = agent.wait_exit(Duration::from_secs(10)).expect("the agent exits after SIGTERM");
    assert!(st.success(), "exit status {st}\n{}", agent.log_tail(20));
}

#[test]
fn a_script_running_when_the_agent_is_killed_gets_sigterm() {
    if !require_root("a_script_running_when_the_agent_is_killed_gets_sigterm") {
        return;
    }
    let lan = one_router("scrorphan");
    let dir = ScratchDir::new("scrorphan").expect("scratch dir");
    let pidfile = dir.join("script.pid");
    let _reap = Reap(vec![&pidfile]);
    // Runs for 10 minutes unless signalled; the notify timeout is further away.
    let forever = dir.script("forever.sh", &format!("#!/bin/sh\necho $$ > {}\nexec sleep 600\n", pidfile.display())).expect("script");
    let bin = agent_binary().expect("agent binary");
    let mut agent = spawn_agent(&bin, lan.host("r1"), &config("", &format!("  notify_master {}\n", forever.display())), &["--notify-timeout", "600"])
        .expect("spawn agent");
    wait_master(&lan, &agent);
    let pid = wait_for(Duration::from_secs(3), "notify_master to record its pid", || pids_in(&pidfile).first().copied())
        .unwrap_or_else(|e| panic!("{e}\n{}", agent.log_tail(20)));
    assert!(pid_alive(pid));
    // SIGKILL: the agent cannot stop it itself; the kernel's parent-death signal does.
    agent.kill();
    agent.wait_exit(Duration::from_secs(5)).expect("the killed agent is reaped");
    wait_for(Duration::from_secs(3), "the script to die with the agent", || (!pid_alive(pid)).then_some(()))
        .unwrap_or_else(|e| panic!("{e}: pid {pid} still alive"));
}
