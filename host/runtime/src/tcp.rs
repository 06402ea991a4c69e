//! Blocking TCP sockets mirroring `std::net::{TcpListener, TcpStream}` on top of the stack's
//! non-blocking API.
//!
//! Each call locks the stack for one non-blocking attempt; when that would block it sleeps on
//! the runtime's condvar until a poller reports progress, then tries again.

use crate::error::{tcp_error, ttl_arg};
use crate::poll::{SocketId, SocketKind, Source};
use crate::runtime::{Runtime, Shared};
use oxnic_stack::tcp::conn::TcpInfo;
use oxnic_stack::tcp::{KeepaliveParams, Shutdown as TcpShutdown, TcpError, TcpHandle, TcpState};
use oxnic_stack::Stack;
use std::fmt;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, SocketAddrV4, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// Backlog of [`TcpListener::bind`] (Linux's `SOMAXCONN` default).
pub const DEFAULT_BACKLOG: usize = 128;

/// The IPv4 socket addresses `addr` resolves to; IPv6 ones are skipped (the stack is
/// IPv4-only).
pub(crate) fn v4_addrs(addr: impl ToSocketAddrs) -> io::Result<Vec<SocketAddrV4>> {
    let mut v4 = Vec::new();
    let mut saw_v6 = false;
    for a in addr.to_socket_addrs()? {
        match a {
            SocketAddr::V4(a) => v4.push(a),
            SocketAddr::V6(_) => saw_v6 = true,
        }
    }
    if v4.is_empty() {
        let msg = if saw_v6 {
            "oxnic is IPv4-only"
        } else {
            "no addresses to use"
        };
        return Err(io::Error::new(io::ErrorKind::InvalidInput, msg));
    }
    Ok(v4)
}

/// Per-socket options shared by every clone of a socket (as options on one fd are).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Opts {
    pub(crate) read_timeout: Option<Duration>,
    pub(crate) write_timeout: Option<Duration>,
    pub(crate) nonblocking: bool,
    /// `TCP_NODELAY` as last set; `None` = the stack's default for new sockets.
    pub(crate) nodelay: Option<bool>,
}

pub(crate) fn check_timeout(d: Option<Duration>) -> io::Result<()> {
    if d == Some(Duration::ZERO) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "cannot set a 0 duration timeout",
        ));
    }
    Ok(())
}

pub(crate) fn deadline(d: Option<Duration>) -> Option<std::time::Instant> {
    d.and_then(|d| std::time::Instant::now().checked_add(d))
}

/// A TCP socket listening for connections, like `std::net::TcpListener`. Dropping it closes
/// it (pending connections are reset); clones from [`Self::try_clone`] share it, and it
/// closes when the last one drops.
pub struct TcpListener {
    inner: Arc<ListenerInner>,
}

struct ListenerInner {
    rt: Arc<Shared>,
    h: TcpHandle,
    /// This socket's number for [`crate::Poll`] (see `Shared::new_socket`).
    serial: u64,
    /// Shared by clones, as `O_NONBLOCK` is by descriptors `dup`ed from one another.
    nonblocking: AtomicBool,
}

impl fmt::Debug for TcpListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("TcpListener");
        if let Ok(a) = self.local_addr() {
            d.field("addr", &a);
        }
        d.finish_non_exhaustive()
    }
}

impl TcpListener {
    /// Listens on `addr` (an address of this runtime or `0.0.0.0`; port 0 picks a free
    /// port) with a backlog of [`DEFAULT_BACKLOG`].
    pub fn bind(rt: &Runtime, addr: impl ToSocketAddrs) -> io::Result<TcpListener> {
        Self::bind_with_backlog(rt, addr, DEFAULT_BACKLOG)
    }

    /// [`Self::bind`] with room for `backlog` connections waiting for `accept`.
    pub fn bind_with_backlog(
        rt: &Runtime,
        addr: impl ToSocketAddrs,
        backlog: usize,
    ) -> io::Result<TcpListener> {
        let shared = Arc::clone(rt.shared());
        let mut last = None;
        for a in v4_addrs(addr)? {
            match shared.with(|st, _| listen(st, a, backlog)) {
                Ok(h) => {
                    return Ok(TcpListener {
                        inner: Arc::new(ListenerInner {
                            serial: shared.new_socket(),
                            rt: shared,
                            h,
                            nonblocking: AtomicBool::new(false),
                        }),
                    })
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| io::ErrorKind::InvalidInput.into()))
    }

    /// Waits for a connection and returns it with the peer's address. In non-blocking mode,
    /// `WouldBlock` when none is waiting.
    pub fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let l = &*self.inner;
        let nb = l.nonblocking.load(Ordering::Relaxed);
        let (h, peer) = l.rt.block_on(nb, None, |st, _| match st.tcp_accept(l.h) {
            Ok(v) => Ok(Some(v)),
            Err(TcpError::WouldBlock) => Ok(None),
            Err(e) => Err(tcp_error(e)),
        })?;
        Ok((
            TcpStream::from_handle(Arc::clone(&l.rt), h),
            SocketAddr::V4(peer),
        ))
    }

    /// An endless iterator over accepted connections (`accept` in a loop).
    pub fn incoming(&self) -> Incoming<'_> {
        Incoming { listener: self }
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner
            .rt
            .with(|st, _| st.tcp_local_addr(self.inner.h))
            .map(SocketAddr::V4)
            .map_err(tcp_error)
    }

    /// Sets the TTL of the listener's SYN-ACKs (`IP_TTL`), which the connections it accepts
    /// inherit: 1 to 255, or `u32::MAX` for the default; anything else is `InvalidInput`.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        let ttl = ttl_arg(ttl)?;
        self.inner
            .rt
            .with(|st, _| st.tcp_set_ttl(self.inner.h, ttl))
            .map_err(tcp_error)
    }

    /// The listener's TTL: the one set, else the stack's default.
    pub fn ttl(&self) -> io::Result<u32> {
        self.inner
            .rt
            .with(|st, _| st.tcp_ttl(self.inner.h))
            .map(u32::from)
            .map_err(tcp_error)
    }

    /// Sets the user timeout (`TCP_USER_TIMEOUT`, socket2's `set_tcp_user_timeout`) that the
    /// connections the listener accepts inherit; `None` or zero for the default. See
    /// [`TcpStream::set_tcp_user_timeout`].
    pub fn set_tcp_user_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.inner
            .rt
            .with(|st, _| st.tcp_set_user_timeout(self.inner.h, timeout))
            .map_err(tcp_error)
    }

    /// The listener's user timeout, `None` for the default.
    pub fn tcp_user_timeout(&self) -> io::Result<Option<Duration>> {
        self.inner
            .rt
            .with(|st, _| st.tcp_user_timeout(self.inner.h))
            .map_err(tcp_error)
    }

    /// Turns keepalive on or off (`SO_KEEPALIVE`, socket2's `set_keepalive`) for the
    /// connections the listener accepts.
    pub fn set_keepalive(&self, on: bool) -> io::Result<()> {
        self.inner
            .rt
            .with(|st, now| st.tcp_set_keepalive(self.inner.h, on, now))
            .map_err(tcp_error)
    }

    /// Whether the connections the listener accepts start with keepalive on.
    pub fn keepalive(&self) -> io::Result<bool> {
        self.inner
            .rt
            .with(|st, _| st.tcp_keepalive(self.inner.h))
            .map_err(tcp_error)
    }

    /// Sets the keepalive idle time, interval and probe count (`TCP_KEEPIDLE`,
    /// `TCP_KEEPINTVL`, `TCP_KEEPCNT`, socket2's `set_tcp_keepalive`) the connections the
    /// listener accepts inherit; see [`TcpStream::set_keepalive_params`].
    pub fn set_keepalive_params(&self, params: KeepaliveParams) -> io::Result<()> {
        self.inner
            .rt
            .with(|st, now| st.tcp_set_keepalive_params(self.inner.h, params, now))
            .map_err(tcp_error)
    }

    /// The keepalive settings the accepted connections start with, all three filled in.
    pub fn keepalive_params(&self) -> io::Result<KeepaliveParams> {
        self.inner
            .rt
            .with(|st, _| st.tcp_keepalive_params(self.inner.h))
            .map_err(tcp_error)
    }

    /// Makes [`Self::accept`] return `WouldBlock` instead of waiting (for every clone, as
    /// the flag is shared).
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.inner.nonblocking.store(nonblocking, Ordering::Relaxed);
        Ok(())
    }

    /// Another handle to the same listener: either accepts from its queue, and it closes
    /// when the last one drops.
    pub fn try_clone(&self) -> io::Result<TcpListener> {
        Ok(TcpListener {
            inner: Arc::clone(&self.inner),
        })
    }
}

impl Drop for ListenerInner {
    fn drop(&mut self) {
        // Closing a live handle cannot fail; a runtime already gone has nothing to close.
        let _ = self.rt.with(|st, now| {
            self.rt.socket_dropped(self.serial);
            st.tcp_close(self.h, now)
        });
        self.rt.notify();
    }
}

impl Source for TcpListener {
    fn socket_id(&self) -> SocketId {
        SocketId {
            runtime: self.inner.rt.id,
            kind: SocketKind::Tcp(self.inner.h),
            serial: self.inner.serial,
        }
    }
}

/// `bind` + `listen`; port 0 is left to the stack's picker, which passes over every port a
/// bind conflict check without `SO_REUSEADDR` sharing would refuse (Linux
/// `inet_csk_find_open_port`).
fn listen(st: &mut Stack, a: SocketAddrV4, backlog: usize) -> io::Result<TcpHandle> {
    st.tcp_listen(a, backlog).map_err(tcp_error)
}

/// Iterator of [`TcpListener::incoming`].
#[derive(Debug)]
pub struct Incoming<'a> {
    listener: &'a TcpListener,
}

impl Iterator for Incoming<'_> {
    type Item = io::Result<TcpStream>;

    fn next(&mut self) -> Option<io::Result<TcpStream>> {
        Some(self.listener.accept().map(|(s, _)| s))
    }
}

struct StreamInner {
    rt: Arc<Shared>,
    h: TcpHandle,
    /// This socket's number for [`crate::Poll`] (see `Shared::new_socket`).
    serial: u64,
    opts: Mutex<Opts>,
    /// Set by [`TcpStream::abort`], which released `h` in the stack (SO_LINGER 0 + close):
    /// the number may already name another socket. Written and read only with the stack
    /// locked, so no call can slip between the check and its use of `h`.
    aborted: AtomicBool,
}

impl Drop for StreamInner {
    fn drop(&mut self) {
        // Graceful close (a reset when unread data is left), as close(2) does. The handle is
        // live until here (unless aborted: released already), so this cannot fail.
        let _ = self.rt.with(|st, now| {
            self.rt.socket_dropped(self.serial);
            if self.aborted.load(Ordering::Relaxed) {
                return Ok(());
            }
            st.tcp_close(self.h, now)
        });
        self.rt.notify();
    }
}

/// A TCP connection, like `std::net::TcpStream`: `Read` and `Write` block (subject to the
/// timeouts and non-blocking mode). Clones from [`Self::try_clone`] share the connection,
/// which closes when the last one drops.
#[derive(Clone)]
pub struct TcpStream {
    inner: Arc<StreamInner>,
}

impl fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("TcpStream");
        if let Ok(a) = self.local_addr() {
            d.field("local", &a);
        }
        if let Ok(a) = self.peer_addr() {
            d.field("peer", &a);
        }
        d.finish_non_exhaustive()
    }
}

/// What a blocked connect makes of its socket in `state`, as Linux `__inet_stream_connect`
/// after its wait: still opening, wait on (`Ok(None)`); closed, by a reset, a timeout or an
/// ICMP error, even one that came after the connection was established, fail with the
/// socket error, taken so it is reported once (`sock_error`), or `ConnectionAborted`
/// (ECONNABORTED) without one; in any other state the connect succeeded, whatever came
/// after (a FIN is read as end of stream). A user's socket is never in TIME-WAIT on Linux
/// (`tcp_time_wait` closes it), so that counts as closed.
fn connect_outcome(
    state: TcpState,
    take_error: impl FnOnce() -> Option<TcpError>,
) -> io::Result<Option<()>> {
    match state {
        TcpState::SynSent | TcpState::SynReceived => Ok(None),
        TcpState::Closed | TcpState::TimeWait => Err(take_error().map_or_else(
            || {
                io::Error::new(
                    io::ErrorKind::ConnectionAborted,
                    "connection closed while connecting",
                )
            },
            tcp_error,
        )),
        _ => Ok(Some(())),
    }
}

impl TcpStream {
    fn from_handle(rt: Arc<Shared>, h: TcpHandle) -> TcpStream {
        TcpStream {
            inner: Arc::new(StreamInner {
                serial: rt.new_socket(),
                rt,
                h,
                opts: Mutex::new(Opts::default()),
                aborted: AtomicBool::new(false),
            }),
        }
    }

    /// Connects to `addr`, trying each IPv4 address it resolves to, and blocks until the
    /// connection is established or fails (`ConnectionRefused` on a reset of the SYN,
    /// `ConnectionReset` when the connection was reset after it was established but before
    /// this thread saw it (`BrokenPipe` when the peer's FIN came first), as Linux, `TimedOut` when
    /// the SYN retries run out, `NetworkUnreachable` without a route (`HostUnreachable` for an
    /// unreachable one, `PermissionDenied` for a prohibit one), and at once with the
    /// errno of an ICMP error about the SYN, `NetworkUnreachable`, `HostUnreachable` or
    /// `ConnectionRefused` mostly, as Linux).
    pub fn connect(rt: &Runtime, addr: impl ToSocketAddrs) -> io::Result<TcpStream> {
        let mut last = None;
        for a in v4_addrs(addr)? {
            match Self::connect_v4(rt, a, None) {
                Ok(s) => return Ok(s),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| io::ErrorKind::InvalidInput.into()))
    }

    /// [`Self::connect`] to one address, giving up with `TimedOut` after `timeout`.
    pub fn connect_timeout(
        rt: &Runtime,
        addr: &SocketAddr,
        timeout: Duration,
    ) -> io::Result<TcpStream> {
        check_timeout(Some(timeout))?;
        let a = v4_addrs(*addr)?[0];
        Self::connect_v4(rt, a, Some(timeout))
    }

    fn connect_v4(
        rt: &Runtime,
        addr: SocketAddrV4,
        timeout: Option<Duration>,
    ) -> io::Result<TcpStream> {
        let shared = Arc::clone(rt.shared());
        let h = shared
            .with(|st, now| st.tcp_connect(addr, now))
            .map_err(tcp_error)?;
        // From here the stream owns the handle: an early return closes it.
        let s = TcpStream::from_handle(Arc::clone(&shared), h);
        let r = shared.block_on(false, deadline(timeout), |st, _| {
            let state = st.tcp_state(h).map_err(tcp_error)?;
            connect_outcome(state, || st.tcp_take_error(h).ok().flatten())
        });
        match r {
            Ok(()) => Ok(s),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                Err(io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))
            }
            Err(e) => Err(e),
        }
    }

    /// The stack handle, or `BadHandle` after [`Self::abort`] released it (as a call on a
    /// closed fd fails with EBADF). Call it with the stack locked.
    fn h(&self) -> Result<TcpHandle, TcpError> {
        if self.inner.aborted.load(Ordering::Relaxed) {
            return Err(TcpError::BadHandle);
        }
        Ok(self.inner.h)
    }

    fn rt(&self) -> &Shared {
        &self.inner.rt
    }

    fn opts(&self) -> Opts {
        *self
            .inner
            .opts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn set_opts(&self, f: impl FnOnce(&mut Opts)) {
        f(&mut self
            .inner
            .opts
            .lock()
            .unwrap_or_else(PoisonError::into_inner));
    }

    /// The peer's address; `NotConnected` once the connection is closed (reset, or the
    /// close handshake done).
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.rt()
            .with(|st, _| {
                // Linux inet_getname: getpeername in TCP_CLOSE is ENOTCONN. The user's socket
                // is never in TIME-WAIT there (tcp_time_wait hands that to a timewait sock
                // and closes it), so that counts as closed too.
                match st.tcp_state(self.h()?)? {
                    TcpState::Closed | TcpState::TimeWait => Err(TcpError::NotConnected),
                    _ => st.tcp_peer_addr(self.h()?),
                }
            })
            .map(SocketAddr::V4)
            .map_err(tcp_error)
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.rt()
            .with(|st, _| st.tcp_local_addr(self.h()?))
            .map(SocketAddr::V4)
            .map_err(tcp_error)
    }

    /// Closes the read half, the write half (a FIN follows queued data; the peer reads end
    /// of stream) or both. Blocked readers of clones wake up. `NotConnected` once the
    /// connection is closed (reset, or the close handshake done), as on Linux.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        let how = match how {
            Shutdown::Read => TcpShutdown::Read,
            Shutdown::Write => TcpShutdown::Write,
            Shutdown::Both => TcpShutdown::Both,
        };
        let r = self
            .rt()
            .with(|st, now| st.tcp_shutdown(self.h()?, how, now));
        self.rt().notify();
        r.map_err(tcp_error)
    }

    /// Sets the TTL of the connection's datagrams (`IP_TTL`): 1 to 255, or `u32::MAX` for
    /// the default; anything else is `InvalidInput`. An accepted stream starts with its
    /// listener's.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        let ttl = ttl_arg(ttl)?;
        self.rt()
            .with(|st, _| st.tcp_set_ttl(self.h()?, ttl))
            .map_err(tcp_error)
    }

    /// The connection's TTL: the one set (or inherited), else the stack's default.
    pub fn ttl(&self) -> io::Result<u32> {
        self.rt()
            .with(|st, _| st.tcp_ttl(self.h()?))
            .map(u32::from)
            .map_err(tcp_error)
    }

    /// Sets the connection's user timeout (`TCP_USER_TIMEOUT`, socket2's
    /// `set_tcp_user_timeout`); `None` or zero for the default. Sent data unacknowledged that
    /// long, or queued data held back by a zero window that long, ends the connection, and
    /// reads and writes then fail with `TimedOut` (or with the soft error an ICMP message left
    /// meanwhile, such as `HostUnreachable`, as on Linux), instead of after the quarter of an hour of
    /// retransmissions the default allows; with keepalive on, a peer silent that long ends it
    /// too. An accepted stream starts with its listener's.
    pub fn set_tcp_user_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.rt()
            .with(|st, _| st.tcp_set_user_timeout(self.h()?, timeout))
            .map_err(tcp_error)
    }

    /// The connection's user timeout, `None` for the default.
    pub fn tcp_user_timeout(&self) -> io::Result<Option<Duration>> {
        self.rt()
            .with(|st, _| st.tcp_user_timeout(self.h()?))
            .map_err(tcp_error)
    }

    /// Turns keepalive probes on or off (`SO_KEEPALIVE`, socket2's `set_keepalive`): after
    /// the idle time without a segment from the peer, probes every interval; when the probe
    /// count has gone unanswered (or the user timeout has passed) the connection ends with a
    /// reset to the peer, and reads and writes fail with `TimedOut` (or an earlier soft error).
    /// While data is in flight keepalive stands aside: the retransmissions watch the peer.
    pub fn set_keepalive(&self, on: bool) -> io::Result<()> {
        self.rt()
            .with(|st, now| st.tcp_set_keepalive(self.h()?, on, now))
            .map_err(tcp_error)
    }

    /// Whether keepalive probes are on.
    pub fn keepalive(&self) -> io::Result<bool> {
        self.rt()
            .with(|st, _| st.tcp_keepalive(self.h()?))
            .map_err(tcp_error)
    }

    /// Sets the connection's keepalive idle time, interval and probe count (`TCP_KEEPIDLE`,
    /// `TCP_KEEPINTVL`, `TCP_KEEPCNT`, socket2's `set_tcp_keepalive`); a `None` leaves that
    /// one as it is. Outside Linux's bounds (1 s to 32,767 s, 1 to 127 probes) it is
    /// `InvalidInput`.
    pub fn set_keepalive_params(&self, params: KeepaliveParams) -> io::Result<()> {
        self.rt()
            .with(|st, now| st.tcp_set_keepalive_params(self.h()?, params, now))
            .map_err(tcp_error)
    }

    /// The connection's keepalive settings, all three filled in.
    pub fn keepalive_params(&self) -> io::Result<KeepaliveParams> {
        self.rt()
            .with(|st, _| st.tcp_keepalive_params(self.h()?))
            .map_err(tcp_error)
    }

    /// Turns Nagle's algorithm off (`true`) or on (`TCP_NODELAY`).
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.rt()
            .with(|st, now| st.tcp_set_nodelay(self.h()?, nodelay, now))
            .map_err(tcp_error)?;
        self.set_opts(|o| o.nodelay = Some(nodelay));
        Ok(())
    }

    /// Whether Nagle's algorithm is off.
    pub fn nodelay(&self) -> io::Result<bool> {
        match self.opts().nodelay {
            Some(on) => Ok(on),
            None => Ok(self.rt().with(|st, _| st.tcp_config().nodelay)),
        }
    }

    /// How long a read waits before failing with `WouldBlock` (`None`: forever). A zero
    /// duration is refused with `InvalidInput`, as in std.
    pub fn set_read_timeout(&self, d: Option<Duration>) -> io::Result<()> {
        check_timeout(d)?;
        self.set_opts(|o| o.read_timeout = d);
        Ok(())
    }

    /// How long a write waits for room before failing with `WouldBlock` (`None`: forever).
    pub fn set_write_timeout(&self, d: Option<Duration>) -> io::Result<()> {
        check_timeout(d)?;
        self.set_opts(|o| o.write_timeout = d);
        Ok(())
    }

    /// The read timeout.
    pub fn read_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(self.opts().read_timeout)
    }

    /// The write timeout.
    pub fn write_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(self.opts().write_timeout)
    }

    /// In non-blocking mode reads and writes that cannot make progress fail with
    /// `WouldBlock` at once (use [`crate::Poll`] to learn when to retry).
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.set_opts(|o| o.nonblocking = nonblocking);
        Ok(())
    }

    /// Takes the pending socket error (`SO_ERROR`): that of a reset, a timeout or a failed
    /// connect no read or write has reported yet, else the last ICMP error the connection
    /// shrugged off (Linux's soft error), read and cleared either way.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.rt()
            .with(|st, _| st.tcp_take_error(self.h()?))
            .map(|e| e.map(tcp_error))
            .map_err(tcp_error)
    }

    /// Another handle to the same connection (shares options and the close-on-last-drop).
    pub fn try_clone(&self) -> io::Result<TcpStream> {
        Ok(self.clone())
    }

    /// The connection's state.
    pub fn state(&self) -> io::Result<TcpState> {
        self.rt()
            .with(|st, _| st.tcp_state(self.h()?))
            .map_err(tcp_error)
    }

    /// Counters and state (`TCP_INFO`).
    pub fn info(&self) -> io::Result<TcpInfo> {
        self.rt()
            .with(|st, _| st.tcp_info(self.h()?))
            .map_err(tcp_error)
    }

    /// Resets the connection at once (`SO_LINGER` 0 + close): the peer sees
    /// `ConnectionReset`; later calls on this stream fail.
    pub fn abort(&self) -> io::Result<()> {
        let r = self.rt().with(|st, now| {
            st.tcp_abort(self.h()?, now)?;
            // The stack released the handle: from now on this stream must not use it.
            self.inner.aborted.store(true, Ordering::Relaxed);
            self.rt().socket_released(self.inner.serial);
            Ok(())
        });
        self.rt().notify();
        r.map_err(tcp_error)
    }

    /// Reads into `buf`, or with `peek` copies without taking the bytes off the queue
    /// (`MSG_PEEK`); blocking, end of stream and errors are the same either way.
    fn read_impl(&self, buf: &mut [u8], peek: bool) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let o = self.opts();
        self.rt()
            .block_on(o.nonblocking, deadline(o.read_timeout), |st, now| {
                let h = self.h().map_err(tcp_error)?;
                let r = if peek {
                    st.tcp_peek(h, buf)
                } else {
                    st.tcp_recv(h, buf, now)
                };
                // The stack reports a pending error once and clears it, as Linux's
                // `sock_error` (a peek too): no stale SO_ERROR is left behind.
                match r {
                    Ok(n) => Ok(Some(n)),
                    Err(TcpError::WouldBlock) => Ok(None),
                    Err(e) => Err(tcp_error(e)),
                }
            })
    }

    /// Receives into `buf` without taking the bytes off the queue (`MSG_PEEK`): the next
    /// read or peek gets them again. Blocks, ends and fails as a read does.
    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.read_impl(buf, true)
    }

    fn write_impl(&self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let o = self.opts();
        self.rt()
            .block_on(o.nonblocking, deadline(o.write_timeout), |st, now| {
                let h = self.h().map_err(tcp_error)?;
                match st.tcp_send(h, buf, now) {
                    Ok(n) => Ok(Some(n)),
                    Err(TcpError::WouldBlock) => Ok(None),
                    Err(e) => Err(tcp_error(e)),
                }
            })
    }
}

impl Read for TcpStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.read_impl(buf, false)
    }
}

impl Read for &TcpStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.read_impl(buf, false)
    }
}

impl Write for TcpStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_impl(buf)
    }

    /// Data is handed to the stack by `write`; there is nothing to flush.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Write for &TcpStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_impl(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Source for TcpStream {
    fn socket_id(&self) -> SocketId {
        SocketId {
            runtime: self.inner.rt.id,
            kind: SocketKind::Tcp(self.inner.h),
            serial: self.inner.serial,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_outcome_follows_inet_stream_connect() {
        let none = || None;
        assert!(matches!(connect_outcome(TcpState::SynSent, none), Ok(None)));
        assert!(matches!(
            connect_outcome(TcpState::SynReceived, none),
            Ok(None)
        ));
        assert!(matches!(
            connect_outcome(TcpState::Established, none),
            Ok(Some(()))
        ));
        // The peer's FIN came with the SYN-ACK: connected, the first read sees the end.
        assert!(matches!(
            connect_outcome(TcpState::CloseWait, none),
            Ok(Some(()))
        ));
        for e in [
            TcpError::ConnectionRefused,
            TcpError::ConnectionReset,
            TcpError::BrokenPipe,
            TcpError::TimedOut,
        ] {
            let r = connect_outcome(TcpState::Closed, || Some(e));
            assert_eq!(r.unwrap_err().kind(), crate::error::tcp_error_kind(e));
        }
        // Closed with no error left (`sock_error` gives 0): ECONNABORTED.
        let r = connect_outcome(TcpState::Closed, none);
        assert_eq!(r.unwrap_err().kind(), io::ErrorKind::ConnectionAborted);
        let r = connect_outcome(TcpState::TimeWait, none);
        assert_eq!(r.unwrap_err().kind(), io::ErrorKind::ConnectionAborted);
    }
}
