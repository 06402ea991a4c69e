//! Verilog generation for named blocks.
//!
//! rust-hdl calls every top module `top` and names submodules after the top (`top$child`). Giving
//! each block its own top name keeps several blocks apart in one Verilator build and one yosys
//! run, and lets a board wrapper instantiate the card by a meaningful name.

use rust_hdl::prelude::*;

/// Why Verilog could not be generated.
#[derive(Debug, thiserror::Error)]
pub enum GenError {
    /// rust-hdl's structural checks failed (open inputs, logic loops, inputs written).
    #[error("block {name}: rust-hdl check failed: {detail}")]
    Check {
        /// Block name.
        name: String,
        /// What the check reported.
        detail: String,
    },
    /// The requested top name is not a Verilog identifier.
    #[error("{0:?} is not a valid Verilog module name")]
    BadName(String),
}

fn valid_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Generates the Verilog of `uut` (already `connect_all`ed) with top module `name`.
pub fn generate_named<U: Block>(uut: &U, name: &str) -> Result<String, GenError> {
    if !valid_identifier(name) {
        return Err(GenError::BadName(name.into()));
    }
    check_all(uut).map_err(|e| GenError::Check {
        name: name.into(),
        detail: format!("{e:?}"),
    })?;
    let mut defines = ModuleDefines::default();
    uut.accept(name, &mut defines);
    Ok(defines.defines())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A counter, the smallest block with state: enough to check naming and the checks.
    #[derive(LogicBlock, Default)]
    struct Counter {
        clock: Signal<In, Clock>,
        enable: Signal<In, Bit>,
        count: Signal<Out, Bits<8>>,
        state: DFF<Bits<8>>,
    }

    impl Logic for Counter {
        #[hdl_gen]
        fn update(&mut self) {
            dff_setup!(self, clock, state);
            if self.enable.val() {
                self.state.d.next = self.state.q.val() + 1;
            }
            self.count.next = self.state.q.val();
        }
    }

    #[test]
    fn top_module_takes_the_given_name() {
        let mut c = Counter::default();
        c.connect_all();
        let v = generate_named(&c, "oxnic_counter").unwrap();
        assert!(v.contains("module oxnic_counter("), "{v}");
        assert!(!v.contains("module top"));
    }

    /// Two counters in one block: their module names must derive from the top's name.
    #[derive(LogicBlock, Default)]
    struct Pair {
        clock: Signal<In, Clock>,
        enable: Signal<In, Bit>,
        sum: Signal<Out, Bits<8>>,
        a: Counter,
        b: Counter,
    }

    impl Logic for Pair {
        #[hdl_gen]
        fn update(&mut self) {
            clock!(self, clock, a, b);
            self.a.enable.next = self.enable.val();
            self.b.enable.next = !self.enable.val();
            self.sum.next = self.a.count.val() + self.b.count.val();
        }
    }

    #[test]
    fn submodules_carry_the_top_name() {
        let mut p = Pair::default();
        p.connect_all();
        let v = generate_named(&p, "oxnic_pair").unwrap();
        assert!(v.contains("module oxnic_pair("), "{v}");
        assert!(v.contains("module oxnic_pair$a("), "{v}");
        assert!(v.contains("module oxnic_pair$b("), "{v}");
    }

    #[test]
    fn open_inputs_and_bad_names_are_errors() {
        let c = Counter::default(); // not connected: the inputs are open
        assert!(matches!(
            generate_named(&c, "x"),
            Err(GenError::Check { .. })
        ));
        let mut c = Counter::default();
        c.connect_all();
        assert!(matches!(
            generate_named(&c, "9lives"),
            Err(GenError::BadName(_))
        ));
        assert!(matches!(
            generate_named(&c, "a-b"),
            Err(GenError::BadName(_))
        ));
    }
}
