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
    Ok(isolate_handshakes(&resolve_children(&defines.defines())))
}

/// The `hdl()` of a block whose Verilog is written by hand (module body `code`, no extra cores).
pub fn hand_written(code: impl Into<String>) -> Verilog {
    Verilog::Wrapper(Wrapper {
        code: code.into(),
        cores: String::new(),
    })
}

/// For a block whose Verilog is written by hand: marks its flip-flops' `d` and `clock` as
/// driven in its `connect` (what `#[hdl_gen]` derives from `dff_setup!`).
#[macro_export]
macro_rules! connect_dffs {
    ($self:ident, $($f:ident),* $(,)?) => {
        $( $self.$f.d.connect(); $self.$f.clock.connect(); )*
    };
}

/// Defines `with_dffs!` for a block whose Verilog is written by hand: its flip-flop fields,
/// listed once, fed both to `update`'s `dff_setup!` (`with_dffs!(dff_setup!(self, clock,))`)
/// and to `connect`'s [`connect_dffs!`] (`with_dffs!(connect_dffs!(self,))`). Called as
/// `dff_list!($ a, b, c)`: the leading `$` is passed in because a macro cannot write the `$`
/// of a macro it defines.
#[macro_export]
macro_rules! dff_list {
    ($d:tt $($dff:ident),+ $(,)?) => {
        macro_rules! with_dffs {
            ($d m:ident!($d($d head:tt)*)) => {
                $d m!($d($d head)* $($dff),+)
            };
        }
    };
}

/// For a block whose Verilog is written by hand and whose rust-hdl model keeps `RAM`s: marks
/// every input of each RAM as driven in its `connect`.
#[macro_export]
macro_rules! connect_rams {
    ($self:ident, $($ram:ident),* $(,)?) => {
        $(
            $self.$ram.read_clock.connect();
            $self.$ram.write_clock.connect();
            $self.$ram.read_address.connect();
            $self.$ram.write_address.connect();
            $self.$ram.write_data.connect();
            $self.$ram.write_enable.connect();
        )*
    };
}

/// Placeholder for a child's module name in hand-written Verilog (`Verilog::Wrapper`):
/// `@CHILD(fcs)` in module `m` becomes `m$fcs`, the name rust-hdl gives the module of field
/// `fcs`. rust-hdl emits a wrapped block's children as modules but does not instantiate them;
/// the hand-written body instantiates the ones it uses by this name, which depends on where
/// the block sits in the design.
pub const CHILD: &str = "@CHILD(";

/// Replaces every [`CHILD`] placeholder with the child's module name.
pub fn resolve_children(verilog: &str) -> String {
    if !verilog.contains(CHILD) {
        return verilog.to_string();
    }
    let mut out = String::with_capacity(verilog.len());
    for (i, chunk) in verilog.split("\nmodule ").enumerate() {
        if i > 0 {
            out.push_str("\nmodule ");
        }
        let module = chunk.split('(').next().unwrap_or("").trim();
        let mut rest = chunk;
        while let Some(at) = rest.find(CHILD) {
            out.push_str(&rest[..at]);
            let after = &rest[at + CHILD.len()..];
            let end = after.find(')').unwrap_or(after.len());
            out.push_str(module);
            out.push('$');
            out.push_str(&after[..end]);
            rest = after.get(end + 1..).unwrap_or("");
        }
        out.push_str(rest);
    }
    out
}

/// Verilator's `isolate_assignments` attribute, as [`isolate_handshakes`] writes it.
const ISOLATE: &str = " /*verilator isolate_assignments*/";

/// Marks the signals of rust-hdl's combinational blocks that Verilator should compute in blocks
/// of their own, so that handshakes between blocks are not combinational loops in simulation.
///
/// rust-hdl writes all of a module's `update` as one `always @(*)` block. A parent that reads a
/// child's `ready` and drives its `valid` — and a child whose `ready` is computed in the same
/// block that reads its `valid` — then form loops at the level of blocks, though no signal
/// depends on itself. Verilator can only settle such a loop by evaluating every block in it
/// again until nothing changes, several times a cycle (the card's engines ran about three
/// times a cycle). With the attribute Verilator moves a signal's assignments, with the
/// conditions they sit under, into a block of its own. Candidates:
/// - in a module that instantiates logic (not only flip-flops and RAMs): every combinational
///   signal except the flip-flops' `d` and `clock` inputs — the wiring between its children;
/// - in every other module with a combinational block: its outputs.
///
/// A candidate is marked only where that keeps the block's meaning ([`Comb::can_isolate`]):
/// the moved statements see each signal's final value rather than its value at that point of
/// the block, and the rest of the block sees the candidate's final value. The attribute is a
/// comment to every other tool (yosys, Icarus).
pub fn isolate_handshakes(verilog: &str) -> String {
    let chunks: Vec<&str> = verilog.split("\nmodule ").collect();
    let name_of = |c: &str| c.split('(').next().unwrap_or("").trim().to_string();
    let logic: std::collections::HashSet<String> = chunks
        .iter()
        .skip(1)
        .filter(|c| c.contains("always @(*)") || c.contains("\n    assign "))
        .map(|c| name_of(c))
        .collect();
    let mut out = String::with_capacity(verilog.len() + verilog.len() / 8);
    for (i, chunk) in chunks.iter().enumerate() {
        if i > 0 {
            out.push_str("\nmodule ");
        }
        let comb = if i == 0 { None } else { Comb::parse(chunk) };
        let Some(comb) = comb else {
            out.push_str(chunk);
            continue;
        };
        let hub = chunk.lines().any(|l| {
            l.strip_prefix("    ")
                .and_then(|l| l.strip_suffix('('))
                .and_then(|l| l.split_once(' '))
                .is_some_and(|(module, inst)| !inst.contains(' ') && logic.contains(module))
        });
        for (k, line) in chunk.split('\n').enumerate() {
            if k > 0 {
                out.push('\n');
            }
            let mark = line.strip_suffix(';').is_some_and(|decl| {
                let output = decl.starts_with("    output reg ");
                let local = decl.starts_with("    reg ");
                let signal = decl.rsplit(' ').next().unwrap_or("");
                let wiring = !signal.ends_with("$clock") && !signal.ends_with("$d");
                !decl.contains('=')
                    && (output || (hub && local && wiring))
                    && comb.can_isolate(signal)
            });
            if mark {
                out.push_str(&line[..line.len() - 1]);
                out.push_str(ISOLATE);
                out.push(';');
            } else {
                out.push_str(line);
            }
        }
    }
    out
}

/// One line of a combinational block, as [`Comb`] sees it.
#[derive(Debug)]
struct CombLine {
    /// The signal assigned, for `x = ...;`.
    lhs: Option<String>,
    /// Identifiers read: the right-hand side, or a condition or case selector.
    reads: Vec<String>,
    /// The condition lines (indices) this line sits under, earlier branches of an
    /// `if`/`else if` chain included.
    under: Vec<usize>,
    /// The branches it sits in: (`if` chain or `case`, which arm).
    arms: Vec<(usize, usize)>,
}

/// An open `if` arm, `case` or `case` item while [`Comb::parse`] reads a block.
#[derive(Debug, Clone)]
struct Frame {
    headers: Vec<usize>,
    construct: usize,
    /// The arm, or `None` for a `case` between its items.
    arm: Option<usize>,
    /// Items seen so far, for a `case`.
    items: usize,
}

/// The statements of a module's `always @(*)` block as rust-hdl writes them: assignments,
/// `if`/`else if`/`else` and `case` with `begin`/`end` around every body.
#[derive(Debug)]
struct Comb {
    lines: Vec<CombLine>,
    /// Per signal assigned in the block: the lines assigning it.
    writes: std::collections::HashMap<String, Vec<usize>>,
}

/// A character of a rust-hdl signal name (`$` joins an interface's or child's fields).
fn name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '$'
}

fn identifiers(text: &str) -> Vec<String> {
    text.split(|c: char| !name_char(c))
        .filter(|t| t.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_'))
        .map(str::to_string)
        .collect()
}

impl Comb {
    /// The module's combinational block, or `None` if it has none or holds a line of a form
    /// this reader does not know (then nothing in the module is marked).
    fn parse(module: &str) -> Option<Comb> {
        const OPEN: &str = "\n    always @(*) begin\n";
        let start = module.find(OPEN)?;
        let body = &module[start + OPEN.len()..];
        let mut lines = Vec::new();
        let mut writes: std::collections::HashMap<String, Vec<usize>> = Default::default();
        let mut stack: Vec<Frame> = Vec::new();
        let mut popped: Option<Frame> = None;
        let mut constructs = 0usize;
        let mut label: Option<usize> = None;
        for raw in body.lines() {
            if raw == "    end" {
                return stack.is_empty().then_some(Comb { lines, writes });
            }
            let t = raw.trim();
            let idx = lines.len();
            let mut line = CombLine {
                lhs: None,
                reads: Vec::new(),
                under: stack
                    .iter()
                    .flat_map(|f| f.headers.iter().copied())
                    .collect(),
                arms: stack
                    .iter()
                    .filter_map(|f| f.arm.map(|a| (f.construct, a)))
                    .collect(),
            };
            let mut push = None;
            if t == "end" || t == "endcase" {
                popped = Some(stack.pop()?);
            } else if let Some(c) = t
                .strip_prefix("if (")
                .and_then(|c| c.strip_suffix(" begin"))
            {
                line.reads = identifiers(c);
                constructs += 1;
                push = Some(Frame {
                    headers: vec![idx],
                    construct: constructs,
                    arm: Some(0),
                    items: 0,
                });
            } else if t == "else begin" || t.starts_with("else if (") {
                let prev = popped.take().filter(|f| f.arm.is_some())?;
                if let Some(c) = t
                    .strip_prefix("else if (")
                    .and_then(|c| c.strip_suffix(" begin"))
                {
                    line.reads = identifiers(c);
                } else if t != "else begin" {
                    return None;
                }
                let mut headers = prev.headers;
                headers.push(idx);
                push = Some(Frame {
                    headers,
                    construct: prev.construct,
                    arm: prev.arm.map(|a| a + 1),
                    items: 0,
                });
            } else if let Some(c) = t.strip_prefix("case (") {
                line.reads = identifiers(c);
                constructs += 1;
                push = Some(Frame {
                    headers: vec![idx],
                    construct: constructs,
                    arm: None,
                    items: 0,
                });
            } else if t.ends_with(':') && !t.contains(' ') {
                line.reads = identifiers(t);
                label = Some(idx);
            } else if t == "begin" {
                let case = stack.last_mut().filter(|f| f.arm.is_none())?;
                case.items += 1;
                push = Some(Frame {
                    headers: label.take().into_iter().collect(),
                    construct: case.construct,
                    arm: Some(case.items),
                    items: 0,
                });
            } else if let Some((lhs, rhs)) = t.strip_suffix(';').and_then(|a| a.split_once(" = ")) {
                if lhs.is_empty() || !lhs.chars().all(name_char) {
                    return None;
                }
                line.reads = identifiers(rhs);
                line.lhs = Some(lhs.to_string());
                writes.entry(lhs.to_string()).or_default().push(idx);
            } else if !t.is_empty() && !t.starts_with("//") {
                return None;
            }
            if !(t == "end" || t == "endcase") {
                popped = None;
            }
            lines.push(line);
            if let Some(f) = push {
                stack.push(f);
            }
        }
        None
    }

    /// Whether lines `a` and `b` sit in different arms of one `if` chain or `case`, so that
    /// never both run.
    fn exclusive(&self, a: usize, b: usize) -> bool {
        self.lines[a]
            .arms
            .iter()
            .any(|&(c, x)| self.lines[b].arms.iter().any(|&(d, y)| c == d && x != y))
    }

    /// Whether `signal` may be assigned after line `at` has run, in the same evaluation.
    fn written_after(&self, signal: &str, at: usize) -> bool {
        self.writes
            .get(signal)
            .is_some_and(|w| w.iter().any(|&w| w >= at && !self.exclusive(w, at)))
    }

    /// Whether moving `signal`'s assignments (and the conditions over them) into a block of
    /// their own leaves every value the same:
    /// - the moved statements read every other signal of the block where no later assignment
    ///   can change it, so its final value (all they can see once moved) is the value they saw;
    /// - the rest of the block reads `signal` only where no later assignment can change it, or
    ///   in a condition whose body assigns nothing but `signal` (that condition moves with it).
    fn can_isolate(&self, signal: &str) -> bool {
        let Some(own) = self.writes.get(signal) else {
            return false;
        };
        let mut moved: Vec<usize> = own.clone();
        for &w in own {
            moved.extend(&self.lines[w].under);
        }
        moved.sort_unstable();
        moved.dedup();
        for &m in &moved {
            for v in &self.lines[m].reads {
                if v != signal && self.written_after(v, m) {
                    return false;
                }
            }
        }
        for (i, line) in self.lines.iter().enumerate() {
            if own.contains(&i)
                || !line.reads.iter().any(|r| r == signal)
                || !self.written_after(signal, i)
            {
                continue;
            }
            let only_own = line.lhs.is_none()
                && self
                    .lines
                    .iter()
                    .filter(|l| l.under.contains(&i))
                    .all(|l| l.lhs.as_deref().is_none_or(|x| x == signal));
            if !only_own {
                return false;
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn child_placeholders_take_their_modules_name() {
        let v = "\nmodule top(a);\n@CHILD(fcs) fcs(.x(a));\nendmodule\n\nmodule top$mac(b);\n@CHILD(fcs) fcs(.x(b)); @CHILD(other) o();\nendmodule\n";
        let r = resolve_children(v);
        assert!(r.contains("top$fcs fcs(.x(a));"), "{r}");
        assert!(
            r.contains("top$mac$fcs fcs(.x(b)); top$mac$other o();"),
            "{r}"
        );
        assert!(!r.contains(CHILD), "{r}");
        assert_eq!(
            resolve_children("module a(); endmodule"),
            "module a(); endmodule"
        );
    }

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
    fn wiring_and_outputs_get_blocks_of_their_own() {
        let mut p = Pair::default();
        p.connect_all();
        let v = generate_named(&p, "oxnic_pair").unwrap();
        let decl = |module: &str, signal: &str| {
            let body = v
                .split("\nmodule ")
                .find(|c| c.starts_with(&format!("{module}(")))
                .unwrap_or_else(|| panic!("no module {module} in {v}"));
            body.lines()
                .find(|l| {
                    l.trim_end_matches(';')
                        .trim_end_matches(ISOLATE)
                        .ends_with(&format!(" {signal}"))
                        && l.ends_with(';')
                })
                .unwrap_or_else(|| panic!("no {signal} in {module}: {body}"))
                .to_string()
        };
        // The pair instantiates logic: its wiring to the counters is isolated, their clocks
        // are not.
        assert!(decl("oxnic_pair", "a$enable").contains(ISOLATE));
        assert!(decl("oxnic_pair", "b$enable").contains(ISOLATE));
        assert!(decl("oxnic_pair", "sum").contains(ISOLATE));
        assert!(!decl("oxnic_pair", "a$clock").contains(ISOLATE));
        // A counter holds only a flip-flop: its output is isolated, the flip-flop's input is not.
        assert!(decl("oxnic_pair$a", "count").contains(ISOLATE));
        assert!(!decl("oxnic_pair$a", "state$d").contains(ISOLATE));
    }

    /// A hub module as rust-hdl writes it (one child with logic), for the safety rules.
    fn hub(body: &str) -> String {
        format!(
            "// top\nmodule oxnic_t(a,b,y);\n    input wire  a;\n    input wire  b;\n    \
             output reg  y;\n    reg  found;\n    reg  pick;\n    reg  late;\n    reg  early;\n    \
             reg  c$x;\n    wire  c$z;\n    oxnic_t$c c(\n        .x(c$x),\n        .z(c$z)\n    );\n    \
             always @(*) begin\n{body}    end\nendmodule // oxnic_t\n\nmodule oxnic_t$c(x,z);\n    \
             input wire  x;\n    output reg  z;\n    always @(*) begin\n        z = x;\n    end\n\
             endmodule // oxnic_t$c\n"
        )
    }

    fn marked(v: &str, signal: &str) -> bool {
        v.contains(&format!(" {signal}{ISOLATE};"))
    }

    #[test]
    fn a_signal_read_before_its_last_assignment_is_left_in_place() {
        // `found` is read between its assignments (a priority pick, as rust-hdl's loops write
        // it): moved, its reads would see the final value.
        let v = isolate_handshakes(&hub(
            "        found = 1'b0;\n        pick = 1'b0;\n        if (a & ~found) begin\n            \
             found = 1'b1;\n            pick = 1'b0;\n        end\n        if (b & ~found) begin\n            \
             found = 1'b1;\n            pick = 1'b1;\n        end\n        c$x = pick;\n        y = c$z;\n",
        ));
        assert!(!marked(&v, "found"), "{v}");
        assert!(!marked(&v, "pick"), "{v}");
        assert!(marked(&v, "c$x"), "{v}");
        assert!(marked(&v, "y"), "{v}");
        assert!(marked(&v, "z"), "{v}");
    }

    #[test]
    fn assignments_in_other_branches_do_not_count_as_later() {
        // `early` is read in the `if` arm; its later assignment is in the `else` arm, which
        // never runs in the same pass. `late` is read before an assignment that can follow it.
        let v = isolate_handshakes(&hub(
            "        early = 1'b0;\n        late = 1'b0;\n        if (a) begin\n            \
             early = b;\n            y = early;\n        end\n        else begin\n            \
             early = 1'b1;\n            y = late;\n        end\n        c$x = late;\n        \
             late = b;\n",
        ));
        assert!(marked(&v, "early"), "{v}");
        assert!(!marked(&v, "late"), "{v}");
        // `c$x` reads `late` before its last assignment: moving it would change its value.
        assert!(!marked(&v, "c$x"), "{v}");
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
