//! IPv4 multicast membership and IGMP, as a Linux host runs them (`net/ipv4/igmp.c`): the
//! groups each interface joined, held by sockets and counted (`ip_mc_inc_group`,
//! `ip_mc_dec_group`), and the IGMPv3 host side of RFC 3376 that tells routers about them.
//!
//! - A group's first socket on an interface makes the interface join it: the link layer then
//!   accepts frames to the group's MAC ([`crate::wire::igmp::mc_mac`]) and IP input delivers
//!   datagrams to it (`ip_check_mc_rcu`). 224.0.0.1 is joined implicitly and never reported.
//! - Joining and leaving send unsolicited state-change reports to 224.0.0.22 (TTL 1, the
//!   router alert option, DF, TOS 0xc0 as `igmpv3_newpack` builds them): CHANGE_TO_EXCLUDE_MODE
//!   with no sources on join, CHANGE_TO_INCLUDE_MODE with no sources on leave, sent at once and
//!   repeated until [`ROBUSTNESS`] reports went out, [`UNSOLICITED_INTERVAL`] apart. Linux
//!   draws each repeat's delay at random up to that interval; here it is the interval itself,
//!   so the reports on the wire are predictable. A leave when a socket closes (a call that
//!   takes no time) is sent on the next [`Stack::poll`].
//! - A membership query is answered with current-state reports (MODE_IS_EXCLUDE, no
//!   sources) after a random delay up to its max response time: a general query with one
//!   report of every group on the interface, a group-specific one with that group's record,
//!   unless an earlier answer that covers it is already due (RFC 3376 §5.2).
//!
//! Not implemented: the IGMPv1/v2 compatibility modes of RFC 3376 §7.2 (a version 1 or 2
//! querier heard on the link should switch the host to that version's reports and leaves for
//! the Older Version Querier Present timeout). Queries of every version are answered with
//! version 3 reports; a router that only speaks version 1 or 2 ignores them. Source filters
//! (`IP_ADD_SOURCE_MEMBERSHIP`, INCLUDE mode) are not implemented either: every membership is
//! EXCLUDE mode with no sources, which is what `IP_ADD_MEMBERSHIP` asks for.

use crate::ip_output::{IpParams, OutRoute};
use crate::pktbuf::PacketBuf;
use crate::route::IfIndex;
use crate::stack::Stack;
use crate::time::Instant;
use crate::wire::igmp::{
    emit_v3_report, record_type, v3_report_len, IgmpRepr, Query, QueryVersion, ALL_HOSTS,
    ALL_V3_ROUTERS,
};
use crate::wire::ipv4::{option_kind, protocol, Ipv4Options, Ipv4Repr};
use std::net::Ipv4Addr;
use std::time::Duration;

/// Reports sent for one change of state (RFC 3376 §8.1, Linux `IGMP_QRV_DEFAULT`).
pub const ROBUSTNESS: u8 = 2;
/// Time between the repeats of a state-change report (RFC 3376 §8.11, Linux
/// `IGMP_V3_UNSOLICITED_REPORT_INTERVAL`).
pub const UNSOLICITED_INTERVAL: Duration = Duration::from_secs(1);
/// The max response time of a version 1 query, whose code field is zero (RFC 2236 §4).
const V1_MAX_RESP_DS: u32 = 100;
/// TOS of IGMP messages (Linux `igmpv3_newpack`: internetwork control).
const IGMP_TOS: u8 = 0xc0;

/// The interface of a membership (`struct ip_mreqn`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum McInterface {
    /// INADDR_ANY: the interface of the route to the group.
    Any,
    /// The interface that has this address (`imr_address`).
    Addr(Ipv4Addr),
    /// The interface with this index (`imr_ifindex`).
    Index(IfIndex),
}

/// What a pending report says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Report {
    /// A state-change record of this type, with repeats left.
    Change(u8),
    /// The current state, in answer to a query.
    Current,
}

#[derive(Debug, Clone, Copy)]
struct Pending {
    ifindex: IfIndex,
    /// The group; 0.0.0.0 for the answer to a general query (every group).
    group: Ipv4Addr,
    report: Report,
    /// Reports still to send (state changes; 1 for an answer).
    left: u8,
    at: Instant,
}

/// The IGMP state of a stack: reports waiting for their time.
#[derive(Debug, Default)]
pub(crate) struct Igmp {
    pending: Vec<Pending>,
    /// Random draws made for response delays.
    draws: u64,
}

impl Igmp {
    /// When the next report is due.
    pub(crate) fn next_wakeup(&self) -> Option<Instant> {
        self.pending.iter().map(|p| p.at).min()
    }
}

impl Stack {
    /// `ip_mc_find_dev`: the interface a membership is on. With [`McInterface::Any`] it is the
    /// interface of the route to the group; `None` when there is no such interface (Linux
    /// `ENODEV`).
    pub(crate) fn ip_mc_find_dev(&self, group: Ipv4Addr, on: McInterface) -> Option<IfIndex> {
        match on {
            McInterface::Index(i) => self.iface(i).map(|i| i.index),
            McInterface::Addr(a) if a.is_unspecified() => {
                self.ip_mc_find_dev(group, McInterface::Any)
            }
            McInterface::Addr(a) => self
                .ifaces
                .iter()
                .find(|i| i.addrs.iter().any(|&(x, _)| x == a))
                .map(|i| i.index),
            McInterface::Any => self.fib.lookup(group).ok().map(|nh| nh.ifindex),
        }
    }

    /// The interface `on` names, `None` when it names none ([`McInterface::Any`] or an
    /// address of 0.0.0.0), `Err` when it names one this host does not have: what a leave and
    /// `IP_MULTICAST_IF` take, where "any" is not looked up by route.
    pub(crate) fn ip_mc_named_dev(
        &self,
        group: Ipv4Addr,
        on: McInterface,
    ) -> Result<Option<IfIndex>, ()> {
        match on {
            McInterface::Any | McInterface::Addr(Ipv4Addr::UNSPECIFIED) => Ok(None),
            named => self.ip_mc_find_dev(group, named).map(Some).ok_or(()),
        }
    }

    /// True when interface `ifindex` receives datagrams to `group`.
    pub(crate) fn ip_mc_joined(&self, ifindex: IfIndex, group: Ipv4Addr) -> bool {
        self.iface(ifindex).is_some_and(|i| i.mc_joined(group))
    }

    /// `ip_mc_inc_group`: one more socket holds `group` on `ifindex`; the first makes the
    /// interface join and report it.
    pub(crate) fn ip_mc_inc_group(&mut self, ifindex: IfIndex, group: Ipv4Addr, now: Instant) {
        let Some(iface) = self.iface_mut(ifindex) else {
            return;
        };
        if let Some(m) = iface.mc_list.iter_mut().find(|m| m.0 == group) {
            m.1 += 1;
            return;
        }
        iface.mc_list.push((group, 1));
        self.igmp_state_change(
            ifindex,
            group,
            record_type::CHANGE_TO_EXCLUDE_MODE,
            Some(now),
        );
    }

    /// `ip_mc_dec_group`: a socket let go of `group` on `ifindex`; the last makes the
    /// interface leave and report it (at `now`, or on the next poll when `None`).
    pub(crate) fn ip_mc_dec_group(
        &mut self,
        ifindex: IfIndex,
        group: Ipv4Addr,
        now: Option<Instant>,
    ) {
        let Some(iface) = self.iface_mut(ifindex) else {
            return;
        };
        let Some(pos) = iface.mc_list.iter().position(|m| m.0 == group) else {
            return;
        };
        iface.mc_list[pos].1 -= 1;
        if iface.mc_list[pos].1 > 0 {
            return;
        }
        iface.mc_list.remove(pos);
        self.igmp_state_change(ifindex, group, record_type::CHANGE_TO_INCLUDE_MODE, now);
    }

    /// `igmp_ifc_event`: a state-change report replaces any still being repeated for the
    /// group and goes out now (or on the next poll), then [`ROBUSTNESS`] − 1 more times.
    fn igmp_state_change(
        &mut self,
        ifindex: IfIndex,
        group: Ipv4Addr,
        rec: u8,
        now: Option<Instant>,
    ) {
        if group == ALL_HOSTS {
            return;
        }
        self.igmp.pending.retain(|p| {
            !(p.ifindex == ifindex && p.group == group && matches!(p.report, Report::Change(_)))
        });
        self.igmp.pending.push(Pending {
            ifindex,
            group,
            report: Report::Change(rec),
            left: ROBUSTNESS,
            at: now.unwrap_or(Instant::ZERO),
        });
        if let Some(now) = now {
            self.igmp_timers(now);
        }
    }

    /// Sends the reports that are due at `now` (`igmp_ifc_timer_expire`,
    /// `igmp_timer_expire`).
    pub(crate) fn igmp_timers(&mut self, now: Instant) {
        if self.igmp.pending.iter().all(|p| p.at > now) {
            return;
        }
        let mut due = Vec::new();
        self.igmp.pending.retain_mut(|p| {
            if p.at > now {
                return true;
            }
            due.push(*p);
            p.left -= 1;
            p.at = now + UNSOLICITED_INTERVAL;
            p.left > 0
        });
        for p in due {
            match p.report {
                Report::Change(rec) => self.igmp_send_report(p.ifindex, &[(rec, p.group)], now),
                Report::Current => {
                    let Some(iface) = self.iface(p.ifindex) else {
                        continue;
                    };
                    let records: Vec<(u8, Ipv4Addr)> = iface
                        .mc_list
                        .iter()
                        .map(|&(g, _)| g)
                        .filter(|&g| g != ALL_HOSTS && (p.group.is_unspecified() || g == p.group))
                        .map(|g| (record_type::MODE_IS_EXCLUDE, g))
                        .collect();
                    if !records.is_empty() {
                        self.igmp_send_report(p.ifindex, &records, now);
                    }
                }
            }
        }
    }

    /// `igmpv3_sendpack`: version 3 reports carrying `records` out of `ifindex` to
    /// 224.0.0.22, as many as the MTU needs, from the interface's first address (0.0.0.0
    /// without one, RFC 3376 §4.2.13).
    fn igmp_send_report(&mut self, ifindex: IfIndex, records: &[(u8, Ipv4Addr)], now: Instant) {
        let Some(iface) = self.iface(ifindex) else {
            return;
        };
        let src = iface.addrs.first().map_or(Ipv4Addr::UNSPECIFIED, |a| a.0);
        let per_packet = (iface.mtu().saturating_sub(Ipv4Repr::MIN_LEN + 4) / 8)
            .saturating_sub(1)
            .max(1);
        for chunk in records.chunks(per_packet) {
            let len = v3_report_len(chunk.len());
            let mut pkt: PacketBuf = self.alloc(len);
            let Ok(buf) = pkt.put(len) else {
                self.snmp.link.tx_errors += 1;
                return;
            };
            if emit_v3_report(buf, chunk).is_err() {
                self.snmp.link.tx_errors += 1;
                return;
            }
            pkt.set_transport_header();
            let rt = OutRoute::on_link(ALL_V3_ROUTERS, src, ifindex);
            let p = IpParams {
                protocol: protocol::IGMP,
                tos: IGMP_TOS,
                ttl: 1,
                dont_frag: true,
                ident: None,
                options: Ipv4Options::raw(&[option_kind::ROUTER_ALERT, 4, 0, 0])
                    .unwrap_or_default(),
                mc_loop: false,
            };
            if self.ip_local_out(pkt, &rt, p, now).is_ok() {
                self.snmp.igmp.out_reports += 1;
            }
        }
    }

    /// `igmp_rcv`: `pkt` starts at the IGMP message. Malformed messages are counted and
    /// dropped; queries are answered; other hosts' reports are counted and ignored (a version
    /// 3 host does not suppress its own reports, RFC 3376 §5).
    pub(crate) fn igmp_rcv(&mut self, ifindex: IfIndex, mut pkt: PacketBuf, now: Instant) {
        self.snmp.igmp.in_msgs += 1;
        if pkt.nr_frags() > 0 && pkt.linearize().is_err() {
            self.snmp.igmp.in_errors += 1;
            return;
        }
        match IgmpRepr::parse(pkt.data()) {
            Err(_) => self.snmp.igmp.in_errors += 1,
            Ok(IgmpRepr::Query(q)) => {
                self.snmp.igmp.in_queries += 1;
                self.igmp_heard_query(ifindex, q, now);
            }
            Ok(IgmpRepr::OldReport { .. } | IgmpRepr::Leave { .. } | IgmpRepr::V3Report(_)) => {
                self.snmp.igmp.in_reports += 1
            }
        }
    }

    /// `igmp_heard_query`: schedules the answer at a random time up to the max response
    /// time, unless an answer covering it is due sooner.
    fn igmp_heard_query(&mut self, ifindex: IfIndex, q: Query, now: Instant) {
        let group = q.group;
        if !group.is_unspecified() && (!self.ip_mc_joined(ifindex, group) || group == ALL_HOSTS) {
            return;
        }
        if group.is_unspecified()
            && self
                .iface(ifindex)
                .is_none_or(|i| i.mc_list.iter().all(|&(g, _)| g == ALL_HOSTS))
        {
            return;
        }
        // Only a version 1 query's zero code means 10 s; a version 3 query's zero is answered
        // at once (Linux `igmp_heard_query`: `if (!max_delay) max_delay = 1`, one jiffy).
        let max_ds = match q.version {
            QueryVersion::V1 => V1_MAX_RESP_DS,
            QueryVersion::V2 | QueryVersion::V3 => q.max_resp_ds,
        };
        let max_ms = u64::from(max_ds) * 100;
        let draw = self.tcp.isn.port_random(protocol::IGMP, self.igmp.draws);
        self.igmp.draws = self.igmp.draws.wrapping_add(1);
        let delay = u64::from(draw).checked_rem(max_ms).unwrap_or(0);
        let at = now + Duration::from_millis(delay);
        let covered = self.igmp.pending.iter().any(|p| {
            p.ifindex == ifindex
                && p.report == Report::Current
                && (p.group.is_unspecified() || p.group == group)
                && p.at <= at
        });
        if covered {
            return;
        }
        // RFC 3376 §5.2: a general query replaces only a pending general answer (rule 2), a
        // group-specific one only the group's own answer due later (rule 4). Answers pending
        // for single groups stay: they are another query's, and Linux's general-query timer
        // leaves the groups' timers alone.
        self.igmp
            .pending
            .retain(|p| !(p.ifindex == ifindex && p.report == Report::Current && p.group == group));
        self.igmp.pending.push(Pending {
            ifindex,
            group,
            report: Report::Current,
            left: 1,
            at,
        });
    }
}
