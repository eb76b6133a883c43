//! Notify scripts as keepalived runs them, with a real agent in a namespace: the specific
//! scripts and `notify` with `INSTANCE <name> <STATE> <priority>`; a hung, a failing and a
//! missing script are logged and never delay the election.
use std::{
    net::Ipv4Addr,
    os::unix::fs::PermissionsExt as _,
    path::{Path, PathBuf},
    time::Duration,
};

use vrrp_tests::{agent_binary, has_addr, lan, require_root, spawn_agent, wait_for};

const VIP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 100);
/// Startup (XDP load and verification) plus Master_Down_Interval for priority 150, v2, 1 s:
/// 300 + 106*100/256 = 341 cs, plus 250 ms slack.
const ELECTION: Duration = Duration::from_millis(3000 + 3410 + 250);

struct Dir(PathBuf);

impl Dir {
    fn new(tag: &str) -> Dir {
        let d = std::env::temp_dir().join(format!("vrrp-notify-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("temp dir");
        Dir(d)
    }

    fn script(&self, name: &str, body: &str) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).expect("write script");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        p
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn config(extra: &str) -> String {
    format!(
        "vrrp_instance VI_1 {{\n  state BACKUP\n  interface eth0\n  virtual_router_id 51\n  priority 150\n  \
         advert_int 1\n  virtual_ipaddress {{\n    {VIP}/24\n  }}\n{extra}}}\n"
    )
}

fn lines(p: &Path) -> Vec<String> {
    std::fs::read_to_string(p).unwrap_or_default().lines().map(str::to_string).collect()
}

#[test]
fn notify_scripts_get_keepalived_arguments_in_order() {
    if !require_root("notify_scripts_get_keepalived_arguments_in_order") {
        return;
    }
    let dir = Dir::new("args");
    let out = dir.0.join("calls.txt");
    let rec = dir.script("rec.sh", &format!("echo \"$*\" >> {}", out.display()));
    let rec = rec.display();
    let extra = format!(
        "  notify_backup \"{rec} backup-script\"\n  notify_master \"{rec} master-script\"\n  \
         notify_stop \"{rec} stop-script\"\n  notify {rec}\n"
    );
    let lan = lan("notify", &[("r1", Ipv4Addr::new(198, 18, 0, 1))]).expect("lan");
    let bin = agent_binary().expect("agent binary");
    let mut agent = spawn_agent(&bin, lan.host("r1"), &config(&extra), &[]).expect("spawn");

    let want_backup = ["backup-script", "INSTANCE VI_1 BACKUP 150"];
    wait_for(Duration::from_secs(4), "backup notifications", || {
        let l = lines(&out);
        want_backup.iter().all(|w| l.iter().any(|x| x == w)).then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}: {:?}\n{}", lines(&out), agent.log_tail(20)));
    let want_master = ["master-script", "INSTANCE VI_1 MASTER 150"];
    wait_for(ELECTION, "master notifications", || {
        let l = lines(&out);
        want_master.iter().all(|w| l.iter().any(|x| x == w)).then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}: {:?}\n{}", lines(&out), agent.log_tail(20)));
    // notify_master runs once the VIP is in place, as keepalived does.
    assert!(has_addr(lan.host("r1"), VIP));

    agent.terminate();
    agent.wait_exit(Duration::from_secs(5)).expect("exit");
    let want_stop = ["stop-script", "INSTANCE VI_1 STOP 150"];
    wait_for(Duration::from_secs(3), "stop notifications", || {
        let l = lines(&out);
        want_stop.iter().all(|w| l.iter().any(|x| x == w)).then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}: {:?}", lines(&out)));

    // Each state's notifications came after the previous state's.
    let l = lines(&out);
    let pos = |w: &str| l.iter().position(|x| x == w).unwrap_or(usize::MAX);
    assert!(pos("INSTANCE VI_1 BACKUP 150") < pos("INSTANCE VI_1 MASTER 150"), "{l:?}");
    assert!(pos("INSTANCE VI_1 MASTER 150") < pos("INSTANCE VI_1 STOP 150"), "{l:?}");
    assert_eq!(l.len(), 6, "each script ran once per transition: {l:?}");
}

#[test]
fn hung_failing_and_missing_scripts_do_not_delay_the_election() {
    if !require_root("hung_failing_and_missing_scripts_do_not_delay_the_election") {
        return;
    }
    let dir = Dir::new("bad");
    let pidfile = dir.0.join("hang.pid");
    // Bounded even if nothing kills it; records its pid so the test can check it was killed.
    let hang = dir.script("hang.sh", &format!("echo $$ > {}\nexec sleep 30", pidfile.display()));
    let fail = dir.script("fail.sh", "exit 3");
    let extra = format!(
        "  notify_backup {}\n  notify_master /nonexistent/vrrp-notify-script\n  notify {}\n",
        hang.display(),
        fail.display()
    );
    let lan = lan("notifybad", &[("r1", Ipv4Addr::new(198, 18, 0, 1))]).expect("lan");
    let bin = agent_binary().expect("agent binary");
    let agent = spawn_agent(&bin, lan.host("r1"), &config(&extra), &["--notify-timeout", "1"]).expect("spawn");

    // The election runs on time while notify_backup hangs.
    wait_for(ELECTION, "r1 to become master", || has_addr(lan.host("r1"), VIP).then_some(()))
        .unwrap_or_else(|e| panic!("{e}\n{}", agent.log_tail(30)));

    wait_for(Duration::from_secs(4), "the three script problems in the log", || {
        let log = agent.log_text();
        (log.contains("hang.sh` timed out after 1.0 s and was killed")
            && log.contains("cannot run notify script `/nonexistent/vrrp-notify-script`")
            && log.contains("fail.sh INSTANCE VI_1 BACKUP 150` failed: exit status: 3"))
        .then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", agent.log_tail(30)));

    let pid: i32 = std::fs::read_to_string(&pidfile).expect("hang.sh ran").trim().parse().expect("pid");
    // SAFETY: signal 0 only checks whether the process exists.
    let alive = unsafe { libc::kill(pid, 0) } == 0;
    if alive {
        // SAFETY: a script this test's agent started; stop it before failing.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
    assert!(!alive, "the hung script was killed at the timeout");
}

/// Is `pid` a live process (present and not a zombie)?
fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|st| st.rsplit_once(')').map(|(_, rest)| rest.split_whitespace().next() != Some("Z")))
        .unwrap_or(false)
}

#[test]
fn a_script_that_never_exits_does_not_outlive_the_agent_nor_its_child() {
    if !require_root("a_script_that_never_exits_does_not_outlive_the_agent_nor_its_child") {
        return;
    }
    let dir = Dir::new("forever");
    let (script_pid, child_pid) = (dir.0.join("script.pid"), dir.0.join("child.pid"));
    // Starts a child in its process group and then sleeps (bounded, should nothing kill it).
    let forever = dir.script(
        "forever.sh",
        &format!("sleep 600 &\necho $! > {}\necho $$ > {}\nsleep 600", child_pid.display(), script_pid.display()),
    );
    let lan = lan("notifyforever", &[("r1", Ipv4Addr::new(198, 18, 0, 1))]).expect("lan");
    let bin = agent_binary().expect("agent binary");
    // The notify timeout is far away: only the shutdown may stop the script.
    let mut agent = spawn_agent(&bin, lan.host("r1"), &config(&format!("  notify_master {}\n", forever.display())), &["--notify-timeout", "600"])
        .expect("spawn");
    let read_pid = |p: &Path| std::fs::read_to_string(p).ok().and_then(|s| s.trim().parse::<i32>().ok());
    let pids = wait_for(ELECTION, "notify_master to start and record its pids", || Some((read_pid(&script_pid)?, read_pid(&child_pid)?)))
        .unwrap_or_else(|e| panic!("{e}\n{}", agent.log_tail(30)));
    // Stops the two sleepers by pid if the test fails (they are bounded anyway).
    struct Reap(i32, i32);
    impl Drop for Reap {
        fn drop(&mut self) {
            for p in [self.0, self.1] {
                if alive(p) {
                    // SAFETY: kill(2) on a pid this test's agent started and recorded.
                    unsafe { libc::kill(p, libc::SIGKILL) };
                }
            }
        }
    }
    let _reap = Reap(pids.0, pids.1);
    assert!(alive(pids.0) && alive(pids.1), "script and child run while the agent does");

    agent.terminate();
    let st = agent.wait_exit(Duration::from_secs(10)).expect("the agent exits after SIGTERM");
    assert!(st.success(), "exit status {st}\n{}", agent.log_tail(20));
    wait_for(Duration::from_secs(3), "the script and its child to be gone", || (!alive(pids.0) && !alive(pids.1)).then_some(()))
        .unwrap_or_else(|e| panic!("{e}: script alive {}, child alive {}\n{}", alive(pids.0), alive(pids.1), agent.log_tail(20)));
    assert!(agent.log_text().contains("still running at exit: killing their process groups"), "{}", agent.log_tail(20));
}

#[test]
fn vrrp_notify_fifo_gets_keepalived_lines_in_order() {
    if !require_root("vrrp_notify_fifo_gets_keepalived_lines_in_order") {
        return;
    }
    let dir = Dir::new("fifo");
    let fifo = dir.0.join("notify.fifo");
    let out = dir.0.join("lines.txt");
    // keepalived passes the FIFO's path as the reader script's last argument.
    let reader = dir.script("reader.sh", &format!("exec cat \"$1\" >> {}", out.display()));
    let cfg = format!(
        "global_defs {{\n  vrrp_notify_fifo {}\n  vrrp_notify_fifo_script {}\n}}\n{}",
        fifo.display(),
        reader.display(),
        config("")
    );
    let lan = lan("fifo", &[("r1", Ipv4Addr::new(198, 18, 0, 1))]).expect("lan");
    let bin = agent_binary().expect("agent binary");
    let mut agent = spawn_agent(&bin, lan.host("r1"), &cfg, &[]).expect("agent");
    wait_for(ELECTION, "MASTER on the FIFO", || lines(&out).iter().any(|l| l.contains("MASTER")).then_some(()))
        .unwrap_or_else(|e| panic!("{e}: {:?}\n{}", lines(&out), agent.log_tail(20)));
    assert!(has_addr(lan.host("r1"), VIP));
    agent.terminate();
    agent.wait_exit(Duration::from_secs(10)).expect("agent exits");
    let got = lines(&out);
    assert_eq!(
        got,
        ["INSTANCE \"VI_1\" BACKUP 150", "INSTANCE \"VI_1\" MASTER 150", "INSTANCE \"VI_1\" STOP 150"],
        "FIFO lines in order\n{}",
        agent.log_tail(20)
    );
    assert!(!fifo.exists(), "the FIFO the agent created is removed at exit");
}
