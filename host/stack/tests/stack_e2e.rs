//! The stack end to end: two and three stacks joined by in-memory links with a virtual clock.

mod common;

use common::{ip, three_hosts, two_hosts, LinkConfig, Net};
use oxnic_stack::icmp::{IcmpEvent, PingOptions};
use oxnic_stack::DeviceCaps;
use std::net::{Ipv4Addr, SocketAddrV4};
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
        let now = net.now();
        let small: Vec<u8> = (0..56u8).collect();
        let big: Vec<u8> = (0..4000u32).map(|i| (i * 7) as u8).collect();
        net.stacks[0]
            .ping(ip("10.0.0.2"), ping_opts(1), &small, now)
            .unwrap();
        net.stacks[1]
            .ping(ip("10.0.0.1"), ping_opts(2), &big, now)
            .unwrap();
        net.run_for(Duration::from_millis(10)).unwrap();
        assert_eq!(
            echo_replies(&mut net, 0),
            vec![(ip("10.0.0.2"), 1, small.clone())]
        );
        assert_eq!(
            echo_replies(&mut net, 1),
            vec![(ip("10.0.0.1"), 2, big.clone())]
        );
        let now = net.now();
        net.stacks[0]
            .ping(ip("10.0.0.2"), ping_opts(3), &big, now)
            .unwrap();
        net.run_for(Duration::from_millis(10)).unwrap();
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
        let now = net.now();
        net.stacks[0].udp_send_to(cli, &[i; 100], to, now).unwrap();
        // The first datagram waits for ARP; the rest find the neighbour resolved.
        net.run_for(Duration::from_millis(1)).unwrap();
    }
    let mut buf = [0u8; 2048];
    let mut echoed = 0;
    while let Ok((n, from)) = net.stacks[1].udp_recv_from(srv, &mut buf) {
        assert_eq!(from.ip(), &ip("10.0.0.1"));
        let now = net.now();
        net.stacks[1]
            .udp_send_to(srv, &buf[..n], from, now)
            .unwrap();
        echoed += 1;
    }
    assert_eq!(echoed, 5);
    net.run_for(Duration::from_millis(5)).unwrap();
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
    let now = net.now();
    net.stacks[0]
        .ping(ip("10.0.2.1"), ping_opts(1), b"hello", now)
        .unwrap();
    net.run_for(Duration::from_millis(10)).unwrap();
    assert_eq!(
        echo_replies(&mut net, 0),
        vec![(ip("10.0.2.1"), 1, b"hello".to_vec())]
    );
    assert_eq!(net.stacks[1].snmp().ip.forw_datagrams, 2);
}

use oxnic_stack::hooks::{HookContext, HookPoint, Verdict};
use oxnic_stack::ip_output::SendError;
use oxnic_stack::packet_tap::{TapId, TapPoint};
use oxnic_stack::pktbuf::PacketBuf;
use oxnic_stack::route::{Prefix, Route, RouteKind};
use oxnic_stack::udp::{UdpBindOptions, UdpError};
use oxnic_stack::wire::ethernet::EthernetAddress;
use oxnic_stack::wire::icmpv4::{DstUnreachable, TimeExceeded};
use std::sync::{Arc, Mutex};

#[test]
fn forwarding_decrements_ttl_and_answers_ttl_1_with_time_exceeded() {
    let mut net = three_hosts(1500);
    let tap = net.stacks[2].add_tap(TapPoint::WireRx, None, 100);
    let now = net.now();
    net.stacks[0]
        .ping(ip("10.0.2.1"), ping_opts(1), b"x", now)
        .unwrap();
    net.run_for(Duration::from_millis(10)).unwrap();
    let seen = net.stacks[2].tap_take(tap).unwrap();
    let ttls: Vec<u8> = seen
        .iter()
        .filter(|c| c.packet.data()[12..14] == [0x08, 0x00])
        .map(|c| c.packet.data()[14 + 8])
        .collect();
    assert_eq!(ttls, vec![63], "C sees the request with TTL 64 - 1");
    assert_eq!(echo_replies(&mut net, 0).len(), 1);

    let now = net.now();
    let opts = PingOptions {
        ttl: Some(1),
        ..ping_opts(2)
    };
    net.stacks[0].ping(ip("10.0.2.1"), opts, b"x", now).unwrap();
    net.run_for(Duration::from_millis(10)).unwrap();
    let ev = net.stacks[0].icmp_events();
    assert_eq!(
        ev,
        vec![IcmpEvent::TimeExceeded {
            from: ip("10.0.1.254"),
            reason: TimeExceeded::TtlExpired,
            original_dst: ip("10.0.2.1"),
        }]
    );
    assert_eq!(net.stacks[1].snmp().icmp.out_time_excds, 1);
    assert_eq!(net.stacks[1].snmp().ip.in_hdr_errors, 1);
    assert!(net.stacks[2].tap_take(tap).unwrap().is_empty());
}

#[test]
fn df_too_big_gets_fragmentation_needed_and_the_sender_learns_the_pmtu() {
    let mut net = three_hosts(1000);
    let sock = net.stacks[0]
        .udp_bind(SocketAddrV4::new(ip("0.0.0.0"), 0))
        .unwrap();
    let srv = net.stacks[2]
        .udp_bind(SocketAddrV4::new(ip("0.0.0.0"), 9))
        .unwrap();
    net.stacks[0].udp_set_dont_fragment(sock, true).unwrap();
    let to = SocketAddrV4::new(ip("10.0.2.1"), 9);
    let now = net.now();
    assert_eq!(net.stacks[0].path_mtu(ip("10.0.2.1"), now), Some(1500));
    net.stacks[0]
        .udp_send_to(sock, &[1; 1400], to, now)
        .unwrap();
    net.run_for(Duration::from_millis(10)).unwrap();
    let ev = net.stacks[0].icmp_events();
    assert!(
        ev.iter().any(|e| matches!(
            e,
            IcmpEvent::DstUnreachable {
                reason: DstUnreachable::FragRequired,
                next_hop_mtu: 1000,
                ..
            }
        )),
        "{ev:?}"
    );
    let now = net.now();
    assert_eq!(net.stacks[0].path_mtu(ip("10.0.2.1"), now), Some(1000));
    assert_eq!(net.stacks[1].snmp().ip.frag_fails, 1);
    // With DF the next big datagram is refused locally; without it, it is fragmented at
    // the source to the learnt PMTU and arrives whole.
    assert_eq!(
        net.stacks[0].udp_send_to(sock, &[2; 1400], to, now),
        Err(UdpError::Send(SendError::MessageTooBig { mtu: 1000 }))
    );
    net.stacks[0].udp_set_dont_fragment(sock, false).unwrap();
    net.stacks[0]
        .udp_send_to(sock, &[3; 1400], to, now)
        .unwrap();
    net.run_for(Duration::from_millis(10)).unwrap();
    let mut buf = [0; 2000];
    let (n, _) = net.stacks[2].udp_recv_from(srv, &mut buf).unwrap();
    assert_eq!(&buf[..n], &[3; 1400][..]);
    assert_eq!(net.stacks[0].snmp().ip.frag_creates, 2);
    assert_eq!(
        net.stacks[1].snmp().ip.frag_fails,
        1,
        "the router did not fragment"
    );
    assert_eq!(net.links()[1].total().oversize, 0);
}

#[test]
fn arp_pending_queue_releases_in_order_and_counts_overflow() {
    let (mut net, ia, _) = two_hosts(DeviceCaps::default(), LAT);
    let srv = net.stacks[1]
        .udp_bind(SocketAddrV4::new(ip("0.0.0.0"), 9))
        .unwrap();
    let cli = net.stacks[0]
        .udp_bind(SocketAddrV4::new(ip("0.0.0.0"), 0))
        .unwrap();
    let to = SocketAddrV4::new(ip("10.0.0.2"), 9);
    let now = net.now();
    // unres_qlen is 3: of five datagrams sent before ARP resolves, the two oldest are dropped.
    for i in 0..5u8 {
        net.stacks[0].udp_send_to(cli, &[i], to, now).unwrap();
    }
    let info = net.stacks[0]
        .interface(ia)
        .unwrap()
        .neigh()
        .get(ip("10.0.0.2"))
        .unwrap();
    assert_eq!(info.queued, 3);
    net.run_for(Duration::from_millis(5)).unwrap();
    let mut got = Vec::new();
    let mut buf = [0; 16];
    while let Ok((n, _)) = net.stacks[1].udp_recv_from(srv, &mut buf) {
        got.extend_from_slice(&buf[..n]);
    }
    assert_eq!(got, vec![2, 3, 4]);
    let st = net.stacks[0].interface(ia).unwrap().neigh().stats();
    assert_eq!((st.unres_discards, st.released), (2, 3));
}

#[test]
fn unreachable_routes_answer_icmp_unreachable() {
    let mut net = three_hosts(1500);
    net.stacks[1]
        .routes_mut()
        .add(Route::reject(
            Prefix::new(ip("10.0.3.0"), 24).unwrap(),
            RouteKind::Unreachable,
        ))
        .unwrap();
    let now = net.now();
    net.stacks[0]
        .ping(ip("10.9.9.9"), ping_opts(1), b"a", now)
        .unwrap();
    net.stacks[0]
        .ping(ip("10.0.3.1"), ping_opts(2), b"b", now)
        .unwrap();
    net.run_for(Duration::from_millis(10)).unwrap();
    let reasons: Vec<_> = net.stacks[0]
        .icmp_events()
        .into_iter()
        .map(|e| match e {
            IcmpEvent::DstUnreachable {
                from,
                reason,
                original_dst,
                ..
            } => (from, reason, original_dst),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        reasons,
        vec![
            (
                ip("10.0.1.254"),
                DstUnreachable::NetUnreachable,
                ip("10.9.9.9")
            ),
            (
                ip("10.0.1.254"),
                DstUnreachable::HostUnreachable,
                ip("10.0.3.1")
            ),
        ]
    );
    assert_eq!(net.stacks[1].snmp().ip.in_no_routes, 2);
    // Locally: no route at all is an error at once, counted as OutNoRoutes.
    let mut lonely = Net::new();
    let s = lonely.add_stack(oxnic_stack::StackConfig::default());
    lonely
        .add_iface(s, "10.0.0.1/24", DeviceCaps::default())
        .unwrap();
    let now = lonely.now();
    assert_eq!(
        lonely.stacks[s].ping(ip("192.168.1.1"), ping_opts(1), b"", now),
        Err(SendError::NetUnreachable)
    );
    assert_eq!(lonely.stacks[s].snmp().ip.out_no_routes, 1);
}

/// Linux `__udp4_lib_err`: a parameter problem (a router or the peer found a bad header in
/// our datagram) is a hard error, EPROTO, reported on a connected socket even without
/// `IP_RECVERR`. A socket that is not connected hears nothing of it.
#[test]
fn icmp_parameter_problem_is_reported_on_a_connected_udp_socket() {
    let (mut net, _, _) = two_hosts(DeviceCaps::default(), LAT);
    let peer = SocketAddrV4::new(ip("10.0.0.2"), 4444);
    let connected = net.stacks[0]
        .udp_bind(SocketAddrV4::new(ip("0.0.0.0"), 5000))
        .unwrap();
    net.stacks[0].udp_connect(connected, peer).unwrap();
    let unconnected = net.stacks[0]
        .udp_bind(SocketAddrV4::new(ip("0.0.0.0"), 5001))
        .unwrap();
    for sport in [5000u16, 5001] {
        // B's answer about a datagram from A:sport to B:4444, pointing at its byte 20.
        icmp_about_udp(&mut net, sport, IcmpBack::ParamProblem(20));
    }
    assert_eq!(net.stacks[0].snmp().icmp.in_parm_probs, 2);
    // Each is an ICMP event too, as unreachables and time exceeded are.
    let problem = IcmpEvent::ParamProblem {
        from: ip("10.0.0.2"),
        pointer: 20,
        original_dst: ip("10.0.0.2"),
        original_protocol: 17,
    };
    assert_eq!(net.stacks[0].icmp_events(), [problem.clone(), problem]);
    assert_eq!(
        net.stacks[0].udp_take_error(connected).unwrap(),
        Some(UdpError::ProtocolError)
    );
    assert_eq!(net.stacks[0].udp_take_error(unconnected).unwrap(), None);
}

/// What [`icmp_about_udp`] sends back.
#[derive(Debug, Clone, Copy)]
enum IcmpBack {
    Unreach(DstUnreachable),
    FragNeeded(u16),
    TimeExceeded,
    /// A parameter problem pointing at this byte of the quoted header.
    ParamProblem(u8),
}

/// Delivers to host A (stack 0) an ICMP error from B about a UDP datagram A sent from port
/// `sport` to 10.0.0.2:4444, quoting its header and first 8 bytes.
fn icmp_about_udp(net: &mut Net, sport: u16, back: IcmpBack) {
    use oxnic_stack::wire::checksum::ChecksumMode;
    use oxnic_stack::wire::icmpv4::IcmpRepr;
    use oxnic_stack::wire::ipv4::protocol;
    let a = common::Addrs {
        src_mac: common::mac(1, 1),
        dst_mac: common::mac(0, 1),
        src: ip("10.0.0.1"),
        dst: ip("10.0.0.2"),
    };
    let header = common::ipv4(&a, protocol::UDP, 1, 64, 8 + 5);
    let mut quoted = [0u8; 8];
    quoted[..2].copy_from_slice(&sport.to_be_bytes());
    quoted[2..4].copy_from_slice(&4444u16.to_be_bytes());
    quoted[4..6].copy_from_slice(&13u16.to_be_bytes());
    let msg = match back {
        IcmpBack::Unreach(reason) => IcmpRepr::DstUnreachable {
            reason,
            next_hop_mtu: 0,
            header,
            data: &quoted,
        },
        IcmpBack::FragNeeded(mtu) => IcmpRepr::DstUnreachable {
            reason: DstUnreachable::FragRequired,
            next_hop_mtu: mtu,
            header,
            data: &quoted,
        },
        IcmpBack::TimeExceeded => IcmpRepr::TimeExceeded {
            reason: TimeExceeded::TtlExpired,
            header,
            data: &quoted,
        },
        IcmpBack::ParamProblem(pointer) => IcmpRepr::ParamProblem {
            pointer,
            header,
            data: &quoted,
        },
    };
    let mut icmp = vec![0; msg.buffer_len()];
    msg.emit(&mut icmp, ChecksumMode::Software).unwrap();
    let from = common::Addrs {
        src: ip("10.0.0.2"),
        dst: ip("10.0.0.1"),
        ..a
    };
    let outer = common::ipv4(&from, protocol::ICMP, 2, 64, icmp.len());
    let f = common::ip_frame(&from, &outer, &icmp);
    net.stacks[0]
        .device_mut(1)
        .unwrap()
        .push_rx(PacketBuf::from_slice(64, &f));
    net.run_for(Duration::from_millis(1)).unwrap();
}

/// Linux `__udp4_lib_err` without `IP_RECVERR` reports to a connected socket only the errors
/// `icmp_err_convert` marks fatal. Net and host unreachable (also for a TOS), source route
/// failed and time exceeded are transient (RFC 1122 3.2.2.1): the socket hears nothing of
/// them, though ICMP counts them and reports them to its event queue. The rest are reported.
#[test]
fn only_hard_icmp_errors_are_reported_on_a_connected_udp_socket() {
    use DstUnreachable as U;
    let (mut net, _, _) = two_hosts(DeviceCaps::default(), LAT);
    let peer = SocketAddrV4::new(ip("10.0.0.2"), 4444);
    let c = net.stacks[0]
        .udp_bind(SocketAddrV4::new(ip("0.0.0.0"), 5000))
        .unwrap();
    net.stacks[0].udp_connect(c, peer).unwrap();
    let cases = [
        (IcmpBack::Unreach(U::NetUnreachable), None),
        (IcmpBack::Unreach(U::HostUnreachable), None),
        (IcmpBack::Unreach(U::SrcRouteFailed), None),
        (IcmpBack::Unreach(U::NetUnreachToS), None),
        (IcmpBack::Unreach(U::HostUnreachToS), None),
        (IcmpBack::TimeExceeded, None),
        (
            IcmpBack::Unreach(U::PortUnreachable),
            Some(UdpError::ConnectionRefused),
        ),
        (
            IcmpBack::Unreach(U::ProtoUnreachable),
            Some(UdpError::Unreachable(U::ProtoUnreachable)),
        ),
        (
            IcmpBack::Unreach(U::DstHostUnknown),
            Some(UdpError::Unreachable(U::DstHostUnknown)),
        ),
        (
            IcmpBack::Unreach(U::CommProhibited),
            Some(UdpError::Unreachable(U::CommProhibited)),
        ),
    ];
    for (back, want) in cases {
        let before = net.stacks[0].snmp().icmp;
        icmp_about_udp(&mut net, 5000, back);
        let after = net.stacks[0].snmp().icmp;
        assert_eq!(after.in_msgs, before.in_msgs + 1);
        assert_eq!(net.stacks[0].icmp_events().len(), 1);
        assert_eq!(net.stacks[0].udp_error_pending(c).unwrap(), want.is_some());
        assert_eq!(net.stacks[0].udp_take_error(c).unwrap(), want);
    }
    assert_eq!(net.stacks[0].snmp().icmp.in_dest_unreachs, 9);
    assert_eq!(net.stacks[0].snmp().icmp.in_time_excds, 1);
    // Nothing soft was kept for a later call either.
    let mut buf = [0; 8];
    assert_eq!(
        net.stacks[0].udp_recv_from(c, &mut buf),
        Err(UdpError::WouldBlock)
    );
}

/// Linux `__udp4_lib_err` counts an ICMP error about a UDP datagram that no socket of this
/// host sent in ICMP's InErrors (stale, or forged), whatever its type; one about a socket's
/// datagram, reported to it or not, is no error of ICMP's.
#[test]
fn an_icmp_error_about_no_udp_socket_counts_in_icmp_in_errors() {
    use DstUnreachable as U;
    let (mut net, _, _) = two_hosts(DeviceCaps::default(), LAT);
    // Unconnected: it is told nothing, but it did send what the errors quote.
    net.stacks[0]
        .udp_bind(SocketAddrV4::new(ip("0.0.0.0"), 5000))
        .unwrap();
    let backs = [
        IcmpBack::Unreach(U::PortUnreachable),
        IcmpBack::Unreach(U::HostUnreachable),
        IcmpBack::FragNeeded(1200),
        IcmpBack::TimeExceeded,
        IcmpBack::ParamProblem(0),
    ];
    for back in backs {
        for (sport, counted) in [(5000, 0), (5999, 1)] {
            let before = net.stacks[0].snmp().icmp;
            icmp_about_udp(&mut net, sport, back);
            let after = net.stacks[0].snmp().icmp;
            assert_eq!(after.in_msgs, before.in_msgs + 1, "{back:?} to {sport}");
            assert_eq!(
                after.in_errors,
                before.in_errors + counted,
                "{back:?} to {sport}"
            );
        }
    }
}

/// Linux `__udp4_lib_err`: fragmentation needed teaches the path MTU and is a hard EMSGSIZE
/// for a socket doing path MTU discovery (DF, `IP_PMTUDISC_DO`); a socket that lets its
/// datagrams be fragmented (`IP_PMTUDISC_DONT`, oxnic's default) hears nothing of it.
#[test]
fn fragmentation_needed_is_emsgsize_only_on_a_udp_socket_that_sets_df() {
    let (mut net, _, _) = two_hosts(DeviceCaps::default(), LAT);
    let peer = SocketAddrV4::new(ip("10.0.0.2"), 4444);
    let df = net.stacks[0]
        .udp_bind(SocketAddrV4::new(ip("0.0.0.0"), 5000))
        .unwrap();
    net.stacks[0].udp_set_dont_fragment(df, true).unwrap();
    net.stacks[0].udp_connect(df, peer).unwrap();
    let frag = net.stacks[0]
        .udp_bind(SocketAddrV4::new(ip("0.0.0.0"), 5001))
        .unwrap();
    net.stacks[0].udp_connect(frag, peer).unwrap();
    icmp_about_udp(&mut net, 5000, IcmpBack::FragNeeded(1200));
    icmp_about_udp(&mut net, 5001, IcmpBack::FragNeeded(1200));
    assert_eq!(net.stacks[0].snmp().icmp.in_dest_unreachs, 2);
    assert_eq!(
        net.stacks[0].udp_take_error(df).unwrap(),
        Some(UdpError::TooLong)
    );
    assert_eq!(net.stacks[0].udp_take_error(frag).unwrap(), None);
}

/// Linux `__udp4_lib_err` looks the socket up first and learns the path MTU from a
/// fragmentation needed only when one sent what it quotes (`ipv4_sk_update_pmtu`): a forged
/// error quoting a datagram from a port no socket holds changes nothing. Before, any such
/// error cut the path MTU (to 127.0.0.1 as well, for every connection over it).
#[test]
fn fragmentation_needed_about_nobody_s_udp_datagram_teaches_no_path_mtu() {
    let (mut net, _, _) = two_hosts(DeviceCaps::default(), LAT);
    let b = ip("10.0.0.2");
    let now = net.now();
    assert_eq!(net.stacks[0].path_mtu(b, now), Some(1500));
    icmp_about_udp(&mut net, 5000, IcmpBack::FragNeeded(1200));
    let now = net.now();
    assert_eq!(
        net.stacks[0].path_mtu(b, now),
        Some(1500),
        "no socket on 5000"
    );
    // An unconnected socket on the port is enough.
    net.stacks[0]
        .udp_bind(SocketAddrV4::new(ip("0.0.0.0"), 5000))
        .unwrap();
    icmp_about_udp(&mut net, 5000, IcmpBack::FragNeeded(1200));
    let now = net.now();
    assert_eq!(net.stacks[0].path_mtu(b, now), Some(1200));
}

/// A neighbour that never answers ARP: the stack tells the sender host unreachable
/// (`arp_error_report` → `icmp_send` to itself), which for UDP is soft, so a connected
/// socket's next receive does not fail (Linux without `IP_RECVERR`).
#[test]
fn failed_neighbour_resolution_is_not_reported_on_a_connected_udp_socket() {
    let (mut net, _, _) = two_hosts(DeviceCaps::default(), LAT);
    let c = net.stacks[0]
        .udp_bind(SocketAddrV4::new(ip("0.0.0.0"), 0))
        .unwrap();
    net.stacks[0]
        .udp_connect(c, SocketAddrV4::new(ip("10.0.0.77"), 4444))
        .unwrap();
    let now = net.now();
    net.stacks[0].udp_send(c, b"anyone?", now).unwrap();
    net.run_for(Duration::from_secs(5)).unwrap();
    assert!(matches!(
        net.stacks[0].icmp_events()[..],
        [IcmpEvent::DstUnreachable {
            reason: DstUnreachable::HostUnreachable,
            original_protocol: 17,
            ..
        }]
    ));
    assert_eq!(net.stacks[0].udp_take_error(c).unwrap(), None);
}

#[test]
fn udp_to_a_closed_port_gets_port_unreachable() {
    let (mut net, _, _) = two_hosts(DeviceCaps::default(), LAT);
    let cli = net.stacks[0]
        .udp_bind(SocketAddrV4::new(ip("0.0.0.0"), 0))
        .unwrap();
    let to = SocketAddrV4::new(ip("10.0.0.2"), 4444);
    net.stacks[0].udp_connect(cli, to).unwrap();
    let now = net.now();
    net.stacks[0].udp_send(cli, b"anyone?", now).unwrap();
    net.run_for(Duration::from_millis(5)).unwrap();
    assert_eq!(net.stacks[1].snmp().udp.no_ports, 1);
    assert_eq!(net.stacks[1].snmp().icmp.out_dest_unreachs, 1);
    assert_eq!(
        net.stacks[0].udp_take_error(cli).unwrap(),
        Some(UdpError::ConnectionRefused)
    );
    assert!(matches!(
        net.stacks[0].icmp_events()[..],
        [IcmpEvent::DstUnreachable {
            reason: DstUnreachable::PortUnreachable,
            original_protocol: 17,
            ..
        }]
    ));
}

#[test]
fn full_receive_queue_drops_and_counts() {
    let (mut net, _, _) = two_hosts(DeviceCaps::default(), LAT);
    let srv = net.stacks[1]
        .udp_bind(SocketAddrV4::new(ip("10.0.0.2"), 9))
        .unwrap();
    net.stacks[1].udp_set_rcvbuf(srv, 4).unwrap();
    let cli = net.stacks[0]
        .udp_bind(SocketAddrV4::new(ip("0.0.0.0"), 0))
        .unwrap();
    let to = SocketAddrV4::new(ip("10.0.0.2"), 9);
    for i in 0..10u8 {
        let now = net.now();
        net.stacks[0].udp_send_to(cli, &[i], to, now).unwrap();
        net.run_for(Duration::from_millis(1)).unwrap();
    }
    let snmp = net.stacks[1].snmp();
    assert_eq!(snmp.udp.in_datagrams, 4);
    assert_eq!(snmp.udp.rcvbuf_errors, 6);
    assert_eq!(snmp.udp.in_errors, 6);
    assert_eq!(net.stacks[1].udp_socket_stats(srv).unwrap().drops, 6);
    assert_eq!(net.stacks[1].udp_recv_queue_len(srv).unwrap(), 4);
    let mut buf = [0; 4];
    assert_eq!(net.stacks[1].udp_recv_from(srv, &mut buf).unwrap().0, 1);
    assert_eq!(
        buf[0], 0,
        "the first datagrams were kept, the later ones dropped"
    );
}

#[test]
fn udp_cork_sends_one_datagram() {
    let (mut net, _, _) = two_hosts(DeviceCaps::all_offloads(1500), LAT);
    let srv = net.stacks[1]
        .udp_bind(SocketAddrV4::new(ip("0.0.0.0"), 9))
        .unwrap();
    let cli = net.stacks[0]
        .udp_bind(SocketAddrV4::new(ip("0.0.0.0"), 0))
        .unwrap();
    let to = SocketAddrV4::new(ip("10.0.0.2"), 9);
    let now = net.now();
    net.stacks[0].udp_set_cork(cli, true, now).unwrap();
    for part in [&b"one "[..], b"two ", b"three"] {
        net.stacks[0].udp_send_to(cli, part, to, now).unwrap();
    }
    assert_eq!(
        net.stacks[0].udp_send_to(cli, b"x", SocketAddrV4::new(ip("10.0.0.3"), 9), now),
        Err(UdpError::CorkedElsewhere)
    );
    net.run_for(Duration::from_millis(5)).unwrap();
    assert_eq!(net.stacks[1].udp_recv_queue_len(srv).unwrap(), 0);
    let now = net.now();
    net.stacks[0].udp_set_cork(cli, false, now).unwrap();
    net.run_for(Duration::from_millis(5)).unwrap();
    let mut buf = [0; 64];
    let (n, _) = net.stacks[1].udp_recv_from(srv, &mut buf).unwrap();
    assert_eq!(&buf[..n], b"one two three");
    assert_eq!(net.stacks[1].udp_recv_queue_len(srv).unwrap(), 0);
    assert_eq!(net.stacks[0].snmp().udp.out_datagrams, 1);
}

type Trace = Arc<Mutex<Vec<(HookPoint, String)>>>;

fn trace_hooks(net: &mut Net, s: usize, name: &str, trace: &Trace) {
    for point in HookPoint::ALL {
        let t = trace.clone();
        let n = name.to_string();
        net.stacks[s].hooks_mut().register(
            point,
            0,
            "trace",
            move |_p: &mut PacketBuf, ctx: &HookContext| {
                t.lock().unwrap().push((ctx.hook, n.clone()));
                Verdict::Accept
            },
        );
    }
}

fn count(trace: &Trace, point: HookPoint, name: &str) -> usize {
    trace
        .lock()
        .unwrap()
        .iter()
        .filter(|(p, n)| *p == point && n == name)
        .count()
}

#[test]
fn hooks_see_exactly_their_packets() {
    use HookPoint::*;
    let mut net = three_hosts(1500);
    let trace: Trace = Arc::default();
    trace_hooks(&mut net, 0, "A", &trace);
    trace_hooks(&mut net, 1, "R", &trace);
    trace_hooks(&mut net, 2, "C", &trace);
    let now = net.now();
    net.stacks[0]
        .ping(ip("10.0.2.1"), ping_opts(1), b"hi", now)
        .unwrap();
    net.run_for(Duration::from_millis(10)).unwrap();
    assert_eq!(echo_replies(&mut net, 0).len(), 1);
    // A sends the request and receives the reply; R forwards both; C receives and answers.
    let want = [
        ("A", [1, 1, 0, 1, 1]),
        ("R", [2, 0, 2, 0, 2]),
        ("C", [1, 1, 0, 1, 1]),
    ];
    for (name, counts) in want {
        for (point, n) in [PreRouting, Input, Forward, Output, PostRouting]
            .into_iter()
            .zip(counts)
        {
            assert_eq!(count(&trace, point, name), n, "{name} {point:?}");
        }
    }

    // A 4000-byte ping: A's POSTROUTING sees the whole datagram (fragmentation comes after
    // it); R sees and forwards three fragments each way; C reassembles before INPUT, as
    // Linux's ip_local_deliver does, so INPUT sees one datagram.
    trace.lock().unwrap().clear();
    let now = net.now();
    net.stacks[0]
        .ping(ip("10.0.2.1"), ping_opts(2), &[7; 4000], now)
        .unwrap();
    net.run_for(Duration::from_millis(10)).unwrap();
    assert_eq!(echo_replies(&mut net, 0).len(), 1);
    let want = [
        ("A", [3, 1, 0, 1, 1]),
        ("R", [6, 0, 6, 0, 6]),
        ("C", [3, 1, 0, 1, 1]),
    ];
    for (name, counts) in want {
        for (point, n) in [PreRouting, Input, Forward, Output, PostRouting]
            .into_iter()
            .zip(counts)
        {
            assert_eq!(
                count(&trace, point, name),
                n,
                "4000 bytes: {name} {point:?}"
            );
        }
    }
}

#[test]
fn drop_at_input_stops_delivery_and_stolen_is_not_a_drop() {
    let mut net = three_hosts(1500);
    let h = net.stacks[2].hooks_mut().register(
        HookPoint::Input,
        0,
        "drop-icmp",
        |p: &mut PacketBuf, _: &HookContext| {
            if p.data()[9] == 1 {
                Verdict::Drop
            } else {
                Verdict::Accept
            }
        },
    );
    let now = net.now();
    net.stacks[0]
        .ping(ip("10.0.2.1"), ping_opts(1), b"hi", now)
        .unwrap();
    net.run_for(Duration::from_millis(10)).unwrap();
    assert!(echo_replies(&mut net, 0).is_empty());
    assert_eq!(net.stacks[2].snmp().ip.in_discards, 1);
    assert_eq!(net.stacks[2].snmp().icmp.in_msgs, 0);
    assert_eq!(net.stacks[2].hooks().hook_stats(h).unwrap().dropped, 1);
    net.stacks[2].hooks_mut().unregister(h).unwrap();

    let stolen: Arc<Mutex<Vec<PacketBuf>>> = Arc::default();
    let keep = stolen.clone();
    net.stacks[1].hooks_mut().register(
        HookPoint::PreRouting,
        -500,
        "steal",
        move |p: &mut PacketBuf, _: &HookContext| {
            keep.lock().unwrap().push(p.clone());
            Verdict::Stolen
        },
    );
    let now = net.now();
    net.stacks[0]
        .ping(ip("10.0.2.1"), ping_opts(2), b"hi", now)
        .unwrap();
    net.run_for(Duration::from_millis(10)).unwrap();
    assert!(echo_replies(&mut net, 0).is_empty());
    assert_eq!(stolen.lock().unwrap().len(), 1);
    let r = net.stacks[1].snmp();
    // Only the first ping's request was forwarded; the stolen one was neither forwarded
    // nor counted as a discard.
    assert_eq!((r.ip.in_discards, r.ip.forw_datagrams), (0, 1));
    assert_eq!(net.stacks[1].hooks().stats(HookPoint::PreRouting).stolen, 1);
}

#[test]
fn tx_checksum_offload_is_requested_only_from_capable_devices() {
    use oxnic_stack::pktbuf::ChecksumState;
    for (caps, offloaded) in [
        (DeviceCaps::all_offloads(1500), true),
        (DeviceCaps::default(), false),
    ] {
        let (mut net, ia, _) = two_hosts(caps, LAT);
        let cli = net.stacks[0]
            .udp_bind(SocketAddrV4::new(ip("10.0.0.1"), 5000))
            .unwrap();
        let to = SocketAddrV4::new(ip("10.0.0.2"), 9);
        let now = net.now();
        net.stacks[0]
            .udp_send_to(cli, b"warm up arp", to, now)
            .unwrap();
        net.run_for(Duration::from_millis(2)).unwrap();
        let now = net.now();
        net.stacks[0]
            .udp_send_to(cli, b"checksum me", to, now)
            .unwrap();
        let mut f = net.stacks[0].device_mut(ia).unwrap().pop_tx().unwrap();
        let d = f.data().to_vec();
        let udp_ok = |d: &[u8]| {
            oxnic_stack::wire::udp::UdpRepr::parse(
                &d[34..],
                ip("10.0.0.1"),
                ip("10.0.0.2"),
                oxnic_stack::wire::checksum::ChecksumMode::Software,
            )
            .is_ok()
        };
        if offloaded {
            assert_eq!(
                f.meta.csum,
                ChecksumState::Partial {
                    start: 34,
                    offset: 6
                }
            );
            assert!(!udp_ok(&d), "the device finishes the checksum");
            oxnic_stack::device::complete_tx_checksum(&mut f).unwrap();
            assert!(udp_ok(f.data()));
        } else {
            assert_eq!(f.meta.csum, ChecksumState::None);
            assert!(udp_ok(&d));
        }
    }
}

#[test]
fn rx_checksum_status_from_the_device_is_honoured() {
    use oxnic_stack::pktbuf::ChecksumState;
    let (mut net, _, ib) = two_hosts(DeviceCaps::default(), LAT);
    let srv = net.stacks[1]
        .udp_bind(SocketAddrV4::new(ip("0.0.0.0"), 9))
        .unwrap();
    let a = common::Addrs {
        src_mac: common::mac(0, 1),
        dst_mac: common::mac(1, 1),
        src: ip("10.0.0.1"),
        dst: ip("10.0.0.2"),
    };
    let mut f = common::udp_frame(&a, 1, 9, b"data");
    let n = f.len();
    f[n - 1] ^= 1; // the UDP checksum no longer matches
    for (state, delivered) in [(ChecksumState::None, 0), (ChecksumState::Unnecessary, 1)] {
        let mut p = oxnic_stack::pktbuf::PacketBuf::from_slice(0, &f);
        p.meta.csum = state;
        net.stacks[1].device_mut(ib).unwrap().push_rx(p);
        let now = net.now();
        net.stacks[1].poll(now);
        assert_eq!(net.stacks[1].udp_recv_queue_len(srv).unwrap(), delivered);
    }
    assert_eq!(net.stacks[1].snmp().udp.in_csum_errors, 1);
}

#[test]
fn adding_an_address_sends_gratuitous_arp() {
    let mut net = Net::new();
    let s = net.add_stack(oxnic_stack::StackConfig::default());
    let i = net
        .add_iface(s, "10.0.0.1/24", DeviceCaps::default())
        .unwrap();
    let now = net.now();
    net.stacks[s]
        .add_address(i, ip("192.168.5.5"), 16, now)
        .unwrap();
    let mut announced = Vec::new();
    while let Some(f) = net.stacks[s].device_mut(i).unwrap().pop_tx() {
        let d = f.data();
        assert_eq!((&d[..6], &d[12..14]), (&[0xff; 6][..], &[8u8, 6][..]));
        let arp = oxnic_stack::wire::arp::ArpRepr::parse(&d[14..]).unwrap();
        assert_eq!(arp.source_ip, arp.target_ip);
        announced.push(arp.source_ip);
    }
    assert_eq!(announced, vec![ip("10.0.0.1"), ip("192.168.5.5")]);
    // The connected routes came with the addresses.
    assert_eq!(
        net.stacks[s]
            .routes()
            .lookup(ip("192.168.200.1"))
            .unwrap()
            .ifindex,
        i
    );
}

#[test]
fn vlan_interfaces_tag_and_accept_their_vlan() {
    let mut net = Net::new();
    let mut ifs = Vec::new();
    for (s, addr) in [(0usize, "10.0.0.1"), (1, "10.0.0.2")] {
        net.add_stack(oxnic_stack::StackConfig::default());
        let cfg = oxnic_stack::IfaceConfig {
            vlan: Some(5),
            ..oxnic_stack::IfaceConfig::new("eth0.5", common::mac(s, 1), DeviceCaps::default())
        };
        let i = net.stacks[s].add_interface(cfg);
        let now = net.now();
        net.stacks[s].add_address(i, ip(addr), 24, now).unwrap();
        ifs.push(i);
    }
    net.connect((0, ifs[0]), (1, ifs[1]), LinkConfig::new(LAT, 1500));
    let tap = net.stacks[1].add_tap(TapPoint::WireRx, None, 10);
    let now = net.now();
    net.stacks[0]
        .ping(ip("10.0.0.2"), ping_opts(1), b"tagged", now)
        .unwrap();
    net.run_for(Duration::from_millis(5)).unwrap();
    assert_eq!(echo_replies(&mut net, 0).len(), 1);
    let frames = net.stacks[1].tap_take(tap).unwrap();
    assert!(!frames.is_empty());
    for c in frames {
        assert_eq!(&c.packet.data()[12..16], &[0x81, 0x00, 0x00, 0x05]);
    }
}

#[test]
fn traffic_to_our_own_address_loops_back() {
    let (mut net, _, _) = two_hosts(DeviceCaps::all_offloads(1500), LAT);
    let now = net.now();
    net.stacks[0]
        .ping(ip("10.0.0.1"), ping_opts(9), b"me", now)
        .unwrap();
    let srv = net.stacks[0]
        .udp_bind(SocketAddrV4::new(ip("0.0.0.0"), 9))
        .unwrap();
    let cli = net.stacks[0]
        .udp_bind(SocketAddrV4::new(ip("0.0.0.0"), 0))
        .unwrap();
    net.stacks[0]
        .udp_send_to(cli, b"self", SocketAddrV4::new(ip("10.0.0.1"), 9), now)
        .unwrap();
    assert_eq!(
        echo_replies(&mut net, 0),
        vec![(ip("10.0.0.1"), 9, b"me".to_vec())]
    );
    let mut buf = [0; 8];
    assert_eq!(net.stacks[0].udp_recv_from(srv, &mut buf).unwrap().0, 4);
    assert_eq!(net.in_flight(), 0);
    assert_eq!(
        net.stacks[0].device_mut(1).unwrap().tx_pending(),
        1,
        "only the gratuitous ARP"
    );
}

#[test]
fn icmp_errors_are_rate_limited() {
    let (mut net, _, _) = two_hosts(DeviceCaps::default(), LAT);
    let cli = net.stacks[0]
        .udp_bind(SocketAddrV4::new(ip("0.0.0.0"), 0))
        .unwrap();
    let to = SocketAddrV4::new(ip("10.0.0.2"), 4444);
    for _ in 0..20 {
        let now = net.now();
        net.stacks[0].udp_send_to(cli, b"?", to, now).unwrap();
        net.run_for(Duration::from_millis(1)).unwrap();
    }
    let b = net.stacks[1].snmp();
    assert_eq!(b.udp.no_ports, 20);
    // Linux's per-destination bucket: a burst of 6, then one per second.
    assert_eq!(b.icmp.out_dest_unreachs, 6);
    assert_eq!(b.icmp.out_rate_limited, 14);
    assert_eq!(net.stacks[0].snmp().icmp.in_dest_unreachs, 6);
}

#[test]
fn failed_neighbour_resolution_reports_host_unreachable() {
    let (mut net, _, _) = two_hosts(DeviceCaps::default(), LAT);
    let now = net.now();
    net.stacks[0]
        .ping(ip("10.0.0.77"), ping_opts(1), b"anyone", now)
        .unwrap();
    net.run_for(Duration::from_secs(5)).unwrap();
    assert_eq!(
        net.stacks[0].icmp_events(),
        vec![IcmpEvent::DstUnreachable {
            from: ip("10.0.0.1"),
            reason: DstUnreachable::HostUnreachable,
            original_dst: ip("10.0.0.77"),
            original_protocol: 1,
            next_hop_mtu: 0,
        }]
    );
}

#[test]
fn reassembly_timeout_sends_time_exceeded() {
    let (mut net, _, ib) = two_hosts(DeviceCaps::default(), LAT);
    // Let ARP settle both ways first, so B can answer at once.
    let now = net.now();
    net.stacks[0]
        .ping(ip("10.0.0.2"), ping_opts(1), b"", now)
        .unwrap();
    net.run_for(Duration::from_millis(5)).unwrap();
    net.stacks[0].icmp_events();
    let a = common::Addrs {
        src_mac: common::mac(0, 1),
        dst_mac: common::mac(1, 1),
        src: ip("10.0.0.1"),
        dst: ip("10.0.0.2"),
    };
    let mut h = common::ipv4(&a, 17, 4242, 64, 64);
    h.more_frags = true;
    let f = common::ip_frame(&a, &h, &[1; 64]);
    net.stacks[1]
        .device_mut(ib)
        .unwrap()
        .push_rx(oxnic_stack::pktbuf::PacketBuf::from_slice(0, &f));
    net.run_for(Duration::from_secs(31)).unwrap();
    assert_eq!(
        net.stacks[0].icmp_events(),
        vec![IcmpEvent::TimeExceeded {
            from: ip("10.0.0.2"),
            reason: TimeExceeded::FragReassembly,
            original_dst: ip("10.0.0.2"),
        }]
    );
    assert_eq!(net.stacks[1].snmp().ip.reasm_timeout, 1);
}

#[test]
fn udp_segmentation_offload_in_hardware_or_software() {
    for caps in [DeviceCaps::default(), DeviceCaps::all_offloads(1500)] {
        let (mut net, ia, _) = two_hosts(caps, LAT);
        let srv = net.stacks[1]
            .udp_bind(SocketAddrV4::new(ip("0.0.0.0"), 9))
            .unwrap();
        let cli = net.stacks[0]
            .udp_bind(SocketAddrV4::new(ip("0.0.0.0"), 0))
            .unwrap();
        let to = SocketAddrV4::new(ip("10.0.0.2"), 9);
        let now = net.now();
        net.stacks[0].udp_send_to(cli, b"arp", to, now).unwrap();
        net.run_for(Duration::from_millis(2)).unwrap();
        let data: Vec<u8> = (0..9500u32).map(|i| (i / 1000) as u8).collect();
        let now = net.now();
        let tap = net.stacks[0].add_tap(TapPoint::WireTx, None, 100);
        net.stacks[0]
            .udp_send_to_segmented(cli, &data, to, 1000, now)
            .unwrap();
        let handed = net.stacks[0].tap_take(tap).unwrap();
        if caps.gso_udp {
            assert_eq!(handed.len(), 1, "one super-packet for the device to cut");
            assert_eq!(handed[0].packet.meta.gso_size, 1000);
        } else {
            assert_eq!(handed.len(), 10, "cut in software");
            assert_eq!(
                net.stacks[0].interface(ia).unwrap().stats().gso_segmented,
                1
            );
        }
        net.run_for(Duration::from_millis(2)).unwrap();
        let mut buf = [0; 2000];
        let (n, _) = net.stacks[1].udp_recv_from(srv, &mut buf).unwrap();
        assert_eq!(&buf[..n], b"arp");
        for i in 0..10 {
            let (n, _) = net.stacks[1].udp_recv_from(srv, &mut buf).unwrap();
            assert_eq!(&buf[..n], &data[i * 1000..(i * 1000 + 1000).min(9500)]);
        }
        assert_eq!(net.stacks[1].snmp().udp.in_errors, 0);
        let now = net.now();
        assert_eq!(
            net.stacks[0].udp_send_to_segmented(cli, &data, to, 1480, now),
            Err(UdpError::Send(SendError::MessageTooBig { mtu: 1500 }))
        );
    }
}

#[test]
fn a_complete_sum_from_the_device_is_used() {
    use oxnic_stack::pktbuf::ChecksumState;
    use oxnic_stack::wire::checksum;
    let (mut net, _, ib) = two_hosts(DeviceCaps::default(), LAT);
    let srv = net.stacks[1]
        .udp_bind(SocketAddrV4::new(ip("0.0.0.0"), 9))
        .unwrap();
    let a = common::Addrs {
        src_mac: common::mac(0, 1),
        dst_mac: common::mac(1, 1),
        src: ip("10.0.0.1"),
        dst: ip("10.0.0.2"),
    };
    let good = common::udp_frame(&a, 1, 9, b"data");
    // The card's sum over the good datagram says the bytes check out; it is trusted even
    // though the bytes the stack got were damaged after the card summed them.
    let sum = checksum::sum(&good[14..]);
    let mut bad = good.clone();
    let n = bad.len();
    bad[n - 1] ^= 1;
    for (frame, sum, queued) in [(&bad, sum, 1), (&bad, checksum::sum(&bad[14..]), 1)] {
        let mut p = oxnic_stack::pktbuf::PacketBuf::from_slice(0, frame);
        p.meta.csum = ChecksumState::Complete { sum };
        net.stacks[1].device_mut(ib).unwrap().push_rx(p);
        let now = net.now();
        net.stacks[1].poll(now);
        assert_eq!(net.stacks[1].udp_recv_queue_len(srv).unwrap(), queued);
    }
    assert_eq!(
        net.stacks[1].snmp().udp.in_csum_errors,
        1,
        "the honest sum exposes the damage"
    );
}

#[test]
fn a_shaping_qdisc_paces_the_device_and_poll_at_follows_it() {
    use oxnic_stack::qdisc::{Tbf, TbfParams};
    let (mut net, ia, _) = two_hosts(DeviceCaps::default(), LAT);
    let srv = net.stacks[1]
        .udp_bind(SocketAddrV4::new(ip("0.0.0.0"), 9))
        .unwrap();
    let cli = net.stacks[0]
        .udp_bind(SocketAddrV4::new(ip("0.0.0.0"), 0))
        .unwrap();
    let to = SocketAddrV4::new(ip("10.0.0.2"), 9);
    let now = net.now();
    net.stacks[0].udp_send_to(cli, b"arp", to, now).unwrap();
    net.run_for(Duration::from_millis(2)).unwrap();
    // 100 kB/s with a 2 kB bucket: 20 frames of 1042 bytes take about 0.2 s.
    let tbf = Tbf::new(TbfParams {
        rate: 100_000,
        burst: 2_000,
        limit: 100_000,
    })
    .unwrap();
    net.stacks[0].set_qdisc(ia, Box::new(tbf)).unwrap();
    let start = net.now();
    for _ in 0..20 {
        net.stacks[0]
            .udp_send_to(cli, &[0; 1000], to, start)
            .unwrap();
    }
    let queued = net.stacks[0].interface(ia).unwrap().qdisc_stats().qlen;
    assert!(
        queued >= 18,
        "the bucket lets one or two out at once, {queued} wait"
    );
    let next = net.stacks[0].poll_at(start).unwrap();
    assert!(
        next > start,
        "poll_at names when the shaper has tokens again"
    );
    net.run_for(Duration::from_millis(100)).unwrap();
    let halfway = net.stacks[1].udp_recv_queue_len(srv).unwrap();
    assert!((8..=13).contains(&halfway), "{halfway} after 100 ms");
    net.run_for(Duration::from_millis(200)).unwrap();
    assert_eq!(net.stacks[1].udp_recv_queue_len(srv).unwrap(), 1 + 20);
}

#[test]
fn poll_takes_at_most_the_budget_per_device() {
    let (mut net, _, ib) = two_hosts(DeviceCaps::default(), LAT);
    let a = common::Addrs {
        src_mac: common::mac(0, 1),
        dst_mac: common::mac(1, 1),
        src: ip("10.0.0.1"),
        dst: ip("10.0.0.2"),
    };
    let f = common::udp_frame(&a, 1, 9, b"x");
    for _ in 0..100 {
        let p = oxnic_stack::pktbuf::PacketBuf::from_slice(0, &f);
        net.stacks[1].device_mut(ib).unwrap().push_rx(p);
    }
    let now = net.now();
    assert_eq!(net.stacks[1].poll(now), 64);
    assert_eq!(net.stacks[1].poll_at(now), Some(now), "more is waiting");
    assert_eq!(net.stacks[1].poll(now), 36);
    assert_eq!(net.stacks[1].snmp().ip.in_receives, 100);
}

/// Cutting again a fragment that does not start the datagram keeps its options in every
/// piece: only the pieces cut from offset 0 carry NOPs for the options that are not copied
/// (Linux `ip_frag_ipcb` blanks them when `first_frag`; a later fragment already carries what
/// later fragments carry, which a sender that left them in still gets back as it sent them).
#[test]
fn a_later_fragment_cut_again_keeps_its_options() {
    let mut net = three_hosts(1000);
    let tap = warm_router_to_c(&mut net);
    let options = [7, 7, 4, 0, 0, 0, 0, 1, 148, 4, 0, 0];
    let payload = [0x5b; 1400];
    let mut h = common::ipv4(&A_TO_C, 17, 78, 64, payload.len());
    h.options = oxnic_stack::wire::ipv4::Ipv4Options::new(&options).unwrap();
    h.frag_offset = 2000;
    let frags = through_the_router(&mut net, tap, &common::ip_frame(&A_TO_C, &h, &payload));
    assert_eq!(frags.len(), 2);
    for f in &frags {
        assert_eq!(f[14] & 0x0f, 8);
        // The record route (stamped by the router on its way through) and the router alert.
        assert_eq!(&f[34..36], &[7, 7], "the record route is still there");
        assert_eq!(&f[41..46], &[1, 148, 4, 0, 0]);
    }
}

/// A (10.0.1.1) to C (10.0.2.1) through R, as A's frame to R.
const A_TO_C: common::Addrs = common::Addrs {
    src_mac: EthernetAddress([2, 0, 0, 0, 0, 1]),
    dst_mac: EthernetAddress([2, 0, 0, 0, 1, 1]),
    src: Ipv4Addr::new(10, 0, 1, 1),
    dst: Ipv4Addr::new(10, 0, 2, 1),
};

/// Makes R learn C's MAC with one small datagram from A to C's port 9, and returns a tap on
/// what C receives, emptied.
fn warm_router_to_c(net: &mut Net) -> TapId {
    let tap = net.stacks[2].add_tap(TapPoint::WireRx, None, 10);
    let cli = net.stacks[0]
        .udp_bind(SocketAddrV4::new(ip("0.0.0.0"), 0))
        .unwrap();
    let now = net.now();
    net.stacks[0]
        .udp_send_to(cli, b"warm", SocketAddrV4::new(ip("10.0.2.1"), 9), now)
        .unwrap();
    net.run_for(Duration::from_millis(5)).unwrap();
    net.stacks[2].tap_take(tap).unwrap();
    tap
}

/// Puts `frame` into R as if from A and returns the frames C received on `tap`.
fn through_the_router(net: &mut Net, tap: TapId, frame: &[u8]) -> Vec<Vec<u8>> {
    net.stacks[1]
        .device_mut(1)
        .unwrap()
        .push_rx(oxnic_stack::pktbuf::PacketBuf::from_slice(0, frame));
    net.run_for(Duration::from_millis(5)).unwrap();
    net.stacks[2]
        .tap_take(tap)
        .unwrap()
        .iter()
        .map(|c| c.packet.data().to_vec())
        .collect()
}

/// A router fragments what does not fit the next hop, as Linux's `ip_do_fragment`: the first
/// fragment keeps every option, later ones keep the copied options (router alert) and carry
/// NOPs where the others were (`ip_options_fragment`), so all have the first one's header
/// length.
#[test]
fn the_router_fragments_what_does_not_fit_and_copies_only_copied_options() {
    let mut net = three_hosts(1000);
    let srv = net.stacks[2]
        .udp_bind(SocketAddrV4::new(ip("0.0.0.0"), 9))
        .unwrap();
    let tap = warm_router_to_c(&mut net);
    // A 1400-byte datagram with record route (not copied) and router alert (copied).
    let payload = [0x5a; 1400];
    let plain = common::udp_frame(&A_TO_C, 1234, 9, &payload);
    let mut h = common::ipv4(&A_TO_C, 17, 77, 64, plain.len() - 34);
    h.options =
        oxnic_stack::wire::ipv4::Ipv4Options::new(&[7, 7, 4, 0, 0, 0, 0, 1, 148, 4, 0, 0]).unwrap();
    let frags = through_the_router(&mut net, tap, &common::ip_frame(&A_TO_C, &h, &plain[34..]));
    assert_eq!(frags.len(), 2);
    assert_eq!(
        frags[0][14] & 0x0f,
        8,
        "first fragment keeps all 12 option bytes"
    );
    assert_eq!(frags[1][14] & 0x0f, 8, "later fragments are as long");
    assert_eq!(
        &frags[1][34..46],
        &[1, 1, 1, 1, 1, 1, 1, 1, 148, 4, 0, 0],
        "only the router alert is copied, NOPs stand in for the record route"
    );
    assert!(frags.iter().all(|f| f.len() <= 14 + 1000));
    let mut buf = [0; 2000];
    let (n, _) = net.stacks[2].udp_recv_from(srv, &mut buf).unwrap();
    assert_eq!(n, 4, "the warm-up datagram");
    let (n, _) = net.stacks[2].udp_recv_from(srv, &mut buf).unwrap();
    assert_eq!(&buf[..n], &payload[..]);
    let r = net.stacks[1].snmp();
    assert_eq!((r.ip.frag_oks, r.ip.frag_creates), (1, 2));
}

#[test]
fn a_permanent_neighbour_needs_no_arp() {
    use oxnic_stack::neigh::NeighState;
    let (mut net, ia, _) = two_hosts(DeviceCaps::default(), LAT);
    while net.stacks[0].device_mut(ia).unwrap().pop_tx().is_some() {}
    let now = net.now();
    net.stacks[0]
        .interface_mut(ia)
        .unwrap()
        .neigh_mut()
        .add_permanent(ip("10.0.0.2"), common::mac(1, 1), now);
    net.stacks[0]
        .ping(ip("10.0.0.2"), ping_opts(1), b"direct", now)
        .unwrap();
    let f = net.stacks[0].device_mut(ia).unwrap().pop_tx().unwrap();
    assert_eq!(&f.data()[..6], &common::mac(1, 1).0);
    assert_eq!(
        &f.data()[12..14],
        &[8, 0],
        "the echo request itself, no ARP first"
    );
    let info = net.stacks[0]
        .interface(ia)
        .unwrap()
        .neigh()
        .get(ip("10.0.0.2"))
        .unwrap();
    assert_eq!(info.state, NeighState::Permanent);
}

#[test]
fn directed_broadcast_reaches_wildcard_sockets_without_arp_or_icmp_errors() {
    let (mut net, ia, _) = two_hosts(DeviceCaps::default(), LAT);
    let srv = net.stacks[1]
        .udp_bind(SocketAddrV4::new(ip("0.0.0.0"), 9))
        .unwrap();
    let cli = net.stacks[0]
        .udp_bind(SocketAddrV4::new(ip("0.0.0.0"), 0))
        .unwrap();
    let now = net.now();
    assert_eq!(
        net.stacks[0].udp_send_to(cli, b"all", SocketAddrV4::new(ip("10.0.0.255"), 9), now),
        Err(UdpError::BroadcastDenied),
        "EACCES without SO_BROADCAST"
    );
    net.stacks[0].udp_set_broadcast(cli, true).unwrap();
    for port in [9, 10] {
        net.stacks[0]
            .udp_send_to(cli, b"all", SocketAddrV4::new(ip("10.0.0.255"), port), now)
            .unwrap();
    }
    net.stacks[0]
        .ping(ip("10.0.0.255"), ping_opts(1), b"", now)
        .unwrap();
    net.run_for(Duration::from_millis(5)).unwrap();
    let mut buf = [0; 8];
    assert_eq!(net.stacks[1].udp_recv_from(srv, &mut buf).unwrap().0, 3);
    let b = net.stacks[1].snmp();
    assert_eq!(
        (b.udp.no_ports, b.udp.ignored_multi, b.icmp.out_msgs),
        (0, 1, 0),
        "silent on broadcast, which no socket on port 10 took (IgnoredMulti)"
    );
    assert_eq!(b.icmp.in_echos, 1);
    assert_eq!(
        net.stacks[0].interface(ia).unwrap().neigh().stats().lookups,
        0
    );
}

/// Linux `__skb_recv_udp` checks `sock_error` before the queue: a pending ICMP error is
/// reported by the next recv even when datagrams wait, and they are read after it.
#[test]
fn a_pending_udp_error_is_reported_before_queued_datagrams() {
    let (mut net, _, _) = two_hosts(DeviceCaps::default(), LAT);
    let srv = net.stacks[1]
        .udp_bind(SocketAddrV4::new(ip("0.0.0.0"), 4444))
        .unwrap();
    let cli = net.stacks[0]
        .udp_bind(SocketAddrV4::new(ip("0.0.0.0"), 0))
        .unwrap();
    let local = net.stacks[0].udp_local_addr(cli).unwrap();
    let to = SocketAddrV4::new(ip("10.0.0.2"), 4444);
    net.stacks[0].udp_connect(cli, to).unwrap();
    let now = net.now();
    let back = SocketAddrV4::new(ip("10.0.0.1"), local.port());
    net.stacks[1]
        .udp_send_to(srv, b"queued", back, now)
        .unwrap();
    net.run_for(Duration::from_millis(5)).unwrap();
    assert_eq!(net.stacks[0].udp_recv_queue_len(cli).unwrap(), 1);
    net.stacks[1].udp_close(srv).unwrap();
    let now = net.now();
    net.stacks[0].udp_send(cli, b"anyone?", now).unwrap();
    net.run_for(Duration::from_millis(5)).unwrap();
    let mut buf = [0; 16];
    assert_eq!(
        net.stacks[0].udp_recv_from(cli, &mut buf),
        Err(UdpError::ConnectionRefused)
    );
    assert_eq!(net.stacks[0].udp_take_error(cli).unwrap(), None);
    assert_eq!(net.stacks[0].udp_recv_from(cli, &mut buf), Ok((6, to)));
}

/// Linux `ip4_datagram_connect`: connecting a socket bound to 0.0.0.0 routes to the peer and
/// fixes the local address to the route's source. `getsockname` reports it, datagrams go
/// out from it, and one addressed to another local address is no longer the socket's.
#[test]
fn connecting_a_wildcard_socket_fixes_its_local_address_to_the_route_source() {
    let (mut net, _, ib) = two_hosts(DeviceCaps::default(), LAT);
    let now = net.now();
    net.stacks[1]
        .add_address(ib, ip("10.0.0.3"), 24, now)
        .unwrap();
    let peer = net.stacks[0]
        .udp_bind(SocketAddrV4::new(ip("0.0.0.0"), 9))
        .unwrap();
    let s = net.stacks[1]
        .udp_bind(SocketAddrV4::new(ip("0.0.0.0"), 5000))
        .unwrap();
    net.stacks[1]
        .udp_connect(s, SocketAddrV4::new(ip("10.0.0.1"), 9))
        .unwrap();
    let local = SocketAddrV4::new(ip("10.0.0.2"), 5000);
    assert_eq!(net.stacks[1].udp_local_addr(s).unwrap(), local);
    let now = net.now();
    for (to, msg) in [("10.0.0.3", &b"other"[..]), ("10.0.0.2", b"mine")] {
        net.stacks[0]
            .udp_send_to(peer, msg, SocketAddrV4::new(ip(to), 5000), now)
            .unwrap();
    }
    net.run_for(Duration::from_millis(5)).unwrap();
    let mut buf = [0; 16];
    let (n, from) = net.stacks[1].udp_recv_from(s, &mut buf).unwrap();
    assert_eq!(
        (&buf[..n], from),
        (&b"mine"[..], SocketAddrV4::new(ip("10.0.0.1"), 9))
    );
    assert_eq!(
        net.stacks[1].udp_recv_from(s, &mut buf),
        Err(UdpError::WouldBlock),
        "the datagram to 10.0.0.3 is not for a socket connected from 10.0.0.2"
    );
    assert_eq!(net.stacks[1].snmp().udp.no_ports, 1);
    let now = net.now();
    net.stacks[1].udp_send(s, b"back", now).unwrap();
    net.run_for(Duration::from_millis(5)).unwrap();
    assert_eq!(
        net.stacks[0].udp_recv_from(peer, &mut buf),
        Ok((4, local)),
        "sent from the fixed address"
    );
}

/// Linux `__ip4_datagram_connect`: no route is ENETUNREACH (counted as OutNoRoutes) and a
/// broadcast destination without `SO_BROADCAST` is EACCES; neither connects the socket.
#[test]
fn udp_connect_needs_a_route_and_so_broadcast_for_a_broadcast_peer() {
    let (mut net, _, _) = two_hosts(DeviceCaps::default(), LAT);
    let s = net.stacks[0]
        .udp_bind(SocketAddrV4::new(ip("0.0.0.0"), 0))
        .unwrap();
    let port = net.stacks[0].udp_local_addr(s).unwrap().port();
    assert_eq!(
        net.stacks[0].udp_connect(s, SocketAddrV4::new(ip("192.168.7.1"), 9)),
        Err(UdpError::Send(SendError::NetUnreachable))
    );
    assert_eq!(net.stacks[0].snmp().ip.out_no_routes, 1);
    let bcast = SocketAddrV4::new(ip("10.0.0.255"), 9);
    assert_eq!(
        net.stacks[0].udp_connect(s, bcast),
        Err(UdpError::BroadcastDenied)
    );
    let now = net.now();
    assert_eq!(
        net.stacks[0].udp_send(s, b"x", now),
        Err(UdpError::NotConnected)
    );
    assert_eq!(
        net.stacks[0].udp_local_addr(s).unwrap(),
        SocketAddrV4::new(ip("0.0.0.0"), port),
        "a failed connect leaves the socket as it was"
    );
    assert_eq!(net.stacks[0].udp_peer_addr(s), Err(UdpError::NotConnected));
    net.stacks[0].udp_set_broadcast(s, true).unwrap();
    net.stacks[0].udp_connect(s, bcast).unwrap();
    assert_eq!(
        net.stacks[0].udp_local_addr(s).unwrap(),
        SocketAddrV4::new(ip("10.0.0.1"), port)
    );
    assert_eq!(net.stacks[0].udp_peer_addr(s), Ok(bcast));
    // A failed connect keeps the peer the last one set (`__ip4_datagram_connect` changes
    // nothing before the route is found).
    assert_eq!(
        net.stacks[0].udp_connect(s, SocketAddrV4::new(ip("192.168.7.1"), 9)),
        Err(UdpError::Send(SendError::NetUnreachable))
    );
    assert_eq!(net.stacks[0].udp_peer_addr(s), Ok(bcast));
}

/// Linux `__udp_enqueue_schedule_skb` compares the memory already queued with the limit, so
/// an empty queue takes one datagram whatever `SO_RCVBUF` is; the next waits for a read.
#[test]
fn a_zero_receive_limit_still_takes_one_datagram_into_an_empty_queue() {
    let (mut net, _, _) = two_hosts(DeviceCaps::default(), LAT);
    let srv = net.stacks[1]
        .udp_bind(SocketAddrV4::new(ip("10.0.0.2"), 9))
        .unwrap();
    net.stacks[1].udp_set_rcvbuf(srv, 0).unwrap();
    let cli = net.stacks[0]
        .udp_bind(SocketAddrV4::new(ip("0.0.0.0"), 0))
        .unwrap();
    let to = SocketAddrV4::new(ip("10.0.0.2"), 9);
    let mut buf = [0; 4];
    for round in 0..2u8 {
        for i in 0..3u8 {
            let now = net.now();
            net.stacks[0]
                .udp_send_to(cli, &[round * 10 + i], to, now)
                .unwrap();
            net.run_for(Duration::from_millis(1)).unwrap();
        }
        assert_eq!(net.stacks[1].udp_recv_queue_len(srv).unwrap(), 1);
        assert_eq!(net.stacks[1].udp_recv_from(srv, &mut buf).unwrap().0, 1);
        assert_eq!(buf[0], round * 10, "the first of each round was kept");
    }
    let stats = net.stacks[1].udp_socket_stats(srv).unwrap();
    assert_eq!((stats.received, stats.drops), (2, 4));
}

/// Linux `__udp4_lib_mcast_deliver`: a broadcast datagram is copied to every socket it
/// matches, not just the best one. Sharing the port takes `SO_REUSEADDR` on every socket
/// (`udp_lib_lport_inuse`); a unicast datagram still goes to the single best match.
#[test]
fn a_broadcast_reaches_every_socket_sharing_the_port_and_a_unicast_only_the_best() {
    let (mut net, ia, _) = two_hosts(DeviceCaps::default(), LAT);
    let reuse = UdpBindOptions { reuse_addr: true };
    let any9 = SocketAddrV4::new(ip("0.0.0.0"), 9);
    let b = &mut net.stacks[1];
    let w1 = b.udp_bind_with(any9, reuse).unwrap();
    assert_eq!(
        b.udp_bind(any9),
        Err(UdpError::AddrInUse),
        "needs it on both"
    );
    let w2 = b.udp_bind_with(any9, reuse).unwrap();
    let bound = b
        .udp_bind_with(SocketAddrV4::new(ip("10.0.0.2"), 9), reuse)
        .unwrap();
    // A route for the limited broadcast, as Linux finds one through the default route.
    net.stacks[0]
        .routes_mut()
        .add(Route::connected(Prefix::host(ip("255.255.255.255")), ia))
        .unwrap();
    let cli = net.stacks[0]
        .udp_bind(SocketAddrV4::new(ip("0.0.0.0"), 0))
        .unwrap();
    net.stacks[0].udp_set_broadcast(cli, true).unwrap();
    let now = net.now();
    for (to, msg) in [
        ("10.0.0.255", &b"directed"[..]),
        ("255.255.255.255", b"limited"),
        ("10.0.0.2", b"unicast"),
    ] {
        net.stacks[0]
            .udp_send_to(cli, msg, SocketAddrV4::new(ip(to), 9), now)
            .unwrap();
    }
    net.run_for(Duration::from_millis(5)).unwrap();
    let mut read = |s| {
        let mut got = Vec::new();
        let mut buf = [0; 16];
        while let Ok((n, _)) = net.stacks[1].udp_recv_from(s, &mut buf) {
            got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
        got
    };
    for w in [w1, w2] {
        assert_eq!(read(w), ["directed", "limited"]);
    }
    assert_eq!(read(bound), ["unicast"]);
    let snmp = net.stacks[1].snmp();
    assert_eq!((snmp.udp.in_datagrams, snmp.udp.no_ports), (5, 0));
    // Between equal matches, Linux's lookup keeps the first of its chain: the last bound.
    net.stacks[1].udp_close(bound).unwrap();
    let now = net.now();
    net.stacks[0]
        .udp_send_to(cli, b"tie", SocketAddrV4::new(ip("10.0.0.2"), 9), now)
        .unwrap();
    net.run_for(Duration::from_millis(5)).unwrap();
    assert_eq!(net.stacks[1].udp_recv_queue_len(w1).unwrap(), 0);
    assert_eq!(net.stacks[1].udp_recv_queue_len(w2).unwrap(), 1);
}

/// Feeds `frame` to stack `s` on `ifindex` as if it had come off the wire, and runs the net.
fn inject(net: &mut Net, s: usize, ifindex: u32, frame: &[u8]) {
    assert!(net.push_frame(s, ifindex, frame));
    net.run_for(Duration::from_millis(5)).unwrap();
}

/// R (stack 1) of [`three_hosts`] with a default route through C, so that any destination
/// would be forwarded; a frame from A to R's MAC with `src`/`dst`.
fn router_with_default(src: &str, dst: &str) -> (Net, common::Addrs) {
    let mut net = three_hosts(1500);
    net.stacks[1]
        .routes_mut()
        .add(Route::default_via(ip("10.0.2.1"), 2))
        .unwrap();
    let a = common::Addrs {
        src_mac: common::mac(0, 1),
        dst_mac: common::mac(1, 1),
        src: ip(src),
        dst: ip(dst),
    };
    (net, a)
}

/// RFC 1812 §5.3.7, Linux `ip_route_input_slow` (`martian_destination`, `martian_source`):
/// a router does not forward datagrams to 0/8 or 127/8, nor from martian sources, whatever
/// its routes say; it drops them without an ICMP error.
#[test]
fn a_router_does_not_forward_martian_destinations_or_sources() {
    for (src, dst) in [
        ("10.0.1.1", "127.0.0.1"),
        ("10.0.1.1", "0.0.0.0"),
        ("10.0.1.1", "0.1.2.3"),
        ("127.0.0.1", "10.0.2.1"),
        ("0.0.0.0", "10.0.2.1"),
        ("10.0.1.255", "10.0.2.1"),
    ] {
        let (mut net, a) = router_with_default(src, dst);
        let tap = net.stacks[2].add_tap(TapPoint::WireRx, None, 100);
        inject(&mut net, 1, 1, &common::udp_frame(&a, 1000, 9, b"x"));
        let r = net.stacks[1].snmp();
        assert_eq!(
            (r.ip.forw_datagrams, r.icmp.out_msgs, r.ip.in_addr_errors),
            (0, 0, 1),
            "{src} -> {dst}"
        );
        let ipv4_at_c = net.stacks[2]
            .tap_take(tap)
            .unwrap()
            .iter()
            .filter(|c| c.packet.data()[12..14] == [0x08, 0x00])
            .count();
        assert_eq!(ipv4_at_c, 0);
    }
    // The control: an ordinary datagram through the same router is forwarded.
    let (mut net, a) = router_with_default("10.0.1.1", "10.0.2.1");
    inject(&mut net, 1, 1, &common::udp_frame(&a, 1000, 9, b"x"));
    assert_eq!(net.stacks[2].snmp().udp.no_ports, 1, "reached C");
}

/// Linux (`RTN_BROADCAST` routes in the local table, `bc_forwarding` off) and RFC 2644: the
/// directed broadcast of a router's other subnet is received by the router, not forwarded
/// and broadcast on that subnet.
#[test]
fn a_router_keeps_a_directed_broadcast_of_its_other_subnet() {
    let mut net = three_hosts(1500);
    let at_r = net.stacks[1]
        .udp_bind(SocketAddrV4::new(ip("0.0.0.0"), 9))
        .unwrap();
    let at_c = net.stacks[2]
        .udp_bind(SocketAddrV4::new(ip("0.0.0.0"), 9))
        .unwrap();
    let cli = net.stacks[0]
        .udp_bind(SocketAddrV4::new(ip("0.0.0.0"), 0))
        .unwrap();
    let now = net.now();
    net.stacks[0]
        .udp_send_to(cli, b"smurf", SocketAddrV4::new(ip("10.0.2.255"), 9), now)
        .unwrap();
    net.run_for(Duration::from_millis(10)).unwrap();
    assert_eq!(net.stacks[2].udp_recv_queue_len(at_c).unwrap(), 0);
    assert_eq!(net.stacks[1].snmp().ip.forw_datagrams, 0);
    assert_eq!(net.stacks[1].udp_recv_queue_len(at_r).unwrap(), 1);
}

/// RFC 1812 §5.3.4 / RFC 1122 §3.3.6, Linux `ip_forward` (`pkt_type != PACKET_HOST`): a
/// unicast datagram that arrived in a link-layer broadcast is not forwarded, and gets no
/// ICMP error (here TTL 1 would otherwise draw time exceeded).
#[test]
fn a_router_does_not_forward_a_link_layer_broadcast() {
    for ttl in [64, 1] {
        let (mut net, a) = router_with_default("10.0.1.1", "10.0.2.1");
        let a = common::Addrs {
            dst_mac: oxnic_stack::wire::ethernet::EthernetAddress::BROADCAST,
            ..a
        };
        let mut l4 = common::udp_frame(&a, 1000, 9, b"x");
        l4[14 + 8] = ttl;
        l4[24..26].copy_from_slice(&[0, 0]);
        let c = oxnic_stack::wire::checksum::checksum(&l4[14..34]);
        l4[24..26].copy_from_slice(&c.to_be_bytes());
        let tap = net.stacks[2].add_tap(TapPoint::WireRx, None, 100);
        inject(&mut net, 1, 1, &l4);
        let r = net.stacks[1].snmp();
        assert_eq!((r.ip.forw_datagrams, r.icmp.out_msgs), (0, 0), "ttl {ttl}");
        let ipv4_at_c = net.stacks[2]
            .tap_take(tap)
            .unwrap()
            .iter()
            .filter(|c| c.packet.data()[12..14] == [0x08, 0x00])
            .count();
        assert_eq!(ipv4_at_c, 0);
    }
}

/// RFC 1122 §3.2.2 (no ICMP error about a datagram to a broadcast address) and Linux
/// `ip_expire` (only for `RTN_LOCAL`): a fragmented broadcast that never completes times out
/// silently.
#[test]
fn a_timed_out_reassembly_of_a_broadcast_sends_no_time_exceeded() {
    for dst in ["10.0.0.255", "255.255.255.255"] {
        let (mut net, _, ib) = two_hosts(DeviceCaps::default(), LAT);
        let a = common::Addrs {
            src_mac: common::mac(0, 1),
            dst_mac: oxnic_stack::wire::ethernet::EthernetAddress::BROADCAST,
            src: ip("10.0.0.1"),
            dst: ip(dst),
        };
        let mut h = common::ipv4(&a, 17, 4242, 64, 64);
        h.more_frags = true;
        inject(&mut net, 1, ib, &common::ip_frame(&a, &h, &[1; 64]));
        net.run_for(Duration::from_secs(31)).unwrap();
        assert_eq!(net.stacks[1].snmp().ip.reasm_timeout, 1, "{dst}");
        assert_eq!(net.stacks[1].snmp().icmp.out_msgs, 0, "{dst}");
        assert!(net.stacks[0].icmp_events().is_empty(), "{dst}");
    }
}

/// RFC 1812 §4.3.2.3 and Linux `icmp_send`: an error quotes as much of the offending
/// datagram as fits in a 576-byte ICMP datagram (RFC 1122 §3.2.2's 8 bytes are a minimum),
/// and all of a shorter one.
#[test]
fn icmp_errors_quote_the_datagram_up_to_576_bytes() {
    for (payload, wire_len) in [(1000, 14 + 576), (100, 14 + 20 + 8 + 20 + 8 + 100)] {
        let (mut net, ia, _) = two_hosts(DeviceCaps::default(), LAT);
        let tap = net.stacks[0].add_tap(TapPoint::WireRx, Some(ia), 100);
        let cli = net.stacks[0]
            .udp_bind(SocketAddrV4::new(ip("0.0.0.0"), 0))
            .unwrap();
        let now = net.now();
        net.stacks[0]
            .udp_send_to(
                cli,
                &vec![7; payload],
                SocketAddrV4::new(ip("10.0.0.2"), 4444),
                now,
            )
            .unwrap();
        net.run_for(Duration::from_millis(5)).unwrap();
        let icmp: Vec<usize> = net.stacks[0]
            .tap_take(tap)
            .unwrap()
            .iter()
            .filter(|c| c.packet.data()[12..14] == [0x08, 0x00] && c.packet.data()[23] == 1)
            .map(|c| c.packet.len())
            .collect();
        assert_eq!(icmp, vec![wire_len], "payload {payload}");
        assert!(matches!(
            net.stacks[0].icmp_events()[..],
            [IcmpEvent::DstUnreachable {
                reason: DstUnreachable::PortUnreachable,
                ..
            }]
        ));
    }
}

/// IPv4 identification, source port and DF flag of every UDP or TCP datagram a tap saw
/// (Ethernet frames, no VLAN tag).
fn ip_ids(seen: &[oxnic_stack::packet_tap::Captured], proto: u8) -> Vec<(u16, u16, bool)> {
    seen.iter()
        .map(|c| c.packet.data())
        .filter(|d| d.len() >= 38 && d[12..14] == [0x08, 0x00] && d[23] == proto)
        .map(|d| {
            (
                u16::from_be_bytes([d[18], d[19]]),
                u16::from_be_bytes([d[34], d[35]]),
                d[20] & 0x40 != 0,
            )
        })
        .collect()
}

/// Each TCP connection numbers its datagrams from a counter of its own (Linux `inet_id`),
/// advanced by the number of segments a super-packet becomes: the frames software GSO cuts
/// from consecutive super-packets carry consecutive, distinct IDs, and another connection's
/// traffic in between leaves no gap. With one counter for the whole stack, each super-packet
/// took one value and its segments the ones after it, so consecutive super-packets reused
/// each other's IDs, and a connection's IDs showed how much the host sent to anyone else.
#[test]
fn each_connection_numbers_its_segments_with_its_own_consecutive_ids() {
    let (mut net, _, _) = two_hosts(DeviceCaps::default(), LAT);
    let tap = net.stacks[1].add_tap(TapPoint::WireRx, None, 10_000);
    let now = net.now();
    let lis = net.stacks[1]
        .tcp_listen(SocketAddrV4::new(ip("10.0.0.2"), 80), 8)
        .unwrap();
    let server = SocketAddrV4::new(ip("10.0.0.2"), 80);
    let a = net.stacks[0].tcp_connect(server, now).unwrap();
    let b = net.stacks[0].tcp_connect(server, now).unwrap();
    net.run_for(Duration::from_millis(5)).unwrap();
    let mut accepted = Vec::new();
    while let Ok((h, _)) = net.stacks[1].tcp_accept(lis) {
        accepted.push(h);
    }
    assert_eq!(accepted.len(), 2);
    let port_a = net.stacks[0].tcp_local_addr(a).unwrap().port();
    let data = vec![0x5a; 150_000];
    for round in 0..4 {
        let now = net.now();
        let (h, n) = if round % 2 == 0 {
            (a, data.len())
        } else {
            (b, 3000)
        };
        let mut sent = 0;
        while sent < n {
            sent += net.stacks[0].tcp_send(h, &data[sent..n], now).unwrap();
            net.run_for(Duration::from_millis(2)).unwrap();
            let mut sink = vec![0; 1 << 20];
            let now = net.now();
            for &s in &accepted {
                while net.stacks[1]
                    .tcp_recv(s, &mut sink, now)
                    .is_ok_and(|r| r > 0)
                {}
            }
        }
    }
    net.run_for(Duration::from_millis(50)).unwrap();
    let seen = net.stacks[1].tap_take(tap).unwrap();
    let ids: Vec<u16> = ip_ids(&seen, 6)
        .into_iter()
        .filter(|&(_, port, _)| port == port_a)
        .map(|(id, _, _)| id)
        .collect();
    assert!(ids.len() > 200, "only {} frames of connection a", ids.len());
    let gaps: Vec<(usize, u16, u16)> = ids
        .windows(2)
        .enumerate()
        .filter(|(_, w)| w[1] != w[0].wrapping_add(1))
        .map(|(k, w)| (k, w[0], w[1]))
        .collect();
    assert!(gaps.is_empty(), "IDs of connection a jump: {gaps:?}");
}

/// A datagram with DF set that no connected socket numbers (here a reset to a closed port)
/// carries identification 0, as Linux sends it: the field means nothing in an atomic
/// datagram (RFC 6864 §4.1), and a counter would tell an observer how much the host sends
/// (the "idle scan", RFC 7739 §5.1).
#[test]
fn an_atomic_datagram_no_socket_numbers_carries_id_zero() {
    let (mut net, _, _) = two_hosts(DeviceCaps::default(), LAT);
    let tap = net.stacks[0].add_tap(TapPoint::WireRx, None, 100);
    let now = net.now();
    let c = net.stacks[0]
        .tcp_connect(SocketAddrV4::new(ip("10.0.0.2"), 4444), now)
        .unwrap();
    net.run_for(Duration::from_millis(5)).unwrap();
    assert_eq!(
        net.stacks[0].tcp_state(c),
        Ok(oxnic_stack::tcp::TcpState::Closed)
    );
    let seen = net.stacks[0].tap_take(tap).unwrap();
    let rsts = ip_ids(&seen, 6);
    assert_eq!(rsts.len(), 1, "the SYN is answered by one reset");
    assert_eq!(rsts[0].0, 0, "the reset's identification");
    assert!(rsts[0].2, "the reset has DF set");
    // A listener's SYN-ACK goes out from no connected socket too (Linux
    // `ip_build_and_send_pkt`): 0, and the accepted connection's own counter does not show.
    net.stacks[1]
        .tcp_listen(SocketAddrV4::new(ip("10.0.0.2"), 4445), 4)
        .unwrap();
    let now = net.now();
    net.stacks[0]
        .tcp_connect(SocketAddrV4::new(ip("10.0.0.2"), 4445), now)
        .unwrap();
    net.run_for(Duration::from_millis(5)).unwrap();
    let seen = net.stacks[0].tap_take(tap).unwrap();
    let synack: Vec<(u16, bool)> = seen
        .iter()
        .map(|c| c.packet.data())
        .filter(|d| d.len() >= 54 && d[23] == 6 && d[47] == 0x12)
        .map(|d| (u16::from_be_bytes([d[18], d[19]]), d[20] & 0x40 != 0))
        .collect();
    assert_eq!(synack, [(0, true)], "the SYN-ACK's identification and DF");
}

/// Datagrams that may be fragmented and come from no connected socket take their
/// identification from one of 2048 counters picked by a keyed hash of source, destination and
/// protocol (Linux `ip_idents_reserve`): datagrams to one destination are numbered
/// consecutively, as reassembly needs, and what the host sends elsewhere in between does not
/// show in them. With one counter for the whole stack, every datagram to anyone left a gap.
#[test]
fn datagrams_to_one_destination_are_numbered_apart_from_the_rest() {
    let (mut net, ia, _) = two_hosts(DeviceCaps::default(), LAT);
    let now = net.now();
    net.stacks[0]
        .routes_mut()
        .add(Route::default_via(ip("10.0.0.2"), ia))
        .unwrap();
    let rx = net.stacks[1]
        .udp_bind(SocketAddrV4::new(ip("10.0.0.2"), 9))
        .unwrap();
    let tx = net.stacks[0]
        .udp_bind(SocketAddrV4::new(ip("0.0.0.0"), 5000))
        .unwrap();
    let here = SocketAddrV4::new(ip("10.0.0.2"), 9);
    let elsewhere = SocketAddrV4::new(ip("192.168.9.7"), 9);
    // Resolve the next hop first, so that no datagram waits in (or overflows) the
    // neighbour queue.
    net.stacks[0].udp_send_to(tx, b"x", here, now).unwrap();
    net.run_for(Duration::from_millis(5)).unwrap();
    let mut buf = [0; 8];
    assert_eq!(net.stacks[1].udp_recv_from(rx, &mut buf).unwrap().0, 1);
    let now = net.now();
    let tap = net.stacks[1].add_tap(TapPoint::WireRx, None, 100);
    for to in [here, here, elsewhere, elsewhere, here, elsewhere, here] {
        net.stacks[0].udp_send_to(tx, b"x", to, now).unwrap();
    }
    net.run_for(Duration::from_millis(5)).unwrap();
    let seen = net.stacks[1].tap_take(tap).unwrap();
    let to_here: Vec<u16> = seen
        .iter()
        .map(|c| c.packet.data())
        .filter(|d| d.len() >= 38 && d[23] == 17 && d[30..34] == [10, 0, 0, 2])
        .map(|d| u16::from_be_bytes([d[18], d[19]]))
        .collect();
    assert_eq!(to_here.len(), 4);
    let first = to_here[0];
    assert_eq!(
        to_here,
        (0..4).map(|k| first.wrapping_add(k)).collect::<Vec<u16>>(),
        "datagrams to 10.0.0.2 are numbered one after the other"
    );
    assert_eq!(net.stacks[1].udp_socket_stats(rx).unwrap().received, 5);
    // A connected socket numbers its datagrams itself (`inet_id`): the unconnected socket's
    // datagrams to the same destination in between leave no gap in its IDs.
    let conn = net.stacks[0]
        .udp_bind(SocketAddrV4::new(ip("0.0.0.0"), 5001))
        .unwrap();
    net.stacks[0].udp_connect(conn, here).unwrap();
    let now = net.now();
    for connected in [true, false, true, false, false, true] {
        if connected {
            net.stacks[0].udp_send(conn, b"c", now).unwrap();
        } else {
            net.stacks[0].udp_send_to(tx, b"u", here, now).unwrap();
        }
    }
    net.run_for(Duration::from_millis(5)).unwrap();
    let seen = net.stacks[1].tap_take(tap).unwrap();
    let from_conn: Vec<u16> = ip_ids(&seen, 17)
        .into_iter()
        .filter(|&(_, port, _)| port == 5001)
        .map(|(id, _, _)| id)
        .collect();
    assert_eq!(from_conn.len(), 3);
    let first = from_conn[0];
    assert_eq!(
        from_conn,
        (0..3).map(|k| first.wrapping_add(k)).collect::<Vec<u16>>(),
        "the connected socket's datagrams are numbered one after the other"
    );
}

/// A frame from A to R's MAC (stacks 0 and 1 of [`three_hosts`]) carrying a UDP datagram to
/// `dst` port 9 whose IPv4 header has the raw options `opts` (a multiple of 4 bytes).
fn udp_with_options(dst: &str, opts: &[u8]) -> Vec<u8> {
    let a = common::Addrs {
        src_mac: common::mac(0, 1),
        dst_mac: common::mac(1, 1),
        src: ip("10.0.1.1"),
        dst: ip(dst),
    };
    let plain = common::udp_frame(&a, 1000, 9, b"opt");
    let mut h = common::ipv4(&a, 17, 99, 64, plain.len() - 34);
    h.options = oxnic_stack::wire::ipv4::Ipv4Options::new(opts).unwrap();
    common::ip_frame(&a, &h, &plain[34..])
}

/// Linux `ip_rcv_options` with `accept_source_route` off (the default of
/// `net.ipv4.conf.all`, which every interface's setting is ANDed with): a datagram carrying a
/// loose (131) or strict (137) source route is dropped, whether it is addressed to this host
/// or would be forwarded; the same datagram without the option is delivered or forwarded.
#[test]
fn source_routed_datagrams_are_dropped() {
    let mut net = three_hosts(1500);
    let at_r = net.stacks[1]
        .udp_bind(SocketAddrV4::new(ip("0.0.0.0"), 9))
        .unwrap();
    let at_c = net.stacks[2]
        .udp_bind(SocketAddrV4::new(ip("0.0.0.0"), 9))
        .unwrap();
    // To R, asking to be routed on to C; to C through R with an exhausted strict route.
    inject(
        &mut net,
        1,
        1,
        &udp_with_options("10.0.1.254", &[131, 7, 4, 10, 0, 2, 1, 0]),
    );
    inject(
        &mut net,
        1,
        1,
        &udp_with_options("10.0.2.1", &[137, 7, 8, 10, 0, 1, 254, 0]),
    );
    assert_eq!(net.stacks[1].udp_recv_queue_len(at_r).unwrap(), 0);
    assert_eq!(net.stacks[2].udp_recv_queue_len(at_c).unwrap(), 0);
    let r = net.stacks[1].snmp();
    assert_eq!((r.ip.forw_datagrams, r.icmp.out_msgs), (0, 0));
    assert_eq!((r.ip.in_src_route_drops, r.ip.in_hdr_errors), (2, 0));
    // The control: the same datagrams without the option.
    inject(&mut net, 1, 1, &udp_with_options("10.0.1.254", &[]));
    inject(&mut net, 1, 1, &udp_with_options("10.0.2.1", &[]));
    assert_eq!(net.stacks[1].udp_recv_queue_len(at_r).unwrap(), 1);
    assert_eq!(net.stacks[2].udp_recv_queue_len(at_c).unwrap(), 1);
}

/// Linux `ip_options_compile` on receive and `ip_forward_options` on forward (RFC 791): a
/// router records the address it forwards from (R's 10.0.2.254 towards C) in the next free
/// record-route slot and advances the pointer, and stamps timestamp options (only-time,
/// address-and-time, and the prespecified form when the address is its own); a full record
/// route, a prespecified address that is someone else's, or anything else is left alone, and a
/// full timestamp has its overflow count raised. The header checksum is right afterwards.
/// Linux writes milliseconds since midnight UTC; a sans-IO stack has no wall clock, so it
/// writes its own milliseconds with the high-order bit set, RFC 791's mark for a
/// non-standard time.
#[test]
fn a_router_updates_record_route_and_timestamp_options() {
    let mut net = three_hosts(1500);
    let at_c = net.stacks[2]
        .udp_bind(SocketAddrV4::new(ip("0.0.0.0"), 9))
        .unwrap();
    let tap = net.stacks[2].add_tap(TapPoint::WireRx, None, 100);
    let z4 = [0u8; 4];
    let r2 = [10, 0, 2, 254];
    // (options sent, options expected at C; `T` marks a 4-byte timestamp slot)
    const T: u8 = 0xee;
    let cases: Vec<(Vec<u8>, Vec<u8>)> = vec![
        (
            [&[7, 11, 4][..], &z4, &z4, &[0]].concat(),
            [&[7, 11, 8][..], &r2, &z4, &[0]].concat(),
        ),
        (vec![7, 7, 8, 1, 2, 3, 4, 0], vec![7, 7, 8, 1, 2, 3, 4, 0]),
        (
            [&[68, 12, 5, 0][..], &z4, &z4].concat(),
            [&[68, 12, 9, 0][..], &[T; 4], &z4].concat(),
        ),
        (
            [&[68, 20, 5, 1][..], &z4, &z4, &z4, &z4].concat(),
            [&[68, 20, 13, 1][..], &r2, &[T; 4], &z4, &z4].concat(),
        ),
        (
            [&[68, 20, 5, 3][..], &r2, &z4, &[9, 9, 9, 9], &z4].concat(),
            [&[68, 20, 13, 3][..], &r2, &[T; 4], &[9, 9, 9, 9], &z4].concat(),
        ),
        (
            [&[68, 12, 5, 3][..], &[9, 9, 9, 9], &z4].concat(),
            [&[68, 12, 5, 3][..], &[9, 9, 9, 9], &z4].concat(),
        ),
        (
            vec![68, 8, 9, 0x21, 1, 2, 3, 4],
            vec![68, 8, 9, 0x31, 1, 2, 3, 4],
        ),
    ];
    for (sent, want) in &cases {
        net.stacks[2].tap_take(tap).unwrap();
        inject(&mut net, 1, 1, &udp_with_options("10.0.2.1", sent));
        let got: Vec<Vec<u8>> = net.stacks[2]
            .tap_take(tap)
            .unwrap()
            .iter()
            .map(|c| c.packet.data().to_vec())
            .filter(|d| d[12..14] == [0x08, 0x00])
            .collect();
        assert_eq!(got.len(), 1, "{sent:?}");
        let ip_hdr = &got[0][14..14 + 20 + sent.len()];
        assert!(oxnic_stack::wire::checksum::verify(ip_hdr), "{sent:?}");
        assert_eq!(ip_hdr[8], 63, "{sent:?}");
        let opts = &ip_hdr[20..];
        for (i, (&g, &w)) in opts.iter().zip(want.iter()).enumerate() {
            if w == T {
                // The first byte of a stamp carries the non-standard-time bit.
                if i == 0 || want[i - 1] != T {
                    assert!(g & 0x80 != 0, "{sent:?} -> {opts:?}");
                }
            } else {
                assert_eq!(g, w, "{sent:?} -> {opts:?} byte {i}");
            }
        }
    }
    assert_eq!(
        net.stacks[2].udp_recv_queue_len(at_c).unwrap(),
        cases.len(),
        "all delivered"
    );
    assert_eq!(net.stacks[1].snmp().ip.forw_datagrams, cases.len() as u64);
}

/// The local ports of 20 UDP sockets bound to port 0 on A.
fn udp_bind_ports(net: &mut Net) -> Vec<u16> {
    (0..20)
        .map(|_| {
            let s = net.stacks[0]
                .udp_bind(SocketAddrV4::new(ip("0.0.0.0"), 0))
                .unwrap();
            net.stacks[0].udp_local_addr(s).unwrap().port()
        })
        .collect()
}

/// RFC 6056 (Linux `udp_lib_get_port`): a UDP bind to port 0 starts its search at a random
/// port, so the port of one socket says nothing of the next one's (a blind attacker must
/// not guess where a DNS query's answer goes). The stack draws its randomness from its
/// secret: another secret, other ports.
#[test]
fn udp_bind_to_port_zero_ports_are_not_a_sequence() {
    let (mut net, _, _) = two_hosts(DeviceCaps::default(), LAT);
    let ports = udp_bind_ports(&mut net);
    assert!(
        ports.iter().all(|p| (32768..=60999).contains(p)),
        "{ports:?}"
    );
    let step = i32::from(ports[1]) - i32::from(ports[0]);
    assert!(
        !ports
            .windows(2)
            .all(|w| i32::from(w[1]) - i32::from(w[0]) == step),
        "{ports:?}"
    );
    let (lo, hi) = (ports.iter().min().unwrap(), ports.iter().max().unwrap());
    assert!(hi - lo > 64, "all within 64 of each other: {ports:?}");

    let (mut other, _, _) = two_hosts(DeviceCaps::default(), LAT);
    let mut cfg = other.stacks[0].tcp_config().clone();
    cfg.secret = *b"another secret!!";
    other.stacks[0].set_tcp_config(cfg);
    let keyed = udp_bind_ports(&mut other);
    let same = ports.iter().zip(&keyed).filter(|(a, b)| a == b).count();
    assert!(same <= 2, "{ports:?} vs {keyed:?}");
}

/// `ping -R` through a router (Linux `ip_options_echo`): an echo request from A to C with an
/// empty record-route option is recorded by R as it forwards it (its outgoing address) and by
/// C as it receives it, C's reply carries the option back with C recorded once more (the
/// reply's source), and R records itself again on the way back. Before, C answered without
/// any option, so `ping -R` showed no route.
#[test]
fn an_echo_reply_carries_the_requests_record_route_back() {
    let mut net = three_hosts(1500);
    let a = common::Addrs {
        src_mac: common::mac(0, 1),
        dst_mac: common::mac(1, 1),
        src: ip("10.0.1.1"),
        dst: ip("10.0.2.1"),
    };
    let mut icmp = vec![8, 0, 0, 0, 0x12, 0x34, 0, 1];
    icmp.extend_from_slice(b"record me");
    let c = oxnic_stack::wire::checksum::checksum(&icmp);
    icmp[2..4].copy_from_slice(&c.to_be_bytes());
    let mut h = common::ipv4(&a, 1, 77, 64, icmp.len());
    // Nine empty slots, as `ping -R` sends (here without the sender's own first entry).
    let mut rr = vec![7, 39, 4];
    rr.resize(39, 0);
    rr.push(0);
    h.options = oxnic_stack::wire::ipv4::Ipv4Options::new(&rr).unwrap();
    // A's ARP entry for R, so that the reply is not held waiting for one.
    let now = net.now();
    net.stacks[0]
        .ping(ip("10.0.2.1"), ping_opts(1), b"warm", now)
        .unwrap();
    net.run_for(Duration::from_millis(10)).unwrap();
    assert_eq!(echo_replies(&mut net, 0).len(), 1);
    let tap = net.stacks[0].add_tap(TapPoint::WireRx, None, 10);
    inject(&mut net, 1, 1, &common::ip_frame(&a, &h, &icmp));
    net.run_for(Duration::from_millis(10)).unwrap();
    let seen = net.stacks[0].tap_take(tap).unwrap();
    let reply = seen
        .iter()
        .map(|c| c.packet.data().to_vec())
        .find(|d| d.len() > 34 && d[23] == 1 && d[14] & 0x0f > 5)
        .expect("an echo reply with options");
    let ihl = usize::from(reply[14] & 0x0f) * 4;
    assert_eq!(ihl, 60, "the 40 option bytes came back");
    let opt = &reply[34..14 + ihl];
    assert_eq!(reply[14 + ihl], 0, "an echo reply");
    assert_eq!(&opt[..2], &[7, 39]);
    assert_eq!(opt[2], 4 + 4 * 4, "four addresses recorded");
    let recorded: Vec<Ipv4Addr> = opt[3..19]
        .chunks(4)
        .map(|b| Ipv4Addr::new(b[0], b[1], b[2], b[3]))
        .collect();
    assert_eq!(
        recorded,
        [
            ip("10.0.2.254"),
            ip("10.0.2.1"),
            ip("10.0.2.1"),
            ip("10.0.1.254")
        ]
    );
    assert!(opt[19..].iter().all(|&b| b == 0), "the rest still free");
}

/// A UDP socket takes the lowest free slot, as a file descriptor does: closed sockets' slots
/// are reused lowest first (kept in a heap rather than found by a scan of the table), and a
/// bind with none free takes a new one.
#[test]
fn udp_binds_reuse_the_lowest_closed_slot_first() {
    let (mut net, _, _) = two_hosts(DeviceCaps::default(), LAT);
    let any = SocketAddrV4::new(ip("0.0.0.0"), 0);
    let s = &mut net.stacks[0];
    let h: Vec<_> = (0..4).map(|_| s.udp_bind(any).unwrap()).collect();
    s.udp_close(h[3]).unwrap();
    s.udp_close(h[1]).unwrap();
    assert_eq!(s.udp_bind(any).unwrap(), h[1]);
    assert_eq!(s.udp_bind(any).unwrap(), h[3]);
    let fresh = s.udp_bind(any).unwrap();
    assert!(!h.contains(&fresh), "{fresh:?} reused a live socket's slot");
    assert!(s.udp_local_addr(h[0]).is_ok() && s.udp_local_addr(h[2]).is_ok());
}

/// Linux routes 0.0.0.0 as this host (`ip_route_output_key_hash_rcu`), for `udp_sendmsg`
/// and for `__ip4_datagram_connect` alike: an unbound socket's datagram sent to it reaches
/// a socket here as one to 127.0.0.1, from 127.0.0.1, and a socket connected to it has
/// 127.0.0.1 as its peer and its local address.
#[test]
fn udp_to_0_0_0_0_reaches_this_host() {
    let (mut net, _, _) = two_hosts(DeviceCaps::default(), LAT);
    let any = |port| SocketAddrV4::new(ip("0.0.0.0"), port);
    let srv = net.stacks[0].udp_bind(any(7)).unwrap();
    let cli = net.stacks[0].udp_bind(any(0)).unwrap();
    let mut buf = [0u8; 64];
    let now = net.now();
    net.stacks[0]
        .udp_send_to(cli, b"hello", any(7), now)
        .unwrap();
    net.stacks[0]
        .udp_send_to_segmented(cli, b"aabbc", any(7), 2, now)
        .unwrap();
    net.run_for(Duration::from_millis(1)).unwrap();
    let mut got = Vec::new();
    while let Ok((n, from)) = net.stacks[0].udp_recv_from(srv, &mut buf) {
        assert_eq!(from.ip(), &ip("127.0.0.1"));
        got.push(buf[..n].to_vec());
    }
    assert_eq!(got, [&b"hello"[..], b"aa", b"bb", b"c"]);
    net.stacks[0].udp_connect(cli, any(7)).unwrap();
    assert_eq!(
        net.stacks[0].udp_peer_addr(cli),
        Ok(SocketAddrV4::new(ip("127.0.0.1"), 7))
    );
    assert_eq!(
        net.stacks[0].udp_local_addr(cli).unwrap().ip(),
        &ip("127.0.0.1")
    );
    let now = net.now();
    net.stacks[0].udp_send(cli, b"again", now).unwrap();
    net.run_for(Duration::from_millis(1)).unwrap();
    let (n, from) = net.stacks[0].udp_recv_from(srv, &mut buf).unwrap();
    assert_eq!(&buf[..n], b"again");
    let now = net.now();
    net.stacks[0].udp_send_to(srv, b"back", from, now).unwrap();
    net.run_for(Duration::from_millis(1)).unwrap();
    let (n, _) = net.stacks[0].udp_recv_from(cli, &mut buf).unwrap();
    assert_eq!(&buf[..n], b"back");
    assert_eq!(
        net.stacks[1].snmp().udp.in_datagrams,
        0,
        "nothing crossed the wire"
    );
}

/// A ping to 0.0.0.0 goes by the same route as a connect to it: to this host, which
/// answers from 127.0.0.1 as Linux does.
#[test]
fn ping_to_0_0_0_0_is_answered_by_this_host() {
    let (mut net, _, _) = two_hosts(DeviceCaps::default(), LAT);
    let now = net.now();
    net.stacks[0]
        .ping(ip("0.0.0.0"), ping_opts(1), b"me", now)
        .unwrap();
    net.run_for(Duration::from_millis(1)).unwrap();
    assert_eq!(
        echo_replies(&mut net, 0),
        vec![(ip("127.0.0.1"), 1, b"me".to_vec())]
    );
    assert_eq!(
        net.stacks[1].snmp().icmp.in_msgs,
        0,
        "nothing crossed the wire"
    );
}
