//! VRRP advertisements: version 2 (RFC 3768, with the RFC 2338 simple-password
//! and AH authentication types) and version 3 (RFC 9568) over IPv4 and IPv6.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |Version| Type  |    VRID       |   Priority    | Count Addrs   |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! v2: | Auth Type   | Adver Int (s) |          Checksum             |
//! v3: |(rsvd)| Max Adver Int (cs)   |          Checksum             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |          Count Addrs IPv4 (4 bytes) or IPv6 (16 bytes) addresses
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! v2 only: 8 bytes of authentication data
//! ```
//!
//! The checksum covers the whole VRRP message (the IP payload). Version 3
//! over IPv6 always prepends the IPv6 pseudo header (RFC 9568 5.2.8); version
//! 3 over IPv4 is ambiguous in the field: RFC 9568 says no pseudo header, but
//! keepalived and FRR include the IPv4 pseudo header by default, so
//! [`Repr::parse`] accepts both and reports which one matched
//! ([`ChecksumMode`]). Version 2 never uses a pseudo header.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub use super::Error;
use super::checksum;

/// IP protocol number of VRRP.
pub const IP_PROTO_VRRP: u8 = 112;
/// IPv4 multicast group for advertisements.
pub const MCAST_V4: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);
/// IPv6 multicast group for advertisements.
pub const MCAST_V6: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12);
/// Length of the fixed header (up to and including the checksum).
pub const HEADER_LEN: usize = 8;
/// Length of the VRRPv2 authentication data after the addresses.
pub const AUTH_DATA_LEN: usize = 8;
/// The only VRRP packet type: advertisement.
pub const TYPE_ADVERTISEMENT: u8 = 1;
/// Largest VRRPv3 advertisement interval (12 bits of centiseconds).
pub const MAX_ADVER_INT_V3_CS: u16 = 0x0fff;
/// Largest VRRPv2 advertisement interval (8 bits of seconds), in centiseconds.
pub const MAX_ADVER_INT_V2_CS: u16 = 255 * 100;

mod field {
    use std::ops::Range;
    pub const VER_TYPE: usize = 0;
    pub const VRID: usize = 1;
    pub const PRIORITY: usize = 2;
    pub const COUNT: usize = 3;
    pub const AUTH_TYPE: usize = 4;
    pub const ADVER_INT_V2: usize = 5;
    pub const ADVER_INT_V3: Range<usize> = 4..6;
    pub const CHECKSUM: Range<usize> = 6..8;
    pub const ADDRESSES: usize = 8;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    V2,
    V3,
}

impl Version {
    /// The value of the 4-bit version field.
    pub fn number(self) -> u8 {
        match self {
            Version::V2 => 2,
            Version::V3 => 3,
        }
    }
}

/// VRRPv2 authentication (RFC 2338 types; RFC 3768 only keeps type 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// Type 0: authentication data zero on emit, ignored on parse.
    None,
    /// Type 1: simple text password, zero padded to 8 bytes.
    Pass([u8; 8]),
    /// Type 2: IP Authentication Header; the VRRP authentication data is
    /// written as zeros and ignored on parse.
    Ah,
}

impl Auth {
    /// The value of the v2 auth type field.
    pub fn type_code(&self) -> u8 {
        match self {
            Auth::None => 0,
            Auth::Pass(_) => 1,
            Auth::Ah => 2,
        }
    }
}

/// How the checksum is computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChecksumMode {
    /// Over the VRRP message only: RFC 3768 (v2) and RFC 9568 for IPv4.
    Plain,
    /// Over the IPv4/IPv6 pseudo header and the VRRP message: v3 over IPv6
    /// always; v3 over IPv4 as keepalived and FRR do by default.
    PseudoHeader,
}

/// Address family of the carrier, which fixes the size of the addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    /// Size of one address in the packet: 4 or 16.
    pub fn addr_len(self) -> usize {
        match self {
            Family::V4 => 4,
            Family::V6 => 16,
        }
    }

    fn of(addr: &IpAddr) -> Family {
        match addr {
            IpAddr::V4(_) => Family::V4,
            IpAddr::V6(_) => Family::V6,
        }
    }
}

/// The IP source and destination the VRRP message travels with (needed for
/// pseudo-header checksums and to know the address size). Both must be of
/// the same family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Carrier {
    pub src: IpAddr,
    pub dst: IpAddr,
}

impl Carrier {
    /// The carrier's family; `BadAddressFamily` if `src` and `dst` differ.
    pub fn family(&self) -> Result<Family, Error> {
        match (self.src, self.dst) {
            (IpAddr::V4(_), IpAddr::V4(_)) => Ok(Family::V4),
            (IpAddr::V6(_), IpAddr::V6(_)) => Ok(Family::V6),
            _ => Err(Error::BadAddressFamily),
        }
    }

    /// Partial sum of the pseudo header for a VRRP message of `len` bytes;
    /// `None` for a mixed-family carrier.
    fn pseudo_header_sum(&self, len: usize) -> Option<u32> {
        match (self.src, self.dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                Some(checksum::pseudo_header_v4(s, d, IP_PROTO_VRRP, len as u16))
            }
            (IpAddr::V6(s), IpAddr::V6(d)) => {
                Some(checksum::pseudo_header_v6(s, d, IP_PROTO_VRRP, len as u32))
            }
            _ => None,
        }
    }
}

/// The checksum mode actually used for a message of `version_field` over
/// `family` when `requested` is asked for: v2 is always plain, v3 over IPv6
/// always pseudo-header, v3 over IPv4 as requested.
fn effective_mode(version_field: u8, family: Family, requested: ChecksumMode) -> ChecksumMode {
    match (version_field, family) {
        (2, _) => ChecksumMode::Plain,
        (_, Family::V6) => ChecksumMode::PseudoHeader,
        _ => requested,
    }
}

/// Zero-copy view of a VRRP message.
///
/// The view needs the carrier [`Family`] to know the address size. Accessors
/// read the buffer directly and do not validate values (see [`Repr::parse`]).
///
/// # Panics
///
/// Accessors and setters index the buffer and panic if it is shorter than
/// [`Packet::total_len`]. [`Packet::new_checked`] guarantees it is not, so
/// they can only panic on a view made with [`Packet::new_unchecked`] (or whose
/// count/version bytes were changed through a setter to describe a longer
/// message).
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
    family: Family,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checking its length.
    pub fn new_unchecked(buffer: T, family: Family) -> Packet<T> {
        Packet { buffer, family }
    }

    /// Wraps a buffer, checking with [`Packet::check_len`] that every
    /// accessor is in bounds.
    pub fn new_checked(buffer: T, family: Family) -> Result<Packet<T>, Error> {
        let p = Packet::new_unchecked(buffer, family);
        p.check_len()?;
        Ok(p)
    }

    /// `Truncated` unless the buffer holds the fixed header and the addresses
    /// (and, when the version field is 2, the authentication data) that the
    /// header declares. Longer buffers are accepted here.
    pub fn check_len(&self) -> Result<(), Error> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN || len < self.total_len() {
            Err(Error::Truncated)
        } else {
            Ok(())
        }
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn family(&self) -> Family {
        self.family
    }

    /// Length of the message the header describes: 8 + count * address size
    /// (+ 8 of authentication data if the version field is 2).
    ///
    /// # Panics
    ///
    /// If the buffer is shorter than 8 bytes (unchecked views only).
    pub fn total_len(&self) -> usize {
        let auth = if self.version() == 2 {
            AUTH_DATA_LEN
        } else {
            0
        };
        HEADER_LEN + usize::from(self.count_addrs()) * self.family.addr_len() + auth
    }

    /// The 4-bit version field.
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_TYPE] >> 4
    }

    /// The 4-bit type field (1 = advertisement).
    pub fn kind(&self) -> u8 {
        self.buffer.as_ref()[field::VER_TYPE] & 0x0f
    }

    pub fn vrid(&self) -> u8 {
        self.buffer.as_ref()[field::VRID]
    }

    pub fn priority(&self) -> u8 {
        self.buffer.as_ref()[field::PRIORITY]
    }

    pub fn count_addrs(&self) -> u8 {
        self.buffer.as_ref()[field::COUNT]
    }

    /// v2 authentication type (byte 4). Meaningless for v3, where byte 4
    /// holds the reserved bits and the top of the interval.
    pub fn auth_type(&self) -> u8 {
        self.buffer.as_ref()[field::AUTH_TYPE]
    }

    /// The advertisement interval field as stored: v2 (version field 2) the
    /// 8-bit seconds of byte 5; otherwise the low 12 bits of bytes 4-5
    /// (centiseconds).
    pub fn adver_int_raw(&self) -> u16 {
        let b = self.buffer.as_ref();
        if self.version() == 2 {
            u16::from(b[field::ADVER_INT_V2])
        } else {
            u16::from_be_bytes([
                b[field::ADVER_INT_V3.start],
                b[field::ADVER_INT_V3.start + 1],
            ]) & MAX_ADVER_INT_V3_CS
        }
    }

    /// v3 reserved bits (top 4 bits of byte 4); sent as 0, ignored on receipt.
    pub fn reserved_v3(&self) -> u8 {
        self.buffer.as_ref()[field::AUTH_TYPE] >> 4
    }

    pub fn checksum(&self) -> u16 {
        let b = self.buffer.as_ref();
        u16::from_be_bytes([b[field::CHECKSUM.start], b[field::CHECKSUM.start + 1]])
    }

    /// The address bytes: `count_addrs() * family().addr_len()` bytes.
    pub fn addresses(&self) -> &[u8] {
        let n = usize::from(self.count_addrs()) * self.family.addr_len();
        &self.buffer.as_ref()[field::ADDRESSES..field::ADDRESSES + n]
    }

    /// The addresses, decoded.
    pub fn addrs(&self) -> impl Iterator<Item = IpAddr> + '_ {
        let family = self.family;
        self.addresses()
            .chunks_exact(family.addr_len())
            .map(move |c| match family {
                Family::V4 => IpAddr::V4(Ipv4Addr::new(c[0], c[1], c[2], c[3])),
                Family::V6 => {
                    let mut o = [0u8; 16];
                    o.copy_from_slice(c);
                    IpAddr::V6(Ipv6Addr::from(o))
                }
            })
    }

    /// The 8 bytes of v2 authentication data after the addresses; empty when
    /// the version field is not 2.
    pub fn auth_data(&self) -> &[u8] {
        if self.version() != 2 {
            return &[];
        }
        let start = field::ADDRESSES + usize::from(self.count_addrs()) * self.family.addr_len();
        &self.buffer.as_ref()[start..start + AUTH_DATA_LEN]
    }

    /// Whether the checksum over `buffer[..total_len()]` is correct in
    /// `mode`, after applying the per-version rule (v2: plain; v3 over IPv6:
    /// pseudo header). False for a mixed-family carrier in pseudo-header mode.
    pub fn verify_checksum(&self, carrier: &Carrier, mode: ChecksumMode) -> bool {
        let len = self.total_len();
        let msg = &self.buffer.as_ref()[..len];
        let initial = match effective_mode(self.version(), self.family, mode) {
            ChecksumMode::Plain => 0,
            ChecksumMode::PseudoHeader => match carrier.pseudo_header_sum(len) {
                Some(s) => s,
                None => return false,
            },
        };
        checksum::fold(checksum::ones_complement_sum(msg, initial)) == 0
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    pub fn set_version_kind(&mut self, version: u8, kind: u8) {
        self.buffer.as_mut()[field::VER_TYPE] = (version << 4) | (kind & 0x0f);
    }

    pub fn set_vrid(&mut self, v: u8) {
        self.buffer.as_mut()[field::VRID] = v;
    }

    pub fn set_priority(&mut self, v: u8) {
        self.buffer.as_mut()[field::PRIORITY] = v;
    }

    pub fn set_count_addrs(&mut self, v: u8) {
        self.buffer.as_mut()[field::COUNT] = v;
    }

    pub fn set_auth_type(&mut self, v: u8) {
        self.buffer.as_mut()[field::AUTH_TYPE] = v;
    }

    /// Stores the interval field in the layout of the current version field:
    /// v2 writes byte 5 (the value truncated to 8 bits); otherwise bytes 4-5
    /// get the low 12 bits with the reserved bits cleared.
    pub fn set_adver_int_raw(&mut self, v: u16) {
        if self.version() == 2 {
            self.buffer.as_mut()[field::ADVER_INT_V2] = v as u8;
        } else {
            let bytes = (v & MAX_ADVER_INT_V3_CS).to_be_bytes();
            self.buffer.as_mut()[field::ADVER_INT_V3].copy_from_slice(&bytes);
        }
    }

    pub fn set_checksum(&mut self, v: u16) {
        self.buffer.as_mut()[field::CHECKSUM].copy_from_slice(&v.to_be_bytes());
    }

    pub fn addresses_mut(&mut self) -> &mut [u8] {
        let n = usize::from(self.count_addrs()) * self.family.addr_len();
        &mut self.buffer.as_mut()[field::ADDRESSES..field::ADDRESSES + n]
    }

    /// Empty when the version field is not 2.
    pub fn auth_data_mut(&mut self) -> &mut [u8] {
        if self.version() != 2 {
            return &mut [];
        }
        let start = field::ADDRESSES + usize::from(self.count_addrs()) * self.family.addr_len();
        &mut self.buffer.as_mut()[start..start + AUTH_DATA_LEN]
    }

    /// Computes and stores the checksum over `buffer[..total_len()]`, with the
    /// same mode rules as [`Packet::verify_checksum`]. A mixed-family carrier
    /// in pseudo-header mode leaves the field zero.
    pub fn fill_checksum(&mut self, carrier: &Carrier, mode: ChecksumMode) {
        self.set_checksum(0);
        let len = self.total_len();
        let initial = match effective_mode(self.version(), self.family, mode) {
            ChecksumMode::Plain => 0,
            ChecksumMode::PseudoHeader => match carrier.pseudo_header_sum(len) {
                Some(s) => s,
                None => return,
            },
        };
        let sum = checksum::ones_complement_sum(&self.buffer.as_ref()[..len], initial);
        self.set_checksum(checksum::fold(sum));
    }
}

/// A VRRP advertisement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repr {
    pub version: Version,
    pub vrid: u8,
    pub priority: u8,
    /// Advertisement interval in centiseconds. v2: the 8-bit seconds field
    /// times 100 (so a multiple of 100, 100..=25500); v3: the 12-bit
    /// centiseconds field (1..=4095).
    pub adver_int_cs: u16,
    /// v2 only; always `Auth::None` for v3.
    pub auth: Auth,
    /// 1..=255 addresses: all IPv4 (IPv4 carrier) or all IPv6 (IPv6 carrier,
    /// v3 only).
    pub addresses: Vec<IpAddr>,
}

impl Repr {
    /// Parses and validates a VRRP message: `payload` is exactly the IP
    /// payload (use the IP length fields, not the link-layer frame length).
    ///
    /// Checks, in order (first failure returned):
    /// carrier `src`/`dst` of one family (`BadAddressFamily`); at least 8
    /// bytes (`Truncated`); version 2 (IPv4 only) or 3 (`BadVersion`); type 1
    /// (`BadType`); address count >= 1 (`BadAddressCount`); length covers the
    /// declared addresses and v2 auth data (`Truncated`) and has nothing after
    /// them (`BadLength`); checksum (`BadChecksum`); interval >= 1
    /// (`BadInterval`); v2 auth type 0, 1 or 2 (`BadAuthType`). v3 reserved
    /// bits are ignored.
    ///
    /// Checksum: v2 plain, v3 over IPv6 pseudo header. For v3 over IPv4
    /// EITHER mode is accepted and the one that matched is returned; if both
    /// match (possible only when the pseudo-header sum is 0 mod 0xffff, in
    /// which case the two modes produce identical bytes) `PseudoHeader`, the
    /// keepalived/FRR default, is reported.
    ///
    /// Never panics.
    pub fn parse(payload: &[u8], carrier: &Carrier) -> Result<(Repr, ChecksumMode), Error> {
        let family = carrier.family()?;
        let first = *payload.first().ok_or(Error::Truncated)?;
        if payload.len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        let version = match (first >> 4, family) {
            (2, Family::V4) => Version::V2,
            (3, _) => Version::V3,
            (v, _) => return Err(Error::BadVersion(v)),
        };
        let kind = first & 0x0f;
        if kind != TYPE_ADVERTISEMENT {
            return Err(Error::BadType(kind));
        }
        let packet = Packet::new_unchecked(payload, family);
        if packet.count_addrs() == 0 {
            return Err(Error::BadAddressCount);
        }
        packet.check_len()?;
        if payload.len() > packet.total_len() {
            return Err(Error::BadLength);
        }

        let mode = match (version, family) {
            (Version::V2, _) => ChecksumMode::Plain,
            (Version::V3, Family::V6) => ChecksumMode::PseudoHeader,
            (Version::V3, Family::V4) => {
                if packet.verify_checksum(carrier, ChecksumMode::PseudoHeader) {
                    ChecksumMode::PseudoHeader
                } else {
                    ChecksumMode::Plain
                }
            }
        };
        if !packet.verify_checksum(carrier, mode) {
            return Err(Error::BadChecksum);
        }

        let raw_int = packet.adver_int_raw();
        if raw_int == 0 {
            return Err(Error::BadInterval);
        }
        let (adver_int_cs, auth) = match version {
            Version::V2 => {
                let auth = match packet.auth_type() {
                    0 => Auth::None,
                    1 => {
                        let mut pass = [0u8; 8];
                        pass.copy_from_slice(packet.auth_data());
                        Auth::Pass(pass)
                    }
                    2 => Auth::Ah,
                    t => return Err(Error::BadAuthType(t)),
                };
                (raw_int * 100, auth)
            }
            Version::V3 => (raw_int, Auth::None),
        };

        let repr = Repr {
            version,
            vrid: packet.vrid(),
            priority: packet.priority(),
            adver_int_cs,
            auth,
            addresses: packet.addrs().collect(),
        };
        Ok((repr, mode))
    }

    /// Checks that this `Repr` can be emitted over `carrier`:
    /// carrier of one family (`BadAddressFamily`); v2 only over IPv4
    /// (`BadVersion(2)`); 1..=255 addresses (`BadAddressCount`), all of the
    /// carrier's family (`BadAddressFamily`); interval representable and
    /// non-zero — v2: a multiple of 100 in 100..=25500, v3: 1..=4095
    /// (`BadInterval`); v3 with `Auth::None` (`BadAuthType`).
    pub fn validate(&self, carrier: &Carrier) -> Result<(), Error> {
        let family = carrier.family()?;
        if self.version == Version::V2 && family == Family::V6 {
            return Err(Error::BadVersion(2));
        }
        if self.addresses.is_empty() || self.addresses.len() > 255 {
            return Err(Error::BadAddressCount);
        }
        if self.addresses.iter().any(|a| Family::of(a) != family) {
            return Err(Error::BadAddressFamily);
        }
        let cs = self.adver_int_cs;
        let interval_ok = match self.version {
            Version::V2 => cs != 0 && cs.is_multiple_of(100) && cs <= MAX_ADVER_INT_V2_CS,
            Version::V3 => cs != 0 && cs <= MAX_ADVER_INT_V3_CS,
        };
        if !interval_ok {
            return Err(Error::BadInterval);
        }
        if self.version == Version::V3 && self.auth != Auth::None {
            return Err(Error::BadAuthType(self.auth.type_code()));
        }
        Ok(())
    }

    /// Length of the emitted message: 8 + the addresses (4 or 16 bytes each)
    /// + 8 for v2.
    pub fn buffer_len(&self) -> usize {
        let addrs: usize = self
            .addresses
            .iter()
            .map(|a| Family::of(a).addr_len())
            .sum();
        let auth = match self.version {
            Version::V2 => AUTH_DATA_LEN,
            Version::V3 => 0,
        };
        HEADER_LEN + addrs + auth
    }

    /// Emits the message into `buf[..buffer_len()]` (bytes after it are not
    /// touched), computing the checksum in `mode`. `mode` is ignored for v2
    /// (always plain) and for v3 over IPv6 (always pseudo header). v3 reserved
    /// bits are written as zero.
    ///
    /// # Panics
    ///
    /// If `buf.len() < self.buffer_len()`, or if [`Repr::validate`] fails
    /// for `carrier` (an invalid locally built `Repr`: validate configuration
    /// with it first).
    pub fn emit(&self, buf: &mut [u8], carrier: &Carrier, mode: ChecksumMode) {
        if let Err(e) = self.validate(carrier) {
            panic!("cannot emit invalid VRRP Repr: {e}");
        }
        let len = self.buffer_len();
        assert!(
            buf.len() >= len,
            "VRRP buffer too short: {} < {len}",
            buf.len()
        );
        // validate() guarantees a single family and 1..=255 addresses.
        let family = Family::of(&self.addresses[0]);
        let mut packet = Packet::new_unchecked(&mut buf[..len], family);
        packet.set_version_kind(self.version.number(), TYPE_ADVERTISEMENT);
        packet.set_vrid(self.vrid);
        packet.set_priority(self.priority);
        packet.set_count_addrs(self.addresses.len() as u8);
        match self.version {
            Version::V2 => {
                packet.set_auth_type(self.auth.type_code());
                packet.set_adver_int_raw(self.adver_int_cs / 100);
            }
            Version::V3 => packet.set_adver_int_raw(self.adver_int_cs),
        }
        let alen = family.addr_len();
        for (chunk, addr) in packet
            .addresses_mut()
            .chunks_exact_mut(alen)
            .zip(&self.addresses)
        {
            match addr {
                IpAddr::V4(a) => chunk.copy_from_slice(&a.octets()),
                IpAddr::V6(a) => chunk.copy_from_slice(&a.octets()),
            }
        }
        let pass = match self.auth {
            Auth::Pass(p) => p,
            Auth::None | Auth::Ah => [0; 8],
        };
        let auth_data = packet.auth_data_mut();
        let n = auth_data.len();
        auth_data.copy_from_slice(&pass[..n]);
        packet.fill_checksum(carrier, mode);
    }

    /// [`Repr::emit`] into a new vector of [`Repr::buffer_len`] bytes.
    ///
    /// # Panics
    ///
    /// As [`Repr::emit`]: if [`Repr::validate`] fails for `carrier`.
    pub fn to_bytes(&self, carrier: &Carrier, mode: ChecksumMode) -> Vec<u8> {
        let mut buf = vec![0u8; self.buffer_len()];
        self.emit(&mut buf, carrier, mode);
        buf
    }
}

#[cfg(test)]
mod tests;
