//! The kernel's network stack as the driver uses it: rtnetlink (links, addresses; routes and
//! rules: `routes`) and the raw sockets adverts and gratuitous ARPs leave through.
pub mod netlink;
pub mod routes;
pub mod tx;
