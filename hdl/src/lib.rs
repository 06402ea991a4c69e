//! # oxnic-hdl — the oxnic network card in rust-hdl
//!
//! One block per file, named `<direction>_<function>` after Corundum's habit. Each block carries
//! its own rust-hdl simulation tests and a synthesizability check; the differential tests against
//! Verilator live in `oxnic-sim`, which verilates the Verilog generated here.
//!
//! - [`stream`]: the valid/ready stream interface pair (data, keep, last, user).
//! - [`stream_stimulus`]: frames as stream stimulus (gaps, junk on idle cycles) and back.
//! - [`crc32`]: Ethernet FCS, 64 bits per cycle.
//! - [`csum`]: Internet checksum from a start offset, 64 bits per cycle.
//! - [`toeplitz`]: RSS Toeplitz hash of IPv4 tuples, programmable key, one tuple per cycle.
//! - [`testbench`]: drive a block by port name cycle by cycle; the stimulus format shared with
//!   the Verilator differential runner.
//! - [`synth`]: yosys synthesis checks and cell counts.
//! - [`catalog`]: the named block configurations that are emitted, verilated and synthesized.
//! - [`verilog`]: Verilog generation with the top module renamed from rust-hdl's `top`, and the
//!   catalogue of named blocks the simulator and `oxnic verilog` build.

pub mod catalog;
pub mod crc32;
pub mod csum;
pub mod stream;
pub mod stream_stimulus;
pub mod synth;
pub mod testbench;
pub mod toeplitz;
pub mod verilog;
