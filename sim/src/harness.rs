//! The Verilator harness: a verilated model behind a small safe interface, clock stepping,
//! reset, by-name port access and VCD waveforms.
//!
//! `build.rs` generates one module per block of `oxnic_hdl::catalog` in [`crate::models`]; each
//! has a `Model` with typed accessors (`set_sink_data`, `get_crc`, ...) for hot loops, and
//! implements [`RawModel`] for generic, by-index access. [`Sim`] wraps any model with a clock.
//!
//! Waveforms: set `OXNIC_WAVES=DIR` and every [`Sim`] writes `DIR/<model>-<n>.vcd`, or call
//! [`Sim::trace_to`]. GTKWave opens the files.

use std::ffi::CString;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

/// A port of a verilated model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Port {
    /// Verilog name (interface fields as `iface$field`).
    pub name: &'static str,
    /// True for inputs.
    pub input: bool,
    /// Width in bits.
    pub width: u32,
}

/// What every generated model offers, by port index.
pub trait RawModel {
    /// Module name.
    fn name(&self) -> &'static str;
    /// Ports in header order.
    fn ports(&self) -> &'static [Port];
    /// Evaluates the model (combinational settle, and clocked logic on an edge).
    fn eval(&mut self);
    /// A rising edge of the input `clock`: the clock goes low then high and the model is
    /// evaluated; the clock is left high. One evaluation where the model allows it (see
    /// [`RawModel::edge_evals`]), else two. For a model without a clock, [`RawModel::eval`].
    fn eval_edge(&mut self);
    /// Evaluations one [`RawModel::eval_edge`] costs: 1, or 2 where the verilated model's
    /// edge detection could not be primed.
    fn edge_evals(&self) -> u32;
    /// Whether the model can write waveforms (was verilated with `--trace`): a model the hot
    /// loops run may be built without (see `Model::new_traced`).
    fn traceable(&self) -> bool;
    /// Opens a VCD file; false if it could not be opened (or the model is not traceable).
    fn trace_open(&mut self, path: &std::ffi::CStr) -> bool;
    /// Dumps the current values at `time` (in half clock periods) if a trace is open.
    fn trace_dump(&mut self, time: u64);
    /// Closes the trace, if open.
    fn trace_close(&mut self);
    /// Sets input `index` to `words` (little-endian 64-bit words); outputs are ignored.
    fn set_port(&mut self, index: usize, words: &[u64]);
    /// Reads port `index` into `out` as little-endian 64-bit words.
    fn get_port(&self, index: usize, out: &mut Vec<u64>);
    /// Sets input `index` to `v`: [`RawModel::set_port`] with one word, for hot loops
    /// (generated models store it directly).
    fn set_u64(&mut self, index: usize, v: u64) {
        self.set_port(index, &[v]);
    }
    /// Reads port `index`'s low 64 bits: [`RawModel::get_port`]'s first word, for hot loops
    /// (generated models read it directly, without a buffer).
    fn get_u64(&self, index: usize) -> u64 {
        let mut out = Vec::new();
        self.get_port(index, &mut out);
        out.first().copied().unwrap_or(0)
    }
}

/// Errors of the harness.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum HarnessError {
    /// The model has no port of that name (or it has the wrong direction).
    #[error("model {model} has no {dir} port named {name:?}")]
    NoSuchPort {
        /// Model name.
        model: &'static str,
        /// "input" or "output".
        dir: &'static str,
        /// Name asked for.
        name: String,
    },
    /// The waveform file could not be opened.
    #[error("cannot open waveform file {0}")]
    Trace(String),
    /// The model was built without tracing.
    #[error(
        "model {0} was created without waveform support: create it with `Model::new_traced()`"
    )]
    NotTraced(&'static str),
    /// The model has no clock input.
    #[error("model {0} has no `clock` input")]
    NoClock(&'static str),
}

static TRACE_SEQ: AtomicU64 = AtomicU64::new(0);

/// Whether `OXNIC_WAVES` asks for waveforms: then a model with an untraced build
/// (`Model::new`) must be created with `Model::new_traced` for [`Sim::new`] to succeed.
pub fn waves_requested() -> bool {
    std::env::var_os("OXNIC_WAVES").is_some()
}

/// A verilated model with a clock: stepping, reset, by-name access, waveforms.
#[derive(Debug)]
pub struct Sim<M: RawModel> {
    /// The model, for typed access in hot loops.
    pub model: M,
    clock: usize,
    reset: Option<usize>,
    cycle: u64,
    tracing: bool,
}

impl<M: RawModel> Sim<M> {
    /// Wraps `model`: clock low, one evaluation (without it Verilator misses the first edge),
    /// and a waveform if `OXNIC_WAVES` names a directory.
    pub fn new(mut model: M) -> Result<Self, HarnessError> {
        let ports = model.ports();
        let find = |n: &str| ports.iter().position(|p| p.input && p.name == n);
        let clock = find("clock").ok_or(HarnessError::NoClock(model.name()))?;
        let reset = find("reset");
        model.set_port(clock, &[0]);
        model.eval();
        let mut sim = Sim {
            model,
            clock,
            reset,
            cycle: 0,
            tracing: false,
        };
        if let Some(dir) = std::env::var_os("OXNIC_WAVES") {
            let n = TRACE_SEQ.fetch_add(1, Ordering::Relaxed);
            let path = Path::new(&dir).join(format!(
                "{}-{}-{n}.vcd",
                sim.model.name(),
                std::process::id()
            ));
            sim.trace_to(&path)?;
        }
        Ok(sim)
    }

    /// Starts writing a VCD waveform to `path`.
    pub fn trace_to(&mut self, path: &Path) -> Result<(), HarnessError> {
        if !self.model.traceable() {
            return Err(HarnessError::NotTraced(self.model.name()));
        }
        let c = CString::new(path.to_string_lossy().as_bytes())
            .map_err(|_| HarnessError::Trace(path.display().to_string()))?;
        if !self.model.trace_open(&c) {
            return Err(HarnessError::Trace(path.display().to_string()));
        }
        self.tracing = true;
        self.model.trace_dump(self.cycle * 2);
        Ok(())
    }

    /// Flushes and closes the waveform.
    pub fn trace_close(&mut self) {
        self.model.trace_close();
        self.tracing = false;
    }

    /// Index of port `name` with direction `input`.
    pub fn port(&self, name: &str, input: bool) -> Result<usize, HarnessError> {
        self.model
            .ports()
            .iter()
            .position(|p| p.input == input && p.name == name)
            .ok_or_else(|| HarnessError::NoSuchPort {
                model: self.model.name(),
                dir: if input { "input" } else { "output" },
                name: name.to_string(),
            })
    }

    /// Sets input `name`; evaluated at the next [`Sim::eval`] or [`Sim::tick`].
    pub fn set(&mut self, name: &str, words: &[u64]) -> Result<(), HarnessError> {
        let i = self.port(name, true)?;
        self.model.set_port(i, words);
        Ok(())
    }

    /// Reads any port (inputs too) by name.
    pub fn get(&self, name: &str) -> Result<Vec<u64>, HarnessError> {
        let i = self
            .model
            .ports()
            .iter()
            .position(|p| p.name == name)
            .ok_or_else(|| HarnessError::NoSuchPort {
                model: self.model.name(),
                dir: "any",
                name: name.to_string(),
            })?;
        let mut v = Vec::new();
        self.model.get_port(i, &mut v);
        Ok(v)
    }

    /// Settles combinational logic after input changes.
    pub fn eval(&mut self) {
        self.model.eval();
    }

    /// One clock cycle: rising edge, evaluate, falling edge, evaluate.
    #[inline]
    pub fn tick(&mut self) {
        self.model.set_port(self.clock, &[1]);
        self.model.eval();
        if self.tracing {
            self.model.trace_dump(self.cycle * 2 + 1);
        }
        self.model.set_port(self.clock, &[0]);
        self.model.eval();
        self.cycle += 1;
        if self.tracing {
            self.model.trace_dump(self.cycle * 2);
        }
    }

    /// One clock cycle as a single rising edge ([`RawModel::eval_edge`]), for callers that
    /// set this cycle's inputs and read outputs that do not depend on them combinationally
    /// (the previous edge left them): the clock is lowered afterwards without an evaluation.
    /// On the verilated card one evaluation instead of two per cycle halves the work on the
    /// logic fed by its inputs. Outputs read right after it are those of [`Sim::tick`]
    /// (nothing in these designs acts on the falling edge). With a waveform open it is a full
    /// [`Sim::tick`], so the dump at the falling edge shows settled values.
    #[inline]
    pub fn tick_rise(&mut self) {
        if self.tracing {
            self.tick();
        } else {
            self.model.eval_edge();
            self.model.set_u64(self.clock, 0);
            self.cycle += 1;
        }
    }

    /// `n` cycles.
    pub fn run(&mut self, n: u64) {
        for _ in 0..n {
            self.tick();
        }
    }

    /// Holds `reset` high for `cycles` cycles if the model has a reset input; returns whether
    /// it has one. Blocks without a reset start from their initial values.
    pub fn reset(&mut self, cycles: u64) -> bool {
        let Some(r) = self.reset else { return false };
        self.model.set_port(r, &[1]);
        self.run(cycles);
        self.model.set_port(r, &[0]);
        self.model.eval();
        true
    }

    /// Cycles ticked so far.
    pub fn cycle(&self) -> u64 {
        self.cycle
    }
}

impl<M: RawModel> Drop for Sim<M> {
    fn drop(&mut self) {
        if self.tracing {
            self.model.trace_close();
        }
    }
}
