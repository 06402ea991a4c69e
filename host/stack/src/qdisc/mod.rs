//! Queueing disciplines between IP output (after the neighbour layer) and the device TX ring
//! (Linux `net/sched`: `pfifo_fast`, `fq_codel`, `tbf`).
//!
//! A qdisc takes packets as fast as the stack produces them and hands them out as fast as the
//! device (or a shaper) can take them, choosing which goes next and which to drop. All of them
//! implement [`Qdisc`]: `enqueue` may refuse the packet (returned in [`Dropped`], already
//! counted), `dequeue` gives the next packet to send or `None`, and `next_wakeup` says when a
//! `None` will turn into a packet (a shaper out of tokens). Time is the `now` argument.
//!
//! Packets are any type implementing [`QueuedPacket`]: its length, its TOS byte (or a priority),
//! and a flow hash (the RSS hash or a software 5-tuple hash), so the stack's packet buffer plugs
//! in without this module knowing it.
//!
//! - [`PfifoFast`]: the default; three FIFO bands chosen from TOS through Linux's `prio2band`
//!   map, band 0 always first; `txqueuelen` (1000) packets in total.
//! - [`FqCodel`]: per-flow queues served by deficit round robin, new flows before old ones, and
//!   CoDel on each flow to keep standing queues near `target` (5 ms).
//! - [`Tbf`]: a token bucket shaper: `rate`, `burst`, and a byte `limit` on the queue.

mod fq_codel;
mod pfifo_fast;
mod tbf;

pub use fq_codel::{FqCodel, FqCodelParams, FqCodelStats};
pub use pfifo_fast::{tos_to_band, tos_to_priority, PfifoFast, PRIO2BAND};
pub use tbf::{Tbf, TbfParams};

use crate::time::Instant;

/// What a qdisc needs to know about a packet.
pub trait QueuedPacket {
    /// Length on the wire in bytes (what rates, quanta and byte limits count).
    fn len(&self) -> usize;

    /// True for a zero-length packet.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The IPv4 TOS byte (DSCP and ECN), 0 for non-IP frames.
    fn tos(&self) -> u8;

    /// A hash of the packet's flow (e.g. the 5-tuple or the card's RSS hash); packets of one
    /// flow must share it.
    fn flow_hash(&self) -> u32;

    /// The packet's priority (`skb->priority`, `TC_PRIO_*` 0..=15). By default it comes from
    /// the TOS byte as Linux's `rt_tos2priority` does; a socket option may override it.
    fn priority(&self) -> u32 {
        u32::from(tos_to_priority(self.tos()))
    }
}

/// Why a qdisc refused a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// The queue is at its packet or byte limit.
    QueueFull,
    /// The qdisc's memory limit was reached.
    MemoryLimit,
    /// The packet can never be sent (bigger than a shaper's burst).
    TooBig,
}

/// A refused packet, handed back to the caller (who frees it); the qdisc counted the drop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dropped<P> {
    /// The packet.
    pub packet: P,
    /// Why.
    pub reason: DropReason,
}

/// Counters every qdisc keeps, as `tc -s qdisc` shows them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QdiscStats {
    /// Packets dequeued ("Sent .. pkt").
    pub packets: u64,
    /// Bytes dequeued ("Sent .. bytes").
    pub bytes: u64,
    /// Packets dropped, at enqueue or by an AQM at dequeue ("dropped").
    pub drops: u64,
    /// Times a packet had to wait for a shaper ("overlimits").
    pub overlimits: u64,
    /// Packets queued now ("backlog .. p").
    pub qlen: usize,
    /// Bytes queued now ("backlog .. b").
    pub backlog: usize,
}

impl QdiscStats {
    fn sent(&mut self, len: usize) {
        self.packets += 1;
        self.bytes += len as u64;
    }
}

/// Why a qdisc could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QdiscError {
    /// A parameter that must be positive is zero.
    #[error("{0} must be greater than zero")]
    Zero(&'static str),
}

/// A queueing discipline over packets of type `P`.
pub trait Qdisc<P: QueuedPacket> {
    /// Offers a packet. On refusal the packet comes back in [`Dropped`] and is counted.
    fn enqueue(&mut self, packet: P, now: Instant) -> Result<(), Dropped<P>>;

    /// The next packet to send now, if any may be sent.
    fn dequeue(&mut self, now: Instant) -> Option<P>;

    /// `None` when empty; otherwise the earliest instant, not before `now`, at which `dequeue`
    /// may return a packet (`now` unless a shaper is throttling).
    fn next_wakeup(&self, now: Instant) -> Option<Instant>;

    /// Packets queued.
    fn len(&self) -> usize;

    /// True when nothing is queued.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Counters.
    fn stats(&self) -> &QdiscStats;
}

#[cfg(test)]
mod tests {
    use super::sim::Pkt;
    use super::*;

    /// An interface picks its qdisc at run time, so the trait must work as an object.
    #[test]
    fn qdiscs_work_behind_a_trait_object() {
        let mut qs: Vec<Box<dyn Qdisc<Pkt>>> = vec![
            Box::new(PfifoFast::default()),
            Box::new(FqCodel::new(FqCodelParams::default()).unwrap()),
            Box::new(
                Tbf::new(TbfParams {
                    rate: 1_000_000,
                    burst: 10_000,
                    limit: 100_000,
                })
                .unwrap(),
            ),
        ];
        for q in &mut qs {
            q.enqueue(Pkt::new(1, 100, 0, 1), Instant::ZERO).unwrap();
            q.enqueue(Pkt::new(1, 100, 0, 2), Instant::ZERO).unwrap();
            assert_eq!(q.len(), 2);
            assert_eq!(q.dequeue(Instant::ZERO).map(|p| p.seq), Some(1));
            assert_eq!(q.dequeue(Instant::ZERO).map(|p| p.seq), Some(2));
            assert!(q.is_empty());
            assert_eq!(q.stats().bytes, 200);
        }
    }
}

/// A test packet and a virtual-time link to drive qdiscs with.
#[cfg(test)]
pub(crate) mod sim {
    use super::*;
    use std::time::Duration;

    /// A packet of `len` bytes in flow `flow`, stamped with when it was offered.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct Pkt {
        pub flow: u32,
        pub len: usize,
        pub tos: u8,
        pub seq: u64,
        pub born: Instant,
    }

    impl Pkt {
        pub fn new(flow: u32, len: usize, tos: u8, seq: u64) -> Self {
            Pkt {
                flow,
                len,
                tos,
                seq,
                born: Instant::ZERO,
            }
        }
    }

    impl QueuedPacket for Pkt {
        fn len(&self) -> usize {
            self.len
        }
        fn tos(&self) -> u8 {
            self.tos
        }
        fn flow_hash(&self) -> u32 {
            // Spread flow numbers over the hash space like a real hash would.
            self.flow.wrapping_mul(0x9e37_79b9)
        }
    }

    /// A packet as it left the link.
    #[derive(Debug, Clone)]
    pub struct Departure {
        pub pkt: Pkt,
        pub at: Instant,
    }

    impl Departure {
        pub fn delay(&self) -> Duration {
            self.at - self.pkt.born
        }
    }

    /// Feeds `arrivals` (sorted by time) into `q` and drains it onto a link of `link_bps`
    /// bits per second (0 = infinitely fast) until `until`. Returns departures in order.
    pub fn run<Q: Qdisc<Pkt>>(
        q: &mut Q,
        mut arrivals: Vec<(Instant, Pkt)>,
        link_bps: u64,
        until: Instant,
    ) -> Vec<Departure> {
        arrivals.reverse();
        let mut out = Vec::new();
        let mut link_free = Instant::ZERO;
        let mut now = Instant::ZERO;
        loop {
            let next_arrival = arrivals.last().map(|a| a.0);
            let next_tx = q.next_wakeup(now.max(link_free)).map(|t| t.max(link_free));
            now = match (next_arrival, next_tx) {
                (Some(a), Some(t)) => a.min(t),
                (Some(a), None) => a,
                (None, Some(t)) => t,
                (None, None) => break,
            };
            if now > until {
                break;
            }
            while arrivals.last().is_some_and(|a| a.0 <= now) {
                if let Some((t, mut p)) = arrivals.pop() {
                    p.born = t;
                    let _ = q.enqueue(p, t);
                }
            }
            if now >= link_free {
                let before = (q.len(), q.stats().drops);
                let got = q.dequeue(now);
                if got.is_none() && arrivals.last().is_none_or(|a| a.0 > now) {
                    let stuck = q.next_wakeup(now).is_some_and(|t| t <= now)
                        && (q.len(), q.stats().drops) == before;
                    assert!(!stuck, "qdisc promised a packet at {now} but gave none");
                }
                if let Some(p) = got {
                    if link_bps > 0 {
                        let ns = (p.len as u128 * 8 * 1_000_000_000).div_ceil(link_bps as u128);
                        link_free = now + Duration::from_nanos(ns as u64);
                    }
                    out.push(Departure { pkt: p, at: now });
                }
            }
        }
        out
    }

    /// Packets of `len` bytes for `flow`, one every `gap`, from `start` for `count` packets.
    pub fn periodic(
        flow: u32,
        len: usize,
        start: Instant,
        gap: Duration,
        count: u64,
    ) -> Vec<(Instant, Pkt)> {
        (0..count)
            .map(|i| {
                let t = start + gap * u32::try_from(i).unwrap_or(u32::MAX);
                (t, Pkt::new(flow, len, 0, i))
            })
            .collect()
    }

    /// Merges arrival lists into one sorted by time (stable for equal times).
    pub fn merge(lists: Vec<Vec<(Instant, Pkt)>>) -> Vec<(Instant, Pkt)> {
        let mut all: Vec<(Instant, Pkt)> = lists.into_iter().flatten().collect();
        all.sort_by_key(|a| a.0);
        all
    }
}
