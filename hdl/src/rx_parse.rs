//! Receive header parser: Ethernet II with at most one 802.1Q tag, IPv4 (options skipped by
//! IHL), TCP and UDP, on the fly over a 64-bit stream, one word per cycle. Seed stage: the
//! first step of the RX path, whose fields feed `rx_checksum`, `rx_hash` and the completion.
//!
//! The rules are [`crate::rx_model`]'s (the reference model the tests check against): bytes past
//! a frame's end read as zero; IPv4 means ethertype 0x0800, version 4, IHL >= 5,
//! `IHL*4 <= total length` and `l3_offset + total length <= frame length` — a datagram that
//! claims more bytes than arrived, or a header longer than the datagram, is not IPv4 for offload
//! purposes; TCP/UDP only for non-fragments whose 20-byte TCP / 8-byte UDP header fits in the
//! datagram. Fields that do not apply are reported as zero.
//!
//! # How
//! The IPv4 header's fixed part lies in words 1 to 4 of a frame whatever the tag (bytes 14..34
//! untagged, 18..38 tagged), so those four words are kept (masked by `keep`, cleared at each
//! frame's first word so a short frame reads zeros) and the fields are picked from them with a
//! two-way choice on the tag after the frame ends. The transport header moves with IHL: its
//! offset `l4 = l3 + 4 IHL` is registered as soon as IHL arrives (word 1 or 2), long before the
//! ports (word 4 at the earliest); since `l4 ≡ 2 (mod 4)`, the four port bytes are either bytes
//! 2..6 of one word or bytes 6..8 of one word and 0..2 of the next, so the previous word is kept
//! too. The UDP checksum field never straddles.

use crate::connect_dffs;
use crate::stream::StreamSink;
use crate::stream_stimulus::{random_gaps, stream_plan, StreamFrame, SINK};
use crate::testbench::Stimulus;
use rust_hdl::prelude::*;

/// Cycles from the rising edge that accepts a frame's last word to the edge after which
/// `meta_valid` and the fields show that frame: one edge registers the frame's raw state, the
/// next the parsed fields.
pub const LATENCY: usize = 2;

/// Receive header parser.
///
/// Inputs:
/// - `clock`: all registers are on its rising edge;
/// - `sink`: the received frame without FCS, a [`StreamSink`]; a word is taken on every edge
///   with `sink$valid` (`sink$ready` is always high: the parser only watches the stream). Only
///   the last word may be partial; `sink$user` is ignored; frames may follow back to back.
///
/// Outputs (registered; they change only together with a `meta_valid` pulse and hold until the
/// next one):
/// - `meta_valid`: high for one cycle, [`LATENCY`] cycles after each frame's last word;
/// - `frame_len`: bytes in the frame;
/// - `vlan`, `vlan_tci`: an 802.1Q tag (bytes 12..14 are 0x8100) and its TCI (0 if untagged);
/// - `l3_offset`: 14, or 18 when tagged;
/// - `is_ipv4`: IPv4 for offload purposes (see the module rules);
/// - `ihl`, `ip_total_len`, `proto`, `is_fragment`, `src_ip`, `dst_ip`: IPv4 fields (0 unless
///   `is_ipv4`); the addresses hold the bytes as on the wire, the first in bits 7:0, so they
///   concatenate directly into a Toeplitz tuple;
/// - `is_tcp`, `is_udp`: a non-fragment TCP/UDP datagram whose transport header fits;
/// - `sport`, `dport`: port numbers as values (0 unless TCP or UDP);
/// - `udp_csum_zero`: UDP whose checksum field is 0 (sent without a checksum).
///
/// Outputs for `rx_checksum`, valid while a frame is in flight (combinational or registered from
/// the words seen so far):
/// - `live_word`: index within its frame of the word on `sink` this cycle (saturating);
/// - `live_vlan`: the frame is tagged — valid from word 2;
/// - `live_l4_offset`: `l3_offset + 4 IHL` — valid from word 3;
/// - `live_l3_end`: `l3_offset + total length` — valid from word 3.
#[derive(LogicBlock, Debug)]
pub struct RxParse {
    /// Clock for every register.
    pub clock: Signal<In, Clock>,
    /// The received frame; never back-pressured.
    pub sink: StreamSink<64, 8>,
    /// Strobe: the fields below are the frame that ended [`LATENCY`] cycles ago.
    pub meta_valid: Signal<Out, Bit>,
    /// Frame length in bytes.
    pub frame_len: Signal<Out, Bits<16>>,
    /// An 802.1Q tag is present.
    pub vlan: Signal<Out, Bit>,
    /// Tag control information (priority, DEI, VLAN id).
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
    /// MF set or a non-zero fragment offset.
    pub is_fragment: Signal<Out, Bit>,
    /// Source address, first wire byte in bits 7:0.
    pub src_ip: Signal<Out, Bits<32>>,
    /// Destination address, first wire byte in bits 7:0.
    pub dst_ip: Signal<Out, Bits<32>>,
    /// Non-fragment TCP whose 20-byte header fits.
    pub is_tcp: Signal<Out, Bit>,
    /// Non-fragment UDP whose 8-byte header fits.
    pub is_udp: Signal<Out, Bit>,
    /// Source port.
    pub sport: Signal<Out, Bits<16>>,
    /// Destination port.
    pub dport: Signal<Out, Bits<16>>,
    /// UDP sent without a checksum.
    pub udp_csum_zero: Signal<Out, Bit>,
    /// Index of the current `sink` word within its frame.
    pub live_word: Signal<Out, Bits<13>>,
    /// The frame in flight is tagged (from word 2).
    pub live_vlan: Signal<Out, Bit>,
    /// Transport header offset of the frame in flight (from word 3).
    pub live_l4_offset: Signal<Out, Bits<8>>,
    /// End of the datagram of the frame in flight (from word 3).
    pub live_l3_end: Signal<Out, Bits<17>>,
    /// A frame has begun and not ended.
    mid: DFF<Bit>,
    /// Index of the next word (saturating).
    word_q: DFF<Bits<13>>,
    /// Words 1..=4 of the frame, masked by `keep`.
    w1: DFF<Bits<64>>,
    /// Word 2.
    w2: DFF<Bits<64>>,
    /// Word 3.
    w3: DFF<Bits<64>>,
    /// Word 4.
    w4: DFF<Bits<64>>,
    /// The previous word (ports may straddle two words).
    prev: DFF<Bits<64>>,
    /// Bytes 12..14 are 0x8100.
    vlan_q: DFF<Bit>,
    /// `l3 + 4 IHL`.
    l4_q: DFF<Bits<8>>,
    /// `l3 + total length`.
    l3_end_q: DFF<Bits<17>>,
    /// The four port bytes, first in bits 7:0.
    ports_q: DFF<Bits<32>>,
    /// The UDP checksum field (byte order irrelevant: only compared with zero).
    ucsum_q: DFF<Bits<16>>,
    /// Frame length.
    len_q: DFF<Bits<16>>,
    /// The frame ended at the previous edge: parse it this cycle.
    done: DFF<Bit>,
    /// Registered outputs.
    o_valid: DFF<Bit>,
    o_len: DFF<Bits<16>>,
    o_vlan: DFF<Bit>,
    o_tci: DFF<Bits<16>>,
    o_l3: DFF<Bits<8>>,
    o_ipv4: DFF<Bit>,
    o_ihl: DFF<Bits<4>>,
    o_tlen: DFF<Bits<16>>,
    o_proto: DFF<Bits<8>>,
    o_frag: DFF<Bit>,
    o_src: DFF<Bits<32>>,
    o_dst: DFF<Bits<32>>,
    o_tcp: DFF<Bit>,
    o_udp: DFF<Bit>,
    o_sport: DFF<Bits<16>>,
    o_dport: DFF<Bits<16>>,
    o_uzero: DFF<Bit>,
    /// Index of this word in its frame.
    word_now: Signal<Local, Bits<13>>,
    /// Byte `k` of the word, zero past `keep`.
    byte: [Signal<Local, Bits<8>>; 8],
    /// The word, zero past `keep`.
    data_m: Signal<Local, Bits<64>>,
    /// Enabled bytes in the word.
    nbytes: Signal<Local, Bits<16>>,
    /// `l4 + 3`: the word holding the last port byte.
    l4_p3: Signal<Local, Bits<8>>,
    /// `l4 + 6`: the word holding the UDP checksum.
    l4_p6: Signal<Local, Bits<8>>,
    /// Word index of the last port byte.
    port_word: Signal<Local, Bits<13>>,
    /// Word index of the UDP checksum.
    ucsum_word: Signal<Local, Bits<13>>,
    /// Parse of the finished frame (valid while `done`).
    f_l3: Signal<Local, Bits<8>>,
    f_etype: Signal<Local, Bits<16>>,
    f_vihl: Signal<Local, Bits<8>>,
    f_tlen: Signal<Local, Bits<16>>,
    f_fragw: Signal<Local, Bits<16>>,
    f_proto: Signal<Local, Bits<8>>,
    f_src: Signal<Local, Bits<32>>,
    f_dst: Signal<Local, Bits<32>>,
    f_hlen: Signal<Local, Bits<16>>,
    f_hlen_tcp: Signal<Local, Bits<16>>,
    f_hlen_udp: Signal<Local, Bits<16>>,
    f_end: Signal<Local, Bits<17>>,
    f_len17: Signal<Local, Bits<17>>,
    f_ipv4: Signal<Local, Bit>,
    f_frag: Signal<Local, Bit>,
    f_tcp: Signal<Local, Bit>,
    f_udp: Signal<Local, Bit>,
    /// Largest word index.
    word_max: Constant<Bits<13>>,
}

impl RxParse {
    /// Builds the block.
    pub fn new() -> Self {
        RxParse {
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
            live_word: Default::default(),
            live_vlan: Default::default(),
            live_l4_offset: Default::default(),
            live_l3_end: Default::default(),
            mid: Default::default(),
            word_q: Default::default(),
            w1: Default::default(),
            w2: Default::default(),
            w3: Default::default(),
            w4: Default::default(),
            prev: Default::default(),
            vlan_q: Default::default(),
            l4_q: Default::default(),
            l3_end_q: Default::default(),
            ports_q: Default::default(),
            ucsum_q: Default::default(),
            len_q: Default::default(),
            done: Default::default(),
            o_valid: Default::default(),
            o_len: Default::default(),
            o_vlan: Default::default(),
            o_tci: Default::default(),
            o_l3: Default::default(),
            o_ipv4: Default::default(),
            o_ihl: Default::default(),
            o_tlen: Default::default(),
            o_proto: Default::default(),
            o_frag: Default::default(),
            o_src: Default::default(),
            o_dst: Default::default(),
            o_tcp: Default::default(),
            o_udp: Default::default(),
            o_sport: Default::default(),
            o_dport: Default::default(),
            o_uzero: Default::default(),
            word_now: Default::default(),
            byte: Default::default(),
            data_m: Default::default(),
            nbytes: Default::default(),
            l4_p3: Default::default(),
            l4_p6: Default::default(),
            port_word: Default::default(),
            ucsum_word: Default::default(),
            f_l3: Default::default(),
            f_etype: Default::default(),
            f_vihl: Default::default(),
            f_tlen: Default::default(),
            f_fragw: Default::default(),
            f_proto: Default::default(),
            f_src: Default::default(),
            f_dst: Default::default(),
            f_hlen: Default::default(),
            f_hlen_tcp: Default::default(),
            f_hlen_udp: Default::default(),
            f_end: Default::default(),
            f_len17: Default::default(),
            f_ipv4: Default::default(),
            f_frag: Default::default(),
            f_tcp: Default::default(),
            f_udp: Default::default(),
            word_max: Constant::new(((1 << 13) - 1).into()),
        }
    }
}

impl Default for RxParse {
    fn default() -> Self {
        Self::new()
    }
}

// The flip-flops, listed once for `update` and `connect`.
crate::dff_list!(
    $
    mid, word_q, w1, w2, w3, w4, prev, vlan_q, l4_q, l3_end_q, ports_q, ucsum_q, len_q, done,
    o_valid, o_len, o_vlan, o_tci, o_l3, o_ipv4, o_ihl, o_tlen, o_proto, o_frag, o_src, o_dst,
    o_tcp, o_udp, o_sport, o_dport, o_uzero
);

impl Logic for RxParse {
    /// The behaviour, for rust-hdl's simulator. The Verilog ([`Logic::hdl`]) is written out by
    /// hand with the same behaviour; `rx_parse_agrees_and_matches_the_model` (oxnic-sim's
    /// `diff_rx`) runs both on the same frames and requires the same outputs every cycle.
    fn update(&mut self) {
        with_dffs!(dff_setup!(self, clock,));
        self.sink.ready.next = true;
        self.word_now.next = 0.into();
        if self.mid.q.val() {
            self.word_now.next = self.word_q.q.val();
        }
        // Bytes past `keep` carry junk; zeroing them makes a short frame read as zero-padded.
        // (Byte by byte only for a partial word: a whole word, nearly every one, is taken as
        // it is.)
        for k in 0..8 {
            self.byte[k].next = 0.into();
        }
        self.data_m.next = self.sink.data.val();
        if self.sink.keep.val() != 0xff {
            for k in 0..8 {
                if self.sink.keep.val().get_bit(k) {
                    self.byte[k].next = self.sink.data.val().get_bits::<8>(8 * k);
                }
            }
            self.data_m.next = bit_cast::<64, 8>(self.byte[0].val())
                | (bit_cast::<64, 8>(self.byte[1].val()) << 8)
                | (bit_cast::<64, 8>(self.byte[2].val()) << 16)
                | (bit_cast::<64, 8>(self.byte[3].val()) << 24)
                | (bit_cast::<64, 8>(self.byte[4].val()) << 32)
                | (bit_cast::<64, 8>(self.byte[5].val()) << 40)
                | (bit_cast::<64, 8>(self.byte[6].val()) << 48)
                | (bit_cast::<64, 8>(self.byte[7].val()) << 56);
        }
        // The byte count of a word matters only for a frame's last.
        self.nbytes.next = 0.into();
        if self.sink.last.val() {
            self.nbytes.next = bit_cast::<16, 1>(self.sink.keep.val().get_bits::<1>(0))
                + bit_cast::<16, 1>(self.sink.keep.val().get_bits::<1>(1))
                + bit_cast::<16, 1>(self.sink.keep.val().get_bits::<1>(2))
                + bit_cast::<16, 1>(self.sink.keep.val().get_bits::<1>(3))
                + bit_cast::<16, 1>(self.sink.keep.val().get_bits::<1>(4))
                + bit_cast::<16, 1>(self.sink.keep.val().get_bits::<1>(5))
                + bit_cast::<16, 1>(self.sink.keep.val().get_bits::<1>(6))
                + bit_cast::<16, 1>(self.sink.keep.val().get_bits::<1>(7));
        }
        self.l4_p3.next = self.l4_q.q.val() + 3;
        self.l4_p6.next = self.l4_q.q.val() + 6;
        self.port_word.next = bit_cast::<13, 5>(self.l4_p3.val().get_bits::<5>(3));
        self.ucsum_word.next = bit_cast::<13, 5>(self.l4_p6.val().get_bits::<5>(3));
        self.done.d.next = false;
        if self.sink.valid.val() {
            self.prev.d.next = self.data_m.val();
            if self.word_now.val() == 0 {
                self.w1.d.next = 0.into();
                self.w2.d.next = 0.into();
                self.w3.d.next = 0.into();
                self.w4.d.next = 0.into();
                self.vlan_q.d.next = false;
            }
            if self.word_now.val() == 1 {
                self.w1.d.next = self.data_m.val();
                self.vlan_q.d.next = self.data_m.val().get_bits::<16>(32) == 0x0081;
                // Untagged guess; a tagged frame overwrites it with word 2.
                self.l4_q.d.next =
                    (bit_cast::<8, 4>(self.data_m.val().get_bits::<4>(48)) << 2) + 14;
            }
            if self.word_now.val() == 2 {
                self.w2.d.next = self.data_m.val();
                if self.vlan_q.q.val() {
                    self.l4_q.d.next =
                        (bit_cast::<8, 4>(self.data_m.val().get_bits::<4>(16)) << 2) + 18;
                    self.l3_end_q.d.next =
                        ((bit_cast::<17, 8>(self.data_m.val().get_bits::<8>(32)) << 8)
                            | bit_cast::<17, 8>(self.data_m.val().get_bits::<8>(40)))
                            + 18;
                } else {
                    self.l3_end_q.d.next =
                        ((bit_cast::<17, 8>(self.data_m.val().get_bits::<8>(0)) << 8)
                            | bit_cast::<17, 8>(self.data_m.val().get_bits::<8>(8)))
                            + 14;
                }
            }
            if self.word_now.val() == 3 {
                self.w3.d.next = self.data_m.val();
            }
            if self.word_now.val() == 4 {
                self.w4.d.next = self.data_m.val();
            }
            if self.word_now.val() == self.port_word.val() {
                if self.l4_q.q.val().get_bit(2) {
                    // l4 % 8 == 6: bytes 6, 7 of the previous word, 0, 1 of this one.
                    self.ports_q.d.next = bit_cast::<32, 16>(self.prev.q.val().get_bits::<16>(48))
                        | (bit_cast::<32, 16>(self.data_m.val().get_bits::<16>(0)) << 16);
                } else {
                    self.ports_q.d.next = self.data_m.val().get_bits::<32>(16);
                }
            }
            if self.word_now.val() == self.ucsum_word.val() {
                if self.l4_q.q.val().get_bit(2) {
                    self.ucsum_q.d.next = self.data_m.val().get_bits::<16>(32);
                } else {
                    self.ucsum_q.d.next = self.data_m.val().get_bits::<16>(0);
                }
            }
            if self.sink.last.val() {
                self.mid.d.next = false;
                self.done.d.next = true;
                self.len_q.d.next =
                    (bit_cast::<16, 13>(self.word_now.val()) << 3) + self.nbytes.val();
            } else {
                self.mid.d.next = true;
                self.word_q.d.next = self.word_now.val();
                if self.word_now.val() != self.word_max.val() {
                    self.word_q.d.next = self.word_now.val() + 1;
                }
            }
        }
        // The finished frame, from its registered words (tagged layout = untagged + 4 bytes).
        // (Worked out only in the cycle that registers them: the fields are a dozen byte
        // shuffles and compares that a simulator would otherwise evaluate every cycle.)
        self.f_l3.next = 0.into();
        self.f_etype.next = 0.into();
        self.f_vihl.next = 0.into();
        self.f_tlen.next = 0.into();
        self.f_fragw.next = 0.into();
        self.f_proto.next = 0.into();
        self.f_src.next = 0.into();
        self.f_dst.next = 0.into();
        self.f_hlen.next = 0.into();
        self.f_hlen_tcp.next = 0.into();
        self.f_hlen_udp.next = 0.into();
        self.f_end.next = 0.into();
        self.f_len17.next = 0.into();
        self.f_ipv4.next = false;
        self.f_frag.next = false;
        self.f_tcp.next = false;
        self.f_udp.next = false;
        if self.done.q.val() {
            self.f_l3.next = 14.into();
            self.f_etype.next = (bit_cast::<16, 8>(self.w1.q.val().get_bits::<8>(32)) << 8)
                | bit_cast::<16, 8>(self.w1.q.val().get_bits::<8>(40));
            self.f_vihl.next = self.w1.q.val().get_bits::<8>(48);
            self.f_tlen.next = (bit_cast::<16, 8>(self.w2.q.val().get_bits::<8>(0)) << 8)
                | bit_cast::<16, 8>(self.w2.q.val().get_bits::<8>(8));
            self.f_fragw.next = (bit_cast::<16, 8>(self.w2.q.val().get_bits::<8>(32)) << 8)
                | bit_cast::<16, 8>(self.w2.q.val().get_bits::<8>(40));
            self.f_proto.next = self.w2.q.val().get_bits::<8>(56);
            self.f_src.next = self.w3.q.val().get_bits::<32>(16);
            self.f_dst.next = bit_cast::<32, 16>(self.w3.q.val().get_bits::<16>(48))
                | (bit_cast::<32, 16>(self.w4.q.val().get_bits::<16>(0)) << 16);
            if self.vlan_q.q.val() {
                self.f_l3.next = 18.into();
                self.f_etype.next = (bit_cast::<16, 8>(self.w2.q.val().get_bits::<8>(0)) << 8)
                    | bit_cast::<16, 8>(self.w2.q.val().get_bits::<8>(8));
                self.f_vihl.next = self.w2.q.val().get_bits::<8>(16);
                self.f_tlen.next = (bit_cast::<16, 8>(self.w2.q.val().get_bits::<8>(32)) << 8)
                    | bit_cast::<16, 8>(self.w2.q.val().get_bits::<8>(40));
                self.f_fragw.next = (bit_cast::<16, 8>(self.w3.q.val().get_bits::<8>(0)) << 8)
                    | bit_cast::<16, 8>(self.w3.q.val().get_bits::<8>(8));
                self.f_proto.next = self.w3.q.val().get_bits::<8>(24);
                self.f_src.next = bit_cast::<32, 16>(self.w3.q.val().get_bits::<16>(48))
                    | (bit_cast::<32, 16>(self.w4.q.val().get_bits::<16>(0)) << 16);
                self.f_dst.next = self.w4.q.val().get_bits::<32>(16);
            }
            self.f_hlen.next = bit_cast::<16, 4>(self.f_vihl.val().get_bits::<4>(0)) << 2;
            self.f_hlen_tcp.next = self.f_hlen.val() + 20;
            self.f_hlen_udp.next = self.f_hlen.val() + 8;
            self.f_end.next =
                bit_cast::<17, 16>(self.f_tlen.val()) + bit_cast::<17, 8>(self.f_l3.val());
            self.f_len17.next = bit_cast::<17, 16>(self.len_q.q.val());
            self.f_ipv4.next = (self.f_etype.val() == 0x0800)
                && (self.f_vihl.val().get_bits::<4>(4) == 4)
                && (self.f_vihl.val().get_bits::<4>(0) >= 5)
                && (self.f_tlen.val() >= self.f_hlen.val())
                && (self.f_end.val() <= self.f_len17.val());
            // DF (bit 14) and the reserved bit do not make a fragment.
            self.f_frag.next =
                self.f_fragw.val().get_bit(13) || self.f_fragw.val().get_bits::<13>(0).any();
            self.f_tcp.next = self.f_ipv4.val()
                && !self.f_frag.val()
                && (self.f_proto.val() == 6)
                && (self.f_tlen.val() >= self.f_hlen_tcp.val());
            self.f_udp.next = self.f_ipv4.val()
                && !self.f_frag.val()
                && (self.f_proto.val() == 17)
                && (self.f_tlen.val() >= self.f_hlen_udp.val());
        }
        self.o_valid.d.next = self.done.q.val();
        if self.done.q.val() {
            self.o_len.d.next = self.len_q.q.val();
            self.o_vlan.d.next = self.vlan_q.q.val();
            self.o_tci.d.next = 0.into();
            if self.vlan_q.q.val() {
                self.o_tci.d.next = (bit_cast::<16, 8>(self.w1.q.val().get_bits::<8>(48)) << 8)
                    | bit_cast::<16, 8>(self.w1.q.val().get_bits::<8>(56));
            }
            self.o_l3.d.next = self.f_l3.val();
            self.o_ipv4.d.next = self.f_ipv4.val();
            self.o_ihl.d.next = 0.into();
            self.o_tlen.d.next = 0.into();
            self.o_proto.d.next = 0.into();
            self.o_frag.d.next = false;
            self.o_src.d.next = 0.into();
            self.o_dst.d.next = 0.into();
            if self.f_ipv4.val() {
                self.o_ihl.d.next = self.f_vihl.val().get_bits::<4>(0);
                self.o_tlen.d.next = self.f_tlen.val();
                self.o_proto.d.next = self.f_proto.val();
                self.o_frag.d.next = self.f_frag.val();
                self.o_src.d.next = self.f_src.val();
                self.o_dst.d.next = self.f_dst.val();
            }
            self.o_tcp.d.next = self.f_tcp.val();
            self.o_udp.d.next = self.f_udp.val();
            self.o_sport.d.next = 0.into();
            self.o_dport.d.next = 0.into();
            if self.f_tcp.val() || self.f_udp.val() {
                self.o_sport.d.next = (bit_cast::<16, 8>(self.ports_q.q.val().get_bits::<8>(0))
                    << 8)
                    | bit_cast::<16, 8>(self.ports_q.q.val().get_bits::<8>(8));
                self.o_dport.d.next = (bit_cast::<16, 8>(self.ports_q.q.val().get_bits::<8>(16))
                    << 8)
                    | bit_cast::<16, 8>(self.ports_q.q.val().get_bits::<8>(24));
            }
            self.o_uzero.d.next = self.f_udp.val() && (self.ucsum_q.q.val() == 0);
        }
        self.meta_valid.next = self.o_valid.q.val();
        self.frame_len.next = self.o_len.q.val();
        self.vlan.next = self.o_vlan.q.val();
        self.vlan_tci.next = self.o_tci.q.val();
        self.l3_offset.next = self.o_l3.q.val();
        self.is_ipv4.next = self.o_ipv4.q.val();
        self.ihl.next = self.o_ihl.q.val();
        self.ip_total_len.next = self.o_tlen.q.val();
        self.proto.next = self.o_proto.q.val();
        self.is_fragment.next = self.o_frag.q.val();
        self.src_ip.next = self.o_src.q.val();
        self.dst_ip.next = self.o_dst.q.val();
        self.is_tcp.next = self.o_tcp.q.val();
        self.is_udp.next = self.o_udp.q.val();
        self.sport.next = self.o_sport.q.val();
        self.dport.next = self.o_dport.q.val();
        self.udp_csum_zero.next = self.o_uzero.q.val();
        self.live_word.next = self.word_now.val();
        self.live_vlan.next = self.vlan_q.q.val();
        self.live_l4_offset.next = self.l4_q.q.val();
        self.live_l3_end.next = self.l3_end_q.q.val();
    }

    fn connect(&mut self) {
        self.connect_driven();
    }

    fn hdl(&self) -> Verilog {
        crate::verilog::hand_written(RX_PARSE_VERILOG)
    }
}

impl RxParse {
    /// Marks what `update` drives (what `#[hdl_gen]` would derive from it).
    fn connect_driven(&mut self) {
        self.sink.ready.connect();
        for o in [
            &mut self.meta_valid,
            &mut self.vlan,
            &mut self.is_ipv4,
            &mut self.is_fragment,
            &mut self.is_tcp,
            &mut self.is_udp,
            &mut self.udp_csum_zero,
            &mut self.live_vlan,
        ] {
            o.connect();
        }
        for o in [
            &mut self.frame_len,
            &mut self.vlan_tci,
            &mut self.ip_total_len,
            &mut self.sport,
            &mut self.dport,
        ] {
            o.connect();
        }
        self.l3_offset.connect();
        self.proto.connect();
        self.live_l4_offset.connect();
        self.ihl.connect();
        self.src_ip.connect();
        self.dst_ip.connect();
        self.live_word.connect();
        self.live_l3_end.connect();
        with_dffs!(connect_dffs!(self,));
        self.word_now.connect();
        for b in &mut self.byte {
            b.connect();
        }
        self.data_m.connect();
        self.nbytes.connect();
        self.l4_p3.connect();
        self.l4_p6.connect();
        self.port_word.connect();
        self.ucsum_word.connect();
        self.f_l3.connect();
        self.f_etype.connect();
        self.f_vihl.connect();
        self.f_tlen.connect();
        self.f_fragw.connect();
        self.f_proto.connect();
        self.f_src.connect();
        self.f_dst.connect();
        self.f_hlen.connect();
        self.f_hlen_tcp.connect();
        self.f_hlen_udp.connect();
        self.f_end.connect();
        self.f_len17.connect();
        self.f_ipv4.connect();
        self.f_frag.connect();
        self.f_tcp.connect();
        self.f_udp.connect();
    }
}

/// [`RxParse`]'s Verilog, written by hand: all state in one clocked block, each register
/// written only in the cycles that change it (a word at its index, a frame's end), and the
/// finished frame's fields worked out inside `if (done)`. rust-hdl's Verilog of `update` set
/// every register's next value, every local and every field in every cycle, which a simulator
/// such as Verilator evaluates statement by statement.
const RX_PARSE_VERILOG: &str = "
reg mid = 0;
reg [12:0] word_q = 0;
reg [63:0] w1 = 0;
reg [63:0] w2 = 0;
reg [63:0] w3 = 0;
reg [63:0] w4 = 0;
reg [63:0] prev = 0;
reg vlan_q = 0;
reg [7:0] l4_q = 0;
reg [16:0] l3_end_q = 0;
reg [31:0] ports_q = 0;
reg [15:0] ucsum_q = 0;
reg [15:0] len_q = 0;
reg done = 0;
reg o_valid = 0;
reg [15:0] o_len = 0;
reg o_vlan = 0;
reg [15:0] o_tci = 0;
reg [7:0] o_l3 = 0;
reg o_ipv4 = 0;
reg [3:0] o_ihl = 0;
reg [15:0] o_tlen = 0;
reg [7:0] o_proto = 0;
reg o_frag = 0;
reg [31:0] o_src = 0;
reg [31:0] o_dst = 0;
reg o_tcp = 0;
reg o_udp = 0;
reg [15:0] o_sport = 0;
reg [15:0] o_dport = 0;
reg o_uzero = 0;
// Values worked out inside the clocked block (blocking; no state).
reg [63:0] data_m;
reg [7:0] l4_p3;
reg [7:0] l4_p6;
reg [7:0] f_l3;
reg [15:0] f_etype;
reg [7:0] f_vihl;
reg [15:0] f_tlen;
reg [15:0] f_fragw;
reg [7:0] f_proto;
reg [31:0] f_src;
reg [31:0] f_dst;
reg [15:0] f_hlen;
reg [16:0] f_end;
reg f_ipv4;
reg f_frag;
reg f_tcp;
reg f_udp;
wire [12:0] word_now = mid ? word_q : 13'd0;
assign sink$ready = 1'b1;
assign meta_valid = o_valid;
assign frame_len = o_len;
assign vlan = o_vlan;
assign vlan_tci = o_tci;
assign l3_offset = o_l3;
assign is_ipv4 = o_ipv4;
assign ihl = o_ihl;
assign ip_total_len = o_tlen;
assign proto = o_proto;
assign is_fragment = o_frag;
assign src_ip = o_src;
assign dst_ip = o_dst;
assign is_tcp = o_tcp;
assign is_udp = o_udp;
assign sport = o_sport;
assign dport = o_dport;
assign udp_csum_zero = o_uzero;
assign live_word = word_now;
assign live_vlan = vlan_q;
assign live_l4_offset = l4_q;
assign live_l3_end = l3_end_q;
always @(posedge clock) begin
    o_valid <= done;
    done <= 1'b0;
    // The finished frame, from its registered words (tagged layout = untagged + 4 bytes).
    if (done) begin
        if (vlan_q) begin
            f_l3 = 8'd18;
            f_etype = {w2[7:0], w2[15:8]};
            f_vihl = w2[23:16];
            f_tlen = {w2[39:32], w2[47:40]};
            f_fragw = {w3[7:0], w3[15:8]};
            f_proto = w3[31:24];
            f_src = {w4[15:0], w3[63:48]};
            f_dst = w4[47:16];
        end else begin
            f_l3 = 8'd14;
            f_etype = {w1[39:32], w1[47:40]};
            f_vihl = w1[55:48];
            f_tlen = {w2[7:0], w2[15:8]};
            f_fragw = {w2[39:32], w2[47:40]};
            f_proto = w2[63:56];
            f_src = w3[47:16];
            f_dst = {w4[15:0], w3[63:48]};
        end
        f_hlen = {10'h000, f_vihl[3:0], 2'b00};
        f_end = {1'b0, f_tlen} + {9'h000, f_l3};
        f_ipv4 = f_etype == 16'h0800 && f_vihl[7:4] == 4'd4 && f_vihl[3:0] >= 4'd5
            && f_tlen >= f_hlen && f_end <= {1'b0, len_q};
        // DF (bit 14) and the reserved bit do not make a fragment.
        f_frag = f_fragw[13] || f_fragw[12:0] != 13'h0000;
        f_tcp = f_ipv4 && !f_frag && f_proto == 8'd6 && f_tlen >= f_hlen + 16'd20;
        f_udp = f_ipv4 && !f_frag && f_proto == 8'd17 && f_tlen >= f_hlen + 16'd8;
        o_len <= len_q;
        o_vlan <= vlan_q;
        o_tci <= vlan_q ? {w1[55:48], w1[63:56]} : 16'h0000;
        o_l3 <= f_l3;
        o_ipv4 <= f_ipv4;
        o_ihl <= f_ipv4 ? f_vihl[3:0] : 4'h0;
        o_tlen <= f_ipv4 ? f_tlen : 16'h0000;
        o_proto <= f_ipv4 ? f_proto : 8'h00;
        o_frag <= f_ipv4 & f_frag;
        o_src <= f_ipv4 ? f_src : 32'h0;
        o_dst <= f_ipv4 ? f_dst : 32'h0;
        o_tcp <= f_tcp;
        o_udp <= f_udp;
        o_sport <= f_tcp | f_udp ? {ports_q[7:0], ports_q[15:8]} : 16'h0000;
        o_dport <= f_tcp | f_udp ? {ports_q[23:16], ports_q[31:24]} : 16'h0000;
        o_uzero <= f_udp && ucsum_q == 16'h0000;
    end
    if (sink$valid) begin
        // Bytes past `keep` carry junk; zeroing them makes a short frame read zero-padded.
        data_m = sink$data;
        if (sink$keep != 8'hff) begin
            if (!sink$keep[0]) data_m[7:0] = 8'h00;
            if (!sink$keep[1]) data_m[15:8] = 8'h00;
            if (!sink$keep[2]) data_m[23:16] = 8'h00;
            if (!sink$keep[3]) data_m[31:24] = 8'h00;
            if (!sink$keep[4]) data_m[39:32] = 8'h00;
            if (!sink$keep[5]) data_m[47:40] = 8'h00;
            if (!sink$keep[6]) data_m[55:48] = 8'h00;
            if (!sink$keep[7]) data_m[63:56] = 8'h00;
        end
        // In this block a register is read before it is written (else Verilator keeps a
        // shadow copy of it, copied twice every cycle).
        // The port bytes end in word (l4 + 3) / 8, the UDP checksum in (l4 + 6) / 8.
        l4_p3 = l4_q + 8'd3;
        l4_p6 = l4_q + 8'd6;
        if (word_now == {8'h00, l4_p3[7:3]}) begin
            if (l4_q[2]) ports_q <= {data_m[15:0], prev[63:48]};
            else ports_q <= data_m[47:16];
        end
        if (word_now == {8'h00, l4_p6[7:3]}) begin
            if (l4_q[2]) ucsum_q <= data_m[47:32];
            else ucsum_q <= data_m[15:0];
        end
        if (word_now == 13'd2) begin
            w2 <= data_m;
            if (vlan_q) begin
                l4_q <= {2'b00, data_m[19:16], 2'b00} + 8'd18;
                l3_end_q <= {1'b0, data_m[39:32], data_m[47:40]} + 17'd18;
            end else begin
                l3_end_q <= {1'b0, data_m[7:0], data_m[15:8]} + 17'd14;
            end
        end
        if (word_now == 13'd0) begin
            w1 <= 64'h0;
            w2 <= 64'h0;
            w3 <= 64'h0;
            w4 <= 64'h0;
            vlan_q <= 1'b0;
        end
        if (word_now == 13'd1) begin
            w1 <= data_m;
            vlan_q <= data_m[47:32] == 16'h0081;
            // Untagged guess; a tagged frame overwrites it with word 2.
            l4_q <= {2'b00, data_m[51:48], 2'b00} + 8'd14;
        end
        if (word_now == 13'd3) w3 <= data_m;
        if (word_now == 13'd4) w4 <= data_m;
        if (sink$last) begin
            mid <= 1'b0;
            done <= 1'b1;
            len_q <= {word_now, 3'b000} + {15'h0000, sink$keep[0]} + {15'h0000, sink$keep[1]}
                + {15'h0000, sink$keep[2]} + {15'h0000, sink$keep[3]} + {15'h0000, sink$keep[4]}
                + {15'h0000, sink$keep[5]} + {15'h0000, sink$keep[6]} + {15'h0000, sink$keep[7]};
        end else begin
            mid <= 1'b1;
            word_q <= word_now == 13'h1fff ? word_now : word_now + 13'd1;
        end
        prev <= data_m;
    end
end
";

crate::impl_set_inputs!(RxParse {
    clock,
    sink.data,
    sink.keep,
    sink.last,
    sink.user,
    sink.valid
});

/// Frames from [`crate::frame_gen::random_frame`] (payloads up to `max_payload` bytes), back to
/// back or with idle cycles between and inside them, as a stimulus on `sink$*`.
pub fn frame_stimulus(rng: &mut impl rand::Rng, cycles: usize, max_payload: usize) -> Stimulus {
    let mut frames = vec![];
    let mut words = 0;
    while words < cycles {
        let bytes = crate::frame_gen::random_frame(rng, max_payload);
        let n = bytes.len().div_ceil(8);
        let p_gap = [0.0, 0.0, 0.1, 0.4][rng.gen_range(0..4)];
        let gaps = random_gaps(rng, n, p_gap);
        words += n + gaps.iter().sum::<usize>();
        frames.push(StreamFrame {
            bytes,
            gaps,
            with_first: vec![],
        });
    }
    let mut s = stream_plan(&frames, SINK, &[], rng).stimulus;
    s.truncate(cycles);
    s
}

/// Random frames of every kind [`crate::frame_gen::random_frame`] makes (payloads up to 256
/// bytes), back to back or with idle cycles, for `cycles` cycles; the same `seed` gives the same
/// stimulus.
pub fn random_stimulus(seed: u64, cycles: usize) -> Stimulus {
    use rand::SeedableRng;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    frame_stimulus(&mut rng, cycles, 256)
}

/// Verilog of the catalogue entry `oxnic_rx_parse`.
pub fn verilog() -> Result<String, crate::verilog::GenError> {
    let mut uut = RxParse::new();
    uut.connect_all();
    crate::verilog::generate_named(&uut, "oxnic_rx_parse")
}

/// The parse outputs of [`crate::rx_model::RxMeta`] as `(port, value)` pairs, for checking a
/// block's sampled outputs against the model.
pub fn expected_ports(m: &crate::rx_model::RxMeta) -> Vec<(&'static str, u64)> {
    vec![
        ("frame_len", u64::from(m.frame_len)),
        ("vlan", u64::from(m.vlan)),
        ("vlan_tci", u64::from(m.vlan_tci)),
        ("l3_offset", u64::from(m.l3_offset)),
        ("is_ipv4", u64::from(m.is_ipv4)),
        ("ihl", u64::from(m.ihl)),
        ("ip_total_len", u64::from(m.ip_total_len)),
        ("proto", u64::from(m.proto)),
        ("is_fragment", u64::from(m.is_fragment)),
        ("src_ip", u64::from(u32::from_le_bytes(m.src_ip))),
        ("dst_ip", u64::from(u32::from_le_bytes(m.dst_ip))),
        ("is_tcp", u64::from(m.is_tcp)),
        ("is_udp", u64::from(m.is_udp)),
        ("sport", u64::from(m.sport)),
        ("dport", u64::from(m.dport)),
        ("udp_csum_zero", u64::from(m.udp_csum_zero)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame_gen::{apply, arp_request, Defect, Ipv4Frame, L4};
    use crate::rx_model::classify;
    use crate::stream_stimulus::{decode_frames, run_stimulus};
    use crate::testbench::Bench;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    const WATCH: [&str; 17] = [
        "meta_valid",
        "frame_len",
        "vlan",
        "vlan_tci",
        "l3_offset",
        "is_ipv4",
        "ihl",
        "ip_total_len",
        "proto",
        "is_fragment",
        "src_ip",
        "dst_ip",
        "is_tcp",
        "is_udp",
        "sport",
        "dport",
        "udp_csum_zero",
    ];

    /// Runs `stimulus`, checks one `meta_valid` per frame exactly [`LATENCY`] cycles after its
    /// last word, with every field as the model has it, and no other. Returns the frames' models.
    fn check(stimulus: &Stimulus) -> Vec<crate::rx_model::RxMeta> {
        let frames = decode_frames(stimulus, SINK);
        let mut b = Bench::new(RxParse::new()).unwrap();
        let out = run_stimulus(&mut b, stimulus, &WATCH).unwrap();
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
    fn tcp_udp_vlan_and_options_back_to_back() {
        let mut frames = vec![];
        for vlan in [None, Some(0xa05c)] {
            for opts in [0usize, 4, 12, 40] {
                let mut t = Ipv4Frame::tcp([192, 168, 1, 2], [10, 9, 8, 7], 443, 51000, b"x");
                t.vlan_tci = vlan;
                t.options = vec![1; opts];
                frames.push(t.build());
                let mut u = Ipv4Frame::udp([1, 2, 3, 4], [5, 6, 7, 8], 53, 3333, &[7; 30]);
                u.vlan_tci = vlan;
                u.options = vec![1; opts];
                frames.push(u.build());
            }
        }
        let models = check(&plan(frames, 1));
        assert_eq!(models.len(), 16);
        for (i, m) in models.iter().enumerate() {
            assert!(m.is_ipv4 && (m.is_tcp == (i % 2 == 0)) && (m.is_udp == (i % 2 == 1)));
            assert_eq!(m.vlan, i >= 8);
        }
    }

    #[test]
    fn arp_fragments_runts_and_malformed_ipv4() {
        let base = Ipv4Frame::udp([10, 0, 0, 1], [10, 0, 0, 2], 7, 9, b"abcdefgh");
        let mut frag = base.clone();
        frag.more_fragments = true;
        let mut later = base.clone();
        later.fragment_offset = 3;
        let mut no_csum = base.clone();
        no_csum.l4 = L4::Udp {
            sport: 7,
            dport: 9,
            no_checksum: true,
        };
        let mut frames = vec![
            arp_request([2, 0, 0, 0, 0, 1], [10, 0, 0, 1], [10, 0, 0, 2], None),
            arp_request([2, 0, 0, 0, 0, 1], [10, 0, 0, 1], [10, 0, 0, 2], Some(3)),
            frag.build(),
            later.build(),
            no_csum.build(),
            vec![0x55],
            vec![0; 13],
            {
                let mut r = vec![0; 16];
                r[12] = 0x81;
                r
            },
        ];
        for d in [
            Defect::Ihl(4),
            Defect::Ihl(15),
            Defect::Version(6),
            Defect::TotalLength(19),
            Defect::TotalLength(27),
            Defect::TotalLength(47),
            Defect::TotalLength(500),
            Defect::Truncate(40),
            Defect::Truncate(33),
        ] {
            let mut f = base.build();
            apply(&mut f, d);
            frames.push(f);
        }
        let models = check(&plan(frames, 2));
        assert!(!models[0].is_ipv4 && models[1].vlan && !models[1].is_ipv4);
        assert!(models[2].is_fragment && !models[2].is_udp && models[3].is_fragment);
        assert!(models[4].udp_csum_zero);
        assert!(models[7].vlan, "a runt reads zeros past its end");
        // 19 < IHL*4; 27 = 20 + 7: IPv4, but the UDP header does not fit; 500 is too long.
        assert!(!models[11].is_ipv4 && !models[14].is_ipv4);
        assert!(models[12].is_ipv4 && !models[12].is_udp);
    }

    #[test]
    fn random_frames_with_gaps() {
        let s = random_stimulus(0xbeef, 4000);
        let models = check(&s);
        assert!(models.len() > 60, "{} frames", models.len());
        assert!(models.iter().any(|m| m.is_tcp) && models.iter().any(|m| m.is_udp));
        assert!(models.iter().any(|m| m.vlan && m.is_ipv4));
        assert!(models.iter().any(|m| m.is_fragment));
        assert!(models.iter().any(|m| !m.is_ipv4));
    }

    #[test]
    fn random_stimulus_is_reproducible() {
        let s = random_stimulus(3, 300);
        assert_eq!(s.len(), 300);
        assert_eq!(s, random_stimulus(3, 300));
        assert_ne!(s, random_stimulus(4, 300));
    }

    #[test]
    fn synthesizes_and_lints() {
        let v = verilog().unwrap();
        crate::synth::verilator_lint("oxnic_rx_parse", &v).unwrap();
        let r = crate::synth::yosys_synth("oxnic_rx_parse", &v).unwrap();
        eprintln!("oxnic_rx_parse: {} cells, {} flops", r.cells, r.flops);
        assert!(r.flops > 0 && r.cells > r.flops, "{r:?}");
    }
}
