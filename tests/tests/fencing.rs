//! The fenced datapath and hitless restarts, with real agents in namespaces (issue 8).
//!
//! The agent renews a lease (`AGENT_LEASE`) from its event loop; the XDP link is pinned so the
//! program outlives the agent; once the lease is older than `lease_fence_after_us` (2 × the
//! shortest advert interval: a stopped master's last renewal is at most one interval after its
//! last advert, and the earliest backup takes over more than 3 intervals after it) XDP drops
//! ARP requests for the VIPs instead of answering, and the kernel never sees them.
//!
//! Timing bounds are protocol-derived plus a stated slack (`SLACK`: process scheduling on a
//! shared 2-core VM, 10 ms polling, netlink latency).
use std::{
    net::{Ipv4Addr, Ipv6Addr},
    path::Path,
    time::{Duration, Instant},
};

use vrrp_common::{AgentLease, names, timers};
use vrrp_tests::{
    Agent, Host, attach_foreign_xdp, agent_binary, election::{self, Cluster, ClusterSpec, VIP, router_config}, faults,
    has_addr, has_addr6, holds_for, ping6_once, require_root, spawn_agent, spawn_agent_on_pins, start_ping_every, usable_link_local,
    wait_for, xdp_prog_id,
};

const SLACK: Duration = Duration::from_millis(500);

fn spec(advert_int_cs: u16) -> ClusterSpec {
    ClusterSpec { version: 3, advert_int_cs, priorities: vec![150, 100], agent_args: Vec::new() }
}

/// The lease pinned in `bpffs` (written by an agent that may be stopped or dead).
fn pinned_lease(bpffs: &Path) -> Option<AgentLease> {
    let map = vrrp_agent::dataplane::open_pinned(bpffs, names::AGENT_LEASE).ok()?;
    let arr = aya::maps::Array::<_, AgentLease>::try_from(map).ok()?;
    arr.get(&0, 0).ok()
}

fn lease_age(bpffs: &Path) -> Option<Duration> {
    let l = pinned_lease(bpffs)?;
    Some(Duration::from_nanos(vrrp_agent::clock::now_ns().saturating_sub(l.renewed_ns)))
}

/// SIGCONT before the agent is dropped (killed), even when the test fails.
struct Continue<'a>(&'a mut Agent);
impl Drop for Continue<'_> {
    fn drop(&mut self) {
        self.0.signal(libc::SIGCONT);
    }
}

fn master_entries(log: &str) -> usize {
    election::parse_state_changes(log).iter().filter(|c| c.state == "MASTER").count()
}

fn start(tag: &str, advert_int_cs: u16) -> Option<Cluster> {
    if !require_root(tag) {
        return None;
    }
    let bin = agent_binary().expect("agent binary (cargo build --release -p vrrp-agent)");
    let mut c = Cluster::start(tag, &bin, spec(advert_int_cs)).expect("cluster");
    c.wait_settled(0, election::STARTUP + spec(advert_int_cs).master_down_interval(100) + SLACK).expect("r1 elected");
    Some(c)
}

/// 1. A SIGSTOPped master is fenced by the time the backup takes over: from the client, only
///    the new master's MAC answers ARP for the VIP although the stopped host still has it on
///    its interface. After SIGCONT it renews, and the election settles with one master.
#[test]
fn stopped_master_stops_answering_arp_before_the_backup_takes_over() {
    let Some(mut c) = start("fence-stop", 10) else { return };
    let r1_mac = c.host(0).mac_string();
    let r2_mac = c.host(1).mac_string();
    assert_eq!(faults::arp_answerers(c.client(), VIP, 5).expect("arping"), vec![r1_mac.clone()], "before: r1 answers");
    let bpffs = c.agents[0].as_ref().expect("r1").bpffs.clone();
    let mut r1 = c.agents[0].take().expect("r1");
    {
        let guard = Continue(&mut r1);
        guard.0.signal(libc::SIGSTOP);
        let stopped = Instant::now();
        // The backup takes over within its Master_Down_Interval (+ slack).
        let bound = spec(10).master_down_interval(100) + SLACK;
        wait_for(bound, "r2 to become MASTER", || (c.state(1).as_deref() == Some("MASTER")).then_some(())).expect("takeover");
        let takeover = stopped.elapsed();
        // The fence is up (the lease is older than its bound) by the time r2 took over.
        let lease = pinned_lease(&bpffs).expect("pinned lease");
        let age = lease_age(&bpffs).expect("lease age");
        assert!(age > Duration::from_nanos(lease.fence_after_ns), "lease {age:?} old, bound {} ns", lease.fence_after_ns);
        assert_eq!(lease.fence_after_ns, timers::lease_fence_after_us(timers::cs_to_us(10)) * 1000);
        // The stopped host still has the VIP: only the fence keeps its kernel from answering.
        assert!(has_addr(c.host(0), VIP), "the stopped r1 keeps the VIP on eth0");
        assert_eq!(faults::arp_answerers(c.client(), VIP, 10).expect("arping"), vec![r2_mac.clone()], "exactly one MAC answers: the new master's");
        let fenced = vrrp_tests::election::agent_status(&c.bin, &bpffs).and_then(|s| s["counters"]["arp_fenced"].as_u64()).unwrap_or(0);
        assert!(fenced > 0, "r1's XDP counted the requests it dropped (arp_fenced {fenced})");
        eprintln!("fence: r2 MASTER {:.0} ms after SIGSTOP; r1's lease {:.0} ms old (bound {:.0} ms); arp_fenced {fenced}",
            takeover.as_secs_f64() * 1e3, age.as_secs_f64() * 1e3, lease.fence_after_ns as f64 / 1e6);
    }
    // SIGCONT (by the guard): r1 renews, answers again, and as the higher priority (preempt)
    // it is the only master again.
    c.agents[0] = Some(r1);
    c.wait_settled(0, spec(10).master_down_interval(100) * 3 + SLACK).expect("one master after SIGCONT");
    assert_eq!(faults::arp_answerers(c.client(), VIP, 5).expect("arping"), vec![r1_mac], "after: r1 answers alone");
    // While it was stopped, r2's adverts (lower priority) queued up for r1, received one
    // interval apart. r1 answers the backlog with at most one re-assertion per advert interval
    // of its own clock: two may fall in one window (log time vs decision time), never a burst.
    let r1 = c.agents[0].as_ref().expect("r1");
    let log = r1.log_text();
    let reasserts = reassert_times_us(&log);
    let interval_us = timers::cs_to_us(10) as i64;
    let worst = reasserts.iter().map(|&t| reasserts.iter().filter(|&&u| u >= t && u < t + interval_us).count()).max().unwrap_or(0);
    eprintln!("fence: r1 re-asserted {} times after SIGCONT, at most {worst} within one advert interval", reasserts.len());
    assert!(!reasserts.is_empty(), "r1 answered the other master's adverts (log:\n{})", r1.log_tail(30));
    assert!(worst <= 2, "a burst of {worst} re-assertions within one {interval_us} us advert interval: {reasserts:?}");
}

/// When the agent logged each re-assertion against a lower-priority advert (microseconds).
fn reassert_times_us(log: &str) -> Vec<i64> {
    log.lines()
        .filter(|l| l.contains("re-asserting mastership"))
        .filter_map(|l| election::parse_log_timestamp_us(l.split_whitespace().next()?))
        .collect()
}

/// Restarts the master `r1` of `c` on its pins with the same command line, after `wait`
/// (called with r1's pins) returns; returns the new agent.
fn restart_r1(c: &mut Cluster, mut old: Agent, wait: impl FnOnce(&Path)) -> Agent {
    let bpffs = old.bpffs.clone();
    old.leave_pins();
    let _ = old.wait_exit(Duration::from_secs(5));
    c.old_logs[0].push(old.log_text());
    drop(old);
    wait(&bpffs);
    let cfg = router_config(c.spec.version, c.spec.advert_int_cs, c.routers[0].priority, VIP);
    spawn_agent_on_pins(&c.bin, c.host(0), &cfg, &bpffs, &[]).expect("restart r1")
}

/// A restart within the lease, after `stop` ended the old agent: no router enters MASTER,
/// the new agent resumes as MASTER, a client probing every 10 ms loses nothing.
fn restart_is_hitless(tag: &str, stop: impl FnOnce(&mut Agent)) {
    // 1 s adverts: the lease bound is 2 s; a restart (load and verify the program, netlink)
    // takes a few hundred ms here. At 100 ms (200 ms bound) it does not fit reliably.
    let Some(mut c) = start(tag, 100) else { return };
    let r2_masters = master_entries(&c.agents[1].as_ref().expect("r2").log_text());
    let pinger = start_ping_every(c.client(), VIP, Duration::from_millis(10), 20).expect("ping");
    wait_for(Duration::from_secs(2), "the first replies", || (!pinger.replies_so_far().is_empty()).then_some(())).expect("ping");
    // Counted by r1's XDP program: kept across the restart (the maps are reused).
    assert_eq!(faults::arp_answerers(c.client(), VIP, 5).expect("arping").len(), 1);
    let counter = |c: &Cluster| c.status(0).and_then(|s| s["counters"]["arp_requests"].as_u64()).unwrap_or(0);
    let arp_before = counter(&c);
    assert!(arp_before >= 5, "r1 counted the client's ARP requests ({arp_before})");
    let mut old = c.agents[0].take().expect("r1");
    let old_pid = old.pid;
    let old_prog = xdp_prog_id_of(&old);
    let t0 = Instant::now();
    stop(&mut old);
    let new = restart_r1(&mut c, old, |_| {});
    c.agents[0] = Some(new);
    let resumed = format!("resumed as MASTER (adopted from pid {old_pid})");
    wait_for(Duration::from_secs(2), "r1 to resume as MASTER", || {
        c.agents[0].as_ref().expect("r1").log_text().contains(&resumed).then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", c.log_tails(30)));
    let restart = t0.elapsed();
    let new_prog = xdp_prog_id_of(c.agents[0].as_ref().expect("r1"));
    assert!(new_prog.is_some() && new_prog != old_prog, "the new program replaced the old one in the pinned link ({old_prog:?} -> {new_prog:?})");
    assert!(counter(&c) >= arp_before, "counters survive the adoption ({} < {arp_before})", counter(&c));
    // Three Master_Down_Intervals: the backup would have taken over in the first.
    let window = spec(100).master_down_interval(100) * 3;
    c.holds_only_master(0, window).unwrap_or_else(|e| panic!("{e:#}"));
    let (replies, sent) = pinger.stop_counted().expect("ping");
    let lost = sent.unwrap_or(0).saturating_sub(replies.iter().filter(|r| !r.dup).count() as u32);
    let new_log = c.agents[0].as_ref().expect("r1").log_text();
    eprintln!("{tag}: restarted and resumed {:.0} ms after the stop; {} probes, {lost} lost", restart.as_secs_f64() * 1e3, sent.unwrap_or(0));
    assert_eq!(master_entries(&new_log), 0, "the restarted r1 logs no MASTER transition:\n{new_log}");
    assert_eq!(master_entries(&c.agents[1].as_ref().expect("r2").log_text()), r2_masters, "r2 never entered MASTER");
    assert_eq!(lost, 0, "no probe lost ({} sent, {} answered)", sent.unwrap_or(0), replies.len());
    assert!(replies.len() > 100, "the client probed throughout ({} replies)", replies.len());
}

/// 2. SIGKILL the master and restart it within the lease: hitless.
#[test]
fn sigkill_and_restart_within_the_lease_is_hitless() {
    restart_is_hitless("fence-kill", |a| a.signal(libc::SIGKILL));
}

/// 4. SIGQUIT: exit status 75, VIPs, pins and the XDP link left in place; a new agent adopts
///    them without a transition or a lost probe.
#[test]
fn sigquit_leaves_the_datapath_and_a_new_agent_adopts_it() {
    restart_is_hitless("fence-quit", |a| {
        let prog = xdp_prog_id_of(a);
        assert!(prog.is_some(), "XDP runs on eth0 before SIGQUIT");
        a.signal(libc::SIGQUIT);
        let st = a.wait_exit(Duration::from_secs(2)).expect("exit after SIGQUIT");
        assert_eq!(st.code(), Some(75), "SIGQUIT exits 75:\n{}", a.log_tail(10));
        for name in [names::AGENT_LEASE, names::OWNED_VIPS] {
            assert!(a.bpffs.join(name).exists(), "{name} still pinned");
        }
        assert!(a.bpffs.join(format!("{}eth0", names::XDP_LINK_PREFIX)).exists(), "the XDP link still pinned");
        assert_eq!(xdp_prog_id_of(a), prog, "the same XDP program still runs on eth0");
        assert!(a.log_text().contains("SIGQUIT: leaving the datapath"), "{}", a.log_tail(5));
    });
}

fn xdp_prog_id_of(a: &Agent) -> Option<u32> {
    let out = std::process::Command::new("ip").args(["-n", &a.ns_name, "-d", "link", "show", "dev", "eth0"]).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let at = text.find("prog/xdp id ")?;
    text[at + "prog/xdp id ".len()..].split_whitespace().next()?.parse().ok()
}

/// 3. SIGKILL, and a restart only after the lease is stale: the backup took over; the
///    restarted agent starts clean (the VIP the killed agent left is removed) and, with a
///    lower priority now, stays BACKUP: never two masters.
#[test]
fn restart_after_the_lease_starts_clean() {
    let Some(mut c) = start("fence-late", 10) else { return };
    let mut old = c.agents[0].take().expect("r1");
    old.signal(libc::SIGKILL);
    let bpffs = old.bpffs.clone();
    let bound = spec(10).master_down_interval(100) + SLACK;
    wait_for(bound, "r2 to become MASTER", || (c.state(1).as_deref() == Some("MASTER")).then_some(())).expect("takeover");
    // The killed agent left the VIP on r1's eth0 (as keepalived does); the fence hides it.
    assert!(has_addr(c.host(0), VIP), "the killed agent left the VIP");
    let fence = Duration::from_nanos(pinned_lease(&bpffs).expect("lease").fence_after_ns);
    wait_for(fence + SLACK, "r1's lease to be stale", || lease_age(&bpffs).filter(|a| *a > fence)).expect("stale");
    old.leave_pins();
    let _ = old.wait_exit(Duration::from_secs(5));
    drop(old);
    // Restart with a lower priority than r2: it must become BACKUP and remove the VIP.
    let cfg = router_config(3, 10, 50, VIP);
    c.routers[0].priority = 50;
    let new = spawn_agent_on_pins(&c.bin, c.host(0), &cfg, &bpffs, &[]).expect("restart");
    c.agents[0] = Some(new);
    wait_for(election::STARTUP, "r1 to start clean", || {
        c.agents[0].as_ref().expect("r1").log_text().contains("starting clean: the earlier agent's lease is stale").then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", c.log_tails(30)));
    c.wait_settled(1, election::STARTUP + SLACK).expect("r2 the only master, r1 BACKUP without the VIP");
    holds_for(spec(10).master_down_interval(50) * 2, "r2 the only holder", || {
        if c.holders() != ["r2"] { Err(format!("holders {:?}", c.holders())) } else { Ok(()) }
    })
    .expect("one master");
    let r1 = c.agents[0].as_ref().expect("r1");
    let log = r1.log_text();
    assert_eq!(master_entries(&log), 0, "r1 never MASTER after the restart:\n{log}");
}

/// 5. Another tool's XDP program on the interface: refused with a clear error; replaced with
///    --force-xdp.
#[test]
fn foreign_xdp_program_is_refused_unless_forced() {
    if !require_root("fence-foreign") {
        return;
    }
    let bin = agent_binary().expect("agent binary");
    let lan = vrrp_tests::lan("fence-foreign", &[("r1", Ipv4Addr::new(198, 18, 0, 1))]).expect("lan");
    let host = lan.host("r1");
    attach_foreign_xdp(host).expect("foreign XDP");
    let foreign = xdp_prog_id(host).expect("the foreign program's id");
    let cfg = router_config(3, 10, 100, VIP);
    let mut refused = spawn_agent(&bin, host, &cfg, &[]).expect("spawn");
    let st = refused.wait_exit(election::STARTUP).expect("the agent exits");
    let log = refused.log_text();
    assert!(!st.success(), "{log}");
    assert!(
        log.contains(&format!("eth0 already runs XDP program id {foreign}, which is not this agent's")) && log.contains("--force-xdp"),
        "a clear error:\n{log}"
    );
    assert_eq!(xdp_prog_id(host), Some(foreign), "the foreign program is left alone");
    drop(refused);
    let forced = spawn_agent(&bin, host, &cfg, &["--force-xdp"]).expect("spawn");
    wait_for(election::STARTUP + SLACK, "the forced agent to be MASTER", || has_addr(host, VIP).then_some(()))
        .unwrap_or_else(|e| panic!("{e}\n{}", forced.log_tail(20)));
    let now = xdp_prog_id(host);
    assert!(now.is_some() && now != Some(foreign), "our program replaced it ({now:?} vs {foreign})");
    assert!(forced.log_text().contains(&format!("--force-xdp: detaching XDP program id {foreign}")), "{}", forced.log_tail(20));

    // A second agent on the same pins while the first runs: refused, the first undisturbed.
    let mut forced = forced;
    let mut second = spawn_agent_on_pins(&bin, host, &cfg, &forced.bpffs, &[]).expect("spawn");
    // The pins are the first agent's: dropping the second must not remove them.
    second.leave_pins();
    let st = second.wait_exit(election::STARTUP).expect("the second agent exits");
    assert!(!st.success() && second.log_text().contains(&format!("another vrrp-agent (pid {}) runs on the pins", forced.pid)), "{}", second.log_tail(10));
    drop(second);
    assert!(forced.is_running() && has_addr(host, VIP), "the first agent is undisturbed");

    // SIGTERM still cleans up everything, the pinned XDP link included.
    forced.terminate();
    let st = forced.wait_exit(election::STARTUP).expect("exit after SIGTERM");
    assert!(st.success(), "{}", forced.log_tail(10));
    assert_eq!(xdp_prog_id(host), None, "XDP detached");
    assert!(!forced.bpffs.join(names::AGENT_LEASE).exists() && !forced.bpffs.join(format!("{}eth0", names::XDP_LINK_PREFIX)).exists(), "pins removed");
    assert!(!has_addr(host, VIP), "VIP removed");
}

// The BPF_PROG_TEST_RUN fence tests below: XDP actions, the ingress device (BPF_PROG_TEST_RUN
// needs a real one; lo exists in every namespace) and the two MACs on the wire.
const XDP_DROP: u32 = 1;
const XDP_PASS: u32 = 2;
const XDP_TX: u32 = 3;
const IFINDEX: u32 = 1;
const OUR_MAC: [u8; 6] = [0x02, 0x00, 0x5e, 0x10, 0x00, 0x01];
const PEER_MAC: [u8; 6] = [0x02, 0x00, 0x5e, 0x10, 0x00, 0x02];

/// The fence itself, on the real XDP object with BPF_PROG_TEST_RUN: an ARP request for an
/// owned VIP is answered while the lease is fresh (or was never taken), dropped and counted
/// under `arp_fenced` once it is older than its bound, answered again after a renewal;
/// a configured VIP not owned (being added or removed) is fenced too; other addresses pass.
#[test]
fn xdp_answers_only_while_the_lease_is_fresh() {
    use vrrp_agent::{dataplane::{Dataplane, KernelLogLevel}, wire::arp};
    use vrrp_common::{VipKey, VipValue};
    const CLIENT: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 10);
    if !require_root("xdp_answers_only_while_the_lease_is_fresh") {
        return;
    }
    let mut dp = Dataplane::load_unpinned(KernelLogLevel::Off).expect("the XDP object loads");
    dp.own_vip(VipKey { ifindex: IFINDEX, addr_v4: VIP.octets() }, VipValue::new(OUR_MAC, 51)).expect("vip");
    let request = arp::request_frame(PEER_MAC, CLIENT, VIP);
    let other = arp::request_frame(PEER_MAC, CLIENT, Ipv4Addr::new(198, 18, 0, 101));
    // Configured, not owned (as while the agent adds or removes it).
    let configured_vip = Ipv4Addr::new(198, 18, 0, 102);
    dp.fence_vip(VipKey { ifindex: IFINDEX, addr_v4: configured_vip.octets() }, VipValue::new(OUR_MAC, 51)).expect("fence");
    let configured = arp::request_frame(PEER_MAC, CLIENT, configured_vip);
    let fenced = |dp: &Dataplane| dp.global_stats().expect("stats").arp_fenced;

    assert_eq!(dp.test_run(&request, IFINDEX).expect("run").0, XDP_TX, "no lease taken yet: not fenced");
    let bound = timers::lease_fence_after_us(timers::cs_to_us(10)) * 1000;
    dp.set_fence_after(bound);
    let now = vrrp_agent::clock::now_ns();
    dp.renew_lease(now).expect("renew");
    assert_eq!(dp.test_run(&request, IFINDEX).expect("run").0, XDP_TX, "fresh");
    assert_eq!(dp.test_run(&configured, IFINDEX).expect("run").0, XDP_PASS, "fresh, not owned: the kernel decides");

    // Renewed longer ago than the bound: fenced.
    dp.renew_lease(now - bound - 1_000_000).expect("renew");
    let (action, out) = dp.test_run(&request, IFINDEX).expect("run");
    assert_eq!(action, XDP_DROP, "stale: dropped, so the kernel cannot answer either");
    assert_eq!(out, request, "untouched");
    assert_eq!(fenced(&dp), 1);
    assert_eq!(dp.test_run(&other, IFINDEX).expect("run").0, XDP_PASS, "not ours: passed");
    assert_eq!(fenced(&dp), 1);
    assert_eq!(dp.test_run(&configured, IFINDEX).expect("run").0, XDP_DROP, "configured, not owned: fenced too");
    assert_eq!(fenced(&dp), 2);

    // Renewed: answered again.
    dp.renew_lease(vrrp_agent::clock::now_ns()).expect("renew");
    assert_eq!(dp.test_run(&request, IFINDEX).expect("run").0, XDP_TX, "renewed");
    assert_eq!(dp.global_stats().expect("stats").arp_replies, 3);
    let lease = dp.lease().expect("lease");
    assert_eq!((lease.fence_after_ns, lease.pid), (bound, std::process::id()));
}

/// The IPv6 fence tests' addresses (the client is CLIENT6): an owned VIP, a configured VIP not
/// owned, and another address.
const OWNED: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x100);
const CONFIGURED: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x102);
const OTHER: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x101);

/// The XDP object loaded unpinned with OWNED set up as the agent sets a VIP up (registered with
/// the fence, then owned once it is added) and CONFIGURED registered with the fence only; no
/// lease taken yet. None (the reason printed) when not root.
fn v6_fence_fixture(test: &str) -> Option<vrrp_agent::dataplane::Dataplane> {
    use vrrp_agent::dataplane::{Dataplane, KernelLogLevel};
    use vrrp_common::{VipKeyV6, VipValue};
    if !require_root(test) {
        return None;
    }
    let mut dp = Dataplane::load_unpinned(KernelLogLevel::Off).expect("the XDP object loads");
    let value = VipValue::new(OUR_MAC, 61);
    dp.fence_vip_v6(VipKeyV6 { ifindex: IFINDEX, addr_v6: OWNED.octets() }, value).expect("fence");
    dp.own_vip_v6(VipKeyV6 { ifindex: IFINDEX, addr_v6: OWNED.octets() }, value).expect("own");
    dp.fence_ip(IFINDEX, CONFIGURED.into(), value).expect("fence");
    Some(dp)
}

/// A neighbour solicitation (RFC 4861 §4.3) from `src` for `target`, to its solicited-node
/// group, with the source link-layer address option and a correct checksum.
fn solicitation(src_mac: [u8; 6], src: Ipv6Addr, target: Ipv6Addr) -> Vec<u8> {
    use vrrp_agent::wire::{checksum, ethernet, ipv6_decode};
    let dst = ipv6_decode::solicited_node(target);
    let mut icmp = vec![135, 0, 0, 0, 0, 0, 0, 0];
    icmp.extend_from_slice(&target.octets());
    icmp.extend_from_slice(&[1, 1]);
    icmp.extend_from_slice(&src_mac);
    let sum = checksum::fold(checksum::ones_complement_sum(&icmp, checksum::pseudo_header_v6(src, dst, 58, icmp.len() as u32)));
    icmp[2..4].copy_from_slice(&sum.to_be_bytes());
    let mut f = ethernet::ipv6_multicast_mac(dst).to_vec();
    f.extend_from_slice(&src_mac);
    f.extend_from_slice(&[0x86, 0xdd, 0x60, 0, 0, 0]);
    f.extend_from_slice(&(icmp.len() as u16).to_be_bytes());
    f.extend_from_slice(&[58, 255]);
    f.extend_from_slice(&src.octets());
    f.extend_from_slice(&dst.octets());
    f.extend_from_slice(&icmp);
    f
}

/// The fence for IPv6, as for ARP above: a neighbour solicitation for an owned IPv6 VIP is
/// answered (XDP_TX, an NA) while the lease is fresh, dropped and counted under `arp_fenced`
/// once it is stale, and answered again after a renewal; one for a configured VIP not owned
/// (`FENCED_VIPS_V6`) is left to the kernel while fresh and dropped while stale; one for
/// another address passes either way.
#[test]
fn xdp_answers_neighbour_solicitations_only_while_the_lease_is_fresh() {
    use vrrp_agent::dataplane::Dataplane;
    let Some(mut dp) = v6_fence_fixture("xdp_answers_neighbour_solicitations_only_while_the_lease_is_fresh") else { return };
    let owned = solicitation(PEER_MAC, CLIENT6, OWNED);
    let configured = solicitation(PEER_MAC, CLIENT6, CONFIGURED);
    let other = solicitation(PEER_MAC, CLIENT6, OTHER);
    let stats = |dp: &Dataplane| {
        let g = dp.global_stats().expect("stats");
        (g.arp_fenced, g.ns_replies)
    };
    let run = |dp: &Dataplane, frame: &[u8]| dp.test_run(frame, IFINDEX).expect("run");

    let (action, na) = run(&dp, &owned);
    assert_eq!(action, XDP_TX, "no lease taken yet: not fenced");
    assert_eq!((na[54], &na[6..12]), (136, &OUR_MAC[..]), "an NA from our MAC");
    let bound = timers::lease_fence_after_us(timers::cs_to_us(10)) * 1000;
    dp.set_fence_after(bound);
    let now = vrrp_agent::clock::now_ns();
    dp.renew_lease(now).expect("renew");
    assert_eq!(run(&dp, &owned).0, XDP_TX, "fresh: answered");
    assert_eq!(run(&dp, &configured).0, XDP_PASS, "fresh, not owned: the kernel decides");
    assert_eq!(run(&dp, &other).0, XDP_PASS, "not ours");
    assert_eq!(stats(&dp), (0, 2));

    // Renewed longer ago than the bound: fenced.
    dp.renew_lease(now - bound - 1_000_000).expect("renew");
    let (action, out) = run(&dp, &owned);
    assert_eq!(action, XDP_DROP, "stale, owned: dropped, so the kernel cannot answer either");
    assert_eq!(out, owned, "untouched");
    assert_eq!(stats(&dp), (1, 2));
    assert_eq!(run(&dp, &configured).0, XDP_DROP, "stale, configured but not owned: fenced too");
    assert_eq!(stats(&dp), (2, 2));
    assert_eq!(run(&dp, &other).0, XDP_PASS, "not ours: passed");
    assert_eq!(stats(&dp), (2, 2));

    // Renewed: answered again.
    dp.renew_lease(vrrp_agent::clock::now_ns()).expect("renew");
    assert_eq!(run(&dp, &owned).0, XDP_TX, "renewed");
    assert_eq!(stats(&dp), (2, 3));
}

/// `frame` (Ethernet + IPv6 + its payload) with IPv6 extension headers of the given types
/// inserted after the fixed header, each 8 bytes: hop-by-hop and destination options carry a
/// PadN option, a routing header has no segments left, a fragment header is an atomic
/// fragment (offset 0, no more fragments).
fn with_ext_headers(frame: &[u8], types: &[u8]) -> Vec<u8> {
    const IP6: usize = 14;
    let mut f = frame[..IP6 + 40].to_vec();
    let upper = f[IP6 + 6];
    let mut chain: Vec<u8> = Vec::new();
    for (i, &t) in types.iter().enumerate() {
        let next = types.get(i + 1).copied().unwrap_or(upper);
        chain.extend_from_slice(&match t {
            0 | 60 => [next, 0, 1, 4, 0, 0, 0, 0],
            43 => [next, 0, 4, 0, 0, 0, 0, 0],
            44 => [next, 0, 0, 0, 0, 0, 0, 7],
            _ => panic!("extension header {t}"),
        });
    }
    f[IP6 + 6] = types[0];
    let plen = u16::from_be_bytes([f[IP6 + 4], f[IP6 + 5]]) + chain.len() as u16;
    f[IP6 + 4..IP6 + 6].copy_from_slice(&plen.to_be_bytes());
    f.extend_from_slice(&chain);
    f.extend_from_slice(&frame[IP6 + 40..]);
    f
}

/// The fence for a solicitation behind extension headers (hop-by-hop, destination options,
/// routing; XDP walks up to three): while the lease is fresh it is passed, for the kernel to
/// answer (XDP answers only a plain one); while it is stale it is dropped and counted under
/// `arp_fenced` when its target is an owned or configured VIP, exactly as a plain one is, so a
/// fenced host's kernel cannot answer it. A fragmented one is passed (Linux drops fragmented
/// neighbour discovery, RFC 6980), as is one behind more headers than XDP walks.
#[test]
fn solicitations_behind_extension_headers_are_fenced_as_plain_ones_are() {
    use vrrp_agent::dataplane::Dataplane;
    let Some(mut dp) = v6_fence_fixture("solicitations_behind_extension_headers_are_fenced_as_plain_ones_are") else { return };
    let fenced = |dp: &Dataplane| dp.global_stats().expect("stats").arp_fenced;
    let run = |dp: &Dataplane, frame: &[u8]| dp.test_run(frame, IFINDEX).expect("run");
    let chains: &[(&str, &[u8])] = &[
        ("hop-by-hop", &[0]),
        ("destination options", &[60]),
        ("routing", &[43]),
        ("hop-by-hop, destination options, routing", &[0, 60, 43]),
    ];
    let bound = timers::lease_fence_after_us(timers::cs_to_us(10)) * 1000;
    dp.set_fence_after(bound);
    let now = vrrp_agent::clock::now_ns();

    for &(what, types) in chains {
        let owned = with_ext_headers(&solicitation(PEER_MAC, CLIENT6, OWNED), types);
        let configured = with_ext_headers(&solicitation(PEER_MAC, CLIENT6, CONFIGURED), types);
        let other = with_ext_headers(&solicitation(PEER_MAC, CLIENT6, OTHER), types);
        // Fresh: everything passed untouched, the kernel answers for the VIP on the interface.
        dp.renew_lease(now).expect("renew");
        let before = fenced(&dp);
        for (which, frame) in [("owned", &owned), ("configured", &configured), ("other", &other)] {
            assert_eq!(run(&dp, frame), (XDP_PASS, frame.clone()), "{what}, fresh, {which}: passed untouched");
        }
        assert_eq!(fenced(&dp), before, "{what}, fresh: nothing fenced");
        // Stale: the VIP's solicitations dropped and counted, as a plain one's are.
        dp.renew_lease(now - bound - 1_000_000).expect("renew");
        let plain = run(&dp, &solicitation(PEER_MAC, CLIENT6, OWNED)).0;
        assert_eq!(plain, XDP_DROP, "the plain solicitation is fenced");
        assert_eq!(run(&dp, &owned).0, plain, "{what}, stale, owned: fenced as the plain one is");
        assert_eq!(run(&dp, &configured).0, XDP_DROP, "{what}, stale, configured: fenced");
        assert_eq!(run(&dp, &other).0, XDP_PASS, "{what}, stale, not ours: passed");
        assert_eq!(fenced(&dp), before + 3, "{what}: the plain one and two behind headers counted");
    }

    // Stale still: a fragment, and more headers than XDP walks, are passed.
    let before = fenced(&dp);
    for (what, types) in [("fragmented", &[44u8][..]), ("four headers", &[0, 60, 60, 43][..])] {
        let frame = with_ext_headers(&solicitation(PEER_MAC, CLIENT6, OWNED), types);
        assert_eq!(run(&dp, &frame).0, XDP_PASS, "{what}: passed");
    }
    assert_eq!(fenced(&dp), before);
    assert_eq!(dp.global_stats().expect("stats").ns_replies, 0, "never answered by XDP");
}

// ---------------------------------------------------------------------------------------
// IPv6: the same fence for neighbour solicitations, and the hitless restart of an IPv6
// instance.
// ---------------------------------------------------------------------------------------

const VIP6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x100);
/// The link-local VIP an IPv6 instance advertises first (RFC 9568 5.2.9).
const LL_VIP6: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0x51);
const CLIENT6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x10);

fn v6_config(priority: u8, advert_int_cs: u16) -> String {
    format!(
        "vrrp_instance VI_6 {{\n  state BACKUP\n  interface eth0\n  virtual_router_id 61\n  priority {priority}\n  \
         advert_int {}\n  virtual_ipaddress {{\n    {LL_VIP6}/64\n    {VIP6}/64\n  }}\n}}\n",
        election::advert_int_text(advert_int_cs)
    )
}

/// The agent's published state of its one instance (from its pins: also readable while it is
/// stopped, when it is what the stopped agent last wrote).
fn state_of(a: &Agent) -> Option<String> {
    Some(a.try_status_json()?["instances"][0]["state"].as_str()?.to_string())
}

fn v6_master_entries(a: &Agent) -> usize {
    a.log_text().matches("(VI_6) Entering MASTER STATE").count()
}

/// Two routers r1 (150) and r2 (100) sharing VIP6 over VRRPv3/IPv6, and a client `c` with
/// an address in the VIP's prefix; r1 is master, r2 backup, the client reaches the VIP.
struct V6Lab {
    lan: vrrp_tests::Lan,
    bin: std::path::PathBuf,
    r1: Option<Agent>,
    r2: Agent,
    advert_int_cs: u16,
}

impl V6Lab {
    fn start(tag: &str, advert_int_cs: u16) -> Option<V6Lab> {
        if !require_root(tag) {
            return None;
        }
        vrrp_tests::install_ctrlc_cleanup();
        let bin = agent_binary().expect("agent binary (cargo build --release -p vrrp-agent)");
        let lan = vrrp_tests::lan(
            tag,
            &[("r1", Ipv4Addr::new(198, 18, 0, 1)), ("r2", Ipv4Addr::new(198, 18, 0, 2)), ("c", Ipv4Addr::new(198, 18, 0, 10))],
        )
        .expect("lan");
        for h in ["r1", "r2", "c"] {
            wait_for(Duration::from_secs(5), "a usable link-local address", || usable_link_local(lan.host(h))).expect("link-local");
        }
        lan.host("c").ns.ip(&["addr", "add", &format!("{CLIENT6}/64"), "dev", "eth0", "nodad"]).expect("client address");
        let mdi = election::master_down_interval(3, 150, advert_int_cs);
        let r1 = spawn_agent(&bin, lan.host("r1"), &v6_config(150, advert_int_cs), &[]).expect("r1");
        wait_for(election::STARTUP + mdi + SLACK, "r1 to become MASTER", || (state_of(&r1).as_deref() == Some("MASTER")).then_some(()))
            .unwrap_or_else(|e| panic!("{e}\n{}", r1.log_tail(30)));
        let r2 = spawn_agent(&bin, lan.host("r2"), &v6_config(100, advert_int_cs), &[]).expect("r2");
        wait_for(election::STARTUP, "r2 to enter BACKUP", || (state_of(&r2).as_deref() == Some("BACKUP")).then_some(()))
            .unwrap_or_else(|e| panic!("{e}\n{}", r2.log_tail(30)));
        let lab = V6Lab { lan, bin, r1: Some(r1), r2, advert_int_cs };
        wait_for(Duration::from_secs(5), "the client to reach the VIP", || ping6_once(lab.client(), VIP6).then_some(()))
            .expect("VIP reachable");
        Some(lab)
    }

    fn client(&self) -> &Host {
        self.lan.host("c")
    }

    fn r1(&self) -> &Agent {
        self.r1.as_ref().expect("r1")
    }

    fn master_down_interval(&self, priority: u8) -> Duration {
        election::master_down_interval(3, priority, self.advert_int_cs)
    }

    /// r1 MASTER holding the VIP, r2 BACKUP without it.
    fn r1_master_alone(&self) -> Result<(), String> {
        let (s1, s2) = (state_of(self.r1()), state_of(&self.r2));
        let (h1, h2) = (has_addr6(self.lan.host("r1"), VIP6), has_addr6(self.lan.host("r2"), VIP6));
        if s1.as_deref() == Some("MASTER") && s2.as_deref() == Some("BACKUP") && h1 && !h2 {
            Ok(())
        } else {
            Err(format!("r1 {s1:?} (VIP {h1}), r2 {s2:?} (VIP {h2})"))
        }
    }

    fn log_tails(&self) -> String {
        format!("r1:\n{}\nr2:\n{}", self.r1.as_ref().map(|a| a.log_tail(30)).unwrap_or_default(), self.r2.log_tail(30))
    }
}

/// 6. IPv6: a SIGSTOPped master is fenced by the time the backup takes over: from the client
///    exactly one MAC, the new master's, answers neighbour solicitations for the IPv6 VIP
///    although the stopped host still has it. After SIGCONT one master is left, answering.
#[test]
fn v6_stopped_master_stops_answering_ns_before_the_backup_takes_over() {
    let Some(mut lab) = V6Lab::start("fence-stop6", 10) else { return };
    let r1_mac = lab.lan.host("r1").mac_string();
    let r2_mac = lab.lan.host("r2").mac_string();
    let (before, answered) = faults::ns_answerers(lab.client(), VIP6, 3).expect("the NA capture");
    assert_eq!(before, vec![r1_mac.clone()], "before: r1 answers");
    assert!(answered >= 3, "the client reaches the VIP on r1 ({answered})");
    let bpffs = lab.r1().bpffs.clone();
    let mut r1 = lab.r1.take().expect("r1");
    {
        let guard = Continue(&mut r1);
        guard.0.signal(libc::SIGSTOP);
        let stopped = Instant::now();
        let mdi = lab.master_down_interval(100);
        wait_for(mdi + SLACK, "r2 to become MASTER", || (state_of(&lab.r2).as_deref() == Some("MASTER")).then_some(()))
            .unwrap_or_else(|e| panic!("{e}\nr2:\n{}", lab.r2.log_tail(30)));
        let takeover = stopped.elapsed();
        let lease = pinned_lease(&bpffs).expect("pinned lease");
        let age = lease_age(&bpffs).expect("lease age");
        assert!(age > Duration::from_nanos(lease.fence_after_ns), "lease {age:?} old, bound {} ns", lease.fence_after_ns);
        assert!(has_addr6(lab.lan.host("r1"), VIP6), "the stopped r1 keeps the IPv6 VIP on eth0");
        let (during, answered) = faults::ns_answerers(lab.client(), VIP6, 5).expect("the NA capture");
        assert_eq!(during, vec![r2_mac.clone()], "exactly one MAC answers: the new master's\n{}", lab.r2.log_tail(20));
        assert!(answered >= 5, "the client reaches the VIP on r2 ({answered})");
        let fenced = guard.0.counter("arp_fenced");
        assert!(fenced >= 5, "r1's XDP counted the solicitations it dropped (arp_fenced {fenced})");
        eprintln!(
            "v6 fence: r2 MASTER {:.0} ms after SIGSTOP (bound: Master_Down_Interval {:.1} ms + {} ms slack); r1's lease {:.0} ms old (fenced after {:.0} ms); arp_fenced {fenced}",
            takeover.as_secs_f64() * 1e3,
            mdi.as_secs_f64() * 1e3,
            SLACK.as_millis(),
            age.as_secs_f64() * 1e3,
            lease.fence_after_ns as f64 / 1e6
        );
    }
    // SIGCONT (the guard): r1 renews and, as the higher priority, is the only master again.
    lab.r1 = Some(r1);
    let settle = lab.master_down_interval(100) * 3 + SLACK;
    wait_for(settle, "r1 MASTER and r2 BACKUP after SIGCONT", || lab.r1_master_alone().ok())
        .unwrap_or_else(|e| panic!("{e}\n{}", lab.log_tails()));
    holds_for(lab.master_down_interval(100) * 2, "one master after SIGCONT", || lab.r1_master_alone())
        .unwrap_or_else(|e| panic!("{e}\n{}", lab.log_tails()));
    let (after, answered) = faults::ns_answerers(lab.client(), VIP6, 3).expect("the NA capture");
    assert_eq!(after, vec![r1_mac], "after: r1 answers alone");
    assert!(answered >= 3, "the client reaches the VIP on r1 ({answered})");
}

/// 7. IPv6: SIGKILL the master and restart it on its pins within the lease (1 s adverts, a
///    2 s lease): it resumes as MASTER, no router enters MASTER, and a client pinging the
///    IPv6 VIP every 10 ms loses nothing.
#[test]
fn v6_sigkill_and_restart_within_the_lease_is_hitless() {
    let Some(mut lab) = V6Lab::start("fence-kill6", 100) else { return };
    let r2_masters = v6_master_entries(&lab.r2);
    let pinger = vrrp_tests::start_ping6_every(lab.client(), VIP6, Duration::from_millis(10), 30).expect("ping -6");
    wait_for(Duration::from_secs(2), "the first replies", || (pinger.replies_so_far().len() >= 20).then_some(())).expect("ping -6");
    let mut old = lab.r1.take().expect("r1");
    let old_pid = old.pid;
    let bpffs = old.bpffs.clone();
    let lease = Duration::from_nanos(pinned_lease(&bpffs).expect("lease").fence_after_ns);
    let killed = Instant::now();
    old.signal(libc::SIGKILL);
    old.leave_pins();
    let _ = old.wait_exit(Duration::from_secs(5));
    drop(old);
    let new = spawn_agent_on_pins(&lab.bin, lab.lan.host("r1"), &v6_config(150, lab.advert_int_cs), &bpffs, &[]).expect("restart r1");
    lab.r1 = Some(new);
    let resumed = format!("resumed as MASTER (adopted from pid {old_pid})");
    wait_for(lease, "r1 to resume as MASTER", || lab.r1().log_text().contains(&resumed).then_some(()))
        .unwrap_or_else(|e| panic!("{e}\n{}", lab.log_tails()));
    let restart = killed.elapsed();
    assert!(restart < lease, "the restart ({restart:?}) outlasted the lease ({lease:?})");
    holds_for(lab.master_down_interval(100) * 2, "r1 MASTER alone", || lab.r1_master_alone())
        .unwrap_or_else(|e| panic!("{e}\n{}", lab.log_tails()));
    let (replies, sent) = pinger.stop_counted().expect("ping -6");
    let sent = sent.unwrap_or(0);
    let lost = sent.saturating_sub(replies.iter().filter(|r| !r.dup).count() as u32);
    eprintln!(
        "v6 hitless restart: resumed as MASTER {:.0} ms after SIGKILL (lease {:.0} ms, r2's Master_Down_Interval {:.0} ms); {sent} probes, {lost} lost",
        restart.as_secs_f64() * 1e3,
        lease.as_secs_f64() * 1e3,
        lab.master_down_interval(100).as_secs_f64() * 1e3
    );
    assert_eq!(v6_master_entries(lab.r1()), 0, "the restarted r1 logs no MASTER transition:\n{}", lab.r1().log_tail(20));
    assert_eq!(v6_master_entries(&lab.r2), r2_masters, "r2 never entered MASTER:\n{}", lab.r2.log_tail(20));
    assert_eq!(lost, 0, "no probe lost ({sent} sent, {} answered)", replies.len());
    assert!(replies.len() > 100, "the client probed throughout ({} replies)", replies.len());
}

/// 8. IPv6: an agent that adopts the datapath (SIGQUIT, restart within the lease) with a
///    configuration that no longer has the IPv6 master instance removes that instance's VIP
///    and stops answering neighbour solicitations for it, as it does for IPv4 VIPs: the
///    earlier agent's `OWNED_VIPS_V6` is read like its `OWNED_VIPS`.
#[test]
fn v6_adopting_agent_removes_the_vips_of_an_instance_no_longer_configured() {
    use vrrp_common::{VipKeyV6, VipValue};
    const OTHER_VIP6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x200);
    if !require_root("v6_adopting_agent_removes_the_vips_of_an_instance_no_longer_configured") {
        return;
    }
    vrrp_tests::install_ctrlc_cleanup();
    let bin = agent_binary().expect("agent binary");
    let lan = vrrp_tests::lan("fence-gone6", &[("r1", Ipv4Addr::new(198, 18, 0, 1))]).expect("lan");
    let host = lan.host("r1");
    wait_for(Duration::from_secs(5), "a usable link-local address", || usable_link_local(host)).expect("link-local");
    // 1 s adverts: a 2 s lease, which the restart fits.
    let mut old = spawn_agent(&bin, host, &v6_config(150, 100), &[]).expect("r1");
    let mdi = election::master_down_interval(3, 150, 100);
    wait_for(election::STARTUP + mdi + SLACK, "r1 to become MASTER", || (state_of(&old).as_deref() == Some("MASTER")).then_some(()))
        .unwrap_or_else(|e| panic!("{e}\n{}", old.log_tail(30)));
    let link: serde_json::Value = serde_json::from_str(&host.ns.ip(&["-j", "link", "show", "dev", "eth0"]).expect("ip link")).expect("json");
    let ifindex = link[0]["ifindex"].as_u64().expect("ifindex") as u32;
    let key = VipKeyV6 { ifindex, addr_v6: VIP6.octets() };
    let owned = |bpffs: &Path| -> Option<bool> {
        let map = vrrp_agent::dataplane::open_pinned(bpffs, names::OWNED_VIPS_V6).ok()?;
        let h = aya::maps::HashMap::<_, VipKeyV6, VipValue>::try_from(map).ok()?;
        Some(h.get(&key, 0).is_ok())
    };
    let bpffs = old.bpffs.clone();
    // The first advert leaves before the VIPs are added and owned.
    wait_for(Duration::from_secs(2), "r1 to hold and answer for the VIP", || (has_addr6(host, VIP6) && owned(&bpffs) == Some(true)).then_some(()))
        .unwrap_or_else(|e| panic!("{e}\n{}", old.log_tail(30)));
    old.signal(libc::SIGQUIT);
    let st = old.wait_exit(Duration::from_secs(2)).expect("exit after SIGQUIT");
    assert_eq!(st.code(), Some(75), "{}", old.log_tail(10));
    old.leave_pins();
    let old_pid = old.pid;
    drop(old);
    // Another instance (VRID 62, another VIP) in place of VI_6.
    let cfg = v6_config(150, 100).replace("virtual_router_id 61", "virtual_router_id 62").replace(&VIP6.to_string(), &OTHER_VIP6.to_string());
    let new = spawn_agent_on_pins(&bin, host, &cfg, &bpffs, &[]).expect("restart");
    wait_for(election::STARTUP, "the new agent to adopt the datapath", || {
        new.log_text().contains(&format!("adopting the datapath of the agent with pid {old_pid}")).then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", new.log_tail(30)));
    wait_for(election::STARTUP, "the left IPv6 VIP to be removed", || (!has_addr6(host, VIP6)).then_some(()))
        .unwrap_or_else(|e| panic!("{e}\n{}", new.log_tail(30)));
    assert_eq!(owned(&bpffs), Some(false), "XDP no longer answers NS for the removed VIP");
    assert!(new.log_text().contains(&format!("removed VIP {VIP6} left on ifindex {ifindex} by an earlier agent")), "{}", new.log_tail(30));
}

/// A sync group across a hitless restart: both members resume as MASTER, and their group
/// knows it, so when one of them is later preempted the other follows it to BACKUP (before,
/// the group still thought its members were starting and the second one stayed MASTER).
/// VRRPv3 at 1 s adverts (the restart fits the 2 s lease).
#[test]
fn a_sync_group_resumed_by_a_hitless_restart_still_moves_together() {
    if !require_root("fence-sync") {
        return;
    }
    let bin = agent_binary().expect("agent binary");
    let lan = vrrp_tests::lan("fence-sync", &[("r1", Ipv4Addr::new(198, 18, 0, 1)), ("r2", Ipv4Addr::new(198, 18, 0, 2))])
        .expect("lan");
    let (h1, h2) = (lan.host("r1"), lan.host("r2"));
    let vip2 = Ipv4Addr::new(198, 18, 0, 101);
    let inst = |name: &str, vrid: u8, prio: u8, vip: Ipv4Addr| {
        format!(
            "vrrp_instance {name} {{\n  state BACKUP\n  interface eth0\n  virtual_router_id {vrid}\n  priority {prio}\n  \
             version 3\n  advert_int 1\n  virtual_ipaddress {{\n    {vip}/24\n  }}\n}}\n"
        )
    };
    let cfg = |p1: u8, p2: u8| {
        format!("vrrp_sync_group G {{\n  group {{\n    VI_1\n    VI_2\n  }}\n}}\n{}{}", inst("VI_1", 61, p1, VIP), inst("VI_2", 62, p2, vip2))
    };
    // r2 runs the same instances without a group, so only r1's group can move its members.
    let plain = |p1: u8, p2: u8| format!("{}{}", inst("VI_1", 61, p1, VIP), inst("VI_2", 62, p2, vip2));
    let holds = |h: &Host| (has_addr(h, VIP), has_addr(h, vip2));
    let a2 = spawn_agent(&bin, h2, &plain(90, 90), &[]).expect("r2");
    let old = spawn_agent(&bin, h1, &cfg(100, 100), &[]).expect("r1");
    let mdi = Duration::from_micros(timers::master_down_interval_us(timers::Version::V3, 90, 100)) + SLACK;
    wait_for(mdi * 2 + election::STARTUP, "r1 to hold both VIPs", || (holds(h1) == (true, true) && holds(h2) == (false, false)).then_some(()))
        .unwrap_or_else(|e| panic!("{e}\n{}\n{}", old.log_tail(20), a2.log_tail(20)));

    // SIGKILL and restart on the same pins, within the lease: both members resume.
    let mut old = old;
    old.signal(libc::SIGKILL);
    let _ = old.wait_exit(Duration::from_secs(5));
    let bpffs = old.bpffs.clone();
    old.leave_pins();
    drop(old);
    let a1 = spawn_agent_on_pins(&bin, h1, &cfg(100, 100), &bpffs, &[]).expect("restart");
    wait_for(election::STARTUP + SLACK, "both members to resume as MASTER", || {
        (a1.log_text().matches("resumed as MASTER").count() == 2).then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", a1.log_tail(30)));

    // r2's VI_1 now outranks r1's: r1's VI_1 steps down and its group takes VI_2 with it, so
    // r2's VI_2 (priority 90) takes over too. Without the group knowing its resumed members,
    // r1's VI_2 stayed MASTER.
    std::fs::write(&a2.config, plain(110, 90)).expect("rewrite");
    let mut a2 = a2;
    a2.signal(libc::SIGHUP);
    wait_for(mdi * 3, "r2 to hold both VIPs and r1 none", || (holds(h2) == (true, true) && holds(h1) == (false, false)).then_some(()))
        .unwrap_or_else(|e| panic!("{e}\n{}\n{}", a1.log_tail(30), a2.log_tail(30)));
    holds_for(mdi * 2, "the group to stay on r2", || {
        if holds(h2) == (true, true) && holds(h1) == (false, false) { Ok(()) } else { Err(format!("r1 {:?}, r2 {:?}", holds(h1), holds(h2))) }
    })
    .unwrap_or_else(|e| panic!("{e}\n{}\n{}", a1.log_tail(30), a2.log_tail(30)));
}
