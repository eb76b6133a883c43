use std::{
    io::Read as _,
    os::unix::fs::{FileTypeExt as _, PermissionsExt as _},
    path::PathBuf,
    time::Duration,
};

use super::*;
use crate::exec::testutil::{Reap, TempDir, alive, read_pid, wait_for};

fn cmd(command: &str) -> ScriptCommand {
    ScriptCommand { command: command.to_string(), user: None, file: PathBuf::from("test.conf"), line: 7 }
}

fn fifo_conf(path: &Path) -> NotifyFifo {
    NotifyFifo { path: path.to_path_buf(), user: None, file: PathBuf::from("test.conf"), line: 3 }
}

#[tokio::test]
async fn specific_then_generic_script_with_keepalived_arguments() {
    let d = TempDir::new("notify-args");
    let rec = d.script("rec.sh", &format!("echo \"$*\" >> {}", d.path("calls").display()));
    let scripts = Scripts {
        notify: Some(cmd(&rec.display().to_string())),
        master: Some(cmd(&format!("'{}' master-script", rec.display()))),
        ..Scripts::default()
    };
    let mut n = Notifier::new(Duration::from_secs(5));
    n.notify(&scripts, "VI_1", NotifyState::Master, 150);
    n.notify(&scripts, "VI_1", NotifyState::Backup, 100);
    n.drain(Duration::from_secs(5)).await;
    let mut lines: Vec<String> = d.read("calls").lines().map(str::to_string).collect();
    lines.sort();
    assert_eq!(lines, ["INSTANCE VI_1 BACKUP 100", "INSTANCE VI_1 MASTER 150", "master-script"]);
}

#[tokio::test]
async fn a_refused_script_never_runs() {
    let d = TempDir::new("notify-refused");
    let s = d.script("s.sh", &format!("touch {}", d.path("ran").display()));
    std::fs::set_permissions(&s, std::fs::Permissions::from_mode(0o644)).unwrap();
    let scripts = Scripts { master: Some(cmd(&s.display().to_string())), ..Scripts::default() };
    let mut n = Notifier::new(Duration::from_secs(5));
    n.notify(&scripts, "VI_1", NotifyState::Master, 100);
    n.drain(Duration::from_secs(1)).await;
    assert!(!d.path("ran").exists());
    assert!(matches!(n.checked.get(&cmd(&s.display().to_string())), Some(Err(ExecError::NotExecutable { .. }))));
}

#[tokio::test]
async fn a_script_outliving_the_timeout_is_killed_with_its_child() {
    let d = TempDir::new("notify-timeout");
    let s = d.script(
        "h.sh",
        &format!("sleep 600 &\necho $! > {}\necho $$ > {}\nsleep 600", d.path("child").display(), d.path("me").display()),
    );
    let scripts = Scripts { backup: Some(cmd(&s.display().to_string())), ..Scripts::default() };
    let mut n = Notifier::new(Duration::from_millis(300));
    n.notify(&scripts, "VI_1", NotifyState::Backup, 100);
    let (me, child) = (read_pid(&d.path("me")).await, read_pid(&d.path("child")).await);
    let _reap = Reap(vec![me, child]);
    wait_for(Duration::from_secs(4), "script and child killed", || (!alive(me) && !alive(child)).then_some(())).await;
    n.drain(Duration::from_secs(1)).await;
}

/// Reads `want` lines from the FIFO at `path` slowly (64 bytes at a time, a pause every
/// 4 KiB), within `limit`.
fn slow_reader(path: PathBuf, want: usize, limit: Duration) -> std::thread::JoinHandle<Vec<String>> {
    std::thread::spawn(move || {
        let mut f = std::fs::File::open(&path).unwrap();
        let start = std::time::Instant::now();
        let (mut text, mut buf) = (Vec::new(), [0u8; 64]);
        while text.iter().filter(|&&b| b == b'\n').count() < want && start.elapsed() < limit {
            let n = f.read(&mut buf).unwrap();
            text.extend_from_slice(&buf[..n]);
            if text.len() % 4096 < 64 {
                std::thread::sleep(Duration::from_millis(2));
            }
        }
        String::from_utf8(text).unwrap().lines().map(str::to_string).collect()
    })
}

#[tokio::test]
async fn fifo_lines_arrive_in_order_with_a_slow_late_reader() {
    let d = TempDir::new("fifo-order");
    let path = d.path("notify.fifo");
    let global = GlobalDefs { vrrp_notify_fifo: Some(fifo_conf(&path)), ..GlobalDefs::default() };
    let mut n = Notifier::from_config(Duration::from_secs(5), &global, Runner::new());
    let meta = std::fs::metadata(&path).unwrap();
    assert!(meta.file_type().is_fifo());
    // 0644 as keepalived (less if the umask says so).
    let mode = meta.permissions().mode() & 0o777;
    assert!(mode & !0o644 == 0 && mode & 0o600 == 0o600, "{mode:o}");
    // 6000 lines (~170 KB, well past the 64 KiB pipe buffer) before anyone reads: none is
    // lost, and notify never blocks.
    let states = [NotifyState::Master, NotifyState::Backup, NotifyState::Fault];
    let start = std::time::Instant::now();
    for i in 0..6000u32 {
        n.notify(&Scripts::default(), &format!("VI_{i}"), states[i as usize % 3], (i % 255) as u8);
    }
    n.notify_group(&Scripts::default(), "G", NotifyState::Master);
    assert!(start.elapsed() < Duration::from_secs(2), "queuing took {:?}", start.elapsed());
    let got = tokio::task::spawn_blocking({
        let path = path.clone();
        move || slow_reader(path, 6001, Duration::from_secs(20)).join().unwrap()
    })
    .await
    .unwrap();
    assert_eq!(got.len(), 6001);
    for (i, l) in got.iter().take(6000).enumerate() {
        assert_eq!(*l, format!("INSTANCE \"VI_{i}\" {} {}", states[i % 3].as_str(), i % 255));
    }
    assert_eq!(got[6000], "GROUP \"G\" MASTER 0");
    n.drain(Duration::from_secs(1)).await;
    // The agent created it, so it removes it.
    assert!(!path.exists());
}

#[tokio::test]
async fn an_existing_fifo_is_used_and_kept_and_the_fifo_script_reads_it() {
    let d = TempDir::new("fifo-script");
    let path = d.path("k.fifo");
    nix::unistd::mkfifo(&path, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    // The script gets the FIFO as its last argument; it copies what it reads.
    let reader = d.script("reader.sh", &format!("echo $$ > {}\nexec cat \"$1\" > {}", d.path("pid").display(), d.path("out").display()));
    let global = GlobalDefs {
        notify_fifo: Some(fifo_conf(&path)),
        notify_fifo_script: Some(cmd(&reader.display().to_string())),
        ..GlobalDefs::default()
    };
    let mut n = Notifier::from_config(Duration::from_secs(5), &global, Runner::new());
    let pid = read_pid(&d.path("pid")).await;
    let _reap = Reap(vec![pid]);
    n.notify(&Scripts::default(), "VI_1", NotifyState::Backup, 90);
    n.notify(&Scripts::default(), "VI_1", NotifyState::Master, 90);
    let want = "INSTANCE \"VI_1\" BACKUP 90\nINSTANCE \"VI_1\" MASTER 90\n";
    wait_for(Duration::from_secs(5), "the fifo script to copy both lines", || (d.read("out") == want).then_some(())).await;
    n.drain(Duration::from_secs(1)).await;
    // The FIFO script lives until shutdown, then dies with its group; a FIFO the agent did
    // not create stays.
    assert!(!alive(pid));
    assert!(path.exists());
}

#[test]
fn fifo_line_is_keepalived_format() {
    assert_eq!(fifo_line("INSTANCE", "VI_1", "MASTER", 100), "INSTANCE \"VI_1\" MASTER 100\n");
    assert_eq!(fifo_line("GROUP", "G", "FAULT", 0), "GROUP \"G\" FAULT 0\n");
}

/// A FIFO opened for reading without blocking, read as lines come.
struct FifoReader(std::fs::File, String);

impl FifoReader {
    fn open(path: &Path) -> FifoReader {
        use std::os::unix::fs::OpenOptionsExt as _;
        FifoReader(std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(path).unwrap(), String::new())
    }

    async fn wait_text(&mut self, want: &str) {
        let FifoReader(f, text) = self;
        wait_for(Duration::from_secs(5), &format!("{want:?} from the FIFO"), || {
            let mut buf = [0u8; 512];
            if let Ok(n) = f.read(&mut buf) {
                text.push_str(&String::from_utf8_lossy(&buf[..n]));
            }
            (text == want).then_some(())
        })
        .await;
    }
}

/// SIGHUP: the new `global_defs` reach the notify side. Script checks are made again (with
/// the new script security), so a script fixed or added since is run.
#[tokio::test]
async fn reload_checks_notify_scripts_again_with_the_new_settings() {
    if !crate::exec::testutil::require_root("reload_checks_notify_scripts_again_with_the_new_settings") {
        return;
    }
    let d = TempDir::new("notify-reload-env");
    let s = d.path("late.sh");
    let scripts = Scripts { master: Some(cmd(&s.display().to_string())), ..Scripts::default() };
    let mut n = Notifier::from_config(Duration::from_secs(5), &GlobalDefs::default(), Runner::new());
    n.notify(&scripts, "VI_1", NotifyState::Master, 100);
    assert!(matches!(n.checked.get(&cmd(&s.display().to_string())), Some(Err(_))), "missing at first");
    d.script("late.sh", &format!("echo ran >> {}", d.path("ran").display()));
    n.notify(&scripts, "VI_1", NotifyState::Master, 100);
    assert!(n.running.is_empty(), "the first check holds until a reload");

    // (Script security needs a script user: without one keepalived refuses every script.)
    let root = crate::config::ScriptUser { user: "root".into(), group: None };
    let global = GlobalDefs { enable_script_security: true, script_user: Some(root.clone()), ..GlobalDefs::default() };
    n.reload(&global);
    assert_eq!(n.env, ExecEnv { security: true, script_user: Some(root) }, "the new global_defs' settings");
    n.notify(&scripts, "VI_1", NotifyState::Master, 100);
    n.drain(Duration::from_secs(5)).await;
    assert_eq!(d.read("ran"), "ran\n");
}

/// SIGHUP: a FIFO whose path and script are unchanged is left alone (its reader is not
/// restarted, its queue kept); a FIFO moved elsewhere is opened at the new path (the old one,
/// created by the agent, removed); a FIFO whose script changed gets the new script and the
/// old one is stopped.
#[tokio::test]
async fn reload_keeps_unchanged_fifos_and_replaces_changed_ones() {
    let d = TempDir::new("notify-reload-fifo");
    let (a, b, c) = (d.path("a.fifo"), d.path("b.fifo"), d.path("c.fifo"));
    let reader = |tag: &str| {
        d.script(&format!("reader-{tag}.sh"), &format!("echo $$ > {}\nexec cat \"$1\" >> {}", d.path(&format!("pid-{tag}")).display(), d.path(&format!("out-{tag}")).display()))
    };
    let (r1, r2) = (reader("1"), reader("2"));
    let global = GlobalDefs {
        notify_fifo: Some(fifo_conf(&a)),
        notify_fifo_script: Some(cmd(&r1.display().to_string())),
        vrrp_notify_fifo: Some(fifo_conf(&b)),
        ..GlobalDefs::default()
    };
    let mut n = Notifier::from_config(Duration::from_secs(5), &global, Runner::new());
    let pid1 = read_pid(&d.path("pid-1")).await;
    let _reap = Reap(vec![pid1]);
    n.notify(&Scripts::default(), "VI_1", NotifyState::Backup, 90);
    let l1 = "INSTANCE \"VI_1\" BACKUP 90\n";
    wait_for(Duration::from_secs(5), "reader 1 to copy line 1", || (d.read("out-1") == l1).then_some(())).await;

    // a unchanged (only its location in the file moved); b moved to c.
    let moved = GlobalDefs {
        notify_fifo: Some(NotifyFifo { line: 30, ..fifo_conf(&a) }),
        notify_fifo_script: Some(ScriptCommand { line: 31, ..cmd(&r1.display().to_string()) }),
        vrrp_notify_fifo: Some(fifo_conf(&c)),
        ..GlobalDefs::default()
    };
    n.reload(&moved);
    assert!(std::fs::metadata(&c).unwrap().file_type().is_fifo(), "the new FIFO is there when reload returns");
    let mut rc = FifoReader::open(&c);
    n.notify(&Scripts::default(), "VI_1", NotifyState::Master, 90);
    let l2 = "INSTANCE \"VI_1\" MASTER 90\n";
    rc.wait_text(l2).await;
    wait_for(Duration::from_secs(5), "reader 1 to copy line 2", || (d.read("out-1") == format!("{l1}{l2}")).then_some(())).await;
    assert!(alive(pid1), "the unchanged FIFO's script was not restarted");
    assert!(!d.path("pid-2").exists());
    wait_for(Duration::from_secs(5), "the old FIFO b to be removed", || (!b.exists()).then_some(())).await;

    // a's script changes: the old reader stops, the new one reads what follows.
    let rescript = GlobalDefs { notify_fifo_script: Some(cmd(&r2.display().to_string())), ..moved.clone() };
    n.reload(&rescript);
    let pid2 = read_pid(&d.path("pid-2")).await;
    let _reap2 = Reap(vec![pid2]);
    wait_for(Duration::from_secs(5), "the old FIFO script to stop", || (!alive(pid1)).then_some(())).await;
    n.notify(&Scripts::default(), "VI_1", NotifyState::Fault, 90);
    let l3 = "INSTANCE \"VI_1\" FAULT 90\n";
    wait_for(Duration::from_secs(5), "reader 2 to copy line 3", || (d.read("out-2") == l3).then_some(())).await;
    rc.wait_text(&format!("{l2}{l3}")).await;
    assert_eq!(d.read("out-1"), format!("{l1}{l2}"));

    n.drain(Duration::from_secs(1)).await;
    assert!(!alive(pid2));
    assert!(!a.exists() && !c.exists(), "FIFOs the agent created are removed at exit");
}

#[tokio::test]
async fn finished_notify_scripts_are_forgotten() {
    // A long-running agent must not keep one entry per notification it ever ran.
    let d = TempDir::new("notify-reap");
    let calls = d.path("calls");
    let rec = d.script("rec.sh", &format!("echo x >> {}", calls.display()));
    let scripts = Scripts { notify: Some(cmd(&rec.display().to_string())), ..Scripts::default() };
    let mut n = Notifier::new(Duration::from_secs(5));
    for round in 1..=20 {
        n.notify(&scripts, "VI_1", NotifyState::Master, 100);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while std::fs::read_to_string(&calls).unwrap_or_default().lines().count() < round {
            assert!(tokio::time::Instant::now() < deadline, "round {round}: the script did not run");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // The script exited; wait until its task has reaped it.
        while !n.runner.running().is_empty() {
            assert!(tokio::time::Instant::now() < deadline, "round {round}: the script was not reaped");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    n.notify(&scripts, "VI_1", NotifyState::Backup, 100);
    // Without reaping: 21 entries. With it: the new one, and at most a straggler.
    assert!(n.running.len() <= 2, "{} entries kept for 21 notifications", n.running.len());
    n.drain(Duration::from_secs(5)).await;
}
