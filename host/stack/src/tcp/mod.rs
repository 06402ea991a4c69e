//! TCP (RFC 9293) on the sans-IO core: `tcp_v4_rcv` demux, listeners with SYN and accept
//! queues and SYN cookies, connections, output into `ip_local_out`, timers, and the
//! non-blocking socket API on [`Stack`].
//!
//! - [`seq`]: sequence-number arithmetic modulo 2³².
//! - [`rtt`]: the RFC 6298 retransmission timer estimator.
//! - [`buffer`]: the send queue and the receive queue, both of packet buffers.
//! - [`conn`]: one connection's control block and state machine.
//!
//! A segment the interface's queue refuses (`SendError::QueueFull`) was not sent: the
//! connection takes it back ([`conn::Conn::unsend`]) and sends it when the queue has drained,
//! as Linux's `tcp_write_xmit` does after `NET_XMIT_DROP`; it is never counted as a loss.
//!
//! The socket API is non-blocking: calls that cannot make progress return
//! [`TcpError::WouldBlock`] and [`Stack::tcp_readiness`] says when to try again. The runtime
//! in the root crate builds blocking `TcpStream`/`TcpListener` on top.

pub mod buffer;
pub mod cc;
pub mod conn;
pub mod isn;
pub mod ooo;
pub mod rtt;
pub mod scoreboard;
pub mod seq;
mod slots;

use crate::changes::{ChangeGen, Changes};
use crate::ephemeral::{self, Perturb};
use crate::icmp::IcmpError;
use crate::ip_input::{is_csum_error, l4_checksum_mode};
use crate::ip_output::{SendError, SockIp};
use crate::pktbuf::{ChecksumState, PacketBuf, PacketType};
use crate::route::IfIndex;
use crate::sock_slots::{FreeSlots, PortIndex};
use crate::stack::Stack;
use crate::time::Instant;
use crate::wire::checksum::{self, ChecksumMode};
use crate::wire::icmpv4::DstUnreachable;
use crate::wire::ipv4::{protocol, Ipv4Repr};
use crate::wire::tcp::{TcpFlags, TcpOptions, TcpRepr, TcpTimestamps};
pub use cc::CcAlgorithm;
pub use conn::TcpInfo;
use conn::{Conn, Negotiated, OutLimits, OutSeg, Outcome, Payload, OUTPUT_BATCH};
use isn::{CookieOpts, IsnGenerator};
use rtt::RtoParams;
use seq::Seq;
use slots::Slots;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

/// How long after a listener last sent a SYN cookie an ACK is checked as one (Linux
/// `TCP_SYNCOOKIE_VALID`); later, a bare ACK gets a reset without a check.
const SYNCOOKIE_VALID: Duration = Duration::from_secs(120);

/// Connection states (RFC 9293 §3.3.2), all eleven.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum TcpState {
    /// No connection.
    #[default]
    Closed,
    /// Waiting for connection requests.
    Listen,
    /// SYN sent, waiting for the matching SYN.
    SynSent,
    /// SYN received and answered, waiting for its acknowledgment.
    SynReceived,
    /// Open: data flows both ways.
    Established,
    /// We closed; waiting for the ACK of our FIN or the peer's FIN.
    FinWait1,
    /// Our FIN is acknowledged; waiting for the peer's FIN.
    FinWait2,
    /// The peer closed; waiting for the local user to close.
    CloseWait,
    /// Both closed at once; waiting for the ACK of our FIN.
    Closing,
    /// The peer closed first, then we did; waiting for the ACK of our FIN.
    LastAck,
    /// Both FINs acknowledged; waiting 2×MSL so stray segments die out.
    TimeWait,
}

/// The errno of a destination unreachable about a TCP segment, as Linux's
/// `icmp_err_convert` table gives it (fragmentation needed is path MTU discovery, never an
/// error; it has EMSGSIZE there).
fn icmp_unreach_errno(r: DstUnreachable) -> TcpError {
    use DstUnreachable as U;
    match r {
        U::NetUnreachable | U::DstNetUnknown | U::NetProhibited | U::NetUnreachToS => {
            TcpError::NetUnreachable
        }
        U::HostUnreachable
        | U::HostProhibited
        | U::HostUnreachToS
        | U::CommProhibited
        | U::HostPrecedViol
        | U::PrecedCutoff
        | U::FragRequired => TcpError::Unreachable,
        U::ProtoUnreachable => TcpError::ProtocolUnavailable,
        U::PortUnreachable => TcpError::ConnectionRefused,
        U::SrcRouteFailed => TcpError::NotSupported,
        U::DstHostUnknown => TcpError::HostDown,
        U::SrcHostIsolated => TcpError::NoNetwork,
    }
}

/// Why a TCP call failed. Matches the `errno` values a BSD-socket user expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TcpError {
    /// The handle names no socket (or one already closed).
    #[error("bad socket handle")]
    BadHandle,
    /// The call cannot make progress now; wait for readiness (`EAGAIN`).
    #[error("operation would block")]
    WouldBlock,
    /// The local address is taken (`EADDRINUSE`).
    #[error("address in use")]
    AddrInUse,
    /// The local address is not one of ours (`EADDRNOTAVAIL`).
    #[error("address not available")]
    AddrNotAvailable,
    /// No free ephemeral port for this destination.
    #[error("no free local port")]
    NoFreePort,
    /// The peer answered the SYN with a reset (`ECONNREFUSED`).
    #[error("connection refused")]
    ConnectionRefused,
    /// The peer reset the connection past SYN-SENT (`ECONNRESET`).
    #[error("connection reset by peer")]
    ConnectionReset,
    /// Retransmissions or keepalive probes went unanswered (`ETIMEDOUT`).
    #[error("connection timed out")]
    TimedOut,
    /// The socket is not connected (`ENOTCONN`).
    #[error("not connected")]
    NotConnected,
    /// Writing after shutdown or close (`EPIPE`).
    #[error("broken pipe")]
    BrokenPipe,
    /// The socket is not listening (`EINVAL` on accept).
    #[error("socket is not listening")]
    NotListening,
    /// The socket is listening: data calls make no sense on it.
    #[error("socket is listening")]
    IsListening,
    /// The destination host is unreachable (`EHOSTUNREACH`): an unreachable route matched
    /// at connect, the neighbour never answered, or an ICMP host unreachable (or one of its
    /// kin) came back about the connection.
    #[error("no route to host")]
    Unreachable,
    /// A prohibit route matched at connect (`EACCES`, Linux `fib_props[RTN_PROHIBIT]`), or an
    /// OUTPUT hook refused the SYN.
    #[error("permission denied")]
    Prohibited,
    /// A blackhole route matched at connect (`EINVAL`, Linux `fib_props[RTN_BLACKHOLE]`).
    #[error("invalid argument: blackhole route")]
    Blackhole,
    /// The network is unreachable (`ENETUNREACH`): no route at connect, a broadcast,
    /// multicast or (unlike Linux, which connects to itself) unspecified destination, or an
    /// ICMP network unreachable (or network unknown, prohibited, unreachable for the type of
    /// service) about the connection.
    #[error("network is unreachable")]
    NetUnreachable,
    /// An ICMP destination host unknown about the connection (`EHOSTDOWN`).
    #[error("host is down")]
    HostDown,
    /// An ICMP source host isolated about the connection (`ENONET`).
    #[error("machine is not on the network")]
    NoNetwork,
    /// An ICMP protocol unreachable about the connection: the peer runs no TCP
    /// (`ENOPROTOOPT`).
    #[error("protocol not available")]
    ProtocolUnavailable,
    /// An ICMP source route failed about the connection (`EOPNOTSUPP`).
    #[error("operation not supported")]
    NotSupported,
    /// A socket option value out of range (`EINVAL`), such as a TTL of 0.
    #[error("invalid argument")]
    InvalidArgument,
    /// An ICMP parameter problem about the connection: a router or the peer found a bad
    /// header in one of our segments (`EPROTO`).
    #[error("protocol error")]
    ProtocolError,
}

/// Which direction(s) [`Stack::tcp_shutdown`] closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shutdown {
    /// No more reads.
    Read,
    /// No more writes: a FIN follows queued data.
    Write,
    /// Both.
    Both,
}

/// What a socket is ready for (`EPOLLIN`, `EPOLLOUT`, `EPOLLERR`, `EPOLLHUP`, `EPOLLRDHUP`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Readiness {
    /// Data, end of stream, a pending connection (listener) or an error to read.
    pub readable: bool,
    /// A write would not block: room in the send buffer (at least half as much free as is
    /// queued), or writing is shut or the connection closed, so that a write fails at once
    /// (Linux `tcp_poll`'s `EPOLLOUT`). Never during the handshake.
    pub writable: bool,
    /// An error is pending (`EPOLLERR`): until a read, a peek, a write or `SO_ERROR` reports
    /// it, which clears it.
    pub error: bool,
    /// The connection is closed both ways: reading shut (the peer's FIN or shutdown(Read))
    /// and writing shut, or the connection is closed.
    pub hangup: bool,
    /// Reading is shut (`EPOLLRDHUP`): the peer's FIN came (its shutdown(Write) or close),
    /// the user shut reading, or the connection is closed. Data that came before the FIN may
    /// still wait to be read; once it is taken, reads return end of stream.
    pub read_hangup: bool,
}

/// A TCP socket handle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TcpHandle(usize);

impl TcpHandle {
    /// The slot number (stable while the socket lives).
    pub fn index(self) -> usize {
        self.0
    }
}

/// Stack-wide TCP settings (the `net.ipv4.tcp_*` sysctls).
#[derive(Debug, Clone)]
pub struct TcpConfig {
    /// Key of the ISN, SYN-cookie and TSval-offset hashes and of the ephemeral port pickers'
    /// hashes and draws. The runtime seeds it from the OS's randomness;
    /// the default is fixed so tests are deterministic.
    pub secret: [u8; 16],
    /// Initial receive buffer per connection (`tcp_rmem[1]`).
    pub rcvbuf: usize,
    /// Largest receive buffer autotuning may grow to (`tcp_rmem[2]`); also sets the window
    /// scale offered in the SYN.
    pub rcvbuf_max: usize,
    /// Send buffer per connection (`tcp_wmem`).
    pub sndbuf: usize,
    /// Receive-buffer autotuning (`tcp_moderate_rcvbuf`).
    pub autotune: bool,
    /// RTO bounds.
    pub rto: RtoParams,
    /// SYN retransmissions before a connect times out (`tcp_syn_retries`).
    pub syn_retries: u32,
    /// SYN-ACK retransmissions before a half-open connection is dropped (`tcp_synack_retries`).
    pub synack_retries: u32,
    /// How long retransmissions of data go on before the connection is aborted, as Linux's
    /// `tcp_retries2`: by time, not by count (`retransmits_timed_out`). The connection ends
    /// at the first timeout once as long has passed since the timed-out segment was sent as
    /// this many retransmissions take backing off from the least RTO (`tcp_model_timeout`:
    /// 924.6 s for 15). At the least RTO that is this many retransmissions; a larger RTO
    /// makes fewer, and an RTO reverted by an ICMP (RFC 6069) more.
    pub retries2: u32,
    /// Delayed ACK timeout (Linux's 40 ms `TCP_DELACK_MIN`).
    pub delayed_ack: Duration,
    /// TIME-WAIT length, 2×MSL (Linux `TCP_TIMEWAIT_LEN`, 60 s).
    pub time_wait: Duration,
    /// How long an orphaned FIN-WAIT-2 lives (`tcp_fin_timeout`).
    pub fin_timeout: Duration,
    /// Idle time before keepalive probes (`tcp_keepalive_time`).
    pub keepalive_time: Duration,
    /// Between keepalive probes (`tcp_keepalive_intvl`).
    pub keepalive_intvl: Duration,
    /// Unanswered probes before the connection is dropped (`tcp_keepalive_probes`).
    pub keepalive_probes: u32,
    /// Congestion control for new sockets (`tcp_congestion_control`).
    pub congestion: CcAlgorithm,
    /// Offer and accept SACK (`tcp_sack`).
    pub sack: bool,
    /// Offer and accept timestamps (`tcp_timestamps`).
    pub timestamps: bool,
    /// Offer and accept window scaling (`tcp_window_scaling`).
    pub window_scaling: bool,
    /// Answer with SYN cookies when a SYN queue overflows (`tcp_syncookies` = 1).
    pub syncookies: bool,
    /// Upper bound of any listener's SYN queue (`tcp_max_syn_backlog`).
    pub max_syn_backlog: usize,
    /// Challenge ACKs per second, stack-wide (`tcp_challenge_ack_limit`, RFC 5961 §7).
    pub challenge_ack_limit: u32,
    /// New sockets start with Nagle off (`TCP_NODELAY`).
    pub nodelay: bool,
    /// Build super-packets of up to 64 KB (TSO on the device, software GSO otherwise).
    pub gso: bool,
}

impl Default for TcpConfig {
    fn default() -> Self {
        TcpConfig {
            secret: *b"oxnic-tcp-secret",
            rcvbuf: 128 * 1024,
            rcvbuf_max: 6 * 1024 * 1024,
            sndbuf: 4 * 1024 * 1024,
            autotune: true,
            rto: RtoParams::default(),
            syn_retries: 6,
            synack_retries: 5,
            retries2: 15,
            delayed_ack: Duration::from_millis(40),
            time_wait: Duration::from_secs(60),
            fin_timeout: Duration::from_secs(60),
            keepalive_time: Duration::from_secs(7200),
            keepalive_intvl: Duration::from_secs(75),
            keepalive_probes: 9,
            congestion: CcAlgorithm::Cubic,
            sack: true,
            timestamps: true,
            window_scaling: true,
            syncookies: true,
            max_syn_backlog: 256,
            challenge_ack_limit: 1000,
            nodelay: false,
            gso: true,
        }
    }
}

/// The `Tcp:` line of `/proc/net/snmp` and the TCP part of `/proc/net/netstat`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TcpMib {
    /// Connections opened by connect (`ActiveOpens`).
    pub active_opens: u64,
    /// Connections opened from a listener (`PassiveOpens`).
    pub passive_opens: u64,
    /// Connects that failed (`AttemptFails`).
    pub attempt_fails: u64,
    /// Connections that went to CLOSED from ESTABLISHED or CLOSE-WAIT: reset (either way)
    /// or timed out (`EstabResets`, counted in Linux `tcp_set_state`).
    pub estab_resets: u64,
    /// Connections in ESTABLISHED or CLOSE-WAIT now (`CurrEstab`).
    pub curr_estab: u64,
    /// Handshakes completed.
    pub handshakes: u64,
    /// Segments received, in error or not (`InSegs`).
    pub in_segs: u64,
    /// Segments sent, retransmissions excluded (`OutSegs`).
    pub out_segs: u64,
    /// Segments retransmitted (`RetransSegs`).
    pub retrans_segs: u64,
    /// Segments received in error (`InErrs`).
    pub in_errs: u64,
    /// Resets sent (`OutRsts`).
    pub out_rsts: u64,
    /// Segments with a bad checksum (`InCsumErrors`).
    pub in_csum_errors: u64,
    /// SYN cookies sent (`SyncookiesSent`).
    pub syncookies_sent: u64,
    /// Valid cookies received (`SyncookiesRecv`).
    pub syncookies_recv: u64,
    /// Invalid cookies received (`SyncookiesFailed`).
    pub syncookies_failed: u64,
    /// Handshakes refused because an accept queue was full (`ListenOverflows`).
    pub listen_overflows: u64,
    /// SYNs dropped at a listener (`ListenDrops`).
    pub listen_drops: u64,
    /// Challenge ACKs asked for by RFC 5961 checks.
    pub challenge_acks_wanted: u64,
    /// Challenge ACKs sent within the rate limit (`TCPChallengeACK`).
    pub challenge_acks: u64,
    /// Segments dropped by PAWS (`PAWSEstab`).
    pub paws_drops: u64,
    /// Out-of-order segments not (fully) queued for lack of room (`TCPOFODrop`).
    pub ofo_drops: u64,
    /// Fast recoveries entered.
    pub fast_recoveries: u64,
    /// In-order data segments taken by header prediction (`TCPHPHits`).
    pub hp_hits: u64,
    /// Pure ACKs taken by header prediction (`TCPHPAcks`).
    pub hp_acks: u64,
    /// ICMP errors about a connection that quote a sequence number not in flight, ignored
    /// (`OutOfWindowIcmps`).
    pub out_of_window_icmps: u64,
    /// Segments for no socket (answered with a reset).
    pub no_port: u64,
    /// Segments dropped, without a reset, because they were not sent to this host alone:
    /// as a link-layer broadcast or multicast, or to an IP broadcast or multicast address
    /// (RFC 1122 §4.2.3.10; Linux drops them in `tcp_v4_rcv` and `tcp_v4_conn_request`).
    pub not_unicast: u64,
    /// Segments (a super-packet counts once) the host refused to send because the
    /// interface's queue was full. They did not count as sent, nor as lost: the connection
    /// sent them again once the queue drained.
    pub local_refused: u64,
}

/// A connection waiting for an interface queue that refused its segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Refused {
    conn: usize,
    ifindex: IfIndex,
    /// The queue's count of packets dequeued, at the refusal: once it moved, the queue has
    /// made room. (A queue that never lets anything go, such as a shaper refusing a packet
    /// bigger than its bucket, is left to the connection's retry timer.)
    dequeued: u64,
}

/// The ECN field of the TOS byte (RFC 3168), which TCP does not let the user set.
const ECN_MASK: u8 = 0x03;

/// The TCP options a listener holds for the connections it accepts (Linux
/// `inet_csk_clone_lock` copies the listening socket, these with it).
#[derive(Debug, Clone, Copy, Default)]
struct ChildOpts {
    /// `TCP_USER_TIMEOUT`.
    user_timeout: Option<Duration>,
    /// `SO_KEEPALIVE`.
    keepalive: bool,
    /// `TCP_KEEPIDLE`, `TCP_KEEPINTVL`, `TCP_KEEPCNT` as set (`None`: the stack's).
    keepalive_params: KeepaliveParams,
}

/// Per-socket keepalive settings (`TCP_KEEPIDLE`, `TCP_KEEPINTVL`, `TCP_KEEPCNT`); a `None`
/// is the stack's [`TcpConfig`] value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeepaliveParams {
    /// Idle time before the first probe, 1 s to 32,767 s.
    pub idle: Option<Duration>,
    /// Between probes, 1 s to 32,767 s.
    pub interval: Option<Duration>,
    /// Unanswered probes before the connection ends, 1 to 127.
    pub count: Option<u32>,
}

impl KeepaliveParams {
    /// Linux's bounds (`MAX_TCP_KEEPIDLE`, `MAX_TCP_KEEPINTVL`, `MAX_TCP_KEEPCNT`): anything
    /// outside is EINVAL.
    fn check(&self) -> Result<(), TcpError> {
        let secs = |d: Option<Duration>| {
            d.is_none_or(|d| (Duration::from_secs(1)..=Duration::from_secs(32_767)).contains(&d))
        };
        if secs(self.idle)
            && secs(self.interval)
            && self.count.is_none_or(|c| (1..=127).contains(&c))
        {
            Ok(())
        } else {
            Err(TcpError::InvalidArgument)
        }
    }

    /// `self` with `other`'s settings where it has them.
    fn merged(self, other: KeepaliveParams) -> KeepaliveParams {
        KeepaliveParams {
            idle: other.idle.or(self.idle),
            interval: other.interval.or(self.interval),
            count: other.count.or(self.count),
        }
    }
}

#[derive(Debug)]
struct Listener {
    local: SocketAddrV4,
    /// IP header settings, inherited by the listener's children and used for its SYN-ACKs.
    ip: SockIp,
    /// Socket options the listener's children inherit.
    child: ChildOpts,
    backlog: usize,
    /// Half-open children (SYN-RECEIVED).
    syn_queue: usize,
    /// When the SYN queue last overflowed and a cookie went out (Linux `last_overflow`).
    last_overflow: Option<Instant>,
    /// Established children waiting for accept.
    accept: VecDeque<usize>,
}

#[derive(Debug)]
enum Sock {
    Conn(Box<Conn>),
    Listener(Listener),
}

/// All TCP sockets of a stack and the demux tables (`tcp_hashinfo`).
#[derive(Debug)]
pub struct TcpTable {
    socks: Slots,
    /// Connections by (local, remote) address, Linux's established hash. The remote end picks
    /// half the key, so the hash is keyed with a per-table random seed (as `inet_ehashfn`
    /// keys jhash with a boot-time secret).
    conns: HashMap<(SocketAddrV4, SocketAddrV4), usize, foldhash::fast::RandomState>,
    listeners: HashMap<u16, Vec<usize>, foldhash::fast::RandomState>,
    /// Every live socket, listener or connection, by its local port (Linux's bind hash of
    /// `inet_bind_bucket`s): the bind conflict checks and the port pickers look at the
    /// sockets on one port instead of scanning the table, so opening N sockets is not
    /// O(N²). A slot is in it from [`Self::insert`] to [`Self::remove`], whatever its state.
    bhash: PortIndex,
    /// Empty slots of `socks`: a new socket takes the lowest free slot without a scan.
    vacant: FreeSlots,
    pub(crate) isn: IsnGenerator,
    /// Connect's per-destination port counters (Linux `table_perturb`).
    perturb: Perturb,
    /// How many random draws the port pickers made: the index of the next one in the keyed
    /// sequence ([`IsnGenerator::port_random`]).
    port_draws: u64,
    pub(crate) mib: TcpMib,
    challenge_window: Instant,
    challenge_count: u32,
    scratch: Vec<OutSeg>,
    rx_scratch: Vec<u8>,
    /// Connections whose last flush stopped at a segment an interface queue refused; they
    /// are flushed again once that queue has let a packet go (the role of Linux's TSQ
    /// tasklet).
    refused: Vec<Refused>,
    cfg: TcpConfig,
}

impl TcpTable {
    /// An empty table with `cfg`.
    pub fn new(cfg: TcpConfig) -> Self {
        TcpTable {
            socks: Slots::default(),
            conns: HashMap::default(),
            listeners: HashMap::default(),
            bhash: PortIndex::default(),
            vacant: FreeSlots::default(),
            isn: IsnGenerator::new(cfg.secret),
            perturb: Perturb::default(),
            port_draws: 0,
            mib: TcpMib::default(),
            challenge_window: Instant::ZERO,
            challenge_count: 0,
            scratch: Vec::with_capacity(OUTPUT_BATCH),
            rx_scratch: Vec::new(),
            refused: Vec::new(),
            cfg,
        }
    }

    fn conn(&mut self, h: TcpHandle) -> Result<&mut Conn, TcpError> {
        match self.socks.get_mut(h.0) {
            Some(Some(Sock::Conn(c))) if !c.orphan => Ok(c),
            Some(Some(Sock::Listener(_))) => Err(TcpError::IsListening),
            _ => Err(TcpError::BadHandle),
        }
    }

    fn conn_ref(&self, h: TcpHandle) -> Result<&Conn, TcpError> {
        match self.socks.get(h.0) {
            Some(Some(Sock::Conn(c))) if !c.orphan => Ok(c),
            Some(Some(Sock::Listener(_))) => Err(TcpError::IsListening),
            _ => Err(TcpError::BadHandle),
        }
    }

    /// Puts `s` in the lowest free slot and in the bind hash under its local port.
    fn insert(&mut self, s: Sock) -> usize {
        let port = match &s {
            Sock::Listener(l) => l.local.port(),
            Sock::Conn(c) => c.local.port(),
        };
        let i = match self.vacant.take(&self.socks) {
            Some(i) => {
                self.socks[i] = Some(s);
                i
            }
            None => {
                self.socks.push(Some(s));
                self.socks.len() - 1
            }
        };
        self.bhash.insert(port, i);
        i
    }

    /// Frees slot `i`: out of the bind hash, its port released once no other socket holds
    /// it.
    fn remove(&mut self, i: usize) {
        let Some(s) = self.socks.get_mut(i).and_then(Option::take) else {
            return;
        };
        let port = match &s {
            Sock::Listener(l) => l.local.port(),
            Sock::Conn(c) => c.local.port(),
        };
        self.bhash.remove(port, i);
        self.vacant.free(i);
    }

    /// The IP header settings of socket `h`, connection or listener.
    fn sock_ip_mut(&mut self, h: TcpHandle) -> Result<&mut SockIp, TcpError> {
        match self.socks.get_mut(h.0) {
            Some(Some(Sock::Conn(c))) if !c.orphan => Ok(&mut c.ip),
            Some(Some(Sock::Listener(l))) => Ok(&mut l.ip),
            _ => Err(TcpError::BadHandle),
        }
    }

    /// See [`Self::sock_ip_mut`]; read-only.
    fn sock_ip(&self, h: TcpHandle) -> Result<SockIp, TcpError> {
        match self.socks.get(h.0) {
            Some(Some(Sock::Conn(c))) if !c.orphan => Ok(c.ip),
            Some(Some(Sock::Listener(l))) => Ok(l.ip),
            _ => Err(TcpError::BadHandle),
        }
    }

    /// The IP header settings of listener `li` (defaults if it is gone).
    fn listener_ip(&self, li: usize) -> SockIp {
        match self.socks.get(li) {
            Some(Some(Sock::Listener(l))) => l.ip,
            _ => SockIp::default(),
        }
    }

    /// Gives connection `i` what it inherits from listener `li` as it becomes a socket of its
    /// own (Linux `inet_csk_clone_lock` copies the listener): its IP header settings, user
    /// timeout and keepalive settings.
    fn inherit(&mut self, i: usize, li: usize, now: Instant) {
        let (ip, child) = match self.socks.get(li) {
            Some(Some(Sock::Listener(l))) => (l.ip, l.child),
            _ => (SockIp::default(), ChildOpts::default()),
        };
        if let Some(Some(Sock::Conn(c))) = self.socks.get_mut(i) {
            c.ip = ip;
            c.user_timeout = child.user_timeout;
            c.set_keepalive_params(child.keepalive_params, now);
            if child.keepalive {
                c.set_keepalive(true, now);
            }
        }
    }

    /// The live sockets whose local port is `port`.
    fn on_port(&self, port: u16) -> impl Iterator<Item = &Sock> {
        self.bhash
            .get(port)
            .iter()
            .filter_map(|&i| self.socks.get(i).and_then(Option::as_ref))
    }

    fn listener_for(&self, addr: Ipv4Addr, port: u16) -> Option<usize> {
        let v = self.listeners.get(&port)?;
        let mut best = None;
        for &i in v {
            if let Some(Some(Sock::Listener(l))) = self.socks.get(i) {
                if *l.local.ip() == addr {
                    return Some(i);
                }
                if l.local.ip().is_unspecified() {
                    best = Some(i);
                }
            }
        }
        best
    }

    /// Whether binding `local` (a listener, or a connection from a chosen port) conflicts
    /// with a socket holding its port, by Linux's `inet_csk_bind_conflict`: an owner on the
    /// same address, or where either address is the wildcard, conflicts unless both have
    /// `SO_REUSEADDR` and the owner is not listening.
    ///
    /// The stack has no `SO_REUSEADDR` switch; it takes std's: listeners have it (std sets it
    /// in `TcpListener::bind`), and so do the connections they accept (Linux `sk_clone`
    /// copies it); connections from a chosen port act as if they had it (they share the port
    /// with each other, 4-tuples permitting); connect's ephemeral ports are bound without it
    /// (`TcpStream::connect`). So listeners and ephemeral connections conflict, while a bound
    /// connection leaves its port to a new listener (a restarted server). An ephemeral
    /// connection holds its port until it is gone, TIME-WAIT included, but not once CLOSED
    /// (Linux `tcp_set_state` then releases a port that bind() did not lock).
    ///
    /// `relax` false is the check of a bind to port 0 (`inet_csk_find_open_port` passes
    /// `relax = false`): `SO_REUSEADDR` shares nothing there, so every owner on an
    /// overlapping address conflicts, bound connections too (for as long as they live: bind()
    /// locked their port).
    fn bind_conflict(&self, local: SocketAddrV4, relax: bool) -> bool {
        let overlaps =
            |a: &Ipv4Addr| a == local.ip() || a.is_unspecified() || local.ip().is_unspecified();
        self.on_port(local.port()).any(|s| match s {
            Sock::Listener(l) => l.local.port() == local.port() && overlaps(l.local.ip()),
            Sock::Conn(c) => {
                let holds = if c.port_bound {
                    !relax
                } else {
                    c.state != TcpState::Closed
                };
                holds && c.local.port() == local.port() && overlaps(c.local.ip())
            }
        })
    }

    /// Whether connect's port picker passes over `port` because a bind holds it, whatever
    /// the address: Linux `__inet_hash_connect` skips a bind bucket with `fastreuse >= 0`
    /// without looking at addresses, and shares only ports connect itself picked.
    fn port_bound(&self, port: u16) -> bool {
        self.listeners.contains_key(&port)
            || self
                .on_port(port)
                .any(|s| matches!(s, Sock::Conn(c) if c.port_bound && c.local.port() == port))
    }

    /// The next random draw of the port pickers.
    fn port_draw(&mut self) -> u32 {
        let n = self.port_draws;
        self.port_draws = n.wrapping_add(1);
        self.isn.port_random(protocol::TCP, n)
    }

    fn allow_challenge(&mut self, now: Instant) -> bool {
        if now.saturating_duration_since(self.challenge_window) >= Duration::from_secs(1) {
            self.challenge_window = now;
            self.challenge_count = 0;
        }
        if self.challenge_count < self.cfg.challenge_ack_limit {
            self.challenge_count += 1;
            true
        } else {
            false
        }
    }

    /// The counters, with `curr_estab` counted now.
    pub fn mib(&self) -> TcpMib {
        let mut m = self.mib;
        m.curr_estab = self
            .socks
            .iter()
            .flatten()
            .filter(|s| {
                matches!(s, Sock::Conn(c) if matches!(c.state, TcpState::Established | TcpState::CloseWait))
            })
            .count() as u64;
        m
    }

    /// The earliest timer of any connection.
    pub fn next_wakeup(&self) -> Option<Instant> {
        self.socks.next_timer()
    }
}

/// The most payload one segment can carry on a path of `mtu` bytes before TCP options
/// (Linux `tcp_mtu_to_mss`: the MTU minus the IPv4 and TCP fixed headers, 48 at least).
fn path_mss(mtu: usize) -> u32 {
    mtu.saturating_sub(40).max(48) as u32
}

/// A reset answering `seg` (RFC 9293 §3.10.7.1): with its ACK number as our sequence when it
/// carried an ACK, else sequence 0 acknowledging everything it occupied.
fn reset_for(seg: &TcpRepr, payload_len: usize) -> TcpRepr {
    let f = seg.flags;
    let (seq, ack, flags) = if f.contains(TcpFlags::ACK) {
        (seg.ack, 0, TcpFlags::RST)
    } else {
        let len = payload_len as u32
            + u32::from(f.contains(TcpFlags::SYN))
            + u32::from(f.contains(TcpFlags::FIN));
        (0, seg.seq.wrapping_add(len), TcpFlags::RST | TcpFlags::ACK)
    };
    TcpRepr {
        src_port: seg.dst_port,
        dst_port: seg.src_port,
        seq,
        ack,
        flags: TcpFlags(flags),
        window: 0,
        urgent: 0,
        options: TcpOptions::default(),
    }
}

impl Stack {
    /// TCP counters.
    pub fn tcp_mib(&self) -> TcpMib {
        self.tcp.mib()
    }

    /// The TCP settings new sockets get.
    pub fn tcp_config(&self) -> &TcpConfig {
        &self.tcp.cfg
    }

    /// Changes the TCP settings for sockets created from now on (the ISN/cookie key too).
    pub fn set_tcp_config(&mut self, cfg: TcpConfig) {
        self.tcp.isn = IsnGenerator::new(cfg.secret);
        self.tcp.cfg = cfg;
    }

    /// The MSS to offer `dst`: its route's MTU, a smaller path MTU cached for it included,
    /// minus the IPv4 and TCP headers (Linux `ipv4_default_advmss` on `ipv4_mtu(dst)`).
    fn adv_mss_for(&self, dst: Ipv4Addr, now: Instant) -> u16 {
        let link = self.route_link_mtu(dst).unwrap_or(1500);
        let mtu = self.pmtu.path_mtu(dst, link, now);
        (mtu.saturating_sub(40)).clamp(88, 65_495) as u16
    }

    /// Opens a listening socket on `local` with room for `backlog` connections waiting to be
    /// accepted (`socket` + `bind` + `listen`). Port 0 picks a free ephemeral port, one no
    /// socket holds on an overlapping address (Linux `inet_csk_find_open_port`: no
    /// `SO_REUSEADDR` sharing for it); [`TcpError::NoFreePort`] when there is none. The
    /// search starts at a random port (RFC 6056) and tries odd ports first, those of the
    /// lower half of the range before the upper half (a listener has `SO_REUSEADDR`).
    pub fn tcp_listen(
        &mut self,
        local: SocketAddrV4,
        backlog: usize,
    ) -> Result<TcpHandle, TcpError> {
        if !local.ip().is_unspecified() && !self.is_local_addr(*local.ip()) {
            return Err(TcpError::AddrNotAvailable);
        }
        let mut local = local;
        if local.port() == 0 {
            // Listeners have SO_REUSEADDR (see `bind_conflict`): the lower half first.
            let draws = [self.tcp.port_draw(), self.tcp.port_draw()];
            let port = ephemeral::bind_ports(draws, true)
                .find(|&p| {
                    !self
                        .tcp
                        .bind_conflict(SocketAddrV4::new(*local.ip(), p), false)
                })
                .ok_or(TcpError::NoFreePort)?;
            local.set_port(port);
        } else if self.tcp.bind_conflict(local, true) {
            return Err(TcpError::AddrInUse);
        }
        let i = self.tcp.insert(Sock::Listener(Listener {
            local,
            ip: SockIp::default(),
            child: ChildOpts::default(),
            backlog: backlog.max(1),
            syn_queue: 0,
            last_overflow: None,
            accept: VecDeque::new(),
        }));
        self.tcp.listeners.entry(local.port()).or_default().push(i);
        Ok(TcpHandle(i))
    }

    /// Starts a connection to `remote` from an address the route picks and an ephemeral
    /// port (`connect` on a non-blocking socket): the handle is in SYN-SENT; it becomes
    /// writable when established, or reports the error. A connect to 0.0.0.0 is to this
    /// host, as on Linux: its peer is the bound address, else 127.0.0.1. From a 127/8
    /// address to another host it is [`TcpError::InvalidArgument`] (EINVAL: a loopback
    /// source never leaves the host). The port is found as Linux's
    /// `__inet_hash_connect` does (RFC 6056 algorithm 4): from a keyed hash of the addresses
    /// and the remote port plus a per-destination counter, even ports first.
    pub fn tcp_connect(
        &mut self,
        remote: SocketAddrV4,
        now: Instant,
    ) -> Result<TcpHandle, TcpError> {
        self.tcp_connect_from(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0), remote, now)
    }

    /// [`Self::tcp_connect`] from a chosen local address and/or port (0 = pick).
    pub fn tcp_connect_from(
        &mut self,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        now: Instant,
    ) -> Result<TcpHandle, TcpError> {
        let src = (!local.ip().is_unspecified()).then_some(*local.ip());
        if let Some(s) = src {
            if !self.is_local_addr(s) {
                return Err(TcpError::AddrNotAvailable);
            }
        }
        // The route's own error, as Linux `tcp_v4_connect` returns `ip_route_connect`'s:
        // ENETUNREACH without a route, EHOSTUNREACH for an unreachable one.
        let rt = self
            .ip_route_output(*remote.ip(), src)
            .map_err(|e| match e {
                SendError::NetUnreachable => TcpError::NetUnreachable,
                SendError::NoSourceAddress => TcpError::AddrNotAvailable,
                SendError::Prohibited => TcpError::Prohibited,
                SendError::Blackhole => TcpError::Blackhole,
                SendError::LoopbackSource => TcpError::InvalidArgument,
                _ => TcpError::Unreachable,
            })?;
        // 0.0.0.0 is this host (Linux `ip_route_connect`): the route says which address it
        // became, and that is the peer.
        let remote = SocketAddrV4::new(rt.dst, remote.port());
        // No connection to a broadcast or multicast address (RFC 1122 4.2.3.10). Linux
        // `tcp_v4_connect` gives ENETUNREACH for a broadcast or multicast route.
        let dst = rt.dst;
        if dst.is_multicast() || self.is_broadcast_on(rt.nh.ifindex, dst) {
            return Err(TcpError::NetUnreachable);
        }
        let bind = local;
        let mut local = SocketAddrV4::new(rt.src, local.port());
        if local.port() == 0 {
            let port_offset = self.tcp.isn.port_offset(rt.src, remote);
            let jitter = self.tcp.port_draw();
            // Out of the table while the walk reads the table's sockets.
            let mut perturb = core::mem::take(&mut self.tcp.perturb);
            let tcp = &self.tcp;
            let found = ephemeral::connect_port(&mut perturb, port_offset, jitter, |p| {
                let cand = SocketAddrV4::new(rt.src, p);
                !tcp.conns.contains_key(&(cand, remote)) && !tcp.port_bound(p)
            });
            self.tcp.perturb = perturb;
            local.set_port(found.ok_or(TcpError::NoFreePort)?);
        } else if self.tcp.conns.contains_key(&(local, remote))
            || self.tcp.bind_conflict(bind, true)
        {
            // The bind is of the address asked for: a wildcard one conflicts with a listener
            // on any address, as bind() before connect() would.
            return Err(TcpError::AddrInUse);
        }
        let iss = self.tcp.isn.isn(local, remote, now);
        let mss = self.adv_mss_for(*remote.ip(), now);
        let mut c = Conn::connect(&self.tcp.cfg, local, remote, iss, mss, now);
        c.port_bound = bind.port() != 0;
        let i = self.tcp.insert(Sock::Conn(Box::new(c)));
        self.tcp.conns.insert((local, remote), i);
        self.tcp.mib.active_opens += 1;
        self.tcp_flush(i, now);
        Ok(TcpHandle(i))
    }

    /// Takes an established connection off a listener's accept queue (`accept`).
    pub fn tcp_accept(&mut self, h: TcpHandle) -> Result<(TcpHandle, SocketAddrV4), TcpError> {
        let child = match self.tcp.socks.get_mut(h.0) {
            Some(Some(Sock::Listener(l))) => l.accept.pop_front().ok_or(TcpError::WouldBlock)?,
            Some(Some(Sock::Conn(_))) => return Err(TcpError::NotListening),
            _ => return Err(TcpError::BadHandle),
        };
        let Some(Some(Sock::Conn(c))) = self.tcp.socks.get_mut(child) else {
            return Err(TcpError::WouldBlock);
        };
        c.parent = None;
        Ok((TcpHandle(child), c.remote))
    }

    /// Queues `data` for sending; returns the bytes taken (fewer when the send buffer fills;
    /// [`TcpError::WouldBlock`] when none fit). A pending error (a reset, a timeout, a
    /// refused connect) fails the call and is cleared, as Linux's `sock_error` does: the
    /// next write fails with [`TcpError::BrokenPipe`].
    pub fn tcp_send(&mut self, h: TcpHandle, data: &[u8], now: Instant) -> Result<usize, TcpError> {
        let n = self.tcp.conn(h)?.send(data, now)?;
        self.tcp_flush(h.0, now);
        Ok(n)
    }

    /// Reads received bytes; `Ok(0)` means end of stream (the peer's FIN, a read shutdown,
    /// or a connection ended by an error already reported). Bytes that came before a reset
    /// are read first; then the pending error fails one read and is cleared (Linux
    /// `sock_error`), and reads after it return end of stream.
    pub fn tcp_recv(
        &mut self,
        h: TcpHandle,
        buf: &mut [u8],
        now: Instant,
    ) -> Result<usize, TcpError> {
        self.tcp_read(h, now, |c| c.recv(buf, now))
    }

    /// [`Self::tcp_recv`] without consuming (`MSG_PEEK`): copies the oldest received bytes
    /// into `buf` and leaves them queued; end of stream, errors and would-block as a read.
    pub fn tcp_peek(&mut self, h: TcpHandle, buf: &mut [u8]) -> Result<usize, TcpError> {
        self.tcp.conn(h)?.peek(buf)
    }

    /// [`Self::tcp_recv`] without the copy: hands the received bytes to `reader` in place, as
    /// the slices they are held in, oldest first (Linux `tcp_read_sock`, smoltcp's `recv`
    /// closure). `reader` returns how many bytes of each slice it consumed; reading stops at
    /// a slice it did not take whole, and the rest stays queued for the next read. Returns the
    /// bytes consumed, with [`Self::tcp_recv`]'s end-of-stream and error results when none
    /// were; the window reopens as after a copying read.
    pub fn tcp_recv_with(
        &mut self,
        h: TcpHandle,
        reader: impl FnMut(&[u8]) -> usize,
        now: Instant,
    ) -> Result<usize, TcpError> {
        self.tcp_read(h, now, |c| c.recv_with(reader, now))
    }

    /// A read (`read`) on connection `h`, then the window update or ACK it may call for.
    fn tcp_read(
        &mut self,
        h: TcpHandle,
        now: Instant,
        read: impl FnOnce(&mut Conn) -> Result<usize, TcpError>,
    ) -> Result<usize, TcpError> {
        let c = self.tcp.conn(h)?;
        let r = read(c);
        if c.wants_output() {
            self.tcp_flush(h.0, now);
        }
        r
    }

    /// Bytes waiting to be read.
    pub fn tcp_recv_queue(&self, h: TcpHandle) -> Result<usize, TcpError> {
        Ok(self.tcp.conn_ref(h)?.rx.len())
    }

    /// Bytes queued and not yet acknowledged.
    pub fn tcp_send_queue(&self, h: TcpHandle) -> Result<usize, TcpError> {
        Ok(self.tcp.conn_ref(h)?.tx.len())
    }

    /// Closes one or both directions (`shutdown`).
    pub fn tcp_shutdown(
        &mut self,
        h: TcpHandle,
        how: Shutdown,
        now: Instant,
    ) -> Result<(), TcpError> {
        let c = self.tcp.conn(h)?;
        // Linux `inet_shutdown`: ENOTCONN on a socket in TCP_CLOSE, which the user's socket
        // is after a reset, a timeout or the close handshake (TIME-WAIT lives on in a
        // separate timewait sock there).
        if matches!(c.state, TcpState::Closed | TcpState::TimeWait) {
            return Err(TcpError::NotConnected);
        }
        // A connect still in SYN-SENT is disconnected whichever half is shut (`inet_shutdown`
        // calls `tcp_disconnect`): closed, ECONNRESET pending, nothing shut.
        if c.state == TcpState::SynSent {
            c.disconnect();
            self.tcp_finish(h.0);
            return Ok(());
        }
        if matches!(how, Shutdown::Read | Shutdown::Both) {
            c.rx_shut = true;
            if !c.rx.is_empty() {
                c.rx_discarded = true;
            }
            c.rx.clear();
        }
        if matches!(how, Shutdown::Write | Shutdown::Both) {
            c.shutdown_write();
            if c.state == TcpState::Closed {
                self.tcp_finish(h.0);
                return Ok(());
            }
        }
        self.tcp_flush(h.0, now);
        Ok(())
    }

    /// Closes the socket (`close`). A listener resets its pending connections. A connection
    /// with unread data is reset (RFC 2525 §2.17); otherwise it closes gracefully in the
    /// background and the handle is released at once.
    pub fn tcp_close(&mut self, h: TcpHandle, now: Instant) -> Result<(), TcpError> {
        match self.tcp.socks.get_mut(h.0) {
            Some(Some(Sock::Listener(l))) => {
                let port = l.local.port();
                let pending: Vec<usize> = l.accept.drain(..).collect();
                if let Some(v) = self.tcp.listeners.get_mut(&port) {
                    v.retain(|&i| i != h.0);
                    if v.is_empty() {
                        self.tcp.listeners.remove(&port);
                    }
                }
                self.tcp.remove(h.0);
                // Children still in the handshake or never accepted are reset.
                let children: Vec<usize> = self
                    .tcp
                    .socks
                    .iter()
                    .enumerate()
                    .filter_map(|(i, s)| match s {
                        Some(Sock::Conn(c)) if c.parent == Some(h.0) => Some(i),
                        _ => None,
                    })
                    .chain(pending)
                    .collect();
                for i in children {
                    self.tcp_abort_index(i, now);
                }
                Ok(())
            }
            Some(Some(Sock::Conn(c))) if !c.orphan => {
                if c.has_unread() {
                    self.tcp_abort_index(h.0, now);
                    return Ok(());
                }
                c.orphan = true;
                match c.state {
                    TcpState::Closed | TcpState::SynSent => {
                        self.tcp_finish(h.0);
                        return Ok(());
                    }
                    TcpState::FinWait2 => {
                        let t = now + self.tcp.cfg.fin_timeout;
                        c.set_linger(t);
                    }
                    _ => c.shutdown_write(),
                }
                self.tcp_flush(h.0, now);
                Ok(())
            }
            _ => Err(TcpError::BadHandle),
        }
    }

    /// Sends the reset a connection that a timer just ended owes its peer (keepalive's, Linux
    /// `tcp_keepalive_timer` → `tcp_send_active_reset`), as an abort's: the connection's own
    /// TTL, TOS and IP identification counter.
    fn tcp_timeout_reset(&mut self, i: usize, now: Instant) {
        let Some(Some(Sock::Conn(c))) = self.tcp.socks.get_mut(i) else {
            return;
        };
        if std::mem::take(&mut c.reset_on_close) {
            self.tcp_send_active_reset(i, now);
        }
    }

    /// `tcp_send_active_reset`: connection `i`'s own reset (`Conn::reset_repr`), with its
    /// TTL, TOS and IP identification counter (Linux sends it through `tcp_transmit_skb`).
    fn tcp_send_active_reset(&mut self, i: usize, now: Instant) {
        let Some(Some(Sock::Conn(c))) = self.tcp.socks.get_mut(i) else {
            return;
        };
        let rst = c.reset_repr();
        let (local, remote) = (c.local, c.remote);
        let (ip, ident) = (c.ip, Some(c.take_ip_ids(1)));
        self.tcp_send_bare(local, remote, &rst, ip, ident, now);
    }

    /// Aborts a connection with a reset (`SO_LINGER` 0 + `close`).
    pub fn tcp_abort(&mut self, h: TcpHandle, now: Instant) -> Result<(), TcpError> {
        self.tcp.conn(h)?;
        self.tcp_abort_index(h.0, now);
        Ok(())
    }

    fn tcp_abort_index(&mut self, i: usize, now: Instant) {
        let Some(Some(Sock::Conn(c))) = self.tcp.socks.get_mut(i) else {
            return;
        };
        let mib = &mut self.tcp.mib;
        let send_rst = !matches!(
            c.state,
            TcpState::Closed | TcpState::SynSent | TcpState::TimeWait | TcpState::Listen
        );
        c.abort(mib);
        c.orphan = true;
        if send_rst {
            self.tcp_send_active_reset(i, now);
        }
        self.tcp_finish(i);
    }

    /// Connection state.
    pub fn tcp_state(&self, h: TcpHandle) -> Result<TcpState, TcpError> {
        match self.tcp.socks.get(h.0) {
            Some(Some(Sock::Listener(_))) => Ok(TcpState::Listen),
            _ => Ok(self.tcp.conn_ref(h)?.state),
        }
    }

    /// What the socket is ready for.
    pub fn tcp_readiness(&self, h: TcpHandle) -> Result<Readiness, TcpError> {
        match self.tcp.socks.get(h.0) {
            Some(Some(Sock::Listener(l))) => Ok(Readiness {
                readable: !l.accept.is_empty(),
                ..Readiness::default()
            }),
            _ => {
                let c = self.tcp.conn_ref(h)?;
                Ok(Readiness {
                    readable: c.readable(),
                    writable: c.writable(),
                    error: c.error.is_some(),
                    // Linux `tcp_poll`: EPOLLHUP once `sk_shutdown == SHUTDOWN_MASK`, reading
                    // shut (by the peer's FIN or shutdown(Read)) and writing shut.
                    hangup: c.state == TcpState::Closed
                        || ((c.rx_eof || c.rx_shut) && c.fin_queued),
                    // Linux `tcp_poll`: EPOLLRDHUP (with EPOLLIN) while `RCV_SHUTDOWN` is
                    // set, which `tcp_done` sets too when a reset or timeout ends it.
                    read_hangup: c.rx_eof || c.rx_shut || c.state == TcpState::Closed,
                })
            }
        }
    }

    /// Appends to `out` the handles of the TCP sockets whose [`Self::tcp_readiness`] may have
    /// changed since `since` (the `next` of the previous answer; a handle may come more than
    /// once, and one may name a socket closed and even reused since), so that a poller
    /// re-checks only those, as epoll re-checks only the sockets on its ready list. Readiness
    /// derives from the socket's own state only, and every change to that state is logged.
    /// When [`Changes::complete`] is false the log no longer reaches back to `since`:
    /// nothing is listed and every socket must be re-checked.
    pub fn tcp_changes(&mut self, since: ChangeGen, out: &mut Vec<TcpHandle>) -> Changes {
        self.tcp
            .socks
            .changes_since(since, |i| out.push(TcpHandle(i)))
    }

    /// Takes the pending error (`SO_ERROR`): the error a reset, a timeout or a failed
    /// connect left, else the last soft ICMP error, read and cleared as Linux's
    /// `sk_getsockopt` does. A timeout named by a soft error leaves that soft error too, as
    /// Linux's `tcp_write_err` does: the call that reports the timeout takes the first, the
    /// next `SO_ERROR` the second.
    pub fn tcp_take_error(&mut self, h: TcpHandle) -> Result<Option<TcpError>, TcpError> {
        Ok(self.tcp.conn(h)?.so_error())
    }

    /// The pending error without clearing it (what [`Readiness::error`] shows).
    pub fn tcp_error(&self, h: TcpHandle) -> Result<Option<TcpError>, TcpError> {
        Ok(self.tcp.conn_ref(h)?.error)
    }

    /// Local address.
    pub fn tcp_local_addr(&self, h: TcpHandle) -> Result<SocketAddrV4, TcpError> {
        match self.tcp.socks.get(h.0) {
            Some(Some(Sock::Listener(l))) => Ok(l.local),
            _ => Ok(self.tcp.conn_ref(h)?.local),
        }
    }

    /// Peer address.
    pub fn tcp_peer_addr(&self, h: TcpHandle) -> Result<SocketAddrV4, TcpError> {
        Ok(self.tcp.conn_ref(h)?.remote)
    }

    /// Counters and state (`TCP_INFO`).
    pub fn tcp_info(&self, h: TcpHandle) -> Result<TcpInfo, TcpError> {
        Ok(self.tcp.conn_ref(h)?.info())
    }

    /// Sets the TTL of the socket's datagrams (`IP_TTL`); `None` goes back to the stack's
    /// default. On a listener it is the TTL of its SYN-ACKs (cookie ones too), and the
    /// connections it accepts inherit it, and its own resets (an abort) carry it. Segments
    /// sent from TIME-WAIT and resets answering a segment use the default, as on Linux. A
    /// TTL of 0 is [`TcpError::InvalidArgument`].
    pub fn tcp_set_ttl(&mut self, h: TcpHandle, ttl: Option<u8>) -> Result<(), TcpError> {
        if ttl == Some(0) {
            return Err(TcpError::InvalidArgument);
        }
        self.tcp.sock_ip_mut(h)?.ttl = ttl;
        Ok(())
    }

    /// The TTL of the socket's datagrams: the one set, else the stack's default.
    pub fn tcp_ttl(&self, h: TcpHandle) -> Result<u8, TcpError> {
        Ok(self.tcp.sock_ip(h)?.ttl.unwrap_or(self.cfg.default_ttl))
    }

    /// Sets the TOS byte of the socket's datagrams (`IP_TOS`). As on Linux for a stream
    /// socket, the two ECN bits are not the user's: they are cleared. Inherited like
    /// [`Self::tcp_set_ttl`]'s setting; TIME-WAIT keeps it.
    pub fn tcp_set_tos(&mut self, h: TcpHandle, tos: u8) -> Result<(), TcpError> {
        self.tcp.sock_ip_mut(h)?.tos = tos & !ECN_MASK;
        Ok(())
    }

    /// The TOS byte of the socket's datagrams.
    pub fn tcp_tos(&self, h: TcpHandle) -> Result<u8, TcpError> {
        Ok(self.tcp.sock_ip(h)?.tos)
    }

    /// Turns Nagle's algorithm off or on (`TCP_NODELAY`).
    pub fn tcp_set_nodelay(
        &mut self,
        h: TcpHandle,
        on: bool,
        now: Instant,
    ) -> Result<(), TcpError> {
        self.tcp.conn(h)?.nodelay = on;
        self.tcp_flush(h.0, now);
        Ok(())
    }

    /// Sets the socket's user timeout (`TCP_USER_TIMEOUT`); `None` or zero goes back to the
    /// default. It is how long sent data may stay unacknowledged, or queued data unsent
    /// behind a zero window, before the connection ends with [`TcpError::TimedOut`], in place
    /// of the retry counts; with keepalive on, how long the peer may stay silent once a probe
    /// went unanswered, in place of the probe count. Retransmissions and probes go out as
    /// before; only the retransmission and persist timers are cut short so the connection
    /// ends on time (Linux `tcp_clamp_rto_to_user_timeout`). A listener's children inherit
    /// it.
    pub fn tcp_set_user_timeout(
        &mut self,
        h: TcpHandle,
        timeout: Option<Duration>,
    ) -> Result<(), TcpError> {
        let timeout = timeout.filter(|t| !t.is_zero());
        match self.tcp.socks.get_mut(h.0) {
            Some(Some(Sock::Listener(l))) => l.child.user_timeout = timeout,
            _ => self.tcp.conn(h)?.user_timeout = timeout,
        }
        Ok(())
    }

    /// The socket's user timeout, `None` when it has none.
    pub fn tcp_user_timeout(&self, h: TcpHandle) -> Result<Option<Duration>, TcpError> {
        match self.tcp.socks.get(h.0) {
            Some(Some(Sock::Listener(l))) => Ok(l.child.user_timeout),
            _ => Ok(self.tcp.conn_ref(h)?.user_timeout),
        }
    }

    /// Keepalive probes on or off (`SO_KEEPALIVE`). On a listener, the connections it accepts
    /// start with it on.
    pub fn tcp_set_keepalive(
        &mut self,
        h: TcpHandle,
        on: bool,
        now: Instant,
    ) -> Result<(), TcpError> {
        match self.tcp.socks.get_mut(h.0) {
            Some(Some(Sock::Listener(l))) => l.child.keepalive = on,
            _ => self.tcp.conn(h)?.set_keepalive(on, now),
        }
        Ok(())
    }

    /// Whether keepalive probes are on.
    pub fn tcp_keepalive(&self, h: TcpHandle) -> Result<bool, TcpError> {
        match self.tcp.socks.get(h.0) {
            Some(Some(Sock::Listener(l))) => Ok(l.child.keepalive),
            _ => Ok(self.tcp.conn_ref(h)?.keepalive),
        }
    }

    /// Sets the socket's own keepalive idle time, probe interval and probe count
    /// (`TCP_KEEPIDLE`, `TCP_KEEPINTVL`, `TCP_KEEPCNT`); a `None` leaves that one as it is.
    /// Outside Linux's bounds (1 s to 32,767 s; 1 to 127 probes) it is
    /// [`TcpError::InvalidArgument`] and nothing changes. A new idle time applies at once to
    /// a connection with keepalive on, counted from the last segment received (Linux
    /// `tcp_sock_set_keepidle`); a listener's settings are its children's.
    pub fn tcp_set_keepalive_params(
        &mut self,
        h: TcpHandle,
        params: KeepaliveParams,
        now: Instant,
    ) -> Result<(), TcpError> {
        params.check()?;
        match self.tcp.socks.get_mut(h.0) {
            Some(Some(Sock::Listener(l))) => {
                l.child.keepalive_params = l.child.keepalive_params.merged(params);
            }
            _ => self.tcp.conn(h)?.set_keepalive_params(params, now),
        }
        Ok(())
    }

    /// The keepalive idle time, interval and count the socket uses (its own, else the
    /// stack's), all three filled in.
    pub fn tcp_keepalive_params(&self, h: TcpHandle) -> Result<KeepaliveParams, TcpError> {
        let cfg = &self.tcp.cfg;
        let own = match self.tcp.socks.get(h.0) {
            Some(Some(Sock::Listener(l))) => l.child.keepalive_params,
            _ => self.tcp.conn_ref(h)?.keepalive_params(),
        };
        Ok(KeepaliveParams {
            idle: Some(cfg.keepalive_time),
            interval: Some(cfg.keepalive_intvl),
            count: Some(cfg.keepalive_probes),
        }
        .merged(own))
    }

    /// Congestion control for this socket (`TCP_CONGESTION`).
    pub fn tcp_set_congestion(&mut self, h: TcpHandle, algo: CcAlgorithm) -> Result<(), TcpError> {
        self.tcp.conn(h)?.set_congestion(algo);
        Ok(())
    }

    /// Fixes the receive buffer (`SO_RCVBUF`; turns autotuning off for this socket).
    pub fn tcp_set_rcvbuf(&mut self, h: TcpHandle, bytes: usize) -> Result<(), TcpError> {
        self.tcp.conn(h)?.set_rcvbuf(bytes);
        Ok(())
    }

    /// Sets the send buffer (`SO_SNDBUF`).
    pub fn tcp_set_sndbuf(&mut self, h: TcpHandle, bytes: usize) -> Result<(), TcpError> {
        self.tcp.conn(h)?.set_sndbuf(bytes);
        Ok(())
    }

    /// Handles of every socket, listeners included.
    pub fn tcp_sockets(&self) -> impl Iterator<Item = TcpHandle> + '_ {
        self.tcp
            .socks
            .iter()
            .enumerate()
            .filter(|(_, s)| match s {
                Some(Sock::Conn(c)) => !c.orphan,
                Some(Sock::Listener(_)) => true,
                None => false,
            })
            .map(|(i, _)| TcpHandle(i))
    }

    // ------------------------------------------------------------------ internals

    /// A connection reached CLOSED: out of the demux table, out of its listener's queues,
    /// and freed if nobody holds its handle.
    fn tcp_finish(&mut self, i: usize) {
        let Some(Some(Sock::Conn(c))) = self.tcp.socks.get(i) else {
            return;
        };
        // The slot may be reused: a new connection must not wait for this one's queue.
        self.tcp.refused.retain(|r| r.conn != i);
        let key = (c.local, c.remote);
        let parent = c.parent;
        let orphan = c.orphan;
        if self.tcp.conns.get(&key) == Some(&i) {
            self.tcp.conns.remove(&key);
        }
        let mut free = orphan;
        if let Some(p) = parent {
            if let Some(Some(Sock::Listener(l))) = self.tcp.socks.get_mut(p) {
                let before = l.accept.len();
                l.accept.retain(|&x| x != i);
                // A child not yet in the accept queue still counts in the SYN queue, even
                // though the reset or timeout that ended it already moved it to CLOSED.
                if l.accept.len() == before {
                    l.syn_queue = l.syn_queue.saturating_sub(1);
                }
            }
            // Never accepted: nobody holds the handle.
            free = true;
        }
        if free {
            self.tcp.remove(i);
        } else if let Some(Some(Sock::Conn(c))) = self.tcp.socks.get_mut(i) {
            c.state = TcpState::Closed;
        }
    }

    /// `tcp_v4_err`: an ICMP error `err` about a segment we sent from `header.src` to
    /// `header.dst`, whose first bytes (ports and sequence number, RFC 792's 8) are `quoted`.
    /// Ignored without a connection for it, in TIME-WAIT (as Linux ignores it for a timewait
    /// sock), or when the quoted sequence is not in flight (counted in OutOfWindowIcmps).
    /// Returns whether a connection has the quoted ports, whatever it makes of the error
    /// (Linux counts one that concerns no connection in ICMP's InErrors).
    pub(crate) fn tcp_err(
        &mut self,
        header: &Ipv4Repr,
        quoted: &[u8],
        err: IcmpError,
        now: Instant,
    ) -> bool {
        let Some(q) = quoted.get(..8) else {
            return false;
        };
        let local = SocketAddrV4::new(header.src, u16::from_be_bytes([q[0], q[1]]));
        let remote = SocketAddrV4::new(header.dst, u16::from_be_bytes([q[2], q[3]]));
        let seq = Seq(u32::from_be_bytes([q[4], q[5], q[6], q[7]]));
        let Some(&i) = self.tcp.conns.get(&(local, remote)) else {
            return false;
        };
        let TcpTable { socks, mib, .. } = &mut self.tcp;
        let Some(Some(Sock::Conn(c))) = socks.get_mut(i) else {
            return false;
        };
        if c.state == TcpState::TimeWait {
            return true;
        }
        if !c.icmp_seq_ok(seq) {
            mib.out_of_window_icmps += 1;
            return true;
        }
        let mut flush = false;
        let e = match err {
            IcmpError::FragNeeded(mtu) => {
                // PMTUD (RFC 1191, Linux `tcp_v4_mtu_reduced`): a smaller path MTU (the cache
                // ignores larger ones and keeps its floor) means the flight was dropped for
                // its size: it goes again now, cut to the new MSS, rather than after an RTO.
                if let Some((before, after)) = self.pmtu_learn(header.dst, mtu, now) {
                    if after < before {
                        if let Some(Some(Sock::Conn(c))) = self.tcp.socks.get_mut(i) {
                            c.mtu_reduced(path_mss(after));
                        }
                        self.tcp_flush(i, now);
                    }
                }
                return true;
            }
            // A fragmentation-needed without its MTU (`icmp_send`'s local path never makes
            // one for TCP): nothing to learn.
            IcmpError::DstUnreachable(DstUnreachable::FragRequired) => return true,
            IcmpError::DstUnreachable(r) => {
                // RFC 6069: only these two codes speak of a route that may come back.
                if matches!(
                    r,
                    DstUnreachable::NetUnreachable | DstUnreachable::HostUnreachable
                ) {
                    match c.rto_revert(seq, now, mib) {
                        Outcome::Closed => {
                            self.tcp_finish(i);
                            return true;
                        }
                        _ => flush = c.wants_output(),
                    }
                }
                icmp_unreach_errno(r)
            }
            IcmpError::TimeExceeded(_) => TcpError::Unreachable,
            IcmpError::ParamProblem(_) => TcpError::ProtocolError,
        };
        // What ends a listener's half-open child (Linux `tcp_v4_err` on a request socket:
        // parameter problem, time exceeded, net or host unreachable).
        let drops_request = matches!(
            err,
            IcmpError::ParamProblem(_)
                | IcmpError::TimeExceeded(_)
                | IcmpError::DstUnreachable(
                    DstUnreachable::NetUnreachable | DstUnreachable::HostUnreachable
                )
        );
        if let Outcome::Closed = c.icmp_error(e, seq, drops_request, mib) {
            self.tcp_finish(i);
        } else if flush {
            self.tcp_flush(i, now);
        }
        true
    }

    /// `tcp_v4_rcv`: `pkt` starts at the TCP header.
    pub(crate) fn tcp_v4_rcv(&mut self, pkt: PacketBuf, hdr: &Ipv4Repr, now: Instant) {
        // TCP is unicast: a segment that reached us as a broadcast or multicast opens no
        // connection and draws no reset (RFC 1122 §4.2.3.10 for SYNs; Linux `tcp_v4_rcv`
        // drops `pkt_type != PACKET_HOST` before counting it, and answers no segment whose
        // route is not local).
        if pkt.meta.pkt_type == PacketType::LinkBroadcast
            || hdr.dst.is_multicast()
            || self.is_broadcast_addr(hdr.dst)
        {
            self.tcp.mib.not_unicast += 1;
            return;
        }
        self.tcp.mib.in_segs += u64::from(pkt.meta.gso_segs.max(1));
        if pkt.nr_frags() == 0 {
            self.tcp_v4_rcv_parts(&pkt, pkt.data(), false, hdr, now);
            return;
        }
        // A GRO train whose checksum is already verified, header in the head: the payload is
        // taken from the head and the fragments where it lies.
        let head_holds_header = pkt
            .data()
            .get(12)
            .is_some_and(|&off| usize::from(off >> 4) * 4 <= pkt.head_len());
        if head_holds_header && l4_checksum_mode(&pkt, hdr) == ChecksumMode::Offloaded {
            self.tcp_v4_rcv_parts(&pkt, pkt.data(), true, hdr, now);
            return;
        }
        // Otherwise one copy into a reused buffer.
        let mut lin = std::mem::take(&mut self.tcp.rx_scratch);
        lin.resize(pkt.len(), 0);
        if pkt.copy_to(&mut lin).is_ok() {
            self.tcp_v4_rcv_parts(&pkt, &lin, false, hdr, now);
        } else {
            self.tcp.mib.in_errs += 1;
        }
        self.tcp.rx_scratch = lin;
    }

    /// The segment in `bytes` (header first), followed by `pkt`'s fragments when `frags`.
    fn tcp_v4_rcv_parts(
        &mut self,
        pkt: &PacketBuf,
        bytes: &[u8],
        frags: bool,
        hdr: &Ipv4Repr,
        now: Instant,
    ) {
        let mode = l4_checksum_mode(pkt, hdr);
        // The bytes are the packet's own (not a linearized copy) when they are its head.
        let own = std::ptr::eq(bytes, pkt.data());
        let parsed = TcpRepr::parse(bytes, hdr.src, hdr.dst, mode).map(|(seg, head)| {
            let rest = pkt.frags().filter(|_| frags);
            let payload = Payload::from_parts(std::iter::once(head).chain(rest));
            let at = bytes.len() - head.len();
            (
                seg,
                payload.map(|p| if own { p.in_packet(pkt, at) } else { p }),
            )
        });
        let (seg, payload) = match parsed {
            Ok((seg, Some(payload))) => (seg, payload),
            Ok((_, None)) => {
                self.tcp.mib.in_errs += 1;
                return;
            }
            Err(e) => {
                self.tcp.mib.in_errs += 1;
                if is_csum_error(&e) {
                    self.tcp.mib.in_csum_errors += 1;
                }
                return;
            }
        };
        let local = SocketAddrV4::new(hdr.dst, seg.dst_port);
        let remote = SocketAddrV4::new(hdr.src, seg.src_port);
        // What a reset answering this segment carries (Linux `tcp_v4_send_reset`, from its
        // control socket): the default TTL and the segment's own TOS without the ECN bits.
        let reply = SockIp {
            ttl: None,
            tos: hdr.dscp << 2,
        };
        if hdr.dst.is_broadcast() || hdr.dst.is_multicast() {
            self.tcp.mib.in_errs += 1;
            return;
        }
        if let Some(&i) = self.tcp.conns.get(&(local, remote)) {
            // A new SYN for a 4-tuple in TIME-WAIT ends the TIME-WAIT and goes to the
            // listener, if there is one (Linux `tcp_timewait_state_process` TCP_TW_SYN).
            let iss = match self.tcp.socks.get(i) {
                Some(Some(Sock::Conn(c))) => c.time_wait_new_syn(&seg, now),
                _ => None,
            };
            let li = iss.and_then(|_| self.tcp.listener_for(hdr.dst, seg.dst_port));
            if let (Some(li), Some(Some(Sock::Conn(c)))) = (li, self.tcp.socks.get_mut(i)) {
                c.end_time_wait();
                self.tcp_finish(i);
                self.tcp_listen_rcv(li, (local, remote), &seg, &payload, iss, reply, now);
                return;
            }
            self.tcp_conn_rcv(i, &seg, &payload, reply, now);
            return;
        }
        if let Some(li) = self.tcp.listener_for(hdr.dst, seg.dst_port) {
            self.tcp_listen_rcv(li, (local, remote), &seg, &payload, None, reply, now);
            return;
        }
        self.tcp.mib.no_port += 1;
        if !seg.flags.contains(TcpFlags::RST) {
            let rst = reset_for(&seg, payload.len());
            self.tcp_send_bare(local, remote, &rst, reply, None, now);
        }
    }

    /// A segment for connection `i`; a reset answering it carries `reply`'s TTL and TOS.
    fn tcp_conn_rcv(
        &mut self,
        i: usize,
        seg: &TcpRepr,
        payload: &Payload<'_>,
        reply: SockIp,
        now: Instant,
    ) {
        // A child whose listener cannot take it yet: drop the final ACK, the peer retries
        // (Linux `tcp_abort_on_overflow` = 0).
        if let Some(Some(Sock::Conn(c))) = self.tcp.socks.get(i) {
            if c.state == TcpState::SynReceived && seg.flags.contains(TcpFlags::ACK) {
                if let Some(p) = c.parent {
                    if let Some(Some(Sock::Listener(l))) = self.tcp.socks.get(p) {
                        if l.accept.len() >= l.backlog {
                            self.tcp.mib.listen_overflows += 1;
                            self.tcp.mib.listen_drops += 1;
                            return;
                        }
                    }
                }
            }
        }
        let TcpTable { socks, mib, .. } = &mut self.tcp;
        let Some(Some(Sock::Conn(c))) = socks.get_mut(i) else {
            return;
        };
        let una_before = c.snd_una();
        let outcome = c.on_segment(seg, payload, now, mib);
        let (local, remote, parent) = (c.local, c.remote, c.parent);
        let progress = c.snd_una() != una_before;
        let heard = c.take_peer_heard();
        if c.challenge_pending() && !self.tcp.allow_challenge(now) {
            if let Some(Some(Sock::Conn(c))) = self.tcp.socks.get_mut(i) {
                c.cancel_challenge();
            }
        } else if let Some(Some(Sock::Conn(c))) = self.tcp.socks.get(i) {
            if c.challenge_pending() {
                self.tcp.mib.challenge_acks += 1;
            }
        }
        if progress || heard {
            // The peer acknowledged new data, SACKed new data or sent a pure duplicate ACK
            // while data was outstanding: either way it hears this end, its link-layer
            // address works, and the neighbour needs no ARP probe (Linux `tcp_ack` →
            // `sk_dst_confirm`, applied by `neigh_confirm` as the next segment goes out).
            self.neigh_confirm_path(*remote.ip(), now);
        }
        match outcome {
            Outcome::None => {}
            Outcome::Established => {
                self.tcp.mib.handshakes += 1;
                if let Some(p) = parent {
                    // The child becomes a socket of its own now, a copy of its listener as
                    // it is (Linux `inet_csk_clone_lock` on the handshake's last ACK).
                    self.tcp.inherit(i, p, now);
                    if let Some(Some(Sock::Listener(l))) = self.tcp.socks.get_mut(p) {
                        l.syn_queue = l.syn_queue.saturating_sub(1);
                        l.accept.push_back(i);
                    }
                    self.tcp.mib.passive_opens += 1;
                }
            }
            Outcome::SendReset => {
                let rst = reset_for(seg, payload.len());
                self.tcp_send_bare(local, remote, &rst, reply, None, now);
                // An orphan that got data after close is aborted by that reset.
                if let Some(Some(Sock::Conn(c))) = self.tcp.socks.get(i) {
                    if c.state == TcpState::Closed {
                        self.tcp_finish(i);
                    }
                }
                return;
            }
            Outcome::Closed => {
                self.tcp_flush(i, now);
                self.tcp_finish(i);
                return;
            }
        }
        self.tcp_flush(i, now);
    }

    /// A segment for listener `li` from `remote` to `local`; `iss`, when given, is the ISN a
    /// SYN that recycled a TIME-WAIT gets; a reset answering it carries `reply`'s TTL and TOS.
    #[allow(clippy::too_many_arguments)]
    fn tcp_listen_rcv(
        &mut self,
        li: usize,
        (local, remote): (SocketAddrV4, SocketAddrV4),
        seg: &TcpRepr,
        payload: &Payload<'_>,
        iss: Option<Seq>,
        reply: SockIp,
        now: Instant,
    ) {
        let payload_len = payload.len();
        let f = seg.flags;
        if f.contains(TcpFlags::RST) {
            return;
        }
        if f.contains(TcpFlags::ACK) {
            if f.contains(TcpFlags::SYN) {
                let rst = reset_for(seg, payload_len);
                self.tcp_send_bare(local, remote, &rst, reply, None, now);
                return;
            }
            self.tcp_cookie_ack(li, (local, remote), seg, payload, reply, now);
            return;
        }
        if !f.contains(TcpFlags::SYN) || f.contains(TcpFlags::FIN) {
            return;
        }
        let Some(Some(Sock::Listener(l))) = self.tcp.socks.get(li) else {
            return;
        };
        if l.accept.len() >= l.backlog {
            self.tcp.mib.listen_overflows += 1;
            self.tcp.mib.listen_drops += 1;
            return;
        }
        let syn_limit = l.backlog.min(self.tcp.cfg.max_syn_backlog).max(1);
        let mss = self.adv_mss_for(*remote.ip(), now);
        if l.syn_queue >= syn_limit {
            if !self.tcp.cfg.syncookies {
                self.tcp.mib.listen_drops += 1;
                return;
            }
            if let Some(Some(Sock::Listener(l))) = self.tcp.socks.get_mut(li) {
                l.last_overflow = Some(now);
            }
            let ip = self.tcp.listener_ip(li);
            self.tcp_send_cookie(local, remote, seg, mss, ip, now);
            return;
        }
        let iss = iss.unwrap_or_else(|| self.tcp.isn.isn(local, remote, now));
        let mut c = Conn::accept_syn(&self.tcp.cfg, local, remote, iss, mss, seg, now);
        c.parent = Some(li);
        c.ip = self.tcp.listener_ip(li);
        let i = self.tcp.insert(Sock::Conn(Box::new(c)));
        self.tcp.conns.insert((local, remote), i);
        if let Some(Some(Sock::Listener(l))) = self.tcp.socks.get_mut(li) {
            l.syn_queue += 1;
        }
        self.tcp_flush(i, now);
    }

    /// A SYN-ACK whose ISN is a cookie: no state kept (`cookie_v4_init_sequence`).
    fn tcp_send_cookie(
        &mut self,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        syn: &TcpRepr,
        mss: u16,
        ip: SockIp,
        now: Instant,
    ) {
        let cfg = &self.tcp.cfg;
        let neg = Negotiated::from_syn(&syn.options);
        let opts = CookieOpts {
            mss: neg.mss.min(mss),
            wscale: neg.wscale.filter(|_| cfg.window_scaling),
            sack: neg.sack && cfg.sack,
        };
        let cookie = self.tcp.isn.cookie(local, remote, Seq(syn.seq), opts, now);
        let our_wscale = conn::rcv_wscale_for(cfg);
        let mut o = TcpOptions {
            mss: Some(mss),
            ..TcpOptions::default()
        };
        if opts.wscale.is_some() {
            o.window_scale = Some(our_wscale);
        }
        o.sack_permitted = opts.sack;
        if let (Some(ts), true) = (syn.options.timestamps, cfg.timestamps) {
            o.timestamps = Some(TcpTimestamps {
                tsval: conn::ts_value(self.tcp.isn.ts_offset(local, remote), now),
                tsecr: ts.tsval,
            });
        }
        let repr = TcpRepr {
            src_port: local.port(),
            dst_port: remote.port(),
            seq: cookie.0,
            ack: syn.seq.wrapping_add(1),
            flags: TcpFlags(TcpFlags::SYN | TcpFlags::ACK),
            window: cfg.rcvbuf.min(65_535) as u16,
            urgent: 0,
            options: o,
        };
        self.tcp.mib.syncookies_sent += 1;
        // From the listener, as a SYN-ACK with a request block would be: its TTL and TOS.
        self.tcp_send_bare(local, remote, &repr, ip, None, now);
    }

    fn tcp_cookie_ack(
        &mut self,
        li: usize,
        (local, remote): (SocketAddrV4, SocketAddrV4),
        seg: &TcpRepr,
        payload: &Payload<'_>,
        reply: SockIp,
        now: Instant,
    ) {
        let payload_len = payload.len();
        // Only within TCP_SYNCOOKIE_VALID of the last overflow, as Linux's
        // `tcp_synq_no_recent_overflow`: no window for blind forgery while no cookie is out.
        let recent = matches!(
            self.tcp.socks.get(li),
            Some(Some(Sock::Listener(l))) if l.last_overflow
                .is_some_and(|t| now.saturating_duration_since(t) <= SYNCOOKIE_VALID)
        );
        let checked = if self.tcp.cfg.syncookies && recent {
            self.tcp
                .isn
                .check_cookie(local, remote, Seq(seg.seq), Seq(seg.ack), now)
        } else {
            None
        };
        let Some(opts) = checked else {
            if self.tcp.cfg.syncookies && recent {
                self.tcp.mib.syncookies_failed += 1;
            }
            let rst = reset_for(seg, payload_len);
            self.tcp_send_bare(local, remote, &rst, reply, None, now);
            return;
        };
        let Some(Some(Sock::Listener(l))) = self.tcp.socks.get(li) else {
            return;
        };
        if l.accept.len() >= l.backlog {
            self.tcp.mib.listen_overflows += 1;
            self.tcp.mib.listen_drops += 1;
            return;
        }
        self.tcp.mib.syncookies_recv += 1;
        let neg = Negotiated {
            mss: opts.mss,
            wscale: opts.wscale,
            sack: opts.sack,
            ts: seg.options.timestamps.map(|t| t.tsval),
        };
        let mss = self.adv_mss_for(*remote.ip(), now);
        let iss = Seq(seg.ack) - 1;
        let mut c = Conn::from_cookie(&self.tcp.cfg, local, remote, iss, mss, neg, seg, now);
        c.parent = Some(li);
        let i = self.tcp.insert(Sock::Conn(Box::new(c)));
        self.tcp.inherit(i, li, now);
        self.tcp.conns.insert((local, remote), i);
        self.tcp.mib.handshakes += 1;
        self.tcp.mib.passive_opens += 1;
        if let Some(Some(Sock::Listener(l))) = self.tcp.socks.get_mut(li) {
            l.accept.push_back(i);
        }
        // The handshake's last ACK may already carry data or a FIN: the new block takes
        // the segment like any other (its ACK acknowledges nothing new by now).
        if payload_len > 0 || seg.flags.contains(TcpFlags::FIN) {
            self.tcp_conn_rcv(i, seg, payload, reply, now);
        } else {
            self.tcp_flush(i, now);
        }
    }

    /// Runs connection timers.
    pub(crate) fn tcp_timers(&mut self, now: Instant) {
        // The connections whose timers are due, in slot order, as a scan of every slot would
        // take them: one whose timer comes due at `now` while an earlier slot's timers run
        // is taken in this pass too if its slot is later.
        // Only the slots a connection's timers touched are looked at again after it ran, so
        // a pass over D due connections costs O(D log D), not a rescan of the due ones each.
        self.tcp.socks.rearm();
        let mut due: BinaryHeap<Reverse<usize>> =
            self.tcp.socks.due(now).into_iter().map(Reverse).collect();
        let mut last = None;
        while let Some(Reverse(i)) = due.pop() {
            if last.is_some_and(|l| i <= l) {
                continue;
            }
            last = Some(i);
            let TcpTable { socks, mib, .. } = &mut self.tcp;
            let Some(Some(Sock::Conn(c))) = socks.get_mut(i) else {
                continue;
            };
            if c.next_timer().is_none_or(|t| t > now) {
                continue;
            }
            match c.on_timer(now, mib) {
                Outcome::Closed => {
                    self.tcp_timeout_reset(i, now);
                    self.tcp_finish(i);
                }
                // A timer tries even while the connection waits for a full queue: it is
                // the last resort should the queue never report room.
                _ => self.tcp_write_xmit(i, now),
            }
            self.tcp.socks.rearm_due(Some(now), |j| {
                if j > i {
                    due.push(Reverse(j));
                }
            });
        }
    }

    /// Sends everything connection `i` has to send now (`tcp_write_xmit`). A connection
    /// waiting for a full interface queue does not try again before the queue has let a
    /// packet go ([`Self::tcp_retry_refused`] does it then, if nothing else did): each ACK
    /// arriving meanwhile would only build segments for the queue to refuse.
    pub(crate) fn tcp_flush(&mut self, i: usize, now: Instant) {
        if let Some(at) = self.tcp.refused.iter().position(|r| r.conn == i) {
            let r = self.tcp.refused[at];
            let dequeued = self.iface(r.ifindex).map(|f| f.qdisc_stats().packets);
            if dequeued == Some(r.dequeued) {
                return;
            }
            self.tcp.refused.swap_remove(at);
        }
        self.tcp_write_xmit(i, now);
    }

    /// [`Self::tcp_flush`] without the wait for a drained queue.
    fn tcp_write_xmit(&mut self, i: usize, now: Instant) {
        for _ in 0..1024 {
            let Some(Some(Sock::Conn(c))) = self.tcp.socks.get(i) else {
                return;
            };
            let (local, remote) = (c.local, c.remote);
            let Ok(rt) = self.ip_route_output(*remote.ip(), Some(*local.ip())) else {
                return;
            };
            let link_mtu = self.link_mtu(rt.nh.ifindex).unwrap_or(1500);
            let tx_csum = self
                .iface(rt.nh.ifindex)
                .is_some_and(|f| f.dev.caps().tx_csum);
            let path_mtu = self.pmtu.path_mtu(*remote.ip(), link_mtu, now);
            let lim = OutLimits {
                path_mss: path_mss(path_mtu),
                gso: self.tcp.cfg.gso && !rt.local,
                // Software checksums further down: the card does not sum, or the route is local.
                sum_cells: !tx_csum || rt.local,
            };
            let mut segs = std::mem::take(&mut self.tcp.scratch);
            segs.clear();
            if let Some(Some(Sock::Conn(c))) = self.tcp.socks.get_mut(i) {
                c.poll_output(now, &lim, &mut segs);
            }
            let full = segs.len() >= OUTPUT_BATCH;
            let mut refused = None;
            for (k, seg) in segs.iter().enumerate() {
                let Some(pkt) = self.tcp_build(i, seg, rt.src, *remote.ip(), tx_csum && !rt.local)
                else {
                    continue;
                };
                let segs_n = u64::from(pkt.meta.gso_segs.max(1));
                // A listener's SYN-ACK and what TIME-WAIT answers go out, on Linux, from no
                // connected socket (`ip_build_and_send_pkt`, `ip_send_unicast_reply`): DF set,
                // identification 0. Everything else takes the connection's own counter.
                // TIME-WAIT answers as Linux's `tcp_v4_send_ack` does for a timewait sock,
                // from its control socket: the default TTL, the connection's TOS (`tw_tos`).
                let (ident, ip) = match self.tcp.socks.get_mut(i) {
                    Some(Some(Sock::Conn(c))) if c.state == TcpState::TimeWait => (
                        None,
                        SockIp {
                            ttl: None,
                            tos: c.ip.tos,
                        },
                    ),
                    // A listener's SYN-ACK goes out through the listener
                    // (`tcp_v4_send_synack`): its settings as they are now.
                    Some(Some(Sock::Conn(c)))
                        if c.state == TcpState::SynReceived && c.parent.is_some() =>
                    {
                        let p = c.parent.unwrap_or(i);
                        (None, self.tcp.listener_ip(p))
                    }
                    Some(Some(Sock::Conn(c))) => {
                        (Some(c.take_ip_ids(pkt.meta.gso_segs.max(1))), c.ip)
                    }
                    _ => (None, SockIp::default()),
                };
                let p = ip.params(protocol::TCP, true, ident, self.cfg.default_ttl);
                // `tcp_write_xmit` stops at a local drop: this segment and the rest of the
                // batch stay unsent, to go when the queue has drained. Any other failure
                // counts as a loss on the way: a segment too big for a PMTU that shrank under
                // us is resent in the next flush's size, a hook's drop like a wire's.
                if let Err(SendError::QueueFull) = self.ip_local_out(pkt, &rt, p, now) {
                    refused = Some(k);
                    break;
                }
                if seg.retransmit {
                    self.tcp.mib.retrans_segs += segs_n;
                } else {
                    self.tcp.mib.out_segs += segs_n;
                }
            }
            if let Some(k) = refused {
                let n = segs.len() - k;
                self.tcp.mib.local_refused += 1;
                if let Some(Some(Sock::Conn(c))) = self.tcp.socks.get_mut(i) {
                    if k > 0 {
                        c.batch_sent();
                    }
                    c.unsend(k, n, now);
                }
                let ifindex = rt.nh.ifindex;
                let dequeued = self.iface(ifindex).map_or(0, |f| f.qdisc_stats().packets);
                let waiting = Refused {
                    conn: i,
                    ifindex,
                    dequeued,
                };
                match self
                    .tcp
                    .refused
                    .iter_mut()
                    .find(|r| r.conn == i && r.ifindex == ifindex)
                {
                    Some(r) => *r = waiting,
                    None => self.tcp.refused.push(waiting),
                }
                self.tcp.scratch = segs;
                return;
            }
            if !segs.is_empty() {
                if let Some(Some(Sock::Conn(c))) = self.tcp.socks.get_mut(i) {
                    c.batch_sent();
                }
            }
            self.tcp.scratch = segs;
            if !full {
                return;
            }
        }
    }

    /// Flushes again the connections a full queue of interface `ifindex` stopped, if that
    /// queue has let packets go since (called from [`Stack::poll`] after the qdiscs ran). A
    /// connection refused again goes back on the list.
    pub(crate) fn tcp_retry_refused(&mut self, ifindex: IfIndex, now: Instant) {
        if self.tcp.refused.is_empty() {
            return;
        }
        let Some(dequeued) = self.iface(ifindex).map(|f| f.qdisc_stats().packets) else {
            return;
        };
        if !self.tcp_retry_due(ifindex, dequeued) {
            return;
        }
        let due = |r: &Refused| r.ifindex == ifindex && r.dequeued != dequeued;
        let mut list = std::mem::take(&mut self.tcp.refused);
        for r in &list {
            if due(r) {
                self.tcp_write_xmit(r.conn, now);
            }
        }
        list.retain(|r| !due(r));
        // Flushes refused again registered themselves in the emptied list.
        for r in self.tcp.refused.drain(..) {
            match list
                .iter_mut()
                .find(|w| w.conn == r.conn && w.ifindex == r.ifindex)
            {
                Some(w) => *w = r,
                None => list.push(r),
            }
        }
        self.tcp.refused = list;
    }

    /// True when a connection waits for the queue of interface `ifindex`, and the queue,
    /// whose dequeued-packet count is now `dequeued`, has let packets go since it refused.
    pub(crate) fn tcp_retry_due(&self, ifindex: IfIndex, dequeued: u64) -> bool {
        self.tcp
            .refused
            .iter()
            .any(|r| r.ifindex == ifindex && r.dequeued != dequeued)
    }

    fn tcp_build(
        &self,
        i: usize,
        seg: &OutSeg,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        offload: bool,
    ) -> Option<PacketBuf> {
        let Some(Some(Sock::Conn(c))) = self.tcp.socks.get(i) else {
            return None;
        };
        let hlen = seg.repr.header_len().ok()?;
        let gso = seg.gso_size != 0;
        let mode = if offload || gso {
            ChecksumMode::Offloaded
        } else {
            ChecksumMode::Software
        };
        let queue = c.send_queue();
        // The payload stays in the send queue: the segment shares it as fragments (the
        // software checksum still reads it once). Only a segment whose range spans more
        // chunks than a packet has fragment slots is copied.
        // Colour only as far as the buffer could still take the payload back in (a device
        // path that linearizes must find the tailroom, as with a linear segment).
        let slack = self
            .pool
            .buf_size()
            .saturating_sub(crate::stack::MAX_HEADER + hlen + seg.len);
        let colour = (seg.repr.seq >> 10) as usize % (slack / 64 + 1);
        let mut pkt = self.alloc_coloured(hlen, colour);
        let mut pkt = if seg.len > 0 && queue.append_to(&mut pkt, seg.data_off, seg.len).is_ok() {
            let payload_sum = match mode {
                // A full segment's sum, or a short tail's, was taken when its bytes were
                // copied in.
                ChecksumMode::Software => queue
                    .segment_sum(seg.data_off, seg.len)
                    .unwrap_or_else(|| frags_sum(&pkt)),
                ChecksumMode::Offloaded => 0,
            };
            if gso && !offload {
                // Software GSO sums each segment's payload: hand it the sums the queue took.
                if let Some(sums) = queue.cell_sums(seg.data_off, seg.len, seg.gso_size.into()) {
                    pkt.set_seg_sums(seg.gso_size, sums);
                }
            }
            let d = pkt.push(hlen).ok()?;
            seg.repr
                .emit_header(d, seg.len, payload_sum, src, dst, mode)
                .ok()?;
            pkt
        } else {
            drop(pkt);
            let mut pkt = self.alloc(hlen + seg.len);
            if seg.len > 0 {
                let d = pkt.put(seg.len).ok()?;
                if queue.peek(seg.data_off, d) != seg.len {
                    return None;
                }
            }
            pkt.push(hlen).ok()?;
            let d = pkt.data_mut().ok()?;
            seg.repr.emit(d, seg.len, src, dst, mode).ok()?;
            pkt
        };
        if offload || gso {
            pkt.meta.csum = ChecksumState::Partial {
                start: 0,
                offset: 16,
            };
        }
        if gso {
            pkt.meta.gso_size = seg.gso_size;
            pkt.meta.gso_segs = seg.len.div_ceil(usize::from(seg.gso_size)) as u16;
        }
        pkt.set_transport_header();
        Some(pkt)
    }

    /// Sends a segment that belongs to no connection block (resets, cookie SYN-ACKs).
    fn tcp_send_bare(
        &mut self,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        repr: &TcpRepr,
        ip: SockIp,
        ident: Option<u16>,
        now: Instant,
    ) {
        let Ok(rt) = self.ip_route_output(*remote.ip(), Some(*local.ip())) else {
            return;
        };
        let Ok(hlen) = repr.header_len() else {
            return;
        };
        let mut pkt = self.alloc(hlen);
        if pkt.push(hlen).is_err() {
            return;
        }
        let Ok(d) = pkt.data_mut() else {
            return;
        };
        if repr
            .emit(d, 0, rt.src, *remote.ip(), ChecksumMode::Software)
            .is_err()
        {
            return;
        }
        pkt.set_transport_header();
        let p = ip.params(protocol::TCP, true, ident, self.cfg.default_ttl);
        // No block keeps these segments to send again: a reset the queue refused is
        // answered again when the peer retries, a cookie SYN-ACK when its SYN comes back.
        // A refusal is counted (here and by the qdisc) instead of counting as sent.
        if let Err(SendError::QueueFull) = self.ip_local_out(pkt, &rt, p, now) {
            self.tcp.mib.local_refused += 1;
            return;
        }
        if repr.flags.contains(TcpFlags::RST) {
            self.tcp.mib.out_rsts += 1;
        }
        self.tcp.mib.out_segs += 1;
    }
}

/// One's-complement sum of a packet's fragments laid end to end (its payload, when the head
/// holds only headers).
fn frags_sum(pkt: &PacketBuf) -> u16 {
    checksum::sum_pieces(pkt.frags())
}
