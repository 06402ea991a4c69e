//! What open connections cost a poll that has nothing to do: one [`Stack::poll`] and one
//! [`Stack::poll_at`] on a stack holding N established, idle TCP connections (no data, no
//! keepalive). A poller calls both on every turn, so this is the floor of every turn's cost;
//! it should not grow with connections that have no timer due.
//!
//! `timers_due_at_once`: one poll at the instant the keepalive timers of N connections, all
//! switched on together, come due: every connection's timer runs (a probe each), so the poll
//! is O(N) at best; the timer index must not make it worse than that.
//!
//! `cargo bench -p oxnic-stack --bench idle_conns -- --quick`
//!
//! [`Stack::poll`]: oxnic_stack::Stack::poll
//! [`Stack::poll_at`]: oxnic_stack::Stack::poll_at

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion};
use oxnic_stack::netsim::{two_hosts, Net};
use oxnic_stack::DeviceCaps;
use std::hint::black_box;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

/// Two stacks with `n` established connections from stack 0 to stack 1, everything sent and
/// acknowledged.
fn with_connections(n: usize) -> Net {
    let (mut net, _, _) = two_hosts(DeviceCaps::default(), Duration::from_micros(50));
    let any = SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 80);
    let server = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 80);
    let lis = net.stacks[1].tcp_listen(any, 1024).expect("listen");
    let mut accepted = 0;
    while accepted < n {
        let now = net.now();
        for _ in 0..(n - accepted).min(512) {
            net.stacks[0].tcp_connect(server, now).expect("connect");
        }
        net.run_for(Duration::from_millis(5)).expect("handshakes");
        while net.stacks[1].tcp_accept(lis).is_ok() {
            accepted += 1;
        }
    }
    // Past every handshake timer and delayed ACK.
    net.run_for(Duration::from_secs(1)).expect("settle");
    net
}

fn idle_poll(c: &mut Criterion) {
    let mut g = c.benchmark_group("idle_conns");
    for n in [10, 1000, 10_000] {
        let mut net = with_connections(n);
        let now = net.now();
        g.bench_with_input(BenchmarkId::new("poll_and_poll_at", n), &n, |b, _| {
            b.iter(|| {
                let s = &mut net.stacks[0];
                black_box(s.poll(now));
                black_box(s.poll_at(now))
            })
        });
    }
    g.finish();
}

fn timers_due_at_once(c: &mut Criterion) {
    let mut g = c.benchmark_group("timers_due_at_once");
    g.sample_size(10);
    for n in [100, 2000] {
        g.bench_with_input(BenchmarkId::new("poll", n), &n, |b, &n| {
            b.iter_batched(
                || {
                    let mut net = with_connections(n);
                    let now = net.now();
                    let s = &mut net.stacks[0];
                    let handles: Vec<_> = s.tcp_sockets().collect();
                    for h in handles {
                        s.tcp_set_keepalive(h, true, now).expect("open");
                    }
                    // The default `tcp_keepalive_time`: every connection's first probe is due.
                    (net, now + Duration::from_secs(7200))
                },
                |(mut net, due)| {
                    black_box(net.stacks[0].poll(due));
                    net
                },
                BatchSize::PerIteration,
            )
        });
    }
    g.finish();
}

criterion_group!(benches, idle_poll, timers_due_at_once);
criterion_main!(benches);
