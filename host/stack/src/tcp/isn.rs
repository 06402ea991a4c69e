//! Initial sequence numbers (RFC 6528), SYN cookies (RFC 4987 §3.6) and TSval offsets
//! (RFC 7323 §7.1), keyed by one secret; the same key seeds IPv4 identification counters
//! and the ephemeral port pickers' hashes and draws (RFC 6056, see `crate::ephemeral`).
//!
//! **ISNs.** RFC 6528 §3: `ISN = M + F(localip, localport, remoteip, remoteport, secretkey)`,
//! with `M` a timer ticking every 4 µs (250 kHz, the RFC 9293 §3.4.1 ISN clock) and `F` a keyed
//! pseudorandom function, here SipHash-2-4 (what Linux `secure_tcp_seq` uses). An off-path
//! attacker cannot guess the ISN of a connection, while successive incarnations of the same
//! 4-tuple still get increasing ISNs, which keeps old duplicates out of a new connection.
//!
//! **SYN cookies.** Under a SYN flood a listener answers without keeping state: the SYN-ACK's
//! ISN encodes what the handshake negotiated, authenticated by a keyed MAC, and the final ACK
//! (acknowledging ISN + 1) gives it back. The 32-bit cookie, before a per-connection offset is
//! added, is laid out as:
//!
//! ```text
//!  31      30..29     28     27..24        23..0
//! [parity][mss index][sack][wscale + 1][ MAC (24 bits) ]
//! ```
//!
//! - *parity*: the low bit of a 64-second time counter (Linux uses 60 s). A cookie is valid
//!   for the counter value it was made in and the next one, so one bit tells which of the two
//!   candidates to check; the MAC covers the whole counter, so a cookie of any other period —
//!   with the same parity or not — fails.
//! - *mss index*: into [`COOKIE_MSS`] (Linux `msstab`): the largest entry not above the MSS
//!   asked for.
//! - *sack*, *wscale + 1* (0 = no window scaling): the options of the SYN.
//! - *MAC*: SipHash-2-4 of the key, the 4-tuple, the client's ISN, the full counter and the
//!   option bits, truncated to 24 bits: a forged ACK is accepted with probability 2⁻²⁴.
//!
//! The whole is then offset by a keyed hash of the 4-tuple and the client's ISN (like Linux's
//! `hash1 + sseq`), so cookies of different connections share no visible structure.
//!
//! The options live in the cookie itself rather than in the low bits of the timestamp value
//! (Linux's choice when timestamps are on), so cookies keep window scaling and SACK even for
//! peers without timestamps. Timestamps need no bit: the listener puts TSopt in the SYN-ACK only
//! if the SYN had it, and the client then sends it on every segment (RFC 7323 §3.2), so the
//! final ACK carrying a TSopt *is* the "timestamps ok" bit.

use core::fmt;
use std::net::{Ipv4Addr, SocketAddrV4};

use siphasher::sip::SipHasher24;

use crate::tcp::seq::Seq;
use crate::time::Instant;

/// MSS values a SYN cookie can carry (Linux `msstab` for IPv4), smallest first. 536 is the
/// MSS every IPv4 host must accept (RFC 9293 §3.7.1); 1460 is Ethernet's.
pub const COOKIE_MSS: [u16; 4] = [536, 1300, 1440, 1460];

/// Length of one cookie period: cookies made in one period are accepted in it and the next.
pub const COOKIE_PERIOD_SECS: u64 = 64;

/// Nanoseconds per tick of the RFC 6528 ISN timer `M`.
const ISN_TICK_NANOS: u64 = 4_000;

/// Domain-separation tags so the uses of the one key never hash the same input.
const TAG_ISN: u8 = 1;
const TAG_COOKIE_OFFSET: u8 = 2;
const TAG_COOKIE_MAC: u8 = 3;
const TAG_TS_OFFSET: u8 = 4;
const TAG_IP_ID: u8 = 5;
const TAG_IP_IDENTS: u8 = 6;
const TAG_PORT_OFFSET: u8 = 7;
const TAG_PORT_RANDOM: u8 = 8;

const PARITY_SHIFT: u32 = 31;
const MSS_SHIFT: u32 = 29;
const SACK_SHIFT: u32 = 28;
const WSCALE_SHIFT: u32 = 24;
const MAC_MASK: u32 = (1 << WSCALE_SHIFT) - 1;
/// The option bits (mss index, sack, wscale) in place.
const OPTS_MASK: u32 = 0x7f << WSCALE_SHIFT;
/// The largest window scale shift (RFC 7323 §2.3); larger offers are taken as 14.
const MAX_WSCALE: u8 = 14;

/// The handshake options a SYN cookie carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CookieOpts {
    /// The peer's MSS: on encoding the MSS asked for, on decoding the [`COOKIE_MSS`] entry
    /// granted (the largest not above the one asked for, at least 536).
    pub mss: u16,
    /// The peer's window scale shift, `None` when the SYN had no window scale option. Shifts
    /// above 14 are encoded as 14 (RFC 7323 §2.3).
    pub wscale: Option<u8>,
    /// The SYN carried SACK-permitted.
    pub sack: bool,
}

/// Keyed generator for ISNs and SYN cookies. The key comes from the caller (the runtime seeds it from OS randomness; tests fix it).
#[derive(Clone)]
pub struct IsnGenerator {
    hasher: SipHasher24,
}

impl fmt::Debug for IsnGenerator {
    /// Leaves the key out: it is the secret that makes ISNs unpredictable.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IsnGenerator").finish_non_exhaustive()
    }
}

/// The 12 bytes naming a connection, in network order: local address and port, remote address
/// and port.
fn tuple_bytes(local: SocketAddrV4, remote: SocketAddrV4) -> [u8; 12] {
    let mut b = [0; 12];
    b[0..4].copy_from_slice(&local.ip().octets());
    b[4..6].copy_from_slice(&local.port().to_be_bytes());
    b[6..10].copy_from_slice(&remote.ip().octets());
    b[10..12].copy_from_slice(&remote.port().to_be_bytes());
    b
}

/// The cookie time counter at `now`.
fn cookie_counter(now: Instant) -> u64 {
    now.as_nanos() / (COOKIE_PERIOD_SECS * 1_000_000_000)
}

/// Index of the largest [`COOKIE_MSS`] entry not above `mss`, 0 if all are.
fn mss_index(mss: u16) -> u32 {
    COOKIE_MSS.iter().rposition(|&m| m <= mss).unwrap_or(0) as u32
}

impl IsnGenerator {
    /// A generator keyed by `key`, which must be secret and random (RFC 6528 §3).
    pub fn new(key: [u8; 16]) -> Self {
        IsnGenerator {
            hasher: SipHasher24::new_with_key(&key),
        }
    }

    /// RFC 6528: ISN = M + F(localip, localport, remoteip, remoteport, secretkey), M a 4 µs timer from `now`.
    pub fn isn(&self, local: SocketAddrV4, remote: SocketAddrV4, now: Instant) -> Seq {
        let mut buf = [0; 13];
        buf[0] = TAG_ISN;
        buf[1..].copy_from_slice(&tuple_bytes(local, remote));
        let f = self.hasher.hash(&buf) as u32;
        // M wraps with the sequence space: truncation is intended.
        let m = (now.as_nanos() / ISN_TICK_NANOS) as u32;
        Seq(m.wrapping_add(f))
    }

    /// The offset added to the millisecond clock for the TSvals of connections between
    /// `local` and `remote` (RFC 7323 §7.1): a keyed hash of the 4-tuple without the ISN
    /// timer, so TSvals do not reveal uptime, differ between connections, and yet run on
    /// across incarnations of one 4-tuple — a new SYN then has a TSval newer than the old
    /// incarnation's, which is what lets a peer in TIME-WAIT take it (RFC 6191). Linux's
    /// `secure_tcp_ts_off` hashes the two addresses alone. Cookie SYN-ACKs and the block a
    /// cookie later creates agree on it.
    pub fn ts_offset(&self, local: SocketAddrV4, remote: SocketAddrV4) -> u32 {
        let mut buf = [0; 13];
        buf[0] = TAG_TS_OFFSET;
        buf[1..].copy_from_slice(&tuple_bytes(local, remote));
        self.hasher.hash(&buf) as u32
    }

    /// Where the IPv4 identification counter of the connection between `local` and `remote`
    /// starts (Linux seeds a connection's `inet_id` at random when it is made): a keyed hash
    /// of the 4-tuple, so that the IDs of one connection say nothing about any other's.
    pub fn ip_id_start(&self, local: SocketAddrV4, remote: SocketAddrV4) -> u16 {
        let mut buf = [0; 13];
        buf[0] = TAG_IP_ID;
        buf[1..].copy_from_slice(&tuple_bytes(local, remote));
        self.hasher.hash(&buf) as u16
    }

    /// A keyed hash of a datagram's source, destination and protocol, for the
    /// identification counters of datagrams no socket numbers (Linux `ip_idents_hashrnd`):
    /// its low bits pick the counter, its high half offsets the value.
    pub fn ip_idents_hash(&self, src: Ipv4Addr, dst: Ipv4Addr, protocol: u8) -> u32 {
        let mut buf = [0; 10];
        buf[0] = TAG_IP_IDENTS;
        buf[1..5].copy_from_slice(&src.octets());
        buf[5..9].copy_from_slice(&dst.octets());
        buf[9] = protocol;
        self.hasher.hash(&buf) as u32
    }

    /// The keyed hash connect's port picker starts from (Linux
    /// `secure_ipv4_port_ephemeral`, RFC 6056 §3.3.4 `F`): of the local address and the
    /// remote address and port, not the local port it is to choose. Its low bits pick the
    /// destination's counter, its high half offsets the start.
    pub fn port_offset(&self, local: Ipv4Addr, remote: SocketAddrV4) -> u64 {
        let mut buf = [0; 11];
        buf[0] = TAG_PORT_OFFSET;
        buf[1..5].copy_from_slice(&local.octets());
        buf[5..9].copy_from_slice(&remote.ip().octets());
        buf[9..11].copy_from_slice(&remote.port().to_be_bytes());
        self.hasher.hash(&buf)
    }

    /// The `n`th number of a keyed pseudorandom sequence, one per `protocol`, for the port
    /// pickers' random draws (Linux draws them from `get_random_u32`): a counter through
    /// SipHash, so a sans-IO stack draws without OS randomness and yet nobody without the
    /// key can tell the next draw from the previous ones.
    pub fn port_random(&self, protocol: u8, n: u64) -> u32 {
        let mut buf = [0; 10];
        buf[0] = TAG_PORT_RANDOM;
        buf[1] = protocol;
        buf[2..10].copy_from_slice(&n.to_be_bytes());
        self.hasher.hash(&buf) as u32
    }

    /// A SYN cookie ISN for a SYN from `remote` to `local` with client ISN `peer_isn` and MSS `mss`
    /// (encoded as an index into [`COOKIE_MSS`], Linux's msstab {536,1300,1440,1460}), plus the
    /// window scale and SACK-permitted of `opts`, all in the cookie itself (layout in the
    /// [module docs](self)). The cookie is valid in this 64-second period and the next.
    pub fn cookie(
        &self,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        peer_isn: Seq,
        opts: CookieOpts,
        now: Instant,
    ) -> Seq {
        let counter = cookie_counter(now);
        let ws = opts.wscale.map_or(0, |w| u32::from(w.min(MAX_WSCALE)) + 1);
        let opt_bits = (mss_index(opts.mss) << MSS_SHIFT)
            | (u32::from(opts.sack) << SACK_SHIFT)
            | (ws << WSCALE_SHIFT);
        let mac = self.cookie_mac(local, remote, peer_isn, counter, opt_bits);
        let plain = ((counter as u32 & 1) << PARITY_SHIFT) | opt_bits | mac;
        Seq(plain.wrapping_add(self.cookie_offset(local, remote, peer_isn)))
    }

    /// Checks the ACK of a cookie SYN-ACK: `ack` is the peer's ACK number (our ISN + 1), `peer_seq` its
    /// sequence (peer_isn + 1). Returns the decoded options or None (bad or expired cookie).
    pub fn check_cookie(
        &self,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        peer_seq: Seq,
        ack: Seq,
        now: Instant,
    ) -> Option<CookieOpts> {
        let peer_isn = peer_seq - 1;
        let plain = (ack - 1)
            .0
            .wrapping_sub(self.cookie_offset(local, remote, peer_isn));
        let parity = u64::from(plain >> PARITY_SHIFT);
        let now_counter = cookie_counter(now);
        // The one counter value of this period or the last with the cookie's parity.
        let counter = if now_counter & 1 == parity {
            now_counter
        } else {
            now_counter.checked_sub(1)?
        };
        let opt_bits = plain & OPTS_MASK;
        let mac = self.cookie_mac(local, remote, peer_isn, counter, opt_bits);
        if plain & MAC_MASK != mac {
            return None;
        }
        let ws = (opt_bits >> WSCALE_SHIFT) & 0xf;
        Some(CookieOpts {
            mss: COOKIE_MSS[(opt_bits >> MSS_SHIFT) as usize & 3],
            // At most 15 - 1: the cast cannot truncate.
            wscale: ws.checked_sub(1).map(|w| w as u8),
            sack: (opt_bits >> SACK_SHIFT) & 1 != 0,
        })
    }

    /// The keyed offset added to every cookie of one connection attempt.
    fn cookie_offset(&self, local: SocketAddrV4, remote: SocketAddrV4, peer_isn: Seq) -> u32 {
        let mut buf = [0; 17];
        buf[0] = TAG_COOKIE_OFFSET;
        buf[1..13].copy_from_slice(&tuple_bytes(local, remote));
        buf[13..17].copy_from_slice(&peer_isn.0.to_be_bytes());
        self.hasher.hash(&buf) as u32
    }

    /// The 24-bit MAC binding a cookie to its connection, period and options.
    fn cookie_mac(
        &self,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        peer_isn: Seq,
        counter: u64,
        opt_bits: u32,
    ) -> u32 {
        let mut buf = [0; 26];
        buf[0] = TAG_COOKIE_MAC;
        buf[1..13].copy_from_slice(&tuple_bytes(local, remote));
        buf[13..17].copy_from_slice(&peer_isn.0.to_be_bytes());
        buf[17..25].copy_from_slice(&counter.to_be_bytes());
        // Seven option bits: the cast cannot truncate.
        buf[25] = ((opt_bits & OPTS_MASK) >> WSCALE_SHIFT) as u8;
        self.hasher.hash(&buf) as u32 & MAC_MASK
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;
    use std::time::Duration;

    const KEY: [u8; 16] = *b"oxnic-test-key!!";

    fn local() -> SocketAddrV4 {
        SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 80)
    }

    fn remote() -> SocketAddrV4 {
        SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 7), 40_000)
    }

    /// Every way to change one element of the 4-tuple.
    fn other_tuples() -> [(SocketAddrV4, SocketAddrV4); 5] {
        let (l, r) = (local(), remote());
        [
            (SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 80), r),
            (SocketAddrV4::new(*l.ip(), 81), r),
            (l, SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 8), 40_000)),
            (l, SocketAddrV4::new(*r.ip(), 40_001)),
            // Local and remote swapped.
            (r, l),
        ]
    }

    const OPTS: CookieOpts = CookieOpts {
        mss: 1460,
        wscale: Some(7),
        sack: true,
    };

    #[test]
    fn isn_is_a_function_of_key_tuple_and_time() {
        let g = IsnGenerator::new(KEY);
        let now = Instant::from_secs(1_000);
        let isn = g.isn(local(), remote(), now);
        assert_eq!(isn, IsnGenerator::new(KEY).isn(local(), remote(), now));
        for (l, r) in other_tuples() {
            assert_ne!(g.isn(l, r, now), isn, "{l} {r}");
        }
        let mut key = KEY;
        key[15] ^= 1;
        assert_ne!(IsnGenerator::new(key).isn(local(), remote(), now), isn);
    }

    #[test]
    fn isn_advances_at_250_khz() {
        let g = IsnGenerator::new(KEY);
        let t = Instant::from_secs(1_000);
        let isn = g.isn(local(), remote(), t);
        assert_eq!(
            g.isn(local(), remote(), t + Duration::from_nanos(3_999)),
            isn
        );
        assert_eq!(
            g.isn(local(), remote(), t + Duration::from_micros(4)),
            isn + 1u32
        );
        assert_eq!(
            g.isn(local(), remote(), t + Duration::from_secs(1)),
            isn + 250_000u32
        );
        // The timer wraps with the sequence space (2³² ticks of 4 µs ≈ 4.77 h).
        let wrap = Duration::from_nanos(4_000 << 32);
        assert_eq!(g.isn(local(), remote(), t + wrap), isn);
    }

    #[test]
    fn ts_offset_is_a_function_of_key_and_tuple_alone() {
        let g = IsnGenerator::new(KEY);
        let off = g.ts_offset(local(), remote());
        assert_eq!(IsnGenerator::new(KEY).ts_offset(local(), remote()), off);
        assert_ne!(
            off,
            g.isn(local(), remote(), Instant::ZERO).0,
            "not the ISN's hash"
        );
        for (l, r) in other_tuples() {
            assert_ne!(g.ts_offset(l, r), off, "{l} {r}");
        }
        let mut key = KEY;
        key[3] ^= 4;
        assert_ne!(IsnGenerator::new(key).ts_offset(local(), remote()), off);
    }

    #[test]
    fn cookie_round_trips_every_mss_class_and_option() {
        let g = IsnGenerator::new(KEY);
        let now = Instant::from_secs(5_000);
        let peer_isn = Seq(0xdead_beef);
        for mss in COOKIE_MSS {
            for wscale in [None, Some(0), Some(7), Some(14)] {
                for sack in [false, true] {
                    let opts = CookieOpts { mss, wscale, sack };
                    let c = g.cookie(local(), remote(), peer_isn, opts, now);
                    let back = g.check_cookie(local(), remote(), peer_isn + 1u32, c + 1u32, now);
                    assert_eq!(back, Some(opts));
                }
            }
        }
    }

    #[test]
    fn cookie_grants_the_largest_table_mss_not_above_the_request() {
        let g = IsnGenerator::new(KEY);
        let now = Instant::from_secs(5_000);
        let peer_isn = Seq(7);
        for (asked, granted) in [
            (9_000, 1460),
            (1460, 1460),
            (1459, 1440),
            (1440, 1440),
            (1400, 1300),
            (1300, 1300),
            (1000, 536),
            (536, 536),
            // Below the IPv4 minimum every host accepts: the floor.
            (100, 536),
            (0, 536),
        ] {
            let opts = CookieOpts { mss: asked, ..OPTS };
            let c = g.cookie(local(), remote(), peer_isn, opts, now);
            let back = g.check_cookie(local(), remote(), peer_isn + 1u32, c + 1u32, now);
            assert_eq!(back.map(|o| o.mss), Some(granted), "asked {asked}");
        }
        // Window scales above 14 are taken as 14.
        let opts = CookieOpts {
            wscale: Some(20),
            ..OPTS
        };
        let c = g.cookie(local(), remote(), peer_isn, opts, now);
        let back = g.check_cookie(local(), remote(), peer_isn + 1u32, c + 1u32, now);
        assert_eq!(back.and_then(|o| o.wscale), Some(14));
    }

    #[test]
    fn cookie_rejects_another_tuple_or_key() {
        let g = IsnGenerator::new(KEY);
        let now = Instant::from_secs(5_000);
        let peer_isn = Seq(123_456);
        let c = g.cookie(local(), remote(), peer_isn, OPTS, now);
        for (l, r) in other_tuples() {
            assert_eq!(g.check_cookie(l, r, peer_isn + 1u32, c + 1u32, now), None);
        }
        let mut key = KEY;
        key[0] ^= 0x80;
        let other = IsnGenerator::new(key);
        assert_eq!(
            other.check_cookie(local(), remote(), peer_isn + 1u32, c + 1u32, now),
            None
        );
    }

    #[test]
    fn cookie_rejects_every_single_bit_flip() {
        let g = IsnGenerator::new(KEY);
        let now = Instant::from_secs(5_000);
        let peer_isn = Seq(99);
        for opts in [
            OPTS,
            CookieOpts {
                mss: 536,
                wscale: None,
                sack: false,
            },
        ] {
            let c = g.cookie(local(), remote(), peer_isn, opts, now);
            for bit in 0..32 {
                let forged = Seq(c.0 ^ (1 << bit)) + 1u32;
                assert_eq!(
                    g.check_cookie(local(), remote(), peer_isn + 1u32, forged, now),
                    None,
                    "bit {bit}"
                );
            }
        }
    }

    #[test]
    fn cookie_rejects_ack_or_seq_off_by_one() {
        let g = IsnGenerator::new(KEY);
        let now = Instant::from_secs(5_000);
        let peer_isn = Seq(u32::MAX);
        let c = g.cookie(local(), remote(), peer_isn, OPTS, now);
        let seq = peer_isn + 1u32;
        assert_eq!(seq, Seq(0));
        assert!(g
            .check_cookie(local(), remote(), seq, c + 1u32, now)
            .is_some());
        for ack in [c, c + 2u32] {
            assert_eq!(g.check_cookie(local(), remote(), seq, ack, now), None);
        }
        for seq in [peer_isn, peer_isn + 2u32] {
            assert_eq!(g.check_cookie(local(), remote(), seq, c + 1u32, now), None);
        }
    }

    #[test]
    fn cookie_is_valid_for_two_periods_only() {
        let g = IsnGenerator::new(KEY);
        let peer_isn = Seq(42);
        let period = Duration::from_secs(COOKIE_PERIOD_SECS);
        // Made 10 s into period 100.
        let made = Instant::from_secs(100 * COOKIE_PERIOD_SECS + 10);
        let c = g.cookie(local(), remote(), peer_isn, OPTS, made);
        let check =
            |now: Instant| g.check_cookie(local(), remote(), peer_isn + 1u32, c + 1u32, now);
        assert_eq!(check(made), Some(OPTS));
        assert_eq!(check(made + period), Some(OPTS));
        // Two periods later the counter has the same parity again: the MAC must catch it.
        assert_eq!(check(made + period * 2), None);
        assert_eq!(check(made + period * 3), None);
        assert_eq!(check(made + period * 32), None);
        // A cookie from the future (clock stepped back) is not accepted either.
        assert_eq!(check(made - period), None);
        // Right at the start of time there is no previous period to fall back on.
        let c0 = g.cookie(local(), remote(), peer_isn, OPTS, Instant::ZERO);
        assert_eq!(
            g.check_cookie(local(), remote(), peer_isn + 1u32, c0 + 1u32, Instant::ZERO),
            Some(OPTS)
        );
    }

    #[test]
    fn cookies_of_different_connections_look_unrelated() {
        let g = IsnGenerator::new(KEY);
        let now = Instant::from_secs(5_000);
        // Same options and period, consecutive client ISNs: the plaintext layout (parity,
        // option bits) must not show through as equal high bits across all of them.
        let tops: std::collections::HashSet<u32> = (0..64u32)
            .map(|i| g.cookie(local(), remote(), Seq(i), OPTS, now).0 >> 24)
            .collect();
        assert!(tops.len() > 32, "{} distinct top bytes", tops.len());
    }

    #[test]
    fn debug_does_not_show_the_key() {
        let s = format!("{:?}", IsnGenerator::new(KEY));
        assert_eq!(s, "IsnGenerator { .. }");
    }
}
