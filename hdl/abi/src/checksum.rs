//! Internet checksum reference model (RFC 1071) with incremental update (RFC 1624).
//!
//! [`sum`] accumulates the ones'-complement sum of big-endian 16-bit words into a wide
//! accumulator; [`fold`] reduces it to 16 bits; [`checksum`] is the complement that goes into a
//! header. The CHECKSUM_COMPLETE value a card reports is `fold(sum(..))` over the bytes after the
//! link-layer header.

/// Adds the bytes of `data` as big-endian 16-bit words to `acc` (an odd last byte is padded with
/// zero on the right). Accumulate over consecutive pieces only when each piece but the last has
/// an even length.
pub fn sum(data: &[u8], acc: u64) -> u64 {
    // The ones'-complement sum does not care about byte order (RFC 1071 §2(B)): sum the data as
    // native little-endian 32-bit words in four independent lanes (which the compiler
    // vectorises), fold, and swap the bytes of the 16-bit result. 2^16 ≡ 1 (mod 0xffff), so
    // 32-bit words give the same sum as 16-bit ones, and a u64 lane cannot overflow for any
    // buffer shorter than 64 GiB.
    let mut lanes = [0u64; 4];
    let mut blocks = data.chunks_exact(16);
    for b in &mut blocks {
        for (k, lane) in lanes.iter_mut().enumerate() {
            let w = [b[4 * k], b[4 * k + 1], b[4 * k + 2], b[4 * k + 3]];
            *lane += u64::from(u32::from_le_bytes(w));
        }
    }
    let mut native: u64 = lanes.iter().map(|&l| u64::from(fold(l))).sum();
    let rest = blocks.remainder();
    let mut pairs = rest.chunks_exact(2);
    for p in &mut pairs {
        native += u64::from(u16::from_le_bytes([p[0], p[1]]));
    }
    if let [last] = pairs.remainder() {
        // An odd last byte is the high byte of a big-endian word: the low byte of a native one.
        native += u64::from(*last);
    }
    acc + u64::from(fold(native).swap_bytes())
}

/// Folds an accumulator to a 16-bit ones'-complement sum (end-around carry).
pub fn fold(mut acc: u64) -> u16 {
    while acc > 0xffff {
        acc = (acc >> 16) + (acc & 0xffff);
    }
    acc as u16
}

/// The checksum to store in a header: the complement of the folded sum of `data`.
pub fn checksum(data: &[u8]) -> u16 {
    !fold(sum(data, 0))
}

/// Sum of the IPv4 pseudo-header for TCP/UDP: addresses, protocol and L4 length.
pub fn pseudo_header(src: [u8; 4], dst: [u8; 4], proto: u8, l4_len: u16) -> u64 {
    let mut acc = sum(&src, 0);
    acc = sum(&dst, acc);
    acc + u64::from(proto) + u64::from(l4_len)
}

/// RFC 1624 eqn. 3: the new checksum after a 16-bit field changes from `old` to `new`,
/// HC' = ~(~HC + ~m + m').
pub fn update16(hc: u16, old: u16, new: u16) -> u16 {
    let acc = u64::from(!hc) + u64::from(!old) + u64::from(new);
    !fold(acc)
}

/// [`update16`] for a 32-bit field (an IPv4 address), as two 16-bit halves.
pub fn update32(hc: u16, old: u32, new: u32) -> u16 {
    let hc = update16(hc, (old >> 16) as u16, (new >> 16) as u16);
    update16(hc, old as u16, new as u16)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use std::vec::Vec;

    /// The plain definition: 16-bit words, end-around carry after every add.
    fn naive(data: &[u8]) -> u16 {
        let mut s: u32 = 0;
        for c in data.chunks(2) {
            let w = if c.len() == 2 {
                u16::from_be_bytes([c[0], c[1]])
            } else {
                u16::from(c[0]) << 8
            };
            s += u32::from(w);
            s = (s & 0xffff) + (s >> 16);
        }
        !(s as u16)
    }

    #[test]
    fn rfc1071_example() {
        // RFC 1071 section 3: the words 0001 f203 f4f5 f6f7 sum to ddf2.
        let d = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(fold(sum(&d, 0)), 0xddf2);
        assert_eq!(checksum(&d), 0x220d);
    }

    #[test]
    fn ipv4_header_fixture() {
        // A real IPv4 header (from a Linux ping); its checksum field is 0xb861.
        let mut h = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        assert_eq!(checksum(&h), 0, "a correct header sums to zero");
        h[10] = 0;
        h[11] = 0;
        assert_eq!(checksum(&h), 0xb861);
    }

    #[test]
    fn matches_naive_on_random_lengths_and_splits() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1071);
        for _ in 0..500 {
            let n = rng.gen_range(0..3000);
            let d: Vec<u8> = (0..n).map(|_| rng.gen()).collect();
            assert_eq!(checksum(&d), naive(&d), "len {n}");
            let split = rng.gen_range(0..=n / 2) * 2;
            assert_eq!(!fold(sum(&d[split..], sum(&d[..split], 0))), naive(&d));
        }
        assert_eq!(checksum(&[]), 0xffff);
        assert_eq!(checksum(&[0xff; 2]), 0);
    }

    #[test]
    fn incremental_update_matches_recompute() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1624);
        for _ in 0..2000 {
            let mut h: [u8; 20] = rng.gen();
            h[10] = 0;
            h[11] = 0;
            let c = checksum(&h);
            h[10..12].copy_from_slice(&c.to_be_bytes());
            // Change the TTL/protocol word, as forwarding does, and one address, as NAT does.
            let old = u16::from_be_bytes([h[8], h[9]]);
            let new: u16 = rng.gen();
            h[8..10].copy_from_slice(&new.to_be_bytes());
            let c1 = update16(c, old, new);
            let olda = u32::from_be_bytes([h[12], h[13], h[14], h[15]]);
            let newa: u32 = rng.gen();
            h[12..16].copy_from_slice(&newa.to_be_bytes());
            let c2 = update32(c1, olda, newa);
            h[10..12].copy_from_slice(&c2.to_be_bytes());
            assert_eq!(checksum(&h), 0, "updated header must verify");
        }
    }

    #[test]
    fn rfc1624_minus_zero_case() {
        // RFC 1624 section 3: eqn. 2 gives 0xffff here where recomputation gives 0x0000; eqn. 3 agrees with recomputation.
        let hc = 0xdd2f;
        assert_eq!(update16(hc, 0x5555, 0x3285), 0x0000);
        assert_eq!(update16(hc, 0x5555, 0x3285), !fold(0xcd7a + 0x3285));
    }

    #[test]
    fn pseudo_header_udp() {
        // UDP 10.0.0.1:1234 -> 10.0.0.2:80, payload "hi"; 0x7e4c computed independently (Python).
        let udp = [0x04, 0xd2, 0x00, 0x50, 0x00, 0x0a, 0x00, 0x00, b'h', b'i'];
        let acc = pseudo_header([10, 0, 0, 1], [10, 0, 0, 2], 17, 10);
        let c = !fold(sum(&udp, acc));
        let mut full = udp;
        full[6..8].copy_from_slice(&c.to_be_bytes());
        assert_eq!(!fold(sum(&full, acc)), 0);
        assert_eq!(c, 0x7e4c);
    }
}
