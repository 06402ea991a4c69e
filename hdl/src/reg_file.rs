//! `RegFile`: a small register file, up to 16 entries of `W` bits, with one write port and one
//! combinational read port.
//!
//! Built from rust-hdl `DFF`s, each entry's register would be copied to its input in every
//! cycle and the read port would compare the index with every entry's, which a simulator such
//! as Verilator works out every cycle. The Verilog is written by hand as a memory: a cycle
//! without a write costs one read. `tx_engine` keeps a frame's scatter-gather segments in two.
//!
//! Inputs: `clock`; `write`, `windex`, `wdata` (entry `windex` takes `wdata` at the edge;
//! an index past the last entry writes nothing); `rindex`.
//! Output: `rdata`, entry `rindex` (0 for an index past the last entry). Every entry is zero at
//! power-up.

use rust_hdl::prelude::*;

/// A register file of `W`-bit entries; see the module docs.
#[derive(LogicBlock)]
pub struct RegFile<const W: usize> {
    /// Clock.
    pub clock: Signal<In, Clock>,
    /// Write `wdata` to entry `windex` at this edge.
    pub write: Signal<In, Bit>,
    /// The entry written.
    pub windex: Signal<In, Bits<4>>,
    /// The value written.
    pub wdata: Signal<In, Bits<W>>,
    /// The entry read.
    pub rindex: Signal<In, Bits<4>>,
    /// Entry `rindex`, as it stands before the edge.
    pub rdata: Signal<Out, Bits<W>>,
    entries: Vec<DFF<Bits<W>>>,
    index: Vec<Constant<Bits<4>>>,
}

impl<const W: usize> RegFile<W> {
    /// A file of `n` entries (1..=16).
    pub fn new(n: usize) -> Self {
        assert!((1..=16).contains(&n), "1..=16 entries");
        RegFile {
            clock: Default::default(),
            write: Default::default(),
            windex: Default::default(),
            wdata: Default::default(),
            rindex: Default::default(),
            rdata: Default::default(),
            entries: (0..n).map(|_| Default::default()).collect(),
            index: (0..n as u64).map(|i| Constant::new(i.into())).collect(),
        }
    }
}

impl<const W: usize> Logic for RegFile<W> {
    /// rust-hdl's simulation of the block; [`Logic::hdl`] is the same logic written as Verilog.
    fn update(&mut self) {
        self.rdata.next = 0.into();
        for k in 0..self.entries.len() {
            self.entries[k].clock.next = self.clock.val();
            self.entries[k].d.next = self.entries[k].q.val();
            if self.write.val() & (self.windex.val() == self.index[k].val()) {
                self.entries[k].d.next = self.wdata.val();
            }
            if self.rindex.val() == self.index[k].val() {
                self.rdata.next = self.entries[k].q.val();
            }
        }
    }

    /// Marks what `update` drives (what `#[hdl_gen]` would derive from it).
    fn connect(&mut self) {
        self.rdata.connect();
        for e in &mut self.entries {
            e.d.connect();
            e.clock.connect();
        }
    }

    /// A 16-entry memory whose entries past the last are never written, so they read 0.
    fn hdl(&self) -> Verilog {
        crate::verilog::hand_written(format!(
            "reg [{m}:0] mem [0:15];
integer i;
initial begin
    for (i = 0; i < 16; i = i + 1) mem[i] = 0;
end
assign rdata = mem[rindex];
always @(posedge clock) begin
    if (write & (windex < 4'd{n})) mem[windex] <= wdata;
end
",
            m = W - 1,
            n = self.entries.len(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testbench::Bench;

    crate::impl_set_inputs!(RegFile<16> { clock, write, windex, wdata, rindex });

    #[test]
    fn entries_hold_until_written_and_indices_past_the_end_read_zero() {
        let mut b = Bench::new(RegFile::<16>::new(5)).unwrap();
        let mut want = [0u64; 16];
        // Two writes, one past the last entry, one cycle without a write.
        for (w, idx, val) in [
            (1, 0, 0x1111),
            (1, 4, 0x4444),
            (1, 7, 0x7777),
            (0, 2, 0x2222),
        ] {
            b.set("write", &[w]).unwrap();
            b.set("windex", &[idx]).unwrap();
            b.set("wdata", &[val]).unwrap();
            b.tick().unwrap();
            if w == 1 && idx < 5 {
                want[idx as usize] = val;
            }
        }
        b.set("write", &[0]).unwrap();
        for r in 0..16u64 {
            b.set("rindex", &[r]).unwrap();
            b.settle().unwrap();
            assert_eq!(b.get("rdata").unwrap()[0], want[r as usize], "entry {r}");
        }
        assert_eq!(&want[..8], &[0x1111, 0, 0, 0, 0x4444, 0, 0, 0]);
    }

    #[test]
    fn verilog_lints_and_synthesizes() {
        let mut b = RegFile::<16>::new(8);
        b.connect_all();
        let v = crate::verilog::generate_named(&b, "oxnic_reg_file").unwrap();
        crate::synth::verilator_lint("oxnic_reg_file", &v).unwrap();
        let r = crate::synth::yosys_synth("oxnic_reg_file", &v).unwrap();
        assert!(r.cells > 0, "{r:?}");
    }
}
