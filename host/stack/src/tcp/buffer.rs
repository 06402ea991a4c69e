//! A connection's send queue (bytes from `snd_una` on: unsent and unacknowledged) and its
//! receive ring (in-order bytes the application has not read).
//!
//! The send queue keeps its bytes in packet buffers ([`SendQueue`]), so an outgoing segment
//! takes its payload as fragments that share them instead of copying (as Linux's skbs on the
//! write queue hand their pages to the clones they transmit). The receive ring is one
//! growable byte ring ([`RingBuf`]), allocated once per size.

use crate::pktbuf::{PacketBuf, PacketPool, PktBufError};
use std::collections::VecDeque;

/// Bytes per send-queue chunk.
pub const SEND_CHUNK: usize = 16 * 1024;

/// Chunks a send queue keeps for reuse beyond those its limit needs (chunks still referenced
/// by segments in flight after their bytes were acknowledged).
const SPARE_CHUNKS: usize = 16;

/// A connection's send queue: a byte queue held in [`SEND_CHUNK`]-byte packet buffers that
/// outgoing segments reference ([`Self::append_to`]). A chunk that a segment still shares is
/// never written again: new bytes go to a fresh chunk. Chunks come from a pool of the queue's
/// own, made as needed and recycled.
#[derive(Debug)]
pub struct SendQueue {
    /// The chunks, each with the stream position (bytes ever pushed before it) of its first
    /// held byte, so a range is found by binary search.
    chunks: VecDeque<(u64, PacketBuf)>,
    /// Stream position of the first held byte.
    start: u64,
    len: usize,
    limit: usize,
    pool: PacketPool,
}

impl SendQueue {
    /// A queue that holds at most `limit` bytes; chunks are allocated as data arrives.
    pub fn new(limit: usize) -> Self {
        SendQueue {
            chunks: VecDeque::new(),
            start: 0,
            len: 0,
            limit,
            pool: PacketPool::lazy(Self::pool_count(limit), SEND_CHUNK),
        }
    }

    fn pool_count(limit: usize) -> usize {
        limit.div_ceil(SEND_CHUNK) + SPARE_CHUNKS
    }

    /// Bytes held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Most bytes the queue may hold.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Room left under the limit.
    pub fn free(&self) -> usize {
        self.limit - self.len
    }

    /// Changes the limit; never below what is held.
    pub fn set_limit(&mut self, limit: usize) {
        self.limit = limit.max(self.len);
        if Self::pool_count(self.limit) != self.pool.count() {
            // Chunks of the old pool are freed when their last user drops them.
            self.pool = PacketPool::lazy(Self::pool_count(self.limit), SEND_CHUNK);
        }
    }

    /// Appends as much of `data` as fits; returns the bytes taken.
    pub fn push(&mut self, data: &[u8]) -> usize {
        let n = data.len().min(self.free());
        let mut done = 0;
        while done < n {
            let writable = self
                .chunks
                .back()
                .is_some_and(|(_, c)| !c.is_shared() && c.tailroom() > 0);
            if !writable {
                // Past the pool (many small writes each still referenced by a segment in
                // flight), a heap chunk sized to the write, not a zero-filled full chunk.
                let rest = n - done;
                let chunk = self
                    .pool
                    .alloc(0)
                    .unwrap_or_else(|| PacketBuf::new(rest.clamp(2048, SEND_CHUNK), 0));
                let at = self.start + (self.len + done) as u64;
                self.chunks.push_back((at, chunk));
            }
            let Some((_, tail)) = self.chunks.back_mut() else {
                break;
            };
            let take = (n - done).min(tail.tailroom());
            // The chunk is linear, unshared and has the room: this cannot fail.
            if tail.put_slice(&data[done..done + take]).is_err() {
                break;
            }
            done += take;
        }
        self.len += done;
        done
    }

    /// Appends bytes `[off, off + len)` of the queue to `pkt` as fragments sharing the
    /// chunks. Fails, leaving `pkt` unchanged, when the range is not held or would need more
    /// fragments than `pkt` has room for.
    pub fn append_to(
        &self,
        pkt: &mut PacketBuf,
        off: usize,
        len: usize,
    ) -> Result<(), PktBufError> {
        if off + len > self.len {
            return Err(PktBufError::TooShort {
                needed: off + len,
                have: self.len,
            });
        }
        // One search for the first chunk; the count walks a copy of the iterator.
        let parts = self.range(off, len);
        if pkt.nr_frags() + parts.clone().count() > crate::pktbuf::MAX_FRAGS {
            return Err(PktBufError::TooManyFrags);
        }
        for (chunk, o, l) in parts {
            pkt.append_shared(chunk, o, l)?;
        }
        Ok(())
    }

    /// The chunks holding bytes `[off, off + len)` of the queue (clamped to what is held), each
    /// with the offset and length of the part in it.
    fn range(
        &self,
        off: usize,
        len: usize,
    ) -> impl Iterator<Item = (&PacketBuf, usize, usize)> + Clone {
        let from = self.start + off as u64;
        let to = from + len as u64;
        let first = self
            .chunks
            .partition_point(|(at, c)| at + c.len() as u64 <= from);
        self.chunks
            .range(first..)
            .take_while(move |(at, _)| *at < to)
            .filter_map(move |(at, c)| {
                let a = from.max(*at);
                let b = to.min(at + c.len() as u64);
                (a < b).then(|| (c, (a - at) as usize, (b - a) as usize))
            })
    }

    /// Copies bytes from offset `off` into `out`; returns how many.
    pub fn peek(&self, off: usize, out: &mut [u8]) -> usize {
        let mut done = 0;
        for (c, o, l) in self.range(off, out.len()) {
            out[done..done + l].copy_from_slice(&c.data()[o..o + l]);
            done += l;
        }
        done
    }

    /// Drops `n` bytes from the front (clamped).
    pub fn consume(&mut self, n: usize) {
        let mut left = n.min(self.len);
        self.len -= left;
        self.start += left as u64;
        while left > 0 {
            let several = self.chunks.len() > 1;
            let Some((at, front)) = self.chunks.front_mut() else {
                break;
            };
            let take = left.min(front.len());
            // Chunks are linear, so this pull is within the head and cannot fail.
            let _ = front.pull(take);
            *at += take as u64;
            left -= take;
            if front.is_empty() {
                // A drained chunk is let go unless it is the writable tail.
                if several || front.is_shared() {
                    self.chunks.pop_front();
                } else {
                    break;
                }
            }
        }
    }

    /// Drops everything.
    pub fn clear(&mut self) {
        self.chunks.clear();
        self.len = 0;
    }
}

/// A growable byte ring.
#[derive(Debug, Default)]
pub struct RingBuf {
    buf: Vec<u8>,
    head: usize,
    len: usize,
    limit: usize,
}

impl RingBuf {
    /// A ring that holds at most `limit` bytes; storage is allocated as data arrives.
    pub fn new(limit: usize) -> Self {
        RingBuf {
            buf: Vec::new(),
            head: 0,
            len: 0,
            limit,
        }
    }

    /// Bytes held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Most bytes the ring may hold.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Room left under the limit.
    pub fn free(&self) -> usize {
        self.limit - self.len
    }

    /// Changes the limit; never below what is held.
    pub fn set_limit(&mut self, limit: usize) {
        self.limit = limit.max(self.len);
    }

    fn reserve(&mut self, need: usize) {
        if need <= self.buf.len() {
            return;
        }
        let cap = need.next_power_of_two().max(4096).min(self.limit.max(need));
        let mut nb = vec![0u8; cap];
        let (a, b) = self.slices(0, self.len);
        nb[..a.len()].copy_from_slice(a);
        nb[a.len()..a.len() + b.len()].copy_from_slice(b);
        self.buf = nb;
        self.head = 0;
    }

    /// Appends as much of `data` as fits; returns the bytes taken.
    pub fn push(&mut self, data: &[u8]) -> usize {
        let n = data.len().min(self.free());
        if n == 0 {
            return 0;
        }
        self.reserve(self.len + n);
        let cap = self.buf.len();
        let tail = (self.head + self.len) % cap;
        let first = n.min(cap - tail);
        self.buf[tail..tail + first].copy_from_slice(&data[..first]);
        self.buf[..n - first].copy_from_slice(&data[first..n]);
        self.len += n;
        n
    }

    /// The bytes `[off, off + n)` as up to two slices (clamped to what is held).
    pub fn slices(&self, off: usize, n: usize) -> (&[u8], &[u8]) {
        let off = off.min(self.len);
        let n = n.min(self.len - off);
        if n == 0 || self.buf.is_empty() {
            return (&[], &[]);
        }
        let cap = self.buf.len();
        let start = (self.head + off) % cap;
        let first = n.min(cap - start);
        (&self.buf[start..start + first], &self.buf[..n - first])
    }

    /// Copies bytes from offset `off` into `out`; returns how many.
    pub fn peek(&self, off: usize, out: &mut [u8]) -> usize {
        let (a, b) = self.slices(off, out.len());
        out[..a.len()].copy_from_slice(a);
        out[a.len()..a.len() + b.len()].copy_from_slice(b);
        a.len() + b.len()
    }

    /// Drops `n` bytes from the front (clamped).
    pub fn consume(&mut self, n: usize) {
        let n = n.min(self.len);
        if self.buf.is_empty() {
            return;
        }
        self.head = (self.head + n) % self.buf.len();
        self.len -= n;
        if self.len == 0 {
            self.head = 0;
        }
    }

    /// Reads up to `out.len()` bytes from the front.
    pub fn read(&mut self, out: &mut [u8]) -> usize {
        let n = self.peek(0, out);
        self.consume(n);
        n
    }

    /// Drops everything.
    pub fn clear(&mut self) {
        self.head = 0;
        self.len = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_and_grows_without_losing_bytes() {
        let mut r = RingBuf::new(10_000);
        let data: Vec<u8> = (0..=255u8).cycle().take(20_000).collect();
        let mut out = Vec::new();
        let mut fed = 0;
        let mut tmp = [0u8; 777];
        while out.len() < data.len() {
            fed += r.push(&data[fed..(fed + 3001).min(data.len())]);
            let n = r.read(&mut tmp);
            out.extend_from_slice(&tmp[..n]);
        }
        assert_eq!(out, data);
        assert!(r.is_empty());
    }

    #[test]
    fn limit_caps_push_and_peek_clamps() {
        let mut r = RingBuf::new(8);
        assert_eq!(r.push(b"0123456789"), 8);
        assert_eq!(r.free(), 0);
        let mut o = [0u8; 4];
        assert_eq!(r.peek(6, &mut o), 2);
        assert_eq!(&o[..2], b"67");
        r.consume(100);
        assert!(r.is_empty());
        r.set_limit(2);
        assert_eq!(r.push(b"abc"), 2);
    }

    #[test]
    fn send_queue_shares_chunks_and_never_rewrites_a_shared_one() {
        let data: Vec<u8> = (0..50_000u32).map(|i| (i % 251) as u8).collect();
        let mut q = SendQueue::new(40_000);
        assert_eq!(q.push(&data), 40_000);
        assert_eq!(q.free(), 0);
        let mut pkt = PacketBuf::new(64, 64);
        // Spans the first chunk boundary.
        q.append_to(&mut pkt, SEND_CHUNK - 10, 30).unwrap();
        assert_eq!(pkt.nr_frags(), 2);
        let mut out = vec![0u8; 30];
        pkt.copy_to(&mut out).unwrap();
        assert_eq!(out, data[SEND_CHUNK - 10..SEND_CHUNK + 20]);
        assert!(q.append_to(&mut pkt, 39_990, 11).is_err());
        // Acknowledge everything but the last 100 bytes; the segment keeps its bytes.
        q.consume(39_900);
        assert_eq!(q.len(), 100);
        pkt.copy_to(&mut out).unwrap();
        assert_eq!(out, data[SEND_CHUNK - 10..SEND_CHUNK + 20]);
        // The tail chunk is shared by a segment: new bytes go to a fresh chunk.
        let mut tail_seg = PacketBuf::new(0, 0);
        q.append_to(&mut tail_seg, 0, 100).unwrap();
        assert_eq!(q.push(&data[40_000..40_500]), 500);
        let mut all = vec![0u8; 600];
        assert_eq!(q.peek(0, &mut all), 600);
        assert_eq!(all, data[39_900..40_500]);
        let mut seg_bytes = vec![0u8; 100];
        tail_seg.copy_to(&mut seg_bytes).unwrap();
        assert_eq!(seg_bytes, data[39_900..40_000]);
        q.clear();
        assert!(q.is_empty());
    }
}
