//! Figures 4 and 5, a busy gateway, ours and keepalived's side by side.
//!
//! 4. A bounded flood (one core, fixed time) of junk UDP and, separately, of ARP at the
//!    BACKUP of a master/backup pair, at 100 ms and 10 ms adverts, next to a window with no
//!    flood: does the backup stay backup (spurious MASTER transitions), how many adverts it
//!    missed, the flood rate and its CPU per frame.
//! 5. ARP under flood: requests for the VIP at the MASTER; the replies the flooder gets per
//!    second (and whether each names the master's MAC), the daemon's CPU and the kernel's
//!    CPU per request: our XDP responder (generic and native mode) against the kernel
//!    answering for keepalived.
//!
//! The flood itself is [`sender`].
mod sender;

use std::{
    net::Ipv4Addr,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};
use serde::Serialize;
use serde_json::json;
use vrrp_agent::wire::ethernet;
use vrrp_tests::{
    Agent, Daemon, Host, Keepalived, Lan, ScratchDir,
    election::{self, SplitMix64},
    has_addr, lan, spawn_agent, spawn_keepalived_env, wait_for,
};

use vrrp_tests::report::{Chart, Section, Summary, Table};

use crate::{Ctx, measure::proc_stat};
use sender::{Flood, Reply, Sent};

const MASTER: (&str, Ipv4Addr) = ("m", Ipv4Addr::new(198, 18, 0, 1));
const BACKUP: (&str, Ipv4Addr) = ("b", Ipv4Addr::new(198, 18, 0, 2));
const FLOODER: (&str, Ipv4Addr) = ("f", Ipv4Addr::new(198, 18, 0, 9));
const VIP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 100);
const MASTER_PRIORITY: u8 = 200;
const BACKUP_PRIORITY: u8 = 100;
/// VRRPv3, so 10 ms adverts can be written (`advert_int 0.01`).
const VERSION: u8 = 3;
/// Advert intervals of figure 4, in centiseconds.
const INTERVALS_CS: [u16; 2] = [10, 1];
/// Advert interval of figure 5.
const ARP_INTERVAL_CS: u16 = 10;
/// More frames per second than one core sends here: with the window, each flood's frame bound.
const MAX_RATE: u64 = 5_000_000;
/// Distinct junk datagrams, sent in turn.
const JUNK_FRAMES: usize = 4096;
/// After a flood, how long past Master_Down_Interval + one interval a late MASTER
/// transition of the backup is still counted (its log line is written as it happens; this
/// covers a loaded machine's scheduling).
const LATE_SLACK: Duration = Duration::from_millis(250);
/// How long the pair may take to come back to master/backup after a flood that flipped it.
const RESETTLE: Duration = Duration::from_secs(5);

/// The daemon on the routers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
enum Kind {
    /// vrrp-agent, `--xdp-mode auto` (generic XDP on veth).
    Ours,
    /// vrrp-agent, `--xdp-mode native` (veth's driver XDP; the switch ports get a
    /// pass-through program so XDP_TX frames are delivered).
    OursNative,
    Keepalived,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Ours => "ours",
            Kind::OursNative => "ours, native XDP",
            Kind::Keepalived => "keepalived",
        }
    }
}

/// The keepalived.conf both daemons read.
fn config(priority: u8, advert_int_cs: u16) -> String {
    format!(
        "vrrp_instance VI_1 {{\n  state BACKUP\n  interface eth0\n  virtual_router_id 51\n  priority {priority}\n  \
         advert_int {}\n  version {VERSION}\n  virtual_ipaddress {{\n    {VIP}/24\n  }}\n}}\n",
        election::advert_int_text(advert_int_cs)
    )
}

/// Adverts sent and accepted, as the daemon counts them.
#[derive(Debug, Clone, Copy, Default, Serialize)]
struct Adverts {
    rx: u64,
    tx: u64,
}

/// One router's daemon.
enum Router {
    Ours(Agent),
    /// keepalived writes its SIGUSR2 statistics under `TMPDIR`, this scratch dir.
    Keepalived(Keepalived, ScratchDir),
}

impl Router {
    fn start(ctx: &Ctx, kind: Kind, host: &Host, priority: u8, advert_int_cs: u16) -> Result<Router> {
        let cfg = config(priority, advert_int_cs);
        Ok(match kind {
            Kind::Ours => Router::Ours(spawn_agent(&ctx.agent_bin, host, &cfg, &[])?),
            Kind::OursNative => Router::Ours(spawn_agent(&ctx.agent_bin, host, &cfg, &["--xdp-mode", "native"])?),
            Kind::Keepalived => {
                let tmp = ScratchDir::new("flood-ka")?;
                let ka = spawn_keepalived_env(host, &cfg, &[("TMPDIR", &tmp.path)])?;
                Router::Keepalived(ka, tmp)
            }
        })
    }

    fn daemon(&self) -> &Daemon {
        match self {
            Router::Ours(a) => a,
            Router::Keepalived(k, _) => k,
        }
    }

    fn daemon_mut(&mut self) -> &mut Daemon {
        match self {
            Router::Ours(a) => a,
            Router::Keepalived(k, _) => k,
        }
    }

    /// How often the log says the instance entered `state` ("MASTER", "BACKUP"): both
    /// daemons write keepalived's `(VI_1) Entering MASTER STATE`.
    fn entered(&self, state: &str) -> usize {
        self.daemon().log_text().matches(&format!("(VI_1) Entering {state} STATE")).count()
    }

    fn check_running(&mut self, role: &str) -> Result<()> {
        let d = self.daemon_mut();
        if !d.is_running() {
            bail!("the {role}'s daemon exited ({:?}):\n{}", d.exit_status(), d.log_tail(20));
        }
        Ok(())
    }

    /// CPU seconds of the daemon: the agent, or keepalived's parent and its VRRP child.
    fn cpu_secs(&self) -> Result<f64> {
        let d = self.daemon();
        let mut pids = vec![d.pid];
        if let Router::Keepalived(..) = self {
            let child = std::fs::read_to_string(d.dir.join("vrrp.pid")).context("keepalived's vrrp.pid")?;
            pids.push(child.trim().parse().context("keepalived's vrrp.pid")?);
        }
        pids.iter().map(|p| cpu_ns_secs(*p).or_else(|| proc_stat(*p).map(|s| s.0)).with_context(|| format!("/proc/{p}/stat"))).sum()
    }

    /// Adverts accepted and sent: the agent's status, keepalived's SIGUSR2 statistics.
    fn adverts(&mut self, ctx: &Ctx) -> Result<Adverts> {
        match self {
            Router::Ours(a) => {
                let st = election::agent_status(&ctx.agent_bin, &a.bpffs).context("vrrp-agent status")?;
                let i = &st["instances"][0];
                Ok(Adverts { rx: i["adverts_accepted"].as_u64().unwrap_or(0), tx: i["adverts_tx"].as_u64().unwrap_or(0) })
            }
            Router::Keepalived(ka, tmp) => {
                let file = tmp.join("keepalived.stats");
                let _ = std::fs::remove_file(&file);
                ka.signal(libc::SIGUSR2);
                let text = wait_for(Duration::from_secs(3), "keepalived's statistics (SIGUSR2)", || {
                    std::fs::read_to_string(&file).ok().filter(|t| t.contains("Priority Zero"))
                })?;
                parse_keepalived_stats(&text).context("keepalived.stats without advert counts")
            }
        }
    }
}

/// `Advertisements: / Received: N / Sent: N` of keepalived's statistics dump (one instance).
fn parse_keepalived_stats(text: &str) -> Option<Adverts> {
    let after = &text[text.find("Advertisements:")?..];
    let field = |name: &str| -> Option<u64> {
        after.lines().find_map(|l| l.trim().strip_prefix(name)).and_then(|v| v.trim().parse().ok())
    };
    Some(Adverts { rx: field("Received:")?, tx: field("Sent:")? })
}

/// CPU seconds of every live thread of `pid`, in nanoseconds' precision (the first field of
/// each `/proc/<pid>/task/<tid>/schedstat`): a daemon that idles uses less than the 10 ms
/// tick `/proc/<pid>/stat` counts in. None when schedstat is not there.
fn cpu_ns_secs(pid: u32) -> Option<f64> {
    let mut ns = 0u64;
    for t in std::fs::read_dir(format!("/proc/{pid}/task")).ok()?.flatten() {
        let text = std::fs::read_to_string(t.path().join("schedstat")).ok()?;
        ns += text.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(ns as f64 * 1e-9)
}

/// (rx packets, rx dropped) of a host's interface.
fn rx_stats(host: &Host) -> Result<(u64, u64)> {
    let out = host.ns.ip(&["-s", "-j", "link", "show", "dev", &host.ifname])?;
    let v: serde_json::Value = serde_json::from_str(&out).context("ip -s -j link")?;
    let rx = &v[0]["stats64"]["rx"];
    Ok((rx["packets"].as_u64().unwrap_or(0), rx["dropped"].as_u64().unwrap_or(0)))
}

/// Machine-wide softirq seconds (the `softirq` column of /proc/stat's `cpu` line). All
/// namespaces share the one kernel: this is every host's and everyone's softirq time.
fn softirq_secs() -> Result<f64> {
    let stat = std::fs::read_to_string("/proc/stat")?;
    let line = stat.lines().next().context("/proc/stat is empty")?;
    let ticks: f64 = line.split_whitespace().nth(7).context("/proc/stat: no softirq column")?.parse()?;
    let hz = crate::measure::clock_ticks_per_sec().context("sysconf(CLK_TCK)")?;
    Ok(ticks / hz)
}

/// The XDP mode on a host's interface, as `ip -d link` shows it.
fn xdp_mode(host: &Host) -> String {
    let out = host.ns.ip(&["-d", "link", "show", "dev", &host.ifname]).unwrap_or_default();
    let word = out.split_whitespace().find(|w| w.starts_with("xdp") && !w.starts_with("xdp_"));
    match word {
        Some("xdpgeneric") => "generic (skb)".into(),
        Some("xdp") | Some("xdpdrv") => "native (driver)".into(),
        Some("xdpoffload") => "offload".into(),
        Some(w) => w.into(),
        None => "none".into(),
    }
}

/// Waits until `m` holds the VIP alone and the log of each router says where it stands.
fn wait_pair(lan: &Lan, master: &mut Router, backup: Option<&mut Router>) -> Result<()> {
    let (m, b) = (lan.host(MASTER.0), lan.try_host(BACKUP.0));
    let mut backup = backup;
    wait_for(election::STARTUP, "the master to hold the VIP alone", || {
        let alone = b.is_none_or(|b| !has_addr(b, VIP));
        let logged = master.entered("MASTER") > 0 && backup.as_ref().is_none_or(|r| r.entered("BACKUP") > 0);
        (has_addr(m, VIP) && alone && logged).then_some(())
    })
    .with_context(|| format!("master log:\n{}", master.daemon().log_tail(15)))?;
    master.check_running("master")?;
    if let Some(b) = backup.as_mut() {
        b.check_running("backup")?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Figure 4: floods at the backup
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
enum FloodKind {
    /// No flood: the same window, for the machine's own effect (a loaded machine delays
    /// adverts whatever the network carries).
    Control,
    /// Junk UDP to the backup's address.
    JunkUdp,
    /// ARP requests to the backup's MAC, for every address of the LAN's /24.
    Arp,
}

impl FloodKind {
    fn name(self) -> &'static str {
        match self {
            FloodKind::Control => "none (control)",
            FloodKind::JunkUdp => "junk UDP",
            FloodKind::Arp => "ARP",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
struct GatewayRun {
    daemon: Kind,
    advert_int_ms: u32,
    flood: FloodKind,
    rep: usize,
    sent: Sent,
    /// MASTER transitions of the backup from the flood's start to Master_Down_Interval +
    /// one interval + slack after its end.
    spurious_master: usize,
    /// Their log lines.
    spurious_lines: Vec<String>,
    /// The master's adverts sent and the backup's accepted over the same span.
    master_tx: u64,
    backup_rx: u64,
    backup_cpu_secs: f64,
    /// Frames the backup's eth0 received and dropped over the same span.
    backup_eth_rx: u64,
    backup_eth_dropped: u64,
    span_secs: f64,
}

impl GatewayRun {
    fn missed(&self) -> u64 {
        self.master_tx.saturating_sub(self.backup_rx)
    }
}

/// One master/backup pair and its flooder, on a LAN of their own.
struct Pair {
    kind: Kind,
    master: Router,
    backup: Router,
    junk: Vec<Vec<u8>>,
    arps: Vec<Vec<u8>>,
    // Dropped last: the daemons go before their namespaces.
    lan: Lan,
}

impl Pair {
    fn start(ctx: &Ctx, kind: Kind, advert_int_cs: u16, rng: &mut SplitMix64) -> Result<Pair> {
        let lan = lan("fl4", &[MASTER, BACKUP, FLOODER])?;
        let (m, b, f) = (lan.host(MASTER.0), lan.host(BACKUP.0), lan.host(FLOODER.0));
        let mut master = Router::start(ctx, kind, m, MASTER_PRIORITY, advert_int_cs)?;
        wait_pair(&lan, &mut master, None)?;
        let mut backup = Router::start(ctx, kind, b, BACKUP_PRIORITY, advert_int_cs)?;
        wait_pair(&lan, &mut master, Some(&mut backup))?;
        let junk = sender::junk_udp(rng, JUNK_FRAMES, f.mac, b.mac, b.addr, b.addr);
        let targets: Vec<Ipv4Addr> = (1..=254u8).map(|i| Ipv4Addr::new(198, 18, 0, i)).filter(|a| *a != f.addr).collect();
        let arps = sender::arp_requests(f.mac, f.addr, b.mac, &targets);
        Ok(Pair { kind, master, backup, junk, arps, lan })
    }

    /// One flood at the backup, measured from its start to `late` after its end.
    fn flood(&mut self, ctx: &Ctx, flood: FloodKind, window: Duration, late: Duration) -> Result<GatewayRun> {
        let (b, f) = (self.lan.host(BACKUP.0), self.lan.host(FLOODER.0));
        let masters0 = self.backup.entered("MASTER");
        let (mtx0, brx0) = (self.master.adverts(ctx)?.tx, self.backup.adverts(ctx)?.rx);
        let cpu0 = self.backup.cpu_secs()?;
        let eth0 = rx_stats(b)?;
        let t0 = Instant::now();
        let (frames, ethertype) = match flood {
            FloodKind::Control => (&Vec::new(), 0),
            FloodKind::JunkUdp => (&self.junk, ethernet::ETHERTYPE_IPV4),
            FloodKind::Arp => (&self.arps, ethernet::ETHERTYPE_ARP),
        };
        let sent = if frames.is_empty() {
            // The control: the same window with nothing sent.
            std::thread::sleep(window);
            Sent { secs: window.as_secs_f64(), ..Sent::default() }
        } else {
            Flood { frames, ethertype, max_frames: MAX_RATE * window.as_secs().max(1), max_time: window, judge: &|_| Reply::Other }.run(f)?
        };
        // A backup that missed adverts at the end of the flood times out up to
        // Master_Down_Interval later: that still counts.
        std::thread::sleep(late);
        let span = t0.elapsed().as_secs_f64();
        let (mtx1, brx1) = (self.master.adverts(ctx)?.tx, self.backup.adverts(ctx)?.rx);
        let cpu1 = self.backup.cpu_secs()?;
        let eth1 = rx_stats(b)?;
        let log = self.backup.daemon().log_text();
        let why: Vec<String> =
            log.lines().filter(|l| l.contains("(VI_1) Entering MASTER STATE")).skip(masters0).map(|l| l.trim().to_string()).collect();
        let spurious = why.len();
        self.master.check_running("master")?;
        self.backup.check_running("backup")?;
        if spurious > 0 {
            // Back to master/backup before the next flood.
            let m = self.lan.host(MASTER.0);
            wait_for(RESETTLE, "the pair to settle again after the flood", || (has_addr(m, VIP) && !has_addr(b, VIP)).then_some(()))?;
        }
        Ok(GatewayRun {
            daemon: self.kind,
            advert_int_ms: 0,
            flood,
            rep: 0,
            sent,
            spurious_master: spurious,
            spurious_lines: why,
            master_tx: mtx1 - mtx0,
            backup_rx: brx1 - brx0,
            backup_cpu_secs: cpu1 - cpu0,
            backup_eth_rx: eth1.0 - eth0.0,
            backup_eth_dropped: eth1.1 - eth0.1,
            span_secs: span,
        })
    }
}

/// Figure 4: per advert interval, a pair of each daemon side by side (each on its own LAN),
/// their floods taken in turn (ours, keepalived, ours, ...) so both see the same machine.
fn gateway(ctx: &Ctx, kinds: &[Kind], window: Duration, reps: usize, rng: &mut SplitMix64) -> Result<Vec<GatewayRun>> {
    let mut runs = Vec::new();
    for cs in INTERVALS_CS {
        let ms = u32::from(cs) * 10;
        let mut pairs = Vec::new();
        for &kind in kinds {
            ctx.progress(format!("flood/4: {ms} ms adverts: starting a master/backup pair of {} and a flooder", kind.name()));
            pairs.push(Pair::start(ctx, kind, cs, rng)?);
        }
        let late = election::master_down_interval(VERSION, BACKUP_PRIORITY, cs) + election::interval(cs) + LATE_SLACK;
        for flood in [FloodKind::Control, FloodKind::JunkUdp, FloodKind::Arp] {
            for rep in 0..reps {
                for pair in pairs.iter_mut() {
                    ctx.progress(format!(
                        "flood/4: {ms} ms adverts, {} pair: {} at the backup, {:.0} s ({}/{reps})",
                        pair.kind.name(),
                        match flood {
                            FloodKind::Control => "no flood (control)".to_string(),
                            f => format!("{} flood", f.name()),
                        },
                        window.as_secs_f64(),
                        rep + 1
                    ));
                    let run = pair.flood(ctx, flood, window, late)?;
                    runs.push(GatewayRun { advert_int_ms: ms, rep, ..run });
                }
            }
        }
    }
    Ok(runs)
}

fn gateway_table(runs: &[GatewayRun], window: Duration) -> Table {
    let mut t = Table::new(
        format!("Figure 4: floods at the backup ({:.0} s each; master 200, backup 100, VRRPv3)", window.as_secs_f64()),
        &[
            "daemon",
            "adverts",
            "flood",
            "floods",
            "frames/s sent (median)",
            "at backup eth0/s (median)",
            "spurious MASTER",
            "adverts missed / sent",
            "backup daemon CPU",
            "µs CPU / frame (median)",
        ],
    );
    for g in groups(runs, |r| (r.daemon, r.advert_int_ms, r.flood)) {
        let r0 = g[0];
        let rate = Summary::of(&g.iter().map(|r| r.sent.rate()).collect::<Vec<_>>()).map(|s| s.median).unwrap_or(0.0);
        let at_backup = Summary::of(&g.iter().map(|r| r.backup_eth_rx as f64 / r.sent.secs.max(1e-9)).collect::<Vec<_>>()).map(|s| s.median).unwrap_or(0.0);
        let spurious: usize = g.iter().map(|r| r.spurious_master).sum();
        let missed: u64 = g.iter().map(|r| r.missed()).sum();
        let tx: u64 = g.iter().map(|r| r.master_tx).sum();
        let cpu: f64 = g.iter().map(|r| r.backup_cpu_secs).sum::<f64>() / g.iter().map(|r| r.span_secs).sum::<f64>();
        t.row(vec![
            r0.daemon.name().into(),
            format!("{} ms", r0.advert_int_ms),
            r0.flood.name().into(),
            g.len().to_string(),
            format!("{:.0}", rate),
            format!("{:.0}", at_backup),
            spurious.to_string(),
            format!("{missed} / {tx}"),
            format!("{:.1}% of a core", cpu * 100.0),
            format!("{:.2}", Summary::of(&g.iter().map(|r| r.sent.us_per_frame()).collect::<Vec<_>>()).map(|s| s.median).unwrap_or(0.0)),
        ]);
    }
    t
}

// ---------------------------------------------------------------------------------------
// Figure 5: ARP under flood
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, Serialize)]
struct ArpRun {
    daemon: Kind,
    xdp_mode: String,
    rep: usize,
    sent: Sent,
    daemon_cpu_secs: f64,
    /// Machine-wide softirq seconds over the flood.
    softirq_secs: f64,
    /// Our XDP program's count of ARP replies it sent (absent for keepalived).
    xdp_arp_replies: Option<u64>,
}

/// A master alone with a flooder, on a LAN of its own.
struct Lone {
    kind: Kind,
    master: Router,
    mode: String,
    lan: Lan,
}

/// Figure 5: a master of each kind side by side (each on its own LAN), their floods taken in
/// turn so all see the same machine.
fn arp_under_flood(ctx: &Ctx, kinds: &[Kind], window: Duration, reps: usize) -> Result<Vec<ArpRun>> {
    let mut lones = Vec::new();
    for &kind in kinds {
        ctx.progress(format!("flood/5: starting a master of {} and a flooder", kind.name()));
        let lan = lan("fl5", &[MASTER, FLOODER])?;
        if kind == Kind::OursNative {
            lan.attach_xdp_pass_to_switch_ports()?;
        }
        let mut master = Router::start(ctx, kind, lan.host(MASTER.0), MASTER_PRIORITY, ARP_INTERVAL_CS)?;
        wait_pair(&lan, &mut master, None)?;
        let mode = if kind == Kind::Keepalived { "-".to_string() } else { xdp_mode(lan.host(MASTER.0)) };
        lones.push(Lone { kind, master, mode, lan });
    }
    let xdp_replies = |r: &Router| -> Option<u64> {
        let Router::Ours(a) = r else { return None };
        election::agent_status(&ctx.agent_bin, &a.bpffs)?["instances"][0]["arp_replies"].as_u64()
    };
    let mut runs = Vec::new();
    for rep in 0..reps {
        for lone in lones.iter_mut() {
            let (m, f) = (lone.lan.host(MASTER.0), lone.lan.host(FLOODER.0));
            let frames = sender::arp_requests(f.mac, f.addr, ethernet::BROADCAST, &[VIP]);
            let (owner, asker, asker_ip) = (m.mac, f.mac, f.addr);
            let judge = move |frame: &[u8]| sender::judge_arp_reply(frame, VIP, owner, asker, asker_ip);
            ctx.progress(format!(
                "flood/5: master of {} (XDP {}): ARP flood for the VIP, {:.0} s ({}/{reps})",
                lone.kind.name(),
                lone.mode,
                window.as_secs_f64(),
                rep + 1
            ));
            let x0 = xdp_replies(&lone.master);
            let cpu0 = lone.master.cpu_secs()?;
            let si0 = softirq_secs()?;
            let sent = Flood { frames: &frames, ethertype: ethernet::ETHERTYPE_ARP, max_frames: MAX_RATE * window.as_secs().max(1), max_time: window, judge: &judge }
                .run(f)?;
            let si1 = softirq_secs()?;
            let cpu1 = lone.master.cpu_secs()?;
            let x1 = xdp_replies(&lone.master);
            lone.master.check_running("master")?;
            runs.push(ArpRun {
                daemon: lone.kind,
                xdp_mode: lone.mode.clone(),
                rep,
                sent,
                daemon_cpu_secs: cpu1 - cpu0,
                softirq_secs: si1 - si0,
                xdp_arp_replies: x0.zip(x1).map(|(a, b)| b - a),
            });
        }
    }
    // Runs grouped by daemon for the table and the JSON.
    runs.sort_by_key(|r| kinds.iter().position(|k| *k == r.daemon));
    Ok(runs)
}

fn arp_table(runs: &[ArpRun], window: Duration) -> Table {
    let mut t = Table::new(
        format!("Figure 5: ARP requests for the VIP at the master ({:.0} s each; medians over floods)", window.as_secs_f64()),
        &[
            "answered by",
            "XDP mode",
            "floods",
            "requests/s sent",
            "replies/s received",
            "replied",
            "wrong replies",
            "sent by XDP",
            "daemon CPU",
            "flood CPU: sender + ksoftirqd",
            "µs CPU / request",
        ],
    );
    for g in groups(runs, |r| r.daemon) {
        let r0 = g[0];
        let med = |f: &dyn Fn(&ArpRun) -> f64| Summary::of(&g.iter().map(|r| f(r)).collect::<Vec<_>>()).map(|s| s.median).unwrap_or(0.0);
        let secs = |r: &ArpRun| r.sent.secs.max(1e-9);
        let wrong: u64 = g.iter().map(|r| r.sent.wrong_replies).sum();
        t.row(vec![
            match r0.daemon {
                Kind::Keepalived => "kernel (keepalived)".into(),
                k => format!("XDP ({})", k.name()),
            },
            r0.xdp_mode.clone(),
            g.len().to_string(),
            format!("{:.0}", med(&|r| r.sent.rate())),
            format!("{:.0}", med(&|r| r.sent.reply_rate())),
            format!("{:.1}%", 100.0 * med(&|r| r.sent.replies as f64 / r.sent.sent.max(1) as f64)),
            wrong.to_string(),
            // The XDP program's own count next to what reached the flooder (a check that the
            // replies received are the program's).
            match g.iter().map(|r| r.xdp_arp_replies).sum::<Option<u64>>() {
                Some(x) => format!("{x} of {}", g.iter().map(|r| r.sent.replies).sum::<u64>()),
                None => "-".into(),
            },
            format!("{:.2}% of a core", 100.0 * med(&|r| r.daemon_cpu_secs / secs(r))),
            format!(
                "{:.0}% + {:.0}% of a core",
                100.0 * med(&|r| r.sent.sender_cpu_secs / secs(r)),
                100.0 * med(&|r| r.sent.ksoftirqd_secs / secs(r))
            ),
            format!("{:.2}", med(&|r| r.sent.us_per_frame())),
        ]);
    }
    t
}

/// Runs grouped by `key`, in first-seen order.
fn groups<T, K: PartialEq>(runs: &[T], key: impl Fn(&T) -> K) -> Vec<Vec<&T>> {
    let mut out: Vec<(K, Vec<&T>)> = Vec::new();
    for r in runs {
        let k = key(r);
        match out.iter_mut().find(|(g, _)| *g == k) {
            Some((_, v)) => v.push(r),
            None => out.push((k, vec![r])),
        }
    }
    out.into_iter().map(|(_, v)| v).collect()
}

pub fn run(ctx: &Ctx) -> Result<Section> {
    let window = Duration::from_secs(if ctx.quick { 3 } else { 10 });
    let reps = ctx.reps(3, 1);
    let seed = SplitMix64::seed_from_clock();
    let mut rng = SplitMix64::new(seed);
    let mut notes = Vec::new();
    let with_ka = match ctx.keepalived() {
        Ok(_) => true,
        Err(e) => {
            notes.push(format!("keepalived not measured: {e:#}"));
            false
        }
    };
    let gw_kinds: &[Kind] = if with_ka { &[Kind::Ours, Kind::Keepalived] } else { &[Kind::Ours] };
    let arp_kinds: &[Kind] = if with_ka { &[Kind::Ours, Kind::OursNative, Kind::Keepalived] } else { &[Kind::Ours, Kind::OursNative] };

    let gw = gateway(ctx, gw_kinds, window, reps, &mut rng)?;
    let arp = arp_under_flood(ctx, arp_kinds, window, reps)?;

    let mut s = Section::new(
        "flood",
        "Busy gateway: floods at the backup (figure 4), ARP under flood (figure 5)",
        format!(
            "One LAN per case: a Linux bridge in its own namespace, each host in a namespace on a veth \
             (addresses 198.18.0.0/24, VIP {VIP}). The flood is sent by one thread of the bench from the \
             flooder's namespace through an AF_PACKET socket, prebuilt frames as fast as that one core \
             sends, bounded by time ({:.0} s) and by count ({MAX_RATE} frames/s × the window). \
             Figure 4: master (priority 200) and backup (100), VRRPv3 at 100 ms and at 10 ms, the same \
             keepalived.conf for both daemons; junk UDP to the backup's address (random ports, sources \
             in 198.18.0.0/15 outside the LAN's /24) and, separately, ARP requests to the backup's MAC \
             for every address of the /24; and, as a control, the same window with no flood (a loaded \
             machine delays adverts whatever the network carries). Spurious MASTER transitions are the backup's `Entering MASTER \
             STATE` log lines from the flood's start to Master_Down_Interval + one interval + {} ms \
             after it; adverts missed are the master's sent minus the backup's accepted over that span \
             (ours: `vrrp-agent status`; keepalived: its SIGUSR2 statistics). Figure 5: the master \
             alone at 100 ms, ARP requests for the VIP (broadcast, from the flooder's address); a reply \
             counts when the flooder's socket receives it, and is right when its sender and Ethernet \
             source are the master's MAC and it is addressed to the flooder. Our agent answers in XDP \
             (generic mode on veth with `--xdp-mode auto`; and with `--xdp-mode native`, where the \
             switch's ports carry a pass-through XDP program, as veth needs for XDP_TX, which adds its \
             own cost to that LAN's path); for keepalived the kernel answers. CPU: the daemon's (its threads' run time from /proc/PID/task/*/schedstat; \
             keepalived: parent + VRRP child); the flood's, as the sending thread's time \
             (CLOCK_THREAD_CPUTIME_ID, the thread pinned to one CPU) plus that CPU's ksoftirqd's \
             (schedstat), per frame sent. All namespaces share one kernel, and on veth the receivers' \
             processing (bridge, XDP or the kernel's stack, the replies on their way back) runs in \
             softirq on the sending CPU, in the sender's context or deferred to ksoftirqd, so the \
             flood's CPU per frame is the whole path's cost, and other load on the machine changes it \
             little (it changes the rates: how much of a core the flood gets). The machine-wide \
             softirq time (/proc/stat, every namespace and everyone's) is in the raw samples. The daemons \
             of each comparison run at the same time on LANs of their own and their floods are taken \
             in turn, so each sees the same machine. {reps} flood(s) per case; seed {seed}.",
            window.as_secs_f64(),
            LATE_SLACK.as_millis()
        ),
    );
    s.tables.push(gateway_table(&gw, window));
    s.tables.push(arp_table(&arp, window));

    // Notes: the comparisons in a line each.
    for cs in INTERVALS_CS {
        let ms = u32::from(cs) * 10;
        for flood in [FloodKind::Control, FloodKind::JunkUdp, FloodKind::Arp] {
            let count = |k: Kind| -> Option<(usize, usize)> {
                let g: Vec<&GatewayRun> = gw.iter().filter(|r| r.daemon == k && r.advert_int_ms == ms && r.flood == flood).collect();
                (!g.is_empty()).then(|| (g.iter().map(|r| r.spurious_master).sum(), g.len()))
            };
            if let (Some((o, n)), Some((k, _))) = (count(Kind::Ours), count(Kind::Keepalived)) {
                notes.push(format!("{ms} ms adverts, flood {}: spurious MASTER transitions of the backup, ours {o}, keepalived {k} (in {n} window(s) each)", flood.name()));
            }
        }
    }
    // The first few spurious transitions as logged (every one is in the samples).
    for r in gw.iter().filter(|r| r.spurious_master > 0).take(6) {
        notes.push(format!(
            "{} at {} ms, flood {} ({}): {}",
            r.daemon.name(),
            r.advert_int_ms,
            r.flood.name(),
            r.rep + 1,
            r.spurious_lines.first().map(String::as_str).unwrap_or("")
        ));
    }
    let med = |k: Kind, f: fn(&ArpRun) -> f64| Summary::of(&arp.iter().filter(|r| r.daemon == k).map(f).collect::<Vec<_>>()).map(|s| s.median);
    if let (Some(o), Some(k)) = (med(Kind::Ours, |r| r.sent.us_per_frame()), med(Kind::Keepalived, |r| r.sent.us_per_frame()))
        && k > 0.0
    {
        notes.push(format!(
            "ARP under flood, CPU per request for the whole path (send, bridge, answer, reply back): ours (XDP, auto mode) {o:.2} µs, \
             keepalived (kernel) {k:.2} µs: ×{:.2}",
            o / k
        ));
    }
    if let (Some(o), Some(k)) = (med(Kind::Ours, |r| r.sent.reply_rate()), med(Kind::Keepalived, |r| r.sent.reply_rate()))
        && k > 0.0
    {
        notes.push(format!(
            "ARP replies per second one flooding core drew: ours (XDP, auto mode) {o:.0}, keepalived (kernel) {k:.0}: ×{:.2} \
             (how much of a core the flood got varies with the machine's other load; the CPU per request does not)",
            o / k
        ));
    }
    if let Some(r) = arp.iter().find(|r| r.daemon == Kind::Ours) {
        notes.push(format!("our agent's XDP mode on veth with --xdp-mode auto: {}", r.xdp_mode));
    }
    for r in arp.iter().filter(|r| r.sent.wrong_replies > 0) {
        notes.push(format!(
            "{}: {} wrong ARP replies, first: {}",
            r.daemon.name(),
            r.sent.wrong_replies,
            r.sent.first_wrong.as_deref().unwrap_or("?")
        ));
    }
    s.notes = notes;

    s.charts.push(Chart::Bars {
        file: "flood-spurious-master.png".into(),
        title: "Figure 4: spurious MASTER transitions of the backup under flood".into(),
        unit: "transitions".into(),
        bars: groups(&gw, |r| (r.daemon, r.advert_int_ms, r.flood))
            .into_iter()
            .map(|g| {
                let r = g[0];
                (format!("{} {} ms {}", r.daemon.name(), r.advert_int_ms, r.flood.name()), g.iter().map(|r| r.spurious_master as f64).sum())
            })
            .collect(),
    });
    s.charts.push(Chart::Bars {
        file: "flood-arp-replies.png".into(),
        title: "Figure 5: ARP replies for the VIP per second under an ARP flood".into(),
        unit: "replies/s".into(),
        bars: groups(&arp, |r| r.daemon)
            .into_iter()
            .map(|g| {
                let v: Vec<f64> = g.iter().map(|r| r.sent.reply_rate()).collect();
                (g[0].daemon.name().to_string(), Summary::of(&v).map(|s| s.median).unwrap_or(0.0))
            })
            .collect(),
    });
    s.charts.push(Chart::Bars {
        file: "flood-arp-cpu.png".into(),
        title: "Figure 5: CPU per ARP request under flood (send, bridge, answer, reply back)".into(),
        unit: "µs per request".into(),
        bars: groups(&arp, |r| r.daemon)
            .into_iter()
            .map(|g| {
                let v: Vec<f64> = g.iter().map(|r| r.sent.us_per_frame()).collect();
                (g[0].daemon.name().to_string(), Summary::of(&v).map(|s| s.median).unwrap_or(0.0))
            })
            .collect(),
    });
    s.samples = json!({ "seed": seed, "window_secs": window.as_secs_f64(), "gateway": gw, "arp": arp });
    Ok(s)
}
