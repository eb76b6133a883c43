//! Receive path in userspace: the slow path for whatever the XDP program does not judge.
//!
//! - [`validate`]: the receive checks, the same rules and reasons as the XDP program.
//! - [`socket`]: raw IPv4 and IPv6 sockets for protocol 112 whose adverts for configured
//!   VRIDs are validated and handed to the election as the ring buffer's `AdvertEvent`s.
//! - [`parity`]: the differential check of the XDP program against [`validate`] (tests, fuzzing).
#[cfg(feature = "parity")]
pub mod parity;
pub mod socket;
pub mod validate;

use std::net::IpAddr;

use vrrp_common::flags;

use crate::config;

/// What the receive checks need from one instance's configuration, in map form.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InstanceRules {
    /// `flags::UNICAST`, `PEER_ALLOW_LIST`, `SKIP_CHECK_ADV_ADDR` as configured.
    pub flags: u32,
    /// The addresses our adverts carry, in advert order.
    pub advertised: Vec<[u8; 4]>,
    /// Our other VIPs (`virtual_ipaddress_excluded`).
    pub excluded: Vec<[u8; 4]>,
    /// The peer allow-list (`VRID_PEERS`, checked with `flags::PEER_ALLOW_LIST`): see
    /// [`InstanceRules::new`].
    pub peers: Vec<[u8; 4]>,
    /// The same for IPv6 (what an IPv6 instance writes to the `_V6` maps).
    pub advertised_v6: Vec<[u8; 16]>,
    pub excluded_v6: Vec<[u8; 16]>,
    pub peers_v6: Vec<[u8; 16]>,
}

impl InstanceRules {
    /// `vips`: (address, advertised) for every VIP the instance runs with, in advert order.
    /// Each family's addresses go to that family's lists; an instance uses its own family's
    /// (see `count_addrs_of` and `Dataplane::set_instance_addrs`).
    pub fn new(cfg: &config::Instance, vips: impl Iterator<Item = (IpAddr, bool)>) -> Self {
        let mut r = InstanceRules::default();
        for (addr, advertised) in vips {
            match (addr, advertised) {
                (IpAddr::V4(a), true) => r.advertised.push(a.octets()),
                (IpAddr::V4(a), false) => r.excluded.push(a.octets()),
                (IpAddr::V6(a), true) => r.advertised_v6.push(a.octets()),
                (IpAddr::V6(a), false) => r.excluded_v6.push(a.octets()),
            }
        }
        // The peer allow-list: the `allowed_peer` block, and with `vrrp_check_unicast_src` a
        // unicast instance's `unicast_peer`s (keepalived's check). Without either, adverts
        // are accepted from any source, as in keepalived.
        let unicast = !cfg.unicast_peers.is_empty();
        let check_unicast = unicast && cfg.check_unicast_src;
        let listed = cfg.allowed_peers.iter().chain(cfg.unicast_peers.iter().filter(|_| check_unicast));
        for p in listed {
            match p {
                IpAddr::V4(a) if !r.peers.contains(&a.octets()) => r.peers.push(a.octets()),
                IpAddr::V6(a) if !r.peers_v6.contains(&a.octets()) => r.peers_v6.push(a.octets()),
                _ => {}
            }
        }
        if unicast {
            r.flags |= flags::UNICAST;
        }
        if check_unicast || !cfg.allowed_peers.is_empty() {
            r.flags |= flags::PEER_ALLOW_LIST;
        }
        if cfg.skip_check_adv_addr {
            r.flags |= flags::SKIP_CHECK_ADV_ADDR;
        }
        r
    }

    /// `VridConfig::count_addrs` of an IPv4 instance.
    pub fn count_addrs(&self) -> u32 {
        self.advertised.len() as u32
    }

    /// `VridConfig::count_addrs` of an instance of `family` (`AF_INET` or `AF_INET6`).
    pub fn count_addrs_of(&self, family: u16) -> u32 {
        if family == vrrp_common::AF_INET6 { self.advertised_v6.len() as u32 } else { self.count_addrs() }
    }
}
