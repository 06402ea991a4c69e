//! `tx_engine`: the transmit DMA engine. For each of `n` TX queues it fetches descriptors from
//! the ring in host memory when the driver rings the doorbell, walks a frame's scatter-gather
//! chain, reads the segments' bytes by DMA, streams the frame out (to `tx_checksum`, then
//! `mac_tx`), and writes a completion record into the queue's completion ring.
//!
//! # Queues
//! Queue `i`'s registers come in as ports (the register file drives them from `oxnic_abi::regs`'s
//! `txq` block): `ring_base$i` (IOVA), `ring_log2$i` (ring entries = `2^ring_log2`), `enable$i`,
//! `prod$i` (the doorbell: the driver's free-running 16-bit producer index). The engine's
//! consumer index comes out on `cons$i`. Each TX queue reports to its own completion ring
//! (`cq_base$i`, `cq_log2$i`; a `cq` number shared between queues is left to a later
//! `cpl_writer`), whose free-running producer index comes out on `cq_prod$i`.
//!
//! Queues with work (`enable & prod != cons`) are served round-robin, one frame at a time. The
//! ring registers of a queue are sampled when it is picked; `prod` is read live.
//!
//! # A frame
//! 1. Descriptors (32 bytes, `oxnic_abi::desc::TxDesc`) are read in batches of up to
//!    [`BATCH`] — one DMA request of `n x 32` bytes, never past the ring's end nor past `prod` —
//!    until the chain's LAST descriptor. Descriptors fetched past LAST are not consumed (they are
//!    fetched again with the next frame).
//! 2. Each segment is read with requests of at most 4096 bytes, one in flight; the responses'
//!    packed bytes are realigned so that the frame leaves packed, whatever the segment lengths.
//!    The response path is combinational to `source` (`rsp_ready` follows `source$ready`):
//!    put a registered stage downstream (`tx_checksum` is one).
//! 3. A completion (`oxnic_abi::desc::Cpl`) is written at `cq_base + (cq_prod mod size) * 32`:
//!    `len` = frame bytes, `index` = ring index (mod 2^16) of the frame's last descriptor,
//!    `queue`, `timestamp` = the engine's cycle counter, `gro_segs` = 1, `flags` = TX (| ERROR),
//!    and the phase bit (bit 7 of byte 31) = 1 on the ring's first pass, flipping each time
//!    `cq_prod` wraps. The record is one posted write after the frame's reads, so it lands
//!    last; `cons$i` and `cq_prod$i` advance when its last word is taken.
//!
//! # Errors
//! The queue never hangs on a bad chain: the frame is dropped, `errors` counts it, and a
//! completion with `ERROR` set is written for the descriptors consumed:
//! - the first descriptor lacks FIRST: that one descriptor;
//! - FIRST inside a chain: the chain before it (the FIRST starts the next frame);
//! - zero length, or a length of 64 KiB or more: the chain up to and including it;
//! - more than `max_sg` descriptors without LAST: `max_sg` descriptors;
//! - the chain stops at `prod` without LAST (the driver rings after whole frames): the chain;
//! - a descriptor read faults: the chain and the descriptor that could not be read;
//! - a segment read faults: the whole chain; the frame, already on `source`, ends at once with a
//!   `last` word carrying `user` = 1 (`tx_checksum` drops such a frame).
//!
//! Per-frame outputs with the frame: `csum_en`, `csum_start`, `csum_offset` from the FIRST
//! descriptor (held for the whole frame, so valid with its first word).
//!
//! Counters (32-bit, wrapping): `frames`, `bytes` (good frames), `errors`.

use crate::dma_if::{DmaReadMaster, DmaWriteMaster};
use crate::stream::StreamSource;
use oxnic_abi::desc::{cpl_flags, tx_flags};
use rust_hdl::prelude::*;

/// Most descriptors read in one DMA request.
pub const BATCH: u64 = 4;
/// Default queue count.
pub const QUEUES: usize = 8;
/// Default longest scatter-gather chain.
pub const MAX_SG: usize = 8;

/// Where the engine is in a frame.
#[derive(Copy, Clone, Debug, PartialEq, Eq, LogicState)]
pub enum TxState {
    /// Looking for a queue with work.
    Idle,
    /// Latching the picked queue's registers.
    Pick,
    /// Requesting a batch of descriptors.
    DescReq,
    /// Taking the descriptors in.
    DescRsp,
    /// Deciding what the batch means: more descriptors, the data, or an error completion.
    DescDone,
    /// Requesting a piece of a segment.
    DataReq,
    /// Streaming its bytes out.
    DataRsp,
    /// Sending the bytes left in the realignment register.
    Flush,
    /// Writing the completion.
    Cpl,
}

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
    pub errors: Signal<Out, Bits<32>>,
    state: DFF<TxState>,
    cons_q: Vec<DFF<Bits<16>>>,
    cq_prod_q: Vec<DFF<Bits<16>>>,
    qid: Vec<Constant<Bits<16>>>,
    sg_index: Vec<Constant<Bits<4>>>,
    rr: DFF<Bits<16>>,
    q: DFF<Bits<16>>,
    base: DFF<Bits<64>>,
    log2: DFF<Bits<4>>,
    cqb: DFF<Bits<64>>,
    cql: DFF<Bits<4>>,
    cqp: DFF<Bits<16>>,
    head: DFF<Bits<16>>,
    // Descriptors of the chain so far, and whether the chain is complete or broken.
    nd: DFF<Bits<4>>,
    chain_done: DFF<Bit>,
    err: DFF<Bit>,
    consumed: DFF<Bits<4>>,
    flen: DFF<Bits<32>>,
    sg_addr: Vec<DFF<Bits<64>>>,
    sg_len: Vec<DFF<Bits<16>>>,
    en_q: DFF<Bit>,
    start_q: DFF<Bits<16>>,
    offset_q: DFF<Bits<16>>,
    // Word within the descriptor being read, and its fields so far.
    wc: DFF<Bits<2>>,
    t_addr: DFF<Bits<64>>,
    t_word1: DFF<Bits<64>>,
    t_word2: DFF<Bits<64>>,
    // Segment being read, bytes of it requested, this request's length.
    seg: DFF<Bits<4>>,
    off: DFF<Bits<16>>,
    // Realignment: bytes held and their count.
    carry: DFF<Bits<64>>,
    cc: DFF<Bits<4>>,
    started: DFF<Bit>,
    cycle_q: DFF<Bits<64>>,
    frames_q: DFF<Bits<32>>,
    bytes_q: DFF<Bits<32>>,
    errors_q: DFF<Bits<32>>,
    // Locals.
    pending: Vec<Signal<Local, Bit>>,
    found: Signal<Local, Bit>,
    pick: Signal<Local, Bits<16>>,
    mask: Signal<Local, Bits<16>>,
    idx: Signal<Local, Bits<16>>,
    avail: Signal<Local, Bits<16>>,
    to_wrap: Signal<Local, Bits<16>>,
    room: Signal<Local, Bits<16>>,
    cnt: Signal<Local, Bits<16>>,
    prod_now: Signal<Local, Bits<16>>,
    d_flags: Signal<Local, Bits<16>>,
    d_len: Signal<Local, Bits<32>>,
    cur_addr: Signal<Local, Bits<64>>,
    cur_len: Signal<Local, Bits<16>>,
    remaining: Signal<Local, Bits<16>>,
    chunk: Signal<Local, Bits<16>>,
    n_in: Signal<Local, Bits<4>>,
    masked: Signal<Local, Bits<64>>,
    comb: Signal<Local, Bits<64>>,
    total: Signal<Local, Bits<4>>,
    final_word: Signal<Local, Bit>,
    out_keep16: Signal<Local, Bits<16>>,
    cq_mask: Signal<Local, Bits<16>>,
    phase: Signal<Local, Bit>,
    cq_pass: Signal<Local, Bits<16>>,
    cc_keep16: Signal<Local, Bits<16>>,
    last_index: Signal<Local, Bits<16>>,
    byte_masks: Vec<Constant<Bits<64>>>,
    one16: Constant<Bits<16>>,
    batch: Constant<Bits<16>>,
    max_sg: Constant<Bits<4>>,
    max_req: Constant<Bits<16>>,
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
        TxEngine {
            clock: Default::default(),
            ring_base: v(queues),
            ring_log2: v(queues),
            enable: v(queues),
            prod: v(queues),
            cq_base: v(queues),
            cq_log2: v(queues),
            cons: v(queues),
            cq_prod: v(queues),
            rd: Default::default(),
            wr: Default::default(),
            source: Default::default(),
            csum_en: Default::default(),
            csum_start: Default::default(),
            csum_offset: Default::default(),
            frames: Default::default(),
            bytes: Default::default(),
            errors: Default::default(),
            state: Default::default(),
            cons_q: v(queues),
            cq_prod_q: v(queues),
            qid: (0..queues as u64)
                .map(|i| Constant::new(i.into()))
                .collect(),
            sg_index: (0..max_sg as u64)
                .map(|i| Constant::new(i.into()))
                .collect(),
            rr: Default::default(),
            q: Default::default(),
            base: Default::default(),
            log2: Default::default(),
            cqb: Default::default(),
            cql: Default::default(),
            cqp: Default::default(),
            head: Default::default(),
            nd: Default::default(),
            chain_done: Default::default(),
            err: Default::default(),
            consumed: Default::default(),
            flen: Default::default(),
            sg_addr: v(max_sg),
            sg_len: v(max_sg),
            en_q: Default::default(),
            start_q: Default::default(),
            offset_q: Default::default(),
            wc: Default::default(),
            t_addr: Default::default(),
            t_word1: Default::default(),
            t_word2: Default::default(),
            seg: Default::default(),
            off: Default::default(),
            carry: Default::default(),
            cc: Default::default(),
            started: Default::default(),
            cycle_q: Default::default(),
            frames_q: Default::default(),
            bytes_q: Default::default(),
            errors_q: Default::default(),
            pending: v(queues),
            found: Default::default(),
            pick: Default::default(),
            mask: Default::default(),
            idx: Default::default(),
            avail: Default::default(),
            to_wrap: Default::default(),
            room: Default::default(),
            cnt: Default::default(),
            prod_now: Default::default(),
            d_flags: Default::default(),
            d_len: Default::default(),
            cur_addr: Default::default(),
            cur_len: Default::default(),
            remaining: Default::default(),
            chunk: Default::default(),
            n_in: Default::default(),
            masked: Default::default(),
            comb: Default::default(),
            total: Default::default(),
            final_word: Default::default(),
            out_keep16: Default::default(),
            cq_mask: Default::default(),
            phase: Default::default(),
            cq_pass: Default::default(),
            cc_keep16: Default::default(),
            last_index: Default::default(),
            byte_masks: (0..8)
                .map(|k| Constant::new((0xffu64 << (8 * k)).into()))
                .collect(),
            one16: Constant::new(1u64.into()),
            batch: Constant::new(BATCH.into()),
            max_sg: Constant::new((max_sg as u64).into()),
            max_req: Constant::new(4096u64.into()),
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
            self, clock, state, rr, q, base, log2, cqb, cql, cqp, head, nd, chain_done, err,
            consumed, flen, en_q, start_q, offset_q, wc, t_addr, t_word1, t_word2, seg, off, carry,
            cc, started, cycle_q, frames_q, bytes_q, errors_q
        );
        for i in 0..self.cons_q.len() {
            self.cons_q[i].clock.next = self.clock.val();
            self.cons_q[i].d.next = self.cons_q[i].q.val();
            self.cq_prod_q[i].clock.next = self.clock.val();
            self.cq_prod_q[i].d.next = self.cq_prod_q[i].q.val();
            self.cons[i].next = self.cons_q[i].q.val();
            self.cq_prod[i].next = self.cq_prod_q[i].q.val();
        }
        for k in 0..self.sg_addr.len() {
            self.sg_addr[k].clock.next = self.clock.val();
            self.sg_addr[k].d.next = self.sg_addr[k].q.val();
            self.sg_len[k].clock.next = self.clock.val();
            self.sg_len[k].d.next = self.sg_len[k].q.val();
        }
        self.cycle_q.d.next = self.cycle_q.q.val() + 1;

        // Round robin: the lowest queue with work above the last one served, else the lowest.
        self.found.next = false;
        self.pick.next = 0.into();
        for i in 0..self.pending.len() {
            self.pending[i].next =
                self.enable[i].val() & (self.prod[i].val() != self.cons_q[i].q.val());
        }
        // Queue 0 is never above the last one served, so the search starts at 1 (a `0 > rr`
        // comparison would be constant, and Verilator's lint rejects it).
        for i in 1..self.pending.len() {
            if self.pending[i].val() & (self.qid[i].val() > self.rr.q.val()) & !self.found.val() {
                self.found.next = true;
                self.pick.next = self.qid[i].val();
            }
        }
        for i in 0..self.pending.len() {
            if self.pending[i].val() & !self.found.val() {
                self.found.next = true;
                self.pick.next = self.qid[i].val();
            }
        }
        self.prod_now.next = 0.into();
        for i in 0..self.prod.len() {
            if self.q.q.val() == self.qid[i].val() {
                self.prod_now.next = self.prod[i].val();
            }
        }

        // Where the chain's next descriptor is and how many to fetch.
        self.mask.next = (self.one16.val() << self.log2.q.val()) - 1;
        self.idx.next = self.head.q.val() + bit_cast::<16, 4>(self.nd.q.val());
        self.avail.next = self.prod_now.val() - self.idx.val();
        self.to_wrap.next = (self.mask.val() + 1) - (self.idx.val() & self.mask.val());
        self.room.next = bit_cast::<16, 4>(self.max_sg.val() - self.nd.q.val());
        self.cnt.next = self.batch.val();
        if self.avail.val() < self.cnt.val() {
            self.cnt.next = self.avail.val();
        }
        if self.to_wrap.val() < self.cnt.val() {
            self.cnt.next = self.to_wrap.val();
        }
        if self.room.val() < self.cnt.val() {
            self.cnt.next = self.room.val();
        }
        self.d_flags.next = self.t_word1.q.val().get_bits::<16>(32);
        self.d_len.next = self.t_word1.q.val().get_bits::<32>(0);

        // The segment being read.
        self.cur_addr.next = 0.into();
        self.cur_len.next = 0.into();
        for k in 0..self.sg_addr.len() {
            if self.seg.q.val() == self.sg_index[k].val() {
                self.cur_addr.next = self.sg_addr[k].q.val();
                self.cur_len.next = self.sg_len[k].q.val();
            }
        }
        self.remaining.next = self.cur_len.val() - self.off.q.val();
        self.chunk.next = self.remaining.val();
        if self.remaining.val() > self.max_req.val() {
            self.chunk.next = self.max_req.val();
        }

        // Realignment of a response word behind the `cc` bytes held.
        self.n_in.next = 0.into();
        self.masked.next = 0.into();
        for k in 0..8 {
            if self.rd.rsp_keep.val().get_bit(k) {
                self.n_in.next = self.n_in.val() + 1;
                self.masked.next =
                    self.masked.val() | (self.rd.rsp_data.val() & self.byte_masks[k].val());
            }
        }
        self.comb.next =
            self.carry.q.val() | (self.masked.val() << (bit_cast::<8, 4>(self.cc.q.val()) << 3));
        self.total.next = self.cc.q.val() + self.n_in.val();
        self.final_word.next = self.rd.rsp_last.val()
            & (self.off.q.val() == self.cur_len.val())
            & ((self.seg.q.val() + 1) == self.nd.q.val());

        // The completion.
        self.cq_mask.next = (self.one16.val() << self.cql.q.val()) - 1;
        self.cq_pass.next = self.cqp.q.val() >> self.cql.q.val();
        self.phase.next = !self.cq_pass.val().get_bit(0);
        self.cc_keep16.next = (self.one16.val() << self.cc.q.val()) - 1;
        self.last_index.next = self.head.q.val() + bit_cast::<16, 4>(self.consumed.q.val()) - 1;

        // Defaults for the ports.
        self.rd.req_addr.next = 0.into();
        self.rd.req_len.next = 0.into();
        self.rd.req_tag.next = 0.into();
        self.rd.req_valid.next = false;
        self.rd.rsp_ready.next = false;
        self.wr.addr.next =
            self.cqb.q.val() + (bit_cast::<64, 16>(self.cqp.q.val() & self.cq_mask.val()) << 5);
        self.wr.data.next = 0.into();
        self.wr.keep.next = 0xff.into();
        self.wr.last.next = false;
        self.wr.valid.next = false;
        self.source.data.next = 0.into();
        self.source.keep.next = 0.into();
        self.source.last.next = false;
        self.source.user.next = false;
        self.source.valid.next = false;
        self.csum_en.next = self.en_q.q.val();
        self.csum_start.next = self.start_q.q.val();
        self.csum_offset.next = self.offset_q.q.val();
        self.out_keep16.next = (self.one16.val() << self.total.val()) - 1;

        match self.state.q.val() {
            TxState::Idle => {
                if self.found.val() {
                    self.q.d.next = self.pick.val();
                    self.state.d.next = TxState::Pick;
                }
            }
            TxState::Pick => {
                for i in 0..self.ring_base.len() {
                    if self.q.q.val() == self.qid[i].val() {
                        self.base.d.next = self.ring_base[i].val();
                        self.log2.d.next = self.ring_log2[i].val();
                        self.cqb.d.next = self.cq_base[i].val();
                        self.cql.d.next = self.cq_log2[i].val();
                        self.cqp.d.next = self.cq_prod_q[i].q.val();
                        self.head.d.next = self.cons_q[i].q.val();
                    }
                }
                self.nd.d.next = 0.into();
                self.chain_done.d.next = false;
                self.err.d.next = false;
                self.consumed.d.next = 0.into();
                self.flen.d.next = 0.into();
                self.en_q.d.next = false;
                self.seg.d.next = 0.into();
                self.off.d.next = 0.into();
                self.cc.d.next = 0.into();
                self.carry.d.next = 0.into();
                self.started.d.next = false;
                self.state.d.next = TxState::DescReq;
            }
            TxState::DescReq => {
                if self.cnt.val() == 0 {
                    // The chain stops at `prod` without LAST.
                    self.err.d.next = true;
                    self.consumed.d.next = self.nd.q.val();
                    self.state.d.next = TxState::Cpl;
                    self.wc.d.next = 0.into();
                } else {
                    self.rd.req_addr.next = self.base.q.val()
                        + (bit_cast::<64, 16>(self.idx.val() & self.mask.val()) << 5);
                    self.rd.req_len.next = self.cnt.val() << 5;
                    self.rd.req_valid.next = true;
                    if self.rd.req_ready.val() {
                        self.wc.d.next = 0.into();
                        self.state.d.next = TxState::DescRsp;
                    }
                }
            }
            TxState::DescRsp => {
                self.rd.rsp_ready.next = true;
                if self.rd.rsp_valid.val() {
                    self.wc.d.next = self.wc.q.val() + 1;
                    if self.wc.q.val() == 0 {
                        self.t_addr.d.next = self.rd.rsp_data.val();
                    }
                    if self.wc.q.val() == 1 {
                        self.t_word1.d.next = self.rd.rsp_data.val();
                    }
                    if self.wc.q.val() == 2 {
                        self.t_word2.d.next = self.rd.rsp_data.val();
                    }
                    if (self.wc.q.val() == 3) & !self.chain_done.q.val() & !self.rd.rsp_error.val()
                    {
                        if (self.nd.q.val() == 0) & ((self.d_flags.val() & self.f_first.val()) == 0)
                        {
                            self.err.d.next = true;
                            self.chain_done.d.next = true;
                            self.consumed.d.next = 1.into();
                        } else if (self.nd.q.val() != 0)
                            & ((self.d_flags.val() & self.f_first.val()) != 0)
                        {
                            self.err.d.next = true;
                            self.chain_done.d.next = true;
                            self.consumed.d.next = self.nd.q.val();
                        } else if (self.d_len.val() == 0)
                            | self.d_len.val().get_bits::<16>(16).any()
                        {
                            self.err.d.next = true;
                            self.chain_done.d.next = true;
                            self.consumed.d.next = self.nd.q.val() + 1;
                        } else {
                            for k in 0..self.sg_addr.len() {
                                if self.nd.q.val() == self.sg_index[k].val() {
                                    self.sg_addr[k].d.next = self.t_addr.q.val();
                                    self.sg_len[k].d.next = self.d_len.val().get_bits::<16>(0);
                                }
                            }
                            if self.nd.q.val() == 0 {
                                self.en_q.d.next = (self.d_flags.val() & self.f_csum.val()) != 0;
                                self.start_q.d.next = self.t_word2.q.val().get_bits::<16>(0);
                                self.offset_q.d.next = self.t_word2.q.val().get_bits::<16>(16);
                            }
                            self.nd.d.next = self.nd.q.val() + 1;
                            self.consumed.d.next = self.nd.q.val() + 1;
                            self.flen.d.next = self.flen.q.val()
                                + bit_cast::<32, 16>(self.d_len.val().get_bits::<16>(0));
                            if (self.d_flags.val() & self.f_last.val()) != 0 {
                                self.chain_done.d.next = true;
                            } else if (self.nd.q.val() + 1) == self.max_sg.val() {
                                self.err.d.next = true;
                                self.chain_done.d.next = true;
                            }
                        }
                    }
                    if self.rd.rsp_error.val() & !self.chain_done.q.val() {
                        self.err.d.next = true;
                        self.chain_done.d.next = true;
                        self.consumed.d.next = self.nd.q.val() + 1;
                    }
                    if self.rd.rsp_last.val() {
                        self.state.d.next = TxState::DescDone;
                    }
                }
            }
            TxState::DescDone => {
                // The batch's verdicts are registered now.
                self.wc.d.next = 0.into();
                if self.err.q.val() {
                    self.state.d.next = TxState::Cpl;
                } else if self.chain_done.q.val() {
                    self.state.d.next = TxState::DataReq;
                } else {
                    self.state.d.next = TxState::DescReq;
                }
            }
            TxState::DataReq => {
                self.rd.req_addr.next = self.cur_addr.val() + bit_cast::<64, 16>(self.off.q.val());
                self.rd.req_len.next = self.chunk.val();
                self.rd.req_valid.next = true;
                if self.rd.req_ready.val() {
                    self.off.d.next = self.off.q.val() + self.chunk.val();
                    self.state.d.next = TxState::DataRsp;
                }
            }
            TxState::DataRsp => {
                if self.rd.rsp_valid.val() {
                    if self.rd.rsp_error.val() {
                        // A segment read faulted: end the frame as bad.
                        self.source.valid.next = true;
                        self.source.data.next = self.carry.q.val();
                        self.source.keep.next = self.cc_keep16.val().get_bits::<8>(0) | 1;
                        self.source.last.next = true;
                        self.source.user.next = true;
                        self.rd.rsp_ready.next = self.source.ready.val();
                        if self.source.ready.val() {
                            self.err.d.next = true;
                            self.wc.d.next = 0.into();
                            self.state.d.next = TxState::Cpl;
                        }
                    } else if (self.total.val() >= 8) | self.final_word.val() {
                        self.source.valid.next = true;
                        self.source.data.next = self.comb.val();
                        self.source.keep.next = 0xff.into();
                        if self.total.val() < 8 {
                            self.source.keep.next = self.out_keep16.val().get_bits::<8>(0);
                        }
                        self.source.last.next = self.final_word.val() & (self.total.val() <= 8);
                        self.rd.rsp_ready.next = self.source.ready.val();
                    } else {
                        self.rd.rsp_ready.next = true;
                    }
                    if self.rd.rsp_ready.val() & !self.rd.rsp_error.val() {
                        self.started.d.next = true;
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
                        if self.rd.rsp_last.val() {
                            if self.final_word.val() {
                                self.wc.d.next = 0.into();
                                self.state.d.next = TxState::Cpl;
                                if self.total.val() > 8 {
                                    self.state.d.next = TxState::Flush;
                                }
                            } else {
                                self.state.d.next = TxState::DataReq;
                                if self.off.q.val() == self.cur_len.val() {
                                    self.seg.d.next = self.seg.q.val() + 1;
                                    self.off.d.next = 0.into();
                                }
                            }
                        }
                    }
                }
            }
            TxState::Flush => {
                self.source.valid.next = true;
                self.source.data.next = self.carry.q.val();
                self.source.keep.next = self.cc_keep16.val().get_bits::<8>(0);
                self.source.last.next = true;
                if self.source.ready.val() {
                    self.wc.d.next = 0.into();
                    self.state.d.next = TxState::Cpl;
                }
            }
            TxState::Cpl => {
                self.wr.valid.next = true;
                if self.wc.q.val() == 0 {
                    self.wr.data.next = bit_cast::<64, 32>(self.flen.q.val())
                        | (bit_cast::<64, 16>(self.last_index.val()) << 32)
                        | (bit_cast::<64, 16>(self.q.q.val()) << 48);
                }
                if self.wc.q.val() == 2 {
                    self.wr.data.next = self.cycle_q.q.val();
                }
                if self.wc.q.val() == 3 {
                    self.wr.last.next = true;
                    self.wr.data.next = self.cpl_tx.val();
                    if self.err.q.val() {
                        self.wr.data.next = self.cpl_err.val();
                    }
                    if self.phase.val() {
                        self.wr.data.next = self.wr.data.val() | self.phase_bit.val();
                    }
                }
                if self.wr.ready.val() {
                    self.wc.d.next = self.wc.q.val() + 1;
                    if self.wc.q.val() == 3 {
                        for i in 0..self.cons_q.len() {
                            if self.q.q.val() == self.qid[i].val() {
                                self.cons_q[i].d.next = self.cons_q[i].q.val()
                                    + bit_cast::<16, 4>(self.consumed.q.val());
                                self.cq_prod_q[i].d.next = self.cq_prod_q[i].q.val() + 1;
                            }
                        }
                        self.rr.d.next = self.q.q.val();
                        if self.err.q.val() {
                            self.errors_q.d.next = self.errors_q.q.val() + 1;
                        } else {
                            self.frames_q.d.next = self.frames_q.q.val() + 1;
                            self.bytes_q.d.next = self.bytes_q.q.val() + self.flen.q.val();
                        }
                        self.state.d.next = TxState::Idle;
                    }
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
                let (p, i) = name.split_once('$').ok_or_else(bad)?;
                let i: usize = i.parse().map_err(|_| bad())?;
                if i >= self.prod.len() {
                    return Err(bad());
                }
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
        /// Data.
        pub data: u64,
        /// Byte enables.
        pub keep: u64,
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
    /// word per cycle, with random gaps.
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

        /// Queues the response to a request taken at `cycle`.
        pub fn request(&mut self, mem: &Memory, cycle: u64, addr: u64, len: usize) {
            self.requests.push((addr, len));
            let at = cycle + self.latency;
            match mem.read(addr, len) {
                Some(b) => {
                    let n = b.len().div_ceil(8);
                    for (i, c) in b.chunks(8).enumerate() {
                        let mut w = [0u8; 8];
                        w[..c.len()].copy_from_slice(c);
                        self.queue.push_back((
                            at,
                            RspWord {
                                data: u64::from_le_bytes(w),
                                keep: (1u64 << c.len()) - 1,
                                last: i + 1 == n,
                                error: false,
                            },
                        ));
                    }
                }
                None => self.queue.push_back((
                    at,
                    RspWord {
                        data: 0,
                        keep: 0,
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
/// and response words (mostly words that read as valid FIRST|LAST descriptors of 1..=64 bytes,
/// so frames flow, with random and faulting words mixed in so that the error paths run too).
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
        let keep = (1u64 << rng.gen_range(1..=8)) - 1;
        set.extend([
            ("rd$req_ready", vec![u64::from(rng.gen_ratio(2, 3))]),
            ("rd$rsp_valid", vec![u64::from(rng.gen_ratio(2, 3))]),
            ("rd$rsp_data", vec![data]),
            ("rd$rsp_keep", vec![keep]),
            ("rd$rsp_last", vec![u64::from(rng.gen_ratio(1, 5))]),
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
        ready_percent: u8,
    }

    impl World {
        fn new(queues: usize, seed: u64) -> Self {
            let mut b = Bench::new(TxEngine::new(queues, MAX_SG)).unwrap();
            let mut qs = vec![];
            for i in 0..queues {
                let q = Queue {
                    ring: MEM + 0x1000 * i as u64,
                    log2: 4,
                    cq: MEM + 0x8000 + 0x1000 * i as u64,
                    cq_log2: 3,
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
                keep: self.rng.gen_range(0..256),
                last: self.rng.gen(),
                error: self.rng.gen(),
            });
            b.set("rd$rsp_valid", &[u64::from(offered.is_some())])
                .unwrap();
            b.set("rd$rsp_data", &[w.data]).unwrap();
            b.set("rd$rsp_keep", &[w.keep]).unwrap();
            b.set("rd$rsp_last", &[u64::from(w.last)]).unwrap();
            b.set("rd$rsp_error", &[u64::from(w.error)]).unwrap();
            let req_ready = self.rng.gen_range(0..100) < 70;
            b.set("rd$req_ready", &[u64::from(req_ready)]).unwrap();
            let wr_ready = self.rng.gen_range(0..100) < 70;
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
                self.rsp.request(&self.mem, self.cycle, a, l);
            }
            if wr_ready && g("wr$valid") == 1 {
                if self.wr_words.is_empty() {
                    self.wr_addr = g("wr$addr");
                }
                assert_eq!(g("wr$keep"), 0xff);
                self.wr_words.push(g("wr$data"));
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
                    if usize::from(used) + p.descs.len() <= 16 && inflight[q].len() < 6 {
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
    fn synthesizes_with_yosys_and_lints() {
        let v = verilog().unwrap();
        crate::synth::verilator_lint("oxnic_tx_engine", &v).unwrap();
        let r = crate::synth::yosys_synth("oxnic_tx_engine", &v).unwrap();
        println!("oxnic_tx_engine: {r:?}");
        assert!(r.flops > 0 && r.cells > r.flops, "{r:?}");
    }
}
