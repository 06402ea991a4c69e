//! The device interface the stack consumes (Linux `struct net_device` seen from the stack, and
//! the `napi_gro_receive` / `ndo_start_xmit` doors).
//!
//! The stack does not know whether frames come from the FPGA card, the simulator or an
//! in-memory test wire: a [`NetDevice`] is a pair of queues plus the device's
//! [`DeviceCaps`]. The runtime (or a test harness) pushes received frames into the RX queue
//! with their metadata already filled in [`PacketBuf::meta`] (RSS hash, checksum status,
//! stripped VLAN tag), and pops frames to transmit from the TX queue, honouring the offload
//! requests each frame carries:
//!
//! - `meta.csum == ChecksumState::Partial { start, offset }`: sum from `start` to the end of the
//!   frame and store the complement at `start + offset` (only sent when `caps.tx_csum`);
//! - `meta.gso_size != 0`: a super-packet to be cut into `gso_size`-byte segments (only sent
//!   when `caps.tso` for TCP, `caps.gso_udp` for UDP).
//!
//! Offloads are data on the frame and capabilities on the device, never modes scattered
//! through protocol code. [`complete_tx_checksum`] is the software model of what a card does
//! with a partial checksum, for in-memory wires and tests.

use crate::pktbuf::{ChecksumState, PacketBuf};
use crate::wire::checksum;
use std::collections::VecDeque;

/// What the device can do for the stack (Linux `netdev_features_t` plus the MTU).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceCaps {
    /// The device verifies IPv4/TCP/UDP checksums on receive and reports it in
    /// `meta.csum` (`NETIF_F_RXCSUM`).
    pub rx_csum: bool,
    /// The device inserts L4 checksums at start/offset on transmit (`NETIF_F_HW_CSUM`).
    pub tx_csum: bool,
    /// The device segments TCP super-packets (`NETIF_F_TSO`).
    pub tso: bool,
    /// The device segments UDP super-packets into datagrams (`NETIF_F_GSO_UDP_L4`).
    pub gso_udp: bool,
    /// The device coalesces received segments itself (hardware GRO/LRO), so software GRO is
    /// skipped.
    pub gro_hw: bool,
    /// Largest IP packet the link carries (the interface MTU, without the Ethernet header).
    pub mtu: usize,
    /// Frames the TX queue holds (the TX ring size); the qdisc keeps the rest.
    pub tx_queue_len: usize,
}

impl Default for DeviceCaps {
    /// A plain 1500-byte Ethernet device with no offloads.
    fn default() -> Self {
        DeviceCaps {
            rx_csum: false,
            tx_csum: false,
            tso: false,
            gso_udp: false,
            gro_hw: false,
            mtu: 1500,
            tx_queue_len: 256,
        }
    }
}

impl DeviceCaps {
    /// Every offload on (what the oxnic card offers).
    pub fn all_offloads(mtu: usize) -> Self {
        DeviceCaps {
            rx_csum: true,
            tx_csum: true,
            tso: true,
            gso_udp: true,
            gro_hw: false,
            mtu,
            tx_queue_len: 256,
        }
    }
}

/// Device counters as `ip -s link` shows them (the ones the device side owns).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeviceStats {
    /// Frames handed to the stack.
    pub rx_packets: u64,
    /// Bytes handed to the stack.
    pub rx_bytes: u64,
    /// Frames handed to the device.
    pub tx_packets: u64,
    /// Bytes handed to the device.
    pub tx_bytes: u64,
}

/// The queues between the stack and one device.
#[derive(Debug)]
pub struct NetDevice {
    caps: DeviceCaps,
    rx: VecDeque<PacketBuf>,
    tx: VecDeque<PacketBuf>,
    stats: DeviceStats,
}

impl NetDevice {
    /// A device with these capabilities and empty queues.
    pub fn new(caps: DeviceCaps) -> Self {
        NetDevice {
            caps,
            rx: VecDeque::new(),
            tx: VecDeque::with_capacity(caps.tx_queue_len),
            stats: DeviceStats::default(),
        }
    }

    /// The capabilities.
    pub fn caps(&self) -> &DeviceCaps {
        &self.caps
    }

    /// Counters.
    pub fn stats(&self) -> &DeviceStats {
        &self.stats
    }

    /// A frame came off the wire: queue it for the next poll. `frame.meta` carries what the
    /// device learnt (hash, checksum status, VLAN tag); `frame.data()` starts at the Ethernet
    /// header.
    pub fn push_rx(&mut self, frame: PacketBuf) {
        self.stats.rx_packets += 1;
        self.stats.rx_bytes += frame.len() as u64;
        self.rx.push_back(frame);
    }

    /// Frames waiting to be received.
    pub fn rx_pending(&self) -> usize {
        self.rx.len()
    }

    /// The next frame to put on the wire, with its offload requests in `meta`.
    pub fn pop_tx(&mut self) -> Option<PacketBuf> {
        self.tx.pop_front()
    }

    /// Frames waiting to be transmitted.
    pub fn tx_pending(&self) -> usize {
        self.tx.len()
    }

    pub(crate) fn pop_rx(&mut self) -> Option<PacketBuf> {
        self.rx.pop_front()
    }

    /// The frame [`Self::pop_rx`] returns after `skip` others, left in the queue.
    pub(crate) fn peek_rx(&self, skip: usize) -> Option<&PacketBuf> {
        self.rx.get(skip)
    }

    /// Room left in the TX queue.
    pub(crate) fn tx_room(&self) -> usize {
        self.caps.tx_queue_len.saturating_sub(self.tx.len())
    }

    pub(crate) fn push_tx(&mut self, frame: PacketBuf) {
        self.stats.tx_packets += 1;
        self.stats.tx_bytes += frame.len() as u64;
        self.tx.push_back(frame);
    }
}

/// Why [`device_offloads`] could not turn a frame into wire frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum OffloadError {
    /// The super-packet could not be cut.
    #[error(transparent)]
    Gso(#[from] crate::gso::GsoError),
    /// The partial checksum could not be finished.
    #[error(transparent)]
    Checksum(#[from] TxChecksumError),
}

/// What a card's offload engines do to a frame the stack handed its device: a TSO/USO
/// super-packet is cut into segments with their checksums, a `CHECKSUM_PARTIAL` request is
/// finished; `out` gets each wire-ready frame. The device model of in-memory wires, netsim
/// links and software ports, which may advertise any [`DeviceCaps`]. `scratch` is reused
/// for the segments, so the data path does not allocate a vector per super-packet.
#[inline(always)]
pub fn device_offloads(
    mut frame: PacketBuf,
    pool: &crate::pktbuf::PacketPool,
    scratch: &mut Vec<PacketBuf>,
    mut out: impl FnMut(PacketBuf),
) -> Result<(), OffloadError> {
    if frame.meta.gso_size != 0 {
        crate::gso::segment_into(&frame, pool, scratch)?;
        scratch.drain(..).for_each(&mut out);
        return Ok(());
    }
    // Most frames ask nothing of the card: they go as they are, without a call.
    if matches!(frame.meta.csum, ChecksumState::Partial { .. }) {
        complete_tx_checksum(&mut frame)?;
    }
    out(frame);
    Ok(())
}

/// Why [`complete_tx_checksum`] could not finish a checksum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TxChecksumError {
    /// `start + offset + 2` lies past the end of the frame.
    #[error("checksum start/offset outside the frame")]
    OutOfRange,
    /// The frame's head is shared and the pool had no buffer for a copy.
    #[error("frame could not be made writable")]
    NotWritable,
}

/// Finishes a `CHECKSUM_PARTIAL` frame the way a card's `tx_checksum` block does: the field at
/// `start + offset` holds the pseudo-header sum; the sum from `start` to the end replaces it.
/// Frames without a partial checksum are left alone. For in-memory wires standing in for a
/// device that advertised `tx_csum`.
pub fn complete_tx_checksum(frame: &mut PacketBuf) -> Result<(), TxChecksumError> {
    let ChecksumState::Partial { start, offset } = frame.meta.csum else {
        return Ok(());
    };
    let (start, at) = (usize::from(start), usize::from(start) + usize::from(offset));
    if at + 2 > frame.len() || start > at {
        return Err(TxChecksumError::OutOfRange);
    }
    // The headers (and so the field) are normally in the head and the payload may be in
    // fragments, which are summed where they are; only a field inside the fragments needs
    // the frame made linear first.
    if at + 2 > frame.head_len() {
        frame
            .linearize()
            .map_err(|_| TxChecksumError::NotWritable)?;
    }
    let head = frame.data();
    let sum = checksum::sum_pieces(std::iter::once(&head[start..]).chain(frame.frags()));
    let data = frame.data_mut().map_err(|_| TxChecksumError::NotWritable)?;
    let mut c = !sum;
    // UDP sends an all-ones checksum for a computed zero (zero means "none").
    if c == 0 {
        c = 0xffff;
    }
    data[at..at + 2].copy_from_slice(&c.to_be_bytes());
    frame.meta.csum = ChecksumState::None;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peek_rx_looks_ahead_without_taking() {
        let mut dev = NetDevice::new(DeviceCaps::default());
        for b in [b"one", b"two", b"six"] {
            dev.push_rx(PacketBuf::from_slice(0, b));
        }
        assert_eq!(dev.peek_rx(0).map(PacketBuf::data), Some(&b"one"[..]));
        assert_eq!(dev.peek_rx(2).map(PacketBuf::data), Some(&b"six"[..]));
        assert!(dev.peek_rx(3).is_none());
        assert_eq!(dev.rx_pending(), 3, "nothing taken");
        assert_eq!(
            dev.pop_rx().map(|f| f.data().to_vec()),
            Some(b"one".to_vec())
        );
        assert_eq!(dev.peek_rx(1).map(PacketBuf::data), Some(&b"six"[..]));
    }

    /// A TCP-like frame: 20 header bytes with the pseudo-header-less "partial" sum 0 in the
    /// field at 16, then `payload`.
    fn partial(payload: &[u8]) -> PacketBuf {
        let mut f = PacketBuf::new(64, 0);
        f.put_slice(&[0x11; 20]).unwrap();
        f.data_mut().unwrap()[16..18].copy_from_slice(&[0, 0]);
        f.append_frags(PacketBuf::from_slice(0, payload)).unwrap();
        f.meta.csum = ChecksumState::Partial {
            start: 0,
            offset: 16,
        };
        f
    }

    #[test]
    fn complete_tx_checksum_sums_fragments_in_place() {
        // Odd length, so the second fragment starts at an odd offset.
        let payload: Vec<u8> = (0..1001u32).map(|i| (i * 7) as u8).collect();
        let mut f = partial(&payload[..501]);
        f.append_frags(PacketBuf::from_slice(0, &payload[501..]))
            .unwrap();
        complete_tx_checksum(&mut f).unwrap();
        assert_eq!(f.nr_frags(), 2, "no linearizing copy");
        assert_eq!(f.meta.csum, ChecksumState::None);
        let mut flat = vec![0u8; f.len()];
        f.copy_to(&mut flat).unwrap();
        assert!(checksum::verify(&flat), "the whole frame sums to 0xffff");
        // The same frame made linear first gets the same checksum.
        let mut lin = PacketBuf::new(2048, 0);
        lin.put_slice(&flat[..16]).unwrap();
        lin.put_slice(&[0, 0]).unwrap();
        lin.put_slice(&flat[18..]).unwrap();
        lin.meta.csum = ChecksumState::Partial {
            start: 0,
            offset: 16,
        };
        complete_tx_checksum(&mut lin).unwrap();
        assert_eq!(lin.data(), &flat[..]);
    }

    #[test]
    fn complete_tx_checksum_rejects_a_field_past_the_end() {
        let mut f = partial(b"ab");
        f.meta.csum = ChecksumState::Partial {
            start: 0,
            offset: 21,
        };
        assert_eq!(
            complete_tx_checksum(&mut f),
            Err(TxChecksumError::OutOfRange)
        );
    }
}
