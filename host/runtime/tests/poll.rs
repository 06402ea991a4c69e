//! A single-threaded, Poll-driven echo server on non-blocking sockets serving 20 clients at
//! once, each a thread with a blocking stream.

mod common;

use common::{pair, within, PATIENCE};
use oxnic_runtime::{Event, Events, Interest, Poll, TcpListener, TcpStream, Token, UdpSocket};
use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::Shutdown;
use std::time::Duration;

const CLIENTS: usize = 20;
const PER_CLIENT: usize = 64 * 1024;
const LISTENER: Token = Token(usize::MAX);

struct Conn {
    stream: TcpStream,
    /// Read but not yet echoed.
    pending: Vec<u8>,
    eof: bool,
    /// Bytes echoed so far.
    echoed: usize,
}

/// Echoes every connection until `CLIENTS` connections have come and gone; returns the bytes
/// echoed per connection.
fn serve(listener: TcpListener, mut poll: Poll) -> Vec<usize> {
    listener.set_nonblocking(true).unwrap();
    poll.register(&listener, LISTENER, Interest::READABLE)
        .unwrap();
    let mut conns: HashMap<Token, Conn> = HashMap::new();
    let mut accepted = 0;
    let mut done = Vec::new();
    let mut events = Events::with_capacity(64);
    let mut buf = vec![0; 16 * 1024];
    while done.len() < CLIENTS {
        let n = poll.wait(&mut events, Some(PATIENCE)).unwrap();
        assert!(n > 0, "server stalled: no event within {PATIENCE:?}");
        for ev in &events {
            if ev.token() == LISTENER {
                loop {
                    match listener.accept() {
                        Ok((s, _)) => {
                            s.set_nonblocking(true).unwrap();
                            let t = Token(accepted);
                            accepted += 1;
                            poll.register(&s, t, Interest::READABLE).unwrap();
                            conns.insert(
                                t,
                                Conn {
                                    stream: s,
                                    pending: Vec::new(),
                                    eof: false,
                                    echoed: 0,
                                },
                            );
                        }
                        Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                        Err(e) => panic!("accept: {e}"),
                    }
                }
                continue;
            }
            let t = ev.token();
            let Some(c) = conns.get_mut(&t) else { continue };
            // Flush what is pending, then read more while there is room to echo.
            while !c.pending.is_empty() {
                match c.stream.write(&c.pending) {
                    Ok(n) => {
                        c.pending.drain(..n);
                        c.echoed += n;
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) => panic!("write: {e}"),
                }
            }
            while c.pending.is_empty() && !c.eof {
                match c.stream.read(&mut buf) {
                    Ok(0) => c.eof = true,
                    Ok(n) => {
                        c.pending.extend_from_slice(&buf[..n]);
                        while !c.pending.is_empty() {
                            match c.stream.write(&c.pending) {
                                Ok(n) => {
                                    c.pending.drain(..n);
                                    c.echoed += n;
                                }
                                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                                Err(e) => panic!("write: {e}"),
                            }
                        }
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) => panic!("read: {e}"),
                }
            }
            if c.eof && c.pending.is_empty() {
                c.stream.shutdown(Shutdown::Write).unwrap();
                poll.deregister(&c.stream).unwrap();
                let c = conns.remove(&t).unwrap();
                done.push(c.echoed);
                continue;
            }
            // Level-triggered: ask for writability only while something waits to be sent.
            let want = if c.pending.is_empty() {
                Interest::READABLE
            } else {
                Interest::WRITABLE
            };
            poll.reregister(&c.stream, t, want).unwrap();
        }
    }
    done
}

#[test]
fn poll_driven_server_echoes_20_concurrent_clients() {
    within(Duration::from_secs(60), || {
        let (a, b) = pair();
        let listener = TcpListener::bind(&b, "10.0.0.2:8080").unwrap();
        let poll = Poll::new(&b);
        let server = std::thread::spawn(move || serve(listener, poll));
        let a = std::sync::Arc::new(a);
        let clients: Vec<_> = (0..CLIENTS)
            .map(|i| {
                let a = std::sync::Arc::clone(&a);
                std::thread::spawn(move || {
                    let data: Vec<u8> = (0..PER_CLIENT).map(|k| (k * 7 + i) as u8).collect();
                    let s = TcpStream::connect(&a, "10.0.0.2:8080").unwrap();
                    s.set_read_timeout(Some(PATIENCE)).unwrap();
                    // 4000-byte writes under Nagle wait for delayed ACKs (40 ms each);
                    // correct, but slow for a test.
                    s.set_nodelay(true).unwrap();
                    let mut w = s.try_clone().unwrap();
                    let sent = data.clone();
                    let writer = std::thread::spawn(move || {
                        for chunk in sent.chunks(4000) {
                            w.write_all(chunk).unwrap();
                        }
                        w.shutdown(Shutdown::Write).unwrap();
                    });
                    let mut back = Vec::new();
                    (&s).read_to_end(&mut back).unwrap();
                    writer.join().unwrap();
                    assert_eq!(back, data, "client {i} got back other bytes");
                })
            })
            .collect();
        for c in clients {
            c.join().expect("client thread");
        }
        let done = server.join().expect("server thread");
        assert_eq!(done, vec![PER_CLIENT; CLIENTS]);
    });
}

#[test]
fn poll_reports_readable_listener_and_times_out_when_idle() {
    let (a, b) = pair();
    let listener = TcpListener::bind(&b, "10.0.0.2:8081").unwrap();
    let mut poll = Poll::new(&b);
    poll.register(&listener, Token(1), Interest::READABLE)
        .unwrap();
    assert_eq!(
        poll.register(&listener, Token(2), Interest::READABLE)
            .unwrap_err()
            .kind(),
        ErrorKind::AlreadyExists
    );
    let mut events = Events::with_capacity(4);
    assert_eq!(
        poll.wait(&mut events, Some(Duration::from_millis(50)))
            .unwrap(),
        0
    );
    assert!(events.is_empty());
    let _c = TcpStream::connect(&a, "10.0.0.2:8081").unwrap();
    assert_eq!(poll.wait(&mut events, Some(PATIENCE)).unwrap(), 1);
    let ev = events.iter().next().unwrap();
    assert_eq!(ev.token(), Token(1));
    assert!(ev.is_readable());
    // A socket of another runtime is refused.
    let other = TcpListener::bind(&a, "10.0.0.1:8081").unwrap();
    assert_eq!(
        poll.register(&other, Token(3), Interest::READABLE)
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidInput
    );
}

#[test]
fn poll_reports_hangup_once_both_directions_are_shut() {
    let (a, b) = pair();
    let listener = TcpListener::bind(&b, "10.0.0.2:8082").unwrap();
    let c = TcpStream::connect(&a, "10.0.0.2:8082").unwrap();
    let (_s, _) = listener.accept().unwrap();
    let mut poll = Poll::new(&a);
    poll.register(&c, Token(1), Interest::READABLE).unwrap();
    let mut events = Events::with_capacity(4);
    assert_eq!(
        poll.wait(&mut events, Some(Duration::from_millis(50)))
            .unwrap(),
        0
    );
    // Linux `tcp_poll`: shutdown(Both) sets SHUTDOWN_MASK, so EPOLLHUP.
    c.shutdown(Shutdown::Both).unwrap();
    assert_eq!(poll.wait(&mut events, Some(PATIENCE)).unwrap(), 1);
    let ev = events.iter().next().unwrap();
    assert_eq!(ev.token(), Token(1));
    assert!(ev.is_hangup());
}

/// Waits (up to `PATIENCE`) until an event for `token` comes; returns it with the events of
/// that same wait.
fn wait_for(poll: &mut Poll, token: Token) -> (Event, Vec<Event>) {
    let deadline = std::time::Instant::now() + PATIENCE;
    let mut events = Events::with_capacity(8);
    while std::time::Instant::now() < deadline {
        poll.wait(&mut events, Some(Duration::from_millis(100)))
            .unwrap();
        let all: Vec<Event> = events.iter().copied().collect();
        if let Some(e) = all.iter().find(|e| e.token() == token) {
            return (*e, all);
        }
    }
    panic!("no event for {token:?} within {PATIENCE:?}");
}

/// `abort` releases the stream's handle in the stack while the stream (and its
/// registration) lives on, and the next connection takes the same handle number. That new
/// stream must register under its own token, its readiness must not be reported under the
/// aborted stream's token, and deregistering the aborted stream must not remove it.
#[test]
fn an_aborted_streams_registration_does_not_capture_the_stream_reusing_its_handle() {
    let (a, b) = pair();
    let listener = TcpListener::bind(&b, "10.0.0.2:8083").unwrap();
    let c1 = TcpStream::connect(&a, "10.0.0.2:8083").unwrap();
    let (_s1, _) = listener.accept().unwrap();
    let mut poll = Poll::new(&a);
    poll.register(&c1, Token(1), Interest::READABLE).unwrap();
    c1.abort().unwrap();
    let c2 = TcpStream::connect(&a, "10.0.0.2:8083").unwrap();
    let (mut s2, _) = listener.accept().unwrap();
    poll.register(&c2, Token(2), Interest::READABLE)
        .expect("the new stream is not registered yet");
    s2.write_all(b"x").unwrap();
    let (e2, all) = wait_for(&mut poll, Token(2));
    assert!(e2.is_readable() && !e2.is_hangup(), "{e2:?}");
    // The aborted stream is gone: error and hang-up, never the new stream's data alone.
    for e in all.iter().filter(|e| e.token() == Token(1)) {
        assert!(
            e.is_error() && e.is_hangup(),
            "aborted stream reported {e:?}"
        );
    }
    poll.deregister(&c1).unwrap();
    let (e2, all) = wait_for(&mut poll, Token(2));
    assert!(e2.is_readable(), "{e2:?}");
    assert!(all.iter().all(|e| e.token() == Token(2)), "{all:?}");
    poll.deregister(&c2)
        .expect("deregistering the aborted stream left the new one registered");
}

/// A UDP socket dropped while registered frees its handle at once, and the next bound socket
/// takes the same number: the old registration must report the dropped socket as gone (it
/// is), not the new socket's datagrams, and the new socket must register under its own
/// token.
#[test]
fn a_dropped_sockets_registration_does_not_capture_the_socket_reusing_its_handle() {
    let (a, b) = pair();
    let mut poll = Poll::new(&a);
    let old = UdpSocket::bind(&a, "10.0.0.1:5000").unwrap();
    poll.register(&old, Token(1), Interest::READABLE).unwrap();
    drop(old);
    let new = UdpSocket::bind(&a, "10.0.0.1:5001").unwrap();
    poll.register(&new, Token(2), Interest::READABLE)
        .expect("the new socket is not registered yet");
    let peer = UdpSocket::bind(&b, "10.0.0.2:0").unwrap();
    peer.send_to(b"x", "10.0.0.1:5001").unwrap();
    let (e2, all) = wait_for(&mut poll, Token(2));
    assert!(e2.is_readable() && !e2.is_hangup(), "{e2:?}");
    for e in all.iter().filter(|e| e.token() == Token(1)) {
        assert!(
            e.is_error() && e.is_hangup(),
            "dropped socket reported {e:?}"
        );
    }
}

/// A socket dropped while registered cannot be deregistered any more (`deregister` needs
/// it). Its registration is reported gone (error and hang-up) once, so the owner notices,
/// and then removed, as epoll forgets a closed descriptor: it must not come back on every
/// later wait and make the event loop spin.
#[test]
fn a_dropped_sockets_registration_is_reported_once_then_removed() {
    let (a, _b) = pair();
    let mut poll = Poll::new(&a);
    let s = UdpSocket::bind(&a, "10.0.0.1:5003").unwrap();
    poll.register(&s, Token(1), Interest::READABLE).unwrap();
    drop(s);
    let mut events = Events::with_capacity(4);
    assert_eq!(poll.wait(&mut events, Some(PATIENCE)).unwrap(), 1);
    let e = *events.iter().next().unwrap();
    assert_eq!(e.token(), Token(1));
    assert!(e.is_error() && e.is_hangup(), "{e:?}");
    let again = poll
        .wait(&mut events, Some(Duration::from_millis(50)))
        .unwrap();
    assert_eq!(
        again, 0,
        "the dropped socket was reported again: {events:?}"
    );
}

/// `Event::is_readable` promises readable with end of stream. Once a reset was reported by a
/// read, the next reads see end of stream at once (Linux `tcp_done` sets `SHUTDOWN_MASK`, and
/// `tcp_poll` then reports `EPOLLIN` with `EPOLLHUP`): the socket must still be readable, or
/// a loop that reads on readable spins on events that say nothing is there to read.
#[test]
fn a_reset_stream_stays_readable_after_a_read_reported_the_reset() {
    let (a, b) = pair();
    let listener = TcpListener::bind(&b, "10.0.0.2:8084").unwrap();
    let c = TcpStream::connect(&a, "10.0.0.2:8084").unwrap();
    let (s, _) = listener.accept().unwrap();
    c.set_nonblocking(true).unwrap();
    let mut poll = Poll::new(&a);
    poll.register(&c, Token(1), Interest::READABLE).unwrap();
    s.abort().unwrap();
    let mut events = Events::with_capacity(4);
    let deadline = std::time::Instant::now() + PATIENCE;
    while !events.iter().any(|e| e.is_error()) {
        assert!(std::time::Instant::now() < deadline, "reset not reported");
        poll.wait(&mut events, Some(PATIENCE)).unwrap();
    }
    assert_eq!(
        (&c).read(&mut [0; 8]).unwrap_err().kind(),
        ErrorKind::ConnectionReset
    );
    assert_eq!(poll.wait(&mut events, Some(PATIENCE)).unwrap(), 1);
    let e = *events.iter().next().unwrap();
    assert!(e.is_hangup(), "{e:?}");
    assert!(
        e.is_readable(),
        "read gives end of stream at once, yet: {e:?}"
    );
    assert_eq!((&c).read(&mut [0; 8]).unwrap(), 0);
}

/// Linux `tcp_poll` reports `EPOLLOUT` once writing is shut (`SEND_SHUTDOWN`): the write
/// would not block, it fails at once with `EPIPE` (std: `BrokenPipe`). A loop that waits for
/// writable to write after shutdown(Write) must be woken to learn that, not wait for ever.
#[test]
fn poll_reports_a_stream_writable_after_shutdown_write() {
    let (a, b) = pair();
    let listener = TcpListener::bind(&b, "10.0.0.2:8085").unwrap();
    let c = TcpStream::connect(&a, "10.0.0.2:8085").unwrap();
    let (_s, _) = listener.accept().unwrap();
    c.set_nonblocking(true).unwrap();
    c.shutdown(Shutdown::Write).unwrap();
    let mut poll = Poll::new(&a);
    poll.register(&c, Token(1), Interest::WRITABLE).unwrap();
    let mut events = Events::with_capacity(4);
    assert_eq!(poll.wait(&mut events, Some(PATIENCE)).unwrap(), 1);
    let e = *events.iter().next().unwrap();
    assert!(e.is_writable(), "{e:?}");
    assert_eq!((&c).write(b"x").unwrap_err().kind(), ErrorKind::BrokenPipe);
}

/// mio's `is_read_closed` (epoll: `EPOLLHUP`, or `EPOLLIN` with `EPOLLRDHUP`): the peer's
/// shutdown(Write) shows in the event while the data it sent before still waits, so a poll
/// loop tells "peer closed its side" from "data to read" without reading. Writing is still
/// open (`is_write_closed` false) until the peer resets, when both are closed.
#[test]
fn poll_reports_read_closed_while_data_is_still_readable() {
    let (a, b) = pair();
    let listener = TcpListener::bind(&b, "10.0.0.2:8086").unwrap();
    let mut c = TcpStream::connect(&a, "10.0.0.2:8086").unwrap();
    let (mut s, _) = listener.accept().unwrap();
    c.set_nonblocking(true).unwrap();
    let mut poll = Poll::new(&a);
    poll.register(&c, Token(1), Interest::READABLE | Interest::WRITABLE)
        .unwrap();
    s.write_all(b"bye").unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    let deadline = std::time::Instant::now() + PATIENCE;
    let e = loop {
        let (e, _) = wait_for(&mut poll, Token(1));
        if e.is_read_closed() || std::time::Instant::now() > deadline {
            break e;
        }
    };
    assert!(
        e.is_readable() && e.is_read_closed() && !e.is_write_closed(),
        "{e:?}"
    );
    let mut buf = [0; 8];
    assert_eq!(c.read(&mut buf).unwrap(), 3, "the data is still there");
    assert_eq!(c.read(&mut buf).unwrap(), 0);
    // The peer resets: closed both ways.
    s.abort().unwrap();
    let deadline = std::time::Instant::now() + PATIENCE;
    let e = loop {
        let (e, _) = wait_for(&mut poll, Token(1));
        if e.is_write_closed() || std::time::Instant::now() > deadline {
            break e;
        }
    };
    assert!(
        e.is_read_closed() && e.is_write_closed() && e.is_error(),
        "{e:?}"
    );
}

/// mio's `Events::with_capacity(n)` bounds what one poll returns (epoll_wait's
/// `maxevents`): at most n events, the rest stay ready and, level-triggered, come in a later
/// poll. Fairly: five always-writable sockets polled with room for two are all reported
/// within three polls, none starved by the ones ahead of it. Capacity 0 is refused.
#[test]
fn a_poll_returns_at_most_the_events_capacity_and_reports_the_rest_later() {
    let (a, _b) = pair();
    let mut poll = Poll::new(&a);
    let socks: Vec<UdpSocket> = (0..5)
        .map(|i| UdpSocket::bind(&a, format!("10.0.0.1:{}", 5100 + i)).unwrap())
        .collect();
    for (i, s) in socks.iter().enumerate() {
        poll.register(s, Token(i), Interest::WRITABLE).unwrap();
    }
    let mut events = Events::with_capacity(2);
    assert_eq!(events.capacity(), 2);
    let mut seen = std::collections::BTreeSet::new();
    for round in 0..3 {
        let n = poll.wait(&mut events, Some(PATIENCE)).unwrap();
        assert_eq!(n, events.len());
        assert!((1..=2).contains(&n), "round {round}: {events:?}");
        seen.extend(events.iter().map(|e| e.token().0));
    }
    assert_eq!(seen.into_iter().collect::<Vec<_>>(), vec![0, 1, 2, 3, 4]);
    // No room at all is epoll_wait's EINVAL, not a wait that can never return an event.
    let e = poll
        .wait(&mut Events::with_capacity(0), Some(PATIENCE))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
}

/// A dropped socket's one "gone" report is not lost when it does not fit in the events:
/// the registration is forgotten only once it was reported.
#[test]
fn a_dropped_socket_beyond_the_events_capacity_is_reported_later() {
    let (a, _b) = pair();
    let mut poll = Poll::new(&a);
    for i in 0..3 {
        let s = UdpSocket::bind(&a, format!("10.0.0.1:{}", 5200 + i)).unwrap();
        poll.register(&s, Token(i), Interest::READABLE).unwrap();
    }
    let mut events = Events::with_capacity(1);
    let mut gone = Vec::new();
    for _ in 0..3 {
        assert_eq!(poll.wait(&mut events, Some(PATIENCE)).unwrap(), 1);
        let e = *events.iter().next().unwrap();
        assert!(e.is_error() && e.is_hangup(), "{e:?}");
        gone.push(e.token().0);
    }
    gone.sort();
    assert_eq!(gone, vec![0, 1, 2]);
    assert_eq!(
        poll.wait(&mut events, Some(Duration::from_millis(50)))
            .unwrap(),
        0
    );
}
