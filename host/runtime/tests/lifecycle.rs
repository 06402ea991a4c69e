//! Starting and stopping runtimes: pollers are joined, blocked callers are released.

mod common;

use common::{pair, within};
use oxnic_runtime::{mem_wire, Runtime, RuntimeError, TcpListener, TcpStream};
use oxnic_stack::wire::ethernet::EthernetAddress;
use oxnic_stack::DeviceCaps;
use std::io::{Read, Write};
use std::time::Duration;

#[test]
fn dropping_runtimes_joins_pollers_with_live_connections() {
    within(Duration::from_secs(30), || {
        let (a, b) = pair();
        let listener = TcpListener::bind(&b, "10.0.0.2:9000").unwrap();
        let mut c = TcpStream::connect(&a, "10.0.0.2:9000").unwrap();
        let (mut s, _) = listener.accept().unwrap();
        c.write_all(b"x").unwrap();
        let mut one = [0; 1];
        s.read_exact(&mut one).unwrap();
        drop(a);
        drop(b);
        // Sockets outlive their runtimes: calls fail instead of hanging.
        let e = s.read(&mut one).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::Other);
    });
}

#[test]
fn shutdown_releases_a_thread_blocked_in_accept() {
    within(Duration::from_secs(30), || {
        let (_a, mut b) = pair();
        let listener = TcpListener::bind(&b, "10.0.0.2:9001").unwrap();
        let blocked = std::thread::spawn(move || listener.accept().map(|_| ()));
        // Give it a moment to block (correct either way: a call after shutdown fails too).
        std::thread::sleep(Duration::from_millis(50));
        b.shutdown();
        let r = blocked.join().unwrap();
        assert_eq!(r.unwrap_err().kind(), std::io::ErrorKind::Other);
    });
}

#[test]
fn bad_interface_address_is_refused() {
    let (pa, _pb) = mem_wire();
    let r = Runtime::builder()
        .interface(
            "eth0",
            EthernetAddress([2, 0, 0, 0, 0, 1]),
            DeviceCaps::default(),
            "10.0.0.1",
            pa,
        )
        .start();
    assert!(matches!(r, Err(RuntimeError::BadAddress(_))), "{r:?}");
}

#[test]
fn routes_and_stack_access() {
    let (pa, _pb) = mem_wire();
    let rt = Runtime::builder()
        .interface(
            "eth0",
            EthernetAddress([2, 0, 0, 0, 0, 1]),
            DeviceCaps::default(),
            "10.0.0.1/24",
            pa,
        )
        .route("0.0.0.0/0", "10.0.0.254".parse().unwrap())
        .start()
        .unwrap();
    let ifindex = rt.ifindex("eth0").unwrap();
    let nh = rt.with_stack(|st, _| st.routes().lookup("192.0.2.1".parse().unwrap()));
    let nh = nh.expect("default route");
    assert_eq!(nh.ifindex, ifindex);
    // The secret was seeded from the OS, not left at the fixed default.
    let secret = rt.with_stack(|st, _| st.tcp_config().secret);
    assert_ne!(&secret, b"oxnic-tcp-secret");
    let (pc, _pd) = mem_wire();
    let r = Runtime::builder()
        .interface(
            "eth0",
            EthernetAddress([2, 0, 0, 0, 0, 1]),
            DeviceCaps::default(),
            "10.0.0.1/24",
            pc,
        )
        .route("0.0.0.0/0", "10.9.9.9".parse().unwrap())
        .start();
    assert!(
        matches!(r, Err(RuntimeError::GatewayUnreachable(_))),
        "{r:?}"
    );
}
