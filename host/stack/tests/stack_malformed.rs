//! Malformed and truncated packets of every format are dropped and counted, never a panic;
//! except a TCP segment with malformed options, which Linux processes (the options ignored).

mod common;

use common::{ip, ip_frame, ipv4, mac, two_hosts, udp_frame, Addrs, Net};
use oxnic_stack::icmp::PingOptions;
use oxnic_stack::packet_tap::TapPoint;
use oxnic_stack::pktbuf::PacketBuf;
use oxnic_stack::snmp::Snmp;
use oxnic_stack::wire::checksum;
use oxnic_stack::DeviceCaps;
use std::net::SocketAddrV4;
use std::time::Duration;

fn setup() -> (Net, Addrs) {
    let (net, ia, ib) = two_hosts(DeviceCaps::default(), Duration::from_micros(10));
    let addrs = Addrs {
        src_mac: mac(0, ia),
        dst_mac: mac(1, ib),
        src: ip("10.0.0.1"),
        dst: ip("10.0.0.2"),
    };
    (net, addrs)
}

/// Feeds one frame to B and returns B's counters after it.
fn feed(net: &mut Net, frame: &[u8]) -> Snmp {
    assert!(net.push_frame(1, 1, frame));
    let now = net.now();
    net.stacks[1].poll(now);
    net.stacks[1].snmp()
}

fn fix_ip_checksum(f: &mut [u8]) {
    let ihl = usize::from(f[14] & 0x0f) * 4;
    f[24..26].copy_from_slice(&[0, 0]);
    if let Some(h) = f.get(14..14 + ihl) {
        let c = checksum::checksum(h);
        f[24..26].copy_from_slice(&c.to_be_bytes());
    }
}

#[test]
fn malformed_frames_are_counted_drops() {
    let (mut net, a) = setup();
    let sock = net.stacks[1]
        .udp_bind(SocketAddrV4::new(ip("0.0.0.0"), 9))
        .unwrap();
    let good = udp_frame(&a, 1000, 9, b"payload!");
    let base = feed(&mut net, &good);
    assert_eq!(base.udp.in_datagrams, 1);

    // Link layer.
    let s = feed(&mut net, &good[..10]);
    assert_eq!(s.link.rx_runt, 1);
    let mut f = good.clone();
    f[12..14].copy_from_slice(&[0x86, 0xdd]);
    assert_eq!(feed(&mut net, &f).link.rx_nohandler, 1);
    let mut f = good.clone();
    f[..6].copy_from_slice(&[2, 9, 9, 9, 9, 9]);
    assert_eq!(feed(&mut net, &f).link.rx_otherhost, 1);
    let mut f = good[..12].to_vec();
    f.extend_from_slice(&[0x81, 0x00, 0x00]);
    assert_eq!(feed(&mut net, &f).link.rx_runt, 2, "truncated 802.1Q tag");
    let mut f = good[..12].to_vec();
    f.extend_from_slice(&[0x81, 0x00, 0x00, 0x05, 0x08, 0x00]);
    f.extend_from_slice(&good[14..]);
    assert_eq!(
        feed(&mut net, &f).link.rx_vlan_unknown,
        1,
        "VLAN 5 on an untagged link"
    );
    let mut f = good[..12].to_vec();
    f.extend_from_slice(&[0x08, 0x06, 0, 1, 8, 0, 6]);
    assert_eq!(feed(&mut net, &f).link.arp_malformed, 1, "truncated ARP");

    // IPv4 header.
    let before = net.stacks[1].snmp().ip.in_hdr_errors;
    let mut f = good.clone();
    f[14] = 0x65; // version 6
    fix_ip_checksum(&mut f);
    assert_eq!(feed(&mut net, &f).ip.in_hdr_errors, before + 1);
    let mut f = good.clone();
    f[14] = 0x44; // IHL 4
    assert_eq!(feed(&mut net, &f).ip.in_hdr_errors, before + 2);
    assert_eq!(
        feed(&mut net, &good[..14 + 12]).ip.in_hdr_errors,
        before + 3,
        "cut header"
    );
    let mut f = good.clone();
    f[16..18].copy_from_slice(&2000u16.to_be_bytes());
    fix_ip_checksum(&mut f);
    assert_eq!(feed(&mut net, &f).ip.in_truncated_pkts, 1);
    let mut f = good.clone();
    f[16..18].copy_from_slice(&10u16.to_be_bytes()); // total length under the header
    fix_ip_checksum(&mut f);
    assert_eq!(feed(&mut net, &f).ip.in_hdr_errors, before + 4);
    let mut f = good.clone();
    f[24] ^= 0xff;
    let s = feed(&mut net, &f);
    assert_eq!((s.ip.in_csum_errors, s.ip.in_hdr_errors), (1, before + 5));
    // Options with a zero length byte.
    let mut h = ipv4(&a, 17, 9, 64, 16);
    h.options = oxnic_stack::wire::ipv4::Ipv4Options::new(&[0x07, 0x04, 0x04, 0x00]).unwrap();
    let mut f = ip_frame(&a, &h, &good[34..]);
    f[14 + 21] = 0;
    fix_ip_checksum(&mut f);
    let s = feed(&mut net, &f);
    assert_eq!(s.ip.in_hdr_errors, before + 6, "bad option length");
    assert_eq!(
        s.icmp.out_parm_probs, 1,
        "answered with a parameter problem"
    );

    // Not for us, and forwarding is off; or from a broadcast source.
    let other = Addrs {
        dst: ip("10.0.0.99"),
        ..a
    };
    assert_eq!(
        feed(&mut net, &udp_frame(&other, 1, 9, b"x"))
            .ip
            .in_addr_errors,
        1
    );
    let martian = Addrs {
        src: ip("255.255.255.255"),
        ..a
    };
    assert_eq!(
        feed(&mut net, &udp_frame(&martian, 1, 9, b"x"))
            .ip
            .in_addr_errors,
        2
    );

    // UDP.
    let mut f = good.clone();
    f[38..40].copy_from_slice(&100u16.to_be_bytes()); // length past the datagram
    assert_eq!(feed(&mut net, &f).udp.in_errors, 1);
    let mut f = good.clone();
    *f.last_mut().unwrap() ^= 0x55;
    let s = feed(&mut net, &f);
    assert_eq!((s.udp.in_csum_errors, s.udp.in_errors), (1, 2));
    let mut f = good.clone();
    f[40..42].copy_from_slice(&[0, 0]); // checksum zero: none, accepted
    assert_eq!(feed(&mut net, &f).udp.in_datagrams, 2);
    let h = ipv4(&a, 17, 9, 64, 5);
    assert_eq!(
        feed(&mut net, &ip_frame(&a, &h, &[0, 1, 0, 9, 0]))
            .udp
            .in_errors,
        3,
        "UDP header cut"
    );

    // ICMP.
    let h = ipv4(&a, 1, 9, 64, 3);
    let s = feed(&mut net, &ip_frame(&a, &h, &[8, 0, 0]));
    assert_eq!((s.icmp.in_msgs, s.icmp.in_errors), (1, 1));
    let h = ipv4(&a, 1, 9, 64, 12);
    let s = feed(
        &mut net,
        &ip_frame(&a, &h, &[8, 0, 0x12, 0x34, 0, 1, 0, 1, 1, 2, 3, 4]),
    );
    assert_eq!((s.icmp.in_csum_errors, s.icmp.in_errors), (1, 2));
    assert_eq!(s.icmp.out_echo_reps, 0);

    // TCP: a segment shorter than its header is an input error, answered with nothing.
    let sent = net.stacks[1].snmp().icmp.out_msgs;
    let h = ipv4(&a, 6, 9, 64, 7);
    let s = feed(&mut net, &ip_frame(&a, &h, &[0; 7]));
    assert_eq!(
        (s.tcp.in_errs, s.tcp.out_rsts, s.ip.in_unknown_protos),
        (1, 0, 0)
    );
    assert_eq!(s.icmp.out_msgs, sent);
    // An unknown protocol gets protocol unreachable.
    let h = ipv4(&a, 99, 9, 64, 4);
    let s = feed(&mut net, &ip_frame(&a, &h, &[1, 2, 3, 4]));
    assert_eq!((s.ip.in_unknown_protos, s.icmp.out_dest_unreachs), (1, 1));

    let mut buf = [0; 64];
    let (n, _) = net.stacks[1].udp_recv_from(sock, &mut buf).unwrap();
    assert_eq!(&buf[..n], b"payload!");
}

#[test]
fn random_corruption_never_panics_and_the_stack_keeps_working() {
    let (mut net, a) = setup();
    let seeds: Vec<Vec<u8>> = vec![
        udp_frame(&a, 1000, 9, b"hello"),
        common::tcp_frame(&a, 1, 1, 0, &[7; 40]),
        ip_frame(
            &a,
            &ipv4(&a, 1, 3, 64, 12),
            &[8, 0, 0xf7, 0xfe, 0, 1, 0, 0, 0, 0, 0, 0],
        ),
        {
            let mut h = ipv4(&a, 17, 4, 64, 16);
            h.more_frags = true;
            ip_frame(&a, &h, &[1; 16])
        },
        {
            let mut f = udp_frame(&a, 1, 2, b"x")[..12].to_vec();
            f.extend_from_slice(&[0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, 1]);
            f.extend_from_slice(&[2, 0, 0, 0, 0, 1, 10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 10, 0, 0, 2]);
            f
        },
    ];
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut rnd = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for i in 0..4000 {
        let mut f = seeds[i % seeds.len()].clone();
        for _ in 0..1 + rnd() % 4 {
            let at = 12 + (rnd() as usize) % (f.len() - 12);
            f[at] = rnd() as u8;
        }
        if rnd() % 4 == 0 {
            let cut = 1 + (rnd() as usize) % f.len();
            f.truncate(cut);
        }
        feed(&mut net, &f);
    }
    let s = net.stacks[1].snmp();
    assert!(s.ip.in_receives > 0);
    let now = net.now();
    let opts = PingOptions {
        ident: 1,
        seq: 1,
        ttl: None,
        dont_frag: false,
    };
    net.stacks[0]
        .ping(ip("10.0.0.2"), opts, &[1; 3000], now)
        .unwrap();
    net.run_for(Duration::from_millis(10)).unwrap();
    assert!(net.stacks[0]
        .icmp_events()
        .iter()
        .any(|e| matches!(e, oxnic_stack::icmp::IcmpEvent::EchoReply { .. })));
}

/// Linux `udp_rcv` trims the packet to the UDP length before `udp4_csum_init`, so a device's
/// complete sum is checked over the datagram alone: bytes past the UDP length (and the IP
/// payload length in the pseudo-header) cannot make a bad checksum pass.
#[test]
fn a_complete_sum_over_bytes_past_the_udp_length_does_not_validate_it() {
    use oxnic_stack::pktbuf::ChecksumState;
    let (mut net, a) = setup();
    let sock = net.stacks[1]
        .udp_bind(SocketAddrV4::new(ip("0.0.0.0"), 9))
        .unwrap();
    // UDP length 10 ("hi"), 4 more bytes in the IP payload; the checksum field is chosen so
    // that the sum over the whole IP payload (with its length in the pseudo-header) checks
    // out, which the sum over the 10-byte datagram does not.
    let mut l4 = udp_frame(&a, 1000, 9, b"hi")[34..].to_vec();
    l4.extend_from_slice(b"junk");
    l4[6..8].copy_from_slice(&[0, 0]);
    let whole = checksum::add(
        checksum::pseudo_header_v4(a.src, a.dst, 17, l4.len() as u16),
        checksum::sum(&l4),
    );
    let c = !whole;
    assert_ne!(c, 0);
    l4[6..8].copy_from_slice(&c.to_be_bytes());
    let f = ip_frame(&a, &ipv4(&a, 17, 9, 64, l4.len()), &l4);
    let mut p = PacketBuf::from_slice(0, &f);
    p.meta.csum = ChecksumState::Complete {
        sum: checksum::sum(&f[14..]),
    };
    net.stacks[1].device_mut(1).unwrap().push_rx(p);
    let now = net.now();
    net.stacks[1].poll(now);
    let s = net.stacks[1].snmp();
    assert_eq!((s.udp.in_datagrams, s.udp.in_csum_errors), (0, 1));
    assert_eq!(net.stacks[1].udp_recv_queue_len(sock).unwrap(), 0);
}

/// Linux `ip_route_input_slow` (RFC 1122 §3.2.1.3, RFC 1812 §5.3.7): a datagram from the wire
/// whose source is 0.0.0.0 (towards anything but the limited broadcast), in 127/8, one of our
/// own addresses, or the broadcast address of our subnet is a martian and is dropped.
#[test]
fn martian_sources_from_the_wire_are_dropped_before_delivery() {
    let (mut net, a) = setup();
    let srv = net.stacks[1]
        .udp_bind(SocketAddrV4::new(ip("0.0.0.0"), 9))
        .unwrap();
    let before = net.stacks[1].snmp().ip.in_addr_errors;
    for src in ["0.0.0.0", "127.0.0.1", "10.0.0.2", "10.0.0.255", "0.1.2.3"] {
        let f = udp_frame(&Addrs { src: ip(src), ..a }, 1000, 9, b"martian");
        let snmp = feed(&mut net, &f);
        assert_eq!(snmp.udp.in_datagrams, 0, "from {src}");
    }
    assert_eq!(net.stacks[1].udp_recv_queue_len(srv).unwrap(), 0);
    assert_eq!(net.stacks[1].snmp().ip.in_addr_errors - before, 5);
    // A DHCP client has no address yet: 0.0.0.0 to the limited broadcast is taken.
    let dhcp = Addrs {
        src: ip("0.0.0.0"),
        dst: ip("255.255.255.255"),
        dst_mac: oxnic_stack::wire::ethernet::EthernetAddress::BROADCAST,
        ..a
    };
    feed(&mut net, &udp_frame(&dhcp, 68, 9, b"discover"));
    // And an ordinary neighbour still gets through.
    let snmp = feed(&mut net, &udp_frame(&a, 1000, 9, b"fine"));
    assert_eq!(snmp.udp.in_datagrams, 2);
    assert_eq!(net.stacks[1].udp_recv_queue_len(srv).unwrap(), 2);
}

/// RFC 1122 §3.2.2: no ICMP error about a datagram sent as a link-layer broadcast, even to
/// our unicast address (Linux `icmp_send`: `skb->pkt_type != PACKET_HOST`).
#[test]
fn a_link_layer_broadcast_to_a_closed_port_gets_no_port_unreachable() {
    let (mut net, a) = setup();
    let bcast = Addrs {
        dst_mac: oxnic_stack::wire::ethernet::EthernetAddress::BROADCAST,
        ..a
    };
    let snmp = feed(&mut net, &udp_frame(&bcast, 1000, 9, b"anyone?"));
    assert_eq!(
        (snmp.udp.no_ports, snmp.icmp.out_dest_unreachs),
        (1, 0),
        "delivered, no one listening, and silent"
    );
    // The same datagram to B's MAC is answered.
    let snmp = feed(&mut net, &udp_frame(&a, 1000, 9, b"anyone?"));
    assert_eq!((snmp.udp.no_ports, snmp.icmp.out_dest_unreachs), (2, 1));
}

/// RFC 1122 §4.2.3.10, Linux `tcp_v4_rcv` and `tcp_v4_conn_request`: TCP is unicast. A
/// segment that came as a link-layer broadcast, or to an IP broadcast address, draws no
/// reset and opens no connection, even at a wildcard listener; it is counted.
#[test]
fn tcp_segments_sent_to_a_broadcast_draw_no_reset_and_open_nothing() {
    use oxnic_stack::wire::checksum::ChecksumMode;
    use oxnic_stack::wire::ipv4::protocol;
    use oxnic_stack::wire::tcp::{TcpFlags, TcpOptions, TcpRepr};
    let (mut net, a) = setup();
    let syn = |a: &Addrs, port: u16| {
        let repr = TcpRepr {
            src_port: 40000,
            dst_port: port,
            seq: 1,
            ack: 0,
            flags: TcpFlags(TcpFlags::SYN),
            window: 65_535,
            urgent: 0,
            options: TcpOptions::default(),
        };
        let mut l4 = vec![0; repr.header_len().unwrap()];
        repr.emit(&mut l4, 0, a.src, a.dst, ChecksumMode::Software)
            .unwrap();
        ip_frame(a, &ipv4(a, protocol::TCP, 1, 64, l4.len()), &l4)
    };
    let link_bcast = Addrs {
        dst_mac: oxnic_stack::wire::ethernet::EthernetAddress::BROADCAST,
        ..a
    };
    let ip_bcast = Addrs {
        dst: ip("10.0.0.255"),
        ..a
    };
    let l = net.stacks[1]
        .tcp_listen(SocketAddrV4::new(ip("0.0.0.0"), 80), 8)
        .unwrap();
    for (what, to) in [("link-layer", &link_bcast), ("IP", &ip_bcast)] {
        // To a closed port: no reset.
        let snmp = feed(&mut net, &common::tcp_frame(to, 1, 1, 0, b"hello"));
        assert_eq!(
            (snmp.tcp.out_rsts, snmp.tcp.no_port),
            (0, 0),
            "{what} broadcast"
        );
        // To the listener: no SYN-ACK, nothing half-open.
        let snmp = feed(&mut net, &syn(to, 80));
        assert_eq!(snmp.tcp.out_segs, 0, "{what} broadcast SYN answered");
    }
    let snmp = net.stacks[1].snmp();
    assert_eq!((snmp.tcp.not_unicast, snmp.tcp.in_segs), (4, 0));
    net.run_for(Duration::from_millis(10)).unwrap();
    assert_eq!(
        net.stacks[1].tcp_accept(l).map(|_| ()),
        Err(oxnic_stack::tcp::TcpError::WouldBlock)
    );
    // The same to B's own address and MAC: a reset, and a SYN-ACK.
    let snmp = feed(&mut net, &common::tcp_frame(&a, 1, 1, 0, b"hello"));
    assert_eq!((snmp.tcp.out_rsts, snmp.tcp.no_port), (1, 1));
    let snmp = feed(&mut net, &syn(&a, 80));
    assert_eq!(snmp.tcp.out_segs, 2, "the reset and the SYN-ACK");
}

/// A TCP segment from A (`a`) with the raw option bytes `opts` (a multiple of 4), checksums
/// computed: options no `TcpRepr` can hold.
fn tcp_frame_with_options(
    a: &Addrs,
    ports: (u16, u16),
    seq: u32,
    ack: u32,
    opts: &[u8],
    payload: &[u8],
) -> Vec<u8> {
    use oxnic_stack::wire::checksum::ChecksumMode;
    use oxnic_stack::wire::ipv4::protocol;
    use oxnic_stack::wire::tcp::{TcpFlags, TcpOptions, TcpRepr};
    assert_eq!(opts.len() % 4, 0);
    let repr = TcpRepr {
        src_port: ports.0,
        dst_port: ports.1,
        seq,
        ack,
        flags: TcpFlags(TcpFlags::ACK | TcpFlags::PSH),
        window: 1000,
        urgent: 0,
        options: TcpOptions::default(),
    };
    let hl = 20 + opts.len();
    let mut l4 = vec![0; hl + payload.len()];
    repr.emit(&mut l4, 0, a.src, a.dst, ChecksumMode::Software)
        .unwrap();
    l4[12] = ((hl / 4) as u8) << 4 | (l4[12] & 0x0f);
    l4[20..hl].copy_from_slice(opts);
    l4[hl..].copy_from_slice(payload);
    l4[16..18].copy_from_slice(&[0, 0]);
    let len = u16::try_from(l4.len()).unwrap();
    let sum = checksum::add(
        checksum::pseudo_header_v4(a.src, a.dst, protocol::TCP, len),
        checksum::sum(&l4),
    );
    l4[16..18].copy_from_slice(&(!sum).to_be_bytes());
    ip_frame(a, &ipv4(a, protocol::TCP, 1, 64, l4.len()), &l4)
}

/// Linux `tcp_parse_options` never drops a segment for its options: an option of a known
/// kind with the wrong length is ignored, a length that cannot be (below 2, past the header)
/// ends the option list, and the segment's data and ACK are processed as usual. A peer or a
/// middlebox that mangles one option must not stall the connection: each segment below
/// delivers its data and acknowledges what B sent, and none counts as an input error.
#[test]
fn tcp_segments_with_malformed_options_are_still_processed() {
    let (mut net, a) = setup();
    let (_, c, s) = common::tcp_connected(&mut net, Duration::from_millis(10));
    let ports = (net.stacks[0].tcp_local_addr(c).unwrap().port(), 80);
    let mut buf = [0u8; 64];
    for (k, bad) in [
        [2u8, 3, 5, 1], // MSS with length 3
        [3, 4, 7, 1],   // window scale with length 4
        [5, 2, 1, 1],   // SACK with no blocks
        [5, 3, 0, 1],   // SACK not a multiple of 8
        [8, 4, 0, 0],   // timestamps with length 4
        [30, 0, 1, 1],  // length 0
        [30, 1, 1, 1],  // length below 2
        [1, 3, 9, 7],   // window scale running past the header
        [1, 1, 1, 2],   // MSS with no length byte
    ]
    .iter()
    .enumerate()
    {
        // B has data in flight for the segment to acknowledge.
        let now = net.now();
        net.stacks[1].tcp_send(s, b"from B", now).unwrap();
        let info = net.stacks[1].tcp_info(s).unwrap();
        assert_eq!(info.unacked, 6, "{bad:?}");
        let data = format!("chunk {k}");
        let f = tcp_frame_with_options(&a, ports, info.rcv_nxt, info.snd_nxt, bad, data.as_bytes());
        let before = net.stacks[1].snmp().tcp;
        let after = feed(&mut net, &f).tcp;
        assert_eq!(
            (after.in_segs, after.in_errs),
            (before.in_segs + 1, before.in_errs),
            "{bad:?}"
        );
        let now = net.now();
        let n = net.stacks[1].tcp_recv(s, &mut buf, now).unwrap();
        assert_eq!(&buf[..n], data.as_bytes(), "{bad:?}");
        let info = net.stacks[1].tcp_info(s).unwrap();
        assert_eq!(info.snd_una, info.snd_nxt, "{bad:?}: the ACK was taken");
        // What B sent on the wire (and A's answers) is not part of this test.
        net.run_for(Duration::from_millis(10)).unwrap();
    }
}

/// `frame` (Ethernet + IPv4 without options) with the raw option bytes `opts` (a multiple of 4
/// long, well-formed or not) spliced in after the fixed header; IHL, total length and the
/// header checksum are fixed up. The UDP or ICMP checksum does not cover IP options.
fn with_raw_options(frame: &[u8], opts: &[u8]) -> Vec<u8> {
    assert_eq!(opts.len() % 4, 0);
    let mut f = frame[..34].to_vec();
    f.extend_from_slice(opts);
    f.extend_from_slice(&frame[34..]);
    f[14] = 0x40 | ((20 + opts.len()) / 4) as u8;
    let total = (f.len() - 14) as u16;
    f[16..18].copy_from_slice(&total.to_be_bytes());
    fix_ip_checksum(&mut f);
    f
}

/// Feeds `frame` to B, lets the net run so that B's answers reach A, and returns the ICMP
/// messages A's wire saw as (type, code, pointer byte of a parameter problem). A second of
/// virtual time passes, so that B's ICMP rate limiter has a token for the next call.
fn icmp_seen_by_a(net: &mut Net, frame: &[u8]) -> Vec<(u8, u8, u8)> {
    let tap = net.stacks[0].add_tap(TapPoint::WireRx, None, 100);
    assert!(net.push_frame(1, 1, frame));
    net.run_for(Duration::from_secs(1)).unwrap();
    let seen = net.stacks[0]
        .tap_take(tap)
        .unwrap()
        .iter()
        .map(|c| c.packet.data().to_vec())
        .filter(|d| d[12..14] == [0x08, 0x00] && d[23] == 1)
        .map(|d| {
            let l4 = 14 + usize::from(d[14] & 0x0f) * 4;
            (d[l4], d[l4 + 1], d[l4 + 4])
        })
        .collect();
    net.stacks[0].remove_tap(tap).unwrap();
    seen
}

/// Linux `ip_options_compile` (called from `ip_rcv_options`): a datagram whose options are
/// malformed is dropped, counted in `InHdrErrors`, and answered with ICMP parameter problem
/// (type 12, code 0) whose pointer is the offset of the offending byte from the start of the
/// IP header. Each case names the rule: option lengths (below 2, past the option area), the
/// record-route and timestamp pointers (below their minimum, or pointing at a slot that does
/// not fit), a full timestamp whose overflow counter is already 15, a second record route, and
/// a source route with a pointer below 4.
#[test]
fn malformed_ip_options_are_answered_with_a_parameter_problem_at_the_bad_byte() {
    let (mut net, a) = setup();
    let sock = net.stacks[1]
        .udp_bind(SocketAddrV4::new(ip("0.0.0.0"), 9))
        .unwrap();
    let good = udp_frame(&a, 1000, 9, b"payload!");
    for (opts, pointer) in [
        (&[130, 1, 0, 0][..], 20),               // length below 2
        (&[1, 68, 12, 5][..], 21),               // length past the option area
        (&[7, 7, 3, 0, 0, 0, 0, 0][..], 22),     // record-route pointer below 4
        (&[7, 6, 4, 0, 0, 0, 0, 0][..], 22),     // record-route slot cut short
        (&[68, 8, 4, 0, 0, 0, 0, 0][..], 22),    // timestamp pointer below 5
        (&[68, 8, 9, 0xf0, 0, 0, 0, 0][..], 23), // full, overflow already 15
        (&[68, 8, 5, 1, 0, 0, 0, 0][..], 22),    // address + time needs 8 bytes
        (&[137, 7, 3, 10, 0, 0, 9, 0][..], 22),  // strict source route pointer
        (
            &[7, 7, 4, 0, 0, 0, 0, 7, 7, 4, 0, 0, 0, 0, 0, 0][..],
            27, // a second record route
        ),
    ] {
        let before = net.stacks[1].snmp();
        let seen = icmp_seen_by_a(&mut net, &with_raw_options(&good, opts));
        let after = net.stacks[1].snmp();
        assert_eq!(seen, vec![(12, 0, pointer)], "{opts:?}");
        assert_eq!(
            after.ip.in_hdr_errors,
            before.ip.in_hdr_errors + 1,
            "{opts:?}"
        );
        assert_eq!(after.udp.in_datagrams, before.udp.in_datagrams, "{opts:?}");
    }
    assert_eq!(net.stacks[0].snmp().icmp.in_parm_probs, 9);
    assert_eq!(net.stacks[1].udp_recv_queue_len(sock).unwrap(), 0);

    // Never an error about an error, a non-first fragment or a broadcast: dropped and
    // counted all the same.
    let bad = [7, 6, 4, 0, 0, 0, 0, 0];
    let bcast = Addrs {
        dst: ip("10.0.0.255"),
        ..a
    };
    let unreach = {
        let mut quote = udp_frame(
            &Addrs {
                src: a.dst,
                dst: a.src,
                ..a
            },
            9,
            1000,
            b"x",
        )[14..]
            .to_vec();
        quote.truncate(28);
        let mut l4 = vec![3, 3, 0, 0, 0, 0, 0, 0];
        l4.extend_from_slice(&quote);
        let c = checksum::checksum(&l4);
        l4[2..4].copy_from_slice(&c.to_be_bytes());
        ip_frame(&a, &ipv4(&a, 1, 5, 64, l4.len()), &l4)
    };
    let later_fragment = {
        let mut h = ipv4(&a, 17, 6, 64, 16);
        h.frag_offset = 8;
        ip_frame(&a, &h, &[1; 16])
    };
    for (what, frame) in [
        ("broadcast", udp_frame(&bcast, 1000, 9, b"payload!")),
        ("icmp error", unreach),
        ("later fragment", later_fragment),
    ] {
        let before = net.stacks[1].snmp().ip.in_hdr_errors;
        let seen = icmp_seen_by_a(&mut net, &with_raw_options(&frame, &bad));
        assert_eq!(seen, vec![], "{what}");
        assert_eq!(net.stacks[1].snmp().ip.in_hdr_errors, before + 1, "{what}");
    }
    // Well-formed options pass: a record route with room, NOPs, a router alert.
    let opts = [1, 7, 7, 4, 0, 0, 0, 0, 148, 4, 0, 0];
    let seen = icmp_seen_by_a(&mut net, &with_raw_options(&good, &opts));
    assert_eq!(seen, vec![]);
    assert_eq!(net.stacks[1].udp_recv_queue_len(sock).unwrap(), 1);
}
