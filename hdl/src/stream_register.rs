//! `StreamRegister`: a one-word register stage on a stream.
//!
//! Breaks the forward timing path (data, keep, last, user, valid all come from flip-flops) at
//! full throughput: a word is accepted whenever the stage is empty or its word leaves in the same
//! cycle. The `ready` path stays combinational, which is what makes full throughput possible
//! with one word of storage.
//!
//! Inputs: `clock`; `sink` (the stream in); `source.ready`.
//! Outputs: `source` (the stream out, one cycle later); `sink.ready`; `words`, a wrapping count
//! of words passed downstream.
//!
//! Parameters: `W` data width in bits; `K` = `W / 8`, the `keep` width.

use crate::stream::{StreamSink, StreamSource};
use rust_hdl::prelude::*;

/// A one-word pipeline register on a stream.
#[derive(LogicBlock, Default)]
pub struct StreamRegister<const W: usize, const K: usize> {
    /// Clock.
    pub clock: Signal<In, Clock>,
    /// Stream in.
    pub sink: StreamSink<W, K>,
    /// Stream out.
    pub source: StreamSource<W, K>,
    /// Words passed downstream (wrapping).
    pub words: Signal<Out, Bits<32>>,
    data: DFF<Bits<W>>,
    keep: DFF<Bits<K>>,
    last: DFF<Bit>,
    user: DFF<Bit>,
    full: DFF<Bit>,
    count: DFF<Bits<32>>,
}

impl<const W: usize, const K: usize> Logic for StreamRegister<W, K> {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, data, keep, last, user, full, count);
        self.source.data.next = self.data.q.val();
        self.source.keep.next = self.keep.q.val();
        self.source.last.next = self.last.q.val();
        self.source.user.next = self.user.q.val();
        self.source.valid.next = self.full.q.val();
        self.words.next = self.count.q.val();
        self.sink.ready.next = !self.full.q.val() | self.source.ready.val();
        if self.full.q.val() & self.source.ready.val() {
            self.full.d.next = false;
            self.count.d.next = self.count.q.val() + 1;
        }
        if self.sink.valid.val() & (!self.full.q.val() | self.source.ready.val()) {
            self.data.d.next = self.sink.data.val();
            self.keep.d.next = self.sink.keep.val();
            self.last.d.next = self.sink.last.val();
            self.user.d.next = self.sink.user.val();
            self.full.d.next = true;
        }
    }
}

crate::impl_set_inputs!(StreamRegister<64, 8> {
    clock, sink.data, sink.keep, sink.last, sink.user, sink.valid, source.ready
});
crate::impl_set_inputs!(StreamRegister<128, 16> {
    clock, sink.data, sink.keep, sink.last, sink.user, sink.valid, source.ready
});

/// Random traffic with random valid gaps and random backpressure, for differential runs.
pub fn random_stimulus(seed: u64, cycles: usize) -> crate::testbench::Stimulus {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    (0..cycles)
        .map(|_| {
            let len = rng.gen_range(1..=8);
            vec![
                ("sink$data", vec![rng.gen()]),
                ("sink$keep", vec![(1u64 << len) - 1]),
                ("sink$last", vec![u64::from(rng.gen_bool(0.2))]),
                ("sink$user", vec![u64::from(rng.gen_bool(0.05))]),
                ("sink$valid", vec![u64::from(rng.gen_bool(0.7))]),
                ("source$ready", vec![u64::from(rng.gen_bool(0.6))]),
            ]
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testbench::Bench;
    use std::collections::VecDeque;

    #[test]
    fn passes_every_word_in_order_under_random_backpressure() {
        let mut b = Bench::new(StreamRegister::<64, 8>::default()).unwrap();
        let stim = random_stimulus(11, 3000);
        let mut sent = VecDeque::new();
        let mut got = 0u64;
        let mut inputs = std::collections::HashMap::new();
        for cycle in &stim {
            for (name, v) in cycle {
                b.set(name, v).unwrap();
                inputs.insert(*name, v[0]);
            }
            b.settle().unwrap();
            let o = |n: &str| b.get(n).unwrap()[0];
            if o("source$valid") == 1 && inputs["source$ready"] == 1 {
                let want: (u64, u64, u64) = sent.pop_front().expect("word out of nowhere");
                assert_eq!((o("source$data"), o("source$keep"), o("source$last")), want);
                got += 1;
            }
            if inputs["sink$valid"] == 1 && o("sink$ready") == 1 {
                sent.push_back((
                    inputs["sink$data"],
                    inputs["sink$keep"],
                    inputs["sink$last"],
                ));
            }
            b.tick().unwrap();
        }
        assert!(got > 1000, "only {got} words passed");
        b.settle().unwrap();
        assert_eq!(b.get("words").unwrap()[0], got);
    }

    #[test]
    fn full_throughput_when_always_ready() {
        let mut b = Bench::new(StreamRegister::<64, 8>::default()).unwrap();
        b.set("source$ready", &[1]).unwrap();
        b.set("sink$valid", &[1]).unwrap();
        b.set("sink$keep", &[0xff]).unwrap();
        for i in 0..100u64 {
            b.set("sink$data", &[i]).unwrap();
            b.settle().unwrap();
            assert_eq!(b.get("sink$ready").unwrap()[0], 1, "stalled at {i}");
            if i > 0 {
                assert_eq!(
                    b.get("source$data").unwrap()[0],
                    i - 1,
                    "one cycle of latency"
                );
            }
            b.tick().unwrap();
        }
    }

    #[test]
    fn synthesizes() {
        let mut r = StreamRegister::<64, 8>::default();
        r.connect_all();
        let v = crate::verilog::generate_named(&r, "oxnic_stream_register64").unwrap();
        let rep = crate::synth::yosys_synth("oxnic_stream_register64", &v).unwrap();
        // 64 data + 8 keep + last + user + full + 32 count
        assert_eq!(rep.flops, 64 + 8 + 1 + 1 + 1 + 32, "{rep:?}");
    }
}

/// A two-word skid buffer whose `in_ready` comes from a flop: nothing the sending side sees
/// depends on `out_ready`, so it can stand at a module's edge where `out_ready` is an input.
/// Full throughput; one cycle of latency. The payload is three fields of `A`, `B` and `C` bits
/// (kept apart so that no field is wider than a machine word in a simulator).
///
/// Inputs: `clock`; `in_a`, `in_b`, `in_c`, `in_valid`; `out_ready`.
/// Outputs: `in_ready`; `out_a`, `out_b`, `out_c`, `out_valid`.
#[derive(LogicBlock, Default)]
pub struct Skid<const A: usize, const B: usize, const C: usize> {
    /// Clock.
    pub clock: Signal<In, Clock>,
    /// Payload in.
    pub in_a: Signal<In, Bits<A>>,
    /// Payload in.
    pub in_b: Signal<In, Bits<B>>,
    /// Payload in.
    pub in_c: Signal<In, Bits<C>>,
    /// A word is offered.
    pub in_valid: Signal<In, Bit>,
    /// The word offered is taken this cycle (the spare is free).
    pub in_ready: Signal<Out, Bit>,
    /// Payload out.
    pub out_a: Signal<Out, Bits<A>>,
    /// Payload out.
    pub out_b: Signal<Out, Bits<B>>,
    /// Payload out.
    pub out_c: Signal<Out, Bits<C>>,
    /// A word is offered downstream.
    pub out_valid: Signal<Out, Bit>,
    /// Downstream takes it this cycle.
    pub out_ready: Signal<In, Bit>,
    m_a: DFF<Bits<A>>,
    m_b: DFF<Bits<B>>,
    m_c: DFF<Bits<C>>,
    m_valid: DFF<Bit>,
    s_a: DFF<Bits<A>>,
    s_b: DFF<Bits<B>>,
    s_c: DFF<Bits<C>>,
    s_valid: DFF<Bit>,
}

impl<const A: usize, const B: usize, const C: usize> Logic for Skid<A, B, C> {
    /// rust-hdl's simulation of the block; [`Logic::hdl`] is the same logic written as Verilog.
    fn update(&mut self) {
        dff_setup!(self, clock, m_a, m_b, m_c, m_valid, s_a, s_b, s_c, s_valid);
        self.in_ready.next = !self.s_valid.q.val();
        self.out_a.next = self.m_a.q.val();
        self.out_b.next = self.m_b.q.val();
        self.out_c.next = self.m_c.q.val();
        self.out_valid.next = self.m_valid.q.val();
        if !self.m_valid.q.val() | self.out_ready.val() {
            // The main word leaves (or there is none): refill it from the spare, else from
            // the input.
            if self.s_valid.q.val() {
                self.m_valid.d.next = true;
                self.m_a.d.next = self.s_a.q.val();
                self.m_b.d.next = self.s_b.q.val();
                self.m_c.d.next = self.s_c.q.val();
                self.s_valid.d.next = false;
            } else {
                self.m_valid.d.next = self.in_valid.val();
                if self.in_valid.val() {
                    self.m_a.d.next = self.in_a.val();
                    self.m_b.d.next = self.in_b.val();
                    self.m_c.d.next = self.in_c.val();
                }
            }
        } else if self.in_valid.val() & !self.s_valid.q.val() {
            self.s_valid.d.next = true;
            self.s_a.d.next = self.in_a.val();
            self.s_b.d.next = self.in_b.val();
            self.s_c.d.next = self.in_c.val();
        }
    }
    /// Marks what `update` drives (what `#[hdl_gen]` would derive from it).
    fn connect(&mut self) {
        self.in_ready.connect();
        self.out_a.connect();
        self.out_b.connect();
        self.out_c.connect();
        self.out_valid.connect();
        self.m_a.d.connect();
        self.m_a.clock.connect();
        self.s_a.d.connect();
        self.s_a.clock.connect();
        self.m_b.d.connect();
        self.m_b.clock.connect();
        self.s_b.d.connect();
        self.s_b.clock.connect();
        self.m_c.d.connect();
        self.m_c.clock.connect();
        self.s_c.d.connect();
        self.s_c.clock.connect();
        self.m_valid.d.connect();
        self.m_valid.clock.connect();
        self.s_valid.d.connect();
        self.s_valid.clock.connect();
    }

    /// Verilog written out by hand: the registers load in one clocked block, under the same
    /// conditions as in `update`. rust-hdl's own Verilog gives every register a combinational
    /// copy of itself that a simulator such as Verilator works out every cycle, whether or not
    /// a word moves; the card has four of these buffers on its busiest paths.
    fn hdl(&self) -> Verilog {
        crate::verilog::hand_written(skid_verilog(A, B, C))
    }
}

/// The body of [`Skid`]'s Verilog module for fields of `a`, `b` and `c` bits.
fn skid_verilog(a: usize, b: usize, c: usize) -> String {
    format!(
        "reg [{am}:0] main_a = 0;
reg [{bm}:0] main_b = 0;
reg [{cm}:0] main_c = 0;
reg main_valid = 0;
reg [{am}:0] spare_a = 0;
reg [{bm}:0] spare_b = 0;
reg [{cm}:0] spare_c = 0;
reg spare_valid = 0;
assign in_ready = !spare_valid;
assign out_a = main_a;
assign out_b = main_b;
assign out_c = main_c;
assign out_valid = main_valid;
always @(posedge clock) begin
    if (!main_valid | out_ready) begin
        if (spare_valid) begin
            main_valid <= 1'b1;
            main_a <= spare_a;
            main_b <= spare_b;
            main_c <= spare_c;
            spare_valid <= 1'b0;
        end else begin
            main_valid <= in_valid;
            if (in_valid) begin
                main_a <= in_a;
                main_b <= in_b;
                main_c <= in_c;
            end
        end
    end else if (in_valid & !spare_valid) begin
        spare_valid <= 1'b1;
        spare_a <= in_a;
        spare_b <= in_b;
        spare_c <= in_c;
    end
end
",
        am = a - 1,
        bm = b - 1,
        cm = c - 1,
    )
}

/// The configuration of the card's DMA read response buffer (128-bit data, 24 and 2 bits of
/// side fields), catalogued as `oxnic_skid`.
pub type Skid128 = Skid<128, 24, 2>;

crate::impl_set_inputs!(Skid128 {
    clock,
    in_a,
    in_b,
    in_c,
    in_valid,
    out_ready
});

/// Verilog of [`Skid128`] as `oxnic_skid`.
pub fn skid_verilog128() -> Result<String, crate::verilog::GenError> {
    let mut b = Skid128::default();
    b.connect_all();
    crate::verilog::generate_named(&b, "oxnic_skid")
}

/// Random words with random `in_valid` gaps and random `out_ready` backpressure for [`Skid128`].
pub fn skid_random_stimulus(seed: u64, cycles: usize) -> crate::testbench::Stimulus {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    (0..cycles)
        .map(|_| {
            vec![
                ("in_a", vec![rng.gen(), rng.gen()]),
                ("in_b", vec![rng.gen_range(0..1 << 24)]),
                ("in_c", vec![rng.gen_range(0..4)]),
                ("in_valid", vec![u64::from(rng.gen_bool(0.7))]),
                ("out_ready", vec![u64::from(rng.gen_bool(0.6))]),
            ]
        })
        .collect()
}

#[cfg(test)]
mod skid_tests {
    use super::*;
    use crate::testbench::Bench;
    use std::collections::{HashMap, VecDeque};

    /// Every word offered while `in_ready` is high comes out once, in order, unchanged; and
    /// `in_ready` never depends on `out_ready` in the same cycle.
    #[test]
    fn passes_every_word_in_order_and_in_ready_comes_from_a_flop() {
        let mut b = Bench::new(Skid128::default()).unwrap();
        let stim = skid_random_stimulus(5, 5000);
        let mut sent: VecDeque<Vec<u64>> = VecDeque::new();
        let mut got = 0;
        let mut inputs: HashMap<&str, Vec<u64>> = HashMap::new();
        for cycle in &stim {
            for (name, v) in cycle {
                b.set(name, v).unwrap();
                inputs.insert(*name, v.clone());
            }
            b.settle().unwrap();
            let ready = b.get("in_ready").unwrap()[0];
            let flipped = u64::from(inputs["out_ready"][0] == 0);
            b.set("out_ready", &[flipped]).unwrap();
            b.settle().unwrap();
            assert_eq!(
                b.get("in_ready").unwrap()[0],
                ready,
                "in_ready follows out_ready"
            );
            b.set("out_ready", &inputs["out_ready"]).unwrap();
            b.settle().unwrap();
            let o = |n: &str| b.get(n).unwrap();
            if o("out_valid")[0] == 1 && inputs["out_ready"][0] == 1 {
                let want = sent.pop_front().expect("word out of nowhere");
                let mut have = o("out_a");
                have.extend(o("out_b"));
                have.extend(o("out_c"));
                assert_eq!(have, want);
                got += 1;
            }
            if inputs["in_valid"][0] == 1 && ready == 1 {
                let mut w = inputs["in_a"].clone();
                w.extend(&inputs["in_b"]);
                w.extend(&inputs["in_c"]);
                sent.push_back(w);
            }
            b.tick().unwrap();
        }
        assert!(got > 2000, "only {got} words passed");
    }
}
