//! UDP header (RFC 768), with the IPv4 pseudo-header checksum. A zero checksum means the sender
//! computed none, which IPv4 allows; a computed zero is sent as 0xffff.

use super::checksum::{self, ChecksumMode};
use super::ipv4::protocol;
use super::WireError;
use core::net::Ipv4Addr;
use nom::number::complete::be_u16;
use nom::IResult;

/// A UDP header as a plain value (length and checksum follow from the payload).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpRepr {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
}

/// Sum of the pseudo-header and the datagram `d` (checksum field included).
fn datagram_sum(d: &[u8], src: Ipv4Addr, dst: Ipv4Addr) -> u16 {
    // `d.len()` fits: callers cut `d` to a 16-bit length field.
    let len = d.len() as u16;
    checksum::add(
        checksum::pseudo_header_v4(src, dst, protocol::UDP, len),
        checksum::sum(d),
    )
}

impl UdpRepr {
    /// Header length in bytes.
    pub const HEADER_LEN: usize = 8;

    #[inline]
    fn parser(i: &[u8]) -> IResult<&[u8], (u16, u16, u16, u16)> {
        let (i, src) = be_u16(i)?;
        let (i, dst) = be_u16(i)?;
        let (i, len) = be_u16(i)?;
        let (i, check) = be_u16(i)?;
        Ok((i, (src, dst, len, check)))
    }

    /// Parses a datagram (the IPv4 payload) sent from `src` to `dst`: the length field must lie
    /// between 8 and the bytes present, and a non-zero checksum must verify unless `mode` says
    /// the device checked it. Returns the header and the payload, cut to the length field.
    #[inline]
    pub fn parse(
        data: &[u8],
        src: Ipv4Addr,
        dst: Ipv4Addr,
        mode: ChecksumMode,
    ) -> Result<(UdpRepr, &[u8]), WireError> {
        let what = "udp header";
        let Ok((_, (src_port, dst_port, len, check))) = Self::parser(data) else {
            return Err(WireError::Truncated {
                what,
                needed: Self::HEADER_LEN,
                got: data.len(),
            });
        };
        let len = usize::from(len);
        if len < Self::HEADER_LEN || len > data.len() {
            return Err(WireError::BadLength {
                what,
                claimed: len,
                got: data.len(),
            });
        }
        let d = &data[..len];
        if check != 0 && mode == ChecksumMode::Software && datagram_sum(d, src, dst) != 0xffff {
            return Err(WireError::BadChecksum { what });
        }
        Ok((UdpRepr { src_port, dst_port }, &d[Self::HEADER_LEN..]))
    }

    /// Writes the header into `packet[..8]` for the `payload_len` bytes already in
    /// `packet[8..]` (payload first, header pushed in front, like `udp_send_skb`) and returns
    /// the datagram length. With [`ChecksumMode::Offloaded`] the checksum field holds the
    /// pseudo-header sum for the device to finish.
    pub fn emit(
        &self,
        packet: &mut [u8],
        payload_len: usize,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        mode: ChecksumMode,
    ) -> Result<usize, WireError> {
        let total = Self::HEADER_LEN + payload_len;
        let len16 = u16::try_from(total).map_err(|_| WireError::Unrepresentable {
            what: "udp length over 65535",
        })?;
        let Some(d) = packet.get_mut(..total) else {
            return Err(WireError::BufferTooSmall {
                needed: total,
                have: packet.len(),
            });
        };
        d[0..2].copy_from_slice(&self.src_port.to_be_bytes());
        d[2..4].copy_from_slice(&self.dst_port.to_be_bytes());
        d[4..6].copy_from_slice(&len16.to_be_bytes());
        d[6..8].copy_from_slice(&[0, 0]);
        let check = match mode {
            ChecksumMode::Software => match !datagram_sum(d, src, dst) {
                0 => 0xffff,
                c => c,
            },
            ChecksumMode::Offloaded => checksum::pseudo_header_v4(src, dst, protocol::UDP, len16),
        };
        d[6..8].copy_from_slice(&check.to_be_bytes());
        Ok(total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 1);
    const DST: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 2);
    /// "hello oxnic\n" from port 40000 to 5000, from Linux (tests/fixtures/udp_datagram.hex).
    const DATAGRAM: [u8; 20] = [
        0x9c, 0x40, 0x13, 0x88, 0x00, 0x14, 0xb6, 0x56, 0x68, 0x65, 0x6c, 0x6c, 0x6f, 0x20, 0x6f,
        0x78, 0x6e, 0x69, 0x63, 0x0a,
    ];
    const SW: ChecksumMode = ChecksumMode::Software;

    #[test]
    fn parse_datagram() {
        let (u, payload) = UdpRepr::parse(&DATAGRAM, SRC, DST, SW).unwrap();
        assert_eq!((u.src_port, u.dst_port), (40000, 5000));
        assert_eq!(payload, b"hello oxnic\n");
    }

    #[test]
    fn parse_zero_checksum_means_none() {
        let mut d = DATAGRAM;
        d[6..8].copy_from_slice(&[0, 0]);
        d[9] ^= 0xff; // corrupt payload: not detectable without a checksum
        assert!(UdpRepr::parse(&d, SRC, DST, SW).is_ok());
    }

    #[test]
    fn parse_malformed() {
        for n in 0..8 {
            assert!(matches!(
                UdpRepr::parse(&DATAGRAM[..n], SRC, DST, SW),
                Err(WireError::Truncated { got, .. }) if got == n
            ));
        }
        // Cut payload: the length field now exceeds the bytes.
        for n in 8..DATAGRAM.len() {
            assert!(matches!(
                UdpRepr::parse(&DATAGRAM[..n], SRC, DST, SW),
                Err(WireError::BadLength { claimed: 20, .. })
            ));
        }
        let mut d = DATAGRAM;
        d[5] = 7;
        assert!(matches!(
            UdpRepr::parse(&d, SRC, DST, SW),
            Err(WireError::BadLength { claimed: 7, .. })
        ));
        let mut d = DATAGRAM;
        d[10] ^= 1;
        assert_eq!(
            UdpRepr::parse(&d, SRC, DST, SW),
            Err(WireError::BadChecksum { what: "udp header" })
        );
        assert!(UdpRepr::parse(&d, SRC, DST, ChecksumMode::Offloaded).is_ok());
        // The pseudo-header is covered: the same bytes from another source do not verify.
        assert!(UdpRepr::parse(&DATAGRAM, Ipv4Addr::new(10, 99, 0, 3), DST, SW).is_err());
    }

    #[test]
    fn emit_round_trip() {
        let mut buf = [0u8; 20];
        buf[8..].copy_from_slice(b"hello oxnic\n");
        let u = UdpRepr {
            src_port: 40000,
            dst_port: 5000,
        };
        assert_eq!(u.emit(&mut buf, 12, SRC, DST, SW), Ok(20));
        assert_eq!(buf, DATAGRAM);
        assert!(matches!(
            u.emit(&mut buf, 13, SRC, DST, SW),
            Err(WireError::BufferTooSmall { .. })
        ));
        assert!(matches!(
            u.emit(&mut buf, 65528, SRC, DST, SW),
            Err(WireError::Unrepresentable { .. })
        ));
    }

    #[test]
    fn emit_offloaded_leaves_pseudo_header_sum() {
        let mut buf = DATAGRAM;
        let u = UdpRepr::parse(&DATAGRAM, SRC, DST, SW).unwrap().0;
        u.emit(&mut buf, 12, SRC, DST, ChecksumMode::Offloaded)
            .unwrap();
        // What a device does with start=0, offset=6: fold the sum over the datagram in.
        let c = !checksum::sum(&buf);
        buf[6..8].copy_from_slice(&c.to_be_bytes());
        assert_eq!(buf, DATAGRAM);
    }

    #[test]
    fn emit_computed_zero_is_sent_as_ffff() {
        // Find a payload word making the checksum compute to zero, then check it is sent as
        // 0xffff (0 would mean "no checksum").
        let u = UdpRepr {
            src_port: 1,
            dst_port: 2,
        };
        let mut buf = [0u8; 10];
        u.emit(&mut buf, 2, SRC, DST, SW).unwrap();
        let c = u16::from_be_bytes([buf[6], buf[7]]);
        // Adding `c` as payload makes the sum 0xffff, so the new checksum is 0.
        buf[8..10].copy_from_slice(&c.to_be_bytes());
        u.emit(&mut buf, 2, SRC, DST, SW).unwrap();
        assert_eq!(&buf[6..8], &[0xff, 0xff]);
        assert!(UdpRepr::parse(&buf, SRC, DST, SW).is_ok());
    }
}
