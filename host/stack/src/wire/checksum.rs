//! The Internet checksum (RFC 1071) and its incremental update (RFC 1624).
//!
//! Used by IPv4, ICMP, UDP and TCP, on every packet the device did not check. The
//! one's-complement sum does not care about word size or byte order (RFC 1071 §2), so words are
//! read in native order, summed wide, folded, and swapped to network order once at the end.
//! Two loops do the summing:
//! - on a CPU with AVX2 or AVX-512, data of 128 bytes or more goes through 64-byte blocks
//!   summed into sixteen 32-bit lanes, built for those vector units and picked at run time
//!   (`sum_long`);
//! - otherwise, and for data of 64 to 127 bytes, four 64-bit words per 32 bytes go into
//!   independent 128-bit accumulators, which cannot overflow before 2^64 words (`sum_words`).
//!   With SSE2 alone this beats the lanes, whose widening shuffles cost more than its
//!   add-with-carry chains;
//! - data under 64 bytes (headers, the tails of long data) is summed in line, a few 64-bit
//!   loads with their halves added (`sum_short`).
//!
//! [`copy_and_sum`] is the lanes' loop with a copy in it: TCP's send queue sums each segment's
//! payload while copying the application's bytes in.

use core::net::Ipv4Addr;

/// What the stack does with checksum fields. This is a device capability passed in, not a
/// branch in protocol code: when the device verifies checksums on receive or inserts them on
/// transmit (`Offloaded`), the software work is skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ChecksumMode {
    /// Verify on parse, compute on emit.
    #[default]
    Software,
    /// The device did (receive) or will do (transmit) it: parse does not verify; emit writes 0
    /// into the IPv4 header checksum and the pseudo-header sum into UDP/TCP checksums, which is
    /// what start/offset checksum insertion (Linux `CHECKSUM_PARTIAL`) expects.
    Offloaded,
}

/// One's-complement sum of `data` (RFC 1071), folded to 16 bits, as a network-order word value
/// (not complemented: that is [`checksum`]). An odd final byte is padded with a zero byte.
#[inline(always)]
pub fn sum(data: &[u8]) -> u16 {
    u16::from_be(fold64(partial(data)))
}

/// Native-order partial sum of `data` (not folded): headers and other short data in line,
/// without a call; longer data through [`sum_words`] or the vector loop of [`sum_long`].
#[inline(always)]
fn partial(data: &[u8]) -> u64 {
    if data.len() < SHORT_MAX {
        sum_short(data)
    } else if data.len() < WIDE_MIN {
        sum_words(data)
    } else {
        sum_long(data)
    }
}

/// Data shorter than this is summed by [`sum_short`].
const SHORT_MAX: usize = 64;

/// Bytes per block of [`sum_blocks`].
const WIDE_BLOCK: usize = 64;

/// Shortest data [`sum`] hands to [`sum_long`]: below it, the dispatch and the lane fold cost
/// more than the vector loop saves.
const WIDE_MIN: usize = 128;

/// Blocks summed into the 32-bit lanes before they are folded into the 64-bit total: each block
/// adds at most 2 × 0xffff to a lane, so 16,384 blocks stay below 2^32.
const LANE_BLOCKS: usize = 16_384;

/// Native-order partial sum of long data. `multiversion` builds this again for AVX2 and
/// AVX-512 and picks the best the CPU has at run time. With either, whole 64-byte blocks go
/// through [`sum_blocks`], whose 32-bit lanes the compiler turns into vector adds (22 against
/// 44 ns for a 1448-byte payload with AVX-512 here). The baseline x86-64 build has only SSE2,
/// where the widening costs more than [`sum_words`]' add-with-carry chains, so it keeps those.
#[multiversion::multiversion(targets("x86_64+avx512f+avx512bw+avx512vl", "x86_64+avx2"))]
fn sum_long(data: &[u8]) -> u64 {
    multiversion::target::match_target! {
        "x86_64+avx2" => {
            let whole = data.len() / WIDE_BLOCK * WIDE_BLOCK;
            // The tail starts at a multiple of 64: its 16-bit words line up with the blocks'.
            add64(sum_blocks(&data[..whole]), sum_short(&data[whole..]))
        }
        _ => sum_words(data),
    }
}

/// Native-order partial sum of `data`, whose length is a multiple of [`WIDE_BLOCK`]: sixteen
/// 32-bit lanes, each adding the two 16-bit halves of one 32-bit word of every block. Inlined
/// into each build of [`sum_long`], so it is compiled for that build's vector unit.
#[inline(always)]
fn sum_blocks(data: &[u8]) -> u64 {
    let mut total: u64 = 0;
    for piece in data.chunks(WIDE_BLOCK * LANE_BLOCKS) {
        let mut lanes = [0u32; WIDE_BLOCK / 4];
        for block in piece.chunks_exact(WIDE_BLOCK) {
            add_to_lanes(&mut lanes, block);
        }
        total = add64(total, lanes_total(&lanes));
    }
    total
}

/// Adds one [`WIDE_BLOCK`]-byte block into the sixteen 32-bit lanes: the two 16-bit halves of
/// its `k`th 32-bit word into lane `k`.
#[inline(always)]
fn add_to_lanes(lanes: &mut [u32; WIDE_BLOCK / 4], block: &[u8]) {
    for (k, lane) in lanes.iter_mut().enumerate() {
        let w = u32::from_ne_bytes([
            block[4 * k],
            block[4 * k + 1],
            block[4 * k + 2],
            block[4 * k + 3],
        ]);
        *lane += (w & 0xffff) + (w >> 16);
    }
}

/// The lanes' one's-complement total: each lane folded to 17 bits (2^16 = 1 modulo 0xffff, so
/// the sum is unchanged) and the sixteen added in 32 bits, which cannot overflow: vector adds,
/// rather than a chain of sixteen end-around carries (that chain was a third of the time of
/// summing a 1448-byte payload).
#[inline(always)]
fn lanes_total(lanes: &[u32; WIDE_BLOCK / 4]) -> u64 {
    let total: u32 = lanes.iter().map(|&l| (l & 0xffff) + (l >> 16)).sum();
    u64::from(total)
}

/// Copies `src` into `dst` (the same length) and returns [`sum`] of the bytes, in one pass:
/// Linux's `csum_and_copy_from_user`, which TCP used on a device without checksum offload so
/// that transmit never read the payload again. The bytes are summed while they are in
/// registers on their way to `dst`, so on data that comes from and goes to the L2 cache the
/// sum costs next to nothing over the copy (1448 bytes: 55 against 54 ns on a 1 MiB ring here),
/// where reading them back later costs a full pass.
///
/// Panics when the lengths differ, as `copy_from_slice` does.
pub fn copy_and_sum(dst: &mut [u8], src: &[u8]) -> u16 {
    let total = if src.len() < WIDE_MIN {
        dst.copy_from_slice(src);
        sum_words(src)
    } else {
        copy_sum_long(dst, src)
    };
    u16::from_be(fold64(total))
}

/// [`sum_long`] that also copies: whole 64-byte blocks through [`copy_sum_blocks`] in the
/// AVX2 and AVX-512 builds; the baseline build copies, then sums with [`sum_words`].
#[multiversion::multiversion(targets("x86_64+avx512f+avx512bw+avx512vl", "x86_64+avx2"))]
fn copy_sum_long(dst: &mut [u8], src: &[u8]) -> u64 {
    multiversion::target::match_target! {
        "x86_64+avx2" => {
            assert_eq!(dst.len(), src.len(), "copy_and_sum: lengths differ");
            let whole = src.len() / WIDE_BLOCK * WIDE_BLOCK;
            let (dst_blocks, dst_tail) = dst.split_at_mut(whole);
            let (src_blocks, src_tail) = src.split_at(whole);
            let blocks = copy_sum_blocks(dst_blocks, src_blocks);
            copy_short(dst_tail, src_tail);
            add64(blocks, sum_short(src_tail))
        }
        _ => {
            dst.copy_from_slice(src);
            sum_words(src)
        }
    }
}

/// Copies `src` (shorter than [`WIDE_BLOCK`]) to `dst` (as long) with at most two fixed-size
/// copies that may overlap, in line: a copy of variable length is a call to `memcpy`, and a
/// payload's tail (40 bytes of a 1448-byte segment) is copied once per segment.
#[inline(always)]
fn copy_short(dst: &mut [u8], src: &[u8]) {
    fn two<const N: usize>(dst: &mut [u8], src: &[u8]) {
        let n = src.len();
        dst[..N].copy_from_slice(&src[..N]);
        dst[n - N..].copy_from_slice(&src[n - N..]);
    }
    match src.len() {
        32.. => two::<32>(dst, src),
        16.. => two::<16>(dst, src),
        8.. => two::<8>(dst, src),
        4.. => two::<4>(dst, src),
        _ => dst.copy_from_slice(src),
    }
}

/// [`sum_blocks`] of `src` while copying it to `dst` (both a multiple of [`WIDE_BLOCK`] long,
/// the same length): each block is loaded once, stored to `dst` and added into the lanes.
#[inline(always)]
fn copy_sum_blocks(dst: &mut [u8], src: &[u8]) -> u64 {
    let mut total: u64 = 0;
    let pieces = dst
        .chunks_mut(WIDE_BLOCK * LANE_BLOCKS)
        .zip(src.chunks(WIDE_BLOCK * LANE_BLOCKS));
    for (dst_piece, src_piece) in pieces {
        let mut lanes = [0u32; WIDE_BLOCK / 4];
        let blocks = dst_piece
            .chunks_exact_mut(WIDE_BLOCK)
            .zip(src_piece.chunks_exact(WIDE_BLOCK));
        for (to, from) in blocks {
            // One load into a local block, which the compiler keeps in a vector register for
            // both the store and the sum.
            let mut block = [0u8; WIDE_BLOCK];
            block.copy_from_slice(from);
            to.copy_from_slice(&block);
            add_to_lanes(&mut lanes, &block);
        }
        total = add64(total, lanes_total(&lanes));
    }
    total
}

/// Native-order one's-complement partial sum of `data` (not folded to 16 bits): data under
/// [`WIDE_MIN`] bytes, and all data on a CPU without the vector builds of [`sum_long`].
fn sum_words(data: &[u8]) -> u64 {
    // Data under 64 bytes (headers, the tails of long data) skips the accumulators and their
    // fold, a chain of eight end-around carries: they were most of the cost of summing an IPv4
    // or a TCP header.
    if data.len() < SHORT_MAX {
        return sum_short(data);
    }
    // Four 128-bit accumulators of 64-bit words: each add is one add and one add-with-carry,
    // the carries pile up in the high halves instead of being folded back in the loop, and the
    // four chains are independent, so the adders stay busy.
    let blocks = data.chunks_exact(32);
    let rest = blocks.remainder();
    let mut total: u64 = 0;
    {
        let mut acc = [0u128; 4];
        for b in blocks {
            for (k, a) in acc.iter_mut().enumerate() {
                let w = u64::from_ne_bytes([
                    b[8 * k],
                    b[8 * k + 1],
                    b[8 * k + 2],
                    b[8 * k + 3],
                    b[8 * k + 4],
                    b[8 * k + 5],
                    b[8 * k + 6],
                    b[8 * k + 7],
                ]);
                *a += u128::from(w);
            }
        }
        for a in acc {
            total = add64(total, a as u64);
            total = add64(total, (a >> 64) as u64);
        }
    }
    add64(total, sum_short(rest))
}

/// Native-order partial sum of `rest`, shorter than [`SHORT_MAX`] bytes, below 2^36: a few
/// 64-bit loads with their halves added, no loop and no carry chain. Always inlined, so an
/// IPv4 or TCP header or the tail of a payload costs no call.
#[inline(always)]
fn sum_short(mut rest: &[u8]) -> u64 {
    debug_assert!(rest.len() < SHORT_MAX);
    let mut total: u64 = 0;
    let half = |w: u64| (w & 0xffff_ffff) + (w >> 32);
    let u64_at = |r: &[u8]| u64::from_ne_bytes([r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7]]);
    // At most four plus two plus one values below 2^33 and three small ones: no carry is lost.
    if rest.len() >= 32 {
        total += half(u64_at(rest))
            + half(u64_at(&rest[8..]))
            + half(u64_at(&rest[16..]))
            + half(u64_at(&rest[24..]));
        rest = &rest[32..];
    }
    if rest.len() >= 16 {
        total += half(u64_at(rest)) + half(u64_at(&rest[8..]));
        rest = &rest[16..];
    }
    if rest.len() >= 8 {
        total += half(u64_at(rest));
        rest = &rest[8..];
    }
    if rest.len() >= 4 {
        total += u64::from(u32::from_ne_bytes([rest[0], rest[1], rest[2], rest[3]]));
        rest = &rest[4..];
    }
    if rest.len() >= 2 {
        total += u64::from(u16::from_ne_bytes([rest[0], rest[1]]));
        rest = &rest[2..];
    }
    if let [last] = rest {
        total += u64::from(u16::from_ne_bytes([*last, 0]));
    }
    total
}

/// End-around-carry addition of two 64-bit partial sums.
fn add64(a: u64, b: u64) -> u64 {
    let (s, carry) = a.overflowing_add(b);
    s + u64::from(carry)
}

/// Folds a 64-bit one's-complement partial sum to 16 bits.
fn fold64(mut s: u64) -> u16 {
    s = (s & 0xffff_ffff) + (s >> 32);
    s = (s & 0xffff_ffff) + (s >> 32);
    let mut s = s as u32;
    s = (s & 0xffff) + (s >> 16);
    s = (s & 0xffff) + (s >> 16);
    s as u16
}

/// [`sum`] of pieces laid end to end (a packet's head and fragments, a queue's chunks), without
/// copying them together: each piece's partial sum added at its offset, as [`add_block`] does
/// with folded ones, and the total folded once ([`Pieces`]).
pub fn sum_pieces<'a>(pieces: impl IntoIterator<Item = &'a [u8]>) -> u16 {
    let mut sum = Pieces::default();
    for piece in pieces {
        sum.add(piece);
    }
    sum.sum()
}

/// A sum over pieces laid end to end, one piece at a time: [`sum_pieces`] for a caller that
/// has its pieces in hand rather than in an iterator (GRO's check of every segment).
#[derive(Debug, Default, Clone, Copy)]
pub struct Pieces {
    total: u64,
    odd: bool,
}

impl Pieces {
    /// Adds the piece that follows those added so far.
    #[inline(always)]
    pub fn add(&mut self, piece: &[u8]) {
        let p = partial(piece);
        // A piece at an odd offset has its bytes in the other halves of the words: rotating
        // a 64-bit partial sum by 8 bits multiplies it by 2^8, which modulo 0xffff (a divisor
        // of 2^64 - 1) is the byte swap of the folded sum (Linux `csum_block_add`'s `ror32`).
        self.total = add64(self.total, if self.odd { p.rotate_left(8) } else { p });
        self.odd ^= piece.len() % 2 == 1;
    }

    /// The sum of the pieces added, as [`sum`] gives it.
    #[inline(always)]
    pub fn sum(self) -> u16 {
        u16::from_be(fold64(self.total))
    }
}

/// One's-complement sum of 16-bit sums, folded once (at most 65,537 of them: no carry is
/// lost in 32 bits).
#[inline(always)]
pub fn add_all<const N: usize>(sums: [u16; N]) -> u16 {
    let mut s: u32 = sums.iter().map(|&v| u32::from(v)).sum();
    s = (s & 0xffff) + (s >> 16);
    s = (s & 0xffff) + (s >> 16);
    s as u16
}

/// One's-complement addition of two 16-bit sums (Linux `csum_add`, folded).
pub fn add(a: u16, b: u16) -> u16 {
    let s = u32::from(a) + u32::from(b);
    ((s & 0xffff) + (s >> 16)) as u16
}

/// Adds the sum of a block that starts at byte offset `offset` of the checksummed data to the
/// running sum `acc`. A block at an odd offset has its bytes in the other halves of the 16-bit
/// words, so its sum is byte-swapped first (Linux `csum_block_add`). This is how the sums of a
/// packet's fragments combine without copying them together.
pub fn add_block(acc: u16, block_sum: u16, offset: usize) -> u16 {
    if offset % 2 == 1 {
        add(acc, block_sum.swap_bytes())
    } else {
        add(acc, block_sum)
    }
}

/// The Internet checksum of `data`: the complement of [`sum`]. Writing it into a zeroed checksum
/// field makes the sum over the whole header 0xffff, which is what [`verify`] checks.
#[inline]
pub fn checksum(data: &[u8]) -> u16 {
    !sum(data)
}

/// True when `data`, checksum field included, sums to 0xffff. (A sum of +0 only comes from
/// all-zero data, whose correct checksum is 0xffff, so a zero there is rightly rejected.)
#[inline(always)]
pub fn verify(data: &[u8]) -> bool {
    sum(data) == 0xffff
}

/// Sum of the IPv4 pseudo-header used by UDP and TCP (RFC 768, RFC 9293 §3.1): source and
/// destination addresses, protocol, and the transport length.
#[inline(always)]
pub fn pseudo_header_v4(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, len: u16) -> u16 {
    let s = src.octets();
    let d = dst.octets();
    let words = [
        u16::from_be_bytes([s[0], s[1]]),
        u16::from_be_bytes([s[2], s[3]]),
        u16::from_be_bytes([d[0], d[1]]),
        u16::from_be_bytes([d[2], d[3]]),
        u16::from(protocol),
        len,
    ];
    // Six words add up below 2^19: one plain sum, folded once at the end, instead of an
    // end-around carry after each.
    let total: u32 = words.iter().map(|&w| u32::from(w)).sum();
    fold64(u64::from(total))
}

/// Incrementally updates checksum field `check` after a 16-bit word of the covered data changed
/// from `old` to `new`, without re-reading the data (RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m')).
/// Eqn. 3 rather than RFC 1141's eqn. 2 so that the result is never the wrong zero (0x0000 for a
/// sum that should be 0xffff). Used for the TTL decrement when forwarding and for NAT.
pub fn update16(check: u16, old: u16, new: u16) -> u16 {
    !add(add(!check, !old), new)
}

/// [`update16`] for a 32-bit field (an IPv4 address or a TCP sequence number).
pub fn update32(check: u16, old: u32, new: u32) -> u16 {
    let c = update16(check, (old >> 16) as u16, (new >> 16) as u16);
    update16(c, old as u16, new as u16)
}

/// [`sum`] the way RFC 1071 writes it: one big-endian 16-bit word at a time, the carry folded
/// after each add. The reference [`sum`] is tested against, and the floor its bench measures
/// it against; much slower, same result.
pub fn rfc1071_sum(data: &[u8]) -> u16 {
    let mut s: u32 = 0;
    for w in data.chunks(2) {
        let hi = u32::from(w[0]) << 8;
        let lo = w.get(1).map_or(0, |b| u32::from(*b));
        s += hi | lo;
        s = (s & 0xffff) + (s >> 16);
    }
    s as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    /// xorshift64: deterministic pseudo-random bytes without a dependency.
    fn bytes(seed: u64, n: usize) -> Vec<u8> {
        let mut x = seed | 1;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    #[test]
    fn rfc1071_example() {
        // RFC 1071 §3: bytes 00 01 f2 03 f4 f5 f6 f7 sum to 0xddf2.
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(sum(&data), 0xddf2);
        assert_eq!(checksum(&data), !0xddf2);
    }

    #[test]
    fn fast_sum_matches_reference_for_all_lengths_and_alignments() {
        let data = bytes(0x1234_5678, 4096 + 64);
        for start in 0..8 {
            for len in (0..300).chain([1499, 1500, 4095, 4096]) {
                let d = &data[start..start + len];
                assert_eq!(sum(d), rfc1071_sum(d), "start {start} len {len}");
            }
        }
        // All-ones data exercises the carries hardest; over 1 MiB, the lanes fold mid-way.
        for len in [70_000, WIDE_BLOCK * LANE_BLOCKS * 2 + 130] {
            let ff = vec![0xffu8; len];
            assert_eq!(sum(&ff), rfc1071_sum(&ff), "len {len}");
        }
    }

    #[test]
    fn copy_and_sum_copies_and_sums_like_sum_at_every_length_and_alignment() {
        let data = bytes(0xc0de, 4096 + 64);
        for start in 0..4 {
            for len in (0..300).chain([1447, 1448, 1449, 4096]) {
                let src = &data[start..start + len];
                let mut out = vec![0u8; len + 3];
                let at = start % 3;
                let s = copy_and_sum(&mut out[at..at + len], src);
                assert_eq!(&out[at..at + len], src, "start {start} len {len}");
                assert_eq!(s, rfc1071_sum(src), "start {start} len {len}");
            }
        }
        // The block lanes directly, as compiled for the baseline target, and their mid-way
        // fold over more than LANE_BLOCKS blocks of all-ones.
        let ff = vec![0xffu8; WIDE_BLOCK * (LANE_BLOCKS + 3)];
        let mut out = vec![0u8; ff.len()];
        assert_eq!(
            u16::from_be(fold64(copy_sum_blocks(&mut out, &ff))),
            rfc1071_sum(&ff)
        );
        assert_eq!(out, ff);
        assert_eq!(copy_and_sum(&mut out, &ff), rfc1071_sum(&ff));
    }

    #[test]
    fn block_lanes_match_reference_in_every_build() {
        // `sum` takes the lanes only on a CPU with AVX2: check them directly too, as compiled
        // for the baseline target.
        let data = bytes(0x5eed, WIDE_BLOCK * 40);
        for blocks in 0..40 {
            let d = &data[..blocks * WIDE_BLOCK];
            assert_eq!(
                u16::from_be(fold64(sum_blocks(d))),
                rfc1071_sum(d),
                "{blocks} blocks"
            );
        }
        let ff = vec![0xffu8; WIDE_BLOCK * (LANE_BLOCKS + 3)];
        assert_eq!(u16::from_be(fold64(sum_blocks(&ff))), rfc1071_sum(&ff));
    }

    #[test]
    fn fast_sum_matches_reference_on_random_slices() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0x0c5e);
        let mut data = vec![0u8; 70_000];
        for round in 0..2000 {
            // Every tenth round runs of 0xff and 0x00, which carry the most and the least.
            if round % 10 == 0 {
                for b in data.iter_mut() {
                    *b = if rng.gen_bool(0.9) { 0xff } else { 0 };
                }
            } else if round % 10 == 1 {
                rng.fill(&mut data[..]);
            }
            let len = if rng.gen_bool(0.1) {
                rng.gen_range(0..65_536)
            } else {
                rng.gen_range(0..2_000)
            };
            let start = rng.gen_range(0..=data.len() - len);
            let d = &data[start..start + len];
            assert_eq!(
                sum(d),
                rfc1071_sum(d),
                "round {round} start {start} len {len}"
            );
        }
    }

    #[test]
    fn checksum_verifies() {
        let mut d = bytes(99, 40);
        d[10] = 0;
        d[11] = 0;
        let c = checksum(&d);
        d[10..12].copy_from_slice(&c.to_be_bytes());
        assert!(verify(&d));
        d[3] ^= 1;
        assert!(!verify(&d));
    }

    #[test]
    fn blocks_at_odd_offsets_combine() {
        let d = bytes(7, 1001);
        for split in [0, 1, 2, 3, 500, 777, 1000, 1001] {
            let (a, b) = d.split_at(split);
            let s = add_block(sum(a), sum(b), split);
            assert_eq!(s, sum(&d), "split {split}");
        }
    }

    #[test]
    fn pieces_of_any_length_sum_like_the_whole() {
        // Cuts of every kind: odd and even lengths, so pieces start at odd offsets; empty
        // pieces; short ones (in line) and long ones (the vector loop) side by side. All-ones
        // data makes every partial sum carry.
        let random = bytes(0xfeed, 9000);
        let ones = vec![0xffu8; 9000];
        let cut_lists: [&[usize]; 6] = [
            &[1, 1, 1, 4000],
            &[0, 3, 0, 61, 64, 127, 128, 1449],
            &[32, 1448, 7, 2000, 5],
            &[63, 63, 63, 63, 129, 1],
            &[8999, 1],
            &[9000],
        ];
        for data in [&random, &ones] {
            for cuts in cut_lists {
                let mut pieces = Vec::new();
                let mut at = 0;
                for &n in cuts {
                    pieces.push(&data[at..at + n]);
                    at += n;
                }
                let whole = &data[..at];
                assert_eq!(
                    sum_pieces(pieces.iter().copied()),
                    rfc1071_sum(whole),
                    "cuts {cuts:?}"
                );
            }
        }
    }

    #[test]
    fn incremental_update_matches_recompute() {
        for seed in 1..200u64 {
            let mut d = bytes(seed, 20);
            d[10] = 0;
            d[11] = 0;
            let c = checksum(&d);
            d[10..12].copy_from_slice(&c.to_be_bytes());
            // 16-bit change (like the TTL/protocol word on forwarding)
            let old = u16::from_be_bytes([d[8], d[9]]);
            let new = old.wrapping_sub(0x0100);
            d[8..10].copy_from_slice(&new.to_be_bytes());
            let c2 = update16(c, old, new);
            d[10..12].copy_from_slice(&c2.to_be_bytes());
            assert!(verify(&d), "seed {seed}");
            // 32-bit change (like NAT rewriting an address)
            let old32 = u32::from_be_bytes([d[12], d[13], d[14], d[15]]);
            let new32 = old32.rotate_left(7) ^ 0xdead_beef;
            d[12..16].copy_from_slice(&new32.to_be_bytes());
            let c3 = update32(c2, old32, new32);
            d[10..12].copy_from_slice(&c3.to_be_bytes());
            assert!(verify(&d), "seed {seed}");
        }
    }

    /// RFC 1624 eqn. 3 against recomputation: random packets, rewritten at random 16- and
    /// 32-bit positions with values biased towards 0x0000/0xffff, chained updates, and the
    /// result compared exactly (not just "verifies") with a fresh checksum. Also UDP: a
    /// "none" 0 stays 0 when untouched, a computed 0 is sent as 0xffff (CSUM_MANGLED_0).
    #[test]
    fn incremental_update_is_exact_against_recompute() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0x1624);
        let edge16 = |rng: &mut rand_chacha::ChaCha8Rng| -> u16 {
            match rng.gen_range(0..6) {
                0 => 0,
                1 => 0xffff,
                2 => rng.gen::<u16>() | 0xff00,
                _ => rng.gen(),
            }
        };
        let mut mangled = 0;
        for round in 0..200_000 {
            let len = 2 * rng.gen_range(4..40);
            let mut d: Vec<u8> = match round % 4 {
                0 => (0..len)
                    .map(|_| if rng.gen_bool(0.9) { 0xff } else { 0 })
                    .collect(),
                1 => (0..len)
                    .map(|_| if rng.gen_bool(0.9) { 0 } else { 0xff })
                    .collect(),
                _ => (0..len).map(|_| rng.gen()).collect(),
            };
            let ck = 2 * rng.gen_range(0..len / 2);
            d[ck] = 0;
            d[ck + 1] = 0;
            let mut c = checksum(&d);
            for _ in 0..rng.gen_range(1..4) {
                let at = loop {
                    let at = 2 * rng.gen_range(0..len / 2 - 1);
                    if at + 4 <= ck || at >= ck + 2 {
                        break at;
                    }
                };
                if rng.gen_bool(0.5) {
                    let old = u16::from_be_bytes([d[at], d[at + 1]]);
                    let new = edge16(&mut rng);
                    d[at..at + 2].copy_from_slice(&new.to_be_bytes());
                    c = update16(c, old, new);
                } else {
                    let o = u32::from_be_bytes([d[at], d[at + 1], d[at + 2], d[at + 3]]);
                    let n = (u32::from(edge16(&mut rng)) << 16) | u32::from(edge16(&mut rng));
                    d[at..at + 4].copy_from_slice(&n.to_be_bytes());
                    c = update32(c, o, n);
                }
                // All-zero data is the one case without a canonical answer (+0 vs -0).
                if d.iter().all(|&b| b == 0) {
                    break;
                }
                assert_eq!(c, checksum(&d), "round {round} data {d:02x?}");
                let mut full = d.clone();
                full[ck..ck + 2].copy_from_slice(&c.to_be_bytes());
                assert!(verify(&full), "round {round}");
                if c == 0 {
                    mangled += 1;
                }
            }
        }
        assert!(mangled > 0, "a result of 0x0000 was exercised");
        // The field itself at 0xffff / 0x0000: a UDP checksum sent as 0xffff for a computed 0.
        for _ in 0..100_000 {
            let old: u16 = edge16(&mut rng);
            let new: u16 = edge16(&mut rng);
            // A word w with checksum([w, old, field 0]) == 0: sent as 0xffff (CSUM_MANGLED_0).
            let w = !old;
            let mut d = [w.to_be_bytes(), old.to_be_bytes(), [0, 0]].concat();
            if d.iter().all(|&b| b == 0) {
                continue;
            }
            assert_eq!(checksum(&d), 0);
            let c = update16(0xffff, old, new);
            d[2..4].copy_from_slice(&new.to_be_bytes());
            let mut fresh = checksum(&d);
            let mut inc = c;
            // Both are "the checksum is zero" in one's complement; UDP sends either as 0xffff.
            for x in [&mut fresh, &mut inc] {
                if *x == 0 {
                    *x = 0xffff;
                }
            }
            assert_eq!(inc, fresh, "old {old:04x} new {new:04x}");
        }
    }

    #[test]
    fn pseudo_header_matches_bytes() {
        let src = Ipv4Addr::new(10, 99, 0, 1);
        let dst = Ipv4Addr::new(10, 99, 0, 2);
        let ph = [10, 99, 0, 1, 10, 99, 0, 2, 0, 17, 0, 20];
        assert_eq!(pseudo_header_v4(src, dst, 17, 20), sum(&ph));
    }
}
