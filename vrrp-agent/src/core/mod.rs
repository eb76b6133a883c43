//! The sans-IO core: everything that decides. No sockets, no netlink, no clocks: inputs come
//! in with the time they happened (`handle_*`), outputs go out as actions and deadlines
//! (`poll_*`). The driver (`crate::driver`) does what the core decides.
//!
//! - `fsm`: one VRRP instance's state machine (RFC 3768 / RFC 5798 with keepalived's
//!   behaviours), its multi-router simulation and tests.
//! - `tracker`: the state of every tracked object (scripts with rise/fall, track files,
//!   process quorums with their delays, tracked interfaces), fed by the health drivers'
//!   `HealthEvent`s and by link changes; reports changes as keepalived logs them.
//! - `priority`: for one instance, its effective priority and fault sources from its
//!   tracker references and any source of tracker states (live or hypothetical).
//! - `sync_group`: `vrrp_sync_group` members moving together; member transitions in,
//!   per-member commands out (applied with the FSM's `handle_sync_*`).
//!
//! How the driver wires them, per event:
//! 1. A `HealthEvent` or link change goes to `tracker::Trackers` (`handle_health`,
//!    `handle_link`); its deadlines join the driver's table (`poll_timeout`).
//!    At startup, report every tracked interface (`Trackers::interface_names`; a missing
//!    one is down) and the first file/process readings before starting the instances:
//!    a weight-0 tracker without a reading holds its instance (keepalived's INIT).
//! 2. For each `poll_change` (logged as is), `priority::Priorities::reevaluate(kind, name,
//!    &trackers)` re-evaluates the instances that track it; each `VerdictChange` goes to its
//!    FSM: `handle_priority_change(now, v.priority)` (log `priority_log()`, keepalived's
//!    "Changing effective priority from X to Y") and `handle_tracker_fault(now,
//!    v.tracker_fault())` (log the `faults` as "entering FAULT state (...)"). At startup,
//!    each FSM gets its `Priorities::verdict` the same way before `handle_startup`.
//!    Transitions with `Reason::InitHold` run no notify script (keepalived does not).
//! 3. For a sync group member, after any fault input: `SyncGroup::handle_own_fault(m,
//!    fsm.own_fault())`; every drained `StateChange`: `handle_transition`; after every
//!    `handle_timeout`/`handle_advert`: `poll_want_master` into `handle_want_master`. Apply
//!    `poll_command`s with `handle_sync_master/backup/fault`, drain again, until quiet.
pub mod fsm;
pub mod priority;
pub mod sync_group;
pub mod tracker;
