//! What idle registrations cost a [`Poll::wait`]: N established, idle TCP streams registered
//! for reading plus one stream with data waiting, and a wait that does not block
//! (`Duration::ZERO`). epoll's wait costs O(ready sockets); this should not grow with N.
//!
//! `cargo bench -p oxnic-runtime --bench poll_idle -- --quick`

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use oxnic_runtime::{mem_wire, Events, Interest, Poll, Runtime, TcpListener, TcpStream, Token};
use oxnic_stack::wire::ethernet::EthernetAddress;
use oxnic_stack::DeviceCaps;
use std::hint::black_box;
use std::io::{Read, Write};
use std::time::Duration;

/// Two runtimes on an in-memory wire: A = 10.0.0.1/24, B = 10.0.0.2/24.
fn pair() -> (Runtime, Runtime) {
    let (pa, pb) = mem_wire();
    let rt = |mac: u8, addr: &str, port| {
        Runtime::builder()
            .interface(
                "eth0",
                EthernetAddress([2, 0, 0, 0, 0, mac]),
                DeviceCaps::default(),
                addr,
                port,
            )
            .start()
            .expect("runtime starts")
    };
    (rt(1, "10.0.0.1/24", pa), rt(2, "10.0.0.2/24", pb))
}

/// `n` established streams from A to B (the clients on A, the accepted ends on B), and one
/// more whose A end has data waiting to be read.
struct Setup {
    a: Runtime,
    _b: Runtime,
    clients: Vec<TcpStream>,
    _servers: Vec<TcpStream>,
    ready: TcpStream,
}

fn setup(n: usize) -> Setup {
    let (a, b) = pair();
    let lis = TcpListener::bind_with_backlog(&b, "10.0.0.2:80", 1024).expect("listen");
    let mut clients = Vec::with_capacity(n);
    let mut servers = Vec::with_capacity(n);
    for _ in 0..n {
        clients.push(TcpStream::connect(&a, "10.0.0.2:80").expect("connect"));
        servers.push(lis.accept().expect("accept").0);
    }
    let ready = TcpStream::connect(&a, "10.0.0.2:80").expect("connect");
    let (mut peer, _) = lis.accept().expect("accept");
    peer.write_all(b"ready").expect("write");
    let mut one = [0u8; 1];
    ready.peek(&mut one).expect("the data arrived");
    servers.push(peer);
    // Past handshakes and delayed ACKs: the idle streams have nothing left to do.
    std::thread::sleep(Duration::from_millis(300));
    Setup {
        a,
        _b: b,
        clients,
        _servers: servers,
        ready,
    }
}

fn idle_wait(c: &mut Criterion) {
    let mut g = c.benchmark_group("poll_idle");
    for n in [10, 1000, 10_000] {
        let s = setup(n);
        let mut poll = Poll::new(&s.a);
        for (i, st) in s.clients.iter().enumerate() {
            poll.register(st, Token(i), Interest::READABLE)
                .expect("register");
        }
        poll.register(&s.ready, Token(usize::MAX), Interest::READABLE)
            .expect("register");
        let mut events = Events::with_capacity(64);
        assert_eq!(poll.wait(&mut events, Some(Duration::ZERO)).unwrap(), 1);
        g.bench_with_input(BenchmarkId::new("wait_one_ready", n), &n, |b, _| {
            b.iter(|| black_box(poll.wait(&mut events, Some(Duration::ZERO)).unwrap()))
        });
        assert_eq!(events.len(), 1, "only the ready stream is reported");
        let mut buf = [0u8; 8];
        let mut r = &s.ready;
        assert_eq!(r.read(&mut buf).unwrap(), 5);
    }
    g.finish();
}

criterion_group!(benches, idle_wait);
criterion_main!(benches);
