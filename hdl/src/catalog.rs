//! The named blocks this crate can emit as Verilog: what `oxnic verilog` writes, what the
//! simulator verilates (one Verilator model per entry) and what the synthesis tests check.
//!
//! Entry names are Verilog module names and the names of the generated Verilator bindings
//! (`oxnic_sim::models::<name>`). Each block module adds its configurations here.

use crate::verilog::GenError;
use rust_hdl::prelude::Block;

/// One named block configuration.
#[derive(Debug, Clone, Copy)]
pub struct Entry {
    /// Top module name (`oxnic_<block>[_<config>]`).
    pub name: &'static str,
    /// One line: what the block is, with its parameters.
    pub about: &'static str,
    /// Generates its Verilog.
    pub verilog: fn() -> Result<String, GenError>,
}

/// All entries, in a stable order.
pub fn all() -> Vec<Entry> {
    vec![Entry {
        name: "oxnic_stream_register64",
        about: "one-word stream register stage, 64-bit data",
        verilog: || {
            let mut b = crate::stream_register::StreamRegister::<64, 8>::default();
            b.connect_all();
            crate::verilog::generate_named(&b, "oxnic_stream_register64")
        },
    }]
}

/// The entry named `name`.
pub fn find(name: &str) -> Option<Entry> {
    all().into_iter().find(|e| e.name == name)
}
