//! Every catalogued block, differentially: rust-hdl's simulator and the Verilator model of its
//! generated Verilog on the same random stimulus, every output compared on every cycle. Where a
//! reference model exists, the agreed outputs are also checked against it (CRC32 against
//! crc32fast, the checksum against oxnic-abi's RFC 1071 model, Toeplitz against oxnic-abi's).

use oxnic_abi::{checksum, regs};
use oxnic_hdl::stream_stimulus::{decode_frames, value_at, SINK};
use oxnic_hdl::{
    crc32, csum, en_reg, irq_mod, packet_fifo, reg_bus, rss_table, rx_check_chain, rx_queues,
    stream_fifo, stream_register, toeplitz, tx_queues,
};
use oxnic_sim::diff;
use oxnic_sim::models;

/// Blocks covered below; a new catalogue entry without a differential test fails here.
const COVERED: &[&str] = &[
    "oxnic_stream_fifo64",
    "oxnic_stream_fifo512",
    "oxnic_packet_fifo64",
    "oxnic_reg_block_device",
    "oxnic_reg_block_port",
    "oxnic_reg_block_rss",
    "oxnic_reg_block_offload",
    "oxnic_stream_register64",
    "oxnic_skid",
    "oxnic_rss_table",
    "oxnic_en_reg64",
    "oxnic_crc32",
    "oxnic_irq_mod",
    "oxnic_rx_queues",
    "oxnic_tx_queues",
    "oxnic_csum",
    "oxnic_toeplitz",
    "oxnic_rx_check_chain",
    // In diff_mac.rs.
    "oxnic_mac_rx",
    "oxnic_mac_tx",
    // In diff_rx.rs:
    "oxnic_rx_parse",
    "oxnic_rx_checksum",
    "oxnic_rx_hash",
    "oxnic_rx_classify",
    // In diff_tx.rs.
    "oxnic_tx_checksum",
    "oxnic_tx_engine",
    // In diff_rx_engine.rs.
    "oxnic_rx_engine",
    // Below: the whole card.
    "oxnic_nic",
];

#[test]
fn every_catalogued_block_has_a_differential_test() {
    let mut all: Vec<&str> = models::ALL.to_vec();
    let mut covered = COVERED.to_vec();
    all.sort();
    covered.sort();
    assert_eq!(all, covered);
}

#[test]
fn crc32_agrees_and_matches_crc32fast() {
    let stim = crc32::random_stimulus(101, 20_000);
    let frames = decode_frames(&stim, SINK);
    let mut got = Vec::new();
    diff::run(
        crc32::Crc32::new(),
        models::oxnic_crc32::Model::new(),
        &stim,
        |c, s| {
            if s.get("crc_valid") == 1 {
                got.push((c as usize, s.get("crc") as u32));
            }
        },
    )
    .unwrap();
    assert!(frames.len() > 50, "{} frames", frames.len());
    assert_eq!(got.len(), frames.len());
    for (f, (cycle, crc)) in frames.iter().zip(&got) {
        assert_eq!(
            *cycle,
            f.last_cycle + crc32::LATENCY,
            "one word per cycle, fixed latency"
        );
        assert_eq!(
            *crc,
            crc32fast::hash(&f.bytes),
            "frame of {} bytes",
            f.bytes.len()
        );
    }
}

#[test]
fn csum_agrees_and_matches_rfc1071() {
    let stim = csum::random_stimulus(202, 20_000);
    let frames = decode_frames(&stim, SINK);
    let mut got = Vec::new();
    diff::run(
        csum::Csum::new(),
        models::oxnic_csum::Model::new(),
        &stim,
        |c, s| {
            if s.get("csum_valid") == 1 {
                got.push((c as usize, s.get("csum") as u16));
            }
        },
    )
    .unwrap();
    assert_eq!(got.len(), frames.len());
    for (f, (cycle, sum)) in frames.iter().zip(&got) {
        assert_eq!(*cycle, f.last_cycle + csum::LATENCY);
        let start = (value_at(&stim, "start", f.first_cycle)[0] as usize).min(f.bytes.len());
        assert_eq!(
            *sum,
            checksum::fold(checksum::sum(&f.bytes[start..], 0)),
            "start {start}"
        );
    }
}

#[test]
fn toeplitz_agrees_and_matches_the_reference_one_tuple_per_cycle() {
    let stim = toeplitz::random_stimulus(303, 10_000);
    let mut checked = 0;
    diff::run(
        toeplitz::Toeplitz::new(),
        models::oxnic_toeplitz::Model::new(),
        &stim,
        |c, s| {
            let c = c as usize;
            let want = c
                .checked_sub(toeplitz::LATENCY)
                .and_then(|t| toeplitz::reference_hash(&stim, t));
            assert_eq!(s.get("hash_valid") == 1, want.is_some(), "cycle {c}");
            if let Some(h) = want {
                assert_eq!(s.get("hash") as u32, h, "cycle {c}");
                checked += 1;
            }
        },
    )
    .unwrap();
    // The stimulus leaves about one cycle in eight idle; every offered tuple was checked above.
    assert!(checked > 8_000, "{checked} hashes");
}

#[test]
fn stream_fifo64_agrees() {
    let stim = stream_fifo::random_stimulus(404, 20_000);
    let mut passed = 0;
    diff::run(
        stream_fifo::StreamFifo64::default(),
        models::oxnic_stream_fifo64::Model::new(),
        &stim,
        |_, s| {
            passed = s.get("words_passed");
        },
    )
    .unwrap();
    assert!(passed > 5_000, "{passed} words passed");
}

#[test]
fn stream_fifo512_agrees() {
    let stim = stream_fifo::random_stimulus512(505, 3_000);
    let mut passed = 0;
    diff::run(
        stream_fifo::StreamFifo512::default(),
        models::oxnic_stream_fifo512::Model::new(),
        &stim,
        |_, s| {
            passed = s.get("words_passed");
        },
    )
    .unwrap();
    assert!(passed > 500, "{passed} words passed");
}

#[test]
fn packet_fifo64_agrees() {
    let stim = packet_fifo::random_stimulus(606, 20_000);
    let (mut frames, mut dropped) = (0, 0);
    diff::run(
        packet_fifo::PacketFifo64::default(),
        models::oxnic_packet_fifo64::Model::new(),
        &stim,
        |_, s| {
            frames = s.get("frames_passed");
            dropped = s.get("dropped_frames");
        },
    )
    .unwrap();
    assert!(
        frames > 50 && dropped > 10,
        "passed {frames}, dropped {dropped}"
    );
}

#[test]
fn stream_register_agrees() {
    let stim = stream_register::random_stimulus(707, 20_000);
    let mut words = 0;
    diff::run(
        stream_register::StreamRegister::<64, 8>::default(),
        models::oxnic_stream_register64::Model::new(),
        &stim,
        |_, s| words = s.get("words"),
    )
    .unwrap();
    assert!(words > 5_000);
}

#[test]
fn skid_agrees() {
    let stim = stream_register::skid_random_stimulus(808, 20_000);
    let mut words = 0;
    diff::run(
        stream_register::Skid128::default(),
        models::oxnic_skid::Model::new(),
        &stim,
        |c, s| {
            let ready = stim
                .get(c as usize)
                .and_then(|inputs| inputs.iter().find(|(n, _)| *n == "out_ready"))
                .map_or(0, |(_, v)| v[0]);
            words += s.get("out_valid") & ready;
        },
    )
    .unwrap();
    assert!(words > 8_000, "{words} words passed");
}

#[test]
fn rss_table_agrees() {
    let stim = rss_table::random_stimulus(909, 5_000);
    let mut changes = 0;
    let mut last = Vec::new();
    diff::run(
        rss_table::RssTable::new(),
        models::oxnic_rss_table::Model::new(),
        &stim,
        |_, s| {
            let now = [
                s.words("key").unwrap_or(&[]),
                s.words("reta").unwrap_or(&[]),
            ]
            .concat();
            changes += u32::from(now != last);
            last = now;
        },
    )
    .unwrap();
    assert!(changes > 2_000, "{changes} changes");
}

#[test]
fn en_reg_agrees() {
    let stim = en_reg::random_stimulus(1010, 5_000);
    let mut changes = 0;
    let mut last = 0;
    diff::run(
        en_reg::EnReg64::default(),
        models::oxnic_en_reg64::Model::new(),
        &stim,
        |_, s| {
            changes += u32::from(s.get("q") != last);
            last = s.get("q");
        },
    )
    .unwrap();
    assert!(changes > 1_000, "{changes} changes");
}

#[test]
fn irq_mod_agrees() {
    let stim = irq_mod::random_stimulus(1111, 20_000);
    let mut raises = 0;
    diff::run(
        irq_mod::card(),
        models::oxnic_irq_mod::Model::new(),
        &stim,
        |_, s| {
            raises += u64::from(s.get("irq").count_ones());
        },
    )
    .unwrap();
    assert!(raises > 1_000, "{raises} raises");
}

#[test]
fn rx_queues_agrees() {
    let stim = rx_queues::random_stimulus(2222, 20_000);
    let (mut events, mut live) = (0, 0);
    diff::run(
        rx_queues::catalogued(),
        models::oxnic_rx_queues::Model::new(),
        &stim,
        |_, s| {
            events += s.get("cq_event");
            live += s.get("h_live");
        },
    )
    .unwrap();
    // Indices move and reads are recognised as wanted often enough to compare.
    assert!(events > 1_000, "{events} completion events");
    assert!(live > 100, "{live} cycles with a live head read");
}

#[test]
fn tx_queues_agrees() {
    let stim = tx_queues::random_stimulus(3333, 20_000);
    let (mut picks, mut events) = (0, 0);
    diff::run(
        tx_queues::catalogued(),
        models::oxnic_tx_queues::Model::new(),
        &stim,
        |_, s| {
            picks += s.get("found");
            events += s.get("cq_event");
        },
    )
    .unwrap();
    assert!(picks > 1_000, "{picks} cycles with a pick");
    assert!(events > 1_000, "{events} completion events");
}

fn reg_block<M: oxnic_sim::harness::RawModel>(def: &'static regs::BlockDef, model: M, seed: u64) {
    let stim = reg_bus::random_stimulus_for(def, 0, seed, 10_000);
    let mut reads = 0;
    diff::run(reg_bus::RegBlock::new(def, 0), model, &stim, |_, s| {
        reads += s.get("bus$read_valid");
    })
    .unwrap();
    assert!(reads > 2_000, "{} block: {reads} reads answered", def.name);
}

#[test]
fn reg_block_device_agrees() {
    reg_block(
        &regs::device::DEF,
        models::oxnic_reg_block_device::Model::new(),
        808,
    );
}

#[test]
fn reg_block_port_agrees() {
    reg_block(
        &regs::port::DEF,
        models::oxnic_reg_block_port::Model::new(),
        809,
    );
}

#[test]
fn reg_block_rss_agrees() {
    reg_block(
        &regs::rss::DEF,
        models::oxnic_reg_block_rss::Model::new(),
        810,
    );
}

#[test]
fn reg_block_offload_agrees() {
    reg_block(
        &regs::offload::DEF,
        models::oxnic_reg_block_offload::Model::new(),
        811,
    );
}

#[test]
fn rx_check_chain_agrees_and_checks_every_frame() {
    let stim = rx_check_chain::random_stimulus(909, 20_000);
    let frames = decode_frames(&stim, SINK);
    let (mut crcs, mut sums, mut passed) = (vec![], vec![], 0);
    diff::run(
        rx_check_chain::RxCheckChain::default(),
        models::oxnic_rx_check_chain::Model::new(),
        &stim,
        |_, s| {
            if s.get("crc_valid") == 1 {
                crcs.push(s.get("crc") as u32);
            }
            if s.get("csum_valid") == 1 {
                sums.push(s.get("csum") as u16);
            }
            passed = s.get("frames_passed");
        },
    )
    .unwrap();
    assert_eq!(crcs.len(), frames.len());
    for ((f, c), s) in frames.iter().zip(&crcs).zip(&sums) {
        assert_eq!(*c, crc32fast::hash(&f.bytes));
        let start = (value_at(&stim, "start", f.first_cycle)[0] as usize).min(f.bytes.len());
        assert_eq!(*s, checksum::fold(checksum::sum(&f.bytes[start..], 0)));
    }
    assert!(passed > 200, "{passed} frames passed");
}

#[test]
fn whole_card_agrees() {
    // rust-hdl simulates the whole card slowly (every block, the 16 KiB RX FIFO): a short run
    // of bring-up, register traffic over all of BAR0, frames and DMA responses. Each block has
    // its own long differential test.
    let stim = oxnic_hdl::nic::random_stimulus(41, 600, false);
    let mut reads = 0;
    let n = diff::run(
        oxnic_hdl::nic::OxnicNic::new(),
        models::oxnic_nic::Model::new(),
        &stim,
        |_, s| reads += s.get("bus$read_valid"),
    )
    .unwrap();
    assert_eq!(n, 600);
    assert!(reads > 50, "{reads} register reads answered");
}
