//! Adverts into the FSM: events from the XDP ring buffer (in sequence order), re-reads of
//! the per-VRID advert record, and the slow path's adverts.
use std::net::IpAddr;

use tracing::{debug, warn};

use crate::{
    dataplane,
    core::fsm::{self, State},
};

use super::Ctx;
use super::actions::apply_actions;
use super::instance::Vrrp;

/// Everything the XDP program queued, parsed.
pub(super) fn drain_ring(ring: &mut aya::maps::RingBuf<aya::maps::MapData>) -> Vec<vrrp_common::AdvertEvent> {
    let mut batch = Vec::new();
    while let Some(item) = ring.next() {
        match dataplane::parse_event(&item) {
            Some(ev) => batch.push(ev),
            None => warn!("short event from the XDP program ({} bytes)", item.len()),
        }
    }
    batch
}

/// Gives each instance its events in sequence order (two CPUs may queue them out of order).
pub(super) async fn dispatch(ctx: &mut Ctx, instances: &mut [Vrrp], mut batch: Vec<vrrp_common::AdvertEvent>) {
    batch.sort_by_key(|e| e.record.seq);
    for ev in batch {
        // A batch can hold hundreds of events (one per VRID after a partition heals).
        crate::sched::breathe();
        if let Some(inst) = instances.iter_mut().find(|i| i.key == ev.key) {
            debug!(parent: &inst.span, reasons = ev.reasons, seq = ev.record.seq, prio = ev.record.priority, "advert event");
            if feed_event(inst, &ev) {
                apply_actions(ctx, inst).await;
            }
        }
    }
}

/// Adverts from the slow path (what XDP passed: IP options, fragments, no XDP): judged by
/// the same rules in userspace, given to the FSM in arrival order.
pub(super) async fn slow_dispatch(ctx: &mut Ctx, instances: &mut [Vrrp], batch: Vec<vrrp_common::AdvertEvent>) {
    for ev in batch {
        if let Some(inst) = instances.iter_mut().find(|i| i.key == ev.key) {
            debug!(parent: &inst.span, prio = ev.record.priority, "advert from the slow path");
            inst.stats.priority_zero_rx += u64::from(ev.record.priority == 0);
            feed_prev(inst, &ev.prev);
            feed(inst, &ev.record);
            apply_actions(ctx, inst).await;
        }
    }
}

pub(super) fn content(rec: &vrrp_common::AdvertRecord, family: u16) -> (IpAddr, u32, u32) {
    (rec.src(family), rec.priority, rec.adver_int_cs)
}

/// An advert from the ring buffer: an exact copy, applied unless an event at or after its
/// sequence number was applied already.
///
/// The advert before it (`ev.prev`, the record XDP overwrote) goes first if it is newer than
/// anything fed: adverts of unchanged content do not wake us, so that is the last time the
/// old content was heard. Without it a backup whose master fell below its priority would
/// time the Master_Down_Timer from whenever the record was last re-read, up to one
/// Master_Down_Interval too early.
pub(super) fn feed_event(inst: &mut Vrrp, ev: &vrrp_common::AdvertEvent) -> bool {
    let rec = &ev.record;
    if inst.last_seq.is_some_and(|last| rec.seq <= last) {
        return false;
    }
    inst.last_seq = Some(rec.seq);
    feed_prev(inst, &ev.prev);
    inst.known = Some(content(rec, inst.key.family));
    inst.stats.priority_zero_rx += u64::from(rec.priority == 0);
    feed(inst, rec);
    true
}

/// Re-reads the instance's advert record (XDP updates it in place for every accepted advert
/// and wakes us only on changes). A record from the master we know refreshes its timer.
/// A different one means its event is on its way (XDP writes the record first) or was lost
/// (ring buffer full, counted as `events_lost`): it is applied as well, but never advances
/// the event order, so the exact event is still applied when it comes. (Only that event
/// says when the old content was last heard; if it was lost, a backup's timer runs from
/// the last advert fed.)
pub(super) fn refresh_from_record(ctx: &mut Ctx, inst: &mut Vrrp) {
    let Some(rec) = ctx.dp.record(&inst.key) else { return };
    if rec.ts_ns == 0 || rec.ts_ns <= inst.last_fed_ts {
        return;
    }
    if inst.known != Some(content(&rec, inst.key.family)) {
        debug!(parent: &inst.span, seq = rec.seq, prio = rec.priority, "advert record ahead of the events: applying it");
    }
    feed(inst, &rec);
}

/// The advert an event's advert replaced, if nothing as recent was fed (`ts_ns` 0: there
/// was none), to a backup: it is what its Master_Down_Timer runs from. A master needs
/// none: it is woken for every advert, so it has seen this one (unless it was lost, or came
/// just as we took over: an old advert then must not make the new master yield).
fn feed_prev(inst: &mut Vrrp, prev: &vrrp_common::AdvertRecord) {
    if prev_due(inst.fsm.state(), inst.last_fed_ts, prev) {
        debug!(parent: &inst.span, prio = prev.priority, "the advert before the event, heard last at the old content: applying it first");
        feed(inst, prev);
    }
}

/// Whether an event's `prev` goes to the FSM (see `feed_prev`).
fn prev_due(state: State, last_fed_ts: u64, prev: &vrrp_common::AdvertRecord) -> bool {
    state == State::Backup && prev.ts_ns != 0 && prev.ts_ns > last_fed_ts
}

fn fsm_advert(rec: &vrrp_common::AdvertRecord, family: u16) -> fsm::Advert {
    fsm::Advert {
        src: rec.src(family),
        priority: rec.priority.min(255) as u8,
        max_adver_int_cs: rec.adver_int_cs.min(4095) as u16,
    }
}

/// Gives the FSM an advert with its kernel receive time; it is handled now (it may have
/// waited in the ring buffer or socket, e.g. while the process was stopped).
pub(super) fn feed(inst: &mut Vrrp, rec: &vrrp_common::AdvertRecord) {
    inst.last_fed_ts = inst.last_fed_ts.max(rec.ts_ns);
    let src = rec.src(inst.key.family);
    if rec.priority != 0 && inst.fsm.state() == State::Backup {
        inst.master = Some(src);
    }
    inst.fsm.handle_queued_advert(crate::clock::now_ns(), rec.ts_ns, fsm_advert(rec, inst.key.family));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::fsm::{Instance, Params, Version};
    use vrrp_common::{AF_INET, AdvertRecord};

    const MS: u64 = 1_000_000;

    fn rec(ts_ns: u64, priority: u32) -> AdvertRecord {
        AdvertRecord { ts_ns, src_v4: [198, 18, 0, 1], priority, adver_int_cs: 10, version: 3, ..Default::default() }
    }

    /// A backup of 90 (preempt) behind a master of 100 at 100 ms, fed as the driver feeds
    /// it: the first event, steady-state adverts it never sees, then the event of the first
    /// advert at 85 with the last one at 100 as its `prev`. Returns the Master_Down deadline.
    fn backup_after_drop(with_prev: bool) -> (u64, u64) {
        let mut fsm = Instance::new(Params::new(Version::V3, 90, 10, IpAddr::V4(std::net::Ipv4Addr::new(198, 18, 0, 2))));
        fsm.handle_startup(0);
        assert_eq!(fsm.state(), State::Backup);
        let mut last_fed = 0;
        let give = |fsm: &mut Instance, last_fed: &mut u64, r: &AdvertRecord| {
            *last_fed = (*last_fed).max(r.ts_ns);
            fsm.handle_queued_advert(r.ts_ns, r.ts_ns, fsm_advert(r, AF_INET));
        };
        give(&mut fsm, &mut last_fed, &rec(10 * MS, 100));
        // Adverts at 110, 210, ... 910 ms update the record only; the drop comes after 910.
        let last_at_100 = rec(910 * MS, 100);
        let event = rec(1010 * MS, 85);
        if with_prev && prev_due(fsm.state(), last_fed, &last_at_100) {
            give(&mut fsm, &mut last_fed, &last_at_100);
        }
        give(&mut fsm, &mut last_fed, &event);
        (fsm.master_down_deadline().expect("timer running"), last_at_100.ts_ns)
    }

    #[test]
    fn a_backup_times_out_from_the_last_advert_at_the_old_priority() {
        let mdi = crate::core::fsm::master_down_interval_us(Version::V3, 90, 10) * 1000;
        let (deadline, last) = backup_after_drop(true);
        assert_eq!(deadline, last + mdi);
        // Without the event's `prev` it runs from the last advert fed (here the first, as
        // nothing re-reads the record in this test): early by all that was not fed.
        let (early, _) = backup_after_drop(false);
        assert_eq!(early, 10 * MS + mdi);
    }

    #[test]
    fn prev_goes_only_to_a_backup_and_only_if_newer_than_what_was_fed() {
        let prev = rec(500, 100);
        assert!(prev_due(State::Backup, 499, &prev));
        assert!(!prev_due(State::Backup, 500, &prev), "fed already (its own event or a record read)");
        assert!(!prev_due(State::Backup, 0, &rec(0, 100)), "ts 0: there was none");
        assert!(!prev_due(State::Master, 0, &prev), "a master saw every advert; an old one must not make it yield");
        assert!(!prev_due(State::Initialize, 0, &prev));
    }
}
