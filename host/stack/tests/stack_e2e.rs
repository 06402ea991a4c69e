//! The stack end to end: two and three stacks joined by in-memory links with a virtual clock.

mod common;

use common::{ip, three_hosts, two_hosts, Net};
use oxnic_stack::icmp::{IcmpEvent, PingOptions};
use oxnic_stack::DeviceCaps;
use std::net::SocketAddrV4;
use std::time::Duration;

const LAT: Duration = Duration::from_micros(50);

fn ping_opts(seq: u16) -> PingOptions {
    PingOptions {
        ident: 7,
        seq,
        ttl: None,
        dont_frag: false,
    }
}

fn echo_replies(net: &mut Net, s: usize) -> Vec<(std::net::Ipv4Addr, u16, Vec<u8>)> {
    net.stacks[s]
        .icmp_events()
        .into_iter()
        .filter_map(|e| match e {
            IcmpEvent::EchoReply {
                from, seq, data, ..
            } => Some((from, seq, data)),
            _ => None,
        })
        .collect()
}

#[test]
fn ping_both_ways_including_fragmented_4000_bytes() {
    for caps in [DeviceCaps::default(), DeviceCaps::all_offloads(1500)] {
        let (mut net, _, _) = two_hosts(caps, LAT);
        let now = net.now;
        let small: Vec<u8> = (0..56u8).collect();
        let big: Vec<u8> = (0..4000u32).map(|i| (i * 7) as u8).collect();
        net.stacks[0]
            .ping(ip("10.0.0.2"), ping_opts(1), &small, now)
            .unwrap();
        net.stacks[1]
            .ping(ip("10.0.0.1"), ping_opts(2), &big, now)
            .unwrap();
        net.run_for(Duration::from_millis(10));
        assert_eq!(
            echo_replies(&mut net, 0),
            vec![(ip("10.0.0.2"), 1, small.clone())]
        );
        assert_eq!(
            echo_replies(&mut net, 1),
            vec![(ip("10.0.0.1"), 2, big.clone())]
        );
        let now = net.now;
        net.stacks[0]
            .ping(ip("10.0.0.2"), ping_opts(3), &big, now)
            .unwrap();
        net.run_for(Duration::from_millis(10));
        assert_eq!(
            echo_replies(&mut net, 0),
            vec![(ip("10.0.0.2"), 3, big.clone())]
        );
        for s in 0..2 {
            let snmp = net.stacks[s].snmp();
            // 4000 bytes of ICMP over a 1500 MTU: three fragments each way per big ping.
            assert!(snmp.ip.frag_oks >= 1 && snmp.ip.frag_creates >= 3, "{snmp}");
            assert!(snmp.ip.reasm_oks >= 1, "{snmp}");
            assert_eq!(snmp.ip.in_hdr_errors, 0);
        }
    }
}

#[test]
fn udp_echo() {
    let (mut net, _, _) = two_hosts(DeviceCaps::default(), LAT);
    let srv = net.stacks[1]
        .udp_bind(SocketAddrV4::new(ip("0.0.0.0"), 7))
        .unwrap();
    let cli = net.stacks[0]
        .udp_bind(SocketAddrV4::new(ip("0.0.0.0"), 0))
        .unwrap();
    let to = SocketAddrV4::new(ip("10.0.0.2"), 7);
    for i in 0..5u8 {
        let now = net.now;
        net.stacks[0].udp_send_to(cli, &[i; 100], to, now).unwrap();
        // The first datagram waits for ARP; the rest find the neighbour resolved.
        net.run_for(Duration::from_millis(1));
    }
    let mut buf = [0u8; 2048];
    let mut echoed = 0;
    while let Ok((n, from)) = net.stacks[1].udp_recv_from(srv, &mut buf) {
        assert_eq!(from.ip(), &ip("10.0.0.1"));
        let now = net.now;
        net.stacks[1]
            .udp_send_to(srv, &buf[..n], from, now)
            .unwrap();
        echoed += 1;
    }
    assert_eq!(echoed, 5);
    net.run_for(Duration::from_millis(5));
    for i in 0..5u8 {
        let (n, from) = net.stacks[0].udp_recv_from(cli, &mut buf).unwrap();
        assert_eq!((n, from), (100, to));
        assert_eq!(&buf[..n], &[i; 100]);
    }
    assert_eq!(net.stacks[0].snmp().udp.in_datagrams, 5);
    assert_eq!(net.stacks[1].snmp().udp.out_datagrams, 5);
}

#[test]
fn forwarding_through_a_router() {
    let mut net = three_hosts(1500);
    let now = net.now;
    net.stacks[0]
        .ping(ip("10.0.2.1"), ping_opts(1), b"hello", now)
        .unwrap();
    net.run_for(Duration::from_millis(10));
    assert_eq!(
        echo_replies(&mut net, 0),
        vec![(ip("10.0.2.1"), 1, b"hello".to_vec())]
    );
    assert_eq!(net.stacks[1].snmp().ip.forw_datagrams, 2);
}
