//! Internet checksum (RFC 1071) of a frame from a start offset, over a 64-bit stream, one word
//! per cycle: the CHECKSUM_COMPLETE value `rx_checksum` reports, and the sum `tx_checksum`
//! complements and inserts.
//!
//! The result is the folded 16-bit ones'-complement sum of `frame[start..]` read as big-endian
//! 16-bit words, an odd last byte padded with zero — `oxnic_abi::checksum::fold(sum(..))`; it is
//! not complemented. `start` may be odd: the byte at `start` is then the high byte of the first
//! word, as the model has it.
//!
//! # How
//! Each word adds its enabled bytes as four little-endian 16-bit halves into a 20-bit
//! accumulator, folded (end-around carry) once per cycle so it never overflows. Little-endian
//! halves put every byte at an even frame offset in the low byte, which is the big-endian sum of
//! the frame byte-swapped; since a ones'-complement sum commutes with swapping bytes (RFC 1071
//! §2(B)), the result is swapped back at the end when `start` is even, and left alone when `start`
//! is odd (the model's words then begin at odd offsets). Bytes before `start` are masked by
//! comparing a per-frame word counter with `start / 8` and, in that word, `start % 8`.
//!
//! No reset input: the block powers up between frames, and every `last` word ends the frame.

use crate::connect_dffs;
use crate::stream::StreamSink;
use crate::stream_stimulus::Scramble;
use crate::testbench::Stimulus;
use rust_hdl::prelude::*;

/// Cycles from the rising edge that accepts a frame's last word to the edge after which `csum`
/// and `csum_valid` show its sum: the result is registered by that same edge.
pub const LATENCY: usize = 1;

/// Longest frame whose bytes are all positioned correctly: the per-frame word counter saturates
/// at `2^13 - 1` words (far above a 9 KiB jumbo frame).
pub const MAX_FRAME: usize = ((1 << 13) - 1) * 8;

/// Internet checksum accumulator with a start offset.
///
/// Inputs:
/// - `clock`: all registers are on its rising edge;
/// - `sink`: the frame, a [`StreamSink`]. A word is taken on every rising edge with
///   `sink$valid` (`sink$ready` is always high: the block never stalls). Byte `k` of a word is
///   frame byte `8 w + k` for the frame's `w`-th word; bytes with `keep` low are left out (only
///   the last word should be partial). `sink$user` is ignored. The word after a `last` word
///   starts the next frame, with no idle cycle needed;
/// - `start`: frame offset in bytes at which summing begins (14 for the IPv4 header after
///   Ethernet, 34 for its payload). Sampled with the frame's FIRST word only, so it belongs with
///   that word (a parser's per-frame sideband) and may change freely after it. A start at or past
///   the frame's end gives 0.
///
/// Outputs:
/// - `csum`: the folded, uncomplemented ones'-complement sum of the most recent frame from its
///   start offset; held until the next frame ends;
/// - `csum_valid`: high for one cycle, [`LATENCY`] cycle after the frame's last word, when `csum`
///   has just been updated.
#[derive(LogicBlock, Debug)]
pub struct Csum {
    /// Clock for every register.
    pub clock: Signal<In, Clock>,
    /// The frame; never back-pressured.
    pub sink: StreamSink<64, 8>,
    /// Byte offset where the sum starts, sampled with each frame's first word.
    pub start: Signal<In, Bits<16>>,
    /// Sum of the last completed frame.
    pub csum: Signal<Out, Bits<16>>,
    /// Strobe: `csum` belongs to a frame that ended on the previous cycle.
    pub csum_valid: Signal<Out, Bit>,
    /// A frame has begun and not ended: the latched values below are in force.
    mid: DFF<Bit>,
    /// `start` as sampled with the frame's first word.
    start_q: DFF<Bits<16>>,
    /// Index within the frame of the next word (saturating).
    word_q: DFF<Bits<13>>,
    /// Partly folded sum of the frame's words so far (at most `0x1000e`).
    acc_q: DFF<Bits<20>>,
    /// Registered result.
    sum_q: DFF<Bits<16>>,
    /// Registered strobe.
    done: DFF<Bit>,
    /// Start offset in force for this word.
    start_now: Signal<Local, Bits<16>>,
    /// Index of this word within its frame.
    word_now: Signal<Local, Bits<13>>,
    /// Sum of the frame before this word.
    acc_now: Signal<Local, Bits<20>>,
    /// Bytes of this word at or after the start offset.
    in_range: Signal<Local, Bits<8>>,
    /// Bytes of this word that are summed.
    enable: Signal<Local, Bits<8>>,
    /// Byte `k` of the word, or zero when not summed.
    byte: [Signal<Local, Bits<8>>; 8],
    /// The word's four little-endian halves, added.
    word_sum: Signal<Local, Bits<20>>,
    /// Frame sum including this word.
    total: Signal<Local, Bits<20>>,
    /// `total` folded once.
    acc_next: Signal<Local, Bits<20>>,
    /// `acc_next` folded to 16 bits.
    folded: Signal<Local, Bits<20>>,
    /// All eight bytes.
    all_bytes: Constant<Bits<8>>,
    /// Largest word index.
    word_max: Constant<Bits<13>>,
}

impl Csum {
    /// Builds the block.
    pub fn new() -> Self {
        Csum {
            clock: Default::default(),
            sink: Default::default(),
            start: Default::default(),
            csum: Default::default(),
            csum_valid: Default::default(),
            mid: Default::default(),
            start_q: Default::default(),
            word_q: Default::default(),
            acc_q: Default::default(),
            sum_q: Default::default(),
            done: Default::default(),
            start_now: Default::default(),
            word_now: Default::default(),
            acc_now: Default::default(),
            in_range: Default::default(),
            enable: Default::default(),
            byte: Default::default(),
            word_sum: Default::default(),
            total: Default::default(),
            acc_next: Default::default(),
            folded: Default::default(),
            all_bytes: Constant::new(0xff.into()),
            word_max: Constant::new(((1 << 13) - 1).into()),
        }
    }
}

impl Default for Csum {
    fn default() -> Self {
        Self::new()
    }
}

// The flip-flops, listed once for `update` and `connect`.
crate::dff_list!($ mid, start_q, word_q, acc_q, sum_q, done);

impl Logic for Csum {
    /// The behaviour, for rust-hdl's simulator. The Verilog ([`Logic::hdl`]) is written out by
    /// hand with the same behaviour ([`CSUM_VERILOG`]); the block's differential tests run both
    /// and require the same outputs every cycle.
    fn update(&mut self) {
        with_dffs!(dff_setup!(self, clock,));
        self.sink.ready.next = true;
        // The first word of a frame brings its own start offset and begins at word 0, sum 0.
        self.start_now.next = self.start.val();
        self.word_now.next = 0.into();
        self.acc_now.next = 0.into();
        if self.mid.q.val() {
            self.start_now.next = self.start_q.q.val();
            self.word_now.next = self.word_q.q.val();
            self.acc_now.next = self.acc_q.q.val();
        }
        self.in_range.next = 0.into();
        if self.word_now.val() > self.start_now.val().get_bits::<13>(3) {
            self.in_range.next = self.all_bytes.val();
        }
        if self.word_now.val() == self.start_now.val().get_bits::<13>(3) {
            self.in_range.next = self.all_bytes.val() << self.start_now.val().get_bits::<3>(0);
        }
        self.enable.next = self.in_range.val() & self.sink.keep.val();
        for k in 0..8 {
            self.byte[k].next = 0.into();
        }
        // Even bytes are the low halves, odd bytes the high ones. A whole word (nearly every
        // one) is the sum of its 16-bit halves; byte by byte only for a partial one.
        self.word_sum.next = 0.into();
        if self.enable.val() == self.all_bytes.val() {
            self.word_sum.next = bit_cast::<20, 16>(self.sink.data.val().get_bits::<16>(0))
                + bit_cast::<20, 16>(self.sink.data.val().get_bits::<16>(16))
                + bit_cast::<20, 16>(self.sink.data.val().get_bits::<16>(32))
                + bit_cast::<20, 16>(self.sink.data.val().get_bits::<16>(48));
        } else if self.enable.val().any() {
            for k in 0..8 {
                if self.enable.val().get_bit(k) {
                    self.byte[k].next = self.sink.data.val().get_bits::<8>(8 * k);
                }
            }
            self.word_sum.next = bit_cast::<20, 8>(self.byte[0].val())
                + bit_cast::<20, 8>(self.byte[2].val())
                + bit_cast::<20, 8>(self.byte[4].val())
                + bit_cast::<20, 8>(self.byte[6].val())
                + ((bit_cast::<20, 8>(self.byte[1].val())
                    + bit_cast::<20, 8>(self.byte[3].val())
                    + bit_cast::<20, 8>(self.byte[5].val())
                    + bit_cast::<20, 8>(self.byte[7].val()))
                    << 8);
        }
        // acc <= 0x1000e and word_sum <= 0x3fffc, so the sum fits 19 bits and one fold brings it
        // back under 0x10005; a second fold reaches 16 bits.
        // (Verilog cannot part-select an expression, hence `total`.)
        self.total.next = self.acc_now.val() + self.word_sum.val();
        self.acc_next.next = bit_cast::<20, 16>(self.total.val().get_bits::<16>(0))
            + bit_cast::<20, 4>(self.total.val().get_bits::<4>(16));
        self.folded.next = bit_cast::<20, 16>(self.acc_next.val().get_bits::<16>(0))
            + bit_cast::<20, 4>(self.acc_next.val().get_bits::<4>(16));
        self.done.d.next = false;
        if self.sink.valid.val() {
            if self.sink.last.val() {
                self.mid.d.next = false;
                self.done.d.next = true;
                if self.start_now.val().get_bit(0) {
                    self.sum_q.d.next = self.folded.val().get_bits::<16>(0);
                } else {
                    self.sum_q.d.next = (bit_cast::<16, 8>(self.folded.val().get_bits::<8>(0))
                        << 8)
                        | bit_cast::<16, 8>(self.folded.val().get_bits::<8>(8));
                }
            } else {
                self.mid.d.next = true;
                self.start_q.d.next = self.start_now.val();
                self.acc_q.d.next = self.acc_next.val();
                self.word_q.d.next = self.word_now.val();
                if self.word_now.val() != self.word_max.val() {
                    self.word_q.d.next = self.word_now.val() + 1;
                }
            }
        }
        self.csum.next = self.sum_q.q.val();
        self.csum_valid.next = self.done.q.val();
    }
    /// Marks what `update` drives (what `#[hdl_gen]` would derive from it).
    fn connect(&mut self) {
        self.sink.ready.connect();
        self.csum.connect();
        self.csum_valid.connect();
        with_dffs!(connect_dffs!(self,));
        self.start_now.connect();
        self.word_now.connect();
        self.acc_now.connect();
        self.in_range.connect();
        self.enable.connect();
        for b in &mut self.byte {
            b.connect();
        }
        self.word_sum.connect();
        self.total.connect();
        self.acc_next.connect();
        self.folded.connect();
    }

    fn hdl(&self) -> Verilog {
        crate::verilog::hand_written(CSUM_VERILOG)
    }
}

/// [`Csum`]'s Verilog, written by hand: the word's sum and the fold worked out inside the
/// clocked block, only in a cycle with a word, and each register written only when it
/// changes. rust-hdl's Verilog of `update` worked out every local in every cycle.
const CSUM_VERILOG: &str = "
reg mid = 0;
reg [15:0] start_q = 0;
reg [12:0] word_q = 0;
reg [19:0] acc_q = 0;
reg [15:0] sum_q = 0;
reg done = 0;
// Values worked out inside the clocked block (blocking; no state).
reg [15:0] start_now;
reg [12:0] word_now;
reg [19:0] acc_now;
reg [7:0] in_range;
reg [7:0] enable;
reg [19:0] word_sum;
reg [19:0] total;
reg [19:0] acc_next;
reg [19:0] folded;
assign sink$ready = 1'b1;
assign csum = sum_q;
assign csum_valid = done;
always @(posedge clock) begin
    done <= 1'b0;
    if (sink$valid) begin
        // The first word of a frame brings its own start offset and begins at word 0, sum 0.
        start_now = mid ? start_q : start;
        word_now = mid ? word_q : 13'd0;
        acc_now = mid ? acc_q : 20'd0;
        in_range = 8'h00;
        if (word_now > start_now[15:3]) in_range = 8'hff;
        if (word_now == start_now[15:3]) in_range = 8'hff << start_now[2:0];
        enable = in_range & sink$keep;
        // Even bytes are the low halves, odd bytes the high ones.
        if (enable == 8'hff) begin
            word_sum = {4'h0, sink$data[15:0]} + {4'h0, sink$data[31:16]}
                + {4'h0, sink$data[47:32]} + {4'h0, sink$data[63:48]};
        end else begin
            word_sum = (enable[0] ? {12'h000, sink$data[7:0]} : 20'h0)
                + (enable[2] ? {12'h000, sink$data[23:16]} : 20'h0)
                + (enable[4] ? {12'h000, sink$data[39:32]} : 20'h0)
                + (enable[6] ? {12'h000, sink$data[55:48]} : 20'h0)
                + (((enable[1] ? {12'h000, sink$data[15:8]} : 20'h0)
                    + (enable[3] ? {12'h000, sink$data[31:24]} : 20'h0)
                    + (enable[5] ? {12'h000, sink$data[47:40]} : 20'h0)
                    + (enable[7] ? {12'h000, sink$data[63:56]} : 20'h0)) << 8);
        end
        // acc <= 0x1000e and word_sum <= 0x3fffc: one fold brings the sum under 0x10005, a
        // second reaches 16 bits.
        total = acc_now + word_sum;
        acc_next = {4'h0, total[15:0]} + {16'h0000, total[19:16]};
        folded = {4'h0, acc_next[15:0]} + {16'h0000, acc_next[19:16]};
        if (sink$last) begin
            mid <= 1'b0;
            done <= 1'b1;
            sum_q <= start_now[0] ? folded[15:0] : {folded[7:0], folded[15:8]};
        end else begin
            mid <= 1'b1;
            start_q <= start_now;
            acc_q <= acc_next;
            word_q <= word_now == 13'h1fff ? word_now : word_now + 13'd1;
        end
    end
end
";

crate::impl_set_inputs!(Csum {
    clock,
    sink.data,
    sink.keep,
    sink.last,
    sink.user,
    sink.valid,
    start
});

/// `start` is randomised on every cycle but a frame's first word, where it must be sampled.
pub const SCRAMBLE: [Scramble; 1] = [Scramble {
    port: "start",
    bits: 16,
}];

/// A start offset for a frame of `len` bytes: often the IPv4 header or L4 offsets, otherwise
/// anywhere from 0 to the frame's end (odd offsets included).
pub fn random_start(rng: &mut dyn rand::RngCore, len: usize) -> u64 {
    use rand::Rng;
    let s = match rng.gen_range(0..4) {
        0 => 14,
        1 => 34,
        _ => rng.gen_range(0..=len),
    };
    s.min(len) as u64
}

/// Random frames (1 to 1518 bytes, biased short) on `sink$*` with a random `start` per frame,
/// back to back or with random idle cycles, for `cycles` cycles; the same `seed` gives the same
/// stimulus.
pub fn random_stimulus(seed: u64, cycles: usize) -> Stimulus {
    use rand::SeedableRng;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    crate::stream_stimulus::random_stream_stimulus(
        &mut rng,
        cycles,
        1518,
        |rng, bytes| vec![("start", vec![random_start(rng, bytes.len())])],
        &SCRAMBLE,
    )
}

/// Verilog of the catalogue entry `oxnic_csum`.
pub fn verilog() -> Result<String, crate::verilog::GenError> {
    let mut uut = Csum::new();
    uut.connect_all();
    crate::verilog::generate_named(&uut, "oxnic_csum")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream_stimulus::{
        decode_frames, random_gaps, random_len, run_stimulus, stream_plan, value_at, StreamFrame,
        SINK,
    };
    use crate::testbench::Bench;
    use oxnic_abi::checksum::{fold, sum};
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// Runs `stimulus` and checks that `csum_valid` rises exactly [`LATENCY`] cycle after every
    /// frame's last word, with the model's sum of the frame from the `start` sampled with its first
    /// word, and at no other time. Returns the number of frames checked.
    fn check(stimulus: &Stimulus) -> usize {
        let frames = decode_frames(stimulus, SINK);
        let mut b = Bench::new(Csum::new()).unwrap();
        let out = run_stimulus(&mut b, stimulus, &["csum", "csum_valid", "sink$ready"]).unwrap();
        let mut expect = vec![None; stimulus.len() + LATENCY];
        for f in &frames {
            let start = value_at(stimulus, "start", f.first_cycle)[0] as usize;
            let model = fold(sum(&f.bytes[start.min(f.bytes.len())..], 0));
            expect[f.last_cycle + LATENCY - 1] = Some((model, start));
        }
        for (c, o) in out.iter().enumerate() {
            assert_eq!(o[2], 1, "sink$ready low in cycle {c}");
            match expect[c] {
                Some((s, start)) => {
                    assert_eq!((o[0] as u16, o[1]), (s, 1), "cycle {c}, start {start}")
                }
                None => assert_eq!(o[1], 0, "spurious csum_valid in cycle {c}"),
            }
        }
        frames.len()
    }

    fn frame(bytes: Vec<u8>, start: usize, gaps: Vec<usize>) -> StreamFrame {
        StreamFrame {
            bytes,
            gaps,
            with_first: vec![("start", vec![start as u64])],
        }
    }

    #[test]
    fn ipv4_header_sums_to_ffff() {
        // Ethernet header + a valid IPv4 header (checksum 0xb861): the sum from offset 14 over
        // just the header is 0xffff, the value a receiver checks for.
        let mut f = vec![0u8; 14];
        f.extend([
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ]);
        let mut rng = ChaCha8Rng::seed_from_u64(1071);
        let plan = stream_plan(&[frame(f, 14, vec![])], SINK, &SCRAMBLE, &mut rng);
        let mut b = Bench::new(Csum::new()).unwrap();
        let out = run_stimulus(&mut b, &plan.stimulus, &["csum", "csum_valid"]).unwrap();
        assert_eq!(out.last().unwrap(), &vec![0xffff, 1]);
    }

    #[test]
    fn every_length_and_start_back_to_back() {
        // One word per cycle, frames back to back with no idle cycle: lengths 1..=120 cover every
        // final `keep`, and the start offsets sweep every position (odd ones too) up to the end.
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut frames = vec![];
        for len in 1..=120usize {
            for start in [0, len.saturating_sub(1), (len * 7) % (len + 1), len] {
                frames.push(frame((0..len).map(|_| rng.gen()).collect(), start, vec![]));
            }
        }
        let plan = stream_plan(&frames, SINK, &SCRAMBLE, &mut rng);
        let words: usize = frames.iter().map(|f| f.bytes.len().div_ceil(8)).sum();
        assert_eq!(plan.stimulus.len(), words, "no idle cycle in the stimulus");
        assert_eq!(check(&plan.stimulus), frames.len());
    }

    #[test]
    fn random_frames_and_starts_with_gaps() {
        let mut rng = ChaCha8Rng::seed_from_u64(34);
        let frames: Vec<StreamFrame> = (0..40)
            .map(|i| {
                let len = if i < 3 {
                    1518
                } else {
                    random_len(&mut rng, 1518)
                };
                let start = random_start(&mut rng, len) as usize;
                let gaps = random_gaps(&mut rng, len.div_ceil(8), 0.2);
                frame((0..len).map(|_| rng.gen()).collect(), start, gaps)
            })
            .collect();
        let plan = stream_plan(&frames, SINK, &SCRAMBLE, &mut rng);
        assert_eq!(check(&plan.stimulus), 40);
    }

    #[test]
    fn all_ones_frames_fold_to_ffff_not_zero() {
        // 0xffff words are ones'-complement "minus zero": the sum must stay 0xffff, and an
        // all-zero frame must give 0.
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let frames = vec![
            frame(vec![0xff; 1500], 0, vec![]),
            frame(vec![0xff; 77], 3, vec![]),
            frame(vec![0; 64], 0, vec![]),
        ];
        let plan = stream_plan(&frames, SINK, &SCRAMBLE, &mut rng);
        let mut b = Bench::new(Csum::new()).unwrap();
        let out = run_stimulus(&mut b, &plan.stimulus, &["csum"]).unwrap();
        let got: Vec<u64> = plan.last_cycle.iter().map(|&c| out[c][0]).collect();
        assert_eq!(got, vec![0xffff, 0xffff, 0]);
        assert_eq!(check(&plan.stimulus), 3);
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
        let r = crate::synth::yosys_synth("oxnic_csum", &v).unwrap();
        assert!(r.flops > 0 && r.cells > r.flops, "{r:?}");
    }
}
