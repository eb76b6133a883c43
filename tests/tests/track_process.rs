//! `vrrp_track_process` on the real kernel: the tracepoint programs, real processes (copies
//! of /bin/sleep and /bin/sh under unique names), network namespaces. Root only.
//!
//! - processes started in another network namespace are counted as they start and die;
//! - the parameter matching (exact, partial, initial) on real command lines;
//! - a fork without exec counts, a fork that execs something else does not;
//! - threads starting and ending are not processes starting and ending;
//! - the tracker itself inside a network namespace (`ip netns exec`, which also hides
//!   tracefs: the dataplane mounts it) hears everything.
use std::{
    io::{BufRead as _, BufReader},
    os::unix::process::CommandExt as _,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

use tokio::sync::mpsc;
use vrrp_agent::{
    config::{LoadOptions, TrackProcess, parse_str},
    dataplane::{Dataplane, KernelLogLevel},
    health::{HealthEvent, process::ProcessTrackers},
};
use vrrp_tests::{Netns, new_prefix, require_root, sanitize_tag};

/// Set in a re-executed copy of this test binary: which role it plays.
const CHILD_ENV: &str = "VRRP_TRACK_PROCESS_TEST_CHILD";
const DEADLINE: Duration = Duration::from_secs(10);

/// A per-test directory of program copies, removed on drop.
struct Scratch {
    dir: PathBuf,
    /// Unique per test and process, short enough that names fit a 15-byte comm.
    tag: String,
}

impl Scratch {
    fn new(test: &str) -> Scratch {
        // Left behind by a run that was interrupted (its process is gone): remove.
        if let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                let pid = name.strip_prefix("vrrp-trackproc-").and_then(|r| r.split('-').next()).and_then(|p| p.parse::<u32>().ok());
                if pid.is_some_and(|p| !Path::new(&format!("/proc/{p}")).exists()) {
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        }
        let tag = format!("t{}{}", std::process::id() % 100_000, sanitize_tag(test, 3));
        let dir = std::env::temp_dir().join(format!("vrrp-trackproc-{}-{}", std::process::id(), sanitize_tag(test, 20)));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch dir");
        Scratch { dir, tag }
    }

    /// A copy of `program` named `<tag><suffix>` (its process name when run).
    fn copy(&self, program: &str, suffix: &str) -> PathBuf {
        let name = format!("{}{suffix}", self.tag);
        assert!(name.len() <= 15, "{name} would not fit a process name");
        let path = self.dir.join(name);
        std::fs::copy(program, &path).expect("copy program");
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Children killed (with their process groups) and reaped on drop; killed by the kernel
/// too if this test process dies first (Ctrl-C).
#[derive(Default)]
struct Procs(Vec<Child>);

/// Lets the kernel kill the child when the thread that started it ends.
fn die_with_parent(cmd: &mut Command) -> &mut Command {
    // SAFETY: the closure only calls prctl(2), which is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        })
    }
}

impl Procs {
    fn spawn(&mut self, mut cmd: Command) -> usize {
        let child = die_with_parent(&mut cmd).stdin(Stdio::null()).process_group(0).spawn().expect("spawn");
        self.0.push(child);
        self.0.len() - 1
    }

    fn kill(&mut self, i: usize) {
        let c = &mut self.0[i];
        // SAFETY: kill(2) on the group our un-reaped child leads.
        unsafe { libc::kill(-(c.id() as libc::pid_t), libc::SIGKILL) };
        let _ = c.kill();
        let _ = c.wait();
    }
}

impl Drop for Procs {
    fn drop(&mut self) {
        for i in 0..self.0.len() {
            self.kill(i);
        }
    }
}

fn defs(text: &str) -> Vec<TrackProcess> {
    let loaded = parse_str(text, "test.conf", &LoadOptions::default()).expect("parse_str never fails");
    let errors: Vec<_> = loaded.diagnostics.iter().filter(|d| d.severity >= vrrp_agent::config::Severity::Error).collect();
    assert!(errors.is_empty(), "{errors:?}");
    loaded.config.track_processes
}

/// Receives events until `name` reports `want`; fails at the deadline, with what was seen.
async fn expect_count(rx: &mut mpsc::Receiver<HealthEvent>, name: &str, want: u32) {
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(HealthEvent::Process { name: n, count })) if n == name && count == want => return,
            Ok(Some(ev)) => seen.push(ev),
            Ok(None) => panic!("event channel closed waiting for {name} = {want}; seen {seen:?}"),
            Err(_) => panic!("no {name} = {want} within {DEADLINE:?}; seen {seen:?}"),
        }
    }
}

fn load_dataplane() -> Dataplane {
    Dataplane::load_unpinned(KernelLogLevel::Off).expect("the BPF object loads")
}

/// 0 -> 1 -> 2 -> 1 -> 0 for copies of sleep started with `launch` (in some namespace).
async fn zero_one_two_zero(test: &str, launch: impl Fn(&Path) -> Command) {
    let scratch = Scratch::new(test);
    let sleep = scratch.copy("/bin/sleep", "s");
    let name = sleep.file_name().and_then(|n| n.to_str()).expect("utf-8").to_string();
    let mut dp = load_dataplane();
    let (tx, mut rx) = mpsc::channel(64);
    let d = defs(&format!("vrrp_track_process sleeper {{\n process {name}\n}}\n"));
    let _trackers = ProcessTrackers::start(&mut dp, &d, tx).await.expect("trackers start");
    expect_count(&mut rx, "sleeper", 0).await;

    let mut procs = Procs::default();
    let spawn = |procs: &mut Procs| {
        let mut cmd = launch(&sleep);
        cmd.arg("600");
        procs.spawn(cmd)
    };
    let a = spawn(&mut procs);
    expect_count(&mut rx, "sleeper", 1).await;
    let b = spawn(&mut procs);
    expect_count(&mut rx, "sleeper", 2).await;
    procs.kill(a);
    expect_count(&mut rx, "sleeper", 1).await;
    procs.kill(b);
    expect_count(&mut rx, "sleeper", 0).await;
}

#[tokio::test]
async fn counts_processes_of_another_network_namespace() {
    let test = "counts_processes_of_another_network_namespace";
    if !require_root(test) {
        return;
    }
    vrrp_tests::install_ctrlc_cleanup();
    let ns = Netns::create(&new_prefix("tpns")).expect("netns");
    // The processes live in `ns`; the tracker in this test's namespace.
    zero_one_two_zero(test, |prog| {
        let mut c = ns.cmd(prog.to_str().expect("utf-8"));
        c.stdout(Stdio::null());
        c
    })
    .await;
}

#[tokio::test]
async fn counts_with_the_tracker_inside_a_network_namespace() {
    let test = "counts_with_the_tracker_inside_a_network_namespace";
    if std::env::var(CHILD_ENV).as_deref() == Ok("netns") {
        // The child: inside `ip netns exec`, which gives it a /sys without tracefs (the
        // dataplane mounts one).
        let tracefs = |when| println!("tracefs {when}: {}", Path::new("/sys/kernel/tracing/events").exists());
        tracefs("before");
        zero_one_two_zero(test, |prog| Command::new(prog)).await;
        tracefs("after");
        println!("CHILD-OK");
        return;
    }
    if !require_root(test) {
        return;
    }
    vrrp_tests::install_ctrlc_cleanup();
    let ns = Netns::create(&new_prefix("tpin")).expect("netns");
    let exe = std::env::current_exe().expect("test binary");
    let mut procs = Procs::default();
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", &ns.name])
        .arg(&exe)
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, "netns")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let i = procs.spawn(cmd);
    // The child has its own deadlines; this one only bounds the wait for it.
    let child = &mut procs.0[i];
    let stdout = child.stdout.take().expect("piped");
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let text: Vec<String> = BufReader::new(stdout).lines().map_while(Result::ok).collect();
        let _ = done_tx.send(text);
    });
    let out = done_rx.recv_timeout(DEADLINE * 6).expect("child test finished in time");
    let status = procs.0[i].wait().expect("wait");
    assert!(status.success() && out.iter().any(|l| l.ends_with("CHILD-OK")), "child failed ({status}):\n{}", out.join("\n"));
    eprintln!("child:\n{}", out.join("\n"));
}

#[tokio::test]
async fn parameters_match_as_keepalived_matches_them() {
    let test = "parameters_match_as_keepalived_matches_them";
    if !require_root(test) {
        return;
    }
    let scratch = Scratch::new(test);
    let sleep = scratch.copy("/bin/sleep", "p");
    let cat = scratch.copy("/bin/cat", "c");
    let (path, cat_path) = (sleep.to_str().expect("utf-8"), cat.to_str().expect("utf-8"));
    let d = defs(&format!(
        "vrrp_track_process exact {{\n process {path} 600 1\n}}\n\
         vrrp_track_process partial {{\n process {path} 600\n param_match partial\n}}\n\
         vrrp_track_process initial {{\n process {path} 60\n param_match initial\n}}\n\
         vrrp_track_process any {{\n process {path}\n full_command\n}}\n\
         vrrp_track_process noparams {{\n process {cat_path}\n param_match\n}}\n"
    ));
    let names = ["exact", "partial", "initial", "any", "noparams"];
    let mut dp = load_dataplane();
    let (tx, mut rx) = mpsc::channel(64);
    let trackers = ProcessTrackers::start(&mut dp, &d, tx).await.expect("trackers start");
    for n in names {
        expect_count(&mut rx, n, 0).await;
    }
    let mut procs = Procs::default();
    let run = |procs: &mut Procs, args: &[&str]| {
        let mut c = Command::new(&sleep);
        c.args(args);
        procs.spawn(c)
    };
    // `sleep 600 1`: exact, partial (600, then more), initial ("60" begins "600"), any.
    run(&mut procs, &["600", "1"]);
    expect_count(&mut rx, "exact", 1).await;
    expect_count(&mut rx, "partial", 1).await;
    expect_count(&mut rx, "initial", 1).await;
    expect_count(&mut rx, "any", 1).await;
    // `sleep 6000`: initial ("60" begins "6000"; partial wants "600" whole), any.
    run(&mut procs, &["6000"]);
    expect_count(&mut rx, "initial", 2).await;
    expect_count(&mut rx, "any", 2).await;
    // `sleep 600`: partial, initial, any; not exact (a parameter short).
    run(&mut procs, &["600"]);
    expect_count(&mut rx, "partial", 2).await;
    expect_count(&mut rx, "initial", 3).await;
    expect_count(&mut rx, "any", 3).await;
    // argv[0] not the configured path: none of them.
    let mut c = Command::new(&sleep);
    c.arg0("sleep").arg("600");
    procs.spawn(c);
    // `cat` with a parameter: not noparams; `cat` alone (waiting on a pipe): noparams.
    let mut c = Command::new(&cat);
    c.arg("-");
    let mut cat_arg = c.stdin(Stdio::piped()).spawn().expect("cat -");
    let mut cat_alone = Command::new(&cat).stdin(Stdio::piped()).spawn().expect("cat");
    expect_count(&mut rx, "noparams", 1).await;

    // A fresh /proc scan agrees with the counts the events built.
    let (tx2, mut rx2) = mpsc::channel(64);
    let _fresh = ProcessTrackers::start(&mut load_dataplane(), &d, tx2).await.expect("second trackers");
    let mut scanned = std::collections::BTreeMap::new();
    while let Ok(HealthEvent::Process { name, count }) = rx2.try_recv() {
        scanned.insert(name, count);
    }
    let want: std::collections::BTreeMap<String, u32> =
        [("exact", 1), ("partial", 2), ("initial", 3), ("any", 3), ("noparams", 1)].into_iter().map(|(n, c)| (n.to_string(), c)).collect();
    assert_eq!(scanned, want, "counts from a /proc scan");
    drop(trackers);
    let mut by_events = std::collections::BTreeMap::new();
    while let Ok(Some(HealthEvent::Process { name, count })) = tokio::time::timeout(DEADLINE, rx.recv()).await {
        by_events.insert(name, count);
    }
    for (name, count) in &want {
        // Only changes follow the first report: the last one seen is the count.
        let last = by_events.get(name).copied();
        assert!(last.is_none() || last == Some(*count), "{name}: events said {last:?}, the scan {count}");
    }
    for c in [&mut cat_arg, &mut cat_alone] {
        let _ = c.kill();
        let _ = c.wait();
    }
}

#[tokio::test]
async fn fork_without_exec_counts_fork_and_exec_does_not() {
    let test = "fork_without_exec_counts_fork_and_exec_does_not";
    if !require_root(test) {
        return;
    }
    let scratch = Scratch::new(test);
    let sh = scratch.copy("/bin/sh", "f");
    let name = sh.file_name().and_then(|n| n.to_str()).expect("utf-8").to_string();
    let mut dp = load_dataplane();
    let (tx, mut rx) = mpsc::channel(64);
    let d = defs(&format!("vrrp_track_process shells {{\n process {name}\n}}\n"));
    let _trackers = ProcessTrackers::start(&mut dp, &d, tx).await.expect("trackers start");
    expect_count(&mut rx, "shells", 0).await;
    let mut procs = Procs::default();
    // The shell forks a subshell (same program, same name: counts) which forks `sleep`
    // (counts until it execs sleep, then not); `; :` keeps the subshell from exec'ing it.
    // (Grandchildren do not die with this test if it is interrupted: 60 s bounds them.)
    let mut c = Command::new(&sh);
    c.args(["-c", "(/bin/sleep 60; :) & wait"]);
    let i = procs.spawn(c);
    expect_count(&mut rx, "shells", 2).await;
    // That 2 may be the one before `sleep` was forked (2 -> 3 -> 2 as it forks and execs):
    // cross-check with /proc once `sleep` has exec'd (two processes by that name), then the
    // tracker's last word must be 2 as well.
    let by_name = || {
        std::fs::read_dir("/proc")
            .expect("/proc")
            .filter_map(|e| std::fs::read(e.ok()?.path().join("comm")).ok())
            .filter(|c| c.strip_suffix(b"\n") == Some(name.as_bytes()))
            .count()
    };
    vrrp_tests::wait_for(DEADLINE, "two processes by that name in /proc", || (by_name() == 2).then_some(()))
        .unwrap_or_else(|e| panic!("{e}"));
    let mut last = 2;
    while let Ok(ev) = rx.try_recv() {
        if let HealthEvent::Process { name: n, count } = ev
            && n == "shells"
        {
            last = count;
        }
    }
    if last != 2 {
        expect_count(&mut rx, "shells", 2).await;
    }
    procs.kill(i);
    expect_count(&mut rx, "shells", 0).await;
}

#[tokio::test]
async fn thread_exits_are_not_process_exits() {
    let test = "thread_exits_are_not_process_exits";
    if std::env::var(CHILD_ENV).as_deref() == Ok("threads") {
        // The child (a copy of this binary under a unique name): threads come and go, then
        // it waits for its stdin to close.
        for round in 0..4 {
            let handles: Vec<_> = (0..8).map(|i| std::thread::spawn(move || round * 8 + i)).collect();
            for h in handles {
                h.join().expect("thread");
            }
        }
        println!("THREADS-DONE");
        let mut line = String::new();
        let _ = std::io::stdin().read_line(&mut line);
        return;
    }
    if !require_root(test) {
        return;
    }
    let scratch = Scratch::new(test);
    let me = scratch.copy(std::env::current_exe().expect("test binary").to_str().expect("utf-8"), "t");
    let sentinel = scratch.copy("/bin/sleep", "z");
    let name = |p: &Path| p.file_name().and_then(|n| n.to_str()).expect("utf-8").to_string();
    let mut dp = load_dataplane();
    let (tx, mut rx) = mpsc::channel(64);
    let d = defs(&format!(
        "vrrp_track_process threaded {{\n process {}\n}}\nvrrp_track_process sentinel {{\n process {}\n}}\n",
        name(&me),
        name(&sentinel)
    ));
    let _trackers = ProcessTrackers::start(&mut dp, &d, tx).await.expect("trackers start");
    expect_count(&mut rx, "threaded", 0).await;
    expect_count(&mut rx, "sentinel", 0).await;

    let mut child = die_with_parent(&mut Command::new(&me))
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, "threads")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .process_group(0)
        .spawn()
        .expect("spawn child");
    let mut procs = Procs::default();
    let stdout = child.stdout.take().expect("piped");
    let stdin = child.stdin.take().expect("piped");
    procs.0.push(child);
    expect_count(&mut rx, "threaded", 1).await;
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.ends_with("THREADS-DONE") {
                let _ = done_tx.send(());
            }
        }
    });
    tokio::task::spawn_blocking(move || done_rx.recv_timeout(DEADLINE))
        .await
        .expect("join")
        .expect("the child's 32 threads started and ended");
    // Events are applied in order: once the sentinel's start is seen, every thread exit
    // before it was handled, and none changed the count.
    let mut c = Command::new(&sentinel);
    c.arg("600");
    procs.spawn(c);
    match tokio::time::timeout(DEADLINE, rx.recv()).await.expect("sentinel event in time") {
        Some(HealthEvent::Process { name, count: 1 }) if name == "sentinel" => {}
        other => panic!("before the sentinel, only its own event may come: got {other:?}"),
    }
    // The process itself ending does count.
    drop(stdin);
    expect_count(&mut rx, "threaded", 0).await;
}

#[tokio::test]
async fn reload_keeps_unchanged_definitions_and_detaches_when_none_is_left() {
    let test = "reload_keeps_unchanged_definitions_and_detaches_when_none_is_left";
    if !require_root(test) {
        return;
    }
    let scratch = Scratch::new(test);
    let a = scratch.copy("/bin/sleep", "a");
    let b = scratch.copy("/bin/sleep", "b");
    let name = |p: &Path| p.file_name().and_then(|n| n.to_str()).expect("utf-8").to_string();
    let def_a = format!("vrrp_track_process A {{\n process {}\n}}\n", name(&a));
    let def_a_weight = format!("vrrp_track_process A {{\n process {}\n weight 10\n}}\n", name(&a));
    let def_b = format!("vrrp_track_process B {{\n process {}\n}}\n", name(&b));
    // The next report, whichever it is: reports come in order, so what a later change
    // reports shows that an earlier step reported nothing.
    async fn next(rx: &mut mpsc::Receiver<HealthEvent>) -> HealthEvent {
        tokio::time::timeout(DEADLINE, rx.recv()).await.expect("a report in time").expect("channel open")
    }
    let ev = |name: &str, count| HealthEvent::Process { name: name.into(), count };
    let mut dp = load_dataplane();
    let (tx, mut rx) = mpsc::channel(64);
    let mut trackers = ProcessTrackers::start(&mut dp, &defs(&def_a), tx).await.expect("start");
    assert_eq!(next(&mut rx).await, ev("A", 0));
    let mut procs = Procs::default();
    let spawn_a = |procs: &mut Procs| {
        let mut c = Command::new(&a);
        c.arg("600");
        procs.spawn(c)
    };
    spawn_a(&mut procs);
    assert_eq!(next(&mut rx).await, ev("A", 1));

    // A new definition reports; the unchanged one does not.
    trackers.update(&mut dp, &defs(&format!("{def_a}{def_b}"))).await.expect("update");
    assert_eq!(next(&mut rx).await, ev("B", 0));
    // A weight change is not a matching change: nothing to report (the next report is
    // B's, for a B process started after it).
    trackers.update(&mut dp, &defs(&format!("{def_a_weight}{def_b}"))).await.expect("update");
    let mut c = Command::new(&b);
    c.arg("600");
    let pb = procs.spawn(c);
    assert_eq!(next(&mut rx).await, ev("B", 1));
    procs.kill(pb);
    assert_eq!(next(&mut rx).await, ev("B", 0));
    // No definitions left: the programs are detached (the kernel has no link to them),
    // nothing more is reported.
    let programs = trackers.attached_programs().to_vec();
    assert_eq!(programs.len(), 4, "exec, exit, fork, rename");
    assert_eq!(links_to(&programs), 4);
    trackers.update(&mut dp, &[]).await.expect("update");
    assert!(trackers.attached_programs().is_empty());
    assert_eq!(links_to(&programs), 0);
    spawn_a(&mut procs);
    // Back: attached again, A starts over from a scan that finds both processes.
    trackers.update(&mut dp, &defs(&def_a)).await.expect("update");
    assert_eq!(next(&mut rx).await, ev("A", 2), "nothing was reported while detached");
    assert_eq!(links_to(trackers.attached_programs()), 4);
    // And events flow again.
    drop(procs);
    expect_count(&mut rx, "A", 0).await;
    // Dropped: detached.
    let programs = trackers.attached_programs().to_vec();
    drop(trackers);
    assert_eq!(links_to(&programs), 0);
}

/// How many kernel links attach one of these programs.
fn links_to(programs: &[u32]) -> usize {
    aya::programs::loaded_links()
        .filter_map(Result::ok)
        .filter(|l| programs.contains(&l.program_id()))
        .count()
}

#[tokio::test]
async fn lost_events_are_recovered_by_a_proc_scan() {
    let test = "lost_events_are_recovered_by_a_proc_scan";
    if !require_root(test) {
        return;
    }
    let scratch = Scratch::new(test);
    let flood = scratch.copy("/bin/sh", "f");
    let late = scratch.copy("/bin/sh", "x");
    let name = |p: &Path| p.file_name().and_then(|n| n.to_str()).expect("utf-8").to_string();
    let d = defs(&format!(
        "vrrp_track_process flood {{\n process {}\n}}\nvrrp_track_process late {{\n process {}\n}}\n",
        name(&flood),
        name(&late)
    ));
    let mut dp = load_dataplane();
    let (tx, mut rx) = mpsc::channel(64);
    let trackers = ProcessTrackers::start(&mut dp, &d, tx).await.expect("start");
    expect_count(&mut rx, "flood", 0).await;
    expect_count(&mut rx, "late", 0).await;
    // From here until the next await this test holds the runtime's only thread (a
    // current-thread runtime), so the tracker task cannot read the ring buffer: it fills up.
    // 7000 short-lived subshells: a fork and an exit event each, more than the ring holds.
    let mut procs = Procs::default();
    let wait_line = |child: &mut Child, want: &'static str| {
        let stdout = child.stdout.take().expect("piped");
        let (found_tx, found_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let found = BufReader::new(stdout).lines().map_while(Result::ok).any(|l| l == want);
            let _ = found_tx.send(found);
        });
        assert_eq!(found_rx.recv_timeout(DEADLINE * 3), Ok(true), "{want} from the child in time");
    };
    let mut c = Command::new(&flood);
    c.args(["-c", "i=0; while [ $i -lt 7000 ]; do (:); i=$((i+1)); done; echo done"]).stdout(Stdio::piped());
    let i = procs.spawn(c);
    wait_line(&mut procs.0[i], "done");
    // Started while the ring buffer is full: its events are lost. (Its output shows its exec
    // is over: spawn returns as soon as a vfork child leaves our memory, before the exec
    // tracepoints fire.)
    let mut c = Command::new(&late);
    // (`; :` keeps the shell from exec'ing sleep in its place.)
    c.args(["-c", "echo up; /bin/sleep 60; :"]).stdout(Stdio::piped());
    let j = procs.spawn(c);
    wait_line(&mut procs.0[j], "up");
    assert_eq!(trackers.stats().lost, 0, "the tracker has not looked yet");
    // Awaiting lets the tracker run: it finds the loss and rescans /proc.
    expect_count(&mut rx, "late", 1).await;
    let stats = trackers.stats();
    assert!(stats.lost > 0 && stats.rescans > 0, "{stats:?}");
}

#[tokio::test]
async fn start_and_update_never_wait_for_the_receiver() {
    let test = "start_and_update_never_wait_for_the_receiver";
    if !require_root(test) {
        return;
    }
    // The agent's event loop both calls update() (on SIGHUP) and receives the reports: if
    // update() waited for them to be received with the channel full, it would hang.
    let d = defs("vrrp_track_process a {\n process a\n}\nvrrp_track_process b {\n process b\n}\nvrrp_track_process c {\n process c\n}\n");
    let mut dp = load_dataplane();
    let (tx, mut rx) = mpsc::channel(1);
    let mut trackers = tokio::time::timeout(DEADLINE, ProcessTrackers::start(&mut dp, &d, tx))
        .await
        .expect("start returns with the channel full")
        .expect("start");
    let d2 = defs("vrrp_track_process d {\n process d\n}\nvrrp_track_process e {\n process e\n}\n");
    tokio::time::timeout(DEADLINE, trackers.update(&mut dp, &d2)).await.expect("update returns with the channel full").expect("update");
    // Everything arrives once read, in order.
    let mut names = Vec::new();
    while names.len() < 5 {
        match tokio::time::timeout(DEADLINE, rx.recv()).await.expect("reports in time") {
            Some(HealthEvent::Process { name, .. }) => names.push(name),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(names, ["a", "b", "c", "d", "e"]);
}
