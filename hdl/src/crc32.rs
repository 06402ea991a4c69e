//! Ethernet frame check sequence (CRC-32) over a 64-bit stream, one word per cycle: the FCS
//! generator of `mac_tx` and the FCS check of `mac_rx`.
//!
//! The CRC is IEEE 802.3's: reflected polynomial `0xEDB88320`, register preset to all ones,
//! result complemented — the value `crc32fast::hash(frame)` returns. Ethernet sends it least
//! significant byte first, so the FCS bytes on the wire are `crc.to_le_bytes()` (bits 7:0 of
//! `crc` first), which is also how they sit in a stream word (byte 0 in bits 7:0).
//!
//! A receiver can run the whole frame *including* its FCS through the block: the result is then
//! [`RESIDUE`] for a good frame.
//!
//! # How
//! The CRC register is GF(2)-linear in (register, data): after `n` bytes, each register bit is the
//! parity of a fixed subset of the 32 old register bits and the `8n` data bits. The subsets are
//! computed in Rust when the block is built ([`advance`] applied to unit vectors) and stored as
//! [`Constant`] masks, so the per-cycle logic is 32 AND-parity trees for each of the 8 possible
//! byte counts, selected by `keep`. For a whole word the register is first XORed into the data's
//! low four bytes (`advance(s, d, n) == advance(0, d ^ s, n)` for `n >= 4`), which leaves one
//! 64-input tree per bit instead of 96 inputs. No reset input: the running register starts preset (its
//! power-up value), and every `last` word presets it again for the next frame.
//!
//! rust-hdl has no bit concatenation, and a `#[hdl_gen]` kernel cannot accumulate into a signal
//! in a loop (`x = x | b` reads what it writes: blocking Verilog takes the new value, rust-hdl's
//! simulator the old one, a combinational loop), so the 32 parity bits are packed into a word by
//! one explicit OR of shifted bits, spelled out by the `crc32_logic!` macro.

use crate::stream::StreamSink;
use crate::testbench::{FromWords, Stimulus};
use rust_hdl::prelude::*;

/// IEEE 802.3 CRC-32 polynomial, bit-reversed (the register shifts right).
pub const POLY: u32 = 0xEDB8_8320;

/// Cycles from the rising edge that accepts a frame's last word to the edge after which `crc`
/// and `crc_valid` show its FCS: the result is registered by that same edge.
pub const LATENCY: usize = 1;

/// `crc` after a good frame followed by its own FCS (the CRC-32 "magic" residue, complemented).
pub const RESIDUE: u32 = 0x2144_DF1C;

/// The raw CRC register after shifting in the first `n` bytes of `data` (byte 0 in bits 7:0,
/// each byte least significant bit first) from `state`: no preset, no final complement.
pub const fn advance(state: u32, data: u64, n: usize) -> u32 {
    let mut s = state;
    let mut k = 0;
    while k < n {
        s ^= ((data >> (8 * k)) & 0xff) as u32;
        let mut b = 0;
        while b < 8 {
            s = if s & 1 != 0 { (s >> 1) ^ POLY } else { s >> 1 };
            b += 1;
        }
        k += 1;
    }
    s
}

/// Ethernet FCS of a stream of 64-bit words with byte enables.
///
/// Inputs:
/// - `clock`: all registers are on its rising edge;
/// - `sink`: the frame, a [`StreamSink`]. A word is taken on every rising edge with
///   `sink$valid` (`sink$ready` is always high: the block never stalls). `sink$keep` counts the
///   word's bytes and must be contiguous from byte 0 (only a frame's last word should be
///   partial; a partial word elsewhere still adds exactly its enabled bytes). A `keep` that is
///   zero or not such a prefix adds no bytes. `sink$user` is ignored. The word after a `last`
///   word starts the next frame, with no idle cycle needed.
///
/// Outputs:
/// - `crc`: the FCS of the most recent frame, as `crc32fast::hash` returns it (wire order
///   `crc.to_le_bytes()`); held until the next frame ends;
/// - `crc_valid`: high for one cycle, [`LATENCY`] cycle after the frame's last word, when `crc`
///   has just been updated.
#[derive(LogicBlock, Debug)]
pub struct Crc32 {
    /// Clock for every register.
    pub clock: Signal<In, Clock>,
    /// The frame; never back-pressured.
    pub sink: StreamSink<64, 8>,
    /// FCS of the last completed frame.
    pub crc: Signal<Out, Bits<32>>,
    /// Strobe: `crc` belongs to a frame that ended on the previous cycle.
    pub crc_valid: Signal<Out, Bit>,
    /// Running CRC register, preset at power-up and after every frame.
    state: DFFWithInit<Bits<32>>,
    /// Registered FCS output.
    fcs: DFF<Bits<32>>,
    /// Registered strobe.
    done: DFF<Bit>,
    /// The next register value, one bit per parity tree.
    bit: [Signal<Local, Bit>; 32],
    /// `bit` packed into a word.
    next: Signal<Local, Bits<32>>,
    /// The data word with the register folded into its first four bytes: for a whole word,
    /// the next register is a function of this alone (see [`Crc32::update`]).
    mixed: Signal<Local, Bits<64>>,
    /// The CRC register's value before a frame.
    preset: Constant<Bits<32>>,
    /// `keep` for `n + 1` bytes, at index `n`.
    keep_for: [Constant<Bits<8>>; 8],
    /// Old-register part of the parity tree of bit `j` after `n + 1` bytes, at `32 n + j`.
    state_mask: [Constant<Bits<32>>; 256],
    /// Data part of the same trees.
    data_mask: [Constant<Bits<64>>; 256],
}

impl Crc32 {
    /// Builds the block and its mask tables.
    pub fn new() -> Self {
        let at = |i: usize| (i / 32 + 1, i % 32); // (bytes, register bit)
        Crc32 {
            clock: Default::default(),
            sink: Default::default(),
            crc: Default::default(),
            crc_valid: Default::default(),
            state: DFFWithInit::new(u64::from(u32::MAX).into()),
            fcs: Default::default(),
            done: Default::default(),
            bit: core::array::from_fn(|_| Default::default()),
            next: Default::default(),
            mixed: Default::default(),
            preset: Constant::new(u64::from(u32::MAX).into()),
            keep_for: core::array::from_fn(|n| Constant::new(((2u64 << n) - 1).into())),
            state_mask: core::array::from_fn(|i| {
                let (n, j) = at(i);
                let m = (0..32)
                    .filter(|b| advance(1 << b, 0, n) >> j & 1 != 0)
                    .fold(0u64, |m, b| m | 1 << b);
                Constant::new(m.into())
            }),
            data_mask: core::array::from_fn(|i| {
                let (n, j) = at(i);
                let m = (0..64)
                    .filter(|b| advance(0, 1 << b, n) >> j & 1 != 0)
                    .fold(0u64, |m, b| m | 1 << b);
                Constant::new(Bits::<64>::from_words(&[m]))
            }),
        }
    }
}

impl Default for Crc32 {
    fn default() -> Self {
        Self::new()
    }
}

/// The kernel of [`Crc32`], with the packing of `bit` into `next` written out for bits `$j`.
macro_rules! crc32_logic {
    ($($j:tt)*) => {
        impl Logic for Crc32 {
            #[hdl_gen]
            fn update(&mut self) {
                dff_setup!(self, clock, state, fcs, done);
                self.sink.ready.next = true;
                // The next state is only worked out for a word (the parities are the block's
                // whole cost in a simulator that evaluates it every cycle); without one, `bit`
                // and `next` are unused and held at zero.
                // Shifting a byte in XORs it into the register's low byte first, so for four
                // bytes or more, the register can be folded into the data instead:
                // advance(s, d, n) = advance(0, d ^ s, n). A whole word (every word but a
                // frame's last) then needs one 64-bit parity tree per bit instead of a 32- and
                // a 64-bit one; the same in gates.
                self.mixed.next = self.sink.data.val() ^ bit_cast::<64, 32>(self.state.q.val());
                for j in 0..32 {
                    self.bit[j].next = false;
                }
                if self.sink.valid.val() {
                    if self.sink.keep.val() == self.keep_for[7].val() {
                        for j in 0..32 {
                            self.bit[j].next =
                                (self.mixed.val() & self.data_mask[224 + j].val()).xor();
                        }
                    } else {
                        // A `keep` that is no prefix adds no bytes.
                        for j in 0..32 {
                            self.bit[j].next = self.state.q.val().get_bit(j);
                        }
                        for n in 0..7 {
                            if self.sink.keep.val() == self.keep_for[n].val() {
                                for j in 0..32 {
                                    self.bit[j].next = ((self.state.q.val()
                                        & self.state_mask[32 * n + j].val())
                                    .xor())
                                        ^ ((self.sink.data.val()
                                            & self.data_mask[32 * n + j].val())
                                        .xor());
                                }
                            }
                        }
                    }
                }
                self.next.next = 0.into();
                if self.sink.valid.val() {
                    self.next.next = $((bit_cast::<32, 1>(self.bit[$j].val().into()) << $j))|*;
                }
                self.done.d.next = false;
                if self.sink.valid.val() {
                    if self.sink.last.val() {
                        self.state.d.next = self.preset.val();
                        self.fcs.d.next = !self.next.val();
                        self.done.d.next = true;
                    } else {
                        self.state.d.next = self.next.val();
                    }
                }
                self.crc.next = self.fcs.q.val();
                self.crc_valid.next = self.done.q.val();
            }
        }
    };
}

crc32_logic!(0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31);

crate::impl_set_inputs!(Crc32 {
    clock,
    sink.data,
    sink.keep,
    sink.last,
    sink.user,
    sink.valid
});

/// Random frames (1 to 1518 bytes, biased short) on `sink$*`, back to back or with random idle
/// cycles, for `cycles` cycles; the same `seed` gives the same stimulus.
pub fn random_stimulus(seed: u64, cycles: usize) -> Stimulus {
    use rand::SeedableRng;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    crate::stream_stimulus::random_stream_stimulus(&mut rng, cycles, 1518, |_, _| vec![], &[])
}

/// Verilog of the catalogue entry `oxnic_crc32`.
pub fn verilog() -> Result<String, crate::verilog::GenError> {
    let mut uut = Crc32::new();
    uut.connect_all();
    crate::verilog::generate_named(&uut, "oxnic_crc32")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream_stimulus::{
        decode_frames, random_gaps, random_len, run_stimulus, stream_plan, StreamFrame, SINK,
    };
    use crate::testbench::Bench;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// Runs `stimulus` and checks that `crc_valid` rises exactly [`LATENCY`] cycle after every
    /// frame's last word, with that frame's `crc32fast` FCS, and at no other time. Returns the
    /// number of frames checked.
    fn check(stimulus: &Stimulus) -> usize {
        let frames = decode_frames(stimulus, SINK);
        let mut b = Bench::new(Crc32::new()).unwrap();
        let out = run_stimulus(&mut b, stimulus, &["crc", "crc_valid", "sink$ready"]).unwrap();
        let mut expect = vec![None; stimulus.len() + LATENCY];
        for f in &frames {
            expect[f.last_cycle + LATENCY - 1] = Some(crc32fast::hash(&f.bytes));
        }
        for (c, o) in out.iter().enumerate() {
            assert_eq!(o[2], 1, "sink$ready low in cycle {c}");
            match expect[c] {
                Some(fcs) => assert_eq!((o[0] as u32, o[1]), (fcs, 1), "cycle {c}"),
                None => assert_eq!(o[1], 0, "spurious crc_valid in cycle {c}"),
            }
        }
        frames.len()
    }

    #[test]
    fn register_folds_into_four_or_more_data_bytes() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        for _ in 0..1000 {
            let (s, d): (u32, u64) = (rng.gen(), rng.gen());
            for n in 4..=8 {
                assert_eq!(
                    advance(s, d, n),
                    advance(0, d ^ u64::from(s), n),
                    "{n} bytes"
                );
            }
        }
    }

    #[test]
    fn advance_matches_crc32fast() {
        let data = 0x0807_0605_0403_0201u64;
        for n in 0..=8 {
            let bytes = &data.to_le_bytes()[..n];
            assert_eq!(
                !advance(u32::MAX, data, n),
                crc32fast::hash(bytes),
                "{n} bytes"
            );
        }
    }

    #[test]
    fn check_value_and_wire_order() {
        // The CRC-32 check value: "123456789" -> 0xCBF43926, sent as 26 39 F4 CB.
        let frame = b"123456789".to_vec();
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let f = StreamFrame {
            bytes: frame.clone(),
            ..Default::default()
        };
        let plan = stream_plan(&[f], SINK, &[], &mut rng);
        let mut b = Bench::new(Crc32::new()).unwrap();
        let out = run_stimulus(&mut b, &plan.stimulus, &["crc", "crc_valid"]).unwrap();
        assert_eq!(out.last().unwrap(), &vec![0xCBF4_3926, 1]);
        assert_eq!(
            (out.last().unwrap()[0] as u32).to_le_bytes(),
            [0x26, 0x39, 0xF4, 0xCB]
        );
    }

    #[test]
    fn good_frame_with_its_fcs_leaves_the_residue() {
        let mut rng = ChaCha8Rng::seed_from_u64(8023);
        let frames: Vec<StreamFrame> = (0..24)
            .map(|i| {
                let mut bytes: Vec<u8> = (0..60 + i).map(|_| rng.gen()).collect();
                let fcs = crc32fast::hash(&bytes);
                bytes.extend(fcs.to_le_bytes());
                if i % 3 == 2 {
                    bytes[i] ^= 0x10; // a corrupted frame must not leave the residue
                }
                StreamFrame {
                    bytes,
                    ..Default::default()
                }
            })
            .collect();
        let plan = stream_plan(&frames, SINK, &[], &mut rng);
        let mut b = Bench::new(Crc32::new()).unwrap();
        let out = run_stimulus(&mut b, &plan.stimulus, &["crc", "crc_valid"]).unwrap();
        for (i, &c) in plan.last_cycle.iter().enumerate() {
            assert_eq!(out[c][1], 1);
            assert_eq!(out[c][0] as u32 == RESIDUE, i % 3 != 2, "frame {i}");
        }
    }

    #[test]
    fn every_length_1_to_200_back_to_back() {
        // One word per cycle: 200 frames, no idle cycle anywhere, each FCS one cycle after its
        // last word; lengths 1..=200 cover every final `keep` pattern many times over.
        let mut rng = ChaCha8Rng::seed_from_u64(200);
        let frames: Vec<StreamFrame> = (1..=200)
            .map(|len| StreamFrame {
                bytes: (0..len).map(|_| rng.gen()).collect(),
                ..Default::default()
            })
            .collect();
        let plan = stream_plan(&frames, SINK, &[], &mut rng);
        let words: usize = (1..=200usize).map(|l| l.div_ceil(8)).sum();
        assert_eq!(plan.stimulus.len(), words, "no idle cycle in the stimulus");
        assert_eq!(check(&plan.stimulus), 200);
    }

    #[test]
    fn random_frames_up_to_1518_with_gaps() {
        let mut rng = ChaCha8Rng::seed_from_u64(1518);
        let frames: Vec<StreamFrame> = (0..40)
            .map(|i| {
                let len = if i < 4 {
                    1518
                } else {
                    random_len(&mut rng, 1518)
                };
                StreamFrame {
                    bytes: (0..len).map(|_| rng.gen()).collect(),
                    gaps: random_gaps(&mut rng, len.div_ceil(8), 0.2),
                    with_first: vec![],
                }
            })
            .collect();
        let plan = stream_plan(&frames, SINK, &[], &mut rng);
        assert_eq!(check(&plan.stimulus), 40);
    }

    #[test]
    fn random_stimulus_is_reproducible_and_checks_out() {
        let s = random_stimulus(7, 1500);
        assert_eq!(s.len(), 1500);
        assert_eq!(s, random_stimulus(7, 1500));
        assert_ne!(s, random_stimulus(8, 1500));
        assert!(check(&s) >= 5);
    }

    #[test]
    fn synthesizes_with_yosys() {
        let v = verilog().unwrap();
        let r = crate::synth::yosys_synth("oxnic_crc32", &v).unwrap();
        // 32 running-register, 32 output and 1 strobe flops.
        assert_eq!(r.flops, 65, "{r:?}");
    }
}
