//! Receive side scaling: the Toeplitz hash of a parsed frame's IPv4 2- or 4-tuple under the
//! programmable key, the hash type, and the RX queue from the indirection table. Seed stage:
//! the card's RSS, which keeps a flow on one queue and so on one poller.
//!
//! Which tuple (the `oxnic_abi::desc::HashType` code on `hash_type`):
//! - IPv4+TCP (2) or IPv4+UDP (3): the 4-tuple, for a non-fragment TCP/UDP frame when that
//!   type is enabled in `hash_types`;
//! - IPv4 (1): the address pair, for any other IPv4 frame when the IPv4 type is enabled
//!   (fragments and TCP/UDP whose 4-tuple type is off included);
//! - none (0): not IPv4, RSS disabled, or no enabled type applies. The hash is then 0 and the
//!   queue is `default_queue`; otherwise the queue is RETA entry `hash % 128`.
//!
//! # Timing
//! `key`, `hash_types` and `enable` are sampled with the frame strobe, `reta` and
//! `default_queue` two cycles later; they are register-file values that software changes
//! between frames, and a frame in flight while they change sees the new or the old value of
//! each, as on any card that does not quiesce RSS updates.

use crate::testbench::Stimulus;
use crate::toeplitz::Toeplitz;
use rust_hdl::prelude::*;

/// Cycles from the rising edge that takes `frame_valid` to the edge after which `hash_valid`
/// and the results show that frame: two in the Toeplitz block, one for the table look-up.
pub const LATENCY: usize = crate::toeplitz::LATENCY + 1;

/// RSS hash, hash type and queue of one parsed frame per cycle.
///
/// Inputs:
/// - `clock`: all registers are on its rising edge;
/// - `frame_valid`: the fields below describe a frame this cycle (one per cycle at most);
/// - `is_ipv4`, `is_fragment`, `is_tcp`, `is_udp`: the frame's flags as [`crate::rx_parse`]
///   reports them;
/// - `src_ip`, `dst_ip`: addresses, first wire byte in bits 7:0; `sport`, `dport`: port values;
/// - `key`: the 40-byte Toeplitz key, byte 0 in bits 7:0 (the RSS KEY registers in order);
/// - `hash_types`: `oxnic_abi::regs::hash_types` bits (IPv4, IPv4+TCP, IPv4+UDP);
/// - `enable`: RSS on; when off nothing is hashed and every frame goes to `default_queue`;
/// - `reta`: the 128-entry indirection table, entry `i` in bits `8i+7:8i` (the RETA registers
///   in order, four entries per word, entry 0 in bits 7:0);
/// - `default_queue`: the queue of frames that are not hashed.
///
/// Outputs (registered; they change only with a `hash_valid` pulse):
/// - `hash_valid`: high for one cycle, [`LATENCY`] cycles after each `frame_valid`;
/// - `hash`: the Toeplitz hash (0 when not hashed);
/// - `hash_type`: `HashType` code;
/// - `rx_queue`: the RX queue (not `queue`: Verilator mangles that name, a C++ identifier).
#[derive(LogicBlock, Debug)]
pub struct RxHash {
    /// Clock for every register.
    pub clock: Signal<In, Clock>,
    /// A frame's fields are on the inputs.
    pub frame_valid: Signal<In, Bit>,
    /// IPv4 for offload purposes.
    pub is_ipv4: Signal<In, Bit>,
    /// An IPv4 fragment.
    pub is_fragment: Signal<In, Bit>,
    /// Non-fragment TCP.
    pub is_tcp: Signal<In, Bit>,
    /// Non-fragment UDP.
    pub is_udp: Signal<In, Bit>,
    /// Source address, first wire byte in bits 7:0.
    pub src_ip: Signal<In, Bits<32>>,
    /// Destination address, first wire byte in bits 7:0.
    pub dst_ip: Signal<In, Bits<32>>,
    /// Source port.
    pub sport: Signal<In, Bits<16>>,
    /// Destination port.
    pub dport: Signal<In, Bits<16>>,
    /// Toeplitz key.
    pub key: Signal<In, Bits<320>>,
    /// Enabled hash types.
    pub hash_types: Signal<In, Bits<3>>,
    /// RSS enabled.
    pub enable: Signal<In, Bit>,
    /// Indirection table, 128 one-byte queue numbers.
    pub reta: Signal<In, Bits<1024>>,
    /// Queue of frames that are not hashed.
    pub default_queue: Signal<In, Bits<8>>,
    /// Strobe: the results below are new.
    pub hash_valid: Signal<Out, Bit>,
    /// Toeplitz hash.
    pub hash: Signal<Out, Bits<32>>,
    /// Hash type code.
    pub hash_type: Signal<Out, Bits<2>>,
    /// RX queue.
    pub rx_queue: Signal<Out, Bits<8>>,
    /// The hasher.
    toeplitz: Toeplitz,
    /// Hash type beside the Toeplitz pipeline's two stages.
    type_1: DFF<Bits<2>>,
    type_2: DFF<Bits<2>>,
    /// Registered results.
    o_valid: DFF<Bit>,
    o_hash: DFF<Bits<32>>,
    o_type: DFF<Bits<2>>,
    o_queue: DFF<Bits<8>>,
    /// The 4-tuple applies.
    four: Signal<Local, Bit>,
    /// Hash type of the frame on the inputs.
    htype: Signal<Local, Bits<2>>,
    /// Ports in wire byte order.
    sport_wire: Signal<Local, Bits<16>>,
    dport_wire: Signal<Local, Bits<16>>,
    /// Bit offset of the RETA entry.
    reta_bit: Signal<Local, Bits<10>>,
}

impl RxHash {
    /// Builds the block.
    pub fn new() -> Self {
        RxHash {
            clock: Default::default(),
            frame_valid: Default::default(),
            is_ipv4: Default::default(),
            is_fragment: Default::default(),
            is_tcp: Default::default(),
            is_udp: Default::default(),
            src_ip: Default::default(),
            dst_ip: Default::default(),
            sport: Default::default(),
            dport: Default::default(),
            key: Default::default(),
            hash_types: Default::default(),
            enable: Default::default(),
            reta: Default::default(),
            default_queue: Default::default(),
            hash_valid: Default::default(),
            hash: Default::default(),
            hash_type: Default::default(),
            rx_queue: Default::default(),
            toeplitz: Toeplitz::new(),
            type_1: Default::default(),
            type_2: Default::default(),
            o_valid: Default::default(),
            o_hash: Default::default(),
            o_type: Default::default(),
            o_queue: Default::default(),
            four: Default::default(),
            htype: Default::default(),
            sport_wire: Default::default(),
            dport_wire: Default::default(),
            reta_bit: Default::default(),
        }
    }
}

impl Default for RxHash {
    fn default() -> Self {
        Self::new()
    }
}

impl Logic for RxHash {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, type_1, type_2, o_valid, o_hash, o_type, o_queue);
        clock!(self, clock, toeplitz);
        self.four.next = self.enable.val()
            && self.is_ipv4.val()
            && !self.is_fragment.val()
            && ((self.is_tcp.val() && self.hash_types.val().get_bit(1))
                || (self.is_udp.val() && self.hash_types.val().get_bit(2)));
        self.htype.next = 0.into();
        if self.enable.val() && self.is_ipv4.val() && self.hash_types.val().get_bit(0) {
            self.htype.next = 1.into();
        }
        if self.four.val() {
            self.htype.next = 3.into();
            if self.is_tcp.val() && self.hash_types.val().get_bit(1) {
                self.htype.next = 2.into();
            }
        }
        self.sport_wire.next = (bit_cast::<16, 8>(self.sport.val().get_bits::<8>(0)) << 8)
            | bit_cast::<16, 8>(self.sport.val().get_bits::<8>(8));
        self.dport_wire.next = (bit_cast::<16, 8>(self.dport.val().get_bits::<8>(0)) << 8)
            | bit_cast::<16, 8>(self.dport.val().get_bits::<8>(8));
        self.toeplitz.key.next = self.key.val();
        self.toeplitz.tuple.next = 0.into();
        if self.frame_valid.val() {
            self.toeplitz.tuple.next = bit_cast::<96, 32>(self.src_ip.val())
                | (bit_cast::<96, 32>(self.dst_ip.val()) << 32)
                | (bit_cast::<96, 16>(self.sport_wire.val()) << 64)
                | (bit_cast::<96, 16>(self.dport_wire.val()) << 80);
        }
        self.toeplitz.four_tuple.next = self.four.val();
        self.toeplitz.tuple_valid.next = self.frame_valid.val();
        // The type rides beside the hash through the Toeplitz block's two stages.
        self.type_1.d.next = self.htype.val();
        self.type_2.d.next = self.type_1.q.val();
        self.reta_bit.next = bit_cast::<10, 7>(self.toeplitz.hash.val().get_bits::<7>(0)) << 3;
        self.o_valid.d.next = self.toeplitz.hash_valid.val();
        if self.toeplitz.hash_valid.val() {
            self.o_type.d.next = self.type_2.q.val();
            self.o_hash.d.next = 0.into();
            self.o_queue.d.next = self.default_queue.val();
            if self.type_2.q.val() != 0 {
                self.o_hash.d.next = self.toeplitz.hash.val();
                self.o_queue.d.next = self.reta.val().get_bits::<8>(self.reta_bit.val().index());
            }
        }
        self.hash_valid.next = self.o_valid.q.val();
        self.hash.next = self.o_hash.q.val();
        self.hash_type.next = self.o_type.q.val();
        self.rx_queue.next = self.o_queue.q.val();
    }
}

crate::impl_set_inputs!(RxHash {
    clock,
    frame_valid,
    is_ipv4,
    is_fragment,
    is_tcp,
    is_udp,
    src_ip,
    dst_ip,
    sport,
    dport,
    key,
    hash_types,
    enable,
    reta,
    default_queue
});

/// `reta` as port words (entry `i` in bits `8i+7:8i`).
pub fn reta_words(reta: &[u8; oxnic_abi::features::RETA_SIZE]) -> Vec<u64> {
    reta.chunks(8)
        .map(|c| u64::from_le_bytes(c.try_into().unwrap_or_default()))
        .collect()
}

/// The RSS configuration inputs for `cfg`, as stimulus entries.
pub fn config_inputs(cfg: &crate::rx_model::RssConfig) -> Vec<(&'static str, Vec<u64>)> {
    vec![
        ("key", crate::toeplitz::key_words(&cfg.key)),
        ("hash_types", vec![u64::from(cfg.hash_types & 7)]),
        ("enable", vec![u64::from(cfg.enable)]),
        ("reta", reta_words(&cfg.reta)),
        ("default_queue", vec![u64::from(cfg.default_queue)]),
    ]
}

/// A random RSS configuration: random key, table and default queue, RSS on seven times in
/// eight, each hash type on three times in four.
pub fn random_config(rng: &mut impl rand::Rng) -> crate::rx_model::RssConfig {
    let mut key = [0u8; oxnic_abi::features::RSS_KEY_LEN];
    rng.fill(&mut key[..]);
    let mut reta = [0u8; oxnic_abi::features::RETA_SIZE];
    rng.fill(&mut reta[..]);
    crate::rx_model::RssConfig {
        key,
        hash_types: (0..3).fold(0, |t, b| t | (u32::from(rng.gen_ratio(3, 4)) << b)),
        enable: rng.gen_ratio(7, 8),
        reta,
        default_queue: rng.gen(),
    }
}

/// The configuration in force on `cycle` of `stimulus` (each input as it stands that cycle).
pub fn config_at(stimulus: &Stimulus, cycle: usize) -> crate::rx_model::RssConfig {
    use crate::stream_stimulus::value_at;
    let bytes = |port: &str, n: usize| -> Vec<u8> {
        let w = value_at(stimulus, port, cycle);
        (0..n)
            .map(|i| w.get(i / 8).map_or(0, |x| x.to_le_bytes()[i % 8]))
            .collect()
    };
    let mut key = [0u8; oxnic_abi::features::RSS_KEY_LEN];
    key.copy_from_slice(&bytes("key", oxnic_abi::features::RSS_KEY_LEN));
    let mut reta = [0u8; oxnic_abi::features::RETA_SIZE];
    reta.copy_from_slice(&bytes("reta", oxnic_abi::features::RETA_SIZE));
    crate::rx_model::RssConfig {
        key,
        hash_types: value_at(stimulus, "hash_types", cycle)[0] as u32 & 7,
        enable: value_at(stimulus, "enable", cycle)[0] & 1 != 0,
        reta,
        default_queue: value_at(stimulus, "default_queue", cycle)[0] as u8,
    }
}

/// What the reference model says [`RxHash`] answers, [`LATENCY`] cycles later, for the frame
/// offered on `cycle` of `stimulus` (`None` if none is): key, types and enable as they stand on
/// that cycle, table and default queue two cycles later.
pub fn reference(stimulus: &Stimulus, cycle: usize) -> Option<crate::rx_model::Rss> {
    use crate::stream_stimulus::value_at;
    let bit = |p: &str| value_at(stimulus, p, cycle)[0] & 1 != 0;
    if !bit("frame_valid") {
        return None;
    }
    let word = |p: &str| value_at(stimulus, p, cycle)[0];
    let m = crate::rx_model::RxMeta {
        is_ipv4: bit("is_ipv4"),
        is_fragment: bit("is_fragment"),
        is_tcp: bit("is_tcp"),
        is_udp: bit("is_udp"),
        src_ip: (word("src_ip") as u32).to_le_bytes(),
        dst_ip: (word("dst_ip") as u32).to_le_bytes(),
        sport: word("sport") as u16,
        dport: word("dport") as u16,
        ..Default::default()
    };
    let mut cfg = config_at(stimulus, cycle);
    let late = config_at(stimulus, (cycle + 2).min(stimulus.len().saturating_sub(1)));
    cfg.reta = late.reta;
    cfg.default_queue = late.default_queue;
    Some(crate::rx_model::rss(&m, &cfg))
}

/// Parsed-frame fields on most cycles (every flag combination, the parser's usual ones most
/// often) under a configuration that changes every few dozen cycles, for `cycles` cycles; the
/// same `seed` gives the same stimulus.
pub fn random_stimulus(seed: u64, cycles: usize) -> Stimulus {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    (0..cycles)
        .map(|c| {
            let mut set = vec![];
            if c == 0 || rng.gen_ratio(1, 40) {
                set.extend(config_inputs(&random_config(&mut rng)));
            }
            let ipv4 = rng.gen_ratio(7, 8);
            let frag = ipv4 && rng.gen_ratio(1, 8);
            let l4 = rng.gen_range(0..3);
            // Mostly consistent flags, as the parser gives them; now and then anything.
            let (tcp, udp) = if rng.gen_ratio(1, 16) {
                (rng.gen(), rng.gen())
            } else {
                (ipv4 && !frag && l4 == 0, ipv4 && !frag && l4 == 1)
            };
            set.push(("frame_valid", vec![u64::from(!rng.gen_ratio(1, 5))]));
            set.push(("is_ipv4", vec![u64::from(ipv4)]));
            set.push(("is_fragment", vec![u64::from(frag)]));
            set.push(("is_tcp", vec![u64::from(tcp)]));
            set.push(("is_udp", vec![u64::from(udp)]));
            set.push(("src_ip", vec![u64::from(rng.gen::<u32>())]));
            set.push(("dst_ip", vec![u64::from(rng.gen::<u32>())]));
            set.push(("sport", vec![u64::from(rng.gen::<u16>())]));
            set.push(("dport", vec![u64::from(rng.gen::<u16>())]));
            set
        })
        .collect()
}

/// Verilog of the catalogue entry `oxnic_rx_hash`.
pub fn verilog() -> Result<String, crate::verilog::GenError> {
    let mut uut = RxHash::new();
    uut.connect_all();
    crate::verilog::generate_named(&uut, "oxnic_rx_hash")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream_stimulus::run_stimulus;
    use crate::testbench::Bench;
    use oxnic_abi::desc::HashType;
    use rand::SeedableRng;

    /// Runs `stimulus` and checks every cycle against [`reference`]. Returns the results checked.
    fn check(stimulus: &Stimulus) -> Vec<crate::rx_model::Rss> {
        let mut b = Bench::new(RxHash::new()).unwrap();
        let out = run_stimulus(
            &mut b,
            stimulus,
            &["hash_valid", "hash", "hash_type", "rx_queue"],
        )
        .unwrap();
        let mut seen = vec![];
        for (c, o) in out.iter().enumerate() {
            let want = (c + 1)
                .checked_sub(LATENCY)
                .and_then(|s| reference(stimulus, s));
            match want {
                Some(r) => {
                    assert_eq!(
                        (o[0], o[1] as u32, o[2] as u8, o[3] as u8),
                        (1, r.hash, r.hash_type as u8, r.queue),
                        "cycle {c}"
                    );
                    seen.push(r);
                }
                None => assert_eq!(o[0], 0, "spurious hash_valid in cycle {c}"),
            }
        }
        seen
    }

    #[test]
    fn hash_type_follows_flags_and_enables() {
        use oxnic_abi::regs::hash_types as ht;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let mut stim: Stimulus = vec![];
        let mut cfg = random_config(&mut rng);
        let cases = [
            // (enable, types, ipv4, frag, tcp, udp, expected)
            (true, 7, true, false, true, false, HashType::Ipv4Tcp),
            (true, 7, true, false, false, true, HashType::Ipv4Udp),
            (true, 7, true, true, false, false, HashType::Ipv4),
            (
                true,
                ht::IPV4 | ht::IPV4_UDP,
                true,
                false,
                true,
                false,
                HashType::Ipv4,
            ),
            (true, ht::IPV4_TCP, true, false, false, true, HashType::None),
            (true, 7, false, false, false, false, HashType::None),
            (false, 7, true, false, true, false, HashType::None),
        ];
        for (i, (en, types, ipv4, frag, tcp, udp, _)) in cases.into_iter().enumerate() {
            cfg.enable = en;
            cfg.hash_types = types;
            cfg.default_queue = 200 + i as u8;
            let mut set = config_inputs(&cfg);
            for (p, v) in [
                ("frame_valid", true),
                ("is_ipv4", ipv4),
                ("is_fragment", frag),
                ("is_tcp", tcp),
                ("is_udp", udp),
            ] {
                set.push((p, vec![u64::from(v)]));
            }
            set.push(("src_ip", vec![0x0403_020a]));
            set.push(("dst_ip", vec![0x0807_060a]));
            set.push(("sport", vec![1000 + i as u64]));
            set.push(("dport", vec![80]));
            stim.push(set);
            // Hold the configuration until the table look-up has used it.
            for _ in 0..LATENCY {
                stim.push(vec![("frame_valid", vec![0])]);
            }
        }
        let seen = check(&stim);
        assert_eq!(seen.len(), cases.len());
        for (i, (r, case)) in seen.iter().zip(cases).enumerate() {
            assert_eq!(r.hash_type, case.6, "case {i}");
            if r.hash_type == HashType::None {
                assert_eq!((r.hash, r.queue), (0, 200 + i as u8));
            }
        }
    }

    #[test]
    fn random_flags_keys_and_tables() {
        let s = random_stimulus(0x5eed, 1200);
        let seen = check(&s);
        assert!(seen.len() > 800);
        for t in [
            HashType::None,
            HashType::Ipv4,
            HashType::Ipv4Tcp,
            HashType::Ipv4Udp,
        ] {
            assert!(seen.iter().any(|r| r.hash_type == t), "{t:?}");
        }
    }

    #[test]
    fn synthesizes_and_lints() {
        let v = verilog().unwrap();
        crate::synth::verilator_lint("oxnic_rx_hash", &v).unwrap();
        let r = crate::synth::yosys_synth("oxnic_rx_hash", &v).unwrap();
        eprintln!("oxnic_rx_hash: {} cells, {} flops", r.cells, r.flops);
        assert!(r.flops > 0 && r.cells > r.flops, "{r:?}");
    }
}
