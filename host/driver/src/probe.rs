//! Device probe: walk BAR0's register blocks, check the versions this driver knows, and read the
//! card's capabilities. A card that presents something else gets a clear error, never a guess.

use crate::Bar;
use oxnic_abi::regs::{self, device, walk, ChainError, FoundBlock};

/// What the device block says about the card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceInfo {
    /// PCI vendor ID.
    pub vendor: u16,
    /// PCI device ID.
    pub device: u16,
    /// Card version (major in 31:16).
    pub hw_version: u32,
    /// Build identifier.
    pub build_id: u32,
    /// Feature bits (`oxnic_abi::features`).
    pub features: u32,
    /// TX queues.
    pub num_txq: u32,
    /// RX queues.
    pub num_rxq: u32,
    /// Completion queues.
    pub num_cq: u32,
    /// Interrupt vectors.
    pub num_vectors: u32,
    /// log2 of the largest ring.
    pub max_ring_log2: u32,
    /// Datapath width in bits.
    pub datapath_bits: u32,
    /// Core clock in kHz.
    pub clock_khz: u32,
    /// Blocks found, in chain order.
    pub blocks: Vec<FoundBlock>,
}

/// Why a probe failed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProbeError {
    /// The register chain is malformed.
    #[error("register chain: {0}")]
    Chain(ChainError),
    /// A block this driver needs is missing.
    #[error("the card has no {0} block")]
    MissingBlock(&'static str),
    /// A block has a major version this driver does not know.
    #[error("{name} block version {found:#x} is not supported (driver knows major {known})")]
    Version {
        /// Block name.
        name: &'static str,
        /// Version found.
        found: u32,
        /// Major version this driver knows.
        known: u32,
    },
    /// A count register is beyond what the register map can address.
    #[error("the card reports {value} {what}, more than the register map holds ({max})")]
    BadCount {
        /// What was counted.
        what: &'static str,
        /// Value read.
        value: u32,
        /// Most allowed.
        max: u32,
    },
}

/// Probes the card behind `bar`.
pub fn probe(bar: &dyn Bar) -> Result<DeviceInfo, ProbeError> {
    let mut blocks = Vec::new();
    walk(
        |o| bar.read32(o),
        bar.size().min(regs::BAR0_SIZE),
        |b| blocks.push(b),
    )
    .map_err(ProbeError::Chain)?;
    for def in regs::BLOCKS {
        let found = blocks
            .iter()
            .find(|b| b.kind == def.kind)
            .ok_or(ProbeError::MissingBlock(def.name))?;
        if found.version >> 16 != def.version >> 16 {
            return Err(ProbeError::Version {
                name: def.name,
                found: found.version,
                known: def.version >> 16,
            });
        }
    }
    let rd = |off| bar.read32(device::BASE + off);
    let count = |what, off, max| {
        let value = rd(off);
        if value > max {
            Err(ProbeError::BadCount { what, value, max })
        } else {
            Ok(value)
        }
    };
    let id = rd(device::ID);
    Ok(DeviceInfo {
        vendor: id as u16,
        device: (id >> 16) as u16,
        hw_version: rd(device::HW_VERSION),
        build_id: rd(device::BUILD_ID),
        features: rd(device::FEATURES),
        num_txq: count("TX queues", device::NUM_TXQ, regs::txq::MAX_ENTRIES)?,
        num_rxq: count("RX queues", device::NUM_RXQ, regs::rxq::MAX_ENTRIES)?,
        num_cq: count("completion queues", device::NUM_CQ, regs::cq::MAX_ENTRIES)?,
        num_vectors: count(
            "interrupt vectors",
            device::NUM_VECTORS,
            regs::irq::MAX_ENTRIES,
        )?,
        max_ring_log2: count(
            "log2 ring entries",
            device::MAX_RING_LOG2,
            oxnic_abi::features::MAX_RING_LOG2,
        )?,
        datapath_bits: rd(device::DATAPATH_BITS),
        clock_khz: rd(device::CLOCK_KHZ),
        blocks,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    /// A BAR image as the card's register file presents it after reset.
    struct Image(RefCell<Vec<u32>>);

    impl Image {
        fn card() -> Self {
            let mut w = vec![0u32; regs::BAR0_SIZE as usize / 4];
            for (i, b) in regs::BLOCKS.iter().enumerate() {
                let at = (b.base / 4) as usize;
                w[at..at + 4].copy_from_slice(&[b.kind, b.version, regs::next_of(i), b.len]);
            }
            let d = (device::BASE / 4) as usize;
            w[d + (device::ID / 4) as usize] = 0x0c5e_10ee;
            w[d + (device::NUM_TXQ / 4) as usize] = 8;
            w[d + (device::NUM_RXQ / 4) as usize] = 8;
            w[d + (device::NUM_CQ / 4) as usize] = 16;
            w[d + (device::NUM_VECTORS / 4) as usize] = 16;
            w[d + (device::MAX_RING_LOG2 / 4) as usize] = 12;
            Image(RefCell::new(w))
        }
        fn set(&self, off: u32, v: u32) {
            self.0.borrow_mut()[(off / 4) as usize] = v;
        }
    }

    impl Bar for Image {
        fn size(&self) -> u32 {
            regs::BAR0_SIZE
        }
        fn read32(&self, offset: u32) -> u32 {
            self.0
                .borrow()
                .get((offset / 4) as usize)
                .copied()
                .unwrap_or(!0)
        }
        fn write32(&self, offset: u32, value: u32) {
            self.set(offset, value)
        }
    }

    #[test]
    fn probe_reads_capabilities() {
        let img = Image::card();
        let info = probe(&img).unwrap();
        assert_eq!((info.vendor, info.device), (0x10ee, 0x0c5e));
        assert_eq!((info.num_txq, info.num_rxq, info.num_cq), (8, 8, 16));
        assert_eq!(info.blocks.len(), regs::BLOCKS.len());
    }

    #[test]
    fn probe_rejects_unknown_major_version() {
        let img = Image::card();
        img.set(regs::rss::BASE + regs::hdr::VERSION, 0x0002_0000);
        assert_eq!(
            probe(&img).unwrap_err(),
            ProbeError::Version {
                name: "rss",
                found: 0x0002_0000,
                known: 1
            }
        );
    }

    #[test]
    fn probe_rejects_missing_block_and_absurd_counts() {
        let img = Image::card();
        // Unlink the offload block: rss points straight at irq.
        img.set(regs::rss::BASE + regs::hdr::NEXT, regs::irq::BASE);
        assert_eq!(
            probe(&img).unwrap_err(),
            ProbeError::MissingBlock("offload")
        );
        let img = Image::card();
        img.set(device::NUM_RXQ, 100_000);
        assert!(matches!(
            probe(&img).unwrap_err(),
            ProbeError::BadCount { value: 100_000, .. }
        ));
        let img = Image::card();
        img.set(0, 0xffff_ffff);
        assert!(matches!(probe(&img).unwrap_err(), ProbeError::Chain(_)));
    }

    #[test]
    fn ctr64_reads_low_then_high() {
        let img = Image::card();
        img.set(0x140, 0x89ab_cdef);
        img.set(0x144, 0x0123_4567);
        assert_eq!(img.read_ctr64(0x140), 0x0123_4567_89ab_cdef);
    }
}
