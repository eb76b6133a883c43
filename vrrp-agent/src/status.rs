//! `vrrp-agent status`: each instance's state and counters, read from the pinned maps (the
//! same ones an on-call engineer dumps with bpftool), so it works without talking to the
//! agent and shows the last known state even if the agent was killed.
use std::{net::Ipv4Addr, path::Path};

use anyhow::Context as _;
use aya::maps::{HashMap, MapData, PerCpuArray, PerCpuHashMap};
use serde::Serialize;
use vrrp_common::{AdvertRecord, GlobalStats, InstanceStatus, VridKey, VridStats, names, state};

use crate::dataplane::{open_pinned, sum_global, sum_vrid};

#[derive(Debug, Serialize)]
pub struct InstanceView {
    pub name: String,
    pub ifindex: u32,
    pub interface: Option<String>,
    pub vrid: u16,
    pub state: &'static str,
    pub priority: u32,
    pub base_priority: u32,
    pub master: Option<Ipv4Addr>,
    pub adver_int_cs: u32,
    pub master_down_interval_us: u32,
    pub transitions: u32,
    pub agent_pid: u32,
    pub agent_running: bool,
    pub last_advert: Option<AdvertView>,
    pub adverts_rx: u64,
    pub adverts_accepted: u64,
    pub adverts_dropped: u64,
    pub v3_checksum_pseudo: u64,
    pub v3_checksum_plain: u64,
    pub agent_wakeups: u64,
    pub arp_replies: u64,
    /// ARP frames from another MAC claiming one of this instance's VIPs.
    pub vip_conflicts: u64,
}

#[derive(Debug, Serialize)]
pub struct AdvertView {
    pub src: Ipv4Addr,
    pub priority: u32,
    pub adver_int_cs: u32,
    /// How many addresses the advert listed.
    pub addresses: u32,
    pub age_ms: u64,
}

#[derive(Debug, Serialize)]
pub struct StatusView {
    pub instances: Vec<InstanceView>,
    pub counters: std::collections::BTreeMap<&'static str, u64>,
}

pub fn state_name(s: u32) -> &'static str {
    match s {
        state::INIT => "INIT",
        state::BACKUP => "BACKUP",
        state::MASTER => "MASTER",
        state::FAULT => "FAULT",
        _ => "UNKNOWN",
    }
}

fn pid_alive(pid: u32) -> bool {
    // SAFETY: signal 0 only checks for existence.
    pid != 0 && unsafe { libc::kill(pid as i32, 0) } == 0
}

pub fn collect(dir: &Path) -> anyhow::Result<StatusView> {
    let hint = || format!("reading pinned maps in {} (is a vrrp-agent running with --bpffs {}?)", dir.display(), dir.display());
    let status: HashMap<MapData, VridKey, InstanceStatus> =
        HashMap::try_from(open_pinned(dir, names::INSTANCE_STATUS).with_context(hint)?)?;
    let stats: PerCpuHashMap<MapData, VridKey, VridStats> =
        PerCpuHashMap::try_from(open_pinned(dir, names::VRID_STATS).with_context(hint)?)?;
    let records: HashMap<MapData, VridKey, AdvertRecord> =
        HashMap::try_from(open_pinned(dir, names::ADVERT_RECORD).with_context(hint)?)?;
    let global: PerCpuArray<MapData, GlobalStats> =
        PerCpuArray::try_from(open_pinned(dir, names::GLOBAL_STATS).with_context(hint)?)?;
    let now = crate::clock::now_ns();
    let mut instances = Vec::new();
    for item in status.iter() {
        let (key, st) = item?;
        let s = stats.get(&key, 0).map(|v| sum_vrid(&v)).unwrap_or_default();
        let last_advert = records.get(&key, 0).ok().filter(|r| r.ts_ns != 0).map(|r| AdvertView {
            src: Ipv4Addr::from(r.src_v4),
            priority: r.priority,
            adver_int_cs: r.adver_int_cs,
            addresses: r.count_addrs,
            age_ms: now.saturating_sub(r.ts_ns) / 1_000_000,
        });
        instances.push(InstanceView {
            name: st.name().to_string(),
            ifindex: key.ifindex,
            interface: Some(st.ifname().to_string()).filter(|n| !n.is_empty()),
            vrid: key.vrid,
            state: state_name(st.state),
            priority: st.priority,
            base_priority: st.base_priority,
            master: (st.master_v4 != [0; 4]).then(|| Ipv4Addr::from(st.master_v4)),
            adver_int_cs: st.adver_int_cs,
            master_down_interval_us: st.master_down_interval_us,
            transitions: st.transitions,
            agent_pid: st.pid,
            agent_running: pid_alive(st.pid),
            last_advert,
            adverts_rx: s.rx,
            adverts_accepted: s.accepted,
            adverts_dropped: s.dropped,
            v3_checksum_pseudo: s.v3_csum_pseudo,
            v3_checksum_plain: s.v3_csum_plain,
            agent_wakeups: s.events,
            arp_replies: s.arp_replies,
            vip_conflicts: s.vip_conflict,
        });
    }
    instances.sort_by(|a, b| a.name.cmp(&b.name));
    let g = global.get(&0, 0).map(|v| sum_global(&v)).unwrap_or_default();
    // Every GlobalStats field is a u64 counter, named in COUNTER_NAMES (one list, in
    // vrrp-common, for the XDP program, the slow path and this view).
    let counters = GlobalStats::COUNTER_NAMES
        .iter()
        .copied()
        .zip(bytemuck::cast_slice::<GlobalStats, u64>(std::slice::from_ref(&g)).iter().copied())
    .collect();
    Ok(StatusView { instances, counters })
}

pub fn print(view: &StatusView) {
    if view.instances.is_empty() {
        println!("no instances");
    }
    for i in &view.instances {
        let iface = i.interface.clone().unwrap_or_else(|| format!("ifindex {}", i.ifindex));
        println!(
            "{} {} vrid {}: {} priority {} (base {}), master {}, master down interval {:.3} ms{}",
            i.name,
            iface,
            i.vrid,
            i.state,
            i.priority,
            i.base_priority,
            i.master.map(|a| a.to_string()).unwrap_or_else(|| "unknown".into()),
            f64::from(i.master_down_interval_us) / 1000.0,
            if i.agent_running { String::new() } else { format!(" [agent pid {} not running: state is stale]", i.agent_pid) },
        );
        println!(
            "    adverts: {} received, {} accepted, {} dropped, {} woke the agent; ARP replies {}, VIP conflicts {}",
            i.adverts_rx, i.adverts_accepted, i.adverts_dropped, i.agent_wakeups, i.arp_replies, i.vip_conflicts
        );
        if let Some(a) = &i.last_advert {
            println!("    last advert: from {} priority {} interval {} cs, {} ms ago", a.src, a.priority, a.adver_int_cs, a.age_ms);
        }
    }
    let nonzero: Vec<String> = view.counters.iter().filter(|(_, v)| **v != 0).map(|(k, v)| format!("{k}={v}")).collect();
    println!("counters: {}", if nonzero.is_empty() { "all zero".to_string() } else { nonzero.join(" ") });
}
