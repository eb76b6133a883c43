//! Transmit: VRRP adverts on a raw IPv4 socket (we write the IP header: TTL 255, source =
//! the instance's primary address), gratuitous ARP on a packet socket, and the multicast
//! group membership that makes a real NIC's filter accept 224.0.0.18.
use std::{
    io,
    net::{Ipv4Addr, SocketAddrV4},
    os::fd::AsRawFd as _,
    sync::{
        OnceLock,
        atomic::{AtomicU16, Ordering},
    },
};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use crate::wire::{self, ipv4, vrrp};

/// One per interface: sends adverts and GARPs out of it. Shared (`&self` everywhere) so a
/// spaced GARP burst can run in its own task.
pub struct Sender {
    ifname: String,
    ifindex: u32,
    raw: Socket,
    packet: Socket,
    /// Held for its group membership only.
    mcast: OnceLock<Socket>,
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

        // Protocol 0: this packet socket only transmits, it never queues received frames.
        let packet = Socket::new(Domain::PACKET, Type::RAW, None)?;
        packet.set_nonblocking(true)?;

        Ok(Sender {
            ifname: ifname.to_string(),
            ifindex,
            raw,
            packet,
            mcast: OnceLock::new(),
            ident: AtomicU16::new(std::process::id() as u16),
        })
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

    pub fn ifname(&self) -> &str {
        &self.ifname
    }

    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// Sends one VRRP message (already emitted, checksum included) from `src` to `dst`.
    pub fn send_vrrp(&self, src: Ipv4Addr, dst: Ipv4Addr, vrrp_msg: &[u8]) -> io::Result<()> {
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
        let to = SockAddr::from(SocketAddrV4::new(dst, 0));
        self.raw.send_to(&buf, &to).map(|_| ())
    }

    /// Sends a complete Ethernet frame out of the interface.
    pub fn send_frame(&self, frame: &[u8]) -> io::Result<()> {
        // SAFETY: sockaddr_ll is plain data; zeroed is a valid starting value.
        let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        addr.sll_family = libc::AF_PACKET as u16;
        addr.sll_ifindex = self.ifindex as i32;
        addr.sll_protocol = u16::to_be(libc::ETH_P_ARP as u16);
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
