//! Internet checksum throughput next to memcpy of the same sizes (a 20-byte header, 64 B, a
//! 1448-byte TCP payload, 1500 B, 9000 B, 64 KiB): the checksum reads each byte once, so
//! memcpy (a read and a write) is its natural ceiling. `rfc1071_loop` is the textbook loop (one
//! 16-bit word and one fold at a time), the floor the wide version is measured against.
//! Run: `cargo bench -p oxnic-stack --bench checksum`.

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use oxnic_stack::wire::checksum;

/// RFC 1071's loop as written there (big-endian 16-bit words, carry folded after each add),
/// complemented like [`checksum::checksum`].
fn rfc1071_loop(data: &[u8]) -> u16 {
    !checksum::rfc1071_sum(data)
}

fn bench_checksum(c: &mut Criterion) {
    let mut g = c.benchmark_group("checksum_vs_memcpy");
    for size in [20usize, 64, 1448, 1500, 9000, 65536] {
        let src: Vec<u8> = (0..size).map(|i| (i * 7 + 3) as u8).collect();
        let mut dst = vec![0u8; size];
        assert_eq!(checksum::checksum(&src), rfc1071_loop(&src));
        g.throughput(Throughput::Bytes(size as u64));
        g.bench_with_input(BenchmarkId::new("checksum", size), &src, |b, s| {
            b.iter(|| checksum::checksum(black_box(s)))
        });
        g.bench_with_input(BenchmarkId::new("rfc1071_loop", size), &src, |b, s| {
            b.iter(|| rfc1071_loop(black_box(s)))
        });
        g.bench_with_input(BenchmarkId::new("memcpy", size), &src, |b, s| {
            b.iter(|| {
                dst.copy_from_slice(black_box(s));
                black_box(&dst);
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench_checksum);
criterion_main!(benches);
