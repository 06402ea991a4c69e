//! # oxnic-runtime — threads, the wall clock and blocking sockets around the sans-IO stack
//!
//! [`oxnic_stack`] never reads a clock, sleeps or spawns a thread. This crate is the layer
//! that does, so applications get `std::net`-like sockets:
//!
//! - [`port`]: [`FramePort`], the device side of one interface (frames in, frames out, sleep
//!   until there is something to do, a [`Waker`] to cut the sleep short). The NIC driver
//!   implements it over its rings; [`mem_wire`] gives two connected in-memory ends for tests.
//! - [`tap`] (Linux): [`TapPort`], a TAP device as a port, so the stack talks to the kernel's
//!   own network stack.
//! - [`runtime`]: [`Runtime`], built with [`Runtime::builder`] from interfaces (name, MAC,
//!   capabilities, `a.b.c.d/len`, port) and routes. The TCP ISN/SYN-cookie key is seeded
//!   from the OS's randomness at start.
//! - [`tcp`]: [`TcpListener`] and [`TcpStream`] (`Read`/`Write`, shutdown, timeouts,
//!   non-blocking mode, `try_clone`); [`udp`]: [`UdpSocket`].
//! - [`poll`]: [`Poll`], level-triggered readiness over many sockets, for single-threaded
//!   servers on non-blocking sockets.
//! - [`error`]: the stack's errors mapped onto [`std::io::ErrorKind`] in one place.
//!
//! ## Threading model
//!
//! The [`oxnic_stack::Stack`] lives in one mutex shared by every thread, next to a condvar.
//!
//! - **One poller thread per port.** Each round it takes the frames waiting on its port
//!   (up to a batch), pushes them into its interface's RX queue, runs `Stack::poll(now)` with
//!   `now` read from the wall clock (nanoseconds since the runtime started), moves the
//!   interface's TX queue to the port, and notifies the condvar if anything moved or a timer
//!   was due. Then it sleeps in [`FramePort::wait`] until the stack's next timer
//!   (`Stack::poll_at`), capped by [`RuntimeBuilder::max_sleep`] (1 ms by default) — or until
//!   a frame arrives or its waker rings.
//! - **Sockets lock the stack briefly.** A socket call makes one non-blocking attempt under
//!   the lock. If that queued frames on a device (a `write` that produced segments, a `read`
//!   that opened the window), it rings that interface's poller's waker so the frames leave
//!   at once rather than at the poller's next timeout.
//! - **Waiters sleep on the condvar.** A call that would block (and has no timeout left,
//!   and is not in non-blocking mode) waits on the condvar and retries when a poller
//!   notifies it. Readiness is always checked under the stack lock, so a wake-up between the
//!   check and the wait cannot be lost.
//!
//! [`Runtime::shutdown`] (or dropping the runtime) stops and joins the pollers; sockets that
//! outlive the runtime fail their blocking calls instead of hanging.
//!
//! ```
//! use oxnic_runtime::{mem_wire, Runtime, TcpListener, TcpStream};
//! use oxnic_stack::wire::ethernet::EthernetAddress;
//! use oxnic_stack::DeviceCaps;
//! use std::io::{Read, Write};
//!
//! let (pa, pb) = mem_wire();
//! let mac = |n| EthernetAddress([2, 0, 0, 0, 0, n]);
//! let a = Runtime::builder()
//!     .interface("eth0", mac(1), DeviceCaps::default(), "10.0.0.1/24", pa)
//!     .start()?;
//! let b = Runtime::builder()
//!     .interface("eth0", mac(2), DeviceCaps::default(), "10.0.0.2/24", pb)
//!     .start()?;
//! let listener = TcpListener::bind(&b, "10.0.0.2:7")?;
//! let server = std::thread::spawn(move || -> std::io::Result<()> {
//!     let (mut s, _) = listener.accept()?;
//!     let mut buf = [0; 5];
//!     s.read_exact(&mut buf)?;
//!     s.write_all(&buf)
//! });
//! let mut c = TcpStream::connect(&a, "10.0.0.2:7")?;
//! c.write_all(b"hello")?;
//! let mut back = [0; 5];
//! c.read_exact(&mut back)?;
//! assert_eq!(&back, b"hello");
//! server.join().unwrap()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod error;
pub mod poll;
pub mod port;
pub mod runtime;
#[cfg(target_os = "linux")]
pub mod tap;
pub mod tcp;
pub mod udp;

pub use error::RuntimeError;
pub use oxnic_stack::tcp::KeepaliveParams;
pub use poll::{Event, Events, Interest, Poll, PollStats, Source, Token};
pub use port::{mem_wire, FramePort, MemPort, Waker};
pub use runtime::{Runtime, RuntimeBuilder};
#[cfg(target_os = "linux")]
pub use tap::{TapPort, TapPortStats, TapStats};
pub use tcp::{Incoming, TcpListener, TcpStream};
pub use udp::UdpSocket;
