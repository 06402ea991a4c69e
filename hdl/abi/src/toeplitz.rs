//! Toeplitz hash (RSS) reference model, with a programmable 40-byte key.
//!
//! Two variants computing the same function:
//! - [`hash`]: bit by bit, the definition from Microsoft's RSS specification — the model the HDL
//!   block is checked against, easy to read;
//! - [`Table`]: one 256-entry table per input byte position, built once per key — what a
//!   software fallback uses on the hot path.
//!
//! The input is the tuple in network byte order: source address, destination address, then
//! (for the 4-tuple) source port and destination port — see [`ipv4_2tuple`] and [`ipv4_4tuple`].

use crate::features::RSS_KEY_LEN;

/// Longest input the 40-byte key can hash (the IPv6 4-tuple).
pub const MAX_INPUT: usize = RSS_KEY_LEN - 4;

/// Bit `k` of the key, counting from the most significant bit of byte 0; zero past the end.
fn key_bit(key: &[u8; RSS_KEY_LEN], k: usize) -> u32 {
    key.get(k / 8)
        .map_or(0, |b| u32::from((b >> (7 - k % 8)) & 1))
}

/// The 32-bit key window starting at key bit `k`.
fn window(key: &[u8; RSS_KEY_LEN], k: usize) -> u32 {
    (0..32).fold(0u32, |w, i| (w << 1) | key_bit(key, k + i))
}

/// Toeplitz hash of `input` under `key`, bit by bit. Bytes past [`MAX_INPUT`] are ignored.
pub fn hash(key: &[u8; RSS_KEY_LEN], input: &[u8]) -> u32 {
    let mut result = 0u32;
    let mut win = window(key, 0);
    for (i, &byte) in input.iter().take(MAX_INPUT).enumerate() {
        for b in 0..8 {
            if byte & (0x80 >> b) != 0 {
                result ^= win;
            }
            win = (win << 1) | key_bit(key, 32 + i * 8 + b);
        }
    }
    result
}

/// Precomputed per-byte tables for one key: `MAX_INPUT` × 256 words (36 KiB).
#[derive(Clone)]
pub struct Table {
    t: [[u32; 256]; MAX_INPUT],
}

impl core::fmt::Debug for Table {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("toeplitz::Table").finish_non_exhaustive()
    }
}

impl Table {
    /// Builds the tables for `key`.
    pub fn new(key: &[u8; RSS_KEY_LEN]) -> Self {
        let mut t = [[0u32; 256]; MAX_INPUT];
        for (pos, row) in t.iter_mut().enumerate() {
            let bits: [u32; 8] = core::array::from_fn(|b| window(key, pos * 8 + b));
            for (v, slot) in row.iter_mut().enumerate() {
                *slot = (0..8)
                    .filter(|b| v & (0x80 >> b) != 0)
                    .fold(0, |h, b| h ^ bits[b]);
            }
        }
        Table { t }
    }

    /// Toeplitz hash of `input`; bytes past [`MAX_INPUT`] are ignored.
    #[inline]
    pub fn hash(&self, input: &[u8]) -> u32 {
        input
            .iter()
            .zip(self.t.iter())
            .fold(0, |h, (&b, row)| h ^ row[usize::from(b)])
    }
}

/// Hash input for the IPv4 2-tuple.
pub fn ipv4_2tuple(src: [u8; 4], dst: [u8; 4]) -> [u8; 8] {
    let mut b = [0u8; 8];
    b[..4].copy_from_slice(&src);
    b[4..].copy_from_slice(&dst);
    b
}

/// Hash input for the IPv4 4-tuple (TCP or UDP).
pub fn ipv4_4tuple(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16) -> [u8; 12] {
    let mut b = [0u8; 12];
    b[..4].copy_from_slice(&src);
    b[4..8].copy_from_slice(&dst);
    b[8..10].copy_from_slice(&sport.to_be_bytes());
    b[10..].copy_from_slice(&dport.to_be_bytes());
    b
}

/// RX queue for `hash` through an indirection table (the low bits of the hash index it).
pub fn reta_queue(reta: &[u8; crate::features::RETA_SIZE], hash: u32) -> u8 {
    reta[(hash as usize) % crate::features::RETA_SIZE]
}

/// One vector of Microsoft's RSS verification suite (IPv4 part).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MsVector {
    /// Destination address and port.
    pub dst: ([u8; 4], u16),
    /// Source address and port.
    pub src: ([u8; 4], u16),
    /// Hash of the IPv4 2-tuple under [`crate::features::DEFAULT_RSS_KEY`].
    pub ipv4: u32,
    /// Hash of the IPv4+TCP 4-tuple under the same key.
    pub ipv4_tcp: u32,
}

/// Microsoft's published RSS verification suite, its five IPv4 and IPv4+TCP vectors: what both
/// the reference model and the HDL block must reproduce.
pub const MS_VECTORS: [MsVector; 5] = [
    MsVector {
        dst: ([161, 142, 100, 80], 1766),
        src: ([66, 9, 149, 187], 2794),
        ipv4: 0x323e_8fc2,
        ipv4_tcp: 0x51cc_c178,
    },
    MsVector {
        dst: ([65, 69, 140, 83], 4739),
        src: ([199, 92, 111, 2], 14230),
        ipv4: 0xd718_262a,
        ipv4_tcp: 0xc626_b0ea,
    },
    MsVector {
        dst: ([12, 22, 207, 184], 38024),
        src: ([24, 19, 198, 95], 12898),
        ipv4: 0xd2d0_a5de,
        ipv4_tcp: 0x5c2b_394a,
    },
    MsVector {
        dst: ([209, 142, 163, 6], 2217),
        src: ([38, 27, 205, 30], 48228),
        ipv4: 0x8298_9176,
        ipv4_tcp: 0xafc7_327f,
    },
    MsVector {
        dst: ([202, 188, 127, 2], 1303),
        src: ([153, 39, 163, 191], 44251),
        ipv4: 0x5d18_09c5,
        ipv4_tcp: 0x10e8_28a2,
    },
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::DEFAULT_RSS_KEY;
    use rand::{Rng, SeedableRng};

    #[test]
    fn microsoft_vectors_bitwise() {
        for MsVector {
            dst: (dst, dport),
            src: (src, sport),
            ipv4: h2,
            ipv4_tcp: h4,
        } in MS_VECTORS
        {
            assert_eq!(hash(&DEFAULT_RSS_KEY, &ipv4_2tuple(src, dst)), h2);
            assert_eq!(
                hash(&DEFAULT_RSS_KEY, &ipv4_4tuple(src, dst, sport, dport)),
                h4
            );
        }
    }

    #[test]
    fn microsoft_vectors_table() {
        let t = Table::new(&DEFAULT_RSS_KEY);
        for MsVector {
            dst: (dst, dport),
            src: (src, sport),
            ipv4: h2,
            ipv4_tcp: h4,
        } in MS_VECTORS
        {
            assert_eq!(t.hash(&ipv4_2tuple(src, dst)), h2);
            assert_eq!(t.hash(&ipv4_4tuple(src, dst, sport, dport)), h4);
        }
    }

    #[test]
    fn variants_agree_on_random_keys_and_inputs() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(0x000a_11ce);
        for _ in 0..50 {
            let key: [u8; RSS_KEY_LEN] = core::array::from_fn(|_| rng.gen());
            let t = Table::new(&key);
            for _ in 0..50 {
                let n = rng.gen_range(0..=MAX_INPUT + 4);
                let input: std::vec::Vec<u8> = (0..n).map(|_| rng.gen()).collect();
                assert_eq!(t.hash(&input), hash(&key, &input), "len {n}");
            }
        }
    }

    #[test]
    fn hash_is_linear_over_xor() {
        // Toeplitz is GF(2)-linear: h(a ^ b) == h(a) ^ h(b). A broken window shift breaks this.
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let key: [u8; RSS_KEY_LEN] = core::array::from_fn(|_| rng.gen());
        let a: [u8; 12] = rng.gen();
        let b: [u8; 12] = rng.gen();
        let x: [u8; 12] = core::array::from_fn(|i| a[i] ^ b[i]);
        assert_eq!(hash(&key, &x), hash(&key, &a) ^ hash(&key, &b));
        assert_eq!(hash(&key, &[]), 0);
    }

    #[test]
    fn reta_uses_low_bits() {
        let reta: [u8; 128] = core::array::from_fn(|i| (i % 8) as u8);
        assert_eq!(reta_queue(&reta, 0x51cc_c178), (0x78 % 8) as u8);
        assert_eq!(reta_queue(&reta, 0xffff_ff85), 5);
    }
}
