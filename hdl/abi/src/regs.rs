//! BAR0 register map: a chain of self-describing register blocks.
//!
//! Every block begins with the same 16-byte header ([`hdr`]): block type, version, offset (from the
//! start of BAR0) of the next block or 0 for the last, and the block's length in bytes. The driver
//! walks the chain with [`walk`] and finds each feature by type, so a card that adds or moves a
//! block stays compatible with an older driver.
//!
//! Blocks that hold one register set per queue or per interrupt vector (an *array* block) have a
//! count and a stride after the header, and their entries start at [`ARRAY_OFFSET`].
//!
//! All registers are 32 bits wide and little-endian. Statistics counters are 64 bits wide, made of
//! two registers: reading the low word latches the high word, so `lo` then `hi` is a consistent
//! snapshot.
//!
//! Each block is written once, with the `reg_block!` macro, which emits both the named offset
//! constants used by code and the [`BlockDef`] tables used by the HDL register-file generator and
//! by [`crate::doc::write_register_map`].

/// How software may access a register.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Read-only: written by the card (status, identification).
    Ro,
    /// Read-write: configuration written by the driver, read back unchanged.
    Rw,
    /// Write-only strobe: writing triggers an action; reads return 0.
    Wo,
    /// 64-bit read-only counter over two registers; reading the low word latches the high word.
    Ctr64,
}

impl Access {
    /// Short name used in the generated documentation.
    pub const fn name(self) -> &'static str {
        match self {
            Access::Ro => "RO",
            Access::Rw => "RW",
            Access::Wo => "WO",
            Access::Ctr64 => "RO64",
        }
    }

    /// Width in bytes of one register of this kind.
    pub const fn bytes(self) -> u32 {
        match self {
            Access::Ctr64 => 8,
            _ => 4,
        }
    }
}

/// One register: its name, offset inside its block (or inside one array entry), access and reset
/// value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegDef {
    /// Upper-case name, as in the constants of this module.
    pub name: &'static str,
    /// Byte offset from the start of the block (or of the array entry).
    pub offset: u32,
    /// Access kind.
    pub access: Access,
    /// Value after reset (for read-only registers: the value unless the card sets it).
    pub reset: u32,
    /// One-line description.
    pub doc: &'static str,
}

/// A repeated register set inside a block: one entry per queue or vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArrayDef {
    /// What one entry describes ("TX queue", "interrupt vector").
    pub entry: &'static str,
    /// Distance in bytes between two entries.
    pub stride: u32,
    /// Most entries that fit in the block.
    pub max_entries: u32,
    /// Registers of one entry, offsets relative to the entry.
    pub regs: &'static [RegDef],
}

/// A register block of BAR0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockDef {
    /// Short lower-case name.
    pub name: &'static str,
    /// Value of the block's type register.
    pub kind: u32,
    /// Value of the block's version register.
    pub version: u32,
    /// Offset of the block from the start of BAR0.
    pub base: u32,
    /// Length of the block in bytes.
    pub len: u32,
    /// What the block is for.
    pub doc: &'static str,
    /// The block's own registers after the common header.
    pub regs: &'static [RegDef],
    /// Repeated per-queue or per-vector registers, if any.
    pub array: Option<ArrayDef>,
}

impl BlockDef {
    /// Byte offset from BAR0 of register `off` of array entry `index`.
    pub const fn entry_reg(&self, index: u32, off: u32) -> u32 {
        let stride = match self.array {
            Some(a) => a.stride,
            None => 0,
        };
        self.base + ARRAY_OFFSET + index * stride + off
    }
}

/// Offset of the first array entry inside an array block.
pub const ARRAY_OFFSET: u32 = 0x40;

/// Size of BAR0 in bytes.
pub const BAR0_SIZE: u32 = 0x4000;

/// The common block header, at the start of every block.
pub mod hdr {
    use super::{Access, RegDef};
    /// Block type (one of the `KIND` constants of the block modules).
    pub const TYPE: u32 = 0x00;
    /// Block version; a driver accepts versions whose major part (bits 31:16) it knows.
    pub const VERSION: u32 = 0x04;
    /// Offset from BAR0 of the next block; 0 marks the last block.
    pub const NEXT: u32 = 0x08;
    /// Length of this block in bytes.
    pub const LEN: u32 = 0x0C;
    /// Array blocks only: number of entries the card implements.
    pub const COUNT: u32 = 0x10;
    /// Array blocks only: distance in bytes between entries.
    pub const STRIDE: u32 = 0x14;
    /// The header registers every block has.
    pub const REGS: &[RegDef] = &[
        RegDef {
            name: "TYPE",
            offset: TYPE,
            access: Access::Ro,
            reset: 0,
            doc: "block type",
        },
        RegDef {
            name: "VERSION",
            offset: VERSION,
            access: Access::Ro,
            reset: 0,
            doc: "block version (major in 31:16, minor in 15:0)",
        },
        RegDef {
            name: "NEXT",
            offset: NEXT,
            access: Access::Ro,
            reset: 0,
            doc: "BAR0 offset of the next block, 0 for the last",
        },
        RegDef {
            name: "LEN",
            offset: LEN,
            access: Access::Ro,
            reset: 0,
            doc: "block length in bytes",
        },
    ];
    /// The extra header registers of array blocks.
    pub const ARRAY_REGS: &[RegDef] = &[
        RegDef {
            name: "COUNT",
            offset: COUNT,
            access: Access::Ro,
            reset: 0,
            doc: "entries implemented",
        },
        RegDef {
            name: "STRIDE",
            offset: STRIDE,
            access: Access::Ro,
            reset: 0,
            doc: "bytes between entries",
        },
    ];
}

macro_rules! reg_list {
    ($( $name:ident @ $off:literal : $acc:ident = $reset:literal, $doc:literal; )*) => {
        $( #[doc = $doc] pub const $name: u32 = $off; )*
        /// The registers, in offset order.
        pub const REGS: &[$crate::regs::RegDef] = &[
            $( $crate::regs::RegDef {
                name: stringify!($name),
                offset: $off,
                access: $crate::regs::Access::$acc,
                reset: $reset,
                doc: $doc,
            }, )*
        ];
    };
}

macro_rules! reg_block {
    (
        $(#[doc = $bdoc:literal])+
        pub mod $m:ident { kind: $kind:literal, version: $ver:literal, base: $base:literal, len: $len:literal }
        regs { $($regs:tt)* }
        $( array $entry:literal, stride $stride:literal { $($aregs:tt)* } )?
    ) => {
        $(#[doc = $bdoc])+
        pub mod $m {
            /// Value of the block's type register.
            pub const KIND: u32 = $kind;
            /// Version implemented by this crate.
            pub const VERSION: u32 = $ver;
            /// Offset of the block from the start of BAR0.
            pub const BASE: u32 = $base;
            /// Length of the block in bytes.
            pub const LEN: u32 = $len;
            reg_list! { $($regs)* }
            $(
                /// Registers of one array entry, offsets relative to the entry.
                pub mod entry {
                    /// Bytes between entries.
                    pub const STRIDE: u32 = $stride;
                    reg_list! { $($aregs)* }
                }
                /// Most entries that fit in this block.
                pub const MAX_ENTRIES: u32 = ($len - $crate::regs::ARRAY_OFFSET) / $stride;
                /// BAR0 offset of register `off` of entry `index`.
                pub const fn reg(index: u32, off: u32) -> u32 {
                    BASE + $crate::regs::ARRAY_OFFSET + index * entry::STRIDE + off
                }
            )?
            /// The block's definition, for generators and the chain walker.
            pub const DEF: $crate::regs::BlockDef = $crate::regs::BlockDef {
                name: stringify!($m),
                kind: KIND,
                version: VERSION,
                base: BASE,
                len: LEN,
                doc: concat!($($bdoc, "\n"),+),
                regs: REGS,
                array: reg_block!(@array $( $entry, $stride, $len )?),
            };
        }
    };
    (@array) => { None };
    (@array $entry:literal, $stride:literal, $len:literal) => {
        Some($crate::regs::ArrayDef {
            entry: $entry,
            stride: $stride,
            max_entries: ($len - $crate::regs::ARRAY_OFFSET) / $stride,
            regs: entry::REGS,
        })
    };
}

reg_block! {
    /// Device identification and capabilities. Always the first block, at offset 0.
    pub mod device { kind: 0x4f58_0001, version: 0x0001_0000, base: 0x0000, len: 0x100 }
    regs {
        ID @ 0x10: Ro = 0, "PCI vendor ID (15:0) and device ID (31:16)";
        HW_VERSION @ 0x14: Ro = 0, "card version, major (31:16) minor (15:0)";
        BUILD_ID @ 0x18: Ro = 0, "build identifier of the bitstream or simulation model";
        FEATURES @ 0x1C: Ro = 0, "feature bits, see features::*";
        NUM_TXQ @ 0x20: Ro = 0, "number of TX queues";
        NUM_RXQ @ 0x24: Ro = 0, "number of RX queues";
        NUM_CQ @ 0x28: Ro = 0, "number of completion queues";
        NUM_VECTORS @ 0x2C: Ro = 0, "number of interrupt vectors";
        MAX_RING_LOG2 @ 0x30: Ro = 0, "log2 of the largest ring size any queue accepts";
        DATAPATH_BITS @ 0x34: Ro = 0, "width of the internal datapath in bits";
        MAX_TSO_BYTES @ 0x38: Ro = 0, "largest TSO super-frame in bytes";
        RETA_SIZE @ 0x3C: Ro = 0, "entries in the RSS indirection table";
        MAX_SG_SEGS @ 0x40: Ro = 0, "most TX descriptors (scatter-gather segments) per frame";
        CLOCK_KHZ @ 0x44: Ro = 0, "core clock in kHz (moderation timers and timestamps)";
        MAX_MTU @ 0x48: Ro = 0, "largest MTU the MAC accepts";
        SCRATCH @ 0x4C: Rw = 0, "scratch register for software sanity checks";
        RESET @ 0x50: Wo = 0, "write 1: disable all queues and clear all counters";
    }
}

reg_block! {
    /// The Ethernet port: address, MTU, enables, and statistics counters.
    pub mod port { kind: 0x4f58_0002, version: 0x0001_0000, base: 0x0100, len: 0x100 }
    regs {
        MAC_LO @ 0x10: Rw = 0, "MAC address bytes 0..4 (byte 0 in bits 7:0)";
        MAC_HI @ 0x14: Rw = 0, "MAC address bytes 4..6 (byte 4 in bits 7:0)";
        MTU @ 0x18: Rw = 1500, "MTU in bytes (L3 payload; frames longer than MTU+18, or +22 tagged, are oversize)";
        CTRL @ 0x1C: Rw = 0, "bit 0 RX enable, bit 1 TX enable, bit 2 promiscuous";
        STATUS @ 0x20: Ro = 0, "bit 0 link up";
        RX_PACKETS @ 0x40: Ctr64 = 0, "frames delivered to a host buffer";
        RX_BYTES @ 0x48: Ctr64 = 0, "bytes delivered to host buffers (without FCS)";
        TX_PACKETS @ 0x50: Ctr64 = 0, "frames sent on the wire";
        TX_BYTES @ 0x58: Ctr64 = 0, "bytes sent on the wire (without FCS and padding)";
        RX_FCS_ERRORS @ 0x60: Ctr64 = 0, "frames dropped for a bad FCS";
        RX_RUNTS @ 0x68: Ctr64 = 0, "frames dropped for being shorter than 64 bytes";
        RX_OVERSIZE @ 0x70: Ctr64 = 0, "frames dropped for being longer than the MTU allows";
        RX_MISSED @ 0x78: Ctr64 = 0, "frames dropped because the RX FIFO was full";
        RX_NO_BUFFER @ 0x80: Ctr64 = 0, "frames dropped because their queue had no buffer posted";
        RX_CSUM_ERRORS @ 0x88: Ctr64 = 0, "frames delivered with a bad IPv4 header or L4 checksum";
        TX_ERRORS @ 0x90: Ctr64 = 0, "TX frames dropped for a malformed descriptor chain or DMA fault";
        RX_FILTERED @ 0x98: Ctr64 = 0, "frames dropped by the destination MAC filter";
        RX_VLAN @ 0xA0: Ctr64 = 0, "frames received with an 802.1Q tag";
        TX_TSO_SEGMENTS @ 0xA8: Ctr64 = 0, "segments produced by TSO";
        RX_GRO_MERGED @ 0xB0: Ctr64 = 0, "frames merged into another by hardware GRO";
        RX_BROADCAST @ 0xB8: Ctr64 = 0, "broadcast frames received";
        RX_MULTICAST @ 0xC0: Ctr64 = 0, "multicast frames received";
        DMA_FAULTS @ 0xC8: Ctr64 = 0, "DMA requests the host refused (IOMMU faults)";
    }
}

reg_block! {
    /// Receive-side scaling: Toeplitz key, indirection table, hash types.
    pub mod rss { kind: 0x4f58_0003, version: 0x0001_0000, base: 0x0200, len: 0x100 }
    regs {
        HASH_TYPES @ 0x10: Rw = 0x7, "bit 0 IPv4 2-tuple, bit 1 IPv4+TCP 4-tuple, bit 2 IPv4+UDP 4-tuple";
        DEFAULT_QUEUE @ 0x14: Rw = 0, "RX queue for frames that are not hashed";
        KEY @ 0x40: Rw = 0, "40-byte Toeplitz key in 10 words, key byte 0 in bits 7:0 of the first";
        RETA @ 0x80: Rw = 0, "128-entry indirection table, 4 one-byte queue numbers per word, entry 0 in bits 7:0";
    }
}

reg_block! {
    /// Offload enables and hardware GRO parameters.
    pub mod offload { kind: 0x4f58_0004, version: 0x0001_0000, base: 0x0300, len: 0x40 }
    regs {
        ENABLE @ 0x10: Rw = 0, "offload enables, see offload::EN_*";
        GRO_FLUSH_US @ 0x14: Rw = 20, "hardware GRO: flush a held flow after this many microseconds";
        GRO_MAX_BYTES @ 0x18: Rw = 65535, "hardware GRO: largest coalesced frame in bytes";
        GRO_MAX_SEGS @ 0x1C: Rw = 64, "hardware GRO: most segments coalesced into one frame";
    }
}

reg_block! {
    /// Interrupt vectors (MSI-X on a board) and their moderation.
    pub mod irq { kind: 0x4f58_0005, version: 0x0001_0000, base: 0x0400, len: 0x440 }
    regs {}
    array "interrupt vector", stride 0x10 {
        MOD_USECS @ 0x0: Rw = 0, "once pending, raise this many microseconds later (0: no timer)";
        MOD_FRAMES @ 0x4: Rw = 0, "once pending, raise when this many completions arrived (0: not counted; both 0: at once)";
        COUNT @ 0x8: Ro = 0, "interrupts raised on this vector (wrapping)";
        MASK @ 0xC: Rw = 0, "bit 0: vector masked";
    }
}

reg_block! {
    /// TX descriptor queues.
    pub mod txq { kind: 0x4f58_0006, version: 0x0001_0000, base: 0x1000, len: 0x1000 }
    regs {}
    array "TX queue", stride 0x20 {
        BASE_LO @ 0x00: Rw = 0, "ring base IOVA, bits 31:0 (aligned to 64 bytes)";
        BASE_HI @ 0x04: Rw = 0, "ring base IOVA, bits 63:32";
        SIZE_LOG2 @ 0x08: Rw = 0, "log2 of the number of descriptors in the ring";
        CQ @ 0x0C: Rw = 0, "completion queue this queue reports to (a completion queue serves one queue)";
        CTRL @ 0x10: Rw = 0, "bit 0 enable";
        PROD @ 0x14: Rw = 0, "doorbell: driver's producer index (free-running, 16 bits)";
        CONS @ 0x18: Ro = 0, "card's consumer index (free-running, 16 bits)";
        STATUS @ 0x1C: Ro = 0, "bit 0 active, bit 1 halted on a fault";
    }
}

reg_block! {
    /// RX descriptor (free buffer) queues.
    pub mod rxq { kind: 0x4f58_0007, version: 0x0001_0000, base: 0x2000, len: 0x1000 }
    regs {}
    array "RX queue", stride 0x20 {
        BASE_LO @ 0x00: Rw = 0, "ring base IOVA, bits 31:0 (aligned to 64 bytes)";
        BASE_HI @ 0x04: Rw = 0, "ring base IOVA, bits 63:32";
        SIZE_LOG2 @ 0x08: Rw = 0, "log2 of the number of descriptors in the ring";
        CQ @ 0x0C: Rw = 0, "completion queue this queue reports to (a completion queue serves one queue)";
        CTRL @ 0x10: Rw = 0, "bit 0 enable";
        PROD @ 0x14: Rw = 0, "doorbell: driver's producer index (free-running, 16 bits)";
        CONS @ 0x18: Ro = 0, "card's consumer index (free-running, 16 bits)";
        STATUS @ 0x1C: Ro = 0, "bit 0 active, bit 1 halted on a fault";
    }
}

reg_block! {
    /// Completion queues: the card writes records with a phase bit; the driver consumes them.
    pub mod cq { kind: 0x4f58_0008, version: 0x0001_0000, base: 0x3000, len: 0x1000 }
    regs {}
    array "completion queue", stride 0x20 {
        BASE_LO @ 0x00: Rw = 0, "ring base IOVA, bits 31:0 (aligned to 64 bytes)";
        BASE_HI @ 0x04: Rw = 0, "ring base IOVA, bits 63:32";
        SIZE_LOG2 @ 0x08: Rw = 0, "log2 of the number of completion records in the ring";
        VECTOR @ 0x0C: Rw = 0, "interrupt vector raised for this queue";
        CTRL @ 0x10: Rw = 0, "bit 0 enable; writing bit 1 arms: the queue fires its vector once, when its producer index differs from CONS";
        CONS @ 0x14: Rw = 0, "driver's consumer index (free-running, 16 bits): frees ring space";
        PROD @ 0x18: Ro = 0, "card's producer index (free-running, 16 bits); not needed in the hot path";
        STATUS @ 0x1C: Ro = 0, "bit 0 active, bit 1 overflow (producer more than a ring ahead of CONS), bit 2 armed";
    }
}

/// `port::CTRL` bits.
pub mod port_ctrl {
    /// Receive enable.
    pub const RX_EN: u32 = 1 << 0;
    /// Transmit enable.
    pub const TX_EN: u32 = 1 << 1;
    /// Accept frames to any destination MAC.
    pub const PROMISC: u32 = 1 << 2;
}

/// `rss::HASH_TYPES` bits.
pub mod hash_types {
    /// Hash IPv4 source and destination addresses.
    pub const IPV4: u32 = 1 << 0;
    /// Hash IPv4 addresses and TCP ports.
    pub const IPV4_TCP: u32 = 1 << 1;
    /// Hash IPv4 addresses and UDP ports.
    pub const IPV4_UDP: u32 = 1 << 2;
}

/// `offload::ENABLE` bits.
pub mod offload_en {
    /// Verify IPv4 and TCP/UDP checksums on receive.
    pub const RX_CSUM: u32 = 1 << 0;
    /// Insert checksums on transmit (CHECKSUM_PARTIAL requests).
    pub const TX_CSUM: u32 = 1 << 1;
    /// TCP segmentation offload.
    pub const TSO: u32 = 1 << 2;
    /// Hardware receive coalescing.
    pub const GRO: u32 = 1 << 3;
    /// Strip the 802.1Q tag on receive and report it in the completion.
    pub const VLAN_STRIP: u32 = 1 << 4;
    /// Insert the 802.1Q tag given in the TX descriptor.
    pub const VLAN_INSERT: u32 = 1 << 5;
    /// Receive-side scaling.
    pub const RSS: u32 = 1 << 6;
}

/// `*q::CTRL` and `cq::CTRL` bits.
pub mod queue_ctrl {
    /// Queue enable.
    pub const ENABLE: u32 = 1 << 0;
    /// Completion queues: armed to raise its vector on the next record.
    pub const ARM: u32 = 1 << 1;
}

/// Number of words holding the RSS key.
pub const RSS_KEY_WORDS: u32 = 10;
/// Number of words holding the indirection table (4 entries per word).
pub const RETA_WORDS: u32 = crate::features::RETA_SIZE as u32 / 4;

/// BAR0 offset of RSS key word `i` (0..10).
pub const fn rss_key_word(i: u32) -> u32 {
    rss::BASE + rss::KEY + 4 * i
}

/// BAR0 offset of indirection-table word `i` (0..32), holding entries `4i..4i+4`.
pub const fn reta_word(i: u32) -> u32 {
    rss::BASE + rss::RETA + 4 * i
}

/// All blocks in chain order: each block's `NEXT` is the `base` of the following one.
pub const BLOCKS: &[BlockDef] = &[
    device::DEF,
    port::DEF,
    rss::DEF,
    offload::DEF,
    irq::DEF,
    txq::DEF,
    rxq::DEF,
    cq::DEF,
];

/// Value of the `NEXT` register of block `index` of [`BLOCKS`].
pub const fn next_of(index: usize) -> u32 {
    if index + 1 < BLOCKS.len() {
        BLOCKS[index + 1].base
    } else {
        0
    }
}

/// The block definition with type `kind`, if this crate knows it.
pub fn block_by_kind(kind: u32) -> Option<&'static BlockDef> {
    BLOCKS.iter().find(|b| b.kind == kind)
}

/// One block found while walking the chain on a card.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FoundBlock {
    /// BAR0 offset of the block.
    pub base: u32,
    /// Its type register.
    pub kind: u32,
    /// Its version register.
    pub version: u32,
    /// Its length register.
    pub len: u32,
}

/// Why a register chain could not be walked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChainError {
    /// A `NEXT` pointer does not point forward, is unaligned or leaves BAR0.
    BadNext {
        /// The block holding the bad pointer.
        at: u32,
        /// The pointer.
        next: u32,
    },
    /// A block's length is zero or runs past the next block or the end of BAR0.
    BadLen {
        /// The block.
        at: u32,
        /// Its length register.
        len: u32,
    },
    /// The first block is not the device block.
    NoDeviceBlock {
        /// Type register found at offset 0.
        kind: u32,
    },
}

impl core::fmt::Display for ChainError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ChainError::BadNext { at, next } => {
                write!(
                    f,
                    "register block at {at:#06x} has a bad next pointer {next:#x}"
                )
            }
            ChainError::BadLen { at, len } => {
                write!(f, "register block at {at:#06x} has a bad length {len:#x}")
            }
            ChainError::NoDeviceBlock { kind } => {
                write!(
                    f,
                    "BAR0 offset 0 holds block type {kind:#010x}, not the oxnic device block"
                )
            }
        }
    }
}

/// Walks the block chain of a card through `read32` (a BAR0 read at a byte offset).
///
/// The walk cannot loop or run off BAR0 whatever the card returns: every `NEXT` must point
/// forward, be 16-byte aligned and stay inside [`BAR0_SIZE`]. `visit` is called for each block
/// in order; the number of blocks is returned.
pub fn walk(
    mut read32: impl FnMut(u32) -> u32,
    bar_size: u32,
    mut visit: impl FnMut(FoundBlock),
) -> Result<usize, ChainError> {
    let mut at = 0u32;
    let mut count = 0usize;
    let first = read32(hdr::TYPE);
    if first != device::KIND {
        return Err(ChainError::NoDeviceBlock { kind: first });
    }
    loop {
        let kind = read32(at + hdr::TYPE);
        let version = read32(at + hdr::VERSION);
        let next = read32(at + hdr::NEXT);
        let len = read32(at + hdr::LEN);
        let end = at.checked_add(len).filter(|&e| len >= 16 && e <= bar_size);
        let Some(end) = end else {
            return Err(ChainError::BadLen { at, len });
        };
        if next != 0 && next < end {
            return Err(if next <= at {
                ChainError::BadNext { at, next }
            } else {
                ChainError::BadLen { at, len }
            });
        }
        if next % 16 != 0 || next >= bar_size {
            return Err(ChainError::BadNext { at, next });
        }
        visit(FoundBlock {
            base: at,
            kind,
            version,
            len,
        });
        count += 1;
        if next == 0 {
            return Ok(count);
        }
        at = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec;
    use std::vec::Vec;

    /// A BAR0 image holding only the block headers, as the card presents them.
    fn bar_image() -> Vec<u32> {
        let mut bar = vec![0u32; BAR0_SIZE as usize / 4];
        for (i, b) in BLOCKS.iter().enumerate() {
            let w = (b.base / 4) as usize;
            bar[w] = b.kind;
            bar[w + 1] = b.version;
            bar[w + 2] = next_of(i);
            bar[w + 3] = b.len;
        }
        bar
    }

    #[test]
    fn blocks_are_ordered_aligned_and_disjoint() {
        for pair in BLOCKS.windows(2) {
            assert!(
                pair[0].base + pair[0].len <= pair[1].base,
                "{} overlaps {}",
                pair[0].name,
                pair[1].name
            );
        }
        for b in BLOCKS {
            assert_eq!(b.base % 16, 0);
            assert!(b.base + b.len <= BAR0_SIZE);
            let mut last_end = 0x10;
            if b.array.is_some() {
                last_end = 0x18;
            }
            for r in b.regs {
                assert!(r.offset >= last_end, "{}.{} overlaps", b.name, r.name);
                last_end = r.offset + r.access.bytes();
            }
            if let Some(a) = b.array {
                assert!(
                    last_end <= ARRAY_OFFSET,
                    "{} registers run into its array",
                    b.name
                );
                let mut end = 0;
                for r in a.regs {
                    assert!(r.offset >= end);
                    end = r.offset + r.access.bytes();
                }
                assert!(end <= a.stride);
                assert!(
                    a.max_entries >= 64,
                    "{} holds only {} entries",
                    b.name,
                    a.max_entries
                );
            } else {
                assert!(last_end <= b.len, "{} registers run past its end", b.name);
            }
        }
        let kinds: Vec<u32> = BLOCKS.iter().map(|b| b.kind).collect();
        for (i, k) in kinds.iter().enumerate() {
            assert!(!kinds[i + 1..].contains(k));
        }
    }

    #[test]
    fn key_and_reta_fit_their_block() {
        assert!(rss_key_word(RSS_KEY_WORDS - 1) + 4 <= rss::BASE + rss::RETA);
        assert!(reta_word(RETA_WORDS - 1) + 4 <= rss::BASE + rss::LEN);
        assert_eq!(
            txq::reg(3, txq::entry::PROD),
            0x1000 + 0x40 + 3 * 0x20 + 0x14
        );
        assert_eq!(
            txq::DEF.entry_reg(3, txq::entry::PROD),
            txq::reg(3, txq::entry::PROD)
        );
    }

    #[test]
    fn walk_finds_every_block() {
        let bar = bar_image();
        let mut found = Vec::new();
        let n = walk(|off| bar[(off / 4) as usize], BAR0_SIZE, |b| found.push(b)).unwrap();
        assert_eq!(n, BLOCKS.len());
        for (f, b) in found.iter().zip(BLOCKS) {
            assert_eq!((f.base, f.kind, f.len), (b.base, b.kind, b.len));
            assert_eq!(block_by_kind(f.kind), Some(b));
        }
    }

    #[test]
    fn walk_rejects_loops_and_escapes() {
        let mut bar = bar_image();
        // port block points back at the device block: would loop forever
        bar[(port::BASE / 4 + 2) as usize] = 0;
        bar[(port::BASE / 4 + 2) as usize] = device::BASE + 0x10;
        let r = walk(|off| bar[(off / 4) as usize], BAR0_SIZE, |_| {});
        assert_eq!(
            r,
            Err(ChainError::BadNext {
                at: port::BASE,
                next: 0x10
            })
        );

        let mut bar = bar_image();
        bar[(rss::BASE / 4 + 2) as usize] = 0x1_0000;
        let r = walk(
            |off| bar.get((off / 4) as usize).copied().unwrap_or(0),
            BAR0_SIZE,
            |_| {},
        );
        assert_eq!(
            r,
            Err(ChainError::BadNext {
                at: rss::BASE,
                next: 0x1_0000
            })
        );

        let mut bar = bar_image();
        bar[(rss::BASE / 4 + 3) as usize] = 0xffff_fff0;
        let r = walk(|off| bar[(off / 4) as usize], BAR0_SIZE, |_| {});
        assert_eq!(
            r,
            Err(ChainError::BadLen {
                at: rss::BASE,
                len: 0xffff_fff0
            })
        );

        let r = walk(|_| 0xdead_beef, BAR0_SIZE, |_| {});
        assert_eq!(r, Err(ChainError::NoDeviceBlock { kind: 0xdead_beef }));
    }
}
