//! [`TapPort`]: a Linux TAP device as a [`FramePort`], so the stack talks to the kernel's
//! own network stack (in a network namespace, through a bridge, or on the host).
//!
//! The device is opened with `IFF_TAP | IFF_NO_PI` and no `IFF_VNET_HDR`: every frame read
//! or written is a plain Ethernet frame, and the kernel never hands us (nor expects from us)
//! offload metadata. Give the interface [`DeviceCaps::default`](oxnic_stack::DeviceCaps)
//! (no offloads, MTU 1500) so the stack sends wire-ready frames; a frame that still asks for
//! segmentation or a partial checksum is finished here in software, as [`crate::MemPort`]
//! does, so any capabilities work, only slower.
//!
//! Reads are non-blocking; [`FramePort::wait`] sleeps in epoll (through `mio`) on the device
//! fd and an eventfd that the port's [`Waker`] writes.

use crate::port::{FramePort, Waker, RX_HEADROOM};
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use oxnic_stack::device::device_offloads;
use oxnic_stack::pktbuf::{PacketBuf, PacketPool};
use std::fmt;
use std::io;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tun_tap::{Iface, Mode};

/// Longest interface name Linux accepts (`IFNAMSIZ` less the terminating NUL).
pub const MAX_IFNAME_LEN: usize = 15;

/// Bytes read from the device at most per frame: any frame the kernel may hand a TAP
/// without offloads (MTU up to 64 KiB plus the Ethernet and VLAN headers).
const RX_BUF_LEN: usize = 65_536 + 64;

const TOKEN_DEVICE: Token = Token(0);
const TOKEN_WAKER: Token = Token(1);

/// Counters of one [`TapPort`], as read by [`TapStats::get`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TapPortStats {
    /// Frames written to the device (after software segmentation).
    pub tx_frames: u64,
    /// Bytes written to the device.
    pub tx_bytes: u64,
    /// Frames read from the device.
    pub rx_frames: u64,
    /// Bytes read from the device.
    pub rx_bytes: u64,
    /// Frames the device refused (the write failed: device down or gone).
    pub tx_errors: u64,
    /// Reads that failed other than "nothing waiting".
    pub rx_errors: u64,
    /// Frames dropped because their offload request could not be carried out.
    pub offload_errors: u64,
}

#[derive(Default)]
struct Counters {
    tx_frames: AtomicU64,
    tx_bytes: AtomicU64,
    rx_frames: AtomicU64,
    rx_bytes: AtomicU64,
    tx_errors: AtomicU64,
    rx_errors: AtomicU64,
    offload_errors: AtomicU64,
}

fn bump(c: &AtomicU64, by: u64) {
    c.fetch_add(by, Ordering::Relaxed);
}

/// A handle on a [`TapPort`]'s counters that stays readable after the port moved into a
/// [`crate::Runtime`]'s poller thread. Cheap to clone.
#[derive(Clone)]
pub struct TapStats(Arc<Counters>);

impl TapStats {
    /// The counters now.
    pub fn get(&self) -> TapPortStats {
        let c = &self.0;
        let r = |a: &AtomicU64| a.load(Ordering::Relaxed);
        TapPortStats {
            tx_frames: r(&c.tx_frames),
            tx_bytes: r(&c.tx_bytes),
            rx_frames: r(&c.rx_frames),
            rx_bytes: r(&c.rx_bytes),
            tx_errors: r(&c.tx_errors),
            rx_errors: r(&c.rx_errors),
            offload_errors: r(&c.offload_errors),
        }
    }
}

impl fmt::Debug for TapStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.get().fmt(f)
    }
}

/// A Linux TAP device (`IFF_TAP | IFF_NO_PI`) as the device side of one interface.
///
/// The device exists while the port does (it is not made persistent): dropping the port —
/// or the [`crate::Runtime`] that owns it — removes the interface from whichever network
/// namespace it was moved to. Needs `CAP_NET_ADMIN` and `/dev/net/tun`.
pub struct TapPort {
    iface: Iface,
    poll: Poll,
    events: Events,
    waker: Arc<mio::Waker>,
    pool: PacketPool,
    /// Segments of the super-packet being cut (reused).
    segs: Vec<PacketBuf>,
    rx_buf: Vec<u8>,
    tx_buf: Vec<u8>,
    counters: Arc<Counters>,
}

impl fmt::Debug for TapPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TapPort")
            .field("name", &self.iface.name())
            .field("stats", &self.stats().get())
            .finish_non_exhaustive()
    }
}

/// Wraps `e` with what was being done to which device, keeping its kind; adds the usual
/// cause for the two errors people meet first.
fn annotate(e: io::Error, name: &str, what: &str) -> io::Error {
    let hint = match e.kind() {
        io::ErrorKind::NotFound => " (is /dev/net/tun there? load the `tun` module)",
        io::ErrorKind::PermissionDenied => " (needs CAP_NET_ADMIN, e.g. root)",
        _ => "",
    };
    io::Error::new(e.kind(), format!("TAP device {name}: {what}: {e}{hint}"))
}

impl TapPort {
    /// Creates (or attaches to an existing persistent) TAP device called `name`, in the
    /// caller's network namespace, and opens it non-blocking. The interface is left down
    /// and unaddressed on the kernel side: configure it with `ip` (it may also be moved to
    /// another namespace; this port keeps working).
    ///
    /// Errors name the device: an empty or too long name (over [`MAX_IFNAME_LEN`] bytes) is
    /// `InvalidInput`; no `/dev/net/tun` is `NotFound`; missing privileges is
    /// `PermissionDenied`; a name taken by a non-TAP interface is the kernel's error.
    pub fn open(name: &str) -> io::Result<TapPort> {
        if name.is_empty() || name.len() > MAX_IFNAME_LEN || name.contains(['/', ' ', '\0']) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "TAP device {name:?}: a Linux interface name is 1 to {MAX_IFNAME_LEN} bytes without '/', ' ' or NUL"
                ),
            ));
        }
        let iface = Iface::without_packet_info(name, Mode::Tap)
            .map_err(|e| annotate(e, name, "opening /dev/net/tun and TUNSETIFF"))?;
        iface
            .set_non_blocking()
            .map_err(|e| annotate(e, name, "setting non-blocking mode"))?;
        let poll = Poll::new().map_err(|e| annotate(e, name, "creating the epoll instance"))?;
        let fd = iface.as_raw_fd();
        poll.registry()
            .register(&mut SourceFd(&fd), TOKEN_DEVICE, Interest::READABLE)
            .map_err(|e| annotate(e, name, "registering the device fd with epoll"))?;
        let waker = mio::Waker::new(poll.registry(), TOKEN_WAKER)
            .map_err(|e| annotate(e, name, "creating the waker eventfd"))?;
        Ok(TapPort {
            iface,
            poll,
            events: Events::with_capacity(4),
            waker: Arc::new(waker),
            pool: PacketPool::new(64, 2048),
            segs: Vec::new(),
            rx_buf: vec![0; RX_BUF_LEN],
            tx_buf: Vec::new(),
            counters: Arc::default(),
        })
    }

    /// The device's name as the kernel knows it.
    pub fn name(&self) -> &str {
        self.iface.name()
    }

    /// A handle on this port's counters, readable from any thread for as long as it is held.
    pub fn stats(&self) -> TapStats {
        TapStats(Arc::clone(&self.counters))
    }

    fn transmit(&mut self, frame: &PacketBuf) {
        self.tx_buf.clear();
        self.tx_buf.resize(frame.len(), 0);
        if frame.copy_to(&mut self.tx_buf).is_err() {
            bump(&self.counters.offload_errors, 1);
            return;
        }
        loop {
            match self.iface.send(&self.tx_buf) {
                Ok(n) => {
                    bump(&self.counters.tx_frames, 1);
                    bump(&self.counters.tx_bytes, n as u64);
                    return;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // A TAP write does not block; any error (device down, moved away and
                // deleted) loses this frame, as a full ring would on a card.
                Err(_) => {
                    bump(&self.counters.tx_errors, 1);
                    return;
                }
            }
        }
    }
}

impl FramePort for TapPort {
    fn recv(&mut self) -> Option<PacketBuf> {
        loop {
            match self.iface.recv(&mut self.rx_buf) {
                Ok(n) => {
                    bump(&self.counters.rx_frames, 1);
                    bump(&self.counters.rx_bytes, n as u64);
                    return Some(PacketBuf::from_slice(RX_HEADROOM, &self.rx_buf[..n]));
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return None,
                Err(_) => {
                    bump(&self.counters.rx_errors, 1);
                    return None;
                }
            }
        }
    }

    fn send(&mut self, frame: PacketBuf) {
        let mut segs = std::mem::take(&mut self.segs);
        let pool = self.pool.clone();
        if device_offloads(frame, &pool, &mut segs, |f| self.transmit(&f)).is_err() {
            bump(&self.counters.offload_errors, 1);
        }
        self.segs = segs;
    }

    fn wait(&mut self, timeout: Duration) {
        // epoll is edge-triggered here, which is enough: the poller reads the device until
        // it would block before it waits, and an edge (a frame, a waker write) that comes
        // while nobody waits stays on the ready list until the next wait. An error (EINTR)
        // is a spurious return, which the trait allows.
        let _ = self.poll.poll(&mut self.events, Some(timeout));
    }

    fn waker(&self) -> Waker {
        // Weak: sockets may outlive the runtime (whose shared state keeps this waker), and
        // they must not keep the port's eventfd open after the port is gone. Once the port
        // dropped nobody waits, so a wake-up then has nothing to do.
        let w = Arc::downgrade(&self.waker);
        Waker::new(move || {
            if let Some(w) = w.upgrade() {
                // Fails only if the eventfd counter is saturated, i.e. a wake-up is pending.
                let _ = w.wake();
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_names_are_refused_before_touching_the_kernel() {
        for name in ["", "a-name-far-too-long", "a/b", "a b"] {
            let e = TapPort::open(name).expect_err("bad name refused");
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{name:?}");
            assert!(e.to_string().contains("TAP device"), "{e}");
        }
    }

    #[test]
    fn errors_name_the_device_and_the_cause() {
        let e = annotate(
            io::Error::from(io::ErrorKind::PermissionDenied),
            "oxtap0",
            "opening /dev/net/tun and TUNSETIFF",
        );
        assert_eq!(e.kind(), io::ErrorKind::PermissionDenied);
        let msg = e.to_string();
        assert!(
            msg.contains("oxtap0") && msg.contains("CAP_NET_ADMIN"),
            "{msg}"
        );
    }
}
