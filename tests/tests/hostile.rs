//! Hostile input on the wire (issue 10): crafted adverts from a host on the LAN that is not a
//! router (the cluster's client), sent with the crafted-frame sender
//! ([`vrrp_tests::hostile`]) at a running cluster's backup, and at its master where an
//! accepted frame would move it. The frames are the agent's own encoding of a valid advert
//! (`vrrp_agent::wire`), then corrupted one way per case, each frame once at priority 255
//! (a master that accepted it would step down) and once at priority 0 (a backup that accepted
//! it would take over within Skew_Time).
//!
//! For every case: each frame is counted once under ITS reason, globally (`status --json`
//! `counters`) and for the instance (`instances[].drops`), and no other drop reason moves; a
//! frame XDP leaves to the kernel (an unknown VRID: another VRRP speaker may want it; a frame
//! too short to hold an IPv4 header: not VRRP) moves only `unknown_vrid`, or nothing. Then a
//! bounded flood of each case at the backup is counted the same way (the frames lost on the
//! way, which the veths count as dropped, are the only allowed shortfall). Nothing changes
//! state: no new `Entering` line in any log, the master keeps the VIP, the client keeps being
//! answered, and the agents' logs grow only by the per-reason drop summary (at most one line
//! per reason per `REPORT_EVERY`).
use std::{
    collections::BTreeMap,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    time::{Duration, Instant},
};

use vrrp_agent::{
    rx::{parity, socket::REPORT_EVERY},
    wire::{self, vrrp},
};
use vrrp_common::DropReason;
use vrrp_tests::{
    Agent, Host, agent_binary,
    election::{Cluster, ClusterSpec, STARTUP, VIP, outage_over_lost_us, parse_state_changes},
    hostile::{Flood, Reply, path_drops, send_once},
    has_addr, has_addr6, require_root, spawn_agent, ipv6_addrs, start_ping_every, wait_for,
};

const VRID: u8 = 51;
/// Configured on no router.
const UNKNOWN_VRID: u8 = 77;
/// A second VIP: not the instance's, so an advert naming it and ours has a wrong count.
const OTHER: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 101);
/// One flood: at most this long and this many frames, at the backup.
const FLOOD_TIME: Duration = Duration::from_millis(500);
const FLOOD_MAX: u64 = 500_000;
/// Each frame of a case is sent this many times, one pass, before the flood.
const REPEAT: usize = 5;
/// Time for a sent frame to be counted (the send returns once the frame is queued).
const COUNTED: Duration = Duration::from_secs(3);
/// The client's longest unanswered stretch allowed while the cluster is attacked: well above
/// the probe interval, so a busy machine does not fail it, and well below what an election
/// would cost if the master stepped down and nobody took over.
const CLIENT_OUTAGE: Duration = Duration::from_secs(1);

/// What XDP does with one crafted frame at a router.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// Dropped and counted under the reason, globally and for the instance.
    Drop(DropReason),
    /// Dropped as truncated before the VRID could be read: counted globally only.
    TruncatedNoVrid,
    /// Passed to the kernel, counted as `unknown_vrid` (another VRRP speaker on the host may
    /// want it; the agent's raw socket sees it and ignores it uncounted).
    UnknownVrid,
    /// Passed uncounted: too short for an IPv4 header, not VRRP to XDP (the kernel drops it).
    NotVrrp,
    /// Passed uncounted to the kernel (an IPv4 header with options: XDP judges only the
    /// 20-byte header); the agent's raw socket judges it (`rx::validate`, the same rules) and
    /// counts the drop in its own counters, reported in the drop summary ("on the slow path").
    SlowPath,
}

struct Case {
    name: &'static str,
    /// The instance whose drops count the frames.
    vrid: u8,
    frames: Vec<(Vec<u8>, Expect)>,
}

/// The attacker's view of the cluster: who sends, who receives.
struct Attack<'a> {
    c: &'a Cluster,
    from: &'a Host,
}

impl Attack<'_> {
    /// A valid v3 advert for VRID 51 from `src` to 224.0.0.18, as the agent encodes one, sent
    /// to router `to`'s MAC only (the bridge forwards it to that port alone).
    fn advert(&self, to: usize, src: Ipv4Addr, repr: &vrrp::Repr) -> Vec<u8> {
        let mut f = wire::vrrp_frame_v4(self.from.mac, src, vrrp::MCAST_V4, 255, repr, vrrp::ChecksumMode::Plain);
        f[..6].copy_from_slice(&self.c.host(to).mac);
        f
    }
}

fn repr(version: u8, vrid: u8, priority: u8, addresses: &[Ipv4Addr]) -> vrrp::Repr {
    vrrp::Repr {
        version: if version == 2 { vrrp::Version::V2 } else { vrrp::Version::V3 },
        vrid,
        priority,
        adver_int_cs: if version == 2 { 100 } else { 10 },
        auth: vrrp::Auth::None,
        addresses: addresses.iter().map(|a| IpAddr::V4(*a)).collect(),
    }
}

/// Ethernet + IPv4 offsets of the frames [`wire::vrrp_frame_v4`] builds.
const IP: usize = 14;
const VRRP: usize = 34;

/// The v3 cases at router `to` of a cluster whose VRID 51 advertises [`VIP`] alone.
fn v3_cases(a: &Attack, to: usize) -> Vec<Case> {
    let me = a.from.addr;
    let target = a.c.routers[to].addr;
    let both = |e: Expect, f: &dyn Fn(u8) -> Vec<u8>| vec![(f(255), e), (f(0), e)];
    let good = |p: u8| a.advert(to, me, &repr(3, VRID, p, &[VIP]));
    let edit = |p: u8, e: &dyn Fn(&mut Vec<u8>)| {
        let mut f = good(p);
        e(&mut f);
        f
    };
    use DropReason as R;
    let mut cases = vec![
        Case {
            vrid: VRID,
            name: "TTL 64",
            frames: both(Expect::Drop(R::Ttl), &|p| {
                let mut f = wire::vrrp_frame_v4(a.from.mac, me, vrrp::MCAST_V4, 64, &repr(3, VRID, p, &[VIP]), vrrp::ChecksumMode::Plain);
                f[..6].copy_from_slice(&a.c.host(to).mac);
                f
            }),
        },
        Case { vrid: VRID, name: "bad VRRP checksum", frames: both(Expect::Drop(R::Checksum), &|p| edit(p, &|f| f[VRRP + 6] ^= 0x5a)) },
        Case { vrid: VRID, name: "bad IPv4 checksum", frames: both(Expect::Drop(R::IpChecksum), &|p| edit(p, &|f| f[IP + 10] ^= 0x5a)) },
        Case { vrid: VRID, name: "version 2 at a v3 instance", frames: both(Expect::Drop(R::Version), &|p| a.advert(to, me, &repr(2, VRID, p, &[VIP]))) },
        Case {
            vrid: VRID,
            name: "type 2",
            frames: both(Expect::Drop(R::Type), &|p| {
                edit(p, &|f| {
                    f[VRRP] = 0x32;
                    parity::fix_vrrp(f);
                })
            }),
        },
        Case {
            vrid: VRID,
            name: "count 2, one address",
            frames: both(Expect::Drop(R::Truncated), &|p| {
                edit(p, &|f| {
                    f[VRRP + 3] = 2;
                    parity::fix_vrrp(f);
                })
            }),
        },
        Case {
            vrid: VRID,
            name: "count 1, two addresses",
            frames: both(Expect::Drop(R::Length), &|p| {
                let mut f = a.advert(to, me, &repr(3, VRID, p, &[VIP, OTHER]));
                f[VRRP + 3] = 1;
                parity::fix_vrrp(&mut f);
                f
            }),
        },
        Case {
            vrid: VRID,
            name: "count 0",
            frames: both(Expect::Drop(R::AddrCountZero), &|p| {
                edit(p, &|f| {
                    f[VRRP + 3] = 0;
                    parity::fix_vrrp(f);
                })
            }),
        },
        Case {
            vrid: VRID,
            name: "IPv4 options, bad VRRP checksum",
            frames: both(Expect::SlowPath, &|p| wire::with_ipv4_options(&edit(p, &|f| f[VRRP + 6] ^= 0x5a), &[1, 1, 1, 1])),
        },
        Case { vrid: VRID, name: "unknown VRID", frames: both(Expect::UnknownVrid, &|p| a.advert(to, me, &repr(3, UNKNOWN_VRID, p, &[VIP]))) },
        Case { vrid: VRID, name: "source is the router itself", frames: both(Expect::Drop(R::SourceIsSelf), &|p| a.advert(to, target, &repr(3, VRID, p, &[VIP]))) },
        Case { vrid: VRID, name: "source is the VIP", frames: both(Expect::Drop(R::SourceIsVip), &|p| a.advert(to, VIP, &repr(3, VRID, p, &[VIP]))) },
    ];
    cases.push(Case { vrid: VRID, name: "truncated at every offset", frames: truncations(&good(255)) });
    cases
}

/// A valid advert (Ethernet + IPv4 without options + VRRP) cut short at every offset from the
/// end of the Ethernet header to the end of the VRRP message (shorter than 14 bytes, the
/// kernel pads a packet socket's frame to the Ethernet header), then the same advert whole
/// but with an IPv4 total length (header checksum fixed) ending at every offset of its VRRP
/// message.
fn truncations(good: &[u8]) -> Vec<(Vec<u8>, Expect)> {
    let end = IP + usize::from(u16::from_be_bytes([good[IP + 2], good[IP + 3]]));
    let cut = (IP..end).map(|k| {
        let e = match k {
            _ if k < VRRP => Expect::NotVrrp,
            _ if k < VRRP + 8 => Expect::TruncatedNoVrid,
            _ => Expect::Drop(DropReason::Truncated),
        };
        (good[..k].to_vec(), e)
    });
    let short_ip = (0..end - VRRP).map(|j| {
        let mut f = good.to_vec();
        f[IP + 2..IP + 4].copy_from_slice(&((20 + j) as u16).to_be_bytes());
        parity::fix_ip(&mut f);
        // The VRRP header is still in the frame (as padding), so the VRID is read.
        (f, Expect::Drop(DropReason::Truncated))
    });
    cut.chain(short_ip).collect()
}

// ---------------------------------------------------------------------------------------
// Counting
// ---------------------------------------------------------------------------------------

/// The counters a crafted frame may move at a router: every drop reason (global and for
/// the instance) and `unknown_vrid`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Counts(BTreeMap<String, u64>);

impl Counts {
    fn read(agent: &Agent) -> Counts {
        let st = agent.status_json();
        let mut m = BTreeMap::new();
        for r in DropReason::ALL {
            let n = r.counter_name();
            m.insert(format!("global {n}"), st["counters"][n].as_u64().unwrap_or(0));
        }
        m.insert("global unknown_vrid".into(), st["counters"]["unknown_vrid"].as_u64().unwrap_or(0));
        for inst in st["instances"].as_array().into_iter().flatten() {
            let vrid = inst["vrid"].as_u64().unwrap_or(0);
            for r in DropReason::ALL {
                let n = r.counter_name();
                m.insert(format!("vrid {vrid} {n}"), inst["drops"][n].as_u64().unwrap_or(0));
            }
        }
        Counts(m)
    }

    /// What `n` frames expected to do `e` add at VRID `vrid`'s router.
    fn expect(&mut self, vrid: u8, e: Expect, n: u64) {
        let mut add = |k: String| *self.0.entry(k).or_default() += n;
        match e {
            Expect::Drop(r) => {
                add(format!("global {}", r.counter_name()));
                add(format!("vrid {vrid} {}", r.counter_name()));
            }
            Expect::TruncatedNoVrid => add(format!("global {}", DropReason::Truncated.counter_name())),
            Expect::UnknownVrid => add("global unknown_vrid".into()),
            Expect::NotVrrp | Expect::SlowPath => {}
        }
    }

    fn delta(&self, before: &Counts) -> Counts {
        Counts(self.0.iter().map(|(k, v)| (k.clone(), v.saturating_sub(before.0.get(k).copied().unwrap_or(0)))).filter(|(_, v)| *v != 0).collect())
    }

    /// `self` (what moved) is `want` with at most `lost` frames missing from the counters it
    /// names, and nothing else moved. Frames are counted twice at most (globally and for the
    /// instance), so each counter is judged on its own.
    fn check(&self, want: &Counts, lost: u64) -> Result<(), String> {
        let keys: std::collections::BTreeSet<&String> = self.0.keys().chain(want.0.keys()).collect();
        let bad: Vec<String> = keys
            .into_iter()
            .filter_map(|k| {
                let (got, exp) = (self.0.get(k).copied().unwrap_or(0), want.0.get(k).copied().unwrap_or(0));
                (got > exp || got + lost < exp).then(|| format!("{k}: {got}, expected {exp}{}", if lost > 0 { format!(" (up to {lost} lost)") } else { String::new() }))
            })
            .collect();
        if bad.is_empty() { Ok(()) } else { Err(bad.join("; ")) }
    }
}

/// Sends every frame of `case` REPEAT times from the attacker to router `to` and checks the
/// counters there. Returns how many frames were sent.
fn one_pass(a: &Attack, agent: &Agent, to: usize, case: &Case) -> u64 {
    let vrid = case.vrid;
    let frames: Vec<Vec<u8>> = (0..REPEAT).flat_map(|_| case.frames.iter().map(|(f, _)| f.clone())).collect();
    let before = Counts::read(agent);
    let drops0 = path_drops(&a.c.lan, a.from, a.c.host(to)).expect("path drop counters");
    let sent = send_once(a.from, &frames, Duration::from_secs(10)).expect("sending the case's frames");
    let lost = sent.refused + path_drops(&a.c.lan, a.from, a.c.host(to)).expect("path drop counters").saturating_sub(drops0);
    let mut want = Counts::default();
    for (_, e) in &case.frames {
        want.expect(vrid, *e, REPEAT as u64);
    }
    settle_counts(agent, &before, &want, lost, &format!("{} at {}", case.name, a.c.routers[to].name));
    sent.sent
}

/// Waits until the counters moved by `want` (less at most `lost`), then requires nothing
/// more: a counter that moved too much or one that should not have moved fails at once.
fn settle_counts(agent: &Agent, before: &Counts, want: &Counts, lost: u64, what: &str) {
    let mut last = Counts::default();
    let done = wait_for(COUNTED, what, || {
        last = Counts::read(agent).delta(before);
        let reached = want.0.iter().all(|(k, exp)| last.0.get(k).copied().unwrap_or(0) + lost >= *exp);
        let over = last.check(want, u64::MAX).is_err();
        (reached || over).then_some(())
    });
    if let Err(e) = done.map_err(|e| e.to_string()).and_then(|()| last.check(want, lost)) {
        panic!("{what}: counters {e}\nmoved: {:?}\nwanted: {:?}", last.0, want.0);
    }
}

/// A bounded flood of `case` at router `to`: every frame counted (the frames lost on the way
/// excepted). Returns (frames sent, frames per second).
fn flood(a: &Attack, agent: &Agent, to: usize, case: &Case) -> (u64, f64) {
    let vrid = case.vrid;
    let frames: Vec<Vec<u8>> = case.frames.iter().map(|(f, _)| f.clone()).collect();
    let before = Counts::read(agent);
    let drops0 = path_drops(&a.c.lan, a.from, a.c.host(to)).expect("path drop counters");
    let judge = |_: &[u8]| Reply::Other;
    let sent = Flood { frames: &frames, ethertype: vrrp_tests::hostile::SEND_ONLY, max_frames: FLOOD_MAX, max_time: FLOOD_TIME, judge: &judge }
        .run(a.from)
        .expect("the flood");
    let lost = sent.refused + path_drops(&a.c.lan, a.from, a.c.host(to)).expect("path drop counters").saturating_sub(drops0);
    // The flood sends the frames in turn (a refused one keeps its turn, counted in `lost`).
    let tried = sent.sent + sent.refused;
    let mut want = Counts::default();
    for (i, (_, e)) in case.frames.iter().enumerate() {
        let n = tried / frames.len() as u64 + u64::from((i as u64) < tried % frames.len() as u64);
        want.expect(vrid, *e, n);
    }
    settle_counts(agent, &before, &want, lost, &format!("flood of {} at {}", case.name, a.c.routers[to].name));
    eprintln!("flood: {:<28} {:>6} frames in {:.2} s ({:.0}/s), {} lost on the way", case.name, sent.sent, sent.secs, sent.rate(), lost);
    (sent.sent, sent.rate())
}

// ---------------------------------------------------------------------------------------
// Logs
// ---------------------------------------------------------------------------------------

/// The part of an agent log line after its timestamp and level.
fn message(line: &str) -> &str {
    line.split_once("  ").map_or(line, |(_, m)| m).trim_start()
}

/// The drop summary `rx::socket` logs once per reason per `REPORT_EVERY`.
fn is_drop_summary(line: &str) -> bool {
    line.contains(" advert(s) dropped as ")
}

/// The slow path's share of a drop summary ("... (X in XDP, N on the slow path)").
fn slow_path_count(line: &str) -> u64 {
    line.rsplit_once(" in XDP, ").and_then(|(_, r)| r.split_whitespace().next()).and_then(|n| n.parse().ok()).unwrap_or(0)
}

/// The lines an agent logged since it had `from` lines: only drop summaries, and at most one
/// per reason per `REPORT_EVERY` tick in `window` (plus the tick under way).
fn assert_rate_limited(agent: &Agent, from: usize, window: Duration, who: &str) {
    let log = agent.log_text();
    let new: Vec<&str> = log.lines().skip(from).collect();
    let other: Vec<&&str> = new.iter().filter(|l| !is_drop_summary(l)).collect();
    assert!(other.is_empty(), "{who} logged more than drop summaries under attack:\n{}", other.iter().map(|l| message(l)).collect::<Vec<_>>().join("\n"));
    let ticks = (window.as_secs_f64() / REPORT_EVERY.as_secs_f64()).ceil() as usize + 1;
    for r in DropReason::ALL {
        let tag = format!(" dropped as {} ", r.counter_name());
        let n = new.iter().filter(|l| l.contains(&tag)).count();
        assert!(n <= ticks, "{who} logged {n} summaries for {} in {:.1} s (at most {ticks}: one per {} s)", r.counter_name(), window.as_secs_f64(), REPORT_EVERY.as_secs());
    }
    eprintln!("{who}: {} log line(s) in {:.1} s of attack, all drop summaries", new.len(), window.as_secs_f64());
}

// ---------------------------------------------------------------------------------------
// The tests
// ---------------------------------------------------------------------------------------

/// Every IPv4 v3 case, once at the backup and at the master, then flooded at the backup; the
/// cluster does not move and the logs stay quiet.
#[test]
fn crafted_v3_adverts_are_counted_under_their_reason_and_change_nothing() {
    if !require_root("crafted_v3_adverts_are_counted_under_their_reason_and_change_nothing") {
        return;
    }
    let bin = agent_binary().expect("agent binary");
    let spec = ClusterSpec { version: 3, advert_int_cs: 10, priorities: vec![100, 90], agent_args: vec![] };
    let mut c = Cluster::start("hostile-v3", &bin, spec).expect("cluster");
    dumb_switch(&c);
    c.wait_settled(0, STARTUP).expect("r1 master, r2 backup");
    run_attack(&c, &[VIP], &[1, 0], v3_cases, true);
}

/// The same in native XDP mode (the driver path a NIC takes; on veth the frames queue in the
/// receiver's XDP ring, whose overflow the sending port counts as dropped).
#[test]
fn crafted_v3_adverts_in_native_xdp_mode() {
    if !require_root("crafted_v3_adverts_in_native_xdp_mode") {
        return;
    }
    let bin = agent_binary().expect("agent binary");
    let spec = ClusterSpec { version: 3, advert_int_cs: 10, priorities: vec![100, 90], agent_args: vec!["--xdp-mode".into(), "native".into()] };
    let mut c = Cluster::new("hostile-native", &bin, spec).expect("cluster");
    dumb_switch(&c);
    // XDP_TX (the master's ARP replies to the client) leaves a veth only if its peer runs XDP.
    c.lan.attach_xdp_pass_to_switch_ports().expect("pass-through XDP on the switch ports");
    c.start_agents().expect("agents");
    c.wait_settled(0, STARTUP).expect("r1 master, r2 backup");
    for i in 0..2 {
        let log = c.agents[i].as_ref().expect("agent").log_text();
        assert!(log.contains("mode=Native"), "{} attached in native mode", c.routers[i].name);
    }
    run_attack(&c, &[VIP], &[1, 0], v3_cases, true);
}

/// Attacks router after router (`targets`, the backup first), then floods the first; checks
/// the cluster is as it was.
fn run_attack(c: &Cluster, vips: &[Ipv4Addr], targets: &[usize], cases: fn(&Attack, usize) -> Vec<Case>, flood_them: bool) {
    let n = c.routers.len();
    let entries: Vec<usize> = (0..n).map(|i| c.agents[i].as_ref().map_or(0, |a| parse_state_changes(&a.log_text()).len())).collect();
    let masters: Vec<usize> = (0..n).map(|i| c.master_entries(i)).collect();
    let lines: Vec<usize> = (0..n).map(|i| c.agents[i].as_ref().map_or(0, |a| a.log_text().lines().count())).collect();
    let probe = c.spec.probe_interval().max(Duration::from_millis(10));
    let pinger = start_ping_every(c.client(), VIP, probe, 120).expect("client probes");
    wait_for(Duration::from_secs(5), "the client's first reply from the VIP", || (!pinger.replies_so_far().is_empty()).then_some(())).expect("client answered");
    let t0 = Instant::now();
    let from_us = vrrp_tests::election::wall_clock_us();
    let a = Attack { c, from: c.client() };
    let mut rates = Vec::new();
    for &to in targets {
        let agent = c.agents[to].as_ref().expect("agent");
        for case in cases(&a, to) {
            one_pass(&a, agent, to, &case);
        }
    }
    if flood_them {
        let to = targets[0];
        let agent = c.agents[to].as_ref().expect("agent");
        for case in cases(&a, to) {
            rates.push((case.name, flood(&a, agent, to, &case)));
        }
    }
    // What XDP passes reaches the agent itself (its raw socket): flooded at the master too,
    // which must keep advertising on time through it.
    let userspace = |case: &Case| case.frames.iter().any(|(_, e)| matches!(e, Expect::UnknownVrid | Expect::SlowPath));
    if flood_them && let Some(&m) = targets.iter().find(|&&t| t == 0) {
        let agent = c.agents[m].as_ref().expect("agent");
        for case in cases(&a, m).iter().filter(|k| userspace(k)) {
            rates.push((case.name, flood(&a, agent, m, case)));
        }
    }
    // The slow path's drops are in its summary (they are in no map).
    let slow: Vec<(usize, &'static str)> = targets
        .iter()
        .flat_map(|&to| cases(&a, to).into_iter().filter(|k| k.frames.iter().any(|(_, e)| *e == Expect::SlowPath)).map(move |k| (to, k.name)))
        .collect();
    for (to, name) in slow {
        let agent = c.agents[to].as_ref().expect("agent");
        wait_for(REPORT_EVERY + COUNTED, &format!("{}'s summary of the slow path's drops ({name})", c.routers[to].name), || {
            let log = agent.log_text();
            log.lines().skip(lines[to]).any(|l| is_drop_summary(l) && slow_path_count(l) > 0).then_some(())
        })
        .expect("slow-path drops reported");
    }
    // The drops are reported: one summary per reason at the next REPORT_EVERY tick.
    let reported = wait_for(REPORT_EVERY + COUNTED, "the drop summaries", || {
        let log = c.agents[targets[0]].as_ref().expect("agent").log_text();
        let new: Vec<&str> = log.lines().skip(lines[targets[0]]).collect();
        new.iter().any(|l| is_drop_summary(l)).then(|| new.iter().filter(|l| is_drop_summary(l)).map(|l| message(l).to_string()).collect::<Vec<_>>())
    })
    .expect("the agent reports its drops");
    eprintln!("{} reports:\n  {}", c.routers[targets[0]].name, reported.join("\n  "));
    let window = t0.elapsed();
    let to_us = vrrp_tests::election::wall_clock_us();
    let replies = pinger.stop().expect("ping output");
    // Nothing moved.
    for i in 0..n {
        let a = c.agents[i].as_ref().expect("agent");
        let now = parse_state_changes(&a.log_text());
        assert_eq!(now.len(), entries[i], "{} changed state under attack: {:?}", c.routers[i].name, &now[entries[i]..]);
        assert_eq!(c.master_entries(i), masters[i]);
        assert_rate_limited(a, lines[i], window, &c.routers[i].name);
    }
    assert_unmoved(c, vips);
    let outage = outage_over_lost_us(&replies, from_us, to_us, true).expect("the client was answered before the attack");
    assert!(
        outage < CLIENT_OUTAGE.as_micros() as i64,
        "the client went {:.1} ms unanswered under attack (allowed {} ms)",
        outage as f64 / 1e3,
        CLIENT_OUTAGE.as_millis()
    );
    eprintln!("attack window {:.1} s, client's longest outage {:.1} ms; flood rates: {rates:?}", window.as_secs_f64(), outage as f64 / 1e3);
}

/// The LAN's bridge forwards what it is given, as a switch does: with br_netfilter loaded
/// (`bridge-nf-call-iptables` 1, the kernel's default then) a Linux bridge validates IPv4
/// headers itself and silently drops a bad header checksum or a short packet before any
/// router sees it, which would hide those cases from the routers.
fn dumb_switch(c: &Cluster) {
    for family in ["iptables", "ip6tables", "arptables"] {
        let key = format!("net.bridge.bridge-nf-call-{family}");
        if c.lan.switch.run("sysctl", &["-n", &key]).is_ok() {
            c.lan.switch.sysctl(&key, "0").expect("bridge-nf off in the switch namespace");
        }
    }
}

/// Router 0 is MASTER of every instance and holds every VIP; the others are BACKUP of every
/// instance and hold none.
fn assert_unmoved(c: &Cluster, vips: &[Ipv4Addr]) {
    for (i, r) in c.routers.iter().enumerate() {
        let want = if i == 0 { "MASTER" } else { "BACKUP" };
        let st = c.status(i).expect("status");
        for inst in st["instances"].as_array().into_iter().flatten() {
            assert_eq!(inst["state"].as_str(), Some(want), "{} instance {}", r.name, inst["name"]);
        }
        for vip in vips {
            assert_eq!(has_addr(c.host(i), *vip), i == 0, "{vip} on {}", r.name);
        }
    }
}

/// Waits until router 0 is MASTER of every instance and the others BACKUP of every instance,
/// each naming router 0 as its master.
fn wait_all_settled(c: &Cluster) {
    // IPv4 instances name its address, IPv6 ones its link-local address.
    let master = [c.routers[0].addr.to_string(), link_local(c.host(0)).to_string()];
    wait_for(STARTUP + Duration::from_secs(5), "every instance settled with r1 as master", || {
        (0..c.routers.len())
            .all(|i| {
                let Some(st) = c.status(i) else { return false };
                let insts = st["instances"].as_array().cloned().unwrap_or_default();
                !insts.is_empty()
                    && insts.iter().all(|inst| {
                        if i == 0 { inst["state"] == "MASTER" } else { inst["state"] == "BACKUP" && inst["master"].as_str().is_some_and(|m| master.iter().any(|x| x == m)) }
                    })
            })
            .then_some(())
    })
    .expect("settled");
}

// ---------------------------------------------------------------------------------------
// VRRPv2 with PASS authentication, and a unicast instance with vrrp_check_unicast_src
// ---------------------------------------------------------------------------------------

const PASS: [u8; 8] = *b"hostile1";
/// The unicast instance's VRID and VIP.
const UVRID: u8 = 52;
const UVIP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 102);

/// Two v2 instances (advert_int 1, `auth_type PASS`): VI_1 (VRID 51, multicast, [`VIP`]) and
/// VI_2 (VRID 52, unicast to the other router, [`UVIP`]), with `vrrp_check_unicast_src`.
fn v2_config(priority: u8, me: Ipv4Addr, peer: Ipv4Addr) -> String {
    let pass = std::str::from_utf8(&PASS).expect("ASCII");
    let auth = format!("    authentication {{\n        auth_type PASS\n        auth_pass {pass}\n    }}\n");
    format!(
        "global_defs {{\n    vrrp_check_unicast_src\n}}\n\n\
         vrrp_instance VI_1 {{\n    state BACKUP\n    interface eth0\n    virtual_router_id {VRID}\n    priority {priority}\n    \
         advert_int 1\n{auth}    virtual_ipaddress {{\n        {VIP}/24\n    }}\n}}\n\n\
         vrrp_instance VI_2 {{\n    state BACKUP\n    interface eth0\n    virtual_router_id {UVRID}\n    priority {priority}\n    \
         advert_int 1\n    unicast_src_ip {me}\n    unicast_peer {{\n        {peer}\n    }}\n{auth}    \
         virtual_ipaddress {{\n        {UVIP}/24\n    }}\n}}\n"
    )
}

fn v2_repr(vrid: u8, priority: u8, auth: vrrp::Auth, adver_int_cs: u16, addresses: &[Ipv4Addr]) -> vrrp::Repr {
    vrrp::Repr { auth, adver_int_cs, ..repr(2, vrid, priority, addresses) }
}

/// The v2 and unicast cases at router `to`.
fn v2_cases(a: &Attack, to: usize) -> Vec<Case> {
    use DropReason as R;
    let me = a.from.addr;
    let both = |e: Expect, f: &dyn Fn(u8) -> Vec<u8>| vec![(f(255), e), (f(0), e)];
    let v2 = |p: u8, auth: vrrp::Auth, int_cs: u16| a.advert(to, me, &v2_repr(VRID, p, auth, int_cs, &[VIP]));
    let target = a.c.routers[to].addr;
    // To the router's own address, as its unicast peer sends.
    let unicast = |src: Ipv4Addr, p: u8| {
        let mut f = wire::vrrp_frame_v4(a.from.mac, src, target, 255, &v2_repr(UVRID, p, vrrp::Auth::Pass(PASS), 100, &[UVIP]), vrrp::ChecksumMode::Plain);
        f[..6].copy_from_slice(&a.c.host(to).mac);
        f
    };
    vec![
        // Priority 255 with the wrong password: "a higher priority with wrong auth".
        Case { vrid: VRID, name: "wrong PASS", frames: both(Expect::Drop(R::AuthPass), &|p| v2(p, vrrp::Auth::Pass(*b"guessed!"), 100)) },
        Case { vrid: VRID, name: "no authentication", frames: both(Expect::Drop(R::AuthType), &|p| v2(p, vrrp::Auth::None, 100)) },
        Case { vrid: VRID, name: "advert_int 2 (ours is 1)", frames: both(Expect::Drop(R::Interval), &|p| v2(p, vrrp::Auth::Pass(PASS), 200)) },
        Case { vrid: VRID, name: "version 3 at a v2 instance", frames: both(Expect::Drop(R::Version), &|p| a.advert(to, me, &repr(3, VRID, p, &[VIP]))) },
        Case { vrid: UVRID, name: "unicast, not a known peer", frames: both(Expect::Drop(R::UnknownPeer), &|p| unicast(me, p)) },
        Case { vrid: UVRID, name: "unicast, source is self", frames: both(Expect::Drop(R::SourceIsSelf), &|p| unicast(target, p)) },
    ]
}

/// VRRPv2 with PASS: a wrong password (priority 255 included), no authentication, another
/// interval, another version; a unicast instance with `vrrp_check_unicast_src` hears only its
/// peer. Each case at the backup and at the master, flooded at the backup.
#[test]
fn crafted_v2_and_unicast_adverts_are_counted_under_their_reason_and_change_nothing() {
    if !require_root("crafted_v2_and_unicast_adverts_are_counted_under_their_reason_and_change_nothing") {
        return;
    }
    let bin = agent_binary().expect("agent binary");
    let spec = ClusterSpec { version: 2, advert_int_cs: 100, priorities: vec![100, 90], agent_args: vec![] };
    let mut c = Cluster::new("hostile-v2", &bin, spec).expect("cluster");
    dumb_switch(&c);
    let addrs: Vec<Ipv4Addr> = c.routers.iter().map(|r| r.addr).collect();
    for i in 0..2 {
        let cfg = v2_config(c.routers[i].priority, addrs[i], addrs[1 - i]);
        c.agents[i] = Some(spawn_agent(&bin, c.host(i), &cfg, &[]).expect("agent"));
    }
    wait_all_settled(&c);
    run_attack(&c, &[VIP, UVIP], &[1, 0], v2_cases, true);
}

// ---------------------------------------------------------------------------------------
// IPv6
// ---------------------------------------------------------------------------------------

const VRID6: u8 = 61;
const LL_VIP: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0x51);
const VIP6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x100);
/// Ethernet + IPv6 offset of the VRRP message.
const VRRP6: usize = 54;

/// An IPv6 instance (VI_6, VRID 61, [`LL_VIP`] and [`VIP6`]) beside an IPv4 one (VI_1, VRID
/// 51, [`VIP`], which the client probes), both v3 at 100 ms.
fn v6_config(priority: u8) -> String {
    format!(
        "global_defs {{\n    vrrp_version 3\n}}\n\n\
         vrrp_instance VI_1 {{\n    state BACKUP\n    interface eth0\n    virtual_router_id {VRID}\n    priority {priority}\n    \
         advert_int 0.1\n    virtual_ipaddress {{\n        {VIP}/24\n    }}\n}}\n\n\
         vrrp_instance VI_6 {{\n    state BACKUP\n    interface eth0\n    virtual_router_id {VRID6}\n    priority {priority}\n    \
         advert_int 0.1\n    virtual_ipaddress {{\n        {LL_VIP}/64\n        {VIP6}/64\n    }}\n}}\n"
    )
}

/// The host's own link-local address (the kernel's, from its MAC; not [`LL_VIP`], which the
/// master holds too): an IPv6 instance's primary address.
fn link_local(host: &Host) -> Ipv6Addr {
    wait_for(Duration::from_secs(5), "a usable link-local address", || {
        ipv6_addrs(host).ok()?.into_iter().find(|a| a.scope == "link" && !a.tentative && !a.dadfailed && a.addr != LL_VIP).map(|a| a.addr)
    })
    .expect("link-local address")
}

/// The IPv6 cases at router `to`: hop limit, checksum, unknown VRID, our own source, a VIP
/// as source.
fn v6_cases(a: &Attack, to: usize) -> Vec<Case> {
    use DropReason as R;
    let me = link_local(a.from);
    let target = link_local(a.c.host(to));
    let both = |e: Expect, f: &dyn Fn(u8) -> Vec<u8>| vec![(f(255), e), (f(0), e)];
    let advert = |src: Ipv6Addr, hop_limit: u8, vrid: u8, p: u8| {
        let r = vrrp::Repr { addresses: vec![IpAddr::V6(LL_VIP), IpAddr::V6(VIP6)], ..repr(3, vrid, p, &[]) };
        let mut f = parity::v6::frame6(src, vrrp::MCAST_V6, hop_limit, &r);
        f[..6].copy_from_slice(&a.c.host(to).mac);
        f[6..12].copy_from_slice(&a.from.mac);
        f
    };
    vec![
        Case { vrid: VRID6, name: "v6 hop limit 64", frames: both(Expect::Drop(R::Ttl), &|p| advert(me, 64, VRID6, p)) },
        Case {
            vrid: VRID6,
            name: "v6 bad checksum",
            frames: both(Expect::Drop(R::Checksum), &|p| {
                let mut f = advert(me, 255, VRID6, p);
                f[VRRP6 + 6] ^= 0x5a;
                f
            }),
        },
        Case { vrid: VRID6, name: "v6 unknown VRID", frames: both(Expect::UnknownVrid, &|p| advert(me, 255, UNKNOWN_VRID, p)) },
        Case { vrid: VRID6, name: "v6 source is the router itself", frames: both(Expect::Drop(R::SourceIsSelf), &|p| advert(target, 255, VRID6, p)) },
        Case { vrid: VRID6, name: "v6 source is the VIP", frames: both(Expect::Drop(R::SourceIsVip), &|p| advert(LL_VIP, 255, VRID6, p)) },
        Case { vrid: VRID6, name: "v6 truncated at every offset", frames: truncations6(&advert(me, 255, VRID6, 255)) },
    ]
}

/// [`truncations`] for IPv6: a valid advert cut short at every offset from the end of the
/// Ethernet header to the end of its VRRP message, then whole with an IPv6 payload length
/// ending at every offset of the VRRP message.
fn truncations6(good: &[u8]) -> Vec<(Vec<u8>, Expect)> {
    let end = VRRP6 + usize::from(u16::from_be_bytes([good[IP + 4], good[IP + 5]]));
    let cut = (IP..end).map(|k| {
        let e = match k {
            _ if k < VRRP6 => Expect::NotVrrp,
            _ if k < VRRP6 + 8 => Expect::TruncatedNoVrid,
            _ => Expect::Drop(DropReason::Truncated),
        };
        (good[..k].to_vec(), e)
    });
    let short = (0..end - VRRP6).map(|j| {
        let mut f = good.to_vec();
        f[IP + 4..IP + 6].copy_from_slice(&(j as u16).to_be_bytes());
        // The VRRP header is still in the frame (after the declared end), so the VRID is read.
        (f, Expect::Drop(DropReason::Truncated))
    });
    cut.chain(short).collect()
}

/// The IPv6 variants of the main cases, at an IPv6 instance beside an IPv4 one.
#[test]
fn crafted_v6_adverts_are_counted_under_their_reason_and_change_nothing() {
    if !require_root("crafted_v6_adverts_are_counted_under_their_reason_and_change_nothing") {
        return;
    }
    let bin = agent_binary().expect("agent binary");
    let spec = ClusterSpec { version: 3, advert_int_cs: 10, priorities: vec![100, 90], agent_args: vec![] };
    let mut c = Cluster::new("hostile-v6", &bin, spec).expect("cluster");
    dumb_switch(&c);
    for i in 0..2 {
        let cfg = v6_config(c.routers[i].priority);
        c.agents[i] = Some(spawn_agent(&bin, c.host(i), &cfg, &[]).expect("agent"));
    }
    wait_all_settled(&c);
    run_attack(&c, &[VIP], &[1, 0], v6_cases, true);
    assert!(has_addr6(c.host(0), VIP6) && !has_addr6(c.host(1), VIP6), "the IPv6 VIP stays on the master");
}

// ---------------------------------------------------------------------------------------
// Valid adverts from a stranger: accepted (no allow-list here), never amplified
// ---------------------------------------------------------------------------------------

/// A multicast instance without a peer allow-list accepts a well-formed advert from anyone
/// on the LAN. Flooded at the master with priority 0 ("the master is leaving": RFC 5798
/// answers with an advert) or a lower priority (a second master: we answer with an advert and
/// re-announce the VIPs), it must not turn each frame into an advert or a log line: at most
/// one answer per advert interval, and the re-assertion logged at most once per
/// `REPORT_EVERY`.
#[test]
fn valid_adverts_from_a_stranger_at_the_master_are_answered_at_most_once_per_interval() {
    if !require_root("valid_adverts_from_a_stranger_at_the_master_are_answered_at_most_once_per_interval") {
        return;
    }
    let bin = agent_binary().expect("agent binary");
    let spec = ClusterSpec { version: 3, advert_int_cs: 10, priorities: vec![100, 90], agent_args: vec![] };
    let mut c = Cluster::start("hostile-valid", &bin, spec).expect("cluster");
    dumb_switch(&c);
    c.wait_settled(0, STARTUP).expect("r1 master, r2 backup");
    let a = Attack { c: &c, from: c.client() };
    let r1 = c.agents[0].as_ref().expect("agent");
    let lines = r1.log_text().lines().count();
    let entries = parse_state_changes(&r1.log_text()).len();
    let t0 = Instant::now();
    for priority in [0u8, 50] {
        let frames = vec![a.advert(0, a.from.addr, &repr(3, VRID, priority, &[VIP]))];
        let inst = |st: &serde_json::Value, k: &str| st["instances"][0][k].as_u64().unwrap_or(0);
        let before = r1.status_json();
        let t = Instant::now();
        let judge = |_: &[u8]| Reply::Other;
        let sent = Flood { frames: &frames, ethertype: vrrp_tests::hostile::SEND_ONLY, max_frames: FLOOD_MAX, max_time: FLOOD_TIME, judge: &judge }
            .run(a.from)
            .expect("the flood");
        let after = wait_for(COUNTED, "the flood accepted", || {
            let st = r1.status_json();
            (inst(&st, "adverts_accepted") - inst(&before, "adverts_accepted") + sent.refused >= sent.sent).then_some(st)
        })
        .expect("accepted");
        let elapsed = t.elapsed();
        let tx = inst(&after, "adverts_tx") - inst(&before, "adverts_tx");
        // Its own schedule plus at most one answer per interval, each over the time elapsed
        // (rounded up), and one of each for the interval under way at either end.
        let intervals = (elapsed.as_micros() / c.spec.interval().as_micros()) as u64 + 1;
        let bound = 2 * (intervals + 1);
        eprintln!(
            "priority {priority}: {} valid adverts in {:.2} s ({:.0}/s) → {tx} adverts sent in {:.2} s (at most {bound})",
            sent.sent,
            sent.secs,
            sent.rate(),
            elapsed.as_secs_f64()
        );
        assert!(tx <= bound, "priority {priority}: {tx} adverts sent in {:.2} s for {} forged ones: more than {bound}", elapsed.as_secs_f64(), sent.sent);
    }
    let log = r1.log_text();
    assert_eq!(parse_state_changes(&log).len(), entries, "the master stays master");
    let new: Vec<&str> = log.lines().skip(lines).collect();
    let ticks = (t0.elapsed().as_secs_f64() / REPORT_EVERY.as_secs_f64()).ceil() as usize + 1;
    assert!(new.len() <= ticks, "{} lines logged in {:.1} s (at most {ticks}):\n{}", new.len(), t0.elapsed().as_secs_f64(), new.join("\n"));
    assert_unmoved(&c, &[VIP]);
}
