//! Cycle-by-cycle driving of a rust-hdl block by port name, for tests and for the differential
//! runner in `oxnic-sim` (which drives the Verilator model of the same block with the same
//! stimulus and compares every output on every cycle).
//!
//! Port names are the Verilog ones: a field of an interface is `iface$field`. Values are
//! little-endian 64-bit words (bit 0 of word 0 is bit 0 of the port).
//!
//! Outputs are read generically by walking the block's atoms; inputs are written through
//! [`SetInputs`], which each testable block implements with [`impl_set_inputs!`].

use rust_hdl::prelude::*;

/// A stimulus: for each cycle, the inputs to set (by Verilog port name) before its rising edge.
/// Inputs keep their value until set again. The clock is driven by the runner, never listed.
pub type Stimulus = Vec<Vec<(&'static str, Vec<u64>)>>;

/// Why a port could not be driven.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TbError {
    /// The block has no input of that name.
    #[error("no input port named {0:?}")]
    NoSuchInput(String),
    /// The block did not settle (a combinational loop).
    #[error("block did not settle within {0} delta cycles")]
    NoSettle(usize),
}

/// Splits a per-queue (or per-vector) input name `port$i` into `port` and `i`, for `i` below
/// `n`; any other name is [`TbError::NoSuchInput`].
pub fn indexed_input(name: &str, n: usize) -> Result<(&str, usize), TbError> {
    let bad = || TbError::NoSuchInput(name.to_string());
    let (port, i) = name.split_once('$').ok_or_else(bad)?;
    let i: usize = i.parse().map_err(|_| bad())?;
    if i < n {
        Ok((port, i))
    } else {
        Err(bad())
    }
}

/// Writes a block's inputs by Verilog port name.
pub trait SetInputs {
    /// Names of the inputs, `clock` included.
    fn input_names(&self) -> &'static [&'static str];
    /// Sets input `name` to `words` (little-endian 64-bit words; missing words are zero).
    fn set_input(&mut self, name: &str, words: &[u64]) -> Result<(), TbError>;
}

/// Conversion from port words to a signal value.
pub trait FromWords: Sized {
    /// The value whose bits are `words` (truncated to the type's width).
    fn from_words(words: &[u64]) -> Self;
}

impl FromWords for bool {
    fn from_words(words: &[u64]) -> Self {
        words.first().is_some_and(|w| w & 1 != 0)
    }
}

impl<const N: usize> FromWords for Bits<N> {
    fn from_words(words: &[u64]) -> Self {
        if N <= 64 {
            let w = words.first().copied().unwrap_or(0);
            let w = if N == 64 { w } else { w & ((1u64 << N) - 1) };
            return Bits::<N>::from(w as LiteralType);
        }
        let mut b = Bits::<N>::default();
        for i in 0..N {
            if words.get(i / 64).is_some_and(|w| (w >> (i % 64)) & 1 != 0) {
                b = b.replace_bit(i, true);
            }
        }
        b
    }
}

impl FromWords for Clock {
    fn from_words(words: &[u64]) -> Self {
        Clock::from(bool::from_words(words))
    }
}

/// Implements [`SetInputs`] for a block from a list of its input ports (paths into interfaces
/// allowed: `input.data` is port `input$data`).
#[macro_export]
macro_rules! impl_set_inputs {
    // Fixed inputs, then per-queue inputs `name$i` for `i` below `self.$count()`, in that order.
    ($block:ty { $($first:ident $(. $rest:ident)*),* $(,)? } per $count:ident { $($vec:ident),* $(,)? }) => {
        impl $crate::testbench::SetInputs for $block {
            fn input_names(&self) -> &'static [&'static str] {
                let mut names: Vec<String> =
                    vec![$( concat!(stringify!($first) $(, "$", stringify!($rest))*).to_string() ),*];
                $(
                    names.extend(
                        (0..self.$count()).map(|i| format!(concat!(stringify!($vec), "${}"), i)),
                    );
                )*
                $crate::reg_bus::intern(names)
            }
            fn set_input(
                &mut self,
                name: &str,
                words: &[u64],
            ) -> Result<(), $crate::testbench::TbError> {
                $(
                    if name == concat!(stringify!($first) $(, "$", stringify!($rest))*) {
                        self.$first$(.$rest)*.next =
                            $crate::testbench::FromWords::from_words(words);
                        return Ok(());
                    }
                )*
                let (port, i) = $crate::testbench::indexed_input(name, self.$count())?;
                $(
                    if port == stringify!($vec) {
                        self.$vec[i].next = $crate::testbench::FromWords::from_words(words);
                        return Ok(());
                    }
                )*
                Err($crate::testbench::TbError::NoSuchInput(name.to_string()))
            }
        }
    };
    ($block:ty { $($first:ident $(. $rest:ident)*),* $(,)? }) => {
        impl $crate::testbench::SetInputs for $block {
            fn input_names(&self) -> &'static [&'static str] {
                &[$( concat!(stringify!($first) $(, "$", stringify!($rest))*) ),*]
            }
            fn set_input(
                &mut self,
                name: &str,
                words: &[u64],
            ) -> Result<(), $crate::testbench::TbError> {
                $(
                    if name == concat!(stringify!($first) $(, "$", stringify!($rest))*) {
                        self.$first$(.$rest)*.next =
                            $crate::testbench::FromWords::from_words(words);
                        return Ok(());
                    }
                )*
                Err($crate::testbench::TbError::NoSuchInput(name.to_string()))
            }
        }
    };
}

/// Converts a VCD value into port words.
fn vcd_words(v: &VCDValue, bits: usize) -> Vec<u64> {
    let mut words = vec![0u64; bits.div_ceil(64).max(1)];
    let mut set = |i: usize, val: &vcd::Value| {
        if *val == vcd::Value::V1 {
            words[i / 64] |= 1 << (i % 64);
        }
    };
    match v {
        VCDValue::Single(val) => set(0, val),
        // VCD vectors are most significant bit first.
        VCDValue::Vector(vals) => {
            let n = vals.len();
            for (k, val) in vals.iter().enumerate() {
                set(n - 1 - k, val);
            }
        }
        VCDValue::String(_) | VCDValue::Composite(_) => {}
    }
    words
}

#[derive(Default)]
struct OutputReader {
    depth: usize,
    prefix: Vec<String>,
    out: Vec<(String, Vec<u64>)>,
}

impl Probe for OutputReader {
    fn visit_start_scope(&mut self, _name: &str, _node: &dyn Block) {
        self.depth += 1;
    }
    fn visit_start_namespace(&mut self, name: &str, _node: &dyn Block) {
        self.prefix.push(name.to_string());
    }
    fn visit_atom(&mut self, name: &str, signal: &dyn Atom) {
        if self.depth == 1 && signal.kind() == AtomKind::OutputParameter {
            let mut full = self.prefix.join("$");
            if !full.is_empty() {
                full.push('$');
            }
            full.push_str(name);
            self.out
                .push((full, vcd_words(&signal.vcd(), signal.bits())));
        }
    }
    fn visit_end_namespace(&mut self, _name: &str, _node: &dyn Block) {
        self.prefix.pop();
    }
    fn visit_end_scope(&mut self, _name: &str, _node: &dyn Block) {
        self.depth -= 1;
    }
}

/// Every top-level output of `uut` with its current value, in declaration order.
pub fn read_outputs(uut: &dyn Block) -> Vec<(String, Vec<u64>)> {
    let mut r = OutputReader::default();
    uut.accept("top", &mut r);
    r.out
}

/// Delta cycles allowed for a block to settle after an input change.
pub const MAX_DELTAS: usize = 1000;

/// Drives a rust-hdl block cycle by cycle.
#[derive(Debug)]
pub struct Bench<B> {
    /// The block under test.
    pub uut: B,
    cycle: u64,
}

impl<B: Block + SetInputs> Bench<B> {
    /// Connects `uut`, holds its clock low and settles it.
    pub fn new(mut uut: B) -> Result<Self, TbError> {
        uut.connect_all();
        let mut b = Bench { uut, cycle: 0 };
        b.set("clock", &[0])?;
        b.settle()?;
        Ok(b)
    }

    /// Sets input `name`; takes effect at the next [`Bench::settle`] or [`Bench::tick`].
    pub fn set(&mut self, name: &str, words: &[u64]) -> Result<(), TbError> {
        self.uut.set_input(name, words)
    }

    /// Propagates combinational logic until nothing changes.
    pub fn settle(&mut self) -> Result<(), TbError> {
        if simulate(&mut self.uut, MAX_DELTAS) {
            Ok(())
        } else {
            Err(TbError::NoSettle(MAX_DELTAS))
        }
    }

    /// One clock cycle: rising edge, settle, falling edge, settle.
    pub fn tick(&mut self) -> Result<(), TbError> {
        self.set("clock", &[1])?;
        self.settle()?;
        self.set("clock", &[0])?;
        self.settle()?;
        self.cycle += 1;
        Ok(())
    }

    /// Cycles ticked so far.
    pub fn cycle(&self) -> u64 {
        self.cycle
    }

    /// Current value of output `name`, if the block has it.
    pub fn get(&self, name: &str) -> Option<Vec<u64>> {
        read_outputs(&self.uut)
            .into_iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
    }

    /// All outputs.
    pub fn outputs(&self) -> Vec<(String, Vec<u64>)> {
        read_outputs(&self.uut)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream_register::StreamRegister;

    #[test]
    fn drives_by_name_and_reads_wide_outputs() {
        let mut b = Bench::new(StreamRegister::<128, 16>::default()).unwrap();
        assert_eq!(b.get("source$valid"), Some(vec![0]));
        b.set("sink$data", &[0x1111_2222_3333_4444, 0xaaaa_bbbb_cccc_dddd])
            .unwrap();
        b.set("sink$keep", &[0xffff]).unwrap();
        b.set("sink$valid", &[1]).unwrap();
        b.settle().unwrap();
        assert_eq!(b.get("sink$ready"), Some(vec![1]));
        b.tick().unwrap();
        b.set("sink$valid", &[0]).unwrap();
        b.settle().unwrap();
        assert_eq!(b.get("source$valid"), Some(vec![1]));
        assert_eq!(
            b.get("source$data"),
            Some(vec![0x1111_2222_3333_4444, 0xaaaa_bbbb_cccc_dddd])
        );
        b.set("source$ready", &[1]).unwrap();
        b.tick().unwrap();
        assert_eq!(b.get("source$valid"), Some(vec![0]));
        assert_eq!(b.get("words"), Some(vec![1]));
        assert_eq!(b.cycle(), 2);
        let names: Vec<String> = b.outputs().into_iter().map(|(n, _)| n).collect();
        assert_eq!(
            names,
            [
                "sink$ready",
                "source$data",
                "source$keep",
                "source$last",
                "source$user",
                "source$valid",
                "words"
            ]
        );
    }

    #[test]
    fn unknown_input_is_an_error() {
        let mut b = Bench::new(StreamRegister::<128, 16>::default()).unwrap();
        assert_eq!(
            b.set("nope", &[1]),
            Err(TbError::NoSuchInput("nope".into()))
        );
    }

    #[test]
    fn wide_values_convert_both_ways() {
        let b: Bits<100> = FromWords::from_words(&[u64::MAX, 0xf_ffff_ffff]);
        assert!(b.get_bit(99) && b.get_bit(0) && b.get_bit(64));
        let words = vcd_words(&VCDValue::from(b), 100);
        assert_eq!(words, vec![u64::MAX, 0xf_ffff_ffff]);
        let b: Bits<12> = FromWords::from_words(&[0xffff]);
        assert_eq!(b.to_u64(), 0xfff);
    }
}
