//! TCP features a user notices, each shown between two in-memory stacks on a virtual clock:
//! delayed ACKs, Nagle, keepalive, zero-window probes, receive-buffer autotuning, option
//! negotiation, TSO-sized segments and software GSO.

mod common;

use oxnic_stack::netsim::{two_hosts, two_hosts_with, LinkConfig, Net};
use oxnic_stack::tcp::{TcpConfig, TcpError, TcpHandle, TcpState};
use oxnic_stack::DeviceCaps;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

fn addr(s: &str, port: u16) -> SocketAddrV4 {
    SocketAddrV4::new(s.parse::<Ipv4Addr>().unwrap(), port)
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn connected(net: &mut Net) -> (TcpHandle, TcpHandle) {
    let (_, c, s) = common::tcp_connected(net, ms(100));
    (c, s)
}

/// Sends `n` bytes from stack `from` and reads them on the other side.
#[test]
fn delayed_ack_waits_40ms_for_a_lone_segment_but_not_for_two() {
    let (mut net, _, _) = two_hosts(DeviceCaps::default(), ms(1));
    let (c, s) = connected(&mut net);
    // Past the quick-ACK start of the connection.
    pump(&mut net, c, s, 4_000_000, usize::MAX);
    net.run_for(ms(100)).unwrap();
    let now = net.now();
    net.stacks[0].tcp_set_nodelay(c, true, now).unwrap();
    let now = net.now();
    net.stacks[0].tcp_send(c, b"x", now).unwrap();
    net.run_for(ms(20)).unwrap();
    assert_eq!(net.stacks[0].tcp_info(c).unwrap().unacked, 1, "ACK delayed");
    net.run_for(ms(30)).unwrap();
    assert_eq!(
        net.stacks[0].tcp_info(c).unwrap().unacked,
        0,
        "ACK after 40 ms"
    );
    // Two full segments are acknowledged at once.
    let now = net.now();
    net.stacks[0].tcp_send(c, &[1u8; 2896], now).unwrap();
    net.run_for(ms(5)).unwrap();
    assert_eq!(net.stacks[0].tcp_info(c).unwrap().unacked, 0);
}

#[test]
fn nagle_holds_small_writes_while_data_is_unacknowledged() {
    for nodelay in [false, true] {
        let (mut net, _, _) = two_hosts(DeviceCaps::default(), ms(5));
        let (c, s) = connected(&mut net);
        let now = net.now();
        net.stacks[0].tcp_set_nodelay(c, nodelay, now).unwrap();
        let now = net.now();
        net.stacks[0].tcp_send(c, b"a", now).unwrap();
        net.run_for(ms(1)).unwrap();
        let now = net.now();
        net.stacks[0].tcp_send(c, b"b", now).unwrap();
        net.stacks[0].tcp_send(c, b"c", now).unwrap();
        // One way takes 5 ms: at 7 ms the first byte is there; the others only if Nagle is off.
        net.run_for(ms(6)).unwrap();
        let queued = net.stacks[1].tcp_recv_queue(s).unwrap();
        assert_eq!(queued, if nodelay { 3 } else { 1 }, "nodelay {nodelay}");
        net.run_for(ms(20)).unwrap();
        assert_eq!(net.stacks[1].tcp_recv_queue(s).unwrap(), 3);
    }
}

#[test]
fn a_write_of_one_and_a_half_segments_is_not_stalled_by_nagle_and_delayed_ack() {
    // Nagle with Minshall's variant (Linux `tcp_nagle_check`, `tcp_minshall_check`): a short
    // tail is held only while an earlier short segment is unacknowledged. A full segment in
    // flight does not hold it: the receiver delays the ACK of that lone segment by 40 ms, so
    // classic Nagle would stall every write of 1.5 segments that long. (Segments built one
    // by one: with GSO the write would leave as one super-packet anyway.)
    let (mut net, _, _) = two_hosts(DeviceCaps::default(), ms(1));
    net.stacks[0].set_tcp_config(TcpConfig {
        gso: false,
        ..TcpConfig::default()
    });
    let (c, s) = connected(&mut net);
    // Past the quick-ACK start of the connection: the receiver delays ACKs.
    pump(&mut net, c, s, 4_000_000, usize::MAX);
    net.run_for(ms(100)).unwrap();
    let now = net.now();
    assert_eq!(net.stacks[0].tcp_send(c, &[5u8; 2000], now), Ok(2000));
    net.run_for(ms(5)).unwrap();
    assert_eq!(
        net.stacks[1].tcp_recv_queue(s).unwrap(),
        2000,
        "the 552-byte tail went with the full segment"
    );
    // A short segment outstanding still holds the next short one (plain Nagle).
    let mut buf = vec![0u8; 4096];
    let now = net.now();
    assert_eq!(net.stacks[1].tcp_recv(s, &mut buf, now), Ok(2000));
    net.run_for(ms(100)).unwrap();
    let now = net.now();
    net.stacks[0].tcp_send(c, b"a", now).unwrap();
    net.run_for(ms(1)).unwrap();
    let now = net.now();
    net.stacks[0].tcp_send(c, b"b", now).unwrap();
    net.run_for(ms(5)).unwrap();
    assert_eq!(
        net.stacks[1].tcp_recv_queue(s).unwrap(),
        1,
        "b waits for a's ACK"
    );
    net.run_for(ms(50)).unwrap();
    assert_eq!(net.stacks[1].tcp_recv_queue(s).unwrap(), 2);
}

/// Client `c` sends a request of `writes`, server `s` reads until it has all of it and
/// answers with 100 bytes, which the client reads. Returns how long the request took to
/// arrive whole, and the segments the server sent from the first write to the answer's
/// arrival.
fn exchange(net: &mut Net, c: TcpHandle, s: TcpHandle, writes: &[&[u8]]) -> (Duration, u64) {
    let total: usize = writes.iter().map(|w| w.len()).sum();
    let start = net.now();
    let segs = net.stacks[1].tcp_info(s).unwrap().segs_out;
    for w in writes {
        assert_eq!(net.stacks[0].tcp_send(c, w, start), Ok(w.len()));
    }
    let mut buf = vec![0u8; 4096];
    let mut got = 0;
    let done = net
        .run_while(
            |net| {
                let now = net.now();
                while let Ok(k) = net.stacks[1].tcp_recv(s, &mut buf, now) {
                    if k == 0 {
                        break;
                    }
                    got += k;
                }
                got < total
            },
            start + Duration::from_secs(1),
        )
        .unwrap();
    assert!(done, "request arrived");
    let took = net.now() - start;
    let now = net.now();
    assert_eq!(net.stacks[1].tcp_send(s, &[7u8; 100], now), Ok(100));
    let mut answer = 0;
    let deadline = now + Duration::from_secs(1);
    net.run_while(
        |net| {
            let now = net.now();
            answer += net.stacks[0].tcp_recv(c, &mut buf, now).unwrap_or(0);
            answer < 100
        },
        deadline,
    )
    .unwrap();
    assert_eq!(answer, 100);
    let segs = net.stacks[1].tcp_info(s).unwrap().segs_out - segs;
    (took, segs)
}

#[test]
fn a_read_that_drains_a_pushed_short_segment_is_acknowledged_unless_an_answer_is_due() {
    // Linux `__tcp_cleanup_rbuf`: a read that empties the receive queue after a short (pushed)
    // segment sends the delayed ACK at once, unless the connection is interactive (ping-pong:
    // it answered data within the delayed-ACK time, so the answer carries the ACK). A client
    // whose second short write waits for Nagle is then not held 40 ms by the server's delayed
    // ACK.
    let (mut net, _, _) = two_hosts(DeviceCaps::default(), ms(1));
    let (c, s) = connected(&mut net);
    // Past the quick-ACK start of the connection: the server delays ACKs.
    pump(&mut net, c, s, 4_000_000, usize::MAX);
    net.run_for(ms(100)).unwrap();
    // Write, write, read: the body waits for the header's ACK, which the reading server sends.
    let (took, _) = exchange(&mut net, c, s, &[&[1u8; 100], &[2u8; 100]]);
    assert!(took < ms(10), "request took {took:?}");
    // The server answered at once: interactive now. A request in one write is acknowledged
    // by the answer alone, not by a pure ACK before it.
    net.run_for(ms(100)).unwrap();
    let (took, segs) = exchange(&mut net, c, s, &[&[3u8; 200]]);
    assert!(took < ms(5), "request took {took:?}");
    assert_eq!(segs, 1, "the answer carries the ACK");
}

#[test]
fn keepalive_probes_keep_a_live_peer_and_drop_a_dead_one() {
    let (mut net, _, _) = two_hosts(DeviceCaps::default(), ms(1));
    net.stacks[0].set_tcp_config(common::keepalive_10s_2s_3());
    let (c, s) = connected(&mut net);
    let now = net.now();
    net.stacks[0].tcp_set_keepalive(c, true, now).unwrap();
    let before = net.stacks[1].tcp_info(s).unwrap().segs_in;
    net.run_for(Duration::from_secs(35)).unwrap();
    // Probes went out and were answered: still established.
    assert!(net.stacks[1].tcp_info(s).unwrap().segs_in >= before + 3);
    assert_eq!(net.stacks[0].tcp_state(c).unwrap(), TcpState::Established);
    // The peer vanishes at 35 s. The last answer came at 30 s: probes at 40, 42 and 44 s go
    // unanswered, and at 46 s the connection times out.
    net.set_link_config(0, LinkConfig::new(ms(1), 1500).loss(1.0))
        .unwrap();
    net.run_for(Duration::from_secs(10)).unwrap();
    assert_eq!(net.stacks[0].tcp_state(c).unwrap(), TcpState::Established);
    net.run_for(Duration::from_secs(2)).unwrap();
    assert_eq!(
        net.stacks[0].tcp_error(c).unwrap(),
        Some(TcpError::TimedOut)
    );
}

#[test]
fn zero_window_is_probed_until_the_reader_catches_up() {
    let (mut net, _, _) = two_hosts(DeviceCaps::default(), ms(1));
    let (c, s) = connected(&mut net);
    net.stacks[1].tcp_set_rcvbuf(s, 8192).unwrap();
    let data = vec![3u8; 100_000];
    let now = net.now();
    let queued = net.stacks[0].tcp_send(c, &data, now).unwrap();
    assert_eq!(queued, data.len());
    net.run_for(Duration::from_secs(20)).unwrap();
    let info = net.stacks[0].tcp_info(c).unwrap();
    assert_eq!(info.snd_wnd, 0);
    assert!(info.zero_window_probes >= 3, "{info:?}");
    assert_eq!(info.state, TcpState::Established);
    // The reader drains; the window reopens and everything arrives.
    let mut got = 0;
    let mut buf = vec![0; 4096];
    for _ in 0..10_000 {
        let now = net.now();
        while let Ok(n) = net.stacks[1].tcp_recv(s, &mut buf, now) {
            if n == 0 {
                break;
            }
            got += n;
        }
        if got == data.len() {
            break;
        }
        net.run_for(ms(10)).unwrap();
    }
    assert_eq!(got, data.len());
}

#[test]
fn receive_buffer_grows_on_a_long_fat_path() {
    let link = LinkConfig::new(ms(20), 1500).bandwidth(1_000_000_000);
    let (mut net, _, _) = two_hosts_with(DeviceCaps::all_offloads(1500), link, 5);
    let (c, s) = connected(&mut net);
    let initial = net.stacks[1].tcp_info(s).unwrap().rcvbuf;
    pump(&mut net, c, s, 40_000_000, usize::MAX);
    let grown = net.stacks[1].tcp_info(s).unwrap().rcvbuf;
    assert!(grown >= 8 * initial, "{initial} -> {grown}");
    // And the window the sender saw followed it, scaled.
    assert!(net.stacks[0].tcp_info(c).unwrap().snd_wnd > 65_535);
}

#[test]
fn options_are_negotiated_and_switched_off_when_the_peer_lacks_them() {
    let (mut net, _, _) = two_hosts(DeviceCaps::default(), ms(1));
    let (c, s) = connected(&mut net);
    for info in [
        net.stacks[0].tcp_info(c).unwrap(),
        net.stacks[1].tcp_info(s).unwrap(),
    ] {
        assert!(info.sack && info.timestamps, "{info:?}");
        assert_eq!(info.wscale, (7, 7));
        assert_eq!(info.snd_mss, 1460);
    }
    let (mut net, _, _) = two_hosts(DeviceCaps::default(), ms(1));
    net.stacks[1].set_tcp_config(TcpConfig {
        sack: false,
        timestamps: false,
        window_scaling: false,
        ..TcpConfig::default()
    });
    let (c, s) = connected(&mut net);
    for info in [
        net.stacks[0].tcp_info(c).unwrap(),
        net.stacks[1].tcp_info(s).unwrap(),
    ] {
        assert!(!info.sack && !info.timestamps, "{info:?}");
        assert_eq!(info.wscale, (0, 0));
    }
    // Without scaling the window stays under 64 KB and data still flows.
    pump(&mut net, c, s, 1_000_000, usize::MAX);
    assert!(net.stacks[0].tcp_info(c).unwrap().snd_wnd <= 65_535);
}

#[test]
fn super_packets_go_to_tso_devices_and_through_software_gso_otherwise() {
    // A TSO device gets super-packets; the wire (the card) cuts them.
    let (mut net, ia, _) = two_hosts(DeviceCaps::all_offloads(1500), ms(1));
    let (c, s) = connected(&mut net);
    pump(&mut net, c, s, 2_000_000, usize::MAX);
    let segs = net.stacks[0].tcp_info(c).unwrap().segs_out;
    let frames = net.links()[0].total().carried;
    assert!(
        frames > 2 * segs,
        "{segs} super-packets became {frames} frames"
    );
    assert_eq!(
        net.stacks[0].interface(ia).unwrap().stats().gso_segmented,
        0
    );
    // Without TSO the stack's software GSO cuts them before the device.
    let (mut net, ia, _) = two_hosts(DeviceCaps::default(), ms(1));
    let (c, s) = connected(&mut net);
    pump(&mut net, c, s, 2_000_000, usize::MAX);
    assert!(net.stacks[0].interface(ia).unwrap().stats().gso_segmented > 10);
    // And with GSO off every segment is built by TCP itself.
    let (mut net, ia, _) = two_hosts(DeviceCaps::default(), ms(1));
    net.stacks[0].set_tcp_config(TcpConfig {
        gso: false,
        ..TcpConfig::default()
    });
    let (c, s) = connected(&mut net);
    pump(&mut net, c, s, 2_000_000, usize::MAX);
    assert_eq!(
        net.stacks[0].interface(ia).unwrap().stats().gso_segmented,
        0
    );
    assert!(net.stacks[0].tcp_info(c).unwrap().segs_out > 1300);
}

/// Moves `n` bytes of a varied pattern from stack 0 to stack 1 and checks every one; the
/// application writes at most `write_max` bytes between two rounds of the stacks.
fn pump(net: &mut Net, tx: TcpHandle, rx: TcpHandle, n: usize, write_max: usize) {
    let data: Vec<u8> = (0..n as u64).map(|i| (i * 131 % 251) as u8).collect();
    let (mut sent, mut got) = (0, 0);
    let mut buf = vec![0u8; 1 << 16];
    let deadline = net.now() + Duration::from_secs(60);
    let ok = net
        .run_while(
            |net| {
                let now = net.now();
                if sent < n {
                    // Writes of varied sizes, so the copies start and end anywhere in a segment.
                    let w = (n - sent)
                        .min(write_max)
                        .min(1000 + sent % 7919 + write_max / 2);
                    sent += net.stacks[0]
                        .tcp_send(tx, &data[sent..sent + w], now)
                        .unwrap_or(0);
                }
                while let Ok(k) = net.stacks[1].tcp_recv(rx, &mut buf, now) {
                    if k == 0 {
                        break;
                    }
                    assert!(buf[..k] == data[got..got + k], "changed bytes at {got}");
                    got += k;
                }
                got < n
            },
            deadline,
        )
        .unwrap();
    assert!(ok, "pumped {got} of {n}");
}

#[test]
fn without_checksum_offload_segment_sums_are_taken_while_the_bytes_are_copied_in() {
    // No offloads: TCP sums each segment's payload as the application's bytes are copied
    // into the send queue, and software GSO takes those sums instead of reading the payloads
    // again. The receiver, which checks every checksum, finds them right.
    let (mut net, ia, _) = two_hosts(DeviceCaps::default(), ms(1));
    let (c, s) = connected(&mut net);
    pump(&mut net, c, s, 3_000_000, 8000);
    let st = net.stacks[0].interface(ia).unwrap().stats();
    assert!(st.gso_segmented > 10);
    // Not all: the short segment that ends what the application had written, and single
    // segments (which TCP builds itself, taking a full one's sum from the copy too) are not
    // GSO's.
    assert!(
        st.gso_sums_from_copy > st.tx_packets * 3 / 4,
        "{} of {} frames took their sum from the copy",
        st.gso_sums_from_copy,
        st.tx_packets
    );
    assert_eq!(net.stacks[1].tcp_mib().in_csum_errors, 0);
    assert_eq!(net.stacks[1].snmp().ip.in_csum_errors, 0);

    // The transfer ended in a short segment. A megabyte written at once after it (more than
    // the window takes: most of it waits in the queue) is summed on the cells of the segments
    // that will carry it, which start where the short one ended.
    let before = *st;
    pump(&mut net, c, s, 1_000_000, usize::MAX);
    let st = net.stacks[0].interface(ia).unwrap().stats();
    let (frames, sums) = (
        st.tx_packets - before.tx_packets,
        st.gso_sums_from_copy - before.gso_sums_from_copy,
    );
    // (The rest are single segments, whose full ones TCP builds itself, with their sums.)
    assert!(sums > frames * 3 / 4, "{sums} of {frames} frames");

    // A card that does TSO and checksums gets super-packets, and TCP takes no sums for it.
    let (mut net, ia, _) = two_hosts(DeviceCaps::all_offloads(1500), ms(1));
    let (c, s) = connected(&mut net);
    pump(&mut net, c, s, 1_000_000, usize::MAX);
    let st = net.stacks[0].interface(ia).unwrap().stats();
    assert_eq!((st.gso_segmented, st.gso_sums_from_copy), (0, 0));
}

#[test]
fn time_wait_lasts_two_msl() {
    let (mut net, _, _) = two_hosts(DeviceCaps::default(), ms(1));
    let (c, s) = connected(&mut net);
    let now = net.now();
    net.stacks[0].tcp_close(c, now).unwrap();
    net.run_for(ms(10)).unwrap();
    let now = net.now();
    net.stacks[1].tcp_close(s, now).unwrap();
    net.run_for(ms(10)).unwrap();
    // The handle was released by close; TIME-WAIT lives on inside the stack.
    assert_eq!(net.stacks[0].tcp_mib().curr_estab, 0);
    let a = net.stacks[0].tcp_local_addr(c);
    assert_eq!(a, Err(TcpError::BadHandle));
    // A new connection from the same port is refused while TIME-WAIT holds the 4-tuple...
    let port = 40_000;
    let (mut net, _, _) = two_hosts(DeviceCaps::default(), ms(1));
    let now = net.now();
    let l = net.stacks[1].tcp_listen(addr("0.0.0.0", 80), 4).unwrap();
    let local = addr("10.0.0.1", port);
    let c = net.stacks[0]
        .tcp_connect_from(local, addr("10.0.0.2", 80), now)
        .unwrap();
    net.run_for(ms(10)).unwrap();
    let (s, _) = net.stacks[1].tcp_accept(l).unwrap();
    let now = net.now();
    net.stacks[0]
        .tcp_shutdown(c, oxnic_stack::tcp::Shutdown::Write, now)
        .unwrap();
    net.run_for(ms(10)).unwrap();
    let now = net.now();
    net.stacks[1].tcp_close(s, now).unwrap();
    net.run_for(ms(10)).unwrap();
    assert_eq!(net.stacks[0].tcp_state(c).unwrap(), TcpState::TimeWait);
    net.run_for(Duration::from_secs(59)).unwrap();
    assert_eq!(net.stacks[0].tcp_state(c).unwrap(), TcpState::TimeWait);
    let now = net.now();
    assert_eq!(
        net.stacks[0].tcp_connect_from(local, addr("10.0.0.2", 80), now),
        Err(TcpError::AddrInUse)
    );
    // ... and free after 2×MSL.
    net.run_for(Duration::from_secs(2)).unwrap();
    assert_eq!(net.stacks[0].tcp_state(c).unwrap(), TcpState::Closed);
    let now = net.now();
    net.stacks[0].tcp_close(c, now).unwrap();
    let now = net.now();
    assert!(net.stacks[0]
        .tcp_connect_from(local, addr("10.0.0.2", 80), now)
        .is_ok());
}

#[test]
fn header_prediction_takes_the_bulk_of_a_transfer() {
    let (mut net, _, _) = two_hosts(DeviceCaps::default(), ms(1));
    net.stacks[0].set_tcp_config(TcpConfig {
        gso: false,
        ..TcpConfig::default()
    });
    let (c, s) = connected(&mut net);
    pump(&mut net, c, s, 20_000_000, usize::MAX);
    let rx = net.stacks[1].tcp_mib();
    let tx = net.stacks[0].tcp_mib();
    // Software GRO merges what arrives in one poll; each merged train is one segment to TCP.
    // In-order data nearly always takes the fast path; ACKs do unless they come during a
    // recovery or only update the window. Here the application reads after every train, so
    // the receiver follows nearly every ACK of data with a window update (receiver SWS
    // avoidance), which acknowledges nothing new: close to half of the ACKs.
    let data_segs = net.stacks[1].tcp_info(s).unwrap().segs_in;
    assert!(rx.hp_hits * 10 >= data_segs * 9, "{rx:?}");
    let acks = net.stacks[0].tcp_info(c).unwrap().segs_in;
    assert!(tx.hp_acks * 5 >= acks * 2, "{tx:?}");
}

#[test]
fn losses_are_repaired_by_fast_retransmit_not_timeouts() {
    for sack in [true, false] {
        let link = LinkConfig::new(ms(5), 1500)
            .bandwidth(100_000_000)
            .loss(0.003);
        let (mut net, _, _) = two_hosts_with(DeviceCaps::default(), link, 11);
        let cfg = TcpConfig {
            sack,
            ..TcpConfig::default()
        };
        net.stacks[0].set_tcp_config(cfg.clone());
        net.stacks[1].set_tcp_config(cfg);
        let (c, s) = connected(&mut net);
        if !sack {
            // NewReno per socket, on this side only.
            net.stacks[0]
                .tcp_set_congestion(c, oxnic_stack::tcp::CcAlgorithm::NewReno)
                .unwrap();
        }
        pump(&mut net, c, s, 5_000_000, usize::MAX);
        let info = net.stacks[0].tcp_info(c).unwrap();
        let lost = net.links()[0].total().lost;
        assert!(lost >= 5, "{lost}");
        assert!(info.recoveries >= 3, "sack {sack}: {info:?}");
        assert_eq!(info.timeouts, 0, "sack {sack}: {info:?}");
        assert_eq!(info.sack, sack);
        let want = if sack {
            oxnic_stack::tcp::CcAlgorithm::Cubic
        } else {
            oxnic_stack::tcp::CcAlgorithm::NewReno
        };
        assert_eq!(info.cc, want);
    }
}

#[test]
fn unread_small_segments_cost_one_chunk_and_big_ones_arrive_intact() {
    let (mut net, _, _) = two_hosts(DeviceCaps::default(), ms(1));
    let (c, s) = connected(&mut net);
    let now = net.now();
    net.stacks[0].tcp_set_nodelay(c, true, now).unwrap();
    // 300 one-byte segments the receiver does not read yet: copied together into one chunk
    // of the receive queue rather than each keeping its frame alive.
    let small: Vec<u8> = (0..300u32).map(|i| (i * 7) as u8).collect();
    for b in &small {
        let now = net.now();
        assert_eq!(
            net.stacks[0].tcp_send(c, std::slice::from_ref(b), now),
            Ok(1)
        );
        net.run_for(ms(3)).unwrap();
    }
    let info = net.stacks[1].tcp_info(s).unwrap();
    assert_eq!(net.stacks[1].tcp_recv_queue(s).unwrap(), 300);
    assert!(
        info.rcv_mem < 32 * 1024,
        "300 bytes stand for {}",
        info.rcv_mem
    );
    // Then full-sized segments, kept in their buffers, read in pieces that cross them.
    let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let mut sent = 0;
    let mut got = Vec::new();
    let mut buf = [0u8; 1000];
    let deadline = net.now() + Duration::from_secs(10);
    let done = net
        .run_while(
            |net| {
                let now = net.now();
                if sent < big.len() {
                    sent += net.stacks[0].tcp_send(c, &big[sent..], now).unwrap_or(0);
                }
                while let Ok(k) = net.stacks[1].tcp_recv(s, &mut buf, now) {
                    if k == 0 {
                        break;
                    }
                    got.extend_from_slice(&buf[..k]);
                }
                got.len() < small.len() + big.len()
            },
            deadline,
        )
        .unwrap();
    assert!(done, "received {} bytes", got.len());
    assert_eq!(got[..300], small[..]);
    assert_eq!(got[300..], big[..]);
    assert_eq!(net.stacks[1].tcp_info(s).unwrap().rcv_collapses, 0);
}

/// The ARP requests (operation 1, not the replies owed to the peer's probes) stack `stack`
/// sent since the last call, from its wire tap `tap`.
fn arp_requests(net: &mut Net, stack: usize, tap: oxnic_stack::packet_tap::TapId) -> usize {
    net.stacks[stack]
        .tap_take(tap)
        .unwrap()
        .iter()
        .filter(|f| {
            let d = f.packet.data();
            d.get(12..14) == Some(&[8, 6][..]) && d.get(20..22) == Some(&[0, 1][..])
        })
        .count()
}

/// The state of A's ARP entry for B (10.0.0.2).
fn a_entry_for_b(net: &Net, a_if: oxnic_stack::route::IfIndex) -> oxnic_stack::neigh::NeighState {
    net.stacks[0]
        .interface(a_if)
        .unwrap()
        .neigh()
        .get("10.0.0.2".parse().unwrap())
        .unwrap()
        .state
}

/// Duplicate ACKs tell the neighbour layer the peer answers too (Linux `tcp_ack` confirms
/// on `!(flag & FLAG_NOT_DUP)` as on forward progress). A's data is lost on a link gone dead
/// for 40 s while B, which hears A, sends only duplicate ACKs (put into A's device as if from
/// the wire): nothing is acknowledged, yet A's ARP entry for B stays reachable and A sends no
/// ARP probe. Confirmed by new ACKs alone, the entry went STALE after 30 s and A probed B.
#[test]
fn duplicate_acks_keep_the_neighbour_confirmed_while_nothing_is_acknowledged() {
    use oxnic_stack::neigh::NeighState;
    use oxnic_stack::netsim::{mac, tcp_frame};
    use oxnic_stack::packet_tap::TapPoint;
    use oxnic_stack::wire::tcp::{TcpFlags, TcpOptions, TcpRepr};
    let (mut net, a_if, b_if) = two_hosts(DeviceCaps::default(), ms(1));
    // No timestamps or SACK: a duplicate ACK made here needs no echo that passes PAWS.
    let cfg = TcpConfig {
        timestamps: false,
        sack: false,
        ..TcpConfig::default()
    };
    for stack in &mut net.stacks {
        stack.set_tcp_config(cfg.clone());
    }
    let (c, _s) = connected(&mut net);
    let (local, remote) = (
        net.stacks[0].tcp_local_addr(c).unwrap(),
        net.stacks[0].tcp_peer_addr(c).unwrap(),
    );
    net.set_link_config(0, LinkConfig::new(ms(1), 1500).loss(1.0))
        .unwrap();
    let tap = net.stacks[0].add_tap(TapPoint::WireTx, Some(a_if), 1000);
    let now = net.now();
    net.stacks[0].tcp_send(c, b"lost", now).unwrap();
    for _ in 0..40 {
        net.run_for(Duration::from_secs(1)).unwrap();
        let info = net.stacks[0].tcp_info(c).unwrap();
        let dup = TcpRepr {
            src_port: remote.port(),
            dst_port: local.port(),
            seq: info.rcv_nxt,
            ack: info.snd_una,
            flags: TcpFlags(TcpFlags::ACK),
            // The window A has from B, unchanged: a window update is no duplicate.
            window: (info.snd_wnd >> info.wscale.0) as u16,
            urgent: 0,
            options: TcpOptions::default(),
        };
        let frame = tcp_frame(mac(1, b_if), mac(0, a_if), remote, local, &dup, &[]).unwrap();
        assert!(net.push_frame(0, a_if, &frame));
    }
    let info = net.stacks[0].tcp_info(c).unwrap();
    assert_eq!(info.unacked, 4, "nothing was acknowledged");
    assert!(
        info.retransmits > 0,
        "A kept retransmitting into the dead link"
    );
    assert_eq!(arp_requests(&mut net, 0, tap), 0, "A never probed B");
    assert_eq!(a_entry_for_b(&net, a_if), NeighState::Reachable);
}

/// TCP tells the neighbour layer the peer answers (Linux `tcp_ack` → `sk_dst_confirm` →
/// `neigh_confirm`): while A's data is acknowledged, A's ARP entry for B stays reachable and
/// A sends no ARP probe, however long the connection lasts; B, which only receives and so
/// has nothing acknowledged, probes A's address each time its entry ages, as Linux does.
#[test]
fn acknowledged_data_keeps_the_neighbour_confirmed_without_arp_probes() {
    use oxnic_stack::neigh::NeighState;
    use oxnic_stack::packet_tap::TapPoint;
    let (mut net, a_if, b_if) = two_hosts(DeviceCaps::default(), ms(1));
    let (c, s) = connected(&mut net);
    let tap_a = net.stacks[0].add_tap(TapPoint::WireTx, Some(a_if), 1000);
    let tap_b = net.stacks[1].add_tap(TapPoint::WireTx, Some(b_if), 1000);
    let mut buf = [0u8; 64];
    for _ in 0..120 {
        let now = net.now();
        net.stacks[0].tcp_send(c, b"tick", now).unwrap();
        net.run_for(Duration::from_secs(1)).unwrap();
        let now = net.now();
        assert_eq!(net.stacks[1].tcp_recv(s, &mut buf, now), Ok(4));
    }
    assert_eq!(arp_requests(&mut net, 0, tap_a), 0, "A never probed B");
    assert!(arp_requests(&mut net, 1, tap_b) > 0, "B probed A");
    assert_eq!(a_entry_for_b(&net, a_if), NeighState::Reachable);
}
