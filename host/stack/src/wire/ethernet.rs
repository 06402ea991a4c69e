//! Ethernet II header (the L2 demux stage, `eth_type_trans` in Linux).

use super::WireError;
use core::fmt;
use nom::bytes::complete::take;
use nom::number::complete::be_u16;
use nom::IResult;

/// A 48-bit MAC address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct EthernetAddress(pub [u8; 6]);

impl EthernetAddress {
    /// ff:ff:ff:ff:ff:ff
    pub const BROADCAST: Self = EthernetAddress([0xff; 6]);

    /// True for the broadcast address.
    pub fn is_broadcast(&self) -> bool {
        *self == Self::BROADCAST
    }

    /// True for group addresses (broadcast included): the I/G bit of the first byte.
    pub fn is_multicast(&self) -> bool {
        self.0[0] & 1 != 0
    }

    /// True for addresses a host may use as its own.
    pub fn is_unicast(&self) -> bool {
        !self.is_multicast()
    }
}

impl fmt::Display for EthernetAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

/// Why a MAC address string could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad MAC address {0:?}: expected six hex bytes separated by ':'")]
pub struct BadMac(pub String);

impl core::str::FromStr for EthernetAddress {
    type Err = BadMac;
    fn from_str(s: &str) -> Result<Self, BadMac> {
        let mut out = [0u8; 6];
        let mut parts = s.split(':');
        for b in &mut out {
            let p = parts.next().ok_or_else(|| BadMac(s.into()))?;
            if p.len() != 2 {
                return Err(BadMac(s.into()));
            }
            *b = u8::from_str_radix(p, 16).map_err(|_| BadMac(s.into()))?;
        }
        if parts.next().is_some() {
            return Err(BadMac(s.into()));
        }
        Ok(EthernetAddress(out))
    }
}

/// EtherType values the stack knows.
pub mod ethertype {
    /// IPv4.
    pub const IPV4: u16 = 0x0800;
    /// ARP.
    pub const ARP: u16 = 0x0806;
    /// 802.1Q VLAN tag.
    pub const VLAN: u16 = 0x8100;
    /// 802.1ad service VLAN tag (the outer tag of Q-in-Q).
    pub const QINQ: u16 = 0x88a8;
}

/// An Ethernet II header as a plain value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EthernetRepr {
    /// Destination address.
    pub dst: EthernetAddress,
    /// Source address.
    pub src: EthernetAddress,
    /// EtherType of the payload.
    pub ethertype: u16,
}

impl EthernetRepr {
    /// Header length in bytes.
    pub const LEN: usize = 14;

    #[inline]
    fn parser(i: &[u8]) -> IResult<&[u8], EthernetRepr> {
        let (i, dst) = take(6usize)(i)?;
        let (i, src) = take(6usize)(i)?;
        let (i, ethertype) = be_u16(i)?;
        let mac = |b: &[u8]| {
            let mut a = [0u8; 6];
            a.copy_from_slice(b);
            EthernetAddress(a)
        };
        Ok((
            i,
            EthernetRepr {
                dst: mac(dst),
                src: mac(src),
                ethertype,
            },
        ))
    }

    /// Parses the header of `frame`, returning it and the payload.
    #[inline]
    pub fn parse(frame: &[u8]) -> Result<(EthernetRepr, &[u8]), WireError> {
        match Self::parser(frame) {
            Ok((rest, repr)) => Ok((repr, rest)),
            Err(_) => Err(WireError::Truncated {
                what: "ethernet header",
                needed: Self::LEN,
                got: frame.len(),
            }),
        }
    }

    /// Writes the header into the first [`Self::LEN`] bytes of `buf`.
    pub fn emit(&self, buf: &mut [u8]) -> Result<(), WireError> {
        let Some(h) = buf.get_mut(..Self::LEN) else {
            return Err(WireError::BufferTooSmall {
                needed: Self::LEN,
                have: buf.len(),
            });
        };
        h[..6].copy_from_slice(&self.dst.0);
        h[6..12].copy_from_slice(&self.src.0);
        h[12..].copy_from_slice(&self.ethertype.to_be_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Start of an ARP request from a Linux host (captured with tcpdump): broadcast destination.
    const ARP_FRAME: [u8; 16] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x08, 0x06, 0x00,
        0x01,
    ];

    #[test]
    fn parse_arp_frame_header() {
        let (h, rest) = EthernetRepr::parse(&ARP_FRAME).unwrap();
        assert!(h.dst.is_broadcast() && h.dst.is_multicast());
        assert_eq!(h.src.to_string(), "52:54:00:12:34:56");
        assert!(h.src.is_unicast());
        assert_eq!(h.ethertype, ethertype::ARP);
        assert_eq!(rest, &[0x00, 0x01]);
    }

    #[test]
    fn parse_truncated() {
        assert_eq!(
            EthernetRepr::parse(&ARP_FRAME[..13]),
            Err(WireError::Truncated {
                what: "ethernet header",
                needed: 14,
                got: 13
            })
        );
    }

    #[test]
    fn emit_round_trip() {
        let (h, _) = EthernetRepr::parse(&ARP_FRAME).unwrap();
        let mut buf = [0u8; 14];
        h.emit(&mut buf).unwrap();
        assert_eq!(&buf[..], &ARP_FRAME[..14]);
        assert_eq!(
            h.emit(&mut [0u8; 10]),
            Err(WireError::BufferTooSmall {
                needed: 14,
                have: 10
            })
        );
    }

    #[test]
    fn mac_from_str() {
        let m: EthernetAddress = "02:00:5e:10:00:01".parse().unwrap();
        assert_eq!(m.0, [0x02, 0x00, 0x5e, 0x10, 0x00, 0x01]);
        for bad in [
            "02:00:5e:10:00",
            "02:00:5e:10:00:01:02",
            "02:00:5e:10:00:zz",
            "2:00:5e:10:00:01",
        ] {
            assert!(bad.parse::<EthernetAddress>().is_err(), "{bad}");
        }
    }
}
