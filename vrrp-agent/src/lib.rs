//! vrrp-agent: a VRRP (RFC 3768 v2, RFC 5798/9568 v3) daemon whose per-packet work runs in
//! an XDP program. The election is a sans-IO state machine (`fsm`); the rest are drivers
//! around it, one job each.
pub mod agent;
pub mod clock;
pub mod conflict;
pub mod config;
pub mod dataplane;
pub mod fsm;
pub mod netlink;
pub mod notify;
pub mod rx;
pub mod status;
pub mod tx;
pub mod verdict;
pub mod wire;
