//! Packet buffers in the shape of Linux's `sk_buff`: a linear head with headroom and tailroom
//! (`push`/`pull`/`put`/`trim`/`reserve`), a list of fragments for GRO/TSO super-packets, the
//! metadata the RX and TX paths read (header offsets, RSS hash, checksum state, GSO size, mark,
//! input interface, VLAN tag), cheap clones for capture taps, and a pool that recycles
//! fixed-size buffers so the data path does not allocate.
//!
//! Sharing is done with `Arc`, never `unsafe`: a clone shares the head and the fragments, and a
//! clone that is about to write first copies the head into a buffer of its own (copy on write,
//! like `skb_cow`). Only writes copy: `pull` and `trim` move this buffer's own offsets and leave
//! the shared bytes alone, as in Linux.

use core::fmt;
use std::cell::RefCell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};

/// Most fragments one buffer carries (Linux `MAX_SKB_FRAGS`): 45, the largest value Linux's
/// `CONFIG_MAX_SKB_FRAGS` allows, so that GRO can chain a full 64 KB of 1448-byte segments
/// (Linux's default of 17 gets there by hanging further buffers on `frag_list`, which oxnic
/// does not have). A GRO merge that would need more flushes the super-packet instead.
pub const MAX_FRAGS: usize = 45;

/// Bytes of a head kept inside the buffer itself ([`PacketBuf::with_inline_head`]): room for
/// 32 bytes of headroom and Ethernet, IPv4 and TCP headers with timestamps (66 bytes) and
/// then some.
pub const INLINE_HEAD: usize = 128;

/// What [`PacketBuf::truesize`] charges per fragment beyond its bytes: about the headroom and
/// headers of the received frame a fragment usually is, which stay allocated with it.
pub const FRAG_TRUESIZE: usize = 256;

/// The bytes of one buffer and the pool to return them to. Never dropped while in a pool.
struct Storage {
    buf: Box<[u8]>,
    pool: Weak<PoolShared>,
    /// From a pool of fixed size ([`PacketPool::new`]): holding it for long takes a buffer
    /// away from, typically, a device's receive ring.
    fixed: bool,
}

/// State shared by a pool and the buffers it handed out.
struct PoolShared {
    /// Buffers ready for use. Its capacity is the pool size, so returning a buffer never grows
    /// it (no allocation on the drop path either).
    free: Mutex<Vec<Arc<Storage>>>,
    buf_size: usize,
    count: usize,
    /// Buffers in existence: made and not freed (a lazy pool makes them on first demand, up to
    /// `count`).
    created: AtomicUsize,
    /// Made by [`PacketPool::new`] rather than [`PacketPool::lazy`].
    fixed: bool,
    /// Most buffers of this pool one thread keeps in its [`Magazine`]; 0 for a fixed pool.
    magazine_size: usize,
}

/// Why a buffer operation could not be done. Nothing is changed when one is returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PktBufError {
    /// `push` needs more headroom than is left.
    #[error("no headroom: need {needed}, have {have}")]
    NoHeadroom {
        /// Bytes asked for.
        needed: usize,
        /// Headroom left.
        have: usize,
    },
    /// `put` or `linearize` needs more tailroom than is left.
    #[error("no tailroom: need {needed}, have {have}")]
    NoTailroom {
        /// Bytes asked for.
        needed: usize,
        /// Tailroom left.
        have: usize,
    },
    /// `pull` or `trim` asked for more bytes than the buffer holds.
    #[error("buffer too short: need {needed}, have {have}")]
    TooShort {
        /// Bytes asked for.
        needed: usize,
        /// Bytes held.
        have: usize,
    },
    /// The operation needs a linear buffer (no fragments), like `skb_put`.
    #[error("buffer has fragments")]
    NotLinear,
    /// `reserve` only works on an empty buffer.
    #[error("reserve on a non-empty buffer")]
    NotEmpty,
    /// All [`MAX_FRAGS`] fragment slots are used.
    #[error("too many fragments")]
    TooManyFrags,
    /// A copy on write needed a buffer and the pool had none left.
    #[error("packet pool exhausted")]
    PoolExhausted,
}

/// What the checksum of a packet is known to be (Linux `skb->ip_summed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ChecksumState {
    /// Nothing known: software must verify (RX) or the checksum is already complete (TX).
    #[default]
    None,
    /// The device verified the checksums (RX).
    Unnecessary,
    /// The device summed the packet from the network header on (RX); `sum` is that
    /// one's-complement sum, so L4 verification only adds the pseudo-header.
    Complete {
        /// The one's-complement sum.
        sum: u16,
    },
    /// The checksum is still to be computed (TX): sum from `start` to the end and store the
    /// result at `start + offset`, offsets counted from the start of the packet data.
    Partial {
        /// Where summing starts.
        start: u16,
        /// Where, after `start`, the result goes.
        offset: u16,
    },
}

/// Which headers the RSS hash covered (Linux `PKT_HASH_TYPE_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HashType {
    /// No hash.
    #[default]
    None,
    /// Over L2 addresses.
    L2,
    /// Over IP addresses.
    L3,
    /// Over IP addresses and ports (a flow hash).
    L4,
}

/// How a received frame was addressed at the link layer (Linux `skb->pkt_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PacketType {
    /// To this interface's MAC (`PACKET_HOST`); also every packet the stack makes itself.
    #[default]
    Host,
    /// To the broadcast or a multicast MAC (`PACKET_BROADCAST`, `PACKET_MULTICAST`): never
    /// forwarded, never answered with an ICMP error (RFC 1122 §3.2.2, §3.3.6).
    LinkBroadcast,
    /// Looped back into input from this host's own output (what Linux's `lo` carries with the
    /// output route attached): its addresses are ours by construction, so input does not
    /// check them for martians.
    Loopback,
}

/// Per-packet metadata, reset when a buffer comes out of the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketMeta {
    /// EtherType of the L3 payload (Linux `skb->protocol`).
    pub protocol: u16,
    /// RSS hash from the device, or computed.
    pub hash: u32,
    /// What the hash covered.
    pub hash_type: HashType,
    /// Checksum state.
    pub csum: ChecksumState,
    /// Segment payload size of a GSO/GRO super-packet; 0 for an ordinary packet.
    pub gso_size: u16,
    /// Number of segments in a super-packet.
    pub gso_segs: u16,
    /// Firewall mark.
    pub mark: u32,
    /// Index of the interface the packet came in on.
    pub ifindex: u32,
    /// VLAN tag control information, when the tag was stripped (by the device or software).
    pub vlan_tci: Option<u16>,
    /// How the frame was addressed at the link layer, set on receive.
    pub pkt_type: PacketType,
    /// Header offsets in the head buffer, 16 bits as Linux keeps them (`skb->mac_header` and
    /// the others): headers lie within a few hundred bytes of the start.
    mac_header: Option<u16>,
    network_header: Option<u16>,
    transport_header: Option<u16>,
}

impl PacketMeta {
    /// The metadata of a new buffer: nothing known yet. A constant, so a buffer's metadata is
    /// reset by copying it from read-only memory rather than through a value just built on
    /// the stack (whose narrow stores the wide loads of the copy would wait for).
    pub const EMPTY: PacketMeta = PacketMeta {
        protocol: 0,
        hash: 0,
        hash_type: HashType::None,
        csum: ChecksumState::None,
        gso_size: 0,
        gso_segs: 0,
        mark: 0,
        ifindex: 0,
        vlan_tci: None,
        pkt_type: PacketType::Host,
        mac_header: None,
        network_header: None,
        transport_header: None,
    };
}

impl Default for PacketMeta {
    fn default() -> Self {
        PacketMeta::EMPTY
    }
}

#[derive(Clone)]
struct Frag {
    storage: Arc<Storage>,
    /// Offset and length in the storage; 32 bits each keep a packet buffer small (it is moved
    /// through every queue on the data path), and no buffer comes near 4 GiB.
    off: u32,
    len: u32,
}

impl Frag {
    /// A fragment holding a copy of `bytes` in a heap storage of its own.
    fn copy_of(bytes: &[u8]) -> Frag {
        Frag {
            storage: Arc::new(Storage {
                buf: bytes.into(),
                pool: Weak::new(),
                fixed: false,
            }),
            off: 0,
            len: bytes.len() as u32,
        }
    }

    fn bytes(&self) -> &[u8] {
        self.storage
            .buf
            .get(self.off as usize..self.off as usize + self.len as usize)
            .unwrap_or(&[])
    }
}

/// The fragment slots of a buffer with more than one fragment.
type FragTable = [Option<Frag>; MAX_FRAGS];

/// Where a buffer's fragment slots are: one slot inline, which is all a software-GSO segment
/// or a queued payload slice usually needs, or a table of [`MAX_FRAGS`] (a GRO super-packet's).
/// A window of segments in flight then carries no 720-byte table each: with a table per
/// segment, a 1 MiB window spread its headers over half a megabyte more.
///
/// A buffer with a table may also carry the sums of its payload's segments
/// ([`PacketBuf::set_seg_sums`]): they describe the fragments' bytes, and beside the table they
/// cost the buffers without one nothing, not even a load when they are dropped.
enum FragSlots {
    Inline([Option<Frag>; 1]),
    Table(Box<FragTable>, Option<Box<SegSums>>),
}

impl FragSlots {
    const EMPTY: FragSlots = FragSlots::Inline([None]);

    fn slots(&self) -> &[Option<Frag>] {
        match self {
            FragSlots::Inline(one) => one,
            FragSlots::Table(t, _) => &t[..],
        }
    }

    fn slots_mut(&mut self) -> &mut [Option<Frag>] {
        match self {
            FragSlots::Inline(one) => one,
            FragSlots::Table(t, _) => &mut t[..],
        }
    }

    /// Moves an inline fragment (if any) to the front of a table, so there is room for more
    /// (or for segment sums).
    #[inline(always)]
    fn make_table(&mut self) {
        if let FragSlots::Inline([one]) = self {
            let mut table = take_table();
            table[0] = one.take();
            *self = FragSlots::Table(table, None);
        }
    }
}

/// Most empty fragment tables a thread keeps for reuse.
const SPARE_TABLES: usize = 4096;

thread_local! {
    /// Empty fragment tables, handed out to buffers that gain fragments and given back when
    /// they are dropped: the data path takes and returns one per segment without allocating.
    // The boxes are the point: each is a table's own allocation, handed out and taken back
    // whole, never copied into or out of the vector.
    #[allow(clippy::vec_box)]
    static SPARE: RefCell<Vec<Box<FragTable>>> = const { RefCell::new(Vec::new()) };
}

/// A thread's list of emptied boxes of one kind (fragment tables, segment sums).
type SpareList<T> = std::thread::LocalKey<RefCell<Vec<Box<T>>>>;

/// A box from this thread's list `spares`, if it has one.
fn take_spare<T: 'static>(spares: &'static SpareList<T>) -> Option<Box<T>> {
    spares.try_with(|s| s.borrow_mut().pop()).ok().flatten()
}

/// Gives an emptied box back to this thread's list `spares`, which keeps at most `most`.
fn give_spare_to<T: 'static>(spares: &'static SpareList<T>, item: Box<T>, most: usize) {
    // During thread teardown the list may be gone: then the box is simply freed.
    let _ = spares.try_with(|s| {
        if let Ok(mut s) = s.try_borrow_mut() {
            if s.len() < most {
                s.push(item);
            }
        }
    });
}

/// An empty fragment table, from this thread's spares when there is one.
fn take_table() -> Box<FragTable> {
    take_spare(&SPARE).unwrap_or_else(|| Box::new(NO_FRAGS))
}

/// Gives an empty table (every slot `None`) back to this thread's spares.
fn give_table(table: Box<FragTable>) {
    give_spare_to(&SPARE, table, SPARE_TABLES);
}

/// A packet buffer: head bytes `[data, tail)` of a storage (or of the buffer's own inline head,
/// [`PacketBuf::with_inline_head`]), then up to [`MAX_FRAGS`] fragments.
///
/// The buffer itself is one pointer to its [`PacketBody`] (Linux's `sk_buff` pointer): every
/// queue on the data path moves packet buffers by value, and moving the 120-byte body through
/// each of them (GSO's output, the device rings, the wire, GRO) cost about 5 % of tcp_bulk's
/// `oxnic_mtu1500`, much of it in loads stalled on the stores that had just written the body.
/// A dropped buffer's box goes to a per-thread list of spares that new buffers made on that
/// thread take from, so the box costs no allocation once warm. One fragment slot is inline; a
/// buffer with more has a table of its own (taken from a per-thread free list too).
pub struct PacketBuf {
    b: Body,
}

/// A packet buffer's box: `None` only while [`PacketBuf`]'s `Drop` hands it back to this
/// thread's spares, so every other access finds a body.
struct Body(Option<Box<PacketBody>>);

/// What a body reads as in the moment between `Drop` taking it and the buffer being gone.
static NO_BODY: PacketBody = PacketBody::EMPTY;

impl core::ops::Deref for Body {
    type Target = PacketBody;
    #[inline(always)]
    fn deref(&self) -> &PacketBody {
        self.0.as_deref().unwrap_or(&NO_BODY)
    }
}

impl core::ops::DerefMut for Body {
    /// Only `Drop` empties the box, and it writes nothing through it afterwards; a write that
    /// came after all would get a new empty body rather than a panic.
    #[inline(always)]
    fn deref_mut(&mut self) -> &mut PacketBody {
        // The empty body is made out of line: with the 240-byte copy in it, the compiler
        // called `get_or_insert_with` on every write to a buffer instead of inlining it.
        self.0.get_or_insert_with(empty_body)
    }
}

/// A new empty body (see [`Body`]'s `deref_mut`).
#[cold]
#[inline(never)]
fn empty_body() -> Box<PacketBody> {
    Box::new(PacketBody::EMPTY)
}

/// The fields of a [`PacketBuf`], behind its box: the storage and fragments (private) and the
/// metadata, reached as `buf.meta`.
///
/// Aligned to a cache line: its 240 bytes then span four lines wherever the allocator puts
/// it. At the allocator's 16-byte alignment, a body starting 32 or 48 bytes into a line spans
/// five, and which bodies do depends on what was allocated between them: bodies made while
/// other buffers were being allocated (a transfer without GSO, whose segments each take a
/// header buffer) and recycled later cost a transfer 2-3 % against bodies made in a row.
#[repr(align(64))]
pub struct PacketBody {
    /// `None` for an inline head, for a buffer of fragments only ([`PacketBuf::share`]), and
    /// after the head was given away to another buffer as a fragment.
    head: Option<Arc<Storage>>,
    data: usize,
    tail: usize,
    /// Slots `[0, nr_frags)` hold the fragments; the rest are `None`.
    frags: FragSlots,
    nr_frags: usize,
    /// Bytes held in fragments.
    frag_len: usize,
    /// The head's bytes when it has no storage ([`PacketBuf::with_inline_head`]).
    inline: [u8; INLINE_HEAD],
    /// True when the head is `inline` (then `head` is `None`).
    inline_head: bool,
    /// Metadata.
    pub meta: PacketMeta,
}

/// Most segment sums a super-packet carries: a 64 KB super-packet has 45 segments of 1448
/// bytes; one of smaller segments has its later segments summed by GSO.
pub const MAX_SEG_SUMS: usize = 64;

/// The one's-complement sums of the payloads of a super-packet's first full segments, cut at
/// `mss` bytes, which TCP took while the application's bytes were copied into its send queue,
/// so that software GSO does not read every payload again (see `SendQueue::track_cells`).
/// Host-side bookkeeping like the rest of the buffer's metadata: it does not reach a device,
/// which sees bytes.
#[derive(Debug)]
pub struct SegSums {
    mss: u16,
    n: usize,
    sums: [u16; MAX_SEG_SUMS],
}

impl SegSums {
    /// The segment size the sums were cut at.
    pub fn mss(&self) -> u16 {
        self.mss
    }

    /// The payload sum of segment `i` (as [`crate::wire::checksum::sum`] gives it), if known.
    pub fn get(&self, i: usize) -> Option<u16> {
        self.sums.get(..self.n)?.get(i).copied()
    }
}

/// Most empty [`SegSums`] boxes one thread keeps.
const SPARE_SEG_SUMS: usize = 256;

thread_local! {
    /// Boxes of [`SegSums`] that dropped super-packets gave back, for the next ones.
    #[allow(clippy::vec_box)]
    static SPARE_SUMS: RefCell<Vec<Box<SegSums>>> = const { RefCell::new(Vec::new()) };
}

impl fmt::Debug for PacketBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PacketBody")
            .field("data", &self.data)
            .field("tail", &self.tail)
            .field("nr_frags", &self.nr_frags)
            .field("frag_len", &self.frag_len)
            .field("meta", &self.meta)
            .finish()
    }
}

impl PacketBody {
    /// A body with no storage, no fragments and no metadata.
    const EMPTY: PacketBody = PacketBody {
        head: None,
        data: 0,
        tail: 0,
        frags: FragSlots::EMPTY,
        nr_frags: 0,
        frag_len: 0,
        inline: [0; INLINE_HEAD],
        inline_head: false,
        meta: PacketMeta::EMPTY,
    };
}

impl core::ops::Deref for PacketBuf {
    type Target = PacketBody;
    #[inline(always)]
    fn deref(&self) -> &PacketBody {
        &self.b
    }
}

impl core::ops::DerefMut for PacketBuf {
    #[inline(always)]
    fn deref_mut(&mut self) -> &mut PacketBody {
        &mut self.b
    }
}

impl fmt::Debug for PacketBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PacketBuf")
            .field("len", &self.len())
            .field("head_len", &self.head_len())
            .field("headroom", &self.headroom())
            .field("tailroom", &self.tailroom())
            .field("nr_frags", &self.b.nr_frags)
            .field("shared", &self.is_shared())
            .field("meta", &self.meta)
            .finish()
    }
}

impl Drop for Storage {
    /// A pool buffer that is freed rather than recycled (see [`release`]) gives its place in
    /// the pool back, so the pool makes a new one on demand instead of shrinking for good.
    fn drop(&mut self) {
        if let Some(pool) = self.pool.upgrade() {
            // Cannot underflow: every pool storage was counted in `created` when it was made.
            let _ = pool
                .created
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
        }
    }
}

/// Returns a storage to its pool if this was the last reference.
///
/// Most calls drop a reference that is not the last (a fragment shared with the send queue or
/// with other segments): those only decrement the count. The last reference of a lazy pool's
/// buffer goes into this thread's [`Magazine`] for the pool when the thread has one, with no
/// atomic operation and no lock; otherwise to the pool's free list, under its lock. When the
/// last two references drop at the same time on two threads, both may see the other and skip
/// the pool; the storage is then freed, its `Drop` gives its place back, and the pool makes a
/// new buffer when it next runs short: a rare allocation, never a lost buffer. A reference
/// that looks like the last is checked again under the lock, where no other one can appear.
fn release(storage: Arc<Storage>) {
    if Arc::strong_count(&storage) > 1 {
        return;
    }
    // The count is 1 and this is that reference: no other thread can take a new one now.
    let storage = if storage.fixed {
        storage
    } else {
        match magazine_put(storage) {
            Ok(()) => return,
            Err(storage) => storage,
        }
    };
    let Some(pool) = storage.pool.upgrade() else {
        return;
    };
    let mut free = pool.free.lock().unwrap_or_else(PoisonError::into_inner);
    if Arc::strong_count(&storage) == 1 && free.len() < pool.count {
        free.push(storage);
    } else {
        drop(storage);
    }
}

/// Most pools one thread keeps a [`Magazine`] for.
const MAGAZINES_PER_THREAD: usize = 8;

/// Bytes of buffers one magazine holds at most: 1,024 GSO header buffers (a window of
/// segments in flight, whose headers a sender allocates before any comes back), 16 small
/// send-queue chunks or 4 big ones.
const MAGAZINE_BYTES: usize = 256 * 1024;

/// Most buffers one magazine holds, whatever their size.
const MAGAZINE_MAX: usize = 1024;

/// Buffers of one lazy pool that this thread released, kept for its own next allocations
/// (Linux's per-CPU caches in front of a shared allocator, `napi_alloc_cache` or a page pool's
/// direct-recycling cache): a buffer allocated and released on the same thread, like the
/// header of each software-GSO segment, then costs no lock and no atomic operation. A thread
/// gets one when it allocates from the pool, so a thread that only releases (a reader of
/// another thread's packets) returns them to the shared list where the allocating thread
/// finds them. Fixed pools (device rings) have none: their buffers must stay visible to every
/// thread.
struct Magazine {
    pool: Weak<PoolShared>,
    /// Most buffers kept ([`PoolShared::magazine_size`]).
    limit: usize,
    bufs: Vec<Arc<Storage>>,
}

impl Magazine {
    /// True when this magazine holds buffers of the pool at `pool` (compared by address: the
    /// magazine's weak reference keeps that address from being reused).
    fn serves(&self, pool: *const PoolShared) -> bool {
        self.pool.as_ptr() == pool
    }

    /// Gives the buffers back to the pool's shared list (when the thread exits, or the
    /// magazine is evicted); a dead pool's buffers are freed.
    fn give_back(&mut self) {
        if self.bufs.is_empty() {
            return;
        }
        let Some(pool) = self.pool.upgrade() else {
            self.bufs.clear();
            return;
        };
        let mut free = pool.free.lock().unwrap_or_else(PoisonError::into_inner);
        for storage in self.bufs.drain(..) {
            if free.len() < pool.count {
                free.push(storage);
            }
        }
    }
}

impl Drop for Magazine {
    fn drop(&mut self) {
        self.give_back();
    }
}

thread_local! {
    /// This thread's magazines, most recently made last.
    static MAGAZINES: RefCell<Vec<Magazine>> = const { RefCell::new(Vec::new()) };
}

/// Puts the last reference to a lazy pool's buffer into this thread's magazine for that pool;
/// gives it back when there is no such magazine or it is full.
fn magazine_put(storage: Arc<Storage>) -> Result<(), Arc<Storage>> {
    let mut storage = Some(storage);
    // During thread teardown the magazines may be gone: the buffer then goes to the pool.
    let _ = MAGAZINES.try_with(|mags| {
        let Ok(mut mags) = mags.try_borrow_mut() else {
            return;
        };
        let Some(s) = storage.as_ref() else {
            return;
        };
        if let Some(m) = mags.iter_mut().find(|m| m.serves(s.pool.as_ptr())) {
            // A pool that is gone (a send queue resized, a stack dropped) gets nothing back:
            // its buffer is freed now rather than kept until the magazine is cleared.
            if m.bufs.len() < m.limit && m.pool.strong_count() > 0 {
                m.bufs.extend(storage.take());
            }
        }
    });
    storage.map_or(Ok(()), Err)
}

/// A buffer from this thread's magazine for `shared`, making the magazine when the thread has
/// none (evicting its oldest, and any of a pool that is gone, when it has too many).
fn magazine_take(shared: &Arc<PoolShared>) -> Option<Arc<Storage>> {
    MAGAZINES
        .try_with(|mags| {
            let mut mags = mags.try_borrow_mut().ok()?;
            let ptr = Arc::as_ptr(shared);
            if let Some(m) = mags.iter_mut().find(|m| m.serves(ptr)) {
                return m.bufs.pop();
            }
            mags.retain(|m| m.pool.strong_count() > 0);
            // The oldest magazine's buffers go back to its pool and its vector serves the new
            // one: a thread that works with more pools than it keeps magazines for (a poller
            // of many connections, each with a send queue) does not allocate for each change.
            let bufs = if mags.len() == MAGAZINES_PER_THREAD {
                let mut old = mags.remove(0);
                old.give_back();
                core::mem::take(&mut old.bufs)
            } else {
                Vec::with_capacity(shared.magazine_size)
            };
            mags.push(Magazine {
                pool: Arc::downgrade(shared),
                limit: shared.magazine_size,
                bufs,
            });
            None
        })
        .ok()
        .flatten()
}

/// Buffers of `shared` in this thread's magazine.
fn magazine_len(shared: &Arc<PoolShared>) -> usize {
    let ptr = Arc::as_ptr(shared);
    MAGAZINES
        .try_with(|mags| {
            mags.try_borrow().ok().map_or(0, |mags| {
                mags.iter()
                    .find(|m| m.serves(ptr))
                    .map_or(0, |m| m.bufs.len())
            })
        })
        .unwrap_or(0)
}

/// Most boxes of dropped packet buffers a thread keeps for reuse.
const SPARE_BUFS: usize = 1024;

/// Boxes moved at once between a thread's spares and the shared ones.
const SPARE_BATCH: usize = 256;

/// Most boxes the shared list keeps.
const SHARED_SPARE_BUFS: usize = 16 * 1024;

/// Spare boxes that threads had no room for, for threads that run out: where buffers are made
/// on one thread and dropped on another (a poller receives frames, an application thread reads
/// them and drops them), the boxes come back in batches, under one lock per batch, instead of
/// each being freed on one side and allocated on the other.
// The boxes are the point, as in `SPARE_BUF`.
#[allow(clippy::vec_box)]
static SHARED_SPARES: Mutex<Vec<Box<PacketBody>>> = Mutex::new(Vec::new());

/// How many boxes [`SHARED_SPARES`] holds, readable without its lock: a thread that runs out
/// while nobody has left any there does not take the lock to find that out.
static SHARED_SPARES_LEN: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// Boxes of dropped packet buffers (empty: no storage, no fragments), handed out to new
    /// buffers made on this thread: where sender and receiver share a thread (a poller, the
    /// in-memory [`crate::netsim::Net`]), a software-GSO segment dropped by the receiver's GRO
    /// gives its box to the sender's next segment without going through the allocator. A
    /// thread whose list is full passes its oldest [`SPARE_BATCH`] to [`SHARED_SPARES`], and
    /// one whose list is empty takes a batch from there.
    // The boxes are the point: each is a buffer's own allocation, handed over whole.
    #[allow(clippy::vec_box)]
    static SPARE_BUF: RefCell<Vec<Box<PacketBody>>> = const { RefCell::new(Vec::new()) };
}

impl Drop for PacketBuf {
    /// Gives back the storage and fragments, and the box to this thread's spares.
    fn drop(&mut self) {
        self.release_all();
        if let Some(body) = self.b.0.take() {
            give_spare(body);
        }
    }
}

/// Keeps an emptied box for a later buffer: in this thread's spares, passing the oldest batch
/// of them to the shared list when they are full; freed when both are full (or during thread
/// teardown).
fn give_spare(body: Box<PacketBody>) {
    let _ = SPARE_BUF.try_with(|s| {
        let Ok(mut s) = s.try_borrow_mut() else {
            return;
        };
        if s.len() >= SPARE_BUFS {
            let mut shared = SHARED_SPARES.lock().unwrap_or_else(PoisonError::into_inner);
            let n = SHARED_SPARE_BUFS
                .saturating_sub(shared.len())
                .min(SPARE_BATCH);
            shared.extend(s.drain(..n));
            SHARED_SPARES_LEN.store(shared.len(), Ordering::Relaxed);
        }
        if s.len() < SPARE_BUFS {
            s.push(body);
        }
    });
}

/// A spare box, if there is one: empty (no storage, no fragments), as `Drop` left it. From
/// this thread's spares, refilled with a batch from the shared list when they are out.
fn spare_body() -> Option<Box<PacketBody>> {
    SPARE_BUF
        .try_with(|s| {
            let mut s = s.try_borrow_mut().ok()?;
            if s.is_empty() && SHARED_SPARES_LEN.load(Ordering::Relaxed) > 0 {
                let mut shared = SHARED_SPARES.lock().unwrap_or_else(PoisonError::into_inner);
                let at = shared.len().saturating_sub(SPARE_BATCH);
                s.extend(shared.drain(at..));
                SHARED_SPARES_LEN.store(shared.len(), Ordering::Relaxed);
            }
            s.pop()
        })
        .ok()
        .flatten()
}

impl PacketBuf {
    /// A buffer with `body`, in a spare box when this thread has one.
    fn with_body(body: PacketBody) -> PacketBuf {
        let b = match spare_body() {
            Some(mut spare) => {
                *spare = body;
                spare
            }
            None => Box::new(body),
        };
        PacketBuf { b: Body(Some(b)) }
    }

    /// Gives up every storage reference the buffer holds, leaving it empty.
    fn release_all(&mut self) {
        let b = &mut *self.b;
        if let Some(h) = b.head.take() {
            release(h);
        }
        let n = b.nr_frags;
        for f in b.frags.slots_mut().iter_mut().take(n) {
            if let Some(f) = f.take() {
                release(f.storage);
            }
        }
        b.nr_frags = 0;
        b.frag_len = 0;
        b.inline_head = false;
        if let FragSlots::Table(table, sums) = core::mem::replace(&mut b.frags, FragSlots::EMPTY) {
            give_table(table);
            give_sums(sums);
        }
    }

    /// Attaches the payload sums `sums` of the first full segments of `mss` bytes of this
    /// super-packet (at most [`MAX_SEG_SUMS`]), which software GSO then uses instead of
    /// summing those payloads ([`SegSums`]). The caller vouches for them: TCP, which took them
    /// as the bytes were copied in. Changing the payload (`trim`, appending, `linearize`)
    /// drops them.
    pub(crate) fn set_seg_sums(&mut self, mss: u16, sums: impl IntoIterator<Item = u16>) {
        // They live beside a table: a buffer with one fragment or none gets one.
        self.b.frags.make_table();
        let FragSlots::Table(_, slot) = &mut self.b.frags else {
            return;
        };
        let mut table = slot
            .take()
            .or_else(|| take_spare(&SPARE_SUMS))
            .unwrap_or_else(|| {
                Box::new(SegSums {
                    mss: 0,
                    n: 0,
                    sums: [0; MAX_SEG_SUMS],
                })
            });
        table.mss = mss;
        table.n = 0;
        for (to, s) in table.sums.iter_mut().zip(sums) {
            *to = s;
            table.n += 1;
        }
        *slot = Some(table);
    }

    /// The sums [`Self::set_seg_sums`] attached, if any.
    pub(crate) fn seg_sums(&self) -> Option<&SegSums> {
        match &self.b.frags {
            FragSlots::Table(_, sums) => sums.as_deref(),
            FragSlots::Inline(_) => None,
        }
    }

    /// Drops the attached segment sums (a buffer that goes to a device: the device sees
    /// bytes).
    #[inline(always)]
    pub(crate) fn clear_seg_sums(&mut self) {
        if let FragSlots::Table(_, sums @ Some(_)) = &mut self.b.frags {
            give_sums(sums.take());
        }
    }
}

/// Keeps an emptied [`SegSums`] box for the next super-packet.
fn give_sums(sums: Option<Box<SegSums>>) {
    if let Some(sums) = sums {
        give_spare_to(&SPARE_SUMS, sums, SPARE_SEG_SUMS);
    }
}

impl Clone for PacketBuf {
    /// A cheap clone for capture taps: shares the bytes (reference counts only, no copy and no
    /// allocation); the first write through either copies the head (see the module docs).
    fn clone(&self) -> Self {
        PacketBuf::with_body(PacketBody {
            head: self.b.head.clone(),
            data: self.b.data,
            tail: self.b.tail,
            frags: match &self.b.frags {
                FragSlots::Inline(one) => FragSlots::Inline(one.clone()),
                FragSlots::Table(t, _) => {
                    let mut table = take_table();
                    table.clone_from(t);
                    // Not shared: a clone that is changed must not carry sums of other bytes.
                    FragSlots::Table(table, None)
                }
            },
            nr_frags: self.b.nr_frags,
            frag_len: self.b.frag_len,
            inline: self.b.inline,
            inline_head: self.b.inline_head,
            meta: self.meta,
        })
    }
}

const NO_FRAGS: FragTable = [const { None }; MAX_FRAGS];

impl PacketBuf {
    fn from_storage(storage: Arc<Storage>, headroom: usize) -> Self {
        let headroom = headroom.min(storage.buf.len());
        Self::fresh(Some(storage), false, headroom)
    }

    /// An empty buffer with head `head` (or an inline head) and `headroom` reserved, in a
    /// spare box when this thread has one.
    fn fresh(head: Option<Arc<Storage>>, inline_head: bool, headroom: usize) -> Self {
        let Some(mut b) = spare_body() else {
            let body = Box::new(PacketBody {
                head,
                data: headroom,
                tail: headroom,
                inline_head,
                ..PacketBody::EMPTY
            });
            return PacketBuf {
                b: Body(Some(body)),
            };
        };
        // Field by field into the spare body (which `Drop` emptied: no storage, no fragments):
        // a whole body built on the stack and copied in stalled on its own stores.
        b.head = head;
        b.data = headroom;
        b.tail = headroom;
        b.inline_head = inline_head;
        b.meta = PacketMeta::EMPTY;
        PacketBuf { b: Body(Some(b)) }
    }

    /// An empty buffer with no head at all, for fragments only.
    fn headless() -> Self {
        Self::fresh(None, false, 0)
    }

    /// An empty buffer whose head is [`INLINE_HEAD`] bytes inside the buffer itself, with
    /// `headroom` (at most that) reserved: no storage, so no pool, no reference count and no
    /// second cache line to reach for the bytes. For headers that stay small: what software
    /// GSO gives each segment of a super-packet, whose payload is a shared fragment (Linux
    /// builds each such segment's headers in a small head of its own, too).
    pub fn with_inline_head(headroom: usize) -> Self {
        Self::fresh(None, true, headroom.min(INLINE_HEAD))
    }

    /// A buffer whose inline head holds `area`, with the packet's bytes at `[data, tail)`
    /// (clamped to the area) and metadata `meta` with the MAC header at `data`: what software
    /// GSO gives each segment of a super-packet, made in one step. The head is one fixed-size
    /// copy and the metadata one move, where [`Self::with_inline_head`] and the setters
    /// write the metadata twice and check the head at each step.
    #[inline(always)]
    pub(crate) fn with_inline_area(
        area: &[u8; INLINE_HEAD],
        data: usize,
        tail: usize,
        meta: &PacketMeta,
    ) -> Self {
        let tail = tail.min(INLINE_HEAD);
        let data = data.min(tail);
        let meta = PacketMeta {
            mac_header: Some(data as u16),
            ..*meta
        };
        let Some(mut b) = spare_body() else {
            return PacketBuf::with_body(PacketBody {
                data,
                tail,
                inline: *area,
                inline_head: true,
                meta,
                ..PacketBody::EMPTY
            });
        };
        // A spare body has no storage and no fragments (`Drop` emptied it).
        b.data = data;
        b.tail = tail;
        b.inline_head = true;
        b.inline = *area;
        b.meta = meta;
        PacketBuf { b: Body(Some(b)) }
    }

    /// The whole inline head area ([`INLINE_HEAD`] bytes, data or not) of a buffer made by
    /// [`Self::with_inline_head`], `None` for any other: for software GSO, which writes each
    /// segment's headers with one copy of a fixed size, where a copy of their exact length is
    /// a call. Bytes outside `[data, tail)` are not part of the packet, whatever they hold.
    pub(crate) fn inline_area_mut(&mut self) -> Option<&mut [u8; INLINE_HEAD]> {
        let b = &mut *self.b;
        b.inline_head.then_some(&mut b.inline)
    }

    /// An empty buffer of `capacity` bytes with `headroom` reserved, on the heap rather than
    /// from a pool (for control packets and tests; the data path uses [`PacketPool`]).
    pub fn new(capacity: usize, headroom: usize) -> Self {
        let storage = Arc::new(Storage {
            buf: vec![0; capacity].into_boxed_slice(),
            pool: Weak::new(),
            fixed: false,
        });
        Self::from_storage(storage, headroom)
    }

    /// A heap buffer holding a copy of `bytes` after `headroom` bytes of headroom.
    pub fn from_slice(headroom: usize, bytes: &[u8]) -> Self {
        let mut b = Self::new(headroom + bytes.len(), headroom);
        b.b.tail += bytes.len();
        b.head_buf_mut()[headroom..].copy_from_slice(bytes);
        b
    }

    #[inline]
    fn capacity(&self) -> usize {
        self.head_buf().len()
    }

    /// The head's whole buffer: its storage's, or the inline area.
    #[inline(always)]
    fn head_buf(&self) -> &[u8] {
        if self.b.inline_head {
            return &self.b.inline;
        }
        self.b.head.as_ref().map_or(&[], |h| &h.buf)
    }

    /// Mutable head bytes; only called once the head is known to be unique.
    #[inline]
    fn head_buf_mut(&mut self) -> &mut [u8] {
        let b = &mut *self.b;
        if b.inline_head {
            return &mut b.inline;
        }
        match b.head.as_mut().and_then(Arc::get_mut) {
            Some(s) => &mut s.buf,
            None => &mut [],
        }
    }

    /// Total length: linear part plus fragments.
    #[inline(always)]
    pub fn len(&self) -> usize {
        self.head_len() + self.b.frag_len
    }

    /// True when the buffer holds no bytes.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Length of the linear part (what [`Self::data`] returns).
    #[inline(always)]
    pub fn head_len(&self) -> usize {
        self.b.tail - self.b.data
    }

    /// Bytes free in front of the data, for headers to be pushed.
    #[inline]
    pub fn headroom(&self) -> usize {
        self.b.data
    }

    /// Bytes free after the linear data.
    #[inline]
    pub fn tailroom(&self) -> usize {
        self.capacity() - self.b.tail
    }

    /// Number of fragments.
    #[inline]
    pub fn nr_frags(&self) -> usize {
        self.b.nr_frags
    }

    /// True when another buffer (a clone) shares the head bytes.
    pub fn is_shared(&self) -> bool {
        self.b
            .head
            .as_ref()
            .is_some_and(|h| Arc::strong_count(h) > 1)
    }

    /// The linear bytes.
    #[inline(always)]
    pub fn data(&self) -> &[u8] {
        self.head_buf().get(self.b.data..self.b.tail).unwrap_or(&[])
    }

    /// The linear bytes, writable (copies the head first if it is shared).
    #[inline]
    pub fn data_mut(&mut self) -> Result<&mut [u8], PktBufError> {
        self.make_unique()?;
        let (d, t) = (self.b.data, self.b.tail);
        Ok(&mut self.head_buf_mut()[d..t])
    }

    /// The fragments' bytes, in order.
    pub fn frags(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.frag_slots().iter().flatten().map(Frag::bytes)
    }

    /// The used fragment slots.
    fn frag_slots(&self) -> &[Option<Frag>] {
        self.b.frags.slots().get(..self.b.nr_frags).unwrap_or(&[])
    }

    /// The used fragment slots, writable.
    fn frag_slots_mut(&mut self) -> &mut [Option<Frag>] {
        let n = self.b.nr_frags;
        self.b.frags.slots_mut().get_mut(..n).unwrap_or(&mut [])
    }

    /// Adds `f` after the last fragment, or extends the last fragment when `f` continues it
    /// ([`Self::coalesce`]); the caller has checked that a slot is free.
    #[inline(always)]
    fn push_frag(&mut self, f: Frag) {
        if self.coalesce(&f.storage, f.off, f.len) {
            // The fragment it extended holds the same storage, so this is not the last
            // reference: dropping it cannot free the storage or owe it to a pool.
            drop(f.storage);
            return;
        }
        self.push_slot(f);
    }

    /// Puts `f` into the next slot (the caller has checked that one is free and that `f` does
    /// not continue the last fragment).
    #[inline(always)]
    fn push_slot(&mut self, f: Frag) {
        let len = f.len as usize;
        let Some(slot) = self.free_slot() else {
            release(f.storage);
            return;
        };
        *slot = Some(f);
        self.b.frag_len += len;
        self.b.nr_frags += 1;
    }

    /// The empty slot after the last fragment, moving the inline fragment to the front of a
    /// table when a second one needs a slot; `None` when every slot is used. The caller fills
    /// it and counts the fragment in.
    #[inline(always)]
    fn free_slot(&mut self) -> Option<&mut Option<Frag>> {
        let b = &mut *self.b;
        if b.nr_frags > 0 {
            b.frags.make_table();
        }
        b.frags
            .slots_mut()
            .get_mut(b.nr_frags)
            .filter(|s| s.is_none())
    }

    /// Extends the last fragment by bytes `[off, off + len)` of `storage` when they directly
    /// follow it in the same storage (Linux `skb_can_coalesce`); returns whether it did. Over
    /// the in-memory wire a sender's segments are slices of one send-queue chunk, so a GRO
    /// super-packet holds one fragment per chunk instead of one per segment, and the receive
    /// queue takes a reference per chunk.
    #[inline(always)]
    fn coalesce(&mut self, storage: &Arc<Storage>, off: u32, len: u32) -> bool {
        // One look at the body for the whole step.
        let b = &mut *self.b;
        let Some(Some(last)) = b
            .frags
            .slots_mut()
            .get_mut(..b.nr_frags)
            .and_then(|s| s.last_mut())
        else {
            return false;
        };
        if !Arc::ptr_eq(&last.storage, storage) || last.off + last.len != off {
            return false;
        }
        last.len += len;
        b.frag_len += len as usize;
        true
    }

    /// Gives this buffer its own copy of the head if a clone shares it (Linux `skb_unshare`
    /// for the head). The copy comes from the same pool, so it does not allocate either.
    /// The check is in line (every write to a head makes it, and the head is nearly always
    /// its own already); the copy is not.
    #[inline(always)]
    fn make_unique(&mut self) -> Result<(), PktBufError> {
        match self.b.head.as_ref() {
            Some(old) if Arc::strong_count(old) != 1 => self.unshare_head(),
            _ => Ok(()),
        }
    }

    /// The copy of [`Self::make_unique`], for a head a clone shares.
    #[inline(never)]
    fn unshare_head(&mut self) -> Result<(), PktBufError> {
        let Some(old) = self.b.head.as_ref() else {
            return Ok(());
        };
        let new = match old.pool.upgrade() {
            Some(pool) => take_storage(&pool).ok_or(PktBufError::PoolExhausted)?,
            None => Arc::new(Storage {
                buf: vec![0; old.buf.len()].into_boxed_slice(),
                pool: Weak::new(),
                fixed: false,
            }),
        };
        let range = self.b.data..self.b.tail;
        let old = self.b.head.replace(new);
        if let Some(old) = old {
            let src = old.buf.get(range.clone()).unwrap_or(&[]);
            if let Some(dst) = self.head_buf_mut().get_mut(range) {
                dst.copy_from_slice(src);
            }
            release(old);
        }
        Ok(())
    }

    /// Moves the start of an empty buffer forward by `n`, making headroom (`skb_reserve`).
    #[inline]
    pub fn reserve(&mut self, n: usize) -> Result<(), PktBufError> {
        if !self.is_empty() {
            return Err(PktBufError::NotEmpty);
        }
        if n > self.tailroom() {
            return Err(PktBufError::NoTailroom {
                needed: n,
                have: self.tailroom(),
            });
        }
        self.b.data += n;
        self.b.tail += n;
        Ok(())
    }

    /// Prepends `n` bytes (for a header) and returns them to be written (`skb_push`).
    #[inline(always)]
    pub fn push(&mut self, n: usize) -> Result<&mut [u8], PktBufError> {
        if n > self.b.data {
            return Err(PktBufError::NoHeadroom {
                needed: n,
                have: self.b.data,
            });
        }
        self.make_unique()?;
        self.b.data -= n;
        let (d, t) = (self.b.data, self.b.data + n);
        Ok(&mut self.head_buf_mut()[d..t])
    }

    /// Removes `n` bytes from the front of the linear part and returns them (`skb_pull`):
    /// how each RX stage steps over the header it has handled.
    #[inline(always)]
    pub fn pull(&mut self, n: usize) -> Result<&[u8], PktBufError> {
        if n > self.head_len() {
            return Err(PktBufError::TooShort {
                needed: n,
                have: self.head_len(),
            });
        }
        self.b.data += n;
        let (d, t) = (self.b.data - n, self.b.data);
        Ok(self.head_buf().get(d..t).unwrap_or(&[]))
    }

    /// Makes sure the first `n` bytes are linear, moving bytes from the fragments into the
    /// tailroom if needed (`pskb_may_pull`), so a header split across a fragment boundary can
    /// be parsed from [`Self::data`].
    pub fn may_pull(&mut self, n: usize) -> Result<(), PktBufError> {
        if n <= self.head_len() {
            return Ok(());
        }
        if n > self.len() {
            return Err(PktBufError::TooShort {
                needed: n,
                have: self.len(),
            });
        }
        let more = n - self.head_len();
        if more > self.tailroom() {
            return Err(PktBufError::NoTailroom {
                needed: more,
                have: self.tailroom(),
            });
        }
        self.make_unique()?;
        self.move_from_frags(more);
        Ok(())
    }

    /// Moves the first `n` fragment bytes to the end of the linear part. The caller checked
    /// that `n <= frag_len` and `n <= tailroom` and made the head unique.
    fn move_from_frags(&mut self, mut n: usize) {
        while n > 0 && self.b.nr_frags > 0 {
            let Some(first) = self.frag_slots_mut().first_mut().and_then(Option::as_mut) else {
                break;
            };
            let take = n.min(first.len as usize);
            let src = first.storage.clone();
            let range = first.off as usize..first.off as usize + take;
            first.off += take as u32;
            first.len -= take as u32;
            let t = self.b.tail;
            if let (Some(dst), Some(s)) =
                (self.head_buf_mut().get_mut(t..t + take), src.buf.get(range))
            {
                dst.copy_from_slice(s);
            }
            drop(src);
            self.b.tail += take;
            self.b.frag_len -= take;
            n -= take;
            if self
                .frag_slots()
                .first()
                .is_some_and(|f| f.as_ref().is_some_and(|f| f.len == 0))
            {
                self.remove_first_frag();
            }
        }
    }

    fn remove_first_frag(&mut self) {
        let slots = self.frag_slots_mut();
        let Some(first) = slots.first_mut() else {
            return;
        };
        if let Some(f) = first.take() {
            release(f.storage);
        }
        slots.rotate_left(1);
        self.b.nr_frags -= 1;
    }

    /// Appends `n` bytes to a linear buffer and returns them to be written (`skb_put`).
    pub fn put(&mut self, n: usize) -> Result<&mut [u8], PktBufError> {
        if self.b.nr_frags > 0 {
            return Err(PktBufError::NotLinear);
        }
        if n > self.tailroom() {
            return Err(PktBufError::NoTailroom {
                needed: n,
                have: self.tailroom(),
            });
        }
        self.make_unique()?;
        self.b.tail += n;
        let (d, t) = (self.b.tail - n, self.b.tail);
        Ok(&mut self.head_buf_mut()[d..t])
    }

    /// [`Self::put`] and copy `bytes` in.
    pub fn put_slice(&mut self, bytes: &[u8]) -> Result<(), PktBufError> {
        self.put(bytes.len())?.copy_from_slice(bytes);
        Ok(())
    }

    /// [`trim`](Self::trim) for a received packet (`pskb_trim_rcsum`): a device's complete
    /// sum covered the bytes cut off, so it no longer describes the packet and is dropped
    /// (the checksum is then verified in software).
    pub fn trim_rcsum(&mut self, len: usize) -> Result<(), PktBufError> {
        self.trim(len)?;
        if let ChecksumState::Complete { .. } = self.meta.csum {
            self.meta.csum = ChecksumState::None;
        }
        Ok(())
    }

    /// Cuts the packet to `len` bytes, from the fragments first (`pskb_trim`): how IPv4 input
    /// drops Ethernet padding.
    pub fn trim(&mut self, len: usize) -> Result<(), PktBufError> {
        if len > self.len() {
            return Err(PktBufError::TooShort {
                needed: len,
                have: self.len(),
            });
        }
        self.clear_seg_sums();
        let mut excess = self.len() - len;
        while excess > 0 && self.b.nr_frags > 0 {
            let Some(slot) = self.frag_slots_mut().last_mut() else {
                break;
            };
            let Some(f) = slot.as_mut() else {
                break;
            };
            let cut = excess.min(f.len as usize);
            f.len -= cut as u32;
            let emptied = f.len == 0;
            if emptied {
                if let Some(f) = slot.take() {
                    release(f.storage);
                }
            }
            self.b.frag_len -= cut;
            excess -= cut;
            if emptied {
                self.b.nr_frags -= 1;
            }
        }
        self.b.tail -= excess;
        Ok(())
    }

    /// Appends all of `other`'s bytes as fragments, sharing its storage without copying: how
    /// GRO chains the payloads of merged segments (the caller has pulled `other`'s headers).
    /// On error `other` is dropped and `self` is unchanged.
    pub fn append_frags(&mut self, mut other: PacketBuf) -> Result<(), PktBufError> {
        self.clear_seg_sums();
        let head_part = usize::from(other.head_len() > 0);
        if self.b.nr_frags + head_part + other.b.nr_frags > MAX_FRAGS {
            return Err(PktBufError::TooManyFrags);
        }
        if head_part == 1 {
            if other.b.inline_head {
                // An inline head has no storage to share: its bytes get one of their own.
                self.push_slot(Frag::copy_of(other.data()));
            } else if let Some(storage) = other.b.head.take() {
                self.push_frag(Frag {
                    storage,
                    off: other.b.data as u32,
                    len: other.head_len() as u32,
                });
            }
        }
        let n = other.b.nr_frags;
        other.b.nr_frags = 0;
        for f in other.b.frags.slots_mut().iter_mut().take(n) {
            if let Some(f) = f.take() {
                self.push_frag(f);
            }
        }
        Ok(())
    }

    /// GRO's usual merge, without [`Self::append_frags`]' general walk: when `other` is
    /// `hdr_len` bytes of headers in its head and one fragment that continues this buffer's
    /// last fragment in the same storage (the next segment cut from the same send chunk),
    /// that fragment grows over it ([`Self::coalesce`]) and `other` is dropped: the same
    /// result as pulling the headers and appending. Anything else is given back unchanged,
    /// for the general path.
    #[inline(always)]
    pub(crate) fn absorb_continuation(
        &mut self,
        mut other: PacketBuf,
        hdr_len: usize,
    ) -> Result<(), PacketBuf> {
        let FragSlots::Inline([Some(next)]) = &other.b.frags else {
            return Err(other);
        };
        if other.nr_frags() != 1
            || other.head_len() != hdr_len
            || !self.coalesce(&next.storage, next.off, next.len)
        {
            return Err(other);
        }
        self.clear_seg_sums();
        // The fragment grown over holds the same storage, so this is not its last reference:
        // it is dropped here rather than released with `other`.
        let ob = &mut *other.b;
        ob.nr_frags = 0;
        ob.frag_len = 0;
        if let FragSlots::Inline([slot]) = &mut ob.frags {
            drop(slot.take());
        }
        Ok(())
    }

    /// Appends bytes `[off, off + len)` of `src` (counted over its head, then its fragments)
    /// as fragments that share `src`'s storage, without copying: how software GSO gives each
    /// segment its slice of the super-packet's payload (Linux `skb_segment` on a
    /// scatter-gather device). On error nothing is changed.
    pub fn append_shared(
        &mut self,
        src: &PacketBuf,
        off: usize,
        len: usize,
    ) -> Result<(), PktBufError> {
        let end = src.range_end(off, len)?;
        self.clear_seg_sums();
        let (nr_before, len_before) = (self.b.nr_frags, self.b.frag_len);
        let last_len_before = self
            .frag_slots()
            .last()
            .and_then(Option::as_ref)
            .map(|f| f.len);
        // `range_end` checked the range, so the cursor exists and the walk cannot run short.
        let mut cur = src.cursor_at(off).ok_or(PktBufError::TooShort {
            needed: end,
            have: src.len(),
        })?;
        let r = self.append_shared_next(src, &mut cur, end - off, |_| {});
        if r.is_err() {
            self.undo_append(nr_before, len_before, last_len_before);
        }
        r
    }

    /// Appends bytes `[off, off + len)` of `storage` as a fragment that shares it, or extends
    /// the last fragment when they continue it (no slot, no new reference); false when every
    /// slot is used.
    #[inline(always)]
    fn push_shared(&mut self, storage: &Arc<Storage>, off: usize, len: usize) -> bool {
        if self.coalesce(storage, off as u32, len as u32) {
            return true;
        }
        let Some(slot) = self.free_slot() else {
            return false;
        };
        // The fragment is built in its slot, after the check that the slot is empty: built
        // first, it went through the stack, and the wide load of that copy waited for the
        // narrow stores that had just written it.
        slot.get_or_insert_with(|| Frag {
            storage: Arc::clone(storage),
            off: off as u32,
            len: len as u32,
        });
        self.b.frag_len += len;
        self.b.nr_frags += 1;
        true
    }

    /// A cursor at byte `off` of this buffer (counted over the head, then the fragments), for
    /// [`Self::append_shared_next`]; `None` past the end.
    pub(crate) fn cursor_at(&self, off: usize) -> Option<Cursor> {
        let mut cur = Cursor { part: 0, at: off };
        while let Some(part) = self.part(cur.part) {
            if cur.at < part.len() {
                return Some(cur);
            }
            cur.at -= part.len();
            cur.part += 1;
        }
        (cur.at == 0).then_some(cur)
    }

    /// Part `k` of this buffer's bytes: the head for 0, fragment `k - 1` after it.
    fn part(&self, k: usize) -> Option<Part<'_>> {
        if k == 0 {
            let (d, t) = (self.b.data, self.b.tail);
            return Some(if self.b.inline_head {
                Part::Bytes(self.b.inline.get(d..t).unwrap_or(&[]))
            } else {
                match &self.b.head {
                    Some(h) => Part::Shared(h, d, t - d),
                    None => Part::Bytes(&[]),
                }
            });
        }
        let f = self.frag_slots().get(k - 1)?.as_ref()?;
        Some(Part::Shared(&f.storage, f.off as usize, f.len as usize))
    }

    /// [`Self::append_shared_next`] for software GSO's common case, without its walk: this
    /// buffer has no fragment yet and the `len` bytes at `cur` lie in one fragment of `src`
    /// (a segment's payload inside one send-queue chunk). They become this buffer's one
    /// fragment, `cur` moves past them, and their bytes are returned; `None` when the case
    /// does not hold, with the buffer unchanged and `cur` at the same byte (perhaps moved from
    /// the end of one fragment to the start of the next, as the walk would).
    #[inline(always)]
    pub(crate) fn share_one_piece<'s>(
        &mut self,
        src: &'s PacketBuf,
        cur: &mut Cursor,
        len: usize,
    ) -> Option<&'s [u8]> {
        if len == 0 || self.b.nr_frags != 0 || cur.part == 0 {
            return None;
        }
        let slots = src.frag_slots();
        let mut f = slots.get(cur.part - 1)?.as_ref()?;
        if cur.at >= f.len as usize {
            // The last segment ended this fragment: the next one starts at the next.
            f = slots.get(cur.part)?.as_ref()?;
            cur.part += 1;
            cur.at = 0;
        }
        if (f.len as usize) - cur.at < len {
            return None;
        }
        let off = f.off as usize + cur.at;
        let bytes = f.storage.buf.get(off..off + len)?;
        let FragSlots::Inline([slot @ None]) = &mut self.b.frags else {
            return None;
        };
        *slot = Some(Frag {
            storage: Arc::clone(&f.storage),
            off: off as u32,
            len: len as u32,
        });
        self.b.nr_frags = 1;
        self.b.frag_len += len;
        cur.at += len;
        Some(bytes)
    }

    /// [`Self::append_shared`] of the `len` bytes of `src` at `cur`, walking on from there
    /// instead of from the front, and moving `cur` past them; `each` sees every piece's
    /// bytes in order (software GSO sums them for the segment's checksum). A segment of a
    /// super-packet is one or two pieces; finding its start from the front took a walk over
    /// the fragments before it for every segment. On error the buffer may hold part of the
    /// range: the caller drops it, or takes it back as [`Self::append_shared`] does.
    pub(crate) fn append_shared_next(
        &mut self,
        src: &PacketBuf,
        cur: &mut Cursor,
        mut len: usize,
        mut each: impl FnMut(&[u8]),
    ) -> Result<(), PktBufError> {
        while len > 0 {
            let Some(part) = src.part(cur.part) else {
                return Err(PktBufError::TooShort {
                    needed: len,
                    have: 0,
                });
            };
            let take = part.len().saturating_sub(cur.at).min(len);
            if take == 0 {
                (cur.part, cur.at) = (cur.part + 1, 0);
                continue;
            }
            let piece = part.sub(cur.at, cur.at + take);
            each(piece.bytes());
            match piece {
                Part::Shared(storage, o, l) => {
                    if !self.push_shared(storage, o, l) {
                        return Err(PktBufError::TooManyFrags);
                    }
                }
                Part::Bytes(bytes) => {
                    if self.b.nr_frags == MAX_FRAGS {
                        return Err(PktBufError::TooManyFrags);
                    }
                    self.push_slot(Frag::copy_of(bytes));
                }
            }
            cur.at += take;
            len -= take;
        }
        Ok(())
    }

    /// Takes back what an [`Self::append_shared`] that ran out of slots added (one pass over
    /// the range instead of counting it first; running out is rare), including what it added
    /// to the fragment that was last: the fragment count, length and last fragment's length
    /// go back to the values given.
    fn undo_append(&mut self, nr_before: usize, len_before: usize, last_len_before: Option<u32>) {
        for slot in self.frag_slots_mut().iter_mut().skip(nr_before) {
            if let Some(f) = slot.take() {
                release(f.storage);
            }
        }
        (self.b.nr_frags, self.b.frag_len) = (nr_before, len_before);
        if let (Some(len), Some(Some(last))) = (last_len_before, self.frag_slots_mut().last_mut()) {
            last.len = len;
        }
    }

    /// A buffer with no linear part whose fragments share bytes `[off, off + len)` of this
    /// one: how a queue keeps a packet's payload without its headers and without copying
    /// (the header buffer is not kept alive by it). Fails when the range is not held.
    pub fn share(&self, off: usize, len: usize) -> Result<PacketBuf, PktBufError> {
        let mut out = PacketBuf::headless();
        out.append_shared(self, off, len)?;
        Ok(out)
    }

    /// True when bytes `[off, off + len)` (clamped) lie in a buffer of a fixed-size pool
    /// ([`PacketPool::new`], a device's receive ring typically): a queue that would keep them
    /// for long copies them out instead, so the ring is not drained (drivers' `copybreak`).
    pub fn pins_fixed_pool(&self, off: usize, len: usize) -> bool {
        let end = off.saturating_add(len).min(self.len());
        self.parts_in(off, end)
            .any(|part| matches!(part, Part::Shared(st, _, _) if st.fixed))
    }

    /// The memory this buffer stands for (Linux `skb->truesize`): its own bookkeeping, its
    /// head storage whole, and each fragment's bytes plus [`FRAG_TRUESIZE`] for the headroom
    /// and headers of the frame the fragment came in, which it keeps alive beside the bytes.
    pub fn truesize(&self) -> usize {
        let table = match self.b.frags {
            FragSlots::Table(..) => core::mem::size_of::<FragTable>(),
            FragSlots::Inline(_) => 0,
        };
        // The inline area counts as the head's bytes, where a head in a storage counts its
        // storage: a body is charged as it was before it had one.
        core::mem::size_of::<PacketBuf>()
            + (core::mem::size_of::<PacketBody>() - INLINE_HEAD)
            + table
            + self.capacity()
            + self.b.frag_len
            + self.b.nr_frags * FRAG_TRUESIZE
    }

    /// Copies bytes from offset `off` (counted over the head, then the fragments) into `out`,
    /// as many as fit and are held; returns how many.
    pub fn copy_range_to(&self, off: usize, out: &mut [u8]) -> usize {
        let end = off.saturating_add(out.len()).min(self.len());
        let mut at = 0;
        for src in self.parts_in(off, end).map(Part::bytes) {
            if let Some(dst) = out.get_mut(at..at + src.len()) {
                dst.copy_from_slice(src);
            }
            at += src.len();
        }
        at
    }

    /// The bytes from `off` to the end as the contiguous slices they are stored in (the rest
    /// of the head, then each fragment), without copying: how a reader takes the bytes in
    /// place ([`crate::tcp::buffer::RecvQueue::read_with`]).
    pub fn slices_from(&self, off: usize) -> impl Iterator<Item = &[u8]> + '_ {
        let end = self.len();
        self.parts_in(off.min(end), end).map(Part::bytes)
    }

    /// `off + len`, checked against the buffer's length.
    fn range_end(&self, off: usize, len: usize) -> Result<usize, PktBufError> {
        let end = off.checked_add(len).ok_or(PktBufError::TooShort {
            needed: usize::MAX,
            have: self.len(),
        })?;
        if end > self.len() {
            return Err(PktBufError::TooShort {
                needed: end,
                have: self.len(),
            });
        }
        Ok(end)
    }

    /// Every part ([`Part`]: shared storage bytes, or inline head bytes) of bytes
    /// `[off, end)`, counted over the head, then the fragments, in order.
    fn parts_in(&self, off: usize, end: usize) -> Parts<'_> {
        Parts {
            head: self.part(0).filter(|p| p.len() > 0),
            frags: self.frag_slots().iter(),
            at: 0,
            off,
            end,
        }
    }

    /// Copies the fragments into the tailroom so the whole packet is linear (`skb_linearize`).
    pub fn linearize(&mut self) -> Result<(), PktBufError> {
        if self.b.nr_frags == 0 {
            return Ok(());
        }
        self.clear_seg_sums();
        if self.b.frag_len > self.tailroom() {
            return Err(PktBufError::NoTailroom {
                needed: self.b.frag_len,
                have: self.tailroom(),
            });
        }
        self.make_unique()?;
        self.move_from_frags(self.b.frag_len);
        Ok(())
    }

    /// Copies the whole packet (head and fragments) into `out`, which must be [`Self::len`]
    /// bytes or more; returns the length. For taps and transmit paths that need one slice.
    pub fn copy_to(&self, out: &mut [u8]) -> Result<usize, PktBufError> {
        let len = self.len();
        if out.len() < len {
            return Err(PktBufError::TooShort {
                needed: len,
                have: out.len(),
            });
        }
        let mut at = 0;
        for part in core::iter::once(self.data()).chain(self.frags()) {
            out[at..at + part.len()].copy_from_slice(part);
            at += part.len();
        }
        Ok(at)
    }

    /// Records the current data start as the MAC header (`skb_reset_mac_header`). A start
    /// more than 64 KiB into the buffer records none (the header accessor then returns `None`).
    #[inline]
    pub fn set_mac_header(&mut self) {
        self.meta.mac_header = u16::try_from(self.b.data).ok();
    }

    /// Records the current data start as the network header (as [`Self::set_mac_header`]).
    pub fn set_network_header(&mut self) {
        self.meta.network_header = u16::try_from(self.b.data).ok();
    }

    /// Records the current data start as the transport header (as [`Self::set_mac_header`]).
    pub fn set_transport_header(&mut self) {
        self.meta.transport_header = u16::try_from(self.b.data).ok();
    }

    fn bytes_from(&self, off: Option<u16>) -> Option<&[u8]> {
        self.head_buf().get(usize::from(off?)..self.b.tail)
    }

    /// The linear bytes from the MAC header on, still readable after it was pulled.
    pub fn mac_header(&self) -> Option<&[u8]> {
        self.bytes_from(self.meta.mac_header)
    }

    /// The linear bytes from the network header on.
    pub fn network_header(&self) -> Option<&[u8]> {
        self.bytes_from(self.meta.network_header)
    }

    /// The linear bytes from the transport header on.
    pub fn transport_header(&self) -> Option<&[u8]> {
        self.bytes_from(self.meta.transport_header)
    }
}

/// The parts of a byte range of a [`PacketBuf`] ([`PacketBuf::parts_in`]): walks the head and
/// then the fragment slots, skipping parts before the range and stopping at its end, so a
/// range near the front of a big super-packet costs no more than its own parts.
#[derive(Clone)]
struct Parts<'a> {
    /// The head, while not yet walked (and only when it holds bytes).
    head: Option<Part<'a>>,
    frags: core::slice::Iter<'a, Option<Frag>>,
    /// Packet offset of the next part.
    at: usize,
    off: usize,
    end: usize,
}

/// A position in a buffer's bytes ([`PacketBuf::cursor_at`]): part (0 the head, then one per
/// fragment) and offset in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cursor {
    part: usize,
    at: usize,
}

/// One part of a byte range ([`Parts`]).
#[derive(Clone, Copy)]
enum Part<'a> {
    /// Bytes `[off, off + len)` of a storage, which can be shared.
    Shared(&'a Arc<Storage>, usize, usize),
    /// Bytes of an inline head, which can only be copied.
    Bytes(&'a [u8]),
}

impl<'a> Part<'a> {
    fn len(&self) -> usize {
        match self {
            Part::Shared(_, _, l) => *l,
            Part::Bytes(b) => b.len(),
        }
    }

    /// The part's bytes `[a, b)`.
    fn sub(self, a: usize, b: usize) -> Part<'a> {
        match self {
            Part::Shared(st, o, _) => Part::Shared(st, o + a, b - a),
            Part::Bytes(bytes) => Part::Bytes(bytes.get(a..b).unwrap_or(&[])),
        }
    }

    fn bytes(self) -> &'a [u8] {
        match self {
            Part::Shared(st, o, l) => st.buf.get(o..o + l).unwrap_or(&[]),
            Part::Bytes(bytes) => bytes,
        }
    }
}

impl<'a> Iterator for Parts<'a> {
    type Item = Part<'a>;

    fn next(&mut self) -> Option<Self::Item> {
        while self.at < self.end {
            let part = match self.head.take() {
                Some(h) => h,
                None => {
                    let f = self.frags.next()?.as_ref()?;
                    Part::Shared(&f.storage, f.off as usize, f.len as usize)
                }
            };
            let (start, stop) = (self.at, self.at + part.len());
            self.at = stop;
            let (a, b) = (start.max(self.off), stop.min(self.end));
            if a < b {
                return Some(part.sub(a - start, b - start));
            }
        }
        None
    }
}

/// A pool of fixed-size packet buffers (like a DPDK mempool or the driver's RX buffers): all
/// allocated up front, handed out by [`PacketPool::alloc`], and returned automatically when the
/// last buffer (or clone, or fragment) using one is dropped. Cloning the pool clones a handle.
#[derive(Clone)]
pub struct PacketPool {
    shared: Arc<PoolShared>,
}

impl fmt::Debug for PacketPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PacketPool")
            .field("buf_size", &self.shared.buf_size)
            .field("count", &self.shared.count)
            .field("available", &self.available())
            .finish()
    }
}

impl PacketPool {
    /// A pool of `count` buffers of `buf_size` bytes each, all allocated now.
    pub fn new(count: usize, buf_size: usize) -> Self {
        let shared = Arc::new_cyclic(|weak: &Weak<PoolShared>| {
            let mut free = Vec::with_capacity(count);
            for _ in 0..count {
                free.push(Arc::new(Storage {
                    buf: vec![0; buf_size].into_boxed_slice(),
                    pool: weak.clone(),
                    fixed: true,
                }));
            }
            PoolShared {
                free: Mutex::new(free),
                buf_size,
                count,
                created: AtomicUsize::new(count),
                fixed: true,
                magazine_size: 0,
            }
        });
        PacketPool { shared }
    }

    /// A pool of up to `count` buffers of `buf_size` bytes each that allocates a buffer only
    /// when one is first asked for and none is free, then recycles it like any pool buffer.
    /// For large buffers (TCP super-packets) that a stack may never need.
    pub fn lazy(count: usize, buf_size: usize) -> Self {
        PacketPool {
            shared: Arc::new(PoolShared {
                free: Mutex::new(Vec::with_capacity(count)),
                buf_size,
                count,
                created: AtomicUsize::new(0),
                fixed: false,
                magazine_size: (MAGAZINE_BYTES / buf_size.max(1))
                    .clamp(1, MAGAZINE_MAX)
                    .min(count),
            }),
        }
    }

    /// An empty buffer with `headroom` bytes reserved (clamped to the buffer size) and fresh
    /// metadata, or `None` when every buffer is in use: the caller drops the packet and counts
    /// it, like a NIC out of RX buffers.
    pub fn alloc(&self, headroom: usize) -> Option<PacketBuf> {
        let storage = take_storage(&self.shared)?;
        Some(PacketBuf::from_storage(storage, headroom))
    }

    /// Buffers ready to be handed out (for a lazy pool, counting those not made yet, and
    /// those in this thread's magazine but not in other threads': they are this thread's to
    /// allocate, and come back to the pool when the thread exits).
    pub fn available(&self) -> usize {
        let free = self
            .shared
            .free
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len();
        free + magazine_len(&self.shared) + self.shared.count
            - self
                .shared
                .created
                .load(Ordering::Relaxed)
                .min(self.shared.count)
    }

    /// Size of each buffer.
    pub fn buf_size(&self) -> usize {
        self.shared.buf_size
    }

    /// Number of buffers in the pool.
    pub fn count(&self) -> usize {
        self.shared.count
    }
}

/// A buffer of `shared` for a new user (`alloc`, or a copy on write): from this thread's
/// magazine (lazy pools), else the shared free list, else made anew while the pool has fewer
/// than `count`.
fn take_storage(shared: &Arc<PoolShared>) -> Option<Arc<Storage>> {
    let cached = if shared.fixed {
        None
    } else {
        magazine_take(shared)
    };
    if cached.is_some() {
        return cached;
    }
    let free = shared
        .free
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .pop();
    free.or_else(|| grow(shared))
}

/// A new buffer for a pool with fewer than `count` buffers in existence: a lazy pool that has
/// not made all of them yet, or a pool one of whose buffers was freed (see [`release`]).
fn grow(shared: &Arc<PoolShared>) -> Option<Arc<Storage>> {
    shared
        .created
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
            (n < shared.count).then_some(n + 1)
        })
        .ok()?;
    Some(Arc::new(Storage {
        buf: vec![0; shared.buf_size].into_boxed_slice(),
        pool: Arc::downgrade(shared),
        fixed: shared.fixed,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_pull_put_trim_reserve() {
        let pool = PacketPool::new(2, 256);
        let mut b = pool.alloc(64).unwrap();
        assert_eq!((b.headroom(), b.tailroom(), b.len()), (64, 192, 0));
        b.put_slice(b"payload").unwrap();
        b.push(4).unwrap().copy_from_slice(b"UDP:");
        b.push(3).unwrap().copy_from_slice(b"IP:");
        assert_eq!(b.data(), b"IP:UDP:payload");
        assert_eq!(b.headroom(), 57);
        assert_eq!(
            b.push(58),
            Err(PktBufError::NoHeadroom {
                needed: 58,
                have: 57
            })
        );
        assert_eq!(b.pull(3).unwrap(), b"IP:");
        assert_eq!(b.pull(4).unwrap(), b"UDP:");
        assert_eq!(b.pull(8), Err(PktBufError::TooShort { needed: 8, have: 7 }));
        b.trim(4).unwrap();
        assert_eq!(b.data(), b"payl");
        assert!(b.trim(5).is_err());
        assert_eq!(b.reserve(1), Err(PktBufError::NotEmpty));
        assert!(matches!(b.put(1000), Err(PktBufError::NoTailroom { .. })));
        b.trim(0).unwrap();
        b.reserve(10).unwrap();
        assert_eq!(b.headroom(), 64 + 10);
        assert_eq!(b.data(), b"");
    }

    #[test]
    fn a_buffer_body_starts_on_a_cache_line_whatever_was_allocated_before_it() {
        // Kept, so that every body is a new allocation between two others of odd sizes.
        let (mut keep, mut bufs) = (Vec::new(), Vec::new());
        for odd in 1..100usize {
            keep.push(vec![0u8; odd * 24]);
            let b = PacketBuf::with_inline_head(0);
            let at = &*b as *const PacketBody as usize;
            assert_eq!(at % 64, 0, "body at {at:#x}");
            bufs.push(b);
            keep.push(vec![0u8; odd]);
        }
    }

    #[test]
    fn header_offsets_survive_pull() {
        let mut b = PacketBuf::from_slice(16, b"ETHERNETIPV4UDP!data");
        b.set_mac_header();
        b.pull(8).unwrap();
        b.set_network_header();
        b.pull(4).unwrap();
        b.set_transport_header();
        assert_eq!(b.mac_header().unwrap(), b"ETHERNETIPV4UDP!data");
        assert_eq!(b.network_header().unwrap(), b"IPV4UDP!data");
        assert_eq!(b.transport_header().unwrap(), b"UDP!data");
        assert_eq!(b.data(), b"UDP!data");
        assert_eq!(PacketBuf::new(8, 0).mac_header(), None);
    }

    #[test]
    fn clone_shares_then_copies_on_write() {
        let pool = PacketPool::new(3, 128);
        let mut a = pool.alloc(32).unwrap();
        a.put_slice(b"frame").unwrap();
        a.meta.mark = 7;
        let tap = a.clone();
        assert!(a.is_shared() && tap.is_shared());
        assert_eq!(pool.available(), 2, "a clone takes no buffer");
        // The original is rewritten (a header pushed, a byte changed): the tap keeps the
        // frame as it was, like a pcap tap must.
        a.push(2).unwrap().copy_from_slice(b"H:");
        a.data_mut().unwrap()[2] = b'F';
        assert_eq!(a.data(), b"H:Frame");
        assert_eq!(tap.data(), b"frame");
        assert_eq!(tap.meta.mark, 7);
        assert!(!a.is_shared() && !tap.is_shared());
        assert_eq!(pool.available(), 1, "the copy came from the pool");
        // pull on a clone only moves that clone's offsets.
        let mut tap2 = tap.clone();
        tap2.pull(2).unwrap();
        assert_eq!((tap.data(), tap2.data()), (&b"frame"[..], &b"ame"[..]));
        drop(tap2);
        drop(tap);
        drop(a);
        assert_eq!(pool.available(), 3);
    }

    #[test]
    fn copy_on_write_with_empty_pool_fails_cleanly() {
        let pool = PacketPool::new(1, 64);
        let mut a = pool.alloc(8).unwrap();
        a.put_slice(b"abc").unwrap();
        let tap = a.clone();
        assert_eq!(a.push(1).err(), Some(PktBufError::PoolExhausted));
        assert_eq!(a.data(), b"abc");
        assert_eq!(a.headroom(), 8);
        drop(tap);
        a.push(1).unwrap()[0] = b'>';
        assert_eq!(a.data(), b">abc");
    }

    #[test]
    fn pool_recycles_and_runs_out() {
        let pool = PacketPool::new(2, 64);
        let a = pool.alloc(0).unwrap();
        let b = pool.alloc(1000).unwrap();
        assert_eq!(b.headroom(), 64, "headroom clamped to the buffer");
        assert!(pool.alloc(0).is_none());
        drop(a);
        let mut c = pool.alloc(4).unwrap();
        assert_eq!(c.meta, PacketMeta::default());
        c.meta.ifindex = 3;
        drop(c);
        assert_eq!(pool.alloc(0).unwrap().meta.ifindex, 0, "metadata is reset");
        drop(b);
        assert_eq!(pool.available(), 2);
    }

    #[test]
    fn frags_append_trim_pull_and_linearize() {
        let pool = PacketPool::new(8, 64);
        let mut head = pool.alloc(16).unwrap();
        head.put_slice(b"HDR|").unwrap();
        for part in [&b"one,"[..], b"two,", b"three"] {
            let mut seg = pool.alloc(16).unwrap();
            seg.put_slice(b"xx").unwrap();
            seg.put_slice(part).unwrap();
            seg.pull(2).unwrap(); // the merged segment's own header
            head.append_frags(seg).unwrap();
        }
        assert_eq!(head.nr_frags(), 3);
        assert_eq!((head.len(), head.head_len()), (4 + 4 + 4 + 5, 4));
        assert_eq!(head.put(1).err(), Some(PktBufError::NotLinear));
        let mut out = [0u8; 32];
        let n = head.copy_to(&mut out).unwrap();
        assert_eq!(&out[..n], b"HDR|one,two,three");
        assert!(head.copy_to(&mut out[..3]).is_err());
        // A tap clone shares the fragments too.
        let tap = head.clone();
        assert_eq!(pool.available(), 4);
        // Trim cuts the fragments from the end: "three" goes to "th", then drops.
        head.trim(4 + 4 + 4 + 2).unwrap();
        assert_eq!(head.len(), 14);
        head.trim(12).unwrap();
        assert_eq!(head.nr_frags(), 2);
        // may_pull makes a header that spans fragments linear.
        head.may_pull(6).unwrap();
        assert_eq!(head.data(), b"HDR|on");
        assert_eq!(head.frags().collect::<Vec<_>>(), vec![&b"e,"[..], b"two,"]);
        assert!(head.may_pull(13).is_err());
        head.linearize().unwrap();
        assert_eq!((head.data(), head.nr_frags()), (&b"HDR|one,two,"[..], 0));
        let n = tap.copy_to(&mut out).unwrap();
        assert_eq!(&out[..n], b"HDR|one,two,three", "the tap is untouched");
        drop(tap);
        drop(head);
        assert_eq!(pool.available(), 8);
    }

    #[test]
    fn append_frags_limits() {
        let mut head = PacketBuf::new(64, 0);
        for _ in 0..MAX_FRAGS {
            head.append_frags(PacketBuf::from_slice(0, b"x")).unwrap();
        }
        assert_eq!(
            head.append_frags(PacketBuf::from_slice(0, b"y")),
            Err(PktBufError::TooManyFrags)
        );
        assert_eq!(head.len(), MAX_FRAGS);
        // Empty heads add no fragment.
        head.append_frags(PacketBuf::new(4, 0)).unwrap();
        let mut small = PacketBuf::new(4, 0);
        small
            .append_frags(PacketBuf::from_slice(0, b"12345"))
            .unwrap();
        assert!(matches!(
            small.linearize(),
            Err(PktBufError::NoTailroom { needed: 5, have: 4 })
        ));
    }

    #[test]
    fn buffers_cross_threads() {
        let pool = PacketPool::new(64, 128);
        let mut handles = vec![];
        for t in 0..4u8 {
            let pool = pool.clone();
            handles.push(std::thread::spawn(move || {
                for i in 0..1000u32 {
                    let Some(mut b) = pool.alloc(16) else {
                        continue;
                    };
                    b.put_slice(&i.to_be_bytes()).unwrap();
                    let tap = b.clone();
                    b.push(1).unwrap()[0] = t;
                    assert_eq!(tap.data(), &i.to_be_bytes());
                }
            }));
        }
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(pool.available(), 64);
    }

    /// Buffers on `pool`'s shared free list.
    fn shared_free(pool: &PacketPool) -> usize {
        pool.shared.free.lock().unwrap().len()
    }

    #[test]
    fn a_lazy_pool_buffer_goes_into_the_releasing_threads_magazine() {
        let lazy = PacketPool::lazy(4, 64);
        let fixed = PacketPool::new(4, 64);
        drop(lazy.alloc(0).unwrap());
        drop(fixed.alloc(0).unwrap());
        assert_eq!((lazy.available(), shared_free(&lazy)), (4, 0));
        let elsewhere = std::thread::scope(|s| {
            s.spawn(|| (lazy.available(), fixed.available()))
                .join()
                .unwrap()
        });
        assert_eq!(
            elsewhere,
            (3, 4),
            "another thread sees neither this thread's magazine nor a fixed pool's gap"
        );
        let again = lazy.alloc(0).unwrap();
        assert_eq!(shared_free(&lazy), 0, "taken from the magazine");
        assert_eq!(
            lazy.shared.created.load(Ordering::Relaxed),
            1,
            "not made anew"
        );
        drop(again);
    }

    #[test]
    fn a_thread_that_only_releases_gives_buffers_to_the_shared_list() {
        let pool = PacketPool::lazy(4, 64);
        let b = pool.alloc(0).unwrap();
        std::thread::scope(|s| s.spawn(move || drop(b)).join().unwrap());
        assert_eq!(shared_free(&pool), 1);
        assert_eq!(pool.available(), 4);
    }

    #[test]
    fn a_magazine_goes_back_to_its_pool_when_the_thread_exits() {
        let pool = PacketPool::lazy(4, 64);
        std::thread::scope(|s| {
            s.spawn(|| {
                let (a, b) = (pool.alloc(0).unwrap(), pool.alloc(0).unwrap());
                drop((a, b));
                assert_eq!(shared_free(&pool), 0, "both in this thread's magazine");
            })
            .join()
            .unwrap()
        });
        assert_eq!(shared_free(&pool), 2, "returned, not freed");
        assert_eq!(pool.shared.created.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn a_thread_keeps_magazines_for_a_few_pools_and_gives_the_oldest_back() {
        std::thread::scope(|s| {
            s.spawn(|| {
                let pools: Vec<PacketPool> = (0..=MAGAZINES_PER_THREAD)
                    .map(|_| PacketPool::lazy(2, 64))
                    .collect();
                for p in &pools {
                    drop(p.alloc(0).unwrap());
                }
                assert_eq!(
                    shared_free(&pools[0]),
                    1,
                    "the oldest magazine was given back"
                );
                assert!(pools[1..].iter().all(|p| shared_free(p) == 0));
            })
            .join()
            .unwrap()
        });
    }

    #[test]
    fn a_dropped_pools_buffers_are_freed_not_kept_in_a_magazine() {
        let pool = PacketPool::lazy(4, 64);
        let b = pool.alloc(0).unwrap();
        let weak = Arc::downgrade(&pool.shared);
        drop(pool);
        drop(b);
        let kept = MAGAZINES.with(|m| {
            m.borrow()
                .iter()
                .filter(|m| Weak::ptr_eq(&m.pool, &weak))
                .map(|m| m.bufs.len())
                .sum::<usize>()
        });
        assert_eq!(kept, 0);
    }

    #[test]
    fn a_full_magazine_sends_the_rest_to_the_shared_list() {
        let pool = PacketPool::lazy(MAGAZINE_MAX + 2, 64);
        let bufs: Vec<PacketBuf> = (0..MAGAZINE_MAX + 2)
            .map(|_| pool.alloc(0).unwrap())
            .collect();
        drop(bufs);
        assert_eq!(shared_free(&pool), 2);
        assert_eq!(pool.available(), MAGAZINE_MAX + 2);
    }

    #[test]
    fn lazy_pool_makes_buffers_on_demand_and_recycles_them() {
        let pool = PacketPool::lazy(2, 512);
        assert_eq!(pool.available(), 2);
        let a = pool.alloc(16).unwrap();
        let b = pool.alloc(16).unwrap();
        assert_eq!(pool.available(), 0);
        assert!(pool.alloc(16).is_none(), "no more than count buffers");
        assert_eq!(a.tailroom(), 512 - 16);
        drop(a);
        drop(b);
        assert_eq!(pool.available(), 2);
        let c = pool.alloc(0).unwrap();
        assert_eq!(c.tailroom(), 512);
        assert_eq!(pool.available(), 1);
    }

    /// The table of a buffer with more than one fragment.
    fn table_of(b: &PacketBuf) -> Option<&FragTable> {
        match &b.b.frags {
            FragSlots::Table(t, _) => Some(t),
            FragSlots::Inline(_) => None,
        }
    }

    #[test]
    fn fragment_tables_come_back_empty_and_are_reused() {
        let pool = PacketPool::new(8, 64);
        let mut head = pool.alloc(0).unwrap();
        head.put_slice(b"H").unwrap();
        for part in [&b"ab"[..], b"cd", b"ef"] {
            head.append_frags(PacketBuf::from_slice(0, part)).unwrap();
        }
        let table: *const FragTable = table_of(&head).unwrap();
        let tap = head.clone();
        // Trimmed and pulled down to the head, then dropped: the table must come back with
        // every slot empty, or its next user would see (and release) stale fragments.
        head.trim(4).unwrap();
        head.may_pull(3).unwrap();
        assert_eq!((head.data(), head.nr_frags()), (&b"Hab"[..], 1));
        drop(head);
        let mut next = pool.alloc(0).unwrap();
        next.append_frags(PacketBuf::from_slice(0, b"xy")).unwrap();
        next.append_frags(PacketBuf::from_slice(0, b"z!")).unwrap();
        let reused: *const FragTable = table_of(&next).unwrap();
        assert_eq!(
            reused, table,
            "the dropped buffer's table is the next one handed out"
        );
        assert_eq!(next.frags().collect::<Vec<_>>(), vec![&b"xy"[..], b"z!"]);
        assert!(table_of(&next).unwrap()[2..].iter().all(Option::is_none));
        let mut out = [0u8; 7];
        assert_eq!(tap.copy_to(&mut out), Ok(7));
        assert_eq!(&out, b"Habcdef", "the clone has a table of its own");
    }

    #[test]
    fn one_fragment_is_kept_inline_and_a_second_moves_it_to_a_table() {
        let pool = PacketPool::new(4, 64);
        let mut seg = pool.alloc(0).unwrap();
        seg.put_slice(b"HDR").unwrap();
        seg.append_frags(PacketBuf::from_slice(0, b"one")).unwrap();
        assert!(table_of(&seg).is_none(), "one fragment needs no table");
        assert_eq!(
            seg.truesize(),
            size_of::<PacketBuf>() + size_of::<PacketBody>() - INLINE_HEAD + 64 + 3 + FRAG_TRUESIZE
        );
        let tap = seg.clone();
        seg.append_frags(PacketBuf::from_slice(0, b"two")).unwrap();
        assert!(table_of(&seg).is_some());
        assert_eq!(seg.frags().collect::<Vec<_>>(), vec![&b"one"[..], b"two"]);
        assert_eq!(
            seg.truesize(),
            size_of::<PacketBuf>() + size_of::<PacketBody>() - INLINE_HEAD
                + size_of::<FragTable>()
                + 64
                + 6
                + 2 * FRAG_TRUESIZE
        );
        let mut out = [0u8; 9];
        assert_eq!(seg.copy_to(&mut out), Ok(9));
        assert_eq!(&out, b"HDRonetwo");
        let mut out = [0u8; 6];
        assert_eq!(
            tap.copy_to(&mut out),
            Ok(6),
            "the clone kept its one fragment"
        );
        assert_eq!(&out, b"HDRone");
        drop((seg, tap));
        assert_eq!(pool.available(), 4);
    }

    #[test]
    fn packet_buffers_stay_small_to_move() {
        // Every queue on the data path moves buffers by value (see `PacketBuf`): a move is one
        // pointer. Apart from its inline head, the body stays as small as it was when it was
        // moved itself (one fragment slot inline); with the inline head it is four cache
        // lines, about what a GSO segment's body and header buffer took before.
        assert_eq!(core::mem::size_of::<PacketBuf>(), 8);
        assert!(core::mem::size_of::<PacketBody>() - INLINE_HEAD <= 128);
        assert!(core::mem::size_of::<PacketBody>() <= 256);
    }

    #[test]
    fn an_inline_head_works_as_a_head_in_a_storage_does() {
        let mut b = PacketBuf::with_inline_head(32);
        assert_eq!(
            (b.headroom(), b.tailroom(), b.len()),
            (32, INLINE_HEAD - 32, 0)
        );
        b.put_slice(b"tcp-header").unwrap();
        b.push(4).unwrap().copy_from_slice(b"ip--");
        assert_eq!(
            b.pull(4).unwrap(),
            b"ip--",
            "pull returns the bytes it steps over"
        );
        b.push(4).unwrap();
        b.set_network_header();
        let payload = PacketBuf::from_slice(0, b"payload");
        b.append_shared(&payload, 0, 7).unwrap();
        assert_eq!((b.len(), b.head_len(), b.nr_frags()), (21, 14, 1));
        assert_eq!(b.network_header(), Some(&b"ip--tcp-header"[..]));
        // A clone has its own copy of the inline bytes: writing one leaves the other.
        let tap = b.clone();
        assert!(!b.is_shared());
        b.data_mut().unwrap()[0] = b'I';
        assert_eq!(&tap.data()[..4], b"ip--");
        assert_eq!(&b.data()[..4], b"Ip--");
        // Read over the head and the fragment, copied or in place.
        let mut all = [0u8; 21];
        assert_eq!(b.copy_range_to(0, &mut all), 21);
        assert_eq!(&all, b"Ip--tcp-headerpayload");
        let pieces: Vec<&[u8]> = b.slices_from(2).collect();
        assert_eq!(pieces, [&b"--tcp-header"[..], b"payload"]);
        // Sharing a range that starts in the inline head copies those bytes.
        let shared = b.share(8, 10).unwrap();
        let mut part = [0u8; 10];
        assert_eq!(shared.copy_range_to(0, &mut part), 10);
        assert_eq!(&part, b"headerpayl");
        assert!(!shared.pins_fixed_pool(0, 10));
        // The inline area counts as the head's bytes.
        assert_eq!(
            tap.truesize(),
            size_of::<PacketBuf>() + size_of::<PacketBody>() + 7 + FRAG_TRUESIZE
        );
        // Chained as a fragment (GRO), the head's bytes go along.
        let mut held = PacketBuf::from_slice(0, b"X");
        held.append_frags(b).unwrap();
        let mut all = [0u8; 22];
        assert_eq!(held.copy_range_to(0, &mut all), 22);
        assert_eq!(&all, b"XIp--tcp-headerpayload");
    }

    #[test]
    fn a_cursor_walks_a_buffer_in_pieces_across_fragments() {
        let mut src = PacketBuf::from_slice(0, b"HHab");
        for f in [&b"cde"[..], b"fg", b"h"] {
            src.append_frags(PacketBuf::from_slice(0, f)).unwrap();
        }
        let mut cur = src.cursor_at(2).unwrap();
        let take = |len: usize, cur: &mut Cursor| {
            let mut seg = PacketBuf::with_inline_head(0);
            let mut pieces = Vec::new();
            let r = seg.append_shared_next(&src, cur, len, |p| pieces.push(p.to_vec()));
            let mut bytes = vec![0; seg.len()];
            seg.copy_range_to(0, &mut bytes);
            r.map(|()| (bytes, pieces))
        };
        // From the rest of the head into the first fragment: two pieces, one segment.
        let (bytes, pieces) = take(4, &mut cur).unwrap();
        assert_eq!(bytes, b"abcd");
        assert_eq!(pieces, [b"ab".to_vec(), b"cd".to_vec()]);
        let (bytes, pieces) = take(3, &mut cur).unwrap();
        assert_eq!(bytes, b"efg");
        assert_eq!(pieces.len(), 2);
        assert_eq!(take(1, &mut cur).unwrap().0, b"h");
        assert!(take(1, &mut cur).is_err(), "nothing is left");
        assert_eq!(src.cursor_at(9), Some(Cursor { part: 3, at: 0 }));
        assert_eq!(
            src.cursor_at(10),
            Some(Cursor { part: 4, at: 0 }),
            "the end"
        );
        assert_eq!(src.cursor_at(11), None);
    }

    #[test]
    fn absorbing_a_continuation_is_pulling_and_appending_it() {
        // Two send chunks; segments are 4 bytes of headers inline and a share of a chunk.
        let chunks = [
            PacketBuf::from_slice(0, b"abcdefghijklmnop"),
            PacketBuf::from_slice(0, b"qrstuvwxyz"),
        ];
        let seg = |chunk: usize, off: usize, len: usize, hdr: &[u8]| {
            let mut s = PacketBuf::with_inline_head(8);
            s.push(hdr.len()).unwrap().copy_from_slice(hdr);
            s.append_shared(&chunks[chunk], off, len).unwrap();
            s
        };
        let bytes_of = |p: &PacketBuf| {
            let mut b = vec![0; p.len()];
            p.copy_range_to(0, &mut b);
            b
        };
        let state = |p: &PacketBuf| (bytes_of(p), p.nr_frags(), p.head_len());
        // Each case: the held packet's last segment, then the one offered.
        let cases = [
            // The next bytes of the same chunk: absorbed.
            ((0, 0, 4), (0, 4, 5, &b"HDR1"[..]), true),
            // A gap, another chunk, headers longer than said: left to the general path.
            ((0, 0, 4), (0, 5, 3, b"HDR1"), false),
            ((0, 12, 4), (1, 0, 4, b"HDR1"), false),
            ((0, 0, 4), (0, 4, 3, b"HDR12"), false),
        ];
        for ((hc, ho, hl), (c, o, l, hdr), absorbed) in cases {
            let make_held = || {
                let mut held = PacketBuf::from_slice(8, b"HEAD");
                held.append_frags(seg(hc, ho, hl, b"")).unwrap();
                held
            };
            let mut general = make_held();
            let mut s = seg(c, o, l, hdr);
            s.pull(4).unwrap();
            general.append_frags(s).unwrap();
            let mut fast = make_held();
            match fast.absorb_continuation(seg(c, o, l, hdr), 4) {
                Ok(()) => {
                    assert!(absorbed, "absorbed {:?}", (c, o, l));
                    assert_eq!(state(&fast), state(&general));
                    assert_eq!(fast.nr_frags(), 1);
                }
                Err(back) => {
                    assert!(!absorbed, "not absorbed {:?}", (c, o, l));
                    assert_eq!(state(&back), state(&seg(c, o, l, hdr)));
                    assert_eq!(state(&fast), state(&make_held()));
                }
            }
        }
        // The segment's reference to the chunk is let go; the held packet's stays.
        let storage = Arc::clone(chunks[0].b.head.as_ref().unwrap());
        let before = Arc::strong_count(&storage);
        let mut held = PacketBuf::from_slice(8, b"HEAD");
        held.append_frags(seg(0, 0, 4, b"")).unwrap();
        held.absorb_continuation(seg(0, 4, 4, b"HDR1"), 4)
            .ok()
            .unwrap();
        assert_eq!(Arc::strong_count(&storage), before + 1);
        drop(held);
        assert_eq!(Arc::strong_count(&storage), before);
    }

    #[test]
    fn one_piece_is_shared_without_a_walk_only_when_it_lies_in_one_fragment() {
        let mut src = PacketBuf::from_slice(0, b"HH");
        for f in [&b"abcd"[..], b"ef"] {
            src.append_frags(PacketBuf::from_slice(0, f)).unwrap();
        }
        let bytes_of = |seg: &PacketBuf| {
            let mut b = vec![0; seg.len()];
            seg.copy_range_to(0, &mut b);
            b
        };
        // In the head: left to the walk.
        let mut cur = src.cursor_at(0).unwrap();
        let mut seg = PacketBuf::with_inline_head(0);
        assert!(seg.share_one_piece(&src, &mut cur, 2).is_none());
        assert_eq!(cur, Cursor { part: 0, at: 0 });
        // Inside the first fragment: shared as the segment's one fragment, the cursor past it.
        let mut cur = src.cursor_at(2).unwrap();
        assert_eq!(seg.share_one_piece(&src, &mut cur, 3), Some(&b"abc"[..]));
        assert_eq!((bytes_of(&seg), seg.nr_frags()), (b"abc".to_vec(), 1));
        assert_eq!(cur, Cursor { part: 1, at: 3 });
        // Across the fragment's end: not taken, nothing changed.
        let mut seg = PacketBuf::with_inline_head(0);
        assert!(seg.share_one_piece(&src, &mut cur, 2).is_none());
        assert_eq!((seg.len(), cur), (0, Cursor { part: 1, at: 3 }));
        // The rest of the fragment; then, from its end, the next one.
        assert_eq!(seg.share_one_piece(&src, &mut cur, 1), Some(&b"d"[..]));
        let mut seg = PacketBuf::with_inline_head(0);
        assert_eq!(seg.share_one_piece(&src, &mut cur, 2), Some(&b"ef"[..]));
        assert_eq!(
            (bytes_of(&seg), cur),
            (b"ef".to_vec(), Cursor { part: 2, at: 2 })
        );
        // A buffer that has a fragment already, and a cursor at the end: not taken.
        assert!(seg
            .share_one_piece(&src, &mut src.cursor_at(2).unwrap(), 1)
            .is_none());
        let mut seg = PacketBuf::with_inline_head(0);
        assert!(seg.share_one_piece(&src, &mut cur, 1).is_none());
        assert_eq!((seg.len(), cur), (0, Cursor { part: 2, at: 2 }));
    }

    #[test]
    fn an_emptied_buffer_serves_the_next_one() {
        // GRO empties a segment into a super-packet and drops it; the segment's box comes
        // back for the next buffer this thread makes, which starts out as new.
        let pool = PacketPool::new(8, 256);
        let mut held = PacketBuf::from_slice(0, b"head");
        let mut seg = pool.alloc(16).unwrap();
        seg.put_slice(b"payload").unwrap();
        seg.meta.gso_size = 1448;
        let seg_body: *const PacketBody = &*seg.b;
        held.append_frags(seg).unwrap();
        let next = pool.alloc(32).unwrap();
        assert_eq!(&*next.b as *const PacketBody, seg_body);
        assert_eq!((next.len(), next.nr_frags(), next.headroom()), (0, 0, 32));
        assert_eq!(next.meta, PacketMeta::default());
        assert_eq!(held.len(), 4 + 7);
    }

    #[test]
    fn a_freed_pool_buffer_is_made_again() {
        let pool = PacketPool::new(2, 64);
        let mut a = pool.alloc(0).unwrap();
        let b = pool.alloc(0).unwrap();
        assert!(pool.alloc(0).is_none());
        // What two threads dropping the last two clones at once can do: the storage is freed
        // without going back to the free list.
        drop(a.b.head.take());
        drop(a);
        assert_eq!(pool.available(), 1, "the freed buffer's place is back");
        let mut c = pool.alloc(8).unwrap();
        c.put_slice(b"again").unwrap();
        assert_eq!((c.data(), c.tailroom()), (&b"again"[..], 64 - 8 - 5));
        assert!(pool.alloc(0).is_none(), "still no more than count buffers");
        drop((b, c));
        assert_eq!(pool.available(), 2);
    }

    #[test]
    fn shared_storage_returns_to_the_pool_with_its_last_user() {
        let pool = PacketPool::new(3, 64);
        let mut src = pool.alloc(0).unwrap();
        src.put_slice(b"0123456789").unwrap();
        let segs: Vec<PacketBuf> = (0..5)
            .map(|i| {
                let mut s = PacketBuf::new(16, 4);
                s.append_shared(&src, 2 * i, 2).unwrap();
                s
            })
            .collect();
        drop(src);
        assert_eq!(pool.available(), 2, "the segments keep the storage");
        for (i, s) in segs.into_iter().enumerate() {
            let mut out = [0u8; 2];
            s.copy_to(&mut out).unwrap();
            assert_eq!(out, [b'0' + 2 * i as u8, b'1' + 2 * i as u8]);
        }
        assert_eq!(pool.available(), 3, "back once the last segment dropped");
    }

    /// A buffer of `pool`'s holding "0123456789" in its head and "abcdef" in one fragment.
    fn ten_then_six(pool: &PacketPool) -> PacketBuf {
        let mut src = pool.alloc(0).unwrap();
        src.put_slice(b"0123456789").unwrap();
        let mut tail = pool.alloc(0).unwrap();
        tail.put_slice(b"abcdef").unwrap();
        src.append_frags(tail).unwrap();
        src
    }

    #[test]
    fn append_shared_references_a_range_without_copying() {
        let pool = PacketPool::new(4, 64);
        let src = ten_then_six(&pool);
        let mut seg = pool.alloc(8).unwrap();
        seg.put_slice(b"H").unwrap();
        // Spans the head's end and the first fragment.
        seg.append_shared(&src, 7, 6).unwrap();
        assert_eq!(seg.len(), 7);
        assert_eq!(seg.nr_frags(), 2);
        let mut out = [0u8; 7];
        seg.copy_to(&mut out).unwrap();
        assert_eq!(&out, b"H789abc");
        assert_eq!(pool.available(), 1, "storage shared, not copied");
        assert_eq!(
            seg.append_shared(&src, 10, 7),
            Err(PktBufError::TooShort {
                needed: 17,
                have: 16
            })
        );
        assert_eq!(seg.len(), 7, "unchanged on error");
        drop(src);
        seg.copy_to(&mut out).unwrap();
        assert_eq!(&out, b"H789abc", "the segment keeps the bytes alive");
        drop(seg);
        assert_eq!(pool.available(), 4, "all storage back in the pool");
    }

    /// A buffer of [`MAX_FRAGS`]` - 1` fragments, each byte 0 of `src` (never contiguous with
    /// the one before, so none coalesce): one slot left.
    fn first_byte_again_and_again(src: &PacketBuf) -> PacketBuf {
        let mut pkt = PacketBuf::new(16, 0);
        for _ in 0..MAX_FRAGS - 1 {
            pkt.append_shared(src, 0, 1).unwrap();
        }
        pkt
    }

    #[test]
    fn append_shared_out_of_slots_changes_nothing() {
        let pool = PacketPool::new(4, 64);
        let src = ten_then_six(&pool);
        let mut seg = first_byte_again_and_again(&src);
        // Bytes 8..12 lie in two parts (the head's end, the fragment's start); one slot is
        // left, so the first part is added and then taken back.
        assert_eq!(
            seg.append_shared(&src, 8, 4),
            Err(PktBufError::TooManyFrags)
        );
        assert_eq!((seg.nr_frags(), seg.len()), (MAX_FRAGS - 1, MAX_FRAGS - 1));
        seg.append_shared(&src, 10, 2).unwrap();
        let mut out = vec![0u8; seg.len()];
        seg.copy_to(&mut out).unwrap();
        assert_eq!(&out[MAX_FRAGS - 2..], b"0ab");
        drop(src);
        drop(seg);
        assert_eq!(
            pool.available(),
            4,
            "the references taken back were released"
        );
    }

    #[test]
    fn ranges_that_continue_the_last_fragment_extend_it() {
        let pool = PacketPool::new(6, 64);
        let src = ten_then_six(&pool);
        let mut pkt = PacketBuf::new(8, 0);
        pkt.append_shared(&src, 2, 3).unwrap();
        pkt.append_shared(&src, 5, 2).unwrap();
        assert_eq!(
            pkt.nr_frags(),
            1,
            "2..5 and 5..7 of one storage are one fragment"
        );
        // Two segments of that storage, as GSO cuts them: GRO's chaining coalesces too.
        let seg = |off, len| {
            let mut s = pool.alloc(0).unwrap();
            s.append_shared(&src, off, len).unwrap();
            s
        };
        pkt.append_frags(seg(7, 3)).unwrap();
        assert_eq!(pkt.nr_frags(), 1);
        // The head's end and the next storage are not contiguous: a new fragment.
        pkt.append_frags(seg(10, 2)).unwrap();
        // A gap in the same storage: a new fragment.
        pkt.append_frags(seg(13, 3)).unwrap();
        assert_eq!(pkt.nr_frags(), 3);
        let mut out = [0u8; 13];
        assert_eq!(pkt.copy_to(&mut out), Ok(13));
        assert_eq!(&out, b"23456789abdef");
        drop((src, pkt));
        assert_eq!(
            pool.available(),
            6,
            "every reference, merged or not, released"
        );
    }

    #[test]
    fn append_shared_out_of_slots_takes_back_what_it_coalesced() {
        let pool = PacketPool::new(4, 64);
        let src = ten_then_six(&pool);
        let mut pkt = first_byte_again_and_again(&src);
        pkt.append_shared(&src, 7, 1).unwrap();
        assert_eq!(pkt.nr_frags(), MAX_FRAGS);
        // 8..10 continue the last fragment (7..8); 10..12 need a slot there is not.
        assert_eq!(
            pkt.append_shared(&src, 8, 4),
            Err(PktBufError::TooManyFrags)
        );
        assert_eq!((pkt.nr_frags(), pkt.len()), (MAX_FRAGS, MAX_FRAGS));
        let mut out = vec![0u8; pkt.len()];
        assert_eq!(pkt.copy_to(&mut out), Ok(MAX_FRAGS));
        assert_eq!(
            &out[MAX_FRAGS - 2..],
            b"07",
            "the last fragment is one byte again"
        );
        drop((src, pkt));
        assert_eq!(pool.available(), 4);
    }

    #[test]
    fn share_keeps_a_range_without_the_head_and_knows_fixed_pools() {
        let ring = PacketPool::new(2, 256);
        let mut pkt = ring.alloc(16).unwrap();
        pkt.put_slice(b"HDR0123").unwrap();
        pkt.append_frags(PacketBuf::from_slice(0, b"456789"))
            .unwrap();
        // Bytes 3.. lie in the ring's buffer and a heap fragment; 7.. only in the heap one.
        assert!(pkt.pins_fixed_pool(3, 4));
        assert!(!pkt.pins_fixed_pool(7, 6));
        let tail = pkt.share(7, 6).unwrap();
        assert_eq!((tail.head_len(), tail.len(), tail.nr_frags()), (0, 6, 1));
        let whole = pkt.share(3, 10).unwrap();
        assert_eq!(whole.nr_frags(), 2);
        let mut out = [0u8; 10];
        assert_eq!(whole.copy_range_to(0, &mut out), 10);
        assert_eq!(&out, b"0123456789");
        assert_eq!(
            whole.copy_range_to(8, &mut out),
            2,
            "clamped to what is held"
        );
        assert_eq!(&out[..2], b"89");
        assert!(pkt.share(3, 11).is_err());
        // A shared range counts its bytes and bookkeeping, not the ring buffer it came from.
        assert!(tail.truesize() < pkt.truesize());
        drop(pkt);
        drop(whole);
        assert_eq!(
            ring.available(),
            2,
            "the tail alone does not keep the ring buffer"
        );
        let mut t = [0u8; 6];
        tail.copy_to(&mut t).unwrap();
        assert_eq!(&t, b"456789");
    }

    #[test]
    fn copy_on_write_makes_a_buffer_of_a_lazy_pool() {
        let pool = PacketPool::lazy(2, 64);
        let mut a = pool.alloc(8).unwrap();
        a.put_slice(b"abc").unwrap();
        let tap = a.clone();
        // The pool has made one buffer and has none free: the copy is its second.
        a.data_mut().unwrap()[0] = b'X';
        assert_eq!((a.data(), tap.data()), (&b"Xbc"[..], &b"abc"[..]));
        assert_eq!(pool.available(), 0);
        let mut b = a.clone();
        assert_eq!(b.push(1).err(), Some(PktBufError::PoolExhausted));
    }
}
