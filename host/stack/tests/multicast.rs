//! IPv4 multicast for UDP and the IGMPv3 host side, on the in-memory network: two stacks on
//! one link, A = stack 0 (10.0.0.1), B = stack 1 (10.0.0.2), each with `224.0.0.0/4 dev eth0`.

mod common;

use common::{
    ip, ip_frame, ipv4, mac, two_hosts, two_hosts_configured, Addrs, LinkConfig, Net, DEFAULT_SEED,
};
use oxnic_stack::igmp::{McInterface, ROBUSTNESS};
use oxnic_stack::packet_tap::{Captured, TapId, TapPoint};
use oxnic_stack::route::{Prefix, Route};
use oxnic_stack::udp::{UdpBindOptions, UdpError, UdpHandle};
use oxnic_stack::wire::checksum::{self, ChecksumMode};
use oxnic_stack::wire::icmpv4::{DstUnreachable, IcmpRepr};
use oxnic_stack::wire::igmp::{self, record_type, GroupRecord, IgmpRepr};
use oxnic_stack::wire::ipv4::{protocol, Ipv4Options, Ipv4Repr};
use oxnic_stack::{DeviceCaps, StackConfig};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

const LAT: Duration = Duration::from_micros(50);
const G1: &str = "239.1.1.1";
const G2: &str = "239.2.2.2";

fn net() -> Net {
    let (mut net, ia, ib) = two_hosts(DeviceCaps::default(), LAT);
    let mc = Prefix::new(ip("224.0.0.0"), 4).unwrap();
    net.stacks[0]
        .routes_mut()
        .add(Route::connected(mc, ia))
        .unwrap();
    net.stacks[1]
        .routes_mut()
        .add(Route::connected(mc, ib))
        .unwrap();
    // Let the gratuitous ARPs go by.
    net.run_for(Duration::from_millis(1)).unwrap();
    net
}

fn bind(net: &mut Net, s: usize, addr: &str, port: u16) -> UdpHandle {
    net.stacks[s]
        .udp_bind_with(
            SocketAddrV4::new(ip(addr), port),
            UdpBindOptions { reuse_addr: true },
        )
        .unwrap()
}

fn join(net: &mut Net, s: usize, h: UdpHandle, group: &str) -> Result<(), UdpError> {
    let now = net.now();
    net.stacks[s].udp_join_multicast(h, ip(group), McInterface::Any, now)
}

fn leave(net: &mut Net, s: usize, h: UdpHandle, group: &str) -> Result<(), UdpError> {
    let now = net.now();
    net.stacks[s].udp_leave_multicast(h, ip(group), McInterface::Any, now)
}

fn send(net: &mut Net, s: usize, h: UdpHandle, payload: &[u8], group: &str, port: u16) {
    let now = net.now();
    let to = SocketAddrV4::new(ip(group), port);
    net.stacks[s].udp_send_to(h, payload, to, now).unwrap();
    net.run_for(Duration::from_millis(1)).unwrap();
}

fn recv_all(net: &mut Net, s: usize, h: UdpHandle) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = [0u8; 2048];
    while let Ok((n, _)) = net.stacks[s].udp_recv_from(h, &mut buf) {
        out.push(buf[..n].to_vec());
    }
    out
}

/// The IPv4 header and payload of a captured Ethernet frame carrying IPv4.
fn ipv4_of(c: &Captured) -> Option<(Ipv4Repr, Vec<u8>)> {
    let d = c.packet.data();
    if d.get(12..14)? != [0x08, 0x00] {
        return None;
    }
    let (h, _) = Ipv4Repr::parse_quoted(&d[14..]).ok()?;
    let p = d[14 + h.header_len()..14 + h.header_len() + h.payload_len].to_vec();
    Some((h, p))
}

/// The IGMP reports in a capture: when, the checked header, and their group records.
fn reports(caps: &[Captured]) -> Vec<(Duration, Vec<GroupRecord>)> {
    let mut out = Vec::new();
    for c in caps {
        let Some((h, p)) = ipv4_of(c) else { continue };
        if h.protocol != protocol::IGMP {
            continue;
        }
        let d = c.packet.data();
        assert_eq!(
            &d[..6],
            &[0x01, 0x00, 0x5e, 0x00, 0x00, 0x16],
            "MAC of 224.0.0.22"
        );
        assert_eq!(h.dst, ip("224.0.0.22"));
        assert_eq!(h.ttl, 1);
        assert_eq!(h.options.as_bytes(), &[148, 4, 0, 0], "router alert");
        assert!(h.dont_frag);
        assert!(checksum::verify(&d[14..14 + h.header_len()]), "IP checksum");
        assert!(checksum::verify(&p), "IGMP checksum");
        assert_eq!(p[0], 0x22, "IGMPv3 report");
        let IgmpRepr::V3Report(r) = IgmpRepr::parse(&p).unwrap() else {
            panic!("not a v3 report");
        };
        out.push((Duration::from_nanos(c.at.as_nanos()), r.records().collect()));
    }
    out
}

fn rec(ty: u8, g: &str) -> GroupRecord {
    GroupRecord {
        record_type: ty,
        group: ip(g),
        sources: 0,
    }
}

#[test]
fn a_joined_host_receives_the_group_on_every_socket_of_the_port_and_others_drop_it() {
    let mut net = net();
    let tx = net.stacks[0]
        .udp_bind(SocketAddrV4::new(ip("0.0.0.0"), 0))
        .unwrap();
    let wild = bind(&mut net, 1, "0.0.0.0", 5000);
    let other = bind(&mut net, 1, "0.0.0.0", 5000);
    let on_group = bind(&mut net, 1, G1, 5000);
    let on_g2 = bind(&mut net, 1, G2, 5000);
    let other_port = bind(&mut net, 1, "0.0.0.0", 5001);
    // Not joined yet: the frame is for a MAC B does not listen to.
    send(&mut net, 0, tx, b"early", G1, 5000);
    assert!(recv_all(&mut net, 1, wild).is_empty());
    let otherhost = net.stacks[1].snmp().link.rx_otherhost;
    assert_eq!(
        otherhost, 1,
        "a multicast MAC not joined is dropped as another host's"
    );

    join(&mut net, 1, wild, G1).unwrap();
    let tap = net.stacks[0].add_tap(TapPoint::WireTx, None, 16);
    send(&mut net, 0, tx, b"to g1", G1, 5000);
    send(&mut net, 0, tx, b"to g2", G2, 5000);
    // IP_MULTICAST_ALL: every socket on the port whose address matches, joined or not.
    assert_eq!(recv_all(&mut net, 1, wild), vec![b"to g1".to_vec()]);
    assert_eq!(recv_all(&mut net, 1, other), vec![b"to g1".to_vec()]);
    assert_eq!(recv_all(&mut net, 1, on_group), vec![b"to g1".to_vec()]);
    assert!(recv_all(&mut net, 1, on_g2).is_empty(), "G2 not joined");
    assert!(recv_all(&mut net, 1, other_port).is_empty());
    assert_eq!(net.stacks[1].snmp().link.rx_otherhost, otherhost + 1);
    let sent = net.stacks[0].tap_take(tap).unwrap();
    assert_eq!(sent.len(), 2, "no ARP for a group: {sent:?}");
    assert_eq!(
        &sent[0].packet.data()[..6],
        &[0x01, 0x00, 0x5e, 0x01, 0x01, 0x01]
    );
    assert_eq!(
        &sent[1].packet.data()[..6],
        &[0x01, 0x00, 0x5e, 0x02, 0x02, 0x02]
    );

    // A socket bound to the group sends from the interface's address, connected or not.
    let back = bind(&mut net, 0, "0.0.0.0", 9);
    send(&mut net, 1, on_group, b"reply", "10.0.0.1", 9);
    net.stacks[1]
        .udp_connect(on_group, SocketAddrV4::new(ip("10.0.0.1"), 9))
        .unwrap();
    let now = net.now();
    net.stacks[1].udp_send(on_group, b"connected", now).unwrap();
    net.run_for(Duration::from_millis(1)).unwrap();
    let mut buf = [0u8; 64];
    for want in [&b"reply"[..], b"connected"] {
        let (n, from) = net.stacks[0].udp_recv_from(back, &mut buf).unwrap();
        assert_eq!(
            (&buf[..n], from),
            (want, SocketAddrV4::new(ip("10.0.0.2"), 5000))
        );
    }
}

#[test]
fn ip_input_drops_a_group_the_interface_did_not_join_even_when_the_mac_passes() {
    let mut net = net();
    let rx = bind(&mut net, 1, "0.0.0.0", 5000);
    join(&mut net, 1, rx, G1).unwrap();
    // 224.1.1.1 maps to G1's MAC (the low 23 bits agree): the link layer passes it, IP does
    // not deliver it.
    let tx = net.stacks[0]
        .udp_bind(SocketAddrV4::new(ip("0.0.0.0"), 0))
        .unwrap();
    send(&mut net, 0, tx, b"alias", "224.1.1.1", 5000);
    assert!(recv_all(&mut net, 1, rx).is_empty());
    assert_eq!(net.stacks[1].snmp().udp.in_datagrams, 0);
    send(&mut net, 0, tx, b"real", G1, 5000);
    assert_eq!(recv_all(&mut net, 1, rx), vec![b"real".to_vec()]);
}

#[test]
fn leaving_or_closing_stops_delivery_and_memberships_are_counted_per_socket() {
    let mut net = net();
    let tx = net.stacks[0]
        .udp_bind(SocketAddrV4::new(ip("0.0.0.0"), 0))
        .unwrap();
    let a = bind(&mut net, 1, "0.0.0.0", 5000);
    let b = bind(&mut net, 1, "0.0.0.0", 6000);
    join(&mut net, 1, a, G1).unwrap();
    join(&mut net, 1, b, G1).unwrap();
    assert_eq!(
        net.stacks[1].interface(1).unwrap().multicast_groups(),
        &[(ip(G1), 2)]
    );
    leave(&mut net, 1, a, G1).unwrap();
    send(&mut net, 0, tx, b"still", G1, 5000);
    assert_eq!(
        recv_all(&mut net, 1, a),
        vec![b"still".to_vec()],
        "b still holds the group"
    );
    net.stacks[1].udp_close(b).unwrap();
    assert!(net.stacks[1]
        .interface(1)
        .unwrap()
        .multicast_groups()
        .is_empty());
    send(&mut net, 0, tx, b"gone", G1, 5000);
    assert!(recv_all(&mut net, 1, a).is_empty());
}

#[test]
fn multicast_ttl_is_1_by_default_settable_and_not_ip_ttl() {
    let mut net = net();
    let tx = net.stacks[0]
        .udp_bind(SocketAddrV4::new(ip("0.0.0.0"), 0))
        .unwrap();
    assert_eq!(net.stacks[0].udp_multicast_ttl(tx), Ok(1));
    net.stacks[0].udp_set_ttl(tx, Some(77)).unwrap();
    let tap = net.stacks[0].add_tap(TapPoint::WireTx, None, 16);
    send(&mut net, 0, tx, b"x", G1, 5000);
    net.stacks[0].udp_set_multicast_ttl(tx, Some(5)).unwrap();
    assert_eq!(net.stacks[0].udp_multicast_ttl(tx), Ok(5));
    send(&mut net, 0, tx, b"x", G1, 5000);
    net.stacks[0].udp_set_multicast_ttl(tx, None).unwrap();
    send(&mut net, 0, tx, b"x", G1, 5000);
    send(&mut net, 0, tx, b"x", "10.0.0.2", 5000);
    let ttls: Vec<u8> = net.stacks[0]
        .tap_take(tap)
        .unwrap()
        .iter()
        .filter_map(ipv4_of)
        .map(|(h, _)| h.ttl)
        .collect();
    assert_eq!(ttls, vec![1, 5, 1, 77]);
}

#[test]
fn a_sent_datagram_loops_back_to_this_host_s_members_unless_loop_is_off() {
    let mut net = net();
    let tx = net.stacks[0]
        .udp_bind(SocketAddrV4::new(ip("0.0.0.0"), 0))
        .unwrap();
    let local = bind(&mut net, 0, "0.0.0.0", 5000);
    let remote = bind(&mut net, 1, "0.0.0.0", 5000);
    // Not joined here: no copy even with loop on.
    send(&mut net, 0, tx, b"unjoined", G1, 5000);
    assert!(recv_all(&mut net, 0, local).is_empty());
    join(&mut net, 0, local, G1).unwrap();
    join(&mut net, 1, remote, G1).unwrap();
    assert_eq!(net.stacks[0].udp_multicast_loop(tx), Ok(true));
    send(&mut net, 0, tx, b"looped", G1, 5000);
    assert_eq!(recv_all(&mut net, 0, local), vec![b"looped".to_vec()]);
    net.stacks[0].udp_set_multicast_loop(tx, false).unwrap();
    assert_eq!(net.stacks[0].udp_multicast_loop(tx), Ok(false));
    send(&mut net, 0, tx, b"not looped", G1, 5000);
    assert!(recv_all(&mut net, 0, local).is_empty());
    assert_eq!(
        recv_all(&mut net, 1, remote),
        vec![b"looped".to_vec(), b"not looped".to_vec()],
        "both left on the wire"
    );
}

#[test]
fn multicast_if_picks_the_interface_without_a_route() {
    let (mut net, _, _) = two_hosts(DeviceCaps::default(), LAT);
    let tx = net.stacks[0]
        .udp_bind(SocketAddrV4::new(ip("0.0.0.0"), 0))
        .unwrap();
    let now = net.now();
    let to = SocketAddrV4::new(ip(G1), 5000);
    assert!(matches!(
        net.stacks[0].udp_send_to(tx, b"x", to, now),
        Err(UdpError::Send(_))
    ));
    net.stacks[0]
        .udp_set_multicast_if(tx, McInterface::Addr(ip("10.0.0.1")))
        .unwrap();
    let rx = bind(&mut net, 1, "0.0.0.0", 5000);
    net.stacks[1]
        .udp_join_multicast(rx, ip(G1), McInterface::Addr(ip("10.0.0.2")), now)
        .unwrap();
    send(&mut net, 0, tx, b"by if", G1, 5000);
    assert_eq!(recv_all(&mut net, 1, rx), vec![b"by if".to_vec()]);
}

#[test]
fn membership_errors_are_linux_s() {
    let (mut net, _, _) = two_hosts(DeviceCaps::default(), LAT);
    let s = bind(&mut net, 1, "0.0.0.0", 5000);
    let now = net.now();
    let st = &mut net.stacks[1];
    // No route to the group and no interface named: ENODEV.
    assert_eq!(
        st.udp_join_multicast(s, ip(G1), McInterface::Any, now),
        Err(UdpError::NoDevice)
    );
    assert_eq!(
        st.udp_join_multicast(s, ip(G1), McInterface::Addr(ip("10.9.9.9")), now),
        Err(UdpError::NoDevice)
    );
    assert_eq!(
        st.udp_join_multicast(s, ip("10.0.0.7"), McInterface::Index(1), now),
        Err(UdpError::InvalidArgument)
    );
    assert_eq!(
        st.udp_leave_multicast(s, ip(G1), McInterface::Index(1), now),
        Err(UdpError::AddrNotAvailable)
    );
    st.udp_join_multicast(s, ip(G1), McInterface::Index(1), now)
        .unwrap();
    assert_eq!(
        st.udp_join_multicast(s, ip(G1), McInterface::Addr(ip("10.0.0.2")), now),
        Err(UdpError::AddrInUse)
    );
    st.udp_leave_multicast(s, ip(G1), McInterface::Addr(ip("10.0.0.2")), now)
        .unwrap();
    assert_eq!(
        st.udp_leave_multicast(s, ip(G1), McInterface::Any, now),
        Err(UdpError::AddrNotAvailable)
    );
    for i in 0..20u8 {
        let g = Ipv4Addr::new(239, 0, 0, i);
        st.udp_join_multicast(s, g, McInterface::Index(1), now)
            .unwrap();
    }
    assert_eq!(
        st.udp_join_multicast(s, ip("239.0.1.0"), McInterface::Index(1), now),
        Err(UdpError::TooManyMemberships)
    );
}

#[test]
fn join_and_leave_each_send_two_igmpv3_state_change_reports_a_second_apart() {
    let mut net = net();
    let s = bind(&mut net, 1, "0.0.0.0", 5000);
    let tap = net.stacks[1].add_tap(TapPoint::WireTx, None, 64);
    let t0 = Duration::from_nanos(net.now().as_nanos());
    join(&mut net, 1, s, G1).unwrap();
    // A second socket's join changes nothing on the wire.
    let s2 = bind(&mut net, 1, "0.0.0.0", 5001);
    join(&mut net, 1, s2, G1).unwrap();
    // 224.0.0.1 is never reported.
    join(&mut net, 1, s, "224.0.0.1").unwrap();
    net.run_for(Duration::from_secs(3)).unwrap();
    let joined = reports(&net.stacks[1].tap_take(tap).unwrap());
    assert_eq!(joined.len(), usize::from(ROBUSTNESS), "{joined:?}");
    for (_, recs) in &joined {
        assert_eq!(recs, &vec![rec(record_type::CHANGE_TO_EXCLUDE_MODE, G1)]);
    }
    assert_eq!(joined[0].0, t0, "the first goes at once");
    assert_eq!(joined[1].0 - joined[0].0, Duration::from_secs(1));

    leave(&mut net, 1, s, G1).unwrap();
    net.run_for(Duration::from_secs(3)).unwrap();
    assert!(
        reports(&net.stacks[1].tap_take(tap).unwrap()).is_empty(),
        "s2 still holds the group"
    );
    let t1 = Duration::from_nanos(net.now().as_nanos());
    leave(&mut net, 1, s2, G1).unwrap();
    net.run_for(Duration::from_secs(3)).unwrap();
    let left = reports(&net.stacks[1].tap_take(tap).unwrap());
    assert_eq!(left.len(), usize::from(ROBUSTNESS), "{left:?}");
    for (_, recs) in &left {
        assert_eq!(recs, &vec![rec(record_type::CHANGE_TO_INCLUDE_MODE, G1)]);
    }
    assert_eq!(left[0].0, t1);
    assert_eq!(left[1].0 - left[0].0, Duration::from_secs(1));
    assert_eq!(
        net.stacks[1].snmp().igmp.out_reports,
        2 * u64::from(ROBUSTNESS)
    );
    // A's link layer drops them: A is no IGMPv3 router (it did not join 224.0.0.22).
    assert_eq!(net.stacks[0].snmp().igmp.in_msgs, 0);
}

#[test]
fn closing_a_socket_reports_the_leave_on_the_next_poll() {
    let mut net = net();
    let s = bind(&mut net, 1, "0.0.0.0", 5000);
    join(&mut net, 1, s, G1).unwrap();
    net.run_for(Duration::from_secs(3)).unwrap();
    let tap = net.stacks[1].add_tap(TapPoint::WireTx, None, 64);
    net.stacks[1].udp_close(s).unwrap();
    net.run_for(Duration::from_secs(3)).unwrap();
    let left = reports(&net.stacks[1].tap_take(tap).unwrap());
    assert_eq!(left.len(), 2, "{left:?}");
    assert_eq!(
        left[0].1,
        vec![rec(record_type::CHANGE_TO_INCLUDE_MODE, G1)]
    );
}

/// An IGMP message from A (10.0.0.1) to `dst`, as a router sends it: TTL 1, router alert.
fn igmp_frame(dst: &str, msg: &[u8]) -> Vec<u8> {
    let a = Addrs {
        src_mac: mac(0, 1),
        dst_mac: igmp::mc_mac(ip(dst)),
        src: ip("10.0.0.1"),
        dst: ip(dst),
    };
    let mut h = ipv4(&a, protocol::IGMP, 1, 1, msg.len());
    h.options = Ipv4Options::raw(&[148, 4, 0, 0]).unwrap();
    ip_frame(&a, &h, msg)
}

fn feed_b(net: &mut Net, frame: &[u8]) {
    assert!(net.push_frame(1, 1, frame));
    let now = net.now();
    net.stacks[1].poll(now);
}

#[test]
fn a_query_is_answered_with_current_state_within_its_max_response_time() {
    let mut net = net();
    let s = bind(&mut net, 1, "0.0.0.0", 5000);
    join(&mut net, 1, s, G1).unwrap();
    join(&mut net, 1, s, G2).unwrap();
    net.run_for(Duration::from_secs(3)).unwrap();
    let tap = net.stacks[1].add_tap(TapPoint::WireTx, None, 64);

    // General query, max response 5 s (code 50).
    let mut q = [0u8; 12];
    igmp::emit_v3_query(&mut q, 50, Ipv4Addr::UNSPECIFIED).unwrap();
    let t0 = Duration::from_nanos(net.now().as_nanos());
    feed_b(&mut net, &igmp_frame("224.0.0.1", &q));
    assert_eq!(net.stacks[1].snmp().igmp.in_queries, 1);
    net.run_for(Duration::from_secs(6)).unwrap();
    let got = reports(&net.stacks[1].tap_take(tap).unwrap());
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(got[0].0 - t0 <= Duration::from_secs(5));
    assert_eq!(
        got[0].1,
        vec![
            rec(record_type::MODE_IS_EXCLUDE, G1),
            rec(record_type::MODE_IS_EXCLUDE, G2)
        ]
    );

    // Group-specific query for G2, to G2, max response 1 s.
    igmp::emit_v3_query(&mut q, 10, ip(G2)).unwrap();
    let t1 = Duration::from_nanos(net.now().as_nanos());
    feed_b(&mut net, &igmp_frame(G2, &q));
    net.run_for(Duration::from_secs(2)).unwrap();
    let got = reports(&net.stacks[1].tap_take(tap).unwrap());
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(got[0].0 - t1 <= Duration::from_secs(1));
    assert_eq!(got[0].1, vec![rec(record_type::MODE_IS_EXCLUDE, G2)]);
}

#[test]
fn malformed_igmp_is_counted_and_dropped() {
    let mut net = net();
    let s = bind(&mut net, 1, "0.0.0.0", 5000);
    join(&mut net, 1, s, G1).unwrap();
    net.run_for(Duration::from_secs(3)).unwrap();
    let tap = net.stacks[1].add_tap(TapPoint::WireTx, None, 64);
    let mut q = [0u8; 12];
    igmp::emit_v3_query(&mut q, 50, Ipv4Addr::UNSPECIFIED).unwrap();
    let mut bad_sum = q;
    bad_sum[5] ^= 0xff;
    let mut unknown = [0x42, 0, 0, 0, 0, 0, 0, 0];
    let c = checksum::checksum(&unknown);
    unknown[2..4].copy_from_slice(&c.to_be_bytes());
    // A v3 query claiming 100 sources.
    let mut lying = q;
    lying[10..12].copy_from_slice(&100u16.to_be_bytes());
    lying[2..4].copy_from_slice(&[0, 0]);
    let c = checksum::checksum(&lying);
    lying[2..4].copy_from_slice(&c.to_be_bytes());
    let bad: [&[u8]; 5] = [&q[..4], &q[..10], &bad_sum, &unknown, &lying];
    for msg in bad {
        let f = igmp_frame("224.0.0.1", msg);
        feed_b(&mut net, &f);
    }
    let m = net.stacks[1].snmp().igmp;
    assert_eq!((m.in_msgs, m.in_errors, m.in_queries), (5, 5, 0));
    net.run_for(Duration::from_secs(11)).unwrap();
    assert!(reports(&net.stacks[1].tap_take(tap).unwrap()).is_empty());
}

/// An ICMP message from A (10.0.0.1) to `dst` at B, on the MAC `dst` maps to (B's own for a
/// unicast `dst`).
fn icmp_to_b(dst: &str, msg: &IcmpRepr<'_>) -> Vec<u8> {
    let dst_ip = ip(dst);
    let a = Addrs {
        src_mac: mac(0, 1),
        dst_mac: if dst_ip.is_multicast() {
            igmp::mc_mac(dst_ip)
        } else {
            mac(1, 1)
        },
        src: ip("10.0.0.1"),
        dst: dst_ip,
    };
    let mut icmp = vec![0; msg.buffer_len()];
    msg.emit(&mut icmp, ChecksumMode::Software).unwrap();
    ip_frame(&a, &ipv4(&a, protocol::ICMP, 7, 64, icmp.len()), &icmp)
}

/// An error from A about B's datagram 10.0.0.2:4000 → 10.0.0.1:5000, quoting its header and
/// first 8 bytes.
fn error_about_b_s_datagram(
    reason: DstUnreachable,
    mtu: u16,
    quoted: &mut [u8; 8],
) -> IcmpRepr<'_> {
    let b = Addrs {
        src_mac: mac(1, 1),
        dst_mac: mac(0, 1),
        src: ip("10.0.0.2"),
        dst: ip("10.0.0.1"),
    };
    quoted[..2].copy_from_slice(&4000u16.to_be_bytes());
    quoted[2..4].copy_from_slice(&5000u16.to_be_bytes());
    quoted[4..6].copy_from_slice(&13u16.to_be_bytes());
    IcmpRepr::DstUnreachable {
        reason,
        next_hop_mtu: mtu,
        header: ipv4(&b, protocol::UDP, 1, 64, 13),
        data: quoted,
    }
}

/// Linux `icmp_rcv`: to a broadcast or multicast destination (224.0.0.1, which every host has
/// joined) only echo requests are taken. A forged error sent to all hosts reaches no socket
/// and teaches no path MTU; it counts in InErrors. The same error to B's address does both.
#[test]
fn an_icmp_error_to_all_hosts_reaches_no_socket() {
    let mut net = net();
    let s = bind(&mut net, 1, "0.0.0.0", 4000);
    net.stacks[1]
        .udp_connect(s, SocketAddrV4::new(ip("10.0.0.1"), 5000))
        .unwrap();
    let now = net.now();
    let mtu_before = net.stacks[1].path_mtu(ip("10.0.0.1"), now);
    assert_eq!(mtu_before, Some(1500));
    let mut q = [0u8; 8];
    let unreach = error_about_b_s_datagram(DstUnreachable::PortUnreachable, 0, &mut q);
    feed_b(&mut net, &icmp_to_b("224.0.0.1", &unreach));
    let mut q2 = [0u8; 8];
    let too_big = error_about_b_s_datagram(DstUnreachable::FragRequired, 600, &mut q2);
    feed_b(&mut net, &icmp_to_b("224.0.0.1", &too_big));
    assert_eq!(net.stacks[1].udp_take_error(s), Ok(None));
    let now = net.now();
    assert_eq!(net.stacks[1].path_mtu(ip("10.0.0.1"), now), mtu_before);
    let m = net.stacks[1].snmp().icmp;
    assert_eq!((m.in_msgs, m.in_dest_unreachs, m.in_errors), (2, 2, 2));
    assert!(net.stacks[1].icmp_events().is_empty());

    // The same, unicast: both take effect, so the forgeries above were well formed.
    feed_b(&mut net, &icmp_to_b("10.0.0.2", &unreach));
    assert_eq!(
        net.stacks[1].udp_take_error(s),
        Ok(Some(UdpError::ConnectionRefused))
    );
    feed_b(&mut net, &icmp_to_b("10.0.0.2", &too_big));
    let now = net.now();
    assert_eq!(net.stacks[1].path_mtu(ip("10.0.0.1"), now), Some(600));
}

/// An echo request to 224.0.0.1 is ignored as one to a broadcast address is
/// (`icmp_echo_ignore_broadcasts`, on by default): counted in InEchos and InErrors, no reply
/// attempted (so no OutErrors). With it off, the reply goes from the interface's address.
#[test]
fn an_echo_to_all_hosts_is_ignored_or_answered_from_the_interface_s_address() {
    let ping = IcmpRepr::EchoRequest {
        ident: 9,
        seq_no: 1,
        data: b"all",
    };
    let mut net = net();
    let tap = net.stacks[1].add_tap(TapPoint::WireTx, None, 16);
    feed_b(&mut net, &icmp_to_b("224.0.0.1", &ping));
    net.run_for(Duration::from_millis(5)).unwrap();
    let m = net.stacks[1].snmp().icmp;
    assert_eq!((m.in_echos, m.in_errors), (1, 1));
    assert_eq!((m.out_msgs, m.out_echo_reps, m.out_errors), (0, 0, 0));
    let sent = net.stacks[1].tap_take(tap).unwrap();
    assert!(!sent
        .iter()
        .filter_map(ipv4_of)
        .any(|(h, _)| h.protocol == protocol::ICMP));

    let answering = StackConfig {
        icmp_echo_broadcasts: true,
        ..StackConfig::default()
    };
    let caps = DeviceCaps::default();
    let (mut net, _, _) = two_hosts_configured(
        [StackConfig::default(), answering],
        caps,
        LinkConfig::new(LAT, caps.mtu),
        DEFAULT_SEED,
    );
    net.run_for(Duration::from_millis(1)).unwrap();
    let tap = net.stacks[1].add_tap(TapPoint::WireTx, None, 16);
    feed_b(&mut net, &icmp_to_b("224.0.0.1", &ping));
    net.run_for(Duration::from_millis(5)).unwrap();
    let m = net.stacks[1].snmp().icmp;
    assert_eq!(
        (m.in_echos, m.in_errors, m.out_echo_reps, m.out_errors),
        (1, 0, 1, 0)
    );
    let replies: Vec<(Ipv4Addr, Ipv4Addr)> = net.stacks[1]
        .tap_take(tap)
        .unwrap()
        .iter()
        .filter_map(ipv4_of)
        .filter(|(h, p)| h.protocol == protocol::ICMP && p.first() == Some(&0))
        .map(|(h, _)| (h.src, h.dst))
        .collect();
    assert_eq!(replies, vec![(ip("10.0.0.2"), ip("10.0.0.1"))]);
}

/// A sending socket on A, and a socket on port 5000 on each host that joined G1, with the
/// join reports done with: (A's sender, A's member, B's member).
fn g1_members(net: &mut Net) -> (UdpHandle, UdpHandle, UdpHandle) {
    let tx = net.stacks[0]
        .udp_bind(SocketAddrV4::new(ip("0.0.0.0"), 0))
        .unwrap();
    let local = bind(net, 0, "0.0.0.0", 5000);
    let remote = bind(net, 1, "0.0.0.0", 5000);
    join(net, 0, local, G1).unwrap();
    join(net, 1, remote, G1).unwrap();
    net.run_for(Duration::from_secs(3)).unwrap();
    (tx, local, remote)
}

/// Linux `ip_mc_output`: a datagram to a group with `IP_MULTICAST_TTL` 0 is delivered to this
/// host's members (the loopback copy) and never leaves it.
#[test]
fn a_multicast_ttl_of_0_stays_on_the_host() {
    let mut net = net();
    let (tx, local, remote) = g1_members(&mut net);
    net.stacks[0].udp_set_multicast_ttl(tx, Some(0)).unwrap();
    let tap = net.stacks[0].add_tap(TapPoint::WireTx, None, 16);
    send(&mut net, 0, tx, b"host only", G1, 5000);
    assert_eq!(recv_all(&mut net, 0, local), vec![b"host only".to_vec()]);
    assert!(recv_all(&mut net, 1, remote).is_empty());
    assert!(
        net.stacks[0].tap_take(tap).unwrap().is_empty(),
        "nothing on the wire"
    );
    net.stacks[0].udp_set_multicast_ttl(tx, Some(1)).unwrap();
    send(&mut net, 0, tx, b"link", G1, 5000);
    assert_eq!(recv_all(&mut net, 1, remote), vec![b"link".to_vec()]);
}

/// A UDP datagram from A's MAC to `dst`:`port` with IP source `src`.
fn udp_from(src: &str, dst: &str, port: u16, payload: &[u8]) -> Vec<u8> {
    let a = Addrs {
        src_mac: mac(0, 1),
        dst_mac: igmp::mc_mac(ip(dst)),
        src: ip(src),
        dst: ip(dst),
    };
    common::udp_frame(&a, 68, port, payload)
}

/// Linux `ip_mc_validate_source`: a multicast datagram from 0.0.0.0 (a host with no address
/// yet) is received only when it is IGMP or to a link-local group (224.0.0.0/24); anything
/// else from it is dropped as a martian.
#[test]
fn a_zero_source_is_taken_only_for_igmp_or_a_link_local_group() {
    let mut net = net();
    let s = bind(&mut net, 1, "0.0.0.0", 5000);
    join(&mut net, 1, s, G1).unwrap();
    join(&mut net, 1, s, "224.0.0.251").unwrap();
    net.run_for(Duration::from_secs(3)).unwrap();
    let errs = net.stacks[1].snmp().ip.in_addr_errors;
    feed_b(&mut net, &udp_from("0.0.0.0", G1, 5000, b"routable group"));
    assert!(recv_all(&mut net, 1, s).is_empty());
    assert_eq!(net.stacks[1].snmp().ip.in_addr_errors, errs + 1);
    feed_b(
        &mut net,
        &udp_from("0.0.0.0", "224.0.0.251", 5000, b"link local"),
    );
    assert_eq!(recv_all(&mut net, 1, s), vec![b"link local".to_vec()]);
    // IGMP from 0.0.0.0 to any group: a general query to G1 (odd, but IGMP) is heard.
    let mut q = [0u8; 12];
    igmp::emit_v3_query(&mut q, 10, Ipv4Addr::UNSPECIFIED).unwrap();
    let mut f = igmp_frame(G1, &q);
    // Source 0.0.0.0: rewrite the address and the header checksum.
    f[26..30].copy_from_slice(&[0, 0, 0, 0]);
    f[24..26].copy_from_slice(&[0, 0]);
    let hl = usize::from(f[14] & 0x0f) * 4;
    let c = checksum::checksum(&f[14..14 + hl]);
    f[24..26].copy_from_slice(&c.to_be_bytes());
    feed_b(&mut net, &f);
    assert_eq!(net.stacks[1].snmp().igmp.in_queries, 1);
    assert_eq!(net.stacks[1].snmp().ip.in_addr_errors, errs + 1);
}

/// Linux `udp_rcv_segment`: a `UDP_SEGMENT` send to a group this host joined loops back as
/// its datagrams, one per segment, while the wire carries them too.
#[test]
fn a_segmented_send_to_a_joined_group_loops_back_as_its_datagrams() {
    let mut net = net();
    let (tx, local, remote) = g1_members(&mut net);
    let data: Vec<u8> = (0..2500u32).map(|i| i as u8).collect();
    let now = net.now();
    let to = SocketAddrV4::new(ip(G1), 5000);
    assert_eq!(
        net.stacks[0].udp_send_to_segmented(tx, &data, to, 1000, now),
        Ok(2500)
    );
    net.run_for(Duration::from_millis(1)).unwrap();
    let want: Vec<Vec<u8>> = data.chunks(1000).map(<[u8]>::to_vec).collect();
    let lens = |v: &[Vec<u8>]| v.iter().map(Vec::len).collect::<Vec<_>>();
    let looped = recv_all(&mut net, 0, local);
    assert_eq!(lens(&looped), [1000, 1000, 500], "looped back");
    assert!(looped == want);
    let wire = recv_all(&mut net, 1, remote);
    assert_eq!(lens(&wire), [1000, 1000, 500], "on the wire");
    assert!(wire == want);
}

/// An 8-byte version 1 or 2 query (RFC 2236 §2), its checksum filled in.
fn old_query(code: u8, group: &str) -> [u8; 8] {
    let mut q = [0x11, code, 0, 0, 0, 0, 0, 0];
    q[4..].copy_from_slice(&ip(group).octets());
    let c = checksum::checksum(&q);
    q[2..4].copy_from_slice(&c.to_be_bytes());
    q
}

/// Sends B `query` (to 224.0.0.1) and returns how long after it the one report came and its
/// records; no other report may come within `within` + 1 s.
fn answer_to(net: &mut Net, query: &[u8], within: Duration) -> (Duration, Vec<GroupRecord>) {
    let tap = net.stacks[1].add_tap(TapPoint::WireTx, None, 64);
    let t0 = Duration::from_nanos(net.now().as_nanos());
    feed_b(net, &igmp_frame("224.0.0.1", query));
    net.run_for(within + Duration::from_secs(1)).unwrap();
    let mut got = reports(&net.stacks[1].tap_take(tap).unwrap());
    assert_eq!(got.len(), 1, "{got:?}");
    let (at, recs) = got.remove(0);
    (at - t0, recs)
}

/// RFC 3376 §7 as this host runs it: version 1 (code 0: 10 s) and version 2 queries are
/// answered with version 3 current-state reports, within their max response time. A version
/// 3 query with code 0 is answered at once (Linux `igmp_heard_query`), not after up to 10 s.
#[test]
fn queries_of_every_version_are_answered_with_v3_reports_and_a_v3_code_0_at_once() {
    let mut net = net();
    let s = bind(&mut net, 1, "0.0.0.0", 5000);
    join(&mut net, 1, s, G1).unwrap();
    net.run_for(Duration::from_secs(3)).unwrap();
    let current = vec![rec(record_type::MODE_IS_EXCLUDE, G1)];

    let mut q = [0u8; 12];
    igmp::emit_v3_query(&mut q, 0, Ipv4Addr::UNSPECIFIED).unwrap();
    let (after, recs) = answer_to(&mut net, &q, Duration::ZERO);
    assert!(after <= Duration::from_millis(1), "{after:?}");
    assert_eq!(recs, current);

    let (after, recs) = answer_to(&mut net, &old_query(0, "0.0.0.0"), Duration::from_secs(10));
    assert!(after <= Duration::from_secs(10), "{after:?}");
    assert_eq!(recs, current, "v1 query");

    let (after, recs) = answer_to(&mut net, &old_query(20, "0.0.0.0"), Duration::from_secs(2));
    assert!(after <= Duration::from_secs(2), "{after:?}");
    assert_eq!(recs, current, "v2 query");
    assert_eq!(net.stacks[1].snmp().igmp.in_queries, 3);
}

/// Linux `__ip4_datagram_connect` routes a group as `udp_sendmsg` does: by `IP_MULTICAST_IF`
/// (`mc_index`), so no route to 224/4 is needed and the local address is that interface's;
/// `IP_MULTICAST_IF` given by address also makes that address the source (`mc_addr`).
#[test]
fn connect_to_a_group_and_the_source_follow_multicast_if() {
    // No 224/4 route: a connect by IP_MULTICAST_IF still succeeds, and its datagrams arrive.
    let (mut bare, _, _) = two_hosts(DeviceCaps::default(), LAT);
    let rx = bind(&mut bare, 1, "0.0.0.0", 5000);
    let now = bare.now();
    bare.stacks[1]
        .udp_join_multicast(rx, ip(G1), McInterface::Addr(ip("10.0.0.2")), now)
        .unwrap();
    let c = bare.stacks[0]
        .udp_bind(SocketAddrV4::new(ip("0.0.0.0"), 0))
        .unwrap();
    let to = SocketAddrV4::new(ip(G1), 5000);
    assert!(bare.stacks[0].udp_connect(c, to).is_err(), "no route");
    bare.stacks[0]
        .udp_set_multicast_if(c, McInterface::Index(1))
        .unwrap();
    bare.stacks[0].udp_connect(c, to).unwrap();
    assert_eq!(
        *bare.stacks[0].udp_local_addr(c).unwrap().ip(),
        ip("10.0.0.1")
    );
    let now = bare.now();
    bare.stacks[0].udp_send(c, b"connected", now).unwrap();
    bare.run_for(Duration::from_millis(1)).unwrap();
    assert_eq!(recv_all(&mut bare, 1, rx), vec![b"connected".to_vec()]);

    // A second address on A's eth0, and a second interface: the route to the group is eth0.
    let mut net = net();
    let now = net.now();
    net.stacks[0]
        .add_address(1, ip("10.0.0.5"), 24, now)
        .unwrap();
    let eth1 = net
        .add_iface(0, "10.9.0.1/24", DeviceCaps::default())
        .unwrap();
    let rx = bind(&mut net, 1, "0.0.0.0", 5000);
    join(&mut net, 1, rx, G1).unwrap();
    net.run_for(Duration::from_secs(3)).unwrap();

    let by_index = net.stacks[0]
        .udp_bind(SocketAddrV4::new(ip("0.0.0.0"), 0))
        .unwrap();
    net.stacks[0]
        .udp_set_multicast_if(by_index, McInterface::Index(eth1))
        .unwrap();
    net.stacks[0].udp_connect(by_index, to).unwrap();
    assert_eq!(
        *net.stacks[0].udp_local_addr(by_index).unwrap().ip(),
        ip("10.9.0.1"),
        "the address of the interface it sends by, not of the route's"
    );

    let by_addr = net.stacks[0]
        .udp_bind(SocketAddrV4::new(ip("0.0.0.0"), 0))
        .unwrap();
    net.stacks[0]
        .udp_set_multicast_if(by_addr, McInterface::Addr(ip("10.0.0.5")))
        .unwrap();
    send(&mut net, 0, by_addr, b"from .5", G1, 5000);
    let mut buf = [0u8; 64];
    let (n, from) = net.stacks[1].udp_recv_from(rx, &mut buf).unwrap();
    assert_eq!(&buf[..n], b"from .5");
    assert_eq!(*from.ip(), ip("10.0.0.5"));
    net.stacks[0].udp_connect(by_addr, to).unwrap();
    assert_eq!(
        *net.stacks[0].udp_local_addr(by_addr).unwrap().ip(),
        ip("10.0.0.5")
    );
}

/// Linux `__udp4_lib_mcast_deliver`: a datagram to a joined group that no socket takes (none
/// on its port) counts in IgnoredMulti, not NoPorts, and draws no port unreachable.
#[test]
fn a_group_datagram_no_socket_takes_counts_ignored_multi_and_gets_no_icmp() {
    let mut net = net();
    let tx = net.stacks[0]
        .udp_bind(SocketAddrV4::new(ip("0.0.0.0"), 0))
        .unwrap();
    let s = bind(&mut net, 1, "0.0.0.0", 5000);
    join(&mut net, 1, s, G1).unwrap();
    net.run_for(Duration::from_secs(3)).unwrap();
    let tap = net.stacks[1].add_tap(TapPoint::WireTx, None, 16);
    send(&mut net, 0, tx, b"port 5001", G1, 5001);
    net.run_for(Duration::from_millis(5)).unwrap();
    let m = net.stacks[1].snmp();
    assert_eq!(
        (m.udp.ignored_multi, m.udp.no_ports, m.udp.in_datagrams),
        (1, 0, 0)
    );
    assert_eq!(m.icmp.out_msgs, 0);
    assert!(net.stacks[1].tap_take(tap).unwrap().is_empty());
    assert!(m.to_string().contains("IgnoredMulti"));
}

/// B's socket on port 5000 joins G1 and G2 and the join reports are done with; then B hears
/// a query about G1 and a general one, each with a 10 s maximum response time. Returns the
/// socket and a tap on what B sends from the queries on.
fn g1_and_general_queries(net: &mut Net) -> (UdpHandle, TapId) {
    let s = bind(net, 1, "0.0.0.0", 5000);
    join(net, 1, s, G1).unwrap();
    join(net, 1, s, G2).unwrap();
    net.run_for(Duration::from_secs(3)).unwrap();
    let tap = net.stacks[1].add_tap(TapPoint::WireTx, None, 64);
    let mut q = [0u8; 12];
    igmp::emit_v3_query(&mut q, 100, ip(G1)).unwrap();
    feed_b(net, &igmp_frame(G1, &q));
    igmp::emit_v3_query(&mut q, 100, Ipv4Addr::UNSPECIFIED).unwrap();
    feed_b(net, &igmp_frame("224.0.0.1", &q));
    (s, tap)
}

/// RFC 3376 §5.2: a general query heard while a group-specific answer is pending schedules
/// its own answer and leaves the group's pending one alone; both are sent.
#[test]
fn a_general_query_does_not_cancel_a_pending_group_specific_answer() {
    let mut net = net();
    let (_s, tap) = g1_and_general_queries(&mut net);
    net.run_for(Duration::from_secs(11)).unwrap();
    let mut got: Vec<Vec<GroupRecord>> = reports(&net.stacks[1].tap_take(tap).unwrap())
        .into_iter()
        .map(|(_, r)| r)
        .collect();
    got.sort_by_key(Vec::len);
    let x = record_type::MODE_IS_EXCLUDE;
    assert_eq!(
        got,
        vec![vec![rec(x, G1)], vec![rec(x, G1), rec(x, G2)]],
        "the group's answer and the general one"
    );
}

/// The record types of `reports`, in order, with their times after `t0`.
fn report_types(reps: &[(Duration, Vec<GroupRecord>)], t0: Duration) -> Vec<(Duration, u8)> {
    reps.iter()
        .flat_map(|(at, recs)| recs.iter().map(move |r| (*at - t0, r.record_type)))
        .collect()
}

/// `igmp_ifc_event`: a leave right after a join replaces the join's pending repeat; the wire
/// sees one join report and then only the leave's two.
#[test]
fn a_leave_right_after_a_join_cancels_the_join_s_repeat() {
    let mut net = net();
    let s = bind(&mut net, 1, "0.0.0.0", 5000);
    let tap = net.stacks[1].add_tap(TapPoint::WireTx, None, 64);
    let t0 = Duration::from_nanos(net.now().as_nanos());
    join(&mut net, 1, s, G1).unwrap();
    leave(&mut net, 1, s, G1).unwrap();
    net.run_for(Duration::from_secs(3)).unwrap();
    let got = reports(&net.stacks[1].tap_take(tap).unwrap());
    let (to_ex, to_in) = (
        record_type::CHANGE_TO_EXCLUDE_MODE,
        record_type::CHANGE_TO_INCLUDE_MODE,
    );
    assert_eq!(
        report_types(&got, t0),
        vec![
            (Duration::ZERO, to_ex),
            (Duration::ZERO, to_in),
            (Duration::from_secs(1), to_in)
        ]
    );
}

/// A pending query answer reports the state when it is sent: a group left before then is
/// not in it, and an answer about only that group is not sent at all.
#[test]
fn a_query_answer_leaves_out_a_group_left_before_its_time() {
    let mut net = net();
    let (s, tap) = g1_and_general_queries(&mut net);
    leave(&mut net, 1, s, G1).unwrap();
    net.run_for(Duration::from_secs(11)).unwrap();
    let got = reports(&net.stacks[1].tap_take(tap).unwrap());
    let current: Vec<&Vec<GroupRecord>> = got
        .iter()
        .map(|(_, r)| r)
        .filter(|r| {
            r.iter()
                .any(|x| x.record_type == record_type::MODE_IS_EXCLUDE)
        })
        .collect();
    assert_eq!(
        current,
        vec![&vec![rec(record_type::MODE_IS_EXCLUDE, G2)]],
        "{got:?}"
    );
}

/// A query heard while a state-change report is still being repeated is answered in its
/// time, and the state change's repeat still goes out (RFC 3376 §5.2 cancels neither).
#[test]
fn a_query_while_a_state_change_is_pending_is_answered_and_the_repeat_still_sent() {
    let mut net = net();
    let s = bind(&mut net, 1, "0.0.0.0", 5000);
    let tap = net.stacks[1].add_tap(TapPoint::WireTx, None, 64);
    let t0 = Duration::from_nanos(net.now().as_nanos());
    join(&mut net, 1, s, G1).unwrap();
    net.run_for(Duration::from_millis(100)).unwrap();
    // General query, max response 0.5 s: answered before the repeat at 1 s.
    let mut q = [0u8; 12];
    igmp::emit_v3_query(&mut q, 5, Ipv4Addr::UNSPECIFIED).unwrap();
    feed_b(&mut net, &igmp_frame("224.0.0.1", &q));
    net.run_for(Duration::from_secs(3)).unwrap();
    let got = report_types(&reports(&net.stacks[1].tap_take(tap).unwrap()), t0);
    let types: Vec<u8> = got.iter().map(|&(_, t)| t).collect();
    assert_eq!(
        types,
        vec![
            record_type::CHANGE_TO_EXCLUDE_MODE,
            record_type::MODE_IS_EXCLUDE,
            record_type::CHANGE_TO_EXCLUDE_MODE
        ],
        "{got:?}"
    );
    assert!(got[1].0 <= Duration::from_millis(600), "{got:?}");
    assert_eq!(got[2].0, Duration::from_secs(1));
}

/// 224.0.0.1's MAC passes the link filter on every interface, with no group joined: a
/// datagram to all hosts reaches a socket on its port and is not counted as another host's.
#[test]
fn the_all_hosts_mac_always_passes_the_link_filter() {
    let mut net = net();
    let s = bind(&mut net, 1, "0.0.0.0", 5000);
    assert!(net.stacks[1]
        .interface(1)
        .unwrap()
        .multicast_groups()
        .is_empty());
    let before = net.stacks[1].snmp().link.rx_otherhost;
    feed_b(
        &mut net,
        &udp_from("10.0.0.1", "224.0.0.1", 5000, b"all hosts"),
    );
    assert_eq!(recv_all(&mut net, 1, s), vec![b"all hosts".to_vec()]);
    assert_eq!(net.stacks[1].snmp().link.rx_otherhost, before);
    // The control: a group not joined is dropped at the link layer.
    feed_b(&mut net, &udp_from("10.0.0.1", G1, 5000, b"not joined"));
    assert!(recv_all(&mut net, 1, s).is_empty());
    assert_eq!(net.stacks[1].snmp().link.rx_otherhost, before + 1);
}
