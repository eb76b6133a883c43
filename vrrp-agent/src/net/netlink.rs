//! Interfaces and addresses through rtnetlink: look up an interface, find its primary
//! address (IPv4) or link-local address (IPv6), add and remove VIPs.
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use futures::TryStreamExt as _;
use netlink_packet_route::{
    address::{AddressAttribute, AddressFlag, AddressHeaderFlag, AddressMessage, AddressScope},
    link::{InfoKind, LinkAttribute, LinkFlag, LinkInfo as NlLinkInfo, LinkXdp, XdpAttached},
};
use rtnetlink::Handle;

#[derive(Debug, thiserror::Error)]
pub enum NetlinkError {
    #[error("interface {0} does not exist")]
    NoSuchInterface(String),
    #[error("interface {0} has no IPv4 address to send adverts from")]
    NoPrimaryAddress(String),
    /// RFC 9568 §5.1.2.1: IPv6 adverts leave from the interface's link-local address, and a
    /// tentative one (duplicate address detection still running) cannot be used yet.
    #[error("interface {0} has no usable IPv6 link-local address (none, or still tentative) to send adverts from")]
    NoLinkLocal(String),
    #[error("netlink: {0}")]
    Netlink(#[from] rtnetlink::Error),
    #[error("netlink connection: {0}")]
    Io(#[from] std::io::Error),
}

/// What the agent needs to know about an interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkInfo {
    pub name: String,
    pub index: u32,
    pub mac: [u8; 6],
    /// Administratively up and with carrier.
    pub up: bool,
    /// The rtnetlink link kind ("veth", "bridge", ...) if the link has one.
    pub kind: Option<String>,
}

/// A VIP to add or remove.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vip {
    pub addr: IpAddr,
    pub prefix_len: u8,
    pub label: Option<String>,
}

#[derive(Clone)]
pub struct Netlink {
    handle: Handle,
}

impl Netlink {
    /// A handle on the same rtnetlink connection (routes and rules use it).
    pub fn handle(&self) -> Handle {
        self.handle.clone()
    }
}

/// Link change notifications (RTNLGRP_LINK): the kernel pushes a message whenever a link
/// changes (up/down, carrier, added, removed), so interface faults are seen at once instead
/// of by polling. And IPv6 address notifications (RTNLGRP_IPV6_IFADDR): an IPv6 instance's
/// advert source is the interface's link-local address, which comes and goes without a link
/// notification (removed by hand, DAD failed, or made usable by DAD finishing in a kernel
/// work item after the link's own notification when the link comes back up).
pub struct LinkEvents {
    messages: futures::channel::mpsc::UnboundedReceiver<(
        netlink_packet_core::NetlinkMessage<netlink_packet_route::RouteNetlinkMessage>,
        netlink_sys::SocketAddr,
    )>,
    /// The connection task ends when its last handle is dropped.
    _handle: Handle,
}

impl LinkEvents {
    pub fn subscribe() -> Result<Self, NetlinkError> {
        use netlink_sys::AsyncSocket as _;
        let (mut conn, handle, messages) = rtnetlink::new_connection()?;
        conn.socket_mut()
            .socket_mut()
            .bind(&netlink_sys::SocketAddr::new(0, rtnetlink::constants::RTMGRP_LINK | rtnetlink::constants::RTMGRP_IPV6_IFADDR))?;
        tokio::spawn(conn);
        Ok(LinkEvents { messages, _handle: handle })
    }

    /// Waits for the next link notification; `None` if the subscription ended.
    pub async fn next(&mut self) -> Option<()> {
        use futures::StreamExt as _;
        self.messages.next().await.map(|_| ())
    }
}

impl Netlink {
    /// Opens a route netlink socket in the current network namespace; its connection task runs
    /// on the current tokio runtime.
    pub fn new() -> Result<Self, NetlinkError> {
        let (conn, handle, _) = rtnetlink::new_connection()?;
        tokio::spawn(conn);
        Ok(Netlink { handle })
    }

    pub async fn link(&self, name: &str) -> Result<LinkInfo, NetlinkError> {
        // Every request: the kernel's answer is ready when polled, so a run of them never
        // blocks (see `sched::breathe`).
        crate::sched::breathe();
        let mut links = self.handle.link().get().match_name(name.to_string()).execute();
        let msg = match links.try_next().await {
            Ok(Some(msg)) => msg,
            Ok(None) => return Err(NetlinkError::NoSuchInterface(name.to_string())),
            // The kernel answers ENODEV for an unknown name.
            Err(rtnetlink::Error::NetlinkError(e)) if e.raw_code() == -libc::ENODEV => {
                return Err(NetlinkError::NoSuchInterface(name.to_string()));
            }
            Err(e) => return Err(e.into()),
        };
        let mut mac = [0u8; 6];
        let mut kind = None;
        let mut carrier = true;
        for attr in &msg.attributes {
            match attr {
                LinkAttribute::Address(a) if a.len() == 6 => mac.copy_from_slice(a),
                LinkAttribute::Carrier(c) => carrier = *c != 0,
                LinkAttribute::LinkInfo(infos) => {
                    for info in infos {
                        if let NlLinkInfo::Kind(k) = info {
                            kind = Some(match k {
                                InfoKind::Veth => "veth".to_string(),
                                InfoKind::Bridge => "bridge".to_string(),
                                other => format!("{other:?}").to_lowercase(),
                            });
                        }
                    }
                }
                _ => {}
            }
        }
        let up = msg.header.flags.contains(&LinkFlag::Up) && carrier;
        Ok(LinkInfo { name: name.to_string(), index: msg.header.index, mac, up, kind })
    }

    /// The VLAN devices stacked on the interface (`ip link add link IF name IF.100 type vlan`).
    pub async fn vlan_uppers(&self, index: u32) -> Result<Vec<String>, NetlinkError> {
        let mut out = Vec::new();
        let mut links = self.handle.link().get().execute();
        while let Some(msg) = links.try_next().await? {
            let (mut lower, mut name, mut vlan) = (None, None, false);
            for attr in &msg.attributes {
                match attr {
                    LinkAttribute::Link(l) => lower = Some(*l),
                    LinkAttribute::IfName(n) => name = Some(n.clone()),
                    LinkAttribute::LinkInfo(infos) => {
                        vlan |= infos.iter().any(|i| matches!(i, NlLinkInfo::Kind(InfoKind::Vlan)));
                    }
                    _ => {}
                }
            }
            if vlan && lower == Some(index)
                && let Some(n) = name
            {
                out.push(n);
            }
        }
        Ok(out)
    }

    /// IPv4 addresses on the interface, in the kernel's order, with their prefix lengths and
    /// whether the kernel marks them secondary.
    pub async fn ipv4_addrs(&self, index: u32) -> Result<Vec<(Ipv4Addr, u8, bool)>, NetlinkError> {
        crate::sched::breathe();
        let mut out = Vec::new();
        let mut msgs = self.handle.address().get().set_link_index_filter(index).execute();
        while let Some(msg) = msgs.try_next().await? {
            if msg.header.index != index {
                continue;
            }
            if let Some(IpAddr::V4(a)) = local_addr(&msg) {
                let secondary = msg.header.flags.contains(&AddressHeaderFlag::Secondary);
                out.push((a, msg.header.prefix_len, secondary));
            }
        }
        Ok(out)
    }

    /// The address adverts are sent from (keepalived's choice: the interface's first primary
    /// IPv4 address), ignoring any address in `exclude` (our VIPs, possibly left behind).
    pub async fn primary_ipv4(&self, link: &LinkInfo, exclude: &[IpAddr]) -> Result<Ipv4Addr, NetlinkError> {
        let addrs = self.ipv4_addrs(link.index).await?;
        let usable = |a: &Ipv4Addr| !exclude.contains(&IpAddr::V4(*a));
        addrs
            .iter()
            .filter(|(a, _, secondary)| !secondary && usable(a))
            .chain(addrs.iter().filter(|(a, _, _)| usable(a)))
            .map(|(a, _, _)| *a)
            .next()
            .ok_or_else(|| NetlinkError::NoPrimaryAddress(link.name.clone()))
    }

    /// IPv6 addresses on the interface, in the kernel's order: (address, prefix length,
    /// usable), where usable means neither tentative (duplicate address detection still
    /// running, or `optimistic`) nor failed DAD.
    pub async fn ipv6_addrs(&self, index: u32) -> Result<Vec<(Ipv6Addr, u8, bool)>, NetlinkError> {
        crate::sched::breathe();
        let mut out = Vec::new();
        let mut msgs = self.handle.address().get().set_link_index_filter(index).execute();
        while let Some(msg) = msgs.try_next().await? {
            if msg.header.index != index {
                continue;
            }
            if let Some(IpAddr::V6(a)) = local_addr(&msg) {
                out.push((a, msg.header.prefix_len, ipv6_usable(&msg)));
            }
        }
        Ok(out)
    }

    /// The address IPv6 adverts are sent from: the interface's first link-local address that
    /// is usable (never a tentative one), ignoring any address in `exclude` (our VIPs: a
    /// link-local VIP is on the interface while we are master).
    pub async fn primary_ipv6(&self, link: &LinkInfo, exclude: &[IpAddr]) -> Result<Ipv6Addr, NetlinkError> {
        let addrs = self.ipv6_addrs(link.index).await?;
        first_link_local(&addrs, exclude).ok_or_else(|| NetlinkError::NoLinkLocal(link.name.clone()))
    }

    /// Adds a VIP; an address already present is not an error. An IPv6 VIP is added without
    /// duplicate address detection (IFA_F_NODAD), as keepalived adds it: the address moves
    /// between routers and must be usable the moment we are master (a tentative address
    /// is neither answered for nor usable as a source), and a DAD probe from the new master
    /// would only find the old one's last NA.
    pub async fn add_vip(&self, index: u32, vip: &Vip) -> Result<(), NetlinkError> {
        crate::sched::breathe();
        let mut req = self.handle.address().add(index, vip.addr, vip.prefix_len);
        match vip.addr {
            IpAddr::V4(_) => {
                if let Some(label) = &vip.label {
                    req.message_mut().attributes.push(AddressAttribute::Label(label.clone()));
                }
            }
            IpAddr::V6(_) => {
                // Labels are an IPv4 notion (the kernel keeps none for IPv6).
                let m = req.message_mut();
                m.header.flags.push(AddressHeaderFlag::Nodad);
                m.attributes.push(AddressAttribute::Flags(vec![AddressFlag::Nodad]));
            }
        }
        match req.execute().await {
            Ok(()) => Ok(()),
            Err(rtnetlink::Error::NetlinkError(e)) if e.raw_code() == -libc::EEXIST => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Removes a VIP if present. Returns whether it was there.
    pub async fn remove_vip(&self, index: u32, vip: &Vip) -> Result<bool, NetlinkError> {
        crate::sched::breathe();
        let mut msgs = self.handle.address().get().set_link_index_filter(index).execute();
        let mut found = None;
        while let Some(msg) = msgs.try_next().await? {
            if msg.header.index == index
                && msg.header.prefix_len == vip.prefix_len
                && local_addr(&msg) == Some(vip.addr)
            {
                found = Some(msg);
            }
        }
        let Some(msg) = found else { return Ok(false) };
        match self.handle.address().del(msg).execute().await {
            Ok(()) => Ok(true),
            Err(rtnetlink::Error::NetlinkError(e)) if e.raw_code() == -libc::EADDRNOTAVAIL => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// The XDP program attached to the interface, if any: its id and whether it runs in
    /// generic (skb) mode (else native).
    pub async fn xdp_program(&self, index: u32) -> Result<Option<(u32, bool)>, NetlinkError> {
        crate::sched::breathe();
        let mut links = self.handle.link().get().match_index(index).execute();
        let Some(msg) = links.try_next().await? else { return Ok(None) };
        let mut id = None;
        let mut skb = false;
        for attr in &msg.attributes {
            if let LinkAttribute::Xdp(xdp) = attr {
                for x in xdp {
                    match x {
                        LinkXdp::ProgId(p) if *p != 0 => id = Some(*p),
                        LinkXdp::Attached(XdpAttached::SocketBuffer) => skb = true,
                        _ => {}
                    }
                }
            }
        }
        Ok(id.map(|id| (id, skb)))
    }

    /// Detaches a program attached through netlink (`ip link set dev IF xdp ...`), in the
    /// given mode. A program attached with a BPF link cannot be detached this way.
    pub async fn detach_xdp(&self, index: u32, skb: bool) -> Result<(), NetlinkError> {
        crate::sched::breathe();
        const XDP_FLAGS_SKB_MODE: u32 = 1 << 1;
        const XDP_FLAGS_DRV_MODE: u32 = 1 << 2;
        let flags = if skb { XDP_FLAGS_SKB_MODE } else { XDP_FLAGS_DRV_MODE };
        let mut req = self.handle.link().set(index);
        req.message_mut().attributes.push(LinkAttribute::Xdp(vec![LinkXdp::Fd(-1), LinkXdp::Flags(flags)]));
        req.execute().await?;
        Ok(())
    }

    /// Removes an address from the interface whatever its prefix length. Returns whether it
    /// was there.
    pub async fn remove_addr(&self, index: u32, addr: IpAddr) -> Result<bool, NetlinkError> {
        crate::sched::breathe();
        let mut msgs = self.handle.address().get().set_link_index_filter(index).execute();
        let mut found = None;
        while let Some(msg) = msgs.try_next().await? {
            if msg.header.index == index && local_addr(&msg) == Some(addr) {
                found = Some(msg);
            }
        }
        let Some(msg) = found else { return Ok(false) };
        match self.handle.address().del(msg).execute().await {
            Ok(()) => Ok(true),
            Err(rtnetlink::Error::NetlinkError(e)) if e.raw_code() == -libc::EADDRNOTAVAIL => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Whether the address is configured on the interface (any prefix length).
    pub async fn has_addr(&self, index: u32, addr: IpAddr) -> Result<bool, NetlinkError> {
        crate::sched::breathe();
        let mut msgs = self.handle.address().get().set_link_index_filter(index).execute();
        while let Some(msg) = msgs.try_next().await? {
            if msg.header.index == index && local_addr(&msg) == Some(addr) {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

/// Whether an IPv6 address can be used: not tentative (DAD running, optimistic included) and
/// DAD did not fail. IFA_FLAGS (32 bits) when the kernel sends it, else the header's 8 bits.
fn ipv6_usable(msg: &AddressMessage) -> bool {
    for attr in &msg.attributes {
        if let AddressAttribute::Flags(f) = attr {
            return !f.iter().any(|f| matches!(f, AddressFlag::Tentative | AddressFlag::Dadfailed | AddressFlag::Optimistic));
        }
    }
    !msg.header.flags.iter().any(|f| matches!(f, AddressHeaderFlag::Tentative | AddressHeaderFlag::Dadfailed | AddressHeaderFlag::Optimistic))
}

/// The first usable link-local address of `addrs` not in `exclude`.
fn first_link_local(addrs: &[(Ipv6Addr, u8, bool)], exclude: &[IpAddr]) -> Option<Ipv6Addr> {
    addrs
        .iter()
        .find(|(a, _, usable)| *usable && crate::wire::ipv6_emit::is_link_local(a) && !exclude.contains(&IpAddr::V6(*a)))
        .map(|(a, _, _)| *a)
}

/// The address of an address message: IFA_LOCAL for IPv4 (IFA_ADDRESS is the peer on
/// point-to-point links), IFA_ADDRESS otherwise.
fn local_addr(msg: &AddressMessage) -> Option<IpAddr> {
    let mut address = None;
    for attr in &msg.attributes {
        match attr {
            AddressAttribute::Local(a) => return Some(*a),
            AddressAttribute::Address(a) => address = Some(*a),
            _ => {}
        }
    }
    if msg.header.scope == AddressScope::Host && address.is_none() {
        return None;
    }
    address
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> Ipv6Addr {
        s.parse().expect("addr")
    }

    #[test]
    fn the_advert_source_is_the_first_usable_link_local_that_is_not_a_vip() {
        let addrs = [
            (a("2001:db8::1"), 64, true),
            (a("fe80::100"), 64, true),
            (a("fe80::1"), 64, false),
            (a("fe80::2"), 64, true),
        ];
        assert_eq!(first_link_local(&addrs, &[]), Some(a("fe80::100")));
        assert_eq!(first_link_local(&addrs, &[IpAddr::V6(a("fe80::100"))]), Some(a("fe80::2")), "a link-local VIP is skipped, so is a tentative address");
        assert_eq!(first_link_local(&addrs[..3], &[IpAddr::V6(a("fe80::100"))]), None, "only tentative ones left: none");
        assert_eq!(first_link_local(&addrs[..1], &[]), None, "a global address is never the source");
    }

    #[test]
    fn tentative_optimistic_and_dadfailed_are_not_usable() {
        let mut m = AddressMessage::default();
        assert!(ipv6_usable(&m));
        m.header.flags.push(AddressHeaderFlag::Tentative);
        assert!(!ipv6_usable(&m));
        // IFA_FLAGS wins over the header byte.
        m.attributes.push(AddressAttribute::Flags(vec![AddressFlag::Permanent]));
        assert!(ipv6_usable(&m));
        for f in [AddressFlag::Tentative, AddressFlag::Dadfailed, AddressFlag::Optimistic] {
            m.attributes = vec![AddressAttribute::Flags(vec![AddressFlag::Permanent, f])];
            assert!(!ipv6_usable(&m), "{f:?}");
        }
    }
}
