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
//! Protocol timers are computed in integer centiseconds, exactly as the RFCs
//! define them (see [`skew_time_cs`], [`master_down_interval_cs`]).

use std::collections::VecDeque;
use std::fmt;
use std::net::IpAddr;

/// Nanoseconds on an arbitrary monotonic clock (CLOCK_MONOTONIC in the driver).
pub type Nanos = u64;

/// Nanoseconds per centisecond, the VRRP timer unit.
pub const NANOS_PER_CS: u64 = 10_000_000;

/// Priority of the address owner (RFC 5798 §5.2.4).
const OWNER_PRIORITY: u8 = 255;

/// Protocol version of an instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// RFC 3768.
    V2,
    /// RFC 5798 / RFC 9568.
    V3,
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

/// Configuration of one virtual router instance.
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
    /// keepalived `preempt_delay`: for this long after `handle_startup` a
    /// backup does not preempt a lower-priority master (0 = off).
    pub preempt_delay_cs: u32,
    /// Our primary address, for the equal-priority tie break.
    pub primary_addr: IpAddr,
    /// Gratuitous ARPs (or unsolicited NAs) per burst; 0 = none at all.
    pub garp_master_repeat: u32,
    /// Delay of the second burst after becoming master; 0 = no second burst.
    pub garp_master_delay_cs: u32,
    /// Period of refresh bursts while master; 0 = off.
    pub garp_master_refresh_cs: u32,
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
    /// The Master_Down_Timer expired.
    MasterDown,
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
    Shutdown,
    FaultRaised,
    FaultCleared,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Startup => f.write_str("startup"),
            Reason::Owner => f.write_str("address owner (priority 255)"),
            Reason::MasterDown => f.write_str("master down timer expired"),
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
            Reason::FaultRaised => f.write_str("fault raised"),
            Reason::FaultCleared => f.write_str("fault cleared"),
        }
    }
}

/// Output of the state machine, drained with [`Instance::poll_action`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Emitted first for a transition, before its side effects.
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
}

/// Skew_Time in centiseconds for `priority` (ours).
///
/// * v3 (RFC 5798 §6.1): `((256 - Priority) * Master_Adver_Interval) / 256`.
/// * v2 (RFC 3768 §6.1): `(256 - Priority) / 256` seconds, i.e.
///   `((256 - Priority) * 100) / 256` cs, independent of the interval.
pub fn skew_time_cs(version: Version, priority: u8, master_adver_int_cs: u16) -> u32 {
    let weight = 256 - u32::from(priority);
    match version {
        Version::V3 => weight * u32::from(master_adver_int_cs) / 256,
        Version::V2 => weight * 100 / 256,
    }
}

/// Master_Down_Interval in centiseconds: `3 * Master_Adver_Interval + Skew_Time`
/// (RFC 5798 §6.1, RFC 3768 §6.1).
pub fn master_down_interval_cs(version: Version, priority: u8, master_adver_int_cs: u16) -> u32 {
    3 * u32::from(master_adver_int_cs) + skew_time_cs(version, priority, master_adver_int_cs)
}

fn cs_to_nanos(cs: u32) -> Nanos {
    // u32::MAX * 10^7 < u64::MAX: cannot overflow, saturate anyway.
    u64::from(cs).saturating_mul(NANOS_PER_CS)
}

fn after(t: Nanos, cs: u32) -> Nanos {
    t.saturating_add(cs_to_nanos(cs))
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

/// The instance's timers, in tie-break order for `handle_timeout`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Timer {
    MasterDown,
    Adver,
    GarpDelay,
    GarpRefresh,
}

const TIMERS: [Timer; 4] = [
    Timer::MasterDown,
    Timer::Adver,
    Timer::GarpDelay,
    Timer::GarpRefresh,
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
    /// Last value given to `handle_fault`.
    faulty: bool,
    /// Time of the last `handle_startup`, for `preempt_delay`.
    started_at: Option<Nanos>,
    /// Master_Down_Timer (Backup only).
    master_down: Option<Nanos>,
    /// The Master_Down_Timer was set to Skew_Time by a priority-0 advert.
    master_down_by_release: bool,
    /// Adver_Timer (Master only).
    adver: Option<Nanos>,
    /// Second GARP burst, `garp_master_delay` after becoming master.
    garp_delay: Option<Nanos>,
    /// Periodic GARP refresh while master.
    garp_refresh: Option<Nanos>,
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
            faulty: false,
            started_at: None,
            master_down: None,
            master_down_by_release: false,
            adver: None,
            garp_delay: None,
            garp_refresh: None,
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
    pub fn skew_time_cs(&self) -> u32 {
        skew_time_cs(self.params.version, self.priority, self.master_adver_int_cs)
    }

    /// Master_Down_Interval with the current effective priority and
    /// Master_Adver_Interval.
    pub fn master_down_interval_cs(&self) -> u32 {
        master_down_interval_cs(self.params.version, self.priority, self.master_adver_int_cs)
    }

    /// Start the instance (RFC 5798 §6.4.1). Ignored unless in Initialize.
    /// If a fault was raised before startup, the instance goes to Fault.
    pub fn handle_startup(&mut self, now: Nanos) {
        if self.state != State::Initialize {
            return;
        }
        self.started_at = Some(now);
        if self.faulty {
            self.change_state(now, State::Fault, Reason::FaultRaised);
        } else if self.is_owner() {
            self.change_state(now, State::Master, Reason::Owner);
        } else {
            self.change_state(now, State::Backup, Reason::Startup);
        }
    }

    /// An advertisement received at `at` (kernel receive timestamp), already
    /// validated by the dataplane. Ignored in Initialize and Fault.
    pub fn handle_advert(&mut self, at: Nanos, advert: Advert) {
        match self.state {
            State::Backup => self.backup_advert(at, advert),
            State::Master => self.master_advert(at, advert),
            State::Initialize | State::Fault => {}
        }
    }

    /// Fire every timer whose deadline is `<= now`, in deadline order. Each
    /// timer fires at most once per call; re-armed timers are armed relative
    /// to `now`, so a late call does not cause a burst of catch-up adverts.
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

    /// Our effective priority changed (trackers). Ignored for the address
    /// owner, which stays at 255; otherwise clamped to 1..=254. A Master sends
    /// its next (regular) advert with the new priority; a Backup uses the new
    /// Skew_Time at the next Master_Down_Timer restart (the running timer is
    /// left alone).
    pub fn handle_priority_change(&mut self, _now: Nanos, priority: u8) {
        if self.is_owner() {
            return;
        }
        self.priority = priority.clamp(1, OWNER_PRIORITY - 1);
    }

    /// keepalived FAULT. `faulty == true` from Backup or Master goes to Fault
    /// (a Master removes its VIPs but sends no priority-0 advert: the
    /// interface is down). `faulty == false` in Fault goes to Backup, or
    /// straight to Master for the address owner. The flag is remembered in
    /// Initialize: starting with a fault raised goes to Fault.
    pub fn handle_fault(&mut self, now: Nanos, faulty: bool) {
        self.faulty = faulty;
        match (self.state, faulty) {
            (State::Backup | State::Master, true) => {
                self.change_state(now, State::Fault, Reason::FaultRaised);
            }
            (State::Fault, false) => {
                let to = if self.is_owner() {
                    State::Master
                } else {
                    State::Backup
                };
                self.change_state(now, to, Reason::FaultCleared);
            }
            _ => {}
        }
    }

    /// Stop the instance (RFC 5798 §6.4.2/§6.4.3 Shutdown). A Master sends a
    /// priority-0 advert and removes its VIPs. The state becomes Initialize
    /// and nothing stays scheduled; `handle_startup` may start it again.
    pub fn handle_shutdown(&mut self, now: Nanos) {
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

    fn is_owner(&self) -> bool {
        self.params.priority == OWNER_PRIORITY
    }

    fn advert_int_cs(&self) -> u16 {
        self.params.advert_int_cs.max(1)
    }

    fn deadline(&self, timer: Timer) -> Option<Nanos> {
        match timer {
            Timer::MasterDown => self.master_down,
            Timer::Adver => self.adver,
            Timer::GarpDelay => self.garp_delay,
            Timer::GarpRefresh => self.garp_refresh,
        }
    }

    fn push(&mut self, action: Action) {
        self.actions.push_back(action);
    }

    fn restart_master_down(&mut self, at: Nanos) {
        self.master_down = Some(after(at, self.master_down_interval_cs()));
        self.master_down_by_release = false;
    }

    /// v3 only: Master_Adver_Interval := the advert's Max Adver Int
    /// (RFC 5798 §6.4.2, §6.4.3). A zero field is treated as 1 cs.
    fn learn_interval(&mut self, advert: &Advert) {
        if self.params.version == Version::V3 {
            self.master_adver_int_cs = advert.max_adver_int_cs.max(1);
        }
    }

    /// With `preempt_delay`, a backup does not preempt a lower-priority master
    /// until the delay has elapsed since `handle_startup` (judged by the
    /// advert's timestamp).
    fn in_preempt_delay(&self, at: Nanos) -> bool {
        self.params.preempt_delay_cs > 0
            && self
                .started_at
                .is_some_and(|s| at < after(s, self.params.preempt_delay_cs))
    }

    /// RFC 5798 §6.4.2, receiving an ADVERTISEMENT in Backup.
    fn backup_advert(&mut self, at: Nanos, advert: Advert) {
        if advert.priority == 0 {
            // §6.4.2: "If the Priority is zero, then: Set the Master_Down_Timer
            // to Skew_Time".
            self.master_down = Some(after(at, self.skew_time_cs()));
            self.master_down_by_release = true;
            return;
        }
        // §6.4.2: "If Preempt_Mode is False, or if the Priority in the
        // ADVERTISEMENT is greater than or equal to the local Priority, then:
        // set Master_Adver_Interval to Adver Interval contained in the
        // ADVERTISEMENT, recompute the Skew_Time, recompute the
        // Master_Down_Interval, reset the Master_Down_Timer to
        // Master_Down_Interval. Else (preempt, and priority lower): discard".
        // The owner always preempts (§6.1 Preempt_Mode); keepalived's
        // preempt_delay postpones preemption.
        let preempt = (self.params.preempt && !self.in_preempt_delay(at)) || self.is_owner();
        if !preempt || advert.priority >= self.priority {
            self.learn_interval(&advert);
            self.restart_master_down(at);
        }
    }

    /// RFC 5798 §6.4.3, receiving an ADVERTISEMENT in Master.
    fn master_advert(&mut self, at: Nanos, advert: Advert) {
        if advert.priority == 0 {
            // §6.4.3: "If the Priority in the ADVERTISEMENT is zero, then:
            // Send an ADVERTISEMENT, reset the Adver_Timer to Advertisement_Interval".
            self.push(Action::SendAdvert {
                priority: self.priority,
            });
            self.adver = Some(after(at, u32::from(self.advert_int_cs())));
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
            // Lower priority, or equal with a lower (or our own) address:
            // discard (keepalived does not send an extra advert here).
            return;
        };
        // §6.4.3: "Cancel Adver_Timer, set Master_Adver_Interval to Adver
        // Interval contained in the ADVERTISEMENT, recompute the Skew_Time and
        // Master_Down_Interval, set Master_Down_Timer to Master_Down_Interval,
        // transition to the Backup state".
        self.learn_interval(&advert);
        self.change_state(at, State::Backup, reason);
    }

    fn fire(&mut self, now: Nanos, timer: Timer) {
        match timer {
            Timer::MasterDown => {
                // §6.4.2: "If the Master_Down_Timer fires, then: ... transition
                // to the Master state".
                self.master_down = None;
                if self.state == State::Backup {
                    let reason = if self.master_down_by_release {
                        Reason::PriorityZero
                    } else {
                        Reason::MasterDown
                    };
                    self.change_state(now, State::Master, reason);
                }
            }
            Timer::Adver => {
                // §6.4.3: "If the Adver_Timer fires, then: Send an
                // ADVERTISEMENT, reset the Adver_Timer to Advertisement_Interval".
                self.adver = None;
                if self.state == State::Master {
                    self.push(Action::SendAdvert {
                        priority: self.priority,
                    });
                    self.adver = Some(after(now, u32::from(self.advert_int_cs())));
                }
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
                    if self.params.garp_master_refresh_cs > 0 {
                        self.garp_refresh = Some(after(now, self.params.garp_master_refresh_cs));
                    }
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
        self.push(Action::StateChange { from, to, reason });

        // Leaving a state: every timer belongs to exactly one state.
        self.master_down = None;
        self.master_down_by_release = false;
        self.adver = None;
        self.garp_delay = None;
        self.garp_refresh = None;

        if from == State::Master {
            if to == State::Initialize {
                // §6.4.3 Shutdown: "Cancel the Adver_Timer, send an
                // ADVERTISEMENT with Priority = 0, transition to Initialize".
                self.push(Action::SendAdvert { priority: 0 });
            }
            // §6.4.3: a Backup/Initialize router MUST NOT answer for the VIPs
            // (§6.4.2). Fault: no priority-0 advert, the interface is down.
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
            }
            State::Master => {
                // We are the master: the master's interval is ours.
                self.master_adver_int_cs = self.advert_int_cs();
                // §6.4.1 / §6.4.2 (becoming master). VIPs are installed before
                // they are announced (keepalived's order), then: "Send an
                // ADVERTISEMENT; broadcast a gratuitous ARP request ...
                // [IPv6: send an Unsolicited ND Neighbor Advertisement];
                // set the Adver_Timer to Advertisement_Interval".
                self.push(Action::AddVips);
                self.push(Action::SendAdvert {
                    priority: self.priority,
                });
                let repeat = self.params.garp_master_repeat;
                if repeat > 0 {
                    self.push(Action::SendGarp { count: repeat });
                    if self.params.garp_master_delay_cs > 0 {
                        self.garp_delay = Some(after(now, self.params.garp_master_delay_cs));
                    }
                    if self.params.garp_master_refresh_cs > 0 {
                        self.garp_refresh = Some(after(now, self.params.garp_master_refresh_cs));
                    }
                }
                self.adver = Some(after(now, u32::from(self.advert_int_cs())));
            }
            State::Fault | State::Initialize => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    const MS: Nanos = 1_000_000;

    fn cs(n: u64) -> Nanos {
        n * NANOS_PER_CS
    }

    fn v4(last: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(198, 18, 0, last))
    }

    fn params(priority: u8, last: u8) -> Params {
        Params {
            version: Version::V3,
            priority,
            advert_int_cs: 100,
            preempt: true,
            preempt_delay_cs: 0,
            primary_addr: v4(last),
            garp_master_repeat: 5,
            garp_master_delay_cs: 500,
            garp_master_refresh_cs: 0,
        }
    }

    fn drain(i: &mut Instance) -> Vec<Action> {
        std::iter::from_fn(|| i.poll_action()).collect()
    }

    fn advert(last: u8, priority: u8) -> Advert {
        Advert {
            src: v4(last),
            priority,
            max_adver_int_cs: 100,
        }
    }

    fn change(from: State, to: State, reason: Reason) -> Action {
        Action::StateChange { from, to, reason }
    }

    /// Start a non-owner and let its Master_Down_Timer fire: a Master at
    /// `t0 + down`, with the actions drained.
    fn make_master(p: Params, t0: Nanos) -> (Instance, Nanos) {
        let mut i = Instance::new(p);
        i.handle_startup(t0);
        let t = i
            .master_down_deadline()
            .expect("backup has a master down timer");
        i.handle_timeout(t);
        assert_eq!(i.state(), State::Master);
        drain(&mut i);
        (i, t)
    }

    // ---------------------------------------------------------------- timer maths

    #[test]
    fn v3_timer_maths() {
        // (priority, interval cs, skew cs, down cs), hand-computed:
        // skew = floor((256 - p) * int / 256), down = 3 * int + skew.
        let cases: &[(u8, u16, u32, u32)] = &[
            (1, 1, 0, 3),
            (1, 50, 49, 199),
            (1, 100, 99, 399),
            (1, 4095, 4079, 16364),
            (90, 1, 0, 3),
            (90, 50, 32, 182),
            (90, 100, 64, 364),
            (90, 4095, 2655, 14940),
            (100, 1, 0, 3),
            (100, 50, 30, 180),
            (100, 100, 60, 360),
            (100, 4095, 2495, 14780),
            (200, 1, 0, 3),
            (200, 50, 10, 160),
            (200, 100, 21, 321),
            (200, 4095, 895, 13180),
            (254, 1, 0, 3),
            (254, 50, 0, 150),
            (254, 100, 0, 300),
            (254, 4095, 31, 12316),
            (255, 1, 0, 3),
            (255, 50, 0, 150),
            (255, 100, 0, 300),
            (255, 4095, 15, 12300),
        ];
        for &(p, int, skew, down) in cases {
            assert_eq!(
                skew_time_cs(Version::V3, p, int),
                skew,
                "skew p={p} int={int}"
            );
            assert_eq!(
                master_down_interval_cs(Version::V3, p, int),
                down,
                "down p={p} int={int}"
            );
            let mut prm = params(p, 1);
            prm.advert_int_cs = int;
            let i = Instance::new(prm);
            assert_eq!(
                (i.skew_time_cs(), i.master_down_interval_cs()),
                (skew, down)
            );
        }
    }

    #[test]
    fn v2_timer_maths() {
        // v2: skew = floor((256 - p) * 100 / 256) cs whatever the interval.
        let cases: &[(u8, u16, u32, u32)] = &[
            (1, 100, 99, 399),
            (1, 300, 99, 999),
            (90, 100, 64, 364),
            (90, 300, 64, 964),
            (100, 100, 60, 360),
            (100, 300, 60, 960),
            (200, 100, 21, 321),
            (200, 300, 21, 921),
            (254, 100, 0, 300),
            (254, 300, 0, 900),
            (255, 100, 0, 300),
            (255, 300, 0, 900),
        ];
        for &(p, int, skew, down) in cases {
            assert_eq!(
                skew_time_cs(Version::V2, p, int),
                skew,
                "skew p={p} int={int}"
            );
            assert_eq!(
                master_down_interval_cs(Version::V2, p, int),
                down,
                "down p={p} int={int}"
            );
            let mut prm = params(p, 1);
            prm.version = Version::V2;
            prm.advert_int_cs = int;
            let i = Instance::new(prm);
            assert_eq!(
                (i.skew_time_cs(), i.master_down_interval_cs()),
                (skew, down)
            );
        }
    }

    #[test]
    fn timer_maths_extremes_do_not_overflow() {
        assert_eq!(skew_time_cs(Version::V3, 0, u16::MAX), 65535);
        assert_eq!(master_down_interval_cs(Version::V3, 0, u16::MAX), 4 * 65535);
        assert_eq!(master_down_interval_cs(Version::V3, 255, 0), 0);
        assert_eq!(
            master_down_interval_cs(Version::V2, 0, u16::MAX),
            3 * 65535 + 100
        );
    }

    // ---------------------------------------------------------------- initial election

    #[test]
    fn owner_goes_master_at_once() {
        let mut i = Instance::new(params(255, 1));
        assert_eq!(i.state(), State::Initialize);
        assert_eq!(i.poll_timeout(), None);
        assert_eq!(i.poll_action(), None);
        i.handle_startup(cs(7));
        assert_eq!(
            drain(&mut i),
            vec![
                change(State::Initialize, State::Master, Reason::Owner),
                Action::AddVips,
                Action::SendAdvert { priority: 255 },
                Action::SendGarp { count: 5 },
            ]
        );
        assert_eq!(i.state(), State::Master);
        assert_eq!(i.master_down_deadline(), None);
        assert_eq!(i.poll_timeout(), Some(cs(107)));
        i.handle_timeout(cs(107));
        assert_eq!(drain(&mut i), vec![Action::SendAdvert { priority: 255 }]);
        assert_eq!(i.poll_timeout(), Some(cs(207)));
    }

    #[test]
    fn non_owner_goes_backup_then_master_exactly_at_down_interval() {
        let t0 = 123_456_789;
        let mut i = Instance::new(params(90, 1));
        i.handle_startup(t0);
        assert_eq!(
            drain(&mut i),
            vec![change(State::Initialize, State::Backup, Reason::Startup)]
        );
        assert_eq!(i.state(), State::Backup);
        assert_eq!(i.master_adver_int_cs(), 100);
        let deadline = t0 + cs(364);
        assert_eq!(i.master_down_deadline(), Some(deadline));
        assert_eq!(i.poll_timeout(), Some(deadline));
        i.handle_timeout(deadline - 1);
        assert_eq!(i.state(), State::Backup);
        assert_eq!(i.poll_action(), None);
        i.handle_timeout(deadline);
        assert_eq!(
            drain(&mut i),
            vec![
                change(State::Backup, State::Master, Reason::MasterDown),
                Action::AddVips,
                Action::SendAdvert { priority: 90 },
                Action::SendGarp { count: 5 },
            ]
        );
        assert_eq!(i.master_down_deadline(), None);
        assert_eq!(i.poll_timeout(), Some(deadline + cs(100)));
    }

    #[test]
    fn startup_is_ignored_when_running() {
        let mut i = Instance::new(params(100, 1));
        i.handle_startup(0);
        drain(&mut i);
        i.handle_startup(cs(50));
        assert_eq!(i.poll_action(), None);
        assert_eq!(i.master_down_deadline(), Some(cs(360)));
    }

    // ---------------------------------------------------------------- backup rules

    #[test]
    fn backup_restarts_timer_on_higher_or_equal_priority_and_ignores_lower_with_preempt() {
        let mut i = Instance::new(params(100, 1));
        i.handle_startup(0);
        drain(&mut i);
        i.handle_advert(cs(100), advert(2, 150));
        assert_eq!(i.master_down_deadline(), Some(cs(460)));
        i.handle_advert(cs(200), advert(2, 100)); // equal: restart, whatever the address
        assert_eq!(i.master_down_deadline(), Some(cs(560)));
        i.handle_advert(cs(300), advert(2, 99)); // lower, preempt: ignored
        assert_eq!(i.master_down_deadline(), Some(cs(560)));
        assert_eq!(i.poll_action(), None);
    }

    #[test]
    fn backup_without_preempt_accepts_lower_priority_master() {
        let mut p = params(100, 1);
        p.preempt = false;
        let mut i = Instance::new(p);
        i.handle_startup(0);
        i.handle_advert(cs(300), advert(2, 10));
        assert_eq!(i.master_down_deadline(), Some(cs(660)));
    }

    #[test]
    fn backup_priority_zero_sets_timer_to_skew_and_reports_release() {
        let mut i = Instance::new(params(100, 1));
        i.handle_startup(0);
        drain(&mut i);
        i.handle_advert(cs(100), advert(2, 200));
        i.handle_advert(cs(150), advert(2, 0));
        assert_eq!(i.master_down_deadline(), Some(cs(210))); // skew(100, 100cs) = 60
        i.handle_timeout(cs(210));
        assert_eq!(
            drain(&mut i)[0],
            change(State::Backup, State::Master, Reason::PriorityZero)
        );
    }

    #[test]
    fn v3_backup_learns_interval_from_each_accepted_advert() {
        let mut i = Instance::new(params(90, 1));
        i.handle_startup(0);
        let adv = |int| Advert {
            src: v4(2),
            priority: 200,
            max_adver_int_cs: int,
        };
        i.handle_advert(cs(10), adv(50));
        assert_eq!(i.master_adver_int_cs(), 50);
        assert_eq!(i.skew_time_cs(), 32);
        assert_eq!(i.master_down_deadline(), Some(cs(10 + 182)));
        i.handle_advert(cs(60), adv(4095));
        assert_eq!(i.master_adver_int_cs(), 4095);
        assert_eq!(i.master_down_deadline(), Some(cs(60 + 14940)));
        // A lower-priority advert (ignored, preempt on) teaches nothing.
        i.handle_advert(
            cs(70),
            Advert {
                src: v4(3),
                priority: 10,
                max_adver_int_cs: 1,
            },
        );
        assert_eq!(i.master_adver_int_cs(), 4095);
        // A zero interval field is treated as 1 cs.
        i.handle_advert(cs(80), adv(0));
        assert_eq!(i.master_adver_int_cs(), 1);
        assert_eq!(i.master_down_deadline(), Some(cs(80 + 3)));
    }

    #[test]
    fn v2_backup_does_not_learn_interval() {
        let mut p = params(90, 1);
        p.version = Version::V2;
        let mut i = Instance::new(p);
        i.handle_startup(0);
        i.handle_advert(
            cs(10),
            Advert {
                src: v4(2),
                priority: 200,
                max_adver_int_cs: 300,
            },
        );
        assert_eq!(i.master_adver_int_cs(), 100);
        assert_eq!(i.master_down_deadline(), Some(cs(10 + 364)));
    }

    #[test]
    fn late_advert_uses_its_own_timestamp() {
        let mut i = Instance::new(params(100, 1));
        i.handle_startup(0);
        drain(&mut i);
        i.handle_advert(cs(500), advert(2, 200));
        assert_eq!(i.master_down_deadline(), Some(cs(860)));
        // Delivered late, stamped earlier than the previous event.
        i.handle_advert(cs(400), advert(2, 200));
        assert_eq!(i.master_down_deadline(), Some(cs(760)));
        // A deadline already in the past fires on the next handle_timeout.
        i.handle_advert(cs(50), advert(2, 200));
        assert_eq!(i.poll_timeout(), Some(cs(410)));
        i.handle_timeout(cs(500));
        assert_eq!(i.state(), State::Master);
        // The new timers are armed from `now`, not from the stale deadline.
        assert_eq!(i.poll_timeout(), Some(cs(600)));
    }

    #[test]
    fn late_higher_priority_advert_demotes_master_with_timer_from_its_timestamp() {
        let (mut i, t) = make_master(params(100, 1), 0);
        i.handle_advert(t - cs(10), advert(2, 200));
        assert_eq!(i.state(), State::Backup);
        assert_eq!(i.master_down_deadline(), Some(t - cs(10) + cs(360)));
    }

    #[test]
    fn preempt_delay_keeps_accepting_lower_priority_until_elapsed() {
        let mut p = params(200, 1);
        p.preempt_delay_cs = 1000;
        let mut i = Instance::new(p);
        i.handle_startup(cs(100));
        i.handle_advert(cs(1099), advert(2, 50)); // inside the delay: accepted
        assert_eq!(i.master_down_deadline(), Some(cs(1099 + 321)));
        i.handle_advert(cs(1100), advert(2, 50)); // delay elapsed: ignored
        assert_eq!(i.master_down_deadline(), Some(cs(1099 + 321)));
    }

    // ---------------------------------------------------------------- master rules

    #[test]
    fn master_demoted_by_higher_priority() {
        let (mut i, t) = make_master(params(100, 1), 0);
        let at = t + cs(30);
        i.handle_advert(
            at,
            Advert {
                src: v4(9),
                priority: 150,
                max_adver_int_cs: 200,
            },
        );
        assert_eq!(
            drain(&mut i),
            vec![
                change(
                    State::Master,
                    State::Backup,
                    Reason::HigherPriority {
                        src: v4(9),
                        priority: 150
                    }
                ),
                Action::RemoveVips,
            ]
        );
        assert_eq!(i.state(), State::Backup);
        // v3: learned 200 cs; down = 600 + 156 * 200 / 256 = 600 + 121.
        assert_eq!(i.master_adver_int_cs(), 200);
        assert_eq!(i.master_down_deadline(), Some(at + cs(721)));
        assert_eq!(i.poll_timeout(), Some(at + cs(721)));
    }

    #[test]
    fn master_equal_priority_tie_break_on_address() {
        let (mut i, t) = make_master(params(100, 5), 0);
        // Lower address, equal priority: ignored, no extra advert.
        i.handle_advert(t + 1, advert(4, 100));
        // Lower priority: ignored.
        i.handle_advert(t + 2, advert(200, 99));
        // Our own address (looped back): ignored.
        i.handle_advert(t + 3, advert(5, 100));
        assert_eq!(i.poll_action(), None);
        assert_eq!(i.state(), State::Master);
        assert_eq!(i.poll_timeout(), Some(t + cs(100)));
        i.handle_advert(t + 4, advert(6, 100));
        assert_eq!(
            drain(&mut i),
            vec![
                change(
                    State::Master,
                    State::Backup,
                    Reason::EqualPriorityHigherAddress { src: v4(6) }
                ),
                Action::RemoveVips,
            ]
        );
    }

    #[test]
    fn address_comparison_is_unsigned_big_endian_per_family() {
        assert!(addr_greater(v4(2), v4(1)));
        assert!(addr_greater(
            IpAddr::V4(Ipv4Addr::new(200, 0, 0, 1)),
            IpAddr::V4(Ipv4Addr::new(100, 255, 255, 255))
        ));
        assert!(!addr_greater(v4(1), v4(1)));
        let a: IpAddr = "fe80::2"
            .parse()
            .unwrap_or(IpAddr::V6(Ipv6Addr::UNSPECIFIED));
        let b: IpAddr = "fe80::1"
            .parse()
            .unwrap_or(IpAddr::V6(Ipv6Addr::UNSPECIFIED));
        let c: IpAddr = "ff00::"
            .parse()
            .unwrap_or(IpAddr::V6(Ipv6Addr::UNSPECIFIED));
        assert!(addr_greater(a, b) && !addr_greater(b, a) && addr_greater(c, a));
        // Mixed families never compare greater.
        assert!(!addr_greater(a, v4(1)) && !addr_greater(v4(1), a));

        let mut p = params(100, 1);
        p.primary_addr = a;
        let (mut i, t) = make_master(p, 0);
        i.handle_advert(
            t + 1,
            Advert {
                src: b,
                priority: 100,
                max_adver_int_cs: 100,
            },
        );
        i.handle_advert(
            t + 2,
            Advert {
                src: v4(255),
                priority: 100,
                max_adver_int_cs: 100,
            },
        );
        assert_eq!(i.state(), State::Master);
        i.handle_advert(
            t + 3,
            Advert {
                src: c,
                priority: 100,
                max_adver_int_cs: 100,
            },
        );
        assert_eq!(i.state(), State::Backup);
    }

    #[test]
    fn master_answers_priority_zero_with_immediate_advert() {
        let (mut i, t) = make_master(params(100, 1), 0);
        let at = t + cs(40);
        i.handle_advert(at, advert(2, 0));
        assert_eq!(drain(&mut i), vec![Action::SendAdvert { priority: 100 }]);
        assert_eq!(i.state(), State::Master);
        assert_eq!(i.poll_timeout(), Some(at + cs(100)));
    }

    #[test]
    fn timers_fire_in_deadline_order() {
        let mut p = params(100, 1);
        p.garp_master_delay_cs = 50;
        let (mut i, t) = make_master(p, 0);
        i.handle_timeout(t + cs(100));
        assert_eq!(
            drain(&mut i),
            vec![
                Action::SendGarp { count: 5 },
                Action::SendAdvert { priority: 100 }
            ]
        );
        let mut p = params(100, 1);
        p.garp_master_delay_cs = 150;
        let (mut i, t) = make_master(p, 0);
        i.handle_timeout(t + cs(150));
        assert_eq!(
            drain(&mut i),
            vec![
                Action::SendAdvert { priority: 100 },
                Action::SendGarp { count: 5 }
            ]
        );
        // A late call does not burst catch-up adverts: one advert, re-armed from now.
        i.handle_timeout(t + cs(1000));
        assert_eq!(drain(&mut i), vec![Action::SendAdvert { priority: 100 }]);
        assert_eq!(i.poll_timeout(), Some(t + cs(1100)));
    }

    #[test]
    fn garp_bursts_delay_and_refresh() {
        let mut p = params(100, 1);
        p.garp_master_repeat = 3;
        p.garp_master_delay_cs = 500;
        p.garp_master_refresh_cs = 1000;
        let mut i = Instance::new(p);
        i.handle_startup(0);
        let mut garps = Vec::new();
        let mut now = 0;
        while let Some(t) = i.poll_timeout() {
            if t > cs(3500) {
                break;
            }
            now = t;
            i.handle_timeout(now);
            for a in drain(&mut i) {
                if let Action::SendGarp { count } = a {
                    garps.push((now, count));
                }
            }
        }
        assert!(now <= cs(3500));
        let m = cs(360);
        assert_eq!(
            garps,
            vec![
                (m, 3),
                (m + cs(500), 3),
                (m + cs(1000), 3),
                (m + cs(2000), 3),
                (m + cs(3000), 3)
            ]
        );
    }

    #[test]
    fn garp_repeat_zero_sends_none_and_demotion_cancels_pending_bursts() {
        let mut p = params(100, 1);
        p.garp_master_repeat = 0;
        p.garp_master_refresh_cs = 100;
        let mut i = Instance::new(p);
        i.handle_startup(0);
        i.handle_timeout(cs(360));
        assert!(
            !drain(&mut i)
                .iter()
                .any(|a| matches!(a, Action::SendGarp { .. }))
        );
        assert_eq!(i.poll_timeout(), Some(cs(460))); // only the Adver_Timer

        let mut p = params(100, 1);
        p.garp_master_refresh_cs = 200;
        let (mut i, t) = make_master(p, 0);
        i.handle_advert(t + cs(10), advert(2, 200));
        drain(&mut i);
        assert_eq!(i.poll_timeout(), Some(t + cs(10 + 360)));
        i.handle_timeout(t + cs(300));
        assert_eq!(i.poll_action(), None);
    }

    // ---------------------------------------------------------------- priority changes

    #[test]
    fn priority_change() {
        // Owner: stays 255.
        let mut o = Instance::new(params(255, 1));
        o.handle_priority_change(0, 10);
        assert_eq!(o.priority(), 255);

        // Clamped to 1..=254 for non-owners.
        let mut i = Instance::new(params(100, 1));
        i.handle_priority_change(0, 0);
        assert_eq!(i.priority(), 1);
        i.handle_priority_change(0, 255);
        assert_eq!(i.priority(), 254);

        // Backup: the running timer is kept, the next restart uses the new skew.
        let mut i = Instance::new(params(100, 1));
        i.handle_startup(0);
        i.handle_priority_change(cs(10), 200);
        assert_eq!(i.master_down_deadline(), Some(cs(360)));
        assert_eq!(i.skew_time_cs(), 21);
        i.handle_advert(cs(20), advert(2, 250));
        assert_eq!(i.master_down_deadline(), Some(cs(20 + 321)));

        // Master: next advert carries the new priority, and the new priority
        // is used for the tie break.
        let (mut i, t) = make_master(params(100, 1), 0);
        i.handle_priority_change(t + 1, 50);
        assert_eq!(i.poll_action(), None);
        i.handle_timeout(t + cs(100));
        assert_eq!(drain(&mut i), vec![Action::SendAdvert { priority: 50 }]);
        i.handle_advert(t + cs(110), advert(2, 60));
        assert_eq!(i.state(), State::Backup);
    }

    // ---------------------------------------------------------------- fault, shutdown

    #[test]
    fn fault_and_recovery() {
        let (mut i, t) = make_master(params(100, 1), 0);
        i.handle_fault(t + 5, true);
        assert_eq!(
            drain(&mut i),
            vec![
                change(State::Master, State::Fault, Reason::FaultRaised),
                Action::RemoveVips
            ]
        );
        assert_eq!(i.poll_timeout(), None);
        // Nothing happens in Fault.
        i.handle_fault(t + 6, true);
        i.handle_advert(t + 7, advert(2, 0));
        i.handle_advert(t + 8, advert(2, 200));
        i.handle_timeout(u64::MAX);
        assert_eq!(i.poll_action(), None);
        assert_eq!(i.state(), State::Fault);
        // Recovery: Backup, with the configured interval.
        i.handle_fault(cs(1000), false);
        assert_eq!(
            drain(&mut i),
            vec![change(State::Fault, State::Backup, Reason::FaultCleared)]
        );
        assert_eq!(i.master_down_deadline(), Some(cs(1360)));
        // Backup fault: no VIPs to remove.
        i.handle_fault(cs(1100), true);
        assert_eq!(
            drain(&mut i),
            vec![change(State::Backup, State::Fault, Reason::FaultRaised)]
        );
        assert_eq!(i.poll_timeout(), None);
    }

    #[test]
    fn owner_recovers_from_fault_straight_to_master() {
        let mut i = Instance::new(params(255, 1));
        i.handle_startup(0);
        i.handle_fault(cs(10), true);
        drain(&mut i);
        i.handle_fault(cs(20), false);
        assert_eq!(
            drain(&mut i),
            vec![
                change(State::Fault, State::Master, Reason::FaultCleared),
                Action::AddVips,
                Action::SendAdvert { priority: 255 },
                Action::SendGarp { count: 5 },
            ]
        );
        assert_eq!(i.poll_timeout(), Some(cs(120)));
    }

    #[test]
    fn fault_raised_before_startup_starts_in_fault() {
        let mut i = Instance::new(params(255, 1));
        i.handle_fault(0, true);
        assert_eq!(i.state(), State::Initialize);
        assert_eq!(i.poll_action(), None);
        i.handle_startup(cs(1));
        assert_eq!(
            drain(&mut i),
            vec![change(State::Initialize, State::Fault, Reason::FaultRaised)]
        );
        assert_eq!(i.poll_timeout(), None);
    }

    #[test]
    fn shutdown() {
        let (mut i, t) = make_master(params(100, 1), 0);
        i.handle_shutdown(t + 5);
        assert_eq!(
            drain(&mut i),
            vec![
                change(State::Master, State::Initialize, Reason::Shutdown),
                Action::SendAdvert { priority: 0 },
                Action::RemoveVips,
            ]
        );
        assert_eq!(i.state(), State::Initialize);
        assert_eq!(i.poll_timeout(), None);
        i.handle_advert(t + 6, advert(2, 0));
        i.handle_shutdown(t + 7);
        assert_eq!(i.poll_action(), None);
        // Can be started again.
        i.handle_startup(t + 8);
        assert_eq!(i.state(), State::Backup);

        let mut b = Instance::new(params(100, 1));
        b.handle_startup(0);
        drain(&mut b);
        b.handle_shutdown(cs(1));
        assert_eq!(
            drain(&mut b),
            vec![change(State::Backup, State::Initialize, Reason::Shutdown)]
        );
        assert_eq!(b.poll_timeout(), None);

        let mut f = Instance::new(params(100, 1));
        f.handle_fault(0, true);
        f.handle_startup(0);
        drain(&mut f);
        f.handle_shutdown(cs(1));
        assert_eq!(
            drain(&mut f),
            vec![change(State::Fault, State::Initialize, Reason::Shutdown)]
        );
    }

    // ---------------------------------------------------------------- robustness, display

    #[test]
    fn extreme_inputs_do_not_panic_or_hang() {
        let mut p = params(0, 1);
        p.advert_int_cs = 0;
        p.garp_master_delay_cs = u32::MAX;
        p.garp_master_refresh_cs = 1;
        p.preempt_delay_cs = u32::MAX;
        let mut i = Instance::new(p);
        assert_eq!(i.priority(), 1);
        assert_eq!(i.master_adver_int_cs(), 1);
        i.handle_startup(u64::MAX - 5);
        assert_eq!(i.master_down_deadline(), Some(u64::MAX));
        i.handle_advert(
            u64::MAX,
            Advert {
                src: v4(2),
                priority: 255,
                max_adver_int_cs: u16::MAX,
            },
        );
        i.handle_timeout(u64::MAX);
        assert_eq!(i.state(), State::Master);
        // Every timer saturates at u64::MAX; each fires at most once per call.
        for _ in 0..3 {
            i.handle_timeout(u64::MAX);
        }
        i.handle_advert(0, advert(2, 0));
        i.handle_priority_change(0, 0);
        i.handle_fault(0, true);
        i.handle_fault(0, false);
        i.handle_shutdown(0);
        assert_eq!(i.state(), State::Initialize);
        assert!(drain(&mut i).len() < 100);
    }

    #[test]
    fn display() {
        assert_eq!(State::Initialize.to_string(), "INIT");
        assert_eq!(State::Backup.to_string(), "BACKUP");
        assert_eq!(State::Master.to_string(), "MASTER");
        assert_eq!(State::Fault.to_string(), "FAULT");
        assert_eq!(Reason::MasterDown.to_string(), "master down timer expired");
        assert_eq!(
            Reason::HigherPriority {
                src: v4(2),
                priority: 150
            }
            .to_string(),
            "advert from 198.18.0.2 with higher priority 150"
        );
        assert_eq!(
            Reason::EqualPriorityHigherAddress { src: v4(3) }.to_string(),
            "advert from 198.18.0.3 with equal priority and higher address"
        );
        for r in [
            Reason::Startup,
            Reason::Owner,
            Reason::PriorityZero,
            Reason::Shutdown,
            Reason::FaultRaised,
            Reason::FaultCleared,
        ] {
            assert!(!r.to_string().is_empty());
        }
    }

    // ---------------------------------------------------------------- simulation

    /// N instances on a simulated clock, joined by a simulated multicast link:
    /// every SendAdvert reaches every other live instance `delay` later,
    /// stamped with its arrival time. At equal times, deliveries are processed
    /// before timers.
    struct Sim {
        now: Nanos,
        delay: Nanos,
        nodes: Vec<Node>,
        in_flight: Vec<(Nanos, u64, usize, usize, Advert)>, // (at, seq, from, to, advert)
        seq: u64,
        log: Vec<(Nanos, usize, Action)>,
        /// last_rx[to][from]: arrival time of the last advert from `from` at `to`.
        last_rx: Vec<Vec<Option<Nanos>>>,
    }

    struct Node {
        inst: Instance,
        alive: bool,
    }

    impl Sim {
        fn new(delay: Nanos) -> Self {
            Sim {
                now: 0,
                delay,
                nodes: Vec::new(),
                in_flight: Vec::new(),
                seq: 0,
                log: Vec::new(),
                last_rx: Vec::new(),
            }
        }

        fn add(&mut self, p: Params) -> usize {
            self.nodes.push(Node {
                inst: Instance::new(p),
                alive: true,
            });
            for row in &mut self.last_rx {
                row.push(None);
            }
            self.last_rx.push(vec![None; self.nodes.len()]);
            self.nodes.len() - 1
        }

        fn drain(&mut self, n: usize) {
            while let Some(a) = self.nodes[n].inst.poll_action() {
                if let Action::SendAdvert { priority } = a {
                    let p = self.nodes[n].inst.params();
                    let adv = Advert {
                        src: p.primary_addr,
                        priority,
                        max_adver_int_cs: p.advert_int_cs,
                    };
                    for to in 0..self.nodes.len() {
                        if to != n {
                            self.seq += 1;
                            self.in_flight
                                .push((self.now + self.delay, self.seq, n, to, adv));
                        }
                    }
                }
                self.log.push((self.now, n, a));
            }
        }

        fn start(&mut self, n: usize) {
            self.nodes[n].inst.handle_startup(self.now);
            self.drain(n);
        }

        fn shutdown(&mut self, n: usize) {
            self.nodes[n].inst.handle_shutdown(self.now);
            self.drain(n);
        }

        fn fault(&mut self, n: usize, faulty: bool) {
            self.nodes[n].inst.handle_fault(self.now, faulty);
            self.drain(n);
        }

        /// Crash: the node stops sending and processing (adverts already in
        /// flight still arrive).
        fn kill(&mut self, n: usize) {
            self.nodes[n].alive = false;
        }

        fn run_until(&mut self, until: Nanos) {
            for _ in 0..1_000_000 {
                let next_rx = self.in_flight.iter().map(|d| d.0).min();
                let next_timer = self
                    .nodes
                    .iter()
                    .filter(|n| n.alive)
                    .filter_map(|n| n.inst.poll_timeout())
                    .min();
                let next = match (next_rx, next_timer) {
                    (Some(a), Some(b)) => a.min(b),
                    (a, b) => match a.or(b) {
                        Some(x) => x,
                        None => break,
                    },
                };
                if next > until {
                    break;
                }
                self.now = self.now.max(next);
                let now = self.now;
                self.in_flight.sort_by_key(|d| (d.0, d.1));
                let (due, rest): (Vec<_>, Vec<_>) =
                    self.in_flight.drain(..).partition(|d| d.0 <= now);
                self.in_flight = rest;
                for (at, _, from, to, adv) in due {
                    if self.nodes[to].alive {
                        self.last_rx[to][from] = Some(at);
                        self.nodes[to].inst.handle_advert(at, adv);
                        self.drain(to);
                    }
                }
                for n in 0..self.nodes.len() {
                    if self.nodes[n].alive
                        && self.nodes[n].inst.poll_timeout().is_some_and(|t| t <= now)
                    {
                        self.nodes[n].inst.handle_timeout(now);
                        self.drain(n);
                    }
                }
            }
            self.now = self.now.max(until);
        }

        fn masters(&self) -> Vec<usize> {
            (0..self.nodes.len())
                .filter(|&n| self.nodes[n].alive && self.nodes[n].inst.state() == State::Master)
                .collect()
        }

        fn state(&self, n: usize) -> State {
            self.nodes[n].inst.state()
        }

        /// (time, from, to, reason) of every transition of node `n`.
        fn transitions(&self, n: usize) -> Vec<(Nanos, State, State, Reason)> {
            self.log
                .iter()
                .filter(|(_, m, _)| *m == n)
                .filter_map(|(t, _, a)| match a {
                    Action::StateChange { from, to, reason } => {
                        Some((*t, *from, *to, reason.clone()))
                    }
                    _ => None,
                })
                .collect()
        }

        /// Times at which node `n` became master.
        fn became_master(&self, n: usize) -> Vec<Nanos> {
            self.transitions(n)
                .into_iter()
                .filter(|x| x.2 == State::Master)
                .map(|x| x.0)
                .collect()
        }

        fn actions(&self, n: usize) -> Vec<(Nanos, Action)> {
            self.log
                .iter()
                .filter(|(_, m, _)| *m == n)
                .map(|(t, _, a)| (*t, a.clone()))
                .collect()
        }
    }

    const DELAY: Nanos = MS;

    #[test]
    fn sim_two_routers_elect_highest_priority() {
        let mut sim = Sim::new(DELAY);
        let a = sim.add(params(100, 1));
        let b = sim.add(params(200, 2));
        sim.start(a);
        sim.start(b);
        sim.run_until(cs(3000));
        assert_eq!(sim.masters(), vec![b]);
        assert_eq!(sim.became_master(b), vec![cs(321)]);
        assert!(sim.became_master(a).is_empty());
        assert_eq!(sim.state(a), State::Backup);
        // The backup's timer follows the master's adverts.
        let last = sim.last_rx[a][b].expect("a heard b");
        assert_eq!(
            sim.nodes[a].inst.master_down_deadline(),
            Some(last + cs(360))
        );
    }

    #[test]
    fn sim_three_routers_elect_highest_priority() {
        let mut sim = Sim::new(DELAY);
        let a = sim.add(params(150, 3));
        let b = sim.add(params(100, 9));
        let c = sim.add(params(200, 1));
        for n in [a, b, c] {
            sim.start(n);
        }
        sim.run_until(cs(3000));
        assert_eq!(sim.masters(), vec![c]);
        assert!(sim.became_master(a).is_empty() && sim.became_master(b).is_empty());
    }

    #[test]
    fn sim_three_routers_with_owner() {
        let mut sim = Sim::new(DELAY);
        let a = sim.add(params(200, 3));
        let b = sim.add(params(255, 1));
        let c = sim.add(params(100, 9));
        sim.start(a);
        sim.start(c);
        sim.run_until(cs(1000)); // a is master
        assert_eq!(sim.masters(), vec![a]);
        sim.start(b); // the owner preempts at once
        assert_eq!(sim.masters(), vec![a, b]);
        sim.run_until(cs(3000));
        assert_eq!(sim.masters(), vec![b]);
        assert_eq!(
            sim.transitions(a).last().map(|x| (x.0, x.3.clone())),
            Some((
                cs(1000) + DELAY,
                Reason::HigherPriority {
                    src: v4(1),
                    priority: 255
                }
            ))
        );
    }

    #[test]
    fn sim_equal_priority_higher_address_wins() {
        let mut sim = Sim::new(DELAY);
        let lo = sim.add(params(100, 1));
        let hi = sim.add(params(100, 2));
        sim.start(lo);
        sim.start(hi);
        sim.run_until(cs(3000));
        assert_eq!(sim.masters(), vec![hi]);
        // Both timed out together; the lower address yielded on the first advert.
        assert_eq!(sim.became_master(lo), vec![cs(360)]);
        assert_eq!(
            sim.transitions(lo).last().map(|x| x.3.clone()),
            Some(Reason::EqualPriorityHigherAddress { src: v4(2) })
        );
        assert_eq!(sim.became_master(hi), vec![cs(360)]);
    }

    #[test]
    fn sim_preempt_on_later_higher_priority_takes_over() {
        let mut sim = Sim::new(DELAY);
        let a = sim.add(params(100, 1));
        let b = sim.add(params(200, 2));
        sim.start(a);
        sim.run_until(cs(1000));
        assert_eq!(sim.masters(), vec![a]);
        sim.start(b);
        sim.run_until(cs(3000));
        assert_eq!(sim.masters(), vec![b]);
        // b ignores a's lower-priority adverts and takes over when its timer runs out.
        assert_eq!(sim.became_master(b), vec![cs(1000 + 321)]);
        let demoted: Vec<(Nanos, Action)> = sim
            .actions(a)
            .into_iter()
            .filter(|(t, _)| *t == cs(1321) + DELAY)
            .collect();
        assert_eq!(
            demoted,
            vec![
                (
                    cs(1321) + DELAY,
                    change(
                        State::Master,
                        State::Backup,
                        Reason::HigherPriority {
                            src: v4(2),
                            priority: 200
                        }
                    )
                ),
                (cs(1321) + DELAY, Action::RemoveVips),
            ]
        );
    }

    #[test]
    fn sim_preempt_off_later_higher_priority_does_not_take_over() {
        let mut sim = Sim::new(DELAY);
        let a = sim.add(params(100, 1));
        let mut pb = params(200, 2);
        pb.preempt = false;
        let b = sim.add(pb);
        sim.start(a);
        sim.run_until(cs(1000));
        sim.start(b);
        sim.run_until(cs(6000));
        assert_eq!(sim.masters(), vec![a]);
        assert!(sim.became_master(b).is_empty());
    }

    #[test]
    fn sim_preempt_delay() {
        let mut sim = Sim::new(DELAY);
        let a = sim.add(params(100, 1));
        let mut pb = params(200, 2);
        pb.preempt_delay_cs = 1000;
        let b = sim.add(pb);
        sim.start(a); // master at 3.60 s, adverts at 3.60 + k s
        sim.run_until(cs(1000));
        sim.start(b); // preempt delay until 20.00 s
        sim.run_until(cs(2000));
        assert_eq!(sim.masters(), vec![a]);
        sim.run_until(cs(6000));
        assert_eq!(sim.masters(), vec![b]);
        // Last accepted advert: sent 19.60 s, arrived 19.601 s; + 3.21 s.
        assert_eq!(sim.became_master(b), vec![cs(1960) + DELAY + cs(321)]);
    }

    #[test]
    fn sim_master_killed_highest_backup_takes_over_exactly() {
        let mut sim = Sim::new(DELAY);
        let a = sim.add(params(200, 1));
        let b = sim.add(params(150, 2));
        let c = sim.add(params(100, 3));
        for n in [a, b, c] {
            sim.start(n);
        }
        sim.run_until(cs(1000));
        assert_eq!(sim.masters(), vec![a]);
        sim.kill(a);
        sim.run_until(cs(3000));
        assert_eq!(sim.masters(), vec![b]);
        let last = sim.last_rx[b][a].expect("b heard a");
        assert_eq!(last, cs(921) + DELAY);
        // down(150, 100 cs) = 300 + 106 * 100 / 256 = 341 cs
        assert_eq!(sim.became_master(b), vec![last + cs(341)]);
        assert!(sim.became_master(c).is_empty());
    }

    #[test]
    fn sim_shutdown_takeover_after_skew() {
        let mut sim = Sim::new(DELAY);
        let a = sim.add(params(200, 1));
        let b = sim.add(params(100, 2));
        sim.start(a);
        sim.start(b);
        sim.run_until(cs(1000) + 12345);
        sim.shutdown(a);
        sim.run_until(cs(3000));
        assert_eq!(sim.masters(), vec![b]);
        assert_eq!(sim.state(a), State::Initialize);
        // skew(100, 100 cs) = 60 cs after the priority-0 advert arrived.
        let t = cs(1000) + 12345 + DELAY + cs(60);
        assert_eq!(sim.became_master(b), vec![t]);
        assert_eq!(
            sim.transitions(b).last().map(|x| x.3.clone()),
            Some(Reason::PriorityZero)
        );
    }

    #[test]
    fn sim_v3_backup_learns_master_interval() {
        let mut sim = Sim::new(DELAY);
        let mut pa = params(200, 1);
        pa.advert_int_cs = 200;
        let a = sim.add(pa);
        let b = sim.add(params(100, 2)); // configured 100 cs
        sim.start(a);
        sim.start(b);
        sim.run_until(cs(5000));
        // b timed out first (3.60 s < a's 6.43 s), then yielded and learned 200 cs.
        assert_eq!(sim.became_master(b), vec![cs(360)]);
        assert_eq!(sim.became_master(a), vec![cs(643)]);
        assert_eq!(sim.masters(), vec![a]);
        assert_eq!(sim.nodes[b].inst.master_adver_int_cs(), 200);
        assert_eq!(sim.nodes[b].inst.master_down_interval_cs(), 721);
        // a sends every 2 s from 6.43 s: with 3 s (b's configured down interval)
        // b would have fired; with the learned 7.21 s it stays backup.
        sim.kill(a);
        let last = sim.last_rx[b][a].expect("b heard a");
        sim.run_until(cs(9000));
        assert_eq!(sim.became_master(b), vec![cs(360), last + cs(721)]);
        // Master again: its own interval is the master interval.
        assert_eq!(sim.nodes[b].inst.master_adver_int_cs(), 100);
    }

    #[test]
    fn sim_v2_election() {
        let mut sim = Sim::new(DELAY);
        let mut pa = params(100, 1);
        pa.version = Version::V2;
        pa.advert_int_cs = 300;
        let mut pb = pa.clone();
        pb.priority = 200;
        pb.primary_addr = v4(2);
        let a = sim.add(pa);
        let b = sim.add(pb);
        sim.start(a);
        sim.start(b);
        sim.run_until(cs(6000));
        assert_eq!(sim.masters(), vec![b]);
        assert_eq!(sim.became_master(b), vec![cs(921)]);
        sim.kill(b);
        let last = sim.last_rx[a][b].expect("a heard b");
        sim.run_until(cs(9000));
        assert_eq!(sim.became_master(a), vec![last + cs(960)]);
    }

    #[test]
    fn sim_late_delivery_with_old_timestamp() {
        // A backup whose driver learned about an advert late: the timer is
        // computed from the advert's kernel timestamp, not from delivery.
        let mut sim = Sim::new(DELAY);
        let a = sim.add(params(200, 1));
        let b = sim.add(params(100, 2));
        sim.start(a);
        sim.start(b);
        sim.run_until(cs(1000));
        sim.kill(a);
        let last = sim.last_rx[b][a].expect("b heard a");
        sim.run_until(last + cs(300));
        // An advert sent by a at `last - 1 s` shows up now, stamped with its receive time.
        sim.nodes[b]
            .inst
            .handle_advert(last - cs(100), advert(1, 200));
        assert_eq!(
            sim.nodes[b].inst.master_down_deadline(),
            Some(last - cs(100) + cs(360))
        );
        // That deadline (last + 2.60 s) is already past: fires on the next timeout.
        assert_eq!(
            sim.nodes[b].inst.poll_timeout().map(|t| t <= sim.now),
            Some(true)
        );
        sim.run_until(last + cs(301));
        assert_eq!(sim.became_master(b), vec![last + cs(300)]);
    }

    #[test]
    fn sim_fault_and_recovery() {
        let mut sim = Sim::new(DELAY);
        let a = sim.add(params(200, 1));
        let b = sim.add(params(100, 2));
        sim.start(a);
        sim.start(b);
        sim.run_until(cs(1000));
        sim.fault(a, true);
        assert!(
            !sim.actions(a)
                .iter()
                .any(|(_, x)| *x == Action::SendAdvert { priority: 0 })
        );
        sim.run_until(cs(2000));
        assert_eq!(sim.masters(), vec![b]);
        let last = sim.last_rx[b][a].expect("b heard a");
        assert_eq!(sim.became_master(b), vec![last + cs(360)]);
        sim.fault(a, false);
        assert_eq!(sim.state(a), State::Backup);
        sim.run_until(cs(4000));
        // a (preempt) ignores b's lower adverts and takes back over.
        assert_eq!(sim.masters(), vec![a]);
        assert_eq!(sim.became_master(a), vec![cs(321), cs(2000 + 321)]);
    }

    #[test]
    fn sim_garp_bursts_at_takeover_and_after_delay() {
        let mut sim = Sim::new(DELAY);
        let a = sim.add(params(200, 1));
        let b = sim.add(params(100, 2));
        sim.start(a);
        sim.start(b);
        sim.run_until(cs(1000));
        sim.kill(a);
        sim.run_until(cs(3000));
        let t = sim.became_master(b)[0];
        let garps: Vec<(Nanos, Action)> = sim
            .actions(b)
            .into_iter()
            .filter(|(_, x)| matches!(x, Action::SendGarp { .. }))
            .collect();
        assert_eq!(
            garps,
            vec![
                (t, Action::SendGarp { count: 5 }),
                (t + cs(500), Action::SendGarp { count: 5 })
            ]
        );
    }
}
