//! Figure 1: the per-packet cost of the real XDP object in the kernel (BPF_PROG_TEST_RUN),
//! for each kind of frame, next to the object's pass-only program (the floor): ns/packet and
//! the ratio to the floor, median of several batches, every batch in the samples.
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use anyhow::{Context, Result, bail};
use serde_json::json;
use vrrp_agent::{
    dataplane::{Dataplane, KernelLogLevel},
    wire::{self, arp, checksum, vrrp},
};
use vrrp_common::{AF_INET, AF_INET6, DropReason, GlobalStats, VipKey, VipValue, VridConfig, VridKey, flags, names, state};
use vrrp_tests::report::{Chart, Section, Table};

use crate::Ctx;

const IFINDEX: u32 = 1;
const MAC: [u8; 6] = [0x02, 0, 0x5e, 0x10, 0, 1];
const PEER_MAC: [u8; 6] = [0x02, 0, 0x5e, 0x10, 0, 2];
const US: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const PEER: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
const STRANGER: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 3);
const VIP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 100);
const VIP2: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 101);
const PASS: [u8; 8] = *b"benchpw!";
// The instances on ifindex 1 (lo, which exists in every namespace).
const V2: u8 = 51;
const V3: u8 = 52;
const UNICAST: u8 = 53;
const V3_8: u8 = 54;
const V3_255: u8 = 55;
const V6: u8 = 61;

const XDP_DROP: u32 = 1;
const XDP_PASS: u32 = 2;
const XDP_TX: u32 = 3;

fn action_name(a: u32) -> &'static str {
    match a {
        0 => "ABORTED",
        XDP_DROP => "DROP",
        XDP_PASS => "PASS",
        XDP_TX => "TX",
        4 => "REDIRECT",
        _ => "?",
    }
}

/// How a row is timed.
#[derive(Clone, Copy, PartialEq)]
enum Method {
    /// One syscall runs the program `repeat` times on the same buffer; the kernel's mean.
    Repeat,
    /// One run per syscall (the program rewrites the frame in place with XDP_TX, so a repeat
    /// would time the rewritten frame): the median of each batch's single runs.
    Single,
}

struct Plan {
    batches: usize,
    repeat: u32,
    singles: usize,
}

/// Per-batch ns/packet of `program` on `frame`.
fn batches(dp: &Dataplane, plan: &Plan, program: &'static str, frame: &[u8], method: Method) -> Result<(u32, Vec<f64>)> {
    let mut out = Vec::with_capacity(plan.batches);
    let mut action = 0;
    for _ in 0..plan.batches {
        match method {
            Method::Repeat => {
                let (a, _, d) = dp.test_run_program(program, frame, IFINDEX, plan.repeat).with_context(|| format!("BPF_PROG_TEST_RUN of {program}"))?;
                action = a;
                // The kernel's mean per run (whole ns).
                out.push(d.as_nanos() as f64);
            }
            Method::Single => {
                let mut runs = Vec::with_capacity(plan.singles);
                for _ in 0..plan.singles {
                    let (a, _, d) = dp.test_run_program(program, frame, IFINDEX, 1).with_context(|| format!("BPF_PROG_TEST_RUN of {program}"))?;
                    action = a;
                    runs.push(d.as_nanos() as f64);
                }
                out.push(median(&mut runs));
            }
        }
    }
    Ok((action, out))
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() { f64::NAN } else { v[v.len() / 2] }
}

/// The instances every row's frame is judged against (the same kinds the dataplane and
/// validator-parity tests configure).
fn setup(dp: &mut Dataplane) -> Result<()> {
    let key = |vrid: u8| VridKey { ifindex: IFINDEX, vrid: u16::from(vrid), family: AF_INET };
    let base = VridConfig { version: 2, adver_int_cs: 100, state: state::BACKUP, priority: 100, primary_v4: US.octets(), ..VridConfig::default() };
    let v3 = VridConfig { version: 3, ..base }.without_auth();
    let ours = [VIP.octets(), VIP2.octets()];
    let eight: Vec<[u8; 4]> = (1..=8).map(|i| [198, 18, 1, i]).collect();
    let many: Vec<[u8; 4]> = (0..255u32).map(|i| (u32::from(Ipv4Addr::new(198, 18, 2, 0)) + i).to_be_bytes()).collect();
    // (VRID, config, advertised addresses, unicast peers)
    type Instance<'a> = (u8, VridConfig, &'a [[u8; 4]], &'a [[u8; 4]]);
    let instances: [Instance<'_>; 5] = [
        (V2, base.with_pass(PASS), &ours, &[]),
        (V3, v3, &ours, &[]),
        (UNICAST, VridConfig { flags: flags::UNICAST | flags::PEER_ALLOW_LIST, ..v3 }, &ours, &[PEER.octets()]),
        (V3_8, v3, &eight, &[]),
        (V3_255, v3, &many, &[]),
    ];
    for (vrid, cfg, addrs, peers) in instances {
        dp.set_vrid_addrs(key(vrid), addrs, &[], peers).context("instance addresses")?;
        dp.init_vrid(key(vrid), VridConfig { count_addrs: addrs.len() as u32, ..cfg }).context("instance config")?;
    }
    dp.own_vip(VipKey { ifindex: IFINDEX, addr_v4: VIP.octets() }, VipValue::new(MAC, V2)).context("owned VIP")?;
    let k6 = VridKey { ifindex: IFINDEX, vrid: u16::from(V6), family: AF_INET6 };
    let cfg6 = VridConfig { version: 3, adver_int_cs: 100, state: state::BACKUP, priority: 100, count_addrs: 2, ..VridConfig::default() };
    dp.set_vrid_addrs_v6(k6, &[LL_VIP6.octets(), VIP6.octets()], &[], &[]).context("IPv6 instance addresses")?;
    dp.init_vrid(k6, cfg6).context("IPv6 instance config")?;
    dp.own_ip(IFINDEX, IpAddr::V6(VIP6), VipValue::new(MAC, V6)).context("owned IPv6 VIP")?;
    Ok(())
}

const VIP6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x100);
const LL_VIP6: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0x100);
const PEER6: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 2);

fn advert(vrid: u8) -> vrrp::Repr {
    let v2 = vrid == V2;
    vrrp::Repr {
        version: if v2 { vrrp::Version::V2 } else { vrrp::Version::V3 },
        vrid,
        priority: 150,
        adver_int_cs: 100,
        auth: if v2 { vrrp::Auth::Pass(PASS) } else { vrrp::Auth::None },
        addresses: vec![IpAddr::V4(VIP), IpAddr::V4(VIP2)],
    }
}

fn frame(src: Ipv4Addr, dst: Ipv4Addr, ttl: u8, r: &vrrp::Repr) -> Vec<u8> {
    let mode = if r.version == vrrp::Version::V3 { vrrp::ChecksumMode::PseudoHeader } else { vrrp::ChecksumMode::Plain };
    wire::vrrp_frame_v4(PEER_MAC, src, dst, ttl, r, mode)
}

fn good(vrid: u8) -> Vec<u8> {
    let dst = if vrid == UNICAST { US } else { vrrp::MCAST_V4 };
    frame(PEER, dst, 255, &advert(vrid))
}

fn fix_ip(f: &mut [u8]) {
    f[24..26].copy_from_slice(&[0, 0]);
    let c = checksum::fold(checksum::ones_complement_sum(&f[14..34], 0));
    f[24..26].copy_from_slice(&c.to_be_bytes());
}

/// The VRRP checksum as a v2 message has it (no pseudo-header; v3 accepts either).
fn fix_vrrp(f: &mut [u8]) {
    let end = 14 + usize::from(u16::from_be_bytes([f[16], f[17]]));
    f[40..42].copy_from_slice(&[0, 0]);
    let c = checksum::fold(checksum::ones_complement_sum(&f[34..end], 0));
    f[40..42].copy_from_slice(&c.to_be_bytes());
}

fn edit(mut f: Vec<u8>, e: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    e(&mut f);
    f
}

/// A frame that fails exactly `reason`'s check (and none before it), or why there is none.
/// The match is exhaustive: a new reason in vrrp_common's list does not compile until it has
/// a frame here (or a stated reason why BPF_PROG_TEST_RUN cannot reach it).
fn drop_frame(reason: DropReason) -> std::result::Result<(&'static str, Vec<u8>), &'static str> {
    use DropReason as R;
    Ok(match reason {
        R::Ttl => ("VRRPv3, TTL 254", edit(good(V3), |f| { f[22] = 254; fix_ip(f) })),
        R::Version => ("version 3 to a v2 instance", edit(good(V2), |f| { f[34] = 0x31; fix_vrrp(f) })),
        R::Type => ("VRRP type 2", edit(good(V3), |f| { f[34] = 0x32; fix_vrrp(f) })),
        R::Truncated => ("VRRP header cut short", good(V3)[..38].to_vec()),
        R::Checksum => ("bad VRRP checksum", edit(good(V3), |f| f[41] ^= 1)),
        R::AuthType => ("auth type 0 to a PASS instance", edit(good(V2), |f| { f[38] = 0; fix_vrrp(f) })),
        R::AuthPass => ("wrong password", edit(good(V2), |f| { f[50] ^= 0x20; fix_vrrp(f) })),
        R::Interval => ("VRRPv2 interval 2 s, ours 1 s", edit(good(V2), |f| { f[39] = 2; fix_vrrp(f) })),
        R::BadInterval => ("VRRPv3 interval 0", edit(good(V3), |f| { f[38] = 0; f[39] = 0; fix_vrrp(f) })),
        R::IpChecksum => ("bad IPv4 header checksum", edit(good(V3), |f| f[24] ^= 0x40)),
        R::Length => ("count 1, 3 addresses sent", {
            let mut three = advert(V3);
            three.addresses.push(IpAddr::V4(Ipv4Addr::new(198, 18, 0, 102)));
            edit(frame(PEER, vrrp::MCAST_V4, 255, &three), |f| { f[37] = 1; fix_vrrp(f) })
        }),
        R::AddrCountZero => ("address count 0", edit(good(V3), |f| { f[37] = 0; fix_vrrp(f) })),
        R::WrongDestination => ("multicast instance, to another group", frame(PEER, Ipv4Addr::new(224, 0, 0, 5), 255, &advert(V3))),
        R::MulticastToUnicast => ("to 224.0.0.18 for a unicast instance", frame(PEER, vrrp::MCAST_V4, 255, &advert(UNICAST))),
        R::UnicastToMulticast => ("unicast to a multicast instance", frame(PEER, US, 255, &advert(V3))),
        R::MartianSource => ("source 127.0.0.1", frame(Ipv4Addr::LOCALHOST, vrrp::MCAST_V4, 255, &advert(V3))),
        R::SourceIsVip => ("source is one of our VIPs", frame(VIP, vrrp::MCAST_V4, 255, &advert(V3))),
        R::SourceIsSelf => ("source is our primary address", frame(US, vrrp::MCAST_V4, 255, &advert(V3))),
        R::UnknownPeer => ("unicast from a host not in unicast_peer", frame(STRANGER, US, 255, &advert(UNICAST))),
        R::AddrList => ("address list differs (one address not ours)", {
            let mut other = advert(V3);
            other.addresses[1] = IpAddr::V4(Ipv4Addr::new(198, 18, 0, 102));
            frame(PEER, vrrp::MCAST_V4, 255, &other)
        }),
    })
}

/// A TCP segment (SYN, 20-byte header, `payload` bytes) in IPv4 or IPv6 in Ethernet.
fn tcp_frame(v6: bool, payload: usize) -> Vec<u8> {
    let mut tcp = vec![0u8; 20 + payload];
    tcp[0..2].copy_from_slice(&40000u16.to_be_bytes());
    tcp[2..4].copy_from_slice(&443u16.to_be_bytes());
    tcp[12] = 5 << 4;
    tcp[13] = 0x02;
    tcp[14..16].copy_from_slice(&64240u16.to_be_bytes());
    let mut f = MAC.to_vec();
    f.extend_from_slice(&PEER_MAC);
    if v6 {
        let (src, dst) = (Ipv6Addr::new(0x2001, 0xdb8, 0, 1, 0, 0, 0, 2), Ipv6Addr::new(0x2001, 0xdb8, 0, 2, 0, 0, 0, 2));
        let c = checksum::fold(checksum::ones_complement_sum(&tcp, checksum::pseudo_header_v6(src, dst, 6, tcp.len() as u32)));
        tcp[16..18].copy_from_slice(&c.to_be_bytes());
        f.extend_from_slice(&[0x86, 0xdd, 0x60, 0, 0, 0]);
        f.extend_from_slice(&(tcp.len() as u16).to_be_bytes());
        f.extend_from_slice(&[6, 64]);
        f.extend_from_slice(&src.octets());
        f.extend_from_slice(&dst.octets());
    } else {
        let (src, dst) = (Ipv4Addr::new(198, 19, 1, 2), Ipv4Addr::new(198, 19, 2, 2));
        let c = checksum::fold(checksum::ones_complement_sum(&tcp, checksum::pseudo_header_v4(src, dst, 6, tcp.len() as u16)));
        tcp[16..18].copy_from_slice(&c.to_be_bytes());
        f.extend_from_slice(&[0x08, 0x00, 0x45, 0]);
        f.extend_from_slice(&((20 + tcp.len()) as u16).to_be_bytes());
        f.extend_from_slice(&[0, 0, 0x40, 0, 64, 6, 0, 0]);
        f.extend_from_slice(&src.octets());
        f.extend_from_slice(&dst.octets());
        fix_ip(&mut f);
    }
    f.extend_from_slice(&tcp);
    f
}

fn ipv6_frame(dst_mac: [u8; 6], next: u8, src: Ipv6Addr, dst: Ipv6Addr, payload: &[u8]) -> Vec<u8> {
    let mut f = dst_mac.to_vec();
    f.extend_from_slice(&PEER_MAC);
    f.extend_from_slice(&[0x86, 0xdd, 0x60, 0, 0, 0]);
    f.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    f.extend_from_slice(&[next, 255]);
    f.extend_from_slice(&src.octets());
    f.extend_from_slice(&dst.octets());
    f.extend_from_slice(payload);
    f
}

/// A VRRPv3/IPv6 advert for the IPv6 instance.
fn v6_advert() -> Vec<u8> {
    let r = vrrp::Repr { version: vrrp::Version::V3, vrid: V6, priority: 150, adver_int_cs: 100, auth: vrrp::Auth::None, addresses: vec![IpAddr::V6(LL_VIP6), IpAddr::V6(VIP6)] };
    let msg = r.to_bytes(&vrrp::Carrier { src: PEER6.into(), dst: vrrp::MCAST_V6.into() }, vrrp::ChecksumMode::PseudoHeader);
    ipv6_frame([0x33, 0x33, 0, 0, 0, 0x12], 112, PEER6, vrrp::MCAST_V6, &msg)
}

/// A neighbour solicitation for the owned IPv6 VIP, to its solicited-node group.
fn ns_for_vip() -> Vec<u8> {
    let o = VIP6.octets();
    let snm = Ipv6Addr::from([0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, o[13], o[14], o[15]]);
    let mut ns = vec![135, 0, 0, 0, 0, 0, 0, 0];
    ns.extend_from_slice(&o);
    ns.extend_from_slice(&[1, 1]);
    ns.extend_from_slice(&PEER_MAC);
    let c = checksum::fold(checksum::ones_complement_sum(&ns, checksum::pseudo_header_v6(PEER6, snm, 58, ns.len() as u32)));
    ns[2..4].copy_from_slice(&c.to_be_bytes());
    ipv6_frame([0x33, 0x33, 0xff, o[13], o[14], o[15]], 58, PEER6, snm, &ns)
}

/// One row to measure.
struct Case {
    group: &'static str,
    what: String,
    frame: Vec<u8>,
    method: Method,
    /// The action the row is about (a frame that gets another is reported, not timed).
    expect: u32,
    /// For drop rows: the reason whose counter must move.
    reason: Option<DropReason>,
    trace: bool,
}

fn case(group: &'static str, what: impl Into<String>, frame: Vec<u8>, expect: u32) -> Case {
    Case { group, what: what.into(), frame, method: Method::Repeat, expect, reason: None, trace: false }
}

fn cases() -> (Vec<Case>, Vec<(DropReason, &'static str)>) {
    let mut v = vec![
        case("accepted", "VRRPv2 advert, PASS auth, 2 addresses", good(V2), XDP_DROP),
        case("accepted", "VRRPv3/IPv4 advert, 2 addresses", good(V3), XDP_DROP),
        case("accepted", "VRRPv3/IPv4 advert, 8 addresses", frame(PEER, vrrp::MCAST_V4, 255, &vrrp::Repr {
            vrid: V3_8,
            addresses: (1..=8).map(|i| IpAddr::V4(Ipv4Addr::new(198, 18, 1, i))).collect(),
            ..advert(V3)
        }), XDP_DROP),
        case("accepted", "VRRPv3/IPv4 advert, 255 addresses (list checked)", frame(PEER, vrrp::MCAST_V4, 255, &vrrp::Repr {
            vrid: V3_255,
            addresses: (0..255u32).map(|i| IpAddr::V4(Ipv4Addr::from(u32::from(Ipv4Addr::new(198, 18, 2, 0)) + i))).collect(),
            ..advert(V3)
        }), XDP_DROP),
        case("accepted", "VRRPv3/IPv6 advert, 2 addresses", v6_advert(), XDP_DROP),
    ];
    let mut unreachable = Vec::new();
    for reason in DropReason::ALL {
        match drop_frame(*reason) {
            Ok((what, f)) => v.push(Case { reason: Some(*reason), ..case("dropped", format!("{}: {what}", reason.counter_name()), f, XDP_DROP) }),
            Err(why) => unreachable.push((*reason, why)),
        }
    }
    v.extend([
        Case { method: Method::Single, ..case("answered", "ARP request for an owned VIP, reply built in place", arp::request_frame(PEER_MAC, PEER, VIP), XDP_TX) },
        Case { method: Method::Single, ..case("answered", "IPv6 NS for an owned VIP, NA built in place", ns_for_vip(), XDP_TX) },
        case("passed", "ARP request for another host", arp::request_frame(PEER_MAC, PEER, Ipv4Addr::new(198, 18, 0, 9)), XDP_PASS),
        case("passed", "VRRP for an unknown VRID", { let mut r = advert(V3); r.vrid = 99; frame(PEER, vrrp::MCAST_V4, 255, &r) }, XDP_PASS),
        case("passed", "IPv4 TCP (SYN, 64-byte payload)", tcp_frame(false, 64), XDP_PASS),
        case("passed", "IPv6 TCP (SYN, 64-byte payload)", tcp_frame(true, 64), XDP_PASS),
        Case { trace: true, ..case("tracing on", "VRRPv2 advert, accepted, traced", good(V2), XDP_DROP) },
        Case { trace: true, ..case("tracing on", "ARP request for another host, traced", arp::request_frame(PEER_MAC, PEER, Ipv4Addr::new(198, 18, 0, 9)), XDP_PASS) },
    ]);
    (v, unreachable)
}

/// The drop reasons whose counters moved for one run of `frame`.
fn reasons_for(dp: &Dataplane, frame: &[u8]) -> Result<(u32, Vec<DropReason>)> {
    let before: GlobalStats = dp.global_stats().context("reading the global counters")?;
    let (action, _) = dp.test_run(frame, IFINDEX).context("BPF_PROG_TEST_RUN")?;
    let after = dp.global_stats().context("reading the global counters")?;
    Ok((action, DropReason::ALL.iter().copied().filter(|r| after.drop_count(*r) != before.drop_count(*r)).collect()))
}

pub fn run(ctx: &Ctx) -> Result<Section> {
    let plan = if ctx.quick {
        Plan { batches: 5, repeat: 20_000, singles: 400 }
    } else {
        Plan { batches: 9, repeat: 200_000, singles: 2_000 }
    };
    ctx.progress("xdp: loading the real object (unpinned) and configuring instances on lo");
    let mut dp = Dataplane::load_unpinned(KernelLogLevel::Off).context("loading the XDP object")?;
    setup(&mut dp)?;
    let (cases, unreachable) = cases();

    let mut table = Table::new(
        format!(
            "XDP cost per packet, ns (BPF_PROG_TEST_RUN on lo; median of {} batches; floor = the object's pass-only program on the same frame)",
            plan.batches
        ),
        &["kind", "frame", "action", "ns/packet", "batch range", "floor", "× floor", "over floor"],
    );
    let mut bars = Vec::new();
    let mut floors = Vec::new();
    let mut samples = Vec::new();
    let mut notes = Vec::new();
    let events_before = dp.drain_events().len();
    for (i, c) in cases.iter().enumerate() {
        ctx.progress(format!("xdp: [{}/{}] {}", i + 1, cases.len(), c.what));
        dp.set_trace(c.trace).context("setting the trace switch")?;
        // What the frame does, checked once before it is timed.
        let (action, moved) = reasons_for(&dp, &c.frame)?;
        let wrong = if action != c.expect {
            Some(format!("got XDP_{} instead of XDP_{}", action_name(action), action_name(c.expect)))
        } else if let Some(r) = c.reason {
            (moved != [r]).then(|| format!("drop counters moved: {moved:?}, not just {}", r.counter_name()))
        } else {
            None
        };
        if let Some(w) = wrong {
            notes.push(format!("{}: not timed, the frame did not reach what the row is about ({w})", c.what));
            table.row(vec![c.group.into(), c.what.clone(), action_name(action).into(), "not reached".into(), String::new(), String::new(), String::new(), String::new()]);
            samples.push(json!({ "kind": c.group, "frame": c.what, "action": action_name(action), "error": w }));
            continue;
        }
        let (_, ns) = batches(&dp, &plan, names::PROGRAM, &c.frame, c.method)?;
        let (_, floor) = batches(&dp, &plan, names::PASS_PROGRAM, &c.frame, c.method)?;
        let (med, fmed) = (median(&mut ns.clone()), median(&mut floor.clone()));
        let (lo, hi) = ns.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(*v), b.max(*v)));
        let what = if c.method == Method::Single { format!("{} (single runs)", c.what) } else { c.what.clone() };
        table.row(vec![
            c.group.into(),
            what.clone(),
            action_name(action).into(),
            format!("{med:.1}"),
            format!("{lo:.1}–{hi:.1}"),
            format!("{fmed:.1}"),
            format!("{:.1}", med / fmed),
            format!("{:+.1}", med - fmed),
        ]);
        bars.push((what, med));
        if c.method == Method::Repeat {
            floors.push(fmed);
        }
        samples.push(json!({
            "kind": c.group,
            "frame": c.what,
            "frame_bytes": c.frame.len(),
            "action": action_name(action),
            "method": if c.method == Method::Single { "single" } else { "repeat" },
            "runs_per_batch": if c.method == Method::Single { plan.singles as u64 } else { u64::from(plan.repeat) },
            "ns_per_packet_batches": ns,
            "floor_ns_per_packet_batches": floor,
            "trace": c.trace,
        }));
    }
    dp.set_trace(false).context("tracing off")?;
    if !floors.is_empty() {
        bars.insert(0, ("floor: the pass-only program (median over the rows)".to_string(), median(&mut floors)));
    }
    let _ = dp.drain_trace();
    for (r, why) in &unreachable {
        table.row(vec!["dropped".into(), r.counter_name().to_string(), "-".into(), "not reachable".into(), (*why).into(), String::new(), String::new(), String::new()]);
    }
    let accepted_runs = cases.iter().filter(|c| c.group == "accepted").count() as u64 * plan.batches as u64 * u64::from(plan.repeat);
    let wakeups = dp.drain_events().len() + events_before;
    notes.push(format!(
        "agent wake-ups (ring-buffer events) for the ~{accepted_runs} accepted adverts above: {wakeups} (XDP wakes the agent only for adverts that can change a decision)"
    ));
    if ns_missing(&table) {
        bail!("no row could be timed");
    }
    let mut s = Section::new(
        "xdp",
        "Figure 1: XDP per-packet cost",
        format!(
            "The real XDP object is loaded unpinned (not attached) and run in the kernel with BPF_PROG_TEST_RUN on forged frames \
             as if they arrived on lo, against instances configured in its maps (VRRPv2 with PASS auth, VRRPv3 over IPv4 and IPv6, \
             a unicast instance with unicast_peer checks, 8 and 255 addresses, owned IPv4 and IPv6 VIPs). Each frame is first run \
             once to check it gets the action (and, for drops, moves exactly the drop counter) its row is about. Then \
             {} batches of {} runs in one syscall each (the kernel's total time / runs), and the median batch; the floor is the same \
             object's pass-only program ({}) timed the same way on the same frame. One drop row per reason in vrrp_common's \
             DropReason list. Frames that XDP_TX rewrites in place (ARP reply, NA) are timed one run per syscall ({} runs per batch, \
             the batch's median), because with repeat the kernel would rerun the program on the already rewritten buffer and time a \
             reply instead of a request; single runs include the kernel's timer overhead, so their floor is timed the same way and \
             their ratio to it understates the cost. Tracing rows: `vrrp-agent trace on`; the ring buffer is not drained during the \
             batch, so most reports find it full (the agent drains it in a real run).",
            plan.batches, plan.repeat, names::PASS_PROGRAM, plan.singles
        ),
    );
    s.tables.push(table);
    s.charts.push(Chart::Bars { file: "xdp-per-packet.png".into(), title: "XDP cost per packet (BPF_PROG_TEST_RUN, median batch)".into(), unit: "ns/packet".into(), bars });
    s.notes = notes;
    s.samples = json!({ "batches": plan.batches, "repeat": plan.repeat, "singles": plan.singles, "rows": samples });
    Ok(s)
}

fn ns_missing(t: &Table) -> bool {
    t.rows.iter().all(|r| r.get(3).is_some_and(|c| c.starts_with("not")))
}
