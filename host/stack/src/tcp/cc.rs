//! Congestion control: how much data a connection may have in flight (`cwnd`) and where slow
//! start ends (`ssthresh`), behind one trait so a socket can pick its algorithm
//! (Linux `tcp_congestion_ops`, `net.ipv4.tcp_congestion_control`).
//!
//! - [`NewReno`]: the standard algorithm of RFC 5681 (slow start, congestion avoidance,
//!   multiplicative decrease to half the flight), with appropriate byte counting (RFC 3465,
//!   L = 2·SMSS) and the RFC 6582 reduction `ssthresh = max(FlightSize/2, 2·SMSS)`.
//! - [`Cubic`] (the default, as in Linux): RFC 9438. After a congestion event the window grows
//!   along `W_cubic(t) = C·(t − K)³ + W_max` — concave up to the previous maximum, convex beyond —
//!   unless a Reno flow would be faster (the Reno-friendly region).
//!
//! Both share the RFC 6928 initial window and the RFC 5681 §4.1 restart after idle. Windows are
//! in bytes, so a change of MSS does not rescale them. The algorithms only keep state: *when* a
//! congestion event happened (once per window of data, RFC 6582) and whether an ACK is inside
//! fast recovery (where PRR, RFC 6937, paces the sender instead) is the connection's business.
//!
//! Not here: HyStart++ (RFC 9406) and undo of spurious reductions (RFC 9438 §4.9).

use core::fmt;
use std::time::Duration;

use crate::time::Instant;

/// The largest congestion window: the largest window TCP can advertise (65535 << 14, RFC 7323
/// §2.3). Keeping `cwnd` below 2³¹ keeps `snd_una + cwnd` meaningful in sequence space.
pub const MAX_CWND: u32 = 1 << 30;

/// The largest MSS taken: the MSS option is 16 bits (RFC 9293 §3.2).
const MAX_MSS: u32 = u16::MAX as u32;

/// RFC 9438 §5 constant C (segments / s³).
const CUBIC_C: f64 = 0.4;
/// RFC 9438 multiplicative decrease factor β_cubic, as a fraction for exact integer windows.
const CUBIC_BETA_NUM: u64 = 7;
/// Denominator of β_cubic.
const CUBIC_BETA_DEN: u64 = 10;
/// β_cubic as a float.
const CUBIC_BETA: f64 = CUBIC_BETA_NUM as f64 / CUBIC_BETA_DEN as f64;
/// RFC 9438 §4.3 α_cubic = 3(1 − β)/(1 + β): the Reno-friendly additive increase per RTT that
/// matches Reno's average rate given CUBIC's gentler decrease.
const CUBIC_ALPHA: f64 = 3.0 * (1.0 - CUBIC_BETA) / (1.0 + CUBIC_BETA);
/// RFC 9438 §4.5: the cubic target may be at most 1.5·cwnd.
const CUBIC_TARGET_CAP: f64 = 1.5;

/// Which algorithm a socket uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CcAlgorithm {
    /// CUBIC (RFC 9438), the default.
    #[default]
    Cubic,
    /// NewReno (RFC 5681, RFC 6582).
    NewReno,
}

impl fmt::Display for CcAlgorithm {
    /// The Linux name (`cubic`, `reno`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CcAlgorithm::Cubic => "cubic",
            CcAlgorithm::NewReno => "reno",
        })
    }
}

/// Congestion control state of one connection. Windows in bytes.
pub trait CongestionControl: core::fmt::Debug + Send {
    /// The algorithm this state implements.
    fn algorithm(&self) -> CcAlgorithm;

    /// The congestion window in bytes: at least one MSS, at most [`MAX_CWND`].
    fn cwnd(&self) -> u32;

    /// The slow-start threshold in bytes (`u32::MAX` until the first congestion event).
    fn ssthresh(&self) -> u32;

    /// New data cumulatively acknowledged outside recovery: slow start below ssthresh (RFC 5681 with
    /// appropriate byte counting, L=2·MSS cap per ACK), congestion avoidance above. `rtt` is the latest
    /// RTT sample if any; `in_flight` the bytes in flight before this ACK; `app_limited` true when the
    /// sender had no data to fill cwnd (then cwnd must not grow, RFC 7661 spirit / Linux tcp_is_cwnd_limited).
    fn on_ack(
        &mut self,
        acked: u32,
        rtt: Option<Duration>,
        in_flight: u32,
        app_limited: bool,
        now: Instant,
    );

    /// Loss detected by dupacks/SACK: returns nothing, sets ssthresh (NewReno: max(flight/2, 2·MSS);
    /// CUBIC: cwnd·β with β=0.7, fast convergence, W_max bookkeeping) and cwnd = ssthresh.
    ///
    /// Call once per congestion episode (RFC 6582: not again for losses in the same window).
    fn on_congestion_event(&mut self, in_flight: u32, now: Instant);

    /// Retransmission timeout: ssthresh as for a congestion event, cwnd = 1 MSS (loss window).
    ///
    /// A timeout that follows a congestion event or another timeout with no
    /// [`on_ack`](Self::on_ack) in between belongs to the same episode: the segment timed out
    /// again, so ssthresh (and CUBIC's `W_max`) are held (RFC 5681 §3.1) and only cwnd drops to
    /// the loss window — what Linux `tcp_enter_loss` does.
    fn on_rto(&mut self, in_flight: u32, now: Instant);

    /// The MSS changed (after the handshake); initial window per RFC 6928 (min(10·MSS, max(2·MSS,14600))).
    ///
    /// Before anything was acknowledged cwnd becomes the initial window for the new MSS; later
    /// the window (in bytes) stays, raised to at least one MSS. MSS is clamped to 1..=65535.
    fn set_mss(&mut self, mss: u32);

    /// Restart after idle (RFC 5681 §4.1 / RFC 9438): cwnd = min(cwnd, restart window); CUBIC epoch reset.
    ///
    /// The restart window is the initial window. ssthresh is raised to at least ¾ of the old
    /// cwnd (Linux `tcp_cwnd_restart`, RFC 2861) so slow start brings the connection back to
    /// where it was before the pause. The caller decides that the connection was idle (no data
    /// in flight for more than an RTO).
    fn on_idle_restart(&mut self, now: Instant);

    /// Leaves slow start without a loss (HyStart++, RFC 9406 §4.2: the RTT rose, the queue
    /// is filling): ssthresh = cwnd, so growth continues in congestion avoidance.
    fn exit_slow_start(&mut self);
}

/// A boxed congestion controller of the given algorithm for a connection with MSS `mss`.
pub fn new_cc(algo: CcAlgorithm, mss: u32) -> Box<dyn CongestionControl> {
    match algo {
        CcAlgorithm::Cubic => Box::new(Cubic::new(mss)),
        CcAlgorithm::NewReno => Box::new(NewReno::new(mss)),
    }
}

/// The RFC 6928 initial window for `mss`: min(10·MSS, max(2·MSS, 14600)), in bytes.
/// `mss` is clamped to 1..=65535.
pub fn initial_window(mss: u32) -> u32 {
    let mss = u64::from(clamp_mss(mss));
    let iw = (10 * mss).min((2 * mss).max(14_600));
    clamp_cwnd(iw)
}

fn clamp_mss(mss: u32) -> u32 {
    mss.clamp(1, MAX_MSS)
}

fn clamp_cwnd(bytes: u64) -> u32 {
    // MAX_CWND fits u32, so the cast cannot truncate.
    bytes.min(u64::from(MAX_CWND)) as u32
}

/// One slow-start step (RFC 5681 §3.1, RFC 3465 byte counting): grow by all the bytes
/// acknowledged, not past ssthresh. Returns the new window and the bytes left for congestion
/// avoidance when the step crossed ssthresh (Linux `tcp_slow_start`). RFC 3465's limit L of
/// 2 MSS per ACK is not applied, as Linux does not: with GRO on the receiver one ACK covers a
/// whole super-packet (tens of segments), and L would let the window grow by 2 of them.
fn slow_start(cwnd: u64, ssthresh: u64, acked: u64) -> (u64, u64) {
    let room = ssthresh.saturating_sub(cwnd);
    if acked <= room {
        (cwnd + acked, 0)
    } else {
        (cwnd + room, acked - room)
    }
}

/// NewReno (RFC 5681, RFC 6582) with appropriate byte counting (RFC 3465).
#[derive(Debug, Clone)]
pub struct NewReno {
    mss: u32,
    cwnd: u32,
    ssthresh: u32,
    /// Bytes acknowledged in congestion avoidance not yet turned into window (RFC 3465 §2.1).
    bytes_acked: u64,
    /// Nothing acknowledged and no loss yet: `set_mss` may still pick the initial window.
    fresh: bool,
    /// An RTO or congestion event with no ACK since: a further RTO holds ssthresh.
    in_loss: bool,
}

impl NewReno {
    /// State for a new connection: the RFC 6928 initial window, ssthresh "arbitrarily high".
    pub fn new(mss: u32) -> Self {
        let mss = clamp_mss(mss);
        NewReno {
            mss,
            cwnd: initial_window(mss),
            ssthresh: u32::MAX,
            bytes_acked: 0,
            fresh: true,
            in_loss: false,
        }
    }

    /// RFC 6582 / RFC 5681 eq. (4): half the flight, at least two segments.
    fn reduced_ssthresh(&self, in_flight: u32) -> u32 {
        (in_flight / 2).max(2 * self.mss)
    }
}

impl CongestionControl for NewReno {
    fn algorithm(&self) -> CcAlgorithm {
        CcAlgorithm::NewReno
    }

    fn cwnd(&self) -> u32 {
        self.cwnd
    }

    fn ssthresh(&self) -> u32 {
        self.ssthresh
    }

    fn on_ack(
        &mut self,
        acked: u32,
        _rtt: Option<Duration>,
        _in_flight: u32,
        app_limited: bool,
        _now: Instant,
    ) {
        if acked == 0 {
            return;
        }
        self.fresh = false;
        self.in_loss = false;
        if app_limited {
            return;
        }
        let mss = u64::from(self.mss);
        let mut cwnd = u64::from(self.cwnd);
        let mut acked = u64::from(acked);
        if cwnd < u64::from(self.ssthresh) {
            (cwnd, acked) = slow_start(cwnd, u64::from(self.ssthresh), acked);
        }
        if acked > 0 {
            // Congestion avoidance by byte counting: one MSS per cwnd of data acknowledged.
            // A stretch ACK covering several windows earns several MSS (Linux
            // `tcp_cong_avoid_ai`) rather than losing the bytes.
            self.bytes_acked = self.bytes_acked.saturating_add(acked);
            let steps = self.bytes_acked / cwnd;
            if steps > 0 {
                self.bytes_acked -= steps * cwnd;
                cwnd = cwnd.saturating_add(steps.saturating_mul(mss));
            }
        }
        self.cwnd = clamp_cwnd(cwnd);
        if self.cwnd == MAX_CWND {
            self.bytes_acked = 0;
        }
    }

    fn on_congestion_event(&mut self, in_flight: u32, _now: Instant) {
        self.fresh = false;
        self.in_loss = true;
        self.ssthresh = self.reduced_ssthresh(in_flight);
        self.cwnd = clamp_cwnd(u64::from(self.ssthresh));
        self.bytes_acked = 0;
    }

    fn on_rto(&mut self, in_flight: u32, _now: Instant) {
        self.fresh = false;
        if !self.in_loss {
            self.ssthresh = self.reduced_ssthresh(in_flight);
        }
        self.in_loss = true;
        self.cwnd = self.mss;
        self.bytes_acked = 0;
    }

    fn set_mss(&mut self, mss: u32) {
        self.mss = clamp_mss(mss);
        if self.fresh {
            self.cwnd = initial_window(self.mss);
        } else {
            self.cwnd = self.cwnd.max(self.mss);
        }
    }

    fn on_idle_restart(&mut self, _now: Instant) {
        let cwnd = u64::from(self.cwnd);
        self.ssthresh = self.ssthresh.max(clamp_cwnd(cwnd * 3 / 4));
        self.cwnd = self.cwnd.min(initial_window(self.mss));
        self.bytes_acked = 0;
    }

    fn exit_slow_start(&mut self) {
        self.ssthresh = self.ssthresh.min(self.cwnd.max(2 * self.mss));
    }
}

/// One CUBIC congestion-avoidance epoch (RFC 9438 §4.2): from the first ACK after a reduction
/// until the next one.
#[derive(Debug, Clone, Copy)]
struct Epoch {
    /// `t_epoch`, shifted forward over application-limited periods.
    start: Instant,
    /// K in seconds: when `W_cubic` reaches `origin`.
    k: f64,
    /// The plateau of the curve in bytes: `W_max`, or cwnd when cwnd already exceeds it.
    origin: f64,
    /// `W_est`, the window a Reno flow would have (RFC 9438 §4.3), bytes.
    w_est: f64,
}

/// CUBIC (RFC 9438), with fast convergence and the Reno-friendly region.
///
/// The window is kept as a float in bytes so the per-ACK increments of RFC 9438 §4.4/4.5 —
/// fractions of a segment — accumulate exactly; [`cwnd`](CongestionControl::cwnd) rounds down.
#[derive(Debug, Clone)]
pub struct Cubic {
    mss: u32,
    cwnd: f64,
    ssthresh: u32,
    /// `W_max` in bytes: cwnd just before the last reduction (after fast convergence); zero
    /// before any.
    w_max: f64,
    /// `cwnd_prior` in bytes: cwnd just before the last reduction, for the α switch of §4.3.
    cwnd_prior: f64,
    epoch: Option<Epoch>,
    /// The smallest RTT seen: the RTT of the target `W_cubic(t + RTT)` (Linux `delay_min`).
    min_rtt: Option<Duration>,
    /// Start of the current application-limited period inside an epoch (RFC 9438 §5.8).
    app_limited_since: Option<Instant>,
    /// Nothing acknowledged and no loss yet: `set_mss` may still pick the initial window.
    fresh: bool,
    /// An RTO or congestion event with no ACK since: a further RTO holds ssthresh and W_max.
    in_loss: bool,
}

impl Cubic {
    /// State for a new connection: the RFC 6928 initial window, ssthresh "arbitrarily high".
    pub fn new(mss: u32) -> Self {
        let mss = clamp_mss(mss);
        Cubic {
            mss,
            cwnd: f64::from(initial_window(mss)),
            ssthresh: u32::MAX,
            w_max: 0.0,
            cwnd_prior: 0.0,
            epoch: None,
            min_rtt: None,
            app_limited_since: None,
            fresh: true,
            in_loss: false,
        }
    }

    /// Multiplicative decrease with fast convergence (RFC 9438 §4.6, §4.7): updates `W_max`
    /// and `cwnd_prior`, sets ssthresh = cwnd·β (at least 2·MSS) and ends the epoch.
    fn reduce(&mut self) {
        let cwnd = self.cwnd;
        // A flow that lost before regaining its previous maximum is likely sharing the path
        // with a newcomer: release bandwidth by remembering a lower plateau.
        self.w_max = if cwnd < self.w_max {
            cwnd * (1.0 + CUBIC_BETA) / 2.0
        } else {
            cwnd
        };
        self.cwnd_prior = cwnd;
        let reduced = (cwnd as u64) * CUBIC_BETA_NUM / CUBIC_BETA_DEN;
        self.ssthresh = clamp_cwnd(reduced.max(2 * u64::from(self.mss)));
        self.epoch = None;
        self.app_limited_since = None;
    }

    /// Opens an epoch at `now` with the current window as `cwnd_epoch` (RFC 9438 §4.2).
    fn start_epoch(&self, now: Instant) -> Epoch {
        let mss = f64::from(self.mss);
        if self.w_max <= self.cwnd {
            // Already at or past the plateau (or no loss yet): probe convexly from here.
            Epoch {
                start: now,
                k: 0.0,
                origin: self.cwnd,
                w_est: self.cwnd,
            }
        } else {
            Epoch {
                start: now,
                k: cubic_k(self.w_max / mss, self.cwnd / mss),
                origin: self.w_max,
                w_est: self.cwnd,
            }
        }
    }

    /// Congestion avoidance for `acked` bytes (RFC 9438 §4.3–4.5).
    fn congestion_avoidance(&mut self, acked: f64, now: Instant) {
        let mss = f64::from(self.mss);
        let cwnd = self.cwnd;
        let rtt = self.min_rtt.unwrap_or(Duration::ZERO).as_secs_f64();
        let cwnd_prior = self.cwnd_prior;
        let epoch = match self.epoch {
            Some(e) => e,
            None => self.start_epoch(now),
        };
        let mut epoch = epoch;
        let t = now.saturating_duration_since(epoch.start).as_secs_f64();
        let w_cubic = |t: f64| epoch.origin + CUBIC_C * (t - epoch.k).powi(3) * mss;

        // Reno-friendly estimate: α per RTT until it passes the previous window, then 1.
        let alpha = if epoch.w_est >= cwnd_prior {
            1.0
        } else {
            CUBIC_ALPHA
        };
        epoch.w_est = (epoch.w_est + alpha * mss * acked / cwnd).min(f64::from(MAX_CWND));

        let next = if w_cubic(t) < epoch.w_est {
            epoch.w_est
        } else {
            // Concave or convex region: close (target − cwnd)/cwnd per segment acknowledged.
            let target = w_cubic(t + rtt).clamp(cwnd, CUBIC_TARGET_CAP * cwnd);
            let inc = (target - cwnd) * acked / cwnd;
            cwnd + inc.min(target - cwnd)
        };
        self.epoch = Some(epoch);
        self.cwnd = sanitize(next, cwnd);
    }
}

/// K of RFC 9438 eq. (2) in seconds: the time `W_cubic` takes from `cwnd_epoch` back up to
/// `W_max` (both in segments), `cbrt((W_max − cwnd_epoch)/C)`; zero when already there.
fn cubic_k(w_max: f64, cwnd_epoch: f64) -> f64 {
    ((w_max - cwnd_epoch).max(0.0) / CUBIC_C).cbrt()
}

/// A window computed in floating point, kept finite and inside [1 byte, MAX_CWND]; `fallback`
/// if the computation went wrong.
fn sanitize(w: f64, fallback: f64) -> f64 {
    if w.is_finite() {
        w.clamp(1.0, f64::from(MAX_CWND))
    } else {
        fallback
    }
}

impl CongestionControl for Cubic {
    fn algorithm(&self) -> CcAlgorithm {
        CcAlgorithm::Cubic
    }

    fn cwnd(&self) -> u32 {
        // `as` saturates; the window is kept inside [1, MAX_CWND].
        (self.cwnd as u32).max(1)
    }

    fn ssthresh(&self) -> u32 {
        self.ssthresh
    }

    fn on_ack(
        &mut self,
        acked: u32,
        rtt: Option<Duration>,
        _in_flight: u32,
        app_limited: bool,
        now: Instant,
    ) {
        if let Some(rtt) = rtt {
            self.min_rtt = Some(self.min_rtt.map_or(rtt, |m| m.min(rtt)));
        }
        if acked == 0 {
            return;
        }
        self.fresh = false;
        self.in_loss = false;
        if app_limited {
            // RFC 9438 §5.8: no growth while the application holds the flow back, and the
            // curve's clock stops too, so the window does not leap when data comes again.
            if self.epoch.is_some() && self.app_limited_since.is_none() {
                self.app_limited_since = Some(now);
            }
            return;
        }
        if let Some(since) = self.app_limited_since.take() {
            if let Some(epoch) = &mut self.epoch {
                epoch.start += now.saturating_duration_since(since);
            }
        }

        let mut acked = u64::from(acked);
        if self.cwnd < f64::from(self.ssthresh) {
            let (cwnd, rest) = slow_start(self.cwnd as u64, u64::from(self.ssthresh), acked);
            self.cwnd = sanitize(cwnd as f64, self.cwnd);
            acked = rest;
        }
        if acked > 0 {
            self.congestion_avoidance(acked as f64, now);
        }
    }

    fn on_congestion_event(&mut self, _in_flight: u32, _now: Instant) {
        self.fresh = false;
        self.in_loss = true;
        self.reduce();
        self.cwnd = f64::from(self.ssthresh);
    }

    fn on_rto(&mut self, _in_flight: u32, _now: Instant) {
        self.fresh = false;
        if !self.in_loss {
            self.reduce();
        }
        self.in_loss = true;
        // RFC 9438 §4.8: the first congestion avoidance stage after a timeout starts the
        // curve at its own window (K = 0, W_max = cwnd_epoch), as Linux `bictcp_reset` does.
        self.w_max = 0.0;
        self.epoch = None;
        self.app_limited_since = None;
        self.cwnd = f64::from(self.mss);
    }

    fn set_mss(&mut self, mss: u32) {
        self.mss = clamp_mss(mss);
        if self.fresh {
            self.cwnd = f64::from(initial_window(self.mss));
        } else {
            self.cwnd = self.cwnd.max(f64::from(self.mss));
        }
    }

    fn on_idle_restart(&mut self, _now: Instant) {
        let cwnd = self.cwnd as u64;
        self.ssthresh = self.ssthresh.max(clamp_cwnd(cwnd * 3 / 4));
        self.cwnd = self.cwnd.min(f64::from(initial_window(self.mss)));
        self.epoch = None;
        self.app_limited_since = None;
    }

    fn exit_slow_start(&mut self) {
        let cwnd = (self.cwnd as u32).max(2 * self.mss);
        self.ssthresh = self.ssthresh.min(cwnd);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSS: u32 = 1000;

    fn both(mss: u32) -> [Box<dyn CongestionControl>; 2] {
        [
            new_cc(CcAlgorithm::NewReno, mss),
            new_cc(CcAlgorithm::Cubic, mss),
        ]
    }

    /// One round trip of a cwnd-limited sender: the whole window is acknowledged in ACKs of
    /// `ack_bytes` spread evenly over `rtt`. Returns the end of the round.
    fn round(
        cc: &mut dyn CongestionControl,
        start: Instant,
        rtt: Duration,
        ack_bytes: u32,
    ) -> Instant {
        let window = cc.cwnd();
        let acks = (window / ack_bytes).max(1);
        for i in 1..=acks {
            let t = start + rtt * i / acks;
            cc.on_ack(ack_bytes, Some(rtt), window, false, t);
        }
        start + rtt
    }

    /// A CUBIC flow at `w` segments that has just taken a congestion event.
    fn cubic_after_loss(w: u32, now: Instant) -> Cubic {
        let mut c = Cubic::new(MSS);
        c.fresh = false;
        c.cwnd = f64::from(w * MSS);
        c.on_congestion_event(w * MSS, now);
        c
    }

    fn segs(cc: &dyn CongestionControl) -> f64 {
        f64::from(cc.cwnd()) / f64::from(MSS)
    }

    #[test]
    fn initial_window_follows_rfc6928() {
        assert_eq!(initial_window(1460), 14_600);
        assert_eq!(initial_window(536), 5_360);
        assert_eq!(initial_window(1000), 10_000);
        // Jumbo MSS: two segments, more than 14600 bytes.
        assert_eq!(initial_window(9000), 18_000);
        assert_eq!(initial_window(0), 10);
        for cc in both(1460) {
            assert_eq!(cc.cwnd(), 14_600);
            assert_eq!(cc.ssthresh(), u32::MAX);
        }
    }

    #[test]
    fn new_cc_builds_the_requested_algorithm_and_cubic_is_default() {
        assert_eq!(CcAlgorithm::default(), CcAlgorithm::Cubic);
        assert_eq!(
            new_cc(CcAlgorithm::default(), MSS).algorithm(),
            CcAlgorithm::Cubic
        );
        assert_eq!(
            new_cc(CcAlgorithm::NewReno, MSS).algorithm(),
            CcAlgorithm::NewReno
        );
        assert_eq!(CcAlgorithm::Cubic.to_string(), "cubic");
        assert_eq!(CcAlgorithm::NewReno.to_string(), "reno");
    }

    #[test]
    fn slow_start_doubles_per_rtt() {
        let rtt = Duration::from_millis(50);
        // Per-segment ACKs and delayed ACKs (2 segments each) both double the window.
        for ack_bytes in [MSS, 2 * MSS] {
            for mut cc in both(MSS) {
                let mut now = Instant::from_secs(1);
                let mut expect = cc.cwnd();
                for _ in 0..6 {
                    now = round(cc.as_mut(), now, rtt, ack_bytes);
                    expect *= 2;
                    assert_eq!(
                        cc.cwnd(),
                        expect,
                        "{:?} acks of {ack_bytes}",
                        cc.algorithm()
                    );
                }
            }
        }
    }

    #[test]
    fn slow_start_counts_every_byte_a_stretch_ack_covers() {
        // One ACK for a GRO super-packet of 30 segments grows the window by 30 MSS, as
        // Linux's `tcp_slow_start` does (RFC 3465's L = 2 would give 2).
        for mut cc in both(MSS) {
            let iw = cc.cwnd();
            cc.on_ack(30 * MSS, None, iw, false, Instant::from_secs(1));
            assert_eq!(cc.cwnd(), iw + 30 * MSS, "{:?}", cc.algorithm());
            cc.on_ack(MSS / 2, None, iw, false, Instant::from_secs(1));
            assert_eq!(cc.cwnd(), iw + 30 * MSS + MSS / 2);
        }
    }

    #[test]
    fn slow_start_stops_at_ssthresh() {
        let mut r = NewReno::new(MSS);
        r.on_congestion_event(30 * MSS, Instant::ZERO);
        r.on_rto(30 * MSS, Instant::ZERO);
        assert_eq!(r.ssthresh(), 15 * MSS);
        assert_eq!(r.cwnd(), MSS);
        let mut now = Instant::from_secs(1);
        for _ in 0..4 {
            now = round(&mut r, now, Duration::from_millis(10), MSS);
        }
        // 1 → 2 → 4 → 8 → 15 (capped), then congestion avoidance.
        assert_eq!(r.cwnd(), 15 * MSS);
        // One ACK straddling ssthresh: the part above it counts toward congestion avoidance.
        let mut r = NewReno::new(MSS);
        r.ssthresh = 11 * MSS;
        r.on_ack(2 * MSS, None, 10 * MSS, false, now);
        assert_eq!(r.cwnd(), 11 * MSS);
        assert_eq!(r.bytes_acked, u64::from(MSS));
    }

    #[test]
    fn newreno_congestion_avoidance_adds_one_mss_per_rtt() {
        let mut r = NewReno::new(MSS);
        r.on_congestion_event(40 * MSS, Instant::ZERO);
        assert_eq!(r.cwnd(), 20 * MSS);
        let mut now = Instant::from_secs(1);
        for i in 1..=10 {
            now = round(&mut r, now, Duration::from_millis(20), MSS);
            assert_eq!(r.cwnd(), (20 + i) * MSS);
        }
        // Delayed ACKs: still one MSS per window acknowledged.
        for i in 1..=5 {
            now = round(&mut r, now, Duration::from_millis(20), 2 * MSS);
            assert!(r.cwnd().abs_diff((30 + i) * MSS) <= MSS, "{}", r.cwnd());
        }
    }

    #[test]
    fn newreno_congestion_event_halves_the_flight_with_a_two_segment_floor() {
        let mut r = NewReno::new(MSS);
        r.on_congestion_event(50 * MSS, Instant::ZERO);
        assert_eq!((r.ssthresh(), r.cwnd()), (25 * MSS, 25 * MSS));
        r.on_ack(MSS, None, 25 * MSS, false, Instant::ZERO);
        r.on_congestion_event(3 * MSS, Instant::ZERO);
        assert_eq!((r.ssthresh(), r.cwnd()), (2 * MSS, 2 * MSS));
    }

    #[test]
    fn app_limited_acks_do_not_grow_cwnd() {
        let rtt = Duration::from_millis(10);
        for mut cc in both(MSS) {
            // Slow start.
            let iw = cc.cwnd();
            for i in 0..50 {
                cc.on_ack(MSS, Some(rtt), 2 * MSS, true, Instant::from_millis(i));
            }
            assert_eq!(cc.cwnd(), iw, "{:?} slow start", cc.algorithm());
            // Congestion avoidance.
            cc.on_congestion_event(40 * MSS, Instant::from_secs(1));
            let w = cc.cwnd();
            for i in 0..1_000 {
                cc.on_ack(
                    MSS,
                    Some(rtt),
                    2 * MSS,
                    true,
                    Instant::from_millis(1_000 + i),
                );
            }
            assert_eq!(cc.cwnd(), w, "{:?} congestion avoidance", cc.algorithm());
        }
    }

    #[test]
    fn rto_sets_a_loss_window_of_one_mss() {
        for mut cc in both(MSS) {
            let mut now = Instant::from_secs(1);
            for _ in 0..3 {
                now = round(cc.as_mut(), now, Duration::from_millis(10), MSS);
            }
            let w = cc.cwnd();
            assert_eq!(w, 80 * MSS);
            cc.on_rto(w, now);
            assert_eq!(cc.cwnd(), MSS, "{:?}", cc.algorithm());
            let expect = match cc.algorithm() {
                CcAlgorithm::NewReno => 40 * MSS,
                CcAlgorithm::Cubic => 56 * MSS,
            };
            assert_eq!(cc.ssthresh(), expect, "{:?}", cc.algorithm());
            // Slow start back up from the loss window.
            now = round(cc.as_mut(), now, Duration::from_millis(10), MSS);
            assert_eq!(cc.cwnd(), 2 * MSS);
        }
    }

    #[test]
    fn repeated_rto_holds_ssthresh() {
        for mut cc in both(MSS) {
            let now = Instant::from_secs(1);
            cc.on_rto(40 * MSS, now);
            let ss = cc.ssthresh();
            // The same segment times out again: no ACK came in between.
            cc.on_rto(MSS, now + Duration::from_secs(1));
            cc.on_rto(MSS, now + Duration::from_secs(3));
            assert_eq!(cc.ssthresh(), ss, "{:?}", cc.algorithm());
            assert_eq!(cc.cwnd(), MSS);
            // After progress, a new timeout is a new episode.
            cc.on_ack(MSS, None, MSS, false, now + Duration::from_secs(4));
            cc.on_rto(2 * MSS, now + Duration::from_secs(5));
            assert_eq!(cc.ssthresh(), 2 * MSS, "{:?}", cc.algorithm());
        }
    }

    #[test]
    fn cubic_k_matches_rfc9438() {
        // W_max = 100 segments, cwnd_epoch = 70: K = cbrt(30 / 0.4) = cbrt(75).
        assert!((cubic_k(100.0, 70.0) - 4.217_163).abs() < 1e-5);
        assert_eq!(cubic_k(50.0, 60.0), 0.0);
        let c = cubic_after_loss(100, Instant::ZERO);
        assert_eq!(c.w_max, 100_000.0);
        assert_eq!(c.cwnd(), 70 * MSS);
        assert_eq!(c.ssthresh(), 70 * MSS);
        let epoch = c.start_epoch(Instant::from_secs(1));
        assert!((epoch.k - 75f64.cbrt()).abs() < 1e-9);
        assert_eq!(epoch.origin, 100_000.0);
        assert_eq!(epoch.w_est, 70_000.0);
    }

    #[test]
    fn cubic_regrows_concave_to_w_max_at_k_then_convex() {
        // A long RTT keeps the Reno estimate (α ≈ 0.53 segment per RTT) below the curve.
        let rtt = Duration::from_millis(200);
        let t0 = Instant::from_secs(10);
        let mut c = cubic_after_loss(100, t0);
        assert_eq!(c.cwnd(), 70 * MSS);
        let k = 75f64.cbrt();
        let w_cubic = |t: f64| 100.0 + 0.4 * (t - k).powi(3);
        let mut now = t0;
        let mut growth = Vec::new();
        let mut at_k = None;
        for _ in 0..40 {
            let before = segs(&c);
            now = round(&mut c, now, rtt, MSS);
            growth.push(segs(&c) - before);
            let t = now.saturating_duration_since(t0).as_secs_f64();
            if at_k.is_none() && t >= k {
                at_k = Some(segs(&c));
            }
            if t < k - 0.2 {
                assert!(segs(&c) < 100.0, "overshot W_max before K at t={t}");
            }
            // The window tracks the curve: between W_cubic(t) and W_cubic(t + RTT).
            assert!(
                segs(&c) > w_cubic(t) - 1.0 && segs(&c) < w_cubic(t + 0.2) + 1.0,
                "t={t}: {} segments",
                segs(&c)
            );
        }
        let at_k = at_k.unwrap_or_default();
        assert!((at_k - 100.0).abs() < 1.0, "cwnd at K: {at_k} segments");
        // Concave: the growth per RTT shrinks on the way to the plateau ...
        assert!(growth[1] > growth[6] && growth[6] > growth[12] && growth[12] > growth[18]);
        // ... and convex after it: the growth per RTT rises again, past W_max.
        assert!(growth[24] < growth[30] && growth[30] < growth[39]);
        assert!(segs(&c) > 120.0, "{}", segs(&c));
    }

    #[test]
    fn cubic_first_avoidance_after_rto_starts_the_curve_at_its_own_window() {
        // RFC 9438 §4.8: in the first congestion avoidance stage after a timeout, K = 0 and
        // W_max (and W_est) are the window at the start of that stage — not the pre-timeout
        // window, which would make the flow race concavely back towards it.
        let rtt = Duration::from_millis(100);
        let t0 = Instant::from_secs(10);
        let mut c = Cubic::new(MSS);
        c.fresh = false;
        c.cwnd = f64::from(100 * MSS);
        c.on_rto(100 * MSS, t0);
        assert_eq!((c.cwnd(), c.ssthresh()), (MSS, 70 * MSS));
        let mut now = t0;
        while c.cwnd() < c.ssthresh() {
            now = round(&mut c, now, rtt, MSS);
        }
        // The ACK that reached ssthresh opened the epoch with cwnd_epoch = 70 segments.
        let e = c.epoch.expect("congestion avoidance started");
        assert_eq!(e.k, 0.0, "K after a timeout");
        assert!((e.origin - 70_000.0).abs() < 1_000.0, "W_max {}", e.origin);
        // One second on: W_cubic(t) = 70 + 0.4·t³ ≈ 70.5 segments, the Reno-friendly
        // estimate ≈ 70 + 0.53·10 — nowhere near the 88 of a curve aimed at the old 100.
        for _ in 0..10 {
            now = round(&mut c, now, rtt, MSS);
        }
        assert!(
            segs(&c) < 77.0,
            "{} segments 1 s after the timeout",
            segs(&c)
        );
    }

    #[test]
    fn cubic_fast_convergence_lowers_w_max() {
        let mut c = cubic_after_loss(100, Instant::ZERO);
        assert_eq!(c.w_max, 100_000.0);
        // Loss again before regaining the old maximum: W_max = cwnd·(1 + β)/2.
        c.cwnd = 80_000.0;
        c.on_congestion_event(80 * MSS, Instant::from_secs(1));
        assert!((c.w_max - 68_000.0).abs() < 1e-6);
        assert_eq!(c.cwnd(), 56 * MSS);
        // The next epoch's K is shorter than without fast convergence.
        let k = c.start_epoch(Instant::from_secs(2)).k;
        assert!((k - (12.0f64 / 0.4).cbrt()).abs() < 1e-9);
        assert!(k < (24.0f64 / 0.4).cbrt());
        // Loss above the old maximum: W_max is simply the window.
        c.cwnd = 90_000.0;
        c.on_congestion_event(90 * MSS, Instant::from_secs(3));
        assert_eq!(c.w_max, 90_000.0);
        assert_eq!(c.cwnd(), 63 * MSS);
    }

    #[test]
    fn cubic_reno_friendly_region_dominates_at_short_rtt() {
        // 20 segments at 1 ms: K ≈ 2.47 s is thousands of RTTs, Reno is faster.
        let rtt = Duration::from_millis(1);
        let t0 = Instant::from_secs(10);
        let mut c = cubic_after_loss(20, t0);
        assert_eq!(c.cwnd(), 14 * MSS);
        let mut now = t0;
        for _ in 0..10 {
            now = round(&mut c, now, rtt, MSS);
        }
        // α_cubic ≈ 0.53 segments per RTT below the previous window.
        let first = segs(&c) - 14.0;
        assert!((first - 10.0 * CUBIC_ALPHA).abs() < 0.6, "{first}");
        // Past cwnd_prior, one segment per RTT like Reno.
        for _ in 0..5 {
            now = round(&mut c, now, rtt, MSS);
        }
        let before = segs(&c);
        for _ in 0..20 {
            now = round(&mut c, now, rtt, MSS);
        }
        let later = segs(&c) - before;
        assert!((later - 20.0).abs() < 1.5, "{later}");
        // Far above the cubic curve at this time.
        let t = now.saturating_duration_since(t0).as_secs_f64();
        let w_cubic = 20.0 + 0.4 * (t - 15f64.cbrt()).powi(3);
        assert!(segs(&c) > w_cubic + 20.0);
    }

    #[test]
    fn cubic_app_limited_period_stops_the_curve_clock() {
        let rtt = Duration::from_millis(100);
        let t0 = Instant::from_secs(10);
        let mut paused = cubic_after_loss(100, t0);
        let mut steady = cubic_after_loss(100, t0);
        let (mut a, mut b) = (t0, t0);
        for _ in 0..5 {
            a = round(&mut paused, a, rtt, MSS);
            b = round(&mut steady, b, rtt, MSS);
        }
        // Three seconds with too little data to fill the window.
        let w = paused.cwnd();
        for i in 0..30 {
            paused.on_ack(MSS, Some(rtt), MSS, true, a + rtt * i);
        }
        assert_eq!(paused.cwnd(), w);
        a += Duration::from_secs(3);
        for _ in 0..10 {
            a = round(&mut paused, a, rtt, MSS);
            b = round(&mut steady, b, rtt, MSS);
        }
        // The pause neither advanced the curve nor changed the outcome.
        assert!(
            (segs(&paused) - segs(&steady)).abs() < 0.5,
            "{} vs {}",
            segs(&paused),
            segs(&steady)
        );
    }

    #[test]
    fn idle_restart_caps_cwnd_at_the_initial_window() {
        for mut cc in both(MSS) {
            let mut now = Instant::from_secs(1);
            for _ in 0..3 {
                now = round(cc.as_mut(), now, Duration::from_millis(10), MSS);
            }
            cc.on_congestion_event(80 * MSS, now);
            let w = cc.cwnd();
            cc.on_idle_restart(now + Duration::from_secs(5));
            assert_eq!(cc.cwnd(), 10 * MSS, "{:?}", cc.algorithm());
            // ssthresh (here already the old window, at least ¾ of it) is kept.
            assert_eq!(cc.ssthresh(), w);
            // A window already below the restart window stays.
            cc.on_rto(w, now);
            cc.on_idle_restart(now + Duration::from_secs(10));
            assert_eq!(cc.cwnd(), MSS);
        }
        // Far above ssthresh: ssthresh rises to ¾ of the window so slow start leads back.
        let mut r = NewReno::new(MSS);
        (r.cwnd, r.ssthresh) = (80 * MSS, 10 * MSS);
        r.on_idle_restart(Instant::from_secs(5));
        assert_eq!((r.cwnd(), r.ssthresh()), (10 * MSS, 60 * MSS));
        let mut c = cubic_after_loss(100, Instant::ZERO);
        round(&mut c, Instant::ZERO, Duration::from_millis(10), MSS);
        assert!(c.epoch.is_some());
        c.cwnd = f64::from(80 * MSS);
        c.on_idle_restart(Instant::from_secs(5));
        assert!(c.epoch.is_none());
        assert_eq!((c.cwnd(), c.ssthresh()), (10 * MSS, 70 * MSS));
    }

    #[test]
    fn set_mss_picks_the_initial_window_until_data_is_acked() {
        for mut cc in both(536) {
            assert_eq!(cc.cwnd(), 5_360);
            cc.set_mss(1460);
            assert_eq!(cc.cwnd(), 14_600);
            cc.on_ack(1460, None, 14_600, false, Instant::ZERO);
            assert_eq!(cc.cwnd(), 16_060);
            // Later changes keep the window in bytes.
            cc.set_mss(1200);
            assert_eq!(cc.cwnd(), 16_060);
            cc.on_rto(16_060, Instant::ZERO);
            assert_eq!(cc.cwnd(), 1200);
        }
    }

    #[test]
    fn extreme_inputs_neither_panic_nor_leave_bounds() {
        let rtts = [None, Some(Duration::ZERO), Some(Duration::MAX)];
        for mss in [0, 1, 65_535, u32::MAX] {
            for mut cc in both(mss) {
                let m = clamp_mss(mss);
                assert!(cc.cwnd() >= 1);
                for (i, rtt) in rtts.into_iter().enumerate() {
                    let now = if i == 1 { Instant::MAX } else { Instant::ZERO };
                    cc.on_ack(u32::MAX, rtt, u32::MAX, false, now);
                    for _ in 0..100 {
                        cc.on_ack(u32::MAX, rtt, u32::MAX, false, now);
                    }
                    assert!(cc.cwnd() <= MAX_CWND && cc.cwnd() >= m);
                    cc.on_congestion_event(u32::MAX, now);
                    assert!(cc.cwnd() >= 2 * m && cc.ssthresh() >= 2 * m);
                    assert!(cc.cwnd() <= MAX_CWND);
                    cc.on_ack(u32::MAX, rtt, 0, false, Instant::MAX);
                    // Time running backwards.
                    cc.on_ack(u32::MAX, rtt, 0, false, Instant::ZERO);
                    assert!(cc.cwnd() <= MAX_CWND);
                    cc.on_rto(0, Instant::ZERO);
                    assert_eq!(cc.cwnd(), m);
                    cc.on_congestion_event(0, Instant::ZERO);
                    assert!(cc.cwnd() >= 2 * m);
                    cc.on_idle_restart(Instant::MAX);
                    cc.set_mss(u32::MAX);
                    assert!(cc.cwnd() >= MAX_MSS);
                    cc.set_mss(0);
                    cc.set_mss(mss);
                    cc.on_ack(0, rtt, 0, true, Instant::ZERO);
                }
            }
        }
    }
}
