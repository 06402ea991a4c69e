//! `tx_engine`: the transmit DMA engine. For each of `n` TX queues it fetches descriptors from
//! the ring in host memory when the driver rings the doorbell, walks each frame's
//! scatter-gather chain, reads the segments' bytes by DMA, streams the frames out (to
//! `tx_checksum`, then `mac_tx`), and writes a completion record per frame into the queue's
//! completion ring.
//!
//! # Queues
//! Queue `i`'s registers come in as ports (the register file drives them from `oxnic_abi::regs`'s
//! `txq` block): `ring_base$i` (IOVA), `ring_log2$i` (ring entries = `2^ring_log2`), `enable$i`,
//! `prod$i` (the doorbell: the driver's free-running 16-bit producer index). The engine's
//! consumer index (descriptors whose frames are complete) comes out on `cons$i`. Each TX queue
//! reports to its own completion ring (`cq_base$i`, `cq_log2$i`), whose free-running producer
//! index comes out on `cq_prod$i`.
//!
//! The per-queue indices, the round-robin pick of a queue with work and the lookups of one
//! queue's state are a block of their own with hand-written Verilog,
//! [`crate::tx_queues::TxQueues`].
//!
//! # A pipeline of four stages
//! The engine keeps many frames in flight, so that a DMA round trip (about a microsecond on
//! PCIe) is paid once per batch of frames rather than twice per frame:
//!
//! 1. **Prefetcher.** Queues with work (`enable & prod != fetched`, not being parsed) are
//!    served round-robin, one doorbell's worth at a time: when a queue is picked its `prod` is
//!    sampled, and every descriptor up to it is read in requests of up to [`BATCH`] descriptors
//!    (never past the ring's end), up to [`BATCHES_IN_FLIGHT`] requests in flight, each only
//!    when the descriptor buffer ([`DESC_BUFFER`] descriptors, in 128-bit words: two a
//!    descriptor, taken from the port one a cycle) has room for its whole answer —
//!    so descriptor responses never wait for buffer room (they may wait behind frame data the
//!    MAC is holding back: responses come in request order).
//!    The driver rings after whole frames, so a pick ends at a frame boundary.
//! 2. **Parser.** Takes the descriptors (32 bytes, `oxnic_abi::desc::TxDesc`) in order, checks
//!    each chain (see Errors) and queues the frame: one record (length, completion fields,
//!    checksum request) and one record per segment.
//! 3. **Reader.** Reads the segments in order, in requests of at most 4096 bytes, up to
//!    [`DATA_READS_IN_FLIGHT`] in flight. The tag of a data request says whether it is the last
//!    piece of its frame.
//! 4. **Streamer.** Takes the data responses (which come back in request order: see
//!    `crate::dma_if`) a 64-bit half of a 128-bit word a cycle, realigns the packed bytes so
//!    that the frame leaves packed whatever the segment lengths, and sends the frame on `source` with its checksum request on `csum_en`,
//!    `csum_start`, `csum_offset` (held for the whole frame). The data path is combinational
//!    from the response port to `source` (`rsp_ready` follows `source$ready`): put a registered
//!    stage downstream (`tx_checksum` is one).
//!
//! So a frame holds the read port for its 64-bit words plus its descriptor's two words: 10
//! cycles for a 64-byte frame (test `small_frames_leave_at_the_read_port_rate`), within the 10.5
//! it takes on the wire with preamble and gap.
//!
//! Finished frames go to a completion writer, which writes `oxnic_abi::desc::Cpl` at
//! `cq_base + (cq_prod mod size) * 32`: `len` = frame bytes, `index` = ring index (mod 2^16) of
//! the frame's last descriptor, `queue`, `timestamp` = the engine's cycle counter, `gro_segs` =
//! 1, `flags` = TX (| ERROR), and the phase bit (bit 7 of byte 31) = 1 on the ring's first pass,
//! flipping each time `cq_prod` wraps. The record is written after the frame's last word left,
//! and `cons$i` and `cq_prod$i` advance when its last word is taken. Frames, and so
//! completions, leave in the order they were posted, across all queues.
//!
//! # Errors
//! The queue never hangs on a bad chain: the frame is dropped, `errors` counts it, and a
//! completion with `ERROR` set is written for the descriptors consumed:
//! - the first descriptor lacks FIRST: that one descriptor;
//! - FIRST inside a chain: the chain before it (the FIRST starts the next frame);
//! - zero length, or a length of 64 KiB or more: the chain up to and including it;
//! - `max_sg` descriptors without LAST: those `max_sg` descriptors;
//! - the chain stops at the sampled `prod` without LAST: the chain;
//! - a descriptor read faults: the chain and the descriptor that could not be read; the rest of
//!   that pick is dropped and fetched again from the next descriptor on;
//! - a segment read faults: the whole chain; the frame, already on `source`, ends at once with a
//!   `last` word carrying `user` = 1 (`tx_checksum` drops such a frame), and the rest of its data
//!   is discarded as it arrives.
//!
//! Counters (wrapping): `frames`, `bytes` (good frames), 32-bit; `errors`, 64-bit (the card's
//! register file shows it as it is).
//!
//! # Tags
//! The engine's read requests carry 7-bit tags (the card uses bit 7 to tell the engines
//! apart): bit 6 set for a descriptor read (the engine remembers each batch's queue and size in
//! a small FIFO, since responses come back in request order); bit 6 clear for a data read, with
//! bit 0 set on the last piece of a frame.

use crate::dma_if::{DmaReadMaster, DmaWriteMaster};
use crate::reg_file::RegFile;
use crate::stream::StreamSource;
use crate::stream_fifo::StreamFifo;
use crate::tx_queues::TxQueues;
use oxnic_abi::desc::{cpl_flags, tx_flags};
use rust_hdl::prelude::*;

/// Most descriptors read in one DMA request (512 bytes, one PCIe max read request).
pub const BATCH: u64 = 16;
/// Descriptor read requests in flight at most.
pub const BATCHES_IN_FLIGHT: u64 = 8;
/// Descriptors the descriptor buffer holds.
pub const DESC_BUFFER: u64 = 64;
/// Segment data read requests in flight at most.
pub const DATA_READS_IN_FLIGHT: u64 = 32;
/// Frames queued between the parser and the streamer at most.
pub const FRAMES_QUEUED: u64 = 64;
/// Default queue count.
pub const QUEUES: usize = 8;
/// Default longest scatter-gather chain.
pub const MAX_SG: usize = 8;

/// The prefetcher's state.
#[derive(Copy, Clone, Debug, PartialEq, Eq, LogicState)]
pub enum FetchState {
    /// Looking for a queue with work.
    Idle,
    /// Requesting the picked queue's descriptors.
    Issue,
}

/// The parser's state.
#[derive(Copy, Clone, Debug, PartialEq, Eq, LogicState)]
pub enum ParseState {
    /// Taking descriptor words.
    Take,
    /// Queuing a finished chain's records.
    Queue,
    /// Looking again at a FIRST descriptor that ended the chain before it.
    Replay,
}

/// The streamer's state.
#[derive(Copy, Clone, Debug, PartialEq, Eq, LogicState)]
pub enum StreamState {
    /// Streaming frames.
    Data,
    /// Sending the bytes left in the realignment register.
    Flush,
    /// Dropping the rest of a frame whose segment read faulted.
    Discard,
}

// A frame record (the frame queue, the completion queue), by bit: 31:0 frame length, 47:32 ring
// index of its last descriptor, 51:48 queue, 55:52 descriptors consumed, 56 error, 57 checksum
// requested, 79:64 csum_start, 95:80 csum_offset. A segment record: 63:0 address, 79:64
// length, 80 the frame's last segment. (`update` spells the positions out: rust-hdl's Verilog
// generator does not see Rust constants.)
const R_ERR: usize = 56;
const S_FINAL: usize = 80;

/// The transmit DMA engine; see the module documentation.
#[derive(LogicBlock)]
pub struct TxEngine {
    /// Clock for every register.
    pub clock: Signal<In, Clock>,
    /// Ring base IOVA per queue.
    pub ring_base: Vec<Signal<In, Bits<64>>>,
    /// log2 of the ring's entries per queue (1..=15).
    pub ring_log2: Vec<Signal<In, Bits<4>>>,
    /// Queue enable.
    pub enable: Vec<Signal<In, Bit>>,
    /// Doorbell: the driver's producer index.
    pub prod: Vec<Signal<In, Bits<16>>>,
    /// Completion ring base IOVA per queue.
    pub cq_base: Vec<Signal<In, Bits<64>>>,
    /// log2 of the completion ring's entries per queue (1..=15).
    pub cq_log2: Vec<Signal<In, Bits<4>>>,
    /// Consumer index per queue.
    pub cons: Vec<Signal<Out, Bits<16>>>,
    /// Completion producer index per queue.
    pub cq_prod: Vec<Signal<Out, Bits<16>>>,
    /// High in the cycle whose edge moves a `cq_prod` on by one (a completion written).
    pub cq_event: Signal<Out, Bit>,
    /// The queue of that completion.
    pub cq_event_q: Signal<Out, Bits<4>>,
    /// Descriptor and segment reads.
    pub rd: DmaReadMaster,
    /// Completion writes.
    pub wr: DmaWriteMaster,
    /// The frames.
    pub source: StreamSource<64, 8>,
    /// The frame asks for a checksum (FIRST descriptor's CSUM flag).
    pub csum_en: Signal<Out, Bit>,
    /// Its `csum_start`.
    pub csum_start: Signal<Out, Bits<16>>,
    /// Its `csum_offset`.
    pub csum_offset: Signal<Out, Bits<16>>,
    /// Good frames sent.
    pub frames: Signal<Out, Bits<32>>,
    /// Bytes of good frames.
    pub bytes: Signal<Out, Bits<32>>,
    /// Frames dropped for a bad chain or a DMA fault.
    pub errors: Signal<Out, Bits<64>>,
    // Per queue: descriptors fetched (or being fetched), parsed, completed; a pick in the parser.
    // (With the completion indices, the pick and the lookups: see `tx_queues`.)
    queues: TxQueues,
    // Prefetcher.
    fs: DFF<FetchState>,
    rr: DFF<Bits<16>>,
    fq: DFF<Bits<16>>,
    f_base: DFF<Bits<64>>,
    f_log2: DFF<Bits<4>>,
    f_idx: DFF<Bits<16>>,
    f_end: DFF<Bits<16>>,
    batches: StreamFifo<16, 2, 3, 4>,
    resv: DFF<Bits<10>>,
    arr: DFF<Bits<7>>,
    // Descriptor words, 128 bits (half a descriptor) each.
    descs: StreamFifo<128, 16, 7, 8>,
    // Parser: the descriptor being read, the chain so far, the verdict being queued.
    ps: DFF<ParseState>,
    // The high half of the head descriptor word is next.
    dh: DFF<Bit>,
    pq: DFF<Bits<4>>,
    discard: DFF<Bit>,
    wc: DFF<Bits<2>>,
    t_addr: DFF<Bits<64>>,
    t_word1: DFF<Bits<64>>,
    t_word2: DFF<Bits<64>>,
    nd: DFF<Bits<4>>,
    flen: DFF<Bits<32>>,
    // The chain's segments: address and length of descriptor `nd`, read at `push_k`.
    sg_addr: RegFile<64>,
    sg_len: RegFile<16>,
    en_q: DFF<Bit>,
    start_q: DFF<Bits<16>>,
    offset_q: DFF<Bits<16>>,
    v_err: DFF<Bit>,
    v_consumed: DFF<Bits<4>>,
    v_last: DFF<Bits<16>>,
    push_k: DFF<Bits<4>>,
    replay: DFF<Bit>,
    held_end: DFF<Bit>,
    frame_q: StreamFifo<128, 16, 6, 7>,
    seg_q: StreamFifo<128, 16, 5, 6>,
    // Reader.
    r_off: DFF<Bits<16>>,
    d_out: DFF<Bits<6>>,
    desc_turn: DFF<Bit>,
    // Streamer.
    ss: DFF<StreamState>,
    // The high half of the head response word is next.
    rh: DFF<Bit>,
    carry: DFF<Bits<64>>,
    cc: DFF<Bits<4>>,
    cpl_q: StreamFifo<128, 16, 4, 5>,
    // Completion writer: the record's second word is next.
    cw: DFF<Bit>,
    cycle_q: DFF<Bits<64>>,
    frames_q: DFF<Bits<32>>,
    bytes_q: DFF<Bits<32>>,
    errors_q: DFF<Bits<64>>,
    // Locals.
    f_mask: Signal<Local, Bits<16>>,
    f_wrap: Signal<Local, Bits<16>>,
    f_left: Signal<Local, Bits<16>>,
    f_cnt: Signal<Local, Bits<16>>,
    f_room: Signal<Local, Bit>,
    want_desc: Signal<Local, Bit>,
    want_data: Signal<Local, Bit>,
    w_q: Signal<Local, Bits<4>>,
    sel_q: Signal<Local, Bits<4>>,
    eval: Signal<Local, Bit>,
    pend: Signal<Local, Bit>,
    done: Signal<Local, Bit>,
    vc: Signal<Local, Bits<4>>,
    d_flags: Signal<Local, Bits<16>>,
    d_len: Signal<Local, Bits<32>>,
    seg_word: Signal<Local, Bits<128>>,
    s_len: Signal<Local, Bits<16>>,
    s_rem: Signal<Local, Bits<16>>,
    s_chunk: Signal<Local, Bits<16>>,
    is_desc: Signal<Local, Bit>,
    c_ready: Signal<Local, Bit>,
    fin_tag: Signal<Local, Bit>,
    head: Signal<Local, Bits<128>>,
    n_in: Signal<Local, Bits<4>>,
    masked: Signal<Local, Bits<64>>,
    comb: Signal<Local, Bits<64>>,
    total: Signal<Local, Bits<4>>,
    final_word: Signal<Local, Bit>,
    out_keep16: Signal<Local, Bits<16>>,
    cc_keep16: Signal<Local, Bits<16>>,
    fault: Signal<Local, Bit>,
    q_done: Signal<Local, Bit>,
    seg_rec: Signal<Local, Bits<128>>,
    pk_addr: Signal<Local, Bits<64>>,
    pk_len: Signal<Local, Bits<16>>,
    resv_add: Signal<Local, Bits<10>>,
    resv_sub: Signal<Local, Bits<10>>,
    desc_take: Signal<Local, Bit>,
    b_head: Signal<Local, Bits<16>>,
    b_rec: Signal<Local, Bits<16>>,
    desc_ok: Signal<Local, Bit>,
    d_pop: Signal<Local, Bit>,
    d_last: Signal<Local, Bit>,
    d_word: Signal<Local, Bits<64>>,
    r_data: Signal<Local, Bits<64>>,
    r_keep: Signal<Local, Bits<8>>,
    r_end: Signal<Local, Bit>,
    f_need: Signal<Local, Bits<10>>,
    resv_sum: Signal<Local, Bits<10>>,
    d_inc: Signal<Local, Bit>,
    d_dec: Signal<Local, Bit>,
    err_bit: Constant<Bits<128>>,
    final_bit: Constant<Bits<128>>,
    finish: Signal<Local, Bit>,
    crec: Signal<Local, Bits<128>>,
    c_q: Signal<Local, Bits<16>>,
    cq_mask: Signal<Local, Bits<16>>,
    phase: Signal<Local, Bit>,
    w3: Signal<Local, Bits<64>>,
    cq_pass: Signal<Local, Bits<16>>,
    byte_masks: Vec<Constant<Bits<64>>>,
    one16: Constant<Bits<16>>,
    batch: Constant<Bits<16>>,
    max_sg: Constant<Bits<4>>,
    max_req: Constant<Bits<16>>,
    d_limit: Constant<Bits<6>>,
    f_first: Constant<Bits<16>>,
    f_last: Constant<Bits<16>>,
    f_csum: Constant<Bits<16>>,
    cpl_tx: Constant<Bits<64>>,
    cpl_err: Constant<Bits<64>>,
    phase_bit: Constant<Bits<64>>,
}

impl TxEngine {
    /// An engine for `queues` TX queues (1..=16) and chains of up to `max_sg` descriptors
    /// (1..=15).
    pub fn new(queues: usize, max_sg: usize) -> Self {
        assert!((1..=16).contains(&queues), "1..=16 queues");
        assert!((1..=15).contains(&max_sg), "1..=15 descriptors per frame");
        fn v<T: Default>(n: usize) -> Vec<T> {
            (0..n).map(|_| T::default()).collect()
        }
        fn d<T: Default>() -> T {
            T::default()
        }
        TxEngine {
            clock: d(),
            ring_base: v(queues),
            ring_log2: v(queues),
            enable: v(queues),
            prod: v(queues),
            cq_base: v(queues),
            cq_log2: v(queues),
            cons: v(queues),
            cq_prod: v(queues),
            cq_event: Default::default(),
            cq_event_q: Default::default(),
            rd: d(),
            wr: d(),
            source: d(),
            csum_en: d(),
            csum_start: d(),
            csum_offset: d(),
            frames: d(),
            bytes: d(),
            errors: d(),
            queues: TxQueues::new(queues),
            fs: d(),
            rr: d(),
            fq: d(),
            f_base: d(),
            f_log2: d(),
            f_idx: d(),
            f_end: d(),
            batches: d(),
            resv: d(),
            arr: d(),
            descs: d(),
            ps: d(),
            dh: d(),
            pq: d(),
            discard: d(),
            wc: d(),
            t_addr: d(),
            t_word1: d(),
            t_word2: d(),
            nd: d(),
            flen: d(),
            sg_addr: RegFile::new(max_sg),
            sg_len: RegFile::new(max_sg),
            en_q: d(),
            start_q: d(),
            offset_q: d(),
            v_err: d(),
            v_consumed: d(),
            v_last: d(),
            push_k: d(),
            replay: d(),
            held_end: d(),
            frame_q: d(),
            seg_q: d(),
            r_off: d(),
            d_out: d(),
            desc_turn: d(),
            ss: d(),
            rh: d(),
            carry: d(),
            cc: d(),
            cpl_q: d(),
            cw: d(),
            cycle_q: d(),
            frames_q: d(),
            bytes_q: d(),
            errors_q: d(),
            f_mask: d(),
            f_wrap: d(),
            f_left: d(),
            f_cnt: d(),
            f_room: d(),
            want_desc: d(),
            want_data: d(),
            w_q: d(),
            sel_q: d(),
            eval: d(),
            pend: d(),
            done: d(),
            vc: d(),
            d_flags: d(),
            d_len: d(),
            seg_word: d(),
            s_len: d(),
            s_rem: d(),
            s_chunk: d(),
            is_desc: d(),
            c_ready: d(),
            fin_tag: d(),
            head: d(),
            n_in: d(),
            masked: d(),
            comb: d(),
            total: d(),
            final_word: d(),
            out_keep16: d(),
            cc_keep16: d(),
            fault: d(),
            q_done: d(),
            seg_rec: d(),
            pk_addr: d(),
            pk_len: d(),
            resv_add: d(),
            resv_sub: d(),
            desc_take: d(),
            b_head: d(),
            b_rec: d(),
            desc_ok: d(),
            d_pop: d(),
            d_last: d(),
            d_word: d(),
            r_data: d(),
            r_keep: d(),
            r_end: d(),
            f_need: d(),
            resv_sum: d(),
            d_inc: d(),
            d_dec: d(),
            err_bit: Constant::new(Bits::<128>::from(1u64) << Bits::<8>::from(R_ERR as u64)),
            final_bit: Constant::new(Bits::<128>::from(1u64) << Bits::<8>::from(S_FINAL as u64)),
            finish: d(),
            crec: d(),
            c_q: d(),
            cq_mask: d(),
            phase: d(),
            w3: d(),
            cq_pass: d(),
            byte_masks: (0..8)
                .map(|k| Constant::new((0xffu64 << (8 * k)).into()))
                .collect(),
            one16: Constant::new(1u64.into()),
            batch: Constant::new(BATCH.into()),
            max_sg: Constant::new((max_sg as u64).into()),
            max_req: Constant::new(4096u64.into()),
            d_limit: Constant::new(DATA_READS_IN_FLIGHT.into()),
            f_first: Constant::new(u64::from(tx_flags::FIRST).into()),
            f_last: Constant::new(u64::from(tx_flags::LAST).into()),
            f_csum: Constant::new(u64::from(tx_flags::CSUM).into()),
            cpl_tx: Constant::new((u64::from(cpl_flags::TX) << 32 | 1).into()),
            cpl_err: Constant::new((u64::from(cpl_flags::TX | cpl_flags::ERROR) << 32 | 1).into()),
            phase_bit: Constant::new((1u64 << 63).into()),
        }
    }
}

impl Default for TxEngine {
    fn default() -> Self {
        Self::new(QUEUES, MAX_SG)
    }
}

impl Logic for TxEngine {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self, clock, fs, rr, fq, f_base, f_log2, f_idx, f_end, resv, arr, ps, dh, pq, discard,
            wc, t_addr, t_word1, t_word2, nd, flen, en_q, start_q, offset_q, v_err, v_consumed,
            v_last, push_k, replay, held_end, r_off, d_out, desc_turn, ss, rh, carry, cc, cw,
            cycle_q, frames_q, bytes_q, errors_q
        );
        clock!(self, clock, batches, descs, frame_q, seg_q, cpl_q);
        self.queues.clock.next = self.clock.val();
        for i in 0..self.enable.len() {
            self.queues.enable[i].next = self.enable[i].val();
            self.queues.prod[i].next = self.prod[i].val();
            self.queues.ring_base[i].next = self.ring_base[i].val();
            self.queues.ring_log2[i].next = self.ring_log2[i].val();
            self.queues.cq_base[i].next = self.cq_base[i].val();
            self.queues.cq_log2[i].next = self.cq_log2[i].val();
            self.cons[i].next = self.queues.cons[i].val();
            self.cq_prod[i].next = self.queues.cq_prod[i].val();
        }
        self.sg_addr.clock.next = self.clock.val();
        self.sg_len.clock.next = self.clock.val();
        self.sg_addr.write.next = false;
        self.sg_len.write.next = false;
        self.sg_addr.windex.next = self.nd.q.val();
        self.sg_len.windex.next = self.nd.q.val();
        self.sg_addr.rindex.next = self.push_k.q.val();
        self.sg_len.rindex.next = self.push_k.q.val();
        self.cycle_q.d.next = self.cycle_q.q.val() + 1;

        // Defaults for locals set only on some paths (no latches in the Verilog).
        self.b_rec.next = 0.into();
        self.pk_addr.next = 0.into();
        self.pk_len.next = 0.into();
        self.seg_rec.next = 0.into();
        self.q_done.next = false;

        // Port defaults.
        self.rd.req_addr.next = 0.into();
        self.rd.req_len.next = 0.into();
        self.rd.req_tag.next = 0.into();
        self.rd.req_valid.next = false;
        self.source.data.next = 0.into();
        self.source.keep.next = 0.into();
        self.source.last.next = false;
        self.source.user.next = false;
        self.source.valid.next = false;
        self.descs.source.ready.next = false;
        self.batches.sink.data.next = 0.into();
        self.batches.sink.keep.next = 0.into();
        self.batches.sink.last.next = true;
        self.batches.sink.user.next = false;
        self.batches.sink.valid.next = false;
        self.batches.source.ready.next = false;
        self.frame_q.sink.data.next = 0.into();
        self.frame_q.sink.keep.next = 0.into();
        self.frame_q.sink.last.next = true;
        self.frame_q.sink.user.next = false;
        self.frame_q.sink.valid.next = false;
        self.frame_q.source.ready.next = false;
        self.seg_q.sink.data.next = 0.into();
        self.seg_q.sink.keep.next = 0.into();
        self.seg_q.sink.last.next = true;
        self.seg_q.sink.user.next = false;
        self.seg_q.sink.valid.next = false;
        self.seg_q.source.ready.next = false;
        self.cpl_q.sink.keep.next = 0.into();
        self.cpl_q.sink.last.next = true;
        self.cpl_q.sink.user.next = false;
        self.cpl_q.sink.valid.next = false;
        self.cpl_q.source.ready.next = false;

        // ---- Prefetcher: round robin over queues with unfetched descriptors and no pick in
        // the parser; the lowest above the last one picked, else the lowest.
        // A queue has work when it is enabled, has unfetched descriptors and none in the
        // parser. (Looked at only while the fetcher is idle: the only time it picks.)
        self.queues.search.next = self.fs.q.val() == FetchState::Idle;
        self.queues.rr.next = self.rr.q.val();
        self.f_mask.next = (self.one16.val() << self.f_log2.q.val()) - 1;
        self.f_wrap.next = (self.f_mask.val() + 1) - (self.f_idx.q.val() & self.f_mask.val());
        self.f_left.next = self.f_end.q.val() - self.f_idx.q.val();
        self.f_cnt.next = self.batch.val();
        if self.f_left.val() < self.f_cnt.val() {
            self.f_cnt.next = self.f_left.val();
        }
        if self.f_wrap.val() < self.f_cnt.val() {
            self.f_cnt.next = self.f_wrap.val();
        }
        // Room for this batch's words (two per descriptor) behind those stored and those on
        // their way. (A 10-bit local, so that both simulators add at the same width.)
        self.f_need.next = bit_cast::<10, 8>(self.descs.level.val())
            + self.resv.q.val()
            + (bit_cast::<10, 16>(self.f_cnt.val()) << 1);
        self.f_room.next = !self.batches.full.val() & (self.f_need.val() <= 128);
        self.want_desc.next = (self.fs.q.val() == FetchState::Issue) & self.f_room.val();
        // (`search` is high only in `Idle`: `found` is low in every other state.)
        self.queues.take.next = self.queues.found.val();
        if self.queues.found.val() {
            self.f_base.d.next = self.queues.p_base.val();
            self.f_log2.d.next = self.queues.p_log2.val();
            self.f_idx.d.next = self.queues.p_fetched.val();
            self.f_end.d.next = self.queues.p_prod.val();
            self.fq.d.next = self.queues.pick.val();
            self.rr.d.next = self.queues.pick.val();
            self.fs.d.next = FetchState::Issue;
        }

        // ---- Reader: the head segment's next piece.
        self.seg_word.next = self.seg_q.source.data.val();
        self.s_len.next = self.seg_word.val().get_bits::<16>(64);
        self.s_rem.next = self.s_len.val() - self.r_off.q.val();
        self.s_chunk.next = self.s_rem.val();
        if self.s_rem.val() > self.max_req.val() {
            self.s_chunk.next = self.max_req.val();
        }
        self.want_data.next =
            self.seg_q.source.valid.val() & (self.d_out.q.val() < self.d_limit.val());

        // One request a cycle: the two take turns when both want the port.
        self.resv_add.next = 0.into();
        self.d_inc.next = false;
        if self.want_desc.val() & (!self.want_data.val() | self.desc_turn.q.val()) {
            self.rd.req_addr.next = self.f_base.q.val()
                + (bit_cast::<64, 16>(self.f_idx.q.val() & self.f_mask.val()) << 5);
            self.rd.req_len.next = self.f_cnt.val() << 5;
            self.rd.req_tag.next = 0x40.into();
            self.rd.req_valid.next = true;
            // The batch's queue, size and whether it ends the pick, for its response.
            self.b_rec.next = bit_cast::<16, 4>(self.fq.q.val().get_bits::<4>(0))
                | (bit_cast::<16, 5>(self.f_cnt.val().get_bits::<5>(0)) << 4);
            if self.f_cnt.val() == self.f_left.val() {
                self.b_rec.next = self.b_rec.val() | 0x200;
            }
            self.batches.sink.data.next = self.b_rec.val();
            if self.rd.req_ready.val() {
                self.f_idx.d.next = self.f_idx.q.val() + self.f_cnt.val();
                self.batches.sink.valid.next = true;
                self.resv_add.next = bit_cast::<10, 16>(self.f_cnt.val()) << 1;
                self.desc_turn.d.next = false;
                if self.f_cnt.val() == self.f_left.val() {
                    self.fs.d.next = FetchState::Idle;
                }
            }
        } else if self.want_data.val() {
            self.rd.req_addr.next =
                self.seg_word.val().get_bits::<64>(0) + bit_cast::<64, 16>(self.r_off.q.val());
            self.rd.req_len.next = self.s_chunk.val();
            if (self.s_chunk.val() == self.s_rem.val()) & self.seg_word.val().get_bit(80) {
                self.rd.req_tag.next = 1.into();
            }
            self.rd.req_valid.next = true;
            if self.rd.req_ready.val() {
                self.d_inc.next = true;
                self.desc_turn.d.next = true;
                self.r_off.d.next = self.r_off.q.val() + self.s_chunk.val();
                if self.s_chunk.val() == self.s_rem.val() {
                    self.seg_q.source.ready.next = true;
                    self.r_off.d.next = 0.into();
                }
            }
        }

        // ---- Responses: descriptor words into the descriptor buffer (room was reserved),
        // data words to the streamer.
        self.is_desc.next = self.rd.rsp_tag.val().get_bit(6);
        self.fin_tag.next = self.rd.rsp_tag.val().get_bit(0);
        self.b_head.next = self.batches.source.data.val();
        self.descs.sink.data.next = self.rd.rsp_data.val();
        self.descs.sink.keep.next = bit_cast::<16, 4>(self.b_head.val().get_bits::<4>(0));
        self.descs.sink.last.next = self.rd.rsp_last.val() & self.b_head.val().get_bit(9);
        self.descs.sink.user.next = self.rd.rsp_error.val();
        // A word is taken only with its batch's record at the head of `batches` (a host that
        // answers within two cycles of the request would otherwise outrun the FIFO).
        self.desc_ok.next = self.descs.sink.ready.val() & self.batches.source.valid.val();
        self.descs.sink.valid.next =
            self.rd.rsp_valid.val() & self.is_desc.val() & self.batches.source.valid.val();
        self.desc_take.next = self.rd.rsp_valid.val() & self.is_desc.val() & self.desc_ok.val();
        self.resv_sub.next = 0.into();
        if self.desc_take.val() {
            self.resv_sub.next = 1.into();
            if self.rd.rsp_error.val() {
                // A refused read answers with one word for the whole batch.
                self.resv_sub.next = (bit_cast::<10, 5>(self.b_head.val().get_bits::<5>(4)) << 1)
                    - bit_cast::<10, 7>(self.arr.q.val());
            }
            self.arr.d.next = self.arr.q.val() + 1;
            if self.rd.rsp_last.val() {
                self.arr.d.next = 0.into();
                self.batches.source.ready.next = true;
            }
        }
        // Words no request asked for (a misbehaving host) must not wrap the count.
        self.resv_sum.next = self.resv.q.val() + self.resv_add.val();
        self.resv.d.next = 0.into();
        if self.resv_sum.val() > self.resv_sub.val() {
            self.resv.d.next = self.resv_sum.val() - self.resv_sub.val();
        }

        // ---- Parser.
        self.w_q.next = self.descs.source.keep.val().get_bits::<4>(0);
        self.sel_q.next = self.pq.q.val();
        if self.ps.q.val() == ParseState::Take {
            self.sel_q.next = self.w_q.val();
        }
        self.queues.sel_q.next = self.sel_q.val();
        self.d_flags.next = self.t_word1.q.val().get_bits::<16>(32);
        self.d_len.next = self.t_word1.q.val().get_bits::<32>(0);
        self.sg_addr.wdata.next = self.t_addr.q.val();
        self.sg_len.wdata.next = self.d_len.val().get_bits::<16>(0);
        self.eval.next = false;
        self.pend.next = self.held_end.q.val();
        self.done.next = false;
        self.vc.next = 0.into();
        // A descriptor word is taken after its high half (a refused read's one word, and words
        // being discarded, at once).
        self.d_pop.next = self.dh.q.val() | self.descs.source.user.val() | self.discard.q.val();
        self.d_last.next = self.descs.source.last.val() & self.d_pop.val();
        self.d_word.next = self.descs.source.data.val().get_bits::<64>(0);
        if self.dh.q.val() {
            self.d_word.next = self.descs.source.data.val().get_bits::<64>(64);
        }
        self.queues.w_q.next = self.w_q.val();
        self.queues.unbusy.next = false;
        self.queues.refetch.next = false;
        self.queues.refetch_to.next = self.queues.pp.val() + bit_cast::<16, 4>(self.nd.q.val()) + 1;
        match self.ps.q.val() {
            ParseState::Take => {
                self.descs.source.ready.next = self.d_pop.val();
                self.pend.next = self.d_last.val();
                if self.descs.source.valid.val() {
                    self.dh.d.next = !self.d_pop.val();
                    // The pick's last word: the queue may be picked again.
                    self.queues.unbusy.next = self.d_last.val();
                    if self.discard.q.val() {
                        if self.d_last.val() {
                            self.discard.d.next = false;
                        }
                    } else if self.descs.source.user.val() {
                        // A descriptor read faulted: the chain and that descriptor are
                        // consumed; the rest of the pick is dropped and fetched again.
                        self.pq.d.next = self.w_q.val();
                        self.v_err.d.next = true;
                        self.done.next = true;
                        self.vc.next = self.nd.q.val() + 1;
                        self.queues.refetch.next = true;
                        self.discard.d.next = !self.descs.source.last.val();
                        self.wc.d.next = 0.into();
                    } else {
                        self.wc.d.next = self.wc.q.val() + 1;
                        if self.wc.q.val() == 0 {
                            self.pq.d.next = self.w_q.val();
                            self.t_addr.d.next = self.d_word.val();
                        }
                        if self.wc.q.val() == 1 {
                            self.t_word1.d.next = self.d_word.val();
                        }
                        if self.wc.q.val() == 2 {
                            self.t_word2.d.next = self.d_word.val();
                        }
                        if self.wc.q.val() == 3 {
                            self.eval.next = true;
                        }
                    }
                }
            }
            ParseState::Queue => {
                // The frame record with the first segment, then a segment a cycle.
                self.frame_q.sink.data.next = bit_cast::<128, 32>(self.flen.q.val())
                    | (bit_cast::<128, 16>(self.v_last.q.val()) << 32)
                    | (bit_cast::<128, 4>(self.pq.q.val()) << 48)
                    | (bit_cast::<128, 4>(self.v_consumed.q.val()) << 52)
                    | (bit_cast::<128, 1>(self.v_err.q.val().into()) << 56)
                    | (bit_cast::<128, 1>(self.en_q.q.val().into()) << 57)
                    | (bit_cast::<128, 16>(self.start_q.q.val()) << 64)
                    | (bit_cast::<128, 16>(self.offset_q.q.val()) << 80);
                self.pk_addr.next = self.sg_addr.rdata.val();
                self.pk_len.next = self.sg_len.rdata.val();
                self.seg_rec.next = bit_cast::<128, 64>(self.pk_addr.val())
                    | (bit_cast::<128, 16>(self.pk_len.val()) << 64);
                if (self.push_k.q.val() + 1) == self.nd.q.val() {
                    self.seg_rec.next = self.seg_rec.val() | self.final_bit.val();
                }
                self.seg_q.sink.data.next = self.seg_rec.val();
                if self.push_k.q.val() == 0 {
                    if !self.frame_q.full.val() & (self.v_err.q.val() | !self.seg_q.full.val()) {
                        self.frame_q.sink.valid.next = true;
                        self.seg_q.sink.valid.next = !self.v_err.q.val();
                        self.push_k.d.next = 1.into();
                        self.q_done.next = self.v_err.q.val() | (self.nd.q.val() == 1);
                    }
                } else if !self.seg_q.full.val() {
                    self.seg_q.sink.valid.next = true;
                    self.push_k.d.next = self.push_k.q.val() + 1;
                    self.q_done.next = (self.push_k.q.val() + 1) == self.nd.q.val();
                }
                if self.q_done.val() {
                    self.nd.d.next = 0.into();
                    self.flen.d.next = 0.into();
                    self.en_q.d.next = false;
                    self.start_q.d.next = 0.into();
                    self.offset_q.d.next = 0.into();
                    self.ps.d.next = ParseState::Take;
                    if self.replay.q.val() {
                        self.ps.d.next = ParseState::Replay;
                    }
                }
            }
            ParseState::Replay => {
                self.replay.d.next = false;
                self.eval.next = true;
                self.ps.d.next = ParseState::Take;
            }
        }
        // A whole descriptor is in: the chain's verdict.
        if self.eval.val() {
            if (self.nd.q.val() == 0) & ((self.d_flags.val() & self.f_first.val()) == 0) {
                self.v_err.d.next = true;
                self.done.next = true;
                self.vc.next = 1.into();
            } else if (self.nd.q.val() != 0) & ((self.d_flags.val() & self.f_first.val()) != 0) {
                // Drop the chain before; look at this descriptor again as a new chain's first.
                self.v_err.d.next = true;
                self.done.next = true;
                self.vc.next = self.nd.q.val();
                self.replay.d.next = true;
                self.held_end.d.next = self.pend.val();
            } else if (self.d_len.val() == 0) | self.d_len.val().get_bits::<16>(16).any() {
                self.v_err.d.next = true;
                self.done.next = true;
                self.vc.next = self.nd.q.val() + 1;
            } else {
                self.sg_addr.write.next = true;
                self.sg_len.write.next = true;
                if self.nd.q.val() == 0 {
                    self.en_q.d.next = (self.d_flags.val() & self.f_csum.val()) != 0;
                    self.start_q.d.next = self.t_word2.q.val().get_bits::<16>(0);
                    self.offset_q.d.next = self.t_word2.q.val().get_bits::<16>(16);
                }
                self.nd.d.next = self.nd.q.val() + 1;
                self.flen.d.next =
                    self.flen.q.val() + bit_cast::<32, 16>(self.d_len.val().get_bits::<16>(0));
                self.vc.next = self.nd.q.val() + 1;
                if (self.d_flags.val() & self.f_last.val()) != 0 {
                    self.v_err.d.next = false;
                    self.done.next = true;
                } else if ((self.nd.q.val() + 1) == self.max_sg.val()) | self.pend.val() {
                    // Too long a chain, or the pick ends inside it.
                    self.v_err.d.next = true;
                    self.done.next = true;
                }
            }
        }
        self.queues.done.next = self.done.val();
        self.queues.parsed_to.next = self.queues.pp.val() + bit_cast::<16, 4>(self.vc.val());
        if self.done.val() {
            self.v_consumed.d.next = self.vc.val();
            self.v_last.d.next = self.queues.pp.val() + bit_cast::<16, 4>(self.vc.val()) - 1;
            self.push_k.d.next = 0.into();
            self.ps.d.next = ParseState::Queue;
        }

        // ---- Streamer.
        self.head.next = self.frame_q.source.data.val();
        self.csum_en.next = self.head.val().get_bit(57);
        self.csum_start.next = self.head.val().get_bits::<16>(64);
        self.csum_offset.next = self.head.val().get_bits::<16>(80);
        // A data response word goes to the realigner a 64-bit half at a time; the port's word
        // is taken with its last half.
        self.r_data.next = self.rd.rsp_data.val().get_bits::<64>(0);
        self.r_keep.next = self.rd.rsp_keep.val().get_bits::<8>(0);
        if self.rh.q.val() {
            self.r_data.next = self.rd.rsp_data.val().get_bits::<64>(64);
            self.r_keep.next = self.rd.rsp_keep.val().get_bits::<8>(8);
        }
        self.r_end.next = self.rh.q.val() | !self.rd.rsp_keep.val().get_bit(8);
        // A whole half (nearly every one) is taken as it is; byte by byte only when partial.
        self.n_in.next = 8.into();
        self.masked.next = self.r_data.val();
        if self.r_keep.val() != 0xff {
            self.n_in.next = 0.into();
            self.masked.next = 0.into();
            for k in 0..8 {
                if self.r_keep.val().get_bit(k) {
                    self.n_in.next = self.n_in.val() + 1;
                    self.masked.next =
                        self.masked.val() | (self.r_data.val() & self.byte_masks[k].val());
                }
            }
        }
        self.comb.next =
            self.carry.q.val() | (self.masked.val() << (bit_cast::<8, 4>(self.cc.q.val()) << 3));
        self.total.next = self.cc.q.val() + self.n_in.val();
        self.final_word.next = self.rd.rsp_last.val() & self.r_end.val() & self.fin_tag.val();
        self.out_keep16.next = (self.one16.val() << self.total.val()) - 1;
        self.cc_keep16.next = (self.one16.val() << self.cc.q.val()) - 1;
        self.c_ready.next = false;
        self.fault.next = false;
        self.finish.next = false;
        match self.ss.q.val() {
            StreamState::Data => {
                if self.frame_q.source.valid.val() & !self.cpl_q.full.val() {
                    if self.head.val().get_bit(56) {
                        // A chain the parser refused: no data, just its completion.
                        self.finish.next = true;
                    } else if self.rd.rsp_valid.val() & !self.is_desc.val() {
                        if self.rd.rsp_error.val() {
                            // A segment read faulted: end the frame as bad.
                            self.source.valid.next = true;
                            self.source.data.next = self.carry.q.val();
                            self.source.keep.next = self.cc_keep16.val().get_bits::<8>(0) | 1;
                            self.source.last.next = true;
                            self.source.user.next = true;
                            self.c_ready.next = self.source.ready.val();
                            if self.source.ready.val() {
                                self.cc.d.next = 0.into();
                                self.carry.d.next = 0.into();
                                if self.final_word.val() {
                                    self.fault.next = true;
                                    self.finish.next = true;
                                } else {
                                    self.ss.d.next = StreamState::Discard;
                                }
                            }
                        } else {
                            if (self.total.val() >= 8) | self.final_word.val() {
                                self.source.valid.next = true;
                                self.source.data.next = self.comb.val();
                                self.source.keep.next = 0xff.into();
                                if self.total.val() < 8 {
                                    self.source.keep.next = self.out_keep16.val().get_bits::<8>(0);
                                }
                                self.source.last.next =
                                    self.final_word.val() & (self.total.val() <= 8);
                                self.c_ready.next = self.source.ready.val();
                            } else {
                                self.c_ready.next = true;
                            }
                            if self.c_ready.val() {
                                if self.total.val() >= 8 {
                                    self.cc.d.next = self.total.val() - 8;
                                    self.carry.d.next = 0.into();
                                    if self.cc.q.val() != 0 {
                                        self.carry.d.next = self.masked.val()
                                            >> (64 - (bit_cast::<8, 4>(self.cc.q.val()) << 3));
                                    }
                                } else {
                                    self.cc.d.next = self.total.val();
                                    self.carry.d.next = self.comb.val();
                                }
                                if self.final_word.val() {
                                    if self.total.val() > 8 {
                                        self.ss.d.next = StreamState::Flush;
                                    } else {
                                        self.cc.d.next = 0.into();
                                        self.carry.d.next = 0.into();
                                        self.finish.next = true;
                                    }
                                }
                            }
                        }
                    }
                }
            }
            StreamState::Flush => {
                self.source.valid.next = true;
                self.source.data.next = self.carry.q.val();
                self.source.keep.next = self.cc_keep16.val().get_bits::<8>(0);
                self.source.last.next = true;
                if self.source.ready.val() {
                    self.cc.d.next = 0.into();
                    self.carry.d.next = 0.into();
                    self.finish.next = true;
                    self.ss.d.next = StreamState::Data;
                }
            }
            StreamState::Discard => {
                self.c_ready.next = true;
                if self.rd.rsp_valid.val() & !self.is_desc.val() & self.final_word.val() {
                    self.fault.next = true;
                    self.finish.next = true;
                    self.ss.d.next = StreamState::Data;
                }
            }
        }
        // The frame is done: its completion is queued (the room was there when it started).
        self.cpl_q.sink.data.next = self.head.val();
        if self.fault.val() {
            self.cpl_q.sink.data.next = self.head.val() | self.err_bit.val();
        }
        if self.finish.val() {
            self.cpl_q.sink.valid.next = true;
            self.frame_q.source.ready.next = true;
        }
        self.rd.rsp_ready.next = self.c_ready.val() & self.r_end.val();
        if self.rd.rsp_valid.val() & !self.is_desc.val() & self.c_ready.val() {
            self.rh.d.next = !self.r_end.val();
        }
        if self.is_desc.val() {
            self.rd.rsp_ready.next = self.desc_ok.val();
        }
        self.d_dec.next = self.rd.rsp_valid.val()
            & !self.is_desc.val()
            & self.rd.rsp_last.val()
            & self.rd.rsp_ready.val();
        if self.d_inc.val() & !self.d_dec.val() {
            self.d_out.d.next = self.d_out.q.val() + 1;
        }
        if !self.d_inc.val() & self.d_dec.val() & (self.d_out.q.val() != 0) {
            self.d_out.d.next = self.d_out.q.val() - 1;
        }

        // ---- Completion writer.
        self.crec.next = self.cpl_q.source.data.val();
        self.c_q.next = bit_cast::<16, 4>(self.crec.val().get_bits::<4>(48));
        // (Only a completion to write needs its queue's ring: looked up only then.)
        self.queues.c_q.next = self.crec.val().get_bits::<4>(48);
        self.queues.c_look.next = self.cpl_q.source.valid.val();
        self.queues.c_segs.next = self.crec.val().get_bits::<4>(52);
        self.queues.cpl_done.next = false;
        self.cq_mask.next = (self.one16.val() << self.queues.c_log2.val()) - 1;
        self.cq_pass.next = self.queues.c_prod.val() >> self.queues.c_log2.val();
        self.phase.next = !self.cq_pass.val().get_bit(0);
        self.wr.addr.next = self.queues.c_base.val()
            + (bit_cast::<64, 16>(self.queues.c_prod.val() & self.cq_mask.val()) << 5);
        // Two 128-bit words: bytes 0..16 (length, index, queue; zero), 16..32 (timestamp,
        // status word with the phase).
        self.w3.next = self.cpl_tx.val();
        if self.crec.val().get_bit(56) {
            self.w3.next = self.cpl_err.val();
        }
        if self.phase.val() {
            self.w3.next = self.w3.val() | self.phase_bit.val();
        }
        self.wr.data.next = bit_cast::<128, 52>(self.crec.val().get_bits::<52>(0));
        self.wr.keep.next = 0xffff.into();
        self.wr.last.next = false;
        self.wr.valid.next = self.cpl_q.source.valid.val();
        if self.cw.q.val() {
            self.wr.last.next = true;
            self.wr.data.next = bit_cast::<128, 64>(self.cycle_q.q.val())
                | (bit_cast::<128, 64>(self.w3.val()) << 64);
        }
        self.cq_event.next = self.queues.cq_event.val();
        self.cq_event_q.next = bit_cast::<4, 16>(self.c_q.val());
        if self.cpl_q.source.valid.val() & self.wr.ready.val() {
            self.cw.d.next = !self.cw.q.val();
            if self.cw.q.val() {
                self.cpl_q.source.ready.next = true;
                self.queues.cpl_done.next = true;
                if self.crec.val().get_bit(56) {
                    self.errors_q.d.next = self.errors_q.q.val() + 1;
                } else {
                    self.frames_q.d.next = self.frames_q.q.val() + 1;
                    self.bytes_q.d.next = self.bytes_q.q.val() + self.crec.val().get_bits::<32>(0);
                }
            }
        }
        self.frames.next = self.frames_q.q.val();
        self.bytes.next = self.bytes_q.q.val();
        self.errors.next = self.errors_q.q.val();
    }
}

const FIXED_INPUTS: [&str; 10] = [
    "clock",
    "rd$req_ready",
    "rd$rsp_data",
    "rd$rsp_keep",
    "rd$rsp_tag",
    "rd$rsp_last",
    "rd$rsp_error",
    "rd$rsp_valid",
    "wr$ready",
    "source$ready",
];
const QUEUE_INPUTS: [&str; 6] = [
    "ring_base",
    "ring_log2",
    "enable",
    "prod",
    "cq_base",
    "cq_log2",
];

fn input_port_names(queues: usize) -> &'static [&'static str] {
    static NAMES: [std::sync::OnceLock<Vec<&'static str>>; 17] =
        [const { std::sync::OnceLock::new() }; 17];
    NAMES[queues].get_or_init(|| {
        let mut v: Vec<&'static str> = FIXED_INPUTS.to_vec();
        for p in QUEUE_INPUTS {
            for i in 0..queues {
                v.push(Box::leak(format!("{p}${i}").into_boxed_str()));
            }
        }
        v
    })
}

impl crate::testbench::SetInputs for TxEngine {
    fn input_names(&self) -> &'static [&'static str] {
        input_port_names(self.prod.len())
    }

    fn set_input(&mut self, name: &str, words: &[u64]) -> Result<(), crate::testbench::TbError> {
        use crate::testbench::FromWords as F;
        match name {
            "clock" => self.clock.next = F::from_words(words),
            "rd$req_ready" => self.rd.req_ready.next = F::from_words(words),
            "rd$rsp_data" => self.rd.rsp_data.next = F::from_words(words),
            "rd$rsp_keep" => self.rd.rsp_keep.next = F::from_words(words),
            "rd$rsp_tag" => self.rd.rsp_tag.next = F::from_words(words),
            "rd$rsp_last" => self.rd.rsp_last.next = F::from_words(words),
            "rd$rsp_error" => self.rd.rsp_error.next = F::from_words(words),
            "rd$rsp_valid" => self.rd.rsp_valid.next = F::from_words(words),
            "wr$ready" => self.wr.ready.next = F::from_words(words),
            "source$ready" => self.source.ready.next = F::from_words(words),
            _ => {
                let bad = || crate::testbench::TbError::NoSuchInput(name.to_string());
                let (p, i) = crate::testbench::indexed_input(name, self.prod.len())?;
                match p {
                    "ring_base" => self.ring_base[i].next = F::from_words(words),
                    "ring_log2" => self.ring_log2[i].next = F::from_words(words),
                    "enable" => self.enable[i].next = F::from_words(words),
                    "prod" => self.prod[i].next = F::from_words(words),
                    "cq_base" => self.cq_base[i].next = F::from_words(words),
                    "cq_log2" => self.cq_log2[i].next = F::from_words(words),
                    _ => return Err(bad()),
                }
            }
        }
        Ok(())
    }
}

/// Verilog of the catalogue entry `oxnic_tx_engine` (8 queues, chains of up to 8).
pub fn verilog() -> Result<String, crate::verilog::GenError> {
    let mut uut = TxEngine::default();
    uut.connect_all();
    crate::verilog::generate_named(&uut, "oxnic_tx_engine")
}

/// A host for tests: memory behind an IOMMU-like map, a DMA read responder with latency, a
/// write collector, and the driver's side of TX rings and completion rings.
pub mod host {
    use oxnic_abi::desc::{Cpl, CplView, TxDesc};
    use rand::Rng;
    use std::collections::VecDeque;

    /// One response word on the read port.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct RspWord {
        /// Data, as 64-bit words (little-endian).
        pub data: [u64; 2],
        /// Byte enables.
        pub keep: u64,
        /// The request's tag.
        pub tag: u64,
        /// Last word of its request.
        pub last: bool,
        /// The request faulted.
        pub error: bool,
    }

    /// Host memory: one region from `base`; anything outside faults.
    #[derive(Debug, Clone)]
    pub struct Memory {
        /// First IOVA of the region.
        pub base: u64,
        /// Its bytes.
        pub bytes: Vec<u8>,
    }

    impl Memory {
        /// `len` zero bytes at `base`.
        pub fn new(base: u64, len: usize) -> Self {
            Memory {
                base,
                bytes: vec![0; len],
            }
        }

        fn range(&self, addr: u64, len: usize) -> Option<std::ops::Range<usize>> {
            let off = usize::try_from(addr.checked_sub(self.base)?).ok()?;
            (off + len <= self.bytes.len()).then_some(off..off + len)
        }

        /// Reads, or `None` for a fault.
        pub fn read(&self, addr: u64, len: usize) -> Option<&[u8]> {
            self.range(addr, len).map(|r| &self.bytes[r])
        }

        /// Writes; false for a fault (nothing written).
        pub fn write(&mut self, addr: u64, data: &[u8]) -> bool {
            match self.range(addr, data.len()) {
                Some(r) => {
                    self.bytes[r].copy_from_slice(data);
                    true
                }
                None => false,
            }
        }
    }

    /// The DMA read responder: requests are answered in order after `latency` cycles, one
    /// word per cycle, with random gaps, each word carrying its request's tag.
    #[derive(Debug, Default)]
    pub struct Responder {
        queue: VecDeque<(u64, RspWord)>,
        /// Cycles from a request to its first word.
        pub latency: u64,
        /// Chance in percent of a cycle without a word.
        pub gap_percent: u8,
        /// Requests taken: (address, length).
        pub requests: Vec<(u64, usize)>,
    }

    impl Responder {
        /// A responder with `latency` cycles to a request's first word and `gap_percent` %
        /// idle cycles between words.
        pub fn new(latency: u64, gap_percent: u8) -> Self {
            Responder {
                latency,
                gap_percent,
                ..Default::default()
            }
        }

        /// Queues the response to a request (tagged `tag`) taken at `cycle`.
        pub fn request(&mut self, mem: &Memory, cycle: u64, addr: u64, len: usize, tag: u64) {
            self.requests.push((addr, len));
            let at = cycle + self.latency;
            match mem.read(addr, len) {
                Some(b) => {
                    let n = b.len().div_ceil(16);
                    for (i, c) in b.chunks(16).enumerate() {
                        self.queue.push_back((
                            at,
                            RspWord {
                                data: crate::stream::bytes_to_words(c),
                                keep: (1u64 << c.len()) - 1,
                                tag,
                                last: i + 1 == n,
                                error: false,
                            },
                        ));
                    }
                }
                None => self.queue.push_back((
                    at,
                    RspWord {
                        data: [0; 2],
                        keep: 0,
                        tag,
                        last: true,
                        error: true,
                    },
                )),
            }
        }

        /// The word offered at `cycle`, if any (held until [`Responder::taken`]).
        pub fn offer(&mut self, cycle: u64, rng: &mut impl Rng) -> Option<RspWord> {
            match self.queue.front() {
                Some(&(at, w)) if at <= cycle && rng.gen_range(0..100u8) >= self.gap_percent => {
                    Some(w)
                }
                _ => None,
            }
        }

        /// The offered word was taken.
        pub fn taken(&mut self) {
            self.queue.pop_front();
        }

        /// Requests not yet answered whole.
        pub fn pending(&self) -> usize {
            self.queue.iter().filter(|w| w.1.last).count()
        }

        /// Nothing left to send.
        pub fn idle(&self) -> bool {
            self.queue.is_empty()
        }
    }

    /// A TX ring and its completion ring as the driver lays them out.
    #[derive(Debug, Clone)]
    pub struct Queue {
        /// Ring IOVA.
        pub ring: u64,
        /// log2 of its entries.
        pub log2: u32,
        /// Completion ring IOVA.
        pub cq: u64,
        /// log2 of its entries.
        pub cq_log2: u32,
        /// Producer index (the doorbell value).
        pub prod: u16,
        /// Completions read.
        pub cq_cons: u16,
    }

    impl Queue {
        /// Writes `descs` at the producer index and advances it.
        pub fn post(&mut self, mem: &mut Memory, descs: &[TxDesc]) {
            for d in descs {
                let slot = u64::from(self.prod) & ((1 << self.log2) - 1);
                assert!(mem.write(self.ring + slot * 32, &d.to_bytes()));
                self.prod = self.prod.wrapping_add(1);
            }
        }

        /// The next completion, if the card has written it (its phase is the current pass's).
        pub fn poll(&mut self, mem: &Memory) -> Option<Cpl> {
            let slot = u64::from(self.cq_cons) & ((1 << self.cq_log2) - 1);
            let b = mem.read(self.cq + slot * 32, 32)?;
            let v = CplView::new_checked(b).ok()?;
            let phase = (self.cq_cons >> self.cq_log2) & 1 == 0;
            if v.phase() != phase {
                return None;
            }
            self.cq_cons = self.cq_cons.wrapping_add(1);
            Cpl::parse(&v).ok()
        }
    }
}

/// An open-loop random host for the differential test: queue registers set on the first cycle,
/// doorbells now and then, and on every cycle random `req_ready`, `wr$ready`, `source$ready`
/// and response words with random tags (so that descriptor and data words both arrive):
/// mostly words that read as valid FIRST|LAST descriptors of 1..=64 bytes, so frames flow,
/// with random and faulting words mixed in so that the error paths run too.
pub fn random_stimulus(seed: u64, cycles: usize) -> crate::testbench::Stimulus {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut out: crate::testbench::Stimulus = Vec::with_capacity(cycles);
    let mut prod = [0u64; QUEUES];
    for c in 0..cycles {
        let mut set: Vec<(&'static str, Vec<u64>)> = vec![];
        if c == 0 {
            for (i, name) in input_port_names(QUEUES).iter().enumerate() {
                let v = match name.split_once('$').map(|(p, _)| p) {
                    Some("ring_base") => 0x1000 * i as u64 + rng.gen_range(0..4) * 32,
                    Some("ring_log2") => rng.gen_range(2..5),
                    Some("enable") => u64::from(rng.gen_ratio(3, 4)),
                    Some("cq_base") => 0x10_0000 + 0x1000 * i as u64,
                    Some("cq_log2") => rng.gen_range(1..4),
                    _ => continue,
                };
                set.push((name, vec![v]));
            }
        }
        if rng.gen_ratio(1, 20) {
            let q = rng.gen_range(0..QUEUES);
            prod[q] = (prod[q] + rng.gen_range(1..5)) & 0xffff;
            set.push((
                input_port_names(QUEUES)[FIXED_INPUTS.len() + 3 * QUEUES + q],
                vec![prod[q]],
            ));
        }
        let data = match rng.gen_range(0..10) {
            0 => rng.gen(),
            _ => {
                let flags =
                    tx_flags::FIRST | tx_flags::LAST | if rng.gen() { tx_flags::CSUM } else { 0 };
                rng.gen_range(1..=64u64) | u64::from(flags) << 32
            }
        };
        let keep = (1u64 << rng.gen_range(1..=16)) - 1;
        set.extend([
            ("rd$req_ready", vec![u64::from(rng.gen_ratio(2, 3))]),
            ("rd$rsp_valid", vec![u64::from(rng.gen_ratio(2, 3))]),
            ("rd$rsp_data", vec![rng.gen(), data]),
            ("rd$rsp_keep", vec![keep]),
            ("rd$rsp_last", vec![u64::from(rng.gen_ratio(1, 5))]),
            ("rd$rsp_tag", vec![rng.gen_range(0..128u64)]),
            ("rd$rsp_error", vec![u64::from(rng.gen_ratio(1, 60))]),
            ("wr$ready", vec![u64::from(rng.gen_ratio(3, 4))]),
            ("source$ready", vec![u64::from(rng.gen_ratio(3, 4))]),
        ]);
        out.push(set);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::host::{Memory, Queue, Responder};
    use super::*;
    use crate::testbench::Bench;
    use oxnic_abi::desc::{Cpl, TxDesc};
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    const MEM: u64 = 0x1_0000_0000;

    /// A frame the driver posts: its descriptors and the bytes the engine should send.
    struct Posted {
        queue: u16,
        descs: Vec<TxDesc>,
        bytes: Vec<u8>,
        /// The chain is malformed: expect an ERROR completion consuming `consumes` descriptors.
        bad: bool,
        consumes: u16,
    }

    /// A frame out: bytes, `user`, and (csum_en, csum_start, csum_offset) with its first word.
    type SentFrame = (Vec<u8>, bool, (u64, u64, u64));

    struct World {
        b: Bench<TxEngine>,
        mem: Memory,
        rsp: Responder,
        queues: Vec<Queue>,
        rng: ChaCha8Rng,
        wr_words: Vec<u64>,
        wr_addr: u64,
        frame: Vec<u8>,
        meta: (u64, u64, u64),
        /// Frames out: bytes, user bit, (csum_en, start, offset) with the first word.
        frames: Vec<SentFrame>,
        cycle: u64,
        /// Chance in percent that `source$ready` is high on a cycle.
        ready_percent: u8,
        /// The same for `rd$req_ready` and `wr$ready`.
        host_percent: u8,
        /// Frames posted and not completed, per queue, at most.
        max_posted: usize,
    }

    impl World {
        fn new(queues: usize, seed: u64) -> Self {
            Self::with_rings(queues, seed, 4, 3)
        }

        /// Rings of `2^log2` descriptors and `2^cq_log2` completions.
        fn with_rings(queues: usize, seed: u64, log2: u32, cq_log2: u32) -> Self {
            let mut b = Bench::new(TxEngine::new(queues, MAX_SG)).unwrap();
            let mut qs = vec![];
            for i in 0..queues {
                let q = Queue {
                    ring: MEM + 0x1000 * i as u64,
                    log2,
                    cq: MEM + 0x8000 + 0x1000 * i as u64,
                    cq_log2,
                    prod: 0,
                    cq_cons: 0,
                };
                b.set(&format!("ring_base${i}"), &[q.ring]).unwrap();
                b.set(&format!("ring_log2${i}"), &[u64::from(q.log2)])
                    .unwrap();
                b.set(&format!("cq_base${i}"), &[q.cq]).unwrap();
                b.set(&format!("cq_log2${i}"), &[u64::from(q.cq_log2)])
                    .unwrap();
                b.set(&format!("enable${i}"), &[1]).unwrap();
                qs.push(q);
            }
            World {
                b,
                mem: Memory::new(MEM, 0x40000),
                rsp: Responder::new(4, 20),
                queues: qs,
                rng: ChaCha8Rng::seed_from_u64(seed),
                wr_words: vec![],
                wr_addr: 0,
                frame: vec![],
                meta: (0, 0, 0),
                frames: vec![],
                cycle: 0,
                ready_percent: 80,
                host_percent: 70,
                max_posted: 6,
            }
        }

        fn get(&self, n: &str) -> u64 {
            self.b.get(n).unwrap()[0]
        }

        /// One cycle of the host around the engine.
        fn step(&mut self) {
            let b = &mut self.b;
            for (i, q) in self.queues.iter().enumerate() {
                b.set(&format!("prod${i}"), &[u64::from(q.prod)]).unwrap();
            }
            let offered = self.rsp.offer(self.cycle, &mut self.rng);
            let w = offered.unwrap_or(super::host::RspWord {
                data: self.rng.gen(),
                keep: self.rng.gen_range(0..1 << 16),
                tag: self.rng.gen_range(0..128),
                last: self.rng.gen(),
                error: self.rng.gen(),
            });
            b.set("rd$rsp_valid", &[u64::from(offered.is_some())])
                .unwrap();
            b.set("rd$rsp_data", &w.data).unwrap();
            b.set("rd$rsp_keep", &[w.keep]).unwrap();
            b.set("rd$rsp_tag", &[w.tag]).unwrap();
            b.set("rd$rsp_last", &[u64::from(w.last)]).unwrap();
            b.set("rd$rsp_error", &[u64::from(w.error)]).unwrap();
            // Like a PCIe host, at most 32 reads in flight.
            let req_ready =
                self.rng.gen_range(0..100) < self.host_percent && self.rsp.pending() < 32;
            b.set("rd$req_ready", &[u64::from(req_ready)]).unwrap();
            let wr_ready = self.rng.gen_range(0..100) < self.host_percent;
            b.set("wr$ready", &[u64::from(wr_ready)]).unwrap();
            let src_ready = self.rng.gen_range(0..100) < self.ready_percent;
            b.set("source$ready", &[u64::from(src_ready)]).unwrap();
            b.settle().unwrap();
            let g = |n: &str| b.get(n).unwrap()[0];
            if offered.is_some() && g("rd$rsp_ready") == 1 {
                self.rsp.taken();
            }
            if req_ready && g("rd$req_valid") == 1 {
                let (a, l) = (g("rd$req_addr"), g("rd$req_len") as usize);
                assert!((1..=4096).contains(&l), "request of {l} bytes");
                assert!(g("rd$req_tag") < 0x80, "tag bit 7 is the card's");
                self.rsp
                    .request(&self.mem, self.cycle, a, l, g("rd$req_tag"));
            }
            if wr_ready && g("wr$valid") == 1 {
                if self.wr_words.is_empty() {
                    self.wr_addr = g("wr$addr");
                }
                assert_eq!(b.get("wr$keep").unwrap(), [0xffff]);
                self.wr_words.extend(b.get("wr$data").unwrap());
                if g("wr$last") == 1 {
                    let bytes: Vec<u8> =
                        self.wr_words.iter().flat_map(|w| w.to_le_bytes()).collect();
                    assert_eq!(bytes.len(), 32, "a completion is 32 bytes");
                    assert!(self.mem.write(self.wr_addr, &bytes), "write fault");
                    self.wr_words.clear();
                }
            }
            if src_ready && g("source$valid") == 1 {
                if self.frame.is_empty() {
                    self.meta = (g("csum_en"), g("csum_start"), g("csum_offset"));
                }
                let (d, k) = (g("source$data").to_le_bytes(), g("source$keep"));
                assert!(k != 0 && (k + 1) & k == 0, "keep {k:#x} contiguous");
                self.frame
                    .extend((0..8).filter(|i| k >> i & 1 != 0).map(|i| d[i]));
                if g("source$last") == 1 {
                    let f = std::mem::take(&mut self.frame);
                    self.frames.push((f, g("source$user") == 1, self.meta));
                }
            }
            b.tick().unwrap();
            self.cycle += 1;
        }
    }

    /// A good frame of 1..=`max_segs` segments at random (odd) addresses in `buf`.
    fn good_frame(
        rng: &mut ChaCha8Rng,
        mem: &mut Memory,
        buf: u64,
        queue: u16,
        max_segs: usize,
    ) -> Posted {
        let n = rng.gen_range(1..=max_segs);
        let mut descs = vec![];
        let mut bytes = vec![];
        let mut at = buf;
        let csum = rng.gen_bool(0.5);
        for i in 0..n {
            let len = rng.gen_range(1..=90usize);
            at += rng.gen_range(0..8);
            let data: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
            assert!(mem.write(at, &data));
            bytes.extend(&data);
            let mut flags = 0;
            if i == 0 {
                flags |= tx_flags::FIRST;
                if csum {
                    flags |= tx_flags::CSUM;
                }
            }
            if i + 1 == n {
                flags |= tx_flags::LAST;
            }
            descs.push(TxDesc {
                addr: at,
                len: len as u32,
                flags,
                csum_start: if i == 0 { rng.gen_range(0..100) } else { 0 },
                csum_offset: if i == 0 { rng.gen_range(0..20) } else { 0 },
                ..Default::default()
            });
            at += len as u64;
        }
        Posted {
            queue,
            consumes: n as u16,
            descs,
            bytes,
            bad: false,
        }
    }

    /// Runs the posted frames (each queue's in order, posting when its ring has room) and
    /// checks every frame out, every completion and the final indices and counters.
    fn check(mut w: World, posted: Vec<Posted>, max_cycles: u64) {
        let nq = w.queues.len();
        let mut todo: Vec<std::collections::VecDeque<&Posted>> = vec![Default::default(); nq];
        for p in &posted {
            todo[usize::from(p.queue)].push_back(p);
        }
        let mut inflight: Vec<std::collections::VecDeque<&Posted>> = vec![Default::default(); nq];
        let mut cpls: Vec<(u16, Cpl)> = vec![];
        let mut consumed = vec![0u16; nq];
        while cpls.len() < posted.len() && w.cycle < max_cycles {
            for q in 0..nq {
                // Post whole chains only, when the ring has room for them.
                if let Some(p) = todo[q].front() {
                    let used = w.queues[q].prod.wrapping_sub(consumed[q]);
                    let room = 1usize << w.queues[q].log2;
                    if usize::from(used) + p.descs.len() <= room && inflight[q].len() < w.max_posted
                    {
                        let p = todo[q].pop_front().unwrap();
                        w.queues[q].post(&mut w.mem, &p.descs);
                        inflight[q].push_back(p);
                    }
                }
                while let Some(c) = w.queues[q].poll(&w.mem) {
                    let p = inflight[q].pop_front().expect("completion without a frame");
                    consumed[q] = consumed[q].wrapping_add(p.consumes);
                    assert_eq!(c.queue, q as u16);
                    assert_eq!(
                        c.index,
                        consumed[q].wrapping_sub(1),
                        "index of the last descriptor"
                    );
                    assert_eq!(c.gro_segs, 1);
                    if p.bad {
                        assert_eq!(c.flags, cpl_flags::TX | cpl_flags::ERROR, "queue {q}");
                    } else {
                        assert_eq!(c.flags, cpl_flags::TX, "queue {q}");
                        assert_eq!(c.len as usize, p.bytes.len());
                    }
                    cpls.push((q as u16, c));
                }
            }
            w.step();
        }
        assert_eq!(
            cpls.len(),
            posted.len(),
            "completions after {} cycles",
            w.cycle
        );
        // Frames on the stream, in completion order: good ones whole, bad ones (if any started)
        // ended with `user`.
        let good: Vec<&Posted> = {
            let mut per_q: Vec<std::collections::VecDeque<&Posted>> = vec![Default::default(); nq];
            for p in &posted {
                per_q[usize::from(p.queue)].push_back(p);
            }
            cpls.iter()
                .map(|(q, _)| per_q[usize::from(*q)].pop_front().unwrap())
                .filter(|p| !p.bad)
                .collect()
        };
        let sent: Vec<_> = w.frames.iter().filter(|f| !f.1).collect();
        assert_eq!(sent.len(), good.len());
        for (f, p) in sent.iter().zip(&good) {
            assert_eq!(f.0, p.bytes, "frame bytes");
            let d = &p.descs[0];
            let en = d.flags & tx_flags::CSUM != 0;
            assert_eq!(f.2 .0, u64::from(en));
            if en {
                assert_eq!(
                    (f.2 .1, f.2 .2),
                    (u64::from(d.csum_start), u64::from(d.csum_offset))
                );
            }
        }
        for (q, c) in consumed.iter().enumerate() {
            assert_eq!(w.get(&format!("cons${q}")), u64::from(*c));
            assert_eq!(
                w.get(&format!("cq_prod${q}")),
                u64::from(w.queues[q].cq_cons)
            );
        }
        let bad = posted.iter().filter(|p| p.bad).count() as u64;
        assert_eq!(w.get("frames"), good.len() as u64);
        assert_eq!(w.get("errors"), bad);
        let bytes: usize = good.iter().map(|p| p.bytes.len()).sum();
        assert_eq!(w.get("bytes"), bytes as u64);
    }

    #[test]
    fn two_queues_scatter_gather_frames_and_completions() {
        let mut w = World::new(2, 1);
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let mut posted = vec![];
        for i in 0..60u64 {
            let q = rng.gen_range(0..2);
            posted.push(good_frame(
                &mut rng,
                &mut w.mem,
                MEM + 0x10000 + i * 0x800,
                q,
                5,
            ));
        }
        check(w, posted, 40_000);
    }

    /// Frames overlap their DMA round trips: 64 one-segment frames with a 200-cycle read
    /// latency take about two round trips plus a few cycles a frame, where an engine with one
    /// frame in flight needs two round trips a frame (25,600 cycles).
    #[test]
    fn frames_overlap_their_dma_round_trips() {
        let mut w = World::with_rings(1, 5, 7, 7);
        w.rsp = Responder::new(200, 0);
        w.ready_percent = 100;
        w.host_percent = 100;
        w.max_posted = 64;
        let mut rng = ChaCha8Rng::seed_from_u64(6);
        let posted: Vec<Posted> = (0..64u64)
            .map(|i| good_frame(&mut rng, &mut w.mem, MEM + 0x10000 + i * 0x100, 0, 1))
            .collect();
        check(w, posted, 2_000);
    }

    /// Small frames back to back from a full ring: each holds the read port for its eight
    /// 64-bit halves and its descriptor's two 128-bit words, 10 cycles a 64-byte frame (12
    /// with a 64-bit read port, which carried the descriptor in four words).
    #[test]
    fn small_frames_leave_at_the_read_port_rate() {
        let mut w = World::with_rings(1, 9, 7, 7);
        w.rsp = Responder::new(200, 0);
        w.ready_percent = 100;
        w.host_percent = 100;
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let total = 800u64;
        let (mut posted, mut done) = (0u64, 0u64);
        let mut sent = vec![];
        let mut out_at = vec![];
        while (w.frames.len() as u64) < total && w.cycle < 40_000 {
            while posted < total && posted - done < 128 {
                let addr = MEM + 0x10000 + posted * 64;
                let data: Vec<u8> = (0..64).map(|_| rng.gen()).collect();
                assert!(w.mem.write(addr, &data));
                let d = TxDesc {
                    addr,
                    len: 64,
                    flags: tx_flags::FIRST | tx_flags::LAST,
                    ..Default::default()
                };
                w.queues[0].post(&mut w.mem, &[d]);
                sent.push(data);
                posted += 1;
            }
            let before = w.frames.len();
            w.step();
            out_at.extend((before..w.frames.len()).map(|_| w.cycle));
            while w.queues[0].poll(&w.mem).is_some() {
                done += 1;
            }
        }
        assert_eq!(w.frames.len() as u64, total, "cycle {}", w.cycle);
        for (i, (f, user, _)) in w.frames.iter().enumerate() {
            assert!(!user);
            assert_eq!(f, &sent[i], "frame {i}");
        }
        // Past the first ring's worth, which the descriptor prefetch gets ahead on.
        let per = (out_at[750] - out_at[400]) as f64 / 350.0;
        println!("64-byte frames: {per} cycles each");
        // (A few cycles in a thousand go to a new pick as the doorbell moves.)
        assert!(per <= 10.25, "{per} cycles a frame");
    }

    /// Descriptors the IOMMU refuses: each is completed with ERROR (the read of its batch
    /// faults, the chain so far and that descriptor are consumed, the rest fetched again), and
    /// the queue goes on with the readable ones after it, round after round.
    #[test]
    fn descriptor_read_faults_are_completed_and_the_queue_goes_on() {
        let mut w = World::with_rings(1, 7, 4, 6);
        // Ring slots 0..8 are in host memory, 8..16 past its end.
        let ring = MEM + 0x40000 - 0x100;
        w.queues[0].ring = ring;
        w.b.set("ring_base$0", &[ring]).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(8);
        let mut sent = vec![];
        let (mut good, mut bad) = (0u64, 0u64);
        for round in 0..3u64 {
            for i in 0..8u64 {
                let p = good_frame(&mut rng, &mut w.mem, MEM + 0x10000 + i * 0x100, 0, 1);
                assert!(w.mem.write(ring + i * 32, &p.descs[0].to_bytes()));
                sent.push(p.bytes);
            }
            for (half, is_good) in [(0u16, true), (8, false)] {
                w.queues[0].prod = w.queues[0].prod.wrapping_add(8);
                let mut got = 0;
                while got < 8 && w.cycle < 20_000 * (round + 1) {
                    w.step();
                    while let Some(c) = w.queues[0].poll(&w.mem) {
                        let index = (round * 16) as u16 + half + got;
                        assert_eq!(c.index, index, "round {round}");
                        let flags = if is_good {
                            cpl_flags::TX
                        } else {
                            cpl_flags::TX | cpl_flags::ERROR
                        };
                        assert_eq!(c.flags, flags, "descriptor {index}");
                        got += 1;
                    }
                }
                assert_eq!(got, 8, "round {round} after {} cycles", w.cycle);
                if is_good {
                    good += 8;
                } else {
                    bad += 8;
                }
            }
        }
        let frames: Vec<Vec<u8>> = w
            .frames
            .iter()
            .filter(|f| !f.1)
            .map(|f| f.0.clone())
            .collect();
        assert_eq!(frames, sent);
        assert_eq!(w.get("frames"), good);
        assert_eq!(w.get("errors"), bad);
        assert_eq!(w.get("cons$0"), 48);
    }

    /// A host that answers a read on the very next cycle (the batch FIFO may show a record
    /// only two cycles after it is pushed; descriptor words wait for it): every frame and
    /// completion still right.
    #[test]
    fn a_host_that_answers_at_once() {
        let mut w = World::new(2, 9);
        w.rsp = Responder::new(1, 0);
        let mut rng = ChaCha8Rng::seed_from_u64(10);
        let posted: Vec<Posted> = (0..40u64)
            .map(|i| {
                let q = rng.gen_range(0..2);
                good_frame(&mut rng, &mut w.mem, MEM + 0x10000 + i * 0x800, q, 3)
            })
            .collect();
        check(w, posted, 30_000);
    }

    #[test]
    fn malformed_chains_are_dropped_counted_and_completed() {
        let mut w = World::new(1, 3);
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        let mut posted = vec![];
        let mut buf = MEM + 0x10000;
        let mut next = |rng: &mut ChaCha8Rng, mem: &mut Memory, segs| {
            buf += 0x800;
            good_frame(rng, mem, buf, 0, segs)
        };
        posted.push(next(&mut rng, &mut w.mem, 3));
        // No FIRST: one descriptor consumed.
        let mut p = next(&mut rng, &mut w.mem, 1);
        p.descs[0].flags &= !tx_flags::FIRST;
        p.bad = true;
        posted.push(p);
        posted.push(next(&mut rng, &mut w.mem, 2));
        // Zero length in the second descriptor: the two consumed.
        let mut p = next(&mut rng, &mut w.mem, 3);
        p.descs[1].len = 0;
        p.descs.truncate(2);
        p.descs[1].flags |= tx_flags::LAST;
        p.consumes = 2;
        p.bad = true;
        posted.push(p);
        // Eight descriptors without LAST (the limit): all eight consumed, then a good frame.
        let mut p = next(&mut rng, &mut w.mem, 1);
        let d = p.descs[0];
        p.descs = (0..8)
            .map(|i| TxDesc {
                flags: if i == 0 { tx_flags::FIRST } else { 0 },
                ..d
            })
            .collect();
        p.consumes = 8;
        p.bad = true;
        posted.push(p);
        posted.push(next(&mut rng, &mut w.mem, 1));
        // A segment outside host memory: the frame ends with `user`, ERROR completion.
        let mut p = next(&mut rng, &mut w.mem, 3);
        p.descs[2].addr = 0x10;
        p.bad = true;
        posted.push(p);
        // FIRST inside a chain: the chain before it is dropped, the FIRST starts a good frame.
        let mut p = next(&mut rng, &mut w.mem, 1);
        p.descs[0].flags = tx_flags::FIRST;
        p.bad = true;
        posted.push(p);
        posted.push(next(&mut rng, &mut w.mem, 4));
        posted.push(next(&mut rng, &mut w.mem, 2));
        check(w, posted, 30_000);
    }

    #[test]
    fn stated_capacities_are_the_fifos_depths() {
        let e = TxEngine::new(1, MAX_SG);
        // Two 128-bit words a descriptor (and the room check's literal 128 in `update`).
        assert_eq!(e.descs.depth() as u64, 2 * DESC_BUFFER);
        assert_eq!(e.descs.depth() as u64, 128);
        assert_eq!(e.batches.depth() as u64, BATCHES_IN_FLIGHT);
        assert_eq!(e.frame_q.depth() as u64, FRAMES_QUEUED);
    }

    #[test]
    fn synthesizes_with_yosys_and_lints() {
        let v = verilog().unwrap();
        crate::synth::verilator_lint("oxnic_tx_engine", &v).unwrap();
        let r = crate::synth::yosys_synth("oxnic_tx_engine", &v).unwrap();
        println!("oxnic_tx_engine: {r:?}");
        assert!(r.flops > 0 && r.cells > r.flops, "{r:?}");
    }
}
