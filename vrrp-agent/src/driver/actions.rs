//! The FSM's actions carried out: the state published to XDP, adverts, VIPs through
//! rtnetlink and OWNED_VIPS, gratuitous ARPs and unsolicited neighbour advertisements, the
//! status map, notify scripts.
use std::{net::IpAddr, sync::Arc, time::Duration};

use tracing::{Instrument as _, debug, error, info, warn};
use vrrp_common::{InstanceStatus, VipValue, state};

use crate::{
    core::fsm::{self, Action, State},
    notify::NotifyState,
    net::tx::{Outgoing, Sender},
    wire::{arp, na, vrrp},
};

pub use crate::clock::now_ns;
use super::Ctx;
use super::health::Transition;
use super::instance::{OwnedVip, Vrrp};


/// Minimum time between two "re-asserting mastership" lines of one instance (the drop
/// summaries' period: a lasting second master, or a flood of forged lower-priority adverts,
/// is one line per period, not one per advert interval).
pub(super) const REASSERT_LOG_EVERY: Duration = crate::rx::socket::REPORT_EVERY;

/// A log line at most once per period, counting the ones it held back.
#[derive(Debug, Default)]
pub(super) struct LogLimit {
    last_ns: Option<u64>,
    held: u64,
}

impl LogLimit {
    /// At `now_ns`: `Some(lines held back since the last one)` if a line may be logged, or
    /// `None` (counted) if the last one was less than `every` ago.
    pub(super) fn allow(&mut self, now_ns: u64, every: Duration) -> Option<u64> {
        let every_ns = u64::try_from(every.as_nanos()).unwrap_or(u64::MAX);
        if self.last_ns.is_some_and(|last| now_ns.saturating_sub(last) < every_ns) {
            self.held += 1;
            return None;
        }
        self.last_ns = Some(now_ns);
        Some(std::mem::take(&mut self.held))
    }
}

pub(super) fn state_code(s: State) -> u32 {
    match s {
        State::Initialize => state::INIT,
        State::Backup => state::BACKUP,
        State::Master => state::MASTER,
        State::Fault => state::FAULT,
    }
}

/// Tells the XDP program the instance's state (it wakes us for every advert unless Backup).
pub(super) fn publish_state(ctx: &mut Ctx, inst: &Vrrp, s: u32) {
    if let Err(e) = ctx.dp.set_role(&inst.key, s, u32::from(inst.fsm.priority())) {
        error!(parent: &inst.span, "publishing the state to the XDP program: {e}");
    }
}

pub(super) async fn apply_actions(ctx: &mut Ctx, inst: &mut Vrrp) {
    // Called per instance by every loop over instances: a breath between them keeps a long
    // one (reload, shutdown, many timers due) within vrrp_rlimit_rttime.
    crate::sched::breathe();
    let actions = take_actions(inst);
    let mut notify = None;
    run_actions(ctx, inst, actions, &mut notify).await;
    finish_actions(ctx, inst, notify);
    crate::sched::breathe();
}

pub(super) fn take_actions(inst: &mut Vrrp) -> Vec<Action> {
    std::iter::from_fn(|| inst.fsm.poll_action()).collect()
}

/// Splits a batch of actions before its first netlink round trip (installing or removing
/// the VIPs): the part before (publishing the state, the first advert) is what other
/// routers' timers are waiting for, and the adverts `run_due` collects from it leave before
/// any VIP moves.
pub(super) fn split_before_netlink(mut actions: Vec<Action>) -> (Vec<Action>, Vec<Action>) {
    let at = actions.iter().position(|a| matches!(a, Action::AddVips | Action::RemoveVips)).unwrap_or(actions.len());
    let rest = actions.split_off(at);
    (actions, rest)
}

/// After a batch: the status map, then the notify scripts (keepalived runs them after the
/// transition's side effects: VIPs added, GARPs sent).
pub(super) fn finish_actions(ctx: &mut Ctx, inst: &mut Vrrp, notify: Option<NotifyState>) {
    write_status(ctx, inst);
    if let Some(state) = notify {
        ctx.notifier.notify(&inst.scripts, &inst.cfg.name, state, inst.fsm.priority());
    }
}

pub(super) async fn run_actions(ctx: &mut Ctx, inst: &mut Vrrp, actions: Vec<Action>, notify: &mut Option<NotifyState>) {
    for action in actions {
        match action {
            Action::StateChange { from, to, reason } => {
                *notify = match to {
                    // Held until the trackers' first results: keepalived runs no script.
                    _ if matches!(reason, fsm::Reason::InitHold) => None,
                    State::Master => Some(NotifyState::Master),
                    State::Backup => Some(NotifyState::Backup),
                    State::Fault => Some(NotifyState::Fault),
                    State::Initialize if reason.is_stop() => Some(NotifyState::Stop),
                    State::Initialize => None,
                };
                let _e = inst.span.enter();
                match to {
                    State::Initialize if reason.is_stop() => info!("({}) Entering STOP STATE ({reason})", inst.cfg.name),
                    _ => info!(from = %from, "({}) Entering {to} STATE ({reason})", inst.cfg.name),
                }
                inst.transitions += 1;
                inst.last_transition_ns = now_ns();
                if to == State::Master {
                    inst.stats.become_master += 1;
                }
                if from == State::Master && to != State::Master {
                    inst.stats.release_master += 1;
                }
                ctx.health.transitions.push(Transition { instance: inst.cfg.name.clone(), from, to, reason: reason.clone() });
                match to {
                    State::Master => inst.master = Some(inst.primary),
                    State::Backup => {
                        inst.master = match &reason {
                            fsm::Reason::HigherPriority { src, .. } | fsm::Reason::EqualPriorityHigherAddress { src } => Some(*src),
                            _ => None,
                        }
                    }
                    _ => inst.master = None,
                }
                // Before the first advert of the new state leaves.
                publish_state(ctx, inst, state_code(to));
            }
            Action::AddVips => {
                add_vips(ctx, inst).await;
                add_routes(ctx, inst).await;
            }
            Action::RemoveVips => release(ctx, inst).await,
            Action::SendAdvert { priority } => send_advert(ctx, inst, priority),
            // Gratuitous ARP for the IPv4 VIPs, unsolicited NA for the IPv6 ones.
            Action::SendGarp { count } => send_garps(ctx, inst, count),
            // The FSM re-asserts at most once per advert interval; the line is logged at
            // most once per REASSERT_LOG_EVERY, with the count it held back.
            Action::Reassert { src, priority } => {
                let Some(held) = inst.reassert_log.allow(now_ns(), REASSERT_LOG_EVERY) else { continue };
                let more = if held > 0 { format!(" ({held} more re-assertion(s) since the last line)") } else { String::new() };
                if priority == 255 {
                    warn!(parent: &inst.span, "({}) {src} also claims to be the address owner (priority 255) of VRID {}: re-asserting mastership; two owners is a configuration error{more}", inst.cfg.name, inst.cfg.vrid);
                } else {
                    info!(parent: &inst.span, "({}) lower priority advert from {src} (priority {priority}): re-asserting mastership (advert, {}){more}", inst.cfg.name, if inst.primary.is_ipv6() { "unsolicited NA" } else { "gratuitous ARP" });
                }
            }
        }
    }
}

/// The instance's virtual_routes and virtual_rules, after its VIPs (keepalived's order).
pub(super) async fn add_routes(ctx: &mut Ctx, inst: &mut Vrrp) {
    let mut errors = ctx.routes.install_routes(&inst.cfg.virtual_routes).await;
    errors.extend(ctx.routes.install_rules(&inst.cfg.virtual_rules).await);
    for e in errors {
        error!(parent: &inst.span, "({}) {}:{e}", inst.cfg.name, inst.cfg.file.display());
    }
}

/// Everything mastership gave the instance, in keepalived's order: its virtual rules and
/// routes, then its VIPs (stop answering ARP first, then remove the addresses).
pub(super) async fn release(ctx: &mut Ctx, inst: &mut Vrrp) {
    remove_routes(ctx, inst).await;
    remove_vips(ctx, inst).await;
}

/// The instance's virtual_rules and virtual_routes, before its VIPs.
async fn remove_routes(ctx: &mut Ctx, inst: &mut Vrrp) {
    let mut errors = ctx.routes.remove_rules(&inst.cfg.virtual_rules).await;
    errors.extend(ctx.routes.remove_routes(&inst.cfg.virtual_routes).await);
    for e in errors {
        error!(parent: &inst.span, "({}) {}:{e}", inst.cfg.name, inst.cfg.file.display());
    }
}

pub(super) async fn add_vips(ctx: &mut Ctx, inst: &mut Vrrp) {
    inst.owns_vips = true;
    for OwnedVip { vip, link, .. } in &inst.vips {
        if let Err(e) = ctx.nl.add_vip(link.index, vip).await {
            // Not on the interface: XDP must not answer ARP for it either.
            error!(parent: &inst.span, "adding VIP {}/{} to {}: {e}; not answering ARP for it", vip.addr, vip.prefix_len, link.name);
            continue;
        }
        // XDP answers ARP (IPv4) or neighbour solicitations (IPv6) for it from now on.
        if let Err(e) = ctx.dp.own_ip(link.index, vip.addr, VipValue::new(link.mac, inst.cfg.vrid)) {
            error!(parent: &inst.span, "marking VIP {} owned in the dataplane: {e}", vip.addr);
        }
    }
}

async fn remove_vips(ctx: &mut Ctx, inst: &mut Vrrp) {
    if let Some(t) = inst.garp_task.take() {
        t.abort();
    }
    // Stop answering ARP first, then remove the addresses.
    for OwnedVip { vip, link, .. } in &inst.vips {
        ctx.dp.disown_ip(link.index, vip.addr);
    }
    for OwnedVip { vip, link, .. } in &inst.vips {
        if let Err(e) = ctx.nl.remove_vip(link.index, vip).await {
            error!(parent: &inst.span, "removing VIP {}/{} from {}: {e}", vip.addr, vip.prefix_len, link.name);
        }
    }
    inst.owns_vips = false;
}

/// Where the instance's adverts go: its unicast peers (of its family: the parser dropped the
/// others), else the VRRP group of its family (224.0.0.18, ff02::12).
pub(super) fn advert_destinations(inst: &Vrrp) -> Vec<IpAddr> {
    if !inst.cfg.unicast_peers.is_empty() {
        return inst.cfg.unicast_peers.iter().filter(|p| p.is_ipv6() == inst.primary.is_ipv6()).copied().collect();
    }
    match inst.primary {
        IpAddr::V4(_) => vec![IpAddr::V4(vrrp::MCAST_V4)],
        IpAddr::V6(_) => vec![IpAddr::V6(vrrp::MCAST_V6)],
    }
}

/// An advert queued while the due instances of one wake-up are fired (see
/// [`super::event_loop::run_due`]): sent with the others of its sender in one `sendmmsg`.
pub(crate) struct Queued {
    pub(super) sender: usize,
    /// Index of the instance in the slice `run_due` was given (set by it).
    pub(super) owner: usize,
    pub(super) priority: u8,
    pub(super) advert: Outgoing,
}

/// Sends the instance's advert to each of its destinations, or queues it when the caller
/// collects one wake-up's adverts (`ctx.outbox`).
pub(super) fn send_advert(ctx: &mut Ctx, inst: &mut Vrrp, priority: u8) {
    let repr = advert_repr(inst, priority);
    let mut adverts = Vec::new();
    for dst in advert_destinations(inst) {
        let carrier = vrrp::Carrier { src: inst.primary, dst };
        if let Err(e) = repr.validate(&carrier) {
            error!(parent: &inst.span, "cannot build an advert: {e}");
            return;
        }
        // The checksum covers the pseudo header of this very source and destination.
        adverts.push(Outgoing { src: inst.primary, dst, msg: repr.to_bytes(&carrier, inst.checksum) });
    }
    if let Some(outbox) = ctx.outbox.as_mut() {
        outbox.extend(adverts.into_iter().map(|advert| Queued { sender: inst.sender, owner: usize::MAX, priority, advert }));
        return;
    }
    let results = ctx.senders[inst.sender].send_vrrp_batch(&adverts);
    for (advert, sent) in adverts.iter().zip(results) {
        advert_sent(inst, priority, advert.dst, sent);
    }
}

/// Sends the queued adverts: one `sendmmsg` per sender (and address family), whatever the
/// number of instances, then counts each as its instance's.
pub(super) fn flush_outbox(ctx: &Ctx, instances: &mut [Vrrp], queued: Vec<Queued>) {
    /// One sender's adverts, and whose they are (instance index, priority).
    #[derive(Default)]
    struct Batch {
        adverts: Vec<Outgoing>,
        owners: Vec<(usize, u8)>,
    }
    let mut by_sender: Vec<(usize, Batch)> = Vec::new();
    for q in queued {
        let at = match by_sender.iter().position(|(s, _)| *s == q.sender) {
            Some(at) => at,
            None => {
                by_sender.push((q.sender, Batch::default()));
                by_sender.len() - 1
            }
        };
        by_sender[at].1.adverts.push(q.advert);
        by_sender[at].1.owners.push((q.owner, q.priority));
    }
    for (sender, Batch { adverts, owners }) in by_sender {
        let results = ctx.senders[sender].send_vrrp_batch(&adverts);
        for ((advert, (owner, priority)), sent) in adverts.iter().zip(owners).zip(results) {
            if let Some(inst) = instances.get_mut(owner) {
                advert_sent(inst, priority, advert.dst, sent);
            }
        }
    }
}

/// Counts an advert sent, or says why it was not.
fn advert_sent(inst: &mut Vrrp, priority: u8, dst: IpAddr, sent: std::io::Result<()>) {
    match sent {
        Ok(()) => {
            inst.stats.adverts_sent += 1;
            inst.stats.priority_zero_sent += u64::from(priority == 0);
            inst.stats.last_advert_sent_ns = now_ns();
        }
        Err(e) if inst.link.up => warn!(parent: &inst.span, "sending advert to {dst}: {e}"),
        // The priority-0 advert of a master whose interface just went down or away.
        Err(e) => debug!(parent: &inst.span, "sending advert to {dst} on a link that is down: {e}"),
    }
}

pub(super) fn advert_repr(inst: &Vrrp, priority: u8) -> vrrp::Repr {
    vrrp::Repr {
        version: if inst.cfg.version == 3 { vrrp::Version::V3 } else { vrrp::Version::V2 },
        vrid: inst.cfg.vrid,
        priority,
        adver_int_cs: inst.cfg.advert_int_cs,
        auth: inst.auth,
        addresses: inst.vips.iter().filter(|v| v.advertised).map(|v| v.vip.addr).collect(),
    }
}

/// One kind of announcement for every VIP of one family: the frames of a round and the
/// spacing of the rounds.
struct Burst {
    what: &'static str,
    frames: Vec<(Arc<Sender>, Vec<u8>)>,
    interval: Duration,
}

impl Burst {
    fn send_round(&self) {
        for (sender, frame) in &self.frames {
            // Each send also runs the receivers' stacks on our CPU time (veth, bridge).
            crate::sched::breathe();
            if let Err(e) = sender.send_frame(frame) {
                warn!("sending {} on {}: {e}", self.what, sender.ifname());
            }
        }
    }
}

/// Announces the VIPs `count` times: gratuitous ARP for the IPv4 ones (rounds spaced by
/// `vrrp_garp_interval`), unsolicited neighbour advertisements for the IPv6 ones (spaced by
/// `vrrp_gna_interval`), each from the MAC of the VIP's interface. keepalived sends both
/// with the same `garp_master_repeat`/`delay`/`refresh` schedule, which the FSM keeps.
pub(super) fn send_garps(ctx: &mut Ctx, inst: &mut Vrrp, count: u32) {
    let mut arps = Burst { what: "gratuitous ARP", frames: Vec::new(), interval: ctx.garp_interval };
    let mut nas = Burst { what: "unsolicited neighbour advertisement", frames: Vec::new(), interval: ctx.gna_interval };
    for OwnedVip { vip, link, sender, .. } in &inst.vips {
        let sender = ctx.senders[*sender].clone();
        match vip.addr {
            IpAddr::V4(a) => arps.frames.push((sender, arp::gratuitous_frame(link.mac, a))),
            IpAddr::V6(a) => nas.frames.push((sender, na::unsolicited_frame(link.mac, a))),
        }
    }
    // Counted when queued: a burst a later transition cuts short counts in full.
    inst.stats.garp_sent += u64::from(count) * arps.frames.len() as u64;
    inst.stats.na_sent += u64::from(count) * nas.frames.len() as u64;
    let mut spaced = Vec::new();
    for burst in [arps, nas] {
        if burst.frames.is_empty() {
            continue;
        }
        if burst.interval.is_zero() || count <= 1 {
            for _ in 0..count {
                burst.send_round();
            }
            debug!(parent: &inst.span, "sent {count} {} round(s) for {} VIP(s)", burst.what, burst.frames.len());
        } else {
            spaced.push(burst);
        }
    }
    if spaced.is_empty() {
        return;
    }
    // Spaced rounds run in a task so no other instance waits for them.
    if let Some(t) = inst.garp_task.take() {
        t.abort();
    }
    let span = inst.span.clone();
    inst.garp_task = Some(tokio::spawn(
        async move {
            futures::future::join_all(spaced.into_iter().map(|burst| async move {
                for round in 0..count {
                    if round > 0 {
                        tokio::time::sleep(burst.interval).await;
                    }
                    burst.send_round();
                }
                debug!("sent {count} {} rounds {} ms apart", burst.what, burst.interval.as_millis());
            }))
            .await;
        }
        .instrument(span),
    ));
}

pub(super) fn write_status(ctx: &mut Ctx, inst: &mut Vrrp) {
    let mut st = InstanceStatus {
        state: state_code(inst.fsm.state()),
        priority: u32::from(inst.fsm.priority()),
        base_priority: u32::from(inst.cfg.priority),
        adver_int_cs: u32::from(inst.fsm.master_adver_int_cs()),
        master_down_interval_us: u32::try_from(inst.fsm.master_down_interval_us()).unwrap_or(u32::MAX),
        master_v4: match inst.master {
            Some(IpAddr::V4(a)) => a.octets(),
            _ => [0; 4],
        },
        pid: std::process::id(),
        transitions: inst.transitions,
        last_transition_ns: inst.last_transition_ns,
        name: [0; 32],
        ifname: [0; 16],
        master_v6: match inst.master {
            Some(IpAddr::V6(a)) => a.octets(),
            _ => [0; 16],
        },
    };
    st.set_name(&inst.cfg.name);
    st.set_ifname(&inst.link.name);
    // Each write is a system call, and a master at 10 ms comes here for every advert: what
    // did not change is not written again, and the advert counters alone at most every
    // STATS_EVERY_NS (anything else that changed is written at once).
    let now = now_ns();
    if inst.published.status != Some(st) {
        match ctx.dp.write_status(inst.key, st) {
            Ok(()) => inst.published.status = Some(st),
            Err(e) => debug!("writing INSTANCE_STATUS: {e}"),
        }
    }
    let stats = inst.stats;
    let only_adverts = |p: &vrrp_common::InstanceStats| {
        vrrp_common::InstanceStats { adverts_sent: stats.adverts_sent, last_advert_sent_ns: stats.last_advert_sent_ns, ..*p } == stats
    };
    let fresh = inst.published.stats.as_ref().is_some_and(|(p, at)| only_adverts(p) && now.saturating_sub(*at) < STATS_EVERY_NS);
    if !fresh && inst.published.stats.map(|(p, _)| p) != Some(stats) {
        match ctx.dp.write_instance_stats(inst.key, &stats) {
            Ok(()) => inst.published.stats = Some((stats, now)),
            Err(e) => debug!("writing INSTANCE_STATS: {e}"),
        }
    }
}

/// How stale the published advert counters (`adverts_sent`, `last_advert_sent_ns`) may be:
/// a tenth of a second (every advert at intervals of 100 ms and more).
pub(super) const STATS_EVERY_NS: u64 = 100_000_000;

/// What [`write_status`] last wrote for an instance (and when, for the counters).
#[derive(Default)]
pub(super) struct Published {
    status: Option<InstanceStatus>,
    stats: Option<(vrrp_common::InstanceStats, u64)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_limit_lets_one_line_through_per_period_and_counts_the_rest() {
        let every = Duration::from_secs(10);
        let s = 1_000_000_000u64;
        let mut l = LogLimit::default();
        assert_eq!(l.allow(5 * s, every), Some(0), "the first line goes out");
        // A flood: 1000 within the period are held back.
        for k in 0..1000 {
            assert_eq!(l.allow(5 * s + k * 1_000_000, every), None);
        }
        assert_eq!(l.allow(15 * s - 1, every), None);
        assert_eq!(l.allow(15 * s, every), Some(1001), "the next line says how many were held");
        assert_eq!(l.allow(16 * s, every), None);
        assert_eq!(l.allow(40 * s, every), Some(1));
    }
}
