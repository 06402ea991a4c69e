//! 127.0.0.0/8 is this host, as Linux's `lo` makes it: the local table's `local 127.0.0.0/8
//! dev lo src 127.0.0.1` takes every 127.x.y.z as an address of this host, traffic to them
//! never reaches a device, a 127/8 source never leaves on one (`__mkroute_output`: EINVAL),
//! and a datagram from the wire to or from 127/8 is a martian (`ip_route_input_slow`).
//!
//! A = 10.0.0.1 (stack 0) and B = 10.0.0.2 (stack 1) on one link; A's default route goes
//! through B, so anything A wrongly routed would leave by its device, which a tap watches.

mod common;

use common::{ip, two_hosts, Addrs, Net};
use oxnic_stack::icmp::{IcmpEvent, PingOptions};
use oxnic_stack::ip_output::SendError;
use oxnic_stack::packet_tap::{TapId, TapPoint};
use oxnic_stack::route::Route;
use oxnic_stack::tcp::{TcpError, TcpHandle, TcpState};
use oxnic_stack::time::Instant;
use oxnic_stack::udp::UdpError;
use oxnic_stack::wire::arp::{ArpOperation, ArpRepr};
use oxnic_stack::wire::ethernet::{ethertype, EthernetAddress, EthernetRepr};
use oxnic_stack::wire::tcp::{TcpFlags, TcpOptions, TcpRepr};
use oxnic_stack::{DeviceCaps, Stack, StackConfig};
use std::net::SocketAddrV4;
use std::time::Duration;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn sa(s: &str, port: u16) -> SocketAddrV4 {
    SocketAddrV4::new(ip(s), port)
}

/// Two hosts with A's default route through B, and a tap on A's device's transmit side.
fn setup() -> (Net, TapId) {
    let (mut net, a_if, _) = two_hosts(DeviceCaps::default(), ms(1));
    net.stacks[0]
        .routes_mut()
        .add(Route::default_via(ip("10.0.0.2"), a_if))
        .unwrap();
    net.run_for(ms(5)).unwrap();
    let tap = net.stacks[0].add_tap(TapPoint::WireTx, Some(a_if), 100);
    (net, tap)
}

/// Nothing left A's device (not even an ARP request for the gateway) and B received nothing.
fn assert_nothing_left(net: &mut Net, tap: TapId) {
    assert_eq!(
        net.stacks[0].tap_take(tap).unwrap().len(),
        0,
        "frames left A's device"
    );
    assert_eq!(net.stacks[1].snmp().ip.in_receives, 0, "B received IP");
}

#[test]
fn every_127_address_is_this_host() {
    let (net, _) = setup();
    let a = &net.stacks[0];
    for addr in ["127.0.0.1", "127.0.0.2", "127.1.2.3", "127.255.255.254"] {
        assert!(a.is_local_addr(ip(addr)), "{addr}");
    }
    assert!(!a.is_local_addr(ip("128.0.0.1")));
    assert!(!a.is_local_addr(ip("126.255.255.255")));
}

/// A segmented send to this host goes as its datagrams one by one, each held to the UDP
/// limit on its own: 64 of 1400 bytes (89,600, over one datagram's 65,507) all arrive. To
/// another host the same send is one super-packet, too long.
#[test]
fn a_segmented_send_to_this_host_is_its_datagrams_one_by_one() {
    let (mut net, _) = setup();
    let s = &mut net.stacks[0];
    let srv = s.udp_bind(sa("127.0.0.1", 7)).unwrap();
    s.udp_set_rcvbuf(srv, 100).unwrap();
    let cli = s.udp_bind(sa("0.0.0.0", 0)).unwrap();
    let data = vec![5u8; 64 * 1400];
    let now = net.now();
    assert_eq!(
        net.stacks[0].udp_send_to_segmented(cli, &data, sa("10.0.0.2", 7), 1400, now),
        Err(UdpError::TooLong)
    );
    assert_eq!(
        net.stacks[0].udp_send_to_segmented(cli, &data, sa("127.0.0.1", 7), 1400, now),
        Ok(data.len())
    );
    net.run_for(ms(5)).unwrap();
    assert_eq!(net.stacks[0].udp_recv_queue_len(srv), Ok(64));
}

/// `udp_sendmsg` to 127/8 goes by the local route: the datagram reaches a socket bound to
/// that address (or to the wildcard) from 127.0.0.1, the route's preferred source, and no
/// frame leaves, though a default route would carry it off.
#[test]
fn udp_to_127_is_delivered_here_from_127_0_0_1() {
    let (mut net, tap) = setup();
    let s = &mut net.stacks[0];
    let one = s.udp_bind(sa("127.0.0.1", 7)).unwrap();
    let other = s.udp_bind(sa("127.3.4.5", 7)).unwrap();
    let any = s.udp_bind(sa("0.0.0.0", 9)).unwrap();
    let cli = s.udp_bind(sa("0.0.0.0", 0)).unwrap();
    let now = net.now();
    for (dst, data) in [
        (sa("127.0.0.1", 7), &b"one"[..]),
        (sa("127.3.4.5", 7), b"other"),
        (sa("127.255.255.254", 9), b"any"),
    ] {
        net.stacks[0].udp_send_to(cli, data, dst, now).unwrap();
    }
    // One by one: loopback has no device to cut a super-packet.
    net.stacks[0]
        .udp_send_to_segmented(cli, b"aabbc", sa("127.0.0.1", 7), 2, now)
        .unwrap();
    net.run_for(ms(5)).unwrap();
    let port = net.stacks[0].udp_local_addr(cli).unwrap().port();
    let mut buf = [0; 16];
    let mut got = |h| {
        let mut v = Vec::new();
        while let Ok((n, from)) = net.stacks[0].udp_recv_from(h, &mut buf) {
            v.push((buf[..n].to_vec(), from));
        }
        v
    };
    let from = sa("127.0.0.1", port);
    assert_eq!(
        got(one),
        [
            (b"one".to_vec(), from),
            (b"aa".to_vec(), from),
            (b"bb".to_vec(), from),
            (b"c".to_vec(), from)
        ]
    );
    assert_eq!(got(other), [(b"other".to_vec(), from)]);
    assert_eq!(got(any), [(b"any".to_vec(), from)]);
    assert_nothing_left(&mut net, tap);
}

/// A connected UDP socket to a closed 127.0.0.1 port learns ECONNREFUSED from the port
/// unreachable this host sends itself over `lo`.
#[test]
fn udp_to_a_closed_127_port_is_refused() {
    let (mut net, tap) = setup();
    let cli = net.stacks[0].udp_bind(sa("0.0.0.0", 0)).unwrap();
    net.stacks[0]
        .udp_connect(cli, sa("127.0.0.1", 4444))
        .unwrap();
    assert_eq!(
        net.stacks[0].udp_local_addr(cli).unwrap().ip(),
        &ip("127.0.0.1")
    );
    let now = net.now();
    net.stacks[0].udp_send(cli, b"anyone?", now).unwrap();
    net.run_for(ms(5)).unwrap();
    assert_eq!(
        net.stacks[0].udp_take_error(cli).unwrap(),
        Some(UdpError::ConnectionRefused)
    );
    assert_eq!(net.stacks[0].snmp().udp.no_ports, 1);
    assert_nothing_left(&mut net, tap);
}

/// A listener on 127.0.0.1 takes a connection from this host: its source is 127.0.0.1,
/// segments go over loopback at `lo`'s MTU (65536: an MSS of 65495, as Linux's
/// `ipv4_default_advmss`), and nothing leaves. A connect to another 127/8 address reaches a
/// wildcard listener, again from 127.0.0.1.
#[test]
fn tcp_over_127_stays_in_the_host() {
    let (mut net, tap) = setup();
    let l = net.stacks[0].tcp_listen(sa("127.0.0.1", 7000), 4).unwrap();
    let wild = net.stacks[0].tcp_listen(sa("0.0.0.0", 7001), 4).unwrap();
    for (listener, to) in [(l, sa("127.0.0.1", 7000)), (wild, sa("127.9.9.9", 7001))] {
        let now = net.now();
        let c = net.stacks[0].tcp_connect(to, now).unwrap();
        assert_eq!(net.stacks[0].tcp_peer_addr(c), Ok(to));
        let local = net.stacks[0].tcp_local_addr(c).unwrap();
        assert_eq!(local.ip(), &ip("127.0.0.1"), "to {to}");
        net.run_for(ms(1)).unwrap();
        assert_eq!(net.stacks[0].tcp_state(c), Ok(TcpState::Established));
        let (s, from) = net.stacks[0].tcp_accept(listener).unwrap();
        assert_eq!(from, local);
        assert_eq!(net.stacks[0].tcp_local_addr(s), Ok(to));
        assert_eq!(net.stacks[0].tcp_info(c).unwrap().snd_mss, 65_495);
        let (sent, got) = send_and_read(&mut net, c, s, 7);
        assert_eq!(got.len(), sent);
        assert!(got.iter().all(|&b| b == 7));
    }
    assert_nothing_left(&mut net, tap);
}

/// Stack 0's connection `c` sends 100,000 bytes of `byte`, and after 5 ms its peer `s` reads
/// once: (the bytes the send took, the bytes read).
fn send_and_read(net: &mut Net, c: TcpHandle, s: TcpHandle, byte: u8) -> (usize, Vec<u8>) {
    let now = net.now();
    let sent = net.stacks[0].tcp_send(c, &[byte; 100_000], now).unwrap();
    net.run_for(ms(5)).unwrap();
    let mut buf = vec![0; 200_000];
    let now = net.now();
    let n = net.stacks[0].tcp_recv(s, &mut buf, now).unwrap();
    buf.truncate(n);
    (sent, buf)
}

fn ping_opts(seq: u16) -> PingOptions {
    PingOptions {
        ident: 7,
        seq,
        ttl: None,
        dont_frag: false,
    }
}

/// `ping 127.x.y.z` is answered by this host, from the address pinged.
#[test]
fn a_ping_to_127_is_answered_here() {
    let (mut net, tap) = setup();
    let now = net.now();
    net.stacks[0]
        .ping(ip("127.0.0.1"), ping_opts(1), b"lo", now)
        .unwrap();
    net.stacks[0]
        .ping(ip("127.1.1.1"), ping_opts(2), b"lo", now)
        .unwrap();
    net.run_for(ms(5)).unwrap();
    let replies: Vec<_> = net.stacks[0]
        .icmp_events()
        .into_iter()
        .filter_map(|e| match e {
            IcmpEvent::EchoReply { from, seq, .. } => Some((from, seq)),
            _ => None,
        })
        .collect();
    assert_eq!(replies, [(ip("127.0.0.1"), 1), (ip("127.1.1.1"), 2)]);
    assert_nothing_left(&mut net, tap);
}

/// A network namespace with nothing but `lo` still talks to itself: a stack without a
/// single interface sends to 127.0.0.1, and to 0.0.0.0, which is 127.0.0.1 too.
#[test]
fn a_stack_without_interfaces_has_127_0_0_1() {
    let mut s = Stack::new(StackConfig::default());
    let now = Instant::from_millis(1);
    let srv = s.udp_bind(sa("127.0.0.1", 7)).unwrap();
    let cli = s.udp_bind(sa("0.0.0.0", 0)).unwrap();
    s.udp_send_to(cli, b"lo", sa("127.0.0.1", 7), now).unwrap();
    s.udp_send_to(cli, b"any", sa("0.0.0.0", 7), now).unwrap();
    s.poll(now);
    let port = s.udp_local_addr(cli).unwrap().port();
    let mut buf = [0; 8];
    for want in [&b"lo"[..], b"any"] {
        let (n, from) = s.udp_recv_from(srv, &mut buf).unwrap();
        assert_eq!((&buf[..n], from), (want, sa("127.0.0.1", port)));
    }
}

/// `__mkroute_output`: a 127/8 source never leaves on a real interface; sending from one
/// to an address off this host is EINVAL, for UDP and for a TCP connect alike. To one of
/// this host's own addresses it is fine: that is local, over `lo`.
#[test]
fn a_127_source_never_leaves_the_host() {
    let (mut net, tap) = setup();
    let now = net.now();
    let s = &mut net.stacks[0];
    let lo = s.udp_bind(sa("127.0.0.1", 0)).unwrap();
    assert_eq!(
        s.udp_send_to(lo, b"out", sa("10.0.0.2", 9), now),
        Err(UdpError::Send(SendError::LoopbackSource))
    );
    assert_eq!(
        s.udp_send_to(lo, b"far", sa("192.0.2.1", 9), now),
        Err(UdpError::Send(SendError::LoopbackSource))
    );
    assert_eq!(
        s.udp_connect(lo, sa("10.0.0.2", 9)),
        Err(UdpError::Send(SendError::LoopbackSource))
    );
    assert_eq!(
        s.tcp_connect_from(sa("127.0.0.1", 0), sa("10.0.0.2", 80), now)
            .unwrap_err(),
        TcpError::InvalidArgument
    );
    let own = s.udp_bind(sa("10.0.0.1", 9)).unwrap();
    s.udp_send_to(lo, b"self", sa("10.0.0.1", 9), now).unwrap();
    let port = s.udp_local_addr(lo).unwrap().port();
    let mut buf = [0; 8];
    let (n, from) = s.udp_recv_from(own, &mut buf).unwrap();
    assert_eq!((&buf[..n], from), (&b"self"[..], sa("127.0.0.1", port)));
    net.run_for(ms(5)).unwrap();
    assert_nothing_left(&mut net, tap);
}

/// Puts `frame` into B's device as if it came off the wire and runs the net.
fn inject(net: &mut Net, frame: &[u8]) {
    assert!(net.push_frame(1, 1, frame));
    net.run_for(ms(5)).unwrap();
}

fn from_wire(src: &str, dst: &str) -> Addrs {
    Addrs {
        src_mac: EthernetAddress([2, 0, 0, 0, 9, 9]),
        dst_mac: common::mac(1, 1),
        src: ip(src),
        dst: ip(dst),
    }
}

/// `ip_route_input_slow`: a datagram that arrives on a real interface to or from 127/8 is a
/// martian (`InAddrErrors`), even with sockets bound to 127.0.0.1 or the wildcard on its
/// port. Nothing is answered: no ICMP error, no reset.
#[test]
fn datagrams_from_the_wire_to_or_from_127_are_martians() {
    let (mut net, _, b_if) = two_hosts(DeviceCaps::default(), ms(1));
    net.run_for(ms(5)).unwrap();
    let b = &mut net.stacks[1];
    let lo = b.udp_bind(sa("127.0.0.1", 9)).unwrap();
    let any = b.udp_bind(sa("0.0.0.0", 10)).unwrap();
    let l = b.tcp_listen(sa("127.0.0.1", 80), 4).unwrap();
    let tap = b.add_tap(TapPoint::WireTx, Some(b_if), 100);
    let before = b.snmp().ip.in_addr_errors;
    let cases = [
        ("10.0.0.1", "127.0.0.1"),
        ("10.0.0.1", "127.0.0.2"),
        ("127.0.0.1", "10.0.0.2"),
        ("127.0.0.1", "127.0.0.1"),
    ];
    for (src, dst) in cases {
        for port in [9, 10] {
            inject(
                &mut net,
                &common::udp_frame(&from_wire(src, dst), 1000, port, b"x"),
            );
        }
    }
    let syn = TcpRepr {
        src_port: 40000,
        dst_port: 80,
        seq: 1,
        ack: 0,
        flags: TcpFlags(TcpFlags::SYN),
        window: 1000,
        urgent: 0,
        options: TcpOptions::default(),
    };
    let f = oxnic_stack::netsim::tcp_frame(
        EthernetAddress([2, 0, 0, 0, 9, 9]),
        common::mac(1, 1),
        sa("10.0.0.1", 40000),
        sa("127.0.0.1", 80),
        &syn,
        &[],
    )
    .unwrap();
    inject(&mut net, &f);
    let b = &mut net.stacks[1];
    let snmp = b.snmp();
    assert_eq!(snmp.ip.in_addr_errors - before, 2 * cases.len() as u64 + 1);
    assert_eq!((snmp.udp.in_datagrams, snmp.tcp.in_segs), (0, 0));
    assert_eq!(b.udp_recv_queue_len(lo).unwrap(), 0);
    assert_eq!(b.udp_recv_queue_len(any).unwrap(), 0);
    assert_eq!(b.tcp_accept(l).unwrap_err(), TcpError::WouldBlock);
    assert_eq!(snmp.icmp.out_msgs, 0);
    assert_eq!(b.tap_take(tap).unwrap().len(), 0, "B answered");
}

/// `ip_route_input_slow` sends the limited broadcast to `brd_input`, where
/// `fib_validate_source` finds a 127/8 source local (the local table holds all of 127/8):
/// a martian too, not a datagram for the wildcard socket on its port.
#[test]
fn a_limited_broadcast_from_127_is_a_martian() {
    let (mut net, _, _) = two_hosts(DeviceCaps::default(), ms(1));
    net.run_for(ms(5)).unwrap();
    let any = net.stacks[1].udp_bind(sa("0.0.0.0", 9)).unwrap();
    let before = net.stacks[1].snmp().ip.in_addr_errors;
    for src in ["127.0.0.1", "10.0.0.1"] {
        let bcast = Addrs {
            dst_mac: EthernetAddress::BROADCAST,
            ..from_wire(src, "255.255.255.255")
        };
        inject(&mut net, &common::udp_frame(&bcast, 1000, 9, b"x"));
    }
    assert_eq!(net.stacks[1].snmp().ip.in_addr_errors - before, 1);
    let mut buf = [0; 4];
    let (_, from) = net.stacks[1].udp_recv_from(any, &mut buf).unwrap();
    assert_eq!(from, sa("10.0.0.1", 1000), "the control from A is taken");
    assert_eq!(net.stacks[1].udp_recv_queue_len(any).unwrap(), 0);
}

/// `arp_process`: a request for a 127/8 address is bad and dropped; no host answers for
/// its loopback addresses on a real link.
#[test]
fn arp_for_a_127_address_is_not_answered() {
    let (mut net, _, b_if) = two_hosts(DeviceCaps::default(), ms(1));
    net.run_for(ms(5)).unwrap();
    let tap = net.stacks[1].add_tap(TapPoint::WireTx, Some(b_if), 100);
    let asker = EthernetAddress([2, 0, 0, 0, 9, 9]);
    let arp = |sender: &str, target: &str| {
        let mut f = vec![0; 14 + ArpRepr::LEN];
        EthernetRepr {
            dst: EthernetAddress::BROADCAST,
            src: asker,
            ethertype: ethertype::ARP,
        }
        .emit(&mut f)
        .unwrap();
        ArpRepr {
            operation: ArpOperation::Request,
            source_hw: asker,
            source_ip: ip(sender),
            target_hw: EthernetAddress([0; 6]),
            target_ip: ip(target),
        }
        .emit(&mut f[14..])
        .unwrap();
        f
    };
    inject(&mut net, &arp("10.0.0.9", "127.0.0.1"));
    inject(&mut net, &arp("10.0.0.9", "127.0.0.2"));
    // Nor one from a 127/8 sender (a martian source), which the table must not learn.
    inject(&mut net, &arp("127.0.0.1", "10.0.0.2"));
    assert_eq!(net.stacks[1].tap_take(tap).unwrap().len(), 0);
    let neigh = net.stacks[1].interface(b_if).unwrap().neigh();
    assert!(neigh.get(ip("127.0.0.1")).is_none());
    // The control: B answers for its own address.
    inject(&mut net, &arp("10.0.0.9", "10.0.0.2"));
    assert_eq!(net.stacks[1].tap_take(tap).unwrap().len(), 1);
}

/// Moves `total` bytes over TCP from this host to itself at `addr` on a thread with a 2 MiB
/// stack (a test thread's), with send and receive buffers of `buf` bytes, and checks every
/// byte. Returns the bytes received.
fn bulk_to_self(addr: &'static str, with_iface: bool, buf: usize, total: usize) -> usize {
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || {
            let mut cfg = StackConfig::default();
            cfg.tcp.sndbuf = buf;
            cfg.tcp.rcvbuf = buf;
            cfg.tcp.rcvbuf_max = buf.max(cfg.tcp.rcvbuf_max);
            let mut s = Stack::new(cfg);
            let mut now = Instant::from_millis(1);
            if with_iface {
                let i = s.add_interface(oxnic_stack::iface::IfaceConfig::new(
                    "eth0",
                    common::mac(0, 1),
                    DeviceCaps::default(),
                ));
                s.add_address(i, ip("10.0.0.1"), 24, now).unwrap();
            }
            let l = s.tcp_listen(sa(addr, 80), 4).unwrap();
            let c = s.tcp_connect(sa(addr, 80), now).unwrap();
            s.poll(now);
            let (srv, _) = s.tcp_accept(l).unwrap();
            let data: Vec<u8> = (0..buf).map(|i| (i % 251) as u8).collect();
            let mut out = vec![0u8; buf];
            let (mut sent, mut got) = (0usize, 0usize);
            while got < total {
                let want = (total - sent).min(buf - sent % 251);
                if want > 0 {
                    let off = sent % 251;
                    sent += s.tcp_send(c, &data[off..off + want], now).unwrap_or(0);
                }
                now += Duration::from_micros(100);
                s.poll(now);
                while let Ok(k) = s.tcp_recv(srv, &mut out, now) {
                    if k == 0 {
                        break;
                    }
                    let off = got % 251;
                    assert_eq!(&out[..k], &data[off..off + k], "at stream offset {got}");
                    got += k;
                }
            }
            got
        })
        .unwrap()
        .join()
        .unwrap()
}

/// Linux's `loopback_xmit` queues what a host sends itself on the backlog, and input takes it
/// later: input never runs inside the output that sent to it. Before, a datagram to this host
/// went straight into input, whose ACK went straight back into the sender, whose flush sent
/// the next segments straight back in...: a level deeper per segment, until a bulk transfer
/// to 127.0.0.1 with 16 MiB buffers, or to the host's own address with the defaults,
/// overflowed the thread's stack and aborted the process.
#[test]
fn bulk_tcp_to_this_host_does_not_recurse() {
    let total = 64 << 20;
    assert_eq!(bulk_to_self("127.0.0.1", false, 16 << 20, total), total);
    let default = StackConfig::default().tcp.sndbuf;
    assert_eq!(bulk_to_self("10.0.0.1", true, default, total), total);
}

/// The local table's `broadcast 127.255.255.255 dev lo`: `lo`'s directed broadcast is a
/// broadcast, not one more local address. A connect to it is ENETUNREACH (`tcp_v4_connect`
/// refuses a broadcast route), a send needs `SO_BROADCAST` (EACCES without), and a datagram
/// sent to it reaches the sockets on its port. Before, it was an ordinary address of this
/// host: a connect to it was established.
#[test]
fn the_loopback_broadcast_is_a_broadcast() {
    let mut s = Stack::new(StackConfig::default());
    let now = Instant::from_millis(1);
    s.tcp_listen(sa("0.0.0.0", 80), 4).unwrap();
    assert_eq!(
        s.tcp_connect(sa("127.255.255.255", 80), now),
        Err(TcpError::NetUnreachable)
    );
    let rx = s.udp_bind(sa("0.0.0.0", 9)).unwrap();
    let tx = s.udp_bind(sa("0.0.0.0", 0)).unwrap();
    let bcast = sa("127.255.255.255", 9);
    assert_eq!(
        s.udp_send_to(tx, b"x", bcast, now),
        Err(UdpError::BroadcastDenied)
    );
    s.udp_set_broadcast(tx, true).unwrap();
    s.udp_send_to(tx, b"all", bcast, now).unwrap();
    s.poll(now);
    let mut buf = [0; 8];
    let (n, _) = s.udp_recv_from(rx, &mut buf).unwrap();
    assert_eq!(&buf[..n], b"all");
}

/// The local table routes every address of this host by `lo`, not only 127/8: Linux's
/// `local 10.0.0.1 dev lo table local` (`__mkroute_output` takes `net->loopback_dev` for an
/// RTN_LOCAL route). So a connection from this host to its own interface address has `lo`'s
/// MTU (an MSS of 65495, not the interface's 1460), and the hooks see `lo` on the way out and
/// on the way back in. Before, such traffic took the MTU and the index of the interface that
/// holds the address.
#[test]
fn an_address_of_an_interface_is_reached_by_lo() {
    use oxnic_stack::hooks::{HookPoint, Verdict};
    use oxnic_stack::loopback::{LOOPBACK_IFINDEX, LOOPBACK_MTU};
    use std::sync::{Arc, Mutex};
    let (mut net, tap) = setup();
    let seen = Arc::new(Mutex::new(Vec::new()));
    for point in [
        HookPoint::Output,
        HookPoint::PostRouting,
        HookPoint::PreRouting,
        HookPoint::Input,
    ] {
        let seen = Arc::clone(&seen);
        net.stacks[0]
            .hooks_mut()
            .register(point, 0, "watch", move |_, ctx| {
                seen.lock().unwrap().push(*ctx);
                Verdict::Accept
            });
    }
    let now = net.now();
    assert_eq!(
        net.stacks[0].path_mtu(ip("10.0.0.1"), now),
        Some(LOOPBACK_MTU)
    );
    let l = net.stacks[0].tcp_listen(sa("10.0.0.1", 7002), 4).unwrap();
    let c = net.stacks[0]
        .tcp_connect(sa("10.0.0.1", 7002), now)
        .unwrap();
    net.run_for(ms(1)).unwrap();
    assert_eq!(net.stacks[0].tcp_state(c), Ok(TcpState::Established));
    let (s, _) = net.stacks[0].tcp_accept(l).unwrap();
    assert_eq!(net.stacks[0].tcp_info(c).unwrap().snd_mss, 65_495);
    assert_eq!(net.stacks[0].tcp_info(s).unwrap().snd_mss, 65_495);
    let (sent, got) = send_and_read(&mut net, c, s, 9);
    assert_eq!(got.len(), sent);
    let seen = seen.lock().unwrap();
    for point in [
        HookPoint::Output,
        HookPoint::PostRouting,
        HookPoint::PreRouting,
        HookPoint::Input,
    ] {
        assert!(
            seen.iter().any(|c| c.hook == point),
            "{point:?} saw nothing"
        );
    }
    for ctx in seen.iter() {
        assert!(
            ctx.in_if.is_none_or(|i| i == LOOPBACK_IFINDEX)
                && ctx.out_if.is_none_or(|i| i == LOOPBACK_IFINDEX),
            "{ctx:?} is not lo"
        );
    }
    drop(seen);
    assert_nothing_left(&mut net, tap);
}
