//! `cargo bench -p oxnic-sim --bench nic`: the whole card (`oxnic_nic`, verilated, behind
//! `SimDevice`) at full load.
//!
//! Modes (`OXNIC_BENCH`):
//! - unset: RX and TX at 64, 128, 512, 1518 and 9000-byte frames (wire sizes, FCS included)
//!   with checksum offload and RSS on — simulated cycles per frame in steady state and % of the
//!   line rate at the datapath width (a frame of L bytes plus 20 bytes of preamble and gap
//!   takes (L+20)/8 cycles at 100 %) — then where a lone TX frame's time goes, then Verilator
//!   speed (simulated cycles per wall second, idle and under RX+TX load).
//! - `callgrind`: setup, then `OXNIC_BENCH_CYCLES` (default 100,000) cycles of RX+TX load and
//!   nothing else, for `valgrind --tool=callgrind`: run it twice with different cycle counts
//!   and divide the difference of the instruction counts by the difference of the cycles to
//!   get instructions per simulated cycle without the setup.
//! - `synth`: yosys cell and flop counts of every catalog block except the whole card (whose
//!   full flattening takes too long); minutes.
//!
//! Cycle figures are exact and repeatable (lock-step virtual time); wall-clock rates swing on a
//! shared machine. Without `--bench` (as `cargo test --benches` runs it) each figure is taken
//! over a short run.

use oxnic_abi::desc::{tx_flags, Cpl, CplView, RxDesc, TxDesc};
use oxnic_abi::features::{DEFAULT_RSS_KEY, RETA_SIZE};
use oxnic_abi::regs::{cq, port, rxq, txq};
use oxnic_driver::Bar;
use oxnic_hdl::frame_gen::{Ipv4Frame, L4};
use oxnic_sim::bare;
use oxnic_sim::hostmem::Perm;
use oxnic_sim::{SimConfig, SimDevice};
use std::time::Instant;

/// Wire sizes measured, FCS included.
const SIZES: [usize; 5] = [64, 128, 512, 1518, 9000];
/// Queues used in each direction.
const RX_QUEUES: usize = 8;
const TX_QUEUES: usize = 4;
/// IOVA layout: each queue gets its own window.
const RX_BASE: u64 = 0x1_0000_0000;
const TX_BASE: u64 = 0x2_0000_0000;
const WINDOW: u64 = 0x400_0000;
const RING: u64 = 0;
const CQ_RING: u64 = 0x10_0000;
const BUFS: u64 = 0x20_0000;
/// Cycles between host polls: a driver's NAPI loop reposting buffers and filling rings.
const POLL_CYCLES: u64 = 64;
/// Distinct flows (UDP source ports) so that RSS spreads frames over every RX queue.
const FLOWS: usize = 64;
/// Bytes between preamble+gap accounting and the datapath width.
const GAP: usize = 20;
const WORD_BYTES: usize = 8;

struct Queue {
    log2: u32,
    /// Descriptors posted (driver's producer index).
    prod: u16,
    /// Completions consumed.
    cons: u16,
    cq: u32,
    window: u64,
}

impl Queue {
    fn outstanding(&self) -> u16 {
        self.prod.wrapping_sub(self.cons)
    }
}

/// The card driven by hand through its registers and rings in simulator-owned memory.
struct Card {
    dev: SimDevice,
    rx: Vec<Queue>,
    tx: Vec<Queue>,
    /// Completions whose length was not the frame's (would mean the bench measures garbage).
    bad_len: u64,
}

impl Card {
    /// Port up (promiscuous, MTU 9000), checksum offload and RSS on, the wire at the
    /// datapath's rate.
    fn new() -> Card {
        let cfg = SimConfig {
            line_bits_per_cycle: 64,
            ..SimConfig::default()
        };
        let dev = SimDevice::new(cfg).expect("verilated card");
        bare::port_up(&dev, 9000);
        bare::set_key(&dev, &DEFAULT_RSS_KEY);
        let reta: Vec<u8> = (0..RETA_SIZE).map(|i| (i % RX_QUEUES) as u8).collect();
        bare::set_reta(&dev, &reta);
        Card {
            dev,
            rx: Vec::new(),
            tx: Vec::new(),
            bad_len: 0,
        }
    }

    /// RX queues 0.. with `2^log2` buffers of `buf_size` bytes each, all posted.
    fn setup_rx(&mut self, log2: u32, buf_size: u32) {
        for q in 0..RX_QUEUES {
            let w = RX_BASE + q as u64 * WINDOW;
            let n = 1u64 << log2;
            assert!(
                BUFS + n * u64::from(buf_size) <= WINDOW,
                "RX window too small"
            );
            self.dev
                .map_owned(w + RING, n * RxDesc::LEN as u64, Perm::RO)
                .expect("RX ring mapping");
            self.dev
                .map_owned(w + CQ_RING, n * Cpl::LEN as u64, Perm::WO)
                .expect("RX CQ mapping");
            self.dev
                .map_owned(w + BUFS, n * u64::from(buf_size), Perm::WO)
                .expect("RX buffer mapping");
            self.dev
                .with_memory(|m| bare::fill_rx_ring(m, w + RING, w + BUFS, n, buf_size));
            let cqn = q as u32;
            bare::program_cq(&self.dev, cqn, w + CQ_RING, log2, q as u32);
            bare::program_rxq(&self.dev, q as u32, w + RING, log2, cqn);
            let prod = n as u16;
            self.dev
                .write32(rxq::reg(q as u32, rxq::entry::PROD), u32::from(prod));
            self.rx.push(Queue {
                log2,
                prod,
                cons: 0,
                cq: cqn,
                window: w,
            });
        }
    }

    /// TX queues 0.. with `2^log2` descriptors each; `frame` (checksum field holding the
    /// pseudo-header sum) is placed once in each queue's data area, and every descriptor
    /// points at it.
    fn setup_tx(&mut self, log2: u32, frame: &[u8], csum: (u16, u16)) {
        for q in 0..TX_QUEUES {
            let w = TX_BASE + q as u64 * WINDOW;
            let n = 1u64 << log2;
            self.dev
                .map_owned(w + RING, n * TxDesc::LEN as u64, Perm::RO)
                .expect("TX ring mapping");
            self.dev
                .map_owned(w + CQ_RING, n * Cpl::LEN as u64, Perm::WO)
                .expect("TX CQ mapping");
            self.dev
                .map_owned(w + BUFS, frame.len() as u64, Perm::RO)
                .expect("TX data mapping");
            let d = TxDesc {
                addr: w + BUFS,
                len: frame.len() as u32,
                flags: tx_flags::FIRST | tx_flags::LAST | tx_flags::CSUM,
                csum_start: csum.0,
                csum_offset: csum.1,
                ..Default::default()
            };
            self.dev.with_memory(|m| {
                m.host_slice_mut(w + BUFS, frame.len())
                    .expect("mapped data")
                    .copy_from_slice(frame);
                for i in 0..n {
                    m.host_slice_mut(w + RING + i * TxDesc::LEN as u64, TxDesc::LEN)
                        .expect("mapped ring")
                        .copy_from_slice(&d.to_bytes());
                }
            });
            let cqn = (8 + q) as u32;
            bare::program_cq(&self.dev, cqn, w + CQ_RING, log2, q as u32);
            bare::program_txq(&self.dev, q as u32, w + RING, log2, cqn);
            self.tx.push(Queue {
                log2,
                prod: 0,
                cons: 0,
                cq: cqn,
                window: w,
            });
        }
    }

    /// Consumes the new completions of a queue; returns how many, and whether each had length
    /// `want_len` (RX) — counted in `bad_len` otherwise.
    fn reap(dev: &SimDevice, q: &mut Queue, want_len: Option<u32>, bad_len: &mut u64) -> u16 {
        let mut cons = q.cons;
        dev.with_memory(|m| {
            bare::walk_cpls(m, q.window + CQ_RING, q.log2, &mut cons, |raw| {
                if let Some(want) = want_len {
                    let ok = CplView::new_checked(raw)
                        .ok()
                        .and_then(|v| Cpl::parse(&v).ok())
                        .is_some_and(|c| c.len == want);
                    *bad_len += u64::from(!ok);
                }
            })
        });
        let n = cons.wrapping_sub(q.cons);
        if n > 0 {
            q.cons = cons;
            dev.write32(cq::reg(q.cq, cq::entry::CONS), u32::from(cons));
        }
        n
    }

    /// RX poll: takes completions and reposts their buffers at once; returns frames received.
    fn poll_rx(&mut self, frame_len: u32) -> u64 {
        let mut got = 0;
        for (i, q) in self.rx.iter_mut().enumerate() {
            let n = Self::reap(&self.dev, q, Some(frame_len), &mut self.bad_len);
            if n > 0 {
                q.prod = q.prod.wrapping_add(n);
                self.dev
                    .write32(rxq::reg(i as u32, rxq::entry::PROD), u32::from(q.prod));
            }
            got += u64::from(n);
        }
        got
    }

    /// TX poll: takes completions and refills every ring to full (one doorbell per queue).
    fn poll_tx(&mut self) {
        for (i, q) in self.tx.iter_mut().enumerate() {
            Self::reap(&self.dev, q, None, &mut self.bad_len);
            let room = (1u16 << q.log2) - 1 - q.outstanding();
            if room > 0 {
                q.prod = q.prod.wrapping_add(room);
                self.dev
                    .write32(txq::reg(i as u32, txq::entry::PROD), u32::from(q.prod));
            }
        }
    }

    fn counter(&self, off: u32) -> u64 {
        self.dev.read_ctr64(port::BASE + off)
    }
}

/// A UDP frame of `wire` bytes on the wire (FCS included) for flow `flow`, with a correct
/// checksum (the RX side), and its CHECKSUM_PARTIAL form with the checksum field holding the
/// pseudo-header sum (the TX side), with (csum_start, csum_offset).
fn udp_frame(wire: usize, flow: usize) -> (Vec<u8>, Vec<u8>, (u16, u16)) {
    let payload: Vec<u8> = (0..wire - 4 - 42)
        .map(|i| (i.wrapping_mul(0x9e37_79b9) >> 13) as u8)
        .collect();
    let mut spec = Ipv4Frame::udp(
        [10, 0, 0, 1],
        [10, 0, 1, (flow % 250) as u8 + 1],
        10_000 + flow as u16,
        4789,
        &payload,
    );
    spec.id = flow as u16;
    let full = spec.build();
    assert_eq!(full.len() + 4, wire, "frame size");
    let l4 = spec.l4_offset();
    let proto = match spec.l4 {
        L4::Udp { .. } => 17,
        _ => unreachable!("built as UDP"),
    };
    let ph = oxnic_abi::checksum::fold(oxnic_abi::checksum::pseudo_header(
        spec.src,
        spec.dst,
        proto,
        (full.len() - l4) as u16,
    ));
    let mut partial = full.clone();
    partial[l4 + 6..l4 + 8].copy_from_slice(&ph.to_be_bytes());
    (full, partial, (l4 as u16, 6))
}

/// Cycles a `wire`-byte TX frame occupies the 128-bit DMA read port: its bytes without the FCS
/// (the MAC appends it) in 64-bit words, as the TX engine takes a response word's halves one a
/// cycle, plus its 32-byte descriptor in two 128-bit words.
fn read_port_cycles(wire: usize) -> usize {
    (wire - 4).div_ceil(WORD_BYTES) + 32 / (2 * WORD_BYTES)
}

/// Cycles a frame of `wire` bytes takes at 100 % line rate on the 64-bit datapath.
fn ideal_cycles(wire: usize) -> f64 {
    (wire + GAP) as f64 / WORD_BYTES as f64
}

/// Frames to measure over (after as many again of warm-up): about `budget` cycles' worth.
fn frames_for(wire: usize, budget: u64) -> u64 {
    ((budget as f64 / ideal_cycles(wire)) as u64).clamp(40, 20_000)
}

struct RxFigure {
    frames: u64,
    /// DMA write requests and bytes per delivered frame (frame data and completions).
    writes: f64,
    write_bytes: f64,
    cycles: u64,
    missed: u64,
    no_buffer: u64,
    bad_len: u64,
    secs: f64,
}

/// Keeps the wire busy at line rate with buffers always posted; measures the cycles between
/// the `warm`-th and the `warm + n`-th delivered frame.
fn rx_bench(wire: usize, n: u64) -> RxFigure {
    let mut c = Card::new();
    let (log2, buf) = if wire > 2048 { (6, 9216) } else { (9, 2048) };
    c.setup_rx(log2, buf);
    let frames: Vec<Vec<u8>> = (0..FLOWS).map(|f| udp_frame(wire, f).0).collect();
    let warm = n.clamp(20, 2000);
    let (mut sent, mut got) = (0usize, 0u64);
    let mut start: Option<(u64, Instant, oxnic_sim::pcie::DmaStats)> = None;
    let end_at = warm + n;
    c.dev.run(2000);
    loop {
        // A few frames ahead so the wire never idles.
        while c.dev.rx_backlog() < 8 {
            c.dev.send_frame(&frames[sent % FLOWS]);
            sent += 1;
        }
        c.dev.run(POLL_CYCLES);
        got += c.poll_rx((wire - 4) as u32);
        if start.is_none() && got >= warm {
            start = Some((c.dev.cycle(), Instant::now(), c.dev.dma_stats()));
        }
        if got >= end_at {
            break;
        }
    }
    let (c0, t0, s0) = start.expect("warm-up ended");
    let cycles = c.dev.cycle() - c0;
    let secs = t0.elapsed().as_secs_f64();
    let s = c.dev.dma_stats();
    let frames = got - warm;
    RxFigure {
        frames,
        writes: (s.writes - s0.writes) as f64 / frames as f64,
        write_bytes: (s.write_bytes - s0.write_bytes) as f64 / frames as f64,
        cycles,
        missed: c.counter(port::RX_MISSED),
        no_buffer: c.counter(port::RX_NO_BUFFER),
        bad_len: c.bad_len,
        secs,
    }
}

struct TxFigure {
    frames: u64,
    /// DMA read requests and bytes per frame (descriptors and data).
    reads: f64,
    read_bytes: f64,
    cycles: u64,
    bad: u64,
}

/// Keeps `TX_QUEUES` rings full; measures the cycles between the `warm`-th and the
/// `warm + n`-th frame leaving on the wire (exact: the wire stamps each frame's last word).
fn tx_bench(wire: usize, n: u64) -> TxFigure {
    let mut c = Card::new();
    let (_, partial, csum) = udp_frame(wire, 0);
    c.setup_tx(8, &partial, csum);
    let warm = n.clamp(10, 500);
    let mut stamps = Vec::new();
    let mut bad = 0;
    let mut s0 = None;
    while (stamps.len() as u64) < warm + n + 1 {
        if s0.is_none() && stamps.len() as u64 > warm {
            s0 = Some((stamps.len(), c.dev.dma_stats()));
        }
        c.poll_tx();
        c.dev.run(POLL_CYCLES * 4);
        for f in c.dev.take_tx_frames() {
            bad += u64::from(f.bytes.len() != wire);
            stamps.push(f.cycle);
        }
    }
    let w = warm as usize;
    let (k0, s0) = s0.expect("warm-up ended");
    let s = c.dev.dma_stats();
    let k = (stamps.len() - k0) as f64;
    TxFigure {
        frames: n,
        reads: (s.reads - s0.reads) as f64 / k,
        read_bytes: (s.read_bytes - s0.read_bytes) as f64 / k,
        cycles: stamps[w + n as usize] - stamps[w],
        bad,
    }
}

/// One TX frame on an idle card, stepped cycle by cycle: when the descriptor read, the data
/// read, the wire and the completion happen after the doorbell.
fn tx_trace(wire: usize) -> Vec<(&'static str, u64)> {
    let mut c = Card::new();
    let (_, partial, csum) = udp_frame(wire, 0);
    c.setup_tx(4, &partial, csum);
    c.dev.run(1000);
    let s0 = c.dev.dma_stats();
    c.tx[0].prod = 1;
    c.dev.write32(txq::reg(0, txq::entry::PROD), 1);
    let bell = c.dev.cycle();
    let mut events = vec![("doorbell written", 0)];
    let mut reads = s0.reads;
    let mut first_word = None;
    let mut done = false;
    for _ in 0..20_000 {
        c.dev.run(1);
        let s = c.dev.dma_stats();
        let t = c.dev.cycle() - bell;
        if s.reads > reads {
            events.push((
                if reads == s0.reads {
                    "descriptor read request accepted"
                } else {
                    "data read request accepted"
                },
                t,
            ));
            reads = s.reads;
        }
        if let Some(f) = c.dev.take_tx_frames().pop() {
            if first_word.is_none() {
                first_word = Some(f.cycle);
                let words = wire.div_ceil(WORD_BYTES) as u64;
                events.push((
                    "first word on the wire (last word - words + 1)",
                    (f.cycle + 1).saturating_sub(words) - bell,
                ));
                events.push(("last word on the wire", f.cycle - bell));
            }
        }
        if s.writes > s0.writes && !done {
            events.push(("completion written", t));
            done = true;
        }
        if done && first_word.is_some() {
            break;
        }
    }
    events.sort_by_key(|e| e.1);
    events
}

/// Simulated cycles per wall second: idle, and with RX (wire at line rate, 512-byte frames)
/// and TX (rings full) running together. Returns (idle, loaded) as (cycles, seconds).
fn speed(cycles: u64) -> ((u64, f64), (u64, f64)) {
    let c = Card::new();
    c.dev.run(1000);
    let t = Instant::now();
    c.dev.run(cycles);
    let idle = (cycles, t.elapsed().as_secs_f64());
    let mut c = loaded_card(512);
    let t = Instant::now();
    let c0 = c.dev.cycle();
    load(&mut c, 512, cycles);
    let loaded = (c.dev.cycle() - c0, t.elapsed().as_secs_f64());
    (idle, loaded)
}

/// A card with RX and TX both set up for `wire`-byte frames and warmed up.
fn loaded_card(wire: usize) -> Card {
    let mut c = Card::new();
    c.setup_rx(9, 2048);
    let (_, partial, csum) = udp_frame(wire, 0);
    c.setup_tx(8, &partial, csum);
    c.dev.run(2000);
    c
}

/// Runs RX at line rate and TX with full rings for about `cycles` cycles.
fn load(c: &mut Card, wire: usize, cycles: u64) {
    let frames: Vec<Vec<u8>> = (0..FLOWS).map(|f| udp_frame(wire, f).0).collect();
    let end = c.dev.cycle() + cycles;
    let mut sent = 0;
    while c.dev.cycle() < end {
        while c.dev.rx_backlog() < 8 {
            c.dev.send_frame(&frames[sent % FLOWS]);
            sent += 1;
        }
        c.poll_tx();
        c.dev.run(POLL_CYCLES);
        c.poll_rx((wire - 4) as u32);
        c.dev.take_tx_frames();
    }
}

fn synth_table() {
    println!("yosys `synth -flatten` per block (the whole card, oxnic_nic, left out)");
    println!(
        "{:<32} {:>10} {:>8} {:>8}",
        "block", "cells", "flops", "secs"
    );
    for e in oxnic_hdl::catalog::all() {
        if e.name == "oxnic_nic" {
            continue;
        }
        let t = Instant::now();
        let r = (e.verilog)()
            .map_err(|err| err.to_string())
            .and_then(|v| oxnic_hdl::synth::yosys_synth(e.name, &v).map_err(|e| e.to_string()));
        match r {
            Ok(r) => println!(
                "{:<32} {:>10} {:>8} {:>8.1}",
                e.name,
                r.cells,
                r.flops,
                t.elapsed().as_secs_f64()
            ),
            Err(err) => println!("{:<32} failed: {err}", e.name),
        }
    }
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let mode = std::env::var("OXNIC_BENCH").unwrap_or_default();
    match mode.as_str() {
        "synth" => return synth_table(),
        "callgrind" => {
            let cycles: u64 = std::env::var("OXNIC_BENCH_CYCLES")
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(100_000);
            let mut c = loaded_card(512);
            let c0 = c.dev.cycle();
            load(&mut c, 512, cycles);
            println!(
                "callgrind mode: {} cycles of RX+TX load at 512-byte frames after {c0} cycles of setup",
                c.dev.cycle() - c0
            );
            return;
        }
        "" => {}
        other => {
            eprintln!("OXNIC_BENCH={other}: unknown mode (use synth or callgrind, or unset)");
            std::process::exit(2);
        }
    }
    let budget = if full { 200_000 } else { 5_000 };

    println!("oxnic_nic, 64-bit datapath, wire at 64 bits/cycle, checksum offload + RSS on");
    println!(
        "RX: {RX_QUEUES} queues (RSS over {FLOWS} flows), buffers reposted every {POLL_CYCLES} cycles"
    );
    println!(
        "{:>6} {:>8} {:>10} {:>10} {:>8} {:>8} {:>9} {:>9} {:>9} {:>8}",
        "bytes",
        "frames",
        "cyc/frame",
        "ideal",
        "% line",
        "missed",
        "no_buffer",
        "wr/frame",
        "wrB/frame",
        "wall s"
    );
    for &wire in &SIZES {
        let r = rx_bench(wire, frames_for(wire, budget));
        let per = r.cycles as f64 / r.frames as f64;
        println!(
            "{:>6} {:>8} {:>10.2} {:>10.2} {:>7.1}% {:>8} {:>9} {:>9.2} {:>9.1} {:>8.2}",
            wire,
            r.frames,
            per,
            ideal_cycles(wire),
            100.0 * ideal_cycles(wire) / per,
            r.missed,
            r.no_buffer,
            r.writes,
            r.write_bytes,
            r.secs
        );
        if r.bad_len > 0 {
            println!("       {} completions with a wrong length", r.bad_len);
        }
    }

    println!("\nTX: {TX_QUEUES} queues, rings of 256 kept full, one segment per frame with a checksum request");
    println!(
        "{:>6} {:>8} {:>10} {:>10} {:>8} {:>9} {:>9} {:>9}",
        "bytes", "frames", "cyc/frame", "ideal", "% line", "rd port", "rd/frame", "rdB/frame"
    );
    for &wire in &SIZES {
        let r = tx_bench(wire, frames_for(wire, budget).min(2000));
        let per = r.cycles as f64 / r.frames as f64;
        println!(
            "{:>6} {:>8} {:>10.2} {:>10.2} {:>7.1}% {:>9} {:>9.2} {:>9.1}",
            wire,
            r.frames,
            per,
            ideal_cycles(wire),
            100.0 * ideal_cycles(wire) / per,
            read_port_cycles(wire),
            r.reads,
            r.read_bytes
        );
        if r.bad > 0 {
            println!("       {} frames of the wrong size on the wire", r.bad);
        }
    }

    println!(
        "(rd port: cycles a frame holds the 128-bit DMA read port, its 64-bit words plus its \
         descriptor's two 128-bit words)"
    );

    for wire in [64, 1518] {
        println!("\nOne {wire}-byte TX frame on an idle card, cycles after the doorbell:");
        for (what, t) in tx_trace(wire) {
            println!("  {t:>6}  {what}");
        }
    }

    let cycles = if full { 1_000_000 } else { 20_000 };
    let ((ic, is), (lc, ls)) = speed(cycles);
    println!("\nVerilator speed of the whole card, one thread:");
    println!(
        "  idle:              {:>10.0} cycles/s ({ic} cycles in {is:.2} s)",
        ic as f64 / is
    );
    println!(
        "  RX+TX load (512B): {:>10.0} cycles/s ({lc} cycles in {ls:.2} s)",
        lc as f64 / ls
    );
}
