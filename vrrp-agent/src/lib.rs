//! vrrp-agent: a VRRP (RFC 3768 v2, RFC 5798/9568 v3) daemon whose per-packet work runs in
//! an XDP program. The election is a sans-IO state machine (`core::fsm`); the rest are drivers
//! around it, one job each.
pub mod cli;
pub mod driver;
pub mod clock;
pub mod conflict;
pub mod core;
pub mod config;
pub mod crosscheck;
pub mod dataplane;
pub mod exec;
pub mod health;
pub mod metrics;
pub mod net;
pub mod notify;
pub mod rx;
pub mod sched;
pub mod status;
pub mod trace;
pub mod verdict;
pub mod wire;
