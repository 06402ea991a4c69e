//! `TCP_USER_TIMEOUT` (RFC 5482's local timeout, Linux `icsk_user_timeout`), per-socket
//! keepalive settings (`TCP_KEEPIDLE`, `TCP_KEEPINTVL`, `TCP_KEEPCNT`) and how keepalive ends
//! a connection, between two in-memory stacks on a virtual clock.
//!
//! A user timeout replaces the retry counts: sent data unacknowledged that long ends the
//! connection with ETIMEDOUT, a connect too, a zero window that lasts that long too, and with
//! keepalive on, a peer silent that long once a probe went unanswered. Retransmissions and
//! probes go out as before; the timers are cut short so the end comes on time. Keepalive ends
//! a connection with a reset to the peer, as Linux's `tcp_keepalive_timer` does.

mod common;

use oxnic_stack::netsim::{two_hosts, LinkConfig, Net};
use oxnic_stack::packet_tap::{TapId, TapPoint};
use oxnic_stack::route::IfIndex;
use oxnic_stack::tcp::{KeepaliveParams, TcpConfig, TcpError, TcpHandle, TcpInfo, TcpState};
use oxnic_stack::time::Instant;
use oxnic_stack::DeviceCaps;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// Two hosts 1 ms apart with TCP settings `cfg` on A, a connection from A to B, and a tap on
/// A's transmit side: (net, A's socket, B's socket, the tap).
fn setup(cfg: TcpConfig) -> (Net, TcpHandle, TcpHandle, TapId) {
    let (mut net, a_if, _): (Net, IfIndex, IfIndex) = two_hosts(DeviceCaps::default(), ms(1));
    net.stacks[0].set_tcp_config(cfg);
    let (_, c, s) = common::tcp_connected(&mut net, ms(100));
    let tap = net.stacks[0].add_tap(TapPoint::WireTx, Some(a_if), 1000);
    (net, c, s, tap)
}

/// From now on, every frame on the link is lost.
fn cut(net: &mut Net) {
    net.set_link_config(0, LinkConfig::new(ms(1), 1500).loss(1.0))
        .unwrap();
}

/// The TCP flags of the TCP segments A sent since the tap was last read.
fn tcp_flags(net: &mut Net, tap: TapId) -> Vec<u8> {
    tcp_flags_of(net, 0, tap)
}

/// The TCP flags of the TCP segments stack `stack` sent since its tap was last read.
fn tcp_flags_of(net: &mut Net, stack: usize, tap: TapId) -> Vec<u8> {
    net.stacks[stack]
        .tap_take(tap)
        .unwrap()
        .iter()
        .filter_map(|c| {
            let f = c.packet.data();
            let ihl = usize::from(*f.get(14)? & 0x0f) * 4;
            (*f.get(23)? == 6).then(|| f.get(14 + ihl + 13).copied())?
        })
        .collect()
}

const RST: u8 = 0x04;

/// Runs until A's socket `c` is closed, for at most `limit`; returns when it closed.
fn closed_at(net: &mut Net, c: TcpHandle, limit: Duration) -> Instant {
    closed_at_on(net, 0, c, limit)
}

/// Runs until socket `c` of stack `stack` is closed, for at most `limit`; returns when it
/// closed.
fn closed_at_on(net: &mut Net, stack: usize, c: TcpHandle, limit: Duration) -> Instant {
    let deadline = net.now() + limit;
    let done = net
        .run_while(
            |n| n.stacks[stack].tcp_state(c) != Ok(TcpState::Closed),
            deadline,
        )
        .unwrap();
    assert!(
        done,
        "still {:?} at {:?}",
        net.stacks[stack].tcp_state(c),
        net.now()
    );
    net.now()
}

/// Runs until socket `c` of stack `stack` is closed and checks that it ended with
/// `TimedOut` `after` the instant `t0` (within 10 ms).
fn times_out(net: &mut Net, stack: usize, c: TcpHandle, t0: Instant, after: Duration) {
    let took = closed_at_on(net, stack, c, secs(200)).saturating_duration_since(t0);
    assert!(
        took >= after && took < after + ms(10),
        "ended after {took:?}"
    );
    assert_eq!(net.stacks[stack].tcp_error(c), Ok(Some(TcpError::TimedOut)));
}

/// Sent data unacknowledged for the user timeout ends the connection then, not after the
/// quarter of an hour `tcp_retries2` stands for: retransmissions back off as usual (0.2, 0.6,
/// 1.4 and 3 s after the send) and the next timer, due at 6.2 s, is cut to the timeout's end.
/// The timeout is no reset: the peer hears nothing.
#[test]
fn unacknowledged_data_ends_the_connection_at_the_user_timeout() {
    let (mut net, c, _s, tap) = setup(TcpConfig::default());
    net.stacks[0]
        .tcp_set_user_timeout(c, Some(secs(5)))
        .unwrap();
    assert_eq!(net.stacks[0].tcp_user_timeout(c), Ok(Some(secs(5))));
    cut(&mut net);
    let t0 = net.now();
    net.stacks[0].tcp_send(c, b"hello", t0).unwrap();
    times_out(&mut net, 0, c, t0, secs(5));
    let info = net.stacks[0].tcp_info(c).unwrap();
    assert_eq!(info.timeouts, 4, "{info:?}");
    assert!(!tcp_flags(&mut net, tap).iter().any(|f| f & RST != 0));
}

/// Without a user timeout the same connection is still trying long after: the retry budget
/// of `tcp_retries2` decides. A zero timeout means the default, as on Linux.
#[test]
fn without_a_user_timeout_the_retries_decide() {
    let (mut net, c, _s, _tap) = setup(TcpConfig::default());
    net.stacks[0]
        .tcp_set_user_timeout(c, Some(secs(5)))
        .unwrap();
    net.stacks[0]
        .tcp_set_user_timeout(c, Some(Duration::ZERO))
        .unwrap();
    assert_eq!(net.stacks[0].tcp_user_timeout(c), Ok(None));
    cut(&mut net);
    let now = net.now();
    net.stacks[0].tcp_send(c, b"hello", now).unwrap();
    net.run_for(secs(60)).unwrap();
    assert_eq!(net.stacks[0].tcp_state(c), Ok(TcpState::Established));
}

/// A connect to a host that never answers fails at the user timeout (the SYN went at 0 and
/// again at 1 s; the next timer, due at 3 s, is cut to 2 s) instead of after `tcp_syn_retries`
/// (127 s), and counts as a failed attempt.
#[test]
fn a_connect_fails_at_the_user_timeout() {
    let (mut net, _, _) = two_hosts(DeviceCaps::default(), ms(1));
    cut(&mut net);
    let t0 = net.now();
    let c = net.stacks[0]
        .tcp_connect(SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 80), t0)
        .unwrap();
    net.stacks[0]
        .tcp_set_user_timeout(c, Some(secs(2)))
        .unwrap();
    times_out(&mut net, 0, c, t0, secs(2));
    assert_eq!(net.stacks[0].tcp_mib().attempt_fails, 1);
}

/// A zero window the peer keeps answering probes for lasts forever by default (RFC 9293
/// §3.8.6.1; `zero_window_is_probed_until_the_reader_catches_up` in tcp_features.rs). With a
/// user timeout, data kept unsent that long ends the connection (Linux `tcp_probe_timer`,
/// counted from the persist timer's first firing), cut short of the next backed-off probe.
#[test]
fn a_zero_window_lasting_the_user_timeout_ends_the_connection() {
    let (mut net, _, _) = two_hosts(DeviceCaps::default(), ms(1));
    net.stacks[1].set_tcp_config(TcpConfig {
        rcvbuf: 8192,
        rcvbuf_max: 8192,
        ..TcpConfig::default()
    });
    let (_, c, _s) = common::tcp_connected(&mut net, ms(100));
    let (info, took) = stuck_behind_a_zero_window(&mut net, c);
    assert_eq!(
        (info.state, info.snd_wnd, info.unacked),
        (TcpState::Established, 0, 0)
    );
    assert!(info.zero_window_probes >= 3, "{info:?}");
    assert!(took > secs(30) && took < secs(31), "ended after {took:?}");
    // Probes backed off as usual (about 0.2, 0.6, 1.4, 3, 6.2, 12.6 and 25.4 s after the
    // window closed); the next, due at 51 s, was cut to the timeout's end, where it ended.
    let probes = net.stacks[0].tcp_info(c).unwrap().zero_window_probes;
    assert!((7..=8).contains(&probes), "{probes} probes");
}

/// With a 30 s user timeout, A's socket `c` sends 100 kB that B's small receive buffer stops;
/// returns A's `TcpInfo` 20 s later, and, once the connection has ended with `TimedOut`, how
/// long after the send that was.
fn stuck_behind_a_zero_window(net: &mut Net, c: TcpHandle) -> (TcpInfo, Duration) {
    net.stacks[0]
        .tcp_set_user_timeout(c, Some(secs(30)))
        .unwrap();
    let t0 = net.now();
    net.stacks[0].tcp_send(c, &[3u8; 100_000], t0).unwrap();
    net.run_for(secs(20)).unwrap();
    let info = net.stacks[0].tcp_info(c).unwrap();
    let end = closed_at(net, c, secs(60));
    assert_eq!(net.stacks[0].tcp_error(c), Ok(Some(TcpError::TimedOut)));
    (info, end.saturating_duration_since(t0))
}

/// A receiver that shrinks its window under data already sent turns the retransmissions into
/// window probes, which by default end the connection only when the peer falls silent. With a
/// user timeout the head segment may wait that long and no longer, answered or not (Linux
/// `tcp_rtx_probe0_timed_out`).
#[test]
fn a_window_shrunk_under_sent_data_for_the_user_timeout_ends_the_connection() {
    let (mut net, c, s, _tap) = setup(TcpConfig::default());
    net.stacks[1].tcp_set_rcvbuf(s, 8192).unwrap();
    let (info, took) = stuck_behind_a_zero_window(&mut net, c);
    assert_eq!((info.state, info.snd_wnd), (TcpState::Established, 0));
    assert!(info.unacked > 0 && info.zero_window_probes >= 3, "{info:?}");
    assert!(took >= secs(30) && took < secs(31), "ended after {took:?}");
}

/// Keepalive that gets no answer ends the connection with a reset to the peer (Linux
/// `tcp_keepalive_timer`: `tcp_send_active_reset`, then `tcp_write_err`): idle from 0, probes
/// at 10, 12 and 14 s, and at 16 s the third has gone unanswered.
#[test]
fn keepalive_ends_a_dead_connection_with_a_reset() {
    let (mut net, c, _s, tap) = setup(common::keepalive_10s_2s_3());
    let t0 = net.now();
    net.stacks[0].tcp_set_keepalive(c, true, t0).unwrap();
    cut(&mut net);
    let end = closed_at(&mut net, c, secs(60));
    let took = end.saturating_duration_since(t0);
    assert!(took >= secs(16) && took < secs(17), "ended after {took:?}");
    assert_eq!(net.stacks[0].tcp_error(c), Ok(Some(TcpError::TimedOut)));
    let flags = tcp_flags(&mut net, tap);
    assert_eq!(flags.len(), 4, "three probes and the reset: {flags:x?}");
    assert_eq!(flags.last().map(|f| f & RST), Some(RST), "{flags:x?}");
}

/// With keepalive and a user timeout, the timeout decides instead of the probe count: the
/// probes go on every 2 s until the peer has been silent 20 s.
#[test]
fn with_keepalive_the_user_timeout_replaces_the_probe_count() {
    let (mut net, c, _s, tap) = setup(common::keepalive_10s_2s_3());
    let t0 = net.now();
    net.stacks[0].tcp_set_keepalive(c, true, t0).unwrap();
    net.stacks[0]
        .tcp_set_user_timeout(c, Some(secs(20)))
        .unwrap();
    cut(&mut net);
    let end = closed_at(&mut net, c, secs(60));
    let took = end.saturating_duration_since(t0);
    assert!(took >= secs(20) && took < secs(21), "ended after {took:?}");
    let flags = tcp_flags(&mut net, tap);
    assert_eq!(
        flags.len(),
        6,
        "probes at 10 to 18 s and the reset: {flags:x?}"
    );
    assert_eq!(flags.last().map(|f| f & RST), Some(RST));
}

/// A listener's user timeout is its children's (Linux `inet_csk_clone_lock` copies it).
#[test]
fn accepted_connections_inherit_the_listener_s_user_timeout() {
    let (mut net, _, _) = two_hosts(DeviceCaps::default(), ms(1));
    let l = net.stacks[1]
        .tcp_listen(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 80), 4)
        .unwrap();
    net.stacks[1]
        .tcp_set_user_timeout(l, Some(secs(7)))
        .unwrap();
    assert_eq!(net.stacks[1].tcp_user_timeout(l), Ok(Some(secs(7))));
    let now = net.now();
    let c = net.stacks[0]
        .tcp_connect(SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 80), now)
        .unwrap();
    net.run_for(ms(50)).unwrap();
    let (s, _) = net.stacks[1].tcp_accept(l).unwrap();
    assert_eq!(net.stacks[1].tcp_user_timeout(s), Ok(Some(secs(7))));
    assert_eq!(net.stacks[0].tcp_user_timeout(c), Ok(None));
    // And it acts on it: data the vanished client never acknowledges ends it at 7 s.
    cut(&mut net);
    let t0 = net.now();
    net.stacks[1].tcp_send(s, b"bye", t0).unwrap();
    times_out(&mut net, 1, s, t0, secs(7));
}

/// Keepalive settings of one socket (`TCP_KEEPIDLE` 10 s, `TCP_KEEPINTVL` 2 s, `TCP_KEEPCNT`
/// 3) instead of the stack's two hours: the dead peer is found 16 s after the last segment,
/// and told with a reset. The stack's settings are untouched.
#[test]
fn a_socket_s_own_keepalive_settings_find_a_dead_peer() {
    let (mut net, c, _s, tap) = setup(TcpConfig::default());
    let t0 = net.now();
    let own = KeepaliveParams {
        idle: Some(secs(10)),
        interval: Some(secs(2)),
        count: Some(3),
    };
    net.stacks[0].tcp_set_keepalive_params(c, own, t0).unwrap();
    assert_eq!(net.stacks[0].tcp_keepalive_params(c), Ok(own));
    assert!(!net.stacks[0].tcp_keepalive(c).unwrap());
    net.stacks[0].tcp_set_keepalive(c, true, t0).unwrap();
    assert!(net.stacks[0].tcp_keepalive(c).unwrap());
    cut(&mut net);
    let end = closed_at(&mut net, c, secs(60));
    let took = end.saturating_duration_since(t0);
    assert!(took >= secs(16) && took < secs(17), "ended after {took:?}");
    let flags = tcp_flags(&mut net, tap);
    assert_eq!(flags.len(), 4, "three probes and the reset: {flags:x?}");
    assert_eq!(net.stacks[0].tcp_config().keepalive_time, secs(7200));
}

/// Linux's bounds: idle and interval 1 to 32,767 s, 1 to 127 probes; anything else is EINVAL
/// and changes nothing. Settings left out stay as they were.
#[test]
fn keepalive_settings_out_of_bounds_are_invalid() {
    let (mut net, c, _s, _tap) = setup(TcpConfig::default());
    let now = net.now();
    let before = net.stacks[0].tcp_keepalive_params(c).unwrap();
    assert_eq!(
        before,
        KeepaliveParams {
            idle: Some(secs(7200)),
            interval: Some(secs(75)),
            count: Some(9),
        }
    );
    let bad = [
        KeepaliveParams {
            idle: Some(ms(999)),
            ..KeepaliveParams::default()
        },
        KeepaliveParams {
            interval: Some(secs(32_768)),
            ..KeepaliveParams::default()
        },
        KeepaliveParams {
            idle: Some(secs(5)),
            count: Some(0),
            ..KeepaliveParams::default()
        },
        KeepaliveParams {
            count: Some(128),
            ..KeepaliveParams::default()
        },
    ];
    for p in bad {
        assert_eq!(
            net.stacks[0].tcp_set_keepalive_params(c, p, now),
            Err(TcpError::InvalidArgument),
            "{p:?}"
        );
        assert_eq!(net.stacks[0].tcp_keepalive_params(c), Ok(before));
    }
    let count_only = KeepaliveParams {
        count: Some(127),
        ..KeepaliveParams::default()
    };
    net.stacks[0]
        .tcp_set_keepalive_params(c, count_only, now)
        .unwrap();
    assert_eq!(
        net.stacks[0].tcp_keepalive_params(c),
        Ok(KeepaliveParams {
            count: Some(127),
            ..before
        })
    );
}

/// A shorter idle time on a connection with keepalive already running applies at once,
/// counted from the last segment received (Linux `tcp_sock_set_keepidle`): idle 5 s already,
/// a new idle time of 3 s sends the first probe now.
#[test]
fn a_new_keepalive_idle_time_applies_to_the_running_timer() {
    let (mut net, c, _s, tap) = setup(TcpConfig::default());
    let t0 = net.now();
    net.stacks[0].tcp_set_keepalive(c, true, t0).unwrap();
    net.run_for(secs(5)).unwrap();
    assert!(tcp_flags(&mut net, tap).is_empty(), "no probe yet");
    let idle = KeepaliveParams {
        idle: Some(secs(3)),
        ..KeepaliveParams::default()
    };
    let now = net.now();
    net.stacks[0]
        .tcp_set_keepalive_params(c, idle, now)
        .unwrap();
    net.run_for(ms(10)).unwrap();
    assert_eq!(tcp_flags(&mut net, tap).len(), 1, "a probe at once");
    assert_eq!(net.stacks[0].tcp_state(c), Ok(TcpState::Established));
}

/// A listener's keepalive switch and settings are its children's (Linux copies the listener
/// into the child, and `tcp_create_openreq_child` starts its keepalive timer): the accepted
/// connection finds its dead peer by the listener's settings.
#[test]
fn accepted_connections_inherit_the_listener_s_keepalive() {
    let (mut net, _, b_if) = two_hosts(DeviceCaps::default(), ms(1));
    let l = net.stacks[1]
        .tcp_listen(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 80), 4)
        .unwrap();
    let now = net.now();
    let own = KeepaliveParams {
        idle: Some(secs(10)),
        interval: Some(secs(2)),
        count: Some(3),
    };
    net.stacks[1].tcp_set_keepalive_params(l, own, now).unwrap();
    net.stacks[1].tcp_set_keepalive(l, true, now).unwrap();
    assert!(net.stacks[1].tcp_keepalive(l).unwrap());
    let c = net.stacks[0]
        .tcp_connect(SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 80), now)
        .unwrap();
    net.run_for(ms(50)).unwrap();
    let (s, _) = net.stacks[1].tcp_accept(l).unwrap();
    assert!(net.stacks[1].tcp_keepalive(s).unwrap());
    assert_eq!(net.stacks[1].tcp_keepalive_params(s), Ok(own));
    assert!(!net.stacks[0].tcp_keepalive(c).unwrap());
    let tap = net.stacks[1].add_tap(TapPoint::WireTx, Some(b_if), 100);
    let t0 = net.now();
    cut(&mut net);
    let took = closed_at_on(&mut net, 1, s, secs(60)).saturating_duration_since(t0);
    assert!(took > secs(15) && took < secs(17), "ended after {took:?}");
    assert_eq!(net.stacks[1].tcp_error(s), Ok(Some(TcpError::TimedOut)));
    let flags = tcp_flags_of(&mut net, 1, tap);
    assert_eq!(flags.len(), 4, "three probes and the reset: {flags:x?}");
    assert_eq!(flags.last().map(|f| f & RST), Some(RST));
}

/// Keepalive leaves a connection with data in flight to the retransmission timer ("it is
/// alive without keepalive", Linux `tcp_keepalive_timer` reschedules while `packets_out`):
/// with a dead peer and unacknowledged data, a 10 s / 2 s / 3 keepalive does not end the
/// connection at 16 s; it is still retransmitting a minute later, and sent no reset.
#[test]
fn keepalive_leaves_a_connection_with_data_in_flight_to_the_retransmissions() {
    let (mut net, c, _s, tap) = setup(common::keepalive_10s_2s_3());
    let t0 = net.now();
    net.stacks[0].tcp_set_keepalive(c, true, t0).unwrap();
    cut(&mut net);
    net.stacks[0].tcp_send(c, b"hello", t0).unwrap();
    net.run_for(secs(60)).unwrap();
    assert_eq!(net.stacks[0].tcp_state(c), Ok(TcpState::Established));
    let info = net.stacks[0].tcp_info(c).unwrap();
    assert!(info.retransmits >= 5 && info.unacked == 5, "{info:?}");
    assert!(!tcp_flags(&mut net, tap).iter().any(|f| f & RST != 0));
}

/// Switching keepalive on when it is on already changes nothing (Linux `tcp_set_keepalive`
/// arms the timer only from off): probing under way keeps its schedule, and the dead peer is
/// still found at 16 s, not 10 s after the second call.
#[test]
fn switching_keepalive_on_again_does_not_restart_it() {
    let (mut net, c, _s, _tap) = setup(common::keepalive_10s_2s_3());
    let t0 = net.now();
    net.stacks[0].tcp_set_keepalive(c, true, t0).unwrap();
    cut(&mut net);
    net.run_for(secs(11)).unwrap();
    let now = net.now();
    net.stacks[0].tcp_set_keepalive(c, true, now).unwrap();
    let end = closed_at(&mut net, c, secs(60));
    let took = end.saturating_duration_since(t0);
    assert!(took >= secs(16) && took < secs(17), "ended after {took:?}");
}

/// The reset keepalive ends a connection with is one the peer takes (Linux
/// `tcp_send_active_reset`, numbered from SND.NXT and acknowledging RCV.NXT): B answers no
/// probe (a hook drops everything B sends), so A gives up at 16 s, and B's connection is reset
/// by what A sends then.
#[test]
fn the_keepalive_reset_resets_the_peer() {
    use oxnic_stack::hooks::{HookPoint, Verdict};
    let (mut net, c, s, _tap) = setup(common::keepalive_10s_2s_3());
    net.stacks[1]
        .hooks_mut()
        .register(HookPoint::Output, 0, "mute", |_, _| Verdict::Drop);
    let t0 = net.now();
    net.stacks[0].tcp_set_keepalive(c, true, t0).unwrap();
    let end = closed_at(&mut net, c, secs(60));
    let took = end.saturating_duration_since(t0);
    assert!(took >= secs(16) && took < secs(17), "ended after {took:?}");
    net.run_for(ms(10)).unwrap();
    assert_eq!(net.stacks[1].tcp_state(s), Ok(TcpState::Closed));
    assert_eq!(
        net.stacks[1].tcp_error(s),
        Ok(Some(TcpError::ConnectionReset))
    );
}
