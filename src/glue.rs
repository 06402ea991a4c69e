//! The glue between the driver's queues and the stack's device interface (Linux: the part of a
//! NIC driver that turns completions into `sk_buff`s for `napi_gro_receive` and implements
//! `ndo_start_xmit`).
//!
//! [`NicPort`] owns an opened [`Nic`] (any [`oxnic_driver::Device`]: the verilated card or a
//! board) and moves frames between it and one interface of a [`Stack`]:
//!
//! - RX ([`NicPort::receive`]): one NAPI round over every RX queue; each frame is copied
//!   from its DMA buffer (which goes straight back to the ring) into a buffer from the glue's
//!   own packet pool, with the card's findings as metadata — RSS hash and hash type, checksum
//!   status (L4 checksum verified → `Unnecessary`; otherwise the card's CHECKSUM_COMPLETE sum
//!   → `Complete`; a checksum the card found wrong → `None`, so the stack verifies it again and
//!   counts the error), VLAN tag — and pushed into the interface's RX queue.
//! - TX ([`NicPort::transmit`]): frames popped from the interface's TX queue are copied into
//!   DMA buffers, one per fragment (scatter-gather), with a `Partial` checksum turned into the
//!   descriptor's CSUM start/offset; the queue is picked by flow so a flow keeps its order;
//!   one doorbell per queue per batch; completions are cleaned on every call. The card has no
//!   TSO in the capabilities the glue advertises, so the stack cuts super-packets in software;
//!   one that arrives anyway is cut here.
//!
//! Nothing the card or the stack hands over can make the glue panic: a frame that cannot be
//! carried is dropped and counted in [`GlueStats`].

use oxnic_abi::desc::{CsumStatus, HashType as CardHash};
use oxnic_driver::napi::{NapiGroup, RxMeta, RxSink};
use oxnic_driver::nic::Nic;
use oxnic_driver::txq::{TxFrame, TxMeta, MAX_SEGS};
use oxnic_driver::PktBuf;
use oxnic_stack::pktbuf::{ChecksumState, HashType, PacketBuf, PacketPool};
use oxnic_stack::route::IfIndex;
use oxnic_stack::{DeviceCaps, Stack};
use std::collections::VecDeque;

/// Headroom left in front of every received frame (Linux `NET_SKB_PAD`).
pub const RX_HEADROOM: usize = 64;

/// Frames popped from the stack per [`NicPort::transmit`] call at most (one doorbell per queue
/// per batch).
pub const TX_BATCH: usize = 64;

/// What the glue counted: offloads used and frames it could not carry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GlueStats {
    /// Frames handed to the stack.
    pub rx_frames: u64,
    /// Received frames whose L4 checksum the card verified (`CHECKSUM_UNNECESSARY`).
    pub rx_csum_unnecessary: u64,
    /// Received frames given the card's CHECKSUM_COMPLETE sum.
    pub rx_csum_complete: u64,
    /// Received frames the card found a bad checksum in (handed over unverified).
    pub rx_csum_bad: u64,
    /// Received frames with an L4 (flow) RSS hash.
    pub rx_hash_l4: u64,
    /// Received frames with an L3 RSS hash.
    pub rx_hash_l3: u64,
    /// Received frames dropped: the glue's packet pool was empty.
    pub rx_drop_no_buffer: u64,
    /// Received frames dropped: the DMA buffer could not be read.
    pub rx_drop_dma: u64,
    /// Frames given to the card.
    pub tx_frames: u64,
    /// Of those, with a checksum for the card to insert.
    pub tx_csum_offload: u64,
    /// Descriptors used (one per segment).
    pub tx_segments: u64,
    /// Super-packets the glue cut in software (the stack sent one despite `tso: false`).
    pub tx_gso_software: u64,
    /// Frames dropped: no DMA buffer in the driver's pool.
    pub tx_drop_no_buffer: u64,
    /// Frames dropped: the frame or its offload request does not fit the card.
    pub tx_drop_bad_frame: u64,
}

/// One opened card joined to one interface of a stack.
#[derive(Debug)]
pub struct NicPort {
    nic: Nic,
    group: Option<NapiGroup>,
    ifindex: IfIndex,
    pool: PacketPool,
    /// Per TX queue: frames built but not yet on the ring (the ring was full).
    backlog: Vec<VecDeque<TxFrame>>,
    batch: Vec<TxFrame>,
    /// Reused for frames with more pieces than the card takes.
    scratch: Vec<u8>,
    stats: GlueStats,
    rx_per_queue: Vec<u64>,
}

/// Receives frames from the NAPI poller into the stack's RX queue.
struct StackSink<'a> {
    stack: &'a mut Stack,
    ifindex: IfIndex,
    pool: &'a PacketPool,
    stats: &'a mut GlueStats,
    per_queue: &'a mut [u64],
}

impl RxSink for StackSink<'_> {
    fn receive(&mut self, buf: PktBuf, meta: &RxMeta) {
        let Some(mut pkt) = self.pool.alloc(RX_HEADROOM) else {
            self.stats.rx_drop_no_buffer += 1;
            return;
        };
        let len = buf.len();
        let copied = match pkt.put(len) {
            Ok(dst) => buf.read(0, dst).is_ok(),
            Err(_) => false,
        };
        // The DMA buffer goes back to the driver's pool here, before the stack runs.
        drop(buf);
        if !copied {
            self.stats.rx_drop_dma += 1;
            return;
        }
        pkt.meta.csum = rx_checksum(meta, self.stats);
        pkt.meta.hash = meta.rss_hash;
        pkt.meta.hash_type = match meta.hash_type {
            CardHash::None => HashType::None,
            CardHash::Ipv4 => {
                self.stats.rx_hash_l3 += 1;
                HashType::L3
            }
            CardHash::Ipv4Tcp | CardHash::Ipv4Udp => {
                self.stats.rx_hash_l4 += 1;
                HashType::L4
            }
        };
        pkt.meta.vlan_tci = meta.vlan;
        if let Some(c) = self.per_queue.get_mut(usize::from(meta.queue)) {
            *c += 1;
        }
        self.stats.rx_frames += 1;
        if let Some(dev) = self.stack.device_mut(self.ifindex) {
            dev.push_rx(pkt);
        }
    }
}

/// The stack's checksum state for what the card found.
fn rx_checksum(meta: &RxMeta, stats: &mut GlueStats) -> ChecksumState {
    if meta.ip_csum == CsumStatus::Bad || meta.l4_csum == CsumStatus::Bad {
        stats.rx_csum_bad += 1;
        return ChecksumState::None;
    }
    if meta.l4_csum == CsumStatus::Ok {
        stats.rx_csum_unnecessary += 1;
        return ChecksumState::Unnecessary;
    }
    match meta.csum_complete {
        Some(sum) => {
            stats.rx_csum_complete += 1;
            ChecksumState::Complete { sum }
        }
        None => ChecksumState::None,
    }
}

/// A cheap flow hash of an Ethernet/IPv4 frame (addresses and, for TCP/UDP, ports) to pick a
/// TX queue, so every frame of a flow leaves through the same queue and stays in order.
fn tx_flow_hash(frame: &[u8]) -> u32 {
    let ipv4 = frame.get(12..14) == Some(&[0x08, 0x00][..]);
    let Some(ihl) = frame
        .get(14)
        .filter(|_| ipv4)
        .map(|b| usize::from(b & 0x0f) * 4)
    else {
        return 0;
    };
    let proto = frame.get(23).copied().unwrap_or(0);
    let mut h: u32 = 0x811c_9dc5;
    let mut mix = |bytes: &[u8]| {
        for &b in bytes {
            h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
        }
    };
    mix(frame.get(26..34).unwrap_or(&[]));
    if proto == 6 || proto == 17 {
        mix(frame.get(14 + ihl..18 + ihl).unwrap_or(&[]));
    }
    h
}

impl NicPort {
    /// Joins `nic` to interface `ifindex`; received frames are copied into a pool of
    /// `pool_buffers` buffers of `buf_size` bytes (the stack holds them until it is done).
    pub fn new(mut nic: Nic, ifindex: IfIndex, pool_buffers: usize, buf_size: usize) -> Self {
        let group = nic.napi_group();
        let rxq = group.pollers().len();
        let txq = nic.num_tx() as usize;
        NicPort {
            nic,
            group: Some(group),
            ifindex,
            pool: PacketPool::new(pool_buffers, buf_size),
            backlog: (0..txq).map(|_| VecDeque::new()).collect(),
            batch: Vec::with_capacity(TX_BATCH),
            scratch: Vec::new(),
            stats: GlueStats::default(),
            rx_per_queue: vec![0; rxq],
        }
    }

    /// What the card offers the stack: RX and TX checksums, no TSO (the stack segments in
    /// software), no UDP segmentation, no hardware GRO, a 1500-byte MTU, and a TX queue as
    /// long as one TX ring (`tx_ring` frames).
    pub fn caps(tx_ring: usize) -> DeviceCaps {
        DeviceCaps {
            rx_csum: true,
            tx_csum: true,
            tso: false,
            gso_udp: false,
            gro_hw: false,
            mtu: 1500,
            tx_queue_len: tx_ring,
        }
    }

    /// The driver's handle on the card (statistics, ethtool-like control).
    pub fn nic(&self) -> &Nic {
        &self.nic
    }

    /// The interface this port feeds.
    pub fn ifindex(&self) -> IfIndex {
        self.ifindex
    }

    /// The glue's counters.
    pub fn stats(&self) -> &GlueStats {
        &self.stats
    }

    /// Frames handed to the stack per RX queue.
    pub fn rx_per_queue(&self) -> &[u64] {
        &self.rx_per_queue
    }

    /// Frames built for the card but still waiting for room on a TX ring.
    pub fn tx_backlog(&self) -> usize {
        self.backlog.iter().map(VecDeque::len).sum()
    }

    /// Descriptors the card has not completed yet, over every TX queue.
    pub fn tx_in_flight(&mut self) -> usize {
        (0..self.nic.num_tx())
            .filter_map(|q| self.nic.tx(q).map(|t| t.in_flight()))
            .sum()
    }

    /// Every TX queue's state on both sides of the ring, one line each, with the frames
    /// waiting in its backlog: what a stall report needs.
    pub fn tx_diagnose(&mut self) -> String {
        let mut out = String::new();
        for q in 0..self.nic.num_tx() {
            let backlog = self.backlog.get(q as usize).map_or(0, VecDeque::len);
            if let Some(t) = self.nic.tx(q) {
                out.push_str(&format!("{} | backlog {backlog}\n", t.diagnose()));
            }
        }
        out
    }

    /// One NAPI round: completions from every RX queue, within the driver's budgets, into the
    /// stack's RX queue. Returns the completions processed (good and dropped).
    pub fn receive(&mut self, stack: &mut Stack) -> usize {
        let Some(group) = self.group.as_mut() else {
            return 0;
        };
        let mut sink = StackSink {
            stack,
            ifindex: self.ifindex,
            pool: &self.pool,
            stats: &mut self.stats,
            per_queue: &mut self.rx_per_queue,
        };
        group.poll_round(&mut sink)
    }

    /// Cleans TX completions, then moves up to [`TX_BATCH`] frames from the stack's TX queue
    /// to the card's rings (one doorbell per queue). Returns the frames given to the card.
    pub fn transmit(&mut self, stack: &mut Stack) -> usize {
        for q in 0..self.nic.num_tx() {
            if let Some(t) = self.nic.tx(q) {
                t.clean(usize::MAX);
            }
        }
        let mut queued = self.flush_backlog();
        // Frames stay in the stack's queue (and its qdisc) while the card has a backlog.
        if self.tx_backlog() > 0 {
            return queued;
        }
        let queues = self.backlog.len().max(1);
        let mut popped = 0;
        while popped < TX_BATCH {
            let Some(frame) = stack.device_mut(self.ifindex).and_then(|d| d.pop_tx()) else {
                break;
            };
            popped += 1;
            if frame.meta.gso_size != 0 {
                self.stats.tx_gso_software += 1;
                match oxnic_stack::gso::segment(&frame, &self.pool) {
                    Ok(segs) => {
                        for s in segs {
                            self.enqueue(&s, queues);
                        }
                    }
                    Err(_) => self.stats.tx_drop_bad_frame += 1,
                }
            } else {
                self.enqueue(&frame, queues);
            }
        }
        queued += self.flush_backlog();
        queued
    }

    /// Builds the TX frame for `pkt` and appends it to its queue's backlog.
    fn enqueue(&mut self, pkt: &PacketBuf, queues: usize) {
        let Some(f) = self.build(pkt) else { return };
        let q = tx_flow_hash(pkt.data()) as usize % queues;
        if let Some(b) = self.backlog.get_mut(q) {
            b.push_back(f);
        }
    }

    /// Copies `pkt` into DMA buffers, one per fragment (more only when a piece is larger than
    /// a buffer), with its checksum request.
    fn build(&mut self, pkt: &PacketBuf) -> Option<TxFrame> {
        let pool = self.nic.pool().clone();
        let buf_size = pool.buf_size().max(1);
        let chunks: usize = std::iter::once(pkt.data())
            .chain(pkt.frags())
            .map(|p| p.len().div_ceil(buf_size))
            .sum();
        let frame = if chunks > MAX_SEGS {
            // Too many pieces for the card: one linear copy instead (a frame of at most the
            // MTU fits a buffer or two).
            let mut flat = std::mem::take(&mut self.scratch);
            flat.clear();
            for p in std::iter::once(pkt.data()).chain(pkt.frags()) {
                flat.extend_from_slice(p);
            }
            let f = self.copy_in(std::iter::once(&flat[..]), &pool);
            self.scratch = flat;
            f
        } else {
            self.copy_in(std::iter::once(pkt.data()).chain(pkt.frags()), &pool)
        }?;
        let csum = match pkt.meta.csum {
            ChecksumState::Partial { start, offset } => Some((start, offset)),
            _ => None,
        };
        match frame.with_meta(TxMeta {
            csum,
            ..Default::default()
        }) {
            Ok(f) => Some(f),
            Err(_) => {
                self.stats.tx_drop_bad_frame += 1;
                None
            }
        }
    }

    /// Copies `pieces` into DMA buffers of `pool`, one segment per buffer.
    fn copy_in<'a>(
        &mut self,
        pieces: impl Iterator<Item = &'a [u8]>,
        pool: &oxnic_driver::Mempool,
    ) -> Option<TxFrame> {
        let mut frame: Option<TxFrame> = None;
        for piece in pieces {
            for chunk in piece.chunks(pool.buf_size().max(1)) {
                let Some(mut b) = pool.alloc() else {
                    self.stats.tx_drop_no_buffer += 1;
                    return None;
                };
                if b.fill_from(chunk).is_err() {
                    self.stats.tx_drop_bad_frame += 1;
                    return None;
                }
                let pushed = match frame.as_mut() {
                    None => TxFrame::new(b).map(|f| frame = Some(f)),
                    Some(f) => f.push(b),
                };
                if pushed.is_err() {
                    self.stats.tx_drop_bad_frame += 1;
                    return None;
                }
            }
        }
        if frame.is_none() {
            // An empty frame from the stack: nothing to send.
            self.stats.tx_drop_bad_frame += 1;
        }
        frame
    }

    /// Submits what fits from every queue's backlog, one doorbell per queue.
    fn flush_backlog(&mut self) -> usize {
        let mut queued = 0;
        for q in 0..self.backlog.len() {
            let Some(txq) = self.nic.tx(q as u32) else {
                continue;
            };
            let backlog = &mut self.backlog[q];
            let mut room = txq.free();
            while let Some(f) = backlog.front() {
                if f.segments() > room || self.batch.len() == TX_BATCH {
                    break;
                }
                room -= f.segments();
                if let Some(f) = backlog.pop_front() {
                    self.batch.push(f);
                }
            }
            if self.batch.is_empty() {
                continue;
            }
            let segs: usize = self.batch.iter().map(TxFrame::segments).sum();
            let csums = self
                .batch
                .iter()
                .filter(|f| f.meta().csum.is_some())
                .count();
            let n = txq.submit(&mut self.batch);
            queued += n;
            self.stats.tx_frames += n as u64;
            // What `submit` did not take is still in the batch.
            let left: usize = self.batch.iter().map(TxFrame::segments).sum();
            let left_csums = self
                .batch
                .iter()
                .filter(|f| f.meta().csum.is_some())
                .count();
            self.stats.tx_segments += (segs - left) as u64;
            self.stats.tx_csum_offload += (csums - left_csums) as u64;
            if !self.batch.is_empty() {
                // Not expected (room was checked): the rest goes back to the front, in order.
                for f in self.batch.drain(..).rev() {
                    backlog.push_front(f);
                }
            }
        }
        queued
    }

    /// Closes the card: every queue stopped, every buffer home, everything unmapped.
    pub fn close(mut self) {
        self.backlog.clear();
        if let Some(g) = self.group.take() {
            self.nic.put_group(g);
        }
        self.nic.close();
    }
}
