//! # oxnic-sim — the co-simulation host around the verilated card
//!
//! - [`harness`]: the Verilator harness — generated bindings ([`models`]), clock stepping,
//!   reset, by-name access and VCD waveforms. `build.rs` verilates every block of
//!   `oxnic_hdl::catalog` (with `-Wno-WIDTH -Wno-UNOPTFLAT`) and compiles it with `cc`.
//! - [`bare`]: a bare-hands host for the whole card (register programming, completion-ring
//!   walking) used by its own co-simulation tests and bench, without the driver.
//! - [`device`]: `SimDevice`, the whole card (`oxnic_nic`) as the driver's `Device`: BAR
//!   accesses on its register bus, DMA through the IOMMU model into the driver's own memory,
//!   MSI-X-like interrupt vectors, an Ethernet wire with line-rate timing, lock-step time.
//! - [`diff`]: differential testing of rust-hdl's simulator against Verilator, cycle by cycle.
//! - [`hostmem`]: host memory behind an IOMMU model. The card's DMA requests reach memory only
//!   through mapped IOVA ranges with the right permission; anything else is a recorded fault and
//!   touches nothing, as VFIO with VT-d behaves.
//! - [`pcie`]: the host side of the card's DMA ports — PCIe latency, bandwidth, max payload and
//!   read-request limits around host memory.
//! - [`wire`]: Ethernet wire models — a link with line rate and latency, a seeded impairment
//!   stage (loss, duplication, reordering, corruption) and a pcap recorder.

pub mod bare;
pub mod device;
pub mod diff;
pub mod harness;
pub mod hostmem;
pub mod pcie;
pub mod wire;

pub use device::{OutputCheck, SimConfig, SimDevice, SimError, TxFrame, WireFrameError};

/// Generated Verilator models, one module per block of `oxnic_hdl::catalog`.
#[allow(missing_docs)]
pub mod models {
    include!(concat!(env!("OUT_DIR"), "/models.rs"));
}
