//! Synthesizability checks and cell counts with yosys (`synth -flatten -top NAME`).
//!
//! rust-hdl's simulator accepts things that do not synthesize (and the other way round); every
//! block is also run through yosys, which gives the cell-count table of `oxnic bench` too.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

/// What yosys made of a block.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SynthReport {
    /// All cells after generic synthesis.
    pub cells: u64,
    /// Flip-flop cells (all `$_DFF*`, `$_SDFF*`, `$_DLATCH*` kinds).
    pub flops: u64,
    /// Memories left as memory cells (`$mem_v2`) by [`Flow::SynthHier`]; 0 after
    /// [`Flow::Synth`], which maps every memory to flops and logic.
    pub memories: u64,
    /// Cells by yosys type.
    pub by_type: BTreeMap<String, u64>,
}

/// Why synthesis failed.
#[derive(Debug, thiserror::Error)]
pub enum SynthError {
    /// yosys is not installed.
    #[error("yosys not found; run `cargo xtask setup` (or `apt-get install -y yosys`)")]
    Missing,
    /// A temporary file could not be written.
    #[error("writing {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
    /// yosys rejected the design.
    #[error("yosys failed on {name}:\n{log}")]
    Failed {
        /// Top module.
        name: String,
        /// The end of yosys' output.
        log: String,
    },
}

/// How far yosys takes a design.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// `synth -flatten -top NAME`: generic synthesis to gates and flops (memories become flops).
    Synth,
    /// `synth -top NAME` module by module without flattening, with the memories left as
    /// memory cells: the script of `synth` without its `memory_map` step, so each RAM stays one
    /// `$mem_v2` cell, as an FPGA flow keeps it for block or LUT RAM. For the whole card:
    /// flattened, generic synthesis does not finish in useful time here, and with its rings and
    /// FIFOs mapped to flops (over a million cells) it took 13 minutes and 3 GB against about 4
    /// minutes and 0.8 GB this way. [`Flow::Synth`] of each block still maps its memories.
    SynthHier,
}

/// The steps of [`Flow::SynthHier`] after `synth`'s `coarse` stage: its `fine` stage without
/// `memory_map`, then its `check` stage (yosys 0.23's `help synth` lists them).
const FINE_KEEPING_MEMORIES: &str =
    "opt -fast -full; opt -full; techmap; opt -fast; abc -fast; opt -fast; hierarchy -check";

/// Synthesizes `verilog` with top module `name` and counts its cells.
pub fn yosys_synth(name: &str, verilog: &str) -> Result<SynthReport, SynthError> {
    yosys(name, verilog, Flow::Synth)
}

/// Runs yosys' `flow` on `verilog` with top module `name` and counts the resulting cells.
pub fn yosys(name: &str, verilog: &str, flow: Flow) -> Result<SynthReport, SynthError> {
    let dir = std::env::temp_dir().join(format!("oxnic-synth-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|source| SynthError::Io {
        path: dir.clone(),
        source,
    })?;
    let src = dir.join(format!("{name}.v"));
    std::fs::write(&src, verilog).map_err(|source| SynthError::Io {
        path: src.clone(),
        source,
    })?;
    let stat = dir.join("stat.txt");
    let steps = match flow {
        Flow::Synth => format!("synth -flatten -top {name}"),
        Flow::SynthHier => format!("synth -top {name} -run begin:fine; {FINE_KEEPING_MEMORIES}"),
    };
    let script = format!(
        "read_verilog {}; {steps}; check -assert; tee -q -o {} stat",
        src.display(),
        stat.display()
    );
    let out = Command::new("yosys").args(["-q", "-p", &script]).output();
    let out = match out {
        Ok(o) => o,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(SynthError::Missing),
        Err(source) => {
            return Err(SynthError::Io {
                path: "yosys".into(),
                source,
            })
        }
    };
    let text = std::fs::read_to_string(&stat).unwrap_or_default();
    let _ = std::fs::remove_dir_all(&dir);
    if !out.status.success() || text.is_empty() {
        let mut log = String::from_utf8_lossy(&out.stdout).into_owned();
        log.push_str(&String::from_utf8_lossy(&out.stderr));
        let tail: Vec<&str> = log.lines().rev().take(30).collect();
        let log = tail.into_iter().rev().collect::<Vec<_>>().join("\n");
        return Err(SynthError::Failed {
            name: name.into(),
            log,
        });
    }
    Ok(parse_stat(&text))
}

fn parse_stat(text: &str) -> SynthReport {
    let mut r = SynthReport::default();
    let mut in_cells = false;
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with("=== design hierarchy ===") {
            // A hierarchical design: what follows are the whole design's totals.
            r = SynthReport::default();
            continue;
        }
        if let Some(n) = t.strip_prefix("Number of cells:") {
            r.cells = n.trim().parse().unwrap_or(0);
            in_cells = true;
            continue;
        }
        if in_cells {
            let mut parts = t.split_whitespace();
            match (parts.next(), parts.next()) {
                (Some(kind), Some(n)) if kind.starts_with('$') => {
                    let n: u64 = n.parse().unwrap_or(0);
                    if kind.contains("DFF") || kind.contains("DLATCH") {
                        r.flops += n;
                    }
                    if kind.starts_with("$mem") {
                        r.memories += n;
                    }
                    *r.by_type.entry(kind.to_string()).or_default() += n;
                }
                _ => in_cells = false,
            }
        }
    }
    r
}

/// Why Verilator's lint rejected a design.
#[derive(Debug, thiserror::Error)]
pub enum LintError {
    /// verilator is not installed.
    #[error("verilator not found; run `cargo xtask setup` (or `apt-get install -y verilator`)")]
    Missing,
    /// A temporary file could not be written, or verilator not run.
    #[error("{path}: {source}")]
    Io {
        /// The file or program.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
    /// Verilator found errors.
    #[error("verilator lint failed on {name}:\n{log}")]
    Failed {
        /// Top module.
        name: String,
        /// Verilator's messages.
        log: String,
    },
}

/// Verilator lint flags: rust-hdl's Verilog leaves width mismatches and split always-blocks
/// (`WIDTH`, `UNOPTFLAT`), which are waived; every other warning fails the lint, as it would in a
/// board flow that treats warnings as errors.
pub const VERILATOR_LINT_FLAGS: &[&str] = &["--lint-only", "-Wno-WIDTH", "-Wno-UNOPTFLAT"];

/// Lints `verilog` with top module `name` in Verilator with [`VERILATOR_LINT_FLAGS`]: any
/// warning other than the two waived ones is an error. Every block's own test and
/// `oxnic verilog --check` call this one function, so a block cannot pass its own test and then
/// fail the command-line check.
pub fn verilator_lint(name: &str, verilog: &str) -> Result<(), LintError> {
    verilator_lint_with(name, verilog, VERILATOR_LINT_FLAGS)
}

/// As [`verilator_lint`], and a combinational loop between always-blocks (`UNOPTFLAT`) is an
/// error too: for a design that must settle in one pass a cycle in simulation.
pub fn verilator_lint_no_loops(name: &str, verilog: &str) -> Result<(), LintError> {
    verilator_lint_with(name, verilog, &["--lint-only", "-Wno-WIDTH"])
}

fn verilator_lint_with(name: &str, verilog: &str, flags: &[&str]) -> Result<(), LintError> {
    let dir = std::env::temp_dir().join(format!("oxnic-lint-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|source| LintError::Io {
        path: dir.clone(),
        source,
    })?;
    let src = dir.join(format!("{name}.v"));
    std::fs::write(&src, verilog).map_err(|source| LintError::Io {
        path: src.clone(),
        source,
    })?;
    let out = Command::new("verilator")
        .args(flags)
        .args(["--top-module", name])
        .arg(&src)
        .output();
    let _ = std::fs::remove_dir_all(&dir);
    let out = match out {
        Ok(o) => o,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(LintError::Missing),
        Err(source) => {
            return Err(LintError::Io {
                path: "verilator".into(),
                source,
            })
        }
    };
    if out.status.success() {
        Ok(())
    } else {
        let mut log = String::from_utf8_lossy(&out.stdout).into_owned();
        log.push_str(&String::from_utf8_lossy(&out.stderr));
        Err(LintError::Failed {
            name: name.into(),
            log,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synthesizes_and_counts() {
        let v = "module cnt(input clock, input en, output reg [7:0] q);\n\
                 initial q = 0;\nalways @(posedge clock) if (en) q <= q + 1;\nendmodule\n";
        let r = yosys_synth("cnt", v).unwrap();
        assert_eq!(r.flops, 8, "{r:?}");
        assert!(r.cells > r.flops);
        assert_eq!(r.by_type.values().sum::<u64>(), r.cells);
    }

    #[test]
    fn hierarchical_flow_keeps_memories_and_modules() {
        // A 64 x 16-bit RAM with a registered read, inside a wrapper module.
        let v = "module ram(input clock, input we, input [5:0] wa, input [5:0] ra,\n\
                 input [15:0] d, output reg [15:0] q);\n\
                 reg [15:0] m [0:63];\n\
                 always @(posedge clock) begin if (we) m[wa] <= d; q <= m[ra]; end\nendmodule\n\
                 module wrap(input clock, input we, input [5:0] wa, input [5:0] ra,\n\
                 input [15:0] d, output [15:0] q);\n\
                 ram r(.clock(clock), .we(we), .wa(wa), .ra(ra), .d(d), .q(q));\nendmodule\n";
        let flat = yosys("wrap", v, Flow::Synth).unwrap();
        // Mapped: every one of the 1024 bits is a flop.
        assert_eq!(flat.memories, 0, "{flat:?}");
        assert!(flat.flops >= 64 * 16, "{flat:?}");
        let hier = yosys("wrap", v, Flow::SynthHier).unwrap();
        // Kept: the whole design is one memory cell, the registered read merged into its port.
        assert_eq!(hier.memories, 1, "{hier:?}");
        assert_eq!(hier.flops, 0, "{hier:?}");
        assert_eq!(hier.cells, 1, "{hier:?}");
        assert_eq!(hier.by_type.get("$mem_v2"), Some(&1), "{hier:?}");
    }

    #[test]
    fn lint_passes_good_and_fails_broken_verilog() {
        let v = "module cnt(input clock, input en, output reg [7:0] q);\n\
                 initial q = 0;\nalways @(posedge clock) if (en) q <= q + 1;\nendmodule\n";
        verilator_lint("cnt", v).unwrap();
        let e = verilator_lint("bad", "module bad(input a); assign b = ; endmodule").unwrap_err();
        assert!(matches!(e, LintError::Failed { .. }), "{e}");
        // A warning is fatal too: a comparison that is always false (UNSIGNED), the kind that
        // once passed a block's own test and failed `oxnic verilog --check`.
        let warn = "module cmp(input [2:0] x, output y);\nassign y = 3'd0 > x;\nendmodule\n";
        let e = verilator_lint("cmp", warn).unwrap_err();
        assert!(matches!(e, LintError::Failed { .. }), "{e}");
    }

    #[test]
    fn broken_verilog_is_an_error() {
        let e = yosys_synth("bad", "module bad(input a); assign b = ; endmodule").unwrap_err();
        assert!(matches!(e, SynthError::Failed { .. }), "{e}");
    }
}
