//! One connection's transmission control block and its state machine (RFC 9293 §3.10, Linux
//! `tcp_rcv_state_process`, `tcp_ack`, `tcp_data_queue`, `tcp_write_xmit`, `tcp_retransmit_timer`).
//!
//! The block is sans-IO twice over: it does not even know the stack. Segments come in through
//! [`Conn::on_segment`]; what it wants to send comes out of [`Conn::poll_output`] as
//! [`OutSeg`] values (a header plus a range of the send queue) that the stack turns into
//! packets; timers fire through [`Conn::on_timer`] and are announced by [`Conn::next_timer`].

use super::buffer::{RecvQueue, SendQueue};
use super::cc::{new_cc, CcAlgorithm, CongestionControl};
use super::isn::IsnGenerator;
use super::ooo::OooQueue;
use super::rtt::RttEstimator;
use super::scoreboard::Scoreboard;
use super::seq::Seq;
use super::{TcpConfig, TcpError, TcpMib, TcpState};
use crate::ip_output::SockIp;
use crate::pktbuf::{PacketBuf, MAX_FRAGS};
use crate::time::Instant;
use crate::wire::tcp::{SackBlock, TcpFlags, TcpOptions, TcpRepr, TcpTimestamps, MAX_SACK_BLOCKS};
use std::net::SocketAddrV4;
use std::time::Duration;

/// Segments [`Conn::poll_output`] emits per call at most (the stack calls again while the
/// connection reports more to send).
pub const OUTPUT_BATCH: usize = 64;

/// Duplicate ACKs (or SACKed segments) that declare a segment lost (RFC 5681 / 6675 DupThresh).
const DUPTHRESH: u32 = 3;

/// Largest payload of one super-packet handed to a TSO device or to software GSO.
pub const GSO_MAX_BYTES: u32 = 65_535 - 20 - 60;

/// Least time between two ACKs answering invalid segments.
const OOW_ACK_INTERVAL: Duration = Duration::from_millis(500);

/// The soonest a timer clamped to a user timeout's end fires (Linux's `TCP_TIMEOUT_MIN`, 2
/// jiffies).
const MIN_CLAMPED_TIMER: Duration = Duration::from_millis(2);

/// Unanswered zero-window probes an orphaned connection sends before it is aborted (Linux
/// `tcp_orphan_retries` when the sysctl is 0 and the backoff is still short).
const ORPHAN_PROBES: u32 = 8;

/// The receive MSS estimate before a segment was measured, and the size a short segment
/// must reach to count as full-sized even with PSH set (Linux `TCP_MSS_DEFAULT`,
/// `tcp_initialize_rcv_mss`).
const RCV_MSS_DEFAULT: u32 = 536;

/// Least payload a segment without PSH must carry to be taken as full-sized (Linux
/// `TCP_MIN_MSS`).
const RCV_MSS_MIN: u32 = 88;

/// A short or pushed segment arrived since the last ACK.
const ACK_PUSHED: u8 = 1;
/// Two of them did.
const ACK_PUSHED2: u8 = 2;

/// Timestamps older than this are not trusted for PAWS (RFC 7323 §5.5: 24 days).
const PAWS_IDLE: Duration = Duration::from_secs(24 * 24 * 3600);

/// Segment sizes the route and the device allow, given per output call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutLimits {
    /// Path MTU minus the IPv4 and TCP fixed headers: the most payload one wire segment can
    /// carry before options.
    pub path_mss: u32,
    /// True when super-packets may be built (the device does TSO, or software GSO runs later).
    pub gso: bool,
    /// True when the payload checksum is computed in software further down (no checksum
    /// offload): the send queue then sums the bytes per segment as the application's bytes are
    /// copied in ([`SendQueue::track_cells`]).
    pub sum_cells: bool,
}

/// A segment to send: its header and the payload range `[data_off, data_off + len)` of the
/// send queue (offset from `snd_una`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutSeg {
    /// The header, ACK, window and options filled in.
    pub repr: TcpRepr,
    /// Offset of the payload in the send queue.
    pub data_off: usize,
    /// Payload bytes.
    pub len: usize,
    /// Payload bytes per wire segment when this is a super-packet (0: send as is).
    pub gso_size: u16,
    /// A retransmission (counted in `RetransSegs`).
    pub retransmit: bool,
}

/// A received segment's payload, in up to [`MAX_FRAGS`]` + 1` pieces laid end to end: a GRO
/// super-packet's data stays in its buffer's head and fragments instead of being copied
/// together before it reaches the receive queue. When the packet buffer the bytes lie in is
/// known, the receive queue keeps its storage instead of copying the bytes.
#[derive(Debug, Clone, Copy)]
pub struct Payload<'a> {
    parts: [&'a [u8]; MAX_FRAGS + 1],
    n: usize,
    len: usize,
    /// The buffer holding these bytes and the offset of the first (counted over its head,
    /// then its fragments).
    src: Option<(&'a PacketBuf, usize)>,
}

impl<'a> Payload<'a> {
    /// A payload in one piece.
    pub fn from_slice(data: &'a [u8]) -> Self {
        let mut p = Payload {
            parts: [&[]; MAX_FRAGS + 1],
            n: 0,
            len: 0,
            src: None,
        };
        p.push(data);
        p
    }

    /// Names `pkt`, from offset `off` to its end, as the buffer these bytes lie in, so they
    /// can be kept without a copy. Ignored unless that range is as long as the payload; the
    /// caller made the pieces from that range.
    pub(crate) fn in_packet(mut self, pkt: &'a PacketBuf, off: usize) -> Self {
        if pkt.len().checked_sub(off) == Some(self.len) {
            self.src = Some((pkt, off));
        }
        self
    }

    /// The buffer these bytes lie in and the offset of the first, when known.
    pub fn source(&self) -> Option<(&'a PacketBuf, usize)> {
        self.src
    }

    /// The size of the segments these bytes arrived in: a GRO super-packet's segment size,
    /// else the length (Linux `tcp_measure_rcv_mss`: `gso_size ?: skb->len`).
    fn segment_len(&self) -> usize {
        match self.src {
            Some((p, _)) if p.meta.gso_size > 0 => usize::from(p.meta.gso_size).min(self.len),
            _ => self.len,
        }
    }

    /// A payload made of `parts` in order (empty pieces are skipped); `None` when there are
    /// more than [`MAX_FRAGS`]` + 1` non-empty pieces.
    pub fn from_parts<I: IntoIterator<Item = &'a [u8]>>(parts: I) -> Option<Self> {
        let mut p = Payload::from_slice(&[]);
        for part in parts {
            if !part.is_empty() {
                if p.n == p.parts.len() {
                    return None;
                }
                p.push(part);
            }
        }
        Some(p)
    }

    fn push(&mut self, part: &'a [u8]) {
        if !part.is_empty() {
            self.parts[self.n] = part;
            self.n += 1;
            self.len += part.len();
        }
    }

    /// Total bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when there are no bytes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The pieces, in order.
    pub fn parts(&self) -> impl Iterator<Item = &'a [u8]> + '_ {
        self.parts[..self.n].iter().copied()
    }

    /// Bytes `[from, from + len)` (clamped) as a payload of their own.
    pub fn slice(&self, from: usize, len: usize) -> Payload<'a> {
        let end = from.saturating_add(len).min(self.len);
        let mut out = Payload::from_slice(&[]);
        out.src = self.src.map(|(pkt, off)| (pkt, off + from.min(self.len)));
        let mut at = 0;
        for part in self.parts() {
            let (start, stop) = (at, at + part.len());
            at = stop;
            let (a, b) = (start.max(from), stop.min(end));
            if a < b {
                out.push(&part[a - start..b - start]);
            }
        }
        out
    }
}

/// Appends `payload` to the receive queue, keeping its buffer when it is known, else copying;
/// returns the bytes taken.
fn queue_payload(rx: &mut RecvQueue, payload: &Payload<'_>) -> usize {
    match payload.source() {
        Some((pkt, off)) => rx.push_shared(pkt, off, payload.len()),
        None => payload.parts().map(|part| rx.push(part)).sum(),
    }
}

/// What a segment did to the connection, for the table above it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing the table must act on.
    None,
    /// The handshake completed (a passive child goes to its listener's accept queue).
    Established,
    /// The connection is gone: free it (after sending what [`Conn::poll_output`] still has).
    Closed,
    /// Answer with a reset built from the segment (unacceptable ACK in SYN-SENT/SYN-RECEIVED).
    SendReset,
}

/// Options agreed on in the handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Negotiated {
    /// Peer's MSS.
    pub mss: u16,
    /// Peer's window scale (None: scaling off both ways).
    pub wscale: Option<u8>,
    /// SACK on.
    pub sack: bool,
    /// Timestamps on, with the peer's first TSval.
    pub ts: Option<u32>,
}

impl Negotiated {
    /// What a SYN's options offer. Without an MSS option the peer's MSS is 536 (RFC 9293
    /// §3.7.1); an MSS option of 0 counts as none (Linux `tcp_parse_options`).
    pub fn from_syn(o: &TcpOptions) -> Negotiated {
        Negotiated {
            mss: o.mss.filter(|&m| m != 0).unwrap_or(536),
            wscale: o.window_scale.map(|s| s.min(14)),
            sack: o.sack_permitted,
            ts: o.timestamps.map(|t| t.tsval),
        }
    }
}

/// Per-connection counters and state, like Linux's `struct tcp_info`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TcpInfo {
    /// State.
    pub state: TcpState,
    /// Congestion control in use.
    pub cc: CcAlgorithm,
    /// Smoothed RTT.
    pub srtt: Option<Duration>,
    /// RTT variation.
    pub rttvar: Duration,
    /// Current retransmission timeout.
    pub rto: Duration,
    /// Congestion window, bytes.
    pub cwnd: u32,
    /// Slow-start threshold, bytes.
    pub ssthresh: u32,
    /// Send MSS in use.
    pub snd_mss: u32,
    /// Peer's receive window, bytes.
    pub snd_wnd: u32,
    /// Receive buffer limit (grows with autotuning).
    pub rcvbuf: usize,
    /// Memory the receive queue's buffers stand for (their truesize), bytes.
    pub rcv_mem: usize,
    /// Times the receive queue was compacted because its buffers held too much memory for
    /// their bytes (Linux `TCPRcvCollapsed`).
    pub rcv_collapses: u64,
    /// Send buffer limit.
    pub sndbuf: usize,
    /// Unacknowledged bytes.
    pub unacked: u32,
    /// SACK, timestamps, window scaling agreed.
    pub sack: bool,
    /// Timestamps agreed.
    pub timestamps: bool,
    /// Send and receive window scale shifts (0 when scaling is off).
    pub wscale: (u8, u8),
    /// Segments sent, retransmissions included.
    pub segs_out: u64,
    /// Segments received.
    pub segs_in: u64,
    /// Segments retransmitted.
    pub retransmits: u64,
    /// Fast-recovery episodes.
    pub recoveries: u64,
    /// Retransmission timeouts.
    pub timeouts: u64,
    /// Payload bytes acknowledged by the peer.
    pub bytes_acked: u64,
    /// Payload bytes received in order.
    pub bytes_received: u64,
    /// Out-of-order segments received.
    pub ooo_segs: u64,
    /// Out-of-order bytes dropped for lack of queue space.
    pub ooo_drops: u64,
    /// Segments dropped by PAWS.
    pub paws_drops: u64,
    /// Challenge ACKs sent (RFC 5961).
    pub challenge_acks: u64,
    /// Zero-window probes sent.
    pub zero_window_probes: u64,
    /// Oldest unacknowledged sequence number.
    pub snd_una: u32,
    /// Next sequence number to send.
    pub snd_nxt: u32,
    /// Next sequence number expected.
    pub rcv_nxt: u32,
    /// Receive window now, bytes.
    pub rcv_wnd: u32,
}

/// Timers a connection runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timer {
    /// Retransmission (and SYN retransmission).
    Rto,
    /// Delayed ACK.
    DelAck,
    /// Zero-window probe.
    Persist,
    /// Keepalive.
    Keepalive,
    /// TIME-WAIT end, or an orphaned FIN-WAIT-2's end.
    Linger,
}

/// The transmission control block.
#[derive(Debug)]
pub struct Conn {
    pub(crate) state: TcpState,
    pub(crate) local: SocketAddrV4,
    pub(crate) remote: SocketAddrV4,
    cfg: TcpConfig,
    pub(crate) nodelay: bool,
    pub(crate) keepalive: bool,
    /// `TCP_USER_TIMEOUT`: how long sent data may stay unacknowledged, or queued data unsent
    /// behind a zero window, and how long keepalive probes may go unanswered, before the
    /// connection ends ([`Self::retries_timed_out`]); `None` leaves it to the retry counts.
    pub(crate) user_timeout: Option<Duration>,
    /// The connection ended by a timer that tells the peer with a reset (keepalive, Linux
    /// `tcp_keepalive_timer`'s `tcp_send_active_reset`); the stack sends it.
    pub(crate) reset_on_close: bool,
    pub(crate) rcvbuf_locked: bool,

    iss: Seq,
    irs: Seq,
    snd_una: Seq,
    snd_nxt: Seq,
    snd_max: Seq,
    snd_wnd: u32,
    max_snd_wnd: u32,
    snd_wl1: Seq,
    snd_wl2: Seq,
    snd_wscale: u8,
    rcv_wscale: u8,
    rcv_nxt: Seq,
    rcv_adv: Seq,
    /// The window size last advertised, bytes.
    last_wnd: u32,
    last_ack_sent: Seq,
    peer_mss: u32,
    adv_mss: u16,
    /// Path MTU minus the IPv4 and TCP fixed headers, as last given by the route (Linux
    /// `icsk_pmtu_cookie`, through `tcp_mtu_to_mss`): the send MSS never exceeds it.
    path_mss: u32,
    sack_ok: bool,
    ts_ok: bool,
    ts_recent: u32,
    ts_recent_at: Instant,
    ts_offset: u32,
    /// The IPv4 identification of this connection's next datagram (Linux `inet_id`), from
    /// [`IsnGenerator::ip_id_start`].
    ip_id: u16,
    /// The socket's IP header settings (`IP_TTL`, `IP_TOS`).
    pub(crate) ip: SockIp,

    pub(crate) tx: SendQueue,
    pub(crate) rx: RecvQueue,
    ooo: OooQueue,
    /// The user will write no more: a FIN follows the send queue.
    pub(crate) fin_queued: bool,
    /// Sequence number of our FIN once sent.
    fin_seq: Option<Seq>,
    /// Sequence number of the peer's FIN once seen (possibly ahead of `rcv_nxt`).
    rx_fin: Option<Seq>,
    /// The peer's FIN is consumed: reads return end of file once the queue is empty.
    pub(crate) rx_eof: bool,
    /// The user closed the socket; the block lives on until the protocol is done.
    pub(crate) orphan: bool,
    /// The user will read no more (shutdown read): arriving data is dropped.
    pub(crate) rx_shut: bool,
    /// Received data was thrown away unread because of `rx_shut` (queued at the shutdown or
    /// arriving after it). Linux keeps such data queued, and `tcp_close` resets a connection
    /// that holds any (`data_was_unread`); this makes closing here do the same.
    pub(crate) rx_discarded: bool,
    /// Ended by a reset, a timeout or an ICMP error: once the error is reported, reads see
    /// end of stream and writes `BrokenPipe` (Linux sets `sk_shutdown = SHUTDOWN_MASK` in
    /// `tcp_done`).
    aborted: bool,

    rtt: RttEstimator,
    timed: Option<(Seq, Instant)>,
    cc: Box<dyn CongestionControl>,
    sb: Scoreboard,
    dupacks: u32,
    /// The last ACK showed the peer hears this end though it acknowledged nothing new: it
    /// SACKed new data, or it was a pure duplicate (no data, no window change) while data was
    /// outstanding. Taken by the stack, which confirms the neighbour on it as on new ACKs
    /// (Linux `tcp_ack`: `FLAG_FORWARD_PROGRESS || !(flag & FLAG_NOT_DUP)` →
    /// `sk_dst_confirm`).
    peer_heard: bool,
    /// Recovery point while in fast recovery (RFC 6582 `recover`).
    recovery: Option<Seq>,
    /// Highest sequence sent before the last recovery or timeout: a new recovery starts
    /// only for losses after it (RFC 6582 §3.2 step 2).
    recover: Seq,
    /// After a timeout, until `snd_una` passes this point: go-back-N in slow start.
    loss_point: Option<Seq>,
    high_rxt: Seq,
    /// RFC 6675 `RescueRxt`, as one past the octet: the end of recovery's first
    /// retransmission until it is sent and acknowledged, then the recovery point once the
    /// rescue retransmission went. `None` before recovery's first retransmission.
    rescue_rxt: Option<Seq>,
    /// End of the latest short segment (less than a full segment of new data) sent: while it
    /// is unacknowledged, Nagle holds the next short one (Minshall's variant, Linux
    /// `snd_sml`, `tcp_minshall_check`).
    snd_sml: Seq,
    /// `snd_max` at the latest retransmission: once data sent after it is SACKed while
    /// holes below stay, the retransmissions were lost too (Linux `tcp_mark_lost_retrans`)
    /// and the holes go out again.
    rxt_round_end: Option<Seq>,
    force_rexmit: Option<Seq>,
    /// The end of the segment that holds SND.UNA and when that segment was last sent (Linux
    /// `tcp_skb_timestamp` of the retransmission queue's head): where a backoff undone by
    /// RFC 6069 runs the timer from. `None` once SND.UNA passes that end, until the segment
    /// after it is sent again.
    head_tx: Option<(Seq, Instant)>,
    /// HyStart++ (RFC 9406) round tracking: the round ends when `snd_una` passes this.
    hs_round_end: Seq,
    hs_last_min: Option<Duration>,
    hs_cur_min: Option<Duration>,
    hs_samples: u32,
    retries: u32,
    /// When the segment whose timeout started the retransmissions was sent (about Linux's
    /// `retrans_stamp`): the retransmission timeouts' time budget counts from it.
    rexmit_since: Option<Instant>,
    probes: u32,
    /// When the persist timer first fired since the window was last open (Linux
    /// `icsk_probes_tstamp`): a user timeout counts the zero window from it.
    probes_since: Option<Instant>,
    /// Zero-window probes sent since the window was last open: the persist timer's own
    /// backoff (Linux `icsk_backoff` in `tcp_probe0_when`), kept apart from the RTO's.
    persist_backoff: u32,
    syn_pending: bool,

    rto_at: Option<Instant>,
    delack_at: Option<Instant>,
    persist_at: Option<Instant>,
    keepalive_at: Option<Instant>,
    linger_at: Option<Instant>,
    /// Flush again even if no queue reports room: output was refused locally and no other
    /// timer runs (Linux's probe timer after a local drop).
    xmit_retry_at: Option<Instant>,
    /// Times [`Self::xmit_retry_at`] fired in a row without a batch getting out: bounded
    /// like retransmissions, so a queue that never takes the packet ends the connection.
    local_retries: u32,

    ack_now: bool,
    /// The persist timer allows one segment smaller than sender SWS avoidance wants.
    force_small: bool,
    last_oow_ack: Option<Instant>,
    challenge_ack: bool,
    probe_seq: bool,
    unacked_rx: usize,
    /// Estimated payload of the peer's full-sized segments, as they arrive (Linux
    /// `icsk_ack.rcv_mss`): the delayed-ACK rule counts segments of this size.
    rcv_mss: u32,
    /// Payload of the latest short segment that looked full-sized (Linux `last_seg_size`).
    last_seg_size: u32,
    /// [`ACK_PUSHED`] and [`ACK_PUSHED2`]: short (or pushed) segments arrived since the
    /// last ACK (Linux `icsk_ack.pending`'s `ICSK_ACK_PUSHED`, `ICSK_ACK_PUSHED2`).
    ack_pushed: u8,
    /// Interactive: this side sent data within the delayed-ACK time of receiving some, so
    /// an answer is likely to carry the ACK (Linux's ping-pong mode). Left when the
    /// delayed-ACK timer has to send an ACK after all.
    pingpong: bool,
    /// When in-order data last arrived (Linux `icsk_ack.lrcvtime`).
    last_data_rx: Option<Instant>,
    quickack: u32,
    last_rx: Instant,
    /// When the connection last sent data (or a FIN): the start of an idle period.
    last_tx: Instant,

    space_copied: usize,
    space_at: Instant,
    rcv_rtt: Option<Duration>,

    /// The pending error (Linux `sk_err`): reported once, by the first call that fails with
    /// it ([`Self::take_error`], Linux `sock_error`), then cleared.
    pub(crate) error: Option<TcpError>,
    /// The last soft ICMP error (Linux `sk_err_soft`): reported instead of a bare timeout
    /// should the connection time out, forgotten once an ACK shows the path works.
    err_soft: Option<TcpError>,
    pub(crate) info: TcpInfo,
    /// The listener this connection came from, while it waits to be accepted.
    pub(crate) parent: Option<usize>,
    /// The local port was bound (chosen by the user, or its listener's) rather than picked
    /// by connect: Linux's bind bucket for it has `fastreuse >= 0`, not connect's -1.
    pub(crate) port_bound: bool,
    /// The handshake was completed through a SYN cookie.
    pub(crate) from_cookie: bool,
    /// The output state before each segment of the last [`Self::poll_output`] batch, so
    /// [`Self::unsend`] can take back the segments the host refused to send.
    undo: Vec<OutputMark>,
}

/// What emitting a segment changes in a connection, saved before each one of a batch. A
/// segment the stack could not hand to the interface (its queue was full) never left: the
/// connection goes back to the mark before it, as Linux's `tcp_write_xmit` leaves `snd_nxt`
/// before a segment whose transmit failed.
#[derive(Debug, Clone, Copy)]
struct OutputMark {
    snd_nxt: Seq,
    snd_max: Seq,
    high_rxt: Seq,
    rescue_rxt: Option<Seq>,
    snd_sml: Seq,
    fin_seq: Option<Seq>,
    timed: Option<(Seq, Instant)>,
    rto_at: Option<Instant>,
    persist_at: Option<Instant>,
    delack_at: Option<Instant>,
    force_rexmit: Option<Seq>,
    head_tx: Option<(Seq, Instant)>,
    rxt_round_end: Option<Seq>,
    syn_pending: bool,
    force_small: bool,
    ack_now: bool,
    challenge_ack: bool,
    probe_seq: bool,
    last_ack_sent: Seq,
    unacked_rx: usize,
    ack_pushed: u8,
    last_wnd: u32,
    rcv_adv: Seq,
    retransmits: u64,
    challenge_acks: u64,
    /// When the connection last sent, before this batch (segments before `k` left now).
    last_tx: Instant,
}

/// The window scale this side offers: the smallest shift that lets the largest receive
/// buffer be advertised.
pub fn rcv_wscale_for(cfg: &TcpConfig) -> u8 {
    if !cfg.window_scaling {
        return 0;
    }
    let mut s = 0u8;
    while s < 14 && (cfg.rcvbuf_max >> s) > 65_535 {
        s += 1;
    }
    s
}

/// The TSval sent at `now` by a connection whose clock offset is `offset`
/// ([`IsnGenerator::ts_offset`]): a millisecond clock (RFC 7323 §5.4: 1 ms to 1 s a tick).
pub fn ts_value(offset: u32, now: Instant) -> u32 {
    ts_now(now).wrapping_add(offset)
}

fn ts_now(now: Instant) -> u32 {
    (now.as_nanos() / 1_000_000) as u32
}

impl Conn {
    fn blank(
        cfg: &TcpConfig,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        iss: Seq,
        now: Instant,
    ) -> Conn {
        let rcv_wscale = rcv_wscale_for(cfg);
        let keyed = IsnGenerator::new(cfg.secret);
        Conn {
            state: TcpState::Closed,
            local,
            remote,
            nodelay: cfg.nodelay,
            keepalive: false,
            user_timeout: None,
            reset_on_close: false,
            rcvbuf_locked: false,
            iss,
            irs: Seq(0),
            snd_una: iss,
            snd_nxt: iss,
            snd_max: iss,
            snd_wnd: 0,
            max_snd_wnd: 0,
            snd_wl1: Seq(0),
            snd_wl2: iss,
            snd_wscale: 0,
            rcv_wscale,
            rcv_nxt: Seq(0),
            rcv_adv: Seq(0),
            last_wnd: 0,
            last_ack_sent: Seq(0),
            peer_mss: 536,
            adv_mss: 536,
            path_mss: u32::from(u16::MAX),
            sack_ok: false,
            ts_ok: false,
            ts_recent: 0,
            ts_recent_at: now,
            ts_offset: keyed.ts_offset(local, remote),
            ip_id: keyed.ip_id_start(local, remote),
            ip: SockIp::default(),
            tx: SendQueue::new(cfg.sndbuf),
            rx: RecvQueue::new(cfg.rcvbuf),
            // Sized to the receive buffer and resized with it (`fit_ooo`).
            ooo: OooQueue::new(cfg.rcvbuf),
            fin_queued: false,
            rx_fin: None,
            fin_seq: None,
            rx_eof: false,
            orphan: false,
            rx_shut: false,
            rx_discarded: false,
            aborted: false,
            rtt: RttEstimator::new(cfg.rto),
            timed: None,
            cc: new_cc(cfg.congestion, 536),
            sb: Scoreboard::new(),
            dupacks: 0,
            peer_heard: false,
            recovery: None,
            recover: iss,
            loss_point: None,
            high_rxt: iss,
            rescue_rxt: None,
            snd_sml: iss,
            rxt_round_end: None,
            force_rexmit: None,
            head_tx: None,
            hs_round_end: iss,
            hs_last_min: None,
            hs_cur_min: None,
            hs_samples: 0,
            retries: 0,
            rexmit_since: None,
            probes_since: None,
            probes: 0,
            persist_backoff: 0,
            syn_pending: false,
            rto_at: None,
            delack_at: None,
            persist_at: None,
            keepalive_at: None,
            linger_at: None,
            xmit_retry_at: None,
            local_retries: 0,
            ack_now: false,
            force_small: false,
            last_oow_ack: None,
            challenge_ack: false,
            probe_seq: false,
            unacked_rx: 0,
            rcv_mss: RCV_MSS_DEFAULT,
            last_seg_size: 0,
            ack_pushed: 0,
            pingpong: false,
            last_data_rx: None,
            quickack: 16,
            last_rx: now,
            last_tx: now,
            space_copied: 0,
            space_at: now,
            rcv_rtt: None,
            error: None,
            err_soft: None,
            info: TcpInfo::default(),
            parent: None,
            port_bound: false,
            from_cookie: false,
            undo: Vec::with_capacity(OUTPUT_BATCH + 1),
            cfg: cfg.clone(),
        }
    }

    /// An active open: SYN-SENT with the SYN waiting in [`Self::poll_output`]. `adv_mss` is
    /// what this side announces (route MTU − 40).
    pub fn connect(
        cfg: &TcpConfig,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        iss: Seq,
        adv_mss: u16,
        now: Instant,
    ) -> Conn {
        let mut c = Conn::blank(cfg, local, remote, iss, now);
        c.state = TcpState::SynSent;
        c.adv_mss = adv_mss;
        c.syn_pending = true;
        c
    }

    /// A passive open from a SYN (`seq` its sequence number, `opts` its options): SYN-RECEIVED
    /// with the SYN-ACK waiting in [`Self::poll_output`].
    #[allow(clippy::too_many_arguments)]
    pub fn accept_syn(
        cfg: &TcpConfig,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        iss: Seq,
        adv_mss: u16,
        syn: &TcpRepr,
        now: Instant,
    ) -> Conn {
        let mut c = Conn::blank(cfg, local, remote, iss, now);
        c.state = TcpState::SynReceived;
        c.adv_mss = adv_mss;
        c.take_syn(syn, now);
        c.syn_pending = true;
        c.port_bound = true;
        c
    }

    /// A connection completed by a SYN cookie: the final ACK `ack` arrived, the options the
    /// cookie carried are `neg`. Established at once.
    #[allow(clippy::too_many_arguments)]
    pub fn from_cookie(
        cfg: &TcpConfig,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        iss: Seq,
        adv_mss: u16,
        neg: Negotiated,
        ack: &TcpRepr,
        now: Instant,
    ) -> Conn {
        let mut c = Conn::blank(cfg, local, remote, iss, now);
        c.adv_mss = adv_mss;
        c.irs = Seq(ack.seq) - 1;
        c.rcv_nxt = Seq(ack.seq);
        c.rcv_adv = c.rcv_nxt;
        c.apply_negotiated(neg, ack.options.timestamps.is_some() && neg.ts.is_some());
        if let Some(t) = ack.options.timestamps {
            c.ts_recent = t.tsval;
            c.ts_recent_at = now;
        }
        c.snd_una = iss + 1u32;
        c.snd_nxt = c.snd_una;
        c.snd_max = c.snd_una;
        c.recover = c.snd_una;
        c.high_rxt = c.snd_una;
        c.snd_wnd = u32::from(ack.window) << c.snd_wscale;
        c.max_snd_wnd = c.snd_wnd;
        c.snd_wl1 = Seq(ack.seq);
        c.snd_wl2 = Seq(ack.ack);
        c.state = TcpState::Established;
        c.from_cookie = true;
        c.port_bound = true;
        c
    }

    fn apply_negotiated(&mut self, neg: Negotiated, ts: bool) {
        self.peer_mss = u32::from(neg.mss.max(64));
        match neg.wscale {
            Some(s) if self.cfg.window_scaling => self.snd_wscale = s.min(14),
            _ => {
                self.snd_wscale = 0;
                self.rcv_wscale = 0;
            }
        }
        self.sack_ok = neg.sack && self.cfg.sack;
        self.ts_ok = ts && self.cfg.timestamps;
        self.cc.set_mss(self.snd_mss_base());
    }

    fn take_syn(&mut self, syn: &TcpRepr, now: Instant) {
        self.irs = Seq(syn.seq);
        self.rcv_nxt = self.irs + 1u32;
        self.rcv_adv = self.rcv_nxt;
        let neg = Negotiated::from_syn(&syn.options);
        self.apply_negotiated(neg, neg.ts.is_some());
        if let Some(ts) = neg.ts {
            self.ts_recent = ts;
            self.ts_recent_at = now;
        }
        // The window in a SYN is never scaled.
        self.snd_wnd = u32::from(syn.window);
        self.max_snd_wnd = self.snd_wnd;
        self.snd_wl1 = Seq(syn.seq);
    }

    /// Current state.
    pub fn state(&self) -> TcpState {
        self.state
    }

    /// Local address.
    pub fn local(&self) -> SocketAddrV4 {
        self.local
    }

    /// Peer address.
    pub fn remote(&self) -> SocketAddrV4 {
        self.remote
    }

    /// Bytes of the send queue from `snd_una` on, for copying payload out.
    pub fn send_queue(&self) -> &SendQueue {
        &self.tx
    }

    /// The IPv4 identification for this connection's next datagram, which becomes `segs`
    /// segments (each takes the next value; Linux `ip_select_ident_segs` on `inet_id`).
    pub fn take_ip_ids(&mut self, segs: u16) -> u16 {
        let id = self.ip_id;
        self.ip_id = id.wrapping_add(segs);
        id
    }

    /// Switches the congestion control algorithm (keeps cwnd/ssthresh semantics fresh).
    pub fn set_congestion(&mut self, algo: CcAlgorithm) {
        let mss = self.snd_mss_base();
        self.cc = new_cc(algo, mss);
    }

    /// The send MSS before options: the peer's MSS, ours, and the path's, whichever is least
    /// (Linux `tcp_sync_mss`). Congestion control counts in it.
    fn snd_mss_base(&self) -> u32 {
        self.peer_mss
            .min(u32::from(self.adv_mss))
            .min(self.path_mss)
            .max(64)
    }

    /// Takes the route's path MTU (as `path_mss`, the MTU minus 40) into the send MSS, as
    /// Linux `tcp_sync_mss` does at connect, for the SYN-ACK, on fragmentation-needed
    /// (`tcp_v4_mtu_reduced`) and before sending whenever the route's MTU changed
    /// (`tcp_current_mss`): down when the path MTU shrinks, back up when the cached one
    /// expires. Congestion control takes the new MSS too, so its window arithmetic and the
    /// segments sent agree.
    pub(crate) fn sync_mss(&mut self, path_mss: u32) {
        if path_mss == self.path_mss {
            return;
        }
        let before = self.snd_mss_base();
        self.path_mss = path_mss;
        let after = self.snd_mss_base();
        if after != before {
            self.cc.set_mss(after);
        }
    }

    /// Counters and state.
    pub fn info(&self) -> TcpInfo {
        let mut i = self.info;
        i.state = self.state;
        i.cc = self.cc.algorithm();
        i.srtt = self.rtt.srtt();
        i.rttvar = self.rtt.rttvar();
        i.rto = self.rtt.rto();
        i.cwnd = self.cc.cwnd();
        i.ssthresh = self.cc.ssthresh();
        i.snd_mss = self.snd_mss_base();
        i.snd_wnd = self.snd_wnd;
        i.rcvbuf = self.rx.limit();
        i.rcv_mem = self.rx.mem();
        i.rcv_collapses = self.rx.collapses();
        i.sndbuf = self.tx.limit();
        i.unacked = self.snd_max.since(self.snd_una);
        i.sack = self.sack_ok;
        i.timestamps = self.ts_ok;
        i.wscale = (self.snd_wscale, self.rcv_wscale);
        i.snd_una = self.snd_una.0;
        i.snd_nxt = self.snd_max.0;
        i.rcv_nxt = self.rcv_nxt.0;
        i.rcv_wnd = self.rcv_wnd();
        i
    }

    // ------------------------------------------------------------------ user side

    /// Appends to the send queue; returns the bytes taken. A pending error comes first and
    /// is reported once (Linux `tcp_sendmsg_locked`: `sk_err` before `SEND_SHUTDOWN`, taken
    /// by `sk_stream_error`); then writing is shut and fails with `BrokenPipe`.
    pub fn send(&mut self, data: &[u8], now: Instant) -> Result<usize, TcpError> {
        if let Some(e) = self.take_error() {
            return Err(e);
        }
        if self.fin_queued || self.aborted {
            return Err(TcpError::BrokenPipe);
        }
        // Linux `sk_stream_wait_connect`: outside the handshake, a socket that cannot send
        // fails with EPIPE, a closed one too (a connect shut for writing in SYN-SENT).
        match self.state {
            TcpState::Established | TcpState::CloseWait => {}
            TcpState::SynSent | TcpState::SynReceived => return Err(TcpError::WouldBlock),
            TcpState::Listen => return Err(TcpError::NotConnected),
            _ => return Err(TcpError::BrokenPipe),
        }
        if self.fin_queued {
            return Err(TcpError::BrokenPipe);
        }
        if self.tx.is_empty() && now.saturating_duration_since(self.last_tx) > self.rtt.rto() {
            // RFC 5681 §4.1: restart from the restart window after an idle period.
            self.cc.on_idle_restart(now);
        }
        let n = self.tx.push(data);
        if n == 0 && !data.is_empty() {
            return Err(TcpError::WouldBlock);
        }
        Ok(n)
    }

    /// Reads in-order bytes; `Ok(0)` is end of stream.
    pub fn recv(&mut self, out: &mut [u8], now: Instant) -> Result<usize, TcpError> {
        let n = self.rx.read(out);
        self.after_recv(n, now)
    }

    /// [`Self::recv`] handing the bytes to `reader` in place instead of copying them out
    /// ([`RecvQueue::read_with`]).
    pub fn recv_with(
        &mut self,
        reader: impl FnMut(&[u8]) -> usize,
        now: Instant,
    ) -> Result<usize, TcpError> {
        let n = self.rx.read_with(reader);
        self.after_recv(n, now)
    }

    /// Copies in-order bytes without consuming them (`MSG_PEEK`): the same results as
    /// [`Self::recv`], and the next read gets the same bytes again. A pending error is
    /// reported and cleared as by a read (Linux's `MSG_PEEK` path calls `sock_error` too).
    pub fn peek(&mut self, out: &mut [u8]) -> Result<usize, TcpError> {
        match self.rx.peek(0, out) {
            0 => self.nothing_read(),
            n => Ok(n),
        }
    }

    /// The result of a read that took `n` bytes: `n`, or end of stream, the connection's
    /// error, or would-block when nothing was there.
    fn after_recv(&mut self, n: usize, now: Instant) -> Result<usize, TcpError> {
        if n > 0 {
            self.after_read(n, now);
            return Ok(n);
        }
        self.nothing_read()
    }

    /// What a read that found no bytes returns, in Linux `tcp_recvmsg_locked`'s order: end
    /// of stream after the peer's FIN (`SOCK_DONE`), else the pending error, reported once
    /// (`sock_error`), else end of stream once reading is shut (`RCV_SHUTDOWN`: the user's
    /// shutdown, or the reset or timeout that ended the connection), else not connected or
    /// would-block.
    fn nothing_read(&mut self) -> Result<usize, TcpError> {
        if self.rx_eof {
            return Ok(0);
        }
        if let Some(e) = self.take_error() {
            return Err(e);
        }
        if self.rx_shut || self.aborted {
            return Ok(0);
        }
        match self.state {
            TcpState::Closed | TcpState::Listen => Err(TcpError::NotConnected),
            _ => Err(TcpError::WouldBlock),
        }
    }

    fn after_read(&mut self, n: usize, now: Instant) {
        self.space_copied += n;
        self.autotune(now);
        // Window update when the window opened by enough to matter (receiver SWS avoidance,
        // RFC 9293 §3.8.6.2.2): two segments or half the buffer.
        let advertised = self.rcv_adv.since(self.rcv_nxt) as usize;
        let now_free = self.rx.free();
        let mss = self.snd_mss_base() as usize;
        if now_free >= advertised + (2 * mss).min(self.rx.limit() / 2) {
            self.ack_now = true;
        }
        // A delayed ACK is sent at once when this read emptied the queue after a short or
        // pushed segment (Linux `__tcp_cleanup_rbuf`): the sender may wait for it (Nagle
        // holding its next short write, or a full window), and the reader has taken all
        // there is. Not on an interactive connection, whose answer will carry the ACK,
        // unless two such segments wait.
        if self.unacked_rx > 0
            && self.rx.is_empty()
            && (self.ack_pushed & ACK_PUSHED2 != 0
                || (self.ack_pushed & ACK_PUSHED != 0 && !self.pingpong))
        {
            self.ack_now = true;
        }
    }

    /// Dynamic right-sizing of the receive buffer (Linux `tcp_rcv_space_adjust`): once per
    /// receiver RTT, when the application drained more than half the buffer in that RTT,
    /// the buffer doubles (up to `rcvbuf_max`) so the window can cover the path.
    fn autotune(&mut self, now: Instant) {
        if self.rcvbuf_locked || !self.cfg.autotune {
            return;
        }
        let rtt = self.rcv_rtt.unwrap_or(Duration::from_millis(1));
        if now.saturating_duration_since(self.space_at) < rtt {
            return;
        }
        if self.space_copied * 2 > self.rx.limit() && self.rx.limit() < self.cfg.rcvbuf_max {
            let l = (self.rx.limit() * 2).min(self.cfg.rcvbuf_max);
            self.rx.set_limit(l);
            self.fit_ooo();
        }
        self.space_copied = 0;
        self.space_at = now;
    }

    /// Readable: data, end of stream, or an error. A connection ended by a reset or a
    /// timeout stays readable once its error is reported: reads see end of stream (Linux
    /// `tcp_poll` reports `EPOLLIN` for the `RCV_SHUTDOWN` that `tcp_done` sets).
    pub fn readable(&self) -> bool {
        !self.rx.is_empty() || self.rx_eof || self.rx_shut || self.error.is_some() || self.aborted
    }

    /// Writable as Linux `tcp_poll` reports `EPOLLOUT`: a write would not block. Never
    /// during the handshake. Once writing is shut (`SEND_SHUTDOWN`: shutdown(Write), close,
    /// or `tcp_done` after a reset or timeout) or the connection is closed, always: the
    /// write fails at once (`EPIPE`, or the pending error). Otherwise when the free send
    /// space is at least half of what is queued (`__sk_stream_is_writeable`: a full buffer
    /// must drain by a third before writers are woken, so they are not woken per ACK for a
    /// sliver of room).
    pub fn writable(&self) -> bool {
        match self.state {
            TcpState::SynSent | TcpState::SynReceived => false,
            TcpState::Established | TcpState::CloseWait if !self.fin_queued && !self.aborted => {
                self.tx.free() >= self.tx.len() / 2
            }
            _ => true,
        }
    }

    /// Closes the sending side (`shutdown(SHUT_WR)`): a FIN follows the queued data.
    pub fn shutdown_write(&mut self) {
        match self.state {
            TcpState::SynSent => self.state = TcpState::Closed,
            TcpState::SynReceived | TcpState::Established => {
                self.fin_queued = true;
                if self.state == TcpState::Established {
                    self.state = TcpState::FinWait1;
                }
            }
            TcpState::CloseWait => {
                self.fin_queued = true;
                self.state = TcpState::LastAck;
            }
            _ => {}
        }
    }

    /// Linux `tcp_disconnect` of a connect in SYN-SENT: the socket is closed with ECONNRESET
    /// pending (the first read or write reports it; then a read is `NotConnected` and a
    /// write `BrokenPipe`, as on a socket that never connected) and nothing shut.
    pub(crate) fn disconnect(&mut self) {
        self.state = TcpState::Closed;
        self.error = Some(TcpError::ConnectionReset);
        self.rx_shut = false;
        self.fin_queued = false;
        self.clear_timers();
    }

    /// Takes the pending error (Linux `sock_error`: read and cleared at once), so that only
    /// one call reports it.
    pub fn take_error(&mut self) -> Option<TcpError> {
        self.error.take()
    }

    /// `SO_ERROR` (Linux `sk_getsockopt`): the pending error, else the last soft ICMP error,
    /// whichever it is read and cleared.
    pub fn so_error(&mut self) -> Option<TcpError> {
        self.take_error().or_else(|| self.err_soft.take())
    }

    /// Aborts: the caller sends a reset from [`Self::reset_repr`] and frees the block.
    pub fn abort(&mut self, mib: &mut TcpMib) {
        self.count_estab_reset(mib);
        self.state = TcpState::Closed;
    }

    /// Linux `tcp_set_state(sk, TCP_CLOSE)` counts `TCP_MIB_ESTABRESETS` for a connection
    /// that leaves ESTABLISHED or CLOSE-WAIT for CLOSED, whatever ends it: a reset received
    /// or sent (an abort, a close with unread data), a timeout. One that closes from
    /// FIN-WAIT, CLOSING or LAST-ACK is not counted. Call it before the state changes.
    fn count_estab_reset(&self, mib: &mut TcpMib) {
        if matches!(self.state, TcpState::Established | TcpState::CloseWait) {
            mib.estab_resets += 1;
        }
    }

    /// The reset an abort sends (`tcp_send_active_reset`), numbered as Linux's
    /// `tcp_acceptable_seq`: the highest sequence sent, not `snd_nxt`, which a timeout rewinds
    /// for go-back-N below what the peer may hold (a reset there is out of its window and
    /// dropped); but no further than the peer's window reaches, give or take the rounding of
    /// its scaled window field.
    pub fn reset_repr(&self) -> TcpRepr {
        let wnd_end = self.snd_una + self.snd_wnd;
        let seq = if self.snd_max.diff(wnd_end) < 1 << self.snd_wscale {
            self.snd_max
        } else {
            wnd_end
        };
        TcpRepr {
            src_port: self.local.port(),
            dst_port: self.remote.port(),
            seq: seq.0,
            ack: self.rcv_nxt.0,
            flags: TcpFlags(TcpFlags::RST | TcpFlags::ACK),
            window: 0,
            urgent: 0,
            options: TcpOptions::default(),
        }
    }

    /// True when an RFC 5961 challenge ACK waits to be sent.
    pub fn challenge_pending(&self) -> bool {
        self.challenge_ack
    }

    /// Sets this connection's keepalive idle time, interval and count where `p` has them; a
    /// new idle time re-arms a running keepalive timer, counted from the last segment
    /// received (Linux `tcp_sock_set_keepidle`: at once if the connection has been idle that
    /// long already).
    pub(crate) fn set_keepalive_params(&mut self, p: super::KeepaliveParams, now: Instant) {
        if let Some(t) = p.interval {
            self.cfg.keepalive_intvl = t;
        }
        if let Some(n) = p.count {
            self.cfg.keepalive_probes = n;
        }
        if let Some(t) = p.idle {
            self.cfg.keepalive_time = t;
            if self.keepalive && self.keepalive_state() {
                self.keepalive_at = Some((self.last_rx + t).max(now));
            }
        }
    }

    /// This connection's keepalive idle time, interval and count.
    pub(crate) fn keepalive_params(&self) -> super::KeepaliveParams {
        super::KeepaliveParams {
            idle: Some(self.cfg.keepalive_time),
            interval: Some(self.cfg.keepalive_intvl),
            count: Some(self.cfg.keepalive_probes),
        }
    }

    /// The oldest unacknowledged sequence number (SND.UNA).
    pub(crate) fn snd_una(&self) -> Seq {
        self.snd_una
    }

    /// Whether an ACK since the last call showed the peer hears this end without moving
    /// SND.UNA (newly SACKed data, or a pure duplicate ACK); clears it.
    pub(crate) fn take_peer_heard(&mut self) -> bool {
        core::mem::take(&mut self.peer_heard)
    }

    /// Drops a pending challenge ACK (the stack-wide rate limit said no).
    pub fn cancel_challenge(&mut self) {
        self.challenge_ack = false;
    }

    /// Ends an orphaned FIN-WAIT-2 at `at` (`tcp_fin_timeout`).
    pub fn set_linger(&mut self, at: Instant) {
        self.linger_at = Some(at);
    }

    /// True when the block holds unread received data, or dropped some unread after a read
    /// shutdown (closing it then resets, RFC 2525 §2.17; Linux `tcp_close` counts what
    /// `SHUT_RD` left queued).
    pub fn has_unread(&self) -> bool {
        !self.rx.is_empty() || self.rx_discarded
    }

    /// Enables keepalive probes after `cfg.keepalive_time` idle. Switching it on when it is on
    /// already changes nothing (Linux `tcp_set_keepalive` arms the timer only from off), so
    /// probing under way goes on as it was.
    pub fn set_keepalive(&mut self, on: bool, now: Instant) {
        if on && self.keepalive {
            return;
        }
        self.keepalive = on;
        self.keepalive_at = on.then(|| now + self.cfg.keepalive_time);
    }

    /// Fixes the receive buffer size (`SO_RCVBUF`), turning autotuning off.
    pub fn set_rcvbuf(&mut self, bytes: usize) {
        self.rcvbuf_locked = true;
        self.rx
            .set_limit(bytes.clamp(2048, self.cfg.rcvbuf_max.max(2048)));
        self.fit_ooo();
    }

    /// Sizes the out-of-order queue's ring to the receive buffer. It holds nothing past
    /// `rx.free()` anyway; a ring of `rcvbuf_max` would make one out-of-order byte cost
    /// `tcp_rmem[2]`, where Linux charges out-of-order skbs to `sk_rmem_alloc` against
    /// `sk_rcvbuf` (`tcp_try_rmem_schedule`, `tcp_prune_ofo_queue`). Never below the span
    /// already held: that data was SACKed, and dropping it would be reneging.
    fn fit_ooo(&mut self) {
        let held = self
            .ooo
            .highest()
            .map_or(0, |h| h.since(self.rcv_nxt) as usize);
        self.ooo.set_limit(self.rx.limit().max(held));
    }

    /// Sets the send buffer size (`SO_SNDBUF`).
    pub fn set_sndbuf(&mut self, bytes: usize) {
        self.tx.set_limit(bytes.max(2048));
    }

    // ------------------------------------------------------------------ timers

    /// The earliest timer, if any runs.
    pub fn next_timer(&self) -> Option<Instant> {
        [
            self.rto_at,
            self.delack_at,
            self.persist_at,
            self.keepalive_at,
            self.linger_at,
            self.xmit_retry_at,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// True when output is pending now (an ACK, a retransmission, new data, a FIN).
    pub fn wants_output(&self) -> bool {
        self.ack_now
            || self.challenge_ack
            || self.syn_pending
            || self.force_rexmit.is_some()
            || self.force_small
            || (self.can_send_state() && self.unsent() > 0)
            || (self.fin_queued && !self.fin_sent())
    }

    /// Runs every expired timer. Returns [`Outcome::Closed`] when the connection ends.
    pub fn on_timer(&mut self, now: Instant, mib: &mut TcpMib) -> Outcome {
        if self.xmit_retry_at.is_some_and(|t| t <= now) {
            // The stack flushes after the timers ran; here only the count of tries.
            self.xmit_retry_at = None;
            self.local_retries += 1;
            let limit = match self.state {
                TcpState::SynSent => self.cfg.syn_retries,
                TcpState::SynReceived => self.cfg.synack_retries,
                _ => self.cfg.retries2,
            };
            if self.local_retries > limit {
                if self.state == TcpState::SynSent {
                    mib.attempt_fails += 1;
                }
                return self.fail(TcpError::TimedOut, mib);
            }
        }
        if self.linger_at.is_some_and(|t| t <= now) {
            self.linger_at = None;
            if matches!(self.state, TcpState::TimeWait | TcpState::FinWait2) {
                self.state = TcpState::Closed;
                return Outcome::Closed;
            }
        }
        if self.delack_at.is_some_and(|t| t <= now) {
            self.delack_at = None;
            if self.unacked_rx > 0 {
                self.ack_now = true;
                // No answer carried the ACK in time: not interactive after all (Linux
                // `tcp_delack_timer_handler` leaves ping-pong mode).
                self.pingpong = false;
            }
        }
        if self.rto_at.is_some_and(|t| t <= now) {
            self.rto_at = None;
            if let Some(o) = self.retransmit_timeout(now, mib) {
                return o;
            }
        }
        if self.persist_at.is_some_and(|t| t <= now) {
            self.persist_at = None;
            if self.snd_wnd > 0 && self.unsent() > 0 && self.snd_una == self.snd_max {
                // A window too small for the segment sender SWS avoidance waits for, and
                // nothing in flight to bring an update: send what fits (RFC 9293
                // §3.8.6.2.1's override timeout; Linux `tcp_write_wakeup`).
                self.force_small = true;
            } else if self.snd_wnd == 0 && self.unsent() > 0 {
                // Only unanswered probes (or a user timeout, below) end a connection (any
                // segment resets the count), except an orphan's: nobody waits for it, so it
                // ends once the probes have backed off to the largest RTO (Linux
                // `tcp_probe_timer` with `tcp_orphan_retries` = 0: 8 probes while the backoff
                // is short, then none).
                self.probes += 1;
                let limit = if self.orphan {
                    ORPHAN_PROBES
                } else {
                    self.cfg.retries2
                };
                // A user timeout ends even a zero window the peer keeps answering for, once
                // it has lasted that long (Linux `tcp_probe_timer`, from the first firing).
                let since = *self.probes_since.get_or_insert(now);
                let user_expired = self
                    .user_timeout
                    .is_some_and(|ut| since < now && now.saturating_duration_since(since) >= ut);
                if user_expired
                    || self.probes > limit
                    || (self.orphan && self.persist_interval() >= self.cfg.rto.max)
                {
                    return self.fail(TcpError::TimedOut, mib);
                }
                self.info.zero_window_probes += 1;
                self.ack_now = true;
                self.probe_seq = true;
                // Probes back off from the RTO up to its maximum, but on a count of their
                // own: the RTO itself is untouched, so the data sent once the window opens
                // is timed as usual (Linux `tcp_send_probe0`, `tcp_probe0_when`).
                self.persist_backoff = self.persist_backoff.saturating_add(1);
                let mut at = now + self.persist_interval();
                if let Some(ut) = self.user_timeout {
                    // No later than the user timeout's end (Linux
                    // `tcp_clamp_probe0_to_user_timeout`).
                    at = at.min((since + ut).max(now + MIN_CLAMPED_TIMER));
                }
                self.persist_at = Some(at);
            }
        }
        if self.keepalive_at.is_some_and(|t| t <= now) {
            self.keepalive_at = None;
            let busy = self.snd_una != self.snd_max
                || self.unsent() > 0
                || (self.fin_queued && !self.fin_sent());
            if self.keepalive && self.keepalive_state() && busy {
                // "It is alive without keepalive": with data or a FIN in flight or queued, the
                // retransmission or persist timer watches the peer, and keepalive only looks
                // again an idle time later (Linux `tcp_keepalive_timer`).
                self.keepalive_at = Some(now + self.cfg.keepalive_time);
            } else if self.keepalive && self.keepalive_state() {
                let idle = now.saturating_duration_since(self.last_rx);
                if idle >= self.cfg.keepalive_time {
                    // With a user timeout, it decides instead of the probe count, once a probe
                    // went unanswered (Linux `tcp_keepalive_timer`). The peer hears of it by a
                    // reset, which the stack sends.
                    let give_up = match self.user_timeout {
                        Some(ut) => self.probes > 0 && idle >= ut,
                        None => self.probes >= self.cfg.keepalive_probes,
                    };
                    if give_up {
                        self.reset_on_close = true;
                        return self.fail(TcpError::TimedOut, mib);
                    }
                    self.probes += 1;
                    self.ack_now = true;
                    self.probe_seq = true;
                    self.keepalive_at = Some(now + self.cfg.keepalive_intvl);
                } else {
                    self.keepalive_at = Some(self.last_rx + self.cfg.keepalive_time);
                }
            }
        }
        Outcome::None
    }

    /// Whether the retransmission timeouts have used up their time: as long as `retries2`
    /// of them take backing off from the least RTO (Linux `retransmits_timed_out` with
    /// `tcp_model_timeout`), counted from when the timed-out segment was sent. Linux gives
    /// up by this time alone, so a large RTO gives up after fewer retries, and a router
    /// answering each retransmission with an unreachable (RFC 6069 reverts) does not end the
    /// connection in seconds instead of the quarter of an hour `tcp_retries2` = 15 stands
    /// for.
    ///
    /// A user timeout (`TCP_USER_TIMEOUT`) replaces that budget, counted from the same
    /// moment, and is only looked at once a retransmission went out (Linux
    /// `retransmits_timed_out` returns false while `icsk_retransmits` is 0). Linux counts
    /// from `retrans_stamp`, the first retransmission's time; with its tail loss probe on (the
    /// default) that is the probe's, two smoothed RTTs after the send, and oxnic, which has no
    /// tail loss probe, counts from the send itself. Without the probe, Linux would end a
    /// connection one (least) RTO later than oxnic does.
    fn retries_timed_out(&self, now: Instant) -> bool {
        if let Some(ut) = self.user_timeout {
            return self.retries > 1
                && self
                    .rexmit_since
                    .is_none_or(|t| now.saturating_duration_since(t) >= ut);
        }
        let (base, max) = (self.cfg.rto.min, self.cfg.rto.max);
        // Doublings until the cap, then the cap for each retry left.
        let mut doublings = 0;
        while doublings < 30 && base.saturating_mul(2 << doublings) <= max {
            doublings += 1;
        }
        let n = self.cfg.retries2;
        let budget = if n <= doublings {
            base.saturating_mul((2 << n) - 1)
        } else {
            base.saturating_mul((2 << doublings) - 1)
                .saturating_add(max.saturating_mul(n - doublings))
        };
        self.rexmit_since
            .is_none_or(|t| now.saturating_duration_since(t) >= budget)
    }

    /// When a retransmission timer armed now fires: one RTO on, but while retransmitting no
    /// later than a user timeout's end, so the connection ends on time rather than up to a
    /// backed-off RTO after it (Linux `tcp_clamp_rto_to_user_timeout`).
    fn rto_deadline(&self, now: Instant) -> Instant {
        let at = now + self.rtt.rto();
        match (self.user_timeout, self.rexmit_since) {
            (Some(ut), Some(since)) => at.min((since + ut).max(now + MIN_CLAMPED_TIMER)),
            _ => at,
        }
    }

    /// The persist timer's interval: the RTO doubled per probe sent, at most the largest
    /// RTO (Linux `tcp_probe0_when`).
    fn persist_interval(&self) -> Duration {
        let max = self.cfg.rto.max;
        self.rtt
            .rto()
            .checked_mul(1 << self.persist_backoff.min(16))
            .map_or(max, |d| d.min(max))
    }

    /// States keepalive probes run in: every synchronized one, not only ESTABLISHED, so a
    /// half-closed connection whose peer vanished ends too (Linux `tcp_keepalive_timer`
    /// skips only CLOSE and SYN-SENT; TIME-WAIT is a separate socket there).
    fn keepalive_state(&self) -> bool {
        matches!(
            self.state,
            TcpState::Established
                | TcpState::CloseWait
                | TcpState::FinWait1
                | TcpState::FinWait2
                | TcpState::Closing
                | TcpState::LastAck
        )
    }

    /// True when an ICMP error quoting sequence number `seq` can be about a segment of this
    /// connection still in flight: SND.UNA =< seq =< SND.NXT (RFC 5927 §4.1, Linux
    /// `tcp_v4_err`'s `between(seq, snd_una, snd_nxt)`), the highest sequence sent standing
    /// for SND.NXT. Anything else is stale or forged and is ignored.
    pub(crate) fn icmp_seq_ok(&self, seq: Seq) -> bool {
        seq.diff(self.snd_una) >= 0 && seq.diff(self.snd_max) <= 0
    }

    /// An ICMP error `e` about our segment with sequence number `seq` (already checked to be
    /// in flight), as Linux `tcp_v4_err` takes it:
    /// - while the connection is opening (SYN-SENT, or SYN-RECEIVED of a simultaneous open)
    ///   every error aborts it at once, host and net unreachable included. RFC 1122 4.2.3.9
    ///   would have those soft there (retransmit the SYN until the timeout); oxnic follows
    ///   Linux where the two differ, so a connect to an unreachable place fails in an RTT;
    /// - a listener's child in SYN-RECEIVED is a request nobody holds yet (Linux `tcp_req_err`):
    ///   when `drops_request` and the error quotes its SYN-ACK it is dropped silently (POSIX
    ///   wants no network errors from accept), counted in ListenDrops; otherwise ignored. oxnic
    ///   has no TCP Fast Open, so no child is accepted while still in SYN-RECEIVED;
    /// - in a synchronized state everything is soft (RFC 5927 §7; Linux keeps `sk_err_soft`
    ///   without `IP_RECVERR`): kept to name a later timeout. A net or host unreachable may
    ///   first have undone a backoff step ([`Self::rto_revert`]).
    pub(crate) fn icmp_error(
        &mut self,
        e: TcpError,
        seq: Seq,
        drops_request: bool,
        mib: &mut TcpMib,
    ) -> Outcome {
        match self.state {
            TcpState::SynReceived if self.parent.is_some() => {
                if !drops_request || seq != self.snd_una {
                    return Outcome::None;
                }
                mib.listen_drops += 1;
                self.state = TcpState::Closed;
                self.clear_timers();
                Outcome::Closed
            }
            TcpState::SynSent | TcpState::SynReceived => {
                mib.attempt_fails += 1;
                self.fail(e, mib)
            }
            TcpState::Closed | TcpState::TimeWait => Outcome::None,
            _ => {
                self.err_soft = Some(e);
                Outcome::None
            }
        }
    }

    /// RFC 6069 (TCP-LD; Linux `tcp_ld_RTO_revert`), for an ICMP net or host unreachable
    /// quoting sequence number `seq`: while the retransmission timer is backed off, one
    /// quoting SND.UNA says the retransmission died at a broken route rather than of
    /// congestion, so the last doubling is taken back and the timer runs from when the head
    /// segment was last sent. Should that moment be past, the timeout runs now and
    /// retransmits (returning [`Outcome::Closed`] if that was the last retry). Only in
    /// synchronized states with data or a FIN in flight, after a timeout since the last ACK
    /// of new data (Linux `icsk_retransmits`: a backoff that only an ACK without an RTT
    /// sample left standing is not undone). Linux also skips a socket its user holds,
    /// which has no counterpart in a sans-IO stack.
    pub(crate) fn rto_revert(&mut self, seq: Seq, now: Instant, mib: &mut TcpMib) -> Outcome {
        if !self.can_send_state()
            || seq != self.snd_una
            || self.retries == 0
            || self.rtt.backoffs() == 0
        {
            return Outcome::None;
        }
        let Some((_, sent)) = self.head_tx else {
            // Acknowledged past the segment whose time was kept, and the timeout since did
            // not get the new head out (a full queue, no route): no time to run from.
            return Outcome::None;
        };
        self.rtt.undo_backoff();
        let at = sent + self.rtt.rto();
        if at > now {
            self.rto_at = Some(at);
            return Outcome::None;
        }
        self.rto_at = None;
        self.retransmit_timeout(now, mib).unwrap_or(Outcome::None)
    }

    /// The path MTU shrank (to `path_mss` + 40): the send MSS follows it (Linux
    /// `tcp_v4_mtu_reduced` calls `tcp_sync_mss`), and segments in flight were too big and
    /// are lost. Go back to SND.UNA so the next flush sends them again at once in the new,
    /// smaller size, without a congestion response: an MTU is no sign of congestion (Linux
    /// `tcp_simple_retransmit`).
    pub(crate) fn mtu_reduced(&mut self, path_mss: u32) {
        self.sync_mss(path_mss);
        if !self.can_send_state() || self.snd_una == self.snd_max {
            return;
        }
        self.snd_nxt = self.snd_una;
        self.high_rxt = self.snd_una;
        self.loss_point = Some(self.snd_max);
        self.timed = None;
    }

    fn fail(&mut self, e: TcpError, mib: &mut TcpMib) -> Outcome {
        self.count_estab_reset(mib);
        // A timeout names the soft error seen meanwhile (Linux `tcp_write_err`:
        // `sk_err_soft ? : ETIMEDOUT`; RFC 1122 4.2.3.9 makes it available to the user).
        let e = match (e, self.err_soft) {
            (TcpError::TimedOut, Some(soft)) => soft,
            _ => e,
        };
        self.error = Some(e);
        self.aborted = true;
        self.state = TcpState::Closed;
        self.clear_timers();
        Outcome::Closed
    }

    fn clear_timers(&mut self) {
        self.rto_at = None;
        self.delack_at = None;
        self.persist_at = None;
        self.keepalive_at = None;
        self.linger_at = None;
        self.xmit_retry_at = None;
    }

    fn retransmit_timeout(&mut self, now: Instant, mib: &mut TcpMib) -> Option<Outcome> {
        match self.state {
            TcpState::SynSent | TcpState::SynReceived => {
                if self.retries == 0 {
                    // The SYN's (or SYN-ACK's) send time, one RTO ago (Linux sets
                    // `retrans_stamp` when the SYN goes out).
                    self.rexmit_since = Some(now.checked_sub(self.rtt.rto()).unwrap_or(now));
                }
                self.retries += 1;
                // A connect, also one that went to SYN-RECEIVED by a simultaneous open, is a
                // full socket with `tcp_syn_retries` (`tcp_write_timeout`), whose failure
                // counts in AttemptFails (`tcp_done`); a listener's half-open child is a
                // request with `tcp_synack_retries`, dropped without counting there.
                let connecting = self.parent.is_none();
                let limit = if connecting {
                    self.cfg.syn_retries
                } else {
                    self.cfg.synack_retries
                };
                if self.retries > limit
                    || (self.user_timeout.is_some() && self.retries_timed_out(now))
                {
                    if connecting {
                        mib.attempt_fails += 1;
                    }
                    return Some(self.fail(TcpError::TimedOut, mib));
                }
                self.rtt.backoff();
                self.syn_pending = true;
                self.timed = None;
                self.info.timeouts += 1;
                None
            }
            TcpState::Closed | TcpState::Listen | TcpState::TimeWait => None,
            _ => {
                if self.snd_una == self.snd_max {
                    return None;
                }
                if self.snd_wnd == 0 {
                    // The receiver shrank its window under data already sent: the
                    // retransmissions are window probes. Give up only when the peer has been
                    // silent for the longest RTO (Linux `tcp_retransmit_timer`), or with a
                    // user timeout once the head has waited that long, answered or not
                    // (`tcp_rtx_probe0_timed_out`).
                    let since = *self
                        .rexmit_since
                        .get_or_insert(now.checked_sub(self.rtt.rto()).unwrap_or(now));
                    let user_expired = self
                        .user_timeout
                        .is_some_and(|ut| now.saturating_duration_since(since) > ut);
                    if user_expired
                        || now.saturating_duration_since(self.last_rx) > self.cfg.rto.max
                    {
                        return Some(self.fail(TcpError::TimedOut, mib));
                    }
                    self.info.zero_window_probes += 1;
                } else {
                    // From when the timed-out segment was sent, one RTO ago. (Linux's
                    // `retrans_stamp` is the first retransmission's time, which would give up
                    // one RTO later.)
                    if self.retries == 0 {
                        self.rexmit_since = Some(now.checked_sub(self.rtt.rto()).unwrap_or(now));
                    }
                    self.retries += 1;
                }
                if self.retries > 0 && self.retries_timed_out(now) {
                    return Some(self.fail(TcpError::TimedOut, mib));
                }
                self.info.timeouts += 1;
                let flight = self.snd_max.since(self.snd_una);
                self.cc.on_rto(flight, now);
                self.rtt.backoff();
                self.recovery = None;
                self.recover = self.snd_max;
                self.loss_point = Some(self.snd_max);
                self.rxt_round_end = None;
                self.snd_nxt = self.snd_una;
                self.high_rxt = self.snd_una;
                // Under a zero window the first unacknowledged segment still goes, as the
                // probe (Linux `tcp_retransmit_timer` retransmits the head regardless of the
                // window); go-back-N alone would send nothing, and draw no answer.
                self.force_rexmit = (self.snd_wnd == 0).then_some(self.snd_una);
                self.dupacks = 0;
                self.timed = None;
                self.sb.clear();
                self.rto_at = Some(self.rto_deadline(now));
                None
            }
        }
    }

    // ------------------------------------------------------------------ input

    /// Processes one segment for this connection (not LISTEN: the table handles those).
    /// `payload` is the segment's data.
    pub fn on_segment(
        &mut self,
        seg: &TcpRepr,
        payload: &Payload<'_>,
        now: Instant,
        mib: &mut TcpMib,
    ) -> Outcome {
        self.info.segs_in += 1;
        self.last_rx = now;
        self.probes = 0;
        if self.keepalive && self.keepalive_state() {
            self.keepalive_at = Some(now + self.cfg.keepalive_time);
        }
        if self.fast_path(seg, payload, now, mib) {
            return Outcome::None;
        }
        let f = seg.flags;
        match self.state {
            TcpState::Closed | TcpState::Listen => return Outcome::None,
            TcpState::SynSent => return self.syn_sent(seg, now, mib),
            _ => {}
        }
        let seq = Seq(seg.seq);
        if self.state == TcpState::SynReceived && f.contains(TcpFlags::SYN) && seq == self.irs {
            return self.syn_again(seg, now);
        }
        // PAWS (RFC 7323 §5). Not for a reset (§5.3 R1, Linux `tcp_validate_incoming`),
        // and not for a segment without TSopt: RFC 7323 §3.2 says such a non-RST segment
        // SHOULD be dropped once timestamps are on; Linux accepts it (it only skips the
        // timestamp steps) and so does this stack, so a middlebox that strips the option
        // from some segments does not stall the connection.
        if self.ts_ok && !f.contains(TcpFlags::RST) {
            if let Some(ts) = seg.options.timestamps {
                // One tick of slack, as Linux's TCP_PAWS_WINDOW: reordering within a
                // millisecond is not an old duplicate.
                if !self.paws_ok(ts.tsval, 1, now) {
                    self.info.paws_drops += 1;
                    mib.paws_drops += 1;
                    self.oow_ack(now, f, payload.len());
                    return Outcome::None;
                }
            }
        }
        if !self.acceptable(seq, payload.len(), f) {
            if !f.contains(TcpFlags::RST) {
                // A retransmission of the peer's FIN (our ACK was lost) is acknowledged like
                // any old FIN, and in TIME-WAIT restarts the 2 MSL timeout (RFC 9293
                // §3.10.7.4).
                if self.state == TcpState::TimeWait
                    && f.contains(TcpFlags::FIN)
                    && seq + payload.len() + 1u32 == self.rcv_nxt
                {
                    self.linger_at = Some(now + self.cfg.time_wait);
                }
                self.oow_ack(now, f, payload.len());
            } else if self.reset_after_fin(seq) {
                // Out of the window, yet Linux's `tcp_validate_incoming` still takes it.
                return self.on_rst(seq, mib);
            }
            return Outcome::None;
        }
        if f.contains(TcpFlags::RST) {
            return self.on_rst(seq, mib);
        }
        if f.contains(TcpFlags::SYN) {
            // RFC 5961 §4: a SYN in a synchronized state gets a challenge ACK.
            self.challenge(mib);
            return Outcome::None;
        }
        if !f.contains(TcpFlags::ACK) {
            return Outcome::None;
        }
        // Timestamps: remember the peer's latest (for segments at the left edge), and learn
        // the receiver RTT from our echo.
        if seq.diff(self.last_ack_sent) <= 0 {
            self.take_timestamp(seq, seg.options.timestamps, payload.len(), now);
        }
        let mut outcome = Outcome::None;
        if self.state == TcpState::SynReceived {
            let ack = Seq(seg.ack);
            if ack.diff(self.snd_una) > 0 && ack.diff(self.snd_max) <= 0 {
                self.state = TcpState::Established;
                self.snd_wnd = u32::from(seg.window) << self.snd_wscale;
                self.max_snd_wnd = self.snd_wnd;
                self.snd_wl1 = seq;
                self.snd_wl2 = ack;
                outcome = Outcome::Established;
                if self.fin_queued {
                    self.state = TcpState::FinWait1;
                }
            } else {
                return Outcome::SendReset;
            }
        }
        if let Some(o) = self.on_ack(seg, payload.len(), now, mib) {
            return o;
        }
        // Our FIN acknowledged?
        let fin_acked = self.fin_acked();
        match self.state {
            TcpState::FinWait1 if fin_acked => {
                self.state = TcpState::FinWait2;
                if self.orphan {
                    self.linger_at = Some(now + self.cfg.fin_timeout);
                }
            }
            TcpState::Closing if fin_acked => self.enter_time_wait(now),
            TcpState::LastAck if fin_acked => {
                self.state = TcpState::Closed;
                self.clear_timers();
                return Outcome::Closed;
            }
            _ => {}
        }
        // RFC 1122 §4.2.2.13: new data after the user's CLOSE is answered with a reset
        // (Linux `TCPAbortOnData`): nobody will ever read it. Linux tests RCV_SHUTDOWN, so
        // the same holds after shutdown(Both) on a socket the user still holds; that one
        // learns of it as after a reset (`tcp_reset` in FIN-WAIT: ECONNRESET).
        if (self.orphan || self.rx_shut)
            && matches!(self.state, TcpState::FinWait1 | TcpState::FinWait2)
            && !payload.is_empty()
            && (seq + payload.len()).diff(self.rcv_nxt) > 0
        {
            if !self.orphan {
                self.error = Some(TcpError::ConnectionReset);
                self.aborted = true;
            }
            self.state = TcpState::Closed;
            self.clear_timers();
            return Outcome::SendReset;
        }
        match self.state {
            TcpState::Established | TcpState::FinWait1 | TcpState::FinWait2 => {
                self.on_data(seq, payload, f, now, mib);
            }
            TcpState::CloseWait | TcpState::Closing | TcpState::LastAck | TcpState::TimeWait
                if f.contains(TcpFlags::FIN) =>
            {
                // A retransmitted FIN: our ACK was lost.
                self.ack_now = true;
                if self.state == TcpState::TimeWait {
                    self.linger_at = Some(now + self.cfg.time_wait);
                }
            }
            _ => {}
        }
        outcome
    }

    /// Header prediction (Van Jacobson's fast path, Linux `tcp_rcv_established`): in
    /// ESTABLISHED, a segment with only ACK (and PSH) set, exactly at `rcv_nxt`, with the
    /// window unchanged, a timestamp that passes PAWS, no SACK blocks, nothing (data or FIN)
    /// waiting beyond `rcv_nxt`, and either no payload
    /// and an ACK of new data, or in-order payload that fits and an ACK of nothing new. Such
    /// segments are most of a bulk transfer; they skip the general checks. Returns whether
    /// the segment was handled here.
    fn fast_path(
        &mut self,
        seg: &TcpRepr,
        payload: &Payload<'_>,
        now: Instant,
        mib: &mut TcpMib,
    ) -> bool {
        const PREDICTED: u16 = TcpFlags::ACK | TcpFlags::PSH;
        if self.state != TcpState::Established
            || seg.flags.0 & !PREDICTED != 0
            || !seg.flags.contains(TcpFlags::ACK)
            || Seq(seg.seq) != self.rcv_nxt
            || self.recovery.is_some()
            || self.loss_point.is_some()
            || !self.ooo.is_empty()
            // A FIN seen beyond rcv_nxt waits for the data before it: the slow path
            // consumes it (Linux queues it out of order, which turns prediction off).
            || self.rx_fin.is_some()
            || self.rx_shut
            || seg.options.sack_blocks[0].is_some()
        {
            return false;
        }
        let ts = seg.options.timestamps;
        if self.ts_ok {
            match ts {
                Some(t) if (t.tsval.wrapping_sub(self.ts_recent) as i32) >= 0 => {}
                _ => return false,
            }
        }
        let ack = Seq(seg.ack);
        let new_ack = ack.diff(self.snd_una) > 0 && ack.diff(self.snd_max) <= 0;
        if payload.is_empty() {
            if !new_ack {
                return false;
            }
            mib.hp_acks += 1;
            self.take_timestamp(Seq(seg.seq), ts, payload.len(), now);
            let flight = self.in_flight(self.snd_mss_base());
            // An ACK of new data at rcv_nxt always passes the window-update test.
            let wnd = u32::from(seg.window) << self.snd_wscale;
            self.snd_wnd = wnd;
            self.max_snd_wnd = self.max_snd_wnd.max(wnd);
            if wnd > 0 {
                self.persist_at = None;
                self.persist_backoff = 0;
                self.probes_since = None;
            }
            self.snd_wl1 = Seq(seg.seq);
            self.snd_wl2 = ack;
            self.on_new_ack(ack, ack.since(self.snd_una), seg, flight, now);
            return true;
        }
        if ack != self.snd_una
            || u32::from(seg.window) << self.snd_wscale != self.snd_wnd
            || payload.len() > self.rx.free()
        {
            return false;
        }
        mib.hp_hits += 1;
        self.take_timestamp(Seq(seg.seq), ts, payload.len(), now);
        self.measure_rcv_mss(payload.segment_len(), seg.flags, now);
        queue_payload(&mut self.rx, payload);
        self.rcv_nxt = self.rcv_nxt + payload.len();
        self.info.bytes_received += payload.len() as u64;
        self.unacked_rx += payload.len();
        self.schedule_ack(now);
        true
    }

    /// The PAWS test (RFC 7323 §5.3 R1, Linux `tcp_paws_check`): `tsval` is at most `win`
    /// ticks older than TS.Recent, or TS.Recent is not valid — older than 24 days (§5.5),
    /// or 0, which Linux takes as never set by a real clock (some stacks send TSval 0 in
    /// the SYN and their clock afterwards).
    fn paws_ok(&self, tsval: u32, win: i32, now: Instant) -> bool {
        (self.ts_recent.wrapping_sub(tsval) as i32) <= win
            || now.saturating_duration_since(self.ts_recent_at) > PAWS_IDLE
            || self.ts_recent == 0
    }

    /// Remembers the peer's timestamp (RFC 7323 §4.3) and measures the receiver RTT from
    /// the echo of ours, which paces receive-buffer autotuning.
    fn take_timestamp(
        &mut self,
        seq: Seq,
        ts: Option<TcpTimestamps>,
        payload_len: usize,
        now: Instant,
    ) {
        let Some(t) = ts.filter(|_| self.ts_ok) else {
            return;
        };
        // RFC 7323 §4.3 (2): only a segment at or before Last.ACK.sent updates TS.Recent,
        // and only with a TSval not older than it — unless TS.Recent is no longer valid
        // (Linux `tcp_replace_ts_recent`): after 24 days idle the peer's clock may have
        // moved 2³¹ ticks on, and a TS.Recent never replaced would keep PAWS off and the
        // echo stale for good.
        if seq.diff(self.last_ack_sent) <= 0 && self.paws_ok(t.tsval, 0, now) {
            self.ts_recent = t.tsval;
            self.ts_recent_at = now;
        }
        if payload_len > 0 && t.tsecr != 0 {
            let ms = ts_now(now)
                .wrapping_add(self.ts_offset)
                .wrapping_sub(t.tsecr);
            if (ms as i32) >= 0 {
                let sample = Duration::from_millis(u64::from(ms.max(1)));
                self.rcv_rtt = Some(match self.rcv_rtt {
                    Some(r) => (r * 7 + sample) / 8,
                    None => sample,
                });
            }
        }
    }

    /// Learns the size of the peer's full-sized segments from a data segment of `len` bytes
    /// (Linux `tcp_measure_rcv_mss`): the largest seen (no more than the MSS we announced),
    /// or a smaller size two segments in a row had, if they look full-sized (large enough,
    /// or without PSH and the like). A path whose MTU is below the announced MSS, or a
    /// sender that cuts smaller segments, is thus counted in its own segments.
    ///
    /// Also notes when data arrived, and whether the segment was short or pushed, for the
    /// ACK a read may send ([`Self::after_read`]).
    fn measure_rcv_mss(&mut self, len: usize, f: TcpFlags, now: Instant) {
        self.last_data_rx = Some(now);
        let len = len.min(u32::MAX as usize) as u32;
        let last = std::mem::take(&mut self.last_seg_size);
        if len >= self.rcv_mss {
            self.rcv_mss = len.min(u32::from(self.adv_mss)).max(1);
            // A full segment with PSH likely ends a write: more may not come soon.
            if f.contains(TcpFlags::PSH) {
                self.ack_pushed |= ACK_PUSHED;
            }
            return;
        }
        // Linux compares the segment with its TCP header (timestamps included) to these.
        let opt = if self.ts_ok { 12 } else { 0 };
        let remnant = f.contains(TcpFlags::PSH)
            || f.contains(TcpFlags::FIN)
            || f.contains(TcpFlags::URG)
            || f.contains(TcpFlags::SYN);
        if len + opt >= RCV_MSS_DEFAULT || (len + opt >= RCV_MSS_MIN && !remnant) {
            self.last_seg_size = len;
            if len == last {
                self.rcv_mss = len;
                return;
            }
        }
        if self.ack_pushed & ACK_PUSHED != 0 {
            self.ack_pushed |= ACK_PUSHED2;
        }
        self.ack_pushed |= ACK_PUSHED;
    }

    /// In-order data arrived: acknowledge at once when more than one full-sized segment is
    /// unacknowledged, i.e. at least every second one (RFC 5681 §4.2, RFC 9293 §3.8.6.3;
    /// full-sized as measured, Linux `__tcp_ack_snd_check`), or during quick-ACK mode, else
    /// within the delayed-ACK time.
    fn schedule_ack(&mut self, now: Instant) {
        let rcv_mss = self.rcv_mss.min(u32::from(self.adv_mss)) as usize;
        if self.unacked_rx > rcv_mss || self.quickack > 0 {
            self.quickack = self.quickack.saturating_sub(1);
            self.ack_now = true;
        } else if self.delack_at.is_none() {
            self.delack_at = Some(now + self.cfg.delayed_ack);
        }
    }

    /// The peer's SYN again while in SYN-RECEIVED: with an ACK of our SYN it is the other
    /// half of a simultaneous open (RFC 9293 §3.5, figure 8) and completes it; alone it means
    /// our SYN-ACK was lost and goes out again.
    fn syn_again(&mut self, seg: &TcpRepr, now: Instant) -> Outcome {
        let ack = Seq(seg.ack);
        if !seg.flags.contains(TcpFlags::ACK)
            || ack.diff(self.snd_una) <= 0
            || ack.diff(self.snd_max) > 0
        {
            self.syn_pending = true;
            return Outcome::None;
        }
        if let Some(ts) = seg.options.timestamps.filter(|_| self.ts_ok) {
            self.ts_recent = ts.tsval;
            self.ts_recent_at = now;
        }
        self.snd_una = ack;
        if self.snd_nxt.diff(ack) < 0 {
            self.snd_nxt = ack;
        }
        // The window in a SYN is never scaled (RFC 7323 §2.2).
        self.snd_wnd = u32::from(seg.window);
        self.max_snd_wnd = self.snd_wnd;
        self.snd_wl1 = Seq(seg.seq);
        self.snd_wl2 = ack;
        self.retries = 0;
        self.rexmit_since = None;
        self.rto_at = None;
        self.recover = ack;
        self.high_rxt = ack;
        self.state = if self.fin_queued {
            TcpState::FinWait1
        } else {
            TcpState::Established
        };
        Outcome::Established
    }

    fn syn_sent(&mut self, seg: &TcpRepr, now: Instant, mib: &mut TcpMib) -> Outcome {
        let f = seg.flags;
        let ack = Seq(seg.ack);
        if f.contains(TcpFlags::ACK) && (ack.diff(self.iss) <= 0 || ack.diff(self.snd_max) > 0) {
            return if f.contains(TcpFlags::RST) {
                Outcome::None
            } else {
                Outcome::SendReset
            };
        }
        if f.contains(TcpFlags::RST) {
            if f.contains(TcpFlags::ACK) {
                mib.attempt_fails += 1;
                self.error = Some(TcpError::ConnectionRefused);
                self.aborted = true;
                self.state = TcpState::Closed;
                self.clear_timers();
                return Outcome::Closed;
            }
            return Outcome::None;
        }
        if !f.contains(TcpFlags::SYN) {
            return Outcome::None;
        }
        self.take_syn(seg, now);
        self.ack_now = true;
        if f.contains(TcpFlags::ACK) {
            self.snd_una = ack;
            // The window in a SYN-ACK is never scaled (RFC 7323 §2.2).
            self.snd_wnd = u32::from(seg.window);
            self.max_snd_wnd = self.snd_wnd;
            self.snd_wl2 = ack;
            if let Some((_, at)) = self.timed.take() {
                self.rtt.sample(now.saturating_duration_since(at));
            }
            self.retries = 0;
            self.rexmit_since = None;
            self.err_soft = None;
            self.rto_at = None;
            self.recover = self.snd_una;
            self.high_rxt = self.snd_una;
            self.state = TcpState::Established;
            if self.fin_queued {
                self.state = TcpState::FinWait1;
            }
            Outcome::Established
        } else {
            // Simultaneous open (RFC 9293 §3.5): SYN-RECEIVED, our SYN again with an ACK
            // (the same SYN answered, not a timeout retransmission).
            self.state = TcpState::SynReceived;
            self.snd_max = self.iss;
            self.syn_pending = true;
            Outcome::None
        }
    }

    /// The duplicate ACK an out-of-window, PAWS-failing or too-far-ahead segment gets, at most
    /// one per 500 ms (Linux `tcp_oow_rate_limited`, `tcp_invalid_ratelimit`): two ends that
    /// disagree about the sequence space would otherwise trade ACKs forever. Not limited for
    /// a segment occupying sequence space without a SYN: such data is not likely part of an
    /// ACK loop, and its sender needs the ACK (a spurious retransmission, a lost ACK).
    fn oow_ack(&mut self, now: Instant, f: TcpFlags, payload_len: usize) {
        if (payload_len > 0 || f.contains(TcpFlags::FIN)) && !f.contains(TcpFlags::SYN) {
            self.ack_now = true;
        } else if self
            .last_oow_ack
            .is_none_or(|t| now.saturating_duration_since(t) >= OOW_ACK_INTERVAL)
        {
            self.last_oow_ack = Some(now);
            self.ack_now = true;
        }
    }

    fn acceptable(&self, seq: Seq, len: usize, f: TcpFlags) -> bool {
        let seg_len = len as u32
            + u32::from(f.contains(TcpFlags::SYN))
            + u32::from(f.contains(TcpFlags::FIN));
        let wnd = self.rcv_wnd();
        let in_wnd = |s: Seq| s.diff(self.rcv_nxt) >= 0 && s.diff(self.rcv_nxt + wnd) < 0;
        match (seg_len, wnd) {
            (0, 0) => seq == self.rcv_nxt,
            (0, _) => in_wnd(seq),
            // RFC 9293 §3.10.7.4: no data fits a zero window, "but special allowance should
            // be made to accept valid ACKs": as in Linux `tcp_sequence`, a segment reaching
            // rcv_nxt passes, its ACK and window are taken and `on_data` drops its data.
            (_, 0) => seq.diff(self.rcv_nxt) <= 0 && (seq + seg_len).diff(self.rcv_nxt) > 0,
            _ => in_wnd(seq) || in_wnd(seq + (seg_len - 1)),
        }
    }

    /// The receive window right now: free buffer, never shrinking an advertised right edge.
    fn rcv_wnd(&self) -> u32 {
        let free = self.rx.free().min(u32::MAX as usize / 2) as u32;
        free.max(self.rcv_adv.since(self.rcv_nxt))
    }

    /// Linux `tcp_reset_check`: once the peer's FIN is in, a reset may carry the sequence
    /// number of the FIN itself (a peer that reset before our ACK of it reached it).
    fn reset_after_fin(&self, seq: Seq) -> bool {
        seq == self.rcv_nxt - 1
            && matches!(
                self.state,
                TcpState::CloseWait | TcpState::LastAck | TcpState::Closing
            )
    }

    /// Linux `tcp_validate_incoming`: with SACK, a reset at the right edge of the highest
    /// block this end reports (the sequence number after the data it holds out of order, where
    /// the peer's reset would stand had it sent nothing more) resets too.
    fn reset_at_sack_edge(&self, seq: Seq) -> bool {
        if !self.sack_ok || self.ooo.is_empty() {
            return false;
        }
        let (blocks, n) = self.ooo.sack_blocks(self.rcv_nxt, MAX_SACK_BLOCKS);
        let highest =
            blocks[..n]
                .iter()
                .map(|b| Seq(b.right))
                .reduce(|m, r| if r.diff(m) > 0 { r } else { m });
        highest == Some(seq)
    }

    fn on_rst(&mut self, seq: Seq, mib: &mut TcpMib) -> Outcome {
        if seq != self.rcv_nxt && !self.reset_after_fin(seq) && !self.reset_at_sack_edge(seq) {
            // RFC 5961 §3.2: in the window but not exact — challenge.
            self.challenge(mib);
            return Outcome::None;
        }
        let e = match self.state {
            // A listener's half-open child is a request nobody holds: dropped silently
            // (Linux `tcp_check_req`, counting AttemptFails as below).
            TcpState::SynReceived if self.parent.is_some() => None,
            // Linux `tcp_reset` keeps ECONNREFUSED for SYN-SENT (`syn_sent`): a simultaneous
            // open reset in SYN-RECEIVED is ECONNRESET, where RFC 9293 §3.10.7.4 would say
            // "connection refused".
            TcpState::SynReceived
            | TcpState::Established
            | TcpState::FinWait1
            | TcpState::FinWait2 => Some(TcpError::ConnectionReset),
            // Linux `tcp_reset`: EPIPE in CLOSE-WAIT. The peer had already closed its side,
            // so what the user learns is that its own writes went nowhere (reads still end
            // the stream with the FIN that came before).
            TcpState::CloseWait => Some(TcpError::BrokenPipe),
            // ECONNRESET too once both sides sent their FIN (Linux `tcp_reset`'s default): a
            // user who only shut writing still holds the socket, and its next write fails
            // with the reset before EPIPE (reads end with the FIN that came first). An
            // orphan, closed by its user, is freed with the error unseen, as Linux reports
            // nothing to a dead socket.
            TcpState::Closing | TcpState::LastAck => Some(TcpError::ConnectionReset),
            _ => None,
        };
        if self.state == TcpState::SynReceived {
            // `tcp_done` (and `tcp_check_req` for a child): a failed attempt.
            mib.attempt_fails += 1;
        }
        self.count_estab_reset(mib);
        self.aborted = e.is_some();
        self.error = e;
        self.state = TcpState::Closed;
        self.clear_timers();
        Outcome::Closed
    }

    fn challenge(&mut self, mib: &mut TcpMib) {
        self.challenge_ack = true;
        mib.challenge_acks_wanted += 1;
    }

    /// In TIME-WAIT, a SYN that may start a new incarnation of the connection (RFC 6191,
    /// Linux `tcp_timewait_state_process`): no ACK or RST, not an old duplicate by PAWS, and
    /// either its ISN beyond `rcv_nxt` or its TSval newer than TS.Recent. Returns the ISN
    /// for the new connection, beyond anything this one sent (Linux: `tw_snd_nxt + 65537`).
    pub(crate) fn time_wait_new_syn(&self, seg: &TcpRepr, now: Instant) -> Option<Seq> {
        let f = seg.flags;
        if self.state != TcpState::TimeWait
            || !f.contains(TcpFlags::SYN)
            || f.contains(TcpFlags::ACK)
            || f.contains(TcpFlags::RST)
        {
            return None;
        }
        let ts = seg.options.timestamps.filter(|_| self.ts_ok);
        let ts_delta = ts.map(|t| t.tsval.wrapping_sub(self.ts_recent) as i32);
        if ts.is_some_and(|t| !self.paws_ok(t.tsval, 0, now)) {
            // PAWS, with no window of slack in TIME-WAIT (`tcp_paws_reject(.., 0)`).
            return None;
        }
        let new = Seq(seg.seq).diff(self.rcv_nxt) > 0 || ts_delta.is_some_and(|d| d > 0);
        new.then(|| self.snd_max + 65_537u32)
    }

    /// Ends a TIME-WAIT a new SYN recycled.
    pub(crate) fn end_time_wait(&mut self) {
        self.state = TcpState::Closed;
        self.clear_timers();
    }

    fn enter_time_wait(&mut self, now: Instant) {
        self.state = TcpState::TimeWait;
        self.rto_at = None;
        self.persist_at = None;
        self.keepalive_at = None;
        self.delack_at = None;
        self.linger_at = Some(now + self.cfg.time_wait);
    }

    fn in_flight(&self, mss: u32) -> u32 {
        if self.recovery.is_some() {
            if self.sack_ok {
                return self
                    .sb
                    .pipe(self.snd_una, self.snd_max, self.high_rxt, mss, DUPTHRESH);
            }
            let out = self.snd_max.since(self.snd_una);
            let retrans = self.high_rxt.since(self.snd_una).min(mss);
            return out.saturating_sub(self.dupacks.saturating_mul(mss)) + retrans;
        }
        let out = self.snd_nxt.since(self.snd_una);
        if !self.sack_ok {
            if self.loss_point.is_some() {
                return out;
            }
            // Limited Transmit (RFC 3042) without SACK: each duplicate ACK says a segment
            // has left the network (Linux counts them as SACKed in Reno mode,
            // `tcp_add_reno_sack`), so the first two each let a new segment go.
            return out.saturating_sub(self.dupacks.min(2).saturating_mul(mss));
        }
        let sacked = self.sb.sacked_below(self.snd_una, self.snd_nxt);
        if self.loss_point.is_some() {
            // After a timeout everything from `snd_nxt` on counts as lost, and what the
            // receiver SACKed below it has left the network (Linux `tcp_packets_in_flight`
            // in loss state).
            return out - sacked;
        }
        // Limited Transmit (RFC 3042, a SHOULD of RFC 5681 §3.2): SACKed data has left the
        // network, so before recovery each SACK lets a new segment go, up to two beyond the
        // window — what a small window needs to draw the duplicate ACKs that show a loss.
        out - sacked.min(2 * mss)
    }

    /// ACK processing (`tcp_ack`). Returns an outcome when the segment must go no further.
    fn on_ack(
        &mut self,
        seg: &TcpRepr,
        payload_len: usize,
        now: Instant,
        mib: &mut TcpMib,
    ) -> Option<Outcome> {
        let ack = Seq(seg.ack);
        let seq = Seq(seg.seq);
        if ack.diff(self.snd_max) > 0 {
            // Acknowledges what was never sent.
            self.oow_ack(now, seg.flags, payload_len);
            return Some(Outcome::None);
        }
        let max_wnd = self.max_snd_wnd;
        if ack.diff(self.snd_una - max_wnd) < 0 {
            // RFC 5961 §5.2: far too old — challenge, drop.
            self.challenge(mib);
            return Some(Outcome::None);
        }
        let mss = self.snd_mss_base();
        let flight_before = self.in_flight(mss);
        let wnd = u32::from(seg.window) << self.snd_wscale;
        let wnd_changed = wnd != self.snd_wnd;
        // RFC 9293 §3.10.7.4: only an ACK with SND.UNA =< SEG.ACK may update the window, then
        // by the WL1/WL2 rule (Linux `tcp_ack` takes older ones to `old_ack`, past
        // `tcp_ack_update_window`); WL1 alone passes a delayed segment whose ACK is old.
        if ack.diff(self.snd_una) >= 0
            && (self.snd_wl1.diff(seq) < 0 || (self.snd_wl1 == seq && self.snd_wl2.diff(ack) <= 0))
        {
            self.snd_wnd = wnd;
            self.max_snd_wnd = self.max_snd_wnd.max(wnd);
            self.snd_wl1 = seq;
            self.snd_wl2 = ack;
            if wnd > 0 {
                self.persist_at = None;
                self.persist_backoff = 0;
                self.probes_since = None;
            }
        }
        let mut blocks = [SackBlock::default(); MAX_SACK_BLOCKS];
        let mut nb = 0;
        for b in seg.options.sack_blocks.iter().flatten() {
            blocks[nb] = *b;
            nb += 1;
        }
        let newly_sacked = if self.sack_ok && nb > 0 {
            self.sb
                .on_ack(ack.max(self.snd_una), self.snd_max, &blocks[..nb])
        } else {
            0
        };
        if let (Some(end), Some(hi)) = (self.rxt_round_end, self.sb.highest_sacked()) {
            if self.recovery.is_some() && hi.diff(end) > 0 {
                // Data sent after the last round of retransmissions arrived, the holes did
                // not: retransmit them again instead of waiting for the timer.
                self.high_rxt = self.snd_una.max(ack);
                self.rxt_round_end = None;
            }
        }
        let acked = ack.since(self.snd_una);
        let pure_dup = ack == self.snd_una
            && self.snd_una != self.snd_max
            && payload_len == 0
            && !seg.flags.contains(TcpFlags::FIN)
            && !seg.flags.contains(TcpFlags::SYN)
            && !wnd_changed;
        if newly_sacked > 0 || pure_dup {
            self.peer_heard = true;
        }
        if acked > 0 {
            self.on_new_ack(ack, acked, seg, flight_before, now);
            // RFC 6675 §5: an ACK that SACKs new data is a duplicate ACK "regardless of its
            // status as a cumulative acknowledgment". DupAcks restarted from zero with the
            // cumulative ACK; this one may already show HighACK + 1 lost (three segments
            // SACKed above it), and with nothing more to send no later ACK would (Linux
            // `tcp_fastretrans_alert` runs on any ACK with FLAG_DATA_SACKED).
            if newly_sacked > 0 && self.recovery.is_none() && self.snd_una != self.snd_max {
                self.on_dupack(now, mib);
            }
        } else if ack == self.snd_una && self.snd_una != self.snd_max {
            // With SACK blocks, a duplicate ACK is one that SACKs new data (RFC 6675 §2): a
            // D-SACK (RFC 2883) for a segment that arrived twice, or SACK information
            // repeated, tells of no loss (Linux counts SACKed segments, which these do not
            // add to). Without blocks, RFC 5681 §2's definition — also on a SACK connection,
            // in case a middlebox strips the options.
            let dup = if self.sack_ok && nb > 0 {
                newly_sacked > 0
            } else {
                pure_dup
            };
            if dup {
                self.on_dupack(now, mib);
            }
        }
        None
    }

    fn on_new_ack(
        &mut self,
        ack: Seq,
        acked: u32,
        seg: &TcpRepr,
        flight_before: u32,
        now: Instant,
    ) {
        let mss = self.snd_mss_base();
        // Data bytes acknowledged: not the SYN, not our FIN.
        let mut data = acked;
        if self.snd_una == self.iss {
            data -= 1;
        }
        if self.fin_seq.is_some_and(|f| ack.diff(f) > 0) {
            data = data.saturating_sub(1);
        }
        let data = (data as usize).min(self.tx.len());
        self.tx.consume(data);
        self.info.bytes_acked += data as u64;
        self.snd_una = ack;
        if self.head_tx.is_some_and(|(end, _)| ack.diff(end) >= 0) {
            // When the new head went is not kept. It is not needed: undoing a backoff
            // takes a timeout after this ACK, and that timeout sends the head again.
            self.head_tx = None;
        }
        if !self.sb.is_empty() {
            // SACK marks go with the data the cumulative ACK covers, whether or not this ACK
            // carries blocks and on the fast path too (Linux frees the acknowledged skbs with
            // their marks in `tcp_clean_rtx_queue`). Left below snd_una, a range would count
            // as SACKed data ahead once the stream moves 2³¹ on.
            self.sb.on_ack(ack, self.snd_max, &[]);
        }
        if self.snd_nxt.diff(ack) < 0 {
            self.snd_nxt = ack;
        }
        if self.high_rxt.diff(ack) < 0 {
            self.high_rxt = ack;
        }
        // RTT: prefer the timed segment (exact, Karn-safe), else the echoed timestamp.
        let mut sample = None;
        if let Some((s, at)) = self.timed {
            if ack.diff(s) > 0 {
                sample = Some(now.saturating_duration_since(at));
                self.timed = None;
            }
        }
        if sample.is_none() && self.ts_ok {
            if let Some(ts) = seg.options.timestamps.filter(|t| t.tsecr != 0) {
                let ms = ts_now(now)
                    .wrapping_add(self.ts_offset)
                    .wrapping_sub(ts.tsecr);
                if (ms as i32) >= 0 {
                    sample = Some(Duration::from_millis(u64::from(ms)));
                }
            }
        }
        // Karn's algorithm (RFC 6298 §5): an ACK without a valid sample keeps the backed-off
        // RTO; only a new measurement collapses it (Linux `tcp_ack_update_rtt`).
        if let Some(s) = sample {
            self.rtt.sample(s);
            self.hystart(s, ack);
        }
        self.retries = 0;
        self.rexmit_since = None;
        self.err_soft = None;
        if let Some(lp) = self.loss_point {
            if ack.diff(lp) >= 0 {
                self.loss_point = None;
            }
        }
        match self.recovery {
            Some(rp) if ack.diff(rp) >= 0 => {
                // Full ACK: recovery ends with cwnd at ssthresh (set on entry).
                self.recovery = None;
                self.rxt_round_end = None;
                self.dupacks = 0;
            }
            Some(_) => {
                // Partial ACK (RFC 6582 §3.2 step 5): the next hole goes out at once.
                if !self.sack_ok {
                    self.force_rexmit = Some(self.snd_una);
                    self.dupacks = self.dupacks.saturating_sub(acked.div_ceil(mss));
                }
            }
            None => {
                self.dupacks = 0;
                // Grow only a window that is in use (Linux `tcp_is_cwnd_limited`): the
                // flight filled it, or in slow start reached half of it.
                let cwnd = self.cc.cwnd();
                let in_slow_start = cwnd < self.cc.ssthresh();
                let cwnd_limited = flight_before.saturating_add(mss) >= cwnd
                    || (in_slow_start && flight_before.saturating_mul(2) >= cwnd);
                let app_limited = !cwnd_limited;
                self.cc
                    .on_ack(acked, sample, flight_before, app_limited, now);
            }
        }
        self.rto_at = if self.snd_una == self.snd_max {
            None
        } else {
            Some(now + self.rtt.rto())
        };
    }

    /// HyStart++ delay increase detection (RFC 9406 §4.2), without the conservative slow
    /// start phase: per round, the minimum of the first eight RTT samples; a rise over the
    /// last round's minimum by an eighth (4..16 ms) ends slow start before the queue
    /// overflows and drops a window's worth of segments.
    fn hystart(&mut self, rtt: Duration, ack: Seq) {
        if self.cc.cwnd() >= self.cc.ssthresh() || self.recovery.is_some() {
            return;
        }
        if ack.diff(self.hs_round_end) >= 0 {
            self.hs_last_min = self.hs_cur_min.take();
            self.hs_samples = 0;
            self.hs_round_end = self.snd_max;
        }
        self.hs_samples += 1;
        self.hs_cur_min = Some(self.hs_cur_min.map_or(rtt, |m| m.min(rtt)));
        if self.hs_samples < 8 {
            return;
        }
        if let (Some(last), Some(cur)) = (self.hs_last_min, self.hs_cur_min) {
            let eta = (last / 8).clamp(Duration::from_millis(4), Duration::from_millis(16));
            if cur >= last + eta {
                self.cc.exit_slow_start();
            }
        }
    }

    fn on_dupack(&mut self, now: Instant, mib: &mut TcpMib) {
        self.dupacks += 1;
        if self.recovery.is_some() || self.loss_point.is_some() {
            return;
        }
        let mss = self.snd_mss_base();
        let lost = self.dupacks >= DUPTHRESH
            || (self.sack_ok && self.sb.is_lost(self.snd_una, mss, DUPTHRESH));
        // RFC 6582 §3.2 step 2: no second reduction for losses from the same window.
        if !lost || self.snd_una.diff(self.recover) < 0 {
            return;
        }
        let flight = self.snd_max.since(self.snd_una);
        self.cc.on_congestion_event(flight, now);
        self.recovery = Some(self.snd_max);
        self.recover = self.snd_max;
        self.high_rxt = self.snd_una;
        self.rescue_rxt = None;
        self.force_rexmit = Some(self.snd_una);
        self.timed = None;
        self.info.recoveries += 1;
        mib.fast_recoveries += 1;
    }

    fn on_data(
        &mut self,
        seq: Seq,
        payload: &Payload<'_>,
        f: TcpFlags,
        now: Instant,
        mib: &mut TcpMib,
    ) {
        let mut seq = seq;
        let mut data = *payload;
        if f.contains(TcpFlags::FIN) {
            let fin = seq + payload.len();
            if fin.diff(self.rcv_nxt + self.rcv_wnd()) <= 0 {
                self.rx_fin = Some(fin);
            }
        }
        if !data.is_empty() {
            if self.rx_shut {
                // Nobody will read: take it off the window and drop it. Only in-order data
                // (and what it joins up with in the out-of-order queue) moves rcv_nxt; data
                // beyond a hole is just dropped, or the ACK would cover bytes never received.
                let end = seq + data.len();
                if end.diff(self.rcv_nxt) > 0 {
                    self.rx_discarded = true;
                }
                if seq.diff(self.rcv_nxt) <= 0 && end.diff(self.rcv_nxt) > 0 {
                    self.rcv_nxt = self.ooo.drain_contiguous(end, &mut |_: &[u8]| {});
                }
                self.ack_now = true;
                data = Payload::from_slice(&[]);
            }
            let skip = self.rcv_nxt.since(seq) as usize;
            if skip >= data.len() {
                if !data.is_empty() {
                    // Entirely old: the peer retransmitted what we have; tell it at once.
                    self.ack_now = true;
                }
                data = Payload::from_slice(&[]);
            } else {
                data = data.slice(skip, usize::MAX);
                seq = seq + skip;
            }
        }
        if !data.is_empty() {
            if seq == self.rcv_nxt {
                self.measure_rcv_mss(payload.segment_len(), f, now);
                let n = data.len().min(self.rx.free());
                if n < data.len() {
                    // No room (a zero window): what does not fit is dropped and an ACK
                    // repeats the window at once (Linux `tcp_data_queue`, out_of_window).
                    self.ack_now = true;
                }
                queue_payload(&mut self.rx, &data.slice(0, n));
                self.rcv_nxt = self.rcv_nxt + n;
                self.info.bytes_received += n as u64;
                self.unacked_rx += n;
                if !self.ooo.is_empty() {
                    let rx = &mut self.rx;
                    let mut got = 0usize;
                    let nxt = self.ooo.drain_contiguous(self.rcv_nxt, &mut |c: &[u8]| {
                        // Bytes the window took: queued whole even when SO_RCVBUF was
                        // lowered since, as rcv_nxt moves past them.
                        got += rx.push_over_limit(c);
                    });
                    self.info.bytes_received += got as u64;
                    self.rcv_nxt = nxt;
                    if self.ooo.is_empty() && self.ooo.limit() > self.rx.limit() {
                        // Kept larger while SACKed data spanned more than a lowered
                        // SO_RCVBUF; empty now, so shrinking costs no copy.
                        self.fit_ooo();
                    }
                    // Filling a hole is acknowledged at once (RFC 5681 §4.2).
                    self.ack_now = true;
                }
                self.schedule_ack(now);
            } else {
                let room = (self.rcv_nxt + self.rx.free()).since(seq) as usize;
                let take = data.len().min(room);
                let mut stored = 0;
                let mut at = seq;
                for part in data.slice(0, take).parts() {
                    stored += self.ooo.insert(self.rcv_nxt, at, part);
                    at = at + part.len();
                }
                self.info.ooo_segs += 1;
                if stored < data.len() {
                    self.info.ooo_drops += (data.len() - stored) as u64;
                    mib.ofo_drops += 1;
                }
                // Out of order: a duplicate ACK with SACK blocks right away.
                self.ack_now = true;
            }
        }
        if let Some(fin) = self.rx_fin {
            if fin == self.rcv_nxt && !self.rx_eof && self.ooo.is_empty() {
                self.rcv_nxt += 1;
                self.rx_eof = true;
                self.ack_now = true;
                match self.state {
                    TcpState::Established => self.state = TcpState::CloseWait,
                    TcpState::FinWait1 => {
                        if self.fin_acked() {
                            self.enter_time_wait(now);
                        } else {
                            self.state = TcpState::Closing;
                        }
                    }
                    TcpState::FinWait2 => self.enter_time_wait(now),
                    _ => {}
                }
            }
        }
    }

    // ------------------------------------------------------------------ output

    fn can_send_state(&self) -> bool {
        matches!(
            self.state,
            TcpState::Established
                | TcpState::CloseWait
                | TcpState::FinWait1
                | TcpState::Closing
                | TcpState::LastAck
        )
    }

    /// Data bytes queued but not yet sent from `snd_nxt`.
    fn unsent(&self) -> u32 {
        (self.snd_una + self.tx.len() as u32).since(self.snd_nxt)
    }

    /// True when our FIN has been sent at least once.
    fn fin_sent(&self) -> bool {
        self.fin_seq.is_some()
    }

    /// True when the peer acknowledged our FIN.
    fn fin_acked(&self) -> bool {
        self.fin_seq.is_some_and(|f| self.snd_una.diff(f) > 0)
    }

    fn window_field(&mut self, syn: bool) -> u16 {
        let wnd = self.rcv_wnd();
        if syn {
            return wnd.min(65_535) as u16;
        }
        // Receiver SWS avoidance (RFC 9293 §3.8.6.2.2, Linux `__tcp_select_window`): keep
        // the advertised window's size while it lies within one segment below the free space,
        // else round the free space down to whole segments; never pull the right edge back.
        // A steady window is also what lets the sender's header prediction hold.
        let free = self.rx.free().min(u32::MAX as usize / 2) as u32;
        // The step is min(RCV.BUFF / 2, MSS) (RFC 1122 §4.2.3.3): a buffer smaller than two
        // segments must still open (Linux caps the MSS at the full space likewise).
        let half_buf = (self.rx.limit() / 2).clamp(1, u32::MAX as usize) as u32;
        let mss = self.snd_mss_base().clamp(1, half_buf);
        let mut w = self.last_wnd;
        if w > free || w.saturating_add(mss) <= free {
            w = if free >= mss { free - free % mss } else { free };
        }
        let cur = self.rcv_adv.since(self.rcv_nxt);
        let w = w.max(cur);
        self.last_wnd = w;
        // Scaled, the field truncates: the window already advertised is rounded up instead,
        // or the right edge would move left by up to a scale unit (Linux `tcp_select_window`:
        // `ALIGN(cur_win, 1 << rcv_wscale)`). The new window is rounded up too when the free
        // space has room for it: truncated, a window of whole segments loses part of its
        // last one (one segment of 1460 becomes 1408 with a scale of 7, less than the
        // sender's full segment, which its SWS avoidance then waits for). Linux aligns the
        // free space up to the unit likewise (`__tcp_select_window`).
        let unit = 1u32 << self.rcv_wscale;
        let up = w.div_ceil(unit);
        let wf = if up.saturating_mul(unit) <= free {
            up
        } else {
            w >> self.rcv_wscale
        };
        let field = wf.max(cur.div_ceil(unit)).min(65_535);
        self.rcv_adv = self.rcv_nxt + (field << self.rcv_wscale);
        field as u16
    }

    fn options(&self, now: Instant, syn: bool, with_sack: bool) -> TcpOptions {
        let mut o = TcpOptions::default();
        if syn {
            o.mss = Some(self.adv_mss);
            let ours = self.state == TcpState::SynSent;
            if self.cfg.window_scaling && (ours || self.rcv_wscale > 0 || self.snd_wscale > 0) {
                o.window_scale = Some(self.rcv_wscale);
            }
            o.sack_permitted = self.cfg.sack && (ours || self.sack_ok);
        }
        let use_ts = if syn {
            self.cfg.timestamps && (self.state == TcpState::SynSent || self.ts_ok)
        } else {
            self.ts_ok
        };
        if use_ts {
            o.timestamps = Some(TcpTimestamps {
                tsval: ts_now(now).wrapping_add(self.ts_offset),
                tsecr: if self.state == TcpState::SynSent {
                    0
                } else {
                    self.ts_recent
                },
            });
        }
        if with_sack && self.sack_ok && !self.ooo.is_empty() {
            let max = if use_ts { 3 } else { 4 };
            let (blocks, n) = self.ooo.sack_blocks(self.rcv_nxt, max);
            for (slot, b) in o.sack_blocks.iter_mut().zip(blocks.iter().take(n)) {
                *slot = Some(*b);
            }
        }
        o
    }

    fn header(&mut self, seq: Seq, flags: u16, now: Instant, syn: bool) -> TcpRepr {
        let ack = self.state != TcpState::SynSent || !syn;
        let flags = if ack && self.state != TcpState::SynSent {
            flags | TcpFlags::ACK
        } else {
            flags
        };
        let options = self.options(now, syn, !syn);
        let window = self.window_field(syn);
        if flags & TcpFlags::ACK != 0 {
            self.last_ack_sent = self.rcv_nxt;
            self.unacked_rx = 0;
            self.ack_pushed = 0;
            self.delack_at = None;
            self.ack_now = false;
        }
        TcpRepr {
            src_port: self.local.port(),
            dst_port: self.remote.port(),
            seq: seq.0,
            ack: if flags & TcpFlags::ACK != 0 {
                self.rcv_nxt.0
            } else {
                0
            },
            flags: TcpFlags(flags),
            window,
            urgent: 0,
            options,
        }
    }

    /// Payload one wire segment may carry with the options data segments have.
    fn mss_now(&self, lim: &OutLimits) -> u32 {
        let mut m = self.snd_mss_base().min(lim.path_mss);
        if self.ts_ok {
            m -= 12;
        }
        if self.sack_ok && !self.ooo.is_empty() {
            m -= if self.ts_ok { 28 } else { 36 };
        }
        m.max(1)
    }

    /// Emits what the connection has to send now into `out` (at most [`OUTPUT_BATCH`]).
    ///
    /// Every segment emitted counts as sent; when the stack cannot send one, it calls
    /// [`Self::unsend`] straight after.
    pub fn poll_output(&mut self, now: Instant, lim: &OutLimits, out: &mut Vec<OutSeg>) {
        let start = out.len();
        self.sync_mss(lim.path_mss);
        self.undo.clear();
        match self.state {
            TcpState::Closed | TcpState::Listen => return,
            TcpState::SynSent | TcpState::SynReceived if self.syn_pending => {
                self.mark(0);
                self.syn_pending = false;
                let flags = if self.state == TcpState::SynSent {
                    TcpFlags::SYN
                } else {
                    TcpFlags::SYN | TcpFlags::ACK
                };
                let retransmit = self.snd_max != self.iss;
                let repr = self.header(self.iss, flags, now, true);
                out.push(OutSeg {
                    repr,
                    data_off: 0,
                    len: 0,
                    gso_size: 0,
                    retransmit,
                });
                if !retransmit {
                    self.timed = Some((self.iss, now));
                }
                self.snd_nxt = self.iss + 1u32;
                self.snd_max = self.snd_nxt;
                self.rto_at = Some(self.rto_deadline(now));
            }
            _ => {}
        }
        if self.can_send_state() {
            self.output_data(now, lim, out, start);
        }
        let sent_ack = out[start..]
            .iter()
            .any(|s| s.repr.flags.contains(TcpFlags::ACK));
        if (self.ack_now || self.challenge_ack || self.probe_seq)
            && !sent_ack
            && !matches!(self.state, TcpState::SynSent | TcpState::Closed)
        {
            // A pure ACK carries the highest sequence sent: after a timeout `snd_nxt` is
            // rewound for go-back-N, and an ACK numbered below what the peer already has
            // would fail its acceptability test (Linux `tcp_acceptable_seq`).
            let seq = if self.probe_seq {
                self.snd_una - 1
            } else {
                self.snd_max
            };
            self.mark(out.len() - start);
            if self.challenge_ack {
                self.info.challenge_acks += 1;
            }
            self.challenge_ack = false;
            self.probe_seq = false;
            let repr = self.header(seq, TcpFlags::ACK, now, false);
            out.push(OutSeg {
                repr,
                data_off: 0,
                len: 0,
                gso_size: 0,
                retransmit: false,
            });
        }
        self.challenge_ack = false;
        self.probe_seq = false;
        self.info.segs_out += (out.len() - start) as u64;
        // RFC 5681 §4.1 idles on data: a pure ACK does not end an idle period (Linux
        // `lsndtime`, set in `tcp_event_data_sent`).
        if out[start..]
            .iter()
            .any(|s| s.len > 0 || s.repr.flags.contains(TcpFlags::FIN))
        {
            self.last_tx = now;
        }
    }

    /// Saves the output state as it is before the batch's segment `k` (a later mark for the
    /// same `k` replaces it: a loop turn that emitted nothing).
    fn mark(&mut self, k: usize) {
        self.undo.truncate(k);
        self.undo.push(OutputMark {
            snd_nxt: self.snd_nxt,
            snd_max: self.snd_max,
            high_rxt: self.high_rxt,
            rescue_rxt: self.rescue_rxt,
            snd_sml: self.snd_sml,
            fin_seq: self.fin_seq,
            timed: self.timed,
            rto_at: self.rto_at,
            persist_at: self.persist_at,
            delack_at: self.delack_at,
            force_rexmit: self.force_rexmit,
            head_tx: self.head_tx,
            rxt_round_end: self.rxt_round_end,
            syn_pending: self.syn_pending,
            force_small: self.force_small,
            ack_now: self.ack_now,
            challenge_ack: self.challenge_ack,
            probe_seq: self.probe_seq,
            last_ack_sent: self.last_ack_sent,
            unacked_rx: self.unacked_rx,
            ack_pushed: self.ack_pushed,
            last_wnd: self.last_wnd,
            rcv_adv: self.rcv_adv,
            retransmits: self.info.retransmits,
            challenge_acks: self.info.challenge_acks,
            last_tx: self.last_tx,
        });
    }

    /// Takes back segments `k..k + n` of the last [`Self::poll_output`] batch (indices into
    /// what that call added): the host refused segment `k` locally (its interface queue was
    /// full), so neither it nor anything after it left. The connection returns to its state
    /// before segment `k`: `snd_nxt` stands before it, no loss or retransmission is recorded
    /// for it, and an ACK it carried is still owed. The caller sends again later; in case
    /// nothing else wakes the connection, a retry timer is left running when no
    /// retransmission timer does (Linux arms its probe timer after a local drop), so a
    /// refused segment can never stall it.
    ///
    /// Does nothing when `k` names no segment of the last batch.
    pub fn unsend(&mut self, k: usize, n: usize, now: Instant) {
        let Some(m) = self.undo.get(k).copied() else {
            return;
        };
        self.undo.truncate(k);
        self.snd_nxt = m.snd_nxt;
        self.snd_max = m.snd_max;
        self.high_rxt = m.high_rxt;
        self.rescue_rxt = m.rescue_rxt;
        self.snd_sml = m.snd_sml;
        self.fin_seq = m.fin_seq;
        self.timed = m.timed;
        self.rto_at = m.rto_at;
        self.persist_at = m.persist_at;
        self.delack_at = m.delack_at;
        self.force_rexmit = m.force_rexmit;
        self.head_tx = m.head_tx;
        self.rxt_round_end = m.rxt_round_end;
        self.syn_pending = m.syn_pending;
        self.force_small = m.force_small;
        self.ack_now = m.ack_now;
        self.challenge_ack = m.challenge_ack;
        self.probe_seq = m.probe_seq;
        self.last_ack_sent = m.last_ack_sent;
        self.unacked_rx = m.unacked_rx;
        self.ack_pushed = m.ack_pushed;
        self.last_wnd = m.last_wnd;
        self.rcv_adv = m.rcv_adv;
        self.info.retransmits = m.retransmits;
        self.info.challenge_acks = m.challenge_acks;
        self.info.segs_out = self.info.segs_out.saturating_sub(n as u64);
        if k == 0 {
            // Nothing of the batch left: the connection has been idle since it last sent
            // (what the idle restart of RFC 5681 §4.1 measures).
            self.last_tx = m.last_tx;
        }
        if self.rto_at.is_none() && self.wants_output() {
            // Its own timer, not the RTO: an RTO armed with nothing in flight would still
            // be running, too early, when data is next sent. It backs off like the RTO.
            let wait = self
                .rtt
                .rto()
                .saturating_mul(1 << self.local_retries.min(6))
                .min(self.cfg.rto.max);
            self.xmit_retry_at = Some(now + wait);
        }
    }

    /// The stack handed the whole of the last [`Self::poll_output`] batch (at least one
    /// segment) to the interface: a pending local retry is no longer needed.
    pub fn batch_sent(&mut self) {
        self.xmit_retry_at = None;
        self.local_retries = 0;
        // The batch's segments have their sums. The next new segment starts at `snd_nxt`:
        // bytes written from now on are summed in cells cut from there, so that a short
        // segment sent last (a small write, sent at once) does not leave the next writes
        // summed on cells no segment will match (and summed again when the next batch moves
        // the cells there, and once more when the segment is built).
        let next = self.snd_nxt.since(self.snd_una) as usize;
        self.tx.track_cells(next, self.tx.cell_size());
    }

    fn emit_data(
        &mut self,
        seq: Seq,
        len: u32,
        mss: u32,
        now: Instant,
        retransmit: bool,
        out: &mut Vec<OutSeg>,
    ) {
        let data_end = self.snd_una + self.tx.len() as u32;
        let mut flags = 0;
        let end = seq + len;
        if end == data_end {
            flags |= TcpFlags::PSH;
            if self.fin_queued {
                flags |= TcpFlags::FIN;
            }
        }
        if len == 0 && flags & TcpFlags::FIN == 0 {
            return;
        }
        if len > 0
            && self
                .last_data_rx
                .is_some_and(|t| now.saturating_duration_since(t) < self.cfg.delayed_ack)
        {
            // Data sent within the delayed-ACK time of data received: an interactive
            // exchange (Linux `tcp_event_data_sent`).
            self.pingpong = true;
        }
        let repr = self.header(seq, flags, now, false);
        let gso_size = if len > mss { mss as u16 } else { 0 };
        out.push(OutSeg {
            repr,
            data_off: seq.since(self.snd_una) as usize,
            len: len as usize,
            gso_size,
            retransmit,
        });
        if flags & TcpFlags::FIN != 0 {
            self.fin_seq = Some(end);
        }
        let seg_end = end + u32::from(flags & TcpFlags::FIN != 0);
        if seq.diff(self.snd_una) <= 0 && seg_end.diff(self.snd_una) > 0 {
            self.head_tx = Some((seg_end, now));
        }
        if retransmit {
            self.info.retransmits += u64::from(len.div_ceil(mss).max(1));
            // Only data sent after the latest retransmission proves it lost: one sent
            // before new data that is now SACKed may still be on its way.
            self.rxt_round_end = Some(self.snd_max);
        }
        if !retransmit && len % mss != 0 {
            // A short segment, or a super-packet ending in one (Linux `tcp_minshall_update`).
            self.snd_sml = end;
        }
        if self.timed.is_none() && !retransmit && self.snd_max == seq {
            self.timed = Some((seq, now));
        }
        if self.snd_max.diff(seg_end) < 0 {
            self.snd_max = seg_end;
        }
        if self.rto_at.is_none() {
            self.rto_at = Some(now + self.rtt.rto());
        }
    }

    /// Data, retransmissions and a FIN into `out`, whose entries from `start` on are this
    /// batch's.
    fn output_data(&mut self, now: Instant, lim: &OutLimits, out: &mut Vec<OutSeg>, start: usize) {
        let mss = self.mss_now(lim);
        let seg_max = if lim.gso {
            (GSO_MAX_BYTES / mss).max(1) * mss
        } else {
            mss
        };
        // New data goes out in full segments from `snd_nxt` on: the sums taken as later bytes
        // are copied in line up with them.
        let cell = if lim.sum_cells { mss as usize } else { 0 };
        self.tx
            .track_cells(self.snd_nxt.since(self.snd_una) as usize, cell);
        // (And again once the batch is built: `batch_sent`.)
        while out.len() < OUTPUT_BATCH {
            self.mark(out.len() - start);
            // 1. The retransmission fast retransmit / a partial ACK asked for.
            if let Some(s) = self.force_rexmit.take() {
                if s.diff(self.snd_una) >= 0 && s.diff(self.snd_max) < 0 {
                    let data_end = self.snd_una + self.tx.len() as u32;
                    let len = data_end.since(s).min(mss);
                    self.emit_data(s, len, mss, now, true, out);
                    let end = s + len.max(1);
                    if self.high_rxt.diff(end) < 0 {
                        self.high_rxt = end;
                    }
                    if self.recovery.is_some() && self.rescue_rxt.is_none() {
                        // RFC 6675 §5 step (4.3): no rescue before this is acknowledged.
                        self.rescue_rxt = Some(end);
                    }
                    continue;
                }
            }
            let cwnd = self.cc.cwnd();
            let flight = self.in_flight(mss);
            let room = cwnd.saturating_sub(flight);
            // 2. SACK recovery, NextSeg rule 1: lost segments.
            if self.recovery.is_some() && self.sack_ok && room >= mss.min(cwnd) {
                if let Some((s, l)) = self.sb.next_seg(
                    self.snd_una,
                    self.snd_max,
                    self.high_rxt,
                    mss,
                    DUPTHRESH,
                    false,
                ) {
                    self.emit_data(s, l, mss, now, true, out);
                    self.high_rxt = s + l;
                    continue;
                }
            }
            // 3. New data (or, after a timeout, go-back-N resends below snd_max, skipping
            // what the receiver SACKed since: RFC 6675 §5.1, Linux's loss state).
            if self.snd_nxt.diff(self.snd_max) < 0 {
                if let Some(end) = self.sb.sacked_end(self.snd_nxt) {
                    self.snd_nxt = if end.diff(self.snd_max) < 0 {
                        end
                    } else {
                        self.snd_max
                    };
                    continue;
                }
            }
            let unsent = self.unsent();
            let wnd_end = self.snd_una + self.snd_wnd;
            let usable = wnd_end.since(self.snd_nxt);
            let can = unsent.min(usable).min(room);
            // Nagle or sender SWS avoidance holding new data skips only this rule: the
            // retransmissions of NextSeg rules 3 and 4 below still go (RFC 6675 §4).
            if can > 0 {
                let mut len = can.min(seg_max);
                // Nagle (RFC 896, RFC 1122 §4.2.3.4) in Minshall's variant, as Linux's
                // `tcp_nagle_check`: the short tail of what is queued waits only while a
                // short segment sent earlier is unacknowledged; full segments in flight do
                // not hold it (else a write of 1.5 segments would wait for the delayed ACK
                // of its first). No-delay and a FIN following the tail send it at once.
                let small_out =
                    self.snd_sml.diff(self.snd_una) > 0 && self.snd_sml.diff(self.snd_nxt) <= 0;
                let nagle_ok = self.nodelay || self.fin_queued || !small_out;
                let mut held = false;
                if len < mss {
                    // Nagle and sender SWS avoidance (RFC 9293 §3.8.6.2.1): a short segment
                    // only when it is the tail of what is queued and Nagle lets it go, or
                    // when it fills half the peer's window.
                    let tail = len == unsent;
                    let half = self.max_snd_wnd > 0 && len >= self.max_snd_wnd / 2;
                    let resend = self.snd_nxt.diff(self.snd_max) < 0;
                    let forced = std::mem::take(&mut self.force_small);
                    held = !(resend || half || forced || (tail && nagle_ok));
                } else if len > mss && len % mss != 0 && (len < unsent || !nagle_ok) {
                    // Full segments only: the rest is not the tail, or Nagle holds the tail
                    // (Linux `tcp_mss_split_point`).
                    len -= len % mss;
                }
                if !held {
                    let s = self.snd_nxt;
                    let resend = s.diff(self.snd_max) < 0;
                    if resend {
                        len = len.min(self.snd_max.since(s)).min(mss.max(len));
                        if let Some(n) = self.sb.next_sacked(s) {
                            len = len.min(n.since(s));
                        }
                    }
                    self.emit_data(s, len, mss, now, resend, out);
                    let fin = out
                        .last()
                        .is_some_and(|o| o.repr.flags.contains(TcpFlags::FIN));
                    self.snd_nxt = s + len + u32::from(fin);
                    continue;
                }
            }
            // 4. SACK recovery, NextSeg rule 3.
            if self.recovery.is_some() && self.sack_ok && room >= mss.min(cwnd) {
                if let Some((s, l)) = self.sb.next_seg(
                    self.snd_una,
                    self.snd_max,
                    self.high_rxt,
                    mss,
                    DUPTHRESH,
                    true,
                ) {
                    self.emit_data(s, l, mss, now, true, out);
                    self.high_rxt = s + l;
                    continue;
                }
            }
            // 5. SACK recovery, NextSeg rule 4: once per recovery, after its first
            // retransmission was acknowledged, the segment holding the highest unSACKed octet.
            // A lost tail has no SACKed data above it to show it lost (rule 1) or to lie
            // below (rule 3), and no ACK would come for it but the timer's.
            if let (Some(rp), Some(rescue)) = (self.recovery, self.rescue_rxt) {
                if self.sack_ok && room >= mss.min(cwnd) && self.snd_una.diff(rescue) > 0 {
                    if let Some((s, top)) =
                        self.sb.highest_unsacked(self.snd_una, self.snd_max, mss)
                    {
                        let data_end = self.snd_una + self.tx.len() as u32;
                        let end = if top.diff(data_end) > 0 {
                            data_end
                        } else {
                            top
                        };
                        // HighRxt stays: the rescued octets are not counted in pipe.
                        self.rescue_rxt = Some(rp);
                        self.emit_data(s, end.since(s), mss, now, true, out);
                        continue;
                    }
                }
            }
            // 6. A FIN with no data left to carry it.
            if self.fin_queued && unsent == 0 && self.snd_nxt == self.snd_una + self.tx.len() as u32
            {
                let s = self.snd_nxt;
                let resend = self.fin_sent();
                self.emit_data(s, 0, mss, now, resend, out);
                self.snd_nxt = s + 1u32;
                continue;
            }
            break;
        }
        // Data waiting, nothing in flight, and the window (zero, or too small for a segment)
        // let nothing go: the persist timer probes, so a lost window update cannot stall us.
        if self.unsent() > 0 && self.snd_una == self.snd_max && self.persist_at.is_none() {
            self.persist_at = Some(now + self.persist_interval());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIM: OutLimits = OutLimits {
        path_mss: 1460,
        gso: false,
        sum_cells: false,
    };

    fn at(ms: u64) -> Instant {
        Instant::ZERO + Duration::from_millis(ms)
    }

    /// A client and a server block, established by handing the handshake across by hand.
    fn established() -> (Conn, Conn) {
        established_with(TcpConfig::default())
    }

    fn established_with(cfg: TcpConfig) -> (Conn, Conn) {
        let a: SocketAddrV4 = "10.0.0.1:40000".parse().unwrap();
        let b: SocketAddrV4 = "10.0.0.2:5001".parse().unwrap();
        let mut mib = TcpMib::default();
        let mut client = Conn::connect(&cfg, a, b, Seq(1000), 1460, at(0));
        let mut out = Vec::new();
        client.poll_output(at(0), &LIM, &mut out);
        let syn = out[0].repr;
        let mut server = Conn::accept_syn(&cfg, b, a, Seq(9000), 1460, &syn, at(1));
        out.clear();
        server.poll_output(at(1), &LIM, &mut out);
        let syn_ack = out[0].repr;
        client.on_segment(&syn_ack, &Payload::from_slice(&[]), at(2), &mut mib);
        out.clear();
        client.poll_output(at(2), &LIM, &mut out);
        server.on_segment(&out[0].repr, &Payload::from_slice(&[]), at(3), &mut mib);
        assert_eq!(client.state(), TcpState::Established);
        assert_eq!(server.state(), TcpState::Established);
        (client, server)
    }

    #[test]
    fn segments_of_small_writes_sent_at_once_take_their_sums_from_the_copy() {
        // No checksum offload: the send queue sums the bytes as they are copied in. Writes of
        // any size sent at once (no delay), one after another without waiting for ACKs: every
        // segment, the short ones that end each write too, finds its payload's sum there, so
        // none is read again when it is built.
        const SUMS: OutLimits = OutLimits {
            path_mss: 1460,
            gso: false,
            sum_cells: true,
        };
        let (mut c, _) = established();
        c.nodelay = true;
        let mut out = Vec::new();
        let (mut segs, mut known) = (0, 0);
        for k in 0..40usize {
            let w = [1, 100, 7, 1448, 3000, 333][k % 6];
            let data: Vec<u8> = (0..w).map(|i| (i * 31 + k * 7) as u8).collect();
            let now = at(10 + k as u64);
            assert_eq!(c.send(&data, now), Ok(w));
            out.clear();
            c.poll_output(now, &SUMS, &mut out);
            for o in out.iter().filter(|o| o.len > 0) {
                segs += 1;
                let mut bytes = vec![0u8; o.len];
                assert_eq!(c.send_queue().peek(o.data_off, &mut bytes), o.len);
                if let Some(s) = c.send_queue().segment_sum(o.data_off, o.len) {
                    assert_eq!(s, crate::wire::checksum::sum(&bytes));
                    known += 1;
                }
            }
            if !out.is_empty() {
                c.batch_sent();
            }
        }
        assert!(segs > 10, "{segs} segments");
        assert_eq!(known, segs, "{known} of {segs} segments had their sums");
    }

    #[test]
    fn unsent_segments_go_again_as_new_data_not_retransmissions() {
        let (mut c, _) = established();
        c.nodelay = true;
        assert_eq!(c.send(&[7u8; 10 * 1448], at(10)), Ok(10 * 1448));
        let mut out = Vec::new();
        c.poll_output(at(10), &LIM, &mut out);
        assert_eq!(out.len(), 10);
        let first = out.clone();
        let sent_before = c.info.segs_out;
        // The host took three segments and refused the fourth.
        c.unsend(3, 7, at(10));
        assert_eq!(c.info.segs_out, sent_before - 7);
        assert_eq!(c.snd_nxt, Seq(first[3].repr.seq));
        assert_eq!(c.snd_max, Seq(first[3].repr.seq));
        out.clear();
        c.poll_output(at(11), &LIM, &mut out);
        assert_eq!(out.len(), 7);
        assert_eq!(out[0].repr.seq, first[3].repr.seq);
        assert!(out.iter().all(|s| !s.retransmit));
        assert_eq!(c.info.retransmits, 0);
    }

    #[test]
    fn an_unsent_fin_and_ack_are_still_owed() {
        let (mut c, mut s) = established();
        let mut mib = TcpMib::default();
        // Data from the server makes the client owe an ACK; the client closes too.
        assert_eq!(s.send(b"hello", at(10)), Ok(5));
        let mut out = Vec::new();
        s.poll_output(at(10), &LIM, &mut out);
        c.on_segment(
            &out[0].repr,
            &Payload::from_slice(b"hello"),
            at(11),
            &mut mib,
        );
        c.shutdown_write();
        out.clear();
        c.poll_output(at(11), &LIM, &mut out);
        assert_eq!(out.len(), 1);
        let fin = out[0].repr;
        assert!(fin.flags.contains(TcpFlags::FIN) && fin.flags.contains(TcpFlags::ACK));
        c.unsend(0, 1, at(11));
        assert!(!c.fin_sent());
        assert!(c.wants_output());
        // Nothing is in flight, so no retransmission timer runs; the retry timer does.
        assert_eq!(c.rto_at, None);
        assert!(c.next_timer().is_some());
        out.clear();
        c.poll_output(at(12), &LIM, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].repr.seq, fin.seq);
        assert_eq!(out[0].repr.ack, fin.ack);
        assert!(out[0].repr.flags.contains(TcpFlags::FIN));
        assert!(!out[0].retransmit);
        c.batch_sent();
        assert_eq!(c.xmit_retry_at, None);
    }

    #[test]
    fn a_refused_batch_does_not_end_an_idle_period() {
        let (mut c, _) = established();
        let idle_since = c.last_tx;
        assert_eq!(c.send(b"after a long pause", at(5_000)), Ok(18));
        let mut out = Vec::new();
        c.poll_output(at(5_000), &LIM, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(c.last_tx, at(5_000));
        c.unsend(0, 1, at(5_000));
        assert_eq!(c.last_tx, idle_since);
        // A batch of which a first segment left does count as sending.
        out.clear();
        c.poll_output(at(5_001), &LIM, &mut out);
        assert_eq!(out.len(), 1);
        c.unsend(1, 0, at(5_001));
        assert_eq!(c.last_tx, at(5_001));
    }

    /// Hands every segment `from` has to send at `now` to `to` (payload as zeros); returns
    /// the segments.
    fn deliver(from: &mut Conn, to: &mut Conn, now: Instant) -> Vec<OutSeg> {
        let mut mib = TcpMib::default();
        let mut out = Vec::new();
        from.poll_output(now, &LIM, &mut out);
        for o in &out {
            let data = vec![0u8; o.len];
            to.on_segment(&o.repr, &Payload::from_slice(&data), now, &mut mib);
        }
        out
    }

    #[test]
    fn pure_acks_do_not_end_an_idle_period() {
        // RFC 5681 §4.1: cwnd goes back to the restart window when the TCP "has not sent
        // data in an interval exceeding the retransmission timeout" — ACKs for data it
        // receives are not data (Linux measures from `lsndtime`, set only by data).
        let (mut c, mut s) = established();
        let mut mib = TcpMib::default();
        let mut buf = vec![0u8; 1 << 16];
        // A bulk transfer grows the client's window past the initial one.
        let data = vec![1u8; 400_000];
        let (mut sent, mut t) = (0, 10);
        while sent < data.len() || !c.tx.is_empty() {
            sent += c.send(&data[sent..], at(t)).unwrap_or(0);
            deliver(&mut c, &mut s, at(t));
            while s.recv(&mut buf, at(t)).is_ok_and(|n| n > 0) {}
            s.on_timer(at(t), &mut mib);
            deliver(&mut s, &mut c, at(t));
            t += 1;
        }
        let iw = super::super::cc::initial_window(c.snd_mss_base());
        assert!(
            c.cc.cwnd() > iw + 5 * c.snd_mss_base(),
            "cwnd {}",
            c.cc.cwnd()
        );
        // Two seconds, many RTOs, in which the client sends no data, only ACKs for what the
        // server sends it.
        s.nodelay = true;
        let quiet_from = t;
        while t < quiet_from + 2_000 {
            s.send(&[2u8; 100], at(t)).unwrap();
            deliver(&mut s, &mut c, at(t));
            while c.recv(&mut buf, at(t)).is_ok_and(|n| n > 0) {}
            c.on_timer(at(t), &mut mib);
            deliver(&mut c, &mut s, at(t));
            t += 20;
        }
        assert!(c.rtt.rto() < Duration::from_secs(1), "{:?}", c.rtt);
        assert_eq!(c.send(&data, at(t)), Ok(data.len()));
        assert!(
            c.cc.cwnd() <= iw,
            "cwnd {} after 2 s without sending data (restart window {iw})",
            c.cc.cwnd()
        );
    }

    #[test]
    fn backed_off_rto_is_kept_until_a_new_rtt_sample() {
        // RFC 6298 §5 and Karn's algorithm: an ACK for retransmitted data yields no sample,
        // so the backed-off RTO stays until new data is timed; only "a new RTT measurement"
        // collapses it. Without timestamps, a path whose RTT rose above the RTO otherwise
        // times out on every segment for ever: each timeout discards the one sample that
        // could have fixed the RTO, and each ACK of the retransmission undoes the backoff.
        let cfg = TcpConfig {
            timestamps: false,
            ..TcpConfig::default()
        };
        let (mut c, mut s) = established_with(cfg);
        let mut mib = TcpMib::default();
        let mut buf = vec![0u8; 4096];
        // The handshake measured ~2 ms: RTO 200 ms. Now the path takes 150 ms each way.
        assert_eq!(c.rtt.rto(), Duration::from_millis(200));
        let one_way = 150;
        // (arrival time, to the server?, segment, payload length)
        let mut wire: Vec<(u64, bool, TcpRepr, usize)> = Vec::new();
        for t in 10..6_000u64 {
            // A request every second.
            if t % 1_000 == 10 {
                c.send(&[5u8; 100], at(t)).unwrap();
            }
            c.on_timer(at(t), &mut mib);
            s.on_timer(at(t), &mut mib);
            for (from, to_server) in [(&mut c, true), (&mut s, false)] {
                let mut out = Vec::new();
                from.poll_output(at(t), &LIM, &mut out);
                for o in out {
                    wire.push((t + one_way, to_server, o.repr, o.len));
                }
            }
            let (due, later): (Vec<_>, Vec<_>) = wire.drain(..).partition(|w| w.0 <= t);
            wire = later;
            for (_, to_server, repr, len) in due {
                let data = vec![5u8; len];
                let to = if to_server { &mut s } else { &mut c };
                to.on_segment(&repr, &Payload::from_slice(&data), at(t), &mut mib);
            }
            while s.recv(&mut buf, at(t)).is_ok_and(|n| n > 0) {}
        }
        assert!(
            c.info().timeouts <= 2,
            "{} timeouts for 6 requests; {:?}",
            c.info().timeouts,
            c.rtt
        );
    }

    #[test]
    fn a_retransmission_sent_after_the_sacked_data_is_not_declared_lost() {
        // The lost-retransmission rule (Linux `tcp_mark_lost_retrans`) may only declare lost
        // a retransmission sent *before* the new data now SACKed: one sent after it cannot
        // have arrived yet. Holes A (segment 0) and B (segment 5); A is resent, then new
        // segment 10, then B; the SACK of segment 10 must not send B a third time.
        let cfg = TcpConfig {
            timestamps: false,
            ..TcpConfig::default()
        };
        let (mut c, _) = established_with(cfg);
        let mut mib = TcpMib::default();
        let mss = c.snd_mss_base();
        assert_eq!(mss, 1460);
        let base = c.snd_una;
        let seg = |i: u32| base + i * mss;
        let ack = |c: &Conn, una: u32, sacks: &[(u32, u32)]| {
            let mut options = TcpOptions::default();
            for (slot, &(l, r)) in options.sack_blocks.iter_mut().zip(sacks) {
                *slot = Some(SackBlock {
                    left: seg(l).0,
                    right: seg(r).0,
                });
            }
            TcpRepr {
                src_port: c.remote.port(),
                dst_port: c.local.port(),
                seq: c.rcv_nxt.0,
                ack: seg(una).0,
                flags: TcpFlags(TcpFlags::ACK),
                window: 1000,
                urgent: 0,
                options,
            }
        };
        let mut log: Vec<(u32, bool)> = Vec::new();
        let mut step =
            |log: &mut Vec<(u32, bool)>, c: &mut Conn, t: u64, una: u32, sacks: &[(u32, u32)]| {
                if una != u32::MAX {
                    let a = ack(c, una, sacks);
                    c.on_segment(&a, &Payload::from_slice(&[]), at(t), &mut mib);
                }
                let mut out = Vec::new();
                c.poll_output(at(t), &LIM, &mut out);
                for o in &out {
                    log.push((Seq(o.repr.seq).since(base) / mss, o.retransmit));
                }
            };
        c.send(&vec![1u8; 40 * mss as usize], at(10)).unwrap();
        step(&mut log, &mut c, 10, u32::MAX, &[]);
        // Segments 0 and 5 lost. 1-4 arrive: A (0) is lost and resent.
        step(&mut log, &mut c, 20, 0, &[(1, 4)]);
        step(&mut log, &mut c, 21, 0, &[(1, 5)]);
        // 6, 7, 8 arrive: B (5) is lost and resent, after new segments went out.
        step(&mut log, &mut c, 22, 0, &[(6, 7), (1, 5)]);
        step(&mut log, &mut c, 23, 0, &[(6, 8), (1, 5)]);
        step(&mut log, &mut c, 24, 0, &[(6, 9), (1, 5)]);
        step(&mut log, &mut c, 25, 0, &[(6, 10), (1, 5)]);
        let at_a = log.iter().position(|&e| e == (0, true)).expect("A resent");
        let at_n = log.iter().position(|&e| e == (10, false)).expect("10 sent");
        let at_b = log.iter().position(|&e| e == (5, true)).expect("B resent");
        assert!(at_a < at_n && at_n < at_b, "{log:?}");
        // The resent A arrives, then segment 10 (sent before B was resent).
        step(&mut log, &mut c, 40, 5, &[(6, 10)]);
        step(&mut log, &mut c, 41, 5, &[(6, 11)]);
        let b_sent = log.iter().filter(|&&e| e == (5, true)).count();
        assert_eq!(
            b_sent, 1,
            "B resent again before its retransmission could arrive: {log:?}"
        );
    }

    #[test]
    fn unsend_out_of_range_changes_nothing() {
        let (mut c, _) = established();
        let snd_nxt = c.snd_nxt;
        c.unsend(5, 1, at(10));
        assert_eq!(c.snd_nxt, snd_nxt);
        assert!(!c.wants_output());
    }

    fn from_peer(c: &Conn, seq: u32, ack: u32, flags: u16, window: u16) -> TcpRepr {
        let (src_port, dst_port) = (c.remote.port(), c.local.port());
        let (flags, urgent, options) = (TcpFlags(flags), 0, TcpOptions::default());
        TcpRepr {
            src_port,
            dst_port,
            seq,
            ack,
            flags,
            window,
            urgent,
            options,
        }
    }

    fn syn_sent(cfg: &TcpConfig) -> Conn {
        let a: SocketAddrV4 = "10.0.0.1:40000".parse().unwrap();
        let b: SocketAddrV4 = "10.0.0.2:5001".parse().unwrap();
        let mut c = Conn::connect(cfg, a, b, Seq(1000), 1460, at(0));
        c.poll_output(at(0), &LIM, &mut Vec::new());
        c
    }

    const NONE: Payload<'static> = Payload {
        parts: [&[]; MAX_FRAGS + 1],
        n: 0,
        len: 0,
        src: None,
    };

    /// RFC 7323 §2.2: the window of a SYN-ACK is never scaled.
    #[test]
    fn syn_ack_window_is_not_scaled() {
        let mut c = syn_sent(&TcpConfig::default());
        let mut syn_ack = from_peer(&c, 5000, 1001, TcpFlags::SYN | TcpFlags::ACK, 1000);
        syn_ack.options.window_scale = Some(7);
        c.on_segment(&syn_ack, &NONE, at(1), &mut TcpMib::default());
        assert_eq!(c.state(), TcpState::Established);
        assert_eq!(c.info().snd_wnd, 1000, "SYN-ACK window must not be scaled");
    }

    /// RFC 9293 §3.7.1 (MUST-15): without an MSS option the send MSS is 536. Linux
    /// `tcp_parse_options` ignores an MSS option of 0 the same way (and the SYN-cookie path
    /// here already maps it to 536, the smallest table entry), instead of sending segments
    /// of the 64-byte floor.
    #[test]
    fn a_syn_ack_without_a_usable_mss_gets_the_default_536() {
        for mss in [None, Some(0)] {
            let mut c = syn_sent(&TcpConfig {
                timestamps: false,
                ..TcpConfig::default()
            });
            let mut syn_ack = from_peer(&c, 5000, 1001, TcpFlags::SYN | TcpFlags::ACK, 65_535);
            syn_ack.options.mss = mss;
            c.on_segment(&syn_ack, &NONE, at(1), &mut TcpMib::default());
            assert_eq!(c.state(), TcpState::Established);
            assert_eq!(c.info().snd_mss, 536, "MSS option {mss:?}");
            assert_eq!(c.mss_now(&LIM), 536, "MSS option {mss:?}");
        }
    }

    /// The same in a simultaneous open (SYN-SENT -> SYN-RECEIVED -> SYN-ACK arrives).
    #[test]
    fn simultaneous_open_syn_ack_window_is_not_scaled() {
        let mut mib = TcpMib::default();
        let mut c = syn_sent(&TcpConfig::default());
        let mut syn = from_peer(&c, 5000, 0, TcpFlags::SYN, 1000);
        syn.options.window_scale = Some(7);
        c.on_segment(&syn, &NONE, at(1), &mut mib);
        assert_eq!(c.state(), TcpState::SynReceived);
        c.poll_output(at(1), &LIM, &mut Vec::new());
        let mut syn_ack = from_peer(&c, 5000, 1001, TcpFlags::SYN | TcpFlags::ACK, 1000);
        syn_ack.options = syn.options;
        c.on_segment(&syn_ack, &NONE, at(2), &mut mib);
        assert_eq!(c.state(), TcpState::Established);
        assert_eq!(c.info().snd_wnd, 1000, "SYN-ACK window must not be scaled");
    }

    /// RFC 7323 §4.3 (2): TS.Recent <- SEG.TSval only if SEG.SEQ <= Last.ACK.sent, so a
    /// delayed ACK echoes the earliest unacknowledged segment's TSval. Header prediction too.
    #[test]
    fn ts_recent_follows_last_ack_sent_on_the_fast_path() {
        let (mut c, mut s) = established();
        let mut mib = TcpMib::default();
        s.nodelay = true;
        let mut segs = Vec::new();
        for (i, data) in [b"zzzz", b"aaaa", b"bbbb"].into_iter().enumerate() {
            let mut out = Vec::new();
            s.send(data, at(10 + i as u64)).unwrap();
            s.poll_output(at(10 + i as u64), &LIM, &mut out);
            segs.push(out[0].repr);
        }
        // The first exchange gives the client the server's scaled window; then ACKs delay.
        c.on_segment(&segs[0], &Payload::from_slice(b"zzzz"), at(20), &mut mib);
        c.poll_output(at(20), &LIM, &mut Vec::new());
        c.quickack = 0;
        let t1 = c.ts_recent.wrapping_add(10);
        for (k, seg) in segs[1..].iter_mut().enumerate() {
            let tsval = t1.wrapping_add(10 * k as u32);
            seg.options.timestamps = seg.options.timestamps.map(|t| TcpTimestamps { tsval, ..t });
            c.on_segment(seg, &Payload::from_slice(b"xxxx"), at(21), &mut mib);
        }
        assert_eq!(mib.hp_hits, 2, "both took header prediction");
        assert!(!c.wants_output(), "the ACK is delayed");
        c.on_timer(at(100), &mut mib);
        let mut out = Vec::new();
        c.poll_output(at(100), &LIM, &mut out);
        assert_eq!(out[0].repr.ack, segs[2].seq + 4);
        assert_eq!(
            out[0].repr.options.timestamps.unwrap().tsecr,
            t1,
            "must echo TSval of seg 1"
        );
    }

    /// A client that closed first, now in TIME-WAIT, and the server's FIN that put it there.
    fn client_in_time_wait() -> (Conn, TcpRepr) {
        let (mut c, mut s) = established();
        let mut mib = TcpMib::default();
        let mut out = Vec::new();
        c.shutdown_write();
        c.poll_output(at(10), &LIM, &mut out);
        s.on_segment(&out[0].repr, &NONE, at(11), &mut mib);
        s.shutdown_write();
        out.clear();
        s.poll_output(at(11), &LIM, &mut out);
        let fin = out[0].repr;
        c.on_segment(&fin, &NONE, at(12), &mut mib);
        assert_eq!(c.state(), TcpState::TimeWait);
        (c, fin)
    }

    /// RFC 9293 §3.10.7.4 (TIME-WAIT, FIN): a retransmitted FIN is acknowledged and restarts
    /// the 2 MSL timeout.
    #[test]
    fn retransmitted_fin_restarts_time_wait() {
        let (mut c, mut fin) = client_in_time_wait();
        let mut mib = TcpMib::default();
        let mut out = Vec::new();
        c.poll_output(at(12), &LIM, &mut Vec::new());
        // That ACK is lost: 30 s later the peer sends its FIN again.
        fin.options.timestamps = fin.options.timestamps.map(|t| TcpTimestamps {
            tsval: t.tsval.wrapping_add(30_000),
            ..t
        });
        c.on_segment(&fin, &NONE, at(30_012), &mut mib);
        out.clear();
        c.poll_output(at(30_012), &LIM, &mut out);
        assert_eq!(out.len(), 1, "the retransmitted FIN is acknowledged");
        assert_eq!(
            c.linger_at,
            Some(at(30_012) + c.cfg.time_wait),
            "2 MSL restarts"
        );
    }

    /// RFC 5961 §5.2: a segment with SEG.ACK < SND.UNA - MAX.SND.WND MUST be discarded
    /// (and an ACK sent): its data must not be taken.
    #[test]
    fn ack_older_than_max_snd_wnd_is_discarded() {
        let mut mib = TcpMib::default();
        let mut c = syn_sent(&TcpConfig {
            window_scaling: false,
            ..TcpConfig::default()
        });
        c.nodelay = true;
        // The peer's window is 4000 bytes and never grows.
        let syn_ack = from_peer(&c, 5000, 1001, TcpFlags::SYN | TcpFlags::ACK, 4000);
        c.on_segment(&syn_ack, &NONE, at(1), &mut mib);
        for t in 2..5 {
            let mut out = Vec::new();
            c.send(&[1u8; 3000], at(t)).unwrap();
            c.poll_output(at(t), &LIM, &mut out);
            let end = out.iter().map(|o| o.repr.seq + o.len as u32).max().unwrap();
            c.on_segment(
                &from_peer(&c, 5001, end, TcpFlags::ACK, 4000),
                &NONE,
                at(t),
                &mut mib,
            );
        }
        assert_eq!((c.snd_una, c.max_snd_wnd), (Seq(10_001), 4000));
        // A data segment in the receive window whose ACK is 5000 bytes old.
        let bad = from_peer(&c, 5001, 10_001 - 5000, TcpFlags::ACK | TcpFlags::PSH, 4000);
        c.on_segment(&bad, &Payload::from_slice(b"injected"), at(5), &mut mib);
        assert_eq!(
            c.info().bytes_received,
            0,
            "data with an unacceptable ACK was taken"
        );
        assert!(c.wants_output(), "an ACK answers it");
    }

    #[test]
    fn shrinking_rcvbuf_under_queued_ooo_data_loses_nothing_acknowledged() {
        let (mut c, mut s) = established();
        let mut mib = TcpMib::default();
        c.nodelay = true;
        let data: Vec<u8> = (0..8 * 1448).map(|i| (i % 251) as u8).collect();
        assert_eq!(c.send(&data, at(10)), Ok(data.len()));
        let mut out = Vec::new();
        c.poll_output(at(10), &LIM, &mut out);
        assert_eq!(out.len(), 8);
        let payload = |o: &OutSeg| {
            let mut b = vec![0u8; o.len];
            c.send_queue().peek(o.data_off, &mut b);
            b
        };
        let segs: Vec<(TcpRepr, Vec<u8>)> = out.iter().map(|o| (o.repr, payload(o))).collect();
        // The first segment is lost; the other seven wait in the out-of-order queue.
        for (repr, p) in &segs[1..] {
            s.on_segment(repr, &Payload::from_slice(p), at(11), &mut mib);
        }
        assert_eq!(s.info.ooo_drops, 0);
        // The application lowers SO_RCVBUF below what is already queued.
        s.set_rcvbuf(4096);
        let (repr, p) = &segs[0];
        s.on_segment(repr, &Payload::from_slice(p), at(12), &mut mib);
        // Every byte acknowledged (rcv_nxt) can be read.
        let acked = Seq(s.info().rcv_nxt).since(Seq(segs[0].0.seq)) as usize;
        let mut got = vec![0u8; data.len() + 1];
        let n = s.recv(&mut got, at(13)).unwrap();
        assert_eq!(acked, data.len());
        assert_eq!(n, acked);
        assert_eq!(&got[..n], &data[..]);
    }

    /// Out-of-order data counts against the receive buffer (Linux charges each out-of-order
    /// skb's truesize to `sk_rmem_alloc` and `tcp_prune_ofo_queue` keeps it under
    /// `sk_rcvbuf`): one-byte segments each with a hole before it must not make the
    /// connection hold more than a small multiple of its receive buffer, whatever
    /// `tcp_rmem[2]` is. What does not fit is dropped and counted, and once the peer resends
    /// in order the stream comes out exact.
    #[test]
    fn one_byte_segments_with_holes_hold_memory_bounded_by_the_receive_buffer() {
        let cfg = TcpConfig {
            timestamps: false,
            ..TcpConfig::default()
        };
        assert!(cfg.rcvbuf_max >= 16 * cfg.rcvbuf);
        let (_, mut s) = established_with(cfg);
        let mut mib = TcpMib::default();
        let (base, ack) = (s.rcv_nxt, s.snd_una.0);
        let byte = |k: u32| (k % 251) as u8;
        let n = 20_000u32;
        let held = |s: &Conn| s.rx.mem() + s.ooo.mem();
        for k in (1..n).step_by(2) {
            let seg = from_peer(&s, (base + k).0, ack, TcpFlags::ACK, 8000);
            s.on_segment(&seg, &Payload::from_slice(&[byte(k)]), at(10), &mut mib);
            assert!(
                held(&s) <= 4 * s.rx.limit(),
                "{} bytes held for a {}-byte receive buffer",
                held(&s),
                s.rx.limit()
            );
        }
        assert!(s.info.ooo_drops > 0);
        for k in 0..n {
            let seg = from_peer(&s, (base + k).0, ack, TcpFlags::ACK, 8000);
            s.on_segment(&seg, &Payload::from_slice(&[byte(k)]), at(11), &mut mib);
            assert!(held(&s) <= 4 * s.rx.limit(), "{} bytes held", held(&s));
        }
        assert_eq!(Seq(s.info().rcv_nxt), base + n);
        let mut got = vec![0u8; n as usize + 1];
        assert_eq!(s.recv(&mut got, at(12)), Ok(n as usize));
        assert!((0..n).all(|k| got[k as usize] == byte(k)));
    }

    /// RFC 6675 §5: the scoreboard holds SACKed data above SND.UNA, so every ACK that moves
    /// SND.UNA trims it, with SACK blocks or without, on the fast path too (Linux frees the
    /// acknowledged skbs, SACK marks and all, in `tcp_clean_rtx_queue` on every ACK). A range
    /// left below SND.UNA would read as SACKed data ahead once the stream moves 2³¹ on.
    #[test]
    fn an_ack_without_sack_blocks_trims_the_scoreboard() {
        let cfg = TcpConfig {
            timestamps: false,
            ..TcpConfig::default()
        };
        let (mut c, _) = established_with(cfg);
        let mut mib = TcpMib::default();
        c.nodelay = true;
        assert_eq!(c.send(&[1u8; 4 * 1448], at(10)), Ok(4 * 1448));
        c.poll_output(at(10), &LIM, &mut Vec::new());
        let una = c.snd_una;
        let mut sack = from_peer(&c, c.rcv_nxt.0, una.0, TcpFlags::ACK, 8000);
        sack.options.sack_blocks[0] = Some(SackBlock {
            left: (una + 1448u32).0,
            right: (una + 2896u32).0,
        });
        c.on_segment(&sack, &NONE, at(11), &mut mib);
        assert_eq!(c.sb.len(), 1);
        // Past the SACKed range, then everything: plain ACKs.
        for to in [una + 3000u32, c.snd_max] {
            let ack = from_peer(&c, c.rcv_nxt.0, to.0, TcpFlags::ACK, 8000);
            c.on_segment(&ack, &NONE, at(12), &mut mib);
            assert_eq!(c.snd_una, to);
            assert!(c.sb.is_empty(), "{:?} below snd_una {:?}", c.sb, c.snd_una);
            assert_eq!(c.sb.sacked_bytes(), 0);
        }
    }

    /// RFC 9293 §3.10.7.4: with a zero receive window no data is acceptable, "but special
    /// allowance should be made to accept valid ACKs". Data flows both ways; the client's
    /// receive buffer is full and nobody reads it, and the server's next data segment (a
    /// zero-window probe carrying a byte of new data, RFC 1122 §4.2.2.17) acknowledges the
    /// client's data: the client must take that ACK, or its own sending stalls.
    #[test]
    fn a_full_receive_buffer_still_takes_the_ack_on_data_segments() {
        let cfg = TcpConfig {
            rcvbuf: 4096,
            autotune: false,
            window_scaling: false,
            timestamps: false,
            ..TcpConfig::default()
        };
        let (mut c, mut s) = established_with(cfg);
        let mut mib = TcpMib::default();
        c.nodelay = true;
        s.nodelay = true;
        assert_eq!(s.send(&[1u8; 4096], at(10)), Ok(4096));
        for t in 10..14 {
            deliver(&mut s, &mut c, at(t));
            deliver(&mut c, &mut s, at(t));
        }
        assert_eq!((c.rcv_wnd(), c.info().bytes_received), (0, 4096));
        // The client's data, carrying its ACK and zero window, reaches the server.
        assert_eq!(c.send(&[2u8; 1000], at(20)), Ok(1000));
        deliver(&mut c, &mut s, at(20));
        let (una, max) = (c.snd_una, c.snd_max);
        assert_eq!(max, una + 1000u32);
        let probe = from_peer(&c, c.rcv_nxt.0, max.0, TcpFlags::ACK | TcpFlags::PSH, 8000);
        c.on_segment(&probe, &Payload::from_slice(b"x"), at(21), &mut mib);
        assert_eq!(c.snd_una, max, "the ACK on a data segment was ignored");
        assert_eq!(c.snd_wnd, 8000, "its window update too");
        assert_eq!(c.info().bytes_received, 4096, "no data is taken");
        let mut out = Vec::new();
        c.poll_output(at(21), &LIM, &mut out);
        assert_eq!(out.len(), 1, "the probe is answered");
        assert_eq!((out[0].repr.ack, out[0].repr.window), (c.rcv_nxt.0, 0));
    }

    /// Nagle with Minshall's variant (Linux `tcp_nagle_check`): the short tail of a write
    /// leaves as soon as the window allows unless a short segment is unacknowledged, with
    /// super-packets too. Classic Nagle holds it until everything is acknowledged: the
    /// receiver delays the ACK of the last, odd, full segment, and the tail waits 40 ms.
    #[test]
    fn a_short_tail_waits_only_for_an_unacknowledged_short_segment() {
        const GSO: OutLimits = OutLimits {
            path_mss: 1460,
            gso: true,
            sum_cells: false,
        };
        let (mut c, _) = established();
        let mut mib = TcpMib::default();
        let mss = c.mss_now(&GSO);
        let una = c.snd_una.0;
        let wnd = (c.last_wnd >> c.rcv_wscale) as u16;
        let iw = c.cc.cwnd() / mss;
        let total = (iw * mss + 552) as usize;
        assert_eq!(c.send(&vec![1u8; total], at(10)), Ok(total));
        let mut out = Vec::new();
        c.poll_output(at(10), &GSO, &mut out);
        let sent: usize = out.iter().map(|o| o.len).sum();
        assert_eq!(
            sent,
            (iw * mss) as usize,
            "the initial window, full segments"
        );
        // The receiver acknowledges all but the last (odd) segment, whose ACK it delays.
        let ack = una + (iw - 1) * mss;
        let mut seg = from_peer(&c, c.rcv_nxt.0, ack, TcpFlags::ACK, wnd);
        seg.options.timestamps = Some(TcpTimestamps {
            tsval: c.ts_recent.wrapping_add(1),
            tsecr: ts_value(c.ts_offset, at(10)),
        });
        c.on_segment(&seg, &NONE, at(20), &mut mib);
        out.clear();
        c.poll_output(at(20), &GSO, &mut out);
        assert_eq!(
            out.iter().map(|o| o.len).collect::<Vec<_>>(),
            [552],
            "the tail goes while only a full segment is in flight"
        );
        // Now a short segment is unacknowledged: the short tail of the next write, even
        // inside a super-packet, waits for its ACK.
        assert_eq!(c.send(&vec![2u8; 3000], at(21)), Ok(3000));
        out.clear();
        c.poll_output(at(21), &GSO, &mut out);
        let sent: usize = out.iter().map(|o| o.len).sum();
        assert_eq!(sent, 2 * mss as usize, "full segments only");
        let mut seg = from_peer(&c, c.rcv_nxt.0, c.snd_nxt.0 - 2 * mss, TcpFlags::ACK, wnd);
        seg.options.timestamps = Some(TcpTimestamps {
            tsval: c.ts_recent.wrapping_add(2),
            tsecr: ts_value(c.ts_offset, at(21)),
        });
        c.on_segment(&seg, &NONE, at(30), &mut mib);
        out.clear();
        c.poll_output(at(30), &GSO, &mut out);
        assert_eq!(
            out.iter().map(|o| o.len).collect::<Vec<_>>(),
            [3000 - 2 * mss as usize],
            "its ACK releases the tail"
        );
    }

    /// A path whose MTU carries 1348-byte segments, below the 1460 both ends announce.
    const NARROW: OutLimits = OutLimits {
        path_mss: 1360,
        gso: false,
        sum_cells: false,
    };

    /// An established pair past quick-ACK mode, and six 1348-byte segments of `byte` that
    /// the sender (no-delay) put out over a [`NARROW`] path, not yet given to the receiver.
    fn narrow_path_segments(byte: u8) -> (Conn, Conn, Vec<OutSeg>) {
        let (mut c, mut s) = established();
        s.quickack = 0;
        c.nodelay = true;
        assert_eq!(c.send(&[byte; 6 * 1348], at(10)), Ok(6 * 1348));
        let mut out = Vec::new();
        c.poll_output(at(10), &NARROW, &mut out);
        assert_eq!(out.len(), 6);
        (c, s, out)
    }

    /// RFC 5681 §4.2: an ACK for at least every second full-sized segment, full-sized as
    /// the segments actually arrive (Linux `tcp_measure_rcv_mss`): a path whose MTU is below
    /// the MSS both ends announced carries smaller segments, and every second one of them is
    /// acknowledged at once, not every third.
    #[test]
    fn every_second_segment_is_acknowledged_when_the_path_carries_less_than_the_mss() {
        let (mut c, mut s, out) = narrow_path_segments(3);
        let mut mib = TcpMib::default();
        let mut acks = 0;
        for (k, o) in out.iter().enumerate() {
            assert_eq!(o.len, 1348, "a segment the path carries");
            s.on_segment(
                &o.repr,
                &Payload::from_slice(&[3u8; 1348]),
                at(11),
                &mut mib,
            );
            let mut ack = Vec::new();
            s.poll_output(at(11), &LIM, &mut ack);
            if k % 2 == 1 {
                assert_eq!(ack.len(), 1, "segment {k} is the second unacknowledged one");
                acks += 1;
            } else {
                assert!(ack.is_empty(), "segment {k}: the ACK is delayed");
            }
        }
        assert_eq!(acks, 3);
        // A lone short segment still waits for the delayed-ACK timer.
        assert_eq!(c.send(&[4u8; 100], at(20)), Ok(100));
        let mut out = Vec::new();
        c.poll_output(at(20), &NARROW, &mut out);
        s.on_segment(
            &out[0].repr,
            &Payload::from_slice(&[4u8; 100]),
            at(21),
            &mut mib,
        );
        assert!(!s.wants_output());
        assert_eq!(s.next_timer(), Some(at(21) + s.cfg.delayed_ack));
    }

    /// Linux `tcp_measure_rcv_mss` measures a GRO super-packet by its segment size
    /// (`gso_size`), not its length: on a path narrower than the announced MSS the peer's
    /// segments are learnt from the first train already, and a lone segment of that size
    /// after it counts as full-sized (its ACK is delayed, not sent by the read).
    #[test]
    fn a_gro_train_teaches_the_receive_mss_by_its_segment_size() {
        let (_, mut s, out) = narrow_path_segments(5);
        let mut mib = TcpMib::default();
        // The last of the six carries PSH, the first five do not.
        assert!(!out[4].repr.flags.contains(TcpFlags::PSH));
        // The first four arrive merged by GRO, as one super-packet of 1348-byte segments.
        let mut train = PacketBuf::from_slice(0, &[5u8; 4 * 1348]);
        train.meta.gso_size = 1348;
        train.meta.gso_segs = 4;
        let payload = Payload::from_slice(&[5u8; 4 * 1348]).in_packet(&train, 0);
        s.on_segment(&out[0].repr, &payload, at(11), &mut mib);
        assert_eq!(s.rcv_mss, 1348, "measured by the segments, not the train");
        let mut buf = vec![0u8; 4 * 1348];
        assert_eq!(s.recv(&mut buf, at(11)), Ok(4 * 1348));
        s.poll_output(at(11), &LIM, &mut Vec::new());
        // The fifth alone, read at once: a full-sized segment, so its ACK stays delayed.
        s.on_segment(
            &out[4].repr,
            &Payload::from_slice(&[5u8; 1348]),
            at(12),
            &mut mib,
        );
        assert_eq!(s.recv(&mut buf, at(12)), Ok(1348));
        assert!(!s.wants_output(), "the read does not force the ACK");
        assert_eq!(s.next_timer(), Some(at(12) + s.cfg.delayed_ack));
    }

    /// Urgent data is taken inline (RFC 6093 §6, as `SO_OOBINLINE`): the urgent pointer is
    /// ignored and the bytes stay in the stream, in order, none lost or doubled.
    #[test]
    fn urgent_data_stays_inline_in_the_stream() {
        let cfg = TcpConfig {
            timestamps: false,
            ..TcpConfig::default()
        };
        let (mut c, _) = established_with(cfg);
        let mut mib = TcpMib::default();
        let una = c.snd_una.0;
        let wnd = (c.last_wnd >> c.rcv_wscale) as u16;
        let mut seq = c.rcv_nxt.0;
        for (data, urg) in [(&b"ab"[..], 0u16), (b"c!d", 2), (b"ef", 0)] {
            let mut f = TcpFlags::ACK | TcpFlags::PSH;
            if urg > 0 {
                f |= TcpFlags::URG;
            }
            let mut seg = from_peer(&c, seq, una, f, wnd);
            seg.urgent = urg;
            c.on_segment(&seg, &Payload::from_slice(data), at(10), &mut mib);
            seq += data.len() as u32;
        }
        let mut buf = [0u8; 16];
        assert_eq!(c.recv(&mut buf, at(11)), Ok(7));
        assert_eq!(&buf[..7], b"abc!def");
        assert_eq!(c.rcv_nxt.0, seq);
    }

    /// A zero window that reopens is announced by the read that opens it (RFC 1122
    /// §4.2.3.3), once the window can grow by the SWS-avoidance step, and the window
    /// announced holds a full segment: rounded to whole segments and then cut to the window
    /// scale's unit, it used to fall below one (1460 -> 1408 with a scale of 7), and the
    /// sender, whose own SWS avoidance waits for a full segment, then sat until its
    /// override timer.
    #[test]
    fn a_reopened_zero_window_is_announced_with_room_for_a_full_segment() {
        let cfg = TcpConfig {
            rcvbuf: 4096,
            autotune: false,
            ..TcpConfig::default()
        };
        let (mut c, mut s) = established_with(cfg);
        let mut mib = TcpMib::default();
        assert_eq!(c.rcv_wscale, 7);
        s.nodelay = true;
        assert_eq!(s.send(&[1u8; 8192], at(10)), Ok(8192));
        // The last bytes that fit go when the sender's SWS override timer fires.
        let mut t = 10;
        while s.snd_wnd > 0 || t == 10 {
            s.on_timer(at(t), &mut mib);
            c.on_timer(at(t), &mut mib);
            deliver(&mut s, &mut c, at(t));
            deliver(&mut c, &mut s, at(t));
            t += 10;
            assert!(t < 10_000, "the window never closed");
        }
        // Zero as advertised (the few bytes left are less than a window-scale unit).
        assert!(c.rx.free() < 1 << c.rcv_wscale);
        assert!(!c.wants_output());
        // A read too small to matter stays quiet (receiver SWS avoidance)...
        let mut buf = [0u8; 4096];
        assert_eq!(c.recv(&mut buf[..100], at(t)), Ok(100));
        assert!(!c.wants_output());
        // ...one that frees half the buffer is announced at once, and the sender goes on.
        assert_eq!(c.recv(&mut buf[..2000], at(t)), Ok(2000));
        let out = deliver(&mut c, &mut s, at(t));
        assert_eq!(out.len(), 1, "a window update");
        let mss = s.mss_now(&LIM);
        assert!(s.snd_wnd >= mss, "window {} < segment {mss}", s.snd_wnd);
        assert!(s.snd_wnd as usize <= c.rx.free());
        let mut out = Vec::new();
        s.poll_output(at(t), &LIM, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].len, mss as usize, "a full segment at once");
    }

    /// Linux `tcp_oow_rate_limited`: "Data packets without SYNs are not likely part of an
    /// ACK loop", so the duplicate ACK answering an old data segment is never rate-limited:
    /// each spurious retransmission tells the peer at once that the data arrived.
    #[test]
    fn every_old_data_segment_gets_its_duplicate_ack() {
        let (mut c, mut s) = established();
        let mut mib = TcpMib::default();
        s.nodelay = true;
        assert_eq!(s.send(b"hello", at(10)), Ok(5));
        let sent = deliver(&mut s, &mut c, at(10));
        deliver(&mut c, &mut s, at(10));
        for t in [100, 200] {
            c.on_segment(
                &sent[0].repr,
                &Payload::from_slice(b"hello"),
                at(t),
                &mut mib,
            );
            let mut out = Vec::new();
            c.poll_output(at(t), &LIM, &mut out);
            assert_eq!(out.len(), 1, "no ACK for the retransmission at {t} ms");
            assert_eq!(out[0].repr.ack, sent[0].repr.seq + 5);
        }
    }

    /// RFC 9293 §3.10.7.4: the send window is updated only "if SND.UNA =< SEG.ACK =<
    /// SND.NXT" (Linux `tcp_ack` leaves through `old_ack` before `tcp_ack_update_window`).
    /// The WL1/WL2 rule alone lets an old ACK through: P2 arrives out of order and sets
    /// WL1; P1, resent later with a newer ACK, fills the hole below WL1; P3, sent before
    /// that resend and delayed, has SEG.SEQ > WL1 but an ACK below SND.UNA.
    #[test]
    fn an_old_ack_does_not_change_the_send_window() {
        let cfg = TcpConfig {
            window_scaling: false,
            timestamps: false,
            ..TcpConfig::default()
        };
        let (mut c, _) = established_with(cfg);
        let mut mib = TcpMib::default();
        c.nodelay = true;
        assert_eq!(c.send(&[1u8; 3000], at(10)), Ok(3000));
        c.poll_output(at(10), &LIM, &mut Vec::new());
        let (u, r) = (c.snd_una.0, c.rcv_nxt.0);
        let data = [2u8; 100];
        let mut seg = |c: &mut Conn, seq: u32, ack: u32, window: u16| {
            let repr = from_peer(c, seq, ack, TcpFlags::ACK, window);
            c.on_segment(&repr, &Payload::from_slice(&data), at(20), &mut mib);
        };
        seg(&mut c, r + 100, u + 1000, 4000);
        assert_eq!((c.snd_una.0, c.snd_wnd), (u + 1000, 4000));
        seg(&mut c, r, u + 3000, 5000);
        assert_eq!((c.snd_una.0, c.snd_wnd), (u + 3000, 4000));
        seg(&mut c, r + 200, u + 1000, 10);
        assert_eq!(c.info().bytes_received, 300, "its data is taken");
        assert_eq!(
            c.snd_wnd, 4000,
            "an ACK below SND.UNA changed the send window"
        );
    }

    /// After shutdown(Read) arriving data is dropped, but only in-order data may move
    /// rcv_nxt: an out-of-order segment must not make the ACK cover the hole before it.
    #[test]
    fn after_shutdown_read_the_ack_never_covers_a_gap() {
        let (mut c, mut s) = established();
        let mut mib = TcpMib::default();
        c.rx_shut = true;
        s.nodelay = true;
        let r = c.rcv_nxt.0;
        assert_eq!(s.send(&[3u8; 3000], at(10)), Ok(3000));
        let mut out = Vec::new();
        s.poll_output(at(10), &LIM, &mut out);
        assert!(out.len() >= 2);
        // The first segment is lost; the rest arrive.
        for o in &out[1..] {
            let data = vec![3u8; o.len];
            c.on_segment(&o.repr, &Payload::from_slice(&data), at(11), &mut mib);
        }
        let mut acks = Vec::new();
        c.poll_output(at(11), &LIM, &mut acks);
        assert_eq!(acks.len(), 1);
        assert_eq!(
            acks[0].repr.ack, r,
            "the ACK covers bytes that never arrived"
        );
        // The first arrives: rcv_nxt moves over it, not over what was dropped.
        let first = vec![3u8; out[0].len];
        c.on_segment(&out[0].repr, &Payload::from_slice(&first), at(12), &mut mib);
        acks.clear();
        c.poll_output(at(12), &LIM, &mut acks);
        assert_eq!(acks[0].repr.ack, r + out[0].len as u32);
    }

    /// An abort during go-back-N after a timeout: `snd_nxt` is rewound to `snd_una`, but the
    /// peer holds (and its rcv_nxt stands after) everything up to `snd_max`. The reset must
    /// carry the sequence the peer expects (Linux `tcp_acceptable_seq`), or it falls below the
    /// peer's window and is dropped.
    #[test]
    fn a_reset_during_go_back_n_is_accepted_by_the_peer_at_once() {
        let (mut c, mut s) = established();
        let mut mib = TcpMib::default();
        c.nodelay = true;
        assert_eq!(c.send(&[4u8; 8000], at(10)), Ok(8000));
        deliver(&mut c, &mut s, at(10));
        assert_eq!(s.rcv_nxt, c.snd_max);
        // Every ACK from the server is lost: the timeout resends from snd_una.
        let rto = c.next_timer().unwrap();
        c.on_timer(rto, &mut mib);
        let mut out = Vec::new();
        c.poll_output(rto, &LIM, &mut out);
        assert!(out[0].retransmit && c.snd_nxt.diff(c.snd_max) < 0);
        let rst = c.reset_repr();
        let o = s.on_segment(&rst, &NONE, rto, &mut mib);
        assert!(!s.challenge_pending(), "the reset was challenged");
        assert_eq!(o, Outcome::Closed, "the reset was dropped");
        assert_eq!(s.error, Some(TcpError::ConnectionReset));
    }

    /// RFC 1122 §4.2.2.17 / RFC 9293 §3.8.6.1: a receiver that keeps answering the probes
    /// with a zero window keeps the connection open indefinitely; the probes back off to the
    /// largest RTO; and once the window opens the data goes out at once, with the ordinary
    /// RTO, not one the probing inflated (Linux backs probes off with `icsk_backoff` alone,
    /// which `tcp_ack_probe` clears when the window opens, never touching `icsk_rto`).
    #[test]
    fn zero_window_probing_lasts_while_answered_and_does_not_inflate_the_rto() {
        let cfg = TcpConfig {
            timestamps: false,
            window_scaling: false,
            ..TcpConfig::default()
        };
        for lost_update in [false, true] {
            let (mut c, _) = established_with(cfg.clone());
            let mut mib = TcpMib::default();
            let peer_seq = c.rcv_nxt.0;
            let closed = from_peer(&c, peer_seq, c.snd_una.0, TcpFlags::ACK, 0);
            c.on_segment(&closed, &NONE, at(10), &mut mib);
            assert_eq!(c.snd_wnd, 0);
            let base_rto = c.rtt.rto();
            assert_eq!(c.send(&[5u8; 1000], at(10)), Ok(1000));
            let mut out = Vec::new();
            c.poll_output(at(10), &LIM, &mut out);
            assert!(out.is_empty(), "nothing fits a zero window");
            let (mut now, mut last_gap) = (at(10), Duration::ZERO);
            // Three hours of probes, every one answered with a zero window.
            while now < at(3 * 3600 * 1000) {
                let t = c.next_timer().expect("the persist timer runs");
                let gap = t.saturating_duration_since(now);
                assert!(gap >= last_gap && gap <= cfg.rto.max, "probe gap {gap:?}");
                (now, last_gap) = (t, gap);
                assert_eq!(c.on_timer(now, &mut mib), Outcome::None, "aborted");
                out.clear();
                c.poll_output(now, &LIM, &mut out);
                assert_eq!(out.len(), 1, "one probe");
                assert_eq!(out[0].repr.seq, c.snd_una.0 - 1);
                c.on_segment(&closed, &NONE, now, &mut mib);
            }
            assert_eq!(last_gap, cfg.rto.max, "probes back off to the largest RTO");
            assert_eq!(c.state(), TcpState::Established);
            // The window opens: by a window update, or (that update lost) by the ACK of the
            // next probe.
            let open = from_peer(&c, peer_seq, c.snd_una.0, TcpFlags::ACK, 65_535);
            if lost_update {
                now = c.next_timer().unwrap();
                c.on_timer(now, &mut mib);
                out.clear();
                c.poll_output(now, &LIM, &mut out);
                assert_eq!(out.len(), 1, "one probe");
            }
            c.on_segment(&open, &NONE, now, &mut mib);
            assert!(c.wants_output());
            out.clear();
            c.poll_output(now, &LIM, &mut out);
            assert_eq!(
                out.iter().map(|o| o.len).sum::<usize>(),
                1000,
                "sent at once"
            );
            assert_eq!(
                c.rto_at,
                Some(now + base_rto),
                "the data's RTO is the ordinary one"
            );
        }
    }

    /// RFC 6191: in TIME-WAIT with timestamps, a SYN with a newer TSval starts a new
    /// connection even when its ISN is not beyond rcv_nxt; one with an older TSval (an old
    /// duplicate by PAWS) does not even with a larger ISN.
    #[test]
    fn time_wait_takes_a_syn_by_timestamp_first() {
        let (c, _) = client_in_time_wait();
        let syn = |seq: u32, tsval: u32| {
            let mut r = from_peer(&c, seq, 0, TcpFlags::SYN, 65_535);
            r.options.timestamps = Some(TcpTimestamps { tsval, tsecr: 0 });
            r
        };
        let (nxt, recent) = (c.rcv_nxt.0, c.ts_recent);
        let iss = c.time_wait_new_syn(&syn(nxt - 100, recent + 1), at(20));
        assert_eq!(iss, Some(c.snd_max + 65_537u32));
        assert_eq!(
            c.time_wait_new_syn(&syn(nxt + 100, recent - 1), at(20)),
            None
        );
        assert_eq!(c.time_wait_new_syn(&syn(nxt - 100, recent), at(20)), None);
        let mut no_ts = syn(nxt + 100, 0);
        no_ts.options.timestamps = None;
        assert!(c.time_wait_new_syn(&no_ts, at(20)).is_some());
        no_ts.seq = nxt;
        assert_eq!(c.time_wait_new_syn(&no_ts, at(20)), None);
        no_ts.flags = TcpFlags(TcpFlags::SYN | TcpFlags::ACK);
        no_ts.seq = nxt + 100;
        assert_eq!(c.time_wait_new_syn(&no_ts, at(20)), None);
    }

    /// Linux `tcp_paws_check`: a TS.Recent of 0 is not a clock reading (some stacks send
    /// TSval 0 in the SYN or SYN-ACK and their real clock after), so PAWS does not hold a
    /// later TSval against it, and the first TSval at the left edge replaces it.
    #[test]
    fn paws_does_not_hold_a_zero_ts_recent_against_the_peer() {
        let mut mib = TcpMib::default();
        let mut c = syn_sent(&TcpConfig::default());
        let mut syn_ack = from_peer(&c, 5000, 1001, TcpFlags::SYN | TcpFlags::ACK, 65_535);
        syn_ack.options.timestamps = Some(TcpTimestamps {
            tsval: 0,
            tsecr: ts_value(c.ts_offset, at(0)),
        });
        c.on_segment(&syn_ack, &NONE, at(1), &mut mib);
        assert_eq!(c.state(), TcpState::Established);
        assert!(c.ts_ok);
        c.poll_output(at(1), &LIM, &mut Vec::new());
        // The peer's clock proper starts far from 0: "older" than 0 in sequence arithmetic.
        let tsval = 0x9000_0000;
        let mut data = from_peer(&c, 5001, 1001, TcpFlags::ACK | TcpFlags::PSH, 65_535);
        data.options.timestamps = Some(TcpTimestamps {
            tsval,
            tsecr: ts_value(c.ts_offset, at(1)),
        });
        c.on_segment(&data, &Payload::from_slice(b"hello"), at(2), &mut mib);
        assert_eq!(mib.paws_drops, 0, "not an old duplicate");
        assert_eq!(c.rcv_nxt, Seq(5006), "the data is taken");
        let mut out = Vec::new();
        c.poll_output(at(2), &LIM, &mut out);
        assert_eq!(out[0].repr.ack, 5006);
        assert_eq!(out[0].repr.options.timestamps.unwrap().tsecr, tsval);
    }

    /// RFC 7323 §5.5: after more than 24 days idle TS.Recent is no longer valid: the next
    /// segment passes PAWS whatever its TSval, and its TSval becomes TS.Recent (Linux
    /// `tcp_replace_ts_recent` stores it when `tcp_paws_check` passes by age) — after
    /// 2³¹ ms of the peer's clock it looks older than the one remembered. From then on PAWS
    /// holds again.
    #[test]
    fn ts_recent_is_taken_anew_after_more_than_24_days_idle() {
        let (mut c, mut s) = established();
        let mut mib = TcpMib::default();
        s.nodelay = true;
        let idle = at(30 * 24 * 3600 * 1000);
        s.send(b"hello", idle).unwrap();
        let mut out = Vec::new();
        s.poll_output(idle, &LIM, &mut out);
        let seg = out[0].repr;
        let tsval = seg.options.timestamps.unwrap().tsval;
        assert!(
            (tsval.wrapping_sub(c.ts_recent) as i32) < 0,
            "the clock wrapped"
        );
        c.on_segment(&seg, &Payload::from_slice(b"hello"), idle, &mut mib);
        assert_eq!(c.rcv_nxt, Seq(seg.seq) + 5u32);
        out.clear();
        c.poll_output(idle, &LIM, &mut out);
        assert_eq!(out[0].repr.options.timestamps.unwrap().tsecr, tsval);
        // An old duplicate from before the idle period is refused by PAWS again.
        let mut old = seg;
        old.seq = c.rcv_nxt.0;
        old.options.timestamps = Some(TcpTimestamps {
            tsval: tsval.wrapping_sub(1_000_000),
            tsecr: 0,
        });
        c.on_segment(&old, &Payload::from_slice(b"stale"), idle, &mut mib);
        assert_eq!(mib.paws_drops, 1);
        assert_eq!(c.rcv_nxt, Seq(seg.seq) + 5u32);
    }

    /// RFC 9293 §3.8.6.2.2 / RFC 7323 §2.4: the right edge of the advertised window never
    /// moves left, also when the window is scaled and `rcv_adv - rcv_nxt` is not a multiple
    /// of the scale (Linux `tcp_select_window` rounds the current window up with `ALIGN`).
    #[test]
    fn the_advertised_right_edge_never_moves_left_under_window_scaling() {
        let (mut c, mut s) = established();
        s.nodelay = true;
        assert!(c.rcv_wscale > 0);
        let mut mib = TcpMib::default();
        let mut edge: Option<Seq> = None;
        for k in 0..200u64 {
            // Odd-sized segments the application never reads.
            if s.send(&[1u8; 1000], at(10 + k)).is_err() {
                break;
            }
            let mut out = Vec::new();
            s.poll_output(at(10 + k), &LIM, &mut out);
            for o in &out {
                c.on_segment(
                    &o.repr,
                    &Payload::from_slice(&vec![1u8; o.len]),
                    at(10 + k),
                    &mut mib,
                );
            }
            c.ack_now = true;
            let acks = deliver(&mut c, &mut s, at(10 + k));
            for a in &acks {
                let e = Seq(a.repr.ack) + (u32::from(a.repr.window) << c.rcv_wscale);
                if let Some(prev) = edge {
                    assert!(
                        e.diff(prev) >= 0,
                        "right edge moved left by {}",
                        prev.diff(e)
                    );
                }
                edge = Some(e);
            }
        }
        assert!(c.rx.free() < 1000, "the buffer filled");
    }

    /// RFC 1122 §4.2.3.3: the window opens in steps of min(RCV.BUFF / 2, MSS). A receive
    /// buffer smaller than one segment must still open a window (Linux `__tcp_select_window`
    /// caps the MSS at the full space), or the connection deadlocks on probes.
    #[test]
    fn a_receive_buffer_smaller_than_a_segment_still_opens_its_window() {
        let (mut c, mut s) = established_with(TcpConfig {
            rcvbuf: 1000,
            autotune: false,
            ..TcpConfig::default()
        });
        let mut mib = TcpMib::default();
        assert_eq!(s.send(&[9u8; 3000], at(10)), Ok(3000));
        let (mut got, mut buf) = (0, [0u8; 4096]);
        let mut now = at(10);
        while now < at(5_000) && got < 3000 {
            deliver(&mut s, &mut c, now);
            if let Ok(n) = c.recv(&mut buf, now) {
                got += n;
            }
            deliver(&mut c, &mut s, now);
            now += Duration::from_millis(10);
            s.on_timer(now, &mut mib);
            c.on_timer(now, &mut mib);
        }
        assert_eq!(got, 3000, "window advertised: {}", s.snd_wnd);
        assert!(s.info.zero_window_probes <= 1);
    }

    /// Header prediction must not take a segment while the peer's FIN waits beyond rcv_nxt
    /// (Linux keeps that FIN in the out-of-order queue, which turns the fast path off): the
    /// in-order data that reaches the FIN must also consume it.
    #[test]
    fn data_reaching_a_fin_that_came_early_consumes_it() {
        let (mut c, mut s) = established();
        let mut mib = TcpMib::default();
        s.nodelay = true;
        assert_eq!(s.send(&[6u8; 100], at(10)), Ok(100));
        let mut data = Vec::new();
        s.poll_output(at(10), &LIM, &mut data);
        s.shutdown_write();
        let mut fin = Vec::new();
        s.poll_output(at(11), &LIM, &mut fin);
        assert_eq!((data.len(), fin.len()), (1, 1));
        assert!(fin[0].repr.flags.contains(TcpFlags::FIN) && fin[0].len == 0);
        // The FIN overtakes the data.
        c.on_segment(&fin[0].repr, &NONE, at(12), &mut mib);
        assert_eq!(c.state(), TcpState::Established);
        c.on_segment(
            &data[0].repr,
            &Payload::from_slice(&[6u8; 100]),
            at(13),
            &mut mib,
        );
        assert_eq!(c.info().bytes_received, 100);
        assert_eq!(c.state(), TcpState::CloseWait, "the FIN was left pending");
        assert_eq!(c.rcv_nxt, Seq(fin[0].repr.seq) + 1u32);
    }

    /// A receiver that shrinks its window to zero under data in flight: the retransmission
    /// timeouts send the first unacknowledged segment as a window probe (Linux
    /// `tcp_retransmit_timer`, "receiver dastardly shrinks window"), and while the receiver
    /// answers them the connection lives on.
    #[test]
    fn a_window_shrunk_to_zero_under_data_in_flight_is_probed_not_timed_out() {
        let cfg = TcpConfig {
            timestamps: false,
            window_scaling: false,
            ..TcpConfig::default()
        };
        let (mut c, _) = established_with(cfg.clone());
        let mut mib = TcpMib::default();
        c.nodelay = true;
        let peer_seq = c.rcv_nxt.0;
        assert_eq!(c.send(&[5u8; 3000], at(10)), Ok(3000));
        let mut out = Vec::new();
        c.poll_output(at(10), &LIM, &mut out);
        assert_eq!(out.iter().map(|o| o.len).sum::<usize>(), 3000);
        let first = c.snd_una.0;
        // The first 1000 bytes are acknowledged with a zero window; the rest stay in flight.
        let shrunk = from_peer(&c, peer_seq, first + 1000, TcpFlags::ACK, 0);
        c.on_segment(&shrunk, &NONE, at(20), &mut mib);
        assert_eq!((c.snd_wnd, c.snd_una.0), (0, first + 1000));
        let mut now = at(20);
        let mut probes = 0;
        while now < at(30 * 60 * 1000) {
            now = c.next_timer().expect("a timer runs");
            assert_eq!(
                c.on_timer(now, &mut mib),
                Outcome::None,
                "aborted at {now:?}"
            );
            out.clear();
            c.poll_output(now, &LIM, &mut out);
            if !out.is_empty() {
                probes += 1;
                let answer = from_peer(&c, peer_seq, first + 1000, TcpFlags::ACK, 0);
                c.on_segment(&answer, &NONE, now, &mut mib);
            }
        }
        assert!(probes > 10, "{probes} probes");
        // The window opens: the data goes again from snd_una (in slow start, after the
        // timeouts).
        let open = from_peer(&c, peer_seq, first + 1000, TcpFlags::ACK, 65_535);
        c.on_segment(&open, &NONE, now, &mut mib);
        out.clear();
        c.poll_output(now, &LIM, &mut out);
        assert!(!out.is_empty() && out[0].repr.seq == first + 1000 && out[0].len > 0);
    }

    /// Linux `tcp_probe_timer`: an orphan (closed by the user) is not kept forever by a
    /// receiver that answers every probe with a zero window: once the probe interval has
    /// backed off to the largest RTO, it is aborted. A socket still owned lives on.
    #[test]
    fn an_orphan_stuck_behind_a_zero_window_is_aborted() {
        let cfg = TcpConfig {
            timestamps: false,
            window_scaling: false,
            ..TcpConfig::default()
        };
        for orphan in [false, true] {
            let (mut c, _) = established_with(cfg.clone());
            let mut mib = TcpMib::default();
            let peer_seq = c.rcv_nxt.0;
            let closed = from_peer(&c, peer_seq, c.snd_una.0, TcpFlags::ACK, 0);
            c.on_segment(&closed, &NONE, at(10), &mut mib);
            assert_eq!(c.send(&[5u8; 1000], at(10)), Ok(1000));
            c.orphan = orphan;
            c.shutdown_write();
            let mut out = Vec::new();
            c.poll_output(at(10), &LIM, &mut out);
            let mut now = at(10);
            let mut ended = None;
            while now < at(3600 * 1000) {
                now = c.next_timer().expect("a timer runs");
                if c.on_timer(now, &mut mib) == Outcome::Closed {
                    ended = Some(now);
                    break;
                }
                out.clear();
                c.poll_output(now, &LIM, &mut out);
                let ack = from_peer(&c, peer_seq, c.snd_una.0, TcpFlags::ACK, 0);
                c.on_segment(&ack, &NONE, now, &mut mib);
            }
            if orphan {
                let t = ended.expect("the orphan lives on");
                assert!(t < at(600 * 1000), "aborted only at {t:?}");
                assert_eq!(c.error, Some(TcpError::TimedOut));
            } else {
                assert_eq!(ended, None);
                assert_eq!(c.state(), TcpState::FinWait1);
            }
        }
    }

    /// A sender for loss-recovery tests: a SACK connection (or, by [`Self::with`], one
    /// without) and without timestamps that has sent `segments` full-sized segments, numbered
    /// from 0. ACKs and SACK blocks name segment boundaries; `ack` hands one to the sender
    /// and returns what it sends at once, as (segment number, retransmission).
    struct Recovering {
        c: Conn,
        base: Seq,
        mss: u32,
        mib: TcpMib,
    }

    impl Recovering {
        fn new(segments: u32) -> Self {
            Recovering::with_window(segments, None)
        }

        /// As [`Self::new`], but with cwnd cut to `cwnd` segments first (by a congestion
        /// event long over), and `queued` segments given to send.
        fn with_window(queued: u32, cwnd: Option<u32>) -> Self {
            Recovering::with(true, queued, cwnd)
        }

        /// As [`Self::with_window`], with SACK negotiated or not.
        fn with(sack: bool, queued: u32, cwnd: Option<u32>) -> Self {
            let cfg = TcpConfig {
                timestamps: false,
                sack,
                ..TcpConfig::default()
            };
            let (mut c, _) = established_with(cfg);
            assert_eq!(c.sack_ok, sack);
            let mss = c.snd_mss_base();
            let base = c.snd_una;
            let mut segments = queued;
            if let Some(w) = cwnd {
                c.set_congestion(CcAlgorithm::NewReno);
                c.cc.on_congestion_event(2 * w * mss, at(5));
                assert_eq!(c.cc.cwnd(), w * mss);
                segments = w;
            }
            let n = (queued * mss) as usize;
            assert_eq!(c.send(&vec![1u8; n], at(10)), Ok(n));
            let mut out = Vec::new();
            c.poll_output(at(10), &LIM, &mut out);
            assert_eq!(c.snd_max, base + segments * mss, "a window sent at once");
            Recovering {
                c,
                base,
                mss,
                mib: TcpMib::default(),
            }
        }

        fn seg(&self, i: u32) -> Seq {
            self.base + i * self.mss
        }

        /// One ACK of everything below segment `una`, with SACK blocks `[l, r)` in segments
        /// (a block below `una` is a D-SACK).
        fn ack(&mut self, t: u64, una: u32, sacks: &[(u32, u32)]) -> Vec<(u32, bool)> {
            let mut a = from_peer(
                &self.c,
                self.c.rcv_nxt.0,
                self.seg(una).0,
                TcpFlags::ACK,
                65_535,
            );
            for (slot, &(l, r)) in a.options.sack_blocks.iter_mut().zip(sacks) {
                *slot = Some(SackBlock {
                    left: self.seg(l).0,
                    right: self.seg(r).0,
                });
            }
            self.c.on_segment(&a, &NONE, at(t), &mut self.mib);
            let mut out = Vec::new();
            self.c.poll_output(at(t), &LIM, &mut out);
            out.iter()
                .filter(|o| o.len > 0)
                .map(|o| (Seq(o.repr.seq).since(self.base) / self.mss, o.retransmit))
                .collect()
        }
    }

    /// RFC 6675 §5: an ACK that SACKs new data is a duplicate ACK "regardless of its status
    /// as a cumulative acknowledgment", and loss recovery starts when IsLost(HighACK + 1).
    /// Here one ACK both moves SND.UNA and SACKs three segments above the next hole (the
    /// receiver's ACKs were thinned, or it coalesced the segments, as GRO does): the hole
    /// goes out at once. Nothing else is left to send, so no later ACK would come to start
    /// recovery and the connection would wait for the timer.
    #[test]
    fn a_cumulative_ack_whose_sack_blocks_show_a_loss_starts_recovery_at_once() {
        let mut r = Recovering::new(6);
        // Segment 0 arrived, 1 was lost, 2..5 arrived.
        let sent = r.ack(20, 1, &[(2, 6)]);
        assert_eq!(sent, vec![(1, true)], "{:?}", r.c.info());
        assert_eq!(r.c.info().recoveries, 1);
        assert!(r.c.cc.ssthresh() < u32::MAX);
    }

    /// RFC 6675 §2: with SACK, a duplicate ACK is one that SACKs data not SACKed before. The
    /// receiver answers a segment it already holds (duplicated by the network, or resent
    /// needlessly) with a D-SACK (RFC 2883) for it: that says nothing was lost, and three of
    /// them must not start a fast retransmit and halve the window (Linux counts SACKed
    /// segments, which a D-SACK does not add to).
    #[test]
    fn duplicate_acks_carrying_only_d_sacks_do_not_start_a_fast_retransmit() {
        let mut r = Recovering::new(10);
        assert!(r.ack(20, 5, &[]).is_empty());
        // Segments 2, 3 and 4 arrive a second time: D-SACKs below the cumulative ACK.
        for k in 2..5 {
            let sent = r.ack(21 + u64::from(k), 5, &[(k, k + 1)]);
            assert!(sent.is_empty(), "D-SACK of {k}: sent {sent:?}");
        }
        // Segment 7 arrives (one real duplicate ACK), then twice more: a D-SACK inside the
        // SACKed range, reported as the first block, the range itself second.
        assert!(r.ack(30, 5, &[(7, 8)]).is_empty());
        for t in 31..33 {
            let sent = r.ack(t, 5, &[(7, 8), (7, 8)]);
            assert!(sent.is_empty(), "D-SACK of 7: sent {sent:?}");
        }
        assert_eq!(r.c.info().recoveries, 0);
        assert_eq!(r.c.info().retransmits, 0);
        assert_eq!(r.c.cc.ssthresh(), u32::MAX, "no congestion event");
    }

    /// RFC 6675 §4 NextSeg rule (4), the rescue retransmission: when rules 1-3 have nothing
    /// and the first retransmission has been cumulatively acknowledged, one segment holding
    /// the highest outstanding unSACKed octet goes out, once per recovery. Segments 0 and 9
    /// (the last) are lost; 0 is resent and acknowledged, and the partial ACK shows 9 still
    /// missing — no SACK lies above it to make it lost, and no new data follows it. Without
    /// the rescue the connection would wait for the retransmission timer.
    #[test]
    fn a_lost_last_segment_is_rescued_once_recovery_repairs_the_holes_below_it() {
        let mut r = Recovering::new(10);
        let mut sent = Vec::new();
        for (t, top) in (20..).zip(2..10) {
            sent.extend(r.ack(t, 0, &[(1, top)]));
        }
        assert_eq!(sent, vec![(0, true)], "fast retransmit of 0 only");
        assert_eq!(r.c.info().recoveries, 1);
        // The retransmission of 0 arrives: a partial ACK, 9 still outstanding.
        assert_eq!(r.ack(40, 9, &[]), vec![(9, true)]);
        // Only once per recovery.
        assert!(r.ack(41, 9, &[]).is_empty());
        assert_eq!(r.c.info().timeouts, 0);
        // The rescued segment arrives: recovery ends.
        assert!(r.ack(60, 10, &[]).is_empty());
        assert!(r.c.recovery.is_none());
        assert_eq!(r.c.snd_una, r.c.snd_max);
    }

    /// The rescue retransmission (NextSeg rule 4) and rule 3 come after new data in the
    /// output loop; Nagle holding a short unsent tail must not end the loop before them.
    /// Here the lost last segment is the short one (so Minshall's rule holds any new short
    /// write while it is unacknowledged), and the application writes a little more during
    /// recovery: the partial ACK must still rescue the lost tail rather than wait for the
    /// retransmission timer.
    #[test]
    fn nagle_holding_a_short_write_does_not_stop_the_rescue_retransmission() {
        let cfg = TcpConfig {
            timestamps: false,
            ..TcpConfig::default()
        };
        let (c, _) = established_with(cfg);
        let mss = c.snd_mss_base();
        let mut r = Recovering {
            base: c.snd_una,
            c,
            mss,
            mib: TcpMib::default(),
        };
        // Nine full segments and a short tenth (500 bytes).
        let n = (9 * mss + 500) as usize;
        assert_eq!(r.c.send(&vec![1u8; n], at(10)), Ok(n));
        let mut out = Vec::new();
        r.c.poll_output(at(10), &LIM, &mut out);
        assert_eq!(r.c.snd_max, r.seg(9) + 500u32, "all sent at once");
        // Segments 0 and the short 9 are lost; 1..9 arrive.
        let mut sent = Vec::new();
        for (t, top) in (20..).zip(2..10) {
            sent.extend(r.ack(t, 0, &[(1, top)]));
        }
        assert_eq!(sent, vec![(0, true)], "fast retransmit of 0 only");
        // The application writes a little more: a short tail Nagle may hold.
        assert_eq!(r.c.send(&[2u8; 100], at(35)), Ok(100));
        // The retransmission of 0 arrives: a partial ACK, the short 9 still outstanding.
        assert_eq!(
            r.ack(40, 9, &[]),
            vec![(9, true)],
            "the rescue retransmission"
        );
    }

    /// RFC 6675 §5.1: after a timeout the SACK information the receiver sends "SHOULD"
    /// still be used, and Linux's loss state retransmits only segments not SACKed. The
    /// scoreboard is forgotten on the timeout (RFC 2018 §8), but go-back-N must not resend
    /// what the receiver SACKs afterwards. Segments 0 and 5 are lost and every ACK too, so
    /// the timer fires; the ACK for the resent 0 SACKs 6-9: only 5 is missing.
    #[test]
    fn go_back_n_after_a_timeout_skips_data_sacked_since() {
        let mut r = Recovering::new(10);
        let rto = r.c.next_timer().expect("the RTO runs");
        assert_eq!(r.c.on_timer(rto, &mut r.mib), Outcome::None);
        let mut out = Vec::new();
        r.c.poll_output(rto, &LIM, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].repr.seq, r.seg(0).0);
        let t = rto.saturating_duration_since(Instant::ZERO).as_millis() as u64 + 10;
        assert_eq!(r.ack(t, 5, &[(6, 10)]), vec![(5, true)]);
        assert_eq!(r.ack(t + 10, 10, &[]), vec![]);
        assert_eq!(r.c.info().retransmits, 2);
    }

    /// RFC 3042 (Limited Transmit, a SHOULD of RFC 5681 §3.2) and RFC 6675's pipe: SACKed
    /// data has left the network, so before recovery each SACK lets a new segment go. A
    /// window of three segments that loses one otherwise gets only two duplicate ACKs and
    /// waits for the timer; Linux counts SACKed segments out of the flight in every state.
    #[test]
    fn sacks_before_recovery_let_new_segments_go_so_a_small_window_recovers_without_a_timeout() {
        let mut r = Recovering::with_window(10, Some(3));
        // Segment 0 lost; 1 and 2 arrive: each SACK lets one new segment out.
        assert_eq!(r.ack(20, 0, &[(1, 2)]), vec![(3, false)]);
        assert_eq!(r.ack(21, 0, &[(1, 3)]), vec![(4, false)]);
        // Segment 3 arrives: three segments SACKed above the hole, fast retransmit.
        let sent = r.ack(22, 0, &[(1, 4)]);
        assert_eq!(sent.first(), Some(&(0, true)), "{sent:?}");
        assert_eq!(r.c.info().recoveries, 1);
        assert_eq!(r.c.info().timeouts, 0);
    }

    /// An ACK that shows the peer hears this end without acknowledging anything new marks
    /// the connection for the stack's neighbour confirmation, as Linux `tcp_ack` confirms on
    /// `FLAG_FORWARD_PROGRESS || !(flag & FLAG_NOT_DUP)`: one that SACKs new data, or a pure
    /// duplicate (no data, no window change) while data is outstanding, SACK blocks or not.
    /// A window update, a segment carrying data and an ACK of new data (which the stack
    /// confirms on by itself, as SND.UNA moved) do not.
    #[test]
    fn acks_that_show_the_peer_hears_without_progress_are_taken_for_the_neighbour() {
        let mut r = Recovering::with(true, 10, None);
        let heard = |r: &mut Recovering, t, una, sacks: &[(u32, u32)]| {
            r.ack(t, una, sacks);
            r.c.take_peer_heard()
        };
        assert!(!heard(&mut r, 19, 0, &[]), "a window update");
        assert!(heard(&mut r, 20, 0, &[]), "a pure duplicate");
        assert!(!r.c.take_peer_heard(), "taking it clears it");
        assert!(heard(&mut r, 21, 0, &[(2, 3)]), "new data SACKed");
        assert!(
            heard(&mut r, 22, 0, &[(2, 3)]),
            "the same SACK again: a pure duplicate"
        );
        // Data from the peer with an ACK of nothing new is no duplicate.
        let data = from_peer(&r.c, r.c.rcv_nxt.0, r.seg(0).0, TcpFlags::ACK, 65_535);
        r.c.on_segment(&data, &Payload::from_slice(b"hello"), at(23), &mut r.mib);
        assert!(!r.c.take_peer_heard(), "data");
        assert!(!heard(&mut r, 24, 5, &[]), "new data acknowledged");
        // Nothing outstanding: a repeated ACK says nothing.
        assert!(!heard(&mut r, 25, 10, &[]), "everything acknowledged");
        assert!(
            !heard(&mut r, 26, 10, &[]),
            "a repeat with nothing outstanding"
        );
    }

    /// RFC 3042 (Limited Transmit) is for any sender, not only a SACK one: without SACK the
    /// first and second duplicate ACKs each let one new segment go, cwnd unchanged (Linux
    /// counts duplicate ACKs as SACKed segments in Reno mode, `tcp_add_reno_sack`, and takes
    /// them out of `tcp_packets_in_flight`). A NewReno window of three segments that loses
    /// one otherwise draws only two duplicate ACKs and waits for the timer.
    #[test]
    fn dupacks_before_recovery_let_new_segments_go_without_sack_too() {
        let mut r = Recovering::with(false, 10, Some(3));
        // The peer's window, scaled now, moves: that ACK is a window update, no duplicate.
        assert_eq!(r.ack(19, 0, &[]), vec![]);
        let cwnd = r.c.cc.cwnd();
        // Segment 0 lost; 1 and 2 arrive: each duplicate ACK lets one new segment out.
        assert_eq!(r.ack(20, 0, &[]), vec![(3, false)]);
        assert_eq!(r.ack(21, 0, &[]), vec![(4, false)]);
        assert_eq!(r.c.cc.cwnd(), cwnd, "Limited Transmit leaves cwnd alone");
        // Segment 3 arrives: the third duplicate ACK, fast retransmit.
        let sent = r.ack(22, 0, &[]);
        assert_eq!(sent.first(), Some(&(0, true)), "{sent:?}");
        assert_eq!(r.c.info().recoveries, 1);
        // The retransmission fills the hole: everything sent is acknowledged, recovery
        // ends, and new data follows, all without a timeout.
        assert_eq!(r.ack(30, 5, &[]).first(), Some(&(5, false)));
        assert_eq!(r.c.recovery, None);
        assert_eq!(r.c.info().timeouts, 0);
    }
}
