//! UDP (Linux `net/ipv4/udp.c`): sockets with bind/connect/send_to/recv_from, socket lookup
//! by score (`__udp4_lib_lookup`: a connected socket beats a bound address beats a wildcard),
//! broadcasts copied to every matching socket (`__udp4_lib_mcast_deliver`; sockets share a
//! port with `SO_REUSEADDR`), bounded receive queues (a full one drops and counts
//! `RcvbufErrors`), ICMP port unreachable when nobody listens, checksums (a zero checksum
//! means none and is accepted), corking
//! (`UDP_CORK`: data is appended until uncorked, then sent as one datagram) and the hard
//! errors from ICMP reported on connected sockets (`SO_ERROR`; soft ones are not).
//!
//! Multicast (`ip_mc_join_group`, `ip_mc_leave_group`, the `IP_MULTICAST_*` options): a
//! socket joins groups on interfaces ([`Stack::udp_join_multicast`]); the interface then
//! receives the group ([`crate::igmp`]) and every socket bound to the port, on 0.0.0.0 or on
//! the group's address, gets a copy of each datagram, whether it joined or not (Linux's
//! default `IP_MULTICAST_ALL`). Datagrams a socket sends to a group leave with its multicast
//! TTL (1 unless set), by `IP_MULTICAST_IF` or the route's interface, and come back to this
//! host's members of the group when `IP_MULTICAST_LOOP` is on (the default). A connect to a
//! group takes the same way: by `IP_MULTICAST_IF`, no route needed, and its local address is
//! that interface's (or the `IP_MULTICAST_IF` address). A socket's memberships end when it
//! closes.

use crate::changes::{ChangeGen, ChangeLog, Changes};
use crate::ephemeral;
use crate::icmp::IcmpError;
use crate::igmp::McInterface;
use crate::ip_input::{is_csum_error, l4_checksum_mode};
use crate::ip_output::{OutRoute, SendError, SockIp};
use crate::pktbuf::{ChecksumState, PacketBuf};
use crate::route::IfIndex;
use crate::snmp::UdpMib;
use crate::sock_slots::{FreeSlots, PortIndex};
use crate::stack::Stack;
use crate::time::Instant;
use crate::wire::checksum::ChecksumMode;
use crate::wire::icmpv4::DstUnreachable;
use crate::wire::ipv4::{protocol, Ipv4Repr};
use crate::wire::udp::UdpRepr;
use std::collections::VecDeque;
use std::net::{Ipv4Addr, SocketAddrV4};

/// Largest UDP payload over IPv4.
pub const MAX_UDP_PAYLOAD: usize = 65_507;
/// Most segments one [`Stack::udp_send_to_segmented`] call may carry (Linux
/// `UDP_MAX_SEGMENTS`).
pub const MAX_GSO_SEGMENTS: usize = 64;

/// Most groups one socket may join (Linux `net.ipv4.igmp_max_memberships`, 20).
pub const MAX_MEMBERSHIPS: usize = 20;

/// The multicast TTL of a socket that has not set one (`IP_MULTICAST_TTL`, RFC 1112 §6.1).
pub const DEFAULT_MULTICAST_TTL: u8 = 1;

/// Identifies a UDP socket of one stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UdpHandle(usize);

/// Why a UDP socket call failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UdpError {
    /// Nothing to receive now (`EAGAIN`).
    #[error("would block")]
    WouldBlock,
    /// The address and port are taken (`EADDRINUSE`).
    #[error("address in use")]
    AddrInUse,
    /// The local address is not one of ours (`EADDRNOTAVAIL`).
    #[error("address not available")]
    AddrNotAvailable,
    /// No ephemeral port is free.
    #[error("no free port")]
    NoFreePort,
    /// `send` on a socket that is not connected (`EDESTADDRREQ`).
    #[error("not connected")]
    NotConnected,
    /// The handle names no open socket (`EBADF`).
    #[error("bad socket handle")]
    BadHandle,
    /// The payload is over 65507 bytes, or a corked datagram would be, or ICMP fragmentation
    /// needed came back about a datagram sent with DF (`EMSGSIZE`).
    #[error("message too long")]
    TooLong,
    /// Corked data waits for another destination (`EINVAL`).
    #[error("corked data is for another destination")]
    CorkedElsewhere,
    /// ICMP port unreachable came back (`ECONNREFUSED`).
    #[error("connection refused")]
    ConnectionRefused,
    /// An ICMP destination unreachable that is not transient came back: protocol
    /// unreachable, net or host unknown, administratively prohibited and the like (net and
    /// host unreachable are soft and never reported).
    #[error("destination unreachable: {0:?}")]
    Unreachable(DstUnreachable),
    /// ICMP parameter problem came back: a router or the peer found a bad header in one of
    /// our datagrams (`EPROTO`).
    #[error("protocol error")]
    ProtocolError,
    /// A send to a broadcast address on a socket without `SO_BROADCAST` (`EACCES`).
    #[error("broadcast not permitted on this socket")]
    BroadcastDenied,
    /// A membership asked for an address that is not a multicast group, or a multicast
    /// option got a value out of its range (`EINVAL`).
    #[error("invalid argument")]
    InvalidArgument,
    /// No interface for a membership: none with that index or address, or no route to the
    /// group (`ENODEV`).
    #[error("no such device")]
    NoDevice,
    /// The socket holds [`MAX_MEMBERSHIPS`] memberships already (`ENOBUFS`,
    /// `igmp_max_memberships`).
    #[error("too many memberships")]
    TooManyMemberships,
    /// IP output refused the datagram.
    #[error(transparent)]
    Send(#[from] SendError),
}

/// What a socket is given before it binds ([`Stack::udp_bind_with`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UdpBindOptions {
    /// `SO_REUSEADDR`: the socket may share its port with sockets whose addresses overlap
    /// (both on 0.0.0.0, or one on 0.0.0.0 and one on a specific address) when every one of
    /// them set it. Broadcasts then reach each of them; a unicast datagram still goes to the
    /// single best match.
    pub reuse_addr: bool,
}

/// Per-socket counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UdpSocketStats {
    /// Datagrams queued for the reader.
    pub received: u64,
    /// Datagrams dropped because the queue was full (`ss -u` "drops").
    pub drops: u64,
    /// Datagrams sent.
    pub sent: u64,
}

struct Datagram {
    from: SocketAddrV4,
    pkt: PacketBuf,
}

impl Datagram {
    /// Copies the payload into `buf`, cut to its length; returns the bytes copied.
    fn copy_to(&self, buf: &mut [u8]) -> usize {
        let mut n = 0;
        for chunk in std::iter::once(self.pkt.data()).chain(self.pkt.frags()) {
            let take = chunk.len().min(buf.len() - n);
            buf[n..n + take].copy_from_slice(&chunk[..take]);
            n += take;
        }
        n
    }
}

struct Cork {
    dst: SocketAddrV4,
    data: Vec<u8>,
}

struct UdpSocket {
    local: SocketAddrV4,
    remote: Option<SocketAddrV4>,
    /// The IPv4 identification of the next datagram while connected (Linux `inet_id`),
    /// seeded by `udp_connect`.
    ip_id: u16,
    rx: VecDeque<Datagram>,
    rcvbuf: usize,
    /// `SO_REUSEADDR`.
    reuse_addr: bool,
    corked: bool,
    cork: Option<Cork>,
    dont_frag: bool,
    /// `SO_BROADCAST`.
    broadcast: bool,
    /// `IP_TTL`, `IP_TOS`.
    ip: SockIp,
    /// The groups joined and their interfaces (Linux `inet_sock`'s `mc_list`).
    mc_list: Vec<(Ipv4Addr, IfIndex)>,
    /// `IP_MULTICAST_TTL`.
    mc_ttl: u8,
    /// `IP_MULTICAST_LOOP`.
    mc_loop: bool,
    /// `IP_MULTICAST_IF`: the interface datagrams to a group leave by, else the route's
    /// (Linux `inet->mc_index`).
    mc_if: Option<IfIndex>,
    /// `IP_MULTICAST_IF` by address: the source of datagrams to a group when the socket has
    /// no address of its own (Linux `inet->mc_addr`).
    mc_addr: Option<Ipv4Addr>,
    error: Option<UdpError>,
    stats: UdpSocketStats,
}

/// The UDP sockets of one stack.
#[derive(Default)]
pub(crate) struct UdpTable {
    socks: Vec<Option<UdpSocket>>,
    /// Every socket by its local port.
    by_port: PortIndex,
    /// Empty slots of `socks`: a bind takes the lowest free slot without a scan.
    vacant: FreeSlots,
    /// How many random draws the port picker made: the index of the next one in the keyed
    /// sequence (`IsnGenerator::port_random`).
    port_draws: u64,
    /// The slots taken mutably, for pollers (see [`Stack::udp_changes`]).
    changes: ChangeLog,
}

impl UdpTable {
    /// Socket `h`, writable; logs it changed (its readiness may move).
    fn get(&mut self, h: UdpHandle) -> Result<&mut UdpSocket, UdpError> {
        self.slot_mut(h.0)
            .and_then(Option::as_mut)
            .ok_or(UdpError::BadHandle)
    }

    /// Socket `h`, read-only: reading readiness must not log the socket changed.
    fn get_ref(&self, h: UdpHandle) -> Result<&UdpSocket, UdpError> {
        self.socks
            .get(h.0)
            .and_then(Option::as_ref)
            .ok_or(UdpError::BadHandle)
    }

    /// Slot `i`, writable; logs it changed. Every mutable access to a socket goes through
    /// here, so [`Stack::udp_changes`] misses none.
    fn slot_mut(&mut self, i: usize) -> Option<&mut Option<UdpSocket>> {
        let slot = self.socks.get_mut(i)?;
        self.changes.touch(i);
        Some(slot)
    }

    /// Linux `udp_lib_lport_inuse`: another socket on the port whose address overlaps
    /// `local`'s, unless both set `SO_REUSEADDR`.
    fn conflicts(&self, local: SocketAddrV4, reuse_addr: bool) -> bool {
        self.by_port
            .get(local.port())
            .iter()
            .filter_map(|&i| self.socks[i].as_ref())
            .any(|s| {
                (s.local.ip().is_unspecified()
                    || local.ip().is_unspecified()
                    || s.local.ip() == local.ip())
                    && !(s.reuse_addr && reuse_addr)
            })
    }

    /// `__udp4_lib_lookup`: the best-scoring socket for a datagram. Among equals (sockets
    /// sharing the port with `SO_REUSEADDR`) the last bound wins, as Linux adds each to the
    /// head of its hash chain and keeps the first best.
    fn lookup(&self, saddr: Ipv4Addr, sport: u16, daddr: Ipv4Addr, dport: u16) -> Option<usize> {
        let mut best: Option<(u32, usize)> = None;
        for &i in self.by_port.get(dport) {
            let Some(score) = self.socks[i]
                .as_ref()
                .and_then(|s| s.score(saddr, sport, daddr))
            else {
                continue;
            };
            if best.is_none_or(|(b, _)| score >= b) {
                best = Some((score, i));
            }
        }
        best.map(|(_, i)| i)
    }
}

impl UdpSocket {
    /// How well the socket matches a datagram from `(saddr, sport)` to `daddr` on its port
    /// (`compute_score`; `None`: not at all): a connected socket beats a bound address beats
    /// a wildcard.
    fn score(&self, saddr: Ipv4Addr, sport: u16, daddr: Ipv4Addr) -> Option<u32> {
        let mut score = 1;
        if !self.local.ip().is_unspecified() {
            if *self.local.ip() != daddr {
                return None;
            }
            score += 2;
        }
        if let Some(r) = self.remote {
            if *r.ip() != saddr || r.port() != sport {
                return None;
            }
            score += 4;
        }
        Some(score)
    }

    /// `__udp_enqueue_schedule_skb`: queues `pkt` (the payload) for the reader, or drops and
    /// counts it when the queue is over its bound.
    fn enqueue(&mut self, mib: &mut UdpMib, from: SocketAddrV4, pkt: PacketBuf) {
        // Linux drops when what is already queued is over the limit, so an empty queue takes
        // a datagram even with `SO_RCVBUF` at its least.
        if !self.rx.is_empty() && self.rx.len() >= self.rcvbuf {
            self.stats.drops += 1;
            mib.rcvbuf_errors += 1;
            mib.in_errors += 1;
            return;
        }
        self.stats.received += 1;
        self.rx.push_back(Datagram { from, pkt });
        mib.in_datagrams += 1;
    }
}

impl Stack {
    /// Opens a UDP socket bound to `local` (`socket` + `bind`). Port 0 picks a free
    /// ephemeral port, searching from a random one (RFC 6056, Linux `udp_lib_get_port`);
    /// address 0.0.0.0 receives on every address.
    pub fn udp_bind(&mut self, local: SocketAddrV4) -> Result<UdpHandle, UdpError> {
        self.udp_bind_with(local, UdpBindOptions::default())
    }

    /// [`Self::udp_bind`] with options set between `socket` and `bind` (`SO_REUSEADDR`).
    pub fn udp_bind_with(
        &mut self,
        local: SocketAddrV4,
        opts: UdpBindOptions,
    ) -> Result<UdpHandle, UdpError> {
        // A multicast address may be bound (`inet_bind` allows `RTN_MULTICAST`): the socket
        // then receives only what is sent to that group.
        if !local.ip().is_unspecified()
            && !local.ip().is_multicast()
            && !self.is_local_addr(*local.ip())
        {
            return Err(UdpError::AddrNotAvailable);
        }
        let mut local = local;
        if local.port() == 0 {
            let draw = self.tcp.isn.port_random(protocol::UDP, self.udp.port_draws);
            self.udp.port_draws = self.udp.port_draws.wrapping_add(1);
            let port = ephemeral::udp_ports(draw)
                .find(|&p| {
                    !self
                        .udp
                        .conflicts(SocketAddrV4::new(*local.ip(), p), opts.reuse_addr)
                })
                .ok_or(UdpError::NoFreePort)?;
            local.set_port(port);
        } else if self.udp.conflicts(local, opts.reuse_addr) {
            return Err(UdpError::AddrInUse);
        }
        let sock = UdpSocket {
            local,
            remote: None,
            ip_id: 0,
            rx: VecDeque::new(),
            rcvbuf: self.cfg.udp_rcvbuf,
            reuse_addr: opts.reuse_addr,
            corked: false,
            cork: None,
            dont_frag: false,
            broadcast: false,
            ip: SockIp::default(),
            mc_list: Vec::new(),
            mc_ttl: DEFAULT_MULTICAST_TTL,
            mc_loop: true,
            mc_if: None,
            mc_addr: None,
            error: None,
            stats: UdpSocketStats::default(),
        };
        let i = match self.udp.vacant.take(&self.udp.socks) {
            Some(i) => {
                if let Some(slot) = self.udp.slot_mut(i) {
                    *slot = Some(sock);
                }
                i
            }
            None => {
                self.udp.socks.push(Some(sock));
                let i = self.udp.socks.len() - 1;
                self.udp.changes.touch(i);
                i
            }
        };
        self.udp.by_port.insert(local.port(), i);
        Ok(UdpHandle(i))
    }

    /// The address a socket is bound to.
    pub fn udp_local_addr(&self, h: UdpHandle) -> Result<SocketAddrV4, UdpError> {
        Ok(self.udp.get_ref(h)?.local)
    }

    /// The peer a socket is connected to (`getpeername`); [`UdpError::NotConnected`] before
    /// [`Self::udp_connect`].
    pub fn udp_peer_addr(&self, h: UdpHandle) -> Result<SocketAddrV4, UdpError> {
        self.udp.get_ref(h)?.remote.ok_or(UdpError::NotConnected)
    }

    /// Connects a socket: `udp_send` goes to `remote`, only datagrams from it are received,
    /// and ICMP errors about it are reported. As Linux `__ip4_datagram_connect` does, the
    /// peer must be routable (else the route's error, counted as `OutNoRoutes`), a broadcast
    /// peer needs `SO_BROADCAST` (else [`UdpError::BroadcastDenied`]), and a socket bound to
    /// 0.0.0.0 takes the route's source as its local address: it sends from it and receives
    /// only what is addressed to it. A group as the peer is routed as a send to it is:
    /// by `IP_MULTICAST_IF` when set, from its address when set by one. A connect to 0.0.0.0
    /// is to this host (Linux `ip_route_connect`): the peer becomes the bound address, else
    /// 127.0.0.1. A failed connect changes nothing.
    pub fn udp_connect(&mut self, h: UdpHandle, remote: SocketAddrV4) -> Result<(), UdpError> {
        let rt = self.udp_route(h, *remote.ip())?;
        // 0.0.0.0 is this host (Linux `ip_route_connect`): the peer is the address it became.
        let remote = SocketAddrV4::new(rt.dst, remote.port());
        self.udp_check_broadcast(h, *remote.ip())?;
        let s = self.udp.get(h)?;
        if s.local.ip().is_unspecified() {
            s.local.set_ip(rt.src);
        }
        s.remote = Some(remote);
        let local = s.local;
        let ip_id = self.tcp.isn.ip_id_start(local, remote);
        if let Ok(s) = self.udp.get(h) {
            s.ip_id = ip_id;
        }
        Ok(())
    }

    /// Closes a socket; queued datagrams are dropped. Its memberships end as Linux's
    /// `ip_mc_drop_socket` ends them: an interface no other socket holds a group on leaves it
    /// (the report goes out on the next poll).
    pub fn udp_close(&mut self, h: UdpHandle) -> Result<(), UdpError> {
        let s = self.udp.get(h)?;
        let port = s.local.port();
        let groups = std::mem::take(&mut s.mc_list);
        for (group, ifindex) in groups {
            self.ip_mc_dec_group(ifindex, group, None);
        }
        if let Some(slot) = self.udp.slot_mut(h.0) {
            *slot = None;
            self.udp.vacant.free(h.0);
        }
        self.udp.by_port.remove(port, h.0);
        Ok(())
    }

    /// The route of a datagram from socket `h` to `dst`, for a send and for a connect alike
    /// (Linux `udp_sendmsg`, `__ip4_datagram_connect`): from the socket's address, and to a
    /// group by `IP_MULTICAST_IF` (`mc_index`) and from its address (`mc_addr`) when the
    /// socket has none. A socket bound to a group has no source address of its own (Linux
    /// `inet_bind` leaves `inet_saddr` 0 for a multicast address).
    fn udp_route(&mut self, h: UdpHandle, dst: Ipv4Addr) -> Result<OutRoute, UdpError> {
        let s = self.udp.get(h)?;
        let local = *s.local.ip();
        let mut src = (!local.is_unspecified() && !local.is_multicast()).then_some(local);
        if dst.is_multicast() {
            src = src.or(s.mc_addr);
            if let Some(ifindex) = s.mc_if {
                return Ok(self.ip_route_output_dev(dst, src, ifindex)?);
            }
        }
        Ok(self.ip_route_output(dst, src)?)
    }

    /// Sets the receive queue bound, in datagrams (`SO_RCVBUF`). An empty queue takes one
    /// datagram even when the bound is 0, as on Linux.
    pub fn udp_set_rcvbuf(&mut self, h: UdpHandle, datagrams: usize) -> Result<(), UdpError> {
        self.udp.get(h)?.rcvbuf = datagrams;
        Ok(())
    }

    /// Sets DF on sent datagrams (`IP_MTU_DISCOVER` = `IP_PMTUDISC_DO`): too big for the path
    /// MTU is then an error instead of fragments.
    pub fn udp_set_dont_fragment(&mut self, h: UdpHandle, on: bool) -> Result<(), UdpError> {
        self.udp.get(h)?.dont_frag = on;
        Ok(())
    }

    /// Allows sending to broadcast addresses (`SO_BROADCAST`, off by default).
    pub fn udp_set_broadcast(&mut self, h: UdpHandle, on: bool) -> Result<(), UdpError> {
        self.udp.get(h)?.broadcast = on;
        Ok(())
    }

    /// Whether `SO_BROADCAST` is set.
    pub fn udp_broadcast(&mut self, h: UdpHandle) -> Result<bool, UdpError> {
        Ok(self.udp.get(h)?.broadcast)
    }

    /// Linux `udp_sendmsg`: a destination whose route is `RTCF_BROADCAST` (the limited
    /// broadcast or the directed broadcast of a local prefix) needs `SO_BROADCAST`, else
    /// `EACCES`. Checked on every send, corked or not, as Linux does.
    fn udp_check_broadcast(&mut self, h: UdpHandle, dst: Ipv4Addr) -> Result<(), UdpError> {
        let allowed = self.udp.get(h)?.broadcast;
        let bcast = self.is_broadcast_addr(dst);
        if bcast && !allowed {
            return Err(UdpError::BroadcastDenied);
        }
        Ok(())
    }

    /// Sets the TTL of sent datagrams (`IP_TTL`); `None` restores the default.
    pub fn udp_set_ttl(&mut self, h: UdpHandle, ttl: Option<u8>) -> Result<(), UdpError> {
        self.udp.get(h)?.ip.ttl = ttl;
        Ok(())
    }

    /// The TTL of sent datagrams (`IP_TTL`): the one set, else the stack's default.
    pub fn udp_ttl(&mut self, h: UdpHandle) -> Result<u8, UdpError> {
        let ttl = self.udp.get(h)?.ip.ttl;
        Ok(ttl.unwrap_or(self.cfg.default_ttl))
    }

    /// What a join and a leave check first: the socket exists, and `group` is a multicast
    /// address ([`UdpError::InvalidArgument`] otherwise).
    fn udp_check_group(&self, h: UdpHandle, group: Ipv4Addr) -> Result<(), UdpError> {
        self.udp.get_ref(h)?;
        if !group.is_multicast() {
            return Err(UdpError::InvalidArgument);
        }
        Ok(())
    }

    /// Joins `group` on an interface (`IP_ADD_MEMBERSHIP`, Linux `ip_mc_join_group`): the
    /// one with index or address `on`, or for [`McInterface::Any`] (or an address of
    /// 0.0.0.0) the interface of the route to the group. The first socket to join a group on
    /// an interface makes the interface receive it and report it (IGMPv3, [`crate::igmp`]).
    /// Errors as Linux's: not a multicast address, [`UdpError::InvalidArgument`]
    /// (`EINVAL`); no such interface or no route, [`UdpError::NoDevice`] (`ENODEV`); already
    /// joined by this socket on that interface, [`UdpError::AddrInUse`] (`EADDRINUSE`); more
    /// than [`MAX_MEMBERSHIPS`], [`UdpError::TooManyMemberships`] (`ENOBUFS`).
    pub fn udp_join_multicast(
        &mut self,
        h: UdpHandle,
        group: Ipv4Addr,
        on: McInterface,
        now: Instant,
    ) -> Result<(), UdpError> {
        self.udp_check_group(h, group)?;
        let ifindex = self.ip_mc_find_dev(group, on).ok_or(UdpError::NoDevice)?;
        let s = self.udp.get(h)?;
        if s.mc_list.contains(&(group, ifindex)) {
            return Err(UdpError::AddrInUse);
        }
        if s.mc_list.len() >= MAX_MEMBERSHIPS {
            return Err(UdpError::TooManyMemberships);
        }
        s.mc_list.push((group, ifindex));
        self.ip_mc_inc_group(ifindex, group, now);
        Ok(())
    }

    /// Leaves `group` (`IP_DROP_MEMBERSHIP`, Linux `ip_mc_leave_group`): the socket's
    /// membership on the interface `on` names, or with [`McInterface::Any`] its membership of
    /// the group on any interface. The last socket to leave makes the interface leave and
    /// report it. A membership this socket does not hold is [`UdpError::AddrNotAvailable`]
    /// (`EADDRNOTAVAIL`), a non-multicast group [`UdpError::InvalidArgument`].
    pub fn udp_leave_multicast(
        &mut self,
        h: UdpHandle,
        group: Ipv4Addr,
        on: McInterface,
        now: Instant,
    ) -> Result<(), UdpError> {
        self.udp_check_group(h, group)?;
        let want = self
            .ip_mc_named_dev(group, on)
            .map_err(|()| UdpError::AddrNotAvailable)?;
        let s = self.udp.get(h)?;
        let pos = s
            .mc_list
            .iter()
            .position(|&(g, i)| g == group && want.is_none_or(|w| w == i))
            .ok_or(UdpError::AddrNotAvailable)?;
        let (_, ifindex) = s.mc_list.remove(pos);
        self.ip_mc_dec_group(ifindex, group, Some(now));
        Ok(())
    }

    /// Sets the TTL of datagrams sent to a group (`IP_MULTICAST_TTL`); `None` restores the
    /// default, 1: a group's datagrams stay on the link unless asked otherwise.
    pub fn udp_set_multicast_ttl(&mut self, h: UdpHandle, ttl: Option<u8>) -> Result<(), UdpError> {
        self.udp.get(h)?.mc_ttl = ttl.unwrap_or(DEFAULT_MULTICAST_TTL);
        Ok(())
    }

    /// The TTL of datagrams sent to a group (`IP_MULTICAST_TTL`).
    pub fn udp_multicast_ttl(&self, h: UdpHandle) -> Result<u8, UdpError> {
        Ok(self.udp.get_ref(h)?.mc_ttl)
    }

    /// Whether datagrams this socket sends to a group this host joined are also delivered
    /// here (`IP_MULTICAST_LOOP`, on by default).
    pub fn udp_set_multicast_loop(&mut self, h: UdpHandle, on: bool) -> Result<(), UdpError> {
        self.udp.get(h)?.mc_loop = on;
        Ok(())
    }

    /// `IP_MULTICAST_LOOP`.
    pub fn udp_multicast_loop(&self, h: UdpHandle) -> Result<bool, UdpError> {
        Ok(self.udp.get_ref(h)?.mc_loop)
    }

    /// The interface datagrams to a group leave by, for sends and connects
    /// (`IP_MULTICAST_IF`): the one with this index or address; [`McInterface::Any`] (or
    /// 0.0.0.0) goes back to the route's. Given by address, that address is also their source
    /// unless the socket is bound to one (Linux `inet->mc_addr`). No such interface is
    /// [`UdpError::AddrNotAvailable`], as Linux's `EADDRNOTAVAIL`.
    pub fn udp_set_multicast_if(&mut self, h: UdpHandle, on: McInterface) -> Result<(), UdpError> {
        self.udp.get_ref(h)?;
        let ifindex = self
            .ip_mc_named_dev(Ipv4Addr::UNSPECIFIED, on)
            .map_err(|()| UdpError::AddrNotAvailable)?;
        let addr = match on {
            McInterface::Addr(a) if !a.is_unspecified() => Some(a),
            _ => None,
        };
        let s = self.udp.get(h)?;
        s.mc_if = ifindex;
        s.mc_addr = addr;
        Ok(())
    }

    /// Sets the TOS byte of sent datagrams (`IP_TOS`).
    pub fn udp_set_tos(&mut self, h: UdpHandle, tos: u8) -> Result<(), UdpError> {
        self.udp.get(h)?.ip.tos = tos;
        Ok(())
    }

    /// Per-socket counters.
    pub fn udp_socket_stats(&mut self, h: UdpHandle) -> Result<UdpSocketStats, UdpError> {
        Ok(self.udp.get(h)?.stats)
    }

    /// Datagrams waiting to be read.
    pub fn udp_recv_queue_len(&self, h: UdpHandle) -> Result<usize, UdpError> {
        Ok(self.udp.get_ref(h)?.rx.len())
    }

    /// The pending error reported by ICMP, without taking it (for readiness).
    pub fn udp_error_pending(&self, h: UdpHandle) -> Result<bool, UdpError> {
        Ok(self.udp.get_ref(h)?.error.is_some())
    }

    /// Appends to `out` the handles of the UDP sockets whose receive queue or pending error
    /// may have changed since `since`, as [`Stack::tcp_changes`] does for TCP: every mutable
    /// access to a socket is logged. When [`Changes::complete`] is false the log no longer
    /// reaches back to `since`: nothing is listed and every socket must be re-checked.
    pub fn udp_changes(&mut self, since: ChangeGen, out: &mut Vec<UdpHandle>) -> Changes {
        self.udp.changes.since(since, |i| out.push(UdpHandle(i)))
    }

    /// Takes the pending error reported by ICMP (`SO_ERROR`).
    pub fn udp_take_error(&mut self, h: UdpHandle) -> Result<Option<UdpError>, UdpError> {
        Ok(self.udp.get(h)?.error.take())
    }

    /// Corks or uncorks a socket (`UDP_CORK`). Uncorking sends what was appended as one
    /// datagram.
    pub fn udp_set_cork(&mut self, h: UdpHandle, on: bool, now: Instant) -> Result<(), UdpError> {
        let s = self.udp.get(h)?;
        s.corked = on;
        if on {
            return Ok(());
        }
        match s.cork.take() {
            Some(c) => self.udp_push(h, c.dst, &c.data, now).map(|_| ()),
            None => Ok(()),
        }
    }

    /// Sends `data` to `dst` (`sendto`). Returns the bytes taken. On a corked socket the data
    /// is appended to the pending datagram instead. To 0.0.0.0 is to this host, as on Linux
    /// (see [`Self::udp_connect`]).
    pub fn udp_send_to(
        &mut self,
        h: UdpHandle,
        data: &[u8],
        dst: SocketAddrV4,
        now: Instant,
    ) -> Result<usize, UdpError> {
        self.udp_check_broadcast(h, *dst.ip())?;
        let s = self.udp.get(h)?;
        if s.corked {
            let c = s.cork.get_or_insert_with(|| Cork {
                dst,
                data: Vec::new(),
            });
            if c.dst != dst {
                return Err(UdpError::CorkedElsewhere);
            }
            if c.data.len() + data.len() > MAX_UDP_PAYLOAD {
                return Err(UdpError::TooLong);
            }
            c.data.extend_from_slice(data);
            return Ok(data.len());
        }
        self.udp_push(h, dst, data, now)
    }

    /// Sends to the connected peer (`send`).
    pub fn udp_send(&mut self, h: UdpHandle, data: &[u8], now: Instant) -> Result<usize, UdpError> {
        let dst = self.udp.get(h)?.remote.ok_or(UdpError::NotConnected)?;
        self.udp_send_to(h, data, dst, now)
    }

    /// Receives one datagram into `buf` (`recvfrom`): returns the bytes copied (a longer
    /// datagram is cut, as without `MSG_TRUNC`) and the sender. A pending ICMP error is
    /// taken and returned first, before any queued datagram.
    pub fn udp_recv_from(
        &mut self,
        h: UdpHandle,
        buf: &mut [u8],
    ) -> Result<(usize, SocketAddrV4), UdpError> {
        self.udp_take(h, buf, false)
    }

    /// [`Self::udp_recv_from`] leaving the datagram queued (`MSG_PEEK`): the next receive
    /// gets it again. A pending ICMP error is taken and returned first, as Linux's
    /// `__skb_recv_udp` does with `MSG_PEEK` too.
    pub fn udp_peek_from(
        &mut self,
        h: UdpHandle,
        buf: &mut [u8],
    ) -> Result<(usize, SocketAddrV4), UdpError> {
        self.udp_take(h, buf, true)
    }

    /// The oldest datagram, copied into `buf`, and dequeued unless `peek`. Linux
    /// `__skb_recv_udp` checks `sock_error` (taking `sk_err`) before the queue, with or
    /// without `MSG_PEEK`.
    fn udp_take(
        &mut self,
        h: UdpHandle,
        buf: &mut [u8],
        peek: bool,
    ) -> Result<(usize, SocketAddrV4), UdpError> {
        let s = self.udp.get(h)?;
        if let Some(e) = s.error.take() {
            return Err(e);
        }
        let d = s.rx.front().ok_or(UdpError::WouldBlock)?;
        let got = (d.copy_to(buf), d.from);
        if !peek {
            s.rx.pop_front();
        }
        Ok(got)
    }

    /// `udp_sendmsg` → `udp_send_skb`: builds the datagram and hands it to IP output. The
    /// checksum is left to the device (`CHECKSUM_PARTIAL`) when it offers TX checksums and the
    /// datagram will not be fragmented.
    fn udp_push(
        &mut self,
        h: UdpHandle,
        dst: SocketAddrV4,
        data: &[u8],
        now: Instant,
    ) -> Result<usize, UdpError> {
        self.udp_push_seg(h, dst, data, 0, now)
    }

    /// Sends `data` as datagrams of `segment` bytes each (the last may be shorter) in one
    /// call (`UDP_SEGMENT`): the stack carries a single super-packet down to the device,
    /// which cuts it if it can (`gso_udp`) and software GSO does otherwise. Every segment must
    /// fit the path MTU; at most [`MAX_GSO_SEGMENTS`] segments.
    pub fn udp_send_to_segmented(
        &mut self,
        h: UdpHandle,
        data: &[u8],
        dst: SocketAddrV4,
        segment: usize,
        now: Instant,
    ) -> Result<usize, UdpError> {
        if segment == 0 || data.len().div_ceil(segment) > MAX_GSO_SEGMENTS {
            return Err(UdpError::TooLong);
        }
        self.udp_check_broadcast(h, *dst.ip())?;
        if data.len() <= segment {
            return self.udp_push(h, dst, data, now);
        }
        self.udp_push_seg(h, dst, data, segment, now)
    }

    fn udp_push_seg(
        &mut self,
        h: UdpHandle,
        dst: SocketAddrV4,
        data: &[u8],
        segment: usize,
        now: Instant,
    ) -> Result<usize, UdpError> {
        // A super-packet to this host is sent as its datagrams, each one checked on its own,
        // so its total is checked only once the route has said it leaves the host.
        let too_long = data.len() > MAX_UDP_PAYLOAD;
        if too_long && segment == 0 {
            return Err(UdpError::TooLong);
        }
        let s = self.udp.get(h)?;
        let (local, df, ip) = (s.local, s.dont_frag, s.ip);
        let (mc_ttl, mc_loop) = (s.mc_ttl, s.mc_loop);
        let group = dst.ip().is_multicast();
        let rt = self.udp_route(h, *dst.ip())?;
        if segment != 0 && rt.local {
            // Loopback has no device to cut the super-packet: send the datagrams one by one.
            for chunk in data.chunks(segment) {
                self.udp_push(h, dst, chunk, now)?;
            }
            return Ok(data.len());
        }
        if too_long {
            return Err(UdpError::TooLong);
        }
        // To 0.0.0.0 is to this host (Linux `udp_sendmsg` takes the route's `daddr`).
        let dst = SocketAddrV4::new(rt.dst, dst.port());
        let total = UdpRepr::HEADER_LEN + data.len();
        let link = self.link_mtu(rt.nh.ifindex).unwrap_or(0);
        let mtu = self.pmtu.path_mtu(*dst.ip(), link, now);
        let tx_csum = self
            .iface(rt.nh.ifindex)
            .is_some_and(|i| i.dev.caps().tx_csum);
        if segment != 0 {
            let seg_mtu = Ipv4Repr::MIN_LEN + UdpRepr::HEADER_LEN + segment;
            if seg_mtu > mtu {
                return Err(SendError::MessageTooBig { mtu }.into());
            }
        }
        let offload = tx_csum && !rt.local && segment == 0 && Ipv4Repr::MIN_LEN + total <= mtu;
        let mode = if offload {
            ChecksumMode::Offloaded
        } else {
            ChecksumMode::Software
        };
        let mut pkt = self.alloc(total);
        pkt.put_slice(data).map_err(|_| SendError::NoBuffers)?;
        let buf = pkt
            .push(UdpRepr::HEADER_LEN)
            .map_err(|_| SendError::NoBuffers)?;
        let _ = buf;
        let d = pkt.data_mut().map_err(|_| SendError::NoBuffers)?;
        UdpRepr {
            src_port: local.port(),
            dst_port: dst.port(),
        }
        .emit(d, data.len(), rt.src, *dst.ip(), mode)
        .map_err(|_| SendError::NoBuffers)?;
        if offload {
            pkt.meta.csum = ChecksumState::Partial {
                start: 0,
                offset: 6,
            };
        }
        if segment != 0 {
            pkt.meta.gso_size = segment as u16;
            pkt.meta.gso_segs = data.len().div_ceil(segment) as u16;
        }
        pkt.set_transport_header();
        // A connected socket numbers its datagrams itself, whatever their destination (Linux
        // `ip_select_ident_segs` takes `inet_id` whenever the socket has a peer).
        let ident = match self.udp.get(h) {
            Ok(s) if s.remote.is_some() => {
                let id = s.ip_id;
                s.ip_id = id.wrapping_add(pkt.meta.gso_segs.max(1));
                Some(id)
            }
            _ => None,
        };
        let mut p = ip.params(protocol::UDP, df, ident, self.cfg.default_ttl);
        if group {
            // `ip_select_ttl`/`ip_mc_output`: a group's datagrams take `IP_MULTICAST_TTL`, not
            // `IP_TTL`, and loop back under `IP_MULTICAST_LOOP`.
            p.ttl = mc_ttl;
            p.mc_loop = mc_loop;
        }
        match self.ip_local_out(pkt, &rt, p, now) {
            // A datagram the qdisc refused is lost like one lost on the wire: as Linux does
            // for a socket without `IP_RECVERR`, the send succeeds (the qdisc counted the
            // drop) but the datagram is not counted as sent.
            Err(SendError::QueueFull) => return Ok(data.len()),
            Err(e) => return Err(e.into()),
            Ok(()) => {}
        }
        self.snmp.udp.out_datagrams += 1;
        if let Ok(s) = self.udp.get(h) {
            s.stats.sent += 1;
        }
        Ok(data.len())
    }

    /// `udp_rcv`: `pkt` starts at the UDP header.
    pub(crate) fn udp_rcv(
        &mut self,
        ifindex: IfIndex,
        mut pkt: PacketBuf,
        hdr: &Ipv4Repr,
        now: Instant,
    ) {
        if pkt.nr_frags() > 0 && pkt.linearize().is_err() {
            self.snmp.udp.in_errors += 1;
            return;
        }
        // Linux `udp_rcv` trims the packet to the UDP length (`pskb_trim_rcsum`) before
        // `udp4_csum_init`: a device's complete sum over bytes past that length says nothing
        // about the datagram. A length under the header is left for the parser to refuse.
        let ulen = pkt
            .data()
            .get(4..6)
            .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])));
        if let Some(l) = ulen.filter(|&l| l >= 8 && l < pkt.len()) {
            let _ = pkt.trim_rcsum(l);
        }
        let mode = l4_checksum_mode(&pkt, hdr);
        let (repr, payload_len) = match UdpRepr::parse(pkt.data(), hdr.src, hdr.dst, mode) {
            Ok((r, p)) => (r, p.len()),
            Err(e) => {
                self.snmp.udp.in_errors += 1;
                if is_csum_error(&e) {
                    self.snmp.udp.in_csum_errors += 1;
                }
                return;
            }
        };
        let Some(i) = self
            .udp
            .lookup(hdr.src, repr.src_port, hdr.dst, repr.dst_port)
        else {
            if hdr.dst.is_multicast() || self.is_broadcast_addr(hdr.dst) {
                // `__udp4_lib_mcast_deliver` with no socket: IgnoredMulti, no ICMP error.
                self.snmp.udp.ignored_multi += 1;
                return;
            }
            self.snmp.udp.no_ports += 1;
            self.icmp_send(
                &pkt,
                IcmpError::DstUnreachable(DstUnreachable::PortUnreachable),
                Some(ifindex),
                now,
            );
            return;
        };
        if pkt.pull(UdpRepr::HEADER_LEN).is_err() || pkt.trim(payload_len).is_err() {
            self.snmp.udp.in_errors += 1;
            return;
        }
        let from = SocketAddrV4::new(hdr.src, repr.src_port);
        let to_many = hdr.dst.is_multicast() || self.is_broadcast_addr(hdr.dst);
        let mib = &mut self.snmp.udp;
        if to_many {
            // `__udp4_lib_mcast_deliver`: a copy (sharing the bytes) for every matching socket.
            let UdpTable {
                socks,
                by_port,
                changes,
                ..
            } = &mut self.udp;
            for &j in by_port.get(repr.dst_port) {
                if let Some(s) = socks.get_mut(j).and_then(Option::as_mut) {
                    if s.score(hdr.src, repr.src_port, hdr.dst).is_some() {
                        changes.touch(j);
                        s.enqueue(mib, from, pkt.clone());
                    }
                }
            }
            return;
        }
        if let Some(s) = self.udp.slot_mut(i).and_then(Option::as_mut) {
            s.enqueue(mib, from, pkt);
        }
    }

    /// `__udp4_lib_err`: an ICMP error about a datagram we sent from `(header.src, sport)` to
    /// `(header.dst, dport)` is reported on the connected socket it concerns when it is hard
    /// ([`udp_hard_error`]). oxnic has no `IP_RECVERR`, so, as Linux without it, a soft one
    /// reaches no socket: ICMP has counted it and queued it as an [`crate::icmp::IcmpEvent`].
    /// A fragmentation needed teaches the path MTU only when a socket, connected or not,
    /// sent what it quotes (`ipv4_sk_update_pmtu` after the lookup): a forged one quoting
    /// nobody's datagram changes nothing. Returns whether a socket sent what it quotes (Linux
    /// counts one that concerns no socket in ICMP's InErrors).
    pub(crate) fn udp_err(
        &mut self,
        header: &Ipv4Repr,
        ports: Option<(u16, u16)>,
        err: IcmpError,
        now: Instant,
    ) -> bool {
        let Some((sport, dport)) = ports else {
            return false;
        };
        let Some(i) = self.udp.lookup(header.dst, dport, header.src, sport) else {
            return false;
        };
        if let IcmpError::FragNeeded(mtu) = err {
            self.pmtu_learn(header.dst, mtu, now);
        }
        let Some(s) = self.udp.slot_mut(i).and_then(Option::as_mut) else {
            return true;
        };
        if s.remote.is_none() {
            return true;
        }
        if let Some(e) = udp_hard_error(err, s.dont_frag) {
            s.error = Some(e);
        }
        true
    }
}

/// The error a connected UDP socket reports for ICMP error `err`, or `None` when the error is
/// soft, as Linux `__udp4_lib_err` decides without `IP_RECVERR`:
/// - destination unreachable is hard where `icmp_err_convert` says `fatal`: not for net or
///   host unreachable (also for a TOS) or source route failed, which RFC 1122 3.2.2.1 calls
///   transient; port unreachable is `ECONNREFUSED`;
/// - fragmentation needed is `EMSGSIZE` for a socket doing path MTU discovery (DF set,
///   `pmtu_discovery`); for one whose datagrams may be fragmented it is nothing (the path
///   MTU was learnt before this);
/// - time exceeded is soft; parameter problem is hard (`EPROTO`).
fn udp_hard_error(err: IcmpError, pmtu_discovery: bool) -> Option<UdpError> {
    use DstUnreachable as U;
    match err {
        IcmpError::FragNeeded(_) | IcmpError::DstUnreachable(U::FragRequired) => {
            pmtu_discovery.then_some(UdpError::TooLong)
        }
        IcmpError::DstUnreachable(U::PortUnreachable) => Some(UdpError::ConnectionRefused),
        IcmpError::DstUnreachable(
            U::NetUnreachable
            | U::HostUnreachable
            | U::SrcRouteFailed
            | U::NetUnreachToS
            | U::HostUnreachToS,
        ) => None,
        IcmpError::DstUnreachable(r) => Some(UdpError::Unreachable(r)),
        IcmpError::TimeExceeded(_) => None,
        IcmpError::ParamProblem(_) => Some(UdpError::ProtocolError),
    }
}
