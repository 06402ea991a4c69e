//! The card's receive classification: [`RxChecksum`] (which holds the [`crate::rx_parse`]
//! parser) and [`RxHash`] on one frame stream, with ONE `meta_valid` per frame and every result
//! aligned on it, so the RX engine can push one metadata record per frame into a FIFO beside
//! the frame FIFO. Seed stage: everything the card writes into an RX completion besides the
//! buffer itself (flags, VLAN tag, checksum statuses, CHECKSUM_COMPLETE, RSS hash and type) and
//! the RX queue the frame goes to.
//!
//! # Timing
//! The parser and checksums answer [`crate::rx_checksum::LATENCY`] cycles after a frame's last
//! word; their fields feed the RSS hash, which answers [`crate::rx_hash::LATENCY`] cycles later.
//! The checksum results wait in a three-stage delay line beside the hash, so everything appears
//! together [`LATENCY`] cycles after the last word. One frame per cycle can be in any stage: a
//! stream of one-word frames gets one `meta_valid` per cycle.

use crate::rx_checksum::RxChecksum;
use crate::rx_hash::RxHash;
use crate::stream::StreamSink;
use crate::stream_stimulus::{random_gaps, stream_plan, StreamFrame, SINK};
use crate::testbench::Stimulus;
use rust_hdl::prelude::*;

/// Cycles from the rising edge that accepts a frame's last word to the edge after which
/// `meta_valid` and every result show that frame.
pub const LATENCY: usize = crate::rx_checksum::LATENCY + crate::rx_hash::LATENCY;

/// Receive classification: parse, checksums and RSS of each frame, aligned.
///
/// Inputs:
/// - `clock`: all registers are on its rising edge;
/// - `sink`: the received frame without FCS, watched only (`sink$ready` is always high);
/// - `key`, `hash_types`, `enable`, `reta`, `default_queue`: the RSS configuration, as
///   [`RxHash`] takes it (key, types and enable sampled [`crate::rx_checksum::LATENCY`] cycles
///   after the frame's last word, the table and default queue two cycles after that).
///
/// Outputs (they change only with a `meta_valid` pulse and hold until the next one):
/// - `meta_valid`: high for one cycle, [`LATENCY`] cycles after each frame's last word;
/// - `frame_len`, `vlan`, `vlan_tci`, `is_ipv4`, `is_fragment`, `is_tcp`, `is_udp`: as
///   [`crate::rx_parse::RxParse`] reports them (the completion's flags and VLAN field);
/// - `ip_csum`, `l4_csum`, `csum_complete`: as [`RxChecksum`] reports them;
/// - `hash`, `hash_type`, `rx_queue`: as [`RxHash`] reports them.
#[derive(LogicBlock, Debug)]
pub struct RxClassify {
    /// Clock for every register.
    pub clock: Signal<In, Clock>,
    /// The received frame; never back-pressured.
    pub sink: StreamSink<64, 8>,
    /// Toeplitz key, byte 0 in bits 7:0.
    pub key: Signal<In, Bits<320>>,
    /// Enabled hash types (`oxnic_abi::regs::hash_types`).
    pub hash_types: Signal<In, Bits<3>>,
    /// RSS enabled.
    pub enable: Signal<In, Bit>,
    /// Indirection table, entry `i` in bits `8i+7:8i`.
    pub reta: Signal<In, Bits<1024>>,
    /// Queue of frames that are not hashed.
    pub default_queue: Signal<In, Bits<8>>,
    /// Strobe: every output below is the frame that ended [`LATENCY`] cycles ago.
    pub meta_valid: Signal<Out, Bit>,
    /// Frame length in bytes.
    pub frame_len: Signal<Out, Bits<16>>,
    /// An 802.1Q tag is present.
    pub vlan: Signal<Out, Bit>,
    /// Tag control information.
    pub vlan_tci: Signal<Out, Bits<16>>,
    /// IPv4 for offload purposes.
    pub is_ipv4: Signal<Out, Bit>,
    /// An IPv4 fragment.
    pub is_fragment: Signal<Out, Bit>,
    /// Non-fragment TCP.
    pub is_tcp: Signal<Out, Bit>,
    /// Non-fragment UDP.
    pub is_udp: Signal<Out, Bit>,
    /// IPv4 header checksum status.
    pub ip_csum: Signal<Out, Bits<2>>,
    /// TCP/UDP checksum status.
    pub l4_csum: Signal<Out, Bits<2>>,
    /// CHECKSUM_COMPLETE value.
    pub csum_complete: Signal<Out, Bits<16>>,
    /// RSS hash (0 when not hashed).
    pub hash: Signal<Out, Bits<32>>,
    /// RSS hash type code.
    pub hash_type: Signal<Out, Bits<2>>,
    /// RX queue.
    pub rx_queue: Signal<Out, Bits<8>>,
    /// Parser and checksums.
    check: RxChecksum,
    /// RSS.
    rss: RxHash,
    /// The checksum stage's results, packed, in a delay line beside the hash.
    d1: DFF<Bits<64>>,
    d2: DFF<Bits<64>>,
    /// Held from one frame to the next.
    d3: DFF<Bits<64>>,
    /// The delay line's stages hold a frame.
    v1: DFF<Bit>,
    v2: DFF<Bit>,
    /// The checksum stage's results packed: length 15:0, TCI 31:16, complete sum 47:32,
    /// statuses 51:48, flags 56:52 (vlan, ipv4, fragment, tcp, udp).
    pack: Signal<Local, Bits<64>>,
}

impl RxClassify {
    /// Builds the block.
    pub fn new() -> Self {
        RxClassify {
            clock: Default::default(),
            sink: Default::default(),
            key: Default::default(),
            hash_types: Default::default(),
            enable: Default::default(),
            reta: Default::default(),
            default_queue: Default::default(),
            meta_valid: Default::default(),
            frame_len: Default::default(),
            vlan: Default::default(),
            vlan_tci: Default::default(),
            is_ipv4: Default::default(),
            is_fragment: Default::default(),
            is_tcp: Default::default(),
            is_udp: Default::default(),
            ip_csum: Default::default(),
            l4_csum: Default::default(),
            csum_complete: Default::default(),
            hash: Default::default(),
            hash_type: Default::default(),
            rx_queue: Default::default(),
            check: RxChecksum::new(),
            rss: RxHash::new(),
            d1: Default::default(),
            d2: Default::default(),
            d3: Default::default(),
            v1: Default::default(),
            v2: Default::default(),
            pack: Default::default(),
        }
    }
}

impl Default for RxClassify {
    fn default() -> Self {
        Self::new()
    }
}

impl Logic for RxClassify {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, d1, d2, d3, v1, v2);
        clock!(self, clock, check, rss);
        self.check.sink.data.next = self.sink.data.val();
        self.check.sink.keep.next = self.sink.keep.val();
        self.check.sink.last.next = self.sink.last.val();
        self.check.sink.user.next = self.sink.user.val();
        self.check.sink.valid.next = self.sink.valid.val();
        self.sink.ready.next = true;
        self.rss.frame_valid.next = self.check.meta_valid.val();
        self.rss.is_ipv4.next = self.check.is_ipv4.val();
        self.rss.is_fragment.next = self.check.is_fragment.val();
        self.rss.is_tcp.next = self.check.is_tcp.val();
        self.rss.is_udp.next = self.check.is_udp.val();
        self.rss.src_ip.next = self.check.src_ip.val();
        self.rss.dst_ip.next = self.check.dst_ip.val();
        self.rss.sport.next = self.check.sport.val();
        self.rss.dport.next = self.check.dport.val();
        self.rss.key.next = self.key.val();
        self.rss.hash_types.next = self.hash_types.val();
        self.rss.enable.next = self.enable.val();
        self.rss.reta.next = self.reta.val();
        self.rss.default_queue.next = self.default_queue.val();
        // A stage loads only with a frame's record (the hash pipeline beside it says when the
        // record leaves), so a simulator does no work between frames and the outputs hold.
        self.pack.next = 0.into();
        if self.check.meta_valid.val() {
            self.pack.next = bit_cast::<64, 16>(self.check.frame_len.val())
                | (bit_cast::<64, 16>(self.check.vlan_tci.val()) << 16)
                | (bit_cast::<64, 16>(self.check.csum_complete.val()) << 32)
                | (bit_cast::<64, 2>(self.check.ip_csum.val()) << 48)
                | (bit_cast::<64, 2>(self.check.l4_csum.val()) << 50)
                | (bit_cast::<64, 1>(self.check.vlan.val().into()) << 52)
                | (bit_cast::<64, 1>(self.check.is_ipv4.val().into()) << 53)
                | (bit_cast::<64, 1>(self.check.is_fragment.val().into()) << 54)
                | (bit_cast::<64, 1>(self.check.is_tcp.val().into()) << 55)
                | (bit_cast::<64, 1>(self.check.is_udp.val().into()) << 56);
            self.d1.d.next = self.pack.val();
        }
        self.v1.d.next = self.check.meta_valid.val();
        if self.v1.q.val() {
            self.d2.d.next = self.d1.q.val();
        }
        self.v2.d.next = self.v1.q.val();
        if self.v2.q.val() {
            self.d3.d.next = self.d2.q.val();
        }
        self.meta_valid.next = self.rss.hash_valid.val();
        self.frame_len.next = self.d3.q.val().get_bits::<16>(0);
        self.vlan_tci.next = self.d3.q.val().get_bits::<16>(16);
        self.csum_complete.next = self.d3.q.val().get_bits::<16>(32);
        self.ip_csum.next = self.d3.q.val().get_bits::<2>(48);
        self.l4_csum.next = self.d3.q.val().get_bits::<2>(50);
        self.vlan.next = self.d3.q.val().get_bit(52);
        self.is_ipv4.next = self.d3.q.val().get_bit(53);
        self.is_fragment.next = self.d3.q.val().get_bit(54);
        self.is_tcp.next = self.d3.q.val().get_bit(55);
        self.is_udp.next = self.d3.q.val().get_bit(56);
        self.hash.next = self.rss.hash.val();
        self.hash_type.next = self.rss.hash_type.val();
        self.rx_queue.next = self.rss.rx_queue.val();
    }
}

crate::impl_set_inputs!(RxClassify {
    clock,
    sink.data,
    sink.keep,
    sink.last,
    sink.user,
    sink.valid,
    key,
    hash_types,
    enable,
    reta,
    default_queue
});

/// The outputs the models predict for a frame classified as `m` and hashed as `r`.
pub fn expected_ports(
    m: &crate::rx_model::RxMeta,
    r: &crate::rx_model::Rss,
) -> Vec<(&'static str, u64)> {
    vec![
        ("frame_len", u64::from(m.frame_len)),
        ("vlan", u64::from(m.vlan)),
        ("vlan_tci", u64::from(m.vlan_tci)),
        ("is_ipv4", u64::from(m.is_ipv4)),
        ("is_fragment", u64::from(m.is_fragment)),
        ("is_tcp", u64::from(m.is_tcp)),
        ("is_udp", u64::from(m.is_udp)),
        ("ip_csum", m.ip_csum as u64),
        ("l4_csum", m.l4_csum as u64),
        ("csum_complete", u64::from(m.csum_complete)),
        ("hash", u64::from(r.hash)),
        ("hash_type", r.hash_type as u64),
        ("rx_queue", u64::from(r.queue)),
    ]
}

/// Serialises `frames` with their idle cycles; a frame with a configuration sets it with its
/// first word, after enough idle cycles that no earlier frame is still being classified.
pub fn plan(
    frames: Vec<(Vec<u8>, Vec<usize>, Option<crate::rx_model::RssConfig>)>,
    rng: &mut impl rand::Rng,
) -> Stimulus {
    let frames: Vec<StreamFrame> = frames
        .into_iter()
        .map(|(bytes, mut gaps, cfg)| {
            let mut with_first = vec![];
            if let Some(cfg) = cfg {
                with_first = crate::rx_hash::config_inputs(&cfg);
                if gaps.is_empty() {
                    gaps.push(0);
                }
                gaps[0] = gaps[0].max(LATENCY + 2);
            }
            StreamFrame {
                bytes,
                gaps,
                with_first,
            }
        })
        .collect();
    stream_plan(&frames, SINK, &[], rng).stimulus
}

/// Frames of every kind [`crate::frame_gen::random_frame`] makes (payloads up to 256 bytes),
/// back to back or with idle cycles, under a random RSS configuration that changes every fifteen
/// frames or so, for `cycles` cycles; the same `seed` gives the same stimulus.
pub fn random_stimulus(seed: u64, cycles: usize) -> Stimulus {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut frames = vec![];
    let mut words = 0;
    while words < cycles {
        let bytes = crate::frame_gen::random_frame(&mut rng, 256);
        let n = bytes.len().div_ceil(8);
        let p_gap = [0.0, 0.0, 0.1, 0.4][rng.gen_range(0..4)];
        let gaps = random_gaps(&mut rng, n, p_gap);
        let cfg = (frames.is_empty() || rng.gen_ratio(1, 15))
            .then(|| crate::rx_hash::random_config(&mut rng));
        words += n + gaps.iter().sum::<usize>() + if cfg.is_some() { LATENCY + 2 } else { 0 };
        frames.push((bytes, gaps, cfg));
    }
    let mut s = plan(frames, &mut rng);
    s.truncate(cycles);
    s
}

/// Verilog of the catalogue entry `oxnic_rx_classify`.
pub fn verilog() -> Result<String, crate::verilog::GenError> {
    let mut uut = RxClassify::new();
    uut.connect_all();
    crate::verilog::generate_named(&uut, "oxnic_rx_classify")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame_gen::{Ipv4Frame, L4};
    use crate::rx_model::{classify, rss, RssConfig};
    use crate::stream_stimulus::{decode_frames, run_stimulus};
    use crate::testbench::Bench;
    use oxnic_abi::desc::HashType;
    use oxnic_abi::features::DEFAULT_RSS_KEY;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    /// Runs `stimulus` and checks one `meta_valid` per frame, [`LATENCY`] cycles after its last
    /// word, with every output as the models have it under the configuration in force. Returns
    /// the models' answers.
    fn check(stimulus: &Stimulus) -> Vec<(crate::rx_model::RxMeta, crate::rx_model::Rss)> {
        let frames = decode_frames(stimulus, SINK);
        let blank = expected_ports(&Default::default(), &rss(&Default::default(), &cfg0()));
        let names: Vec<&'static str> = std::iter::once("meta_valid")
            .chain(blank.into_iter().map(|(n, _)| n))
            .collect();
        let mut b = Bench::new(RxClassify::new()).unwrap();
        let out = run_stimulus(&mut b, stimulus, &names).unwrap();
        let mut expect = vec![None; stimulus.len() + LATENCY];
        let mut seen = vec![];
        for f in &frames {
            let m = classify(&f.bytes);
            let r = rss(&m, &crate::rx_hash::config_at(stimulus, f.last_cycle));
            expect[f.last_cycle + LATENCY - 1] = Some((m, r, f.bytes.clone()));
            seen.push((m, r));
        }
        for (c, o) in out.iter().enumerate() {
            match &expect[c] {
                Some((m, r, bytes)) => {
                    assert_eq!(o[0], 1, "no meta_valid in cycle {c}");
                    for (i, (name, want)) in expected_ports(m, r).into_iter().enumerate() {
                        assert_eq!(o[i + 1], want, "{name}, cycle {c}, frame {bytes:02x?}");
                    }
                }
                None => assert_eq!(o[0], 0, "spurious meta_valid in cycle {c}"),
            }
        }
        seen
    }

    fn cfg0() -> RssConfig {
        RssConfig {
            key: DEFAULT_RSS_KEY,
            hash_types: 7,
            enable: true,
            reta: core::array::from_fn(|i| (i % 16) as u8),
            default_queue: 99,
        }
    }

    /// Microsoft's RSS verification suite, IPv4 part: (destination, source, IPv4 hash,
    /// IPv4+TCP hash).
    type Endpoint = ([u8; 4], u16);
    const MS_VECTORS: [(Endpoint, Endpoint, u32, u32); 5] = [
        (
            ([161, 142, 100, 80], 1766),
            ([66, 9, 149, 187], 2794),
            0x323e_8fc2,
            0x51cc_c178,
        ),
        (
            ([65, 69, 140, 83], 4739),
            ([199, 92, 111, 2], 14230),
            0xd718_262a,
            0xc626_b0ea,
        ),
        (
            ([12, 22, 207, 184], 38024),
            ([24, 19, 198, 95], 12898),
            0xd2d0_a5de,
            0x5c2b_394a,
        ),
        (
            ([209, 142, 163, 6], 2217),
            ([38, 27, 205, 30], 48228),
            0x8298_9176,
            0xafc7_327f,
        ),
        (
            ([202, 188, 127, 2], 1303),
            ([153, 39, 163, 191], 44251),
            0x5d18_09c5,
            0x10e8_28a2,
        ),
    ];

    #[test]
    fn microsoft_vectors_end_to_end_through_frames() {
        // Each vector as a TCP frame (4-tuple hash), a tagged UDP frame with IPv4 options
        // (4-tuple: the same input), and an ICMP frame (2-tuple), back to back.
        let mut frames = vec![];
        let mut want = vec![];
        for ((dst, dport), (src, sport), h2, h4) in MS_VECTORS {
            let tcp = Ipv4Frame::tcp(src, dst, sport, dport, b"GET / HTTP/1.1\r\n");
            let mut udp = Ipv4Frame::udp(src, dst, sport, dport, b"q");
            udp.vlan_tci = Some(42);
            udp.options = vec![1, 1, 1, 0];
            let mut icmp = Ipv4Frame::udp(src, dst, 0, 0, &[8, 0, 0, 0, 0, 1, 0, 1]);
            icmp.l4 = L4::Other { proto: 1 };
            for (f, h, t) in [
                (tcp, h4, HashType::Ipv4Tcp),
                (udp, h4, HashType::Ipv4Udp),
                (icmp, h2, HashType::Ipv4),
            ] {
                let cfg = frames.is_empty().then(cfg0);
                frames.push((f.build(), vec![], cfg));
                want.push((h, t));
            }
        }
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let seen = check(&plan(frames, &mut rng));
        assert_eq!(seen.len(), want.len());
        for ((m, r), (h, t)) in seen.iter().zip(want) {
            assert_eq!((r.hash, r.hash_type), (h, t));
            assert_eq!(r.queue, (h % 16) as u8);
            assert_eq!(
                m.l4_csum == oxnic_abi::desc::CsumStatus::Ok,
                t != HashType::Ipv4
            );
        }
    }

    #[test]
    fn random_frames_and_configurations() {
        let s = random_stimulus(0xc1a5, 2500);
        let seen = check(&s);
        assert!(seen.len() > 40, "{} frames", seen.len());
        assert!(seen.iter().any(|(_, r)| r.hash_type == HashType::Ipv4Tcp));
        assert!(seen.iter().any(|(_, r)| r.hash_type == HashType::None));
    }

    #[test]
    fn synthesizes_and_lints() {
        let v = verilog().unwrap();
        crate::synth::verilator_lint("oxnic_rx_classify", &v).unwrap();
        let r = crate::synth::yosys_synth("oxnic_rx_classify", &v).unwrap();
        eprintln!("oxnic_rx_classify: {} cells, {} flops", r.cells, r.flops);
        assert!(r.flops > 0 && r.cells > r.flops, "{r:?}");
    }
}
