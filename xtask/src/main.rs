//! oxnic's task runner: `cargo xtask demo` (the main job) and `cargo xtask test` (everything CI
//! runs). Both first run `scripts/setup.sh`, which installs what is missing.

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
    run("cargo test", cargo().args(["test", "--workspace"]))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("demo") => demo(&args[1..]),
        Some("test") => test(),
        Some("setup") => setup(),
        Some("regmap") => run(
            "regenerate docs/registers.md",
            cargo().args(["run", "--quiet", "--", "regmap", "-o", "docs/registers.md"]),
        ),
        _ => Err("usage: cargo xtask demo [ARGS] | test | setup | regmap".into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}
