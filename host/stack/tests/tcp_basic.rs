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
