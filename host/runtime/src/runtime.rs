//! [`Runtime`]: the stack behind a mutex, the wall clock, and one poller thread per port.

use crate::error::{shut_down, timed_out, RuntimeError};
use crate::port::{FramePort, Waker};
use oxnic_stack::pktbuf::PacketBuf;
use oxnic_stack::route::{IfIndex, Prefix, Route};
use oxnic_stack::time::Instant;
use oxnic_stack::wire::ethernet::EthernetAddress;
use oxnic_stack::{DeviceCaps, IfaceConfig, Stack, StackConfig};
use rand::RngCore;
use std::collections::HashMap;
use std::fmt;
use std::io;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

/// How long a poller sleeps at most when the stack asks for no earlier wake-up.
pub const DEFAULT_MAX_SLEEP: Duration = Duration::from_millis(1);

/// The shortest sleep of an idle poller.
const MIN_SLEEP: Duration = Duration::from_micros(20);

/// Frames a poller takes from its port per round before polling the stack.
const RX_BATCH: usize = 256;

/// Distinguishes runtimes, so a socket is never registered with another runtime's `Poll`.
static NEXT_RUNTIME_ID: AtomicU64 = AtomicU64::new(1);

/// What the poller threads and the sockets share.
pub(crate) struct Shared {
    pub(crate) id: u64,
    stack: Mutex<Stack>,
    /// Socket calls blocked on readiness wait here; pollers notify it after work.
    cond: Condvar,
    epoch: std::time::Instant,
    wakers: Vec<(IfIndex, Waker)>,
    shutdown: AtomicBool,
    /// The sockets of this runtime that exist, by serial number: whether each still holds its
    /// stack handle (`false` once [`crate::TcpStream::abort`] released it). The stack reuses
    /// handle numbers at once; serials are never reused, so a [`crate::Poll`] registration
    /// names one socket object, not whichever socket holds its handle number now. A socket's
    /// entry is released or removed with the stack locked, as its handle is.
    sockets: Mutex<HashMap<u64, bool>>,
    next_serial: AtomicU64,
}

impl Shared {
    /// The stack's clock: nanoseconds since the runtime started.
    pub(crate) fn now(&self) -> Instant {
        Instant::from_nanos(u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX))
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Stack> {
        self.stack.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A serial number for a socket just created, which holds its handle.
    pub(crate) fn new_socket(&self) -> u64 {
        let serial = self.next_serial.fetch_add(1, Ordering::Relaxed);
        self.sockets().insert(serial, true);
        serial
    }

    /// The socket `serial` released its handle but lives on (an aborted stream).
    pub(crate) fn socket_released(&self, serial: u64) {
        if let Some(holds) = self.sockets().get_mut(&serial) {
            *holds = false;
        }
    }

    /// The socket `serial` was dropped.
    pub(crate) fn socket_dropped(&self, serial: u64) {
        self.sockets().remove(&serial);
    }

    /// The live sockets (see [`Shared::sockets`]). Taken after the stack lock, never before.
    pub(crate) fn sockets(&self) -> MutexGuard<'_, HashMap<u64, bool>> {
        self.sockets.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn is_shut_down(&self) -> bool {
        self.shutdown.load(Ordering::Acquire)
    }

    /// Rings the poller of every interface whose device queue holds frames to send: a socket
    /// call just queued them and they must leave now, not at the poller's next timeout.
    pub(crate) fn kick_pending(&self, stack: &mut Stack) {
        for (ifindex, waker) in &self.wakers {
            if stack
                .device_mut(*ifindex)
                .is_some_and(|d| d.tx_pending() > 0)
            {
                waker.wake();
            }
        }
    }

    /// Wakes every socket call blocked in [`Self::block_on`] so it re-checks its socket.
    pub(crate) fn notify(&self) {
        self.cond.notify_all();
    }

    /// Runs `f` with the stack locked, once, and kicks the pollers if it queued frames.
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut Stack, Instant) -> R) -> R {
        let mut st = self.lock();
        let now = self.now();
        let before = st.ip_in_receives();
        let r = f(&mut st, now);
        self.kick_pending(&mut st);
        self.notify_if_looped(&st, before);
        r
    }

    /// A call that delivered datagrams through the loopback path (to a socket of this same
    /// runtime) changed other sockets' readiness with no poller involved: wake the waiters.
    fn notify_if_looped(&self, st: &Stack, before: u64) {
        if st.ip_in_receives() != before {
            self.notify();
        }
    }

    /// Runs `f` with the stack locked until it returns `Ok(Some(_))` or an error, sleeping on
    /// the condvar in between (a poller notifies it whenever frames or timers changed
    /// something). `f` returning `Ok(None)` means "would block". With `nonblocking`, a
    /// would-block is returned at once as `WouldBlock`; past `deadline`, as the timeout error.
    pub(crate) fn block_on<T>(
        &self,
        nonblocking: bool,
        deadline: Option<std::time::Instant>,
        mut f: impl FnMut(&mut Stack, Instant) -> io::Result<Option<T>>,
    ) -> io::Result<T> {
        let mut st = self.lock();
        loop {
            let now = self.now();
            let before = st.ip_in_receives();
            let r = f(&mut st, now);
            self.kick_pending(&mut st);
            self.notify_if_looped(&st, before);
            match r {
                Ok(Some(v)) => return Ok(v),
                Err(e) => return Err(e),
                Ok(None) => {}
            }
            if nonblocking {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            if self.is_shut_down() {
                return Err(shut_down());
            }
            st = match deadline {
                None => self.cond.wait(st).unwrap_or_else(PoisonError::into_inner),
                Some(d) => {
                    let left = d.saturating_duration_since(std::time::Instant::now());
                    if left.is_zero() {
                        return Err(timed_out());
                    }
                    self.cond
                        .wait_timeout(st, left)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
            };
        }
    }
}

/// A network stack running on threads: the sans-IO [`Stack`] behind a mutex, one poller
/// thread per interface moving frames between its [`FramePort`] and the stack, and the wall
/// clock as the stack's time. Sockets ([`crate::TcpStream`], [`crate::UdpSocket`], ...) are
/// created against it.
///
/// Dropping it (or [`Runtime::shutdown`]) stops and joins the pollers; sockets that outlive
/// it fail their blocking calls with an `Other` error instead of hanging.
pub struct Runtime {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
    ifaces: Vec<(String, IfIndex)>,
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime")
            .field("id", &self.shared.id)
            .field("interfaces", &self.ifaces)
            .field("pollers", &self.threads.len())
            .finish()
    }
}

impl Runtime {
    /// A builder: add interfaces (each with its port) and routes, then
    /// [`RuntimeBuilder::start`].
    pub fn builder() -> RuntimeBuilder {
        RuntimeBuilder::default()
    }

    /// The index of the interface called `name`.
    pub fn ifindex(&self, name: &str) -> Option<IfIndex> {
        self.ifaces.iter().find(|(n, _)| n == name).map(|&(_, i)| i)
    }

    /// The stack's current time (nanoseconds since the runtime started).
    pub fn now(&self) -> Instant {
        self.shared.now()
    }

    /// Runs `f` on the locked stack at the current time — to read counters, change routes,
    /// hooks or qdiscs, or call the non-blocking socket API directly. Frames `f` queues are
    /// pushed out at once. Keep `f` short: every poller and socket waits for the lock; and
    /// do not use this runtime's sockets inside `f` (they take the same lock: deadlock).
    pub fn with_stack<R>(&self, f: impl FnOnce(&mut Stack, Instant) -> R) -> R {
        let r = self.shared.with(f);
        self.shared.notify();
        r
    }

    /// Stops the poller threads and waits for them to exit. Called by `Drop`; calling it
    /// twice is harmless.
    pub fn shutdown(&mut self) {
        self.shared.shutdown.store(true, Ordering::Release);
        for (_, w) in &self.shared.wakers {
            w.wake();
        }
        for t in self.threads.drain(..) {
            // A poller that panicked has nothing left to clean up; the panic was reported on
            // its thread already.
            let _ = t.join();
        }
        // Take the lock so no blocked socket call is between its check and its wait.
        drop(self.shared.lock());
        self.shared.notify();
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.shutdown();
    }
}

struct IfaceSpec {
    name: String,
    mac: EthernetAddress,
    caps: DeviceCaps,
    addr: String,
    port: Box<dyn FramePort>,
}

struct RouteSpec {
    dest: String,
    gateway: Ipv4Addr,
}

/// Configures a [`Runtime`]: the stack's settings, interfaces with their ports and
/// addresses, and routes.
pub struct RuntimeBuilder {
    config: StackConfig,
    ifaces: Vec<IfaceSpec>,
    routes: Vec<RouteSpec>,
    max_sleep: Duration,
    seed_secret: bool,
}

impl fmt::Debug for RuntimeBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RuntimeBuilder")
            .field(
                "interfaces",
                &self.ifaces.iter().map(|i| &i.name).collect::<Vec<_>>(),
            )
            .field("routes", &self.routes.len())
            .field("max_sleep", &self.max_sleep)
            .finish_non_exhaustive()
    }
}

impl Default for RuntimeBuilder {
    fn default() -> Self {
        RuntimeBuilder {
            config: StackConfig::default(),
            ifaces: Vec::new(),
            routes: Vec::new(),
            max_sleep: DEFAULT_MAX_SLEEP,
            seed_secret: true,
        }
    }
}

impl RuntimeBuilder {
    /// The stack's settings (default: [`StackConfig::default`]). The TCP ISN/cookie secret in
    /// it is replaced by OS randomness at start unless [`Self::fixed_tcp_secret`] is set.
    pub fn config(mut self, config: StackConfig) -> Self {
        self.config = config;
        self
    }

    /// Keeps `config.tcp.secret` as given instead of seeding it from the OS (for
    /// reproducible ISNs in tests; never in production: predictable ISNs and cookies).
    pub fn fixed_tcp_secret(mut self) -> Self {
        self.seed_secret = false;
        self
    }

    /// Adds an interface `name` with hardware address `mac`, capabilities `caps` (which
    /// offloads the stack may ask of `port`) and the address `addr` in `a.b.c.d/len` form
    /// (its connected route comes with it). One poller thread serves `port`.
    pub fn interface(
        mut self,
        name: &str,
        mac: EthernetAddress,
        caps: DeviceCaps,
        addr: &str,
        port: impl FramePort + 'static,
    ) -> Self {
        self.ifaces.push(IfaceSpec {
            name: name.to_owned(),
            mac,
            caps,
            addr: addr.to_owned(),
            port: Box::new(port),
        });
        self
    }

    /// Adds a route to `dest` (`a.b.c.d/len`, `0.0.0.0/0` for the default route) via
    /// `gateway`, which must be on one of the interfaces' prefixes.
    pub fn route(mut self, dest: &str, gateway: Ipv4Addr) -> Self {
        self.routes.push(RouteSpec {
            dest: dest.to_owned(),
            gateway,
        });
        self
    }

    /// The longest a poller sleeps when the stack has no earlier timer (default
    /// [`DEFAULT_MAX_SLEEP`]): a safety net, since frames and socket calls wake it anyway.
    pub fn max_sleep(mut self, d: Duration) -> Self {
        self.max_sleep = d.max(Duration::from_micros(10));
        self
    }

    /// Builds the stack, seeds the TCP secret, assigns addresses and routes, and starts one
    /// poller thread per interface.
    pub fn start(self) -> Result<Runtime, RuntimeError> {
        let mut config = self.config;
        if self.seed_secret {
            rand::rngs::OsRng
                .try_fill_bytes(&mut config.tcp.secret)
                .map_err(|e| RuntimeError::Random(e.to_string()))?;
        }
        let epoch = std::time::Instant::now();
        let now = Instant::ZERO;
        let mut stack = Stack::new(config);
        let mut ports = Vec::new();
        let mut wakers = Vec::new();
        let mut names = Vec::new();
        for spec in self.ifaces {
            let (ip, len) = parse_cidr(&spec.addr)?;
            let ifindex = stack.add_interface(IfaceConfig::new(&spec.name, spec.mac, spec.caps));
            stack.add_address(ifindex, ip, len, now)?;
            wakers.push((ifindex, spec.port.waker()));
            names.push((spec.name, ifindex));
            ports.push((ifindex, spec.port));
        }
        for r in self.routes {
            let prefix: Prefix = r
                .dest
                .parse()
                .map_err(|_| RuntimeError::BadAddress(r.dest.clone()))?;
            let nh = stack
                .routes()
                .lookup(r.gateway)
                .map_err(|_| RuntimeError::GatewayUnreachable(r.gateway))?;
            stack
                .routes_mut()
                .add(Route::via(prefix, r.gateway, nh.ifindex))
                .map_err(oxnic_stack::stack::StackError::from)?;
        }
        let shared = Arc::new(Shared {
            id: NEXT_RUNTIME_ID.fetch_add(1, Ordering::Relaxed),
            stack: Mutex::new(stack),
            cond: Condvar::new(),
            epoch,
            wakers,
            shutdown: AtomicBool::new(false),
            sockets: Mutex::new(HashMap::new()),
            next_serial: AtomicU64::new(1),
        });
        let mut rt = Runtime {
            shared: Arc::clone(&shared),
            threads: Vec::new(),
            ifaces: names,
        };
        for (ifindex, port) in ports {
            let poller = Poller {
                shared: Arc::clone(&shared),
                ifindex,
                port,
                max_sleep: self.max_sleep,
            };
            let name = format!("oxnic-poll-{ifindex}");
            let t = std::thread::Builder::new()
                .name(name)
                .spawn(move || poller.run())
                .map_err(RuntimeError::Spawn)?;
            // On a spawn error `rt` drops here and joins the pollers already started.
            rt.threads.push(t);
        }
        Ok(rt)
    }
}

/// Parses `a.b.c.d/len`.
fn parse_cidr(s: &str) -> Result<(Ipv4Addr, u8), RuntimeError> {
    let bad = || RuntimeError::BadAddress(s.to_owned());
    let (a, l) = s.split_once('/').ok_or_else(bad)?;
    let ip: Ipv4Addr = a.trim().parse().map_err(|_| bad())?;
    let len: u8 = l.trim().parse().map_err(|_| bad())?;
    if len > 32 {
        return Err(bad());
    }
    Ok((ip, len))
}

/// One interface's poller (the NAPI loop of this runtime).
struct Poller {
    shared: Arc<Shared>,
    ifindex: IfIndex,
    port: Box<dyn FramePort>,
    max_sleep: Duration,
}

impl Poller {
    fn run(mut self) {
        let mut rx: Vec<PacketBuf> = Vec::with_capacity(RX_BATCH);
        let mut tx: Vec<PacketBuf> = Vec::new();
        // The stack's last requested wake-up: when it has passed, timers fire this round
        // and may change some socket's readiness.
        let mut due: Option<Instant> = None;
        while !self.shared.is_shut_down() {
            while rx.len() < RX_BATCH {
                match self.port.recv() {
                    Some(f) => rx.push(f),
                    None => break,
                }
            }
            let got_rx = !rx.is_empty();
            let (now, next, worked) = {
                let mut st = self.shared.lock();
                let now = self.shared.now();
                if let Some(dev) = st.device_mut(self.ifindex) {
                    for f in rx.drain(..) {
                        dev.push_rx(f);
                    }
                }
                let budget = st.config().rx_budget.max(1) * st.interfaces().count().max(1);
                let mut worked = got_rx;
                loop {
                    let n = st.poll(now);
                    worked |= n > 0;
                    if n < budget {
                        break;
                    }
                }
                if let Some(dev) = st.device_mut(self.ifindex) {
                    while let Some(f) = dev.pop_tx() {
                        tx.push(f);
                    }
                }
                // Forwarded or ARP frames for other interfaces: their pollers send them.
                for (ifindex, w) in &self.shared.wakers {
                    if *ifindex != self.ifindex
                        && st.device_mut(*ifindex).is_some_and(|d| d.tx_pending() > 0)
                    {
                        w.wake();
                    }
                }
                (now, st.poll_at(now), worked)
            };
            let sent = !tx.is_empty();
            for f in tx.drain(..) {
                self.port.send(f);
            }
            // Timers that fired may have changed readiness (a connect timed out) even when
            // no frame moved.
            if worked || sent || due.is_some_and(|d| d <= now) {
                self.shared.notify();
            }
            due = next;
            let sleep = match next {
                Some(t) => t.saturating_duration_since(now).min(self.max_sleep),
                None => self.max_sleep,
            };
            // More frames may wait on the port, or the qdisc refilled the device queue: go
            // round again at once. A wake-up the stack wants "now" without anything having
            // moved is slept off briefly instead of spinning on it.
            if got_rx || sent || (worked && sleep.is_zero()) {
                continue;
            }
            self.port.wait(sleep.max(MIN_SLEEP));
        }
    }
}
