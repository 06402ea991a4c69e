//! The stack: one network namespace's worth of interfaces, routes, hooks, sockets and
//! counters, joined along the Linux packet path.
//!
//! Sans-IO: every entry point takes `now`; the stack reads no clock and starts no thread.
//! The runtime drives it like this (one stack per poller thread; `Stack` is `Send`):
//!
//! ```
//! use oxnic_stack::time::Instant;
//! use oxnic_stack::wire::ethernet::EthernetAddress;
//! use oxnic_stack::{DeviceCaps, IfaceConfig, Stack, StackConfig};
//! use std::net::{Ipv4Addr, SocketAddrV4};
//!
//! let mut stack = Stack::new(StackConfig::default());
//! let mac = EthernetAddress([2, 0, 0, 0, 0, 1]);
//! let eth0 = stack.add_interface(IfaceConfig::new("eth0", mac, DeviceCaps::all_offloads(1500)));
//! let now = Instant::from_millis(1);
//! // Connected route 10.0.0.0/24 and a gratuitous ARP come with the address.
//! stack.add_address(eth0, Ipv4Addr::new(10, 0, 0, 1), 24, now).unwrap();
//! let sock = stack.udp_bind(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 5000)).unwrap();
//! stack.udp_send_to(sock, b"hi", SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 7), now).unwrap();
//! // Frames for the card: the gratuitous ARP, then the ARP request the datagram waits on.
//! let dev = stack.device_mut(eth0).unwrap();
//! let mut sent = 0;
//! while let Some(frame) = dev.pop_tx() {
//!     // frame.meta.csum / frame.meta.gso_size carry the offload requests.
//!     sent += 1;
//! }
//! assert_eq!(sent, 2);
//! // Received frames go in with their metadata, then `poll` runs the RX path and timers:
//! // stack.device_mut(eth0).unwrap().push_rx(frame);
//! stack.poll(now);
//! // and `poll_at` says when to come back if nothing arrives before.
//! assert!(stack.poll_at(now).is_some());
//! ```
//!
//! The path itself lives in modules named after their Linux counterparts: [`crate::dev`]
//! (`netif_receive_skb`, `dev_queue_xmit`), [`crate::arp`], [`crate::ip_input`] (`ip_rcv`,
//! `ip_local_deliver`), [`crate::ip_forward`], [`crate::ip_output`] (`ip_local_out`,
//! `ip_finish_output`, `ip_fragment`), [`crate::icmp`], [`crate::udp`].

use crate::device::{DeviceCaps, NetDevice};
use crate::frag::{DefragParams, FragOutStats, PmtuCache, PmtuParams, Reassembler};
use crate::hooks::Hooks;
use crate::icmp::IcmpEvent;
use crate::icmp_limit::{IcmpLimitParams, IcmpRateLimiter};
use crate::iface::{IfaceConfig, Interface};
use crate::loopback::{is_loopback, LOOPBACK_BROADCAST, LOOPBACK_IFINDEX, LOOPBACK_MTU};
use crate::neigh::NeighParams;
use crate::packet_tap::Taps;
use crate::pktbuf::{PacketBuf, PacketPool};
use crate::qdisc::{PfifoFast, Qdisc};
use crate::route::{Fib, IfIndex, Prefix, Route, RouteError};
use crate::snmp::Snmp;
use crate::time::Instant;
use crate::udp::UdpTable;
use crate::xdp::XdpProg;
use std::collections::VecDeque;
use std::net::Ipv4Addr;

/// Room kept in front of every locally built packet: Ethernet + VLAN + the largest IPv4
/// header + a TCP header with options, rounded up (Linux `MAX_HEADER` plus slack).
pub const MAX_HEADER: usize = 128;

/// Size of a super-packet buffer: the largest IPv4 packet plus link-layer headroom.
const BIG_BUF_SIZE: usize = 65_536 + MAX_HEADER;

/// Super-packet buffers a stack keeps at most (more in use at once come from the heap).
const BIG_POOL_COUNT: usize = 64;

/// Size of a buffer for the headers of a software-GSO segment whose payload it shares as a
/// fragment: segment headroom, Ethernet with a VLAN tag, IPv4 and TCP with full options. Only
/// headers too long for a segment's inline head ([`crate::pktbuf::INLINE_HEAD`]: more than 42
/// bytes of IPv4 and TCP options together, 38 with a VLAN tag) take one.
const GSO_HDR_BUF_SIZE: usize = 256;

/// Header-only GSO segment buffers a stack keeps at most: a 4 MiB window in 1448-byte
/// segments is about 2,900 in flight at once (more come from the heap).
const GSO_HDR_POOL_COUNT: usize = 8192;

/// Stack-wide settings (the `net.ipv4.*` sysctls that matter here).
#[derive(Debug, Clone)]
pub struct StackConfig {
    /// Forward packets not addressed to us (`ip_forward`).
    pub forwarding: bool,
    /// TTL of locally generated packets (`ip_default_ttl`, 64).
    pub default_ttl: u8,
    /// Frames taken from each device per poll (the NAPI budget, 64).
    pub rx_budget: usize,
    /// Reassembly limits.
    pub defrag: DefragParams,
    /// PMTU cache settings.
    pub pmtu: PmtuParams,
    /// ICMP error rate limits.
    pub icmp_limit: IcmpLimitParams,
    /// Neighbour table settings, used for every new interface.
    pub neigh: NeighParams,
    /// Datagrams a UDP socket's receive queue holds by default (`SO_RCVBUF` in packets).
    pub udp_rcvbuf: usize,
    /// TCP settings.
    pub tcp: crate::tcp::TcpConfig,
    /// ICMP messages (echo replies, errors) kept for [`Stack::icmp_events`].
    pub icmp_event_queue: usize,
    /// Most buffers in the stack's packet pool (made as they are first needed; past them the
    /// stack allocates from the heap).
    pub pool_count: usize,
    /// Size of each pool buffer.
    pub pool_buf_size: usize,
    /// Answer echo requests sent to a broadcast or multicast address (224.0.0.1 among them)
    /// from the interface's address (`icmp_echo_ignore_broadcasts` inverted; off by default
    /// as in Linux). Other ICMP messages to such an address are always dropped.
    pub icmp_echo_broadcasts: bool,
}

impl Default for StackConfig {
    fn default() -> Self {
        StackConfig {
            forwarding: false,
            default_ttl: 64,
            rx_budget: 64,
            defrag: DefragParams::default(),
            pmtu: PmtuParams::default(),
            icmp_limit: IcmpLimitParams::default(),
            neigh: NeighParams::default(),
            udp_rcvbuf: 256,
            tcp: crate::tcp::TcpConfig::default(),
            icmp_event_queue: 256,
            pool_count: 1024,
            pool_buf_size: 2048,
            icmp_echo_broadcasts: false,
        }
    }
}

/// Why a configuration call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StackError {
    /// No interface has this index.
    #[error("no interface with index {0}")]
    NoSuchInterface(IfIndex),
    /// The address is already on the interface.
    #[error("address {0} already assigned")]
    AddressExists(Ipv4Addr),
    /// The address is not on the interface.
    #[error("address {0} not assigned")]
    NoSuchAddress(Ipv4Addr),
    /// The route could not be changed.
    #[error(transparent)]
    Route(#[from] RouteError),
}

/// One network stack.
pub struct Stack {
    pub(crate) cfg: StackConfig,
    pub(crate) ifaces: Vec<Interface>,
    pub(crate) fib: Fib,
    pub(crate) hooks: Hooks<PacketBuf>,
    pub(crate) reasm: Reassembler,
    pub(crate) pmtu: PmtuCache,
    pub(crate) icmp_limit: IcmpRateLimiter,
    pub(crate) frag_out: FragOutStats,
    pub(crate) snmp: Snmp,
    pub(crate) udp: UdpTable,
    pub(crate) tcp: crate::tcp::TcpTable,
    pub(crate) taps: Taps,
    /// Buffers for the packets the stack builds (headers of TCP segments, ACKs, UDP
    /// datagrams), made on first use and recycled: a lazy pool, so a thread that builds and
    /// frees them takes them from its magazine without the pool's lock (without GSO, one per
    /// segment sent). Not a device ring: a queue may keep them like any buffer.
    pub(crate) pool: PacketPool,
    /// Buffers for TCP super-packets (too big for `pool`), made on first use and recycled, so
    /// a GSO send neither allocates nor zero-fills 64 KB per packet.
    pub(crate) big_pool: PacketPool,
    /// Buffers for the headers of software-GSO segments (their payload is a fragment of the
    /// super-packet's), made on first use and recycled: a window's worth of segments in
    /// flight would otherwise hold as many 2 KB buffers of `pool`, run it dry and send the
    /// rest to the heap.
    pub(crate) gso_hdr_pool: PacketPool,
    /// Reused by software GSO for the segments of one super-packet.
    pub(crate) gso_scratch: Vec<PacketBuf>,
    pub(crate) icmp_events: VecDeque<IcmpEvent>,
    /// Identification counters of datagrams no socket numbers ([`Stack::select_ident`]).
    pub(crate) ip_idents: Box<[u16; crate::ip_output::IP_IDENTS]>,
    /// Datagrams sent to this host, waiting to go into input (Linux's backlog, which
    /// `loopback_xmit` feeds through `__netif_rx`), with the interface they come in on.
    pub(crate) loopback_backlog: VecDeque<(IfIndex, PacketBuf)>,
    /// A loopback is delivering the backlog: one sent meanwhile only joins it.
    pub(crate) loopback_draining: bool,
    /// IGMP reports waiting for their time.
    pub(crate) igmp: crate::igmp::Igmp,
}

impl core::fmt::Debug for Stack {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Stack")
            .field("ifaces", &self.ifaces)
            .field("routes", &self.fib.len())
            .field("snmp", &self.snmp())
            .finish_non_exhaustive()
    }
}

impl Stack {
    /// A stack with no interfaces.
    pub fn new(cfg: StackConfig) -> Self {
        Stack {
            fib: Fib::new(),
            hooks: Hooks::new(),
            reasm: Reassembler::new(cfg.defrag.clone()),
            pmtu: PmtuCache::new(cfg.pmtu.clone()),
            icmp_limit: IcmpRateLimiter::new(cfg.icmp_limit.clone()),
            frag_out: FragOutStats::default(),
            snmp: Snmp::default(),
            udp: UdpTable::default(),
            tcp: crate::tcp::TcpTable::new(cfg.tcp.clone()),
            taps: Taps::default(),
            pool: PacketPool::lazy(cfg.pool_count, cfg.pool_buf_size),
            big_pool: PacketPool::lazy(BIG_POOL_COUNT, BIG_BUF_SIZE),
            gso_hdr_pool: PacketPool::lazy(GSO_HDR_POOL_COUNT, GSO_HDR_BUF_SIZE),
            gso_scratch: Vec::new(),
            icmp_events: VecDeque::new(),
            ip_idents: Box::new([0; crate::ip_output::IP_IDENTS]),
            loopback_backlog: VecDeque::new(),
            loopback_draining: false,
            igmp: crate::igmp::Igmp::default(),
            ifaces: Vec::new(),
            cfg,
        }
    }

    /// The settings.
    pub fn config(&self) -> &StackConfig {
        &self.cfg
    }

    /// Turns forwarding on or off (`sysctl net.ipv4.ip_forward`).
    pub fn set_forwarding(&mut self, on: bool) {
        self.cfg.forwarding = on;
    }

    /// Adds an interface bound to a device with `cfg.caps`; returns its index (from 1, like
    /// Linux ifindex). It starts with no address and the default qdisc (pfifo_fast).
    pub fn add_interface(&mut self, cfg: IfaceConfig) -> IfIndex {
        let index = self.ifaces.len() as IfIndex + 1;
        self.ifaces
            .push(Interface::new(index, cfg, self.cfg.neigh.clone()));
        index
    }

    pub(crate) fn iface(&self, ifindex: IfIndex) -> Option<&Interface> {
        let i = usize::try_from(ifindex).ok()?.checked_sub(1)?;
        self.ifaces.get(i)
    }

    pub(crate) fn iface_mut(&mut self, ifindex: IfIndex) -> Option<&mut Interface> {
        let i = usize::try_from(ifindex).ok()?.checked_sub(1)?;
        self.ifaces.get_mut(i)
    }

    /// The interface `ifindex`, for inspection (addresses, counters, neighbours, qdisc).
    pub fn interface(&self, ifindex: IfIndex) -> Option<&Interface> {
        self.iface(ifindex)
    }

    /// The interface `ifindex`, to tune it (e.g. `neigh_mut().add_permanent(..)`; packets
    /// that entry releases leave on the next poll).
    pub fn interface_mut(&mut self, ifindex: IfIndex) -> Option<&mut Interface> {
        self.iface_mut(ifindex)
    }

    /// Indexes of all interfaces.
    pub fn interfaces(&self) -> impl Iterator<Item = IfIndex> + '_ {
        self.ifaces.iter().map(|i| i.index)
    }

    /// The device queues of `ifindex`: push received frames, pop frames to transmit.
    pub fn device_mut(&mut self, ifindex: IfIndex) -> Option<&mut NetDevice> {
        self.iface_mut(ifindex).map(|i| &mut i.dev)
    }

    /// The device capabilities of `ifindex`.
    pub fn device_caps(&self, ifindex: IfIndex) -> Option<DeviceCaps> {
        self.iface(ifindex).map(|i| *i.dev.caps())
    }

    /// Assigns `addr/prefix_len` to `ifindex` (`ip addr add`): adds the connected route for
    /// the prefix (unless another address already brought it) and announces the address with a
    /// gratuitous ARP.
    pub fn add_address(
        &mut self,
        ifindex: IfIndex,
        addr: Ipv4Addr,
        prefix_len: u8,
        now: Instant,
    ) -> Result<(), StackError> {
        let net = Prefix::new(mask(addr, prefix_len), prefix_len)?;
        let iface = self
            .iface_mut(ifindex)
            .ok_or(StackError::NoSuchInterface(ifindex))?;
        if iface.addrs.iter().any(|a| a.0 == addr) {
            return Err(StackError::AddressExists(addr));
        }
        iface.addrs.push((addr, prefix_len));
        match self.fib.add(Route::connected(net, ifindex)) {
            Ok(()) | Err(RouteError::Exists { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        self.arp_send_gratuitous(ifindex, addr, now);
        Ok(())
    }

    /// Removes an address and, when no other address on the interface shares its prefix,
    /// its connected route.
    pub fn remove_address(&mut self, ifindex: IfIndex, addr: Ipv4Addr) -> Result<(), StackError> {
        let iface = self
            .iface_mut(ifindex)
            .ok_or(StackError::NoSuchInterface(ifindex))?;
        let pos = iface
            .addrs
            .iter()
            .position(|a| a.0 == addr)
            .ok_or(StackError::NoSuchAddress(addr))?;
        let (_, len) = iface.addrs.remove(pos);
        let net = mask(addr, len);
        let shared = iface
            .addrs
            .iter()
            .any(|&(a, l)| l == len && mask(a, l) == net);
        if !shared {
            let _ = self.fib.remove(Prefix::new(net, len)?, Some(0));
        }
        Ok(())
    }

    /// The routing table, to add static, default and reject routes.
    pub fn routes_mut(&mut self) -> &mut Fib {
        &mut self.fib
    }

    /// The routing table.
    pub fn routes(&self) -> &Fib {
        &self.fib
    }

    /// The netfilter hook lists, to register hooks at the five points.
    pub fn hooks_mut(&mut self) -> &mut Hooks<PacketBuf> {
        &mut self.hooks
    }

    /// The hook lists, for their counters.
    pub fn hooks(&self) -> &Hooks<PacketBuf> {
        &self.hooks
    }

    /// Attaches (or with `None` detaches) the early RX program of `ifindex`.
    pub fn set_xdp(&mut self, ifindex: IfIndex, prog: Option<XdpProg>) -> Result<(), StackError> {
        self.iface_mut(ifindex)
            .ok_or(StackError::NoSuchInterface(ifindex))?
            .xdp = prog;
        Ok(())
    }

    /// Replaces the qdisc of `ifindex` (`tc qdisc replace`); packets queued in the old one are
    /// dropped with it.
    pub fn set_qdisc(
        &mut self,
        ifindex: IfIndex,
        qdisc: Box<dyn Qdisc<PacketBuf> + Send>,
    ) -> Result<(), StackError> {
        self.iface_mut(ifindex)
            .ok_or(StackError::NoSuchInterface(ifindex))?
            .qdisc = qdisc;
        Ok(())
    }

    /// Restores the default qdisc of `ifindex`.
    pub fn reset_qdisc(&mut self, ifindex: IfIndex) -> Result<(), StackError> {
        self.set_qdisc(ifindex, Box::new(PfifoFast::default()))
    }

    /// Turns software GRO on `ifindex` on or off (`ethtool -K gro`).
    pub fn set_gro(&mut self, ifindex: IfIndex, on: bool) -> Result<(), StackError> {
        self.iface_mut(ifindex)
            .ok_or(StackError::NoSuchInterface(ifindex))?
            .gro_enabled = on;
        Ok(())
    }

    /// IP datagrams received so far (`InReceives`), cheaply: a caller sees whether a call
    /// looped datagrams back into input (and so may have changed other sockets).
    pub fn ip_in_receives(&self) -> u64 {
        self.snmp.ip.in_receives
    }

    /// Counters like `/proc/net/snmp`.
    pub fn snmp(&self) -> Snmp {
        let mut s = self.snmp;
        let r = self.reasm.stats();
        s.ip.reasm_reqds = r.reqds;
        s.ip.reasm_oks = r.oks;
        s.ip.reasm_fails = r.fails;
        s.ip.reasm_timeout = r.timeouts;
        s.ip.frag_oks = self.frag_out.oks;
        s.ip.frag_fails = self.frag_out.fails;
        s.ip.frag_creates = self.frag_out.creates;
        s.tcp = self.tcp.mib();
        s
    }

    /// The reassembly stage, for its memory use and counters.
    pub fn reassembler(&self) -> &Reassembler {
        &self.reasm
    }

    /// The path MTU towards `dst` as this stack would use it now.
    pub fn path_mtu(&self, dst: Ipv4Addr, now: Instant) -> Option<usize> {
        let link = self.route_link_mtu(dst)?;
        Some(self.pmtu.path_mtu(dst, link, now))
    }

    /// The MTU of interface `ifindex`, the implicit `lo`'s included.
    pub(crate) fn link_mtu(&self, ifindex: IfIndex) -> Option<usize> {
        if ifindex == LOOPBACK_IFINDEX {
            return Some(LOOPBACK_MTU);
        }
        self.iface(ifindex).map(|i| i.mtu())
    }

    /// The MTU of the interface a route to `dst` leaves by: `lo`'s for this host's addresses
    /// (127/8 and those assigned to interfaces), which the local table routes by `lo` before
    /// the FIB is asked, else that of the FIB's route.
    pub(crate) fn route_link_mtu(&self, dst: Ipv4Addr) -> Option<usize> {
        if self.is_local_addr(dst) {
            return Some(LOOPBACK_MTU);
        }
        let nh = self.fib.lookup(dst).ok()?;
        self.link_mtu(nh.ifindex)
    }

    /// The ICMP rate limiter, for its counters.
    pub fn icmp_limiter(&self) -> &IcmpRateLimiter {
        &self.icmp_limit
    }

    /// True when `addr` is this host's: assigned to any interface, or in 127.0.0.0/8, which
    /// Linux's local table routes to `lo` whole ([`crate::loopback`]).
    pub fn is_local_addr(&self, addr: Ipv4Addr) -> bool {
        is_loopback(addr)
            || self
                .ifaces
                .iter()
                .any(|i| i.addrs.iter().any(|a| a.0 == addr))
    }

    /// True when `addr` is the limited broadcast or the directed broadcast of a prefix on
    /// `ifindex` (127.255.255.255 on the implicit `lo`).
    pub(crate) fn is_broadcast_on(&self, ifindex: IfIndex, addr: Ipv4Addr) -> bool {
        addr.is_broadcast()
            || (ifindex == LOOPBACK_IFINDEX && addr == LOOPBACK_BROADCAST)
            || self.iface(ifindex).is_some_and(|i| {
                i.addrs
                    .iter()
                    .any(|&(a, l)| l < 31 && broadcast(a, l) == addr)
            })
    }

    /// True when `addr` is the limited broadcast or the directed broadcast of a prefix on any
    /// interface: Linux's local table holds an `RTN_BROADCAST` route for each, so a datagram
    /// to one is received (`brd_input`), never forwarded, and never answered with an error.
    pub(crate) fn is_broadcast_addr(&self, addr: Ipv4Addr) -> bool {
        addr.is_broadcast()
            || addr == LOOPBACK_BROADCAST
            || self
                .ifaces
                .iter()
                .any(|i| self.is_broadcast_on(i.index, addr))
    }

    /// Runs one round of work at `now`: takes up to `rx_budget` frames from each device through
    /// the RX path (GRO delivers what it holds at the end of each device's share, or only what
    /// it has held for [`GRO_MAX_AGE`](crate::gro::GRO_MAX_AGE) when frames are left waiting),
    /// fires expired timers (neighbour, reassembly, PMTU), and moves queued packets from the
    /// qdiscs to the devices (then flushes the TCP connections a full qdisc had stopped, once
    /// it made room).
    /// Returns the number of received frames handled; call again while it equals the budget
    /// times the interfaces (more is waiting).
    pub fn poll(&mut self, now: Instant) -> usize {
        // How many frames ahead the header is touched, and which byte (the EtherType, the
        // first one GRO reads).
        const AHEAD: usize = 3;
        const ETH_TYPE_AT: usize = 12;
        let mut work = 0;
        for i in 0..self.ifaces.len() {
            let ifindex = self.ifaces[i].index;
            let mut n = 0;
            while n < self.cfg.rx_budget {
                let Some(frame) = self.ifaces[i].dev.pop_rx() else {
                    break;
                };
                // A driver's prefetch of a later descriptor's data, in safe Rust: reading a
                // byte of the frame AHEAD places on starts its two cache misses (buffer
                // descriptor, then header) now, while this frame is worked on, instead of
                // stalling GRO when that frame's turn comes. On a bulk transfer the queue is
                // hundreds of frames deep and their headers have left the cache.
                if let Some(later) = self.ifaces[i].dev.peek_rx(AHEAD) {
                    std::hint::black_box(later.data().get(ETH_TYPE_AT).copied());
                }
                n += 1;
                self.netif_receive(ifindex, frame, now);
            }
            // NAPI: a poll that emptied the queue completes and delivers all GRO holds; one
            // that ran out of budget keeps the young ones growing for the next poll.
            let complete = self.ifaces[i].dev.rx_pending() == 0;
            self.gro_flush(ifindex, now, complete);
            work += n;
        }
        self.run_timers(now);
        for i in 0..self.ifaces.len() {
            let ifindex = self.ifaces[i].index;
            self.qdisc_run(ifindex, now);
            self.tcp_retry_refused(ifindex, now);
        }
        work
    }

    /// When [`Self::poll`] next has timer work or queued frames, if ever: `now` when frames wait
    /// in a device RX queue or a qdisc that may send.
    pub fn poll_at(&self, now: Instant) -> Option<Instant> {
        let mut at: Option<Instant> = self.reasm.next_wakeup();
        let tcp_at = self.tcp.next_wakeup();
        let mut take = |t: Option<Instant>| {
            if let Some(t) = t {
                at = Some(at.map_or(t, |a| a.min(t)));
            }
        };
        take(tcp_at);
        take(self.igmp.next_wakeup());
        for i in &self.ifaces {
            if i.dev.rx_pending() > 0 {
                take(Some(now));
            }
            take(i.neigh.next_wakeup());
            if i.dev.tx_room() > 0 {
                take(i.qdisc.next_wakeup(now));
            }
            if self.tcp_retry_due(i.index, i.qdisc_stats().packets) {
                // A connection waits for room the queue has made since.
                take(Some(now));
            }
        }
        at.map(|t| t.max(now))
    }

    fn run_timers(&mut self, now: Instant) {
        for i in 0..self.ifaces.len() {
            self.ifaces[i].neigh.poll(now);
            let ifindex = self.ifaces[i].index;
            self.run_neigh_actions(ifindex, now);
        }
        for t in self.reasm.poll(now) {
            self.icmp_reasm_timeout(&t, now);
        }
        self.pmtu.poll(now);
        self.tcp_timers(now);
        self.igmp_timers(now);
    }

    /// [`Self::alloc`] for a small packet (headers whose payload lies in fragments) that
    /// starts `colour` cache lines (mod 16) further into its pool buffer, so that a burst of
    /// such headers spreads over the cache instead of every one landing at the same offset of
    /// a 2 KB buffer (slab colouring).
    pub(crate) fn alloc_coloured(&self, len: usize, colour: usize) -> PacketBuf {
        let headroom = MAX_HEADER + (colour % 16) * 64;
        if len + headroom <= self.pool.buf_size() {
            if let Some(b) = self.pool.alloc(headroom) {
                return b;
            }
        }
        self.alloc(len)
    }

    /// A buffer for `len` bytes after [`MAX_HEADER`] of headroom: from the pool when it fits,
    /// super-packets from the recycled big-buffer pool, else from the heap.
    pub(crate) fn alloc(&self, len: usize) -> PacketBuf {
        if len + MAX_HEADER <= self.pool.buf_size() {
            if let Some(b) = self.pool.alloc(MAX_HEADER) {
                return b;
            }
        } else if len + MAX_HEADER <= BIG_BUF_SIZE {
            if let Some(b) = self.big_pool.alloc(MAX_HEADER) {
                return b;
            }
        }
        PacketBuf::new(len + MAX_HEADER, MAX_HEADER)
    }
}

/// `addr` with the bits past `len` cleared.
pub(crate) fn mask(addr: Ipv4Addr, len: u8) -> Ipv4Addr {
    let m = if len == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(len.min(32)))
    };
    Ipv4Addr::from(u32::from(addr) & m)
}

/// The directed broadcast address of `addr/len`.
pub(crate) fn broadcast(addr: Ipv4Addr, len: u8) -> Ipv4Addr {
    let m = if len == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(len.min(32)))
    };
    Ipv4Addr::from(u32::from(addr) | !m)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The runtime moves a stack into its poller thread.
    #[test]
    fn stack_is_send() {
        fn send<T: Send>() {}
        send::<Stack>();
    }

    #[test]
    fn the_stacks_pool_makes_buffers_on_demand_and_is_no_device_ring() {
        let cfg = StackConfig::default();
        let stack = Stack::new(cfg.clone());
        assert_eq!(stack.pool.available(), cfg.pool_count);
        let mut b = stack.alloc(100);
        b.put_slice(b"payload").unwrap();
        assert!(
            !b.pins_fixed_pool(0, 7),
            "a receive queue may keep a looped-back packet's buffer"
        );
        drop(b);
        let seen_elsewhere =
            std::thread::scope(|s| s.spawn(|| stack.pool.available()).join().unwrap());
        assert_eq!(
            seen_elsewhere,
            cfg.pool_count - 1,
            "the freed buffer waits in this thread's magazine"
        );
    }

    #[test]
    fn masks_and_broadcasts() {
        let a = Ipv4Addr::new(10, 1, 2, 3);
        assert_eq!(mask(a, 24), Ipv4Addr::new(10, 1, 2, 0));
        assert_eq!(mask(a, 0), Ipv4Addr::UNSPECIFIED);
        assert_eq!(broadcast(a, 24), Ipv4Addr::new(10, 1, 2, 255));
        assert_eq!(broadcast(a, 32), a);
    }

    #[test]
    fn addresses_bring_and_take_their_connected_routes() {
        let mut s = Stack::new(StackConfig::default());
        let i = s.add_interface(IfaceConfig::new(
            "eth0",
            crate::wire::ethernet::EthernetAddress([2, 0, 0, 0, 0, 1]),
            DeviceCaps::default(),
        ));
        let now = Instant::ZERO;
        s.add_address(i, Ipv4Addr::new(10, 0, 0, 1), 24, now)
            .unwrap();
        s.add_address(i, Ipv4Addr::new(10, 0, 0, 2), 24, now)
            .unwrap();
        assert_eq!(
            s.add_address(i, Ipv4Addr::new(10, 0, 0, 2), 24, now),
            Err(StackError::AddressExists(Ipv4Addr::new(10, 0, 0, 2)))
        );
        assert_eq!(s.routes().len(), 1);
        s.remove_address(i, Ipv4Addr::new(10, 0, 0, 1)).unwrap();
        assert_eq!(s.routes().len(), 1, "10.0.0.2 still needs the prefix");
        s.remove_address(i, Ipv4Addr::new(10, 0, 0, 2)).unwrap();
        assert!(s.routes().is_empty());
        assert_eq!(
            s.add_address(9, Ipv4Addr::new(10, 0, 0, 1), 24, now),
            Err(StackError::NoSuchInterface(9))
        );
    }
}
