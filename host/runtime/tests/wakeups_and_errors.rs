//! What a user of std sockets relies on: a thread blocked on loopback traffic of its own
//! runtime wakes, readiness reports a read shutdown and a pending error, and the errors after
//! a reset or a shutdown are the ones std gives on Linux.

mod common;

use common::{pair, within};
use oxnic_runtime::{Events, Interest, Poll, TcpListener, TcpStream, Token};
use std::io::{ErrorKind, Read, Write};
use std::net::Shutdown;
use std::time::Duration;

/// A connection inside one runtime (to its own address) goes over the stack's loopback path,
/// synchronously inside the caller's call. A thread blocked in `accept` must still wake up.
#[test]
fn accept_blocked_before_a_loopback_connect_wakes() {
    let (a, _b) = pair();
    let listener = TcpListener::bind(&a, "10.0.0.1:7100").unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let r = listener.accept().map(|(s, _)| s);
        let _ = tx.send(r.is_ok());
        // keep the stream alive a little
        std::thread::sleep(Duration::from_millis(200));
    });
    // Let the acceptor block first.
    std::thread::sleep(Duration::from_millis(200));
    let _c = TcpStream::connect(&a, "10.0.0.1:7100").expect("loopback connect");
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(5)),
        Ok(true),
        "accept did not wake up after the loopback connection was queued"
    );
}

/// Same for a reader blocked on a loopback connection while the peer writes.
#[test]
fn reader_blocked_on_a_loopback_connection_wakes_when_data_arrives() {
    let (a, _b) = pair();
    let listener = TcpListener::bind(&a, "10.0.0.1:7101").unwrap();
    let mut c = TcpStream::connect(&a, "10.0.0.1:7101").expect("loopback connect");
    let (mut s, _) = listener.accept().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0; 8];
        let r = s.read(&mut buf);
        let _ = tx.send(r.map_err(|e| e.kind()));
    });
    std::thread::sleep(Duration::from_millis(200));
    c.write_all(b"hello").unwrap();
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(5)),
        Ok(Ok(5)),
        "reader did not wake up after loopback data arrived"
    );
}

/// After the peer's reset was reported once, std/Linux read gives end of stream (0) and
/// write gives EPIPE; neither "not connected". Reporting it cleared it: `SO_ERROR` is empty.
#[test]
fn after_a_reported_reset_read_is_eof_and_write_is_broken_pipe() {
    let (a, b) = pair();
    let listener = TcpListener::bind(&b, "10.0.0.2:7102").unwrap();
    let server = std::thread::spawn(move || {
        let (s, _) = listener.accept().unwrap();
        s.abort().unwrap();
    });
    let mut c = TcpStream::connect(&a, "10.0.0.2:7102").unwrap();
    server.join().unwrap();
    let e = c.read(&mut [0; 8]).expect_err("reset");
    assert_eq!(e.kind(), ErrorKind::ConnectionReset);
    let again = c.read(&mut [0; 8]).map_err(|e| e.kind());
    let w = c.write(b"x").map_err(|e| e.kind());
    assert_eq!((again, w), (Ok(0), Err(ErrorKind::BrokenPipe)));
    assert!(c.take_error().unwrap().is_none());
}

/// shutdown(Read) makes the socket readable at once (a read returns 0 without blocking):
/// level-triggered readiness must say so (Linux tcp_poll: EPOLLIN on RCV_SHUTDOWN).
#[test]
fn poll_reports_readable_after_shutdown_read() {
    let (a, b) = pair();
    let listener = TcpListener::bind(&b, "10.0.0.2:7103").unwrap();
    let c = TcpStream::connect(&a, "10.0.0.2:7103").unwrap();
    let (_s, _) = listener.accept().unwrap();
    c.set_nonblocking(true).unwrap();
    c.shutdown(Shutdown::Read).unwrap();
    assert_eq!(
        (&c).read(&mut [0; 8]).unwrap(),
        0,
        "read after SHUT_RD is EOF"
    );
    let mut poll = Poll::new(&a);
    poll.register(&c, Token(1), Interest::READABLE).unwrap();
    let n = within(Duration::from_secs(10), move || {
        let mut ev = Events::with_capacity(4);
        let n = poll
            .wait(&mut ev, Some(Duration::from_millis(300)))
            .unwrap();
        (n, ev.iter().any(|e| e.is_readable()))
    });
    assert_eq!(
        n,
        (1, true),
        "a socket whose read returns 0 at once is readable"
    );
}

/// write after shutdown(Write) is EPIPE for good (Linux checks SEND_SHUTDOWN first), also
/// once the close handshake has ended: here the side that closes second (CLOSE-WAIT ->
/// LAST-ACK -> CLOSED) writes after its FIN was acknowledged.
#[test]
fn write_after_shutdown_write_stays_broken_pipe_after_the_close_handshake() {
    let (a, b) = pair();
    let listener = TcpListener::bind(&b, "10.0.0.2:7104").unwrap();
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut v = Vec::new();
        s.read_to_end(&mut v).unwrap(); // peer's FIN: CLOSE-WAIT
        s.shutdown(Shutdown::Write).unwrap(); // LAST-ACK
                                              // Give the peer's ACK of our FIN time to arrive (LAST-ACK -> CLOSED).
        std::thread::sleep(Duration::from_millis(300));
        s.write(b"x").map_err(|e| e.kind())
    });
    let mut c = TcpStream::connect(&a, "10.0.0.2:7104").unwrap();
    c.shutdown(Shutdown::Write).unwrap();
    let mut v = Vec::new();
    c.read_to_end(&mut v).unwrap();
    assert_eq!(server.join().unwrap(), Err(ErrorKind::BrokenPipe));
}

/// A UDP receiver blocked before a datagram is looped back to it inside the same runtime
/// must wake up.
#[test]
fn udp_receiver_blocked_on_a_looped_back_datagram_wakes() {
    use oxnic_runtime::UdpSocket;
    let (a, _b) = pair();
    let r = UdpSocket::bind(&a, "10.0.0.1:7200").unwrap();
    let s = UdpSocket::bind(&a, "10.0.0.1:7201").unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let got = r
            .recv_from(&mut [0; 16])
            .map(|(n, _)| n)
            .map_err(|e| e.kind());
        let _ = tx.send(got);
    });
    std::thread::sleep(Duration::from_millis(200));
    s.send_to(b"hi", "10.0.0.1:7200").unwrap();
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(5)),
        Ok(Ok(2)),
        "receiver did not wake up"
    );
}

/// A connected UDP socket whose peer answered with ICMP port unreachable has an error a
/// non-blocking recv reports at once: Poll must report it (epoll: EPOLLERR).
#[test]
fn poll_reports_a_pending_udp_error() {
    use oxnic_runtime::UdpSocket;
    let (a, _b) = pair();
    let s = UdpSocket::bind(&a, "0.0.0.0:0").unwrap();
    s.connect("10.0.0.2:9").unwrap();
    s.set_nonblocking(true).unwrap();
    let mut poll = Poll::new(&a);
    poll.register(&s, Token(7), Interest::READABLE).unwrap();
    s.send(b"anyone?").unwrap();
    // Wait for the ICMP error to be recorded (seen through a clone, without taking it).
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let mut ev = Events::with_capacity(4);
    let mut n = 0;
    while n == 0 && std::time::Instant::now() < deadline {
        n = poll
            .wait(&mut ev, Some(Duration::from_millis(100)))
            .unwrap();
    }
    let e = s.recv(&mut [0; 16]).unwrap_err();
    assert_eq!(
        e.kind(),
        ErrorKind::ConnectionRefused,
        "the error was pending"
    );
    assert_eq!(
        n, 1,
        "Poll never reported the socket whose recv fails at once"
    );
}

/// Linux `inet_shutdown` on a socket the peer reset (TCP_CLOSE) is ENOTCONN for every
/// direction (std: `NotConnected`), as it is for a write shutdown.
#[test]
fn shutdown_after_a_reset_is_not_connected() {
    let (a, b) = pair();
    let listener = TcpListener::bind(&b, "10.0.0.2:7105").unwrap();
    let mut c = TcpStream::connect(&a, "10.0.0.2:7105").unwrap();
    let (s, _) = listener.accept().unwrap();
    s.abort().unwrap();
    c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let e = c.read(&mut [0; 8]).expect_err("reset");
    assert_eq!(e.kind(), ErrorKind::ConnectionReset);
    for how in [Shutdown::Read, Shutdown::Write, Shutdown::Both] {
        assert_eq!(
            c.shutdown(how).map_err(|e| e.kind()),
            Err(ErrorKind::NotConnected),
            "{how:?}"
        );
    }
}
