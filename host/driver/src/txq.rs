//! TX queue: frames handed to the card as chains of 32-byte descriptors.
//!
//! A frame is 1 to 8 buffers ([`TxFrame`]); its first descriptor carries the offload requests
//! (checksum start/offset, TSO, VLAN tag) and its last is flagged `LAST`. [`TxQueue::submit`]
//! writes a batch of frames and rings the doorbell once. The card writes one completion per
//! frame, carrying the ring index of the frame's last descriptor, into the queue's own
//! completion queue; [`TxQueue::clean`] reads them in batches and returns the buffers.
//!
//! Completions are validated (the card is untrusted): a record must be a TX completion of this
//! queue whose index ends a frame still in flight. A valid record retires every frame up to
//! and including the one it names (a frame whose own record was lost is retired with it and
//! counted), so one lost or corrupted record never wedges the queue; anything else is dropped
//! and counted, and never frees a buffer the card may still be reading.
//!
//! Lifecycle: [`create`](TxQueue::create) → [`enable`](TxQueue::enable) →
//! [`submit`](TxQueue::submit) / [`clean`](TxQueue::clean) / [`arm`](TxQueue::arm) →
//! [`disable`](TxQueue::disable) / [`close`](TxQueue::close).

use crate::cq::{create_ring, CompletionQueue, Next, QueueError, QueueKind};
use crate::device::{Device, DeviceError, DmaPerm};
use crate::iova::{DmaMapping, IovaSpace};
use crate::mempool::PktBuf;
use crate::ring::Ring;
use crate::rxq::wait_inactive;
use crate::stats::QueueStats;
use oxnic_abi::desc::{cpl_flags, tx_flags, Cpl, CplView, TxDesc};
use oxnic_abi::features::{MAX_SG_SEGS, MAX_TSO_BYTES};
use oxnic_abi::regs::{cq, queue_ctrl, txq};
use std::sync::Arc;
use std::time::Duration;

const TXQ_KIND: QueueKind = QueueKind {
    name: "TX queue",
    reg: txq::reg,
    base_lo: txq::entry::BASE_LO,
    size_log2: txq::entry::SIZE_LOG2,
    binding: txq::entry::CQ,
    ctrl: txq::entry::CTRL,
    index: txq::entry::PROD,
    record: TxDesc::LEN,
    perm: DmaPerm::TO_DEVICE,
};

/// Most segments a frame may have (the contract's limit).
pub const MAX_SEGS: usize = MAX_SG_SEGS as usize;

/// Why a frame could not be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TxFrameError {
    /// A segment is empty.
    #[error("empty TX segment")]
    EmptySegment,
    /// More than [`MAX_SEGS`] segments.
    #[error("a frame has at most {MAX_SEGS} segments")]
    TooManySegments,
    /// The checksum would be stored outside the frame.
    #[error("checksum at {start}+{offset} does not fit a {len}-byte frame")]
    BadCsum {
        /// Start offset.
        start: u16,
        /// Store offset from start.
        offset: u16,
        /// Frame length.
        len: usize,
    },
    /// TSO parameters that cannot describe the frame.
    #[error("TSO with mss {mss}, header {hdr_len} on a {len}-byte frame")]
    BadTso {
        /// Segment payload.
        mss: u16,
        /// Header bytes.
        hdr_len: u16,
        /// Frame length.
        len: usize,
    },
}

/// Offload requests for one frame (what the stack's metadata asks of the card).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TxMeta {
    /// CHECKSUM_PARTIAL: sum from `start` to the end, store at `start + offset`.
    pub csum: Option<(u16, u16)>,
    /// TSO: `(mss, hdr_len)`.
    pub tso: Option<(u16, u16)>,
    /// 802.1Q tag to insert.
    pub vlan: Option<u16>,
}

/// A frame to send: 1..=[`MAX_SEGS`] filled buffers and its offload requests.
#[derive(Debug)]
pub struct TxFrame {
    segs: [Option<PktBuf>; MAX_SEGS],
    n: usize,
    len: usize,
    meta: TxMeta,
}

impl TxFrame {
    /// A frame of one buffer (its fill length is the segment length).
    pub fn new(buf: PktBuf) -> Result<Self, TxFrameError> {
        let mut f = TxFrame {
            segs: Default::default(),
            n: 0,
            len: 0,
            meta: TxMeta::default(),
        };
        f.push(buf)?;
        Ok(f)
    }

    /// Appends a segment.
    pub fn push(&mut self, buf: PktBuf) -> Result<(), TxFrameError> {
        if buf.is_empty() {
            return Err(TxFrameError::EmptySegment);
        }
        if self.n == MAX_SEGS {
            return Err(TxFrameError::TooManySegments);
        }
        self.len += buf.len();
        self.segs[self.n] = Some(buf);
        self.n += 1;
        Ok(())
    }

    /// Applies the stack's offload requests, checking they fit the frame.
    pub fn with_meta(mut self, meta: TxMeta) -> Result<Self, TxFrameError> {
        if let Some((start, offset)) = meta.csum {
            let end = usize::from(start) + usize::from(offset) + 2;
            if end > self.len {
                return Err(TxFrameError::BadCsum {
                    start,
                    offset,
                    len: self.len,
                });
            }
        }
        if let Some((mss, hdr_len)) = meta.tso {
            if mss == 0 || usize::from(hdr_len) >= self.len || self.len > MAX_TSO_BYTES as usize {
                return Err(TxFrameError::BadTso {
                    mss,
                    hdr_len,
                    len: self.len,
                });
            }
        }
        self.meta = meta;
        Ok(self)
    }

    /// Bytes in the frame.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Never true: a frame has at least one non-empty segment.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Segments (descriptors) it needs.
    pub fn segments(&self) -> usize {
        self.n
    }

    /// The offload requests.
    pub fn meta(&self) -> &TxMeta {
        &self.meta
    }
}

struct Slot {
    buf: Option<PktBuf>,
    last: bool,
}

/// One TX queue with its completion queue.
pub struct TxQueue {
    dev: Arc<dyn Device>,
    index: u32,
    ring: Ring,
    mem: DmaMapping,
    slots: Vec<Slot>,
    prod: u16,
    clean: u16,
    cq: CompletionQueue,
    max_segs: usize,
    stats: Arc<QueueStats>,
    enabled: bool,
}

impl std::fmt::Debug for TxQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TxQueue")
            .field("index", &self.index)
            .field("size", &self.ring.size())
            .field("in_flight", &self.in_flight())
            .field("cq", &self.cq)
            .finish()
    }
}

impl TxQueue {
    /// Allocates the descriptor ring of TX queue `index` (of `count`), `2^log2` entries,
    /// reporting to `cq`, and programs the registers. `max_segs` is the card's `MAX_SG_SEGS`.
    #[allow(clippy::too_many_arguments)]
    pub fn create(
        space: &IovaSpace,
        index: u32,
        count: u32,
        log2: u32,
        card_max_log2: u32,
        max_segs: u32,
        cq: CompletionQueue,
        stats: Arc<QueueStats>,
    ) -> Result<Self, QueueError> {
        let (dev, ring, mem) = create_ring(
            space,
            &TXQ_KIND,
            index,
            count,
            log2,
            card_max_log2,
            cq.index(),
        )?;
        Ok(TxQueue {
            dev,
            index,
            ring,
            mem,
            slots: (0..ring.size())
                .map(|_| Slot {
                    buf: None,
                    last: false,
                })
                .collect(),
            prod: 0,
            clean: 0,
            cq,
            max_segs: (max_segs as usize).clamp(1, MAX_SEGS),
            stats,
            enabled: false,
        })
    }

    /// The card's number for this queue.
    pub fn index(&self) -> u32 {
        self.index
    }

    /// Ring geometry.
    pub fn ring(&self) -> Ring {
        self.ring
    }

    /// Descriptors handed to the card and not yet cleaned.
    pub fn in_flight(&self) -> usize {
        self.ring.used(self.prod, self.clean)
    }

    /// Free descriptors.
    pub fn free(&self) -> usize {
        self.ring.free(self.prod, self.clean)
    }

    /// The completion queue.
    pub fn cq(&self) -> &CompletionQueue {
        &self.cq
    }

    /// Counters.
    pub fn stats(&self) -> &Arc<QueueStats> {
        &self.stats
    }

    /// Starts the queue and its completion queue.
    pub fn enable(&mut self) {
        self.cq.enable();
        self.dev
            .write32(txq::reg(self.index, txq::entry::CTRL), queue_ctrl::ENABLE);
        self.enabled = true;
    }

    /// Asks for an interrupt on the next TX completion (to wait for ring space).
    pub fn arm(&mut self) {
        self.cq.arm();
    }

    /// Writes as many frames from the front of `frames` as fit, rings the doorbell once, and
    /// removes them from `frames`. Frames with more segments than the card takes are dropped
    /// (their buffers return to the pool) and counted as errors. Returns the frames queued.
    pub fn submit(&mut self, frames: &mut Vec<TxFrame>) -> usize {
        let mut free = self.free();
        let mut taken = 0;
        let mut queued = 0;
        for f in frames.iter_mut() {
            if f.n > self.max_segs {
                QueueStats::add(&self.stats.tx_errors, 1);
                for s in f.segs.iter_mut() {
                    s.take();
                }
                taken += 1;
                continue;
            }
            if f.n > free {
                QueueStats::add(&self.stats.tx_ring_full, 1);
                break;
            }
            free -= f.n;
            let len = f.len;
            let meta = f.meta;
            for (k, seg) in f.segs.iter_mut().take(f.n).enumerate() {
                let Some(buf) = seg.take() else { continue };
                let mut flags = 0;
                let mut d = TxDesc {
                    addr: buf.iova(),
                    len: buf.len() as u32,
                    ..Default::default()
                };
                if k == 0 {
                    flags |= tx_flags::FIRST;
                    if let Some((start, offset)) = meta.csum {
                        flags |= tx_flags::CSUM;
                        d.csum_start = start;
                        d.csum_offset = offset;
                    }
                    if let Some((mss, hdr_len)) = meta.tso {
                        flags |= tx_flags::TSO;
                        d.mss = mss;
                        d.hdr_len = hdr_len;
                    }
                    if let Some(tci) = meta.vlan {
                        flags |= tx_flags::VLAN;
                        d.vlan_tci = tci;
                    }
                }
                let last = k + 1 == f.n;
                if last {
                    flags |= tx_flags::LAST;
                }
                d.flags = flags;
                let slot = self.ring.slot(self.prod);
                // slot < size by construction, so the write cannot fail; the buffer is kept in
                // the slot either way so it is returned on teardown.
                let _ = self.mem.region().write(slot * TxDesc::LEN, &d.to_bytes());
                self.slots[slot] = Slot {
                    buf: Some(buf),
                    last,
                };
                self.prod = self.prod.wrapping_add(1);
            }
            QueueStats::add(&self.stats.tx_packets, 1);
            QueueStats::add(&self.stats.tx_bytes, len as u64);
            taken += 1;
            queued += 1;
        }
        // Draining a prefix shifts the rest down without allocating.
        frames.drain(..taken);
        if queued > 0 {
            self.dev
                .write32(txq::reg(self.index, txq::entry::PROD), u32::from(self.prod));
            QueueStats::add(&self.stats.tx_doorbells, 1);
        }
        queued
    }

    /// The queue as the driver and the card see it, for a stall report: the driver's producer
    /// and clean indices, the card's consumer index, and the completion queue's indices and
    /// status on both sides (register reads; not for the hot path).
    pub fn diagnose(&self) -> String {
        let cq = self.cq.index();
        let card = |r| self.dev.read32(r) & 0xffff;
        format!(
            "txq{}: prod {} clean {} in flight {} | card cons {} | cq{cq}: driver cons {} card prod {} status {:#x} new record {}",
            self.index,
            self.prod,
            self.clean,
            self.in_flight(),
            card(txq::reg(self.index, txq::entry::CONS)),
            self.cq.cons(),
            card(cq::reg(cq, cq::entry::PROD)),
            self.dev.read32(cq::reg(cq, cq::entry::STATUS)),
            self.cq.has_work(),
        )
    }

    /// Reads up to `budget` completions, returns the buffers of finished frames to their pool,
    /// and tells the card how far it got. Returns the frames retired.
    pub fn clean(&mut self, budget: usize) -> usize {
        let mut retired = 0;
        for _ in 0..budget {
            let rec = match self.cq.poll() {
                Next::Empty => break,
                Next::Stale => {
                    QueueStats::add(&self.stats.tx_cpl_bad, 1);
                    continue;
                }
                Next::Record(r) => r,
            };
            let Some(c) = CplView::new_checked(&rec[..])
                .ok()
                .and_then(|v| Cpl::parse(&v).ok())
            else {
                QueueStats::add(&self.stats.tx_cpl_bad, 1);
                continue;
            };
            if c.flags & cpl_flags::TX == 0 || u32::from(c.queue) != self.index {
                QueueStats::add(&self.stats.tx_cpl_bad, 1);
                continue;
            }
            let Some(upto) = self.frame_end(c.index) else {
                QueueStats::add(&self.stats.tx_cpl_bad, 1);
                continue;
            };
            if c.flags & cpl_flags::ERROR != 0 {
                QueueStats::add(&self.stats.tx_errors, 1);
            }
            let frames = self.retire(upto);
            retired += frames;
            if frames > 1 {
                QueueStats::add(&self.stats.tx_cpl_skipped, frames as u64 - 1);
            }
        }
        self.cq.commit();
        retired
    }

    /// The free-running index of the in-flight descriptor that `index` names, if it ends a frame.
    fn frame_end(&self, index: u16) -> Option<u16> {
        let n = self.in_flight();
        let d = usize::from(index.wrapping_sub(self.clean));
        let i = if d < n {
            index
        } else {
            // The card may report the slot rather than the free-running index.
            if usize::from(index) >= self.ring.size() {
                return None;
            }
            let d = (usize::from(index)).wrapping_sub(self.ring.slot(self.clean))
                & (self.ring.size() - 1);
            if d >= n {
                return None;
            }
            self.clean.wrapping_add(d as u16)
        };
        self.slots[self.ring.slot(i)].last.then_some(i)
    }

    /// Makes room for `need` descriptors: cleans, and while there is still too little room,
    /// arms the completion queue and sleeps on its vector (up to `timeout` of device time in
    /// all) before cleaning again. Returns the free descriptors (possibly still fewer than
    /// `need` when the time ran out). Use it from the thread that owns the vector.
    pub fn reclaim(&mut self, need: usize, timeout: Duration) -> Result<usize, DeviceError> {
        let need = need.min(self.ring.size());
        let deadline = self.dev.now_ns().saturating_add(timeout.as_nanos() as u64);
        loop {
            self.clean(self.ring.size());
            if self.free() >= need {
                return Ok(self.free());
            }
            self.cq.arm();
            if self.cq.has_work() {
                continue;
            }
            let now = self.dev.now_ns();
            if now >= deadline {
                return Ok(self.free());
            }
            let vector = self.cq.vector();
            if vector < 64 {
                self.dev
                    .irq_wait(1 << vector, Duration::from_nanos(deadline - now))?;
            } else {
                self.dev.relax();
            }
        }
    }

    /// Frees descriptors `clean..=upto`; returns the frames among them.
    fn retire(&mut self, upto: u16) -> usize {
        let mut frames = 0;
        loop {
            let i = self.clean;
            let slot = &mut self.slots[self.ring.slot(i)];
            slot.buf.take();
            if slot.last {
                frames += 1;
            }
            slot.last = false;
            self.clean = i.wrapping_add(1);
            if i == upto {
                return frames;
            }
        }
    }

    /// Stops the queue, waits for the card to let go, and returns every in-flight buffer.
    pub fn disable(&mut self) {
        self.dev.write32(txq::reg(self.index, txq::entry::CTRL), 0);
        if self.enabled {
            wait_inactive(&*self.dev, txq::reg(self.index, txq::entry::STATUS));
        }
        self.enabled = false;
        self.cq.disable();
        for s in self.slots.iter_mut() {
            s.buf.take();
            s.last = false;
        }
        self.prod = 0;
        self.clean = 0;
    }

    /// Disables the queue and frees its rings; all buffers go back to their pool.
    pub fn close(mut self) {
        self.disable();
    }
}

impl Drop for TxQueue {
    fn drop(&mut self) {
        self.disable();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mempool::Mempool;
    use crate::mock::{MockCard, CQS, MAX_RING_LOG2, QUEUES};
    use crate::Bar;
    use oxnic_abi::regs::cq;

    struct Setup {
        card: Arc<MockCard>,
        pool: Mempool,
        q: TxQueue,
    }

    fn setup(log2: u32) -> Setup {
        let card = Arc::new(MockCard::new());
        let space = card.iova_space();
        let pool = Mempool::new(&space, 2048, 256).unwrap();
        let cq = CompletionQueue::create(&space, 9, CQS, log2, MAX_RING_LOG2, 1).unwrap();
        let mut q = TxQueue::create(
            &space,
            1,
            QUEUES,
            log2,
            MAX_RING_LOG2,
            8,
            cq,
            Arc::new(QueueStats::default()),
        )
        .unwrap();
        q.enable();
        Setup { card, pool, q }
    }

    fn frame(pool: &Mempool, parts: &[&[u8]]) -> TxFrame {
        let mut bufs = parts.iter().map(|p| {
            let mut b = pool.alloc().unwrap();
            b.fill_from(p).unwrap();
            b
        });
        let mut f = TxFrame::new(bufs.next().unwrap()).unwrap();
        for b in bufs {
            f.push(b).unwrap();
        }
        f
    }

    #[test]
    fn batch_submit_one_doorbell_and_clean_returns_buffers() {
        let Setup { card, pool, mut q } = setup(5);
        let csum = TxMeta {
            csum: Some((2, 4)),
            tso: None,
            vlan: Some(7),
        };
        let mut frames = vec![
            frame(&pool, &[b"abc", b"defg"]),
            frame(&pool, &[b"0123456789"]).with_meta(csum).unwrap(),
            frame(&pool, &[b"x", b"y", b"z"]),
        ];
        let rung = card.tx_doorbells(1);
        assert_eq!(q.submit(&mut frames), 3);
        assert!(frames.is_empty());
        assert_eq!(card.tx_doorbells(1), rung + 1);
        assert_eq!(q.in_flight(), 6);
        let mut sent = Vec::new();
        assert_eq!(
            card.tx_process(1, 10, &mut |b, d| sent.push((b.to_vec(), *d))),
            3
        );
        assert_eq!(sent[0].0, b"abcdefg");
        assert_eq!(sent[1].0, b"0123456789");
        assert_eq!(
            sent[1].1.flags,
            tx_flags::FIRST | tx_flags::LAST | tx_flags::CSUM | tx_flags::VLAN
        );
        assert_eq!(
            (
                sent[1].1.csum_start,
                sent[1].1.csum_offset,
                sent[1].1.vlan_tci
            ),
            (2, 4, 7)
        );
        assert_eq!(sent[2].0, b"xyz");
        assert_eq!(pool.available(), 256 - 6, "6 buffers in flight");
        assert_eq!(q.clean(64), 3);
        assert_eq!(q.in_flight(), 0);
        assert_eq!(pool.available(), 256, "cleaning returned them");
        assert_eq!(card.read32(cq::reg(9, cq::entry::CONS)), 3);
    }

    #[test]
    fn ring_full_keeps_the_rest_and_wraps() {
        let Setup { card, pool, mut q } = setup(3);
        for round in 0..20u8 {
            let mut frames: Vec<TxFrame> =
                (0..5).map(|i| frame(&pool, &[&[round, i], &[9]])).collect();
            assert_eq!(
                q.submit(&mut frames),
                4,
                "8 descriptors hold 4 two-segment frames"
            );
            assert_eq!(frames.len(), 1);
            let mut got = Vec::new();
            card.tx_process(1, 10, &mut |b, _| got.push(b.to_vec()));
            assert_eq!(got, (0..4).map(|i| vec![round, i, 9]).collect::<Vec<_>>());
            assert_eq!(q.clean(64), 4);
        }
        assert!(
            q.stats()
                .tx_ring_full
                .load(std::sync::atomic::Ordering::Relaxed)
                >= 20
        );
        drop(q);
        assert_eq!(pool.available(), 256);
    }

    #[test]
    fn bad_completions_are_dropped_and_lost_ones_caught_up() {
        let Setup { card, pool, mut q } = setup(4);
        let mut frames: Vec<TxFrame> = (0..3).map(|i| frame(&pool, &[&[i], &[i]])).collect();
        q.submit(&mut frames);
        let base = card.read32(cq::reg(9, cq::entry::BASE_LO)) as u64
            | (card.read32(cq::reg(9, cq::entry::BASE_HI)) as u64) << 32;
        let put = |slot: u64, c: Cpl| assert!(card.dma_write(base + slot * 32, &c.to_bytes()));
        let tx = |index: u16, queue: u16| Cpl {
            index,
            queue,
            flags: cpl_flags::TX,
            phase: true,
            ..Default::default()
        };
        put(0, tx(0, 1)); // names a descriptor that does not end a frame
        put(1, tx(1, 2)); // wrong queue
        put(
            2,
            Cpl {
                flags: 0,
                ..tx(1, 1)
            },
        ); // an RX completion
        put(3, tx(9, 1)); // not in flight
        put(4, tx(3, 1)); // valid: frame 1 (and frame 0, whose record was "lost")
        assert_eq!(q.clean(64), 2);
        let st = q.stats().clone();
        use std::sync::atomic::Ordering::Relaxed;
        assert_eq!(st.tx_cpl_bad.load(Relaxed), 4);
        assert_eq!(st.tx_cpl_skipped.load(Relaxed), 1);
        assert_eq!(q.in_flight(), 2);
        put(5, tx(5, 1)); // slot form == free-running form here
        assert_eq!(q.clean(64), 1);
        assert_eq!(q.in_flight(), 0);
        assert_eq!(pool.available(), 256);
    }

    #[test]
    fn reclaim_sleeps_on_the_tx_vector_until_completions_free_room() {
        let Setup { card, pool, mut q } = setup(3);
        card.irq_enable(1).unwrap();
        let mut frames: Vec<TxFrame> = (0..4).map(|i| frame(&pool, &[&[i], &[i]])).collect();
        assert_eq!(q.submit(&mut frames), 4);
        assert_eq!(q.free(), 0);
        let t = card.now_ns();
        assert_eq!(
            q.reclaim(2, Duration::from_micros(50)).unwrap(),
            0,
            "timed out"
        );
        assert!(card.now_ns() - t >= 50_000);
        // The queue is armed now: the card's next completion raises the vector.
        assert_eq!(card.read32(cq::reg(9, cq::entry::CTRL)), 3);
        card.tx_process(1, 1, &mut |_, _| {});
        assert_eq!(card.pending_irqs(), 1 << 1);
        assert_eq!(q.reclaim(2, Duration::from_micros(50)).unwrap(), 2);
        card.tx_process(1, 10, &mut |_, _| {});
        assert_eq!(q.reclaim(8, Duration::from_micros(50)).unwrap(), 8);
        assert_eq!(pool.available(), 256);
    }

    #[test]
    fn frame_building_is_validated() {
        let Setup { pool, .. } = setup(3);
        let empty = pool.alloc().unwrap();
        assert_eq!(TxFrame::new(empty).unwrap_err(), TxFrameError::EmptySegment);
        let mut f = frame(&pool, &[&b"a"[..]; 8]);
        let mut b = pool.alloc().unwrap();
        b.fill_from(b"z").unwrap();
        assert_eq!(f.push(b), Err(TxFrameError::TooManySegments));
        assert_eq!(f.len(), 8);
        let f = frame(&pool, &[&[0u8; 40]]);
        assert!(matches!(
            f.with_meta(TxMeta {
                csum: Some((34, 6)),
                ..Default::default()
            }),
            Err(TxFrameError::BadCsum { .. })
        ));
        let f = frame(&pool, &[&[0u8; 40]]);
        assert!(f
            .with_meta(TxMeta {
                csum: Some((34, 4)),
                ..Default::default()
            })
            .is_ok());
        let f = frame(&pool, &[&[0u8; 40]]);
        assert!(f
            .with_meta(TxMeta {
                tso: Some((0, 20)),
                ..Default::default()
            })
            .is_err());
    }
}
