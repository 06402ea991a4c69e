//! The named blocks this crate can emit as Verilog: what `oxnic verilog` writes, what the
//! simulator verilates (one Verilator model per entry) and what the synthesis tests check.
//!
//! Entry names are Verilog module names and the names of the generated Verilator bindings
//! (`oxnic_sim::models::<name>`). Each block module adds its configurations here.

use crate::verilog::GenError;

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
    vec![
        Entry {
            name: "oxnic_crc32",
            about: "Ethernet FCS (CRC-32) over a 64-bit stream, one word per cycle, latency 1",
            verilog: crate::crc32::verilog,
        },
        Entry {
            name: "oxnic_csum",
            about: "Internet checksum from a per-frame start offset, 64-bit stream, latency 1",
            verilog: crate::csum::verilog,
        },
        Entry {
            name: "oxnic_toeplitz",
            about:
                "RSS Toeplitz hash of IPv4 2/4-tuples, 40-byte key port, 1 tuple/cycle, latency 2",
            verilog: crate::toeplitz::verilog,
        },
    ]
}

/// The entry named `name`.
pub fn find(name: &str) -> Option<Entry> {
    all().into_iter().find(|e| e.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_generate_their_named_modules() {
        let all = all();
        for (i, e) in all.iter().enumerate() {
            assert!(
                all[..i].iter().all(|o| o.name != e.name),
                "{} twice",
                e.name
            );
            let v = (e.verilog)().unwrap();
            assert!(v.contains(&format!("module {}(", e.name)), "{}", e.name);
            assert!(find(e.name).is_some());
        }
        assert!(find("oxnic_nope").is_none());
    }
}
