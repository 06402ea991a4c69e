//! NAPI-style receive polling. Seed stage: "completion ring (phase bit) → NAPI poll with a
//! budget, interrupt re-armed only when under budget, busy-poll when busy".
//!
//! An [`RxPoller`] owns one RX queue and its completion queue. [`RxPoller::poll`] walks the
//! completion ring by phase bit, validates every record, hands each good frame to an
//! [`RxSink`] with its metadata, reposts buffers in batches of [`REFILL_BATCH`] (one doorbell
//! per batch), writes the completion queue's `CONS` once, and re-arms the interrupt only when
//! it did less than its budget — exactly Linux's `napi_complete_done` contract.
//!
//! # The device is untrusted
//! The card fills buffers in ring order and writes one completion per buffer, in order, so the
//! n-th record on the queue's completion ring is about the n-th posted buffer whatever it says.
//! Each record is checked: parseable (no undefined codes or flags, not a TX record), the queue
//! number is this queue, the index names the next expected buffer, and the length is 1..=buffer
//! size. A record that fails is dropped and counted in [`QueueStats`] by reason, and the buffer
//! it stood for is reposted; a record with a stale phase bit that a newer record follows
//! ([`crate::cq::Next::Stale`]) is handled the same way. Nothing the card writes can make the
//! driver touch memory outside the buffer it posted, or panic.
//!
//! # Budgets and fairness
//! [`NapiGroup`] polls several queues from one thread like `net_rx_action`: each queue gets at
//! most its weight ([`DEFAULT_WEIGHT`], 64) per round and the round at most
//! [`NETDEV_BUDGET`] (300) in total; the next round starts after the last queue polled, so a
//! busy queue cannot starve the ones behind it.
//!
//! # Interrupts, busy polling and the adaptive switch
//! [`PollMode::Interrupt`]: re-arm when under budget, sleep in [`NapiGroup::run`] until a vector
//! fires. [`PollMode::BusyPoll`]: never arm; poll continuously. [`PollMode::Adaptive`] (the
//! rule): a queue switches to busy polling after [`Adaptive::busy_after`] consecutive polls
//! that used their whole budget (under that load an interrupt would fire at once after every
//! re-arm, so the interrupt only adds latency and MMIO), and back to interrupts after it has
//! found nothing for [`Adaptive::idle_ns`] of device time (so an idle queue stops burning a core).
//!
//! Every poll tops the RX ring up. A ring that ran dry because the stack held every buffer
//! raises no interrupt, so [`NapiGroup::run`]'s timeout also bounds how long such a ring waits
//! for its refill once buffers come back.

use crate::cq::{CompletionQueue, Next, QueueError};
use crate::device::{Device, DeviceError};
use crate::mempool::PktBuf;
use crate::rxq::RxQueue;
use crate::stats::QueueStats;
use oxnic_abi::desc::{cpl_flags, Cpl, CplView, CsumStatus, HashType};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

/// Frames one queue may process per poll (Linux's NAPI weight).
pub const DEFAULT_WEIGHT: usize = 64;
/// Frames all queues of a group may process per round (Linux's `netdev_budget`).
pub const NETDEV_BUDGET: usize = 300;
/// Buffers consumed between two refills (one doorbell each).
pub const REFILL_BATCH: usize = 32;

/// Metadata of one received frame, from its (validated) completion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RxMeta {
    /// RX queue it arrived on.
    pub queue: u16,
    /// Frame length in bytes (the buffer's fill length).
    pub len: u32,
    /// RSS hash.
    pub rss_hash: u32,
    /// Which tuple the hash covers.
    pub hash_type: HashType,
    /// IPv4 header checksum status.
    pub ip_csum: CsumStatus,
    /// TCP/UDP checksum status.
    pub l4_csum: CsumStatus,
    /// CHECKSUM_COMPLETE sum over the bytes after the Ethernet header, when computed.
    pub csum_complete: Option<u16>,
    /// 802.1Q tag, when the frame had one.
    pub vlan: Option<u16>,
    /// Completion flags (`oxnic_abi::desc::cpl_flags`: IPV4, TCP, UDP, FRAGMENT, VLAN).
    pub flags: u16,
    /// Segments coalesced by hardware GRO (1 when none).
    pub gro_segs: u16,
    /// Card cycle counter when the completion was written.
    pub timestamp: u64,
}

/// Where received frames go: the stack's receive entry (or a test's collector).
pub trait RxSink {
    /// Takes one frame; dropping `buf` returns it to the pool.
    fn receive(&mut self, buf: PktBuf, meta: &RxMeta);
}

impl<F: FnMut(PktBuf, &RxMeta)> RxSink for F {
    fn receive(&mut self, buf: PktBuf, meta: &RxMeta) {
        self(buf, meta)
    }
}

/// The adaptive rule's thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Adaptive {
    /// Consecutive full-budget polls that switch a queue to busy polling.
    pub busy_after: u32,
    /// Device time without a frame that switches a busy queue back to interrupts.
    pub idle_ns: u64,
}

impl Default for Adaptive {
    fn default() -> Self {
        Adaptive {
            busy_after: 2,
            idle_ns: 50_000,
        }
    }
}

/// How a queue waits for work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PollMode {
    /// Re-arm when under budget and sleep until the vector fires.
    #[default]
    Interrupt,
    /// Never arm; poll continuously.
    BusyPoll,
    /// Switch between the two by load (see the module docs).
    Adaptive(Adaptive),
}

/// NAPI instance of one RX queue.
pub struct RxPoller {
    rxq: RxQueue,
    cq: CompletionQueue,
    dev: Arc<dyn Device>,
    stats: Arc<QueueStats>,
    mode: PollMode,
    busy: bool,
    armed: bool,
    repoll: bool,
    full_streak: u32,
    last_work_ns: u64,
}

impl std::fmt::Debug for RxPoller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RxPoller")
            .field("rxq", &self.rxq)
            .field("cq", &self.cq)
            .field("mode", &self.mode)
            .field("busy", &self.busy)
            .field("armed", &self.armed)
            .finish()
    }
}

impl RxPoller {
    /// Joins an RX queue and the completion queue it reports to. The completion ring must be
    /// at least as large as the RX ring (every buffer may complete before the driver polls).
    pub fn new(rxq: RxQueue, cq: CompletionQueue, mode: PollMode) -> Result<Self, QueueError> {
        if cq.ring().log2() < rxq.ring().log2() {
            return Err(QueueError::CqTooSmall {
                cq: cq.ring().log2(),
                ring: rxq.ring().log2(),
            });
        }
        let stats = rxq.stats().clone();
        let dev = rxq.device().clone();
        Ok(RxPoller {
            rxq,
            cq,
            dev,
            stats,
            mode,
            busy: matches!(mode, PollMode::BusyPoll),
            armed: false,
            repoll: false,
            full_streak: 0,
            last_work_ns: 0,
        })
    }

    /// Starts the queue: completion queue on, RX queue on, ring filled, interrupt armed (in
    /// interrupt and adaptive modes).
    pub fn enable(&mut self) {
        self.cq.enable();
        self.rxq.enable();
        self.rxq.refill(usize::MAX);
        self.last_work_ns = self.dev.now_ns();
        if !self.busy {
            self.rearm();
        }
    }

    /// The RX queue.
    pub fn rxq(&self) -> &RxQueue {
        &self.rxq
    }

    /// The completion queue.
    pub fn cq(&self) -> &CompletionQueue {
        &self.cq
    }

    /// The vector this queue's completions raise.
    pub fn vector(&self) -> u32 {
        self.cq.vector()
    }

    /// Counters.
    pub fn stats(&self) -> &Arc<QueueStats> {
        &self.stats
    }

    /// The configured mode.
    pub fn mode(&self) -> PollMode {
        self.mode
    }

    /// Changes the mode (takes effect at the next poll).
    pub fn set_mode(&mut self, mode: PollMode) {
        self.mode = mode;
        self.busy = matches!(mode, PollMode::BusyPoll);
        self.full_streak = 0;
        if !self.busy && !self.armed {
            self.repoll = true;
        }
    }

    /// True while the queue is busy polling (never armed).
    pub fn is_busy_polling(&self) -> bool {
        self.busy
    }

    /// True if the interrupt is armed (the poller may sleep).
    pub fn is_armed(&self) -> bool {
        self.armed
    }

    /// True if the poller should be polled again without waiting for an interrupt: busy
    /// polling, budget used up last time, or a frame raced the re-arm.
    pub fn wants_poll(&self) -> bool {
        self.busy || self.repoll || !self.armed
    }

    fn rearm(&mut self) {
        self.cq.arm();
        self.armed = true;
        QueueStats::add(&self.stats.irq_rearms, 1);
        // A record written between the last look and the arm raised nothing: look again.
        if self.cq.has_work() {
            self.repoll = true;
        }
    }

    /// Processes at most `budget` completions, handing good frames to `sink`. Returns the
    /// number of completions processed (good and dropped).
    pub fn poll(&mut self, budget: usize, sink: &mut dyn RxSink) -> usize {
        QueueStats::add(&self.stats.napi_polls, 1);
        self.repoll = false;
        let mut work = 0;
        let mut since_refill = 0;
        while work < budget {
            match self.cq.poll() {
                Next::Empty => break,
                Next::Stale => {
                    self.drop_expected(|s| &s.rx_drop_stale_phase);
                }
                Next::Record(rec) => self.handle(&rec, sink),
            }
            work += 1;
            since_refill += 1;
            if since_refill == REFILL_BATCH {
                self.rxq.refill(usize::MAX);
                since_refill = 0;
            }
        }
        // Always top up: also recovers a ring that ran dry while the pool was empty.
        self.rxq.refill(usize::MAX);
        self.cq.commit();
        let now = self.dev.now_ns();
        if work > 0 {
            // The card disarms when it raises; any record means it is no longer armed.
            self.armed = false;
            self.last_work_ns = now;
        }
        let exhausted = work >= budget;
        if exhausted {
            QueueStats::add(&self.stats.napi_budget_exhausted, 1);
            self.full_streak += 1;
            self.repoll = true;
        } else {
            self.full_streak = 0;
        }
        match self.mode {
            PollMode::Interrupt => {
                if !exhausted && !self.armed {
                    self.rearm();
                }
            }
            PollMode::BusyPoll => {}
            PollMode::Adaptive(a) => {
                if !self.busy && self.full_streak >= a.busy_after {
                    self.busy = true;
                    QueueStats::add(&self.stats.to_busy_poll, 1);
                } else if self.busy
                    && work == 0
                    && now.saturating_sub(self.last_work_ns) >= a.idle_ns
                {
                    self.busy = false;
                    QueueStats::add(&self.stats.to_interrupt, 1);
                }
                if !self.busy && !exhausted && !self.armed {
                    self.rearm();
                }
            }
        }
        work
    }

    /// Drops the record standing for the next expected buffer and reposts that buffer.
    fn drop_expected(&mut self, why: fn(&QueueStats) -> &AtomicU64) {
        QueueStats::add(why(&self.stats), 1);
        if let Some(b) = self.rxq.take() {
            self.rxq.recycle(b);
        }
    }

    fn handle(&mut self, rec: &[u8; Cpl::LEN], sink: &mut dyn RxSink) {
        let c = match CplView::new_checked(&rec[..]).and_then(|v| Cpl::parse(&v)) {
            Ok(c) if c.flags & cpl_flags::TX == 0 => c,
            _ => return self.drop_expected(|s| &s.rx_drop_malformed),
        };
        if u32::from(c.queue) != self.rxq.index() {
            return self.drop_expected(|s| &s.rx_drop_bad_queue);
        }
        if self.rxq.posted() == 0 || !self.rxq.ring().names(c.index, self.rxq.next_index()) {
            return self.drop_expected(|s| &s.rx_drop_bad_index);
        }
        if c.len == 0 || c.len as usize > self.rxq.buf_size() {
            return self.drop_expected(|s| &s.rx_drop_bad_len);
        }
        let Some(mut buf) = self.rxq.take() else {
            return QueueStats::add(&self.stats.rx_drop_bad_index, 1);
        };
        if buf.set_len(c.len as usize).is_err() {
            self.rxq.recycle(buf);
            return QueueStats::add(&self.stats.rx_drop_bad_len, 1);
        }
        let meta = RxMeta {
            queue: c.queue,
            len: c.len,
            rss_hash: c.rss_hash,
            hash_type: c.hash_type,
            ip_csum: c.ip_csum,
            l4_csum: c.l4_csum,
            csum_complete: c.csum_complete,
            vlan: c.vlan_tci,
            flags: c.flags,
            gro_segs: c.gro_segs.max(1),
            timestamp: c.timestamp,
        };
        QueueStats::add(&self.stats.rx_packets, 1);
        QueueStats::add(&self.stats.rx_bytes, u64::from(c.len));
        sink.receive(buf, &meta);
    }

    /// Stops the queue and returns every posted buffer to the pool.
    pub fn close(self) {
        drop(self);
    }
}

/// Several RX pollers served by one thread, with a total budget and round-robin fairness.
pub struct NapiGroup {
    pollers: Vec<RxPoller>,
    dev: Arc<dyn Device>,
    weight: usize,
    budget: usize,
    next: usize,
}

impl std::fmt::Debug for NapiGroup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NapiGroup")
            .field("pollers", &self.pollers)
            .field("weight", &self.weight)
            .field("budget", &self.budget)
            .finish()
    }
}

impl NapiGroup {
    /// A group over `pollers` with the default weight (64) and budget (300).
    pub fn new(dev: Arc<dyn Device>, pollers: Vec<RxPoller>) -> Self {
        NapiGroup {
            pollers,
            dev,
            weight: DEFAULT_WEIGHT,
            budget: NETDEV_BUDGET,
            next: 0,
        }
    }

    /// Sets the per-queue weight and the total budget per round (both at least 1).
    pub fn set_budget(&mut self, weight: usize, budget: usize) {
        self.weight = weight.max(1);
        self.budget = budget.max(1);
    }

    /// The pollers.
    pub fn pollers(&self) -> &[RxPoller] {
        &self.pollers
    }

    /// The pollers, mutably (to change modes).
    pub fn pollers_mut(&mut self) -> &mut [RxPoller] {
        &mut self.pollers
    }

    /// Gives the pollers back (to close them or move them to other threads).
    pub fn into_pollers(self) -> Vec<RxPoller> {
        self.pollers
    }

    /// Bit mask of the vectors of the pollers.
    pub fn vector_mask(&self) -> u64 {
        self.pollers
            .iter()
            .filter(|p| p.vector() < 64)
            .fold(0, |m, p| m | 1 << p.vector())
    }

    /// One round: every queue that wants it is polled, round robin, each for at most its
    /// weight and all together for at most the budget. Returns the completions processed.
    pub fn poll_round(&mut self, sink: &mut dyn RxSink) -> usize {
        let n = self.pollers.len();
        let mut left = self.budget;
        let mut last = self.next;
        for k in 0..n {
            if left == 0 {
                break;
            }
            let i = (self.next + k) % n;
            let w = self.pollers[i].poll(self.weight.min(left), sink);
            left -= w;
            last = i;
        }
        if n > 0 {
            self.next = (last + 1) % n;
        }
        self.budget - left
    }

    /// Polls once, first sleeping on the group's vectors (up to `timeout`) if every queue is
    /// armed and nothing is pending. When nothing was found and some queue is busy polling,
    /// lets the device run a little ([`Device::relax`]). Returns the completions processed.
    pub fn run(&mut self, sink: &mut dyn RxSink, timeout: Duration) -> Result<usize, DeviceError> {
        if !self.pollers.iter().any(RxPoller::wants_poll) {
            self.dev.irq_wait(self.vector_mask(), timeout)?;
        }
        let work = self.poll_round(sink);
        if work == 0 && self.pollers.iter().any(RxPoller::is_busy_polling) {
            self.dev.relax();
        }
        Ok(work)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mempool::Mempool;
    use crate::mock::{MockCard, RxOutcome, CQS, MAX_RING_LOG2, QUEUES};
    use crate::Bar;
    use oxnic_abi::desc::{cpl_field, PHASE_BIT};
    use oxnic_abi::regs::cq;
    use std::sync::atomic::Ordering::Relaxed;

    struct Rig {
        card: Arc<MockCard>,
        space: crate::iova::IovaSpace,
        pool: Mempool,
    }

    fn rig(buffers: usize) -> Rig {
        let card = Arc::new(MockCard::new());
        let space = card.iova_space();
        let pool = Mempool::new(&space, 2048, buffers).unwrap();
        Rig { card, space, pool }
    }

    impl Rig {
        fn poller(&self, q: u32, log2: u32, mode: PollMode) -> RxPoller {
            let space = &self.space;
            let stats = Arc::new(QueueStats::default());
            let rxq = RxQueue::create(space, q, QUEUES, log2, MAX_RING_LOG2, q, &self.pool, stats)
                .unwrap();
            let cq = CompletionQueue::create(space, q, CQS, log2, MAX_RING_LOG2, q).unwrap();
            self.card.irq_enable(q).unwrap();
            let mut p = RxPoller::new(rxq, cq, mode).unwrap();
            p.enable();
            p
        }
    }

    fn meta() -> Cpl {
        Cpl {
            rss_hash: 0x1234_5678,
            hash_type: HashType::Ipv4Tcp,
            ip_csum: CsumStatus::Ok,
            l4_csum: CsumStatus::Ok,
            csum_complete: Some(0xbeef),
            flags: cpl_flags::IPV4 | cpl_flags::TCP,
            gro_segs: 1,
            ..Default::default()
        }
    }

    fn frame(n: u32) -> Vec<u8> {
        let len = 60 + (n as usize * 7) % 1400;
        (0..len).map(|i| (i as u32 ^ n) as u8).collect()
    }

    #[derive(Default)]
    struct Collect {
        frames: Vec<(Vec<u8>, RxMeta)>,
        hold: Vec<PktBuf>,
        keep: bool,
    }

    impl RxSink for Collect {
        fn receive(&mut self, buf: PktBuf, meta: &RxMeta) {
            let mut v = Vec::new();
            buf.copy_to_vec(&mut v).unwrap();
            self.frames.push((v, *meta));
            if self.keep {
                self.hold.push(buf);
            }
        }
    }

    #[test]
    fn frames_arrive_byte_exact_with_metadata_and_batched_doorbells() {
        let r = rig(512);
        let mut p = r.poller(2, 6, PollMode::Interrupt);
        let mut sink = Collect::default();
        let mut sent = 0u32;
        for _round in 0..10 {
            let rung = r.card.rx_doorbells(2);
            let cons_writes = r.card.cq_cons_writes(2);
            for _ in 0..64 {
                assert_eq!(
                    r.card.rx_frame(2, &frame(sent), &meta()),
                    RxOutcome::Delivered
                );
                sent += 1;
            }
            assert_eq!(p.poll(64, &mut sink), 64);
            assert_eq!(
                r.card.rx_doorbells(2) - rung,
                2,
                "one doorbell per 32 buffers"
            );
            assert_eq!(
                r.card.cq_cons_writes(2) - cons_writes,
                1,
                "one CONS write per poll"
            );
        }
        assert_eq!(sink.frames.len(), 640);
        for (n, (bytes, m)) in sink.frames.iter().enumerate() {
            assert_eq!(bytes, &frame(n as u32), "frame {n}");
            assert_eq!(m.len as usize, bytes.len());
            assert_eq!(
                (m.queue, m.rss_hash, m.hash_type),
                (2, 0x1234_5678, HashType::Ipv4Tcp)
            );
            assert_eq!(
                (m.ip_csum, m.l4_csum, m.csum_complete),
                (CsumStatus::Ok, CsumStatus::Ok, Some(0xbeef))
            );
        }
        assert_eq!(p.stats().rx_packets.load(Relaxed), 640);
        drop(p);
        drop(sink);
        assert_eq!(r.pool.available(), 512, "teardown returned every buffer");
    }

    #[test]
    fn corrupted_completions_are_dropped_counted_and_do_not_desync() {
        let r = rig(256);
        let mut p = r.poller(1, 4, PollMode::Interrupt);
        let mut sink = Collect::default();
        type Corrupt = fn(&mut [u8; 32]);
        let cases: [(Corrupt, &str); 7] = [
            (
                |c| c[0..4].copy_from_slice(&0u32.to_le_bytes()),
                "rx_drop_bad_len",
            ),
            (
                |c| c[0..4].copy_from_slice(&2049u32.to_le_bytes()),
                "rx_drop_bad_len",
            ),
            (|c| c[4] = c[4].wrapping_add(3), "rx_drop_bad_index"),
            (|c| c[6] = 5, "rx_drop_bad_queue"),
            (|c| c[cpl_field::HASH_TYPE] = 9, "rx_drop_malformed"),
            (
                |c| c[cpl_field::FLAGS] |= cpl_flags::TX as u8,
                "rx_drop_malformed",
            ),
            (|c| c[cpl_field::PHASE] ^= PHASE_BIT, "rx_drop_stale_phase"),
        ];
        let mut good = 0u32;
        for round in 0..6 {
            for (k, (corrupt, counter)) in cases.iter().enumerate() {
                let before = p.stats().get(counter).unwrap();
                let f = *corrupt;
                r.card
                    .rx_frame_with(1, &frame(1000 + k as u32), &meta(), &mut |c| f(c));
                // A good frame after each bad one: it must still arrive, whole and in order.
                r.card.rx_frame(1, &frame(good), &meta());
                assert_eq!(p.poll(64, &mut sink), 2, "{counter} round {round}");
                assert_eq!(
                    p.stats().get(counter).unwrap(),
                    before + 1,
                    "{counter} round {round}"
                );
                let (bytes, _) = sink.frames.last().unwrap();
                assert_eq!(bytes.len(), frame(good).len(), "{counter} round {round}");
                assert_eq!(bytes, &frame(good));
                good += 1;
            }
        }
        assert_eq!(
            sink.frames.len(),
            good as usize,
            "no corrupted frame delivered"
        );
        assert_eq!(p.rxq().posted(), 16, "every dropped buffer was reposted");
        assert_eq!(
            r.pool.available() + p.rxq().posted() + p.rxq().cached(),
            256,
            "no buffer lost or duplicated"
        );
        drop(p);
        assert_eq!(r.pool.available(), 256);
        assert_eq!(r.card.faults(), 0);
    }

    #[test]
    fn interrupt_is_rearmed_only_under_budget() {
        let r = rig(512);
        let mut p = r.poller(0, 7, PollMode::Interrupt);
        assert!(p.is_armed());
        for n in 0..100 {
            r.card.rx_frame(0, &frame(n), &meta());
        }
        assert_eq!(
            r.card.pending_irqs(),
            1,
            "armed queue raised its vector once"
        );
        assert_eq!(
            r.card.read32(cq::reg(0, cq::entry::CTRL)) & 2,
            0,
            "card disarmed it"
        );
        let mut sink = Collect::default();
        assert_eq!(p.poll(64, &mut sink), 64);
        assert!(
            !p.is_armed() && p.wants_poll(),
            "budget used up: stay in polling"
        );
        assert_eq!(p.poll(64, &mut sink), 36);
        assert!(p.is_armed() && !p.wants_poll(), "under budget: re-armed");
        assert_eq!(r.card.read32(cq::reg(0, cq::entry::CTRL)) & 2, 2);
        assert_eq!(p.poll(64, &mut sink), 0);
        assert_eq!(
            p.stats().irq_rearms.load(Relaxed),
            2,
            "initial arm and one re-arm"
        );
    }

    /// A card on which a frame lands just before the driver's arm write takes effect.
    struct Racy {
        card: Arc<MockCard>,
        fire: std::sync::atomic::AtomicBool,
    }

    impl Bar for Racy {
        fn size(&self) -> u32 {
            self.card.size()
        }
        fn read32(&self, o: u32) -> u32 {
            self.card.read32(o)
        }
        fn write32(&self, o: u32, v: u32) {
            if o == cq::reg(0, cq::entry::CTRL) && v & 2 != 0 && self.fire.swap(false, Relaxed) {
                self.card.rx_frame(0, &frame(77), &meta());
            }
            self.card.write32(o, v)
        }
    }

    impl Device for Racy {
        fn dma_map(
            &self,
            r: &Arc<crate::DmaRegion>,
            iova: u64,
            p: crate::DmaPerm,
        ) -> Result<(), DeviceError> {
            self.card.dma_map(r, iova, p)
        }
        fn dma_unmap(&self, iova: u64) -> Result<(), DeviceError> {
            self.card.dma_unmap(iova)
        }
        fn num_vectors(&self) -> u32 {
            self.card.num_vectors()
        }
        fn irq_enable(&self, v: u32) -> Result<(), DeviceError> {
            self.card.irq_enable(v)
        }
        fn irq_wait(&self, m: u64, t: Duration) -> Result<u64, DeviceError> {
            self.card.irq_wait(m, t)
        }
        fn relax(&self) {
            self.card.relax()
        }
        fn now_ns(&self) -> u64 {
            self.card.now_ns()
        }
    }

    #[test]
    fn a_frame_racing_the_rearm_is_not_left_behind() {
        let card = Arc::new(MockCard::new());
        let racy = Arc::new(Racy {
            card: card.clone(),
            fire: false.into(),
        });
        let space = crate::iova::IovaSpace::new(racy.clone(), 1 << 32, 1 << 30);
        let pool = Mempool::new(&space, 2048, 64).unwrap();
        let stats = Arc::new(QueueStats::default());
        let rxq = RxQueue::create(&space, 0, QUEUES, 4, MAX_RING_LOG2, 0, &pool, stats).unwrap();
        let cq = CompletionQueue::create(&space, 0, CQS, 4, MAX_RING_LOG2, 0).unwrap();
        card.irq_enable(0).unwrap();
        let mut p = RxPoller::new(rxq, cq, PollMode::Interrupt).unwrap();
        p.enable();
        let mut g = NapiGroup::new(racy.clone(), vec![p]);
        card.rx_frame(0, &frame(1), &meta());
        racy.fire.store(true, Relaxed);
        let mut got = Vec::new();
        let mut sink = |b: PktBuf, _: &RxMeta| got.push(b.len());
        assert_eq!(g.run(&mut sink, Duration::from_millis(1)).unwrap(), 1);
        assert_eq!(card.pending_irqs(), 0, "the racing frame raised nothing");
        assert!(g.pollers()[0].wants_poll(), "so the poller must not sleep");
        assert_eq!(g.run(&mut sink, Duration::from_millis(1)).unwrap(), 1);
        assert_eq!(got, vec![frame(1).len(), frame(77).len()]);
    }

    #[test]
    fn adaptive_mode_goes_busy_under_load_and_back_when_idle() {
        let r = rig(1024);
        let mut p = r.poller(3, 8, PollMode::Adaptive(Adaptive::default()));
        let mut sink = Collect::default();
        for n in 0..256 {
            r.card.rx_frame(3, &frame(n), &meta());
        }
        p.poll(64, &mut sink);
        assert!(!p.is_busy_polling());
        p.poll(64, &mut sink);
        assert!(p.is_busy_polling(), "two full polls in a row");
        assert_eq!(p.stats().to_busy_poll.load(Relaxed), 1);
        let rearms = p.stats().irq_rearms.load(Relaxed);
        p.poll(64, &mut sink);
        p.poll(64, &mut sink);
        assert_eq!(p.poll(64, &mut sink), 0);
        assert!(p.is_busy_polling(), "not idle long enough yet");
        assert_eq!(
            p.stats().irq_rearms.load(Relaxed),
            rearms,
            "busy polling never arms"
        );
        for _ in 0..1000 {
            r.card.relax();
        }
        assert_eq!(p.poll(64, &mut sink), 0);
        assert!(
            !p.is_busy_polling() && p.is_armed(),
            "idle 100 us: back to interrupts"
        );
        assert_eq!(p.stats().to_interrupt.load(Relaxed), 1);
    }

    #[test]
    fn group_shares_the_budget_round_robin() {
        let r = rig(2048);
        let pollers: Vec<RxPoller> = (0..4)
            .map(|q| r.poller(q, 8, PollMode::Interrupt))
            .collect();
        let mut g = NapiGroup::new(r.card.clone(), pollers);
        g.set_budget(64, 100);
        for q in 0..4 {
            for n in 0..200 {
                r.card.rx_frame(q, &frame(n), &meta());
            }
        }
        let per_queue = std::cell::Cell::new([0usize; 4]);
        let mut sink = |_b: PktBuf, m: &RxMeta| {
            let mut c = per_queue.get();
            c[m.queue as usize] += 1;
            per_queue.set(c);
        };
        assert_eq!(g.run(&mut sink, Duration::from_millis(1)).unwrap(), 100);
        assert_eq!(per_queue.get(), [64, 36, 0, 0]);
        assert_eq!(g.run(&mut sink, Duration::from_millis(1)).unwrap(), 100);
        assert_eq!(
            per_queue.get(),
            [64, 36, 64, 36],
            "the next round starts where the last stopped"
        );
        while g.run(&mut sink, Duration::from_millis(1)).unwrap() > 0 {}
        assert_eq!(per_queue.get(), [200; 4]);
        assert!(g.pollers().iter().all(|p| p.is_armed()));
        assert_eq!(g.vector_mask(), 0b1111);
        // Nothing pending: the group sleeps on its vectors (virtual time passes) and finds nothing.
        let t = r.card.now_ns();
        assert_eq!(g.run(&mut sink, Duration::from_millis(1)).unwrap(), 0);
        assert_eq!(r.card.now_ns() - t, 1_000_000);
    }

    #[test]
    fn dry_pool_drops_at_the_card_then_recovers() {
        let r = rig(24);
        let mut p = r.poller(0, 4, PollMode::Interrupt);
        assert_eq!(p.rxq().posted(), 16);
        let mut sink = Collect {
            keep: true,
            ..Default::default()
        };
        let mut outcomes = Vec::new();
        for n in 0..40 {
            outcomes.push(r.card.rx_frame(0, &frame(n), &meta()));
            p.poll(64, &mut sink);
        }
        let delivered = outcomes
            .iter()
            .filter(|o| **o == RxOutcome::Delivered)
            .count();
        assert_eq!(delivered, 24, "the stack holds every buffer");
        assert_eq!(
            outcomes
                .iter()
                .filter(|o| **o == RxOutcome::NoBuffer)
                .count(),
            16
        );
        assert!(p.stats().rx_pool_empty.load(Relaxed) > 0);
        sink.hold.clear();
        p.poll(64, &mut sink);
        assert_eq!(p.rxq().posted(), 16, "buffers came back and were posted");
        for n in 0..16 {
            assert_eq!(
                r.card.rx_frame(0, &frame(100 + n), &meta()),
                RxOutcome::Delivered
            );
        }
        p.poll(64, &mut sink);
        let tail: Vec<&Vec<u8>> = sink.frames.iter().rev().take(16).map(|(b, _)| b).collect();
        for (k, b) in tail.iter().rev().enumerate() {
            assert_eq!(*b, &frame(100 + k as u32), "no corruption after recovery");
        }
    }
}
