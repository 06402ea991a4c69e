//! Helpers for stack tests and benches: the in-memory network from [`oxnic_stack::netsim`]
//! re-exported under the names the tests use, and builders for hand-made frames.
#![allow(dead_code, unused_imports)]

pub use oxnic_stack::netsim::{
    mac, three_hosts, two_hosts, two_hosts_configured, two_hosts_with, Direction, End, Link,
    LinkConfig, LinkStats, Net, NetError, DEFAULT_SEED,
};
use oxnic_stack::wire::ethernet::EthernetAddress;
use std::net::Ipv4Addr;

pub fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

use oxnic_stack::wire::checksum::ChecksumMode;
use oxnic_stack::wire::ethernet::{ethertype, EthernetRepr};
use oxnic_stack::wire::ipv4::{protocol, Ipv4Options, Ipv4Repr};
use oxnic_stack::wire::tcp::{TcpFlags, TcpOptions, TcpRepr, TcpTimestamps};
use oxnic_stack::wire::udp::UdpRepr;

/// Addresses of a hand-built frame.
#[derive(Clone, Copy)]
pub struct Addrs {
    pub src_mac: EthernetAddress,
    pub dst_mac: EthernetAddress,
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
}

pub fn ipv4(a: &Addrs, proto: u8, ident: u16, ttl: u8, payload_len: usize) -> Ipv4Repr {
    Ipv4Repr {
        src: a.src,
        dst: a.dst,
        protocol: proto,
        ttl,
        dscp: 0,
        ecn: 0,
        ident,
        dont_frag: false,
        more_frags: false,
        frag_offset: 0,
        payload_len,
        options: Ipv4Options::default(),
    }
}

/// Ethernet + the IPv4 header `ip` + `l4` bytes.
pub fn ip_frame(a: &Addrs, ip: &Ipv4Repr, l4: &[u8]) -> Vec<u8> {
    let mut f = vec![0; 14 + ip.header_len() + l4.len()];
    EthernetRepr {
        dst: a.dst_mac,
        src: a.src_mac,
        ethertype: ethertype::IPV4,
    }
    .emit(&mut f)
    .unwrap();
    let hl = ip.emit(&mut f[14..], ChecksumMode::Software).unwrap();
    f[14 + hl..].copy_from_slice(l4);
    f
}

pub fn udp_frame(a: &Addrs, sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut l4 = vec![0; 8 + payload.len()];
    l4[8..].copy_from_slice(payload);
    UdpRepr {
        src_port: sport,
        dst_port: dport,
    }
    .emit(&mut l4, payload.len(), a.src, a.dst, ChecksumMode::Software)
    .unwrap();
    ip_frame(a, &ipv4(a, protocol::UDP, 1, 64, l4.len()), &l4)
}

/// A TCP segment with the timestamp option (as Linux sends bulk data).
pub fn tcp_frame(a: &Addrs, ident: u16, seq: u32, flags: u16, payload: &[u8]) -> Vec<u8> {
    let repr = TcpRepr {
        src_port: 40000,
        dst_port: 5001,
        seq,
        ack: 1000,
        flags: TcpFlags(flags | TcpFlags::ACK),
        window: 502,
        urgent: 0,
        options: TcpOptions {
            timestamps: Some(TcpTimestamps {
                tsval: 77,
                tsecr: 88,
            }),
            ..TcpOptions::default()
        },
    };
    let hl = repr.header_len().unwrap();
    let mut l4 = vec![0; hl + payload.len()];
    l4[hl..].copy_from_slice(payload);
    repr.emit(&mut l4, payload.len(), a.src, a.dst, ChecksumMode::Software)
        .unwrap();
    ip_frame(a, &ipv4(a, protocol::TCP, ident, 64, l4.len()), &l4)
}

/// A listener on B (stack 1) port 80 and a connection to it from A (stack 0), accepted
/// after `settle` of virtual time: (listener, A's socket, B's socket).
pub fn tcp_connected(
    net: &mut Net,
    settle: std::time::Duration,
) -> (
    oxnic_stack::tcp::TcpHandle,
    oxnic_stack::tcp::TcpHandle,
    oxnic_stack::tcp::TcpHandle,
) {
    use std::net::SocketAddrV4;
    let now = net.now();
    let l = net.stacks[1]
        .tcp_listen(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 80), 16)
        .unwrap();
    let c = net.stacks[0]
        .tcp_connect(SocketAddrV4::new(ip("10.0.0.2"), 80), now)
        .unwrap();
    net.run_for(settle).unwrap();
    let (s, _) = net.stacks[1].tcp_accept(l).unwrap();
    (l, c, s)
}

/// TCP settings with keepalive after 10 s idle, probes every 2 s, 3 of them.
pub fn keepalive_10s_2s_3() -> oxnic_stack::tcp::TcpConfig {
    oxnic_stack::tcp::TcpConfig {
        keepalive_time: std::time::Duration::from_secs(10),
        keepalive_intvl: std::time::Duration::from_secs(2),
        keepalive_probes: 3,
        ..oxnic_stack::tcp::TcpConfig::default()
    }
}
