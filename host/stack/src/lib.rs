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
#![forbid(unsafe_code)]

pub mod frag;
pub mod hooks;
pub mod icmp_limit;
pub mod neigh;
pub mod pktbuf;
pub mod qdisc;
pub mod route;
pub mod time;
pub mod wire;
