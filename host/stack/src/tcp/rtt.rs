//! Retransmission timeout per RFC 6298: SRTT/RTTVAR smoothing (α = 1/8, β = 1/4),
//! RTO = SRTT + max(G, 4·RTTVAR) bounded by [min, max], exponential backoff on expiry.
//! Karn's rule (no samples from retransmitted segments unless timestamps disambiguate them)
//! is the caller's: it only calls [`RttEstimator::sample`] with unambiguous measurements.

use std::time::Duration;

/// RTO bounds (Linux: `TCP_TIMEOUT_INIT` 1 s, `TCP_RTO_MIN` 200 ms, `TCP_RTO_MAX` 120 s).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtoParams {
    /// RTO before the first measurement (RFC 6298 §2.1: 1 s).
    pub initial: Duration,
    /// Lower bound.
    pub min: Duration,
    /// Upper bound, backoff included.
    pub max: Duration,
    /// Clock granularity G.
    pub granularity: Duration,
}

impl Default for RtoParams {
    fn default() -> Self {
        RtoParams {
            initial: Duration::from_secs(1),
            min: Duration::from_millis(200),
            max: Duration::from_secs(120),
            granularity: Duration::from_millis(1),
        }
    }
}

/// The RFC 6298 estimator with its backoff count.
#[derive(Debug, Clone)]
pub struct RttEstimator {
    params: RtoParams,
    srtt: Option<Duration>,
    rttvar: Duration,
    rto: Duration,
    min_rtt: Option<Duration>,
    backoff: u32,
}

impl RttEstimator {
    /// An estimator with no measurement yet.
    pub fn new(params: RtoParams) -> Self {
        RttEstimator {
            rto: params.initial,
            params,
            srtt: None,
            rttvar: Duration::ZERO,
            min_rtt: None,
            backoff: 0,
        }
    }

    /// Takes one round-trip measurement (RFC 6298 §2.2/2.3). A new sample also ends any
    /// backoff: the path answers again.
    pub fn sample(&mut self, rtt: Duration) {
        match self.srtt {
            None => {
                self.srtt = Some(rtt);
                self.rttvar = rtt / 2;
            }
            Some(srtt) => {
                let err = srtt.abs_diff(rtt);
                self.rttvar = (self.rttvar * 3 + err) / 4;
                self.srtt = Some((srtt * 7 + rtt) / 8);
            }
        }
        self.min_rtt = Some(self.min_rtt.map_or(rtt, |m| m.min(rtt)));
        let srtt = self.srtt.unwrap_or(rtt);
        let rto = srtt + (self.rttvar * 4).max(self.params.granularity);
        self.rto = rto.clamp(self.params.min, self.params.max);
        self.backoff = 0;
    }

    /// The current timeout, backoff applied, at most `max`.
    pub fn rto(&self) -> Duration {
        let shift = self.backoff.min(16);
        self.rto
            .checked_mul(1 << shift)
            .unwrap_or(self.params.max)
            .min(self.params.max)
    }

    /// Doubles the timeout after an expiry (RFC 6298 §5.5).
    pub fn backoff(&mut self) {
        self.backoff = self.backoff.saturating_add(1);
    }

    /// Takes back one doubling (RFC 6069 §3: the retransmission was lost to a broken route,
    /// not to congestion). Nothing to take back without a backoff.
    pub fn undo_backoff(&mut self) {
        self.backoff = self.backoff.saturating_sub(1);
    }

    /// How many times the timer has backed off since the last sample.
    pub fn backoffs(&self) -> u32 {
        self.backoff
    }

    /// Ends the backoff without a sample (an ACK of new data under Karn's rule).
    pub fn reset_backoff(&mut self) {
        self.backoff = 0;
    }

    /// Smoothed RTT, once measured.
    pub fn srtt(&self) -> Option<Duration> {
        self.srtt
    }

    /// RTT variation.
    pub fn rttvar(&self) -> Duration {
        self.rttvar
    }

    /// Smallest RTT seen.
    pub fn min_rtt(&self) -> Option<Duration> {
        self.min_rtt
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn first_sample_sets_srtt_and_half_variance() {
        let mut e = RttEstimator::new(RtoParams::default());
        assert_eq!(e.rto(), ms(1000));
        e.sample(ms(100));
        assert_eq!(e.srtt(), Some(ms(100)));
        assert_eq!(e.rttvar(), ms(50));
        // 100 + 4 × 50
        assert_eq!(e.rto(), ms(300));
    }

    #[test]
    fn smoothing_follows_rfc6298() {
        let mut e = RttEstimator::new(RtoParams::default());
        e.sample(ms(100));
        e.sample(ms(200));
        // rttvar = 3/4·50 + 1/4·100 = 62.5; srtt = 7/8·100 + 1/8·200 = 112.5
        assert_eq!(e.rttvar(), Duration::from_micros(62_500));
        assert_eq!(e.srtt(), Some(Duration::from_micros(112_500)));
        assert_eq!(e.rto(), Duration::from_micros(362_500));
        assert_eq!(e.min_rtt(), Some(ms(100)));
    }

    #[test]
    fn min_bound_and_backoff_to_max() {
        let mut e = RttEstimator::new(RtoParams::default());
        e.sample(ms(1));
        assert_eq!(e.rto(), ms(200));
        e.backoff();
        assert_eq!(e.rto(), ms(400));
        for _ in 0..40 {
            e.backoff();
        }
        assert_eq!(e.rto(), Duration::from_secs(120));
        e.sample(ms(1));
        assert_eq!(e.backoffs(), 0);
        assert_eq!(e.rto(), ms(200));
    }

    #[test]
    fn undoing_a_backoff_halves_the_timeout_down_to_the_base() {
        let mut e = RttEstimator::new(RtoParams::default());
        e.sample(ms(1));
        for _ in 0..3 {
            e.backoff();
        }
        assert_eq!(e.rto(), ms(1600));
        e.undo_backoff();
        assert_eq!(e.backoffs(), 2);
        assert_eq!(e.rto(), ms(800));
        e.undo_backoff();
        e.undo_backoff();
        e.undo_backoff();
        assert_eq!(e.backoffs(), 0, "never below none");
        assert_eq!(e.rto(), ms(200));
        // Backed off past the cap: one step back is still at the cap.
        for _ in 0..12 {
            e.backoff();
        }
        e.undo_backoff();
        assert_eq!(e.rto(), Duration::from_secs(120));
    }
}
