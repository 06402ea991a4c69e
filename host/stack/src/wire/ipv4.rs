//! IPv4 header (RFC 791): what `ip_rcv` validates and `ip_output` writes. Options are kept as
//! raw bytes (so forwarding and ICMP quoting reproduce them exactly) and read through one walk,
//! [`walk_options`], which the parser's check, the typed iterator, [`compile_options`] (Linux's
//! `ip_options_compile`, the receive path's check and update of them), [`echo_options`] and
//! [`fragment_options`] all share.

use super::checksum::{self, ChecksumMode};
use super::WireError;
use core::net::Ipv4Addr;
use core::ops::Range;
use nom::bytes::complete::take;
use nom::number::complete::{be_u16, be_u8};
use nom::IResult;

/// IP protocol numbers the stack knows.
pub mod protocol {
    /// ICMP.
    pub const ICMP: u8 = 1;
    /// IGMP.
    pub const IGMP: u8 = 2;
    /// TCP.
    pub const TCP: u8 = 6;
    /// UDP.
    pub const UDP: u8 = 17;
}

/// Option kinds with a meaning to this parser.
pub mod option_kind {
    /// End of option list.
    pub const EOL: u8 = 0;
    /// No operation (padding between options).
    pub const NOP: u8 = 1;
    /// Record route.
    pub const RECORD_ROUTE: u8 = 7;
    /// Internet timestamp.
    pub const TIMESTAMP: u8 = 68;
    /// Loose source and record route.
    pub const LSRR: u8 = 131;
    /// Strict source and record route.
    pub const SSRR: u8 = 137;
    /// Router alert (RFC 2113).
    pub const ROUTER_ALERT: u8 = 148;
    /// The "copied" flag of a kind byte: the option is repeated in every fragment.
    pub const COPIED: u8 = 0x80;
}

/// Timestamp option flags (low nibble of the option's fourth byte, RFC 791).
pub mod timestamp_flag {
    /// Time stamps only.
    pub const TS_ONLY: u8 = 0;
    /// Each stamp is preceded by the address of the host that made it.
    pub const TS_AND_ADDR: u8 = 1;
    /// The addresses are prespecified; a host stamps only its own.
    pub const PRESPEC: u8 = 3;
}

/// Largest option area: a 60-byte header minus the 20 fixed bytes.
pub const MAX_OPTIONS_LEN: usize = 40;

/// The option area of a header: raw bytes whose option lengths have been checked, so iterating
/// them cannot fail. Fixed-size, so a [`Ipv4Repr`] is `Copy` and needs no allocation.
#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(C, align(8))]
pub struct Ipv4Options {
    bytes: [u8; MAX_OPTIONS_LEN],
    len: u8,
}

impl Default for Ipv4Options {
    fn default() -> Self {
        Ipv4Options {
            bytes: [0; MAX_OPTIONS_LEN],
            len: 0,
        }
    }
}

impl core::fmt::Debug for Ipv4Options {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// One IPv4 option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ipv4Option<'a> {
    /// No operation.
    Nop,
    /// Record route: the pointer (1-based offset of the next free slot, RFC 791) and the route
    /// data (addresses recorded so far plus free slots).
    RecordRoute {
        /// Offset of the next free slot, counted from the option's first byte plus one.
        pointer: u8,
        /// The slots, 4 bytes each.
        route: &'a [u8],
    },
    /// Router alert with its value (0 = examine packet).
    RouterAlert(u16),
    /// Any other option (timestamp, security, source routes...), skipped by length.
    Other {
        /// The option kind byte.
        kind: u8,
        /// The bytes after kind and length.
        data: &'a [u8],
    },
}

impl Ipv4Options {
    /// Checks the option lengths in `raw` (at most 40 bytes, a multiple of 4 when used in a
    /// header) and keeps the bytes.
    #[inline]
    pub fn new(raw: &[u8]) -> Result<Self, WireError> {
        if raw.is_empty() {
            // Almost every header: skip the variable-length copy, whose narrow stores would
            // stall the wide loads that later move the value (store-forwarding).
            return Ok(Ipv4Options::default());
        }
        if raw.len() > MAX_OPTIONS_LEN {
            return Err(WireError::Unrepresentable {
                what: "ipv4 options longer than 40 bytes",
            });
        }
        for opt in walk_options(raw) {
            let opt = opt.map_err(|m| WireError::BadOption {
                what: "ipv4",
                kind: m.kind,
            })?;
            let ok = match opt.kind {
                option_kind::RECORD_ROUTE => opt.bytes.get(2).is_some_and(|&p| p >= 4),
                // Linux `ip_options_compile`: four bytes or more.
                option_kind::ROUTER_ALERT => opt.bytes.len() >= 4,
                _ => true,
            };
            if !ok {
                return Err(WireError::BadOption {
                    what: "ipv4",
                    kind: opt.kind,
                });
            }
        }
        let mut o = Ipv4Options::default();
        o.bytes[..raw.len()].copy_from_slice(raw);
        o.len = raw.len() as u8;
        Ok(o)
    }

    /// Keeps `raw` (at most 40 bytes) without looking inside: what a header that arrived
    /// carries before `ip_options_compile` has judged it, or what an ICMP error quotes. The
    /// iterator stops at the first option whose length does not fit.
    pub fn raw(raw: &[u8]) -> Result<Self, WireError> {
        if raw.len() > MAX_OPTIONS_LEN {
            return Err(WireError::Unrepresentable {
                what: "ipv4 options longer than 40 bytes",
            });
        }
        let mut o = Ipv4Options::default();
        o.bytes[..raw.len()].copy_from_slice(raw);
        o.len = raw.len() as u8;
        Ok(o)
    }

    /// The raw option bytes, padding included.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// True when there are no option bytes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The options in order, stopping at end-of-list.
    pub fn iter(&self) -> Ipv4OptionIter<'_> {
        Ipv4OptionIter {
            walk: walk_options(self.as_bytes()),
        }
    }
}

/// Iterator over the options of an [`Ipv4Options`].
#[derive(Debug, Clone)]
pub struct Ipv4OptionIter<'a> {
    walk: OptionWalk<'a>,
}

impl<'a> Iterator for Ipv4OptionIter<'a> {
    type Item = Ipv4Option<'a>;

    fn next(&mut self) -> Option<Ipv4Option<'a>> {
        // Ends at the first option whose length does not fit, whether or not
        // `Ipv4Options::new` checked the lengths.
        let opt = self.walk.next()?.ok()?;
        let body = opt.bytes.get(2..).unwrap_or_default();
        Some(match opt.kind {
            option_kind::EOL => return None,
            option_kind::NOP => Ipv4Option::Nop,
            option_kind::RECORD_ROUTE => {
                let (&pointer, route) = body.split_first()?;
                Ipv4Option::RecordRoute { pointer, route }
            }
            option_kind::ROUTER_ALERT => {
                Ipv4Option::RouterAlert(u16::from_be_bytes([*body.first()?, *body.get(1)?]))
            }
            kind => Ipv4Option::Other { kind, data: body },
        })
    }
}

/// One option of an option area, as [`walk_options`] finds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawOption<'a> {
    /// Offset of the option's kind byte from the first byte of the option area.
    pub offset: usize,
    /// The kind byte (see [`option_kind`]).
    pub kind: u8,
    /// The whole option, kind byte first (`[kind, length, data...]`): one byte for a NOP;
    /// for an end-of-list, it and the padding after it.
    pub bytes: &'a [u8],
}

/// An option whose length byte is missing, below 2, or runs past the option area: where
/// [`walk_options`] stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MalformedOption {
    /// Offset of the option's kind byte from the first byte of the option area (where Linux
    /// `ip_options_compile` points its parameter problem for a bad length).
    pub offset: usize,
    /// The kind byte.
    pub kind: u8,
}

/// The one walk over an IPv4 option area (RFC 791 §3.1) that everything reading options
/// shares: an end-of-list ends the list (the padding after it is not looked at), a NOP is one
/// byte, and every other option is `[kind, length, data...]` with a length of at least 2
/// that fits in what is left of the area. Yields the options in order, end-of-list included,
/// or a [`MalformedOption`] for the first option whose length does not fit, and then ends.
/// What each kind's data must hold is left to the caller ([`Ipv4Options::new`],
/// [`compile_options`], ...).
pub fn walk_options(area: &[u8]) -> OptionWalk<'_> {
    OptionWalk {
        area,
        cursor: OptionCursor::default(),
    }
}

/// The iterator [`walk_options`] returns.
#[derive(Debug, Clone)]
pub struct OptionWalk<'a> {
    area: &'a [u8],
    cursor: OptionCursor,
}

impl<'a> Iterator for OptionWalk<'a> {
    type Item = Result<RawOption<'a>, MalformedOption>;

    fn next(&mut self) -> Option<Self::Item> {
        let step = self.cursor.step(self.area)?;
        Some(step.map(|(kind, range)| RawOption {
            offset: range.start,
            kind,
            bytes: &self.area[range],
        }))
    }
}

impl core::iter::FusedIterator for OptionWalk<'_> {}

/// The position of [`walk_options`], kept apart from the bytes so that [`compile_options`]
/// can rewrite an option between two steps of the same walk.
#[derive(Debug, Clone, Copy, Default)]
struct OptionCursor {
    at: usize,
    done: bool,
}

impl OptionCursor {
    /// The next option of `area`: its kind and where it lies in `area`.
    fn step(&mut self, area: &[u8]) -> Option<Result<(u8, Range<usize>), MalformedOption>> {
        if self.done {
            return None;
        }
        let offset = self.at;
        let (&kind, rest) = area.get(offset..)?.split_first()?;
        let len = match kind {
            option_kind::EOL => {
                self.done = true;
                1 + rest.len()
            }
            option_kind::NOP => 1,
            _ => match rest.first().map(|&l| usize::from(l)) {
                Some(len) if len >= 2 && len <= 1 + rest.len() => len,
                _ => {
                    self.done = true;
                    return Some(Err(MalformedOption { offset, kind }));
                }
            },
        };
        self.at += len;
        Some(Ok((kind, offset..offset + len)))
    }
}

/// Writes the header checksum of the IPv4 header `h` (all of it, options included) after a
/// field changed: zeroes the field, sums, stores the complement.
pub fn fill_header_checksum(h: &mut [u8]) {
    if let Some(c) = h.get_mut(10..12) {
        c.copy_from_slice(&[0, 0]);
    } else {
        return;
    }
    let c = checksum::checksum(h);
    h[10..12].copy_from_slice(&c.to_be_bytes());
}

/// The options an echo reply carries back (Linux `ip_options_echo` for the reply, then
/// `ip_options_build` on its way out), from the request's options as this host's receive
/// processing left them ([`compile_options`]): its record route, then its timestamp (Linux's
/// order, whatever the request's), with this host recorded once more where a slot is free —
/// `src`, the reply's source, in the record route; `time` (after `src` for an
/// address-and-time option) in the timestamp; in a prespecified timestamp, `time` against the
/// next address when this host stamped the one before it on receive and `is_local` says the
/// next one is ours too. No other option is echoed (source routes never get this far: they
/// are dropped). `None` when a free slot is cut short by the option's end, where Linux sends
/// no reply; options that did not parse give `None` too.
pub fn echo_options(
    received: &Ipv4Options,
    src: Ipv4Addr,
    time: u32,
    is_local: impl Fn(Ipv4Addr) -> bool,
) -> Option<Ipv4Options> {
    let (mut rr, mut ts) = (None, None);
    for opt in walk_options(received.as_bytes()) {
        let opt = opt.ok()?;
        match (opt.kind, opt.bytes.len()) {
            (option_kind::RECORD_ROUTE, 3..) => rr = rr.or(Some(opt.bytes)),
            (option_kind::TIMESTAMP, 4..) => ts = ts.or(Some(opt.bytes)),
            _ => {}
        }
    }
    let addr_at = |d: &[u8], at: usize| {
        d.get(at..at + 4)
            .map(|b| Ipv4Addr::new(b[0], b[1], b[2], b[3]))
    };
    let mut out = [0u8; MAX_OPTIONS_LEN];
    let mut n = 0;
    for opt in [rr, ts].into_iter().flatten() {
        let len = opt.len();
        let d = out.get_mut(n..n + len)?;
        d.copy_from_slice(opt);
        n += len;
        let ptr = usize::from(d[2]);
        if ptr > len || ptr < 4 {
            // Full (or never had a slot): echoed as it is.
            continue;
        }
        // (offset of the first byte written, the values): pointer and offsets 1-based.
        let (at, stamp): (usize, &[[u8; 4]]) = match (d[0], d.get(3).map(|f| f & 0x0f)) {
            (option_kind::RECORD_ROUTE, _) => (ptr, &[src.octets()]),
            (_, Some(timestamp_flag::TS_ONLY)) => (ptr, &[time.to_be_bytes()]),
            (_, Some(timestamp_flag::TS_AND_ADDR)) => (ptr, &[src.octets(), time.to_be_bytes()]),
            // Prespecified: stamped on receive (our address just before the pointer), and the
            // next prespecified address ours too: its time slot, the pointer past the pair.
            (_, Some(timestamp_flag::PRESPEC))
                if ptr >= 13
                    && addr_at(d, ptr - 9).is_some_and(&is_local)
                    && ptr + 7 <= len
                    && addr_at(d, ptr - 1).is_some_and(&is_local) =>
            {
                (ptr + 4, &[time.to_be_bytes()])
            }
            _ => continue,
        };
        let need = 4 * stamp.len();
        let slots = d.get_mut(at - 1..at - 1 + need)?;
        for (slot, bytes) in slots.chunks_exact_mut(4).zip(stamp) {
            slot.copy_from_slice(bytes);
        }
        d[2] = (at + need) as u8;
    }
    // Padded with end-of-list bytes to a whole number of 32-bit words.
    Ipv4Options::raw(out.get(..n.div_ceil(4) * 4)?).ok()
}

/// The options a fragment after the first carries (Linux `ip_options_fragment`): the same
/// area, just as long, with every option that lacks the "copied" flag
/// ([`option_kind::COPIED`]) overwritten by NOPs where it was, so every fragment has the
/// first one's header length and the copied options stay at their offsets. As Linux's, the
/// rewrite stops at end-of-list or at the first option whose length does not fit, leaving the
/// rest as it was.
pub fn fragment_options(raw: &[u8]) -> Ipv4Options {
    let n = raw.len().min(MAX_OPTIONS_LEN);
    let mut out = [0u8; MAX_OPTIONS_LEN];
    out[..n].copy_from_slice(&raw[..n]);
    for opt in walk_options(&raw[..n]).map_while(Result::ok) {
        if !matches!(opt.kind, option_kind::EOL | option_kind::NOP)
            && opt.kind & option_kind::COPIED == 0
        {
            out[opt.offset..opt.offset + opt.bytes.len()].fill(option_kind::NOP);
        }
    }
    Ipv4Options::raw(&out[..n]).unwrap_or_default()
}

/// What [`compile_options`] found: where the options the stack acts on start, as offsets from
/// the first byte of the IPv4 header (Linux's `struct ip_options`), and which slots the
/// receiving host filled for forwarding to overwrite with its outgoing address.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OptionsInfo {
    /// A loose or strict source route.
    pub srr: Option<u8>,
    /// The source route is strict (SSRR).
    pub strict_route: bool,
    /// A record route.
    pub rr: Option<u8>,
    /// The record route had a free slot, filled on receive (`rr_needaddr`).
    pub rr_needaddr: bool,
    /// A timestamp.
    pub ts: Option<u8>,
    /// An address-and-time stamp was made on receive (`ts_needaddr`).
    pub ts_needaddr: bool,
    /// A router alert asking routers to examine the packet (value 0).
    pub router_alert: Option<u8>,
}

/// An option area `ip_options_compile` refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadOption {
    /// Offset of the offending byte from the first byte of the IPv4 header: the pointer of
    /// the ICMP parameter problem that answers it.
    pub pointer: u8,
}

/// What a receiving host writes into record-route and timestamp options (`ip_options_compile`
/// with a route attached).
pub struct OptionStamp<F: Fn(Ipv4Addr) -> bool> {
    /// The address recorded (Linux `fib_compute_spec_dst`).
    pub addr: Ipv4Addr,
    /// The timestamp written (in network order).
    pub time: u32,
    /// Whether an address is one of ours, for prespecified timestamps.
    pub is_local: F,
}

/// Linux `__ip_options_compile` over the option area `opts` of a received header (at most
/// 40 bytes): checks every option Linux checks, in its order, and returns where the
/// offending byte is when one is wrong. With `stamp`, also does what Linux does on receive:
/// fills the next record-route slot and timestamp, advances their pointers, counts a full
/// timestamp's overflow, and clears the bytes after end-of-list. Without it, `opts` is only
/// read. Kinds with no meaning here (security, CIPSO, anything unknown) are skipped by length.
pub fn compile_options<F: Fn(Ipv4Addr) -> bool>(
    opts: &mut [u8],
    stamp: Option<&OptionStamp<F>>,
) -> Result<OptionsInfo, BadOption> {
    let at = |i: usize| BadOption {
        pointer: (Ipv4Repr::MIN_LEN + i).min(usize::from(u8::MAX)) as u8,
    };
    let mut info = OptionsInfo::default();
    let mut walk = OptionCursor::default();
    while let Some(step) = walk.step(opts) {
        let (kind, range) = step.map_err(|m| at(m.offset))?;
        let (i, len) = (range.start, range.len());
        let o = &mut opts[range];
        match kind {
            // Linux rewrites the padding after end-of-list as end-of-list bytes.
            option_kind::EOL if stamp.is_some() => o.fill(option_kind::EOL),
            option_kind::LSRR | option_kind::SSRR => {
                if len < 3 {
                    return Err(at(i + 1));
                }
                if o[2] < 4 {
                    return Err(at(i + 2));
                }
                // Only one source route (RFC 1812 §5.2.4.1).
                if info.srr.is_some() {
                    return Err(at(i));
                }
                info.strict_route = kind == option_kind::SSRR;
                info.srr = Some(at(i).pointer);
            }
            option_kind::RECORD_ROUTE => {
                if info.rr.is_some() {
                    return Err(at(i));
                }
                if len < 3 {
                    return Err(at(i + 1));
                }
                let p = usize::from(o[2]);
                if p < 4 {
                    return Err(at(i + 2));
                }
                if p <= len {
                    if p + 3 > len {
                        return Err(at(i + 2));
                    }
                    if let Some(s) = stamp {
                        o[p - 1..p + 3].copy_from_slice(&s.addr.octets());
                        o[2] += 4;
                    }
                    info.rr_needaddr = true;
                }
                info.rr = Some(at(i).pointer);
            }
            option_kind::TIMESTAMP => {
                if info.ts.is_some() {
                    return Err(at(i));
                }
                if len < 4 {
                    return Err(at(i + 1));
                }
                let p = usize::from(o[2]);
                if p < 5 {
                    return Err(at(i + 2));
                }
                let flag = o[3] & 0x0f;
                if p <= len {
                    if p + 3 > len {
                        return Err(at(i + 2));
                    }
                    match flag {
                        timestamp_flag::TS_ONLY => {
                            if let Some(s) = stamp {
                                o[p - 1..p + 3].copy_from_slice(&s.time.to_be_bytes());
                                o[2] += 4;
                            }
                        }
                        timestamp_flag::TS_AND_ADDR => {
                            if p + 7 > len {
                                return Err(at(i + 2));
                            }
                            if let Some(s) = stamp {
                                o[p - 1..p + 3].copy_from_slice(&s.addr.octets());
                                o[p + 3..p + 7].copy_from_slice(&s.time.to_be_bytes());
                                o[2] += 8;
                            }
                            info.ts_needaddr = true;
                        }
                        timestamp_flag::PRESPEC => {
                            if p + 7 > len {
                                return Err(at(i + 2));
                            }
                            if let Some(s) = stamp {
                                let a = Ipv4Addr::new(o[p - 1], o[p], o[p + 1], o[p + 2]);
                                if (s.is_local)(a) {
                                    o[p + 3..p + 7].copy_from_slice(&s.time.to_be_bytes());
                                    o[2] += 8;
                                }
                            }
                        }
                        // Other flags are let through untouched on receive.
                        _ => {}
                    }
                } else if flag != timestamp_flag::PRESPEC {
                    let overflow = o[3] >> 4;
                    if overflow == 15 {
                        return Err(at(i + 3));
                    }
                    if stamp.is_some() {
                        o[3] = flag | ((overflow + 1) << 4);
                    }
                }
                info.ts = Some(at(i).pointer);
            }
            option_kind::ROUTER_ALERT => {
                if len < 4 {
                    return Err(at(i + 1));
                }
                if o[2] == 0 && o[3] == 0 {
                    info.router_alert = Some(at(i).pointer);
                }
            }
            _ => {}
        }
    }
    Ok(info)
}

impl<F: Fn(Ipv4Addr) -> bool> core::fmt::Debug for OptionStamp<F> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("OptionStamp")
            .field("addr", &self.addr)
            .field("time", &self.time)
            .finish_non_exhaustive()
    }
}

/// [`compile_options`] without a stamp: only checks `opts`.
pub fn check_options(opts: &[u8]) -> Result<OptionsInfo, BadOption> {
    let mut copy = [0u8; MAX_OPTIONS_LEN];
    let Some(c) = copy.get_mut(..opts.len()) else {
        return Err(BadOption {
            pointer: Ipv4Repr::MIN_LEN as u8,
        });
    };
    c.copy_from_slice(opts);
    compile_options::<fn(Ipv4Addr) -> bool>(c, None)
}

/// An IPv4 header as a plain value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Repr {
    /// Source address.
    pub src: Ipv4Addr,
    /// Destination address.
    pub dst: Ipv4Addr,
    /// Payload protocol (see [`protocol`]).
    pub protocol: u8,
    /// Time to live.
    pub ttl: u8,
    /// Differentiated services code point, 0..=63 (upper six bits of the old TOS byte).
    pub dscp: u8,
    /// Explicit congestion notification, 0..=3 (lower two bits of the TOS byte).
    pub ecn: u8,
    /// Identification, shared by the fragments of one datagram.
    pub ident: u16,
    /// Don't fragment.
    pub dont_frag: bool,
    /// More fragments follow.
    pub more_frags: bool,
    /// Offset of this fragment's payload in the datagram, in bytes (a multiple of 8).
    pub frag_offset: u16,
    /// Payload length: total length minus header length.
    pub payload_len: usize,
    /// Options (empty for almost every packet).
    pub options: Ipv4Options,
}

/// The fixed fields in wire order: version/IHL, TOS, total length, ident, flags/offset, TTL,
/// protocol, checksum, src, dst, options (raw).
type Fields<'a> = (u8, u8, u16, u16, u16, u8, u8, &'a [u8], &'a [u8], &'a [u8]);

impl Ipv4Repr {
    /// Length of a header without options.
    pub const MIN_LEN: usize = 20;

    /// The TOS byte: DSCP and ECN together.
    pub fn tos(&self) -> u8 {
        (self.dscp << 2) | (self.ecn & 3)
    }

    /// Header length in bytes, options included.
    pub fn header_len(&self) -> usize {
        Self::MIN_LEN + self.options.as_bytes().len()
    }

    /// True for any fragment of a fragmented datagram (more follow, or not the first).
    pub fn is_fragment(&self) -> bool {
        self.more_frags || self.frag_offset != 0
    }

    #[inline]
    fn fields(i: &[u8]) -> IResult<&[u8], Fields<'_>> {
        let (i, vihl) = be_u8(i)?;
        let (i, tos) = be_u8(i)?;
        let (i, total) = be_u16(i)?;
        let (i, ident) = be_u16(i)?;
        let (i, frag) = be_u16(i)?;
        let (i, ttl) = be_u8(i)?;
        let (i, proto) = be_u8(i)?;
        let (i, _check) = be_u16(i)?;
        let (i, src) = take(4usize)(i)?;
        let (i, dst) = take(4usize)(i)?;
        let opt_len = usize::from(vihl & 0x0f)
            .saturating_mul(4)
            .saturating_sub(20);
        let (i, opts) = take(opt_len)(i)?;
        Ok((
            i,
            (vihl, tos, total, ident, frag, ttl, proto, src, dst, opts),
        ))
    }

    /// Parses and validates a header like `ip_rcv`: version 4, IHL at least 5, total length
    /// within the packet, header checksum (unless `mode` says the device checked it), option
    /// lengths. Returns the header and the payload, cut to the total length (which drops
    /// Ethernet padding).
    #[inline]
    pub fn parse(data: &[u8], mode: ChecksumMode) -> Result<(Ipv4Repr, &[u8]), WireError> {
        Self::parse_inner(data, mode, false)
    }

    /// Parses the header quoted in an ICMP error: the original datagram was cut after its first
    /// bytes, so the total length may exceed what is here and the checksum is not checked.
    /// The options are kept as they are ([`Ipv4Options::raw`]): a header quoted in a parameter
    /// problem is the one whose options were wrong, and `ip_rcv` parses with this too, leaving
    /// the options to [`compile_options`] after routing, as Linux does. Returns the header and
    /// the quoted payload bytes.
    pub fn parse_quoted(data: &[u8]) -> Result<(Ipv4Repr, &[u8]), WireError> {
        Self::parse_inner(data, ChecksumMode::Offloaded, true)
    }

    #[inline]
    fn parse_inner(
        data: &[u8],
        mode: ChecksumMode,
        quoted: bool,
    ) -> Result<(Ipv4Repr, &[u8]), WireError> {
        let what = "ipv4 header";
        let Some(&vihl) = data.first() else {
            return Err(WireError::Truncated {
                what,
                needed: Self::MIN_LEN,
                got: 0,
            });
        };
        if vihl >> 4 != 4 {
            return Err(WireError::BadVersion {
                what,
                got: vihl >> 4,
            });
        }
        let hlen = usize::from(vihl & 0x0f) * 4;
        if hlen < Self::MIN_LEN {
            return Err(WireError::BadHeaderLen { what, len: hlen });
        }
        let Ok((_, (_, tos, total, ident, frag, ttl, proto, src, dst, opts))) = Self::fields(data)
        else {
            return Err(WireError::Truncated {
                what,
                needed: hlen.max(Self::MIN_LEN),
                got: data.len(),
            });
        };
        let total = usize::from(total);
        if total < hlen {
            return Err(WireError::BadLength {
                what,
                claimed: total,
                got: data.len(),
            });
        }
        if total > data.len() && !quoted {
            return Err(WireError::BadLength {
                what,
                claimed: total,
                got: data.len(),
            });
        }
        if mode == ChecksumMode::Software && !checksum::verify(&data[..hlen]) {
            return Err(WireError::BadChecksum { what });
        }
        let options = if quoted {
            Ipv4Options::raw(opts)?
        } else {
            Ipv4Options::new(opts)?
        };
        let repr = Ipv4Repr {
            src: Ipv4Addr::new(src[0], src[1], src[2], src[3]),
            dst: Ipv4Addr::new(dst[0], dst[1], dst[2], dst[3]),
            protocol: proto,
            ttl,
            dscp: tos >> 2,
            ecn: tos & 3,
            ident,
            dont_frag: frag & 0x4000 != 0,
            more_frags: frag & 0x2000 != 0,
            frag_offset: (frag & 0x1fff) * 8,
            payload_len: total - hlen,
            options,
        };
        Ok((repr, &data[hlen..total.min(data.len())]))
    }

    /// Writes the header into the first [`Self::header_len`] bytes of `buf` and returns that
    /// length. The checksum is computed unless `mode` leaves it to the device.
    pub fn emit(&self, buf: &mut [u8], mode: ChecksumMode) -> Result<usize, WireError> {
        let opts = self.options.as_bytes();
        if opts.len() % 4 != 0 {
            return Err(WireError::Unrepresentable {
                what: "ipv4 options not padded to 4 bytes",
            });
        }
        let hlen = self.header_len();
        let total =
            u16::try_from(hlen + self.payload_len).map_err(|_| WireError::Unrepresentable {
                what: "ipv4 total length over 65535",
            })?;
        if self.frag_offset % 8 != 0 {
            return Err(WireError::Unrepresentable {
                what: "ipv4 fragment offset not a multiple of 8",
            });
        }
        if self.dscp > 63 || self.ecn > 3 {
            return Err(WireError::Unrepresentable { what: "ipv4 tos" });
        }
        let Some(h) = buf.get_mut(..hlen) else {
            return Err(WireError::BufferTooSmall {
                needed: hlen,
                have: buf.len(),
            });
        };
        let frag = (self.frag_offset / 8)
            | if self.dont_frag { 0x4000 } else { 0 }
            | if self.more_frags { 0x2000 } else { 0 };
        h[0] = 0x40 | (hlen / 4) as u8;
        h[1] = self.tos();
        h[2..4].copy_from_slice(&total.to_be_bytes());
        h[4..6].copy_from_slice(&self.ident.to_be_bytes());
        h[6..8].copy_from_slice(&frag.to_be_bytes());
        h[8] = self.ttl;
        h[9] = self.protocol;
        h[10..12].copy_from_slice(&[0, 0]);
        h[12..16].copy_from_slice(&self.src.octets());
        h[16..20].copy_from_slice(&self.dst.octets());
        h[20..].copy_from_slice(opts);
        if mode == ChecksumMode::Software {
            let c = checksum::checksum(h);
            h[10..12].copy_from_slice(&c.to_be_bytes());
        }
        Ok(hlen)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A UDP datagram's IPv4 header from Linux (tests/fixtures/udp_datagram.hex, bytes 14..34)
    /// followed by its 20 bytes of UDP header and payload.
    const UDP_PACKET: [u8; 40] = [
        0x45, 0x00, 0x00, 0x28, 0xb6, 0xbb, 0x40, 0x00, 0x40, 0x11, 0x6f, 0x41, 0x0a, 0x63, 0x00,
        0x01, 0x0a, 0x63, 0x00, 0x02, 0x9c, 0x40, 0x13, 0x88, 0x00, 0x14, 0xb6, 0x56, 0x68, 0x65,
        0x6c, 0x6c, 0x6f, 0x20, 0x6f, 0x78, 0x6e, 0x69, 0x63, 0x0a,
    ];

    #[test]
    fn parse_udp_packet_header() {
        let (h, payload) = Ipv4Repr::parse(&UDP_PACKET, ChecksumMode::Software).unwrap();
        assert_eq!(h.src, Ipv4Addr::new(10, 99, 0, 1));
        assert_eq!(h.dst, Ipv4Addr::new(10, 99, 0, 2));
        assert_eq!(h.protocol, protocol::UDP);
        assert_eq!((h.ttl, h.dscp, h.ecn, h.ident), (64, 0, 0, 0xb6bb));
        assert!(h.dont_frag && !h.more_frags && !h.is_fragment());
        assert_eq!(h.payload_len, 20);
        assert_eq!(payload.len(), 20);
        assert!(h.options.is_empty());
    }

    #[test]
    fn parse_strips_ethernet_padding() {
        let mut padded = UDP_PACKET.to_vec();
        padded.extend_from_slice(&[0; 6]);
        let (_, payload) = Ipv4Repr::parse(&padded, ChecksumMode::Software).unwrap();
        assert_eq!(payload, &UDP_PACKET[20..]);
    }

    #[test]
    fn parse_every_truncation_is_an_error() {
        for n in 0..UDP_PACKET.len() {
            assert!(
                Ipv4Repr::parse(&UDP_PACKET[..n], ChecksumMode::Software).is_err(),
                "len {n}"
            );
        }
    }

    #[test]
    fn parse_malformed_headers() {
        let sw = ChecksumMode::Software;
        let mut p = UDP_PACKET;
        p[0] = 0x65;
        assert_eq!(
            Ipv4Repr::parse(&p, sw),
            Err(WireError::BadVersion {
                what: "ipv4 header",
                got: 6
            })
        );
        let mut p = UDP_PACKET;
        p[0] = 0x44;
        assert_eq!(
            Ipv4Repr::parse(&p, sw),
            Err(WireError::BadHeaderLen {
                what: "ipv4 header",
                len: 16
            })
        );
        let mut p = UDP_PACKET;
        p[0] = 0x4f; // 60-byte header in a 40-byte packet
        assert!(matches!(
            Ipv4Repr::parse(&p, sw),
            Err(WireError::Truncated { needed: 60, .. })
        ));
        let mut p = UDP_PACKET;
        p[3] = 19; // total length below the header length
        assert!(matches!(
            Ipv4Repr::parse(&p, sw),
            Err(WireError::BadLength { claimed: 19, .. })
        ));
        let mut p = UDP_PACKET;
        p[3] = 41; // one byte more than arrived
        assert!(matches!(
            Ipv4Repr::parse(&p, ChecksumMode::Offloaded),
            Err(WireError::BadLength {
                claimed: 41,
                got: 40,
                ..
            })
        ));
        let mut p = UDP_PACKET;
        p[8] = 63; // TTL changed without fixing the checksum
        assert_eq!(
            Ipv4Repr::parse(&p, sw),
            Err(WireError::BadChecksum {
                what: "ipv4 header"
            })
        );
        // ... which a device that verified checksums would not have passed up, so it is
        // accepted when the device says it checked.
        assert!(Ipv4Repr::parse(&p, ChecksumMode::Offloaded).is_ok());
    }

    fn with_options(opts: &[u8]) -> Vec<u8> {
        let mut p = UDP_PACKET[..20].to_vec();
        p[0] = 0x40 | ((20 + opts.len()) / 4) as u8;
        p.extend_from_slice(opts);
        let total = (p.len() as u16).to_be_bytes();
        p[2..4].copy_from_slice(&total);
        p[10..12].copy_from_slice(&[0, 0]);
        let c = checksum::checksum(&p);
        p[10..12].copy_from_slice(&c.to_be_bytes());
        p
    }

    #[test]
    fn parse_options() {
        // NOP, router alert, record route with one free slot, EOL padding.
        let opts = [1, 148, 4, 0, 0, 7, 7, 4, 0, 0, 0, 0, 0, 0, 0, 0];
        let p = with_options(&opts);
        let (h, payload) = Ipv4Repr::parse(&p, ChecksumMode::Software).unwrap();
        assert!(payload.is_empty());
        assert_eq!(h.header_len(), 36);
        let got: Vec<_> = h.options.iter().collect();
        assert_eq!(
            got,
            vec![
                Ipv4Option::Nop,
                Ipv4Option::RouterAlert(0),
                Ipv4Option::RecordRoute {
                    pointer: 4,
                    route: &[0, 0, 0, 0]
                }
            ]
        );
        let mut buf = [0u8; 36];
        assert_eq!(h.emit(&mut buf, ChecksumMode::Software), Ok(36));
        assert_eq!(&buf[..], &p[..]);
    }

    #[test]
    fn parse_malformed_options() {
        for (opts, kind) in [
            (&[7u8, 1, 0, 0][..], 7),   // length below 2
            (&[1, 1, 1, 68][..], 68),   // length byte missing
            (&[68, 8, 5, 0][..], 68),   // runs past the option area
            (&[148, 3, 0, 0][..], 148), // router alert must be 4 long
            (&[7, 3, 3, 0][..], 7),     // record-route pointer below 4
            (&[1, 1, 130, 0][..], 130), // length 0
        ] {
            let p = with_options(opts);
            assert_eq!(
                Ipv4Repr::parse(&p, ChecksumMode::Software),
                Err(WireError::BadOption { what: "ipv4", kind }),
                "{opts:?}"
            );
        }
        // Bytes after EOL are padding and not checked.
        let p = with_options(&[0, 99, 99, 99]);
        assert!(Ipv4Repr::parse(&p, ChecksumMode::Software).is_ok());
    }

    /// The one walk: offsets and whole options in order, end-of-list with its padding, and
    /// the first length that does not fit named by the offset of its kind byte.
    #[test]
    fn walk_options_yields_each_option_and_stops_at_the_first_bad_length() {
        let walk = |area: &[u8]| {
            walk_options(area)
                .map(|o| o.map(|o| (o.offset, o.kind, o.bytes.to_vec())))
                .collect::<Vec<_>>()
        };
        assert_eq!(walk(&[]), vec![]);
        assert_eq!(
            walk(&[1, 148, 4, 0, 0, 0, 9, 9]),
            vec![
                Ok((0, 1, vec![1])),
                Ok((1, 148, vec![148, 4, 0, 0])),
                Ok((5, 0, vec![0, 9, 9])),
            ]
        );
        for (area, offset, kind) in [
            (&[1, 1, 1, 68][..], 3, 68), // length byte missing
            (&[7, 1, 0, 0][..], 0, 7),   // length below 2
            (&[1, 68, 8, 5][..], 1, 68), // runs past the area
        ] {
            let got = walk(area);
            assert_eq!(
                got.last(),
                Some(&Err(MalformedOption { offset, kind })),
                "{area:?}"
            );
            assert_eq!(got.len(), offset + 1, "{area:?}");
        }
    }

    /// Whatever the receive path ([`check_options`], Linux `ip_options_compile`) accepts,
    /// [`Ipv4Repr::parse`] accepts too: every rule the parser has (lengths, a record route's
    /// pointer of at least 4, a router alert of at least 4 bytes) is one the receive path
    /// applies the same way. Timestamp pointers are judged on receive only, as in Linux,
    /// where `ip_rcv_core` does not look at options. Every area of up to 4 bytes over the
    /// bytes that matter, and timestamps at each pointer and flag.
    #[test]
    fn parse_accepts_every_option_area_the_receive_path_accepts() {
        const BYTES: [u8; 12] = [0, 1, 2, 3, 4, 5, 7, 8, 68, 131, 148, 0xf1];
        let accepted_by_both = |area: &[u8]| {
            if check_options(area).is_ok() {
                assert!(Ipv4Options::new(area).is_ok(), "{area:?}");
            }
        };
        for n in 0..=4u32 {
            for k in 0..BYTES.len().pow(n) {
                let area: Vec<u8> = (0..n)
                    .map(|d| BYTES[k / BYTES.len().pow(d) % BYTES.len()])
                    .collect();
                accepted_by_both(&area);
            }
        }
        for ptr in 0..=16 {
            for flags in [0x00, 0x01, 0x03, 0x02, 0xf0, 0xf3] {
                accepted_by_both(&[68, 12, ptr, flags, 0, 0, 0, 0, 0, 0, 0, 0]);
            }
        }
    }

    /// `ip_rcv` and ICMP quoting parse a header whatever its options hold (`ip_rcv_core`
    /// does not look at them); [`check_options`] judges them afterwards, like Linux
    /// `ip_options_compile`, and names the offending byte as a header offset.
    #[test]
    fn parse_quoted_keeps_malformed_options_for_check_options() {
        for (opts, pointer) in [
            (&[7u8, 1, 0, 0][..], 20),               // length below 2
            (&[1, 1, 1, 68][..], 23),                // length byte missing
            (&[68, 8, 5, 0][..], 20),                // runs past the option area
            (&[148, 3, 0, 0][..], 21),               // router alert shorter than 4
            (&[7, 3, 3, 0][..], 22),                 // record-route pointer below 4
            (&[7, 8, 8, 0, 0, 0, 0, 0][..], 22),     // pointer at a cut slot
            (&[68, 4, 4, 0][..], 22),                // timestamp pointer below 5
            (&[68, 4, 5, 0xf0][..], 23),             // full, overflow at 15
            (&[131, 4, 4, 0, 137, 4, 4, 0][..], 24), // a second source route
            (&[68, 4, 5, 0, 68, 4, 5, 0][..], 24),   // a second timestamp
        ] {
            let p = with_options(opts);
            let (h, _) = Ipv4Repr::parse_quoted(&p).unwrap();
            assert_eq!(h.options.as_bytes(), opts);
            assert_eq!(check_options(opts), Err(BadOption { pointer }), "{opts:?}");
        }
        let ok = [
            1, 148, 4, 0, 0, 7, 7, 4, 0, 0, 0, 0, 68, 4, 5, 0x10, 131, 3, 4, 0,
        ];
        let info = check_options(&ok).unwrap();
        assert_eq!(
            info,
            OptionsInfo {
                srr: Some(36),
                strict_route: false,
                rr: Some(25),
                rr_needaddr: true,
                ts: Some(32),
                ts_needaddr: false,
                router_alert: Some(21),
            }
        );
    }

    /// What Linux `ip_options_compile` writes on receive: the host's address in the free
    /// record-route slot, address and time in an address-and-time stamp, time only for a
    /// prespecified address of its own, one more overflow for a full timestamp, zeros after
    /// end-of-list; and nothing at all without a stamp.
    #[test]
    fn echo_options_record_the_replier_once_more_and_echo_nothing_else() {
        let me = Ipv4Addr::new(10, 0, 0, 2);
        let t = 0x8000_1234u32;
        let echo = |raw: &[u8]| {
            echo_options(&Ipv4Options::raw(raw).unwrap(), me, t, |a| a == me)
                .map(|o| o.as_bytes().to_vec())
        };
        // Record route with one address in and room for two more: the next slot is ours.
        let rr = [7, 11, 8, 10, 0, 0, 1, 0, 0, 0, 0, 0];
        assert_eq!(
            echo(&rr),
            Some(vec![7, 11, 12, 10, 0, 0, 1, 10, 0, 0, 2, 0])
        );
        // Full: echoed as it is. A slot cut short by the option's end: no reply (Linux).
        let full = [7, 7, 8, 10, 0, 0, 1, 0];
        assert_eq!(echo(&full), Some(full.to_vec()));
        assert_eq!(echo(&[7, 9, 8, 10, 0, 0, 1, 9, 9, 0, 0, 0]), None);
        // Timestamps only, and address and timestamp.
        let ts = [68, 12, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        let mut want = ts.to_vec();
        want[2] = 9;
        want[4..8].copy_from_slice(&t.to_be_bytes());
        assert_eq!(echo(&ts), Some(want));
        let tsa = [68, 12, 5, 1, 0, 0, 0, 0, 0, 0, 0, 0];
        let mut want = tsa.to_vec();
        want[2] = 13;
        want[4..8].copy_from_slice(&me.octets());
        want[8..12].copy_from_slice(&t.to_be_bytes());
        assert_eq!(echo(&tsa), Some(want));
        // Prespecified: another host's next address goes back as it came; when this host
        // stamped its own on receive and the next is ours too, that one is stamped now.
        let pre = [68, 12, 5, 3, 10, 0, 0, 9, 0, 0, 0, 0];
        assert_eq!(echo(&pre), Some(pre.to_vec()));
        let mine = [
            68, 20, 13, 3, 10, 0, 0, 2, 0, 0, 0, 7, 10, 0, 0, 2, 0, 0, 0, 0,
        ];
        let mut want = mine.to_vec();
        want[2] = 21;
        want[16..20].copy_from_slice(&t.to_be_bytes());
        assert_eq!(echo(&mine), Some(want));
        // A router alert and NOPs are not echoed; what is left is padded to 32 bits, and the
        // record route comes first, as Linux writes them.
        let mixed = [
            148, 4, 0, 0, 68, 8, 5, 0, 0, 0, 0, 0, 1, 7, 7, 4, 0, 0, 0, 0,
        ];
        let mut want = vec![7, 7, 8, 10, 0, 0, 2, 68, 8, 9, 0];
        want.extend_from_slice(&t.to_be_bytes());
        want.push(0);
        assert_eq!(echo(&mixed), Some(want));
        // A record route of three bytes (no slot) is echoed too.
        assert_eq!(echo(&[7, 3, 4, 0]), Some(vec![7, 3, 4, 0]));
        assert_eq!(echo(&[148, 4, 0, 0]), Some(vec![]));
        // Lengths that do not parse give no reply rather than a panic.
        assert_eq!(echo(&[7, 1, 0, 0]), None);
        assert_eq!(echo(&[7, 40, 4, 0]), None);
    }

    /// Like Linux `ip_options_echo`, the echo can hand back options that the requester's
    /// `ip_options_compile` refuses: a record route whose pointer this host moved onto a slot
    /// cut short by the option's end, or a full timestamp whose overflow count reached 15 on
    /// receive. (The fuzz target `ipv4_options` allows exactly these two.)
    #[test]
    fn echo_options_may_not_compile_again_where_linux_s_do_not() {
        let me = Ipv4Addr::new(10, 0, 0, 2);
        let echo = |raw: &[u8]| {
            echo_options(&Ipv4Options::raw(raw).unwrap(), me, 7, |_| false)
                .map(|o| o.as_bytes().to_vec())
        };
        // Two slots and a spare byte, the first filled on receive.
        let rr = [7, 12, 8, 10, 0, 0, 2, 0, 0, 0, 0, 0];
        assert!(check_options(&rr).is_ok());
        let back = echo(&rr).unwrap();
        assert_eq!(back, [7, 12, 12, 10, 0, 0, 2, 10, 0, 0, 2, 0]);
        assert_eq!(check_options(&back), Err(BadOption { pointer: 22 }));
        let ts = [68, 8, 9, 0xf0, 1, 2, 3, 4];
        assert_eq!(echo(&ts).unwrap(), ts);
        assert_eq!(check_options(&ts), Err(BadOption { pointer: 23 }));
    }

    #[test]
    fn later_fragments_carry_copied_options_and_nops_in_place_of_the_rest() {
        // Record route (7, not copied), NOP, router alert (148, copied), EOL padding.
        let raw = [7, 7, 4, 0, 0, 0, 0, 1, 148, 4, 0, 0];
        assert_eq!(
            fragment_options(&raw).as_bytes(),
            &[1, 1, 1, 1, 1, 1, 1, 1, 148, 4, 0, 0]
        );
        assert_eq!(fragment_options(&[7, 3, 4, 0]).as_bytes(), &[1, 1, 1, 0]);
        assert!(fragment_options(&[]).is_empty());
        // Security (130, copied) of 11 bytes stays whole, with its padding.
        let sec = [130, 11, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(fragment_options(&sec).as_bytes(), &sec);
        // Nothing after an end-of-list is looked at, nor past an option that does not fit.
        let eol = [0, 7, 3, 4];
        assert_eq!(fragment_options(&eol).as_bytes(), &eol);
        let bad = [7, 3, 4, 7, 9, 4, 0, 0];
        assert_eq!(fragment_options(&bad).as_bytes(), &[1, 1, 1, 7, 9, 4, 0, 0]);
    }

    #[test]
    fn compile_options_stamps_on_receive() {
        let me = Ipv4Addr::new(10, 0, 0, 2);
        let stamp = OptionStamp {
            addr: me,
            time: 0x8000_1234,
            is_local: |a: Ipv4Addr| a == me,
        };
        let t = 0x8000_1234u32.to_be_bytes();
        let z = [0u8; 4];
        for (sent, want) in [
            (
                [&[7, 11, 4][..], &z, &z, &[0]].concat(),
                [&[7, 11, 8][..], &me.octets(), &z, &[0]].concat(),
            ),
            (
                [&[68, 12, 5, 1][..], &z, &z].concat(),
                [&[68, 12, 13, 1][..], &me.octets(), &t].concat(),
            ),
            (
                [&[68, 12, 5, 3][..], &me.octets(), &z].concat(),
                [&[68, 12, 13, 3][..], &me.octets(), &t].concat(),
            ),
            (
                vec![68, 8, 9, 0x40, 1, 2, 3, 4],
                vec![68, 8, 9, 0x50, 1, 2, 3, 4],
            ),
            (vec![1, 0, 5, 5], vec![1, 0, 0, 0]),
        ] {
            let mut o = sent.clone();
            compile_options(&mut o, Some(&stamp)).unwrap();
            assert_eq!(o, want, "{sent:?}");
            let mut o = sent.clone();
            compile_options::<fn(Ipv4Addr) -> bool>(&mut o, None).unwrap();
            assert_eq!(o, sent);
        }
    }

    #[test]
    fn emit_round_trip() {
        let (h, _) = Ipv4Repr::parse(&UDP_PACKET, ChecksumMode::Software).unwrap();
        let mut buf = [0u8; 20];
        assert_eq!(h.emit(&mut buf, ChecksumMode::Software), Ok(20));
        assert_eq!(buf, UDP_PACKET[..20]);
        assert_eq!(h.emit(&mut buf, ChecksumMode::Offloaded), Ok(20));
        assert_eq!(&buf[10..12], &[0, 0]);
        assert!(matches!(
            h.emit(&mut [0u8; 19], ChecksumMode::Software),
            Err(WireError::BufferTooSmall { .. })
        ));
    }

    #[test]
    fn emit_fragment_fields_and_range_checks() {
        let (h, _) = Ipv4Repr::parse(&UDP_PACKET, ChecksumMode::Software).unwrap();
        let frag = Ipv4Repr {
            dont_frag: false,
            more_frags: true,
            frag_offset: 1480,
            dscp: 46,
            ecn: 1,
            ..h
        };
        let mut buf = [0u8; 20];
        frag.emit(&mut buf, ChecksumMode::Software).unwrap();
        assert_eq!(buf[1], 0xb9);
        assert_eq!(u16::from_be_bytes([buf[6], buf[7]]), 0x2000 | 185);
        let mut whole = buf.to_vec();
        whole.resize(40, 0);
        let (back, _) = Ipv4Repr::parse(&whole, ChecksumMode::Software).unwrap();
        assert_eq!(back, frag);
        for bad in [
            Ipv4Repr {
                frag_offset: 4,
                ..h
            },
            Ipv4Repr { dscp: 64, ..h },
            Ipv4Repr { ecn: 4, ..h },
            Ipv4Repr {
                payload_len: 65516,
                ..h
            },
        ] {
            assert!(matches!(
                bad.emit(&mut buf, ChecksumMode::Software),
                Err(WireError::Unrepresentable { .. })
            ));
        }
    }
}
