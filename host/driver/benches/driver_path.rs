//! Host CPU time per packet in the driver's hot paths, on the behavioural card model.
//!
//! Only the driver's own work is timed (`iter_custom`): for RX, the card model writes 64
//! frames and completions untimed, then one NAPI poll of 64 (validate, hand to the sink, refill
//! with two doorbells, one CONS write) is timed; for TX, building and submitting 64 frames of
//! two segments (one doorbell) plus cleaning 64 completions is timed, while the model's walk
//! of the descriptors is not. The co-simulation packet rate is the simulator's bench.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use oxnic_abi::desc::Cpl;
use oxnic_driver::mock::MockCard;
use oxnic_driver::napi::{PollMode, RxMeta};
use oxnic_driver::nic::{Nic, NicConfig};
use oxnic_driver::txq::TxFrame;
use oxnic_driver::PktBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

const BATCH: usize = 64;

fn open() -> (Arc<MockCard>, Nic) {
    let card = Arc::new(MockCard::new());
    let nic = Nic::open(
        card.clone(),
        NicConfig {
            rx_queues: 1,
            tx_queues: 1,
            rx_ring_log2: 9,
            tx_ring_log2: 9,
            mode: PollMode::BusyPoll,
            ..Default::default()
        },
    )
    .unwrap();
    (card, nic)
}

fn rx(c: &mut Criterion) {
    let mut g = c.benchmark_group("driver_rx");
    g.throughput(Throughput::Elements(BATCH as u64));
    for len in [64usize, 1500] {
        let (card, mut nic) = open();
        let frame = vec![0x5au8; len];
        let mut bytes = 0u64;
        g.bench_function(format!("poll_{len}B"), |b| {
            b.iter_custom(|iters| {
                let mut t = Duration::ZERO;
                for _ in 0..iters {
                    for _ in 0..BATCH {
                        card.rx_frame(0, &frame, &Cpl::default());
                    }
                    let p = nic.rx(0).unwrap();
                    let mut sink = |b: PktBuf, m: &RxMeta| bytes += m.len as u64 + b.len() as u64;
                    let s = Instant::now();
                    let n = p.poll(BATCH, &mut sink);
                    t += s.elapsed();
                    assert_eq!(n, BATCH);
                }
                t
            })
        });
        assert!(bytes > 0);
    }
    g.finish();
}

fn tx(c: &mut Criterion) {
    let mut g = c.benchmark_group("driver_tx");
    g.throughput(Throughput::Elements(BATCH as u64));
    let (card, mut nic) = open();
    let pool = nic.pool().clone();
    let mut cache = pool.cache();
    let hdr = [0x11u8; 42];
    let mut frames: Vec<TxFrame> = Vec::with_capacity(BATCH);
    g.bench_function("submit_clean_2seg", |b| {
        b.iter_custom(|iters| {
            let mut t = Duration::ZERO;
            for _ in 0..iters {
                let q = nic.tx(0).unwrap();
                let s = Instant::now();
                for _ in 0..BATCH {
                    let mut h = cache.alloc().unwrap();
                    h.fill_from(&hdr).unwrap();
                    let mut p = cache.alloc().unwrap();
                    p.set_len(1000).unwrap();
                    let mut f = TxFrame::new(h).unwrap();
                    f.push(p).unwrap();
                    frames.push(f);
                }
                q.submit(&mut frames);
                t += s.elapsed();
                card.tx_process(0, usize::MAX, &mut |_, _| {});
                let s = Instant::now();
                let n = q.clean(BATCH);
                t += s.elapsed();
                assert_eq!(n, BATCH);
            }
            t
        })
    });
    g.finish();
}

criterion_group!(benches, rx, tx);
criterion_main!(benches);
