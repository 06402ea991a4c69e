//! Receive checksum verification on the fly, 64 bits per cycle: the IPv4 header checksum, the
//! TCP/UDP checksum over the pseudo-header, and the CHECKSUM_COMPLETE value. Seed stage: the
//! card's half of the host's `ip_rcv`/`tcp_v4_rcv` checksum checks (CHECKSUM_UNNECESSARY or
//! CHECKSUM_COMPLETE in Linux terms).
//!
//! What is checked (the rules of [`crate::rx_model`]):
//! - IPv4 header: the IHL*4 header bytes must sum to 0xffff — for every frame that is IPv4 for
//!   offload purposes (see [`crate::rx_parse`]); otherwise "not checked";
//! - TCP and UDP: the pseudo-header (source, destination, protocol, L4 length = total length −
//!   IHL*4) plus the bytes `[l4_offset, l3_offset + total length)` must sum to 0xffff. Ethernet
//!   padding after the datagram is excluded. UDP with checksum field 0, fragments, other
//!   protocols and frames that are not IPv4 are "not checked";
//! - CHECKSUM_COMPLETE: the folded, uncomplemented ones'-complement sum of every byte from
//!   `l3_offset` to the end of the frame, padding INCLUDED, as `oxnic_abi::checksum::fold(sum(..))`
//!   gives it. That is what Linux expects of a device in `skb->csum`: it trims the padding
//!   itself and subtracts the trimmed bytes from the sum (`pskb_trim_rcsum`).
//!
//! Statuses are `oxnic_abi::desc::CsumStatus` codes: 0 not checked, 1 ok, 2 bad.
//!
//! # How
//! The block contains an [`RxParse`], whose `live_*` outputs give the offsets of the frame in
//! flight before the bytes they select arrive: the header starts at word 1 or 2, its end and the
//! datagram's end are registered by word 3, and the transport header starts at word 4 at the
//! earliest. Each word is masked three ways (IPv4 header, transport segment, everything after
//! L2) into three accumulators of little-endian 16-bit halves, as in [`crate::csum`]; every
//! range starts at an even offset, so one byte swap at the end gives the big-endian sums. The
//! two bytes 14 and 15 are the IPv4 header's first bytes only when untagged, and the tag is
//! only known from word 1 itself, so they are kept aside and added at the end when untagged.
//! The cycle after the last word folds the three sums into registers; the pseudo-header and the
//! comparisons are combinational from those and the parser's registered fields.

use crate::connect_dffs;
use crate::rx_parse::RxParse;
use crate::stream::StreamSink;
use crate::testbench::Stimulus;
use rust_hdl::prelude::*;

/// Cycles from the rising edge that accepts a frame's last word to the edge after which
/// `meta_valid` and every output show that frame (the parser's latency).
pub const LATENCY: usize = crate::rx_parse::LATENCY;

/// Receive checksum verification, with the parser's fields alongside.
///
/// Inputs:
/// - `clock`: all registers are on its rising edge;
/// - `sink`: the received frame without FCS, a [`StreamSink`], watched only (`sink$ready` is
///   always high), as [`RxParse`] takes it.
///
/// Outputs (they change only together with a `meta_valid` pulse and hold until the next one):
/// - `meta_valid` and every field of [`RxParse`] (same names and meaning);
/// - `ip_csum`: IPv4 header checksum status;
/// - `l4_csum`: TCP/UDP checksum status;
/// - `csum_complete`: CHECKSUM_COMPLETE, the sum of the frame from `l3_offset` to its end.
#[derive(LogicBlock, Debug)]
pub struct RxChecksum {
    /// Clock for every register.
    pub clock: Signal<In, Clock>,
    /// The received frame; never back-pressured.
    pub sink: StreamSink<64, 8>,
    /// Strobe: the outputs are the frame that ended [`LATENCY`] cycles ago.
    pub meta_valid: Signal<Out, Bit>,
    /// Frame length in bytes.
    pub frame_len: Signal<Out, Bits<16>>,
    /// An 802.1Q tag is present.
    pub vlan: Signal<Out, Bit>,
    /// Tag control information.
    pub vlan_tci: Signal<Out, Bits<16>>,
    /// Offset of the L3 header.
    pub l3_offset: Signal<Out, Bits<8>>,
    /// IPv4 for offload purposes.
    pub is_ipv4: Signal<Out, Bit>,
    /// IPv4 header length in 32-bit words.
    pub ihl: Signal<Out, Bits<4>>,
    /// IPv4 total length.
    pub ip_total_len: Signal<Out, Bits<16>>,
    /// IPv4 protocol number.
    pub proto: Signal<Out, Bits<8>>,
    /// An IPv4 fragment.
    pub is_fragment: Signal<Out, Bit>,
    /// Source address, first wire byte in bits 7:0.
    pub src_ip: Signal<Out, Bits<32>>,
    /// Destination address, first wire byte in bits 7:0.
    pub dst_ip: Signal<Out, Bits<32>>,
    /// Non-fragment TCP whose header fits.
    pub is_tcp: Signal<Out, Bit>,
    /// Non-fragment UDP whose header fits.
    pub is_udp: Signal<Out, Bit>,
    /// Source port.
    pub sport: Signal<Out, Bits<16>>,
    /// Destination port.
    pub dport: Signal<Out, Bits<16>>,
    /// UDP sent without a checksum.
    pub udp_csum_zero: Signal<Out, Bit>,
    /// IPv4 header checksum status (`CsumStatus`).
    pub ip_csum: Signal<Out, Bits<2>>,
    /// TCP/UDP checksum status (`CsumStatus`).
    pub l4_csum: Signal<Out, Bits<2>>,
    /// CHECKSUM_COMPLETE value.
    pub csum_complete: Signal<Out, Bits<16>>,
    /// The parser, which also gives the offsets of the frame in flight.
    parse: RxParse,
    /// Sum of everything after L2 but bytes 14, 15 (little-endian halves, partly folded).
    acc_all: DFF<Bits<20>>,
    /// Sum of the IPv4 header but bytes 14, 15.
    acc_hdr: DFF<Bits<20>>,
    /// Sum of the transport segment.
    acc_l4: DFF<Bits<20>>,
    /// Bytes 14 and 15 as a little-endian half.
    b1415: DFF<Bits<16>>,
    /// The frame ended at the previous edge.
    done: DFF<Bit>,
    /// Folded sums of the last frame (little-endian domain).
    snap_all: DFF<Bits<16>>,
    /// Header sum of the last frame.
    snap_hdr: DFF<Bits<16>>,
    /// Segment sum of the last frame.
    snap_l4: DFF<Bits<16>>,
    /// The offsets' word indices and in-word masks.
    l4_word: Signal<Local, Bits<13>>,
    end_word: Signal<Local, Bits<14>>,
    word14: Signal<Local, Bits<14>>,
    sh_l4: Signal<Local, Bits<8>>,
    sh_end: Signal<Local, Bits<8>>,
    below_l4: Signal<Local, Bits<8>>,
    above_l4: Signal<Local, Bits<8>>,
    below_end: Signal<Local, Bits<8>>,
    /// Bytes of this word in each sum.
    m_all: Signal<Local, Bits<8>>,
    m_hdr: Signal<Local, Bits<8>>,
    m_l4: Signal<Local, Bits<8>>,
    /// Masked bytes for each sum.
    ba: [Signal<Local, Bits<8>>; 8],
    /// `m_all`, `m_hdr`, `m_l4` limited to the word's bytes.
    e_all: Signal<Local, Bits<8>>,
    e_hdr: Signal<Local, Bits<8>>,
    e_l4: Signal<Local, Bits<8>>,
    /// The whole word's sum of 16-bit halves (the sum of every byte, odd bytes high).
    w_sum: Signal<Local, Bits<20>>,
    bh: [Signal<Local, Bits<8>>; 8],
    bl: [Signal<Local, Bits<8>>; 8],
    /// Sums before this word (zero at a frame's first word).
    base_all: Signal<Local, Bits<20>>,
    base_hdr: Signal<Local, Bits<20>>,
    base_l4: Signal<Local, Bits<20>>,
    /// Sums including this word, and once folded.
    tot_all: Signal<Local, Bits<20>>,
    tot_hdr: Signal<Local, Bits<20>>,
    tot_l4: Signal<Local, Bits<20>>,
    /// Bytes 14 and 15 of this word (if enabled).
    lo14: Signal<Local, Bits<8>>,
    hi15: Signal<Local, Bits<8>>,
    /// End-of-frame folding.
    extra: Signal<Local, Bits<20>>,
    fin_all: Signal<Local, Bits<20>>,
    fin_hdr: Signal<Local, Bits<20>>,
    f1_all: Signal<Local, Bits<20>>,
    f1_hdr: Signal<Local, Bits<20>>,
    f1_l4: Signal<Local, Bits<20>>,
    f2_all: Signal<Local, Bits<20>>,
    f2_hdr: Signal<Local, Bits<20>>,
    f2_l4: Signal<Local, Bits<20>>,
    /// Pseudo-header and verdicts.
    hlen: Signal<Local, Bits<16>>,
    l4_len: Signal<Local, Bits<16>>,
    p_tot: Signal<Local, Bits<20>>,
    p1: Signal<Local, Bits<20>>,
    p2: Signal<Local, Bits<20>>,
    /// All eight bytes.
    all_bytes: Constant<Bits<8>>,
    /// Bytes 2..8 (a tagged frame's IPv4 header in word 2).
    tagged_w2: Constant<Bits<8>>,
}

impl RxChecksum {
    /// Builds the block.
    pub fn new() -> Self {
        RxChecksum {
            clock: Default::default(),
            sink: Default::default(),
            meta_valid: Default::default(),
            frame_len: Default::default(),
            vlan: Default::default(),
            vlan_tci: Default::default(),
            l3_offset: Default::default(),
            is_ipv4: Default::default(),
            ihl: Default::default(),
            ip_total_len: Default::default(),
            proto: Default::default(),
            is_fragment: Default::default(),
            src_ip: Default::default(),
            dst_ip: Default::default(),
            is_tcp: Default::default(),
            is_udp: Default::default(),
            sport: Default::default(),
            dport: Default::default(),
            udp_csum_zero: Default::default(),
            ip_csum: Default::default(),
            l4_csum: Default::default(),
            csum_complete: Default::default(),
            parse: RxParse::new(),
            acc_all: Default::default(),
            acc_hdr: Default::default(),
            acc_l4: Default::default(),
            b1415: Default::default(),
            done: Default::default(),
            snap_all: Default::default(),
            snap_hdr: Default::default(),
            snap_l4: Default::default(),
            l4_word: Default::default(),
            end_word: Default::default(),
            word14: Default::default(),
            sh_l4: Default::default(),
            sh_end: Default::default(),
            below_l4: Default::default(),
            above_l4: Default::default(),
            below_end: Default::default(),
            m_all: Default::default(),
            m_hdr: Default::default(),
            m_l4: Default::default(),
            ba: Default::default(),
            e_all: Default::default(),
            e_hdr: Default::default(),
            e_l4: Default::default(),
            w_sum: Default::default(),
            bh: Default::default(),
            bl: Default::default(),
            base_all: Default::default(),
            base_hdr: Default::default(),
            base_l4: Default::default(),
            tot_all: Default::default(),
            tot_hdr: Default::default(),
            tot_l4: Default::default(),
            lo14: Default::default(),
            hi15: Default::default(),
            extra: Default::default(),
            fin_all: Default::default(),
            fin_hdr: Default::default(),
            f1_all: Default::default(),
            f1_hdr: Default::default(),
            f1_l4: Default::default(),
            f2_all: Default::default(),
            f2_hdr: Default::default(),
            f2_l4: Default::default(),
            hlen: Default::default(),
            l4_len: Default::default(),
            p_tot: Default::default(),
            p1: Default::default(),
            p2: Default::default(),
            all_bytes: Constant::new(0xff.into()),
            tagged_w2: Constant::new(0xfc.into()),
        }
    }
}

impl Default for RxChecksum {
    fn default() -> Self {
        Self::new()
    }
}

// The flip-flops, listed once for `update` and `connect`.
crate::dff_list!($ acc_all, acc_hdr, acc_l4, b1415, done, snap_all, snap_hdr, snap_l4);

impl Logic for RxChecksum {
    /// The behaviour, for rust-hdl's simulator. The Verilog ([`Logic::hdl`]) is written out by
    /// hand with the same behaviour ([`RX_CHECKSUM_VERILOG`]); the block's differential tests
    /// run both and require the same outputs every cycle.
    fn update(&mut self) {
        with_dffs!(dff_setup!(self, clock,));
        clock!(self, clock, parse);
        self.parse.sink.data.next = self.sink.data.val();
        self.parse.sink.keep.next = self.sink.keep.val();
        self.parse.sink.last.next = self.sink.last.val();
        self.parse.sink.user.next = self.sink.user.val();
        self.parse.sink.valid.next = self.sink.valid.val();
        self.sink.ready.next = true;
        // Where the ranges begin and end relative to this word.
        self.l4_word.next = bit_cast::<13, 5>(self.parse.live_l4_offset.val().get_bits::<5>(3));
        self.end_word.next = self.parse.live_l3_end.val().get_bits::<14>(3);
        self.word14.next = bit_cast::<14, 13>(self.parse.live_word.val());
        self.sh_l4.next = self.all_bytes.val() << self.parse.live_l4_offset.val().get_bits::<3>(0);
        self.sh_end.next = self.all_bytes.val() << self.parse.live_l3_end.val().get_bits::<3>(0);
        self.below_l4.next = 0.into();
        self.above_l4.next = 0.into();
        if self.parse.live_word.val() < self.l4_word.val() {
            self.below_l4.next = self.all_bytes.val();
        }
        if self.parse.live_word.val() == self.l4_word.val() {
            self.below_l4.next = !self.sh_l4.val();
            self.above_l4.next = self.sh_l4.val();
        }
        if self.parse.live_word.val() > self.l4_word.val() {
            self.above_l4.next = self.all_bytes.val();
        }
        self.below_end.next = 0.into();
        if self.word14.val() < self.end_word.val() {
            self.below_end.next = self.all_bytes.val();
        }
        if self.word14.val() == self.end_word.val() {
            self.below_end.next = !self.sh_end.val();
        }
        // Words 0 and 1 hold no summed byte but 14 and 15 (kept aside); word 2 starts the
        // header at byte 16 or 18; the offsets are registered from word 3 and the transport
        // header cannot start before word 4.
        self.m_all.next = 0.into();
        self.m_hdr.next = 0.into();
        self.m_l4.next = 0.into();
        if self.parse.live_word.val() == 2 {
            self.m_all.next = self.all_bytes.val();
            self.m_hdr.next = self.all_bytes.val();
            if self.parse.live_vlan.val() {
                self.m_all.next = self.tagged_w2.val();
                self.m_hdr.next = self.tagged_w2.val();
            }
        }
        if self.parse.live_word.val() == 3 {
            self.m_all.next = self.all_bytes.val();
            self.m_hdr.next = self.all_bytes.val();
        }
        if self.parse.live_word.val() >= 4 {
            self.m_all.next = self.all_bytes.val();
            self.m_hdr.next = self.below_l4.val();
            self.m_l4.next = self.above_l4.val() & self.below_end.val();
        }
        self.base_all.next = self.acc_all.q.val();
        self.base_hdr.next = self.acc_hdr.q.val();
        self.base_l4.next = self.acc_l4.q.val();
        if self.parse.live_word.val() == 0 {
            self.base_all.next = 0.into();
            self.base_hdr.next = 0.into();
            self.base_l4.next = 0.into();
        }
        // Even bytes are the low halves, odd bytes the high ones; a base <= 0x1000e plus at
        // most 0x3fc * 0x101 fits 19 bits, and one fold keeps it under 0x10006.
        // A sum takes all of the word (nearly every word of `all` and of `l4`), none of it
        // (most words of `hdr`), or some bytes: byte by byte only in that last case.
        self.e_all.next = self.m_all.val() & self.sink.keep.val();
        self.e_hdr.next = self.m_hdr.val() & self.sink.keep.val();
        self.e_l4.next = self.m_l4.val() & self.sink.keep.val();
        self.w_sum.next = bit_cast::<20, 16>(self.sink.data.val().get_bits::<16>(0))
            + bit_cast::<20, 16>(self.sink.data.val().get_bits::<16>(16))
            + bit_cast::<20, 16>(self.sink.data.val().get_bits::<16>(32))
            + bit_cast::<20, 16>(self.sink.data.val().get_bits::<16>(48));
        for k in 0..8 {
            self.ba[k].next = 0.into();
            self.bh[k].next = 0.into();
            self.bl[k].next = 0.into();
        }
        self.tot_all.next = self.base_all.val();
        if self.e_all.val() == self.all_bytes.val() {
            self.tot_all.next = self.base_all.val() + self.w_sum.val();
        } else if self.e_all.val().any() {
            for k in 0..8 {
                if self.e_all.val().get_bit(k) {
                    self.ba[k].next = self.sink.data.val().get_bits::<8>(8 * k);
                }
            }
            self.tot_all.next = self.base_all.val()
                + bit_cast::<20, 8>(self.ba[0].val())
                + bit_cast::<20, 8>(self.ba[2].val())
                + bit_cast::<20, 8>(self.ba[4].val())
                + bit_cast::<20, 8>(self.ba[6].val())
                + ((bit_cast::<20, 8>(self.ba[1].val())
                    + bit_cast::<20, 8>(self.ba[3].val())
                    + bit_cast::<20, 8>(self.ba[5].val())
                    + bit_cast::<20, 8>(self.ba[7].val()))
                    << 8);
        }
        self.tot_hdr.next = self.base_hdr.val();
        if self.e_hdr.val() == self.all_bytes.val() {
            self.tot_hdr.next = self.base_hdr.val() + self.w_sum.val();
        } else if self.e_hdr.val().any() {
            for k in 0..8 {
                if self.e_hdr.val().get_bit(k) {
                    self.bh[k].next = self.sink.data.val().get_bits::<8>(8 * k);
                }
            }
            self.tot_hdr.next = self.base_hdr.val()
                + bit_cast::<20, 8>(self.bh[0].val())
                + bit_cast::<20, 8>(self.bh[2].val())
                + bit_cast::<20, 8>(self.bh[4].val())
                + bit_cast::<20, 8>(self.bh[6].val())
                + ((bit_cast::<20, 8>(self.bh[1].val())
                    + bit_cast::<20, 8>(self.bh[3].val())
                    + bit_cast::<20, 8>(self.bh[5].val())
                    + bit_cast::<20, 8>(self.bh[7].val()))
                    << 8);
        }
        self.tot_l4.next = self.base_l4.val();
        if self.e_l4.val() == self.all_bytes.val() {
            self.tot_l4.next = self.base_l4.val() + self.w_sum.val();
        } else if self.e_l4.val().any() {
            for k in 0..8 {
                if self.e_l4.val().get_bit(k) {
                    self.bl[k].next = self.sink.data.val().get_bits::<8>(8 * k);
                }
            }
            self.tot_l4.next = self.base_l4.val()
                + bit_cast::<20, 8>(self.bl[0].val())
                + bit_cast::<20, 8>(self.bl[2].val())
                + bit_cast::<20, 8>(self.bl[4].val())
                + bit_cast::<20, 8>(self.bl[6].val())
                + ((bit_cast::<20, 8>(self.bl[1].val())
                    + bit_cast::<20, 8>(self.bl[3].val())
                    + bit_cast::<20, 8>(self.bl[5].val())
                    + bit_cast::<20, 8>(self.bl[7].val()))
                    << 8);
        }
        self.lo14.next = 0.into();
        self.hi15.next = 0.into();
        if self.sink.keep.val().get_bit(6) {
            self.lo14.next = self.sink.data.val().get_bits::<8>(48);
        }
        if self.sink.keep.val().get_bit(7) {
            self.hi15.next = self.sink.data.val().get_bits::<8>(56);
        }
        if self.sink.valid.val() {
            self.acc_all.d.next = bit_cast::<20, 16>(self.tot_all.val().get_bits::<16>(0))
                + bit_cast::<20, 4>(self.tot_all.val().get_bits::<4>(16));
            self.acc_hdr.d.next = bit_cast::<20, 16>(self.tot_hdr.val().get_bits::<16>(0))
                + bit_cast::<20, 4>(self.tot_hdr.val().get_bits::<4>(16));
            self.acc_l4.d.next = bit_cast::<20, 16>(self.tot_l4.val().get_bits::<16>(0))
                + bit_cast::<20, 4>(self.tot_l4.val().get_bits::<4>(16));
            if self.parse.live_word.val() == 0 {
                self.b1415.d.next = 0.into();
            }
            if self.parse.live_word.val() == 1 {
                self.b1415.d.next =
                    bit_cast::<16, 8>(self.lo14.val()) | (bit_cast::<16, 8>(self.hi15.val()) << 8);
            }
        }
        self.done.d.next = self.sink.valid.val() && self.sink.last.val();
        // The cycle after the last word: the parser's `live_vlan` still describes the frame.
        self.extra.next = 0.into();
        if !self.parse.live_vlan.val() {
            self.extra.next = bit_cast::<20, 16>(self.b1415.q.val());
        }
        self.fin_all.next = self.acc_all.q.val() + self.extra.val();
        self.fin_hdr.next = self.acc_hdr.q.val() + self.extra.val();
        self.f1_all.next = bit_cast::<20, 16>(self.fin_all.val().get_bits::<16>(0))
            + bit_cast::<20, 4>(self.fin_all.val().get_bits::<4>(16));
        self.f1_hdr.next = bit_cast::<20, 16>(self.fin_hdr.val().get_bits::<16>(0))
            + bit_cast::<20, 4>(self.fin_hdr.val().get_bits::<4>(16));
        self.f1_l4.next = bit_cast::<20, 16>(self.acc_l4.q.val().get_bits::<16>(0))
            + bit_cast::<20, 4>(self.acc_l4.q.val().get_bits::<4>(16));
        self.f2_all.next = bit_cast::<20, 16>(self.f1_all.val().get_bits::<16>(0))
            + bit_cast::<20, 4>(self.f1_all.val().get_bits::<4>(16));
        self.f2_hdr.next = bit_cast::<20, 16>(self.f1_hdr.val().get_bits::<16>(0))
            + bit_cast::<20, 4>(self.f1_hdr.val().get_bits::<4>(16));
        self.f2_l4.next = bit_cast::<20, 16>(self.f1_l4.val().get_bits::<16>(0))
            + bit_cast::<20, 4>(self.f1_l4.val().get_bits::<4>(16));
        if self.done.q.val() {
            self.snap_all.d.next = self.f2_all.val().get_bits::<16>(0);
            self.snap_hdr.d.next = self.f2_hdr.val().get_bits::<16>(0);
            self.snap_l4.d.next = self.f2_l4.val().get_bits::<16>(0);
        }
        // From here on the parser's outputs and the snapshots describe the same frame.
        self.hlen.next = bit_cast::<16, 4>(self.parse.ihl.val()) << 2;
        self.l4_len.next = self.parse.ip_total_len.val() - self.hlen.val();
        // Pseudo-header in the byte-swapped domain: an address's halves are its wire bytes as
        // they stand, the protocol is the high byte, the length swapped.
        self.p_tot.next = bit_cast::<20, 16>(self.snap_l4.q.val())
            + bit_cast::<20, 16>(self.parse.src_ip.val().get_bits::<16>(0))
            + bit_cast::<20, 16>(self.parse.src_ip.val().get_bits::<16>(16))
            + bit_cast::<20, 16>(self.parse.dst_ip.val().get_bits::<16>(0))
            + bit_cast::<20, 16>(self.parse.dst_ip.val().get_bits::<16>(16))
            + (bit_cast::<20, 8>(self.parse.proto.val()) << 8)
            + (bit_cast::<20, 8>(self.l4_len.val().get_bits::<8>(0)) << 8)
            + bit_cast::<20, 8>(self.l4_len.val().get_bits::<8>(8));
        self.p1.next = bit_cast::<20, 16>(self.p_tot.val().get_bits::<16>(0))
            + bit_cast::<20, 4>(self.p_tot.val().get_bits::<4>(16));
        self.p2.next = bit_cast::<20, 16>(self.p1.val().get_bits::<16>(0))
            + bit_cast::<20, 4>(self.p1.val().get_bits::<4>(16));
        self.ip_csum.next = 0.into();
        if self.parse.is_ipv4.val() {
            self.ip_csum.next = 2.into();
            if self.snap_hdr.q.val() == 0xffff {
                self.ip_csum.next = 1.into();
            }
        }
        self.l4_csum.next = 0.into();
        if self.parse.is_tcp.val() || (self.parse.is_udp.val() && !self.parse.udp_csum_zero.val()) {
            self.l4_csum.next = 2.into();
            if self.p2.val().get_bits::<16>(0) == 0xffff {
                self.l4_csum.next = 1.into();
            }
        }
        self.csum_complete.next = (bit_cast::<16, 8>(self.snap_all.q.val().get_bits::<8>(0)) << 8)
            | bit_cast::<16, 8>(self.snap_all.q.val().get_bits::<8>(8));
        self.meta_valid.next = self.parse.meta_valid.val();
        self.frame_len.next = self.parse.frame_len.val();
        self.vlan.next = self.parse.vlan.val();
        self.vlan_tci.next = self.parse.vlan_tci.val();
        self.l3_offset.next = self.parse.l3_offset.val();
        self.is_ipv4.next = self.parse.is_ipv4.val();
        self.ihl.next = self.parse.ihl.val();
        self.ip_total_len.next = self.parse.ip_total_len.val();
        self.proto.next = self.parse.proto.val();
        self.is_fragment.next = self.parse.is_fragment.val();
        self.src_ip.next = self.parse.src_ip.val();
        self.dst_ip.next = self.parse.dst_ip.val();
        self.is_tcp.next = self.parse.is_tcp.val();
        self.is_udp.next = self.parse.is_udp.val();
        self.sport.next = self.parse.sport.val();
        self.dport.next = self.parse.dport.val();
        self.udp_csum_zero.next = self.parse.udp_csum_zero.val();
    }
    /// Marks what `update` drives (what `#[hdl_gen]` would derive from it).
    fn connect(&mut self) {
        self.sink.ready.connect();
        self.parse.clock.connect();
        self.parse.sink.connect_inputs();
        with_dffs!(connect_dffs!(self,));
        for k in 0..8 {
            self.ba[k].connect();
            self.bh[k].connect();
            self.bl[k].connect();
        }
        self.meta_valid.connect();
        self.frame_len.connect();
        self.vlan.connect();
        self.vlan_tci.connect();
        self.l3_offset.connect();
        self.is_ipv4.connect();
        self.ihl.connect();
        self.ip_total_len.connect();
        self.proto.connect();
        self.is_fragment.connect();
        self.src_ip.connect();
        self.dst_ip.connect();
        self.is_tcp.connect();
        self.is_udp.connect();
        self.sport.connect();
        self.dport.connect();
        self.udp_csum_zero.connect();
        self.ip_csum.connect();
        self.l4_csum.connect();
        self.csum_complete.connect();
        self.l4_word.connect();
        self.end_word.connect();
        self.word14.connect();
        self.sh_l4.connect();
        self.sh_end.connect();
        self.below_l4.connect();
        self.above_l4.connect();
        self.below_end.connect();
        self.m_all.connect();
        self.m_hdr.connect();
        self.m_l4.connect();
        self.e_all.connect();
        self.e_hdr.connect();
        self.e_l4.connect();
        self.w_sum.connect();
        self.base_all.connect();
        self.base_hdr.connect();
        self.base_l4.connect();
        self.tot_all.connect();
        self.tot_hdr.connect();
        self.tot_l4.connect();
        self.lo14.connect();
        self.hi15.connect();
        self.extra.connect();
        self.fin_all.connect();
        self.fin_hdr.connect();
        self.f1_all.connect();
        self.f1_hdr.connect();
        self.f1_l4.connect();
        self.f2_all.connect();
        self.f2_hdr.connect();
        self.f2_l4.connect();
        self.hlen.connect();
        self.l4_len.connect();
        self.p_tot.connect();
        self.p1.connect();
        self.p2.connect();
    }

    fn hdl(&self) -> Verilog {
        crate::verilog::hand_written(RX_CHECKSUM_VERILOG)
    }
}

/// [`RxChecksum`]'s Verilog, written by hand: the three running sums, their byte masks and the
/// end-of-frame folds worked out inside the clocked block, only in a cycle with a word or a
/// frame's end, and each register written only when it changes. The results (`ip_csum`,
/// `l4_csum`, `csum_complete`) stay combinational, from the snapshots and the parser's
/// registered fields, as in `update`. The parser is the child `parse`.
const RX_CHECKSUM_VERILOG: &str = "
reg [19:0] acc_all = 0;
reg [19:0] acc_hdr = 0;
reg [19:0] acc_l4 = 0;
reg [15:0] b1415 = 0;
reg done = 0;
reg [15:0] snap_all = 0;
reg [15:0] snap_hdr = 0;
reg [15:0] snap_l4 = 0;
wire parse_ready;
wire p_meta_valid;
wire [15:0] p_frame_len;
wire p_vlan;
wire [15:0] p_vlan_tci;
wire [7:0] p_l3_offset;
wire p_is_ipv4;
wire [3:0] p_ihl;
wire [15:0] p_ip_total_len;
wire [7:0] p_proto;
wire p_is_fragment;
wire [31:0] p_src_ip;
wire [31:0] p_dst_ip;
wire p_is_tcp;
wire p_is_udp;
wire [15:0] p_sport;
wire [15:0] p_dport;
wire p_udp_csum_zero;
wire [12:0] live_word;
wire live_vlan;
wire [7:0] live_l4_offset;
wire [16:0] live_l3_end;
@CHILD(parse) parse(
    .clock(clock),
    .sink$data(sink$data),
    .sink$keep(sink$keep),
    .sink$last(sink$last),
    .sink$user(sink$user),
    .sink$valid(sink$valid),
    .sink$ready(parse_ready),
    .meta_valid(p_meta_valid),
    .frame_len(p_frame_len),
    .vlan(p_vlan),
    .vlan_tci(p_vlan_tci),
    .l3_offset(p_l3_offset),
    .is_ipv4(p_is_ipv4),
    .ihl(p_ihl),
    .ip_total_len(p_ip_total_len),
    .proto(p_proto),
    .is_fragment(p_is_fragment),
    .src_ip(p_src_ip),
    .dst_ip(p_dst_ip),
    .is_tcp(p_is_tcp),
    .is_udp(p_is_udp),
    .sport(p_sport),
    .dport(p_dport),
    .udp_csum_zero(p_udp_csum_zero),
    .live_word(live_word),
    .live_vlan(live_vlan),
    .live_l4_offset(live_l4_offset),
    .live_l3_end(live_l3_end)
);
// Values worked out inside the clocked block (blocking; no state).
reg [12:0] l4_word;
reg [13:0] end_word;
reg [7:0] sh_l4;
reg [7:0] sh_end;
reg [7:0] below_l4;
reg [7:0] above_l4;
reg [7:0] below_end;
reg [7:0] m_all;
reg [7:0] m_hdr;
reg [7:0] m_l4;
reg [7:0] e_all;
reg [7:0] e_hdr;
reg [7:0] e_l4;
reg [19:0] w_sum;
reg [19:0] tot_all;
reg [19:0] tot_hdr;
reg [19:0] tot_l4;
reg [19:0] extra;
reg [19:0] fin_all;
reg [19:0] fin_hdr;
reg [19:0] f1_all;
reg [19:0] f1_hdr;
reg [19:0] f1_l4;
reg [19:0] f2_all;
reg [19:0] f2_hdr;
reg [19:0] f2_l4;
// The bytes of the word that `e` selects: even bytes the low halves, odd bytes the high ones.
function [19:0] bytes_sum(input [63:0] d, input [7:0] e);
    bytes_sum = (e[0] ? {12'h000, d[7:0]} : 20'h0) + (e[2] ? {12'h000, d[23:16]} : 20'h0)
        + (e[4] ? {12'h000, d[39:32]} : 20'h0) + (e[6] ? {12'h000, d[55:48]} : 20'h0)
        + (((e[1] ? {12'h000, d[15:8]} : 20'h0) + (e[3] ? {12'h000, d[31:24]} : 20'h0)
            + (e[5] ? {12'h000, d[47:40]} : 20'h0) + (e[7] ? {12'h000, d[63:56]} : 20'h0)) << 8);
endfunction
function [19:0] fold(input [19:0] x);
    fold = {4'h0, x[15:0]} + {16'h0000, x[19:16]};
endfunction
// From here on the parser's outputs and the snapshots describe the same frame.
wire [15:0] hlen = {10'h000, p_ihl, 2'b00};
wire [15:0] l4_len = p_ip_total_len - hlen;
// Pseudo-header in the byte-swapped domain: an address's halves are its wire bytes as they
// stand, the protocol is the high byte, the length swapped.
wire [19:0] p_tot = {4'h0, snap_l4} + {4'h0, p_src_ip[15:0]} + {4'h0, p_src_ip[31:16]}
    + {4'h0, p_dst_ip[15:0]} + {4'h0, p_dst_ip[31:16]} + {4'h0, p_proto, 8'h00}
    + {4'h0, l4_len[7:0], 8'h00} + {12'h000, l4_len[15:8]};
wire [19:0] p1 = fold(p_tot);
wire [19:0] p2 = fold(p1);
assign sink$ready = 1'b1;
assign ip_csum = p_is_ipv4 ? (snap_hdr == 16'hffff ? 2'd1 : 2'd2) : 2'd0;
assign l4_csum = p_is_tcp | (p_is_udp & !p_udp_csum_zero) ? (p2[15:0] == 16'hffff ? 2'd1 : 2'd2) : 2'd0;
assign csum_complete = {snap_all[7:0], snap_all[15:8]};
assign meta_valid = p_meta_valid;
assign frame_len = p_frame_len;
assign vlan = p_vlan;
assign vlan_tci = p_vlan_tci;
assign l3_offset = p_l3_offset;
assign is_ipv4 = p_is_ipv4;
assign ihl = p_ihl;
assign ip_total_len = p_ip_total_len;
assign proto = p_proto;
assign is_fragment = p_is_fragment;
assign src_ip = p_src_ip;
assign dst_ip = p_dst_ip;
assign is_tcp = p_is_tcp;
assign is_udp = p_is_udp;
assign sport = p_sport;
assign dport = p_dport;
assign udp_csum_zero = p_udp_csum_zero;
always @(posedge clock) begin
    // In this block a register is read before it is written (else Verilator keeps a shadow
    // copy of it, copied twice every cycle): the end of a frame first.
    // The cycle after the last word: the parser's `live_vlan` still describes the frame.
    if (done) begin
        extra = live_vlan ? 20'h0 : {4'h0, b1415};
        fin_all = acc_all + extra;
        fin_hdr = acc_hdr + extra;
        f1_all = fold(fin_all);
        f1_hdr = fold(fin_hdr);
        f1_l4 = fold(acc_l4);
        f2_all = fold(f1_all);
        f2_hdr = fold(f1_hdr);
        f2_l4 = fold(f1_l4);
        snap_all <= f2_all[15:0];
        snap_hdr <= f2_hdr[15:0];
        snap_l4 <= f2_l4[15:0];
    end
    if (sink$valid) begin
        // Where the ranges begin and end relative to this word.
        l4_word = {8'h00, live_l4_offset[7:3]};
        end_word = live_l3_end[16:3];
        sh_l4 = 8'hff << live_l4_offset[2:0];
        sh_end = 8'hff << live_l3_end[2:0];
        below_l4 = live_word < l4_word ? 8'hff : live_word == l4_word ? ~sh_l4 : 8'h00;
        above_l4 = live_word > l4_word ? 8'hff : live_word == l4_word ? sh_l4 : 8'h00;
        below_end = {1'b0, live_word} < end_word ? 8'hff
            : {1'b0, live_word} == end_word ? ~sh_end : 8'h00;
        // Words 0 and 1 hold no summed byte but 14 and 15 (kept aside); word 2 starts the
        // header at byte 16 or 18; the transport header cannot start before word 4.
        m_all = 8'h00;
        m_hdr = 8'h00;
        m_l4 = 8'h00;
        if (live_word == 13'd2) begin
            m_all = live_vlan ? 8'hfc : 8'hff;
            m_hdr = m_all;
        end
        if (live_word == 13'd3) begin
            m_all = 8'hff;
            m_hdr = 8'hff;
        end
        if (live_word >= 13'd4) begin
            m_all = 8'hff;
            m_hdr = below_l4;
            m_l4 = above_l4 & below_end;
        end
        e_all = m_all & sink$keep;
        e_hdr = m_hdr & sink$keep;
        e_l4 = m_l4 & sink$keep;
        w_sum = {4'h0, sink$data[15:0]} + {4'h0, sink$data[31:16]}
            + {4'h0, sink$data[47:32]} + {4'h0, sink$data[63:48]};
        // A sum takes all of the word (nearly every word of `all` and of `l4`), none of it
        // (most words of `hdr`), or some bytes: byte by byte only in that last case.
        tot_all = live_word == 13'd0 ? 20'h0 : acc_all;
        tot_hdr = live_word == 13'd0 ? 20'h0 : acc_hdr;
        tot_l4 = live_word == 13'd0 ? 20'h0 : acc_l4;
        if (e_all == 8'hff) tot_all = tot_all + w_sum;
        else if (e_all != 8'h00) tot_all = tot_all + bytes_sum(sink$data, e_all);
        if (e_hdr == 8'hff) tot_hdr = tot_hdr + w_sum;
        else if (e_hdr != 8'h00) tot_hdr = tot_hdr + bytes_sum(sink$data, e_hdr);
        if (e_l4 == 8'hff) tot_l4 = tot_l4 + w_sum;
        else if (e_l4 != 8'h00) tot_l4 = tot_l4 + bytes_sum(sink$data, e_l4);
        acc_all <= fold(tot_all);
        acc_hdr <= fold(tot_hdr);
        acc_l4 <= fold(tot_l4);
        if (live_word == 13'd0) b1415 <= 16'h0000;
        if (live_word == 13'd1)
            b1415 <= {sink$keep[7] ? sink$data[63:56] : 8'h00, sink$keep[6] ? sink$data[55:48] : 8'h00};
    end
    done <= sink$valid & sink$last;
end
";

crate::impl_set_inputs!(RxChecksum {
    clock,
    sink.data,
    sink.keep,
    sink.last,
    sink.user,
    sink.valid
});

/// Random frames of every kind [`crate::frame_gen::random_frame`] makes (payloads up to 256
/// bytes), back to back or with idle cycles, for `cycles` cycles; the same `seed` gives the same
/// stimulus.
pub fn random_stimulus(seed: u64, cycles: usize) -> Stimulus {
    use rand::SeedableRng;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    crate::rx_parse::frame_stimulus(&mut rng, cycles, 256)
}

/// Verilog of the catalogue entry `oxnic_rx_checksum`.
pub fn verilog() -> Result<String, crate::verilog::GenError> {
    let mut uut = RxChecksum::new();
    uut.connect_all();
    crate::verilog::generate_named(&uut, "oxnic_rx_checksum")
}

/// The outputs of [`RxChecksum`] the model predicts for a frame: the parser's and the three
/// checksum results.
pub fn expected_ports(m: &crate::rx_model::RxMeta) -> Vec<(&'static str, u64)> {
    let mut v = crate::rx_parse::expected_ports(m);
    v.push(("ip_csum", m.ip_csum as u64));
    v.push(("l4_csum", m.l4_csum as u64));
    v.push(("csum_complete", u64::from(m.csum_complete)));
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame_gen::{apply, Defect, Ipv4Frame, L4};
    use crate::rx_model::classify;
    use crate::stream_stimulus::{decode_frames, run_stimulus, stream_plan, StreamFrame, SINK};
    use crate::testbench::Bench;
    use oxnic_abi::desc::CsumStatus;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// Runs `stimulus` and checks one `meta_valid` per frame, [`LATENCY`] cycles after its last
    /// word, with every output as the model has it. Returns the models of the frames.
    fn check(stimulus: &Stimulus) -> Vec<crate::rx_model::RxMeta> {
        let frames = decode_frames(stimulus, SINK);
        let names: Vec<&'static str> = std::iter::once("meta_valid")
            .chain(
                expected_ports(&Default::default())
                    .into_iter()
                    .map(|(n, _)| n),
            )
            .collect();
        let mut b = Bench::new(RxChecksum::new()).unwrap();
        let out = run_stimulus(&mut b, stimulus, &names).unwrap();
        let mut expect = vec![None; stimulus.len() + LATENCY];
        let mut models = vec![];
        for f in &frames {
            let m = classify(&f.bytes);
            expect[f.last_cycle + LATENCY - 1] = Some((m, f.bytes.clone()));
            models.push(m);
        }
        for (c, o) in out.iter().enumerate() {
            match &expect[c] {
                Some((m, bytes)) => {
                    assert_eq!(o[0], 1, "no meta_valid in cycle {c}");
                    for (i, (name, want)) in expected_ports(m).into_iter().enumerate() {
                        assert_eq!(o[i + 1], want, "{name}, cycle {c}, frame {bytes:02x?}");
                    }
                }
                None => assert_eq!(o[0], 0, "spurious meta_valid in cycle {c}"),
            }
        }
        models
    }

    fn plan(frames: Vec<Vec<u8>>, seed: u64) -> Stimulus {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let frames: Vec<StreamFrame> = frames
            .into_iter()
            .map(|bytes| StreamFrame {
                bytes,
                ..Default::default()
            })
            .collect();
        stream_plan(&frames, SINK, &[], &mut rng).stimulus
    }

    #[test]
    fn good_and_corrupted_checksums_every_layout() {
        // TCP and UDP, tagged or not, every IPv4 option length, short (padded) and long
        // payloads: good, then with a bad header checksum, then with a bad segment byte.
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let mut frames = vec![];
        for vlan in [None, Some(7)] {
            for opts in (0..=40).step_by(4) {
                for udp in [false, true] {
                    let plen = rng.gen_range(0..90);
                    let payload: Vec<u8> = (0..plen).map(|_| rng.gen()).collect();
                    let mut s = if udp {
                        Ipv4Frame::udp(rng.gen(), rng.gen(), rng.gen(), rng.gen(), &payload)
                    } else {
                        Ipv4Frame::tcp(rng.gen(), rng.gen(), rng.gen(), rng.gen(), &payload)
                    };
                    s.vlan_tci = vlan;
                    s.options = (0..opts).map(|_| rng.gen()).collect();
                    s.padding = (0..rng.gen_range(0..20)).map(|_| rng.gen()).collect();
                    let good = s.build();
                    let mut hdr = good.clone();
                    apply(&mut hdr, Defect::Ipv4HeaderChecksum(rng.gen()));
                    let mut seg = good.clone();
                    apply(
                        &mut seg,
                        Defect::L4Byte {
                            at: rng.gen(),
                            xor: rng.gen_range(1..=255),
                        },
                    );
                    frames.extend([good, hdr, seg]);
                }
            }
        }
        let models = check(&plan(frames, 12));
        for m in models.chunks(3) {
            assert_eq!(
                (m[0].ip_csum, m[0].l4_csum),
                (CsumStatus::Ok, CsumStatus::Ok)
            );
            assert_eq!(
                (m[1].ip_csum, m[1].l4_csum),
                (CsumStatus::Bad, CsumStatus::Ok)
            );
            assert_eq!(
                (m[2].ip_csum, m[2].l4_csum),
                (CsumStatus::Ok, CsumStatus::Bad)
            );
        }
    }

    #[test]
    fn padding_excluded_from_l4_included_in_complete() {
        let mut s = Ipv4Frame::udp([10, 1, 1, 1], [10, 2, 2, 2], 5000, 6000, b"x");
        s.padding = vec![0xa5; 17];
        let mut no_csum = s.clone();
        no_csum.l4 = L4::Udp {
            sport: 1,
            dport: 2,
            no_checksum: true,
        };
        let mut frag = s.clone();
        frag.more_fragments = true;
        let models = check(&plan(vec![s.build(), no_csum.build(), frag.build()], 13));
        assert_eq!(models[0].l4_csum, CsumStatus::Ok);
        assert_ne!(models[0].csum_complete, 0);
        assert_eq!(models[1].l4_csum, CsumStatus::NotChecked);
        assert_eq!(models[2].l4_csum, CsumStatus::NotChecked);
        assert_eq!(models[2].ip_csum, CsumStatus::Ok);
    }

    #[test]
    fn random_frames_with_gaps() {
        let s = random_stimulus(0xc5c5, 4000);
        let models = check(&s);
        assert!(models.len() > 60, "{} frames", models.len());
        for st in [CsumStatus::Ok, CsumStatus::Bad, CsumStatus::NotChecked] {
            assert!(models.iter().any(|m| m.l4_csum == st), "{st:?}");
            assert!(models.iter().any(|m| m.ip_csum == st), "{st:?}");
        }
    }

    #[test]
    fn synthesizes_and_lints() {
        let v = verilog().unwrap();
        crate::synth::verilator_lint("oxnic_rx_checksum", &v).unwrap();
        let r = crate::synth::yosys_synth("oxnic_rx_checksum", &v).unwrap();
        eprintln!("oxnic_rx_checksum: {} cells, {} flops", r.cells, r.flops);
        assert!(r.flops > 0 && r.cells > r.flops, "{r:?}");
    }
}
