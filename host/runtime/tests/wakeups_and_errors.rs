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
    // The reset comes once the connect has returned: one before then fails the connect
    // itself (`__inet_stream_connect`).
    let (connected, wait_connected) = std::sync::mpsc::channel();
    let server = std::thread::spawn(move || {
        let (s, _) = listener.accept().unwrap();
        wait_connected.recv().unwrap();
        s.abort().unwrap();
    });
    let mut c = TcpStream::connect(&a, "10.0.0.2:7102").unwrap();
    connected.send(()).unwrap();
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

/// A scripted peer at 10.0.0.2 behind runtime A's only port: it answers each SYN with a
/// SYN-ACK and, queued with it, `then` (a reset, or a FIN and a reset). The frames wait on
/// the port together, so A's poller takes them in one pass with the stack locked: the
/// connection is established and closed before the connecting thread can look, every run.
struct AcceptThen {
    then: &'static [u16],
    rx: std::collections::VecDeque<oxnic_stack::pktbuf::PacketBuf>,
    kicked: std::sync::Arc<(std::sync::Mutex<bool>, std::sync::Condvar)>,
}

const PEER_MAC: oxnic_stack::wire::ethernet::EthernetAddress =
    oxnic_stack::wire::ethernet::EthernetAddress([2, 0, 0, 0, 0, 2]);

impl oxnic_runtime::FramePort for AcceptThen {
    fn recv(&mut self) -> Option<oxnic_stack::pktbuf::PacketBuf> {
        self.rx.pop_front()
    }

    fn send(&mut self, frame: oxnic_stack::pktbuf::PacketBuf) {
        use oxnic_stack::wire::tcp::{TcpFlags, TcpOptions, TcpRepr};
        use std::net::{Ipv4Addr, SocketAddrV4};
        let mut f = vec![0; frame.len()];
        if frame.copy_to(&mut f).is_err() || f.len() < 34 || f[12..14] != [8, 0] || f[23] != 6 {
            return;
        }
        let t = &f[14 + usize::from(f[14] & 0xf) * 4..];
        // Only a SYN without ACK is answered.
        if t.len() < 20 || t[13] & 0x12 != 0x02 {
            return;
        }
        let be16 = |b: &[u8]| u16::from_be_bytes([b[0], b[1]]);
        let ip = |b: &[u8]| Ipv4Addr::new(b[0], b[1], b[2], b[3]);
        let a = SocketAddrV4::new(ip(&f[26..30]), be16(&t[0..2]));
        let me = SocketAddrV4::new(ip(&f[30..34]), be16(&t[2..4]));
        let their_seq = u32::from_be_bytes([t[4], t[5], t[6], t[7]]);
        let mut seq = 5000;
        for flags in std::iter::once(TcpFlags::SYN | TcpFlags::ACK).chain(self.then.iter().copied())
        {
            let repr = TcpRepr {
                src_port: me.port(),
                dst_port: a.port(),
                seq,
                ack: their_seq.wrapping_add(1),
                flags: TcpFlags(flags),
                window: 65_535,
                urgent: 0,
                options: TcpOptions::default(),
            };
            let bytes = oxnic_stack::netsim::tcp_frame(
                PEER_MAC,
                oxnic_stack::wire::ethernet::EthernetAddress([
                    f[6], f[7], f[8], f[9], f[10], f[11],
                ]),
                me,
                a,
                &repr,
                &[],
            )
            .unwrap();
            self.rx
                .push_back(oxnic_stack::pktbuf::PacketBuf::from_slice(64, &bytes));
            // The SYN and a FIN each take a sequence number.
            if flags & (TcpFlags::SYN | TcpFlags::FIN) != 0 {
                seq += 1;
            }
        }
    }

    fn wait(&mut self, timeout: Duration) {
        let (m, c) = &*self.kicked;
        let mut k = m.lock().unwrap();
        if !*k && self.rx.is_empty() {
            k = c.wait_timeout(k, timeout).unwrap().0;
        }
        *k = false;
    }

    fn waker(&self) -> oxnic_runtime::Waker {
        let kicked = std::sync::Arc::clone(&self.kicked);
        oxnic_runtime::Waker::new(move || {
            *kicked.0.lock().unwrap() = true;
            kicked.1.notify_all();
        })
    }
}

/// Linux `__inet_stream_connect`: after the wait, a socket found in CLOSE fails the connect
/// with its error (`sock_error`), even when the connection was established in between and
/// only then reset: ECONNRESET, or EPIPE when the peer's FIN came first (`tcp_reset` in
/// CLOSE-WAIT). The error is reported once, by connect.
#[test]
fn connect_fails_with_the_reset_that_closed_it_before_the_connecting_thread_looked() {
    use oxnic_stack::wire::tcp::TcpFlags;
    for (then, kind) in [
        (&[TcpFlags::RST][..], ErrorKind::ConnectionReset),
        (
            &[TcpFlags::FIN | TcpFlags::ACK, TcpFlags::RST][..],
            ErrorKind::BrokenPipe,
        ),
    ] {
        let port = AcceptThen {
            then,
            rx: Default::default(),
            kicked: Default::default(),
        };
        let rt = oxnic_runtime::Runtime::builder()
            .interface(
                "eth0",
                oxnic_stack::wire::ethernet::EthernetAddress([2, 0, 0, 0, 0, 1]),
                oxnic_stack::DeviceCaps::default(),
                "10.0.0.1/24",
                port,
            )
            .start()
            .unwrap();
        let eth0 = rt.ifindex("eth0").unwrap();
        rt.with_stack(|st, now| {
            st.interface_mut(eth0).unwrap().neigh_mut().add_permanent(
                "10.0.0.2".parse().unwrap(),
                PEER_MAC,
                now,
            );
        });
        let (rt, r) = within(common::PATIENCE, move || {
            let r = TcpStream::connect(&rt, "10.0.0.2:80").map(|_| ());
            (rt, r)
        });
        let e = r.expect_err("connect reports the reset");
        assert_eq!(e.kind(), kind, "{then:?}: {e:?}");
        // It was established first: the reset closed it from ESTABLISHED or CLOSE-WAIT.
        assert_eq!(rt.with_stack(|st, _| st.tcp_mib().estab_resets), 1);
    }
}
