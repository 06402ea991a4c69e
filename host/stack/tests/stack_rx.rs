//! The receive side end to end: the early hook, capture taps, GRO/GSO, reassembly under a
//! fragment flood, and malformed input of every format.

mod common;

use common::{
    ip, mac, tcp_frame, three_hosts, two_hosts, two_hosts_configured, Addrs, LinkConfig, Net,
    DEFAULT_SEED,
};
use oxnic_stack::gro::Gro;
use oxnic_stack::gso;
use oxnic_stack::hooks::{HookContext, HookPoint, Verdict};
use oxnic_stack::icmp::{IcmpEvent, PingOptions};
use oxnic_stack::packet_tap::TapPoint;
use oxnic_stack::pktbuf::{PacketBuf, PacketPool, MAX_FRAGS};
use oxnic_stack::time::Instant;
use oxnic_stack::wire::checksum;
use oxnic_stack::xdp::XdpAction;
use oxnic_stack::{DeviceCaps, StackConfig};
use std::net::SocketAddrV4;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const LAT: Duration = Duration::from_micros(50);

fn ping(seq: u16) -> PingOptions {
    PingOptions {
        ident: 1,
        seq,
        ttl: None,
        dont_frag: false,
    }
}

fn replies(net: &mut Net, s: usize) -> usize {
    net.stacks[s]
        .icmp_events()
        .iter()
        .filter(|e| matches!(e, IcmpEvent::EchoReply { .. }))
        .count()
}

#[test]
fn xdp_drop_stops_frames_before_the_stack() {
    let (mut net, _, ib) = two_hosts(DeviceCaps::default(), LAT);
    let srv = net.stacks[1]
        .udp_bind(SocketAddrV4::new(ip("0.0.0.0"), 9))
        .unwrap();
    net.stacks[1]
        .set_xdp(
            ib,
            Some(Box::new(|f: &mut PacketBuf, _| {
                let d = f.data();
                if d.len() > 37 && d[12..14] == [8, 0] && d[23] == 17 && d[36..38] == [0, 9] {
                    XdpAction::Drop
                } else {
                    XdpAction::Pass
                }
            })),
        )
        .unwrap();
    let cli = net.stacks[0]
        .udp_bind(SocketAddrV4::new(ip("0.0.0.0"), 0))
        .unwrap();
    for port in [9, 10] {
        let now = net.now();
        net.stacks[0]
            .udp_send_to(cli, b"x", SocketAddrV4::new(ip("10.0.0.2"), port), now)
            .unwrap();
        net.run_for(Duration::from_millis(2)).unwrap();
    }
    assert_eq!(net.stacks[1].interface(ib).unwrap().stats().xdp_drop, 1);
    assert_eq!(net.stacks[1].udp_recv_queue_len(srv).unwrap(), 0);
    // The datagram to port 10 passed and met a closed port; the dropped one never reached IP.
    let snmp = net.stacks[1].snmp();
    assert_eq!((snmp.ip.in_receives, snmp.udp.no_ports), (1, 1));
}

#[test]
fn xdp_tx_reflects_udp_back_to_the_sender() {
    let (mut net, _, ib) = two_hosts(DeviceCaps::default(), LAT);
    net.stacks[1]
        .set_xdp(
            ib,
            Some(Box::new(|f: &mut PacketBuf, _| {
                let is_echo = {
                    let d = f.data();
                    d.len() > 37 && d[12..14] == [8, 0] && d[23] == 17 && d[36..38] == [0, 7]
                };
                if !is_echo {
                    return XdpAction::Pass;
                }
                // Swapping addresses and ports keeps both checksums valid: the sums commute.
                let d = f.data_mut().unwrap();
                for (a, b) in [(0, 6), (26, 30), (34, 36)] {
                    let n = if a == 0 {
                        6
                    } else if a == 26 {
                        4
                    } else {
                        2
                    };
                    for k in 0..n {
                        d.swap(a + k, b + k);
                    }
                }
                XdpAction::Tx
            })),
        )
        .unwrap();
    let cli = net.stacks[0]
        .udp_bind(SocketAddrV4::new(ip("0.0.0.0"), 7))
        .unwrap();
    let now = net.now();
    net.stacks[0]
        .udp_send_to(cli, b"bounce", SocketAddrV4::new(ip("10.0.0.2"), 7), now)
        .unwrap();
    net.run_for(Duration::from_millis(2)).unwrap();
    let mut buf = [0; 16];
    let (n, from) = net.stacks[0].udp_recv_from(cli, &mut buf).unwrap();
    assert_eq!(
        (&buf[..n], from),
        (&b"bounce"[..], SocketAddrV4::new(ip("10.0.0.2"), 7))
    );
    assert_eq!(net.stacks[1].interface(ib).unwrap().stats().xdp_tx, 1);
    assert_eq!(
        net.stacks[1].snmp().udp.in_datagrams + net.stacks[1].snmp().udp.no_ports,
        0
    );
}

#[test]
fn xdp_redirect_sends_frames_out_of_another_interface() {
    let mut net = three_hosts(1500);
    net.stacks[1].set_forwarding(false);
    let c_mac = mac(2, 1);
    let r_out_mac = mac(1, 2);
    net.stacks[1]
        .set_xdp(
            1,
            Some(Box::new(move |f: &mut PacketBuf, _| {
                if f.data()[12..14] != [8, 0] {
                    return XdpAction::Pass;
                }
                let d = f.data_mut().unwrap();
                d[..6].copy_from_slice(&c_mac.0);
                d[6..12].copy_from_slice(&r_out_mac.0);
                XdpAction::Redirect(2)
            })),
        )
        .unwrap();
    let srv = net.stacks[2]
        .udp_bind(SocketAddrV4::new(ip("0.0.0.0"), 9))
        .unwrap();
    let cli = net.stacks[0]
        .udp_bind(SocketAddrV4::new(ip("0.0.0.0"), 0))
        .unwrap();
    let now = net.now();
    net.stacks[0]
        .udp_send_to(cli, b"via xdp", SocketAddrV4::new(ip("10.0.2.1"), 9), now)
        .unwrap();
    net.run_for(Duration::from_millis(5)).unwrap();
    let mut buf = [0; 16];
    let (n, _) = net.stacks[2].udp_recv_from(srv, &mut buf).unwrap();
    assert_eq!(&buf[..n], b"via xdp");
    let r = &net.stacks[1];
    assert_eq!(r.interface(1).unwrap().stats().xdp_redirect, 1);
    assert_eq!(
        (r.snmp().ip.in_receives, r.snmp().ip.forw_datagrams),
        (0, 0)
    );
}

#[test]
fn capture_tap_writes_a_pcap_that_reads_back() {
    let (mut net, ia, ib) = two_hosts(DeviceCaps::default(), LAT);
    let wire = net.stacks[1].add_tap(TapPoint::WireRx, Some(ib), 100);
    let input = net.stacks[1].add_tap(TapPoint::Hook(HookPoint::Input), None, 100);
    let out = net.stacks[0].add_tap(TapPoint::WireTx, Some(ia), 100);
    for seq in 0..3 {
        let now = net.now();
        net.stacks[0]
            .ping(ip("10.0.0.2"), ping(seq), &[seq as u8; 32], now)
            .unwrap();
        net.run_for(Duration::from_millis(2)).unwrap();
    }
    assert_eq!(replies(&mut net, 0), 3);
    let dir = std::env::temp_dir();
    let path = dir.join(format!("oxnic-stack-tap-{}.pcap", std::process::id()));
    let file = std::fs::File::create(&path).unwrap();
    // B's wire saw A's gratuitous ARP (still in flight when the tap opened), A's ARP request
    // and three echo requests.
    assert_eq!(net.stacks[1].tap_write_pcap(wire, file).unwrap(), 5);
    let mut r = pcap_file::pcap::PcapReader::new(std::fs::File::open(&path).unwrap()).unwrap();
    assert_eq!(r.header().datalink, pcap_file::DataLink::ETHERNET);
    let mut frames = Vec::new();
    while let Some(p) = r.next_packet() {
        frames.push(p.unwrap().data.into_owned());
    }
    assert_eq!(frames.len(), 5);
    assert_eq!(&frames[0][12..14], &[0x08, 0x06], "ARP first");
    assert_eq!(&frames[1][12..14], &[0x08, 0x06], "ARP first");
    for f in &frames[2..] {
        assert_eq!(
            (&f[12..14], f[14 + 9], f[34]),
            (&[8u8, 0][..], 1, 8),
            "echo requests"
        );
    }
    // The INPUT hook tap holds IPv4 packets (link type RAW).
    let ip_pkts = net.stacks[1].tap_take(input).unwrap();
    assert_eq!(ip_pkts.len(), 3);
    assert!(ip_pkts.iter().all(|c| c.packet.data()[0] == 0x45));
    // A's TX tap: what A handed its device after the tap opened.
    let sent = net.stacks[0].tap_take(out).unwrap();
    // (its gratuitous ARP had reached the device queue before): an ARP request and three echo
    // requests.
    assert_eq!(sent.len(), 1 + 3);
    assert_eq!(&sent[0].packet.data()[12..14], &[0x08, 0x06]);
    if std::process::Command::new("tcpdump")
        .arg("--version")
        .output()
        .is_ok()
    {
        let o = std::process::Command::new("tcpdump")
            .args(["-nn", "-r"])
            .arg(&path)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&o.stdout);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert_eq!(text.matches("ICMP echo request").count(), 3, "{text}");
        assert_eq!(text.matches("ARP, Request").count(), 2, "{text}");
    }
    let _ = std::fs::remove_file(&path);
}

fn flow() -> Addrs {
    Addrs {
        src_mac: mac(0, 1),
        dst_mac: mac(1, 1),
        src: ip("10.0.1.1"),
        dst: ip("10.0.2.1"),
    }
}

fn burst(a: &Addrs, n: usize, mss: usize, seq0: u32) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| {
            let payload: Vec<u8> = (0..mss).map(|k| (i * 31 + k) as u8).collect();
            tcp_frame(a, 100 + i as u16, seq0 + (i * mss) as u32, 0, &payload)
        })
        .collect()
}

fn gro_all(gro: &mut Gro, frames: &[Vec<u8>]) -> Vec<PacketBuf> {
    let mut out = Vec::new();
    for f in frames {
        gro.receive(PacketBuf::from_slice(0, f), Instant::ZERO, &mut out);
    }
    out
}

fn bytes(p: &PacketBuf) -> Vec<u8> {
    let mut v = vec![0; p.len()];
    p.copy_to(&mut v).unwrap();
    v
}

#[test]
fn gro_merges_a_contiguous_burst_and_gso_splits_it_back() {
    let a = flow();
    let frames = burst(&a, 10, 1000, 5000);
    let mut gro = Gro::default();
    let out = gro_all(&mut gro, &frames);
    assert!(out.is_empty(), "held until the end of the poll");
    let mut out = Vec::new();
    gro.flush(&mut out);
    assert_eq!(out.len(), 1);
    let sp = &out[0];
    let hdr = 14 + 20 + 32;
    assert_eq!((sp.meta.gso_segs, sp.meta.gso_size), (10, 1000));
    assert_eq!(sp.len(), hdr + 10_000);
    let b = bytes(sp);
    assert_eq!(
        u16::from_be_bytes([b[16], b[17]]) as usize,
        20 + 32 + 10_000
    );
    assert!(checksum::verify(&b[14..34]), "IPv4 header checksum fixed");
    let payload: Vec<u8> = frames.iter().flat_map(|f| f[hdr..].to_vec()).collect();
    assert_eq!(&b[hdr..], &payload[..]);
    // Software GSO gives back exactly the segments that went in.
    let segs = gso::segment(sp, &PacketPool::new(16, 2048)).unwrap();
    let got: Vec<Vec<u8>> = segs.iter().map(bytes).collect();
    assert_eq!(got, frames);
    // For a device that inserts checksums, the segments ask for it instead (the payload is
    // not summed here); finishing that request gives the same frames.
    let mut segs = Vec::new();
    gso::segment_for_device(sp, &PacketPool::new(16, 2048), &mut segs, true).unwrap();
    assert_eq!(segs.len(), 10);
    for (mut s, want) in segs.into_iter().zip(&frames) {
        assert!(matches!(
            s.meta.csum,
            oxnic_stack::pktbuf::ChecksumState::Partial {
                start: 34,
                offset: 16
            }
        ));
        assert_ne!(&bytes(&s), want, "the checksum is left to the device");
        oxnic_stack::device::complete_tx_checksum(&mut s).unwrap();
        assert_eq!(&bytes(&s), want);
    }
}

#[test]
fn gso_segments_carry_their_headers_inline_or_in_the_header_pool() {
    let a = flow();
    let frames = burst(&a, 10, 1000, 5000);
    let mut gro = Gro::default();
    gro_all(&mut gro, &frames);
    let mut out = Vec::new();
    gro.flush(&mut out);
    let sp = &out[0];
    let linear = PacketPool::new(4, 2048);
    let headers = PacketPool::new(16, 256);
    let pools = gso::GsoPools {
        linear: &linear,
        headers: &headers,
    };
    let mut segs = Vec::new();
    assert_eq!(gso::segment_with_pools(sp, pools, &mut segs, false), Ok(10));
    // Ten segments in flight: their 66 bytes of headers are inside each segment's own buffer,
    // and no pool gave a buffer.
    assert_eq!(headers.available(), 16);
    assert_eq!(linear.available(), 4);
    let got: Vec<Vec<u8>> = segs.iter().map(bytes).collect();
    assert_eq!(got, frames);
    drop(segs);

    // With 40 bytes of IPv4 options the headers (106 bytes, after 32 of headroom) no longer
    // fit inline: each segment takes a small buffer from the header pool, none a 2 KB one.
    let flat = bytes(sp);
    let mut with_opts = flat[..34].to_vec();
    with_opts[14] = 0x4f;
    let total = u16::from_be_bytes([flat[16], flat[17]]) + 40;
    with_opts[16..18].copy_from_slice(&total.to_be_bytes());
    with_opts.extend_from_slice(&[1; 40]);
    with_opts.extend_from_slice(&flat[34..]);
    let mut big = PacketBuf::from_slice(32, &with_opts);
    big.meta.gso_size = sp.meta.gso_size;
    let mut segs = Vec::new();
    assert_eq!(
        gso::segment_with_pools(&big, pools, &mut segs, false),
        Ok(10)
    );
    assert_eq!(headers.available(), 6);
    assert_eq!(linear.available(), 4);
    for (seg, frame) in segs.iter().map(bytes).zip(&frames) {
        assert_eq!(seg.len(), frame.len() + 40);
        assert_eq!(&seg[34..74], &[1; 40][..], "the options are copied");
        assert_eq!(&seg[74..], &frame[34..], "TCP header and payload");
    }
    drop(segs);
    assert_eq!(headers.available(), 16);
}

#[test]
fn gro_flush_rules() {
    let a = flow();
    // A sequence gap: the held packet goes up, then the out-of-order segment, unmerged.
    let mut gro = Gro::default();
    let mut frames = burst(&a, 2, 1000, 0);
    frames.push(burst(&a, 1, 1000, 5000).remove(0));
    let out = gro_all(&mut gro, &frames);
    assert_eq!(
        out.iter().map(|p| p.meta.gso_segs).collect::<Vec<_>>(),
        vec![2, 0]
    );
    assert_eq!(gro.held(), 0);

    // PSH, and a short segment, end a super-packet at once (merged, then delivered).
    let mut f = burst(&a, 2, 1000, 0);
    let last: Vec<u8> = vec![9; 1000];
    f.push(tcp_frame(&a, 102, 2000, 0x08, &last));
    let out = gro_all(&mut Gro::default(), &f);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].meta.gso_segs, 3);
    assert_eq!(
        bytes(&out[0])[14 + 20 + 13] & 0x08,
        0x08,
        "PSH carried over"
    );
    let mut f = burst(&a, 2, 1000, 0);
    f.push(tcp_frame(&a, 102, 2000, 0, &[1; 300]));
    let out = gro_all(&mut Gro::default(), &f);
    assert_eq!(
        (out.len(), out[0].meta.gso_segs, out[0].len()),
        (1, 3, 66 + 2300)
    );

    // Different TCP options (a new timestamp) do not merge.
    let mut f = burst(&a, 2, 1000, 0);
    let mut changed = burst(&a, 3, 1000, 0).remove(2);
    changed[14 + 20 + 20 + 4] ^= 1; // tsval
    let c = 14 + 20 + 16;
    changed[c..c + 2].copy_from_slice(&[0, 0]);
    let sum = checksum::add(
        checksum::pseudo_header_v4(a.src, a.dst, 6, (changed.len() - 34) as u16),
        checksum::sum(&changed[34..]),
    );
    changed[c..c + 2].copy_from_slice(&(!sum).to_be_bytes());
    f.push(changed);
    let out = gro_all(&mut Gro::default(), &f);
    assert_eq!(
        out.iter().map(|p| p.meta.gso_segs).collect::<Vec<_>>(),
        vec![2, 0]
    );

    // 64 KB: 8 segments of 8000 bytes fit, the 9th starts a new super-packet.
    let mut gro = Gro::default();
    let mut out = gro_all(&mut gro, &burst(&a, 9, 8000, 0));
    gro.flush(&mut out);
    assert_eq!(
        out.iter().map(|p| p.meta.gso_segs).collect::<Vec<_>>(),
        vec![8, 0]
    );
    assert!(out.iter().all(|p| p.len() - 14 <= 65_535));

    // At most MAX_FRAGS fragments: the first segment's payload stays in the head and each
    // later one adds a fragment, so MAX_FRAGS + 3 small segments make a super-packet of
    // MAX_FRAGS + 1 and one of 2.
    let mut gro = Gro::default();
    let n = MAX_FRAGS + 3;
    let mut out = gro_all(&mut gro, &burst(&a, n, 100, 0));
    gro.flush(&mut out);
    assert_eq!(
        out.iter().map(|p| p.meta.gso_segs).collect::<Vec<_>>(),
        vec![MAX_FRAGS as u16 + 1, 2]
    );

    // At most 8 flows: a ninth delivers the oldest.
    let mut gro = Gro::default();
    let frames: Vec<Vec<u8>> = (0..9u8)
        .map(|i| {
            let f = Addrs {
                src: std::net::Ipv4Addr::new(10, 0, 1, 10 + i),
                ..a
            };
            burst(&f, 1, 1000, 0).remove(0)
        })
        .collect();
    let out = gro_all(&mut gro, &frames);
    assert_eq!(out.len(), 1);
    assert_eq!(&bytes(&out[0])[26..30], &[10, 0, 1, 10]);
    assert_eq!(gro.held(), 8);
}

#[test]
fn gro_flush_older_delivers_only_what_was_held_for_a_millisecond() {
    let a = flow();
    let b = Addrs {
        src: ip("10.0.1.11"),
        ..a
    };
    let mut gro = Gro::default();
    let mut out = Vec::new();
    let first = |x: &Addrs| PacketBuf::from_slice(0, &burst(x, 1, 1000, 0)[0]);
    gro.receive(first(&a), Instant::ZERO, &mut out);
    gro.receive(first(&b), Instant::from_micros(600), &mut out);
    assert!(out.is_empty());
    gro.flush_older(Instant::from_micros(999), &mut out);
    assert!(out.is_empty(), "nothing has been held for 1 ms yet");
    gro.flush_older(Instant::from_micros(1000), &mut out);
    assert_eq!((out.len(), gro.held()), (1, 1));
    assert_eq!(
        bytes(&out[0])[26..30],
        a.src.octets(),
        "the older flow first"
    );
    gro.flush_older(Instant::from_micros(1600), &mut out);
    assert_eq!((out.len(), gro.held()), (2, 0));
    assert_eq!(bytes(&out[1])[26..30], b.src.octets());
}

#[test]
fn gro_in_the_stack_then_gso_at_a_router_without_tso() {
    let mut net = three_hosts(1500);
    let seen: Arc<Mutex<Vec<(u16, usize)>>> = Arc::default();
    let s2 = seen.clone();
    net.stacks[1].hooks_mut().register(
        HookPoint::PreRouting,
        0,
        "sizes",
        move |p: &mut PacketBuf, _: &HookContext| {
            s2.lock().unwrap().push((p.meta.gso_segs, p.len()));
            Verdict::Accept
        },
    );
    let tap = net.stacks[2].add_tap(TapPoint::WireRx, None, 100);
    let frames = burst(&flow(), 10, 1000, 1);
    for f in &frames {
        assert!(net.push_frame(1, 1, f));
    }
    let now = net.now();
    // One poll takes the burst, merges it, and flushes at its end.
    net.stacks[1].poll(now);
    assert_eq!(*seen.lock().unwrap(), vec![(10, 20 + 32 + 10_000)]);
    net.run_for(Duration::from_millis(5)).unwrap();
    let r = &net.stacks[1];
    // The train, and the reset C answers it with (no socket there) on its way back.
    assert_eq!(r.snmp().ip.forw_datagrams, 2);
    assert_eq!(r.interface(2).unwrap().stats().gso_segmented, 1);
    let got: Vec<Vec<u8>> = net.stacks[2]
        .tap_take(tap)
        .unwrap()
        .iter()
        .map(|c| bytes(&c.packet))
        .filter(|b| b[12..14] == [8, 0])
        .collect();
    assert_eq!(got.len(), 10);
    for (g, f) in got.iter().zip(&frames) {
        assert_eq!(g[22], 63, "TTL decremented once");
        assert_eq!(
            &g[34..],
            &f[34..],
            "TCP header and payload intact, checksum valid"
        );
        assert!(checksum::verify(&g[14..34]));
    }
    // C runs software GRO too: the ten segments become one super-packet again, delivered
    // to TCP once (no socket: one reset).
    assert_eq!(net.stacks[2].interface(1).unwrap().stats().gro_merged, 9);
    assert_eq!(net.stacks[2].snmp().tcp.no_port, 1);
}

#[test]
fn gro_keeps_growing_a_super_packet_over_a_poll_that_ran_out_of_budget() {
    let mut net = three_hosts(1500);
    let seen: Arc<Mutex<Vec<u16>>> = Arc::default();
    let s2 = seen.clone();
    net.stacks[1].hooks_mut().register(
        HookPoint::PreRouting,
        0,
        "segs",
        move |p: &mut PacketBuf, _: &HookContext| {
            s2.lock().unwrap().push(p.meta.gso_segs);
            Verdict::Accept
        },
    );
    let budget = StackConfig::default().rx_budget;
    let n = budget + 6;
    let full = MAX_FRAGS + 1;
    assert!(
        n - full <= full && full < budget,
        "the test needs two super-packets"
    );
    for f in &burst(&flow(), n, 100, 1) {
        assert!(net.push_frame(1, 1, f));
    }
    let now = net.now();
    // The first poll takes a budget of frames: the first MAX_FRAGS + 1 make a full
    // super-packet, which goes up at once; the next ones are held, since frames are still
    // waiting (NAPI does not complete, and nothing held is a millisecond old).
    assert_eq!(net.stacks[1].poll(now), budget);
    assert_eq!(*seen.lock().unwrap(), vec![full as u16]);
    // The second poll empties the queue: the held super-packet takes the last six frames too
    // and goes up whole.
    assert_eq!(net.stacks[1].poll(now), 6);
    assert_eq!(
        *seen.lock().unwrap(),
        vec![full as u16, (n - full) as u16],
        "without holding over the poll: {:?}",
        [full, budget - full, 6]
    );
}

#[test]
fn fragment_flood_keeps_reassembly_memory_under_its_limit() {
    let cfg = StackConfig {
        defrag: oxnic_stack::frag::DefragParams {
            high_thresh: 64 * 1024,
            low_thresh: 48 * 1024,
            ..Default::default()
        },
        ..StackConfig::default()
    };
    let (mut net, _, ib) = two_hosts_configured(
        [StackConfig::default(), cfg],
        DeviceCaps::default(),
        LinkConfig::new(LAT, 1500),
        DEFAULT_SEED,
    );
    let (a, b) = (0, 1);
    let addrs = Addrs {
        src_mac: mac(9, 9),
        dst_mac: mac(b, ib),
        src: ip("10.0.0.66"),
        dst: ip("10.0.0.2"),
    };
    let mut max = 0;
    for id in 0..3000u16 {
        let mut h = common::ipv4(&addrs, 17, id, 64, 1000);
        h.more_frags = true;
        let f = common::ip_frame(&addrs, &h, &[id as u8; 1000]);
        assert!(net.push_frame(b, ib, &f));
        if id % 50 == 49 {
            let now = net.now();
            net.stacks[b].poll(now);
            max = max.max(net.stacks[b].reassembler().memory());
        }
    }
    assert!(max <= 64 * 1024, "reassembly memory {max}");
    assert!(net.stacks[b].reassembler().stats().evicted > 0);
    // Real fragmented traffic still gets through after the flood.
    let now = net.now();
    net.stacks[a]
        .ping(ip("10.0.0.2"), ping(1), &[5; 4000], now)
        .unwrap();
    net.run_for(Duration::from_millis(10)).unwrap();
    assert_eq!(replies(&mut net, a), 1);
}

#[test]
fn a_super_packet_too_big_for_the_next_link_is_segmented_then_fragmented() {
    let mut net = three_hosts(1000);
    // R resolves C first, or most of the 20 fragments would overflow its ARP queue.
    let now = net.now();
    net.stacks[0]
        .ping(ip("10.0.2.1"), ping(1), b"", now)
        .unwrap();
    net.run_for(Duration::from_millis(5)).unwrap();
    let frames = burst(&flow(), 10, 1448, 1);
    for f in &frames {
        assert!(net.push_frame(1, 1, f));
    }
    net.run_for(Duration::from_millis(5)).unwrap();
    let r = net.stacks[1].snmp();
    assert_eq!(net.stacks[1].interface(1).unwrap().stats().gro_merged, 9);
    assert_eq!((r.ip.frag_oks, r.ip.frag_creates), (10, 20));
    let c = net.stacks[2].snmp();
    assert_eq!((c.ip.reasm_oks, c.tcp.no_port), (10, 10));
    assert_eq!(net.links()[1].total().oversize, 0);
}
