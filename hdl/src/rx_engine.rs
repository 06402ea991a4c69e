//! The card's receive DMA engine. Seed stage: "buffer from RX ring, DMA write, completion" — the
//! end of the card's receive path, after `mac_rx`, the packet FIFO and `rx_classify`.
//!
//! # What it does
//! Frames arrive on `sink` (good frames only, FCS stripped, one at a time and whole: the packet
//! FIFO in front only ever releases complete frames). Each frame has one metadata record from
//! [`crate::rx_classify::RxClassify`], presented on the `meta_*` ports with a one-cycle
//! `meta_valid` strobe, in the same order as the frames; it may arrive before, during or after
//! its frame's words. A metadata FIFO inside the engine ([`META_DEPTH`] records) holds the
//! records, so the classifier's strobes need no backpressure. A strobe that finds the FIFO full
//! is counted in `meta_lost`; that is a wiring error (the frame buffer in front must not hold
//! more than [`META_DEPTH`] frames), after which frames and records no longer pair up.
//!
//! For each frame, in order, the engine looks at its record's `meta_rx_queue`:
//! - the queue exists, is enabled, has not faulted and has a posted buffer in its descriptor
//!   cache, and the frame fits in that buffer: the frame is DMA-written into the buffer at the
//!   rate it arrives (`dma_wr`, packed data from the buffer's first byte), then the 32-byte
//!   completion (`oxnic_abi::desc::Cpl` layout) is written to
//!   `cq_base + (cq_prod % 2^cq_size_log2) * 32` on the same port, so it lands after the data.
//!   The queue's consumer index advances by one at the frame's last word, its completion
//!   producer index once the completion's last word is taken;
//! - no buffer (queue out of range, disabled, faulted, or the driver's producer index equals
//!   the consumer index — the ring is empty): the frame's words are consumed and discarded at
//!   one per cycle and it is counted in `rx_no_buffer`. Frames of other queues are not held up
//!   beyond that: frames are processed in order, and a dropped frame is skipped at line rate;
//! - a buffer is posted but not cached yet (the ring was empty until a moment ago, or the
//!   queue outran its prefetch): the frame waits while the fetcher serves that queue first,
//!   one descriptor read round trip. Later frames wait behind it (frames stay in order);
//! - the frame is longer than the buffer: it is dropped the same way and counted in
//!   `rx_too_long`; the buffer is NOT consumed (the next frame of the queue may fit it).
//!
//! # Completion record
//! `len` = frame length, `index` = ring index of the buffer (consumer index mod ring size),
//! `queue`, `rss_hash` + `hash_type`, `csum` = IPv4 status in bits 1:0, L4 status in 3:2 and
//! bit 4 set (the classifier always computes CHECKSUM_COMPLETE), `csum_complete`, `vlan_tci`
//! (the tag is reported, not stripped: the buffer holds the frame as received), `gro_segs` = 1,
//! `flags` (`VLAN`, `TCP`, `UDP`, `IPV4`, `FRAGMENT`), `timestamp` = a free-running cycle
//! counter (its value when the word holding it is offered), and the phase in bit 7 of byte 31:
//! 1 on the first pass over the ring, flipping on every wrap (`!(cq_prod >> cq_size_log2) & 1`).
//!
//! # Queues and descriptors
//! `N` RX queues (1..=8, a constructor argument). Each RX queue reports to its own completion
//! queue (`cq_*$i` belongs to RX queue `i`). The driver must give a completion queue at least as
//! many entries as its RX ring: every completion consumes a buffer, so a completion queue that
//! size cannot overflow, and the engine has no completion-queue consumer index input.
//! Indices are free-running 16-bit counters, as in `oxnic_abi::regs::rxq`; ring sizes are
//! `2^rxq_size_log2` descriptors (log2 at most 15).
//!
//! Each queue has a cache of [`CACHE`] descriptors. A fetcher walks the queues round-robin
//! (one queue looked at per cycle) and, for a queue whose driver producer index is ahead of
//! what has been asked for, reads as many descriptors as fit in the cache (counting those
//! still on their way), are posted, and lie before the end of the ring, in one DMA read
//! (tag = queue number). Up to [`READS_IN_FLIGHT`] reads are in flight, for any queues: a
//! small FIFO remembers each read's queue, first index and count, and since the port returns
//! responses whole and in request order ([`crate::dma_if`]) the head of that FIFO says where
//! each response word goes. A fetch is issued once it can bring at least [`FETCH_MIN`]
//! descriptors, or at once when the queue has none cached or coming: each PCIe round trip
//! (about 1 µs) should bring many descriptors. So a steady stream of frames over all queues
//! finds its buffers already cached and does not pay a read round trip per frame (with one
//! read in flight for all queues, 64-byte frames over 8 queues took twice their port time).
//! A read that comes back with `rsp_error` marks the queue faulted (`rxq_fault$i`, counted
//! in `dma_rd_errors`): it stops fetching and its frames are dropped as `rx_no_buffer` until
//! the driver disables and re-enables it. Disabling a queue (`rxq_enable$i` low) resets its
//! indices to zero and clears its fault; the driver re-enables it with its producer index at
//! zero too. A read issued before the queue was disabled is recognised when it returns (each
//! read carries the queue's enable-period count, mod 4) and ignored, so a restarted queue
//! never caches its old ring's descriptors. Descriptor lengths above 65535 are treated as
//! 65535 (frames are at most 65535 bytes).
//!
//! The per-queue indices, faults and enable periods, and the lookups of one queue's state, are
//! a block of their own with hand-written Verilog, [`crate::rx_queues::RxQueues`].
//!
//! # Timing
//! Frame words are packed two to a 128-bit write word ([`crate::dma_if`]), so the port is
//! busy every other cycle during a frame. A delivered frame of `w` words takes `w + 2`
//! cycles: at its last word its completion (two write words) is latched for a small writer,
//! and the next frame's record is taken and looked up (2 cycles) while it goes out. So
//! 64-byte frames take 10 cycles, 512-byte frames 66, 1518-byte frames 192 (measured in the
//! tests, with the host always ready), each within the time the frame takes on the wire
//! with its preamble and gap (10.5, 66.5, 192.25 cycles at 64 bits a cycle). A dropped frame
//! takes `w + 1` cycles.
//!
//! Inputs: `clock`; `sink` (the frame stream); `meta_valid` and the `meta_*` fields (as
//! [`crate::rx_classify::RxClassify`] outputs them); `dma_rd` responses and `req_ready`;
//! `dma_wr$ready`; per queue `i`: `rxq_base$i` (ring IOVA), `rxq_size_log2$i`, `rxq_enable$i`,
//! `rxq_prod$i` (doorbell), `cq_base$i`, `cq_size_log2$i`.
//!
//! Outputs: `sink$ready`; `dma_rd` requests and `rsp_ready`; the `dma_wr` words; per queue
//! `rxq_cons$i` (buffers used), `cq_prod$i` (completions written), `rxq_fault$i`; counters
//! `rx_packets`, `rx_bytes` (frame bytes delivered), `rx_no_buffer`, `rx_too_long`,
//! `rx_csum_errors` (delivered frames with a bad IPv4 header or L4 checksum), `dma_rd_errors`,
//! `meta_lost`, and `cycle_count` (the timestamp counter).
//!
//! Figures (tests below): 64 B frames 10 cycles each, 512 B 66, 1518 B 192; yosys generic
//! synthesis of the 8-queue engine about 25 900 cells of which about 9 700 flops (the
//! descriptor cache RAMs become flops in generic synthesis; on an FPGA they are LUT RAM).

use crate::dma_if::{DmaReadMaster, DmaWriteMaster};
use crate::rx_queues::RxQueues;
use crate::stream::StreamSink;
use crate::stream_fifo::StreamFifo;
use crate::testbench::{FromWords, SetInputs, Stimulus, TbError};
use rust_hdl::prelude::*;
use std::collections::BTreeMap;

/// Descriptors cached per queue.
pub const CACHE: usize = 32;
/// Fewest descriptors a fetch asks for while the queue still has some cached: small reads would
/// spend a PCIe round trip each on one or two descriptors.
pub const FETCH_MIN: usize = 8;
/// Descriptor reads the fetcher keeps in flight (the depth of its read FIFO).
pub const READS_IN_FLIGHT: usize = 8;
/// Metadata records the engine's FIFO holds.
pub const META_DEPTH: usize = 128;
/// Most queues an engine can have (the cache address holds 3 bits of queue number).
pub const MAX_QUEUES: usize = 8;

/// The main state machine: one frame at a time.
#[derive(Copy, Clone, PartialEq, Eq, Debug, LogicState)]
pub enum RxState {
    /// Waiting for a metadata record.
    Idle,
    /// The record is latched and the cached descriptor is being read: deliver or drop.
    Check,
    /// Frame words to the buffer.
    Data,
    /// Frame words discarded.
    Drop,
}

/// The descriptor fetcher's request side (responses are taken apart from it).
#[derive(Copy, Clone, PartialEq, Eq, Debug, LogicState)]
pub enum FetchState {
    /// Looking at one queue per cycle.
    Scan,
    /// Offering the read request.
    Request,
}

/// The receive DMA engine; see the module documentation.
#[derive(LogicBlock)]
pub struct RxEngine {
    /// Clock for every register.
    pub clock: Signal<In, Clock>,
    /// The frames.
    pub sink: StreamSink<64, 8>,
    /// One strobe per frame: the `meta_*` fields below describe the next frame.
    pub meta_valid: Signal<In, Bit>,
    /// Frame length in bytes.
    pub meta_frame_len: Signal<In, Bits<16>>,
    /// An 802.1Q tag is present.
    pub meta_vlan: Signal<In, Bit>,
    /// Tag control information.
    pub meta_vlan_tci: Signal<In, Bits<16>>,
    /// IPv4.
    pub meta_is_ipv4: Signal<In, Bit>,
    /// IPv4 fragment.
    pub meta_is_fragment: Signal<In, Bit>,
    /// TCP.
    pub meta_is_tcp: Signal<In, Bit>,
    /// UDP.
    pub meta_is_udp: Signal<In, Bit>,
    /// IPv4 header checksum status (`oxnic_abi::desc::CsumStatus`).
    pub meta_ip_csum: Signal<In, Bits<2>>,
    /// L4 checksum status.
    pub meta_l4_csum: Signal<In, Bits<2>>,
    /// CHECKSUM_COMPLETE value.
    pub meta_csum_complete: Signal<In, Bits<16>>,
    /// RSS hash.
    pub meta_hash: Signal<In, Bits<32>>,
    /// RSS hash type (`oxnic_abi::desc::HashType`).
    pub meta_hash_type: Signal<In, Bits<2>>,
    /// RX queue of the frame.
    pub meta_rx_queue: Signal<In, Bits<8>>,
    /// Descriptor reads.
    pub dma_rd: DmaReadMaster,
    /// Frame and completion writes.
    pub dma_wr: DmaWriteMaster,
    /// Per queue: descriptor ring IOVA.
    pub rxq_base: Vec<Signal<In, Bits<64>>>,
    /// Per queue: log2 of the ring's descriptor count (at most 15).
    pub rxq_size_log2: Vec<Signal<In, Bits<4>>>,
    /// Per queue: enabled; low resets the queue's indices and fault.
    pub rxq_enable: Vec<Signal<In, Bit>>,
    /// Per queue: the driver's producer index (doorbell), free-running.
    pub rxq_prod: Vec<Signal<In, Bits<16>>>,
    /// Per queue: its completion ring IOVA.
    pub cq_base: Vec<Signal<In, Bits<64>>>,
    /// Per queue: log2 of its completion ring's record count (at most 15).
    pub cq_size_log2: Vec<Signal<In, Bits<4>>>,
    /// Per queue: buffers used (consumer index), free-running.
    pub rxq_cons: Vec<Signal<Out, Bits<16>>>,
    /// Per queue: completions written (completion producer index), free-running.
    pub cq_prod: Vec<Signal<Out, Bits<16>>>,
    /// High in the cycle whose edge moves a `cq_prod` on by one (a completion written).
    pub cq_event: Signal<Out, Bit>,
    /// The queue of that completion (the low 4 bits of its number).
    pub cq_event_q: Signal<Out, Bits<4>>,
    /// Per queue: halted by a descriptor read error.
    pub rxq_fault: Vec<Signal<Out, Bit>>,
    /// Frames delivered.
    pub rx_packets: Signal<Out, Bits<64>>,
    /// Bytes delivered.
    pub rx_bytes: Signal<Out, Bits<64>>,
    /// Frames dropped: no buffer on their queue.
    pub rx_no_buffer: Signal<Out, Bits<64>>,
    /// Frames dropped: longer than the buffer.
    pub rx_too_long: Signal<Out, Bits<64>>,
    /// Delivered frames with a bad IPv4 header or L4 checksum.
    pub rx_csum_errors: Signal<Out, Bits<64>>,
    /// Descriptor reads that came back with an error.
    pub dma_rd_errors: Signal<Out, Bits<32>>,
    /// Metadata strobes lost to a full FIFO (a wiring error).
    pub meta_lost: Signal<Out, Bits<32>>,
    /// Free-running cycle counter (the completion timestamp).
    pub cycle_count: Signal<Out, Bits<64>>,

    meta_fifo: StreamFifo<128, 16, 7, 8>,
    // Descriptor reads in flight, oldest first: queue 7:0, the queue's epoch 9:8, first index
    // 31:16, count 47:32.
    inflight: StreamFifo<64, 8, 3, 4>,
    desc_addr: RAM<Bits<64>, 8>,
    desc_len: RAM<Bits<16>, 8>,
    last_q: Constant<Bits<8>>,
    cache_size: Constant<Bits<16>>,
    fetch_min: Constant<Bits<16>>,
    one16: Constant<Bits<16>>,
    // gro_segs = 1 and the CHECKSUM_COMPLETE-valid bit of completion word 3.
    w3_fixed: Constant<Bits<64>>,
    // Per-queue state: descriptors asked for (read issued), landed in the cache, used;
    // completions written; faults; enable periods (mod 4), so a read issued before the queue
    // was disabled is recognised when it comes back. And the lookups of a queue's state.
    queues: RxQueues,
    // Main state machine.
    state: DFF<RxState>,
    cur_meta: DFF<Bits<128>>,
    cur_q: DFF<Bits<8>>,
    buf_addr: DFF<Bits<64>>,
    cpl_addr: DFF<Bits<64>>,
    cpl_index: DFF<Bits<16>>,
    cpl_phase: DFF<Bit>,
    // The completion writer: a record latched at the end of its frame's data, written while
    // the next frame is looked up.
    cw_busy: DFF<Bit>,
    cw_second: DFF<Bit>,
    cw_q: DFF<Bits<8>>,
    cw_addr: DFF<Bits<64>>,
    cw0: DFF<Bits<64>>,
    cw1: DFF<Bits<64>>,
    cw3: DFF<Bits<64>>,
    // The 128-bit write word being packed: its low half, held.
    lo: DFF<Bits<64>>,
    hold: DFF<Bit>,
    // The frame in `Check` waited for its descriptor to be fetched.
    waited: DFF<Bit>,
    packets: DFF<Bits<64>>,
    bytes: DFF<Bits<64>>,
    no_buffer: DFF<Bits<64>>,
    too_long: DFF<Bits<64>>,
    csum_errors: DFF<Bits<64>>,
    lost: DFF<Bits<32>>,
    cycles: DFF<Bits<64>>,
    // Fetcher.
    fstate: DFF<FetchState>,
    rr: DFF<Bits<8>>,
    f_q: DFF<Bits<8>>,
    f_addr: DFF<Bits<64>>,
    f_len: DFF<Bits<16>>,
    f_count: DFF<Bits<16>>,
    f_idx: DFF<Bits<16>>,
    f_epoch: DFF<Bits<2>>,
    // Response side: word of the head read, an error seen in it.
    r_word: DFF<Bits<16>>,
    r_err: DFF<Bit>,
    rd_errors: DFF<Bits<32>>,
    // Combinational helpers.
    pack: Signal<Local, Bits<128>>,
    head: Signal<Local, Bits<128>>,
    head_q: Signal<Local, Bits<8>>,
    start: Signal<Local, Bit>,
    rd_slot: Signal<Local, Bits<8>>,
    urgent: Signal<Local, Bit>,
    scan_q: Signal<Local, Bits<8>>,
    m_frame_len: Signal<Local, Bits<16>>,
    bump_cons: Signal<Local, Bit>,
    bump_cqp: Signal<Local, Bit>,
    w0: Signal<Local, Bits<64>>,
    w1: Signal<Local, Bits<64>>,
    w3: Signal<Local, Bits<64>>,
    s_mask: Signal<Local, Bits<16>>,
    s_pos: Signal<Local, Bits<16>>,
    s_free: Signal<Local, Bits<16>>,
    s_posted: Signal<Local, Bits<16>>,
    s_to_end: Signal<Local, Bits<16>>,
    s_min1: Signal<Local, Bits<16>>,
    s_count: Signal<Local, Bits<16>>,
    fetch_done: Signal<Local, Bit>,
    fetch_fail: Signal<Local, Bit>,
    wr_slot: Signal<Local, Bits<16>>,
    h_q: Signal<Local, Bits<8>>,
    h_idx: Signal<Local, Bits<16>>,
    h_count: Signal<Local, Bits<16>>,
    cw_inc: Signal<Local, Bits<16>>,
    bump_asked: Signal<Local, Bit>,
}

fn zeroed<D: Synth, const A: usize>() -> RAM<D, A> {
    let init: BTreeMap<Bits<A>, D> = (0..1u64 << A)
        .map(|a| (Bits::<A>::from(a), D::default()))
        .collect();
    RAM::new(init)
}

fn signals<D: Direction, T: Synth>(n: usize) -> Vec<Signal<D, T>> {
    (0..n).map(|_| Signal::default()).collect()
}

impl RxEngine {
    /// An engine with `queues` RX queues (1..=[`MAX_QUEUES`]).
    pub fn new(queues: usize) -> Self {
        assert!(
            (1..=MAX_QUEUES).contains(&queues),
            "1..={MAX_QUEUES} queues"
        );
        RxEngine {
            clock: Default::default(),
            sink: Default::default(),
            meta_valid: Default::default(),
            meta_frame_len: Default::default(),
            meta_vlan: Default::default(),
            meta_vlan_tci: Default::default(),
            meta_is_ipv4: Default::default(),
            meta_is_fragment: Default::default(),
            meta_is_tcp: Default::default(),
            meta_is_udp: Default::default(),
            meta_ip_csum: Default::default(),
            meta_l4_csum: Default::default(),
            meta_csum_complete: Default::default(),
            meta_hash: Default::default(),
            meta_hash_type: Default::default(),
            meta_rx_queue: Default::default(),
            dma_rd: Default::default(),
            dma_wr: Default::default(),
            rxq_base: signals(queues),
            rxq_size_log2: signals(queues),
            rxq_enable: signals(queues),
            rxq_prod: signals(queues),
            cq_base: signals(queues),
            cq_size_log2: signals(queues),
            rxq_cons: signals(queues),
            cq_prod: signals(queues),
            cq_event: Default::default(),
            cq_event_q: Default::default(),
            rxq_fault: signals(queues),
            rx_packets: Default::default(),
            rx_bytes: Default::default(),
            rx_no_buffer: Default::default(),
            rx_too_long: Default::default(),
            rx_csum_errors: Default::default(),
            dma_rd_errors: Default::default(),
            meta_lost: Default::default(),
            cycle_count: Default::default(),
            meta_fifo: Default::default(),
            inflight: Default::default(),
            desc_addr: zeroed(),
            desc_len: zeroed(),
            last_q: Constant::new(Bits::<8>::from(queues as u64 - 1)),
            cache_size: Constant::new(Bits::<16>::from(CACHE as u64)),
            fetch_min: Constant::new(Bits::<16>::from(FETCH_MIN as u64)),
            one16: Constant::new(Bits::<16>::from(1u64)),
            w3_fixed: Constant::new(Bits::<64>::from(1u64 | 1 << 28)),
            queues: RxQueues::new(queues),
            state: Default::default(),
            cur_meta: Default::default(),
            cur_q: Default::default(),
            buf_addr: Default::default(),
            cpl_addr: Default::default(),
            cpl_index: Default::default(),
            cpl_phase: Default::default(),
            cw_busy: Default::default(),
            cw_second: Default::default(),
            cw_q: Default::default(),
            cw_addr: Default::default(),
            cw0: Default::default(),
            cw1: Default::default(),
            cw3: Default::default(),
            lo: Default::default(),
            hold: Default::default(),
            waited: Default::default(),
            packets: Default::default(),
            bytes: Default::default(),
            no_buffer: Default::default(),
            too_long: Default::default(),
            csum_errors: Default::default(),
            lost: Default::default(),
            cycles: Default::default(),
            fstate: Default::default(),
            rr: Default::default(),
            f_q: Default::default(),
            f_addr: Default::default(),
            f_len: Default::default(),
            f_count: Default::default(),
            f_idx: Default::default(),
            f_epoch: Default::default(),
            r_word: Default::default(),
            r_err: Default::default(),
            rd_errors: Default::default(),
            pack: Default::default(),
            head: Default::default(),
            head_q: Default::default(),
            start: Default::default(),
            rd_slot: Default::default(),
            urgent: Default::default(),
            scan_q: Default::default(),
            m_frame_len: Default::default(),
            bump_cons: Default::default(),
            bump_cqp: Default::default(),
            w0: Default::default(),
            w1: Default::default(),
            w3: Default::default(),
            s_mask: Default::default(),
            s_pos: Default::default(),
            s_free: Default::default(),
            s_posted: Default::default(),
            s_to_end: Default::default(),
            s_min1: Default::default(),
            s_count: Default::default(),
            fetch_done: Default::default(),
            fetch_fail: Default::default(),
            wr_slot: Default::default(),
            h_q: Default::default(),
            h_idx: Default::default(),
            h_count: Default::default(),
            cw_inc: Default::default(),
            bump_asked: Default::default(),
        }
    }

    /// Number of RX queues.
    pub fn queues(&self) -> usize {
        self.rxq_enable.len()
    }
}

impl Logic for RxEngine {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self,
            clock,
            state,
            cur_meta,
            cur_q,
            buf_addr,
            cpl_addr,
            cpl_index,
            cpl_phase,
            cw_busy,
            cw_second,
            cw_q,
            cw_addr,
            cw0,
            cw1,
            cw3,
            lo,
            hold,
            waited,
            packets,
            bytes,
            no_buffer,
            too_long,
            csum_errors,
            lost,
            cycles,
            fstate,
            rr,
            f_q,
            f_addr,
            f_len,
            f_count,
            f_idx,
            f_epoch,
            r_word,
            r_err,
            rd_errors
        );
        clock!(self, clock, meta_fifo, inflight, queues);
        self.desc_addr.read_clock.next = self.clock.val();
        self.desc_addr.write_clock.next = self.clock.val();
        self.desc_len.read_clock.next = self.clock.val();
        self.desc_len.write_clock.next = self.clock.val();
        for i in 0..self.rxq_enable.len() {
            self.queues.enable[i].next = self.rxq_enable[i].val();
            self.queues.prod[i].next = self.rxq_prod[i].val();
            self.queues.base[i].next = self.rxq_base[i].val();
            self.queues.log2[i].next = self.rxq_size_log2[i].val();
            self.queues.cq_base[i].next = self.cq_base[i].val();
            self.queues.cq_log2[i].next = self.cq_size_log2[i].val();
            self.rxq_cons[i].next = self.queues.cons[i].val();
            self.cq_prod[i].next = self.queues.cqp[i].val();
            self.rxq_fault[i].next = self.queues.fault[i].val();
        }
        self.cycles.d.next = self.cycles.q.val() + 1;

        // Metadata FIFO: records packed (see `pack_meta`).
        // (Packed only when a record comes: wide shifts cost a simulator every cycle.)
        self.pack.next = 0.into();
        if self.meta_valid.val() {
            self.pack.next = bit_cast::<128, 16>(self.meta_frame_len.val())
                | (bit_cast::<128, 16>(self.meta_vlan_tci.val()) << 16)
                | (bit_cast::<128, 16>(self.meta_csum_complete.val()) << 32)
                | (bit_cast::<128, 2>(self.meta_ip_csum.val()) << 48)
                | (bit_cast::<128, 2>(self.meta_l4_csum.val()) << 50)
                | (bit_cast::<128, 2>(self.meta_hash_type.val()) << 52)
                | (bit_cast::<128, 1>(self.meta_vlan.val().into()) << 54)
                | (bit_cast::<128, 1>(self.meta_is_ipv4.val().into()) << 55)
                | (bit_cast::<128, 1>(self.meta_is_fragment.val().into()) << 56)
                | (bit_cast::<128, 1>(self.meta_is_tcp.val().into()) << 57)
                | (bit_cast::<128, 1>(self.meta_is_udp.val().into()) << 58)
                | (bit_cast::<128, 32>(self.meta_hash.val()) << 64)
                | (bit_cast::<128, 8>(self.meta_rx_queue.val()) << 96);
        }
        self.meta_fifo.sink.data.next = self.pack.val();
        self.meta_fifo.sink.keep.next = 0.into();
        self.meta_fifo.sink.last.next = true;
        self.meta_fifo.sink.user.next = false;
        self.meta_fifo.sink.valid.next = self.meta_valid.val();
        if self.meta_valid.val() & !self.meta_fifo.sink.ready.val() {
            self.lost.d.next = self.lost.q.val() + 1;
        }
        self.head.next = self.meta_fifo.source.data.val();
        self.head_q.next = self.head.val().get_bits::<8>(96);

        // The head record's queue: its consumer index addresses the cached descriptor.
        self.queues.head_q.next = self.head_q.val();
        // The current frame's queue. A completion still being written for the same queue
        // already has its slot: the next one is one further.
        self.cw_inc.next = 0.into();
        if self.cw_busy.q.val() & (self.cw_q.q.val() == self.cur_q.q.val()) {
            self.cw_inc.next = 1.into();
        }
        // The current frame's queue, looked up (the `Check` state reads it).
        self.queues.cur_q.next = self.cur_q.q.val();
        self.queues.cw_inc.next = self.cw_inc.val();
        self.m_frame_len.next = self.cur_meta.q.val().get_bits::<16>(0);

        // Completion words (oxnic_abi::desc::cpl_field).
        self.w0.next = bit_cast::<64, 16>(self.m_frame_len.val())
            | (bit_cast::<64, 16>(self.cpl_index.q.val()) << 32)
            | (bit_cast::<64, 8>(self.cur_q.q.val()) << 48);
        self.w1.next = bit_cast::<64, 32>(self.cur_meta.q.val().get_bits::<32>(64))
            | (bit_cast::<64, 16>(self.cur_meta.q.val().get_bits::<16>(32)) << 32)
            | (bit_cast::<64, 16>(self.cur_meta.q.val().get_bits::<16>(16)) << 48);
        // gro_segs 1; hash type; csum: ip 1:0, l4 3:2, complete valid 4; flags: VLAN 1,
        // TCP 3, UDP 4, IPV4 5, FRAGMENT 6; phase bit 63.
        self.w3.next = self.w3_fixed.val()
            | (bit_cast::<64, 2>(self.cur_meta.q.val().get_bits::<2>(52)) << 16)
            | (bit_cast::<64, 4>(self.cur_meta.q.val().get_bits::<4>(48)) << 24)
            | (bit_cast::<64, 1>(self.cur_meta.q.val().get_bits::<1>(54)) << 33)
            | (bit_cast::<64, 1>(self.cur_meta.q.val().get_bits::<1>(57)) << 35)
            | (bit_cast::<64, 1>(self.cur_meta.q.val().get_bits::<1>(58)) << 36)
            | (bit_cast::<64, 1>(self.cur_meta.q.val().get_bits::<1>(55)) << 37)
            | (bit_cast::<64, 1>(self.cur_meta.q.val().get_bits::<1>(56)) << 38)
            | (bit_cast::<64, 1>(self.cpl_phase.q.val().into()) << 63);

        // Defaults: nothing offered, nothing taken.
        self.sink.ready.next = false;
        self.meta_fifo.source.ready.next = false;
        self.dma_wr.addr.next = self.cw_addr.q.val();
        self.dma_wr.data.next = 0.into();
        self.dma_wr.keep.next = 0xffff.into();
        self.dma_wr.last.next = false;
        self.dma_wr.valid.next = false;
        // While a frame waits in `Check`, its own descriptor; otherwise the next record's.
        if self.state.q.val() == RxState::Check {
            self.rd_slot.next =
                (self.cur_q.q.val() << 5) | bit_cast::<8, 16>(self.queues.m_cons.val() & 31);
        } else {
            self.rd_slot.next =
                (self.head_q.val() << 5) | bit_cast::<8, 16>(self.queues.head_cons.val() & 31);
        }
        self.desc_addr.read_address.next = self.rd_slot.val();
        self.desc_len.read_address.next = self.rd_slot.val();
        self.urgent.next = false;
        self.start.next = false;
        self.bump_cons.next = false;
        self.bump_cqp.next = false;

        match self.state.q.val() {
            RxState::Idle => {
                self.start.next = true;
            }
            RxState::Check => {
                if !(self.queues.m_hit.val()
                    & self.queues.m_enable.val()
                    & !self.queues.m_fault.val())
                    | (self.queues.m_prod.val() == self.queues.m_cons.val())
                {
                    self.no_buffer.d.next = self.no_buffer.q.val() + 1;
                    self.state.d.next = RxState::Drop;
                } else if self.queues.m_fetched.val() == self.queues.m_cons.val() {
                    // Posted but not cached yet: the fetcher serves this queue next.
                    self.urgent.next = true;
                    self.waited.d.next = true;
                } else if self.waited.q.val() {
                    // The descriptor just landed; the RAM read of this cycle sees it.
                    self.waited.d.next = false;
                } else if self.m_frame_len.val() > self.desc_len.read_data.val() {
                    self.too_long.d.next = self.too_long.q.val() + 1;
                    self.state.d.next = RxState::Drop;
                } else {
                    self.buf_addr.d.next = self.desc_addr.read_data.val();
                    self.cpl_addr.d.next = self.queues.m_cq_base.val()
                        + (bit_cast::<64, 16>(
                            self.queues.m_cqp.val()
                                & ((self.one16.val() << self.queues.m_cq_log2.val()) - 1),
                        ) << 5);
                    self.cpl_index.d.next = self.queues.m_cons.val()
                        & ((self.one16.val() << self.queues.m_rx_log2.val()) - 1);
                    self.cpl_phase.d.next =
                        !((self.queues.m_cqp.val() >> self.queues.m_cq_log2.val()) & 1).any();
                    self.state.d.next = RxState::Data;
                }
            }
            RxState::Data => {
                // The port is the completion writer's until the previous record is out.
                // Two frame words make a write word: the first is held (and taken even when
                // the port is busy), the second goes out with it; a last word on its own goes
                // out as a half word.
                if !self.cw_busy.q.val() {
                    self.dma_wr.addr.next = self.buf_addr.q.val();
                    self.dma_wr.last.next = self.sink.last.val();
                    if self.hold.q.val() {
                        self.dma_wr.data.next = bit_cast::<128, 64>(self.lo.q.val())
                            | (bit_cast::<128, 64>(self.sink.data.val()) << 64);
                        self.dma_wr.keep.next =
                            (bit_cast::<16, 8>(self.sink.keep.val()) << 8) | 0xff;
                        self.dma_wr.valid.next = self.sink.valid.val();
                        self.sink.ready.next = self.dma_wr.ready.val();
                        if self.sink.valid.val() & self.dma_wr.ready.val() {
                            self.hold.d.next = false;
                        }
                    } else {
                        self.dma_wr.data.next = bit_cast::<128, 64>(self.sink.data.val());
                        self.dma_wr.keep.next = bit_cast::<16, 8>(self.sink.keep.val());
                        self.dma_wr.valid.next = self.sink.valid.val() & self.sink.last.val();
                        self.sink.ready.next = self.dma_wr.ready.val() | !self.sink.last.val();
                        if self.sink.valid.val() & !self.sink.last.val() {
                            self.lo.d.next = self.sink.data.val();
                            self.hold.d.next = true;
                        }
                    }
                    if self.sink.valid.val() & self.dma_wr.ready.val() & self.sink.last.val() {
                        self.bump_cons.next = true;
                        self.packets.d.next = self.packets.q.val() + 1;
                        self.bytes.d.next =
                            self.bytes.q.val() + bit_cast::<64, 16>(self.m_frame_len.val());
                        if (self.cur_meta.q.val().get_bits::<2>(48) == 2)
                            | (self.cur_meta.q.val().get_bits::<2>(50) == 2)
                        {
                            self.csum_errors.d.next = self.csum_errors.q.val() + 1;
                        }
                        self.cw_busy.d.next = true;
                        self.cw_second.d.next = false;
                        self.cw_q.d.next = self.cur_q.q.val();
                        self.cw_addr.d.next = self.cpl_addr.q.val();
                        self.cw0.d.next = self.w0.val();
                        self.cw1.d.next = self.w1.val();
                        self.cw3.d.next = self.w3.val();
                        self.state.d.next = RxState::Idle;
                    }
                }
            }
            RxState::Drop => {
                self.sink.ready.next = true;
                if self.sink.valid.val() & self.sink.last.val() {
                    // No index moved: the next record can be taken at once.
                    self.start.next = true;
                    self.state.d.next = RxState::Idle;
                }
            }
            _ => {
                self.state.d.next = RxState::Idle;
            }
        }
        // The completion writer: two write words, 64-bit words 0, 1 of the latched record,
        // then the timestamp and word 3.
        if self.cw_busy.q.val() {
            self.dma_wr.valid.next = true;
            if self.cw_second.q.val() {
                self.dma_wr.data.next = bit_cast::<128, 64>(self.cycles.q.val())
                    | (bit_cast::<128, 64>(self.cw3.q.val()) << 64);
                self.dma_wr.last.next = true;
            } else {
                self.dma_wr.data.next = bit_cast::<128, 64>(self.cw0.q.val())
                    | (bit_cast::<128, 64>(self.cw1.q.val()) << 64);
            }
            if self.dma_wr.ready.val() {
                self.cw_second.d.next = true;
                if self.cw_second.q.val() {
                    self.cw_busy.d.next = false;
                    self.bump_cqp.next = true;
                }
            }
        }
        // Take the next record (the RAM read of its queue's descriptor is under way).
        if self.start.val() & self.meta_fifo.source.valid.val() {
            self.meta_fifo.source.ready.next = true;
            self.cur_meta.d.next = self.head.val();
            self.cur_q.d.next = self.head_q.val();
            self.state.d.next = RxState::Check;
        }

        // Descriptor fetcher: the queue a frame waits for, else the one under the
        // round-robin pointer.
        if self.urgent.val() {
            self.scan_q.next = self.cur_q.q.val();
        } else {
            self.scan_q.next = self.rr.q.val();
        }
        self.queues.scan_q.next = self.scan_q.val();
        self.s_mask.next = (self.one16.val() << self.queues.s_log2.val()) - 1;
        self.s_pos.next = self.queues.s_asked.val() & self.s_mask.val();
        self.s_free.next =
            self.cache_size.val() - (self.queues.s_asked.val() - self.queues.s_cons.val());
        self.s_posted.next = self.queues.s_prod.val() - self.queues.s_asked.val();
        self.s_to_end.next = (self.s_mask.val() - self.s_pos.val()) + 1;
        if self.s_free.val() < self.s_posted.val() {
            self.s_min1.next = self.s_free.val();
        } else {
            self.s_min1.next = self.s_posted.val();
        }
        if self.s_to_end.val() < self.s_min1.val() {
            self.s_count.next = self.s_to_end.val();
        } else {
            self.s_count.next = self.s_min1.val();
        }
        self.dma_rd.req_addr.next = self.f_addr.q.val();
        self.dma_rd.req_len.next = self.f_len.q.val();
        self.dma_rd.req_tag.next = self.f_q.q.val();
        self.dma_rd.req_valid.next = false;
        self.inflight.sink.data.next = bit_cast::<64, 8>(self.f_q.q.val())
            | (bit_cast::<64, 2>(self.f_epoch.q.val()) << 8)
            | (bit_cast::<64, 16>(self.f_idx.q.val()) << 16)
            | (bit_cast::<64, 16>(self.f_count.q.val()) << 32);
        self.inflight.sink.keep.next = 0.into();
        self.inflight.sink.last.next = true;
        self.inflight.sink.user.next = false;
        self.inflight.sink.valid.next = false;
        self.bump_asked.next = false;
        match self.fstate.q.val() {
            FetchState::Scan => {
                if self.queues.s_enable.val()
                    & !self.queues.s_fault.val()
                    & self.s_count.val().any()
                    & ((self.s_count.val() >= self.fetch_min.val())
                        | (self.queues.s_asked.val() == self.queues.s_cons.val()))
                {
                    self.f_q.d.next = self.scan_q.val();
                    self.f_addr.d.next =
                        self.queues.s_base.val() + (bit_cast::<64, 16>(self.s_pos.val()) << 4);
                    self.f_len.d.next = self.s_count.val() << 4;
                    self.f_count.d.next = self.s_count.val();
                    self.f_idx.d.next = self.queues.s_asked.val();
                    self.f_epoch.d.next = self.queues.s_epoch.val();
                    self.fstate.d.next = FetchState::Request;
                }
                if self.rr.q.val() == self.last_q.val() {
                    self.rr.d.next = 0.into();
                } else {
                    self.rr.d.next = self.rr.q.val() + 1;
                }
            }
            FetchState::Request => {
                // (`full`, not `sink.ready`: the request must not follow this cycle's
                // response inputs.)
                if !self.inflight.full.val() {
                    self.dma_rd.req_valid.next = true;
                    if self.dma_rd.req_ready.val() {
                        self.inflight.sink.valid.next = true;
                        self.bump_asked.next = true;
                        self.fstate.d.next = FetchState::Scan;
                    }
                }
            }
            _ => {
                self.fstate.d.next = FetchState::Scan;
            }
        }

        // Responses, in request order: the oldest read in flight. A read whose queue was
        // disabled since it was issued (another epoch) or faulted is taken and ignored.
        self.h_q.next = self.inflight.source.data.val().get_bits::<8>(0);
        self.h_idx.next = self.inflight.source.data.val().get_bits::<16>(16);
        self.h_count.next = self.inflight.source.data.val().get_bits::<16>(32);
        // (Only a response word reads `h_live`.)
        self.queues.h_q.next = self.h_q.val();
        self.queues.h_epoch.next = self.inflight.source.data.val().get_bits::<2>(8);
        self.queues.h_idx.next = self.h_idx.val();
        self.queues.h_count.next = self.h_count.val();
        self.dma_rd.rsp_ready.next = self.inflight.source.valid.val();
        self.inflight.source.ready.next = false;
        // One 16-byte descriptor per 128-bit response word.
        self.wr_slot.next = self.h_idx.val() + self.r_word.q.val();
        self.desc_addr.write_address.next =
            (self.h_q.val() << 5) | bit_cast::<8, 16>(self.wr_slot.val() & 31);
        self.desc_len.write_address.next =
            (self.h_q.val() << 5) | bit_cast::<8, 16>(self.wr_slot.val() & 31);
        self.desc_addr.write_data.next = self.dma_rd.rsp_data.val().get_bits::<64>(0);
        self.desc_len.write_data.next = self.dma_rd.rsp_data.val().get_bits::<16>(64);
        if self.dma_rd.rsp_data.val().get_bits::<16>(80).any() {
            self.desc_len.write_data.next = 0xffff.into();
        }
        self.desc_addr.write_enable.next = false;
        self.desc_len.write_enable.next = false;
        self.fetch_done.next = false;
        self.fetch_fail.next = false;
        if self.inflight.source.valid.val() & self.dma_rd.rsp_valid.val() {
            self.r_word.d.next = self.r_word.q.val() + 1;
            if self.dma_rd.rsp_error.val() {
                self.r_err.d.next = true;
            } else if self.queues.h_live.val() {
                self.desc_addr.write_enable.next = true;
                self.desc_len.write_enable.next = true;
            }
            if self.dma_rd.rsp_last.val() {
                self.inflight.source.ready.next = true;
                self.r_word.d.next = 0.into();
                self.r_err.d.next = false;
                if self.r_err.q.val() | self.dma_rd.rsp_error.val() {
                    self.rd_errors.d.next = self.rd_errors.q.val() + 1;
                    self.fetch_fail.next = self.queues.h_live.val();
                } else {
                    self.fetch_done.next = self.queues.h_live.val();
                }
            }
        }

        // Per-queue indices.
        self.queues.bump_cons.next = self.bump_cons.val();
        self.queues.bump_cqp.next = self.bump_cqp.val();
        self.queues.cw_q.next = self.cw_q.q.val();
        self.queues.bump_asked.next = self.bump_asked.val();
        self.queues.f_q.next = self.f_q.q.val();
        self.queues.f_epoch.next = self.f_epoch.q.val();
        self.queues.f_count.next = self.f_count.q.val();
        self.queues.fetch_done.next = self.fetch_done.val();
        self.queues.fetch_fail.next = self.fetch_fail.val();
        self.cq_event.next = self.queues.cq_event.val();
        self.cq_event_q.next = bit_cast::<4, 8>(self.cw_q.q.val());

        self.rx_packets.next = self.packets.q.val();
        self.rx_bytes.next = self.bytes.q.val();
        self.rx_no_buffer.next = self.no_buffer.q.val();
        self.rx_too_long.next = self.too_long.q.val();
        self.rx_csum_errors.next = self.csum_errors.q.val();
        self.dma_rd_errors.next = self.rd_errors.q.val();
        self.meta_lost.next = self.lost.q.val();
        self.cycle_count.next = self.cycles.q.val();
    }
}

/// The inputs that are not per queue.
const FIXED_INPUTS: &[&str] = &[
    "clock",
    "sink$data",
    "sink$keep",
    "sink$last",
    "sink$user",
    "sink$valid",
    "meta_valid",
    "meta_frame_len",
    "meta_vlan",
    "meta_vlan_tci",
    "meta_is_ipv4",
    "meta_is_fragment",
    "meta_is_tcp",
    "meta_is_udp",
    "meta_ip_csum",
    "meta_l4_csum",
    "meta_csum_complete",
    "meta_hash",
    "meta_hash_type",
    "meta_rx_queue",
    "dma_rd$req_ready",
    "dma_rd$rsp_data",
    "dma_rd$rsp_keep",
    "dma_rd$rsp_tag",
    "dma_rd$rsp_last",
    "dma_rd$rsp_error",
    "dma_rd$rsp_valid",
    "dma_wr$ready",
];

/// The per-queue inputs, `name$i`.
const QUEUE_INPUTS: &[&str] = &[
    "rxq_base",
    "rxq_size_log2",
    "rxq_enable",
    "rxq_prod",
    "cq_base",
    "cq_size_log2",
];

impl SetInputs for RxEngine {
    fn input_names(&self) -> &'static [&'static str] {
        let mut names: Vec<String> = FIXED_INPUTS.iter().map(|s| s.to_string()).collect();
        for q in QUEUE_INPUTS {
            names.extend((0..self.queues()).map(|i| format!("{q}${i}")));
        }
        crate::reg_bus::intern(names)
    }

    fn set_input(&mut self, name: &str, words: &[u64]) -> Result<(), TbError> {
        let w = words;
        match name {
            "clock" => self.clock.next = FromWords::from_words(w),
            "sink$data" => self.sink.data.next = FromWords::from_words(w),
            "sink$keep" => self.sink.keep.next = FromWords::from_words(w),
            "sink$last" => self.sink.last.next = FromWords::from_words(w),
            "sink$user" => self.sink.user.next = FromWords::from_words(w),
            "sink$valid" => self.sink.valid.next = FromWords::from_words(w),
            "meta_valid" => self.meta_valid.next = FromWords::from_words(w),
            "meta_frame_len" => self.meta_frame_len.next = FromWords::from_words(w),
            "meta_vlan" => self.meta_vlan.next = FromWords::from_words(w),
            "meta_vlan_tci" => self.meta_vlan_tci.next = FromWords::from_words(w),
            "meta_is_ipv4" => self.meta_is_ipv4.next = FromWords::from_words(w),
            "meta_is_fragment" => self.meta_is_fragment.next = FromWords::from_words(w),
            "meta_is_tcp" => self.meta_is_tcp.next = FromWords::from_words(w),
            "meta_is_udp" => self.meta_is_udp.next = FromWords::from_words(w),
            "meta_ip_csum" => self.meta_ip_csum.next = FromWords::from_words(w),
            "meta_l4_csum" => self.meta_l4_csum.next = FromWords::from_words(w),
            "meta_csum_complete" => self.meta_csum_complete.next = FromWords::from_words(w),
            "meta_hash" => self.meta_hash.next = FromWords::from_words(w),
            "meta_hash_type" => self.meta_hash_type.next = FromWords::from_words(w),
            "meta_rx_queue" => self.meta_rx_queue.next = FromWords::from_words(w),
            "dma_rd$req_ready" => self.dma_rd.req_ready.next = FromWords::from_words(w),
            "dma_rd$rsp_data" => self.dma_rd.rsp_data.next = FromWords::from_words(w),
            "dma_rd$rsp_keep" => self.dma_rd.rsp_keep.next = FromWords::from_words(w),
            "dma_rd$rsp_tag" => self.dma_rd.rsp_tag.next = FromWords::from_words(w),
            "dma_rd$rsp_last" => self.dma_rd.rsp_last.next = FromWords::from_words(w),
            "dma_rd$rsp_error" => self.dma_rd.rsp_error.next = FromWords::from_words(w),
            "dma_rd$rsp_valid" => self.dma_rd.rsp_valid.next = FromWords::from_words(w),
            "dma_wr$ready" => self.dma_wr.ready.next = FromWords::from_words(w),
            _ => {
                let bad = || TbError::NoSuchInput(name.to_string());
                let (port, i) = crate::testbench::indexed_input(name, self.queues())?;
                match port {
                    "rxq_base" => self.rxq_base[i].next = FromWords::from_words(w),
                    "rxq_size_log2" => self.rxq_size_log2[i].next = FromWords::from_words(w),
                    "rxq_enable" => self.rxq_enable[i].next = FromWords::from_words(w),
                    "rxq_prod" => self.rxq_prod[i].next = FromWords::from_words(w),
                    "cq_base" => self.cq_base[i].next = FromWords::from_words(w),
                    "cq_size_log2" => self.cq_size_log2[i].next = FromWords::from_words(w),
                    _ => return Err(bad()),
                }
            }
        }
        Ok(())
    }
}

/// Queues of the catalogued engine.
pub const CATALOG_QUEUES: usize = 8;

/// Verilog of the 8-queue engine as `oxnic_rx_engine`.
pub fn verilog() -> Result<String, crate::verilog::GenError> {
    let mut uut = RxEngine::new(CATALOG_QUEUES);
    uut.connect_all();
    crate::verilog::generate_named(&uut, "oxnic_rx_engine")
}

/// The `meta_*` inputs (strobe included) for a frame classified as `m` and hashed as `r`.
pub fn meta_inputs(
    m: &crate::rx_model::RxMeta,
    r: &crate::rx_model::Rss,
) -> Vec<(&'static str, Vec<u64>)> {
    vec![
        ("meta_valid", vec![1]),
        ("meta_frame_len", vec![u64::from(m.frame_len)]),
        ("meta_vlan", vec![u64::from(m.vlan)]),
        ("meta_vlan_tci", vec![u64::from(m.vlan_tci)]),
        ("meta_is_ipv4", vec![u64::from(m.is_ipv4)]),
        ("meta_is_fragment", vec![u64::from(m.is_fragment)]),
        ("meta_is_tcp", vec![u64::from(m.is_tcp)]),
        ("meta_is_udp", vec![u64::from(m.is_udp)]),
        ("meta_ip_csum", vec![m.ip_csum as u64]),
        ("meta_l4_csum", vec![m.l4_csum as u64]),
        ("meta_csum_complete", vec![u64::from(m.csum_complete)]),
        ("meta_hash", vec![u64::from(r.hash)]),
        ("meta_hash_type", vec![r.hash_type as u64]),
        ("meta_rx_queue", vec![u64::from(r.queue)]),
    ]
}

/// The completion the engine writes for a frame classified as `m` and hashed as `r`, delivered
/// into ring entry `index` with phase `phase` (the timestamp is the caller's to check).
pub fn expected_cpl(
    m: &crate::rx_model::RxMeta,
    r: &crate::rx_model::Rss,
    index: u16,
    phase: bool,
    timestamp: u64,
) -> oxnic_abi::desc::Cpl {
    use oxnic_abi::desc::cpl_flags;
    let flag = |b: bool, f: u16| if b { f } else { 0 };
    oxnic_abi::desc::Cpl {
        len: u32::from(m.frame_len),
        index,
        queue: u16::from(r.queue),
        rss_hash: r.hash,
        hash_type: r.hash_type,
        ip_csum: m.ip_csum,
        l4_csum: m.l4_csum,
        csum_complete: Some(m.csum_complete),
        vlan_tci: m.vlan.then_some(m.vlan_tci),
        timestamp,
        gro_segs: 1,
        flags: flag(m.vlan, cpl_flags::VLAN)
            | flag(m.is_ipv4, cpl_flags::IPV4)
            | flag(m.is_tcp, cpl_flags::TCP)
            | flag(m.is_udp, cpl_flags::UDP)
            | flag(m.is_fragment, cpl_flags::FRAGMENT),
        phase,
    }
}

/// An open-loop random stimulus for the 8-queue engine, for the differential test: queue
/// configurations (one queue disabled, queues re-enabled now and then, doorbells moving), frames
/// with gaps and one metadata strobe each (queues 0..10, so some do not exist), descriptor read
/// responses of random data, length, `last` and occasional errors, and backpressure on both DMA
/// ports. Inputs do not wait for the engine, so both simulators see the same inputs whatever
/// they answer.
pub fn random_stimulus(seed: u64, cycles: usize) -> Stimulus {
    use crate::stream::{bytes_to_port, frame_to_words, keep_mask, Backpressure, Word};
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let q = CATALOG_QUEUES;
    let phase = 80u64;
    let mut prod = vec![0u16; q];
    let mut pending: std::collections::VecDeque<Word> = Default::default();
    let mut out: Stimulus = Vec::with_capacity(cycles);
    let names = |p: &str| crate::reg_bus::intern((0..q).map(|i| format!("{p}${i}")).collect());
    for c in 0..cycles as u64 {
        let mut set: Vec<(&'static str, Vec<u64>)> = vec![];
        if c == 0 {
            for (i, n) in names("rxq_base").iter().enumerate() {
                set.push((*n, vec![0x1_0000_0000 + (i as u64) * 0x1000]));
            }
            for (i, n) in names("cq_base").iter().enumerate() {
                set.push((*n, vec![0x2_0000_0000 + (i as u64) * 0x2000]));
            }
            for &n in names("rxq_size_log2") {
                set.push((n, vec![rng.gen_range(1..=4)]));
            }
            for &n in names("cq_size_log2") {
                set.push((n, vec![rng.gen_range(1..=5)]));
            }
            for (i, n) in names("rxq_enable").iter().enumerate() {
                set.push((*n, vec![u64::from(i != 5)]));
            }
        }
        // A queue is reset (disabled for a cycle, indices to zero) now and then.
        if c % 1500 == 1499 {
            let i = rng.gen_range(0..q);
            prod[i] = 0;
            out.push(vec![
                (names("rxq_enable")[i], vec![0]),
                (names("rxq_prod")[i], vec![0]),
            ]);
            set.push((names("rxq_enable")[i], vec![u64::from(i != 5)]));
        }
        if rng.gen_ratio(1, 12) {
            let i = rng.gen_range(0..q);
            prod[i] = prod[i].wrapping_add(rng.gen_range(1..=6));
            set.push((names("rxq_prod")[i], vec![u64::from(prod[i])]));
        }
        let pattern = Backpressure::ALL[((c / phase) as usize) % Backpressure::ALL.len()];
        set.push(("dma_wr$ready", vec![u64::from(pattern.ready(c, &mut rng))]));
        set.push(("dma_rd$req_ready", vec![u64::from(rng.gen_ratio(1, 3))]));
        let rsp = rng.gen_ratio(2, 3);
        set.push(("dma_rd$rsp_valid", vec![u64::from(rsp)]));
        // A descriptor a word: address, then the length (often one a frame fits in).
        let small_len = rng.gen_ratio(1, 4);
        let len: u64 = rng.gen();
        set.push((
            "dma_rd$rsp_data",
            vec![rng.gen(), if small_len { len & 0x7ff } else { len }],
        ));
        set.push(("dma_rd$rsp_keep", vec![0xffff]));
        set.push(("dma_rd$rsp_tag", vec![rng.gen_range(0..8)]));
        set.push(("dma_rd$rsp_last", vec![u64::from(rng.gen_ratio(1, 6))]));
        set.push(("dma_rd$rsp_error", vec![u64::from(rng.gen_ratio(1, 200))]));
        // Frames: the sender moves on after every offered word, taken or not.
        set.push(("meta_valid", vec![0]));
        if rng.gen_ratio(1, 5) {
            set.push(("sink$valid", vec![0]));
            set.push(("sink$data", vec![rng.gen()]));
        } else {
            if pending.is_empty() {
                let len = crate::stream_stimulus::random_len(&mut rng, 300);
                let frame: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
                pending.extend(frame_to_words(&frame, 8, false));
                set.push(("meta_valid", vec![1]));
                set.push(("meta_frame_len", vec![len as u64]));
                set.push(("meta_vlan", vec![rng.gen_range(0..2)]));
                set.push(("meta_vlan_tci", vec![rng.gen_range(0..0x10000)]));
                set.push(("meta_is_ipv4", vec![rng.gen_range(0..2)]));
                set.push(("meta_is_fragment", vec![rng.gen_range(0..2)]));
                set.push(("meta_is_tcp", vec![rng.gen_range(0..2)]));
                set.push(("meta_is_udp", vec![rng.gen_range(0..2)]));
                set.push(("meta_ip_csum", vec![rng.gen_range(0..3)]));
                set.push(("meta_l4_csum", vec![rng.gen_range(0..3)]));
                set.push(("meta_csum_complete", vec![rng.gen_range(0..0x10000)]));
                set.push(("meta_hash", vec![rng.gen_range(0..1u64 << 32)]));
                set.push(("meta_hash_type", vec![rng.gen_range(0..4)]));
                set.push(("meta_rx_queue", vec![rng.gen_range(0..10)]));
            }
            let w = pending.pop_front().unwrap_or_default();
            set.push(("sink$valid", vec![1]));
            set.push(("sink$data", bytes_to_port(&w.bytes)));
            set.push(("sink$keep", vec![keep_mask(w.len) as u64]));
            set.push(("sink$last", vec![u64::from(w.last)]));
            set.push(("sink$user", vec![0]));
        }
        out.push(set);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rx_model::{classify, rss, Rss, RssConfig, RxMeta};
    use crate::stream::{frame_to_words, Sender};
    use crate::testbench::Bench;
    use oxnic_abi::desc::{Cpl, CplView, RxDesc};
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;
    use std::collections::VecDeque;

    const QUEUES: usize = 8;
    const RING_LOG2: u32 = 4;
    const RING: u16 = 1 << RING_LOG2;
    const BUF: u64 = 2048;
    const MEM: usize = 0x60000;

    fn ring_base(q: usize) -> u64 {
        0x1000 + q as u64 * 0x100
    }
    fn cq_base(q: usize) -> u64 {
        0x2000 + q as u64 * 0x200
    }
    fn buf_addr(q: usize, index: u16) -> u64 {
        0x10000 + (q as u64 * u64::from(RING) + u64::from(index % RING)) * BUF
    }

    /// Host memory and the two DMA ports, as the test plays them: reads answered after
    /// `latency` cycles one word per cycle (in request order), writes taken when `wr_ready`
    /// says so.
    struct Host {
        mem: Vec<u8>,
        latency: u64,
        /// Chance in percent that the write port is ready on a cycle.
        wr_ready_pct: u8,
        /// Reads of this address range come back with an error.
        fail: Option<std::ops::Range<u64>>,
        responses: VecDeque<(u64, [u64; 2], bool, bool, u8)>, // due, data, last, error, tag
        write_at: Option<u64>,
        rng: ChaCha8Rng,
        reads: u64,
    }

    impl Host {
        fn new(seed: u64, latency: u64, wr_ready_pct: u8) -> Self {
            Host {
                mem: vec![0; MEM],
                latency,
                wr_ready_pct,
                fail: None,
                responses: VecDeque::new(),
                write_at: None,
                rng: ChaCha8Rng::seed_from_u64(seed),
                reads: 0,
            }
        }

        /// Drives the DMA inputs for this cycle.
        fn drive(&mut self, b: &mut Bench<RxEngine>) {
            let now = b.cycle();
            b.uut.dma_rd.req_ready.next = true;
            match self.responses.front() {
                Some(&(due, data, last, error, tag)) if due <= now => {
                    b.uut.dma_rd.rsp_valid.next = true;
                    b.uut.dma_rd.rsp_data.next = FromWords::from_words(&data);
                    b.uut.dma_rd.rsp_last.next = last;
                    b.uut.dma_rd.rsp_error.next = error;
                    b.uut.dma_rd.rsp_tag.next = u64::from(tag).into();
                    b.uut.dma_rd.rsp_keep.next = 0xffff.into();
                }
                _ => b.uut.dma_rd.rsp_valid.next = false,
            }
            b.uut.dma_wr.ready.next = self.rng.gen_range(0..100u8) < self.wr_ready_pct;
        }

        /// After settling: the handshakes of this cycle.
        fn observe(&mut self, b: &Bench<RxEngine>) {
            let u = &b.uut;
            if u.dma_rd.req_valid.val() && u.dma_rd.req_ready.val() {
                self.reads += 1;
                let addr = u.dma_rd.req_addr.val().to_u64();
                let len = u.dma_rd.req_len.val().to_u64() as usize;
                let tag = u.dma_rd.req_tag.val().to_u64() as u8;
                let due = b.cycle() + self.latency;
                if self.fail.as_ref().is_some_and(|r| r.contains(&addr)) {
                    self.responses.push_back((due, [0; 2], true, true, tag));
                } else {
                    let bytes = &self.mem[addr as usize..addr as usize + len];
                    let n = len.div_ceil(16);
                    for (i, chunk) in bytes.chunks(16).enumerate() {
                        self.responses.push_back((
                            due + i as u64,
                            crate::stream::bytes_to_words(chunk),
                            i + 1 == n,
                            false,
                            tag,
                        ));
                    }
                }
            }
            if u.dma_rd.rsp_valid.val() && u.dma_rd.rsp_ready.val() {
                self.responses.pop_front();
            }
            if u.dma_wr.valid.val() && u.dma_wr.ready.val() {
                let at = *self.write_at.get_or_insert(u.dma_wr.addr.val().to_u64());
                let data = u.dma_wr.data.val();
                let data = crate::stream::port_to_bytes(
                    &[
                        data.get_bits::<64>(0).to_u64(),
                        data.get_bits::<64>(64).to_u64(),
                    ],
                    16,
                );
                let keep = u.dma_wr.keep.val().to_u64();
                let n = (0..16).filter(|i| keep >> i & 1 != 0).count();
                assert_eq!(keep, (1 << n) - 1, "keep contiguous from byte 0");
                assert!(
                    n == 16 || u.dma_wr.last.val(),
                    "only the last word is partial"
                );
                self.mem[at as usize..at as usize + n].copy_from_slice(&data[..n]);
                self.write_at = if u.dma_wr.last.val() {
                    None
                } else {
                    Some(at + 16)
                };
            }
        }
    }

    /// A frame with what the engine should report for it.
    #[derive(Clone)]
    struct Sent {
        bytes: Vec<u8>,
        meta: RxMeta,
        rss: Rss,
    }

    /// The driver side of one queue.
    #[derive(Default, Clone)]
    struct Driver {
        prod: u16,
        cq_cons: u16,
        expect: VecDeque<Sent>,
        delivered: u64,
        last_timestamp: u64,
    }

    struct Rig {
        b: Bench<RxEngine>,
        host: Host,
        drivers: Vec<Driver>,
        sender: Sender,
        metas: VecDeque<Sent>,
        metas_sent: usize,
        frames_taken: usize,
        /// Frames the metadata may run ahead of the words.
        meta_lead: usize,
        /// Buffer length posted: longer frames are not expected in a buffer.
        max_len: usize,
        rng: ChaCha8Rng,
    }

    impl Rig {
        /// An engine with every queue enabled, `posted[q]` buffers of `buf_len` bytes posted.
        fn new(
            seed: u64,
            latency: u64,
            wr_ready_pct: u8,
            gap: u8,
            posted: &[u16],
            buf_len: u32,
        ) -> Self {
            let mut b = Bench::new(RxEngine::new(QUEUES)).unwrap();
            let mut host = Host::new(seed, latency, wr_ready_pct);
            let mut drivers = vec![Driver::default(); QUEUES];
            for q in 0..QUEUES {
                b.uut.rxq_base[q].next = ring_base(q).into();
                b.uut.rxq_size_log2[q].next = (RING_LOG2 as u64).into();
                b.uut.cq_base[q].next = cq_base(q).into();
                b.uut.cq_size_log2[q].next = (RING_LOG2 as u64).into();
                b.uut.rxq_enable[q].next = true;
                for _ in 0..posted[q] {
                    let d = drivers[q].prod;
                    post(&mut host.mem, q, d, buf_len);
                    drivers[q].prod += 1;
                }
                b.uut.rxq_prod[q].next = u64::from(drivers[q].prod).into();
            }
            b.settle().unwrap();
            Rig {
                b,
                host,
                drivers,
                sender: Sender::new(gap),
                metas: VecDeque::new(),
                metas_sent: 0,
                frames_taken: 0,
                meta_lead: 3,
                max_len: buf_len as usize,
                rng: ChaCha8Rng::seed_from_u64(seed ^ 0x5a5a),
            }
        }

        fn push(&mut self, bytes: Vec<u8>, cfg: &RssConfig) {
            let meta = classify(&bytes);
            let r = rss(&meta, cfg);
            self.sender.push_frame(frame_to_words(&bytes, 8, false));
            self.metas.push_back(Sent {
                bytes,
                meta,
                rss: r,
            });
        }

        /// One cycle; `repost` re-posts every completed buffer.
        fn cycle(&mut self, repost: bool) {
            let (offered, set) = self.sender.drive(&mut self.rng);
            let offered_last = offered.map(|w| w.last);
            for (n, v) in set {
                self.b.set(n, &v).unwrap();
            }
            // Metadata runs at most a few frames ahead of (or behind) the words.
            let strobe = self.metas_sent < self.metas.len()
                && self.metas_sent < self.frames_taken + self.meta_lead
                && self.rng.gen_ratio(1, 2);
            if strobe {
                let s = self.metas[self.metas_sent].clone();
                for (n, v) in meta_inputs(&s.meta, &s.rss) {
                    self.b.set(n, &v).unwrap();
                }
                self.metas_sent += 1;
                let q = usize::from(s.rss.queue);
                if q < QUEUES && s.bytes.len() <= self.max_len {
                    self.drivers[q].expect.push_back(s);
                }
            } else {
                self.b.set("meta_valid", &[0]).unwrap();
            }
            self.host.drive(&mut self.b);
            self.b.settle().unwrap();
            if offered_last.is_some() && self.b.uut.sink.ready.val() {
                self.sender.taken();
                if offered_last == Some(true) {
                    self.frames_taken += 1;
                }
            }
            self.host.observe(&self.b);
            self.b.tick().unwrap();
            self.poll(repost);
        }

        /// The drivers read their completion rings.
        fn poll(&mut self, repost: bool) {
            for q in 0..QUEUES {
                loop {
                    let d = &mut self.drivers[q];
                    let at = (cq_base(q) + u64::from(d.cq_cons % RING) * 32) as usize;
                    let phase = (d.cq_cons >> RING_LOG2) & 1 == 0;
                    let view = CplView::new_checked(&self.host.mem[at..at + 32]).unwrap();
                    if view.phase() != phase {
                        break;
                    }
                    let cpl = Cpl::parse(&view).unwrap();
                    let sent = d.expect.pop_front().expect("a completion for a frame sent");
                    let index = d.cq_cons % RING;
                    let want = expected_cpl(&sent.meta, &sent.rss, index, phase, cpl.timestamp);
                    assert_eq!(cpl, want, "queue {q} completion {}", d.cq_cons);
                    assert!(cpl.timestamp >= d.last_timestamp && cpl.timestamp < self.b.cycle());
                    d.last_timestamp = cpl.timestamp;
                    let buf = buf_addr(q, index) as usize;
                    assert_eq!(
                        &self.host.mem[buf..buf + sent.bytes.len()],
                        &sent.bytes[..],
                        "queue {q} frame {}",
                        d.cq_cons
                    );
                    d.cq_cons = d.cq_cons.wrapping_add(1);
                    d.delivered += 1;
                    if repost {
                        let p = d.prod;
                        d.prod = d.prod.wrapping_add(1);
                        post(&mut self.host.mem, q, p, self.max_len as u32);
                        self.b.uut.rxq_prod[q].next = u64::from(self.drivers[q].prod).into();
                    }
                }
            }
        }

        /// Cycles (re-posting completed buffers) until every frame is through and at least
        /// `min` cycles have passed; `max` cycles at most.
        fn drain(&mut self, min: usize, max: usize) {
            let mut c = 0;
            while !self.idle() || c < min {
                self.cycle(true);
                c += 1;
                assert!(c < max, "stuck");
            }
        }

        fn idle(&self) -> bool {
            self.sender.backlog() == 0
                && self.metas_sent == self.metas.len()
                && self.b.uut.state.q.val() == RxState::Idle
                && !self.b.uut.cw_busy.q.val()
        }

        fn out(&self, v: &Signal<Out, Bits<64>>) -> u64 {
            v.val().to_u64()
        }
    }

    fn post(mem: &mut [u8], q: usize, index: u16, len: u32) {
        let d = RxDesc {
            addr: buf_addr(q, index),
            len,
        };
        let at = (ring_base(q) + u64::from(index % RING) * 16) as usize;
        mem[at..at + 16].copy_from_slice(&d.to_bytes());
    }

    fn config(rng: &mut impl Rng, queues: std::ops::Range<u8>) -> RssConfig {
        let mut key = [0u8; oxnic_abi::features::RSS_KEY_LEN];
        rng.fill(&mut key[..]);
        let mut reta = [0u8; oxnic_abi::features::RETA_SIZE];
        for r in reta.iter_mut() {
            *r = rng.gen_range(queues.clone());
        }
        RssConfig {
            key,
            hash_types: 7,
            enable: true,
            reta,
            default_queue: queues.start,
        }
    }

    #[test]
    fn frames_land_byte_exact_with_completions_and_empty_queue_drops() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        // Queue 3 never has a buffer; the others start with full rings and re-post.
        let mut posted = [RING; QUEUES];
        posted[3] = 0;
        let mut rig = Rig::new(7, 24, 80, 10, &posted, BUF as u32);
        let cfg = config(&mut rng, 0..QUEUES as u8);
        let frames = 500;
        for _ in 0..frames {
            let f = crate::frame_gen::random_frame(&mut rng, 400);
            rig.push(f, &cfg);
        }
        rig.drain(200, 100_000);
        for _ in 0..64 {
            rig.cycle(true);
        }
        let sent: Vec<&Sent> = rig.metas.iter().collect();
        let to_q3 = sent.iter().filter(|s| s.rss.queue == 3).count() as u64;
        let delivered: Vec<&Sent> = sent.iter().copied().filter(|s| s.rss.queue != 3).collect();
        assert!(
            to_q3 > 10 && delivered.len() > 150,
            "{to_q3} {}",
            delivered.len()
        );
        let u = &rig.b.uut;
        assert_eq!(rig.out(&u.rx_no_buffer), to_q3);
        assert_eq!(rig.out(&u.rx_packets), delivered.len() as u64);
        assert_eq!(
            rig.out(&u.rx_bytes),
            delivered.iter().map(|s| s.bytes.len() as u64).sum::<u64>()
        );
        let bad = delivered
            .iter()
            .filter(|s| {
                s.meta.ip_csum == oxnic_abi::desc::CsumStatus::Bad
                    || s.meta.l4_csum == oxnic_abi::desc::CsumStatus::Bad
            })
            .count() as u64;
        assert!(bad > 0);
        assert_eq!(rig.out(&u.rx_csum_errors), bad);
        assert_eq!(rig.out(&u.rx_too_long), 0);
        for q in 0..QUEUES {
            let d = &rig.drivers[q];
            let dropped = if q == 3 { to_q3 as usize } else { 0 };
            assert_eq!(d.expect.len(), dropped, "queue {q}: frames not delivered");
            assert_eq!(u.rxq_cons[q].val().to_u64(), d.delivered, "queue {q}");
            assert_eq!(u.cq_prod[q].val().to_u64(), d.delivered, "queue {q}");
            if q != 3 {
                // Wraps of the 16-entry rings: the phase flipped.
                assert!(d.delivered > u64::from(RING), "queue {q}: {}", d.delivered);
            }
        }
        assert_eq!(rig.drivers[3].delivered, 0);
    }

    /// Runs `frames` frames of `len` bytes back to back, spread by RSS over `queues` queues,
    /// with the host's write port always ready and its reads answered after `latency` cycles;
    /// returns the steady-state cycles per frame (between the completions at 40 % and 80 % of
    /// the run).
    fn cycles_per_frame(len: usize, queues: u8, latency: u64, frames: u16) -> f64 {
        let mut rng = ChaCha8Rng::seed_from_u64(len as u64);
        let mut rig = Rig::new(1, latency, 100, 0, &[RING; QUEUES], BUF as u32);
        let cfg = config(&mut rng, 0..queues);
        for i in 0..frames {
            let mut spec = crate::frame_gen::Ipv4Frame::udp(
                [10, 0, 0, 1],
                [10, 0, 0, 2],
                i,
                80,
                &vec![0x5a; len - 42],
            );
            spec.padding.clear();
            let f = spec.build();
            assert_eq!(f.len(), len);
            rig.push(f, &cfg);
        }
        // Metadata well ahead, so the frames alone set the pace.
        rig.meta_lead = 16;
        let delivered = |rig: &Rig| rig.drivers.iter().map(|d| d.delivered).sum::<u64>();
        let mut done_at = vec![];
        let mut c = 0;
        while delivered(&rig) < u64::from(frames) {
            let before = delivered(&rig);
            rig.cycle(true);
            for _ in before..delivered(&rig) {
                done_at.push(rig.b.cycle());
            }
            c += 1;
            assert!(c < 100_000, "stuck");
        }
        assert_eq!(rig.out(&rig.b.uut.rx_no_buffer), 0);
        let (a, b) = (done_at.len() * 2 / 5, done_at.len() * 4 / 5);
        (done_at[b] - done_at[a]) as f64 / (b - a) as f64
    }

    #[test]
    fn throughput_frame_words_plus_two_cycles() {
        // w frame words + 2 cycles (the next record taken and looked up) while the completion's
        // two write words go out.
        for (len, want) in [(64usize, 10.0), (512, 66.0), (1518, 192.0)] {
            let got = cycles_per_frame(len, 1, 16, 48);
            println!("{len} B: {got} cycles per frame");
            assert_eq!(got, want, "{len} B");
        }
    }

    #[test]
    fn descriptor_reads_overlap_so_small_frames_on_many_queues_never_wait() {
        // 64-byte frames over 8 queues of 16 buffers, re-posted as they complete, with a
        // 200-cycle read latency: a queue uses about 2 buffers per round trip, so one read in
        // flight for all queues (one queue refilled per round trip) left frames waiting for
        // their descriptors; with reads overlapped the port's bound holds.
        let got = cycles_per_frame(64, 8, 200, 400);
        println!("64 B over 8 queues, 200-cycle reads: {got} cycles per frame");
        assert!(got <= 10.05, "{got} cycles per frame");
    }

    #[test]
    fn frames_longer_than_the_buffer_are_dropped_and_counted_buffer_kept() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let mut rig = Rig::new(11, 8, 70, 20, &[RING; QUEUES], 256);
        let cfg = config(&mut rng, 0..2);
        let mut long = 0;
        for i in 0..60 {
            let payload = if i % 3 == 0 { 300 } else { 100 };
            let f = crate::frame_gen::Ipv4Frame::tcp(
                [10, 0, 0, 1],
                [10, 0, 0, 9],
                1000 + i,
                443,
                &vec![i as u8; payload],
            )
            .build();
            if f.len() > 256 {
                long += 1;
            }
            rig.push(f, &cfg);
        }
        rig.drain(100, 50_000);
        let u = &rig.b.uut;
        assert_eq!(rig.out(&u.rx_too_long), long);
        assert_eq!(rig.out(&u.rx_packets), 60 - long);
        assert_eq!(rig.out(&u.rx_no_buffer), 0);
        for q in 0..2 {
            let d = &rig.drivers[q];
            assert!(d.expect.is_empty());
            assert_eq!(u.rxq_cons[q].val().to_u64(), d.delivered);
        }
    }

    #[test]
    fn descriptor_read_error_faults_the_queue_only() {
        let mut rng = ChaCha8Rng::seed_from_u64(13);
        let mut rig = Rig::new(13, 8, 100, 10, &[RING; QUEUES], BUF as u32);
        rig.host.fail = Some(ring_base(1)..ring_base(1) + 0x100);
        let cfg = config(&mut rng, 0..2);
        for _ in 0..80 {
            let f = crate::frame_gen::random_frame(&mut rng, 200);
            rig.push(f, &cfg);
        }
        rig.drain(100, 50_000);
        let u = &rig.b.uut;
        assert!(u.rxq_fault[1].val() && !u.rxq_fault[0].val());
        assert_eq!(
            u.dma_rd_errors.val().to_u64(),
            1,
            "a faulted queue stops fetching"
        );
        let to_q1 = rig.metas.iter().filter(|s| s.rss.queue == 1).count() as u64;
        assert!(to_q1 > 5);
        assert_eq!(rig.out(&u.rx_no_buffer), to_q1);
        assert_eq!(rig.drivers[1].delivered, 0);
        assert_eq!(rig.out(&u.rx_packets), 80 - to_q1);
        assert!(rig.drivers[0].expect.is_empty());
        // Disabling and re-enabling the queue clears the fault.
        rig.b.uut.rxq_enable[1].next = false;
        rig.cycle(false);
        rig.b.uut.rxq_enable[1].next = true;
        rig.cycle(false);
        assert!(!rig.b.uut.rxq_fault[1].val());
    }

    #[test]
    fn a_read_issued_before_a_queue_restart_is_ignored_when_it_returns() {
        // Queue 0's ring first holds descriptors pointing at a scratch area; its fetch is
        // issued, then the driver disables the queue, rewrites the ring and re-enables it while
        // that read is still in flight. The old read's descriptors must not land in the cache:
        // frames go to the buffers of the rewritten ring.
        const SCRATCH: u64 = 0x50000;
        let mut rng = ChaCha8Rng::seed_from_u64(17);
        let mut rig = Rig::new(17, 100, 100, 0, &[RING; QUEUES], BUF as u32);
        for i in 0..RING {
            let d = RxDesc {
                addr: SCRATCH + u64::from(i) * 64,
                len: BUF as u32,
            };
            let at = (ring_base(0) + u64::from(i) * 16) as usize;
            rig.host.mem[at..at + 16].copy_from_slice(&d.to_bytes());
        }
        let q0_in_flight = |rig: &Rig| rig.host.responses.iter().any(|r| r.4 == 0);
        let mut c = 0;
        while !q0_in_flight(&rig) {
            rig.cycle(false);
            c += 1;
            assert!(c < 100, "no descriptor read for queue 0");
        }
        rig.b.uut.rxq_enable[0].next = false;
        rig.cycle(false);
        for i in 0..RING {
            post(&mut rig.host.mem, 0, i, BUF as u32);
        }
        rig.b.uut.rxq_enable[0].next = true;
        rig.cycle(false);
        assert!(q0_in_flight(&rig), "the old read is still in flight");
        let cfg = config(&mut rng, 0..1);
        for _ in 0..12 {
            let f = crate::frame_gen::random_frame(&mut rng, 300);
            rig.push(f, &cfg);
        }
        // `poll` checks every frame byte-exact in its buffer of the rewritten ring.
        rig.drain(100, 20_000);
        assert_eq!(rig.drivers[0].delivered, 12);
        assert!(
            rig.host.mem[SCRATCH as usize..SCRATCH as usize + 64 * RING as usize]
                .iter()
                .all(|&b| b == 0)
        );
        assert_eq!(rig.out(&rig.b.uut.rx_no_buffer), 0);
    }

    #[test]
    fn stated_capacities_are_the_fifos_depths() {
        let e = RxEngine::new(1);
        assert_eq!(e.meta_fifo.depth(), META_DEPTH);
        assert_eq!(e.inflight.depth(), READS_IN_FLIGHT);
    }

    #[test]
    fn synthesizes_and_lints() {
        let v = verilog().unwrap();
        crate::synth::verilator_lint("oxnic_rx_engine", &v).unwrap();
        let r = crate::synth::yosys_synth("oxnic_rx_engine", &v).unwrap();
        println!("oxnic_rx_engine: {} cells, {} flops", r.cells, r.flops);
        // Per queue 3 x 16-bit indices and a fault bit, the counters, the current record, and
        // the two descriptor RAMs (8 x 8 x 80 bits) mapped to flops by generic synthesis.
        assert!(r.flops > 5000 && r.cells < 200_000, "{r:?}");
    }
}
