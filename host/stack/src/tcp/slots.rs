//! The socket slots of a [`TcpTable`](super::TcpTable), with the connections' timers filed by
//! deadline (the role of Linux's per-socket timers on the timer wheel): the stack's poll finds
//! the connections whose timers are due, and when the next one is, without looking at every
//! connection. A scan of every connection on every poll cost 73 ns per connection at 10,000
//! idle ones (`benches/idle_conns.rs`), most of it cache misses, for nothing.
//!
//! Reading a slot is free (the slots deref to a slice). Taking one mutably ([`Slots::get_mut`],
//! indexing, [`Slots::push`]) marks it changed: its deadline may have moved. [`Slots::rearm`]
//! files the changed slots' deadlines again; until then [`Slots::next_timer`] asks them
//! directly, so the answer is always the earliest timer of any connection, exactly as the
//! scan gave it.
//!
//! The same marking logs the slot in a [`ChangeLog`]: a socket's readiness derives from its
//! slot alone, so a poller re-checks only the slots logged since it last asked.

use super::Sock;
use crate::changes::{ChangeGen, ChangeLog, Changes};
use crate::time::Instant;
use std::collections::BTreeSet;
use std::ops::{Deref, Index, IndexMut};

#[derive(Debug, Default)]
pub(super) struct Slots {
    slots: Vec<Option<Sock>>,
    /// Per slot: the deadline it is filed under in `timers`.
    filed: Vec<Option<Instant>>,
    /// Per slot: taken mutably since its deadline was last filed.
    changed: Vec<bool>,
    /// The slots with `changed` set.
    changed_list: Vec<usize>,
    /// (deadline, slot) of every connection with a timer, as last filed.
    timers: BTreeSet<(Instant, usize)>,
    /// Every slot taken mutably, for pollers (see [`Slots::changes_since`]).
    changes: ChangeLog,
}

impl Deref for Slots {
    type Target = [Option<Sock>];

    fn deref(&self) -> &[Option<Sock>] {
        &self.slots
    }
}

impl Index<usize> for Slots {
    type Output = Option<Sock>;

    fn index(&self, i: usize) -> &Option<Sock> {
        &self.slots[i]
    }
}

impl IndexMut<usize> for Slots {
    fn index_mut(&mut self, i: usize) -> &mut Option<Sock> {
        self.touch(i);
        &mut self.slots[i]
    }
}

/// The earliest timer of the connection in `slot`, if it holds one.
fn deadline(slot: Option<&Option<Sock>>) -> Option<Instant> {
    match slot {
        Some(Some(Sock::Conn(c))) => c.next_timer(),
        _ => None,
    }
}

impl Slots {
    /// Slot `i`, writable; marks it changed.
    pub(super) fn get_mut(&mut self, i: usize) -> Option<&mut Option<Sock>> {
        self.touch(i);
        self.slots.get_mut(i)
    }

    /// Adds a slot at the end.
    pub(super) fn push(&mut self, s: Option<Sock>) {
        self.slots.push(s);
        self.filed.push(None);
        self.changed.push(false);
        self.touch(self.slots.len() - 1);
    }

    fn touch(&mut self, i: usize) {
        self.changes.touch(i);
        if let Some(c) = self.changed.get_mut(i) {
            if !*c {
                *c = true;
                self.changed_list.push(i);
            }
        }
    }

    /// Calls `f` with every slot taken mutably since `since` (see [`ChangeLog::since`]).
    pub(super) fn changes_since(&mut self, since: ChangeGen, f: impl FnMut(usize)) -> Changes {
        self.changes.since(since, f)
    }

    /// Files the deadlines of the slots changed since the last call.
    pub(super) fn rearm(&mut self) {
        self.rearm_due(None, |_| {});
    }

    /// [`Self::rearm`], calling `due` with every changed slot whose deadline is at or before
    /// `now`: the work is in the changed slots only, however many deadlines are filed.
    pub(super) fn rearm_due(&mut self, now: Option<Instant>, mut due: impl FnMut(usize)) {
        for i in self.changed_list.drain(..) {
            self.changed[i] = false;
            let t = deadline(self.slots.get(i));
            if self.filed[i] != t {
                if let Some(old) = self.filed[i] {
                    self.timers.remove(&(old, i));
                }
                if let Some(t) = t {
                    self.timers.insert((t, i));
                }
                self.filed[i] = t;
            }
            if t.zip(now).is_some_and(|(t, now)| t <= now) {
                due(i);
            }
        }
    }

    /// The earliest timer of any connection: the earliest filed deadline of a slot not
    /// changed since, or a changed slot's own.
    pub(super) fn next_timer(&self) -> Option<Instant> {
        let filed = self
            .timers
            .iter()
            .find(|&&(_, i)| !self.changed[i])
            .map(|&(t, _)| t);
        let changed = self
            .changed_list
            .iter()
            .filter_map(|&i| deadline(self.slots.get(i)))
            .min();
        filed.into_iter().chain(changed).min()
    }

    /// The slots filed with a deadline at or before `now`, in slot order (after
    /// [`Self::rearm`], every connection whose timer is due).
    pub(super) fn due(&self, now: Instant) -> Vec<usize> {
        let mut v: Vec<usize> = self
            .timers
            .iter()
            .take_while(|&&(t, _)| t <= now)
            .map(|&(_, i)| i)
            .collect();
        v.sort_unstable();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netsim::{two_hosts, LinkConfig, Net};
    use crate::tcp::{Shutdown, TcpError, TcpHandle};
    use crate::{DeviceCaps, Stack};
    use std::net::SocketAddrV4;
    use std::time::Duration;

    /// What the scan of every connection gave: the earliest timer of any.
    fn scanned(s: &Stack) -> Option<Instant> {
        s.tcp.socks.iter().filter_map(|s| deadline(Some(s))).min()
    }

    fn check(stacks: &[Stack], when: &str) {
        for (k, s) in stacks.iter().enumerate() {
            assert_eq!(
                s.tcp.next_wakeup(),
                scanned(s),
                "stack {k}, {when}: the filed timers disagree with the connections'"
            );
        }
    }

    /// Two stacks through a busy life: handshakes, data both ways over a lossy link
    /// (retransmission and delayed-ACK timers), keepalive switched on, shutdown, close
    /// (FIN-WAIT, TIME-WAIT), abort (a slot freed and reused by the next connection), reads
    /// every `read_every` rounds. `check` sees the stacks in each of `rounds` rounds twice:
    /// right after the round's API calls (slots changed, not filed yet) and after the 3 ms
    /// of virtual time (polls) that follow.
    fn busy_life(rounds: u32, read_every: u32, mut check: impl FnMut(&mut [Stack], &str)) -> Net {
        let (mut net, _, _) = two_hosts(DeviceCaps::default(), Duration::from_millis(2));
        let lossy = LinkConfig::new(Duration::from_millis(2), 1500)
            .loss(0.05)
            .jitter(Duration::from_micros(300));
        net.set_link_config(0, lossy).unwrap();
        let server = SocketAddrV4::new(std::net::Ipv4Addr::new(10, 0, 0, 2), 80);
        let any = SocketAddrV4::new(std::net::Ipv4Addr::UNSPECIFIED, 80);
        let lis = net.stacks[1].tcp_listen(any, 64).unwrap();
        let mut clients: Vec<TcpHandle> = Vec::new();
        let mut servers: Vec<TcpHandle> = Vec::new();
        let data = vec![7u8; 20_000];
        let mut buf = vec![0u8; 65536];
        check(&mut net.stacks, "start");
        for round in 0..rounds {
            let now = net.now();
            match round % 40 {
                0..=2 => clients.push(net.stacks[0].tcp_connect(server, now).unwrap()),
                5 | 15 | 25 => {
                    for &c in &clients {
                        let _ = net.stacks[0].tcp_send(c, &data, now);
                    }
                }
                8 => {
                    for &c in &servers {
                        let _ = net.stacks[1].tcp_set_keepalive(c, true, now);
                        let _ = net.stacks[1].tcp_send(c, &data[..3000], now);
                    }
                }
                20 => {
                    if let Some(c) = clients.first().copied() {
                        let _ = net.stacks[0].tcp_shutdown(c, Shutdown::Write, now);
                    }
                }
                30 if !clients.is_empty() => {
                    let c = clients.remove(0);
                    let _ = net.stacks[0].tcp_close(c, now);
                }
                35 if !servers.is_empty() => {
                    let c = servers.remove(0);
                    let _ = net.stacks[1].tcp_abort(c, now);
                }
                _ => {}
            }
            while let Ok((h, _)) = net.stacks[1].tcp_accept(lis) {
                servers.push(h);
            }
            if round % read_every == 0 {
                for &c in &servers {
                    let _ = net.stacks[1].tcp_recv(c, &mut buf, now);
                }
                for &c in &clients {
                    let _ = net.stacks[0].tcp_recv(c, &mut buf, now);
                }
            }
            check(&mut net.stacks, &format!("round {round}, before the poll"));
            net.run_for(Duration::from_millis(3)).unwrap();
            check(&mut net.stacks, &format!("round {round}, after the poll"));
        }
        net
    }

    /// The filed deadlines always give the earliest timer the connections hold, whatever
    /// happened to them ([`busy_life`]), before and after the polls that file them.
    #[test]
    fn filed_timers_always_match_a_scan_of_every_connection() {
        let net = busy_life(400, 1, |stacks, when| check(stacks, when));
        // The run really had timers of every kind to file.
        let mib = net.stacks[0].tcp.mib;
        assert!(mib.retrans_segs > 0, "{mib:?}");
        assert!(net.stacks[0].tcp.socks.timers.len() + net.stacks[1].tcp.socks.timers.len() > 0);
    }

    /// Readiness never changes unseen: over the same life ([`busy_life`]), every socket whose
    /// [`Stack::tcp_readiness`] differs from when it was last looked at is among those
    /// [`Stack::tcp_changes`] lists, checked after the API calls and after each poll. A
    /// poller that re-checks only the listed sockets therefore misses nothing.
    #[test]
    fn every_readiness_change_is_in_the_change_log() {
        // Per stack: the readiness each slot had when last looked at, and the log's place.
        let mut seen: Vec<Vec<_>> = vec![Vec::new(), Vec::new()];
        let mut gens = [crate::changes::ChangeGen::default(); 2];
        let mut listed_total = 0;
        busy_life(300, 3, |stacks, when| {
            for (k, s) in stacks.iter_mut().enumerate() {
                let mut listed = Vec::new();
                let c = s.tcp_changes(gens[k], &mut listed);
                gens[k] = c.next;
                let n = s.tcp.socks.len() + 1;
                let now: Vec<_> = (0..n).map(|i| s.tcp_readiness(TcpHandle(i))).collect();
                if c.complete {
                    listed_total += listed.len();
                    for (i, r) in now.iter().enumerate() {
                        let before = seen[k].get(i).copied().unwrap_or(Err(TcpError::BadHandle));
                        assert!(
                            before == *r || listed.contains(&TcpHandle(i)),
                            "stack {k}, {when}: slot {i} went from {before:?} to {r:?} unlisted"
                        );
                    }
                }
                seen[k] = now;
            }
        });
        assert!(listed_total > 0);
    }
}
