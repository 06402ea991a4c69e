//! Port bookkeeping figures: the time to open several thousand TCP or UDP sockets on one
//! stack, where every open checks its port against the sockets already there (connect's and
//! bind's ephemeral port pickers, bind conflicts) and takes a free slot. With the port index
//! each check looks only at the sockets on that port, and the free slots are kept in a heap,
//! so the time per open stays flat as the table grows; a scan of every socket makes opening N
//! sockets cost O(N²).
//!
//! `cargo bench -p oxnic-stack --bench ports -- --quick`

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use oxnic_stack::netsim::{two_hosts, Net};
use oxnic_stack::DeviceCaps;
use std::hint::black_box;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

/// Sockets opened per measured iteration.
const N: u16 = 4000;

fn fresh() -> Net {
    two_hosts(DeviceCaps::default(), Duration::from_millis(1)).0
}

fn open_many(c: &mut Criterion) {
    let mut g = c.benchmark_group("ports");
    g.throughput(Throughput::Elements(u64::from(N)));
    g.sample_size(10);
    let server = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 80);
    // connect() with an ephemeral port, N times: the picker checks each candidate port.
    g.bench_function("connect_4000_ephemeral", |b| {
        b.iter_batched(
            fresh,
            |mut net| {
                let now = net.now();
                for _ in 0..N {
                    black_box(net.stacks[0].tcp_connect(server, now).unwrap());
                }
                net
            },
            BatchSize::PerIteration,
        )
    });
    // connect() from a chosen port (bind + connect), N times: a bind conflict check each.
    g.bench_function("connect_4000_bound", |b| {
        b.iter_batched(
            fresh,
            |mut net| {
                let now = net.now();
                for i in 0..N {
                    let local = SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 10_000 + i);
                    black_box(net.stacks[0].tcp_connect_from(local, server, now).unwrap());
                }
                net
            },
            BatchSize::PerIteration,
        )
    });
    // listen() on N ports: a bind conflict check each.
    g.bench_function("listen_4000", |b| {
        b.iter_batched(
            fresh,
            |mut net| {
                for i in 0..N {
                    let local = SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 10_000 + i);
                    black_box(net.stacks[0].tcp_listen(local, 16).unwrap());
                }
                net
            },
            BatchSize::PerIteration,
        )
    });
    // UDP bind to port 0, N times: the picker checks each candidate port, and the socket
    // takes a free slot.
    g.bench_function("udp_bind_4000_ephemeral", |b| {
        b.iter_batched(
            fresh,
            |mut net| {
                let any = SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0);
                for _ in 0..N {
                    black_box(net.stacks[0].udp_bind(any).unwrap());
                }
                net
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

criterion_group!(benches, open_many);
criterion_main!(benches);
