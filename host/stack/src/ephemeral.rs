//! Ephemeral port selection (RFC 6056), in the orders Linux tries ports in: TCP connect
//! (`__inet_hash_connect`), TCP bind to port 0 (`inet_csk_find_open_port`) and UDP bind to
//! port 0 (`udp_lib_get_port`).
//!
//! Each picker walks the whole range, so a port is found whenever one is free; what differs
//! from a plain cursor is where the walk starts and how it steps, so that an off-path attacker
//! cannot predict a connection's port (RFC 6056 §1: blind resets and data injection need the
//! 4-tuple).
//!
//! - connect: RFC 6056 algorithm 4 ("double-hash"). The start is a keyed hash of the local
//!   address and the remote address and port (Linux `secure_ipv4_port_ephemeral`) plus a
//!   counter picked by another part of that hash (`table_perturb`), which moves on past every
//!   port handed out: reconnecting to one destination takes another port, while connections to
//!   different destinations share nothing an attacker can see. Even ports are tried first.
//! - TCP bind to port 0: a random start, odd ports first (since Linux 6.0 the two pickers
//!   prefer opposite parities, so servers binding port 0 leave connect its ports); a socket
//!   with `SO_REUSEADDR` tries the lower half of the range before the upper one.
//! - UDP bind to port 0: a random start and a random odd stride through the ports of one
//!   hash slot, then the next slot.
//!
//! The stack is sans-IO and deterministic, so "random" here is a keyed pseudorandom sequence
//! (the caller's draws from [`crate::tcp::isn::IsnGenerator::port_random`]): unpredictable
//! without the secret the runtime seeds, repeatable in tests.
//!
//! Each function returns candidates only; the caller checks each for conflicts with its own
//! rule and takes the first that passes.

use std::ops::RangeInclusive;

/// Ephemeral ports (Linux `ip_local_port_range`).
pub(crate) const EPHEMERAL: RangeInclusive<u16> = 32768..=60999;

/// Counters of [`Perturb`] (Linux `INET_TABLE_PERTURB_SIZE`, 2¹⁶ since 5.18: a small table
/// let an attacker who saw a few of his own connections' ports follow a device).
const PERTURB_SIZE: usize = 1 << 16;

/// UDP hash slots the UDP walk assumes (Linux `UDP_HTABLE_SIZE_MIN`): the walk steps
/// through the ports of one slot (those equal modulo this) before going to the next. The
/// size shapes the order, not the coverage: every port is tried.
const UDP_SLOTS: u32 = 256;

/// The range as Linux's pickers take it: `[low, high)`.
fn bounds() -> (u32, u32) {
    (
        u32::from(*EPHEMERAL.start()),
        u32::from(*EPHEMERAL.end()) + 1,
    )
}

/// Linux `table_perturb`: per-destination counters (picked by a keyed hash of the
/// destination) added to connect's hashed start, each moved on past the ports it handed out.
/// Allocated on the first connect that picks a port.
#[derive(Debug, Default)]
pub(crate) struct Perturb {
    table: Vec<u32>,
}

impl Perturb {
    /// The counter for a connect whose keyed hash is `port_offset`: its index, its value.
    fn slot(&self, port_offset: u64) -> (usize, u32) {
        let index = port_offset as usize & (PERTURB_SIZE - 1);
        (index, self.table.get(index).copied().unwrap_or(0))
    }

    fn advance(&mut self, index: usize, by: u32) {
        if self.table.is_empty() {
            self.table = vec![0; PERTURB_SIZE];
        }
        if let Some(v) = self.table.get_mut(index) {
            *v = v.wrapping_add(by);
        }
    }
}

/// Ports of `[low, high)` from `low + offset` up in steps of two, wrapping, first those of
/// `offset`'s parity, then the others; each with its step count into its pass (Linux's `i`).
/// An odd-sized range leaves its top port out, as Linux's does.
fn parity_scan(low: u32, high: u32, offset: u32) -> impl Iterator<Item = (u32, u16)> {
    let mut remaining = high.saturating_sub(low);
    if remaining > 1 {
        remaining &= !1;
    }
    let modulus = remaining.max(1);
    let second = (remaining > 1).then_some(offset ^ 1);
    core::iter::once(offset)
        .chain(second)
        .flat_map(move |off| {
            (0..remaining)
                .step_by(2)
                .map(move |i| (i, low + (off % modulus + i) % modulus))
        })
        // Ports are below 65536: `high` is at most one past a u16.
        .map(|(i, port)| (i, port as u16))
}

/// Connect's walk (Linux `__inet_hash_connect`). `port_offset` is the keyed hash of the
/// local address and the remote address and port; `jitter` a random draw. `free` says
/// whether a port may be used; the first that may is returned, and the destination's
/// counter moves past it (by the steps taken, or a few random ones if fewer, plus one),
/// so the next connect to the same destination starts after it.
pub(crate) fn connect_port(
    perturb: &mut Perturb,
    port_offset: u64,
    jitter: u32,
    mut free: impl FnMut(u16) -> bool,
) -> Option<u16> {
    let (low, high) = bounds();
    let remaining = (high - low) & !1;
    let (index, counter) = perturb.slot(port_offset);
    // Even offset: ports of the range's low parity first (the start being even, even ones).
    let offset = (counter.wrapping_add((port_offset >> 32) as u32) % remaining.max(1)) & !1;
    let (i, port) = parity_scan(low, high, offset).find(|&(_, p)| free(p))?;
    // Linux: `i = max(i, get_random_u32_below(8) * step)`, then `+ step`.
    perturb.advance(index, i.max(jitter % 8 * 2) + 2);
    Some(port)
}

/// The ports a TCP bind to port 0 tries, in order (Linux `inet_csk_find_open_port`): from a
/// random odd offset, odd ports first, then even; with `SO_REUSEADDR` (`reuse`) the lower
/// half of the range first, then the upper half from a second random offset. `draws` are two
/// random numbers.
pub(crate) fn bind_ports(draws: [u32; 2], reuse: bool) -> impl Iterator<Item = u16> {
    let (low, high) = bounds();
    let halves = if reuse && high - low >= 4 {
        let half = low + (((high - low) >> 2) << 1);
        [(low, half), (half, high)]
    } else {
        // One pass over the whole range; the empty second one yields nothing.
        [(low, high), (high, high)]
    };
    halves.into_iter().zip(draws).flat_map(|((lo, hi), draw)| {
        let remaining = (hi - lo) & !1;
        let offset = (draw % remaining.max(1)) | 1;
        parity_scan(lo, hi, offset).map(|(_, p)| p)
    })
}

/// The ports a UDP bind to port 0 tries, in order (Linux `udp_lib_get_port`): from a random
/// first port, the ports of its hash slot by a random odd multiple of the table size (which
/// visits each of them once), then those of the next slot, until every slot was walked.
/// `draw` is a random number.
pub(crate) fn udp_ports(draw: u32) -> impl Iterator<Item = u16> {
    let (low, high) = bounds();
    let remaining = high - low;
    // Linux `reciprocal_scale`: the draw scaled into the range.
    let first = low + ((u64::from(draw) * u64::from(remaining)) >> 32) as u32;
    // An odd multiple of the slot count, taken as Linux's 16-bit port arithmetic does.
    let stride = ((draw | 1).wrapping_mul(UDP_SLOTS) & 0xffff) as u16;
    (0..UDP_SLOTS)
        .flat_map(move |slot| {
            let start = (first + slot) as u16;
            let mut port = start;
            let mut done = false;
            core::iter::from_fn(move || {
                if done {
                    return None;
                }
                let p = port;
                port = port.wrapping_add(stride);
                done = port == start;
                Some(p)
            })
        })
        .filter(|p| EPHEMERAL.contains(p))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn range_len() -> usize {
        EPHEMERAL.len()
    }

    #[test]
    fn connect_walk_tries_every_port_once_even_ones_first() {
        let mut tried = Vec::new();
        let mut perturb = Perturb::default();
        let got = connect_port(&mut perturb, 0x1234_5678_9abc_def0, 3, |p| {
            tried.push(p);
            false
        });
        assert_eq!(got, None);
        assert_eq!(tried.len(), range_len());
        assert_eq!(tried.iter().collect::<HashSet<_>>().len(), range_len());
        let evens = range_len() / 2;
        assert!(tried[..evens].iter().all(|p| p % 2 == 0));
        assert!(tried[evens..].iter().all(|p| p % 2 == 1));
    }

    #[test]
    fn connect_moves_its_destinations_counter_past_the_port_it_gave() {
        let mut perturb = Perturb::default();
        let h = 0xdead_beef_0000_0042;
        let a = connect_port(&mut perturb, h, 0, |_| true).unwrap();
        let b = connect_port(&mut perturb, h, 0, |_| true).unwrap();
        assert_eq!(b, a + 2);
        // Another destination's counter did not move.
        let other = 0xdead_beef_0000_0043;
        let c = connect_port(&mut Perturb::default(), other, 0, |_| true).unwrap();
        assert_eq!(connect_port(&mut perturb, other, 0, |_| true), Some(c));
        // Steps taken past busy ports count, and so does the jitter when larger.
        let d = connect_port(&mut perturb, h, 0, |p| p > b + 6).unwrap();
        assert_eq!(d, b + 8);
        let e = connect_port(&mut perturb, h, 7, |_| true).unwrap();
        assert_eq!(e, d + 2);
        let f = connect_port(&mut perturb, h, 0, |_| true).unwrap();
        assert_eq!(f, e + 2 + 14);
    }

    #[test]
    fn tcp_bind_walk_tries_every_port_once_odd_first_lower_half_first() {
        let (low, high) = bounds();
        let half = low + (((high - low) >> 2) << 1);
        for reuse in [false, true] {
            let tried: Vec<u16> = bind_ports([12345, 678], reuse).collect();
            assert_eq!(tried.len(), range_len(), "reuse {reuse}");
            assert_eq!(tried.iter().collect::<HashSet<_>>().len(), range_len());
            assert_eq!(tried[0] % 2, 1);
            if reuse {
                let n = (half - low) as usize;
                assert!(tried[..n].iter().all(|&p| u32::from(p) < half));
                assert!(tried[..n / 2].iter().all(|p| p % 2 == 1));
                assert!(tried[n..n + n / 2].iter().all(|p| p % 2 == 1));
            } else {
                assert!(tried[..range_len() / 2].iter().all(|p| p % 2 == 1));
            }
        }
    }

    #[test]
    fn udp_walk_tries_every_port_once() {
        for draw in [0, 1, 0x8000_0000, u32::MAX, 0x1357_9bdf] {
            let tried: Vec<u16> = udp_ports(draw).collect();
            assert_eq!(tried.len(), range_len(), "draw {draw:#x}");
            assert_eq!(tried.iter().collect::<HashSet<_>>().len(), range_len());
        }
    }
}
