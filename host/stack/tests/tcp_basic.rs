//! TCP between two in-memory stacks on a virtual clock: handshakes, data, closes, resets.

mod common;

use oxnic_stack::netsim::{two_hosts, Net};
use oxnic_stack::tcp::{Shutdown, TcpError, TcpHandle, TcpState};
use oxnic_stack::DeviceCaps;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

fn addr(s: &str, port: u16) -> SocketAddrV4 {
    SocketAddrV4::new(s.parse::<Ipv4Addr>().unwrap(), port)
}

/// A listener on B:80 and a connection from A, accepted.
fn connected(net: &mut Net) -> (TcpHandle, TcpHandle, TcpHandle) {
    let (l, c, s) = common::tcp_connected(net, Duration::from_millis(10));
    assert_eq!(net.stacks[0].tcp_state(c).unwrap(), TcpState::Established);
    assert_eq!(
        net.stacks[1].tcp_peer_addr(s).unwrap(),
        net.stacks[0].tcp_local_addr(c).unwrap()
    );
    (l, c, s)
}

#[test]
fn handshake_data_and_close() {
    let (mut net, _, _) = two_hosts(DeviceCaps::default(), Duration::from_millis(1));
    let (_l, c, s) = connected(&mut net);
    let now = net.now();
    assert_eq!(net.stacks[0].tcp_send(c, b"hello", now).unwrap(), 5);
    net.run_for(Duration::from_millis(10)).unwrap();
    let mut buf = [0u8; 64];
    let now = net.now();
    assert_eq!(net.stacks[1].tcp_recv(s, &mut buf, now).unwrap(), 5);
    assert_eq!(&buf[..5], b"hello");
    assert_eq!(
        net.stacks[1].tcp_recv(s, &mut buf, now),
        Err(TcpError::WouldBlock)
    );
    net.stacks[0].tcp_close(c, now).unwrap();
    net.run_for(Duration::from_millis(10)).unwrap();
    assert_eq!(net.stacks[1].tcp_state(s).unwrap(), TcpState::CloseWait);
    let now = net.now();
    assert_eq!(net.stacks[1].tcp_recv(s, &mut buf, now).unwrap(), 0);
    net.stacks[1].tcp_close(s, now).unwrap();
    net.run_for(Duration::from_millis(10)).unwrap();
    // The active closer holds TIME-WAIT for 2×MSL, then forgets the connection.
    assert_eq!(net.stacks[0].tcp_mib().curr_estab, 0);
    assert_eq!(net.stacks[1].tcp_mib().curr_estab, 0);
    net.run_for(Duration::from_secs(61)).unwrap();
    assert_eq!(net.stacks[0].tcp_sockets().count(), 0);
    assert_eq!(net.stacks[1].tcp_sockets().count(), 1); // the listener
}

#[test]
fn connect_to_a_closed_port_is_refused() {
    let (mut net, _, _) = two_hosts(DeviceCaps::default(), Duration::from_millis(1));
    let now = net.now();
    let c = net.stacks[0]
        .tcp_connect(addr("10.0.0.2", 81), now)
        .unwrap();
    net.run_for(Duration::from_millis(10)).unwrap();
    assert_eq!(net.stacks[0].tcp_state(c).unwrap(), TcpState::Closed);
    assert_eq!(
        net.stacks[0].tcp_take_error(c).unwrap(),
        Some(TcpError::ConnectionRefused)
    );
    assert_eq!(net.stacks[1].tcp_mib().out_rsts, 1);
}

#[test]
fn half_close_keeps_the_other_direction() {
    let (mut net, _, _) = two_hosts(DeviceCaps::default(), Duration::from_millis(1));
    let (_l, c, s) = connected(&mut net);
    let now = net.now();
    net.stacks[0].tcp_send(c, b"request", now).unwrap();
    net.stacks[0].tcp_shutdown(c, Shutdown::Write, now).unwrap();
    net.run_for(Duration::from_millis(10)).unwrap();
    let mut buf = [0u8; 64];
    let now = net.now();
    assert_eq!(net.stacks[1].tcp_recv(s, &mut buf, now).unwrap(), 7);
    assert_eq!(net.stacks[1].tcp_recv(s, &mut buf, now).unwrap(), 0);
    assert_eq!(net.stacks[0].tcp_state(c).unwrap(), TcpState::FinWait2);
    net.stacks[1].tcp_send(s, b"response", now).unwrap();
    net.stacks[1].tcp_close(s, now).unwrap();
    net.run_for(Duration::from_millis(10)).unwrap();
    let now = net.now();
    assert_eq!(net.stacks[0].tcp_recv(c, &mut buf, now).unwrap(), 8);
    assert_eq!(&buf[..8], b"response");
    assert_eq!(net.stacks[0].tcp_recv(c, &mut buf, now).unwrap(), 0);
    assert_eq!(net.stacks[0].tcp_state(c).unwrap(), TcpState::TimeWait);
}

#[test]
fn reading_in_place_reopens_the_window_and_sees_end_of_stream() {
    let (mut net, _, _) = two_hosts(DeviceCaps::default(), Duration::from_millis(1));
    let (_l, c, s) = connected(&mut net);
    // A 16 KiB receive buffer: the 200 KB only get through if each read in place reopens the
    // window as a copying read does (waiting for zero-window probes would take seconds).
    net.stacks[1].tcp_set_rcvbuf(s, 16 << 10).unwrap();
    let data: Vec<u8> = (0..200_000).map(|i| (i % 251) as u8).collect();
    let mut sent = 0;
    let mut got = Vec::new();
    let mut calls = 0;
    let deadline = net.now() + Duration::from_secs(1);
    while got.len() < data.len() {
        assert!(
            net.now() < deadline,
            "stalled at {} of {} bytes",
            got.len(),
            data.len()
        );
        let now = net.now();
        if sent < data.len() {
            match net.stacks[0].tcp_send(c, &data[sent..], now) {
                Ok(n) => sent += n,
                Err(TcpError::WouldBlock) => {}
                Err(e) => panic!("send failed: {e}"),
            }
        }
        net.run_for(Duration::from_millis(1)).unwrap();
        let now = net.now();
        loop {
            // At most 1000 bytes of each slice: the rest stays for the next read.
            let r = net.stacks[1].tcp_recv_with(
                s,
                |b| {
                    calls += 1;
                    let take = b.len().min(1000);
                    got.extend_from_slice(&b[..take]);
                    take
                },
                now,
            );
            match r {
                Ok(0) => panic!("end of stream before the data"),
                Ok(_) => {}
                Err(TcpError::WouldBlock) => break,
                Err(e) => panic!("recv failed: {e}"),
            }
        }
    }
    assert!(
        got == data,
        "the bytes read in place differ from those sent"
    );
    assert!(calls >= data.len() / 1000, "{calls} slices handed over");
    let now = net.now();
    net.stacks[0].tcp_close(c, now).unwrap();
    net.run_for(Duration::from_millis(10)).unwrap();
    let now = net.now();
    assert_eq!(net.stacks[1].tcp_recv_with(s, |b| b.len(), now), Ok(0));
}
