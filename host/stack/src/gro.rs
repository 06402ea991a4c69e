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
    /// Ethernet, IPv4 and the fixed TCP header: the MAC header, addresses and ports
    /// [`Self::same_flow`] compares, and what [`repeats`] compares.
    fixed: [u8; FIXED],
    /// The TCP options (`first.thlen - 20` bytes of them).
    options: [u8; 40],
}

impl FlowKey {
    /// The key of `hdr`, a segment's headers (Ethernet, IPv4 without options, TCP) up to the
    /// end of its TCP options.
    fn of(hdr: &[u8]) -> FlowKey {
        let mut key = FlowKey {
            fixed: [0; FIXED],
            options: [0; 40],
        };
        copy_prefix(&mut key.fixed, hdr.get(..FIXED));
        copy_prefix(&mut key.options, hdr.get(OPTIONS..));
        key
    }

    /// True when `hdr` (as for [`FlowKey::of`]) is of the same flow: MAC header, addresses
    /// and ports.
    fn same_flow(&self, hdr: &[u8]) -> bool {
        let at = ADDRS_PORTS.start;
        array_at::<ETH_LEN>(hdr, 0) == array_at(&self.fixed, 0)
            && array_at::<12>(hdr, at) == array_at(&self.fixed, at)
    }

    /// True when `hdr`'s TCP options are the first segment's (the caller has compared the
    /// TCP header lengths).
    #[inline(always)]
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

/// Ethernet, IPv4 without options and the fixed TCP header.
const FIXED: usize = ETH_LEN + IP_LEN + 20;

/// Which bytes of [`FIXED`] every segment that continues a flow repeats from its first (0xff)
/// and which are its own (0): the IPv4 total length, identification and checksum, and the TCP
/// sequence number, flags (compared apart), window, checksum and urgent pointer. Repeated are
/// the MAC header, the IPv4 version and header length, TOS, fragment field, TTL, protocol and
/// addresses, and the TCP ports, acknowledgment number and data offset: what [`candidate`]
/// checks and `receive` compares field by field.
const REPEATED: [u8; FIXED] = {
    let mut m = [0xff; FIXED];
    let own = [
        16, 17, 18, 19, 24, 25, 38, 39, 40, 41, 47, 48, 49, 50, 51, 52, 53,
    ];
    let mut k = 0;
    while k < own.len() {
        m[own[k]] = 0;
        k += 1;
    }
    m
};

/// Bytes of [`FIXED`] that hold a repeated byte: the last six (TCP window, checksum and urgent
/// pointer) are all a segment's own.
const REPEATED_IN: usize = 48;
const _: () = {
    let mut k = REPEATED_IN;
    while k < FIXED {
        assert!(REPEATED[k] == 0);
        k += 1;
    }
};

/// True when `hdr` has every [`REPEATED`] byte of `first`: six 64-bit words, each compared
/// under its mask, in place of a dozen field comparisons.
#[inline(always)]
fn repeats(hdr: &[u8; FIXED], first: &[u8; FIXED]) -> bool {
    let word = |b: &[u8; FIXED], at: usize| {
        u64::from_ne_bytes([
            b[at],
            b[at + 1],
            b[at + 2],
            b[at + 3],
            b[at + 4],
            b[at + 5],
            b[at + 6],
            b[at + 7],
        ])
    };
    let mut diff = 0;
    let mut at = 0;
    while at < REPEATED_IN {
        diff |= (word(hdr, at) ^ word(first, at)) & word(&REPEATED, at);
        at += 8;
    }
    diff == 0
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
    /// Every frame through the full check ([`candidate`] and the comparisons of `receive`),
    /// for the test that the shortcut ([`Held::continues_last`]) decides as it does.
    #[cfg(test)]
    full_check_only: bool,
    /// Frames the shortcut merged (that test's proof that it ran).
    #[cfg(test)]
    shortcut_taken: u64,
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
        // The usual frame of a bulk transfer continues the flow held last: checked at once.
        let (seg, continues) = match self.continues_last(&frame) {
            Some(seg) => {
                #[cfg(test)]
                {
                    self.shortcut_taken += 1;
                }
                (seg, self.flows.len().checked_sub(1))
            }
            None => {
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
                        && seg.tos == f.first.tos
                        && seg.ttl == f.first.ttl
                        && seg.df == f.first.df
                        && seg.thlen == f.first.thlen
                        && f.continues_with(&seg, hdr);
                    if !continues {
                        self.deliver(i, out);
                        self.stats.passed += 1;
                        out.push(frame);
                        return GroOutcome::Passed;
                    }
                }
                (seg, found)
            }
        };
        if let Some(i) = continues {
            let f = &self.flows[i];
            let fits = f.ip_total + seg.payload <= MAX_GRO_SIZE
                && f.pkt.nr_frags() + 1 + frame.nr_frags() <= MAX_FRAGS;
            let hdr_len = ETH_LEN + IP_LEN + seg.thlen;
            // Nearly always the segment's payload continues the flow's last fragment.
            if fits {
                match self.flows[i].pkt.absorb_continuation(frame, hdr_len) {
                    Ok(()) => {
                        self.merged(i, &seg, out);
                        return GroOutcome::Merged;
                    }
                    Err(back) => frame = back,
                }
            }
            if fits && frame.pull(hdr_len).is_ok() {
                let f = &mut self.flows[i];
                if f.pkt.append_frags(frame).is_err() {
                    // Cannot happen after the checks above; the segment is lost if it does.
                    self.stats.failed += 1;
                    return GroOutcome::Passed;
                }
                self.merged(i, &seg, out);
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

    /// The segment `frame` when it continues the flow held last, as the full check
    /// ([`candidate`], then the comparisons of `receive`) would find: its fixed headers
    /// repeat the flow's first segment's ([`repeats`], one masked compare for the MAC header,
    /// the IPv4 version, TOS, fragment field, TTL, protocol and addresses and the TCP ports,
    /// acknowledgment number and header length), it is the next in sequence, its flags, TCP
    /// options and size continue the flow, and both checksums hold. `None` sends the frame
    /// through the full check, which also finds whatever this does not look for.
    #[inline(always)]
    fn continues_last(&self, frame: &PacketBuf) -> Option<Seg> {
        #[cfg(test)]
        if self.full_check_only {
            return None;
        }
        let f = self.flows.last()?;
        if frame.meta.vlan_tci != f.first.vlan_tci {
            return None;
        }
        let d = frame.data();
        let h: &[u8; FIXED] = array_at(d, 0)?;
        if !repeats(h, &f.key.fixed) {
            return None;
        }
        let seg = seg_of(h, f.first.vlan_tci)?;
        // No padding to trim (that is left to the full check), the headers whole in the head.
        let hdr = d.get(..ETH_LEN + IP_LEN + seg.thlen)?;
        let fits_frame = ETH_LEN + seg.ip_total == frame.len();
        let ip: &[u8; IP_LEN] = array_at(h, ETH_LEN)?;
        (fits_frame
            && seg.seq == f.next_seq
            && f.continues_with(&seg, hdr)
            && checksum::verify(ip)
            && tcp_checksum_ok(frame, d, &seg))
        .then_some(seg)
    }
}

impl Flow {
    /// The checks of a segment `seg` (headers `hdr`) of this flow that [`repeats`] leaves
    /// out: flags as the first segment's but for CWR, FIN and PSH, and no CWR; the same TCP
    /// options; a payload, not bigger than the first's.
    #[inline(always)]
    fn continues_with(&self, seg: &Seg, hdr: &[u8]) -> bool {
        (seg.flags & !(CWR | FIN | PSH)) == (self.first.flags & !(CWR | FIN | PSH))
            && seg.flags & CWR == 0
            && self.key.same_options(hdr)
            && seg.payload > 0
            && seg.payload <= self.mss
    }
}

impl Held {
    /// Accounts segment `seg`, just merged into flow `i`, and delivers the flow when the
    /// segment ends it (short, or flags that must go up at once).
    #[inline(always)]
    fn merged(&mut self, i: usize, seg: &Seg, out: &mut Vec<PacketBuf>) {
        let Some(f) = self.flows.get_mut(i) else {
            return;
        };
        f.next_seq = f.next_seq.wrapping_add(seg.payload as u32);
        f.ip_total += seg.payload;
        f.segs += 1;
        f.or_flags |= seg.flags & (FIN | PSH);
        self.stats.merged += 1;
        if seg.payload < f.mss || seg.flags & (PSH | FIN | URG | RST | SYN) != 0 {
            self.deliver(i, out);
        }
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
    let h: &[u8; FIXED] = array_at(frame.data(), 0)?;
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
    let seg = seg_of(h, frame.meta.vlan_tci)?;
    let len = frame.len();
    if ETH_LEN + seg.ip_total > len || ETH_LEN + IP_LEN + seg.thlen > frame.head_len() {
        return None;
    }
    if len > ETH_LEN + seg.ip_total {
        frame.trim(ETH_LEN + seg.ip_total).ok()?;
    }
    tcp_checksum_ok(frame, frame.data(), &seg).then_some(seg)
}

/// The fields of the segment whose fixed headers are `h` (IPv4 without options, checked by
/// the caller), or `None` when its lengths do not hold together.
#[inline(always)]
fn seg_of(h: &[u8; FIXED], vlan_tci: Option<u16>) -> Option<Seg> {
    let ip: &[u8; IP_LEN] = array_at(h, ETH_LEN)?;
    let tcp: &[u8; 20] = array_at(h, ETH_LEN + IP_LEN)?;
    let ip_total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
    let thlen = usize::from(tcp[12] >> 4) * 4;
    if ip_total < IP_LEN + 20 || thlen < 20 || IP_LEN + thlen > ip_total {
        return None;
    }
    Some(Seg {
        vlan_tci,
        tos: ip[1],
        ttl: ip[8],
        df: ip[6] & 0x40 != 0,
        seq: u32::from_be_bytes([tcp[4], tcp[5], tcp[6], tcp[7]]),
        ack: u32::from_be_bytes([tcp[8], tcp[9], tcp[10], tcp[11]]),
        flags: tcp[13],
        thlen,
        payload: ip_total - IP_LEN - thlen,
        ip_total,
    })
}

/// True when the TCP checksum of `frame` (data `d`, ending with segment `seg`) holds, or the device
/// checked it. Linux validates before merging (`skb_gro_checksum_validate`): a merged
/// packet's checksum can no longer be checked segment by segment. A software-GSO segment
/// carries its payload in fragments, summed in place.
#[inline(always)]
fn tcp_checksum_ok(frame: &PacketBuf, d: &[u8], seg: &Seg) -> bool {
    if matches!(frame.meta.csum, ChecksumState::Unnecessary) {
        return true;
    }
    let (Some(addrs), Some(tcp)) = (array_at::<8>(d, ETH_LEN + 12), d.get(ETH_LEN + IP_LEN..))
    else {
        return false;
    };
    let mut body = checksum::Pieces::default();
    body.add(tcp);
    for frag in frame.frags() {
        body.add(frag);
    }
    let src = std::net::Ipv4Addr::new(addrs[0], addrs[1], addrs[2], addrs[3]);
    let dst = std::net::Ipv4Addr::new(addrs[4], addrs[5], addrs[6], addrs[7]);
    let pseudo =
        checksum::pseudo_header_v4(src, dst, protocol::TCP, (seg.ip_total - IP_LEN) as u16);
    checksum::add(pseudo, body.sum()) == 0xffff
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::test_rng::Rng;

    /// A number in `[0, n)` from `rng`, as an index.
    fn below(rng: &mut Rng, n: usize) -> usize {
        rng.below(n as u64) as usize
    }

    /// An Ethernet + IPv4 + TCP (timestamps option) frame of flow `port` with sequence number
    /// `seq`, `flags` and `payload`, checksums right: 66 bytes of headers.
    fn frame(port: u16, seq: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
        use crate::wire::ethernet::EthernetAddress;
        use crate::wire::tcp::{TcpFlags, TcpOptions, TcpRepr, TcpTimestamps};
        let repr = TcpRepr {
            src_port: port,
            dst_port: 5001,
            seq,
            ack: 7,
            flags: TcpFlags(u16::from(flags)),
            window: 1000,
            urgent: 0,
            options: TcpOptions {
                timestamps: Some(TcpTimestamps { tsval: 9, tsecr: 3 }),
                ..TcpOptions::default()
            },
        };
        let f = crate::netsim::tcp_frame(
            EthernetAddress([2, 0, 0, 0, 0, 1]),
            EthernetAddress([2, 0, 0, 0, 0, 2]),
            std::net::SocketAddrV4::new(std::net::Ipv4Addr::new(10, 0, 0, 1), port),
            std::net::SocketAddrV4::new(std::net::Ipv4Addr::new(10, 0, 0, 2), 5001),
            &repr,
            payload,
        )
        .expect("a TCP segment with timestamps has a valid header");
        assert_eq!(f.len(), 66 + payload.len(), "headers of 66 bytes");
        f
    }

    /// Writes the IPv4 and TCP checksums of `f` (a frame as [`frame`] makes, however changed
    /// since), as far as its lengths allow.
    fn fix_checksums(f: &mut [u8]) {
        f[24..26].copy_from_slice(&[0, 0]);
        let c = checksum::checksum(&f[14..34]);
        f[24..26].copy_from_slice(&c.to_be_bytes());
        let ip_total = usize::from(u16::from_be_bytes([f[16], f[17]]));
        let end = (14 + ip_total).min(f.len());
        if end < 54 {
            return;
        }
        f[50..52].copy_from_slice(&[0, 0]);
        let src = std::net::Ipv4Addr::new(f[26], f[27], f[28], f[29]);
        let dst = std::net::Ipv4Addr::new(f[30], f[31], f[32], f[33]);
        let len = (ip_total.saturating_sub(20)) as u16;
        let sum = checksum::add(
            checksum::pseudo_header_v4(src, dst, protocol::TCP, len),
            checksum::sum(&f[34..end]),
        );
        f[50..52].copy_from_slice(&(!sum).to_be_bytes());
    }

    /// `bytes` as a received buffer: one linear head, or, as software GSO builds a segment,
    /// the first 66 bytes in an inline head and the rest as a fragment.
    fn buf(bytes: &[u8], split: bool, vlan: Option<u16>) -> PacketBuf {
        let mut b = if split && bytes.len() > 66 {
            let mut b = PacketBuf::with_inline_head(32);
            b.put_slice(&bytes[..66]).unwrap();
            b.append_frags(PacketBuf::from_slice(0, &bytes[66..]))
                .unwrap();
            b
        } else {
            PacketBuf::from_slice(0, bytes)
        };
        b.meta.vlan_tci = vlan;
        b
    }

    /// What GRO delivered, comparably: each packet's segment count and size and its bytes.
    fn delivered(out: &[PacketBuf]) -> Vec<(u16, u16, Vec<u8>)> {
        out.iter()
            .map(|p| {
                let mut b = vec![0; p.len()];
                p.copy_range_to(0, &mut b);
                (p.meta.gso_segs, p.meta.gso_size, b)
            })
            .collect()
    }

    #[test]
    fn the_shortcut_decides_every_frame_as_the_full_check_does() {
        let mut rng = Rng(0x5eed_1234_abcd_0001);
        let mut shortcut = 0;
        for round in 0..3000 {
            // Bursts of two flows, interleaved now and then, with segments of one size
            // (a shorter last one), some changed: a header byte (checksums fixed or not),
            // the sequence number, flags, the length, padding, the VLAN tag.
            let mss = 64 + below(&mut rng, 200);
            let mut frames = Vec::new();
            let mut seq = [1000u32, 5000];
            for k in 0..(2 + below(&mut rng, 14)) {
                let flow = usize::from(below(&mut rng, 8) == 0);
                let len = if below(&mut rng, 10) == 0 {
                    below(&mut rng, mss)
                } else {
                    mss
                };
                let payload: Vec<u8> = (0..len).map(|i| (i + k) as u8).collect();
                let flags = if below(&mut rng, 12) == 0 {
                    [0x08, 0x01, 0x80, 0x20, 0x04][below(&mut rng, 5)]
                } else {
                    0x10
                };
                let mut f = frame(40000 + flow as u16, seq[flow], flags | 0x10, &payload);
                seq[flow] = seq[flow].wrapping_add(len as u32);
                let mut vlan = None;
                match below(&mut rng, 10) {
                    0 => {
                        let at = below(&mut rng, 66);
                        f[at] ^= 1 << below(&mut rng, 8);
                        if below(&mut rng, 4) != 0 {
                            fix_checksums(&mut f);
                        }
                    }
                    1 => {
                        let at = 38 + below(&mut rng, 4);
                        f[at] ^= 1;
                        fix_checksums(&mut f);
                    }
                    2 => f.extend_from_slice(&[0; 6]),
                    3 => {
                        let cut = below(&mut rng, f.len());
                        f.truncate(cut);
                    }
                    4 => vlan = Some(7),
                    _ => {}
                }
                frames.push((f, below(&mut rng, 2) == 0, vlan));
            }
            let mut results = Vec::new();
            for full_check_only in [false, true] {
                let mut gro = Gro::default();
                gro.held.full_check_only = full_check_only;
                let mut out = Vec::new();
                let outcomes: Vec<GroOutcome> = frames
                    .iter()
                    .map(|(f, split, vlan)| {
                        gro.receive(buf(f, *split, *vlan), Instant::ZERO, &mut out)
                    })
                    .collect();
                gro.flush(&mut out);
                if !full_check_only {
                    shortcut += gro.held.shortcut_taken;
                }
                results.push((outcomes, delivered(&out), *gro.stats()));
            }
            assert_eq!(results[0], results[1], "round {round}");
        }
        assert!(shortcut > 2_000, "the shortcut merged {shortcut} frames");
    }
}
