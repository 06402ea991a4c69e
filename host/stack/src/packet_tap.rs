//! Capture taps (Linux `AF_PACKET` sockets and `dev_queue_xmit_nit`): cheap clones of the
//! packets passing a point of the path, kept in a bounded queue and written out as pcap with
//! the pcap-file crate.
//!
//! A tap at the wire ([`TapPoint::WireRx`], [`TapPoint::WireTx`]) sees Ethernet frames, as
//! `tcpdump -i eth0` does: received frames after the early RX hook and before GRO, sent frames
//! as they are handed to the device (after software GSO). A tap at a netfilter hook point sees
//! IPv4 packets as they enter that hook; its pcap uses link type RAW.

use crate::hooks::HookPoint;
use crate::pktbuf::PacketBuf;
use crate::route::IfIndex;
use crate::stack::Stack;
use crate::time::Instant;
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
use pcap_file::{DataLink, TsResolution};
use std::collections::VecDeque;
use std::io::Write;
use std::time::Duration;

/// Where a tap listens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TapPoint {
    /// Frames received from the device (after the early RX hook, before GRO).
    WireRx,
    /// Frames handed to the device.
    WireTx,
    /// IPv4 packets entering a netfilter hook point.
    Hook(HookPoint),
}

impl TapPoint {
    fn datalink(self) -> DataLink {
        match self {
            TapPoint::WireRx | TapPoint::WireTx => DataLink::ETHERNET,
            TapPoint::Hook(_) => DataLink::RAW,
        }
    }
}

/// Identifies a tap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TapId(usize);

/// One captured packet.
#[derive(Debug, Clone)]
pub struct Captured {
    /// When it passed.
    pub at: Instant,
    /// The interface it was on (input for RX points, output for TX points).
    pub ifindex: Option<IfIndex>,
    /// A clone sharing the packet's bytes.
    pub packet: PacketBuf,
}

/// Counters of one tap (`PACKET_STATISTICS`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TapStats {
    /// Packets captured.
    pub packets: u64,
    /// Packets missed because the queue was full.
    pub drops: u64,
}

struct Tap {
    point: TapPoint,
    ifindex: Option<IfIndex>,
    limit: usize,
    queue: VecDeque<Captured>,
    stats: TapStats,
}

/// The taps of one stack.
#[derive(Default)]
pub(crate) struct Taps {
    taps: Vec<Option<Tap>>,
}

impl Taps {
    /// True when some tap listens at `point`: lets the hot path skip the work entirely.
    pub(crate) fn any(&self, point: TapPoint) -> bool {
        self.taps.iter().flatten().any(|t| t.point == point)
    }

    pub(crate) fn capture(
        &mut self,
        point: TapPoint,
        ifindex: Option<IfIndex>,
        packet: &PacketBuf,
        now: Instant,
    ) {
        for t in self.taps.iter_mut().flatten() {
            if t.point != point || (t.ifindex.is_some() && t.ifindex != ifindex) {
                continue;
            }
            if t.queue.len() >= t.limit {
                t.stats.drops += 1;
                continue;
            }
            t.stats.packets += 1;
            t.queue.push_back(Captured {
                at: now,
                ifindex,
                packet: packet.clone(),
            });
        }
    }
}

/// Why a pcap could not be written.
#[derive(Debug, thiserror::Error)]
pub enum TapError {
    /// No tap has this id.
    #[error("no such tap")]
    NoSuchTap,
    /// The pcap writer failed (I/O).
    #[error("pcap: {0}")]
    Pcap(#[from] pcap_file::PcapError),
}

impl Stack {
    /// Opens a tap at `point`, on one interface or (with `None`) on all, keeping at most
    /// `limit` packets until they are taken.
    pub fn add_tap(&mut self, point: TapPoint, ifindex: Option<IfIndex>, limit: usize) -> TapId {
        self.taps.taps.push(Some(Tap {
            point,
            ifindex,
            limit,
            queue: VecDeque::new(),
            stats: TapStats::default(),
        }));
        TapId(self.taps.taps.len() - 1)
    }

    /// Closes a tap; its queued packets are dropped.
    pub fn remove_tap(&mut self, id: TapId) -> Result<(), TapError> {
        match self.taps.taps.get_mut(id.0) {
            Some(t @ Some(_)) => {
                *t = None;
                Ok(())
            }
            _ => Err(TapError::NoSuchTap),
        }
    }

    /// Takes the packets a tap captured so far.
    pub fn tap_take(&mut self, id: TapId) -> Result<Vec<Captured>, TapError> {
        let t = self.tap(id)?;
        Ok(t.queue.drain(..).collect())
    }

    /// The tap's counters.
    pub fn tap_stats(&mut self, id: TapId) -> Result<TapStats, TapError> {
        Ok(self.tap(id)?.stats)
    }

    fn tap(&mut self, id: TapId) -> Result<&mut Tap, TapError> {
        self.taps
            .taps
            .get_mut(id.0)
            .and_then(Option::as_mut)
            .ok_or(TapError::NoSuchTap)
    }

    /// Takes the packets a tap captured so far and writes them to `out` as a pcap file
    /// (nanosecond timestamps from the virtual clock). Returns how many were written.
    pub fn tap_write_pcap<W: Write>(&mut self, id: TapId, out: W) -> Result<usize, TapError> {
        let t = self.tap(id)?;
        let header = PcapHeader {
            datalink: t.point.datalink(),
            ts_resolution: TsResolution::NanoSecond,
            ..PcapHeader::default()
        };
        let mut w = PcapWriter::with_header(out, header)?;
        let mut bytes = Vec::new();
        let mut n = 0;
        for c in t.queue.drain(..) {
            bytes.resize(c.packet.len(), 0);
            // Cannot fail: `bytes` was sized to the packet.
            let len = c.packet.copy_to(&mut bytes).unwrap_or(0);
            let ts = Duration::from_nanos(c.at.as_nanos());
            w.write_packet(&PcapPacket::new(ts, len as u32, &bytes[..len]))?;
            n += 1;
        }
        Ok(n)
    }
}
