//! Mempool: fixed-size packet buffers carved out of DMA regions.
//!
//! A [`Mempool`] owns a few mapped [`DmaRegion`](crate::DmaRegion)s cut into equal buffers.
//! Buffers are handed out as [`PktBuf`]s, which know their IOVA and go back to the pool when
//! dropped, wherever they are dropped (a socket, another thread). The free list is a stack of
//! buffer numbers allocated once at full size, so taking and returning buffers never allocates.
//!
//! The shared free list sits behind a mutex; a queue takes and returns buffers in batches
//! through its own [`PoolCache`] so the lock is taken once per batch, not once per packet.
//! Buffers dropped outside any cache (by the stack, say) go straight back to the shared list.
//!
//! Buffer memory is only reached through copying methods ([`PktBuf::read`], [`PktBuf::write`]):
//! the card writes it concurrently while a buffer is posted, so no Rust reference to it may exist.

use crate::device::DmaPerm;
use crate::dma::{DmaError, HUGE_PAGE};
use crate::iova::{DmaMapping, IovaSpace, MapError};
use std::sync::{Arc, Mutex, PoisonError};

/// Why a pool could not be made or a buffer used.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    /// The buffer size is outside what the pool supports.
    #[error("buffer size {0} is not in 64..=65536")]
    BadBufSize(usize),
    /// A pool needs at least one buffer and at most 2^31.
    #[error("buffer count {0} is not in 1..=2^31")]
    BadCount(usize),
    /// Memory could not be had or mapped.
    #[error(transparent)]
    Map(#[from] MapError),
}

/// Buffers are aligned to a cache line so the card's writes never share a line.
pub const BUF_ALIGN: usize = 64;
/// Buffers a [`PoolCache`] moves per trip to the shared list.
pub const CACHE_BATCH: usize = 32;

struct PoolInner {
    regions: Vec<DmaMapping>,
    buf_size: usize,
    per_region: usize,
    count: usize,
    free: Mutex<Vec<u32>>,
}

impl PoolInner {
    fn free_list(&self) -> std::sync::MutexGuard<'_, Vec<u32>> {
        // A Vec<u32> of ids is consistent at every await-free step: poisoning carries no meaning.
        self.free.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn put(&self, id: u32) {
        // Capacity was reserved for every buffer: this push never allocates.
        self.free_list().push(id);
    }

    fn locate(&self, id: u32) -> (&DmaMapping, usize) {
        let id = id as usize;
        (
            &self.regions[id / self.per_region],
            (id % self.per_region) * self.buf_size,
        )
    }
}

/// A pool of fixed-size DMA buffers. Cheap to clone (shared).
#[derive(Clone)]
pub struct Mempool {
    inner: Arc<PoolInner>,
}

impl std::fmt::Debug for Mempool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mempool")
            .field("buf_size", &self.inner.buf_size)
            .field("count", &self.inner.count)
            .field("available", &self.available())
            .finish()
    }
}

impl Mempool {
    /// A pool of `count` buffers of at least `buf_size` bytes (rounded up to [`BUF_ALIGN`]),
    /// mapped read-write for the device of `space` in regions of up to one hugepage each.
    pub fn new(space: &IovaSpace, buf_size: usize, count: usize) -> Result<Self, PoolError> {
        if !(64..=65536).contains(&buf_size) {
            return Err(PoolError::BadBufSize(buf_size));
        }
        if count == 0 || count > 1 << 31 {
            return Err(PoolError::BadCount(count));
        }
        let buf_size = buf_size.next_multiple_of(BUF_ALIGN);
        let per_region = (HUGE_PAGE / buf_size).max(1);
        let mut regions = Vec::new();
        let mut left = count;
        while left > 0 {
            let n = left.min(per_region);
            regions.push(space.alloc_map(n * buf_size, DmaPerm::RW)?);
            left -= n;
        }
        let mut free = Vec::with_capacity(count);
        // Reversed so the first buffers handed out are the lowest addresses.
        free.extend((0..count as u32).rev());
        Ok(Mempool {
            inner: Arc::new(PoolInner {
                regions,
                buf_size,
                per_region,
                count,
                free: Mutex::new(free),
            }),
        })
    }

    /// Bytes per buffer.
    pub fn buf_size(&self) -> usize {
        self.inner.buf_size
    }

    /// Buffers in the pool, in use or not.
    pub fn capacity(&self) -> usize {
        self.inner.count
    }

    /// Buffers on the shared free list (not in use and not held by a cache).
    pub fn available(&self) -> usize {
        self.inner.free_list().len()
    }

    /// Takes one buffer from the shared list.
    pub fn alloc(&self) -> Option<PktBuf> {
        let id = self.inner.free_list().pop()?;
        Some(self.wrap(id))
    }

    fn wrap(&self, id: u32) -> PktBuf {
        PktBuf {
            pool: self.inner.clone(),
            id,
            len: 0,
        }
    }

    /// A per-queue (or per-thread) cache over this pool.
    pub fn cache(&self) -> PoolCache {
        PoolCache {
            pool: self.clone(),
            ids: Vec::with_capacity(2 * CACHE_BATCH),
        }
    }

    /// True if `buf` came from this pool.
    pub fn owns(&self, buf: &PktBuf) -> bool {
        Arc::ptr_eq(&self.inner, &buf.pool)
    }
}

/// A cache of free buffers owned by one queue or thread: batches its trips to the shared list.
pub struct PoolCache {
    pool: Mempool,
    ids: Vec<u32>,
}

impl std::fmt::Debug for PoolCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PoolCache")
            .field("cached", &self.ids.len())
            .finish()
    }
}

impl PoolCache {
    /// Takes a buffer, refilling the cache with up to [`CACHE_BATCH`] buffers at once.
    pub fn alloc(&mut self) -> Option<PktBuf> {
        if self.ids.is_empty() {
            let mut shared = self.pool.inner.free_list();
            let n = shared.len().min(CACHE_BATCH);
            let at = shared.len() - n;
            self.ids.extend(shared.drain(at..));
        }
        let id = self.ids.pop()?;
        Some(self.pool.wrap(id))
    }

    /// Returns `buf` to this cache (no lock), spilling a batch to the shared list when full.
    /// A buffer of another pool is simply dropped (it goes home by itself).
    pub fn recycle(&mut self, buf: PktBuf) {
        if !self.pool.owns(&buf) {
            return;
        }
        let mut buf = buf;
        let id = std::mem::replace(&mut buf.id, TAKEN);
        drop(buf);
        if self.ids.len() == self.ids.capacity() {
            let at = self.ids.len() - CACHE_BATCH;
            self.pool.inner.free_list().extend(self.ids.drain(at..));
        }
        self.ids.push(id);
    }

    /// Buffers held by this cache.
    pub fn cached(&self) -> usize {
        self.ids.len()
    }

    /// The pool behind the cache.
    pub fn pool(&self) -> &Mempool {
        &self.pool
    }
}

impl Drop for PoolCache {
    fn drop(&mut self) {
        self.pool.inner.free_list().append(&mut self.ids);
    }
}

/// One packet buffer: a fixed-size slice of DMA memory with a fill length.
///
/// Dropping it returns it to its pool. Its bytes are read and written by copying, because the
/// card may write them concurrently while the buffer is posted.
pub struct PktBuf {
    pool: Arc<PoolInner>,
    id: u32,
    len: u32,
}

impl std::fmt::Debug for PktBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PktBuf")
            .field("id", &self.id)
            .field("iova", &format_args!("{:#x}", self.iova()))
            .field("len", &self.len)
            .finish()
    }
}

impl PktBuf {
    /// IOVA of the buffer's first byte, for descriptors.
    pub fn iova(&self) -> u64 {
        let (m, off) = self.pool.locate(self.id);
        m.iova() + off as u64
    }

    /// Bytes the buffer can hold.
    pub fn capacity(&self) -> usize {
        self.pool.buf_size
    }

    /// Bytes of packet data in the buffer.
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// True if no data is in the buffer.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Sets the fill length (a received frame's length, a frame built in place).
    pub fn set_len(&mut self, len: usize) -> Result<(), DmaError> {
        if len > self.capacity() {
            return Err(DmaError::OutOfBounds {
                offset: 0,
                len,
                size: self.capacity(),
            });
        }
        self.len = len as u32;
        Ok(())
    }

    /// Copies `out.len()` bytes from offset `at` of the buffer.
    pub fn read(&self, at: usize, out: &mut [u8]) -> Result<(), DmaError> {
        self.check(at, out.len())?;
        let (m, off) = self.pool.locate(self.id);
        m.region().read(off + at, out)
    }

    /// Copies `data` into the buffer at `at` (does not change the fill length).
    pub fn write(&mut self, at: usize, data: &[u8]) -> Result<(), DmaError> {
        self.check(at, data.len())?;
        let (m, off) = self.pool.locate(self.id);
        m.region().write(off + at, data)
    }

    /// Replaces the contents with `data` and sets the fill length to match.
    pub fn fill_from(&mut self, data: &[u8]) -> Result<(), DmaError> {
        self.write(0, data)?;
        self.len = data.len() as u32;
        Ok(())
    }

    /// Copies the filled part out into `out` (cleared first). For tests and slow paths.
    pub fn copy_to_vec(&self, out: &mut Vec<u8>) -> Result<(), DmaError> {
        out.clear();
        out.resize(self.len(), 0);
        self.read(0, out)
    }

    fn check(&self, at: usize, len: usize) -> Result<(), DmaError> {
        match at.checked_add(len) {
            Some(end) if end <= self.capacity() => Ok(()),
            _ => Err(DmaError::OutOfBounds {
                offset: at,
                len,
                size: self.capacity(),
            }),
        }
    }
}

impl Drop for PktBuf {
    fn drop(&mut self) {
        if self.id != TAKEN {
            self.pool.put(self.id);
        }
    }
}

/// Marks a `PktBuf` whose buffer number was moved into a cache: its drop returns nothing.
const TAKEN: u32 = u32::MAX;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mock::MockCard;

    fn pool(count: usize) -> (Arc<MockCard>, Mempool) {
        let card = Arc::new(MockCard::new());
        let space = card.iova_space();
        let pool = Mempool::new(&space, 2048, count).unwrap();
        (card, pool)
    }

    #[test]
    fn buffers_have_distinct_iovas_and_return_on_drop() {
        let (card, pool) = pool(3000);
        assert_eq!(pool.available(), 3000);
        let bufs: Vec<PktBuf> = (0..3000).map(|_| pool.alloc().unwrap()).collect();
        assert!(pool.alloc().is_none(), "exhausted");
        let mut iovas: Vec<u64> = bufs.iter().map(|b| b.iova()).collect();
        iovas.sort_unstable();
        iovas.dedup();
        assert_eq!(iovas.len(), 3000);
        for b in &bufs {
            assert_eq!(b.iova() % BUF_ALIGN as u64, 0);
            assert!(
                card.is_mapped(b.iova(), 2048),
                "{b:?} lies in a mapped region"
            );
        }
        drop(bufs);
        assert_eq!(pool.available(), 3000);
    }

    #[test]
    fn data_round_trips_and_bounds_are_checked() {
        let (_card, pool) = pool(4);
        let mut b = pool.alloc().unwrap();
        b.fill_from(b"hello, card").unwrap();
        let mut v = Vec::new();
        b.copy_to_vec(&mut v).unwrap();
        assert_eq!(v, b"hello, card");
        assert!(b.write(2040, &[0; 9]).is_err());
        assert!(b.set_len(2049).is_err());
        assert!(b.read(usize::MAX, &mut [0; 2]).is_err());
        assert!(Mempool::new(&_card.iova_space(), 32, 1).is_err());
        assert!(Mempool::new(&_card.iova_space(), 2048, 0).is_err());
    }

    #[test]
    fn cache_batches_and_returns_everything_on_drop() {
        let (_card, pool) = pool(100);
        let mut c = pool.cache();
        let b = c.alloc().unwrap();
        assert_eq!(c.cached(), CACHE_BATCH - 1);
        assert_eq!(pool.available(), 100 - CACHE_BATCH);
        c.recycle(b);
        assert_eq!(c.cached(), CACHE_BATCH);
        let many: Vec<PktBuf> = (0..80).map(|_| c.alloc().unwrap()).collect();
        for b in many {
            c.recycle(b);
        }
        assert!(c.cached() <= 2 * CACHE_BATCH);
        drop(c);
        assert_eq!(pool.available(), 100);
    }

    #[test]
    fn threads_share_the_pool_without_losing_buffers() {
        let (_card, pool) = pool(256);
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let pool = pool.clone();
                std::thread::spawn(move || {
                    let mut cache = pool.cache();
                    let mut held = Vec::with_capacity(16);
                    for i in 0..5000u32 {
                        if let Some(mut b) = cache.alloc() {
                            b.fill_from(&(t * 1_000_000 + i).to_le_bytes()).unwrap();
                            held.push(b);
                        }
                        if held.len() == 16 {
                            for b in held.drain(..) {
                                let mut w = [0u8; 4];
                                b.read(0, &mut w).unwrap();
                                assert_eq!(u32::from_le_bytes(w) / 1_000_000, t);
                                if i % 2 == 0 {
                                    cache.recycle(b);
                                } else {
                                    drop(b);
                                }
                            }
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(pool.available(), 256);
    }
}
