//! `oxnic tap`: the verilated card's Ethernet port bridged to a Linux TAP device, so the Linux
//! kernel is a real peer of the whole path (kernel ⇄ TAP ⇄ card MAC, RSS, checksums, DMA,
//! rings ⇄ driver ⇄ NAPI ⇄ stack ⇄ servers). The card runs free against wall time (the
//! kernel's timers are real): every round feeds the frames the kernel sent into the card's
//! MAC, runs the card a slice of cycles, polls the driver and the stack at the wall clock,
//! serves the applications and writes the frames the card sent to the TAP.
//!
//! Served: HTTP/1.1 static files from `--http-root` on port 80 (GET, HEAD, keep-alive, 404,
//! exact Content-Length), TCP echo on 7, TCP discard on 9, UDP echo on 7. SIGINT/SIGTERM end
//! the run cleanly and print the statistics.

use crate::host::{HostConfig, HostError, SimHost};
use oxnic_runtime::{FramePort, TapPort};
use oxnic_stack::pktbuf::PacketBuf;
use oxnic_stack::route::{Prefix, Route};
use oxnic_stack::tcp::{Shutdown, TcpError, TcpHandle};
use oxnic_stack::time::Instant;
use oxnic_stack::udp::{UdpError, UdpHandle};
use oxnic_stack::Stack;
use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Card cycles per round.
const CYCLES_PER_ROUND: u64 = 512;

/// What `oxnic tap` was asked to do.
#[derive(Debug, Clone)]
pub struct Options {
    /// TAP device name (created if missing).
    pub ifname: String,
    /// The stack's address.
    pub addr: Ipv4Addr,
    /// Its prefix length.
    pub prefix: u8,
    /// Default gateway.
    pub gateway: Option<Ipv4Addr>,
    /// Directory served over HTTP.
    pub http_root: Option<PathBuf>,
    /// RX/TX queues on the card.
    pub queues: u32,
    /// Stop after this long (default: until SIGINT/SIGTERM).
    pub duration: Option<Duration>,
}

/// Why `oxnic tap` stopped early.
#[derive(Debug, thiserror::Error)]
pub enum TapError {
    /// The TAP device could not be opened.
    #[error("{0}")]
    Tap(std::io::Error),
    /// The simulated card or the stack failed to come up.
    #[error(transparent)]
    Host(#[from] HostError),
    /// A server socket could not be opened.
    #[error("cannot serve {what}: {why}")]
    Serve {
        /// Which server.
        what: &'static str,
        /// Why.
        why: String,
    },
    /// The board could not be opened or brought up.
    #[error("{0}")]
    Board(String),
    /// Installing the signal handler failed.
    #[error("signal handler: {0}")]
    Signal(String),
}

/// The counters printed at the end.
#[derive(Debug, Default, Clone)]
pub struct Report {
    /// Frames from the kernel into the card.
    pub frames_in: u64,
    /// Frames from the card to the kernel.
    pub frames_out: u64,
    /// Frames the card sent with a bad FCS or too short (dropped, counted).
    pub bad_frames_out: u64,
    /// Card cycles run.
    pub cycles: u64,
    /// Wall time.
    pub wall: Duration,
    /// HTTP requests answered.
    pub http_requests: u64,
    /// The summary table.
    pub table: String,
}

fn stop_flag() -> Result<Arc<AtomicBool>, TapError> {
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    ctrlc::set_handler(move || s.store(true, Ordering::SeqCst))
        .map_err(|e| TapError::Signal(e.to_string()))?;
    Ok(stop)
}

/// `--backend vfio`: the same servers on a board bound to vfio-pci at `pci`, on its own
/// Ethernet port (no TAP: the board's wire is real). Runs until a signal or `opts.duration`.
pub fn run_board(opts: &Options, pci: &str) -> Result<Report, TapError> {
    let dev: Arc<dyn oxnic_driver::device::Device> = Arc::new(
        oxnic_driver::vfio::VfioDevice::open(pci)
            .map_err(|e| TapError::Board(format!("VFIO: {e}")))?,
    );
    let stop = stop_flag()?;
    let mut mac = [2, 0x0c, 0x5e, 0, 0, 2];
    mac[3..].copy_from_slice(&opts.addr.octets()[1..]);
    let nic = oxnic_driver::nic::Nic::open(
        dev,
        oxnic_driver::nic::NicConfig {
            rx_queues: opts.queues,
            tx_queues: opts.queues,
            mode: oxnic_driver::napi::PollMode::BusyPoll,
            mac: Some(mac),
            mtu: Some(1500),
            ..Default::default()
        },
    )
    .map_err(|e| TapError::Board(e.to_string()))?;
    let start = std::time::Instant::now();
    let t = |s: &std::time::Instant| Instant::from_nanos(s.elapsed().as_nanos() as u64);
    let mut stack = Stack::new(oxnic_stack::StackConfig::default());
    let caps = crate::glue::NicPort::caps(1usize << nic.config().tx_ring_log2);
    let ifindex = stack.add_interface(oxnic_stack::IfaceConfig::new(
        "eth0",
        oxnic_stack::wire::ethernet::EthernetAddress(mac),
        caps,
    ));
    stack
        .add_address(ifindex, opts.addr, opts.prefix, t(&start))
        .map_err(|e| TapError::Board(e.to_string()))?;
    let mut port = crate::glue::NicPort::new(nic, ifindex, 4096, 2048);
    let mut apps = Apps::open(&mut stack, opts.http_root.clone())?;
    while !stop.load(Ordering::SeqCst) && opts.duration.is_none_or(|d| start.elapsed() < d) {
        let now = t(&start);
        port.receive(&mut stack);
        stack.poll(now);
        apps.poll(&mut stack, now);
        stack.poll(now);
        if port.transmit(&mut stack) == 0 {
            std::thread::yield_now();
        }
    }
    let report = Report {
        wall: start.elapsed(),
        http_requests: apps.http_requests,
        table: format!(
            "board {pci}: {} http requests\n{}",
            apps.http_requests,
            stack.snmp()
        ),
        ..Report::default()
    };
    port.close();
    Ok(report)
}

/// Runs the bridge until a signal or `opts.duration`.
pub fn run(opts: &Options) -> Result<Report, TapError> {
    let stop = stop_flag()?;
    let mut tap = TapPort::open(&opts.ifname).map_err(TapError::Tap)?;
    let start = std::time::Instant::now();
    let now = |s: &std::time::Instant| Instant::from_nanos(s.elapsed().as_nanos() as u64);
    let mut mac = [2, 0x0c, 0x5e, 0, 0, 2];
    mac[3..].copy_from_slice(&opts.addr.octets()[1..]);
    let mut host = SimHost::new(
        &HostConfig {
            mac,
            addr: opts.addr,
            prefix: opts.prefix,
            queues: opts.queues,
        },
        now(&start),
    )?;
    if let Some(gw) = opts.gateway {
        let ifindex = host.port.ifindex();
        let default = Prefix::new(Ipv4Addr::UNSPECIFIED, 0).map_err(|e| TapError::Serve {
            what: "routes",
            why: e.to_string(),
        })?;
        host.stack
            .routes_mut()
            .add(Route::via(default, gw, ifindex))
            .map_err(|e| TapError::Serve {
                what: "the default route",
                why: e.to_string(),
            })?;
    }
    let mut apps = Apps::open(&mut host.stack, opts.http_root.clone())?;
    let mut report = Report::default();
    eprintln!(
        "oxnic tap: {} is the verilated card's wire; oxnic at {}/{}; serving http:80{} echo:7 discard:9 udp-echo:7; Ctrl-C stops",
        opts.ifname,
        opts.addr,
        opts.prefix,
        opts.http_root
            .as_ref()
            .map(|p| format!(" ({})", p.display()))
            .unwrap_or_default()
    );
    while !stop.load(Ordering::SeqCst) && opts.duration.is_none_or(|d| start.elapsed() < d) {
        let mut busy = false;
        while let Some(frame) = tap.recv() {
            // A TAP hands over frames as the kernel built them, without the padding to 60
            // bytes a real wire carries (the card's MAC counts shorter frames as runts).
            let mut bytes = vec![0u8; frame.len().max(60)];
            if frame.copy_to(&mut bytes).is_ok() {
                host.dev.send_frame(&bytes);
                report.frames_in += 1;
                busy = true;
            }
        }
        let t = now(&start);
        busy |= host.receive(t) > 0;
        apps.poll(&mut host.stack, t);
        busy |= host.transmit(t) > 0;
        host.dev.run(CYCLES_PER_ROUND);
        for f in host.dev.take_tx_frames() {
            match f.frame() {
                Ok(bytes) => {
                    tap.send(PacketBuf::from_slice(0, bytes));
                    report.frames_out += 1;
                }
                Err(_) => report.bad_frames_out += 1,
            }
            busy = true;
        }
        if !busy && host.idle() {
            tap.wait(Duration::from_millis(1));
        }
    }
    report.cycles = host.dev.cycle();
    report.wall = start.elapsed();
    report.http_requests = apps.http_requests;
    let mut table = String::new();
    use std::fmt::Write as _;
    let _ = writeln!(
        table,
        "wire      {} frames in from the kernel, {} out ({} bad)",
        report.frames_in, report.frames_out, report.bad_frames_out
    );
    let _ = writeln!(
        table,
        "card      {} cycles in {:.1?}: {:.0} cycles per wall second",
        report.cycles,
        report.wall,
        report.cycles as f64 / report.wall.as_secs_f64().max(1e-9)
    );
    let mib = host.stack.tcp_mib();
    let _ = writeln!(
        table,
        "tcp       {} passive opens, {} segments in, {} out, {} retransmitted, {} resets sent",
        mib.passive_opens, mib.in_segs, mib.out_segs, mib.retrans_segs, mib.out_rsts
    );
    let _ = writeln!(
        table,
        "http      {} requests; echo {} bytes; discard {} bytes; udp echo {} datagrams",
        apps.http_requests, apps.echoed, apps.discarded, apps.udp_echoed
    );
    let g = host.port.stats();
    let _ = writeln!(table, "glue      {g:?}");
    let (tx_pending, rx_pending) = host
        .stack
        .device_mut(host.port.ifindex())
        .map_or((0, 0), |d| (d.tx_pending(), d.rx_pending()));
    let _ = writeln!(
        table,
        "stack     {tx_pending} frames queued for the card, {rx_pending} received not yet processed"
    );
    let _ = write!(table, "{}", host.port.tx_diagnose());
    for h in host.stack.tcp_sockets() {
        if let Ok(info) = host.stack.tcp_info(h) {
            if info.state != oxnic_stack::tcp::TcpState::Listen {
                let _ = writeln!(table, "tcp conn  {info:?}");
            }
        }
    }
    let _ = write!(table, "{}", host.stack.snmp());
    for (name, v) in host.port.nic().statistics() {
        if v != 0 {
            let _ = writeln!(table, "     {name}: {v}");
        }
    }
    report.table = table;
    host.port.close();
    Ok(report)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Service {
    Http,
    Echo,
    Discard,
}

#[derive(Debug)]
struct Session {
    service: Service,
    inbuf: Vec<u8>,
    out: Vec<u8>,
    sent: usize,
    /// Close after `out` is sent (HTTP `Connection: close`, or the peer closed).
    close_after: bool,
    peer_closed: bool,
}

/// The servers, on the stack's non-blocking sockets.
#[derive(Debug)]
struct Apps {
    listeners: Vec<(TcpHandle, Service)>,
    udp: UdpHandle,
    sessions: HashMap<TcpHandle, Session>,
    root: Option<PathBuf>,
    buf: Vec<u8>,
    http_requests: u64,
    echoed: u64,
    discarded: u64,
    udp_echoed: u64,
}

impl Apps {
    fn open(stack: &mut Stack, root: Option<PathBuf>) -> Result<Apps, TapError> {
        let any = |p| SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, p);
        let mut listeners = Vec::new();
        for (port, service, what) in [
            (80, Service::Http, "http on port 80"),
            (7, Service::Echo, "tcp echo on port 7"),
            (9, Service::Discard, "tcp discard on port 9"),
        ] {
            let h = stack
                .tcp_listen(any(port), 128)
                .map_err(|e| TapError::Serve {
                    what,
                    why: e.to_string(),
                })?;
            listeners.push((h, service));
        }
        let udp = stack.udp_bind(any(7)).map_err(|e| TapError::Serve {
            what: "udp echo on port 7",
            why: e.to_string(),
        })?;
        Ok(Apps {
            listeners,
            udp,
            sessions: HashMap::new(),
            root,
            buf: vec![0; 64 * 1024],
            http_requests: 0,
            echoed: 0,
            discarded: 0,
            udp_echoed: 0,
        })
    }

    fn poll(&mut self, stack: &mut Stack, now: Instant) {
        for &(l, service) in &self.listeners {
            while let Ok((h, _)) = stack.tcp_accept(l) {
                let _ = stack.tcp_set_nodelay(h, true, now);
                self.sessions.insert(
                    h,
                    Session {
                        service,
                        inbuf: Vec::new(),
                        out: Vec::new(),
                        sent: 0,
                        close_after: false,
                        peer_closed: false,
                    },
                );
            }
        }
        loop {
            match stack.udp_recv_from(self.udp, &mut self.buf) {
                Ok((n, from)) => {
                    if stack
                        .udp_send_to(self.udp, &self.buf[..n], from, now)
                        .is_ok()
                    {
                        self.udp_echoed += 1;
                    }
                }
                Err(UdpError::WouldBlock) => break,
                Err(_) => break,
            }
        }
        let handles: Vec<TcpHandle> = self.sessions.keys().copied().collect();
        for h in handles {
            if !self.serve(stack, h, now) {
                self.sessions.remove(&h);
                let _ = stack.tcp_close(h, now);
            }
        }
    }

    /// One session's work; false when it is over.
    fn serve(&mut self, stack: &mut Stack, h: TcpHandle, now: Instant) -> bool {
        let Some(s) = self.sessions.get_mut(&h) else {
            return false;
        };
        // Read what arrived.
        loop {
            match stack.tcp_recv(h, &mut self.buf, now) {
                Ok(0) => {
                    s.peer_closed = true;
                    break;
                }
                Ok(n) => match s.service {
                    Service::Discard => self.discarded += n as u64,
                    Service::Echo => {
                        s.out.extend_from_slice(&self.buf[..n]);
                        self.echoed += n as u64;
                    }
                    Service::Http => s.inbuf.extend_from_slice(&self.buf[..n]),
                },
                Err(TcpError::WouldBlock) => break,
                Err(_) => return false,
            }
            // Back-pressure: stop reading while much is waiting to be echoed.
            if s.out.len() - s.sent > 4 << 20 {
                break;
            }
        }
        if s.service == Service::Http && s.sent == s.out.len() {
            while let Some(end) = find(&s.inbuf, b"\r\n\r\n") {
                let req: Vec<u8> = s.inbuf.drain(..end + 4).collect();
                let (resp, close) = http_response(&req, self.root.as_deref());
                self.http_requests += 1;
                s.out.extend_from_slice(&resp);
                if close {
                    s.close_after = true;
                    break;
                }
            }
        }
        // Write what we can.
        while s.sent < s.out.len() {
            match stack.tcp_send(h, &s.out[s.sent..], now) {
                Ok(n) => s.sent += n,
                Err(TcpError::WouldBlock) => break,
                Err(_) => return false,
            }
        }
        if s.sent == s.out.len() {
            s.out.clear();
            s.sent = 0;
            if s.close_after || s.peer_closed {
                let _ = stack.tcp_shutdown(h, Shutdown::Write, now);
                return false;
            }
        }
        true
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Builds the response to one request head; the bool says whether to close afterwards.
fn http_response(req: &[u8], root: Option<&Path>) -> (Vec<u8>, bool) {
    let text = String::from_utf8_lossy(req);
    let mut lines = text.split("\r\n");
    let first = lines.next().unwrap_or("");
    let mut parts = first.split(' ');
    let (method, target, version) = (
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
    );
    let mut close = version != "HTTP/1.1";
    for l in lines {
        if let Some((k, v)) = l.split_once(':') {
            if k.trim().eq_ignore_ascii_case("connection") {
                let v = v.trim();
                if v.eq_ignore_ascii_case("close") {
                    close = true;
                } else if v.eq_ignore_ascii_case("keep-alive") {
                    close = false;
                }
            }
        }
    }
    let reply = |status: &str, body: &[u8], head_only: bool, close: bool| {
        let mut r = format!(
            "HTTP/1.1 {status}\r\nServer: oxnic\r\nContent-Length: {}\r\nContent-Type: {}\r\nConnection: {}\r\n\r\n",
            body.len(),
            if status.starts_with("200") { "application/octet-stream" } else { "text/plain" },
            if close { "close" } else { "keep-alive" }
        )
        .into_bytes();
        if !head_only {
            r.extend_from_slice(body);
        }
        r
    };
    if !version.starts_with("HTTP/1.") || target.is_empty() {
        return (
            reply("400 Bad Request", b"bad request\n", false, true),
            true,
        );
    }
    let head = method == "HEAD";
    if method != "GET" && !head {
        return (
            reply(
                "405 Method Not Allowed",
                b"GET and HEAD only\n",
                false,
                close,
            ),
            close,
        );
    }
    let Some(root) = root else {
        return (
            reply("404 Not Found", b"no --http-root\n", head, close),
            close,
        );
    };
    let path = target.split('?').next().unwrap_or("/");
    let rel = Path::new(path.trim_start_matches('/'));
    // Only plain names below the root: no `..`, no absolute parts.
    if rel.components().any(|c| !matches!(c, Component::Normal(_))) {
        return (reply("404 Not Found", b"not found\n", head, close), close);
    }
    let mut file = root.join(rel);
    if file.is_dir() {
        file = file.join("index.html");
    }
    match std::fs::read(&file) {
        Ok(body) => (reply("200 OK", &body, head, close), close),
        Err(_) => (reply("404 Not Found", b"not found\n", head, close), close),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_answers_get_head_404_and_refuses_escapes() {
        let dir = std::env::temp_dir().join(format!("oxnic-http-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("a.bin"), b"0123456789").unwrap();
        let (r, close) = http_response(b"GET /a.bin HTTP/1.1\r\nHost: x\r\n\r\n", Some(&dir));
        let r = String::from_utf8(r).unwrap();
        assert!(r.starts_with("HTTP/1.1 200 OK\r\n"));
        assert!(r.contains("Content-Length: 10\r\n"));
        assert!(r.ends_with("\r\n\r\n0123456789"));
        assert!(!close);
        let (r, _) = http_response(b"HEAD /a.bin HTTP/1.1\r\n\r\n", Some(&dir));
        let r = String::from_utf8(r).unwrap();
        assert!(r.contains("Content-Length: 10\r\n") && r.ends_with("\r\n\r\n"));
        let (r, _) = http_response(b"GET /nope HTTP/1.1\r\n\r\n", Some(&dir));
        assert!(r.starts_with(b"HTTP/1.1 404"));
        let (r, _) = http_response(b"GET /../etc/passwd HTTP/1.1\r\n\r\n", Some(&dir));
        assert!(r.starts_with(b"HTTP/1.1 404"));
        let (_, close) = http_response(
            b"GET /a.bin HTTP/1.1\r\nConnection: close\r\n\r\n",
            Some(&dir),
        );
        assert!(close);
        let (r, close) = http_response(b"garbage\r\n\r\n", Some(&dir));
        assert!(r.starts_with(b"HTTP/1.1 400") && close);
        let (r, _) = http_response(b"POST /a.bin HTTP/1.1\r\n\r\n", Some(&dir));
        assert!(r.starts_with(b"HTTP/1.1 405"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
