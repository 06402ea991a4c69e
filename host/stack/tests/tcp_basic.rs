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

#[test]
fn reading_in_place_reopens_the_window_and_sees_end_of_stream() {
    let (mut net, _, _) = two_hosts(DeviceCaps::default(), Duration::from_millis(1));
    let (_l, c, s) = connected(&mut net);
    // A 16 KiB receive buffer: the 200 KB only get through if each read in place reopens the
    // window as a copying read does (waiting for zero-window probes would take seconds).
    net.stacks[1].tcp_set_rcvbuf(s, 16 << 10).unwrap();
    let data: Vec<u8> = (0..200_000).map(|i| (i % 251) as u8).collect();
    let mut sent = 0;
    let mut got = Vec::new();
    let mut calls = 0;
    let deadline = net.now() + Duration::from_secs(1);
    while got.len() < data.len() {
        assert!(
            net.now() < deadline,
            "stalled at {} of {} bytes",
            got.len(),
            data.len()
        );
        let now = net.now();
        if sent < data.len() {
            match net.stacks[0].tcp_send(c, &data[sent..], now) {
                Ok(n) => sent += n,
                Err(TcpError::WouldBlock) => {}
                Err(e) => panic!("send failed: {e}"),
            }
        }
        net.run_for(Duration::from_millis(1)).unwrap();
        let now = net.now();
        loop {
            // At most 1000 bytes of each slice: the rest stays for the next read.
            let r = net.stacks[1].tcp_recv_with(
                s,
                |b| {
                    calls += 1;
                    let take = b.len().min(1000);
                    got.extend_from_slice(&b[..take]);
                    take
                },
                now,
            );
            match r {
                Ok(0) => panic!("end of stream before the data"),
                Ok(_) => {}
                Err(TcpError::WouldBlock) => break,
                Err(e) => panic!("recv failed: {e}"),
            }
        }
    }
    assert!(
        got == data,
        "the bytes read in place differ from those sent"
    );
    assert!(calls >= data.len() / 1000, "{calls} slices handed over");
    let now = net.now();
    net.stacks[0].tcp_close(c, now).unwrap();
    net.run_for(Duration::from_millis(10)).unwrap();
    let now = net.now();
    assert_eq!(net.stacks[1].tcp_recv_with(s, |b| b.len(), now), Ok(0));
}

/// Listens on stack `s` on every ephemeral port but `free`, on the addresses of `on` in
/// turn, so that the port pickers' walks, wherever they start, can only end on a port of
/// `free` or on one of these.
fn hold_ephemeral_ports_but(net: &mut Net, s: usize, free: &[u16], on: &[&str]) {
    let held = EPHEMERAL.filter(|p| !free.contains(p));
    for (k, port) in held.enumerate() {
        net.stacks[s]
            .tcp_listen(addr(on[k % on.len()], port), 1)
            .unwrap();
    }
}

/// Linux `__inet_hash_connect` passes over a port a bind() holds, whatever its address:
/// connect's source port is never a listener's, even one on another local address.
#[test]
fn connect_never_takes_a_port_a_listener_holds() {
    let (mut net, a_if, _) = two_hosts(DeviceCaps::default(), Duration::from_millis(1));
    let now = net.now();
    net.stacks[0]
        .add_address(a_if, "10.0.0.11".parse().unwrap(), 24, now)
        .unwrap();
    // Listeners on the route's source address, the wildcard and another local address,
    // a third of the range each: only the free ports are left.
    let free = [33_001, 45_000, 58_002];
    hold_ephemeral_ports_but(&mut net, 0, &free, &["10.0.0.1", "0.0.0.0", "10.0.0.11"]);
    net.stacks[1].tcp_listen(addr("0.0.0.0", 80), 4).unwrap();
    let c = net.stacks[0]
        .tcp_connect(addr("10.0.0.2", 80), now)
        .unwrap();
    let local = net.stacks[0].tcp_local_addr(c).unwrap();
    assert!(free.contains(&local.port()), "{local}");
    net.run_for(Duration::from_millis(10)).unwrap();
    assert_eq!(net.stacks[0].tcp_state(c).unwrap(), TcpState::Established);
}

/// A connection that bound its port (connect from a chosen port) keeps it from connect's
/// picker as a listener does (Linux: its bind bucket has `fastreuse >= 0`), even for another
/// destination where the 4-tuple alone would be unique.
#[test]
fn connect_never_takes_a_port_an_explicitly_bound_connection_holds() {
    let (mut net, _, _) = two_hosts(DeviceCaps::default(), Duration::from_millis(1));
    let now = net.now();
    net.stacks[1].tcp_listen(addr("0.0.0.0", 80), 4).unwrap();
    net.stacks[1].tcp_listen(addr("0.0.0.0", 81), 4).unwrap();
    let bound = addr("10.0.0.1", 32768);
    // Only the bound connection's port and one other are left to connect's picker.
    let other = 47_001;
    hold_ephemeral_ports_but(&mut net, 0, &[bound.port(), other], &["0.0.0.0"]);
    net.stacks[0]
        .tcp_connect_from(bound, addr("10.0.0.2", 80), now)
        .unwrap();
    let c = net.stacks[0]
        .tcp_connect(addr("10.0.0.2", 81), now)
        .unwrap();
    let local = net.stacks[0].tcp_local_addr(c).unwrap();
    assert_eq!(local.port(), other);
}

/// Stack 1 with a connection accepted on port 32768 (from stack 0, which listens on 80) whose
/// listener has closed: the accepted connection alone holds the port.
fn accepted_on_32768_after_its_listener_closed() -> (Net, TcpHandle) {
    let (mut net, _, _) = two_hosts(DeviceCaps::default(), Duration::from_millis(1));
    let now = net.now();
    let l = net.stacks[1].tcp_listen(addr("0.0.0.0", 32768), 4).unwrap();
    net.stacks[0].tcp_listen(addr("0.0.0.0", 80), 4).unwrap();
    net.stacks[0]
        .tcp_connect(addr("10.0.0.2", 32768), now)
        .unwrap();
    net.run_for(Duration::from_millis(10)).unwrap();
    let (s, _) = net.stacks[1].tcp_accept(l).unwrap();
    let now = net.now();
    net.stacks[1].tcp_close(l, now).unwrap();
    (net, s)
}

/// Accepted connections share their listener's bound port, and keep holding it after the
/// listener closes (Linux: they are owners of its bind bucket): connect does not take it.
#[test]
fn connect_never_takes_the_port_of_a_closed_listeners_accepted_connection() {
    let (mut net, s) = accepted_on_32768_after_its_listener_closed();
    let now = net.now();
    // Only the accepted connection's port and one other are left to connect's picker.
    let other = 47_001;
    hold_ephemeral_ports_but(&mut net, 1, &[32768, other], &["0.0.0.0"]);
    let c = net.stacks[1]
        .tcp_connect(addr("10.0.0.1", 80), now)
        .unwrap();
    assert_eq!(net.stacks[1].tcp_state(s).unwrap(), TcpState::Established);
    assert_eq!(net.stacks[1].tcp_local_addr(c).unwrap().port(), other);
}

/// Linux `inet_csk_get_port` for a bind to port 0 (`inet_csk_find_open_port`) checks each
/// candidate port with `relax` false: the `SO_REUSEADDR` sharing an explicit bind allows does
/// not count, so a port any socket holds on an overlapping address is passed over. Accepted
/// connections (they share their listener's port, and keep it when it closes) and connections
/// from a chosen port let an explicit bind have their port (the server restart case), but a
/// listener asking for any port must not get it.
#[test]
fn listen_on_port_zero_skips_ports_of_accepted_and_bound_connections() {
    let (mut net, s) = accepted_on_32768_after_its_listener_closed();
    let now = net.now();
    let bound = net.stacks[1]
        .tcp_connect_from(addr("10.0.0.2", 32769), addr("10.0.0.1", 80), now)
        .unwrap();
    net.run_for(Duration::from_millis(10)).unwrap();
    assert_eq!(net.stacks[1].tcp_state(s).unwrap(), TcpState::Established);
    assert_eq!(
        net.stacks[1].tcp_state(bound).unwrap(),
        TcpState::Established
    );
    // Only the two connections' ports and two others are left to the picker.
    let others = [41_001, 52_000];
    hold_ephemeral_ports_but(
        &mut net,
        1,
        &[32768, 32769, others[0], others[1]],
        &["0.0.0.0"],
    );
    for ip in ["0.0.0.0", "10.0.0.2"] {
        let any = net.stacks[1].tcp_listen(addr(ip, 0), 4).unwrap();
        let port = net.stacks[1].tcp_local_addr(any).unwrap().port();
        assert!(others.contains(&port), "{ip}: got {port}");
    }
    // An explicit bind may still share the accepted connection's port (SO_REUSEADDR).
    net.stacks[1].tcp_listen(addr("0.0.0.0", 32768), 4).unwrap();
}

/// A port is held from the first socket's bind to the last holder's end, and no longer: a
/// listener, the connections it accepted (after it closed), a connection from the chosen
/// port, each in turn, the last one through its TIME-WAIT. With every other ephemeral port
/// taken, a listen on port 0 can only be given the port under test, or fail with
/// `NoFreePort`: it asks the strictest bind check there is (no `SO_REUSEADDR` sharing), so
/// the port is reported busy while any socket on it lives and free the moment none does. A
/// port index (Linux's bind hash) that missed a socket, or kept one gone, fails this.
#[test]
fn a_port_is_free_exactly_when_its_last_holder_is_gone() {
    const PORT: u16 = 40_000;
    let (mut net, _, _) = two_hosts(DeviceCaps::default(), Duration::from_millis(1));
    let b = 1;
    let any = addr("0.0.0.0", 0);
    // Whether a listen on port 0 gets PORT (then closed again) rather than no port at all.
    let free = |net: &mut Net| match net.stacks[b].tcp_listen(any, 4) {
        Ok(h) => {
            let port = net.stacks[b].tcp_local_addr(h).unwrap().port();
            let now = net.now();
            net.stacks[b].tcp_close(h, now).unwrap();
            assert_eq!(port, PORT);
            true
        }
        Err(e) => {
            assert_eq!(e, TcpError::NoFreePort);
            false
        }
    };
    let l = net.stacks[b].tcp_listen(addr("0.0.0.0", PORT), 8).unwrap();
    net.stacks[0].tcp_listen(addr("0.0.0.0", 80), 4).unwrap();
    for port in 32768..=60999 {
        if port != PORT {
            net.stacks[b].tcp_listen(addr("0.0.0.0", port), 1).unwrap();
        }
    }
    assert!(!free(&mut net), "the listener holds it");
    let now = net.now();
    let c1 = net.stacks[0]
        .tcp_connect(addr("10.0.0.2", PORT), now)
        .unwrap();
    let c2 = net.stacks[0]
        .tcp_connect(addr("10.0.0.2", PORT), now)
        .unwrap();
    net.run_for(Duration::from_millis(10)).unwrap();
    let (s1, _) = net.stacks[b].tcp_accept(l).unwrap();
    let (s2, _) = net.stacks[b].tcp_accept(l).unwrap();
    let now = net.now();
    net.stacks[b].tcp_close(l, now).unwrap();
    assert!(!free(&mut net), "two accepted connections hold it");
    let bound = net.stacks[b]
        .tcp_connect_from(addr("10.0.0.2", PORT), addr("10.0.0.1", 80), now)
        .unwrap();
    net.stacks[b].tcp_abort(s1, now).unwrap();
    assert!(
        !free(&mut net),
        "an accepted and a bound connection hold it"
    );
    net.run_for(Duration::from_millis(10)).unwrap();
    let now = net.now();
    net.stacks[b].tcp_abort(bound, now).unwrap();
    assert!(!free(&mut net), "an accepted connection holds it");
    // B closes first, so its side goes through TIME-WAIT.
    net.stacks[b].tcp_close(s2, now).unwrap();
    net.run_for(Duration::from_millis(10)).unwrap();
    let now = net.now();
    net.stacks[0].tcp_close(c2, now).unwrap();
    net.stacks[0].tcp_close(c1, now).unwrap();
    net.run_for(Duration::from_millis(10)).unwrap();
    assert!(!free(&mut net), "the TIME-WAIT holds it");
    net.run_for(Duration::from_secs(61)).unwrap();
    assert!(free(&mut net), "nothing holds it");
    assert!(free(&mut net), "the probe's listener released it");
}

/// Connecting from a chosen port is bind() + connect(): Linux's bind gives EADDRINUSE for a
/// port a listener holds on the same address or where either is the wildcard, even with
/// `SO_REUSEADDR` (`inet_bind_conflict` never shares a LISTEN socket's port); a listener on
/// another specific address leaves the port free. A wildcard bind conflicts with a listener
/// on any address, though the route then picks a source address other than the listener's.
#[test]
fn connect_from_a_listeners_port_is_addr_in_use() {
    let (mut net, a_if, _) = two_hosts(DeviceCaps::default(), Duration::from_millis(1));
    let now = net.now();
    net.stacks[0]
        .add_address(a_if, "10.0.0.11".parse().unwrap(), 24, now)
        .unwrap();
    net.stacks[1].tcp_listen(addr("0.0.0.0", 80), 4).unwrap();
    net.stacks[0].tcp_listen(addr("0.0.0.0", 5000), 4).unwrap();
    net.stacks[0].tcp_listen(addr("10.0.0.1", 5001), 4).unwrap();
    net.stacks[0]
        .tcp_listen(addr("10.0.0.11", 5002), 4)
        .unwrap();
    let server = addr("10.0.0.2", 80);
    let held = [
        addr("10.0.0.1", 5000),
        addr("10.0.0.1", 5001),
        addr("0.0.0.0", 5002),
    ];
    for local in held {
        assert_eq!(
            net.stacks[0].tcp_connect_from(local, server, now),
            Err(TcpError::AddrInUse),
            "{local}"
        );
    }
    let c = net.stacks[0]
        .tcp_connect_from(addr("10.0.0.11", 5001), server, now)
        .unwrap();
    net.run_for(Duration::from_millis(10)).unwrap();
    assert_eq!(net.stacks[0].tcp_state(c).unwrap(), TcpState::Established);
}

/// A port connect() picked is bound without `SO_REUSEADDR` (Linux: an owner of the port's
/// bind bucket with `sk_reuse` 0), so binding it again on a matching address is EADDRINUSE
/// (`inet_bind_conflict`), even for a connection to another destination.
#[test]
fn connect_from_an_ephemeral_connections_port_is_addr_in_use() {
    let (mut net, _, _) = two_hosts(DeviceCaps::default(), Duration::from_millis(1));
    let (_l, c, _s) = connected(&mut net);
    let now = net.now();
    net.stacks[1].tcp_listen(addr("0.0.0.0", 81), 4).unwrap();
    let local = net.stacks[0].tcp_local_addr(c).unwrap();
    assert_eq!(
        net.stacks[0].tcp_connect_from(local, addr("10.0.0.2", 81), now),
        Err(TcpError::AddrInUse)
    );
}

/// Linux `inet_csk_get_port` at bind()/listen(): a port an ephemeral connection holds (no
/// `SO_REUSEADDR`) is EADDRINUSE on a matching address until the connection is gone, its
/// TIME-WAIT included. A port held by sockets that bound it with `SO_REUSEADDR` (std sets it
/// on listeners; their accepted connections inherit it) can be listened on again once no
/// listener holds it: the server restart case. A refused connection's port is free at once,
/// though its handle is still open (Linux `tcp_set_state` releases it on TCP_CLOSE).
#[test]
fn listen_on_an_ephemeral_connections_port_is_addr_in_use_until_it_is_gone() {
    let (mut net, _, _) = two_hosts(DeviceCaps::default(), Duration::from_millis(1));
    let (l, c, s) = connected(&mut net);
    let local = net.stacks[0].tcp_local_addr(c).unwrap();
    for a in [local, addr("0.0.0.0", local.port())] {
        assert_eq!(
            net.stacks[0].tcp_listen(a, 4),
            Err(TcpError::AddrInUse),
            "{a}"
        );
    }
    let now = net.now();
    let refused = net.stacks[0]
        .tcp_connect(addr("10.0.0.2", 81), now)
        .unwrap();
    net.run_for(Duration::from_millis(10)).unwrap();
    assert_eq!(net.stacks[0].tcp_state(refused).unwrap(), TcpState::Closed);
    let port = net.stacks[0].tcp_local_addr(refused).unwrap().port();
    net.stacks[0].tcp_listen(addr("0.0.0.0", port), 4).unwrap();
    let now = net.now();
    net.stacks[1].tcp_close(l, now).unwrap();
    let l2 = net.stacks[1].tcp_listen(addr("0.0.0.0", 80), 4).unwrap();
    net.stacks[0].tcp_close(c, now).unwrap();
    net.run_for(Duration::from_millis(10)).unwrap();
    let now = net.now();
    net.stacks[1].tcp_close(s, now).unwrap();
    net.run_for(Duration::from_millis(10)).unwrap();
    assert_eq!(net.stacks[1].tcp_sockets().collect::<Vec<_>>(), [l2]);
    // A's TIME-WAIT still holds the port; 2×MSL later it is free.
    assert_eq!(net.stacks[0].tcp_listen(local, 4), Err(TcpError::AddrInUse));
    net.run_for(Duration::from_secs(61)).unwrap();
    net.stacks[0].tcp_listen(local, 4).unwrap();
}

/// The ephemeral range (Linux `ip_local_port_range`).
const EPHEMERAL: std::ops::RangeInclusive<u16> = 32768..=60999;

/// Whether `ports` step by one fixed amount, which would let an observer of one port predict
/// the next.
fn arithmetic(ports: &[u16]) -> bool {
    let d = |w: &[u16]| i32::from(w[1]) - i32::from(w[0]);
    ports.windows(2).all(|w| d(w) == d(&ports[..2]))
}

/// The local ports of connects from A to B's ports 1000..1020, all made at once.
fn connect_ports(net: &mut Net) -> Vec<u16> {
    let now = net.now();
    (1000..1020)
        .map(|p| {
            let c = net.stacks[0].tcp_connect(addr("10.0.0.2", p), now).unwrap();
            net.stacks[0].tcp_local_addr(c).unwrap().port()
        })
        .collect()
}

/// RFC 6056 (Linux `__inet_hash_connect`): connect's port starts at a keyed hash of the
/// addresses and the remote port, so the ports of successive connections to different remote
/// ports are not a sequence an off-path attacker can continue (§1: blind resets and data
/// injection need it). They are spread over the range, and another secret gives others.
#[test]
fn connect_ports_are_keyed_hashes_not_a_sequence() {
    let (mut net, _, _) = two_hosts(DeviceCaps::default(), Duration::from_millis(1));
    let ports = connect_ports(&mut net);
    assert!(ports.iter().all(|p| EPHEMERAL.contains(p)), "{ports:?}");
    assert!(!arithmetic(&ports), "{ports:?}");
    let (lo, hi) = (ports.iter().min().unwrap(), ports.iter().max().unwrap());
    assert!(hi - lo > 64, "all within 64 of each other: {ports:?}");
    let mut distinct = ports.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len(), ports.len(), "{ports:?}");

    let (mut other, _, _) = two_hosts(DeviceCaps::default(), Duration::from_millis(1));
    let mut cfg = other.stacks[0].tcp_config().clone();
    cfg.secret = *b"another secret!!";
    other.stacks[0].set_tcp_config(cfg);
    let keyed = connect_ports(&mut other);
    let same = ports.iter().zip(&keyed).filter(|(a, b)| a == b).count();
    assert!(same <= 2, "{ports:?} vs {keyed:?}");
}

/// Linux ≥ 5.18 (`__inet_hash_connect` scans ports of the range's low parity first,
/// `inet_csk_find_open_port` the other parity): connect takes even ports, bind to port 0 odd
/// ones, so that servers binding port 0 do not eat connect's ports. Neither loses the other
/// half: with every even port held, connect still gets an odd one, and with every odd port
/// held a listen on port 0 gets an even one.
#[test]
fn connect_prefers_even_ports_and_listen_on_port_zero_odd_ones() {
    let (mut net, _, _) = two_hosts(DeviceCaps::default(), Duration::from_millis(1));
    let ports = connect_ports(&mut net);
    assert!(ports.iter().all(|p| p % 2 == 0), "{ports:?}");
    let any = addr("0.0.0.0", 0);
    let listened: Vec<u16> = (0..20)
        .map(|_| {
            let l = net.stacks[0].tcp_listen(any, 4).unwrap();
            net.stacks[0].tcp_local_addr(l).unwrap().port()
        })
        .collect();
    assert!(
        listened.iter().all(|p| p % 2 == 1 && EPHEMERAL.contains(p)),
        "{listened:?}"
    );

    let (mut net, _, _) = two_hosts(DeviceCaps::default(), Duration::from_millis(1));
    for port in EPHEMERAL.filter(|p| p % 2 == 0) {
        net.stacks[0].tcp_listen(addr("0.0.0.0", port), 1).unwrap();
    }
    let now = net.now();
    let c = net.stacks[0]
        .tcp_connect(addr("10.0.0.2", 1000), now)
        .unwrap();
    let port = net.stacks[0].tcp_local_addr(c).unwrap().port();
    assert!(port % 2 == 1 && EPHEMERAL.contains(&port), "got {port}");

    let (mut net, _, _) = two_hosts(DeviceCaps::default(), Duration::from_millis(1));
    for port in EPHEMERAL.filter(|p| p % 2 == 1) {
        net.stacks[0].tcp_listen(addr("0.0.0.0", port), 1).unwrap();
    }
    let l = net.stacks[0].tcp_listen(any, 4).unwrap();
    let port = net.stacks[0].tcp_local_addr(l).unwrap().port();
    assert!(port % 2 == 0 && EPHEMERAL.contains(&port), "got {port}");
}

/// Linux `__inet_hash_connect` moves the per-destination counter (`table_perturb`) on past
/// each port it hands out, so reconnecting to a server right after a connection to it
/// closed takes another port of connect's parity: the server, which closed first, still
/// holds the old 4-tuple in TIME-WAIT, and the new SYN must not land on it.
#[test]
fn reconnecting_to_the_same_server_takes_another_port() {
    let (mut net, _, _) = two_hosts(DeviceCaps::default(), Duration::from_millis(1));
    let l = net.stacks[1].tcp_listen(addr("0.0.0.0", 80), 16).unwrap();
    let server = addr("10.0.0.2", 80);
    let mut used = Vec::new();
    for _ in 0..5 {
        let now = net.now();
        let c = net.stacks[0].tcp_connect(server, now).unwrap();
        let port = net.stacks[0].tcp_local_addr(c).unwrap().port();
        assert!(!used.contains(&port), "{port} again after {used:?}");
        assert!(port % 2 == 0 && EPHEMERAL.contains(&port), "got {port}");
        used.push(port);
        net.run_for(Duration::from_millis(10)).unwrap();
        assert_eq!(net.stacks[0].tcp_state(c).unwrap(), TcpState::Established);
        let (s, peer) = net.stacks[1].tcp_accept(l).unwrap();
        assert_eq!(peer.port(), port);
        // The server closes first: its side of this 4-tuple ends in TIME-WAIT.
        let now = net.now();
        net.stacks[1].tcp_close(s, now).unwrap();
        net.run_for(Duration::from_millis(10)).unwrap();
        let now = net.now();
        net.stacks[0].tcp_close(c, now).unwrap();
        net.run_for(Duration::from_millis(10)).unwrap();
        assert_eq!(net.stacks[0].tcp_state(c), Err(TcpError::BadHandle));
    }
}
