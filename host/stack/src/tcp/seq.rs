//! TCP sequence numbers: 32-bit values compared modulo 2³² (RFC 9293 §3.4, Linux `before()` /
//! `after()`). Two numbers compare by the sign of their wrapping difference, so the order is
//! only meaningful for numbers less than 2³¹ apart — which every window guarantees.

use core::cmp::Ordering;
use core::fmt;
use core::ops::{Add, AddAssign, Sub};

/// A sequence number.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Seq(pub u32);

impl Seq {
    /// The signed distance from `other` to `self` (positive when `self` is after `other`).
    #[inline]
    pub fn diff(self, other: Seq) -> i32 {
        self.0.wrapping_sub(other.0) as i32
    }

    /// The unsigned distance from `other` up to `self`; zero when `self` is not after `other`.
    #[inline]
    pub fn since(self, other: Seq) -> u32 {
        self.diff(other).max(0) as u32
    }

    /// The later of two numbers.
    #[inline]
    pub fn max(self, other: Seq) -> Seq {
        if self.diff(other) >= 0 {
            self
        } else {
            other
        }
    }

    /// The earlier of two numbers.
    #[inline]
    pub fn min(self, other: Seq) -> Seq {
        if self.diff(other) <= 0 {
            self
        } else {
            other
        }
    }

    /// True when `lo <= self < hi` in sequence space.
    #[inline]
    pub fn in_range(self, lo: Seq, hi: Seq) -> bool {
        self.diff(lo) >= 0 && self.diff(hi) < 0
    }
}

impl fmt::Debug for Seq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Display for Seq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl Add<u32> for Seq {
    type Output = Seq;
    #[inline]
    fn add(self, n: u32) -> Seq {
        Seq(self.0.wrapping_add(n))
    }
}

impl Add<usize> for Seq {
    type Output = Seq;
    #[inline]
    fn add(self, n: usize) -> Seq {
        // Lengths added to sequence numbers are window-bounded; truncation is the wrap.
        Seq(self.0.wrapping_add(n as u32))
    }
}

impl AddAssign<u32> for Seq {
    #[inline]
    fn add_assign(&mut self, n: u32) {
        self.0 = self.0.wrapping_add(n);
    }
}

impl Sub<u32> for Seq {
    type Output = Seq;
    #[inline]
    fn sub(self, n: u32) -> Seq {
        Seq(self.0.wrapping_sub(n))
    }
}

impl PartialOrd for Seq {
    /// Modulo-2³² order. Not transitive over the whole ring (no such order exists); sound for
    /// numbers within half the space of each other.
    #[inline]
    fn partial_cmp(&self, other: &Seq) -> Option<Ordering> {
        Some(self.diff(*other).cmp(&0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compares_across_the_wrap() {
        let a = Seq(u32::MAX - 10);
        let b = a + 20u32;
        assert_eq!(b.0, 9);
        assert!(a < b);
        assert!(b > a);
        assert_eq!(b.diff(a), 20);
        assert_eq!(a.diff(b), -20);
        assert_eq!(b.since(a), 20);
        assert_eq!(a.since(b), 0);
        assert_eq!(a.max(b), b);
        assert_eq!(a.min(b), a);
        assert!(Seq(2).in_range(a, b));
        assert!(!b.in_range(a, b));
        assert!(a.in_range(a, b));
    }
}
