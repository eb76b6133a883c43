//! The messages built for routes and rules, without a kernel. The kernel side is tested in
//! `tests/tests/routes.rs` (a network namespace, checked with `ip route` / `ip rule`).
use std::net::IpAddr;

use super::*;
use crate::config::IpPrefix;

fn route(dest: &str, len: u8) -> Route {
    Route {
        kind: RouteKind::Unicast,
        dest: IpPrefix { addr: dest.parse().unwrap(), prefix_len: len },
        via: None,
        or_via: Vec::new(),
        dev: None,
        table: None,
        metric: None,
        src: None,
        scope: None,
        proto: None,
        onlink: false,
        track: true,
        line: 3,
    }
}

fn rule() -> Rule {
    Rule {
        action: RuleAction::Lookup,
        invert: false,
        from: None,
        to: None,
        table: Some(100),
        priority: Some(10),
        fwmark: None,
        fwmask: None,
        iif: None,
        oif: None,
        goto: None,
        track: true,
        line: 4,
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn route_defaults_are_keepalived_s() {
    let m = route_message(&route("198.18.1.0", 24), None).unwrap();
    assert_eq!(u8::from(m.header.protocol), RTPROT_KEEPALIVED);
    assert_eq!(m.header.scope, RouteScope::Universe);
    assert_eq!(m.header.table, RouteHeader::RT_TABLE_MAIN);
    assert_eq!(m.header.kind, RouteType::Unicast);
    assert_eq!(m.header.destination_prefix_length, 24);
    assert_eq!(m.header.address_family, AddressFamily::Inet);
    assert_eq!(m.attributes, vec![RouteAttribute::Destination(RouteAddress::Inet("198.18.1.0".parse().unwrap()))]);
}

#[test]
fn route_options_become_attributes() {
    let mut r = route("2001:db8:1::", 48);
    r.via = Some(ip("2001:db8::fe"));
    r.table = Some(1000);
    r.metric = Some(50);
    r.src = Some(ip("2001:db8::1"));
    r.scope = Some("link".into());
    r.proto = Some("static".into());
    r.onlink = true;
    let m = route_message(&r, Some(7)).unwrap();
    assert_eq!(m.header.address_family, AddressFamily::Inet6);
    assert_eq!(m.header.table, RouteHeader::RT_TABLE_UNSPEC, "tables > 255 go in RTA_TABLE");
    assert_eq!(u8::from(m.header.protocol), 4);
    assert_eq!(u8::from(m.header.scope), 253);
    assert!(m.header.flags.contains(&RouteFlag::Onlink));
    for a in [
        RouteAttribute::Table(1000),
        RouteAttribute::Priority(50),
        RouteAttribute::Gateway(RouteAddress::Inet6("2001:db8::fe".parse().unwrap())),
        RouteAttribute::PrefSource(RouteAddress::Inet6("2001:db8::1".parse().unwrap())),
        RouteAttribute::Oif(7),
    ] {
        assert!(m.attributes.contains(&a), "{a:?} missing from {:?}", m.attributes);
    }
}

#[test]
fn default_route_has_no_destination_attribute() {
    let mut r = route("0.0.0.0", 0);
    r.via = Some(ip("198.18.0.1"));
    let m = route_message(&r, None).unwrap();
    assert!(!m.attributes.iter().any(|a| matches!(a, RouteAttribute::Destination(_))));
    assert_eq!(describe_route(&r), "route default via 198.18.0.1");
}

#[test]
fn or_makes_two_next_hops_with_the_device_in_each() {
    let mut r = route("198.18.2.0", 24);
    r.via = Some(ip("198.18.0.1"));
    r.or_via = vec![ip("198.18.0.2"), ip("198.18.0.3")];
    r.dev = Some("eth0".into());
    let m = route_message(&r, Some(5)).unwrap();
    let hops = m
        .attributes
        .iter()
        .find_map(|a| match a {
            RouteAttribute::MultiPath(h) => Some(h.clone()),
            _ => None,
        })
        .expect("RTA_MULTIPATH");
    assert_eq!(hops.len(), 2, "keepalived uses only the first 'or'");
    assert!(hops.iter().all(|h| h.interface_index == 5));
    assert_eq!(hops[1].attributes, vec![RouteAttribute::Gateway(RouteAddress::Inet("198.18.0.2".parse().unwrap()))]);
    assert!(!m.attributes.iter().any(|a| matches!(a, RouteAttribute::Oif(_) | RouteAttribute::Gateway(_))));
}

#[test]
fn what_cannot_be_installed_says_why() {
    let mut r = route("198.18.3.0", 24);
    r.proto = Some("no-such-protocol".into());
    assert!(route_message(&r, None).unwrap_err().contains("protocol 'no-such-protocol'"));
    let mut r = route("198.18.3.0", 24);
    r.kind = RouteKind::Blackhole;
    r.via = Some(ip("198.18.0.1"));
    assert_eq!(route_message(&r, None).unwrap_err(), "a blackhole route takes no via or dev");
    let mut r = route("198.18.3.0", 24);
    r.scope = Some("galaxy".into());
    assert!(route_message(&r, None).is_err());
}

#[test]
fn protocols_by_name_and_number() {
    assert_eq!(protocol_number("keepalived"), Some(18));
    assert_eq!(protocol_number("bird"), Some(12));
    assert_eq!(protocol_number("42"), Some(42));
    assert_eq!(protocol_number("0x12"), Some(18));
    assert_eq!(protocol_number("300"), None);
}

#[test]
fn rule_lookup_with_selectors() {
    let mut r = rule();
    r.invert = true;
    r.from = Some(IpPrefix { addr: ip("198.18.0.0"), prefix_len: 16 });
    r.fwmark = Some(0x10);
    r.fwmask = Some(0xff);
    r.iif = Some("eth0".into());
    let m = rule_message(&r).unwrap();
    assert_eq!(m.header.action, NlRuleAction::ToTable);
    assert_eq!(m.header.table, 100);
    assert_eq!(m.header.src_len, 16);
    assert!(m.header.flags.contains(&RuleFlag::Invert));
    for a in [
        RuleAttribute::Source(ip("198.18.0.0")),
        RuleAttribute::Priority(10),
        RuleAttribute::FwMark(0x10),
        RuleAttribute::FwMask(0xff),
        RuleAttribute::Iifname("eth0".into()),
        RuleAttribute::Protocol(RouteProtocol::from(RTPROT_KEEPALIVED)),
    ] {
        assert!(m.attributes.contains(&a), "{a:?} missing from {:?}", m.attributes);
    }
    assert_eq!(describe_rule(&r), "rule 10: not from 198.18.0.0/16 fwmark 0x10/0xff iif eth0 lookup 100");
}

#[test]
fn rule_actions_and_big_tables() {
    let mut r = rule();
    r.table = Some(1000);
    let m = rule_message(&r).unwrap();
    assert_eq!(m.header.table, RouteHeader::RT_TABLE_UNSPEC);
    assert!(m.attributes.contains(&RuleAttribute::Table(1000)));

    let mut r = rule();
    r.action = RuleAction::Goto;
    r.goto = Some(200);
    let m = rule_message(&r).unwrap();
    assert_eq!(m.header.action, NlRuleAction::Goto);
    assert_eq!(m.header.table, RouteHeader::RT_TABLE_UNSPEC, "goto ignores the table, as keepalived does");
    assert!(m.attributes.contains(&RuleAttribute::Goto(200)));

    let mut r = rule();
    r.action = RuleAction::Blackhole;
    r.track = false;
    let m = rule_message(&r).unwrap();
    assert_eq!(m.header.action, NlRuleAction::Blackhole);
    assert!(!m.attributes.iter().any(|a| matches!(a, RuleAttribute::Protocol(_))), "untracked: no protocol");

    let mut r = rule();
    r.to = Some(IpPrefix { addr: ip("2001:db8::"), prefix_len: 32 });
    assert_eq!(rule_message(&r).unwrap().header.family, AddressFamily::Inet6);

    let mut r = rule();
    r.table = None;
    assert!(rule_message(&r).is_err());
}

#[test]
fn a_kernel_rule_matches_ours_regardless_of_extra_kernel_attributes() {
    let mut r = rule();
    r.priority = None;
    r.from = Some(IpPrefix { addr: ip("198.18.3.0"), prefix_len: 24 });
    let ours = rule_message(&r).unwrap();
    let mut kernel = ours.clone();
    kernel.attributes.insert(0, RuleAttribute::Priority(32765));
    kernel.attributes.push(RuleAttribute::Table(100));
    assert!(rule_matches(&kernel, &ours));
    kernel.attributes.push(RuleAttribute::Iifname("eth1".into()));
    assert!(!rule_matches(&kernel, &ours), "an extra selector makes it another rule");
}

#[test]
fn a_kernel_route_matches_ours_only_with_the_same_protocol() {
    let mut r = route("198.18.4.0", 24);
    r.via = Some(ip("198.18.0.1"));
    let ours = route_message(&r, Some(2)).unwrap();
    let mut kernel = ours.clone();
    kernel.attributes.push(RouteAttribute::Table(254));
    assert!(route_matches(&kernel, &ours));
    kernel.header.protocol = RouteProtocol::Static;
    assert!(!route_matches(&kernel, &ours));
}

#[test]
fn matching_installed_items_ignores_the_line() {
    let a = route("198.18.5.0", 24);
    let mut b = a.clone();
    b.line = 99;
    assert!(same_route(&a, &b));
    b.metric = Some(1);
    assert!(!same_route(&a, &b));
}
