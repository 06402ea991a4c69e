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
    /// The main job: two hosts, each an oxnic stack on its own verilated card, joined by a
    /// simulated link: ARP, ping, UDP echo and a SHA-256-checked TCP bulk transfer.
    Demo {
        /// Seed of every random choice (same seed, same run).
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// RX/TX queues per card (RSS spreads the flows over them).
        #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=8))]
        queues: u32,
        /// TCP bytes in all (the verilated cards run ~60k cycles per wall second each).
        #[arg(long, default_value_t = 1 << 20, value_parser = clap::value_parser!(u64).range(1..=1 << 32))]
        bytes: u64,
        /// TCP connections.
        #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=64))]
        flows: u64,
        /// Probability that the link loses a frame (each direction).
        #[arg(long, default_value_t = 0.0)]
        loss: f64,
        /// Capture every frame on the link to FILE (pcap, nanosecond timestamps).
        #[arg(long, value_name = "FILE")]
        pcap: Option<PathBuf>,
        /// Write each card's waveform (VCD, every signal, every cycle: large) into DIR.
        #[arg(long, value_name = "DIR")]
        waves: Option<PathBuf>,
    },
    /// The verilated card's wire bridged to a Linux TAP device (root): the kernel as a real
    /// peer. Serves HTTP on 80 (--http-root), TCP echo on 7, discard on 9, UDP echo on 7.
    Tap {
        /// TAP device name (created if missing).
        #[arg(long, default_value = "oxnic0")]
        ifname: String,
        /// The stack's address and prefix, e.g. 10.77.0.2/24.
        #[arg(long, value_parser = parse_cidr)]
        addr: (std::net::Ipv4Addr, u8),
        /// Default gateway.
        #[arg(long)]
        gateway: Option<std::net::Ipv4Addr>,
        /// Directory served over HTTP/1.1 on port 80.
        #[arg(long, value_name = "DIR")]
        http_root: Option<PathBuf>,
        /// RX/TX queues on the card.
        #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=8))]
        queues: u32,
        /// Stop after this many seconds (default: at SIGINT/SIGTERM).
        #[arg(long)]
        seconds: Option<u64>,
        /// sim (the verilated card bridged to the TAP) or vfio (a board bound to vfio-pci,
        /// serving on its own port; no TAP).
        #[arg(long, default_value = "sim", value_parser = ["sim", "vfio"])]
        backend: String,
        /// PCI address of the board (DDDD:BB:DD.F), with --backend vfio.
        #[arg(long, required_if_eq("backend", "vfio"))]
        pci: Option<String>,
    },
    /// The card's identity, register blocks and every counter (like ethtool -i and -S).
    /// On the simulated card it first pushes --frames frames through it.
    Stats {
        /// sim (the verilated card) or vfio (a board bound to vfio-pci).
        #[arg(long, default_value = "sim", value_parser = ["sim", "vfio"])]
        backend: String,
        /// PCI address of the board (DDDD:BB:DD.F), with --backend vfio.
        #[arg(long, required_if_eq("backend", "vfio"))]
        pci: Option<String>,
        /// Frames pushed through the simulated card first.
        #[arg(long, default_value_t = 64)]
        frames: u32,
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
            queues,
            bytes,
            flows,
            loss,
            pcap,
            waves,
        } => {
            if let Some(dir) = &waves {
                std::fs::create_dir_all(dir)
                    .map_err(|e| oxnic::Error::Check(format!("--waves {}: {e}", dir.display())))?;
                // The simulator harness writes a VCD per model into OXNIC_WAVES; set before
                // any card (or thread) exists.
                std::env::set_var("OXNIC_WAVES", dir);
            }
            if !(0.0..1.0).contains(&loss) {
                return Err(oxnic::Error::Check(format!(
                    "--loss {loss}: a probability below 1"
                )));
            }
            let report = oxnic::demo::run(&oxnic::demo::Options {
                seed,
                queues,
                bytes,
                flows: flows as usize,
                loss,
                pcap,
            })?;
            print!("{}", report.table);
            Ok(())
        }
        Command::Stats {
            backend,
            pci,
            frames,
        } => {
            let b = match (backend.as_str(), pci) {
                ("vfio", Some(pci)) => oxnic::stats::Backend::Vfio { pci },
                _ => oxnic::stats::Backend::Sim { frames },
            };
            let out = oxnic::stats::run(&b)
                .map_err(|e| oxnic::Error::Check(format!("oxnic stats: {e}")))?;
            print!("{out}");
            Ok(())
        }
        Command::Tap {
            ifname,
            addr,
            gateway,
            http_root,
            queues,
            seconds,
            backend,
            pci,
        } => {
            let opts = oxnic::tap::Options {
                ifname,
                addr: addr.0,
                prefix: addr.1,
                gateway,
                http_root,
                queues,
                duration: seconds.map(std::time::Duration::from_secs),
            };
            let report = match (backend.as_str(), pci) {
                ("vfio", Some(pci)) => oxnic::tap::run_board(&opts, &pci),
                _ => oxnic::tap::run(&opts),
            }
            .map_err(|e| oxnic::Error::Check(format!("oxnic tap: {e}")))?;
            print!("{}", report.table);
            Ok(())
        }
    }
}

/// `A.B.C.D/P`.
fn parse_cidr(s: &str) -> Result<(std::net::Ipv4Addr, u8), String> {
    let (a, p) = s
        .split_once('/')
        .ok_or_else(|| format!("{s:?}: expected A.B.C.D/P"))?;
    let addr = a
        .parse()
        .map_err(|e| format!("{a:?}: not an IPv4 address ({e})"))?;
    let len: u8 = p
        .parse()
        .map_err(|_| format!("{p:?}: not a prefix length"))?;
    if len > 32 {
        return Err(format!("/{len}: a prefix length is at most 32"));
    }
    Ok((addr, len))
}
