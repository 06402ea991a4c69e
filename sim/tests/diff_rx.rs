//! The RX classification blocks, differentially: rust-hdl's simulator and the Verilator model of
//! the generated Verilog on the same random frames (every kind `oxnic_hdl::frame_gen` makes:
//! TCP/UDP with and without options and tags, fragments, ARP, runts, malformed and corrupted
//! IPv4), every output compared on every cycle; the agreed outputs are also checked against
//! `oxnic_hdl::rx_model`, the byte-parsing reference.

use oxnic_hdl::rx_model::{classify, rss};
use oxnic_hdl::stream_stimulus::{decode_frames, SINK};
use oxnic_hdl::testbench::Stimulus;
use oxnic_hdl::{rx_checksum, rx_classify, rx_hash, rx_parse};
use oxnic_sim::diff::{self, Sample};
use oxnic_sim::models;

/// For each frame of `stim`, the cycle its metadata must appear on (sampled before that cycle's
/// edge) and the `(port, value)` pairs expected then.
type Expected = Vec<(usize, Vec<(&'static str, u64)>)>;

/// Checks the agreed samples: `valid` exactly on the expected cycles, with the expected values.
fn checker<'a>(
    valid: &'static str,
    expected: &'a Expected,
    checked: &'a mut usize,
) -> impl FnMut(u64, &Sample) + 'a {
    let mut next = 0;
    move |c, s| {
        let c = c as usize;
        let due = expected.get(next).filter(|(at, _)| *at == c);
        assert_eq!(s.get(valid) == 1, due.is_some(), "{valid} in cycle {c}");
        if let Some((_, want)) = due {
            for (name, v) in want {
                assert_eq!(s.get(name), *v, "{name}, cycle {c}, frame {next}");
            }
            next += 1;
            *checked += 1;
        }
    }
}

fn frame_expectations(
    stim: &Stimulus,
    latency: usize,
    ports: impl Fn(&oxnic_hdl::rx_model::RxMeta, usize) -> Vec<(&'static str, u64)>,
) -> Expected {
    decode_frames(stim, SINK)
        .iter()
        .map(|f| {
            (
                f.last_cycle + latency,
                ports(&classify(&f.bytes), f.last_cycle),
            )
        })
        .collect()
}

#[test]
fn rx_parse_agrees_and_matches_the_model() {
    let stim = rx_parse::random_stimulus(0x7a75, 6_000);
    let exp = frame_expectations(&stim, rx_parse::LATENCY, |m, _| rx_parse::expected_ports(m));
    let mut checked = 0;
    diff::run(
        rx_parse::RxParse::new(),
        models::oxnic_rx_parse::Model::new(),
        &stim,
        checker("meta_valid", &exp, &mut checked),
    )
    .unwrap();
    assert!(
        checked > 80 && checked + 1 >= exp.len(),
        "{checked} of {}",
        exp.len()
    );
}

#[test]
fn rx_checksum_agrees_and_matches_the_model() {
    let stim = rx_checksum::random_stimulus(0xc5, 6_000);
    let exp = frame_expectations(&stim, rx_checksum::LATENCY, |m, _| {
        rx_checksum::expected_ports(m)
    });
    let mut checked = 0;
    diff::run(
        rx_checksum::RxChecksum::new(),
        models::oxnic_rx_checksum::Model::new(),
        &stim,
        checker("meta_valid", &exp, &mut checked),
    )
    .unwrap();
    assert!(
        checked > 80 && checked + 1 >= exp.len(),
        "{checked} of {}",
        exp.len()
    );
}

#[test]
fn rx_hash_agrees_and_matches_the_model() {
    let stim = rx_hash::random_stimulus(0x4a54, 6_000);
    let exp: Expected = (0..stim.len())
        .filter_map(|c| {
            rx_hash::reference(&stim, c).map(|r| {
                (
                    c + rx_hash::LATENCY,
                    vec![
                        ("hash", u64::from(r.hash)),
                        ("hash_type", r.hash_type as u64),
                        ("rx_queue", u64::from(r.queue)),
                    ],
                )
            })
        })
        .collect();
    let mut checked = 0;
    diff::run(
        rx_hash::RxHash::new(),
        models::oxnic_rx_hash::Model::new(),
        &stim,
        checker("hash_valid", &exp, &mut checked),
    )
    .unwrap();
    assert!(checked > 4_000, "{checked} hashes");
}

#[test]
fn rx_classify_agrees_and_matches_the_model() {
    let stim = rx_classify::random_stimulus(0xc1a55, 5_000);
    let exp = frame_expectations(&stim, rx_classify::LATENCY, |m, last| {
        rx_classify::expected_ports(m, &rss(m, &rx_hash::config_at(&stim, last)))
    });
    let mut checked = 0;
    diff::run(
        rx_classify::RxClassify::new(),
        models::oxnic_rx_classify::Model::new(),
        &stim,
        checker("meta_valid", &exp, &mut checked),
    )
    .unwrap();
    assert!(
        checked > 60 && checked + 1 >= exp.len(),
        "{checked} of {}",
        exp.len()
    );
}
