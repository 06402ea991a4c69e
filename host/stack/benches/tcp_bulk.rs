//! Single-stream TCP bulk throughput, side by side, in one run.
//!
//! Every entry moves [`CHUNK`] bytes per measured iteration from a sender to a receiver over one
//! TCP connection that was set up beforehand, and checks that every byte arrived in order
//! (the stream is a repeating 251-byte pattern compared against on receipt). Criterion reports
//! bytes per second.
//!
//! - `smoltcp_mtu1500`: two smoltcp interfaces on one core, each with its own in-memory
//!   Ethernet device, joined by a lossless wire (IP MTU 1500, software checksums both ways),
//!   driven by a virtual clock that only moves when neither side has anything to do. ARP and
//!   the handshake happen during setup.
//! - `linux_loopback`: the kernel's TCP over 127.0.0.1, default socket buffers. This is *not*
//!   one core: the kernel's softirq work and a receiver thread run beside the bench thread, so
//!   the figure is a ceiling to aim at rather than a like-for-like comparison.
//!
//! Another stack joins the table by implementing [`BulkLink`] for a connected pair and adding
//! one `measure` line in [`tcp_bulk`].
//!
//! `cargo bench -p oxnic-stack --bench tcp_bulk -- --quick`

use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};
use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::phy::{self, Device, DeviceCapabilities, Medium};
use smoltcp::socket::tcp;
use smoltcp::time::{Duration as SmolDuration, Instant as SmolInstant};
use smoltcp::wire::{EthernetAddress, EthernetFrame, IpAddress, IpCidr};
use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// Bytes moved per measured iteration.
const CHUNK: usize = 4 << 20;
/// Period of the byte pattern carried by every stream; prime, so it never lines up with a
/// segment size and a dropped, duplicated or reordered segment shows up as a mismatch.
const PERIOD: usize = 251;
/// IP MTU of the in-memory wire.
const IP_MTU: usize = 1500;
/// Send and receive buffer of every smoltcp socket (window scaling gives a 1 MiB window).
const SOCKET_BUF: usize = 1 << 20;
/// Read buffer of the Linux receiver thread.
const LINUX_READ_BUF: usize = 256 << 10;
/// Virtual time a smoltcp transfer may spend idle before it counts as stalled.
const STALL_LIMIT: SmolDuration = SmolDuration::from_secs(10);
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
    fn new(n: u8, now: SmolInstant) -> Self {
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
            tcp::SocketBuffer::new(vec![0; SOCKET_BUF]),
            tcp::SocketBuffer::new(vec![0; SOCKET_BUF]),
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
}

impl SmoltcpPair {
    /// Builds both hosts, resolves ARP and completes the handshake.
    fn connected() -> Self {
        let now = SmolInstant::ZERO;
        let mut pair = SmoltcpPair {
            a: SmolHost::new(1, now),
            b: SmolHost::new(2, now),
            now,
            sent: 0,
            received: 0,
            pattern: Pattern::new(SOCKET_BUF.max(CHUNK)),
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
        while self.sent < until {
            let offset = self.sent;
            let want = (until - offset) as usize;
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

/// The kernel's TCP over 127.0.0.1: the bench thread writes, a receiver thread reads, checks the
/// bytes and answers one status byte per chunk.
struct LinuxLoopback {
    stream: TcpStream,
    receiver: Option<JoinHandle<io::Result<()>>>,
    sent: u64,
    pattern: Arc<Pattern>,
}

impl LinuxLoopback {
    fn connected(chunk: usize) -> io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let stream = TcpStream::connect(listener.local_addr()?)?;
        let (peer, _) = listener.accept()?;
        // The chunk's last segment and the status byte are short; Nagle must not hold them.
        stream.set_nodelay(true)?;
        peer.set_nodelay(true)?;
        let pattern = Arc::new(Pattern::new(chunk.max(LINUX_READ_BUF)));
        let theirs = Arc::clone(&pattern);
        let receiver = thread::spawn(move || drain(peer, &theirs, chunk));
        Ok(LinuxLoopback {
            stream,
            receiver: Some(receiver),
            sent: 0,
            pattern,
        })
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

impl BulkLink for LinuxLoopback {
    fn transfer(&mut self, len: usize) -> u64 {
        self.stream
            .write_all(self.pattern.at(self.sent, len))
            .expect("loopback write");
        self.sent += len as u64;
        let mut status = [0u8];
        self.stream
            .read_exact(&mut status)
            .expect("receiver answers every chunk");
        assert_eq!(status[0], 1, "the kernel delivered wrong bytes");
        len as u64
    }
}

impl Drop for LinuxLoopback {
    fn drop(&mut self) {
        // End of stream stops the receiver; its result no longer matters once measuring is done.
        let _ = self.stream.shutdown(Shutdown::Write);
        if let Some(receiver) = self.receiver.take() {
            let _ = receiver.join();
        }
    }
}

/// Registers `link` under `id`, one [`CHUNK`] per iteration.
fn measure(g: &mut BenchmarkGroup<'_, WallTime>, id: &str, mut link: impl BulkLink) {
    g.bench_function(id, |b| b.iter(|| link.transfer(CHUNK)));
}

fn tcp_bulk(c: &mut Criterion) {
    let mut g = c.benchmark_group("tcp_bulk");
    g.throughput(Throughput::Bytes(CHUNK as u64));
    g.sample_size(10);
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(3));
    measure(&mut g, "smoltcp_mtu1500", SmoltcpPair::connected());
    measure(
        &mut g,
        "linux_loopback",
        LinuxLoopback::connected(CHUNK).expect("loopback TCP connection"),
    );
    g.finish();
}

criterion_group!(benches, tcp_bulk);
criterion_main!(benches);
