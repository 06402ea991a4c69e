//! `EnReg`: a register with a load enable, `q` takes `d` on a rising edge with `load` high and
//! holds otherwise.
//!
//! rust-hdl's `DFF` holds by having its parent drive `d` with `q` in every cycle it does not
//! load, a copy that a simulator such as Verilator works out every cycle for every register.
//! This block's Verilog is written by hand as `if (load) r <= d;`, which costs a simulator
//! nothing in a cycle that does not load (and Verilator tests one shared `load` once for all
//! the registers it enables). The card uses it for registers that change rarely: counter
//! baselines, configuration copies.
//!
//! Inputs: `clock`, `load`, `d`. Output: `q` (zero at power-up).

use rust_hdl::prelude::*;

/// A register of type `T` (`Bit` or `Bits<N>`) with a load enable.
#[derive(LogicBlock, Default)]
pub struct EnReg<T: Synth> {
    /// Clock.
    pub clock: Signal<In, Clock>,
    /// Take `d` at this edge.
    pub load: Signal<In, Bit>,
    /// The value to take.
    pub d: Signal<In, T>,
    /// The value held.
    pub q: Signal<Out, T>,
    r: DFF<T>,
}

impl<T: Synth> Logic for EnReg<T> {
    /// rust-hdl's simulation of the block; [`Logic::hdl`] is the same logic written as Verilog.
    fn update(&mut self) {
        dff_setup!(self, clock, r);
        if self.load.val() {
            self.r.d.next = self.d.val();
        }
        self.q.next = self.r.q.val();
    }

    /// Marks what `update` drives (what `#[hdl_gen]` would derive from it).
    fn connect(&mut self) {
        self.q.connect();
        self.r.d.connect();
        self.r.clock.connect();
    }

    fn hdl(&self) -> Verilog {
        crate::verilog::hand_written(format!(
            "reg [{m}:0] held = 0;\nassign q = held;\nalways @(posedge clock) begin\n    \
                 if (load) held <= d;\nend\n",
            m = T::BITS - 1
        ))
    }
}

/// The catalogued configuration, `oxnic_en_reg64`.
pub type EnReg64 = EnReg<Bits<64>>;

crate::impl_set_inputs!(EnReg64 { clock, load, d });

/// Verilog of [`EnReg64`] as `oxnic_en_reg64`.
pub fn verilog64() -> Result<String, crate::verilog::GenError> {
    let mut b = EnReg64::default();
    b.connect_all();
    crate::verilog::generate_named(&b, "oxnic_en_reg64")
}

/// Random values with `load` high in a quarter of the cycles.
pub fn random_stimulus(seed: u64, cycles: usize) -> crate::testbench::Stimulus {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    (0..cycles)
        .map(|_| {
            vec![
                ("load", vec![u64::from(rng.gen_bool(0.25))]),
                ("d", vec![rng.gen()]),
            ]
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testbench::Bench;

    #[test]
    fn takes_d_only_when_loaded() {
        let mut b = Bench::new(EnReg64::default()).unwrap();
        let mut held = 0u64;
        let mut loads = 0;
        for cycle in random_stimulus(1, 2000) {
            let get = |n: &str| cycle.iter().find(|(k, _)| *k == n).unwrap().1[0];
            for (name, v) in &cycle {
                b.set(name, v).unwrap();
            }
            b.settle().unwrap();
            b.tick().unwrap();
            if get("load") == 1 {
                held = get("d");
                loads += 1;
            }
            assert_eq!(b.get("q").unwrap()[0], held);
        }
        assert!(loads > 300, "{loads} loads");
    }
}
