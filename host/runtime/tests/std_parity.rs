//! What code ported from std::net relies on, checked against std's documented behaviour on
//! Linux (only the cases that differed; see the commit messages).

mod common;

use common::{pair, within, PATIENCE};
use oxnic_runtime::{Events, Interest, Poll, TcpListener, TcpStream, Token, UdpSocket};
use std::io::{ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::time::Duration;

/// Linux `udp_sendmsg`: a broadcast destination without `SO_BROADCAST` is EACCES (std:
/// `PermissionDenied`); with it set, the datagram goes out as a link-layer broadcast.
#[test]
fn udp_broadcast_needs_so_broadcast() {
    let (a, b) = pair();
    let rx = UdpSocket::bind(&a, "0.0.0.0:7315").unwrap();
    rx.set_read_timeout(Some(PATIENCE)).unwrap();
    let tx = UdpSocket::bind(&b, "10.0.0.2:0").unwrap();
    for dst in ["255.255.255.255:7315", "10.0.0.255:7315"] {
        let e = tx.send_to(b"all", dst).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{dst}");
    }
    assert!(!tx.broadcast().unwrap());
    tx.set_broadcast(true).unwrap();
    assert!(tx.broadcast().unwrap());
    // The directed broadcast of the local prefix goes out as an Ethernet broadcast. (The
    // limited broadcast needs a route the stack does not make, unlike Linux's "out of the
    // bound source's device"; not covered here.)
    tx.send_to(b"all", "10.0.0.255:7315").unwrap();
    let mut buf = [0; 8];
    let (n, from) = rx.recv_from(&mut buf).unwrap();
    assert_eq!((&buf[..n], from), (&b"all"[..], tx.local_addr().unwrap()));
}

/// Linux `inet_getname`: getpeername on a socket in TCP_CLOSE (after a reset) is ENOTCONN
/// (std: `NotConnected`); getsockname still gives the local address.
#[test]
fn peer_addr_after_a_reset_is_not_connected() {
    let (a, b) = pair();
    let listener = TcpListener::bind(&b, "10.0.0.2:7307").unwrap();
    let mut c = TcpStream::connect(&a, "10.0.0.2:7307").unwrap();
    let local = c.local_addr().unwrap();
    assert_eq!(c.peer_addr().unwrap(), "10.0.0.2:7307".parse().unwrap());
    let (s, _) = listener.accept().unwrap();
    s.abort().unwrap();
    c.set_read_timeout(Some(PATIENCE)).unwrap();
    assert_eq!(
        c.read(&mut [0; 4]).unwrap_err().kind(),
        ErrorKind::ConnectionReset
    );
    assert_eq!(c.local_addr().unwrap(), local);
    assert_eq!(c.peer_addr().unwrap_err().kind(), ErrorKind::NotConnected);
}

/// epoll/mio ("Poll will only return readiness events for operations specified by this
/// argument"): an event carries only the readiness registered for, plus error and hang-up.
/// After re-registering a writable stream for READABLE only, its events must not claim
/// writability; after deregister, none come.
#[test]
fn reregistered_interest_is_what_events_report() {
    let (a, b) = pair();
    let listener = TcpListener::bind(&b, "10.0.0.2:7312").unwrap();
    let c = TcpStream::connect(&a, "10.0.0.2:7312").unwrap();
    let (mut s, _) = listener.accept().unwrap();
    let mut poll = Poll::new(&a);
    let mut events = Events::with_capacity(4);
    poll.register(&c, Token(1), Interest::WRITABLE).unwrap();
    assert_eq!(poll.wait(&mut events, Some(PATIENCE)).unwrap(), 1);
    let e = *events.iter().next().unwrap();
    assert!(e.is_writable() && !e.is_readable(), "{e:?}");
    poll.reregister(&c, Token(2), Interest::READABLE).unwrap();
    let idle = Some(Duration::from_millis(100));
    assert_eq!(poll.wait(&mut events, idle).unwrap(), 0);
    s.write_all(b"x").unwrap();
    assert_eq!(poll.wait(&mut events, Some(PATIENCE)).unwrap(), 1);
    let e = *events.iter().next().unwrap();
    assert_eq!(e.token(), Token(2));
    assert!(e.is_readable(), "{e:?}");
    assert!(
        !e.is_writable(),
        "READABLE-only registration reported writable: {e:?}"
    );
    poll.deregister(&c).unwrap();
    assert_eq!(poll.wait(&mut events, idle).unwrap(), 0);
}

/// `abort` is SO_LINGER 0 + close: the stack releases the handle at once and the next
/// socket reuses its number. Later calls on the aborted stream (and its drop) must fail
/// instead of acting on that unrelated connection.
#[test]
fn aborted_stream_leaves_the_connection_reusing_its_handle_alone() {
    let (a, b) = pair();
    let listener = TcpListener::bind(&b, "10.0.0.2:7320").unwrap();
    let c1 = TcpStream::connect(&a, "10.0.0.2:7320").unwrap();
    let (_s1, _) = listener.accept().unwrap();
    c1.abort().unwrap();
    let mut c2 = TcpStream::connect(&a, "10.0.0.2:7320").unwrap();
    let (mut s2, _) = listener.accept().unwrap();
    let c2_local = c2.local_addr().unwrap();
    let stale = c1.local_addr();
    assert!(
        stale.is_err(),
        "aborted stream answered for {stale:?} (c2 is {c2_local})"
    );
    assert!(c1.state().is_err());
    drop(c1);
    c2.write_all(b"hi").unwrap();
    let mut buf = [0; 2];
    s2.set_read_timeout(Some(PATIENCE)).unwrap();
    s2.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"hi");
}

/// Linux `ip4_datagram_connect`: connecting a socket bound to 0.0.0.0 fixes its local address
/// to the route's source (std: `local_addr` reports it); an unroutable peer is ENETUNREACH
/// (`NetworkUnreachable`) and a broadcast one without `SO_BROADCAST` is EACCES
/// (`PermissionDenied`), and neither connects.
#[test]
fn udp_connect_fixes_the_local_address_and_refuses_what_linux_refuses() {
    let (a, b) = pair();
    let peer = UdpSocket::bind(&b, "10.0.0.2:7330").unwrap();
    peer.set_read_timeout(Some(PATIENCE)).unwrap();
    let s = UdpSocket::bind(&a, "0.0.0.0:0").unwrap();
    let port = s.local_addr().unwrap().port();
    let e = s.connect("192.168.7.1:9").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NetworkUnreachable, "{e:?}");
    let e = s.connect("10.0.0.255:9").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{e:?}");
    assert_eq!(s.peer_addr().unwrap_err().kind(), ErrorKind::NotConnected);
    assert_eq!(s.local_addr().unwrap(), ([0, 0, 0, 0], port).into());
    s.connect("10.0.0.2:7330").unwrap();
    let local = SocketAddr::from(([10, 0, 0, 1], port));
    assert_eq!(s.local_addr().unwrap(), local);
    s.send(b"hi").unwrap();
    let mut buf = [0; 4];
    assert_eq!(peer.recv_from(&mut buf).unwrap(), (2, local));
}

/// Linux `__inet_hash_connect` never gives connect() a port a bind() holds: a stream's
/// source port is not that of a listener bound to port 0, though it got an ephemeral port.
#[test]
fn connect_never_takes_the_port_of_a_listener_bound_to_port_zero() {
    let (a, b) = pair();
    let held = TcpListener::bind(&a, "10.0.0.1:0").unwrap();
    let _server = TcpListener::bind(&b, "10.0.0.2:7316").unwrap();
    let c = TcpStream::connect(&a, "10.0.0.2:7316").unwrap();
    assert_ne!(
        c.local_addr().unwrap().port(),
        held.local_addr().unwrap().port()
    );
}

/// Linux `inet_csk_get_port`: a connected stream's source port (picked by connect, so bound
/// without `SO_REUSEADDR`) is EADDRINUSE for a listener's bind (std: `AddrInUse`), and a
/// bind to port 0 passes it over.
#[test]
fn listener_bind_refuses_and_port_zero_skips_a_connected_streams_port() {
    let (a, b) = pair();
    let _server = TcpListener::bind(&b, "10.0.0.2:7317").unwrap();
    let c = TcpStream::connect(&a, "10.0.0.2:7317").unwrap();
    let port = c.local_addr().unwrap().port();
    for ip in ["10.0.0.1", "0.0.0.0"] {
        let e = TcpListener::bind(&a, (ip, port)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::AddrInUse, "{ip}");
    }
    let any = TcpListener::bind(&a, "0.0.0.0:0").unwrap();
    assert_ne!(any.local_addr().unwrap().port(), port);
}

/// Linux `inet_csk_get_port` for a bind to port 0 (`inet_csk_find_open_port`) checks each
/// candidate without the `SO_REUSEADDR` relaxation: a port any socket holds on an
/// overlapping address is passed over. A connection accepted from a listener that has
/// since closed still holds the listener's port (it shares `SO_REUSEADDR` with it, so an
/// explicit bind of that port would succeed, the server restart case), and a listener bound
/// to port 0 must not be given it: its connections would collide with the accepted one's.
#[test]
fn listener_bound_to_port_zero_skips_the_port_of_an_accepted_stream() {
    let (a, b) = pair();
    let server = TcpListener::bind(&b, "10.0.0.2:32768").unwrap();
    let _c = TcpStream::connect(&a, "10.0.0.2:32768").unwrap();
    let (s, _) = server.accept().unwrap();
    drop(server);
    // Every other ephemeral port (Linux `ip_local_port_range`, 32768..=60999) but one is
    // held, so port 0's search, wherever it starts, has the accepted stream's port and that
    // one to choose from.
    let other = 47_001;
    let _held: Vec<TcpListener> = (32769..=60999)
        .filter(|&p| p != other)
        .map(|p| TcpListener::bind(&b, SocketAddr::from(([0, 0, 0, 0], p))).unwrap())
        .collect();
    let any = TcpListener::bind(&b, "0.0.0.0:0").unwrap();
    assert_eq!(s.local_addr().unwrap().port(), 32768);
    assert_eq!(any.local_addr().unwrap().port(), other);
}

/// Linux `tcp_close`: data received and never read makes close(2) a reset (RFC 2525
/// §2.17), and SHUT_RD does not count as reading it (the data stays queued there). A server
/// that shuts its read side and then drops the stream while the client still sends must
/// reset it, not end it with a FIN the client takes for a clean end.
#[test]
fn dropping_a_stream_after_shutdown_read_with_data_unread_resets_the_peer() {
    let (a, b) = pair();
    let listener = TcpListener::bind(&b, "10.0.0.2:7321").unwrap();
    let mut c = TcpStream::connect(&a, "10.0.0.2:7321").unwrap();
    let (s, _) = listener.accept().unwrap();
    s.shutdown(std::net::Shutdown::Read).unwrap();
    c.write_all(b"never read").unwrap();
    // Wait until the data was acknowledged: it reached the shut read side.
    within(PATIENCE, {
        let c = c.try_clone().unwrap();
        move || {
            while c.info().unwrap().bytes_acked < 10 {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    });
    drop(s);
    c.set_read_timeout(Some(PATIENCE)).unwrap();
    assert_eq!(
        c.read(&mut [0; 16]).map_err(|e| e.kind()),
        Err(ErrorKind::ConnectionReset)
    );
}

/// std `TcpStream::peek` (recv with MSG_PEEK): waits for data like a read, returns it
/// without consuming it, and gives 0 at the end of stream.
#[test]
fn tcp_peek_leaves_the_bytes_for_the_next_read() {
    let (a, b) = pair();
    let listener = TcpListener::bind(&b, "10.0.0.2:7322").unwrap();
    let mut c = TcpStream::connect(&a, "10.0.0.2:7322").unwrap();
    let (mut s, _) = listener.accept().unwrap();
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    c.write_all(b"hello").unwrap();
    c.shutdown(std::net::Shutdown::Write).unwrap();
    let mut buf = [0; 16];
    let n = s.peek(&mut buf).unwrap();
    assert!(n > 0 && b"hello".starts_with(&buf[..n]), "{:?}", &buf[..n]);
    // Everything has arrived once the FIN has: peek sees it all, again and again.
    within(PATIENCE, {
        let s = s.try_clone().unwrap();
        move || {
            while !matches!(s.state().unwrap(), oxnic_stack::tcp::TcpState::CloseWait) {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    });
    for _ in 0..2 {
        let n = s.peek(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"hello");
    }
    let mut all = Vec::new();
    s.read_to_end(&mut all).unwrap();
    assert_eq!(all, b"hello", "the peeks consumed bytes");
    assert_eq!(s.peek(&mut buf).unwrap(), 0, "end of stream");
}

/// std `UdpSocket::peek_from`/`peek` (MSG_PEEK): the datagram and its sender, left queued
/// for the next receive.
#[test]
fn udp_peek_leaves_the_datagram_queued() {
    let (a, b) = pair();
    let rx = UdpSocket::bind(&a, "10.0.0.1:7323").unwrap();
    rx.set_read_timeout(Some(PATIENCE)).unwrap();
    let tx = UdpSocket::bind(&b, "10.0.0.2:7324").unwrap();
    tx.send_to(b"first", "10.0.0.1:7323").unwrap();
    tx.send_to(b"second", "10.0.0.1:7323").unwrap();
    let from = tx.local_addr().unwrap();
    let mut buf = [0; 16];
    for _ in 0..2 {
        let (n, f) = rx.peek_from(&mut buf).unwrap();
        assert_eq!((&buf[..n], f), (&b"first"[..], from));
    }
    // A short buffer cuts the peeked copy, not the queued datagram.
    assert_eq!(rx.peek(&mut buf[..3]).unwrap(), 3);
    let (n, f) = rx.recv_from(&mut buf).unwrap();
    assert_eq!((&buf[..n], f), (&b"first"[..], from));
    rx.connect(from).unwrap();
    let n = rx.peek(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"second");
    let n = rx.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"second");
    rx.set_nonblocking(true).unwrap();
    assert_eq!(rx.peek(&mut buf).unwrap_err().kind(), ErrorKind::WouldBlock);
}

/// std `UdpSocket::set_ttl`/`ttl` (IP_TTL): the value shows in the IPv4 header of sent
/// datagrams; 0 and values over 255 are EINVAL; -1 (`u32::MAX` through std) restores the
/// default.
#[test]
fn udp_ttl_is_the_ttl_of_sent_datagrams() {
    use oxnic_stack::packet_tap::TapPoint;
    let (a, b) = pair();
    let rx = UdpSocket::bind(&a, "10.0.0.1:7325").unwrap();
    rx.set_read_timeout(Some(PATIENCE)).unwrap();
    let tx = UdpSocket::bind(&b, "10.0.0.2:7326").unwrap();
    assert_eq!(tx.ttl().unwrap(), 64);
    for bad in [0, 256] {
        assert_eq!(
            tx.set_ttl(bad).unwrap_err().kind(),
            ErrorKind::InvalidInput,
            "{bad}"
        );
    }
    tx.set_ttl(7).unwrap();
    assert_eq!(tx.ttl().unwrap(), 7);
    let tap = a.with_stack(|st, _| st.add_tap(TapPoint::WireRx, None, 64));
    tx.send_to(b"ttl", "10.0.0.1:7325").unwrap();
    let mut buf = [0; 8];
    assert_eq!(rx.recv(&mut buf).unwrap(), 3);
    let frames = a.with_stack(|st, _| st.tap_take(tap).unwrap());
    // Ethernet (14) + IPv4 without options (20) + UDP (8) + "ttl"; TTL is IPv4 byte 8.
    let ttls: Vec<u8> = frames
        .iter()
        .map(|c| c.packet.data())
        .filter(|f| f.len() >= 45 && f[12..14] == [8, 0] && f[23] == 17 && &f[42..45] == b"ttl")
        .map(|f| f[22])
        .collect();
    assert_eq!(ttls, [7]);
    tx.set_ttl(u32::MAX).unwrap();
    assert_eq!(tx.ttl().unwrap(), 64);
}

/// std `TcpListener::try_clone` (dup): the clones share the listener, its accept queue and
/// its non-blocking flag, and it stays open until the last one is dropped.
#[test]
fn tcp_listener_clones_share_the_listener() {
    let (a, b) = pair();
    let listener = TcpListener::bind(&b, "10.0.0.2:7327").unwrap();
    let clone = listener.try_clone().unwrap();
    assert_eq!(clone.local_addr().unwrap(), listener.local_addr().unwrap());
    listener.set_nonblocking(true).unwrap();
    assert_eq!(
        clone.accept().map(|_| ()).unwrap_err().kind(),
        ErrorKind::WouldBlock
    );
    clone.set_nonblocking(false).unwrap();
    drop(listener);
    let mut c = TcpStream::connect(&a, "10.0.0.2:7327").unwrap();
    let (mut s, from) = clone.accept().unwrap();
    assert_eq!(from, c.local_addr().unwrap());
    c.write_all(b"via the clone").unwrap();
    let mut buf = [0; 13];
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    s.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"via the clone");
    drop(clone);
    let e = TcpStream::connect(&a, "10.0.0.2:7327").unwrap_err();
    assert_eq!(
        e.kind(),
        ErrorKind::ConnectionRefused,
        "closed with the last clone"
    );
}

/// std `TcpListener::set_ttl` and `TcpStream::set_ttl`/`ttl` (IP_TTL): an accepted stream
/// starts with its listener's TTL (Linux clones the listener's settings into the child),
/// the value shows in the IPv4 header of the stream's segments, 0 and values over 255 are
/// EINVAL, and -1 (`u32::MAX` through std) restores the default.
#[test]
fn tcp_ttl_is_inherited_from_the_listener_and_set_per_stream() {
    use oxnic_stack::packet_tap::TapPoint;
    let (a, b) = pair();
    let listener = TcpListener::bind(&b, "10.0.0.2:7330").unwrap();
    assert_eq!(listener.ttl().unwrap(), 64);
    listener.set_ttl(21).unwrap();
    assert_eq!(listener.ttl().unwrap(), 21);
    let mut c = TcpStream::connect(&a, "10.0.0.2:7330").unwrap();
    let (mut s, _) = listener.accept().unwrap();
    assert_eq!(s.ttl().unwrap(), 21, "inherited");
    for bad in [0, 256] {
        assert_eq!(
            s.set_ttl(bad).unwrap_err().kind(),
            ErrorKind::InvalidInput,
            "{bad}"
        );
        assert_eq!(
            listener.set_ttl(bad).unwrap_err().kind(),
            ErrorKind::InvalidInput,
            "{bad}"
        );
    }
    c.set_ttl(5).unwrap();
    assert_eq!(c.ttl().unwrap(), 5);
    let tap_a = a.with_stack(|st, _| st.add_tap(TapPoint::WireRx, None, 64));
    let tap_b = b.with_stack(|st, _| st.add_tap(TapPoint::WireRx, None, 64));
    c.write_all(b"ping").unwrap();
    let mut buf = [0; 4];
    s.read_exact(&mut buf).unwrap();
    s.write_all(b"pong").unwrap();
    c.read_exact(&mut buf).unwrap();
    // The TTL (IPv4 byte 8) of the TCP segments with a payload of 4 bytes each way.
    let data_ttls = |frames: Vec<oxnic_stack::packet_tap::Captured>| -> Vec<u8> {
        frames
            .iter()
            .map(|c| c.packet.data())
            .filter(|f| f.len() >= 58 && f[12..14] == [8, 0] && f[23] == 6)
            .filter(|f| u16::from_be_bytes([f[16], f[17]]) == 20 + 32 + 4)
            .map(|f| f[22])
            .collect()
    };
    assert_eq!(
        data_ttls(b.with_stack(|st, _| st.tap_take(tap_b).unwrap())),
        [5],
        "A's ping"
    );
    assert_eq!(
        data_ttls(a.with_stack(|st, _| st.tap_take(tap_a).unwrap())),
        [21],
        "B's pong"
    );
    s.set_ttl(u32::MAX).unwrap();
    assert_eq!(s.ttl().unwrap(), 64);
}

/// Linux `ip_route_connect`: a connect or a `send_to` to 0.0.0.0 is to this host, as std on
/// Linux reaches 127.0.0.1 that way: `peer_addr` shows 127.0.0.1, and the datagram comes
/// from it.
#[test]
fn connect_and_send_to_0_0_0_0_reach_this_host() {
    let (a, _b) = pair();
    let l = TcpListener::bind(&a, "0.0.0.0:7340").unwrap();
    let mut c = TcpStream::connect(&a, "0.0.0.0:7340").unwrap();
    assert_eq!(c.peer_addr().unwrap(), "127.0.0.1:7340".parse().unwrap());
    let (mut s, from) = l.accept().unwrap();
    assert_eq!(from, c.local_addr().unwrap());
    c.write_all(b"me").unwrap();
    let mut buf = [0; 2];
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    s.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"me");

    let rx = UdpSocket::bind(&a, "0.0.0.0:7341").unwrap();
    rx.set_read_timeout(Some(PATIENCE)).unwrap();
    let tx = UdpSocket::bind(&a, "0.0.0.0:0").unwrap();
    tx.send_to(b"me", "0.0.0.0:7341").unwrap();
    let (n, from) = rx.recv_from(&mut buf).unwrap();
    assert_eq!((&buf[..n], from.ip()), (&b"me"[..], [127, 0, 0, 1].into()));
    tx.connect("0.0.0.0:7341").unwrap();
    assert_eq!(tx.peer_addr().unwrap(), "127.0.0.1:7341".parse().unwrap());
}

/// std on Linux: `TcpListener::bind("127.0.0.1:0")` gets a port, and a stream from this host
/// connects to that address over `lo`, from 127.0.0.1; `peer_addr` is the listener's
/// address and `accept` returns the stream's own; data flows both ways, and a close is an
/// end of stream. A connect to a 127.0.0.1 port nobody listens on is refused, and a UDP
/// socket on 127.0.0.1 is reached the same way. None of it reaches the other host.
#[test]
fn a_listener_on_127_0_0_1_takes_connections_from_this_host() {
    let (a, b) = pair();
    let l = TcpListener::bind(&a, "127.0.0.1:0").unwrap();
    let at = l.local_addr().unwrap();
    assert_eq!(at.ip(), std::net::Ipv4Addr::LOCALHOST);
    assert_ne!(at.port(), 0);
    let mut c = TcpStream::connect(&a, at).unwrap();
    assert_eq!(c.peer_addr().unwrap(), at);
    let local = c.local_addr().unwrap();
    assert_eq!(local.ip(), std::net::Ipv4Addr::LOCALHOST);
    let (mut s, from) = l.accept().unwrap();
    assert_eq!((from, s.local_addr().unwrap()), (local, at));
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    c.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut buf = [0; 4];
    c.write_all(b"ping").unwrap();
    s.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"ping");
    s.write_all(b"pong").unwrap();
    c.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"pong");
    drop(c);
    assert_eq!(s.read(&mut buf).unwrap(), 0);

    let e = TcpStream::connect(&a, "127.0.0.1:7342").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ConnectionRefused);

    let rx = UdpSocket::bind(&a, "127.0.0.1:0").unwrap();
    rx.set_read_timeout(Some(PATIENCE)).unwrap();
    let tx = UdpSocket::bind(&a, "0.0.0.0:0").unwrap();
    tx.send_to(b"lo", rx.local_addr().unwrap()).unwrap();
    let (n, from) = rx.recv_from(&mut buf).unwrap();
    assert_eq!((&buf[..n], from.ip()), (&b"lo"[..], [127, 0, 0, 1].into()));
    assert_eq!(b.with_stack(|st, _| st.snmp().ip.in_receives), 0);
}

/// Linux `__mkroute_output`: a socket bound to 127.0.0.1 cannot reach another host (EINVAL:
/// std `InvalidInput`); a 127/8 source never leaves on a real interface.
#[test]
fn a_socket_on_127_0_0_1_cannot_reach_another_host() {
    let (a, b) = pair();
    let _l = TcpListener::bind(&b, "10.0.0.2:7343").unwrap();
    let tx = UdpSocket::bind(&a, "127.0.0.1:0").unwrap();
    let e = tx.send_to(b"out", "10.0.0.2:7343").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert_eq!(b.with_stack(|st, _| st.snmp().ip.in_receives), 0);
}

/// Linux `do_ip_setsockopt` for `IP_MULTICAST_TTL`/`IP_MULTICAST_LOOP` and
/// `ip_mc_join_group`/`ip_mc_leave_group`: the defaults, the values taken and the errors,
/// as std's own `UdpSocket` gets them from this host's kernel, and the same from oxnic.
#[test]
fn udp_multicast_options_and_membership_errors_match_std_on_linux() {
    use std::net::Ipv4Addr;
    let (a, _b) = pair();
    let ox = UdpSocket::bind(&a, "0.0.0.0:7340").unwrap();
    let k = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let kind = |r: std::io::Result<()>| r.map_err(|e| e.kind());
    assert_eq!(
        ox.multicast_ttl_v4().unwrap(),
        k.multicast_ttl_v4().unwrap()
    );
    assert_eq!(ox.multicast_ttl_v4().unwrap(), 1);
    assert_eq!(
        ox.multicast_loop_v4().unwrap(),
        k.multicast_loop_v4().unwrap()
    );
    assert!(ox.multicast_loop_v4().unwrap());
    for ttl in [0, 5, 255, 256, u32::MAX] {
        let (o, s) = (ox.set_multicast_ttl_v4(ttl), k.set_multicast_ttl_v4(ttl));
        assert_eq!(kind(o), kind(s), "IP_MULTICAST_TTL {ttl}");
        assert_eq!(
            ox.multicast_ttl_v4().unwrap(),
            k.multicast_ttl_v4().unwrap(),
            "after {ttl}"
        );
    }
    ox.set_multicast_loop_v4(false).unwrap();
    k.set_multicast_loop_v4(false).unwrap();
    assert_eq!(
        ox.multicast_loop_v4().unwrap(),
        k.multicast_loop_v4().unwrap()
    );
    assert!(!ox.multicast_loop_v4().unwrap());

    let (ox_if, k_if) = (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::LOCALHOST);
    let unicast = Ipv4Addr::new(10, 0, 0, 7);
    let group = Ipv4Addr::new(239, 73, 40, 1);
    // Not a multicast address: EINVAL.
    let o = ox.join_multicast_v4(&unicast, &ox_if);
    let s = k.join_multicast_v4(&unicast, &k_if);
    assert_eq!(kind(o), kind(s));
    assert_eq!(
        kind(ox.join_multicast_v4(&unicast, &ox_if)),
        Err(ErrorKind::InvalidInput)
    );
    // Leaving a group not joined: EADDRNOTAVAIL.
    let o = ox.leave_multicast_v4(&group, &ox_if);
    let s = k.leave_multicast_v4(&group, &k_if);
    assert_eq!(kind(o), kind(s));
    assert_eq!(
        kind(ox.leave_multicast_v4(&group, &ox_if)),
        Err(ErrorKind::AddrNotAvailable)
    );
    // The rest is checked against oxnic alone, not std on this kernel. Twice on one socket
    // and interface: EADDRINUSE; then leave works once.
    ox.join_multicast_v4(&group, &ox_if).unwrap();
    assert_eq!(
        kind(ox.join_multicast_v4(&group, &ox_if)),
        Err(ErrorKind::AddrInUse)
    );
    ox.leave_multicast_v4(&group, &ox_if).unwrap();
    // An interface address nobody has: ENODEV, which std reports as `Uncategorized` (an
    // unstable kind no test can name), so oxnic's `Other` is not compared with it.
    let nobody = Ipv4Addr::new(10, 9, 9, 9);
    let e = ox.join_multicast_v4(&group, &nobody).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Other);
}
