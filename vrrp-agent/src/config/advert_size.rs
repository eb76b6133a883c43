//! Does each instance's address list fit one advert? A VRRP advert carries at most 255
//! addresses (the count is 8 bits) and must fit the interface's MTU unfragmented; an instance
//! with more VIPs cannot advertise them all, and peers that compare address lists (keepalived
//! does by default) drop its adverts.
use std::path::Path;

use super::{Config, Diagnostic, Severity};

/// MTU assumed when the interface does not exist where the check runs.
pub const DEFAULT_MTU: u32 = 1500;

/// The most IPv4 addresses one advert can carry at `mtu`: IPv4 header 20, VRRP header 8,
/// v2 authentication data 8, 4 per address, and never more than 255.
pub fn max_addrs_v4(mtu: u32, version: u8) -> usize {
    let fixed = 20 + 8 + if version == 2 { 8 } else { 0 };
    let by_mtu = (mtu.saturating_sub(fixed) / 4) as usize;
    by_mtu.min(255)
}

/// The most IPv6 addresses one VRRPv3 advert can carry at `mtu`: IPv6 header 40, VRRP
/// header 8, 16 per address (the agent sends unfragmented), and never more than 255.
pub fn max_addrs_v6(mtu: u32) -> usize {
    ((mtu.saturating_sub(40 + 8) / 16) as usize).min(255)
}

/// The MTU of `ifname` in this network namespace, if it exists.
pub fn interface_mtu(ifname: &str) -> Option<u32> {
    if ifname.is_empty() || ifname.contains('/') || ifname.starts_with('.') {
        return None;
    }
    let text = std::fs::read_to_string(Path::new("/sys/class/net").join(ifname).join("mtu")).ok()?;
    text.trim().parse().ok()
}

/// One warning per instance whose advertised addresses (of its family) do not fit one advert at its
/// interface's MTU (`mtu_of`; [`DEFAULT_MTU`] when it returns `None`, and the message says so).
pub fn warnings(config: &Config, mtu_of: impl Fn(&str) -> Option<u32>) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for inst in &config.instances {
        let v6 = inst.is_ipv6();
        let n = inst.vips.iter().filter(|v| v.addr.is_ipv6() == v6).count();
        let (mtu, whose) = match mtu_of(&inst.interface) {
            Some(m) => (m, format!("{}'s MTU {m}", inst.interface)),
            None => (DEFAULT_MTU, format!("MTU {DEFAULT_MTU} (assumed: interface {} not found here)", inst.interface)),
        };
        let max = if v6 { max_addrs_v6(mtu) } else { max_addrs_v4(mtu, inst.version) };
        if n > max {
            out.push(Diagnostic {
                file: inst.file.clone(),
                line: inst.line,
                severity: Severity::Warning,
                message: format!(
                    "vrrp_instance {}: {n} {} virtual_ipaddress entries do not fit one VRRPv{} advert at {whose}: at most {max}{}; peers comparing address lists will drop its adverts (move the rest to virtual_ipaddress_excluded)",
                    inst.name,
                    if v6 { "IPv6" } else { "IPv4" },
                    inst.version,
                    if max == 255 { " (the address count is 8 bits)" } else { "" },
                ),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{LoadOptions, parse_str};

    fn config(vips: usize, version: u8) -> Config {
        let list: String = (0..vips).map(|i| format!("  198.18.{}.{}\n", i / 250, i % 250 + 1)).collect();
        let text = format!("vrrp_instance BIG {{\n interface eth9\n virtual_router_id 7\n version {version}\n virtual_ipaddress {{\n{list} }}\n}}\n");
        parse_str(&text, "big.conf", &LoadOptions::default()).expect("parse").config
    }

    #[test]
    fn limits() {
        assert_eq!(max_addrs_v4(1500, 2), 255);
        assert_eq!(max_addrs_v4(1500, 3), 255);
        assert_eq!(max_addrs_v4(576, 2), 135);
        assert_eq!(max_addrs_v4(576, 3), 137);
        assert_eq!(max_addrs_v4(0, 3), 0);
        assert_eq!(max_addrs_v6(1500), 90);
        assert_eq!(max_addrs_v6(9000), 255);
        assert_eq!(max_addrs_v6(1280), 77);
        assert_eq!(max_addrs_v6(0), 0);
    }

    #[test]
    fn ipv6_instances_are_measured_in_16_byte_addresses() {
        let cfg = |n: usize| {
            let list: String = (0..n).map(|i| format!("  2001:db8::{:x}\n", i + 1)).collect();
            let text = format!("vrrp_instance V6 {{\n interface eth9\n virtual_router_id 7\n virtual_ipaddress {{\n  fe80::7\n{list} }}\n}}\n");
            parse_str(&text, "v6.conf", &LoadOptions::default()).expect("parse").config
        };
        assert!(warnings(&cfg(89), |_| None).is_empty(), "90 addresses fit 1500");
        let w = warnings(&cfg(90), |_| Some(1500));
        assert_eq!(w.len(), 1);
        assert!(w[0].message.contains("91 IPv6 virtual_ipaddress entries do not fit one VRRPv3 advert at eth9's MTU 1500: at most 90;"), "{}", w[0].message);
    }

    #[test]
    fn warns_with_the_mtu_it_used() {
        assert!(warnings(&config(255, 3), |_| None).is_empty());
        let w = warnings(&config(256, 3), |_| None);
        assert_eq!(w.len(), 1);
        assert_eq!((w[0].line, w[0].severity), (1, Severity::Warning));
        assert!(w[0].message.contains("256 IPv4") && w[0].message.contains("MTU 1500 (assumed: interface eth9 not found here)") && w[0].message.contains("at most 255"), "{}", w[0].message);
        let w = warnings(&config(140, 2), |_| Some(576));
        assert_eq!(w.len(), 1);
        assert!(w[0].message.contains("eth9's MTU 576: at most 135;"), "{}", w[0].message);
        assert!(warnings(&config(135, 2), |_| Some(576)).is_empty());
    }
}
