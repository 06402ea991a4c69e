//! The whole driver on the behavioural card model: bring-up from reset, 8 RX queues served by
//! one NAPI group in each poll mode, scatter-gather TX on every queue, corrupted completions in
//! the stream, and a teardown that leaves nothing behind. (The co-simulation tests run the same
//! sequence against the verilated card through `SimDevice`.)

use oxnic_abi::desc::{cpl_field, Cpl, CsumStatus, HashType};
use oxnic_driver::mempool::PktBuf;
use oxnic_driver::mock::{MockCard, RxOutcome};
use oxnic_driver::napi::{Adaptive, PollMode, RxMeta};
use oxnic_driver::nic::{Nic, NicConfig};
use oxnic_driver::txq::{TxFrame, TxMeta};
use std::sync::Arc;
use std::time::Duration;

fn frame(n: u32) -> Vec<u8> {
    let len = 60 + (n as usize * 37) % 1455;
    (0..len)
        .map(|i| (i as u32 ^ n.rotate_left(i as u32 % 32)) as u8)
        .collect()
}

fn run(mode: PollMode) {
    let card = Arc::new(MockCard::new());
    let cfg = NicConfig {
        rx_queues: 8,
        tx_queues: 8,
        rx_ring_log2: 7,
        tx_ring_log2: 7,
        mode,
        mac: Some([0x02, 0x0c, 0x5e, 0, 0, 1]),
        ..Default::default()
    };
    let mut nic = Nic::open(card.clone(), cfg).unwrap();
    assert_eq!(nic.info().num_rxq, 8);
    assert_eq!(nic.port().mac(), [0x02, 0x0c, 0x5e, 0, 0, 1]);
    let pool = nic.pool().clone();
    let mut group = nic.napi_group();
    let meta = Cpl {
        hash_type: HashType::Ipv4Udp,
        ip_csum: CsumStatus::Ok,
        l4_csum: CsumStatus::Ok,
        ..Default::default()
    };

    // RX: 8 queues, bursts of 40 frames per queue, a corrupted completion now and then.
    let mut received: Vec<Vec<(u32, usize)>> = vec![Vec::new(); 8];
    let mut next = 0u32;
    let mut corrupted = 0u64;
    let mut offered: Vec<Vec<u32>> = vec![Vec::new(); 8];
    for burst in 0..25 {
        for q in 0..8u32 {
            for _ in 0..40 {
                let n = next;
                next += 1;
                let m = Cpl {
                    rss_hash: n,
                    ..meta
                };
                let out = if n % 97 == 13 {
                    corrupted += 1;
                    card.rx_frame_with(q, &frame(n), &m, &mut |c| c[cpl_field::LEN + 1] = 0xff)
                } else {
                    let o = card.rx_frame(q, &frame(n), &m);
                    if o == RxOutcome::Delivered {
                        offered[q as usize].push(n);
                    }
                    o
                };
                assert_eq!(out, RxOutcome::Delivered, "burst {burst} queue {q}");
            }
        }
        let mut sink = |b: PktBuf, m: &RxMeta| {
            let mut v = Vec::new();
            b.copy_to_vec(&mut v).unwrap();
            assert_eq!(v, frame(m.rss_hash), "byte-exact");
            assert_eq!(m.hash_type, HashType::Ipv4Udp);
            received[m.queue as usize].push((m.rss_hash, v.len()));
        };
        while group.run(&mut sink, Duration::from_micros(20)).unwrap() > 0 {}
    }
    for q in 0..8 {
        let got: Vec<u32> = received[q].iter().map(|(n, _)| *n).collect();
        assert_eq!(got, offered[q], "queue {q}: every good frame, in order");
    }
    nic.put_group(group);
    assert_eq!(nic.driver_total("rx_drop_bad_len"), Some(corrupted));
    assert_eq!(
        nic.driver_total("rx_packets"),
        Some(offered.iter().map(Vec::len).sum::<usize>() as u64)
    );

    // TX: every queue, 1..=8 segments, checksum requests, batches of 16.
    let mut n = 0u32;
    for q in 0..8u32 {
        let mut expect = Vec::new();
        let mut batch = Vec::with_capacity(16);
        for k in 0..160u32 {
            let data = frame(100_000 + n);
            n += 1;
            let segs = 1 + (k as usize % 8);
            let cut = data.len() / segs;
            let mut f: Option<TxFrame> = None;
            for s in 0..segs {
                let end = if s + 1 == segs {
                    data.len()
                } else {
                    (s + 1) * cut
                };
                let mut b = pool.alloc().unwrap();
                b.fill_from(&data[s * cut..end]).unwrap();
                match f.as_mut() {
                    None => f = Some(TxFrame::new(b).unwrap()),
                    Some(f) => f.push(b).unwrap(),
                }
            }
            let f = f
                .unwrap()
                .with_meta(TxMeta {
                    csum: Some((34, 6)),
                    ..Default::default()
                })
                .unwrap();
            batch.push(f);
            expect.push(data);
            if batch.len() == 16 {
                let txq = nic.tx(q).unwrap();
                while !batch.is_empty() {
                    txq.submit(&mut batch);
                    card.tx_process(q, usize::MAX, &mut |b, d| {
                        assert_eq!(d.csum_start, 34);
                        let want = expect.remove(0);
                        assert_eq!(b, &want[..], "TX byte-exact");
                    });
                    txq.clean(64);
                }
            }
        }
        assert!(expect.is_empty());
        assert_eq!(nic.tx(q).unwrap().in_flight(), 0);
    }
    assert_eq!(nic.driver_total("tx_packets"), Some(8 * 160));
    assert_eq!(nic.driver_total("tx_cpl_bad"), Some(0));

    nic.close();
    assert_eq!(
        pool.available(),
        pool.capacity(),
        "teardown returned every buffer"
    );
    drop(pool);
    assert_eq!(card.mappings(), 0);
    assert_eq!(card.faults(), 0, "the card never touched unmapped memory");
}

#[test]
fn eight_queues_interrupt_mode() {
    run(PollMode::Interrupt);
}

#[test]
fn eight_queues_busy_poll() {
    run(PollMode::BusyPoll);
}

#[test]
fn eight_queues_adaptive() {
    run(PollMode::Adaptive(Adaptive::default()));
}
