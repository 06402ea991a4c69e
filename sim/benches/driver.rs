//! Host CPU cost of the driver per packet, apart from the simulator's, and the co-sim rate.
//!
//! The driver runs against the verilated card through a [`Timed`] wrapper that measures the
//! wall time spent inside every device call (BAR reads and writes, `irq_wait`, `relax`): in
//! co-simulation those calls are where the card's cycles are simulated. The driver's own CPU
//! time per packet is the wall time of its calls (`poll_round`, `submit`, `clean`) minus the
//! time inside the device during them; the register accesses are counted too, since on a
//! board each costs PCIe time rather than simulation time (a posted write ~100 ns of CPU,
//! a read a ~1 µs round trip). Frame generation, the wire and the checks are outside both.
//!
//! `cargo bench -p oxnic-sim --bench driver` (plain main: prints its figures). Pass
//! `--frames N` to change the frames per direction (default 20,000).

use oxnic_driver::napi::{PollMode, RxMeta};
use oxnic_driver::nic::{Nic, NicConfig};
use oxnic_driver::txq::TxFrame;
use oxnic_driver::{Bar, Device, DeviceError, DmaPerm, DmaRegion, PktBuf};
use oxnic_hdl::frame_gen::Ipv4Frame;
use oxnic_sim::{SimConfig, SimDevice};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// `SimDevice` with the wall time spent inside it, and its register accesses, counted.
struct Timed {
    dev: Arc<SimDevice>,
    ns: AtomicU64,
    reads: AtomicU64,
    writes: AtomicU64,
}

impl Timed {
    fn time<R>(&self, f: impl FnOnce(&SimDevice) -> R) -> R {
        let t = Instant::now();
        let r = f(&self.dev);
        self.ns.fetch_add(t.elapsed().as_nanos() as u64, Relaxed);
        r
    }

    fn snapshot(&self) -> (u64, u64, u64) {
        (
            self.ns.load(Relaxed),
            self.reads.load(Relaxed),
            self.writes.load(Relaxed),
        )
    }
}

impl Bar for Timed {
    fn size(&self) -> u32 {
        self.dev.size()
    }
    fn read32(&self, offset: u32) -> u32 {
        self.reads.fetch_add(1, Relaxed);
        self.time(|d| d.read32(offset))
    }
    fn write32(&self, offset: u32, value: u32) {
        self.writes.fetch_add(1, Relaxed);
        self.time(|d| d.write32(offset, value))
    }
}

impl Device for Timed {
    fn dma_map(&self, r: &Arc<DmaRegion>, iova: u64, p: DmaPerm) -> Result<(), DeviceError> {
        self.time(|d| d.dma_map(r, iova, p))
    }
    fn dma_unmap(&self, iova: u64) -> Result<(), DeviceError> {
        self.time(|d| d.dma_unmap(iova))
    }
    fn num_vectors(&self) -> u32 {
        self.dev.num_vectors()
    }
    fn irq_enable(&self, vector: u32) -> Result<(), DeviceError> {
        self.dev.irq_enable(vector)
    }
    fn irq_wait(&self, mask: u64, timeout: Duration) -> Result<u64, DeviceError> {
        self.time(|d| d.irq_wait(mask, timeout))
    }
    fn relax(&self) {
        self.time(|d| d.relax())
    }
    fn now_ns(&self) -> u64 {
        self.dev.now_ns()
    }
}

/// Wall time inside driver calls, of which inside the device, and register accesses.
#[derive(Default)]
struct Split {
    calls_ns: u64,
    dev_ns: u64,
    reads: u64,
    writes: u64,
}

impl Split {
    fn measure<R>(&mut self, t: &Timed, f: impl FnOnce() -> R) -> R {
        let (d0, r0, w0) = t.snapshot();
        let start = Instant::now();
        let r = f();
        self.calls_ns += start.elapsed().as_nanos() as u64;
        let (d1, r1, w1) = t.snapshot();
        self.dev_ns += d1 - d0;
        self.reads += r1 - r0;
        self.writes += w1 - w0;
        r
    }

    fn report(&self, what: &str, n: usize, wall: Duration, cycles: u64) {
        let n = n as f64;
        let drv = self.calls_ns.saturating_sub(self.dev_ns) as f64 / n;
        println!(
            "{what}: driver CPU {drv:.0} ns/pkt (excluding {:.0} ns/pkt simulating the card \
             inside its device calls); {:.3} MMIO reads + {:.3} writes per pkt; co-sim {:.0} \
             pkt/s wall, {:.2} M cycles/s, {:.0} cycles/pkt",
            self.dev_ns as f64 / n,
            self.reads as f64 / n,
            self.writes as f64 / n,
            n / wall.as_secs_f64(),
            cycles as f64 / wall.as_secs_f64() / 1e6,
            cycles as f64 / n,
        );
    }
}

fn main() {
    let mut frames = 20_000usize;
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--frames") {
        frames = args
            .get(i + 1)
            .and_then(|v| v.parse().ok())
            .unwrap_or(frames);
    }
    let dev = Arc::new(SimDevice::new(SimConfig::default()).expect("verilated card"));
    let timed = Arc::new(Timed {
        dev: dev.clone(),
        ns: AtomicU64::new(0),
        reads: AtomicU64::new(0),
        writes: AtomicU64::new(0),
    });
    let mut nic = Nic::open(
        timed.clone(),
        NicConfig {
            rx_queues: 8,
            tx_queues: 8,
            rx_ring_log2: 9,
            tx_ring_log2: 9,
            mode: PollMode::BusyPoll,
            promisc: true,
            ..Default::default()
        },
    )
    .expect("bring-up");
    dev.run(4000);
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let rx_frames: Vec<Vec<u8>> = (0..frames)
        .map(|_| Ipv4Frame::random(&mut rng, 1300).build())
        .collect();
    let tx_frames: Vec<Vec<u8>> = (0..frames)
        .map(|_| Ipv4Frame::random(&mut rng, 1300).build())
        .collect();

    // RX: the wire kept a few frames ahead; the sink drops each buffer (straight back to the
    // pool), as a stack that has consumed it would.
    let mut group = nic.napi_group();
    let mut split = Split::default();
    let mut got = 0usize;
    let mut sent = 0usize;
    let c0 = dev.cycle();
    let t0 = Instant::now();
    while got < frames {
        while sent < frames && dev.rx_backlog() < 24 {
            dev.send_frame(&rx_frames[sent]);
            sent += 1;
        }
        let mut sink = |b: PktBuf, _m: &RxMeta| {
            std::hint::black_box(b.len());
        };
        let n = split.measure(&timed, || group.poll_round(&mut sink));
        got += n;
        if n == 0 {
            dev.run(64);
        }
    }
    split.report("RX", frames, t0.elapsed(), dev.cycle() - c0);
    nic.put_group(group);

    // TX: batches of 32 per queue, one segment each; cleaned every round.
    let pool = nic.pool().clone();
    let mut split = Split::default();
    let mut build_ns = 0u64;
    let mut sent = 0usize;
    let mut on_wire = 0usize;
    let mut batch = Vec::with_capacity(32);
    let c0 = dev.cycle();
    let t0 = Instant::now();
    while on_wire < frames {
        for q in 0..8 {
            let txq = nic.tx(q).expect("queue");
            let room = split.measure(&timed, || {
                txq.clean(usize::MAX);
                txq.free()
            });
            // Build only what the ring takes, so each frame is built once.
            let tb = Instant::now();
            while sent < frames && batch.len() < room.min(32) {
                let mut b = pool.alloc().expect("TX buffer");
                b.fill_from(&tx_frames[sent]).expect("fits");
                batch.push(TxFrame::new(b).expect("non-empty"));
                sent += 1;
            }
            build_ns += tb.elapsed().as_nanos() as u64;
            let want = batch.len();
            let took = split.measure(&timed, || txq.submit(&mut batch));
            assert_eq!(took, want, "the ring had room for the batch");
        }
        dev.run(256);
        on_wire += dev.take_tx_frames().len();
    }
    split.report("TX", frames, t0.elapsed(), dev.cycle() - c0);
    println!(
        "TX frame building (pool alloc + copy into the buffer, the stack's side): {:.0} ns/pkt",
        build_ns as f64 / frames as f64
    );
    nic.close();
}
