//! A store-and-forward packet FIFO: the RX buffer behind the MAC, where a frame must be
//! complete and good before anything downstream (parsing, DMA) may start on it.
//!
//! A frame becomes visible on `source` only after its `last` word has been written, and then
//! leaves whole: the FIFO never emits part of a frame. Frames are dropped whole, by rewinding the
//! write pointer to the end of the last complete frame, when:
//! - the error bit (`user`) is set on the frame's `last` word (a bad FCS, a runt ...); or
//! - a word arrives and the FIFO has no free slot for it (counting the slot freed by a word
//!   leaving on the same cycle). The rest of that frame, up to and including its `last` word, is
//!   discarded as it arrives. A frame longer than the FIFO (`2^A` words) therefore never fits
//!   and is always dropped this way.
//!
//! Each dropped frame adds one to `dropped_frames`, on the cycle the drop is decided (its `last`
//! word for an error, its first word that did not fit for an overflow).
//!
//! `sink.ready` is always high: the sender is a wire that cannot wait, so a full FIFO drops
//! (this is `port::RX_MISSED` in the register map), it never pushes back.
//!
//! Storage and read side are as in [`crate::stream_fifo`]: zero-initialised RAMs with a
//! registered read, first-word fall-through; a frame appears on `source` two cycles after its
//! `last` word was taken at the earliest, then streams one word per cycle under `source.ready`.
//!
//! Parameters:
//! - `W`: data width in bits;
//! - `K`: `keep` width, `W / 8`;
//! - `A`: log2 of the depth in words (the largest frame that fits is `2^A` words);
//! - `AP1`: `A + 1`, the width of `level` and of the pointers (rust-hdl cannot compute it).
//!
//! Inputs: `clock`, `sink.{data,keep,last,user,valid}`, `source.ready`.
//!
//! Outputs: `sink.ready` (always 1), `source.{data,keep,last,user,valid}` (`user` is always 0 on
//! a frame that leaves), and
//! - `level`: words stored, complete frames and the frame being written;
//! - `dropped_frames`: frames dropped, for an error or for lack of space. Wraps at 2^32;
//! - `frames_passed`: frames that left on `source` (counted on their `last` word). Wraps at 2^32;
//! - `frame_end`: high in the cycle a frame's `last` word is offered on `sink` (combinational),
//!   with `frame_kept` high when that frame is stored whole and will leave on `source`, low
//!   when it is dropped for either reason. Logic beside the FIFO that follows the same frames
//!   (the RX metadata of the card) uses them to keep or discard its own record of the frame.

use rust_hdl::prelude::*;
use std::collections::BTreeMap;

use crate::stream::{StreamSink, StreamSource};
use crate::testbench::Stimulus;

/// The packet FIFO; see the module documentation.
#[derive(LogicBlock)]
pub struct PacketFifo<const W: usize, const K: usize, const A: usize, const AP1: usize> {
    /// Clock; everything is synchronous to its rising edge.
    pub clock: Signal<In, Clock>,
    /// Frames in.
    pub sink: StreamSink<W, K>,
    /// Complete, good frames out.
    pub source: StreamSource<W, K>,
    /// Words stored.
    pub level: Signal<Out, Bits<AP1>>,
    /// Frames dropped.
    pub dropped_frames: Signal<Out, Bits<32>>,
    /// Frames that left on `source`.
    pub frames_passed: Signal<Out, Bits<32>>,
    /// A frame's last word is on `sink` this cycle.
    pub frame_end: Signal<Out, Bit>,
    /// With `frame_end`: the frame is kept.
    pub frame_kept: Signal<Out, Bit>,
    data_ram: RAM<Bits<W>, A>,
    keep_ram: RAM<Bits<K>, A>,
    last_ram: RAM<Bit, A>,
    // Pointers carry one bit more than the RAM address so that full and empty differ.
    write_ptr: DFF<Bits<AP1>>,
    // End of the last complete good frame: the reader never passes it.
    commit_ptr: DFF<Bits<AP1>>,
    read_ptr: DFF<Bits<AP1>>,
    // The RAM's read register holds the word at `read_ptr`.
    head_valid: DFF<Bit>,
    // Discarding the rest of a frame that overflowed.
    dropping: DFF<Bit>,
    dropped: DFF<Bits<32>>,
    passed: DFF<Bits<32>>,
    count: Signal<Local, Bits<AP1>>,
    pop: Signal<Local, Bit>,
    fits: Signal<Local, Bit>,
    store: Signal<Local, Bit>,
    next_read: Signal<Local, Bits<AP1>>,
    depth: Constant<Bits<AP1>>,
}

impl<const W: usize, const K: usize, const A: usize, const AP1: usize> Default
    for PacketFifo<W, K, A, AP1>
{
    fn default() -> Self {
        assert_eq!(AP1, A + 1, "AP1 must be A + 1");
        assert_eq!(K * 8, W, "K must be W / 8");
        assert!((1..=16).contains(&A), "depth must be 2..=65536 words");
        fn zeroed<D: Synth, const A: usize>() -> RAM<D, A> {
            let init: BTreeMap<Bits<A>, D> = (0..1u64 << A)
                .map(|a| (Bits::<A>::from(a), D::default()))
                .collect();
            RAM::new(init)
        }
        Self {
            clock: Default::default(),
            sink: Default::default(),
            source: Default::default(),
            level: Default::default(),
            dropped_frames: Default::default(),
            frames_passed: Default::default(),
            frame_end: Default::default(),
            frame_kept: Default::default(),
            data_ram: zeroed(),
            keep_ram: zeroed(),
            last_ram: zeroed(),
            write_ptr: Default::default(),
            commit_ptr: Default::default(),
            read_ptr: Default::default(),
            head_valid: Default::default(),
            dropping: Default::default(),
            dropped: Default::default(),
            passed: Default::default(),
            count: Default::default(),
            pop: Default::default(),
            fits: Default::default(),
            store: Default::default(),
            next_read: Default::default(),
            depth: Constant::new(Bits::<AP1>::from(1u64 << A)),
        }
    }
}

impl<const W: usize, const K: usize, const A: usize, const AP1: usize> Logic
    for PacketFifo<W, K, A, AP1>
{
    /// The behaviour, for rust-hdl's simulator. The Verilog ([`Logic::hdl`]) is written out
    /// by hand with the same behaviour; the FIFO's differential test and every block that holds
    /// one run both and require the same outputs every cycle.
    fn update(&mut self) {
        dff_setup!(
            self, clock, write_ptr, commit_ptr, read_ptr, head_valid, dropping, dropped, passed
        );
        self.data_ram.read_clock.next = self.clock.val();
        self.data_ram.write_clock.next = self.clock.val();
        self.keep_ram.read_clock.next = self.clock.val();
        self.keep_ram.write_clock.next = self.clock.val();
        self.last_ram.read_clock.next = self.clock.val();
        self.last_ram.write_clock.next = self.clock.val();

        self.count.next = self.write_ptr.q.val() - self.read_ptr.q.val();
        self.pop.next = self.head_valid.q.val() & self.source.ready.val();
        self.fits.next = (self.count.val() != self.depth.val()) | self.pop.val();
        self.sink.ready.next = true;

        // Read side: first-word fall-through up to the last committed word.
        self.next_read.next = self.read_ptr.q.val();
        if self.pop.val() {
            self.next_read.next = self.read_ptr.q.val() + 1;
            if self.last_ram.read_data.val() {
                self.passed.d.next = self.passed.q.val() + 1;
            }
        }
        self.read_ptr.d.next = self.next_read.val();
        // A word committed on this edge was also written on it, and the RAM cannot return it
        // yet: compare with the commit pointer before the edge.
        self.head_valid.d.next = self.next_read.val() != self.commit_ptr.q.val();

        // Write side.
        self.store.next = false;
        self.frame_end.next = self.sink.valid.val() & self.sink.last.val();
        self.frame_kept.next = self.sink.valid.val()
            & self.sink.last.val()
            & !self.dropping.q.val()
            & self.fits.val()
            & !self.sink.user.val();
        if self.sink.valid.val() {
            if self.dropping.q.val() {
                if self.sink.last.val() {
                    self.dropping.d.next = false;
                }
            } else if !self.fits.val() {
                self.write_ptr.d.next = self.commit_ptr.q.val();
                self.dropped.d.next = self.dropped.q.val() + 1;
                if !self.sink.last.val() {
                    self.dropping.d.next = true;
                }
            } else {
                self.store.next = true;
                self.write_ptr.d.next = self.write_ptr.q.val() + 1;
                if self.sink.last.val() {
                    if self.sink.user.val() {
                        self.write_ptr.d.next = self.commit_ptr.q.val();
                        self.dropped.d.next = self.dropped.q.val() + 1;
                    } else {
                        self.commit_ptr.d.next = self.write_ptr.q.val() + 1;
                    }
                }
            }
        }

        self.data_ram.read_address.next = bit_cast::<A, AP1>(self.next_read.val());
        self.keep_ram.read_address.next = bit_cast::<A, AP1>(self.next_read.val());
        self.last_ram.read_address.next = bit_cast::<A, AP1>(self.next_read.val());
        self.data_ram.write_address.next = bit_cast::<A, AP1>(self.write_ptr.q.val());
        self.keep_ram.write_address.next = bit_cast::<A, AP1>(self.write_ptr.q.val());
        self.last_ram.write_address.next = bit_cast::<A, AP1>(self.write_ptr.q.val());
        self.data_ram.write_data.next = self.sink.data.val();
        self.keep_ram.write_data.next = self.sink.keep.val();
        self.last_ram.write_data.next = self.sink.last.val();
        self.data_ram.write_enable.next = self.store.val();
        self.keep_ram.write_enable.next = self.store.val();
        self.last_ram.write_enable.next = self.store.val();

        self.source.data.next = self.data_ram.read_data.val();
        self.source.keep.next = self.keep_ram.read_data.val();
        self.source.last.next = self.last_ram.read_data.val();
        // Frames with the error bit never get this far.
        self.source.user.next = false;
        self.source.valid.next = self.head_valid.q.val();
        self.level.next = self.count.val();
        self.dropped_frames.next = self.dropped.q.val();
        self.frames_passed.next = self.passed.q.val();
    }

    /// Marks what `update` drives (what `#[hdl_gen]` would derive from it).
    fn connect(&mut self) {
        self.sink.ready.connect();
        self.source.connect_outputs();
        self.level.connect();
        self.dropped_frames.connect();
        self.frames_passed.connect();
        self.frame_end.connect();
        self.frame_kept.connect();
        self.count.connect();
        self.pop.connect();
        self.fits.connect();
        self.store.connect();
        self.next_read.connect();
        for f in [
            &mut self.write_ptr,
            &mut self.commit_ptr,
            &mut self.read_ptr,
        ] {
            f.clock.connect();
            f.d.connect();
        }
        for f in [&mut self.head_valid, &mut self.dropping] {
            f.clock.connect();
            f.d.connect();
        }
        for f in [&mut self.dropped, &mut self.passed] {
            f.clock.connect();
            f.d.connect();
        }
        crate::connect_rams!(self, data_ram, keep_ram, last_ram);
    }

    /// Verilog written out by hand: one clocked block, one memory of data words and one of
    /// `last` and `keep` together (rust-hdl's has three RAM modules, each with its own read
    /// register and write logic, which a simulator works through every cycle).
    fn hdl(&self) -> Verilog {
        crate::verilog::hand_written(packet_fifo_verilog(W, K, A))
    }
}

/// The body of [`PacketFifo`]'s Verilog module: `w`-bit data, `k`-bit keep, `2^a` words.
fn packet_fifo_verilog(w: usize, k: usize, a: usize) -> String {
    let n = 1usize << a;
    let p = a + 1;
    format!(
        "reg [{pm}:0] write_ptr = 0;
reg [{pm}:0] commit_ptr = 0;
reg [{pm}:0] read_ptr = 0;
reg head_valid = 0;
reg dropping = 0;
reg [31:0] dropped = 0;
reg [31:0] passed = 0;
reg [{wm}:0] data_mem [0:{nm}];
// `last` above `keep`.
reg [{k}:0] kl_mem [0:{nm}];
reg [{wm}:0] data_out = 0;
reg [{k}:0] kl_out = 0;
integer i;
initial begin
    for (i = 0; i < {n}; i = i + 1) begin
        data_mem[i] = 0;
        kl_mem[i] = 0;
    end
end
wire [{pm}:0] count = write_ptr - read_ptr;
wire pop = head_valid & source$ready;
wire fits = (count != {p}'d{n}) | pop;
wire [{pm}:0] next_read = pop ? read_ptr + {p}'d1 : read_ptr;
assign sink$ready = 1'b1;
assign frame_end = sink$valid & sink$last;
assign frame_kept = sink$valid & sink$last & !dropping & fits & !sink$user;
assign source$data = data_out;
assign source$keep = kl_out[{km}:0];
assign source$last = kl_out[{k}];
assign source$user = 1'b0;
assign source$valid = head_valid;
assign level = count;
assign dropped_frames = dropped;
assign frames_passed = passed;
reg [{pm}:0] wp;
reg [{pm}:0] cp;
reg [31:0] dr;
always @(posedge clock) begin
    read_ptr <= next_read;
    // A word committed on this edge was also written on it, and the memory cannot return it
    // yet: compare with the commit pointer before the edge.
    head_valid <= next_read != commit_ptr;
    data_out <= data_mem[next_read[{am}:0]];
    kl_out <= kl_mem[next_read[{am}:0]];
    if (pop & kl_out[{k}]) passed <= passed + 32'd1;
    // The pointers and the count as they stand before this edge, read once here: in this
    // block a register read after a write to it makes Verilator keep a shadow copy of it.
    wp = write_ptr;
    cp = commit_ptr;
    dr = dropped;
    if (sink$valid) begin
        if (dropping) begin
            if (sink$last) dropping <= 1'b0;
        end else if (!fits) begin
            write_ptr <= cp;
            dropped <= dr + 32'd1;
            if (!sink$last) dropping <= 1'b1;
        end else begin
            data_mem[wp[{am}:0]] <= sink$data;
            kl_mem[wp[{am}:0]] <= {{sink$last, sink$keep}};
            if (sink$last & sink$user) begin
                write_ptr <= cp;
                dropped <= dr + 32'd1;
            end else begin
                write_ptr <= wp + {p}'d1;
                if (sink$last) commit_ptr <= wp + {p}'d1;
            end
        end
    end
end
",
        pm = p - 1,
        wm = w - 1,
        km = k - 1,
        nm = n - 1,
        am = a - 1,
    )
}

impl<const W: usize, const K: usize, const A: usize, const AP1: usize> std::fmt::Debug
    for PacketFifo<W, K, A, AP1>
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PacketFifo")
            .field("width_bits", &W)
            .field("depth", &(1usize << A))
            .finish_non_exhaustive()
    }
}

/// The catalogue configuration: 64-bit words, 32 deep (frames up to 256 bytes). A card needs
/// `A` = 8 (2 KiB) for a 1518-byte frame; the catalogue keeps yosys' generic synthesis (which
/// maps the RAM to flops) fast.
pub type PacketFifo64 = PacketFifo<64, 8, 5, 6>;

crate::impl_set_inputs!(PacketFifo64 { clock, sink.data, sink.keep, sink.last, sink.user, sink.valid, source.ready });

/// Verilog of [`PacketFifo64`] as `oxnic_packet_fifo64`.
pub fn verilog64() -> Result<String, crate::verilog::GenError> {
    let mut f = PacketFifo64::default();
    f.connect_all();
    crate::verilog::generate_named(&f, "oxnic_packet_fifo64")
}

/// Random stimulus for `oxnic_packet_fifo64`: frames of 1..=300 bytes (so some never fit), with
/// random error bits, valid gaps and every backpressure pattern on `source$ready`.
pub fn random_stimulus(seed: u64, cycles: usize) -> Stimulus {
    crate::stream_stimulus::backpressure_stream_stimulus(8, 300, seed, cycles)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::{
        bytes_to_port, frame_to_words, keep_mask, Backpressure, ClosedLoop, Cycle, Sender, Word,
    };
    use crate::testbench::Bench;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;
    use std::collections::VecDeque;

    const DEPTH: usize = 32;

    /// The FIFO as the tests expect it, cycle by cycle: committed words with the cycle their
    /// frame was committed (they reach `source` two cycles later at the earliest), the frame being
    /// written, and the counters.
    #[derive(Default)]
    struct Model {
        committed: VecDeque<(Word, u64)>,
        pending: Vec<Word>,
        dropping: bool,
        dropped: u64,
        passed: u64,
    }

    impl Model {
        fn level(&self) -> usize {
            self.committed.len() + self.pending.len()
        }

        /// Word `w` arrives at cycle `t`; `popped`: a word left on the same cycle. For a
        /// frame's last word, returns whether the frame was kept.
        fn arrive(&mut self, w: Word, t: u64, popped: bool) -> Option<bool> {
            let fits = self.level() < DEPTH || popped;
            let last = w.last;
            let mut kept = false;
            if self.dropping {
                self.dropping = !w.last;
            } else if !fits {
                self.pending.clear();
                self.dropped += 1;
                self.dropping = !w.last;
            } else if w.last && w.user {
                self.pending.clear();
                self.dropped += 1;
            } else if w.last {
                self.pending.push(w);
                self.committed
                    .extend(self.pending.drain(..).map(|w| (w, t)));
                kept = true;
            } else {
                self.pending.push(w);
            }
            last.then_some(kept)
        }
    }

    fn out<'a>(outs: &'a [(String, Vec<u64>)], name: &str) -> &'a [u64] {
        &outs.iter().find(|(n, _)| n == name).expect(name).1
    }

    /// Sends `frames` (bytes, error bit) with the given valid gaps and backpressure phases (then
    /// always ready), checks every output on every cycle against the model, and returns the
    /// frames delivered and the dropped count.
    fn run(
        frames: &[(Vec<u8>, bool)],
        gap_percent: u8,
        schedule: &[(Backpressure, u64)],
        seed: u64,
    ) -> (Vec<Vec<u8>>, u64) {
        let mut tx = Sender::new(gap_percent);
        for (f, err) in frames {
            tx.push_frame(frame_to_words(f, 8, *err));
        }
        let mut m = Model::default();
        let mut delivered = Vec::new();
        let mut current = Vec::new();
        let uut = PacketFifo64::default();
        let mut d = ClosedLoop::new(uut, "source$ready", tx, schedule, (400, 4), seed);
        while d.sender.backlog() > 0 || !m.committed.is_empty() {
            let Cycle { t, ready, offered } = d.begin();
            let o = d.bench.outputs();

            let head = m
                .committed
                .front()
                .filter(|(_, at)| at + 2 <= t)
                .map(|h| h.0.clone());
            assert_eq!(
                out(&o, "source$valid"),
                [u64::from(head.is_some())],
                "cycle {t}"
            );
            if let Some(w) = &head {
                assert_eq!(out(&o, "source$data"), bytes_to_port(&w.bytes), "cycle {t}");
                assert_eq!(
                    out(&o, "source$keep"),
                    [keep_mask(w.len) as u64],
                    "cycle {t}"
                );
                assert_eq!(out(&o, "source$last"), [u64::from(w.last)], "cycle {t}");
                assert_eq!(out(&o, "source$user"), [0], "cycle {t}");
            }
            assert_eq!(out(&o, "sink$ready"), [1], "cycle {t}");
            assert_eq!(out(&o, "level"), [m.level() as u64], "cycle {t}");
            assert_eq!(out(&o, "dropped_frames"), [m.dropped], "cycle {t}");
            assert_eq!(out(&o, "frames_passed"), [m.passed], "cycle {t}");

            let popped = head.is_some() && ready;
            if let Some(w) = head.filter(|_| ready) {
                m.committed.pop_front();
                current.extend_from_slice(&w.bytes[..w.len]);
                if w.last {
                    m.passed += 1;
                    delivered.push(std::mem::take(&mut current));
                }
            }
            let end = if offered {
                m.arrive(d.sender.taken(), t, popped)
            } else {
                None
            };
            assert_eq!(
                out(&o, "frame_end"),
                [u64::from(end.is_some())],
                "cycle {t}"
            );
            assert_eq!(
                out(&o, "frame_kept"),
                [u64::from(end == Some(true))],
                "cycle {t}"
            );
            d.bench.tick().unwrap();
        }
        assert!(current.is_empty(), "a partial frame was emitted");
        (delivered, m.dropped)
    }

    /// Frames that must come out: the good ones, in order, except those the FIFO had no room
    /// for. `delivered` must be exactly such a subsequence, and everything that did not come
    /// out must have been counted.
    fn check_delivery(sent: &[(Vec<u8>, bool)], delivered: &[Vec<u8>], dropped: u64) {
        let mut it = sent.iter();
        for d in delivered {
            assert!(
                it.any(|(f, err)| !err && f == d),
                "delivered a frame that was not sent whole and good: {d:?}"
            );
        }
        assert_eq!(delivered.len() as u64 + dropped, sent.len() as u64);
        let bad = sent.iter().filter(|(_, e)| *e).count() as u64;
        assert!(dropped >= bad);
    }

    fn frames(rng: &mut impl Rng, n: usize, max_len: usize, err: u32) -> Vec<(Vec<u8>, bool)> {
        (0..n)
            .map(|_| {
                (
                    crate::stream::random_frame(rng, max_len),
                    rng.gen_ratio(err, 8),
                )
            })
            .collect()
    }

    #[test]
    fn good_frames_pass_whole_with_every_keep_pattern() {
        let fr: Vec<(Vec<u8>, bool)> = (1..=40usize)
            .map(|n| ((0..n).map(|i| (i * 13 + n) as u8).collect(), false))
            .collect();
        let (got, dropped) = run(&fr, 0, &[], 1);
        assert_eq!(dropped, 0);
        assert_eq!(got, fr.iter().map(|f| f.0.clone()).collect::<Vec<_>>());
    }

    #[test]
    fn error_frames_are_dropped_whole_and_counted() {
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let fr = frames(&mut rng, 60, 64, 3);
        let (got, dropped) = run(&fr, 10, &[(Backpressure::Random(70), 200)], 3);
        assert_eq!(dropped, fr.iter().filter(|f| f.1).count() as u64);
        let good: Vec<Vec<u8>> = fr.iter().filter(|f| !f.1).map(|f| f.0.clone()).collect();
        assert_eq!(got, good);
    }

    #[test]
    fn full_fifo_drops_whole_frames_under_every_backpressure_pattern() {
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        for (i, gap) in [0u8, 25].into_iter().enumerate() {
            let fr = frames(&mut rng, 50, 120, 1);
            let schedule: Vec<(Backpressure, u64)> =
                Backpressure::ALL.iter().map(|&p| (p, 70)).collect();
            let (got, dropped) = run(&fr, gap, &schedule, i as u64);
            check_delivery(&fr, &got, dropped);
            assert!(
                dropped > fr.iter().filter(|f| f.1).count() as u64,
                "nothing overflowed"
            );
        }
    }

    #[test]
    fn frames_longer_than_the_fifo_are_dropped_and_the_next_one_passes() {
        // 33 words cannot fit in 32 even with the output always ready (a frame is not visible
        // until it is complete); exactly 32 words do.
        let long = (vec![0xab; 33 * 8], false);
        let exact = (vec![0xcd; 32 * 8], false);
        let small = (vec![1, 2, 3], false);
        let fr = vec![
            long.clone(),
            small.clone(),
            exact.clone(),
            long,
            small.clone(),
        ];
        let (got, dropped) = run(&fr, 0, &[], 9);
        assert_eq!(dropped, 2);
        assert_eq!(got, vec![small.0.clone(), exact.0, small.0]);
    }

    #[test]
    fn stimulus_is_reproducible_and_drops_frames() {
        let a = random_stimulus(5, 1500);
        assert_eq!(a, random_stimulus(5, 1500));
        let mut b = Bench::new(PacketFifo64::default()).unwrap();
        for cycle in &a {
            for (n, v) in cycle {
                b.set(n, v).unwrap();
            }
            b.tick().unwrap();
        }
        let dropped = b.get("dropped_frames").unwrap()[0];
        let passed = b.get("frames_passed").unwrap()[0];
        assert!(dropped > 5 && passed > 5, "{dropped} {passed}");
    }

    #[test]
    fn synthesizes_and_lints() {
        let v = verilog64().unwrap();
        crate::synth::verilator_lint("oxnic_packet_fifo64", &v).unwrap();
        let r = crate::synth::yosys_synth("oxnic_packet_fifo64", &v).unwrap();
        // RAM bits (32 x (64 + 8 + 1)) map to flops in generic synthesis, plus the read
        // registers, three pointers, two flags and two counters.
        let ram = 32 * 73;
        let control = 73 + 3 * 6 + 2 + 2 * 32;
        assert!(r.flops >= ram && r.flops <= ram + control + 16, "{r:?}");
        eprintln!("oxnic_packet_fifo64: {} cells, {} flops", r.cells, r.flops);
    }
}
