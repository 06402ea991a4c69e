//! The transmit path, differentially: rust-hdl's simulator and the Verilator models of
//! `oxnic_tx_checksum` and `oxnic_tx_engine` on the same random stimulus, every output compared
//! on every cycle; the agreed outputs are also checked (checksum frames against the reference
//! model, engine counters and completions moving).

use oxnic_hdl::{tx_checksum, tx_engine};
use oxnic_sim::diff;
use oxnic_sim::models;

#[test]
fn tx_checksum_agrees() {
    let stim = tx_checksum::random_stimulus(1101, 12_000);
    let (mut frames, mut inserted, mut bad, mut dropped, mut oversize) = (0, 0, 0, 0, 0);
    diff::run(
        tx_checksum::TxChecksum64::new(),
        models::oxnic_tx_checksum::Model::new(),
        &stim,
        |_, s| {
            frames = s.get("frames");
            inserted = s.get("csum_inserted");
            bad = s.get("csum_bad_offset");
            dropped = s.get("dropped");
            oversize = s.get("csum_oversize");
        },
    )
    .unwrap();
    assert!(
        frames > 20 && inserted > 5 && bad > 0 && dropped > 0 && oversize > 0,
        "frames {frames}, inserted {inserted}, bad offset {bad}, dropped {dropped}, \
         oversize {oversize}"
    );
}

#[test]
fn tx_engine_agrees() {
    let stim = tx_engine::random_stimulus(1202, 20_000);
    let (mut frames, mut errors, mut cpls) = (0, 0, 0);
    diff::run(
        tx_engine::TxEngine::default(),
        models::oxnic_tx_engine::Model::new(),
        &stim,
        |_, s| {
            frames = s.get("frames");
            errors = s.get("errors");
            cpls = (0..tx_engine::QUEUES)
                .map(|q| s.get(&format!("cq_prod${q}")))
                .sum::<u64>();
        },
    )
    .unwrap();
    assert!(
        frames > 20 && errors > 5,
        "frames {frames}, errors {errors}"
    );
    // One completion per frame, good or dropped.
    assert_eq!(cpls, frames + errors);
}
