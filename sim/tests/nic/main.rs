//! Co-simulation of the whole card (`oxnic_nic`, verilated) against the simulated host:
//! register chain, RX with RSS and checksums, TX scatter-gather with checksum insertion, empty
//! rings, DMA faults, interrupts and moderation.

mod card;

use card::Card;
use oxnic_abi::desc::{cpl_flags, CsumStatus, HashType};
use oxnic_abi::features::{self, DEFAULT_RSS_KEY, RETA_SIZE};
use oxnic_abi::regs::{cq, irq, port, queue_ctrl};
use oxnic_driver::{probe, Bar, Device};
use oxnic_hdl::frame_gen::{apply, Defect, Ipv4Frame, L4};
use oxnic_hdl::rx_model::{self, RssConfig};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::VecDeque;
use std::time::Duration;

#[test]
fn probe_walks_the_card_and_reads_its_capabilities() {
    let c = Card::new(8);
    let info = probe(&c.dev).expect("the card's register chain");
    assert_eq!(
        (info.num_rxq, info.num_txq, info.num_cq, info.num_vectors),
        (8, 8, 16, 16)
    );
    assert_eq!(info.datapath_bits, 64);
    assert_eq!(info.clock_khz, 250_000);
    assert_eq!(info.max_ring_log2, features::MAX_RING_LOG2);
    assert!(info.features & features::RSS != 0 && info.features & features::RX_CSUM != 0);
    assert_eq!(info.blocks.len(), oxnic_abi::regs::BLOCKS.len());
    // Registers read back; read-only ones do not change.
    c.dev.write32(
        oxnic_abi::regs::device::BASE + oxnic_abi::regs::device::SCRATCH,
        0x5eed_cafe,
    );
    assert_eq!(
        c.dev
            .read32(oxnic_abi::regs::device::BASE + oxnic_abi::regs::device::SCRATCH),
        0x5eed_cafe
    );
    assert_eq!(c.dev.read32(port::BASE + port::MTU), 9000);
    assert_eq!(c.dev.read32(port::BASE + port::STATUS) & 1, 1, "link up");
}

/// A frame of 60..=1514 bytes (64..=1518 on the wire), random flow, one in ten with a defect.
fn rx_frame(rng: &mut ChaCha8Rng) -> Vec<u8> {
    let mut spec = Ipv4Frame::random(rng, 64);
    let room = 1514 - 18 - 60 - 60;
    spec.payload = (0..rng.gen_range(0..=room)).map(|_| rng.gen()).collect();
    spec.padding.clear();
    let mut f = spec.build();
    match rng.gen_range(0..30) {
        0 => apply(&mut f, Defect::Ipv4HeaderChecksum(rng.gen())),
        1 | 2 => apply(
            &mut f,
            Defect::L4Byte {
                at: rng.gen(),
                xor: rng.gen_range(1..=255),
            },
        ),
        _ => {}
    }
    assert!((60..=1514).contains(&f.len()));
    f
}

struct Expect {
    frame: Vec<u8>,
    hash: u32,
    hash_type: HashType,
    ip: CsumStatus,
    l4: CsumStatus,
    sum: u16,
}

/// Sends `n` frames (plus bad-FCS frames mixed in) and checks that each good one arrives
/// byte-exact, in order, on the queue the reference RSS picks, with the reference hash and
/// checksum statuses.
fn rx_run(c: &mut Card, cfg: &RssConfig, n: usize, seed: u64) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut expect: Vec<VecDeque<Expect>> = (0..8).map(|_| VecDeque::new()).collect();
    let fcs_before = c.counter(port::RX_FCS_ERRORS);
    let mut bad_fcs = 0;
    let mut sent = 0;
    let mut got = 0usize;
    let mut bad_seen = [0usize; 2];
    while got < n {
        // Keep the wire busy a few frames ahead.
        while sent < n && c.dev.rx_backlog() < 16 {
            let f = rx_frame(&mut rng);
            if rng.gen_ratio(1, 50) {
                let mut raw = f.clone();
                raw.extend_from_slice(&(crc32fast::hash(&f) ^ 0x8000_0001).to_le_bytes());
                c.dev.send_raw(&raw);
                bad_fcs += 1;
            }
            let m = rx_model::classify(&f);
            let r = rx_model::rss(&m, cfg);
            expect[usize::from(r.queue)].push_back(Expect {
                hash: r.hash,
                hash_type: r.hash_type,
                ip: m.ip_csum,
                l4: m.l4_csum,
                sum: m.csum_complete,
                frame: f.clone(),
            });
            c.dev.send_frame(&f);
            sent += 1;
        }
        c.dev.run(500);
        for (q, exp) in expect.iter_mut().enumerate() {
            for (cpl, data) in c.poll_rx(q) {
                let e = exp
                    .pop_front()
                    .unwrap_or_else(|| panic!("queue {q}: unexpected frame"));
                assert_eq!(data, e.frame, "queue {q}: frame {got} not byte-exact");
                assert_eq!(cpl.len as usize, e.frame.len());
                assert_eq!(usize::from(cpl.queue), q);
                assert_eq!(
                    (cpl.rss_hash, cpl.hash_type),
                    (e.hash, e.hash_type),
                    "queue {q} hash"
                );
                assert_eq!(
                    (cpl.ip_csum, cpl.l4_csum),
                    (e.ip, e.l4),
                    "queue {q} checksum status"
                );
                assert_eq!(cpl.csum_complete, Some(e.sum));
                assert_eq!(cpl.flags & cpl_flags::TX, 0);
                bad_seen[0] += usize::from(e.ip == CsumStatus::Bad);
                bad_seen[1] += usize::from(e.l4 == CsumStatus::Bad);
                got += 1;
            }
        }
        assert!(
            c.dev.cycle() < 40_000_000,
            "stuck: {got} of {n} frames after {} cycles",
            c.dev.cycle()
        );
    }
    assert!(expect.iter().all(|e| e.is_empty()));
    assert!(
        bad_seen[0] > 0 && bad_seen[1] > 0,
        "the run covered bad checksums: {bad_seen:?}"
    );
    assert_eq!(c.counter(port::RX_FCS_ERRORS) - fcs_before, bad_fcs);
    assert_eq!(c.counter(port::RX_MISSED), 0);
    assert_eq!(c.counter(port::RX_NO_BUFFER), 0);
}

#[test]
fn rx_10k_frames_land_byte_exact_on_their_rss_queue_with_hash_and_checksums() {
    let mut c = Card::new(8);
    for q in 0..8 {
        c.setup_rx(q, 8, 2048, true);
    }
    let mut cfg = RssConfig {
        key: DEFAULT_RSS_KEY,
        hash_types: 0x7,
        enable: true,
        reta: [0; RETA_SIZE],
        default_queue: 0,
    };
    for (i, e) in cfg.reta.iter_mut().enumerate() {
        *e = (i % 8) as u8;
    }
    rx_run(&mut c, &cfg, 10_000, 1);
    let per_queue: Vec<u64> = (0..8)
        .map(|q| u64::from(c.rx[q].as_ref().unwrap().cq_cons))
        .collect();
    assert!(
        per_queue.iter().all(|&n| n > 500),
        "RSS spreads flows: {per_queue:?}"
    );
    assert_eq!(c.counter(port::RX_PACKETS), 10_000);

    // A second, random key and a shuffled table.
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    rng.fill(&mut cfg.key[..]);
    for e in cfg.reta.iter_mut() {
        *e = rng.gen_range(0..8);
    }
    c.set_key(&cfg.key);
    c.set_reta(&cfg.reta);
    rx_run(&mut c, &cfg, 2_000, 2);
}

#[test]
fn empty_ring_drops_its_frames_as_rx_no_buffer_and_other_queues_go_on() {
    let mut c = Card::new(4);
    c.dev.set_output_check(true);
    for q in 0..4 {
        c.setup_rx(q, 6, 2048, q != 2);
    }
    // Let the card fetch the posted descriptors before traffic starts, as a driver posts
    // buffers well before the link carries anything.
    c.dev.run(4000);
    let cfg = RssConfig {
        key: DEFAULT_RSS_KEY,
        hash_types: 0x7,
        enable: true,
        reta: std::array::from_fn(|i| (i % 4) as u8),
        default_queue: 0,
    };
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let mut want = [0u64; 4];
    for _ in 0..400 {
        let f = Ipv4Frame::random(&mut rng, 200).build();
        let q = rx_model::rss(&rx_model::classify(&f), &cfg).queue;
        want[usize::from(q)] += 1;
        c.dev.send_frame(&f);
    }
    let mut got = [0u64; 4];
    while c.dev.rx_backlog() > 0 || got.iter().sum::<u64>() < want.iter().sum::<u64>() - want[2] {
        c.dev.run(1000);
        for q in [0, 1, 3] {
            got[q] += c.poll_rx(q).len() as u64;
        }
        assert!(
            c.dev.cycle() < 5_000_000,
            "stuck: got {got:?} want {want:?}, no_buffer {} missed {} rx {}",
            c.counter(port::RX_NO_BUFFER),
            c.counter(port::RX_MISSED),
            c.counter(port::RX_PACKETS)
        );
    }
    c.dev.run(2000);
    assert_eq!(got, [want[0], want[1], 0, want[3]]);
    assert_eq!(c.counter(port::RX_NO_BUFFER), want[2]);
    assert!(want[2] > 50);
    // One evaluation per cycle is exact only if no output follows a same-cycle input.
    let check = c.dev.output_check();
    assert!(check.cycles > 10_000, "{check:?}");
    assert_eq!(check.mismatches, 0, "{check:?}");
}

/// A TCP or UDP frame with a checksum request: the field holds the pseudo-header sum, as a
/// stack sends CHECKSUM_PARTIAL. Returns (partial frame, expected frame, csum start, offset).
fn tx_frame(rng: &mut ChaCha8Rng) -> (Vec<u8>, Vec<u8>, u16, u16) {
    tx_frame_of(rng, 0..=1300)
}

/// As [`tx_frame`], with a payload length drawn from `payload`.
fn tx_frame_of(
    rng: &mut ChaCha8Rng,
    payload: std::ops::RangeInclusive<usize>,
) -> (Vec<u8>, Vec<u8>, u16, u16) {
    loop {
        let mut spec = Ipv4Frame::random(rng, 64);
        if spec.is_fragment() || matches!(spec.l4, L4::Other { .. }) {
            continue;
        }
        if let L4::Udp { no_checksum, .. } = &mut spec.l4 {
            *no_checksum = false;
        }
        spec.payload = (0..rng.gen_range(payload.clone()))
            .map(|_| rng.gen())
            .collect();
        let full = spec.build();
        let l4 = spec.l4_offset();
        let off: u16 = if matches!(spec.l4, L4::Tcp { .. }) {
            16
        } else {
            6
        };
        let l3 = spec.l3_offset();
        let tot = usize::from(u16::from_be_bytes([full[l3 + 2], full[l3 + 3]]));
        let ph = oxnic_abi::checksum::fold(oxnic_abi::checksum::pseudo_header(
            spec.src,
            spec.dst,
            spec.l4.proto(),
            (l3 + tot - l4) as u16,
        ));
        let mut partial = full.clone();
        let at = l4 + usize::from(off);
        partial[at..at + 2].copy_from_slice(&ph.to_be_bytes());
        // Padding after the datagram would enter the card's sum: frames here have none.
        if l3 + tot != full.len() {
            continue;
        }
        return (partial, full, l4 as u16, off);
    }
}

#[test]
fn tx_frames_of_1_to_8_segments_leave_byte_exact_with_fcs_and_checksums() {
    let mut c = Card::new(1);
    c.dev.set_output_check(true);
    for q in 0..2 {
        c.setup_tx(q, 7);
    }
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let mut expect: Vec<VecDeque<Vec<u8>>> = vec![VecDeque::new(), VecDeque::new()];
    let mut segs_used = [0u32; 9];
    let mut outstanding = [0usize; 2];
    let n = 400;
    for i in 0..n {
        let q = i % 2;
        // Never more descriptors in flight than the ring holds.
        while outstanding[q] > 8 {
            c.dev.run(1000);
            for (q, o) in outstanding.iter_mut().enumerate() {
                *o -= c.poll_tx(q).len();
            }
        }
        let (partial, full, start, off) = tx_frame(&mut rng);
        let nseg = rng.gen_range(1..=8usize).min(partial.len());
        let mut cuts: Vec<usize> = (0..nseg - 1)
            .map(|_| rng.gen_range(1..partial.len()))
            .collect();
        cuts.sort_unstable();
        cuts.dedup();
        let mut segs = Vec::new();
        let mut at = 0;
        for cut in cuts.into_iter().chain([partial.len()]) {
            segs.push(partial[at..cut].to_vec());
            at = cut;
        }
        segs_used[segs.len()] += 1;
        c.queue_tx(q, &segs, Some((start, off)), None);
        c.ring_tx(q);
        outstanding[q] += 1;
        let mut full = full;
        if full.len() < 60 {
            full.resize(60, 0);
        }
        expect[q].push_back(full);
    }
    let mut wire = Vec::new();
    while wire.len() < n {
        c.dev.run(2000);
        wire.extend(c.dev.take_tx_frames());
        for q in 0..2 {
            c.poll_tx(q);
        }
        assert!(c.dev.cycle() < 20_000_000, "stuck at {} of {n}", wire.len());
    }
    assert!(segs_used[1] > 0 && segs_used[8] > 0, "{segs_used:?}");
    // Each queue's frames leave in order; the two queues interleave.
    let same = |f: &[u8], e: &[u8]| {
        f.len() == e.len() && (0..f.len()).all(|k| f[k] == e[k] || (e[k] == 0 && f[k] == 0xff))
    };
    for (i, w) in wire.iter().enumerate() {
        let f = w.frame().expect("a good frame on the wire");
        let q = (0..2)
            .find(|&q| expect[q].front().is_some_and(|e| same(f, e)))
            .unwrap_or_else(|| panic!("wire frame {i} is not the next frame of either queue"));
        let e = expect[q].pop_front().unwrap();
        assert_eq!(f.len(), e.len(), "frame {i}");
        let m = rx_model::classify(f);
        assert_eq!(
            (m.ip_csum, m.l4_csum),
            (CsumStatus::Ok, CsumStatus::Ok),
            "frame {i}"
        );
        if f != &e[..] {
            // Only a computed checksum of zero may differ: the card sends 0xffff for it.
            let diff: Vec<usize> = (0..f.len()).filter(|&k| f[k] != e[k]).collect();
            assert!(
                diff.len() <= 2 && diff.iter().all(|&k| e[k] == 0 && f[k] == 0xff),
                "frame {i} differs at {diff:?}"
            );
        }
    }
    assert_eq!(c.counter(port::TX_PACKETS), n as u64);
    assert_eq!(c.counter(port::TX_ERRORS), 0);
    // The output check watched the whole run (about 55,000 cycles).
    let check = c.dev.output_check();
    assert!(check.cycles > 40_000, "{check:?}");
    assert_eq!(check.mismatches, 0, "{check:?}");
}

#[test]
fn jumbo_tx_frames_get_their_checksums_inserted() {
    // Frames up to the 9000-byte MTU: the checksum stage must hold a whole one to write the
    // sum near its start.
    let mut c = Card::new(1);
    c.setup_tx(0, 7);
    let mut rng = ChaCha8Rng::seed_from_u64(12);
    let n = 12;
    let mut expect = VecDeque::new();
    for _ in 0..n {
        let (partial, full, start, off) = tx_frame_of(&mut rng, 7000..=8900);
        assert!(full.len() > 7000);
        let nseg = rng.gen_range(1..=4usize);
        let cut = partial.len() / nseg;
        let segs: Vec<Vec<u8>> = partial.chunks(cut).map(<[u8]>::to_vec).collect();
        c.queue_tx(0, &segs, Some((start, off)), None);
        expect.push_back(full);
    }
    c.ring_tx(0);
    let mut wire = Vec::new();
    while wire.len() < n {
        c.dev.run(5000);
        wire.extend(c.dev.take_tx_frames());
        c.poll_tx(0);
        assert!(c.dev.cycle() < 2_000_000, "stuck at {} of {n}", wire.len());
    }
    for (i, w) in wire.iter().enumerate() {
        let f = w.frame().expect("a good frame on the wire");
        let e = expect.pop_front().unwrap();
        assert_eq!(f.len(), e.len(), "frame {i}");
        let m = rx_model::classify(f);
        assert_eq!(
            (m.ip_csum, m.l4_csum),
            (CsumStatus::Ok, CsumStatus::Ok),
            "frame {i} ({} bytes): the checksum was not inserted",
            f.len()
        );
    }
    assert_eq!(c.counter(port::TX_ERRORS), 0);
}

#[test]
fn dma_to_an_unmapped_iova_is_a_recorded_fault_and_touches_nothing() {
    let mut c = Card::new(1);
    c.setup_tx(0, 4);
    let bad = 0x7_0000_0000;
    let (partial, _, _, _) = tx_frame(&mut ChaCha8Rng::seed_from_u64(5));
    c.queue_tx(0, &[partial], None, Some(bad));
    c.ring_tx(0);
    c.dev.run(5000);
    let faults = c.dev.faults();
    assert_eq!(faults.len(), 1, "{faults:?}");
    assert_eq!((faults[0].iova, faults[0].write), (bad, false));
    assert!(
        c.dev.take_tx_frames().is_empty(),
        "nothing reached the wire"
    );
    let cpls = c.poll_tx(0);
    assert_eq!(cpls.len(), 1);
    assert_ne!(cpls[0].flags & cpl_flags::ERROR, 0);
    assert_eq!(c.counter(port::TX_ERRORS), 1);
    assert_eq!(c.counter(port::DMA_FAULTS), 1);

    // A receive buffer at an unmapped IOVA: the write is refused whole.
    c.setup_rx(0, 3, 2048, false);
    let w = card::rx_window(0);
    c.dev.with_memory(|m| {
        let d = oxnic_abi::desc::RxDesc {
            addr: bad,
            len: 2048,
        };
        m.host_slice_mut(w, 16)
            .unwrap()
            .copy_from_slice(&d.to_bytes());
    });
    c.post_rx(0, 1);
    c.dev
        .send_frame(&Ipv4Frame::udp([1, 1, 1, 1], [2, 2, 2, 2], 1, 2, &[7; 100]).build());
    c.dev.run_wire_empty(3000);
    let faults = c.dev.faults();
    assert_eq!(faults.len(), 2);
    assert_eq!((faults[1].iova, faults[1].write), (bad, true));
    let untouched = c.dev.with_memory(|m| {
        m.host_slice(w + 0x20_0000, 8 * 2048)
            .unwrap()
            .iter()
            .all(|&b| b == 0)
    });
    assert!(untouched, "no buffer was written");
}

fn arm(c: &Card, cqn: u32) {
    c.dev.write32(
        cq::reg(cqn, cq::entry::CTRL),
        queue_ctrl::ENABLE | queue_ctrl::ARM,
    );
}

#[test]
fn interrupts_fire_once_per_arm_and_honour_moderation() {
    let mut c = Card::new(1);
    c.setup_rx(0, 6, 2048, true);
    c.dev.irq_enable(0).unwrap();
    let frame = Ipv4Frame::udp([10, 0, 0, 1], [10, 0, 0, 2], 9, 9, &[1; 64]).build();

    // Not armed: completions, no interrupt.
    c.dev.send_frame(&frame);
    c.dev.run_wire_empty(2000);
    assert_eq!(c.poll_rx(0).len(), 1);
    assert_eq!(c.dev.irq_raised(0), 0);

    // Armed: five frames, one interrupt.
    arm(&c, 0);
    for _ in 0..5 {
        c.dev.send_frame(&frame);
    }
    assert_eq!(c.dev.irq_wait(1, Duration::from_micros(50)).unwrap(), 1);
    c.dev.run_wire_empty(2000);
    assert_eq!(c.poll_rx(0).len(), 5);
    assert_eq!(c.dev.irq_raised(0), 1);
    assert_eq!(c.dev.irq_wait(1, Duration::from_micros(20)).unwrap(), 0);

    // Arming with a record already waiting fires at once (no lost wake-up).
    c.dev.send_frame(&frame);
    c.dev.run_wire_empty(2000);
    arm(&c, 0);
    c.dev.run(10);
    assert_eq!(c.dev.irq_raised(0), 2);
    assert_eq!(c.poll_rx(0).len(), 1);
    assert_eq!(c.dev.read32(irq::reg(0, irq::entry::COUNT)), 2);

    // MOD_FRAMES = 8: the interrupt waits for the eighth completion.
    c.dev.write32(irq::reg(0, irq::entry::MOD_FRAMES), 8);
    arm(&c, 0);
    for i in 0..8 {
        c.dev.send_frame(&frame);
        c.dev.run_wire_empty(1500);
        let want = if i < 7 { 2 } else { 3 };
        assert_eq!(c.dev.irq_raised(0), want, "after completion {}", i + 1);
    }
    assert_eq!(c.poll_rx(0).len(), 8);

    // MOD_USECS = 20 (frames off): the interrupt comes 20 µs after the first completion.
    c.dev.write32(irq::reg(0, irq::entry::MOD_FRAMES), 0);
    c.dev.write32(irq::reg(0, irq::entry::MOD_USECS), 20);
    arm(&c, 0);
    c.dev.send_frame(&frame);
    let start = c.dev.cycle();
    let mut first = None;
    while c.dev.irq_raised(0) == 3 {
        c.dev.run(10);
        if first.is_none() && !c.poll_rx(0).is_empty() {
            first = Some(c.dev.cycle());
        }
        assert!(c.dev.cycle() - start < 20_000, "no interrupt");
    }
    let first = first.expect("the frame completed before the interrupt");
    let waited = c.dev.cycle() - first;
    // The timer counts whole microseconds of a free-running 1 µs tick: 19 to 20 µs.
    assert!(
        (4_700..=5_300).contains(&waited),
        "interrupt {waited} cycles after the completion"
    );

    // Masked: pending, raised on unmask.
    c.dev.write32(irq::reg(0, irq::entry::MOD_USECS), 0);
    c.dev.write32(irq::reg(0, irq::entry::MASK), 1);
    arm(&c, 0);
    c.dev.send_frame(&frame);
    c.dev.run_wire_empty(2000);
    assert_eq!(c.dev.irq_raised(0), 4, "masked");
    c.dev.write32(irq::reg(0, irq::entry::MASK), 0);
    c.dev.run(10);
    assert_eq!(c.dev.irq_raised(0), 5, "raised on unmask");
}

#[test]
fn device_reset_clears_counters_and_deactivates_queues() {
    let mut c = Card::new(1);
    c.setup_rx(0, 4, 2048, true);
    let frame = Ipv4Frame::udp([10, 0, 0, 1], [10, 0, 0, 2], 9, 9, &[1; 64]).build();
    c.dev.send_frame(&frame);
    c.dev.run_wire_empty(2000);
    assert_eq!(c.counter(port::RX_PACKETS), 1);
    c.dev.write32(
        oxnic_abi::regs::device::BASE + oxnic_abi::regs::device::RESET,
        1,
    );
    c.dev.run(10);
    assert_eq!(c.counter(port::RX_PACKETS), 0);
    let status = c.dev.read32(oxnic_abi::regs::rxq::reg(
        0,
        oxnic_abi::regs::rxq::entry::STATUS,
    ));
    assert_eq!(status & 1, 0, "queue inactive after reset");
    c.dev.send_frame(&frame);
    c.dev.run_wire_empty(2000);
    assert_eq!(c.counter(port::RX_NO_BUFFER), 1);
}
