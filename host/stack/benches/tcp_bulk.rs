//! Single-stream TCP bulk throughput, side by side, in one run.
//!
//! Every entry moves [`CHUNK`] bytes per measured iteration from a sender to a receiver over one
//! TCP connection that was set up beforehand, and checks that every byte arrived in order
//! (the stream is a repeating 251-byte pattern compared against on receipt). Criterion reports
//! bytes per second. The smoltcp and oxnic receivers compare the bytes where the stack holds
//! them (smoltcp's `recv` closure, oxnic's `tcp_recv_with`); the Linux receiver reads them into
//! a buffer first, as a socket must.
//!
//! - `smoltcp_mtu1500`: two smoltcp interfaces on one core, each with its own in-memory
//!   Ethernet device, joined by a lossless wire (IP MTU 1500, software checksums both ways),
//!   driven by a virtual clock that only moves when neither side has anything to do. ARP and
//!   the handshake happen during setup.
//! - `oxnic_mtu1500_nogso`: two oxnic stacks in a [`Net`] on one zero-latency, unlimited
//!   link (MTU 1500), devices without offloads, TCP with `gso` off: every 1448-byte segment
//!   goes through the stack one by one, checksums computed in software both ways.
//! - `oxnic_mtu1500`: the same with oxnic's default `gso` on: TCP builds 64 KB super-packets
//!   and software GSO cuts them into 1500-byte frames (software checksums) in the device path.
//! - `oxnic_gso64k`: devices with every offload ([`DeviceCaps::all_offloads`]): the wire plays
//!   the card, finishing checksums and cutting TSO super-packets; the receiver's software GRO
//!   merges the frames again, as it does by default.
//!
//!   The oxnic entries run on the bench thread; [`Net`] only moves its virtual clock when
//!   nothing is left to do at the current instant, so on this wire the clock stands still
//!   unless a timer (delayed ACK, RTO) is the only thing pending. A frame crosses this ideal
//!   wire as it is: the receiver gets the sender's buffer, whose payload is still a fragment
//!   of the sender's send queue, so the bytes are not copied on the wire (smoltcp copies each
//!   payload into a frame buffer on the way out and into its receive ring on the way in).
//! - `smoltcp_mtu1500_w128k` and `oxnic_mtu1500_w128k`: `smoltcp_mtu1500` and `oxnic_mtu1500`
//!   with an application that hands its socket at most [`APP_WRITE`] (128 KiB, iperf3's
//!   default write) between two rounds of the stacks, where the entries above fill the
//!   socket's 1 MiB. About 128 KiB is then in flight instead of 1 MiB, so every stage finds the
//!   bytes the one before it touched still in the cache: smoltcp, which copies each payload
//!   twice more than oxnic, gains the most from that.
//! - `smoltcp_mtu1500_b256k` and `oxnic_mtu1500_b256k`: `smoltcp_mtu1500` and `oxnic_mtu1500`
//!   with 256 KiB socket buffers instead of 1 MiB on both sides. With 1 MiB, the bytes in
//!   flight, the socket buffers and the up to 1 MiB of pattern the application copies from
//!   and compares against overflow a 2 MiB L2 cache, and smoltcp, which keeps a copy of the
//!   stream in each of its three rings, pays for that most; with 256 KiB both stacks work from
//!   the cache, so these two compare the stacks' work per segment.
//! - `linux_loopback`: the kernel's TCP over 127.0.0.1, default socket buffers. This is *not*
//!   one core: the kernel's softirq work and a receiver thread run beside the bench thread, so
//!   the figure is a ceiling to aim at rather than a like-for-like comparison.
//! - `linux_veth_mtu1500_nogso` and `linux_veth_mtu1500`: the kernel's TCP between two
//!   network namespaces over a veth pair at IP MTU 1500, on one CPU (sender thread, receiver
//!   thread and the kernel's softirq work for both ends), with every offload off and checksums
//!   in software: the kernel's counterparts of the two oxnic entries of the same names, the
//!   first with every frame through the stack, the second with software GSO and GRO on. They
//!   need root, `ip` and `ethtool`; without them they are left out with a message.
//!
//! Another stack joins the table by implementing [`BulkLink`] for a connected pair and adding
//! one `measure` line in [`tcp_bulk`].
//!
//! `cargo bench -p oxnic-stack --bench tcp_bulk -- --quick`
//!
//! On a shared machine whose speed comes and goes for seconds at a time, two entries measured
//! a few seconds apart can land in different phases. `TCP_BULK_CHUNKS=N cargo bench -p
//! oxnic-stack --bench tcp_bulk` skips criterion and times each of N chunks of
//! `smoltcp_mtu1500` and of `oxnic_mtu1500`, in ten blocks of each that take turns (so both
//! entries sample the same stretch of the machine's time), and prints the fastest chunk, the
//! tenth percentile, the median and the mean (all bytes over all the time, criterion's kind of
//! figure) of each, and their ratios: noise only ever adds time, so the fastest chunks are the
//! closest to each stack's own speed. It also prints the median, over the pairs of
//! neighbouring blocks, of the ratio of the two blocks' fastest chunks: a ratio of two entries
//! measured within a fraction of a second of each other.

use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};
use nix::sched::{sched_getaffinity, sched_setaffinity, setns, CloneFlags, CpuSet};
use nix::unistd::Pid;
use oxnic_stack::netsim::{two_hosts_with, LinkConfig, Net};
use oxnic_stack::tcp::{TcpConfig, TcpError, TcpHandle, TcpState};
use oxnic_stack::DeviceCaps;
use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::phy::{self, Device, DeviceCapabilities, Medium};
use smoltcp::socket::tcp;
use smoltcp::time::{Duration as SmolDuration, Instant as SmolInstant};
use smoltcp::wire::{EthernetAddress, EthernetFrame, IpAddress, IpCidr};
use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddrV4, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// Bytes moved per measured iteration.
const CHUNK: usize = 4 << 20;
/// Most bytes the application of a `_w128k` entry hands its socket between two rounds of the
/// stacks (iperf3's default write size). The other entries write as much as the socket takes.
const APP_WRITE: usize = 128 << 10;
/// Period of the byte pattern carried by every stream; prime, so it never lines up with a
/// segment size and a dropped, duplicated or reordered segment shows up as a mismatch.
const PERIOD: usize = 251;
/// IP MTU of the in-memory wire.
const IP_MTU: usize = 1500;
/// Send and receive buffer of both stacks' sockets, but in the `_b256k` entries (window
/// scaling gives a 1 MiB window).
const SOCKET_BUF: usize = 1 << 20;
/// Send and receive buffer of both stacks' sockets in the `_b256k` entries: small enough that
/// what is in flight, the socket buffers and the pattern the application copies from all stay
/// in a 2 MiB L2 cache.
const SMALL_SOCKET_BUF: usize = 256 << 10;
/// Read buffer of the Linux receiver thread.
const LINUX_READ_BUF: usize = 256 << 10;
/// Virtual time a smoltcp transfer may spend idle before it counts as stalled.
const STALL_LIMIT: SmolDuration = SmolDuration::from_secs(10);
/// Virtual time an oxnic transfer may take before it counts as stalled. The wire has no
/// latency, so any time spent at all is timers firing (delayed ACKs, retransmissions).
const OXNIC_STALL_LIMIT: Duration = Duration::from_secs(10);
/// Rounds [`Net`] may work at one instant before it reports a livelock. On a zero-latency
/// wire the whole chunk crosses at one instant, a few rounds per segment.
const OXNIC_STEPS_PER_INSTANT: u64 = 100_000_000;
const PORT: u16 = 5001;

/// A sender and a receiver joined by an established TCP connection.
trait BulkLink {
    /// Moves `len` bytes of the pattern from the sender to the receiver, checks them, and returns
    /// the number of bytes received.
    fn transfer(&mut self, len: usize) -> u64;
}

/// The repeating byte stream every link carries, addressed by stream offset.
struct Pattern {
    bytes: Vec<u8>,
}

impl Pattern {
    /// A pattern that can hand out slices of up to `max_len` bytes at any offset.
    fn new(max_len: usize) -> Self {
        let bytes = (0..PERIOD + max_len).map(|i| (i % PERIOD) as u8).collect();
        Pattern { bytes }
    }

    /// The `len` pattern bytes that start at stream offset `offset`.
    fn at(&self, offset: u64, len: usize) -> &[u8] {
        let start = (offset % PERIOD as u64) as usize;
        &self.bytes[start..start + len]
    }
}

/// One end of the in-memory wire, as a smoltcp device. Frame buffers are recycled: a frame's
/// buffer goes back to its sender's free list once the receiver has consumed it, so the
/// measurement is of the stack and not of the allocator.
#[derive(Default)]
struct WirePort {
    /// Frames that arrived from the wire, oldest first.
    rx: VecDeque<Vec<u8>>,
    /// Frames the interface sent, waiting for [`carry`].
    tx: VecDeque<Vec<u8>>,
    /// Buffers ready for the next transmitted frame.
    free: Vec<Vec<u8>>,
    /// Buffers of received frames that the interface has consumed.
    spent: Vec<Vec<u8>>,
}

/// Moves every frame `src` sent onto `dst`'s receive queue and hands `dst`'s consumed buffers
/// back to `src`; returns the number of frames moved.
fn carry(src: &mut WirePort, dst: &mut WirePort) -> usize {
    let frames = src.tx.len();
    dst.rx.extend(src.tx.drain(..));
    src.free.append(&mut dst.spent);
    frames
}

struct PortRx<'a> {
    frame: Vec<u8>,
    spent: &'a mut Vec<Vec<u8>>,
}

struct PortTx<'a> {
    tx: &'a mut VecDeque<Vec<u8>>,
    free: &'a mut Vec<Vec<u8>>,
}

impl phy::RxToken for PortRx<'_> {
    fn consume<R, F>(self, f: F) -> R
    where
        F: FnOnce(&[u8]) -> R,
    {
        let r = f(&self.frame);
        self.spent.push(self.frame);
        r
    }
}

impl phy::TxToken for PortTx<'_> {
    fn consume<R, F>(self, len: usize, f: F) -> R
    where
        F: FnOnce(&mut [u8]) -> R,
    {
        let mut frame = self.free.pop().unwrap_or_default();
        frame.clear();
        frame.resize(len, 0);
        let r = f(&mut frame);
        self.tx.push_back(frame);
        r
    }
}

impl Device for WirePort {
    type RxToken<'a> = PortRx<'a>;
    type TxToken<'a> = PortTx<'a>;

    fn receive(&mut self, _now: SmolInstant) -> Option<(PortRx<'_>, PortTx<'_>)> {
        let frame = self.rx.pop_front()?;
        let rx = PortRx {
            frame,
            spent: &mut self.spent,
        };
        let tx = PortTx {
            tx: &mut self.tx,
            free: &mut self.free,
        };
        Some((rx, tx))
    }

    fn transmit(&mut self, _now: SmolInstant) -> Option<PortTx<'_>> {
        Some(PortTx {
            tx: &mut self.tx,
            free: &mut self.free,
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        // smoltcp counts the Ethernet header in an Ethernet device's MTU.
        caps.max_transmission_unit = IP_MTU + EthernetFrame::<&[u8]>::header_len();
        caps
    }
}

/// One smoltcp host: interface, device and its single TCP socket.
struct SmolHost {
    iface: Interface,
    port: WirePort,
    sockets: SocketSet<'static>,
    tcp: SocketHandle,
}

impl SmolHost {
    /// Host number `n` at 02:00:00:00:00:0n, 10.0.0.n/24.
    fn new(n: u8, now: SmolInstant, socket_buf: usize) -> Self {
        let mut port = WirePort::default();
        let mut config = Config::new(EthernetAddress([2, 0, 0, 0, 0, n]).into());
        config.random_seed = u64::from(n);
        let mut iface = Interface::new(config, &mut port, now);
        iface.update_ip_addrs(|addrs| {
            addrs
                .push(IpCidr::new(IpAddress::v4(10, 0, 0, n), 24))
                .expect("an interface holds at least one address");
        });
        let socket = tcp::Socket::new(
            tcp::SocketBuffer::new(vec![0; socket_buf]),
            tcp::SocketBuffer::new(vec![0; socket_buf]),
        );
        let mut sockets = SocketSet::new(Vec::new());
        let tcp = sockets.add(socket);
        SmolHost {
            iface,
            port,
            sockets,
            tcp,
        }
    }

    fn poll(&mut self, now: SmolInstant) {
        self.iface.poll(now, &mut self.port, &mut self.sockets);
    }

    fn socket(&mut self) -> &mut tcp::Socket<'static> {
        self.sockets.get_mut::<tcp::Socket<'static>>(self.tcp)
    }

    /// How long until this host has timer work to do, if it has any.
    fn poll_delay(&mut self, now: SmolInstant) -> Option<SmolDuration> {
        self.iface.poll_delay(now, &self.sockets)
    }
}

/// Two smoltcp hosts with a connection from `a` (10.0.0.1) to `b` (10.0.0.2).
struct SmoltcpPair {
    a: SmolHost,
    b: SmolHost,
    now: SmolInstant,
    /// Stream offset of the next byte `a` writes.
    sent: u64,
    /// Stream offset of the next byte `b` reads.
    received: u64,
    pattern: Pattern,
    /// Most bytes written between two rounds.
    write_max: usize,
}

impl SmoltcpPair {
    /// Builds both hosts with send and receive buffers of `socket_buf` bytes, resolves ARP and
    /// completes the handshake.
    fn connected(socket_buf: usize) -> Self {
        let now = SmolInstant::ZERO;
        let mut pair = SmoltcpPair {
            a: SmolHost::new(1, now, socket_buf),
            b: SmolHost::new(2, now, socket_buf),
            now,
            sent: 0,
            received: 0,
            pattern: Pattern::new(socket_buf.max(CHUNK)),
            write_max: usize::MAX,
        };
        pair.b
            .socket()
            .listen(PORT)
            .expect("a fresh socket can listen");
        let a = &mut pair.a;
        a.sockets
            .get_mut::<tcp::Socket<'static>>(a.tcp)
            .connect(a.iface.context(), (IpAddress::v4(10, 0, 0, 2), PORT), 49152)
            .expect("a fresh socket can connect");
        for _ in 0..1000 {
            if pair.a.socket().state() == tcp::State::Established
                && pair.b.socket().state() == tcp::State::Established
            {
                return pair;
            }
            if pair.round() == 0 {
                pair.idle();
            }
        }
        panic!(
            "smoltcp handshake did not complete: a {}, b {}",
            pair.a.socket().state(),
            pair.b.socket().state()
        );
    }

    /// One round trip of the wire: `a` sends, `b` receives and answers, `a` takes the answers.
    /// Returns the number of frames moved.
    fn round(&mut self) -> usize {
        self.a.poll(self.now);
        let mut frames = carry(&mut self.a.port, &mut self.b.port);
        self.b.poll(self.now);
        frames += self.read_b();
        // Poll again so the window opened by the read goes out in this round.
        self.b.poll(self.now);
        frames += carry(&mut self.b.port, &mut self.a.port);
        self.a.poll(self.now);
        frames
    }

    /// Advances the virtual clock to the earliest timer of either host.
    fn idle(&mut self) {
        let next = [self.a.poll_delay(self.now), self.b.poll_delay(self.now)]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(SmolDuration::from_millis(1));
        self.now += next.max(SmolDuration::from_micros(1));
    }

    /// Writes pattern bytes into `a`'s send buffer up to stream offset `until`; returns how many.
    fn write_a(&mut self, until: u64) -> usize {
        let socket = self.a.sockets.get_mut::<tcp::Socket<'static>>(self.a.tcp);
        let mut total = 0;
        while self.sent < until && total < self.write_max {
            let offset = self.sent;
            let want = ((until - offset) as usize).min(self.write_max - total);
            let pattern = &self.pattern;
            let n = socket
                .send(|buf| {
                    let n = buf.len().min(want);
                    buf[..n].copy_from_slice(pattern.at(offset, n));
                    (n, n)
                })
                .expect("the connection is established");
            if n == 0 {
                break;
            }
            self.sent += n as u64;
            total += n;
        }
        total
    }

    /// Reads and checks everything `b` has received; returns how many bytes.
    fn read_b(&mut self) -> usize {
        let socket = self.b.sockets.get_mut::<tcp::Socket<'static>>(self.b.tcp);
        let mut total = 0;
        while socket.can_recv() {
            let offset = self.received;
            let pattern = &self.pattern;
            let n = socket
                .recv(|buf| {
                    assert!(
                        buf == pattern.at(offset, buf.len()),
                        "smoltcp delivered wrong bytes at stream offset {offset}"
                    );
                    (buf.len(), buf.len())
                })
                .expect("the connection is established");
            self.received += n as u64;
            total += n;
        }
        total
    }
}

impl BulkLink for SmoltcpPair {
    fn transfer(&mut self, len: usize) -> u64 {
        let start = self.received;
        let until = self.sent + len as u64;
        let deadline = self.now + STALL_LIMIT;
        while self.received < until {
            let wrote = self.write_a(until);
            if wrote + self.round() == 0 {
                assert!(
                    self.now < deadline,
                    "smoltcp stalled at {} of {len} bytes",
                    self.received - start
                );
                self.idle();
            }
        }
        assert_eq!(self.received, until, "receiver overshot the chunk");
        self.received - start
    }
}

/// Two oxnic stacks (10.0.0.1 and 10.0.0.2) in a [`Net`] with a connection from stack 0 to
/// stack 1.
struct OxnicPair {
    net: Net,
    /// Sending socket, on stack 0.
    tx: TcpHandle,
    /// Receiving socket, on stack 1.
    rx: TcpHandle,
    /// Stream offset of the next byte stack 0 writes.
    sent: u64,
    /// Stream offset of the next byte stack 1 reads.
    received: u64,
    pattern: Pattern,
    /// Most bytes written between two rounds.
    write_max: usize,
}

impl OxnicPair {
    /// Builds both stacks with devices of `caps` and TCP settings `tcp` on a zero-latency,
    /// unlimited MTU-1500 wire, resolves ARP, completes the handshake and sets
    /// `socket_buf` as both sockets' send and receive buffer (the smoltcp entries' size: a
    /// buffer that takes the whole 4 MiB chunk at once was slower on this wire, which has no
    /// latency to cover: the chunk is copied in before any of it is sent, and no longer in
    /// cache when it is).
    fn connected(caps: DeviceCaps, tcp: TcpConfig, socket_buf: usize) -> Self {
        // With the card's offloads on, the two cards do TSO and hardware GRO: super-packets
        // cross whole (as over Linux's loopback); without, every frame is MTU-sized.
        let link = LinkConfig::new(Duration::ZERO, IP_MTU).lro(caps.tso && caps.rx_csum);
        let (mut net, _, _) = two_hosts_with(caps, link, 1);
        net.set_max_steps_per_instant(OXNIC_STEPS_PER_INSTANT);
        for stack in &mut net.stacks {
            stack.set_tcp_config(tcp.clone());
        }
        let any = SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, PORT);
        let server = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), PORT);
        let listener = net.stacks[1]
            .tcp_listen(any, 1)
            .expect("a fresh stack can listen");
        let now = net.now();
        let tx = net.stacks[0]
            .tcp_connect(server, now)
            .expect("the server's subnet is directly connected");
        let deadline = now + OXNIC_STALL_LIMIT;
        let mut rx = None;
        let done = net
            .run_while(
                |n| {
                    if rx.is_none() {
                        rx = n.stacks[1].tcp_accept(listener).ok().map(|(h, _)| h);
                    }
                    rx.is_none() || n.stacks[0].tcp_state(tx) != Ok(TcpState::Established)
                },
                deadline,
            )
            .expect("the handshake does not livelock");
        let rx = match (done, rx) {
            (true, Some(rx)) => rx,
            _ => panic!(
                "oxnic handshake did not complete: client {:?}",
                net.stacks[0].tcp_state(tx)
            ),
        };
        for (stack, h) in [(0, tx), (1, rx)] {
            let s = &mut net.stacks[stack];
            s.tcp_set_sndbuf(h, socket_buf).expect("the socket is open");
            s.tcp_set_rcvbuf(h, socket_buf).expect("the socket is open");
        }
        OxnicPair {
            net,
            tx,
            rx,
            sent: 0,
            received: 0,
            pattern: Pattern::new(CHUNK),
            write_max: usize::MAX,
        }
    }

    /// Both sockets' `tcp_info` and the virtual time, for a stall report.
    fn diagnose(&self) -> String {
        format!(
            "at {:?}: sender {:?}; receiver {:?}",
            self.net.now(),
            self.net.stacks[0].tcp_info(self.tx),
            self.net.stacks[1].tcp_info(self.rx)
        )
    }
}

/// The application side of an [`OxnicPair`] transfer, run by [`Net::run_while`] after every
/// round: checks all the receiver has where it lies, as the smoltcp entry does
/// ([`Stack::tcp_recv_with`], the counterpart of smoltcp's `recv` closure), then tops up the
/// sender's buffer up to stream offset `until`. That is the smoltcp entry's order too: its
/// receiver is read right after the poll that took the frames in, before the next write.
/// Returns whether bytes before `until` are still missing.
///
/// [`Stack::tcp_recv_with`]: oxnic_stack::Stack::tcp_recv_with
struct OxnicApp<'a> {
    tx: TcpHandle,
    rx: TcpHandle,
    sent: &'a mut u64,
    received: &'a mut u64,
    pattern: &'a Pattern,
    until: u64,
    write_max: usize,
}

impl OxnicApp<'_> {
    fn pump(&mut self, net: &mut Net) -> bool {
        let now = net.now();
        loop {
            let (received, pattern) = (&mut *self.received, self.pattern);
            let read = net.stacks[1].tcp_recv_with(
                self.rx,
                |bytes| {
                    let offset = *received;
                    assert!(
                        bytes == pattern.at(offset, bytes.len()),
                        "oxnic delivered wrong bytes at stream offset {offset}"
                    );
                    *received += bytes.len() as u64;
                    bytes.len()
                },
                now,
            );
            match read {
                Ok(0) => panic!("oxnic receiver saw end of stream"),
                Ok(_) => {}
                Err(TcpError::WouldBlock) => break,
                Err(e) => panic!("oxnic recv failed: {e}"),
            }
        }
        let mut wrote = 0;
        while *self.sent < self.until && wrote < self.write_max {
            let want = ((self.until - *self.sent) as usize).min(self.write_max - wrote);
            let data = self.pattern.at(*self.sent, want);
            match net.stacks[0].tcp_send(self.tx, data, now) {
                Ok(n) => {
                    *self.sent += n as u64;
                    wrote += n;
                }
                Err(TcpError::WouldBlock) => break,
                Err(e) => panic!("oxnic send failed: {e}"),
            }
        }
        *self.received < self.until
    }
}

impl BulkLink for OxnicPair {
    fn transfer(&mut self, len: usize) -> u64 {
        let start = self.received;
        let until = self.sent + len as u64;
        let deadline = self.net.now() + OXNIC_STALL_LIMIT;
        let mut app = OxnicApp {
            tx: self.tx,
            rx: self.rx,
            sent: &mut self.sent,
            received: &mut self.received,
            pattern: &self.pattern,
            until,
            write_max: self.write_max,
        };
        let finished = self.net.run_while(|net| app.pump(net), deadline);
        match finished {
            Ok(true) => {}
            Ok(false) => panic!(
                "oxnic stalled at {} of {len} bytes {}",
                self.received - start,
                self.diagnose()
            ),
            Err(e) => panic!("oxnic network failed: {e} {}", self.diagnose()),
        }
        assert_eq!(self.received, until, "receiver overshot the chunk");
        self.received - start
    }
}

/// The kernel's TCP on a connection the caller set up: the bench thread writes, a receiver
/// thread reads, checks the bytes and answers one status byte per chunk.
struct KernelTcp {
    stream: TcpStream,
    receiver: Option<JoinHandle<io::Result<()>>>,
    sent: u64,
    pattern: Arc<Pattern>,
}

impl KernelTcp {
    /// Starts the receiver on `peer`, the accepted end of `stream`'s connection; the receiver
    /// thread runs `setup` first (to pin itself to a CPU).
    fn start(
        stream: TcpStream,
        peer: TcpStream,
        chunk: usize,
        setup: impl FnOnce() -> io::Result<()> + Send + 'static,
    ) -> io::Result<Self> {
        // The chunk's last segment and the status byte are short; Nagle must not hold them.
        stream.set_nodelay(true)?;
        peer.set_nodelay(true)?;
        let pattern = Arc::new(Pattern::new(chunk.max(LINUX_READ_BUF)));
        let theirs = Arc::clone(&pattern);
        let receiver = thread::spawn(move || {
            setup()?;
            drain(peer, &theirs, chunk)
        });
        Ok(KernelTcp {
            stream,
            receiver: Some(receiver),
            sent: 0,
            pattern,
        })
    }

    /// Over 127.0.0.1 in the bench's own namespace, on whatever CPUs the kernel picks.
    fn loopback(chunk: usize) -> io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let stream = TcpStream::connect(listener.local_addr()?)?;
        let (peer, _) = listener.accept()?;
        Self::start(stream, peer, chunk, || Ok(()))
    }
}

/// Receiver thread body: reads until end of stream, checking bytes against the pattern, and
/// answers 1 (intact so far) or 0 (a mismatch was seen) after every `chunk` bytes.
fn drain(mut stream: TcpStream, pattern: &Pattern, chunk: usize) -> io::Result<()> {
    let mut buf = vec![0; LINUX_READ_BUF];
    let mut offset = 0u64;
    let mut pending = 0usize;
    let mut intact = true;
    loop {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        intact &= buf[..n] == *pattern.at(offset, n);
        offset += n as u64;
        pending += n;
        while pending >= chunk {
            pending -= chunk;
            stream.write_all(&[u8::from(intact)])?;
        }
    }
}

impl BulkLink for KernelTcp {
    fn transfer(&mut self, len: usize) -> u64 {
        self.stream
            .write_all(self.pattern.at(self.sent, len))
            .expect("kernel TCP write");
        self.sent += len as u64;
        let mut status = [0u8];
        self.stream
            .read_exact(&mut status)
            .expect("receiver answers every chunk");
        assert_eq!(status[0], 1, "the kernel delivered wrong bytes");
        len as u64
    }
}

impl Drop for KernelTcp {
    fn drop(&mut self) {
        // End of stream stops the receiver; its result no longer matters once measuring is done.
        let _ = self.stream.shutdown(Shutdown::Write);
        if let Some(receiver) = self.receiver.take() {
            let _ = receiver.join();
        }
    }
}

/// Addresses of the two ends of [`Veth`].
const VETH_ADDRS: [Ipv4Addr; 2] = [Ipv4Addr::new(10, 88, 0, 1), Ipv4Addr::new(10, 88, 0, 2)];

/// Runs `cmd args`; a spawn failure or a non-zero exit is the error, with the command's stderr.
fn run_cmd(cmd: &str, args: &[&str]) -> Result<(), String> {
    let out = Command::new(cmd)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("`{cmd}` could not run: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`{cmd} {}` failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Two throw-away network namespaces joined by a veth pair at IP MTU 1500, each end with the
/// `ethtool -K` features given: the kernel's TCP over a real device path (qdisc, veth
/// transmit, NAPI, GRO when on, `ip_rcv`, netfilter hooks) instead of loopback's shortcut.
/// Deleted on drop, which deletes the veth pair with them.
struct Veth {
    /// The namespaces' names, the sender's first, as far as they were made.
    ns: Vec<String>,
}

impl Veth {
    fn new(features: &[&str]) -> Result<Self, String> {
        let id = std::process::id();
        let mut veth = Veth { ns: Vec::new() };
        for end in ['a', 'b'] {
            let ns = format!("oxbench{id}{end}");
            run_cmd("ip", &["netns", "add", &ns])?;
            veth.ns.push(ns);
        }
        let devs = [format!("oxbv{id}a"), format!("oxbv{id}b")];
        #[rustfmt::skip]
        run_cmd("ip", &[
            "link", "add", &devs[0], "netns", &veth.ns[0], "type", "veth",
            "peer", "name", &devs[1], "netns", &veth.ns[1],
        ])?;
        let mtu = IP_MTU.to_string();
        for ((ns, dev), addr) in veth.ns.iter().zip(&devs).zip(VETH_ADDRS) {
            let cidr = format!("{addr}/24");
            run_cmd("ip", &["-n", ns, "addr", "add", &cidr, "dev", dev])?;
            run_cmd("ip", &["-n", ns, "link", "set", dev, "mtu", &mtu, "up"])?;
            let mut args = vec!["netns", "exec", ns, "ethtool", "-K", dev];
            args.extend_from_slice(features);
            run_cmd("ip", &args)?;
        }
        Ok(veth)
    }

    /// Runs `f` on this thread inside namespace `i` (0 sender, 1 receiver), then returns the
    /// thread to the namespace it was in. Sockets made by `f` stay in namespace `i`.
    fn within<T>(&self, i: usize, f: impl FnOnce() -> io::Result<T>) -> Result<T, String> {
        let enter = |path: &str| -> Result<(), String> {
            let fd = File::open(path).map_err(|e| format!("{path}: {e}"))?;
            setns(fd, CloneFlags::CLONE_NEWNET).map_err(|e| format!("setns {path}: {e}"))
        };
        let home = "/proc/thread-self/ns/net";
        let home_fd = File::open(home).map_err(|e| format!("{home}: {e}"))?;
        enter(&format!("/run/netns/{}", self.ns[i]))?;
        let out = f().map_err(|e| format!("in namespace {}: {e}", self.ns[i]));
        setns(home_fd, CloneFlags::CLONE_NEWNET).map_err(|e| format!("setns back: {e}"))?;
        out
    }
}

impl Drop for Veth {
    fn drop(&mut self) {
        for ns in &self.ns {
            if let Err(e) = run_cmd("ip", &["netns", "del", ns]) {
                eprintln!("tcp_bulk: {e}");
            }
        }
    }
}

/// The kernel's TCP between the two namespaces of a [`Veth`], on one CPU: the bench thread
/// (sender), the receiver thread and, with them, the kernel's softirq work for both ends
/// (veth hands a frame to the peer's backlog on the sending CPU) all run on the CPU the bench
/// thread was first allowed, like the oxnic and smoltcp entries. The bench thread gets its
/// CPUs back on drop.
struct LinuxVeth {
    // Field order is drop order: the connection before its namespaces.
    tcp: KernelTcp,
    _veth: Veth,
    cpus: CpuSet,
}

impl LinuxVeth {
    fn connected(chunk: usize, features: &[&str]) -> Result<Self, String> {
        let veth = Veth::new(features)?;
        let me = Pid::from_raw(0);
        let cpus = sched_getaffinity(me).map_err(|e| format!("sched_getaffinity: {e}"))?;
        let cpu = (0..CpuSet::count())
            .find(|&c| cpus.is_set(c).unwrap_or(false))
            .ok_or("the bench thread may run on no CPU")?;
        let mut one = CpuSet::new();
        one.set(cpu).map_err(|e| format!("CPU {cpu}: {e}"))?;
        let server = SocketAddrV4::new(VETH_ADDRS[1], PORT);
        let listener = veth.within(1, || TcpListener::bind(server))?;
        let stream = veth.within(0, || TcpStream::connect(server))?;
        let (peer, _) = listener.accept().map_err(|e| format!("accept: {e}"))?;
        let pin = move || sched_setaffinity(me, &one).map_err(io::Error::from);
        let tcp =
            KernelTcp::start(stream, peer, chunk, pin).map_err(|e| format!("receiver: {e}"))?;
        // The bench thread last, so that from here on the guard gives its CPUs back.
        sched_setaffinity(me, &one).map_err(|e| format!("sched_setaffinity: {e}"))?;
        Ok(LinuxVeth {
            tcp,
            _veth: veth,
            cpus,
        })
    }
}

impl BulkLink for LinuxVeth {
    fn transfer(&mut self, len: usize) -> u64 {
        self.tcp.transfer(len)
    }
}

impl Drop for LinuxVeth {
    fn drop(&mut self) {
        let _ = sched_setaffinity(Pid::from_raw(0), &self.cpus);
    }
}

/// `ethtool -K` features of both veth ends for `linux_veth_mtu1500_nogso`: no offload at all,
/// not even the checksums veth would otherwise skip.
const VETH_NO_OFFLOADS: [&str; 12] = [
    "tso", "off", "gso", "off", "gro", "off", "sg", "off", "tx", "off", "rx", "off",
];
/// The same for `linux_veth_mtu1500`: software GSO on the sending end and GRO on the
/// receiving one, checksums still in software.
const VETH_SOFTWARE_GSO: [&str; 12] = [
    "tso", "off", "gso", "on", "gro", "on", "sg", "on", "tx", "off", "rx", "off",
];

/// Registers `link` under `id`, one [`CHUNK`] per iteration, and hands it back.
fn measure<L: BulkLink>(g: &mut BenchmarkGroup<'_, WallTime>, id: &str, mut link: L) -> L {
    g.bench_function(id, |b| b.iter(|| link.transfer(CHUNK)));
    link
}

/// Prints what the sender of an oxnic entry counted over warm-up and measurement (on this
/// lossless wire every retransmission is one too many), how many of its frames software GSO
/// took the payload sum of from the copy into the send queue instead of reading the payload,
/// and how many segments the receiver's software GRO chained per super-packet (what its
/// per-packet work is spread over).
fn report(id: &str, link: &OxnicPair) {
    let mib = link.net.stacks[0].tcp_mib();
    let qdisc = link.net.stacks[0]
        .interfaces()
        .filter_map(|i| link.net.stacks[0].interface(i))
        .map(|i| i.qdisc_stats().drops)
        .sum::<u64>();
    eprintln!(
        "{id}: sender sent {} segments, retransmitted {}, qdisc drops {qdisc}, bytes {}",
        mib.out_segs, mib.retrans_segs, link.sent
    );
    let (frames, sums) = link.net.stacks[0]
        .interfaces()
        .filter_map(|i| link.net.stacks[0].interface(i))
        .map(|i| i.stats())
        .fold((0, 0), |(f, s), st| {
            (f + st.tx_packets, s + st.gso_sums_from_copy)
        });
    if sums > 0 {
        eprintln!(
            "{id}: sender's GSO took {sums} of its {frames} frames' payload sums from the copy \
             into the send queue"
        );
    }
    let receiver = &link.net.stacks[1];
    let (merged, flushed) = receiver
        .interfaces()
        .filter_map(|i| receiver.interface(i))
        .map(|i| i.gro_stats())
        .fold((0, 0), |(m, f), g| (m + g.merged, f + g.flushed));
    if merged > 0 {
        eprintln!(
            "{id}: receiver GRO made {flushed} super-packets of {:.1} segments on average",
            (merged + flushed) as f64 / flushed as f64
        );
    }
}

/// Times `n` chunks of `link`, in seconds each.
fn chunk_times(link: &mut impl BulkLink, n: usize) -> Vec<f64> {
    (0..n)
        .map(|_| {
            let start = Instant::now();
            link.transfer(CHUNK);
            start.elapsed().as_secs_f64()
        })
        .collect()
}

/// GiB/s of a chunk moved in `secs` seconds.
fn gib(secs: f64) -> f64 {
    CHUNK as f64 / secs / f64::from(1u32 << 30)
}

/// The value at quantile `q` of `sorted` (ascending).
fn quantile(sorted: &[f64], q: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * q) as usize]
}

/// The speeds (GiB/s) of chunk times `secs`: the fastest chunk, the tenth percentile, the
/// median, and the mean (all the bytes over all the time, as criterion's figure is: slow
/// chunks weigh in).
fn summary(secs: &[f64]) -> [f64; 4] {
    let mut sorted = secs.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mean = sorted.iter().sum::<f64>() / sorted.len() as f64;
    [
        gib(quantile(&sorted, 0.0)),
        gib(quantile(&sorted, 0.1)),
        gib(quantile(&sorted, 0.5)),
        gib(mean),
    ]
}

/// Blocks of chunks each entry of the `TCP_BULK_CHUNKS` mode is timed in, taking turns.
const CHUNK_BLOCKS: usize = 10;

/// The `TCP_BULK_CHUNKS` mode (see the module documentation).
fn per_chunk(n: usize) {
    let mut smoltcp = SmoltcpPair::connected(SOCKET_BUF);
    let mut oxnic = OxnicPair::connected(DeviceCaps::default(), TcpConfig::default(), SOCKET_BUF);
    let blocks = CHUNK_BLOCKS.min(n);
    let (mut s_secs, mut o_secs, mut paired) = (Vec::new(), Vec::new(), Vec::new());
    let fastest = |secs: &[f64]| gib(secs.iter().copied().fold(f64::INFINITY, f64::min));
    for b in 0..blocks {
        let k = n * (b + 1) / blocks - n * b / blocks;
        // Each entry goes first in every other block.
        let (s, o) = if b % 2 == 0 {
            let s = chunk_times(&mut smoltcp, k);
            (s, chunk_times(&mut oxnic, k))
        } else {
            let o = chunk_times(&mut oxnic, k);
            (chunk_times(&mut smoltcp, k), o)
        };
        paired.push(fastest(&o) / fastest(&s));
        s_secs.extend(s);
        o_secs.extend(o);
    }
    let (smoltcp, oxnic) = (summary(&s_secs), summary(&o_secs));
    println!("{n} chunks of 4 MiB each, GiB/s: fastest / tenth percentile / median / mean");
    let rows = [
        ("smoltcp_mtu1500", smoltcp),
        ("oxnic_mtu1500", oxnic),
        ("ratio", [0, 1, 2, 3].map(|i| oxnic[i] / smoltcp[i])),
    ];
    for (id, v) in rows {
        println!(
            "{id:16} {:6.2} {:6.2} {:6.2} {:6.2}",
            v[0], v[1], v[2], v[3]
        );
    }
    paired.sort_by(f64::total_cmp);
    println!(
        "ratio of the fastest chunks of {blocks} pairs of neighbouring blocks: median {:.2}, lowest {:.2}, highest {:.2}",
        quantile(&paired, 0.5),
        quantile(&paired, 0.0),
        quantile(&paired, 1.0)
    );
}

fn tcp_bulk(c: &mut Criterion) {
    if let Some(v) = std::env::var_os("TCP_BULK_CHUNKS") {
        match v.to_str().and_then(|v| v.parse::<usize>().ok()) {
            Some(n) if n > 0 => per_chunk(n),
            _ => {
                eprintln!("tcp_bulk: TCP_BULK_CHUNKS must be a number of chunks, got {v:?}");
                std::process::exit(2);
            }
        }
        return;
    }
    let mut g = c.benchmark_group("tcp_bulk");
    g.throughput(Throughput::Bytes(CHUNK as u64));
    g.sample_size(10);
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(3));
    measure(
        &mut g,
        "smoltcp_mtu1500",
        SmoltcpPair::connected(SOCKET_BUF),
    );
    let no_gso = TcpConfig {
        gso: false,
        ..TcpConfig::default()
    };
    // oxnic at MTU 1500 right after smoltcp: on a machine whose speed comes and goes, the two
    // entries the goal compares are then measured as close together as criterion allows.
    let oxnic = [
        ("oxnic_mtu1500", DeviceCaps::default(), TcpConfig::default()),
        ("oxnic_mtu1500_nogso", DeviceCaps::default(), no_gso),
        (
            "oxnic_gso64k",
            DeviceCaps::all_offloads(IP_MTU),
            TcpConfig::default(),
        ),
    ];
    for (id, caps, tcp) in oxnic {
        let link = measure(&mut g, id, OxnicPair::connected(caps, tcp, SOCKET_BUF));
        report(id, &link);
    }
    // The same two MTU-1500 transfers with an application that writes 128 KiB at a time
    // instead of filling the socket: less in flight, so the bytes are still in the cache
    // when each stage reads them.
    let smoltcp = SmoltcpPair {
        write_max: APP_WRITE,
        ..SmoltcpPair::connected(SOCKET_BUF)
    };
    measure(&mut g, "smoltcp_mtu1500_w128k", smoltcp);
    let oxnic = OxnicPair {
        write_max: APP_WRITE,
        ..OxnicPair::connected(DeviceCaps::default(), TcpConfig::default(), SOCKET_BUF)
    };
    report(
        "oxnic_mtu1500_w128k",
        &measure(&mut g, "oxnic_mtu1500_w128k", oxnic),
    );
    // And with 256 KiB socket buffers on both sides: everything the transfer touches fits in
    // the cache, so what is left is each stack's work per segment.
    measure(
        &mut g,
        "smoltcp_mtu1500_b256k",
        SmoltcpPair::connected(SMALL_SOCKET_BUF),
    );
    let oxnic = OxnicPair::connected(
        DeviceCaps::default(),
        TcpConfig::default(),
        SMALL_SOCKET_BUF,
    );
    report(
        "oxnic_mtu1500_b256k",
        &measure(&mut g, "oxnic_mtu1500_b256k", oxnic),
    );
    measure(
        &mut g,
        "linux_loopback",
        KernelTcp::loopback(CHUNK).expect("loopback TCP connection"),
    );
    // The kernel's software paths at MTU 1500, as the oxnic entries of the same names: every
    // frame through the stack with checksums in software, then with software GSO and GRO.
    let veth = [
        ("linux_veth_mtu1500_nogso", &VETH_NO_OFFLOADS[..]),
        ("linux_veth_mtu1500", &VETH_SOFTWARE_GSO[..]),
    ];
    for (id, features) in veth {
        match LinuxVeth::connected(CHUNK, features) {
            Ok(link) => drop(measure(&mut g, id, link)),
            Err(e) => eprintln!("tcp_bulk: skipping {id} (needs root, ip and ethtool): {e}"),
        }
    }
    g.finish();
}

criterion_group!(benches, tcp_bulk);
criterion_main!(benches);
