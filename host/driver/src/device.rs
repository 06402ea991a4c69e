//! The device trait: the only door from the driver to hardware.
//!
//! Everything the driver does to a card goes through [`Device`]: BAR0 register access, DMA
//! mappings of host memory, interrupt vectors, and the passage of time. Two implementations
//! exist: VFIO on a real PCIe board (in this crate) and `SimDevice` in `oxnic-sim` (the verilated
//! card behind a PCIe and IOMMU model). The driver above this trait is the same for both.
//!
//! Time is part of the door on purpose: a simulated card only advances when the driver lets
//! time pass ([`Device::relax`], [`Device::irq_wait`]), which makes co-simulation deterministic
//! (lock-step virtual time), while a real card runs on its own and `relax` is a spin hint.

use crate::dma::DmaRegion;
use crate::Bar;
use std::sync::Arc;
use std::time::Duration;

/// What the device may do with a DMA mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DmaPerm {
    /// The device may read (TX buffers, descriptor rings).
    pub read: bool,
    /// The device may write (RX buffers, completion rings).
    pub write: bool,
}

impl DmaPerm {
    /// Device reads and writes.
    pub const RW: DmaPerm = DmaPerm {
        read: true,
        write: true,
    };
    /// Device reads only.
    pub const TO_DEVICE: DmaPerm = DmaPerm {
        read: true,
        write: false,
    };
    /// Device writes only.
    pub const FROM_DEVICE: DmaPerm = DmaPerm {
        read: false,
        write: true,
    };
}

/// Why a device operation failed.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    /// The IOVA range is empty, wraps, or overlaps an existing mapping.
    #[error("IOVA range {iova:#x}+{len:#x} cannot be mapped: {why}")]
    BadMapping {
        /// First IOVA.
        iova: u64,
        /// Length in bytes.
        len: u64,
        /// What is wrong with it.
        why: &'static str,
    },
    /// No mapping starts at this IOVA.
    #[error("no DMA mapping at IOVA {0:#x}")]
    NotMapped(u64),
    /// The vector number is beyond what the device has.
    #[error("interrupt vector {vector} does not exist (the device has {count})")]
    NoSuchVector {
        /// Requested vector.
        vector: u32,
        /// Vectors the device has.
        count: u32,
    },
    /// The device could not be opened; the message says what to do.
    #[error("cannot open {what}: {why}")]
    Open {
        /// Which device (PCI address, path).
        what: String,
        /// Why, with the steps that would fix it.
        why: String,
    },
    /// An operating-system call failed.
    #[error("{op}: {source}")]
    Os {
        /// The call.
        op: &'static str,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The device stopped working (a simulator model failure, a surprise removal).
    #[error("device failed: {0}")]
    Failed(String),
}

/// A network card as the driver sees it.
///
/// Register access is `&self` because hardware registers are shared state by nature; backends
/// synchronise internally, so one device can be shared by per-queue poller threads.
pub trait Device: Bar + Send + Sync {
    /// Maps `region` at `iova` for the device with permission `perm` (VFIO_IOMMU_MAP_DMA).
    /// The device keeps the region alive until it is unmapped.
    fn dma_map(&self, region: &Arc<DmaRegion>, iova: u64, perm: DmaPerm)
        -> Result<(), DeviceError>;

    /// Removes the mapping that starts at `iova`. DMA to it faults from now on.
    fn dma_unmap(&self, iova: u64) -> Result<(), DeviceError>;

    /// Interrupt vectors the device can raise.
    fn num_vectors(&self) -> u32;

    /// Enables delivery of `vector` (MSI-X eventfd set up on VFIO). Interrupts raised on a
    /// vector before it was enabled are not delivered.
    fn irq_enable(&self, vector: u32) -> Result<(), DeviceError>;

    /// Waits until one of the vectors in `mask` (bit `v` for vector `v`) has fired or `timeout`
    /// has passed (device time: simulated time on the simulator). Returns the vectors that
    /// fired, each consumed (an eventfd read), or 0 on timeout.
    fn irq_wait(&self, mask: u64, timeout: Duration) -> Result<u64, DeviceError>;

    /// The driver has nothing to do right now: let the device run a little (a spin-loop hint
    /// on hardware; some simulated cycles on the simulator).
    fn relax(&self);

    /// Device time in nanoseconds since the device was opened (virtual time on the simulator,
    /// the monotonic clock on hardware). Timers in the driver and the stack use it.
    fn now_ns(&self) -> u64;

    /// 64-bit register write, low word first (for IOVA registers split into LO/HI).
    fn write64(&self, offset: u32, value: u64) {
        self.write32(offset, value as u32);
        self.write32(offset + 4, (value >> 32) as u32);
    }
}
