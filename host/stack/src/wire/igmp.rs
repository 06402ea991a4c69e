//! IGMP (RFC 3376 for version 3, RFC 2236 and RFC 1112 for the older messages a host still
//! reads): membership queries of every version, and the IGMPv3 membership report a host sends.
//! The checksum covers the whole IGMP message (RFC 3376 §4.1.2, §4.2.2).
//!
//! [`IgmpRepr::parse`] checks the length and checksum once; a version 3 report's group records
//! are walked at parse time, so [`V3Report::records`] cannot run past the bytes afterwards.

use super::checksum;
use super::WireError;
use nom::number::complete::{be_u16, be_u8};
use nom::IResult;
use std::net::Ipv4Addr;

/// IGMP message types.
pub mod msg_type {
    /// Membership query (all versions).
    pub const MEMBERSHIP_QUERY: u8 = 0x11;
    /// Version 1 membership report.
    pub const V1_REPORT: u8 = 0x12;
    /// Version 2 membership report.
    pub const V2_REPORT: u8 = 0x16;
    /// Version 2 leave group.
    pub const V2_LEAVE: u8 = 0x17;
    /// Version 3 membership report.
    pub const V3_REPORT: u8 = 0x22;
}

/// Group record types of a version 3 report (RFC 3376 §4.2.12).
pub mod record_type {
    /// Current state: include the sources listed.
    pub const MODE_IS_INCLUDE: u8 = 1;
    /// Current state: exclude the sources listed (none listed: every source).
    pub const MODE_IS_EXCLUDE: u8 = 2;
    /// Filter mode change to include: with no sources, the host left the group.
    pub const CHANGE_TO_INCLUDE_MODE: u8 = 3;
    /// Filter mode change to exclude: with no sources, the host joined the group.
    pub const CHANGE_TO_EXCLUDE_MODE: u8 = 4;
    /// Sources allowed.
    pub const ALLOW_NEW_SOURCES: u8 = 5;
    /// Sources blocked.
    pub const BLOCK_OLD_SOURCES: u8 = 6;
}

/// Where version 3 reports go: all IGMPv3-capable routers (RFC 3376 §4.2.14).
pub const ALL_V3_ROUTERS: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 22);
/// The all-hosts group every host belongs to on every interface and never reports.
pub const ALL_HOSTS: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 1);

/// The Ethernet address a group's datagrams go to (RFC 1112 §6.4, Linux `ip_eth_mc_map`):
/// 01:00:5e followed by the group's low 23 bits.
pub fn mc_mac(group: Ipv4Addr) -> super::ethernet::EthernetAddress {
    let o = group.octets();
    super::ethernet::EthernetAddress([0x01, 0x00, 0x5e, o[1] & 0x7f, o[2], o[3]])
}

/// The version of a membership query, told by its length and max response code (RFC 3376
/// §7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryVersion {
    /// 8 bytes, max response code 0.
    V1,
    /// 8 bytes, max response code non-zero.
    V2,
    /// 12 bytes or more.
    V3,
}

/// A membership query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Query {
    /// Which version sent it.
    pub version: QueryVersion,
    /// The max response time in tenths of a second, decoded from the code (RFC 3376
    /// §4.1.1). 0 for a version 1 query, whose code field is unused: it means 10 s (RFC 2236
    /// §4). A version 3 query can carry 0 too, which asks for an answer at once (Linux
    /// `igmp_heard_query` waits one tick); tell them apart by [`Query::version`].
    pub max_resp_ds: u32,
    /// The group asked about; 0.0.0.0 for a general query.
    pub group: Ipv4Addr,
    /// Sources listed (a group-and-source-specific query), version 3 only.
    pub sources: u16,
}

/// A version 3 report, its group records checked to fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct V3Report<'a> {
    records: &'a [u8],
    count: u16,
}

/// One group record of a version 3 report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupRecord {
    /// [`record_type`].
    pub record_type: u8,
    /// The multicast address.
    pub group: Ipv4Addr,
    /// Sources listed.
    pub sources: u16,
}

impl<'a> V3Report<'a> {
    /// The group records, in order.
    pub fn records(&self) -> impl Iterator<Item = GroupRecord> + 'a {
        let mut rest = self.records;
        (0..self.count).map_while(move |_| {
            let (rec, len) = group_record(rest)?;
            rest = rest.get(len..)?;
            Some(rec)
        })
    }
}

/// One record at the start of `b` and its length, if it fits.
fn group_record(b: &[u8]) -> Option<(GroupRecord, usize)> {
    let h = b.get(..GROUP_RECORD_LEN)?;
    let aux = usize::from(h[1]) * 4;
    let sources = u16::from_be_bytes([h[2], h[3]]);
    let len = GROUP_RECORD_LEN + usize::from(sources) * 4 + aux;
    b.get(..len)?;
    Some((
        GroupRecord {
            record_type: h[0],
            group: Ipv4Addr::new(h[4], h[5], h[6], h[7]),
            sources,
        },
        len,
    ))
}

/// Header length of a group record.
const GROUP_RECORD_LEN: usize = 8;

/// An IGMP message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IgmpRepr<'a> {
    /// A membership query of any version.
    Query(Query),
    /// A version 1 or 2 report about `group`.
    OldReport {
        /// [`msg_type::V1_REPORT`] or [`msg_type::V2_REPORT`].
        msg_type: u8,
        /// The group.
        group: Ipv4Addr,
    },
    /// A version 2 leave of `group`.
    Leave {
        /// The group.
        group: Ipv4Addr,
    },
    /// A version 3 report.
    V3Report(V3Report<'a>),
}

/// Length of a version 1/2 message and of a version 3 report's header.
pub const HEADER_LEN: usize = 8;
/// Length of a version 3 query without sources.
pub const V3_QUERY_LEN: usize = 12;

fn header(i: &[u8]) -> IResult<&[u8], (u8, u8, u16, [u8; 4])> {
    let (i, ty) = be_u8(i)?;
    let (i, code) = be_u8(i)?;
    let (i, check) = be_u16(i)?;
    let (i, a) = be_u8(i)?;
    let (i, b) = be_u8(i)?;
    let (i, c) = be_u8(i)?;
    let (i, d) = be_u8(i)?;
    Ok((i, (ty, code, check, [a, b, c, d])))
}

/// Decodes a version 3 max response code or QQIC (RFC 3376 §4.1.1): below 128 the value
/// itself, else a floating-point value `(mant | 0x10) << (exp + 3)`.
pub fn decode_code(code: u8) -> u32 {
    if code < 128 {
        u32::from(code)
    } else {
        let exp = u32::from((code >> 4) & 7);
        let mant = u32::from(code & 0x0f);
        (mant | 0x10) << (exp + 3)
    }
}

impl<'a> IgmpRepr<'a> {
    /// Parses an IGMP message (the IPv4 payload, cut to the datagram's length). The checksum
    /// must verify; a type this host does not read is [`WireError::Unsupported`].
    pub fn parse(data: &'a [u8]) -> Result<IgmpRepr<'a>, WireError> {
        let what = "igmp";
        let Ok((_, (ty, code, _check, g))) = header(data) else {
            return Err(WireError::Truncated {
                what,
                needed: HEADER_LEN,
                got: data.len(),
            });
        };
        if !checksum::verify(data) {
            return Err(WireError::BadChecksum { what });
        }
        let group = Ipv4Addr::from(g);
        match ty {
            msg_type::MEMBERSHIP_QUERY => {
                let version = match data.len() {
                    HEADER_LEN if code == 0 => QueryVersion::V1,
                    HEADER_LEN => QueryVersion::V2,
                    n if n >= V3_QUERY_LEN => QueryVersion::V3,
                    n => {
                        // RFC 3376 §7.1: a query of 9 to 11 bytes is silently ignored.
                        return Err(WireError::BadLength {
                            what,
                            claimed: V3_QUERY_LEN,
                            got: n,
                        });
                    }
                };
                let (max_resp_ds, sources) = match version {
                    QueryVersion::V1 => (0, 0),
                    QueryVersion::V2 => (u32::from(code), 0),
                    QueryVersion::V3 => {
                        let n = u16::from_be_bytes([data[10], data[11]]);
                        let need = V3_QUERY_LEN + usize::from(n) * 4;
                        if data.len() < need {
                            return Err(WireError::BadLength {
                                what,
                                claimed: need,
                                got: data.len(),
                            });
                        }
                        (decode_code(code), n)
                    }
                };
                Ok(IgmpRepr::Query(Query {
                    version,
                    max_resp_ds,
                    group,
                    sources,
                }))
            }
            msg_type::V1_REPORT | msg_type::V2_REPORT => Ok(IgmpRepr::OldReport {
                msg_type: ty,
                group,
            }),
            msg_type::V2_LEAVE => Ok(IgmpRepr::Leave { group }),
            msg_type::V3_REPORT => {
                let count = u16::from_be_bytes([g[2], g[3]]);
                let records = &data[HEADER_LEN..];
                let mut rest = records;
                for _ in 0..count {
                    let Some((_, len)) = group_record(rest) else {
                        return Err(WireError::BadLength {
                            what,
                            claimed: HEADER_LEN + records.len() + 1,
                            got: data.len(),
                        });
                    };
                    rest = &rest[len..];
                }
                Ok(IgmpRepr::V3Report(V3Report { records, count }))
            }
            other => Err(WireError::Unsupported {
                what: "igmp type",
                value: u32::from(other),
            }),
        }
    }
}

/// Length of a version 3 report carrying `records` group records without sources.
pub fn v3_report_len(records: usize) -> usize {
    HEADER_LEN + records * GROUP_RECORD_LEN
}

/// Emits a version 3 report whose group records are `(record type, group)` with no sources,
/// checksum filled in; returns its length.
pub fn emit_v3_report(buf: &mut [u8], records: &[(u8, Ipv4Addr)]) -> Result<usize, WireError> {
    let len = v3_report_len(records.len());
    let count = u16::try_from(records.len()).map_err(|_| WireError::Unrepresentable {
        what: "igmp record count",
    })?;
    let have = buf.len();
    let Some(b) = buf.get_mut(..len) else {
        return Err(WireError::BufferTooSmall { needed: len, have });
    };
    b[..HEADER_LEN].copy_from_slice(&[msg_type::V3_REPORT, 0, 0, 0, 0, 0, 0, 0]);
    b[6..8].copy_from_slice(&count.to_be_bytes());
    for (r, &(ty, group)) in b[HEADER_LEN..]
        .chunks_exact_mut(GROUP_RECORD_LEN)
        .zip(records)
    {
        r[..4].copy_from_slice(&[ty, 0, 0, 0]);
        r[4..].copy_from_slice(&group.octets());
    }
    let c = checksum::checksum(b);
    b[2..4].copy_from_slice(&c.to_be_bytes());
    Ok(len)
}

/// Emits a version 3 query about `group` (0.0.0.0: general) with max response code `code`
/// and no sources, as a router does; returns its length. For tests and tools.
pub fn emit_v3_query(buf: &mut [u8], code: u8, group: Ipv4Addr) -> Result<usize, WireError> {
    let have = buf.len();
    let Some(b) = buf.get_mut(..V3_QUERY_LEN) else {
        return Err(WireError::BufferTooSmall {
            needed: V3_QUERY_LEN,
            have,
        });
    };
    b[..4].copy_from_slice(&[msg_type::MEMBERSHIP_QUERY, code, 0, 0]);
    b[4..8].copy_from_slice(&group.octets());
    // S = 0, QRV = 2, QQIC = 125 s, no sources.
    b[8..].copy_from_slice(&[2, 125, 0, 0]);
    let c = checksum::checksum(b);
    b[2..4].copy_from_slice(&c.to_be_bytes());
    Ok(V3_QUERY_LEN)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An IGMPv3 report on joining 239.1.2.3, as Linux sends it (one CHANGE_TO_EXCLUDE_MODE
    /// record, no sources), checksum worked out by hand.
    const JOIN_239_1_2_3: [u8; 16] = [
        0x22, 0x00, 0xe8, 0xf9, 0x00, 0x00, 0x00, 0x01, 0x04, 0x00, 0x00, 0x00, 0xef, 0x01, 0x02,
        0x03,
    ];

    #[test]
    fn emit_v3_join_report() {
        let mut b = [0u8; 32];
        let g = Ipv4Addr::new(239, 1, 2, 3);
        let n = emit_v3_report(&mut b, &[(record_type::CHANGE_TO_EXCLUDE_MODE, g)]).unwrap();
        assert_eq!(b[..n], JOIN_239_1_2_3);
    }

    #[test]
    fn parse_v3_report() {
        let IgmpRepr::V3Report(r) = IgmpRepr::parse(&JOIN_239_1_2_3).unwrap() else {
            panic!("not a report");
        };
        let recs: Vec<_> = r.records().collect();
        assert_eq!(
            recs,
            vec![GroupRecord {
                record_type: record_type::CHANGE_TO_EXCLUDE_MODE,
                group: Ipv4Addr::new(239, 1, 2, 3),
                sources: 0,
            }]
        );
    }

    #[test]
    fn parse_queries_of_each_version() {
        let mut b = [0u8; 12];
        emit_v3_query(&mut b, 100, Ipv4Addr::UNSPECIFIED).unwrap();
        assert_eq!(
            IgmpRepr::parse(&b).unwrap(),
            IgmpRepr::Query(Query {
                version: QueryVersion::V3,
                max_resp_ds: 100,
                group: Ipv4Addr::UNSPECIFIED,
                sources: 0,
            })
        );
        // A version 2 query: 8 bytes, code 100 (10 s), group-specific.
        let mut v2 = [0x11, 100, 0, 0, 239, 1, 1, 1];
        let c = checksum::checksum(&v2);
        v2[2..4].copy_from_slice(&c.to_be_bytes());
        let IgmpRepr::Query(q) = IgmpRepr::parse(&v2).unwrap() else {
            panic!("not a query");
        };
        assert_eq!((q.version, q.max_resp_ds), (QueryVersion::V2, 100));
    }

    #[test]
    fn groups_map_to_their_mac_by_the_low_23_bits() {
        let m = mc_mac(Ipv4Addr::new(239, 129, 2, 3));
        assert_eq!(m.0, [0x01, 0x00, 0x5e, 0x01, 0x02, 0x03]);
        assert_eq!(mc_mac(Ipv4Addr::new(224, 1, 2, 3)), m);
    }

    #[test]
    fn exponential_codes_decode() {
        assert_eq!(decode_code(127), 127);
        // exp 0, mant 0: 0x10 << 3.
        assert_eq!(decode_code(0x80), 128);
        assert_eq!(decode_code(0xff), 31 << 10);
    }

    #[test]
    fn malformed_messages_are_errors_not_panics() {
        assert!(IgmpRepr::parse(&[]).is_err());
        assert!(IgmpRepr::parse(&JOIN_239_1_2_3[..7]).is_err());
        let mut bad = JOIN_239_1_2_3;
        bad[15] ^= 1;
        assert!(matches!(
            IgmpRepr::parse(&bad),
            Err(WireError::BadChecksum { .. })
        ));
        // A report claiming two records but carrying one.
        let mut short = JOIN_239_1_2_3;
        short[7] = 2;
        short[2..4].copy_from_slice(&[0, 0]);
        let c = checksum::checksum(&short);
        short[2..4].copy_from_slice(&c.to_be_bytes());
        assert!(matches!(
            IgmpRepr::parse(&short),
            Err(WireError::BadLength { .. })
        ));
        // A 10-byte query.
        let mut q = [0x11, 10, 0, 0, 0, 0, 0, 0, 0, 0];
        let c = checksum::checksum(&q);
        q[2..4].copy_from_slice(&c.to_be_bytes());
        assert!(IgmpRepr::parse(&q).is_err());
    }
}
