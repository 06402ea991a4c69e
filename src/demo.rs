//! `oxnic demo`: the main job. Builds the card's blocks, checks them with the tools a board flow
//! uses, and runs real traffic through their Verilator models, checking every result against the
//! reference models.
//!
//! 1. every catalogued block: Verilog written, linted by Verilator, synthesized by yosys;
//! 2. the receive checks (CRC32 → checksum → packet FIFO) on random IPv4/UDP frames with their
//!    FCS, some corrupted: every FCS verdict, every ones'-complement sum (from the IPv4 header on)
//!    and every delivered frame checked byte for byte;
//! 3. RSS: random flows through the Toeplitz block under a random key, every hash checked, and
//!    the spread of flows over the queues of an 8-queue indirection table.
//!
//! Exit status is non-zero if any check fails.

use crate::Error;
use oxnic_abi::{checksum, features, toeplitz as reference};
use oxnic_hdl::frame_gen::Ipv4Frame;
use oxnic_hdl::stream::{bytes_to_port, frame_to_words, keep_mask};
use oxnic_hdl::{crc32, toeplitz};
use oxnic_sim::harness::Sim;
use oxnic_sim::models;
use rand::{Rng, SeedableRng};
use std::path::PathBuf;
use std::time::Instant;

/// Options of `oxnic demo`.
#[derive(Debug, Clone)]
pub struct Options {
    /// Seed of every random choice.
    pub seed: u64,
    /// Frames through the receive checks.
    pub frames: usize,
    /// Flows through RSS.
    pub flows: usize,
    /// Write the receive chain's waveform here.
    pub waves: Option<PathBuf>,
    /// Where to write the Verilog.
    pub verilog_dir: PathBuf,
}

fn fail(what: String) -> Error {
    Error::Check(what)
}

/// A random IPv4/UDP frame (without FCS) of `len` bytes (at least 42), checksums correct.
fn udp_frame(rng: &mut impl Rng, len: usize) -> Vec<u8> {
    let src = [10, 0, 0, rng.gen_range(1..255)];
    let dst = [10, 0, 1, rng.gen_range(1..255)];
    let sport = rng.gen_range(1024..65535);
    let payload: Vec<u8> = (0..len.max(42) - 42).map(|_| rng.gen()).collect();
    Ipv4Frame::udp(src, dst, sport, 7, &payload).build()
}

struct RxReport {
    frames: usize,
    bad_fcs: usize,
    delivered: usize,
    cycles: u64,
    words: u64,
    secs: f64,
}

type ChainSim = Sim<models::oxnic_rx_check_chain::Model>;

/// What the chain's outputs must show, in order.
#[derive(Default)]
struct RxExpect {
    /// Frames (with FCS) whose CRC and checksum are due, and whether the FCS was corrupted.
    verdicts: std::collections::VecDeque<(Vec<u8>, bool)>,
    /// Frames due out of the packet FIFO.
    frames: std::collections::VecDeque<Vec<u8>>,
    /// Bytes of the frame now leaving the FIFO.
    cur: Vec<u8>,
    delivered: usize,
}

impl RxExpect {
    fn check(&mut self, sim: &ChainSim) -> Result<(), Error> {
        let m = &sim.model;
        if m.get_crc_valid() == 1 {
            let (wire, corrupt) = self
                .verdicts
                .pop_front()
                .ok_or_else(|| fail("a CRC for no frame".into()))?;
            let fcs_ok = m.get_crc() as u32 == crc32::RESIDUE;
            if fcs_ok == corrupt || m.get_crc() as u32 != crc32fast::hash(&wire) {
                return Err(fail(format!(
                    "FCS verdict wrong on a {}-byte frame",
                    wire.len()
                )));
            }
            let want = checksum::fold(checksum::sum(&wire[14..], 0));
            if m.get_csum_valid() != 1 || m.get_csum() as u16 != want {
                return Err(fail(format!(
                    "checksum wrong on a {}-byte frame",
                    wire.len()
                )));
            }
        }
        if m.get_source_valid() == 1 {
            let n = m.get_source_keep().count_ones() as usize;
            self.cur
                .extend_from_slice(&m.get_source_data().to_le_bytes()[..n]);
            if m.get_source_last() == 1 {
                let want = self
                    .frames
                    .pop_front()
                    .ok_or_else(|| fail("a frame from nowhere".into()))?;
                if self.cur != want {
                    return Err(fail(format!("frame of {} bytes differs", self.cur.len())));
                }
                self.cur.clear();
                self.delivered += 1;
            }
        }
        Ok(())
    }
}

fn rx_checks(o: &Options, rng: &mut impl Rng) -> Result<RxReport, Error> {
    let mut sim =
        Sim::new(models::oxnic_rx_check_chain::Model::new()).map_err(|e| fail(e.to_string()))?;
    if let Some(w) = &o.waves {
        sim.trace_to(w).map_err(|e| fail(e.to_string()))?;
    }
    sim.model.set_source_ready(1);
    sim.model.set_start(14);
    let mut exp = RxExpect::default();
    let (mut bad, mut words) = (0usize, 0u64);
    let t = Instant::now();
    for _ in 0..o.frames {
        let len = rng.gen_range(60..=500);
        let frame = udp_frame(rng, len);
        let mut wire = frame.clone();
        wire.extend_from_slice(&crc32fast::hash(&frame).to_le_bytes());
        let corrupt = rng.gen_ratio(1, 50);
        if corrupt {
            let bit = rng.gen_range(0..wire.len() * 8);
            wire[bit / 8] ^= 1 << (bit % 8);
            bad += 1;
        }
        // The chain checks; turning a bad verdict into a drop is mac_rx's job, so every frame
        // comes out of the FIFO here.
        exp.frames.push_back(wire.clone());
        exp.verdicts.push_back((wire.clone(), corrupt));
        for w in frame_to_words(&wire, 8, false) {
            sim.model.set_sink_data(bytes_to_port(&w.bytes)[0]);
            sim.model.set_sink_keep(keep_mask(w.len) as u64);
            sim.model.set_sink_last(u64::from(w.last));
            sim.model.set_sink_valid(1);
            sim.eval();
            exp.check(&sim)?;
            sim.tick();
            words += 1;
        }
    }
    sim.model.set_sink_valid(0);
    for _ in 0..200 {
        sim.eval();
        exp.check(&sim)?;
        sim.tick();
    }
    if !exp.verdicts.is_empty() || !exp.frames.is_empty() {
        return Err(fail(format!(
            "{} verdicts and {} frames never came",
            exp.verdicts.len(),
            exp.frames.len()
        )));
    }
    Ok(RxReport {
        frames: o.frames,
        bad_fcs: bad,
        delivered: exp.delivered,
        cycles: sim.cycle(),
        words,
        secs: t.elapsed().as_secs_f64(),
    })
}

struct RssReport {
    flows: usize,
    per_queue: [usize; 8],
    cycles: u64,
    secs: f64,
}

fn rss(o: &Options, rng: &mut impl Rng) -> Result<RssReport, Error> {
    let key: [u8; features::RSS_KEY_LEN] = std::array::from_fn(|_| rng.gen());
    let reta: [u8; features::RETA_SIZE] = std::array::from_fn(|i| (i % 8) as u8);
    let mut sim =
        Sim::new(models::oxnic_toeplitz::Model::new()).map_err(|e| fail(e.to_string()))?;
    let kw = toeplitz::key_words(&key);
    sim.model.set_key(&std::array::from_fn(|i| {
        (kw[i / 2] >> (32 * (i % 2))) as u32
    }));
    let mut due = std::collections::VecDeque::new();
    let mut per_queue = [0usize; 8];
    let t = Instant::now();
    let mut check = |sim: &Sim<models::oxnic_toeplitz::Model>,
                     due: &mut std::collections::VecDeque<u32>|
     -> Result<(), Error> {
        if sim.model.get_hash_valid() == 1 {
            let want = due
                .pop_front()
                .ok_or_else(|| fail("a hash for no tuple".into()))?;
            let got = sim.model.get_hash() as u32;
            if got != want {
                return Err(fail(format!(
                    "RSS hash {got:#010x}, reference {want:#010x}"
                )));
            }
            per_queue[usize::from(reference::reta_queue(&reta, got))] += 1;
        }
        Ok(())
    };
    for _ in 0..o.flows {
        let src: [u8; 4] = rng.gen();
        let dst: [u8; 4] = rng.gen();
        let tuple = reference::ipv4_4tuple(src, dst, rng.gen(), rng.gen());
        due.push_back(reference::hash(&key, &tuple));
        let tw = toeplitz::tuple_words(&tuple);
        sim.model
            .set_tuple(&[tw[0] as u32, (tw[0] >> 32) as u32, tw[1] as u32]);
        sim.model.set_four_tuple(1);
        sim.model.set_tuple_valid(1);
        sim.tick();
        check(&sim, &mut due)?;
    }
    sim.model.set_tuple_valid(0);
    for _ in 0..toeplitz::LATENCY + 1 {
        sim.tick();
        check(&sim, &mut due)?;
    }
    if !due.is_empty() {
        return Err(fail(format!("{} tuples never hashed", due.len())));
    }
    Ok(RssReport {
        flows: o.flows,
        per_queue,
        cycles: sim.cycle(),
        secs: t.elapsed().as_secs_f64(),
    })
}

/// Runs the demo, printing as it goes.
pub fn run(o: &Options) -> Result<(), Error> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(o.seed);
    println!("oxnic demo (seed {})", o.seed);
    println!();
    println!(
        "1. the card's blocks: Verilog in {}",
        o.verilog_dir.display()
    );
    crate::verilog::run(&o.verilog_dir, &[], true)?;
    println!();
    println!("2. receive checks in Verilator (CRC32 -> checksum -> packet FIFO)");
    let r = rx_checks(o, &mut rng)?;
    println!(
        "   {} frames, {} with a corrupted FCS: every FCS verdict, checksum sum and delivered \
         byte matches the reference",
        r.frames, r.bad_fcs
    );
    println!(
        "   {} frames delivered; {} words in {} cycles = {:.3} cycles/word; {:.0} simulated cycles/s",
        r.delivered,
        r.words,
        r.cycles,
        r.cycles as f64 / r.words.max(1) as f64,
        r.cycles as f64 / r.secs
    );
    println!();
    println!("3. RSS in Verilator (Toeplitz, random 40-byte key, 8-queue indirection table)");
    let s = rss(o, &mut rng)?;
    println!(
        "   {} flows hashed, every hash equal to the reference; {:.3} cycles/flow; {:.0} simulated cycles/s",
        s.flows,
        s.cycles as f64 / s.flows.max(1) as f64,
        s.cycles as f64 / s.secs
    );
    let q: Vec<String> = s
        .per_queue
        .iter()
        .enumerate()
        .map(|(i, n)| format!("q{i} {n}"))
        .collect();
    println!("   flows per queue: {}", q.join(", "));
    if let Some(w) = &o.waves {
        println!();
        println!(
            "waveform of the receive checks: {} (open with GTKWave)",
            w.display()
        );
    }
    println!();
    println!("all checks passed");
    Ok(())
}
