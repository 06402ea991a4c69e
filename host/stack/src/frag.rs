//! IPv4 fragmentation, reassembly and the path-MTU cache (Linux `ip_defrag`/`ip_frag_queue`/
//! `ip_frag_reasm`, `ip_fragment`/`ip_do_fragment`, and `__ip_rt_update_pmtu`).
//!
//! Three pieces of the IPv4 path that do not depend on the wire format:
//!
//! - [`Reassembler`] — the defrag stage after INPUT routing. It works on a plain
//!   [`FragmentDesc`] (addresses, protocol, id, byte offset, more-fragments flag, the raw header
//!   and the payload), so the IPv4 parser can be glued on later. Fragments are queued by
//!   (source, destination, protocol, id); a queue lives at most `timeout` (30 s, `ipfrag_time`)
//!   from its first fragment, and when it expires after the first fragment (offset 0) arrived the
//!   caller is told to send ICMP time exceeded, code 1 ("fragment reassembly time exceeded"),
//!   quoting that fragment's header and first 8 payload bytes.
//!   Limits: a datagram may not exceed 65535 bytes including its header; all queues together may
//!   not use more than `high_thresh` bytes (`ipfrag_high_thresh`, 4 MiB), and when they do the
//!   oldest queues are evicted until usage is under `low_thresh` (3 MiB). Usage counts payload
//!   and header bytes plus a fixed overhead per fragment and per queue, so a flood of tiny
//!   fragments is bounded as well as a flood of big ones.
//!   Overlaps: like Linux since 4.19 (and RFC 5722 for IPv6), **any** overlap between fragments
//!   discards the whole datagram. A fragment with exactly the offset, length and bytes of one
//!   already held is a harmless duplicate (a retransmission or a duplicating link): it is dropped
//!   and counted and the datagram keeps waiting. A fragment covering the same range with
//!   *different* bytes counts as an overlap; Linux does not compare bytes and would keep the
//!   first copy, we refuse to choose between two versions of the data.
//!   As in Linux, a non-final fragment whose length is not a multiple of 8 is trimmed to one.
//! - [`fragment_plan`] — output fragmentation: which (offset, length, MF) pieces a datagram is
//!   cut into for an MTU, 8-byte aligned, or "fragmentation needed and DF set" with the MTU to
//!   report in ICMP.
//! - [`PmtuCache`] — path MTUs learnt from ICMP fragmentation-needed, per destination, clamped
//!   below at `min_pmtu` (552, never under 68) and forgotten after 10 minutes (`mtu_expires`).
//!
//! Counters follow `/proc/net/snmp`: `ReasmReqds`, `ReasmOKs`, `ReasmFails`, `ReasmTimeout`,
//! plus `ReasmOverlaps` from `/proc/net/netstat`; and on output `FragOKs`, `FragFails`,
//! `FragCreates` ([`FragOutStats`]).

use crate::time::Instant;
use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;
use std::time::Duration;

/// The largest IPv4 datagram, header included.
pub const MAX_DATAGRAM: usize = 65_535;
/// The smallest MTU every IPv4 link must carry (RFC 791).
pub const IPV4_MIN_MTU: usize = 68;
/// Bytes charged per held fragment on top of its data (the bookkeeping an `sk_buff` costs).
pub const FRAG_OVERHEAD: usize = 64;
/// Bytes charged per reassembly queue on top of its fragments.
pub const QUEUE_OVERHEAD: usize = 128;

/// What identifies the fragments of one datagram (RFC 791).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FragKey {
    /// Source address.
    pub src: Ipv4Addr,
    /// Destination address.
    pub dst: Ipv4Addr,
    /// IP protocol number.
    pub protocol: u8,
    /// Identification field.
    pub id: u16,
}

/// One received fragment, described independently of the wire format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FragmentDesc<'a> {
    /// The datagram it belongs to.
    pub key: FragKey,
    /// Position of `payload` in the datagram's payload, in bytes (a multiple of 8).
    pub offset: usize,
    /// The MF flag: more fragments follow.
    pub more_fragments: bool,
    /// The fragment's IPv4 header, options included (20..=60 bytes). The first fragment's
    /// header becomes the reassembled datagram's header and is quoted in ICMP errors.
    pub header: &'a [u8],
    /// The fragment's payload.
    pub payload: &'a [u8],
}

/// A complete datagram out of reassembly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reassembled {
    /// Which datagram.
    pub key: FragKey,
    /// The first fragment's header, unchanged: the caller fixes total length, flags, offset
    /// and checksum when it rebuilds the packet.
    pub header: Vec<u8>,
    /// The whole payload.
    pub payload: Vec<u8>,
}

/// A reassembly that timed out after its first fragment arrived: send ICMP time exceeded,
/// code 1, quoting `header` and `leading` (RFC 792: the header and 64 bits of data).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReassemblyTimedOut {
    /// Which datagram.
    pub key: FragKey,
    /// The first fragment's IPv4 header.
    pub header: Vec<u8>,
    /// Up to the first 8 bytes of the first fragment's payload.
    pub leading: Vec<u8>,
}

/// Why a fragment was not taken (each is counted in [`ReasmStats`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DefragError {
    /// The header is not 20..=60 bytes long.
    #[error("fragment header length {0} is not 20..=60")]
    BadHeader(usize),
    /// The offset is not a multiple of 8.
    #[error("fragment offset {0} is not a multiple of 8")]
    Misaligned(usize),
    /// The fragment carries no data (after trimming a non-final one to 8 bytes).
    #[error("empty fragment")]
    Empty,
    /// The datagram would exceed 65535 bytes; it is discarded.
    #[error("reassembled datagram would be {0} bytes, over 65535")]
    Oversize(usize),
    /// The fragment disagrees with the known end of the datagram (data past the final
    /// fragment, or two different final fragments); the datagram is discarded.
    #[error("fragment inconsistent with the datagram's end")]
    InconsistentEnd,
    /// The fragment overlaps one already held; the datagram is discarded.
    #[error("overlapping fragment: datagram discarded")]
    Overlap,
    /// An exact copy of a fragment already held; dropped, the datagram keeps waiting.
    #[error("duplicate fragment")]
    Duplicate,
    /// Reassembly memory went over `high_thresh` and this datagram was among the oldest.
    #[error("reassembly memory full: datagram evicted")]
    Evicted,
}

/// Reassembly counters, as in `/proc/net/snmp` (Ip: Reasm*) and `/proc/net/netstat`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReasmStats {
    /// Fragments received (`ReasmReqds`).
    pub reqds: u64,
    /// Datagrams reassembled (`ReasmOKs`).
    pub oks: u64,
    /// Datagrams discarded or fragments refused, for any reason (`ReasmFails`).
    pub fails: u64,
    /// Datagrams that timed out (`ReasmTimeout`).
    pub timeouts: u64,
    /// Datagrams discarded for overlapping fragments (`ReasmOverlaps`).
    pub overlaps: u64,
    /// Duplicate fragments dropped.
    pub duplicates: u64,
    /// Datagrams discarded for exceeding 65535 bytes.
    pub oversize: u64,
    /// Fragments refused as malformed (bad header length, misaligned, empty, inconsistent end).
    pub malformed: u64,
    /// Datagrams evicted because memory went over `high_thresh`.
    pub evicted: u64,
}

/// Reassembly tunables (`/proc/sys/net/ipv4/ipfrag_*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefragParams {
    /// How long a datagram may take to arrive, from its first fragment (`ipfrag_time`, 30 s).
    pub timeout: Duration,
    /// Memory above which the oldest datagrams are evicted (`ipfrag_high_thresh`, 4 MiB).
    pub high_thresh: usize,
    /// Eviction stops once memory is at or below this (`ipfrag_low_thresh`, 3 MiB).
    pub low_thresh: usize,
}

impl Default for DefragParams {
    fn default() -> Self {
        DefragParams {
            timeout: Duration::from_secs(30),
            high_thresh: 4 * 1024 * 1024,
            low_thresh: 3 * 1024 * 1024,
        }
    }
}

#[derive(Debug)]
struct Queue {
    seq: u64,
    created: Instant,
    /// Held fragments by offset; never overlapping.
    frags: BTreeMap<usize, Vec<u8>>,
    /// The offset-0 fragment's header, once it arrived.
    first_header: Option<Vec<u8>>,
    /// Payload length, once the final fragment arrived.
    total: Option<usize>,
    /// Highest end seen so far.
    max_end: usize,
    received: usize,
    mem: usize,
}

/// IPv4 reassembly: fragments in, whole datagrams out.
#[derive(Debug)]
pub struct Reassembler {
    params: DefragParams,
    queues: HashMap<FragKey, Queue>,
    /// Queues by creation order: the oldest is both the next to expire and the first to evict.
    order: BTreeMap<u64, FragKey>,
    next_seq: u64,
    mem: usize,
    stats: ReasmStats,
}

impl Default for Reassembler {
    fn default() -> Self {
        Reassembler::new(DefragParams::default())
    }
}

impl Reassembler {
    /// An empty reassembler.
    pub fn new(params: DefragParams) -> Self {
        Reassembler {
            params,
            queues: HashMap::new(),
            order: BTreeMap::new(),
            next_seq: 0,
            mem: 0,
            stats: ReasmStats::default(),
        }
    }

    /// The parameters in use.
    pub fn params(&self) -> &DefragParams {
        &self.params
    }

    /// Counters.
    pub fn stats(&self) -> &ReasmStats {
        &self.stats
    }

    /// Bytes charged to held fragments now.
    pub fn memory(&self) -> usize {
        self.mem
    }

    /// Datagrams being reassembled.
    pub fn pending(&self) -> usize {
        self.queues.len()
    }

    /// When the oldest datagram times out, if any is waiting.
    pub fn next_wakeup(&self) -> Option<Instant> {
        let key = self.order.values().next()?;
        self.queues
            .get(key)
            .map(|q| q.created + self.params.timeout)
    }

    fn kill(&mut self, key: &FragKey) -> Option<Queue> {
        let q = self.queues.remove(key)?;
        self.order.remove(&q.seq);
        self.mem -= q.mem;
        Some(q)
    }

    fn fail(&mut self, key: &FragKey, err: DefragError) -> DefragError {
        self.kill(key);
        self.stats.fails += 1;
        match err {
            DefragError::Overlap => self.stats.overlaps += 1,
            DefragError::Oversize(_) => self.stats.oversize += 1,
            DefragError::Evicted => self.stats.evicted += 1,
            DefragError::Duplicate => self.stats.duplicates += 1,
            _ => self.stats.malformed += 1,
        }
        err
    }

    /// Takes one fragment. Returns the whole datagram when this fragment completes it,
    /// `Ok(None)` when more are needed, or why the fragment (and maybe its datagram) was
    /// dropped.
    pub fn process(
        &mut self,
        frag: &FragmentDesc<'_>,
        now: Instant,
    ) -> Result<Option<Reassembled>, DefragError> {
        self.stats.reqds += 1;
        let key = frag.key;
        let hlen = frag.header.len();
        if !(20..=60).contains(&hlen) {
            self.stats.fails += 1;
            self.stats.malformed += 1;
            return Err(DefragError::BadHeader(hlen));
        }
        if frag.offset % 8 != 0 {
            self.stats.fails += 1;
            self.stats.malformed += 1;
            return Err(DefragError::Misaligned(frag.offset));
        }
        let mut data = frag.payload;
        if frag.more_fragments {
            data = &data[..data.len() & !7];
        }
        let end = frag.offset.saturating_add(data.len());
        // The whole datagram carries the first fragment's header, which can be longer than
        // the others (a BSD sender repeats only the copied options, where Linux and oxnic
        // put NOPs in place of the rest): size it with that header once known,
        // else with the 20-byte minimum (Linux `ip_frag_reasm`: `ip_hdrlen(head) + q.len`).
        let held = self.queues.get(&key);
        let first_hlen = if frag.offset == 0 {
            hlen
        } else {
            held.and_then(|q| q.first_header.as_ref())
                .map_or(20, Vec::len)
        };
        let size = held
            .map_or(end, |q| q.max_end.max(end))
            .saturating_add(first_hlen);
        if size > MAX_DATAGRAM {
            return Err(self.fail(&key, DefragError::Oversize(size)));
        }
        if data.is_empty() {
            return Err(self.fail(&key, DefragError::Empty));
        }

        if !self.queues.contains_key(&key) {
            let seq = self.next_seq;
            self.next_seq += 1;
            self.order.insert(seq, key);
            self.queues.insert(
                key,
                Queue {
                    seq,
                    created: now,
                    frags: BTreeMap::new(),
                    first_header: None,
                    total: None,
                    max_end: 0,
                    received: 0,
                    mem: QUEUE_OVERHEAD,
                },
            );
            self.mem += QUEUE_OVERHEAD;
        }
        let Some(q) = self.queues.get_mut(&key) else {
            return Err(self.fail(&key, DefragError::Evicted));
        };

        // The end of the datagram must stay consistent (ip_frag_queue).
        if !frag.more_fragments {
            if end < q.max_end || q.total.is_some_and(|t| t != end) {
                return Err(self.fail(&key, DefragError::InconsistentEnd));
            }
        } else if q.total.is_some_and(|t| end > t) {
            return Err(self.fail(&key, DefragError::InconsistentEnd));
        }

        // Neighbours in offset order: the one starting at or before us, and the next one.
        if let Some((&o, d)) = q.frags.range(..=frag.offset).next_back() {
            if o == frag.offset && d.len() == data.len() {
                if d.as_slice() == data {
                    self.stats.duplicates += 1;
                    return Err(DefragError::Duplicate);
                }
                return Err(self.fail(&key, DefragError::Overlap));
            }
            if o + d.len() > frag.offset {
                return Err(self.fail(&key, DefragError::Overlap));
            }
        }
        if let Some((&o, _)) = q.frags.range(frag.offset + 1..).next() {
            if o < end {
                return Err(self.fail(&key, DefragError::Overlap));
            }
        }

        if !frag.more_fragments {
            q.total = Some(end);
        }
        q.max_end = q.max_end.max(end);
        q.received += data.len();
        let mut charge = data.len() + FRAG_OVERHEAD;
        if frag.offset == 0 {
            q.first_header = Some(frag.header.to_vec());
            charge += hlen;
        }
        q.frags.insert(frag.offset, data.to_vec());
        q.mem += charge;
        self.mem += charge;

        if q.total == Some(q.received) {
            // Non-overlapping pieces inside [0, total) whose sizes add up to total: no holes.
            let q = self.kill(&key).ok_or(DefragError::Evicted)?;
            let mut payload = Vec::with_capacity(q.received);
            for d in q.frags.into_values() {
                payload.extend_from_slice(&d);
            }
            self.stats.oks += 1;
            return Ok(Some(Reassembled {
                key,
                header: q.first_header.unwrap_or_default(),
                payload,
            }));
        }

        if self.mem > self.params.high_thresh {
            let mut evicted_self = false;
            while self.mem > self.params.low_thresh {
                let Some((_, &oldest)) = self.order.iter().next() else {
                    break;
                };
                evicted_self |= oldest == key;
                if oldest == key {
                    // Counted by the caller-visible error below.
                    self.kill(&oldest);
                } else {
                    self.fail(&oldest, DefragError::Evicted);
                }
            }
            if evicted_self {
                return Err(self.fail(&key, DefragError::Evicted));
            }
        }
        Ok(None)
    }

    /// Time passed: discard datagrams older than `timeout`. Returns the ones for which ICMP
    /// time exceeded should be sent (those whose first fragment had arrived).
    pub fn poll(&mut self, now: Instant) -> Vec<ReassemblyTimedOut> {
        let mut out = Vec::new();
        while let Some((_, &key)) = self.order.iter().next() {
            let Some(q) = self.queues.get(&key) else {
                break;
            };
            if q.created + self.params.timeout > now {
                break;
            }
            let Some(q) = self.kill(&key) else {
                break;
            };
            self.stats.fails += 1;
            self.stats.timeouts += 1;
            if let (Some(header), Some(first)) = (q.first_header, q.frags.get(&0)) {
                out.push(ReassemblyTimedOut {
                    key,
                    header,
                    leading: first[..first.len().min(8)].to_vec(),
                });
            }
        }
        out
    }
}

/// One piece of an outgoing datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FragPiece {
    /// Offset of this piece in the original payload, in bytes (a multiple of 8). For a
    /// datagram that was itself a fragment, offsets include its original offset.
    pub offset: usize,
    /// Payload bytes in this piece.
    pub len: usize,
    /// The MF flag to set on this piece.
    pub more_fragments: bool,
    /// The header length this piece carries.
    pub header_len: usize,
}

/// What to cut up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FragmentRequest {
    /// Payload bytes of the datagram.
    pub payload_len: usize,
    /// Header length of the datagram (and of the first piece).
    pub header_len: usize,
    /// Header length of the later pieces: only options with the "copied" flag are repeated
    /// (`ip_options_fragment`), so this can be shorter. Equal to `header_len` without options.
    pub later_header_len: usize,
    /// The output MTU (or path MTU).
    pub mtu: usize,
    /// The DF flag.
    pub dont_fragment: bool,
    /// The datagram's own fragment offset when forwarding a fragment (else 0).
    pub offset: usize,
    /// The datagram's own MF flag when forwarding a fragment (else false): the last piece keeps it.
    pub more_fragments: bool,
}

impl FragmentRequest {
    /// A plain datagram with an option-less `header_len` header.
    pub fn new(payload_len: usize, header_len: usize, mtu: usize, dont_fragment: bool) -> Self {
        FragmentRequest {
            payload_len,
            header_len,
            later_header_len: header_len,
            mtu,
            dont_fragment,
            offset: 0,
            more_fragments: false,
        }
    }
}

/// Why a datagram cannot be sent as asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FragmentError {
    /// Too big for the MTU and DF is set: drop it and send ICMP "fragmentation needed and DF
    /// set" (type 3 code 4) carrying `mtu` to the source (Linux: `EMSGSIZE` locally).
    #[error("fragmentation needed and DF set (mtu {mtu})")]
    NeedsFragmentation {
        /// The next-hop MTU to report.
        mtu: usize,
    },
    /// The MTU cannot carry a header plus 8 bytes of payload, or is under 68.
    #[error("mtu {mtu} too small to fragment into")]
    MtuTooSmall {
        /// The MTU given.
        mtu: usize,
    },
    /// The datagram is over 65535 bytes or its header length is not 20..=60.
    #[error("datagram of {0} bytes cannot be sent as IPv4")]
    BadLength(usize),
}

/// Cuts a datagram into pieces that fit `mtu`: every piece but the last carries a multiple of
/// 8 payload bytes. A datagram that fits is one piece with its own offset and MF flag.
pub fn fragment_plan(req: &FragmentRequest) -> Result<Vec<FragPiece>, FragmentError> {
    let total = req.header_len.saturating_add(req.payload_len);
    let hdr_ok = |h: usize| (20..=60).contains(&h);
    if !hdr_ok(req.header_len) || !hdr_ok(req.later_header_len) || total > MAX_DATAGRAM {
        return Err(FragmentError::BadLength(total));
    }
    if req.offset % 8 != 0 || req.offset.saturating_add(req.payload_len) > MAX_DATAGRAM {
        return Err(FragmentError::BadLength(total));
    }
    if total <= req.mtu {
        return Ok(vec![FragPiece {
            offset: req.offset,
            len: req.payload_len,
            more_fragments: req.more_fragments,
            header_len: req.header_len,
        }]);
    }
    if req.dont_fragment {
        return Err(FragmentError::NeedsFragmentation { mtu: req.mtu });
    }
    let room = |h: usize| req.mtu.saturating_sub(h) & !7;
    if req.mtu < IPV4_MIN_MTU || room(req.header_len) == 0 || room(req.later_header_len) == 0 {
        return Err(FragmentError::MtuTooSmall { mtu: req.mtu });
    }
    let mut pieces = Vec::new();
    let mut done = 0;
    let mut header_len = req.header_len;
    while done < req.payload_len {
        let left = req.payload_len - done;
        let room = room(header_len);
        let len = left.min(room);
        let last = len == left;
        pieces.push(FragPiece {
            offset: req.offset + done,
            len,
            more_fragments: !last || req.more_fragments,
            header_len,
        });
        done += len;
        header_len = req.later_header_len;
    }
    Ok(pieces)
}

/// Output fragmentation counters, as in `/proc/net/snmp` (Ip: FragOKs, FragFails, FragCreates).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FragOutStats {
    /// Datagrams that were cut into fragments (`FragOKs`).
    pub oks: u64,
    /// Datagrams that needed fragmentation and could not have it (`FragFails`).
    pub fails: u64,
    /// Fragments produced (`FragCreates`).
    pub creates: u64,
}

impl FragOutStats {
    /// Counts the outcome of one [`fragment_plan`] call. A datagram that fit in one piece
    /// was not fragmented and counts nowhere.
    pub fn record(&mut self, plan: &Result<Vec<FragPiece>, FragmentError>) {
        match plan {
            Ok(pieces) if pieces.len() > 1 => {
                self.oks += 1;
                self.creates += pieces.len() as u64;
            }
            Ok(_) => {}
            Err(_) => self.fails += 1,
        }
    }
}

/// PMTU cache tunables (`/proc/sys/net/ipv4/route/min_pmtu`, `mtu_expires`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PmtuParams {
    /// Reported MTUs below this are raised to it (`min_pmtu`, 552), which defeats attacks that
    /// shrink a path to tiny fragments. Values under 68 are treated as 68.
    pub min_pmtu: usize,
    /// How long a learnt MTU is kept (`mtu_expires`, 10 minutes), after which the path is
    /// tried at the link MTU again.
    pub expires: Duration,
    /// Destinations remembered at most; when full, the entry expiring soonest is replaced.
    pub max_entries: usize,
}

impl Default for PmtuParams {
    fn default() -> Self {
        PmtuParams {
            min_pmtu: 552,
            expires: Duration::from_secs(600),
            max_entries: 4096,
        }
    }
}

/// Path MTUs per destination, learnt from ICMP fragmentation-needed.
#[derive(Debug, Default)]
pub struct PmtuCache {
    params: PmtuParams,
    entries: HashMap<Ipv4Addr, (usize, Instant)>,
}

impl PmtuCache {
    /// An empty cache.
    pub fn new(params: PmtuParams) -> Self {
        PmtuCache {
            params,
            entries: HashMap::new(),
        }
    }

    /// Destinations with a learnt MTU (expired ones included until `poll` or a lookup).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// ICMP fragmentation-needed said the path to `dst` carries `reported` bytes; the link
    /// towards it carries `link_mtu`. Returns the MTU now in effect for `dst`.
    ///
    /// As in Linux, the cached MTU only goes down (a larger report is ignored until expiry),
    /// a report of 0 or under `min_pmtu` is raised to `min_pmtu`, and a report at or above the
    /// link MTU changes nothing.
    pub fn learn(
        &mut self,
        dst: Ipv4Addr,
        reported: usize,
        link_mtu: usize,
        now: Instant,
    ) -> usize {
        let current = self.path_mtu(dst, link_mtu, now);
        let floor = self.params.min_pmtu.max(IPV4_MIN_MTU);
        let mtu = reported.max(floor).min(link_mtu);
        if mtu > current || mtu >= link_mtu {
            return current;
        }
        if !self.entries.contains_key(&dst) && self.entries.len() >= self.params.max_entries {
            self.poll(now);
            if self.entries.len() >= self.params.max_entries {
                let soonest = self.entries.iter().min_by_key(|(_, (_, exp))| *exp);
                if let Some((&victim, _)) = soonest {
                    self.entries.remove(&victim);
                }
            }
        }
        if self.params.max_entries > 0 {
            self.entries.insert(dst, (mtu, now + self.params.expires));
        }
        mtu.min(current)
    }

    /// The MTU to use towards `dst` over a link of `link_mtu`.
    pub fn path_mtu(&self, dst: Ipv4Addr, link_mtu: usize, now: Instant) -> usize {
        match self.entries.get(&dst) {
            Some(&(mtu, expires)) if now < expires => mtu.min(link_mtu),
            _ => link_mtu,
        }
    }

    /// Forgets expired entries.
    pub fn poll(&mut self, now: Instant) {
        self.entries.retain(|_, (_, expires)| now < *expires);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: FragKey = FragKey {
        src: Ipv4Addr::new(10, 0, 0, 1),
        dst: Ipv4Addr::new(10, 0, 0, 2),
        protocol: 1,
        id: 0x1234,
    };

    fn hdr(tag: u8) -> Vec<u8> {
        let mut h = vec![0x45; 20];
        h[19] = tag;
        h
    }

    fn data(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 + 3) as u8).collect()
    }

    struct Frag {
        key: FragKey,
        offset: usize,
        mf: bool,
        header: Vec<u8>,
        payload: Vec<u8>,
    }

    impl Frag {
        fn desc(&self) -> FragmentDesc<'_> {
            FragmentDesc {
                key: self.key,
                offset: self.offset,
                more_fragments: self.mf,
                header: &self.header,
                payload: &self.payload,
            }
        }
    }

    /// Fragments of `whole` as `fragment_plan` would cut it for `mtu`.
    fn cut(key: FragKey, whole: &[u8], mtu: usize) -> Vec<Frag> {
        let plan = fragment_plan(&FragmentRequest::new(whole.len(), 20, mtu, false)).unwrap();
        plan.iter()
            .map(|p| Frag {
                key,
                offset: p.offset,
                mf: p.more_fragments,
                header: hdr(p.offset as u8),
                payload: whole[p.offset..p.offset + p.len].to_vec(),
            })
            .collect()
    }

    fn t(s: u64) -> Instant {
        Instant::from_secs(s)
    }

    #[test]
    fn in_order_fragments_reassemble() {
        let whole = data(3980);
        let frags = cut(KEY, &whole, 1500);
        assert_eq!(frags.len(), 3);
        let mut r = Reassembler::default();
        assert_eq!(r.process(&frags[0].desc(), t(0)), Ok(None));
        assert_eq!(r.process(&frags[1].desc(), t(0)), Ok(None));
        let out = r.process(&frags[2].desc(), t(0)).unwrap().unwrap();
        assert_eq!(out.payload, whole);
        assert_eq!(out.header, hdr(0), "first fragment's header is kept");
        assert_eq!(out.key, KEY);
        assert_eq!(r.stats().reqds, 3);
        assert_eq!(r.stats().oks, 1);
        assert_eq!(r.memory(), 0);
        assert_eq!(r.pending(), 0);
    }

    #[test]
    fn any_arrival_order_reassembles() {
        let whole = data(5000);
        let frags = cut(KEY, &whole, 576);
        for order in [
            (0..frags.len()).rev().collect::<Vec<_>>(),
            (0..frags.len())
                .step_by(2)
                .chain((1..frags.len()).step_by(2))
                .collect(),
        ] {
            let mut r = Reassembler::default();
            let mut out = None;
            for (n, &i) in order.iter().enumerate() {
                let res = r.process(&frags[i].desc(), t(0)).unwrap();
                assert_eq!(res.is_some(), n == order.len() - 1);
                out = out.or(res);
            }
            assert_eq!(out.unwrap().payload, whole);
        }
    }

    #[test]
    fn interleaved_datagrams_are_kept_apart() {
        let a = data(2000);
        let b: Vec<u8> = data(2000).iter().map(|x| !x).collect();
        let kb = FragKey { id: 0x9999, ..KEY };
        let fa = cut(KEY, &a, 1000);
        let fb = cut(kb, &b, 1000);
        let mut r = Reassembler::default();
        let mut done = Vec::new();
        for (x, y) in fa.iter().zip(fb.iter()) {
            done.extend(r.process(&x.desc(), t(0)).unwrap());
            done.extend(r.process(&y.desc(), t(0)).unwrap());
        }
        assert_eq!(done.len(), 2);
        assert_eq!(done[0].payload, a);
        assert_eq!(done[1].payload, b);
    }

    #[test]
    fn overlapping_fragment_discards_the_whole_datagram() {
        let whole = data(3000);
        let frags = cut(KEY, &whole, 1500);
        let mut r = Reassembler::default();
        r.process(&frags[0].desc(), t(0)).unwrap();
        let overlap = Frag {
            key: KEY,
            offset: 1400,
            mf: true,
            header: hdr(9),
            payload: whole[1400..1600].to_vec(),
        };
        assert_eq!(r.process(&overlap.desc(), t(0)), Err(DefragError::Overlap));
        assert_eq!(r.pending(), 0);
        assert_eq!(r.memory(), 0);
        assert_eq!(r.stats().overlaps, 1);
        assert_eq!(r.stats().fails, 1);
        // The rest of the datagram cannot complete it any more.
        assert_eq!(r.process(&frags[1].desc(), t(0)), Ok(None));
        assert_eq!(r.process(&frags[2].desc(), t(0)), Ok(None));
        assert_eq!(r.stats().oks, 0);
    }

    #[test]
    fn fragment_inside_another_is_an_overlap() {
        let whole = data(3000);
        let frags = cut(KEY, &whole, 1500);
        let mut r = Reassembler::default();
        r.process(&frags[1].desc(), t(0)).unwrap();
        let inside = Frag {
            key: KEY,
            offset: frags[1].offset + 8,
            mf: true,
            header: hdr(9),
            payload: data(16),
        };
        assert_eq!(r.process(&inside.desc(), t(0)), Err(DefragError::Overlap));
        assert_eq!(r.pending(), 0);
    }

    #[test]
    fn same_range_with_different_bytes_is_an_overlap() {
        let whole = data(3000);
        let frags = cut(KEY, &whole, 1500);
        let mut r = Reassembler::default();
        r.process(&frags[0].desc(), t(0)).unwrap();
        let mut evil = frags[0].payload.clone();
        evil[100] ^= 0xff;
        let f = Frag {
            payload: evil,
            header: hdr(0),
            ..frags[0]
        };
        assert_eq!(r.process(&f.desc(), t(0)), Err(DefragError::Overlap));
        assert_eq!(r.pending(), 0);
    }

    #[test]
    fn exact_duplicate_is_dropped_and_reassembly_continues() {
        let whole = data(3000);
        let frags = cut(KEY, &whole, 1500);
        let mut r = Reassembler::default();
        r.process(&frags[0].desc(), t(0)).unwrap();
        assert_eq!(
            r.process(&frags[0].desc(), t(0)),
            Err(DefragError::Duplicate)
        );
        assert_eq!(r.stats().duplicates, 1);
        assert_eq!(r.stats().fails, 0);
        r.process(&frags[1].desc(), t(0)).unwrap();
        let out = r.process(&frags[2].desc(), t(0)).unwrap().unwrap();
        assert_eq!(out.payload, whole);
    }

    #[test]
    fn timeout_after_first_fragment_asks_for_icmp_time_exceeded() {
        let whole = data(3000);
        let frags = cut(KEY, &whole, 1500);
        let mut r = Reassembler::default();
        r.process(&frags[0].desc(), t(0)).unwrap();
        r.process(&frags[2].desc(), t(10)).unwrap();
        assert_eq!(r.next_wakeup(), Some(t(30)));
        assert!(r.poll(t(29)).is_empty());
        assert_eq!(r.pending(), 1);
        let out = r.poll(t(30));
        assert_eq!(
            out,
            vec![ReassemblyTimedOut {
                key: KEY,
                header: hdr(0),
                leading: whole[..8].to_vec(),
            }]
        );
        assert_eq!(r.pending(), 0);
        assert_eq!(r.memory(), 0);
        assert_eq!(r.stats().timeouts, 1);
        assert_eq!(r.stats().fails, 1);
        assert_eq!(r.next_wakeup(), None);
    }

    #[test]
    fn timeout_without_first_fragment_is_silent() {
        let whole = data(3000);
        let frags = cut(KEY, &whole, 1500);
        let mut r = Reassembler::default();
        r.process(&frags[1].desc(), t(0)).unwrap();
        assert!(r.poll(t(31)).is_empty());
        assert_eq!(r.stats().timeouts, 1);
        assert_eq!(r.pending(), 0);
    }

    #[test]
    fn datagram_over_65535_bytes_is_discarded() {
        let mut r = Reassembler::default();
        let first = Frag {
            key: KEY,
            offset: 0,
            mf: true,
            header: hdr(0),
            payload: data(1480),
        };
        r.process(&first.desc(), t(0)).unwrap();
        let past = Frag {
            key: KEY,
            offset: 65_528,
            mf: false,
            header: hdr(1),
            payload: data(100),
        };
        assert_eq!(
            r.process(&past.desc(), t(0)),
            Err(DefragError::Oversize(65_528 + 100 + 20))
        );
        assert_eq!(r.stats().oversize, 1);
        assert_eq!(r.pending(), 0);
    }

    /// The reassembled datagram carries the *first* fragment's header: with 40 bytes of
    /// options there, 65500 payload bytes make 65540, over the limit, even though every
    /// fragment (20-byte headers after the first) fits on its own (Linux `ip_frag_reasm`:
    /// `ip_hdrlen(head) + q.len > 65535` → out_oversize).
    #[test]
    fn oversize_counts_the_first_fragments_header() {
        let mut r = Reassembler::default();
        let whole = data(65_500);
        let mut first_hdr = vec![0x4f; 60];
        first_hdr[59] = 0;
        let mut offset = 0;
        let mut results = Vec::new();
        while offset < whole.len() {
            let hl = if offset == 0 { 60 } else { 20 };
            let len = (1500 - hl) & !7;
            let len = len.min(whole.len() - offset);
            let f = Frag {
                key: KEY,
                offset,
                mf: offset + len < whole.len(),
                header: if offset == 0 {
                    first_hdr.clone()
                } else {
                    hdr(1)
                },
                payload: whole[offset..offset + len].to_vec(),
            };
            results.push(r.process(&f.desc(), t(0)));
            offset += len;
        }
        assert!(
            results.iter().all(|x| !matches!(x, Ok(Some(_)))),
            "a 65560-byte datagram was reassembled"
        );
        assert!(results.contains(&Err(DefragError::Oversize(65_560))));
        assert_eq!(r.stats().oversize, 1);
        assert_eq!(r.stats().oks, 0);
    }

    #[test]
    fn data_past_the_final_fragment_discards_the_datagram() {
        let mut r = Reassembler::default();
        let last = Frag {
            key: KEY,
            offset: 1000,
            mf: false,
            header: hdr(1),
            payload: data(100),
        };
        r.process(&last.desc(), t(0)).unwrap();
        let beyond = Frag {
            key: KEY,
            offset: 1200,
            mf: true,
            header: hdr(2),
            payload: data(16),
        };
        assert_eq!(
            r.process(&beyond.desc(), t(0)),
            Err(DefragError::InconsistentEnd)
        );
        assert_eq!(r.pending(), 0);
        assert_eq!(r.stats().malformed, 1);
    }

    #[test]
    fn malformed_fragments_are_refused_and_counted() {
        let mut r = Reassembler::default();
        let mut f = Frag {
            key: KEY,
            offset: 13,
            mf: true,
            header: hdr(0),
            payload: data(64),
        };
        assert_eq!(r.process(&f.desc(), t(0)), Err(DefragError::Misaligned(13)));
        f.offset = 0;
        f.header = vec![0; 12];
        assert_eq!(r.process(&f.desc(), t(0)), Err(DefragError::BadHeader(12)));
        f.header = hdr(0);
        f.payload = data(7);
        assert_eq!(r.process(&f.desc(), t(0)), Err(DefragError::Empty));
        assert_eq!(r.stats().malformed, 3);
        assert_eq!(r.stats().fails, 3);
        assert_eq!(r.memory(), 0);
    }

    #[test]
    fn non_final_fragment_is_trimmed_to_8_bytes_like_linux() {
        let mut r = Reassembler::default();
        let a = Frag {
            key: KEY,
            offset: 0,
            mf: true,
            header: hdr(0),
            payload: data(21),
        };
        let b = Frag {
            key: KEY,
            offset: 16,
            mf: false,
            header: hdr(1),
            payload: vec![0xaa; 4],
        };
        r.process(&a.desc(), t(0)).unwrap();
        let out = r.process(&b.desc(), t(0)).unwrap().unwrap();
        assert_eq!(out.payload.len(), 20);
        assert_eq!(&out.payload[..16], &data(16)[..]);
    }

    #[test]
    fn fragment_flood_keeps_memory_under_the_limit() {
        let params = DefragParams {
            high_thresh: 256 * 1024,
            low_thresh: 192 * 1024,
            ..DefragParams::default()
        };
        let mut r = Reassembler::new(params);
        let payload = data(1480);
        let mut evicted = 0;
        // 2000 datagrams that never complete: the first fragment only.
        for id in 0..2000u16 {
            let f = Frag {
                key: FragKey { id, ..KEY },
                offset: 0,
                mf: true,
                header: hdr(0),
                payload: payload.clone(),
            };
            match r.process(&f.desc(), t(0)) {
                Ok(None) => {}
                Err(DefragError::Evicted) => evicted += 1,
                other => panic!("unexpected {other:?}"),
            }
            assert!(r.memory() <= 256 * 1024, "memory {}", r.memory());
        }
        assert_eq!(evicted, 0, "the newest datagram is never the oldest");
        assert!(r.stats().evicted > 1500);
        assert_eq!(r.stats().evicted + r.pending() as u64, 2000);
        // The survivors are the newest ones.
        let f = Frag {
            key: FragKey { id: 1999, ..KEY },
            offset: 1480,
            mf: false,
            header: hdr(1),
            payload: data(10),
        };
        assert!(r.process(&f.desc(), t(0)).unwrap().is_some());
    }

    #[test]
    fn tiny_fragment_flood_is_bounded_too() {
        let params = DefragParams {
            high_thresh: 64 * 1024,
            low_thresh: 48 * 1024,
            ..DefragParams::default()
        };
        let mut r = Reassembler::new(params);
        // One datagram with thousands of 8-byte fragments, never the last one.
        for i in 0..5000usize {
            let f = Frag {
                key: KEY,
                offset: i * 16,
                mf: true,
                header: hdr(0),
                payload: data(8),
            };
            let _ = r.process(&f.desc(), t(0));
            assert!(r.memory() <= 64 * 1024);
        }
        assert!(r.stats().evicted > 0);
    }

    #[test]
    fn plan_fits_in_one_piece_when_small_enough() {
        let p = fragment_plan(&FragmentRequest::new(1480, 20, 1500, true)).unwrap();
        assert_eq!(
            p,
            vec![FragPiece {
                offset: 0,
                len: 1480,
                more_fragments: false,
                header_len: 20
            }]
        );
    }

    #[test]
    fn plan_for_a_4000_byte_ping_over_1500() {
        // 4000-byte ICMP payload + 8-byte ICMP header = 4008 bytes of IP payload.
        let p = fragment_plan(&FragmentRequest::new(4008, 20, 1500, false)).unwrap();
        let got: Vec<(usize, usize, bool)> = p
            .iter()
            .map(|x| (x.offset, x.len, x.more_fragments))
            .collect();
        assert_eq!(
            got,
            vec![(0, 1480, true), (1480, 1480, true), (2960, 1048, false)]
        );
    }

    #[test]
    fn plan_aligns_pieces_to_8_bytes() {
        // 1006 - 20 = 986 bytes of room, rounded down to 984.
        let p = fragment_plan(&FragmentRequest::new(3000, 20, 1006, false)).unwrap();
        assert!(p.iter().all(|x| x.offset % 8 == 0));
        assert!(p[..p.len() - 1].iter().all(|x| x.len == 984));
        assert!(p.iter().all(|x| x.len + x.header_len <= 1006));
        assert_eq!(p.iter().map(|x| x.len).sum::<usize>(), 3000);
        assert!(!p.last().unwrap().more_fragments);
    }

    #[test]
    fn plan_refuses_when_df_is_set_and_reports_the_mtu() {
        assert_eq!(
            fragment_plan(&FragmentRequest::new(1481, 20, 1500, true)),
            Err(FragmentError::NeedsFragmentation { mtu: 1500 })
        );
    }

    #[test]
    fn plan_refuses_tiny_mtu_and_oversize_datagrams() {
        assert_eq!(
            fragment_plan(&FragmentRequest::new(100, 20, 60, false)),
            Err(FragmentError::MtuTooSmall { mtu: 60 })
        );
        assert_eq!(
            fragment_plan(&FragmentRequest::new(65_516, 20, 1500, false)),
            Err(FragmentError::BadLength(65_536))
        );
        assert_eq!(
            fragment_plan(&FragmentRequest::new(10, 8, 1500, false)),
            Err(FragmentError::BadLength(18))
        );
    }

    #[test]
    fn output_counters_follow_snmp() {
        let mut s = FragOutStats::default();
        s.record(&fragment_plan(&FragmentRequest::new(4008, 20, 1500, false)));
        s.record(&fragment_plan(&FragmentRequest::new(100, 20, 1500, false)));
        s.record(&fragment_plan(&FragmentRequest::new(4008, 20, 1500, true)));
        assert_eq!(
            s,
            FragOutStats {
                oks: 1,
                fails: 1,
                creates: 3
            }
        );
    }

    #[test]
    fn plan_for_a_forwarded_fragment_keeps_its_offset_and_mf() {
        let req = FragmentRequest {
            offset: 1480,
            more_fragments: true,
            ..FragmentRequest::new(1480, 20, 1000, false)
        };
        let p = fragment_plan(&req).unwrap();
        assert_eq!(p[0].offset, 1480);
        assert_eq!(p[1].offset, 1480 + 976);
        assert!(
            p.iter().all(|x| x.more_fragments),
            "the original MF stays on the last"
        );
    }

    #[test]
    fn plan_uses_the_shorter_header_after_the_first_piece() {
        let req = FragmentRequest {
            later_header_len: 20,
            ..FragmentRequest::new(3000, 40, 1500, false)
        };
        let p = fragment_plan(&req).unwrap();
        assert_eq!((p[0].header_len, p[0].len), (40, 1456));
        assert_eq!((p[1].header_len, p[1].len), (20, 1480));
    }

    #[test]
    fn planned_pieces_reassemble_to_the_original() {
        let whole = data(9000);
        let frags = cut(KEY, &whole, 1280);
        let mut r = Reassembler::default();
        let mut out = None;
        for f in frags.iter().rev() {
            out = out.or(r.process(&f.desc(), t(0)).unwrap());
        }
        assert_eq!(out.unwrap().payload, whole);
    }

    #[test]
    fn pmtu_is_learnt_and_only_goes_down() {
        let dst = Ipv4Addr::new(192, 0, 2, 1);
        let mut c = PmtuCache::default();
        assert_eq!(c.path_mtu(dst, 1500, t(0)), 1500);
        assert_eq!(c.learn(dst, 1400, 1500, t(0)), 1400);
        assert_eq!(c.path_mtu(dst, 1500, t(1)), 1400);
        assert_eq!(
            c.learn(dst, 1450, 1500, t(2)),
            1400,
            "larger report ignored"
        );
        assert_eq!(c.learn(dst, 1300, 1500, t(3)), 1300);
        assert_eq!(
            c.path_mtu(dst, 1200, t(4)),
            1200,
            "never above the link MTU"
        );
        assert_eq!(c.path_mtu(Ipv4Addr::new(192, 0, 2, 2), 1500, t(4)), 1500);
    }

    #[test]
    fn pmtu_reports_below_552_are_clamped() {
        let dst = Ipv4Addr::new(192, 0, 2, 1);
        let mut c = PmtuCache::default();
        assert_eq!(c.learn(dst, 68, 1500, t(0)), 552);
        assert_eq!(c.learn(dst, 0, 1500, t(0)), 552);
        let mut low = PmtuCache::new(PmtuParams {
            min_pmtu: 10,
            ..PmtuParams::default()
        });
        assert_eq!(
            low.learn(dst, 20, 1500, t(0)),
            68,
            "never below the IPv4 minimum"
        );
    }

    #[test]
    fn pmtu_expires_after_ten_minutes() {
        let dst = Ipv4Addr::new(192, 0, 2, 1);
        let mut c = PmtuCache::default();
        c.learn(dst, 1400, 1500, t(100));
        assert_eq!(c.path_mtu(dst, 1500, t(699)), 1400);
        assert_eq!(c.path_mtu(dst, 1500, t(700)), 1500);
        c.poll(t(700));
        assert!(c.is_empty());
    }

    #[test]
    fn pmtu_cache_is_bounded() {
        let mut c = PmtuCache::new(PmtuParams {
            max_entries: 2,
            ..PmtuParams::default()
        });
        for i in 0..5u8 {
            c.learn(Ipv4Addr::new(192, 0, 2, i), 1400, 1500, t(u64::from(i)));
            assert!(c.len() <= 2);
        }
        assert_eq!(c.path_mtu(Ipv4Addr::new(192, 0, 2, 4), 1500, t(5)), 1400);
        assert_eq!(c.path_mtu(Ipv4Addr::new(192, 0, 2, 0), 1500, t(5)), 1500);
    }

    struct XorShift(u64);
    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    /// Shuffled, duplicated and (sometimes) maliciously overlapping fragments: whatever comes
    /// out is exactly the original datagram, and memory returns to zero.
    #[test]
    fn reassembly_never_returns_wrong_bytes() {
        let mut rng = XorShift(0xdead_beef_cafe_f00d);
        let mut r = Reassembler::default();
        let mut completed = 0;
        let mut discarded = 0;
        for id in 0..300u16 {
            let key = FragKey { id, ..KEY };
            let len = 1 + (rng.next() % 9000) as usize;
            let whole: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            let mtu = 68 + (rng.next() % 1500) as usize;
            let mut frags = cut(key, &whole, mtu);
            // Duplicate some, then shuffle.
            for _ in 0..rng.next() % 3 {
                let i = (rng.next() % frags.len() as u64) as usize;
                let f = &frags[i];
                frags.push(Frag {
                    header: f.header.clone(),
                    payload: f.payload.clone(),
                    ..*f
                });
            }
            let evil = rng.next() % 3 == 0;
            if evil {
                let off = ((rng.next() % len as u64) as usize) & !7;
                frags.push(Frag {
                    key,
                    offset: off,
                    mf: true,
                    header: hdr(0),
                    payload: vec![0x5a; 8 + (rng.next() % 64) as usize],
                });
            }
            for i in (1..frags.len()).rev() {
                frags.swap(i, (rng.next() % (i as u64 + 1)) as usize);
            }
            let mut out = None;
            let mut dropped = false;
            for f in &frags {
                match r.process(&f.desc(), t(0)) {
                    Ok(Some(d)) => out = Some(d),
                    Ok(None) | Err(DefragError::Duplicate) => {}
                    Err(DefragError::Overlap) | Err(DefragError::InconsistentEnd) => dropped = true,
                    Err(e) => panic!("unexpected {e:?}"),
                }
            }
            if let Some(d) = out {
                assert_eq!(d.payload, whole, "datagram {id}");
                completed += 1;
            } else {
                assert!(
                    dropped || evil,
                    "datagram {id} neither completed nor discarded"
                );
                discarded += 1;
            }
            // Leftovers of attacked datagrams time out.
            r.poll(t(1000));
            assert_eq!(r.memory(), 0);
        }
        assert!(
            completed > 150 && discarded > 30,
            "{completed} / {discarded}"
        );
    }
}
