//! Bulk TCP transfers between two in-memory stacks, both directions at once, over links that
//! lose, duplicate, reorder and delay frames. Every byte is checked by SHA-256 on both ends.

use oxnic_stack::netsim::{two_hosts_with, LinkConfig, Net};
use oxnic_stack::tcp::{TcpError, TcpHandle, TcpState};
use oxnic_stack::time::Instant;
use oxnic_stack::DeviceCaps;
use sha2::{Digest, Sha256};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

/// A deterministic byte stream (xorshift64*), so the sender need not keep what it sent.
struct Stream {
    state: u64,
    buf: Vec<u8>,
}

impl Stream {
    fn new(seed: u64) -> Self {
        Stream {
            state: seed | 1,
            buf: Vec::new(),
        }
    }

    fn fill(&mut self, n: usize) -> &[u8] {
        self.buf.clear();
        while self.buf.len() < n {
            self.state ^= self.state >> 12;
            self.state ^= self.state << 25;
            self.state ^= self.state >> 27;
            let v = self.state.wrapping_mul(0x2545_f491_4f6c_dd1d);
            self.buf.extend_from_slice(&v.to_le_bytes());
        }
        self.buf.truncate(n);
        &self.buf
    }
}

/// One direction of a transfer.
struct Flow {
    from: usize,
    to: usize,
    tx: TcpHandle,
    rx: TcpHandle,
    total: usize,
    sent: usize,
    received: usize,
    gen: Stream,
    /// Bytes taken from `gen` but not yet accepted by the socket.
    pending: Vec<u8>,
    sent_hash: Sha256,
    recv_hash: Sha256,
}

impl Flow {
    fn step(&mut self, net: &mut Net, buf: &mut [u8]) {
        let now = net.now();
        while self.sent < self.total {
            if self.pending.is_empty() {
                let n = (self.total - self.sent).min(64 * 1024);
                self.pending = self.gen.fill(n).to_vec();
            }
            match net.stacks[self.from].tcp_send(self.tx, &self.pending, now) {
                Ok(n) => {
                    self.sent_hash.update(&self.pending[..n]);
                    self.sent += n;
                    self.pending.drain(..n);
                }
                Err(TcpError::WouldBlock) => break,
                Err(e) => panic!("send failed: {e}"),
            }
        }
        loop {
            match net.stacks[self.to].tcp_recv(self.rx, buf, now) {
                Ok(0) => break,
                Ok(n) => {
                    self.recv_hash.update(&buf[..n]);
                    self.received += n;
                }
                Err(TcpError::WouldBlock) => break,
                Err(e) => panic!("recv failed: {e}"),
            }
        }
    }

    fn done(&self) -> bool {
        self.received >= self.total
    }
}

fn addr(s: &str, port: u16) -> SocketAddrV4 {
    SocketAddrV4::new(s.parse::<Ipv4Addr>().unwrap(), port)
}

struct Outcome {
    virtual_time: Duration,
    retransmits: u64,
}

/// Moves `bytes` each way at once over `link`; returns the virtual time it took.
fn transfer(caps: DeviceCaps, link: LinkConfig, seed: u64, bytes: usize) -> Outcome {
    let (mut net, _, _) = two_hosts_with(caps, link, seed);
    let start = net.now();
    let l = net.stacks[1].tcp_listen(addr("0.0.0.0", 5001), 8).unwrap();
    let c = net.stacks[0]
        .tcp_connect(addr("10.0.0.2", 5001), start)
        .unwrap();
    let ok = net
        .run_while(
            |n| n.stacks[0].tcp_state(c).unwrap() != TcpState::Established,
            start + Duration::from_secs(30),
        )
        .unwrap();
    assert!(ok, "handshake did not complete");
    net.run_for(Duration::from_millis(5)).unwrap();
    let (s, _) = net.stacks[1].tcp_accept(l).unwrap();
    let mut flows = [
        Flow {
            from: 0,
            to: 1,
            tx: c,
            rx: s,
            total: bytes,
            sent: 0,
            received: 0,
            gen: Stream::new(seed ^ 0xa5a5),
            pending: Vec::new(),
            sent_hash: Sha256::new(),
            recv_hash: Sha256::new(),
        },
        Flow {
            from: 1,
            to: 0,
            tx: s,
            rx: c,
            total: bytes,
            sent: 0,
            received: 0,
            gen: Stream::new(seed ^ 0x5a5a),
            pending: Vec::new(),
            sent_hash: Sha256::new(),
            recv_hash: Sha256::new(),
        },
    ];
    let mut buf = vec![0u8; 256 * 1024];
    let deadline = net.now() + Duration::from_secs(3600);
    let finished = net
        .run_while(
            |n| {
                for f in flows.iter_mut() {
                    f.step(n, &mut buf);
                }
                !flows.iter().all(Flow::done)
            },
            deadline,
        )
        .unwrap();
    let got: Vec<usize> = flows.iter().map(|f| f.received).collect();
    assert!(finished, "transfer stalled: received {got:?} of {bytes}");
    for f in flows {
        assert_eq!(f.received, bytes);
        assert_eq!(f.sent_hash.finalize(), f.recv_hash.finalize());
    }
    let retransmits = net.stacks[0].tcp_mib().retrans_segs + net.stacks[1].tcp_mib().retrans_segs;
    Outcome {
        virtual_time: net.now().saturating_duration_since(start),
        retransmits,
    }
}

fn impaired(loss: f64) -> LinkConfig {
    LinkConfig::new(Duration::from_millis(2), 1500)
        .bandwidth(1_000_000_000)
        .queue_bytes(512 * 1024)
        .loss(loss)
        .duplicate(0.005)
        .reorder(0.01, Duration::from_millis(1))
        .jitter(Duration::from_micros(200))
}

const MB100: usize = 100 * 1000 * 1000;

#[test]
fn hundred_megabytes_each_way_no_loss() {
    let o = transfer(DeviceCaps::default(), impaired(0.0), 1, MB100);
    assert!(
        o.virtual_time < Duration::from_secs(60),
        "{:?}",
        o.virtual_time
    );
}

#[test]
fn hundred_megabytes_each_way_one_percent_loss() {
    let o = transfer(DeviceCaps::all_offloads(1500), impaired(0.01), 2, MB100);
    assert!(o.retransmits > 0);
}

#[test]
fn hundred_megabytes_each_way_five_percent_loss() {
    let o = transfer(DeviceCaps::all_offloads(1500), impaired(0.05), 3, MB100);
    assert!(o.retransmits > 0);
}

#[test]
fn small_transfer_on_a_perfect_wire() {
    let link = LinkConfig::new(Duration::from_millis(1), 1500);
    let o = transfer(DeviceCaps::default(), link, 4, 1_000_000);
    assert_eq!(o.retransmits, 0);
    let _ = Instant::ZERO;
}
