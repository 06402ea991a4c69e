//! `oxnic demo`: the main job. Two hosts, each an oxnic stack driving its own verilated card
//! through the real driver, joined by a simulated 10 Gb/s link in lock-step virtual time:
//!
//! 1. ARP and ping: A pings B (the first echo request waits for ARP); every echo reply is
//!    checked byte for byte and A's neighbour entry for B must name B's MAC;
//! 2. UDP echo: A sends datagrams of many sizes from several ports to B's echo service, every
//!    echo is checked byte for byte;
//! 3. TCP bulk: several connections from A to B carry `--bytes` in all, each stream checked
//!    by SHA-256 at both ends; RSS spreads the flows over B's RX queues.
//!
//! It ends with a table: throughput in simulated and wall time, card cycles per packet, host
//! time per packet, offload counters, per-queue RX counts and drops by reason. The exit status
//! is non-zero if any byte is wrong (a lost datagram or ping under `--loss` is reported, not an
//! error; TCP must deliver everything whatever the loss).

use crate::glue::GlueStats;
use crate::host::{HostConfig, HostError, SimHost, TwoHosts};
use crate::Error;
use indicatif::{ProgressBar, ProgressStyle};
use oxnic_sim::device::NS_PER_CYCLE;
use oxnic_stack::icmp::{IcmpEvent, PingOptions};
use oxnic_stack::tcp::{TcpError, TcpHandle};
use oxnic_stack::time::Instant;
use oxnic_stack::udp::{UdpError, UdpHandle};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sha2::{Digest, Sha256};
use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::PathBuf;
use std::time::Duration;

/// Options of `oxnic demo`.
#[derive(Debug, Clone)]
pub struct Options {
    /// Seed of every random choice (payloads, loss).
    pub seed: u64,
    /// RX/TX queues per card.
    pub queues: u32,
    /// TCP bytes in all, split over the flows.
    pub bytes: u64,
    /// TCP connections.
    pub flows: usize,
    /// Probability that the link loses a frame, each direction.
    pub loss: f64,
    /// Capture every frame on the link (as each card sent it) to this pcap file.
    pub pcap: Option<PathBuf>,
}

/// Echo requests sent.
const PINGS: u16 = 4;
/// Echo datagrams sent.
const UDP_DATAGRAMS: usize = 48;
/// Source ports the datagrams come from.
const UDP_PORTS: u16 = 4;
/// B's TCP port.
const TCP_PORT: u16 = 5001;

fn fail(what: impl Into<String>) -> Error {
    Error::Check(what.into())
}

fn host_err(e: HostError) -> Error {
    Error::Check(format!("simulated host: {e}"))
}

/// A deterministic byte stream (xorshift64*), so the sender need not keep what it sent.
struct Stream(u64);

impl Stream {
    fn fill(&mut self, out: &mut [u8]) {
        for chunk in out.chunks_mut(8) {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            let v = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

/// What the demo measured.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Echo replies received (of [`PINGS`]).
    pub ping_replies: usize,
    /// Round-trip time of the first echo (includes ARP), and the mean of the others.
    pub ping_rtt: (Duration, Duration),
    /// UDP datagrams echoed back byte-exact (of [`UDP_DATAGRAMS`]).
    pub udp_echoed: usize,
    /// TCP bytes delivered and checked.
    pub tcp_bytes: u64,
    /// Virtual and wall time of the TCP transfer.
    pub tcp_time: (Duration, Duration),
    /// The table.
    pub table: String,
}

/// Runs the demo; `Err` if any byte is wrong or a phase does not finish.
pub fn run(opts: &Options) -> Result<Report, Error> {
    if opts.flows == 0 || opts.queues == 0 {
        return Err(fail("at least one flow and one queue"));
    }
    let wall0 = std::time::Instant::now();
    let a = HostConfig {
        mac: [0x02, 0x0c, 0x5e, 0, 0, 0x0a],
        addr: Ipv4Addr::new(10, 0, 0, 1),
        prefix: 24,
        queues: opts.queues,
    };
    let b = HostConfig {
        mac: [0x02, 0x0c, 0x5e, 0, 0, 0x0b],
        addr: Ipv4Addr::new(10, 0, 0, 2),
        prefix: 24,
        queues: opts.queues,
    };
    eprintln!(
        "oxnic demo: two hosts on verilated cards ({} queues each), 10 Gb/s link, loss {}",
        opts.queues, opts.loss
    );
    let mut net =
        TwoHosts::new(&a, &b, opts.loss, opts.seed, opts.pcap.as_deref()).map_err(host_err)?;
    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
    let mut report = Report::default();

    ping(&mut net, &mut rng, &b, &mut report)?;
    eprintln!(
        "ping: {}/{PINGS} replies, first (with ARP) {:.1?}, then {:.1?} (virtual)",
        report.ping_replies, report.ping_rtt.0, report.ping_rtt.1
    );
    udp_echo(&mut net, &mut rng, &b, opts.loss, &mut report)?;
    eprintln!(
        "udp echo: {}/{UDP_DATAGRAMS} datagrams back byte-exact",
        report.udp_echoed
    );
    tcp_bulk(&mut net, opts, &b, &mut report)?;

    let frames = net.finish_pcap().map_err(host_err)?;
    if let Some(p) = &opts.pcap {
        eprintln!("pcap: {frames} frames in {}", p.display());
    }
    report.table = table(&net, &report, wall0.elapsed());
    net.close();
    Ok(report)
}

/// Phase 1: ARP (implicitly) and ping.
fn ping(
    net: &mut TwoHosts,
    rng: &mut ChaCha8Rng,
    b: &HostConfig,
    report: &mut Report,
) -> Result<(), Error> {
    let payload: Vec<u8> = (0..56).map(|_| rng.gen()).collect();
    let mut seq: u16 = 0;
    let mut sent_at = Instant::ZERO;
    let mut rtts = Vec::new();
    let mut bad = None;
    let mut app = |h: &mut [SimHost; 2], now: Instant| -> bool {
        let s = &mut h[0].stack;
        for e in s.icmp_events() {
            if let IcmpEvent::EchoReply {
                from, seq: r, data, ..
            } = e
            {
                if from != b.addr || data != payload {
                    bad = Some(format!("echo reply {r} from {from}: wrong payload"));
                } else if r + 1 == seq {
                    rtts.push(now.saturating_duration_since(sent_at));
                }
            }
        }
        let waited = now.saturating_duration_since(sent_at);
        let answered = rtts.len() == usize::from(seq);
        if seq == PINGS {
            return answered || waited > Duration::from_millis(100);
        }
        if seq == 0 || answered || waited > Duration::from_millis(100) {
            let opts = PingOptions {
                ident: 0x0c5e,
                seq,
                ttl: None,
                dont_frag: false,
            };
            if s.ping(b.addr, opts, &payload, now).is_ok() {
                sent_at = now;
                seq += 1;
            }
        }
        false
    };
    let done = net
        .run(Duration::from_secs(5), &mut app)
        .map_err(host_err)?;
    if let Some(b) = bad {
        return Err(fail(b));
    }
    if !done || rtts.is_empty() {
        return Err(fail("ping: no echo reply"));
    }
    let ifindex = net.hosts[0].port.ifindex();
    let neigh = net.hosts[0]
        .stack
        .interface(ifindex)
        .and_then(|i| i.neigh().get(b.addr));
    if neigh.and_then(|n| n.mac).map(|m| m.0) != Some(b.mac) {
        return Err(fail(format!("ARP: A's entry for {} is {neigh:?}", b.addr)));
    }
    report.ping_replies = rtts.len();
    let rest = &rtts[1.min(rtts.len())..];
    report.ping_rtt = (
        rtts[0],
        rest.iter().sum::<Duration>() / (rest.len().max(1) as u32),
    );
    Ok(())
}

/// Phase 2: UDP echo from several ports.
fn udp_echo(
    net: &mut TwoHosts,
    rng: &mut ChaCha8Rng,
    b: &HostConfig,
    loss: f64,
    report: &mut Report,
) -> Result<(), Error> {
    let any = |port| SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port);
    let bind_err = |e: UdpError| fail(format!("udp bind: {e}"));
    let server = net.hosts[1].stack.udp_bind(any(7)).map_err(bind_err)?;
    let clients: Vec<UdpHandle> = (0..UDP_PORTS)
        .map(|i| net.hosts[0].stack.udp_bind(any(40_000 + i)))
        .collect::<Result<_, _>>()
        .map_err(bind_err)?;
    // Sizes from 1 byte to the largest unfragmented datagram.
    let datagrams: Vec<Vec<u8>> = (0..UDP_DATAGRAMS)
        .map(|i| {
            let len = match i {
                0 => 4,
                1 => 1472,
                _ => rng.gen_range(4..=1472),
            };
            let mut d: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
            d[..4].copy_from_slice(&(i as u32).to_be_bytes());
            d
        })
        .collect();
    let dst = SocketAddrV4::new(b.addr, 7);
    let mut next = 0;
    let mut echoed = [false; UDP_DATAGRAMS];
    let mut bad = None;
    let mut buf = vec![0u8; 2048];
    let mut last_change = net.now();
    let mut app = |h: &mut [SimHost; 2], now: Instant| -> bool {
        // B: the echo service.
        let sb = &mut h[1].stack;
        while let Ok((n, from)) = sb.udp_recv_from(server, &mut buf) {
            let _ = sb.udp_send_to(server, &buf[..n], from, now);
        }
        // A: checks what comes back, keeps a few datagrams in flight, round robin over its
        // ports; a window stalled by lost datagrams opens again after a quiet while.
        let sa = &mut h[0].stack;
        for &c in &clients {
            while let Ok((n, _)) = sa.udp_recv_from(c, &mut buf) {
                let got = &buf[..n];
                let i = got
                    .get(..4)
                    .map(|s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]) as usize);
                match i.and_then(|i| datagrams.get(i).map(|d| (i, d))) {
                    Some((i, d)) if d[..] == *got => {
                        echoed[i] = true;
                        last_change = now;
                    }
                    _ => bad = Some(format!("udp echo: {n} bytes that were never sent")),
                }
            }
        }
        let quiet = now.saturating_duration_since(last_change);
        let back = echoed.iter().filter(|e| **e).count();
        while next < UDP_DATAGRAMS && (next < back + 8 || quiet > Duration::from_millis(5)) {
            let c = clients[next % clients.len()];
            if sa.udp_send_to(c, &datagrams[next], dst, now).is_err() {
                break;
            }
            next += 1;
            last_change = now;
        }
        bad.is_some()
            || back == UDP_DATAGRAMS
            || (next == UDP_DATAGRAMS && quiet > Duration::from_millis(20))
    };
    net.run(Duration::from_secs(2), &mut app)
        .map_err(host_err)?;
    if let Some(b) = bad {
        return Err(fail(b));
    }
    report.udp_echoed = echoed.iter().filter(|e| **e).count();
    if loss == 0.0 && report.udp_echoed != UDP_DATAGRAMS {
        return Err(fail(format!(
            "udp echo: {} of {UDP_DATAGRAMS} datagrams came back on a lossless link",
            report.udp_echoed
        )));
    }
    Ok(())
}

/// One TCP flow of the bulk phase.
struct Flow {
    tx: TcpHandle,
    rx: Option<TcpHandle>,
    total: u64,
    sent: u64,
    received: u64,
    gen: Stream,
    pending: Vec<u8>,
    pending_off: usize,
    closed: bool,
    eof: bool,
    sent_hash: Sha256,
    recv_hash: Sha256,
}

/// Phase 3: TCP bulk transfer over several flows, SHA-256 checked.
fn tcp_bulk(
    net: &mut TwoHosts,
    opts: &Options,
    b: &HostConfig,
    report: &mut Report,
) -> Result<(), Error> {
    let tcp_err = |what: &'static str| move |e: TcpError| fail(format!("tcp {what}: {e}"));
    let listener = net.hosts[1]
        .stack
        .tcp_listen(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, TCP_PORT), 16)
        .map_err(tcp_err("listen"))?;
    let per_flow = opts.bytes / opts.flows as u64;
    let now = net.now();
    let mut flows = Vec::with_capacity(opts.flows);
    for i in 0..opts.flows {
        let tx = net.hosts[0]
            .stack
            .tcp_connect(SocketAddrV4::new(b.addr, TCP_PORT), now)
            .map_err(tcp_err("connect"))?;
        let total = if i + 1 == opts.flows {
            opts.bytes - per_flow * (opts.flows as u64 - 1)
        } else {
            per_flow
        };
        flows.push(Flow {
            tx,
            rx: None,
            total,
            sent: 0,
            received: 0,
            gen: Stream((opts.seed ^ (i as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15)) | 1),
            pending: vec![0; 16 * 1024],
            pending_off: 16 * 1024,
            closed: false,
            eof: false,
            sent_hash: Sha256::new(),
            recv_hash: Sha256::new(),
        });
    }
    let locals: Vec<Option<u16>> = flows
        .iter()
        .map(|f| {
            net.hosts[0]
                .stack
                .tcp_local_addr(f.tx)
                .ok()
                .map(|a| a.port())
        })
        .collect();
    let bar = ProgressBar::new(opts.bytes);
    bar.set_style(
        ProgressStyle::with_template(
            "tcp {bar:40} {bytes}/{total_bytes} {binary_bytes_per_sec} (wall) {elapsed}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let t_virtual = net.now();
    let t_wall = std::time::Instant::now();
    let mut buf = vec![0u8; 64 * 1024];
    let mut error = None;
    let mut app = |h: &mut [SimHost; 2], now: Instant| -> bool {
        let [ha, hb] = h;
        let (sa, sb) = (&mut ha.stack, &mut hb.stack);
        while let Ok((c, peer)) = sb.tcp_accept(listener) {
            match locals.iter().position(|p| *p == Some(peer.port())) {
                Some(i) => flows[i].rx = Some(c),
                None => error = Some(format!("tcp: a connection from {peer} nobody made")),
            }
        }
        for f in flows.iter_mut() {
            while f.sent < f.total {
                if f.pending_off == f.pending.len() {
                    let n = (f.total - f.sent).min(f.pending.len() as u64) as usize;
                    f.pending.truncate(n);
                    f.gen.fill(&mut f.pending);
                    f.pending_off = 0;
                }
                match sa.tcp_send(f.tx, &f.pending[f.pending_off..], now) {
                    Ok(n) => {
                        f.sent_hash
                            .update(&f.pending[f.pending_off..f.pending_off + n]);
                        f.pending_off += n;
                        f.sent += n as u64;
                    }
                    Err(TcpError::WouldBlock) => break,
                    Err(e) => {
                        error = Some(format!("tcp send: {e}"));
                        break;
                    }
                }
            }
            if f.sent == f.total && !f.closed {
                f.closed = sa.tcp_close(f.tx, now).is_ok();
            }
            let Some(rx) = f.rx else { continue };
            while !f.eof {
                match sb.tcp_recv(rx, &mut buf, now) {
                    Ok(0) => {
                        f.eof = true;
                        let _ = sb.tcp_close(rx, now);
                    }
                    Ok(n) => {
                        f.recv_hash.update(&buf[..n]);
                        f.received += n as u64;
                        bar.inc(n as u64);
                    }
                    Err(TcpError::WouldBlock) => break,
                    Err(e) => {
                        error = Some(format!("tcp recv: {e}"));
                        break;
                    }
                }
            }
        }
        error.is_some() || flows.iter().all(|f| f.eof)
    };
    let done = net
        .run(Duration::from_secs(120), &mut app)
        .map_err(host_err)?;
    bar.finish_and_clear();
    if let Some(e) = error {
        return Err(fail(e));
    }
    if !done {
        let got: u64 = flows.iter().map(|f| f.received).sum();
        return Err(fail(format!(
            "tcp: {got} of {} bytes after 120 s of virtual time",
            opts.bytes
        )));
    }
    report.tcp_time = (
        net.now().saturating_duration_since(t_virtual),
        t_wall.elapsed(),
    );
    for (i, f) in flows.into_iter().enumerate() {
        if f.received != f.total {
            return Err(fail(format!(
                "tcp flow {i}: {} of {} bytes",
                f.received, f.total
            )));
        }
        let (s, r) = (f.sent_hash.finalize(), f.recv_hash.finalize());
        if s != r {
            return Err(fail(format!(
                "tcp flow {i}: SHA-256 differs: sent {s:x}, received {r:x}"
            )));
        }
        report.tcp_bytes += f.received;
        eprintln!(
            "tcp flow {i}: {} bytes, SHA-256 {r:x} on both ends",
            f.received
        );
    }
    Ok(())
}

fn rate(bytes: u64, d: Duration) -> f64 {
    bytes as f64 * 8.0 / d.as_secs_f64().max(1e-12)
}

fn human_bits(bps: f64) -> String {
    match bps {
        b if b >= 1e9 => format!("{:.2} Gbit/s", b / 1e9),
        b if b >= 1e6 => format!("{:.2} Mbit/s", b / 1e6),
        b => format!("{:.1} kbit/s", b / 1e3),
    }
}

/// The final table.
fn table(net: &TwoHosts, r: &Report, wall: Duration) -> String {
    let mut t = String::new();
    let st = net.stats();
    let cycles = net.cycles();
    let names = ["A", "B"];
    let _ = writeln!(t, "\n== oxnic demo ==");
    let _ = writeln!(
        t,
        "ping            {}/{PINGS} replies; rtt {:.1?} first (ARP), {:.1?} after",
        r.ping_replies, r.ping_rtt.0, r.ping_rtt.1
    );
    let _ = writeln!(
        t,
        "udp echo        {}/{UDP_DATAGRAMS} datagrams byte-exact",
        r.udp_echoed
    );
    let _ = writeln!(
        t,
        "tcp bulk        {} bytes, SHA-256 equal; {} in {:.2?} simulated, {} in {:.2?} wall",
        r.tcp_bytes,
        human_bits(rate(r.tcp_bytes, r.tcp_time.0)),
        r.tcp_time.0,
        human_bits(rate(r.tcp_bytes, r.tcp_time.1)),
        r.tcp_time.1
    );
    let total_cycles = cycles[0] + cycles[1];
    let _ = writeln!(
        t,
        "simulator       {} + {} card cycles in {:.2?} wall: {:.0} cycles/s per card; {:.2?} of \
         idle virtual time skipped",
        cycles[0],
        cycles[1],
        wall,
        total_cycles as f64 / 2.0 / wall.as_secs_f64().max(1e-9),
        Duration::from_nanos(st.skipped_ns)
    );
    let _ = writeln!(
        t,
        "link            A→B {} frames {} B, B→A {} frames {} B; lost {} / {}",
        st.wire_frames[0],
        st.wire_bytes[0],
        st.wire_frames[1],
        st.wire_bytes[1],
        st.impair[0].lost,
        st.impair[1].lost
    );
    let mut host_packets = 0;
    for (i, h) in net.hosts.iter().enumerate() {
        let g: &GlueStats = h.port.stats();
        let pkts = g.rx_frames + g.tx_frames;
        host_packets += pkts;
        let _ = writeln!(
            t,
            "\nhost {} ({})   rx {} tx {} frames; {:.0} card cycles/packet ({} ns of card time)",
            names[i],
            h.addr,
            g.rx_frames,
            g.tx_frames,
            cycles[i] as f64 / pkts.max(1) as f64,
            cycles[i] * NS_PER_CYCLE / pkts.max(1)
        );
        let _ = writeln!(t, "  rx per queue  {:?}", h.port.rx_per_queue());
        let _ = writeln!(
            t,
            "  offloads      rx csum verified {} / complete {} / bad {}; rx hash L4 {} L3 {}; \
             tx csum inserted {} ({} descriptors)",
            g.rx_csum_unnecessary,
            g.rx_csum_complete,
            g.rx_csum_bad,
            g.rx_hash_l4,
            g.rx_hash_l3,
            g.tx_csum_offload,
            g.tx_segments
        );
        let port = h.port.nic().port();
        let mut drops = Vec::new();
        for name in [
            "RX_FCS_ERRORS",
            "RX_RUNTS",
            "RX_OVERSIZE",
            "RX_MISSED",
            "RX_NO_BUFFER",
            "RX_CSUM_ERRORS",
            "RX_FILTERED",
            "TX_ERRORS",
            "DMA_FAULTS",
        ] {
            drops.push((name.to_lowercase(), port.counter(name).unwrap_or(0)));
        }
        let driver_drops = oxnic_driver::stats::NAMES
            .iter()
            .copied()
            .filter(|n| n.starts_with("rx_drop_") || *n == "tx_cpl_bad");
        for name in driver_drops {
            drops.push((
                name.to_string(),
                h.port.nic().driver_total(name).unwrap_or(0),
            ));
        }
        drops.push(("glue_rx_no_buffer".into(), g.rx_drop_no_buffer));
        drops.push(("glue_rx_dma".into(), g.rx_drop_dma));
        drops.push(("glue_tx_no_buffer".into(), g.tx_drop_no_buffer));
        drops.push(("glue_tx_bad_frame".into(), g.tx_drop_bad_frame));
        let snmp = h.stack.snmp();
        drops.push(("ip_in_discards".into(), snmp.ip.in_discards));
        drops.push(("ip_in_csum_errors".into(), snmp.ip.in_csum_errors));
        drops.push(("tcp_in_csum_errors".into(), snmp.tcp.in_csum_errors));
        drops.push(("udp_in_errors".into(), snmp.udp.in_errors));
        drops.push(("qdisc_drops".into(), snmp.link.tx_qdisc_drops));
        let nonzero: Vec<String> = drops
            .iter()
            .filter(|(_, v)| *v != 0)
            .map(|(n, v)| format!("{n} {v}"))
            .collect();
        let _ = writeln!(
            t,
            "  drops         {}",
            if nonzero.is_empty() {
                format!("none (of {} counters)", drops.len())
            } else {
                nonzero.join(", ")
            }
        );
        let _ = writeln!(
            t,
            "  tcp           {} segments out, {} retransmitted",
            snmp.tcp.out_segs, snmp.tcp.retrans_segs
        );
    }
    let _ = writeln!(
        t,
        "\nhost work       {:.0} ns/packet (driver + glue + stack + application, wall)",
        st.host_ns as f64 / host_packets.max(1) as f64
    );
    let _ = writeln!(t, "all checks passed");
    t
}
