//! A connection's send queue (bytes from `snd_una` on: unsent and unacknowledged) and its
//! receive queue (in-order bytes the application has not read).
//!
//! Both keep their bytes in packet buffers. The send queue ([`SendQueue`]) copies the
//! application's bytes into chunks that outgoing segments take as fragments instead of copying
//! (as Linux's skbs on the write queue hand their pages to the clones they transmit). The
//! receive queue ([`RecvQueue`]) keeps the buffers segments arrived in, so received bytes are
//! copied once, into the application's buffer (as Linux's `sk_receive_queue` of skbs).

use crate::pktbuf::{PacketBuf, PacketPool, PktBufError};
use crate::wire::checksum;
use std::collections::VecDeque;

/// Bytes per send-queue chunk while the queue holds less than [`SEND_CHUNK_BIG`] (requests,
/// replies, the start of a transfer): a socket that only ever has a little queued keeps no
/// more than this.
pub const SEND_CHUNK: usize = 16 * 1024;

/// Bytes per send-queue chunk for bytes that take the queue to [`SEND_CHUNK_BIG`] or more
/// (bulk data): a 64 KB super-packet's payload then lies in one chunk or two, so it and the
/// segments GSO cuts from it carry one or two fragments each, where 16 KiB chunks gave it five
/// and cut one segment in eleven in two. Linux fills its send skbs from 32 KiB page frags for
/// the same reason (`SKB_FRAG_PAGE_ORDER`).
pub const SEND_CHUNK_BIG: usize = 64 * 1024;

/// Chunks a send queue keeps for reuse beyond those its limit needs (chunks still referenced
/// by segments in flight after their bytes were acknowledged), of each size.
const SPARE_CHUNKS: usize = 16;

/// Puts a lazy pool of `count` chunks of `size` bytes in place of `pool` when its count is
/// another. Chunks of the old pool are freed when their last user drops them.
fn refit(pool: &mut PacketPool, count: usize, size: usize) {
    if pool.count() != count {
        *pool = PacketPool::lazy(count, size);
    }
}

/// A connection's send queue: a byte queue held in packet buffers of [`SEND_CHUNK`] bytes (or
/// [`SEND_CHUNK_BIG`] once it holds that much) that outgoing segments reference
/// ([`Self::append_to`]). A chunk that a segment still shares is never written again: new
/// bytes go to a fresh chunk. Chunks come from two pools of the queue's own, one per size,
/// made as needed and recycled.
#[derive(Debug)]
pub struct SendQueue {
    /// The chunks, each with the stream position (bytes ever pushed before it) of its first
    /// held byte, so a range is found by binary search.
    chunks: VecDeque<(u64, PacketBuf)>,
    /// Stream position of the first held byte.
    start: u64,
    len: usize,
    limit: usize,
    /// Chunks of [`SEND_CHUNK`] bytes.
    pool: PacketPool,
    /// Chunks of [`SEND_CHUNK_BIG`] bytes.
    big: PacketPool,
    /// Sums of the bytes in segment-sized cells, taken as they are copied in.
    cells: CellSums,
}

/// The one's-complement sums of a send queue's bytes cut into cells of one segment's payload
/// (`mss` bytes, laid out from a segment start on), taken while the application's bytes are
/// copied in ([`checksum::copy_and_sum`]), so that the checksum of a segment cut at those
/// places needs no second pass over its payload: Linux's `csum_and_copy_from_user` into
/// MSS-sized skbs on a device without checksum offload. Segments are cut at multiples of the
/// MSS from where sending continues, so the cells line up with every full segment until a
/// short one moves the cut (the application ran the queue dry); then the layout is set again
/// from there ([`SendQueue::track_cells`]). A segment that does not match a cell is summed as
/// before.
#[derive(Debug, Default)]
struct CellSums {
    /// Cell size; 0 when no sums are taken.
    mss: usize,
    /// Stream position where `done[0]` starts.
    first: u64,
    /// Sums of whole cells, from `first` on.
    done: VecDeque<u16>,
    /// Sum of the cell being filled, which starts at `first + done.len() * mss` and runs to
    /// the end of the queue (`open_len` bytes, fewer than `mss`).
    open: u16,
    open_len: usize,
}

impl CellSums {
    /// Takes in the sum `piece_sum` of the next `len` bytes pushed (which lie in one cell).
    fn add(&mut self, piece_sum: u16, len: usize) {
        self.open = checksum::add_block(self.open, piece_sum, self.open_len);
        self.open_len += len;
        if self.open_len == self.mss {
            self.done.push_back(self.open);
            (self.open, self.open_len) = (0, 0);
        }
    }

    /// Bytes the cell being filled still takes.
    fn room(&self) -> usize {
        self.mss - self.open_len
    }

    /// Starts again with no cells, the next one starting at stream position `at`.
    fn reset(&mut self, at: u64) {
        self.first = at;
        self.done.clear();
        (self.open, self.open_len) = (0, 0);
    }
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
            big: PacketPool::lazy(Self::big_count(limit), SEND_CHUNK_BIG),
            cells: CellSums::default(),
        }
    }

    /// Small chunks the queue can need: those that take it to [`SEND_CHUNK_BIG`] bytes.
    fn pool_count(limit: usize) -> usize {
        limit.min(SEND_CHUNK_BIG).div_ceil(SEND_CHUNK) + SPARE_CHUNKS
    }

    /// Big chunks the queue can need.
    fn big_count(limit: usize) -> usize {
        limit.div_ceil(SEND_CHUNK_BIG) + SPARE_CHUNKS
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
        refit(&mut self.pool, Self::pool_count(self.limit), SEND_CHUNK);
        refit(&mut self.big, Self::big_count(self.limit), SEND_CHUNK_BIG);
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
                // A big chunk when this write takes the queue to a big chunk's worth.
                let rest = n - done;
                let pool = if self.len + n >= SEND_CHUNK_BIG {
                    &self.big
                } else {
                    &self.pool
                };
                // Past the pool (many small writes each still referenced by a segment in
                // flight), a heap chunk sized to the write, not a zero-filled full chunk.
                let chunk = pool
                    .alloc(0)
                    .unwrap_or_else(|| PacketBuf::new(rest.clamp(2048, pool.buf_size()), 0));
                let at = self.start + (self.len + done) as u64;
                self.chunks.push_back((at, chunk));
            }
            let Some((_, tail)) = self.chunks.back_mut() else {
                break;
            };
            let take = (n - done).min(tail.tailroom());
            // The chunk is linear, unshared and has the room: this cannot fail.
            let Ok(dst) = tail.put(take) else {
                break;
            };
            let src = &data[done..done + take];
            if self.cells.mss == 0 {
                dst.copy_from_slice(src);
            } else {
                // Copied cell piece by cell piece, each summed on the way.
                let mut at = 0;
                while at < take {
                    let piece = (take - at).min(self.cells.room());
                    let s = checksum::copy_and_sum(&mut dst[at..at + piece], &src[at..at + piece]);
                    self.cells.add(s, piece);
                    at += piece;
                }
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
        if self.len == 0 {
            // Everything acknowledged: sending continues from here.
            self.cells.reset(self.start);
        }
        let mss = self.cells.mss as u64;
        while self.cells.first + mss <= self.start && self.cells.done.pop_front().is_some() {
            self.cells.first += mss;
        }
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
        self.cells.reset(self.start);
    }

    /// Takes sums of cells of `mss` bytes with one starting at offset `off` (where the next
    /// new segment starts) from now on, as the bytes are pushed ([`CellSums`]). Nothing
    /// changes when the cells already line up with `off`; otherwise the cells of the bytes
    /// already held are dropped, but for the one being filled at the end, whose bytes (fewer
    /// than `mss`, the latest pushed) are summed again. `mss` 0 stops taking sums.
    pub fn track_cells(&mut self, off: usize, mss: usize) {
        let c = &mut self.cells;
        let at = self.start + off as u64;
        let end = self.start + self.len as u64;
        if mss == 0 {
            c.mss = 0;
            c.reset(end);
            return;
        }
        if off > self.len || (c.mss == mss && at.abs_diff(c.first) % mss as u64 == 0) {
            return;
        }
        c.mss = mss;
        let open_from = at + (end - at) / mss as u64 * mss as u64;
        c.reset(open_from);
        let open_off = (open_from - self.start) as usize;
        let open = self.range(open_off, self.len - open_off);
        self.cells.open = checksum::sum_pieces(
            open.map(|(chunk, o, l)| chunk.data().get(o..o + l).unwrap_or(&[])),
        );
        self.cells.open_len = self.len - open_off;
    }

    /// The cell size sums are taken at (0: none are taken).
    pub fn cell_size(&self) -> usize {
        self.cells.mss
    }

    /// The sum of bytes `[off, off + len)` (one segment's payload) when the cells know it: a
    /// whole cell, or the cell being filled at the end of the queue when the segment is all
    /// of it (the short tail a write left, sent as it is: no second pass over those bytes
    /// either).
    pub fn segment_sum(&self, off: usize, len: usize) -> Option<u16> {
        let c = &self.cells;
        if c.mss == 0 || len == 0 {
            return None;
        }
        if len == c.mss {
            return self.cell_sums(off, len, len)?.next();
        }
        let at = self.start + off as u64;
        let open_at = c.first + (c.done.len() * c.mss) as u64;
        (at == open_at && len == c.open_len && off + len == self.len).then_some(c.open)
    }

    /// The sums of the whole `mss`-byte cells in bytes `[off, off + len)` when cells of that
    /// size start at `off` (the sum of each full segment of a super-packet cut there at that
    /// size, in order); `None` when they do not line up or none is known. May return fewer
    /// than `len / mss` (the rest are not known).
    pub fn cell_sums(
        &self,
        off: usize,
        len: usize,
        mss: usize,
    ) -> Option<impl Iterator<Item = u16> + '_> {
        let c = &self.cells;
        let at = self.start + off as u64;
        if mss == 0 || c.mss != mss || at < c.first || (at - c.first) % mss as u64 != 0 {
            return None;
        }
        let k = ((at - c.first) / mss as u64) as usize;
        let n = (len / mss).min(c.done.len().saturating_sub(k));
        (n > 0).then(|| c.done.range(k..k + n).copied())
    }
}

/// Bytes per chunk the receive queue copies into (segments it cannot keep as they are).
pub const RECV_CHUNK: usize = 16 * 1024;

/// Segments shorter than this are copied into the receive queue's last chunk rather than kept
/// in their own buffer (as Linux's `tcp_try_coalesce` copies a small skb into the one before):
/// a short segment would keep a whole frame alive for a few bytes, or on an in-memory wire a
/// whole send-queue chunk of the peer's, which the peer then cannot append to.
pub const RECV_COPY_BELOW: usize = 1024;

/// Chunks a receive queue's pool keeps beyond those its limit needs.
const RECV_SPARE_CHUNKS: usize = 4;

/// A connection's receive queue (Linux `sk_receive_queue`): the in-order bytes the application
/// has not read, kept in the packet buffers they arrived in, so [`Self::read`] copies them to
/// the application once and nothing copies them before.
///
/// A segment's payload is kept by sharing its buffer's storage ([`PacketBuf::share`]), without
/// its headers. Payload in a fixed-size pool's buffer (a device's receive ring) is copied into
/// the queue's own [`RECV_CHUNK`]-byte chunks instead, so the queue never starves a ring, as
/// are segments shorter than [`RECV_COPY_BELOW`] and data handed over as a slice (from the
/// out-of-order queue). Small copies fill the last chunk before a new one is taken.
///
/// The window is counted in bytes ([`Self::free`]), but kept buffers can stand for more memory
/// than their bytes (a one-byte segment keeps a whole frame alive). The queue charges each
/// buffer its [`PacketBuf::truesize`], and when the total passes twice the limit it copies
/// everything into compact chunks (Linux `tcp_collapse`), so memory stays bounded by the
/// limit whatever the segment sizes.
#[derive(Debug)]
pub struct RecvQueue {
    /// The buffers, oldest first; each holds only payload bytes.
    bufs: VecDeque<PacketBuf>,
    /// Bytes of the first buffer already read.
    front_off: usize,
    /// Unread bytes held.
    len: usize,
    /// Most unread bytes the queue may hold (the receive buffer).
    limit: usize,
    /// Sum of the held buffers' [`PacketBuf::truesize`].
    mem: usize,
    /// Chunks for copied bytes, made on demand and recycled.
    pool: PacketPool,
    /// Times the queue was compacted.
    collapses: u64,
}

impl RecvQueue {
    /// A queue that holds at most `limit` bytes.
    pub fn new(limit: usize) -> Self {
        RecvQueue {
            bufs: VecDeque::new(),
            front_off: 0,
            len: 0,
            limit,
            mem: 0,
            pool: PacketPool::lazy(Self::pool_count(limit), RECV_CHUNK),
            collapses: 0,
        }
    }

    fn pool_count(limit: usize) -> usize {
        limit.div_ceil(RECV_CHUNK) + RECV_SPARE_CHUNKS
    }

    /// Unread bytes held.
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

    /// Room left under the limit: what the window may offer.
    pub fn free(&self) -> usize {
        self.limit.saturating_sub(self.len)
    }

    /// Memory the held buffers stand for (sum of their [`PacketBuf::truesize`]).
    pub fn mem(&self) -> usize {
        self.mem
    }

    /// Most memory the held buffers may stand for before the queue is compacted.
    pub fn mem_limit(&self) -> usize {
        2 * self.limit + RECV_CHUNK
    }

    /// How many times the queue was compacted because its buffers held too much memory for
    /// their bytes.
    pub fn collapses(&self) -> u64 {
        self.collapses
    }

    /// Changes the limit; never below what is held.
    pub fn set_limit(&mut self, limit: usize) {
        self.limit = limit.max(self.len);
        refit(&mut self.pool, Self::pool_count(self.limit), RECV_CHUNK);
    }

    /// Appends as much of `data` as fits, copying it; returns the bytes taken.
    pub fn push(&mut self, data: &[u8]) -> usize {
        let n = data.len().min(self.free());
        self.push_over_limit(&data[..n])
    }

    /// Appends all of `data`, copying it, even past the limit; returns the bytes taken. For
    /// bytes the window already accepted, which are acknowledged once queued: Linux's
    /// `tcp_ofo_queue` moves out-of-order data to the receive queue without checking
    /// `sk_rcvbuf`, which `SO_RCVBUF` may have lowered since the data arrived.
    pub fn push_over_limit(&mut self, data: &[u8]) -> usize {
        let n = self.copy_in(data);
        self.len += n;
        self.check_mem();
        n
    }

    /// Appends as much of bytes `[off, off + len)` of `pkt` (counted over its head, then its
    /// fragments) as fits; returns the bytes taken. The bytes are kept in `pkt`'s storage
    /// without a copy unless they are fewer than [`RECV_COPY_BELOW`] or lie in a fixed-size
    /// pool's buffer.
    pub fn push_shared(&mut self, pkt: &PacketBuf, off: usize, len: usize) -> usize {
        let n = len.min(self.free()).min(pkt.len().saturating_sub(off));
        if n == 0 {
            return 0;
        }
        let shared = if n < RECV_COPY_BELOW || pkt.pins_fixed_pool(off, n) {
            None
        } else {
            pkt.share(off, n).ok()
        };
        let n = match shared {
            Some(b) => {
                self.mem += b.truesize();
                self.bufs.push_back(b);
                n
            }
            None => self.copy_from(pkt, off, n),
        };
        self.len += n;
        self.check_mem();
        n
    }

    /// Copies `data` into the queue's chunks (the caller checked the room); returns how many
    /// bytes were copied.
    fn copy_in(&mut self, data: &[u8]) -> usize {
        let mut done = 0;
        while done < data.len() {
            let Some(tail) = self.writable_tail(data.len() - done) else {
                break;
            };
            let take = tail.tailroom().min(data.len() - done);
            // The tail is linear, unshared and has the room: this cannot fail.
            if tail.put_slice(&data[done..done + take]).is_err() {
                break;
            }
            done += take;
        }
        done
    }

    /// Copies bytes `[off, off + len)` of `pkt` into the queue's chunks (the caller checked
    /// the room); returns how many bytes were copied.
    fn copy_from(&mut self, pkt: &PacketBuf, off: usize, len: usize) -> usize {
        let mut done = 0;
        while done < len {
            let Some(tail) = self.writable_tail(len - done) else {
                break;
            };
            let room = tail.tailroom().min(len - done);
            let got = match tail.put(room) {
                Ok(dst) => pkt.copy_range_to(off + done, dst),
                Err(_) => break,
            };
            done += got;
            if got < room {
                // Only if `pkt` holds less than it said; the unwritten room is given back.
                let _ = tail.trim(tail.len() - (room - got));
                break;
            }
        }
        done
    }

    /// The last buffer if it is a chunk of the queue's with room left, else a new chunk
    /// (appended) for `want` more bytes.
    fn writable_tail(&mut self, want: usize) -> Option<&mut PacketBuf> {
        let writable = self.bufs.back().is_some_and(|b| {
            b.nr_frags() == 0 && !b.is_shared() && b.tailroom() > 0 && b.head_len() > 0
        });
        if !writable {
            // Past the pool (many small chunks each holding a few unread bytes), a heap chunk
            // sized to the copy.
            let chunk = self
                .pool
                .alloc(0)
                .unwrap_or_else(|| PacketBuf::new(want.clamp(2048, RECV_CHUNK), 0));
            self.mem += chunk.truesize();
            self.bufs.push_back(chunk);
        }
        self.bufs.back_mut()
    }

    /// Compacts the queue when its buffers stand for more than [`Self::mem_limit`].
    fn check_mem(&mut self) {
        if self.mem > self.mem_limit() {
            self.collapse();
        }
    }

    /// Copies every unread byte into fresh chunks and lets the old buffers go (Linux
    /// `tcp_collapse`): afterwards the queue stands for about its bytes and no more.
    fn collapse(&mut self) {
        let old = std::mem::take(&mut self.bufs);
        let mut skip = std::mem::take(&mut self.front_off);
        self.mem = 0;
        for b in &old {
            let at = std::mem::take(&mut skip).min(b.len());
            self.copy_from(b, at, b.len() - at);
        }
        self.collapses += 1;
    }

    /// Copies bytes from offset `off` into `out` without consuming them; returns how many.
    pub fn peek(&self, off: usize, out: &mut [u8]) -> usize {
        let mut skip = off + self.front_off;
        let mut done = 0;
        for b in &self.bufs {
            if done == out.len() {
                break;
            }
            if skip >= b.len() {
                skip -= b.len();
                continue;
            }
            done += b.copy_range_to(skip, &mut out[done..]);
            skip = 0;
        }
        done
    }

    /// Reads up to `out.len()` bytes from the front; returns how many.
    pub fn read(&mut self, out: &mut [u8]) -> usize {
        let mut done = 0;
        self.read_with(|piece| {
            let take = piece.len().min(out.len() - done);
            out[done..done + take].copy_from_slice(&piece[..take]);
            done += take;
            take
        })
    }

    /// Hands the bytes at the front to `reader` in place, as the contiguous slices they are
    /// held in, oldest first, without copying them out (Linux `tcp_read_sock`'s actor,
    /// smoltcp's `recv` closure). `reader` returns how many bytes of the slice it consumed; the
    /// reading stops at a slice it did not consume whole. Returns the bytes consumed.
    pub fn read_with(&mut self, mut reader: impl FnMut(&[u8]) -> usize) -> usize {
        let mut done = 0;
        'bufs: while let Some(front) = self.bufs.front() {
            let mut off = self.front_off;
            for piece in front.slices_from(off) {
                let took = reader(piece).min(piece.len());
                off += took;
                done += took;
                if took < piece.len() {
                    self.front_off = off;
                    break 'bufs;
                }
            }
            if off >= front.len() {
                self.pop_front();
            } else {
                self.front_off = off;
                break;
            }
        }
        self.len -= done;
        done
    }

    fn pop_front(&mut self) {
        if let Some(b) = self.bufs.pop_front() {
            self.mem = self.mem.saturating_sub(b.truesize());
        }
        self.front_off = 0;
    }

    /// Drops everything.
    pub fn clear(&mut self) {
        self.bufs.clear();
        self.front_off = 0;
        self.len = 0;
        self.mem = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A heap frame of `hdr` header bytes (0xee) then `payload`, as a received segment is.
    fn frame(hdr: usize, payload: &[u8]) -> PacketBuf {
        let mut bytes = vec![0xee; hdr];
        bytes.extend_from_slice(payload);
        PacketBuf::from_slice(64, &bytes)
    }

    fn stream(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i % 251) as u8).collect()
    }

    /// A queue holding kept frames, a copied slice, and a super-packet whose payload spans
    /// head and fragments, one after another, with the first bytes of `data`; returns it and
    /// how many bytes it holds.
    fn mixed_queue(data: &[u8]) -> (RecvQueue, usize) {
        let mut q = RecvQueue::new(1 << 20);
        let mut fed = 0;
        for len in [1448, 3, 1448, 1024] {
            let f = frame(52, &data[fed..fed + len]);
            assert_eq!(q.push_shared(&f, 52, len), len);
            fed += len;
        }
        assert_eq!(q.push(&data[fed..fed + 700]), 700);
        fed += 700;
        let mut sp = frame(40, &data[fed..fed + 100]);
        let tail = frame(0, &data[fed + 100..fed + 2100]);
        sp.append_frags(tail).unwrap();
        assert_eq!(q.push_shared(&sp, 40, 2100), 2100);
        fed += 2100;
        (q, fed)
    }

    #[test]
    fn recv_queue_hands_bytes_in_place_and_stops_where_the_reader_does() {
        let data = stream(10_000);
        let (mut q, fed) = mixed_queue(&data);
        // A reader that takes at most 7 bytes of each slice stops each read at the first slice
        // longer than that; reads resume where it stopped.
        let mut out = Vec::new();
        let mut slices = 0;
        loop {
            let n = q.read_with(|s| {
                slices += 1;
                let take = s.len().min(7);
                out.extend_from_slice(&s[..take]);
                take
            });
            if n == 0 {
                break;
            }
            assert_eq!(q.len(), fed - out.len());
        }
        assert_eq!(out, data[..fed]);
        assert!(slices > fed / 7, "{slices} slices");
        assert!(q.is_empty());
        assert_eq!(q.mem(), 0);

        // A reader that takes everything gets each stored slice whole: one per kept frame, the
        // copied bytes, then the super-packet's head and fragment.
        let (mut q, fed) = mixed_queue(&data);
        let mut lens = Vec::new();
        let mut out = Vec::new();
        assert_eq!(
            q.read_with(|s| {
                lens.push(s.len());
                out.extend_from_slice(s);
                s.len()
            }),
            fed
        );
        assert_eq!(out, data[..fed]);
        assert_eq!(lens.iter().sum::<usize>(), fed);
        assert!(lens.len() >= 6, "{lens:?}");
        assert!(q.is_empty());

        // A reader that takes nothing leaves the queue as it was.
        let (mut q, fed) = mixed_queue(&data);
        assert_eq!(q.read_with(|_| 0), 0);
        assert_eq!(q.len(), fed);
        let mut first = [0u8; 10];
        assert_eq!(q.read(&mut first), 10);
        assert_eq!(first, data[..10]);
    }

    #[test]
    fn recv_queue_reads_across_buffers_in_odd_pieces() {
        let data = stream(10_000);
        let (mut q, fed) = mixed_queue(&data);
        assert_eq!(q.len(), fed);
        assert_eq!(q.free(), (1 << 20) - fed);
        let mut peeked = vec![0u8; 2000];
        assert_eq!(q.peek(1400, &mut peeked), 2000);
        assert_eq!(peeked, data[1400..3400]);
        let mut out = Vec::new();
        let mut tmp = [0u8; 7];
        loop {
            let n = q.read(&mut tmp);
            if n == 0 {
                break;
            }
            out.extend_from_slice(&tmp[..n]);
        }
        assert_eq!(out, data[..fed]);
        assert!(q.is_empty());
        assert_eq!(q.mem(), 0);
    }

    #[test]
    fn recv_queue_keeps_heap_frames_and_copies_out_of_fixed_pools() {
        let data = stream(1448);
        let mut q = RecvQueue::new(1 << 20);
        // A heap frame is kept: its storage is shared with the queue until read.
        let kept = frame(52, &data);
        q.push_shared(&kept, 52, data.len());
        assert!(kept.is_shared());
        // A device ring's buffer is copied out, so the ring gets it back at once.
        let ring = PacketPool::new(2, 2048);
        let mut f = ring.alloc(64).unwrap();
        f.put_slice(&[0xee; 52]).unwrap();
        f.put_slice(&data).unwrap();
        q.push_shared(&f, 52, data.len());
        assert!(!f.is_shared());
        drop(f);
        assert_eq!(ring.available(), 2);
        let mut out = vec![0u8; 2 * data.len()];
        assert_eq!(q.read(&mut out), out.len());
        assert_eq!(out[..data.len()], data[..]);
        assert_eq!(out[data.len()..], data[..]);
        assert!(!kept.is_shared(), "a read buffer is let go");
    }

    #[test]
    fn recv_queue_window_counts_unread_bytes() {
        let data = stream(12_000);
        let mut q = RecvQueue::new(10_000);
        assert_eq!(q.push_shared(&frame(20, &data[..6000]), 20, 6000), 6000);
        // Only what fits under the limit is taken.
        assert_eq!(q.push_shared(&frame(20, &data[6000..]), 20, 6000), 4000);
        assert_eq!(q.free(), 0);
        assert_eq!(q.push(b"x"), 0);
        let mut out = vec![0u8; 5000];
        assert_eq!(q.read(&mut out), 5000);
        assert_eq!(q.free(), 5000);
        assert_eq!(q.len(), 5000);
        q.set_limit(100);
        assert_eq!(q.limit(), 5000, "never below what is held");
        q.clear();
        assert!(q.is_empty());
        assert_eq!(q.free(), 5000);
    }

    #[test]
    fn recv_queue_collapses_buffers_that_hold_more_memory_than_bytes() {
        let mut q = RecvQueue::new(64 << 10);
        let data = stream(200 * 1024);
        // Segments of 1 KiB in 16 pieces each, every piece a frame of its own: each stands
        // for about five times its bytes.
        let mut fed = 0;
        for _ in 0..200 {
            let mut seg = frame(40, &data[fed..fed + 64]);
            for k in 1..16 {
                let at = fed + 64 * k;
                seg.append_frags(frame(0, &data[at..at + 64])).unwrap();
            }
            assert_eq!(q.push_shared(&seg, 40, 1024), 1024);
            fed += 1024;
            assert!(q.mem() <= q.mem_limit(), "memory {} over the cap", q.mem());
            if q.free() == 0 {
                break;
            }
        }
        assert!(q.collapses() > 0);
        assert_eq!(q.len(), 64 << 10);
        let mut out = vec![0u8; 128 << 10];
        assert_eq!(q.read(&mut out), 64 << 10);
        assert_eq!(out[..64 << 10], data[..64 << 10]);
    }

    #[test]
    fn recv_queue_copies_short_segments_into_one_chunk() {
        let mut q = RecvQueue::new(1 << 20);
        let data = stream(400);
        let frames: Vec<PacketBuf> = (0..400).map(|i| frame(40, &data[i..i + 1])).collect();
        for f in &frames {
            assert_eq!(q.push_shared(f, 40, 1), 1);
            assert!(!f.is_shared(), "a one-byte segment does not keep its frame");
        }
        // One chunk and its bookkeeping, not 400 frames.
        assert!(q.mem() < 2 * RECV_CHUNK, "memory {}", q.mem());
        let mut out = vec![0u8; 500];
        assert_eq!(q.read(&mut out), 400);
        assert_eq!(out[..400], data[..]);
    }

    /// The sums of the `mss`-byte cells of `data` from byte `from` on, as `cell_sums` gives
    /// them, computed directly.
    fn cells_of(data: &[u8], from: usize, n: usize, mss: usize) -> Vec<u16> {
        (0..n)
            .map(|k| checksum::sum(&data[from + k * mss..from + (k + 1) * mss]))
            .collect()
    }

    #[test]
    fn send_queue_sums_segment_cells_as_it_copies_and_follows_where_sending_goes_on() {
        let data: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 253) as u8).collect();
        let mss = 1448;
        let mut q = SendQueue::new(150_000);
        q.track_cells(0, mss);
        // Writes of odd sizes, across chunk boundaries, one of a single byte.
        let mut at = 0;
        for w in [1000, 3001, 1, 17_000, 44_444, 30_000] {
            assert_eq!(q.push(&data[at..at + w]), w);
            at += w;
        }
        let held = at;
        let whole = held / mss;
        let sums: Vec<u16> = q.cell_sums(0, whole * mss, mss).unwrap().collect();
        assert_eq!(sums, cells_of(&data, 0, whole, mss));
        // A super-packet further on gets the cells it spans; one of a partial segment more
        // gets the whole ones only.
        let got: Vec<u16> = q.cell_sums(5 * mss, 3 * mss + 100, mss).unwrap().collect();
        assert_eq!(got, cells_of(&data, 5 * mss, 3, mss));
        // Off the cells, at another size, or past what is held: nothing.
        assert!(q.cell_sums(5 * mss + 2, 3 * mss, mss).is_none());
        assert!(q.cell_sums(0, 3 * 1000, 1000).is_none());
        assert!(q.cell_sums(whole * mss, 2 * mss, mss).is_none());
        assert!(q.cell_sums(0, mss - 1, mss).is_none());

        // Acknowledging drops the cells before; the rest keep their place in the stream.
        q.consume(3 * mss + 10);
        let got: Vec<u16> = q.cell_sums(mss - 10, 2 * mss, mss).unwrap().collect();
        assert_eq!(got, cells_of(&data, 4 * mss, 2, mss));

        // A short segment moved where sending goes on: cells start again from there. The
        // bytes already held have none but for the open cell at the end, summed again, which
        // the next write completes.
        let new_start = 7 * mss + 700; // stream position
        let acked = 3 * mss + 10;
        q.track_cells(new_start - acked, mss);
        assert!(q.cell_sums(new_start - acked, mss, mss).is_none());
        let open_from = new_start + (held - new_start) / mss * mss;
        assert_eq!(q.push(&data[held..held + 5000]), 5000);
        let now_whole = (held + 5000 - open_from) / mss;
        let got: Vec<u16> = q
            .cell_sums(open_from - acked, now_whole * mss, mss)
            .unwrap()
            .collect();
        assert_eq!(got, cells_of(&data, open_from, now_whole, mss));
        // Tracking again at a place on the same cells changes nothing.
        q.track_cells(open_from - acked + 2 * mss, mss);
        assert!(q.cell_sums(open_from - acked, mss, mss).is_some());

        // Everything acknowledged: cells start where the next byte will.
        q.consume(q.len());
        let base = held + 5000;
        assert_eq!(q.push(&data[base..base + 3 * mss]), 3 * mss);
        let got: Vec<u16> = q.cell_sums(0, 3 * mss, mss).unwrap().collect();
        assert_eq!(got, cells_of(&data, base, 3, mss));

        // Size 0 stops the sums: nothing is known, and bytes are still copied.
        q.track_cells(0, 0);
        assert!(q.cell_sums(0, 3 * mss, mss).is_none());
        assert_eq!(q.push(&data[..mss]), mss);
        let mut out = vec![0u8; 4 * mss];
        assert_eq!(q.peek(0, &mut out), 4 * mss);
        assert_eq!(&out[..3 * mss], &data[base..base + 3 * mss]);
        assert_eq!(&out[3 * mss..], &data[..mss]);
    }

    #[test]
    fn send_queue_knows_the_sum_of_a_whole_cell_and_of_the_short_tail() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 13 % 251) as u8).collect();
        let mss = 1448;
        let mut q = SendQueue::new(100_000);
        q.track_cells(0, mss);
        assert_eq!(q.cell_size(), mss);
        assert_eq!(q.push(&data[..100]), 100);
        // The whole queue is the open cell: a segment of all of it has its sum.
        assert_eq!(q.segment_sum(0, 100), Some(checksum::sum(&data[..100])));
        assert_eq!(q.segment_sum(0, 99), None);
        assert_eq!(q.segment_sum(1, 99), None);
        // Acknowledged: the next write starts a new cell.
        q.consume(100);
        assert_eq!(q.push(&data[100..137]), 37);
        assert_eq!(q.segment_sum(0, 37), Some(checksum::sum(&data[100..137])));
        // Two whole cells and an odd-length tail (the cell starts at an odd stream position).
        assert_eq!(q.push(&data[137..3137]), 3000);
        for k in 0..2 {
            let at = 100 + k * mss;
            assert_eq!(
                q.segment_sum(k * mss, mss),
                Some(checksum::sum(&data[at..at + mss]))
            );
        }
        let tail = 3037 - 2 * mss;
        assert_eq!(
            q.segment_sum(2 * mss, tail),
            Some(checksum::sum(&data[100 + 2 * mss..3137]))
        );
        assert_eq!(q.segment_sum(2 * mss, tail - 1), None);
        assert_eq!(q.segment_sum(2 * mss + 1, tail - 1), None);
        assert_eq!(q.segment_sum(0, 0), None);
        // A tail partly acknowledged is not a cell's start any more.
        q.consume(2 * mss + 5);
        assert_eq!(q.segment_sum(0, tail - 5), None);
        // No sums taken: none known.
        q.track_cells(0, 0);
        assert_eq!(q.segment_sum(0, tail - 5), None);
    }

    #[test]
    fn small_writes_take_small_chunks_and_bulk_data_big_ones() {
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let sizes = |q: &SendQueue| {
            q.chunks
                .iter()
                .map(|(_, c)| c.headroom() + c.len() + c.tailroom())
                .collect::<Vec<_>>()
        };
        // Requests and replies: a few hundred bytes at a time, acknowledged as they go. The
        // queue keeps one small chunk, which the next writes fill.
        let mut q = SendQueue::new(4 << 20);
        for _ in 0..100 {
            assert_eq!(q.push(&data[..300]), 300);
            q.consume(300);
        }
        assert_eq!(sizes(&q), [SEND_CHUNK]);
        // Small writes that pile up: small chunks until a big chunk's worth is queued.
        let mut q = SendQueue::new(4 << 20);
        let mut pushed = 0;
        while pushed < 200_000 {
            pushed += q.push(&data[pushed..pushed + 1000]);
        }
        let s = sizes(&q);
        let small = SEND_CHUNK_BIG.div_ceil(SEND_CHUNK);
        assert!(s[..small].iter().all(|&c| c == SEND_CHUNK), "{s:?}");
        assert!(s[small..].iter().all(|&c| c == SEND_CHUNK_BIG), "{s:?}");
        // Bulk data into an empty queue: big chunks from the start, so a 64 KB super-packet's
        // payload is one fragment or two.
        let mut q = SendQueue::new(4 << 20);
        assert_eq!(q.push(&data), data.len());
        assert_eq!(sizes(&q), [SEND_CHUNK_BIG; 5]);
        for off in (0..data.len() - 65_160).step_by(65_160) {
            let mut pkt = PacketBuf::new(64, 64);
            q.append_to(&mut pkt, off, 65_160).unwrap();
            assert!(pkt.nr_frags() <= 2, "{} fragments at {off}", pkt.nr_frags());
            let mut out = vec![0; 65_160];
            pkt.copy_to(&mut out).unwrap();
            assert_eq!(out, data[off..off + 65_160]);
        }
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

    /// A model check of the cell bookkeeping: random pushes (of random bytes and sizes),
    /// acknowledgements, clears, limit changes and `track_cells` calls at any offset and
    /// size, and after each, every sum `cell_sums` gives for any start and size is checked
    /// against the bytes the queue holds there.
    #[test]
    fn send_queue_cell_sums_always_match_the_bytes_held() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut rnd = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n.max(1)
        };
        let mut q = SendQueue::new(200_000);
        let mut fed = 0u64;
        let mut checked = 0;
        for step in 0..3000 {
            match rnd(10) {
                0..=3 => {
                    let n = match rnd(4) {
                        0 => rnd(8),
                        1 => rnd(200),
                        2 => rnd(3000),
                        _ => rnd(40_000),
                    } as usize;
                    let data: Vec<u8> = (0..n).map(|_| rnd(256) as u8).collect();
                    fed += q.push(&data) as u64;
                }
                4 | 5 => q.consume(rnd(q.len() as u64 + 1) as usize),
                6 | 7 => {
                    let mss = [0, 1, 7, 536, 1448, 1449, 1448, 1448][rnd(8) as usize];
                    let off = rnd(q.len() as u64 + 3) as usize;
                    q.track_cells(off, mss);
                }
                8 => q.set_limit(50_000 + rnd(200_000) as usize),
                _ => {
                    if rnd(20) == 0 {
                        q.clear();
                    }
                }
            }
            let mut held = vec![0u8; q.len()];
            assert_eq!(q.peek(0, &mut held), q.len());
            for mss in [1, 7, 536, 1448, 1449] {
                for off in 0..q.len().min(3 * mss) {
                    let Some(sums) = q.cell_sums(off, q.len() - off, mss) else {
                        continue;
                    };
                    for (k, s) in sums.enumerate() {
                        let at = off + k * mss;
                        assert!(at + mss <= q.len(), "step {step}: cell past the end");
                        checked += 1;
                        assert_eq!(
                            s,
                            checksum::sum(&held[at..at + mss]),
                            "step {step}: mss {mss} off {off} cell {k}"
                        );
                    }
                }
            }
        }
        assert!(fed > 1_000_000);
        assert!(checked > 100_000, "{checked} sums checked");
    }
}
