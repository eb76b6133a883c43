//! The fault matrix's invariant, checked after every fault (issue 10), shared by
//! `tests/tests/faults_*.rs`:
//!
//! - [`steady`]: one master for every VIP, seen from every side: the routers' states, their
//!   interfaces (no VIP on a non-master), who answers ARP (and NS, with an IPv6 VIP) on the
//!   wire, and where the client's neighbour entry points.
//! - [`Leaks`]: what a running agent holds (open fds, child processes, RSS), compared across
//!   a fault; and [`finish`]: after the agents stop, nothing is left behind (pins, XDP
//!   attachments, VIPs, processes, namespaces).

use crate::election::{CLIENT6, Cluster, VIP};
use crate::{BPFFS_ROOT, Capture, Host, holds_for, list_netns, neigh_lladdr, ping_once, ping6_once, pid_alive, wait_for, xdp_prog_id};
use anyhow::{Context, Result, bail};
use std::collections::BTreeMap;
use std::fs;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::time::Duration;

// ---------------------------------------------------------------------------------------
// Who answers for a VIP on the wire
// ---------------------------------------------------------------------------------------

/// The MACs that answer ARP requests for `ip` from `host`: `count` requests 50 ms apart
/// (arping, bounded by 3 s), each distinct replying MAC once, sorted.
pub fn arp_answerers(host: &Host, ip: Ipv4Addr, count: u32) -> Result<Vec<String>> {
    let out = host
        .ns
        .cmd("arping")
        .args(["-i", &host.ifname, "-c", &count.to_string(), "-W", "0.05", "-w", "3", &ip.to_string()])
        .stdin(std::process::Stdio::null())
        .output()
        .context("running arping")?;
    Ok(parse_arping_macs(&String::from_utf8_lossy(&out.stdout)))
}

/// The distinct replying MACs in arping's output (`... bytes from MAC (IP): ...` lines), sorted.
pub fn parse_arping_macs(text: &str) -> Vec<String> {
    let mut macs: Vec<String> = text
        .lines()
        .filter_map(|l| l.split_once("bytes from ").map(|(_, r)| r.split_whitespace().next().unwrap_or("").to_ascii_lowercase()))
        .filter(|m| !m.is_empty())
        .collect();
    macs.sort();
    macs.dedup();
    macs
}

/// The MACs that answer `client`'s neighbour solicitations for `vip`: `count` times the
/// client forgets its neighbour entry for the VIP and pings it once (so it solicits); the
/// solicited NAs (S flag) for `vip` are captured with tshark. Returns the distinct answering
/// MACs, sorted, and how many pings were answered. The capture ends once it holds an NA for
/// every answered ping (a second answerer's NA arrives with the first), bounded.
pub fn ns_answerers(client: &Host, vip: Ipv6Addr, count: u32) -> Result<(Vec<String>, u32)> {
    const CAPTURE_SECS: u32 = 15;
    let cap = Capture::start(client, "na", "icmp6 and ip6[40] == 136", 10_000, CAPTURE_SECS)?;
    let display = format!("icmpv6.type == 136 && icmpv6.nd.na.target_address == {vip} && icmpv6.nd.na.flag.s == 1");
    let solicit = || {
        let _ = client.ns.ip(&["-6", "neigh", "flush", "to", &vip.to_string(), "dev", &client.ifname]);
        ping6_once(client, vip)
    };
    let rows = |cap: &Capture| cap.fields(&display, &["eth.src"]).unwrap_or_default();
    // tshark says it captures a moment before it does: start counting once a first answer
    // is in the file.
    let mut answered = 0;
    wait_for(Duration::from_secs(4), "the capture to hold a first solicited NA", || {
        answered += u32::from(solicit());
        (!rows(&cap).is_empty()).then_some(())
    })?;
    for _ in 0..count {
        answered += u32::from(solicit());
    }
    let seen = wait_for(Duration::from_secs(3), "an NA per answered solicitation in the capture", || {
        let r = rows(&cap);
        (r.len() as u32 >= answered).then_some(r)
    })
    .unwrap_or_else(|_| rows(&cap));
    let mut macs: Vec<String> = seen.into_iter().filter_map(|r| r.into_iter().next()).map(|m| m.to_ascii_lowercase()).collect();
    macs.sort();
    macs.dedup();
    Ok((macs, answered))
}

/// Every ARP request `host` sends for one VIP, and who answers each, over a fault: a bounded
/// background `arping` (one request every `every`) and a tshark capture of ARP on `host`'s
/// interface. [`ArpWatch::stop`] pairs each unicast reply to `host` with the request before
/// it: a request answered by two MACs is a second ARP answerer, however briefly.
pub struct ArpWatch {
    arping: std::process::Child,
    cap: Capture,
    client_mac: String,
    ip: Ipv4Addr,
}

/// What an [`ArpWatch`] saw.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ArpSummary {
    pub requests: u32,
    /// Requests some MAC answered.
    pub answered: u32,
    /// Requests answered by more than one MAC: (capture time, the MACs).
    pub doubly_answered: Vec<(f64, Vec<String>)>,
    /// The MAC of each request answered by one MAC, consecutive repeats collapsed: who
    /// answered, in order (e.g. r1, r2, r1 for a failover and a preemption). Requests
    /// answered by several are in `doubly_answered` only.
    pub answerers: Vec<String>,
    /// The VRRP adverts the capture saw (IPv4), in time order.
    pub adverts: Vec<AdvertSeen>,
}

/// One VRRP advert on the wire.
#[derive(Debug, Clone, PartialEq)]
pub struct AdvertSeen {
    pub t: f64,
    pub mac: String,
    pub vrid: u8,
    pub priority: u8,
}

impl ArpSummary {
    /// The doubly answered requests that no preemption explains. When a master preempts
    /// another (or re-asserts itself against a lower one), both answer until the other has
    /// processed the advert it sends as it does so: a double answer is explained only if one
    /// of the two MACs advertised VRID `vrid`, within `react` before the request, with a
    /// priority above the other's last advert. A router that answers ARP before it has
    /// advertised (a stale view acted on) is not explained.
    pub fn unexplained_double_answers(&self, vrid: u8, react: Duration) -> Vec<(f64, Vec<String>)> {
        let last_prio = |mac: &str, before: f64| {
            self.adverts.iter().rfind(|a| a.vrid == vrid && a.mac == mac && a.t <= before).map(|a| a.priority)
        };
        self.doubly_answered
            .iter()
            .filter(|(t, macs)| {
                !self.adverts.iter().any(|a| {
                    a.vrid == vrid
                        && a.t <= *t
                        && *t - a.t <= react.as_secs_f64()
                        && macs.contains(&a.mac)
                        && macs.iter().filter(|m| **m != a.mac).all(|m| last_prio(m, a.t).is_none_or(|p| a.priority > p))
                })
            })
            .cloned()
            .collect()
    }
}

impl ArpWatch {
    /// Starts watching `ip` from `host` for at most `max` (arping's own deadline).
    pub fn start(host: &Host, ip: Ipv4Addr, every: Duration, max: Duration) -> Result<ArpWatch> {
        if !crate::in_test_range(ip) {
            bail!("refusing to ARP for {ip}: outside 198.18.0.0/15");
        }
        let secs = max.as_secs().clamp(1, 600) as u32;
        let cap = Capture::start(host, "arpwatch", "arp or ip proto 112", 100_000, secs + 5)?;
        let count = (max.as_micros() / every.as_micros().max(1)).max(1);
        let arping = host
            .ns
            .cmd("arping")
            .args(["-q", "-i", &host.ifname, "-c", &count.to_string(), "-W", &format!("{:.3}", every.as_secs_f64())])
            .args(["-w", &secs.to_string(), &ip.to_string()])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .context("starting arping")?;
        Ok(ArpWatch { arping, cap, client_mac: host.mac_string(), ip })
    }

    /// Stops arping, lets the capture take the last replies (one `every`'s worth, bounded),
    /// and pairs requests and replies.
    pub fn stop(mut self) -> Result<ArpSummary> {
        let _ = self.arping.kill();
        let _ = self.arping.wait();
        let fields = ["frame.time_epoch", "arp.opcode", "eth.src", "eth.dst", "arp.src.proto_ipv4", "arp.dst.proto_ipv4"];
        // The last request's replies come within a millisecond; the capture file catches up
        // by itself (dumpcap writes as it goes): wait until two reads agree.
        let mut last = None;
        let rows = wait_for(Duration::from_secs(3), "the ARP capture to settle", || {
            let r = self.cap.fields("arp", &fields).ok()?;
            let n = r.len();
            if last == Some(n) { Some(r) } else { last = Some(n); std::thread::sleep(Duration::from_millis(100)); None }
        })?;
        let mut summary = pair_arp(&rows, &self.client_mac, self.ip);
        let adverts = self.cap.fields("vrrp", &["frame.time_epoch", "eth.src", "vrrp.virt_rtr_id", "vrrp.prio"])?;
        summary.adverts = parse_adverts(&adverts);
        Ok(summary)
    }
}

impl Drop for ArpWatch {
    fn drop(&mut self) {
        let _ = self.arping.kill();
        let _ = self.arping.wait();
    }
}

/// VRRP adverts from tshark rows (time, eth src, VRID, priority), in time order.
pub fn parse_adverts(rows: &[Vec<String>]) -> Vec<AdvertSeen> {
    let mut v: Vec<AdvertSeen> = rows
        .iter()
        .filter_map(|r| {
            Some(AdvertSeen {
                t: r.first()?.parse().ok()?,
                mac: r.get(1)?.to_ascii_lowercase(),
                vrid: r.get(2)?.parse().ok()?,
                priority: r.get(3)?.parse().ok()?,
            })
        })
        .collect();
    v.sort_by(|a, b| a.t.total_cmp(&b.t));
    v
}

/// Pairs ARP requests from `client_mac` for `ip` with the unicast replies to `client_mac`
/// that follow each (rows: time, opcode, eth src, eth dst, sender IP, target IP).
pub fn pair_arp(rows: &[Vec<String>], client_mac: &str, ip: Ipv4Addr) -> ArpSummary {
    let ip = ip.to_string();
    let mut rows: Vec<(f64, &Vec<String>)> = rows.iter().filter_map(|r| Some((r.first()?.parse::<f64>().ok()?, r))).collect();
    rows.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut out = ArpSummary::default();
    // The MACs answering the current request.
    let mut current: Option<(f64, Vec<String>)> = None;
    let close = |cur: Option<(f64, Vec<String>)>, out: &mut ArpSummary| {
        let Some((t, mut macs)) = cur else { return };
        macs.sort();
        macs.dedup();
        if macs.is_empty() {
            return;
        }
        out.answered += 1;
        if macs.len() > 1 {
            out.doubly_answered.push((t, macs));
        } else if out.answerers.last() != Some(&macs[0]) {
            out.answerers.push(macs.swap_remove(0));
        }
    };
    for (t, r) in rows {
        let get = |i: usize| r.get(i).map(|s| s.to_ascii_lowercase()).unwrap_or_default();
        let (op, src, dst, sip, tip) = (get(1), get(2), get(3), get(4), get(5));
        if op == "1" && src == client_mac && tip == ip {
            close(current.take(), &mut out);
            out.requests += 1;
            current = Some((t, Vec::new()));
        } else if op == "2" && dst == client_mac && sip == ip
            && let Some((_, macs)) = current.as_mut()
        {
            macs.push(src);
        }
    }
    close(current.take(), &mut out);
    out
}

/// The link-layer address of `host`'s IPv6 neighbour entry for `a` (any state with one).
pub fn neigh6_lladdr(host: &Host, a: Ipv6Addr) -> Option<String> {
    let out = host.ns.ip(&["-j", "-6", "neigh", "show", &a.to_string(), "dev", &host.ifname]).ok()?;
    let v: serde_json::Value = serde_json::from_str(out.trim()).ok()?;
    v.as_array()?
        .iter()
        .find(|e| e["dst"].as_str().and_then(|d| d.parse::<Ipv6Addr>().ok()) == Some(a))
        .and_then(|e| e["lladdr"].as_str())
        .map(str::to_ascii_lowercase)
}

// ---------------------------------------------------------------------------------------
// The steady state
// ---------------------------------------------------------------------------------------

/// Router `master` is the one master of every instance (`VI_1`, and `VI_2` with an IPv6
/// VIP), every other running router a BACKUP, and of the routers whose agent runs only
/// `master` holds the VIPs, on every poll for all of `window` (a router whose agent was
/// killed keeps its VIPs, as keepalived's do: the on-wire checks below show that its fenced
/// datapath no longer answers for them); then, on the wire, only `master`'s MAC answers the client's ARP
/// requests (and neighbour solicitations) for the VIPs, the client reaches each VIP, and its
/// neighbour entry for each is `master`'s MAC. Every agent in the cluster is still running (take a
/// killed one out of `c.agents` first).
/// Errors carry the routers' log tails.
pub fn steady(c: &mut Cluster, master: usize, window: Duration) -> Result<()> {
    c.check_running()?;
    let mac = c.host(master).mac_string();
    let name = c.routers[master].name.clone();
    let what = format!("{name} the only master and the only holder of the VIPs");
    let held = holds_for(window, &what, || one_master(c, master));
    let on_wire = held.and_then(|()| {
        let client = c.client();
        let arp = arp_answerers(client, VIP, 5)?;
        if arp != [mac.clone()] {
            bail!("ARP for {VIP} answered by {arp:?}, want only {name}'s {mac}");
        }
        if !ping_once(client, VIP) {
            bail!("the client does not reach {VIP}");
        }
        let n = neigh_lladdr(client, VIP);
        if n.as_deref() != Some(mac.as_str()) {
            bail!("the client's neighbour entry for {VIP} is {n:?}, want {name}'s {mac}");
        }
        if let Some(vip6) = c.vip6 {
            let (ns, answered) = ns_answerers(client, vip6, 3)?;
            if ns != [mac.clone()] {
                bail!("NS for {vip6} answered by {ns:?}, want only {name}'s {mac}");
            }
            if answered < 3 {
                bail!("the client reached {vip6} only {answered} times (from {})", CLIENT6.1);
            }
            let n = neigh6_lladdr(client, vip6);
            if n.as_deref() != Some(mac.as_str()) {
                bail!("the client's neighbour entry for {vip6} is {n:?}, want {name}'s {mac}");
            }
        }
        Ok(())
    });
    on_wire.and_then(|()| c.check_running()).map_err(|e| anyhow::anyhow!("{e:#}\n{}", c.log_tails(30)))
}

/// Wait (at most `timeout`) until what [`steady`] requires on every poll holds: `master`
/// MASTER of every instance, every other running router BACKUP, `master` the only holder of
/// the VIPs among the routers whose agent runs. For the end of a fault, before [`steady`].
pub fn wait_one_master(c: &mut Cluster, master: usize, timeout: Duration) -> Result<()> {
    let name = c.routers[master].name.clone();
    let mut last = String::new();
    let waited = wait_for(timeout, &format!("{name} the one master"), || match one_master(c, master) {
        Ok(()) => Some(()),
        Err(e) => {
            last = e;
            None
        }
    });
    waited.map_err(|e| anyhow::anyhow!("{e}: {last}\n{}", c.log_tails(30)))
}

/// One poll of [`steady`]'s states-and-holders check.
fn one_master(c: &mut Cluster, master: usize) -> std::result::Result<(), String> {
    let name = c.routers[master].name.clone();
    let others: Vec<usize> = c.alive().into_iter().filter(|&i| i != master).collect();
    let live: Vec<String> = std::iter::once(master).chain(others.iter().copied()).map(|i| c.routers[i].name.clone()).collect();
    let instances: &[&str] = if c.vip6.is_some() { &["VI_1", "VI_2"] } else { &["VI_1"] };
    for (i, want) in std::iter::once((master, "MASTER")).chain(others.iter().map(|&i| (i, "BACKUP"))) {
        let st = c.status(i).ok_or_else(|| format!("no status from {}", c.routers[i].name))?;
        for inst in instances {
            let got = instance_state(&st, inst);
            if got.as_deref() != Some(want) {
                return Err(format!("{} {inst} is {got:?}, not {want}", c.routers[i].name));
            }
        }
    }
    let running = |v: Vec<String>| v.into_iter().filter(|n| live.contains(n)).collect::<Vec<_>>();
    let (h4, h6) = (running(c.holders()), running(c.holders6()));
    if h4 != [name.clone()] {
        return Err(format!("IPv4 VIP held by {h4:?} of the routers whose agent runs"));
    }
    if c.vip6.is_some() && h6 != [name] {
        return Err(format!("IPv6 VIP held by {h6:?} of the routers whose agent runs"));
    }
    Ok(())
}

/// The `state` of the instance called `name` in a `status --json` document.
pub fn instance_state(status: &serde_json::Value, name: &str) -> Option<String> {
    status["instances"].as_array()?.iter().find(|i| i["name"] == name)?["state"].as_str().map(str::to_string)
}

// ---------------------------------------------------------------------------------------
// Leaks
// ---------------------------------------------------------------------------------------

/// What one running agent holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Footprint {
    pub router: String,
    pub pid: u32,
    /// Entries in /proc/PID/fd.
    pub fds: usize,
    /// Live processes whose parent is the agent (notify and track scripts while they run).
    pub children: Vec<u32>,
    /// VmRSS, KiB.
    pub rss_kib: u64,
}

/// A snapshot of every running agent's [`Footprint`] in a cluster.
#[derive(Debug, Clone, Default)]
pub struct Leaks {
    pub agents: Vec<Footprint>,
}

impl Leaks {
    pub fn snapshot(c: &mut Cluster) -> Result<Leaks> {
        let mut agents = Vec::new();
        for i in c.alive() {
            let Some(d) = c.daemon(i) else { continue };
            agents.push(footprint(&c.routers[i].name, d.pid)?);
        }
        Ok(Leaks { agents })
    }

    /// Against a `later` snapshot, for every agent in both (same pid: a restarted agent is
    /// a new process): at most `fd_slack` more open fds, no child process that was not there
    /// before, at most `rss_slack_kib` more RSS.
    pub fn compare(&self, later: &Leaks, fd_slack: usize, rss_slack_kib: u64) -> Result<()> {
        let mut problems = Vec::new();
        for a in &self.agents {
            let Some(b) = later.agents.iter().find(|b| b.pid == a.pid) else { continue };
            if b.fds > a.fds + fd_slack {
                problems.push(format!("{} (pid {}): {} open fds, was {} (slack {fd_slack})", a.router, a.pid, b.fds, a.fds));
            }
            let new: Vec<u32> = b.children.iter().copied().filter(|p| !a.children.contains(p)).collect();
            if !new.is_empty() {
                problems.push(format!("{} (pid {}): new child processes {new:?}", a.router, a.pid));
            }
            if b.rss_kib > a.rss_kib + rss_slack_kib {
                problems.push(format!("{} (pid {}): RSS {} KiB, was {} (slack {rss_slack_kib})", a.router, a.pid, b.rss_kib, a.rss_kib));
            }
        }
        if problems.is_empty() { Ok(()) } else { bail!("leaks: {}", problems.join("; ")) }
    }
}

/// [`Footprint`] of process `pid`.
pub fn footprint(router: &str, pid: u32) -> Result<Footprint> {
    let fds = fs::read_dir(format!("/proc/{pid}/fd")).with_context(|| format!("/proc/{pid}/fd"))?.count();
    let status = fs::read_to_string(format!("/proc/{pid}/status")).with_context(|| format!("/proc/{pid}/status"))?;
    let rss_kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    Ok(Footprint { router: router.to_string(), pid, fds, children: children_of(pid), rss_kib })
}

/// Live (not zombie) processes whose parent is `pid`.
pub fn children_of(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for e in fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(p) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else { continue };
        let Ok(stat) = fs::read_to_string(format!("/proc/{p}/stat")) else { continue };
        // pid (comm) state ppid ...: comm may hold spaces and parentheses, so split after the last ')'.
        let mut rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("").split_whitespace();
        let (state, ppid) = (rest.next(), rest.next().and_then(|x| x.parse::<u32>().ok()));
        if ppid == Some(pid) && state != Some("Z") {
            out.push(p);
        }
    }
    out.sort();
    out
}

/// Processes whose network namespace is `host`'s.
pub fn processes_in(host: &Host) -> Vec<u32> {
    let Ok(ns) = fs::metadata(host.ns.path()) else { return Vec::new() };
    let mut out = Vec::new();
    for e in fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(p) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else { continue };
        if let Ok(m) = fs::metadata(format!("/proc/{p}/ns/net"))
            && (m.dev(), m.ino()) == (ns.dev(), ns.ino())
            && pid_alive(p)
        {
            out.push(p);
        }
    }
    out.sort();
    out
}

/// The end of every fault case: stop every running agent gracefully (SIGTERM, bounded by
/// the hand-over's Master_Down_Interval + 1 s and a margin), then check that nothing is left:
/// each exited with status 0 and removed its pin directory, no XDP program on any router's
/// interface, no VIP on any router, no process in any of the cluster's namespaces (stop the
/// client's pingers first); then drop the cluster and check that none of its namespaces,
/// pin directories or processes is left.
pub fn finish(mut c: Cluster) -> Result<()> {
    let prefix = c.lan.prefix.clone();
    let mut pids: Vec<u32> = Vec::new();
    let mut problems = Vec::new();
    let running = c.alive();
    for &i in &running {
        if let Some(d) = c.daemon_mut(i) {
            pids.push(d.pid);
            pids.extend(children_of(d.pid));
            d.terminate();
        }
    }
    let grace = c.spec.master_down_interval(1) + Duration::from_secs(5);
    for &i in &running {
        let name = c.routers[i].name.clone();
        let Some(d) = c.daemon_mut(i) else { continue };
        match d.wait_exit(grace) {
            Ok(st) if st.success() => {}
            Ok(st) => problems.push(format!("{name}: the agent exited with {st} after SIGTERM:\n{}", d.log_tail(15))),
            Err(e) => problems.push(format!("{name}: {e}")),
        }
    }
    let bpffs: Vec<(String, PathBuf)> =
        (0..c.routers.len()).filter_map(|i| c.agents[i].as_ref().map(|a| (c.routers[i].name.clone(), a.bpffs.clone()))).collect();
    for (name, dir) in &bpffs {
        if let Ok(rd) = fs::read_dir(dir) {
            let left: Vec<String> = rd.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
            problems.push(format!("{name}: pins left in {}: {left:?}", dir.display()));
        }
    }
    for i in 0..c.routers.len() {
        let (name, host) = (&c.routers[i].name, c.host(i));
        if let Some(id) = xdp_prog_id(host) {
            problems.push(format!("{name}: XDP program {id} still attached to {}", host.ifname));
        }
        if c.holders().contains(name) || c.holders6().contains(name) {
            problems.push(format!("{name}: a VIP left on {}", host.ifname));
        }
    }
    for h in &c.lan.hosts {
        let left = processes_in(h);
        if !left.is_empty() {
            problems.push(format!("processes left in {}: {left:?}", h.ns.name));
        }
    }
    drop(c);
    let ns_left: Vec<String> = list_netns().into_iter().filter(|n| n.starts_with(&prefix)).collect();
    if !ns_left.is_empty() {
        problems.push(format!("namespaces left: {ns_left:?}"));
    }
    let pins_left: Vec<String> = fs::read_dir(BPFFS_ROOT)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(&prefix))
        .collect();
    if !pins_left.is_empty() {
        problems.push(format!("pin directories left under {BPFFS_ROOT}: {pins_left:?}"));
    }
    let alive: Vec<u32> = pids.into_iter().filter(|&p| pid_alive(p)).collect();
    if !alive.is_empty() {
        problems.push(format!("processes still alive: {alive:?}"));
    }
    if problems.is_empty() { Ok(()) } else { bail!("left behind after the agents stopped:\n{}", problems.join("\n")) }
}

/// Per router (by name), how often instance `VI_1` entered MASTER in its current agent log
/// (for "no new MASTER entry" checks).
pub fn master_entries(c: &Cluster) -> BTreeMap<String, usize> {
    (0..c.routers.len())
        .map(|i| (c.routers[i].name.clone(), c.state_changes(i).iter().filter(|s| s.instance == "VI_1" && s.state == "MASTER").count()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arping_output_gives_distinct_macs() {
        let out = "ARPING 198.18.0.100\n\
42 bytes from 02:76:72:00:00:02 (198.18.0.100): index=0 time=1.2 msec\n\
42 bytes from 02:76:72:00:00:01 (198.18.0.100): index=1 time=1.0 msec\n\
42 bytes from 02:76:72:00:00:02 (198.18.0.100): index=2 time=1.1 msec\n\
Timeout\n\n--- 198.18.0.100 statistics ---\n3 packets transmitted, 3 packets received,   0% unanswered (0 extra)\n";
        assert_eq!(parse_arping_macs(out), ["02:76:72:00:00:01", "02:76:72:00:00:02"]);
        assert!(parse_arping_macs("Timeout\nTimeout\n").is_empty());
    }

    #[test]
    fn arp_requests_pair_with_their_replies() {
        let row = |t: &str, op: &str, src: &str, dst: &str, sip: &str, tip: &str| {
            [t, op, src, dst, sip, tip].iter().map(|s| s.to_string()).collect::<Vec<_>>()
        };
        let (c, r1, r2, bc) = ("02:76:72:00:00:04", "02:76:72:00:00:01", "02:76:72:00:00:02", "ff:ff:ff:ff:ff:ff");
        let (vip, cip) = ("198.18.0.100", "198.18.0.10");
        let rows = vec![
            row("1.00", "1", c, bc, cip, vip),
            row("1.001", "2", r1, c, vip, cip),
            row("1.02", "1", c, bc, cip, vip),
            // Unanswered.
            row("1.04", "1", c, bc, cip, vip),
            // A gratuitous ARP from r2 is not an answer.
            row("1.05", "1", r2, bc, vip, vip),
            row("1.06", "1", c, bc, cip, vip),
            row("1.0605", "2", r2, c, vip, cip),
            row("1.0607", "2", r1, c, vip, cip),
            // Out of order in the file: sorted by time.
            row("1.081", "2", r2, c, vip, cip),
            row("1.08", "1", c, bc, cip, vip),
        ];
        let s = pair_arp(&rows, c, VIP);
        assert_eq!(s.requests, 5);
        assert_eq!(s.answered, 3);
        assert_eq!(s.doubly_answered, vec![(1.06, vec![r1.to_string(), r2.to_string()])]);
        assert_eq!(s.answerers, [r1, r2]);
        assert_eq!(pair_arp(&rows[..2], c, VIP).answerers, [r1]);
        // A doubly answered request is not an answerer change.
        assert_eq!(pair_arp(&rows[..8], c, VIP).answerers, [r1]);
        assert_eq!(pair_arp(&[], c, VIP), ArpSummary::default());

        // The double answer at 1.06 follows r1's advert (priority 100 over r2's 90) by 5 ms:
        // a preemption, explained; 60 ms after it, or with r1's advert after the request, or
        // r1's advert no higher than r2's, it is not.
        let ad = |t: &str, mac: &str, prio: &str| vec![t.to_string(), mac.to_string(), "51".to_string(), prio.to_string()];
        let react = Duration::from_millis(20);
        let mut s2 = s.clone();
        s2.adverts = parse_adverts(&[ad("1.00", r2, "90"), ad("1.055", r1, "100")]);
        assert!(s2.unexplained_double_answers(51, react).is_empty());
        assert_eq!(s2.unexplained_double_answers(52, react).len(), 1, "another VRID's adverts explain nothing");
        s2.adverts = parse_adverts(&[ad("1.00", r2, "90"), ad("1.0", r1, "100")]);
        assert_eq!(s2.unexplained_double_answers(51, react).len(), 1);
        s2.adverts = parse_adverts(&[ad("1.00", r2, "90"), ad("1.061", r1, "100")]);
        assert_eq!(s2.unexplained_double_answers(51, react).len(), 1);
        s2.adverts = parse_adverts(&[ad("1.00", r2, "100"), ad("1.055", r1, "100")]);
        assert_eq!(s2.unexplained_double_answers(51, react).len(), 1);
    }

    #[test]
    fn instance_state_by_name() {
        let st: serde_json::Value = serde_json::from_str(
            r#"{"instances":[{"name":"VI_1","state":"MASTER"},{"name":"VI_2","state":"BACKUP"}]}"#,
        )
        .expect("json");
        assert_eq!(instance_state(&st, "VI_2").as_deref(), Some("BACKUP"));
        assert_eq!(instance_state(&st, "VI_1").as_deref(), Some("MASTER"));
        assert_eq!(instance_state(&st, "VI_3"), None);
    }

    #[test]
    fn compare_flags_growth_only_for_the_same_process() {
        let f = |pid, fds, children: Vec<u32>, rss| Footprint { router: "r1".into(), pid, fds, children, rss_kib: rss };
        let before = Leaks { agents: vec![f(10, 20, vec![], 5000)] };
        assert!(before.compare(&Leaks { agents: vec![f(10, 22, vec![], 5100)] }, 2, 200).is_ok());
        assert!(before.compare(&Leaks { agents: vec![f(10, 23, vec![], 5000)] }, 2, 200).is_err());
        assert!(before.compare(&Leaks { agents: vec![f(10, 20, vec![11], 5000)] }, 2, 200).is_err());
        assert!(before.compare(&Leaks { agents: vec![f(10, 20, vec![], 5300)] }, 2, 200).is_err());
        // A restarted agent (another pid) is not compared with the old one.
        assert!(before.compare(&Leaks { agents: vec![f(12, 90, vec![13], 9000)] }, 2, 200).is_ok());
    }

    #[test]
    fn own_children_are_found() {
        let mut child = std::process::Command::new("sleep").arg("5").spawn().expect("sleep");
        let me = std::process::id();
        assert!(children_of(me).contains(&child.id()));
        let _ = child.kill();
        let _ = child.wait();
        assert!(!children_of(me).contains(&child.id()));
    }
}
