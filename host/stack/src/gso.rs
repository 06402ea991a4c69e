//! Software generic segmentation offload (Linux `skb_gso_segment`, `tcp_gso_segment`,
//! `__udp_gso_segment`): cuts a super-packet into wire-sized frames when the device has no TSO.
//! It is also what an in-memory wire uses as the model of a card's TSO engine.
//!
//! The super-packet is an Ethernet frame (optionally 802.1Q-tagged) carrying IPv4 and TCP or
//! UDP, with `meta.gso_size` payload bytes per segment. Each segment gets a copy of the
//! headers with the IPv4 total length, identification (+1 per segment) and checksum fixed:
//! - TCP: the sequence number advances by the bytes before it; FIN and PSH stay only on the
//!   last segment and CWR only on the first (`tcp_gso_segment`);
//! - UDP (`UDP_SEGMENT`): every segment is a datagram of its own with its own length.
//!
//! L4 checksums are computed in full here, so segments leave with no offload request — unless
//! the device inserts checksums itself ([`segment_for_device`]): then each segment carries a
//! CHECKSUM_PARTIAL request and the payload is never summed in software.

use crate::pktbuf::{
    ChecksumState, Cursor, PacketBuf, PacketMeta, PacketPool, SegSums, INLINE_HEAD, MAX_FRAGS,
};
use crate::wire::checksum;
use crate::wire::ethernet::ethertype;
use crate::wire::ipv4::protocol;
use std::net::Ipv4Addr;

/// Headroom given to each segment.
const SEG_HEADROOM: usize = 32;

/// Cache-line offsets the headers of shared-payload segments rotate through.
const COLOURS: usize = 16;

/// Most header bytes a super-packet can have: Ethernet with a VLAN tag, then IPv4 and TCP with
/// full options.
const MAX_HDR: usize = 18 + 60 + 60;

/// Why a super-packet could not be segmented (it is dropped and counted).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum GsoError {
    /// Not Ethernet + IPv4 + TCP/UDP with consistent lengths.
    #[error("not a segmentable IPv4 TCP/UDP frame")]
    Malformed,
    /// `gso_size` is zero.
    #[error("gso_size is zero")]
    NoSegmentSize,
}

/// Cuts `frame` into segments of `frame.meta.gso_size` payload bytes. A TCP segment whose
/// headers fit its inline head ([`PacketBuf::with_inline_head`]) needs no buffer; the others
/// come from `pool` when they fit, else from the heap.
pub fn segment(frame: &PacketBuf, pool: &PacketPool) -> Result<Vec<PacketBuf>, GsoError> {
    let mut out = Vec::new();
    segment_into(frame, pool, &mut out)?;
    Ok(out)
}

/// [`segment`] appending the segments to `out` (a vector the caller reuses, so the data path
/// does not allocate one per super-packet); returns how many. On error `out` is unchanged.
pub fn segment_into(
    frame: &PacketBuf,
    pool: &PacketPool,
    out: &mut Vec<PacketBuf>,
) -> Result<usize, GsoError> {
    segment_for_device(frame, pool, out, false)
}

/// [`segment_into`] for a device that inserts L4 checksums itself (`tx_csum`): with
/// `csum_offload` each segment leaves with the pseudo-header sum in its checksum field and a
/// CHECKSUM_PARTIAL request (`meta.csum`), so the payload is not summed here at all — the
/// card does it on the way out, as Linux's GSO does for `NETIF_F_HW_CSUM` devices.
pub fn segment_for_device(
    frame: &PacketBuf,
    pool: &PacketPool,
    out: &mut Vec<PacketBuf>,
    csum_offload: bool,
) -> Result<usize, GsoError> {
    let pools = GsoPools {
        linear: pool,
        headers: pool,
    };
    segment_with_pools(frame, pools, out, csum_offload)
}

/// Where [`segment_with_pools`] takes segment buffers from.
#[derive(Debug, Clone, Copy)]
pub struct GsoPools<'a> {
    /// For segments that carry their payload in their own buffer (UDP, or when sharing is
    /// not possible).
    pub linear: &'a PacketPool,
    /// For TCP segments that hold only headers and share the super-packet's payload as a
    /// fragment, when the headers are too long for the segment's inline head (more than 42
    /// bytes of IPv4 and TCP options together, 38 with a VLAN tag): small buffers suffice,
    /// and a window's worth of them in flight does not empty `linear`. An inline head has 96
    /// bytes after its headroom and no room to take the payload back: a segment with one
    /// cannot be linearized.
    pub headers: &'a PacketPool,
}

/// [`segment_for_device`] with header-only segments from a pool of their own.
pub fn segment_with_pools(
    frame: &PacketBuf,
    pools: GsoPools<'_>,
    out: &mut Vec<PacketBuf>,
    csum_offload: bool,
) -> Result<usize, GsoError> {
    segment_counting_sums(frame, pools, out, csum_offload).map(|(n, _)| n)
}

/// [`segment_with_pools`], also returning how many segments took their payload sum from the
/// ones TCP attached ([`PacketBuf::set_seg_sums`]) instead of reading the payload.
pub(crate) fn segment_counting_sums(
    frame: &PacketBuf,
    pools: GsoPools<'_>,
    out: &mut Vec<PacketBuf>,
    csum_offload: bool,
) -> Result<(usize, usize), GsoError> {
    let base = out.len();
    match segment_inner(frame, true, csum_offload, pools, out) {
        Ok(sums_used) => Ok((out.len() - base, sums_used)),
        Err(e) => {
            out.truncate(base);
            Err(e)
        }
    }
}

/// [`segment`] for a super-packet whose data starts at the IPv4 header (no Ethernet header
/// yet): how IP output cuts a forwarded super-packet that must then be fragmented
/// (`ip_finish_output_gso`).
pub fn segment_ip(pkt: &PacketBuf, pool: &PacketPool) -> Result<Vec<PacketBuf>, GsoError> {
    let mut out = Vec::new();
    let pools = GsoPools {
        linear: pool,
        headers: pool,
    };
    segment_inner(pkt, false, false, pools, &mut out)?;
    Ok(out)
}

fn segment_inner(
    frame: &PacketBuf,
    ethernet: bool,
    partial: bool,
    pools: GsoPools<'_>,
    out: &mut Vec<PacketBuf>,
) -> Result<usize, GsoError> {
    let mss = usize::from(frame.meta.gso_size);
    let mut sums_used = 0;
    if mss == 0 {
        return Err(GsoError::NoSegmentSize);
    }
    // Only the headers are read out of the frame; each segment's payload is copied straight
    // from the frame's head and fragments into the segment, with no flat copy in between.
    let mut parts: [&[u8]; MAX_FRAGS + 1] = [&[]; MAX_FRAGS + 1];
    for (slot, c) in parts
        .iter_mut()
        .zip(std::iter::once(frame.data()).chain(frame.frags()))
    {
        *slot = c;
    }
    let chunks = &parts[..];
    let mut hdr = [0u8; MAX_HDR];
    let hdr_avail = frame.len().min(MAX_HDR);
    copy_range(chunks, 0, &mut hdr[..hdr_avail]);
    let bytes = &hdr[..hdr_avail];
    let mut l2 = 0;
    if ethernet {
        let et = bytes.get(12..14).ok_or(GsoError::Malformed)?;
        l2 = 14;
        let mut proto = u16::from_be_bytes([et[0], et[1]]);
        if proto == ethertype::VLAN {
            let t = bytes.get(16..18).ok_or(GsoError::Malformed)?;
            proto = u16::from_be_bytes([t[0], t[1]]);
            l2 = 18;
        }
        if proto != ethertype::IPV4 {
            return Err(GsoError::Malformed);
        }
    }
    let ip = bytes.get(l2..).ok_or(GsoError::Malformed)?;
    let ip_len = frame.len() - l2;
    let ihl = usize::from(ip.first().ok_or(GsoError::Malformed)? & 0x0f) * 4;
    if ihl < 20 || ip.len() < ihl {
        return Err(GsoError::Malformed);
    }
    let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
    if total > ip_len || total < ihl {
        return Err(GsoError::Malformed);
    }
    let l4proto = ip[9];
    let src = Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]);
    let dst = Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]);
    let ident = u16::from_be_bytes([ip[4], ip[5]]);
    let l4_len = total - ihl;
    let l4 = &ip[ihl..];
    let l4hlen = match l4proto {
        protocol::TCP => {
            if l4_len < 20 || l4.len() < 20 {
                return Err(GsoError::Malformed);
            }
            let off = usize::from(l4[12] >> 4) * 4;
            if off < 20 || off > l4_len || off > l4.len() {
                return Err(GsoError::Malformed);
            }
            off
        }
        protocol::UDP if l4_len >= 8 && l4.len() >= 8 => 8,
        _ => return Err(GsoError::Malformed),
    };
    let hdr_len = l2 + ihl + l4hlen;
    let payload_len = l4_len - l4hlen;
    let n = payload_len.div_ceil(mss).max(1);
    out.reserve(n);
    let seq0 = if l4proto == protocol::TCP {
        u32::from_be_bytes([l4[4], l4[5], l4[6], l4[7]])
    } else {
        0
    };
    // A TCP segment of a frame shares the super-packet's payload as a fragment instead of
    // copying it (the receive path takes fragments: GRO chains them anyway); its checksum
    // still reads the payload once.
    let share = ethernet && l4proto == protocol::TCP;
    // The header sums are taken once here with the fields that differ per segment zeroed
    // (IPv4 total length and identification; TCP sequence number and the flags word), and
    // each segment adds its own values back: the one's-complement sum is a sum of 16-bit
    // words, so that gives the full sum (RFC 1071 §2) without reading the headers again.
    let ip_base = sum_without(&ip[..ihl], &[2, 4, 10]);
    let tcp_base = if share {
        sum_without(&l4[..l4hlen], &[4, 6, 12, 16])
    } else {
        0
    };
    let pseudo_base = checksum::pseudo_header_v4(src, dst, l4proto, 0);
    let pool = if share { pools.headers } else { pools.linear };
    // Headers that fit go into the segment's own inline head: no buffer from a pool, no
    // reference count to take for writing them.
    let inline = share && SEG_HEADROOM + hdr_len <= INLINE_HEAD;
    // The payload sums TCP took as the bytes were copied in, when they still describe this
    // payload: cut at this segment size, with the payload all in fragments (which nothing
    // changed since: that drops them).
    let known_sums = frame.seg_sums().filter(|s| {
        share && !partial && usize::from(s.mss()) == mss && frame.head_len() == hdr_len
    });
    // Where the next shared segment's payload starts in the super-packet.
    let mut cursor = if share {
        Some(frame.cursor_at(hdr_len).ok_or(GsoError::Malformed)?)
    } else {
        None
    };
    // The TCP bytes read per segment, taken now: the loop writes each segment's fields into
    // `hdr` itself, and copies the result into the segment once.
    let (tcp_doff, tcp_flags) = if l4proto == protocol::TCP {
        (l4[12], l4[13])
    } else {
        (0, 0)
    };
    let (ip_at, l4_at) = (l2, l2 + ihl);
    let fast = inline && !partial && l4proto == protocol::TCP;
    #[cfg(test)]
    let fast = fast && !tests::GENERAL_ONLY.with(std::cell::Cell::get);
    if let (true, Some(cur)) = (fast, cursor.as_mut()) {
        let pieces = TcpPieces {
            ip_at,
            l4_at,
            ihl,
            l4hlen,
            hdr_len,
            mss,
            payload_len,
            ident,
            seq0,
            tcp_doff,
            tcp_flags,
            ip_base,
            tcp_base,
            pseudo_base,
        };
        return segment_tcp_inline(frame, &hdr[..hdr_len], &pieces, known_sums, cur, out);
    }
    for i in 0..payload_len.div_ceil(mss) {
        let off = i * mss;
        let chunk_len = mss.min(payload_len - off.min(payload_len));
        let l4len = l4hlen + chunk_len;
        // This segment's fields, in the local copy of the headers.
        let ip_total = (ihl + l4len) as u16;
        let seg_ident = ident.wrapping_add(i as u16);
        hdr[ip_at + 2..ip_at + 4].copy_from_slice(&ip_total.to_be_bytes());
        hdr[ip_at + 4..ip_at + 6].copy_from_slice(&seg_ident.to_be_bytes());
        let c = !checksum::add(checksum::add(ip_base, ip_total), seg_ident);
        hdr[ip_at + 10..ip_at + 12].copy_from_slice(&c.to_be_bytes());
        // The words of the TCP header that differ per segment, kept for its checksum rather
        // than read back: sequence number and the offset/flags word.
        let mut tcp_words = [0u16; 3];
        let check_at = if l4proto == protocol::TCP {
            let seq = seq0.wrapping_add((i * mss) as u32);
            hdr[l4_at + 4..l4_at + 8].copy_from_slice(&seq.to_be_bytes());
            let flags = seg_flags(tcp_flags, i, n);
            hdr[l4_at + 13] = flags;
            tcp_words = [
                (seq >> 16) as u16,
                seq as u16,
                u16::from_be_bytes([tcp_doff, flags]),
            ];
            16
        } else {
            hdr[l4_at + 4..l4_at + 6].copy_from_slice(&(l4len as u16).to_be_bytes());
            6
        };
        hdr[l4_at + check_at..l4_at + check_at + 2].copy_from_slice(&[0, 0]);
        let mut seg = if inline {
            // Room for the headers is kept in front; they go in once the checksum is known.
            PacketBuf::with_inline_head(SEG_HEADROOM + hdr_len)
        } else {
            // Header-only segments in big (2 KB) buffers start at a varying offset, so the
            // headers of a burst do not all fall into the same few cache sets (slab colouring);
            // small header buffers are spread by their size already and get no colour.
            // Only as far as the buffer could still take the payload back in, should a later
            // stage linearize the segment.
            let linear = if share { hdr_len } else { hdr_len + chunk_len };
            let slack = pool
                .buf_size()
                .saturating_sub(SEG_HEADROOM + hdr_len + chunk_len);
            let headroom = if share {
                SEG_HEADROOM + (i % COLOURS).min(slack / 64) * 64
            } else {
                SEG_HEADROOM
            };
            let mut b = match pool.alloc(headroom) {
                Some(b) if b.tailroom() >= linear => b,
                _ => PacketBuf::new(linear + SEG_HEADROOM, SEG_HEADROOM),
            };
            if share {
                b.reserve(hdr_len).map_err(|_| GsoError::Malformed)?;
            }
            b
        };
        // The payload: a shared segment takes it from where the last one stopped, summing
        // each piece as it goes (unless the device sums it, or TCP did); any other gets a copy
        // after its headers.
        let known = known_sums
            .and_then(|s| s.get(i))
            .filter(|_| chunk_len == mss);
        sums_used += usize::from(known.is_some());
        let mut payload_sum = known.unwrap_or(0);
        if let Some(cur) = cursor.as_mut() {
            let sum_here = !partial && known.is_none();
            let sum = share_payload(&mut seg, frame, cur, chunk_len, sum_here)?;
            if sum_here {
                payload_sum = sum;
            }
        } else {
            let d = seg
                .put(hdr_len + chunk_len)
                .map_err(|_| GsoError::Malformed)?;
            copy_range(chunks, hdr_len + off, &mut d[hdr_len..]);
            if !partial {
                payload_sum = checksum::sum(&d[hdr_len..]);
            }
        }
        // The payload starts at an even offset (the header is whole 32-bit words), so its
        // sum adds as it is.
        let pseudo = checksum::add(pseudo_base, l4len as u16);
        let c = if partial {
            // The device finishes it: the field holds the pseudo-header sum.
            pseudo
        } else {
            let header = if share {
                tcp_words.into_iter().fold(tcp_base, checksum::add)
            } else {
                checksum::sum(&hdr[l4_at..hdr_len])
            };
            let c = !checksum::add(pseudo, checksum::add(header, payload_sum));
            if c == 0 && l4proto == protocol::UDP {
                0xffff
            } else {
                c
            }
        };
        let h = if inline {
            // The inline head takes the headers with a copy of a fixed size (its area past
            // the headroom; what lies beyond the headers is not part of the segment), where a
            // copy of their exact length is a call.
            seg.push(hdr_len).map_err(|_| GsoError::Malformed)?;
            let area = seg.inline_area_mut().ok_or(GsoError::Malformed)?;
            area[SEG_HEADROOM..].copy_from_slice(&hdr[..INLINE_HEAD - SEG_HEADROOM]);
            &mut area[SEG_HEADROOM..SEG_HEADROOM + hdr_len]
        } else {
            let h = if share {
                seg.push(hdr_len)
            } else {
                seg.data_mut().map(|d| &mut d[..hdr_len])
            }
            .map_err(|_| GsoError::Malformed)?;
            h.copy_from_slice(&hdr[..hdr_len]);
            h
        };
        // The checksum goes into the segment after the copy: written into `hdr` just before,
        // it made the copy's wide loads wait for that narrow store (a failed store forward).
        h[l4_at + check_at..l4_at + check_at + 2].copy_from_slice(&c.to_be_bytes());
        seg.meta = seg_meta(&frame.meta);
        seg.meta.csum = if partial {
            ChecksumState::Partial {
                start: l4_at as u16,
                offset: check_at as u16,
            }
        } else {
            ChecksumState::None
        };
        if ethernet {
            seg.set_mac_header();
        } else {
            seg.set_network_header();
        }
        out.push(seg);
    }
    Ok(sums_used)
}

/// What [`segment_tcp_inline`] needs of a TCP super-packet's headers, taken by
/// [`segment_inner`].
struct TcpPieces {
    ip_at: usize,
    l4_at: usize,
    ihl: usize,
    l4hlen: usize,
    hdr_len: usize,
    mss: usize,
    payload_len: usize,
    ident: u16,
    seq0: u32,
    tcp_doff: u8,
    tcp_flags: u8,
    /// Header sums without the fields each segment sets.
    ip_base: u16,
    tcp_base: u16,
    pseudo_base: u16,
}

/// [`segment_inner`]'s loop for the case of a bulk transfer: TCP segments whose headers fit
/// an inline head and whose payload is shared from the super-packet's fragments, summed in
/// place unless TCP took the sums while copying (`sums`). The segment's headers are written as one fixed copy
/// of a template and its metadata as one move, then the fields that differ per segment
/// (identification, sequence number, both checksums, and the length and flags where they
/// differ from a middle segment's) are written into the segment itself: patched into the
/// template instead, they would be read back by the next copy's wide loads before those
/// narrow stores had landed. The segments are the ones the general loop makes (a test holds
/// the two to the same bytes).
fn segment_tcp_inline(
    frame: &PacketBuf,
    hdr: &[u8],
    p: &TcpPieces,
    sums: Option<&SegSums>,
    cur: &mut Cursor,
    out: &mut Vec<PacketBuf>,
) -> Result<usize, GsoError> {
    #[cfg(test)]
    tests::INLINE_CUTS.with(|c| c.set(c.get() + 1));
    let n = p.payload_len.div_ceil(p.mss);
    let (ip, tcp) = (SEG_HEADROOM + p.ip_at, SEG_HEADROOM + p.l4_at);
    let full_total = (p.ihl + p.l4hlen + p.mss) as u16;
    // A middle segment's flags (neither first nor last).
    let mid_flags = seg_flags(p.tcp_flags, 1, 3);
    let mut area = [0u8; INLINE_HEAD];
    let template = area
        .get_mut(SEG_HEADROOM..SEG_HEADROOM + p.hdr_len)
        .ok_or(GsoError::Malformed)?;
    template.copy_from_slice(hdr);
    template[p.ip_at + 2..p.ip_at + 4].copy_from_slice(&full_total.to_be_bytes());
    template[p.l4_at + 13] = mid_flags;
    let meta = seg_meta(&frame.meta);
    let mut sums_used = 0;
    for i in 0..n {
        let off = i * p.mss;
        let chunk_len = p.mss.min(p.payload_len - off);
        let l4len = p.l4hlen + chunk_len;
        let ip_total = (p.ihl + l4len) as u16;
        let seg_ident = p.ident.wrapping_add(i as u16);
        let seq = p.seq0.wrapping_add(off as u32);
        let flags = seg_flags(p.tcp_flags, i, n);
        let mut seg =
            PacketBuf::with_inline_area(&area, SEG_HEADROOM, SEG_HEADROOM + p.hdr_len, &meta);
        let known = sums.and_then(|s| s.get(i)).filter(|_| chunk_len == p.mss);
        sums_used += usize::from(known.is_some());
        let sum = share_payload(&mut seg, frame, cur, chunk_len, known.is_none())?;
        let payload_sum = known.unwrap_or(sum);
        let ip_check = !checksum::add_all([p.ip_base, ip_total, seg_ident]);
        let tcp_check = !checksum::add_all([
            p.pseudo_base,
            l4len as u16,
            p.tcp_base,
            (seq >> 16) as u16,
            seq as u16,
            u16::from_be_bytes([p.tcp_doff, flags]),
            payload_sum,
        ]);
        let area = seg.inline_area_mut().ok_or(GsoError::Malformed)?;
        if ip_total != full_total {
            area[ip + 2..ip + 4].copy_from_slice(&ip_total.to_be_bytes());
        }
        area[ip + 4..ip + 6].copy_from_slice(&seg_ident.to_be_bytes());
        area[ip + 10..ip + 12].copy_from_slice(&ip_check.to_be_bytes());
        area[tcp + 4..tcp + 8].copy_from_slice(&seq.to_be_bytes());
        if flags != mid_flags {
            area[tcp + 13] = flags;
        }
        area[tcp + 16..tcp + 18].copy_from_slice(&tcp_check.to_be_bytes());
        out.push(seg);
    }
    Ok(sums_used)
}

/// Segment `i` of `n`'s TCP flags, cut from the super-packet's `flags`: FIN and PSH go on the
/// last segment only, CWR on the first only.
#[inline(always)]
fn seg_flags(flags: u8, i: usize, n: usize) -> u8 {
    let mut f = flags;
    if i + 1 < n {
        f &= !0x09;
    }
    if i > 0 {
        f &= !0x80;
    }
    f
}

/// A segment's metadata, taken from its super-packet's `m`: what the stack knew of the
/// packet (protocol, hash, mark, interface, VLAN tag, address type); nothing of its
/// checksum, segmentation or header offsets.
#[inline(always)]
fn seg_meta(m: &PacketMeta) -> PacketMeta {
    let mut meta = PacketMeta::EMPTY;
    meta.protocol = m.protocol;
    meta.hash = m.hash;
    meta.hash_type = m.hash_type;
    meta.mark = m.mark;
    meta.ifindex = m.ifindex;
    meta.vlan_tci = m.vlan_tci;
    meta.pkt_type = m.pkt_type;
    meta
}

/// Shares the next `len` bytes of `frame`'s payload at `cur` into `seg` as its fragments
/// (one piece without the walk when they lie in one fragment, else the walk), and returns
/// their sum when `sum` asks for it (0 otherwise).
#[inline(always)]
fn share_payload(
    seg: &mut PacketBuf,
    frame: &PacketBuf,
    cur: &mut Cursor,
    len: usize,
    sum: bool,
) -> Result<u16, GsoError> {
    let mut pieces = checksum::Pieces::default();
    match seg.share_one_piece(frame, cur, len) {
        Some(piece) if sum => pieces.add(piece),
        Some(_) => {}
        None => seg
            .append_shared_next(frame, cur, len, |piece| {
                if sum {
                    pieces.add(piece);
                }
            })
            .map_err(|_| GsoError::Malformed)?,
    }
    Ok(if sum { pieces.sum() } else { 0 })
}

/// One's-complement sum of `header` (whole 16-bit words) as if the words at the byte offsets
/// `skip` were zero.
fn sum_without(header: &[u8], skip: &[usize]) -> u16 {
    let mut h = [0u8; 60];
    let h = &mut h[..header.len().min(60)];
    h.copy_from_slice(&header[..h.len()]);
    for &at in skip {
        if let Some(w) = h.get_mut(at..at + 2) {
            w.copy_from_slice(&[0, 0]);
        }
    }
    checksum::sum(h)
}

/// Copies `out.len()` bytes starting at byte `off` of the concatenation of `chunks` into
/// `out` (as far as the chunks reach; the caller has checked the lengths).
fn copy_range(chunks: &[&[u8]], mut off: usize, out: &mut [u8]) {
    let mut done = 0;
    for c in chunks {
        if done == out.len() {
            break;
        }
        if off >= c.len() {
            off -= c.len();
            continue;
        }
        let take = (c.len() - off).min(out.len() - done);
        out[done..done + take].copy_from_slice(&c[off..off + take]);
        done += take;
        off = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_rng::Rng;

    thread_local! {
        /// Sends every super-packet through `segment_inner`'s general loop.
        pub(super) static GENERAL_ONLY: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
        /// Super-packets the inline loop cut.
        pub(super) static INLINE_CUTS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    }

    /// An Ethernet + IPv4 + TCP super-packet: headers in its head, `payload` as a fragment
    /// (as TCP builds one over its send queue), cut at `mss`.
    fn super_packet(payload: &[u8], mss: u16) -> PacketBuf {
        let mut h = vec![0u8; 14 + 20 + 20];
        h[12..14].copy_from_slice(&ethertype::IPV4.to_be_bytes());
        let ip = &mut h[14..34];
        ip[0] = 0x45;
        ip[2..4].copy_from_slice(&((40 + payload.len()) as u16).to_be_bytes());
        ip[8] = 64;
        ip[9] = protocol::TCP;
        ip[12..16].copy_from_slice(&[10, 0, 0, 1]);
        ip[16..20].copy_from_slice(&[10, 0, 0, 2]);
        let tcp = &mut h[34..];
        tcp[0..4].copy_from_slice(&[0x13, 0x89, 0xc3, 0x50]);
        tcp[4..8].copy_from_slice(&7u32.to_be_bytes());
        tcp[12] = 5 << 4;
        tcp[13] = 0x18;
        tcp[14..16].copy_from_slice(&1024u16.to_be_bytes());
        let mut sp = PacketBuf::from_slice(64, &h);
        let body = PacketBuf::from_slice(0, payload);
        sp.append_shared(&body, 0, payload.len()).unwrap();
        sp.meta.gso_size = mss;
        sp
    }

    fn flat(p: &PacketBuf) -> Vec<u8> {
        let mut v = vec![0; p.len()];
        p.copy_to(&mut v).unwrap();
        v
    }

    /// True when segment `f`'s TCP checksum is right.
    fn tcp_sum_ok(f: &[u8]) -> bool {
        let l4 = &f[34..];
        let pseudo = checksum::pseudo_header_v4(
            Ipv4Addr::new(10, 0, 0, 1),
            Ipv4Addr::new(10, 0, 0, 2),
            protocol::TCP,
            l4.len() as u16,
        );
        checksum::add(pseudo, checksum::sum(l4)) == 0xffff
    }

    fn cut(sp: &PacketBuf, csum_offload: bool) -> (Vec<Vec<u8>>, usize) {
        let pool = PacketPool::new(64, 2048);
        let pools = GsoPools {
            linear: &pool,
            headers: &pool,
        };
        let mut out = Vec::new();
        let (n, used) = segment_counting_sums(sp, pools, &mut out, csum_offload).unwrap();
        assert_eq!(n, out.len());
        (out.iter().map(flat).collect(), used)
    }

    /// A segment as the tests compare it: bytes, metadata, fragment count.
    type Seg = (Vec<u8>, PacketMeta, usize);

    /// Segments of `sp` and the sums used, through the inline fast loop or, with `general`,
    /// the general one.
    fn cut_with(sp: &PacketBuf, general: bool) -> Result<(Vec<Seg>, usize), GsoError> {
        let pool = PacketPool::new(64, 2048);
        let pools = GsoPools {
            linear: &pool,
            headers: &pool,
        };
        let mut out = Vec::new();
        GENERAL_ONLY.with(|g| g.set(general));
        let r = segment_counting_sums(sp, pools, &mut out, false);
        GENERAL_ONLY.with(|g| g.set(false));
        let (_, used) = r?;
        let segs = out
            .iter()
            .map(|s| (flat(s), s.meta, s.nr_frags()))
            .collect();
        Ok((segs, used))
    }

    #[test]
    fn the_inline_loop_cuts_every_super_packet_as_the_general_one() {
        let mut rng = Rng(0x6a50_1e55);
        let mut with_sums = 0;
        let inline_before = INLINE_CUTS.with(std::cell::Cell::get);
        for round in 0..400 {
            let mss = [536, 1000, 1448, 1460, 9000][(round % 5) as usize];
            let len = 1 + rng.below(70_000) as usize;
            let payload: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            let mut sp = super_packet(&payload[..0], mss as u16);
            // The payload in one to four chunks, as a send queue holds it.
            let mut at = 0;
            while at < len {
                let piece = if rng.below(3) == 0 {
                    len - at
                } else {
                    (1 + rng.below(30_000) as usize).min(len - at)
                };
                let chunk = PacketBuf::from_slice(0, &payload[at..at + piece]);
                sp.append_shared(&chunk, 0, piece).unwrap();
                at += piece;
            }
            // Lengths, flags (CWR, FIN, PSH, URG and ACK in any mix), options and metadata.
            let d = sp.data_mut().unwrap();
            d[14 + 2..14 + 4].copy_from_slice(&((40 + len) as u16).to_be_bytes());
            d[14 + 4..14 + 6].copy_from_slice(&(rng.next() as u16).to_be_bytes());
            d[34 + 4..34 + 8].copy_from_slice(&(rng.next() as u32).to_be_bytes());
            d[34 + 13] = (rng.next() as u8) & 0xb9 | 0x10;
            sp.meta.hash = rng.next() as u32;
            sp.meta.mark = rng.next() as u32;
            sp.meta.ifindex = 3;
            sp.meta.vlan_tci = (rng.below(2) == 0).then_some(42);
            if rng.below(4) == 0 {
                sp.meta.csum = ChecksumState::Unnecessary;
            }
            let sums: Vec<u16> = payload
                .chunks(mss)
                .filter(|c| c.len() == mss)
                .map(checksum::sum)
                .collect();
            if rng.below(5) != 0 {
                sp.set_seg_sums(mss as u16, sums.iter().copied());
            }
            let fast = cut_with(&sp, false);
            let general = cut_with(&sp, true);
            assert_eq!(fast, general, "round {round}: {len} bytes at mss {mss}");
            let (segs, used) = fast.unwrap();
            assert!(segs.iter().all(|(f, _, _)| tcp_sum_ok(f)), "round {round}");
            with_sums += usize::from(used > 0);
        }
        assert!(with_sums > 250, "{with_sums} of 400 took TCP's sums");
        let inline = INLINE_CUTS.with(std::cell::Cell::get) - inline_before;
        assert_eq!(
            inline, 400,
            "every super-packet went through the inline loop once"
        );
    }

    #[test]
    fn gso_takes_the_payload_sums_tcp_attached_for_full_segments_only() {
        let payload: Vec<u8> = (0..10_000u32).map(|i| (i * 31 % 255) as u8).collect();
        let mss = 1448;
        let sums: Vec<u16> = payload
            .chunks(mss)
            .filter(|c| c.len() == mss)
            .map(checksum::sum)
            .collect();
        assert_eq!(sums.len(), 6);
        let mut sp = super_packet(&payload, mss as u16);
        let (plain, used) = cut(&sp, false);
        assert_eq!((plain.len(), used), (7, 0));
        assert!(plain.iter().all(|f| tcp_sum_ok(f)));

        // With the right sums attached the segments are the same, and GSO read none of the
        // six full payloads (the short last one it sums itself).
        sp.set_seg_sums(mss as u16, sums.iter().copied());
        let (with, used) = cut(&sp, false);
        assert_eq!(with, plain);
        assert_eq!(used, 6);

        // It does take them: wrong sums give wrong checksums, in the full segments only.
        sp.set_seg_sums(mss as u16, sums.iter().map(|s| s.wrapping_add(1)));
        let (wrong, used) = cut(&sp, false);
        assert_eq!(used, 6);
        assert!(wrong[..6].iter().all(|f| !tcp_sum_ok(f)));
        assert_eq!(wrong[6], plain[6]);

        // Sums cut at another size, or a device that sums the payload itself: not used.
        sp.set_seg_sums(1000, sums.iter().map(|s| s.wrapping_add(1)));
        assert_eq!(cut(&sp, false), (plain.clone(), 0));
        sp.set_seg_sums(mss as u16, sums.iter().map(|s| s.wrapping_add(1)));
        let (offloaded, used) = cut(&sp, true);
        assert_eq!((offloaded.len(), used), (7, 0));

        // A clone carries none; changing the payload drops them.
        assert!(sp.clone().seg_sums().is_none());
        sp.trim(sp.len() - 1).unwrap();
        assert!(sp.seg_sums().is_none());
        let mut grown = super_packet(&payload, mss as u16);
        grown.set_seg_sums(mss as u16, sums.iter().copied());
        grown
            .append_frags(PacketBuf::from_slice(0, b"more"))
            .unwrap();
        assert!(grown.seg_sums().is_none());
        let mut flat_sp = super_packet(&payload, mss as u16);
        flat_sp.set_seg_sums(mss as u16, sums.iter().copied());
        let _ = flat_sp.linearize();
        assert!(flat_sp.seg_sums().is_none());
    }
}
