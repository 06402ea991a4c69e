//! Ring index arithmetic shared by every queue.
//!
//! Producer and consumer indices are free-running 16-bit counters (as in the `*q::PROD`/`CONS`
//! registers); a ring has `2^log2` entries with `log2 <= 15`, so `prod - cons` (wrapping) is
//! always the number of entries in use, and full (`== size`) differs from empty (`== 0`).

use oxnic_abi::features::{MAX_RING_LOG2, MIN_RING_LOG2};

/// Why a ring size was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("ring size 2^{log2} is outside 2^{min}..=2^{max}")]
pub struct RingSizeError {
    /// Requested log2.
    pub log2: u32,
    /// Smallest allowed log2.
    pub min: u32,
    /// Largest allowed log2 (the card's `MAX_RING_LOG2`).
    pub max: u32,
}

/// Geometry of one ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ring {
    log2: u32,
}

impl Ring {
    /// A ring of `2^log2` entries; `card_max` is the card's `MAX_RING_LOG2`.
    pub fn new(log2: u32, card_max: u32) -> Result<Self, RingSizeError> {
        let max = card_max.min(MAX_RING_LOG2);
        if !(MIN_RING_LOG2..=max).contains(&log2) {
            return Err(RingSizeError {
                log2,
                min: MIN_RING_LOG2,
                max,
            });
        }
        Ok(Ring { log2 })
    }

    /// log2 of the entry count.
    pub fn log2(self) -> u32 {
        self.log2
    }

    /// Entries.
    pub fn size(self) -> usize {
        1 << self.log2
    }

    /// Slot of free-running index `i`.
    #[inline]
    pub fn slot(self, i: u16) -> usize {
        usize::from(i) & (self.size() - 1)
    }

    /// Entries between `cons` and `prod`.
    #[inline]
    pub fn used(self, prod: u16, cons: u16) -> usize {
        usize::from(prod.wrapping_sub(cons))
    }

    /// Free entries.
    #[inline]
    pub fn free(self, prod: u16, cons: u16) -> usize {
        self.size().saturating_sub(self.used(prod, cons))
    }

    /// The phase a completion at free-running index `i` carries when it is new: 1 on the first
    /// pass over the ring, flipping each wrap. (65536 is an even number of passes, so the 16-bit
    /// wrap keeps the alternation.)
    #[inline]
    pub fn phase(self, i: u16) -> bool {
        (i >> self.log2) & 1 == 0
    }

    /// If `index` names the entry at free-running position `i`, either as the free-running
    /// value or as its slot (the card may report either), true.
    #[inline]
    pub fn names(self, index: u16, i: u16) -> bool {
        index == i || usize::from(index) == self.slot(i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_bounded() {
        assert!(Ring::new(2, 12).is_err());
        assert!(Ring::new(13, 12).is_err());
        assert_eq!(
            Ring::new(16, 16),
            Err(RingSizeError {
                log2: 16,
                min: 3,
                max: 15
            })
        );
        assert_eq!(Ring::new(15, 20).unwrap().size(), 32768);
    }

    #[test]
    fn indices_wrap_at_16_bits() {
        let r = Ring::new(3, 12).unwrap();
        assert_eq!(r.used(2, 65534), 4);
        assert_eq!(r.free(2, 65534), 4);
        assert_eq!(r.free(10, 2), 0, "full");
        assert_eq!(r.free(2, 10), 0, "nonsense from a device never underflows");
        assert_eq!(r.slot(65535), 7);
        assert_eq!(r.slot(65536u32 as u16), 0);
        assert!(r.names(7, 65535) && r.names(65535, 65535) && !r.names(6, 65535));
    }

    #[test]
    fn phase_flips_each_pass_and_survives_the_u16_wrap() {
        let r = Ring::new(3, 12).unwrap();
        assert!(r.phase(0) && r.phase(7));
        assert!(!r.phase(8) && !r.phase(15));
        assert!(r.phase(16));
        // Last pass before the wrap has phase 0, the pass after it (index 0 again) phase 1.
        assert!(!r.phase(65535));
        assert!(r.phase(65535u16.wrapping_add(1)));
        let big = Ring::new(15, 15).unwrap();
        assert!(big.phase(0) && !big.phase(32768) && big.phase(32767));
    }
}
