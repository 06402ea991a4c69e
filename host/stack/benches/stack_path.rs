//! Stack path figures: 64-byte UDP datagrams per second between two in-memory stacks on one
//! core (send, IP output, ARP-resolved neighbour, qdisc, device queue, wire copy, RX path,
//! socket queue, recv), and the software GRO merge rate.
//!
//! `cargo bench -p oxnic-stack --bench stack_path -- --quick`

#[path = "../tests/common/mod.rs"]
mod common;

use common::{ip, mac, tcp_frame, two_hosts, Addrs};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use oxnic_stack::gro::Gro;
use oxnic_stack::pktbuf::PacketBuf;
use oxnic_stack::time::Instant;
use oxnic_stack::DeviceCaps;
use std::hint::black_box;
use std::net::SocketAddrV4;
use std::time::Duration;

const BATCH: usize = 64;

fn udp_64_bytes(c: &mut Criterion) {
    let mut g = c.benchmark_group("stack_path");
    g.throughput(Throughput::Elements(BATCH as u64));
    for (name, caps) in [
        ("udp64_two_stacks_sw_csum", DeviceCaps::default()),
        (
            "udp64_two_stacks_csum_offload",
            DeviceCaps::all_offloads(1500),
        ),
    ] {
        let (mut net, _, _) = two_hosts(caps, Duration::ZERO);
        let srv = net.stacks[1]
            .udp_bind(SocketAddrV4::new(ip("0.0.0.0"), 9))
            .unwrap();
        net.stacks[1].udp_set_rcvbuf(srv, 4 * BATCH).unwrap();
        let cli = net.stacks[0]
            .udp_bind(SocketAddrV4::new(ip("0.0.0.0"), 0))
            .unwrap();
        let to = SocketAddrV4::new(ip("10.0.0.2"), 9);
        let payload = [0xabu8; 64];
        // Resolve ARP once, outside the measurement.
        let now = net.now();
        net.stacks[0].udp_send_to(cli, &payload, to, now).unwrap();
        net.run_for(Duration::from_millis(1)).unwrap();
        let mut buf = [0u8; 128];
        while net.stacks[1].udp_recv_from(srv, &mut buf).is_ok() {}
        g.bench_function(name, |b| {
            b.iter(|| {
                let now = net.now();
                for _ in 0..BATCH {
                    net.stacks[0].udp_send_to(cli, &payload, to, now).unwrap();
                }
                net.run_for(Duration::from_micros(1)).unwrap();
                let mut n = 0;
                while let Ok((len, _)) = net.stacks[1].udp_recv_from(srv, &mut buf) {
                    n += len;
                }
                assert_eq!(n, BATCH * 64);
                black_box(n)
            })
        });
    }
    g.finish();
}

fn gro_merge(c: &mut Criterion) {
    let a = Addrs {
        src_mac: mac(0, 1),
        dst_mac: mac(1, 1),
        src: ip("10.0.0.1"),
        dst: ip("10.0.0.2"),
    };
    let frames: Vec<PacketBuf> = (0..BATCH)
        .map(|i| {
            let f = tcp_frame(&a, i as u16, (i * 1448) as u32, 0, &[7u8; 1448]);
            PacketBuf::from_slice(0, &f)
        })
        .collect();
    let mut g = c.benchmark_group("stack_path");
    g.throughput(Throughput::Elements(BATCH as u64));
    g.bench_function("gro_merge_1448B_segments", |b| {
        let mut gro = Gro::default();
        let mut out = Vec::with_capacity(BATCH);
        b.iter(|| {
            for f in &frames {
                gro.receive(f.clone(), Instant::ZERO, &mut out);
            }
            gro.flush(&mut out);
            let n = out.len();
            out.clear();
            black_box(n)
        })
    });
    g.finish();
}

criterion_group!(benches, udp_64_bytes, gro_merge);
criterion_main!(benches);
