//! Simulated hosts: an oxnic stack driving a verilated card through the real driver, and two of
//! them joined by a simulated Ethernet link in lock-step virtual time.
//!
//! A [`SimHost`] is a [`SimDevice`] (the whole card, `oxnic_nic`, in Verilator), the driver
//! ([`Nic`] in busy-poll mode) and a [`Stack`] with one interface and one address, joined by a
//! [`NicPort`]. A [`TwoHosts`] net runs two of them over a [`Link`] (10 Gb/s, 500 ns) with a
//! seeded [`Impair`] stage per direction and an optional pcap capture.
//!
//! # Time
//! Both cards advance together, [`STEP_CYCLES`] cycles at a time (on two threads: the
//! verilated cards are the cost), and the hosts work between steps. The stacks' clock is the
//! cards' clock (cycles × 4 ns at 250 MHz) plus the idle time skipped: when both cards, the
//! link and the rings have been quiet for [`QUIET_CYCLES`] and the stacks only wait for a timer
//! (a delayed ACK, a retransmission timeout, ARP), the clock jumps to that timer instead of
//! clocking two idle cards through it — at 60 k simulated cycles per wall second a 200 ms
//! retransmission timeout would otherwise take 14 minutes. Nothing can happen in a card with
//! nothing on its wire or rings, so the jump changes no outcome.

use crate::glue::NicPort;
use oxnic_driver::napi::PollMode;
use oxnic_driver::nic::{Nic, NicConfig, NicError};
use oxnic_sim::device::NS_PER_CYCLE;
use oxnic_sim::wire::{Impair, ImpairStats, Impairments, Link, LinkParams, PcapRecorder};
use oxnic_sim::{SimConfig, SimDevice, SimError};
use oxnic_stack::time::Instant;
use oxnic_stack::wire::ethernet::EthernetAddress;
use oxnic_stack::{IfaceConfig, Stack, StackConfig};
use std::fs::File;
use std::io::BufWriter;
use std::net::Ipv4Addr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Cycles both cards run between two rounds of host work (512 ns).
pub const STEP_CYCLES: u64 = 128;
/// Quiet cycles (nothing on the wire, the rings or in the stacks' queues) before the clock may
/// jump to the next stack timer: long enough for any frame inside a card to have come out.
pub const QUIET_CYCLES: u64 = 4096;

/// Why a host or the net could not be set up or run.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// The verilated card could not be built.
    #[error(transparent)]
    Sim(#[from] SimError),
    /// The driver could not bring the card up.
    #[error("driver bring-up: {0}")]
    Nic(#[from] NicError),
    /// The stack refused the address.
    #[error("stack: {0}")]
    Stack(#[from] oxnic_stack::stack::StackError),
    /// An impairment probability outside 0..=1.
    #[error(transparent)]
    Impair(#[from] oxnic_sim::wire::BadProbability),
    /// The capture file could not be written.
    #[error("pcap: {0}")]
    Pcap(String),
}

/// How to build one host.
#[derive(Debug, Clone)]
pub struct HostConfig {
    /// Station address.
    pub mac: [u8; 6],
    /// IPv4 address.
    pub addr: Ipv4Addr,
    /// Prefix length of the connected subnet.
    pub prefix: u8,
    /// RX and TX queues (RSS spreads flows over the RX queues).
    pub queues: u32,
}

/// One host: a verilated card, the driver and a stack.
#[derive(Debug)]
pub struct SimHost {
    /// The card.
    pub dev: Arc<SimDevice>,
    /// The driver and the glue to the stack.
    pub port: NicPort,
    /// The stack.
    pub stack: Stack,
    /// The address the stack has.
    pub addr: Ipv4Addr,
}

impl SimHost {
    /// Powers a card up, brings it up with the driver (RSS over `cfg.queues` queues, checksum
    /// offloads, busy polling) and gives the stack an interface on it with `cfg.addr`.
    pub fn new(cfg: &HostConfig, now: Instant) -> Result<Self, HostError> {
        let dev = Arc::new(SimDevice::new(SimConfig::default())?);
        let mut nic = Nic::open(
            dev.clone(),
            NicConfig {
                rx_queues: cfg.queues,
                tx_queues: cfg.queues,
                rx_ring_log2: 8,
                tx_ring_log2: 8,
                mode: PollMode::BusyPoll,
                mac: Some(cfg.mac),
                mtu: Some(1500),
                promisc: false,
                ..Default::default()
            },
        )?;
        let mut stack = Stack::new(StackConfig::default());
        let caps = NicPort::caps(nic.tx(0).map_or(256, |q| q.ring().size()));
        let ifindex = stack.add_interface(IfaceConfig::new("eth0", EthernetAddress(cfg.mac), caps));
        stack.add_address(ifindex, cfg.addr, cfg.prefix, now)?;
        let port = NicPort::new(nic, ifindex, 1024, 2048);
        Ok(SimHost {
            dev,
            port,
            stack,
            addr: cfg.addr,
        })
    }

    /// First half of host work at `now`: one NAPI round into the stack, then the stack's RX
    /// path and timers. Returns the completions processed.
    pub fn receive(&mut self, now: Instant) -> usize {
        let rx = self.port.receive(&mut self.stack);
        self.stack.poll(now);
        rx
    }

    /// Second half: the stack's queued packets out, then its frames onto the card. Returns the
    /// frames given to the card.
    pub fn transmit(&mut self, now: Instant) -> usize {
        self.stack.poll(now);
        self.port.transmit(&mut self.stack)
    }

    /// Nothing left in this host that would make a card busy.
    pub fn idle(&mut self) -> bool {
        let ifindex = self.port.ifindex();
        let stack_queues = self
            .stack
            .device_mut(ifindex)
            .is_none_or(|d| d.tx_pending() == 0 && d.rx_pending() == 0);
        stack_queues
            && self.dev.rx_backlog() == 0
            && self.port.tx_backlog() == 0
            && self.port.tx_in_flight() == 0
    }
}

/// What the link and the clock did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NetStats {
    /// Frames each card put on the wire (A, B).
    pub wire_frames: [u64; 2],
    /// Their bytes, FCS included.
    pub wire_bytes: [u64; 2],
    /// What the impairment stage did, per direction (A→B, B→A).
    pub impair: [ImpairStats; 2],
    /// Virtual time skipped while everything was idle.
    pub skipped_ns: u64,
    /// Lock-step rounds run.
    pub steps: u64,
    /// Wall time spent in host work (driver, glue, stack, application), in nanoseconds.
    pub host_ns: u64,
}

/// Two hosts on one simulated link, in lock-step virtual time.
#[derive(Debug)]
pub struct TwoHosts {
    /// Host A (index 0) and host B (index 1).
    pub hosts: [SimHost; 2],
    link: Link,
    impair: [Impair; 2],
    pcap: Option<PcapRecorder<BufWriter<File>>>,
    cycle: u64,
    quiet: u64,
    stats: NetStats,
    out: Vec<Vec<u8>>,
}

/// The application's turn in a round, between the hosts' receive and transmit halves: it may
/// use both stacks; it returns `true` when done.
pub type App<'a> = dyn FnMut(&mut [SimHost; 2], Instant) -> bool + 'a;

impl TwoHosts {
    /// Two hosts on a 10 Gb/s, 500 ns link; each direction loses frames with probability
    /// `loss` (seeded by `seed`); every frame each card sends is captured to `pcap` if given.
    pub fn new(
        a: &HostConfig,
        b: &HostConfig,
        loss: f64,
        seed: u64,
        pcap: Option<&Path>,
    ) -> Result<Self, HostError> {
        let ha = SimHost::new(a, Instant::ZERO)?;
        let hb = SimHost::new(b, Instant::ZERO)?;
        let impair = |s: u64| {
            Impair::new(Impairments {
                loss,
                seed: s,
                ..Default::default()
            })
        };
        let pcap = match pcap {
            Some(p) => {
                let f = File::create(p)
                    .map_err(|e| HostError::Pcap(format!("{}: {e}", p.display())))?;
                Some(
                    PcapRecorder::new(BufWriter::new(f), true)
                        .map_err(|e| HostError::Pcap(e.to_string()))?,
                )
            }
            None => None,
        };
        let cycle = ha.dev.cycle().max(hb.dev.cycle());
        let mut net = TwoHosts {
            hosts: [ha, hb],
            link: Link::new(LinkParams::default()),
            impair: [impair(seed)?, impair(seed ^ 0x9e37_79b9_7f4a_7c15)?],
            pcap,
            cycle,
            quiet: 0,
            stats: NetStats::default(),
            out: Vec::new(),
        };
        // Let both cards fetch their RX descriptors before traffic starts, as a link comes up
        // well after the driver posted its buffers.
        net.advance(4000);
        Ok(net)
    }

    /// The virtual time now.
    pub fn now(&self) -> Instant {
        Instant::from_nanos(self.cycle * NS_PER_CYCLE + self.stats.skipped_ns)
    }

    /// Counters of the link and the clock.
    pub fn stats(&self) -> &NetStats {
        &self.stats
    }

    /// Cycles each card has run.
    pub fn cycles(&self) -> [u64; 2] {
        [self.hosts[0].dev.cycle(), self.hosts[1].dev.cycle()]
    }

    /// Runs both cards `cycles` further (each on its own thread), up to a common cycle.
    fn advance(&mut self, cycles: u64) {
        let target = self.cycle + cycles;
        let [a, b] = &self.hosts;
        let (da, db) = (a.dev.clone(), b.dev.clone());
        let run = |d: &SimDevice| {
            let c = d.cycle();
            if c < target {
                d.run(target - c);
            }
        };
        std::thread::scope(|s| {
            s.spawn(|| run(&da));
            run(&db);
        });
        self.cycle = target;
    }

    /// Frames each card sent go on the link (captured, impaired); frames that arrived by now
    /// go into the far card. Returns the frames moved.
    fn wire(&mut self) -> Result<usize, HostError> {
        let now_ns = self.now().as_nanos();
        let mut moved = 0;
        for from in 0..2 {
            for f in self.hosts[from].dev.take_tx_frames() {
                moved += 1;
                let t = f.cycle * NS_PER_CYCLE + self.stats.skipped_ns;
                self.stats.wire_frames[from] += 1;
                self.stats.wire_bytes[from] += f.bytes.len() as u64;
                if let Some(p) = self.pcap.as_mut() {
                    p.record(t, &f.bytes)
                        .map_err(|e| HostError::Pcap(e.to_string()))?;
                }
                self.out.clear();
                self.impair[from].process(f.bytes, &mut self.out);
                let ch = if from == 0 {
                    &mut self.link.a_to_b
                } else {
                    &mut self.link.b_to_a
                };
                for bytes in self.out.drain(..) {
                    ch.send(
                        t.max(now_ns.saturating_sub(STEP_CYCLES * NS_PER_CYCLE)),
                        bytes,
                    );
                }
            }
        }
        for to in 0..2 {
            let ch = if to == 1 {
                &mut self.link.a_to_b
            } else {
                &mut self.link.b_to_a
            };
            while let Some(f) = ch.recv(now_ns) {
                moved += 1;
                self.hosts[to].dev.send_raw(&f.data);
            }
        }
        for i in 0..2 {
            self.stats.impair[i] = self.impair[i].stats;
        }
        Ok(moved)
    }

    /// One round: the link, host work on both hosts (with `app`), then both cards a step
    /// further. Returns whether anything moved.
    fn step(&mut self, app: &mut App<'_>, done: &mut bool) -> Result<bool, HostError> {
        let moved = self.wire()?;
        let now = self.now();
        let t0 = std::time::Instant::now();
        let mut busy = moved > 0;
        for h in &mut self.hosts {
            busy |= h.receive(now) > 0;
        }
        *done = app(&mut self.hosts, now);
        for h in &mut self.hosts {
            busy |= h.transmit(now) > 0;
        }
        self.stats.host_ns += t0.elapsed().as_nanos() as u64;
        self.advance(STEP_CYCLES);
        self.stats.steps += 1;
        Ok(busy)
    }

    /// Runs rounds until `app` reports done or `timeout` of virtual time passes. Returns
    /// whether `app` finished.
    pub fn run(&mut self, timeout: Duration, app: &mut App<'_>) -> Result<bool, HostError> {
        let deadline = self.now().as_nanos() + timeout.as_nanos() as u64;
        loop {
            let mut done = false;
            let busy = self.step(app, &mut done)?;
            if done {
                return Ok(true);
            }
            let now = self.now();
            if now.as_nanos() >= deadline {
                return Ok(false);
            }
            if busy {
                self.quiet = 0;
                continue;
            }
            self.quiet += STEP_CYCLES;
            if self.quiet >= QUIET_CYCLES && self.link_idle() && self.hosts_idle() {
                // Everything waits for a timer: jump to it (or to the deadline).
                let next = self
                    .hosts
                    .iter()
                    .filter_map(|h| h.stack.poll_at(now))
                    .map(Instant::as_nanos)
                    .min()
                    .unwrap_or(deadline)
                    .min(deadline);
                let step_ns = STEP_CYCLES * NS_PER_CYCLE;
                if next > now.as_nanos() + step_ns {
                    self.stats.skipped_ns += next - now.as_nanos() - step_ns;
                }
                self.quiet = 0;
            }
        }
    }

    fn link_idle(&self) -> bool {
        self.link.a_to_b.next_arrival_ns().is_none() && self.link.b_to_a.next_arrival_ns().is_none()
    }

    fn hosts_idle(&mut self) -> bool {
        self.hosts.iter_mut().all(SimHost::idle)
    }

    /// Finishes the capture file, if any.
    pub fn finish_pcap(&mut self) -> Result<u64, HostError> {
        match self.pcap.take() {
            Some(p) => {
                let frames = p.frames;
                let mut w = p.into_inner();
                std::io::Write::flush(&mut w).map_err(|e| HostError::Pcap(e.to_string()))?;
                Ok(frames)
            }
            None => Ok(0),
        }
    }

    /// Closes both cards (every buffer home, nothing mapped).
    pub fn close(self) {
        for h in self.hosts {
            h.port.close();
        }
    }
}
