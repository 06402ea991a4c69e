//! The receive side's out-of-order queue (Linux `tcp_data_queue_ofo`) and the SACK blocks it
//! reports (RFC 2018 §4, RFC 9293 §3.10.7.4).
//!
//! Segments that arrive beyond `rcv_nxt` wait here until the hole in front of them fills; then
//! [`OooQueue::drain_contiguous`] hands the now in-order bytes to the socket. The queue is one
//! ring of `limit` bytes, allocated on first use and kept, indexed by the distance from
//! `rcv_nxt`, plus a sorted list of the received ranges. So in steady state a segment costs a
//! copy into the ring and no allocation, and the queue never holds data further than `limit`
//! bytes past `rcv_nxt` — the receive window it advertises.
//!
//! Where a segment overlaps data already held, the bytes received first are kept: a peer cannot
//! rewrite data it has already sent (the overlap policy of RFC 9293 §3.10.7.4 leaves this open;
//! Linux keeps the first copy too).
//!
//! Each change to a range stamps it; [`OooQueue::sack_blocks`] reports the ranges in stamp
//! order, newest first, so the first block covers the segment that triggered the ACK and the
//! others repeat the most recently reported ones (RFC 2018 §4).

use core::fmt;

use crate::tcp::seq::Seq;
use crate::wire::tcp::{SackBlock, MAX_SACK_BLOCKS};

/// The largest byte limit (2³⁰, the largest window window scaling can advertise, RFC 7323 §2.3).
pub const MAX_LIMIT: usize = 1 << 30;

/// How many separate ranges the queue tracks. A segment that would start one more is dropped,
/// so a peer sending one-byte segments with gaps cannot make each insert cost more than a
/// short memmove.
pub const MAX_RANGES: usize = 1024;

/// One received range `[start, end)` and when it last changed.
#[derive(Debug, Clone, Copy)]
struct Range {
    start: Seq,
    end: Seq,
    stamp: u64,
}

/// Segments received beyond rcv_nxt, held until the hole before them fills.
pub struct OooQueue {
    /// Data is held only in `[base, base + limit)`.
    limit: usize,
    /// The ring: empty until the first byte is stored, then exactly `limit` bytes.
    ring: Vec<u8>,
    /// Ring index of the byte at `base`.
    head: usize,
    /// The `rcv_nxt` the queue was last told; every range lies in `[base, base + limit)`.
    base: Seq,
    /// Received ranges, sorted, neither overlapping nor adjacent.
    ranges: Vec<Range>,
    /// Bytes held, the sum of the ranges' lengths.
    bytes: usize,
    /// Stamp for the next change.
    clock: u64,
}

impl fmt::Debug for OooQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The ring's contents are payload; the ranges say what matters.
        f.debug_struct("OooQueue")
            .field("limit", &self.limit)
            .field("base", &self.base)
            .field("bytes", &self.bytes)
            .field(
                "ranges",
                &self
                    .ranges
                    .iter()
                    .map(|r| (r.start, r.end))
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl OooQueue {
    /// A queue holding at most `limit` bytes of out-of-order data.
    ///
    /// The limit is a span: only data within `limit` bytes past `rcv_nxt` is held, which also
    /// bounds the bytes held. It is capped at [`MAX_LIMIT`]. Nothing is allocated until the
    /// first segment is stored.
    pub fn new(limit: usize) -> Self {
        OooQueue {
            limit: limit.min(MAX_LIMIT),
            ring: Vec::new(),
            head: 0,
            base: Seq(0),
            ranges: Vec::new(),
            bytes: 0,
            clock: 0,
        }
    }

    /// Changes the byte limit. Data lying beyond the new limit is dropped; the ring is
    /// reallocated when data is held, otherwise on the next insert.
    pub fn set_limit(&mut self, limit: usize) {
        let limit = limit.min(MAX_LIMIT);
        if limit == self.limit {
            return;
        }
        if self.ranges.is_empty() {
            self.limit = limit;
            self.ring = Vec::new();
            self.head = 0;
            return;
        }
        let mut ring = vec![0u8; limit];
        let mut kept = Vec::with_capacity(self.ranges.len());
        let mut bytes = 0;
        for r in &self.ranges {
            let lo = self.off(r.start);
            let hi = self.off(r.end).min(limit);
            if lo >= hi {
                break;
            }
            let mut at = lo;
            let (ring_ref, head) = (&self.ring, self.head);
            ring_read(ring_ref, head, lo, hi - lo, &mut |chunk: &[u8]| {
                ring[at..at + chunk.len()].copy_from_slice(chunk);
                at += chunk.len();
            });
            bytes += hi - lo;
            kept.push(Range {
                start: r.start,
                end: self.base + hi,
                stamp: r.stamp,
            });
        }
        self.ring = ring;
        self.head = 0;
        self.ranges = kept;
        self.bytes = bytes;
        self.limit = limit;
    }

    /// The byte limit.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Stores `data` starting at `seq` (must be after `rcv_nxt`; the part at or before rcv_nxt is ignored,
    /// overlaps with stored data are trimmed, adjacent/overlapping ranges merged). Returns the bytes actually
    /// stored; data that does not fit the byte limit is dropped (returns fewer). Records the block containing this
    /// segment as the most recent one for SACK ordering.
    ///
    /// "Before `rcv_nxt`" means at most 2³¹ bytes before it; a `seq` further away counts as
    /// after `rcv_nxt` and lies beyond any limit, so it is dropped too. A segment that would
    /// start a new range when [`MAX_RANGES`] are already held is dropped.
    pub fn insert(&mut self, rcv_nxt: Seq, seq: Seq, data: &[u8]) -> usize {
        if self.limit == 0 || data.is_empty() {
            return 0;
        }
        self.rebase(rcv_nxt);

        // Clip to [rcv_nxt, rcv_nxt + limit), working in offsets from rcv_nxt.
        let rel = i64::from(seq.diff(rcv_nxt));
        let skip = usize::try_from(-rel).unwrap_or(0);
        let Some(data) = data.get(skip..).filter(|d| !d.is_empty()) else {
            return 0;
        };
        let lo = usize::try_from(rel).unwrap_or(0);
        if lo >= self.limit {
            return 0;
        }
        let hi = lo + data.len().min(self.limit - lo);
        let data = &data[..hi - lo];

        // Ranges i..j overlap or touch [lo, hi) and merge with it.
        let i = self.ranges.partition_point(|r| self.off(r.end) < lo);
        let j = self.ranges.partition_point(|r| self.off(r.start) <= hi);
        if i == j && self.ranges.len() >= MAX_RANGES {
            return 0;
        }
        if self.ring.len() != self.limit {
            self.ring = vec![0u8; self.limit];
            self.head = 0;
        }

        // Copy only into the gaps: bytes already held stay as first received.
        let mut stored = 0;
        let mut cur = lo;
        let mut merged_lo = lo;
        let mut merged_hi = hi;
        for k in i..j {
            let (r_lo, r_hi) = (self.off(self.ranges[k].start), self.off(self.ranges[k].end));
            merged_lo = merged_lo.min(r_lo);
            merged_hi = merged_hi.max(r_hi);
            if r_lo > cur {
                let gap_end = r_lo.min(hi);
                ring_write(
                    &mut self.ring,
                    self.head,
                    cur,
                    &data[cur - lo..gap_end - lo],
                );
                stored += gap_end - cur;
            }
            cur = cur.max(r_hi);
        }
        if cur < hi {
            ring_write(&mut self.ring, self.head, cur, &data[cur - lo..]);
            stored += hi - cur;
        }

        self.clock += 1;
        let merged = Range {
            start: self.base + merged_lo,
            end: self.base + merged_hi,
            stamp: self.clock,
        };
        if i == j {
            self.ranges.insert(i, merged);
        } else {
            self.ranges[i] = merged;
            self.ranges.drain(i + 1..j);
        }
        self.bytes += stored;
        stored
    }

    /// After rcv_nxt advanced (in-order data arrived): appends to `out` every byte now contiguous from `rcv_nxt`
    /// and returns the new rcv_nxt. Data now entirely before rcv_nxt is discarded.
    ///
    /// `out` is called once, or twice when the bytes wrap around the ring.
    pub fn drain_contiguous(&mut self, rcv_nxt: Seq, out: &mut impl FnMut(&[u8])) -> Seq {
        self.rebase(rcv_nxt);
        let mut nxt = rcv_nxt;
        // Ranges never touch, so at most the first one starts at rcv_nxt; loop for robustness.
        while let Some(first) = self.ranges.first().copied() {
            if first.start != nxt {
                break;
            }
            let len = self.off(first.end);
            ring_read(&self.ring, self.head, 0, len, out);
            self.bytes -= len;
            self.ranges.remove(0);
            nxt = first.end;
            self.rebase(nxt);
        }
        nxt
    }

    /// Up to `max` SACK blocks (RFC 2018 §4: the first block covers the most recently received segment, then
    /// the other most recently changed blocks, no duplicates), all beyond `rcv_nxt`. Optional D-SACK not needed.
    ///
    /// `max` is capped at [`MAX_SACK_BLOCKS`]; the caller passes fewer when the option space is
    /// short (3 with timestamps). Returns the blocks and how many of them are valid.
    pub fn sack_blocks(&self, rcv_nxt: Seq, max: usize) -> ([SackBlock; MAX_SACK_BLOCKS], usize) {
        let mut out = [SackBlock::default(); MAX_SACK_BLOCKS];
        let mut n = 0;
        // Stamps are unique, so "newest stamp below the last one picked" walks them in order.
        let mut below = u64::MAX;
        while n < max.min(MAX_SACK_BLOCKS) {
            let next = self
                .ranges
                .iter()
                .filter(|r| r.stamp < below && r.start.diff(rcv_nxt) > 0)
                .max_by_key(|r| r.stamp);
            let Some(r) = next else { break };
            out[n] = SackBlock {
                left: r.start.0,
                right: r.end.0,
            };
            below = r.stamp;
            n += 1;
        }
        (out, n)
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// True when nothing is held.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// Memory the queue holds: its ring and its list of ranges.
    pub fn mem(&self) -> usize {
        self.ring.capacity() + self.ranges.capacity() * core::mem::size_of::<Range>()
    }

    /// How many separate ranges are held.
    pub fn range_count(&self) -> usize {
        self.ranges.len()
    }

    /// The held ranges `[start, end)` in sequence order.
    pub fn ranges(&self) -> impl Iterator<Item = (Seq, Seq)> + '_ {
        self.ranges.iter().map(|r| (r.start, r.end))
    }

    /// Drops everything held; the ring stays allocated for reuse.
    pub fn clear(&mut self) {
        self.ranges.clear();
        self.bytes = 0;
        self.head = 0;
    }

    /// Highest sequence held (end of last range), if any.
    pub fn highest(&self) -> Option<Seq> {
        self.ranges.last().map(|r| r.end)
    }

    /// Offset of `s` from `base`, for sequence numbers of held data (always below `limit`).
    fn off(&self, s: Seq) -> usize {
        s.0.wrapping_sub(self.base.0) as usize
    }

    /// Moves `base` to `new_base`, dropping data before it (or, if `rcv_nxt` went backwards —
    /// a caller bug — data now beyond the limit), and keeps every held byte at its ring slot.
    fn rebase(&mut self, new_base: Seq) {
        let d = new_base.diff(self.base);
        if d == 0 {
            return;
        }
        if self.ranges.is_empty() {
            self.base = new_base;
            self.head = 0;
            return;
        }
        // Ranges are non-empty, so the ring is allocated and `cap` is positive.
        let cap = self.ring.len();
        if d > 0 {
            let adv = d as usize;
            let gone = self.ranges.partition_point(|r| self.off(r.end) <= adv);
            for r in &self.ranges[..gone] {
                self.bytes -= r.end.0.wrapping_sub(r.start.0) as usize;
            }
            self.ranges.drain(..gone);
            if let Some(first) = self.ranges.first_mut() {
                let lo = first.start.0.wrapping_sub(self.base.0) as usize;
                if lo < adv {
                    self.bytes -= adv - lo;
                    first.start = new_base;
                }
            }
            self.head = (self.head + adv % cap) % cap;
        } else {
            let back = d.unsigned_abs() as usize;
            // Each range's offset from the new base is its old offset plus `back`.
            let limit = self.limit;
            let keep = self
                .ranges
                .partition_point(|r| self.off(r.start) + back < limit);
            for r in &self.ranges[keep..] {
                self.bytes -= r.end.0.wrapping_sub(r.start.0) as usize;
            }
            self.ranges.truncate(keep);
            if let Some(last) = self.ranges.last_mut() {
                let hi = last.end.0.wrapping_sub(self.base.0) as usize + back;
                if hi > limit {
                    self.bytes -= hi - limit;
                    last.end = new_base + limit;
                }
            }
            self.head = (self.head + cap - back % cap) % cap;
        }
        self.base = new_base;
        if self.ranges.is_empty() {
            self.head = 0;
        }
    }
}

/// Writes `data` at `off` bytes past the ring slot `head`, wrapping around the ring's end.
fn ring_write(ring: &mut [u8], head: usize, off: usize, data: &[u8]) {
    let cap = ring.len();
    let at = (head + off) % cap;
    let first = data.len().min(cap - at);
    ring[at..at + first].copy_from_slice(&data[..first]);
    ring[..data.len() - first].copy_from_slice(&data[first..]);
}

/// Hands `len` bytes at `off` bytes past `head` to `out`, in one or two slices.
fn ring_read(ring: &[u8], head: usize, off: usize, len: usize, out: &mut impl FnMut(&[u8])) {
    let cap = ring.len();
    if len == 0 || cap == 0 {
        return;
    }
    let at = (head + off) % cap;
    let first = len.min(cap - at);
    out(&ring[at..at + first]);
    if len > first {
        out(&ring[..len - first]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn drain(q: &mut OooQueue, rcv_nxt: Seq) -> (Vec<u8>, Seq) {
        let mut got = Vec::new();
        let nxt = q.drain_contiguous(rcv_nxt, &mut |b: &[u8]| got.extend_from_slice(b));
        (got, nxt)
    }

    fn blocks(q: &OooQueue, rcv_nxt: Seq, max: usize) -> Vec<(u32, u32)> {
        let (b, n) = q.sack_blocks(rcv_nxt, max);
        b[..n].iter().map(|b| (b.left, b.right)).collect()
    }

    /// Payload whose bytes name their sequence number, so misplaced bytes show.
    fn payload(seq: Seq, len: usize) -> Vec<u8> {
        (0..len).map(|i| (seq + i).0 as u8 ^ 0x5a).collect()
    }

    #[test]
    fn holds_out_of_order_then_delivers_when_hole_fills() {
        let mut q = OooQueue::new(10_000);
        let nxt = Seq(1000);
        assert_eq!(q.insert(nxt, Seq(1200), &payload(Seq(1200), 100)), 100);
        assert_eq!(q.insert(nxt, Seq(1100), &payload(Seq(1100), 100)), 100);
        assert_eq!(q.bytes(), 200);
        assert_eq!(q.range_count(), 1, "adjacent segments merge");
        // Nothing contiguous yet: rcv_nxt stays.
        let (got, n) = drain(&mut q, nxt);
        assert!(got.is_empty());
        assert_eq!(n, nxt);
        // The in-order segment [1000, 1100) arrives and is delivered by the caller.
        let (got, n) = drain(&mut q, Seq(1100));
        assert_eq!(got, payload(Seq(1100), 200));
        assert_eq!(n, Seq(1300));
        assert!(q.is_empty());
        assert_eq!(q.bytes(), 0);
        assert_eq!(q.highest(), None);
    }

    #[test]
    fn overlaps_are_trimmed_and_first_copy_kept() {
        let mut q = OooQueue::new(1000);
        let nxt = Seq(0);
        assert_eq!(q.insert(nxt, Seq(10), &[1; 10]), 10);
        assert_eq!(q.insert(nxt, Seq(30), &[2; 10]), 10);
        // Covers both plus the gap between and 5 bytes each side.
        assert_eq!(q.insert(nxt, Seq(5), &[9; 40]), 20);
        assert_eq!(q.bytes(), 40);
        assert_eq!(q.ranges().collect::<Vec<_>>(), vec![(Seq(5), Seq(45))]);
        // Fully duplicate: nothing stored.
        assert_eq!(q.insert(nxt, Seq(12), &[7; 5]), 0);
        let (got, n) = drain(&mut q, Seq(5));
        assert_eq!(n, Seq(45));
        let mut want = vec![9u8; 5];
        want.extend([1; 10]);
        want.extend([9; 10]);
        want.extend([2; 10]);
        want.extend([9; 5]);
        assert_eq!(got, want);
    }

    #[test]
    fn data_at_or_before_rcv_nxt_is_ignored() {
        let mut q = OooQueue::new(1000);
        assert_eq!(q.insert(Seq(100), Seq(50), &[1; 50]), 0);
        assert_eq!(
            q.insert(Seq(100), Seq(50), &[1; 60]),
            10,
            "only the part past rcv_nxt"
        );
        assert_eq!(q.ranges().collect::<Vec<_>>(), vec![(Seq(100), Seq(110))]);
        // A block starting at rcv_nxt is not a SACK block: it is for the cumulative ACK.
        assert!(blocks(&q, Seq(100), 4).is_empty());
        assert_eq!(drain(&mut q, Seq(100)), (vec![1; 10], Seq(110)));
    }

    #[test]
    fn limit_bounds_the_span_past_rcv_nxt() {
        let mut q = OooQueue::new(100);
        let nxt = Seq(0);
        assert_eq!(
            q.insert(nxt, Seq(90), &[1; 20]),
            10,
            "the tail past the limit is dropped"
        );
        assert_eq!(q.insert(nxt, Seq(100), &[1; 20]), 0);
        assert_eq!(q.insert(nxt, Seq(u32::MAX / 2 + 7), &[1; 20]), 0);
        assert_eq!(q.bytes(), 10);
        assert_eq!(q.highest(), Some(Seq(100)));
        // Once rcv_nxt moves, the window moves with it.
        let (got, n) = drain(&mut q, Seq(50));
        assert!(got.is_empty());
        assert_eq!(n, Seq(50));
        assert_eq!(q.insert(Seq(50), Seq(100), &[2; 60]), 50);
        assert_eq!(q.bytes(), 60);
    }

    #[test]
    fn zero_limit_holds_nothing() {
        let mut q = OooQueue::new(0);
        assert_eq!(q.insert(Seq(0), Seq(5), &[1; 5]), 0);
        assert!(q.is_empty());
        assert_eq!(drain(&mut q, Seq(0)).1, Seq(0));
        assert!(blocks(&q, Seq(0), 4).is_empty());
    }

    #[test]
    fn works_across_the_sequence_wrap() {
        let mut q = OooQueue::new(4096);
        let nxt = Seq(u32::MAX - 99);
        let a = Seq(u32::MAX - 49); // 50 past rcv_nxt, runs over the wrap
        let b = Seq(200);
        assert_eq!(q.insert(nxt, b, &payload(b, 100)), 100);
        assert_eq!(q.insert(nxt, a, &payload(a, 100)), 100);
        assert_eq!(
            q.ranges().collect::<Vec<_>>(),
            vec![(a, a + 100u32), (b, b + 100u32)]
        );
        assert_eq!(q.highest(), Some(Seq(300)));
        assert_eq!(
            blocks(&q, nxt, 4),
            vec![(a.0, 50), (200, 300)],
            "newest first"
        );
        let (got, n) = drain(&mut q, a);
        assert_eq!(got, payload(a, 100));
        assert_eq!(n, Seq(50));
        assert_eq!(q.insert(n, n, &payload(n, 150)), 150);
        let (got, n) = drain(&mut q, n);
        assert_eq!(got, payload(Seq(50), 250));
        assert_eq!(n, Seq(300));
    }

    #[test]
    fn ring_wraps_inside_a_range() {
        // A small ring that the queue walks around several times.
        let mut q = OooQueue::new(64);
        let mut nxt = Seq(0);
        let mut delivered = Vec::new();
        for _ in 0..20 {
            let s = nxt + 10u32;
            assert_eq!(q.insert(nxt, s, &payload(s, 50)), 50);
            // The 10 missing bytes arrive in order.
            delivered.extend(payload(nxt, 10));
            let (got, n) = drain(&mut q, nxt + 10u32);
            delivered.extend(got);
            assert_eq!(n, nxt + 60u32);
            nxt = n;
        }
        assert_eq!(delivered, payload(Seq(0), 1200));
    }

    #[test]
    fn sack_blocks_follow_rfc2018_order() {
        let mut q = OooQueue::new(100_000);
        let nxt = Seq(1000);
        for s in [2000u32, 4000, 6000, 8000, 10_000] {
            q.insert(nxt, Seq(s), &[0; 500]);
        }
        assert_eq!(
            blocks(&q, nxt, 4),
            vec![(10_000, 10_500), (8000, 8500), (6000, 6500), (4000, 4500)]
        );
        // A segment extending the block at 4000 makes it first; the rest keep their order.
        q.insert(nxt, Seq(4500), &[0; 500]);
        assert_eq!(
            blocks(&q, nxt, 3),
            vec![(4000, 5000), (10_000, 10_500), (8000, 8500)]
        );
        // A duplicate segment inside the block at 2000 still names its block first (RFC 2018
        // §4: the block containing the segment that triggered this ACK).
        assert_eq!(q.insert(nxt, Seq(2100), &[0; 100]), 0);
        assert_eq!(blocks(&q, nxt, 2), vec![(2000, 2500), (4000, 5000)]);
        // A segment bridging two blocks reports the merged block once.
        q.insert(nxt, Seq(8500), &[0; 1500]);
        let b = blocks(&q, nxt, 4);
        assert_eq!(b[0], (8000, 10_500));
        assert_eq!(b.len(), 4);
        assert_eq!(b.iter().filter(|x| x.0 == 8000).count(), 1);
        assert!(blocks(&q, nxt, 0).is_empty());
        assert_eq!(blocks(&q, nxt, 99).len(), 4);
    }

    #[test]
    fn sack_blocks_skip_data_not_past_rcv_nxt() {
        let mut q = OooQueue::new(10_000);
        q.insert(Seq(0), Seq(100), &[0; 100]);
        q.insert(Seq(0), Seq(300), &[0; 100]);
        // The caller has moved rcv_nxt to 150 but not drained yet.
        assert_eq!(blocks(&q, Seq(150), 4), vec![(300, 400)]);
    }

    #[test]
    fn range_count_is_bounded() {
        let mut q = OooQueue::new(10_000);
        let nxt = Seq(0);
        for k in 0..MAX_RANGES as u32 {
            assert_eq!(q.insert(nxt, Seq(1 + 2 * k), &[1]), 1);
        }
        let past = Seq(10 + 2 * MAX_RANGES as u32);
        assert_eq!(
            q.insert(nxt, past, &[1]),
            0,
            "a new range beyond the bound is dropped"
        );
        assert_eq!(q.range_count(), MAX_RANGES);
        // Filling a gap merges and is always accepted.
        assert_eq!(q.insert(nxt, Seq(2), &[1]), 1);
        assert_eq!(q.range_count(), MAX_RANGES - 1);
        assert_eq!(q.insert(nxt, past, &[1]), 1);
    }

    #[test]
    fn set_limit_keeps_data_within_the_new_limit() {
        let mut q = OooQueue::new(1000);
        let nxt = Seq(u32::MAX - 10);
        let a = nxt + 5u32;
        let b = nxt + 300u32;
        q.insert(nxt, a, &payload(a, 100));
        q.insert(nxt, b, &payload(b, 100));
        q.set_limit(350);
        assert_eq!(q.limit(), 350);
        assert_eq!(q.bytes(), 150);
        assert_eq!(q.highest(), Some(nxt + 350u32));
        q.set_limit(2000);
        assert_eq!(q.insert(nxt, nxt, &payload(nxt, 5)), 5);
        let (got, n) = drain(&mut q, nxt);
        assert_eq!(got, payload(nxt, 105));
        assert_eq!(n, nxt + 105u32);
        let (got, n) = drain(&mut q, b);
        assert_eq!(got, payload(b, 50));
        assert_eq!(n, b + 50u32);
        q.set_limit(0);
        assert_eq!(q.insert(n, n + 1u32, &[1]), 0);
    }

    #[test]
    fn clear_forgets_everything() {
        let mut q = OooQueue::new(1000);
        q.insert(Seq(0), Seq(10), &[1; 10]);
        q.clear();
        assert!(q.is_empty());
        assert_eq!(q.bytes(), 0);
        assert!(blocks(&q, Seq(0), 4).is_empty());
        assert_eq!(q.insert(Seq(0), Seq(10), &[2; 10]), 10);
        assert_eq!(drain(&mut q, Seq(10)).0, vec![2; 10]);
    }

    #[test]
    fn rcv_nxt_moving_backwards_does_not_break_the_queue() {
        let mut q = OooQueue::new(100);
        q.insert(Seq(1000), Seq(1050), &payload(Seq(1050), 50));
        // A confused caller moves rcv_nxt back by 40: the window now ends at 1060, so the
        // held range is cut there, and the queue keeps working.
        assert_eq!(q.insert(Seq(960), Seq(1000), &payload(Seq(1000), 10)), 10);
        assert_eq!(q.highest(), Some(Seq(1060)));
        assert_eq!(q.bytes(), 20);
        let (got, n) = drain(&mut q, Seq(1000));
        assert_eq!(got, payload(Seq(1000), 10));
        assert_eq!(n, Seq(1010));
        // [1050, 1060) is still held, so 40 of these 50 bytes are new.
        assert_eq!(q.insert(n, n, &payload(n, 50)), 40);
        assert_eq!(drain(&mut q, n).0, payload(n, 50));
    }

    use crate::test_rng::Rng;

    /// The reference: a byte map keyed by sequence number.
    struct Model {
        limit: u32,
        bytes: BTreeMap<u32, u8>,
    }

    impl Model {
        fn rel(s: u32, nxt: Seq) -> i64 {
            i64::from(Seq(s).diff(nxt))
        }
        fn insert(&mut self, nxt: Seq, seq: Seq, data: &[u8]) -> usize {
            let mut n = 0;
            for (i, &b) in data.iter().enumerate() {
                let s = (seq + i).0;
                let r = Self::rel(s, nxt);
                if r >= 0 && r < i64::from(self.limit) && !self.bytes.contains_key(&s) {
                    self.bytes.insert(s, b);
                    n += 1;
                }
            }
            n
        }
        fn drain(&mut self, nxt: Seq) -> (Vec<u8>, Seq) {
            self.bytes.retain(|&s, _| Self::rel(s, nxt) >= 0);
            let mut out = Vec::new();
            let mut n = nxt;
            while let Some(b) = self.bytes.remove(&n.0) {
                out.push(b);
                n += 1;
            }
            (out, n)
        }
        fn has(&self, s: Seq) -> bool {
            self.bytes.contains_key(&s.0)
        }
    }

    fn check_blocks(q: &OooQueue, m: &Model, nxt: Seq, last: Option<(Seq, Seq)>, rng: &mut Rng) {
        let max = rng.below(6) as usize;
        let b = blocks(q, nxt, max);
        let runs = q.ranges().filter(|(s, _)| s.diff(nxt) > 0).count();
        assert_eq!(b.len(), max.min(4).min(runs));
        for (k, &(l, r)) in b.iter().enumerate() {
            let (l, r) = (Seq(l), Seq(r));
            assert!(
                l.diff(nxt) > 0 && r.diff(l) > 0,
                "block beyond rcv_nxt and non-empty"
            );
            let mut s = l;
            while s != r {
                assert!(m.has(s), "block covers only held data");
                s += 1;
            }
            assert!(!m.has(l - 1) && !m.has(r), "blocks are maximal");
            assert!(b[..k].iter().all(|&(l2, _)| l2 != l.0), "no duplicates");
        }
        if let (Some((s, e)), true) = (last, max > 0) {
            let (l, r) = (Seq(b[0].0), Seq(b[0].1));
            assert!(
                s.diff(l) >= 0 && r.diff(e) >= 0,
                "first block holds the latest segment"
            );
        }
    }

    #[test]
    fn random_inserts_match_a_byte_map() {
        for seed in 1..=12u64 {
            let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ seed);
            let limit = 1 + rng.below(900) as u32;
            let mut q = OooQueue::new(limit as usize);
            let mut m = Model {
                limit,
                bytes: BTreeMap::new(),
            };
            // Start near the wrap so most seeds cross it.
            let mut nxt = Seq(u32::MAX - rng.below(3000) as u32);
            let mut delivered_q = Vec::new();
            let mut delivered_m = Vec::new();
            for _ in 0..3000 {
                match rng.below(10) {
                    0..=5 => {
                        let seq = nxt + (rng.below(u64::from(limit) + 40) as u32) - 20;
                        let len = rng.below(u64::from(limit / 3 + 2)) as usize;
                        let data: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
                        let got = q.insert(nxt, seq, &data);
                        assert_eq!(got, m.insert(nxt, seq, &data), "seed {seed}");
                        // The stored part (clipped) must be inside the first SACK block.
                        let lo = seq.max(nxt + 1u32);
                        let hi = (seq + len).min(nxt + limit);
                        // Data contiguous with rcv_nxt is for the cumulative ACK, not SACK.
                        let last =
                            (hi.diff(lo) > 0 && m.has(lo) && !m.has(nxt)).then_some((lo, hi));
                        check_blocks(&q, &m, nxt, last, &mut rng);
                    }
                    6 | 7 => {
                        // In-order data advances rcv_nxt, then the queue drains.
                        let adv = rng.below(u64::from(limit / 2 + 1)) as u32;
                        let inorder: Vec<u8> = (0..adv).map(|_| rng.next() as u8).collect();
                        delivered_q.extend(&inorder);
                        delivered_m.extend(&inorder);
                        let n = nxt + adv;
                        let (gq, nq) = drain(&mut q, n);
                        let (gm, nm) = m.drain(n);
                        assert_eq!(nq, nm, "seed {seed}");
                        delivered_q.extend(gq);
                        delivered_m.extend(gm);
                        nxt = nq;
                    }
                    8 => {
                        // Drain with no progress: only what is already contiguous.
                        let (gq, nq) = drain(&mut q, nxt);
                        let (gm, nm) = m.drain(nxt);
                        assert_eq!((gq, nq), (gm, nm), "seed {seed}");
                        nxt = nq;
                    }
                    _ => {
                        if rng.below(20) == 0 {
                            q.clear();
                            m.bytes.clear();
                        }
                        check_blocks(&q, &m, nxt, None, &mut rng);
                    }
                }
                assert_eq!(q.bytes(), m.bytes.len(), "seed {seed}");
                let hi = m
                    .bytes
                    .keys()
                    .map(|&s| Seq(s) + 1u32)
                    .max_by_key(|s| s.diff(nxt));
                assert_eq!(q.highest(), hi, "seed {seed}");
                assert!(q.range_count() <= MAX_RANGES);
            }
            assert_eq!(delivered_q, delivered_m, "seed {seed}");
            assert!(!delivered_q.is_empty());
        }
    }

    #[test]
    fn random_calls_never_panic() {
        let mut rng = Rng(42);
        let mut q = OooQueue::new(300);
        let data = [7u8; 700];
        for _ in 0..20_000 {
            let nxt = Seq(rng.next() as u32 & 0xffff_f000 | 0x800);
            match rng.below(5) {
                0 => {
                    q.insert(
                        nxt,
                        Seq(rng.next() as u32),
                        &data[..rng.below(700) as usize],
                    );
                }
                1 => {
                    q.drain_contiguous(Seq(rng.next() as u32), &mut |_: &[u8]| {});
                }
                2 => {
                    q.sack_blocks(Seq(rng.next() as u32), rng.below(8) as usize);
                }
                3 => q.set_limit(rng.below(1000) as usize),
                _ => {
                    let s = nxt + (rng.below(600) as u32);
                    q.insert(nxt, s, &data[..rng.below(100) as usize]);
                }
            }
            let sum: usize = q.ranges().map(|(s, e)| e.since(s) as usize).sum();
            assert_eq!(sum, q.bytes());
            assert!(q.bytes() <= q.limit());
        }
    }
}
