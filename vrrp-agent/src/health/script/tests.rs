use std::path::{Path, PathBuf};

use super::*;
use crate::exec::testutil::{Reap, TempDir, alive, read_pid, wait_for};

fn def(name: &str, script: &Path, interval_s: u32, timeout_s: Option<u32>) -> VrrpScript {
    VrrpScript {
        name: name.into(),
        file: PathBuf::from("test.conf"),
        line: 10,
        script: script.display().to_string(),
        interval_s,
        timeout_s,
        weight: 0,
        weight_reverse: false,
        rise: 1,
        fall: 1,
        user: None,
        group: None,
        init_fail: false,
    }
}

async fn next(rx: &mut mpsc::Receiver<HealthEvent>, limit: Duration) -> (String, ScriptOutcome) {
    match tokio::time::timeout(limit, rx.recv()).await {
        Ok(Some(HealthEvent::Script { name, outcome })) => (name, outcome),
        other => panic!("no script event within {limit:?}: {other:?}"),
    }
}

fn lines(d: &TempDir, f: &str) -> usize {
    d.read(f).lines().count()
}

#[tokio::test]
async fn first_run_at_once_and_every_outcome_sent() {
    let d = TempDir::new("trk-first");
    let ok = d.script("ok.sh", "exit 0");
    let bad = d.script("bad.sh", "exit 3");
    let (tx, mut rx) = mpsc::channel(16);
    let start = tokio::time::Instant::now();
    let t = ScriptTrackers::start(&[def("ok", &ok, 60, None), def("bad", &bad, 60, None)], &ExecEnv::default(), Runner::new(), tx);
    let mut got = vec![next(&mut rx, Duration::from_secs(5)).await, next(&mut rx, Duration::from_secs(5)).await];
    got.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(got, [("bad".to_string(), ScriptOutcome::Failed(Some(3))), ("ok".to_string(), ScriptOutcome::Success)]);
    // Not a minute later: at once.
    assert!(start.elapsed() < Duration::from_secs(5));
    assert!(t.disabled().is_empty());
    t.stop().await;
}

#[tokio::test]
async fn a_script_slower_than_its_interval_never_runs_twice_at_once() {
    let d = TempDir::new("trk-slow");
    // Takes 1.5 intervals; marks overlaps with an atomic mkdir.
    let s = d.script(
        "slow.sh",
        &format!(
            "mkdir {lock} 2>/dev/null || echo overlap >> {log}\necho start >> {log}\nsleep 1.5\nrmdir {lock}\n",
            lock = d.path("lock").display(),
            log = d.path("log").display()
        ),
    );
    let (tx, mut rx) = mpsc::channel(16);
    let t = ScriptTrackers::start(&[def("slow", &s, 1, Some(5))], &ExecEnv::default(), Runner::new(), tx);
    for _ in 0..2 {
        assert_eq!(next(&mut rx, Duration::from_secs(6)).await, ("slow".to_string(), ScriptOutcome::Success));
    }
    t.stop().await;
    let log = d.read("log");
    assert!(!log.contains("overlap"), "{log}");
    // Ticks at 0 and 2 s ran; the one at 1 s found the first run going and was skipped.
    assert_eq!(log.lines().filter(|l| *l == "start").count(), 2, "{log}");
}

#[tokio::test]
async fn a_run_outliving_its_timeout_is_killed_with_its_group_and_reported() {
    let d = TempDir::new("trk-timeout");
    let s = d.script(
        "hang.sh",
        &format!("sleep 600 &\necho $! > {}\necho $$ > {}\nsleep 600", d.path("child").display(), d.path("me").display()),
    );
    let (tx, mut rx) = mpsc::channel(16);
    // timeout defaults to the interval (1 s).
    let t = ScriptTrackers::start(&[def("hang", &s, 1, None)], &ExecEnv::default(), Runner::new(), tx);
    let (me, child) = (read_pid(&d.path("me")).await, read_pid(&d.path("child")).await);
    let _reap = Reap(vec![me, child]);
    assert_eq!(next(&mut rx, Duration::from_secs(5)).await, ("hang".to_string(), ScriptOutcome::TimedOut));
    wait_for(Duration::from_secs(2), "the script and its child to die", || (!alive(me) && !alive(child)).then_some(())).await;
    t.stop().await;
}

#[tokio::test]
async fn reload_keeps_unchanged_restarts_changed_and_stops_removed() {
    let d = TempDir::new("trk-reload");
    let rec = |name: &str| d.script(&format!("{name}.sh"), &format!("echo run >> {}", d.path(&format!("{name}.runs")).display()));
    let (a, b) = (rec("a"), rec("b"));
    let c = d.script("c.sh", &format!("echo $$ > {}\nsleep 600", d.path("c.pid").display()));
    let (tx, mut rx) = mpsc::channel(16);
    let env = ExecEnv::default();
    let defs = [def("a", &a, 60, None), def("b", &b, 60, None), def("c", &c, 60, Some(600))];
    let mut t = ScriptTrackers::start(&defs, &env, Runner::new(), tx);
    for _ in 0..2 {
        next(&mut rx, Duration::from_secs(5)).await;
    }
    let c_pid = read_pid(&d.path("c.pid")).await;
    let _reap = Reap(vec![c_pid]);
    assert_eq!((lines(&d, "a.runs"), lines(&d, "b.runs")), (1, 1));

    // a: same definition on another line (unchanged); b: new weight (changed); c: gone;
    // n: new.
    let n = d.script("n.sh", "sleep 0.2");
    let mut a2 = def("a", &a, 60, None);
    a2.line = 40;
    let mut b2 = def("b", &b, 60, None);
    b2.weight = -10;
    let mut started = t.update(&[a2, b2, def("n", &n, 60, None)], &env);
    started.sort();
    assert_eq!(started, ["b", "n"]);
    let mut got = vec![next(&mut rx, Duration::from_secs(5)).await.0, next(&mut rx, Duration::from_secs(5)).await.0];
    got.sort();
    assert_eq!(got, ["b", "n"]);
    assert_eq!((lines(&d, "a.runs"), lines(&d, "b.runs")), (1, 2), "a kept its schedule, b ran at once");
    wait_for(Duration::from_secs(3), "the removed script's run to be killed", || (!alive(c_pid)).then_some(())).await;
    let mut running = t.running();
    running.sort();
    assert_eq!(running, ["a", "b", "n"]);
    t.stop().await;
}

#[tokio::test]
async fn a_script_that_cannot_run_is_disabled_and_sends_nothing() {
    let d = TempDir::new("trk-disabled");
    let ok = d.script("ok.sh", "exit 0");
    let (tx, mut rx) = mpsc::channel(16);
    let mut missing = def("missing", &d.path("nope.sh"), 1, None);
    missing.line = 21;
    let t = ScriptTrackers::start(&[missing, def("ok", &ok, 60, None)], &ExecEnv::default(), Runner::new(), tx);
    assert_eq!(t.disabled().len(), 1);
    let dis = &t.disabled()[0];
    assert_eq!((dis.name.as_str(), dis.at.as_str()), ("missing", "test.conf:21"));
    assert!(matches!(dis.error, ExecError::NotFound { .. }), "{}", dis.error);
    assert_eq!(next(&mut rx, Duration::from_secs(5)).await.0, "ok");
    assert_eq!(t.running(), ["ok"]);
    t.stop().await;
}

#[tokio::test]
async fn stop_kills_runs_in_progress() {
    let d = TempDir::new("trk-stop");
    let s = d.script("long.sh", &format!("echo $$ > {}\nsleep 600", d.path("pid").display()));
    let (tx, _rx) = mpsc::channel(16);
    let runner = Runner::new();
    let t = ScriptTrackers::start(&[def("long", &s, 60, Some(600))], &ExecEnv::default(), runner.clone(), tx);
    let pid = read_pid(&d.path("pid")).await;
    let _reap = Reap(vec![pid]);
    t.stop().await;
    assert!(runner.running().is_empty());
    wait_for(Duration::from_secs(3), "the run to be killed", || (!alive(pid)).then_some(())).await;
}

/// A `tracing` writer that keeps every line for the test to read.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// "Script `x` now returning N" is the core's line (it knows rise/fall and logs it once);
/// the tracker logging it too printed it twice.
#[tokio::test]
async fn the_tracker_leaves_the_now_returning_line_to_the_core() {
    let logs = Captured::default();
    let w = logs.clone();
    let subscriber = tracing_subscriber::fmt().with_writer(move || w.clone()).with_ansi(false).with_max_level(tracing::Level::DEBUG).finish();
    // The test runtime is single-threaded: the tracker's task logs on this thread.
    let _guard = tracing::subscriber::set_default(subscriber);
    let d = TempDir::new("trk-log");
    let bad = d.script("bad.sh", "exit 3");
    let (tx, mut rx) = mpsc::channel(16);
    let t = ScriptTrackers::start(&[def("bad", &bad, 60, None)], &ExecEnv::default(), Runner::new(), tx);
    assert_eq!(next(&mut rx, Duration::from_secs(5)).await, ("bad".to_string(), ScriptOutcome::Failed(Some(3))));
    t.stop().await;
    let text = logs.text();
    // The capture works (the tracker's own debug line is there) ...
    assert!(text.contains("vrrp_script bad: running"), "{text}");
    // ... and the status line is not.
    assert!(!text.contains("now returning"), "{text}");
}
