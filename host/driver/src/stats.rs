//! The driver's own counters, per queue.
//!
//! Each queue owns an `Arc<QueueStats>` and bumps it with relaxed atomic adds (no lock, no
//! allocation); the control path ([`crate::ethtool`]) reads the same `Arc` from any thread while
//! the queue runs on its poller thread. Names are written once, in the macro below.

use std::sync::atomic::{AtomicU64, Ordering};

macro_rules! queue_stats {
    ($( $(#[doc = $doc:literal])+ $name:ident, )*) => {
        /// Counters of one queue (RX or TX), as the driver saw things.
        #[derive(Debug, Default)]
        pub struct QueueStats {
            $( $(#[doc = $doc])+ pub $name: AtomicU64, )*
        }

        /// Counter names, in the order [`QueueStats::values`] returns them.
        pub const NAMES: &[&str] = &[$( stringify!($name), )*];

        impl QueueStats {
            /// All counters, in [`NAMES`] order.
            pub fn values(&self) -> [u64; NAMES.len()] {
                [$( self.$name.load(Ordering::Relaxed), )*]
            }
        }
    };
}

queue_stats! {
    /// Frames handed to the receive sink.
    rx_packets,
    /// Bytes handed to the receive sink.
    rx_bytes,
    /// Completions dropped: length 0 or larger than the buffer.
    rx_drop_bad_len,
    /// Completions dropped: ring index other than the next expected buffer.
    rx_drop_bad_index,
    /// Completions dropped: queue number other than this queue.
    rx_drop_bad_queue,
    /// Completion records skipped: stale phase bit while a later record was valid.
    rx_drop_stale_phase,
    /// Completions dropped: undefined codes or flags (including a TX completion on an RX ring).
    rx_drop_malformed,
    /// Refills that found the mempool empty.
    rx_pool_empty,
    /// RX doorbell (PROD) writes.
    rx_doorbells,
    /// NAPI polls run.
    napi_polls,
    /// NAPI polls that used their whole budget.
    napi_budget_exhausted,
    /// Interrupt re-arms.
    irq_rearms,
    /// Switches from interrupt mode to busy polling (adaptive mode).
    to_busy_poll,
    /// Switches from busy polling back to interrupts (adaptive mode).
    to_interrupt,
    /// Frames given to the card.
    tx_packets,
    /// Bytes given to the card.
    tx_bytes,
    /// Frames the card completed with its ERROR flag.
    tx_errors,
    /// TX doorbell (PROD) writes.
    tx_doorbells,
    /// TX completions dropped: malformed, wrong queue or an index that ends no frame in flight.
    tx_cpl_bad,
    /// Frames retired by a later frame's completion (their own completion was lost).
    tx_cpl_skipped,
    /// Submits that found the ring full.
    tx_ring_full,
}

impl QueueStats {
    /// Adds `n` to `counter` (relaxed: counters are statistics, not synchronisation).
    #[inline]
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// The counter called `name`, if there is one.
    pub fn get(&self, name: &str) -> Option<u64> {
        let i = NAMES.iter().position(|n| *n == name)?;
        Some(self.values()[i])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_values() {
        let s = QueueStats::default();
        QueueStats::add(&s.rx_drop_bad_len, 3);
        QueueStats::add(&s.tx_ring_full, 1);
        assert_eq!(s.get("rx_drop_bad_len"), Some(3));
        assert_eq!(s.get("tx_ring_full"), Some(1));
        assert_eq!(s.get("nope"), None);
        assert_eq!(NAMES.len(), s.values().len());
    }
}
