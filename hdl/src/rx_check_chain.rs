//! `RxCheckChain`: CRC32 → checksum → packet FIFO, the three building blocks the receive path
//! strings together, composed at one word per cycle.
//!
//! Every word of the incoming stream is seen by the CRC32 stage and the checksum stage in the
//! cycle it enters the packet FIFO, so the chain adds no latency to the data and the results
//! of both checks are ready [`crate::crc32::LATENCY`] cycle after the frame's `last` word. It
//! exists to show (and measure) that the blocks compose without losing the one-word-per-cycle
//! rate; the card's `mac_rx` uses the same parts to check and strip the FCS.
//!
//! Inputs: `clock`; `sink` (frames; the FIFO drops frames with `user` set at `last` or that do
//! not fit, so `sink$ready` is always 1); `start` (checksum start offset, sampled with each
//! frame's first word); `source$ready`.
//! Outputs: `source` (whole frames, store-and-forward); `crc`/`crc_valid`; `csum`/`csum_valid`;
//! the FIFO's `level`, `dropped_frames` and `frames_passed`.

use crate::crc32::Crc32;
use crate::csum::Csum;
use crate::packet_fifo::PacketFifo;
use crate::stream::{StreamSink, StreamSource};
use rust_hdl::prelude::*;

/// The chain with a 64-word (512-byte) packet FIFO.
#[derive(LogicBlock, Default)]
pub struct RxCheckChain {
    /// Clock.
    pub clock: Signal<In, Clock>,
    /// Frames in.
    pub sink: StreamSink<64, 8>,
    /// Checksum start offset for the next frame.
    pub start: Signal<In, Bits<16>>,
    /// Whole frames out.
    pub source: StreamSource<64, 8>,
    /// CRC32 of the last frame (as `crc32fast::hash`).
    pub crc: Signal<Out, Bits<32>>,
    /// `crc` is new this cycle.
    pub crc_valid: Signal<Out, Bit>,
    /// Ones'-complement sum from `start` of the last frame.
    pub csum: Signal<Out, Bits<16>>,
    /// `csum` is new this cycle.
    pub csum_valid: Signal<Out, Bit>,
    /// Words in the FIFO.
    pub level: Signal<Out, Bits<7>>,
    /// Frames the FIFO dropped.
    pub dropped_frames: Signal<Out, Bits<32>>,
    /// Frames that left the FIFO.
    pub frames_passed: Signal<Out, Bits<32>>,
    crc32: Crc32,
    sum: Csum,
    fifo: PacketFifo<64, 8, 6, 7>,
}

impl Logic for RxCheckChain {
    #[hdl_gen]
    fn update(&mut self) {
        clock!(self, clock, crc32, sum, fifo);
        self.crc32.sink.data.next = self.sink.data.val();
        self.crc32.sink.keep.next = self.sink.keep.val();
        self.crc32.sink.last.next = self.sink.last.val();
        self.crc32.sink.user.next = self.sink.user.val();
        self.crc32.sink.valid.next = self.sink.valid.val();
        self.sum.sink.data.next = self.sink.data.val();
        self.sum.sink.keep.next = self.sink.keep.val();
        self.sum.sink.last.next = self.sink.last.val();
        self.sum.sink.user.next = self.sink.user.val();
        self.sum.sink.valid.next = self.sink.valid.val();
        self.sum.start.next = self.start.val();
        self.fifo.sink.data.next = self.sink.data.val();
        self.fifo.sink.keep.next = self.sink.keep.val();
        self.fifo.sink.last.next = self.sink.last.val();
        self.fifo.sink.user.next = self.sink.user.val();
        self.fifo.sink.valid.next = self.sink.valid.val();
        self.sink.ready.next = self.fifo.sink.ready.val();
        self.source.data.next = self.fifo.source.data.val();
        self.source.keep.next = self.fifo.source.keep.val();
        self.source.last.next = self.fifo.source.last.val();
        self.source.user.next = self.fifo.source.user.val();
        self.source.valid.next = self.fifo.source.valid.val();
        self.fifo.source.ready.next = self.source.ready.val();
        self.crc.next = self.crc32.crc.val();
        self.crc_valid.next = self.crc32.crc_valid.val();
        self.csum.next = self.sum.csum.val();
        self.csum_valid.next = self.sum.csum_valid.val();
        self.level.next = self.fifo.level.val();
        self.dropped_frames.next = self.fifo.dropped_frames.val();
        self.frames_passed.next = self.fifo.frames_passed.val();
    }
}

crate::impl_set_inputs!(RxCheckChain {
    clock, sink.data, sink.keep, sink.last, sink.user, sink.valid, start, source.ready
});

/// Frames of 1 to 600 bytes (some too long for the FIFO) with a random checksum start, random
/// gaps and the occasional error bit; `source$ready` mostly high.
pub fn random_stimulus(seed: u64, cycles: usize) -> crate::testbench::Stimulus {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut s = crate::stream_stimulus::random_stream_stimulus(
        &mut rng,
        cycles,
        600,
        |rng, bytes| vec![("start", vec![crate::csum::random_start(rng, bytes.len())])],
        &crate::csum::SCRAMBLE,
    );
    for cycle in &mut s {
        cycle.push(("source$ready", vec![u64::from(rng.gen_ratio(9, 10))]));
        if rng.gen_ratio(1, 50) {
            cycle.push(("sink$user", vec![1]));
        }
    }
    s
}

/// Verilog of the catalogue entry `oxnic_rx_check_chain`.
pub fn verilog() -> Result<String, crate::verilog::GenError> {
    let mut c = RxCheckChain::default();
    c.connect_all();
    crate::verilog::generate_named(&c, "oxnic_rx_check_chain")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream_stimulus::{decode_frames, value_at, SINK};
    use crate::testbench::Bench;

    #[test]
    fn results_match_the_references_and_good_frames_pass_whole() {
        let stim = random_stimulus(5, 6000);
        let frames = decode_frames(&stim, SINK);
        let mut b = Bench::new(RxCheckChain::default()).unwrap();
        let (mut crcs, mut sums, mut out, mut cur) = (vec![], vec![], vec![], vec![]);
        for (c, cycle) in stim.iter().enumerate() {
            for (n, v) in cycle {
                b.set(n, v).unwrap();
            }
            b.settle().unwrap();
            let o = |n: &str| b.get(n).unwrap();
            if o("crc_valid")[0] == 1 {
                crcs.push(o("crc")[0] as u32);
            }
            if o("csum_valid")[0] == 1 {
                sums.push(o("csum")[0] as u16);
            }
            if o("source$valid")[0] == 1 && value_at(&stim, "source$ready", c)[0] == 1 {
                let n = o("source$keep")[0].count_ones() as usize;
                cur.extend_from_slice(&o("source$data")[0].to_le_bytes()[..n]);
                if o("source$last")[0] == 1 {
                    out.push(std::mem::take(&mut cur));
                }
            }
            b.tick().unwrap();
        }
        // Every frame that ended before the last cycle has both results, in order.
        assert!(crcs.len() >= frames.len() - 1 && sums.len() == crcs.len());
        for (f, c) in frames.iter().zip(&crcs) {
            assert_eq!(*c, crc32fast::hash(&f.bytes));
        }
        for (f, s) in frames.iter().zip(&sums) {
            let start = (value_at(&stim, "start", f.first_cycle)[0] as usize).min(f.bytes.len());
            let want = oxnic_abi::checksum::fold(oxnic_abi::checksum::sum(&f.bytes[start..], 0));
            assert_eq!(*s, want);
        }
        // Frames out are good input frames, whole and in order; the rest were dropped.
        let good: Vec<&Vec<u8>> = frames
            .iter()
            .filter(|f| value_at(&stim, "sink$user", f.last_cycle)[0] == 0 && f.bytes.len() <= 512)
            .map(|f| &f.bytes)
            .collect();
        let mut it = good.iter();
        for f in &out {
            assert!(
                it.any(|g| *g == f),
                "a frame of {} bytes came out of nowhere",
                f.len()
            );
        }
        b.settle().unwrap();
        let passed = b.get("frames_passed").unwrap()[0] as usize;
        let dropped = b.get("dropped_frames").unwrap()[0] as usize;
        assert_eq!(passed, out.len());
        assert!(
            out.len() > 100 && dropped > 10,
            "passed {passed}, dropped {dropped}"
        );
        assert!(passed + dropped <= frames.len() && passed + dropped + 2 >= frames.len());
    }

    #[test]
    fn synthesizes_and_lints() {
        let v = verilog().unwrap();
        let r = crate::synth::yosys_synth("oxnic_rx_check_chain", &v).unwrap();
        assert!(r.flops > 64 * 64, "{r:?}");
        crate::synth::verilator_lint("oxnic_rx_check_chain", &v).unwrap();
    }
}
