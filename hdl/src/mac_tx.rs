//! `mac_tx`: the transmit half of the card's Ethernet MAC on the 64-bit datapath. It takes
//! frames without FCS, pads them with zeros to the 60-byte minimum, appends the FCS, and keeps
//! the wire's inter-frame time so that the line rate it produces is the real one.
//!
//! # Padding and FCS
//! A frame of `L` bytes leaves as `P = max(L, 60) + 4` bytes: the frame, zeros up to 60 bytes,
//! then the FCS (`crc32fast::hash(padded).to_le_bytes()`). When the frame's last data word has
//! more than 4 bytes, the FCS spills into one extra word. The CRC is computed by [`Crc32`] on the
//! words as they enter the one-word output register, so its result (one cycle later,
//! [`crate::crc32::LATENCY`]) is ready when the final data word is on `phy`.
//!
//! # Line rate
//! On the wire every frame costs its `P` bytes plus 8 bytes of preamble/SFD and 12 of
//! inter-frame gap. At 8 bytes per cycle the frame's words take `ceil(P / 8)` cycles, so
//! `20 - (8 ceil(P / 8) - P)` bytes of idle are still owed (13 to 20). A byte-exact deficit
//! carried between frames (as in Corundum's and Linux's deficit idle count) turns that into
//! whole idle cycles:
//!
//! `owed = deficit + 20 - slack; idle = owed / 8; deficit = owed % 8`
//!
//! where `slack` is the unused bytes of the frame's last word on `phy`. `phy$valid` stays low
//! for `idle` cycles (1 to 3) after the last word is taken. Over `N` frames the cycles from
//! the first word of the first frame to the first word of frame `N` are therefore
//! `(sum(P + 20) - deficit_N) / 8` with `0 <= deficit_N < 8`: the exact wire time, never more
//! than one cycle early. The idle cycles count whatever `phy$ready` does (the wire does not
//! wait); a stalled `phy` only makes frames take longer.
//!
//! Inputs:
//! - `clock`: every register is on its rising edge;
//! - `sink`: frames without FCS, any length from 1 byte; `keep` contiguous from byte 0, only
//!   the last word partial; bytes past `keep` need not be zero; `sink$user` is ignored (a TX
//!   frame cannot be recalled from the wire once started). Backpressure: `sink$ready`;
//! - `phy$ready`: the wire side takes a word (backpressure is honoured: a word on `phy` stays,
//!   unchanged, until taken);
//! - `tx_enable`: when low, `sink$ready` is low (a frame in progress pauses; padding, FCS and
//!   gap of a frame already taken whole still go out).
//!
//! Outputs:
//! - `phy`: the padded frame with its FCS, `keep` contiguous from byte 0, `user` always 0;
//! - `sink$ready`;
//! - `frames`, `bytes`: frames taken from `sink` and their bytes (without padding and FCS),
//!   counted as their words are taken; 64-bit, the register file's width.
//!
//! Latency: a word taken from `sink` is on `phy` in the next cycle (one register stage), when
//! no gap is being kept. One word per cycle while sending: `sink$ready` is high whenever the
//! output register is empty or its word is taken in the same cycle.

use crate::connect_dffs;
use crate::crc32::Crc32;
use crate::stream::{StreamSink, StreamSource};
use crate::testbench::Stimulus;
use rust_hdl::prelude::*;

/// Cycles from the edge that takes a word on `sink` to the cycle it is on `phy` (without gap
/// or backpressure).
pub const LATENCY: usize = 1;

/// Wire overhead per frame beyond its bytes and FCS: preamble and SFD (8) plus the minimum
/// inter-frame gap (12).
pub const WIRE_OVERHEAD: usize = 20;

/// The MAC's transmit half; see the module documentation.
#[derive(LogicBlock)]
pub struct MacTx {
    /// Clock for every register.
    pub clock: Signal<In, Clock>,
    /// Frames without FCS.
    pub sink: StreamSink<64, 8>,
    /// Padded frames with FCS, with the wire's idle time between them.
    pub phy: StreamSource<64, 8>,
    /// Transmit enable: when low, no word is taken from `sink`.
    pub tx_enable: Signal<In, Bit>,
    /// Frames taken.
    pub frames: Signal<Out, Bits<64>>,
    /// Bytes of frames taken, without padding and FCS.
    pub bytes: Signal<Out, Bits<64>>,
    fcs: Crc32,
    // The output register: the next word for `phy`.
    r_data: DFF<Bits<64>>,
    // Bytes of frame data in the word (all eight, except in a frame's final data word).
    r_keep: DFF<Bits<8>>,
    r_full: DFF<Bit>,
    // The word is the frame's final data word: the FCS goes right after its data.
    r_final: DFF<Bit>,
    // 8 x the data bytes of a final word: where the FCS starts.
    r_shift: DFF<Bits<8>>,
    // Words of the current frame already loaded (saturates at 8: the frame is past padding).
    wcount: DFF<Bits<4>>,
    // Emitting padding words after a short frame's last data word.
    pad: DFF<Bit>,
    // Emitting the FCS bytes that did not fit in the final data word.
    tail: DFF<Bit>,
    tail_keep: DFF<Bits<8>>,
    tail_shift: DFF<Bits<8>>,
    tail_bytes: DFF<Bits<4>>,
    // Idle cycles still to keep before the next frame.
    gap: DFF<Bits<2>>,
    // Idle bytes owed but not yet kept as a whole cycle.
    deficit: DFF<Bits<3>>,
    frames_q: DFF<Bits<64>>,
    bytes_q: DFF<Bits<64>>,
    n_in: Signal<Local, Bits<4>>,
    in_mask: Signal<Local, Bits<64>>,
    crc64: Signal<Local, Bits<64>>,
    send_r: Signal<Local, Bit>,
    r_take: Signal<Local, Bit>,
    can_load: Signal<Local, Bit>,
    take_in: Signal<Local, Bit>,
    load: Signal<Local, Bit>,
    load_data: Signal<Local, Bits<64>>,
    load_keep: Signal<Local, Bits<8>>,
    load_final: Signal<Local, Bit>,
    load_shift: Signal<Local, Bits<8>>,
    done: Signal<Local, Bit>,
    last_bytes: Signal<Local, Bits<4>>,
    owed: Signal<Local, Bits<5>>,
    // `n + 1` at index `n`: bytes in a word whose highest `keep` bit is `n`.
    count_for: [Constant<Bits<4>>; 8],
    ones: Constant<Bits<64>>,
}

impl MacTx {
    /// Builds the block.
    pub fn new() -> Self {
        MacTx {
            clock: Default::default(),
            sink: Default::default(),
            phy: Default::default(),
            tx_enable: Default::default(),
            frames: Default::default(),
            bytes: Default::default(),
            fcs: Crc32::new(),
            r_data: Default::default(),
            r_keep: Default::default(),
            r_full: Default::default(),
            r_final: Default::default(),
            r_shift: Default::default(),
            wcount: Default::default(),
            pad: Default::default(),
            tail: Default::default(),
            tail_keep: Default::default(),
            tail_shift: Default::default(),
            tail_bytes: Default::default(),
            gap: Default::default(),
            deficit: Default::default(),
            frames_q: Default::default(),
            bytes_q: Default::default(),
            n_in: Default::default(),
            in_mask: Default::default(),
            crc64: Default::default(),
            send_r: Default::default(),
            r_take: Default::default(),
            can_load: Default::default(),
            take_in: Default::default(),
            load: Default::default(),
            load_data: Default::default(),
            load_keep: Default::default(),
            load_final: Default::default(),
            load_shift: Default::default(),
            done: Default::default(),
            last_bytes: Default::default(),
            owed: Default::default(),
            count_for: core::array::from_fn(|n| Constant::new((n as u64 + 1).into())),
            ones: Constant::new(Bits::<64>::mask()),
        }
    }
}

impl Default for MacTx {
    fn default() -> Self {
        Self::new()
    }
}

// The flip-flops, listed once for `update` and `connect`.
crate::dff_list!(
    $
    r_data, r_keep, r_full, r_final, r_shift, wcount, pad, tail, tail_keep, tail_shift,
    tail_bytes, gap, deficit, frames_q, bytes_q
);

impl Logic for MacTx {
    /// The behaviour, for rust-hdl's simulator. The Verilog ([`Logic::hdl`]) is written out by
    /// hand with the same behaviour ([`MAC_TX_VERILOG`]); the MAC's differential tests run
    /// both and require the same outputs every cycle.
    fn update(&mut self) {
        with_dffs!(dff_setup!(self, clock,));
        self.fcs.clock.next = self.clock.val();
        self.crc64.next = bit_cast::<64, 32>(self.fcs.crc.val());

        // Output side: the tail word, or the output register once the gap is kept.
        self.send_r.next = self.r_full.q.val() & !self.tail.q.val() & (self.gap.q.val() == 0);
        self.phy.valid.next = self.send_r.val() | self.tail.q.val();
        self.phy.user.next = false;
        if self.tail.q.val() {
            self.phy.data.next = self.crc64.val() >> self.tail_shift.q.val();
            self.phy.keep.next = self.tail_keep.q.val();
            self.phy.last.next = true;
        } else if self.r_final.q.val() {
            // Bytes past the data are zero in the register, so the FCS can be ORed in.
            self.phy.data.next = self.r_data.q.val() | (self.crc64.val() << self.r_shift.q.val());
            self.phy.keep.next = (self.r_keep.q.val() << 4) | 0x0f;
            self.phy.last.next = !self.r_keep.q.val().get_bit(4);
        } else {
            self.phy.data.next = self.r_data.q.val();
            self.phy.keep.next = self.r_keep.q.val();
            self.phy.last.next = false;
        }
        self.r_take.next = self.send_r.val() & self.phy.ready.val();
        self.can_load.next = !self.r_full.q.val() | self.r_take.val();

        // End of a frame on the wire: count the idle bytes it still owes.
        self.done.next = false;
        self.last_bytes.next = 0.into();
        if self.r_take.val() & self.r_final.q.val() {
            if self.r_keep.q.val().get_bit(4) {
                self.tail.d.next = true;
                self.tail_keep.d.next = self.r_keep.q.val() >> 4;
                self.tail_shift.d.next = 64 - self.r_shift.q.val();
                self.tail_bytes.d.next = self.r_shift.q.val().get_bits::<4>(3) - 4;
            } else {
                self.done.next = true;
                self.last_bytes.next = self.r_shift.q.val().get_bits::<4>(3) + 4;
            }
        }
        if self.tail.q.val() & self.phy.ready.val() {
            self.tail.d.next = false;
            self.done.next = true;
            self.last_bytes.next = self.tail_bytes.q.val();
        }
        self.owed.next =
            bit_cast::<5, 3>(self.deficit.q.val()) + bit_cast::<5, 4>(self.last_bytes.val()) + 12;
        if self.done.val() {
            self.gap.d.next = self.owed.val().get_bits::<2>(3);
            self.deficit.d.next = self.owed.val().get_bits::<3>(0);
        } else if self.gap.q.val() != 0 {
            self.gap.d.next = self.gap.q.val() - 1;
        }

        // Input side: words from `sink`, then padding, into the output register and the CRC.
        // A whole word (every one but a frame's last) is taken as it is: its count and mask
        // are worked out only for a partial one.
        self.n_in.next = self.count_for[7].val();
        self.in_mask.next = self.ones.val();
        if self.sink.keep.val() != 0xff {
            self.n_in.next = 0.into();
            for n in 0..8 {
                if self.sink.keep.val().get_bit(n) {
                    self.n_in.next = self.count_for[n].val();
                }
            }
            self.in_mask.next = self.ones.val() >> (64 - (bit_cast::<8, 4>(self.n_in.val()) << 3));
        }
        self.sink.ready.next = self.tx_enable.val() & self.can_load.val() & !self.pad.q.val();
        self.take_in.next = self.sink.valid.val() & self.sink.ready.val();
        self.load.next = false;
        self.load_data.next = 0.into();
        self.load_keep.next = 0xff.into();
        self.load_final.next = false;
        self.load_shift.next = 32.into();
        if self.pad.q.val() & self.can_load.val() {
            self.load.next = true;
            if self.wcount.q.val() == 7 {
                // Bytes 56..60 of the padded frame; the FCS fills the rest of the word.
                self.load_keep.next = 0x0f.into();
                self.load_final.next = true;
                self.pad.d.next = false;
                self.wcount.d.next = 0.into();
            } else {
                self.wcount.d.next = self.wcount.q.val() + 1;
            }
        }
        if self.take_in.val() {
            self.load.next = true;
            self.load_data.next = self.sink.data.val() & self.in_mask.val();
            self.bytes_q.d.next = self.bytes_q.q.val() + bit_cast::<64, 4>(self.n_in.val());
            if self.sink.last.val() {
                self.frames_q.d.next = self.frames_q.q.val() + 1;
                if (self.wcount.q.val() == 8)
                    | ((self.wcount.q.val() == 7) & self.sink.keep.val().get_bit(3))
                {
                    // At least 60 bytes: no padding, the FCS follows the data.
                    self.load_keep.next = self.sink.keep.val();
                    self.load_final.next = true;
                    self.load_shift.next = bit_cast::<8, 4>(self.n_in.val()) << 3;
                    self.wcount.d.next = 0.into();
                } else if self.wcount.q.val() == 7 {
                    // 57 to 59 bytes: pad within this word up to byte 60.
                    self.load_keep.next = 0x0f.into();
                    self.load_final.next = true;
                    self.wcount.d.next = 0.into();
                } else {
                    self.pad.d.next = true;
                    self.wcount.d.next = self.wcount.q.val() + 1;
                }
            } else if self.wcount.q.val() != 8 {
                self.wcount.d.next = self.wcount.q.val() + 1;
            }
        }
        if self.load.val() {
            self.r_data.d.next = self.load_data.val();
            self.r_keep.d.next = self.load_keep.val();
            self.r_final.d.next = self.load_final.val();
            self.r_shift.d.next = self.load_shift.val();
            self.r_full.d.next = true;
        } else if self.r_take.val() {
            self.r_full.d.next = false;
        }
        self.fcs.sink.data.next = self.load_data.val();
        self.fcs.sink.keep.next = self.load_keep.val();
        self.fcs.sink.last.next = self.load_final.val();
        self.fcs.sink.user.next = false;
        self.fcs.sink.valid.next = self.load.val();

        self.frames.next = self.frames_q.q.val();
        self.bytes.next = self.bytes_q.q.val();
    }
    /// Marks what `update` drives (what `#[hdl_gen]` would derive from it).
    fn connect(&mut self) {
        self.phy.connect_outputs();
        self.sink.ready.connect();
        self.frames.connect();
        self.bytes.connect();
        self.fcs.clock.connect();
        self.fcs.sink.connect_inputs();
        with_dffs!(connect_dffs!(self,));
        self.n_in.connect();
        self.in_mask.connect();
        self.crc64.connect();
        self.send_r.connect();
        self.r_take.connect();
        self.can_load.connect();
        self.take_in.connect();
        self.load.connect();
        self.load_data.connect();
        self.load_keep.connect();
        self.load_final.connect();
        self.load_shift.connect();
        self.done.connect();
        self.last_bytes.connect();
        self.owed.connect();
    }

    fn hdl(&self) -> Verilog {
        crate::verilog::hand_written(format!(
            "{MAC_TX_VERILOG}{}",
            crate::crc32::instance_verilog("load_data", "load_keep", "load_final", "load")
        ))
    }
}

/// [`MacTx`]'s Verilog, written by hand: the registers in one clocked block, each written
/// only in the cycles that change it, and the end-of-frame and gap arithmetic worked out only
/// in those cycles. The words for the output register and the CRC are combinational (the CRC
/// block, the child `fcs`, registers them on the same edge). rust-hdl's Verilog of `update`
/// set every register's next value and every local in every cycle.
const MAC_TX_VERILOG: &str = "
reg [63:0] r_data = 0;
reg [7:0] r_keep = 0;
reg r_full = 0;
reg r_final = 0;
reg [7:0] r_shift = 0;
reg [3:0] wcount = 0;
reg pad = 0;
reg tail = 0;
reg [7:0] tail_keep = 0;
reg [7:0] tail_shift = 0;
reg [3:0] tail_bytes = 0;
reg [1:0] gap = 0;
reg [2:0] deficit = 0;
reg [63:0] frames_q = 0;
reg [63:0] bytes_q = 0;
wire [31:0] fcs_crc;
wire fcs_crc_valid;
wire fcs_ready;
reg [3:0] n_in;
reg [63:0] in_mask;
reg load;
reg [63:0] load_data;
reg [7:0] load_keep;
reg load_final;
reg [7:0] load_shift;
reg done;
reg [3:0] last_bytes;
reg [4:0] owed;
reg w7;
reg w8;
reg [3:0] w_inc;
wire [63:0] crc64 = {32'h0, fcs_crc};
wire send_r = r_full & !tail & (gap == 2'd0);
wire r_take = send_r & phy$ready;
wire can_load = !r_full | r_take;
wire in_ready = tx_enable & can_load & !pad;
wire take_in = sink$valid & in_ready;
assign sink$ready = in_ready;
assign phy$valid = send_r | tail;
assign phy$user = 1'b0;
assign phy$data = tail ? crc64 >> tail_shift : r_final ? r_data | (crc64 << r_shift) : r_data;
assign phy$keep = tail ? tail_keep : r_final ? {r_keep[3:0], 4'hf} : r_keep;
assign phy$last = tail | (r_final & !r_keep[4]);
assign frames = frames_q;
assign bytes = bytes_q;
// The word loaded into the output register (and the CRC): a word from `sink`, or padding.
always @(*) begin
    n_in = 4'd8;
    in_mask = 64'hffffffffffffffff;
    load = pad & can_load;
    load_data = 64'h0;
    load_keep = 8'hff;
    load_final = 1'b0;
    load_shift = 8'd32;
    if (pad & can_load & (wcount == 4'd7)) begin
        // Bytes 56..60 of the padded frame; the FCS fills the rest of the word.
        load_keep = 8'h0f;
        load_final = 1'b1;
    end
    if (take_in) begin
        // A whole word is taken as it is: count and mask only for a partial one.
        if (sink$keep != 8'hff) begin
            n_in = sink$keep[7] ? 4'd8 : sink$keep[6] ? 4'd7 : sink$keep[5] ? 4'd6
                : sink$keep[4] ? 4'd5 : sink$keep[3] ? 4'd4 : sink$keep[2] ? 4'd3
                : sink$keep[1] ? 4'd2 : sink$keep[0] ? 4'd1 : 4'd0;
            in_mask = 64'hffffffffffffffff >> (8'd64 - {1'b0, n_in, 3'b000});
        end
        load = 1'b1;
        load_data = sink$data & in_mask;
        if (sink$last) begin
            if ((wcount == 4'd8) | ((wcount == 4'd7) & sink$keep[3])) begin
                // At least 60 bytes: no padding, the FCS follows the data.
                load_keep = sink$keep;
                load_final = 1'b1;
                load_shift = {1'b0, n_in, 3'b000};
            end else if (wcount == 4'd7) begin
                // 57 to 59 bytes: pad within this word up to byte 60.
                load_keep = 8'h0f;
                load_final = 1'b1;
            end
        end
    end
end
always @(posedge clock) begin
    // In this block a register is read before it is written (else Verilator keeps a shadow
    // copy of it, copied twice every cycle).
    w7 = wcount == 4'd7;
    w8 = wcount == 4'd8;
    w_inc = wcount + 4'd1;
    // End of a frame on the wire: count the idle bytes it still owes.
    done = 1'b0;
    last_bytes = 4'd0;
    if (tail & phy$ready) begin
        done = 1'b1;
        last_bytes = tail_bytes;
    end
    if (r_take & r_final & !r_keep[4]) begin
        done = 1'b1;
        last_bytes = r_shift[6:3] + 4'd4;
    end
    if (!done & (gap != 2'd0)) gap <= gap - 2'd1;
    if (done) begin
        owed = {2'b00, deficit} + {1'b0, last_bytes} + 5'd12;
        gap <= owed[4:3];
        deficit <= owed[2:0];
    end
    if (tail & phy$ready) tail <= 1'b0;
    if (r_take & r_final & r_keep[4]) begin
        tail <= 1'b1;
        tail_keep <= r_keep >> 4;
        tail_shift <= 8'd64 - r_shift;
        tail_bytes <= r_shift[6:3] - 4'd4;
    end
    if (pad & can_load) begin
        if (w7) begin
            pad <= 1'b0;
            wcount <= 4'd0;
        end else begin
            wcount <= w_inc;
        end
    end
    if (take_in) begin
        bytes_q <= bytes_q + {60'h0, n_in};
        if (sink$last) begin
            frames_q <= frames_q + 64'd1;
            if (w8 | w7) begin
                wcount <= 4'd0;
            end else begin
                pad <= 1'b1;
                wcount <= w_inc;
            end
        end else if (!w8) begin
            wcount <= w_inc;
        end
    end
    if (load) begin
        r_data <= load_data;
        r_keep <= load_keep;
        r_final <= load_final;
        r_shift <= load_shift;
        r_full <= 1'b1;
    end else if (r_take) begin
        r_full <= 1'b0;
    end
end
";

crate::impl_set_inputs!(MacTx {
    clock,
    sink.data,
    sink.keep,
    sink.last,
    sink.user,
    sink.valid,
    phy.ready,
    tx_enable
});

/// The bytes a frame becomes on the wire: padded with zeros to 60 bytes, FCS appended.
pub fn wire_bytes(frame: &[u8]) -> Vec<u8> {
    let mut f = frame.to_vec();
    if f.len() < 60 {
        f.resize(60, 0);
    }
    let crc = f.chunks(8).fold(u32::MAX, |s, c| {
        let mut w = [0u8; 8];
        w[..c.len()].copy_from_slice(c);
        crate::crc32::advance(s, u64::from_le_bytes(w), c.len())
    });
    f.extend((!crc).to_le_bytes());
    f
}

/// Idle cycles after each frame of `wire_lens` (padded length with FCS), from the deficit
/// formula of the module documentation, starting with no deficit.
pub fn reference_gaps(wire_lens: impl IntoIterator<Item = usize>) -> Vec<usize> {
    let mut deficit = 0;
    wire_lens
        .into_iter()
        .map(|p| {
            let slack = p.div_ceil(8) * 8 - p;
            let owed = deficit + WIRE_OVERHEAD - slack;
            deficit = owed % 8;
            owed / 8
        })
        .collect()
}

/// Open-loop random stimulus for `oxnic_mac_tx`: frames of 1..=1600 bytes (biased towards
/// short ones and word corners) on `sink`, with valid gaps; `phy$ready` cycles through every
/// [`crate::stream::Backpressure`] pattern; `tx_enable` drops now and then. The sender moves
/// on after every cycle it offers a word, taken or not, so the frames the block takes are cut
/// from the offered ones wherever `sink$ready` was low; tests rebuild them from `sink$ready`.
pub fn random_stimulus(seed: u64, cycles: usize) -> Stimulus {
    use crate::stream::{bytes_to_port, frame_to_words, keep_mask, Backpressure, Word};
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let phase = 96u64;
    let mut pending: std::collections::VecDeque<Word> = Default::default();
    let mut out = Vec::with_capacity(cycles);
    for c in 0..cycles as u64 {
        let pattern = Backpressure::ALL[((c / phase) as usize) % Backpressure::ALL.len()];
        let gap_percent = [0u8, 30, 5, 60][((c / phase / 3) as usize) % 4];
        let enable = (c / 400) % 7 != 3 || rng.gen_ratio(1, 2);
        let mut set: Vec<(&'static str, Vec<u64>)> = vec![
            ("phy$ready", vec![u64::from(pattern.ready(c, &mut rng))]),
            ("tx_enable", vec![u64::from(enable)]),
        ];
        if rng.gen_range(0..100u8) < gap_percent {
            set.push(("sink$valid", vec![0]));
            set.push(("sink$data", vec![rng.gen()]));
            set.push(("sink$keep", vec![rng.gen_range(0..256)]));
            set.push(("sink$last", vec![rng.gen_range(0..2)]));
        } else {
            if pending.is_empty() {
                let len = crate::stream_stimulus::random_len(&mut rng, 1600);
                let frame: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
                pending.extend(frame_to_words(&frame, 8, false));
            }
            let w = pending.pop_front().unwrap_or_default();
            // Bytes past `keep` are junk: the block must not send them as padding.
            let junk: u64 = rng.gen();
            let m = keep_mask(w.len) as u64;
            let m64 = if w.len == 8 {
                u64::MAX
            } else {
                (1u64 << (8 * w.len)) - 1
            };
            let d = (bytes_to_port(&w.bytes)[0] & m64) | (junk & !m64);
            set.push(("sink$valid", vec![1]));
            set.push(("sink$data", vec![d]));
            set.push(("sink$keep", vec![m]));
            set.push(("sink$last", vec![u64::from(w.last)]));
        }
        set.push(("sink$user", vec![rng.gen_range(0..2)]));
        out.push(set);
    }
    out
}

/// Verilog of the catalogue entry `oxnic_mac_tx`.
pub fn verilog() -> Result<String, crate::verilog::GenError> {
    let mut uut = MacTx::new();
    uut.connect_all();
    crate::verilog::generate_named(&uut, "oxnic_mac_tx")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::{frame_to_words, Backpressure, ClosedLoop, Cycle, Sender};
    use crate::testbench::Bench;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// What came out on `phy`, checked for the stream rules on the way.
    #[derive(Default)]
    struct Wire {
        /// Frames with the cycle their first and last words were taken.
        frames: Vec<(Vec<u8>, u64, u64)>,
        /// `phy$valid` per cycle.
        valid: Vec<bool>,
        counters: (u64, u64),
    }

    /// Sends `frames` through a sender idling `gap_percent` % of the time, under `schedule`
    /// (then always ready), with `tx_enable` high, until everything is out.
    fn run(
        frames: &[Vec<u8>],
        gap_percent: u8,
        schedule: &[(Backpressure, u64)],
        seed: u64,
    ) -> Wire {
        let mut tx = Sender::new(gap_percent);
        for f in frames {
            tx.push_frame(frame_to_words(f, 8, false));
        }
        let mut d = ClosedLoop::new(MacTx::new(), "phy$ready", tx, schedule, (200, 10), seed);
        d.bench.set("tx_enable", &[1]).unwrap();
        let mut w = Wire::default();
        let mut cur: Option<(Vec<u8>, u64)> = None;
        let mut stalled: Option<(u64, u64, u64)> = None;
        while d.sender.backlog() > 0 || w.frames.len() < frames.len() {
            let Cycle { t, ready, offered } = d.begin();
            let o = |n: &str| d.bench.get(n).unwrap()[0];
            let valid = o("phy$valid") == 1;
            w.valid.push(valid);
            let word = (o("phy$data"), o("phy$keep"), o("phy$last"));
            if let Some(s) = stalled.take() {
                assert!(valid, "cycle {t}: valid dropped before the word was taken");
                assert_eq!(word, s, "cycle {t}: word changed under backpressure");
            }
            if valid {
                assert_eq!(o("phy$user"), 0);
                assert!(
                    word.1.is_power_of_two() || word.1 == 0xff || (word.1 + 1).is_power_of_two()
                );
                if ready {
                    let f = cur.get_or_insert_with(|| (vec![], t));
                    let d = word.0.to_le_bytes();
                    f.0.extend((0..8).filter(|i| word.1 >> i & 1 != 0).map(|i| d[i]));
                    if word.2 == 1 {
                        let (bytes, first) = cur.take().unwrap();
                        w.frames.push((bytes, first, t));
                    }
                } else {
                    stalled = Some(word);
                }
            }
            if offered && o("sink$ready") == 1 {
                d.sender.taken();
            }
            d.bench.tick().unwrap();
        }
        let mut b = d.bench;
        // The last frame's gap: nothing more to send, so valid must stay low.
        b.set("sink$valid", &[0]).unwrap();
        for _ in 0..4 {
            b.settle().unwrap();
            w.valid.push(b.get("phy$valid").unwrap()[0] == 1);
            b.tick().unwrap();
        }
        b.settle().unwrap();
        w.counters = (b.get("frames").unwrap()[0], b.get("bytes").unwrap()[0]);
        w
    }

    /// Frames padded with correct FCS, the idle time after each one kept exactly, counters.
    fn check(frames: &[Vec<u8>], w: &Wire) {
        assert_eq!(w.frames.len(), frames.len());
        let gaps = reference_gaps(frames.iter().map(|f| wire_bytes(f).len()));
        for (i, ((got, _, last), sent)) in w.frames.iter().zip(frames).enumerate() {
            let want = wire_bytes(sent);
            assert_eq!(got, &want, "frame {i} of {} bytes", sent.len());
            assert_eq!(
                crc32fast::hash(&got[..got.len() - 4]).to_le_bytes(),
                got[got.len() - 4..],
                "FCS of frame {i}"
            );
            for c in last + 1..=last + gaps[i] as u64 {
                assert!(
                    !w.valid[c as usize],
                    "frame {i}: valid in its gap at cycle {c}"
                );
            }
        }
        let bytes: usize = frames.iter().map(Vec::len).sum();
        assert_eq!(w.counters, (frames.len() as u64, bytes as u64));
    }

    #[test]
    fn every_length_1_to_80_padded_with_fcs() {
        // Every final keep pattern, with and without padding, FCS in one or two words.
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let frames: Vec<Vec<u8>> = (1..=80)
            .map(|n| (0..n).map(|_| rng.gen()).collect())
            .collect();
        let w = run(&frames, 0, &[], 1);
        check(&frames, &w);
        assert_eq!(w.frames[0].0.len(), 64);
        assert_eq!(&w.frames[0].0[1..60], &[0; 59][..]);
    }

    #[test]
    fn random_frames_under_every_backpressure_pattern() {
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        for (i, gap) in [0u8, 20].into_iter().enumerate() {
            let frames: Vec<Vec<u8>> = (0..30)
                .map(|_| {
                    let n = crate::stream_stimulus::random_len(&mut rng, 1600);
                    (0..n).map(|_| rng.gen()).collect()
                })
                .collect();
            let schedule: Vec<(Backpressure, u64)> =
                Backpressure::ALL.iter().map(|&p| (p, 300)).collect();
            let w = run(&frames, gap, &schedule, 10 + i as u64);
            check(&frames, &w);
        }
    }

    #[test]
    fn line_rate_is_exact_over_many_frames() {
        // N frames back to back take (P + 20) / 8 cycles each on average, to the byte.
        let n = 48;
        for len in [1usize, 59, 60, 61, 64, 65, 100, 333, 1514] {
            let frames = vec![vec![0xa5u8; len]; n];
            let w = run(&frames, 0, &[], 3);
            check(&frames, &w);
            let p = wire_bytes(&frames[0]).len();
            let cycles = w.frames[n - 1].1 - w.frames[0].1;
            let exact = ((n - 1) * (p + WIRE_OVERHEAD)) as f64 / 8.0;
            assert!(
                (cycles as f64 - exact).abs() <= 1.0,
                "{len}-byte frames: {cycles} cycles for {} frames, wire time {exact}",
                n - 1
            );
            // And the data itself goes at one word per cycle.
            let (_, first, last) = w.frames[0];
            assert_eq!(last - first + 1, p.div_ceil(8) as u64);
        }
    }

    #[test]
    fn tx_enable_low_takes_nothing() {
        let mut b = Bench::new(MacTx::new()).unwrap();
        b.set("tx_enable", &[0]).unwrap();
        b.set("phy$ready", &[1]).unwrap();
        b.set("sink$valid", &[1]).unwrap();
        b.set("sink$keep", &[0xff]).unwrap();
        for _ in 0..20 {
            b.settle().unwrap();
            assert_eq!(b.get("sink$ready"), Some(vec![0]));
            assert_eq!(b.get("phy$valid"), Some(vec![0]));
            b.tick().unwrap();
        }
        b.set("tx_enable", &[1]).unwrap();
        b.settle().unwrap();
        assert_eq!(b.get("sink$ready"), Some(vec![1]));
    }

    #[test]
    fn reference_gaps_carry_the_deficit() {
        // 64-byte frames: 84 wire bytes = 10.5 cycles; 8 words + idle 2, 3, 2, 3 ...
        assert_eq!(reference_gaps([64; 4]), [2, 3, 2, 3]);
        // 1518 + 4: exact multiple; 20 idle bytes = 2 cycles + 4 carried.
        assert_eq!(reference_gaps([1520; 2]), [2, 3]);
    }

    #[test]
    fn random_stimulus_is_reproducible() {
        let s = random_stimulus(4, 2000);
        assert_eq!(s.len(), 2000);
        assert_eq!(s, random_stimulus(4, 2000));
        assert_ne!(s, random_stimulus(5, 2000));
    }

    #[test]
    fn synthesizes_and_lints() {
        let v = verilog().unwrap();
        crate::synth::verilator_lint("oxnic_mac_tx", &v).unwrap();
        let r = crate::synth::yosys_synth("oxnic_mac_tx", &v).unwrap();
        eprintln!("oxnic_mac_tx: {} cells, {} flops", r.cells, r.flops);
        // CRC (65) + output register (64 + 8 + 1 + 1 + 8) + wcount, pad, tail state (4 + 1 +
        // 1 + 8 + 8 + 4) + gap, deficit (5) + 2 64-bit counters; constant bits may be trimmed.
        let want = 65 + 82 + 26 + 5 + 128;
        assert!(r.flops <= want && r.flops + 16 >= want, "{r:?}");
    }
}
