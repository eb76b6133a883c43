//! The sans-IO core: everything that decides. No sockets, no netlink, no clocks: inputs come
//! in with the time they happened (`handle_*`), outputs go out as actions and deadlines
//! (`poll_*`). The driver (`crate::driver`) does what the core decides.
//!
//! - `fsm`: one VRRP instance's state machine (RFC 3768 / RFC 5798 with keepalived's
//!   behaviours), its multi-router simulation and tests.
pub mod fsm;
