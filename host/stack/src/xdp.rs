//! The early RX hook (Linux XDP): a program sees each frame before anything else in the stack,
//! even before capture taps, and decides its fate.

use crate::pktbuf::PacketBuf;
use crate::route::IfIndex;

/// What the early program decided (Linux `enum xdp_action`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XdpAction {
    /// Continue up the stack (`XDP_PASS`).
    Pass,
    /// Drop it, counted in the interface's `xdp_drop` (`XDP_DROP`).
    Drop,
    /// Send it back out of the interface it came in on, as the program left it (`XDP_TX`).
    Tx,
    /// Send it out of another interface, bypassing the stack (`XDP_REDIRECT`).
    Redirect(IfIndex),
}

/// An early RX program: it may rewrite the frame (its data starts at the Ethernet header) and
/// is told which interface it arrived on.
pub type XdpProg = Box<dyn FnMut(&mut PacketBuf, IfIndex) -> XdpAction + Send>;
