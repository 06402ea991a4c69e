//! # oxnic-driver — the userspace driver
//!
//! One driver for the real board (VFIO) and the verilated card (the simulator implements the same
//! device trait). This crate depends on the contract (`oxnic-abi`) only; it never depends on the
//! stack or the simulator.
//!
//! - [`bar`]: the register-access trait every backend implements, and bound-checked helpers.
//! - [`device`]: the device trait — BAR access, DMA mappings, interrupts, device time.
//! - [`dma`]: DMA memory (memmap2, hugepages when available) with fenced, bound-checked access.
//! - [`probe`]: walks the register-block chain, checks versions and reads the capabilities.

pub mod bar;
pub mod cq;
pub mod device;
pub mod dma;
pub mod ethtool;
pub mod iova;
pub mod irq;
pub mod mempool;
pub mod mock;
pub mod napi;
pub mod nic;
pub mod port;
pub mod probe;
pub mod ring;
pub mod rxq;
pub mod stats;
pub mod txq;

pub use bar::Bar;
pub use device::{Device, DeviceError, DmaPerm};
pub use dma::{DmaError, DmaRegion, Pages};
pub use probe::{probe, DeviceInfo, ProbeError};
