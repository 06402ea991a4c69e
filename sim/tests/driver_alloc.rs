//! No allocation per packet in steady state, on the verilated card: a counting global
//! allocator counts what the driver allocates inside its own calls (NAPI polls, TX build,
//! submit and clean) after warm-up. The simulator's own allocations (inside device calls: the
//! card's cycles, DMA bookkeeping) and the test's (frame generation, the wire) are not the
//! driver's and are not counted.

use oxnic_driver::napi::{PollMode, RxMeta};
use oxnic_driver::nic::{Nic, NicConfig};
use oxnic_driver::txq::TxFrame;
use oxnic_driver::{Bar, Device, DeviceError, DmaPerm, DmaRegion, PktBuf};
use oxnic_hdl::frame_gen::Ipv4Frame;
use oxnic_sim::{SimConfig, SimDevice};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::Arc;
use std::time::Duration;

struct Counting;

thread_local! {
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}

fn count() {
    // `try_with`: the allocator may run while thread-locals are being torn down.
    let _ = COUNTING.try_with(|on| {
        if on.get() {
            let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        }
    });
}

// SAFETY: forwards to the system allocator; only counts calls on the current thread.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        count();
        // SAFETY: same contract as ours.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        count();
        // SAFETY: same contract as ours.
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Runs `f` with counting set to `on`, restoring the previous setting.
fn counting<R>(on: bool, f: impl FnOnce() -> R) -> R {
    let was = COUNTING.with(|c| c.replace(on));
    let r = f();
    COUNTING.with(|c| c.set(was));
    r
}

/// `SimDevice` whose calls (the simulated card) are not counted.
struct Uncounted(Arc<SimDevice>);

impl Bar for Uncounted {
    fn size(&self) -> u32 {
        self.0.size()
    }
    fn read32(&self, offset: u32) -> u32 {
        counting(false, || self.0.read32(offset))
    }
    fn write32(&self, offset: u32, value: u32) {
        counting(false, || self.0.write32(offset, value))
    }
}

impl Device for Uncounted {
    fn dma_map(&self, r: &Arc<DmaRegion>, iova: u64, p: DmaPerm) -> Result<(), DeviceError> {
        counting(false, || self.0.dma_map(r, iova, p))
    }
    fn dma_unmap(&self, iova: u64) -> Result<(), DeviceError> {
        counting(false, || self.0.dma_unmap(iova))
    }
    fn num_vectors(&self) -> u32 {
        self.0.num_vectors()
    }
    fn irq_enable(&self, vector: u32) -> Result<(), DeviceError> {
        counting(false, || self.0.irq_enable(vector))
    }
    fn irq_wait(&self, mask: u64, timeout: Duration) -> Result<u64, DeviceError> {
        counting(false, || self.0.irq_wait(mask, timeout))
    }
    fn relax(&self) {
        counting(false, || self.0.relax())
    }
    fn now_ns(&self) -> u64 {
        counting(false, || self.0.now_ns())
    }
}

/// Receives and sends `n` frames each; returns the allocations inside driver calls.
fn traffic(dev: &SimDevice, nic: &mut Nic, frames: &[Vec<u8>], n: usize) -> u64 {
    let before = ALLOCS.with(Cell::get);
    let mut group = counting(true, || nic.napi_group());
    // Taking the group out allocates its Vec: that is set-up, not per packet.
    let setup = ALLOCS.with(Cell::get) - before;
    let mut got = 0;
    let mut sent = 0;
    while got < n {
        while sent < n && dev.rx_backlog() < 24 {
            dev.send_frame(&frames[sent % frames.len()]);
            sent += 1;
        }
        let mut sink = |b: PktBuf, _m: &RxMeta| {
            std::hint::black_box(b.len());
        };
        got += counting(true, || group.run(&mut sink, Duration::from_micros(20))).unwrap();
    }
    counting(true, || nic.put_group(group));
    let pool = nic.pool().clone();
    let mut batch = counting(false, || Vec::with_capacity(32));
    let mut sent = 0;
    let mut wire = 0;
    while wire < n {
        for q in 0..nic.num_tx() {
            let txq = nic.tx(q).unwrap();
            counting(true, || {
                while sent < n && batch.len() < 32 && txq.free() > 0 {
                    let mut b = pool.alloc().expect("TX buffer");
                    b.fill_from(&frames[sent % frames.len()]).unwrap();
                    batch.push(TxFrame::new(b).unwrap());
                    sent += 1;
                }
                let k = batch.len();
                let queued = txq.submit(&mut batch);
                sent -= k - queued;
                batch.clear();
                txq.clean(usize::MAX);
            });
        }
        dev.run(256);
        wire += dev.take_tx_frames().len();
    }
    ALLOCS.with(Cell::get) - before - setup
}

#[test]
fn no_allocation_per_packet_in_steady_state() {
    let dev = Arc::new(SimDevice::new(SimConfig::default()).expect("verilated card"));
    let mut nic = Nic::open(
        Arc::new(Uncounted(dev.clone())),
        NicConfig {
            rx_queues: 8,
            tx_queues: 8,
            rx_ring_log2: 8,
            tx_ring_log2: 8,
            mode: PollMode::Interrupt,
            promisc: true,
            ..Default::default()
        },
    )
    .expect("bring-up");
    dev.run(4000);
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let frames: Vec<Vec<u8>> = (0..512)
        .map(|_| Ipv4Frame::random(&mut rng, 1300).build())
        .collect();
    // Warm-up: per-queue caches fill, rings wrap.
    traffic(&dev, &mut nic, &frames, 3_000);
    let allocs = traffic(&dev, &mut nic, &frames, 5_000);
    assert_eq!(allocs, 0, "allocations in 5,000 RX + 5,000 TX frames");
    nic.close();
    assert!(dev.faults().is_empty());
}
