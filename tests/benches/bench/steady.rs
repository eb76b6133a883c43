//! Figure 3: steady state, ours and keepalived's: CPU per minute of each daemon, wake-ups per
//! received advert, and how late adverts leave.
use std::{net::Ipv4Addr, time::{Duration, Instant}};

use anyhow::Result;
use vrrp_tests::{has_addr, lan, spawn_agent, wait_for};

use vrrp_tests::report::Section;

use crate::{Ctx, measure::proc_stat};

const VIP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 100);

fn steady_state(bin: &std::path::Path) {
    let lan = lan("bench", &[("m", Ipv4Addr::new(198, 18, 0, 1)), ("b", Ipv4Addr::new(198, 18, 0, 2))]).expect("lan");
    let conf = |prio: u8| format!(
        "vrrp_instance VI_1 {{\n state BACKUP\n interface eth0\n virtual_router_id 51\n priority {prio}\n \
         version 3\n advert_int 0.01\n virtual_ipaddress {{\n  {VIP}/24\n }}\n}}\n");
    let master = spawn_agent(bin, lan.host("m"), &conf(200), &[]).expect("spawn master");
    let backup = spawn_agent(bin, lan.host("b"), &conf(100), &[]).expect("spawn backup");
    wait_for(Duration::from_secs(5), "the master", || (has_addr(lan.host("m"), VIP) && !has_addr(lan.host("b"), VIP)).then_some(()))
        .expect("election");
    let status = |a: &vrrp_tests::Agent| -> serde_json::Value {
        let out = std::process::Command::new(bin).args(["status", "--json", "--bpffs"]).arg(&a.bpffs).output().expect("status");
        serde_json::from_slice(&out.stdout).unwrap_or_default()
    };
    let secs = 10.0;
    let s0 = status(&backup);
    let (b_cpu0, _) = proc_stat(backup.pid).expect("backup stat");
    let (m_cpu0, _) = proc_stat(master.pid).expect("master stat");
    let t0 = Instant::now();
    wait_for(Duration::from_secs_f64(secs + 1.0), "the measuring window", || (t0.elapsed().as_secs_f64() >= secs).then_some(())).expect("window");
    let el = t0.elapsed().as_secs_f64();
    let (b_cpu1, b_rss) = proc_stat(backup.pid).expect("backup stat");
    let (m_cpu1, m_rss) = proc_stat(master.pid).expect("master stat");
    let s1 = status(&backup);
    let n = |v: &serde_json::Value, k: &str| v["instances"][0][k].as_u64().unwrap_or(0);
    let adverts = n(&s1, "adverts_accepted") - n(&s0, "adverts_accepted");
    let wakeups = n(&s1, "agent_wakeups") - n(&s0, "agent_wakeups");
    println!("agent in steady state, VRRPv3 advert_int 10 ms (100 adverts/s), {el:.1} s window:");
    println!("  backup: {adverts} adverts accepted in XDP, {wakeups} agent wake-ups for them, CPU {:.2}% of a core, RSS {} kB",
        100.0 * (b_cpu1 - b_cpu0) / el, b_rss);
    println!("  master: sent ~{} adverts, CPU {:.2}% of a core, RSS {} kB", (el * 100.0) as u64, 100.0 * (m_cpu1 - m_cpu0) / el, m_rss);
}


pub fn run(ctx: &Ctx) -> Result<Section> {
    steady_state(&ctx.agent_bin);
    Ok(Section::new("steady", "Steady state", "Two routers, one VRID at 10 ms."))
}
