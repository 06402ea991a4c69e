//! ICMPv4 (RFC 792, RFC 1191 for the next-hop MTU): echo, and the three error messages the
//! stack sends and reads. An error quotes the IPv4 header of the datagram that caused it and at
//! least its first 8 payload bytes (Linux quotes up to 576 bytes in all), which is how the
//! receiver finds the socket the error belongs to.

use super::checksum::{self, ChecksumMode};
use super::ipv4::Ipv4Repr;
use super::WireError;
use nom::number::complete::{be_u16, be_u8};
use nom::IResult;

/// ICMP message types this parser reads.
pub mod msg_type {
    /// Echo reply.
    pub const ECHO_REPLY: u8 = 0;
    /// Destination unreachable.
    pub const DST_UNREACHABLE: u8 = 3;
    /// Echo request.
    pub const ECHO_REQUEST: u8 = 8;
    /// Time exceeded.
    pub const TIME_EXCEEDED: u8 = 11;
    /// Parameter problem.
    pub const PARAM_PROBLEM: u8 = 12;
}

/// Destination-unreachable codes (RFC 792, RFC 1122 §3.2.2.1, RFC 1812 §5.2.7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DstUnreachable {
    /// 0: net unreachable.
    NetUnreachable,
    /// 1: host unreachable.
    HostUnreachable,
    /// 2: protocol unreachable.
    ProtoUnreachable,
    /// 3: port unreachable.
    PortUnreachable,
    /// 4: fragmentation needed and DF set (carries the next-hop MTU).
    FragRequired,
    /// 5: source route failed.
    SrcRouteFailed,
    /// 6: destination network unknown.
    DstNetUnknown,
    /// 7: destination host unknown.
    DstHostUnknown,
    /// 8: source host isolated.
    SrcHostIsolated,
    /// 9: network administratively prohibited.
    NetProhibited,
    /// 10: host administratively prohibited.
    HostProhibited,
    /// 11: network unreachable for type of service.
    NetUnreachToS,
    /// 12: host unreachable for type of service.
    HostUnreachToS,
    /// 13: communication administratively prohibited (a filter).
    CommProhibited,
    /// 14: host precedence violation.
    HostPrecedViol,
    /// 15: precedence cutoff in effect.
    PrecedCutoff,
}

impl DstUnreachable {
    const ALL: [DstUnreachable; 16] = [
        Self::NetUnreachable,
        Self::HostUnreachable,
        Self::ProtoUnreachable,
        Self::PortUnreachable,
        Self::FragRequired,
        Self::SrcRouteFailed,
        Self::DstNetUnknown,
        Self::DstHostUnknown,
        Self::SrcHostIsolated,
        Self::NetProhibited,
        Self::HostProhibited,
        Self::NetUnreachToS,
        Self::HostUnreachToS,
        Self::CommProhibited,
        Self::HostPrecedViol,
        Self::PrecedCutoff,
    ];

    /// The code byte.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The reason for a code byte, if it is one of the 16 defined.
    pub fn from_code(code: u8) -> Option<Self> {
        Self::ALL.get(usize::from(code)).copied()
    }
}

/// Time-exceeded codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeExceeded {
    /// 0: TTL reached zero in transit (a router).
    TtlExpired,
    /// 1: fragment reassembly time exceeded (the destination).
    FragReassembly,
}

/// An ICMPv4 message as a plain value. `data` borrows from the parsed packet: the echo payload,
/// or the bytes after the quoted header in an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IcmpRepr<'a> {
    /// Echo request (ping).
    EchoRequest {
        /// Identifier (Linux: the socket's port).
        ident: u16,
        /// Sequence number.
        seq_no: u16,
        /// Payload, echoed back.
        data: &'a [u8],
    },
    /// Echo reply.
    EchoReply {
        /// Identifier from the request.
        ident: u16,
        /// Sequence number from the request.
        seq_no: u16,
        /// Payload from the request.
        data: &'a [u8],
    },
    /// Destination unreachable.
    DstUnreachable {
        /// The code.
        reason: DstUnreachable,
        /// Next-hop MTU (RFC 1191), only meaningful for [`DstUnreachable::FragRequired`]; zero
        /// otherwise.
        next_hop_mtu: u16,
        /// The quoted header of the datagram that could not be delivered.
        header: Ipv4Repr,
        /// The quoted payload bytes of that datagram.
        data: &'a [u8],
    },
    /// Time exceeded.
    TimeExceeded {
        /// The code.
        reason: TimeExceeded,
        /// The quoted header.
        header: Ipv4Repr,
        /// The quoted payload bytes.
        data: &'a [u8],
    },
    /// Parameter problem.
    ParamProblem {
        /// Offset of the offending byte in the quoted header (code 0).
        pointer: u8,
        /// The quoted header.
        header: Ipv4Repr,
        /// The quoted payload bytes.
        data: &'a [u8],
    },
}

/// Length of the fixed ICMP header (type, code, checksum, 4 type-specific bytes).
pub const HEADER_LEN: usize = 8;

/// Bytes of the original payload an error must quote (RFC 792).
pub const QUOTED_PAYLOAD_LEN: usize = 8;

/// Type, code and the two type-specific 16-bit words (the checksum is verified over the whole
/// message instead of being read).
fn fixed(i: &[u8]) -> IResult<&[u8], (u8, u8, u16, u16)> {
    let (i, ty) = be_u8(i)?;
    let (i, code) = be_u8(i)?;
    let (i, _check) = be_u16(i)?;
    let (i, a) = be_u16(i)?;
    let (i, b) = be_u16(i)?;
    Ok((i, (ty, code, a, b)))
}

impl<'a> IcmpRepr<'a> {
    /// Parses an ICMP message (the IPv4 payload), verifying its checksum unless `mode` says the
    /// device did. Errors must quote a valid IPv4 header and at least 8 payload bytes (or the
    /// whole payload, when the original was shorter). Other types and undefined codes are
    /// [`WireError::Unsupported`], to be counted and dropped.
    pub fn parse(data: &'a [u8], mode: ChecksumMode) -> Result<IcmpRepr<'a>, WireError> {
        let what = "icmp header";
        let Ok((body, (ty, code, a, b))) = fixed(data) else {
            return Err(WireError::Truncated {
                what,
                needed: HEADER_LEN,
                got: data.len(),
            });
        };
        if mode == ChecksumMode::Software && !checksum::verify(data) {
            return Err(WireError::BadChecksum { what });
        }
        let bad_code = Err(WireError::Unsupported {
            what: "icmp code",
            value: u32::from(code),
        });
        let quoted = || -> Result<(Ipv4Repr, &'a [u8]), WireError> {
            let (header, rest) = Ipv4Repr::parse_quoted(body)?;
            let needed = QUOTED_PAYLOAD_LEN.min(header.payload_len);
            if rest.len() < needed {
                return Err(WireError::Truncated {
                    what: "icmp quoted payload",
                    needed,
                    got: rest.len(),
                });
            }
            // Everything after the quoted header is quoted payload (Linux fills to 576 bytes);
            // `rest` was cut to the quoted total length, so take the whole tail instead.
            Ok((header, &body[header.header_len()..]))
        };
        match ty {
            msg_type::ECHO_REQUEST | msg_type::ECHO_REPLY => {
                if code != 0 {
                    return bad_code;
                }
                Ok(if ty == msg_type::ECHO_REQUEST {
                    IcmpRepr::EchoRequest {
                        ident: a,
                        seq_no: b,
                        data: body,
                    }
                } else {
                    IcmpRepr::EchoReply {
                        ident: a,
                        seq_no: b,
                        data: body,
                    }
                })
            }
            msg_type::DST_UNREACHABLE => {
                let Some(reason) = DstUnreachable::from_code(code) else {
                    return bad_code;
                };
                let (header, data) = quoted()?;
                let next_hop_mtu = if reason == DstUnreachable::FragRequired {
                    b
                } else {
                    0
                };
                Ok(IcmpRepr::DstUnreachable {
                    reason,
                    next_hop_mtu,
                    header,
                    data,
                })
            }
            msg_type::TIME_EXCEEDED => {
                let reason = match code {
                    0 => TimeExceeded::TtlExpired,
                    1 => TimeExceeded::FragReassembly,
                    _ => return bad_code,
                };
                let (header, data) = quoted()?;
                Ok(IcmpRepr::TimeExceeded {
                    reason,
                    header,
                    data,
                })
            }
            msg_type::PARAM_PROBLEM => {
                if code != 0 {
                    return bad_code;
                }
                let (header, data) = quoted()?;
                Ok(IcmpRepr::ParamProblem {
                    pointer: (a >> 8) as u8,
                    header,
                    data,
                })
            }
            other => Err(WireError::Unsupported {
                what: "icmp type",
                value: u32::from(other),
            }),
        }
    }

    /// Length of the message as emitted.
    pub fn buffer_len(&self) -> usize {
        match self {
            IcmpRepr::EchoRequest { data, .. } | IcmpRepr::EchoReply { data, .. } => {
                HEADER_LEN + data.len()
            }
            IcmpRepr::DstUnreachable { header, data, .. }
            | IcmpRepr::TimeExceeded { header, data, .. }
            | IcmpRepr::ParamProblem { header, data, .. } => {
                HEADER_LEN + header.header_len() + data.len()
            }
        }
    }

    /// Writes the message into the first [`Self::buffer_len`] bytes of `buf`, computing the
    /// checksum unless `mode` leaves it to the device, and returns that length.
    pub fn emit(&self, buf: &mut [u8], mode: ChecksumMode) -> Result<usize, WireError> {
        let len = self.buffer_len();
        let Some(m) = buf.get_mut(..len) else {
            return Err(WireError::BufferTooSmall {
                needed: len,
                have: buf.len(),
            });
        };
        let (ty, code, a, b) = match *self {
            IcmpRepr::EchoRequest { ident, seq_no, .. } => {
                (msg_type::ECHO_REQUEST, 0, ident, seq_no)
            }
            IcmpRepr::EchoReply { ident, seq_no, .. } => (msg_type::ECHO_REPLY, 0, ident, seq_no),
            IcmpRepr::DstUnreachable {
                reason,
                next_hop_mtu,
                ..
            } => (msg_type::DST_UNREACHABLE, reason.code(), 0, next_hop_mtu),
            IcmpRepr::TimeExceeded { reason, .. } => (msg_type::TIME_EXCEEDED, reason as u8, 0, 0),
            IcmpRepr::ParamProblem { pointer, .. } => {
                (msg_type::PARAM_PROBLEM, 0, u16::from(pointer) << 8, 0)
            }
        };
        m[0] = ty;
        m[1] = code;
        m[2..4].copy_from_slice(&[0, 0]);
        m[4..6].copy_from_slice(&a.to_be_bytes());
        m[6..8].copy_from_slice(&b.to_be_bytes());
        match *self {
            IcmpRepr::EchoRequest { data, .. } | IcmpRepr::EchoReply { data, .. } => {
                m[HEADER_LEN..].copy_from_slice(data);
            }
            IcmpRepr::DstUnreachable { header, data, .. }
            | IcmpRepr::TimeExceeded { header, data, .. }
            | IcmpRepr::ParamProblem { header, data, .. } => {
                // The quoted header is reproduced with a fresh checksum: it is the original's
                // whenever the original's was right.
                let h = header.emit(&mut m[HEADER_LEN..], ChecksumMode::Software)?;
                m[HEADER_LEN + h..].copy_from_slice(data);
            }
        }
        if mode == ChecksumMode::Software {
            let c = checksum::checksum(m);
            m[2..4].copy_from_slice(&c.to_be_bytes());
        }
        Ok(len)
    }
}

#[cfg(test)]
mod tests {
    use super::super::ipv4::protocol;
    use super::*;
    use core::net::Ipv4Addr;

    const SW: ChecksumMode = ChecksumMode::Software;

    fn echo_bytes() -> Vec<u8> {
        let e = IcmpRepr::EchoRequest {
            ident: 0x1234,
            seq_no: 7,
            data: b"oxnic ping",
        };
        let mut buf = vec![0u8; e.buffer_len()];
        e.emit(&mut buf, SW).unwrap();
        buf
    }

    fn quoted_header(payload_len: usize) -> Ipv4Repr {
        Ipv4Repr {
            src: Ipv4Addr::new(10, 0, 0, 1),
            dst: Ipv4Addr::new(10, 0, 0, 2),
            protocol: protocol::UDP,
            ttl: 1,
            dscp: 0,
            ecn: 0,
            ident: 99,
            dont_frag: true,
            more_frags: false,
            frag_offset: 0,
            payload_len,
            options: Default::default(),
        }
    }

    #[test]
    fn parse_echo_and_emit_round_trip() {
        let b = echo_bytes();
        assert_eq!(&b[..8], &[8, 0, 0xc5, 0xf1, 0x12, 0x34, 0, 7]);
        let e = IcmpRepr::parse(&b, SW).unwrap();
        assert_eq!(
            e,
            IcmpRepr::EchoRequest {
                ident: 0x1234,
                seq_no: 7,
                data: b"oxnic ping"
            }
        );
    }

    #[test]
    fn parse_malformed_echo() {
        let b = echo_bytes();
        for n in 0..8 {
            assert!(matches!(
                IcmpRepr::parse(&b[..n], SW),
                Err(WireError::Truncated { .. })
            ));
        }
        // A cut echo payload is still an echo (there is no length field), but the checksum no
        // longer verifies.
        assert_eq!(
            IcmpRepr::parse(&b[..12], SW),
            Err(WireError::BadChecksum {
                what: "icmp header"
            })
        );
        let mut bad = b.clone();
        bad[1] = 1;
        assert!(matches!(
            IcmpRepr::parse(&bad, ChecksumMode::Offloaded),
            Err(WireError::Unsupported {
                what: "icmp code",
                value: 1
            })
        ));
        bad[0] = 13; // timestamp request: not handled
        assert!(matches!(
            IcmpRepr::parse(&bad, ChecksumMode::Offloaded),
            Err(WireError::Unsupported {
                what: "icmp type",
                value: 13
            })
        ));
    }

    #[test]
    fn emit_every_error_round_trips() {
        let quote = [0x9c, 0x41, 0x13, 0x89, 0x00, 0x0f, 0x12, 0x34];
        let header = quoted_header(7 + 8);
        let mut msgs = vec![];
        for code in 0..16 {
            let reason = DstUnreachable::from_code(code).unwrap();
            assert_eq!(reason.code(), code);
            let next_hop_mtu = if reason == DstUnreachable::FragRequired {
                1000
            } else {
                0
            };
            msgs.push(IcmpRepr::DstUnreachable {
                reason,
                next_hop_mtu,
                header,
                data: &quote,
            });
        }
        assert_eq!(DstUnreachable::from_code(16), None);
        for reason in [TimeExceeded::TtlExpired, TimeExceeded::FragReassembly] {
            msgs.push(IcmpRepr::TimeExceeded {
                reason,
                header,
                data: &quote,
            });
        }
        msgs.push(IcmpRepr::ParamProblem {
            pointer: 9,
            header,
            data: &quote,
        });
        for m in msgs {
            let mut buf = [0u8; 64];
            let n = m.emit(&mut buf, SW).unwrap();
            assert_eq!(n, 8 + 20 + 8);
            assert_eq!(IcmpRepr::parse(&buf[..n], SW), Ok(m));
            // Every truncation of an error is an error (never a panic, never a short quote).
            for k in 0..n {
                assert!(IcmpRepr::parse(&buf[..k], ChecksumMode::Offloaded).is_err());
            }
            assert!(matches!(
                m.emit(&mut buf[..n - 1], SW),
                Err(WireError::BufferTooSmall { .. })
            ));
        }
    }

    #[test]
    fn parse_error_quoting_short_datagram() {
        // The original had only 4 payload bytes: quoting all 4 is enough.
        let m = IcmpRepr::DstUnreachable {
            reason: DstUnreachable::PortUnreachable,
            next_hop_mtu: 0,
            header: quoted_header(4),
            data: &[1, 2, 3, 4],
        };
        let mut buf = [0u8; 40];
        let n = m.emit(&mut buf, SW).unwrap();
        assert_eq!(IcmpRepr::parse(&buf[..n], SW), Ok(m));
    }

    #[test]
    fn parse_error_with_bad_quoted_header() {
        let m = IcmpRepr::TimeExceeded {
            reason: TimeExceeded::TtlExpired,
            header: quoted_header(8),
            data: &[0; 8],
        };
        let mut buf = [0u8; 36];
        m.emit(&mut buf, SW).unwrap();
        buf[8] = 0x65; // quoted version 6
        assert!(matches!(
            IcmpRepr::parse(&buf, ChecksumMode::Offloaded),
            Err(WireError::BadVersion { .. })
        ));
        buf[1] = 2; // undefined time-exceeded code
        assert!(matches!(
            IcmpRepr::parse(&buf, ChecksumMode::Offloaded),
            Err(WireError::Unsupported { .. })
        ));
    }
}
