//! `oxnic demo` as a user runs it: two hosts on two verilated cards over a simulated link.
//! Each run is kept small (the verilated cards run ~60k cycles per wall second each).

use std::process::Command;

fn demo(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_oxnic"))
        .arg("demo")
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The number after `key` in `text`.
fn number_after(text: &str, key: &str) -> Option<u64> {
    let rest = &text[text.find(key)? + key.len()..];
    let digits: String = rest
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

#[test]
fn demo_with_default_arguments_delivers_every_byte() {
    let (ok, stdout, stderr) = demo(&[]);
    assert!(ok, "{stdout}\n{stderr}");
    assert!(stdout.contains("4/4 replies"), "{stdout}");
    assert!(stdout.contains("48/48 datagrams byte-exact"), "{stdout}");
    assert_eq!(number_after(&stdout, "tcp bulk"), Some(1 << 20), "{stdout}");
    assert!(stdout.contains("SHA-256 equal"), "{stdout}");
    // Four flows over four queues: RSS put B's received frames on more than one queue.
    let b = &stdout[stdout.find("host B").unwrap()..];
    let queues = &b[b.find("rx per queue").unwrap()..];
    let line = queues.lines().next().unwrap();
    let used = line
        .trim_start_matches("rx per queue")
        .trim()
        .trim_matches(|c| c == '[' || c == ']')
        .split(", ")
        .filter(|n| n.parse::<u64>().unwrap_or(0) > 0)
        .count();
    assert!(used > 1, "RSS used one queue: {line}");
    assert!(stdout.contains("drops         none"), "{stdout}");
    assert!(stdout.contains("all checks passed"));
}

#[test]
fn demo_under_two_percent_loss_still_delivers_every_byte() {
    let (ok, stdout, stderr) = demo(&["--loss", "0.02", "--bytes", "131072", "--seed", "7"]);
    assert!(ok, "{stdout}\n{stderr}");
    assert_eq!(number_after(&stdout, "tcp bulk"), Some(131_072), "{stdout}");
    assert!(stdout.contains("SHA-256 equal"), "{stdout}");
    let link = &stdout[stdout.find("link ").unwrap()..];
    let lost_ab = number_after(link, "lost").unwrap();
    let lost_ba = number_after(link, &format!("lost {lost_ab} /")).unwrap();
    assert!(lost_ab + lost_ba > 0, "the link lost nothing: {link}");
}

#[test]
fn demo_rejects_bad_arguments() {
    let (ok, _, stderr) = demo(&["--queues", "0"]);
    assert!(!ok);
    assert!(stderr.contains("--queues"), "{stderr}");
    let (ok, _, stderr) = demo(&["--loss", "1.5"]);
    assert!(!ok);
    assert!(stderr.contains("--loss"), "{stderr}");
}

#[test]
fn demo_writes_both_cards_waveforms() {
    let dir = std::env::temp_dir().join(format!("oxnic-waves-{}", std::process::id()));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_oxnic"))
        .args(["demo", "--bytes", "1000", "--flows", "1", "--waves"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let vcds: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "vcd"))
        .collect();
    assert_eq!(vcds.len(), 2, "{vcds:?}");
    for v in &vcds {
        let bytes = std::fs::read(v).unwrap();
        let text = String::from_utf8_lossy(&bytes[..bytes.len().min(1 << 20)]);
        assert!(text.contains("$enddefinitions"), "{}", v.display());
        assert!(
            text.contains("oxnic_nic") || text.contains("$scope"),
            "{}",
            v.display()
        );
        assert!(
            bytes.len() > 1 << 20,
            "{} has {} bytes",
            v.display(),
            bytes.len()
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
