//! An in-memory network for tests and benches: [`Stack`]s joined by point-to-point links,
//! driven by a virtual clock, deterministic for a given seed.
//!
//! A [`Net`] owns the stacks and the links between their interfaces. Each [`Link`] carries
//! frames both ways and can impair them the way `tc netem` and a slow bottleneck do (all off by
//! default, see [`LinkConfig`]): a bandwidth with serialization delay and a drop-tail queue,
//! latency, jitter, loss, duplication, reordering and corruption. Every random choice comes from
//! a ChaCha generator seeded by [`Net::with_seed`] (one stream per link), so the same seed and
//! the same calls give the same run, frame for frame.
//!
//! The links also play the devices' part of the offload contract: a frame asking for a
//! partial checksum gets it finished ([`complete_tx_checksum`](crate::device::complete_tx_checksum)) and a TSO/USO super-packet is
//! cut ([`gso::segment`](crate::gso::segment)), as the card would do. Frames the device model cannot handle are
//! dropped and counted in [`LinkStats::offload_errors`].
//!
//! Time only moves when [`Net::run_until`] (or one of its relatives) jumps it to the next
//! event: a frame's arrival or the moment a stack asked to be polled ([`Stack::poll_at`]).
//! Nothing spins through idle time, so a simulated minute of quiet costs nothing. Work that
//! never lets time advance (a zero-latency forwarding loop) is cut off and reported as
//! [`NetError::Livelock`] instead of hanging the test.
//!
//! ```
//! use oxnic_stack::netsim::{LinkConfig, Net};
//! use oxnic_stack::{DeviceCaps, StackConfig};
//! use std::time::Duration;
//!
//! let mut net = Net::with_seed(7);
//! let a = net.add_stack(StackConfig::default());
//! let b = net.add_stack(StackConfig::default());
//! let ia = net.add_iface(a, "10.0.0.1/24", DeviceCaps::default()).unwrap();
//! let ib = net.add_iface(b, "10.0.0.2/24", DeviceCaps::default()).unwrap();
//! let link = net.connect(
//!     (a, ia),
//!     (b, ib),
//!     LinkConfig::default()
//!         .latency(Duration::from_millis(5))
//!         .bandwidth(10_000_000)
//!         .loss(0.01),
//! );
//! net.run_for(Duration::from_millis(100)).unwrap();
//! // Both gratuitous ARPs crossed (unless the 1 % loss took one).
//! assert_eq!(net.links()[link].total().carried + net.links()[link].total().lost, 2);
//! ```

use crate::device::{device_offloads, NetDevice};
use crate::pktbuf::{ChecksumState, PacketBuf, PacketMeta, PacketPool};
use crate::route::{IfIndex, Route};
use crate::stack::StackError;
use crate::time::Instant;
use crate::wire::ethernet::EthernetAddress;
use crate::{DeviceCaps, IfaceConfig, Stack, StackConfig};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, VecDeque};
use std::net::Ipv4Addr;
use std::time::Duration;

/// Bytes a frame costs on the wire beyond its own length: preamble and start delimiter (8)
/// and the inter-frame gap (12).
pub const WIRE_OVERHEAD: usize = 20;

/// The seed [`Net::new`] uses ("oxnic" in ASCII).
pub const DEFAULT_SEED: u64 = 0x006f_786e_6963;

/// How many rounds of work [`Net`] does at one instant before calling it a livelock.
pub const DEFAULT_MAX_STEPS_PER_INSTANT: u64 = 100_000;

/// Frame bytes a link carries beyond the MTU: the Ethernet header and one VLAN tag.
const L2_OVERHEAD: usize = 18;

/// Most [`Stack::poll`] calls in one stack's turn of a round.
const MAX_POLLS_PER_TURN: usize = 64;

/// Headroom of the buffers frames are delivered in.
const RX_HEADROOM: usize = 64;

/// Corruption spares the Ethernet header: a damaged address or EtherType only makes the frame
/// someone else's, while damage past it is what the IPv4/TCP/UDP checksums must catch.
const CORRUPT_FROM: usize = 14;

/// One end of a link: a stack index and an interface of that stack.
pub type End = (usize, IfIndex);

/// The MAC address [`Net::add_iface`] gives interface `ifindex` of stack `stack`:
/// `02:00:00:00:<stack>:<ifindex>` (both wrap at 256).
pub fn mac(stack: usize, ifindex: IfIndex) -> EthernetAddress {
    EthernetAddress([2, 0, 0, 0, stack as u8, ifindex as u8])
}

/// How a link behaves. The default is a perfect 1500-byte wire: no delay, no bandwidth limit,
/// no impairment. Probabilities are per frame and per direction; values outside `0..=1` are
/// clamped (NaN counts as 0).
///
/// A frame goes through the link in this order: MTU check, drop-tail queue, serialization,
/// then on the wire loss, duplication, corruption, latency, jitter and reordering (each copy of
/// a duplicated frame draws its own corruption, jitter and reordering). A lost frame still
/// took its time on the wire.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinkConfig {
    /// One-way propagation delay.
    pub latency: Duration,
    /// Largest IP packet carried; frames longer than this plus 18 bytes (Ethernet header and a
    /// VLAN tag) are dropped and counted as `oversize`.
    pub mtu: usize,
    /// Line rate in bits per second: each frame occupies the wire for
    /// `(len + WIRE_OVERHEAD) * 8 / rate` and frames wait their turn. `None` (or 0) means
    /// frames take no time to send.
    pub bandwidth_bps: Option<u64>,
    /// Bytes of frames that may wait for the wire in each direction; a frame that would exceed
    /// it is dropped (`queue_drops`). `None` means no limit. Only matters with a bandwidth,
    /// since otherwise no frame ever waits.
    pub queue_bytes: Option<usize>,
    /// Extra delay drawn uniformly from `0..=jitter` for each frame; frames closer together
    /// than the jitter may overtake each other.
    pub jitter: Duration,
    /// Probability that a frame is lost (the long-run fraction lost).
    pub loss: f64,
    /// Mean length of a run of lost frames. At 1 (or below, or NaN) each frame is lost on its
    /// own draw; above 1 losses come in bursts, as from a congested queue or a fading radio
    /// link: a two-state (Gilbert) model in which every frame is lost while in the loss state,
    /// which is left with probability `1 / loss_burst` after each frame and entered with the
    /// probability that makes the long-run fraction lost `loss`.
    pub loss_burst: f64,
    /// Probability that a frame arrives twice.
    pub duplicate: f64,
    /// Probability that a frame is held back by [`Self::reorder_delay`], letting later frames
    /// pass it.
    pub reorder: f64,
    /// How long a reordered frame is held back.
    pub reorder_delay: Duration,
    /// Probability that one byte of a frame (past its Ethernet header) is changed.
    pub corrupt: f64,
    /// The receiving card coalesces in hardware (LRO/hardware GRO) what the sending card's TSO
    /// cut, and verifies checksums: on a link with no impairments and no bandwidth limit a
    /// TSO super-packet then crosses whole, as over Linux's loopback, and arrives with its
    /// segment count and a verified checksum. Needs receive checksum offload at the far end.
    pub lro: bool,
}

impl Default for LinkConfig {
    fn default() -> Self {
        LinkConfig {
            latency: Duration::ZERO,
            mtu: 1500,
            bandwidth_bps: None,
            queue_bytes: None,
            jitter: Duration::ZERO,
            loss: 0.0,
            loss_burst: 1.0,
            duplicate: 0.0,
            reorder: 0.0,
            reorder_delay: Duration::ZERO,
            corrupt: 0.0,
            lro: false,
        }
    }
}

impl LinkConfig {
    /// A perfect link with this latency and MTU.
    pub fn new(latency: Duration, mtu: usize) -> Self {
        LinkConfig {
            latency,
            mtu,
            ..LinkConfig::default()
        }
    }

    /// Sets the one-way latency.
    pub fn latency(mut self, latency: Duration) -> Self {
        self.latency = latency;
        self
    }

    /// Sets the MTU.
    pub fn mtu(mut self, mtu: usize) -> Self {
        self.mtu = mtu;
        self
    }

    /// Sets the line rate in bits per second.
    pub fn bandwidth(mut self, bits_per_sec: u64) -> Self {
        self.bandwidth_bps = Some(bits_per_sec);
        self
    }

    /// Sets the per-direction queue limit in bytes.
    pub fn queue_bytes(mut self, bytes: usize) -> Self {
        self.queue_bytes = Some(bytes);
        self
    }

    /// Sets the jitter bound.
    pub fn jitter(mut self, jitter: Duration) -> Self {
        self.jitter = jitter;
        self
    }

    /// Sets the loss probability.
    pub fn loss(mut self, p: f64) -> Self {
        self.loss = p;
        self
    }

    /// Sets the mean length of a run of lost frames ([`Self::loss_burst`]).
    pub fn loss_burst(mut self, mean_frames: f64) -> Self {
        self.loss_burst = mean_frames;
        self
    }

    /// Sets the duplication probability.
    pub fn duplicate(mut self, p: f64) -> Self {
        self.duplicate = p;
        self
    }

    /// Sets the reordering probability and how long a reordered frame is held back.
    pub fn reorder(mut self, p: f64, delay: Duration) -> Self {
        self.reorder = p;
        self.reorder_delay = delay;
        self
    }

    /// Sets the corruption probability.
    pub fn corrupt(mut self, p: f64) -> Self {
        self.corrupt = p;
        self
    }

    /// Sets [`Self::lro`].
    pub fn lro(mut self, on: bool) -> Self {
        self.lro = on;
        self
    }

    /// True when the link neither delays by size nor impairs: frames can be handed over as
    /// they are, without a copy.
    pub fn is_ideal(&self) -> bool {
        self.bandwidth_bps.is_none_or(|b| b == 0)
            && self.jitter.is_zero()
            && self.loss <= 0.0
            && self.duplicate <= 0.0
            && self.reorder <= 0.0
            && self.corrupt <= 0.0
    }

    /// How long a frame of `frame_len` bytes occupies the wire (rounded up to the next
    /// nanosecond, so frames never arrive early); zero without a bandwidth.
    pub fn serialization_time(&self, frame_len: usize) -> Duration {
        match self.bandwidth_bps {
            Some(bps) if bps > 0 => {
                let bits = (frame_len as u128 + WIRE_OVERHEAD as u128) * 8;
                let ns = (bits * 1_000_000_000).div_ceil(u128::from(bps));
                Duration::from_nanos(u64::try_from(ns).unwrap_or(u64::MAX))
            }
            _ => Duration::ZERO,
        }
    }
}

/// A direction across a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// From end `a` to end `b`.
    AToB,
    /// From end `b` to end `a`.
    BToA,
}

impl Direction {
    fn index(self) -> usize {
        match self {
            Direction::AToB => 0,
            Direction::BToA => 1,
        }
    }
}

/// What a link did with the frames of one direction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkStats {
    /// Frames sent on towards the far end (each copy of a duplicated frame counts; corrupted
    /// ones too).
    pub carried: u64,
    /// Bytes of the carried frames.
    pub bytes: u64,
    /// Frames lost on the wire.
    pub lost: u64,
    /// Frames that were sent twice.
    pub duplicated: u64,
    /// Frame copies held back by the reorder delay.
    pub reordered: u64,
    /// Frame copies with a damaged byte.
    pub corrupted: u64,
    /// Frames dropped because the queue was full.
    pub queue_drops: u64,
    /// Frames dropped for being longer than the MTU allows.
    pub oversize: u64,
    /// Frames the device model dropped because their checksum or segmentation request could
    /// not be carried out.
    pub offload_errors: u64,
}

impl LinkStats {
    /// The sum of two sets of counters (both directions of a link, say).
    pub fn merged(&self, other: &LinkStats) -> LinkStats {
        LinkStats {
            carried: self.carried + other.carried,
            bytes: self.bytes + other.bytes,
            lost: self.lost + other.lost,
            duplicated: self.duplicated + other.duplicated,
            reordered: self.reordered + other.reordered,
            corrupted: self.corrupted + other.corrupted,
            queue_drops: self.queue_drops + other.queue_drops,
            oversize: self.oversize + other.oversize,
            offload_errors: self.offload_errors + other.offload_errors,
        }
    }
}

/// The sending side of one direction of a link.
#[derive(Debug, Default)]
struct Transmitter {
    stats: LinkStats,
    /// When the wire is free for the next frame.
    busy_until: Instant,
    /// Frames waiting for the wire: when each starts being sent, and its length.
    waiting: VecDeque<(Instant, usize)>,
    waiting_bytes: usize,
    /// In a burst of losses (only with [`LinkConfig::loss_burst`] above 1).
    in_burst: bool,
}

/// A point-to-point link between two interfaces.
#[derive(Debug)]
pub struct Link {
    a: End,
    b: End,
    cfg: LinkConfig,
    rng: ChaCha8Rng,
    tx: [Transmitter; 2],
}

impl Link {
    /// End `a`.
    pub fn a(&self) -> End {
        self.a
    }

    /// End `b`.
    pub fn b(&self) -> End {
        self.b
    }

    /// How the link behaves.
    pub fn config(&self) -> &LinkConfig {
        &self.cfg
    }

    /// Counters for one direction.
    pub fn stats(&self, dir: Direction) -> &LinkStats {
        &self.tx[dir.index()].stats
    }

    /// Counters for both directions together.
    pub fn total(&self) -> LinkStats {
        self.tx[0].stats.merged(&self.tx[1].stats)
    }

    /// Sending and receiving end for a direction.
    fn ends(&self, dir: Direction) -> (End, End) {
        match dir {
            Direction::AToB => (self.a, self.b),
            Direction::BToA => (self.b, self.a),
        }
    }

    /// True with probability `p` (clamped to `0..=1`). Draws nothing when `p` is not
    /// positive, so an impairment left off does not shift the random stream.
    fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && (p >= 1.0 || self.rng.gen::<f64>() < p)
    }

    /// Whether the frame now going out in direction `dir` is lost: one draw per frame, either
    /// on its own or through the burst state (see [`LinkConfig::loss_burst`]).
    fn lose(&mut self, dir: usize, cfg: &LinkConfig) -> bool {
        let burst = cfg.loss_burst;
        let loss = if cfg.loss.is_nan() { 0.0 } else { cfg.loss };
        if burst.is_nan() || burst <= 1.0 || loss <= 0.0 || loss >= 1.0 {
            return self.chance(cfg.loss);
        }
        let leave = 1.0 / burst;
        let lost = if self.tx[dir].in_burst {
            !self.chance(leave)
        } else {
            // Entered with p such that p / (p + leave) = loss.
            self.chance(loss * leave / (1.0 - loss))
        };
        self.tx[dir].in_burst = lost;
        lost
    }

    /// Hands a frame over on an ideal link without copying it: the buffer itself travels, its
    /// transmit metadata replaced by what the receiving card reports.
    #[inline(always)]
    fn pass(
        &mut self,
        dir: Direction,
        mut f: PacketBuf,
        now: Instant,
        rx_csum: bool,
        carry: &mut Carry<'_>,
    ) {
        let to = self.ends(dir).1;
        let len = f.len();
        let gso_size = f.meta.gso_size;
        let segs = f.meta.gso_segs.max(1);
        let tx = &mut self.tx[dir.index()];
        if gso_size == 0 && len > self.cfg.mtu.saturating_add(L2_OVERHEAD) {
            tx.stats.oversize += 1;
            return;
        }
        f.meta = PacketMeta::default();
        if gso_size != 0 {
            f.meta.gso_size = gso_size;
            f.meta.gso_segs = segs;
        }
        if rx_csum {
            f.meta.csum = ChecksumState::Unnecessary;
        }
        tx.stats.carried += u64::from(segs);
        tx.stats.bytes += len as u64;
        match carry {
            Carry::Queue(q) => q.push(now + self.cfg.latency, to, f),
            Carry::Direct(dev, delivered) => {
                dev.push_rx(f);
                **delivered += 1;
            }
        }
    }

    /// Puts one wire-ready frame (`bytes`) on the link at `now`, or drops it.
    fn transmit(&mut self, dir: Direction, bytes: &[u8], now: Instant, q: &mut EventQueue) {
        let to = self.ends(dir).1;
        let len = bytes.len();
        let cfg = self.cfg;
        let tx = &mut self.tx[dir.index()];
        if len > cfg.mtu.saturating_add(L2_OVERHEAD) {
            tx.stats.oversize += 1;
            return;
        }
        // Frames that have started sending by now have left the queue.
        while let Some(&(start, n)) = tx.waiting.front() {
            if start > now {
                break;
            }
            tx.waiting.pop_front();
            tx.waiting_bytes -= n;
        }
        let start = now.max(tx.busy_until);
        if start > now {
            if cfg
                .queue_bytes
                .is_some_and(|limit| tx.waiting_bytes + len > limit)
            {
                tx.stats.queue_drops += 1;
                return;
            }
            tx.waiting.push_back((start, len));
            tx.waiting_bytes += len;
        }
        tx.busy_until = start + cfg.serialization_time(len);
        let sent = tx.busy_until;
        let dir = dir.index();

        if self.lose(dir, &cfg) {
            self.tx[dir].stats.lost += 1;
            return;
        }
        let copies = if self.chance(cfg.duplicate) {
            self.tx[dir].stats.duplicated += 1;
            2
        } else {
            1
        };
        for _ in 0..copies {
            let mut frame = PacketBuf::from_slice(RX_HEADROOM, bytes);
            if self.chance(cfg.corrupt) && len > 0 {
                let at = self.rng.gen_range(CORRUPT_FROM.min(len - 1)..len);
                let flip = self.rng.gen_range(1..=u8::MAX);
                // A fresh buffer is never shared, so this cannot fail.
                if let Ok(data) = frame.data_mut() {
                    data[at] ^= flip;
                    self.tx[dir].stats.corrupted += 1;
                }
            }
            let mut at = sent + cfg.latency;
            if !cfg.jitter.is_zero() {
                let max = u64::try_from(cfg.jitter.as_nanos()).unwrap_or(u64::MAX);
                at += Duration::from_nanos(self.rng.gen_range(0..=max));
            }
            if self.chance(cfg.reorder) {
                at += cfg.reorder_delay;
                self.tx[dir].stats.reordered += 1;
            }
            let stats = &mut self.tx[dir].stats;
            stats.carried += 1;
            stats.bytes += len as u64;
            q.push(at, to, frame);
        }
    }
}

/// A frame on its way to `to`, due at `at`; `seq` keeps frames due at the same instant in the
/// order they were sent.
#[derive(Debug)]
struct InFlight {
    at: Instant,
    seq: u64,
    to: End,
    frame: PacketBuf,
}

impl PartialEq for InFlight {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}

impl Eq for InFlight {}

impl PartialOrd for InFlight {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for InFlight {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

/// Frames in flight, earliest first.
///
/// Most frames are pushed in the order they fall due (every frame on a link with a fixed
/// latency and no jitter arrives after the one sent before it), so those wait in a FIFO and
/// cost a move in and a move out; only a frame due before the FIFO's last one (jitter,
/// reordering, a shorter link) goes to the heap. Popping takes the earlier of the two heads by
/// `(at, seq)`, so the order is exactly that of one heap.
#[derive(Debug, Default)]
struct EventQueue {
    fifo: VecDeque<InFlight>,
    heap: BinaryHeap<Reverse<InFlight>>,
    seq: u64,
}

impl EventQueue {
    fn push(&mut self, at: Instant, to: End, frame: PacketBuf) {
        let f = InFlight {
            at,
            seq: self.seq,
            to,
            frame,
        };
        self.seq += 1;
        if self.fifo.back().is_none_or(|last| last.at <= at) {
            self.fifo.push_back(f);
        } else {
            self.heap.push(Reverse(f));
        }
    }

    fn len(&self) -> usize {
        self.fifo.len() + self.heap.len()
    }

    fn is_empty(&self) -> bool {
        self.fifo.is_empty() && self.heap.is_empty()
    }

    /// True when the FIFO's head comes before the heap's (or the heap is empty).
    fn fifo_first(&self) -> bool {
        match (self.fifo.front(), self.heap.peek()) {
            (Some(f), Some(Reverse(h))) => (f.at, f.seq) < (h.at, h.seq),
            (Some(_), None) => true,
            _ => false,
        }
    }

    fn next_at(&self) -> Option<Instant> {
        let f = self.fifo.front().map(|f| f.at);
        let h = self.heap.peek().map(|Reverse(h)| h.at);
        match (f, h) {
            (Some(f), Some(h)) => Some(f.min(h)),
            (f, h) => f.or(h),
        }
    }

    /// The next frame due at or before `now`.
    fn pop_due(&mut self, now: Instant) -> Option<InFlight> {
        if self.next_at()? > now {
            return None;
        }
        if self.fifo_first() {
            self.fifo.pop_front()
        } else {
            self.heap.pop().map(|Reverse(f)| f)
        }
    }
}

/// Where a frame that crosses an ideal link goes.
enum Carry<'a> {
    /// Onto the event queue, to arrive when the link's latency has passed.
    Queue(&'a mut EventQueue),
    /// Straight into the receiving device, counted: on a zero-latency link the frame arrives
    /// at the instant it left, so it skips the queue (the next round's poll takes it, as it
    /// would after the queue's delivery).
    Direct(&'a mut NetDevice, &'a mut usize),
}

/// Mutable references to two different elements of `v`; `None` when `a == b` or either is
/// out of range.
fn pair_mut<T>(v: &mut [T], a: usize, b: usize) -> Option<(&mut T, &mut T)> {
    if a.max(b) >= v.len() {
        return None;
    }
    match a.cmp(&b) {
        Ordering::Less => {
            let (x, y) = v.split_at_mut(b);
            Some((x.get_mut(a)?, y.first_mut()?))
        }
        Ordering::Greater => {
            let (x, y) = v.split_at_mut(a);
            Some((y.first_mut()?, x.get_mut(b)?))
        }
        Ordering::Equal => None,
    }
}

/// Why a [`Net`] call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NetError {
    /// There is no stack with this index.
    #[error("no stack {0}")]
    NoSuchStack(usize),
    /// There is no link with this index.
    #[error("no link {0}")]
    NoSuchLink(usize),
    /// An interface address was not of the form `a.b.c.d/len`.
    #[error("bad interface address {0:?} (want a.b.c.d/len)")]
    BadAddress(String),
    /// The stack refused the interface address.
    #[error(transparent)]
    Stack(#[from] StackError),
    /// The network kept working at one instant without letting time advance (a frame
    /// looping over zero-latency links, say).
    #[error("network did not settle: {steps} rounds at {at} without time advancing")]
    Livelock {
        /// The instant time got stuck at.
        at: Instant,
        /// Rounds of work done there.
        steps: u64,
    },
}

/// Stacks, the links between them, the frames in flight and the virtual clock.
#[derive(Debug)]
pub struct Net {
    /// The stacks, by the index [`Net::add_stack`] returned. Drive them directly (send,
    /// receive, configure) with `net.now()` as the time.
    pub stacks: Vec<Stack>,
    links: Vec<Link>,
    now: Instant,
    queue: EventQueue,
    seed: u64,
    max_steps_per_instant: u64,
    /// Buffers for the TSO model's segments.
    pool: PacketPool,
    /// Reused to flatten frames that have fragments.
    scratch: Vec<u8>,
    /// Reused for the TSO model's segments of one super-packet.
    segs: Vec<PacketBuf>,
    /// Frames put straight into a device by a zero-latency link and not yet counted as
    /// delivered.
    direct_delivered: usize,
}

impl Default for Net {
    fn default() -> Self {
        Net::new()
    }
}

impl Net {
    /// An empty network seeded with [`DEFAULT_SEED`]; the clock starts at 1 ms.
    pub fn new() -> Self {
        Net::with_seed(DEFAULT_SEED)
    }

    /// An empty network whose random impairments come from `seed`.
    pub fn with_seed(seed: u64) -> Self {
        Net {
            stacks: Vec::new(),
            links: Vec::new(),
            now: Instant::from_millis(1),
            queue: EventQueue::default(),
            seed,
            max_steps_per_instant: DEFAULT_MAX_STEPS_PER_INSTANT,
            pool: PacketPool::new(64, 2048),
            scratch: Vec::new(),
            segs: Vec::new(),
            direct_delivered: 0,
        }
    }

    /// The seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Puts `frame` into the receive queue of interface `ifindex` of stack `s` as if it had
    /// come off the wire (a hand-made frame for a test); false when there is no such device.
    /// Nothing runs until the next poll.
    pub fn push_frame(&mut self, s: usize, ifindex: IfIndex, frame: &[u8]) -> bool {
        let Some(dev) = self.stacks.get_mut(s).and_then(|st| st.device_mut(ifindex)) else {
            return false;
        };
        dev.push_rx(PacketBuf::from_slice(0, frame));
        true
    }

    /// The virtual time.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// Sets how many rounds of work at one instant count as a livelock (at least 1).
    pub fn set_max_steps_per_instant(&mut self, steps: u64) {
        self.max_steps_per_instant = steps.max(1);
    }

    /// Adds a stack; returns its index.
    pub fn add_stack(&mut self, cfg: StackConfig) -> usize {
        self.stacks.push(Stack::new(cfg));
        self.stacks.len() - 1
    }

    /// Adds an interface named `eth<n>` with MAC [`mac`]`(s, ifindex)` and the address `addr`
    /// (`"10.0.0.1/24"`) to stack `s`.
    pub fn add_iface(
        &mut self,
        s: usize,
        addr: &str,
        caps: DeviceCaps,
    ) -> Result<IfIndex, NetError> {
        let bad = || NetError::BadAddress(addr.to_string());
        let (a, len) = addr.split_once('/').ok_or_else(bad)?;
        let a: Ipv4Addr = a.parse().map_err(|_| bad())?;
        let len: u8 = len.parse().map_err(|_| bad())?;
        let now = self.now;
        let stack = self.stacks.get_mut(s).ok_or(NetError::NoSuchStack(s))?;
        let next = stack.interfaces().count() as IfIndex + 1;
        let name = format!("eth{}", next - 1);
        let i = stack.add_interface(IfaceConfig::new(&name, mac(s, next), caps));
        stack.add_address(i, a, len, now)?;
        Ok(i)
    }

    /// Joins two interfaces with a link; returns its index. A link whose ends do not both
    /// exist carries nothing.
    pub fn connect(&mut self, a: End, b: End, cfg: LinkConfig) -> usize {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        // A stream per link: adding a link leaves the others' draws alone.
        rng.set_stream(self.links.len() as u64);
        self.links.push(Link {
            a,
            b,
            cfg,
            rng,
            tx: Default::default(),
        });
        self.links.len() - 1
    }

    /// The links, by the index [`Net::connect`] returned.
    pub fn links(&self) -> &[Link] {
        &self.links
    }

    /// Changes how a link behaves from now on (frames already in flight keep their fate).
    pub fn set_link_config(&mut self, link: usize, cfg: LinkConfig) -> Result<(), NetError> {
        self.links
            .get_mut(link)
            .ok_or(NetError::NoSuchLink(link))?
            .cfg = cfg;
        Ok(())
    }

    /// Frames in flight on all links.
    pub fn in_flight(&self) -> usize {
        self.queue.len()
    }

    /// Runs the network until `until` (time stops there even if nothing happens). Returns the
    /// frames delivered to the stacks.
    pub fn run_until(&mut self, until: Instant) -> Result<usize, NetError> {
        self.run(until, |_| false).map(|(n, _)| n)
    }

    /// Runs the network for `d` of virtual time. Returns the frames delivered to the stacks.
    pub fn run_for(&mut self, d: Duration) -> Result<usize, NetError> {
        let until = self.now + d;
        self.run_until(until)
    }

    /// Runs the network while `cond` holds, checking it before starting and after every
    /// instant worked through, but no later than `deadline`. Returns whether `cond` turned
    /// false; on `Ok(false)` the clock stands at `deadline`. `cond` may use the stacks (read a
    /// socket, send more).
    pub fn run_while(
        &mut self,
        mut cond: impl FnMut(&mut Net) -> bool,
        deadline: Instant,
    ) -> Result<bool, NetError> {
        self.run(deadline, |net| !cond(net)).map(|(_, done)| done)
    }

    /// Runs the network until it is quiet — no frame in flight or waiting in a device, no
    /// stack asking to be polled now — or for at most `limit`. Returns whether it got quiet.
    /// Timers set for later (neighbour aging, retransmissions) do not count as activity.
    pub fn run_until_idle(&mut self, limit: Duration) -> Result<bool, NetError> {
        let deadline = self.now + limit;
        self.run(deadline, |net| net.is_idle())
            .map(|(_, idle)| idle)
    }

    /// See [`Net::run_until_idle`].
    fn is_idle(&self) -> bool {
        let now = self.now;
        self.queue.is_empty()
            && self.stacks.iter().all(|s| {
                s.poll_at(now).is_none_or(|t| t > now)
                    && s.interfaces().all(|i| {
                        s.interface(i).is_none_or(|f| {
                            f.device().rx_pending() == 0 && f.device().tx_pending() == 0
                        })
                    })
            })
    }

    /// The event loop: works through instants until `stop` says so (checked before starting
    /// and after each instant) or the next event lies past `deadline`. Returns the frames
    /// delivered and whether `stop` ended it.
    fn run(
        &mut self,
        deadline: Instant,
        mut stop: impl FnMut(&mut Net) -> bool,
    ) -> Result<(usize, bool), NetError> {
        let mut delivered = 0;
        let mut steps_here = 0u64;
        if stop(self) {
            return Ok((delivered, true));
        }
        loop {
            let (n, mut progress) = self.step();
            delivered += n;
            if stop(self) {
                return Ok((delivered, true));
            }
            // Frames the closure queued (a socket call) go on their links now, so the clock
            // does not jump past them.
            if self.collect_tx(None) > 0 {
                progress = true;
            }
            delivered += core::mem::take(&mut self.direct_delivered);
            match self.next_event(progress) {
                Some(t) if t <= deadline => {
                    if t > self.now {
                        self.now = t;
                        steps_here = 0;
                    } else {
                        steps_here += 1;
                        if steps_here >= self.max_steps_per_instant {
                            return Err(NetError::Livelock {
                                at: self.now,
                                steps: steps_here,
                            });
                        }
                    }
                }
                _ => {
                    self.now = self.now.max(deadline);
                    return Ok((delivered, false));
                }
            }
        }
    }

    /// One round at `now`: deliver the frames due, poll every stack until its devices are
    /// drained, put what they sent on the links. What a stack sent over a zero-latency ideal
    /// link goes into the peer's device as soon as the stack's turn ends, so a peer whose turn
    /// comes later takes it in the same round: the wire has no delay, as on Linux with both
    /// ends on one CPU, where the receive softirq runs when the sender's transmit returns.
    /// The receiver then finds the frames' buffers and headers still in the cache, not behind
    /// a round of its own work. Frames for any other link go on it at the end of the round, in
    /// link order. Returns the frames delivered and whether anything at all happened.
    fn step(&mut self) -> (usize, bool) {
        let now = self.now;
        let mut delivered = 0;
        while let Some(f) = self.queue.pop_due(now) {
            let dev = self
                .stacks
                .get_mut(f.to.0)
                .and_then(|s| s.device_mut(f.to.1));
            if let Some(dev) = dev {
                dev.push_rx(f.frame);
                delivered += 1;
            }
        }
        let mut work = 0;
        let mut sent = 0;
        for k in 0..self.stacks.len() {
            let s = &mut self.stacks[k];
            // A stack's turn lasts until its devices are drained, as a poller thread's does
            // (it calls [`Stack::poll`] again while frames wait), so a receiver keeps up with
            // what its peer sent in the last round instead of taking one budget per round
            // while the rest piles up. Bounded, should the stack feed itself.
            for _ in 0..MAX_POLLS_PER_TURN {
                let n = s.poll(now);
                work += n;
                let waiting = s
                    .interfaces()
                    .any(|i| s.interface(i).is_some_and(|f| f.device().rx_pending() > 0));
                if n == 0 || !waiting {
                    break;
                }
            }
            sent += self.collect_tx(Some(k));
        }
        sent += self.collect_tx(None);
        delivered += core::mem::take(&mut self.direct_delivered);
        (delivered, delivered + work + sent > 0)
    }

    /// When something next happens: a frame arrives or a stack wants polling. A stack asking
    /// for `now` again after a round that did nothing is not believed (that would spin), only
    /// its later wishes are.
    fn next_event(&self, progress: bool) -> Option<Instant> {
        let mut next = self.queue.next_at();
        for s in &self.stacks {
            if let Some(t) = s.poll_at(self.now) {
                if progress || t > self.now {
                    next = Some(next.map_or(t, |n| n.min(t)));
                }
            }
        }
        next
    }

    /// Takes every frame the devices have to send, plays the card's offloads on it and puts it
    /// on its link, or, on a zero-latency ideal link, straight into the receiving device
    /// (counted in `direct_delivered`). With `direct_from`, only the frames that stack sends
    /// over zero-latency ideal links (the end of its turn in [`Self::step`]). Returns the
    /// frames taken.
    fn collect_tx(&mut self, direct_from: Option<usize>) -> usize {
        let now = self.now;
        let mut taken = 0;
        for link in &mut self.links {
            for dir in [Direction::AToB, Direction::BToA] {
                let (from, to) = link.ends(dir);
                let ideal = link.cfg.is_ideal();
                // A zero-latency ideal link hands frames to the other device at once.
                let direct = ideal && link.cfg.latency.is_zero();
                if direct_from.is_some_and(|k| from.0 != k || !direct) {
                    continue;
                }
                let to_exists = self
                    .stacks
                    .get(to.0)
                    .is_some_and(|s| s.interface(to.1).is_some());
                let rx_csum = to_exists
                    && self.stacks[to.0]
                        .device_caps(to.1)
                        .is_some_and(|c| c.rx_csum);
                if !to_exists {
                    continue;
                }
                let pair = if direct {
                    pair_mut(&mut self.stacks, from.0, to.0)
                } else {
                    None
                };
                let (stack, dst) = match pair {
                    Some((s, d)) => (s, d.device_mut(to.1)),
                    None => match self.stacks.get_mut(from.0) {
                        Some(s) => (s, None),
                        None => continue,
                    },
                };
                let Some(dev) = stack.device_mut(from.1) else {
                    continue;
                };
                let (pool, segs) = (&self.pool, &mut self.segs);
                if ideal {
                    let mut carry = match dst {
                        Some(d) => Carry::Direct(d, &mut self.direct_delivered),
                        None => Carry::Queue(&mut self.queue),
                    };
                    while let Some(f) = dev.pop_tx() {
                        taken += 1;
                        let sent = if f.meta.gso_size != 0 && link.cfg.lro && rx_csum {
                            link.pass(dir, f, now, rx_csum, &mut carry);
                            Ok(())
                        } else {
                            device_offloads(
                                f,
                                pool,
                                segs,
                                #[inline(always)]
                                |s| link.pass(dir, s, now, rx_csum, &mut carry),
                            )
                        };
                        if sent.is_err() {
                            link.tx[dir.index()].stats.offload_errors += 1;
                        }
                    }
                } else {
                    let (scratch, queue) = (&mut self.scratch, &mut self.queue);
                    while let Some(f) = dev.pop_tx() {
                        taken += 1;
                        // The card's TSO engine, then its checksum insertion. The stack only
                        // hands over super-packets the device said it can cut.
                        let sent = device_offloads(f, pool, segs, |s| {
                            let bytes = flatten(&s, scratch);
                            link.transmit(dir, bytes, now, queue);
                        });
                        if sent.is_err() {
                            link.tx[dir.index()].stats.offload_errors += 1;
                        }
                    }
                }
            }
        }
        taken
    }
}

/// The frame's bytes in one slice: its own when it has no fragments, else copied to `scratch`.
fn flatten<'a>(f: &'a PacketBuf, scratch: &'a mut Vec<u8>) -> &'a [u8] {
    if f.nr_frags() == 0 {
        return f.data();
    }
    scratch.clear();
    scratch.extend_from_slice(f.data());
    for frag in f.frags() {
        scratch.extend_from_slice(frag);
    }
    scratch
}

/// An Ethernet + IPv4 + TCP frame from `src` to `dst` with `repr` and `payload`, checksums
/// computed: what a test hands a stack's device (`device_mut(..).push_rx`) to play a peer
/// that is not a stack of the net (a spoofed source, a forged segment).
pub fn tcp_frame(
    src_mac: EthernetAddress,
    dst_mac: EthernetAddress,
    src: std::net::SocketAddrV4,
    dst: std::net::SocketAddrV4,
    repr: &crate::wire::tcp::TcpRepr,
    payload: &[u8],
) -> Result<Vec<u8>, crate::wire::WireError> {
    use crate::wire::checksum::ChecksumMode;
    use crate::wire::ethernet::{ethertype, EthernetRepr};
    use crate::wire::ipv4::{protocol, Ipv4Options, Ipv4Repr};
    let hl = repr.header_len()?;
    let ip = Ipv4Repr {
        src: *src.ip(),
        dst: *dst.ip(),
        protocol: protocol::TCP,
        ttl: 64,
        dscp: 0,
        ecn: 0,
        ident: 1,
        dont_frag: true,
        more_frags: false,
        frag_offset: 0,
        payload_len: hl + payload.len(),
        options: Ipv4Options::default(),
    };
    let l4 = EthernetRepr::LEN + ip.header_len();
    let mut f = vec![0; l4 + hl + payload.len()];
    EthernetRepr {
        dst: dst_mac,
        src: src_mac,
        ethertype: ethertype::IPV4,
    }
    .emit(&mut f)?;
    ip.emit(&mut f[EthernetRepr::LEN..], ChecksumMode::Software)?;
    f[l4 + hl..].copy_from_slice(payload);
    repr.emit(
        &mut f[l4..],
        payload.len(),
        *src.ip(),
        *dst.ip(),
        ChecksumMode::Software,
    )?;
    Ok(f)
}

/// Two stacks on one link with this latency and the devices' MTU: A = stack 0 with
/// 10.0.0.1/24, B = stack 1 with 10.0.0.2/24. Returns the net and the two interfaces.
pub fn two_hosts(caps: DeviceCaps, latency: Duration) -> (Net, IfIndex, IfIndex) {
    two_hosts_with(caps, LinkConfig::new(latency, caps.mtu), DEFAULT_SEED)
}

/// [`two_hosts`] with any link and seed.
pub fn two_hosts_with(caps: DeviceCaps, link: LinkConfig, seed: u64) -> (Net, IfIndex, IfIndex) {
    two_hosts_configured(
        [StackConfig::default(), StackConfig::default()],
        caps,
        link,
        seed,
    )
}

/// [`two_hosts_with`] with each stack's own settings (A's first).
pub fn two_hosts_configured(
    [cfg_a, cfg_b]: [StackConfig; 2],
    caps: DeviceCaps,
    link: LinkConfig,
    seed: u64,
) -> (Net, IfIndex, IfIndex) {
    let mut net = Net::with_seed(seed);
    let a = net.add_stack(cfg_a);
    let b = net.add_stack(cfg_b);
    let ia = net.fixed_iface(a, [10, 0, 0, 1], 24, caps);
    let ib = net.fixed_iface(b, [10, 0, 0, 2], 24, caps);
    net.connect((a, ia), (b, ib), link);
    (net, ia, ib)
}

/// A — R — C, stacks 0, 1 and 2: A = 10.0.1.1/24 (gateway R), R = 10.0.1.254/24 and
/// 10.0.2.254/24, forwarding, C = 10.0.2.1/24 (gateway R). Links of 100 µs; `mtu_rc` is the MTU
/// of the R—C link (link 1) and of its interfaces.
pub fn three_hosts(mtu_rc: usize) -> Net {
    three_hosts_mtus(mtu_rc, mtu_rc)
}

/// [`three_hosts`] with C's interface at `mtu_c` while the R—C link and R's interface on it
/// carry `mtu_rc`: with `mtu_c` larger, C offers an MSS the path cannot carry, and only R's
/// fragmentation-needed tells A (path MTU discovery).
pub fn three_hosts_mtus(mtu_rc: usize, mtu_c: usize) -> Net {
    let mut net = Net::new();
    let a = net.add_stack(StackConfig::default());
    let r = net.add_stack(StackConfig {
        forwarding: true,
        ..StackConfig::default()
    });
    let c = net.add_stack(StackConfig::default());
    let caps = DeviceCaps::default();
    let narrow = DeviceCaps {
        mtu: mtu_rc,
        ..caps
    };
    let ia = net.fixed_iface(a, [10, 0, 1, 1], 24, caps);
    let r1 = net.fixed_iface(r, [10, 0, 1, 254], 24, caps);
    let r2 = net.fixed_iface(r, [10, 0, 2, 254], 24, narrow);
    let ic = net.fixed_iface(c, [10, 0, 2, 1], 24, DeviceCaps { mtu: mtu_c, ..caps });
    // Default routes on fresh stacks whose connected routes cover the gateways: these are
    // accepted, and a refusal would show up as unreachable traffic in the test using them.
    let _ = net.stacks[a]
        .routes_mut()
        .add(Route::default_via(Ipv4Addr::new(10, 0, 1, 254), ia));
    let _ = net.stacks[c]
        .routes_mut()
        .add(Route::default_via(Ipv4Addr::new(10, 0, 2, 254), ic));
    let hop = Duration::from_micros(100);
    net.connect((a, ia), (r, r1), LinkConfig::new(hop, 1500));
    net.connect((r, r2), (c, ic), LinkConfig::new(hop, mtu_rc));
    net
}

impl Net {
    /// An interface with a fixed, valid address on a stack just added (for the topologies
    /// above). The address cannot be refused on a fresh interface; were it, the interface
    /// would simply have no address.
    fn fixed_iface(&mut self, s: usize, addr: [u8; 4], len: u8, caps: DeviceCaps) -> IfIndex {
        let now = self.now;
        let stack = &mut self.stacks[s];
        let next = stack.interfaces().count() as IfIndex + 1;
        let name = format!("eth{}", next - 1);
        let i = stack.add_interface(IfaceConfig::new(&name, mac(s, next), caps));
        let _ = stack.add_address(i, Ipv4Addr::from(addr), len, now);
        i
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::udp::UdpHandle;
    use std::net::SocketAddrV4;

    const LAT: Duration = Duration::from_micros(50);
    const SRV: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 9);
    /// UDP payload that makes a 1042-byte frame (14 + 20 + 8 + 1000).
    const PAYLOAD: usize = 1000;
    const FRAME: usize = 1042;

    /// Two hosts with a UDP server on B and a client on A, ARP resolved over a perfect link,
    /// then the link switched to `cfg`. Returns the net, server and client.
    fn udp_net(seed: u64, cfg: LinkConfig) -> (Net, UdpHandle, UdpHandle) {
        let (mut net, _, _) =
            two_hosts_with(DeviceCaps::default(), LinkConfig::new(LAT, 1500), seed);
        let srv = net.stacks[1]
            .udp_bind(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 9))
            .unwrap();
        net.stacks[1].udp_set_rcvbuf(srv, 100_000).unwrap();
        let cli = net.stacks[0]
            .udp_bind(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0))
            .unwrap();
        send(&mut net, cli, u32::MAX);
        net.run_for(Duration::from_millis(10)).unwrap();
        assert_eq!(received(&mut net, srv), vec![u32::MAX], "warm-up datagram");
        net.set_link_config(0, cfg).unwrap();
        (net, srv, cli)
    }

    /// Sends datagram `id` (a 1000-byte payload starting with the id).
    fn send(net: &mut Net, cli: UdpHandle, id: u32) {
        let mut payload = [0u8; PAYLOAD];
        payload[..4].copy_from_slice(&id.to_be_bytes());
        let now = net.now();
        net.stacks[0].udp_send_to(cli, &payload, SRV, now).unwrap();
    }

    /// The ids of the datagrams the server has, in arrival order.
    fn received(net: &mut Net, srv: UdpHandle) -> Vec<u32> {
        let mut ids = Vec::new();
        let mut buf = [0u8; PAYLOAD];
        while let Ok((n, _)) = net.stacks[1].udp_recv_from(srv, &mut buf) {
            assert_eq!(n, PAYLOAD);
            ids.push(u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]));
        }
        ids
    }

    /// Sends `count` datagrams in bursts of 50 every millisecond and returns the ids received.
    fn paced(net: &mut Net, srv: UdpHandle, cli: UdpHandle, count: u32) -> Vec<u32> {
        let mut ids = Vec::new();
        for burst in (0..count).collect::<Vec<_>>().chunks(50) {
            for &id in burst {
                send(net, cli, id);
            }
            net.run_for(Duration::from_millis(1)).unwrap();
            ids.extend(received(net, srv));
        }
        net.run_for(Duration::from_millis(50)).unwrap();
        ids.extend(received(net, srv));
        ids
    }

    fn a_to_b(net: &Net) -> LinkStats {
        *net.links()[0].stats(Direction::AToB)
    }

    #[test]
    fn loss_rate_is_close_to_the_configured_one() {
        let (mut net, srv, cli) = udp_net(1, LinkConfig::new(LAT, 1500).loss(0.1));
        let before = a_to_b(&net);
        let ids = paced(&mut net, srv, cli, 10_000);
        let lost = a_to_b(&net).lost - before.lost;
        assert_eq!(
            ids.len() as u64 + lost,
            10_000,
            "every datagram lost or delivered"
        );
        assert!((850..=1150).contains(&lost), "lost {lost} of 10000 at 10 %");
        assert_eq!(net.stacks[0].snmp().udp.out_datagrams, 10_001);
    }

    #[test]
    fn bursty_loss_keeps_the_rate_and_loses_frames_in_runs() {
        // The same long-run rate as above, in runs of 5 on average: the datagrams missing
        // between two delivered ones come in gaps averaging about 5, where independent losses
        // at 10 % leave gaps averaging about 1.1.
        let gaps = |cfg: LinkConfig| {
            let (mut net, srv, cli) = udp_net(2, cfg);
            let before = a_to_b(&net);
            let ids = paced(&mut net, srv, cli, 10_000);
            let lost = a_to_b(&net).lost - before.lost;
            assert_eq!(ids.len() as u64 + lost, 10_000);
            let runs: Vec<u32> = ids
                .windows(2)
                .map(|w| w[1] - w[0] - 1)
                .filter(|&g| g > 0)
                .collect();
            let mean = f64::from(runs.iter().sum::<u32>()) / runs.len() as f64;
            (lost, mean)
        };
        let (lost, mean) = gaps(LinkConfig::new(LAT, 1500).loss(0.1).loss_burst(5.0));
        assert!((700..=1300).contains(&lost), "lost {lost} of 10000 at 10 %");
        assert!((4.0..=6.0).contains(&mean), "mean run {mean:.2}");
        let (_, single) = gaps(LinkConfig::new(LAT, 1500).loss(0.1));
        assert!(single < 1.3, "mean run {single:.2} without bursts");
    }

    #[test]
    fn the_seed_decides_the_run() {
        let cfg = LinkConfig::new(LAT, 1500)
            .loss(0.2)
            .duplicate(0.05)
            .jitter(Duration::from_micros(200));
        let run = |seed| {
            let (mut net, srv, cli) = udp_net(seed, cfg);
            paced(&mut net, srv, cli, 500)
        };
        let first = run(1);
        assert!(first.len() > 300 && first.len() < 500, "{}", first.len());
        assert_eq!(
            run(1),
            first,
            "same seed, same deliveries in the same order"
        );
        assert_ne!(run(2), first, "another seed, another run");
    }

    #[test]
    fn frames_take_their_serialization_time() {
        let rate = 10_000_000;
        let cfg = LinkConfig::new(Duration::from_millis(1), 1500).bandwidth(rate);
        assert_eq!(
            cfg.serialization_time(FRAME),
            Duration::from_nanos((FRAME as u64 + 20) * 8 * 100)
        );
        let (mut net, srv, cli) = udp_net(1, cfg);
        let start = net.now();
        let before = a_to_b(&net);
        const N: u32 = 20;
        for id in 0..N {
            send(&mut net, cli, id);
        }
        let mut got = Vec::new();
        let done = net
            .run_while(
                |net| {
                    got.extend(received(net, srv));
                    got.len() < N as usize
                },
                start + Duration::from_secs(1),
            )
            .unwrap();
        assert!(done);
        assert_eq!(got, (0..N).collect::<Vec<_>>());
        // Back to back on the wire, then one latency: the clock stops at the last arrival.
        let wire = cfg.serialization_time(FRAME) * N;
        assert_eq!(net.now() - start, wire + Duration::from_millis(1));
        assert_eq!(
            a_to_b(&net).bytes - before.bytes,
            (FRAME as u64) * u64::from(N)
        );
    }

    #[test]
    fn a_full_queue_drops_and_counts() {
        // The first frame goes straight onto the wire; four more fit in 5000 bytes of queue.
        let cfg = LinkConfig::new(LAT, 1500)
            .bandwidth(1_000_000)
            .queue_bytes(5000);
        let (mut net, srv, cli) = udp_net(1, cfg);
        for id in 0..20 {
            send(&mut net, cli, id);
        }
        net.run_for(Duration::from_millis(100)).unwrap();
        assert_eq!(received(&mut net, srv), vec![0, 1, 2, 3, 4]);
        assert_eq!(a_to_b(&net).queue_drops, 15);
        // Once drained, the queue takes frames again.
        send(&mut net, cli, 20);
        net.run_for(Duration::from_millis(100)).unwrap();
        assert_eq!(received(&mut net, srv), vec![20]);
    }

    #[test]
    fn duplication_delivers_twice() {
        let (mut net, srv, cli) = udp_net(1, LinkConfig::new(LAT, 1500).duplicate(1.0));
        let ids = paced(&mut net, srv, cli, 100);
        assert_eq!(ids.len(), 200);
        assert!((0..100).all(|id| ids.iter().filter(|&&i| i == id).count() == 2));
        assert_eq!(a_to_b(&net).duplicated, 100);
        assert_eq!(net.stacks[1].snmp().udp.in_datagrams, 201);
    }

    #[test]
    fn corrupted_frames_are_caught_by_checksums() {
        let (mut net, srv, cli) = udp_net(3, LinkConfig::new(LAT, 1500).corrupt(0.5));
        let before = net.stacks[1].snmp();
        let ids = paced(&mut net, srv, cli, 1000);
        let corrupted = a_to_b(&net).corrupted;
        assert!(
            (400..=600).contains(&corrupted),
            "{corrupted} of 1000 at 50 %"
        );
        assert_eq!(
            ids.len() as u64 + corrupted,
            1000,
            "no damaged datagram delivered"
        );
        let after = net.stacks[1].snmp();
        // A damaged total length shows as a truncated packet (the stack checks the length
        // before the header checksum), any other IP header damage as a header error.
        let ip_errors = after.ip.in_hdr_errors - before.ip.in_hdr_errors
            + (after.ip.in_truncated_pkts - before.ip.in_truncated_pkts);
        let udp_errors = after.udp.in_csum_errors - before.udp.in_csum_errors;
        assert!(ip_errors > 0 && udp_errors > 0);
        assert_eq!(ip_errors + udp_errors, corrupted, "each one counted");
        assert_eq!(after.udp.in_errors - before.udp.in_errors, udp_errors);
    }

    #[test]
    fn jitter_reorders_frames_sent_together() {
        let jittery = LinkConfig::new(LAT, 1500).jitter(Duration::from_millis(1));
        for (cfg, shuffled) in [(LinkConfig::new(LAT, 1500), false), (jittery, true)] {
            let (mut net, srv, cli) = udp_net(5, cfg);
            for id in 0..100 {
                send(&mut net, cli, id);
            }
            net.run_for(Duration::from_millis(10)).unwrap();
            let mut ids = received(&mut net, srv);
            assert_eq!(ids.len(), 100);
            let in_order = ids.windows(2).all(|w| w[0] < w[1]);
            assert_eq!(in_order, !shuffled);
            ids.sort_unstable();
            assert_eq!(ids, (0..100).collect::<Vec<_>>());
        }
    }

    #[test]
    fn reordering_holds_frames_back() {
        let cfg = LinkConfig::new(LAT, 1500).reorder(0.1, Duration::from_millis(3));
        let (mut net, srv, cli) = udp_net(9, cfg);
        let ids = paced(&mut net, srv, cli, 1000);
        assert_eq!(ids.len(), 1000);
        let reordered = a_to_b(&net).reordered;
        assert!(
            (50..=150).contains(&reordered),
            "{reordered} of 1000 at 10 %"
        );
        let overtaken = ids.windows(2).filter(|w| w[0] > w[1]).count();
        assert!(overtaken > 0);
    }

    #[test]
    fn idle_time_is_skipped() {
        let (mut net, _, _) = two_hosts(DeviceCaps::default(), LAT);
        let start = net.now();
        assert_eq!(net.run_until_idle(Duration::from_secs(1)), Ok(true));
        assert_eq!(net.links()[0].total().carried, 2, "the gratuitous ARPs");
        assert!(net.now() < start + Duration::from_millis(1));
        let quiet = net.now();
        assert_eq!(net.run_for(Duration::from_secs(3600)), Ok(0));
        assert_eq!(net.now(), quiet + Duration::from_secs(3600));
    }

    #[test]
    fn a_zero_latency_link_hands_frames_straight_to_the_device_and_counts_them() {
        let (mut net, srv, cli) = udp_net(1, LinkConfig::new(Duration::ZERO, 1500));
        send(&mut net, cli, 7);
        net.collect_tx(None);
        assert_eq!(net.in_flight(), 0, "not queued on the link");
        let rx = net.stacks[1].interface(1).map(|i| i.device().rx_pending());
        assert_eq!(rx, Some(1), "already in B's receive queue");
        assert_eq!(net.run_for(Duration::from_millis(1)), Ok(1));
        assert_eq!(received(&mut net, srv), vec![7]);
        // With latency the frame waits on the link, and the count is the same.
        net.set_link_config(0, LinkConfig::new(LAT, 1500)).unwrap();
        send(&mut net, cli, 8);
        net.collect_tx(None);
        assert_eq!(net.in_flight(), 1);
        assert_eq!(net.run_for(Duration::from_millis(1)), Ok(1));
        assert_eq!(received(&mut net, srv), vec![8]);
    }

    #[test]
    fn a_zero_latency_link_delivers_in_the_round_the_frame_was_sent() {
        let (mut net, srv, cli) = udp_net(1, LinkConfig::new(Duration::ZERO, 1500));
        send(&mut net, cli, 7);
        let (delivered, progress) = net.step();
        assert!(progress);
        assert_eq!(delivered, 1);
        assert_eq!(received(&mut net, srv), vec![7], "B took it in A's round");
        // Over a link with latency the frame is still on the wire after the round.
        net.set_link_config(0, LinkConfig::new(LAT, 1500)).unwrap();
        send(&mut net, cli, 8);
        net.step();
        assert_eq!(received(&mut net, srv), Vec::<u32>::new());
        assert_eq!(net.in_flight(), 1);
        assert_eq!(net.run_for(Duration::from_millis(1)), Ok(1));
        assert_eq!(received(&mut net, srv), vec![8]);
    }

    #[test]
    fn a_stacks_turn_drains_its_device_past_one_budget() {
        let (mut net, _, ib) = two_hosts(DeviceCaps::default(), Duration::ZERO);
        assert_eq!(net.run_until_idle(Duration::from_millis(1)), Ok(true));
        let budget = net.stacks[1].config().rx_budget;
        // Broadcast frames of an EtherType nobody handles: each is taken and dropped.
        let mut frame = vec![0xff; 6];
        frame.extend_from_slice(&[2, 0, 0, 0, 0, 9, 0x88, 0xb5]);
        frame.resize(60, 0);
        let dev = net.stacks[1].device_mut(ib).unwrap();
        for _ in 0..3 * budget + 5 {
            dev.push_rx(PacketBuf::from_slice(0, &frame));
        }
        let (_, progress) = net.step();
        assert!(progress);
        let left = net.stacks[1].interface(ib).map(|i| i.device().rx_pending());
        assert_eq!(left, Some(0), "one step took every frame, not one budget");
    }

    #[test]
    fn a_zero_latency_routing_loop_is_reported() {
        let (mut net, ia, ib) = two_hosts(DeviceCaps::default(), Duration::ZERO);
        for (s, gw, i) in [(0, [10, 0, 0, 2], ia), (1, [10, 0, 0, 1], ib)] {
            net.stacks[s].set_forwarding(true);
            net.stacks[s]
                .routes_mut()
                .add(Route::default_via(Ipv4Addr::from(gw), i))
                .unwrap();
        }
        net.set_max_steps_per_instant(20);
        // A datagram from a third host on the link: one from A or B itself would be a
        // martian source when it came back to its sender, and the loop would stop there.
        let repr = crate::wire::tcp::TcpRepr {
            src_port: 1000,
            dst_port: 9,
            seq: 1,
            ack: 0,
            flags: crate::wire::tcp::TcpFlags(crate::wire::tcp::TcpFlags::SYN),
            window: 1000,
            urgent: 0,
            options: crate::wire::tcp::TcpOptions::default(),
        };
        let frame = tcp_frame(
            mac(9, 1),
            mac(0, ia),
            SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 7), 1000),
            SocketAddrV4::new(Ipv4Addr::new(8, 8, 8, 8), 9),
            &repr,
            b"round",
        )
        .unwrap();
        net.stacks[0]
            .device_mut(ia)
            .unwrap()
            .push_rx(PacketBuf::from_slice(0, &frame));
        assert!(matches!(
            net.run_for(Duration::from_millis(1)),
            Err(NetError::Livelock { steps: 20, .. })
        ));
        // With room for the TTL to run out, the same loop settles.
        net.set_max_steps_per_instant(DEFAULT_MAX_STEPS_PER_INSTANT);
        net.run_for(Duration::from_millis(1)).unwrap();
        // 63 forwards, then the TTL ran out (counted as a header error, as Linux does).
        let (a, b) = (net.stacks[0].snmp().ip, net.stacks[1].snmp().ip);
        assert_eq!(a.forw_datagrams + b.forw_datagrams, 63);
        assert_eq!(a.in_hdr_errors + b.in_hdr_errors, 1);
        assert_eq!(net.in_flight(), 0);
    }

    #[test]
    fn bad_arguments_are_errors() {
        let mut net = Net::new();
        let s = net.add_stack(StackConfig::default());
        assert_eq!(
            net.add_iface(s, "10.0.0.1", DeviceCaps::default()),
            Err(NetError::BadAddress("10.0.0.1".into()))
        );
        assert_eq!(
            net.add_iface(7, "10.0.0.1/24", DeviceCaps::default()),
            Err(NetError::NoSuchStack(7))
        );
        assert_eq!(
            net.set_link_config(0, LinkConfig::default()),
            Err(NetError::NoSuchLink(0))
        );
        // A link to an interface that does not exist carries nothing and breaks nothing.
        let i = net
            .add_iface(s, "10.0.0.1/24", DeviceCaps::default())
            .unwrap();
        net.connect((s, i), (5, 1), LinkConfig::default().loss(f64::NAN));
        net.run_for(Duration::from_millis(1)).unwrap();
        assert_eq!(net.links()[0].total(), LinkStats::default());
    }
}
