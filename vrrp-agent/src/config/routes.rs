//! `static_routes` / `virtual_routes` and `static_rules` / `virtual_rules` lines.
//!
//! keepalived 2.2.7 skips a route or rule line it cannot use (bad address, unknown
//! table, mixed address families, a rule without an action) and carries on. So does
//! vrrp-agent: such a line is a located warning that says the line is skipped, as
//! keepalived does (see `parse_route` / `parse_rule`); it does not invalidate the instance.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::parser::{Ctx, Node, no_block, parse_uint};
use super::{IpPrefix, Route, RouteKind, Rule, RuleAction};

/// `ADDR[/LEN]` or `default`/`all`/`any` (family decided later). Errors are messages.
fn prefix(s: &str) -> Result<Option<IpPrefix>, String> {
    if matches!(s, "default" | "all" | "any") {
        return Ok(None);
    }
    let (a, l) = match s.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (s, None),
    };
    let addr: IpAddr = a.parse().map_err(|_| format!("'{s}' is not a valid IP address"))?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let prefix_len = match l {
        None => max,
        Some(l) => match parse_uint(l) {
            Some(v) if v <= u64::from(max) => v as u8,
            _ => {
                return Err(format!(
                    "prefix length '{l}' in '{s}' is not valid (0..{max}); keepalived would use {max}"
                ));
            }
        },
    };
    Ok(Some(IpPrefix { addr, prefix_len }))
}

fn unspecified(v6: bool) -> IpPrefix {
    IpPrefix {
        addr: if v6 { IpAddr::V6(Ipv6Addr::UNSPECIFIED) } else { IpAddr::V4(Ipv4Addr::UNSPECIFIED) },
        prefix_len: 0,
    }
}

/// A routing table: a number, `main`/`local`/`default`, or a name from rt_tables.
pub(super) fn table_id(s: &str) -> Option<u32> {
    if let Some(v) = parse_uint(s) {
        return u32::try_from(v).ok();
    }
    if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        return u32::from_str_radix(h, 16).ok();
    }
    match s {
        "main" => return Some(254),
        "local" => return Some(255),
        "default" => return Some(253),
        "unspec" => return Some(0),
        _ => {}
    }
    for f in ["/etc/iproute2/rt_tables", "/usr/share/iproute2/rt_tables", "/usr/lib/iproute2/rt_tables"] {
        if let Ok(text) = std::fs::read_to_string(f) {
            for line in text.lines() {
                let mut w = line.split_whitespace();
                if let (Some(id), Some(name)) = (w.next(), w.next())
                    && !id.starts_with('#')
                    && name == s
                {
                    return parse_uint(id).and_then(|v| u32::try_from(v).ok());
                }
            }
        }
    }
    None
}

fn u32_num(s: &str) -> Option<u32> {
    if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        return u32::from_str_radix(h, 16).ok();
    }
    parse_uint(s).and_then(|v| u32::try_from(v).ok())
}

/// Route options keepalived 2.2.7 knows that vrrp-agent does not model, with the
/// number of values each takes.
const ROUTE_OTHER: &[(&str, usize)] = &[
    ("mtu", 1),
    ("advmss", 1),
    ("realms", 1),
    ("rtt", 1),
    ("rttvar", 1),
    ("reordering", 1),
    ("window", 1),
    ("cwnd", 1),
    ("ssthresh", 1),
    ("initcwnd", 1),
    ("initrwnd", 1),
    ("features", 1),
    ("quickack", 1),
    ("congctl", 1),
    ("rto_min", 1),
    ("pref", 1),
    ("tos", 1),
    ("dsfield", 1),
    ("expires", 1),
    ("fastopen_no_cookie", 1),
    ("ttl-propagate", 1),
    ("from", 1),
    ("hoplimit", 1),
    ("lock", 0),
    ("encap", 0),
    ("nexthop", 0),
];

/// One route line. `None` (with a warning naming the line) if keepalived skips it.
pub(super) fn parse_route(ctx: &mut Ctx, n: &Node) -> Option<Route> {
    no_block(ctx, n);
    let w: Vec<&str> = n.words.iter().map(String::as_str).collect();
    let skip = |ctx: &mut Ctx, why: String| {
        ctx.warn(n, format!("route '{}': {why}; route skipped (as keepalived does)", w.join(" ")));
    };
    let mut i = 0;
    let mut src = None;
    let mut kind = RouteKind::Unicast;
    // keepalived's sample syntax: `src ADDR DEST ...`, and a type before the destination.
    loop {
        match w.get(i).copied() {
            Some("src") => {
                match w.get(i + 1).map(|a| a.parse::<IpAddr>()) {
                    Some(Ok(a)) => src = Some(a),
                    _ => {
                        skip(ctx, format!("src '{}' is not a valid IP address", w.get(i + 1).unwrap_or(&"")));
                        return None;
                    }
                }
                i += 2;
            }
            Some(t @ ("blackhole" | "unreachable" | "prohibit" | "throw")) => {
                kind = match t {
                    "blackhole" => RouteKind::Blackhole,
                    "unreachable" => RouteKind::Unreachable,
                    "prohibit" => RouteKind::Prohibit,
                    _ => RouteKind::Throw,
                };
                i += 1;
            }
            Some(t @ ("local" | "broadcast" | "anycast" | "multicast" | "nat" | "unicast")) if i + 1 < w.len() => {
                if t != "unicast" {
                    ctx.warn(n, format!("route type {t} is not modelled by vrrp-agent; kept as a unicast route"));
                }
                i += 1;
            }
            Some("to") => i += 1,
            _ => break,
        }
    }
    let Some(dest_s) = w.get(i).copied() else {
        skip(ctx, "no destination".to_string());
        return None;
    };
    let dest = match prefix(dest_s) {
        Ok(d) => d,
        Err(e) => {
            skip(ctx, e);
            return None;
        }
    };
    i += 1;
    let mut r = Route {
        kind,
        dest: dest.unwrap_or(unspecified(false)),
        via: None,
        or_via: Vec::new(),
        dev: None,
        table: None,
        metric: None,
        src,
        scope: None,
        proto: None,
        onlink: false,
        track: true,
        line: n.line,
    };
    while i < w.len() {
        let o = w[i];
        let v = w.get(i + 1).copied();
        let needs = matches!(
            o,
            "via" | "gw" | "or" | "dev" | "oif" | "table" | "metric" | "priority" | "preference" | "src" | "scope" | "protocol"
        );
        if needs && v.is_none() {
            skip(ctx, format!("{o} needs a value"));
            return None;
        }
        let v = v.unwrap_or("");
        match o {
            "via" | "gw" | "or" => {
                if o == "gw" {
                    ctx.warn(n, "\"gw\" for routes is deprecated, use \"via\" (as keepalived says)".to_string());
                }
                if o == "or" {
                    ctx.warn(n, "\"or\" for routes is deprecated, use \"nexthop\" (as keepalived says)".to_string());
                }
                // `via inet6 ADDR` is accepted by ip-route; keepalived too.
                let (v, step) = if v == "inet" || v == "inet6" { (w.get(i + 2).copied().unwrap_or(""), 3) } else { (v, 2) };
                match v.parse::<IpAddr>() {
                    Ok(a) if o == "or" => r.or_via.push(a),
                    Ok(a) => r.via = Some(a),
                    Err(_) => {
                        skip(ctx, format!("{o} '{v}' is not a valid IP address"));
                        return None;
                    }
                }
                i += step;
                continue;
            }
            "dev" | "oif" => r.dev = Some(v.to_string()),
            "table" => match table_id(v) {
                Some(t) => r.table = Some(t),
                None => {
                    skip(ctx, format!("routing table '{v}' not found (not a number, main/local/default, or a name in rt_tables)"));
                    return None;
                }
            },
            "metric" | "priority" | "preference" => match u32_num(v) {
                Some(m) => r.metric = Some(m),
                None => {
                    skip(ctx, format!("{o} '{v}' is not a valid number"));
                    return None;
                }
            },
            "src" => match v.parse::<IpAddr>() {
                Ok(a) => r.src = Some(a),
                Err(_) => {
                    skip(ctx, format!("src '{v}' is not a valid IP address"));
                    return None;
                }
            },
            "scope" => {
                let ok = matches!(v, "global" | "universe" | "site" | "link" | "host" | "nowhere")
                    || parse_uint(v).is_some_and(|x| x <= 255);
                if !ok {
                    skip(ctx, format!("scope '{v}' is not valid (global, site, link, host, nowhere or 0..255)"));
                    return None;
                }
                r.scope = Some(v.to_string());
            }
            "protocol" => r.proto = Some(v.to_string()),
            "onlink" => {
                r.onlink = true;
                i += 1;
                continue;
            }
            "no_track" => {
                r.track = false;
                i += 1;
                continue;
            }
            _ => {
                if let Some(&(_, nvals)) = ROUTE_OTHER.iter().find(|(k, _)| *k == o) {
                    if nvals == 0 {
                        // nexthop/encap take the rest of the line.
                        ctx.warn(n, format!("route option '{o}' is not modelled by vrrp-agent; the rest of the line is ignored"));
                        break;
                    }
                    ctx.warn(n, format!("route option '{o}' is not modelled by vrrp-agent, ignored"));
                    i += 1 + nvals;
                } else {
                    skip(
                        ctx,
                        format!("unknown route option '{o}' (keepalived 2.2.7: 'unknown route keyword {o}'{})", if o == "proto" { "; the keyword is 'protocol'" } else { "" }),
                    );
                    return None;
                }
                continue;
            }
        }
        i += 2;
    }
    // Address family: all addresses must agree; `default` follows the others.
    let fams: Vec<bool> = dest
        .iter()
        .map(|d| d.addr.is_ipv6())
        .chain(r.via.iter().map(IpAddr::is_ipv6))
        .chain(r.or_via.iter().map(IpAddr::is_ipv6))
        .chain(r.src.iter().map(IpAddr::is_ipv6))
        .collect();
    if fams.windows(2).any(|p| p[0] != p[1]) {
        skip(ctx, "IPv4 and IPv6 addresses mixed".to_string());
        return None;
    }
    if dest.is_none() {
        r.dest = unspecified(fams.first().copied().unwrap_or(false));
    }
    if r.track && r.dev.is_none() {
        ctx.warn(
            n,
            format!(
                "route {}/{} has no dev: keepalived cannot track it (\"cannot track route ... with no interface specified, not tracking\")",
                r.dest.addr, r.dest.prefix_len
            ),
        );
        r.track = false;
    }
    if r.track && r.proto.as_deref().is_some_and(|p| p != "keepalived" && p != "18") {
        ctx.warn(
            n,
            format!(
                "route {}/{}: a tracked route must have protocol keepalived (18); keepalived resets protocol {} (add no_track to keep it)",
                r.dest.addr,
                r.dest.prefix_len,
                r.proto.as_deref().unwrap_or("")
            ),
        );
        r.proto = Some("keepalived".to_string());
    }
    Some(r)
}

/// One rule line. A rule without a priority gets keepalived's: 16384, then one less for each
/// such rule, across the whole file (`static_rules` and `virtual_rules` in file order), IPv4
/// and IPv6 counted apart (vrrp_iprule.c); a rule with neither `from` nor `to` is IPv4.
pub(super) fn parse_rule(ctx: &mut Ctx, n: &Node) -> Option<Rule> {
    no_block(ctx, n);
    let w: Vec<&str> = n.words.iter().map(String::as_str).collect();
    let skip = |ctx: &mut Ctx, why: String| {
        ctx.warn(n, format!("rule '{}': {why}; rule skipped (as keepalived does)", w.join(" ")));
    };
    let mut r = Rule {
        action: RuleAction::Lookup,
        invert: false,
        from: None,
        to: None,
        table: None,
        priority: None,
        fwmark: None,
        fwmask: None,
        iif: None,
        oif: None,
        goto: None,
        track: true,
        line: n.line,
    };
    let mut has_action = false;
    let mut fams: Vec<bool> = Vec::new();
    let mut i = 0;
    while i < w.len() {
        let o = w[i];
        let v = w.get(i + 1).copied();
        let flag = matches!(o, "not" | "blackhole" | "unreachable" | "prohibit" | "nop" | "no_track" | "track");
        if !flag && v.is_none() {
            skip(ctx, format!("{o} needs a value"));
            return None;
        }
        let v = v.unwrap_or("");
        match o {
            "not" => r.invert = true,
            "blackhole" | "unreachable" | "prohibit" | "nop" => {
                r.action = match o {
                    "blackhole" => RuleAction::Blackhole,
                    "unreachable" => RuleAction::Unreachable,
                    "prohibit" => RuleAction::Prohibit,
                    _ => RuleAction::Nop,
                };
                has_action = true;
            }
            "no_track" => r.track = false,
            "track" => r.track = true,
            "from" | "to" => match prefix(v) {
                Ok(p) => {
                    if let Some(p) = p {
                        fams.push(p.addr.is_ipv6());
                    }
                    if o == "from" {
                        r.from = p;
                    } else {
                        r.to = p;
                    }
                }
                Err(e) => {
                    skip(ctx, format!("invalid rule {o} address: {e}"));
                    return None;
                }
            },
            "table" | "lookup" => match table_id(v) {
                Some(t) => {
                    r.table = Some(t);
                    has_action = true;
                }
                None => {
                    skip(ctx, format!("routing table '{v}' not found"));
                    return None;
                }
            },
            "goto" => match u32_num(v) {
                Some(g) => {
                    r.goto = Some(g);
                    r.action = RuleAction::Goto;
                    has_action = true;
                }
                None => {
                    skip(ctx, format!("goto '{v}' is not a valid number"));
                    return None;
                }
            },
            "priority" | "preference" | "order" | "prio" => match u32_num(v) {
                Some(p) => r.priority = Some(p),
                None => {
                    skip(ctx, format!("{o} '{v}' is not a valid number"));
                    return None;
                }
            },
            "fwmark" => {
                let (m, mask) = match v.split_once('/') {
                    Some((m, k)) => (m, Some(k)),
                    None => (v, None),
                };
                match (u32_num(m), mask.map(u32_num)) {
                    (Some(m), None) => r.fwmark = Some(m),
                    (Some(m), Some(Some(k))) => {
                        r.fwmark = Some(m);
                        r.fwmask = Some(k);
                    }
                    _ => {
                        skip(ctx, format!("fwmark '{v}' is not valid (MARK[/MASK])"));
                        return None;
                    }
                }
            }
            "iif" | "dev" => r.iif = Some(v.to_string()),
            "oif" => r.oif = Some(v.to_string()),
            "tos" | "dsfield" | "realms" | "suppress_prefixlength" | "suppress_ifgroup" | "uidrange" | "sport"
            | "dport" | "ipproto" | "protocol" | "l3mdev" => {
                ctx.warn(n, format!("rule option '{o}' is not modelled by vrrp-agent, ignored"));
                if o == "l3mdev" {
                    has_action = true;
                    i += 1;
                    continue;
                }
            }
            _ => {
                skip(
                    ctx,
                    format!(
                        "unknown rule option '{o}' (keepalived 2.2.7: 'Unknown rule option {o}'{})",
                        if o == "pref" { "; use priority or preference" } else { "" }
                    ),
                );
                return None;
            }
        }
        i += if flag { 1 } else { 2 };
    }
    if fams.windows(2).any(|p| p[0] != p[1]) {
        skip(ctx, "IPv4 and IPv6 addresses mixed".to_string());
        return None;
    }
    if !has_action {
        skip(ctx, "no action (table, goto, blackhole, unreachable, prohibit or nop)".to_string());
        return None;
    }
    if let Some(target) = r.goto {
        // keepalived checks a goto rule's own priority before numbering rules without one.
        match r.priority {
            None => {
                skip(ctx, format!("goto {target} without a priority"));
                return None;
            }
            Some(p) if p >= target => {
                skip(ctx, format!("priority {p} is not below its goto target {target}"));
                return None;
            }
            Some(_) => {}
        }
    }
    if r.priority.is_none() {
        let v6 = fams.first().copied().unwrap_or(false);
        let p = ctx.rule_pref.take(v6);
        ctx.warn(
            n,
            format!("rule has no priority: keepalived sets {p}, which is probably not what you want (\"Rule has no preference specified\")"),
        );
        r.priority = Some(p);
    }
    Some(r)
}
