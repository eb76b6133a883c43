//! The election with real agents in network namespaces (issue 6): one master, always.
//!
//! Three routers r1/r2/r3 with priorities 100/90/80 and a client on one bridged LAN
//! ([`vrrp_tests::election::Cluster`], shared with `cargo xtask lab`). What the tests read:
//! - who entered MASTER, and when, from the agents' own log lines
//!   (`(VI_1) Entering MASTER STATE`, RFC 3339 microsecond timestamps on the system clock),
//!   so a second master lasting a millisecond is seen (polling `ip addr` would miss it);
//! - the client's view: its pings (`ping -D`, same clock) and its neighbour entry for the VIP.
//!
//! Bounds are the protocol's (Master_Down_Interval computed exactly in microseconds, + one
//! advert interval: the bound the issue sets) plus [`SCHED_SLACK`], and nothing else.
//!
//! The tests run one at a time ([`serial`]): each measures milliseconds, and three clusters of
//! agents at once on a 2-core machine would measure each other.
use std::{
    sync::{Mutex, MutexGuard},
    time::{Duration, Instant},
};

use vrrp_tests::{
    agent_binary,
    election::{self as el, Cluster, ClusterSpec, STARTUP, SplitMix64, VIP, wall_clock_us},
    longest_gap, neigh_lladdr, require_root, start_ping_every, wait_for,
};

/// Added to every protocol-derived bound: the delay the machine may add on top of the
/// protocol. The agents, the client's ping and this test are ordinary processes on a 2-core
/// VM that other engineers' builds share (load average 6-7 while this was written). Between
/// the protocol's event (a timer running out, an advert arriving) and what the test observes
/// lie several wake-ups: the agent's tokio timer or ring-buffer readiness, its netlink round
/// trips adding the VIP, its raw-socket sends of the advert and the gratuitous ARPs, the
/// client's receive, ping's next probe, this test's 10 ms polling. Each may wait for a core
/// behind the runnable compilers (a few ms per scheduler slice, possibly several slices). 100
/// ms allows for that order of magnitude with margin; it is still a fraction of the advert
/// interval at 100 ms and far below the failures these tests exist for (a second master in
/// the same millisecond, a client cut off for seconds).
const SCHED_SLACK: Duration = Duration::from_millis(100);

/// The kill phases are random but reproducible: printed, and fixed here.
const SEED: u64 = 0x6_2026;

/// How many times (a) crashes the master.
const CRASHES_100MS: usize = 5;
/// How many times (b) crashes the master.
const CRASHES_10MS: usize = 3;
/// How long (d) keeps the master partitioned (a scenario parameter, as in the report;
/// the test also waits until both routers are master before the partition ends).
const PARTITION: Duration = Duration::from_secs(3);
/// How many partition/heal cycles (d) runs. Which router's advert crosses the healed link
/// first is down to the two routers' advert phases; more than one cycle makes the test see
/// both orders instead of passing or failing on one coin toss.
const HEALS: usize = 3;
/// How long (e) keeps the master stopped (scenario parameter).
const STOPPED: Duration = Duration::from_secs(1);

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// The agents' scheduling (see [`elected`]). `vrrp_rlimit_rttime` 100 ms, not keepalived's
/// 10 ms: the kernel charges a real-time task for every tick at which it is found running,
/// including the stacks of the receivers its sends run on this shared VM (three routers'
/// XDP, the client, captures), and at 10 ms, with `sched::breathe` in place, the kernel still
/// killed two agents in 3 runs of this file next to a CPU hog (a master after a heal, a
/// backup at 10 ms adverts; an agent's longest run between sleeps measured 4.7 ms). That the
/// agent's own long jobs stay within the default limit is `sched.rs`'s test; RELIABILITY.md
/// tells operators of busy or virtual hosts to raise the limit, as this does.
const REALTIME: &str = "global_defs {\n    vrrp_rt_priority 10\n    vrrp_rlimit_rttime 100000\n}\n";

/// VRRPv3, three routers 100/90/80.
fn spec_v3(advert_int_cs: u16) -> ClusterSpec {
    ClusterSpec { version: 3, advert_int_cs, priorities: vec![100, 90, 80], agent_args: vec![] }
}

/// A cluster with r1 elected and heard by both backups. Agents start a few hundred ms apart
/// (XDP program load), so r2 or r3 may win first; r1 preempts at most its
/// Master_Down_Interval after it starts, and the backups hear it within one interval.
///
/// The agents run with `vrrp_rt_priority`, as a gateway that wants its timers on time runs
/// them: "r2 alone takes over" rests on r2's timer firing within the 3.9 ms by which r3's
/// trails it (at 100 ms adverts). At normal priority on a loaded 2-core host r2 woke 21 ms
/// late once; real-time scheduling makes that rarer, not impossible (4.3 ms once, in a CI
/// run). So these tests require that a second master steps down within an interval + slack,
/// and the simulation asserts the exact outcome.
fn elected(tag: &str, spec: ClusterSpec) -> Cluster {
    let bin = agent_binary().expect("agent binary (cargo xtask test builds it)");
    let mut c = Cluster::new(tag, &bin, spec).expect("cluster");
    for e in &mut c.extra {
        e.before = REALTIME.to_string();
    }
    c.start_agents().expect("agents");
    let bound = STARTUP + c.spec.master_down_interval(80) + c.spec.interval() + SCHED_SLACK;
    c.wait_settled(0, bound).unwrap_or_else(|e| panic!("initial election: {e}"));
    c
}

/// After [`Cluster::restore`]: the restarted r1 preempts once its link is back (at most its
/// Master_Down_Interval later), and the backups hear it within one interval.
fn reelect(c: &mut Cluster) {
    let bound = STARTUP + c.spec.master_down_interval(100) + c.spec.interval() + SCHED_SLACK;
    c.wait_settled(0, bound).unwrap_or_else(|e| panic!("r1 back as master after restore: {e}"));
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// (a) Three routers 100/90/80 at VRRPv3 100 ms; the master crashes (SIGKILL + its port
/// down) a random phase after one of its adverts, five times, restored in between. Every
/// time r2 (priority 90) enters MASTER once and is the master left, the first takeover comes
/// within Master_Down_Interval(90) + one interval (+ SCHED_SLACK) of the kill, its timer fired
/// no sooner than Master_Down_Interval(90) after the last advert it heard (as it logs the
/// silence) and no later than that + SCHED_SLACK, and two masters never overlap longer than
/// one interval + SCHED_SLACK.
///
/// Why r3 should not enter MASTER at all: with exact skews r3's timer runs out
/// (256-80)/256 - (256-90)/256 of an interval (3.9 ms) after r2's, and r2 sends its first
/// advert as it takes over, which resets r3's timer. That margin is the simulation's to hold
/// exactly (`core/fsm/sim.rs`); here a late wake-up of r2 may let r3 in for a moment, and the
/// test prints how often it did.
#[test]
fn crashed_master_is_replaced_by_the_next_priority_alone_v3_100ms() {
    if !require_root("crashed_master_is_replaced_by_the_next_priority_alone_v3_100ms") {
        return;
    }
    let _serial = serial();
    let spec = spec_v3(10);
    let mut c = elected("elect100", spec.clone());
    let mut rng = SplitMix64::new(SEED);
    eprintln!("seed {SEED}");
    let mut reps = Vec::new();
    for rep in 1..=CRASHES_100MS {
        let phase = rng.below(spec.interval());
        let r = c.crash_master(0, phase, SCHED_SLACK).unwrap_or_else(|e| panic!("crash {rep}: {e}"));
        eprintln!("crash {rep}/{CRASHES_100MS}: {}", r.describe());
        reps.push(r);
        c.restore(0).unwrap_or_else(|e| panic!("restore after crash {rep}: {e}"));
        reelect(&mut c);
    }

    let by = |name: &str| reps.iter().filter(|r| r.entered_master.iter().any(|(n, _)| n == name)).count();
    let n = reps.len();
    // r3's timer runs out 3.9 ms after r2's: whether r2 wins that race on a shared VM is
    // down to wake-up latency (seen lost once with both agents at vrrp_rt_priority: r2 fired
    // 4.3 ms late, r3 was master for 0.7 ms). That exactness is the simulation's to assert
    // (core/fsm/sim.rs: only priority 90 takes over, at 20 phases, and in the property test
    // whenever the skew gap exceeds twice the delays). Here: r3 steps down as soon as it hears
    // r2, within one interval + slack, and r2 is the master left.
    eprintln!("r3 entered MASTER (briefly) after {}/{n} crashes", by("r3"));
    for (i, r) in reps.iter().enumerate() {
        let dual = Duration::from_micros(r.dual_master_us.max(0) as u64);
        assert!(dual <= spec.interval() + SCHED_SLACK, "crash {}: two masters for {:.1} ms: {}", i + 1, ms(dual), r.describe());
    }
    let bound = spec.failover_bound(90) + SCHED_SLACK;
    // r2's timer runs Master_Down_Interval from the last advert it accepted, never less: the
    // silence it logs is that, plus its own wake-up delay. (The time since the kill is no
    // lower bound: a master whose last advert left late had been silent longer already.)
    // The log rounds down to 0.1 ms.
    let mdi = spec.master_down_interval(90);
    let earliest = mdi - Duration::from_micros(100);
    for (i, r) in reps.iter().enumerate() {
        let entered: Vec<&str> = r.entered_master.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(entered.iter().filter(|n| **n == "r2").count(), 1, "crash {}: r2 enters MASTER, once: {}", i + 1, r.describe());
        assert_eq!(r.final_masters, ["r2"], "crash {}: {}", i + 1, r.describe());
        let t = Duration::from_micros(r.takeover_us().unwrap_or(i64::MAX) as u64);
        assert!(t <= bound, "crash {}: r2 took over after {:.1} ms, bound {:.1} ms: {}", i + 1, ms(t), ms(bound), r.describe());
        // The first to take over (r2, or r3 when it won the race: its own Master_Down_Interval
        // is longer still, so the same bounds hold).
        let silence = Duration::from_micros(r.silence_us.unwrap_or_else(|| panic!("crash {}: no silence logged: {}", i + 1, r.describe())) as u64);
        assert!(silence >= earliest, "crash {}: the timer fired {:.1} ms after the last advert, before Master_Down_Interval ({:.1} ms): {}", i + 1, ms(silence), ms(mdi), r.describe());
        assert!(silence <= mdi + SCHED_SLACK, "crash {}: the timer fired {:.1} ms after the last advert, Master_Down_Interval {:.1} ms + slack: {}", i + 1, ms(silence), ms(mdi), r.describe());
    }
}

/// (b) At VRRPv3 10 ms adverts, crashed three times: the client (probing every 1 ms) is never
/// left without the VIP longer than Master_Down_Interval(90) + one interval (+ SCHED_SLACK).
/// A transient second master that takes the client's ARP entry with it and then steps down
/// silently leaves the client on a MAC that no longer answers: that is what this catches.
#[test]
fn client_keeps_the_vip_within_the_bound_at_10ms_adverts() {
    if !require_root("client_keeps_the_vip_within_the_bound_at_10ms_adverts") {
        return;
    }
    let _serial = serial();
    let spec = spec_v3(1);
    let mut c = elected("elect10", spec.clone());
    let mut rng = SplitMix64::new(SEED ^ 10);
    eprintln!("seed {}", SEED ^ 10);
    let bound = spec.failover_bound(90) + SCHED_SLACK;
    let mut reps = Vec::new();
    for rep in 1..=CRASHES_10MS {
        let phase = rng.below(spec.interval());
        let r = c.crash_master(0, phase, SCHED_SLACK).unwrap_or_else(|e| panic!("crash {rep}: {e}"));
        eprintln!("crash {rep}/{CRASHES_10MS}: {}", r.describe());
        reps.push(r);
        c.restore(0).unwrap_or_else(|e| panic!("restore after crash {rep}: {e}"));
        reelect(&mut c);
    }
    let bad: Vec<String> = reps
        .iter()
        .enumerate()
        .filter(|(_, r)| !r.recovered || r.outage_us.is_none_or(|o| o > bound.as_micros() as i64))
        .map(|(i, r)| format!("crash {}: {}", i + 1, r.describe()))
        .collect();
    assert!(bad.is_empty(), "client outage over {:.1} ms in {}/{}:\n{}", ms(bound), bad.len(), reps.len(), bad.join("\n"));
}

/// A 10 ms prober on the VIP from the client, started once the client is answered.
fn probe_vip(c: &Cluster, what: &str) -> vrrp_tests::Pinger {
    let pinger = start_ping_every(c.client(), VIP, c.spec.probe_interval(), 30).expect("ping");
    wait_for(Duration::from_secs(5), &format!("20 replies before {what}"), || (pinger.replies_so_far().len() >= 20).then_some(()))
        .expect("client reaches the VIP");
    pinger
}

/// Once the client has 20 more answers, stops the prober and reports (lost probes, longest
/// gap in ms) from one second before `since_us` on.
fn probes_lost(pinger: vrrp_tests::Pinger, since_us: i64, what: &str) -> (u32, f64) {
    let after = wall_clock_us();
    wait_for(Duration::from_secs(3), "20 replies after the hand-over", || {
        (pinger.replies_so_far().iter().filter(|r| (r.ts * 1e6) as i64 > after).count() >= 20).then_some(())
    })
    .expect("client reaches r2");
    let replies = pinger.stop().expect("ping");
    let lost = el::lost_probes(&replies);
    let ts: Vec<f64> = replies.iter().filter(|r| (r.ts * 1e6) as i64 >= since_us - 1_000_000).map(|r| r.ts).collect();
    let gap = longest_gap(&ts).unwrap_or(0.0) * 1e3;
    eprintln!("{what}: {lost} probe(s) lost; longest gap {gap:.1} ms");
    (lost, gap)
}

/// (c) Planned hand-over: SIGTERM to the master at VRRPv3 100 ms while the client probes
/// every 10 ms. Make-before-break: the leaving master sends priority 0 but keeps its VIP (and
/// keeps answering) until it hears its successor's advert, so not one probe is lost.
#[test]
fn planned_sigterm_hand_over_loses_no_probe_v3_100ms() {
    if !require_root("planned_sigterm_hand_over_loses_no_probe_v3_100ms") {
        return;
    }
    let _serial = serial();
    let spec = spec_v3(10);
    let mut c = elected("handover", spec.clone());
    let pinger = probe_vip(&c, "the hand-over");

    let term_us = wall_clock_us();
    let terminated = Instant::now();
    c.agents[0].as_mut().expect("r1's agent").terminate();
    // r2 takes over Skew_Time(90) after the priority-0 advert; r1 leaves once it hears r2,
    // at the latest after its Master_Down_Interval (the rule).
    let bound = spec.master_down_interval(90) + spec.interval() + SCHED_SLACK;
    c.agents[0].as_mut().expect("r1's agent").wait_exit(bound + Duration::from_secs(2)).expect("r1's agent exits after SIGTERM");
    let exited = terminated.elapsed();
    wait_for(bound, "r2 to be the only holder of the VIP", || (c.holders() == ["r2"]).then_some(()))
        .unwrap_or_else(|e| panic!("{e}; holders {:?}", c.holders()));
    eprintln!("hand-over: r1 exited {:.1} ms after SIGTERM", ms(exited));
    let (lost, gap) = probes_lost(pinger, term_us, "SIGTERM hand-over");
    let r2_entered = c.state_changes(1).into_iter().filter(|s| s.state == "MASTER" && s.ts_us >= term_us).count();
    let r3_entered = c.state_changes(2).into_iter().filter(|s| s.state == "MASTER" && s.ts_us >= term_us).count();
    assert_eq!(lost, 0, "probes lost in a planned hand-over (make-before-break); longest gap {gap:.1} ms");
    assert_eq!((r2_entered, r3_entered), (1, 0), "r2 alone takes over (entries into MASTER by r2, r3)");
}

/// (c') A reload that restarts the master (its priority drops below r2's) hands over
/// make-before-break as SIGTERM does: r1 sends priority 0 and keeps the VIP until r2's advert
/// arrives, then restarts as a backup. No 10 ms probe is lost.
#[test]
fn reload_restarting_the_master_hands_over_without_losing_a_probe_v3_100ms() {
    if !require_root("reload_restarting_the_master_hands_over_without_losing_a_probe_v3_100ms") {
        return;
    }
    let _serial = serial();
    let spec = spec_v3(10);
    let mut c = elected("reloadho", spec.clone());
    let pinger = probe_vip(&c, "the reload");
    let conf_path = c.agents[0].as_ref().expect("r1's agent").config.clone();
    let conf = std::fs::read_to_string(&conf_path).expect("r1's config");
    assert!(conf.contains("priority 100"), "{conf}");
    std::fs::write(&conf_path, conf.replace("priority 100", "priority 85")).expect("rewrite r1's config");
    let hup_us = wall_clock_us();
    c.agents[0].as_mut().expect("r1's agent").signal(libc::SIGHUP);
    let r1 = c.agents[0].as_ref().expect("r1's agent");
    let bound = spec.master_down_interval(90) + spec.interval() + SCHED_SLACK;
    wait_for(bound, "r2 to be the only holder of the VIP", || (c.holders() == ["r2"]).then_some(()))
        .unwrap_or_else(|e| panic!("{e}; holders {:?}\n{}", c.holders(), r1.log_tail(15)));
    wait_for(bound, "r1 restarted as a backup", || {
        let log = r1.log_text();
        (log.contains("(VI_1) Entering STOP STATE (shutdown:") && log.matches("Entering BACKUP STATE (startup)").count() >= 2).then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", r1.log_tail(15)));
    let (lost, gap) = probes_lost(pinger, hup_us, "reload hand-over");
    assert_eq!(lost, 0, "probes lost in a reload hand-over (make-before-break); longest gap {gap:.1} ms");
    assert_eq!(c.state_changes(2).into_iter().filter(|s| s.state == "MASTER" && s.ts_us >= hup_us).count(), 0, "r3 stayed backup");
}

/// Shared by (d) and (e): r1 was cut off (or frozen) while r2 took over; now r1 is back.
/// Within one advert interval (+ the client's probe interval + SCHED_SLACK) of `back_us`:
/// r2 has stepped down (it hears r1's higher priority), so exactly one master is left, and the
/// client's neighbour entry for the VIP holds r1's MAC (r1 heard r2's lower-priority advert and
/// re-announced with gratuitous ARP), and the client was never without answers longer.
/// `split_us`: when the split began (r3 must not have stayed MASTER since).
fn assert_healed(c: &mut Cluster, what: &str, split_us: i64, back_us: i64, back: Instant, pinger: &vrrp_tests::Pinger) {
    let spec = c.spec.clone();
    let bound = spec.interval() + spec.probe_interval() + SCHED_SLACK;
    let r1_mac = c.host(0).mac_string();
    // Polled; the log timestamps and the ping replies below give the exact times.
    let seen = wait_for(bound + Duration::from_secs(3), &format!("{what}: the client's neighbour entry for the VIP to be r1's MAC"), || {
        (neigh_lladdr(c.client(), VIP).as_deref() == Some(r1_mac.as_str())).then(|| back.elapsed())
    });
    let masters = wait_for(bound + Duration::from_secs(3), &format!("{what}: exactly one master"), || {
        let m: Vec<usize> = (0..3).filter(|&i| c.state(i).as_deref() == Some("MASTER")).collect();
        (m.len() == 1).then_some(m)
    });
    let r2_down = c.state_changes(1).into_iter().find(|s| s.ts_us >= back_us && s.state == "BACKUP");
    // r3 may win r2's 3.9 ms race for a moment on a slow host (see the crash test); it must
    // step down when it hears r2, within one interval + slack.
    let now = wall_clock_us();
    let r3_longest = el::master_intervals(&c.state_changes(2), split_us, now).iter().map(|(a, b)| b - a).max().unwrap_or(0);
    let r3_master = r3_longest > (spec.interval() + SCHED_SLACK).as_micros() as i64;
    // The client's outage from `back` on, with answers for 20 more probes after it ended.
    let _ = wait_for(bound + Duration::from_secs(3), &format!("{what}: the client answered by r1"), || {
        let n = pinger.replies_so_far().iter().filter(|r| (r.ts * 1e6) as i64 > back_us + bound.as_micros() as i64).count();
        (n >= 20).then_some(())
    });
    let now_us = wall_clock_us();
    let replies = pinger.replies_so_far();
    let outage = el::longest_outage_us(&replies, back_us, now_us).map(|u| Duration::from_micros(u as u64));
    eprintln!(
        "{what}: r2 back to BACKUP after {}; client's neighbour entry on r1's MAC after {}; client outage {}; bound {:.1} ms",
        r2_down.as_ref().map(|s| format!("{:.1} ms ({})", (s.ts_us - back_us) as f64 / 1e3, s.reason)).unwrap_or_else(|| "never".into()),
        seen.as_ref().map(|d| format!("{:.1} ms", ms(*d))).unwrap_or_else(|_| "never".into()),
        outage.map(|o| format!("{:.1} ms", ms(o))).unwrap_or_else(|| "n/a".into()),
        ms(bound)
    );
    let states: Vec<Option<String>> = (0..3).map(|i| c.state(i)).collect();
    let masters = masters.unwrap_or_else(|e| panic!("{e}: states {states:?}\n{}", c.log_tails(25)));
    assert_eq!(masters, [0], "{what}: r1 is the one master left\n{}", c.log_tails(25));
    let r2_down = r2_down.unwrap_or_else(|| panic!("{what}: r2 never logged Entering BACKUP STATE"));
    let t = Duration::from_micros((r2_down.ts_us - back_us).max(0) as u64);
    assert!(t <= bound, "{what}: r2 stepped down {:.1} ms after r1 was back, bound {:.1} ms", ms(t), ms(bound));
    let seen = seen.unwrap_or_else(|e| panic!("{e} (it is {:?}; r1 must re-announce the VIP after a split brain)", neigh_lladdr(c.client(), VIP)));
    assert!(seen <= bound, "{what}: the client's entry moved to r1 after {:.1} ms, bound {:.1} ms", ms(seen), ms(bound));
    let outage = outage.unwrap_or_else(|| panic!("{what}: no reply before r1 came back"));
    assert!(outage <= bound, "{what}: the client had no answer for {:.1} ms, bound {:.1} ms", ms(outage), ms(bound));
    assert!(!r3_master, "{what}: r3 (priority 80) stayed MASTER {:.1} ms during the split (only r2 may, a stay past one interval + slack)", r3_longest as f64 / 1e3);
}

/// Wait until r2 (cut off from r1) is master too, and the client follows r2 (its gratuitous
/// ARP): the split brain the scenario needs. r2's timer runs out Master_Down_Interval(90) after
/// r1's last advert.
fn wait_r2_master_and_client_on_r2(c: &mut Cluster, what: &str) {
    let spec = c.spec.clone();
    let bound = spec.failover_bound(90) + SCHED_SLACK;
    let r2_mac = c.host(1).mac_string();
    wait_for(bound + Duration::from_secs(2), &format!("{what}: r2 to be master while r1 still is"), || {
        (c.state(1).as_deref() == Some("MASTER") && c.state(0).as_deref() == Some("MASTER")).then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}"));
    wait_for(Duration::from_secs(2), &format!("{what}: the client's neighbour entry for the VIP to be r2's MAC"), || {
        (neigh_lladdr(c.client(), VIP).as_deref() == Some(r2_mac.as_str())).then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}"));
}

/// (d) Split brain by partition: r1's switch port leaves the bridge for ~3 s (its link stays
/// up, so r1 stays master; r2 takes over on the LAN and the client follows r2), then rejoins.
/// Exactly one master (r1) remains and the client follows it back, within one advert interval
/// (+ probe interval + SCHED_SLACK). Three cycles, so both orders of the first advert across the
/// healed link are seen.
#[test]
fn split_brain_after_a_partition_heals_to_one_master_and_the_client_follows_v3_100ms() {
    if !require_root("split_brain_after_a_partition_heals_to_one_master_and_the_client_follows_v3_100ms") {
        return;
    }
    let _serial = serial();
    let mut c = elected("partition", spec_v3(10));
    for cycle in 1..=HEALS {
        let what = format!("partition {cycle}/{HEALS}");
        let pinger = start_ping_every(c.client(), VIP, c.spec.probe_interval(), 60).expect("ping");
        wait_for(Duration::from_secs(5), "the client's first reply", || (!pinger.replies_so_far().is_empty()).then_some(())).expect("reply");
        let cut = Instant::now();
        let cut_us = wall_clock_us();
        c.lan.partition("r1").expect("partition r1");
        wait_r2_master_and_client_on_r2(&mut c, &what);
        if let Some(left) = PARTITION.checked_sub(cut.elapsed()) {
            std::thread::sleep(left); // the scenario: how long the partition lasts
        }
        let back_us = wall_clock_us();
        let back = Instant::now();
        c.lan.heal("r1").expect("heal r1");
        assert_healed(&mut c, &what, cut_us, back_us, back, &pinger);
        drop(pinger);
        c.wait_settled(0, Duration::from_secs(2)).unwrap_or_else(|e| panic!("{what}: {e}"));
    }
}

/// (d') The same heal when r1 is the address owner (priority 255). An owner used to discard
/// every advert (RFC 5798 §7.1), so after the partition it never heard the loser and never
/// re-announced: the client stayed on r2's MAC. Now it hears r2's last advert and
/// re-announces within one interval.
#[test]
fn split_brain_with_the_address_owner_heals_and_the_client_follows_v3_100ms() {
    if !require_root("split_brain_with_the_address_owner_heals_and_the_client_follows_v3_100ms") {
        return;
    }
    let _serial = serial();
    let spec = ClusterSpec { priorities: vec![255, 90, 80], ..spec_v3(10) };
    let mut c = elected("ownerheal", spec);
    let what = "owner partition";
    let pinger = start_ping_every(c.client(), VIP, c.spec.probe_interval(), 60).expect("ping");
    wait_for(Duration::from_secs(5), "the client's first reply", || (!pinger.replies_so_far().is_empty()).then_some(())).expect("reply");
    let cut = Instant::now();
    let cut_us = wall_clock_us();
    c.lan.partition("r1").expect("partition r1");
    wait_r2_master_and_client_on_r2(&mut c, what);
    if let Some(left) = PARTITION.checked_sub(cut.elapsed()) {
        std::thread::sleep(left); // the scenario: how long the partition lasts
    }
    let back_us = wall_clock_us();
    let back = Instant::now();
    c.lan.heal("r1").expect("heal r1");
    assert_healed(&mut c, what, cut_us, back_us, back, &pinger);
}

/// (e) Split brain by a frozen master: r1's agent is SIGSTOPped for ~1 s (its kernel keeps the
/// VIP, its XDP program keeps recording r2's adverts), r2 takes over and the client follows
/// r2; then SIGCONT. Exactly one master (r1) remains and the client follows it back, within one
/// advert interval (+ probe interval + SCHED_SLACK).
#[test]
fn split_brain_after_a_stopped_master_resumes_heals_and_the_client_follows_v3_100ms() {
    if !require_root("split_brain_after_a_stopped_master_resumes_heals_and_the_client_follows_v3_100ms") {
        return;
    }
    let _serial = serial();
    let mut c = elected("sigstop", spec_v3(10));
    let pinger = start_ping_every(c.client(), VIP, c.spec.probe_interval(), 60).expect("ping");
    wait_for(Duration::from_secs(5), "the client's first reply", || (!pinger.replies_so_far().is_empty()).then_some(())).expect("reply");
    let stopped = Instant::now();
    let stopped_us = wall_clock_us();
    c.agents[0].as_mut().expect("r1's agent").signal(libc::SIGSTOP);
    // r1's state in its pinned map stays MASTER while it is stopped.
    wait_r2_master_and_client_on_r2(&mut c, "SIGSTOP");
    if let Some(left) = STOPPED.checked_sub(stopped.elapsed()) {
        std::thread::sleep(left); // the scenario: how long r1 stays frozen
    }
    let back_us = wall_clock_us();
    let back = Instant::now();
    c.agents[0].as_mut().expect("r1's agent").signal(libc::SIGCONT);
    assert_healed(&mut c, "SIGCONT", stopped_us, back_us, back, &pinger);
}
