//! Matching and counting without the kernel: keepalived 2.2.7's rules on made-up processes.
//! (The tracepoints and real processes are tested in tests/tests/track_process.rs.)
use super::*;
use crate::config::{LoadOptions, parse_str};

/// The definitions of a keepalived.conf snippet, through the real parser.
fn defs(text: &str) -> Vec<TrackProcess> {
    let loaded = parse_str(text, "test.conf", &LoadOptions::default()).expect("parse_str never fails");
    loaded.config.track_processes
}

fn def(body: &str) -> TrackProcess {
    let mut d = defs(&format!("vrrp_track_process t {{\n{body}\n}}\n"));
    assert_eq!(d.len(), 1, "{body}");
    d.remove(0)
}

fn matcher(body: &str) -> Matcher {
    Matcher::new(&def(body))
}

/// A command line as the kernel shows it: each word NUL terminated.
fn cmdline(words: &[&str]) -> Vec<u8> {
    let mut v = Vec::new();
    for w in words {
        v.extend_from_slice(w.as_bytes());
        v.push(0);
    }
    v
}

/// Does a process with this name and command line count for `body`?
fn hits(body: &str, comm: &str, words: &[&str]) -> bool {
    let m = matcher(body);
    let full = cmdline(words);
    // Read as the tracker reads it: no more than the matcher asks for.
    let cut = &full[..full.len().min(m.cmdline_bytes())];
    m.matches(comm.as_bytes(), Some(cut))
}

#[test]
fn name_matching_is_exact_on_the_process_name() {
    let body = "process sshd";
    assert!(hits(body, "sshd", &["/usr/sbin/sshd", "-D"]));
    // pgrep would match both of these; keepalived (and we) do not.
    assert!(!hits(body, "ssh", &["ssh", "host"]));
    assert!(!hits(body, "sshd-session", &["sshd-session"]));
    // Only the name counts, not the command line.
    assert!(!hits(body, "bash", &["sshd"]));
    assert!(!matcher(body).uses_cmdline());
    // The kernel keeps 15 bytes of a name: a longer `process` never matches without
    // full_command, which the table warns about.
    assert!(matcher("process a-very-long-daemon").can_never_match());
    assert!(hits("process a-very-long-dae", "a-very-long-dae", &[]));
    assert!(!matcher("process a-very-long-daemon\nfull_command").can_never_match());
}

#[test]
fn full_command_matches_the_first_word_of_the_command_line() {
    let body = "process /usr/sbin/nginx\nfull_command";
    assert!(hits(body, "nginx", &["/usr/sbin/nginx"]));
    // No param_match: the parameters do not matter.
    assert!(hits(body, "nginx", &["/usr/sbin/nginx", "-g", "daemon off;"]));
    assert!(!hits(body, "nginx", &["nginx"]));
    assert!(!hits(body, "nginx", &["/usr/sbin/nginx2"]));
    // A rewritten command line ("nginx: master process ...") is one word without a NUL.
    let m = matcher(body);
    assert!(!m.matches(b"nginx", Some(b"nginx: master process /usr/sbin/nginx")));
    assert!(m.matches(b"nginx", Some(b"/usr/sbin/nginx")));
    // Unreadable command line (the process is gone): no match.
    assert!(!m.matches(b"nginx", None));
}

#[test]
fn parameters_on_the_process_line_match_exactly() {
    let body = "process /bin/sleep 100 200";
    assert!(matcher(body).uses_cmdline());
    assert!(hits(body, "sleep", &["/bin/sleep", "100", "200"]));
    assert!(!hits(body, "sleep", &["/bin/sleep", "100"]));
    assert!(!hits(body, "sleep", &["/bin/sleep", "100", "200", "300"]));
    assert!(!hits(body, "sleep", &["/bin/sleep", "100", "2000"]));
    assert!(!hits(body, "sleep", &["/bin/sleep", "100200"]));
    assert!(!hits(body, "sleep", &["/bin/sleep", "100 200"]));
    // Quoted parameters keep their spaces.
    let body = "process /bin/sh -c \"sleep 5\"";
    assert!(hits(body, "sh", &["/bin/sh", "-c", "sleep 5"]));
    assert!(!hits(body, "sh", &["/bin/sh", "-c", "sleep", "5"]));
}

#[test]
fn bare_param_match_means_no_parameters() {
    let body = "process /bin/sleep\nparam_match";
    assert!(hits(body, "sleep", &["/bin/sleep"]));
    assert!(!hits(body, "sleep", &["/bin/sleep", "1"]));
    assert!(!hits(body, "sleep", &["/bin/sleep", ""]));
}

#[test]
fn partial_match_wants_the_configured_parameters_first() {
    let body = "process /bin/sleep 100\nparam_match partial";
    assert!(hits(body, "sleep", &["/bin/sleep", "100"]));
    assert!(hits(body, "sleep", &["/bin/sleep", "100", "extra", "args"]));
    assert!(!hits(body, "sleep", &["/bin/sleep", "1000"]));
    assert!(!hits(body, "sleep", &["/bin/sleep", "10"]));
    assert!(!hits(body, "sleep", &["/bin/sleep"]));
    assert!(!hits(body, "sleep", &["/bin/sleep", "x", "100"]));
    // Without parameters, partial accepts any.
    let body = "process /bin/sleep\nparam_match partial";
    assert!(hits(body, "sleep", &["/bin/sleep"]));
    assert!(hits(body, "sleep", &["/bin/sleep", "5"]));
}

#[test]
fn initial_match_lets_the_last_parameter_be_longer() {
    let body = "process /bin/sleep 10 --conf=/etc/a\nparam_match initial";
    assert!(hits(body, "sleep", &["/bin/sleep", "10", "--conf=/etc/a"]));
    assert!(hits(body, "sleep", &["/bin/sleep", "10", "--conf=/etc/abc"]));
    // keepalived compares only up to the end of the last configured parameter, so more
    // parameters may follow too.
    assert!(hits(body, "sleep", &["/bin/sleep", "10", "--conf=/etc/a", "-v"]));
    assert!(!hits(body, "sleep", &["/bin/sleep", "10", "--conf=/etc/"]));
    assert!(!hits(body, "sleep", &["/bin/sleep", "100", "--conf=/etc/a"]));
    assert!(!hits(body, "sleep", &["/bin/sleep", "10"]));
    // Earlier parameters must be complete.
    assert!(!hits(body, "sleep", &["/bin/sleep", "1", "0", "--conf=/etc/a"]));
}

#[test]
fn parameters_without_nul_after_the_first_word() {
    // What keepalived's arithmetic gives when argv[0] is not NUL terminated: nothing can
    // match parameters; initial/partial without configured parameters accept.
    assert!(!params_match(ParamMatch::Exact, None, None));
    assert!(!params_match(ParamMatch::Exact, Some(b"1\0"), None));
    assert!(params_match(ParamMatch::Partial, None, None));
    assert!(params_match(ParamMatch::Initial, None, None));
    assert!(!params_match(ParamMatch::Partial, Some(b"1\0"), None));
}

#[test]
fn stat_lines() {
    assert_eq!(parse_stat(b"42 (sleep) S 1 42 42 0"), Some((b"sleep".to_vec(), b'S')));
    assert_eq!(parse_stat(b"43 (a) (b) c) Z 1"), Some((b"a) (b) c".to_vec(), b'Z')));
    assert_eq!(parse_stat(b"44 (x y) R"), Some((b"x y".to_vec(), b'R')));
    assert_eq!(parse_stat(b"garbage"), None);
    assert_eq!(parse_stat(b"45 (cut"), None);
    assert_eq!(parse_stat(b"46 (cut)"), None);
}

#[test]
fn this_process_is_found_by_a_proc_scan() {
    let me = std::process::id();
    let procs = scan_processes(Path::new("/proc"), Some(4096)).expect("/proc readable");
    let mine = procs.iter().find(|p| p.pid == me).expect("this process is listed");
    let comm = std::fs::read("/proc/self/comm").expect("comm");
    assert_eq!(mine.comm, comm.strip_suffix(b"\n").unwrap_or(&comm));
    let exe = std::env::args().next().expect("argv[0]");
    assert!(mine.cmdline.as_deref().expect("read").starts_with(exe.as_bytes()));
    // Without a definition on command lines, none are read.
    let procs = scan_processes(Path::new("/proc"), None).expect("/proc readable");
    assert!(procs.iter().all(|p| p.cmdline.is_none()));
}

fn info(pid: u32, comm: &str, words: &[&str]) -> ProcessInfo {
    ProcessInfo { pid, comm: comm.as_bytes().to_vec(), cmdline: Some(cmdline(words)) }
}

fn count_of(events: &[HealthEvent], name: &str) -> Option<u32> {
    events.iter().rev().find_map(|e| match e {
        HealthEvent::Process { name: n, count } if n == name => Some(*count),
        _ => None,
    })
}

const TWO: &str = "vrrp_track_process web {\n process nginx\n}\nvrrp_track_process db {\n process /usr/bin/pg 5432\n}\n";

#[test]
fn counts_follow_exec_fork_rename_and_exit() {
    let mut t = ProcessTable::new(&defs(TWO));
    assert!(t.needs_scan());
    // Nothing is reported before the scan.
    assert_eq!(t.poll_events(), vec![]);
    t.handle_scan(&[info(10, "nginx", &["nginx"]), info(11, "bash", &["bash"]), info(12, "pg", &["/usr/bin/pg", "5432"])], false);
    assert!(!t.needs_scan());
    // Every definition reports once after its scan, even a count of 0 would.
    let ev = t.poll_events();
    assert_eq!(count_of(&ev, "web"), Some(1));
    assert_eq!(count_of(&ev, "db"), Some(1));
    assert_eq!(ev.len(), 2);
    assert_eq!(t.poll_events(), vec![], "no change, no event");

    // A worker forks off the master: it counts as the master does.
    t.handle_fork(10, 20);
    assert_eq!(t.poll_events(), vec![HealthEvent::Process { name: "web".into(), count: 2 }]);
    // Forks of untracked processes do not count.
    t.handle_fork(11, 21);
    assert_eq!(t.poll_events(), vec![]);
    // The fork execs something else: no longer nginx.
    t.handle_exec(20, b"logrotate", Some(&cmdline(&["logrotate"])));
    assert_eq!(t.poll_events(), vec![HealthEvent::Process { name: "web".into(), count: 1 }]);
    // An untracked process execs nginx.
    t.handle_exec(21, b"nginx", Some(&cmdline(&["nginx", "-t"])));
    assert_eq!(t.poll_events(), vec![HealthEvent::Process { name: "web".into(), count: 2 }]);
    // Exec of the same program again changes nothing (keepalived would count it twice).
    t.handle_exec(21, b"nginx", Some(&cmdline(&["nginx"])));
    assert_eq!(t.poll_events(), vec![]);
    // Renamed (prctl): name matching follows, command-line matching does not.
    t.handle_comm(21, b"nginx-worker");
    t.handle_comm(12, b"postgres: main");
    assert_eq!(t.poll_events(), vec![HealthEvent::Process { name: "web".into(), count: 1 }]);
    t.handle_comm(11, b"nginx");
    assert_eq!(t.poll_events(), vec![HealthEvent::Process { name: "web".into(), count: 2 }]);
    // Exits.
    t.handle_exit(10);
    t.handle_exit(11);
    t.handle_exit(999);
    t.handle_exit(12);
    let ev = t.poll_events();
    assert_eq!(count_of(&ev, "web"), Some(0));
    assert_eq!(count_of(&ev, "db"), Some(0));
    assert_eq!(t.counts(), vec![("web".to_string(), 0), ("db".to_string(), 0)]);
}

#[test]
fn a_process_gone_before_its_command_line_was_read_does_not_count() {
    let mut t = ProcessTable::new(&defs(TWO));
    t.handle_scan(&[], false);
    t.poll_events();
    t.handle_exec(30, b"pg", None);
    assert_eq!(t.poll_events(), vec![]);
    // Name matching does not need the command line.
    t.handle_exec(31, b"nginx", None);
    assert_eq!(t.poll_events(), vec![HealthEvent::Process { name: "web".into(), count: 1 }]);
    assert_eq!(t.cmdline_bytes(), Some("/usr/bin/pg".len() + 1 + "5432".len() + 1 + 2));
    assert_eq!(ProcessTable::new(&defs("vrrp_track_process a {\n process x\n}\n")).cmdline_bytes(), None);
}

#[test]
fn reload_keeps_unchanged_definitions_and_rescans_changed_ones() {
    let mut t = ProcessTable::new(&defs(TWO));
    t.handle_scan(&[info(10, "nginx", &["nginx"]), info(12, "pg", &["/usr/bin/pg", "5432"])], false);
    t.poll_events();
    t.handle_fork(10, 20);
    t.poll_events();
    // web: only the weight changed (not matching): kept, with its fork, nothing reported.
    // db: now partial: rescanned. new: added, rescanned.
    let text = "vrrp_track_process web {\n process nginx\n weight 10\n}\n\
                vrrp_track_process db {\n process /usr/bin/pg 5432\n param_match partial\n}\n\
                vrrp_track_process new {\n process sleep\n}\n";
    t.update(&defs(text));
    assert!(t.needs_scan());
    let scan = [
        info(10, "nginx", &["nginx"]),
        info(20, "nginx", &["nginx"]),
        info(12, "pg", &["/usr/bin/pg", "5432", "-v"]),
        info(13, "pg", &["/usr/bin/pg", "5432"]),
    ];
    t.handle_scan(&scan, false);
    let ev = t.poll_events();
    assert_eq!(count_of(&ev, "web"), None, "unchanged: no event");
    assert_eq!(count_of(&ev, "db"), Some(2));
    assert_eq!(count_of(&ev, "new"), Some(0));
    // Removing one forgets it; the rest keep going.
    t.update(&defs("vrrp_track_process web {\n process nginx\n}\n"));
    assert!(!t.needs_scan());
    assert_eq!(t.poll_events(), vec![]);
    assert_eq!(t.counts(), vec![("web".to_string(), 2)]);
    t.update(&[]);
    assert!(t.is_empty());
}

#[test]
fn a_rescan_after_lost_events_replaces_every_count() {
    let mut t = ProcessTable::new(&defs(TWO));
    t.handle_scan(&[info(10, "nginx", &["nginx"]), info(11, "nginx", &["nginx"])], false);
    t.poll_events();
    // Events were lost: 11 exited and 40 started meanwhile.
    t.handle_scan(&[info(10, "nginx", &["nginx"]), info(40, "pg", &["/usr/bin/pg", "5432"])], true);
    let ev = t.poll_events();
    assert_eq!(count_of(&ev, "web"), Some(1));
    assert_eq!(count_of(&ev, "db"), Some(1));
}

#[test]
fn reports_queue_in_order_and_merge_when_nobody_reads() {
    let ev = |name: &str, count| HealthEvent::Process { name: name.into(), count };
    let mut outbox = VecDeque::new();
    queue(&mut outbox, vec![ev("a", 1), ev("b", 1), ev("a", 2)]);
    assert_eq!(Vec::from(outbox.clone()), vec![ev("a", 1), ev("b", 1), ev("a", 2)], "in order, every change");
    // Past the bound, each definition keeps its latest count, in the order of those.
    let many: Vec<_> = (0..MAX_OUTBOX as u32).map(|i| ev(if i % 2 == 0 { "a" } else { "c" }, i)).collect();
    queue(&mut outbox, many);
    let last_a = MAX_OUTBOX as u32 - 2;
    let last_c = MAX_OUTBOX as u32 - 1;
    assert_eq!(Vec::from(outbox), vec![ev("b", 1), ev("a", last_a), ev("c", last_c)]);
}

/// A `/proc` read that never returns (a process in D state holds its cmdline's mmap lock)
/// must not stop the agent, whose runtime has one thread: the reads happen on the tracker's
/// own thread. Here a made-up `/proc` whose `cmdline` is a FIFO nobody writes stalls the scan
/// until the test writes it.
#[test]
#[expect(clippy::unwrap_used, reason = "tests: a failing step fails the test")]
fn a_stalled_proc_read_does_not_stop_the_runtime() {
    use std::sync::atomic::AtomicBool;
    let dir = std::env::temp_dir().join(format!("vrrp-agent-fakeproc-{}", std::process::id()));
    struct Cleanup(std::path::PathBuf);
    impl Drop for Cleanup {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    let _cleanup = Cleanup(dir.clone());
    let pid_dir = dir.join("4242");
    std::fs::create_dir_all(&pid_dir).unwrap();
    std::fs::write(pid_dir.join("stat"), "4242 (daemon) S 1 4242 4242 0 -1\n").unwrap();
    let fifo = pid_dir.join("cmdline");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();

    // Whoever comes first unblocks the read: the test, or (so that a failing test ends
    // instead of hanging) a watchdog after a deadline.
    let fired = Arc::new(AtomicBool::new(false));
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let watchdog = std::thread::spawn({
        let (fifo, fired) = (fifo.clone(), fired.clone());
        move || {
            if release_rx.recv_timeout(std::time::Duration::from_secs(3)).is_err() {
                fired.store(true, Ordering::SeqCst);
                let _ = std::fs::write(&fifo, b"other\0");
            }
        }
    });

    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let table = rt.block_on(async {
        let mut table = ProcessTable::new(&[def("process daemon\nfull_command")]);
        assert!(table.needs_scan());
        let reader = ProcReader::start().unwrap();
        let proc = dir.clone();
        let job = tokio::spawn(async move {
            let t = reader.with_table(table, move |t| scan(t, &proc, false)).await;
            drop(reader);
            t
        });
        // Give the job its turn: had it read inline, this thread would be stuck in the
        // read until the watchdog's deadline.
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        assert!(!fired.load(Ordering::SeqCst), "the runtime was blocked until the watchdog fired");
        assert!(!job.is_finished(), "the scan waits for the FIFO");
        let _ = release_tx.send(());
        std::fs::write(&fifo, b"daemon\0").unwrap();
        table = job.await.unwrap().expect("the reader thread gives the table back");
        table
    });
    watchdog.join().unwrap();
    assert!(!table.needs_scan());
    assert_eq!(table.counts(), [("t".to_string(), 1)]);
}
