//! The `oxnic` command line.

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// oxnic: an FPGA network card in rust-hdl and its userspace Rust host stack.
#[derive(Debug, Parser)]
#[command(name = "oxnic", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the BAR0 register map as Markdown (the source of docs/registers.md).
    Regmap {
        /// Write to this file instead of standard output.
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Exit non-zero if FILE differs from the generated map instead of writing anything.
        #[arg(long, value_name = "FILE", conflicts_with = "output")]
        check: Option<PathBuf>,
    },
    /// The main job: build the card's blocks, check them with Verilator and yosys, and run
    /// checked traffic through their Verilator models.
    Demo {
        /// Seed of every random choice (same seed, same run).
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Frames through the receive checks.
        #[arg(long, default_value_t = 5000, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
        frames: u64,
        /// Flows through RSS.
        #[arg(long, default_value_t = 10000, value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
        flows: u64,
        /// Write a VCD waveform of the receive checks to FILE.
        #[arg(long, value_name = "FILE")]
        waves: Option<PathBuf>,
        /// Directory for the generated Verilog.
        #[arg(long, default_value = "target/oxnic-demo/verilog")]
        verilog_dir: PathBuf,
    },
    /// Write the card's Verilog (one file per block, top module renamed from rust-hdl's `top`).
    Verilog {
        /// Output directory.
        #[arg(short, long)]
        output: PathBuf,
        /// Only these blocks (module names; default: all).
        #[arg(long = "block", value_name = "NAME")]
        only: Vec<String>,
        /// Also lint each file with Verilator and synthesize it with yosys, printing cell counts.
        #[arg(long)]
        check: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("oxnic: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<(), oxnic::Error> {
    match cli.command {
        Command::Regmap { output, check } => {
            oxnic::regmap::run(output.as_deref(), check.as_deref())
        }
        Command::Verilog {
            output,
            only,
            check,
        } => oxnic::verilog::run(&output, &only, check),
        Command::Demo {
            seed,
            frames,
            flows,
            waves,
            verilog_dir,
        } => oxnic::demo::run(&oxnic::demo::Options {
            seed,
            frames: frames as usize,
            flows: flows as usize,
            waves,
            verilog_dir,
        }),
    }
}
