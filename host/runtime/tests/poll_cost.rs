//! What a `Poll::wait` costs with many registered, idle sockets: as with epoll, a wait checks
//! the sockets whose state changed and the ones ready at the last wait, not every
//! registration. `Poll::stats` counts the readiness checks.

mod common;

use common::{pair, PATIENCE};
use oxnic_runtime::{Events, Interest, Poll, TcpListener, TcpStream, Token, UdpSocket};
use std::io::{Read, Write};
use std::time::Duration;

const IDLE: usize = 1000;

/// Most checks a wait may make when one socket changed. The waits are woken by every frame
/// (the data and its ACK), and each wake checks the changed socket again; 1000 would mean a
/// scan of every registration.
const FEW: u64 = 50;

/// `n` established streams from A to B: (A's ends, B's ends).
fn streams(
    a: &oxnic_runtime::Runtime,
    b: &oxnic_runtime::Runtime,
    n: usize,
) -> (Vec<TcpStream>, Vec<TcpStream>) {
    let lis = TcpListener::bind_with_backlog(b, "10.0.0.2:80", 1024).unwrap();
    let mut clients = Vec::with_capacity(n);
    let mut servers = Vec::with_capacity(n);
    for _ in 0..n {
        clients.push(TcpStream::connect(a, "10.0.0.2:80").unwrap());
        servers.push(lis.accept().unwrap().0);
    }
    (clients, servers)
}

/// Waits (up to [`PATIENCE`]) until a wait reports something; returns the tokens reported
/// and the readiness checks that took.
fn next_events(poll: &mut Poll, events: &mut Events) -> (Vec<usize>, u64) {
    let before = poll.stats().evaluated;
    let n = poll.wait(events, Some(PATIENCE)).unwrap();
    assert!(n > 0, "nothing reported within {PATIENCE:?}");
    let mut t: Vec<usize> = events.iter().map(|e| e.token().0).collect();
    t.sort_unstable();
    (t, poll.stats().evaluated - before)
}

/// A non-blocking wait: the tokens reported and the checks it took.
fn poll_now(poll: &mut Poll, events: &mut Events) -> (Vec<usize>, u64) {
    let before = poll.stats().evaluated;
    poll.wait(events, Some(Duration::ZERO)).unwrap();
    let mut t: Vec<usize> = events.iter().map(|e| e.token().0).collect();
    t.sort_unstable();
    (t, poll.stats().evaluated - before)
}

/// 1000 idle streams registered: a stream that becomes readable is reported by a wait that
/// checks it (and the few that changed), not all 1000; it is reported again while it stays
/// readable (level-triggered) and no longer once drained, each of those waits cheap too.
#[test]
fn a_wait_checks_the_streams_that_changed_not_every_idle_one() {
    let (a, b) = pair();
    let (clients, mut servers) = streams(&a, &b, IDLE);
    let mut poll = Poll::new(&a);
    for (i, s) in clients.iter().enumerate() {
        poll.register(s, Token(i), Interest::READABLE).unwrap();
    }
    let mut events = Events::with_capacity(64);
    // The first wait checks every registration once: none is readable.
    let (t, n) = poll_now(&mut poll, &mut events);
    assert_eq!(t, Vec::<usize>::new());
    assert!(n >= IDLE as u64, "{n}");
    assert_eq!(poll.stats().rescans, 1);
    let (t, n) = poll_now(&mut poll, &mut events);
    assert_eq!(t, Vec::<usize>::new());
    assert!(n < FEW, "an idle wait checked {n} registrations");

    servers[500].write_all(b"hello").unwrap();
    let (t, n) = next_events(&mut poll, &mut events);
    assert_eq!(t, vec![500]);
    assert!(n < FEW, "the wait checked {n} registrations for one change");
    // Level-triggered: still readable, still reported, without the stack logging anything.
    for _ in 0..3 {
        let (t, n) = poll_now(&mut poll, &mut events);
        assert_eq!(t, vec![500]);
        assert!(n < FEW, "{n}");
    }
    let mut buf = [0u8; 16];
    assert_eq!((&clients[500]).read(&mut buf).unwrap(), 5);
    let (t, n) = poll_now(&mut poll, &mut events);
    assert_eq!(t, Vec::<usize>::new(), "drained: no longer readable");
    assert!(n < FEW, "{n}");
    assert_eq!(poll.stats().rescans, 1, "no rescan after the first wait");

    // A peer's FIN (read hang-up) on another one is seen the same way.
    servers[7].shutdown(std::net::Shutdown::Write).unwrap();
    let (t, n) = next_events(&mut poll, &mut events);
    assert_eq!(t, vec![7]);
    assert!(events.iter().next().unwrap().is_read_closed());
    assert!(n < FEW, "{n}");
    drop(servers.drain(..));
}

/// The same for UDP sockets: a datagram makes one of 1000 readable and the wait checks few.
#[test]
fn a_wait_checks_the_udp_sockets_that_changed_not_every_idle_one() {
    let (a, b) = pair();
    let socks: Vec<UdpSocket> = (0..IDLE)
        .map(|i| UdpSocket::bind(&a, format!("10.0.0.1:{}", 20_000 + i)).unwrap())
        .collect();
    let mut poll = Poll::new(&a);
    for (i, s) in socks.iter().enumerate() {
        poll.register(s, Token(i), Interest::READABLE).unwrap();
    }
    let mut events = Events::with_capacity(64);
    assert_eq!(poll_now(&mut poll, &mut events).0, Vec::<usize>::new());
    let peer = UdpSocket::bind(&b, "10.0.0.2:0").unwrap();
    peer.send_to(b"x", "10.0.0.1:20321").unwrap();
    let (t, n) = next_events(&mut poll, &mut events);
    assert_eq!(t, vec![321]);
    assert!(n < FEW, "the wait checked {n} registrations for one change");
    let mut buf = [0u8; 4];
    assert_eq!(socks[321].recv_from(&mut buf).unwrap().0, 1);
    assert_eq!(poll_now(&mut poll, &mut events).0, Vec::<usize>::new());
    assert_eq!(poll.stats().rescans, 1);
}

/// A registration whose new interest is already satisfied is reported by the next wait,
/// although the socket itself did not change; a dropped idle socket is reported gone once.
#[test]
fn reregistering_and_dropping_are_seen_without_a_rescan() {
    let (a, b) = pair();
    let (mut clients, _servers) = streams(&a, &b, 100);
    let mut poll = Poll::new(&a);
    for (i, s) in clients.iter().enumerate() {
        poll.register(s, Token(i), Interest::READABLE).unwrap();
    }
    let mut events = Events::with_capacity(64);
    assert_eq!(poll_now(&mut poll, &mut events).0, Vec::<usize>::new());
    // Idle streams are writable: asking for it is answered at once.
    poll.reregister(&clients[40], Token(40), Interest::WRITABLE)
        .unwrap();
    let (t, n) = poll_now(&mut poll, &mut events);
    assert_eq!(t, vec![40]);
    assert!(events.iter().next().unwrap().is_writable());
    assert!(n < FEW, "{n}");
    // Still writable: reported again (level-triggered), then not once the interest is back.
    assert_eq!(poll_now(&mut poll, &mut events).0, vec![40]);
    poll.reregister(&clients[40], Token(40), Interest::READABLE)
        .unwrap();
    assert_eq!(poll_now(&mut poll, &mut events).0, Vec::<usize>::new());

    drop(clients.remove(60));
    let (t, n) = poll_now(&mut poll, &mut events);
    assert_eq!(t, vec![60]);
    let e = *events.iter().next().unwrap();
    assert!(e.is_error() && e.is_hangup(), "{e:?}");
    assert!(n < FEW, "{n}");
    assert_eq!(poll_now(&mut poll, &mut events).0, Vec::<usize>::new());
    assert_eq!(poll.stats().rescans, 1);
}

/// When the stack's bounded change log no longer reaches back to a poll's last wait (other
/// pollers read it and many sockets changed meanwhile), the poll checks every registration
/// again and misses nothing: a datagram that arrived before the log overflowed is reported.
#[test]
fn a_poll_the_change_log_left_behind_rescans_and_misses_nothing() {
    const N: usize = 200;
    let (a, b) = pair();
    let socks: Vec<UdpSocket> = (0..N)
        .map(|i| UdpSocket::bind(&a, format!("10.0.0.1:{}", 21_000 + i)).unwrap())
        .collect();
    let mut slow = Poll::new(&a);
    let mut busy = Poll::new(&a);
    for (i, s) in socks.iter().enumerate() {
        slow.register(s, Token(i), Interest::READABLE).unwrap();
        busy.register(s, Token(i), Interest::READABLE).unwrap();
    }
    let mut events = Events::with_capacity(64);
    assert_eq!(poll_now(&mut slow, &mut events).0, Vec::<usize>::new());
    assert_eq!(slow.stats().rescans, 1);
    let peer = UdpSocket::bind(&b, "10.0.0.2:0").unwrap();
    peer.send_to(b"x", "10.0.0.1:21077").unwrap();
    assert_eq!(next_events(&mut busy, &mut events).0, vec![77]);
    // Every socket changes between each of the busy poll's waits: far more changes than the
    // log keeps (64 Ki).
    for round in 0..(70_000 / N) {
        for s in &socks {
            s.set_ttl(1 + (round % 200) as u32).unwrap();
        }
        poll_now(&mut busy, &mut events);
    }
    let before = slow.stats();
    let (t, n) = poll_now(&mut slow, &mut events);
    assert_eq!(t, vec![77], "the readable socket is found by the rescan");
    assert_eq!(slow.stats().rescans, before.rescans + 1);
    assert!(n >= N as u64, "{n}");
    // Back on the log: cheap again, and still level-triggered.
    let (t, n) = poll_now(&mut slow, &mut events);
    assert_eq!(t, vec![77]);
    assert!(n < FEW, "{n}");
    let mut buf = [0u8; 4];
    assert_eq!(socks[77].recv_from(&mut buf).unwrap().0, 1);
    assert_eq!(poll_now(&mut slow, &mut events).0, Vec::<usize>::new());
}
