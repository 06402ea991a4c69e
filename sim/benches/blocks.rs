//! `cargo bench -p oxnic-sim --bench blocks`: per verilated block, simulated cycles per wall
//! second and cycles per word (or per tuple) at full load. Figures, not pass/fail: wall-clock
//! numbers on a shared machine swing; cycles per word are exact.

use oxnic_sim::harness::Sim;
use std::time::Instant;

/// One measured run.
struct Figure {
    block: &'static str,
    cycles: u64,
    items: u64,
    unit: &'static str,
    secs: f64,
}

fn print(figs: &[Figure]) {
    println!(
        "{:<28} {:>12} {:>12} {:>14} {:>10}",
        "block", "cycles", "items", "cycles/s", "cyc/item"
    );
    for f in figs {
        println!(
            "{:<28} {:>12} {:>12} {:>14.0} {:>10.3} per {}",
            f.block,
            f.cycles,
            f.items,
            f.cycles as f64 / f.secs,
            f.cycles as f64 / f.items.max(1) as f64,
            f.unit
        );
    }
}

fn stream_register(cycles: u64) -> Figure {
    use oxnic_sim::models::oxnic_stream_register64::Model;
    let mut sim = Sim::new(Model::new()).expect("model has a clock");
    sim.model.set_source_ready(1);
    sim.model.set_sink_valid(1);
    sim.model.set_sink_keep(0xff);
    let t = Instant::now();
    for i in 0..cycles {
        sim.model.set_sink_data(i);
        sim.model.set_sink_last(u64::from(i % 8 == 7));
        sim.tick();
    }
    let secs = t.elapsed().as_secs_f64();
    Figure {
        block: "oxnic_stream_register64",
        cycles,
        items: sim.model.get_words(),
        unit: "word",
        secs,
    }
}

fn main() {
    // `cargo test --benches` runs bench targets with no arguments other than `--bench`-less
    // flags; keep that quick.
    let quick = !std::env::args().any(|a| a == "--bench");
    let n = if quick { 10_000 } else { 2_000_000 };
    let figs = vec![stream_register(n)];
    print(&figs);
}
