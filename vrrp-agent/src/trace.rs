//! Packet tracing: `vrrp-agent trace on|off` writes the pinned `TRACE_CONTROL` map (so it
//! works without talking to the agent); while it is on, the XDP program reports every VRRP
//! and ARP packet it handles to the `TRACE_EVENTS` ring buffer and the agent logs one line
//! per packet (target `vrrp_trace`, level info). Off, the XDP program pays one array lookup
//! per VRRP or ARP packet and reports nothing.
use std::{net::Ipv4Addr, path::Path};

use anyhow::Context as _;
use aya::maps::{Array, MapData};
use vrrp_common::{AF_INET, DropReason, TraceEvent, event_reason, names, trace_kind, trace_verdict};

/// Turns tracing on or off for the agent pinned in `bpffs`.
pub fn set(bpffs: &Path, on: bool) -> anyhow::Result<()> {
    let path = bpffs.join(names::TRACE_CONTROL);
    let map = crate::dataplane::open_pinned(bpffs, names::TRACE_CONTROL)
        .with_context(|| format!("opening {} (is a vrrp-agent running with --bpffs {}?)", path.display(), bpffs.display()))?;
    let mut control: Array<MapData, u32> = Array::try_from(map)?;
    control.set(0, u32::from(on), 0).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// Decodes one `TRACE_EVENTS` item.
pub fn parse(bytes: &[u8]) -> Option<TraceEvent> {
    bytemuck::try_pod_read_unaligned(bytes.get(..std::mem::size_of::<TraceEvent>())?).ok()
}

fn addr(family: u32, words: [u32; 4]) -> String {
    if family == u32::from(AF_INET) {
        Ipv4Addr::from(words[0].to_ne_bytes()).to_string()
    } else {
        let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_ne_bytes()).collect();
        let mut b = [0u8; 16];
        b.copy_from_slice(&bytes);
        std::net::Ipv6Addr::from(b).to_string()
    }
}

fn action_name(a: u32) -> &'static str {
    match a {
        0 => "XDP_ABORTED",
        1 => "XDP_DROP",
        2 => "XDP_PASS",
        3 => "XDP_TX",
        4 => "XDP_REDIRECT",
        _ => "XDP_?",
    }
}

/// `event_reason` bits in words.
fn woke_because(bits: u32) -> String {
    let names = [
        (event_reason::FIRST, "first"),
        (event_reason::PRIORITY_ZERO, "priority 0"),
        (event_reason::NEW_SOURCE, "new source"),
        (event_reason::PRIORITY_CHANGED, "priority changed"),
        (event_reason::INTERVAL_CHANGED, "interval changed"),
        (event_reason::NOT_BACKUP, "not backup"),
    ];
    names.iter().filter(|(b, _)| bits & b != 0).map(|(_, n)| *n).collect::<Vec<_>>().join(", ")
}

/// One log line for a traced packet; `ifname` is the receiving interface's name.
pub fn describe(ev: &TraceEvent, ifname: &str) -> String {
    let src = addr(ev.family, ev.src);
    let dst = addr(ev.family, ev.dst);
    let action = action_name(ev.action);
    match ev.kind {
        trace_kind::VRRP => {
            let what = match ev.verdict {
                trace_verdict::ACCEPTED if ev.reason == 0 => "accepted".to_string(),
                trace_verdict::ACCEPTED => format!("accepted, woke the agent ({})", woke_because(ev.reason)),
                trace_verdict::DROPPED => {
                    let reason = DropReason::ALL.get(ev.reason as usize).map_or("unknown", |r| r.counter_name());
                    format!("dropped: {reason}")
                }
                trace_verdict::UNKNOWN_VRID => "VRID not configured here: passed".to_string(),
                _ => "?".to_string(),
            };
            format!("trace: {ifname} VRRP vrid {} {src} -> {dst} priority {}: {what} [{action}]", ev.vrid, ev.priority)
        }
        trace_kind::ARP | trace_kind::ND => {
            let proto = if ev.kind == trace_kind::ARP { "ARP" } else { "ND" };
            let op = match (ev.kind, ev.priority) {
                (trace_kind::ARP, 1) => "request",
                (trace_kind::ARP, 2) => "reply",
                _ => "solicitation",
            };
            let what = match ev.verdict {
                trace_verdict::REPLIED => "answered".to_string(),
                _ => "not answered".to_string(),
            };
            let vrid = if ev.vrid != 0 { format!(" (VIP of vrid {})", ev.vrid) } else { String::new() };
            format!("trace: {ifname} {proto} {op} from {src} for {dst}{vrid}: {what} [{action}]")
        }
        _ => format!("trace: {ifname} packet of kind {} [{action}]", ev.kind),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(a: [u8; 4]) -> [u32; 4] {
        [u32::from_ne_bytes(a), 0, 0, 0]
    }

    #[test]
    fn vrrp_and_arp_lines_name_the_verdict() {
        let mut ev = TraceEvent {
            ifindex: 3,
            kind: trace_kind::VRRP,
            verdict: trace_verdict::ACCEPTED,
            reason: event_reason::NEW_SOURCE | event_reason::PRIORITY_CHANGED,
            action: 1,
            vrid: 51,
            priority: 100,
            family: u32::from(AF_INET),
            src: v4([198, 18, 0, 2]),
            dst: v4([224, 0, 0, 18]),
            ts_ns: 0,
        };
        assert_eq!(
            describe(&ev, "eth0"),
            "trace: eth0 VRRP vrid 51 198.18.0.2 -> 224.0.0.18 priority 100: accepted, woke the agent (new source, priority changed) [XDP_DROP]"
        );
        ev.reason = 0;
        assert!(describe(&ev, "eth0").ends_with("priority 100: accepted [XDP_DROP]"));
        ev.verdict = trace_verdict::DROPPED;
        ev.reason = DropReason::Ttl as u32;
        assert!(describe(&ev, "eth0").ends_with(": dropped: drop_ttl [XDP_DROP]"), "{}", describe(&ev, "eth0"));
        ev.verdict = trace_verdict::UNKNOWN_VRID;
        ev.action = 2;
        assert!(describe(&ev, "eth0").ends_with("VRID not configured here: passed [XDP_PASS]"));
        let arp = TraceEvent {
            kind: trace_kind::ARP,
            verdict: trace_verdict::REPLIED,
            action: 3,
            vrid: 51,
            priority: 1,
            src: v4([198, 18, 0, 9]),
            dst: v4([198, 18, 0, 100]),
            ..ev
        };
        assert_eq!(describe(&arp, "eth0"), "trace: eth0 ARP request from 198.18.0.9 for 198.18.0.100 (VIP of vrid 51): answered [XDP_TX]");
        // IPv6 (the ND responder): 16-byte addresses as four raw words.
        let v6 = |a: std::net::Ipv6Addr| {
            let o = a.octets();
            [0, 4, 8, 12].map(|i| u32::from_ne_bytes([o[i], o[i + 1], o[i + 2], o[i + 3]]))
        };
        let nd = TraceEvent {
            kind: trace_kind::ND,
            family: u32::from(vrrp_common::AF_INET6),
            src: v6("fe80::1".parse().unwrap_or(std::net::Ipv6Addr::UNSPECIFIED)),
            dst: v6("2001:db8::100".parse().unwrap_or(std::net::Ipv6Addr::UNSPECIFIED)),
            ..arp
        };
        assert_eq!(describe(&nd, "eth0"), "trace: eth0 ND solicitation from fe80::1 for 2001:db8::100 (VIP of vrid 51): answered [XDP_TX]");
        let bytes = bytemuck::bytes_of(&arp).to_vec();
        assert_eq!(parse(&bytes), Some(arp));
        assert_eq!(parse(&bytes[..10]), None);
    }
}
