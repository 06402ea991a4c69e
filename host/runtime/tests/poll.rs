//! A single-threaded, Poll-driven echo server on non-blocking sockets serving 20 clients at
//! once, each a thread with a blocking stream.

mod common;

use common::{pair, within, PATIENCE};
use oxnic_runtime::{Events, Interest, Poll, TcpListener, TcpStream, Token};
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
