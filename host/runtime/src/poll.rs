//! Readiness over many sockets, epoll-like and level-triggered: register sockets with a
//! [`Token`] and an [`Interest`], then [`Poll::wait`] returns an [`Event`] for each one that
//! is ready now. Pair it with non-blocking sockets (`set_nonblocking(true)`) to serve many
//! connections from one thread.

use crate::runtime::{Runtime, Shared};
use crate::tcp::deadline;
use oxnic_stack::changes::ChangeGen;
use oxnic_stack::tcp::{Readiness, TcpError, TcpHandle};
use oxnic_stack::udp::{UdpError, UdpHandle};
use oxnic_stack::Stack;
use std::collections::HashMap;
use std::fmt;
use std::io;
use std::ops::BitOr;
use std::sync::Arc;
use std::time::Duration;

/// Names a registered socket in the events [`Poll::wait`] returns (mio's `Token`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Token(pub usize);

/// Which readiness a registration asks about (combine with `|`). Errors and hang-ups are
/// always reported, as with epoll.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Interest(u8);

impl Interest {
    /// Data, end of stream, an error or (on a listener) a connection to accept.
    pub const READABLE: Interest = Interest(1);
    /// A write would not block: room in the send buffer (a third of it free), or a write
    /// that fails at once (writing shut, an error), as epoll's `EPOLLOUT`.
    pub const WRITABLE: Interest = Interest(2);

    /// True when it includes readable.
    pub fn is_readable(self) -> bool {
        self.0 & 1 != 0
    }

    /// True when it includes writable.
    pub fn is_writable(self) -> bool {
        self.0 & 2 != 0
    }
}

impl BitOr for Interest {
    type Output = Interest;

    fn bitor(self, rhs: Interest) -> Interest {
        Interest(self.0 | rhs.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum SocketKind {
    Tcp(TcpHandle),
    Udp(UdpHandle),
}

/// Identifies a socket of one runtime, for registration with a [`Poll`]. Only sockets of this
/// crate make one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SocketId {
    pub(crate) runtime: u64,
    pub(crate) kind: SocketKind,
    /// Never reused within the runtime, unlike the stack's handle in `kind`: a registration
    /// follows this socket, not the next one given the same handle.
    pub(crate) serial: u64,
}

/// A socket a [`Poll`] can watch: [`crate::TcpListener`], [`crate::TcpStream`],
/// [`crate::UdpSocket`].
pub trait Source {
    /// The socket's identity within its runtime.
    fn socket_id(&self) -> SocketId;
}

/// One ready socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event {
    token: Token,
    readiness: Readiness,
}

impl Event {
    /// The token the socket was registered with.
    pub fn token(&self) -> Token {
        self.token
    }

    /// Ready to read (or accept, on a listener). Also set with an error or end of stream, so
    /// that the read reports it. Only reported to a registration with [`Interest::READABLE`].
    pub fn is_readable(&self) -> bool {
        self.readiness.readable
    }

    /// Ready to write: a write would not block, because there is room, or because it fails at
    /// once (writing shut, the connection reset or closed), as epoll's `EPOLLOUT`. Only
    /// reported to a registration with [`Interest::WRITABLE`].
    pub fn is_writable(&self) -> bool {
        self.readiness.writable
    }

    /// An error is pending (`take_error` or the next call reports it).
    pub fn is_error(&self) -> bool {
        self.readiness.error
    }

    /// The connection is closed both ways, or the socket is gone.
    pub fn is_hangup(&self) -> bool {
        self.readiness.hangup
    }

    /// The read side is closed: the peer shut its side (its FIN came), reading was shut
    /// here, or the connection is closed. Data sent before the FIN may still be waiting,
    /// so a reader drains it and then sees end of stream. As mio on epoll: `EPOLLHUP`, or
    /// `EPOLLIN` with `EPOLLRDHUP` (only for a registration with [`Interest::READABLE`],
    /// for which mio asks `EPOLLRDHUP`).
    pub fn is_read_closed(&self) -> bool {
        let r = &self.readiness;
        r.hangup || (r.readable && r.read_hangup)
    }

    /// The write side is closed: the connection is closed both ways, or an error is pending
    /// with the socket writable (the write would fail at once) or alone. As mio on epoll:
    /// `EPOLLHUP`, or `EPOLLOUT` with `EPOLLERR`, or `EPOLLERR` alone.
    pub fn is_write_closed(&self) -> bool {
        let r = &self.readiness;
        let error_alone = r.error && !r.readable && !r.writable && !r.read_hangup;
        r.hangup || (r.writable && r.error) || error_alone
    }

    /// The stack's full readiness record.
    pub fn readiness(&self) -> Readiness {
        self.readiness
    }
}

/// The events of one [`Poll::wait`], at most [`Self::capacity`] of them.
#[derive(Debug, Clone)]
pub struct Events {
    list: Vec<Event>,
    cap: usize,
}

impl Events {
    /// An empty list with room for `n` events: a [`Poll::wait`] into it returns at most `n`
    /// (epoll_wait's `maxevents`, mio's `Events::with_capacity`); sockets still ready beyond
    /// them are reported by the next waits.
    pub fn with_capacity(n: usize) -> Events {
        Events {
            list: Vec::with_capacity(n),
            cap: n,
        }
    }

    /// The most events one [`Poll::wait`] puts here.
    pub fn capacity(&self) -> usize {
        self.cap
    }

    /// The events.
    pub fn iter(&self) -> std::slice::Iter<'_, Event> {
        self.list.iter()
    }

    /// Number of events.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Removes all events.
    pub fn clear(&mut self) {
        self.list.clear();
    }
}

impl<'a> IntoIterator for &'a Events {
    type Item = &'a Event;
    type IntoIter = std::slice::Iter<'a, Event>;

    fn into_iter(self) -> Self::IntoIter {
        self.list.iter()
    }
}

/// Waits for readiness of many sockets of one runtime, with mio's names (`Poll`, `Token`,
/// `Interest`, `Events`) but epoll's default, level-triggered semantics: a socket is reported
/// on every `wait` while it stays ready (mio is edge-triggered; a loop written for it works
/// here too, it only sees more events).
///
/// As with epoll, a wait costs what the ready sockets cost, not what the registered ones do:
/// it re-checks only the sockets the stack logged as changed since the last check
/// ([`Stack::tcp_changes`], [`Stack::udp_changes`]), the ones it found ready last time (they
/// are reported again while they stay ready) and the ones registered or re-registered since.
/// Only when the stack's bounded log no longer reaches back to the last check does it
/// re-check every registration. [`Poll::stats`] counts both.
pub struct Poll {
    rt: Arc<Shared>,
    regs: Registry,
    /// The stack's change logs, as of the last check.
    tcp_gen: ChangeGen,
    udp_gen: ChangeGen,
    /// The last registration reported by a wait that had more ready than room: the next
    /// wait starts after it, so none is starved by those ahead of it.
    cursor: Option<RegKey>,
    /// Ready registrations of one wait, kept to reuse its allocation.
    ready: Vec<Ready>,
    /// Handles the stack logged changed, kept to reuse their allocations.
    tcp_changed: Vec<TcpHandle>,
    udp_changed: Vec<UdpHandle>,
    /// Registrations one check looks at, kept to reuse its allocation.
    check: Vec<SocketId>,
    stats: PollStats,
}

/// What a [`Poll`]'s waits did so far: how much work the registered sockets cost.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PollStats {
    /// Readiness checks of one registration each. A wait checks the registrations whose
    /// sockets changed, those found ready by the previous check and those (re-)registered
    /// since, each once per time it is woken; idle, unready sockets cost nothing.
    pub evaluated: u64,
    /// Checks of every registration, because the stack's change log no longer reached back to
    /// the previous check (also the first check of a poll).
    pub rescans: u64,
}

/// The registrations of a [`Poll`].
#[derive(Default)]
struct Registry {
    regs: HashMap<SocketId, (Token, Interest)>,
    /// The registrations per stack handle: the ones a change the stack logged for that handle
    /// may concern (an aborted stream and the socket reusing its handle share one).
    by_handle: HashMap<SocketKind, Vec<SocketId>>,
    /// Registrations to check whatever the stack logged: those ready at the last check
    /// (level-triggered: epoll keeps them on its ready list) and those (re-)registered since.
    /// May hold duplicates and deregistered ones; checking skips them.
    watch: Vec<SocketId>,
}

impl Registry {
    fn insert(&mut self, id: SocketId, token: Token, interest: Interest) {
        self.regs.insert(id, (token, interest));
        self.by_handle.entry(id.kind).or_default().push(id);
        self.watch.push(id);
    }

    fn remove(&mut self, id: &SocketId) -> bool {
        if self.regs.remove(id).is_none() {
            return false;
        }
        if let Some(v) = self.by_handle.get_mut(&id.kind) {
            v.retain(|r| r != id);
            if v.is_empty() {
                self.by_handle.remove(&id.kind);
            }
        }
        true
    }
}

/// A registration's place in the scan order: its token, then its socket's serial.
type RegKey = (Token, u64);

/// One ready registration found by a scan.
struct Ready {
    key: RegKey,
    event: Event,
    /// The socket was dropped: forget the registration once this event is reported.
    dropped: Option<SocketId>,
}

impl fmt::Debug for Poll {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Poll")
            .field("registered", &self.regs.regs.len())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl Poll {
    /// A poll instance for sockets of `rt`.
    pub fn new(rt: &Runtime) -> Poll {
        Poll {
            rt: Arc::clone(rt.shared()),
            regs: Registry::default(),
            tcp_gen: ChangeGen::default(),
            udp_gen: ChangeGen::default(),
            cursor: None,
            ready: Vec::new(),
            tcp_changed: Vec::new(),
            udp_changed: Vec::new(),
            check: Vec::new(),
            stats: PollStats::default(),
        }
    }

    /// What the waits so far cost.
    pub fn stats(&self) -> PollStats {
        self.stats
    }

    fn check(&self, src: &dyn Source) -> io::Result<SocketId> {
        let id = src.socket_id();
        if id.runtime != self.rt.id {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "socket belongs to another runtime",
            ));
        }
        Ok(id)
    }

    /// Watches `src` for `interest`, reporting it as `token`. `AlreadyExists` if it is
    /// registered already (use [`Self::reregister`]).
    pub fn register(
        &mut self,
        src: &impl Source,
        token: Token,
        interest: Interest,
    ) -> io::Result<()> {
        let k = self.check(src)?;
        if self.regs.regs.contains_key(&k) {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "socket already registered",
            ));
        }
        self.regs.insert(k, token, interest);
        Ok(())
    }

    /// Changes the token and interest of a registered socket.
    pub fn reregister(
        &mut self,
        src: &impl Source,
        token: Token,
        interest: Interest,
    ) -> io::Result<()> {
        let k = self.check(src)?;
        match self.regs.regs.get_mut(&k) {
            Some(r) => {
                *r = (token, interest);
                // Ready or not for the new interest: the next wait finds out.
                self.regs.watch.push(k);
                Ok(())
            }
            None => Err(io::ErrorKind::NotFound.into()),
        }
    }

    /// Stops watching `src`. A socket dropped while registered is reported gone (error and
    /// hang-up) by the next [`Self::wait`], which then forgets it, as epoll forgets a closed
    /// descriptor; an aborted stream ([`crate::TcpStream::abort`]) is reported gone until it
    /// is deregistered. A new socket never inherits their registrations, even when the stack
    /// gives it the same handle.
    pub fn deregister(&mut self, src: &impl Source) -> io::Result<()> {
        let k = self.check(src)?;
        if self.regs.remove(&k) {
            Ok(())
        } else {
            Err(io::ErrorKind::NotFound.into())
        }
    }

    /// Fills `events` with the registered sockets that are ready, at most
    /// [`Events::capacity`] of them, waiting up to `timeout` (`None`: until one is) for the
    /// first. Returns the number of events; 0 on timeout. When more are ready than fit, the
    /// next wait goes on after the last one reported (epoll moves a reported level-triggered
    /// entry to the back of its ready list), so every ready socket is reported in turn.
    /// `InvalidInput` for an `events` of capacity 0 (epoll_wait's EINVAL).
    pub fn wait(&mut self, events: &mut Events, timeout: Option<Duration>) -> io::Result<usize> {
        events.clear();
        if events.cap == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "events of capacity 0",
            ));
        }
        let rt = Arc::clone(&self.rt);
        let r = rt.block_on(false, deadline(timeout), |st, _| {
            self.collect(st, &rt);
            select(&mut self.regs, &mut self.cursor, &mut self.ready, events);
            Ok((!events.list.is_empty()).then_some(events.list.len()))
        });
        match r {
            Ok(n) => Ok(n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(0),
            Err(e) => Err(e),
        }
    }

    /// Fills `self.ready` with the ready registrations, with the stack locked, in scan order,
    /// checking only those that may be ready (see [`Poll`]); `watch` becomes the ready ones.
    /// A registration of a socket that was dropped is ready (gone).
    fn collect(&mut self, st: &mut Stack, rt: &Shared) {
        self.ready.clear();
        self.tcp_changed.clear();
        self.udp_changed.clear();
        let t = st.tcp_changes(self.tcp_gen, &mut self.tcp_changed);
        let u = st.udp_changes(self.udp_gen, &mut self.udp_changed);
        self.tcp_gen = t.next;
        self.udp_gen = u.next;
        let Registry {
            regs,
            by_handle,
            watch,
        } = &mut self.regs;
        let check = &mut self.check;
        check.clear();
        if t.complete && u.complete {
            check.append(watch);
            let tcp = self.tcp_changed.iter().map(|&h| SocketKind::Tcp(h));
            let udp = self.udp_changed.iter().map(|&h| SocketKind::Udp(h));
            for kind in tcp.chain(udp) {
                if let Some(ids) = by_handle.get(&kind) {
                    check.extend_from_slice(ids);
                }
            }
            // Serials name sockets: one check per registration.
            check.sort_unstable_by_key(|id| id.serial);
            check.dedup_by_key(|id| id.serial);
        } else {
            watch.clear();
            check.extend(regs.keys().copied());
            self.stats.rescans += 1;
        }
        let sockets = rt.sockets();
        for id in check.iter() {
            let Some(&(token, interest)) = regs.get(id) else {
                continue;
            };
            self.stats.evaluated += 1;
            let mut dropped = None;
            let readiness = match (sockets.get(&id.serial), id.kind) {
                // Dropped, or aborted (the handle may already name another socket).
                (None, _) => {
                    dropped = Some(*id);
                    gone()
                }
                (Some(false), _) => gone(),
                (Some(true), SocketKind::Tcp(h)) => match st.tcp_readiness(h) {
                    Ok(r) => r,
                    Err(TcpError::BadHandle) => gone(),
                    Err(_) => Readiness::default(),
                },
                (Some(true), SocketKind::Udp(h)) => match st.udp_recv_queue_len(h) {
                    Ok(n) => Readiness {
                        readable: n > 0,
                        writable: true,
                        // A pending ICMP error: the next recv reports it (EPOLLERR).
                        error: st.udp_error_pending(h).unwrap_or(false),
                        ..Readiness::default()
                    },
                    Err(UdpError::BadHandle) => gone(),
                    Err(_) => Readiness::default(),
                },
            };
            let wanted = (interest.is_readable() && readiness.readable)
                || (interest.is_writable() && readiness.writable)
                || readiness.error
                || readiness.hangup;
            if wanted {
                // Checked again next time, changed or not, while it stays ready.
                watch.push(*id);
                // As epoll (and mio: "Poll will only return readiness events for operations
                // specified by this argument"), an event carries only the registered
                // readiness; error and hang-up are always reported.
                let readiness = Readiness {
                    readable: readiness.readable && interest.is_readable(),
                    writable: readiness.writable && interest.is_writable(),
                    // mio registers EPOLLRDHUP with a readable interest only.
                    read_hangup: readiness.read_hangup && interest.is_readable(),
                    ..readiness
                };
                self.ready.push(Ready {
                    key: (token, id.serial),
                    event: Event { token, readiness },
                    dropped,
                });
            }
        }
        self.ready.sort_unstable_by_key(|r| r.key);
    }
}

/// Moves into `events` as many of the `ready` registrations (in scan order) as it has room
/// for, starting after `cursor` when they do not all fit, and leaves `cursor` at the last
/// one taken. A dropped socket's registration is forgotten once reported (gone is always
/// wanted, so the owner hears of it; beyond deregistering, as epoll forgets a closed
/// descriptor), and only then: one that did not fit is reported by a later wait.
fn select(
    regs: &mut Registry,
    cursor: &mut Option<RegKey>,
    ready: &mut Vec<Ready>,
    events: &mut Events,
) {
    events.list.clear();
    if ready.len() > events.cap {
        let start = cursor
            .and_then(|c| ready.iter().position(|r| r.key > c))
            .unwrap_or(0);
        ready.rotate_left(start);
        ready.truncate(events.cap);
        *cursor = ready.last().map(|r| r.key);
        // Stable order for callers and tests.
        ready.sort_unstable_by_key(|r| r.key);
    }
    for r in ready.drain(..) {
        if let Some(id) = r.dropped {
            regs.remove(&id);
        }
        events.list.push(r.event);
    }
}

/// The readiness of a socket that no longer exists: everything, so the owner notices.
fn gone() -> Readiness {
    Readiness {
        readable: true,
        writable: false,
        error: true,
        hangup: true,
        read_hangup: true,
    }
}
