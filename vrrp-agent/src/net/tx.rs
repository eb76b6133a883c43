//! Transmit: VRRP adverts on raw sockets where we write the IP header (IPv4: TTL 255, source =
//! the instance's primary address; IPv6: hop limit 255, source = the interface's link-local
//! address), gratuitous ARP and unsolicited neighbour advertisements on a packet socket, and
//! the multicast group memberships that make a real NIC's filter accept 224.0.0.18 and
//! ff02::12.
use std::{
    io::{self, IoSlice},
    net::{IpAddr, Ipv4Addr, SocketAddrV4, SocketAddrV6},
    os::fd::{AsRawFd as _, RawFd},
    sync::{
        OnceLock,
        atomic::{AtomicU16, Ordering},
    },
};

use nix::sys::socket::{MsgFlags, MultiHeaders, SockaddrIn, SockaddrIn6, SockaddrLike, sendmmsg};
use socket2::{Domain, Protocol, Socket, Type};

use crate::wire::{self, ipv4, ipv6_emit, vrrp};

/// One per interface: sends adverts and GARPs out of it. Shared (`&self` everywhere) so a
/// spaced GARP burst can run in its own task.
pub struct Sender {
    ifname: String,
    ifindex: u32,
    raw: Socket,
    /// IPv6, header included (protocol IPPROTO_RAW: it never receives anything). `None` on a
    /// kernel without IPv6: the IPv4 instances still run.
    raw6: Option<Socket>,
    packet: Socket,
    /// Held for their group membership only.
    mcast: OnceLock<Socket>,
    mcast6: OnceLock<Socket>,
    ident: AtomicU16,
}

impl Sender {
    pub fn new(ifname: &str, ifindex: u32) -> io::Result<Self> {
        let raw = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::from(libc::IPPROTO_RAW)))?;
        raw.set_header_included_v4(true)?;
        raw.bind_device(Some(ifname.as_bytes()))?;
        raw.set_multicast_loop_v4(false)?;
        raw.set_multicast_ttl_v4(255)?;
        raw.set_nonblocking(true)?;
        room_for_a_tick(&raw, ifname);

        // An AF_INET6 raw socket of protocol IPPROTO_RAW has IPV6_HDRINCL set by the kernel
        // (as its AF_INET twin has IP_HDRINCL): we write the header, so the hop limit is 255
        // and the source is the link-local address we chose, whatever the socket options.
        let raw6 = match Self::raw_v6(ifname) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::debug!(iface = %ifname, "no IPv6 raw socket on {ifname}: {e}");
                None
            }
        };

        // Protocol 0: this packet socket only transmits, it never queues received frames.
        let packet = Socket::new(Domain::PACKET, Type::RAW, None)?;
        packet.set_nonblocking(true)?;

        Ok(Sender {
            ifname: ifname.to_string(),
            ifindex,
            raw,
            raw6,
            packet,
            mcast: OnceLock::new(),
            mcast6: OnceLock::new(),
            ident: AtomicU16::new(std::process::id() as u16),
        })
    }

    fn raw_v6(ifname: &str) -> io::Result<Socket> {
        let raw6 = Socket::new(Domain::IPV6, Type::RAW, Some(Protocol::from(libc::IPPROTO_RAW)))?;
        raw6.bind_device(Some(ifname.as_bytes()))?;
        raw6.set_multicast_loop_v6(false)?;
        raw6.set_multicast_hops_v6(255)?;
        raw6.set_unicast_hops_v6(255)?;
        raw6.set_nonblocking(true)?;
        room_for_a_tick(&raw6, ifname);
        Ok(raw6)
    }

    /// Joins 224.0.0.18 on this interface (once), through the interface address `primary`.
    /// The membership programs a real NIC's multicast filter; the UDP socket holding it
    /// receives nothing we read (VRRP is not UDP), so its queue stays empty.
    pub fn join_vrrp_group(&self, primary: Ipv4Addr) {
        if self.mcast.get().is_some() {
            return;
        }
        let joined = Socket::new(Domain::IPV4, Type::DGRAM, None).and_then(|s| {
            s.join_multicast_v4(&wire::vrrp::MCAST_V4, &primary)?;
            Ok(s)
        });
        match joined {
            Ok(s) => {
                let _ = self.mcast.set(s);
            }
            Err(e) => tracing::warn!(iface = %self.ifname, "cannot join 224.0.0.18 on {}: {e}; adverts may be filtered by the NIC", self.ifname),
        }
    }

    /// Joins ff02::12 on this interface (once), for the same reason as
    /// [`Sender::join_vrrp_group`].
    pub fn join_vrrp_group_v6(&self) {
        if self.mcast6.get().is_some() {
            return;
        }
        let joined = Socket::new(Domain::IPV6, Type::DGRAM, None).and_then(|s| {
            s.join_multicast_v6(&vrrp::MCAST_V6, self.ifindex)?;
            Ok(s)
        });
        match joined {
            Ok(s) => {
                let _ = self.mcast6.set(s);
            }
            Err(e) => tracing::warn!(iface = %self.ifname, "cannot join ff02::12 on {}: {e}; adverts may be filtered by the NIC", self.ifname),
        }
    }

    pub fn ifname(&self) -> &str {
        &self.ifname
    }

    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// Sends VRRP messages (already emitted, each checksum made for its own source and
    /// destination) with as few system calls as the kernel allows: one `sendmmsg` per
    /// address family for the whole batch (IPv4: TTL 255, we write the header; IPv6: hop
    /// limit 255, a link-local or multicast destination scoped to this interface). Returns
    /// one result per advert, in order.
    pub fn send_vrrp_batch(&self, adverts: &[Outgoing]) -> Vec<io::Result<()>> {
        let mut results: Vec<io::Result<()>> = Vec::with_capacity(adverts.len());
        let mut v4 = Vec::new();
        let mut v6 = Vec::new();
        for (n, a) in adverts.iter().enumerate() {
            results.push(Ok(()));
            match (a.src, a.dst) {
                (IpAddr::V4(src), IpAddr::V4(dst)) => {
                    v4.push((n, self.packet_v4(src, dst, &a.msg), SockaddrIn::from(SocketAddrV4::new(dst, 0))));
                }
                (IpAddr::V6(src), IpAddr::V6(dst)) => {
                    let scoped = dst.is_multicast() || ipv6_emit::is_link_local(&dst);
                    let to = SocketAddrV6::new(dst, 0, 0, if scoped { self.ifindex } else { 0 });
                    v6.push((n, ipv6_emit::vrrp_packet(src, dst, &a.msg), SockaddrIn6::from(to)));
                }
                _ => results[n] = Err(io::Error::new(io::ErrorKind::InvalidInput, "source and destination of different families")),
            }
        }
        send_all(self.raw.as_raw_fd(), &v4, &mut results);
        match &self.raw6 {
            Some(raw6) => send_all(raw6.as_raw_fd(), &v6, &mut results),
            None => {
                for (n, ..) in &v6 {
                    results[*n] = Err(io::Error::new(io::ErrorKind::Unsupported, "IPv6 is not available"));
                }
            }
        }
        results
    }

    /// An IPv4 packet carrying `vrrp_msg`: TTL 255, a fresh identification.
    fn packet_v4(&self, src: Ipv4Addr, dst: Ipv4Addr, vrrp_msg: &[u8]) -> Vec<u8> {
        let mut buf = vec![0u8; 20 + vrrp_msg.len()];
        let header = ipv4::HeaderRepr {
            src,
            dst,
            protocol: vrrp::IP_PROTO_VRRP,
            ttl: 255,
            payload_len: vrrp_msg.len() as u16,
            ident: self.ident.fetch_add(1, Ordering::Relaxed).wrapping_add(1),
        };
        header.emit(&mut buf[..20]);
        buf[20..].copy_from_slice(vrrp_msg);
        buf
    }

    /// Sends a complete Ethernet frame out of the interface.
    pub fn send_frame(&self, frame: &[u8]) -> io::Result<()> {
        // SAFETY: sockaddr_ll is plain data; zeroed is a valid starting value.
        let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        addr.sll_family = libc::AF_PACKET as u16;
        addr.sll_ifindex = self.ifindex as i32;
        // The frame's own ethertype (ARP or IPv6), so the kernel sees the skb as what it is.
        addr.sll_protocol = match frame.get(12..14) {
            Some(t) => u16::from_ne_bytes([t[0], t[1]]),
            None => u16::to_be(libc::ETH_P_ARP as u16),
        };
        addr.sll_halen = 6;
        addr.sll_addr[..6].copy_from_slice(&frame[..6.min(frame.len())]);
        // SAFETY: buf and addr are valid for the lengths passed.
        let n = unsafe {
            libc::sendto(
                self.packet.as_raw_fd(),
                frame.as_ptr().cast(),
                frame.len(),
                0,
                (&raw const addr).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as u32,
            )
        };
        if n < 0 { Err(io::Error::last_os_error()) } else { Ok(()) }
    }
}

/// The send buffer an advert socket asks for: every advert of one tick goes out in one
/// `sendmmsg`, and on a NIC whose transmit completions lag, 255 VRIDs' adverts (about 1 kB
/// of kernel memory each) would not fit the default (`net.core.wmem_default`, 208 kB): the
/// last ones would be refused with EAGAIN.
const ADVERT_SNDBUF: usize = 1 << 20;

/// Raises the socket's send buffer to [`ADVERT_SNDBUF`] (past `net.core.wmem_max`: we have
/// CAP_NET_ADMIN). Without it the default stays, and a refused advert is logged.
fn room_for_a_tick(sock: &Socket, ifname: &str) {
    if let Err(e) = nix::sys::socket::setsockopt(sock, nix::sys::socket::sockopt::SndBufForce, &ADVERT_SNDBUF) {
        tracing::debug!(iface = %ifname, "SO_SNDBUFFORCE on {ifname}: {e}; the default send buffer stays");
    }
}

/// One advert for [`Sender::send_vrrp_batch`].
pub struct Outgoing {
    pub src: IpAddr,
    pub dst: IpAddr,
    /// The VRRP message, checksum made for `src` and `dst`.
    pub msg: Vec<u8>,
}

/// Sends `packets` (index into `results`, IP packet, destination) on `fd` with `sendmmsg`,
/// as many per call as the kernel takes. A message the kernel refuses (the first of a call
/// that sent nothing) gets its error and is skipped, so one bad destination does not hold
/// back the others.
fn send_all<S: SockaddrLike + Copy>(fd: RawFd, packets: &[(usize, Vec<u8>, S)], results: &mut [io::Result<()>]) {
    let mut rest = packets;
    while !rest.is_empty() {
        let iovs: Vec<[IoSlice<'_>; 1]> = rest.iter().map(|(_, p, _)| [IoSlice::new(p)]).collect();
        let addrs: Vec<Option<S>> = rest.iter().map(|(.., a)| Some(*a)).collect();
        let mut headers = MultiHeaders::<S>::preallocate(rest.len(), None);
        let sent = match sendmmsg(fd, &mut headers, &iovs, &addrs, [], MsgFlags::MSG_DONTWAIT) {
            Ok(r) => r.count(),
            Err(e) => {
                results[rest[0].0] = Err(io::Error::from(e));
                1
            }
        };
        // The kernel sent at least one or refused the first: always progress.
        rest = &rest[sent.max(1)..];
    }
}
