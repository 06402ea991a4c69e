//! # oxnic-hdl — the oxnic network card in rust-hdl
//!
//! One block per file, named `<direction>_<function>` after Corundum's habit. Each block carries
//! its own rust-hdl simulation tests and a synthesizability check; the differential tests against
//! Verilator live in `oxnic-sim`, which verilates the Verilog generated here.
//!
//! - [`verilog`]: Verilog generation with the top module renamed from rust-hdl's `top`, and the
//!   catalogue of named blocks the simulator and `oxnic verilog` build.

pub mod verilog;
