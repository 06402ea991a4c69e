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
    vec![
        Entry {
            name: "oxnic_stream_fifo64",
            about: "stream FIFO, 64-bit words, 16 deep, full backpressure",
            verilog: crate::stream_fifo::verilog64,
        },
        Entry {
            name: "oxnic_stream_fifo512",
            about: "stream FIFO, 512-bit words, 16 deep, full backpressure",
            verilog: crate::stream_fifo::verilog512,
        },
        Entry {
            name: "oxnic_packet_fifo64",
            about:
                "store-and-forward packet FIFO, 64-bit words, 32 deep, drops bad/overflowing frames",
            verilog: crate::packet_fifo::verilog64,
        },
        Entry {
            name: "oxnic_reg_block_device",
            about: "register block: device identification (oxnic_abi::regs::device)",
            verilog: crate::reg_bus::verilog_device,
        },
        Entry {
            name: "oxnic_reg_block_port",
            about: "register block: Ethernet port and statistics (oxnic_abi::regs::port)",
            verilog: crate::reg_bus::verilog_port,
        },
        Entry {
            name: "oxnic_reg_block_rss",
            about: "register block: RSS key and indirection table (oxnic_abi::regs::rss)",
            verilog: crate::reg_bus::verilog_rss,
        },
        Entry {
            name: "oxnic_reg_block_offload",
            about: "register block: offload enables and GRO limits (oxnic_abi::regs::offload)",
            verilog: crate::reg_bus::verilog_offload,
        },
        Entry {
            name: "oxnic_stream_register64",
            about: "one-word stream register stage, 64-bit data",
            verilog: || {
                let mut b = crate::stream_register::StreamRegister::<64, 8>::default();
                b.connect_all();
                crate::verilog::generate_named(&b, "oxnic_stream_register64")
            },
        },
        Entry {
            name: "oxnic_skid",
            about: "two-word skid buffer, in_ready from a flop, 128+24+2-bit payload",
            verilog: crate::stream_register::skid_verilog128,
        },
        Entry {
            name: "oxnic_rss_table",
            about: "RSS key and indirection table as vectors, written over the register bus",
            verilog: crate::rss_table::verilog,
        },
        Entry {
            name: "oxnic_en_reg64",
            about: "64-bit register with a load enable",
            verilog: crate::en_reg::verilog64,
        },
        Entry {
            name: "oxnic_crc32",
            about: "Ethernet FCS (CRC-32) over a 64-bit stream, one word per cycle, latency 1",
            verilog: crate::crc32::verilog,
        },
        Entry {
            name: "oxnic_irq_mod",
            about: "interrupt vectors with frame/microsecond moderation, 16 queues, 16 vectors",
            verilog: crate::irq_mod::verilog,
        },
        Entry {
            name: "oxnic_rx_queues",
            about: "RX engine per-queue indices, faults, enable periods and their lookups, 6 queues",
            verilog: crate::rx_queues::verilog,
        },
        Entry {
            name: "oxnic_tx_queues",
            about: "TX engine per-queue indices, round-robin pick and lookups, 6 queues",
            verilog: crate::tx_queues::verilog,
        },
        Entry {
            name: "oxnic_csum",
            about: "Internet checksum from a per-frame start offset, 64-bit stream, latency 1",
            verilog: crate::csum::verilog,
        },
        Entry {
            name: "oxnic_mac_rx",
            about: "MAC receive, 64-bit: FCS check/strip, runt/oversize/VLAN/filter drops, counters, latency 1",
            verilog: crate::mac_rx::verilog,
        },
        Entry {
            name: "oxnic_mac_tx",
            about: "MAC transmit, 64-bit: pad to 60 bytes, FCS, byte-exact preamble/IFG idle time, counters",
            verilog: crate::mac_tx::verilog,
        },
        Entry {
            name: "oxnic_toeplitz",
            about:
                "RSS Toeplitz hash of IPv4 2/4-tuples, 40-byte key port, 1 tuple/cycle, latency 2",
            verilog: crate::toeplitz::verilog,
        },
        Entry {
            name: "oxnic_rx_check_chain",
            about: "CRC32 -> checksum -> 64-word packet FIFO chain, 64-bit stream",
            verilog: crate::rx_check_chain::verilog,
        },
        Entry {
            name: "oxnic_rx_parse",
            about: "RX parser: 802.1Q, IPv4 (options), TCP/UDP ports, 64-bit stream, latency 2",
            verilog: crate::rx_parse::verilog,
        },
        Entry {
            name: "oxnic_rx_checksum",
            about:
                "RX IPv4/TCP/UDP checksum checks and CHECKSUM_COMPLETE, with the parser, latency 2",
            verilog: crate::rx_checksum::verilog,
        },
        Entry {
            name: "oxnic_rx_hash",
            about: "RX RSS: hash type, Toeplitz hash, 128-entry RETA queue, latency 3",
            verilog: crate::rx_hash::verilog,
        },
        Entry {
            name: "oxnic_rx_classify",
            about:
                "RX classification: parse + checksums + RSS, one aligned metadata strobe, latency 5",
            verilog: crate::rx_classify::verilog,
        },
        Entry {
            name: "oxnic_tx_checksum",
            about: "TX CHECKSUM_PARTIAL insertion, 64-bit, two 2 KiB store-and-forward banks",
            verilog: crate::tx_checksum::verilog,
        },
        Entry {
            name: "oxnic_tx_engine",
            about: "TX DMA engine: 8 queues, descriptor batches of 4, SG chains of up to 8, completions",
            verilog: crate::tx_engine::verilog,
        },
        Entry {
            name: "oxnic_rx_engine",
            about: "RX DMA engine, 8 queues: 8-descriptor cache per queue with prefetch, frame and completion writes, 64-bit",
            verilog: crate::rx_engine::verilog,
        },
        Entry {
            name: "oxnic_nic",
            about: "the whole card: 8 RX + 8 TX queues, 16 completion queues, 16 vectors, RSS, checksums",
            verilog: crate::nic::verilog,
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
    fn entries_are_unique_and_generate_their_own_top() {
        let entries = all();
        for (i, e) in entries.iter().enumerate() {
            assert!(
                entries[i + 1..].iter().all(|o| o.name != e.name),
                "{}",
                e.name
            );
            let v = (e.verilog)().unwrap();
            assert!(v.contains(&format!("module {}(", e.name)), "{}", e.name);
            assert_eq!(find(e.name).map(|f| f.name), Some(e.name));
        }
        assert!(find("oxnic_no_such_block").is_none());
    }
}
