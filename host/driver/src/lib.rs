//! # oxnic-driver — the userspace driver
//!
//! One driver for the real board (VFIO) and the verilated card (the simulator implements the same
//! device trait). This crate depends on the contract (`oxnic-abi`) only; it never depends on the
//! stack or the simulator.
//!
//! - [`bar`]: the register-access trait every backend implements, and bound-checked helpers.
//! - [`probe`]: walks the register-block chain, checks versions and reads the capabilities.

pub mod bar;
pub mod probe;

pub use bar::Bar;
pub use probe::{probe, DeviceInfo, ProbeError};
