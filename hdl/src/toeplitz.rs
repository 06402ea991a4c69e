//! Toeplitz hash (Microsoft RSS) of an IPv4 2-tuple or 4-tuple under a programmable 40-byte
//! key, pipelined to take one tuple per cycle: the hash stage of `rx_hash`, whose low bits index
//! the RETA in `rx_queue_map`.
//!
//! Computes `oxnic_abi::toeplitz::hash(key, input)` for `input` = the first 8 (2-tuple) or 12
//! (4-tuple) bytes of `tuple`, laid out as `oxnic_abi::toeplitz::ipv4_4tuple` builds them:
//! source address, destination address, source port, destination port, network byte order.
//!
//! Byte order of the ports: byte `i` of `key` and of `tuple` is in bits `8i+7:8i`, like a stream
//! word — the RSS key registers concatenated (`KEY` word `w` in bits `32w+31:32w`), and the 12
//! tuple bytes exactly as they follow each other in the frame (from offset 26 of an untagged
//! IPv4 frame). A 2-tuple is the 4-tuple with the port bytes treated as zero, which hashes the
//! same as the 8-byte input because Toeplitz is linear.
//!
//! # How
//! Bit `31 - m` of the hash is the parity of the input bits ANDed with key bits `m..m+96` (both
//! counted from the most significant bit of byte 0). With bytes little-endian in the ports and
//! bits most-significant-first inside them, that key window is not one slice of `key` but two:
//! for `m = 8r + s`, input bit `c` of each byte takes key bit `c - s` of the same byte pair when
//! `c >= s` and of the next byte when `c < s`. So each hash bit is two AND-parity trees over
//! constant slices of the key (shifted up a byte so no slice starts below bit 0), with constant
//! masks selecting the `c >= s` and `c < s` bits of every input byte. Only key bytes 0..16 can
//! reach a 12-byte input; the rest of the 40-byte key is for IPv6 tuples and is not used here.
//!
//! Pipeline: the rising edge that takes a tuple registers the two parity words (`key` is sampled
//! with the tuple), the next edge registers their XOR. As in [`crate::crc32`], the parity bits are
//! packed into words by an OR of shifted bits written out by a macro, because rust-hdl has no
//! concatenation and a kernel cannot accumulate into a signal in a loop.

use crate::connect_dffs;
use crate::testbench::{FromWords, Stimulus};
use rust_hdl::prelude::*;

/// Cycles from the rising edge that takes a tuple to the edge after which `hash` and
/// `hash_valid` show its hash (two register stages).
pub const LATENCY: usize = 2;

/// Pipelined Toeplitz hasher for IPv4 tuples.
///
/// Inputs:
/// - `clock`: all registers are on its rising edge;
/// - `key`: the 40-byte RSS key, byte `i` in bits `8i+7:8i`; sampled with each tuple, so it may
///   change between any two tuples;
/// - `tuple`: source address, destination address, source port, destination port in network
///   byte order, byte `i` in bits `8i+7:8i`;
/// - `four_tuple`: hash all 12 bytes (TCP/UDP 4-tuple) when high, only the 8 address bytes when
///   low (the port bytes are then ignored);
/// - `tuple_valid`: a tuple is taken on every rising edge where it is high — one per cycle.
///
/// Outputs:
/// - `hash`: the Toeplitz hash of the tuple taken [`LATENCY`] edges earlier, as
///   `oxnic_abi::toeplitz::hash` returns it; held until the next hash;
/// - `hash_valid`: high for one cycle per tuple, when `hash` is that tuple's.
#[derive(LogicBlock, Debug)]
pub struct Toeplitz {
    /// Clock for every register.
    pub clock: Signal<In, Clock>,
    /// RSS key, byte 0 in bits 7:0.
    pub key: Signal<In, Bits<320>>,
    /// IPv4 tuple, byte 0 (first source address byte) in bits 7:0.
    pub tuple: Signal<In, Bits<96>>,
    /// Hash the ports too (4-tuple) rather than only the addresses.
    pub four_tuple: Signal<In, Bit>,
    /// `tuple` is to be hashed this cycle.
    pub tuple_valid: Signal<In, Bit>,
    /// Hash of the tuple taken [`LATENCY`] edges ago.
    pub hash: Signal<Out, Bits<32>>,
    /// `hash` is new this cycle.
    pub hash_valid: Signal<Out, Bit>,
    /// Stage 1: parities of the `c >= s` bits.
    part_high: DFF<Bits<32>>,
    /// Stage 1: parities of the `c < s` bits.
    part_low: DFF<Bits<32>>,
    /// Stage 1 holds a tuple.
    valid_1: DFF<Bit>,
    /// Stage 2: the hash.
    hash_q: DFF<Bits<32>>,
    /// Stage 2 holds a hash.
    valid_2: DFF<Bit>,
    /// The tuple with the port bytes zeroed for a 2-tuple.
    hashed: Signal<Local, Bits<96>>,
    /// Key bytes 0..16 shifted up one byte, so every window slice starts at a bit >= 0.
    window: Signal<Local, Bits<144>>,
    /// Parity of the `c >= s` bits for hash bit `j`.
    high_bit: [Signal<Local, Bit>; 32],
    /// Parity of the `c < s` bits for hash bit `j`.
    low_bit: [Signal<Local, Bit>; 32],
    /// `high_bit` packed.
    high_word: Signal<Local, Bits<32>>,
    /// `low_bit` packed.
    low_word: Signal<Local, Bits<32>>,
    /// Bits `c >= s` of every byte, at index `s`.
    high_mask: [Constant<Bits<96>>; 8],
    /// Bits `c < s` of every byte, at index `s`.
    low_mask: [Constant<Bits<96>>; 8],
    /// The address bytes of a tuple.
    addresses: Constant<Bits<96>>,
}

/// A 96-bit constant with `byte` repeated in each of its 12 bytes.
fn repeat_byte(byte: u8) -> Bits<96> {
    let w = u64::from_le_bytes([byte; 8]);
    Bits::<96>::from_words(&[w, w & 0xffff_ffff])
}

impl Toeplitz {
    /// Builds the block.
    pub fn new() -> Self {
        Toeplitz {
            clock: Default::default(),
            key: Default::default(),
            tuple: Default::default(),
            four_tuple: Default::default(),
            tuple_valid: Default::default(),
            hash: Default::default(),
            hash_valid: Default::default(),
            part_high: Default::default(),
            part_low: Default::default(),
            valid_1: Default::default(),
            hash_q: Default::default(),
            valid_2: Default::default(),
            hashed: Default::default(),
            window: Default::default(),
            high_bit: Default::default(),
            low_bit: Default::default(),
            high_word: Default::default(),
            low_word: Default::default(),
            high_mask: core::array::from_fn(|s| Constant::new(repeat_byte(0xffu8 << s))),
            low_mask: core::array::from_fn(|s| Constant::new(repeat_byte(!(0xffu8 << s)))),
            addresses: Constant::new(Bits::<96>::from_words(&[u64::MAX, 0])),
        }
    }
}

impl Default for Toeplitz {
    fn default() -> Self {
        Self::new()
    }
}

// The flip-flops, listed once for `update` and `connect`.
crate::dff_list!($ part_high, part_low, valid_1, hash_q, valid_2);

/// The kernel of [`Toeplitz`], with the packing of the parity bits written out for bits `$j`.
macro_rules! toeplitz_logic {
    ($($j:tt)*) => {
        impl Logic for Toeplitz {
            /// rust-hdl's simulation of the block; [`Logic::hdl`] is the same function written
            /// as Verilog.
            fn update(&mut self) {
                with_dffs!(dff_setup!(self, clock,));
                self.hashed.next = self.tuple.val() & self.addresses.val();
                if self.four_tuple.val() {
                    self.hashed.next = self.tuple.val();
                }
                self.window.next =
                    bit_cast::<144, 128>(self.key.val().get_bits::<128>(0)) << 8;
                // Hash bit 31 - (8r + s). Worked out only with a tuple (the 64 wide parities
                // are the block's whole cost in a simulator that evaluates it every cycle).
                for r in 0..4 {
                    for s in 0..8 {
                        self.high_bit[31 - 8 * r - s].next = false;
                        self.low_bit[31 - 8 * r - s].next = false;
                    }
                }
                if self.tuple_valid.val() {
                    for r in 0..4 {
                        for s in 0..8 {
                            self.high_bit[31 - 8 * r - s].next = (self.hashed.val()
                                & self.high_mask[s].val()
                                & self.window.val().get_bits::<96>(8 * r + 8 - s))
                            .xor();
                            self.low_bit[31 - 8 * r - s].next = (self.hashed.val()
                                & self.low_mask[s].val()
                                & self.window.val().get_bits::<96>(8 * r + 24 - s))
                            .xor();
                        }
                    }
                }
                self.high_word.next =
                    $((bit_cast::<32, 1>(self.high_bit[$j].val().into()) << $j))|*;
                self.low_word.next =
                    $((bit_cast::<32, 1>(self.low_bit[$j].val().into()) << $j))|*;
                self.valid_1.d.next = self.tuple_valid.val();
                if self.tuple_valid.val() {
                    self.part_high.d.next = self.high_word.val();
                    self.part_low.d.next = self.low_word.val();
                }
                self.valid_2.d.next = self.valid_1.q.val();
                if self.valid_1.q.val() {
                    self.hash_q.d.next = self.part_high.q.val() ^ self.part_low.q.val();
                }
                self.hash.next = self.hash_q.q.val();
                self.hash_valid.next = self.valid_2.q.val();
            }

            /// Marks what `update` drives (what `#[hdl_gen]` would derive from it).
            fn connect(&mut self) {
                self.hash.connect();
                self.hash_valid.connect();
                with_dffs!(connect_dffs!(self,));
                self.hashed.connect();
                self.window.connect();
                for b in self.high_bit.iter_mut().chain(self.low_bit.iter_mut()) {
                    b.connect();
                }
                self.high_word.connect();
                self.low_word.connect();
            }

            fn hdl(&self) -> Verilog {
                crate::verilog::hand_written(TOEPLITZ_VERILOG)
            }
        }
    };
}

/// [`Toeplitz`]'s Verilog, written by hand: the hash worked out inside the clocked block, only
/// on an edge that takes a tuple, as the textbook XOR of a 32-bit key window per set input bit.
/// (`update`'s parity trees, their masks and the packing of 64 parity bits were worked out by a
/// simulator in every cycle.) Stage 1 holds the hash of the address bytes and that of the port
/// bytes rather than `update`'s two parity halves, so each stage still has half the XOR depth;
/// the outputs are the same.
const TOEPLITZ_VERILOG: &str = "
reg [31:0] part_a = 0;
reg [31:0] part_p = 0;
reg valid_1 = 0;
reg [31:0] hash_q = 0;
reg valid_2 = 0;
// Worked out inside the clocked block (blocking; no state).
reg [39:0] k40;
reg [31:0] h;
integer b;
integer s;
assign hash = hash_q;
assign hash_valid = valid_2;
always @(posedge clock) begin
    valid_2 <= valid_1;
    if (valid_1) hash_q <= part_a ^ part_p;
    valid_1 <= tuple_valid;
    if (tuple_valid) begin
        // Input bit 8b + s (most significant first) is bit 7 - s of byte b; its key window is
        // the 32 key bits from bit s of key byte b on, inside key bytes b..b+4.
        h = 32'h0;
        for (b = 0; b < 12; b = b + 1) begin
            k40 = {key[8 * b +: 8], key[8 * b + 8 +: 8], key[8 * b + 16 +: 8],
                key[8 * b + 24 +: 8], key[8 * b + 32 +: 8]};
            for (s = 0; s < 8; s = s + 1) begin
                h = h ^ (k40[39 - s -: 32] & {32{tuple[8 * b + 7 - s]}});
            end
            // Bytes 0..7 are the addresses, 8..11 the ports (hashed only for a 4-tuple).
            if (b == 7) begin
                part_a <= h;
                h = 32'h0;
            end
        end
        part_p <= four_tuple ? h : 32'h0;
    end
end
";

toeplitz_logic!(0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31);

crate::impl_set_inputs!(Toeplitz {
    clock,
    key,
    tuple,
    four_tuple,
    tuple_valid
});

/// `key` as port words (little-endian 64-bit words, byte 0 first).
pub fn key_words(key: &[u8; oxnic_abi::features::RSS_KEY_LEN]) -> Vec<u64> {
    key.chunks(8)
        .map(|c| {
            let mut w = [0u8; 8];
            w[..c.len()].copy_from_slice(c);
            u64::from_le_bytes(w)
        })
        .collect()
}

/// A 12-byte tuple as port words.
pub fn tuple_words(tuple: &[u8; 12]) -> Vec<u64> {
    let mut w = [0u8; 16];
    w[..12].copy_from_slice(tuple);
    vec![
        u64::from_le_bytes(w[..8].try_into().unwrap_or_default()),
        u64::from_le_bytes(w[8..].try_into().unwrap_or_default()),
    ]
}

/// One tuple per cycle (idle cycles now and then, with junk on `tuple`), 2- and 4-tuples mixed,
/// under a random key that changes every few dozen cycles (the default key to begin with), for
/// `cycles` cycles; the same `seed` gives the same stimulus.
pub fn random_stimulus(seed: u64, cycles: usize) -> Stimulus {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut key = oxnic_abi::features::DEFAULT_RSS_KEY;
    (0..cycles)
        .map(|c| {
            let mut set = vec![];
            if c == 0 || rng.gen_ratio(1, 40) {
                if c > 0 {
                    rng.fill(&mut key[..]);
                }
                set.push(("key", key_words(&key)));
            }
            let tuple: [u8; 12] = rng.gen();
            set.push(("tuple", tuple_words(&tuple)));
            set.push(("four_tuple", vec![u64::from(rng.gen_bool(0.7))]));
            set.push(("tuple_valid", vec![u64::from(!rng.gen_ratio(1, 8))]));
            set
        })
        .collect()
}

/// What the reference model says the hash of the tuple offered on `cycle` of `stimulus` is, or
/// `None` if no tuple is offered then. The hash appears [`LATENCY`] cycles later.
pub fn reference_hash(stimulus: &Stimulus, cycle: usize) -> Option<u32> {
    if crate::stream_stimulus::value_at(stimulus, "tuple_valid", cycle)[0] & 1 == 0 {
        return None;
    }
    let kw = crate::stream_stimulus::value_at(stimulus, "key", cycle);
    let key: [u8; oxnic_abi::features::RSS_KEY_LEN] =
        core::array::from_fn(|i| kw.get(i / 8).map_or(0, |w| w.to_le_bytes()[i % 8]));
    let tw = crate::stream_stimulus::value_at(stimulus, "tuple", cycle);
    let bytes: Vec<u8> = tw.iter().flat_map(|w| w.to_le_bytes()).take(12).collect();
    let n = if crate::stream_stimulus::value_at(stimulus, "four_tuple", cycle)[0] & 1 != 0 {
        12
    } else {
        8
    };
    Some(oxnic_abi::toeplitz::hash(&key, &bytes[..n]))
}

/// Verilog of the catalogue entry `oxnic_toeplitz`.
pub fn verilog() -> Result<String, crate::verilog::GenError> {
    let mut uut = Toeplitz::new();
    uut.connect_all();
    crate::verilog::generate_named(&uut, "oxnic_toeplitz")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream_stimulus::run_stimulus;
    use crate::testbench::Bench;
    use oxnic_abi::features::{DEFAULT_RSS_KEY, RSS_KEY_LEN};
    use oxnic_abi::toeplitz::{hash, ipv4_4tuple};
    use rand::{Rng, SeedableRng};

    /// Runs `stimulus` and checks every cycle: a hash appears exactly [`LATENCY`] edges after each
    /// tuple, equal to the model's, and `hash_valid` is low otherwise. Returns the hashes checked.
    fn check(stimulus: &Stimulus) -> usize {
        let mut b = Bench::new(Toeplitz::new()).unwrap();
        let out = run_stimulus(&mut b, stimulus, &["hash", "hash_valid"]).unwrap();
        let mut n = 0;
        for (c, o) in out.iter().enumerate() {
            let expect = (c + 1 >= LATENCY)
                .then(|| reference_hash(stimulus, c + 1 - LATENCY))
                .flatten();
            match expect {
                Some(h) => {
                    assert_eq!((o[0] as u32, o[1]), (h, 1), "cycle {c}");
                    n += 1;
                }
                None => assert_eq!(o[1], 0, "spurious hash_valid in cycle {c}"),
            }
        }
        n
    }

    #[test]
    fn key_window_slices_match_the_model() {
        // The two-slice formula the kernel implements, in plain Rust, against the bitwise model.
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        for _ in 0..200 {
            let key: [u8; RSS_KEY_LEN] = core::array::from_fn(|_| rng.gen());
            let tuple: [u8; 12] = rng.gen();
            let t =
                u128::from_le_bytes(core::array::from_fn(|i| tuple.get(i).copied().unwrap_or(0)));
            let k = u128::from_le_bytes(key[..16].try_into().unwrap());
            let window = |off: usize| -> u128 {
                // bits off..off+96 of (k << 8) as a 144-bit value
                let lo = if off >= 8 {
                    k >> (off - 8)
                } else {
                    k << (8 - off)
                };
                lo & ((1u128 << 96) - 1)
            };
            let mut h = 0u32;
            for m in 0..32 {
                let (r, s) = (m / 8, m % 8);
                let high = u128::from_le_bytes([0xffu8 << s; 16]) & ((1 << 96) - 1);
                let low = !high & ((1 << 96) - 1);
                let p = (t & high & window(8 * r + 8 - s)).count_ones()
                    + (t & low & window(8 * r + 24 - s)).count_ones();
                h |= (p & 1) << (31 - m);
            }
            assert_eq!(h, hash(&key, &tuple));
        }
    }

    #[test]
    fn microsoft_vectors_one_per_cycle() {
        // Ten tuples on ten consecutive cycles (2-tuple and 4-tuple interleaved): ten hashes on
        // ten consecutive cycles, LATENCY edges later.
        let mut stim: Stimulus = vec![];
        let mut want = vec![];
        for (i, v) in oxnic_abi::toeplitz::MS_VECTORS.into_iter().enumerate() {
            let ((dst, dport), (src, sport), h2, h4) = (v.dst, v.src, v.ipv4, v.ipv4_tcp);
            let t = ipv4_4tuple(src, dst, sport, dport);
            for (four, h) in [(0, h2), (1, h4)] {
                let mut set = vec![
                    ("tuple", tuple_words(&t)),
                    ("four_tuple", vec![four]),
                    ("tuple_valid", vec![1]),
                ];
                if i == 0 && four == 0 {
                    set.push(("key", key_words(&DEFAULT_RSS_KEY)));
                }
                stim.push(set);
                want.push(h);
            }
        }
        for _ in 0..LATENCY {
            stim.push(vec![("tuple_valid", vec![0])]);
        }
        let mut b = Bench::new(Toeplitz::new()).unwrap();
        let out = run_stimulus(&mut b, &stim, &["hash", "hash_valid"]).unwrap();
        let got: Vec<u32> = out[LATENCY - 1..LATENCY - 1 + 10]
            .iter()
            .map(|o| {
                assert_eq!(o[1], 1);
                o[0] as u32
            })
            .collect();
        assert_eq!(got, want);
        assert_eq!(check(&stim), 10);
    }

    #[test]
    fn random_keys_and_tuples_every_cycle_and_with_gaps() {
        let s = random_stimulus(0x7065, 600);
        assert!(check(&s) > 450);
    }

    #[test]
    fn random_stimulus_is_reproducible() {
        let s = random_stimulus(3, 100);
        assert_eq!(s.len(), 100);
        assert_eq!(s, random_stimulus(3, 100));
        assert_ne!(s, random_stimulus(4, 100));
    }

    #[test]
    fn synthesizes_with_yosys() {
        let v = verilog().unwrap();
        let r = crate::synth::yosys_synth("oxnic_toeplitz", &v).unwrap();
        // Stage 1's two 32-bit words (the address bytes' hash and the port bytes'), the hash
        // and two valid bits.
        assert_eq!(r.flops, 32 + 32 + 32 + 2, "{r:?}");
    }
}
