//! TCP header (RFC 9293) with every option Linux sends or reads: MSS, window scale and
//! timestamps (RFC 7323), SACK-permitted and SACK blocks (RFC 2018), NOP/EOL. Unknown options
//! are skipped by their length. As in Linux `tcp_parse_options`, options never make a segment
//! malformed: a known option with the wrong length for its kind is ignored, and a length that
//! cannot be stepped over (below 2, or past the header) ends the option list; the segment is
//! processed with the options read before it (see [`TcpOptions::parse`]).

use super::checksum::{self, ChecksumMode};
use super::ipv4::protocol;
use super::WireError;
use core::net::Ipv4Addr;
use nom::number::complete::{be_u16, be_u32};
use nom::IResult;

/// Option kinds.
pub mod option_kind {
    /// End of option list.
    pub const EOL: u8 = 0;
    /// No operation (alignment).
    pub const NOP: u8 = 1;
    /// Maximum segment size.
    pub const MSS: u8 = 2;
    /// Window scale.
    pub const WINDOW_SCALE: u8 = 3;
    /// SACK permitted.
    pub const SACK_PERMITTED: u8 = 4;
    /// SACK blocks.
    pub const SACK: u8 = 5;
    /// Timestamps.
    pub const TIMESTAMPS: u8 = 8;
}

/// Largest option area: a 60-byte header minus the 20 fixed bytes.
pub const MAX_OPTIONS_LEN: usize = 40;

/// Most SACK blocks an option can hold (2 + 4 × 8 = 34 bytes).
pub const MAX_SACK_BLOCKS: usize = 4;

/// The nine TCP flag bits (the low 9 bits of bytes 12..14).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TcpFlags(pub u16);

impl TcpFlags {
    /// No more data from sender.
    pub const FIN: u16 = 0x001;
    /// Synchronize sequence numbers.
    pub const SYN: u16 = 0x002;
    /// Reset the connection.
    pub const RST: u16 = 0x004;
    /// Push.
    pub const PSH: u16 = 0x008;
    /// The acknowledgment field is significant.
    pub const ACK: u16 = 0x010;
    /// The urgent pointer is significant.
    pub const URG: u16 = 0x020;
    /// ECN echo (RFC 3168).
    pub const ECE: u16 = 0x040;
    /// Congestion window reduced (RFC 3168).
    pub const CWR: u16 = 0x080;
    /// ECN nonce (RFC 3540, historic).
    pub const NS: u16 = 0x100;

    /// True when every bit of `bits` is set.
    pub fn contains(self, bits: u16) -> bool {
        self.0 & bits == bits
    }
}

/// One SACK block: the received range `[left, right)` in sequence space.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SackBlock {
    /// First sequence number of the block.
    pub left: u32,
    /// Sequence number just after the block.
    pub right: u32,
}

/// Timestamps option values (RFC 7323).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpTimestamps {
    /// The sender's timestamp clock.
    pub tsval: u32,
    /// The echoed timestamp (0 in a SYN).
    pub tsecr: u32,
}

/// The options of a segment as plain values. Fixed-size, so [`TcpRepr`] is `Copy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TcpOptions {
    /// Maximum segment size (SYN only).
    pub mss: Option<u16>,
    /// Window scale shift count as received (RFC 7323 says treat values over 14 as 14; that
    /// is the connection's decision, so the raw value is kept).
    pub window_scale: Option<u8>,
    /// SACK permitted (SYN only).
    pub sack_permitted: bool,
    /// SACK blocks in option order; the first `None` ends the list.
    pub sack_blocks: [Option<SackBlock>; MAX_SACK_BLOCKS],
    /// Timestamps.
    pub timestamps: Option<TcpTimestamps>,
}

impl TcpOptions {
    /// Parses an option area as Linux `tcp_parse_options` does. Never fails: options are
    /// advisory, and Linux processes a segment's data and ACK whatever its options hold.
    /// - An option of a known kind with the wrong length for it ("silly options": MSS not 4
    ///   bytes, SACK blocks not a whole number of 8 bytes, ...) is ignored, and parsing goes
    ///   on with the next option by the length byte.
    /// - A kind with no room for its length byte, a length below 2, or a length running past
    ///   the area ends the list there (a length of 0 or 1 cannot be stepped over; a partial
    ///   option is not parsed). What was read before stays.
    /// - Unknown kinds are skipped by their length; EOL ends the list; a repeated option
    ///   overrides the earlier one.
    #[inline]
    pub fn parse(mut o: &[u8]) -> TcpOptions {
        let mut out = TcpOptions::default();
        while let Some((&kind, after)) = o.split_first() {
            match kind {
                option_kind::EOL => break,
                option_kind::NOP => {
                    o = after;
                    continue;
                }
                _ => {}
            }
            let Some(&len) = after.first() else {
                break;
            };
            let len = usize::from(len);
            let Some(body) = o.get(2..len) else {
                // Below 2 (`get` refuses a range that ends before it starts) or past the end.
                break;
            };
            let be32 = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
            match (kind, body.len()) {
                (option_kind::MSS, 2) => out.mss = Some(u16::from_be_bytes([body[0], body[1]])),
                (option_kind::WINDOW_SCALE, 1) => out.window_scale = Some(body[0]),
                (option_kind::SACK_PERMITTED, 0) => out.sack_permitted = true,
                (option_kind::TIMESTAMPS, 8) => {
                    out.timestamps = Some(TcpTimestamps {
                        tsval: be32(&body[..4]),
                        tsecr: be32(&body[4..]),
                    })
                }
                (option_kind::SACK, n) if n % 8 == 0 && (8..=8 * MAX_SACK_BLOCKS).contains(&n) => {
                    out.sack_blocks = Default::default();
                    for (slot, b) in out.sack_blocks.iter_mut().zip(body.chunks_exact(8)) {
                        *slot = Some(SackBlock {
                            left: be32(&b[..4]),
                            right: be32(&b[4..]),
                        });
                    }
                }
                // A known kind with a wrong length, or an unknown kind: skipped by its length.
                _ => {}
            }
            o = &o[len..];
        }
        out
    }

    fn sack_count(&self) -> usize {
        self.sack_blocks.iter().take_while(|b| b.is_some()).count()
    }

    /// The length [`Self::write`] returns (or its error), worked out without writing: a
    /// segment's header length is needed before the header is emitted, once per segment.
    fn len(&self) -> Result<usize, WireError> {
        // Bytes the SACK option takes when present: what `Writer::sack` puts.
        let sack = if self.sack_count() > 0 {
            2 + 8 * self.sack_blocks.iter().flatten().count()
        } else {
            0
        };
        let mss = if self.mss.is_some() { 4 } else { 0 };
        let ts = if self.timestamps.is_some() { 10 } else { 0 };
        let aligned =
            mss + match (self.sack_permitted, self.timestamps.is_some()) {
                (_, true) => 2 + ts,
                (true, false) => 4,
                (false, false) => 0,
            } + if self.window_scale.is_some() { 4 } else { 0 }
                + if sack > 0 { 2 + sack } else { 0 };
        if aligned <= MAX_OPTIONS_LEN {
            return Ok(aligned);
        }
        let packed = mss
            + if self.window_scale.is_some() { 3 } else { 0 }
            + if self.sack_permitted { 2 } else { 0 }
            + ts
            + sack;
        let packed = packed.div_ceil(4) * 4;
        if packed > MAX_OPTIONS_LEN {
            return Err(WireError::Unrepresentable {
                what: "tcp options longer than 40 bytes",
            });
        }
        Ok(packed)
    }

    /// Writes the options into `out` and returns their length, a multiple of 4. The layout is
    /// Linux's (NOP-aligned 32-bit words, SACK-permitted folded in front of the timestamps);
    /// when that does not fit in 40 bytes the options are packed without NOPs instead, so any
    /// set that arrived in a valid header can be written back.
    fn write(&self, out: &mut [u8; MAX_OPTIONS_LEN]) -> Result<usize, WireError> {
        let mut aligned = Writer::default();
        if let Some(mss) = self.mss {
            aligned.put(&[option_kind::MSS, 4]);
            aligned.put(&mss.to_be_bytes());
        }
        match (self.sack_permitted, self.timestamps) {
            (true, Some(ts)) => {
                aligned.put(&[option_kind::SACK_PERMITTED, 2]);
                aligned.timestamps(ts);
            }
            (false, Some(ts)) => {
                aligned.put(&[option_kind::NOP, option_kind::NOP]);
                aligned.timestamps(ts);
            }
            (true, None) => aligned.put(&[
                option_kind::NOP,
                option_kind::NOP,
                option_kind::SACK_PERMITTED,
                2,
            ]),
            (false, None) => {}
        }
        if let Some(ws) = self.window_scale {
            aligned.put(&[option_kind::NOP, option_kind::WINDOW_SCALE, 3, ws]);
        }
        if self.sack_count() > 0 {
            aligned.put(&[option_kind::NOP, option_kind::NOP]);
            aligned.sack(self);
        }
        let w = if aligned.len <= MAX_OPTIONS_LEN {
            aligned
        } else {
            let mut packed = Writer::default();
            if let Some(mss) = self.mss {
                packed.put(&[option_kind::MSS, 4]);
                packed.put(&mss.to_be_bytes());
            }
            if let Some(ws) = self.window_scale {
                packed.put(&[option_kind::WINDOW_SCALE, 3, ws]);
            }
            if self.sack_permitted {
                packed.put(&[option_kind::SACK_PERMITTED, 2]);
            }
            if let Some(ts) = self.timestamps {
                packed.timestamps(ts);
            }
            if self.sack_count() > 0 {
                packed.sack(self);
            }
            // EOL padding to a 32-bit boundary.
            packed.len = packed.len.div_ceil(4) * 4;
            if packed.len > MAX_OPTIONS_LEN {
                return Err(WireError::Unrepresentable {
                    what: "tcp options longer than 40 bytes",
                });
            }
            packed
        };
        out.copy_from_slice(&w.buf[..MAX_OPTIONS_LEN]);
        Ok(w.len)
    }
}

/// Collects option bytes; sized past 40 so an over-long layout is measured, not truncated.
struct Writer {
    buf: [u8; 64],
    len: usize,
}

impl Default for Writer {
    fn default() -> Self {
        Writer {
            buf: [0; 64],
            len: 0,
        }
    }
}

impl Writer {
    fn put(&mut self, b: &[u8]) {
        // The largest layout (aligned, all options, 4 SACK blocks) is 56 bytes: always fits.
        if let Some(dst) = self.buf.get_mut(self.len..self.len + b.len()) {
            dst.copy_from_slice(b);
        }
        self.len += b.len();
    }
    fn timestamps(&mut self, ts: TcpTimestamps) {
        self.put(&[option_kind::TIMESTAMPS, 10]);
        self.put(&ts.tsval.to_be_bytes());
        self.put(&ts.tsecr.to_be_bytes());
    }
    fn sack(&mut self, o: &TcpOptions) {
        let n = o.sack_count();
        self.put(&[option_kind::SACK, (2 + 8 * n) as u8]);
        for b in o.sack_blocks.iter().flatten() {
            self.put(&b.left.to_be_bytes());
            self.put(&b.right.to_be_bytes());
        }
    }
}

/// A TCP header as a plain value (the payload is separate).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpRepr {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgment number (meaningful with ACK).
    pub ack: u32,
    /// Flags.
    pub flags: TcpFlags,
    /// Receive window, unscaled as on the wire.
    pub window: u16,
    /// Urgent pointer (meaningful with URG).
    pub urgent: u16,
    /// Options.
    pub options: TcpOptions,
}

/// Fixed fields in wire order: ports, seq, ack, offset/flags word, window, checksum, urgent.
type Fields = (u16, u16, u32, u32, u16, u16, u16, u16);

#[inline]
fn fields(i: &[u8]) -> IResult<&[u8], Fields> {
    let (i, sp) = be_u16(i)?;
    let (i, dp) = be_u16(i)?;
    let (i, seq) = be_u32(i)?;
    let (i, ack) = be_u32(i)?;
    let (i, off_flags) = be_u16(i)?;
    let (i, win) = be_u16(i)?;
    let (i, check) = be_u16(i)?;
    let (i, urg) = be_u16(i)?;
    Ok((i, (sp, dp, seq, ack, off_flags, win, check, urg)))
}

fn segment_sum(seg: &[u8], src: Ipv4Addr, dst: Ipv4Addr) -> u16 {
    // Callers only pass segments whose length fits 16 bits.
    let len = seg.len() as u16;
    checksum::add(
        checksum::pseudo_header_v4(src, dst, protocol::TCP, len),
        checksum::sum(seg),
    )
}

impl TcpRepr {
    /// Length of a header without options.
    pub const MIN_LEN: usize = 20;

    /// Header length as [`Self::emit`] writes it, options included.
    pub fn header_len(&self) -> Result<usize, WireError> {
        Ok(Self::MIN_LEN + self.options.len()?)
    }

    /// Parses a segment (the whole IPv4 payload: TCP has no length field of its own) sent from
    /// `src` to `dst`: data offset at least 5 and within the segment, checksum verified unless
    /// `mode` says the device did; the options as [`TcpOptions::parse`] reads them, malformed
    /// ones ignored. Returns the header and the payload.
    #[inline]
    pub fn parse(
        seg: &[u8],
        src: Ipv4Addr,
        dst: Ipv4Addr,
        mode: ChecksumMode,
    ) -> Result<(TcpRepr, &[u8]), WireError> {
        let what = "tcp header";
        let Ok((_, (src_port, dst_port, seq, ack, off_flags, window, _check, urgent))) =
            fields(seg)
        else {
            return Err(WireError::Truncated {
                what,
                needed: Self::MIN_LEN,
                got: seg.len(),
            });
        };
        let hlen = usize::from(off_flags >> 12) * 4;
        if hlen < Self::MIN_LEN || hlen > seg.len() {
            return Err(WireError::BadHeaderLen { what, len: hlen });
        }
        if seg.len() > usize::from(u16::MAX) {
            return Err(WireError::BadLength {
                what,
                claimed: seg.len(),
                got: seg.len(),
            });
        }
        if mode == ChecksumMode::Software && segment_sum(seg, src, dst) != 0xffff {
            return Err(WireError::BadChecksum { what });
        }
        let options = TcpOptions::parse(&seg[Self::MIN_LEN..hlen]);
        let repr = TcpRepr {
            src_port,
            dst_port,
            seq,
            ack,
            flags: TcpFlags(off_flags & 0x01ff),
            window,
            urgent,
            options,
        };
        Ok((repr, &seg[hlen..]))
    }

    /// Writes the header in front of the `payload_len` bytes already at
    /// `packet[header_len..]` and returns the segment length. With
    /// [`ChecksumMode::Offloaded`] the checksum field holds the pseudo-header sum for the
    /// device to finish (TSO and checksum offload expect exactly that).
    pub fn emit(
        &self,
        packet: &mut [u8],
        payload_len: usize,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        mode: ChecksumMode,
    ) -> Result<usize, WireError> {
        self.emit_inner(packet, payload_len, None, src, dst, mode)
    }

    /// Writes the header alone into `header` for a payload of `payload_len` bytes that lies
    /// elsewhere (in a packet's fragments) and whose one's-complement sum is `payload_sum`
    /// (as [`checksum::sum`] gives); returns the header length. The checksum is the one
    /// [`Self::emit`] would write with the payload in place.
    pub fn emit_header(
        &self,
        header: &mut [u8],
        payload_len: usize,
        payload_sum: u16,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        mode: ChecksumMode,
    ) -> Result<usize, WireError> {
        self.emit_inner(header, payload_len, Some(payload_sum), src, dst, mode)
            .map(|total| total - payload_len)
    }

    /// [`Self::emit`] (`payload_sum` = `None`: the payload follows the header in `packet`) and
    /// [`Self::emit_header`].
    fn emit_inner(
        &self,
        packet: &mut [u8],
        payload_len: usize,
        payload_sum: Option<u16>,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        mode: ChecksumMode,
    ) -> Result<usize, WireError> {
        let mut opts = [0u8; MAX_OPTIONS_LEN];
        let olen = self.options.write(&mut opts)?;
        let hlen = Self::MIN_LEN + olen;
        let total = hlen + payload_len;
        let len16 = u16::try_from(total).map_err(|_| WireError::Unrepresentable {
            what: "tcp segment over 65535 bytes",
        })?;
        if self.flags.0 > 0x01ff {
            return Err(WireError::Unrepresentable { what: "tcp flags" });
        }
        let in_place = if payload_sum.is_some() { hlen } else { total };
        let Some(s) = packet.get_mut(..in_place) else {
            return Err(WireError::BufferTooSmall {
                needed: in_place,
                have: packet.len(),
            });
        };
        let off_flags = ((hlen as u16 / 4) << 12) | self.flags.0;
        s[0..2].copy_from_slice(&self.src_port.to_be_bytes());
        s[2..4].copy_from_slice(&self.dst_port.to_be_bytes());
        s[4..8].copy_from_slice(&self.seq.to_be_bytes());
        s[8..12].copy_from_slice(&self.ack.to_be_bytes());
        s[12..14].copy_from_slice(&off_flags.to_be_bytes());
        s[14..16].copy_from_slice(&self.window.to_be_bytes());
        s[16..18].copy_from_slice(&[0, 0]);
        s[18..20].copy_from_slice(&self.urgent.to_be_bytes());
        s[20..hlen].copy_from_slice(&opts[..olen]);
        let check = match mode {
            ChecksumMode::Software => match payload_sum {
                None => !segment_sum(s, src, dst),
                // The header is whole 32-bit words, so the payload's sum adds as it is.
                Some(p) => !checksum::add(
                    checksum::add(
                        checksum::pseudo_header_v4(src, dst, protocol::TCP, len16),
                        checksum::sum(s),
                    ),
                    p,
                ),
            },
            ChecksumMode::Offloaded => checksum::pseudo_header_v4(src, dst, protocol::TCP, len16),
        };
        s[16..18].copy_from_slice(&check.to_be_bytes());
        Ok(total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 1);
    const DST: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 2);
    const SW: ChecksumMode = ChecksumMode::Software;

    #[test]
    fn option_length_matches_what_is_written() {
        let blocks = |n: usize, gap: bool| {
            let mut b: [Option<SackBlock>; MAX_SACK_BLOCKS] = Default::default();
            for (k, slot) in b.iter_mut().take(n).enumerate() {
                *slot = Some(SackBlock {
                    left: 100 * k as u32,
                    right: 100 * k as u32 + 50,
                });
            }
            if gap && n > 0 {
                b[0] = None;
            }
            b
        };
        let mut seen_err = false;
        for bits in 0..16u8 {
            for n in 0..=MAX_SACK_BLOCKS {
                for gap in [false, true] {
                    let o = TcpOptions {
                        mss: (bits & 1 != 0).then_some(1460),
                        window_scale: (bits & 2 != 0).then_some(7),
                        sack_permitted: bits & 4 != 0,
                        timestamps: (bits & 8 != 0).then_some(TcpTimestamps { tsval: 1, tsecr: 2 }),
                        sack_blocks: blocks(n, gap),
                    };
                    let mut out = [0u8; MAX_OPTIONS_LEN];
                    let written = o.write(&mut out);
                    assert_eq!(o.len(), written, "{o:?}");
                    seen_err |= written.is_err();
                }
            }
        }
        assert!(seen_err, "the over-long case is covered too");
    }
    const OFF: ChecksumMode = ChecksumMode::Offloaded;

    /// Linux's SYN from tests/fixtures/tcp_syn.hex (the IPv4 payload).
    const SYN: [u8; 40] = [
        0x9c, 0x42, 0x1f, 0x90, 0xc0, 0x31, 0x6c, 0x76, 0x00, 0x00, 0x00, 0x00, 0xa0, 0x02, 0xfa,
        0xf0, 0x51, 0xda, 0x00, 0x00, 0x02, 0x04, 0x05, 0xb4, 0x04, 0x02, 0x08, 0x0a, 0x69, 0xa5,
        0x94, 0x49, 0x00, 0x00, 0x00, 0x00, 0x01, 0x03, 0x03, 0x0a,
    ];

    fn segment(flags: u16, options: TcpOptions, payload: &[u8]) -> (TcpRepr, Vec<u8>) {
        let t = TcpRepr {
            src_port: 1234,
            dst_port: 80,
            seq: 0x0102_0304,
            ack: 0x0a0b_0c0d,
            flags: TcpFlags(flags),
            window: 502,
            urgent: 0,
            options,
        };
        let hlen = t.header_len().unwrap();
        let mut buf = vec![0u8; hlen + payload.len()];
        buf[hlen..].copy_from_slice(payload);
        assert_eq!(t.emit(&mut buf, payload.len(), SRC, DST, SW), Ok(buf.len()));
        (t, buf)
    }

    #[test]
    fn parse_linux_syn() {
        let (t, payload) = TcpRepr::parse(&SYN, SRC, DST, SW).unwrap();
        assert!(payload.is_empty());
        assert_eq!((t.src_port, t.dst_port, t.seq), (40002, 8080, 3224464502));
        assert_eq!(t.flags, TcpFlags(TcpFlags::SYN));
        assert_eq!(t.window, 64240);
        assert_eq!(t.options.mss, Some(1460));
        assert!(t.options.sack_permitted);
        assert_eq!(
            t.options.timestamps,
            Some(TcpTimestamps {
                tsval: 1772459081,
                tsecr: 0
            })
        );
        assert_eq!(t.options.window_scale, Some(10));
        // Linux's layout is the one emit uses: byte for byte.
        let mut buf = [0u8; 40];
        assert_eq!(t.emit(&mut buf, 0, SRC, DST, SW), Ok(40));
        assert_eq!(buf, SYN);
    }

    #[test]
    fn parse_every_truncation_is_an_error() {
        for n in 0..SYN.len() {
            assert!(TcpRepr::parse(&SYN[..n], SRC, DST, OFF).is_err(), "len {n}");
        }
    }

    #[test]
    fn parse_bad_data_offset_and_checksum() {
        let mut s = SYN;
        s[12] = 0x40;
        assert_eq!(
            TcpRepr::parse(&s, SRC, DST, OFF),
            Err(WireError::BadHeaderLen {
                what: "tcp header",
                len: 16
            })
        );
        s[12] = 0xb0;
        assert_eq!(
            TcpRepr::parse(&s, SRC, DST, OFF),
            Err(WireError::BadHeaderLen {
                what: "tcp header",
                len: 44
            })
        );
        let mut s = SYN;
        s[30] ^= 0x10;
        assert_eq!(
            TcpRepr::parse(&s, SRC, DST, SW),
            Err(WireError::BadChecksum { what: "tcp header" })
        );
    }

    #[test]
    fn parse_sack_blocks_round_trip() {
        for n in 1..=MAX_SACK_BLOCKS {
            let mut options = TcpOptions {
                timestamps: (n < 4).then_some(TcpTimestamps { tsval: 5, tsecr: 6 }),
                ..Default::default()
            };
            for (k, slot) in options.sack_blocks.iter_mut().take(n).enumerate() {
                *slot = Some(SackBlock {
                    left: 1000 * k as u32,
                    right: 1000 * k as u32 + 500,
                });
            }
            let (t, buf) = segment(TcpFlags::ACK, options, b"data");
            let (back, payload) = TcpRepr::parse(&buf, SRC, DST, SW).unwrap();
            assert_eq!(back, t, "{n} blocks");
            assert_eq!(payload, b"data");
        }
    }

    #[test]
    fn emit_packs_options_that_do_not_fit_aligned() {
        // 3 SACK blocks + timestamps + window scale: 39 bytes packed, 44 with Linux alignment.
        let mut options = TcpOptions {
            window_scale: Some(7),
            timestamps: Some(TcpTimestamps { tsval: 1, tsecr: 2 }),
            ..Default::default()
        };
        for (k, slot) in options.sack_blocks.iter_mut().take(3).enumerate() {
            *slot = Some(SackBlock {
                left: k as u32,
                right: k as u32 + 1,
            });
        }
        let (t, buf) = segment(TcpFlags::ACK, options, &[]);
        assert_eq!(buf.len(), 60);
        assert_eq!(TcpRepr::parse(&buf, SRC, DST, SW).unwrap().0, t);
        // ... and 4 blocks with timestamps cannot be written at all.
        options.sack_blocks[3] = Some(SackBlock::default());
        let t = TcpRepr { options, ..t };
        assert_eq!(
            t.header_len(),
            Err(WireError::Unrepresentable {
                what: "tcp options longer than 40 bytes"
            })
        );
    }

    fn with_options(opts: &[u8]) -> Vec<u8> {
        assert_eq!(opts.len() % 4, 0);
        let mut s = SYN[..20].to_vec();
        s[12] = (((20 + opts.len()) / 4) as u8) << 4;
        s.extend_from_slice(opts);
        s
    }

    #[test]
    fn parse_unknown_options_skipped_and_eol_stops() {
        // Unknown kind 30 (MPTCP) with 6 bytes, then MSS, then EOL and garbage after it.
        let s = with_options(&[30, 6, 1, 2, 3, 4, 2, 4, 0x05, 0xb4, 0, 99]);
        let (t, _) = TcpRepr::parse(&s, SRC, DST, OFF).unwrap();
        assert_eq!(
            t.options,
            TcpOptions {
                mss: Some(1460),
                ..Default::default()
            }
        );
    }

    /// Linux `tcp_parse_options`: an option of a known kind with the wrong length for it
    /// ("silly options") is ignored and parsing goes on with the next one, by its length
    /// byte; a length byte missing, below 2 or running past the header ends the list, and
    /// what was read before it stays. The segment itself is never refused for its options:
    /// Linux goes on to process its data and ACK.
    #[test]
    fn parse_malformed_options_are_ignored_or_end_the_list() {
        const TS: [u8; 10] = [8, 10, 0, 0, 0, 5, 0, 0, 0, 6];
        const AFTER: [u8; 7] = [2, 4, 0x05, 0xb4, 3, 3, 7]; // MSS 1460, window scale 7
        let ts = Some(TcpTimestamps { tsval: 5, tsecr: 6 });
        let kept = TcpOptions {
            timestamps: ts,
            ..Default::default()
        };
        let skipped = TcpOptions {
            mss: Some(1460),
            window_scale: Some(7),
            ..kept
        };
        for (bad, want) in [
            (&[2u8, 3, 5][..], skipped),                 // MSS with length 3
            (&[3, 4, 7, 1][..], skipped),                // window scale with length 4
            (&[3, 2][..], skipped),                      // window scale with length 2
            (&[4, 3, 0][..], skipped),                   // SACK-permitted with length 3
            (&[8, 8, 0, 0, 0, 9, 0, 0][..], skipped),    // timestamps with length 8
            (&[5, 2][..], skipped),                      // SACK with no blocks
            (&[5, 9, 0, 0, 0, 0, 0, 0, 0][..], skipped), // SACK not a multiple of 8
            (&[30, 1][..], kept),                        // length below 2
            (&[30, 0][..], kept),                        // length 0 (would loop forever)
            (&[30, 40][..], kept),                       // runs past the option area
            (&[2, 20, 5, 0xb4][..], kept),               // MSS running past the area
        ] {
            let mut opts = TS.to_vec();
            opts.extend_from_slice(bad);
            opts.extend_from_slice(&AFTER);
            // NOP-pad to a 32-bit boundary.
            opts.resize(opts.len().div_ceil(4) * 4, 1);
            let mut s = with_options(&opts);
            s.extend_from_slice(b"data");
            let parsed = TcpRepr::parse(&s, SRC, DST, OFF).map(|(t, p)| (t.options, p.to_vec()));
            assert_eq!(parsed, Ok((want, b"data".to_vec())), "{bad:?}");
        }
        // The last byte of the area is a kind with no room for its length byte; an MSS cut by
        // the end of the header: both end the list.
        for tail in [&[1u8, 30][..], &[1, 1, 1, 2, 4, 5][..]] {
            let mut opts = TS.to_vec();
            opts.extend_from_slice(tail);
            let parsed =
                TcpRepr::parse(&with_options(&opts), SRC, DST, OFF).map(|(t, _)| t.options);
            assert_eq!(parsed, Ok(kept), "{tail:?}");
        }
        // Five SACK blocks need 42 bytes, more than any option area: the list ends there,
        // never written past the 4-slot block array.
        let mut five = vec![5u8, 42];
        five.resize(MAX_OPTIONS_LEN, 0);
        let parsed = TcpRepr::parse(&with_options(&five), SRC, DST, OFF).map(|(t, _)| t.options);
        assert_eq!(parsed, Ok(TcpOptions::default()));
        // A malformed SACK option leaves the blocks of a well-formed one before it.
        let mut opts = vec![5u8, 10, 0, 0, 0, 1, 0, 0, 0, 2, 5, 2];
        opts.resize(opts.len().div_ceil(4) * 4, 1);
        let (t, _) = TcpRepr::parse(&with_options(&opts), SRC, DST, OFF).unwrap();
        assert_eq!(
            t.options.sack_blocks[..2],
            [Some(SackBlock { left: 1, right: 2 }), None]
        );
    }

    #[test]
    fn emit_flags_and_offload() {
        let (t, buf) = segment(
            TcpFlags::FIN | TcpFlags::ACK | TcpFlags::ECE | TcpFlags::CWR | TcpFlags::NS,
            TcpOptions::default(),
            b"x",
        );
        assert_eq!(&buf[12..14], &[0x51, 0xd1]);
        assert_eq!(TcpRepr::parse(&buf, SRC, DST, SW).unwrap().0, t);
        assert!(t.flags.contains(TcpFlags::FIN | TcpFlags::NS));
        assert!(!t.flags.contains(TcpFlags::SYN));
        let mut off = buf.clone();
        t.emit(&mut off, 1, SRC, DST, OFF).unwrap();
        let c = !checksum::sum(&off);
        off[16..18].copy_from_slice(&c.to_be_bytes());
        assert_eq!(off, buf);
        let bad = TcpRepr {
            flags: TcpFlags(0x200),
            ..t
        };
        assert!(bad.emit(&mut off, 1, SRC, DST, SW).is_err());
        assert!(matches!(
            t.emit(&mut off[..20], 1, SRC, DST, SW),
            Err(WireError::BufferTooSmall { .. })
        ));
    }
}
