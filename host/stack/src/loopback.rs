//! The loopback network, 127.0.0.0/8 (Linux `drivers/net/loopback.c` and the local table's
//! `local 127.0.0.0/8 dev lo src 127.0.0.1`).
//!
//! Linux gives every namespace a `lo` device holding 127.0.0.1/8: the whole prefix is local,
//! traffic to it never reaches a real device, a 127/8 source never leaves on one, and a
//! datagram to or from 127/8 that arrives on one is a martian. oxnic's `lo` is implicit:
//! not an [`crate::iface::Interface`] (it has no queues, MAC, neighbours or qdisc, and real
//! interfaces keep their indexes from 1), but the interface index [`LOOPBACK_IFINDEX`] that
//! routes to 127/8 leave by and the hooks see, and [`LOOPBACK_MTU`]. As in Linux's local
//! table, the addresses assigned to interfaces are routed by `lo` too (with its MTU, and the
//! hooks seeing it), not by the interface that holds them: datagrams to any address of this
//! host take the local-delivery path (`ip_loopback` in [`crate::ip_output`],
//! [`crate::pktbuf::PacketType::Loopback`]).

use crate::route::IfIndex;
use std::net::Ipv4Addr;

/// The interface index of the implicit `lo`: no real interface has it (they count from 1),
/// so [`crate::Stack::interface`] knows none by it.
pub const LOOPBACK_IFINDEX: IfIndex = 0;

/// `lo`'s MTU, as Linux's (64 KiB): a TCP connection over it offers an MSS of 65495.
pub const LOOPBACK_MTU: usize = 65_536;

/// The source a route to 127/8 prefers (`src 127.0.0.1`), and where 0.0.0.0 leads.
pub const LOOPBACK_ADDR: Ipv4Addr = Ipv4Addr::LOCALHOST;

/// `lo`'s directed broadcast: the local table's `broadcast 127.255.255.255 dev lo` makes it a
/// broadcast (connect ENETUNREACH, a send needs `SO_BROADCAST`), not one more local address.
pub const LOOPBACK_BROADCAST: Ipv4Addr = Ipv4Addr::new(127, 255, 255, 255);

/// True for 127.0.0.0/8 (Linux `ipv4_is_loopback`).
pub fn is_loopback(addr: Ipv4Addr) -> bool {
    addr.octets()[0] == 127
}
