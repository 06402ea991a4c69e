//! RX queue: a ring of free buffers posted to the card.
//!
//! The driver writes 16-byte descriptors (buffer IOVA and length) and rings the doorbell
//! (`PROD`) once per batch ([`RxQueue::refill`]). The card fills buffers strictly in ring order
//! and writes one completion per filled buffer into the queue's own completion queue, so the
//! n-th completion on that queue belongs to the n-th posted buffer: [`RxQueue::take`] hands
//! back buffers in that order and the NAPI poller ([`crate::napi`]) checks each completion's
//! index against it.
//!
//! Lifecycle: [`create`](RxQueue::create) → [`enable`](RxQueue::enable) →
//! [`refill`](RxQueue::refill) / [`take`](RxQueue::take) → [`disable`](RxQueue::disable) /
//! [`close`](RxQueue::close). Disabling returns every posted buffer to the pool.

use crate::cq::{create_ring, QueueError, QueueKind};
use crate::device::{Device, DmaPerm};
use crate::iova::{DmaMapping, IovaSpace};
use crate::mempool::{Mempool, PktBuf, PoolCache};
use crate::ring::Ring;
use crate::stats::QueueStats;
use oxnic_abi::desc::RxDesc;
use oxnic_abi::regs::{queue_ctrl, rxq};
use std::sync::Arc;

/// Polls of `STATUS` before a disabled queue is taken as stopped. The card stops within a few
/// cycles; the bound only keeps a dead card from hanging the driver.
pub(crate) const QUIESCE_POLLS: u32 = 10_000;

const RXQ_KIND: QueueKind = QueueKind {
    name: "RX queue",
    reg: rxq::reg,
    base_lo: rxq::entry::BASE_LO,
    size_log2: rxq::entry::SIZE_LOG2,
    binding: rxq::entry::CQ,
    ctrl: rxq::entry::CTRL,
    index: rxq::entry::PROD,
    record: RxDesc::LEN,
    perm: DmaPerm::TO_DEVICE,
};

/// Waits (at most [`QUIESCE_POLLS`] relaxes) until the queue whose STATUS register is at
/// `status` reports bit 0 (active) clear: the card has let go of the ring.
pub(crate) fn wait_inactive(dev: &dyn Device, status: u32) {
    for _ in 0..QUIESCE_POLLS {
        if dev.read32(status) & 1 == 0 {
            break;
        }
        dev.relax();
    }
}

/// One RX queue.
pub struct RxQueue {
    dev: Arc<dyn Device>,
    index: u32,
    ring: Ring,
    mem: DmaMapping,
    slots: Vec<Option<PktBuf>>,
    prod: u16,
    cons: u16,
    cache: PoolCache,
    stats: Arc<QueueStats>,
    enabled: bool,
}

impl std::fmt::Debug for RxQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RxQueue")
            .field("index", &self.index)
            .field("size", &self.ring.size())
            .field("posted", &self.posted())
            .finish()
    }
}

impl RxQueue {
    /// Allocates the descriptor ring of RX queue `index` (of `count`), `2^log2` entries,
    /// reporting to completion queue `cq`, with buffers from `pool`; programs the registers.
    #[allow(clippy::too_many_arguments)]
    pub fn create(
        space: &IovaSpace,
        index: u32,
        count: u32,
        log2: u32,
        card_max_log2: u32,
        cq: u32,
        pool: &Mempool,
        stats: Arc<QueueStats>,
    ) -> Result<Self, QueueError> {
        let (dev, ring, mem) =
            create_ring(space, &RXQ_KIND, index, count, log2, card_max_log2, cq)?;
        Ok(RxQueue {
            dev,
            index,
            ring,
            mem,
            slots: (0..ring.size()).map(|_| None).collect(),
            prod: 0,
            cons: 0,
            cache: pool.cache(),
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

    /// Buffers posted and not yet taken back.
    pub fn posted(&self) -> usize {
        self.ring.used(self.prod, self.cons)
    }

    /// Free buffers held in this queue's cache (not posted, not on the shared list).
    pub fn cached(&self) -> usize {
        self.cache.cached()
    }

    /// Free-running index of the next buffer the card will complete.
    pub fn next_index(&self) -> u16 {
        self.cons
    }

    /// Bytes per buffer.
    pub fn buf_size(&self) -> usize {
        self.cache.pool().buf_size()
    }

    /// Counters.
    pub fn stats(&self) -> &Arc<QueueStats> {
        &self.stats
    }

    /// The device the queue lives on.
    pub fn device(&self) -> &Arc<dyn Device> {
        &self.dev
    }

    /// Starts the queue (the card then takes buffers as they are posted).
    pub fn enable(&mut self) {
        self.dev
            .write32(rxq::reg(self.index, rxq::entry::CTRL), queue_ctrl::ENABLE);
        self.enabled = true;
    }

    /// Posts up to `max` fresh buffers (as many as fit) and rings the doorbell once.
    /// Returns the number posted.
    pub fn refill(&mut self, max: usize) -> usize {
        let want = self.ring.free(self.prod, self.cons).min(max);
        let mut n = 0;
        while n < want {
            let Some(buf) = self.cache.alloc() else {
                QueueStats::add(&self.stats.rx_pool_empty, 1);
                break;
            };
            let slot = self.ring.slot(self.prod);
            let d = RxDesc {
                addr: buf.iova(),
                len: buf.capacity() as u32,
            };
            if self
                .mem
                .region()
                .write(slot * RxDesc::LEN, &d.to_bytes())
                .is_err()
            {
                // Cannot happen (slot < size), but a buffer must never be lost.
                self.cache.recycle(buf);
                break;
            }
            self.slots[slot] = Some(buf);
            self.prod = self.prod.wrapping_add(1);
            n += 1;
        }
        if n > 0 {
            // DmaRegion::write fenced the descriptors before this doorbell.
            self.dev
                .write32(rxq::reg(self.index, rxq::entry::PROD), u32::from(self.prod));
            QueueStats::add(&self.stats.rx_doorbells, 1);
        }
        n
    }

    /// Takes back the next buffer in ring order (the one the next completion is about).
    /// `None` if nothing is posted.
    pub fn take(&mut self) -> Option<PktBuf> {
        if self.prod == self.cons {
            return None;
        }
        let slot = self.ring.slot(self.cons);
        self.cons = self.cons.wrapping_add(1);
        self.slots[slot].take()
    }

    /// Gives a buffer back to this queue's cache (a dropped frame), to be posted again.
    pub fn recycle(&mut self, buf: PktBuf) {
        self.cache.recycle(buf);
    }

    /// Stops the queue, waits for the card to let go of it, and returns every posted buffer.
    pub fn disable(&mut self) {
        let ctrl = rxq::reg(self.index, rxq::entry::CTRL);
        self.dev.write32(ctrl, 0);
        if self.enabled {
            wait_inactive(&*self.dev, rxq::reg(self.index, rxq::entry::STATUS));
        }
        self.enabled = false;
        for s in self.slots.iter_mut() {
            if let Some(b) = s.take() {
                self.cache.recycle(b);
            }
        }
        // The card resets its indices on disable; so do we.
        self.prod = 0;
        self.cons = 0;
    }

    /// Disables the queue and frees its ring; all buffers go back to the pool.
    pub fn close(mut self) {
        self.disable();
    }
}

impl Drop for RxQueue {
    fn drop(&mut self) {
        self.disable();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mock::{MockCard, RxOutcome, MAX_RING_LOG2, QUEUES};
    use crate::Bar;
    use oxnic_abi::desc::Cpl;

    #[test]
    fn refill_posts_in_one_doorbell_and_disable_returns_buffers() {
        let card = Arc::new(MockCard::new());
        let space = card.iova_space();
        let pool = Mempool::new(&space, 2048, 100).unwrap();
        let stats = Arc::new(QueueStats::default());
        let mut q =
            RxQueue::create(&space, 1, QUEUES, 4, MAX_RING_LOG2, 1, &pool, stats.clone()).unwrap();
        q.enable();
        let rung = card.rx_doorbells(1);
        assert_eq!(q.refill(usize::MAX), 16);
        assert_eq!(card.rx_doorbells(1), rung + 1);
        assert_eq!(card.read32(rxq::reg(1, rxq::entry::PROD)), 16);
        assert_eq!(q.refill(usize::MAX), 0, "ring full");
        assert_eq!(card.rx_doorbells(1), rung + 1, "no doorbell for nothing");
        // The card fills the first buffer (its CQ is not enabled: the frame lands, no record).
        assert_eq!(
            card.rx_frame(1, b"frame", &Cpl::default()),
            RxOutcome::Fault
        );
        let mut b = q.take().unwrap();
        b.set_len(5).unwrap();
        let mut v = Vec::new();
        b.copy_to_vec(&mut v).unwrap();
        assert_eq!(v, b"frame");
        assert_eq!(q.posted(), 15);
        q.recycle(b);
        drop(q);
        assert_eq!(pool.available(), 100, "every buffer returned");
        assert_eq!(card.read32(rxq::reg(1, rxq::entry::CTRL)), 0);
    }

    #[test]
    fn refill_stops_when_the_pool_is_dry() {
        let card = Arc::new(MockCard::new());
        let space = card.iova_space();
        let pool = Mempool::new(&space, 2048, 5).unwrap();
        let stats = Arc::new(QueueStats::default());
        let mut q =
            RxQueue::create(&space, 0, QUEUES, 3, MAX_RING_LOG2, 0, &pool, stats.clone()).unwrap();
        assert_eq!(q.refill(usize::MAX), 5);
        assert_eq!(
            stats
                .rx_pool_empty
                .load(std::sync::atomic::Ordering::Relaxed),
            1
        );
        assert!(RxQueue::create(&space, 8, QUEUES, 3, 12, 0, &pool, stats).is_err());
    }
}
