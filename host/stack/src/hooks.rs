//! Netfilter hook points: ordered lists of hook functions at the five places of the IPv4 path
//! (Linux `nf_register_net_hook`, `nf_hook_slow`).
//!
//! The IPv4 path calls [`Hooks::run`] at each point:
//! - [`HookPoint::PreRouting`]: every received packet, after `ip_rcv` validation, before routing;
//! - [`HookPoint::Input`]: packets routed to this host, before local delivery;
//! - [`HookPoint::Forward`]: packets routed through this host;
//! - [`HookPoint::Output`]: locally generated packets, after routing;
//! - [`HookPoint::PostRouting`]: every packet about to leave, before the neighbour layer.
//!
//! Each point holds hook functions ordered by priority, lower first (the `NF_IP_PRI_*` values in
//! [`priority`]: conntrack at -200 runs before NAT at -100, before filtering at 0); equal
//! priorities run in registration order. A hook returns a [`Verdict`]; traversal stops at the
//! first that is not [`Verdict::Accept`]. The rule engine, connection tracking and NAT of a later
//! issue register themselves here; this module is only the machinery.
//!
//! Hooks receive `&mut P`, so a hook may rewrite the packet (mangle, NAT) for the hooks after
//! it. [`Verdict::Stolen`] means the hook took charge of the packet (queued or consumed it): the
//! caller must stop processing it and must not count it as dropped.

use crate::route::IfIndex;
use std::fmt;

/// The five IPv4 hook points (`NF_INET_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HookPoint {
    /// Before the routing decision on receive.
    PreRouting,
    /// Before local delivery.
    Input,
    /// For packets being forwarded.
    Forward,
    /// For locally generated packets.
    Output,
    /// Before a packet is handed to the neighbour layer and the device.
    PostRouting,
}

impl HookPoint {
    /// All points in path order.
    pub const ALL: [HookPoint; 5] = [
        HookPoint::PreRouting,
        HookPoint::Input,
        HookPoint::Forward,
        HookPoint::Output,
        HookPoint::PostRouting,
    ];

    fn index(self) -> usize {
        self as usize
    }
}

/// Standard priorities (`enum nf_ip_hook_priorities`): lower runs first.
pub mod priority {
    /// Runs before everything.
    pub const FIRST: i32 = i32::MIN;
    /// The raw table, before defragmentation.
    pub const RAW_BEFORE_DEFRAG: i32 = -450;
    /// Defragmentation for connection tracking.
    pub const CONNTRACK_DEFRAG: i32 = -400;
    /// The raw table.
    pub const RAW: i32 = -300;
    /// Connection tracking.
    pub const CONNTRACK: i32 = -200;
    /// The mangle table.
    pub const MANGLE: i32 = -150;
    /// Destination NAT.
    pub const NAT_DST: i32 = -100;
    /// The filter table.
    pub const FILTER: i32 = 0;
    /// The security table.
    pub const SECURITY: i32 = 50;
    /// Source NAT.
    pub const NAT_SRC: i32 = 100;
    /// Connection-tracking helpers.
    pub const CONNTRACK_HELPER: i32 = 300;
    /// Runs after everything (conntrack confirmation).
    pub const LAST: i32 = i32::MAX;
}

/// What a hook decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// Continue with the next hook, or with the path when this was the last.
    Accept,
    /// Drop the packet (the caller frees it and counts the drop).
    Drop,
    /// The hook took the packet; the caller stops without counting a drop.
    Stolen,
}

/// Where a packet is, for the hooks to look at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HookContext {
    /// The hook point being traversed.
    pub hook: HookPoint,
    /// The interface the packet came in on (PreRouting, Input, Forward);
    /// [`crate::loopback::LOOPBACK_IFINDEX`] for 127/8 traffic, which the implicit `lo`
    /// carries.
    pub in_if: Option<IfIndex>,
    /// The interface it will leave by (Forward, Output, PostRouting), `lo`'s likewise.
    pub out_if: Option<IfIndex>,
}

impl HookContext {
    /// Context for PreRouting.
    pub fn prerouting(in_if: IfIndex) -> Self {
        HookContext {
            hook: HookPoint::PreRouting,
            in_if: Some(in_if),
            out_if: None,
        }
    }
    /// Context for Input.
    pub fn input(in_if: IfIndex) -> Self {
        HookContext {
            hook: HookPoint::Input,
            in_if: Some(in_if),
            out_if: None,
        }
    }
    /// Context for Forward.
    pub fn forward(in_if: IfIndex, out_if: IfIndex) -> Self {
        HookContext {
            hook: HookPoint::Forward,
            in_if: Some(in_if),
            out_if: Some(out_if),
        }
    }
    /// Context for Output.
    pub fn output(out_if: IfIndex) -> Self {
        HookContext {
            hook: HookPoint::Output,
            in_if: None,
            out_if: Some(out_if),
        }
    }
    /// Context for PostRouting; `in_if` is set for forwarded packets.
    pub fn postrouting(in_if: Option<IfIndex>, out_if: IfIndex) -> Self {
        HookContext {
            hook: HookPoint::PostRouting,
            in_if,
            out_if: Some(out_if),
        }
    }
}

/// A hook function. `Send` so a stack can move to its poller thread.
pub type HookFn<P> = Box<dyn FnMut(&mut P, &HookContext) -> Verdict + Send>;

/// Names one registered hook, for unregistering it and reading its counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HookHandle(u64);

/// Why a hook could not be unregistered or looked up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HookError {
    /// No hook is registered under this handle (never was, or already unregistered).
    #[error("no hook registered with handle {0:?}")]
    UnknownHandle(HookHandle),
}

/// Packets and verdicts counted at one hook point, or by one hook.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HookStats {
    /// Packets that traversed (or entered) it.
    pub packets: u64,
    /// Packets that came out accepted.
    pub accepted: u64,
    /// Packets dropped.
    pub dropped: u64,
    /// Packets stolen.
    pub stolen: u64,
}

impl HookStats {
    fn count(&mut self, v: Verdict) {
        self.packets += 1;
        match v {
            Verdict::Accept => self.accepted += 1,
            Verdict::Drop => self.dropped += 1,
            Verdict::Stolen => self.stolen += 1,
        }
    }
}

struct Entry<P> {
    handle: HookHandle,
    priority: i32,
    name: String,
    f: HookFn<P>,
    stats: HookStats,
}

/// The hook lists of one stack, for packets of type `P`.
pub struct Hooks<P> {
    lists: [Vec<Entry<P>>; 5],
    stats: [HookStats; 5],
    next_handle: u64,
}

impl<P> Default for Hooks<P> {
    fn default() -> Self {
        Hooks::new()
    }
}

impl<P> fmt::Debug for Hooks<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut m = f.debug_map();
        for (point, list) in HookPoint::ALL.iter().zip(&self.lists) {
            let names: Vec<(i32, &str)> =
                list.iter().map(|e| (e.priority, e.name.as_str())).collect();
            m.entry(point, &names);
        }
        m.finish()
    }
}

impl<P> Hooks<P> {
    /// No hooks anywhere: every packet is accepted.
    pub fn new() -> Self {
        Hooks {
            lists: Default::default(),
            stats: [HookStats::default(); 5],
            next_handle: 1,
        }
    }

    /// Adds `f` at `point` with `priority`; it runs after every hook of lower or equal
    /// priority already there. `name` is for listings.
    pub fn register<F>(&mut self, point: HookPoint, priority: i32, name: &str, f: F) -> HookHandle
    where
        F: FnMut(&mut P, &HookContext) -> Verdict + Send + 'static,
    {
        let handle = HookHandle(self.next_handle);
        self.next_handle += 1;
        let list = &mut self.lists[point.index()];
        let at = list.partition_point(|e| e.priority <= priority);
        list.insert(
            at,
            Entry {
                handle,
                priority,
                name: name.to_owned(),
                f: Box::new(f),
                stats: HookStats::default(),
            },
        );
        handle
    }

    /// Removes the hook registered under `handle`.
    pub fn unregister(&mut self, handle: HookHandle) -> Result<(), HookError> {
        for list in &mut self.lists {
            if let Some(i) = list.iter().position(|e| e.handle == handle) {
                list.remove(i);
                return Ok(());
            }
        }
        Err(HookError::UnknownHandle(handle))
    }

    /// Number of hooks at `point`.
    pub fn len(&self, point: HookPoint) -> usize {
        self.lists[point.index()].len()
    }

    /// True when no hook is registered anywhere.
    pub fn is_empty(&self) -> bool {
        self.lists.iter().all(Vec::is_empty)
    }

    /// The hooks at `point` in run order, as (priority, name).
    pub fn list(&self, point: HookPoint) -> Vec<(i32, String)> {
        self.lists[point.index()]
            .iter()
            .map(|e| (e.priority, e.name.clone()))
            .collect()
    }

    /// Counters of the hook point.
    pub fn stats(&self, point: HookPoint) -> &HookStats {
        &self.stats[point.index()]
    }

    /// Counters of one hook: packets it saw and the verdicts it gave.
    pub fn hook_stats(&self, handle: HookHandle) -> Result<HookStats, HookError> {
        self.lists
            .iter()
            .flatten()
            .find(|e| e.handle == handle)
            .map(|e| e.stats)
            .ok_or(HookError::UnknownHandle(handle))
    }

    /// Runs the hooks of `ctx.hook` on `packet` in priority order and returns the verdict:
    /// `Accept` when every hook accepted (or there are none), else the first other verdict.
    pub fn run(&mut self, packet: &mut P, ctx: &HookContext) -> Verdict {
        let i = ctx.hook.index();
        let mut verdict = Verdict::Accept;
        for e in &mut self.lists[i] {
            verdict = (e.f)(packet, ctx);
            e.stats.count(verdict);
            if verdict != Verdict::Accept {
                break;
            }
        }
        self.stats[i].count(verdict);
        verdict
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A test packet: a trace of the hooks that saw it, and a mark hooks may change.
    #[derive(Debug, Default)]
    struct Pkt {
        trace: Vec<&'static str>,
        mark: u32,
    }

    fn tracer(tag: &'static str, v: Verdict) -> impl FnMut(&mut Pkt, &HookContext) -> Verdict {
        move |p: &mut Pkt, _: &HookContext| {
            p.trace.push(tag);
            v
        }
    }

    const IN: HookContext = HookContext {
        hook: HookPoint::Input,
        in_if: Some(1),
        out_if: None,
    };

    #[test]
    fn no_hooks_accepts_and_counts() {
        let mut h: Hooks<Pkt> = Hooks::new();
        let mut p = Pkt::default();
        assert_eq!(h.run(&mut p, &IN), Verdict::Accept);
        assert_eq!(h.stats(HookPoint::Input).accepted, 1);
        assert!(h.is_empty());
    }

    #[test]
    fn hooks_run_lowest_priority_first() {
        let mut h: Hooks<Pkt> = Hooks::new();
        h.register(
            HookPoint::Input,
            priority::FILTER,
            "filter",
            tracer("filter", Verdict::Accept),
        );
        h.register(
            HookPoint::Input,
            priority::NAT_SRC,
            "snat",
            tracer("snat", Verdict::Accept),
        );
        h.register(
            HookPoint::Input,
            priority::CONNTRACK,
            "ct",
            tracer("ct", Verdict::Accept),
        );
        h.register(
            HookPoint::Input,
            priority::MANGLE,
            "mangle",
            tracer("mangle", Verdict::Accept),
        );
        let mut p = Pkt::default();
        assert_eq!(h.run(&mut p, &IN), Verdict::Accept);
        assert_eq!(p.trace, vec!["ct", "mangle", "filter", "snat"]);
        let names: Vec<String> = h.list(HookPoint::Input).into_iter().map(|x| x.1).collect();
        assert_eq!(names, vec!["ct", "mangle", "filter", "snat"]);
    }

    #[test]
    fn equal_priorities_run_in_registration_order() {
        let mut h: Hooks<Pkt> = Hooks::new();
        h.register(HookPoint::Input, 0, "a", tracer("a", Verdict::Accept));
        h.register(HookPoint::Input, 0, "b", tracer("b", Verdict::Accept));
        h.register(HookPoint::Input, -1, "c", tracer("c", Verdict::Accept));
        h.register(HookPoint::Input, 0, "d", tracer("d", Verdict::Accept));
        let mut p = Pkt::default();
        h.run(&mut p, &IN);
        assert_eq!(p.trace, vec!["c", "a", "b", "d"]);
    }

    #[test]
    fn drop_stops_traversal_and_is_counted() {
        let mut h: Hooks<Pkt> = Hooks::new();
        let first = h.register(HookPoint::Input, -10, "a", tracer("a", Verdict::Accept));
        let dropper = h.register(HookPoint::Input, 0, "drop", tracer("drop", Verdict::Drop));
        let never = h.register(
            HookPoint::Input,
            10,
            "late",
            tracer("late", Verdict::Accept),
        );
        let mut p = Pkt::default();
        assert_eq!(h.run(&mut p, &IN), Verdict::Drop);
        assert_eq!(p.trace, vec!["a", "drop"]);
        let s = h.stats(HookPoint::Input);
        assert_eq!((s.packets, s.dropped, s.accepted), (1, 1, 0));
        assert_eq!(h.hook_stats(first).unwrap().accepted, 1);
        assert_eq!(h.hook_stats(dropper).unwrap().dropped, 1);
        assert_eq!(h.hook_stats(never).unwrap().packets, 0);
    }

    #[test]
    fn stolen_stops_traversal_and_is_not_a_drop() {
        let mut h: Hooks<Pkt> = Hooks::new();
        h.register(
            HookPoint::Forward,
            0,
            "queue",
            tracer("queue", Verdict::Stolen),
        );
        h.register(HookPoint::Forward, 1, "late", tracer("late", Verdict::Drop));
        let mut p = Pkt::default();
        assert_eq!(h.run(&mut p, &HookContext::forward(1, 2)), Verdict::Stolen);
        assert_eq!(p.trace, vec!["queue"]);
        let s = h.stats(HookPoint::Forward);
        assert_eq!((s.stolen, s.dropped), (1, 0));
    }

    #[test]
    fn a_hook_can_rewrite_the_packet_for_later_hooks() {
        let mut h: Hooks<Pkt> = Hooks::new();
        h.register(
            HookPoint::PreRouting,
            priority::MANGLE,
            "mark",
            |p: &mut Pkt, _: &HookContext| {
                p.mark = 42;
                Verdict::Accept
            },
        );
        h.register(
            HookPoint::PreRouting,
            priority::FILTER,
            "drop-marked",
            |p: &mut Pkt, _: &HookContext| {
                if p.mark == 42 {
                    Verdict::Drop
                } else {
                    Verdict::Accept
                }
            },
        );
        let mut p = Pkt::default();
        assert_eq!(h.run(&mut p, &HookContext::prerouting(1)), Verdict::Drop);
        assert_eq!(p.mark, 42);
    }

    #[test]
    fn hooks_see_the_interfaces_of_their_point() {
        let mut h: Hooks<Pkt> = Hooks::new();
        h.register(
            HookPoint::Forward,
            0,
            "no-1-to-2",
            |_: &mut Pkt, c: &HookContext| {
                if c.in_if == Some(1) && c.out_if == Some(2) {
                    Verdict::Drop
                } else {
                    Verdict::Accept
                }
            },
        );
        let mut p = Pkt::default();
        assert_eq!(h.run(&mut p, &HookContext::forward(1, 2)), Verdict::Drop);
        assert_eq!(h.run(&mut p, &HookContext::forward(2, 1)), Verdict::Accept);
        // Other points are untouched by a Forward hook.
        assert_eq!(h.run(&mut p, &HookContext::output(2)), Verdict::Accept);
        assert_eq!(
            h.run(&mut p, &HookContext::postrouting(Some(1), 2)),
            Verdict::Accept
        );
        assert_eq!(h.stats(HookPoint::Forward).packets, 2);
        assert_eq!(h.stats(HookPoint::Output).packets, 1);
        assert_eq!(h.stats(HookPoint::PostRouting).packets, 1);
        assert_eq!(h.stats(HookPoint::Input).packets, 0);
    }

    #[test]
    fn unregistering_removes_the_hook() {
        let mut h: Hooks<Pkt> = Hooks::new();
        let d = h.register(HookPoint::Output, 0, "drop", tracer("drop", Verdict::Drop));
        let mut p = Pkt::default();
        assert_eq!(h.run(&mut p, &HookContext::output(1)), Verdict::Drop);
        h.unregister(d).unwrap();
        assert_eq!(h.run(&mut p, &HookContext::output(1)), Verdict::Accept);
        assert_eq!(h.unregister(d), Err(HookError::UnknownHandle(d)));
        assert_eq!(h.hook_stats(d), Err(HookError::UnknownHandle(d)));
        assert_eq!(h.len(HookPoint::Output), 0);
    }

    #[test]
    fn stateful_hook_keeps_its_state() {
        let mut h: Hooks<Pkt> = Hooks::new();
        let mut seen = 0u32;
        // Let the first two packets through, drop the rest: a tiny rate limit.
        h.register(
            HookPoint::Input,
            0,
            "first-two",
            move |_: &mut Pkt, _: &HookContext| {
                seen += 1;
                if seen <= 2 {
                    Verdict::Accept
                } else {
                    Verdict::Drop
                }
            },
        );
        let verdicts: Vec<Verdict> = (0..4).map(|_| h.run(&mut Pkt::default(), &IN)).collect();
        assert_eq!(
            verdicts,
            vec![
                Verdict::Accept,
                Verdict::Accept,
                Verdict::Drop,
                Verdict::Drop
            ]
        );
        let s = h.stats(HookPoint::Input);
        assert_eq!((s.accepted, s.dropped), (2, 2));
    }

    #[test]
    fn debug_lists_hooks_by_point() {
        let mut h: Hooks<Pkt> = Hooks::new();
        h.register(HookPoint::Input, 0, "filter", tracer("f", Verdict::Accept));
        let s = format!("{h:?}");
        assert!(s.contains("Input: [(0, \"filter\")]"), "{s}");
    }
}
