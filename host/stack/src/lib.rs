//! # oxnic-stack — a sans-IO network stack that follows the Linux packet path
//!
//! No clocks, sleeps or threads in here: time comes in as an argument, frames come in and go out
//! through a device interface this crate defines. It depends on no other oxnic crate, so it runs
//! the same over the verilated card, a real board or an in-memory wire.
//!
//! - [`wire`]: wire formats — bytes to plain `Repr` values with nom, and values emitted into
//!   buffers by hand. Untrusted bytes are length-checked once; nothing after that can panic.
//! - [`time`]: the virtual clock ([`time::Instant`]) every timer-driven module takes as `now`.
//! - [`route`]: the FIB, longest-prefix match (`fib_table_lookup`).
//! - [`neigh`]: the neighbour table, ARP resolution with pending queues (`neigh_update`).
//! - [`frag`]: IPv4 reassembly, output fragmentation and the PMTU cache (`ip_defrag`, `ip_fragment`).
//! - [`icmp_limit`]: ICMP error rate limiting, global and per destination (`icmpv4_xrlim_allow`).
//! - [`hooks`]: the five netfilter hook points with priorities and verdicts (`nf_hook_slow`).
//! - [`qdisc`]: queueing disciplines before the device: pfifo_fast, fq_codel, tbf.
//! - [`pktbuf`]: packet buffers like Linux's `sk_buff` (headroom, fragments, metadata, cheap
//!   clones for taps) and the pool they come from, so the data path does not allocate.
//!
//! The stack that joins them, stage by stage along the Linux path:
//!
//! - [`stack`]: [`Stack`], one namespace's interfaces, routes, hooks, sockets and counters, and
//!   `poll(now)`; [`iface`]: interfaces; [`device`]: the device interface (queues, metadata,
//!   capabilities, offload requests).
//! - RX: [`dev`] (`netif_receive_skb`: [`xdp`] early hook → [`packet_tap`] → [`gro`] → L2
//!   demux) → [`arp`] or [`ip_input`] (`ip_rcv` → PREROUTING → routing → `ip_local_deliver`:
//!   defrag → INPUT) or [`ip_forward`] (FORWARD) → [`icmp`] / [`igmp`] / [`udp`] / the TCP
//!   demux point.
//! - TX: [`udp`] / [`icmp`] → [`ip_output`] (route, source address, OUTPUT, POSTROUTING,
//!   fragmentation, neighbour) → qdisc → [`dev`] (`dev_queue_xmit`, software [`gso`] and
//!   checksums when the device lacks them) → device.
//! - [`igmp`]: multicast group membership per interface, held by sockets, and the IGMPv3
//!   reports that announce it (`ip_mc_inc_group`, `igmp_rcv`).
//! - [`loopback`]: 127.0.0.0/8, this host's `lo`: implicit, no interface, delivered locally.
//! - [`snmp`]: the `/proc/net/snmp` counters.
//! - `ephemeral`: the orders TCP and UDP try ephemeral ports in (RFC 6056, as Linux).
//! - [`changes`]: which sockets changed since a poller last asked (epoll's ready list).
//! - `sock_slots`: the free slots and the by-port index the TCP and UDP socket tables share.
//!
//! For tests and benches:
//!
//! - [`netsim`]: an in-memory network of stacks on a virtual clock, with seeded link
//!   impairments (bandwidth and queue, latency, jitter, loss, duplication, reordering,
//!   corruption) and the card's offloads played by the links.
#![forbid(unsafe_code)]

pub mod arp;
pub mod changes;
pub mod dev;
pub mod device;
mod ephemeral;
pub mod frag;
pub mod gro;
pub mod gso;
pub mod hooks;
pub mod icmp;
pub mod icmp_limit;
pub mod iface;
pub mod igmp;
pub mod ip_forward;
pub mod ip_input;
pub mod ip_output;
pub mod loopback;
pub mod neigh;
pub mod netsim;
pub mod packet_tap;
pub mod pktbuf;
pub mod qdisc;
pub mod route;
pub mod snmp;
mod sock_slots;
pub mod stack;
pub mod tcp;
#[cfg(test)]
mod test_rng;
pub mod time;
pub mod udp;
pub mod wire;
pub mod xdp;

pub use device::{DeviceCaps, NetDevice};
pub use iface::IfaceConfig;
pub use stack::{Stack, StackConfig};
