//! # oxnic-driver — the userspace driver
//!
//! One driver for the real board (VFIO) and the verilated card (the simulator implements the same
//! device trait). This crate depends on the contract (`oxnic-abi`) only; it never depends on the
//! stack or the simulator.
//!
//! - [`bar`]: the register-access trait every backend implements, and bound-checked helpers.
//! - [`device`]: the device trait — BAR access, DMA mappings, interrupts, device time.
//! - [`dma`]: DMA memory (memmap2, hugepages when available) with fenced, bound-checked access.
//! - [`probe`](mod@probe): walks the register-block chain, checks versions and reads the capabilities.
//! - [`iova`]: the device's IOVA space (allocator) and mappings that unmap themselves.
//! - [`mempool`]: fixed-size DMA packet buffers, per-queue caches, return-on-drop.
//! - [`ring`]: free-running 16-bit ring indices and the phase rule.
//!
//! One file per hardware object, each with the same lifecycle verbs (create, enable, arm,
//! poll, disable/close):
//! - [`cq`]: completion queue (phase-bit walk, batched `CONS`, arm).
//! - [`rxq`]: RX queue (buffers posted in batches, one doorbell each).
//! - [`txq`]: TX queue (scatter-gather frames with offload requests, batched submit and clean).
//! - [`irq`]: interrupt vector (delivery, moderation).
//! - [`port`]: the Ethernet port (MAC, MTU, enables, the card's counters).
//! - [`nic`]: the device as a whole — bring-up from reset, queue layout, teardown.
//!
//! Above them:
//! - [`napi`]: NAPI polling per RX queue (validated completions, budgets, re-arm, busy poll,
//!   the adaptive switch) and a group that shares a `netdev_budget` across queues.
//! - [`ethtool`]: the control API (rings, RSS, offloads, coalescing, statistics).
//! - [`stats`]: the driver's own per-queue counters.
//! - [`vfio`]: the `Device` of a real card through VFIO, and how to bind it.
//! - [`mock`]: a behavioural model of the card's queue contract for the driver's own tests.

#![warn(missing_docs)]
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
pub mod vfio;

pub use bar::Bar;
pub use device::{Device, DeviceError, DmaPerm};
pub use dma::{DmaError, DmaRegion, Pages};
pub use mempool::{Mempool, PktBuf};
pub use napi::{NapiGroup, PollMode, RxMeta, RxPoller, RxSink};
pub use nic::{Nic, NicConfig, NicError};
pub use probe::{probe, DeviceInfo, ProbeError};
pub use txq::{TxFrame, TxMeta, TxQueue};
pub use vfio::VfioDevice;
