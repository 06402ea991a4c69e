//! Blocking TCP between two runtimes over an in-memory wire, on real threads and wall time.

mod common;

use common::{pair, pair_with, within, PATIENCE};
use oxnic_runtime::{TcpListener, TcpStream};
use oxnic_stack::DeviceCaps;
use sha2::{Digest, Sha256};
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::time::{Duration, Instant};

/// Deterministic test bytes (xorshift64).
fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// An echo server for one connection: returns the bytes it echoed.
fn echo_once(listener: TcpListener) -> std::thread::JoinHandle<std::io::Result<usize>> {
    std::thread::spawn(move || {
        let (mut s, _) = listener.accept()?;
        let mut buf = vec![0; 64 * 1024];
        let mut total = 0;
        loop {
            let n = s.read(&mut buf)?;
            if n == 0 {
                s.shutdown(Shutdown::Write)?;
                return Ok(total);
            }
            s.write_all(&buf[..n])?;
            total += n;
        }
    })
}

fn echo_10mb(label: &str, caps: DeviceCaps) -> f64 {
    const LEN: usize = 10 * 1024 * 1024;
    let (a, b) = pair_with(caps);
    let listener = TcpListener::bind(&b, "10.0.0.2:7000").expect("bind");
    let server = echo_once(listener);
    let data = pattern(LEN, 42);
    let want = Sha256::digest(&data);
    let start = Instant::now();
    let client = TcpStream::connect(&a, "10.0.0.2:7000").expect("connect");
    assert_eq!(
        client.peer_addr().unwrap(),
        "10.0.0.2:7000".parse::<SocketAddr>().unwrap()
    );
    // Write from one thread and read from another, or both sides stall on full buffers.
    let mut writer = client.try_clone().expect("clone");
    let w = std::thread::spawn(move || -> std::io::Result<()> {
        for chunk in data.chunks(100_000) {
            writer.write_all(chunk)?;
        }
        writer.shutdown(Shutdown::Write)
    });
    let mut got = Vec::with_capacity(LEN);
    (&client).read_to_end(&mut got).expect("read back");
    let secs = start.elapsed().as_secs_f64();
    w.join().expect("writer thread").expect("writes");
    assert_eq!(server.join().expect("server thread").expect("echo"), LEN);
    assert_eq!(got.len(), LEN);
    assert_eq!(Sha256::digest(&got), want, "echoed bytes differ");
    // Figures, not asserts: both directions carry 10 MiB.
    let mbps = 2.0 * LEN as f64 / secs / 1e6;
    eprintln!("10 MiB echo, {label}: {secs:.2} s, {mbps:.1} MB/s both ways");
    mbps
}

#[test]
fn echo_10_mb_round_trip_is_byte_exact() {
    within(Duration::from_secs(120), || {
        echo_10mb("no offloads", DeviceCaps::default())
    });
}

#[test]
fn echo_10_mb_with_offloads_done_by_the_wire() {
    // TSO super-packets and partial checksums, finished in software by the MemPort.
    within(Duration::from_secs(120), || {
        echo_10mb("TSO + TX checksum", DeviceCaps::all_offloads(1500))
    });
}

#[test]
fn connect_to_a_closed_port_is_refused() {
    let (a, _b) = pair();
    let e = TcpStream::connect(&a, "10.0.0.2:9").expect_err("nobody listens on 9");
    assert_eq!(e.kind(), ErrorKind::ConnectionRefused);
}

/// A connect through a router that has no route onward fails as soon as the router's ICMP
/// net unreachable comes back, with `NetworkUnreachable` (ENETUNREACH, Linux `tcp_v4_err`
/// in SYN-SENT), not after the SYN retries with `TimedOut`.
#[test]
fn connect_through_a_router_without_a_route_is_network_unreachable() {
    use oxnic_runtime::{mem_wire, Runtime};
    use oxnic_stack::stack::StackConfig;
    use oxnic_stack::wire::ethernet::EthernetAddress;
    within(PATIENCE, || {
        let (pa, pb) = mem_wire();
        let a = Runtime::builder()
            .interface(
                "eth0",
                EthernetAddress([2, 0, 0, 0, 0, 1]),
                DeviceCaps::default(),
                "10.0.0.1/24",
                pa,
            )
            .route("10.9.0.0/16", "10.0.0.2".parse().unwrap())
            .start()
            .unwrap();
        // B forwards, and knows no 10.9/16.
        let b = Runtime::builder()
            .config(StackConfig {
                forwarding: true,
                ..StackConfig::default()
            })
            .interface(
                "eth0",
                EthernetAddress([2, 0, 0, 0, 0, 2]),
                DeviceCaps::default(),
                "10.0.0.2/24",
                pb,
            )
            .start()
            .unwrap();
        let to: SocketAddr = "10.9.0.1:80".parse().unwrap();
        // A connect that waited out its timeout would fail with `TimedOut`/`WouldBlock`:
        // the kind alone shows it ended on B's ICMP error, without timing the call.
        let e = TcpStream::connect_timeout(&a, &to, Duration::from_secs(5))
            .expect_err("no route beyond B");
        assert_eq!(e.kind(), ErrorKind::NetworkUnreachable, "{e}");
        drop((a, b));
    });
}

#[test]
fn connect_timeout_to_a_silent_host_times_out() {
    let (a, _b) = pair();
    let to: SocketAddr = "10.0.0.3:80".parse().unwrap();
    let e = TcpStream::connect_timeout(&a, &to, Duration::from_millis(300))
        .expect_err("10.0.0.3 does not exist");
    assert_eq!(e.kind(), ErrorKind::TimedOut);
}

#[test]
fn read_timeout_expires_with_would_block_and_stream_stays_usable() {
    let (a, b) = pair();
    let listener = TcpListener::bind(&b, "10.0.0.2:7001").unwrap();
    let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        // Stay silent until the client has seen its timeout, then answer.
        go_rx.recv().unwrap();
        s.write_all(b"late").unwrap();
        s
    });
    let mut c = TcpStream::connect(&a, "10.0.0.2:7001").unwrap();
    c.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    assert_eq!(c.read_timeout().unwrap(), Some(Duration::from_millis(200)));
    let mut buf = [0; 16];
    let e = c.read(&mut buf).expect_err("nothing was sent");
    assert!(
        matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
        "{e:?}"
    );
    assert_eq!(
        c.set_read_timeout(Some(Duration::ZERO)).unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    c.set_read_timeout(Some(PATIENCE)).unwrap();
    go_tx.send(()).unwrap();
    let mut got = [0; 4];
    c.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"late");
    drop(server.join().unwrap());
}

#[test]
fn nonblocking_read_would_block_at_once() {
    let (a, b) = pair();
    let listener = TcpListener::bind(&b, "10.0.0.2:7002").unwrap();
    let server = std::thread::spawn(move || listener.accept().unwrap().0);
    let mut c = TcpStream::connect(&a, "10.0.0.2:7002").unwrap();
    let _s = server.join().unwrap();
    c.set_nonblocking(true).unwrap();
    let mut buf = [0; 8];
    assert_eq!(c.read(&mut buf).unwrap_err().kind(), ErrorKind::WouldBlock);
}

#[test]
fn shutdown_write_gives_peer_eof_while_it_can_still_answer() {
    let (a, b) = pair();
    let listener = TcpListener::bind(&b, "10.0.0.2:7003").unwrap();
    let server = std::thread::spawn(move || {
        let (mut s, peer) = listener.accept().unwrap();
        let mut got = Vec::new();
        // read_to_end returns at the client's FIN: Ok(0).
        s.read_to_end(&mut got).unwrap();
        assert_eq!(s.read(&mut [0; 4]).unwrap(), 0, "EOF stays EOF");
        s.write_all(b"pong after your FIN").unwrap();
        (got, peer)
    });
    let mut c = TcpStream::connect(&a, "10.0.0.2:7003").unwrap();
    c.write_all(b"ping").unwrap();
    c.shutdown(Shutdown::Write).unwrap();
    assert_eq!(
        c.write(b"more").unwrap_err().kind(),
        ErrorKind::BrokenPipe,
        "no writes after shutdown(Write)"
    );
    let (got, peer) = server.join().unwrap();
    assert_eq!(got, b"ping");
    assert_eq!(peer, c.local_addr().unwrap());
    let mut back = Vec::new();
    c.read_to_end(&mut back).unwrap();
    assert_eq!(back, b"pong after your FIN");
}

/// The server aborts only once the client's connect has returned: a reset that closes the
/// connection before that fails the connect itself (`__inet_stream_connect`), which
/// `wakeups_and_errors.rs` tests.
#[test]
fn abort_resets_the_peer() {
    let (a, b) = pair();
    let listener = TcpListener::bind(&b, "10.0.0.2:7004").unwrap();
    let (connected, wait_connected) = std::sync::mpsc::channel();
    let server = std::thread::spawn(move || {
        let (s, _) = listener.accept().unwrap();
        wait_connected.recv().unwrap();
        s.abort().unwrap();
    });
    let mut c = TcpStream::connect(&a, "10.0.0.2:7004").unwrap();
    connected.send(()).unwrap();
    server.join().unwrap();
    let e = c.read(&mut [0; 8]).expect_err("reset");
    assert_eq!(e.kind(), ErrorKind::ConnectionReset);
}

#[test]
fn incoming_serves_sequential_clients_and_bind_port_zero_picks_one() {
    let (a, b) = pair();
    let listener = TcpListener::bind(&b, "10.0.0.2:0").unwrap();
    let addr = listener.local_addr().unwrap();
    assert_ne!(addr.port(), 0);
    assert_eq!(
        TcpListener::bind(&b, addr).unwrap_err().kind(),
        ErrorKind::AddrInUse
    );
    let server = std::thread::spawn(move || {
        for s in listener.incoming().take(3) {
            let mut s = s.unwrap();
            s.set_nodelay(true).unwrap();
            assert!(s.nodelay().unwrap());
            let mut b = [0; 1];
            s.read_exact(&mut b).unwrap();
            s.write_all(&[b[0] + 1]).unwrap();
        }
    });
    for i in 0..3u8 {
        let mut c = TcpStream::connect(&a, addr).unwrap();
        c.write_all(&[i]).unwrap();
        let mut b = [0; 1];
        c.read_exact(&mut b).unwrap();
        assert_eq!(b[0], i + 1);
    }
    server.join().unwrap();
}

/// `TCP_USER_TIMEOUT` through the runtime (socket2's `set_tcp_user_timeout`): when the peer's
/// host stops (its runtime shuts down, so nothing answers any more), a write is acknowledged
/// by no one and the stream fails with `TimedOut` after about the user timeout, not after the
/// quarter of an hour of retransmissions the default allows. An accepted stream starts with
/// its listener's setting; zero means the default.
#[test]
fn a_user_timeout_ends_a_stream_whose_peer_went_away() {
    let (a, mut b) = pair();
    let listener = TcpListener::bind(&b, "10.0.0.2:7341").unwrap();
    listener
        .set_tcp_user_timeout(Some(Duration::from_secs(9)))
        .unwrap();
    assert_eq!(
        listener.tcp_user_timeout().unwrap(),
        Some(Duration::from_secs(9))
    );
    let mut c = TcpStream::connect(&a, "10.0.0.2:7341").unwrap();
    let (s, _) = listener.accept().unwrap();
    assert_eq!(
        s.tcp_user_timeout().unwrap(),
        Some(Duration::from_secs(9)),
        "inherited"
    );
    assert_eq!(c.tcp_user_timeout().unwrap(), None);
    c.set_tcp_user_timeout(Some(Duration::ZERO)).unwrap();
    assert_eq!(c.tcp_user_timeout().unwrap(), None, "zero is the default");
    c.set_tcp_user_timeout(Some(Duration::from_secs(1)))
        .unwrap();
    // B's host stops with the connection open (closing `s` first would send a FIN). When the
    // connection ends is pinned in virtual time by the stack's tests
    // (`tcp_timeouts.rs::unacknowledged_data_ends_the_connection_at_the_user_timeout`); here
    // the error must reach the stream, well before the default's quarter of an hour.
    b.shutdown();
    let err = within(PATIENCE, move || {
        c.write_all(b"anyone there?").unwrap();
        c.read(&mut [0; 8]).unwrap_err().kind()
    });
    assert_eq!(err, ErrorKind::TimedOut);
    drop((s, listener));
}

/// Keepalive through the runtime (socket2's `set_keepalive` and `set_tcp_keepalive`): a
/// stream that only waits to read finds out that the peer's host stopped, after the idle
/// time and the unanswered probes (1 s idle, two probes 1 s apart), with `TimedOut`; an
/// accepted stream starts with its listener's switch and settings; settings out of Linux's
/// bounds are `InvalidInput`.
#[test]
fn keepalive_finds_a_peer_that_went_away() {
    use oxnic_runtime::KeepaliveParams;
    let (mut a, b) = pair();
    let listener = TcpListener::bind(&b, "10.0.0.2:7342").unwrap();
    let fast = KeepaliveParams {
        idle: Some(Duration::from_secs(1)),
        interval: Some(Duration::from_secs(1)),
        count: Some(2),
    };
    listener.set_keepalive(true).unwrap();
    listener.set_keepalive_params(fast).unwrap();
    assert!(listener.keepalive().unwrap());
    let c = TcpStream::connect(&a, "10.0.0.2:7342").unwrap();
    let (mut s, _) = listener.accept().unwrap();
    assert!(s.keepalive().unwrap(), "inherited");
    assert_eq!(s.keepalive_params().unwrap(), fast);
    assert!(!c.keepalive().unwrap());
    let bad = KeepaliveParams {
        count: Some(0),
        ..KeepaliveParams::default()
    };
    assert_eq!(
        s.set_keepalive_params(bad).unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    // A's host stops with the connection open: nothing will answer B's probes. When the
    // connection ends is pinned in virtual time by the stack's tests
    // (`tcp_timeouts.rs::a_socket_s_own_keepalive_settings_find_a_dead_peer`); here the error
    // must reach a stream that only waits to read.
    a.shutdown();
    let err = within(PATIENCE, move || s.read(&mut [0; 8]).unwrap_err().kind());
    assert_eq!(err, ErrorKind::TimedOut);
    drop(c);
}
