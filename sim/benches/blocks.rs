//! `cargo bench -p oxnic-sim --bench blocks`: for each verilated block (and the CRC → checksum
//! → FIFO chain), simulated cycles per wall second and cycles per word (per tuple for Toeplitz,
//! per bus access for the register block) at full load. Figures, not pass/fail: wall-clock
//! rates swing on a shared machine; cycles per word are exact and repeatable.
//!
//! Without `--bench` (as `cargo test --benches` runs it) it does a short run of each.

use oxnic_hdl::stream::{bytes_to_port, frame_to_words, keep_mask};
use oxnic_sim::harness::Sim;
use oxnic_sim::models;
use std::time::Instant;

struct Figure {
    block: &'static str,
    cycles: u64,
    items: u64,
    unit: &'static str,
    results: u64,
    secs: f64,
}

/// The words of a 1518-byte frame as (data, keep, last); the benches send it back to back.
fn frame_words() -> Vec<(u64, u64, u64)> {
    let frame: Vec<u8> = (0..1518u64)
        .map(|i| (i.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 56) as u8)
        .collect();
    frame_to_words(&frame, 8, false)
        .iter()
        .map(|w| {
            (
                bytes_to_port(&w.bytes)[0],
                keep_mask(w.len) as u64,
                u64::from(w.last),
            )
        })
        .collect()
}

macro_rules! stream_bench {
    ($name:literal, $model:path, $cycles:expr, $unit:literal, $result:ident, |$m:ident| $setup:block) => {{
        let mut sim = Sim::new(<$model>::new()).expect("clocked model");
        let $m = &mut sim.model;
        $setup
        sim.model.set_sink_valid(1);
        let frame = frame_words();
        let (mut words, mut results) = (0u64, 0u64);
        let t = Instant::now();
        for i in 0..$cycles {
            let (d, k, l) = frame[(words % frame.len() as u64) as usize];
            sim.model.set_sink_data(d);
            sim.model.set_sink_keep(k);
            sim.model.set_sink_last(l);
            sim.eval();
            words += sim.model.get_sink_ready();
            results += sim.model.$result();
            sim.tick();
            let _ = i;
        }
        let secs = t.elapsed().as_secs_f64();
        Figure { block: $name, cycles: $cycles, items: words, unit: $unit, results, secs }
    }};
}

fn toeplitz(cycles: u64) -> Figure {
    let mut sim = Sim::new(models::oxnic_toeplitz::Model::new()).expect("clocked model");
    let key = oxnic_hdl::toeplitz::key_words(&oxnic_abi::features::DEFAULT_RSS_KEY);
    let key32: [u32; 10] = std::array::from_fn(|i| (key[i / 2] >> (32 * (i % 2))) as u32);
    sim.model.set_key(&key32);
    sim.model.set_tuple_valid(1);
    sim.model.set_four_tuple(1);
    let mut hashes = 0;
    let t = Instant::now();
    for i in 0..cycles {
        let x = i.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        sim.model.set_tuple(&[x as u32, (x >> 32) as u32, i as u32]);
        sim.tick();
        hashes += sim.model.get_hash_valid();
    }
    let secs = t.elapsed().as_secs_f64();
    Figure {
        block: "oxnic_toeplitz",
        cycles,
        items: cycles,
        unit: "tuple",
        results: hashes,
        secs,
    }
}

fn stream_fifo512(cycles: u64) -> Figure {
    let mut sim = Sim::new(models::oxnic_stream_fifo512::Model::new()).expect("clocked model");
    sim.model.set_source_ready(1);
    sim.model.set_sink_valid(1);
    sim.model.set_sink_keep(u64::MAX);
    let mut words = 0;
    let t = Instant::now();
    for i in 0..cycles {
        sim.model.set_sink_data(&[i as u32; 16]);
        sim.model.set_sink_last(u64::from(i % 24 == 23));
        sim.eval();
        words += sim.model.get_sink_ready();
        sim.tick();
    }
    let secs = t.elapsed().as_secs_f64();
    let passed = sim.model.get_words_passed();
    Figure {
        block: "oxnic_stream_fifo512",
        cycles,
        items: words,
        unit: "word",
        results: passed,
        secs,
    }
}

fn reg_block_port(cycles: u64) -> Figure {
    use oxnic_abi::regs::port;
    let mut sim = Sim::new(models::oxnic_reg_block_port::Model::new()).expect("clocked model");
    let mut answered = 0;
    let t = Instant::now();
    for i in 0..cycles {
        let addr = port::BASE + 4 * (i as u32 % 64);
        sim.model.set_bus_address(u64::from(addr));
        sim.model.set_bus_read(u64::from(i % 2 == 0));
        sim.model.set_bus_write(u64::from(i % 2 == 1));
        sim.model.set_bus_write_data(i);
        sim.tick();
        answered += sim.model.get_bus_read_valid();
    }
    let secs = t.elapsed().as_secs_f64();
    Figure {
        block: "oxnic_reg_block_port",
        cycles,
        items: cycles,
        unit: "access",
        results: answered,
        secs,
    }
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let n: u64 = if full { 2_000_000 } else { 20_000 };
    let figs = vec![
        stream_bench!(
            "oxnic_crc32",
            models::oxnic_crc32::Model,
            n,
            "word",
            get_crc_valid,
            |_m| {}
        ),
        stream_bench!(
            "oxnic_csum",
            models::oxnic_csum::Model,
            n,
            "word",
            get_csum_valid,
            |m| {
                m.set_start(14);
            }
        ),
        toeplitz(n),
        stream_bench!(
            "oxnic_stream_register64",
            models::oxnic_stream_register64::Model,
            n,
            "word",
            get_source_last,
            |m| {
                m.set_source_ready(1);
            }
        ),
        stream_bench!(
            "oxnic_stream_fifo64",
            models::oxnic_stream_fifo64::Model,
            n,
            "word",
            get_source_last,
            |m| {
                m.set_source_ready(1);
            }
        ),
        stream_fifo512(n / 4),
        stream_bench!(
            "oxnic_packet_fifo64",
            models::oxnic_packet_fifo64::Model,
            n,
            "word",
            get_source_last,
            |m| {
                m.set_source_ready(1);
            }
        ),
        stream_bench!(
            "oxnic_rx_check_chain",
            models::oxnic_rx_check_chain::Model,
            n,
            "word",
            get_crc_valid,
            |m| {
                m.set_source_ready(1);
                m.set_start(14);
            }
        ),
        reg_block_port(n),
    ];
    println!(
        "{:<26} {:>10} {:>10} {:>12} {:>9} {:>9}",
        "block", "cycles", "items", "cycles/s", "cyc/item", "results"
    );
    for f in &figs {
        println!(
            "{:<26} {:>10} {:>10} {:>12.0} {:>9.3} {:>9}  per {}",
            f.block,
            f.cycles,
            f.items,
            f.cycles as f64 / f.secs,
            f.cycles as f64 / f.items.max(1) as f64,
            f.results,
            f.unit,
        );
    }
    println!(
        "results: CRC/checksum values (one per frame), hashes, words or frames out, reads answered"
    );
    println!("note: the packet FIFO holds 32 words, so 1518-byte frames never fit and are all dropped; its figure is the input rate");
}
