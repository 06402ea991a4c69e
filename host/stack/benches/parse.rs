//! Parse-and-validate rate of the wire layer: a whole Ethernet/IPv4/UDP frame (header checksum
//! and UDP checksum verified in software, as without RX checksum offload) and a TCP header with
//! Linux's SYN options. Run: `cargo bench -p oxnic-stack --bench parse`.

use core::net::Ipv4Addr;
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use oxnic_stack::wire::checksum::ChecksumMode;
use oxnic_stack::wire::ethernet::{ethertype, EthernetAddress, EthernetRepr};
use oxnic_stack::wire::ipv4::{protocol, Ipv4Repr};
use oxnic_stack::wire::tcp::TcpRepr;
use oxnic_stack::wire::udp::UdpRepr;

const SRC: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 1);
const DST: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 2);

/// Linux's SYN (tests/fixtures/tcp_syn.hex): MSS, SACK-permitted, timestamps, NOP, wscale.
const SYN: [u8; 40] = [
    0x9c, 0x42, 0x1f, 0x90, 0xc0, 0x31, 0x6c, 0x76, 0x00, 0x00, 0x00, 0x00, 0xa0, 0x02, 0xfa, 0xf0,
    0x51, 0xda, 0x00, 0x00, 0x02, 0x04, 0x05, 0xb4, 0x04, 0x02, 0x08, 0x0a, 0x69, 0xa5, 0x94, 0x49,
    0x00, 0x00, 0x00, 0x00, 0x01, 0x03, 0x03, 0x0a,
];

/// An Ethernet/IPv4/UDP frame with `payload` bytes of UDP payload.
fn udp_frame(payload: usize) -> Vec<u8> {
    let mut f = vec![0u8; 14 + 20 + 8 + payload];
    for (i, b) in f[42..].iter_mut().enumerate() {
        *b = i as u8;
    }
    let udp_len = 8 + payload;
    UdpRepr {
        src_port: 40000,
        dst_port: 5000,
    }
    .emit(&mut f[34..], payload, SRC, DST, ChecksumMode::Software)
    .unwrap();
    Ipv4Repr {
        src: SRC,
        dst: DST,
        protocol: protocol::UDP,
        ttl: 64,
        dscp: 0,
        ecn: 0,
        ident: 1,
        dont_frag: true,
        more_frags: false,
        frag_offset: 0,
        payload_len: udp_len,
        options: Default::default(),
    }
    .emit(&mut f[14..], ChecksumMode::Software)
    .unwrap();
    EthernetRepr {
        dst: EthernetAddress([2, 0, 0, 0, 0, 0x0b]),
        src: EthernetAddress([2, 0, 0, 0, 0, 0x0a]),
        ethertype: ethertype::IPV4,
    }
    .emit(&mut f)
    .unwrap();
    f
}

fn parse_udp_frame(frame: &[u8], mode: ChecksumMode) -> usize {
    let (eth, l3) = EthernetRepr::parse(frame).unwrap();
    assert_eq!(eth.ethertype, ethertype::IPV4);
    let (ip, l4) = Ipv4Repr::parse(l3, mode).unwrap();
    let (udp, payload) = UdpRepr::parse(l4, ip.src, ip.dst, mode).unwrap();
    usize::from(udp.dst_port) + payload.len()
}

fn bench_parse(c: &mut Criterion) {
    let mut g = c.benchmark_group("parse");
    g.throughput(Throughput::Elements(1));
    for payload in [18usize, 1472] {
        let frame = udp_frame(payload);
        g.bench_function(format!("eth_ipv4_udp_{}B_sw_checksums", frame.len()), |b| {
            b.iter(|| parse_udp_frame(black_box(&frame), ChecksumMode::Software))
        });
        g.bench_function(format!("eth_ipv4_udp_{}B_offloaded", frame.len()), |b| {
            b.iter(|| parse_udp_frame(black_box(&frame), ChecksumMode::Offloaded))
        });
    }
    g.bench_function("tcp_syn_options_sw_checksum", |b| {
        b.iter(|| TcpRepr::parse(black_box(&SYN), SRC, DST, ChecksumMode::Software).unwrap())
    });
    g.bench_function("tcp_syn_options_offloaded", |b| {
        b.iter(|| TcpRepr::parse(black_box(&SYN), SRC, DST, ChecksumMode::Offloaded).unwrap())
    });
    g.finish();
}

criterion_group!(benches, bench_parse);
criterion_main!(benches);
