//! The neighbour table: IPv4 → MAC resolution with ARP (Linux `neigh_event_send`,
//! `neigh_update`, `neigh_timer_handler`, `arp_process`).
//!
//! This is the stage between IP output (after POSTROUTING) and the qdisc: the route gives a
//! next-hop address, this table turns it into a MAC address, or holds the packet while it asks.
//! One table serves one interface, since ARP is per link.
//!
//! It is sans-IO. Inputs are events — [`NeighTable::resolve`] (a packet wants to go to an
//! address), [`NeighTable::on_arp`] (an ARP packet was received), [`NeighTable::confirm`] (an
//! upper layer saw forward progress, like TCP's `dst_confirm`) and [`NeighTable::poll`] (time
//! passed). Outputs are [`NeighAction`]s collected in an internal queue that the caller drains
//! with [`NeighTable::pop_action`]: send an ARP request (broadcast or unicast), transmit a
//! released packet to a MAC, or give back a packet whose resolution failed so the caller can
//! answer ICMP host unreachable (as Linux's `arp_error_report` does).
//!
//! The state machine is Linux's:
//! - `Incomplete`: created by a packet to an unknown address; `mcast_probes` broadcast requests,
//!   `retrans_time` apart; packets wait in a bounded queue (`unres_qlen`). When it is full the
//!   **oldest** waiting packet is dropped and counted, as `__neigh_event_send` does.
//!   A reply makes it `Reachable` and releases the queue in order; no reply → `Failed`.
//! - `Reachable`: confirmed recently; packets go straight out. After `reachable_time` without
//!   confirmation it becomes `Delay` if used in the last `delay_first_probe_time`, else `Stale`.
//! - `Stale`: the address is probably right; the next packet goes out at once and the entry
//!   moves to `Delay`.
//! - `Delay`: wait `delay_first_probe_time` for an upper-layer confirmation (back to
//!   `Reachable`) before probing.
//! - `Probe`: `ucast_probes` unicast requests to the cached MAC (then `mcast_reprobes`
//!   broadcasts); packets still use the cached MAC. No answer → `Failed`.
//! - `Failed`: resolution failed. A new packet restarts resolution; garbage collection removes
//!   the entry otherwise.
//! - `Permanent` (an extra, `ip neigh add .. nud permanent`): static, never probed or replaced.
//!
//! ARP input follows `arp_process`: a request for one of our addresses creates or refreshes the
//! sender's entry as `Stale` (we are about to talk to it). Other requests and replies only update
//! existing entries (Linux's default `arp_accept=0`): a unicast reply makes it `Reachable`, a
//! broadcast one `Stale`. A different MAC replaces the cached one only for gratuitous ARP
//! (sender = target) or when the entry was last updated more than `locktime` ago, which stops
//! two proxies answering for one address from thrashing the entry.
//!
//! Linux randomises the reachable time between ½ and 1½ of `base_reachable_time`; a sans-IO
//! table has no randomness of its own, so `reachable_time` is used as given (the caller may
//! vary it with [`NeighTable::params_mut`]). Linux counts the pending queue in bytes
//! (`unres_qlen_bytes`); this table counts packets.

use crate::time::Instant;
use crate::wire::ethernet::EthernetAddress;
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::net::Ipv4Addr;
use std::time::Duration;

/// Tunables, named and defaulted as Linux's `/proc/sys/net/ipv4/neigh/<dev>/*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NeighParams {
    /// How long a confirmation keeps an entry `Reachable` (`base_reachable_time`, 30 s).
    pub reachable_time: Duration,
    /// How long `Delay` waits for an upper-layer confirmation before probing (5 s).
    pub delay_first_probe_time: Duration,
    /// Interval between ARP requests for one address (`retrans_time`, 1 s).
    pub retrans_time: Duration,
    /// Unicast requests sent in `Probe` before giving up (3).
    pub ucast_probes: u32,
    /// Broadcast requests sent in `Incomplete` before giving up (3).
    pub mcast_probes: u32,
    /// Broadcast requests sent in `Probe` after the unicast ones (0).
    pub mcast_reprobes: u32,
    /// Packets held per unresolved neighbour (`unres_qlen`); beyond it the oldest is dropped.
    pub unres_qlen: usize,
    /// A different MAC from non-gratuitous ARP is ignored within this time of the last
    /// update (`locktime`, 1 s).
    pub locktime: Duration,
    /// `Stale` entries unused for this long are garbage collected (`gc_stale_time`, 60 s).
    pub gc_stale_time: Duration,
    /// How often periodic garbage collection runs (Linux: half the reachable time, 15 s).
    pub gc_interval: Duration,
    /// Periodic garbage collection leaves the table alone at or below this size
    /// (`gc_thresh1`, 128).
    pub gc_thresh1: usize,
    /// Hard limit on entries (`gc_thresh3`, 1024). When full, a forced collection removes
    /// `Failed` and then least-recently-used `Stale` entries; if none can go, the new entry is
    /// refused and its packet dropped and counted.
    pub max_entries: usize,
}

impl Default for NeighParams {
    fn default() -> Self {
        NeighParams {
            reachable_time: Duration::from_secs(30),
            delay_first_probe_time: Duration::from_secs(5),
            retrans_time: Duration::from_secs(1),
            ucast_probes: 3,
            mcast_probes: 3,
            mcast_reprobes: 0,
            unres_qlen: 3,
            locktime: Duration::from_secs(1),
            gc_stale_time: Duration::from_secs(60),
            gc_interval: Duration::from_secs(15),
            gc_thresh1: 128,
            max_entries: 1024,
        }
    }
}

/// The state of one neighbour entry (Linux `NUD_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NeighState {
    /// Resolution in progress; no MAC known yet.
    Incomplete,
    /// Recently confirmed.
    Reachable,
    /// MAC known but not confirmed lately.
    Stale,
    /// Used while stale; waiting for an upper-layer confirmation before probing.
    Delay,
    /// Probing the cached MAC with unicast requests.
    Probe,
    /// Resolution failed.
    Failed,
    /// Static entry set by the administrator.
    Permanent,
}

impl NeighState {
    /// States with a usable MAC address (`NUD_VALID`).
    pub fn is_valid(self) -> bool {
        !matches!(self, NeighState::Incomplete | NeighState::Failed)
    }
}

/// Something the caller must do after an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NeighAction<P> {
    /// Send an ARP request asking for `target`: to `dest` when given (a unicast probe of the
    /// cached MAC), else to the broadcast address.
    Solicit {
        /// The address being resolved.
        target: Ipv4Addr,
        /// Link-layer destination; `None` means broadcast.
        dest: Option<EthernetAddress>,
    },
    /// Transmit a packet that was waiting for resolution, to `mac`.
    Transmit {
        /// The next hop it waited for.
        ip: Ipv4Addr,
        /// Its MAC address.
        mac: EthernetAddress,
        /// The packet.
        packet: P,
    },
    /// Resolution of `ip` failed while `packet` waited: drop it, and send ICMP destination
    /// unreachable (host unreachable) to its source if that is wanted.
    Unreachable {
        /// The next hop that could not be resolved.
        ip: Ipv4Addr,
        /// The packet.
        packet: P,
    },
}

/// Why [`NeighTable::resolve`] gave a packet back undelivered (counted in [`NeighStats`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    /// The table is full and nothing could be collected (Linux: "neighbour table overflow").
    #[error("neighbour table full")]
    TableFull,
    /// The parameters allow no ARP request (`mcast_probes` = 0), so resolution fails at once.
    #[error("no probes allowed: resolution failed")]
    NoProbes,
}

/// The outcome of [`NeighTable::resolve`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolve<P> {
    /// The MAC is known: transmit the packet to it now.
    Ready(EthernetAddress, P),
    /// The table took the packet: it waits for resolution and comes back as a [`NeighAction`]
    /// (unless `unres_qlen` is 0, in which case it was dropped and counted in
    /// `unres_discards`).
    Queued,
    /// The packet could not be held; it is given back to be dropped (already counted).
    Failed(P, ResolveError),
}

/// What was received in an ARP packet, as far as the neighbour table cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArpSeen {
    /// Request or reply.
    pub op: ArpOp,
    /// Sender protocol address.
    pub sender_ip: Ipv4Addr,
    /// Sender hardware address.
    pub sender_mac: EthernetAddress,
    /// Target protocol address.
    pub target_ip: Ipv4Addr,
    /// The target address is one of ours (a request we answer).
    pub for_us: bool,
    /// The frame was sent to our MAC rather than broadcast; only a unicast reply proves
    /// two-way reachability.
    pub unicast: bool,
}

/// ARP operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArpOp {
    /// Who has `target_ip`?
    Request,
    /// `sender_ip` is at `sender_mac`.
    Reply,
}

/// Counters, like `/proc/net/stat/arp_cache` plus ARP-specific drops.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NeighStats {
    /// Calls to `resolve`.
    pub lookups: u64,
    /// `resolve` calls answered at once with a MAC.
    pub hits: u64,
    /// Entries created.
    pub allocs: u64,
    /// Entries removed (GC, forced GC, admin).
    pub destroys: u64,
    /// Resolutions that ended in `Failed`.
    pub res_failed: u64,
    /// Pending packets dropped because the queue was full (`unres_discards`).
    pub unres_discards: u64,
    /// Packets handed back as unreachable because their resolution failed.
    pub unreachable_packets: u64,
    /// Packets refused because the table was full and nothing could be collected.
    pub table_fulls: u64,
    /// Packets refused because no probe was allowed.
    pub no_probe_drops: u64,
    /// Forced collections run because the table was full.
    pub forced_gc_runs: u64,
    /// Broadcast ARP requests asked for.
    pub requests_broadcast: u64,
    /// Unicast ARP requests asked for.
    pub requests_unicast: u64,
    /// Packets released from pending queues on resolution.
    pub released: u64,
    /// ARP updates ignored: a different MAC within `locktime`, or a permanent entry.
    pub updates_ignored: u64,
    /// ARP packets ignored as unusable: sender 0.0.0.0 (an address probe) or a group MAC.
    pub arp_ignored: u64,
}

#[derive(Debug)]
struct Entry<P> {
    state: NeighState,
    mac: Option<EthernetAddress>,
    queue: VecDeque<P>,
    /// Requests sent in the current `Incomplete`/`Probe` round.
    probes: u32,
    confirmed: Instant,
    used: Instant,
    updated: Instant,
    timer: Option<Instant>,
}

/// A snapshot of one entry, for listings (`ip neigh show`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NeighInfo {
    /// The neighbour's IPv4 address.
    pub ip: Ipv4Addr,
    /// Its state.
    pub state: NeighState,
    /// Its MAC, when known.
    pub mac: Option<EthernetAddress>,
    /// Packets waiting for it.
    pub queued: usize,
}

/// The neighbour table of one interface, holding packets of type `P` while they wait.
#[derive(Debug)]
pub struct NeighTable<P> {
    params: NeighParams,
    /// Keyed with a per-table random seed: addresses come from the wire.
    entries: HashMap<Ipv4Addr, Entry<P>, foldhash::fast::RandomState>,
    /// Deadlines of entry timers, ordered, so `poll` touches only expired entries.
    timers: BTreeSet<(Instant, Ipv4Addr)>,
    next_gc: Option<Instant>,
    actions: VecDeque<NeighAction<P>>,
    stats: NeighStats,
}

impl<P> Default for NeighTable<P> {
    fn default() -> Self {
        NeighTable::new(NeighParams::default())
    }
}

fn arm(
    timers: &mut BTreeSet<(Instant, Ipv4Addr)>,
    ip: Ipv4Addr,
    timer: &mut Option<Instant>,
    at: Option<Instant>,
) {
    if let Some(old) = timer.take() {
        timers.remove(&(old, ip));
    }
    if let Some(t) = at {
        timers.insert((t, ip));
    }
    *timer = at;
}

impl<P> NeighTable<P> {
    /// An empty table with these parameters.
    pub fn new(params: NeighParams) -> Self {
        NeighTable {
            params,
            entries: HashMap::default(),
            timers: BTreeSet::new(),
            next_gc: None,
            actions: VecDeque::new(),
            stats: NeighStats::default(),
        }
    }

    /// The parameters in use.
    pub fn params(&self) -> &NeighParams {
        &self.params
    }

    /// Changes parameters; they apply from the next event on.
    pub fn params_mut(&mut self) -> &mut NeighParams {
        &mut self.params
    }

    /// Counters.
    pub fn stats(&self) -> &NeighStats {
        &self.stats
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when the table has no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entry for `ip`, if any.
    pub fn get(&self, ip: Ipv4Addr) -> Option<NeighInfo> {
        self.entries.get(&ip).map(|e| NeighInfo {
            ip,
            state: e.state,
            mac: e.mac,
            queued: e.queue.len(),
        })
    }

    /// All entries, sorted by address.
    pub fn entries(&self) -> Vec<NeighInfo> {
        let mut v: Vec<NeighInfo> = self.entries.keys().filter_map(|ip| self.get(*ip)).collect();
        v.sort_by_key(|i| i.ip);
        v
    }

    /// The next action to carry out, oldest first.
    pub fn pop_action(&mut self) -> Option<NeighAction<P>> {
        self.actions.pop_front()
    }

    /// All pending actions, oldest first.
    pub fn drain_actions(&mut self) -> std::collections::vec_deque::Drain<'_, NeighAction<P>> {
        self.actions.drain(..)
    }

    /// When `poll` next has work to do, if ever.
    pub fn next_wakeup(&self) -> Option<Instant> {
        let t = self.timers.first().map(|(t, _)| *t);
        match (t, self.next_gc) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Adds or replaces a static entry. Its waiting packets, if any, are released.
    pub fn add_permanent(&mut self, ip: Ipv4Addr, mac: EthernetAddress, now: Instant) {
        if !self.entries.contains_key(&ip) {
            self.stats.allocs += 1;
        }
        let e = self.entries.entry(ip).or_insert_with(|| Entry::new(now));
        arm(&mut self.timers, ip, &mut e.timer, None);
        e.state = NeighState::Permanent;
        e.mac = Some(mac);
        e.updated = now;
        e.confirmed = now;
        let released = e.queue.len() as u64;
        self.actions
            .extend(
                e.queue
                    .drain(..)
                    .map(|packet| NeighAction::Transmit { ip, mac, packet }),
            );
        self.stats.released += released;
    }

    /// Removes the entry for `ip` (`ip neigh del`); packets waiting on it are dropped.
    /// Returns whether there was one.
    pub fn remove(&mut self, ip: Ipv4Addr) -> bool {
        self.destroy(ip)
    }

    fn destroy(&mut self, ip: Ipv4Addr) -> bool {
        match self.entries.remove(&ip) {
            Some(mut e) => {
                arm(&mut self.timers, ip, &mut e.timer, None);
                self.stats.destroys += 1;
                true
            }
            None => false,
        }
    }

    /// A packet wants to go to next hop `ip`.
    pub fn resolve(&mut self, ip: Ipv4Addr, packet: P, now: Instant) -> Resolve<P> {
        self.stats.lookups += 1;
        if self.next_gc.is_none() {
            self.next_gc = Some(now + self.params.gc_interval);
        }
        if !self.entries.contains_key(&ip) {
            if self.entries.len() >= self.params.max_entries {
                self.forced_gc();
            }
            if self.entries.len() >= self.params.max_entries {
                self.stats.table_fulls += 1;
                return Resolve::Failed(packet, ResolveError::TableFull);
            }
            self.stats.allocs += 1;
            let mut e = Entry::new(now);
            e.state = NeighState::Failed;
            self.entries.insert(ip, e);
        }
        let Some(e) = self.entries.get_mut(&ip) else {
            return Resolve::Failed(packet, ResolveError::TableFull);
        };
        e.used = now;
        match (e.state, e.mac) {
            (
                NeighState::Reachable
                | NeighState::Delay
                | NeighState::Probe
                | NeighState::Permanent,
                Some(mac),
            ) => {
                self.stats.hits += 1;
                Resolve::Ready(mac, packet)
            }
            (NeighState::Stale, Some(mac)) => {
                e.state = NeighState::Delay;
                e.updated = now;
                let at = now + self.params.delay_first_probe_time;
                arm(&mut self.timers, ip, &mut e.timer, Some(at));
                self.stats.hits += 1;
                Resolve::Ready(mac, packet)
            }
            (NeighState::Incomplete, _) => {
                if self.params.unres_qlen == 0 {
                    self.stats.unres_discards += 1;
                    return Resolve::Queued;
                }
                while e.queue.len() >= self.params.unres_qlen {
                    // Linux drops from the head: the newest packet is the most useful one.
                    e.queue.pop_front();
                    self.stats.unres_discards += 1;
                }
                e.queue.push_back(packet);
                Resolve::Queued
            }
            _ => {
                // Failed (or a valid state somehow without a MAC): start resolving again.
                if self.params.mcast_probes == 0 {
                    e.state = NeighState::Failed;
                    self.stats.res_failed += 1;
                    self.stats.no_probe_drops += 1;
                    return Resolve::Failed(packet, ResolveError::NoProbes);
                }
                e.state = NeighState::Incomplete;
                e.mac = None;
                e.probes = 0;
                if self.params.unres_qlen > 0 {
                    e.queue.push_back(packet);
                } else {
                    self.stats.unres_discards += 1;
                }
                self.probe(ip, now);
                Resolve::Queued
            }
        }
    }

    /// An upper layer saw the neighbour answer (a TCP ACK for new data, say): the path works,
    /// so no ARP probe is needed (Linux `neigh_confirm`).
    pub fn confirm(&mut self, ip: Ipv4Addr, now: Instant) {
        if let Some(e) = self.entries.get_mut(&ip) {
            if e.state.is_valid() {
                e.confirmed = now;
            }
        }
    }

    /// An ARP packet was received on this interface.
    pub fn on_arp(&mut self, arp: &ArpSeen, now: Instant) {
        if arp.sender_ip.is_unspecified()
            || arp.sender_ip.is_broadcast()
            || arp.sender_ip.is_multicast()
            || !arp.sender_mac.is_unicast()
            || arp.sender_mac == EthernetAddress([0; 6])
        {
            self.stats.arp_ignored += 1;
            return;
        }
        if self.next_gc.is_none() {
            self.next_gc = Some(now + self.params.gc_interval);
        }
        let ip = arp.sender_ip;
        if arp.op == ArpOp::Request && arp.for_us {
            // We will answer, so we will talk to the sender: learn it (neigh_event_ns).
            if !self.entries.contains_key(&ip) {
                if self.entries.len() >= self.params.max_entries {
                    self.forced_gc();
                }
                if self.entries.len() >= self.params.max_entries {
                    self.stats.table_fulls += 1;
                    return;
                }
                self.stats.allocs += 1;
                let mut e = Entry::new(now);
                e.state = NeighState::Failed;
                self.entries.insert(ip, e);
            }
            self.update(ip, arp.sender_mac, NeighState::Stale, true, now);
            return;
        }
        let Some(e) = self.entries.get(&ip) else {
            return;
        };
        let gratuitous = arp.sender_ip == arp.target_ip;
        let overrides = gratuitous || now >= e.updated + self.params.locktime;
        let new = if arp.op == ArpOp::Reply && arp.unicast {
            NeighState::Reachable
        } else {
            NeighState::Stale
        };
        self.update(ip, arp.sender_mac, new, overrides, now);
    }

    /// `neigh_update`: move an existing entry to `new` with `mac`.
    fn update(
        &mut self,
        ip: Ipv4Addr,
        mac: EthernetAddress,
        mut new: NeighState,
        overrides: bool,
        now: Instant,
    ) {
        let params = &self.params;
        let Some(e) = self.entries.get_mut(&ip) else {
            return;
        };
        let old = e.state;
        if old == NeighState::Permanent {
            if e.mac != Some(mac) {
                self.stats.updates_ignored += 1;
            }
            return;
        }
        if old.is_valid() {
            if e.mac != Some(mac) && !overrides {
                self.stats.updates_ignored += 1;
                return;
            }
            if e.mac == Some(mac) && new == NeighState::Stale {
                // Same address: nothing learnt, keep whatever state we had.
                new = old;
            }
        }
        if new == NeighState::Reachable {
            e.confirmed = now;
        }
        if new == old && e.mac == Some(mac) {
            return;
        }
        e.updated = now;
        e.mac = Some(mac);
        e.state = new;
        e.probes = 0;
        let timer = match new {
            NeighState::Reachable => Some(now + params.reachable_time),
            NeighState::Delay => e.timer.or(Some(now + params.delay_first_probe_time)),
            NeighState::Probe => e.timer.or(Some(now + params.retrans_time)),
            _ => None,
        };
        arm(&mut self.timers, ip, &mut e.timer, timer);
        if !old.is_valid() && new.is_valid() {
            let released = e.queue.len() as u64;
            self.actions
                .extend(
                    e.queue
                        .drain(..)
                        .map(|packet| NeighAction::Transmit { ip, mac, packet }),
                );
            self.stats.released += released;
        }
    }

    /// Sends the next request of the current round for `ip`, or fails the entry when the
    /// round is over.
    fn probe(&mut self, ip: Ipv4Addr, now: Instant) {
        let params = &self.params;
        let Some(e) = self.entries.get_mut(&ip) else {
            return;
        };
        let (max, unicast) = match e.state {
            NeighState::Incomplete => (params.mcast_probes, false),
            NeighState::Probe => (
                params.ucast_probes.saturating_add(params.mcast_reprobes),
                e.probes < params.ucast_probes,
            ),
            _ => return,
        };
        if e.probes >= max {
            e.state = NeighState::Failed;
            e.updated = now;
            arm(&mut self.timers, ip, &mut e.timer, None);
            self.stats.res_failed += 1;
            let failed = e.queue.len() as u64;
            self.actions.extend(
                e.queue
                    .drain(..)
                    .map(|packet| NeighAction::Unreachable { ip, packet }),
            );
            self.stats.unreachable_packets += failed;
            return;
        }
        e.probes += 1;
        let dest = if unicast { e.mac } else { None };
        if dest.is_some() {
            self.stats.requests_unicast += 1;
        } else {
            self.stats.requests_broadcast += 1;
        }
        self.actions
            .push_back(NeighAction::Solicit { target: ip, dest });
        arm(
            &mut self.timers,
            ip,
            &mut e.timer,
            Some(now + params.retrans_time),
        );
    }

    /// Time passed: run expired entry timers and periodic garbage collection.
    ///
    /// Each expired timer runs as of its own deadline, in deadline order, so a caller that
    /// polls late (rather than at [`NeighTable::next_wakeup`]) ends in the same states as one
    /// that polled on time; only the actions come out together.
    pub fn poll(&mut self, now: Instant) {
        while let Some(&(t, ip)) = self.timers.first() {
            if t > now {
                break;
            }
            self.timers.remove(&(t, ip));
            if let Some(e) = self.entries.get_mut(&ip) {
                e.timer = None;
            }
            self.on_timer(ip, t);
        }
        if let Some(gc) = self.next_gc {
            if gc <= now {
                self.periodic_gc(now);
                self.next_gc = if self.entries.is_empty() {
                    None
                } else {
                    Some(now + self.params.gc_interval)
                };
            }
        }
    }

    fn on_timer(&mut self, ip: Ipv4Addr, now: Instant) {
        let params = &self.params;
        let Some(e) = self.entries.get_mut(&ip) else {
            return;
        };
        match e.state {
            NeighState::Reachable => {
                let expires = e.confirmed + params.reachable_time;
                if now < expires {
                    arm(&mut self.timers, ip, &mut e.timer, Some(expires));
                } else if now <= e.used + params.delay_first_probe_time {
                    e.state = NeighState::Delay;
                    e.updated = now;
                    let at = now + params.delay_first_probe_time;
                    arm(&mut self.timers, ip, &mut e.timer, Some(at));
                } else {
                    e.state = NeighState::Stale;
                    e.updated = now;
                }
            }
            NeighState::Delay => {
                if now <= e.confirmed + params.delay_first_probe_time {
                    e.state = NeighState::Reachable;
                    e.updated = now;
                    let at = e.confirmed + params.reachable_time;
                    arm(&mut self.timers, ip, &mut e.timer, Some(at));
                } else {
                    e.state = NeighState::Probe;
                    e.updated = now;
                    e.probes = 0;
                    self.probe(ip, now);
                }
            }
            NeighState::Incomplete | NeighState::Probe => self.probe(ip, now),
            NeighState::Stale | NeighState::Failed | NeighState::Permanent => {}
        }
    }

    /// Linux `neigh_periodic_work`: above `gc_thresh1`, drop `Failed` entries and `Stale` ones
    /// unused for `gc_stale_time`. Entries with a running timer are in use and stay.
    fn periodic_gc(&mut self, now: Instant) {
        if self.entries.len() <= self.params.gc_thresh1 {
            return;
        }
        let stale = self.params.gc_stale_time;
        let doomed: Vec<Ipv4Addr> = self
            .entries
            .iter()
            .filter(|(_, e)| match e.state {
                NeighState::Failed => true,
                NeighState::Stale => now >= e.used + stale,
                _ => false,
            })
            .map(|(ip, _)| *ip)
            .collect();
        for ip in doomed {
            self.destroy(ip);
        }
    }

    /// Linux `neigh_forced_gc`: make room in a full table by dropping `Failed` entries, then
    /// the least recently used `Stale` ones, down to 7/8 of the limit so the next few new
    /// entries do not each pay for a scan.
    fn forced_gc(&mut self) {
        self.stats.forced_gc_runs += 1;
        let target = self.params.max_entries - self.params.max_entries / 8;
        let target = target.min(self.params.max_entries.saturating_sub(1));
        let mut candidates: Vec<(u8, Instant, Ipv4Addr)> = self
            .entries
            .iter()
            .filter_map(|(ip, e)| match e.state {
                NeighState::Failed => Some((0, e.used, *ip)),
                NeighState::Stale => Some((1, e.used, *ip)),
                _ => None,
            })
            .collect();
        candidates.sort();
        for (_, _, ip) in candidates {
            if self.entries.len() <= target {
                break;
            }
            self.destroy(ip);
        }
    }
}

impl<P> Entry<P> {
    fn new(now: Instant) -> Self {
        Entry {
            state: NeighState::Failed,
            mac: None,
            queue: VecDeque::new(),
            probes: 0,
            confirmed: now,
            used: now,
            updated: now,
            timer: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
    const B: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 3);
    const MAC_A: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 2]);
    const MAC_A2: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 0x22]);
    const MAC_B: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 3]);

    fn t(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    fn reply(ip: Ipv4Addr, mac: EthernetAddress) -> ArpSeen {
        ArpSeen {
            op: ArpOp::Reply,
            sender_ip: ip,
            sender_mac: mac,
            target_ip: Ipv4Addr::new(10, 0, 0, 1),
            for_us: true,
            unicast: true,
        }
    }

    fn request_for_us(ip: Ipv4Addr, mac: EthernetAddress) -> ArpSeen {
        ArpSeen {
            op: ArpOp::Request,
            sender_ip: ip,
            sender_mac: mac,
            target_ip: Ipv4Addr::new(10, 0, 0, 1),
            for_us: true,
            unicast: false,
        }
    }

    fn gratuitous(ip: Ipv4Addr, mac: EthernetAddress) -> ArpSeen {
        ArpSeen {
            op: ArpOp::Request,
            sender_ip: ip,
            sender_mac: mac,
            target_ip: ip,
            for_us: false,
            unicast: false,
        }
    }

    fn actions(n: &mut NeighTable<u32>) -> Vec<NeighAction<u32>> {
        n.drain_actions().collect()
    }

    fn bcast(ip: Ipv4Addr) -> NeighAction<u32> {
        NeighAction::Solicit {
            target: ip,
            dest: None,
        }
    }

    fn ucast(ip: Ipv4Addr, mac: EthernetAddress) -> NeighAction<u32> {
        NeighAction::Solicit {
            target: ip,
            dest: Some(mac),
        }
    }

    fn tx(packet: u32) -> NeighAction<u32> {
        NeighAction::Transmit {
            ip: A,
            mac: MAC_A,
            packet,
        }
    }

    /// A table where A is Reachable (resolved at t=0).
    fn resolved() -> NeighTable<u32> {
        let mut n = NeighTable::default();
        assert_eq!(n.resolve(A, 1, t(0)), Resolve::Queued);
        n.on_arp(&reply(A, MAC_A), t(10));
        assert_eq!(actions(&mut n), vec![bcast(A), tx(1)]);
        n
    }

    #[test]
    fn first_packet_broadcasts_a_request_and_waits() {
        let mut n: NeighTable<u32> = NeighTable::default();
        assert_eq!(n.resolve(A, 7, t(0)), Resolve::Queued);
        assert_eq!(actions(&mut n), vec![bcast(A)]);
        let info = n.get(A).unwrap();
        assert_eq!(info.state, NeighState::Incomplete);
        assert_eq!(info.queued, 1);
        assert_eq!(n.next_wakeup(), Some(t(1000)));
        // A second packet does not send a second request.
        assert_eq!(n.resolve(A, 8, t(100)), Resolve::Queued);
        assert!(actions(&mut n).is_empty());
    }

    #[test]
    fn pending_queue_releases_its_3_packets_in_order_on_resolution() {
        let mut n: NeighTable<u32> = NeighTable::default();
        for p in 1..=3 {
            assert_eq!(n.resolve(A, p, t(p.into())), Resolve::Queued);
        }
        n.on_arp(&reply(A, MAC_A), t(20));
        assert_eq!(actions(&mut n), vec![bcast(A), tx(1), tx(2), tx(3)]);
        assert_eq!(n.get(A).unwrap().state, NeighState::Reachable);
        assert_eq!(n.stats().released, 3);
        // Now packets go straight out.
        assert_eq!(n.resolve(A, 4, t(30)), Resolve::Ready(MAC_A, 4));
    }

    #[test]
    fn fourth_pending_packet_drops_the_oldest_and_counts_it() {
        let mut n: NeighTable<u32> = NeighTable::default();
        for p in 1..=4 {
            assert_eq!(n.resolve(A, p, t(p.into())), Resolve::Queued);
        }
        assert_eq!(n.stats().unres_discards, 1);
        assert_eq!(n.get(A).unwrap().queued, 3);
        n.on_arp(&reply(A, MAC_A), t(20));
        assert_eq!(actions(&mut n), vec![bcast(A), tx(2), tx(3), tx(4)]);
    }

    #[test]
    fn no_reply_fails_after_three_broadcasts_and_returns_packets_as_unreachable() {
        let mut n: NeighTable<u32> = NeighTable::default();
        n.resolve(A, 1, t(0));
        n.resolve(A, 2, t(0));
        for ms in [1000, 2000] {
            assert_eq!(n.next_wakeup(), Some(t(ms)));
            n.poll(t(ms));
        }
        assert_eq!(actions(&mut n), vec![bcast(A), bcast(A), bcast(A)]);
        assert_eq!(n.get(A).unwrap().state, NeighState::Incomplete);
        n.poll(t(3000));
        assert_eq!(
            actions(&mut n),
            vec![
                NeighAction::Unreachable { ip: A, packet: 1 },
                NeighAction::Unreachable { ip: A, packet: 2 }
            ]
        );
        assert_eq!(n.get(A).unwrap().state, NeighState::Failed);
        assert_eq!(n.stats().res_failed, 1);
        assert_eq!(n.stats().unreachable_packets, 2);
        assert_eq!(n.stats().requests_broadcast, 3);
    }

    #[test]
    fn polling_late_catches_up_as_if_polled_on_time() {
        let mut n: NeighTable<u32> = NeighTable::default();
        n.resolve(A, 1, t(0));
        n.poll(t(60_000));
        assert_eq!(
            actions(&mut n),
            vec![
                bcast(A),
                bcast(A),
                bcast(A),
                NeighAction::Unreachable { ip: A, packet: 1 }
            ]
        );
        assert_eq!(n.get(A).unwrap().state, NeighState::Failed);
    }

    #[test]
    fn a_packet_to_a_failed_neighbour_restarts_resolution() {
        let mut n: NeighTable<u32> = NeighTable::default();
        n.resolve(A, 1, t(0));
        for ms in [1000, 2000, 3000] {
            n.poll(t(ms));
        }
        actions(&mut n);
        assert_eq!(n.resolve(A, 9, t(5000)), Resolve::Queued);
        assert_eq!(actions(&mut n), vec![bcast(A)]);
        n.on_arp(&reply(A, MAC_A), t(5100));
        assert_eq!(actions(&mut n), vec![tx(9)]);
    }

    #[test]
    fn reachable_becomes_stale_after_reachable_time_when_idle() {
        let mut n = resolved();
        n.poll(t(30_009));
        assert_eq!(n.get(A).unwrap().state, NeighState::Reachable);
        n.poll(t(30_010));
        assert_eq!(n.get(A).unwrap().state, NeighState::Stale);
        assert!(actions(&mut n).is_empty(), "stale sends no probe");
    }

    #[test]
    fn stale_entry_sends_at_once_then_probes_unicast_after_delay() {
        let mut n = resolved();
        n.poll(t(30_010));
        assert_eq!(n.resolve(A, 5, t(40_000)), Resolve::Ready(MAC_A, 5));
        assert_eq!(n.get(A).unwrap().state, NeighState::Delay);
        n.poll(t(44_999));
        assert!(actions(&mut n).is_empty());
        n.poll(t(45_000));
        assert_eq!(n.get(A).unwrap().state, NeighState::Probe);
        assert_eq!(actions(&mut n), vec![ucast(A, MAC_A)]);
        // Packets still go to the cached MAC while probing.
        assert_eq!(n.resolve(A, 6, t(45_100)), Resolve::Ready(MAC_A, 6));
        n.on_arp(&reply(A, MAC_A), t(45_200));
        assert_eq!(n.get(A).unwrap().state, NeighState::Reachable);
        assert!(actions(&mut n).is_empty());
    }

    #[test]
    fn unanswered_unicast_probes_end_in_failed() {
        let mut n = resolved();
        n.poll(t(30_010));
        n.resolve(A, 5, t(40_000));
        for ms in [45_000, 46_000, 47_000] {
            n.poll(t(ms));
        }
        assert_eq!(
            actions(&mut n),
            vec![ucast(A, MAC_A), ucast(A, MAC_A), ucast(A, MAC_A)]
        );
        n.poll(t(48_000));
        assert_eq!(n.get(A).unwrap().state, NeighState::Failed);
        assert_eq!(n.stats().requests_unicast, 3);
        assert_eq!(n.stats().res_failed, 1);
    }

    #[test]
    fn upper_layer_confirmation_avoids_probing() {
        let mut n = resolved();
        n.poll(t(30_010));
        n.resolve(A, 5, t(40_000));
        n.confirm(A, t(41_000));
        n.poll(t(45_000));
        assert_eq!(n.get(A).unwrap().state, NeighState::Reachable);
        assert!(actions(&mut n).is_empty(), "no ARP needed");
        // Reachable until 30 s after that confirmation.
        n.poll(t(70_999));
        assert_eq!(n.get(A).unwrap().state, NeighState::Reachable);
        n.poll(t(71_000));
        assert_eq!(n.get(A).unwrap().state, NeighState::Stale);
    }

    #[test]
    fn confirmation_extends_reachable() {
        let mut n = resolved();
        n.confirm(A, t(20_000));
        n.poll(t(30_010));
        assert_eq!(n.get(A).unwrap().state, NeighState::Reachable);
        n.poll(t(50_000));
        assert_eq!(n.get(A).unwrap().state, NeighState::Stale);
    }

    #[test]
    fn in_use_entry_goes_to_delay_not_stale_on_expiry() {
        let mut n = resolved();
        n.resolve(A, 2, t(28_000));
        n.poll(t(30_010));
        assert_eq!(n.get(A).unwrap().state, NeighState::Delay);
        n.poll(t(35_010));
        assert_eq!(n.get(A).unwrap().state, NeighState::Probe);
        assert_eq!(actions(&mut n), vec![ucast(A, MAC_A)]);
    }

    #[test]
    fn request_for_us_learns_the_sender_as_stale() {
        let mut n: NeighTable<u32> = NeighTable::default();
        n.on_arp(&request_for_us(B, MAC_B), t(0));
        let info = n.get(B).unwrap();
        assert_eq!(info.state, NeighState::Stale);
        assert_eq!(info.mac, Some(MAC_B));
        assert_eq!(n.resolve(B, 1, t(1)), Resolve::Ready(MAC_B, 1));
    }

    #[test]
    fn request_for_us_resolves_a_pending_entry() {
        let mut n: NeighTable<u32> = NeighTable::default();
        n.resolve(A, 1, t(0));
        n.on_arp(&request_for_us(A, MAC_A), t(5));
        assert_eq!(actions(&mut n), vec![bcast(A), tx(1)]);
        assert_eq!(n.get(A).unwrap().state, NeighState::Stale);
    }

    #[test]
    fn unsolicited_reply_does_not_create_entries() {
        let mut n: NeighTable<u32> = NeighTable::default();
        n.on_arp(&reply(B, MAC_B), t(0));
        n.on_arp(&gratuitous(B, MAC_B), t(0));
        assert!(n.is_empty());
    }

    #[test]
    fn gratuitous_arp_updates_an_existing_entry_at_once() {
        let mut n = resolved();
        n.on_arp(&gratuitous(A, MAC_A2), t(20));
        let info = n.get(A).unwrap();
        assert_eq!(info.mac, Some(MAC_A2));
        assert_eq!(info.state, NeighState::Stale);
        assert_eq!(n.resolve(A, 3, t(30)), Resolve::Ready(MAC_A2, 3));
    }

    #[test]
    fn a_different_mac_within_locktime_is_ignored_but_accepted_later() {
        let mut n = resolved();
        let mut r = reply(A, MAC_A2);
        r.unicast = false;
        r.op = ArpOp::Reply;
        n.on_arp(&r, t(500));
        assert_eq!(n.get(A).unwrap().mac, Some(MAC_A));
        assert_eq!(n.stats().updates_ignored, 1);
        n.on_arp(&r, t(1_010));
        assert_eq!(n.get(A).unwrap().mac, Some(MAC_A2));
        assert_eq!(n.get(A).unwrap().state, NeighState::Stale);
    }

    #[test]
    fn same_mac_in_a_broadcast_keeps_the_entry_reachable() {
        let mut n = resolved();
        n.on_arp(&gratuitous(A, MAC_A), t(2_000));
        assert_eq!(n.get(A).unwrap().state, NeighState::Reachable);
    }

    #[test]
    fn permanent_entries_are_never_probed_or_replaced() {
        let mut n: NeighTable<u32> = NeighTable::default();
        n.add_permanent(A, MAC_A, t(0));
        n.on_arp(&gratuitous(A, MAC_A2), t(10));
        n.poll(t(1_000_000));
        assert_eq!(n.resolve(A, 1, t(1_000_000)), Resolve::Ready(MAC_A, 1));
        assert_eq!(n.get(A).unwrap().state, NeighState::Permanent);
        assert!(actions(&mut n).is_empty());
        assert_eq!(n.stats().updates_ignored, 1);
    }

    #[test]
    fn permanent_entry_releases_waiting_packets() {
        let mut n: NeighTable<u32> = NeighTable::default();
        n.resolve(A, 1, t(0));
        n.add_permanent(A, MAC_A, t(1));
        assert_eq!(actions(&mut n), vec![bcast(A), tx(1)]);
        n.poll(t(10_000));
        assert!(actions(&mut n).is_empty(), "no more probes");
    }

    #[test]
    fn bogus_arp_senders_are_ignored_and_counted() {
        let mut n: NeighTable<u32> = NeighTable::default();
        // An RFC 5227 address probe has sender 0.0.0.0.
        n.on_arp(&request_for_us(Ipv4Addr::UNSPECIFIED, MAC_B), t(0));
        n.on_arp(&request_for_us(B, EthernetAddress::BROADCAST), t(0));
        assert!(n.is_empty());
        assert_eq!(n.stats().arp_ignored, 2);
    }

    #[test]
    fn full_table_collects_failed_entries_first() {
        let mut n: NeighTable<u32> = NeighTable::new(NeighParams {
            max_entries: 2,
            ..NeighParams::default()
        });
        n.resolve(A, 1, t(0));
        for ms in [1000, 2000, 3000] {
            n.poll(t(ms));
        }
        assert_eq!(n.get(A).unwrap().state, NeighState::Failed);
        n.on_arp(&request_for_us(B, MAC_B), t(3000));
        let c = Ipv4Addr::new(10, 0, 0, 4);
        assert_eq!(n.resolve(c, 2, t(4000)), Resolve::Queued);
        assert!(n.get(A).is_none(), "the failed entry made room");
        assert!(n.get(B).is_some());
        assert_eq!(n.stats().forced_gc_runs, 1);
    }

    #[test]
    fn full_table_of_busy_entries_refuses_new_ones_and_counts() {
        let mut n: NeighTable<u32> = NeighTable::new(NeighParams {
            max_entries: 2,
            ..NeighParams::default()
        });
        n.resolve(A, 1, t(0));
        n.resolve(B, 2, t(0));
        let c = Ipv4Addr::new(10, 0, 0, 4);
        assert_eq!(
            n.resolve(c, 3, t(1)),
            Resolve::Failed(3, ResolveError::TableFull)
        );
        assert_eq!(n.stats().table_fulls, 1);
        assert_eq!(n.len(), 2);
    }

    #[test]
    fn periodic_gc_removes_failed_and_long_unused_stale_entries() {
        let mut n: NeighTable<u32> = NeighTable::new(NeighParams {
            gc_thresh1: 0,
            ..NeighParams::default()
        });
        n.resolve(A, 1, t(0));
        n.on_arp(&request_for_us(B, MAC_B), t(0));
        for ms in [1000, 2000, 3000] {
            n.poll(t(ms));
        }
        assert_eq!(n.get(A).unwrap().state, NeighState::Failed);
        n.poll(t(15_000));
        assert!(n.get(A).is_none(), "failed entry collected");
        assert!(n.get(B).is_some(), "stale entry used recently stays");
        n.poll(t(60_000));
        assert!(n.get(B).is_none(), "stale and unused for 60 s");
        assert_eq!(n.stats().destroys, 2);
        assert!(n.is_empty());
        assert_eq!(n.next_wakeup(), None);
    }

    #[test]
    fn small_table_is_not_collected_below_gc_thresh1() {
        let mut n: NeighTable<u32> = NeighTable::default();
        n.on_arp(&request_for_us(B, MAC_B), t(0));
        n.poll(t(600_000));
        assert!(n.get(B).is_some());
    }

    #[test]
    fn zero_unres_qlen_drops_every_waiting_packet_once() {
        let mut n: NeighTable<u32> = NeighTable::new(NeighParams {
            unres_qlen: 0,
            ..NeighParams::default()
        });
        assert_eq!(n.resolve(A, 1, t(0)), Resolve::Queued);
        assert_eq!(n.resolve(A, 2, t(1)), Resolve::Queued);
        assert_eq!(n.stats().unres_discards, 2);
        n.on_arp(&reply(A, MAC_A), t(5));
        assert_eq!(actions(&mut n), vec![bcast(A)], "nothing was held");
    }

    #[test]
    fn zero_mcast_probes_fails_at_once() {
        let mut n: NeighTable<u32> = NeighTable::new(NeighParams {
            mcast_probes: 0,
            ..NeighParams::default()
        });
        assert_eq!(
            n.resolve(A, 1, t(0)),
            Resolve::Failed(1, ResolveError::NoProbes)
        );
        assert_eq!(n.stats().no_probe_drops, 1);
    }

    #[test]
    fn remove_drops_the_entry_and_its_timer() {
        let mut n: NeighTable<u32> = NeighTable::default();
        n.resolve(A, 1, t(0));
        assert!(n.remove(A));
        assert!(!n.remove(A));
        n.poll(t(10_000));
        assert_eq!(actions(&mut n), vec![bcast(A)]);
        assert!(n.is_empty());
    }

    #[test]
    fn listing_is_sorted_by_address() {
        let mut n: NeighTable<u32> = NeighTable::default();
        n.on_arp(&request_for_us(B, MAC_B), t(0));
        n.resolve(A, 1, t(0));
        let ips: Vec<Ipv4Addr> = n.entries().iter().map(|i| i.ip).collect();
        assert_eq!(ips, vec![A, B]);
    }

    /// Two tables wired back to back, with the ARP responder played by the test: the
    /// requester's packets wait and are released, and the responder learns the requester
    /// from the request itself, so its first reply needs no ARP round of its own.
    #[test]
    fn two_hosts_resolve_each_other_with_one_exchange() {
        const IP_A: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
        const IP_B: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
        const MAC_OF_A: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 0xa]);
        const MAC_OF_B: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 0xb]);
        let mut a: NeighTable<&str> = NeighTable::default();
        let mut b: NeighTable<&str> = NeighTable::default();

        assert_eq!(a.resolve(IP_B, "ping 1", t(0)), Resolve::Queued);
        assert_eq!(a.resolve(IP_B, "ping 2", t(1)), Resolve::Queued);
        let Some(NeighAction::Solicit { target, dest: None }) = a.pop_action() else {
            panic!("A should broadcast a request");
        };
        assert_eq!(target, IP_B);
        // B receives the broadcast request for its address.
        b.on_arp(
            &ArpSeen {
                op: ArpOp::Request,
                sender_ip: IP_A,
                sender_mac: MAC_OF_A,
                target_ip: IP_B,
                for_us: true,
                unicast: false,
            },
            t(2),
        );
        // B's responder answers with a unicast reply; A receives it.
        a.on_arp(
            &ArpSeen {
                op: ArpOp::Reply,
                sender_ip: IP_B,
                sender_mac: MAC_OF_B,
                target_ip: IP_A,
                for_us: true,
                unicast: true,
            },
            t(3),
        );
        let released: Vec<NeighAction<&str>> = a.drain_actions().collect();
        assert_eq!(
            released,
            vec![
                NeighAction::Transmit {
                    ip: IP_B,
                    mac: MAC_OF_B,
                    packet: "ping 1"
                },
                NeighAction::Transmit {
                    ip: IP_B,
                    mac: MAC_OF_B,
                    packet: "ping 2"
                },
            ]
        );
        // B answers the pings straight away: it learnt A from the request.
        assert_eq!(
            b.resolve(IP_A, "pong 1", t(4)),
            Resolve::Ready(MAC_OF_A, "pong 1")
        );
        assert!(b.pop_action().is_none(), "no ARP request from B");
        // A's pings got answers: the upper layer confirms, so B never probes A.
        b.confirm(IP_A, t(5));
        b.poll(t(10_000)); // polled late: the Delay timer still sees the confirmation in time
        assert_eq!(b.get(IP_A).unwrap().state, NeighState::Reachable);
        assert!(b.pop_action().is_none());
    }
}
