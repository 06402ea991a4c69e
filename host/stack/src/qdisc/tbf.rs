//! `tbf`: a token bucket shaper (Linux `sch_tbf.c`).
//!
//! Tokens accrue at `rate` bytes per second into a bucket of `burst` bytes; a packet leaves
//! only when the bucket holds its length in tokens. So the long-run output is `rate`, with up
//! to `burst` bytes at once after an idle period. Packets wait in a FIFO of at most `limit`
//! bytes (Linux's inner bfifo); beyond it they are dropped. A packet bigger than `burst` could
//! never leave and is dropped at once (Linux would segment a GSO packet first; the stack does
//! GSO before the qdisc).
//!
//! When the head packet lacks tokens, `dequeue` returns `None`, counts an overlimit, and
//! [`Qdisc::next_wakeup`] gives the instant the tokens will be there — the caller's timer, as
//! Linux's `qdisc_watchdog`. Like Linux, tokens are kept as time (nanoseconds of transmission
//! at `rate`), so there is no rounding drift over long runs. Peak-rate shaping is not
//! implemented.

use super::{DropReason, Dropped, Qdisc, QdiscError, QdiscStats, QueuedPacket};
use crate::time::Instant;
use std::collections::VecDeque;
use std::time::Duration;

const NANOS_PER_SEC: u128 = 1_000_000_000;

/// tbf parameters (`tc qdisc add .. tbf rate R burst B limit L`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TbfParams {
    /// Long-run rate in bytes per second.
    pub rate: u64,
    /// Bucket size in bytes: the most sent back to back after idling.
    pub burst: usize,
    /// Bytes that may wait in the queue.
    pub limit: usize,
}

/// The token bucket filter.
#[derive(Debug)]
pub struct Tbf<P> {
    params: TbfParams,
    queue: VecDeque<P>,
    /// Tokens, as nanoseconds of transmission at `rate`, at `t_c`.
    tokens: i128,
    /// Bucket size in the same unit.
    buffer: i128,
    /// When `tokens` was last brought up to date; `None` before the first dequeue (the bucket
    /// starts full).
    t_c: Option<Instant>,
    stats: QdiscStats,
}

impl<P> Tbf<P> {
    /// A shaper with a full bucket.
    pub fn new(params: TbfParams) -> Result<Self, QdiscError> {
        if params.rate == 0 {
            return Err(QdiscError::Zero("rate"));
        }
        if params.burst == 0 {
            return Err(QdiscError::Zero("burst"));
        }
        if params.limit == 0 {
            return Err(QdiscError::Zero("limit"));
        }
        let buffer = Self::cost_of(params.rate, params.burst);
        Ok(Tbf {
            params,
            queue: VecDeque::new(),
            tokens: buffer,
            buffer,
            t_c: None,
            stats: QdiscStats::default(),
        })
    }

    /// The parameters in use.
    pub fn params(&self) -> &TbfParams {
        &self.params
    }

    /// Nanoseconds to send `len` bytes at `rate`, rounded up so the rate is never exceeded.
    fn cost_of(rate: u64, len: usize) -> i128 {
        let ns = (len as u128 * NANOS_PER_SEC).div_ceil(u128::from(rate));
        i128::try_from(ns).unwrap_or(i128::MAX)
    }

    /// Tokens available at `now` (capped at the bucket size).
    fn tokens_at(&self, now: Instant) -> i128 {
        let elapsed = match self.t_c {
            Some(t) => i128::try_from((now - t).as_nanos()).unwrap_or(i128::MAX),
            None => self.buffer,
        };
        (self.tokens + elapsed.min(self.buffer)).min(self.buffer)
    }
}

impl<P: QueuedPacket> Qdisc<P> for Tbf<P> {
    fn enqueue(&mut self, packet: P, _now: Instant) -> Result<(), Dropped<P>> {
        let len = packet.len();
        let reason = if len > self.params.burst {
            DropReason::TooBig
        } else if self.stats.backlog + len > self.params.limit {
            DropReason::QueueFull
        } else {
            self.stats.qlen += 1;
            self.stats.backlog += len;
            self.queue.push_back(packet);
            return Ok(());
        };
        self.stats.drops += 1;
        Err(Dropped { packet, reason })
    }

    fn dequeue(&mut self, now: Instant) -> Option<P> {
        let len = self.queue.front()?.len();
        let toks = self.tokens_at(now) - Self::cost_of(self.params.rate, len);
        if toks < 0 {
            self.stats.overlimits += 1;
            return None;
        }
        let p = self.queue.pop_front()?;
        self.tokens = toks;
        self.t_c = Some(now);
        self.stats.qlen -= 1;
        self.stats.backlog -= len;
        self.stats.sent(len);
        Some(p)
    }

    fn next_wakeup(&self, now: Instant) -> Option<Instant> {
        let len = self.queue.front()?.len();
        let missing = Self::cost_of(self.params.rate, len) - self.tokens_at(now);
        if missing <= 0 {
            return Some(now);
        }
        Some(now + Duration::from_nanos(u64::try_from(missing).unwrap_or(u64::MAX)))
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
    use super::super::sim::{self, periodic, Pkt};
    use super::*;

    fn ms(m: u64) -> Instant {
        Instant::from_millis(m)
    }

    /// 1 Mbit/s, 10 kB burst, 100 kB queue.
    fn tbf() -> Tbf<Pkt> {
        Tbf::new(TbfParams {
            rate: 125_000,
            burst: 10_000,
            limit: 100_000,
        })
        .unwrap()
    }

    #[test]
    fn the_burst_leaves_at_once_then_the_rate_applies() {
        let mut q = tbf();
        for i in 0..20 {
            q.enqueue(Pkt::new(1, 1000, 0, i), ms(0)).unwrap();
        }
        let now = ms(1000);
        for _ in 0..10 {
            assert!(q.dequeue(now).is_some());
        }
        assert!(q.dequeue(now).is_none(), "bucket empty");
        assert_eq!(q.stats().overlimits, 1);
        // 1000 bytes at 125 kB/s: 8 ms.
        assert_eq!(q.next_wakeup(now), Some(ms(1008)));
        assert!(q.dequeue(ms(1007)).is_none());
        assert!(q.dequeue(ms(1008)).is_some());
        assert_eq!(q.next_wakeup(ms(1008)), Some(ms(1016)));
    }

    #[test]
    fn rate_is_honoured_over_ten_seconds_of_virtual_time() {
        let mut q = tbf();
        // Offer 4 Mbit/s of 1000-byte packets; an infinitely fast link behind the shaper.
        let offered = periodic(1, 1000, ms(0), Duration::from_millis(2), 5000);
        let d = sim::run(&mut q, offered, 0, ms(10_000));
        let bytes: usize = d.iter().map(|x| x.pkt.len).sum();
        // burst + rate * 10 s, exactly: the 1251st token-paced packet leaves at t = 10 s.
        assert_eq!(bytes, 10_000 + 1_250_000);
        // Once the burst is spent (arrivals eat into it for the first dozen packets),
        // departures are exactly 8 ms apart.
        for w in d[20..].windows(2) {
            assert_eq!(w[1].at - w[0].at, Duration::from_millis(8));
        }
        // The queue is full most of the time: the excess is dropped and counted.
        assert!(q.stats().drops > 2000, "{:?}", q.stats());
        assert!(q.stats().backlog <= 100_000);
    }

    #[test]
    fn idle_time_refills_the_bucket_only_up_to_burst() {
        let mut q = tbf();
        q.enqueue(Pkt::new(1, 1000, 0, 0), ms(0)).unwrap();
        assert!(q.dequeue(ms(0)).is_some());
        for i in 0..30 {
            q.enqueue(Pkt::new(1, 1000, 0, i), ms(60_000)).unwrap();
        }
        let at_once = std::iter::from_fn(|| q.dequeue(ms(60_000))).count();
        assert_eq!(at_once, 10);
    }

    #[test]
    fn byte_limit_and_oversize_packets_are_dropped_and_counted() {
        let mut q = tbf();
        for i in 0..100 {
            q.enqueue(Pkt::new(1, 1000, 0, i), ms(0)).unwrap();
        }
        let full = q.enqueue(Pkt::new(1, 1000, 0, 100), ms(0)).unwrap_err();
        assert_eq!(full.reason, DropReason::QueueFull);
        let big = q.enqueue(Pkt::new(1, 10_001, 0, 101), ms(0)).unwrap_err();
        assert_eq!(big.reason, DropReason::TooBig);
        assert_eq!(q.stats().drops, 2);
        assert_eq!(q.len(), 100);
    }

    #[test]
    fn small_packets_pass_while_the_rate_holds() {
        let mut q = tbf();
        // 100-byte packets at 1 Mbit/s: 800 us each once the burst is spent.
        for i in 0..200 {
            q.enqueue(Pkt::new(1, 100, 0, i), ms(0)).unwrap();
        }
        let d = sim::run(&mut q, Vec::new(), 0, ms(1000));
        assert_eq!(d.len(), 200);
        assert_eq!(d[99].at, ms(0), "100 x 100 bytes fit the burst");
        assert_eq!(d[100].at, Instant::from_micros(800));
        assert_eq!(d[199].at, Instant::from_micros(800 * 100));
    }

    #[test]
    fn empty_shaper_has_no_wakeup_and_bad_params_are_refused() {
        let q = tbf();
        assert_eq!(q.next_wakeup(ms(0)), None);
        for (rate, burst, limit) in [(0, 1, 1), (1, 0, 1), (1, 1, 0)] {
            assert!(Tbf::<Pkt>::new(TbfParams { rate, burst, limit }).is_err());
        }
    }
}
