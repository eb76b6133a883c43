//! Interfaces: up/down (keepalived's FAULT), deleted and re-created, MAC changes.
use std::net::IpAddr;

use tracing::{error, info, warn};
use vrrp_common::VipValue;

use crate::{core::fsm::State, net::tx::Sender};

pub use crate::clock::now_ns;
use super::Ctx;
use super::actions::{apply_actions, release, send_garps};
use super::instance::{OwnedVip, Vrrp};

/// Re-reads each instance's interface and raises or clears FAULT on a change (keepalived's
/// FAULT: the interface is down or gone; no VIPs, no adverts).
pub(super) async fn check_links(ctx: &mut Ctx, instances: &mut Vec<Vrrp>) {
    let mut recreated = Vec::new();
    for (n, inst) in instances.iter_mut().enumerate() {
        let up = match ctx.nl.link(&inst.link.name).await {
            Ok(link) if link.index != inst.link.index || inst.link_gone => {
                // Deleted and created again: the XDP attachment went with the old interface,
                // and the map keys and sockets belong to the old ifindex. Stop here (FAULT:
                // VIPs removed) and set the instance up again on the new interface.
                warn!(parent: &inst.span, "interface {} was re-created (ifindex {} -> {}): setting the instance up again", inst.link.name, inst.link.index, link.index);
                recreated.push((n, vec![(inst.link.name.clone(), inst.link.index, link.index)]));
                continue;
            }
            Ok(link) => {
                // A VIP's own device (`dev`) re-created: its XDP attachment and sockets are
                // gone too, so the instance is set up again the same way.
                let mut moved = Vec::new();
                for v in inst.vips.iter().filter(|v| v.link.index != inst.link.index) {
                    if moved.iter().any(|(name, _, _)| *name == v.link.name) {
                        continue;
                    }
                    if let Ok(now) = ctx.nl.link(&v.link.name).await
                        && now.index != v.link.index
                    {
                        moved.push((v.link.name.clone(), v.link.index, now.index));
                    }
                }
                if !moved.is_empty() {
                    warn!(parent: &inst.span, "VIP device(s) re-created ({}): setting the instance up again",
                        moved.iter().map(|(n, a, b)| format!("{n}: ifindex {a} -> {b}")).collect::<Vec<_>>().join(", "));
                    recreated.push((n, moved));
                    continue;
                }
                // IPv6: the advert source is the interface's link-local address, which the
                // kernel removes when the link goes down and adds again, tentative until DAD
                // is done, when it comes back up (or changes with the MAC). Gone or tentative:
                // set the instance up again, which waits in FAULT until a link-local address
                // is usable (never a tentative one) and takes that one.
                if let (IpAddr::V6(src), None) = (inst.primary, inst.cfg.unicast_src_ip)
                    && let Ok(addrs) = ctx.nl.ipv6_addrs(link.index).await
                    && !addrs.iter().any(|(a, _, usable)| *a == src && *usable)
                {
                    warn!(parent: &inst.span, "({}) the advert source {src} is no longer usable on {} (removed, or tentative again): setting the instance up again", inst.cfg.name, inst.link.name);
                    recreated.push((n, Vec::new()));
                    continue;
                }
                link.up
            }
            Err(e @ crate::net::netlink::NetlinkError::NoSuchInterface(_)) => {
                inst.link_gone = true;
                if inst.link.up {
                    warn!(parent: &inst.span, "interface {}: {e}", inst.link.name);
                }
                false
            }
            Err(e) => {
                // A netlink hiccup (ENOBUFS, a lost answer) says nothing about the link:
                // keep the state we have; the next notification or poll looks again.
                warn!(parent: &inst.span, "reading interface {}: {e}; state unchanged", inst.link.name);
                continue;
            }
        };
        follow_macs(ctx, inst).await;
        if up != inst.link.up {
            info!(parent: &inst.span, "interface {} is {}", inst.link.name, if up { "up" } else { "down" });
            inst.link.up = up;
            inst.fsm.handle_fault(now_ns(), !up);
            apply_actions(ctx, inst).await;
        }
    }
    for (n, devices) in recreated.into_iter().rev() {
        let mut inst = instances.remove(n);
        inst.link.up = false;
        inst.fsm.handle_fault(now_ns(), true);
        apply_actions(ctx, &mut inst).await;
        if inst.owns_vips {
            release(ctx, &mut inst).await;
        }
        ctx.dp.forget_vrid(&inst.key);
        for (name, old, new) in devices {
            ctx.dp.forget_interface(old);
            // Fresh sockets in place (instances hold indices into ctx.senders): bound to the
            // new device, and the VRRP group joined again (the membership died with the
            // old one, even when the ifindex is reused).
            for s in ctx.senders.iter_mut().filter(|s| s.ifname() == name) {
                match Sender::new(&name, new) {
                    Ok(fresh) => *s = std::sync::Arc::new(fresh),
                    Err(e) => warn!(parent: &inst.span, "opening sockets on the re-created {name}: {e}"),
                }
            }
        }
        // Set up again by start_waiting (right after this, on the same notification).
        ctx.waiting.push(inst.cfg.clone());
    }
}

/// Follows MAC address changes of the instance's interface and of its VIPs' devices (seen
/// through rtnetlink link notifications): XDP answers ARP with the interface's current MAC,
/// so the OWNED_VIPS values are rewritten, and a master re-announces its VIPs at once.
pub(super) async fn follow_macs(ctx: &mut Ctx, inst: &mut Vrrp) {
    let mut devices: Vec<(String, u32)> = vec![(inst.link.name.clone(), inst.link.index)];
    for v in &inst.vips {
        if !devices.iter().any(|(n, _)| *n == v.link.name) {
            devices.push((v.link.name.clone(), v.link.index));
        }
    }
    let mut changed = false;
    for (name, index) in devices {
        let Ok(now) = ctx.nl.link(&name).await else { continue };
        // A recreated interface (new ifindex) is not a MAC change.
        if now.index != index {
            continue;
        }
        if inst.link.name == name && inst.link.mac != now.mac {
            inst.link.mac = now.mac;
        }
        let span = &inst.span;
        for v in inst.vips.iter_mut().filter(|v| v.link.name == name && v.link.mac != now.mac) {
            info!(parent: span, "interface {name}: MAC changed to {}; answering ARP for {} with it", crate::conflict::fmt_mac(&now.mac), v.vip.addr);
            v.link.mac = now.mac;
            changed = true;
        }
    }
    if !changed || !inst.owns_vips {
        return;
    }
    for OwnedVip { vip, link, .. } in &inst.vips {
        // Only the VIPs marked owned (really added) are rewritten, IPv4 and IPv6 alike.
        if ctx.dp.owns_ip(link.index, vip.addr)
            && let Err(e) = ctx.dp.own_ip(link.index, vip.addr, VipValue::new(link.mac, inst.cfg.vrid))
        {
            error!(parent: &inst.span, "updating the MAC of VIP {} in the dataplane: {e}", vip.addr);
        }
    }
    if inst.fsm.state() == State::Master {
        send_garps(ctx, inst, inst.cfg.garp_master_repeat.max(1));
    }
}
