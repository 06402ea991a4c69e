//! ARP for Ethernet and IPv4 (RFC 826), the packets the neighbour subsystem (`arp_rcv`) reads
//! and sends. Other hardware or protocol types are refused: this stack only speaks IPv4 over
//! Ethernet.

use super::ethernet::{ethertype, EthernetAddress};
use super::WireError;
use core::net::Ipv4Addr;
use nom::bytes::complete::take;
use nom::number::complete::{be_u16, be_u8};
use nom::IResult;

/// ARP hardware type for Ethernet.
const HTYPE_ETHERNET: u16 = 1;

/// The ARP operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArpOperation {
    /// Who has `target_ip`? (1)
    Request,
    /// `source_ip` is at `source_hw`. (2)
    Reply,
    /// Any other opcode (RARP and friends), kept so it can be counted and ignored.
    Other(u16),
}

impl ArpOperation {
    fn code(self) -> u16 {
        match self {
            ArpOperation::Request => 1,
            ArpOperation::Reply => 2,
            ArpOperation::Other(c) => c,
        }
    }
    fn from_code(c: u16) -> Self {
        match c {
            1 => ArpOperation::Request,
            2 => ArpOperation::Reply,
            c => ArpOperation::Other(c),
        }
    }
}

/// An Ethernet/IPv4 ARP packet as a plain value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArpRepr {
    /// Request, reply or other.
    pub operation: ArpOperation,
    /// Sender hardware address.
    pub source_hw: EthernetAddress,
    /// Sender protocol address.
    pub source_ip: Ipv4Addr,
    /// Target hardware address (zero in a request).
    pub target_hw: EthernetAddress,
    /// Target protocol address.
    pub target_ip: Ipv4Addr,
}

fn mac(b: &[u8]) -> EthernetAddress {
    let mut a = [0u8; 6];
    a.copy_from_slice(b);
    EthernetAddress(a)
}

fn ip(b: &[u8]) -> Ipv4Addr {
    Ipv4Addr::new(b[0], b[1], b[2], b[3])
}

impl ArpRepr {
    /// Packet length in bytes (without the Ethernet header and padding).
    pub const LEN: usize = 28;

    #[allow(clippy::type_complexity)]
    fn parser(i: &[u8]) -> IResult<&[u8], (u16, u16, u8, u8, u16, &[u8])> {
        let (i, htype) = be_u16(i)?;
        let (i, ptype) = be_u16(i)?;
        let (i, hlen) = be_u8(i)?;
        let (i, plen) = be_u8(i)?;
        let (i, op) = be_u16(i)?;
        let (i, addrs) = take(20usize)(i)?;
        Ok((i, (htype, ptype, hlen, plen, op, addrs)))
    }

    /// Parses an ARP packet (the Ethernet payload; trailing padding is ignored).
    pub fn parse(data: &[u8]) -> Result<ArpRepr, WireError> {
        let Ok((_, (htype, ptype, hlen, plen, op, a))) = Self::parser(data) else {
            return Err(WireError::Truncated {
                what: "arp packet",
                needed: Self::LEN,
                got: data.len(),
            });
        };
        let unsupported = |what, value| Err(WireError::Unsupported { what, value });
        if htype != HTYPE_ETHERNET {
            return unsupported("arp hardware type", u32::from(htype));
        }
        if ptype != ethertype::IPV4 {
            return unsupported("arp protocol type", u32::from(ptype));
        }
        if hlen != 6 {
            return unsupported("arp hardware length", u32::from(hlen));
        }
        if plen != 4 {
            return unsupported("arp protocol length", u32::from(plen));
        }
        Ok(ArpRepr {
            operation: ArpOperation::from_code(op),
            source_hw: mac(&a[..6]),
            source_ip: ip(&a[6..10]),
            target_hw: mac(&a[10..16]),
            target_ip: ip(&a[16..20]),
        })
    }

    /// Writes the packet into the first [`Self::LEN`] bytes of `buf`.
    pub fn emit(&self, buf: &mut [u8]) -> Result<(), WireError> {
        let Some(p) = buf.get_mut(..Self::LEN) else {
            return Err(WireError::BufferTooSmall {
                needed: Self::LEN,
                have: buf.len(),
            });
        };
        p[0..2].copy_from_slice(&HTYPE_ETHERNET.to_be_bytes());
        p[2..4].copy_from_slice(&ethertype::IPV4.to_be_bytes());
        p[4] = 6;
        p[5] = 4;
        p[6..8].copy_from_slice(&self.operation.code().to_be_bytes());
        p[8..14].copy_from_slice(&self.source_hw.0);
        p[14..18].copy_from_slice(&self.source_ip.octets());
        p[18..24].copy_from_slice(&self.target_hw.0);
        p[24..28].copy_from_slice(&self.target_ip.octets());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A gratuitous ARP (sender and target IP equal, target MAC zero) with an unknown opcode
    /// variant beside it; hand-made, the real request/reply are in tests/linux_captures.rs.
    const GRATUITOUS: [u8; 28] = [
        0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x0a, 10, 99,
        0, 1, 0, 0, 0, 0, 0, 0, 10, 99, 0, 1,
    ];

    #[test]
    fn parse_gratuitous() {
        let a = ArpRepr::parse(&GRATUITOUS).unwrap();
        assert_eq!(a.operation, ArpOperation::Request);
        assert_eq!(a.source_ip, a.target_ip);
        assert_eq!(a.target_hw, EthernetAddress([0; 6]));
        assert_eq!(a.source_hw.to_string(), "02:00:00:00:00:0a");
    }

    #[test]
    fn parse_truncated_and_unsupported() {
        for n in 0..28 {
            assert!(matches!(
                ArpRepr::parse(&GRATUITOUS[..n]),
                Err(WireError::Truncated { got, .. }) if got == n
            ));
        }
        for (byte, val, what) in [
            (1, 6, "arp hardware type"),
            (2, 0x86, "arp protocol type"),
            (4, 8, "arp hardware length"),
            (5, 16, "arp protocol length"),
        ] {
            let mut p = GRATUITOUS;
            p[byte] = val;
            assert!(
                matches!(ArpRepr::parse(&p), Err(WireError::Unsupported { what: w, .. }) if w == what),
                "{what}"
            );
        }
        let mut p = GRATUITOUS;
        p[7] = 3;
        assert_eq!(
            ArpRepr::parse(&p).unwrap().operation,
            ArpOperation::Other(3)
        );
    }

    #[test]
    fn emit_round_trip() {
        let a = ArpRepr::parse(&GRATUITOUS).unwrap();
        let mut buf = [0u8; 28];
        a.emit(&mut buf).unwrap();
        assert_eq!(buf, GRATUITOUS);
        assert!(matches!(
            a.emit(&mut [0u8; 27]),
            Err(WireError::BufferTooSmall {
                needed: 28,
                have: 27
            })
        ));
    }
}
