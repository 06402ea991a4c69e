//! `fq_codel`: fair queueing with CoDel on every flow (Linux `sch_fq_codel.c`, `codel_impl.h`,
//! RFC 8290).
//!
//! Packets are spread over `flows` queues (1024) by their flow hash. Queues are served by
//! deficit round robin, `quantum` bytes (1514) per turn. A queue that becomes active joins the
//! *new flows* list, which is served before the *old flows* list: a sparse flow (DNS, ssh
//! keystrokes, TCP handshakes) gets its packet out at once instead of waiting behind bulk
//! transfers. A queue that uses up its quantum moves to the back of the old list.
//!
//! Each queue runs CoDel at dequeue: when its packets have waited (sojourn time) more than
//! `target` (5 ms) for at least `interval` (100 ms), CoDel drops a packet and schedules the next
//! drop at `interval / sqrt(count)`, increasing the drop rate until the sojourn time falls below
//! `target`. That removes *standing* queues while letting bursts through. This implementation
//! drops; it does not ECN-mark (the packet trait has no way to set CE).
//!
//! When the whole qdisc is over `limit` packets (10240) or `memory_limit` bytes (32 MiB), it
//! drops up to 64 packets from the head of the flow with the largest backlog, until half of that
//! backlog is gone — the arriving packet is dropped only if it was in that flow and the batch
//! reached it.

use super::{DropReason, Dropped, Qdisc, QdiscError, QdiscStats, QueuedPacket};
use crate::time::Instant;
use std::collections::VecDeque;
use std::time::Duration;

/// fq_codel parameters (`tc qdisc add .. fq_codel ..`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FqCodelParams {
    /// Queued packets at most, all flows together (10240).
    pub limit: usize,
    /// Queued bytes at most (32 MiB).
    pub memory_limit: usize,
    /// Number of flow queues (1024).
    pub flows: usize,
    /// Bytes a flow may send per round (1514, an Ethernet MTU plus header).
    pub quantum: usize,
    /// Acceptable standing sojourn time (5 ms).
    pub target: Duration,
    /// Time the sojourn time must stay above target before dropping starts (100 ms).
    pub interval: Duration,
    /// Below this backlog (bytes, all flows) CoDel never drops: one packet is not a queue.
    pub mtu: usize,
    /// Packets dropped at most per overlimit event (64).
    pub drop_batch: usize,
}

impl Default for FqCodelParams {
    fn default() -> Self {
        FqCodelParams {
            limit: 10_240,
            memory_limit: 32 << 20,
            flows: 1024,
            quantum: 1514,
            target: Duration::from_millis(5),
            interval: Duration::from_millis(100),
            mtu: 1514,
            drop_batch: 64,
        }
    }
}

/// fq_codel's own counters (`tc -s` "maxpacket .. drop_overlimit .. new_flow_count ..").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FqCodelStats {
    /// Largest packet seen.
    pub maxpacket: usize,
    /// Packets dropped because the qdisc was over its packet or memory limit.
    pub drop_overlimit: u64,
    /// Packets dropped by CoDel at dequeue.
    pub codel_drops: u64,
    /// Times a flow became active (joined the new-flows list).
    pub new_flow_count: u64,
    /// Flows on the new-flows list now.
    pub new_flows_len: usize,
    /// Flows on the old-flows list now.
    pub old_flows_len: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum List {
    None,
    New,
    Old,
}

/// CoDel's per-flow state (`struct codel_vars`).
#[derive(Debug, Default)]
struct CodelVars {
    /// Drops in the current dropping episode.
    count: u32,
    /// `count` when the previous episode ended.
    lastcount: u32,
    dropping: bool,
    drop_next: Instant,
    /// When the sojourn time, if it stays above target, makes dropping OK.
    first_above_time: Option<Instant>,
}

#[derive(Debug)]
struct Flow<P> {
    queue: VecDeque<(P, Instant)>,
    backlog: usize,
    deficit: i64,
    list: List,
    cvars: CodelVars,
}

/// Fair queueing with per-flow CoDel.
#[derive(Debug)]
pub struct FqCodel<P> {
    params: FqCodelParams,
    flows: Vec<Flow<P>>,
    new_flows: VecDeque<usize>,
    old_flows: VecDeque<usize>,
    memory: usize,
    stats: QdiscStats,
    fq: FqCodelStats,
}

impl<P> FqCodel<P> {
    /// An fq_codel with these parameters.
    pub fn new(params: FqCodelParams) -> Result<Self, QdiscError> {
        for (v, name) in [
            (params.limit, "limit"),
            (params.flows, "flows"),
            (params.quantum, "quantum"),
            (params.drop_batch, "drop_batch"),
        ] {
            if v == 0 {
                return Err(QdiscError::Zero(name));
            }
        }
        if params.interval.is_zero() {
            return Err(QdiscError::Zero("interval"));
        }
        let flows = (0..params.flows)
            .map(|_| Flow {
                queue: VecDeque::new(),
                backlog: 0,
                deficit: 0,
                list: List::None,
                cvars: CodelVars::default(),
            })
            .collect();
        Ok(FqCodel {
            params,
            flows,
            new_flows: VecDeque::new(),
            old_flows: VecDeque::new(),
            memory: 0,
            stats: QdiscStats::default(),
            fq: FqCodelStats::default(),
        })
    }

    /// fq_codel's own counters.
    pub fn fq_stats(&self) -> FqCodelStats {
        FqCodelStats {
            new_flows_len: self.new_flows.len(),
            old_flows_len: self.old_flows.len(),
            ..self.fq
        }
    }

    /// Bytes queued in the flow queue that `hash` maps to.
    pub fn flow_backlog(&self, hash: u32) -> usize {
        self.flows[self.classify(hash)].backlog
    }

    /// Linux `reciprocal_scale`: the top bits of the hash pick the queue, no division.
    fn classify(&self, hash: u32) -> usize {
        ((u64::from(hash) * self.flows.len() as u64) >> 32) as usize
    }
}

impl<P: QueuedPacket> FqCodel<P> {
    fn pop(&mut self, idx: usize) -> Option<(P, Instant)> {
        let (p, t) = self.flows[idx].queue.pop_front()?;
        let len = p.len();
        self.flows[idx].backlog -= len;
        self.stats.backlog -= len;
        self.stats.qlen -= 1;
        self.memory -= len;
        Some((p, t))
    }

    /// `codel_should_drop`: has this packet's flow been above target for an interval?
    fn should_drop(&mut self, idx: usize, enqueued: Option<Instant>, now: Instant) -> bool {
        let backlog = self.stats.backlog;
        let params = &self.params;
        let v = &mut self.flows[idx].cvars;
        let Some(enqueued) = enqueued else {
            v.first_above_time = None;
            return false;
        };
        if now - enqueued < params.target || backlog <= params.mtu {
            v.first_above_time = None;
            return false;
        }
        match v.first_above_time {
            None => {
                v.first_above_time = Some(now + params.interval);
                false
            }
            Some(t) => now > t,
        }
    }

    fn codel_drop(&mut self, p: P) {
        self.stats.drops += 1;
        self.fq.codel_drops += 1;
        drop(p);
    }

    /// `interval / sqrt(count)` after `t`: drops come faster the longer the queue persists.
    fn control_law(&self, t: Instant, count: u32) -> Instant {
        let ns = self.params.interval.as_nanos() as f64 / f64::from(count.max(1)).sqrt();
        t + Duration::from_nanos(ns as u64)
    }

    /// `codel_dequeue` on one flow.
    fn codel_dequeue(&mut self, idx: usize, now: Instant) -> Option<P> {
        let Some((mut p, t)) = self.pop(idx) else {
            self.flows[idx].cvars.dropping = false;
            return None;
        };
        let drop = self.should_drop(idx, Some(t), now);
        let interval = self.params.interval;
        if self.flows[idx].cvars.dropping {
            if !drop {
                self.flows[idx].cvars.dropping = false;
            } else {
                while self.flows[idx].cvars.dropping && now >= self.flows[idx].cvars.drop_next {
                    let v = &mut self.flows[idx].cvars;
                    v.count = v.count.saturating_add(1);
                    self.codel_drop(p);
                    let next = self.pop(idx);
                    let still = self.should_drop(idx, next.as_ref().map(|n| n.1), now);
                    match next {
                        Some((np, _)) if still => {
                            p = np;
                            let v = &self.flows[idx].cvars;
                            let at = self.control_law(v.drop_next, v.count);
                            self.flows[idx].cvars.drop_next = at;
                        }
                        Some((np, _)) => {
                            p = np;
                            self.flows[idx].cvars.dropping = false;
                        }
                        None => {
                            self.flows[idx].cvars.dropping = false;
                            return None;
                        }
                    }
                }
            }
        } else if drop {
            self.codel_drop(p);
            let next = self.pop(idx);
            // Evaluated for its effect on first_above_time, as Linux does.
            self.should_drop(idx, next.as_ref().map(|n| n.1), now);
            let v = &mut self.flows[idx].cvars;
            v.dropping = true;
            // Re-entering soon after the last episode: resume near the drop rate that
            // controlled the queue then.
            let delta = v.count.wrapping_sub(v.lastcount);
            v.count = if delta > 1 && now - v.drop_next < interval * 16 {
                delta
            } else {
                1
            };
            v.lastcount = v.count;
            let count = v.count;
            let at = self.control_law(now, count);
            self.flows[idx].cvars.drop_next = at;
            match next {
                Some((np, _)) => p = np,
                None => return None,
            }
        }
        Some(p)
    }

    /// Drops a batch from the head of the fattest flow. Returns the arriving packet if it
    /// was among the victims.
    fn drop_from_fattest(&mut self, arriving_flow: usize) -> Option<P> {
        let (fat, max) = self
            .flows
            .iter()
            .enumerate()
            .map(|(i, f)| (i, f.backlog))
            .max_by_key(|&(i, b)| (b, std::cmp::Reverse(i)))?;
        let threshold = max / 2;
        let mut dropped_bytes = 0;
        let mut n = 0;
        let mut arriving = None;
        while let Some((p, _)) = self.pop(fat) {
            n += 1;
            dropped_bytes += p.len();
            if fat == arriving_flow && self.flows[fat].queue.is_empty() {
                // The arriving packet was the flow's tail.
                arriving = Some(p);
            }
            if n >= self.params.drop_batch || dropped_bytes >= threshold {
                break;
            }
        }
        self.stats.drops += n as u64;
        self.fq.drop_overlimit += n as u64;
        arriving
    }
}

impl<P: QueuedPacket> Qdisc<P> for FqCodel<P> {
    fn enqueue(&mut self, packet: P, now: Instant) -> Result<(), Dropped<P>> {
        let idx = self.classify(packet.flow_hash());
        let len = packet.len();
        self.fq.maxpacket = self.fq.maxpacket.max(len);
        let flow = &mut self.flows[idx];
        flow.queue.push_back((packet, now));
        flow.backlog += len;
        if flow.list == List::None {
            flow.list = List::New;
            flow.deficit = self.params.quantum as i64;
            self.new_flows.push_back(idx);
            self.fq.new_flow_count += 1;
        }
        self.stats.qlen += 1;
        self.stats.backlog += len;
        self.memory += len;
        if self.stats.qlen <= self.params.limit && self.memory <= self.params.memory_limit {
            return Ok(());
        }
        let reason = if self.stats.qlen > self.params.limit {
            DropReason::QueueFull
        } else {
            DropReason::MemoryLimit
        };
        match self.drop_from_fattest(idx) {
            Some(packet) => Err(Dropped { packet, reason }),
            None => Ok(()),
        }
    }

    fn dequeue(&mut self, now: Instant) -> Option<P> {
        loop {
            let (idx, from_new) = match (self.new_flows.front(), self.old_flows.front()) {
                (Some(&i), _) => (i, true),
                (None, Some(&i)) => (i, false),
                (None, None) => return None,
            };
            let list = if from_new {
                &mut self.new_flows
            } else {
                &mut self.old_flows
            };
            if self.flows[idx].deficit <= 0 {
                list.pop_front();
                self.flows[idx].deficit += self.params.quantum as i64;
                self.flows[idx].list = List::Old;
                self.old_flows.push_back(idx);
                continue;
            }
            match self.codel_dequeue(idx, now) {
                Some(p) => {
                    self.flows[idx].deficit -= p.len() as i64;
                    self.stats.sent(p.len());
                    return Some(p);
                }
                None => {
                    let list = if from_new {
                        &mut self.new_flows
                    } else {
                        &mut self.old_flows
                    };
                    list.pop_front();
                    // An emptied new flow takes one pass through the old list, so a flow that
                    // keeps going idle and active cannot starve the old flows.
                    if from_new && !self.old_flows.is_empty() {
                        self.flows[idx].list = List::Old;
                        self.old_flows.push_back(idx);
                    } else {
                        self.flows[idx].list = List::None;
                    }
                }
            }
        }
    }

    fn next_wakeup(&self, now: Instant) -> Option<Instant> {
        (self.stats.qlen > 0).then_some(now)
    }

    fn len(&self) -> usize {
        self.stats.qlen
    }

    fn stats(&self) -> &QdiscStats {
        &self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::super::sim::{self, merge, periodic, Pkt};
    use super::super::PfifoFast;
    use super::*;

    fn ms(m: u64) -> Instant {
        Instant::from_millis(m)
    }

    fn fq() -> FqCodel<Pkt> {
        FqCodel::new(FqCodelParams::default()).unwrap()
    }

    /// 10 Mbit/s: a 1514-byte packet takes 1.2112 ms.
    const LINK: u64 = 10_000_000;

    /// A bulk flow that dumps 200 packets at once (a standing queue of ~242 ms on the link),
    /// then keeps sending at exactly the link rate, so a FIFO never drains it.
    fn standing_bulk(flow: u32, secs: u64) -> Vec<(Instant, Pkt)> {
        let burst = periodic(flow, 1514, ms(0), Duration::ZERO, 200);
        let steady = periodic(
            flow,
            1514,
            ms(0),
            Duration::from_nanos(1_211_200),
            secs * 1000 * 1000 / 1211,
        );
        merge(vec![burst, steady])
    }

    fn mean_delay(d: &[sim::Departure], flow: u32, after: Instant) -> Duration {
        let ds: Vec<Duration> = d
            .iter()
            .filter(|x| x.pkt.flow == flow && x.at >= after)
            .map(|x| x.delay())
            .collect();
        assert!(!ds.is_empty());
        ds.iter().sum::<Duration>() / ds.len() as u32
    }

    #[test]
    fn codel_removes_a_standing_queue_that_a_fifo_keeps() {
        let arrivals = standing_bulk(1, 6);
        let mut fifo: PfifoFast<Pkt> = PfifoFast::new(10_000).unwrap();
        let d_fifo = sim::run(&mut fifo, arrivals.clone(), LINK, ms(6000));
        let mut q = fq();
        let d_fq = sim::run(&mut q, arrivals, LINK, ms(6000));

        let fifo_late = mean_delay(&d_fifo, 1, ms(5000));
        let fq_late = mean_delay(&d_fq, 1, ms(5000));
        assert!(
            fifo_late > Duration::from_millis(200),
            "fifo: {fifo_late:?}"
        );
        assert!(fq_late < Duration::from_millis(20), "fq_codel: {fq_late:?}");
        assert!(q.fq_stats().codel_drops > 150, "{:?}", q.fq_stats());
        assert_eq!(q.stats().drops, q.fq_stats().codel_drops);
        assert_eq!(fifo.stats().drops, 0);
    }

    #[test]
    fn sparse_flow_keeps_low_latency_next_to_a_bulk_flow() {
        let bulk = standing_bulk(1, 3);
        // A ping every 50 ms: small packets, never more than one queued.
        let sparse = periodic(2, 100, ms(7), Duration::from_millis(50), 58);
        let arrivals = merge(vec![bulk, sparse]);

        let mut fifo: PfifoFast<Pkt> = PfifoFast::new(10_000).unwrap();
        let d_fifo = sim::run(&mut fifo, arrivals.clone(), LINK, ms(3000));
        let mut q = fq();
        let d_fq = sim::run(&mut q, arrivals, LINK, ms(3000));

        let worst = |d: &[sim::Departure]| {
            d.iter()
                .filter(|x| x.pkt.flow == 2)
                .map(|x| x.delay())
                .max()
                .unwrap()
        };
        let sent = |d: &[sim::Departure]| d.iter().filter(|x| x.pkt.flow == 2).count();
        assert_eq!(sent(&d_fq), 58, "no sparse packet lost");
        // At most one bulk packet in service ahead of it (1.2 ms) plus its own 80 us.
        assert!(
            worst(&d_fq) < Duration::from_millis(2),
            "fq_codel: {:?}",
            worst(&d_fq)
        );
        assert!(
            worst(&d_fifo) > Duration::from_millis(200),
            "fifo: {:?}",
            worst(&d_fifo)
        );
    }

    #[test]
    fn drr_shares_the_link_between_two_bulk_flows() {
        let a = periodic(1, 1514, ms(0), Duration::from_micros(600), 2000);
        let b = periodic(2, 500, ms(0), Duration::from_micros(200), 6000);
        let mut q = fq();
        let d = sim::run(&mut q, merge(vec![a, b]), LINK, ms(1000));
        let bytes = |f: u32| -> usize {
            d.iter()
                .filter(|x| x.pkt.flow == f && x.at >= ms(200))
                .map(|x| x.pkt.len)
                .sum()
        };
        let (ba, bb) = (bytes(1), bytes(2));
        let ratio = ba as f64 / bb as f64;
        assert!((0.8..1.25).contains(&ratio), "bytes {ba} vs {bb}");
    }

    #[test]
    fn packets_of_one_flow_stay_in_order() {
        let mut q = fq();
        for i in 0..50 {
            q.enqueue(Pkt::new(7, 100, 0, i), ms(0)).unwrap();
            q.enqueue(Pkt::new(8, 100, 0, i), ms(0)).unwrap();
        }
        let mut last = [None::<u64>; 2];
        while let Some(p) = q.dequeue(ms(1)) {
            let slot = &mut last[(p.flow - 7) as usize];
            assert!(slot.is_none_or(|s| p.seq == s + 1));
            *slot = Some(p.seq);
        }
        assert_eq!(last, [Some(49), Some(49)]);
    }

    #[test]
    fn new_flow_goes_before_old_flows() {
        let mut q = fq();
        for i in 0..10 {
            q.enqueue(Pkt::new(1, 1514, 0, i), ms(0)).unwrap();
        }
        assert_eq!(q.dequeue(ms(0)).unwrap().flow, 1);
        // Quantum spent: flow 1 moves to the old list, and is alone there.
        assert_eq!(q.dequeue(ms(0)).unwrap().flow, 1);
        q.enqueue(Pkt::new(2, 100, 0, 0), ms(0)).unwrap();
        assert_eq!(q.dequeue(ms(0)).unwrap().flow, 2);
        assert_eq!(q.fq_stats().new_flow_count, 2);
    }

    #[test]
    fn over_the_packet_limit_the_fattest_flow_loses_half_its_backlog() {
        let mut q = FqCodel::new(FqCodelParams {
            limit: 100,
            ..FqCodelParams::default()
        })
        .unwrap();
        for i in 0..90 {
            q.enqueue(Pkt::new(1, 1000, 0, i), ms(0)).unwrap();
        }
        for i in 0..10 {
            q.enqueue(Pkt::new(2, 1000, 0, i), ms(0)).unwrap();
        }
        // The 101st packet (flow 2) pushes the qdisc over; flow 1 is the fattest.
        q.enqueue(Pkt::new(2, 1000, 0, 10), ms(0)).unwrap();
        assert_eq!(q.fq_stats().drop_overlimit, 45);
        assert_eq!(q.stats().drops, 45);
        assert_eq!(q.flow_backlog(Pkt::new(1, 0, 0, 0).flow_hash()), 45_000);
        assert_eq!(q.flow_backlog(Pkt::new(2, 0, 0, 0).flow_hash()), 11_000);
        assert_eq!(q.len(), 56);
        // Flow 1 lost its oldest packets.
        assert_eq!(q.dequeue(ms(0)).unwrap().seq, 45);
    }

    #[test]
    fn a_single_packet_over_the_limit_is_handed_back() {
        let mut q = FqCodel::new(FqCodelParams {
            limit: 1,
            ..FqCodelParams::default()
        })
        .unwrap();
        q.enqueue(Pkt::new(1, 1000, 0, 0), ms(0)).unwrap();
        // Over the limit, and the arriving packet's flow is the fattest: it comes back.
        let back = q
            .enqueue(Pkt::new(2, 3000, 0, 1), ms(0))
            .expect_err("dropped");
        assert_eq!(back.packet.seq, 1);
        assert_eq!(back.reason, DropReason::QueueFull);
        assert_eq!(q.len(), 1);
        // Over the limit, flow 1 is the fattest: its head goes, the new packet stays.
        q.enqueue(Pkt::new(1, 100, 0, 2), ms(0)).unwrap();
        assert_eq!(q.len(), 1);
        assert_eq!(q.stats().drops, 2);
        assert_eq!(q.dequeue(ms(0)).unwrap().seq, 2);
    }

    #[test]
    fn memory_limit_is_enforced() {
        let mut q = FqCodel::new(FqCodelParams {
            memory_limit: 100_000,
            ..FqCodelParams::default()
        })
        .unwrap();
        for i in 0..200 {
            let _ = q.enqueue(Pkt::new((i % 3) as u32, 1000, 0, i), ms(0));
            assert!(q.stats().backlog <= 100_000);
        }
        assert!(q.fq_stats().drop_overlimit > 0);
    }

    #[test]
    fn a_short_burst_is_not_dropped() {
        // 50 packets at once drain in ~60 ms: above target but for less than an interval.
        let mut q = fq();
        let d = sim::run(
            &mut q,
            periodic(1, 1514, ms(0), Duration::ZERO, 50),
            LINK,
            ms(1000),
        );
        assert_eq!(d.len(), 50);
        assert_eq!(q.stats().drops, 0);
    }

    #[test]
    fn zero_parameters_are_refused() {
        assert_eq!(
            FqCodel::<Pkt>::new(FqCodelParams {
                flows: 0,
                ..FqCodelParams::default()
            })
            .unwrap_err(),
            QdiscError::Zero("flows")
        );
    }
}
