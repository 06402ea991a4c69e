//! oxnic's task runner: `cargo xtask demo` (the main job) and `cargo xtask test` (everything CI
//! runs). Both first run `scripts/setup.sh`, which installs what is missing. `cargo xtask fuzz`
//! runs each wire-format fuzz target in fuzz/ for a short time.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

fn run(what: &str, cmd: &mut Command) -> Result<(), String> {
    eprintln!("xtask: {what}");
    let status = cmd
        .current_dir(root())
        .status()
        .map_err(|e| format!("{what}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{what} failed ({status})"))
    }
}

fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

fn setup() -> Result<(), String> {
    run(
        "setup (scripts/setup.sh)",
        Command::new("bash").arg("scripts/setup.sh"),
    )
}

fn demo(args: &[String]) -> Result<(), String> {
    setup()?;
    run(
        "oxnic demo",
        cargo()
            .args(["run", "--release", "--quiet", "--", "demo"])
            .args(args),
    )
}

fn test() -> Result<(), String> {
    setup()?;
    run(
        "cargo fmt --check",
        cargo().args(["fmt", "--all", "--check"]),
    )?;
    run(
        "cargo clippy",
        cargo().args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ]),
    )?;
    // Includes tests/cli.rs `checked_in_register_map_is_fresh`, which fails when
    // docs/registers.md differs from what `oxnic regmap` generates. (A separate `cargo run`
    // here would resolve features for the root package alone and rebuild every crate.)
    run("cargo test", cargo().args(["test", "--workspace"]))?;
    // A short run of every parser's fuzz target (issue 6): builds them with AddressSanitizer
    // and feeds each the Linux-captured seeds plus a few seconds of mutations.
    fuzz(&["--seconds".to_string(), "5".to_string()])
}

/// The cargo-fuzz targets in fuzz/: one per wire-format parser of host/stack, the TCP state
/// machine, and the IPv4 option rewriting (receive stamp, echo, copy for fragments).
const FUZZ_TARGETS: [&str; 10] = [
    "ethernet",
    "vlan",
    "arp",
    "ipv4",
    "ipv4_options",
    "icmpv4",
    "igmp",
    "udp",
    "tcp",
    "tcp_conn",
];

/// `cargo xtask fuzz [--seconds N] [--sanitizer address|none]`: installs cargo-fuzz if missing,
/// builds every target once, then runs each for N seconds (default 10). Stable Rust runs
/// cargo-fuzz's nightly flags (`-Z sanitizer`, sancov passes) under `RUSTC_BOOTSTRAP=1`.
/// Debug assertions are on, so an arithmetic overflow in a parser is a finding too.
fn fuzz(args: &[String]) -> Result<(), String> {
    let mut seconds: u64 = 10;
    let mut sanitizer = "address".to_string();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("fuzz: {name} needs a value"))
        };
        match a.as_str() {
            "--seconds" => {
                let v = value("--seconds")?;
                seconds = v
                    .parse()
                    .map_err(|_| format!("fuzz: --seconds {v:?} is not a number"))?;
            }
            "--sanitizer" => sanitizer = value("--sanitizer")?,
            other => return Err(format!("fuzz: unknown argument {other:?}")),
        }
    }
    let have_cargo_fuzz = cargo()
        .args(["fuzz", "--version"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !have_cargo_fuzz {
        run(
            "install cargo-fuzz",
            cargo().args(["install", "cargo-fuzz", "--locked"]),
        )?;
    }
    let common = ["--debug-assertions", "--sanitizer", sanitizer.as_str()];
    run(
        "cargo fuzz build (all targets)",
        cargo()
            .env("RUSTC_BOOTSTRAP", "1")
            .args(["fuzz", "build"])
            .args(common),
    )?;
    for target in FUZZ_TARGETS {
        // New inputs go to fuzz/corpus/<target> (not checked in); fuzz/seeds/<target> holds
        // the Linux-captured frames of host/stack/tests/fixtures cut to that parser's layer,
        // so even a short run starts from packets with valid checksums and real options.
        let corpus = format!("fuzz/corpus/{target}");
        let seeds = format!("fuzz/seeds/{target}");
        std::fs::create_dir_all(root().join(&corpus)).map_err(|e| format!("{corpus}: {e}"))?;
        run(
            &format!("cargo fuzz run {target} for {seconds}s"),
            cargo()
                .env("RUSTC_BOOTSTRAP", "1")
                .args(["fuzz", "run"])
                .args(common)
                .args([target, &corpus, &seeds])
                .args(["--", &format!("-max_total_time={seconds}")]),
        )?;
    }
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("demo") => demo(&args[1..]),
        Some("test") => test(),
        Some("setup") => setup(),
        Some("fuzz") => fuzz(&args[1..]),
        Some("regmap") => run(
            "regenerate docs/registers.md",
            cargo().args(["run", "--quiet", "--", "regmap", "-o", "docs/registers.md"]),
        ),
        _ => Err(
            "usage: cargo xtask demo [ARGS] | test | setup | regmap | fuzz [--seconds N] \
             [--sanitizer address|none]"
                .into(),
        ),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}
