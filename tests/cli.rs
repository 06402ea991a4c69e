//! The CLI as a user runs it: the checked-in register map is fresh, bad arguments are errors.

use std::process::Command;

fn oxnic() -> Command {
    Command::new(env!("CARGO_BIN_EXE_oxnic"))
}

#[test]
fn checked_in_register_map_is_fresh() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/registers.md");
    let out = oxnic().args(["regmap", "--check", path]).output().unwrap();
    assert!(
        out.status.success(),
        "docs/registers.md is stale; run `cargo xtask regmap`: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(path).unwrap(),
        oxnic::regmap::markdown()
    );
}

#[test]
fn stale_register_map_is_reported() {
    let dir = std::env::temp_dir().join(format!("oxnic-regmap-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("registers.md");
    std::fs::write(&f, "# old\n").unwrap();
    let out = oxnic()
        .args(["regmap", "--check"])
        .arg(&f)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("is stale"));
    let out = oxnic().args(["regmap", "-o"]).arg(&f).output().unwrap();
    assert!(out.status.success());
    assert_eq!(
        std::fs::read_to_string(&f).unwrap(),
        oxnic::regmap::markdown()
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_arguments_are_clear_errors() {
    let out = oxnic().args(["regmap", "--bogus"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--bogus"));
    let out = oxnic()
        .args(["regmap", "--check", "/nonexistent/x.md"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/x.md"));
}

/// Runs `oxnic verilog --check` on `blocks` into a fresh directory; returns the directory
/// and the printed table.
fn verilog_check(tag: &str, blocks: &[&str]) -> (std::path::PathBuf, String) {
    let dir = std::env::temp_dir().join(format!("oxnic-verilog-{tag}-{}", std::process::id()));
    let mut cmd = oxnic();
    cmd.args(["verilog", "--check", "-o"]).arg(&dir);
    for b in blocks {
        cmd.args(["--block", b]);
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (dir, stdout)
}

#[test]
fn verilog_writes_lints_and_synthesizes_blocks() {
    // Every block but the whole card (the next test, so that the two run side by side).
    let blocks: Vec<&str> = oxnic_hdl::catalog::all()
        .iter()
        .map(|e| e.name)
        .filter(|&n| n != oxnic_hdl::nic::TOP)
        .collect();
    let (dir, stdout) = verilog_check("blocks", &blocks);
    for name in &blocks {
        let v = std::fs::read_to_string(dir.join(format!("{name}.v"))).unwrap();
        assert!(v.contains(&format!("module {name}(")));
        assert!(!v.contains("module top("));
        assert!(stdout.contains(name), "{name} missing from the table");
    }
    assert!(stdout.contains("ok / ok"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn whole_card_lints_and_synthesizes_with_yosys_synth_top() {
    // `verilator --lint-only` and `yosys synth -top oxnic_nic` (module by module, memories kept
    // as RAM cells; about four minutes and 0.8 GB here).
    let (dir, stdout) = verilog_check("card", &[oxnic_hdl::nic::TOP]);
    let v = std::fs::read_to_string(dir.join("oxnic_nic.v")).unwrap();
    assert!(v.contains("module oxnic_nic("));
    let card = stdout
        .lines()
        .find(|l| l.starts_with("oxnic_nic "))
        .expect("a line for the whole card");
    assert!(card.contains("synth -top, not flattened"), "{card}");
    let cells: u64 = card.split_whitespace().nth(1).unwrap().parse().unwrap();
    let flops: u64 = card.split_whitespace().nth(2).unwrap().parse().unwrap();
    // About 164,000 cells and 22,000 flops beside 61 RAMs: the registers of every block, with
    // the rings, FIFOs and descriptor caches in the RAMs rather than in the flop count.
    assert!(flops > 15_000 && cells > 5 * flops, "{card}");
    let memories: u64 = card
        .split("not flattened, ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no memory count: {card}"));
    assert!(memories >= 30, "{card}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn verilog_rejects_unknown_block() {
    let out = oxnic()
        .args(["verilog", "-o", "/tmp/x", "--block", "oxnic_nope"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("oxnic_nope") && err.contains("known blocks"),
        "{err}"
    );
}

#[test]
fn stats_shows_blocks_and_counters_of_the_simulated_card() {
    let out = oxnic().args(["stats", "--frames", "40"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("id 10ee:0c5e"), "{text}");
    for block in [
        "device", "port", "rss", "offload", "irq", "txq", "rxq", "cq",
    ] {
        assert!(
            text.contains(&format!("  {block:<8} version")),
            "{block}: {text}"
        );
    }
    assert!(text.contains("     RX_PACKETS: 40\n"), "{text}");
    assert!(text.contains("     RX_BROADCAST: 40\n"), "{text}");
    // RSS spread the numbered flows over more than one queue.
    let queues = text
        .lines()
        .filter(|l| l.contains(".rx_packets: ") && !l.ends_with(": 0"))
        .count();
    assert!(queues > 1, "{text}");
}

#[test]
fn stats_and_tap_refuse_what_they_cannot_do_with_clear_errors() {
    let out = oxnic()
        .args(["stats", "--backend", "vfio", "--pci", "0000:7f:1f.7"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("VFIO") && err.contains("0000:7f:1f.7") && err.contains("vfio-pci"),
        "{err}"
    );
    let out = oxnic()
        .args(["stats", "--backend", "vfio"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let out = oxnic()
        .args(["tap", "--addr", "10.1.2.3"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("expected A.B.C.D/P"));
    let out = oxnic()
        .args(["tap", "--addr", "10.1.2.3/33"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("at most 32"));
}
