//! Blocking UDP between two runtimes over an in-memory wire.

mod common;

use common::{pair, PATIENCE};
use oxnic_runtime::UdpSocket;
use std::io::ErrorKind;
use std::net::SocketAddr;
use std::time::Duration;

#[test]
fn udp_echo_round_trip() {
    let (a, b) = pair();
    let server = UdpSocket::bind(&b, "10.0.0.2:5353").unwrap();
    server.set_read_timeout(Some(PATIENCE)).unwrap();
    let echo = std::thread::spawn(move || {
        let mut buf = [0; 2048];
        for _ in 0..3 {
            let (n, from) = server.recv_from(&mut buf).unwrap();
            server.send_to(&buf[..n], from).unwrap();
        }
    });
    let client = UdpSocket::bind(&a, "0.0.0.0:0").unwrap();
    client.set_read_timeout(Some(PATIENCE)).unwrap();
    let server_addr: SocketAddr = "10.0.0.2:5353".parse().unwrap();
    let mut buf = [0; 2048];
    for (i, len) in [1usize, 512, 1472].into_iter().enumerate() {
        let msg: Vec<u8> = (0..len).map(|k| (k + i) as u8).collect();
        assert_eq!(client.send_to(&msg, server_addr).unwrap(), len);
        let (n, from) = client.recv_from(&mut buf).unwrap();
        assert_eq!(from, server_addr);
        assert_eq!(&buf[..n], &msg[..]);
    }
    echo.join().unwrap();
    assert_eq!(client.stats().unwrap().received, 3);
}

#[test]
fn connected_udp_send_recv_and_timeout() {
    let (a, b) = pair();
    let sb = UdpSocket::bind(&b, "10.0.0.2:6000").unwrap();
    let sa = UdpSocket::bind(&a, "10.0.0.1:6000").unwrap();
    assert_eq!(sa.send(b"x").unwrap_err().kind(), ErrorKind::NotConnected);
    assert_eq!(sa.peer_addr().unwrap_err().kind(), ErrorKind::NotConnected);
    sa.connect("10.0.0.2:6000").unwrap();
    sb.connect("10.0.0.1:6000").unwrap();
    assert_eq!(sa.peer_addr().unwrap(), "10.0.0.2:6000".parse().unwrap());
    sa.send(b"hello").unwrap();
    sb.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut buf = [0; 16];
    let n = sb.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"hello");
    // Nothing more is coming: the timeout ends the wait.
    sb.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let e = sb.recv(&mut buf).unwrap_err();
    assert!(
        matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
        "{e:?}"
    );
    sb.set_nonblocking(true).unwrap();
    assert_eq!(sb.recv(&mut buf).unwrap_err().kind(), ErrorKind::WouldBlock);
}

#[test]
fn udp_to_a_closed_port_reports_connection_refused() {
    let (a, _b) = pair();
    let s = UdpSocket::bind(&a, "0.0.0.0:0").unwrap();
    s.connect("10.0.0.2:9").unwrap();
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    s.send(b"anyone?").unwrap();
    // B answers with ICMP port unreachable; the connected socket reports it on receive.
    let e = s.recv(&mut [0; 16]).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ConnectionRefused);
}
