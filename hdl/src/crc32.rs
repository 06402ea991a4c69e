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
//! The CRC register is GF(2)-linear in (register, data). Shifting in `n` bytes from register
//! `s` gives `(s >> 8n) ^ XOR over i < n of T[n-1-i][m_i]`, where `m = data ^ s` (the register
//! folds into the data's low four bytes), `m_i` is byte `i` of `m`, `s >> 8n` is zero for
//! `n >= 4`, and `T[k][b]` is the register after byte `b` followed by `k` zero bytes
//! ([`table_entry`]; [`slice_step`] is the formula, tested against [`advance`]). So a word is
//! eight 256-entry table look-ups and an XOR: "slicing by 8". A partial word (a frame's last)
//! uses the first `n` tables.
//!
//! The Verilog is written by hand ([`Crc32`]'s `hdl`): the eight tables are ROMs filled by an
//! `initial` block, and the next register is worked out inside the clocked block, only in a
//! cycle with a word. rust-hdl's Verilog of the same function needed 32 AND-parity trees of 64
//! inputs, which a simulator such as Verilator evaluates bit by bit: verilated alone and fed a
//! word every cycle, that block took 394 instructions a cycle, this one 106. The logic is the
//! same function, and yosys makes about as many cells of either (3,675 against 3,772 with
//! `synth -flatten`; its optimiser turns the ROMs into XOR and MUX logic). The block's
//! simulation in rust-hdl ([`Crc32`]'s `update`) uses [`advance`]; the differential test runs
//! both against `crc32fast`.
//!
//! No reset input: the running register starts preset (its power-up value), and every `last`
//! word presets it again for the next frame.

use crate::stream::StreamSink;
use crate::testbench::Stimulus;
use rust_hdl::prelude::*;
use std::fmt::Write as _;

/// IEEE 802.3 CRC-32 polynomial, bit-reversed (the register shifts right).
pub const POLY: u32 = 0xEDB8_8320;

/// Cycles from the rising edge that accepts a frame's last word to the edge after which `crc`
/// and `crc_valid` show its FCS: the result is registered by that same edge.
pub const LATENCY: usize = 1;

/// `crc` after a good frame followed by its own FCS (the CRC-32 "magic" residue, complemented).
pub const RESIDUE: u32 = 0x2144_DF1C;

/// The register's preset, before a frame's first byte.
const PRESET: u32 = u32::MAX;

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

/// Entry `b` of table `k`: the register, from zero, after byte `b` and then `k` zero bytes.
pub const fn table_entry(k: usize, b: u8) -> u32 {
    advance(advance(0, b as u64, 1), 0, k)
}

/// The next register after `n` (1 to 8) bytes of `data` from `state`, by table look-ups: the
/// formula of the block's Verilog (see the module documentation).
pub fn slice_step(state: u32, data: u64, n: usize) -> u32 {
    let m = data ^ u64::from(state);
    let (shift, lookups) = slice_terms(n);
    let rest = shift.map_or(0, |b| state >> b);
    lookups.iter().fold(rest, |acc, &(table, byte)| {
        acc ^ table_entry(table, (m >> (8 * byte)) as u8)
    })
}

/// The terms XORed into the next register after `n` bytes, for [`slice_step`] and the Verilog
/// alike: the old register shifted right by this many bits (only for `n < 4`), and a look-up
/// in table `.0` of byte `.1` of `m` for each byte.
fn slice_terms(n: usize) -> (Option<usize>, Vec<(usize, usize)>) {
    (
        (n < 4).then_some(8 * n),
        (0..n).map(|i| (n - 1 - i, i)).collect(),
    )
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
}

impl Crc32 {
    /// Builds the block.
    pub fn new() -> Self {
        Crc32 {
            clock: Default::default(),
            sink: Default::default(),
            crc: Default::default(),
            crc_valid: Default::default(),
            state: DFFWithInit::new(u64::from(PRESET).into()),
            fcs: Default::default(),
            done: Default::default(),
        }
    }
}

impl Default for Crc32 {
    fn default() -> Self {
        Self::new()
    }
}

impl Logic for Crc32 {
    /// rust-hdl's simulation of the block; [`Logic::hdl`] is the same function written as
    /// Verilog with look-up tables.
    fn update(&mut self) {
        dff_setup!(self, clock, state, fcs, done);
        self.sink.ready.next = true;
        self.done.d.next = false;
        if self.sink.valid.val() {
            let s = self.state.q.val().to_u32();
            let keep = self.sink.keep.val().to_u8();
            // Bytes of a prefix `keep` (`2^n - 1`); anything else adds none.
            let n = if keep.trailing_ones() + keep.leading_zeros() == 8 {
                keep.trailing_ones() as usize
            } else {
                0
            };
            let next = advance(s, self.sink.data.val().to_u64(), n);
            if self.sink.last.val() {
                self.state.d.next = u64::from(PRESET).into();
                self.fcs.d.next = u64::from(!next).into();
                self.done.d.next = true;
            } else {
                self.state.d.next = u64::from(next).into();
            }
        }
        self.crc.next = self.fcs.q.val();
        self.crc_valid.next = self.done.q.val();
    }

    /// Marks what `update` drives (what `#[hdl_gen]` would derive from it).
    fn connect(&mut self) {
        self.sink.ready.connect();
        self.crc.connect();
        self.crc_valid.connect();
        self.state.clock.connect();
        self.state.d.connect();
        self.fcs.clock.connect();
        self.fcs.d.connect();
        self.done.clock.connect();
        self.done.d.connect();
    }

    fn hdl(&self) -> Verilog {
        crate::verilog::hand_written(crc_verilog())
    }
}

/// The instance of a [`Crc32`] field `fcs` in the hand-written Verilog of the block that holds
/// it (see [`crate::verilog::CHILD`]), fed by the expressions `data`, `keep`, `last` and
/// `valid`; its outputs go to the wires `fcs_crc`, `fcs_crc_valid` and `fcs_ready`, which the
/// block declares.
pub fn instance_verilog(data: &str, keep: &str, last: &str, valid: &str) -> String {
    format!(
        "@CHILD(fcs) fcs(
    .clock(clock),
    .sink$data({data}),
    .sink$keep({keep}),
    .sink$last({last}),
    .sink$user(1'b0),
    .sink$valid({valid}),
    .sink$ready(fcs_ready),
    .crc(fcs_crc),
    .crc_valid(fcs_crc_valid)
);
"
    )
}

/// The body of [`Crc32`]'s Verilog module.
fn crc_verilog() -> String {
    let mut v = String::from(
        "reg [31:0] state = 32'hffffffff;
reg [31:0] fcs = 32'h0;
reg done = 1'b0;
reg [63:0] m;
reg [31:0] nxt;
assign sink$ready = 1'b1;
assign crc = fcs;
assign crc_valid = done;
",
    );
    for k in 0..8 {
        let _ = writeln!(v, "reg [31:0] t{k} [0:255];");
    }
    v.push_str("initial begin\n");
    for k in 0..8 {
        for b in 0..=255u8 {
            let _ = writeln!(v, "    t{k}[{b}] = 32'h{:08x};", table_entry(k, b));
        }
    }
    v.push_str(
        "end
always @(posedge clock) begin
    done <= 1'b0;
    if (sink$valid) begin
        m = sink$data ^ {32'h0, state};
        case (sink$keep)
",
    );
    for n in 1..=8usize {
        let (shift, lookups) = slice_terms(n);
        let terms: Vec<String> = shift
            .map(|b| format!("(state >> {b})"))
            .into_iter()
            .chain(
                lookups
                    .iter()
                    .map(|&(t, i)| format!("t{t}[m[{}:{}]]", 8 * i + 7, 8 * i)),
            )
            .collect();
        let _ = writeln!(
            v,
            "            8'h{:02x}: nxt = {};",
            (1u16 << n) - 1,
            terms.join(" ^ ")
        );
    }
    v.push_str(
        "            default: nxt = state;
        endcase
        if (sink$last) begin
            state <= 32'hffffffff;
            fcs <= ~nxt;
            done <= 1'b1;
        end else begin
            state <= nxt;
        end
    end
end
",
    );
    v
}

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
    fn table_slices_equal_the_bitwise_register() {
        // The Verilog's formula, for every byte count a word can carry: tables against the
        // bit-at-a-time register.
        let mut rng = ChaCha8Rng::seed_from_u64(12);
        for _ in 0..2000 {
            let (s, d): (u32, u64) = (rng.gen(), rng.gen());
            for n in 1..=8 {
                assert_eq!(slice_step(s, d, n), advance(s, d, n), "{n} bytes");
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
