//! # oxnic-stack — a sans-IO network stack that follows the Linux packet path
//!
//! No clocks, sleeps or threads in here: time comes in as an argument, frames come in and go out
//! through a device interface this crate defines. It depends on no other oxnic crate, so it runs
//! the same over the verilated card, a real board or an in-memory wire.
//!
//! - [`wire`]: wire formats — bytes to plain `Repr` values with nom, and values emitted into
//!   buffers by hand. Untrusted bytes are length-checked once; nothing after that can panic.
//! - [`pktbuf`]: packet buffers like Linux's `sk_buff` (headroom, fragments, metadata, cheap
//!   clones for taps) and the pool they come from, so the data path does not allocate.
#![forbid(unsafe_code)]

pub mod pktbuf;
pub mod wire;
