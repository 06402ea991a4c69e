//! # oxnic — the root crate: the CLI's commands and the glue between card, driver and stack
//!
//! This is the only crate that joins the others (see ARCHITECTURE.md): the runtime, the
//! driver↔stack glue and the command-line tools live here.

pub mod demo;
pub mod glue;
pub mod host;
pub mod regmap;
pub mod stats;
pub mod tap;
pub mod verilog;

use std::path::PathBuf;

/// Errors of the command-line tools.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
    /// A block name that is not in the catalogue.
    #[error("no block named {name:?}; known blocks: {known}")]
    UnknownBlock {
        /// The name given.
        name: String,
        /// The names that exist.
        known: String,
    },
    /// An external tool (verilator, yosys) failed or is missing.
    #[error("{0}")]
    Tool(String),
    /// A demo or self-check found a wrong result.
    #[error("check failed: {0}")]
    Check(String),
    /// A checked-in generated file differs from what the generator produces now.
    #[error("{0} is stale: regenerate it with `oxnic regmap -o {0}`")]
    Stale(PathBuf),
}
