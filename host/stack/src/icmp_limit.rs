//! ICMP error rate limiting (Linux `icmpv4_xrlim_allow`, `icmp_global_allow`,
//! `inet_peer_xrlim_allow`).
//!
//! Before the stack sends an ICMP error it asks [`IcmpRateLimiter::allow`]. Two token buckets
//! stand between a flood of bad packets and a flood of ICMP errors, as in Linux:
//!
//! 1. a global bucket: `msgs_per_sec` messages per second (`icmp_msgs_per_sec`, 1000) with a
//!    burst of `msgs_burst` (`icmp_msgs_burst`, 50);
//! 2. a bucket per destination: one message per `ratelimit` (`icmp_ratelimit`, 1000 ms) with a
//!    burst of 6 (`XRLIM_BURST_FACTOR`). A destination not seen before starts with a full
//!    bucket. `ratelimit` = 0 turns this bucket off.
//!
//! Only types in `ratemask` are limited (`icmp_ratemask`, default `0x1818`: destination
//! unreachable, source quench, time exceeded, parameter problem), so echo replies are not.
//! Fragmentation needed (type 3 code 4) is never limited: path MTU discovery depends on it.
//!
//! Sans-IO: time is the `now` argument; idle destinations are forgotten when the table is full
//! (an idle destination's bucket is full, so forgetting it changes nothing).

use crate::time::Instant;
use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::time::Duration;

/// ICMP type "destination unreachable".
const DEST_UNREACH: u8 = 3;
/// Code "fragmentation needed and DF set".
const FRAG_NEEDED: u8 = 4;
const NANOS_PER_SEC: u128 = 1_000_000_000;

/// Tunables, named after `/proc/sys/net/ipv4/icmp_*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IcmpLimitParams {
    /// Minimum spacing of errors to one destination in the long run (`icmp_ratelimit`, 1 s);
    /// zero disables the per-destination limit.
    pub ratelimit: Duration,
    /// Per-destination burst, in messages (Linux `XRLIM_BURST_FACTOR`, 6).
    pub burst_factor: u32,
    /// Global long-run rate (`icmp_msgs_per_sec`, 1000).
    pub msgs_per_sec: u32,
    /// Global burst (`icmp_msgs_burst`, 50).
    pub msgs_burst: u32,
    /// Bit `t` set: ICMP type `t` is limited (`icmp_ratemask`, `0x1818`).
    pub ratemask: u32,
    /// Destinations tracked at most.
    pub max_peers: usize,
}

impl Default for IcmpLimitParams {
    fn default() -> Self {
        IcmpLimitParams {
            ratelimit: Duration::from_millis(1000),
            burst_factor: 6,
            msgs_per_sec: 1000,
            msgs_burst: 50,
            ratemask: 0x1818,
            max_peers: 4096,
        }
    }
}

/// Counters (the `IcmpOutRateLimit*` of `/proc/net/snmp`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IcmpLimitStats {
    /// Messages allowed by both buckets.
    pub allowed: u64,
    /// Messages of types outside `ratemask` (or fragmentation needed): allowed unchecked.
    pub exempt: u64,
    /// Messages refused by the global bucket (`IcmpOutRateLimitGlobal`).
    pub limited_global: u64,
    /// Messages refused by the destination's bucket (`IcmpOutRateLimitHost`).
    pub limited_host: u64,
}

#[derive(Debug, Clone, Copy)]
struct Peer {
    /// Credit in nanoseconds of `ratelimit`.
    tokens: u128,
    last: Instant,
}

/// The ICMP error rate limiter of one stack.
#[derive(Debug)]
pub struct IcmpRateLimiter {
    params: IcmpLimitParams,
    /// Global credit in billionths of a message, so refills need no rounding.
    global_credit: u128,
    global_stamp: Option<Instant>,
    peers: HashMap<Ipv4Addr, Peer>,
    stats: IcmpLimitStats,
}

impl Default for IcmpRateLimiter {
    fn default() -> Self {
        IcmpRateLimiter::new(IcmpLimitParams::default())
    }
}

impl IcmpRateLimiter {
    /// A limiter with full buckets.
    pub fn new(params: IcmpLimitParams) -> Self {
        let global_credit = u128::from(params.msgs_burst) * NANOS_PER_SEC;
        IcmpRateLimiter {
            params,
            global_credit,
            global_stamp: None,
            peers: HashMap::new(),
            stats: IcmpLimitStats::default(),
        }
    }

    /// Counters.
    pub fn stats(&self) -> &IcmpLimitStats {
        &self.stats
    }

    /// Destinations currently tracked.
    pub fn peers(&self) -> usize {
        self.peers.len()
    }

    /// May an ICMP message of `icmp_type`/`code` be sent to `dst` now? Consumes a token when
    /// it answers yes.
    pub fn allow(&mut self, dst: Ipv4Addr, icmp_type: u8, code: u8, now: Instant) -> bool {
        let limited_type = icmp_type < 32 && self.params.ratemask & (1u32 << icmp_type) != 0;
        if !limited_type || (icmp_type == DEST_UNREACH && code == FRAG_NEEDED) {
            self.stats.exempt += 1;
            return true;
        }
        if !self.global_allow(now) {
            self.stats.limited_global += 1;
            return false;
        }
        if !self.peer_allow(dst, now) {
            self.stats.limited_host += 1;
            // Linux takes the global token before the peer check; give it back so a
            // destination that is refused anyway does not starve the others.
            self.global_credit = (self.global_credit + NANOS_PER_SEC)
                .min(u128::from(self.params.msgs_burst) * NANOS_PER_SEC);
            return false;
        }
        self.stats.allowed += 1;
        true
    }

    fn global_allow(&mut self, now: Instant) -> bool {
        let cap = u128::from(self.params.msgs_burst) * NANOS_PER_SEC;
        if let Some(stamp) = self.global_stamp {
            // Like Linux, never credit more than a second at once.
            let delta = (now - stamp).min(Duration::from_secs(1)).as_nanos();
            self.global_credit =
                (self.global_credit + delta * u128::from(self.params.msgs_per_sec)).min(cap);
        }
        self.global_stamp = Some(now);
        if self.global_credit >= NANOS_PER_SEC {
            self.global_credit -= NANOS_PER_SEC;
            true
        } else {
            false
        }
    }

    fn peer_allow(&mut self, dst: Ipv4Addr, now: Instant) -> bool {
        let timeout = self.params.ratelimit.as_nanos();
        if timeout == 0 {
            return true;
        }
        let cap = timeout * u128::from(self.params.burst_factor.max(1));
        if !self.peers.contains_key(&dst) && self.peers.len() >= self.params.max_peers {
            self.forget_idle(now, cap);
            if self.peers.len() >= self.params.max_peers {
                // Every tracked destination is busy: refusing is the safe answer.
                return false;
            }
        }
        let peer = self.peers.entry(dst).or_insert(Peer {
            tokens: cap,
            last: now,
        });
        peer.tokens = (peer.tokens + (now - peer.last).as_nanos()).min(cap);
        peer.last = now;
        if peer.tokens >= timeout {
            peer.tokens -= timeout;
            true
        } else {
            false
        }
    }

    /// Drops destinations whose bucket has refilled: they behave exactly like new ones.
    fn forget_idle(&mut self, now: Instant, cap: u128) {
        self.peers
            .retain(|_, p| p.tokens + (now - p.last).as_nanos() < cap);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DST: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
    const UNREACH: u8 = 3;
    const PORT_UNREACH: u8 = 3;
    const TIME_EXCEEDED: u8 = 11;
    const ECHO_REPLY: u8 = 0;

    fn ms(m: u64) -> Instant {
        Instant::from_millis(m)
    }

    fn count(l: &mut IcmpRateLimiter, dst: Ipv4Addr, n: usize, at: Instant) -> usize {
        (0..n)
            .filter(|_| l.allow(dst, UNREACH, PORT_UNREACH, at))
            .count()
    }

    #[test]
    fn one_destination_gets_a_burst_of_6_then_one_per_second() {
        let mut l = IcmpRateLimiter::default();
        assert_eq!(count(&mut l, DST, 20, ms(0)), 6);
        assert_eq!(count(&mut l, DST, 5, ms(500)), 0);
        assert_eq!(count(&mut l, DST, 5, ms(1000)), 1);
        assert_eq!(count(&mut l, DST, 5, ms(2000)), 1);
        // Over 10 s of steady flooding, about one per second.
        let sent: usize = (3..13).map(|s| count(&mut l, DST, 10, ms(s * 1000))).sum();
        assert_eq!(sent, 10);
        assert_eq!(l.stats().limited_host, 14 + 5 + 4 + 4 + 90);
    }

    #[test]
    fn idle_destination_refills_up_to_the_burst_only() {
        let mut l = IcmpRateLimiter::default();
        assert_eq!(count(&mut l, DST, 6, ms(0)), 6);
        assert_eq!(count(&mut l, DST, 20, ms(60_000)), 6);
    }

    #[test]
    fn destinations_are_limited_independently() {
        let mut l = IcmpRateLimiter::default();
        let other = Ipv4Addr::new(192, 0, 2, 2);
        assert_eq!(count(&mut l, DST, 10, ms(0)), 6);
        assert_eq!(count(&mut l, other, 10, ms(0)), 6);
        assert_eq!(l.peers(), 2);
    }

    #[test]
    fn echo_replies_and_frag_needed_are_not_limited() {
        let mut l = IcmpRateLimiter::default();
        for _ in 0..100 {
            assert!(l.allow(DST, ECHO_REPLY, 0, ms(0)));
            assert!(l.allow(DST, UNREACH, FRAG_NEEDED, ms(0)));
        }
        assert_eq!(l.stats().exempt, 200);
        // And they do not use up the destination's error budget.
        assert_eq!(count(&mut l, DST, 10, ms(0)), 6);
    }

    #[test]
    fn time_exceeded_shares_the_destination_budget() {
        let mut l = IcmpRateLimiter::default();
        assert_eq!(count(&mut l, DST, 3, ms(0)), 3);
        let te = (0..10)
            .filter(|_| l.allow(DST, TIME_EXCEEDED, 0, ms(0)))
            .count();
        assert_eq!(te, 3);
    }

    #[test]
    fn global_limit_caps_errors_to_many_destinations() {
        let mut l = IcmpRateLimiter::default();
        let dsts: Vec<Ipv4Addr> = (0..200u32)
            .map(|i| Ipv4Addr::from(0x0a00_0000 + i))
            .collect();
        let first = dsts
            .iter()
            .filter(|d| l.allow(**d, UNREACH, 1, ms(0)))
            .count();
        assert_eq!(first, 50, "the global burst");
        assert_eq!(l.stats().limited_global, 150);
        // 1000 per second: 10 ms later, 10 more.
        let later = dsts
            .iter()
            .filter(|d| l.allow(**d, UNREACH, 1, ms(10)))
            .count();
        assert_eq!(later, 10);
    }

    #[test]
    fn per_destination_refusal_does_not_spend_global_credit() {
        let mut l = IcmpRateLimiter::new(IcmpLimitParams {
            msgs_burst: 10,
            msgs_per_sec: 0,
            ..IcmpLimitParams::default()
        });
        assert_eq!(count(&mut l, DST, 100, ms(0)), 6);
        let other = Ipv4Addr::new(192, 0, 2, 9);
        assert_eq!(
            count(&mut l, other, 100, ms(0)),
            4,
            "10 global minus the 6 used"
        );
    }

    #[test]
    fn zero_ratelimit_disables_the_per_destination_bucket() {
        let mut l = IcmpRateLimiter::new(IcmpLimitParams {
            ratelimit: Duration::ZERO,
            ..IcmpLimitParams::default()
        });
        assert_eq!(count(&mut l, DST, 40, ms(0)), 40);
        assert_eq!(l.peers(), 0);
    }

    #[test]
    fn peer_table_is_bounded_and_forgets_idle_destinations() {
        let mut l = IcmpRateLimiter::new(IcmpLimitParams {
            max_peers: 4,
            ..IcmpLimitParams::default()
        });
        for i in 0..4u32 {
            assert!(l.allow(Ipv4Addr::from(i + 1), UNREACH, 1, ms(0)));
        }
        // All four are mid-burst: a fifth destination is refused rather than tracked.
        assert!(!l.allow(Ipv4Addr::from(99), UNREACH, 1, ms(100)));
        assert_eq!(l.peers(), 4);
        // Once they have refilled, they are forgotten and the newcomer fits.
        assert!(l.allow(Ipv4Addr::from(99), UNREACH, 1, ms(10_000)));
        assert!(l.peers() <= 4);
    }
}
