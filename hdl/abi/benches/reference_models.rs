//! Figures for the reference models: ns per Toeplitz hash (both variants) and checksum
//! throughput next to a plain memcpy of the same buffers.

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use oxnic_abi::features::DEFAULT_RSS_KEY;
use oxnic_abi::{checksum, toeplitz};

fn toeplitz_bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("toeplitz");
    let t2 = toeplitz::ipv4_2tuple([66, 9, 149, 187], [161, 142, 100, 80]);
    let t4 = toeplitz::ipv4_4tuple([66, 9, 149, 187], [161, 142, 100, 80], 2794, 1766);
    g.bench_function("bitwise/ipv4", |b| {
        b.iter(|| toeplitz::hash(&DEFAULT_RSS_KEY, black_box(&t2)))
    });
    g.bench_function("bitwise/ipv4_tcp", |b| {
        b.iter(|| toeplitz::hash(&DEFAULT_RSS_KEY, black_box(&t4)))
    });
    let table = toeplitz::Table::new(&DEFAULT_RSS_KEY);
    g.bench_function("table/ipv4", |b| b.iter(|| table.hash(black_box(&t2))));
    g.bench_function("table/ipv4_tcp", |b| b.iter(|| table.hash(black_box(&t4))));
    g.bench_function("table/build", |b| {
        b.iter(|| toeplitz::Table::new(black_box(&DEFAULT_RSS_KEY)))
    });
    g.finish();
}

fn checksum_bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("checksum_vs_memcpy");
    for size in [64usize, 1500, 9000, 65536] {
        let src: Vec<u8> = (0..size).map(|i| (i * 31 + 7) as u8).collect();
        let mut dst = vec![0u8; size];
        g.throughput(Throughput::Bytes(size as u64));
        g.bench_with_input(BenchmarkId::new("checksum", size), &src, |b, s| {
            b.iter(|| checksum::checksum(black_box(s)))
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

criterion_group!(benches, toeplitz_bench, checksum_bench);
criterion_main!(benches);
