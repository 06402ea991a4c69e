//! Resource use of the runtime: idle CPU, timers firing on the wall clock without traffic,
//! many connections on one pair, and what dropping a runtime gives back.
//!
//! The tests here measure the whole process (CPU time, threads, file descriptors), so they
//! take one lock and run one at a time; no other test binary runs alongside them (cargo runs
//! test binaries one after the other).

mod common;

use common::{pair, within, PATIENCE};
use oxnic_runtime::{mem_wire, Events, Interest, Poll, Runtime, TcpListener, TcpStream, Token};
use oxnic_stack::tcp::TcpState;
use oxnic_stack::wire::ethernet::EthernetAddress;
use oxnic_stack::{DeviceCaps, StackConfig};
use std::io::{ErrorKind, Read, Write};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(PoisonError::into_inner)
}

/// CPU time (user + system) of the whole process so far, from `/proc/self/stat`. Its fields
/// are in clock ticks of `USER_HZ`, which Linux fixes at 100 for this ABI.
fn process_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after "pid (comm) ".
    let ticks: u64 = f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap();
    Duration::from_millis(ticks * 10)
}

/// Threads of this process now.
fn threads() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// Open file descriptors of this process now.
fn fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

fn mac(n: u8) -> EthernetAddress {
    EthernetAddress([2, 0, 0, 0, 0, n])
}

/// One runtime on one end of a fresh in-memory wire (the other end is dropped at once).
fn lone_runtime(config: StackConfig) -> Runtime {
    let (pa, _pb) = mem_wire();
    Runtime::builder()
        .config(config)
        .interface("eth0", mac(1), DeviceCaps::default(), "10.0.0.1/24", pa)
        .start()
        .unwrap()
}

/// `n` connections from `from` to `listener` (a runtime of its own or the same one), each
/// having carried a byte both ways, so every timer an exchange arms (delayed ACK, RTO) has
/// run. Returns (client, server) ends.
fn open_connections(
    from: &Runtime,
    listener: &TcpListener,
    addr: &str,
    n: usize,
) -> Vec<(TcpStream, TcpStream)> {
    (0..n)
        .map(|_| {
            let mut c = TcpStream::connect(from, addr).unwrap();
            let (mut s, _) = listener.accept().unwrap();
            let mut one = [0; 1];
            c.write_all(b"q").unwrap();
            s.read_exact(&mut one).unwrap();
            s.write_all(b"a").unwrap();
            c.read_exact(&mut one).unwrap();
            (c, s)
        })
        .collect()
}

/// How long [`idle_runtimes_with_open_connections_do_not_spin`] leaves its runtimes idle.
const IDLE: Duration = Duration::from_secs(2);

#[test]
fn idle_runtimes_with_open_connections_do_not_spin() {
    let _g = serial();
    let (a, b) = pair();
    let listener = TcpListener::bind(&b, "10.0.0.2:7100").unwrap();
    let linked = open_connections(&a, &listener, "10.0.0.2:7100", 20);
    // And a runtime talking to itself through the loopback path.
    let solo = lone_runtime(StackConfig::default());
    let solo_listener = TcpListener::bind(&solo, "10.0.0.1:7101").unwrap();
    let looped = open_connections(&solo, &solo_listener, "10.0.0.1:7101", 20);
    // Let the last delayed ACKs go out.
    std::thread::sleep(Duration::from_millis(300));
    let cpu0 = process_cpu();
    std::thread::sleep(IDLE);
    let cpu = process_cpu() - cpu0;
    // The process's own CPU time over the idle period, never the wall clock: other processes
    // competing for the cores can only take CPU time away from ours, and nothing else in
    // this process runs meanwhile. A poller that spins burns close to a whole core per
    // thread (three here); an idle one sleeps until its next timer. A fifth of one core over
    // the period leaves room for tick granularity (10 ms) and for a periodic safety wake-up.
    assert!(
        cpu < IDLE / 5,
        "idle runtimes used {cpu:?} of CPU over {IDLE:?}"
    );
    drop((linked, looped));
}

/// A pair like [`common::pair`] with `config` on both sides.
fn pair_config(config: StackConfig) -> (Runtime, Runtime) {
    let (pa, pb) = mem_wire();
    let start = |port, n, addr| {
        Runtime::builder()
            .config(config.clone())
            .interface("eth0", mac(n), DeviceCaps::default(), addr, port)
            .start()
            .unwrap()
    };
    (start(pa, 1, "10.0.0.1/24"), start(pb, 2, "10.0.0.2/24"))
}

/// The stack's timers fire on the wall clock with no traffic to drive them: the RTO's
/// backoff ends a connection whose peer vanished after `retries2` retransmissions, a lone
/// segment's delayed ACK goes out on its own, and TIME-WAIT ends. No step is timed (how
/// late a timer fires is for a benchmark, and a loaded machine makes every one late): a
/// timer that never fires without traffic hangs its step, which `within` turns into a
/// failure.
#[test]
fn timers_fire_on_the_wall_clock_without_traffic() {
    let _g = serial();
    within(Duration::from_secs(60), || {
        let mut config = StackConfig::default();
        config.tcp.retries2 = 3;
        config.tcp.time_wait = Duration::from_millis(300);
        let (a, b) = pair_config(config);
        let listener = TcpListener::bind(&b, "10.0.0.2:7500").unwrap();

        // RTO: the peer's runtime goes away; 1 + 3 retransmissions, each RTO doubling.
        let mut c = TcpStream::connect(&a, "10.0.0.2:7500").unwrap();
        let (s, _) = listener.accept().unwrap();
        // The runtime first: closing `s` while B's poller runs would send a FIN.
        drop(b);
        drop((s, listener));
        c.write_all(b"anyone?").unwrap();
        let e = c.read(&mut [0; 1]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::TimedOut, "{e}");
        drop((c, a));

        // Delayed ACK and TIME-WAIT, with an RTO long enough that no retransmission (whose
        // duplicate the peer would ACK at once) can stand in for the timer.
        let mut config = StackConfig::default();
        config.tcp.rto.initial = Duration::from_secs(5);
        config.tcp.rto.min = Duration::from_secs(5);
        config.tcp.time_wait = Duration::from_millis(300);
        let (a, b) = pair_config(config);
        let listener = TcpListener::bind(&b, "10.0.0.2:7501").unwrap();
        let mut c = TcpStream::connect(&a, "10.0.0.2:7501").unwrap();
        let (mut s, _) = listener.accept().unwrap();
        c.set_nodelay(true).unwrap();
        // Past quick-ACK mode (the first segments are ACKed at once).
        let mut one = [0; 1];
        for _ in 0..40 {
            c.write_all(b"x").unwrap();
            s.read_exact(&mut one).unwrap();
            std::thread::sleep(Duration::from_millis(2));
        }
        c.write_all(b"y").unwrap();
        while c.info().unwrap().unacked > 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(c.info().unwrap().retransmits, 0);

        // TIME-WAIT (300 ms here) ends on its own.
        c.shutdown(std::net::Shutdown::Write).unwrap();
        s.read_exact(&mut one).unwrap();
        assert_eq!(s.read(&mut one).unwrap(), 0);
        s.shutdown(std::net::Shutdown::Write).unwrap();
        assert_eq!(c.read(&mut one).unwrap(), 0);
        while c.state().unwrap() != TcpState::Closed {
            std::thread::sleep(Duration::from_millis(1));
        }
    });
}

const SCALE: usize = 500;
const PER_CONN: usize = 16 * 1024;

fn pattern(len: usize, seed: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i.wrapping_mul(31) ^ seed.wrapping_mul(0x9e37) ^ (seed >> 8)) as u8)
        .collect()
}

/// A Poll-driven echo server over already accepted non-blocking streams: echoes each until
/// its end of stream, then shuts its write side. Returns when every stream is done.
fn echo_all(mut poll: Poll, streams: Vec<TcpStream>) {
    let mut pending: Vec<Vec<u8>> = vec![Vec::new(); streams.len()];
    let mut eof = vec![false; streams.len()];
    let mut done = 0;
    let mut events = Events::with_capacity(SCALE);
    let mut buf = vec![0; 16 * 1024];
    while done < streams.len() {
        let n = poll.wait(&mut events, Some(PATIENCE)).unwrap();
        assert!(n > 0, "server stalled: no event within {PATIENCE:?}");
        for ev in &events {
            let t = ev.token().0;
            let s = &streams[t];
            loop {
                while !pending[t].is_empty() {
                    match (&*s).write(&pending[t]) {
                        Ok(n) => drop(pending[t].drain(..n)),
                        Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                        Err(e) => panic!("server write: {e}"),
                    }
                }
                if !pending[t].is_empty() || eof[t] {
                    break;
                }
                match (&*s).read(&mut buf) {
                    Ok(0) => eof[t] = true,
                    Ok(n) => pending[t].extend_from_slice(&buf[..n]),
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) => panic!("server read: {e}"),
                }
            }
            if eof[t] && pending[t].is_empty() {
                s.shutdown(std::net::Shutdown::Write).unwrap();
                poll.deregister(s).unwrap();
                done += 1;
            } else {
                let want = if pending[t].is_empty() {
                    Interest::READABLE
                } else {
                    Interest::WRITABLE
                };
                poll.reregister(s, Token(t), want).unwrap();
            }
        }
    }
}

#[test]
fn five_hundred_connections_through_poll_on_one_pair() {
    let _g = serial();
    within(Duration::from_secs(300), || {
        let threads0 = threads();
        let (a, b) = pair();
        let listener = TcpListener::bind_with_backlog(&b, "10.0.0.2:7200", SCALE).unwrap();
        let mut clients = Vec::new();
        let mut servers = Vec::new();
        for _ in 0..SCALE {
            clients.push(TcpStream::connect(&a, "10.0.0.2:7200").unwrap());
            servers.push(listener.accept().unwrap().0);
        }
        // 500 open connections, two pollers per runtime pair plus this test's threads: no
        // thread per socket.
        let grown = threads() - threads0;
        assert!(
            grown <= 4,
            "{grown} more threads with {SCALE} connections open"
        );

        // Level-triggered readiness over 500 registrations reports only the ready ones.
        let mut poll = Poll::new(&b);
        for (i, s) in servers.iter().enumerate() {
            s.set_nonblocking(true).unwrap();
            poll.register(s, Token(i), Interest::READABLE).unwrap();
        }
        let mut events = Events::with_capacity(SCALE);
        let n = poll
            .wait(&mut events, Some(Duration::from_millis(200)))
            .unwrap();
        assert_eq!(n, 0, "idle sockets reported ready: {events:?}");
        let chosen = [7, 250, 499];
        for &i in &chosen {
            clients[i].write_all(b"ping").unwrap();
        }
        let t0 = Instant::now();
        let mut seen = std::collections::BTreeSet::new();
        while seen.len() < chosen.len() {
            poll.wait(&mut events, Some(PATIENCE)).unwrap();
            for ev in &events {
                assert!(
                    chosen.contains(&ev.token().0) && ev.is_readable(),
                    "{ev:?} reported; only {chosen:?} have data"
                );
                seen.insert(ev.token().0);
            }
            assert!(t0.elapsed() < PATIENCE, "data never reported ready");
        }
        let mut four = [0; 4];
        for &i in &chosen {
            servers[i].read_exact(&mut four).unwrap();
            assert_eq!(&four, b"ping");
        }

        // All 500 echo PER_CONN bytes at once, byte-exact: one server thread and this one.
        let server = std::thread::spawn(move || echo_all(poll, servers));
        let mut cpoll = Poll::new(&a);
        for (i, c) in clients.iter().enumerate() {
            c.set_nonblocking(true).unwrap();
            cpoll
                .register(c, Token(i), Interest::READABLE | Interest::WRITABLE)
                .unwrap();
        }
        let want: Vec<Vec<u8>> = (0..SCALE).map(|i| pattern(PER_CONN, i)).collect();
        let mut sent = vec![0; SCALE];
        let mut got: Vec<Vec<u8>> = vec![Vec::new(); SCALE];
        let mut finished = vec![false; SCALE];
        let mut left = SCALE;
        let mut buf = vec![0; 16 * 1024];
        while left > 0 {
            let n = cpoll.wait(&mut events, Some(PATIENCE)).unwrap();
            assert!(n > 0, "clients stalled: no event within {PATIENCE:?}");
            for ev in &events {
                let i = ev.token().0;
                let c = &clients[i];
                while sent[i] < PER_CONN {
                    match (&*c).write(&want[i][sent[i]..]) {
                        Ok(n) => sent[i] += n,
                        Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                        Err(e) => panic!("client write: {e}"),
                    }
                }
                if sent[i] == PER_CONN && !finished[i] {
                    loop {
                        match (&*c).read(&mut buf) {
                            Ok(0) => {
                                finished[i] = true;
                                left -= 1;
                                break;
                            }
                            Ok(n) => got[i].extend_from_slice(&buf[..n]),
                            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                            Err(e) => panic!("client read: {e}"),
                        }
                    }
                }
                if finished[i] {
                    cpoll.deregister(c).unwrap();
                } else if sent[i] == PER_CONN {
                    // Everything written: end the stream once, then only wait for the echo.
                    if c.shutdown(std::net::Shutdown::Write).is_ok() {
                        cpoll.reregister(c, Token(i), Interest::READABLE).unwrap();
                    }
                }
            }
        }
        server.join().unwrap();
        for i in 0..SCALE {
            assert!(got[i] == want[i], "connection {i}: echo differs");
        }
        let grown = threads().saturating_sub(threads0);
        assert!(grown <= 4, "{grown} more threads after the run");
    });
}

/// Threads of this process that are runtime pollers.
fn pollers() -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|c| c.starts_with("oxnic-poll"))
        .count()
}

#[test]
fn dropped_runtimes_leave_no_threads_or_descriptors_behind() {
    let _g = serial();
    within(Duration::from_secs(120), || {
        // Warm up once: the first runtime may open process-wide things (the OS randomness
        // source) that stay open by design.
        drop(pair());
        let (threads0, fds0, pollers0) = (threads(), fds(), pollers());
        for i in 0..50 {
            let (a, b) = pair();
            if i % 10 == 0 {
                // With live connections too.
                let l = TcpListener::bind(&b, "10.0.0.2:7300").unwrap();
                let c = TcpStream::connect(&a, "10.0.0.2:7300").unwrap();
                let (s, _) = l.accept().unwrap();
                drop((a, b));
                drop((c, s, l));
            }
        }
        assert_eq!(pollers(), pollers0, "poller threads left running");
        // Slack of 2: the test harness may start the next test's thread (which then waits
        // for the lock) meanwhile; a leak would be 100 threads.
        let threads1 = threads();
        assert!(threads1 <= threads0 + 2, "threads {threads0} -> {threads1}");
        let fds1 = fds();
        assert!(fds1 <= fds0, "file descriptors {fds0} -> {fds1}");
    });
}

/// A runtime on a fresh TAP device called `name`, or `None` (after saying why) where TAP
/// devices cannot be made (no root, no /dev/net/tun).
#[cfg(target_os = "linux")]
fn tap_runtime(name: &str) -> Option<Runtime> {
    let port = match oxnic_runtime::TapPort::open(name) {
        Ok(p) => p,
        Err(e) if std::env::var("CI").is_ok_and(|v| v == "true") => panic!("{e}"),
        Err(e) => {
            eprintln!("skipping: {e}");
            return None;
        }
    };
    let rt = Runtime::builder()
        .interface("tap0", mac(1), DeviceCaps::default(), "10.78.0.1/24", port)
        .start()
        .unwrap();
    Some(rt)
}

#[cfg(target_os = "linux")]
#[test]
fn dropping_a_tap_runtime_closes_every_descriptor_of_its_port_even_with_live_sockets() {
    let _g = serial();
    let name = format!("oxrd{}", std::process::id() % 100_000);
    let Some(rt) = tap_runtime(&name) else { return };
    drop(rt);
    let fds0 = fds();
    let mut kept = Vec::new();
    for _ in 0..50 {
        let rt = tap_runtime(&name).unwrap();
        assert!(std::path::Path::new(&format!("/sys/class/net/{name}")).exists());
        // Sockets may outlive their runtime (their calls then fail).
        kept.push(TcpListener::bind(&rt, "10.78.0.1:7400").unwrap());
        drop(rt);
        // The device went with the port: a TAP that is not persistent disappears when its
        // last descriptor closes.
        assert!(
            !std::path::Path::new(&format!("/sys/class/net/{name}")).exists(),
            "TAP device still there after its runtime dropped"
        );
    }
    let fds1 = fds();
    assert!(
        fds1 <= fds0,
        "file descriptors {fds0} -> {fds1} after 50 dropped runtimes"
    );
    drop(kept);
}
