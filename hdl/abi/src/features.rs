//! Feature bits (`device::FEATURES`) and capability limits shared by card and driver.

/// Receive checksum verification (IPv4 header, TCP/UDP with pseudo-header, CHECKSUM_COMPLETE sum).
pub const RX_CSUM: u32 = 1 << 0;
/// Transmit checksum insertion at a start/offset (CHECKSUM_PARTIAL).
pub const TX_CSUM: u32 = 1 << 1;
/// Receive-side scaling with a programmable Toeplitz key and indirection table.
pub const RSS: u32 = 1 << 2;
/// TCP segmentation offload.
pub const TSO: u32 = 1 << 3;
/// Hardware receive coalescing (GRO).
pub const GRO: u32 = 1 << 4;
/// Scatter-gather transmit (a frame spread over several descriptors).
pub const TX_SG: u32 = 1 << 5;
/// 802.1Q tag stripping on receive.
pub const VLAN_STRIP: u32 = 1 << 6;
/// 802.1Q tag insertion on transmit.
pub const VLAN_INSERT: u32 = 1 << 7;
/// Per-vector interrupt moderation.
pub const IRQ_MODERATION: u32 = 1 << 8;
/// Completion records carry a cycle timestamp.
pub const TIMESTAMP: u32 = 1 << 9;

/// Names of the feature bits, for logs and `oxnic stats`.
pub const NAMES: &[(u32, &str)] = &[
    (RX_CSUM, "rx-checksum"),
    (TX_CSUM, "tx-checksum"),
    (RSS, "rss"),
    (TSO, "tso"),
    (GRO, "gro"),
    (TX_SG, "tx-scatter-gather"),
    (VLAN_STRIP, "rx-vlan-strip"),
    (VLAN_INSERT, "tx-vlan-insert"),
    (IRQ_MODERATION, "irq-moderation"),
    (TIMESTAMP, "timestamp"),
];

/// Entries in the RSS indirection table.
pub const RETA_SIZE: usize = 128;
/// Bytes in the RSS Toeplitz key.
pub const RSS_KEY_LEN: usize = 40;
/// Largest number of queues of one kind the register map can address.
pub const MAX_QUEUES: u32 = crate::regs::txq::MAX_ENTRIES;
/// Largest ring: 2^15 records, so free-running 16-bit indices still tell full from empty.
pub const MAX_RING_LOG2: u32 = 15;
const _: () = assert!(1u32 << MAX_RING_LOG2 < 1 << 16);
const _: () = assert!(MAX_QUEUES >= 64);
/// Smallest ring.
pub const MIN_RING_LOG2: u32 = 3;
/// Largest TSO super-frame (IPv4 total length is 16 bits).
pub const MAX_TSO_BYTES: u32 = 65_535;
/// Most scatter-gather descriptors a TX frame may use.
pub const MAX_SG_SEGS: u32 = 8;
/// Smallest Ethernet frame on the wire, FCS included.
pub const MIN_FRAME_WITH_FCS: usize = 64;
/// Smallest Ethernet frame without FCS (transmit pads up to this).
pub const MIN_FRAME: usize = 60;
/// Largest jumbo MTU.
pub const MAX_MTU: u32 = 9000;
/// Preamble, start delimiter and inter-frame gap on the wire, in bytes, for line-rate figures.
pub const WIRE_OVERHEAD: usize = 8 + 12;

/// The default Toeplitz key: the one Microsoft's RSS verification suite uses, which is also what
/// many NICs ship with. Drivers should program a random key; see [`crate::toeplitz`].
pub const DEFAULT_RSS_KEY: [u8; RSS_KEY_LEN] = [
    0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3, 0x8f, 0xb0,
    0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3, 0x80, 0x30, 0xf2, 0x0c,
    0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa,
];

/// Writes the names of the bits set in `bits`, comma separated.
pub fn write_names(bits: u32, f: &mut impl core::fmt::Write) -> core::fmt::Result {
    let mut first = true;
    for &(bit, name) in NAMES {
        if bits & bit != 0 {
            if !first {
                f.write_str(",")?;
            }
            f.write_str(name)?;
            first = false;
        }
    }
    let unknown = bits & !NAMES.iter().fold(0, |a, &(b, _)| a | b);
    if unknown != 0 {
        if !first {
            f.write_str(",")?;
        }
        write!(f, "unknown({unknown:#x})")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::String;

    #[test]
    fn names_cover_each_bit_once() {
        let mut all = 0;
        for &(b, _) in NAMES {
            assert_eq!(b.count_ones(), 1);
            assert_eq!(all & b, 0);
            all |= b;
        }
        let mut s = String::new();
        write_names(RSS | TSO | (1 << 31), &mut s).unwrap();
        assert_eq!(s, "rss,tso,unknown(0x80000000)");
    }
}
