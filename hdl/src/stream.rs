//! The valid/ready stream interface every datapath block speaks, as a mirrored pair.
//!
//! A word moves when `valid` and `ready` are both high at a rising clock edge. `keep` has one bit
//! per data byte (byte 0 in bits 7:0 of `data`, enabled by bit 0 of `keep`); only the last word of
//! a frame may have a partial `keep`, and its enabled bytes are contiguous from byte 0. `last`
//! marks a frame's final word. `user` is the error bit: set on `last`, it marks the frame bad
//! (a packet FIFO drops such frames).
//!
//! Parameters:
//! - `W`: data width in bits (64 by default in the card; 512 must build);
//! - `K`: `keep` width, `W / 8` (rust-hdl cannot compute it from `W` on stable Rust).

use rust_hdl::prelude::*;

/// The sending side of a stream (a block's output port).
#[derive(LogicInterface, Clone, Debug, Default)]
#[join = "StreamSink"]
pub struct StreamSource<const W: usize, const K: usize> {
    /// Data word.
    pub data: Signal<Out, Bits<W>>,
    /// Byte enables, one bit per data byte.
    pub keep: Signal<Out, Bits<K>>,
    /// Last word of a frame.
    pub last: Signal<Out, Bit>,
    /// Error bit, meaningful with `last`.
    pub user: Signal<Out, Bit>,
    /// The word is valid.
    pub valid: Signal<Out, Bit>,
    /// The sink accepts a word this cycle.
    pub ready: Signal<In, Bit>,
}

/// The receiving side of a stream (a block's input port).
#[derive(LogicInterface, Clone, Debug, Default)]
#[join = "StreamSource"]
pub struct StreamSink<const W: usize, const K: usize> {
    /// Data word.
    pub data: Signal<In, Bits<W>>,
    /// Byte enables, one bit per data byte.
    pub keep: Signal<In, Bits<K>>,
    /// Last word of a frame.
    pub last: Signal<In, Bit>,
    /// Error bit, meaningful with `last`.
    pub user: Signal<In, Bit>,
    /// The word is valid.
    pub valid: Signal<In, Bit>,
    /// This block accepts a word this cycle.
    pub ready: Signal<Out, Bit>,
}

impl<const W: usize, const K: usize> StreamSource<W, K> {
    /// Marks the port's outputs driven, for a block whose `connect` is written out (a
    /// hand-written block's own output port).
    pub fn connect_outputs(&mut self) {
        self.data.connect();
        self.keep.connect();
        self.last.connect();
        self.user.connect();
        self.valid.connect();
    }
}

impl<const W: usize, const K: usize> StreamSink<W, K> {
    /// Marks the port's inputs driven, for a block whose `connect` is written out and that
    /// drives this sink of a child.
    pub fn connect_inputs(&mut self) {
        self.data.connect();
        self.keep.connect();
        self.last.connect();
        self.user.connect();
        self.valid.connect();
    }
}

/// One word of a stream as test benches and reference models see it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Word {
    /// Data bytes, byte 0 first; only the first `len` are meaningful.
    pub bytes: Vec<u8>,
    /// Number of enabled bytes.
    pub len: usize,
    /// Last word of the frame.
    pub last: bool,
    /// Error bit.
    pub user: bool,
}

/// Splits a frame into stream words of `width_bytes` bytes (the last one partial), with the
/// error bit on the last word.
pub fn frame_to_words(frame: &[u8], width_bytes: usize, error: bool) -> Vec<Word> {
    let n = frame.len().div_ceil(width_bytes).max(1);
    (0..n)
        .map(|i| {
            let chunk = frame.get(i * width_bytes..).unwrap_or(&[]);
            let chunk = &chunk[..chunk.len().min(width_bytes)];
            let mut bytes = chunk.to_vec();
            bytes.resize(width_bytes, 0);
            Word {
                bytes,
                len: chunk.len(),
                last: i + 1 == n,
                user: error && i + 1 == n,
            }
        })
        .collect()
}

/// `keep` mask for `len` enabled bytes.
pub fn keep_mask(len: usize) -> u128 {
    if len >= 128 {
        u128::MAX
    } else {
        (1u128 << len) - 1
    }
}

/// Port words (little-endian 64-bit, as [`crate::testbench`] uses) holding `bytes`, byte 0 in
/// bits 7:0 of the first word.
pub fn bytes_to_port(bytes: &[u8]) -> Vec<u64> {
    let mut words = vec![0u64; bytes.len().div_ceil(8).max(1)];
    for (i, b) in bytes.iter().enumerate() {
        words[i / 8] |= u64::from(*b) << (8 * (i % 8));
    }
    words
}

/// [`bytes_to_port`] for a word of at most `8 * N` bytes, without allocating: `N` port words
/// (a DMA word of `8 * N` bytes), the bytes past the slice zero.
pub fn bytes_to_words<const N: usize>(bytes: &[u8]) -> [u64; N] {
    let mut words = [0u64; N];
    for (w, c) in words.iter_mut().zip(bytes.chunks(8)) {
        let mut b = [0u8; 8];
        b[..c.len()].copy_from_slice(c);
        *w = u64::from_le_bytes(b);
    }
    words
}

/// The first `n` bytes held by port words (the inverse of [`bytes_to_port`]).
pub fn port_to_bytes(words: &[u64], n: usize) -> Vec<u8> {
    (0..n)
        .map(|i| (words.get(i / 8).copied().unwrap_or(0) >> (8 * (i % 8))) as u8)
        .collect()
}

/// How a test or stimulus drives `ready` on a block's output: the patterns that find
/// backpressure bugs (a word lost or repeated when `ready` drops).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backpressure {
    /// Always ready.
    Always,
    /// Never ready (a stalled consumer, to fill the block up).
    Never,
    /// Ready every other cycle.
    Alternating,
    /// Ready with probability `percent` / 100 each cycle.
    Random(u8),
}

impl Backpressure {
    /// All patterns, in the order tests and stimuli cycle through them.
    pub const ALL: [Backpressure; 5] = [
        Backpressure::Random(50),
        Backpressure::Always,
        Backpressure::Never,
        Backpressure::Alternating,
        Backpressure::Random(85),
    ];

    /// `ready` at `cycle`.
    pub fn ready(self, cycle: u64, rng: &mut impl rand::Rng) -> bool {
        match self {
            Backpressure::Always => true,
            Backpressure::Never => false,
            Backpressure::Alternating => cycle % 2 == 0,
            Backpressure::Random(p) => rng.gen_range(0..100u8) < p,
        }
    }
}

/// A random frame of `1..=max_len` bytes; lengths cover every `keep` pattern of the last word.
pub fn random_frame(rng: &mut impl rand::Rng, max_len: usize) -> Vec<u8> {
    let len = rng.gen_range(1..=max_len.max(1));
    (0..len).map(|_| rng.gen()).collect()
}

/// A well-behaved sender for closed-loop tests: offers queued words with random gaps in
/// `valid`, and once it offers a word it holds it, unchanged, until the block takes it.
#[derive(Debug, Clone, Default)]
pub struct Sender {
    words: std::collections::VecDeque<Word>,
    /// Chance in percent of an idle cycle between words.
    pub gap_percent: u8,
    offering: bool,
}

impl Sender {
    /// A sender with nothing queued that idles `gap_percent` % of the cycles it could send.
    pub fn new(gap_percent: u8) -> Self {
        Sender {
            gap_percent,
            ..Default::default()
        }
    }

    /// Queues a frame's words.
    pub fn push_frame(&mut self, words: impl IntoIterator<Item = Word>) {
        self.words.extend(words);
    }

    /// Words still to be taken.
    pub fn backlog(&self) -> usize {
        self.words.len()
    }

    /// This cycle's `sink$*` inputs; `None` when idle.
    pub fn drive(
        &mut self,
        rng: &mut impl rand::Rng,
    ) -> (Option<&Word>, Vec<(&'static str, Vec<u64>)>) {
        if !self.offering && !self.words.is_empty() {
            self.offering = rng.gen_range(0..100u8) >= self.gap_percent;
        }
        match self.words.front().filter(|_| self.offering) {
            None => (None, vec![("sink$valid", vec![0])]),
            Some(w) => (
                Some(w),
                vec![
                    ("sink$valid", vec![1]),
                    ("sink$data", bytes_to_port(&w.bytes)),
                    ("sink$keep", vec![keep_mask(w.len) as u64]),
                    ("sink$last", vec![u64::from(w.last)]),
                    ("sink$user", vec![u64::from(w.user)]),
                ],
            ),
        }
    }

    /// The block took the offered word at this cycle's edge.
    pub fn taken(&mut self) -> Word {
        self.offering = false;
        self.words
            .pop_front()
            .expect("taken() without an offered word")
    }
}

/// One cycle of a [`ClosedLoop`] run, as [`ClosedLoop::begin`] set it up.
#[cfg(test)]
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cycle {
    /// Cycle number.
    pub t: u64,
    /// The output's `ready` this cycle.
    pub ready: bool,
    /// The sender offers a word this cycle.
    pub offered: bool,
}

/// The closed-loop test driver the stream blocks' tests share: a [`Sender`] on the block's
/// `sink`, a schedule of [`Backpressure`] phases on its output's `ready`, and a cycle limit, so
/// that a block that hangs fails its test instead of running forever.
///
/// A cycle is [`ClosedLoop::begin`] (inputs set and settled; the test reads and checks the
/// outputs), then `sender.taken()` if the block took the offered word, then `bench.tick()`.
#[cfg(test)]
pub(crate) struct ClosedLoop<B> {
    /// The block under test.
    pub bench: crate::testbench::Bench<B>,
    /// The sender on its `sink`.
    pub sender: Sender,
    rng: rand_chacha::ChaCha8Rng,
    ready_port: &'static str,
    schedule: Vec<(Backpressure, u64)>,
    limit: u64,
}

#[cfg(test)]
impl<B: Block + crate::testbench::SetInputs> ClosedLoop<B> {
    /// Drives `uut` from `sender` (its frames already queued), with `ready_port` following
    /// `schedule` (`(pattern, cycles)` phases, then always ready). The run may take `slack`
    /// cycles plus `per_word` per queued word plus the schedule's length; [`ClosedLoop::begin`]
    /// fails the test after that. `seed` drives the sender's gaps and the random patterns.
    pub fn new(
        uut: B,
        ready_port: &'static str,
        sender: Sender,
        schedule: &[(Backpressure, u64)],
        (slack, per_word): (u64, u64),
        seed: u64,
    ) -> Self {
        use rand::SeedableRng;
        let limit =
            slack + per_word * sender.backlog() as u64 + schedule.iter().map(|s| s.1).sum::<u64>();
        ClosedLoop {
            bench: crate::testbench::Bench::new(uut).unwrap(),
            sender,
            rng: rand_chacha::ChaCha8Rng::seed_from_u64(seed),
            ready_port,
            schedule: schedule.to_vec(),
            limit,
        }
    }

    /// Sets this cycle's `sink` inputs and output `ready`, and settles the block.
    pub fn begin(&mut self) -> Cycle {
        let t = self.bench.cycle();
        assert!(t < self.limit, "stuck at cycle {t}");
        let mut elapsed = 0;
        let pattern = self
            .schedule
            .iter()
            .find(|(_, n)| {
                elapsed += n;
                t < elapsed
            })
            .map_or(Backpressure::Always, |p| p.0);
        let ready = pattern.ready(t, &mut self.rng);
        let (offer, sets) = self.sender.drive(&mut self.rng);
        let offered = offer.is_some();
        for (n, v) in sets {
            self.bench.set(n, &v).unwrap();
        }
        self.bench
            .set(self.ready_port, &[u64::from(ready)])
            .unwrap();
        self.bench.settle().unwrap();
        Cycle { t, ready, offered }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_words_are_the_port_words_padded() {
        let bytes: Vec<u8> = (1..=20).collect();
        for n in 0..=16 {
            let mut want = bytes_to_port(&bytes[..n]);
            want.resize(2, 0);
            assert_eq!(bytes_to_words::<2>(&bytes[..n]).to_vec(), want, "{n} bytes");
            assert_eq!(port_to_bytes(&want, n), &bytes[..n]);
        }
        // Bytes past the word's width are not taken.
        assert_eq!(bytes_to_words::<1>(&bytes), [bytes_to_port(&bytes)[0]]);
    }

    /// A wire-through: the smallest block that has both sides of the pair as ports.
    #[derive(LogicBlock, Default)]
    struct Passthrough {
        clock: Signal<In, Clock>,
        sink: StreamSink<64, 8>,
        source: StreamSource<64, 8>,
    }

    impl Logic for Passthrough {
        #[hdl_gen]
        fn update(&mut self) {
            self.source.data.next = self.sink.data.val();
            self.source.keep.next = self.sink.keep.val();
            self.source.last.next = self.sink.last.val();
            self.source.user.next = self.sink.user.val();
            self.source.valid.next = self.sink.valid.val();
            self.sink.ready.next = self.source.ready.val();
        }
    }

    #[test]
    fn words_split_and_mask() {
        let w = frame_to_words(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 8, true);
        assert_eq!(w.len(), 2);
        assert_eq!((w[0].len, w[0].last, w[0].user), (8, false, false));
        assert_eq!((w[1].len, w[1].last, w[1].user), (2, true, true));
        assert_eq!(&w[1].bytes[..2], &[9, 10]);
        assert_eq!(keep_mask(3), 0b111);
        assert_eq!(keep_mask(64), u64::MAX as u128);
        assert_eq!(frame_to_words(&[], 8, false).len(), 1);
    }

    #[test]
    fn interface_links_and_generates_verilog() {
        let mut p = Passthrough::default();
        p.connect_all();
        let v = crate::verilog::generate_named(&p, "oxnic_stream_pass").unwrap();
        assert!(v.contains("sink$data"), "{v}");
        assert!(v.contains("source$ready"), "{v}");
    }
}
