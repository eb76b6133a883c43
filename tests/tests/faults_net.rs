//! Issue 10's fault matrix, network faults: real agents on three routers r1/r2/r3
//! (priorities 100/90/80, VRRPv3, 100 ms adverts) and a client probing the VIP every 10 ms,
//! on the bridged LAN of [`vrrp_tests::election::Cluster`]. Each case breaks the network on
//! purpose, checks the protocol's outcome within a protocol-derived bound plus [`SLACK`], and
//! ends with the steady-state checks: one master, the VIPs only on it, the client's neighbour
//! entries on its MAC, one ARP and NS answerer, and nothing changing for a few intervals.
//!
//! The faults:
//! - the master's interface down and up again, administratively or by carrier loss (its
//!   switch port down): FAULT, the next priority takes over, preempted back;
//! - the master's interface deleted and created again (a new ifindex: the agent sets the
//!   instance up again, XDP attached to the new interface), and a backup's (it must come back
//!   a backup, not a deaf second master);
//! - the master's MAC changed (followed: gratuitous ARPs and XDP's ARP/NS replies carry it);
//! - the master's IPv6 link-local address (its IPv6 advert source) removed and added back;
//! - VRRP between the master and the other routers cut both ways (also with equal
//!   priorities: the heal keeps the higher primary address), then one way, by a bridge-family
//!   nftables table in the switch namespace ([`VrrpCut`]). Not on the routers: XDP runs before
//!   netfilter, so an input rule on a router would not hide an advert from the agent.
//!
//! Every cluster also runs an IPv6 instance (`VI_2`, [`Cluster::with_ipv6`]): both instances
//! fail over together, and the steady state ([`faults::steady`]) covers NS answering and the
//! client's IPv6 neighbour entry as well. Each case compares the agents' fds, children and RSS
//! across the fault ([`Leaks`]) and ends with [`faults::finish`]: the agents stop cleanly and
//! leave no pin, XDP attachment, VIP, process or namespace.
//!
//! Times come from the agents' own log lines (`(VI_1) Entering ... STATE`, microsecond UTC
//! timestamps) and the client's `ping -D` (the same clock), not from polling.
//!
//! The tests run one at a time ([`serial`]): each measures tens of milliseconds, and three
//! clusters on a 2-core machine at once would measure each other.
use std::{
    sync::{Mutex, MutexGuard},
    time::{Duration, Instant},
};

use vrrp_tests::{
    Lan, Pinger, agent_binary,
    election::{self as el, Cluster, ClusterSpec, STARTUP, VIP, wall_clock_us},
    faults::{self, Leaks},
    has_addr, holds_for, neigh_lladdr, ping_once, require_root, start_ping_every, wait_for,
};

/// Added to every protocol-derived bound: what the machine may add on top of the protocol
/// (the agents, the client's ping and this test are ordinary processes on a shared 2-core
/// VM: a timer wake-up, a netlink round trip adding the VIP, the raw-socket sends, the
/// client's next probe and this test's 10 ms polling may each wait behind compilers for a
/// few scheduler slices). The same order as tests/tests/election.rs; still a fraction of the
/// 100 ms interval and far below the failures these tests exist for.
const SLACK: Duration = Duration::from_millis(150);

/// How long a cut lasts once both sides are master (a scenario parameter): long enough that
/// the split brain is a steady state, not a race (a few advert intervals and r2's GARP burst).
const CUT: Duration = Duration::from_secs(1);

/// After a heal: how long nothing may change any more (no flapping), in advert intervals.
const QUIET_INTERVALS: u32 = 5;

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn us_to_ms(us: i64) -> f64 {
    us as f64 / 1e3
}

/// VRRPv3, 100 ms adverts, three routers of `priorities` (100/90/80 unless a case says).
fn spec(priorities: &[u8]) -> ClusterSpec {
    ClusterSpec { version: 3, advert_int_cs: 10, priorities: priorities.to_vec(), agent_args: vec![] }
}

/// The lab's priorities: r1 100, r2 90, r3 80.
const PRIORITIES: [u8; 3] = [100, 90, 80];

/// A cluster of 100/90/80 with r1 elected: [`elected_among`].
fn elected(tag: &str) -> (Cluster, Leaks) {
    let (c, leaks, _) = elected_among(tag, &PRIORITIES, &[0]);
    (c, leaks)
}

/// A cluster (with the IPv6 instance) with one of the `candidates` elected for both
/// instances and heard by the backups, which one, and the agents' footprint then. Agents start
/// a few hundred ms apart, so another may win first; the highest priority preempts at most its
/// Master_Down_Interval after it starts. Several candidates: equal priorities, where a backup
/// accepts an equal priority (RFC 5798 §6.4.2) and whoever was master first stays.
fn elected_among(tag: &str, priorities: &[u8], candidates: &[usize]) -> (Cluster, Leaks, usize) {
    let bin = agent_binary().expect("agent binary (cargo build --release -p vrrp-agent)");
    let mut c = Cluster::new(tag, &bin, spec(priorities)).expect("cluster");
    c.with_ipv6().expect("the IPv6 instance");
    c.start_agents().expect("agents");
    let bound = STARTUP + c.spec.master_down_interval(80) + c.spec.interval() + SLACK;
    let m = wait_for(bound, "a candidate to be the only holder of the VIP", || {
        let holders = c.holders();
        candidates.iter().copied().find(|&k| holders == [c.routers[k].name.clone()] && c.state(k).as_deref() == Some("MASTER"))
    })
    .unwrap_or_else(|e| panic!("initial election: {e}\n{}", c.log_tails(20)));
    c.wait_settled(m, c.spec.interval() * 3 + SLACK).unwrap_or_else(|e| panic!("initial election: {e}\n{}", c.log_tails(20)));
    let name = c.routers[m].name.clone();
    wait_for(c.spec.master_down_interval(1) + SLACK, &format!("{name} master of the IPv6 instance too"), || {
        let st = c.status(m)?;
        (faults::instance_state(&st, "VI_2").as_deref() == Some("MASTER") && c.holders6() == [name.clone()]).then_some(())
    })
    .unwrap_or_else(|e| panic!("initial election: {e}\n{}", c.log_tails(20)));
    let leaks = Leaks::snapshot(&mut c).expect("the agents' footprint");
    (c, leaks, m)
}

/// The instances every router runs.
fn instances(c: &Cluster) -> Vec<&'static str> {
    if c.vip6.is_some() { vec!["VI_1", "VI_2"] } else { vec!["VI_1"] }
}

/// More open fds an agent may have after a fault than before: none is expected (a re-created
/// interface replaces its sockets); a little room for a netlink or status request in flight.
const FD_SLACK: usize = 4;
/// More RSS after a fault than before, KiB: allocator noise, not a leak per fault.
const RSS_SLACK_KIB: u64 = 2048;

/// The end of a case: the agents' footprint against the one after the election, then
/// [`faults::finish`] (agents stopped, nothing left behind).
fn finish(mut c: Cluster, before: &Leaks, what: &str) {
    let after = Leaks::snapshot(&mut c).expect("the agents' footprint");
    before.compare(&after, FD_SLACK, RSS_SLACK_KIB).unwrap_or_else(|e| panic!("{what}: {e}"));
    faults::finish(c).unwrap_or_else(|e| panic!("{what}: {e}"));
}

/// The client probing the VIP every probe interval (10 ms), once it is answered.
fn probe(c: &Cluster) -> Pinger {
    let p = start_ping_every(c.client(), VIP, c.spec.probe_interval(), 60).expect("ping");
    wait_for(Duration::from_secs(5), "the client's first reply from the VIP", || (!p.replies_so_far().is_empty()).then_some(()))
        .unwrap_or_else(|e| panic!("{e}\n{}", c.log_tails(20)));
    p
}

/// When router `i` had changed to `state` at or after `since_us` in every instance: the latest
/// of each instance's first such change (log time, microseconds), None until all have.
fn entered(c: &Cluster, i: usize, state: &str, since_us: i64) -> Option<i64> {
    let changes = c.state_changes(i);
    instances(c)
        .into_iter()
        .map(|inst| changes.iter().find(|s| s.instance == inst && s.state == state && s.ts_us >= since_us).map(|s| s.ts_us))
        .try_fold(i64::MIN, |acc, t| t.map(|t| acc.max(t)))
}

/// Router `i` changed to `state` in any instance at or after `since_us`.
fn entered_any(c: &Cluster, i: usize, state: &str, since_us: i64) -> bool {
    c.state_changes(i).iter().any(|s| s.state == state && s.ts_us >= since_us)
}

/// How long each MASTER stay of router `i` that began at or after `since_us` lasted (until
/// the same instance's next state change; one still open lasts until now).
fn master_stays(c: &Cluster, i: usize, since_us: i64) -> Vec<Duration> {
    let changes = c.state_changes(i);
    let now = wall_clock_us();
    changes
        .iter()
        .enumerate()
        .filter(|(_, s)| s.state == "MASTER" && s.ts_us >= since_us)
        .map(|(k, s)| {
            let end = changes[k + 1..].iter().find(|n| n.instance == s.instance).map_or(now, |n| n.ts_us);
            Duration::from_micros((end - s.ts_us).max(0) as u64)
        })
        .collect()
}

/// The router below the one that takes over (r3, priority 80) may not stay master: its timer
/// runs out Skew_Time(80) - Skew_Time(90) = 3.9 ms after r2's at 100 ms adverts (the whole
/// margin the protocol leaves), so a scheduling delay of that order on a loaded machine can let
/// it enter MASTER first (seen once: r3 at +280.1 ms, r2 at +281.7 ms); r2's first advert then
/// sends it back. Every such stay must end within one interval + [`SLACK`]; returns the longest
/// (zero if none) for the figures. (election.rs, whose agents run with
/// `vrrp_rt_priority`, asserts that r3 never enters MASTER at all.)
fn no_lasting_master(c: &Cluster, i: usize, since_us: i64, what: &str) -> Duration {
    let stays = master_stays(c, i, since_us);
    let bound = c.spec.interval() + SLACK;
    let longest = stays.iter().copied().max().unwrap_or_default();
    assert!(longest <= bound, "{what}: {} stayed MASTER {:.1} ms, bound {:.1} ms: {:#?}", c.routers[i].name, ms(longest), ms(bound), changes_since(c, since_us));
    longest
}

/// Every state change of every router logged at or after `since_us`, as `r2 MASTER (reason)`.
fn changes_since(c: &Cluster, since_us: i64) -> Vec<String> {
    (0..c.routers.len())
        .flat_map(|i| {
            c.state_changes(i)
                .into_iter()
                .filter(move |s| s.ts_us >= since_us)
                .map(move |s| format!("r{} {} {} ({}) at +{:.1} ms", i + 1, s.state, s.instance, s.reason, us_to_ms(s.ts_us - since_us)))
        })
        .collect()
}

/// Wait (bounded) until router `i` logs an entry into `state` at or after `since_us`, and
/// return how long after `since_us` it came.
fn wait_entered(c: &Cluster, i: usize, state: &str, since_us: i64, timeout: Duration, what: &str) -> Duration {
    let t = wait_for(timeout, what, || entered(c, i, state, since_us))
        .unwrap_or_else(|e| panic!("{e}\nchanges: {:#?}\n{}", changes_since(c, since_us), c.log_tails(25)));
    Duration::from_micros((t - since_us).max(0) as u64)
}

/// Wait (bounded) until the client's neighbour entry for the VIP is `mac` (and for the IPv6
/// VIP, if it has an entry for it: the client only probes IPv4); when it was seen.
fn wait_client_on(c: &Cluster, mac: &str, timeout: Duration, what: &str) -> Instant {
    let on = || {
        let v6 = c.vip6.and_then(|v| faults::neigh6_lladdr(c.client(), v));
        neigh_lladdr(c.client(), VIP).as_deref() == Some(mac) && v6.as_deref().is_none_or(|m| m == mac)
    };
    wait_for(timeout, what, || on().then(Instant::now)).unwrap_or_else(|e| {
        let v6 = c.vip6.and_then(|v| faults::neigh6_lladdr(c.client(), v));
        panic!("{e} (IPv4 {:?}, IPv6 {v6:?})\n{}", neigh_lladdr(c.client(), VIP), c.log_tails(20))
    })
}

/// The client's longest time without an answer (over lost probes only) from `from_us` until
/// it has 20 more answers after `settled_us`.
fn outage_after(pinger: &Pinger, from_us: i64, settled_us: i64) -> Duration {
    let _ = wait_for(Duration::from_secs(3), "20 replies after the fault settled", || {
        (pinger.replies_so_far().iter().filter(|r| (r.ts * 1e6) as i64 > settled_us).count() >= 20).then_some(())
    });
    let replies = pinger.replies_so_far();
    let o = el::outage_over_lost_us(&replies, from_us, wall_clock_us(), true).expect("a reply before the fault");
    Duration::from_micros(o.max(0) as u64)
}

/// The steady state after a fault: r1 (the highest priority) master of both instances, heard
/// by r2/r3, and then [`faults::steady`] for [`QUIET_INTERVALS`] intervals (one master, the VIPs
/// on r1 only, r1's MAC the only ARP/NS answerer and the client's neighbour entry), with no
/// state change logged meanwhile (no flapping).
fn steady_on_r1(c: &mut Cluster, what: &str) {
    steady_on(c, 0, what)
}

/// [`steady_on_r1`] with router `m` the master.
fn steady_on(c: &mut Cluster, m: usize, what: &str) {
    c.wait_settled(m, c.spec.interval() * 3 + SLACK).unwrap_or_else(|e| panic!("{what}: {e}\n{}", c.log_tails(25)));
    let quiet_from = wall_clock_us();
    faults::steady(c, m, c.spec.interval() * QUIET_INTERVALS).unwrap_or_else(|e| panic!("{what}: {e}"));
    let flaps = changes_since(c, quiet_from);
    assert!(flaps.is_empty(), "{what}: state changes while it should be steady: {flaps:#?}");
}

/// [`steady_on_r1`] while r1's MAC is `mac`, not the one the LAN gave it (which
/// [`faults::steady`] expects): one master holding the VIPs, only `mac` answers ARP (and NS)
/// for the VIPs and the client reaches them through `mac`, and r1's XDP program counted the
/// ARP reply.
fn steady_on_r1_with_mac(c: &mut Cluster, mac: &str, what: &str) {
    c.wait_settled(0, c.spec.interval() * 3 + SLACK).unwrap_or_else(|e| panic!("{what}: {e}\n{}", c.log_tails(25)));
    let quiet_from = wall_clock_us();
    c.holds_only_master(0, c.spec.interval() * QUIET_INTERVALS).unwrap_or_else(|e| panic!("{what}: {e}"));
    let before = arp_replies(c, 0);
    let answerers = faults::arp_answerers(c.client(), VIP, 5).expect("arping");
    assert_eq!(answerers, [mac], "{what}: who answers ARP for the VIP");
    assert!(arp_replies(c, 0) > before, "{what}: r1's XDP program answered");
    assert!(ping_once(c.client(), VIP), "{what}: the client reaches the VIP");
    assert_eq!(neigh_lladdr(c.client(), VIP).as_deref(), Some(mac), "{what}: the client's neighbour entry for the VIP");
    if let Some(vip6) = c.vip6 {
        let (ns, answered) = faults::ns_answerers(c.client(), vip6, 3).expect("neighbour solicitations");
        assert_eq!(ns, [mac], "{what}: who answers NS for {vip6}");
        assert!(answered >= 3, "{what}: the client reaches {vip6} ({answered} answers)");
    }
    let flaps = changes_since(c, quiet_from);
    assert!(flaps.is_empty(), "{what}: state changes while it should be steady: {flaps:#?}");
}

/// XDP's ARP replies counted by router `i`'s agent.
fn arp_replies(c: &Cluster, i: usize) -> u64 {
    c.status(i).and_then(|v| v["counters"]["arp_replies"].as_u64()).unwrap_or(0)
}

// ---------------------------------------------------------------------------------------
// The cut: VRRP dropped on the lab switch
// ---------------------------------------------------------------------------------------

/// VRRP (IP protocol 112, IPv4 and IPv6) dropped on the switch between chosen ports: a
/// bridge-family nftables table in the switch namespace, forward hook (flooded multicast
/// passes it too). Everything else still flows, so the client reaches every router. Healed by
/// [`VrrpCut::heal`] or on drop; the table dies with the namespace in any case.
struct VrrpCut<'a> {
    lan: &'a Lan,
    table: String,
    healed: bool,
}

impl<'a> VrrpCut<'a> {
    /// Drop VRRP sent by `from` to any of `to`, and, if `both_ways`, sent by any of `to` to
    /// `from`.
    fn new(lan: &'a Lan, from: &str, to: &[&str], both_ways: bool) -> VrrpCut<'a> {
        let port = |h: &str| format!("\"{}\"", lan.host(h).switch_port);
        let a = port(from);
        let b: Vec<String> = to.iter().map(|h| port(h)).collect();
        let b = format!("{{ {} }}", b.join(", "));
        let mut rules = format!("    iifname {a} oifname {b} meta l4proto 112 counter drop\n");
        if both_ways {
            rules.push_str(&format!("    iifname {b} oifname {a} meta l4proto 112 counter drop\n"));
        }
        let table = "vrrp_cut".to_string();
        let text = format!(
            "table bridge {table} {{\n  chain forward {{\n    type filter hook forward priority 0; policy accept;\n{rules}  }}\n}}\n"
        );
        let file = std::env::temp_dir().join(format!("{}-cut.nft", lan.prefix));
        std::fs::write(&file, text).expect("writing the nft file");
        let done = lan.switch.run("nft", &["-f", &file.to_string_lossy()]);
        let _ = std::fs::remove_file(&file);
        done.expect("nft: adding the cut");
        VrrpCut { lan, table, healed: false }
    }

    /// Packets the cut has dropped so far (its rules' counters).
    fn dropped(&self) -> u64 {
        let out = self.lan.switch.run("nft", &["list", "table", "bridge", &self.table]).unwrap_or_default();
        out.split_whitespace().collect::<Vec<_>>().windows(2).filter(|w| w[0] == "packets").filter_map(|w| w[1].parse::<u64>().ok()).sum()
    }

    fn heal(&mut self) {
        if !self.healed {
            self.lan.switch.run("nft", &["delete", "table", "bridge", &self.table]).expect("nft: removing the cut");
            self.healed = true;
        }
    }
}

impl Drop for VrrpCut<'_> {
    fn drop(&mut self) {
        if !self.healed {
            let _ = self.lan.switch.run("nft", &["delete", "table", "bridge", &self.table]);
        }
    }
}

/// nft present? Without it the cut cases cannot run: skip with the reason, except in CI.
fn require_nft(test: &str) -> bool {
    let found = std::process::Command::new("nft").arg("--version").output().is_ok_and(|o| o.status.success());
    if !found {
        assert!(std::env::var_os("CI").is_none(), "{test}: nft is missing in CI (cargo xtask setup installs nftables)");
        eprintln!("skipping {test}: nft (nftables) is not installed; `cargo xtask setup` installs it");
    }
    found
}

// ---------------------------------------------------------------------------------------
// The cases
// ---------------------------------------------------------------------------------------

/// The master's interface goes down (`ip link set eth0 down` on r1): r1 enters FAULT at once
/// (link notification), r2 takes over within Master_Down_Interval(90) of r1's last
/// advert, and the client follows it within the failover bound. Up again: r1 preempts back
/// (priority 100) within its Master_Down_Interval (+ one interval), r2 steps down within one
/// interval of that, and the hand-back loses at most one interval of probes. Then the steady
/// state. (failover.rs has the two-router version; this one adds the client, r3 and the
/// matrix's checks.)
#[test]
fn master_link_down_and_up_fails_over_and_preempts_back() {
    let name = "master_link_down_and_up_fails_over_and_preempts_back";
    if !require_root(name) {
        return;
    }
    link_fault(name, "fnlink", "admin down", |c| c.host(0).ns.ip(&["link", "set", "eth0", "down"]).map(|_| ()), |c| {
        c.host(0).ns.ip(&["link", "set", "eth0", "up"]).map(|_| ())
    });
}

/// The master loses carrier (its switch port goes down: the cable pulled, the switch port
/// dead; eth0 stays administratively up): the same outcome as an administrative down, since
/// the agent's link state is "up and with carrier" (keepalived's too): FAULT, r2 takes over,
/// and with carrier back r1 preempts.
#[test]
fn master_carrier_loss_fails_over_and_preempts_back() {
    let name = "master_carrier_loss_fails_over_and_preempts_back";
    if !require_root(name) {
        return;
    }
    link_fault(name, "fncarr", "carrier lost", |c| c.lan.isolate("r1"), |c| c.lan.reconnect("r1"));
}

/// The link fault cases: r1's link taken away by `down` and given back by `up`.
fn link_fault(name: &str, tag: &str, how: &str, down: impl Fn(&Cluster) -> anyhow::Result<()>, up: impl Fn(&Cluster) -> anyhow::Result<()>) {
    let _serial = serial();
    let (mut c, leaks) = elected(tag);
    let spec = c.spec.clone();
    let pinger = probe(&c);

    let down_us = wall_clock_us();
    down(&c).expect("taking r1's link away");
    let fault = wait_entered(&c, 0, "FAULT", down_us, Duration::from_secs(2), "r1 to enter FAULT");
    let takeover_bound = spec.master_down_interval(90) + SLACK;
    let takeover = wait_entered(&c, 1, "MASTER", down_us, takeover_bound + Duration::from_secs(2), "r2 to take over");
    let r2_mac = c.host(1).mac_string();
    wait_client_on(&c, &r2_mac, Duration::from_secs(2), "the client to follow r2");
    let down_outage = outage_after(&pinger, down_us, wall_clock_us());
    assert!(!has_addr(c.host(0), VIP), "{how}: no VIP on r1 in FAULT");

    let up_us = wall_clock_us();
    up(&c).expect("giving r1's link back");
    // veth has carrier as soon as both ends are up: the agent's timers start at once.
    let preempt_bound = spec.master_down_interval(100) + spec.interval() + SLACK;
    let preempt = wait_entered(&c, 0, "MASTER", up_us, preempt_bound + Duration::from_secs(2), "r1 to preempt back");
    let stepped = wait_entered(&c, 1, "BACKUP", up_us, preempt_bound + Duration::from_secs(2), "r2 to step down");
    let r1_mac = c.host(0).mac_string();
    wait_client_on(&c, &r1_mac, Duration::from_secs(2), "the client to follow r1 back");
    let up_outage = outage_after(&pinger, up_us, wall_clock_us());
    drop(pinger);

    eprintln!(
        "figures: {how}: FAULT after {:.1} ms, r2 MASTER after {:.1} ms (bound {:.1}), client outage {:.1} ms (bound {:.1}); \
         back: r1 MASTER after {:.1} ms (bound {:.1}), r2 BACKUP after {:.1} ms, client outage {:.1} ms",
        ms(fault), ms(takeover), ms(takeover_bound), ms(down_outage), ms(spec.failover_bound(90) + spec.probe_interval() + SLACK),
        ms(preempt), ms(preempt_bound), ms(stepped), ms(up_outage)
    );
    assert!(fault <= SLACK, "{how}: r1 entered FAULT {:.1} ms after, bound {:.1} ms (a link notification)", ms(fault), ms(SLACK));
    assert!(takeover <= takeover_bound, "{how}: r2 took over {:.1} ms after, bound {:.1} ms", ms(takeover), ms(takeover_bound));
    let outage_bound = spec.failover_bound(90) + spec.probe_interval() + SLACK;
    assert!(down_outage <= outage_bound, "{how}: client outage {:.1} ms, bound {:.1} ms", ms(down_outage), ms(outage_bound));
    assert!(preempt <= preempt_bound, "{how}: r1 preempted {:.1} ms after its link came back, bound {:.1} ms", ms(preempt), ms(preempt_bound));
    assert!(stepped <= preempt + spec.interval() + SLACK, "{how}: r2 stepped down {:.1} ms after r1 preempted", ms(stepped) - ms(preempt));
    // Make-before-break: r1 announces before r2 lets go; the client's entry moves with r1's GARP.
    let hand_back = spec.interval() + spec.probe_interval() + SLACK;
    assert!(up_outage <= hand_back, "{how}: client outage {:.1} ms at the hand-back, bound {:.1} ms", ms(up_outage), ms(hand_back));
    let r3 = no_lasting_master(&c, 2, down_us, how);
    if !r3.is_zero() {
        eprintln!("figures: {how}: r3 was MASTER for {:.1} ms (its timer raced r2's)", ms(r3));
    }
    steady_on_r1(&mut c, &format!("{how}: after the link came back"));
    finish(c, &leaks, name);
}

/// The master's interface is deleted and created again (same name, MAC and address, a new
/// ifindex): the VIP goes with the old interface and r2 takes over within
/// Master_Down_Interval(90); the agent learns of the new interface from the link
/// notification, sets the instance up again (XDP attached to the new ifindex) and, priority
/// 100, preempts back within [`RESETUP`] + its Master_Down_Interval + one interval. Then the
/// steady state: the VIP on r1 only, and r1's XDP program on the new interface answers ARP.
#[test]
fn master_interface_recreated_is_attached_again_and_takes_the_vip_back() {
    let name = "master_interface_recreated_is_attached_again_and_takes_the_vip_back";
    if !require_root(name) {
        return;
    }
    let _serial = serial();
    let (mut c, leaks) = elected("fnrecr");
    let spec = c.spec.clone();
    let pinger = probe(&c);
    // (`ip`, not /sys: the harness enters only the network namespace, /sys is the host's.)
    let ifindex = |c: &Cluster| c.host(0).ns.ip(&["-o", "link", "show", "eth0"]).expect("ip link").split(':').next().unwrap_or_default().trim().to_string();
    let old_index = ifindex(&c);

    let t_us = wall_clock_us();
    c.lan.recreate_link("r1").expect("re-create r1's eth0");
    assert_ne!(old_index, ifindex(&c), "eth0 has a new ifindex");
    let takeover_bound = spec.master_down_interval(90) + SLACK;
    let takeover = wait_entered(&c, 1, "MASTER", t_us, takeover_bound + Duration::from_secs(2), "r2 to take over");
    let preempt_bound = RESETUP + spec.master_down_interval(100) + spec.interval() + SLACK;
    let preempt = wait_entered(&c, 0, "MASTER", t_us, preempt_bound + Duration::from_secs(5), "r1 set up again and master");
    let r1_mac = c.host(0).mac_string();
    wait_client_on(&c, &r1_mac, Duration::from_secs(2), "the client to follow r1 back");
    let outage = outage_after(&pinger, t_us, wall_clock_us());
    drop(pinger);
    eprintln!(
        "figures: interface re-created: r2 MASTER after {:.1} ms (bound {:.1}), r1 MASTER again after {:.1} ms (bound {:.1}), client outage {:.1} ms",
        ms(takeover), ms(takeover_bound), ms(preempt), ms(preempt_bound), ms(outage)
    );
    assert!(c.daemon(0).is_some_and(|d| d.log_text().contains("was re-created")), "r1 saw the new ifindex:\n{}", c.log_tails(20));
    assert!(takeover <= takeover_bound, "r2 took over {:.1} ms after r1's eth0 was deleted, bound {:.1} ms", ms(takeover), ms(takeover_bound));
    assert!(preempt <= preempt_bound, "r1 master again {:.1} ms after its eth0 was re-created, bound {:.1} ms", ms(preempt), ms(preempt_bound));
    let outage_bound = spec.failover_bound(90) + spec.probe_interval() + SLACK;
    assert!(outage <= outage_bound, "client outage {:.1} ms, bound {:.1} ms", ms(outage), ms(outage_bound));
    let xdp = c.host(0).ns.ip(&["-d", "link", "show", "eth0"]).expect("ip link");
    assert!(xdp.contains("prog/xdp"), "XDP attached to the new eth0: {xdp}");
    let r3 = no_lasting_master(&c, 2, t_us, "interface re-created");
    if !r3.is_zero() {
        eprintln!("figures: interface re-created: r3 was MASTER for {:.1} ms (its timer raced r2's)", ms(r3));
    }
    steady_on_r1(&mut c, "after the interface was re-created");
    finish(c, &leaks, name);
}

/// A backup's interface is deleted and created again: the backup must come back as a backup.
/// Its sockets, map keys and XDP attachment belonged to the old ifindex; if it were set up
/// again deaf (adverts not reaching it on the new interface), its Master_Down_Interval would
/// run out and it would become a second master. It logs the re-creation, is BACKUP again
/// within [`RESETUP`], hears r1 (its status names r1 as master) and never enters MASTER; r1
/// sees nothing and the client's probes go on.
#[test]
fn backup_interface_recreated_comes_back_as_a_backup() {
    let name = "backup_interface_recreated_comes_back_as_a_backup";
    if !require_root(name) {
        return;
    }
    let _serial = serial();
    let (mut c, leaks) = elected("fnrecb");
    let spec = c.spec.clone();
    let pinger = probe(&c);
    let t_us = wall_clock_us();
    c.lan.recreate_link("r2").expect("re-create r2's eth0");
    let back = wait_for(RESETUP + Duration::from_secs(5), "r2 set up again (BACKUP after the re-creation)", || {
        let log = c.daemon(1)?.log_text();
        log.contains("was re-created").then_some(())?;
        entered(&c, 1, "BACKUP", t_us)
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", c.log_tails(20)));
    let back = Duration::from_micros((back - t_us).max(0) as u64);
    let r1 = c.routers[0].addr.to_string();
    // Heard again: r1's next advert comes within one interval of the set-up.
    wait_for(spec.interval() + SLACK + Duration::from_secs(1), "r2 to hear r1 on its new interface", || {
        let st = c.status(1)?;
        (st["instances"][0]["master"].as_str() == Some(r1.as_str()) && entered(&c, 1, "BACKUP", t_us).is_some()).then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}: {:?}\n{}", c.status(1), c.log_tails(20)));
    // A deaf backup would time out Master_Down_Interval(90) after its set-up: watch past that.
    holds_for(spec.master_down_interval(90) + spec.interval(), "r2 stays BACKUP", || {
        if entered_any(&c, 1, "MASTER", t_us) { Err(format!("{:#?}", changes_since(&c, t_us))) } else { Ok(()) }
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", c.log_tails(20)));
    let outage = outage_after(&pinger, t_us, wall_clock_us());
    drop(pinger);
    eprintln!("figures: backup interface re-created: r2 BACKUP again after {:.1} ms (bound {:.1}), client outage {:.1} ms", ms(back), ms(RESETUP), ms(outage));
    assert!(back <= RESETUP, "r2 set up again {:.1} ms after its eth0 was re-created, bound {:.1} ms", ms(back), ms(RESETUP));
    // r1 is not involved: at most a single probe may go missing while the bridge drops and
    // adds r2's port (a gap of two probe intervals), plus the machine's SLACK. An outage r1
    // caused would be a failover: Master_Down_Interval, hundreds of ms.
    let bound = spec.probe_interval() * 2 + SLACK;
    assert!(outage <= bound, "client outage {:.1} ms, bound {:.1} ms: r1 is not involved", ms(outage), ms(bound));
    let r1_changes: Vec<String> = changes_since(&c, t_us).into_iter().filter(|l| l.starts_with("r1 ")).collect();
    assert!(r1_changes.is_empty(), "r1 sees nothing: {r1_changes:#?}");
    let xdp = c.host(1).ns.ip(&["-d", "link", "show", "eth0"]).expect("ip link");
    assert!(xdp.contains("prog/xdp"), "XDP attached to r2's new eth0: {xdp}");
    steady_on_r1(&mut c, "after the backup's interface was re-created");
    finish(c, &leaks, name);
}

/// How long the agent may take to set an instance up again on a re-created interface, from
/// the link notification: attach the already loaded XDP program, open the sockets, re-key the
/// maps. Not a protocol time; a deadline for work that takes milliseconds.
const RESETUP: Duration = Duration::from_millis(500);

/// The master's MAC changes (`ip link set eth0 address`): no election (VRRP does not care),
/// but the agent sees the change in the link notification, re-announces the VIP with
/// gratuitous ARPs from the new MAC and has XDP answer ARP with it; the client's entry moves
/// without asking, within [`SLACK`] (event-driven, no protocol timer), and its probes are lost
/// for at most that long. Changed back, the same again; the steady state on each MAC.
#[test]
fn master_mac_change_is_followed_by_garps_and_xdp_replies() {
    let name = "master_mac_change_is_followed_by_garps_and_xdp_replies";
    if !require_root(name) {
        return;
    }
    let _serial = serial();
    let (mut c, leaks) = elected("fnmac");
    let spec = c.spec.clone();
    let old_mac = c.host(0).mac_string();
    let new_mac = "02:76:72:00:00:f1";
    for (from, to) in [(old_mac.as_str(), new_mac), (new_mac, old_mac.as_str())] {
        let what = format!("MAC {from} -> {to}");
        let pinger = probe(&c);
        let watch = GarpWatch::start(&c, &format!("fnmac{}", to.replace(':', "")));
        let t_us = wall_clock_us();
        let changed = Instant::now();
        c.host(0).ns.ip(&["link", "set", "eth0", "address", to]).expect("change r1's MAC");
        let moved = wait_client_on(&c, to, Duration::from_secs(2), &format!("{what}: the client's entry to follow")) - changed;
        let outage = outage_after(&pinger, t_us, wall_clock_us());
        drop(pinger);
        // The re-announcement went out at once: the whole burst is there by now or never.
        let garps = wait_for(Duration::from_secs(1), "the gratuitous ARPs from the new MAC", || {
            let g = watch.garps_from(to);
            (g >= GARP_BURST as usize).then_some(g)
        })
        .unwrap_or_else(|e| panic!("{what}: {e}; ARP seen by the client:\n{}\n{}", watch.text(), c.log_tails(10)));
        // (r1's delayed takeover burst may have gone out just before the change: only what
        // follows the first re-announcement counts.)
        let text = watch.text();
        let after = text.find(&format!(" {to} > ")).map(|i| &text[i..]).unwrap_or_default();
        let stale = after.lines().filter(|l| l.split_whitespace().nth(1) == Some(from) && l.contains(&format!("tell {VIP},"))).count();
        assert_eq!(stale, 0, "{what}: no gratuitous ARP from the old MAC after the change:\n{text}");
        eprintln!("figures: {what}: client entry moved after {:.1} ms, client outage {:.1} ms, {garps} gratuitous ARPs from the new MAC", ms(moved), ms(outage));
        assert!(moved <= SLACK, "{what}: the client's entry moved after {:.1} ms, bound {:.1} ms", ms(moved), ms(SLACK));
        let bound = SLACK + spec.probe_interval();
        assert!(outage <= bound, "{what}: client outage {:.1} ms, bound {:.1} ms", ms(outage), ms(bound));
        let flaps = changes_since(&c, t_us);
        assert!(flaps.is_empty(), "{what}: a MAC change is no election: {flaps:#?}");
        if to == old_mac {
            steady_on_r1(&mut c, &what);
        } else {
            steady_on_r1_with_mac(&mut c, to, &what);
        }
    }
    finish(c, &leaks, name);
}

/// The gratuitous ARPs of one re-announcement (keepalived's `garp_master_repeat`, default 5,
/// one VIP).
const GARP_BURST: u32 = 5;

/// An address nobody holds, in the test range: the client asks for it to see that its ARP
/// capture runs.
const MARKER: std::net::Ipv4Addr = std::net::Ipv4Addr::new(198, 18, 0, 251);

/// tcpdump on the client's eth0 printing every ARP frame with its link-layer header as it
/// comes (bounded by a packet count; killed and reaped on drop), for the gratuitous ARPs of a
/// MAC change. Ready once it has seen the client's own request for [`MARKER`]: a capture
/// tool's "listening"/"Capturing on" message can come before it really captures (seen here:
/// a tshark that had printed "Capturing on" missed a burst sent right after).
struct GarpWatch {
    child: std::process::Child,
    out: std::path::PathBuf,
}

impl GarpWatch {
    fn start(c: &Cluster, tag: &str) -> GarpWatch {
        let out = std::env::temp_dir().join(format!("{}-{tag}-arp.txt", c.lan.prefix));
        let child = c
            .client()
            .ns
            .cmd("tcpdump")
            .args(["-i", "eth0", "-n", "-e", "-l", "-c", "2000", "arp"])
            .stdin(std::process::Stdio::null())
            .stdout(std::fs::File::create(&out).expect("capture file"))
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("tcpdump");
        let w = GarpWatch { child, out };
        let marker = format!("who-has {MARKER} tell");
        wait_for(Duration::from_secs(5), "tcpdump on the client to see ARP", || {
            if w.text().contains(&marker) {
                return Some(());
            }
            // One request, a 0.2 s deadline (nobody answers).
            let _ = c.client().ns.cmd("arping").args(["-q", "-c", "1", "-w", "0.2", "-I", "eth0", &MARKER.to_string()]).output();
            None
        })
        .expect("ARP capture running");
        w
    }

    fn text(&self) -> String {
        std::fs::read_to_string(&self.out).unwrap_or_default()
    }

    /// Gratuitous ARPs for the VIP (requests, sender = target = VIP) sent from `mac`.
    fn garps_from(&self, mac: &str) -> usize {
        let garp = format!("Request who-has {VIP} (ff:ff:ff:ff:ff:ff) tell {VIP},");
        self.text().lines().filter(|l| l.split_whitespace().nth(1) == Some(mac) && l.contains(&garp)).count()
    }
}

impl Drop for GarpWatch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.out);
    }
}

/// VRRP between r1 and r2/r3 cut both ways on the switch (the client still reaches all):
/// r2 no longer hears r1 and takes over within Master_Down_Interval(90), r1 hears nobody and
/// stays master: two masters, both holding the VIP, which is VRRP's answer to a partition; the
/// client follows r2's gratuitous ARPs. Healed (the table deleted), exactly one master (r1)
/// remains within one advert interval (r1's next advert reaches r2, RFC 5798 §6.4.3: a master
/// hearing a higher priority steps down), the client ends on r1's MAC (r2 sends a last advert
/// as it steps down, r1 hears a lower priority and re-announces), and r2 answers no ARP.
#[test]
fn vrrp_cut_both_ways_makes_two_masters_and_the_heal_leaves_one() {
    let name = "vrrp_cut_both_ways_makes_two_masters_and_the_heal_leaves_one";
    if !require_root(name) || !require_nft(name) {
        return;
    }
    let _serial = serial();
    let (c, leaks) = elected("fncut2");
    cut_both_ways(name, c, leaks, 0, 1);
}

/// The same with equal priorities, r1 and r2 both 100: a backup accepts an equal priority
/// (RFC 5798 §6.4.2), so whichever of them was master first stays master. Cut from the others,
/// it stays master and the other takes over (Master_Down_Interval(100)); healed, two masters
/// of equal priority hear each other and the higher primary address wins (§6.4.3): r2, in
/// either order. One master within one interval, the client on r2's MAC, r1 answers no ARP.
#[test]
fn vrrp_cut_both_ways_with_equal_priorities_heals_to_the_higher_address() {
    let name = "vrrp_cut_both_ways_with_equal_priorities_heals_to_the_higher_address";
    if !require_root(name) || !require_nft(name) {
        return;
    }
    let _serial = serial();
    let (c, leaks, m) = elected_among("fncuteq", &[100, 100, 80], &[0, 1]);
    cut_both_ways(name, c, leaks, m, 1 - m);
}

/// The two-way cut: router `m`, the master, cut from the others; `w` takes over behind the
/// cut; after the heal the higher (priority, primary address) of the two is the one master.
fn cut_both_ways(name: &str, mut c: Cluster, leaks: Leaks, m: usize, w: usize) {
    let spec = c.spec.clone();
    let priorities = spec.priorities.clone();
    let pinger = probe(&c);
    let (rm, rw) = (c.routers[m].name.clone(), c.routers[w].name.clone());
    let (win, lose) = if (c.routers[m].priority, c.routers[m].addr) > (c.routers[w].priority, c.routers[w].addr) { (m, w) } else { (w, m) };
    let (rwin, rlose) = (c.routers[win].name.clone(), c.routers[lose].name.clone());
    let (w_mac, win_mac) = (c.host(w).mac_string(), c.host(win).mac_string());
    let rest: Vec<&str> = c.routers.iter().map(|r| r.name.as_str()).filter(|n| *n != rm).collect();
    let third = (0..c.routers.len()).find(|&i| i != m && i != w).expect("a third router");

    let cut_us = wall_clock_us();
    let mut cut = VrrpCut::new(&c.lan, &rm, &rest, true);
    let takeover_bound = spec.master_down_interval(c.routers[w].priority) + SLACK;
    let takeover = wait_entered(&c, w, "MASTER", cut_us, takeover_bound + Duration::from_secs(2), &format!("{rw} to take over behind the cut"));
    let both = Instant::now();
    wait_client_on(&c, &w_mac, Duration::from_secs(2), &format!("the client to follow {rw}'s gratuitous ARPs"));
    let mut two = vec![rm.clone(), rw.clone()];
    two.sort();
    wait_for(Duration::from_secs(2), "both masters to hold the VIP", || (c.holders() == two).then_some(()))
        .unwrap_or_else(|e| panic!("{e}: holders {:?}", c.holders()));
    if let Some(left) = CUT.checked_sub(both.elapsed()) {
        std::thread::sleep(left); // the scenario: how long the split lasts
    }
    let m_during = c.state_changes(m).into_iter().filter(|s| s.ts_us >= cut_us).count();
    let dropped = cut.dropped();

    let heal_us = wall_clock_us();
    let healed = Instant::now();
    cut.heal();
    drop(cut);
    let one_bound = spec.interval() + SLACK;
    let stepped = wait_entered(&c, lose, "BACKUP", heal_us, one_bound + Duration::from_secs(2), &format!("{rlose} to step down after the heal"));
    let lose_replies = arp_replies(&c, lose);
    let moved = wait_client_on(&c, &win_mac, one_bound + Duration::from_secs(2), &format!("the client to follow {rwin} after the heal")) - healed;
    let outage = outage_after(&pinger, heal_us, wall_clock_us());
    drop(pinger);
    eprintln!(
        "figures: cut both ways ({priorities:?}, {rm} master): {rw} MASTER after {:.1} ms (bound {:.1}), {dropped} adverts dropped by the cut; \
         heal: one master ({rwin}) after {:.1} ms (bound {:.1}), client on its MAC after <= {:.1} ms, client outage {:.1} ms",
        ms(takeover), ms(takeover_bound), ms(stepped), ms(one_bound), ms(moved), ms(outage)
    );
    assert!(dropped > 0, "the cut dropped VRRP");
    assert_eq!(m_during, 0, "{rm} stays MASTER through the cut: {:#?}", changes_since(&c, cut_us));
    assert!(takeover <= takeover_bound, "{rw} took over {:.1} ms after the cut, bound {:.1} ms", ms(takeover), ms(takeover_bound));
    assert!(stepped <= one_bound, "one master {:.1} ms after the heal, bound {:.1} ms", ms(stepped), ms(one_bound));
    let client_bound = one_bound + spec.probe_interval();
    assert!(moved <= client_bound, "the client on {rwin}'s MAC {:.1} ms after the heal, bound {:.1} ms", ms(moved), ms(client_bound));
    assert!(outage <= client_bound, "client outage {:.1} ms after the heal, bound {:.1} ms", ms(outage), ms(client_bound));
    let third_stay = no_lasting_master(&c, third, cut_us, "cut both ways");
    if !third_stay.is_zero() {
        eprintln!("figures: cut both ways: {} was MASTER for {:.1} ms (its timer raced {rw}'s)", c.routers[third].name, ms(third_stay));
    }
    steady_on(&mut c, win, "after the two-way cut healed");
    assert_eq!(arp_replies(&c, lose), lose_replies, "{rlose} answered no ARP after it stepped down");
    finish(c, &leaks, name);
}

/// VRRP cut one way: r1's adverts no longer reach r2/r3, r2's still reach r1. r2 takes over
/// within Master_Down_Interval(90); r1 hears r2's lower priority and, per RFC 5798 §6.4.3,
/// stays MASTER (answering each with an advert and, rate-limited, a re-announcement), so
/// both hold the VIP while the cut lasts and the client's entry goes to whichever announced
/// last: the protocol's behaviour (keepalived's too). What must hold: r1 never leaves MASTER,
/// r2 enters it once and r3 at most for a moment ([`no_lasting_master`]); after the heal exactly one master within one advert
/// interval, the client on r1's MAC, and no state change for [`QUIET_INTERVALS`] intervals.
#[test]
fn vrrp_cut_one_way_heals_to_one_master_without_flapping() {
    let name = "vrrp_cut_one_way_heals_to_one_master_without_flapping";
    if !require_root(name) || !require_nft(name) {
        return;
    }
    let _serial = serial();
    let (mut c, leaks) = elected("fncut1");
    let spec = c.spec.clone();
    let pinger = probe(&c);
    let r1_mac = c.host(0).mac_string();

    let cut_us = wall_clock_us();
    let mut cut = VrrpCut::new(&c.lan, "r1", &["r2", "r3"], false);
    let takeover_bound = spec.master_down_interval(90) + SLACK;
    let takeover = wait_entered(&c, 1, "MASTER", cut_us, takeover_bound + Duration::from_secs(2), "r2 to take over behind the one-way cut");
    let both = Instant::now();
    wait_for(Duration::from_secs(2), "both r1 and r2 to hold the VIP", || (c.holders() == ["r1", "r2"]).then_some(()))
        .unwrap_or_else(|e| panic!("{e}: holders {:?}", c.holders()));
    if let Some(left) = CUT.checked_sub(both.elapsed()) {
        std::thread::sleep(left); // the scenario: how long the one-way cut lasts
    }
    let during = changes_since(&c, cut_us);
    let cut_outage = Duration::from_micros(el::outage_over_lost_us(&pinger.replies_so_far(), cut_us, wall_clock_us(), true).unwrap_or(0).max(0) as u64);
    let dropped = cut.dropped();

    let heal_us = wall_clock_us();
    cut.heal();
    drop(cut);
    let one_bound = spec.interval() + SLACK;
    let stepped = wait_entered(&c, 1, "BACKUP", heal_us, one_bound + Duration::from_secs(2), "r2 to step down after the heal");
    wait_client_on(&c, &r1_mac, one_bound + Duration::from_secs(2), "the client on r1 after the heal");
    let outage = outage_after(&pinger, heal_us, wall_clock_us());
    drop(pinger);
    eprintln!(
        "figures: one-way cut: r2 MASTER after {:.1} ms (bound {:.1}), client outage during the cut {:.1} ms, {dropped} adverts dropped; \
         heal: one master after {:.1} ms (bound {:.1}), client outage {:.1} ms",
        ms(takeover), ms(takeover_bound), ms(cut_outage), ms(stepped), ms(one_bound), ms(outage)
    );
    assert!(dropped > 0, "the cut dropped VRRP");
    assert!(takeover <= takeover_bound, "r2 took over {:.1} ms after the cut, bound {:.1} ms", ms(takeover), ms(takeover_bound));
    let r2_entries = during.iter().filter(|l| l.starts_with("r2 MASTER")).count();
    assert_eq!(r2_entries, instances(&c).len(), "r2 entered MASTER once per instance, no flapping during the cut: {during:#?}");
    assert!(during.iter().all(|l| !l.starts_with("r1 ")), "r1 stays MASTER: {during:#?}");
    let r3 = no_lasting_master(&c, 2, cut_us, "one-way cut");
    if !r3.is_zero() {
        eprintln!("figures: one-way cut: r3 was MASTER for {:.1} ms (its timer raced r2's)", ms(r3));
    }
    assert!(stepped <= one_bound, "one master {:.1} ms after the heal, bound {:.1} ms", ms(stepped), ms(one_bound));
    let client_bound = one_bound + spec.probe_interval();
    assert!(outage <= client_bound, "client outage {:.1} ms after the heal, bound {:.1} ms", ms(outage), ms(client_bound));
    steady_on_r1(&mut c, "after the one-way cut healed");
    finish(c, &leaks, name);
}

/// The EUI-64 link-local address the kernel gives an interface with `mac`.
fn eui64_link_local(mac: &[u8; 6]) -> std::net::Ipv6Addr {
    let m = mac;
    std::net::Ipv6Addr::new(
        0xfe80,
        0,
        0,
        0,
        u16::from_be_bytes([m[0] ^ 0x02, m[1]]),
        u16::from_be_bytes([m[2], 0xff]),
        u16::from_be_bytes([0xfe, m[3]]),
        u16::from_be_bytes([m[4], m[5]]),
    )
}

/// Router `i`'s first change of instance `inst` to `state` at or after `since_us`, as time
/// after `since_us`.
fn entered_inst(c: &Cluster, i: usize, inst: &str, state: &str, since_us: i64) -> Option<Duration> {
    c.state_changes(i)
        .into_iter()
        .find(|s| s.instance == inst && s.state == state && s.ts_us >= since_us)
        .map(|s| Duration::from_micros((s.ts_us - since_us).max(0) as u64))
}

/// The master's own IPv6 link-local address (the source of its IPv6 adverts) is removed (an
/// operator, a DAD failure) and added back. The kernel says so in an address notification,
/// not a link one: the agent must see both at once (within [`SLACK`]), not at its 5 s link
/// poll. Removed: the IPv6 instance waits in FAULT for a usable link-local address (never the
/// link-local VIP) and r2 takes the IPv6 VIPs over within Master_Down_Interval(90); the IPv4
/// instance is untouched. Back: the IPv6 instance is set up again and preempts within its
/// Master_Down_Interval + one interval. (The same notification covers the link-local address
/// coming back after a link down/up, when it can arrive after the link's own notification:
/// that race left the IPv6 instance in FAULT for up to the poll's 5 s.)
#[test]
fn master_link_local_removed_and_added_back_is_seen_at_once() {
    let name = "master_link_local_removed_and_added_back_is_seen_at_once";
    if !require_root(name) {
        return;
    }
    let _serial = serial();
    let (mut c, leaks) = elected("fnll");
    let spec = c.spec.clone();
    let ll = eui64_link_local(&c.host(0).mac);
    let lls = format!("{ll}/64");

    let del_us = wall_clock_us();
    c.host(0).ns.ip(&["-6", "addr", "del", &lls, "dev", "eth0"]).expect("removing r1's link-local address");
    let fault = wait_for(Duration::from_secs(6), "r1's IPv6 instance to enter FAULT", || entered_inst(&c, 0, "VI_2", "FAULT", del_us))
        .unwrap_or_else(|e| panic!("{e}\n{}", c.log_tails(20)));
    let takeover_bound = spec.master_down_interval(90) + SLACK;
    let takeover = wait_for(takeover_bound + Duration::from_secs(6), "r2 to take the IPv6 instance over", || entered_inst(&c, 1, "VI_2", "MASTER", del_us))
        .unwrap_or_else(|e| panic!("{e}\n{}", c.log_tails(20)));

    let add_us = wall_clock_us();
    c.host(0).ns.ip(&["-6", "addr", "add", &lls, "dev", "eth0", "nodad"]).expect("adding r1's link-local address back");
    let back = wait_for(Duration::from_secs(6), "r1's IPv6 instance set up again", || entered_inst(&c, 0, "VI_2", "BACKUP", add_us))
        .unwrap_or_else(|e| panic!("{e}\n{}", c.log_tails(20)));
    let preempt_bound = SLACK + spec.master_down_interval(100) + spec.interval();
    let preempt = wait_for(preempt_bound + Duration::from_secs(6), "r1 master of the IPv6 instance again", || entered_inst(&c, 0, "VI_2", "MASTER", add_us))
        .unwrap_or_else(|e| panic!("{e}\n{}", c.log_tails(20)));
    eprintln!(
        "figures: link-local removed: r1 VI_2 FAULT after {:.1} ms (bound {:.1}), r2 VI_2 MASTER after {:.1} ms (bound {:.1}); \
         added back: r1 VI_2 BACKUP after {:.1} ms (bound {:.1}), MASTER after {:.1} ms (bound {:.1})",
        ms(fault), ms(SLACK), ms(takeover), ms(SLACK + takeover_bound), ms(back), ms(SLACK), ms(preempt), ms(preempt_bound)
    );
    assert!(fault <= SLACK, "r1's IPv6 instance saw its advert source go after {:.1} ms, bound {:.1} ms (an address notification)", ms(fault), ms(SLACK));
    assert!(takeover <= SLACK + takeover_bound, "r2 took VI_2 over {:.1} ms after, bound {:.1} ms", ms(takeover), ms(SLACK + takeover_bound));
    assert!(back <= SLACK, "r1's IPv6 instance saw its advert source come back after {:.1} ms, bound {:.1} ms", ms(back), ms(SLACK));
    assert!(preempt <= preempt_bound, "r1 master of VI_2 again {:.1} ms after, bound {:.1} ms", ms(preempt), ms(preempt_bound));
    let v4: Vec<String> = changes_since(&c, del_us).into_iter().filter(|l| l.contains(" VI_1 ")).collect();
    assert!(v4.is_empty(), "the IPv4 instance is untouched: {v4:#?}");
    steady_on_r1(&mut c, "after the link-local address came back");
    finish(c, &leaks, name);
}
