//! keepalived's `virtual_routes`, `virtual_rules` (installed while master) and
//! `static_ipaddress`, `static_routes`, `static_rules` (installed for the life of the agent),
//! through rtnetlink.
//!
//! Semantics follow keepalived 2.2.7:
//! - routes are *prepended* (`NLM_F_CREATE` without `NLM_F_EXCL`, like `ip route prepend`): a
//!   route with the same destination and metric but another gateway does not stop ours; the
//!   kernel answers EEXIST only when an identical route is already there;
//! - a route's protocol is `keepalived` (18) unless the line says otherwise, its scope is
//!   `global` unless the line says otherwise, its table `main` unless the line says otherwise;
//! - rules are added with `NLM_F_EXCL` (the kernel would otherwise add a duplicate every time);
//!   a tracked rule carries protocol `keepalived` as keepalived sets it;
//! - the deprecated `or ADDR` makes a two-gateway multipath route from `via` and the first
//!   `or` (keepalived ignores later ones).
//!
//! Ownership: [`Routes`] remembers, per item, the exact message the kernel accepted, and removal
//! sends that message back, so the kernel deletes only the object we made (same gateway,
//! device, protocol, scope, metric, ...), never a look-alike someone else added. An item that
//! was already there when we installed it (EEXIST) is ours only if it carries protocol
//! `keepalived` (a leftover of an earlier run of this agent or of keepalived); anything else is
//! left in place on removal and said so at info level.
//!
//! [`Routes::remove_leftovers`] removes, at start, what a killed earlier run left: identical
//! objects with protocol keepalived only.
//!
//! A rule without a priority: keepalived numbers such rules 16384, 16383, ... across the file;
//! the parsed [`Rule`] does not carry that number yet, so the kernel picks one (as `ip rule add`
//! does) and it is read back so that removal deletes exactly that rule.
//!
//! Order, as keepalived does it: addresses, then routes, then rules on the way up; the reverse
//! on the way down ([`Routes::remove_all`]).
//!
//! Errors are per item and located (`line N: route ...: why`): one bad line never stops the
//! others from being installed.
use std::net::IpAddr;

use futures::{StreamExt as _, TryStreamExt as _};
use netlink_packet_core::{
    NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REQUEST, NetlinkMessage, NetlinkPayload,
};
use netlink_packet_route::{
    AddressFamily, RouteNetlinkMessage,
    address::{AddressAttribute, AddressMessage, AddressScope},
    route::{
        RouteAddress, RouteAttribute, RouteFlag, RouteHeader, RouteMessage, RouteNextHop,
        RouteNextHopFlag, RouteProtocol, RouteScope, RouteType,
    },
    rule::{RuleAction as NlRuleAction, RuleAttribute, RuleFlag, RuleMessage},
};
use rtnetlink::{Handle, IpVersion};

use crate::config::{Route, RouteKind, Rule, RuleAction, VirtualAddress};

/// `RTPROT_KEEPALIVED`: the protocol keepalived marks its routes and tracked rules with.
pub const RTPROT_KEEPALIVED: u8 = 18;

/// Why one route, rule or address could not be installed or removed.
#[derive(Debug, thiserror::Error)]
pub enum RouteErrorKind {
    /// keepalived can express it but this agent (or the kernel interface) cannot install it.
    #[error("cannot be installed: {0}")]
    Unsupported(String),
    #[error("interface {0} does not exist")]
    NoSuchInterface(String),
    /// The kernel answered with an error (ENETUNREACH for an unreachable gateway, EINVAL, ...).
    #[error("the kernel refused it: {0}")]
    Kernel(std::io::Error),
    /// The netlink conversation itself failed.
    #[error("netlink: {0}")]
    Netlink(String),
}

/// A located error: the config line, the item as `ip` would print it, and why.
#[derive(Debug, thiserror::Error)]
#[error("line {line}: {item}: {kind}")]
pub struct RouteError {
    pub line: usize,
    /// e.g. `route 198.18.10.0/24 via 198.18.0.254 dev eth0 table 100`.
    pub item: String,
    #[source]
    pub kind: RouteErrorKind,
}

/// One installed object: the configuration it came from (line number ignored when matching)
/// and the message the kernel accepted.
#[derive(Debug, Clone)]
struct Installed<C, M> {
    cfg: C,
    msg: M,
}

/// Installs and removes routes, rules and static addresses, remembering exactly what it
/// installed. One per agent; the driver calls it from the event loop.
pub struct Routes {
    handle: Handle,
    routes: Vec<Installed<Route, RouteMessage>>,
    rules: Vec<Installed<Rule, RuleMessage>>,
    addrs: Vec<Installed<VirtualAddress, AddressMessage>>,
}

impl Routes {
    /// `handle` is an rtnetlink handle in the namespace the routes belong to (e.g.
    /// `rtnetlink::new_connection()` with its connection task spawned).
    pub fn new(handle: Handle) -> Self {
        Routes { handle, routes: Vec::new(), rules: Vec::new(), addrs: Vec::new() }
    }

    /// Installs the routes. Every call asks the kernel again, so a route the kernel flushed
    /// (its interface went down or away and came back, perhaps with a new index) is put back;
    /// one still there is left alone. An identical route already in the kernel that we did not
    /// add is fine (see the module doc for whose it then is).
    pub async fn install_routes(&mut self, routes: &[Route]) -> Vec<RouteError> {
        let mut errors = Vec::new();
        for r in routes {
            let recorded = self.routes.iter().position(|i| same_route(&i.cfg, r));
            let item = describe_route(r);
            if r.or_via.len() > 1 {
                tracing::warn!(line = r.line, "{item}: only the first \"or\" gateway is used (as keepalived does)");
            }
            let oif = match &r.dev {
                Some(dev) => match self.ifindex(dev).await {
                    Ok(i) => Some(i),
                    Err(kind) => {
                        errors.push(RouteError { line: r.line, item, kind });
                        continue;
                    }
                },
                None => None,
            };
            let msg = match route_message(r, oif) {
                Ok(m) => m,
                Err(why) => {
                    errors.push(RouteError { line: r.line, item, kind: RouteErrorKind::Unsupported(why) });
                    continue;
                }
            };
            let req = new_request(RouteNetlinkMessage::NewRoute(msg.clone()), NLM_F_CREATE);
            match self.talk(req).await {
                Ok(()) => {
                    tracing::info!(line = r.line, "added {item}");
                    match recorded {
                        Some(i) => self.routes[i].msg = msg,
                        None => self.routes.push(Installed { cfg: r.clone(), msg }),
                    }
                }
                Err(RouteErrorKind::Kernel(e)) if e.raw_os_error() == Some(libc::EEXIST) => {
                    if let Some(i) = recorded {
                        // Ours, still there.
                        self.routes[i].msg = msg;
                    } else if u8::from(msg.header.protocol) == RTPROT_KEEPALIVED && self.route_present(&msg).await {
                        tracing::info!(line = r.line, "{item} is already there with protocol keepalived: taken over");
                        self.routes.push(Installed { cfg: r.clone(), msg });
                    } else {
                        tracing::info!(line = r.line, "{item} is already there, added by someone else: it will be left in place");
                    }
                }
                Err(kind) => errors.push(RouteError { line: r.line, item, kind }),
            }
        }
        errors
    }

    /// Removes the routes among `routes` that this object installed (others are ignored).
    /// A route the kernel already dropped (its interface went away) is not an error.
    pub async fn remove_routes(&mut self, routes: &[Route]) -> Vec<RouteError> {
        let mut errors = Vec::new();
        for r in routes {
            let Some(pos) = self.routes.iter().position(|i| same_route(&i.cfg, r)) else { continue };
            let inst = self.routes.remove(pos);
            let item = describe_route(&inst.cfg);
            errors.extend(self.delete(r.line, item, RouteNetlinkMessage::DelRoute(inst.msg), None).await);
        }
        errors
    }

    /// Installs each rule not installed yet (rules name interfaces, so they outlive them: one
    /// installed stays installed). An identical rule already there is ours only if tracked
    /// (protocol keepalived).
    pub async fn install_rules(&mut self, rules: &[Rule]) -> Vec<RouteError> {
        let mut errors = Vec::new();
        for r in rules {
            if self.rules.iter().any(|i| same_rule(&i.cfg, r)) {
                continue;
            }
            let item = describe_rule(r);
            let msg = match rule_message(r) {
                Ok(m) => m,
                Err(why) => {
                    errors.push(RouteError { line: r.line, item, kind: RouteErrorKind::Unsupported(why) });
                    continue;
                }
            };
            let ours = r.track;
            if r.priority.is_none() {
                // The kernel picks the priority, and NLM_F_EXCL cannot see a duplicate at
                // another priority: look for an identical rule first, and read the chosen
                // priority back so that removal deletes exactly this one.
                match self.install_rule_unprioritised(r, &item, msg).await {
                    Ok(Some(msg)) => self.rules.push(Installed { cfg: r.clone(), msg }),
                    Ok(None) => {}
                    Err(kind) => errors.push(RouteError { line: r.line, item, kind }),
                }
                continue;
            }
            let req = new_request(RouteNetlinkMessage::NewRule(msg.clone()), NLM_F_CREATE | NLM_F_EXCL);
            match self.talk(req).await {
                Ok(()) => {
                    tracing::info!(line = r.line, "added {item}");
                    self.rules.push(Installed { cfg: r.clone(), msg });
                }
                Err(RouteErrorKind::Kernel(e)) if e.raw_os_error() == Some(libc::EEXIST) => {
                    // The kernel's duplicate check compares the protocol too.
                    if ours {
                        tracing::info!(line = r.line, "{item} is already there with protocol keepalived: taken over");
                        self.rules.push(Installed { cfg: r.clone(), msg });
                    } else {
                        tracing::info!(line = r.line, "{item} is already there, added by someone else: it will be left in place");
                    }
                }
                Err(kind) => errors.push(RouteError { line: r.line, item, kind }),
            }
        }
        errors
    }

    async fn install_rule_unprioritised(
        &self,
        r: &Rule,
        item: &str,
        msg: RuleMessage,
    ) -> Result<Option<RuleMessage>, RouteErrorKind> {
        let before = self.matching_rules(&msg).await?;
        if let Some(existing) = before.first() {
            if r.track {
                tracing::info!(line = r.line, "{item} is already there with protocol keepalived: taken over");
                return Ok(Some(with_rule_priority(msg, *existing)));
            }
            tracing::info!(line = r.line, "{item} is already there, added by someone else: it will be left in place");
            return Ok(None);
        }
        let req = new_request(RouteNetlinkMessage::NewRule(msg.clone()), NLM_F_CREATE | NLM_F_EXCL);
        self.talk(req).await?;
        let after = self.matching_rules(&msg).await?;
        tracing::info!(line = r.line, "added {item}");
        match after.iter().find(|p| !before.contains(p)) {
            Some(p) => Ok(Some(with_rule_priority(msg, *p))),
            // Someone removed it at once; nothing of ours is left to remove.
            None => Ok(None),
        }
    }

    /// Removes the rules among `rules` that this object installed.
    pub async fn remove_rules(&mut self, rules: &[Rule]) -> Vec<RouteError> {
        let mut errors = Vec::new();
        for r in rules {
            let Some(pos) = self.rules.iter().position(|i| same_rule(&i.cfg, r)) else { continue };
            let inst = self.rules.remove(pos);
            let item = describe_rule(&inst.cfg);
            errors.extend(self.delete(r.line, item, RouteNetlinkMessage::DelRule(inst.msg), None).await);
        }
        errors
    }

    /// Adds the `static_ipaddress` entries (again, if the kernel dropped them with their
    /// interface). An address without `dev` is an error (keepalived would put it on its default
    /// interface; say `dev` explicitly). An address that was on the interface before we added
    /// it is not ours and stays when removed.
    pub async fn install_addresses(&mut self, addrs: &[VirtualAddress]) -> Vec<RouteError> {
        let mut errors = Vec::new();
        for a in addrs {
            let recorded = self.addrs.iter().position(|i| same_addr(&i.cfg, a));
            let item = describe_addr(a);
            let Some(dev) = &a.dev else {
                errors.push(RouteError {
                    line: a.line,
                    item,
                    kind: RouteErrorKind::Unsupported(
                        "no dev (keepalived would use its default interface; name the interface with dev)".into(),
                    ),
                });
                continue;
            };
            let index = match self.ifindex(dev).await {
                Ok(i) => i,
                Err(kind) => {
                    errors.push(RouteError { line: a.line, item, kind });
                    continue;
                }
            };
            let msg = match address_message(a, index) {
                Ok(m) => m,
                Err(why) => {
                    errors.push(RouteError { line: a.line, item, kind: RouteErrorKind::Unsupported(why) });
                    continue;
                }
            };
            let req = new_request(RouteNetlinkMessage::NewAddress(msg.clone()), NLM_F_CREATE | NLM_F_EXCL);
            match self.talk(req).await {
                Ok(()) => {
                    tracing::info!(line = a.line, "added {item}");
                    match recorded {
                        Some(i) => self.addrs[i].msg = msg,
                        None => self.addrs.push(Installed { cfg: a.clone(), msg }),
                    }
                }
                Err(RouteErrorKind::Kernel(e)) if e.raw_os_error() == Some(libc::EEXIST) && recorded.is_some() => {}
                Err(RouteErrorKind::Kernel(e)) if e.raw_os_error() == Some(libc::EEXIST) => {
                    tracing::info!(line = a.line, "{item} is already there, added by someone else: it will be left in place");
                }
                Err(kind) => errors.push(RouteError { line: a.line, item, kind }),
            }
        }
        errors
    }

    /// Removes the static addresses among `addrs` that this object added.
    pub async fn remove_addresses(&mut self, addrs: &[VirtualAddress]) -> Vec<RouteError> {
        let mut errors = Vec::new();
        for a in addrs {
            let Some(pos) = self.addrs.iter().position(|i| same_addr(&i.cfg, a)) else { continue };
            let inst = self.addrs.remove(pos);
            let item = describe_addr(&inst.cfg);
            errors.extend(self.delete(a.line, item, RouteNetlinkMessage::DelAddress(inst.msg), Some(libc::EADDRNOTAVAIL)).await);
        }
        errors
    }

    /// Deletes one object this object installed, with the exact message the kernel accepted
    /// (so only ours goes). One the kernel already dropped (ENOENT/ESRCH, or `also_gone`)
    /// is not an error.
    async fn delete(&mut self, line: usize, item: String, msg: RouteNetlinkMessage, also_gone: Option<i32>) -> Option<RouteError> {
        match self.talk(new_request(msg, 0)).await {
            Ok(()) => {
                tracing::info!(line, "removed {item}");
                None
            }
            Err(RouteErrorKind::Kernel(e)) if is_gone(&e) || (also_gone.is_some() && e.raw_os_error() == also_gone) => {
                tracing::debug!(line, "{item} was already gone");
                None
            }
            Err(kind) => Some(RouteError { line, item, kind }),
        }
    }

    /// Removes everything this object installed: rules first, then routes, then addresses
    /// (the reverse of the order the driver installs them in). For shutdown.
    pub async fn remove_all(&mut self) -> Vec<RouteError> {
        let rules: Vec<Rule> = self.rules.iter().map(|i| i.cfg.clone()).collect();
        let routes: Vec<Route> = self.routes.iter().map(|i| i.cfg.clone()).collect();
        let addrs: Vec<VirtualAddress> = self.addrs.iter().map(|i| i.cfg.clone()).collect();
        let mut errors = self.remove_rules(&rules).await;
        errors.extend(self.remove_routes(&routes).await);
        errors.extend(self.remove_addresses(&addrs).await);
        errors
    }

    /// At start (a backup, or before the first install): removes what an earlier run that was
    /// killed left behind: the routes of `routes` and the tracked rules of `rules` that are in
    /// the kernel with protocol keepalived and not installed by this object. Nothing without
    /// protocol keepalived is touched.
    pub async fn remove_leftovers(&mut self, routes: &[Route], rules: &[Rule]) -> Vec<RouteError> {
        let mut errors = Vec::new();
        for r in routes.iter().filter(|r| !self.has_route(r)) {
            let oif = match &r.dev {
                Some(dev) => match self.ifindex(dev).await {
                    Ok(i) => Some(i),
                    Err(_) => continue, // no interface: nothing of ours can be on it
                },
                None => None,
            };
            let Ok(msg) = route_message(r, oif) else { continue };
            if u8::from(msg.header.protocol) != RTPROT_KEEPALIVED || !self.route_present(&msg).await {
                continue;
            }
            let item = describe_route(r);
            match self.talk(new_request(RouteNetlinkMessage::DelRoute(msg), 0)).await {
                Ok(()) => tracing::info!(line = r.line, "removed {item}, left behind by an earlier run"),
                Err(RouteErrorKind::Kernel(e)) if is_gone(&e) => {}
                Err(kind) => errors.push(RouteError { line: r.line, item, kind }),
            }
        }
        for r in rules.iter().filter(|r| r.track && !self.has_rule(r)) {
            let Ok(msg) = rule_message(r) else { continue };
            let item = describe_rule(r);
            let present = match self.matching_rules(&msg).await {
                Ok(p) => p,
                Err(kind) => {
                    errors.push(RouteError { line: r.line, item, kind });
                    continue;
                }
            };
            for p in present.into_iter().filter(|p| r.priority.is_none_or(|want| want == *p)) {
                let del = with_rule_priority(msg.clone(), p);
                match self.talk(new_request(RouteNetlinkMessage::DelRule(del), 0)).await {
                    Ok(()) => tracing::info!(line = r.line, "removed {item} (priority {p}), left behind by an earlier run"),
                    Err(RouteErrorKind::Kernel(e)) if is_gone(&e) => {}
                    Err(kind) => errors.push(RouteError { line: r.line, item: item.clone(), kind }),
                }
            }
        }
        errors
    }

    /// Whether this route is installed by us (matching ignores the line number).
    pub fn has_route(&self, r: &Route) -> bool {
        self.routes.iter().any(|i| same_route(&i.cfg, r))
    }

    /// Whether this rule is installed by us.
    pub fn has_rule(&self, r: &Rule) -> bool {
        self.rules.iter().any(|i| same_rule(&i.cfg, r))
    }

    /// Whether this static address was added by us.
    pub fn has_address(&self, a: &VirtualAddress) -> bool {
        self.addrs.iter().any(|i| same_addr(&i.cfg, a))
    }

    async fn ifindex(&self, name: &str) -> Result<u32, RouteErrorKind> {
        let mut links = self.handle.link().get().match_name(name.to_string()).execute();
        match links.try_next().await {
            Ok(Some(msg)) => Ok(msg.header.index),
            Ok(None) => Err(RouteErrorKind::NoSuchInterface(name.to_string())),
            Err(rtnetlink::Error::NetlinkError(e)) if e.raw_code() == -libc::ENODEV => {
                Err(RouteErrorKind::NoSuchInterface(name.to_string()))
            }
            Err(e) => Err(RouteErrorKind::Netlink(e.to_string())),
        }
    }

    /// Sends one request and waits for the kernel's acknowledgement.
    async fn talk(&self, req: NetlinkMessage<RouteNetlinkMessage>) -> Result<(), RouteErrorKind> {
        crate::sched::breathe();
        let mut handle = self.handle.clone();
        let mut resp = handle.request(req).map_err(|e| RouteErrorKind::Netlink(e.to_string()))?;
        while let Some(msg) = resp.next().await {
            if let NetlinkPayload::Error(e) = msg.payload {
                if e.code.is_none() {
                    continue; // an ACK
                }
                return Err(RouteErrorKind::Kernel(e.to_io()));
            }
        }
        Ok(())
    }

    /// Is a route identical to `ours` (same protocol included) in the kernel's table?
    async fn route_present(&self, ours: &RouteMessage) -> bool {
        let v = if ours.header.address_family == AddressFamily::Inet6 { IpVersion::V6 } else { IpVersion::V4 };
        let mut req = self.handle.route().get(v);
        req.message_mut().header.table = RouteHeader::RT_TABLE_UNSPEC;
        let mut routes = req.execute();
        while let Ok(Some(m)) = routes.try_next().await {
            if route_matches(&m, ours) {
                return true;
            }
        }
        false
    }

    /// Priorities of the kernel's rules identical to `ours` apart from the priority.
    async fn matching_rules(&self, ours: &RuleMessage) -> Result<Vec<u32>, RouteErrorKind> {
        let v = if ours.header.family == AddressFamily::Inet6 { IpVersion::V6 } else { IpVersion::V4 };
        let mut rules = self.handle.rule().get(v).execute();
        let mut out = Vec::new();
        loop {
            match rules.try_next().await {
                Ok(Some(m)) => {
                    if rule_matches(&m, ours) {
                        out.push(rule_priority(&m).unwrap_or(0));
                    }
                }
                Ok(None) => break,
                Err(e) => return Err(RouteErrorKind::Netlink(e.to_string())),
            }
        }
        Ok(out)
    }
}

fn new_request(msg: RouteNetlinkMessage, flags: u16) -> NetlinkMessage<RouteNetlinkMessage> {
    let mut req = NetlinkMessage::from(msg);
    req.header.flags = NLM_F_REQUEST | NLM_F_ACK | flags;
    req
}

/// On removal: the object is no longer there.
fn is_gone(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ESRCH | libc::ENODEV))
}

/// The same route, wherever it is written (the line does not count).
pub fn same_route(a: &Route, b: &Route) -> bool {
    Route { line: 0, ..a.clone() } == Route { line: 0, ..b.clone() }
}

/// The same rule, wherever it is written.
pub fn same_rule(a: &Rule, b: &Rule) -> bool {
    Rule { line: 0, ..a.clone() } == Rule { line: 0, ..b.clone() }
}

/// The same address, wherever it is written.
pub fn same_addr(a: &VirtualAddress, b: &VirtualAddress) -> bool {
    VirtualAddress { line: 0, ..a.clone() } == VirtualAddress { line: 0, ..b.clone() }
}

fn route_addr(a: IpAddr) -> RouteAddress {
    match a {
        IpAddr::V4(a) => RouteAddress::Inet(a),
        IpAddr::V6(a) => RouteAddress::Inet6(a),
    }
}

/// `global`/`universe`, `site`, `link`, `host`, `nowhere`, or a number 0..255.
fn scope_number(s: &str) -> Option<u8> {
    Some(match s {
        "global" | "universe" => 0,
        "site" => 200,
        "link" => 253,
        "host" => 254,
        "nowhere" => 255,
        _ => return num_u8(s),
    })
}

fn num_u8(s: &str) -> Option<u8> {
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u8::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}

/// A route protocol: a number, one of iproute2's built-in names, or a name from rt_protos.
fn protocol_number(s: &str) -> Option<u8> {
    if let Some(n) = num_u8(s) {
        return Some(n);
    }
    let builtin = [
        ("unspec", 0),
        ("redirect", 1),
        ("kernel", 2),
        ("boot", 3),
        ("static", 4),
        ("gated", 8),
        ("ra", 9),
        ("mrt", 10),
        ("zebra", 11),
        ("bird", 12),
        ("dnrouted", 13),
        ("xorp", 14),
        ("ntk", 15),
        ("dhcp", 16),
        ("keepalived", 18),
        ("babel", 42),
        ("bgp", 186),
        ("isis", 187),
        ("ospf", 188),
        ("rip", 189),
        ("eigrp", 192),
    ];
    if let Some((_, n)) = builtin.iter().find(|(name, _)| *name == s) {
        return Some(*n);
    }
    for f in ["/etc/iproute2/rt_protos", "/usr/share/iproute2/rt_protos", "/usr/lib/iproute2/rt_protos"] {
        let Ok(text) = std::fs::read_to_string(f) else { continue };
        for line in text.lines() {
            let mut w = line.split_whitespace();
            if let (Some(id), Some(name)) = (w.next(), w.next())
                && !id.starts_with('#')
                && name == s
            {
                return num_u8(id);
            }
        }
    }
    None
}

/// The RTM_NEWROUTE message for a route (also what RTM_DELROUTE sends back). `oif` is the
/// index of `dev`. Errors say what cannot be expressed.
pub(crate) fn route_message(r: &Route, oif: Option<u32>) -> Result<RouteMessage, String> {
    let v6 = r.dest.addr.is_ipv6();
    let mut m = RouteMessage::default();
    let h = &mut m.header;
    h.address_family = if v6 { AddressFamily::Inet6 } else { AddressFamily::Inet };
    h.destination_prefix_length = r.dest.prefix_len;
    let table = r.table.unwrap_or(u32::from(RouteHeader::RT_TABLE_MAIN));
    h.table = u8::try_from(table).unwrap_or(RouteHeader::RT_TABLE_UNSPEC);
    h.protocol = match &r.proto {
        None => RouteProtocol::from(RTPROT_KEEPALIVED),
        Some(p) => RouteProtocol::from(
            protocol_number(p).ok_or_else(|| format!("protocol '{p}' is not a number, a known name or in rt_protos"))?,
        ),
    };
    h.scope = match &r.scope {
        None => RouteScope::Universe,
        Some(s) => RouteScope::from(scope_number(s).ok_or_else(|| format!("scope '{s}' is not valid"))?),
    };
    h.kind = match r.kind {
        RouteKind::Unicast => RouteType::Unicast,
        RouteKind::Blackhole => RouteType::BlackHole,
        RouteKind::Unreachable => RouteType::Unreachable,
        RouteKind::Prohibit => RouteType::Prohibit,
        RouteKind::Throw => RouteType::Throw,
    };
    let gateways: Vec<IpAddr> = r.via.iter().chain(r.or_via.iter().take(1)).copied().collect();
    if r.kind != RouteKind::Unicast && (!gateways.is_empty() || r.dev.is_some()) {
        return Err(format!("a {:?} route takes no via or dev", r.kind).to_lowercase());
    }
    if gateways.iter().any(|g| g.is_ipv6() != v6) || r.src.is_some_and(|s| s.is_ipv6() != v6) {
        return Err("IPv4 and IPv6 addresses mixed".into());
    }
    if r.or_via.is_empty() && r.onlink {
        h.flags.push(RouteFlag::Onlink);
    }
    if table > 255 {
        m.attributes.push(RouteAttribute::Table(table));
    }
    if r.dest.prefix_len > 0 || !r.dest.addr.is_unspecified() {
        m.attributes.push(RouteAttribute::Destination(route_addr(r.dest.addr)));
    }
    if let Some(src) = r.src {
        m.attributes.push(RouteAttribute::PrefSource(route_addr(src)));
    }
    if let Some(metric) = r.metric {
        m.attributes.push(RouteAttribute::Priority(metric));
    }
    if r.or_via.is_empty() {
        if let Some(g) = r.via {
            m.attributes.push(RouteAttribute::Gateway(route_addr(g)));
        }
        if let Some(i) = oif {
            m.attributes.push(RouteAttribute::Oif(i));
        }
    } else {
        // `via A or B`: two next hops. The kernel wants the device in each next hop (an outer
        // RTA_OIF must equal the first hop's), so `dev` goes there.
        let hops = gateways
            .iter()
            .map(|g| {
                let mut nh = RouteNextHop::default();
                nh.interface_index = oif.unwrap_or(0);
                if r.onlink {
                    nh.flags.push(RouteNextHopFlag::Onlink);
                }
                nh.attributes.push(RouteAttribute::Gateway(route_addr(*g)));
                nh
            })
            .collect();
        m.attributes.push(RouteAttribute::MultiPath(hops));
    }
    Ok(m)
}

/// The RTM_NEWRULE message for a rule (also what RTM_DELRULE sends back).
pub(crate) fn rule_message(r: &Rule) -> Result<RuleMessage, String> {
    let v6 = r.from.iter().chain(r.to.iter()).any(|p| p.addr.is_ipv6());
    let mut m = RuleMessage::default();
    let h = &mut m.header;
    h.family = if v6 { AddressFamily::Inet6 } else { AddressFamily::Inet };
    h.table = RouteHeader::RT_TABLE_UNSPEC;
    h.action = match r.action {
        RuleAction::Lookup => NlRuleAction::ToTable,
        RuleAction::Blackhole => NlRuleAction::Blackhole,
        RuleAction::Unreachable => NlRuleAction::Unreachable,
        RuleAction::Prohibit => NlRuleAction::Prohibit,
        RuleAction::Nop => NlRuleAction::Nop,
        RuleAction::Goto => NlRuleAction::Goto,
    };
    if r.invert {
        h.flags.push(RuleFlag::Invert);
    }
    if r.action == RuleAction::Lookup {
        let Some(table) = r.table else { return Err("a lookup rule needs a table".into()) };
        match u8::try_from(table) {
            Ok(0) => h.table = RouteHeader::RT_TABLE_MAIN,
            Ok(t) => h.table = t,
            Err(_) => m.attributes.push(RuleAttribute::Table(table)),
        }
    }
    if let Some(p) = r.from {
        m.header.src_len = p.prefix_len;
        m.attributes.push(RuleAttribute::Source(p.addr));
    }
    if let Some(p) = r.to {
        m.header.dst_len = p.prefix_len;
        m.attributes.push(RuleAttribute::Destination(p.addr));
    }
    if let Some(p) = r.priority {
        m.attributes.push(RuleAttribute::Priority(p));
    }
    if let Some(f) = r.fwmark {
        m.attributes.push(RuleAttribute::FwMark(f));
    }
    if let Some(f) = r.fwmask {
        m.attributes.push(RuleAttribute::FwMask(f));
    }
    for (name, what) in [(&r.iif, "iif"), (&r.oif, "oif")] {
        if let Some(n) = name
            && (n.is_empty() || n.len() >= libc::IFNAMSIZ)
        {
            return Err(format!("{what} '{n}' is not a valid interface name"));
        }
    }
    if let Some(i) = &r.iif {
        m.attributes.push(RuleAttribute::Iifname(i.clone()));
    }
    if let Some(o) = &r.oif {
        m.attributes.push(RuleAttribute::Oifname(o.clone()));
    }
    if r.action == RuleAction::Goto {
        let Some(g) = r.goto else { return Err("a goto rule needs a target".into()) };
        m.attributes.push(RuleAttribute::Goto(g));
    }
    if r.track {
        m.attributes.push(RuleAttribute::Protocol(RouteProtocol::from(RTPROT_KEEPALIVED)));
    }
    Ok(m)
}

/// The RTM_NEWADDR message for a static address on interface `index`.
pub(crate) fn address_message(a: &VirtualAddress, index: u32) -> Result<AddressMessage, String> {
    let mut m = AddressMessage::default();
    m.header.family = if a.addr.is_ipv6() { AddressFamily::Inet6 } else { AddressFamily::Inet };
    m.header.prefix_len = a.prefix_len;
    m.header.index = index;
    if let Some(s) = &a.scope {
        m.header.scope = AddressScope::from(scope_number(s).ok_or_else(|| format!("scope '{s}' is not valid"))?);
    }
    m.attributes.push(AddressAttribute::Local(a.addr));
    m.attributes.push(AddressAttribute::Address(a.addr));
    if let Some(b) = a.brd {
        if a.addr.is_ipv6() {
            return Err("brd is for IPv4 addresses only".into());
        }
        m.attributes.push(AddressAttribute::Broadcast(b));
    }
    if let Some(l) = &a.label {
        if l.len() >= libc::IFNAMSIZ {
            return Err(format!("label '{l}' is longer than {} characters", libc::IFNAMSIZ - 1));
        }
        m.attributes.push(AddressAttribute::Label(l.clone()));
    }
    Ok(m)
}

fn with_rule_priority(mut m: RuleMessage, prio: u32) -> RuleMessage {
    m.attributes.retain(|a| !matches!(a, RuleAttribute::Priority(_)));
    m.attributes.push(RuleAttribute::Priority(prio));
    m
}

fn rule_priority(m: &RuleMessage) -> Option<u32> {
    m.attributes.iter().find_map(|a| match a {
        RuleAttribute::Priority(p) => Some(*p),
        _ => None,
    })
}

fn rule_table(m: &RuleMessage) -> u32 {
    m.attributes
        .iter()
        .find_map(|a| match a {
            RuleAttribute::Table(t) => Some(*t),
            _ => None,
        })
        .unwrap_or(u32::from(m.header.table))
}

fn rule_protocol(m: &RuleMessage) -> u8 {
    m.attributes
        .iter()
        .find_map(|a| match a {
            RuleAttribute::Protocol(p) => Some(u8::from(*p)),
            _ => None,
        })
        .unwrap_or(0)
}

/// Does the kernel's rule `k` equal `ours`, apart from the priority (and the attributes the
/// kernel adds on its own)?
fn rule_matches(k: &RuleMessage, ours: &RuleMessage) -> bool {
    let (kh, oh) = (&k.header, &ours.header);
    let flag = |m: &RuleMessage| m.header.flags.contains(&RuleFlag::Invert);
    let action_table = |m: &RuleMessage| if m.header.action == NlRuleAction::ToTable { rule_table(m) } else { 0 };
    kh.family == oh.family
        && kh.src_len == oh.src_len
        && kh.dst_len == oh.dst_len
        && kh.tos == oh.tos
        && kh.action == oh.action
        && flag(k) == flag(ours)
        && action_table(k) == action_table(ours)
        && rule_protocol(k) == rule_protocol(ours)
        && ours
            .attributes
            .iter()
            .filter(|a| !matches!(a, RuleAttribute::Priority(_) | RuleAttribute::Table(_) | RuleAttribute::Protocol(_)))
            .all(|a| k.attributes.contains(a))
        && k.attributes.iter().all(|a| match a {
            // Selectors the kernel has that we did not ask for make it a different rule.
            RuleAttribute::Source(_)
            | RuleAttribute::Destination(_)
            | RuleAttribute::Iifname(_)
            | RuleAttribute::Oifname(_)
            | RuleAttribute::FwMark(_)
            | RuleAttribute::Goto(_) => ours.attributes.contains(a),
            _ => true,
        })
}

fn route_table(m: &RouteMessage) -> u32 {
    m.attributes
        .iter()
        .find_map(|a| match a {
            RouteAttribute::Table(t) => Some(*t),
            _ => None,
        })
        .unwrap_or(u32::from(m.header.table))
}

fn gateways(m: &RouteMessage) -> Vec<(u32, RouteAddress)> {
    let oif = m
        .attributes
        .iter()
        .find_map(|a| match a {
            RouteAttribute::Oif(i) => Some(*i),
            _ => None,
        })
        .unwrap_or(0);
    let mut out = Vec::new();
    for a in &m.attributes {
        match a {
            RouteAttribute::Gateway(g) => out.push((oif, g.clone())),
            RouteAttribute::MultiPath(hops) => {
                for h in hops {
                    for a in &h.attributes {
                        if let RouteAttribute::Gateway(g) = a {
                            out.push((h.interface_index, g.clone()));
                        }
                    }
                }
            }
            _ => {}
        }
    }
    out.sort_by_key(|(i, g)| (*i, format!("{g:?}")));
    out
}

/// Does the kernel's route `k` equal `ours` (protocol, scope, type, destination, table,
/// gateways, device, metric and preferred source where we gave them)?
fn route_matches(k: &RouteMessage, ours: &RouteMessage) -> bool {
    let (kh, oh) = (&k.header, &ours.header);
    let attr = |m: &RouteMessage, f: fn(&RouteAttribute) -> bool| m.attributes.iter().find(|a| f(a)).cloned();
    let same_or_unset = |f: fn(&RouteAttribute) -> bool| match attr(ours, f) {
        None => true,
        Some(a) => attr(k, f) == Some(a),
    };
    kh.address_family == oh.address_family
        && kh.destination_prefix_length == oh.destination_prefix_length
        && kh.protocol == oh.protocol
        && kh.scope == oh.scope
        && kh.kind == oh.kind
        && route_table(k) == route_table(ours)
        && attr(k, |a| matches!(a, RouteAttribute::Destination(_))) == attr(ours, |a| matches!(a, RouteAttribute::Destination(_)))
        && same_or_unset(|a| matches!(a, RouteAttribute::Priority(_)))
        && same_or_unset(|a| matches!(a, RouteAttribute::PrefSource(_)))
        && same_or_unset(|a| matches!(a, RouteAttribute::Oif(_)))
        && {
            let (kg, og) = (gateways(k), gateways(ours));
            kg.len() == og.len() && kg.iter().zip(&og).all(|((ki, kg), (oi, og))| kg == og && (*oi == 0 || ki == oi))
        }
}

fn prefix_str(addr: IpAddr, len: u8) -> String {
    let full = if addr.is_ipv4() { 32 } else { 128 };
    if len == 0 && addr.is_unspecified() {
        "default".into()
    } else if len == full {
        addr.to_string()
    } else {
        format!("{addr}/{len}")
    }
}

/// A route as `ip route` would print it (what errors and logs name it by).
pub fn describe_route(r: &Route) -> String {
    let mut s = String::from("route ");
    if r.kind != RouteKind::Unicast {
        s.push_str(&format!("{:?} ", r.kind).to_lowercase());
    }
    s.push_str(&prefix_str(r.dest.addr, r.dest.prefix_len));
    if let Some(v) = r.via {
        s.push_str(&format!(" via {v}"));
    }
    for o in r.or_via.iter().take(1) {
        s.push_str(&format!(" or {o}"));
    }
    if let Some(d) = &r.dev {
        s.push_str(&format!(" dev {d}"));
    }
    if let Some(t) = r.table {
        s.push_str(&format!(" table {t}"));
    }
    if let Some(m) = r.metric {
        s.push_str(&format!(" metric {m}"));
    }
    if let Some(a) = r.src {
        s.push_str(&format!(" src {a}"));
    }
    if let Some(sc) = &r.scope {
        s.push_str(&format!(" scope {sc}"));
    }
    if let Some(p) = &r.proto {
        s.push_str(&format!(" proto {p}"));
    }
    if r.onlink {
        s.push_str(" onlink");
    }
    s
}

/// A rule as `ip rule` would print it.
pub fn describe_rule(r: &Rule) -> String {
    let mut s = String::from("rule");
    if let Some(p) = r.priority {
        s.push_str(&format!(" {p}:"));
    }
    if r.invert {
        s.push_str(" not");
    }
    match r.from {
        Some(p) => s.push_str(&format!(" from {}", prefix_str(p.addr, p.prefix_len))),
        None => s.push_str(" from all"),
    }
    if let Some(p) = r.to {
        s.push_str(&format!(" to {}", prefix_str(p.addr, p.prefix_len)));
    }
    if let Some(f) = r.fwmark {
        match r.fwmask {
            Some(k) => s.push_str(&format!(" fwmark {f:#x}/{k:#x}")),
            None => s.push_str(&format!(" fwmark {f:#x}")),
        }
    }
    if let Some(i) = &r.iif {
        s.push_str(&format!(" iif {i}"));
    }
    if let Some(o) = &r.oif {
        s.push_str(&format!(" oif {o}"));
    }
    match r.action {
        RuleAction::Lookup => s.push_str(&format!(" lookup {}", r.table.unwrap_or(254))),
        RuleAction::Goto => s.push_str(&format!(" goto {}", r.goto.unwrap_or(0))),
        RuleAction::Blackhole => s.push_str(" blackhole"),
        RuleAction::Unreachable => s.push_str(" unreachable"),
        RuleAction::Prohibit => s.push_str(" prohibit"),
        RuleAction::Nop => s.push_str(" nop"),
    }
    s
}

/// A static address as `ip addr` would name it.
pub fn describe_addr(a: &VirtualAddress) -> String {
    let mut s = format!("address {}/{}", a.addr, a.prefix_len);
    if let Some(d) = &a.dev {
        s.push_str(&format!(" dev {d}"));
    }
    s
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests: a failing step fails the test")]
mod tests;
