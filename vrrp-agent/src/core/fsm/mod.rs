//! VRRP election state machine (RFC 5798 / RFC 9568 VRRPv3, RFC 3768 VRRPv2),
//! with keepalived's extensions (FAULT state, `preempt_delay`, GARP bursts).
//!
//! Sans-IO, in the style of quinn-proto: no clocks, sockets or threads in here.
//! The driver feeds events (`handle_*`) stamped with a monotonic time in
//! nanoseconds, drains the resulting [`Action`]s with [`Instance::poll_action`]
//! (a FIFO queue) and calls [`Instance::handle_timeout`] once the instant
//! returned by [`Instance::poll_timeout`] has been reached.
//!
//! Event timestamps need not be monotonic across calls: a deadline is always
//! computed from the timestamp of the event that set it, and a deadline that is
//! already in the past fires on the next `handle_timeout`. Nothing here panics
//! and all time arithmetic saturates.
//!
//! Protocol timers are computed in integer microseconds (`vrrp_common::timers`): whole
//! centiseconds would erase Skew_Time, and with it the ordering of backups.

#[cfg(test)]
mod testutil;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod sim;

use std::collections::VecDeque;
use std::fmt;
use std::net::IpAddr;

pub use vrrp_common::timers::{
    Micros, US_PER_CS, US_PER_S, Version, cs_to_us, initial_master_down_us, master_down_interval_us,
    skew_time_us,
};

/// Nanoseconds on an arbitrary monotonic clock (CLOCK_MONOTONIC in the driver).
pub type Nanos = u64;

/// Nanoseconds per microsecond.
pub const NANOS_PER_US: u64 = 1_000;

/// The shortest time between two GARP bursts re-announcing the VIPs against lower-priority
/// adverts (a burst is `garp_lower_prio_repeat` × VIPs broadcast frames): at 10 ms adverts a
/// forged advert per interval gets at most 10 bursts a second, not 100. Not longer: a client
/// ignores an ARP update within `locktime` (1 s) of the last one, and a heal whose first
/// burst came too soon after the other master's GARPs needs the next one to land.
pub const REASSERT_GARP_EVERY_US: Micros = 100_000;

/// Priority of the address owner (RFC 5798 §5.2.4).
const OWNER_PRIORITY: u8 = 255;

/// What the trackers say about an instance running at all (computed by
/// [`crate::core::priority`], given to [`Instance::handle_tracker_fault`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TrackerFault {
    #[default]
    Clear,
    /// A weight-0 tracker has no result yet: keepalived keeps the instance out of
    /// BACKUP/MASTER (in FAULT, without notifying) until it has one.
    InitHold,
    /// A weight-0 tracker failed, or a track file's status is -254 or below.
    Fault,
}

/// Protocol state (RFC 5798 §6.4, plus keepalived's FAULT).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Not running: before `handle_startup` and after `handle_shutdown`.
    Initialize,
    Backup,
    Master,
    /// keepalived's FAULT: interface down or a weight-0 tracker failed.
    /// No VIPs, no adverts, no timers.
    Fault,
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            State::Initialize => "INIT",
            State::Backup => "BACKUP",
            State::Master => "MASTER",
            State::Fault => "FAULT",
        })
    }
}

/// Configuration of one virtual router instance. Durations are in microseconds, the
/// advertisement interval in centiseconds (its wire unit).
#[derive(Debug, Clone)]
pub struct Params {
    pub version: Version,
    /// Configured (base) priority, 1..=255; 255 = address owner.
    /// 0 is treated as 1.
    pub priority: u8,
    /// Configured advert interval in centiseconds (v2: a multiple of 100).
    /// 0 is treated as 1.
    pub advert_int_cs: u16,
    pub preempt: bool,
    /// keepalived `preempt_delay`: once in Backup, the first lower-priority advert starts
    /// this delay; until it has elapsed the lower-priority master is accepted (0 = off).
    pub preempt_delay_us: Micros,
    /// keepalived `state MASTER` on a non-owner: the first Master_Down_Timer (at startup
    /// and on leaving Fault) is [`initial_master_down_us`], not Master_Down_Interval.
    pub initial_master: bool,
    /// Our primary address, for the equal-priority tie break.
    pub primary_addr: IpAddr,
    /// Gratuitous ARPs (or unsolicited NAs) per burst; 0 = none at all.
    pub garp_master_repeat: u32,
    /// Delay of the second burst after becoming master; 0 = no second burst.
    pub garp_master_delay_us: Micros,
    /// Period of refresh bursts while master; 0 = off.
    pub garp_master_refresh_us: Micros,
    /// A Master hearing a lower-priority advert answers with an advert at once
    /// (keepalived's default; `vrrp_lower_prio_no_advert` and `vrrp_strict` turn it off).
    pub lower_prio_advert: bool,
    /// ... and re-announces its VIPs with a burst of this many GARPs/NAs (keepalived
    /// `garp_lower_prio_repeat`; ours defaults to `garp_master_repeat`), 0 = none.
    pub garp_lower_prio_repeat: u32,
    /// A second such burst this long after the first (`garp_lower_prio_delay`), 0 = none.
    pub garp_lower_prio_delay_us: Micros,
    /// A Master that steps down for a higher-priority advert first sends one advert at its
    /// own priority (keepalived `higher_prio_send_advert`), so the winner hears a
    /// lower-priority advert and re-announces the VIPs: after a healed partition the
    /// winner's advert may cross first, and the loser would otherwise go quiet leaving
    /// clients on its MAC.
    pub higher_prio_send_advert: bool,
    /// Make-before-break hand-over: on shutdown a Master sends priority 0 but keeps its
    /// VIPs until it hears the successor's advert, at most Master_Down_Interval.
    pub make_before_break: bool,
    /// The driver's advert tick (0 = exact): the Adver_Timer is rounded up to a multiple of
    /// it, so adverts of different instances that fall due within one tick go out in one
    /// wake-up (see `Instance::restart_adver`). The agent uses [`ADVERT_TICK_US`].
    pub advert_tick_us: Micros,
}

/// The agent's advert tick: 1 ms, a tenth of the shortest VRRPv3 interval (1 cs), so an
/// advert is at most a tenth of an interval late (and only the first one after the instance
/// became master or restarted its timer), and at most 1000 advert wake-ups a second whatever
/// the number of instances.
pub const ADVERT_TICK_US: Micros = 1_000;

impl Params {
    /// keepalived's defaults for everything but the identity of the instance.
    pub fn new(version: Version, priority: u8, advert_int_cs: u16, primary_addr: IpAddr) -> Self {
        Params {
            version,
            priority,
            advert_int_cs,
            preempt: true,
            preempt_delay_us: 0,
            initial_master: false,
            primary_addr,
            garp_master_repeat: 5,
            garp_master_delay_us: 5 * US_PER_S,
            garp_master_refresh_us: 0,
            lower_prio_advert: true,
            garp_lower_prio_repeat: 5,
            garp_lower_prio_delay_us: 0,
            higher_prio_send_advert: true,
            make_before_break: true,
            advert_tick_us: 0,
        }
    }
}

/// A received advertisement, already validated by the dataplane.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Advert {
    /// Sender's primary address (IP source address).
    pub src: IpAddr,
    /// 0 = the master is leaving.
    pub priority: u8,
    /// v3: the Max Adver Int field, centiseconds. Ignored for v2.
    pub max_adver_int_cs: u16,
}

/// Why a state transition happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// `handle_startup` of a non-owner.
    Startup,
    /// `handle_startup` of the address owner (priority 255).
    Owner,
    /// The Master_Down_Timer expired. `silent_us`: how long before the expiry the last
    /// advert that restarted it arrived (`None`: none since this Backup began), so a log
    /// line says whether the master went quiet a Master_Down_Interval ago or the timer
    /// fired early.
    MasterDown { silent_us: Option<u64> },
    /// The Master_Down_Timer (set to Skew_Time by a priority-0 advert) expired:
    /// the master released the virtual router.
    PriorityZero,
    HigherPriority {
        src: IpAddr,
        priority: u8,
    },
    EqualPriorityHigherAddress {
        src: IpAddr,
    },
    /// Stopped (`handle_shutdown`). A Master that hands over make-before-break gets
    /// [`Reason::HandedOver`] or [`Reason::NoSuccessor`] instead, when the hand-over ends.
    Shutdown,
    /// Make-before-break shutdown: the successor's advert was heard; the VIPs can go.
    HandedOver {
        src: IpAddr,
    },
    /// Make-before-break shutdown: no successor was heard within Master_Down_Interval.
    NoSuccessor,
    /// The end of a make-before-break hand-over for a tracker or sync group fault: the
    /// successor spoke (`Some`) or Master_Down_Interval passed (`None`). The transition goes
    /// to Fault, or to Backup if the fault cleared after the successor spoke.
    FaultHandOver {
        successor: Option<IpAddr>,
    },
    /// The link (the instance's interface) went down: [`Instance::handle_fault`].
    FaultRaised,
    /// A weight-0 tracker failed: [`Instance::handle_tracker_fault`] with
    /// [`TrackerFault::Fault`].
    TrackerFailed,
    /// Held in Fault until every weight-0 tracker has a first result
    /// ([`TrackerFault::InitHold`]), its own or (sync group) another member's; keepalived
    /// does not run notify scripts for it.
    InitHold,
    /// Another member of the sync group is in FAULT: [`Instance::handle_sync_fault`].
    SyncFault,
    /// Moved with its sync group (another member became MASTER or left it):
    /// [`Instance::handle_sync_master`], [`Instance::handle_sync_backup`].
    Synced,
    FaultCleared,
}

impl Reason {
    /// The instance stopped (the transition to Initialize at shutdown).
    pub fn is_stop(&self) -> bool {
        matches!(self, Reason::Shutdown | Reason::HandedOver { .. } | Reason::NoSuccessor)
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Startup => f.write_str("startup"),
            Reason::Owner => f.write_str("address owner (priority 255)"),
            Reason::MasterDown { silent_us: None } => f.write_str("master down timer expired; no advert heard"),
            Reason::MasterDown { silent_us: Some(us) } => {
                write!(f, "master down timer expired; last advert {}.{} ms ago", us / 1000, us % 1000 / 100)
            }
            Reason::PriorityZero => f.write_str("master released (advert with priority 0)"),
            Reason::HigherPriority { src, priority } => {
                write!(f, "advert from {src} with higher priority {priority}")
            }
            Reason::EqualPriorityHigherAddress { src } => {
                write!(
                    f,
                    "advert from {src} with equal priority and higher address"
                )
            }
            Reason::Shutdown => f.write_str("shutdown"),
            Reason::HandedOver { src } => write!(f, "shutdown: {src} took over"),
            Reason::NoSuccessor => f.write_str("shutdown: no successor heard within the master down interval"),
            Reason::FaultHandOver { successor: Some(src) } => write!(f, "fault hand-over: {src} took over"),
            Reason::FaultHandOver { successor: None } => {
                f.write_str("fault hand-over: no successor heard within the master down interval")
            }
            Reason::FaultRaised => f.write_str("fault raised"),
            Reason::TrackerFailed => f.write_str("tracker failed"),
            Reason::InitHold => f.write_str("waiting for the first result of a weight-0 tracker"),
            Reason::SyncFault => f.write_str("another member of the sync group is in FAULT"),
            Reason::Synced => f.write_str("synced with its sync group"),
            Reason::FaultCleared => f.write_str("fault cleared"),
        }
    }
}

/// Output of the state machine, drained with [`Instance::poll_action`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Emitted first for a transition, before its side effects. Also Fault -> Fault (no
    /// side effects) when an instance held in Fault by [`Reason::InitHold`] now has a real
    /// fault: run the FAULT notifies then.
    StateChange {
        from: State,
        to: State,
        reason: Reason,
    },
    /// Send one advertisement with this priority (and our configured interval).
    SendAdvert { priority: u8 },
    /// Install the virtual addresses (start answering for them).
    AddVips,
    /// Remove the virtual addresses.
    RemoveVips,
    /// Send `count` gratuitous ARPs / unsolicited NAs for every VIP; the driver
    /// spaces them.
    SendGarp { count: u32 },
    /// For the log: a Master heard a lower-priority advert (a transient second master,
    /// or a router that just started) and re-asserts itself with the actions that follow.
    Reassert { src: IpAddr, priority: u8 },
}

/// `a > b` comparing the addresses as unsigned big-endian integers
/// (RFC 5798 §6.4.3). Addresses of different families never compare greater.
fn addr_greater(a: IpAddr, b: IpAddr) -> bool {
    match (a, b) {
        (IpAddr::V4(a), IpAddr::V4(b)) => a.to_bits() > b.to_bits(),
        (IpAddr::V6(a), IpAddr::V6(b)) => a.to_bits() > b.to_bits(),
        _ => false,
    }
}

/// `t` plus `us` microseconds, saturating.
fn after(t: Nanos, us: Micros) -> Nanos {
    t.saturating_add(us.saturating_mul(NANOS_PER_US))
}

/// The instance's timers, in tie-break order for `handle_timeout`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Timer {
    MasterDown,
    Adver,
    /// Make-before-break: the longest a leaving Master keeps its VIPs.
    Release,
    GarpDelay,
    GarpRefresh,
    GarpLowerPrio,
}

const TIMERS: [Timer; 6] = [
    Timer::MasterDown,
    Timer::Adver,
    Timer::Release,
    Timer::GarpDelay,
    Timer::GarpRefresh,
    Timer::GarpLowerPrio,
];

/// One VRRP virtual router instance.
#[derive(Debug, Clone)]
pub struct Instance {
    params: Params,
    state: State,
    /// Effective priority (base priority adjusted by trackers).
    priority: u8,
    /// Learned (v3 backup) or configured Master_Adver_Interval.
    master_adver_int_cs: u16,
    /// Last value given to `handle_fault` (the link).
    link_fault: bool,
    /// Last value given to `handle_tracker_fault`.
    tracker_fault: TrackerFault,
    /// Last value given to `handle_sync_fault`.
    sync_fault: TrackerFault,
    /// A sync group member: its Master_Down_Timer does not make it Master by itself; it
    /// asks its group ([`Instance::poll_want_master`]), which answers with
    /// `handle_sync_master` when every member wants it (keepalived
    /// `vrrp_sync_can_goto_master`).
    sync_gated: bool,
    /// Gated: the Master_Down_Timer ran out and no advert has been accepted since.
    wants_master: bool,
    /// This stay in FAULT was announced (a StateChange with a real reason was emitted).
    fault_announced: bool,
    /// A change of `wants_master` the group has not been told yet.
    want_event: Option<bool>,
    /// Backup: when the first lower-priority advert started `preempt_delay` (cleared on
    /// entering Backup and by an advert of higher or equal priority).
    preempt_since: Option<Nanos>,
    /// Master: when we last re-asserted ourselves against a lower-priority advert, and
    /// when that last included a GARP burst.
    last_reassert: Option<Nanos>,
    last_reassert_garp: Option<Nanos>,
    /// Master: when we last answered a priority-0 advert (at most once per interval).
    last_zero_answer: Option<Nanos>,
    /// Master_Down_Timer (Backup only).
    master_down: Option<Nanos>,
    /// Backup: when the last advert that restarted the Master_Down_Timer arrived (`None`
    /// until one has, since this Backup began): [`Reason::MasterDown`] reports the silence.
    master_heard: Option<Nanos>,
    /// The Master_Down_Timer was set to Skew_Time by a priority-0 advert.
    master_down_by_release: bool,
    /// Adver_Timer (Master only).
    adver: Option<Nanos>,
    /// Make-before-break deadline (a Master that is shutting down, or leaving for a
    /// tracker fault).
    release: Option<Nanos>,
    /// Where the hand-over ends: Initialize (shutdown), Fault (tracker fault), Backup (the
    /// tracker fault cleared after the successor spoke).
    release_to: State,
    /// Make-before-break: the successor whose advert was heard (the VIPs go one advert
    /// interval later, once it has installed its own and sent its GARPs).
    successor: Option<IpAddr>,
    /// Second GARP burst, `garp_master_delay` after becoming master.
    garp_delay: Option<Nanos>,
    /// Periodic GARP refresh while master.
    garp_refresh: Option<Nanos>,
    /// Second burst after re-asserting against a lower-priority advert.
    garp_lower_prio: Option<Nanos>,
    actions: VecDeque<Action>,
}

impl Instance {
    /// A new instance in state Initialize, with nothing scheduled.
    pub fn new(params: Params) -> Self {
        let priority = params.priority.max(1);
        let master_adver_int_cs = params.advert_int_cs.max(1);
        Instance {
            params,
            state: State::Initialize,
            priority,
            master_adver_int_cs,
            link_fault: false,
            tracker_fault: TrackerFault::Clear,
            sync_fault: TrackerFault::Clear,
            sync_gated: false,
            wants_master: false,
            fault_announced: false,
            want_event: None,
            preempt_since: None,
            master_heard: None,
            last_reassert: None,
            last_reassert_garp: None,
            last_zero_answer: None,
            master_down: None,
            master_down_by_release: false,
            adver: None,
            release: None,
            release_to: State::Initialize,
            successor: None,
            garp_delay: None,
            garp_refresh: None,
            garp_lower_prio: None,
            actions: VecDeque::new(),
        }
    }

    pub fn params(&self) -> &Params {
        &self.params
    }

    pub fn state(&self) -> State {
        self.state
    }

    /// Effective priority.
    pub fn priority(&self) -> u8 {
        self.priority
    }

    /// Master_Adver_Interval: learned from the master's adverts (v3 backup) or
    /// our configured interval.
    pub fn master_adver_int_cs(&self) -> u16 {
        self.master_adver_int_cs
    }

    /// Skew_Time with the current effective priority and Master_Adver_Interval.
    pub fn skew_time_us(&self) -> Micros {
        skew_time_us(self.params.version, self.priority, self.master_adver_int_cs)
    }

    /// Master_Down_Interval with the current effective priority and
    /// Master_Adver_Interval.
    pub fn master_down_interval_us(&self) -> Micros {
        master_down_interval_us(self.params.version, self.priority, self.master_adver_int_cs)
    }

    /// A Master that was shut down and keeps its VIPs until its successor speaks.
    pub fn is_releasing(&self) -> bool {
        self.release.is_some()
    }

    /// Stopped: in Initialize, with no hand-over in progress.
    pub fn is_stopped(&self) -> bool {
        self.state == State::Initialize
    }

    /// The Master_Down_Timer has run out: the next `handle_timeout(now)` makes this
    /// Backup a Master unless an advert arrives first. The driver uses this to close the
    /// takeover window (publish the state, drain pending adverts) before calling it.
    /// Never for a sync group member: its expiry only asks the group
    /// ([`Instance::poll_want_master`]); the group's `handle_sync_master` makes it Master.
    pub fn takeover_due(&self, now: Nanos) -> bool {
        self.master_down_due(now) && !self.sync_gated
    }

    /// The Master_Down_Timer of this Backup has run out (sync group member or not): the
    /// driver first takes every advert that arrived since (adverts in steady state do not
    /// wake it), so that a master that is still there restarts the timer.
    pub fn master_down_due(&self, now: Nanos) -> bool {
        self.state == State::Backup && self.master_down.is_some_and(|d| d <= now)
    }

    /// Start the instance (RFC 5798 §6.4.1). Ignored unless in Initialize.
    /// If a fault was raised before startup, the instance goes to Fault.
    pub fn handle_startup(&mut self, now: Nanos) {
        if self.state != State::Initialize {
            return;
        }
        if let Some(reason) = self.fault_reason() {
            self.change_state(now, State::Fault, reason);
        } else if self.is_owner() {
            self.change_state(now, State::Master, Reason::Owner);
        } else {
            self.change_state(now, State::Backup, Reason::Startup);
        }
    }

    /// Start the instance as the Master an earlier agent was (a hitless restart: its VIPs
    /// are on the interface and the adopted XDP program answers for them). No state change
    /// is announced and nothing is added: an advert goes out at once, before the backups'
    /// Master_Down_Timers (started by the earlier agent's last advert) run out, and the
    /// Adver_Timer and GARP refresh run as for any Master. Returns false, and starts as
    /// [`Instance::handle_startup`] does, if it is not in Initialize or a fault is known.
    pub fn handle_resume_master(&mut self, now: Nanos) -> bool {
        if self.state != State::Initialize || self.fault_reason().is_some() {
            self.handle_startup(now);
            return false;
        }
        self.state = State::Master;
        self.master_adver_int_cs = self.advert_int_cs();
        self.push(Action::SendAdvert { priority: self.priority });
        if self.params.garp_master_refresh_us > 0 {
            self.garp_refresh = Some(after(now, self.params.garp_master_refresh_us));
        }
        self.restart_adver(now);
        true
    }

    /// An advertisement received at `at` (kernel receive timestamp), already
    /// validated by the dataplane, and handled the moment it arrived. Ignored in
    /// Initialize and Fault. [`Instance::handle_queued_advert`] when it waited in a queue.
    pub fn handle_advert(&mut self, at: Nanos, advert: Advert) {
        self.handle_queued_advert(at, at, advert);
    }

    /// An advertisement received at `at` and handled `now` (`now >= at`: it may have
    /// waited in a socket or ring buffer, e.g. while the process was stopped). Timers that
    /// measure the sender (the Master_Down_Timer) run from `at`; what we do in answer (an
    /// advert, a re-assertion, and its rate limit) is decided and timed at `now`, so a
    /// backlog of stale adverts never turns into a burst of answers.
    pub fn handle_queued_advert(&mut self, now: Nanos, at: Nanos, advert: Advert) {
        let now = now.max(at);
        match self.state {
            State::Backup => self.backup_advert(at, advert),
            State::Master if self.release.is_some() => self.releasing_advert(at, advert),
            State::Master => self.master_advert(now, at, advert),
            State::Initialize | State::Fault => {}
        }
    }

    /// Fire every timer whose deadline is `<= now`, in deadline order. Each
    /// timer fires at most once per call. The Adver_Timer is re-armed from its own
    /// deadline (a late call does not delay the later adverts), unless the call is a whole
    /// interval late: then from `now`, so there is no burst of catch-up adverts; the other
    /// timers are re-armed relative to `now`.
    pub fn handle_timeout(&mut self, now: Nanos) {
        let mut fired: Vec<Timer> = Vec::with_capacity(TIMERS.len());
        loop {
            let due = TIMERS
                .iter()
                .copied()
                .filter(|t| !fired.contains(t))
                .filter_map(|t| self.deadline(t).filter(|&d| d <= now).map(|d| (d, t)))
                // On equal deadlines `min_by_key` keeps the first in TIMERS order.
                .min_by_key(|&(d, _)| d);
            let Some((_, timer)) = due else { break };
            fired.push(timer);
            self.fire(now, timer);
        }
    }

    /// Our effective priority changed (trackers). Ignored for the address owner, which
    /// stays at 255; otherwise clamped to 1..=254.
    ///
    /// - Backup: Master_Down_Interval (or Skew_Time, after a priority-0 advert) is
    ///   recomputed and the running Master_Down_Timer moves by the difference, as keepalived
    ///   does (`vrrp_set_effective_priority`): a backup whose priority rose is due sooner.
    /// - Master: an advert with the new priority goes out at once (and the Adver_Timer
    ///   restarts), so the backups learn it now rather than one interval later. A backup with
    ///   preempt whose priority is now higher ignores it and takes over when its timer runs
    ///   out.
    pub fn handle_priority_change(&mut self, now: Nanos, priority: u8) {
        if self.is_owner() {
            return;
        }
        let new = priority.clamp(1, OWNER_PRIORITY - 1);
        let old = self.priority;
        if new == old {
            return;
        }
        let running = |this: &Self| {
            if this.master_down_by_release {
                this.skew_time_us()
            } else {
                this.master_down_interval_us()
            }
        };
        let before = running(self);
        self.priority = new;
        let after_us = running(self);
        match self.state {
            State::Backup => {
                if let Some(d) = self.master_down {
                    self.master_down = Some(if after_us >= before {
                        d.saturating_add((after_us - before).saturating_mul(NANOS_PER_US))
                    } else {
                        d.saturating_sub((before - after_us).saturating_mul(NANOS_PER_US))
                    });
                }
            }
            State::Master if self.release.is_none() => {
                self.push(Action::SendAdvert { priority: new });
                self.restart_adver(now);
            }
            _ => {}
        }
    }

    /// keepalived FAULT for the link (the instance's interface down, or gone).
    /// `faulty == true` from Backup or Master goes to Fault at once (a Master sends a
    /// priority-0 advert, so a backup takes over after Skew_Time rather than
    /// Master_Down_Interval if the link still carries it, and removes its VIPs): a link that
    /// is down cannot hand over. A Master handing over (shutdown, tracker fault) finishes at
    /// once. `faulty == false` leaves Fault (to Backup, or Master for the address owner)
    /// unless a tracker still holds it there. The flag is remembered in Initialize:
    /// starting with a fault raised goes to Fault.
    pub fn handle_fault(&mut self, now: Nanos, faulty: bool) {
        let before = self.fault_reason();
        self.link_fault = faulty;
        self.announce_real_fault(before);
        match (self.state, faulty) {
            (State::Master, true) if self.release.is_some() => {
                let (to, reason) = if self.release_to == State::Initialize {
                    (State::Initialize, Reason::Shutdown)
                } else {
                    (State::Fault, Reason::FaultRaised)
                };
                self.change_state(now, to, reason);
            }
            (State::Backup | State::Master, true) => {
                self.change_state(now, State::Fault, Reason::FaultRaised);
            }
            (State::Fault, false) => self.leave_fault(now),
            _ => {}
        }
    }

    /// keepalived FAULT from trackers (see [`crate::core::priority::Verdict::tracker_fault`]).
    /// - Backup: to Fault at once.
    /// - Master: hands over make-before-break, as [`Instance::handle_shutdown`] does (with
    ///   `make_before_break`; else at once): a priority-0 advert, the VIPs kept until the
    ///   successor's first advert plus one advert interval, at most Master_Down_Interval,
    ///   then Fault without VIPs. If the trackers clear before that, a Master that has not
    ///   heard a successor yet stays Master (an advert at its priority at once); one that has
    ///   goes to Backup when the hand-over ends.
    /// - Fault: leaves it when the link is up too.
    /// - Initialize: remembered for `handle_startup`.
    pub fn handle_tracker_fault(&mut self, now: Nanos, fault: TrackerFault) {
        if fault == self.tracker_fault {
            return;
        }
        let before = self.fault_reason();
        self.tracker_fault = fault;
        self.announce_real_fault(before);
        self.soft_fault_changed(now);
    }

    /// The sync group's word: another member is in FAULT ([`TrackerFault::Fault`]) or
    /// waits for a first tracker result ([`TrackerFault::InitHold`]). Acts like
    /// [`Instance::handle_tracker_fault`] (a Master hands over make-before-break), with
    /// [`Reason::SyncFault`].
    pub fn handle_sync_fault(&mut self, now: Nanos, fault: TrackerFault) {
        if fault == self.sync_fault {
            return;
        }
        let before = self.fault_reason();
        self.sync_fault = fault;
        self.announce_real_fault(before);
        self.soft_fault_changed(now);
    }

    /// The sync group goes MASTER: a Backup becomes Master at once ([`Reason::Synced`]).
    /// Anything else is ignored.
    pub fn handle_sync_master(&mut self, now: Nanos) {
        if self.state == State::Backup {
            self.change_state(now, State::Master, Reason::Synced);
        }
    }

    /// The sync group goes BACKUP: a Master (not handing over) becomes Backup at once,
    /// without a priority-0 advert, as keepalived does. Anything else is ignored.
    pub fn handle_sync_backup(&mut self, now: Nanos) {
        if self.state == State::Master && self.release.is_none() {
            self.change_state(now, State::Backup, Reason::Synced);
        }
    }

    /// Make this instance a sync group member (or not): see [`Instance::poll_want_master`].
    pub fn set_sync_gated(&mut self, gated: bool) {
        self.sync_gated = gated;
        if !gated {
            self.set_wants_master(false);
        }
    }

    /// Whether this sync group member wants to become Master now: its Master_Down_Timer ran
    /// out (the timer is restarted, and it stays Backup until the group says
    /// `handle_sync_master`) and it accepted no advert and did not leave Backup since.
    pub fn wants_master(&self) -> bool {
        self.wants_master
    }

    /// A change of [`Instance::wants_master`] not yet given to the group: `Some(true)` when
    /// the timer ran out, `Some(false)` when it accepted an advert or left Backup. Give it to
    /// the group (`SyncGroup::handle_want_master`).
    pub fn poll_want_master(&mut self) -> Option<bool> {
        self.want_event.take()
    }

    /// The faults of this instance itself (its link, its trackers), without the sync
    /// group's: what its group needs (`SyncGroup::handle_own_fault`).
    pub fn own_fault(&self) -> TrackerFault {
        if self.link_fault {
            TrackerFault::Fault
        } else {
            self.tracker_fault
        }
    }

    /// React to a change of the tracker or sync group fault.
    fn soft_fault_changed(&mut self, now: Nanos) {
        let faulty = self.tracker_fault != TrackerFault::Clear || self.sync_fault != TrackerFault::Clear;
        match self.state {
            State::Initialize => {}
            State::Backup if faulty => {
                if let Some(reason) = self.fault_reason() {
                    self.change_state(now, State::Fault, reason);
                }
            }
            State::Backup => {}
            State::Master if self.release.is_some() => match self.release_to {
                // Shutting down anyway.
                State::Initialize => {}
                _ if faulty => self.release_to = State::Fault,
                _ if self.successor.is_some() => self.release_to = State::Backup,
                _ => {
                    // Nobody took over: carry on as Master.
                    self.release = None;
                    self.release_to = State::Initialize;
                    self.push(Action::SendAdvert { priority: self.priority });
                    self.restart_adver(now);
                    if self.params.garp_master_refresh_us > 0 && self.params.garp_master_repeat > 0 {
                        self.garp_refresh = Some(after(now, self.params.garp_master_refresh_us));
                    }
                }
            },
            State::Master if faulty => {
                if self.params.make_before_break {
                    self.start_release(now, State::Fault);
                } else if let Some(reason) = self.fault_reason() {
                    self.change_state(now, State::Fault, reason);
                }
            }
            State::Master => {}
            State::Fault => self.leave_fault(now),
        }
    }

    /// The sync group's last word, as given to `handle_sync_fault` (for
    /// `SyncGroup::resync` after a reload).
    pub fn sync_fault(&self) -> TrackerFault {
        self.sync_fault
    }

    /// The trackers' last word, as given to `handle_tracker_fault`.
    pub fn tracker_fault(&self) -> TrackerFault {
        self.tracker_fault
    }

    /// Stop the instance (RFC 5798 §6.4.2/§6.4.3 Shutdown). A Master sends a
    /// priority-0 advert. With `make_before_break` it keeps its VIPs (and keeps
    /// answering for them) until it hears the successor's advert or Master_Down_Interval
    /// passes, then removes them; watch [`Instance::is_stopped`]. Otherwise it removes
    /// them at once. Every other state goes to Initialize at once. Nothing stays
    /// scheduled afterwards; `handle_startup` may start it again.
    pub fn handle_shutdown(&mut self, now: Nanos) {
        match self.state {
            State::Initialize => {}
            State::Master if self.release.is_some() => self.release_to = State::Initialize,
            State::Master if self.params.make_before_break => {
                self.start_release(now, State::Initialize);
            }
            _ => self.change_state(now, State::Initialize, Reason::Shutdown),
        }
    }

    /// Stop at once, without a make-before-break hand-over (a reload restarting the
    /// instance, or a hand-over that must be cut short). A Master that has not sent its
    /// priority-0 advert yet sends it; the VIPs are removed.
    pub fn handle_stop_now(&mut self, now: Nanos) {
        if self.state != State::Initialize {
            self.change_state(now, State::Initialize, Reason::Shutdown);
        }
    }

    /// Next output, FIFO.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// Earliest pending deadline; call `handle_timeout` when it is reached.
    pub fn poll_timeout(&self) -> Option<Nanos> {
        TIMERS.iter().filter_map(|&t| self.deadline(t)).min()
    }

    /// When the Master_Down_Timer fires (Backup only), for status output.
    pub fn master_down_deadline(&self) -> Option<Nanos> {
        self.master_down
    }

    // ---- internals ----

    /// Why the instance must be in Fault now, if it must: the link first, then a failed
    /// tracker, then the init hold.
    fn fault_reason(&self) -> Option<Reason> {
        use TrackerFault::{Fault, InitHold};
        if self.link_fault {
            Some(Reason::FaultRaised)
        } else if self.tracker_fault == Fault {
            Some(Reason::TrackerFailed)
        } else if self.sync_fault == Fault {
            Some(Reason::SyncFault)
        } else if self.tracker_fault == InitHold || self.sync_fault == InitHold {
            Some(Reason::InitHold)
        } else {
            None
        }
    }

    fn set_wants_master(&mut self, wants: bool) {
        if self.wants_master != wants {
            self.wants_master = wants;
            self.want_event = Some(wants);
        }
    }

    /// In Fault for the init hold, and now for a real fault (a weight-0 tracker's first
    /// result is a failure, a sibling failed, the link went down): a Fault -> Fault change
    /// with the real reason, so the driver runs the FAULT notifies, as keepalived's
    /// `down_instance` does for an instance still waiting in INIT.
    fn announce_real_fault(&mut self, before: Option<Reason>) {
        if self.state != State::Fault || before != Some(Reason::InitHold) || self.fault_announced {
            return;
        }
        if let Some(reason) = self.fault_reason().filter(|r| *r != Reason::InitHold) {
            self.fault_announced = true;
            self.push(Action::StateChange { from: State::Fault, to: State::Fault, reason });
        }
    }

    /// Fault is over: Backup, or Master for the address owner.
    fn leave_fault(&mut self, now: Nanos) {
        if self.fault_reason().is_some() {
            return;
        }
        let to = if self.is_owner() { State::Master } else { State::Backup };
        self.change_state(now, to, Reason::FaultCleared);
    }

    /// Make-before-break: a priority-0 advert now, the VIPs kept until the successor
    /// speaks (plus one interval) or Master_Down_Interval passes; then `to`.
    fn start_release(&mut self, now: Nanos, to: State) {
        self.cancel_master_timers();
        self.push(Action::SendAdvert { priority: 0 });
        self.release = Some(after(now, self.master_down_interval_us()));
        self.release_to = to;
    }

    fn is_owner(&self) -> bool {
        self.params.priority == OWNER_PRIORITY
    }

    fn advert_int_cs(&self) -> u16 {
        self.params.advert_int_cs.max(1)
    }

    fn advert_int_us(&self) -> Micros {
        cs_to_us(self.advert_int_cs())
    }

    /// Adver_Timer := Advertisement_Interval after `from` (the advert just sent, or the
    /// deadline it was sent for), rounded up to the next multiple of
    /// [`Params::advert_tick_us`]: never early, at most one tick late, and instances whose
    /// adverts would fall due within the same tick fall due at the same instant, so the
    /// driver sends them in one wake-up. Every configurable interval (whole centiseconds)
    /// is a multiple of a tick of up to 10 ms, so once on the grid an instance stays there
    /// and only the first advert after a restart off the grid is late.
    fn restart_adver(&mut self, from: Nanos) {
        let at = after(from, self.advert_int_us());
        let tick = self.params.advert_tick_us.saturating_mul(NANOS_PER_US);
        self.adver = Some(if tick == 0 { at } else { at.div_ceil(tick).saturating_mul(tick) });
    }

    fn deadline(&self, timer: Timer) -> Option<Nanos> {
        match timer {
            Timer::MasterDown => self.master_down,
            Timer::Adver => self.adver,
            Timer::Release => self.release,
            Timer::GarpDelay => self.garp_delay,
            Timer::GarpRefresh => self.garp_refresh,
            Timer::GarpLowerPrio => self.garp_lower_prio,
        }
    }

    fn push(&mut self, action: Action) {
        self.actions.push_back(action);
    }

    fn restart_master_down(&mut self, at: Nanos) {
        self.master_down = Some(after(at, self.master_down_interval_us()));
        self.master_down_by_release = false;
    }

    fn cancel_master_timers(&mut self) {
        self.adver = None;
        self.garp_delay = None;
        self.garp_refresh = None;
        self.garp_lower_prio = None;
    }

    /// v3 only: Master_Adver_Interval := the advert's Max Adver Int
    /// (RFC 5798 §6.4.2, §6.4.3). A zero field is treated as 1 cs.
    fn learn_interval(&mut self, advert: &Advert) {
        if self.params.version == Version::V3 {
            self.master_adver_int_cs = advert.max_adver_int_cs.max(1);
        }
    }

    /// keepalived `preempt_delay`: a lower-priority advert is still accepted while the
    /// delay, started by the first such advert since we (re)entered Backup, runs.
    fn preempt_held(&mut self, at: Nanos) -> bool {
        let delay = self.params.preempt_delay_us;
        if delay == 0 {
            return false;
        }
        let since = *self.preempt_since.get_or_insert(at);
        at < after(since, delay)
    }

    /// RFC 5798 §6.4.2, receiving an ADVERTISEMENT in Backup.
    fn backup_advert(&mut self, at: Nanos, advert: Advert) {
        if advert.priority == 0 {
            // §6.4.2: "If the Priority is zero, then: Set the Master_Down_Timer
            // to Skew_Time".
            self.master_down = Some(after(at, self.skew_time_us()));
            self.master_down_by_release = true;
            return;
        }
        // §6.4.2: "If Preempt_Mode is False, or if the Priority in the
        // ADVERTISEMENT is greater than or equal to the local Priority, then:
        // set Master_Adver_Interval to Adver Interval contained in the
        // ADVERTISEMENT, recompute the Skew_Time, recompute the
        // Master_Down_Interval, reset the Master_Down_Timer to
        // Master_Down_Interval. Else (preempt, and priority lower): discard".
        // keepalived's preempt_delay postpones the discarding.
        let lower = advert.priority < self.priority;
        if !lower {
            self.preempt_since = None;
        }
        if !self.params.preempt || !lower || self.preempt_held(at) {
            self.learn_interval(&advert);
            self.restart_master_down(at);
            self.master_heard = Some(at);
            // There is a master we accept: a sync group member no longer wants to be one.
            self.set_wants_master(false);
        }
    }

    /// RFC 5798 §6.4.3, receiving an ADVERTISEMENT in Master: received at `at`, answered
    /// at `now`.
    fn master_advert(&mut self, now: Nanos, at: Nanos, advert: Advert) {
        if advert.priority == 0 {
            // §6.4.3: "If the Priority in the ADVERTISEMENT is zero, then:
            // Send an ADVERTISEMENT, reset the Adver_Timer to Advertisement_Interval".
            // At most once per interval: the answer restarts the Adver_Timer, so every
            // router has heard us within an interval whatever follows; a flood of forged
            // priority-0 adverts is not turned into one advert of ours each.
            if self
                .last_zero_answer
                .is_some_and(|last| now < after(last, self.advert_int_us()))
            {
                return;
            }
            self.last_zero_answer = Some(now);
            self.push(Action::SendAdvert {
                priority: self.priority,
            });
            self.restart_adver(now);
            return;
        }
        if self.is_owner() {
            // The address owner never yields (RFC 5798: it always preempts). A lower
            // priority is a second master to heal; another priority-255 router claims our
            // addresses too: a configuration error we re-assert against and report.
            if advert.src != self.params.primary_addr {
                self.reassert(now, advert);
            }
            return;
        }
        let reason = if advert.priority > self.priority {
            Reason::HigherPriority {
                src: advert.src,
                priority: advert.priority,
            }
        } else if advert.priority == self.priority
            && addr_greater(advert.src, self.params.primary_addr)
        {
            Reason::EqualPriorityHigherAddress { src: advert.src }
        } else {
            if advert.src != self.params.primary_addr {
                self.reassert(now, advert);
            }
            return;
        };
        // §6.4.3: "Cancel Adver_Timer, set Master_Adver_Interval to Adver
        // Interval contained in the ADVERTISEMENT, recompute the Skew_Time and
        // Master_Down_Interval, set Master_Down_Timer to Master_Down_Interval,
        // transition to the Backup state".
        if self.params.higher_prio_send_advert {
            self.push(Action::SendAdvert {
                priority: self.priority,
            });
        }
        self.learn_interval(&advert);
        // The Master_Down_Timer measures the new master: from its advert's receipt.
        self.change_state(at, State::Backup, reason);
        self.master_heard = Some(at);
    }

    /// A Master heard a lower-priority advert (or an equal one from a lower address): a
    /// second master exists (a healed partition, a resumed process) or a router just
    /// started. RFC 9568 and keepalived answer with an advert so it steps down at once;
    /// we also re-announce the VIPs, because clients may have followed the other
    /// master's GARPs. The advert at most once per advertisement interval, the GARP burst at
    /// most once per [`REASSERT_GARP_EVERY_US`] (or interval, if longer): a flood of forged
    /// low-priority adverts is never amplified into a broadcast storm. `now` is when we
    /// decide, not when the advert arrived: a backlog of stale adverts (a process resumed
    /// after SIGSTOP) spans many intervals of receive times but gets one answer.
    fn reassert(&mut self, now: Nanos, advert: Advert) {
        let p = &self.params;
        if !p.lower_prio_advert && p.garp_lower_prio_repeat == 0 {
            return;
        }
        if self
            .last_reassert
            .is_some_and(|last| now < after(last, self.advert_int_us()))
        {
            return;
        }
        self.last_reassert = Some(now);
        self.push(Action::Reassert {
            src: advert.src,
            priority: advert.priority,
        });
        if self.params.lower_prio_advert {
            self.push(Action::SendAdvert {
                priority: self.priority,
            });
        }
        let repeat = self.params.garp_lower_prio_repeat;
        let garp_gap = self.advert_int_us().max(REASSERT_GARP_EVERY_US);
        let garp_due = self.last_reassert_garp.is_none_or(|last| now >= after(last, garp_gap));
        if repeat > 0 && garp_due {
            self.last_reassert_garp = Some(now);
            self.push(Action::SendGarp { count: repeat });
            if self.params.garp_lower_prio_delay_us > 0 {
                self.garp_lower_prio = Some(after(now, self.params.garp_lower_prio_delay_us));
            }
        }
    }

    /// A leaving Master (make-before-break) hears an advert: any router but us
    /// speaking with a non-zero priority is the successor (or a higher master). Its first
    /// advert leaves before it has installed the VIPs and sent its GARPs (a netlink round
    /// trip per VIP), so ours go one advert interval later (never after the release
    /// deadline).
    fn releasing_advert(&mut self, at: Nanos, advert: Advert) {
        if advert.priority == 0 || advert.src == self.params.primary_addr || self.successor.is_some() {
            return;
        }
        self.successor = Some(advert.src);
        let go = after(at, self.advert_int_us());
        self.release = Some(self.release.map_or(go, |d| d.min(go)));
    }

    fn fire(&mut self, now: Nanos, timer: Timer) {
        match timer {
            Timer::MasterDown => {
                // §6.4.2: "If the Master_Down_Timer fires, then: ... transition
                // to the Master state".
                self.master_down = None;
                if self.state == State::Backup && self.sync_gated {
                    // keepalived: wait for the other members, with the timer restarted.
                    self.set_wants_master(true);
                    self.restart_master_down(now);
                } else if self.state == State::Backup {
                    let reason = if self.master_down_by_release {
                        Reason::PriorityZero
                    } else {
                        Reason::MasterDown { silent_us: self.master_heard.map(|h| now.saturating_sub(h) / 1000) }
                    };
                    self.change_state(now, State::Master, reason);
                }
            }
            Timer::Adver => {
                // §6.4.3: "If the Adver_Timer fires, then: Send an
                // ADVERTISEMENT, reset the Adver_Timer to Advertisement_Interval".
                // Reset from the deadline, not from `now`: a late wake-up does not push
                // every later advert back (no drift). A whole interval late (the process
                // was stopped) restarts from `now`, so there is no catch-up burst.
                let due = self.adver.take();
                if self.state == State::Master {
                    self.push(Action::SendAdvert {
                        priority: self.priority,
                    });
                    let from = due.filter(|&d| after(d, self.advert_int_us()) > now).unwrap_or(now);
                    self.restart_adver(from);
                }
            }
            Timer::Release => {
                // change_state clears the deadline; it must still see that we were
                // releasing (the priority-0 advert has gone already).
                if self.state == State::Master {
                    let to = self.release_to;
                    let reason = match (to, self.successor) {
                        (State::Initialize, Some(src)) => Reason::HandedOver { src },
                        (State::Initialize, None) => Reason::NoSuccessor,
                        (_, successor) => Reason::FaultHandOver { successor },
                    };
                    self.change_state(now, to, reason);
                }
                self.release = None;
                self.release_to = State::Initialize;
            }
            Timer::GarpDelay => {
                // keepalived garp_master_delay: one more burst.
                self.garp_delay = None;
                if self.state == State::Master && self.params.garp_master_repeat > 0 {
                    self.push(Action::SendGarp {
                        count: self.params.garp_master_repeat,
                    });
                }
            }
            Timer::GarpRefresh => {
                // keepalived garp_master_refresh: periodic bursts.
                self.garp_refresh = None;
                if self.state == State::Master && self.params.garp_master_repeat > 0 {
                    self.push(Action::SendGarp {
                        count: self.params.garp_master_repeat,
                    });
                    if self.params.garp_master_refresh_us > 0 {
                        self.garp_refresh = Some(after(now, self.params.garp_master_refresh_us));
                    }
                }
            }
            Timer::GarpLowerPrio => {
                // keepalived garp_lower_prio_delay: the second re-announcement.
                self.garp_lower_prio = None;
                if self.state == State::Master && self.params.garp_lower_prio_repeat > 0 {
                    self.push(Action::SendGarp {
                        count: self.params.garp_lower_prio_repeat,
                    });
                }
            }
        }
    }

    /// Every transition goes through here: emits `StateChange` first, then
    /// the side effects of leaving `self.state` and of entering `to`, and
    /// (re)arms the timers of the new state. `now` is the timestamp of the
    /// triggering event; new deadlines are computed from it.
    fn change_state(&mut self, now: Nanos, to: State, reason: Reason) {
        let from = self.state;
        if from == to {
            return;
        }
        // FAULT is announced (notifies) once per stay: on entering it for a real reason, or
        // later when a first-result hold turns into a real fault.
        self.fault_announced = to == State::Fault && reason != Reason::InitHold;
        // Every Backup starts without a master heard (a demotion sets it right after).
        self.master_heard = None;
        self.push(Action::StateChange {
            from,
            to,
            reason: reason.clone(),
        });
        let releasing = self.release.is_some();

        if from == State::Backup {
            self.set_wants_master(false);
        }
        // Leaving a state: every timer belongs to exactly one state.
        self.master_down = None;
        self.master_down_by_release = false;
        self.release = None;
        self.release_to = State::Initialize;
        self.successor = None;
        self.cancel_master_timers();
        self.preempt_since = None;
        self.last_reassert = None;
        self.last_reassert_garp = None;
        self.last_zero_answer = None;

        if from == State::Master {
            if matches!(to, State::Initialize | State::Fault) && !releasing {
                // §6.4.3 Shutdown: "Cancel the Adver_Timer, send an
                // ADVERTISEMENT with Priority = 0, transition to Initialize".
                // Fault (keepalived sends it too): the backup takes over after Skew_Time
                // if the link still carries the advert (a failed tracker), and the send
                // fails harmlessly if it does not. A releasing Master sent it already.
                self.push(Action::SendAdvert { priority: 0 });
            }
            // §6.4.3: a Backup/Initialize router MUST NOT answer for the VIPs
            // (§6.4.2).
            self.push(Action::RemoveVips);
        }

        self.state = to;
        match to {
            State::Backup => {
                if matches!(from, State::Initialize | State::Fault) {
                    // §6.4.1: "Set Master_Adver_Interval to Advertisement_Interval".
                    // (On demotion from Master the caller already learned it.)
                    self.master_adver_int_cs = self.advert_int_cs();
                }
                // §6.4.1 / §6.4.3: "Set the Master_Down_Timer to Master_Down_Interval".
                self.restart_master_down(now);
                if self.params.initial_master && matches!(from, State::Initialize | State::Fault) {
                    // keepalived: a non-owner with `state MASTER` waits one interval
                    // plus the smallest skew before claiming mastership.
                    let first = initial_master_down_us(self.params.version, self.master_adver_int_cs);
                    self.master_down = Some(after(now, first));
                }
            }
            State::Master => {
                // We are the master: the master's interval is ours.
                self.master_adver_int_cs = self.advert_int_cs();
                // §6.4.1 / §6.4.2 (becoming master): "Send an ADVERTISEMENT;
                // broadcast a gratuitous ARP request ... [IPv6: send an Unsolicited
                // ND Neighbor Advertisement]; set the Adver_Timer to
                // Advertisement_Interval". The advert leaves first, before the VIPs
                // are installed (a netlink round trip): the next backup's timer may be
                // only (Δpriority/256) × interval behind ours, and it must hear us in
                // time. The GARPs follow the VIPs, so nobody is pointed at us before we
                // answer for them.
                self.push(Action::SendAdvert {
                    priority: self.priority,
                });
                self.push(Action::AddVips);
                let repeat = self.params.garp_master_repeat;
                if repeat > 0 {
                    self.push(Action::SendGarp { count: repeat });
                    if self.params.garp_master_delay_us > 0 {
                        self.garp_delay = Some(after(now, self.params.garp_master_delay_us));
                    }
                    if self.params.garp_master_refresh_us > 0 {
                        self.garp_refresh = Some(after(now, self.params.garp_master_refresh_us));
                    }
                }
                self.restart_adver(now);
            }
            State::Fault | State::Initialize => {}
        }
    }
}
