//! TCP over an interface whose queue is too small for what it sends: the qdisc refuses
//! segments, and TCP must treat a refusal as "not sent yet" (Linux `tcp_write_xmit` stopping
//! at `NET_XMIT_DROP`), not as a loss on the wire. Nothing is retransmitted, no timer has
//! to fire, every byte arrives, and the qdisc counts the refusals.

use oxnic_stack::netsim::{two_hosts_with, LinkConfig, Net};
use oxnic_stack::qdisc::{PfifoFast, Tbf, TbfParams};
use oxnic_stack::route::IfIndex;
use oxnic_stack::tcp::{Shutdown, TcpConfig, TcpError, TcpHandle, TcpState};
use oxnic_stack::DeviceCaps;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

/// Device TX ring of the sender: four frames.
const RING: usize = 4;
/// Packets the sender's pfifo_fast holds.
const QDISC_LIMIT: usize = 8;
/// Packets the qdisc holds for a sender with GSO: TCP hands it super-packets of up to 64 KB,
/// a few per flush, so a queue that refuses them must be shorter.
const GSO_QDISC_LIMIT: usize = 2;
/// Period of the byte pattern the stream carries (prime, so no segment size lines up).
const PERIOD: usize = 251;

fn addr(s: &str, port: u16) -> SocketAddrV4 {
    SocketAddrV4::new(s.parse::<Ipv4Addr>().unwrap(), port)
}

/// Two hosts on a 100 µs wire; host 0 has a [`RING`]-frame TX ring and a
/// [`QDISC_LIMIT`]-packet qdisc, so a bulk sender fills both within one flush.
fn tight_hosts(tcp: TcpConfig) -> (Net, IfIndex) {
    tight_hosts_with(tcp, QDISC_LIMIT)
}

/// [`tight_hosts`] with a qdisc of `limit` packets.
fn tight_hosts_with(tcp: TcpConfig, limit: usize) -> (Net, IfIndex) {
    let caps = DeviceCaps {
        tx_queue_len: RING,
        ..DeviceCaps::default()
    };
    let link = LinkConfig::new(Duration::from_micros(100), 1500);
    let (mut net, ia, _) = two_hosts_with(caps, link, 7);
    for s in &mut net.stacks {
        s.set_tcp_config(tcp.clone());
    }
    let q = PfifoFast::new(limit).unwrap();
    net.stacks[0].set_qdisc(ia, Box::new(q)).unwrap();
    (net, ia)
}

/// Connects host 0 to a listener on host 1; returns (client, server).
fn connect(net: &mut Net, port: u16) -> (TcpHandle, TcpHandle) {
    let l = net.stacks[1].tcp_listen(addr("0.0.0.0", port), 8).unwrap();
    let now = net.now();
    let c = net.stacks[0]
        .tcp_connect(addr("10.0.0.2", port), now)
        .unwrap();
    let mut s = None;
    let ok = net
        .run_while(
            |n| {
                if s.is_none() {
                    s = n.stacks[1].tcp_accept(l).ok().map(|(h, _)| h);
                }
                s.is_none() || n.stacks[0].tcp_state(c) != Ok(TcpState::Established)
            },
            now + Duration::from_secs(10),
        )
        .unwrap();
    assert!(ok, "handshake did not complete");
    (c, s.unwrap())
}

/// Moves `total` pattern bytes from host 0 to host 1, checking each byte on receipt; returns
/// the virtual time taken.
fn bulk(net: &mut Net, c: TcpHandle, s: TcpHandle, total: usize) -> Duration {
    let pattern: Vec<u8> = (0..PERIOD + 64 * 1024)
        .map(|i| (i % PERIOD) as u8)
        .collect();
    let mut buf = vec![0u8; 64 * 1024];
    let (mut sent, mut got) = (0usize, 0usize);
    let start = net.now();
    let done = net
        .run_while(
            |n| {
                let now = n.now();
                while sent < total {
                    let want = (total - sent).min(64 * 1024);
                    let from = sent % PERIOD;
                    match n.stacks[0].tcp_send(c, &pattern[from..from + want], now) {
                        Ok(k) => sent += k,
                        Err(TcpError::WouldBlock) => break,
                        Err(e) => panic!("send failed: {e}"),
                    }
                }
                loop {
                    match n.stacks[1].tcp_recv(s, &mut buf, now) {
                        Ok(0) => panic!("end of stream before {total} bytes"),
                        Ok(k) => {
                            let from = got % PERIOD;
                            assert!(
                                buf[..k] == pattern[from..from + k],
                                "wrong bytes at stream offset {got}"
                            );
                            got += k;
                        }
                        Err(TcpError::WouldBlock) => break,
                        Err(e) => panic!("recv failed: {e}"),
                    }
                }
                got < total
            },
            start + Duration::from_secs(60),
        )
        .unwrap();
    assert!(done, "transfer stalled at {got} of {total} bytes");
    assert_eq!(got, total);
    net.now().saturating_duration_since(start)
}

#[test]
fn bulk_transfer_through_a_full_qdisc_retransmits_nothing() {
    for gso in [false, true] {
        let limit = if gso { GSO_QDISC_LIMIT } else { QDISC_LIMIT };
        let tcp = TcpConfig {
            gso,
            ..TcpConfig::default()
        };
        let (mut net, ia) = tight_hosts_with(tcp, limit);
        let (c, s) = connect(&mut net, 5001);
        let took = bulk(&mut net, c, s, 4 << 20);
        let mib = net.stacks[0].tcp_mib();
        let info = net.stacks[0].tcp_info(c).unwrap();
        let qdisc = *net.stacks[0].interface(ia).unwrap().qdisc_stats();
        // The queue really was too small: it refused segments, and said so.
        assert!(qdisc.drops > 0, "gso {gso}: the qdisc never refused");
        assert_eq!(net.stacks[0].snmp().link.tx_qdisc_drops, qdisc.drops);
        assert!(mib.local_refused > 0, "gso {gso}");
        // A refused segment was sent later, not lost: no retransmission, no timeout, and
        // the wire (which loses nothing) carried nothing twice.
        assert_eq!(mib.retrans_segs, 0, "gso {gso}: {mib:?}");
        assert_eq!(info.retransmits, 0, "gso {gso}");
        assert_eq!(info.timeouts, 0, "gso {gso}");
        // No timer was needed to get going again: 4 MiB cross in well under an RTO's
        // worth of waiting.
        assert!(
            took < Duration::from_millis(200),
            "gso {gso}: took {took:?}"
        );
    }
}

/// Fills host 0's qdisc and TX ring with UDP datagrams, so the next packet it queues is
/// refused.
fn fill_queue(net: &mut Net) {
    let now = net.now();
    let u = net.stacks[0].udp_bind(addr("10.0.0.1", 0)).unwrap();
    for _ in 0..RING + QDISC_LIMIT {
        // A refused datagram still counts as taken, as on Linux without IP_RECVERR.
        net.stacks[0]
            .udp_send_to(u, &[0u8; 32], addr("10.0.0.2", 9), now)
            .unwrap();
    }
}

#[test]
fn syn_and_fin_refused_by_a_full_qdisc_go_out_when_it_drains() {
    let (mut net, ia) = tight_hosts(TcpConfig::default());
    // A first connection resolves ARP, so later packets reach the qdisc at once.
    let (c0, _) = connect(&mut net, 5000);
    let drops = net.stacks[0].interface(ia).unwrap().qdisc_stats().drops;

    // The SYN finds the queue full.
    fill_queue(&mut net);
    let l = net.stacks[1].tcp_listen(addr("0.0.0.0", 5001), 8).unwrap();
    let now = net.now();
    let c = net.stacks[0]
        .tcp_connect(addr("10.0.0.2", 5001), now)
        .unwrap();
    let refused_syn = net.stacks[0].tcp_mib().local_refused;
    assert!(refused_syn >= 1, "the SYN was not refused");
    let ok = net
        .run_while(
            |n| n.stacks[0].tcp_state(c) != Ok(TcpState::Established),
            now + Duration::from_secs(10),
        )
        .unwrap();
    assert!(ok);
    // It went out as soon as the queue drained, not after the 1 s SYN timeout, and once.
    assert!(net.now().saturating_duration_since(now) < Duration::from_millis(10));
    let info = net.stacks[0].tcp_info(c).unwrap();
    assert_eq!(info.timeouts, 0);
    assert_eq!(net.stacks[0].tcp_mib().retrans_segs, 0);
    net.run_for(Duration::from_millis(1)).unwrap();
    let (s, _) = net.stacks[1].tcp_accept(l).unwrap();

    // The FIN finds the queue full.
    fill_queue(&mut net);
    let now = net.now();
    net.stacks[0].tcp_shutdown(c, Shutdown::Write, now).unwrap();
    assert!(net.stacks[0].tcp_mib().local_refused > refused_syn);
    let mut buf = [0u8; 16];
    let ok = net
        .run_while(
            |n| {
                let t = n.now();
                n.stacks[1].tcp_recv(s, &mut buf, t) != Ok(0)
            },
            now + Duration::from_secs(10),
        )
        .unwrap();
    assert!(ok, "the peer never saw the FIN");
    assert!(net.now().saturating_duration_since(now) < Duration::from_millis(10));
    assert_eq!(net.stacks[0].tcp_mib().retrans_segs, 0);
    assert_eq!(net.stacks[0].tcp_state(c0), Ok(TcpState::Established));
    let qdisc = net.stacks[0].interface(ia).unwrap().qdisc_stats().drops;
    assert!(
        qdisc >= drops + 2,
        "the qdisc counted {} refusals",
        qdisc - drops
    );
}

#[test]
fn an_ack_refused_by_a_full_qdisc_is_sent_once_it_drains() {
    let (mut net, _) = tight_hosts(TcpConfig::default());
    let (c, s) = connect(&mut net, 5001);
    // The receiver sends through a slow shaper whose queue is full when the data arrives,
    // so its ACK is refused and has to wait for the shaper to let a packet go.
    let ib = net.stacks[1].interfaces().next().unwrap();
    let shaper = Tbf::new(TbfParams {
        rate: 125_000,
        // One small frame at a time: the queue stays full while the data is on its way.
        burst: 100,
        limit: 2000,
    })
    .unwrap();
    net.stacks[1].set_qdisc(ib, Box::new(shaper)).unwrap();
    let now = net.now();
    let u = net.stacks[1].udp_bind(addr("10.0.0.2", 0)).unwrap();
    for _ in 0..100 {
        net.stacks[1]
            .udp_send_to(u, &[0u8; 32], addr("10.0.0.1", 9), now)
            .unwrap();
    }
    let drops = net.stacks[1].interface(ib).unwrap().qdisc_stats().drops;
    assert!(drops > 0, "the shaper's queue never filled");
    // Several full segments: the receiver acknowledges at once rather than delaying.
    assert_eq!(net.stacks[0].tcp_send(c, &[7u8; 6000], now), Ok(6000));
    let ok = net
        .run_while(
            |n| n.stacks[0].tcp_send_queue(c) != Ok(0),
            now + Duration::from_secs(10),
        )
        .unwrap();
    assert!(ok, "the data was never acknowledged");
    assert!(
        net.stacks[1].tcp_mib().local_refused >= 1,
        "no ACK was refused"
    );
    // The ACK went out once the shaper made room (2000 queued bytes at 125 kB/s: 16 ms),
    // long before the sender's 200 ms retransmission timeout: it neither timed out nor
    // resent.
    assert!(net.now().saturating_duration_since(now) < Duration::from_millis(50));
    assert_eq!(net.stacks[0].tcp_info(c).unwrap().timeouts, 0);
    assert_eq!(net.stacks[0].tcp_mib().retrans_segs, 0);
    let mut buf = [0u8; 8000];
    let now = net.now();
    assert_eq!(net.stacks[1].tcp_recv(s, &mut buf, now), Ok(6000));
}

#[test]
fn a_connect_whose_syn_no_queue_ever_takes_times_out() {
    let (mut net, ia) = tight_hosts(TcpConfig::default());
    // A first connection resolves ARP, so the SYN goes straight to the queue.
    connect(&mut net, 5000);
    let before = net.stacks[0].tcp_mib();
    let drops_before = net.stacks[0].interface(ia).unwrap().qdisc_stats().drops;
    // A shaper whose bucket is smaller than a SYN refuses it every time.
    let shaper = Tbf::new(TbfParams {
        rate: 1_000_000,
        burst: 60,
        limit: 60,
    })
    .unwrap();
    net.stacks[0].set_qdisc(ia, Box::new(shaper)).unwrap();
    net.stacks[1].tcp_listen(addr("0.0.0.0", 5001), 8).unwrap();
    let now = net.now();
    let c = net.stacks[0]
        .tcp_connect(addr("10.0.0.2", 5001), now)
        .unwrap();
    let ok = net
        .run_while(
            |n| n.stacks[0].tcp_state(c) == Ok(TcpState::SynSent),
            now + Duration::from_secs(600),
        )
        .unwrap();
    assert!(ok, "the connect never ended");
    assert_eq!(net.stacks[0].tcp_error(c), Ok(Some(TcpError::TimedOut)));
    let mib = net.stacks[0].tcp_mib();
    assert_eq!(mib.attempt_fails, 1);
    // The first try and one per retry timer (`tcp_syn_retries`), and more whenever the
    // shaper let a packet (ARP) go: each refused and counted by the qdisc, none sent.
    let tries = u64::from(TcpConfig::default().syn_retries) + 1;
    let refused = mib.local_refused - before.local_refused;
    assert!(refused >= tries, "{refused} tries");
    assert_eq!(mib.out_segs, before.out_segs);
    assert_eq!(mib.retrans_segs, before.retrans_segs);
    let drops = net.stacks[0].interface(ia).unwrap().qdisc_stats().drops;
    assert_eq!(drops - drops_before, refused);
    // Backed off like SYN retransmissions (1 + 2 + … + 64 s), not retried forever.
    let took = net.now().saturating_duration_since(now);
    assert!(
        took > Duration::from_secs(120) && took < Duration::from_secs(300),
        "{took:?}"
    );
}
