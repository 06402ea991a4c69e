//! The device side of one interface: [`FramePort`], the door a poller thread moves Ethernet
//! frames through, and [`mem_wire`], an in-memory wire for tests.
//!
//! A port is owned by its poller thread; the only thing other threads hold is its [`Waker`],
//! which a socket call rings when it queued frames the poller must push out.

use oxnic_stack::device::device_offloads;
use oxnic_stack::pktbuf::{PacketBuf, PacketPool};
use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// Headroom given to frames received from a [`MemPort`] (room to push a VLAN tag or tunnel
/// header without a copy).
pub const RX_HEADROOM: usize = 64;

/// Frames one direction of a [`mem_wire`] holds before it drops (a switch port's buffer).
pub const MEM_WIRE_QUEUE: usize = 16_384;

/// Wakes a poller blocked in [`FramePort::wait`]. Cheap to clone; ringing it when nobody
/// waits is remembered until the next `wait`, so a wake-up is never lost.
#[derive(Clone)]
pub struct Waker(Arc<dyn Fn() + Send + Sync>);

impl Waker {
    /// A waker that runs `wake` when rung (e.g. write an eventfd, set a flag and notify a
    /// condvar). `wake` must not block for long: socket calls ring it.
    pub fn new(wake: impl Fn() + Send + Sync + 'static) -> Self {
        Waker(Arc::new(wake))
    }

    /// Rings the waker.
    pub fn wake(&self) {
        (self.0)();
    }
}

impl fmt::Debug for Waker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Waker")
    }
}

/// The device side of one interface, as its poller thread sees it: frames from the wire,
/// frames to the wire, and a way to sleep until there is something to do.
///
/// The NIC driver implements it over its RX/TX rings and interrupt; [`MemPort`] implements
/// it over an in-memory wire. All calls but [`FramePort::waker`]'s result happen on the
/// poller thread.
pub trait FramePort: Send {
    /// The next frame received from the wire, if one is waiting (never blocks). `data()`
    /// starts at the Ethernet header; `meta` carries what the device learnt (RSS hash,
    /// checksum status, stripped VLAN tag).
    fn recv(&mut self) -> Option<PacketBuf>;

    /// Puts `frame` on the wire. The frame may carry offload requests the interface's
    /// `DeviceCaps` allowed (`meta.csum == Partial`, `meta.gso_size != 0`): the device
    /// finishes them. Taking the buffer by value lets a driver keep it until its TX
    /// completion.
    fn send(&mut self, frame: PacketBuf);

    /// Blocks until a frame is waiting in [`Self::recv`], the [`Waker`] rang since the last
    /// `wait`, or `timeout` passed, whichever comes first. Spurious returns are allowed.
    fn wait(&mut self, timeout: Duration);

    /// A handle other threads use to end a [`Self::wait`] early.
    fn waker(&self) -> Waker;
}

/// Counters of one [`MemPort`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MemPortStats {
    /// Frames put on the wire (after segmentation).
    pub tx_frames: u64,
    /// Bytes put on the wire.
    pub tx_bytes: u64,
    /// Frames taken off the wire.
    pub rx_frames: u64,
    /// Frames dropped because the peer's queue was full ([`MEM_WIRE_QUEUE`]).
    pub tx_dropped: u64,
    /// Frames dropped because their offload request could not be carried out.
    pub offload_errors: u64,
}

#[derive(Default)]
struct MailboxState {
    frames: VecDeque<Vec<u8>>,
    kicked: bool,
}

/// One direction of the wire: the receiving end's queue, plus its doorbell.
#[derive(Default)]
struct Mailbox {
    state: Mutex<MailboxState>,
    cond: Condvar,
    dropped: AtomicU64,
}

impl Mailbox {
    fn lock(&self) -> MutexGuard<'_, MailboxState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn kick(&self) {
        self.lock().kicked = true;
        self.cond.notify_all();
    }
}

/// One end of an in-memory Ethernet wire made by [`mem_wire`].
///
/// It plays the card's part of the offload contract in software, the way the stack's
/// `netsim` links do: TSO/USO super-packets are cut with [`oxnic_stack::gso::segment`] and partial
/// checksums finished with [`complete_tx_checksum`], so the interface may advertise any
/// `DeviceCaps`. Received frames carry no metadata (the stack verifies checksums itself).
pub struct MemPort {
    inbox: Arc<Mailbox>,
    outbox: Arc<Mailbox>,
    pool: PacketPool,
    /// Segments of the super-packet being cut (reused).
    segs: Vec<PacketBuf>,
    scratch: Vec<u8>,
    stats: MemPortStats,
}

impl fmt::Debug for MemPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemPort")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

/// Two ends of an in-memory Ethernet wire: what one end sends, the other receives, in order
/// and without loss unless the receiving queue holds [`MEM_WIRE_QUEUE`] frames already.
pub fn mem_wire() -> (MemPort, MemPort) {
    let ab = Arc::new(Mailbox::default());
    let ba = Arc::new(Mailbox::default());
    let end = |inbox: &Arc<Mailbox>, outbox: &Arc<Mailbox>| MemPort {
        inbox: Arc::clone(inbox),
        outbox: Arc::clone(outbox),
        pool: PacketPool::new(64, 2048),
        segs: Vec::new(),
        scratch: Vec::new(),
        stats: MemPortStats::default(),
    };
    (end(&ba, &ab), end(&ab, &ba))
}

impl MemPort {
    /// Counters so far.
    pub fn stats(&self) -> MemPortStats {
        MemPortStats {
            tx_dropped: self.outbox.dropped.load(Ordering::Relaxed),
            ..self.stats
        }
    }

    fn transmit(&mut self, frame: &PacketBuf) {
        self.scratch.clear();
        self.scratch.resize(frame.len(), 0);
        if frame.copy_to(&mut self.scratch).is_err() {
            self.stats.offload_errors += 1;
            return;
        }
        let bytes = self.scratch.clone();
        let len = bytes.len() as u64;
        {
            let mut st = self.outbox.lock();
            if st.frames.len() >= MEM_WIRE_QUEUE {
                self.outbox.dropped.fetch_add(1, Ordering::Relaxed);
                return;
            }
            st.frames.push_back(bytes);
        }
        self.outbox.cond.notify_all();
        self.stats.tx_frames += 1;
        self.stats.tx_bytes += len;
    }
}

impl FramePort for MemPort {
    fn recv(&mut self) -> Option<PacketBuf> {
        let bytes = self.inbox.lock().frames.pop_front()?;
        self.stats.rx_frames += 1;
        Some(PacketBuf::from_slice(RX_HEADROOM, &bytes))
    }

    fn send(&mut self, frame: PacketBuf) {
        let mut segs = std::mem::take(&mut self.segs);
        let pool = self.pool.clone();
        if device_offloads(frame, &pool, &mut segs, |f| self.transmit(&f)).is_err() {
            self.stats.offload_errors += 1;
        }
        self.segs = segs;
    }

    fn wait(&mut self, timeout: Duration) {
        let deadline = Instant::now().checked_add(timeout);
        let mut st = self.inbox.lock();
        loop {
            if !st.frames.is_empty() || st.kicked {
                break;
            }
            let left = match deadline {
                Some(d) => d.saturating_duration_since(Instant::now()),
                None => Duration::from_secs(3600),
            };
            if left.is_zero() {
                break;
            }
            st = self
                .inbox
                .cond
                .wait_timeout(st, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        st.kicked = false;
    }

    fn waker(&self) -> Waker {
        let inbox = Arc::clone(&self.inbox);
        Waker::new(move || inbox.kick())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mem_wire_carries_frames_both_ways_in_order() {
        let (mut a, mut b) = mem_wire();
        a.send(PacketBuf::from_slice(0, &[1; 60]));
        a.send(PacketBuf::from_slice(0, &[2; 60]));
        b.send(PacketBuf::from_slice(0, &[3; 60]));
        assert_eq!(b.recv().map(|f| f.data()[0]), Some(1));
        assert_eq!(b.recv().map(|f| f.data()[0]), Some(2));
        assert!(b.recv().is_none());
        assert_eq!(a.recv().map(|f| f.data().to_vec()), Some(vec![3; 60]));
        assert_eq!(a.stats().tx_frames, 2);
        assert_eq!(b.stats().rx_frames, 2);
    }

    #[test]
    fn wait_returns_on_kick_and_on_frame() {
        let (mut a, mut b) = mem_wire();
        let w = a.waker();
        w.wake();
        let t = Instant::now();
        a.wait(Duration::from_secs(30));
        assert!(t.elapsed() < Duration::from_secs(20));
        // The kick was consumed: the next wait times out.
        let t = Instant::now();
        a.wait(Duration::from_millis(20));
        assert!(t.elapsed() >= Duration::from_millis(20));
        let h = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(10));
            b.send(PacketBuf::from_slice(0, &[9; 60]));
        });
        a.wait(Duration::from_secs(30));
        assert_eq!(a.recv().map(|f| f.data()[0]), Some(9));
        h.join().expect("sender thread");
    }
}
