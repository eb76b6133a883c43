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
    if inst.fsm.state() == State::Backup && prev.ts_ns != 0 && prev.ts_ns > inst.last_fed_ts {
        debug!(parent: &inst.span, prio = prev.priority, "the advert before the event, heard last at the old content: applying it first");
        feed(inst, prev);
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
    let advert = fsm::Advert {
        src,
        priority: rec.priority.min(255) as u8,
        max_adver_int_cs: rec.adver_int_cs.min(4095) as u16,
    };
    inst.fsm.handle_queued_advert(crate::clock::now_ns(), rec.ts_ns, advert);
}
