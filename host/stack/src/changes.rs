//! Which sockets changed: the stack's half of an epoll ready list. Linux queues a socket on
//! every epoll watching it when its state changes (`sk_data_ready`, `sk_write_space`,
//! `sk_state_change` call `ep_poll_callback`), so `epoll_wait` looks only at those. Here every
//! mutable access to a socket's slot logs the slot, and a poller asks for the slots logged
//! since it last asked ([`crate::Stack::tcp_changes`], [`crate::Stack::udp_changes`]): it
//! needs to re-check only those, and the ones it found ready last time (level-triggered).
//!
//! The log is bounded: a poller that asks too rarely is told it fell behind
//! ([`Changes::complete`] false) and re-checks everything.

use std::collections::VecDeque;

/// The most entries a log keeps; older ones are dropped (and a poller that needed them is told
/// to re-check everything).
pub(crate) const LOG_CAPACITY: usize = 64 * 1024;

/// A point in a change log, from [`Changes::next`]. The default is older than any log: asked
/// with it, a log answers "re-check everything".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct ChangeGen(u64);

/// What a change log answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Changes {
    /// Pass this next time: the changes after this answer.
    pub next: ChangeGen,
    /// True when the handles of every socket changed since the generation asked about were
    /// listed; false when the log no longer reaches back that far (or the generation is not
    /// one it gave): nothing was listed and any socket may have changed.
    pub complete: bool,
}

/// The slots changed, by generation. A slot is logged at most once per generation; a
/// generation ends each time the log is read.
#[derive(Debug)]
pub(crate) struct ChangeLog {
    /// The generation new entries are logged under.
    gen: u64,
    /// The oldest generation whose entries are all still in `log`.
    floor: u64,
    /// (generation, slot), oldest first.
    log: VecDeque<(u64, usize)>,
    /// Per slot: the generation it was last logged under (0: never).
    logged: Vec<u64>,
    cap: usize,
}

impl Default for ChangeLog {
    fn default() -> Self {
        ChangeLog::with_capacity(LOG_CAPACITY)
    }
}

impl ChangeLog {
    /// A log keeping at most `cap` entries (at least one).
    pub(crate) fn with_capacity(cap: usize) -> ChangeLog {
        ChangeLog {
            gen: 1,
            floor: 1,
            log: VecDeque::new(),
            logged: Vec::new(),
            cap: cap.max(1),
        }
    }

    /// Slot `i` may have changed.
    pub(crate) fn touch(&mut self, i: usize) {
        if self.logged.len() <= i {
            self.logged.resize(i + 1, 0);
        }
        if self.logged[i] == self.gen {
            return;
        }
        self.logged[i] = self.gen;
        self.log.push_back((self.gen, i));
        if self.log.len() > self.cap {
            if let Some((g, _)) = self.log.pop_front() {
                // Entries of generation `g` may remain, but not all of them.
                self.floor = self.floor.max(g + 1);
            }
        }
    }

    /// Calls `f` with each slot changed since `since` (a slot may come more than once),
    /// unless the log no longer reaches back that far, and starts a new generation.
    pub(crate) fn since(&mut self, since: ChangeGen, mut f: impl FnMut(usize)) -> Changes {
        let complete = since.0 >= self.floor && since.0 <= self.gen;
        if complete {
            let start = self.log.partition_point(|&(g, _)| g < since.0);
            for &(_, i) in self.log.range(start..) {
                f(i);
            }
        }
        self.gen += 1;
        Changes {
            next: ChangeGen(self.gen),
            complete,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(log: &mut ChangeLog, since: ChangeGen) -> (Vec<usize>, Changes) {
        let mut v = Vec::new();
        let c = log.since(since, |i| v.push(i));
        v.sort_unstable();
        (v, c)
    }

    #[test]
    fn lists_the_slots_touched_since_each_reader_last_asked() {
        let mut log = ChangeLog::default();
        // A reader that never asked re-checks everything.
        let (v, a) = read(&mut log, ChangeGen::default());
        assert!(!a.complete && v.is_empty());
        log.touch(3);
        log.touch(3);
        log.touch(7);
        let (v, a2) = read(&mut log, a.next);
        assert!(a2.complete);
        assert_eq!(v, vec![3, 7]);
        // A second reader, behind the first, still sees what the first already took.
        let (_, b) = read(&mut log, ChangeGen::default());
        log.touch(1);
        let (v, a3) = read(&mut log, a2.next);
        assert_eq!((v, a3.complete), (vec![1], true));
        log.touch(3);
        let (v, b2) = read(&mut log, b.next);
        assert_eq!((v, b2.complete), (vec![1, 3], true));
        let (v, a4) = read(&mut log, a3.next);
        assert_eq!((v, a4.complete), (vec![3], true));
        // Nothing touched: nothing listed.
        let (v, a5) = read(&mut log, a4.next);
        assert_eq!((v, a5.complete), (vec![], true));
    }

    #[test]
    fn a_reader_the_bounded_log_no_longer_reaches_is_told_to_rescan() {
        let mut log = ChangeLog::with_capacity(4);
        let (_, slow) = read(&mut log, ChangeGen::default());
        let (_, mut fast) = read(&mut log, ChangeGen::default());
        for i in 0..6 {
            log.touch(i);
            let (v, c) = read(&mut log, fast.next);
            assert_eq!((v, c.complete), (vec![i], true));
            fast = c;
        }
        let (v, c) = read(&mut log, slow.next);
        assert!(!c.complete && v.is_empty(), "{v:?}");
        // From the answer on, it is listed again.
        log.touch(9);
        let (v, c2) = read(&mut log, c.next);
        assert_eq!((v, c2.complete), (vec![9], true));
    }

    #[test]
    fn a_slot_whose_only_entry_was_dropped_is_not_lost() {
        let mut log = ChangeLog::with_capacity(2);
        let (_, r) = read(&mut log, ChangeGen::default());
        log.touch(0);
        log.touch(1);
        log.touch(2); // drops slot 0's entry
        log.touch(0); // already logged this generation: not logged again
        let (v, c) = read(&mut log, r.next);
        assert!(!c.complete && v.is_empty());
    }

    #[test]
    fn a_generation_the_log_never_gave_is_not_trusted() {
        let mut log = ChangeLog::default();
        log.touch(2);
        let (v, c) = read(&mut log, ChangeGen(u64::MAX));
        assert!(!c.complete && v.is_empty());
    }
}
