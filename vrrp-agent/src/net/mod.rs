//! The kernel's network stack as the driver uses it: rtnetlink (links, addresses; routes and
//! rules next) and the raw sockets adverts and gratuitous ARPs leave through.
pub mod netlink;
pub mod tx;
