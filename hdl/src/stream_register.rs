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
    #[hdl_gen]
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
}
