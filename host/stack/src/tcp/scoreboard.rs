//! The sender's SACK scoreboard and the loss-recovery rules of RFC 6675 (conservative
//! SACK-based loss recovery): `IsLost`, `SetPipe` and `NextSeg`, over SACK blocks (RFC 2018).
//!
//! The scoreboard is a sorted list of the SACKed ranges in `(snd_una, snd_nxt]`. Everything the
//! RFC defines per octet is computed per hole between those ranges: the SACKed data above any
//! octet of a hole is the same for the whole hole, so `IsLost` is constant over a hole and is
//! monotone (once a hole is lost, every hole below it is too). `pipe` and `next_seg` therefore
//! cost one walk over the ranges, however many segments are in flight — a 16 MB window of
//! 1448-byte segments is ~11 600 segments, and `pipe` runs on every ACK.
//!
//! Counting "DupThresh discontiguous SACKed segments" needs segment boundaries the scoreboard
//! does not keep; a SACKed range of `n` bytes counts as `ceil(n / MSS)` segments, so both three
//! full-sized segments and three small separately-SACKed ones make the octets below them lost.
//!
//! The number of ranges is bounded ([`MAX_RANGES`]): past the bound the smallest range is
//! forgotten. Forgetting a SACK is always safe — that data may be resent needlessly and `pipe`
//! over-counts — so a receiver sending many tiny blocks costs us nothing but its own bandwidth.
//! Reneging (RFC 2018 §8) is the caller's: on RTO it calls [`Scoreboard::clear`].

use core::fmt;

use crate::tcp::seq::Seq;
use crate::wire::tcp::SackBlock;

/// The default bound on stored ranges. With 1 % random loss a 16 MB window has ~116 holes.
pub const MAX_RANGES: usize = 128;

/// The SACKed ranges in (snd_una, snd_nxt]: sorted, merged, bounded in number.
#[derive(Clone)]
pub struct Scoreboard {
    /// `[start, end)` ranges, sorted, neither overlapping nor adjacent.
    ranges: Vec<(Seq, Seq)>,
    /// Sum of the ranges' lengths.
    sacked: u32,
    /// Bound on `ranges.len()`.
    max_ranges: usize,
}

impl fmt::Debug for Scoreboard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scoreboard")
            .field("sacked", &self.sacked)
            .field("ranges", &self.ranges)
            .finish()
    }
}

impl Default for Scoreboard {
    fn default() -> Self {
        Scoreboard::new()
    }
}

/// SACKed data above some point, accumulated while walking the ranges.
#[derive(Clone, Copy, Default)]
struct Above {
    bytes: u64,
    segs: u64,
}

impl Above {
    fn add(&mut self, len: u32, mss: u32) {
        self.bytes += u64::from(len);
        self.segs += u64::from(len.div_ceil(mss));
    }

    /// RFC 6675 IsLost for an octet with this much SACKed data above it.
    fn lost(self, mss: u32, dupthresh: u32) -> bool {
        self.segs >= u64::from(dupthresh) || self.bytes > u64::from(dupthresh - 1) * u64::from(mss)
    }
}

impl Scoreboard {
    /// An empty scoreboard bounded to [`MAX_RANGES`] ranges.
    pub fn new() -> Self {
        Scoreboard::with_max_ranges(MAX_RANGES)
    }

    /// An empty scoreboard holding at most `max_ranges` ranges (at least one).
    pub fn with_max_ranges(max_ranges: usize) -> Self {
        Scoreboard {
            ranges: Vec::new(),
            sacked: 0,
            max_ranges: max_ranges.max(1),
        }
    }

    /// Forgets every SACK (after an RTO, RFC 6675 §5.1, or on reneging).
    pub fn clear(&mut self) {
        self.ranges.clear();
        self.sacked = 0;
    }

    /// Processes an ACK: drops ranges below `snd_una` (the new cumulative ACK), adds the valid SACK blocks
    /// (ignoring blocks not inside [snd_una, snd_nxt], and malformed ones with left >= right), merges.
    /// Returns the number of bytes newly marked SACKed by this ACK (used for DupAck/“SACK-increasing” detection).
    ///
    /// A block reaching past `snd_nxt` SACKs data never sent and is ignored whole; a block that
    /// starts below `snd_una` (from an ACK overtaken by a later one) counts for its part above
    /// `snd_una`, and one wholly below it (a D-SACK, RFC 2883) is ignored. Bytes newly SACKed
    /// include any that the range bound then forgets.
    pub fn on_ack(&mut self, snd_una: Seq, snd_nxt: Seq, blocks: &[SackBlock]) -> u32 {
        let wnd = snd_nxt.since(snd_una);
        self.trim(snd_una, wnd);
        let mut newly = 0u32;
        for b in blocks {
            let (left, right) = (Seq(b.left), Seq(b.right));
            if right.diff(left) <= 0 {
                continue;
            }
            let hi = right.diff(snd_una);
            if hi <= 0 || hi as u32 > wnd {
                continue;
            }
            let hi = hi as u32;
            let lo = left.diff(snd_una).max(0) as u32;
            if lo >= hi {
                continue;
            }
            newly = newly.saturating_add(self.add(snd_una, lo, hi));
        }
        self.enforce_bound();
        newly
    }

    /// Bytes currently SACKed.
    pub fn sacked_bytes(&self) -> u32 {
        self.sacked
    }

    /// True when `seq` lies in a SACKed range.
    pub fn is_sacked(&self, seq: Seq) -> bool {
        let Some(&(base, _)) = self.ranges.first() else {
            return false;
        };
        // Offsets from the lowest range keep the sorted order for binary search.
        let off = |s: Seq| s.0.wrapping_sub(base.0);
        let at = off(seq);
        let k = self.ranges.partition_point(|&(_, e)| off(e) <= at);
        self.ranges.get(k).is_some_and(|&(s, _)| off(s) <= at)
    }

    /// The end of the SACKed range holding `seq`, if one does.
    pub fn sacked_end(&self, seq: Seq) -> Option<Seq> {
        self.ranges
            .iter()
            .find(|&&(s, e)| s.diff(seq) <= 0 && e.diff(seq) > 0)
            .map(|&(_, e)| e)
    }

    /// The start of the lowest SACKed range above `seq`, if any.
    pub fn next_sacked(&self, seq: Seq) -> Option<Seq> {
        self.ranges
            .iter()
            .find(|&&(s, _)| s.diff(seq) > 0)
            .map(|&(s, _)| s)
    }

    /// Bytes SACKed in `[snd_una, seq)`.
    pub fn sacked_below(&self, snd_una: Seq, seq: Seq) -> u32 {
        let lim = seq.diff(snd_una).max(0) as u32;
        self.clipped(snd_una, lim).map(|(lo, hi)| hi - lo).sum()
    }

    /// Highest SACKed sequence (end of the highest block), if any.
    pub fn highest_sacked(&self) -> Option<Seq> {
        self.ranges.last().map(|&(_, e)| e)
    }

    /// The SACKed ranges `[start, end)` in sequence order.
    pub fn ranges(&self) -> impl Iterator<Item = (Seq, Seq)> + '_ {
        self.ranges.iter().copied()
    }

    /// RFC 6675 IsLost(seq): true when DupThresh discontiguous SACKed segments, or more than
    /// (DupThresh-1)*MSS SACKed bytes, lie above seq.
    ///
    /// "Above" is strictly greater than `seq`. `mss` and `dupthresh` below 1 count as 1.
    pub fn is_lost(&self, seq: Seq, mss: u32, dupthresh: u32) -> bool {
        let (mss, dupthresh) = (mss.max(1), dupthresh.max(1));
        let mut above = Above::default();
        for &(s, e) in self.ranges.iter().rev() {
            if e.diff(seq) <= 1 {
                // This range, and every one below it, ends at or before seq + 1.
                break;
            }
            let from = if s.diff(seq) > 0 { s } else { seq + 1u32 };
            above.add(e.since(from), mss);
            if above.lost(mss, dupthresh) {
                return true;
            }
        }
        false
    }

    /// RFC 6675 SetPipe: bytes in flight, scanning [snd_una, snd_nxt) in MSS steps: not SACKed and not lost
    /// counts once; retransmitted (below high_rxt) counts once more.
    ///
    /// Computed per hole between SACKed ranges (exactly the RFC's per-octet count), in one walk
    /// over the ranges. `high_rxt` is one past the highest retransmitted octet.
    pub fn pipe(&self, snd_una: Seq, snd_nxt: Seq, high_rxt: Seq, mss: u32, dupthresh: u32) -> u32 {
        let (mss, dupthresh) = (mss.max(1), dupthresh.max(1));
        let wnd = snd_nxt.since(snd_una);
        let rxt_end = high_rxt.since(snd_una).min(wnd);
        let mut pipe = 0u64;
        let mut above = Above::default();
        let mut top = wnd;
        let hole = |lo: u32, hi: u32, above: Above| {
            let in_flight = if above.lost(mss, dupthresh) {
                0
            } else {
                u64::from(hi - lo)
            };
            // Retransmitted octets count once more, lost or not.
            in_flight + u64::from(rxt_end.min(hi).saturating_sub(lo))
        };
        for (lo, hi) in self.clipped(snd_una, wnd).rev() {
            pipe += hole(hi, top, above);
            above.add(hi - lo, mss);
            top = lo;
        }
        pipe += hole(0, top, above);
        u32::try_from(pipe).unwrap_or(u32::MAX)
    }

    /// RFC 6675 NextSeg rules (1) and (3): the first range [s, s+len) with len ≤ mss, above max(high_rxt, snd_una),
    /// below snd_nxt, not SACKed; rule 1 requires IsLost(s); rule 3 (returned only when `allow_rule3`) takes
    /// an unSACKed segment below the highest SACKed one. Rule 2 (new data) is the caller's.
    ///
    /// The caller asks first with `allow_rule3 == false`, then tries new data, then asks again
    /// with `allow_rule3 == true`. The returned range never covers SACKed data.
    pub fn next_seg(
        &self,
        snd_una: Seq,
        snd_nxt: Seq,
        high_rxt: Seq,
        mss: u32,
        dupthresh: u32,
        allow_rule3: bool,
    ) -> Option<(Seq, u32)> {
        let (mss, dupthresh) = (mss.max(1), dupthresh.max(1));
        let wnd = snd_nxt.since(snd_una);
        let from = high_rxt.since(snd_una).min(wnd);
        let mut above = Above::default();
        for (lo, hi) in self.clipped(snd_una, wnd) {
            above.add(hi - lo, mss);
        }
        let mut bottom = 0;
        for (lo, hi) in self.clipped(snd_una, wnd) {
            // The hole [bottom, lo) lies below this range, so every remaining range is above it.
            let s = bottom.max(from);
            if s < lo {
                if above.lost(mss, dupthresh) || allow_rule3 {
                    return Some((snd_una + s, (lo - s).min(mss)));
                }
                // Lost holes form a prefix; none further up is lost either.
                return None;
            }
            above.bytes -= u64::from(hi - lo);
            above.segs -= u64::from((hi - lo).div_ceil(mss));
            bottom = hi;
        }
        None
    }

    /// The segment RFC 6675 NextSeg rule 4 (rescue retransmission) returns: at most `mss`
    /// unSACKed octets in `[snd_una, snd_nxt)` ending with the highest unSACKed one, as
    /// `(start, end)`, never covering SACKed data; `None` when everything is SACKed.
    pub fn highest_unsacked(&self, snd_una: Seq, snd_nxt: Seq, mss: u32) -> Option<(Seq, Seq)> {
        let wnd = snd_nxt.since(snd_una);
        let mut top = wnd;
        let mut bottom = 0;
        for (lo, hi) in self.clipped(snd_una, wnd).rev() {
            if hi == top {
                top = lo;
            } else {
                bottom = hi;
                break;
            }
        }
        if top == 0 {
            return None;
        }
        let start = top.saturating_sub(mss.max(1)).max(bottom);
        Some((snd_una + start, snd_una + top))
    }

    /// Number of ranges.
    pub fn len(&self) -> usize {
        self.ranges.len()
    }

    /// True when nothing is SACKed.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// The ranges as offsets from `snd_una`, clipped to `[0, wnd)`, empty ones skipped.
    fn clipped(&self, snd_una: Seq, wnd: u32) -> impl DoubleEndedIterator<Item = (u32, u32)> + '_ {
        self.ranges.iter().filter_map(move |&(s, e)| {
            let lo = s.diff(snd_una).clamp(0, wnd.min(i32::MAX as u32) as i32) as u32;
            let hi = e.diff(snd_una).clamp(0, wnd.min(i32::MAX as u32) as i32) as u32;
            (lo < hi).then_some((lo, hi))
        })
    }

    /// Drops what the cumulative ACK covers and anything at or past `snd_nxt`.
    fn trim(&mut self, snd_una: Seq, wnd: u32) {
        let mut sacked = 0u32;
        self.ranges.retain_mut(|(s, e)| {
            let lo = s.diff(snd_una).max(0);
            let hi = e.diff(snd_una).min(wnd.min(i32::MAX as u32) as i32);
            if lo >= hi {
                return false;
            }
            *s = snd_una + lo as u32;
            *e = snd_una + hi as u32;
            sacked += (hi - lo) as u32;
            true
        });
        self.sacked = sacked;
    }

    /// Adds `[snd_una + lo, snd_una + hi)`, merging; returns the bytes not SACKed before.
    fn add(&mut self, snd_una: Seq, lo: u32, hi: u32) -> u32 {
        let off = |s: Seq| s.0.wrapping_sub(snd_una.0);
        let i = self.ranges.partition_point(|&(_, e)| off(e) < lo);
        let j = self.ranges.partition_point(|&(s, _)| off(s) <= hi);
        let mut covered = 0;
        let (mut m_lo, mut m_hi) = (lo, hi);
        for &(s, e) in &self.ranges[i..j] {
            let (s, e) = (off(s), off(e));
            covered += e.min(hi).saturating_sub(s.max(lo));
            m_lo = m_lo.min(s);
            m_hi = m_hi.max(e);
        }
        let merged = (snd_una + m_lo, snd_una + m_hi);
        if i == j {
            self.ranges.insert(i, merged);
        } else {
            self.ranges[i] = merged;
            self.ranges.drain(i + 1..j);
        }
        let new = (hi - lo) - covered;
        self.sacked += new;
        new
    }

    /// Forgets the smallest ranges (the highest of equals) until the bound holds.
    fn enforce_bound(&mut self) {
        while self.ranges.len() > self.max_ranges {
            let len = |&(s, e): &(Seq, Seq)| e.since(s);
            let mut victim = 0;
            for (k, r) in self.ranges.iter().enumerate() {
                if len(r) <= len(&self.ranges[victim]) {
                    victim = k;
                }
            }
            self.sacked -= len(&self.ranges[victim]);
            self.ranges.remove(victim);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSS: u32 = 1000;
    const DT: u32 = 3;

    fn blk(l: Seq, r: Seq) -> SackBlock {
        SackBlock {
            left: l.0,
            right: r.0,
        }
    }

    /// Segment `n` (1-based) of the RFC 6675 style example: `[base + (n-1)·MSS, base + n·MSS)`.
    fn seg(base: Seq, n: u32) -> (Seq, Seq) {
        (base + (n - 1) * MSS, base + n * MSS)
    }

    /// Ten segments sent, segment 1 acknowledged, segment 2 lost, then 3, 4, 5 SACKed one
    /// ACK at a time; run at two bases so one run straddles the wrap.
    #[test]
    fn rfc6675_single_loss() {
        for base in [Seq(0), Seq(u32::MAX - 2500)] {
            let mut sb = Scoreboard::new();
            let una = seg(base, 2).0;
            let nxt = seg(base, 10).1;
            let s2 = seg(base, 2).0;

            let (l, _) = seg(base, 3);
            assert_eq!(sb.on_ack(una, nxt, &[blk(l, seg(base, 3).1)]), MSS);
            assert!(!sb.is_lost(s2, MSS, DT));
            assert_eq!(sb.pipe(una, nxt, una, MSS, DT), 8 * MSS);
            assert_eq!(sb.next_seg(una, nxt, una, MSS, DT, false), None);

            assert_eq!(sb.on_ack(una, nxt, &[blk(l, seg(base, 4).1)]), MSS);
            assert!(!sb.is_lost(s2, MSS, DT), "2 segments, 2000 bytes: not yet");
            assert_eq!(sb.pipe(una, nxt, una, MSS, DT), 7 * MSS);

            assert_eq!(sb.on_ack(una, nxt, &[blk(l, seg(base, 5).1)]), MSS);
            assert!(sb.is_lost(s2, MSS, DT), "DupThresh segments SACKed above");
            assert!(!sb.is_lost(seg(base, 6).0, MSS, DT));
            assert_eq!(sb.len(), 1);
            assert_eq!(sb.sacked_bytes(), 3 * MSS);
            assert_eq!(sb.highest_sacked(), Some(seg(base, 5).1));
            // 9 outstanding - 3 SACKed - 1 lost.
            assert_eq!(sb.pipe(una, nxt, una, MSS, DT), 5 * MSS);
            assert_eq!(
                sb.next_seg(una, nxt, una, MSS, DT, false),
                Some((s2, MSS)),
                "rule 1: the lost segment"
            );
            // After retransmitting it, it counts in pipe again and is not offered twice.
            let high_rxt = seg(base, 2).1;
            assert_eq!(sb.pipe(una, nxt, high_rxt, MSS, DT), 6 * MSS);
            assert_eq!(sb.next_seg(una, nxt, high_rxt, MSS, DT, false), None);
            assert_eq!(sb.next_seg(una, nxt, high_rxt, MSS, DT, true), None);

            // The retransmission arrives: the cumulative ACK jumps past the SACKed data.
            let una = seg(base, 5).1;
            assert_eq!(sb.on_ack(una, nxt, &[]), 0);
            assert!(sb.is_empty());
            assert_eq!(sb.sacked_bytes(), 0);
            assert_eq!(sb.pipe(una, nxt, high_rxt, MSS, DT), 5 * MSS);
        }
    }

    #[test]
    fn rule3_offers_unsacked_data_below_the_highest_sack() {
        let base = Seq(u32::MAX - 1200);
        let mut sb = Scoreboard::new();
        let una = seg(base, 2).0;
        let nxt = seg(base, 10).1;
        // Segments 3 and 5 SACKed: holes at 2 and 4, neither lost (2 segments, 2000 bytes).
        let (a, b) = (seg(base, 3), seg(base, 5));
        assert_eq!(
            sb.on_ack(una, nxt, &[blk(b.0, b.1), blk(a.0, a.1)]),
            2 * MSS
        );
        assert_eq!(sb.len(), 2);
        assert!(!sb.is_lost(una, MSS, DT));
        assert_eq!(sb.next_seg(una, nxt, una, MSS, DT, false), None);
        assert_eq!(sb.next_seg(una, nxt, una, MSS, DT, true), Some((una, MSS)));
        let high_rxt = seg(base, 2).1;
        assert_eq!(
            sb.next_seg(una, nxt, high_rxt, MSS, DT, true),
            Some((seg(base, 4).0, MSS))
        );
        // Nothing unSACKed below the highest SACK once 4 is retransmitted too.
        assert_eq!(sb.next_seg(una, nxt, seg(base, 4).1, MSS, DT, true), None);
        // With dupthresh 2 the 2 SACKed segments make both holes lost (rule 1).
        assert_eq!(sb.next_seg(una, nxt, una, MSS, 2, false), Some((una, MSS)));
        // pipe: 9 outstanding - 2 SACKed, nothing lost at dupthresh 3.
        assert_eq!(sb.pipe(una, nxt, una, MSS, DT), 7 * MSS);
        // At dupthresh 2 the hole at 2 has 2 segments above (lost), the hole at 4 one (not).
        assert_eq!(sb.pipe(una, nxt, una, MSS, 2), 6 * MSS);
    }

    #[test]
    fn next_seg_stays_within_a_short_hole() {
        let (una, nxt) = (Seq(0), Seq(10_000));
        // A 300-byte hole [1000, 1300) below 3000 SACKed bytes.
        let mut sb = Scoreboard::new();
        sb.on_ack(una, nxt, &[blk(Seq(1300), Seq(4300))]);
        assert_eq!(
            sb.next_seg(una, nxt, una, MSS, DT, false),
            Some((Seq(0), 1000))
        );
        assert_eq!(
            sb.next_seg(una, nxt, Seq(1000), MSS, DT, false),
            Some((Seq(1000), 300))
        );
        assert_eq!(
            sb.next_seg(una, nxt, Seq(1100), MSS, DT, false),
            Some((Seq(1100), 200))
        );
    }

    #[test]
    fn blocks_merge_and_count_only_new_bytes() {
        let mut sb = Scoreboard::new();
        let (una, nxt) = (Seq(100), Seq(100_000));
        assert_eq!(sb.on_ack(una, nxt, &[blk(Seq(1000), Seq(2000))]), 1000);
        assert_eq!(
            sb.on_ack(una, nxt, &[blk(Seq(1000), Seq(2000))]),
            0,
            "repeat"
        );
        assert_eq!(sb.on_ack(una, nxt, &[blk(Seq(3000), Seq(4000))]), 1000);
        assert_eq!(sb.len(), 2);
        // Adjacent on the left, overlapping on the right, bridging both.
        assert_eq!(sb.on_ack(una, nxt, &[blk(Seq(500), Seq(1000))]), 500);
        assert_eq!(sb.on_ack(una, nxt, &[blk(Seq(1500), Seq(3500))]), 1000);
        assert_eq!(sb.ranges().collect::<Vec<_>>(), vec![(Seq(500), Seq(4000))]);
        assert_eq!(sb.sacked_bytes(), 3500);
        assert!(sb.is_sacked(Seq(500)) && sb.is_sacked(Seq(3999)));
        assert!(!sb.is_sacked(Seq(499)) && !sb.is_sacked(Seq(4000)));
        // The cumulative ACK moves into the range: only the part above it stays.
        assert_eq!(sb.on_ack(Seq(2000), nxt, &[]), 0);
        assert_eq!(
            sb.ranges().collect::<Vec<_>>(),
            vec![(Seq(2000), Seq(4000))]
        );
        assert_eq!(sb.sacked_bytes(), 2000);
        // Several blocks in one ACK, overlapping each other.
        let got = sb.on_ack(
            Seq(2000),
            nxt,
            &[blk(Seq(5000), Seq(6000)), blk(Seq(5500), Seq(7000))],
        );
        assert_eq!(got, 2000);
        assert_eq!(sb.len(), 2);
    }

    #[test]
    fn bogus_blocks_are_ignored() {
        let mut sb = Scoreboard::new();
        let (una, nxt) = (Seq(u32::MAX - 100), Seq(5000));
        let bogus = [
            blk(Seq(1000), Seq(1000)),                     // empty
            blk(Seq(2000), Seq(1000)),                     // reversed
            blk(Seq(4000), Seq(6000)),                     // past snd_nxt
            blk(Seq(u32::MAX - 500), Seq(u32::MAX - 200)), // D-SACK, below snd_una
            blk(Seq(10), Seq(10 + (1 << 31))),             // longer than half the space
            blk(Seq(0x8000_0000), Seq(0x8000_1000)),       // nowhere near the window
        ];
        assert_eq!(sb.on_ack(una, nxt, &bogus), 0);
        assert!(sb.is_empty());
        assert_eq!(sb.pipe(una, nxt, una, MSS, DT), 5101);
        // A block straddling snd_una keeps its part above snd_una.
        assert_eq!(sb.on_ack(una, nxt, &[blk(una - 50, una + 50u32)]), 50);
        // No ranges once the window is empty or inverted.
        assert_eq!(sb.on_ack(nxt, nxt, &[blk(nxt, nxt + 1u32)]), 0);
        assert!(sb.is_empty());
        assert_eq!(sb.on_ack(nxt, una, &[blk(una, nxt)]), 0);
        assert!(sb.is_empty());
    }

    #[test]
    fn range_bound_drops_the_smallest() {
        let mut sb = Scoreboard::with_max_ranges(8);
        let (una, nxt) = (Seq(0), Seq(1_000_000));
        // A big useful range, then many one-byte blocks.
        assert_eq!(
            sb.on_ack(una, nxt, &[blk(Seq(500_000), Seq(600_000))]),
            100_000
        );
        for k in 0..100u32 {
            let s = Seq(10 * k + 1);
            sb.on_ack(una, nxt, &[blk(s, s + 1u32), blk(s + 3u32, s + 4u32)]);
            assert!(sb.len() <= 8);
        }
        assert_eq!(sb.len(), 8);
        assert!(sb.is_sacked(Seq(550_000)), "the big range survives");
        let sum: u32 = sb.ranges().map(|(s, e)| e.since(s)).sum();
        assert_eq!(sb.sacked_bytes(), sum);
        assert_eq!(Scoreboard::new().max_ranges, MAX_RANGES);
    }

    #[test]
    fn degenerate_parameters_do_not_panic() {
        let mut sb = Scoreboard::default();
        sb.on_ack(Seq(0), Seq(100), &[blk(Seq(10), Seq(20))]);
        assert!(
            sb.is_lost(Seq(0), 0, 0),
            "dupthresh 1: any SACK above is a loss"
        );
        assert_eq!(sb.pipe(Seq(0), Seq(100), Seq(0), 0, 0), 80);
        assert_eq!(
            sb.next_seg(Seq(0), Seq(100), Seq(0), 0, 0, false),
            Some((Seq(0), 1))
        );
        // Arguments that disagree with the stored ranges.
        assert_eq!(sb.pipe(Seq(50), Seq(40), Seq(0), MSS, DT), 0);
        assert_eq!(sb.next_seg(Seq(15), Seq(18), Seq(0), MSS, DT, true), None);
        assert_eq!(sb.pipe(Seq(15), Seq(30), Seq(0), MSS, DT), 10);
        sb.clear();
        assert!(sb.is_empty());
        assert_eq!(sb.highest_sacked(), None);
        assert!(!sb.is_sacked(Seq(15)));
    }

    #[test]
    fn large_window_pipe_is_exact() {
        // ~16 MB in flight in 1448-byte segments, every 100th segment lost, all others SACKed.
        let mss = 1448u32;
        let una = Seq(u32::MAX - 5 * mss);
        let n = 11_600u32;
        let nxt = una + n * mss;
        let mut sb = Scoreboard::new();
        let mut holes = 0;
        for k in (0..n).step_by(100) {
            // One ACK per lost segment, SACKing the 99 after it.
            let l = una + (k + 1) * mss;
            let r = una + (k + 100).min(n) * mss;
            if r.diff(l) > 0 {
                sb.on_ack(una, nxt, &[blk(l, r)]);
            }
            holes += 1;
        }
        assert_eq!(sb.len(), holes);
        assert_eq!(sb.sacked_bytes(), (n - holes as u32) * mss);
        // Every hole has 99 or more SACKed segments above it, so all are lost.
        assert_eq!(sb.pipe(una, nxt, una, mss, DT), 0);
        // Half the holes retransmitted: they count once more.
        let high_rxt = una + 5800 * mss;
        assert_eq!(sb.pipe(una, nxt, high_rxt, mss, DT), 58 * mss);
        assert_eq!(
            sb.next_seg(una, nxt, high_rxt, mss, DT, false),
            Some((una + 5800 * mss, mss))
        );
    }

    use crate::test_rng::Rng;

    /// The reference: one flag per octet of `[una, nxt)`, RFC 6675 applied octet by octet.
    struct Naive {
        una: Seq,
        sacked: Vec<bool>,
    }

    impl Naive {
        fn off(&self, s: Seq) -> Option<usize> {
            let d = s.diff(self.una);
            (d >= 0 && (d as usize) < self.sacked.len()).then_some(d as usize)
        }
        fn is_sacked(&self, s: Seq) -> bool {
            self.off(s).is_some_and(|i| self.sacked[i])
        }
        fn is_lost(&self, seq: Seq, mss: u32, dt: u32) -> bool {
            // SACKed octets strictly above seq, and the runs they form (each run's part above
            // seq counting ceil(len / mss) segments).
            let from = seq.diff(self.una) + 1;
            let (mut bytes, mut segs, mut run) = (0u64, 0u64, 0u32);
            for i in from.max(0) as usize..=self.sacked.len() {
                if self.sacked.get(i).copied().unwrap_or(false) {
                    bytes += 1;
                    run += 1;
                } else if run > 0 {
                    segs += u64::from(run.div_ceil(mss));
                    run = 0;
                }
            }
            segs >= u64::from(dt) || bytes > u64::from((dt - 1) * mss)
        }
        fn pipe(&self, high_rxt: Seq, mss: u32, dt: u32) -> u32 {
            let mut pipe = 0;
            for i in 0..self.sacked.len() {
                let s = self.una + i;
                if self.sacked[i] {
                    continue;
                }
                if !self.is_lost(s, mss, dt) {
                    pipe += 1;
                }
                if s.diff(high_rxt) < 0 {
                    pipe += 1;
                }
            }
            pipe
        }
        fn highest(&self) -> Option<usize> {
            self.sacked.iter().rposition(|&b| b).map(|i| i + 1)
        }
        fn next_seg(&self, high_rxt: Seq, mss: u32, dt: u32, rule3: bool) -> Option<(Seq, u32)> {
            let top = self.highest()?;
            let start = high_rxt.diff(self.una).max(0) as usize;
            let i = (start..top).find(|&i| !self.sacked[i])?;
            let s = self.una + i;
            if !(self.is_lost(s, mss, dt) || rule3) {
                return None;
            }
            let len = (i..self.sacked.len())
                .take(mss as usize)
                .take_while(|&j| !self.sacked[j])
                .count();
            Some((s, len as u32))
        }
        fn highest_unsacked(&self, mss: u32) -> Option<(Seq, Seq)> {
            let top = self.sacked.iter().rposition(|&b| !b)? + 1;
            let bottom = self.sacked[..top]
                .iter()
                .rposition(|&b| b)
                .map_or(0, |i| i + 1);
            let start = top.saturating_sub(mss as usize).max(bottom);
            Some((self.una + start, self.una + top))
        }
    }

    #[test]
    fn random_acks_match_a_per_octet_reference() {
        for seed in 1..=16u64 {
            let mut rng = Rng(0x1234_5678_9abc_def1 ^ (seed * 0x9e37_79b9));
            let mss = 1 + rng.below(12) as u32;
            let dt = 1 + rng.below(4) as u32;
            let mut una = Seq(u32::MAX - rng.below(400) as u32);
            let mut sb = Scoreboard::new();
            let mut naive = Naive {
                una,
                sacked: Vec::new(),
            };
            let mut high_rxt = una;
            for step in 0..1500 {
                // Send some new data, at most 200 octets in flight (so ≤ 100 ranges, below
                // the bound: the reference has none).
                let grow = rng.below(30) as usize;
                let room = 200 - naive.sacked.len();
                let len = naive.sacked.len();
                naive.sacked.resize(len + grow.min(room), false);
                let nxt = una + naive.sacked.len();
                // Sometimes the cumulative ACK advances.
                if rng.below(4) == 0 {
                    let adv = rng.below(naive.sacked.len() as u64 / 2 + 1) as usize;
                    naive.sacked.drain(..adv);
                    una = una + adv;
                    naive.una = una;
                }
                let wnd = naive.sacked.len() as u32;
                let mut blocks = Vec::new();
                let mut want_new = 0;
                for _ in 0..rng.below(5) {
                    let l = una + (rng.below(u64::from(wnd) + 20) as u32) - 10;
                    let r = l + (rng.below(40) as u32) - 5;
                    blocks.push(blk(l, r));
                    // Reference validity: non-empty, ends inside (una, nxt]; part below una cut.
                    let (lo, hi) = (l.diff(una), r.diff(una));
                    if r.diff(l) > 0 && hi > 0 && hi as u32 <= wnd {
                        for i in lo.max(0)..hi {
                            if !naive.sacked[i as usize] {
                                naive.sacked[i as usize] = true;
                                want_new += 1;
                            }
                        }
                    }
                }
                assert_eq!(
                    sb.on_ack(una, nxt, &blocks),
                    want_new,
                    "seed {seed} step {step}"
                );
                let want_sacked = naive.sacked.iter().filter(|&&b| b).count() as u32;
                assert_eq!(sb.sacked_bytes(), want_sacked, "seed {seed} step {step}");
                assert_eq!(sb.highest_sacked(), naive.highest().map(|i| una + i));

                if rng.below(3) == 0 {
                    high_rxt = una + (rng.below(u64::from(wnd) + 1) as u32);
                }
                assert_eq!(
                    sb.pipe(una, nxt, high_rxt, mss, dt),
                    naive.pipe(high_rxt, mss, dt),
                    "seed {seed} step {step}"
                );
                let probe = una + (rng.below(u64::from(wnd) + 1) as u32);
                let below = (0..probe.since(una) as usize)
                    .filter(|&i| naive.sacked[i])
                    .count() as u32;
                assert_eq!(
                    sb.sacked_below(una, probe),
                    below,
                    "seed {seed} step {step}"
                );
                let run_end = |from: usize, v: bool| {
                    una + (from..naive.sacked.len())
                        .find(|&i| naive.sacked[i] != v)
                        .unwrap_or(naive.sacked.len())
                };
                let i = probe.since(una) as usize;
                let want_end =
                    (i < naive.sacked.len() && naive.sacked[i]).then(|| run_end(i, true));
                assert_eq!(sb.sacked_end(probe), want_end, "seed {seed} step {step}");
                let next = (i + 1..naive.sacked.len())
                    .find(|&j| naive.sacked[j] && !naive.sacked[j - 1])
                    .map(|j| una + j);
                assert_eq!(sb.next_sacked(probe), next, "seed {seed} step {step}");
                assert_eq!(
                    sb.highest_unsacked(una, nxt, mss),
                    naive.highest_unsacked(mss),
                    "seed {seed} step {step}"
                );
                for rule3 in [false, true] {
                    assert_eq!(
                        sb.next_seg(una, nxt, high_rxt, mss, dt, rule3),
                        naive.next_seg(high_rxt, mss, dt, rule3),
                        "seed {seed} step {step}"
                    );
                }
                for _ in 0..8 {
                    let s = una + (rng.below(u64::from(wnd) + 4) as u32) - 2;
                    assert_eq!(sb.is_sacked(s), naive.is_sacked(s), "seed {seed} {s:?}");
                    if s.diff(una) >= 0 {
                        assert_eq!(
                            sb.is_lost(s, mss, dt),
                            naive.is_lost(s, mss, dt),
                            "seed {seed} step {step} {s:?}"
                        );
                    }
                }
            }
        }
    }
}
