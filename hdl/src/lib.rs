//! # oxnic-hdl — the oxnic network card in rust-hdl
//!
//! One block per file, named `<direction>_<function>` after Corundum's habit. Each block carries
//! its own rust-hdl simulation tests and a synthesizability check; the differential tests against
//! Verilator live in `oxnic-sim`, which verilates the Verilog generated here.
//!
//! - [`dma_if`]: the card's DMA read and write ports (packed data; the host realigns).
//! - [`packet_fifo`]: store-and-forward packet FIFO that drops bad and overflowing frames whole.
//! - [`reg_bus`]: the MMIO register bus pair and the register block laid out from `oxnic_abi::regs`.
//! - [`rx_check_chain`]: CRC32 → checksum → packet FIFO composed at one word per cycle.
//! - [`stream`]: the valid/ready stream interface pair (data, keep, last, user).
//! - [`stream_register`]: a one-word register stage on a stream.
//! - [`stream_fifo`]: synchronous stream FIFO with full backpressure and fill counters.
//! - [`stream_stimulus`]: frames as stream stimulus (gaps, junk on idle cycles) and back.
//! - [`crc32`]: Ethernet FCS, 64 bits per cycle.
//! - [`csum`]: Internet checksum from a start offset, 64 bits per cycle.
//! - [`mac_rx`]: the MAC receive half: FCS check and strip, runt/oversize/filter drops, counters.
//! - [`mac_tx`]: the MAC transmit half: padding, FCS, inter-frame gap accounting, counters.
//! - [`toeplitz`]: RSS Toeplitz hash of IPv4 tuples, programmable key, one tuple per cycle.
//! - [`frame_gen`]: realistic Ethernet/IPv4/TCP/UDP frames with correct checksums, and defects.
//! - [`rx_model`]: reference model of the RX classification (parse, checksums, RSS).
//! - [`rx_parse`]: RX header parser (802.1Q, IPv4 with options, TCP/UDP ports), latency 2.
//! - [`rx_checksum`]: RX IPv4 header and TCP/UDP checksum checks, CHECKSUM_COMPLETE, latency 2.
//! - [`rx_hash`]: RSS — Toeplitz hash of the parsed tuple, hash type, RETA queue, latency 3.
//! - [`rx_classify`]: the three above on one stream, one aligned metadata strobe, latency 5.
//! - [`tx_checksum`]: CHECKSUM_PARTIAL insertion with a two-bank store-and-forward buffer.
//! - [`tx_engine`]: TX descriptor fetch, scatter-gather DMA reads, completions, N queues.
//! - [`rx_engine`]: receive DMA: descriptor cache and prefetch, frame and completion writes.
//! - [`nic`]: the whole card, `oxnic_nic`: every block behind one register bus, the DMA ports,
//!   the Ethernet port and the interrupt lines.
//! - [`testbench`]: drive a block by port name cycle by cycle; the stimulus format shared with
//!   the Verilator differential runner.
//! - [`synth`]: yosys synthesis checks and cell counts.
//! - [`catalog`]: the named block configurations that are emitted, verilated and synthesized.
//! - [`verilog`]: Verilog generation with the top module renamed from rust-hdl's `top`, and the
//!   catalogue of named blocks the simulator and `oxnic verilog` build.

// rust-hdl blocks are trees of signals whose Debug output would be useless; they do not have it.
#![allow(missing_debug_implementations)]

pub mod catalog;
pub mod crc32;
pub mod csum;
pub mod dma_if;
pub mod en_reg;
pub mod frame_gen;
pub mod irq_mod;
pub mod mac_rx;
pub mod mac_tx;
pub mod nic;
pub mod packet_fifo;
pub mod reg_bus;
pub mod reg_file;
pub mod rss_table;
pub mod rx_check_chain;
pub mod rx_checksum;
pub mod rx_classify;
pub mod rx_engine;
pub mod rx_hash;
pub mod rx_model;
pub mod rx_parse;
pub mod rx_queues;
pub mod stream;
pub mod stream_fifo;
pub mod stream_register;
pub mod stream_stimulus;
pub mod synth;
pub mod testbench;
pub mod toeplitz;
pub mod tx_checksum;
pub mod tx_engine;
pub mod tx_queues;
pub mod verilog;
