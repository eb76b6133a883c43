//! A backup's Master_Down_Timer runs from the last advert it accepted (RFC 5798 §6.4.2),
//! also when the master's priority falls below ours: r2 (90, preempt) takes over from r1
//! (100, dropped to 85 by a `track_file`) no earlier than Master_Down_Interval(90) after
//! r1's last advert at 100.
//!
//! XDP wakes the agent only when an advert's content changes, so the last advert at 100 is
//! known only from the event of the first one at 85 (`AdvertEvent::prev`). Without it r2's
//! timer ran from whenever it last re-read the advert record, anywhere up to one
//! Master_Down_Interval earlier, and it took over as little as tens of ms after the drop.
//!
//! Bounds, from the write of the track file (before r1 can know of it): r1's first advert
//! at 85 goes out after the write, and its last one at 100 at most one advert interval
//! before that one, so r2 takes over no earlier than Master_Down_Interval(90) - interval
//! after the write (no slack needed: every delay makes the takeover later), and no later
//! than Master_Down_Interval(90) + interval + SLACK (inotify, scheduling on a shared
//! 2-core machine). r2 also logs how long r1 had been silent at 100: at least
//! Master_Down_Interval(90) (the log truncates to 0.1 ms). The drop comes at a random phase
//! of r2's timer, ROUNDS times: an early takeover used to be the common case (about 3 drops
//! in 4), so the test fails on a binary without the fix.
use std::{net::Ipv4Addr, time::Duration};

use vrrp_tests::{
    Agent, Lan, ScratchDir, agent_binary,
    election::{self, STARTUP, SplitMix64},
    has_addr, holds_for, lan, require_root, spawn_agent, wait_for,
};

const VIP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 100);
const HOSTS: [(&str, Ipv4Addr); 3] =
    [("r1", Ipv4Addr::new(198, 18, 0, 1)), ("r2", Ipv4Addr::new(198, 18, 0, 2)), ("r3", Ipv4Addr::new(198, 18, 0, 3))];
/// VRRPv3 at 10 cs.
const INTERVAL_CS: u16 = 10;
const SLACK: Duration = Duration::from_millis(1000);
const ROUNDS: usize = 5;

fn mdi(priority: u8) -> Duration {
    election::master_down_interval(3, priority, INTERVAL_CS)
}

fn interval() -> Duration {
    election::interval(INTERVAL_CS)
}

fn config(priority: u8, extra: &str) -> String {
    format!(
        "vrrp_instance VI_1 {{\n  state BACKUP\n  interface eth0\n  virtual_router_id 51\n  \
         priority {priority}\n  advert_int 0.{INTERVAL_CS}\n  version 3\n  \
         virtual_ipaddress {{\n    {VIP}/24\n  }}\n{extra}}}\n"
    )
}

fn holders(lan: &Lan) -> Vec<&'static str> {
    HOSTS.iter().map(|(n, _)| *n).filter(|n| has_addr(lan.host(n), VIP)).collect()
}

fn logs(agents: &[&Agent]) -> String {
    agents.iter().map(|a| a.log_tail(25)).collect::<Vec<_>>().join("\n-----\n")
}

fn wait_holder(lan: &Lan, agents: &[&Agent], who: &str, within: Duration, what: &str) {
    wait_for(within, what, || (holders(lan) == [who]).then_some(()))
        .unwrap_or_else(|e| panic!("{e}: holders {:?}\n{}", holders(lan), logs(agents)));
}

#[test]
fn a_backup_takes_over_no_earlier_than_master_down_after_the_masters_last_advert() {
    if !require_root("a_backup_takes_over_no_earlier_than_master_down_after_the_masters_last_advert") {
        return;
    }
    let bin = agent_binary().expect("agent binary (cargo build --release -p vrrp-agent)");
    let lan = lan("trkearly", &HOSTS).expect("lan");
    let dir = ScratchDir::new("trkearly").expect("scratch dir");
    let file = dir.join("w");
    std::fs::write(&file, "0\n").expect("track file");
    // 100 - 15 x 1 = 85: below r2 (90), above r3 (80).
    let tracker = format!("vrrp_track_file tf {{\n  file \"{}\"\n  weight -1\n}}\n", file.display());
    let a1 = spawn_agent(&bin, lan.host("r1"), &format!("{tracker}{}", config(100, "  track_file {\n    tf\n  }\n")), &[])
        .expect("spawn r1");
    let a2 = spawn_agent(&bin, lan.host("r2"), &config(90, ""), &[]).expect("spawn r2");
    let a3 = spawn_agent(&bin, lan.host("r3"), &config(80, ""), &[]).expect("spawn r3");
    let agents = [&a1, &a2, &a3];
    wait_holder(&lan, &agents, "r1", STARTUP + mdi(90) + SLACK, "r1 (100) to be master");
    // From here on r3 (80) hears r1 at 100 or 85 and r2 at 90, all above it: it never times
    // out. (Before, it may have been master for a moment: the agents start hundreds of ms
    // apart, and r3 may start first.)
    let r3_before = a3.log_text().len();

    let seed = SplitMix64::seed_from_clock();
    let mut rng = SplitMix64::new(seed);
    let earliest = mdi(90) - interval();
    let latest = mdi(90) + interval() + SLACK;
    let mut took = Vec::new();
    for round in 0..ROUNDS {
        // r1 alone for a while: r2 and r3 follow it, and the drop lands at a random phase of
        // r2's timer.
        let settle = interval() * 3 + rng.below(mdi(90));
        holds_for(settle, "r1 alone holding the VIP", || match holders(&lan) {
            h if h == ["r1"] => Ok(()),
            h => Err(format!("holders {h:?}\n{}", logs(&agents))),
        })
        .unwrap_or_else(|e| panic!("round {round} (seed {seed:#x}): {e}"));

        let before = a2.log_text().len();
        let write_us = election::wall_clock_us();
        std::fs::write(&file, "15\n").expect("drop r1 to 85");
        wait_holder(&lan, &agents, "r2", latest + SLACK, "r2 (90) to take over from r1 at 85");
        let log = a2.log_text();
        let change = election::parse_state_changes(&log[before.min(log.len())..])
            .into_iter()
            .find(|c| c.state == "MASTER")
            .unwrap_or_else(|| panic!("round {round}: r2 holds the VIP but logged no MASTER\n{}", a2.log_tail(25)));
        let after_us = change.ts_us - write_us;
        eprintln!("round {round}: r2 took over {:.1} ms after the drop ({})", after_us as f64 / 1e3, change.reason);
        assert!(
            after_us >= earliest.as_micros() as i64,
            "round {round} (seed {seed:#x}): r2 took over {:.1} ms after r1 fell to 85, earlier than \
             Master_Down_Interval(90) - interval = {:.1} ms after r1's last advert at 100\n{}",
            after_us as f64 / 1e3,
            earliest.as_secs_f64() * 1e3,
            logs(&agents)
        );
        assert!(after_us <= latest.as_micros() as i64, "round {round}: r2 took over {:.1} ms after the drop", after_us as f64 / 1e3);
        let silent = change.silent_us().unwrap_or_else(|| panic!("round {round}: takeover not by the timer: {}", change.reason));
        assert!(
            silent + 100 >= mdi(90).as_micros() as i64,
            "round {round}: r2 logs r1 silent for only {:.1} ms, under Master_Down_Interval(90) = {:.1} ms",
            silent as f64 / 1e3,
            mdi(90).as_secs_f64() * 1e3
        );
        took.push(after_us);

        // Back to 100: r1 preempts r2.
        std::fs::write(&file, "0\n").expect("restore r1 to 100");
        wait_holder(&lan, &agents, "r1", mdi(100) + interval() + SLACK, "r1 back at 100");
    }
    assert!(!a3.log_text()[r3_before..].contains("Entering MASTER"), "r3 (80) became master\n{}", a3.log_tail(25));
    took.sort_unstable();
    eprintln!("takeovers after the drop (ms): {:?}", took.iter().map(|t| *t / 1000).collect::<Vec<_>>());
}
