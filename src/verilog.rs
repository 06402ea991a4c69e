//! `oxnic verilog`: write the card's Verilog, and check it with the tools a board flow uses.

use crate::Error;
use oxnic_hdl::catalog::{self, Entry};
use oxnic_hdl::synth::{self, Flow, SynthReport};
use std::path::{Path, PathBuf};

/// One block written to disk.
#[derive(Debug, Clone)]
pub struct Written {
    /// Module name.
    pub name: &'static str,
    /// What it is.
    pub about: &'static str,
    /// The `.v` file.
    pub path: PathBuf,
}

/// The catalogue entries selected by `only` (all when empty).
pub fn select(only: &[String]) -> Result<Vec<Entry>, Error> {
    let all = catalog::all();
    if only.is_empty() {
        return Ok(all);
    }
    only.iter()
        .map(|n| {
            all.iter()
                .find(|e| e.name == n)
                .copied()
                .ok_or_else(|| Error::UnknownBlock {
                    name: n.clone(),
                    known: all.iter().map(|e| e.name).collect::<Vec<_>>().join(", "),
                })
        })
        .collect()
}

/// Writes `<dir>/<name>.v` for each entry.
pub fn write(entries: &[Entry], dir: &Path) -> Result<Vec<Written>, Error> {
    std::fs::create_dir_all(dir).map_err(|source| Error::Io {
        path: dir.into(),
        source,
    })?;
    entries
        .iter()
        .map(|e| {
            let v = (e.verilog)().map_err(|err| Error::Tool(err.to_string()))?;
            let path = dir.join(format!("{}.v", e.name));
            std::fs::write(&path, v).map_err(|source| Error::Io {
                path: path.clone(),
                source,
            })?;
            Ok(Written {
                name: e.name,
                about: e.about,
                path,
            })
        })
        .collect()
}

/// Lints a written block with Verilator, strictly ([`synth::verilator_lint`], the same check
/// every block's own test runs).
pub fn verilator_lint(w: &Written) -> Result<(), Error> {
    synth::verilator_lint(w.name, &read(w)?).map_err(|e| Error::Tool(e.to_string()))
}

fn read(w: &Written) -> Result<String, Error> {
    std::fs::read_to_string(&w.path).map_err(|source| Error::Io {
        path: w.path.clone(),
        source,
    })
}

/// The yosys flow a block gets: flattened generic synthesis for every block, and for the whole
/// card `synth -top oxnic_nic` module by module with its memories kept as RAM cells
/// ([`Flow::SynthHier`]: flattened, it runs for longer than CI has; this way, a few minutes).
pub fn flow_of(name: &str) -> Flow {
    if name == oxnic_hdl::nic::TOP {
        Flow::SynthHier
    } else {
        Flow::Synth
    }
}

/// Synthesizes a written block with yosys.
pub fn synth(w: &Written) -> Result<SynthReport, Error> {
    synth::yosys(w.name, &read(w)?, flow_of(w.name)).map_err(|e| Error::Tool(e.to_string()))
}

/// `oxnic verilog`: write, and with `check` lint and synthesize, printing a table.
pub fn run(dir: &Path, only: &[String], check: bool) -> Result<(), Error> {
    let written = write(&select(only)?, dir)?;
    if !check {
        for w in &written {
            println!("{}", w.path.display());
        }
        return Ok(());
    }
    println!(
        "{:<28} {:>8} {:>8}  verilator lint / yosys synth",
        "block", "cells", "flops"
    );
    for w in &written {
        verilator_lint(w)?;
        let r = synth(w)?;
        let what = match flow_of(w.name) {
            Flow::Synth => "ok / ok".to_string(),
            Flow::SynthHier => format!(
                "ok / ok (synth -top, not flattened, {} memories kept)",
                r.memories
            ),
        };
        println!(
            "{:<28} {:>8} {:>8}  {what}  ({})",
            w.name, r.cells, r.flops, w.about
        );
    }
    Ok(())
}
