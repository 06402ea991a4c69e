//! Differential testing: one stimulus drives rust-hdl's own simulator and the Verilator model of
//! the same block cycle by cycle; every output is compared on every cycle.
//!
//! The two simulators are known to disagree in corner cases (rust-hdl's simulation is not its
//! Verilog), so every block runs both ways on the same stimulus. On the first difference the run
//! stops and reports the cycle, the signal and both values.

use crate::harness::{RawModel, Sim};
use oxnic_hdl::testbench::{read_outputs, SetInputs, Stimulus, TbError};
use rust_hdl::prelude::*;

/// The first output on which the two simulators disagreed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DiffError {
    /// Outputs differ.
    #[error("cycle {cycle}: output {signal}: rust-hdl {rhdl} != verilator {verilator}")]
    Mismatch {
        /// Cycle number (0-based) at which the outputs were sampled, before its rising edge.
        cycle: u64,
        /// Verilog port name.
        signal: String,
        /// rust-hdl's value (hex, most significant word first).
        rhdl: String,
        /// Verilator's value.
        verilator: String,
    },
    /// The two models do not have the same outputs.
    #[error("output {0} exists in only one of the simulators")]
    PortSet(String),
    /// Driving the rust-hdl block failed.
    #[error("rust-hdl: {0}")]
    Rhdl(#[from] TbError),
    /// Driving the Verilator model failed.
    #[error("verilator: {0}")]
    Verilator(#[from] crate::harness::HarnessError),
}

fn hex(words: &[u64]) -> String {
    let mut s = String::from("0x");
    for (i, w) in words.iter().rev().enumerate() {
        if i == 0 {
            s.push_str(&format!("{w:x}"));
        } else {
            s.push_str(&format!("_{w:016x}"));
        }
    }
    s
}

/// Outputs sampled on one cycle, in the Verilator model's port order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sample(Vec<(&'static str, Vec<u64>)>);

impl Sample {
    /// The words of output `name` (least significant first), or `None` if the block has no such
    /// output.
    pub fn words(&self, name: &str) -> Option<&[u64]> {
        self.0
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_slice())
    }

    /// The low word of output `name` — what a test of a port of up to 64 bits reads.
    ///
    /// # Panics
    /// If the block has no output `name`: the port list is fixed by the block, so a missing
    /// name is a typo in the test, reported with the name (use [`Sample::words`] to ask).
    pub fn get(&self, name: &str) -> u64 {
        match self.words(name) {
            Some(w) => w.first().copied().unwrap_or(0),
            None => panic!("no output {name}"),
        }
    }
}

/// Runs `stimulus` on both simulators, comparing every output on every cycle (after the inputs
/// of the cycle are applied and settled, before its rising edge, and once more after the last
/// cycle). `observe` sees each agreed sample — tests use it to check behaviour against a
/// reference model at the same time. Returns the number of cycles compared.
pub fn run<B, M>(
    uut: B,
    model: M,
    stimulus: &Stimulus,
    mut observe: impl FnMut(u64, &Sample),
) -> Result<u64, DiffError>
where
    B: Block + SetInputs,
    M: RawModel,
{
    let mut bench = oxnic_hdl::testbench::Bench::new(uut)?;
    let mut sim = Sim::new(model)?;
    let outputs: Vec<(usize, &'static str)> = sim
        .model
        .ports()
        .iter()
        .enumerate()
        .filter(|(_, p)| !p.input)
        .map(|(i, p)| (i, p.name))
        .collect();
    let rhdl_names: Vec<String> = read_outputs(&bench.uut)
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    for n in &rhdl_names {
        if !outputs.iter().any(|(_, o)| o == n) {
            return Err(DiffError::PortSet(n.clone()));
        }
    }
    for (_, o) in &outputs {
        if !rhdl_names.iter().any(|n| n == o) {
            return Err(DiffError::PortSet(o.to_string()));
        }
    }
    let mut buf = Vec::new();
    let mut sample = Sample(Vec::with_capacity(outputs.len()));
    let mut compare = |cycle: u64, bench: &oxnic_hdl::testbench::Bench<B>, sim: &Sim<M>| {
        let r = read_outputs(&bench.uut);
        sample.0.clear();
        for (i, name) in &outputs {
            sim.model.get_port(*i, &mut buf);
            let rv = r
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_slice())
                .unwrap_or(&[]);
            if rv != buf.as_slice() {
                return Err(DiffError::Mismatch {
                    cycle,
                    signal: name.to_string(),
                    rhdl: hex(rv),
                    verilator: hex(&buf),
                });
            }
            sample.0.push((name, buf.clone()));
        }
        observe(cycle, &sample);
        Ok(())
    };
    let mut cycle = 0u64;
    for inputs in stimulus {
        for (name, v) in inputs {
            bench.set(name, v)?;
            sim.set(name, v)?;
        }
        bench.settle()?;
        sim.eval();
        compare(cycle, &bench, &sim)?;
        bench.tick()?;
        sim.tick();
        cycle += 1;
    }
    bench.settle()?;
    sim.eval();
    compare(cycle, &bench, &sim)?;
    Ok(cycle)
}
