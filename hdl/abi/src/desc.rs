//! Descriptor and completion records, as the card reads and writes them in host memory.
//!
//! Each record has a checked zero-copy view (`*View`) over any byte buffer — the length is
//! checked once in `new_checked`, after which no accessor can panic — and a plain value type that
//! the rest of the code handles. All fields are little-endian, as on PCIe. Offsets are named in one
//! `field` module per record.
//!
//! Records are sized to whole 8-byte words so a 64-bit datapath moves them in whole beats, and
//! the completion's phase bit is in its last byte, so a card writing in order makes the record
//! valid only once every other byte has landed.

use crate::Error;

macro_rules! le_get {
    ($b:expr, u8, $o:expr) => {
        $b[$o]
    };
    ($b:expr, u16, $o:expr) => {
        u16::from_le_bytes([$b[$o], $b[$o + 1]])
    };
    ($b:expr, u32, $o:expr) => {
        u32::from_le_bytes([$b[$o], $b[$o + 1], $b[$o + 2], $b[$o + 3]])
    };
    ($b:expr, u64, $o:expr) => {{
        let mut w = [0u8; 8];
        w.copy_from_slice(&$b[$o..$o + 8]);
        u64::from_le_bytes(w)
    }};
}

macro_rules! le_set {
    ($b:expr, u8, $o:expr, $v:expr) => {
        $b[$o] = $v
    };
    ($b:expr, $t:ident, $o:expr, $v:expr) => {{
        let bytes = <$t>::to_le_bytes($v);
        $b[$o..$o + bytes.len()].copy_from_slice(&bytes);
    }};
}

/// Declares a checked view with getters and setters for its fields.
macro_rules! view {
    (
        $(#[doc = $doc:literal])+
        $view:ident, $len:expr, {
            $( $(#[doc = $fdoc:literal])+ $get:ident / $set:ident : $t:ident @ $off:path; )*
        }
    ) => {
        $(#[doc = $doc])+
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct $view<T: AsRef<[u8]>> {
            buf: T,
        }

        // `len` is a record field (a buffer or frame length), not the view's size.
        #[allow(clippy::len_without_is_empty)]
        impl<T: AsRef<[u8]>> $view<T> {
            /// Record length in bytes.
            pub const LEN: usize = $len;

            /// Wraps `buf`, checking once that it holds a whole record.
            pub fn new_checked(buf: T) -> Result<Self, Error> {
                let got = buf.as_ref().len();
                if got < Self::LEN {
                    return Err(Error::Truncated { needed: Self::LEN, got });
                }
                Ok(Self { buf })
            }

            /// Gives the buffer back.
            pub fn into_inner(self) -> T {
                self.buf
            }

            $(
                $(#[doc = $fdoc])+
                #[inline]
                pub fn $get(&self) -> $t {
                    let b = self.buf.as_ref();
                    le_get!(b, $t, $off)
                }
            )*
        }

        impl<T: AsRef<[u8]> + AsMut<[u8]>> $view<T> {
            $(
                $(#[doc = $fdoc])+
                #[inline]
                pub fn $set(&mut self, v: $t) {
                    let b = self.buf.as_mut();
                    le_set!(b, $t, $off, v)
                }
            )*
        }
    };
}

/// Byte offsets of the TX descriptor fields.
pub mod tx_field {
    /// Buffer IOVA (u64).
    pub const ADDR: usize = 0;
    /// Bytes in this segment (u32).
    pub const LEN: usize = 8;
    /// Flags, see [`super::tx_flags`] (u16).
    pub const FLAGS: usize = 12;
    /// 802.1Q tag to insert (u16).
    pub const VLAN_TCI: usize = 14;
    /// Checksum: offset from frame start where summing starts (u16).
    pub const CSUM_START: usize = 16;
    /// Checksum: offset from `CSUM_START` where the result is stored (u16).
    pub const CSUM_OFFSET: usize = 18;
    /// TSO: TCP payload bytes per segment (u16).
    pub const MSS: usize = 20;
    /// TSO: bytes of Ethernet+IP+TCP headers replicated into each segment (u16).
    pub const HDR_LEN: usize = 22;
    /// Reserved, written as zero (u64).
    pub const RESERVED: usize = 24;
}

/// TX descriptor flag bits.
pub mod tx_flags {
    /// First descriptor of a frame: its checksum/TSO/VLAN fields apply to the frame.
    pub const FIRST: u16 = 1 << 0;
    /// Last descriptor of a frame.
    pub const LAST: u16 = 1 << 1;
    /// Insert an Internet checksum at `csum_start + csum_offset` (CHECKSUM_PARTIAL).
    pub const CSUM: u16 = 1 << 2;
    /// Segment the frame (TSO) using `mss` and `hdr_len`.
    pub const TSO: u16 = 1 << 3;
    /// Insert the 802.1Q tag `vlan_tci`.
    pub const VLAN: u16 = 1 << 4;
    /// All defined bits.
    pub const ALL: u16 = FIRST | LAST | CSUM | TSO | VLAN;
}

view! {
    /// A TX descriptor: one scatter-gather segment of a frame (32 bytes).
    TxDescView, 32, {
        /// Buffer IOVA.
        addr / set_addr: u64 @ tx_field::ADDR;
        /// Bytes in this segment.
        len / set_len: u32 @ tx_field::LEN;
        /// Flag bits ([`tx_flags`]).
        flags / set_flags: u16 @ tx_field::FLAGS;
        /// 802.1Q tag to insert.
        vlan_tci / set_vlan_tci: u16 @ tx_field::VLAN_TCI;
        /// Checksum start offset.
        csum_start / set_csum_start: u16 @ tx_field::CSUM_START;
        /// Checksum store offset relative to the start.
        csum_offset / set_csum_offset: u16 @ tx_field::CSUM_OFFSET;
        /// TSO segment payload size.
        mss / set_mss: u16 @ tx_field::MSS;
        /// TSO header length.
        hdr_len / set_hdr_len: u16 @ tx_field::HDR_LEN;
        /// Reserved word.
        reserved / set_reserved: u64 @ tx_field::RESERVED;
    }
}

/// A TX descriptor as a plain value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TxDesc {
    /// Buffer IOVA.
    pub addr: u64,
    /// Bytes in this segment.
    pub len: u32,
    /// Flag bits ([`tx_flags`]).
    pub flags: u16,
    /// 802.1Q tag to insert when [`tx_flags::VLAN`] is set.
    pub vlan_tci: u16,
    /// Checksum start offset (from the first byte of the frame).
    pub csum_start: u16,
    /// Where the checksum goes, relative to `csum_start`.
    pub csum_offset: u16,
    /// TSO segment payload size.
    pub mss: u16,
    /// TSO header length.
    pub hdr_len: u16,
}

impl TxDesc {
    /// Record length in bytes.
    pub const LEN: usize = 32;

    /// Reads a descriptor, rejecting undefined flag bits and empty segments.
    pub fn parse<T: AsRef<[u8]>>(v: &TxDescView<T>) -> Result<Self, Error> {
        let flags = v.flags();
        if flags & !tx_flags::ALL != 0 {
            return Err(Error::BadField {
                field: "tx.flags",
                value: flags.into(),
            });
        }
        if v.len() == 0 {
            return Err(Error::BadField {
                field: "tx.len",
                value: 0,
            });
        }
        Ok(TxDesc {
            addr: v.addr(),
            len: v.len(),
            flags,
            vlan_tci: v.vlan_tci(),
            csum_start: v.csum_start(),
            csum_offset: v.csum_offset(),
            mss: v.mss(),
            hdr_len: v.hdr_len(),
        })
    }

    /// Writes the descriptor into `v`, reserved bytes as zero.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, v: &mut TxDescView<T>) {
        v.set_addr(self.addr);
        v.set_len(self.len);
        v.set_flags(self.flags);
        v.set_vlan_tci(self.vlan_tci);
        v.set_csum_start(self.csum_start);
        v.set_csum_offset(self.csum_offset);
        v.set_mss(self.mss);
        v.set_hdr_len(self.hdr_len);
        v.set_reserved(0);
    }

    /// The descriptor as bytes.
    pub fn to_bytes(&self) -> [u8; Self::LEN] {
        let mut b = [0u8; Self::LEN];
        // The array is exactly LEN long, so the view cannot fail.
        if let Ok(mut v) = TxDescView::new_checked(&mut b[..]) {
            self.emit(&mut v);
        }
        b
    }
}

/// Byte offsets of the RX descriptor fields.
pub mod rx_field {
    /// Buffer IOVA (u64).
    pub const ADDR: usize = 0;
    /// Buffer length in bytes (u32).
    pub const LEN: usize = 8;
    /// Reserved, written as zero (u32).
    pub const RESERVED: usize = 12;
}

view! {
    /// An RX descriptor: one free buffer posted to the card (16 bytes).
    RxDescView, 16, {
        /// Buffer IOVA.
        addr / set_addr: u64 @ rx_field::ADDR;
        /// Buffer length.
        len / set_len: u32 @ rx_field::LEN;
        /// Reserved word.
        reserved / set_reserved: u32 @ rx_field::RESERVED;
    }
}

/// An RX descriptor as a plain value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RxDesc {
    /// Buffer IOVA.
    pub addr: u64,
    /// Buffer length in bytes.
    pub len: u32,
}

impl RxDesc {
    /// Record length in bytes.
    pub const LEN: usize = 16;

    /// Reads a descriptor, rejecting empty buffers.
    pub fn parse<T: AsRef<[u8]>>(v: &RxDescView<T>) -> Result<Self, Error> {
        if v.len() == 0 {
            return Err(Error::BadField {
                field: "rx.len",
                value: 0,
            });
        }
        Ok(RxDesc {
            addr: v.addr(),
            len: v.len(),
        })
    }

    /// Writes the descriptor into `v`.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, v: &mut RxDescView<T>) {
        v.set_addr(self.addr);
        v.set_len(self.len);
        v.set_reserved(0);
    }

    /// The descriptor as bytes.
    pub fn to_bytes(&self) -> [u8; Self::LEN] {
        let mut b = [0u8; Self::LEN];
        if let Ok(mut v) = RxDescView::new_checked(&mut b[..]) {
            self.emit(&mut v);
        }
        b
    }
}

/// Byte offsets of the completion fields.
pub mod cpl_field {
    /// Frame length in bytes (u32); for TX the frame's total length.
    pub const LEN: usize = 0;
    /// Ring index of the descriptor completed (RX: the buffer; TX: the frame's last descriptor) (u16).
    pub const INDEX: usize = 4;
    /// Queue number (u16).
    pub const QUEUE: usize = 6;
    /// RSS hash (u32).
    pub const RSS_HASH: usize = 8;
    /// CHECKSUM_COMPLETE: ones'-complement sum of the bytes after the Ethernet (and VLAN) header (u16).
    pub const CSUM_COMPLETE: usize = 12;
    /// 802.1Q tag stripped on receive (u16).
    pub const VLAN_TCI: usize = 14;
    /// Card cycle counter when the record was written (u64).
    pub const TIMESTAMP: usize = 16;
    /// Segments coalesced into this frame by hardware GRO, 1 when none (u16).
    pub const GRO_SEGS: usize = 24;
    /// Hash type, see [`super::HashType`] (u8).
    pub const HASH_TYPE: usize = 26;
    /// Checksum status: IPv4 in bits 1:0, L4 in bits 3:2 ([`super::CsumStatus`]), bit 4 complete valid (u8).
    pub const CSUM: usize = 27;
    /// Flags, see [`super::cpl_flags`] (u16).
    pub const FLAGS: usize = 28;
    /// Reserved (u8).
    pub const RESERVED: usize = 30;
    /// Phase in bit 7 (u8); the last byte, written last.
    pub const PHASE: usize = 31;
}

/// Completion flag bits.
pub mod cpl_flags {
    /// A TX completion (otherwise RX).
    pub const TX: u16 = 1 << 0;
    /// `vlan_tci` holds a stripped 802.1Q tag.
    pub const VLAN: u16 = 1 << 1;
    /// TX: the frame was dropped (bad descriptor chain or DMA fault).
    pub const ERROR: u16 = 1 << 2;
    /// RX: the L4 protocol is TCP.
    pub const TCP: u16 = 1 << 3;
    /// RX: the L4 protocol is UDP.
    pub const UDP: u16 = 1 << 4;
    /// RX: the frame is IPv4.
    pub const IPV4: u16 = 1 << 5;
    /// RX: the frame is an IPv4 fragment (L4 not checked, 2-tuple hash).
    pub const FRAGMENT: u16 = 1 << 6;
    /// All defined bits.
    pub const ALL: u16 = TX | VLAN | ERROR | TCP | UDP | IPV4 | FRAGMENT;
}

/// Bit of the phase byte that holds the phase.
pub const PHASE_BIT: u8 = 0x80;

/// Which tuple the RSS hash covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[repr(u8)]
pub enum HashType {
    /// Not hashed (non-IPv4, or hashing disabled).
    #[default]
    None = 0,
    /// IPv4 source and destination addresses.
    Ipv4 = 1,
    /// IPv4 addresses and TCP ports.
    Ipv4Tcp = 2,
    /// IPv4 addresses and UDP ports.
    Ipv4Udp = 3,
}

impl HashType {
    /// From the raw field value.
    pub fn from_raw(v: u8) -> Result<Self, Error> {
        Ok(match v {
            0 => HashType::None,
            1 => HashType::Ipv4,
            2 => HashType::Ipv4Tcp,
            3 => HashType::Ipv4Udp,
            _ => {
                return Err(Error::BadField {
                    field: "cpl.hash_type",
                    value: v.into(),
                })
            }
        })
    }
}

/// Result of one checksum check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[repr(u8)]
pub enum CsumStatus {
    /// Not checked (not IPv4, fragment, unknown L4, or verification disabled).
    #[default]
    NotChecked = 0,
    /// Checked and correct.
    Ok = 1,
    /// Checked and wrong.
    Bad = 2,
}

impl CsumStatus {
    /// From the raw two-bit field value.
    pub fn from_raw(v: u8, field: &'static str) -> Result<Self, Error> {
        Ok(match v {
            0 => CsumStatus::NotChecked,
            1 => CsumStatus::Ok,
            2 => CsumStatus::Bad,
            _ => {
                return Err(Error::BadField {
                    field,
                    value: v.into(),
                })
            }
        })
    }
}

view! {
    /// A completion record written by the card (32 bytes).
    CplView, 32, {
        /// Frame length.
        len / set_len: u32 @ cpl_field::LEN;
        /// Ring index completed.
        index / set_index: u16 @ cpl_field::INDEX;
        /// Queue number.
        queue / set_queue: u16 @ cpl_field::QUEUE;
        /// RSS hash.
        rss_hash / set_rss_hash: u32 @ cpl_field::RSS_HASH;
        /// CHECKSUM_COMPLETE sum.
        csum_complete / set_csum_complete: u16 @ cpl_field::CSUM_COMPLETE;
        /// Stripped 802.1Q tag.
        vlan_tci / set_vlan_tci: u16 @ cpl_field::VLAN_TCI;
        /// Cycle timestamp.
        timestamp / set_timestamp: u64 @ cpl_field::TIMESTAMP;
        /// GRO segment count.
        gro_segs / set_gro_segs: u16 @ cpl_field::GRO_SEGS;
        /// Raw hash type.
        hash_type_raw / set_hash_type_raw: u8 @ cpl_field::HASH_TYPE;
        /// Raw checksum status byte.
        csum_raw / set_csum_raw: u8 @ cpl_field::CSUM;
        /// Flag bits.
        flags / set_flags: u16 @ cpl_field::FLAGS;
        /// Phase byte.
        phase_raw / set_phase_raw: u8 @ cpl_field::PHASE;
    }
}

impl<T: AsRef<[u8]>> CplView<T> {
    /// The phase bit: the record is new when it equals the driver's expected phase.
    pub fn phase(&self) -> bool {
        self.phase_raw() & PHASE_BIT != 0
    }
}

/// A completion as a plain value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Cpl {
    /// Frame length in bytes.
    pub len: u32,
    /// Ring index completed.
    pub index: u16,
    /// Queue number.
    pub queue: u16,
    /// RSS hash.
    pub rss_hash: u32,
    /// Which tuple the hash covers.
    pub hash_type: HashType,
    /// IPv4 header checksum status.
    pub ip_csum: CsumStatus,
    /// TCP/UDP checksum status.
    pub l4_csum: CsumStatus,
    /// CHECKSUM_COMPLETE sum, when the card computed it.
    pub csum_complete: Option<u16>,
    /// Stripped 802.1Q tag, when there was one.
    pub vlan_tci: Option<u16>,
    /// Card cycle timestamp.
    pub timestamp: u64,
    /// Segments coalesced into this frame (1 when none).
    pub gro_segs: u16,
    /// Flag bits ([`cpl_flags`]); `VLAN` is derived from `vlan_tci`.
    pub flags: u16,
    /// Phase bit.
    pub phase: bool,
}

const CSUM_COMPLETE_VALID: u8 = 1 << 4;

impl Cpl {
    /// Record length in bytes.
    pub const LEN: usize = 32;

    /// Reads a completion, rejecting undefined codes and flag bits. The caller still checks
    /// `queue`, `index` and `len` against its own rings: the device is untrusted.
    pub fn parse<T: AsRef<[u8]>>(v: &CplView<T>) -> Result<Self, Error> {
        let csum = v.csum_raw();
        if csum & !0x1f != 0 {
            return Err(Error::BadField {
                field: "cpl.csum",
                value: csum.into(),
            });
        }
        let flags = v.flags();
        if flags & !cpl_flags::ALL != 0 {
            return Err(Error::BadField {
                field: "cpl.flags",
                value: flags.into(),
            });
        }
        Ok(Cpl {
            len: v.len(),
            index: v.index(),
            queue: v.queue(),
            rss_hash: v.rss_hash(),
            hash_type: HashType::from_raw(v.hash_type_raw())?,
            ip_csum: CsumStatus::from_raw(csum & 3, "cpl.csum.ip")?,
            l4_csum: CsumStatus::from_raw((csum >> 2) & 3, "cpl.csum.l4")?,
            csum_complete: (csum & CSUM_COMPLETE_VALID != 0).then(|| v.csum_complete()),
            vlan_tci: (flags & cpl_flags::VLAN != 0).then(|| v.vlan_tci()),
            timestamp: v.timestamp(),
            gro_segs: v.gro_segs(),
            flags,
            phase: v.phase(),
        })
    }

    /// Writes the completion into `v` (phase byte included).
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, v: &mut CplView<T>) {
        v.set_len(self.len);
        v.set_index(self.index);
        v.set_queue(self.queue);
        v.set_rss_hash(self.rss_hash);
        v.set_csum_complete(self.csum_complete.unwrap_or(0));
        v.set_vlan_tci(self.vlan_tci.unwrap_or(0));
        v.set_timestamp(self.timestamp);
        v.set_gro_segs(self.gro_segs);
        v.set_hash_type_raw(self.hash_type as u8);
        let csum = self.ip_csum as u8
            | (self.l4_csum as u8) << 2
            | if self.csum_complete.is_some() {
                CSUM_COMPLETE_VALID
            } else {
                0
            };
        v.set_csum_raw(csum);
        let flags = (self.flags & !cpl_flags::VLAN)
            | if self.vlan_tci.is_some() {
                cpl_flags::VLAN
            } else {
                0
            };
        v.set_flags(flags);
        let b = v.buf.as_mut();
        b[cpl_field::RESERVED] = 0;
        v.set_phase_raw(if self.phase { PHASE_BIT } else { 0 });
    }

    /// The completion as bytes.
    pub fn to_bytes(&self) -> [u8; Self::LEN] {
        let mut b = [0u8; Self::LEN];
        if let Ok(mut v) = CplView::new_checked(&mut b[..]) {
            self.emit(&mut v);
        }
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tx_desc_round_trip_and_layout() {
        let d = TxDesc {
            addr: 0x1122_3344_5566_7788,
            len: 1514,
            flags: tx_flags::FIRST | tx_flags::LAST | tx_flags::CSUM,
            vlan_tci: 0x0123,
            csum_start: 34,
            csum_offset: 16,
            mss: 1448,
            hdr_len: 66,
        };
        let b = d.to_bytes();
        assert_eq!(&b[0..8], &0x1122_3344_5566_7788u64.to_le_bytes());
        assert_eq!(&b[8..12], &[0xea, 0x05, 0, 0]);
        assert_eq!(&b[12..14], &[0x07, 0]);
        assert_eq!(&b[16..18], &[34, 0]);
        assert_eq!(&b[24..32], &[0; 8]);
        let v = TxDescView::new_checked(&b[..]).unwrap();
        assert_eq!(TxDesc::parse(&v).unwrap(), d);
    }

    #[test]
    fn tx_desc_rejects_bad_fields_and_short_buffers() {
        let mut b = TxDesc {
            len: 10,
            ..Default::default()
        }
        .to_bytes();
        b[13] = 0x80;
        let v = TxDescView::new_checked(&b[..]).unwrap();
        assert_eq!(
            TxDesc::parse(&v),
            Err(Error::BadField {
                field: "tx.flags",
                value: 0x8000
            })
        );
        let b = TxDesc::default().to_bytes();
        let v = TxDescView::new_checked(&b[..]).unwrap();
        assert_eq!(
            TxDesc::parse(&v),
            Err(Error::BadField {
                field: "tx.len",
                value: 0
            })
        );
        assert_eq!(
            TxDescView::new_checked(&b[..31]).unwrap_err(),
            Error::Truncated {
                needed: 32,
                got: 31
            }
        );
        // A longer buffer is fine: the view reads only the first 32 bytes.
        let long = [0xffu8; 40];
        let v = TxDescView::new_checked(&long[..]).unwrap();
        assert_eq!(v.reserved(), u64::MAX);
    }

    #[test]
    fn rx_desc_round_trip() {
        let d = RxDesc {
            addr: 0xdead_beef_0000,
            len: 2048,
        };
        let b = d.to_bytes();
        assert_eq!(
            b,
            [0x00, 0x00, 0xef, 0xbe, 0xad, 0xde, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0]
        );
        assert_eq!(
            RxDesc::parse(&RxDescView::new_checked(&b).unwrap()).unwrap(),
            d
        );
        assert!(matches!(
            RxDescView::new_checked(&b[..15]),
            Err(Error::Truncated {
                needed: 16,
                got: 15
            })
        ));
        let z = RxDesc { addr: 1, len: 0 }.to_bytes();
        assert!(RxDesc::parse(&RxDescView::new_checked(&z).unwrap()).is_err());
    }

    #[test]
    fn cpl_round_trip_every_status() {
        for (i, (ip, l4)) in [
            (CsumStatus::NotChecked, CsumStatus::NotChecked),
            (CsumStatus::Ok, CsumStatus::Ok),
            (CsumStatus::Bad, CsumStatus::Ok),
            (CsumStatus::Ok, CsumStatus::Bad),
        ]
        .into_iter()
        .enumerate()
        {
            let c = Cpl {
                len: 60 + i as u32,
                index: 7,
                queue: 3,
                rss_hash: 0x51cc_c178,
                hash_type: HashType::Ipv4Tcp,
                ip_csum: ip,
                l4_csum: l4,
                csum_complete: if i % 2 == 0 { Some(0xabcd) } else { None },
                vlan_tci: if i == 1 { Some(0x0064) } else { None },
                timestamp: 0x0102_0304_0506_0708,
                gro_segs: 1,
                flags: cpl_flags::IPV4 | cpl_flags::TCP | if i == 1 { cpl_flags::VLAN } else { 0 },
                phase: i % 2 == 1,
            };
            let b = c.to_bytes();
            assert_eq!(
                b[31] & PHASE_BIT != 0,
                c.phase,
                "phase lives in the last byte"
            );
            assert_eq!(Cpl::parse(&CplView::new_checked(&b).unwrap()).unwrap(), c);
        }
    }

    #[test]
    fn cpl_rejects_undefined_codes() {
        let good = Cpl {
            len: 64,
            gro_segs: 1,
            ..Default::default()
        }
        .to_bytes();
        let mut b = good;
        b[cpl_field::HASH_TYPE] = 9;
        let r = Cpl::parse(&CplView::new_checked(&b).unwrap());
        assert_eq!(
            r,
            Err(Error::BadField {
                field: "cpl.hash_type",
                value: 9
            })
        );
        let mut b = good;
        b[cpl_field::CSUM] = 0x3;
        let r = Cpl::parse(&CplView::new_checked(&b).unwrap());
        assert_eq!(
            r,
            Err(Error::BadField {
                field: "cpl.csum.ip",
                value: 3
            })
        );
        let mut b = good;
        b[cpl_field::CSUM] = 0xc;
        assert!(Cpl::parse(&CplView::new_checked(&b).unwrap()).is_err());
        let mut b = good;
        b[cpl_field::CSUM] = 0x20;
        assert!(Cpl::parse(&CplView::new_checked(&b).unwrap()).is_err());
        let mut b = good;
        b[cpl_field::FLAGS + 1] = 0x40;
        assert!(Cpl::parse(&CplView::new_checked(&b).unwrap()).is_err());
        assert!(CplView::new_checked(&good[..0]).is_err());
    }

    #[test]
    fn views_write_in_place() {
        let mut ring = [0u8; 64];
        let mut v = CplView::new_checked(&mut ring[32..]).unwrap();
        v.set_len(1500);
        v.set_phase_raw(PHASE_BIT);
        assert_eq!(&ring[32..36], &[0xdc, 0x05, 0, 0]);
        assert_eq!(ring[63], 0x80);
        assert_eq!(&ring[..32], &[0u8; 32]);
    }
}
