//! `tx_checksum`: CHECKSUM_PARTIAL insertion on the transmit path (between `tx_engine` and
//! `mac_tx`), as Linux's `skb->ip_summed == CHECKSUM_PARTIAL` asks of a card.
//!
//! The stack has put the (uncomplemented) pseudo-header sum in the TCP/UDP checksum field and
//! tells the card `csum_start` (the L4 header's offset in the frame) and `csum_offset` (the
//! field's offset from there: 16 for TCP, 6 for UDP). The card sums the frame's bytes from
//! `csum_start` to the end as big-endian 16-bit words (the field included), folds, complements,
//! and stores the result big-endian at `csum_start + csum_offset`. A result of 0 is sent as
//! 0xffff: required for UDP (0 means "no checksum"), and equivalent for TCP (both are zero in
//! ones'-complement arithmetic, so a receiver's check passes either way) — which is why the card
//! needs no protocol input.
//!
//! # Store and forward
//! The result is known only after the last byte, but goes near the start, so each frame is held
//! whole before it leaves. The buffer is a ring of `2^(A+1)` words (one word short of it is
//! used) with a queue of up to [`RECORDS`] finished frames: a frame is written behind the
//! frames still waiting or leaving, and is handed to the reader with its result one cycle after
//! its last word. So the writer is never held back by the frame being read, only by a full
//! ring: frames arriving back to back at one word per cycle are taken at that rate while the
//! MAC (slower by the preamble and inter-frame gap) sends the earlier ones, and the reader
//! sends one word per cycle with no idle cycle between frames that are waiting.
//!
//! A frame longer than `2^A` words does not stop the path: each time `2^A` of its words are
//! in without its `last` word, that piece is handed to the reader as it is and the frame goes
//! on (cut-through by pieces). Its checksum request is then ignored (the field has left
//! already) and counted in `csum_oversize`. A request whose field does not lie wholly inside
//! the frame (`csum_start + csum_offset + 2 > len`) is ignored and counted in
//! `csum_bad_offset`; the frame passes unchanged.
//!
//! A frame of at most `2^A` words that arrives with `user` (the error bit) set on its `last`
//! word — `tx_engine` marks a frame whose segment DMA failed this way — is dropped whole and
//! counted in `dropped`; it never reaches the MAC. A longer frame's first pieces have left
//! already: its `user` bit is passed on (the MAC cannot recall it either; the wire sees a
//! truncated frame).
//!
//! Parameters:
//! - `A`: log2 of the longest frame, in 64-bit words, that gets its checksum (`8 * 2^A`
//!   bytes); `A = 8` (2 KiB, a 1518-byte frame) in [`TxChecksum64`], `A = 11` (16 KiB, a
//!   9018-byte jumbo frame) in [`TxChecksumJumbo`]; at most 12 (byte counts and positions are
//!   16-bit: `csum_start + csum_offset` wraps at 65536, as in [`reference`]);
//! - `AP1`: `A + 1` (rust-hdl cannot compute it), the width of a ring address.
//!
//! Inputs:
//! - `clock`;
//! - `sink`: frames (64-bit, `keep` contiguous from byte 0, only the last word partial);
//!   backpressured through `sink$ready` (low while the ring or the frame queue is full);
//! - `csum_en`, `csum_start`, `csum_offset`: the frame's checksum request, sampled with its
//!   FIRST word only (a per-frame sideband, like [`crate::csum::Csum`]'s `start`);
//! - `source$ready`: backpressure from the MAC; a word on `source` stays until taken.
//!
//! Outputs:
//! - `source`: the frames in order, checksums inserted, `user` 0 except on a too-long frame that
//!   came with it;
//! - `frames`: frames that left on `source` (counted at their `last` word); `csum_inserted`:
//!   checksums written; `csum_oversize`, `csum_bad_offset`: requests ignored, as above;
//!   `dropped`: error frames dropped. All 32-bit, wrapping.

use crate::connect_dffs;
use crate::csum::Csum;
use crate::stream::{StreamSink, StreamSource};
use crate::stream_fifo::StreamFifo;
use crate::testbench::Stimulus;
use rust_hdl::prelude::*;
use std::collections::BTreeMap;

/// Finished frames (or pieces) the ring holds at most.
pub const RECORDS: usize = 16;

/// CHECKSUM_PARTIAL insertion with a store-and-forward ring; see the module docs.
#[derive(LogicBlock)]
pub struct TxChecksum<const A: usize, const AP1: usize> {
    /// Clock for every register.
    pub clock: Signal<In, Clock>,
    /// Frames in.
    pub sink: StreamSink<64, 8>,
    /// Frames out, checksums inserted.
    pub source: StreamSource<64, 8>,
    /// Insert a checksum into this frame (sampled with its first word).
    pub csum_en: Signal<In, Bit>,
    /// Offset from the frame's first byte where summing starts (sampled with its first word).
    pub csum_start: Signal<In, Bits<16>>,
    /// Offset from `csum_start` where the big-endian result goes (sampled with its first word).
    pub csum_offset: Signal<In, Bits<16>>,
    /// Frames sent.
    pub frames: Signal<Out, Bits<32>>,
    /// Checksums inserted.
    pub csum_inserted: Signal<Out, Bits<32>>,
    /// Requests ignored because the frame was longer than `2^A` words.
    pub csum_oversize: Signal<Out, Bits<32>>,
    /// Requests ignored because the field was not inside the frame.
    pub csum_bad_offset: Signal<Out, Bits<32>>,
    /// Error frames dropped.
    pub dropped: Signal<Out, Bits<32>>,
    sum: Csum,
    data_ram: RAM<Bits<64>, AP1>,
    keep_ram: RAM<Bits<8>, AP1>,
    last_ram: RAM<Bit, AP1>,
    user_ram: RAM<Bit, AP1>,
    // Finished frames and pieces, by bit: 13:0 first word's address, 27:14 words, 28 insert,
    // 47:32 where, 63:48 the result.
    records: StreamFifo<64, 8, 4, 5>,
    // Writer: next address, the frame's (or piece's) first address and words so far, a frame in
    // progress, and that frame continuing from a piece handed over (no checksum any more).
    waddr: DFF<Bits<AP1>>,
    fstart: DFF<Bits<AP1>>,
    wn: DFF<Bits<AP1>>,
    mid: DFF<Bit>,
    wcont: DFF<Bit>,
    // Words in the ring (written and not yet sent).
    used: DFF<Bits<AP1>>,
    // The frame's request and byte count so far, latched with its first word.
    en_q: DFF<Bit>,
    pos_q: DFF<Bits<16>>,
    len_q: DFF<Bits<16>>,
    // A frame ended last cycle; its record waits for the sum from `sum`.
    pend: DFF<Bit>,
    pend_rec: DFF<Bits<64>>,
    // Reader: the frame being sent, the word within it, the RAM output holds that word.
    cur_valid: DFF<Bit>,
    cur: DFF<Bits<64>>,
    rptr: DFF<Bits<AP1>>,
    rvalid: DFF<Bit>,
    frames_q: DFF<Bits<32>>,
    inserted_q: DFF<Bits<32>>,
    oversize_q: DFF<Bits<32>>,
    bad_offset_q: DFF<Bits<32>>,
    dropped_q: DFF<Bits<32>>,
    // Writer locals.
    room: Signal<Local, Bit>,
    rec_level: Signal<Local, Bits<6>>,
    can_write: Signal<Local, Bit>,
    take: Signal<Local, Bit>,
    n_in: Signal<Local, Bits<16>>,
    en_now: Signal<Local, Bit>,
    pos_now: Signal<Local, Bits<16>>,
    len_now: Signal<Local, Bits<16>>,
    fits: Signal<Local, Bit>,
    ins_now: Signal<Local, Bit>,
    result: Signal<Local, Bits<16>>,
    wn1: Signal<Local, Bits<AP1>>,
    freed: Signal<Local, Bits<AP1>>,
    rec_now: Signal<Local, Bits<64>>,
    // Reader locals.
    cur_start: Signal<Local, Bits<AP1>>,
    cur_n: Signal<Local, Bits<AP1>>,
    cur_ins: Signal<Local, Bit>,
    cur_pos: Signal<Local, Bits<16>>,
    cur_pos1: Signal<Local, Bits<16>>,
    cur_res: Signal<Local, Bits<16>>,
    head: Signal<Local, Bits<64>>,
    pop: Signal<Local, Bit>,
    frame_end: Signal<Local, Bit>,
    raddr: Signal<Local, Bits<AP1>>,
    word13: Signal<Local, Bits<13>>,
    sh_hi: Signal<Local, Bits<8>>,
    sh_lo: Signal<Local, Bits<8>>,
    out_hi: Signal<Local, Bits<64>>,
    out_lo: Signal<Local, Bits<64>>,
    count_for: [Constant<Bits<16>>; 8],
    piece_words: Constant<Bits<AP1>>,
    ring_cap: Constant<Bits<AP1>>,
    byte_mask: Constant<Bits<64>>,
    ins_bit: Constant<Bits<64>>,
}

/// The card's default: 2 KiB frames get their checksum (a 1518-byte frame), a 4 KiB ring.
pub type TxChecksum64 = TxChecksum<8, 9>;
/// Jumbo frames: 16 KiB frames get their checksum (a 9018-byte frame), a 32 KiB ring.
pub type TxChecksumJumbo = TxChecksum<11, 12>;

impl<const A: usize, const AP1: usize> TxChecksum<A, AP1> {
    /// Builds the block.
    pub fn new() -> Self {
        assert_eq!(AP1, A + 1, "AP1 must be A + 1");
        assert!((1..=12).contains(&A), "2..=4096 words");
        fn zeroed<D: Synth, const N: usize>() -> RAM<D, N> {
            let init: BTreeMap<Bits<N>, D> = (0..1u64 << N)
                .map(|a| (Bits::<N>::from(a), D::default()))
                .collect();
            RAM::new(init)
        }
        fn d<T: Default>() -> T {
            T::default()
        }
        TxChecksum {
            clock: d(),
            sink: d(),
            source: d(),
            csum_en: d(),
            csum_start: d(),
            csum_offset: d(),
            frames: d(),
            csum_inserted: d(),
            csum_oversize: d(),
            csum_bad_offset: d(),
            dropped: d(),
            sum: Csum::new(),
            data_ram: zeroed(),
            keep_ram: zeroed(),
            last_ram: zeroed(),
            user_ram: zeroed(),
            records: d(),
            waddr: d(),
            fstart: d(),
            wn: d(),
            mid: d(),
            wcont: d(),
            used: d(),
            en_q: d(),
            pos_q: d(),
            len_q: d(),
            pend: d(),
            pend_rec: d(),
            cur_valid: d(),
            cur: d(),
            rptr: d(),
            rvalid: d(),
            frames_q: d(),
            inserted_q: d(),
            oversize_q: d(),
            bad_offset_q: d(),
            dropped_q: d(),
            room: d(),
            rec_level: d(),
            can_write: d(),
            take: d(),
            n_in: d(),
            en_now: d(),
            pos_now: d(),
            len_now: d(),
            fits: d(),
            ins_now: d(),
            result: d(),
            wn1: d(),
            freed: d(),
            rec_now: d(),
            cur_start: d(),
            cur_n: d(),
            cur_ins: d(),
            cur_pos: d(),
            cur_pos1: d(),
            cur_res: d(),
            head: d(),
            pop: d(),
            frame_end: d(),
            raddr: d(),
            word13: d(),
            sh_hi: d(),
            sh_lo: d(),
            out_hi: d(),
            out_lo: d(),
            count_for: core::array::from_fn(|n| Constant::new((n as u64 + 1).into())),
            piece_words: Constant::new((1u64 << A).into()),
            ring_cap: Constant::new(((1u64 << AP1) - 1).into()),
            byte_mask: Constant::new(0xffu64.into()),
            ins_bit: Constant::new((1u64 << 28).into()),
        }
    }
}

impl<const A: usize, const AP1: usize> Default for TxChecksum<A, AP1> {
    fn default() -> Self {
        Self::new()
    }
}

// The flip-flops, listed once for `update` and `connect`.
crate::dff_list!(
    $
    waddr, fstart, wn, mid, wcont, used, en_q, pos_q, len_q, pend, pend_rec, cur_valid, cur,
    rptr, rvalid, frames_q, inserted_q, oversize_q, bad_offset_q, dropped_q
);

impl<const A: usize, const AP1: usize> Logic for TxChecksum<A, AP1> {
    fn update(&mut self) {
        with_dffs!(dff_setup!(self, clock,));
        clock!(self, clock, sum, records);
        self.data_ram.read_clock.next = self.clock.val();
        self.data_ram.write_clock.next = self.clock.val();
        self.keep_ram.read_clock.next = self.clock.val();
        self.keep_ram.write_clock.next = self.clock.val();
        self.last_ram.read_clock.next = self.clock.val();
        self.last_ram.write_clock.next = self.clock.val();
        self.user_ram.read_clock.next = self.clock.val();
        self.user_ram.write_clock.next = self.clock.val();
        self.records.sink.keep.next = 0.into();
        self.records.sink.last.next = true;
        self.records.sink.user.next = false;
        self.records.sink.valid.next = false;
        self.records.sink.data.next = 0.into();
        self.records.source.ready.next = false;

        // ---- Writer ----
        // A word goes in when the ring has room and the record queue has room for the frame
        // waiting for its sum and for one this word may finish.
        self.room.next = self.used.q.val() != self.ring_cap.val();
        self.rec_level.next =
            bit_cast::<6, 5>(self.records.level.val()) + bit_cast::<6, 1>(self.pend.q.val().into());
        self.can_write.next = self.room.val() & (self.rec_level.val() < 15);
        self.sink.ready.next = self.can_write.val();
        self.take.next = self.sink.valid.val() & self.can_write.val();
        // A whole word counts 8; the bytes of a partial one are counted.
        self.n_in.next = self.count_for[7].val();
        if self.sink.keep.val() != 0xff {
            self.n_in.next = 0.into();
            for n in 0..8 {
                if self.sink.keep.val().get_bit(n) {
                    self.n_in.next = self.count_for[n].val();
                }
            }
        }
        self.en_now.next = self.csum_en.val();
        self.pos_now.next = self.csum_start.val() + self.csum_offset.val();
        self.len_now.next = self.n_in.val();
        if self.mid.q.val() {
            self.en_now.next = self.en_q.q.val();
            self.pos_now.next = self.pos_q.q.val();
            self.len_now.next = self.len_q.q.val() + self.n_in.val();
        }
        self.fits.next =
            (bit_cast::<17, 16>(self.pos_now.val()) + 2) <= bit_cast::<17, 16>(self.len_now.val());
        self.ins_now.next = self.en_now.val() & !self.wcont.q.val() & self.fits.val();
        self.wn1.next = self.wn.q.val() + 1;
        self.data_ram.write_address.next = self.waddr.q.val();
        self.keep_ram.write_address.next = self.waddr.q.val();
        self.last_ram.write_address.next = self.waddr.q.val();
        self.user_ram.write_address.next = self.waddr.q.val();
        self.data_ram.write_data.next = self.sink.data.val();
        self.keep_ram.write_data.next = self.sink.keep.val();
        self.last_ram.write_data.next = self.sink.last.val();
        self.user_ram.write_data.next = self.sink.user.val();
        self.data_ram.write_enable.next = self.take.val();
        self.keep_ram.write_enable.next = self.take.val();
        self.last_ram.write_enable.next = self.take.val();
        self.user_ram.write_enable.next = self.take.val();
        self.sum.sink.data.next = self.sink.data.val();
        self.sum.sink.keep.next = self.sink.keep.val();
        self.sum.sink.last.next = self.sink.last.val();
        self.sum.sink.user.next = false;
        self.sum.sink.valid.next = self.take.val();
        self.sum.start.next = self.csum_start.val();

        // The record of the frame or piece this word ends: first address, words, insert, where.
        self.rec_now.next = bit_cast::<64, AP1>(self.fstart.q.val())
            | (bit_cast::<64, AP1>(self.wn1.val()) << 14)
            | (bit_cast::<64, 16>(self.pos_now.val()) << 32);
        if self.ins_now.val() {
            self.rec_now.next = self.rec_now.val() | self.ins_bit.val();
        }

        // The sum of the frame that ended last cycle: its record goes to the reader.
        self.result.next = !self.sum.csum.val();
        if self.result.val() == 0 {
            self.result.next = 0xffff.into();
        }
        if self.pend.q.val() {
            self.pend.d.next = false;
            self.records.sink.valid.next = true;
            self.records.sink.data.next =
                self.pend_rec.q.val() | (bit_cast::<64, 16>(self.result.val()) << 48);
        }
        self.freed.next = 0.into();
        if self.take.val() {
            self.waddr.d.next = self.waddr.q.val() + 1;
            self.wn.d.next = self.wn1.val();
            self.en_q.d.next = self.en_now.val();
            self.pos_q.d.next = self.pos_now.val();
            self.len_q.d.next = self.len_now.val();
            self.mid.d.next = true;
            if self.sink.last.val() {
                self.mid.d.next = false;
                self.wcont.d.next = false;
                self.wn.d.next = 0.into();
                self.fstart.d.next = self.waddr.q.val() + 1;
                if self.sink.user.val() & !self.wcont.q.val() {
                    // An error frame that fits: forget it; its words are written over.
                    self.dropped_q.d.next = self.dropped_q.q.val() + 1;
                    self.waddr.d.next = self.fstart.q.val();
                    self.fstart.d.next = self.fstart.q.val();
                    self.freed.next = self.wn1.val();
                } else {
                    self.pend.d.next = true;
                    self.pend_rec.d.next = self.rec_now.val();
                    if self.en_now.val() {
                        if self.wcont.q.val() {
                            self.oversize_q.d.next = self.oversize_q.q.val() + 1;
                        } else if self.fits.val() {
                            self.inserted_q.d.next = self.inserted_q.q.val() + 1;
                        } else {
                            self.bad_offset_q.d.next = self.bad_offset_q.q.val() + 1;
                        }
                    }
                }
            } else if self.wn1.val() == self.piece_words.val() {
                // `2^A` words and the frame goes on: hand this piece over now, unchanged (no
                // record of a frame that ended last cycle can be pending: that frame's last
                // word was taken last cycle, and this is the 2^A-th word of the next).
                self.records.sink.valid.next = true;
                self.records.sink.data.next = bit_cast::<64, AP1>(self.fstart.q.val())
                    | (bit_cast::<64, AP1>(self.wn1.val()) << 14);
                self.wcont.d.next = true;
                self.wn.d.next = 0.into();
                self.fstart.d.next = self.waddr.q.val() + 1;
            }
        }

        // ---- Reader ----
        self.cur_start.next = self.cur.q.val().get_bits::<AP1>(0);
        self.cur_n.next = self.cur.q.val().get_bits::<AP1>(14);
        self.cur_ins.next = self.cur.q.val().get_bit(28);
        self.cur_pos.next = self.cur.q.val().get_bits::<16>(32);
        self.cur_res.next = self.cur.q.val().get_bits::<16>(48);
        self.head.next = self.records.source.data.val();
        self.pop.next = self.rvalid.q.val() & self.source.ready.val();
        self.frame_end.next = self.pop.val() & ((self.rptr.q.val() + 1) == self.cur_n.val());
        // The RAM is read one cycle ahead: the word that will be on `source` next cycle.
        self.raddr.next = self.cur_start.val() + self.rptr.q.val();
        self.rvalid.d.next = self.rvalid.q.val();
        if self.frame_end.val() | !self.cur_valid.q.val() {
            // The next frame, straight from the record queue.
            self.rvalid.d.next = self.records.source.valid.val();
            self.cur_valid.d.next = self.records.source.valid.val();
            self.raddr.next = self.head.val().get_bits::<AP1>(0);
            self.rptr.d.next = 0.into();
            if self.records.source.valid.val() {
                self.records.source.ready.next = true;
                self.cur.d.next = self.head.val();
            }
        } else if self.pop.val() {
            self.rptr.d.next = self.rptr.q.val() + 1;
            self.raddr.next = self.cur_start.val() + self.rptr.q.val() + 1;
        }
        self.data_ram.read_address.next = self.raddr.val();
        self.keep_ram.read_address.next = self.raddr.val();
        self.last_ram.read_address.next = self.raddr.val();
        self.user_ram.read_address.next = self.raddr.val();
        if self.pop.val() & self.last_ram.read_data.val() {
            self.frames_q.d.next = self.frames_q.q.val() + 1;
        }
        // Words in the ring: in by the writer, out by the reader, or forgotten with an error
        // frame.
        self.used.d.next = self.used.q.val() - self.freed.val();
        if self.take.val() & !self.pop.val() {
            self.used.d.next = self.used.q.val() + 1 - self.freed.val();
        }
        if !self.take.val() & self.pop.val() {
            self.used.d.next = self.used.q.val() - 1 - self.freed.val();
        }

        // The result's high byte goes at `pos`, its low byte at `pos + 1` (maybe the next word).
        self.cur_pos1.next = self.cur_pos.val() + 1;
        self.word13.next = bit_cast::<13, A>(self.rptr.q.val().get_bits::<A>(0));
        self.sh_hi.next = bit_cast::<8, 3>(self.cur_pos.val().get_bits::<3>(0)) << 3;
        self.sh_lo.next = bit_cast::<8, 3>(self.cur_pos1.val().get_bits::<3>(0)) << 3;
        self.out_hi.next = self.data_ram.read_data.val();
        if self.cur_ins.val() & (self.word13.val() == self.cur_pos.val().get_bits::<13>(3)) {
            self.out_hi.next = (self.data_ram.read_data.val()
                & !(self.byte_mask.val() << self.sh_hi.val()))
                | (bit_cast::<64, 8>(self.cur_res.val().get_bits::<8>(8)) << self.sh_hi.val());
        }
        self.out_lo.next = self.out_hi.val();
        if self.cur_ins.val() & (self.word13.val() == self.cur_pos1.val().get_bits::<13>(3)) {
            self.out_lo.next = (self.out_hi.val() & !(self.byte_mask.val() << self.sh_lo.val()))
                | (bit_cast::<64, 8>(self.cur_res.val().get_bits::<8>(0)) << self.sh_lo.val());
        }
        self.source.data.next = self.out_lo.val();
        self.source.keep.next = self.keep_ram.read_data.val();
        self.source.last.next = self.last_ram.read_data.val();
        self.source.user.next = self.user_ram.read_data.val();
        self.source.valid.next = self.rvalid.q.val();

        self.frames.next = self.frames_q.q.val();
        self.csum_inserted.next = self.inserted_q.q.val();
        self.csum_oversize.next = self.oversize_q.q.val();
        self.csum_bad_offset.next = self.bad_offset_q.q.val();
        self.dropped.next = self.dropped_q.q.val();
    }

    /// Marks what `update` drives (what `#[hdl_gen]` would derive from it).
    fn connect(&mut self) {
        self.sink.ready.connect();
        self.source.connect_outputs();
        self.frames.connect();
        self.csum_inserted.connect();
        self.csum_oversize.connect();
        self.csum_bad_offset.connect();
        self.dropped.connect();
        self.sum.clock.connect();
        self.sum.sink.connect_inputs();
        self.sum.start.connect();
        self.records.clock.connect();
        self.records.sink.connect_inputs();
        self.records.source.ready.connect();
        crate::connect_rams!(self, data_ram, keep_ram, last_ram, user_ram);
        with_dffs!(connect_dffs!(self,));
        self.room.connect();
        self.rec_level.connect();
        self.can_write.connect();
        self.take.connect();
        self.n_in.connect();
        self.en_now.connect();
        self.pos_now.connect();
        self.len_now.connect();
        self.fits.connect();
        self.ins_now.connect();
        self.result.connect();
        self.wn1.connect();
        self.freed.connect();
        self.rec_now.connect();
        self.cur_start.connect();
        self.cur_n.connect();
        self.cur_ins.connect();
        self.cur_pos.connect();
        self.cur_pos1.connect();
        self.cur_res.connect();
        self.head.connect();
        self.pop.connect();
        self.frame_end.connect();
        self.raddr.connect();
        self.word13.connect();
        self.sh_hi.connect();
        self.sh_lo.connect();
        self.out_hi.connect();
        self.out_lo.connect();
    }

    /// Verilog written out by hand, see [`tx_checksum_verilog`].
    fn hdl(&self) -> Verilog {
        crate::verilog::hand_written(tx_checksum_verilog(A))
    }
}

/// The body of [`TxChecksum`]'s Verilog module for frames of up to `2^a` words, written by
/// hand. One clocked block; every decision is a wire worked out from the registers as they
/// stand before the edge, so the block reads no register it has written. The ring is one
/// memory of data words and one of `user`, `last` and `keep` together, and the record queue is
/// a plain 16-entry memory of records (rust-hdl's has four RAM modules for the ring and a
/// stream FIFO with `keep`, `last` and `user` memories the records never use, and works out
/// every local and register input in every cycle). The checksum is the child `sum`.
fn tx_checksum_verilog(a: usize) -> String {
    let p = a + 1;
    format!(
        "reg [{pm}:0] waddr = 0;
reg [{pm}:0] fstart = 0;
reg [{pm}:0] wn = 0;
reg mid = 0;
reg wcont = 0;
reg [{pm}:0] used = 0;
reg en_q = 0;
reg [15:0] pos_q = 0;
reg [15:0] len_q = 0;
reg pend = 0;
reg [63:0] pend_rec = 0;
reg cur_valid = 0;
reg [63:0] cur = 0;
reg [{pm}:0] rptr = 0;
reg rvalid = 0;
reg [31:0] frames_q = 0;
reg [31:0] inserted_q = 0;
reg [31:0] oversize_q = 0;
reg [31:0] bad_offset_q = 0;
reg [31:0] dropped_q = 0;
// The ring: data words, and `user`, `last`, `keep` (bits 9, 8, 7:0) of each.
reg [63:0] data_mem [0:{nm}];
reg [9:0] ulk_mem [0:{nm}];
reg [63:0] data_out = 0;
reg [9:0] ulk_out = 0;
// The record queue (16 records; see the Rust module for the layout).
reg [63:0] rec_mem [0:15];
reg [4:0] rec_wp = 0;
reg [4:0] rec_rp = 0;
reg rec_hv = 0;
reg [63:0] rec_out = 0;
integer i;
initial begin
    for (i = 0; i < {n}; i = i + 1) begin
        data_mem[i] = 0;
        ulk_mem[i] = 0;
    end
    for (i = 0; i < 16; i = i + 1) rec_mem[i] = 0;
end
wire [15:0] sum_csum;
wire sum_ready;
wire sum_valid;
@CHILD(sum) sum(
    .clock(clock),
    .sink$data(sink$data),
    .sink$keep(sink$keep),
    .sink$last(sink$last),
    .sink$user(1'b0),
    .sink$valid(take),
    .sink$ready(sum_ready),
    .start(csum_start),
    .csum(sum_csum),
    .csum_valid(sum_valid)
);
// ---- Writer ----
wire [4:0] rec_count = rec_wp - rec_rp;
wire [5:0] rec_level = {{1'b0, rec_count}} + {{5'h00, pend}};
wire can_write = (used != {p}'d{cap}) & (rec_level < 6'd15);
wire take = sink$valid & can_write;
// The bytes of this word: all 8, or up to the highest `keep` bit.
reg [15:0] n_in;
always @(*) begin
    casez (sink$keep)
        8'b1???????: n_in = 16'd8;
        8'b01??????: n_in = 16'd7;
        8'b001?????: n_in = 16'd6;
        8'b0001????: n_in = 16'd5;
        8'b00001???: n_in = 16'd4;
        8'b000001??: n_in = 16'd3;
        8'b0000001?: n_in = 16'd2;
        8'b00000001: n_in = 16'd1;
        default: n_in = 16'd0;
    endcase
end
wire en_now = mid ? en_q : csum_en;
wire [15:0] pos_now = mid ? pos_q : csum_start + csum_offset;
wire [15:0] len_now = mid ? len_q + n_in : n_in;
wire fits = ({{1'b0, pos_now}} + 17'd2) <= {{1'b0, len_now}};
wire ins_now = en_now & !wcont & fits;
wire [{pm}:0] wn1 = wn + {p}'d1;
wire [{pm}:0] waddr1 = waddr + {p}'d1;
wire err_drop = sink$last & sink$user & !wcont;
wire piece = !sink$last & (wn1 == {p}'d{piece});
wire [15:0] res_raw = ~sum_csum;
wire [15:0] result = (res_raw == 16'h0000) ? 16'hffff : res_raw;
wire [63:0] piece_rec = {{{pad}'d0, wn1, {pad}'d0, fstart}};
wire [63:0] rec_now = {{16'h0000, pos_now, 3'b000, ins_now, {pad}'d0, wn1, {pad}'d0, fstart}};
// A piece's record and a pending frame's never come in the same cycle (see `update`).
wire rec_push = (take & piece) | pend;
wire [63:0] rec_in = (take & piece) ? piece_rec : {{result, pend_rec[47:0]}};
// ---- Reader ----
wire [{pm}:0] cur_start = cur[{pm}:0];
wire [{pm}:0] cur_n = cur[{np}:14];
wire cur_ins = cur[28];
wire [15:0] cur_pos = cur[47:32];
wire [15:0] cur_pos1 = cur_pos + 16'd1;
wire [15:0] cur_res = cur[63:48];
wire pop = rvalid & source$ready;
wire [{pm}:0] rptr1 = rptr + {p}'d1;
wire frame_end = pop & (rptr1 == cur_n);
wire next_frame = frame_end | !cur_valid;
wire rec_ready = next_frame & rec_hv;
wire [{pm}:0] raddr = next_frame ? rec_out[{pm}:0]
    : (pop ? cur_start + rptr1 : cur_start + rptr);
wire [{pm}:0] freed = (take & err_drop) ? wn1 : {p}'d0;
wire [{pm}:0] used_step = (take & !pop) ? {p}'d1 : ((!take & pop) ? {{{p}{{1'b1}}}} : {p}'d0);
// The record queue, as the stream FIFO it stands for.
wire rec_pop = rec_hv & rec_ready;
wire rec_accept = (rec_count != 5'd16) | rec_pop;
wire [4:0] rec_next = rec_pop ? rec_rp + 5'd1 : rec_rp;
wire rec_head_next = rec_next != rec_wp;
// The result's high byte goes at `pos`, its low byte at `pos + 1` (maybe the next word).
wire [12:0] word13 = {{{wpad}'d0, rptr[{am}:0]}};
wire [7:0] sh_hi = {{2'b00, cur_pos[2:0], 3'b000}};
wire [7:0] sh_lo = {{2'b00, cur_pos1[2:0], 3'b000}};
wire [63:0] out_hi = (cur_ins & (word13 == cur_pos[15:3]))
    ? (data_out & ~(64'hff << sh_hi)) | ({{56'h0, cur_res[15:8]}} << sh_hi) : data_out;
wire [63:0] out_lo = (cur_ins & (word13 == cur_pos1[15:3]))
    ? (out_hi & ~(64'hff << sh_lo)) | ({{56'h0, cur_res[7:0]}} << sh_lo) : out_hi;
assign sink$ready = can_write;
assign source$data = out_lo;
assign source$keep = ulk_out[7:0];
assign source$last = ulk_out[8];
assign source$user = ulk_out[9];
assign source$valid = rvalid;
assign frames = frames_q;
assign csum_inserted = inserted_q;
assign csum_oversize = oversize_q;
assign csum_bad_offset = bad_offset_q;
assign dropped = dropped_q;
always @(posedge clock) begin
    // Reader: the RAM is read one cycle ahead, the word on `source` next cycle.
    data_out <= data_mem[raddr];
    ulk_out <= ulk_mem[raddr];
    if (next_frame) begin
        rvalid <= rec_hv;
        cur_valid <= rec_hv;
        rptr <= {p}'d0;
        if (rec_hv) cur <= rec_out;
    end else if (pop) begin
        rptr <= rptr1;
    end
    if (pop & ulk_out[8]) frames_q <= frames_q + 32'd1;
    if (take | pop | err_drop) used <= used + used_step - freed;
    // The record queue.
    rec_rp <= rec_next;
    rec_hv <= rec_head_next;
    if (rec_head_next & (rec_pop | !rec_hv)) rec_out <= rec_mem[rec_next[3:0]];
    if (rec_push & rec_accept) begin
        rec_mem[rec_wp[3:0]] <= rec_in;
        rec_wp <= rec_wp + 5'd1;
    end
    // Writer.
    if (pend) pend <= 1'b0;
    if (take) begin
        data_mem[waddr] <= sink$data;
        ulk_mem[waddr] <= {{sink$user, sink$last, sink$keep}};
        en_q <= en_now;
        pos_q <= pos_now;
        len_q <= len_now;
        if (sink$last) begin
            mid <= 1'b0;
            wcont <= 1'b0;
            wn <= {p}'d0;
            if (err_drop) begin
                // An error frame that fits: forget it; its words are written over.
                dropped_q <= dropped_q + 32'd1;
                waddr <= fstart;
            end else begin
                waddr <= waddr1;
                fstart <= waddr1;
                pend <= 1'b1;
                pend_rec <= rec_now;
                if (en_now) begin
                    if (wcont) oversize_q <= oversize_q + 32'd1;
                    else if (fits) inserted_q <= inserted_q + 32'd1;
                    else bad_offset_q <= bad_offset_q + 32'd1;
                end
            end
        end else begin
            mid <= 1'b1;
            waddr <= waddr1;
            if (piece) begin
                // `2^A` words and the frame goes on: this piece goes to the reader unchanged.
                wcont <= 1'b1;
                wn <= {p}'d0;
                fstart <= waddr1;
            end else begin
                wn <= wn1;
            end
        end
    end
end
",
        pm = p - 1,
        n = 1usize << p,
        nm = (1usize << p) - 1,
        cap = (1usize << p) - 1,
        piece = 1usize << a,
        pad = 14 - p,
        np = 14 + p - 1,
        wpad = 13 - a,
        am = a - 1,
    )
}

crate::impl_set_inputs!(TxChecksum64 {
    clock,
    sink.data,
    sink.keep,
    sink.last,
    sink.user,
    sink.valid,
    source.ready,
    csum_en,
    csum_start,
    csum_offset
});

/// What the block makes of one frame when frames of up to `bank_bytes` bytes (`8 * 2^A`) get
/// their checksum: `None` when it is dropped, otherwise the bytes that leave and their `user`
/// bit.
pub fn reference(
    frame: &[u8],
    user: bool,
    csum: Option<(u16, u16)>,
    bank_bytes: usize,
) -> Option<(Vec<u8>, bool)> {
    let fits = frame.len() <= bank_bytes;
    if fits && user {
        return None;
    }
    let mut out = frame.to_vec();
    if let Some((start, offset)) = csum {
        let pos = usize::from(start.wrapping_add(offset));
        if fits && pos + 2 <= frame.len() {
            let s = usize::from(start);
            let mut r = !oxnic_abi::checksum::fold(oxnic_abi::checksum::sum(&frame[s..], 0));
            if r == 0 {
                r = 0xffff;
            }
            out[pos..pos + 2].copy_from_slice(&r.to_be_bytes());
        }
    }
    Some((out, user))
}

/// A frame for the tests: an Ethernet/IPv4 header, a TCP or UDP header with the pseudo-header
/// sum in its checksum field, and random payload; returns the frame and its request.
pub fn random_l4_frame(rng: &mut impl rand::Rng, max_payload: usize) -> (Vec<u8>, u16, u16) {
    use oxnic_abi::checksum::{fold, pseudo_header};
    let udp = rng.gen_bool(0.5);
    let l4_hdr = if udp { 8 } else { 20 };
    let payload = rng.gen_range(0..=max_payload);
    let l4_len = l4_hdr + payload;
    let mut f = vec![0u8; 34 + l4_len];
    rng.fill(&mut f[..]);
    f[12..14].copy_from_slice(&[0x08, 0x00]);
    let src: [u8; 4] = rng.gen();
    let dst: [u8; 4] = rng.gen();
    f[26..30].copy_from_slice(&src);
    f[30..34].copy_from_slice(&dst);
    let proto = if udp { 17 } else { 6 };
    let offset: u16 = if udp { 6 } else { 16 };
    let ph = fold(pseudo_header(src, dst, proto, l4_len as u16));
    let at = 34 + usize::from(offset);
    f[at..at + 2].copy_from_slice(&ph.to_be_bytes());
    (f, 34, offset)
}

/// Random frames (mostly 1 to 1600 bytes, one in 24 over the default block's 2 KiB limit)
/// with random requests (half real TCP/UDP frames, some with the field out of range), some with
/// the error bit, random gaps, and `source$ready` cycling through every backpressure pattern —
/// open loop, for the differential test.
pub fn random_stimulus(seed: u64, cycles: usize) -> Stimulus {
    use crate::stream::{bytes_to_port, frame_to_words, keep_mask, Backpressure};
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut out: Stimulus = Vec::with_capacity(cycles);
    let mut c = 0u64;
    while out.len() < cycles {
        let (frame, req) = if rng.gen_bool(0.5) {
            let (f, s, o) = random_l4_frame(&mut rng, 1400);
            (f, Some((s, o)))
        } else {
            // Now and then a frame over the 2 KiB limit, which passes in pieces.
            let len = if rng.gen_ratio(1, 12) {
                rng.gen_range(2049..=3000)
            } else {
                crate::stream_stimulus::random_len(&mut rng, 1600)
            };
            let f: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
            let s = rng.gen_range(0..=len as u16);
            (f, rng.gen_bool(0.7).then(|| (s, rng.gen_range(0..40u16))))
        };
        let words = frame_to_words(&frame, 8, rng.gen_ratio(1, 8));
        for (i, w) in words.iter().enumerate() {
            while rng.gen_ratio(1, 5) {
                let pattern = Backpressure::ALL[((c / 97) as usize) % Backpressure::ALL.len()];
                out.push(vec![
                    ("source$ready", vec![u64::from(pattern.ready(c, &mut rng))]),
                    ("sink$valid", vec![0]),
                    ("sink$data", vec![rng.gen()]),
                    ("csum_en", vec![rng.gen_range(0..2)]),
                    ("csum_start", vec![rng.gen_range(0..0x10000)]),
                ]);
                c += 1;
            }
            let pattern = Backpressure::ALL[((c / 97) as usize) % Backpressure::ALL.len()];
            let mut set = vec![
                ("source$ready", vec![u64::from(pattern.ready(c, &mut rng))]),
                ("sink$valid", vec![1]),
                ("sink$data", bytes_to_port(&w.bytes)),
                ("sink$keep", vec![keep_mask(w.len) as u64]),
                ("sink$last", vec![u64::from(w.last)]),
                ("sink$user", vec![u64::from(w.user)]),
            ];
            if i == 0 {
                set.push(("csum_en", vec![u64::from(req.is_some())]));
                set.push(("csum_start", vec![u64::from(req.map_or(0, |r| r.0))]));
                set.push(("csum_offset", vec![u64::from(req.map_or(0, |r| r.1))]));
            }
            out.push(set);
            c += 1;
        }
    }
    out.truncate(cycles);
    out
}

/// Verilog of the catalogue entry `oxnic_tx_checksum`.
pub fn verilog() -> Result<String, crate::verilog::GenError> {
    let mut uut = TxChecksum64::new();
    uut.connect_all();
    crate::verilog::generate_named(&uut, "oxnic_tx_checksum")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::{frame_to_words, Backpressure, Sender};
    use crate::testbench::Bench;
    use oxnic_abi::checksum::{fold, pseudo_header, sum};
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// A small limit (16 words, 128 bytes) so that frames longer than it are cheap to simulate.
    type Small = TxChecksum<4, 5>;
    crate::impl_set_inputs!(Small {
        clock,
        sink.data,
        sink.keep,
        sink.last,
        sink.user,
        sink.valid,
        source.ready,
        csum_en,
        csum_start,
        csum_offset
    });

    struct Case {
        frame: Vec<u8>,
        user: bool,
        csum: Option<(u16, u16)>,
    }

    /// Sends `cases` through the block closed loop (gaps on the sender, `bp` on the output) and
    /// returns the frames out with their `user` bit, and the final counters.
    fn run<B: Block + crate::testbench::SetInputs>(
        uut: B,
        cases: &[Case],
        bp: Backpressure,
        seed: u64,
    ) -> (Vec<(Vec<u8>, bool)>, Vec<u64>) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut b = Bench::new(uut).unwrap();
        let mut tx = Sender::new(20);
        // The request of the frame whose first word is next.
        let mut reqs = std::collections::VecDeque::new();
        for c in cases {
            tx.push_frame(frame_to_words(&c.frame, 8, c.user));
            reqs.push_back(c.csum);
        }
        let mut first = true;
        let (mut got, mut cur) = (vec![], vec![]);
        let budget = cases.iter().map(|c| c.frame.len()).sum::<usize>() + 200 * cases.len();
        for cycle in 0..budget as u64 * 4 {
            let (offered, set) = tx.drive(&mut rng);
            let offered = offered.is_some();
            for (n, v) in set {
                b.set(n, &v).unwrap();
            }
            // Junk requests between first words: they must be ignored.
            let req = if first && offered {
                reqs.front().copied().flatten()
            } else {
                Some((rng.gen(), rng.gen()))
            };
            let en = if first && offered {
                req.is_some()
            } else {
                rng.gen()
            };
            b.set("csum_en", &[u64::from(en)]).unwrap();
            b.set("csum_start", &[u64::from(req.map_or(0, |r| r.0))])
                .unwrap();
            b.set("csum_offset", &[u64::from(req.map_or(0, |r| r.1))])
                .unwrap();
            let ready = bp.ready(cycle, &mut rng);
            b.set("source$ready", &[u64::from(ready)]).unwrap();
            b.settle().unwrap();
            let g = |n: &str| b.get(n).unwrap()[0];
            if offered && g("sink$ready") == 1 {
                let w = tx.taken();
                if first {
                    reqs.pop_front();
                }
                first = w.last;
            }
            if ready && g("source$valid") == 1 {
                let (d, k) = (g("source$data").to_le_bytes(), g("source$keep"));
                cur.extend((0..8).filter(|i| k >> i & 1 != 0).map(|i| d[i]));
                if g("source$last") == 1 {
                    got.push((std::mem::take(&mut cur), g("source$user") == 1));
                }
            }
            b.tick().unwrap();
            if tx.backlog() == 0 && b.get("source$valid").unwrap()[0] == 0 && cycle > 8 {
                // Let a last frame still in the ring out.
                let idle = (0..4).all(|_| {
                    b.set("sink$valid", &[0]).unwrap();
                    b.tick().unwrap();
                    b.get("source$valid").unwrap()[0] == 0
                });
                if idle {
                    break;
                }
            }
        }
        let counters = [
            "frames",
            "csum_inserted",
            "csum_oversize",
            "csum_bad_offset",
            "dropped",
        ]
        .iter()
        .map(|n| b.get(n).unwrap()[0])
        .collect();
        (got, counters)
    }

    fn expect(cases: &[Case], bank_bytes: usize) -> Vec<(Vec<u8>, bool)> {
        cases
            .iter()
            .filter_map(|c| reference(&c.frame, c.user, c.csum, bank_bytes))
            .collect()
    }

    #[test]
    fn records_is_the_record_fifos_depth() {
        // (`update` admits a frame while fewer than `RECORDS - 1` = 15 records wait.)
        assert_eq!(TxChecksum64::new().records.depth(), RECORDS);
    }

    #[test]
    fn tcp_and_udp_checksums_verify_at_the_receiver() {
        let mut rng = ChaCha8Rng::seed_from_u64(793);
        let cases: Vec<Case> = (0..40)
            .map(|_| {
                let (frame, s, o) = random_l4_frame(&mut rng, 300);
                Case {
                    frame,
                    user: false,
                    csum: Some((s, o)),
                }
            })
            .collect();
        let (got, counters) = run(TxChecksum64::new(), &cases, Backpressure::Random(70), 1);
        assert_eq!(got, expect(&cases, 2048));
        assert_eq!(counters, vec![40, 40, 0, 0, 0]);
        // What a receiver checks: the L4 sum with the pseudo-header is 0xffff.
        for ((f, _), c) in got.iter().zip(&cases) {
            let proto = if c.csum.unwrap().1 == 6 { 17 } else { 6 };
            let l4 = &f[34..];
            let ph = pseudo_header(
                f[26..30].try_into().unwrap(),
                f[30..34].try_into().unwrap(),
                proto,
                l4.len() as u16,
            );
            assert_eq!(fold(sum(l4, ph)), 0xffff);
            assert_ne!(&f[..], &c.frame[..], "the field was written");
        }
    }

    #[test]
    fn zero_result_is_sent_as_ffff_and_odd_positions_straddle_words() {
        // All-zero data after the start: the sum is 0, complemented 0xffff; then a field at
        // offset 7 (straddling words 0 and 1), and one at the very end of the frame.
        let mut z = vec![0u8; 64];
        z[20] = 0xff;
        z[21] = 0xff;
        let cases = vec![
            Case {
                frame: vec![0u8; 64],
                user: false,
                csum: Some((14, 6)),
            },
            // Sum 0xffff: the complement is 0, sent as 0xffff.
            Case {
                frame: z,
                user: false,
                csum: Some((14, 0)),
            },
            Case {
                frame: (0..40).collect(),
                user: false,
                csum: Some((3, 4)),
            },
            Case {
                frame: (0..41).collect(),
                user: false,
                csum: Some((0, 39)),
            },
        ];
        let (got, counters) = run(TxChecksum64::new(), &cases, Backpressure::Always, 2);
        assert_eq!(got, expect(&cases, 2048));
        assert_eq!(&got[0].0[20..22], &[0xff, 0xff]);
        assert_eq!(&got[1].0[14..16], &[0xff, 0xff]);
        assert_eq!(counters, vec![4, 4, 0, 0, 0]);
    }

    #[test]
    fn oversize_bad_offset_and_error_frames() {
        // A 128-byte limit: longer frames pass in pieces with their request ignored; a field past
        // the end is ignored; error frames that fit are dropped, longer ones keep `user`.
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut cases = vec![];
        let mut want = [0u64; 5];
        for i in 0..60 {
            let len = [1, 7, 8, 9, 64, 127, 128, 129, 200, 256, 257, 400][i % 12];
            let frame: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
            let user = i % 7 == 3;
            let csum = match i % 3 {
                0 => None,
                1 => Some((rng.gen_range(0..=len as u16), rng.gen_range(0..8))),
                _ => Some((0, len as u16)),
            };
            let fits = len <= 128;
            if !(fits && user) {
                want[0] += 1;
            }
            match (csum, fits && user) {
                (_, true) => want[4] += 1,
                (None, _) => {}
                (Some(_), false) if !fits => want[2] += 1,
                (Some((s, o)), false) if usize::from(s + o) + 2 <= len => want[1] += 1,
                (Some(_), false) => want[3] += 1,
            }
            cases.push(Case { frame, user, csum });
        }
        for bp in [Backpressure::Random(50), Backpressure::Always] {
            let (got, counters) = run(Small::new(), &cases, bp, 4);
            assert_eq!(got, expect(&cases, 128), "{bp:?}");
            assert_eq!(counters, want.to_vec(), "{bp:?}");
        }
        assert!(want.iter().all(|&n| n > 0), "{want:?}");
    }

    #[test]
    fn back_to_back_frames_stream_at_full_rate() {
        // 64-byte frames, always ready: one word per cycle, plus at most one idle per frame.
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let frames: Vec<Vec<u8>> = (0..20)
            .map(|_| (0..64).map(|_| rng.gen()).collect())
            .collect();
        let mut b = Bench::new(TxChecksum64::new()).unwrap();
        b.set("source$ready", &[1]).unwrap();
        let words: Vec<_> = frames
            .iter()
            .flat_map(|f| frame_to_words(f, 8, false))
            .collect();
        let (mut sent, mut out_words, mut cycles) = (0, 0, 0);
        while out_words < words.len() && cycles < 1000 {
            if let Some(w) = words.get(sent) {
                b.set("sink$valid", &[1]).unwrap();
                b.set("sink$data", &crate::stream::bytes_to_port(&w.bytes))
                    .unwrap();
                b.set("sink$keep", &[0xff]).unwrap();
                b.set("sink$last", &[u64::from(w.last)]).unwrap();
            } else {
                b.set("sink$valid", &[0]).unwrap();
            }
            b.settle().unwrap();
            if sent < words.len() && b.get("sink$ready").unwrap()[0] == 1 {
                sent += 1;
            }
            out_words += b.get("source$valid").unwrap()[0] as usize;
            b.tick().unwrap();
            cycles += 1;
        }
        assert_eq!(out_words, words.len());
        // 160 words; a frame's latency (8 words + 2) once, then at most 1 idle per frame.
        assert!(cycles <= 160 + 20 + 12, "{cycles} cycles");
    }

    #[test]
    fn frames_go_in_while_the_mac_holds_the_output() {
        // The MAC holds `source` for 200 cycles: 64-byte frames keep going in until the frame
        // queue is full (15 waiting and one at the output; the ring has room for 63), where two
        // ping-pong banks would take two.
        let mut b = Bench::new(TxChecksum64::new()).unwrap();
        b.set("source$ready", &[0]).unwrap();
        let frame: Vec<u8> = (0..64).collect();
        let words = frame_to_words(&frame, 8, false);
        let mut taken = 0;
        for _ in 0..200 {
            let w = &words[taken % words.len()];
            b.set("sink$valid", &[1]).unwrap();
            b.set("sink$data", &crate::stream::bytes_to_port(&w.bytes))
                .unwrap();
            b.set("sink$keep", &[0xff]).unwrap();
            b.set("sink$last", &[u64::from(w.last)]).unwrap();
            b.settle().unwrap();
            taken += b.get("sink$ready").unwrap()[0] as usize;
            b.tick().unwrap();
        }
        assert_eq!(taken, RECORDS * 8, "{taken} words taken");
        // Then they all leave, whole and in order.
        b.set("sink$valid", &[0]).unwrap();
        b.set("source$ready", &[1]).unwrap();
        let mut out = vec![];
        for _ in 0..400 {
            b.settle().unwrap();
            if b.get("source$valid").unwrap()[0] == 1 {
                out.extend(b.get("source$data").unwrap()[0].to_le_bytes());
            }
            b.tick().unwrap();
        }
        assert_eq!(out.len(), RECORDS * 64);
        assert!(out.chunks(64).all(|f| f == &frame[..]));
    }

    #[test]
    fn random_stimulus_is_reproducible() {
        let s = random_stimulus(9, 500);
        assert_eq!(s.len(), 500);
        assert_eq!(s, random_stimulus(9, 500));
    }

    #[test]
    fn synthesizes_with_yosys_and_lints() {
        let v = verilog().unwrap();
        crate::synth::verilator_lint("oxnic_tx_checksum", &v).unwrap();
        let r = crate::synth::yosys_synth("oxnic_tx_checksum", &v).unwrap();
        println!("oxnic_tx_checksum: {r:?}");
        assert!(r.flops > 0 && r.cells > r.flops, "{r:?}");
    }
}
