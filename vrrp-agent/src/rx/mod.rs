//! Receive path in userspace: the slow path for whatever the XDP program does not judge.
//!
//! - [`validate`]: the receive checks, the same rules and reasons as the XDP program.
//! - [`socket`]: a raw IPv4 socket for protocol 112 whose adverts for configured VRIDs are
//!   validated and handed to the election as the ring buffer's `AdvertEvent`s.
pub mod socket;
pub mod validate;

use std::net::IpAddr;

use vrrp_common::flags;

use crate::config;

/// What the receive checks need from one instance's configuration, in map form.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InstanceRules {
    /// `flags::UNICAST`, `CHECK_UNICAST_SRC`, `SKIP_CHECK_ADV_ADDR` as configured.
    pub flags: u32,
    /// The addresses our adverts carry, in advert order.
    pub advertised: Vec<[u8; 4]>,
    /// Our other VIPs (`virtual_ipaddress_excluded`).
    pub excluded: Vec<[u8; 4]>,
    /// `unicast_peer`s.
    pub peers: Vec<[u8; 4]>,
}

impl InstanceRules {
    /// `vips`: (address, advertised) for every IPv4 VIP the instance runs with; IPv6 ones
    /// are ignored (IPv4 instances only for now).
    pub fn new(cfg: &config::Instance, vips: impl Iterator<Item = (IpAddr, bool)>) -> Self {
        let mut r = InstanceRules::default();
        for (addr, advertised) in vips {
            if let IpAddr::V4(a) = addr {
                if advertised {
                    r.advertised.push(a.octets());
                } else {
                    r.excluded.push(a.octets());
                }
            }
        }
        r.peers = cfg
            .unicast_peers
            .iter()
            .filter_map(|p| match p {
                IpAddr::V4(a) => Some(a.octets()),
                IpAddr::V6(_) => None,
            })
            .collect();
        if !cfg.unicast_peers.is_empty() {
            r.flags |= flags::UNICAST;
            if cfg.check_unicast_src {
                r.flags |= flags::CHECK_UNICAST_SRC;
            }
        }
        if cfg.skip_check_adv_addr {
            r.flags |= flags::SKIP_CHECK_ADV_ADDR;
        }
        r
    }

    /// `VridConfig::count_addrs`.
    pub fn count_addrs(&self) -> u32 {
        self.advertised.len() as u32
    }
}
