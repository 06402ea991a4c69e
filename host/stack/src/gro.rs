//! Software generic receive offload (Linux `dev_gro_receive`, `inet_gro_receive`,
//! `tcp4_gro_receive`, `tcp_gro_complete`), used when the device does not coalesce itself.
//!
//! Contiguous TCP segments of one flow received in one poll are chained into one super-packet
//! (`gso_size` = the segment size, `gso_segs` = their number, payloads kept as buffer
//! fragments, no copy), so the rest of the stack handles one packet instead of many. The rules
//! are Linux's:
//! - only untagged-or-device-tagged IPv4 with a 20-byte header (no options), not a fragment,
//!   with a valid header checksum, carrying TCP with a valid checksum (verified here unless the
//!   device did) — anything else passes straight through;
//! - a segment joins a held flow (same MAC header, addresses and ports) only when it continues
//!   it exactly: sequence number = the next expected, same ACK, same flags apart from
//!   CWR/FIN/PSH, no CWR, same TCP option bytes, same TOS/TTL/DF, payload not empty and not
//!   bigger than the first segment's. Otherwise the held super-packet is delivered and the
//!   segment passes up after it;
//! - a segment shorter than the first, or carrying PSH/FIN/URG/RST/SYN, is merged and then the
//!   super-packet is delivered at once;
//! - a super-packet never exceeds 64 KB (IPv4 total length) or [`MAX_FRAGS`] fragments: the
//!   held one is delivered and the segment starts a new one;
//! - at most [`MAX_GRO_FLOWS`] flows are held; a new one delivers the oldest first;
//! - everything held is delivered at the end of a poll that emptied the device's queue
//!   ([`Gro::flush`], `napi_complete_done`); a poll that ran out of budget with frames still
//!   waiting delivers only what has been held for [`GRO_MAX_AGE`] or longer
//!   ([`Gro::flush_older`]), as Linux's `napi_poll` does at HZ ≥ 1000, so a super-packet
//!   keeps growing over the next poll instead of being cut at every budget.

use crate::pktbuf::{ChecksumState, PacketBuf, MAX_FRAGS};
use crate::time::Instant;
use crate::wire::checksum;
use crate::wire::ethernet::ethertype;
use crate::wire::ipv4::protocol;

/// How long a super-packet may be held across polls that ran out of budget (one jiffy at
/// Linux's HZ = 1000).
pub const GRO_MAX_AGE: std::time::Duration = std::time::Duration::from_millis(1);

/// Flows held at once (Linux `MAX_GRO_SKBS`).
pub const MAX_GRO_FLOWS: usize = 8;
/// Largest super-packet, as IPv4 total length.
pub const MAX_GRO_SIZE: usize = 65_535;

const ETH_LEN: usize = 14;
const IP_LEN: usize = 20;
const FIN: u8 = 0x01;
const SYN: u8 = 0x02;
const RST: u8 = 0x04;
const PSH: u8 = 0x08;
const URG: u8 = 0x20;
const CWR: u8 = 0x80;

/// What happened to a frame offered to GRO.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroOutcome {
    /// Held as the start of a new super-packet.
    Held,
    /// Merged into a held super-packet.
    Merged,
    /// Passed through unchanged.
    Passed,
}

/// GRO counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GroStats {
    /// Segments merged into a held super-packet.
    pub merged: u64,
    /// Packets delivered from the held list (super-packets or single segments).
    pub flushed: u64,
    /// Frames that were not GRO candidates or broke a flow.
    pub passed: u64,
    /// Super-packets lost because their header could not be made writable.
    pub failed: u64,
}

/// The fields of a candidate segment GRO compares, as numbers. The byte strings it also
/// compares (MAC header, addresses and ports, TCP options) are compared where they lie in the
/// frame, against the copy its flow took of its first segment's ([`FlowKey`]): copying them
/// out of every segment first, into a value whose wide loads then waited for those narrow
/// stores, was a third of the time GRO spent per segment.
#[derive(Debug, Clone, Copy)]
struct Seg {
    vlan_tci: Option<u16>,
    tos: u8,
    ttl: u8,
    df: bool,
    seq: u32,
    ack: u32,
    flags: u8,
    thlen: usize,
    payload: usize,
    ip_total: usize,
}

/// The header bytes of a flow's first segment that every later one must repeat.
#[derive(Debug, Clone, Copy)]
struct FlowKey {
    mac: [u8; ETH_LEN],
    addrs_ports: [u8; 12],
    /// The TCP options (`first.thlen - 20` bytes of them).
    options: [u8; 40],
}

impl FlowKey {
    /// The key of `hdr`, a segment's headers (Ethernet, IPv4 without options, TCP) up to the
    /// end of its TCP options.
    fn of(hdr: &[u8]) -> FlowKey {
        let mut key = FlowKey {
            mac: [0; ETH_LEN],
            addrs_ports: [0; 12],
            options: [0; 40],
        };
        copy_prefix(&mut key.mac, hdr.get(..ETH_LEN));
        copy_prefix(&mut key.addrs_ports, hdr.get(ADDRS_PORTS));
        copy_prefix(&mut key.options, hdr.get(OPTIONS..));
        key
    }

    /// True when `hdr` (as for [`FlowKey::of`]) is of the same flow: MAC header, addresses
    /// and ports.
    fn same_flow(&self, hdr: &[u8]) -> bool {
        array_at(hdr, 0) == Some(&self.mac)
            && array_at(hdr, ADDRS_PORTS.start) == Some(&self.addrs_ports)
    }

    /// True when `hdr`'s TCP options are the first segment's (the caller has compared the
    /// TCP header lengths).
    fn same_options(&self, hdr: &[u8]) -> bool {
        let opts = hdr.get(OPTIONS..).unwrap_or(&[]);
        // Timestamps alone (12 bytes, what every segment of a bulk transfer carries) are
        // compared as an array, without a call.
        if let (12, Some(ts)) = (opts.len(), array_at::<12>(opts, 0)) {
            return array_at::<12>(&self.options, 0) == Some(ts);
        }
        self.options.get(..opts.len()) == Some(opts)
    }
}

/// Where the IPv4 addresses and the TCP ports lie in a frame's headers.
const ADDRS_PORTS: std::ops::Range<usize> = ETH_LEN + 12..ETH_LEN + IP_LEN + 4;
/// Where the TCP options start in a frame's headers.
const OPTIONS: usize = ETH_LEN + IP_LEN + 20;

/// The `N` bytes of `hdr` from `at`, as an array: compared with another of the same size known
/// here, they take a few wide compares where a slice compare calls `bcmp`.
#[inline(always)]
fn array_at<const N: usize>(hdr: &[u8], at: usize) -> Option<&[u8; N]> {
    hdr.get(at..at.checked_add(N)?)?.try_into().ok()
}

/// Copies as much of `src` as fits into the start of `dst`.
fn copy_prefix(dst: &mut [u8], src: Option<&[u8]>) {
    let src = src.unwrap_or(&[]);
    let n = src.len().min(dst.len());
    dst[..n].copy_from_slice(&src[..n]);
}

#[derive(Debug)]
struct Flow {
    pkt: PacketBuf,
    first: Seg,
    key: FlowKey,
    next_seq: u32,
    mss: usize,
    ip_total: usize,
    segs: u16,
    or_flags: u8,
    /// When its first segment arrived.
    since: Instant,
}

/// The GRO state of one receive queue.
#[derive(Debug, Default)]
pub struct Gro {
    held: Held,
    /// What [`Self::receive_to_out`] delivered, for the device layer to take up the stack;
    /// also the list it lends to `flush`, kept to avoid reallocating.
    pub(crate) out: Vec<PacketBuf>,
}

/// The flows GRO holds and its counters: apart from the output list, so that a frame can be
/// merged with the list borrowed beside them.
#[derive(Debug, Default)]
struct Held {
    flows: Vec<Flow>,
    stats: GroStats,
}

impl Gro {
    /// Counters.
    pub fn stats(&self) -> &GroStats {
        &self.held.stats
    }

    /// Flows held now.
    pub fn held(&self) -> usize {
        self.held.flows.len()
    }

    /// Offers one frame (data at the Ethernet header), received at `now`. Frames ready to go
    /// up the stack — held super-packets that had to be delivered, and the frame itself when
    /// not held — are appended to `out` in the order they must be delivered.
    pub fn receive(
        &mut self,
        frame: PacketBuf,
        now: Instant,
        out: &mut Vec<PacketBuf>,
    ) -> GroOutcome {
        self.held.receive(frame, now, out)
    }

    /// [`Self::receive`] into the list the device layer drains after each frame (`out`):
    /// most frames join a held flow and deliver nothing, and then the list is not touched.
    pub(crate) fn receive_to_out(&mut self, frame: PacketBuf, now: Instant) -> GroOutcome {
        self.held.receive(frame, now, &mut self.out)
    }

    /// Delivers every held super-packet, oldest first (`napi_gro_flush`).
    pub fn flush(&mut self, out: &mut Vec<PacketBuf>) {
        self.held.flush(out);
    }

    /// Delivers, oldest first, the super-packets held for [`GRO_MAX_AGE`] or longer at `now`
    /// (`napi_gro_flush(napi, true)`); younger ones stay to grow in the next poll.
    pub fn flush_older(&mut self, now: Instant, out: &mut Vec<PacketBuf>) {
        self.held.flush_older(now, out);
    }
}

impl Held {
    fn receive(
        &mut self,
        mut frame: PacketBuf,
        now: Instant,
        out: &mut Vec<PacketBuf>,
    ) -> GroOutcome {
        let Some(seg) = candidate(&mut frame) else {
            self.stats.passed += 1;
            out.push(frame);
            return GroOutcome::Passed;
        };
        // `candidate` checked that the frame holds its headers whole.
        let hdr = frame
            .data()
            .get(..ETH_LEN + IP_LEN + seg.thlen)
            .unwrap_or(&[]);
        let found = self
            .flows
            .iter()
            .position(|f| f.first.vlan_tci == seg.vlan_tci && f.key.same_flow(hdr));
        if let Some(i) = found {
            let f = &self.flows[i];
            let continues = seg.seq == f.next_seq
                && seg.ack == f.first.ack
                && (seg.flags & !(CWR | FIN | PSH)) == (f.first.flags & !(CWR | FIN | PSH))
                && seg.flags & CWR == 0
                && seg.tos == f.first.tos
                && seg.ttl == f.first.ttl
                && seg.df == f.first.df
                && seg.thlen == f.first.thlen
                && f.key.same_options(hdr)
                && seg.payload > 0
                && seg.payload <= f.mss;
            if !continues {
                self.deliver(i, out);
                self.stats.passed += 1;
                out.push(frame);
                return GroOutcome::Passed;
            }
            let fits = f.ip_total + seg.payload <= MAX_GRO_SIZE
                && f.pkt.nr_frags() + 1 + frame.nr_frags() <= MAX_FRAGS;
            if fits && frame.pull(ETH_LEN + IP_LEN + seg.thlen).is_ok() {
                let f = &mut self.flows[i];
                if f.pkt.append_frags(frame).is_err() {
                    // Cannot happen after the checks above; the segment is lost if it does.
                    self.stats.failed += 1;
                    return GroOutcome::Passed;
                }
                f.next_seq = f.next_seq.wrapping_add(seg.payload as u32);
                f.ip_total += seg.payload;
                f.segs += 1;
                f.or_flags |= seg.flags & (FIN | PSH);
                self.stats.merged += 1;
                if seg.payload < f.mss || seg.flags & (PSH | FIN | URG | RST | SYN) != 0 {
                    self.deliver(i, out);
                }
                return GroOutcome::Merged;
            }
            // Too big to grow: deliver what is held and start again with this segment.
            self.deliver(i, out);
        }
        if seg.payload == 0 || seg.flags & (PSH | FIN | URG | RST | SYN | CWR) != 0 {
            self.stats.passed += 1;
            out.push(frame);
            return GroOutcome::Passed;
        }
        if self.flows.len() >= MAX_GRO_FLOWS {
            self.deliver(0, out);
        }
        let key = FlowKey::of(
            frame
                .data()
                .get(..ETH_LEN + IP_LEN + seg.thlen)
                .unwrap_or(&[]),
        );
        frame.meta.csum = ChecksumState::Unnecessary;
        self.flows.push(Flow {
            pkt: frame,
            first: seg,
            key,
            next_seq: seg.seq.wrapping_add(seg.payload as u32),
            mss: seg.payload,
            ip_total: seg.ip_total,
            segs: 1,
            or_flags: 0,
            since: now,
        });
        GroOutcome::Held
    }

    fn flush(&mut self, out: &mut Vec<PacketBuf>) {
        while !self.flows.is_empty() {
            self.deliver(0, out);
        }
    }

    fn flush_older(&mut self, now: Instant, out: &mut Vec<PacketBuf>) {
        // Flows are held in arrival order, so the old ones are a prefix.
        while self
            .flows
            .first()
            .is_some_and(|f| now.saturating_duration_since(f.since) >= GRO_MAX_AGE)
        {
            self.deliver(0, out);
        }
    }

    /// Finishes flow `i` (`tcp_gro_complete`): fixes the IPv4 total length and checksum and
    /// the TCP flags, records the segment size and count, and appends it to `out`.
    fn deliver(&mut self, i: usize, out: &mut Vec<PacketBuf>) {
        let f = self.flows.remove(i);
        self.stats.flushed += 1;
        let mut pkt = f.pkt;
        if f.segs > 1 {
            let total = f.ip_total as u16;
            let Ok(d) = pkt.data_mut() else {
                self.stats.failed += 1;
                return;
            };
            let ip = &mut d[ETH_LEN..];
            ip[2..4].copy_from_slice(&total.to_be_bytes());
            ip[10..12].copy_from_slice(&[0, 0]);
            let c = checksum::checksum(&ip[..IP_LEN]);
            ip[10..12].copy_from_slice(&c.to_be_bytes());
            ip[IP_LEN + 13] |= f.or_flags;
            pkt.meta.gso_size = f.mss as u16;
            pkt.meta.gso_segs = f.segs;
        }
        pkt.meta.csum = ChecksumState::Unnecessary;
        out.push(pkt);
    }
}

/// Parses a frame as a GRO candidate, trimming Ethernet padding; `None` when it is not one.
fn candidate(frame: &mut PacketBuf) -> Option<Seg> {
    // Ethernet, IPv4 without options and the fixed TCP header, read from one array: one
    // length check, and no bounds check on any field.
    let h: &[u8; ETH_LEN + IP_LEN + 20] = array_at(frame.data(), 0)?;
    if u16::from_be_bytes([h[12], h[13]]) != ethertype::IPV4 {
        return None;
    }
    let ip: &[u8; IP_LEN] = array_at(h, ETH_LEN)?;
    if ip[0] != 0x45 || ip[9] != protocol::TCP || !checksum::verify(ip) {
        return None;
    }
    let frag = u16::from_be_bytes([ip[6], ip[7]]);
    if frag & 0x3fff != 0 {
        return None;
    }
    let ip_total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
    let len = frame.len();
    if ip_total < IP_LEN + 20 || ETH_LEN + ip_total > len {
        return None;
    }
    let tcp: &[u8; 20] = array_at(h, ETH_LEN + IP_LEN)?;
    let thlen = usize::from(tcp[12] >> 4) * 4;
    if thlen < 20 || IP_LEN + thlen > ip_total || ETH_LEN + IP_LEN + thlen > frame.head_len() {
        return None;
    }
    let seg = Seg {
        vlan_tci: frame.meta.vlan_tci,
        tos: ip[1],
        ttl: ip[8],
        df: frag & 0x4000 != 0,
        seq: u32::from_be_bytes([tcp[4], tcp[5], tcp[6], tcp[7]]),
        ack: u32::from_be_bytes([tcp[8], tcp[9], tcp[10], tcp[11]]),
        flags: tcp[13],
        thlen,
        payload: ip_total - IP_LEN - thlen,
        ip_total,
    };
    let (src, dst) = (&ip[12..16], &ip[16..20]);
    let (src, dst) = (
        std::net::Ipv4Addr::new(src[0], src[1], src[2], src[3]),
        std::net::Ipv4Addr::new(dst[0], dst[1], dst[2], dst[3]),
    );
    if len > ETH_LEN + ip_total {
        frame.trim(ETH_LEN + ip_total).ok()?;
    }
    if frame.meta.csum != ChecksumState::Unnecessary {
        // Linux validates before merging (`skb_gro_checksum_validate`): a merged packet's
        // checksum can no longer be checked segment by segment.
        // The frame ends with the segment (trimmed above); a software-GSO segment carries its
        // payload in fragments, summed in place.
        let mut body = checksum::Pieces::default();
        body.add(frame.data().get(ETH_LEN + IP_LEN..)?);
        for frag in frame.frags() {
            body.add(frag);
        }
        let body = body.sum();
        let sum = checksum::add(
            checksum::pseudo_header_v4(src, dst, protocol::TCP, (ip_total - IP_LEN) as u16),
            body,
        );
        if sum != 0xffff {
            return None;
        }
    }
    Some(seg)
}
