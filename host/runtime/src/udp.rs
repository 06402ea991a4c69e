//! A blocking UDP socket mirroring `std::net::UdpSocket`.

use crate::error::{ttl_arg, udp_error};
use crate::poll::{SocketId, SocketKind, Source};
use crate::runtime::{Runtime, Shared};
use crate::tcp::{check_timeout, deadline, v4_addrs, Opts};
use oxnic_stack::igmp::McInterface;
use oxnic_stack::udp::{UdpError, UdpHandle, UdpSocketStats};
use std::fmt;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, ToSocketAddrs};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

struct UdpInner {
    rt: Arc<Shared>,
    h: UdpHandle,
    /// This socket's number for [`crate::Poll`] (see `Shared::new_socket`).
    serial: u64,
    opts: Mutex<Opts>,
}

impl Drop for UdpInner {
    fn drop(&mut self) {
        // The handle is live until here; closing it cannot fail.
        let _ = self.rt.with(|st, _| {
            self.rt.socket_dropped(self.serial);
            st.udp_close(self.h)
        });
        // A Poll waiting on it reports it gone, as for a TCP socket.
        self.rt.notify();
    }
}

/// A UDP socket, like `std::net::UdpSocket`. Receives block (subject to the read timeout and
/// non-blocking mode); sends never wait: the datagram is queued or the error returned at
/// once. Clones from [`Self::try_clone`] share the socket, which closes with the last one.
#[derive(Clone)]
pub struct UdpSocket {
    inner: Arc<UdpInner>,
}

impl fmt::Debug for UdpSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("UdpSocket");
        if let Ok(a) = self.local_addr() {
            d.field("local", &a);
        }
        d.finish_non_exhaustive()
    }
}

impl UdpSocket {
    /// Binds to `addr` (an address of this runtime or `0.0.0.0`; port 0 picks a free port).
    pub fn bind(rt: &Runtime, addr: impl ToSocketAddrs) -> io::Result<UdpSocket> {
        let shared = Arc::clone(rt.shared());
        let mut last = None;
        for a in v4_addrs(addr)? {
            match shared.with(|st, _| st.udp_bind(a)) {
                Ok(h) => {
                    return Ok(UdpSocket {
                        inner: Arc::new(UdpInner {
                            serial: shared.new_socket(),
                            rt: shared,
                            h,
                            opts: Mutex::new(Opts::default()),
                        }),
                    })
                }
                Err(e) => last = Some(udp_error(e)),
            }
        }
        Err(last.unwrap_or_else(|| io::ErrorKind::InvalidInput.into()))
    }

    fn h(&self) -> UdpHandle {
        self.inner.h
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

    /// Sends `buf` as one datagram to `addr` (its first IPv4 address); returns its length.
    pub fn send_to(&self, buf: &[u8], addr: impl ToSocketAddrs) -> io::Result<usize> {
        let dst = v4_addrs(addr)?[0];
        self.rt()
            .with(|st, now| st.udp_send_to(self.h(), buf, dst, now))
            .map_err(udp_error)
    }

    /// Receives one datagram into `buf` (a longer one is cut) and returns its length and
    /// sender. A pending ICMP error (a connected socket's `ConnectionRefused`) is returned
    /// first, before queued datagrams, as Linux does.
    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.receive(buf, false)
    }

    /// [`Self::recv_from`] leaving the datagram queued (`MSG_PEEK`): the next receive gets
    /// it again.
    pub fn peek_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.receive(buf, true)
    }

    /// [`Self::recv`] leaving the datagram queued (`MSG_PEEK`).
    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.peek_from(buf).map(|(n, _)| n)
    }

    fn receive(&self, buf: &mut [u8], peek: bool) -> io::Result<(usize, SocketAddr)> {
        let o = self.opts();
        let h = self.h();
        self.rt()
            .block_on(o.nonblocking, deadline(o.read_timeout), |st, _| {
                let r = if peek {
                    st.udp_peek_from(h, buf)
                } else {
                    st.udp_recv_from(h, buf)
                };
                match r {
                    Ok((n, from)) => Ok(Some((n, SocketAddr::V4(from)))),
                    // The stack's recv returns a pending error before the queue.
                    Err(UdpError::WouldBlock) => Ok(None),
                    Err(e) => Err(udp_error(e)),
                }
            })
    }

    /// Sets the default destination for [`Self::send`] and receives only from `addr`. As on
    /// Linux, a socket bound to `0.0.0.0` takes the route's source as its local address, an
    /// unroutable peer is `NetworkUnreachable` and a broadcast one without
    /// [`Self::set_broadcast`] is `PermissionDenied`.
    pub fn connect(&self, addr: impl ToSocketAddrs) -> io::Result<()> {
        let dst = v4_addrs(addr)?[0];
        self.rt()
            .with(|st, _| st.udp_connect(self.h(), dst))
            .map_err(udp_error)
    }

    /// Sends `buf` to the connected peer (`NotConnected` before [`Self::connect`]).
    pub fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.rt()
            .with(|st, now| st.udp_send(self.h(), buf, now))
            .map_err(udp_error)
    }

    /// Receives one datagram from the connected peer.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.recv_from(buf).map(|(n, _)| n)
    }

    /// The connected peer (`NotConnected` before [`Self::connect`]).
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.rt()
            .with(|st, _| st.udp_peer_addr(self.h()))
            .map(SocketAddr::V4)
            .map_err(udp_error)
    }

    /// The bound address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.rt()
            .with(|st, _| st.udp_local_addr(self.h()))
            .map(SocketAddr::V4)
            .map_err(udp_error)
    }

    /// How long a receive waits before failing with `WouldBlock` (`None`: forever). A zero
    /// duration is refused with `InvalidInput`, as in std.
    pub fn set_read_timeout(&self, d: Option<Duration>) -> io::Result<()> {
        check_timeout(d)?;
        self.set_opts(|o| o.read_timeout = d);
        Ok(())
    }

    /// Kept for std compatibility: sends never wait, so this only records the value.
    pub fn set_write_timeout(&self, d: Option<Duration>) -> io::Result<()> {
        check_timeout(d)?;
        self.set_opts(|o| o.write_timeout = d);
        Ok(())
    }

    /// The read timeout.
    pub fn read_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(self.opts().read_timeout)
    }

    /// The write timeout as set.
    pub fn write_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(self.opts().write_timeout)
    }

    /// In non-blocking mode a receive with nothing queued fails with `WouldBlock` at once.
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.set_opts(|o| o.nonblocking = nonblocking);
        Ok(())
    }

    /// Allows sending to broadcast addresses (`SO_BROADCAST`). Without it such a send fails
    /// with `PermissionDenied`, as on Linux (`EACCES`).
    pub fn set_broadcast(&self, on: bool) -> io::Result<()> {
        self.rt()
            .with(|st, _| st.udp_set_broadcast(self.h(), on))
            .map_err(udp_error)
    }

    /// Whether sending to broadcast addresses is allowed (`SO_BROADCAST`).
    pub fn broadcast(&self) -> io::Result<bool> {
        self.rt()
            .with(|st, _| st.udp_broadcast(self.h()))
            .map_err(udp_error)
    }

    /// Sets the TTL of sent datagrams (`IP_TTL`): 1 to 255, or `u32::MAX` (the -1 std
    /// passes on) for the default; anything else is `InvalidInput`, as Linux's EINVAL.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        let ttl = ttl_arg(ttl)?;
        self.rt()
            .with(|st, _| st.udp_set_ttl(self.h(), ttl))
            .map_err(udp_error)
    }

    /// The TTL of sent datagrams (`IP_TTL`): the one set, else the stack's default.
    pub fn ttl(&self) -> io::Result<u32> {
        self.rt()
            .with(|st, _| st.udp_ttl(self.h()))
            .map(u32::from)
            .map_err(udp_error)
    }

    /// Joins multicast group `multiaddr` on the interface that has address `interface`
    /// (`IP_ADD_MEMBERSHIP`); `0.0.0.0` is the interface of the route to the group, as on
    /// Linux. Errors as Linux's: not a multicast address is `InvalidInput` (`EINVAL`), a
    /// second join of the group on the interface by this socket `AddrInUse`, no such
    /// interface or no route to the group `Other` (`ENODEV`, uncategorized in std).
    pub fn join_multicast_v4(&self, multiaddr: &Ipv4Addr, interface: &Ipv4Addr) -> io::Result<()> {
        let on = McInterface::Addr(*interface);
        self.rt()
            .with(|st, now| st.udp_join_multicast(self.h(), *multiaddr, on, now))
            .map_err(udp_error)
    }

    /// Leaves a group joined with [`Self::join_multicast_v4`] (`IP_DROP_MEMBERSHIP`); a
    /// membership this socket does not hold is `AddrNotAvailable` (`EADDRNOTAVAIL`).
    pub fn leave_multicast_v4(&self, multiaddr: &Ipv4Addr, interface: &Ipv4Addr) -> io::Result<()> {
        let on = McInterface::Addr(*interface);
        self.rt()
            .with(|st, now| st.udp_leave_multicast(self.h(), *multiaddr, on, now))
            .map_err(udp_error)
    }

    /// Whether datagrams this socket sends to a group this host joined come back to its
    /// members here too (`IP_MULTICAST_LOOP`, on by default).
    pub fn set_multicast_loop_v4(&self, multicast_loop_v4: bool) -> io::Result<()> {
        self.rt()
            .with(|st, _| st.udp_set_multicast_loop(self.h(), multicast_loop_v4))
            .map_err(udp_error)
    }

    /// `IP_MULTICAST_LOOP`.
    pub fn multicast_loop_v4(&self) -> io::Result<bool> {
        self.rt()
            .with(|st, _| st.udp_multicast_loop(self.h()))
            .map_err(udp_error)
    }

    /// Sets the TTL of datagrams sent to a group (`IP_MULTICAST_TTL`): 0 to 255, or
    /// `u32::MAX` (the -1 std passes on) for the default of 1; anything else is
    /// `InvalidInput`, as Linux's EINVAL.
    pub fn set_multicast_ttl_v4(&self, multicast_ttl_v4: u32) -> io::Result<()> {
        let ttl = match multicast_ttl_v4 {
            u32::MAX => None,
            0..=255 => Some(multicast_ttl_v4 as u8),
            _ => return Err(udp_error(UdpError::InvalidArgument)),
        };
        self.rt()
            .with(|st, _| st.udp_set_multicast_ttl(self.h(), ttl))
            .map_err(udp_error)
    }

    /// The TTL of datagrams sent to a group (`IP_MULTICAST_TTL`, 1 unless set).
    pub fn multicast_ttl_v4(&self) -> io::Result<u32> {
        self.rt()
            .with(|st, _| st.udp_multicast_ttl(self.h()))
            .map(u32::from)
            .map_err(udp_error)
    }

    /// Takes the pending error reported by ICMP (`SO_ERROR`).
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.rt()
            .with(|st, _| st.udp_take_error(self.h()))
            .map(|e| e.map(udp_error))
            .map_err(udp_error)
    }

    /// Per-socket counters (datagrams received, dropped on a full queue, sent).
    pub fn stats(&self) -> io::Result<UdpSocketStats> {
        self.rt()
            .with(|st, _| st.udp_socket_stats(self.h()))
            .map_err(udp_error)
    }

    /// Another handle to the same socket.
    pub fn try_clone(&self) -> io::Result<UdpSocket> {
        Ok(self.clone())
    }
}

impl Source for UdpSocket {
    fn socket_id(&self) -> SocketId {
        SocketId {
            runtime: self.inner.rt.id,
            kind: SocketKind::Udp(self.inner.h),
            serial: self.inner.serial,
        }
    }
}
