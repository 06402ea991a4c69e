//! The payload sums TCP takes while copying the application's bytes into its send queue
//! (`SendQueue::track_cells`, software GSO's attached sums) against everything that moves
//! where segments are cut: loss and retransmission, SACK, reordering, duplicates, window
//! limits, an MSS that changes, small writes, Nagle. Each run checks that every byte arrives
//! and that neither end ever saw a bad checksum.

mod common;

use oxnic_stack::netsim::{two_hosts_configured, LinkConfig, Net};
use oxnic_stack::tcp::TcpHandle;
use oxnic_stack::{DeviceCaps, StackConfig};
use std::time::Duration;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Bytes of stream `k` (a pattern that differs per byte, stream and position).
fn pattern(k: u64, n: usize) -> Vec<u8> {
    (0..n as u64)
        .map(|i| ((i * 131 + k * 17 + (i >> 9) * 7) % 251) as u8)
        .collect()
}

/// Sends `n` bytes each way at once (0 → 1 and 1 → 0) in writes whose sizes come from
/// `write_size(sent)`, reading as it goes, and checks them all.
fn pump_both(
    net: &mut Net,
    h: [TcpHandle; 2],
    n: [usize; 2],
    write_size: impl Fn(usize) -> usize,
    limit: Duration,
) {
    let data = [pattern(1, n[0]), pattern(2, n[1])];
    let mut sent = [0usize; 2];
    let mut got: [Vec<u8>; 2] = [Vec::new(), Vec::new()];
    let mut buf = vec![0u8; 1 << 16];
    let deadline = net.now() + limit;
    let ok = net
        .run_while(
            |net| {
                let now = net.now();
                for from in 0..2 {
                    let to = 1 - from;
                    if sent[from] < n[from] {
                        let w = (n[from] - sent[from]).min(write_size(sent[from]).max(1));
                        sent[from] += net.stacks[from]
                            .tcp_send(h[from], &data[from][sent[from]..sent[from] + w], now)
                            .unwrap_or(0);
                    }
                    while let Ok(k) = net.stacks[to].tcp_recv(h[to], &mut buf, now) {
                        if k == 0 {
                            break;
                        }
                        got[from].extend_from_slice(&buf[..k]);
                    }
                }
                got[0].len() < n[0] || got[1].len() < n[1]
            },
            deadline,
        )
        .unwrap();
    assert!(
        ok,
        "pumped {} of {} and {} of {}",
        got[0].len(),
        n[0],
        got[1].len(),
        n[1]
    );
    assert!(
        got[0] == data[0] && got[1] == data[1],
        "the bytes arrived changed"
    );
}

fn no_csum_errors(net: &Net) {
    for st in &net.stacks {
        assert_eq!(st.tcp_mib().in_csum_errors, 0);
        assert_eq!(st.snmp().ip.in_csum_errors, 0);
    }
}

fn net_with(caps: DeviceCaps, link: LinkConfig, seed: u64, cfg: impl Fn(&mut StackConfig)) -> Net {
    let mut a = StackConfig::default();
    let mut b = StackConfig::default();
    cfg(&mut a);
    cfg(&mut b);
    two_hosts_configured([a, b], caps, link, seed).0
}

fn connected(net: &mut Net) -> [TcpHandle; 2] {
    let (_, c, s) = common::tcp_connected(net, ms(300));
    [c, s]
}

fn sums_used(net: &Net) -> u64 {
    net.stacks[0]
        .interfaces()
        .filter_map(|i| net.stacks[0].interface(i))
        .map(|i| i.stats().gso_sums_from_copy)
        .sum()
}

#[test]
fn cell_sums_stay_right_over_a_lossy_reordering_link_both_ways() {
    for seed in 1..=4 {
        for gso in [true, false] {
            let link = LinkConfig {
                latency: ms(2),
                jitter: ms(1),
                loss: 0.02,
                duplicate: 0.01,
                reorder: 0.02,
                reorder_delay: ms(3),
                ..LinkConfig::new(ms(2), 1500)
            };
            let mut net = net_with(DeviceCaps::default(), link, seed, |c| c.tcp.gso = gso);
            let h = connected(&mut net);
            pump_both(
                &mut net,
                h,
                [1_500_000, 700_000],
                |s| 1 + (s * 7) % 9000,
                Duration::from_secs(600),
            );
            no_csum_errors(&net);
        }
    }
}

#[test]
fn cell_sums_stay_right_with_a_small_window_and_small_writes() {
    for seed in 1..=3 {
        let link = LinkConfig {
            loss: 0.01,
            ..LinkConfig::new(ms(1), 1500)
        };
        let mut net = net_with(DeviceCaps::default(), link, seed, |c| {
            c.tcp.rcvbuf = 5000;
            c.tcp.autotune = false;
        });
        let h = connected(&mut net);
        pump_both(
            &mut net,
            h,
            [300_000, 50_000],
            |s| [1, 3, 100, 1447, 1449, 5000][s % 6],
            Duration::from_secs(600),
        );
        no_csum_errors(&net);
    }
}

#[test]
fn cell_sums_stay_right_with_small_segments() {
    // A link MTU that makes small, odd-sized segments.
    for mtu in [576, 1001, 9000] {
        let caps = DeviceCaps {
            mtu,
            ..DeviceCaps::default()
        };
        let link = LinkConfig {
            loss: 0.01,
            ..LinkConfig::new(ms(1), mtu)
        };
        let mut net = net_with(caps, link, 7, |_| {});
        let h = connected(&mut net);
        pump_both(
            &mut net,
            h,
            [800_000, 100_000],
            |s| 1 + (s * 13) % 20_000,
            Duration::from_secs(600),
        );
        no_csum_errors(&net);
        assert!(sums_used(&net) > 0);
    }
}
