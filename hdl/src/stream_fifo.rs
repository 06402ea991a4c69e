//! A synchronous stream FIFO: the elastic buffer between datapath blocks that run at different
//! momentary rates (a DMA engine that stalls, a MAC that cannot).
//!
//! Words (data, keep, last, user) go in on `sink` and come out unchanged, in order, on `source`.
//! Both sides have full valid/ready backpressure, and one word can go in and one come out on the
//! same cycle, even when the FIFO is full: `sink.ready` is `!full | (source.valid &
//! source.ready)`, a combinational path from `source.ready` so that a full FIFO drained at full
//! rate keeps accepting at full rate.
//!
//! Storage is rust-hdl `RAM`s with a registered read (block RAM on an FPGA), read first-word
//! fall-through: the head word sits on `source` as soon as it can. Because the RAM read is
//! registered, a word written into an empty FIFO appears on `source` two cycles after the cycle
//! it was taken; after that the FIFO streams one word per cycle.
//!
//! The RAMs are initialised to zero so that `source.data` is the same in every simulator even
//! while `source.valid` is low. The output register loads only when the head changes, so a
//! simulator does no work for a word waiting at the head or for an empty FIFO; while
//! `source.valid` is low the outputs hold the last word that was at the head (zero at first).
//!
//! Parameters:
//! - `W`: data width in bits;
//! - `K`: `keep` width, `W / 8`;
//! - `A`: log2 of the depth in words (the FIFO holds `2^A` words);
//! - `AP1`: `A + 1`, the width of `level` and of the pointers (rust-hdl cannot compute it).
//!
//! Inputs: `clock`, `sink.{data,keep,last,user,valid}`, `source.ready`.
//!
//! Outputs: `sink.ready`, `source.{data,keep,last,user,valid}`, and
//! - `full`: `2^A` words stored; `sink.ready` is then high only if the head leaves this cycle;
//! - `empty`: no word stored (a word just taken still counts as stored, even before it reaches
//!   `source`);
//! - `level`: words stored, `0..=2^A`;
//! - `overflow_count`: cycles on which `sink.valid` was high and `sink.ready` low, i.e. cycles a
//!   sender was held off because the FIFO was full. Nothing is lost (the sender keeps the word),
//!   so this measures backpressure, not drops. Wraps at 2^32;
//! - `words_passed`: words that left on `source`. Wraps at 2^32.

use rust_hdl::prelude::*;
use std::collections::BTreeMap;

use crate::stream::{StreamSink, StreamSource};
use crate::testbench::Stimulus;

/// The stream FIFO; see the module documentation.
#[derive(LogicBlock)]
pub struct StreamFifo<const W: usize, const K: usize, const A: usize, const AP1: usize> {
    /// Clock; everything is synchronous to its rising edge.
    pub clock: Signal<In, Clock>,
    /// Words in.
    pub sink: StreamSink<W, K>,
    /// Words out.
    pub source: StreamSource<W, K>,
    /// `2^A` words stored.
    pub full: Signal<Out, Bit>,
    /// No words stored.
    pub empty: Signal<Out, Bit>,
    /// Words stored.
    pub level: Signal<Out, Bits<AP1>>,
    /// Cycles a sender was held off (`sink.valid & !sink.ready`).
    pub overflow_count: Signal<Out, Bits<32>>,
    /// Words that left on `source`.
    pub words_passed: Signal<Out, Bits<32>>,
    data_ram: RAM<Bits<W>, A>,
    keep_ram: RAM<Bits<K>, A>,
    last_ram: RAM<Bit, A>,
    user_ram: RAM<Bit, A>,
    // Pointers carry one bit more than the RAM address so that full and empty differ.
    write_ptr: DFF<Bits<AP1>>,
    read_ptr: DFF<Bits<AP1>>,
    // The RAM's read register holds the word at `read_ptr`.
    head_valid: DFF<Bit>,
    // The RAM's read register loaded a new head on the last edge; otherwise the outputs hold
    // the word in the `*_held` registers (the Verilog's output register does not load).
    fresh: DFF<Bit>,
    data_held: DFF<Bits<W>>,
    keep_held: DFF<Bits<K>>,
    last_held: DFF<Bit>,
    user_held: DFF<Bit>,
    overflows: DFF<Bits<32>>,
    passed: DFF<Bits<32>>,
    count: Signal<Local, Bits<AP1>>,
    is_full: Signal<Local, Bit>,
    pop: Signal<Local, Bit>,
    accept: Signal<Local, Bit>,
    push: Signal<Local, Bit>,
    next_read: Signal<Local, Bits<AP1>>,
    depth: Constant<Bits<AP1>>,
}

impl<const W: usize, const K: usize, const A: usize, const AP1: usize> StreamFifo<W, K, A, AP1> {
    /// Words the FIFO holds, `2^A`: for the blocks that state a capacity in a constant of
    /// their own (rust-hdl cannot size a FIFO from one), so their tests can tie the two.
    pub fn depth(&self) -> usize {
        1 << A
    }
}

impl<const W: usize, const K: usize, const A: usize, const AP1: usize> Default
    for StreamFifo<W, K, A, AP1>
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
            full: Default::default(),
            empty: Default::default(),
            level: Default::default(),
            overflow_count: Default::default(),
            words_passed: Default::default(),
            data_ram: zeroed(),
            keep_ram: zeroed(),
            last_ram: zeroed(),
            user_ram: zeroed(),
            write_ptr: Default::default(),
            read_ptr: Default::default(),
            head_valid: Default::default(),
            fresh: Default::default(),
            data_held: Default::default(),
            keep_held: Default::default(),
            last_held: Default::default(),
            user_held: Default::default(),
            overflows: Default::default(),
            passed: Default::default(),
            count: Default::default(),
            is_full: Default::default(),
            pop: Default::default(),
            accept: Default::default(),
            push: Default::default(),
            next_read: Default::default(),
            depth: Constant::new(Bits::<AP1>::from(1u64 << A)),
        }
    }
}

impl<const W: usize, const K: usize, const A: usize, const AP1: usize> Logic
    for StreamFifo<W, K, A, AP1>
{
    /// The behaviour, for rust-hdl's simulator. The Verilog ([`Logic::hdl`]) is written out
    /// by hand with the same behaviour; the FIFO's differential tests and every block that
    /// holds one run both and require the same outputs every cycle.
    fn update(&mut self) {
        dff_setup!(
            self, clock, write_ptr, read_ptr, head_valid, fresh, data_held, keep_held, last_held,
            user_held, overflows, passed
        );
        self.data_ram.read_clock.next = self.clock.val();
        self.data_ram.write_clock.next = self.clock.val();
        self.keep_ram.read_clock.next = self.clock.val();
        self.keep_ram.write_clock.next = self.clock.val();
        self.last_ram.read_clock.next = self.clock.val();
        self.last_ram.write_clock.next = self.clock.val();
        self.user_ram.read_clock.next = self.clock.val();
        self.user_ram.write_clock.next = self.clock.val();

        self.count.next = self.write_ptr.q.val() - self.read_ptr.q.val();
        self.is_full.next = self.count.val() == self.depth.val();
        self.pop.next = self.head_valid.q.val() & self.source.ready.val();
        self.accept.next = !self.is_full.val() | self.pop.val();
        self.sink.ready.next = self.accept.val();
        self.push.next = self.sink.valid.val() & self.accept.val();

        self.next_read.next = self.read_ptr.q.val();
        if self.pop.val() {
            self.next_read.next = self.read_ptr.q.val() + 1;
            self.passed.d.next = self.passed.q.val() + 1;
        }
        self.read_ptr.d.next = self.next_read.val();
        // Reading the head's own address while it waits keeps the RAM output steady. A word
        // written on this edge cannot be read on it (the RAM reads old contents), so the head
        // is valid next cycle only if its slot was written before this edge.
        self.head_valid.d.next = self.next_read.val() != self.write_ptr.q.val();
        self.fresh.d.next = (self.next_read.val() != self.write_ptr.q.val())
            & (self.pop.val() | !self.head_valid.q.val());

        self.data_ram.read_address.next = bit_cast::<A, AP1>(self.next_read.val());
        self.keep_ram.read_address.next = bit_cast::<A, AP1>(self.next_read.val());
        self.last_ram.read_address.next = bit_cast::<A, AP1>(self.next_read.val());
        self.user_ram.read_address.next = bit_cast::<A, AP1>(self.next_read.val());

        self.data_ram.write_address.next = bit_cast::<A, AP1>(self.write_ptr.q.val());
        self.keep_ram.write_address.next = bit_cast::<A, AP1>(self.write_ptr.q.val());
        self.last_ram.write_address.next = bit_cast::<A, AP1>(self.write_ptr.q.val());
        self.user_ram.write_address.next = bit_cast::<A, AP1>(self.write_ptr.q.val());
        self.data_ram.write_data.next = self.sink.data.val();
        self.keep_ram.write_data.next = self.sink.keep.val();
        self.last_ram.write_data.next = self.sink.last.val();
        self.user_ram.write_data.next = self.sink.user.val();
        self.data_ram.write_enable.next = self.push.val();
        self.keep_ram.write_enable.next = self.push.val();
        self.last_ram.write_enable.next = self.push.val();
        self.user_ram.write_enable.next = self.push.val();
        if self.push.val() {
            self.write_ptr.d.next = self.write_ptr.q.val() + 1;
        }
        if self.sink.valid.val() & !self.accept.val() {
            self.overflows.d.next = self.overflows.q.val() + 1;
        }

        if self.fresh.q.val() {
            self.source.data.next = self.data_ram.read_data.val();
            self.source.keep.next = self.keep_ram.read_data.val();
            self.source.last.next = self.last_ram.read_data.val();
            self.source.user.next = self.user_ram.read_data.val();
            self.data_held.d.next = self.data_ram.read_data.val();
            self.keep_held.d.next = self.keep_ram.read_data.val();
            self.last_held.d.next = self.last_ram.read_data.val();
            self.user_held.d.next = self.user_ram.read_data.val();
        } else {
            self.source.data.next = self.data_held.q.val();
            self.source.keep.next = self.keep_held.q.val();
            self.source.last.next = self.last_held.q.val();
            self.source.user.next = self.user_held.q.val();
        }
        self.source.valid.next = self.head_valid.q.val();
        self.full.next = self.is_full.val();
        self.empty.next = !self.count.val().any();
        self.level.next = self.count.val();
        self.overflow_count.next = self.overflows.q.val();
        self.words_passed.next = self.passed.q.val();
    }

    /// Marks what `update` drives (what `#[hdl_gen]` would derive from it).
    fn connect(&mut self) {
        self.sink.ready.connect();
        self.source.connect_outputs();
        self.full.connect();
        self.empty.connect();
        self.level.connect();
        self.overflow_count.connect();
        self.words_passed.connect();
        self.count.connect();
        self.is_full.connect();
        self.pop.connect();
        self.accept.connect();
        self.push.connect();
        self.next_read.connect();
        for f in [&mut self.write_ptr, &mut self.read_ptr] {
            f.d.connect();
            f.clock.connect();
        }
        for f in [&mut self.overflows, &mut self.passed] {
            f.d.connect();
            f.clock.connect();
        }
        self.head_valid.d.connect();
        self.head_valid.clock.connect();
        self.fresh.d.connect();
        self.fresh.clock.connect();
        self.data_held.d.connect();
        self.data_held.clock.connect();
        self.keep_held.d.connect();
        self.keep_held.clock.connect();
        self.last_held.d.connect();
        self.last_held.clock.connect();
        self.user_held.d.connect();
        self.user_held.clock.connect();
        self.data_ram.read_clock.connect();
        self.data_ram.write_clock.connect();
        self.data_ram.read_address.connect();
        self.data_ram.write_address.connect();
        self.data_ram.write_data.connect();
        self.data_ram.write_enable.connect();
        self.keep_ram.read_clock.connect();
        self.keep_ram.write_clock.connect();
        self.keep_ram.read_address.connect();
        self.keep_ram.write_address.connect();
        self.keep_ram.write_data.connect();
        self.keep_ram.write_enable.connect();
        self.last_ram.read_clock.connect();
        self.last_ram.write_clock.connect();
        self.last_ram.read_address.connect();
        self.last_ram.write_address.connect();
        self.last_ram.write_data.connect();
        self.last_ram.write_enable.connect();
        self.user_ram.read_clock.connect();
        self.user_ram.write_clock.connect();
        self.user_ram.read_address.connect();
        self.user_ram.write_address.connect();
        self.user_ram.write_data.connect();
        self.user_ram.write_enable.connect();
    }

    /// Verilog written out by hand. rust-hdl's own would put all of `update` in one
    /// combinational block, so `full`, `level` and `source.valid` — functions of the FIFO's
    /// registers alone — would seem to depend on `sink.valid` and `source.ready` too. A block
    /// that reads `full` and drives `sink.valid` then forms a combinational loop with the
    /// FIFO, which Verilator can only settle by evaluating both again and again, several times
    /// a cycle. Here every output is its own `assign` and the state updates in one clocked
    /// block, so only `sink.ready` depends on an input (`source.ready`).
    fn hdl(&self) -> Verilog {
        crate::verilog::hand_written(fifo_verilog(W, K, A))
    }
}

/// The body of [`StreamFifo`]'s Verilog module: `w`-bit data, `k`-bit keep, `2^a` words.
fn fifo_verilog(w: usize, k: usize, a: usize) -> String {
    let n = 1usize << a;
    let p = a + 1;
    format!(
        "reg [{pm}:0] write_ptr = 0;
reg [{pm}:0] read_ptr = 0;
reg head_valid = 0;
reg [31:0] overflows = 0;
reg [31:0] passed = 0;
reg [{wm}:0] data_mem [0:{nm}];
reg [{km}:0] keep_mem [0:{nm}];
reg last_mem [0:{nm}];
reg user_mem [0:{nm}];
reg [{wm}:0] data_out = 0;
reg [{km}:0] keep_out = 0;
reg last_out = 0;
reg user_out = 0;
integer i;
initial begin
    for (i = 0; i < {n}; i = i + 1) begin
        data_mem[i] = 0;
        keep_mem[i] = 0;
        last_mem[i] = 0;
        user_mem[i] = 0;
    end
end
wire [{pm}:0] count = write_ptr - read_ptr;
wire is_full = count == {p}'d{n};
wire pop = head_valid & source$ready;
wire accept = !is_full | pop;
wire push = sink$valid & accept;
wire [{pm}:0] next_read = pop ? read_ptr + {p}'d1 : read_ptr;
assign sink$ready = accept;
assign source$data = data_out;
assign source$keep = keep_out;
assign source$last = last_out;
assign source$user = user_out;
assign source$valid = head_valid;
assign full = is_full;
assign empty = count == {p}'d0;
assign level = count;
assign overflow_count = overflows;
assign words_passed = passed;
wire head_next = next_read != write_ptr;
always @(posedge clock) begin
    read_ptr <= next_read;
    head_valid <= head_next;
    // The head word is read again only when it changes: a word held at the head is not
    // overwritten (a push to its slot needs a full FIFO, which pops it in the same cycle).
    if (head_next & (pop | !head_valid)) begin
        data_out <= data_mem[next_read[{am}:0]];
        keep_out <= keep_mem[next_read[{am}:0]];
        last_out <= last_mem[next_read[{am}:0]];
        user_out <= user_mem[next_read[{am}:0]];
    end
    if (push) begin
        data_mem[write_ptr[{am}:0]] <= sink$data;
        keep_mem[write_ptr[{am}:0]] <= sink$keep;
        last_mem[write_ptr[{am}:0]] <= sink$last;
        user_mem[write_ptr[{am}:0]] <= sink$user;
        write_ptr <= write_ptr + {p}'d1;
    end
    if (pop) passed <= passed + 32'd1;
    if (sink$valid & !accept) overflows <= overflows + 32'd1;
end
",
        pm = p - 1,
        wm = w - 1,
        km = k - 1,
        nm = n - 1,
        am = a - 1,
    )
}

/// The card's default: 64-bit words, 16 deep.
pub type StreamFifo64 = StreamFifo<64, 8, 4, 5>;
/// The wide configuration: 512-bit words, 16 deep.
pub type StreamFifo512 = StreamFifo<512, 64, 4, 5>;

crate::impl_set_inputs!(StreamFifo64 { clock, sink.data, sink.keep, sink.last, sink.user, sink.valid, source.ready });
crate::impl_set_inputs!(StreamFifo512 { clock, sink.data, sink.keep, sink.last, sink.user, sink.valid, source.ready });

/// Verilog of the 64-bit, 16-deep FIFO as `oxnic_stream_fifo64`.
pub fn verilog64() -> Result<String, crate::verilog::GenError> {
    let mut f = StreamFifo64::default();
    f.connect_all();
    crate::verilog::generate_named(&f, "oxnic_stream_fifo64")
}

/// Verilog of the 512-bit, 16-deep FIFO as `oxnic_stream_fifo512`.
pub fn verilog512() -> Result<String, crate::verilog::GenError> {
    let mut f = StreamFifo512::default();
    f.connect_all();
    crate::verilog::generate_named(&f, "oxnic_stream_fifo512")
}

/// Random stimulus for `oxnic_stream_fifo64`: frames of 1..=40 bytes (every `keep` pattern,
/// random error bits), valid gaps, and every backpressure pattern on `source$ready`.
pub fn random_stimulus(seed: u64, cycles: usize) -> Stimulus {
    crate::stream_stimulus::backpressure_stream_stimulus(8, 40, seed, cycles)
}

/// Random stimulus for `oxnic_stream_fifo512`, as [`random_stimulus`] with 64-byte words.
pub fn random_stimulus512(seed: u64, cycles: usize) -> Stimulus {
    crate::stream_stimulus::backpressure_stream_stimulus(64, 300, seed, cycles)
}

impl<const W: usize, const K: usize, const A: usize, const AP1: usize> std::fmt::Debug
    for StreamFifo<W, K, A, AP1>
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamFifo")
            .field("width_bits", &W)
            .field("depth", &(1usize << A))
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::{
        bytes_to_port, frame_to_words, keep_mask, random_frame, Backpressure, ClosedLoop, Cycle,
        Sender, Word,
    };
    use crate::testbench::{Bench, SetInputs};
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;
    use std::collections::VecDeque;

    /// What the FIFO must show, cycle by cycle: the words it holds, each with the cycle it was
    /// taken (it reaches `source` two cycles later at the earliest), and its counters.
    #[derive(Default)]
    struct Model {
        held: VecDeque<(Word, u64)>,
        overflows: u64,
        passed: u64,
    }

    fn out<'a>(outs: &'a [(String, Vec<u64>)], name: &str) -> &'a [u64] {
        &outs.iter().find(|(n, _)| n == name).expect(name).1
    }

    /// Runs `frames` through a FIFO with the given sender gaps and backpressure schedule
    /// (`(pattern, cycles)` phases, then always ready until drained), checking every output
    /// against the model on every cycle. Returns the words delivered.
    fn run<B: Block + SetInputs>(
        uut: B,
        width_bytes: usize,
        depth: usize,
        frames: &[(Vec<u8>, bool)],
        gap_percent: u8,
        schedule: &[(Backpressure, u64)],
        seed: u64,
    ) -> Vec<Word> {
        let mut tx = Sender::new(gap_percent);
        let mut sent = Vec::new();
        for (f, err) in frames {
            let words = frame_to_words(f, width_bytes, *err);
            sent.extend(words.iter().cloned());
            tx.push_frame(words);
        }
        let mut m = Model::default();
        let mut got = Vec::new();
        let mut d = ClosedLoop::new(uut, "source$ready", tx, schedule, (200, 8), seed);
        while d.sender.backlog() > 0 || !m.held.is_empty() {
            let Cycle { t, ready, offered } = d.begin();
            let o = d.bench.outputs();

            let head = m
                .held
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
                assert_eq!(out(&o, "source$user"), [u64::from(w.user)], "cycle {t}");
            }
            let level = m.held.len();
            let accept = level < depth || (head.is_some() && ready);
            assert_eq!(out(&o, "sink$ready"), [u64::from(accept)], "cycle {t}");
            assert_eq!(out(&o, "level"), [level as u64], "cycle {t}");
            assert_eq!(out(&o, "full"), [u64::from(level == depth)], "cycle {t}");
            assert_eq!(out(&o, "empty"), [u64::from(level == 0)], "cycle {t}");
            assert_eq!(out(&o, "overflow_count"), [m.overflows], "cycle {t}");
            assert_eq!(out(&o, "words_passed"), [m.passed], "cycle {t}");

            if head.is_some() && ready {
                got.push(m.held.pop_front().unwrap().0);
                m.passed += 1;
            }
            if offered {
                if accept {
                    m.held.push_back((d.sender.taken(), t));
                } else {
                    m.overflows += 1;
                }
            }
            d.bench.tick().unwrap();
        }
        assert_eq!(got, sent, "words delivered differ from words sent");
        got
    }

    fn frames(rng: &mut impl Rng, n: usize, max_len: usize) -> Vec<(Vec<u8>, bool)> {
        (0..n)
            .map(|_| (random_frame(rng, max_len), rng.gen_ratio(1, 5)))
            .collect()
    }

    #[test]
    fn every_keep_pattern_back_to_back() {
        // Frames of 1..=24 bytes cover every byte count of the last word, sent back to back.
        let fr: Vec<(Vec<u8>, bool)> = (1..=24usize)
            .map(|n| ((0..n).map(|i| (i * 7 + n) as u8).collect(), n % 3 == 0))
            .collect();
        let got = run(StreamFifo64::default(), 8, 16, &fr, 0, &[], 1);
        assert_eq!(got.iter().filter(|w| w.last).count(), 24);
    }

    #[test]
    fn every_backpressure_pattern_with_valid_gaps() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for (i, gap) in [0u8, 30].into_iter().enumerate() {
            let fr = frames(&mut rng, 40, 40);
            let schedule: Vec<(Backpressure, u64)> =
                Backpressure::ALL.iter().map(|&p| (p, 60)).collect();
            run(
                StreamFifo64::default(),
                8,
                16,
                &fr,
                gap,
                &schedule,
                i as u64,
            );
        }
    }

    #[test]
    fn fills_then_pushes_and_pops_at_full_rate_while_full() {
        // Never ready for 40 cycles fills the FIFO (and counts the held-off cycles); then
        // always ready with a sender that never pauses: a word in and a word out every cycle.
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let fr = frames(&mut rng, 30, 64);
        run(
            StreamFifo64::default(),
            8,
            16,
            &fr,
            0,
            &[(Backpressure::Never, 40)],
            5,
        );
        let mut f = Bench::new(StreamFifo64::default()).unwrap();
        f.set("sink$valid", &[1]).unwrap();
        for _ in 0..20 {
            f.tick().unwrap();
        }
        f.settle().unwrap();
        assert_eq!(f.get("full"), Some(vec![1]));
        assert_eq!(f.get("overflow_count"), Some(vec![4]));
        f.set("source$ready", &[1]).unwrap();
        f.settle().unwrap();
        assert_eq!(
            f.get("sink$ready"),
            Some(vec![1]),
            "push and pop while full"
        );
        for _ in 0..10 {
            f.tick().unwrap();
        }
        assert_eq!(f.get("full"), Some(vec![1]));
        assert_eq!(f.get("words_passed"), Some(vec![10]));
    }

    #[test]
    fn wide_512_bit_words_pass_byte_exact() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let fr = frames(&mut rng, 8, 200);
        let schedule = [(Backpressure::Random(50), 60), (Backpressure::Never, 30)];
        run(StreamFifo512::default(), 64, 16, &fr, 20, &schedule, 2);
    }

    #[test]
    fn stimulus_is_reproducible_and_exercises_backpressure() {
        let a = random_stimulus(9, 400);
        assert_eq!(a, random_stimulus(9, 400));
        assert_ne!(a, random_stimulus(10, 400));
        let get = |c: &Vec<(&str, Vec<u64>)>, n: &str| c.iter().find(|p| p.0 == n).map(|p| p.1[0]);
        let ready_low = a
            .iter()
            .filter(|c| get(c, "source$ready") == Some(0))
            .count();
        let lasts = a.iter().filter(|c| get(c, "sink$last") == Some(1)).count();
        assert!(ready_low > 100 && lasts > 20, "{ready_low} {lasts}");
        // Driven open-loop, the FIFO must fill up and hold senders off.
        let mut b = Bench::new(StreamFifo64::default()).unwrap();
        for cycle in &a {
            for (n, v) in cycle {
                b.set(n, v).unwrap();
            }
            b.tick().unwrap();
        }
        let held_off = b.get("overflow_count").unwrap()[0];
        let passed = b.get("words_passed").unwrap()[0];
        assert!(held_off > 0 && passed > 100, "{held_off} {passed}");
        let wide = random_stimulus512(1, 50);
        assert!(wide
            .iter()
            .flatten()
            .filter(|p| p.0 == "sink$data")
            .all(|p| p.1.len() == 8));
    }

    #[test]
    fn synthesizes_and_lints() {
        for (name, v, min_flops) in [
            ("oxnic_stream_fifo64", verilog64().unwrap(), 16 * 74),
            ("oxnic_stream_fifo512", verilog512().unwrap(), 16 * 578),
        ] {
            crate::synth::verilator_lint(name, &v).unwrap();
            let r = crate::synth::yosys_synth(name, &v).unwrap();
            // The RAMs map to flops in generic synthesis, plus pointers, the read registers and
            // the counters.
            let control = 2 * 5 + 1 + 2 * 32;
            assert!(
                r.flops >= (min_flops + control) as u64 && r.flops < 2 * min_flops as u64,
                "{name}: {r:?}"
            );
            eprintln!("{name}: {} cells, {} flops", r.cells, r.flops);
        }
    }
}
