use std::{os::unix::fs::PermissionsExt as _, time::Duration};

use super::testutil::{Reap, TempDir, alive, read_pid, require_root, wait_for};
use super::*;

fn env() -> ExecEnv {
    ExecEnv::default()
}

fn root() -> Option<ScriptUser> {
    Some(ScriptUser { user: "root".into(), group: None })
}

fn nobody() -> ScriptUser {
    ScriptUser { user: "nobody".into(), group: None }
}

fn chmod(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn chown(p: &Path, uid: Option<u32>, gid: Option<u32>) {
    nix::unistd::chown(p, uid.map(Uid::from_raw), gid.map(Gid::from_raw)).unwrap();
}

#[test]
fn split_words_like_keepalived() {
    let w = |s: &str| split_words(s).unwrap();
    assert_eq!(w("  /bin/a  b\tc "), ["/bin/a", "b", "c"]);
    assert_eq!(w(r#"/bin/sh -c 'exit 1'"#), ["/bin/sh", "-c", "exit 1"]);
    assert_eq!(w(r#"a"b c"'d e' "x\"y""#), ["ab cd e", "x\"y"]);
    // Escapes work inside single quotes and outside quotes too.
    assert_eq!(w(r"'a\tb' c\ d \x41\101\cA"), ["a\tb", "c d", "AA\u{1}"]);
    assert_eq!(w(""), Vec::<String>::new());
    assert_eq!(w(r#""""#), [""]);
    assert!(matches!(split_words("/bin/a 'b"), Err(ExecError::Split { reason: "missing closing quote", .. })));
    assert!(matches!(split_words("/bin/a b\\"), Err(ExecError::Split { reason: "backslash at the end", .. })));
}

#[test]
fn is_executable_follows_keepalived() {
    let r = |uid, gid| RunAs { uid, gid };
    // root: any x bit.
    assert!(is_executable(0o001, 5, 5, r(0, 0)));
    assert!(!is_executable(0o644, 0, 0, r(0, 0)));
    // owner: only the user bit counts, even if group/other would allow it.
    assert!(!is_executable(0o011, 7, 7, r(7, 7)));
    assert!(is_executable(0o100, 7, 9, r(7, 1)));
    // group member (by the run gid): the group bit only.
    assert!(is_executable(0o010, 0, 9, r(7, 9)));
    assert!(!is_executable(0o001, 0, 9, r(7, 9)));
    // anyone else: the other bit.
    assert!(is_executable(0o001, 0, 0, r(7, 9)));
    assert!(!is_executable(0o110, 0, 0, r(7, 9)));
}

#[test]
fn a_bare_name_is_searched_in_path() {
    let s = prepare("test", "true --x", root().as_ref(), &env()).unwrap();
    assert!(s.argv[0].ends_with("/true") && s.argv[0].starts_with('/'), "{:?}", s.argv);
    assert_eq!(s.argv[1], "--x");
    assert_eq!(prepare("test", "no-such-program-vrrp", None, &env()), Err(ExecError::NotInPath("no-such-program-vrrp".into())));
}

#[test]
fn missing_and_not_executable_scripts_are_refused() {
    let d = TempDir::new("refused");
    let missing = d.path("missing.sh");
    let e = prepare("test", &missing.display().to_string(), None, &env()).unwrap_err();
    assert!(matches!(&e, ExecError::NotFound { path, .. } if path == &missing.display().to_string()), "{e}");
    let plain = d.script("plain.sh", "exit 0");
    chmod(&plain, 0o644);
    let e = prepare("test", &plain.display().to_string(), root().as_ref(), &env()).unwrap_err();
    assert!(matches!(e, ExecError::NotExecutable { uid: 0, .. }), "{e}");
    assert!(e.to_string().contains("plain.sh is not executable by uid:gid 0:0"), "{e}");
    assert_eq!(prepare("test", "   ", None, &env()), Err(ExecError::Empty));
}

#[test]
fn a_symlink_runs_under_its_own_name_in_the_resolved_directory() {
    let d = TempDir::new("link");
    let target = d.script("real.sh", "exit 0");
    std::fs::create_dir(d.path("sub")).unwrap();
    chmod(&d.path("sub"), 0o755);
    // A link in another directory to a file with another name: the name differs and no
    // file of that name sits next to the target, so the target path runs.
    std::os::unix::fs::symlink(&target, d.path("sub/alias.sh")).unwrap();
    let s = prepare("test", &d.path("sub/alias.sh").display().to_string(), root().as_ref(), &env()).unwrap();
    assert_eq!(s.argv[0], target.display().to_string());
    // A link next to the target keeps its own name (programs may act on their name).
    std::os::unix::fs::symlink("real.sh", d.path("named.sh")).unwrap();
    let s = prepare("test", &d.path("sub/../named.sh").display().to_string(), root().as_ref(), &env()).unwrap();
    assert_eq!(s.argv[0], d.path("named.sh").display().to_string());
}

#[test]
fn script_security_refuses_what_a_non_root_user_could_change() {
    if !require_root("script_security_refuses_what_a_non_root_user_could_change") {
        return;
    }
    let secure = ExecEnv { security: true, script_user: root() };
    let d = TempDir::new("insecure");
    let ok = d.script("ok.sh", "exit 0");
    assert_eq!(prepare("t", &ok.display().to_string(), None, &secure).unwrap().insecure, None);

    // A world-writable directory on the path (no sticky bit).
    std::fs::create_dir(d.path("open")).unwrap();
    chmod(&d.path("open"), 0o777);
    let s = d.script("open/s.sh", "exit 0");
    let e = prepare("t", &s.display().to_string(), None, &secure).unwrap_err();
    assert_eq!(
        e,
        ExecError::Insecure {
            path: s.display().to_string(),
            component: format!("directory {}", d.path("open").display()),
            why: "writable by everyone".into()
        }
    );
    assert!(e.to_string().starts_with("refused by enable_script_security: "), "{e}");
    // The sticky bit makes such a directory safe (as /tmp).
    chmod(&d.path("open"), 0o1777);
    assert!(prepare("t", &s.display().to_string(), None, &secure).is_ok());

    // Group-writable by a non-root group.
    let g = d.script("g.sh", "exit 0");
    chown(&g, None, Some(65534));
    chmod(&g, 0o775);
    let e = prepare("t", &g.display().to_string(), None, &secure).unwrap_err();
    assert!(matches!(&e, ExecError::Insecure { why, .. } if why == "writable by group 65534"), "{e}");
    // ... by group root it is fine.
    chown(&g, None, Some(0));
    assert!(prepare("t", &g.display().to_string(), None, &secure).is_ok());

    // Owned by a non-root user.
    let o = d.script("o.sh", "exit 0");
    chown(&o, Some(65534), None);
    let e = prepare("t", &o.display().to_string(), None, &secure).unwrap_err();
    assert!(matches!(&e, ExecError::Insecure { why, .. } if why == "owned by uid 65534"), "{e}");

    // Without enable_script_security it runs, marked (keepalived's SECURITY VIOLATION).
    let lax = ExecEnv { security: false, script_user: root() };
    let s = prepare("t", &o.display().to_string(), None, &lax).unwrap();
    assert_eq!(s.insecure.as_deref(), Some(format!("file {} is owned by uid 65534", o.display()).as_str()));

    // Run as a non-root user nothing needs protecting: the same script is fine.
    let as_nobody = ExecEnv { security: true, script_user: Some(nobody()) };
    let s = prepare("t", &o.display().to_string(), None, &as_nobody).unwrap();
    assert_eq!((s.run_as.uid, s.insecure), (65534, None));
    // ... unless it is set-uid root.
    chmod(&d.path("open"), 0o777);
    let suid = d.script("open/suid.sh", "exit 0");
    chmod(&suid, 0o4755);
    let e = prepare("t", &suid.display().to_string(), None, &as_nobody).unwrap_err();
    assert!(matches!(e, ExecError::Insecure { .. }), "{e}");
}

#[test]
fn the_user_must_reach_the_script() {
    if !require_root("the_user_must_reach_the_script") {
        return;
    }
    let d = TempDir::new("reach");
    std::fs::create_dir(d.path("private")).unwrap();
    chmod(&d.path("private"), 0o700);
    let s = d.script("private/s.sh", "exit 0");
    let e = prepare("t", &s.display().to_string(), Some(&nobody()), &env()).unwrap_err();
    assert!(e.to_string().contains("is not searchable by uid:gid 65534:65534"), "{e}");
}

#[test]
fn the_default_user_is_keepalived_script_or_refused_under_security() {
    if User::from_name(DEFAULT_SCRIPT_USER).ok().flatten().is_some() {
        eprintln!("SKIP the_default_user_is_keepalived_script_or_refused_under_security: user {DEFAULT_SCRIPT_USER} exists here");
        return;
    }
    assert_eq!(run_as(None, &env()), Ok(RunAs::ours()));
    assert_eq!(run_as(None, &ExecEnv { security: true, script_user: None }), Err(ExecError::NoDefaultUser));
    let with_user = ExecEnv { security: true, script_user: Some(nobody()) };
    assert_eq!(run_as(None, &with_user), Ok(RunAs { uid: 65534, gid: 65534 }));
    // The script's own user wins over script_user; a group overrides the user's own.
    let own = ScriptUser { user: "root".into(), group: Some("nogroup".into()) };
    assert_eq!(run_as(Some(&own), &with_user), Ok(RunAs { uid: 0, gid: 65534 }));
    assert_eq!(run_as(Some(&ScriptUser { user: "no-such-user-vrrp".into(), group: None }), &env()), Err(ExecError::NoUser("no-such-user-vrrp".into())));
}

fn script(d: &TempDir, name: &str, body: &str) -> Script {
    let p = d.script(name, body);
    prepare("test", &p.display().to_string(), None, &env()).unwrap()
}

#[tokio::test]
async fn exit_status_extra_arguments_and_signals_are_reported() {
    let d = TempDir::new("status");
    let out = d.path("args");
    let s = script(&d, "a.sh", &format!("echo \"$*\" > {}\nexit 3", out.display()));
    let runner = Runner::new();
    let o = runner.spawn(&s, &["INSTANCE", "VI 1"], None).unwrap().wait().await.unwrap();
    assert_eq!(o, RunOutcome::Exited(3));
    assert_eq!(o.to_string(), "exit status: 3");
    assert_eq!(d.read("args"), "INSTANCE VI 1\n");
    let k = script(&d, "k.sh", "kill -USR1 $$");
    let o = runner.spawn(&k, &[], None).unwrap().wait().await.unwrap();
    assert_eq!(o, RunOutcome::Signaled(libc::SIGUSR1));
    assert_eq!(o.to_string(), "killed by SIGUSR1");
    assert!(runner.running().is_empty());
}

#[tokio::test]
async fn a_timeout_kills_the_whole_process_group() {
    let d = TempDir::new("timeout");
    // The script exits on SIGTERM; the child it leaves in its group ignores SIGTERM and
    // must still die (SIGKILL to what is left of the group).
    let s = script(
        &d,
        "t.sh",
        &format!(
            "sh -c \"trap '' TERM; echo \\$\\$ > {child}; exec sleep 600\" &\necho $$ > {me}\nsleep 600",
            child = d.path("child").display(),
            me = d.path("me").display()
        ),
    );
    let runner = Runner::new();
    let run = runner.spawn(&s, &[], Some(Duration::from_millis(500))).unwrap();
    let pgid = run.pid();
    let wait = tokio::spawn(run.wait());
    let (me, child) = (read_pid(&d.path("me")).await, read_pid(&d.path("child")).await);
    let _reap = Reap(vec![me, child]);
    assert_eq!(me, pgid);
    assert!(alive(me) && alive(child));
    let o = tokio::time::timeout(Duration::from_secs(5), wait).await.unwrap().unwrap().unwrap();
    assert_eq!(o, RunOutcome::TimedOut);
    wait_for(Duration::from_secs(2), "script and child gone", || (!alive(me) && !alive(child)).then_some(())).await;
    assert!(runner.running().is_empty());
}

#[tokio::test]
async fn children_left_by_a_script_that_exits_are_killed() {
    let d = TempDir::new("leftover");
    // Exits at once (0, then 4) leaving a child in its group that would sleep for 10 min;
    // with and without a timeout (notify scripts and trackers; FIFO scripts have none).
    for (i, timeout) in [Some(Duration::from_secs(30)), None].into_iter().enumerate() {
        let child = d.path(&format!("child{i}"));
        let s = script(&d, &format!("l{i}.sh"), &format!("sleep 600 &\necho $! > {}\nexit {}", child.display(), i * 4));
        let runner = Runner::new();
        let o = tokio::time::timeout(Duration::from_secs(5), runner.spawn(&s, &[], timeout).unwrap().wait()).await.unwrap().unwrap();
        assert_eq!(o, RunOutcome::Exited(i as i32 * 4));
        let pid = read_pid(&child).await;
        let _reap = Reap(vec![pid]);
        wait_for(Duration::from_secs(2), "the left-behind child to be killed", || (!alive(pid)).then_some(())).await;
        assert!(runner.running().is_empty());
    }
}

#[test]
fn a_script_gets_sigterm_when_the_thread_that_started_it_ends() {
    // The agent's main thread ends only with the agent (even when it is SIGKILLed); a
    // thread with its own runtime stands in for it here. The run is forgotten, so nothing
    // of ours signals the script: only its parent-death signal can.
    let d = TempDir::new("pdeath");
    let me = d.path("me");
    let s = script(&d, "p.sh", &format!("echo $$ > {}\nexec sleep 600", me.display()));
    let pid = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let run = Runner::new().spawn(&s, &[], None).unwrap();
            let pid = read_pid(&me).await;
            std::mem::forget(run);
            pid
        })
    })
    .join()
    .unwrap();
    let _reap = Reap(vec![pid]);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(wait_for(Duration::from_secs(3), "the script to die with the thread that started it", || (!alive(pid)).then_some(())));
}

#[tokio::test]
async fn a_script_ignoring_sigterm_gets_sigkill_after_the_grace() {
    let d = TempDir::new("term");
    let s = script(&d, "t.sh", &format!("trap '' TERM\necho $$ > {}\nwhile :; do sleep 1; done", d.path("me").display()));
    let runner = Runner::new();
    let start = tokio::time::Instant::now();
    let run = runner.spawn(&s, &[], Some(Duration::from_millis(200))).unwrap();
    let wait = tokio::spawn(run.wait());
    let me = read_pid(&d.path("me")).await;
    let _reap = Reap(vec![me]);
    let o = tokio::time::timeout(Duration::from_secs(6), wait).await.unwrap().unwrap().unwrap();
    assert_eq!(o, RunOutcome::TimedOut);
    // SIGTERM at 0.2 s did nothing; SIGKILL came TERM_GRACE later.
    assert!(start.elapsed() >= Duration::from_millis(200) + TERM_GRACE, "{:?}", start.elapsed());
    assert!(!alive(me));
}

#[tokio::test]
async fn megabytes_of_output_block_nothing() {
    let d = TempDir::new("chatty");
    // 20 MB on stdout and stderr each: a pipe nobody reads would block after 64 KiB.
    let s = script(&d, "c.sh", "head -c 20000000 /dev/zero\nhead -c 20000000 /dev/zero >&2\nexit 0");
    let run = Runner::new().spawn(&s, &[], Some(Duration::from_secs(20))).unwrap();
    let o = tokio::time::timeout(Duration::from_secs(20), run.wait()).await.unwrap().unwrap();
    assert_eq!(o, RunOutcome::Exited(0));
}

#[tokio::test]
async fn runs_as_the_configured_user_with_only_its_group() {
    if !require_root("runs_as_the_configured_user_with_only_its_group") {
        return;
    }
    let d = TempDir::new("user");
    std::fs::create_dir(d.path("out")).unwrap();
    chmod(&d.path("out"), 0o777);
    let p = d.script("id.sh", &format!("id -u > {o}/uid\nid -g >> {o}/uid\nid -G >> {o}/uid", o = d.path("out").display()));
    let s = prepare("t", &p.display().to_string(), Some(&nobody()), &env()).unwrap();
    assert_eq!(s.run_as, RunAs { uid: 65534, gid: 65534 });
    let o = Runner::new().spawn(&s, &[], Some(Duration::from_secs(10))).unwrap().wait().await.unwrap();
    assert_eq!(o, RunOutcome::Exited(0));
    assert_eq!(d.read("out/uid"), "65534\n65534\n65534\n");
}

#[tokio::test]
async fn shutdown_terminates_every_group() {
    let d = TempDir::new("shutdown");
    let runner = Runner::new();
    let a = script(&d, "a.sh", &format!("echo $$ > {}\nsleep 600", d.path("a").display()));
    let b = script(&d, "b.sh", &format!("trap '' TERM\necho $$ > {}\nwhile :; do sleep 1; done", d.path("b").display()));
    let ra = runner.spawn(&a, &[], None).unwrap();
    let rb = runner.spawn(&b, &[], None).unwrap();
    let (pa, pb) = (read_pid(&d.path("a")).await, read_pid(&d.path("b")).await);
    let _reap = Reap(vec![pa, pb]);
    let waits = tokio::spawn(async move { (ra.wait().await.unwrap(), rb.wait().await.unwrap()) });
    let mut groups = runner.shutdown(Duration::from_millis(300)).await;
    groups.sort();
    let mut want = vec![pa, pb];
    want.sort();
    assert_eq!(groups, want);
    let (oa, ob) = tokio::time::timeout(Duration::from_secs(5), waits).await.unwrap().unwrap();
    assert_eq!((oa, ob), (RunOutcome::Signaled(libc::SIGTERM), RunOutcome::Signaled(libc::SIGKILL)));
    assert!(!alive(pa) && !alive(pb));
    assert!(runner.running().is_empty());
}

#[tokio::test]
async fn dropping_a_run_kills_its_group() {
    let d = TempDir::new("drop");
    let runner = Runner::new();
    let s = script(&d, "a.sh", &format!("echo $$ > {}\nsleep 600", d.path("a").display()));
    let run = runner.spawn(&s, &[], None).unwrap();
    let pid = read_pid(&d.path("a")).await;
    let _reap = Reap(vec![pid]);
    drop(run);
    assert!(runner.running().is_empty());
    wait_for(Duration::from_secs(3), "the dropped run to die", || (!alive(pid)).then_some(())).await;
}

#[tokio::test]
async fn a_file_test_line_runs_through_the_shell() {
    let d = TempDir::new("shell");
    let there = d.script("there", "");
    let s = prepare("t", &format!("'< {}'", there.display()), None, &env()).unwrap();
    assert!(s.via_shell);
    let runner = Runner::new();
    assert_eq!(runner.spawn(&s, &[], None).unwrap().wait().await.unwrap(), RunOutcome::Exited(0));
    let s = prepare("t", &format!("<{}", d.path("missing").display()), None, &env()).unwrap();
    assert!(matches!(runner.spawn(&s, &[], None).unwrap().wait().await.unwrap(), RunOutcome::Exited(c) if c != 0));
}

#[test]
fn check_scripts_names_each_refused_script_at_its_line() {
    let d = TempDir::new("check");
    let ok = d.script("ok.sh", "exit 0");
    let text = format!(
        "global_defs {{\n script_user root\n enable_script_security\n}}\nvrrp_script good {{\n script {ok}\n}}\nvrrp_script gone {{\n script {missing}\n}}\nvrrp_instance A {{\n interface eth0\n virtual_router_id 1\n notify_master \"{ok} x\"\n notify_backup {plain}\n virtual_ipaddress {{\n  198.18.0.1\n }}\n}}\n",
        ok = ok.display(),
        missing = d.path("missing.sh").display(),
        plain = d.path("plain.sh").display(),
    );
    let plain = d.script("plain.sh", "exit 0");
    chmod(&plain, 0o644);
    let conf = d.path("k.conf");
    std::fs::write(&conf, text).unwrap();
    let loaded = crate::config::load(&conf, &crate::config::LoadOptions::default()).unwrap();
    let diags = check_scripts(&loaded.config);
    let got: Vec<(usize, Severity, bool)> = diags.iter().map(|x| (x.line, x.severity, x.file == conf)).collect();
    // vrrp_script at its block line, notify at its own line.
    assert_eq!(got, [(8, Severity::Error, true), (15, Severity::Error, true)], "{diags:?}");
    assert!(diags[0].message.starts_with("vrrp_script gone: will not run: "), "{}", diags[0].message);
    assert!(diags[1].message.contains("vrrp_instance A: notify_backup: will not run: ") && diags[1].message.contains("not executable"), "{}", diags[1].message);
}
