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
pub mod fsm;
pub mod priority;
pub mod tracker;
