//! `pfifo_fast`: three FIFO bands by priority (Linux `sch_generic.c`, the default qdisc).
//!
//! A packet's priority (from its TOS byte via `ip_tos2prio`, unless the packet overrides it)
//! picks a band through `prio2band`; band 0 is always emptied before band 1, band 1 before
//! band 2. So "minimise delay" traffic (TOS 0x10: ssh, telnet) overtakes ordinary traffic,
//! and "maximise throughput" (TOS 0x08: bulk) waits behind it. The three bands share one limit
//! of `txqueuelen` packets (1000); a packet arriving at the limit is dropped (tail drop).

use super::{DropReason, Dropped, Qdisc, QdiscError, QdiscStats, QueuedPacket};
use crate::time::Instant;
use std::collections::VecDeque;

/// Linux's `prio2band` map for pfifo_fast: priority (`TC_PRIO_*`, 0..=15) → band.
pub const PRIO2BAND: [u8; 16] = [1, 2, 2, 2, 1, 2, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1];

const TC_PRIO_BESTEFFORT: u8 = 0;
const TC_PRIO_BULK: u8 = 2;
const TC_PRIO_INTERACTIVE_BULK: u8 = 4;
const TC_PRIO_INTERACTIVE: u8 = 6;

/// Linux `ip_tos2prio`, indexed by the four TOS bits (`(tos & 0x1e) >> 1`). The odd entries
/// are the "minimise cost" variants, which Linux maps like their even neighbours.
const TOS2PRIO: [u8; 16] = [
    TC_PRIO_BESTEFFORT,
    TC_PRIO_BESTEFFORT,
    TC_PRIO_BESTEFFORT,
    TC_PRIO_BESTEFFORT,
    TC_PRIO_BULK,
    TC_PRIO_BULK,
    TC_PRIO_BULK,
    TC_PRIO_BULK,
    TC_PRIO_INTERACTIVE,
    TC_PRIO_INTERACTIVE,
    TC_PRIO_INTERACTIVE,
    TC_PRIO_INTERACTIVE,
    TC_PRIO_INTERACTIVE_BULK,
    TC_PRIO_INTERACTIVE_BULK,
    TC_PRIO_INTERACTIVE_BULK,
    TC_PRIO_INTERACTIVE_BULK,
];

/// The priority Linux gives a TOS byte (`rt_tos2priority`).
pub fn tos_to_priority(tos: u8) -> u8 {
    TOS2PRIO[usize::from((tos & 0x1e) >> 1)]
}

/// The pfifo_fast band of a TOS byte.
pub fn tos_to_band(tos: u8) -> usize {
    usize::from(PRIO2BAND[usize::from(tos_to_priority(tos))])
}

/// The three-band priority FIFO.
#[derive(Debug)]
pub struct PfifoFast<P> {
    bands: [VecDeque<P>; 3],
    limit: usize,
    stats: QdiscStats,
}

impl<P> PfifoFast<P> {
    /// A pfifo_fast holding at most `limit` packets (the device's `txqueuelen`, 1000 by
    /// default in Linux).
    pub fn new(limit: usize) -> Result<Self, QdiscError> {
        if limit == 0 {
            return Err(QdiscError::Zero("limit"));
        }
        Ok(PfifoFast {
            bands: Default::default(),
            limit,
            stats: QdiscStats::default(),
        })
    }

    /// Packets queued in each band.
    pub fn band_lens(&self) -> [usize; 3] {
        [
            self.bands[0].len(),
            self.bands[1].len(),
            self.bands[2].len(),
        ]
    }
}

impl<P> Default for PfifoFast<P> {
    /// The Linux default: 1000 packets.
    fn default() -> Self {
        PfifoFast {
            bands: Default::default(),
            limit: 1000,
            stats: QdiscStats::default(),
        }
    }
}

impl<P: QueuedPacket> Qdisc<P> for PfifoFast<P> {
    fn enqueue(&mut self, packet: P, _now: Instant) -> Result<(), Dropped<P>> {
        if self.stats.qlen >= self.limit {
            self.stats.drops += 1;
            return Err(Dropped {
                packet,
                reason: DropReason::QueueFull,
            });
        }
        let band = usize::from(PRIO2BAND[(packet.priority() & 15) as usize]);
        self.stats.qlen += 1;
        self.stats.backlog += packet.len();
        self.bands[band].push_back(packet);
        Ok(())
    }

    fn dequeue(&mut self, _now: Instant) -> Option<P> {
        let p = self.bands.iter_mut().find_map(|b| b.pop_front())?;
        self.stats.qlen -= 1;
        self.stats.backlog -= p.len();
        self.stats.sent(p.len());
        Some(p)
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
    use super::super::sim::Pkt;
    use super::*;

    const LOWDELAY: u8 = 0x10;
    const THROUGHPUT: u8 = 0x08;

    fn t0() -> Instant {
        Instant::ZERO
    }

    #[test]
    fn tos_maps_to_bands_like_linux() {
        assert_eq!(tos_to_band(0x00), 1, "best effort");
        assert_eq!(tos_to_band(LOWDELAY), 0, "interactive");
        assert_eq!(tos_to_band(THROUGHPUT), 2, "bulk");
        assert_eq!(tos_to_band(0x04), 1, "reliability: best effort");
        assert_eq!(tos_to_band(0x02), 1, "min cost: best effort");
        assert_eq!(
            tos_to_band(0x18),
            1,
            "lowdelay+throughput: interactive bulk"
        );
        // DSCP EF (0xb8) keeps only the TOS bits 0x18 -> band 1, as in Linux.
        assert_eq!(tos_to_band(0xb8), 1);
        // The ECN bits do not matter.
        assert_eq!(tos_to_band(LOWDELAY | 0x03), 0);
    }

    #[test]
    fn interactive_overtakes_best_effort_which_overtakes_bulk() {
        let mut q = PfifoFast::default();
        q.enqueue(Pkt::new(1, 100, THROUGHPUT, 1), t0()).unwrap();
        q.enqueue(Pkt::new(2, 100, 0, 2), t0()).unwrap();
        q.enqueue(Pkt::new(3, 100, LOWDELAY, 3), t0()).unwrap();
        q.enqueue(Pkt::new(2, 100, 0, 4), t0()).unwrap();
        q.enqueue(Pkt::new(3, 100, LOWDELAY, 5), t0()).unwrap();
        assert_eq!(q.band_lens(), [2, 2, 1]);
        let order: Vec<u64> = std::iter::from_fn(|| q.dequeue(t0()))
            .map(|p| p.seq)
            .collect();
        assert_eq!(order, vec![3, 5, 2, 4, 1]);
        assert_eq!(q.stats().packets, 5);
        assert_eq!(q.stats().bytes, 500);
        assert_eq!(q.stats().backlog, 0);
    }

    #[test]
    fn the_1001st_packet_is_dropped_and_counted() {
        let mut q = PfifoFast::default();
        for i in 0..1000 {
            q.enqueue(Pkt::new(1, 60, 0, i), t0()).unwrap();
        }
        let err = q
            .enqueue(Pkt::new(1, 60, LOWDELAY, 1000), t0())
            .unwrap_err();
        assert_eq!(err.reason, DropReason::QueueFull);
        assert_eq!(err.packet.seq, 1000, "the new packet comes back");
        assert_eq!(q.stats().drops, 1);
        assert_eq!(q.len(), 1000);
        assert_eq!(q.stats().backlog, 60_000);
        q.dequeue(t0()).unwrap();
        q.enqueue(Pkt::new(1, 60, 0, 1001), t0()).unwrap();
    }

    #[test]
    fn custom_priority_overrides_tos() {
        #[derive(Debug)]
        struct Prio(u32);
        impl QueuedPacket for Prio {
            fn len(&self) -> usize {
                1
            }
            fn tos(&self) -> u8 {
                0
            }
            fn flow_hash(&self) -> u32 {
                0
            }
            fn priority(&self) -> u32 {
                self.0
            }
        }
        let mut q = PfifoFast::new(10).unwrap();
        q.enqueue(Prio(0), t0()).unwrap();
        q.enqueue(Prio(7), t0()).unwrap(); // TC_PRIO_CONTROL -> band 0
        assert_eq!(q.band_lens(), [1, 1, 0]);
        assert_eq!(q.dequeue(t0()).unwrap().0, 7);
    }

    #[test]
    fn empty_queue_has_no_wakeup_and_zero_limit_is_refused() {
        let mut q: PfifoFast<Pkt> = PfifoFast::default();
        assert_eq!(q.next_wakeup(t0()), None);
        assert!(q.dequeue(t0()).is_none());
        q.enqueue(Pkt::new(1, 10, 0, 0), t0()).unwrap();
        assert_eq!(q.next_wakeup(t0()), Some(t0()));
        assert!(PfifoFast::<Pkt>::new(0).is_err());
    }
}
