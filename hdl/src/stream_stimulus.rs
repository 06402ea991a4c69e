//! Stimulus for blocks with a [`StreamSink`](crate::stream::StreamSink) input: frames cut into
//! 64-bit words (any multiple of 64 bits for [`backpressure_stream_stimulus`]) with idle cycles
//! between and inside them, as a [`Stimulus`] that both rust-hdl (through [`Bench`]) and the
//! Verilator differential runner can replay. [`backpressure_stream_stimulus`] also drives the
//! `ready` of the block's stream output, for blocks that must hold words under backpressure.
//!
//! Idle cycles carry random data, `keep`, `last` and side inputs, so a block that looks at a
//! word without `valid` (or at a side input outside the cycle it is sampled) shows up as a
//! mismatch against the reference model rather than passing by luck.

use crate::stream::{bytes_to_port, frame_to_words, keep_mask, Backpressure};
use crate::testbench::{Bench, SetInputs, Stimulus, TbError};
use rand::Rng;
use rust_hdl::prelude::Block;

/// Bytes per stream word (the card's 64-bit datapath).
pub const WORD_BYTES: usize = 8;

/// One frame to send and how to space its words.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StreamFrame {
    /// The frame's bytes.
    pub bytes: Vec<u8>,
    /// Idle cycles before each word (one entry per word; missing entries are zero).
    pub gaps: Vec<usize>,
    /// Side inputs set on the cycle of the frame's first word (e.g. a start offset).
    pub with_first: Vec<(&'static str, Vec<u64>)>,
}

/// A side input that is randomised on every cycle where the block must not sample it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scramble {
    /// Verilog port name.
    pub port: &'static str,
    /// Its width in bits (at most 64).
    pub bits: u32,
}

/// The stimulus and, for each frame, the cycle (index into the stimulus) of its last word.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    /// Inputs per cycle.
    pub stimulus: Stimulus,
    /// `last_cycle[i]`: cycle in which frame `i`'s last word is presented.
    pub last_cycle: Vec<usize>,
}

fn random_bits(rng: &mut impl Rng, bits: u32) -> u64 {
    let v: u64 = rng.gen();
    if bits >= 64 {
        v
    } else {
        v & ((1u64 << bits) - 1)
    }
}

/// The Verilog port names of one stream input interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamPorts {
    /// `iface$data`.
    pub data: &'static str,
    /// `iface$keep`.
    pub keep: &'static str,
    /// `iface$last`.
    pub last: &'static str,
    /// `iface$user`.
    pub user: &'static str,
    /// `iface$valid`.
    pub valid: &'static str,
}

/// The ports of an interface named `sink`, the usual name of a block's stream input.
pub const SINK: StreamPorts = StreamPorts {
    data: "sink$data",
    keep: "sink$keep",
    last: "sink$last",
    user: "sink$user",
    valid: "sink$valid",
};

/// Serialises `frames` onto the stream input `ports`. Every cycle sets every stream port, so the
/// stimulus does not depend on the inputs' initial values.
pub fn stream_plan(
    frames: &[StreamFrame],
    ports: StreamPorts,
    scramble: &[Scramble],
    rng: &mut impl Rng,
) -> Plan {
    plan(frames, WORD_BYTES, ports, scramble, rng)
}

/// [`stream_plan`] for words of `width_bytes` bytes (a multiple of 8): the one serialiser
/// behind every stimulus of this module.
fn plan(
    frames: &[StreamFrame],
    width_bytes: usize,
    ports: StreamPorts,
    scramble: &[Scramble],
    rng: &mut impl Rng,
) -> Plan {
    let StreamPorts {
        data,
        keep,
        last,
        user,
        valid,
    } = ports;
    let data_words = width_bytes.div_ceil(8);
    let mut plan = Plan::default();
    let idle = |rng: &mut _| -> Vec<(&'static str, Vec<u64>)> {
        let mut c = vec![
            (
                data,
                (0..data_words).map(|_| random_bits(rng, 64)).collect(),
            ),
            (keep, vec![random_bits(rng, width_bytes as u32)]),
            (last, vec![random_bits(rng, 1)]),
            (user, vec![random_bits(rng, 1)]),
            (valid, vec![0]),
        ];
        c.extend(
            scramble
                .iter()
                .map(|s| (s.port, vec![random_bits(rng, s.bits)])),
        );
        c
    };
    for f in frames {
        for (i, w) in frame_to_words(&f.bytes, width_bytes, false)
            .into_iter()
            .enumerate()
        {
            for _ in 0..f.gaps.get(i).copied().unwrap_or(0) {
                plan.stimulus.push(idle(rng));
            }
            // Bytes past `keep` are random: the block must ignore them.
            let d: Vec<u64> = bytes_to_port(&w.bytes)
                .into_iter()
                .enumerate()
                .map(|(k, word)| {
                    let junk: u64 = rng.gen();
                    let n = w.len.saturating_sub(8 * k).min(8);
                    let m64 = if n == 8 {
                        u64::MAX
                    } else {
                        (1u64 << (8 * n)) - 1
                    };
                    (word & m64) | (junk & !m64)
                })
                .collect();
            let mut c = vec![
                (data, d),
                (keep, vec![keep_mask(w.len) as u64]),
                (last, vec![u64::from(w.last)]),
                (user, vec![random_bits(rng, 1)]),
                (valid, vec![1]),
            ];
            if i == 0 {
                c.extend(f.with_first.iter().cloned());
            } else {
                c.extend(
                    scramble
                        .iter()
                        .map(|s| (s.port, vec![random_bits(rng, s.bits)])),
                );
            }
            if w.last {
                plan.last_cycle.push(plan.stimulus.len());
            }
            plan.stimulus.push(c);
        }
    }
    plan
}

/// A frame length from 1 to `max`, biased towards short frames and word-boundary corners.
pub fn random_len(rng: &mut impl Rng, max: usize) -> usize {
    let max = max.max(1);
    match rng.gen_range(0..4) {
        0 => rng.gen_range(1..=max.min(24)),
        1 => rng.gen_range(1..=max.min(128)),
        2 => (rng.gen_range(1..=max.div_ceil(8)) * 8 + rng.gen_range(0..3)).clamp(1, max),
        _ => rng.gen_range(1..=max),
    }
}

/// Idle cycles before each of `words` words: back to back with probability `1 - p_gap`.
pub fn random_gaps(rng: &mut impl Rng, words: usize, p_gap: f64) -> Vec<usize> {
    (0..words)
        .map(|_| {
            if rng.gen_bool(p_gap) {
                rng.gen_range(1..=3)
            } else {
                0
            }
        })
        .collect()
}

/// The value input `port` holds during `cycle` (inputs keep their value until set again; an input
/// never set is zero).
pub fn value_at(stimulus: &Stimulus, port: &str, cycle: usize) -> Vec<u64> {
    stimulus[..=cycle]
        .iter()
        .rev()
        .find_map(|c| c.iter().rev().find(|(n, _)| *n == port))
        .map_or_else(|| vec![0], |(_, v)| v.clone())
}

/// A frame as a stream sink sees it in a stimulus.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SeenFrame {
    /// The enabled bytes of its words.
    pub bytes: Vec<u8>,
    /// Cycle of its first word.
    pub first_cycle: usize,
    /// Cycle of its last word.
    pub last_cycle: usize,
}

/// The frames a sink that is always ready receives from `stimulus` (a frame still open at the end
/// is left out): the reference side of a block test, read back from the stimulus itself.
pub fn decode_frames(stimulus: &Stimulus, ports: StreamPorts) -> Vec<SeenFrame> {
    let mut cur = [0u64; 4]; // data, keep, last, valid
    let mut open: Option<SeenFrame> = None;
    let mut done = vec![];
    for (c, cycle) in stimulus.iter().enumerate() {
        for (n, v) in cycle {
            let w = v.first().copied().unwrap_or(0);
            match *n {
                x if x == ports.data => cur[0] = w,
                x if x == ports.keep => cur[1] = w,
                x if x == ports.last => cur[2] = w,
                x if x == ports.valid => cur[3] = w,
                _ => {}
            }
        }
        if cur[3] & 1 == 0 {
            continue;
        }
        let f = open.get_or_insert_with(|| SeenFrame {
            first_cycle: c,
            ..SeenFrame::default()
        });
        let bytes = cur[0].to_le_bytes();
        f.bytes.extend(
            (0..WORD_BYTES)
                .filter(|b| cur[1] & (1 << b) != 0)
                .map(|b| bytes[b]),
        );
        if cur[2] & 1 != 0 {
            let mut f = open.take().unwrap_or_default();
            f.last_cycle = c;
            done.push(f);
        }
    }
    done
}

/// Random frames of 1 to `max_len` bytes with random gaps, serialised until the stimulus has
/// `cycles` cycles (the last frame may be cut short; idle cycles pad it to length).
pub fn random_stream_stimulus(
    rng: &mut impl Rng,
    cycles: usize,
    max_len: usize,
    side: impl FnMut(&mut dyn rand::RngCore, &[u8]) -> Vec<(&'static str, Vec<u64>)>,
    scramble: &[Scramble],
) -> Stimulus {
    random_frames(rng, cycles, WORD_BYTES, max_len, side, scramble)
}

/// Open-loop stimulus for a block with a stream in (`sink`) and a stream out (`source`) of
/// `width_bytes`-byte words (a multiple of 8): the frames of [`random_stream_stimulus`] (random
/// error bits, junk on idle cycles and past `keep`), and `source$ready` cycling through every
/// [`Backpressure`] pattern in phases of 64 cycles. The frames move on whether or not the block
/// takes their words, so both simulators see the same inputs whatever they answer.
pub fn backpressure_stream_stimulus(
    width_bytes: usize,
    max_len: usize,
    seed: u64,
    cycles: usize,
) -> Stimulus {
    use rand::SeedableRng;
    const PHASE: usize = 64;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut s = random_frames(&mut rng, cycles, width_bytes, max_len, |_, _| vec![], &[]);
    for (c, set) in s.iter_mut().enumerate() {
        let pattern = Backpressure::ALL[(c / PHASE) % Backpressure::ALL.len()];
        set.push((
            "source$ready",
            vec![u64::from(pattern.ready(c as u64, &mut rng))],
        ));
    }
    s
}

/// [`random_stream_stimulus`] for words of `width_bytes` bytes.
fn random_frames(
    rng: &mut impl Rng,
    cycles: usize,
    width_bytes: usize,
    max_len: usize,
    mut side: impl FnMut(&mut dyn rand::RngCore, &[u8]) -> Vec<(&'static str, Vec<u64>)>,
    scramble: &[Scramble],
) -> Stimulus {
    let mut frames = vec![];
    let mut words = 0;
    while words < cycles {
        let len = random_len(rng, max_len);
        let bytes: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
        let n = len.div_ceil(width_bytes);
        let p_gap = [0.0, 0.1, 0.5][rng.gen_range(0..3)];
        let gaps = random_gaps(rng, n, p_gap);
        words += n + gaps.iter().sum::<usize>();
        let with_first = side(rng, &bytes);
        frames.push(StreamFrame {
            bytes,
            gaps,
            with_first,
        });
    }
    let mut s = plan(&frames, width_bytes, SINK, scramble, rng).stimulus;
    s.truncate(cycles);
    s
}

/// Replays `stimulus` on `bench` and returns, for each cycle, the low 64 bits of each output in
/// `watch` (0 if there is no such output) read after that cycle's rising edge: a registered
/// output set by cycle `c`'s inputs shows up in entry `c`.
pub fn run_stimulus<B: Block + SetInputs>(
    bench: &mut Bench<B>,
    stimulus: &Stimulus,
    watch: &[&str],
) -> Result<Vec<Vec<u64>>, TbError> {
    let mut out = Vec::with_capacity(stimulus.len());
    for cycle in stimulus {
        for (name, words) in cycle {
            bench.set(name, words)?;
        }
        // Inputs settle before the edge, as they would from upstream registers.
        bench.settle()?;
        bench.tick()?;
        let all = bench.outputs();
        out.push(
            watch
                .iter()
                .map(|w| {
                    all.iter()
                        .find(|(n, _)| n == w)
                        .map_or(0, |(_, v)| v.first().copied().unwrap_or(0))
                })
                .collect(),
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn plan_places_words_gaps_and_side_inputs() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let frames = [
            StreamFrame {
                bytes: (1..=10).collect(),
                gaps: vec![2, 1],
                with_first: vec![("start", vec![14])],
            },
            StreamFrame {
                bytes: vec![0xaa],
                gaps: vec![],
                with_first: vec![("start", vec![0])],
            },
        ];
        let scr = [Scramble {
            port: "start",
            bits: 16,
        }];
        let p = stream_plan(&frames, SINK, &scr, &mut rng);
        // 2 idle, word 0, 1 idle, word 1 (last), then frame 2 back to back.
        assert_eq!(p.stimulus.len(), 6);
        assert_eq!(p.last_cycle, vec![4, 5]);
        let get = |c: usize, n: &str| {
            p.stimulus[c]
                .iter()
                .rev()
                .find(|(k, _)| *k == n)
                .map(|(_, v)| v[0])
                .unwrap()
        };
        assert_eq!(get(0, "sink$valid"), 0);
        assert_eq!(get(2, "sink$valid"), 1);
        assert_eq!(get(2, "start"), 14);
        assert_eq!(get(2, "sink$data"), 0x0807_0605_0403_0201);
        assert_eq!(get(4, "sink$keep"), 0b11);
        assert_eq!(get(4, "sink$data") & 0xffff, 0x0a09);
        assert_eq!(get(4, "sink$last"), 1);
        assert_eq!(get(5, "sink$data") & 0xff, 0xaa);
        assert_eq!(get(5, "start"), 0);
    }
}
