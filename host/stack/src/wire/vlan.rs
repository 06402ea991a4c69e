//! 802.1Q VLAN tag: the 4 bytes after an Ethernet header whose EtherType is 0x8100 (or 0x88a8
//! for an 802.1ad outer tag). Linux strips it into `skb->vlan_tci` (`skb_vlan_untag`) before L3.

use super::WireError;
use nom::number::complete::be_u16;
use nom::IResult;

/// A VLAN tag as a plain value: the tag control information and the EtherType that follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VlanRepr {
    /// Priority code point (802.1p class of service), 0..=7.
    pub pcp: u8,
    /// Drop eligible indicator.
    pub dei: bool,
    /// VLAN identifier, 0..=4095 (0 = priority tag only, 4095 reserved).
    pub vid: u16,
    /// EtherType of the payload after the tag.
    pub ethertype: u16,
}

impl VlanRepr {
    /// Tag length in bytes (TCI + inner EtherType; the TPID is the Ethernet header's EtherType).
    pub const LEN: usize = 4;

    /// Builds a tag from a 16-bit TCI as Linux keeps it in `skb->vlan_tci`.
    pub fn from_tci(tci: u16, ethertype: u16) -> Self {
        VlanRepr {
            pcp: (tci >> 13) as u8,
            dei: tci & 0x1000 != 0,
            vid: tci & 0x0fff,
            ethertype,
        }
    }

    /// The 16-bit tag control information, or an error if a field is out of range.
    pub fn tci(&self) -> Result<u16, WireError> {
        if self.pcp > 7 {
            return Err(WireError::Unrepresentable { what: "vlan pcp" });
        }
        if self.vid > 0x0fff {
            return Err(WireError::Unrepresentable { what: "vlan id" });
        }
        Ok((u16::from(self.pcp) << 13) | (u16::from(self.dei) << 12) | self.vid)
    }

    fn parser(i: &[u8]) -> IResult<&[u8], VlanRepr> {
        let (i, tci) = be_u16(i)?;
        let (i, ethertype) = be_u16(i)?;
        Ok((i, VlanRepr::from_tci(tci, ethertype)))
    }

    /// Parses the tag at the start of `data` (the bytes after the Ethernet header), returning it
    /// and the payload.
    pub fn parse(data: &[u8]) -> Result<(VlanRepr, &[u8]), WireError> {
        match Self::parser(data) {
            Ok((rest, repr)) => Ok((repr, rest)),
            Err(_) => Err(WireError::Truncated {
                what: "vlan tag",
                needed: Self::LEN,
                got: data.len(),
            }),
        }
    }

    /// Writes the tag into the first [`Self::LEN`] bytes of `buf`.
    pub fn emit(&self, buf: &mut [u8]) -> Result<(), WireError> {
        let tci = self.tci()?;
        let Some(h) = buf.get_mut(..Self::LEN) else {
            return Err(WireError::BufferTooSmall {
                needed: Self::LEN,
                have: buf.len(),
            });
        };
        h[..2].copy_from_slice(&tci.to_be_bytes());
        h[2..].copy_from_slice(&self.ethertype.to_be_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::ethernet::{ethertype, EthernetRepr};
    use super::*;

    /// A tagged ARP request: VLAN 10, priority 5, DEI set, as an 802.1Q switch port would pass
    /// it. Built by hand: the capture container has no 8021q module, so Linux could not make one.
    const TAGGED: [u8; 20] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0x00, 0x00, 0x00, 0x00, 0x0a, 0x81, 0x00, 0xb0,
        0x0a, 0x08, 0x06, 0x00, 0x01,
    ];

    #[test]
    fn parse_tagged_frame() {
        let (eth, rest) = EthernetRepr::parse(&TAGGED).unwrap();
        assert_eq!(eth.ethertype, ethertype::VLAN);
        let (tag, rest) = VlanRepr::parse(rest).unwrap();
        assert_eq!(
            tag,
            VlanRepr {
                pcp: 5,
                dei: true,
                vid: 10,
                ethertype: ethertype::ARP
            }
        );
        assert_eq!(tag.tci().unwrap(), 0xb00a);
        assert_eq!(rest, &[0x00, 0x01]);
    }

    #[test]
    fn parse_truncated_tag() {
        for n in 0..4 {
            assert_eq!(
                VlanRepr::parse(&TAGGED[14..14 + n]),
                Err(WireError::Truncated {
                    what: "vlan tag",
                    needed: 4,
                    got: n
                })
            );
        }
    }

    #[test]
    fn emit_round_trip_and_range_checks() {
        let (tag, _) = VlanRepr::parse(&TAGGED[14..]).unwrap();
        let mut buf = [0u8; 4];
        tag.emit(&mut buf).unwrap();
        assert_eq!(buf, TAGGED[14..18]);
        assert!(matches!(
            tag.emit(&mut [0u8; 3]),
            Err(WireError::BufferTooSmall { .. })
        ));
        let bad = VlanRepr { vid: 4096, ..tag };
        assert_eq!(
            bad.emit(&mut buf),
            Err(WireError::Unrepresentable { what: "vlan id" })
        );
        let bad = VlanRepr { pcp: 8, ..tag };
        assert!(bad.emit(&mut buf).is_err());
    }
}
