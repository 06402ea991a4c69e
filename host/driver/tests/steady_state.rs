//! No allocation per packet in steady state: a counting global allocator watches a receive and
//! transmit loop through the real driver (on the behavioural card model) after warm-up.

use oxnic_abi::desc::Cpl;
use oxnic_driver::mempool::PktBuf;
use oxnic_driver::mock::{MockCard, RxOutcome};
use oxnic_driver::napi::{PollMode, RxMeta};
use oxnic_driver::nic::{Nic, NicConfig};
use oxnic_driver::txq::TxFrame;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::Arc;
use std::time::Duration;

struct Counting;

thread_local! {
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: forwards to the system allocator; only counts calls on the current thread.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        ALLOCS.with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as ours.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        ALLOCS.with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as ours.
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocs() -> u64 {
    ALLOCS.with(Cell::get)
}

fn fill(frame: &mut [u8], n: u32) {
    for (i, b) in frame.iter_mut().enumerate() {
        *b = (i as u32).wrapping_mul(31) as u8 ^ n as u8;
    }
}

#[test]
fn rx_and_tx_allocate_nothing_per_packet_after_warm_up() {
    let card = Arc::new(MockCard::new());
    let cfg = NicConfig {
        rx_queues: 2,
        tx_queues: 2,
        rx_ring_log2: 8,
        tx_ring_log2: 8,
        mode: PollMode::Interrupt,
        ..Default::default()
    };
    let mut nic = Nic::open(card.clone(), cfg).unwrap();
    let pool = nic.pool().clone();
    let mut tx = nic.take_tx(1).unwrap();
    let mut group = nic.napi_group();
    let mut cache = pool.cache();
    let mut frames: Vec<TxFrame> = Vec::with_capacity(64);
    let mut expect = vec![0u8; 1514];
    let mut scratch = vec![0u8; 1514];
    let mut got = 0u64;
    let mut bad = 0u64;
    let mut sent_ok = 0u64;

    let mut round = |n0: u32, count: u32, got: &mut u64, bad: &mut u64, sent_ok: &mut u64| {
        for k in 0..count {
            let n = n0 + k;
            let len = 60 + (n as usize * 13) % 1400;
            fill(&mut expect[..len], n);
            assert_eq!(
                card.rx_frame(n % 2, &expect[..len], &Cpl::default()),
                RxOutcome::Delivered
            );
            let mut sink = |b: PktBuf, m: &RxMeta| {
                b.read(0, &mut scratch[..m.len as usize]).unwrap();
                if scratch[..m.len as usize] == expect[..len] {
                    *got += 1;
                } else {
                    *bad += 1;
                }
            };
            group.run(&mut sink, Duration::from_micros(10)).unwrap();
            // TX: two segments from the pool, one doorbell per batch of 8.
            let mut a = cache.alloc().unwrap();
            a.fill_from(&expect[..14]).unwrap();
            let mut b = cache.alloc().unwrap();
            b.fill_from(&expect[14..len]).unwrap();
            let mut f = TxFrame::new(a).unwrap();
            f.push(b).unwrap();
            frames.push(f);
            if frames.len() == 8 {
                tx.submit(&mut frames);
                card.tx_process(1, 64, &mut |bytes, _| {
                    if bytes.len() >= 14 {
                        *sent_ok += 1;
                    }
                });
                tx.clean(64);
            }
        }
    };
    round(0, 2000, &mut got, &mut bad, &mut sent_ok);
    let probe = allocs();
    drop(std::hint::black_box(Box::new(7u64)));
    assert_eq!(allocs(), probe + 1, "the counter sees allocations");
    let before = allocs();
    round(2000, 10_000, &mut got, &mut bad, &mut sent_ok);
    let during = allocs() - before;
    assert_eq!((got, bad), (12_000, 0), "every frame received byte-exact");
    assert_eq!(sent_ok, 12_000);
    assert_eq!(during, 0, "allocations in 10,000 RX + 10,000 TX frames");
    drop(cache);
    drop(tx);
    nic.put_group(group);
    nic.close();
    assert_eq!(
        pool.available(),
        pool.capacity(),
        "teardown returned every buffer"
    );
    drop(pool);
    assert_eq!(card.mappings(), 0, "every ring and pool region unmapped");
}
