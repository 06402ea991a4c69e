//! TCP state machine corner cases between two in-memory stacks (A = 10.0.0.1, B = 10.0.0.2)
//! on a virtual clock: simultaneous open and close, resets, listen backlog, retransmission
//! backoff and abort, SYN floods against SYN cookies, RFC 5961 challenge ACKs.

mod common;

use oxnic_stack::netsim::{mac, tcp_frame, two_hosts, LinkConfig, Net};
use oxnic_stack::pktbuf::PacketBuf;
use oxnic_stack::tcp::{Shutdown, TcpConfig, TcpError, TcpHandle, TcpState};
use oxnic_stack::time::Instant;
use oxnic_stack::wire::ethernet::EthernetAddress;
use oxnic_stack::wire::tcp::{TcpFlags, TcpOptions, TcpRepr};
use oxnic_stack::DeviceCaps;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

fn addr(s: &str, port: u16) -> SocketAddrV4 {
    SocketAddrV4::new(s.parse::<Ipv4Addr>().unwrap(), port)
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn net() -> Net {
    two_hosts(DeviceCaps::default(), ms(1)).0
}

/// A listener on B:80 and an accepted connection from A.
fn connected(net: &mut Net) -> (TcpHandle, TcpHandle) {
    let (_, c, s) = common::tcp_connected(net, ms(10));
    (c, s)
}

/// A raw segment from `src` to B's `dst`, put straight into B's device as if from the wire.
fn inject(net: &mut Net, src: SocketAddrV4, dst: SocketAddrV4, repr: &TcpRepr, payload: &[u8]) {
    let f = tcp_frame(
        EthernetAddress([2, 0, 0, 0, 9, 9]),
        mac(1, 1),
        src,
        dst,
        repr,
        payload,
    )
    .unwrap();
    net.stacks[1]
        .device_mut(1)
        .unwrap()
        .push_rx(PacketBuf::from_slice(64, &f));
}

fn seg(src: SocketAddrV4, dst: SocketAddrV4, seq: u32, ack: u32, flags: u16) -> TcpRepr {
    TcpRepr {
        src_port: src.port(),
        dst_port: dst.port(),
        seq,
        ack,
        flags: TcpFlags(flags),
        window: 1000,
        urgent: 0,
        options: TcpOptions::default(),
    }
}

#[test]
fn simultaneous_open() {
    let mut net = net();
    let now = net.now();
    let a = addr("10.0.0.1", 7000);
    let b = addr("10.0.0.2", 7001);
    let ca = net.stacks[0].tcp_connect_from(a, b, now).unwrap();
    let cb = net.stacks[1].tcp_connect_from(b, a, now).unwrap();
    net.run_for(ms(50)).unwrap();
    assert_eq!(net.stacks[0].tcp_state(ca).unwrap(), TcpState::Established);
    assert_eq!(net.stacks[1].tcp_state(cb).unwrap(), TcpState::Established);
    let now = net.now();
    net.stacks[0].tcp_send(ca, b"ping", now).unwrap();
    net.stacks[1].tcp_send(cb, b"pong", now).unwrap();
    net.run_for(ms(50)).unwrap();
    let mut buf = [0; 8];
    let now = net.now();
    assert_eq!(net.stacks[1].tcp_recv(cb, &mut buf, now).unwrap(), 4);
    assert_eq!(&buf[..4], b"ping");
    assert_eq!(net.stacks[0].tcp_recv(ca, &mut buf, now).unwrap(), 4);
    assert_eq!(&buf[..4], b"pong");
    assert_eq!(net.stacks[0].tcp_mib().retrans_segs, 0);
}

/// A simultaneous open is a connect that went to SYN-RECEIVED: when the peer falls silent
/// there, it retries as a connect does (`tcp_syn_retries`, `tcp_write_timeout`) and its
/// failure counts in AttemptFails (`tcp_done`), as a listener's half-open child's does not.
/// Before, it took `tcp_synack_retries` and counted nothing.
#[test]
fn a_simultaneous_open_that_times_out_in_syn_received_is_a_failed_connect() {
    let mut net = net();
    for s in &mut net.stacks {
        s.set_tcp_config(TcpConfig {
            syn_retries: 2,
            synack_retries: 5,
            ..TcpConfig::default()
        });
    }
    let now = net.now();
    let a = addr("10.0.0.1", 7000);
    let b = addr("10.0.0.2", 7001);
    let ca = net.stacks[0].tcp_connect_from(a, b, now).unwrap();
    let cb = net.stacks[1].tcp_connect_from(b, a, now).unwrap();
    // The SYNs cross; from then on each host drops every TCP segment it receives, so the
    // SYN-ACKs already on their way never arrive.
    let deadline = net.now() + ms(100);
    let crossing = |n: &mut Net| {
        n.stacks[0].tcp_state(ca) != Ok(TcpState::SynReceived)
            || n.stacks[1].tcp_state(cb) != Ok(TcpState::SynReceived)
    };
    assert!(net.run_while(crossing, deadline).unwrap());
    for s in &mut net.stacks {
        s.hooks_mut().register(
            oxnic_stack::hooks::HookPoint::Input,
            0,
            "deaf",
            |_: &mut PacketBuf, _: &oxnic_stack::hooks::HookContext| {
                oxnic_stack::hooks::Verdict::Drop
            },
        );
    }
    net.run_for(Duration::from_secs(120)).unwrap();
    for (s, c) in [(0, ca), (1, cb)] {
        assert_eq!(net.stacks[s].tcp_state(c), Ok(TcpState::Closed));
        assert_eq!(net.stacks[s].tcp_error(c), Ok(Some(TcpError::TimedOut)));
        let m = net.stacks[s].tcp_mib();
        assert_eq!(m.attempt_fails, 1, "stack {s}");
        // The SYN-ACK once, then syn_retries = 2 retransmissions.
        assert_eq!(m.retrans_segs, 2, "stack {s}");
    }
}

#[test]
fn simultaneous_close_goes_through_closing() {
    let mut net = net();
    let (c, s) = connected(&mut net);
    let now = net.now();
    net.stacks[0]
        .tcp_shutdown(c, oxnic_stack::tcp::Shutdown::Write, now)
        .unwrap();
    net.stacks[1]
        .tcp_shutdown(s, oxnic_stack::tcp::Shutdown::Write, now)
        .unwrap();
    assert_eq!(net.stacks[0].tcp_state(c).unwrap(), TcpState::FinWait1);
    // Both FINs cross on the wire: each side sees the other's FIN before the ACK of its own.
    net.run_for(Duration::from_micros(1500)).unwrap();
    assert_eq!(net.stacks[0].tcp_state(c).unwrap(), TcpState::Closing);
    assert_eq!(net.stacks[1].tcp_state(s).unwrap(), TcpState::Closing);
    net.run_for(ms(10)).unwrap();
    assert_eq!(net.stacks[0].tcp_state(c).unwrap(), TcpState::TimeWait);
    assert_eq!(net.stacks[1].tcp_state(s).unwrap(), TcpState::TimeWait);
    net.run_for(Duration::from_secs(61)).unwrap();
    assert_eq!(net.stacks[0].tcp_state(c).unwrap(), TcpState::Closed);
}

#[test]
fn abort_resets_the_peer() {
    let mut net = net();
    let (c, s) = connected(&mut net);
    let now = net.now();
    net.stacks[0].tcp_abort(c, now).unwrap();
    net.run_for(ms(10)).unwrap();
    assert_eq!(net.stacks[1].tcp_state(s).unwrap(), TcpState::Closed);
    let mut buf = [0; 8];
    let now = net.now();
    assert_eq!(
        net.stacks[1].tcp_recv(s, &mut buf, now),
        Err(TcpError::ConnectionReset)
    );
    assert_eq!(net.stacks[1].tcp_mib().estab_resets, 1);
}

#[test]
fn closing_with_unread_data_resets() {
    let mut net = net();
    let (c, s) = connected(&mut net);
    let now = net.now();
    net.stacks[0].tcp_send(c, b"unread", now).unwrap();
    net.run_for(ms(10)).unwrap();
    let now = net.now();
    net.stacks[1].tcp_close(s, now).unwrap();
    net.run_for(ms(10)).unwrap();
    assert_eq!(
        net.stacks[0].tcp_error(c).unwrap(),
        Some(TcpError::ConnectionReset)
    );
}

#[test]
fn listen_backlog_overflow_drops_syns_until_accept() {
    let mut net = net();
    // Without cookies, so the SYN and accept queue limits alone decide.
    net.stacks[1].set_tcp_config(TcpConfig {
        syncookies: false,
        ..TcpConfig::default()
    });
    let now = net.now();
    let l = net.stacks[1].tcp_listen(addr("0.0.0.0", 80), 2).unwrap();
    let cs: Vec<TcpHandle> = (0..4)
        .map(|_| {
            net.stacks[0]
                .tcp_connect(addr("10.0.0.2", 80), now)
                .unwrap()
        })
        .collect();
    net.run_for(ms(100)).unwrap();
    let est = |net: &Net| {
        cs.iter()
            .filter(|&&c| net.stacks[0].tcp_state(c).unwrap() == TcpState::Established)
            .count()
    };
    assert_eq!(est(&net), 2);
    let m = net.stacks[1].tcp_mib();
    assert!(m.listen_drops >= 1, "{m:?}");
    // Nothing more gets in while nobody accepts: the retransmitted SYNs find the accept
    // queue full.
    net.run_for(Duration::from_secs(2)).unwrap();
    assert_eq!(est(&net), 2);
    assert!(net.stacks[1].tcp_mib().listen_overflows >= 2);
    for _ in 0..2 {
        net.stacks[1].tcp_accept(l).unwrap();
    }
    // The retransmitted SYNs now find room.
    net.run_for(Duration::from_secs(8)).unwrap();
    assert_eq!(est(&net), 4);
    for _ in 0..2 {
        net.stacks[1].tcp_accept(l).unwrap();
    }
    assert_eq!(net.stacks[1].tcp_accept(l), Err(TcpError::WouldBlock));
}

#[test]
fn rto_backs_off_exponentially_then_aborts() {
    let mut net = net();
    let (c, _) = sending_into_the_void(&mut net, Some(5));
    let mut expiries = Vec::new();
    let mut seen = 0;
    for _ in 0..20_000 {
        net.run_for(ms(10)).unwrap();
        let Ok(info) = net.stacks[0].tcp_info(c) else {
            break;
        };
        if info.timeouts > seen {
            seen = info.timeouts;
            expiries.push(net.now());
        }
        if info.state == TcpState::Closed {
            break;
        }
    }
    assert_eq!(net.stacks[0].tcp_state(c).unwrap(), TcpState::Closed);
    assert_eq!(
        net.stacks[0].tcp_error(c).unwrap(),
        Some(TcpError::TimedOut)
    );
    assert_eq!(expiries.len(), 5, "five retransmissions, then the abort");
    let gaps: Vec<Duration> = expiries
        .windows(2)
        .map(|w| w[1].saturating_duration_since(w[0]))
        .collect();
    for g in gaps.windows(2) {
        let ratio = g[1].as_secs_f64() / g[0].as_secs_f64();
        assert!((1.8..=2.2).contains(&ratio), "gaps {gaps:?}");
    }
    let mut buf = [0; 4];
    let now = net.now();
    assert_eq!(
        net.stacks[0].tcp_recv(c, &mut buf, now),
        Err(TcpError::TimedOut)
    );
}

#[test]
fn connect_times_out_after_syn_retries() {
    let mut net = net();
    net.stacks[0].set_tcp_config(TcpConfig {
        syn_retries: 2,
        ..TcpConfig::default()
    });
    // B's MAC known first, so the SYNs are lost on the wire. (Were ARP to fail, the local
    // host-unreachable error would name the timeout instead, as Linux's EHOSTUNREACH.)
    connected(&mut net);
    net.set_link_config(0, LinkConfig::new(ms(1), 1500).loss(1.0))
        .unwrap();
    let now = net.now();
    let c = net.stacks[0]
        .tcp_connect(addr("10.0.0.2", 80), now)
        .unwrap();
    // 1 s + 2 s + 4 s.
    net.run_for(Duration::from_millis(6900)).unwrap();
    assert_eq!(net.stacks[0].tcp_state(c).unwrap(), TcpState::SynSent);
    net.run_for(ms(200)).unwrap();
    assert_eq!(net.stacks[0].tcp_state(c).unwrap(), TcpState::Closed);
    assert_eq!(
        net.stacks[0].tcp_error(c).unwrap(),
        Some(TcpError::TimedOut)
    );
    assert_eq!(net.stacks[0].tcp_mib().attempt_fails, 1);
}

#[test]
fn syn_flood_is_answered_with_cookies_and_real_clients_get_through() {
    let mut net = net();
    let now = net.now();
    let l = net.stacks[1].tcp_listen(addr("0.0.0.0", 80), 16).unwrap();
    let dst = addr("10.0.0.2", 80);
    for i in 0..500u32 {
        let src = SocketAddrV4::new(
            Ipv4Addr::new(10, 0, 0, 100 + (i % 100) as u8),
            1024 + i as u16,
        );
        let mut syn = seg(src, dst, i.wrapping_mul(7919), 0, TcpFlags::SYN);
        syn.options.mss = Some(1460);
        inject(&mut net, src, dst, &syn, &[]);
        if i % 50 == 0 {
            net.stacks[1].poll(now);
        }
    }
    net.run_for(ms(5)).unwrap();
    let flood = net.stacks[1].tcp_mib();
    assert!(flood.syncookies_sent >= 400, "{flood:?}");
    // A real client completes through a cookie while the SYN queue is full of the flood.
    let now = net.now();
    let c = net.stacks[0]
        .tcp_connect(addr("10.0.0.2", 80), now)
        .unwrap();
    net.run_for(ms(20)).unwrap();
    assert_eq!(net.stacks[0].tcp_state(c).unwrap(), TcpState::Established);
    let (s, _) = net.stacks[1].tcp_accept(l).unwrap();
    let m = net.stacks[1].tcp_mib();
    assert_eq!(m.syncookies_recv, 1);
    // The cookie carried the options: big transfers still work both ways.
    let data = vec![0x5au8; 300_000];
    let mut got = 0;
    let mut buf = vec![0; 65536];
    let now = net.now();
    let mut sent = net.stacks[0].tcp_send(c, &data, now).unwrap();
    for _ in 0..2000 {
        net.run_for(ms(1)).unwrap();
        let now = net.now();
        if sent < data.len() {
            sent += net.stacks[0].tcp_send(c, &data[sent..], now).unwrap_or(0);
        }
        while let Ok(n) = net.stacks[1].tcp_recv(s, &mut buf, now) {
            if n == 0 {
                break;
            }
            got += n;
        }
        if got == data.len() {
            break;
        }
    }
    assert_eq!(got, data.len());
    let info = net.stacks[1].tcp_info(s).unwrap();
    assert!(info.sack && info.wscale.0 > 0, "{info:?}");
}

#[test]
fn forged_cookie_acks_are_refused() {
    let mut net = net();
    net.stacks[1].tcp_listen(addr("0.0.0.0", 80), 16).unwrap();
    let src = addr("10.0.0.1", 5555);
    let dst = addr("10.0.0.2", 80);
    inject(
        &mut net,
        src,
        dst,
        &seg(src, dst, 1000, 123_456, TcpFlags::ACK),
        &[],
    );
    net.run_for(ms(5)).unwrap();
    let m = net.stacks[1].tcp_mib();
    // No cookie went out, so the ACK is reset without a cookie check (not counted as a
    // failed cookie, as Linux); a wrong MAC after an overflow is tested below.
    assert_eq!(
        (m.syncookies_failed, m.out_rsts, m.passive_opens),
        (0, 1, 0)
    );
}

#[test]
fn rfc5961_blind_rst_and_syn_get_challenge_acks() {
    let mut net = net();
    let (c, s) = connected(&mut net);
    let a = net.stacks[0].tcp_local_addr(c).unwrap();
    let b = addr("10.0.0.2", 80);
    let info = net.stacks[1].tcp_info(s).unwrap();
    let rcv_nxt = info.rcv_nxt;
    // In the window but not exactly at rcv_nxt: a challenge ACK, the connection lives.
    inject(
        &mut net,
        a,
        b,
        &seg(a, b, rcv_nxt.wrapping_add(1000), 0, TcpFlags::RST),
        &[],
    );
    net.run_for(ms(5)).unwrap();
    assert_eq!(net.stacks[1].tcp_state(s).unwrap(), TcpState::Established);
    assert_eq!(net.stacks[1].tcp_mib().challenge_acks, 1);
    // Outside the window: dropped silently.
    inject(
        &mut net,
        a,
        b,
        &seg(a, b, rcv_nxt.wrapping_add(1 << 30), 0, TcpFlags::RST),
        &[],
    );
    net.run_for(ms(5)).unwrap();
    assert_eq!(net.stacks[1].tcp_mib().challenge_acks, 1);
    // A SYN on an open connection, even in the window: a challenge ACK, no reset.
    inject(
        &mut net,
        a,
        b,
        &seg(a, b, rcv_nxt.wrapping_add(10), 0, TcpFlags::SYN),
        &[],
    );
    net.run_for(ms(5)).unwrap();
    assert_eq!(net.stacks[1].tcp_state(s).unwrap(), TcpState::Established);
    assert_eq!(net.stacks[1].tcp_mib().challenge_acks, 2);
    // The real peer answers the challenge ACKs with nothing and the connection works.
    let now = net.now();
    net.stacks[0].tcp_send(c, b"still here", now).unwrap();
    net.run_for(ms(5)).unwrap();
    let mut buf = [0; 16];
    let now = net.now();
    assert_eq!(net.stacks[1].tcp_recv(s, &mut buf, now).unwrap(), 10);
    // The exact sequence number resets.
    let rcv_nxt = net.stacks[1].tcp_info(s).unwrap().rcv_nxt;
    inject(&mut net, a, b, &seg(a, b, rcv_nxt, 0, TcpFlags::RST), &[]);
    net.run_for(ms(5)).unwrap();
    assert_eq!(
        net.stacks[1].tcp_error(s).unwrap(),
        Some(TcpError::ConnectionReset)
    );
}

/// RFC 5961 §3.2 as Linux extends it (`tcp_reset_check`): once the peer's FIN is in
/// (CLOSE-WAIT, LAST-ACK, CLOSING), a reset at RCV.NXT − 1, the FIN's own sequence number,
/// resets too, although it is left of the window: the peer may have reset before our ACK of
/// its FIN reached it. Elsewhere that number is dropped as out of the window. Before, it was
/// dropped everywhere.
#[test]
fn a_reset_at_the_fins_sequence_number_resets_after_the_fin() {
    let mut net = net();
    let (c, s) = connected(&mut net);
    let a = net.stacks[0].tcp_local_addr(c).unwrap();
    let b = addr("10.0.0.2", 80);
    // In ESTABLISHED, RCV.NXT − 1 is left of the window: dropped.
    let rcv_nxt = net.stacks[1].tcp_info(s).unwrap().rcv_nxt;
    let rst = seg(a, b, rcv_nxt.wrapping_sub(1), 0, TcpFlags::RST);
    inject(&mut net, a, b, &rst, &[]);
    net.run_for(ms(5)).unwrap();
    assert_eq!(net.stacks[1].tcp_state(s), Ok(TcpState::Established));
    assert_eq!(net.stacks[1].tcp_mib().challenge_acks, 0);
    // A closes: B is in CLOSE-WAIT, and a reset at the FIN's number ends it.
    let now = net.now();
    net.stacks[0].tcp_shutdown(c, Shutdown::Write, now).unwrap();
    net.run_for(ms(5)).unwrap();
    assert_eq!(net.stacks[1].tcp_state(s), Ok(TcpState::CloseWait));
    let rcv_nxt = net.stacks[1].tcp_info(s).unwrap().rcv_nxt;
    let rst = seg(a, b, rcv_nxt.wrapping_sub(1), 0, TcpFlags::RST);
    inject(&mut net, a, b, &rst, &[]);
    net.run_for(ms(5)).unwrap();
    assert_eq!(net.stacks[1].tcp_state(s), Ok(TcpState::Closed));
    assert_eq!(net.stacks[1].tcp_mib().challenge_acks, 0);
    assert_eq!(
        net.stacks[1].tcp_error(s).unwrap(),
        Some(TcpError::BrokenPipe)
    );
}

/// RFC 5961 §3.2 as Linux extends it (`tcp_validate_incoming`): with SACK, a reset at the
/// right edge of the highest SACK block the receiver reports, where the peer's next sequence
/// number stands after data that arrived out of order, resets; anywhere else in the window
/// it draws a challenge ACK. Before, that edge drew a challenge ACK too.
#[test]
fn a_reset_at_the_highest_sack_edge_resets() {
    let mut net = net();
    let (c, s) = connected(&mut net);
    let a = net.stacks[0].tcp_local_addr(c).unwrap();
    let b = addr("10.0.0.2", 80);
    let info = net.stacks[1].tcp_info(s).unwrap();
    assert!(info.sack, "SACK negotiated");
    let (rcv_nxt, ack) = (info.rcv_nxt, info.snd_nxt);
    // 100 bytes 1000 past RCV.NXT: held out of order, reported as [+1000, +1100).
    let data = seg(a, b, rcv_nxt.wrapping_add(1000), ack, TcpFlags::ACK);
    inject(&mut net, a, b, &data, &[7; 100]);
    net.run_for(ms(5)).unwrap();
    let inside = seg(a, b, rcv_nxt.wrapping_add(1050), 0, TcpFlags::RST);
    inject(&mut net, a, b, &inside, &[]);
    net.run_for(ms(5)).unwrap();
    assert_eq!(net.stacks[1].tcp_state(s), Ok(TcpState::Established));
    assert_eq!(net.stacks[1].tcp_mib().challenge_acks, 1);
    let edge = seg(a, b, rcv_nxt.wrapping_add(1100), 0, TcpFlags::RST);
    inject(&mut net, a, b, &edge, &[]);
    net.run_for(ms(5)).unwrap();
    assert_eq!(net.stacks[1].tcp_state(s), Ok(TcpState::Closed));
    assert_eq!(
        net.stacks[1].tcp_error(s).unwrap(),
        Some(TcpError::ConnectionReset)
    );
}

#[test]
fn segments_to_closed_ports_get_resets() {
    let mut net = net();
    let src = addr("10.0.0.1", 4444);
    let dst = addr("10.0.0.2", 9);
    inject(&mut net, src, dst, &seg(src, dst, 5, 0, TcpFlags::SYN), &[]);
    inject(
        &mut net,
        src,
        dst,
        &seg(src, dst, 5, 77, TcpFlags::ACK),
        b"data",
    );
    // A reset is never answered with a reset.
    inject(
        &mut net,
        src,
        dst,
        &seg(src, dst, 5, 77, TcpFlags::RST),
        &[],
    );
    net.run_for(ms(5)).unwrap();
    let m = net.stacks[1].tcp_mib();
    assert_eq!((m.no_port, m.out_rsts), (3, 2));
}

/// Two half-open connections from 10.0.0.100 fill the SYN queue of a backlog-2 listener at
/// `dst`; then `client`'s SYN (ISN 5000, MSS 1460) overflows it and is answered with a cookie.
fn overflow_then_syn(net: &mut Net, dst: SocketAddrV4, client: SocketAddrV4) {
    for i in 0..2u16 {
        let src = addr("10.0.0.100", 2000 + i);
        let mut syn = seg(src, dst, 77, 0, TcpFlags::SYN);
        syn.options.mss = Some(1460);
        inject(net, src, dst, &syn, &[]);
    }
    net.run_for(ms(1)).unwrap();
    let mut syn = seg(client, dst, 5000, 0, TcpFlags::SYN);
    syn.options.mss = Some(1460);
    inject(net, client, dst, &syn, &[]);
    net.run_for(ms(1)).unwrap();
}

#[test]
fn data_on_the_cookie_ack_is_delivered() {
    use oxnic_stack::tcp::isn::{CookieOpts, IsnGenerator};
    use oxnic_stack::tcp::seq::Seq;
    let mut net = net();
    let l = net.stacks[1].tcp_listen(addr("0.0.0.0", 80), 2).unwrap();
    let dst = addr("10.0.0.2", 80);
    let client = addr("10.0.0.101", 3000);
    overflow_then_syn(&mut net, dst, client);
    assert_eq!(net.stacks[1].tcp_mib().syncookies_sent, 1);
    // The cookie the listener chose, computed with the same key, tuple, options and time.
    let cookie = IsnGenerator::new(TcpConfig::default().secret).cookie(
        dst,
        client,
        Seq(5000),
        CookieOpts {
            mss: 1460,
            wscale: None,
            sack: false,
        },
        net.now(),
    );
    let ack = seg(
        client,
        dst,
        5001,
        cookie.0.wrapping_add(1),
        TcpFlags::ACK | TcpFlags::PSH,
    );
    inject(&mut net, client, dst, &ack, b"GET / HTTP/1.0\r\n\r\n");
    net.run_for(ms(1)).unwrap();
    assert_eq!(net.stacks[1].tcp_mib().syncookies_recv, 1);
    let (s, peer) = net.stacks[1].tcp_accept(l).unwrap();
    assert_eq!(peer, client);
    let mut buf = [0u8; 64];
    let now = net.now();
    let n = net.stacks[1].tcp_recv(s, &mut buf, now).unwrap();
    assert_eq!(&buf[..n], b"GET / HTTP/1.0\r\n\r\n");
}

#[test]
fn cookie_acks_are_checked_only_within_two_minutes_of_an_overflow() {
    use oxnic_stack::tcp::isn::{CookieOpts, IsnGenerator};
    use oxnic_stack::tcp::seq::Seq;
    let mut net = net();
    let l = net.stacks[1].tcp_listen(addr("0.0.0.0", 80), 2).unwrap();
    let dst = addr("10.0.0.2", 80);
    let opts = CookieOpts {
        mss: 1460,
        wscale: None,
        sack: false,
    };
    let gen = IsnGenerator::new(TcpConfig::default().secret);
    // The final ACK of a handshake whose SYN-ACK carried the cookie for `client`'s ISN 5000,
    // made now: what a blind forger who guessed the MAC would send.
    let cookie_ack = |net: &mut Net, client: SocketAddrV4| {
        let cookie = gen.cookie(dst, client, Seq(5000), opts, net.now());
        let ack = seg(client, dst, 5001, cookie.0.wrapping_add(1), TcpFlags::ACK);
        inject(net, client, dst, &ack, &[]);
        net.run_for(ms(1)).unwrap();
    };
    // No SYN queue has overflowed: a MAC-valid cookie ACK is not even checked; it gets a
    // reset (Linux `tcp_synq_no_recent_overflow`).
    cookie_ack(&mut net, addr("10.0.0.101", 3000));
    let m = net.stacks[1].tcp_mib();
    assert_eq!((m.syncookies_recv, m.passive_opens, m.out_rsts), (0, 0, 1));
    let client = addr("10.0.0.101", 3001);
    overflow_then_syn(&mut net, dst, client);
    assert_eq!(net.stacks[1].tcp_mib().syncookies_sent, 1);
    // Shortly after the overflow, the client's ACK completes the handshake.
    cookie_ack(&mut net, client);
    assert_eq!(net.stacks[1].tcp_mib().syncookies_recv, 1);
    assert_eq!(net.stacks[1].tcp_accept(l).unwrap().1, client);
    // A wrong MAC is counted as a failed cookie and reset.
    let rsts = net.stacks[1].tcp_mib().out_rsts;
    let forged = addr("10.0.0.101", 3002);
    inject(
        &mut net,
        forged,
        dst,
        &seg(forged, dst, 1000, 123_456, TcpFlags::ACK),
        &[],
    );
    net.run_for(ms(1)).unwrap();
    let m = net.stacks[1].tcp_mib();
    assert_eq!((m.syncookies_failed, m.out_rsts), (1, rsts + 1));
    // Over two minutes without an overflow: a cookie valid for the current period is
    // refused again, unchecked.
    net.run_for(Duration::from_secs(121)).unwrap();
    let rsts = net.stacks[1].tcp_mib().out_rsts;
    cookie_ack(&mut net, addr("10.0.0.101", 3003));
    let m = net.stacks[1].tcp_mib();
    assert_eq!(
        (m.syncookies_recv, m.syncookies_failed, m.out_rsts),
        (1, 1, rsts + 1)
    );
    assert!(net.stacks[1].tcp_accept(l).is_err());
}

/// Fills a backlog-2 listener's SYN queue with two half-open connections from hosts that
/// never complete the handshake. Returns the listener.
fn two_half_open(net: &mut Net) -> TcpHandle {
    net.stacks[1].set_tcp_config(TcpConfig {
        syncookies: false,
        ..TcpConfig::default()
    });
    let l = net.stacks[1].tcp_listen(addr("0.0.0.0", 80), 2).unwrap();
    let dst = addr("10.0.0.2", 80);
    for i in 0..2u16 {
        let src = addr("10.0.0.100", 2000 + i);
        inject(net, src, dst, &seg(src, dst, 77, 0, TcpFlags::SYN), &[]);
    }
    net.run_for(ms(1)).unwrap();
    l
}

/// A half-open child that is reset leaves the SYN queue, silently: the listener takes new
/// clients.
#[test]
fn reset_half_open_connections_leave_the_syn_queue() {
    let mut net = net();
    let l = two_half_open(&mut net);
    let fails = net.stacks[1].tcp_mib().attempt_fails;
    let dst = addr("10.0.0.2", 80);
    for i in 0..2u16 {
        let src = addr("10.0.0.100", 2000 + i);
        inject(
            &mut net,
            src,
            dst,
            &seg(src, dst, 78, 0, TcpFlags::RST),
            &[],
        );
    }
    net.run_for(ms(1)).unwrap();
    // Each a failed attempt (Linux `tcp_check_req` counts AttemptFails for a reset child).
    assert_eq!(net.stacks[1].tcp_mib().attempt_fails, fails + 2);
    assert_listener_takes_a_client(&mut net, l);
}

/// A half-open child whose SYN-ACK retries ran out leaves the SYN queue too.
#[test]
fn timed_out_half_open_connections_leave_the_syn_queue() {
    let mut net = net();
    let l = two_half_open(&mut net);
    // tcp_synack_retries = 5 with a 1 s initial RTO: about 63 s.
    net.run_for(Duration::from_secs(120)).unwrap();
    assert_listener_takes_a_client(&mut net, l);
}

/// A connects to B:80; the handshake must complete and listener `l` hand the child over.
fn assert_listener_takes_a_client(net: &mut Net, l: TcpHandle) {
    let now = net.now();
    let c = net.stacks[0]
        .tcp_connect(addr("10.0.0.2", 80), now)
        .unwrap();
    net.run_for(ms(50)).unwrap();
    assert_eq!(
        net.stacks[0].tcp_state(c).unwrap(),
        TcpState::Established,
        "{:?}",
        net.stacks[1].tcp_mib()
    );
    assert!(net.stacks[1].tcp_accept(l).is_ok());
}

/// RFC 1122 §4.2.2.13: "if new data is received after CLOSE is called, its TCP SHOULD send
/// a RST to show that data was lost" (Linux: TCPAbortOnData). B closes (nothing unread), A
/// keeps sending: A must learn that nobody reads.
#[test]
fn data_arriving_after_close_is_answered_with_a_reset() {
    let mut net = net();
    let (c, s) = connected(&mut net);
    let now = net.now();
    net.stacks[1].tcp_close(s, now).unwrap();
    net.run_for(ms(10)).unwrap();
    assert_eq!(net.stacks[0].tcp_state(c).unwrap(), TcpState::CloseWait);
    let now = net.now();
    net.stacks[0]
        .tcp_send(c, b"nobody reads this", now)
        .unwrap();
    net.run_for(ms(10)).unwrap();
    // The reset reaches A in CLOSE-WAIT, where Linux `tcp_reset` reports EPIPE, not
    // ECONNRESET: A's peer had closed, and it is A's writes that went nowhere.
    assert_eq!(
        net.stacks[0].tcp_error(c).unwrap(),
        Some(TcpError::BrokenPipe),
        "B accepted data after close: state {:?}",
        net.stacks[0].tcp_state(c)
    );
    // The FIN that came before still ends A's stream.
    let mut buf = [0; 8];
    let now = net.now();
    assert_eq!(net.stacks[0].tcp_recv(c, &mut buf, now), Ok(0));
}

/// Linux `tcp_reset` reports ECONNRESET in every state but SYN-SENT (ECONNREFUSED) and
/// CLOSE-WAIT (EPIPE), LAST-ACK and CLOSING included: a user who shut writing but still
/// holds the socket learns of the reset. Its write fails with ECONNRESET (`sk_stream_error`
/// gives the pending error before EPIPE), then EPIPE once the error is taken; its read still
/// ends the stream with the peer's FIN that came first (`SOCK_DONE` is checked before
/// `sk_err`).
#[test]
fn a_reset_in_last_ack_or_closing_reports_connreset_to_a_socket_still_held() {
    // LAST-ACK: the peer's FIN, our shutdown(Write), and the peer's reset crossing our FIN.
    let mut net = net();
    let (c, s) = connected(&mut net);
    let now = net.now();
    net.stacks[1].tcp_shutdown(s, Shutdown::Write, now).unwrap();
    net.run_for(ms(10)).unwrap();
    let now = net.now();
    net.stacks[0].tcp_shutdown(c, Shutdown::Write, now).unwrap();
    assert_eq!(net.stacks[0].tcp_state(c).unwrap(), TcpState::LastAck);
    net.stacks[1].tcp_abort(s, now).unwrap();
    // CLOSING: our shutdown(Write) (its FIN lost), then the peer's FIN, then its reset.
    let mut net2 = self::net();
    let (c2, _s2) = connected(&mut net2);
    let local = net2.stacks[0].tcp_local_addr(c2).unwrap();
    let b = addr("10.0.0.2", 80);
    net2.set_link_config(0, LinkConfig::new(ms(1), 1500).loss(1.0))
        .unwrap();
    let now = net2.now();
    net2.stacks[0]
        .tcp_shutdown(c2, Shutdown::Write, now)
        .unwrap();
    net2.run_for(ms(2)).unwrap();
    let info = net2.stacks[0].tcp_info(c2).unwrap();
    let fin = seg(
        b,
        local,
        info.rcv_nxt,
        info.snd_una,
        TcpFlags::FIN | TcpFlags::ACK,
    );
    inject_to_a(&mut net2, b, local, &fin);
    net2.run_for(ms(2)).unwrap();
    assert_eq!(net2.stacks[0].tcp_state(c2).unwrap(), TcpState::Closing);
    let rst = seg(b, local, info.rcv_nxt.wrapping_add(1), 0, TcpFlags::RST);
    inject_to_a(&mut net2, b, local, &rst);
    for (net, c, state) in [(&mut net, c, "LAST-ACK"), (&mut net2, c2, "CLOSING")] {
        net.run_for(ms(10)).unwrap();
        assert_eq!(
            net.stacks[0].tcp_state(c).unwrap(),
            TcpState::Closed,
            "{state}"
        );
        let r = net.stacks[0].tcp_readiness(c).unwrap();
        assert!(r.error && r.hangup, "{state}: {r:?}");
        let now = net.now();
        assert_eq!(
            net.stacks[0].tcp_send(c, b"x", now),
            Err(TcpError::ConnectionReset),
            "{state}"
        );
        assert_eq!(
            net.stacks[0].tcp_recv(c, &mut [0; 8], now),
            Ok(0),
            "{state}"
        );
        assert_eq!(
            net.stacks[0].tcp_take_error(c),
            Ok(None),
            "{state}: the write reported the reset"
        );
        assert_eq!(
            net.stacks[0].tcp_send(c, b"x", now),
            Err(TcpError::BrokenPipe),
            "{state}"
        );
    }
}

/// RFC 1122 4.2.2.13 / RFC 2525 §2.17, as Linux `tcp_close` (`data_was_unread`): data the
/// user never read makes close a reset, also when a read shutdown threw it away, whether it
/// was queued at the shutdown or arrived after it (Linux keeps both queued until close).
#[test]
fn closing_after_shutdown_read_left_data_unread_resets() {
    for data_first in [true, false] {
        let mut net = net();
        let (c, s) = connected(&mut net);
        let now = net.now();
        if data_first {
            net.stacks[0].tcp_send(c, b"unread", now).unwrap();
            net.run_for(ms(10)).unwrap();
        }
        let now = net.now();
        net.stacks[1].tcp_shutdown(s, Shutdown::Read, now).unwrap();
        if !data_first {
            net.stacks[0].tcp_send(c, b"unread", now).unwrap();
            net.run_for(ms(10)).unwrap();
        }
        let now = net.now();
        net.stacks[1].tcp_close(s, now).unwrap();
        net.run_for(ms(10)).unwrap();
        assert_eq!(
            net.stacks[0].tcp_error(c).unwrap(),
            Some(TcpError::ConnectionReset),
            "data sent {} the shutdown: peer in {:?}",
            if data_first { "before" } else { "after" },
            net.stacks[0].tcp_state(c)
        );
    }
}

/// Linux `tcp_rcv_state_process` resets on new data in FIN-WAIT-1/2 when RCV_SHUTDOWN is
/// set (`TCPAbortOnData`), which shutdown(Both) sets as close does: the peer learns at once
/// that nobody reads, and the socket still held reports the reset.
#[test]
fn data_arriving_after_shutdown_both_is_answered_with_a_reset() {
    let mut net = net();
    let (c, s) = connected(&mut net);
    let now = net.now();
    net.stacks[1].tcp_shutdown(s, Shutdown::Both, now).unwrap();
    net.run_for(ms(10)).unwrap();
    assert_eq!(net.stacks[0].tcp_state(c).unwrap(), TcpState::CloseWait);
    let now = net.now();
    net.stacks[0].tcp_send(c, b"nobody reads", now).unwrap();
    net.run_for(ms(10)).unwrap();
    // A is in CLOSE-WAIT when the reset comes: EPIPE there (Linux `tcp_reset`).
    assert_eq!(
        net.stacks[0].tcp_error(c).unwrap(),
        Some(TcpError::BrokenPipe),
        "B took data after shutdown(Both): A in {:?}",
        net.stacks[0].tcp_state(c)
    );
    assert_eq!(net.stacks[1].tcp_state(s).unwrap(), TcpState::Closed);
    assert_eq!(
        net.stacks[1].tcp_take_error(s).unwrap(),
        Some(TcpError::ConnectionReset)
    );
}

/// Linux `inet_shutdown`: shutdown of a socket in TCP_CLOSE is ENOTCONN, whichever
/// direction: after a reset, and after the close handshake (the user's socket is closed
/// once TIME-WAIT begins; the timewait sock is separate there).
#[test]
fn shutdown_of_a_closed_connection_is_not_connected() {
    let mut net = net();
    let (c, s) = connected(&mut net);
    let now = net.now();
    net.stacks[1].tcp_abort(s, now).unwrap();
    net.run_for(ms(10)).unwrap();
    assert_eq!(net.stacks[0].tcp_state(c).unwrap(), TcpState::Closed);
    for how in [Shutdown::Read, Shutdown::Write, Shutdown::Both] {
        let now = net.now();
        assert_eq!(
            net.stacks[0].tcp_shutdown(c, how, now),
            Err(TcpError::NotConnected),
            "{how:?} after a reset"
        );
    }
    let mut net = self::net();
    let (c, s) = connected(&mut net);
    let now = net.now();
    net.stacks[0].tcp_shutdown(c, Shutdown::Write, now).unwrap();
    net.stacks[1].tcp_shutdown(s, Shutdown::Write, now).unwrap();
    net.run_for(ms(10)).unwrap();
    assert_eq!(net.stacks[0].tcp_state(c).unwrap(), TcpState::TimeWait);
    for how in [Shutdown::Read, Shutdown::Write, Shutdown::Both] {
        let now = net.now();
        assert_eq!(
            net.stacks[0].tcp_shutdown(c, how, now),
            Err(TcpError::NotConnected),
            "{how:?} in TIME-WAIT"
        );
    }
}

/// shutdown(Read): a read returns 0 at once, so the socket is readable.
#[test]
fn shutdown_read_makes_the_socket_readable() {
    let mut net = net();
    let (c, _s) = connected(&mut net);
    let now = net.now();
    net.stacks[0].tcp_shutdown(c, Shutdown::Read, now).unwrap();
    assert_eq!(net.stacks[0].tcp_recv(c, &mut [0; 4], now), Ok(0));
    assert!(net.stacks[0].tcp_readiness(c).unwrap().readable);
}

/// After a reset, once a read reported the error (and so cleared it, Linux `sock_error`),
/// reads return 0 at once (Linux `tcp_done` sets `SHUTDOWN_MASK`): the socket stays readable
/// (`tcp_poll`: `EPOLLIN` with `EPOLLHUP`).
#[test]
fn a_reset_connection_stays_readable_after_its_error_is_taken() {
    let mut net = net();
    let (c, s) = connected(&mut net);
    let now = net.now();
    net.stacks[1].tcp_abort(s, now).unwrap();
    net.run_for(ms(10)).unwrap();
    let now = net.now();
    assert_eq!(
        net.stacks[0].tcp_recv(c, &mut [0; 4], now),
        Err(TcpError::ConnectionReset)
    );
    assert_eq!(net.stacks[0].tcp_take_error(c), Ok(None));
    assert_eq!(net.stacks[0].tcp_recv(c, &mut [0; 4], now), Ok(0));
    let r = net.stacks[0].tcp_readiness(c).unwrap();
    assert!(r.readable && r.hangup && !r.error, "{r:?}");
}

/// EPOLLHUP as Linux's `tcp_poll`: both directions shut (`sk_shutdown == SHUTDOWN_MASK`),
/// each by our shutdown or, for reading, by the peer's FIN; or the connection closed.
#[test]
fn hangup_is_reported_once_both_directions_are_shut() {
    let hup = |net: &Net, h: TcpHandle| net.stacks[0].tcp_readiness(h).unwrap().hangup;
    // shutdown(Both) while the peer still sends.
    let mut net = net();
    let (c, _) = connected(&mut net);
    assert!(!hup(&net, c));
    let now = net.now();
    net.stacks[0].tcp_shutdown(c, Shutdown::Both, now).unwrap();
    assert!(hup(&net, c), "shutdown(Both)");
    // shutdown(Read), then shutdown(Write).
    let mut net = self::net();
    let (c, _) = connected(&mut net);
    let now = net.now();
    net.stacks[0].tcp_shutdown(c, Shutdown::Read, now).unwrap();
    assert!(!hup(&net, c), "only reading is shut");
    net.stacks[0].tcp_shutdown(c, Shutdown::Write, now).unwrap();
    assert!(hup(&net, c), "shutdown(Read) then shutdown(Write)");
    // shutdown(Read), then the peer's FIN: reading is shut twice over, writing is not.
    let mut net = self::net();
    let (c, s) = connected(&mut net);
    let now = net.now();
    net.stacks[0].tcp_shutdown(c, Shutdown::Read, now).unwrap();
    net.stacks[1].tcp_shutdown(s, Shutdown::Write, now).unwrap();
    net.run_for(ms(10)).unwrap();
    assert_eq!(net.stacks[0].tcp_state(c).unwrap(), TcpState::CloseWait);
    assert!(!hup(&net, c), "shutdown(Read) and the peer's FIN");
    // The peer's FIN, then shutdown(Write).
    let mut net = self::net();
    let (c, s) = connected(&mut net);
    let now = net.now();
    net.stacks[1].tcp_shutdown(s, Shutdown::Write, now).unwrap();
    net.run_for(ms(10)).unwrap();
    assert!(!hup(&net, c), "only the peer's FIN");
    let now = net.now();
    net.stacks[0].tcp_shutdown(c, Shutdown::Write, now).unwrap();
    assert!(hup(&net, c), "the peer's FIN then shutdown(Write)");
}

/// Linux `tcp_poll` reports `EPOLLRDHUP` with `EPOLLIN` once reading is shut
/// (`RCV_SHUTDOWN`: the peer's FIN, shutdown(Read), or `tcp_done` after a reset). A poller
/// tells "the peer closed its side" from "data waiting" without reading: the flag is up
/// while the data sent before the FIN still waits, and not before the FIN.
#[test]
fn readiness_reports_read_hangup_once_the_peer_shuts_writing() {
    let mut net = net();
    let (c, s) = connected(&mut net);
    let now = net.now();
    net.stacks[1].tcp_send(s, b"last words", now).unwrap();
    net.run_for(ms(10)).unwrap();
    let r = net.stacks[0].tcp_readiness(c).unwrap();
    assert!(r.readable && !r.read_hangup, "data only: {r:?}");
    let now = net.now();
    net.stacks[1].tcp_shutdown(s, Shutdown::Write, now).unwrap();
    net.run_for(ms(10)).unwrap();
    let r = net.stacks[0].tcp_readiness(c).unwrap();
    assert!(
        r.readable && r.read_hangup && !r.hangup,
        "data, then FIN: {r:?}"
    );
    let mut buf = [0; 32];
    let now = net.now();
    assert_eq!(net.stacks[0].tcp_recv(c, &mut buf, now), Ok(10));
    assert_eq!(net.stacks[0].tcp_recv(c, &mut buf, now), Ok(0));
    assert!(net.stacks[0].tcp_readiness(c).unwrap().read_hangup);
    // Our own shutdown(Read) shuts reading too; a reset ends both ways.
    let mut net = self::net();
    let (c, _) = connected(&mut net);
    let now = net.now();
    net.stacks[0].tcp_shutdown(c, Shutdown::Read, now).unwrap();
    let r = net.stacks[0].tcp_readiness(c).unwrap();
    assert!(r.read_hangup && !r.hangup, "shutdown(Read): {r:?}");
    let mut net = self::net();
    let (c, s) = connected(&mut net);
    let now = net.now();
    net.stacks[1].tcp_abort(s, now).unwrap();
    net.run_for(ms(10)).unwrap();
    let r = net.stacks[0].tcp_readiness(c).unwrap();
    assert!(r.read_hangup && r.hangup && r.error, "reset: {r:?}");
}

/// Linux `tcp_poll` reports `EPOLLOUT` once writing is shut (`SEND_SHUTDOWN`): a write
/// would not block, it fails at once with `EPIPE`. A poll loop waiting to write after
/// shutdown(Write), or in any state after it (FIN-WAIT, CLOSING, LAST-ACK, TIME-WAIT, CLOSED),
/// must be woken to learn that, not left waiting for room that will never come.
#[test]
fn writing_shut_makes_the_socket_writable() {
    let w = |net: &Net, h: TcpHandle| net.stacks[0].tcp_readiness(h).unwrap().writable;
    // shutdown(Write) by us first: FIN-WAIT-1, FIN-WAIT-2, then TIME-WAIT.
    let mut net = net();
    let (c, s) = connected(&mut net);
    assert!(w(&net, c), "established with room");
    let now = net.now();
    net.stacks[0].tcp_shutdown(c, Shutdown::Write, now).unwrap();
    assert_eq!(net.stacks[0].tcp_state(c).unwrap(), TcpState::FinWait1);
    assert!(w(&net, c), "FIN-WAIT-1");
    assert_eq!(
        net.stacks[0].tcp_send(c, b"x", now),
        Err(TcpError::BrokenPipe)
    );
    net.run_for(ms(10)).unwrap();
    assert_eq!(net.stacks[0].tcp_state(c).unwrap(), TcpState::FinWait2);
    assert!(w(&net, c), "FIN-WAIT-2");
    let now = net.now();
    net.stacks[1].tcp_shutdown(s, Shutdown::Write, now).unwrap();
    net.run_for(ms(10)).unwrap();
    assert_eq!(net.stacks[0].tcp_state(c).unwrap(), TcpState::TimeWait);
    assert!(w(&net, c), "TIME-WAIT");
    // The peer's FIN first: CLOSE-WAIT is writable with room; then LAST-ACK and CLOSED.
    let mut net = self::net();
    let (c, s) = connected(&mut net);
    let now = net.now();
    net.stacks[1].tcp_shutdown(s, Shutdown::Write, now).unwrap();
    net.run_for(ms(10)).unwrap();
    assert_eq!(net.stacks[0].tcp_state(c).unwrap(), TcpState::CloseWait);
    assert!(w(&net, c), "CLOSE-WAIT with room");
    let now = net.now();
    net.stacks[0].tcp_shutdown(c, Shutdown::Write, now).unwrap();
    assert_eq!(net.stacks[0].tcp_state(c).unwrap(), TcpState::LastAck);
    assert!(w(&net, c), "LAST-ACK");
    net.run_for(ms(10)).unwrap();
    assert_eq!(net.stacks[0].tcp_state(c).unwrap(), TcpState::Closed);
    assert!(w(&net, c), "CLOSED after LAST-ACK");
    let now = net.now();
    assert!(net.stacks[0].tcp_send(c, b"x", now).is_err());
}

/// Linux `tcp_done` sets `SHUTDOWN_MASK` on a connection ended by a reset (or a refused
/// connect, or a timeout), so `tcp_poll` reports `EPOLLOUT` with `EPOLLERR` and `EPOLLHUP`:
/// the classic non-blocking connect waits for writable and then reads `SO_ERROR`, and must
/// be woken when the connect fails, not only when it succeeds. Writable stays once the
/// error is taken (a write fails at once with `EPIPE`).
#[test]
fn a_failed_connection_is_writable_with_its_error() {
    // A connect refused by a reset.
    let mut net = net();
    let now = net.now();
    let c = net.stacks[0]
        .tcp_connect(addr("10.0.0.2", 81), now)
        .unwrap();
    let r = net.stacks[0].tcp_readiness(c).unwrap();
    assert!(!r.writable && !r.error, "SYN-SENT: {r:?}");
    net.run_for(ms(10)).unwrap();
    let r = net.stacks[0].tcp_readiness(c).unwrap();
    assert_eq!(
        net.stacks[0].tcp_error(c).unwrap(),
        Some(TcpError::ConnectionRefused)
    );
    assert!(r.writable && r.error && r.hangup, "refused connect: {r:?}");
    // An established connection reset by the peer.
    let mut net = self::net();
    let (c, s) = connected(&mut net);
    let now = net.now();
    net.stacks[1].tcp_abort(s, now).unwrap();
    net.run_for(ms(10)).unwrap();
    let r = net.stacks[0].tcp_readiness(c).unwrap();
    assert!(
        r.writable && r.error && r.hangup && r.readable,
        "reset: {r:?}"
    );
    assert_eq!(
        net.stacks[0].tcp_take_error(c),
        Ok(Some(TcpError::ConnectionReset))
    );
    let r = net.stacks[0].tcp_readiness(c).unwrap();
    assert!(r.writable && !r.error, "reset, error taken: {r:?}");
    let now = net.now();
    assert_eq!(
        net.stacks[0].tcp_send(c, b"x", now),
        Err(TcpError::BrokenPipe)
    );
}

/// Linux `tcp_poll` reports `EPOLLOUT` only when `__sk_stream_is_writeable`: the free send
/// space is at least half of what is queued (a third of the buffer free when it is full),
/// and `sk_stream_write_space` wakes writers at that mark. Reporting writable for a single
/// free byte wakes a poll loop for every ACK to write a sliver each time.
#[test]
fn writable_needs_a_third_of_the_send_buffer_free() {
    let mut net = net();
    let (c, s) = connected(&mut net);
    net.stacks[0].tcp_set_sndbuf(c, 60_000).unwrap();
    let now = net.now();
    // 45 000 queued, 15 000 free: less than half of the queued bytes.
    assert_eq!(net.stacks[0].tcp_send(c, &[7; 45_000], now), Ok(45_000));
    assert_eq!(net.stacks[0].tcp_send_queue(c), Ok(45_000));
    let r = net.stacks[0].tcp_readiness(c).unwrap();
    assert!(
        !r.writable,
        "15 000 free of 60 000 with 45 000 queued: {r:?}"
    );
    // 40 000 queued, 20 000 free: exactly half, writable again.
    let mut c2_net = self::net();
    let (c2, _) = connected(&mut c2_net);
    c2_net.stacks[0].tcp_set_sndbuf(c2, 60_000).unwrap();
    let now = c2_net.now();
    c2_net.stacks[0].tcp_send(c2, &[7; 40_000], now).unwrap();
    assert!(c2_net.stacks[0].tcp_readiness(c2).unwrap().writable);
    // The peer acknowledges: the queue drains and the socket is writable.
    net.run_for(ms(50)).unwrap();
    let mut buf = vec![0; 64 * 1024];
    let now = net.now();
    let _ = net.stacks[1].tcp_recv(s, &mut buf, now);
    net.run_for(ms(50)).unwrap();
    assert!(net.stacks[0].tcp_send_queue(c).unwrap() < 30_000);
    assert!(net.stacks[0].tcp_readiness(c).unwrap().writable);
}

/// Linux `tcp_keepalive_timer` probes in every synchronized state when SO_KEEPALIVE is on,
/// not only in ESTABLISHED: a CLOSE-WAIT connection (the peer sent its FIN, this side
/// still holds its half open) whose peer vanishes times out instead of living for ever.
#[test]
fn keepalive_times_out_a_close_wait_connection_whose_peer_vanished() {
    let mut net = net();
    net.stacks[0].set_tcp_config(common::keepalive_10s_2s_3());
    let (c, s) = connected(&mut net);
    let now = net.now();
    net.stacks[0].tcp_set_keepalive(c, true, now).unwrap();
    net.stacks[1].tcp_shutdown(s, Shutdown::Write, now).unwrap();
    net.run_for(ms(10)).unwrap();
    assert_eq!(net.stacks[0].tcp_state(c).unwrap(), TcpState::CloseWait);
    // The peer vanishes: probes at 10, 12 and 14 s go unanswered, the timeout comes at 16 s.
    net.set_link_config(0, LinkConfig::new(ms(1), 1500).loss(1.0))
        .unwrap();
    net.run_for(Duration::from_secs(20)).unwrap();
    assert_eq!(
        net.stacks[0].tcp_error(c).unwrap(),
        Some(TcpError::TimedOut),
        "state {:?}",
        net.stacks[0].tcp_state(c)
    );
}

/// RFC 6191 / Linux `tcp_timewait_state_process`: the server closed first and sits in
/// TIME-WAIT; the client, its side long closed, connects again from the same port. A SYN
/// whose ISN lies beyond the TIME-WAIT's rcv_nxt (or, with timestamps, whose TSval is newer
/// than TS.Recent) starts the new connection at once; an old duplicate SYN does not.
#[test]
fn a_client_reusing_its_port_recycles_the_servers_time_wait() {
    let mut net = net();
    let cfg = TcpConfig {
        timestamps: false,
        ..TcpConfig::default()
    };
    net.stacks[0].set_tcp_config(cfg.clone());
    net.stacks[1].set_tcp_config(cfg);
    let (l, c, s) = common::tcp_connected(&mut net, ms(10));
    let ca = net.stacks[0].tcp_local_addr(c).unwrap();
    let sa = addr("10.0.0.2", 80);
    let now = net.now();
    net.stacks[0].tcp_send(c, b"request", now).unwrap();
    net.run_for(ms(10)).unwrap();
    let now = net.now();
    let mut buf = [0; 16];
    assert_eq!(net.stacks[1].tcp_recv(s, &mut buf, now), Ok(7));
    net.stacks[1].tcp_shutdown(s, Shutdown::Write, now).unwrap();
    net.run_for(ms(10)).unwrap();
    let now = net.now();
    net.stacks[0].tcp_close(c, now).unwrap();
    net.run_for(ms(10)).unwrap();
    assert_eq!(net.stacks[1].tcp_mib().curr_estab, 0);
    assert_eq!(net.stacks[1].tcp_state(s).unwrap(), TcpState::TimeWait);
    // An old duplicate SYN (sequence below the TIME-WAIT's rcv_nxt) opens nothing. (The
    // ACK answering it is lost: the client's reset would end the TIME-WAIT, RFC 1337.)
    net.set_link_config(0, LinkConfig::new(ms(1), 1500).loss(1.0))
        .unwrap();
    let rcv_nxt = net.stacks[1].tcp_info(s).unwrap().rcv_nxt;
    let old = seg(ca, sa, rcv_nxt.wrapping_sub(1000), 0, TcpFlags::SYN);
    inject(&mut net, ca, sa, &old, &[]);
    net.run_for(ms(10)).unwrap();
    net.set_link_config(0, LinkConfig::new(ms(1), 1500))
        .unwrap();
    assert_eq!(net.stacks[1].tcp_accept(l), Err(TcpError::WouldBlock));
    assert_eq!(net.stacks[1].tcp_mib().passive_opens, 1);
    assert_eq!(net.stacks[1].tcp_state(s).unwrap(), TcpState::TimeWait);
    // The client comes back from the same port: connected at the first SYN, not after a
    // challenge ACK, a reset and a SYN retransmission a second later.
    let now = net.now();
    let c2 = net.stacks[0].tcp_connect_from(ca, sa, now).unwrap();
    net.run_for(ms(10)).unwrap();
    assert_eq!(net.stacks[0].tcp_state(c2).unwrap(), TcpState::Established);
    let (s2, peer) = net.stacks[1].tcp_accept(l).unwrap();
    assert_eq!(peer, ca);
    assert_eq!(net.stacks[0].tcp_mib().retrans_segs, 0);
    let now = net.now();
    net.stacks[0].tcp_send(c2, b"again", now).unwrap();
    net.run_for(ms(10)).unwrap();
    let now = net.now();
    assert_eq!(net.stacks[1].tcp_recv(s2, &mut buf, now), Ok(5));
}

/// The same with timestamps on (RFC 6191, RFC 7323 §7.1): the client's TSval clock runs on
/// across incarnations of a 4-tuple (its offset is a keyed hash of the addresses, as Linux's
/// `secure_tcp_ts_off`, not of the ISN, which carries the ISN timer), so the new SYN's TSval
/// is newer than the server's TS.Recent and PAWS does not take it for an old duplicate — for
/// every port, not by luck of the offset.
#[test]
fn a_client_reusing_its_port_recycles_the_servers_time_wait_with_timestamps() {
    let mut net = net();
    let l = net.stacks[1].tcp_listen(addr("0.0.0.0", 80), 16).unwrap();
    let sa = addr("10.0.0.2", 80);
    for port in 7000..7008 {
        let ca = addr("10.0.0.1", port);
        let now = net.now();
        let c = net.stacks[0].tcp_connect_from(ca, sa, now).unwrap();
        net.run_for(ms(10)).unwrap();
        let (s, _) = net.stacks[1].tcp_accept(l).unwrap();
        assert!(net.stacks[1].tcp_info(s).unwrap().timestamps);
        // The server closes first and is left in TIME-WAIT.
        let now = net.now();
        net.stacks[1].tcp_shutdown(s, Shutdown::Write, now).unwrap();
        net.run_for(ms(10)).unwrap();
        let now = net.now();
        net.stacks[0].tcp_close(c, now).unwrap();
        // The client comes back a while later, well within the 60 s TIME-WAIT.
        net.run_for(ms(300 * u64::from(port - 6999))).unwrap();
        assert_eq!(net.stacks[1].tcp_state(s).unwrap(), TcpState::TimeWait);
        let retrans = net.stacks[0].tcp_mib().retrans_segs;
        let now = net.now();
        let c2 = net.stacks[0].tcp_connect_from(ca, sa, now).unwrap();
        net.run_for(ms(10)).unwrap();
        assert_eq!(
            net.stacks[0].tcp_state(c2).unwrap(),
            TcpState::Established,
            "port {port}: the first SYN is taken"
        );
        assert_eq!(net.stacks[0].tcp_mib().retrans_segs, retrans, "port {port}");
        assert_eq!(net.stacks[1].tcp_accept(l).unwrap().1, ca);
        // Reset: the next round starts with nothing left of this one.
        let now = net.now();
        net.stacks[0].tcp_abort(c2, now).unwrap();
        net.run_for(ms(10)).unwrap();
        assert_eq!(net.stacks[1].tcp_mib().curr_estab, 0);
    }
}

/// An ICMP error from `from` to A (stack 0) about a TCP segment A sent from `local` to
/// `remote` with sequence number `seq`, quoting the first 8 bytes of its header (RFC 792).
fn icmp_to_a(
    net: &mut Net,
    from: &str,
    err: IcmpError,
    local: SocketAddrV4,
    remote: SocketAddrV4,
    seq: u32,
) {
    use oxnic_stack::wire::checksum::ChecksumMode;
    use oxnic_stack::wire::ethernet::{ethertype, EthernetRepr};
    use oxnic_stack::wire::icmpv4::IcmpRepr;
    use oxnic_stack::wire::ipv4::protocol;
    let ip = |src: Ipv4Addr, dst: Ipv4Addr, proto: u8, payload_len: usize| {
        let a = common::Addrs {
            src_mac: EthernetAddress([2, 0, 0, 0, 9, 9]),
            dst_mac: mac(0, 1),
            src,
            dst,
        };
        common::ipv4(&a, proto, 1, 64, payload_len)
    };
    let header = ip(*local.ip(), *remote.ip(), protocol::TCP, 20);
    let mut quoted = [0u8; 8];
    quoted[..2].copy_from_slice(&local.port().to_be_bytes());
    quoted[2..4].copy_from_slice(&remote.port().to_be_bytes());
    quoted[4..].copy_from_slice(&seq.to_be_bytes());
    let msg = match err {
        IcmpError::Unreach(reason) => IcmpRepr::DstUnreachable {
            reason,
            next_hop_mtu: 0,
            header,
            data: &quoted,
        },
        IcmpError::FragNeeded(mtu) => IcmpRepr::DstUnreachable {
            reason: oxnic_stack::wire::icmpv4::DstUnreachable::FragRequired,
            next_hop_mtu: mtu,
            header,
            data: &quoted,
        },
        IcmpError::TimeExceeded => IcmpRepr::TimeExceeded {
            reason: oxnic_stack::wire::icmpv4::TimeExceeded::TtlExpired,
            header,
            data: &quoted,
        },
        IcmpError::ParamProblem(pointer) => IcmpRepr::ParamProblem {
            pointer,
            header,
            data: &quoted,
        },
    };
    let mut icmp = vec![0; msg.buffer_len()];
    msg.emit(&mut icmp, ChecksumMode::Software).unwrap();
    let outer = ip(
        from.parse().unwrap(),
        *local.ip(),
        protocol::ICMP,
        icmp.len(),
    );
    let mut f = vec![0; EthernetRepr::LEN + outer.header_len() + icmp.len()];
    EthernetRepr {
        dst: mac(0, 1),
        src: EthernetAddress([2, 0, 0, 0, 9, 9]),
        ethertype: ethertype::IPV4,
    }
    .emit(&mut f)
    .unwrap();
    let hl = outer
        .emit(&mut f[EthernetRepr::LEN..], ChecksumMode::Software)
        .unwrap();
    f[EthernetRepr::LEN + hl..].copy_from_slice(&icmp);
    net.stacks[0]
        .device_mut(1)
        .unwrap()
        .push_rx(PacketBuf::from_slice(64, &f));
}

#[derive(Debug, Clone, Copy)]
enum IcmpError {
    Unreach(oxnic_stack::wire::icmpv4::DstUnreachable),
    FragNeeded(u16),
    TimeExceeded,
    ParamProblem(u8),
}

/// A connected pair (A's `retries2` set first, when given), then a dead link and data A
/// sends into it: (A's socket, when it sent).
fn sending_into_the_void(net: &mut Net, retries2: Option<u32>) -> (TcpHandle, Instant) {
    if let Some(retries2) = retries2 {
        net.stacks[0].set_tcp_config(TcpConfig {
            retries2,
            ..TcpConfig::default()
        });
    }
    let (c, _s) = connected(net);
    net.set_link_config(0, LinkConfig::new(ms(1), 1500).loss(1.0))
        .unwrap();
    let now = net.now();
    net.stacks[0].tcp_send(c, b"into the void", now).unwrap();
    (c, now)
}

/// A connected pair to warm ARP, then a dead link and a connect from A to B:81 whose SYNs
/// are lost: (A's socket, its local address, its ISS).
fn lost_connect(net: &mut Net) -> (TcpHandle, SocketAddrV4, u32) {
    connected(net);
    net.set_link_config(0, LinkConfig::new(ms(1), 1500).loss(1.0))
        .unwrap();
    let now = net.now();
    let c = net.stacks[0]
        .tcp_connect(addr("10.0.0.2", 81), now)
        .unwrap();
    net.run_for(ms(5)).unwrap();
    let local = net.stacks[0].tcp_local_addr(c).unwrap();
    let iss = net.stacks[0].tcp_info(c).unwrap().snd_una;
    (c, local, iss)
}

/// Linux `tcp_v4_err`: while a connection is opening, any destination unreachable (but
/// fragmentation needed), a time exceeded and a parameter problem (a router or the peer found
/// a bad header in it) about its SYN end the connect at once, with the errno of
/// `icmp_err_convert` (port unreachable ECONNREFUSED, as RFC 1122 4.2.3.9 says; parameter
/// problem EPROTO), counted in AttemptFails. RFC 1122 4.2.3.9 would keep the soft ones
/// (host, net unreachable) and retransmit; oxnic follows Linux, where an unreachable connect
/// fails in milliseconds rather than after the SYN retries. One quoting a sequence number A
/// never sent, or another port of ours with no socket, is ignored (RFC 5927 §4.1).
#[test]
fn every_icmp_error_about_the_syn_fails_the_connect_with_its_errno() {
    use oxnic_stack::wire::icmpv4::DstUnreachable as U;
    let cases = [
        (
            IcmpError::Unreach(U::NetUnreachable),
            TcpError::NetUnreachable,
        ),
        (
            IcmpError::Unreach(U::HostUnreachable),
            TcpError::Unreachable,
        ),
        (
            IcmpError::Unreach(U::ProtoUnreachable),
            TcpError::ProtocolUnavailable,
        ),
        (
            IcmpError::Unreach(U::PortUnreachable),
            TcpError::ConnectionRefused,
        ),
        (
            IcmpError::Unreach(U::SrcRouteFailed),
            TcpError::NotSupported,
        ),
        (
            IcmpError::Unreach(U::DstNetUnknown),
            TcpError::NetUnreachable,
        ),
        (IcmpError::Unreach(U::DstHostUnknown), TcpError::HostDown),
        (IcmpError::Unreach(U::SrcHostIsolated), TcpError::NoNetwork),
        (
            IcmpError::Unreach(U::NetProhibited),
            TcpError::NetUnreachable,
        ),
        (IcmpError::Unreach(U::HostProhibited), TcpError::Unreachable),
        (
            IcmpError::Unreach(U::NetUnreachToS),
            TcpError::NetUnreachable,
        ),
        (IcmpError::Unreach(U::HostUnreachToS), TcpError::Unreachable),
        (IcmpError::Unreach(U::CommProhibited), TcpError::Unreachable),
        (IcmpError::Unreach(U::HostPrecedViol), TcpError::Unreachable),
        (IcmpError::Unreach(U::PrecedCutoff), TcpError::Unreachable),
        (IcmpError::TimeExceeded, TcpError::Unreachable),
        (IcmpError::ParamProblem(20), TcpError::ProtocolError),
    ];
    for (err, want) in cases {
        let mut net = net();
        let (c, local, iss) = lost_connect(&mut net);
        let b = addr("10.0.0.2", 81);
        // A sequence number A never sent: ignored.
        icmp_to_a(&mut net, "10.0.0.2", err, local, b, iss.wrapping_add(1000));
        net.run_for(ms(2)).unwrap();
        assert_eq!(
            net.stacks[0].tcp_state(c).unwrap(),
            TcpState::SynSent,
            "{want:?}"
        );
        // Another port of ours, with no socket: ignored, no panic.
        icmp_to_a(&mut net, "10.0.0.2", err, addr("10.0.0.1", 9), b, iss);
        net.run_for(ms(2)).unwrap();
        assert_eq!(
            net.stacks[0].tcp_state(c).unwrap(),
            TcpState::SynSent,
            "{want:?}"
        );
        // The SYN: the connect fails.
        let fails = net.stacks[0].tcp_mib().attempt_fails;
        icmp_to_a(&mut net, "10.0.0.2", err, local, b, iss);
        net.run_for(ms(2)).unwrap();
        assert_eq!(
            net.stacks[0].tcp_state(c).unwrap(),
            TcpState::Closed,
            "{want:?}"
        );
        assert_eq!(net.stacks[0].tcp_error(c).unwrap(), Some(want));
        assert_eq!(net.stacks[0].tcp_mib().attempt_fails, fails + 1, "{want:?}");
    }
}

/// End to end: A connects through R to a network R has no route for, to a prefix R holds
/// an unreachable route for, and to one R prohibits. R's ICMP answers the first SYN (net
/// unreachable, host unreachable, communication prohibited) and each connect fails at once
/// with ENETUNREACH or EHOSTUNREACH, as a Linux client's would, without a SYN retransmitted.
#[test]
fn a_router_s_unreachable_fails_a_connect_at_once() {
    use oxnic_stack::route::{Prefix, Route, RouteKind};
    let mut net = oxnic_stack::netsim::three_hosts(1500);
    for (p, kind) in [
        ("10.0.3.0", RouteKind::Unreachable),
        ("10.0.4.0", RouteKind::Prohibit),
    ] {
        net.stacks[1]
            .routes_mut()
            .add(Route::reject(Prefix::new(ip4(p), 24).unwrap(), kind))
            .unwrap();
    }
    let now = net.now();
    let dests = [
        ("10.9.9.9", TcpError::NetUnreachable),
        ("10.0.3.1", TcpError::Unreachable),
        ("10.0.4.1", TcpError::Unreachable),
    ];
    let socks: Vec<_> = dests
        .iter()
        .map(|(d, _)| net.stacks[0].tcp_connect(addr(d, 80), now).unwrap())
        .collect();
    net.run_for(ms(50)).unwrap();
    for (&c, (d, want)) in socks.iter().zip(dests) {
        assert_eq!(net.stacks[0].tcp_state(c).unwrap(), TcpState::Closed, "{d}");
        assert_eq!(net.stacks[0].tcp_error(c).unwrap(), Some(want), "{d}");
    }
    let mib = net.stacks[0].tcp_mib();
    assert_eq!(mib.attempt_fails, 3);
    assert_eq!(mib.retrans_segs, 0, "failed on the first SYN's answer");
}

/// A raw segment from `src` to A's `dst`, put straight into A's device as if from the wire.
fn inject_to_a(net: &mut Net, src: SocketAddrV4, dst: SocketAddrV4, repr: &TcpRepr) {
    let f = tcp_frame(
        EthernetAddress([2, 0, 0, 0, 9, 9]),
        mac(0, 1),
        src,
        dst,
        repr,
        &[],
    )
    .unwrap();
    net.stacks[0]
        .device_mut(1)
        .unwrap()
        .push_rx(PacketBuf::from_slice(64, &f));
}

/// A simultaneous open stuck in SYN-RECEIVED (its SYN-ACK lost) is still opening: Linux
/// `tcp_v4_err` aborts it like SYN-SENT, here with EHOSTUNREACH for a host unreachable.
#[test]
fn icmp_unreachable_aborts_a_simultaneous_open_in_syn_received() {
    use oxnic_stack::wire::icmpv4::DstUnreachable;
    let mut net = net();
    let (c, local, iss) = lost_connect(&mut net);
    let b = addr("10.0.0.2", 81);
    // B's own SYN crosses A's: A answers with a SYN-ACK (lost on the dead link).
    inject_to_a(&mut net, b, local, &seg(b, local, 5000, 0, TcpFlags::SYN));
    net.run_for(ms(2)).unwrap();
    assert_eq!(net.stacks[0].tcp_state(c).unwrap(), TcpState::SynReceived);
    let fails = net.stacks[0].tcp_mib().attempt_fails;
    let host = IcmpError::Unreach(DstUnreachable::HostUnreachable);
    icmp_to_a(&mut net, "10.0.0.2", host, local, b, iss);
    net.run_for(ms(2)).unwrap();
    assert_eq!(net.stacks[0].tcp_state(c).unwrap(), TcpState::Closed);
    assert_eq!(
        net.stacks[0].tcp_error(c).unwrap(),
        Some(TcpError::Unreachable)
    );
    assert_eq!(net.stacks[0].tcp_mib().attempt_fails, fails + 1);
}

/// Linux `tcp_reset` gives ECONNREFUSED only in SYN-SENT: a simultaneous open reset in
/// SYN-RECEIVED reports ECONNRESET (RFC 9293 would say "connection refused"; oxnic follows
/// Linux), once, and `tcp_done` counts the failed attempt (AttemptFails).
#[test]
fn a_reset_in_syn_received_of_a_simultaneous_open_is_connreset() {
    let mut net = net();
    let (c, local, _) = lost_connect(&mut net);
    let b = addr("10.0.0.2", 81);
    // B's own SYN crosses A's: A answers with a SYN-ACK (lost on the dead link).
    inject_to_a(&mut net, b, local, &seg(b, local, 5000, 0, TcpFlags::SYN));
    net.run_for(ms(2)).unwrap();
    assert_eq!(net.stacks[0].tcp_state(c).unwrap(), TcpState::SynReceived);
    let fails = net.stacks[0].tcp_mib().attempt_fails;
    inject_to_a(&mut net, b, local, &seg(b, local, 5001, 0, TcpFlags::RST));
    net.run_for(ms(2)).unwrap();
    assert_eq!(net.stacks[0].tcp_state(c).unwrap(), TcpState::Closed);
    assert_eq!(net.stacks[0].tcp_mib().attempt_fails, fails + 1);
    let now = net.now();
    assert_eq!(
        net.stacks[0].tcp_recv(c, &mut [0; 8], now),
        Err(TcpError::ConnectionReset)
    );
    assert_eq!(net.stacks[0].tcp_recv(c, &mut [0; 8], now), Ok(0));
}

/// A listener's child in SYN-RECEIVED is a request nobody holds (Linux `tcp_req_err`): a
/// net or host unreachable (or time exceeded) or a parameter problem (`type ==
/// ICMP_PARAMETERPROB`) quoting its SYN-ACK drops it silently, counted in ListenDrops; other
/// codes (port unreachable here) leave it to its SYN-ACK retries.
#[test]
fn icmp_unreachable_or_parameter_problem_drops_a_listener_s_half_open_child() {
    use oxnic_stack::wire::icmpv4::DstUnreachable;
    let port = IcmpError::Unreach(DstUnreachable::PortUnreachable);
    let host = IcmpError::Unreach(DstUnreachable::HostUnreachable);
    // Per case: the errors that leave the child, then the one that drops it.
    let cases = [(vec![port], host), (vec![], IcmpError::ParamProblem(0))];
    for (kept_by, dropped_by) in cases {
        let mut net = net();
        connected(&mut net);
        let l = net.stacks[0].tcp_listen(addr("0.0.0.0", 90), 4).unwrap();
        net.set_link_config(0, LinkConfig::new(ms(1), 1500).loss(1.0))
            .unwrap();
        let a = addr("10.0.0.1", 90);
        let peer = addr("10.0.0.2", 4444);
        inject_to_a(&mut net, peer, a, &seg(peer, a, 7000, 0, TcpFlags::SYN));
        net.run_for(ms(2)).unwrap();
        let child = net.stacks[0]
            .tcp_sockets()
            .find(|&h| net.stacks[0].tcp_local_addr(h) == Ok(a) && h != l)
            .expect("a child in SYN-RECEIVED");
        assert_eq!(
            net.stacks[0].tcp_state(child).unwrap(),
            TcpState::SynReceived
        );
        let iss = net.stacks[0].tcp_info(child).unwrap().snd_una;
        let drops = net.stacks[0].tcp_mib().listen_drops;
        for err in kept_by {
            icmp_to_a(&mut net, "10.0.0.2", err, a, peer, iss);
            net.run_for(ms(2)).unwrap();
            assert_eq!(
                net.stacks[0].tcp_state(child).unwrap(),
                TcpState::SynReceived,
                "{err:?}"
            );
        }
        icmp_to_a(&mut net, "10.0.0.2", dropped_by, a, peer, iss);
        net.run_for(ms(2)).unwrap();
        assert!(
            net.stacks[0].tcp_state(child).is_err(),
            "{dropped_by:?}: the child is gone"
        );
        assert_eq!(net.stacks[0].tcp_mib().listen_drops, drops + 1);
        assert_eq!(net.stacks[0].tcp_accept(l), Err(TcpError::WouldBlock));
    }
}

/// Once synchronized, every ICMP error is soft (RFC 5927 §7, Linux), even port unreachable
/// and parameter problem: the connection goes on, and should it time out, the last soft
/// error names why (ETIMEDOUT's stand-in: EHOSTUNREACH, or EPROTO after a parameter problem).
#[test]
fn icmp_errors_never_abort_an_established_connection() {
    use oxnic_stack::wire::icmpv4::DstUnreachable;
    let cases = [
        (
            vec![
                IcmpError::Unreach(DstUnreachable::PortUnreachable),
                IcmpError::Unreach(DstUnreachable::HostUnreachable),
            ],
            TcpError::Unreachable,
        ),
        (vec![IcmpError::ParamProblem(20)], TcpError::ProtocolError),
    ];
    for (errs, last) in cases {
        let mut net = net();
        let (c, _) = sending_into_the_void(&mut net, Some(3));
        net.run_for(ms(2)).unwrap();
        let local = net.stacks[0].tcp_local_addr(c).unwrap();
        let una = net.stacks[0].tcp_info(c).unwrap().snd_una;
        let b = addr("10.0.0.2", 80);
        for err in errs {
            icmp_to_a(&mut net, "10.0.0.2", err, local, b, una);
            net.run_for(ms(2)).unwrap();
            assert_eq!(
                net.stacks[0].tcp_state(c).unwrap(),
                TcpState::Established,
                "{err:?}"
            );
            assert_eq!(net.stacks[0].tcp_error(c).unwrap(), None, "{err:?}");
        }
        net.run_for(Duration::from_secs(10)).unwrap();
        assert_eq!(net.stacks[0].tcp_state(c).unwrap(), TcpState::Closed);
        assert_eq!(
            net.stacks[0].tcp_error(c).unwrap(),
            Some(last),
            "the last soft error, not a bare timeout"
        );
    }
}

/// A connection to a silent peer after its third retransmission timeout: (A's socket, its
/// local address, the sequence number it waits to have acknowledged, the instant of that
/// third timeout, the RTO then, three times backed off).
fn backed_off_three_times(net: &mut Net) -> (TcpHandle, SocketAddrV4, u32, Instant, Duration) {
    let (c, now) = sending_into_the_void(net, None);
    let timeouts = |net: &Net| net.stacks[0].tcp_info(c).unwrap().timeouts;
    let deadline = now + Duration::from_secs(10);
    assert!(net.run_while(|n| timeouts(n) < 3, deadline).unwrap());
    let info = net.stacks[0].tcp_info(c).unwrap();
    let local = net.stacks[0].tcp_local_addr(c).unwrap();
    (c, local, info.snd_una, net.now(), info.rto)
}

/// When the retransmission timeout after `t3` (the third) fires.
fn fourth_timeout(net: &mut Net, c: TcpHandle, t3: Instant) -> Instant {
    let deadline = t3 + Duration::from_secs(10);
    let timeouts = |net: &Net| net.stacks[0].tcp_info(c).unwrap().timeouts;
    assert!(net.run_while(|n| timeouts(n) < 4, deadline).unwrap());
    net.now()
}

/// RFC 6069 (Linux `tcp_ld_RTO_revert`): a net or host unreachable quoting SND.UNA while the
/// retransmission timer is backed off says the retransmissions are lost to a broken route,
/// not to congestion. One backoff step is undone and the timer runs from the head
/// segment's last transmission, so the connection retries sooner once the route is back.
/// Any other code, or an ICMP quoting another sequence number in flight, leaves the timer
/// alone. Every one of them is still kept as the soft error that names the final timeout.
#[test]
fn icmp_unreachable_quoting_snd_una_undoes_one_rto_backoff() {
    use oxnic_stack::wire::icmpv4::DstUnreachable as U;
    let b = addr("10.0.0.2", 80);
    // (error, quoted sequence past SND.UNA, reverted, soft error, why)
    let cases = [
        (
            IcmpError::Unreach(U::HostUnreachable),
            0,
            true,
            TcpError::Unreachable,
            "host unreachable",
        ),
        (
            IcmpError::Unreach(U::NetUnreachable),
            0,
            true,
            TcpError::NetUnreachable,
            "net unreachable",
        ),
        (
            IcmpError::Unreach(U::HostUnreachable),
            5,
            false,
            TcpError::Unreachable,
            "quoting SND.UNA + 5",
        ),
        (
            IcmpError::Unreach(U::PortUnreachable),
            0,
            false,
            TcpError::ConnectionRefused,
            "port unreachable",
        ),
        (
            IcmpError::Unreach(U::HostProhibited),
            0,
            false,
            TcpError::Unreachable,
            "host prohibited",
        ),
        (
            IcmpError::Unreach(U::HostUnreachToS),
            0,
            false,
            TcpError::Unreachable,
            "host unreachable for ToS",
        ),
        (
            IcmpError::TimeExceeded,
            0,
            false,
            TcpError::Unreachable,
            "time exceeded",
        ),
    ];
    for (err, past, reverted, soft, why) in cases {
        let mut net = net();
        net.stacks[0].set_tcp_config(TcpConfig {
            retries2: 4,
            ..TcpConfig::default()
        });
        let (c, local, una, t3, rto3) = backed_off_three_times(&mut net);
        net.run_for(rto3 / 4).unwrap();
        icmp_to_a(&mut net, "10.0.0.2", err, local, b, una.wrapping_add(past));
        net.run_for(ms(1)).unwrap();
        let rto = net.stacks[0].tcp_info(c).unwrap().rto;
        let t4 = fourth_timeout(&mut net, c, t3);
        if reverted {
            assert_eq!(rto, rto3 / 2, "{why}: one backoff step undone");
            assert_eq!(t4, t3 + rto3 / 2, "{why}: from the last retransmission");
        } else {
            assert_eq!(rto, rto3, "{why}");
            assert_eq!(t4, t3 + rto3, "{why}: the timer untouched");
        }
        assert_eq!(net.stacks[0].tcp_state(c).unwrap(), TcpState::Established);
        assert_eq!(net.stacks[0].tcp_error(c).unwrap(), None, "{why}: soft");
        // The fifth timeout is one retry too many.
        net.run_for(Duration::from_secs(10)).unwrap();
        assert_eq!(net.stacks[0].tcp_state(c).unwrap(), TcpState::Closed);
        assert_eq!(net.stacks[0].tcp_error(c).unwrap(), Some(soft), "{why}");
    }
}

/// The reverted timer would already have fired: the retransmission goes at once (Linux runs
/// `tcp_retransmit_timer` from `tcp_ld_RTO_revert`), backing the timer off again.
#[test]
fn icmp_unreachable_past_the_reverted_timeout_retransmits_at_once() {
    use oxnic_stack::wire::icmpv4::DstUnreachable;
    let mut net = net();
    let (c, local, una, t3, rto3) = backed_off_three_times(&mut net);
    // Past t3 + rto3 / 2, where the reverted timer would have fired.
    net.run_for(rto3 * 3 / 4).unwrap();
    let retrans = net.stacks[0].tcp_mib().retrans_segs;
    let host = IcmpError::Unreach(DstUnreachable::HostUnreachable);
    icmp_to_a(&mut net, "10.0.0.2", host, local, addr("10.0.0.2", 80), una);
    net.run_for(ms(1)).unwrap();
    let info = net.stacks[0].tcp_info(c).unwrap();
    assert_eq!(info.timeouts, 4, "retransmitted on the ICMP");
    assert_eq!(net.stacks[0].tcp_mib().retrans_segs, retrans + 1);
    assert_eq!(info.rto, rto3, "backed off again by the timeout it ran");
    // The timer runs again from that retransmission, the backoff restored.
    let t5 = t3 + rto3 * 3 / 4;
    let deadline = t5 + Duration::from_secs(10);
    let timeouts = |net: &Net| net.stacks[0].tcp_info(c).unwrap().timeouts;
    assert!(net.run_while(|n| timeouts(n) < 5, deadline).unwrap());
    assert_eq!(net.now(), t5 + rto3, "the next one a full RTO after");
}

/// Reverting does not shorten how long a connection holds on: with `retries2` = 3 the
/// retransmissions give up no sooner than three backoffs from the least RTO take (Linux
/// `retransmits_timed_out`). The timeout an ICMP runs past that count is not the last; the
/// next one, past the time too, is, and its error is the unreachable kept meanwhile.
#[test]
fn a_reverted_rto_ends_the_connection_no_sooner() {
    use oxnic_stack::wire::icmpv4::DstUnreachable;
    let retries2_3 = |net: &mut Net| {
        net.stacks[0].set_tcp_config(TcpConfig {
            retries2: 3,
            ..TcpConfig::default()
        })
    };
    let closed = |net: &Net, c| net.stacks[0].tcp_state(c).unwrap() == TcpState::Closed;
    // Without an ICMP: the fourth timeout is one retry too many.
    let mut quiet = net();
    retries2_3(&mut quiet);
    let (c, _, _, t3, rto3) = backed_off_three_times(&mut quiet);
    let deadline = t3 + Duration::from_secs(10);
    assert!(quiet.run_while(|n| !closed(n, c), deadline).unwrap());
    assert_eq!(quiet.now(), t3 + rto3);
    assert_eq!(
        quiet.stacks[0].tcp_error(c).unwrap(),
        Some(TcpError::TimedOut)
    );
    // With one, past where the reverted timer would have fired: the timeout runs at once,
    // a fourth retry, and the connection goes on.
    let mut net = net();
    retries2_3(&mut net);
    let (c, local, una, t3, rto3) = backed_off_three_times(&mut net);
    net.run_for(rto3 * 3 / 4).unwrap();
    let host = IcmpError::Unreach(DstUnreachable::HostUnreachable);
    icmp_to_a(&mut net, "10.0.0.2", host, local, addr("10.0.0.2", 80), una);
    net.run_for(ms(1)).unwrap();
    assert_eq!(net.stacks[0].tcp_info(c).unwrap().timeouts, 4);
    assert_eq!(net.stacks[0].tcp_state(c).unwrap(), TcpState::Established);
    assert!(net.run_while(|n| !closed(n, c), deadline).unwrap());
    assert_eq!(
        net.now(),
        t3 + rto3 * 3 / 4 + rto3,
        "the next timeout ends it"
    );
    assert_eq!(
        net.stacks[0].tcp_error(c).unwrap(),
        Some(TcpError::Unreachable)
    );
}

/// Linux gives up on a connection's retransmissions by time alone (`tcp_write_timeout`,
/// `retransmits_timed_out`): at the first timeout once as long has passed since the timed-out
/// segment was sent as `tcp_retries2` (15) backoffs from the least RTO take
/// (`tcp_model_timeout`: 1023 × 200 ms + 6 × 120 s = 924.6 s). With a larger RTO that is fewer
/// retransmissions: over a 400 ms link the RTO starts near 1.7 s, and the connection ends at
/// the first timeout past 924.6 s, after 13 retransmissions. Counting 15 retries as well kept
/// it going to the 16th timeout, 1,296 s in.
#[test]
fn retransmissions_give_up_by_time_not_by_count() {
    use oxnic_stack::route::{Prefix, Route, RouteKind};
    let mut net = oxnic_stack::netsim::three_hosts(1500);
    net.set_link_config(0, LinkConfig::new(ms(400), 1500))
        .unwrap();
    let l = net.stacks[2].tcp_listen(addr("0.0.0.0", 80), 4).unwrap();
    let now = net.now();
    let c = net.stacks[0]
        .tcp_connect(addr("10.0.2.1", 80), now)
        .unwrap();
    net.run_for(ms(3000)).unwrap();
    net.stacks[2].tcp_accept(l).unwrap();
    for _ in 0..3 {
        let now = net.now();
        net.stacks[0].tcp_send(c, b"warm", now).unwrap();
        net.run_for(ms(2000)).unwrap();
    }
    let rto0 = net.stacks[0].tcp_info(c).unwrap().rto;
    assert!(rto0 > ms(1500), "{rto0:?}");
    // R drops everything for C from now on, silently.
    let blackhole = Route::reject(
        Prefix::host(Ipv4Addr::new(10, 0, 2, 1)),
        RouteKind::Blackhole,
    );
    net.stacks[1].routes_mut().add(blackhole).unwrap();
    let t0 = net.now();
    net.stacks[0].tcp_send(c, b"into the void", t0).unwrap();
    let open = |n: &mut Net| n.stacks[0].tcp_state(c).unwrap() != TcpState::Closed;
    assert!(net.run_while(open, t0 + Duration::from_secs(3000)).unwrap());
    let took = net.now().saturating_duration_since(t0);
    let model = ms(1023 * 200) + Duration::from_secs(6 * 120);
    assert!(
        took >= model && took < model + Duration::from_secs(120),
        "gave up {took:?} after the data was sent"
    );
    assert_eq!(net.stacks[0].tcp_info(c).unwrap().timeouts, 13);
    assert_eq!(
        net.stacks[0].tcp_error(c).unwrap(),
        Some(TcpError::TimedOut)
    );
}

/// RFC 6069's case: every retransmission draws a host unreachable (a router that lost its
/// route). Each undoes the backoff the timeout added, so the retransmissions keep the
/// least RTO, ready to get through the moment the route is back; and the connection
/// still holds on as long as `retries2` backed-off retries would take, not for
/// `retries2` fast ones.
#[test]
fn an_unreachable_for_every_retransmission_keeps_the_rto_short() {
    use oxnic_stack::wire::icmpv4::DstUnreachable;
    let mut net = net();
    let (c, t0) = sending_into_the_void(&mut net, Some(3));
    let info = net.stacks[0].tcp_info(c).unwrap();
    let (rto, una) = (info.rto, info.snd_una);
    let local = net.stacks[0].tcp_local_addr(c).unwrap();
    let host = IcmpError::Unreach(DstUnreachable::HostUnreachable);
    let deadline = t0 + Duration::from_secs(60);
    let mut k = 0;
    while net.stacks[0].tcp_state(c).unwrap() != TcpState::Closed {
        k += 1;
        let state_or_timeouts = |n: &mut Net| {
            n.stacks[0].tcp_state(c).unwrap() != TcpState::Closed
                && n.stacks[0].tcp_info(c).unwrap().timeouts < k
        };
        assert!(net.run_while(state_or_timeouts, deadline).unwrap());
        assert_eq!(
            net.now(),
            t0 + rto * k as u32,
            "timeout {k} one RTO after the last"
        );
        icmp_to_a(&mut net, "10.0.0.2", host, local, addr("10.0.0.2", 80), una);
        net.run_for(ms(1)).unwrap();
    }
    // 200 + 400 + 800 + 1600 ms: what three backed-off retries would have taken.
    assert_eq!(rto, ms(200));
    assert_eq!(k, 15, "ended at the timeout 3 s after the data was sent");
    assert_eq!(
        net.stacks[0].tcp_error(c).unwrap(),
        Some(TcpError::Unreachable)
    );
}

/// A — R — C, connected, then R loses its route to C: a host route of `kind` covers C.
/// A sends; `repair` later R's route is back. Returns how long after the repair C had the
/// data, and the destination unreachables A received.
fn broken_then_repaired_router(
    kind: oxnic_stack::route::RouteKind,
    repair: Duration,
) -> (Duration, u64) {
    use oxnic_stack::route::{Prefix, Route};
    let mut net = oxnic_stack::netsim::three_hosts(1500);
    let l = net.stacks[2].tcp_listen(addr("0.0.0.0", 80), 4).unwrap();
    let now = net.now();
    let c = net.stacks[0]
        .tcp_connect(addr("10.0.2.1", 80), now)
        .unwrap();
    net.run_for(ms(10)).unwrap();
    let (s, _) = net.stacks[2].tcp_accept(l).unwrap();
    let c_host = Prefix::host(ip4("10.0.2.1"));
    net.stacks[1]
        .routes_mut()
        .add(Route::reject(c_host, kind))
        .unwrap();
    let now = net.now();
    net.stacks[0].tcp_send(c, b"through R", now).unwrap();
    net.run_for(repair).unwrap();
    assert_eq!(net.stacks[0].tcp_state(c).unwrap(), TcpState::Established);
    net.stacks[1].routes_mut().remove(c_host, None).unwrap();
    let repaired = net.now();
    let mut got = Vec::new();
    let waiting = |n: &mut Net| {
        let (now, mut buf) = (n.now(), [0; 16]);
        let k = n.stacks[2].tcp_recv(s, &mut buf, now).unwrap_or(0);
        got.extend_from_slice(&buf[..k]);
        k == 0
    };
    assert!(net
        .run_while(waiting, repaired + Duration::from_secs(60))
        .unwrap());
    assert_eq!(got, b"through R");
    let unreachables = net.stacks[0].snmp().icmp.in_dest_unreachs;
    (net.now().saturating_duration_since(repaired), unreachables)
}

/// RFC 6069's point, end to end: while R answers A's retransmissions with host
/// unreachables, A's RTO stays short, and once R's route is back the data gets through
/// within two seconds. (Past its burst, R's ICMP rate limit of one a second per
/// destination leaves some retransmissions unanswered, each a doubling that stays, until
/// they are more than a second apart and every one is answered and undone: here they
/// settle 1.6 s apart.) A router dropping silently (a blackhole route) gives A nothing to
/// go on: over the 30 s its RTO doubled to 25.6 s, and the data waits 21 s for the next
/// retransmission.
#[test]
fn a_connection_recovers_sooner_from_a_router_that_sent_unreachables() {
    use oxnic_stack::route::RouteKind;
    let repair = Duration::from_secs(30);
    let (told, unreachables) = broken_then_repaired_router(RouteKind::Unreachable, repair);
    let (silent, none) = broken_then_repaired_router(RouteKind::Blackhole, repair);
    assert!(unreachables > 6, "{unreachables} unreachables");
    assert_eq!(none, 0);
    assert!(told < Duration::from_secs(2), "{told:?} after the repair");
    assert!(
        silent > Duration::from_secs(20),
        "{silent:?} after the repair"
    );
}

/// Before the first timeout there is no backoff to undo: an unreachable quoting SND.UNA
/// leaves the timer where it was.
#[test]
fn icmp_unreachable_before_any_timeout_changes_no_timer() {
    use oxnic_stack::wire::icmpv4::DstUnreachable;
    let mut net = net();
    let (c, t0) = sending_into_the_void(&mut net, None);
    let info = net.stacks[0].tcp_info(c).unwrap();
    let local = net.stacks[0].tcp_local_addr(c).unwrap();
    net.run_for(ms(50)).unwrap();
    let host = IcmpError::Unreach(DstUnreachable::HostUnreachable);
    icmp_to_a(
        &mut net,
        "10.0.0.2",
        host,
        local,
        addr("10.0.0.2", 80),
        info.snd_una,
    );
    let timeouts = |net: &Net| net.stacks[0].tcp_info(c).unwrap().timeouts;
    assert!(net
        .run_while(|n| timeouts(n) < 1, t0 + Duration::from_secs(10))
        .unwrap());
    assert_eq!(net.now(), t0 + info.rto);
}

/// A — R — C with a narrow middle: A = 10.0.1.1 and C = 10.0.2.1 on 1500-byte devices, so
/// both offer an MSS of 1460, R forwarding between them over a link and an interface of 1000
/// bytes on C's side: only R's fragmentation-needed tells A what the path carries.
fn narrow_middle() -> Net {
    oxnic_stack::netsim::three_hosts_mtus(1000, 1500)
}

#[test]
fn pmtud_sends_the_flight_again_at_the_new_size_at_once() {
    let mut net = narrow_middle();
    let now = net.now();
    let l = net.stacks[2].tcp_listen(addr("0.0.0.0", 80), 4).unwrap();
    let c = net.stacks[0]
        .tcp_connect(addr("10.0.2.1", 80), now)
        .unwrap();
    net.run_for(ms(10)).unwrap();
    let (s, _) = net.stacks[2].tcp_accept(l).unwrap();
    let data: Vec<u8> = (0..30_000u32).map(|i| i as u8).collect();
    let now = net.now();
    assert_eq!(net.stacks[0].tcp_send(c, &data, now).unwrap(), data.len());
    // RTTs are under a millisecond, the RTO at least 200 ms: the first flight, too big for R,
    // must go again on the ICMP, not on the timer (RFC 1191, Linux `tcp_v4_mtu_reduced`).
    net.run_for(ms(20)).unwrap();
    let now = net.now();
    assert_eq!(net.stacks[0].path_mtu(ip4("10.0.2.1"), now), Some(1000));
    let mut got = Vec::new();
    let mut buf = [0; 4096];
    while let Ok(n) = net.stacks[2].tcp_recv(s, &mut buf, now) {
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    assert_eq!(got.len(), data.len(), "all delivered before any RTO");
    assert_eq!(got, data);
    let info = net.stacks[0].tcp_info(c).unwrap();
    assert_eq!(info.timeouts, 0);
    assert_eq!(
        info.recoveries, 0,
        "no congestion response to an MTU change"
    );
}

/// RFC 5927 §4.1 and Linux `tcp_v4_err`: PMTUD takes only an ICMP error that quotes a
/// sequence number in flight on a connection. Linux counts the others: one quoting no
/// connection in ICMP's InErrors, one outside the window in OutOfWindowIcmps.
#[test]
fn pmtud_takes_only_an_icmp_quoting_a_sequence_in_flight() {
    let mut net = net();
    let (c, _s) = connected(&mut net);
    let local = net.stacks[0].tcp_local_addr(c).unwrap();
    let b = addr("10.0.0.2", 80);
    let una = net.stacks[0].tcp_info(c).unwrap().snd_una;
    let pmtu = |net: &Net| net.stacks[0].path_mtu(ip4("10.0.0.2"), net.now()).unwrap();
    let counts = |net: &Net| {
        (
            net.stacks[0].snmp().icmp.in_errors,
            net.stacks[0].tcp_mib().out_of_window_icmps,
        )
    };
    let nobody = addr("10.0.0.1", 9);
    // (next-hop MTU, quoted local address, quoted sequence, path MTU after it,
    // (InErrors, OutOfWindowIcmps) it adds, why)
    let steps = [
        // Out of the window (RFC 5927 §4.1, Linux `tcp_v4_err`): stale or forged, ignored.
        (
            1000,
            local,
            una.wrapping_add(100_000),
            1500,
            (0, 1),
            "out of the window",
        ),
        (
            1000,
            nobody,
            una,
            1500,
            (1, 0),
            "about a port with no connection",
        ),
        (1200, local, una, 1200, (0, 0), "in the window: taken"),
        // A larger MTU than the current one is no reason to grow (RFC 1191 §6.3).
        (
            1400,
            local,
            una,
            1200,
            (0, 0),
            "larger than the current one",
        ),
        // Nor to go under the floor (Linux `min_pmtu`, 552).
        (100, local, una, 552, (0, 0), "under the floor"),
    ];
    for (mtu, from, seq, expect, (in_errors, ooo), why) in steps {
        let before = counts(&net);
        icmp_to_a(
            &mut net,
            "10.0.0.2",
            IcmpError::FragNeeded(mtu),
            from,
            b,
            seq,
        );
        net.run_for(ms(2)).unwrap();
        assert_eq!(pmtu(&net), expect, "{why}");
        let after = counts(&net);
        assert_eq!(
            (after.0 - before.0, after.1 - before.1),
            (in_errors, ooo),
            "{why}"
        );
    }
    // The connection still works, in segments that fit.
    let now = net.now();
    net.stacks[0].tcp_send(c, &[7; 5000], now).unwrap();
    net.run_for(ms(20)).unwrap();
    assert_eq!(net.stacks[0].tcp_info(c).unwrap().unacked, 0);
}

/// Linux `tcp_v4_err` ignores an ICMP error about a connection in TIME-WAIT: its timewait sock
/// takes no error and learns no path MTU, whatever the quoted sequence. Before, one quoting
/// SND.UNA shrank the path MTU to the peer.
#[test]
fn an_icmp_error_about_a_connection_in_time_wait_is_ignored() {
    let mut net = net();
    let (c, s) = connected(&mut net);
    let local = net.stacks[0].tcp_local_addr(c).unwrap();
    let now = net.now();
    net.stacks[0].tcp_shutdown(c, Shutdown::Write, now).unwrap();
    net.stacks[1].tcp_shutdown(s, Shutdown::Write, now).unwrap();
    net.run_for(ms(10)).unwrap();
    assert_eq!(net.stacks[0].tcp_state(c).unwrap(), TcpState::TimeWait);
    let una = net.stacks[0].tcp_info(c).unwrap().snd_una;
    let before = net.stacks[0].snmp().icmp.in_errors;
    icmp_to_a(
        &mut net,
        "10.0.0.2",
        IcmpError::FragNeeded(1200),
        local,
        addr("10.0.0.2", 80),
        una,
    );
    net.run_for(ms(2)).unwrap();
    let now = net.now();
    assert_eq!(net.stacks[0].path_mtu(ip4("10.0.0.2"), now), Some(1500));
    assert_eq!(net.stacks[0].tcp_state(c).unwrap(), TcpState::TimeWait);
    assert_eq!(
        net.stacks[0].snmp().icmp.in_errors,
        before,
        "it has a socket"
    );
    assert_eq!(net.stacks[0].tcp_mib().out_of_window_icmps, 0);
}

/// Linux `tcp_connect_init` and `tcp_v4_syn_recv_sock` size a new connection by the route's
/// MTU, a cached path MTU included (`tcp_sync_mss` with `dst_mtu`; the MSS offered in the SYN
/// is `ipv4_default_advmss`, from the same MTU). A learnt a 1000-byte path to C from a first
/// connection; a second one sends segments that fit it from the start, offers C an MSS that
/// fits it, and its congestion window is counted in those segments: the initial window is ten
/// of them, not ten 1460-byte ones the path cannot carry.
#[test]
fn a_new_connection_takes_its_mss_from_a_cached_path_mtu() {
    let mut net = narrow_middle();
    let now = net.now();
    let l = net.stacks[2].tcp_listen(addr("0.0.0.0", 80), 4).unwrap();
    let first = net.stacks[0]
        .tcp_connect(addr("10.0.2.1", 80), now)
        .unwrap();
    net.run_for(ms(10)).unwrap();
    let now = net.now();
    net.stacks[0].tcp_send(first, &[1; 5000], now).unwrap();
    net.run_for(ms(20)).unwrap();
    let now = net.now();
    assert_eq!(net.stacks[0].path_mtu(ip4("10.0.2.1"), now), Some(1000));

    let c = net.stacks[0]
        .tcp_connect(addr("10.0.2.1", 80), now)
        .unwrap();
    net.run_for(ms(10)).unwrap();
    let _ = net.stacks[2].tcp_accept(l).unwrap();
    let (s, _) = net.stacks[2].tcp_accept(l).unwrap();
    let info = net.stacks[0].tcp_info(c).unwrap();
    assert_eq!(info.state, TcpState::Established);
    assert_eq!(info.snd_mss, 960, "1000 minus the IPv4 and TCP headers");
    assert_eq!(
        info.cwnd,
        10 * 960,
        "the initial window in segments that fit"
    );
    assert_eq!(
        net.stacks[2].tcp_info(s).unwrap().snd_mss,
        960,
        "C was offered an MSS that fits the path"
    );
    // And everything goes through in one go: no segment too big, none resent.
    let data: Vec<u8> = (0..30_000u32).map(|i| i as u8).collect();
    let now = net.now();
    assert_eq!(net.stacks[0].tcp_send(c, &data, now).unwrap(), data.len());
    net.run_for(ms(20)).unwrap();
    let info = net.stacks[0].tcp_info(c).unwrap();
    assert_eq!((info.unacked, info.retransmits), (0, 0));
}

/// Linux `tcp_v4_mtu_reduced` calls `tcp_sync_mss` with the new path MTU: the connection's
/// MSS drops with it, and since Linux counts cwnd in segments of that MSS, so does every
/// window computed from it. After a timeout the window is one segment, one that the path
/// carries (960 bytes), not one of the 1460 the handshake agreed.
#[test]
fn pmtud_lowers_the_mss_the_congestion_window_is_counted_in() {
    let mut net = narrow_middle();
    let now = net.now();
    let l = net.stacks[2].tcp_listen(addr("0.0.0.0", 80), 4).unwrap();
    let c = net.stacks[0]
        .tcp_connect(addr("10.0.2.1", 80), now)
        .unwrap();
    net.run_for(ms(10)).unwrap();
    let _ = net.stacks[2].tcp_accept(l).unwrap();
    assert_eq!(net.stacks[0].tcp_info(c).unwrap().snd_mss, 1460);
    let now = net.now();
    net.stacks[0].tcp_send(c, &[1; 30_000], now).unwrap();
    net.run_for(ms(20)).unwrap();
    let info = net.stacks[0].tcp_info(c).unwrap();
    assert_eq!(info.unacked, 0);
    assert_eq!(info.snd_mss, 960, "the MSS follows the path MTU down");
    // Every frame from A is lost from now on: the timer fires and cwnd is one segment.
    let lossy = LinkConfig::new(Duration::from_micros(100), 1500).loss(1.0);
    net.set_link_config(0, lossy).unwrap();
    let now = net.now();
    net.stacks[0].tcp_send(c, &[2; 10_000], now).unwrap();
    net.run_for(ms(1000)).unwrap();
    let info = net.stacks[0].tcp_info(c).unwrap();
    assert!(info.timeouts >= 1, "{info:?}");
    assert_eq!(info.cwnd, 960, "one segment of the path's size");
}

fn ip4(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

#[test]
fn connect_to_a_broadcast_or_multicast_address_fails_at_once() {
    use oxnic_stack::route::Route;
    let mut net = net();
    // A default route, which would otherwise take multicast and foreign broadcasts too.
    net.stacks[0]
        .routes_mut()
        .add(Route::default_via(Ipv4Addr::new(10, 0, 0, 2), 1))
        .unwrap();
    let now = net.now();
    // Linux `tcp_v4_connect`: ENETUNREACH for a broadcast or multicast route.
    for d in ["10.0.0.255", "255.255.255.255", "224.0.0.1", "239.1.2.3"] {
        assert_eq!(
            net.stacks[0].tcp_connect(addr(d, 80), now),
            Err(TcpError::NetUnreachable),
            "{d}"
        );
    }
    assert_eq!(net.stacks[0].tcp_sockets().count(), 0);
}

/// A connect fails with its route's own error, as Linux `tcp_v4_connect` returns
/// `ip_route_connect`'s: ENETUNREACH when no route matches, EHOSTUNREACH for an unreachable
/// route, EACCES for a prohibit route and EINVAL for a blackhole. Both were "host unreachable" before, so a std user saw `HostUnreachable` for a
/// network with no route at all.
#[test]
fn connect_fails_with_the_routes_own_error() {
    use oxnic_stack::route::{Prefix, Route, RouteKind};
    let mut net = net();
    net.stacks[0]
        .routes_mut()
        .add(Route::reject(
            Prefix::new(ip4("192.168.5.0"), 24).unwrap(),
            RouteKind::Unreachable,
        ))
        .unwrap();
    let now = net.now();
    assert_eq!(
        net.stacks[0].tcp_connect(addr("172.16.0.1", 80), now),
        Err(TcpError::NetUnreachable),
        "no route matches"
    );
    assert_eq!(
        net.stacks[0].tcp_connect(addr("192.168.5.1", 80), now),
        Err(TcpError::Unreachable),
        "an unreachable route"
    );
    for (net_addr, kind, err) in [
        ("192.168.6.0", RouteKind::Prohibit, TcpError::Prohibited),
        ("192.168.7.0", RouteKind::Blackhole, TcpError::Blackhole),
    ] {
        net.stacks[0]
            .routes_mut()
            .add(Route::reject(Prefix::new(ip4(net_addr), 24).unwrap(), kind))
            .unwrap();
        let to = addr(&net_addr.replace(".0", ".1"), 80);
        assert_eq!(net.stacks[0].tcp_connect(to, now), Err(err), "{kind:?}");
    }
    assert_eq!(net.stacks[0].tcp_sockets().count(), 0);
}

/// (TTL, TOS, TCP flags, source port) of every TCP datagram a stack sent, from a
/// `Hook(PostRouting)` tap (data at the IPv4 header, 20 bytes long here).
fn sent_ttl_tos(
    net: &mut Net,
    s: usize,
    tap: oxnic_stack::packet_tap::TapId,
) -> Vec<(u8, u8, u8, u16)> {
    net.stacks[s]
        .tap_take(tap)
        .unwrap()
        .iter()
        .map(|c| c.packet.data())
        .filter(|d| d.len() >= 40 && d[9] == 6)
        .map(|d| (d[8], d[1], d[33], u16::from_be_bytes([d[20], d[21]])))
        .collect()
}

/// `IP_TTL` and `IP_TOS` on TCP sockets, as Linux keeps them: a connection's datagrams carry
/// its own; a listener's SYN-ACKs (cookie ones too) carry the listener's, and the
/// connections it accepts inherit them; the ECN bits of the TOS are not the user's;
/// TIME-WAIT answers with the default TTL and the connection's TOS; a TTL of 0 is refused.
/// Before, every TCP datagram had the stack's default TTL and TOS 0.
#[test]
fn ttl_and_tos_are_per_socket_and_inherited_from_the_listener() {
    use oxnic_stack::hooks::HookPoint;
    use oxnic_stack::packet_tap::TapPoint;
    let mut net = net();
    let out = TapPoint::Hook(HookPoint::PostRouting);
    let (tap_a, tap_b) = (
        net.stacks[0].add_tap(out, None, 1000),
        net.stacks[1].add_tap(out, None, 1000),
    );
    let l = net.stacks[1].tcp_listen(addr("0.0.0.0", 80), 4).unwrap();
    net.stacks[1].tcp_set_ttl(l, Some(9)).unwrap();
    net.stacks[1].tcp_set_tos(l, 0x10 | 0x03).unwrap();
    assert_eq!(net.stacks[1].tcp_tos(l), Ok(0x10), "ECN bits cleared");
    assert_eq!(
        net.stacks[1].tcp_set_ttl(l, Some(0)),
        Err(TcpError::InvalidArgument)
    );
    assert_eq!(net.stacks[1].tcp_ttl(l), Ok(9));

    let now = net.now();
    let c = net.stacks[0]
        .tcp_connect(addr("10.0.0.2", 80), now)
        .unwrap();
    net.stacks[0].tcp_set_ttl(c, Some(33)).unwrap();
    net.stacks[0].tcp_set_tos(c, 0x28).unwrap();
    net.run_for(ms(10)).unwrap();
    let (s, _) = net.stacks[1].tcp_accept(l).unwrap();
    assert_eq!(
        net.stacks[1].tcp_ttl(s),
        Ok(9),
        "inherited from the listener"
    );
    assert_eq!(net.stacks[1].tcp_tos(s), Ok(0x10));
    let now = net.now();
    net.stacks[1].tcp_send(s, b"hello", now).unwrap();
    net.run_for(ms(10)).unwrap();
    let b_sent = sent_ttl_tos(&mut net, 1, tap_b);
    let syn_ack = 0x12;
    assert_eq!(b_sent[0], (9, 0x10, syn_ack, 80), "the SYN-ACK: {b_sent:?}");
    assert!(
        b_sent
            .iter()
            .all(|&(ttl, tos, _, _)| (ttl, tos) == (9, 0x10)),
        "{b_sent:?}"
    );
    // The SYN left with `tcp_connect`, before the options were set (as with std's
    // `TcpStream::connect` then `set_ttl`); everything after carries them.
    let a_sent = sent_ttl_tos(&mut net, 0, tap_a);
    assert!(a_sent.len() >= 3, "SYN, ACK and the data's ACK: {a_sent:?}");
    assert_eq!(
        (a_sent[0].0, a_sent[0].1, a_sent[0].2),
        (64, 0, 0x02),
        "the SYN"
    );
    assert!(
        a_sent[1..]
            .iter()
            .all(|&(ttl, tos, _, _)| (ttl, tos) == (33, 0x28)),
        "{a_sent:?}"
    );

    // B closes first: its FIN carries its TTL; in TIME-WAIT, the ACK of A's FIN goes out
    // with the default TTL and the kept TOS.
    let now = net.now();
    net.stacks[1].tcp_shutdown(s, Shutdown::Write, now).unwrap();
    net.run_for(ms(10)).unwrap();
    let now = net.now();
    net.stacks[0].tcp_shutdown(c, Shutdown::Write, now).unwrap();
    net.run_for(ms(10)).unwrap();
    assert_eq!(net.stacks[1].tcp_state(s), Ok(TcpState::TimeWait));
    let b_sent = sent_ttl_tos(&mut net, 1, tap_b);
    let fin = |f: u8| f & 0x01 != 0;
    assert!(
        b_sent.len() == 2 && fin(b_sent[0].2) && !fin(b_sent[1].2),
        "FIN, then ACK: {b_sent:?}"
    );
    assert_eq!((b_sent[0].0, b_sent[0].1), (9, 0x10), "the FIN");
    assert_eq!((b_sent[1].0, b_sent[1].1), (64, 0x10), "TIME-WAIT's ACK");
    net.stacks[1].tcp_set_ttl(s, None).unwrap();
    assert_eq!(net.stacks[1].tcp_ttl(s), Ok(64), "back to the default");

    // A cookie SYN-ACK comes from the listener too.
    let l2 = net.stacks[1].tcp_listen(addr("0.0.0.0", 81), 2).unwrap();
    net.stacks[1].tcp_set_ttl(l2, Some(17)).unwrap();
    net.stacks[1].tcp_set_tos(l2, 0x04).unwrap();
    overflow_then_syn(&mut net, addr("10.0.0.2", 81), addr("10.0.0.101", 3000));
    assert_eq!(net.stacks[1].tcp_mib().syncookies_sent, 1);
    let b_sent = sent_ttl_tos(&mut net, 1, tap_b);
    let cookie: Vec<_> = b_sent.iter().filter(|t| t.3 == 81).collect();
    assert_eq!(cookie.len(), 3, "two SYN-ACKs and a cookie: {b_sent:?}");
    assert!(
        cookie
            .iter()
            .all(|&&(ttl, tos, f, _)| (ttl, tos, f) == (17, 0x04, syn_ack)),
        "{b_sent:?}"
    );
}

/// A listener's half-open child is not a socket yet: its SYN-ACKs go out with the listener's
/// settings as they are when sent (`tcp_v4_send_synack` through the listener), and it copies
/// them when the handshake's last ACK makes it one (`inet_csk_clone_lock`). A TTL set on the
/// listener between the SYN and that ACK is the accepted connection's. Before, the child
/// copied the settings when the SYN came.
#[test]
fn an_accepted_connection_copies_its_listener_when_the_handshake_completes() {
    let mut net = net();
    let l = net.stacks[1].tcp_listen(addr("0.0.0.0", 80), 4).unwrap();
    net.stacks[1].tcp_set_ttl(l, Some(9)).unwrap();
    let now = net.now();
    net.stacks[0]
        .tcp_connect(addr("10.0.0.2", 80), now)
        .unwrap();
    // The SYN is in (1 ms each way), the final ACK not yet.
    net.run_for(Duration::from_micros(1500)).unwrap();
    assert!(net.stacks[1].tcp_accept(l).is_err(), "still half-open");
    net.stacks[1].tcp_set_ttl(l, Some(12)).unwrap();
    net.run_for(ms(5)).unwrap();
    let (s, _) = net.stacks[1].tcp_accept(l).unwrap();
    assert_eq!(net.stacks[1].tcp_ttl(s), Ok(12));
}

/// Resets follow Linux's two paths: a connection's own (an abort, `tcp_send_active_reset`)
/// goes out with the socket's TTL and TOS and its own IP identification counter; a reset
/// answering a segment no connection takes (`tcp_v4_send_reset`, from the control socket)
/// has the default TTL and the segment's TOS without its ECN bits. Before, both had the
/// default TTL and TOS 0, and the abort's reset identification 0.
#[test]
fn a_connections_reset_carries_its_settings_and_an_answering_one_the_segments_tos() {
    use oxnic_stack::hooks::HookPoint;
    use oxnic_stack::packet_tap::TapPoint;
    let mut net = net();
    let out = TapPoint::Hook(HookPoint::PostRouting);
    let tap = net.stacks[1].add_tap(out, None, 100);
    let (_, s) = connected(&mut net);
    net.stacks[1].tcp_set_ttl(s, Some(33)).unwrap();
    net.stacks[1].tcp_set_tos(s, 0x28).unwrap();
    net.stacks[1].tap_take(tap).unwrap();
    let now = net.now();
    net.stacks[1].tcp_abort(s, now).unwrap();
    net.run_for(ms(5)).unwrap();
    let rst = |d: &[u8]| d.len() >= 40 && d[9] == 6 && d[33] & 0x04 != 0;
    let sent = net.stacks[1].tap_take(tap).unwrap();
    let resets: Vec<(u8, u8, u16)> = sent
        .iter()
        .map(|c| c.packet.data())
        .filter(|d| rst(d))
        .map(|d| (d[8], d[1], u16::from_be_bytes([d[4], d[5]])))
        .collect();
    assert_eq!(resets.len(), 1, "{resets:?}");
    assert_eq!((resets[0].0, resets[0].1), (33, 0x28), "the abort's reset");
    assert_ne!(resets[0].2, 0, "numbered by the connection's counter");

    // A segment to a closed port, TOS 0xb9 (DSCP 46, ECN 1): the reset has TOS 0xb8.
    let src = addr("10.0.0.1", 4000);
    let dst = addr("10.0.0.2", 4444);
    let mut f = tcp_frame(
        EthernetAddress([2, 0, 0, 0, 9, 9]),
        mac(1, 1),
        src,
        dst,
        &seg(src, dst, 100, 0, TcpFlags::SYN),
        &[],
    )
    .unwrap();
    f[15] = 0xb9;
    f[24..26].copy_from_slice(&[0, 0]);
    let c = oxnic_stack::wire::checksum::checksum(&f[14..34]);
    f[24..26].copy_from_slice(&c.to_be_bytes());
    net.stacks[1]
        .device_mut(1)
        .unwrap()
        .push_rx(PacketBuf::from_slice(64, &f));
    net.run_for(ms(5)).unwrap();
    let sent = net.stacks[1].tap_take(tap).unwrap();
    let resets: Vec<(u8, u8)> = sent
        .iter()
        .map(|c| c.packet.data())
        .filter(|d| rst(d))
        .map(|d| (d[8], d[1]))
        .collect();
    assert_eq!(resets, [(64, 0xb8)], "the closed port's reset");
}

// ------------------------------------------------------------------ pending socket errors

/// Linux `sock_error` reads and clears `sk_err` at once: after a reset the first read
/// reports ECONNRESET, the next ones end of stream (`tcp_done` set `RCV_SHUTDOWN`), and
/// writes fail with EPIPE (`SEND_SHUTDOWN`). `EPOLLERR` lasts only while the error is
/// pending; `EPOLLHUP` and `EPOLLIN` stay, the connection being closed.
#[test]
fn a_reset_is_reported_by_the_first_read_only() {
    let mut net = net();
    let (c, s) = connected(&mut net);
    let now = net.now();
    net.stacks[1].tcp_abort(s, now).unwrap();
    net.run_for(ms(10)).unwrap();
    let a = &mut net.stacks[0];
    let r = a.tcp_readiness(c).unwrap();
    assert!(r.error && r.hangup && r.readable, "{r:?}");
    assert_eq!(
        a.tcp_recv(c, &mut [0; 4], now),
        Err(TcpError::ConnectionReset)
    );
    let r = a.tcp_readiness(c).unwrap();
    assert!(!r.error && r.hangup && r.readable, "reported: {r:?}");
    assert_eq!(a.tcp_error(c), Ok(None));
    assert_eq!(a.tcp_recv(c, &mut [0; 4], now), Ok(0));
    assert_eq!(a.tcp_recv(c, &mut [0; 4], now), Ok(0));
    assert_eq!(a.tcp_send(c, b"x", now), Err(TcpError::BrokenPipe));
    assert_eq!(a.tcp_take_error(c), Ok(None));
}

/// The same through a write (`tcp_sendmsg_locked`: `sk_err` before `SEND_SHUTDOWN`, taken
/// by `sk_stream_error`), and through a peek (`MSG_PEEK` takes `sk_err` too).
#[test]
fn a_reset_is_reported_by_the_first_write_or_peek_only() {
    for first in ["write", "peek"] {
        let mut net = net();
        let (c, s) = connected(&mut net);
        let now = net.now();
        net.stacks[1].tcp_abort(s, now).unwrap();
        net.run_for(ms(10)).unwrap();
        let a = &mut net.stacks[0];
        let got = if first == "write" {
            a.tcp_send(c, b"x", now)
        } else {
            a.tcp_peek(c, &mut [0; 4])
        };
        assert_eq!(got, Err(TcpError::ConnectionReset), "{first}");
        assert!(!a.tcp_readiness(c).unwrap().error, "{first}");
        assert_eq!(a.tcp_peek(c, &mut [0; 4]), Ok(0), "{first}");
        assert_eq!(a.tcp_recv(c, &mut [0; 4], now), Ok(0), "{first}");
        assert_eq!(
            a.tcp_send(c, b"x", now),
            Err(TcpError::BrokenPipe),
            "{first}"
        );
    }
}

/// Data that came before the reset is read first (Linux keeps the receive queue; only the
/// write queue is purged); the error comes with the first read that finds nothing.
#[test]
fn data_before_a_reset_is_read_before_the_error() {
    let mut net = net();
    let (c, s) = connected(&mut net);
    let now = net.now();
    net.stacks[1].tcp_send(s, b"last words", now).unwrap();
    net.run_for(ms(10)).unwrap();
    let now = net.now();
    net.stacks[1].tcp_abort(s, now).unwrap();
    net.run_for(ms(10)).unwrap();
    let a = &mut net.stacks[0];
    let mut buf = [0; 64];
    assert_eq!(a.tcp_recv(c, &mut buf, now), Ok(10));
    assert_eq!(&buf[..10], b"last words");
    assert_eq!(a.tcp_recv(c, &mut buf, now), Err(TcpError::ConnectionReset));
    assert_eq!(a.tcp_recv(c, &mut buf, now), Ok(0));
}

/// `tcp_recvmsg_locked`'s order with nothing queued: `SOCK_DONE` (the peer's FIN), then
/// `sk_err`, then `RCV_SHUTDOWN`. After the user's shutdown(Read) a reset is still
/// reported by the next read; after the peer's FIN the read sees end of stream and leaves
/// the error (EPIPE, from a reset in CLOSE-WAIT) to the next write.
#[test]
fn a_read_reports_the_error_before_a_read_shutdown_but_after_the_peers_fin() {
    let mut net = net();
    let (c, s) = connected(&mut net);
    let now = net.now();
    net.stacks[0].tcp_shutdown(c, Shutdown::Read, now).unwrap();
    net.stacks[1].tcp_abort(s, now).unwrap();
    net.run_for(ms(10)).unwrap();
    let a = &mut net.stacks[0];
    assert_eq!(
        a.tcp_recv(c, &mut [0; 4], now),
        Err(TcpError::ConnectionReset),
        "read shut by the user"
    );
    assert_eq!(a.tcp_recv(c, &mut [0; 4], now), Ok(0));

    let mut net = self::net();
    let (c, s) = connected(&mut net);
    let now = net.now();
    net.stacks[1].tcp_shutdown(s, Shutdown::Write, now).unwrap();
    net.run_for(ms(10)).unwrap();
    assert_eq!(net.stacks[0].tcp_state(c).unwrap(), TcpState::CloseWait);
    let now = net.now();
    net.stacks[1].tcp_abort(s, now).unwrap();
    net.run_for(ms(10)).unwrap();
    let a = &mut net.stacks[0];
    assert_eq!(a.tcp_recv(c, &mut [0; 4], now), Ok(0), "after the FIN");
    assert_eq!(a.tcp_error(c), Ok(Some(TcpError::BrokenPipe)));
    assert_eq!(a.tcp_send(c, b"x", now), Err(TcpError::BrokenPipe));
    assert_eq!(a.tcp_error(c), Ok(None), "the write took it");
    assert!(!a.tcp_readiness(c).unwrap().error);
}

/// A refused connect and a timeout are reported once too; then reads end and writes fail
/// with EPIPE, as after a reset (`tcp_done` on every path).
#[test]
fn a_refused_or_timed_out_connection_reports_its_error_once() {
    let mut net = net();
    let now = net.now();
    let c = net.stacks[0]
        .tcp_connect(addr("10.0.0.2", 81), now)
        .unwrap();
    net.run_for(ms(10)).unwrap();
    let a = &mut net.stacks[0];
    assert_eq!(a.tcp_send(c, b"x", now), Err(TcpError::ConnectionRefused));
    assert_eq!(a.tcp_send(c, b"x", now), Err(TcpError::BrokenPipe));
    assert_eq!(a.tcp_recv(c, &mut [0; 4], now), Ok(0));

    let mut net = self::net();
    let (c, _) = sending_into_the_void(&mut net, Some(2));
    net.run_for(Duration::from_secs(30)).unwrap();
    let now = net.now();
    let a = &mut net.stacks[0];
    assert_eq!(a.tcp_state(c).unwrap(), TcpState::Closed);
    assert_eq!(a.tcp_recv(c, &mut [0; 4], now), Err(TcpError::TimedOut));
    assert_eq!(a.tcp_recv(c, &mut [0; 4], now), Ok(0));
    assert_eq!(a.tcp_send(c, b"x", now), Err(TcpError::BrokenPipe));
}

/// `SO_ERROR` (Linux `sk_getsockopt`): `sock_error`, else the soft error, each read and
/// cleared. A soft ICMP error on an established connection is no `EPOLLERR` and fails no
/// call, but `SO_ERROR` shows it once; a timeout after that is a bare ETIMEDOUT.
#[test]
fn so_error_reports_a_soft_icmp_error_once() {
    use oxnic_stack::wire::icmpv4::DstUnreachable;
    let mut net = net();
    let (c, _) = sending_into_the_void(&mut net, Some(3));
    net.run_for(ms(2)).unwrap();
    let local = net.stacks[0].tcp_local_addr(c).unwrap();
    let una = net.stacks[0].tcp_info(c).unwrap().snd_una;
    icmp_to_a(
        &mut net,
        "10.0.0.2",
        IcmpError::Unreach(DstUnreachable::HostUnreachable),
        local,
        addr("10.0.0.2", 80),
        una,
    );
    net.run_for(ms(2)).unwrap();
    assert_eq!(net.stacks[0].tcp_state(c).unwrap(), TcpState::Established);
    assert!(!net.stacks[0].tcp_readiness(c).unwrap().error);
    assert_eq!(
        net.stacks[0].tcp_take_error(c),
        Ok(Some(TcpError::Unreachable))
    );
    assert_eq!(net.stacks[0].tcp_take_error(c), Ok(None));
    net.run_for(Duration::from_secs(10)).unwrap();
    assert_eq!(net.stacks[0].tcp_state(c).unwrap(), TcpState::Closed);
    assert_eq!(
        net.stacks[0].tcp_take_error(c),
        Ok(Some(TcpError::TimedOut)),
        "the soft error was taken"
    );
}

// ------------------------------------------------------------------ EstabResets

/// Linux `tcp_set_state` counts `TCP_MIB_ESTABRESETS` when a connection goes to CLOSE from
/// ESTABLISHED or CLOSE-WAIT, and from nowhere else: not for a reset in FIN-WAIT-1/2,
/// CLOSING or LAST-ACK, but also for a reset this side sends (abort, close with unread
/// data, a closed listener's accepted-but-never-taken children).
#[test]
fn estab_resets_counts_closes_from_established_or_close_wait_only() {
    // A reset received in FIN-WAIT-2: not counted.
    let mut net = net();
    let (c, s) = connected(&mut net);
    let now = net.now();
    net.stacks[0].tcp_shutdown(c, Shutdown::Write, now).unwrap();
    net.run_for(ms(10)).unwrap();
    assert_eq!(net.stacks[0].tcp_state(c).unwrap(), TcpState::FinWait2);
    let now = net.now();
    net.stacks[1].tcp_abort(s, now).unwrap();
    net.run_for(ms(10)).unwrap();
    assert_eq!(net.stacks[0].tcp_state(c).unwrap(), TcpState::Closed);
    assert_eq!(net.stacks[0].tcp_mib().estab_resets, 0, "FIN-WAIT-2");
    assert_eq!(
        net.stacks[1].tcp_mib().estab_resets,
        1,
        "B aborted in CLOSE-WAIT"
    );

    // A reset received in FIN-WAIT-1 (A's FIN lost on the wire): not counted.
    let mut net = self::net();
    let (c, _s) = connected(&mut net);
    net.set_link_config(0, LinkConfig::new(ms(1), 1500).loss(1.0))
        .unwrap();
    let now = net.now();
    net.stacks[0].tcp_shutdown(c, Shutdown::Write, now).unwrap();
    net.run_for(ms(10)).unwrap();
    assert_eq!(net.stacks[0].tcp_state(c).unwrap(), TcpState::FinWait1);
    let local = net.stacks[0].tcp_local_addr(c).unwrap();
    let rcv_nxt = net.stacks[0].tcp_info(c).unwrap().rcv_nxt;
    let rst = seg(addr("10.0.0.2", 80), local, rcv_nxt, 0, TcpFlags::RST);
    inject_to_a(&mut net, addr("10.0.0.2", 80), local, &rst);
    net.run_for(ms(1)).unwrap();
    assert_eq!(net.stacks[0].tcp_state(c).unwrap(), TcpState::Closed);
    assert_eq!(net.stacks[0].tcp_mib().estab_resets, 0, "FIN-WAIT-1");

    // Resets sent from ESTABLISHED: an abort, a close with unread data, and a listener
    // closed with a connection waiting to be accepted.
    let mut net = self::net();
    let (l, c, s) = common::tcp_connected(&mut net, ms(10));
    let now = net.now();
    net.stacks[0].tcp_abort(c, now).unwrap();
    assert_eq!(net.stacks[0].tcp_mib().estab_resets, 1, "abort");
    net.run_for(ms(10)).unwrap();
    assert_eq!(net.stacks[1].tcp_state(s).unwrap(), TcpState::Closed);
    assert_eq!(net.stacks[1].tcp_mib().estab_resets, 1, "reset received");
    let now = net.now();
    let c = net.stacks[0]
        .tcp_connect(addr("10.0.0.2", 80), now)
        .unwrap();
    net.run_for(ms(10)).unwrap();
    let (s, _) = net.stacks[1].tcp_accept(l).unwrap();
    let now = net.now();
    net.stacks[0].tcp_send(c, b"unread", now).unwrap();
    net.run_for(ms(10)).unwrap();
    let now = net.now();
    net.stacks[1].tcp_close(s, now).unwrap();
    assert_eq!(
        net.stacks[1].tcp_mib().estab_resets,
        2,
        "close with unread data"
    );
    let now = net.now();
    net.stacks[0]
        .tcp_connect(addr("10.0.0.2", 80), now)
        .unwrap();
    net.run_for(ms(10)).unwrap();
    let now = net.now();
    net.stacks[1].tcp_close(l, now).unwrap();
    assert_eq!(
        net.stacks[1].tcp_mib().estab_resets,
        3,
        "closed listener's child"
    );
}

// ------------------------------------------------------------------ connect to 0.0.0.0

/// Linux `ip_route_connect` (`ip_route_output_key_hash_rcu`): a connect to 0.0.0.0 is to
/// this host: the destination becomes the bound source address, or with none 127.0.0.1
/// (and so does the source), and the connection is the peer of a listener here, over the
/// loopback path.
#[test]
fn connect_to_0_0_0_0_connects_to_this_host() {
    let (mut net, a_if, _) = two_hosts(DeviceCaps::default(), ms(1));
    let now = net.now();
    net.stacks[0]
        .add_address(a_if, ip4("10.0.0.11"), 24, now)
        .unwrap();
    let l = net.stacks[0].tcp_listen(addr("0.0.0.0", 7000), 4).unwrap();
    for (bind, want) in [("0.0.0.0", "127.0.0.1"), ("10.0.0.11", "10.0.0.11")] {
        let now = net.now();
        let c = net.stacks[0]
            .tcp_connect_from(addr(bind, 0), addr("0.0.0.0", 7000), now)
            .unwrap();
        assert_eq!(
            net.stacks[0].tcp_peer_addr(c),
            Ok(addr(want, 7000)),
            "bound to {bind}"
        );
        let local = net.stacks[0].tcp_local_addr(c).unwrap();
        assert_eq!(local.ip(), &ip4(want), "bound to {bind}");
        net.run_for(ms(1)).unwrap();
        assert_eq!(net.stacks[0].tcp_state(c), Ok(TcpState::Established));
        let (s, from) = net.stacks[0].tcp_accept(l).unwrap();
        assert_eq!(from, local, "bound to {bind}");
        assert_eq!(net.stacks[0].tcp_local_addr(s), Ok(addr(want, 7000)));
        let now = net.now();
        net.stacks[0].tcp_send(c, b"to myself", now).unwrap();
        net.run_for(ms(1)).unwrap();
        let mut buf = [0; 16];
        let now = net.now();
        assert_eq!(net.stacks[0].tcp_recv(s, &mut buf, now), Ok(9));
        assert_eq!(&buf[..9], b"to myself");
    }
    assert_eq!(
        net.stacks[1].tcp_mib().in_segs,
        0,
        "nothing crossed the wire"
    );
}

/// `inet_shutdown` of a connect in SYN-SENT, whichever half: Linux `tcp_disconnect` closes
/// the socket with ECONNRESET pending. The first write or read reports it
/// (`sk_stream_wait_connect`, `tcp_recvmsg_locked`: `sock_error`); after it a write on the
/// closed socket is EPIPE and a read ENOTCONN. Before, the first write was already EPIPE and
/// the first read ENOTCONN, with no error ever reported.
#[test]
fn shutting_a_connect_in_syn_sent_leaves_connreset_pending() {
    for how in [Shutdown::Write, Shutdown::Read, Shutdown::Both] {
        let mut net = net();
        let now = net.now();
        let c = net.stacks[0]
            .tcp_connect(addr("10.0.0.2", 80), now)
            .unwrap();
        net.stacks[0].tcp_shutdown(c, how, now).unwrap();
        let a = &mut net.stacks[0];
        assert_eq!(a.tcp_state(c), Ok(TcpState::Closed), "{how:?}");
        assert!(a.tcp_readiness(c).unwrap().error, "{how:?}");
        if how == Shutdown::Read {
            assert_eq!(
                a.tcp_recv(c, &mut [0; 4], now),
                Err(TcpError::ConnectionReset)
            );
            assert_eq!(a.tcp_recv(c, &mut [0; 4], now), Err(TcpError::NotConnected));
            assert_eq!(a.tcp_send(c, b"x", now), Err(TcpError::BrokenPipe));
        } else {
            assert_eq!(a.tcp_send(c, b"x", now), Err(TcpError::ConnectionReset));
            assert_eq!(a.tcp_send(c, b"x", now), Err(TcpError::BrokenPipe));
            assert_eq!(a.tcp_recv(c, &mut [0; 4], now), Err(TcpError::NotConnected));
        }
        // Nothing went out for it: the connect was abandoned, not reset.
        net.run_for(ms(50)).unwrap();
        assert_eq!(net.stacks[0].tcp_mib().out_rsts, 0, "{how:?}");
    }
}
