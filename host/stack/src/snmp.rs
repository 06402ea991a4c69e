//! Per-stack counters named like Linux's `/proc/net/snmp` (RFC 4293 `ipSystemStats`, RFC 4022
//! `icmp`/`udp` groups). [`Snmp`]'s `Display` prints them in `/proc/net/snmp`'s layout, so
//! tools and people that read the kernel's file read this one.

use core::fmt;

/// The `Ip:` line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IpMib {
    /// Datagrams received from interfaces, including those in error (`InReceives`).
    pub in_receives: u64,
    /// Dropped for header errors: bad version, IHL, length, checksum, malformed options, TTL
    /// expired on forward (`InHdrErrors`).
    pub in_hdr_errors: u64,
    /// Dropped because the destination is not ours and forwarding is off, or has no route
    /// (`InAddrErrors`).
    pub in_addr_errors: u64,
    /// Dropped on input for lack of a route (`InNoRoutes`, from `/proc/net/netstat`).
    pub in_no_routes: u64,
    /// Forwarded (`ForwDatagrams`).
    pub forw_datagrams: u64,
    /// Delivered locally to a protocol this stack has no handler for (`InUnknownProtos`).
    pub in_unknown_protos: u64,
    /// Dropped for no error in the packet: hooks, no buffers (`InDiscards`).
    pub in_discards: u64,
    /// Delivered to ICMP/UDP/TCP (`InDelivers`).
    pub in_delivers: u64,
    /// Locally generated datagrams handed to IP output (`OutRequests`).
    pub out_requests: u64,
    /// Locally generated datagrams dropped on output (hooks, queue full) (`OutDiscards`).
    pub out_discards: u64,
    /// Locally generated datagrams with no route (`OutNoRoutes`).
    pub out_no_routes: u64,
    /// Fragments received for reassembly (`ReasmReqds`).
    pub reasm_reqds: u64,
    /// Datagrams reassembled (`ReasmOKs`).
    pub reasm_oks: u64,
    /// Reassembly failures (`ReasmFails`).
    pub reasm_fails: u64,
    /// Reassembly timeouts (`ReasmTimeout`).
    pub reasm_timeout: u64,
    /// Datagrams fragmented (`FragOKs`).
    pub frag_oks: u64,
    /// Datagrams that needed fragmenting and had DF set (`FragFails`).
    pub frag_fails: u64,
    /// Fragments created (`FragCreates`).
    pub frag_creates: u64,
    /// Datagrams cut short: total length over the bytes received (`InTruncatedPkts`).
    pub in_truncated_pkts: u64,
    /// Datagrams for a checksum error in the IP header (`InCsumErrors`; also in
    /// `in_hdr_errors`).
    pub in_csum_errors: u64,
    /// Datagrams with a source-route option dropped because source routing is not accepted.
    /// Linux counts these in no MIB (it logs them as martians and drops with reason
    /// `IP_INHDR`), so this column is not in the `Ip:` line.
    pub in_src_route_drops: u64,
}

/// The `Icmp:` line (only the columns a stack of this size sends or receives).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IcmpMib {
    /// ICMP messages received (`InMsgs`).
    pub in_msgs: u64,
    /// Received with a bad checksum or malformed (`InErrors`).
    pub in_errors: u64,
    /// Checksum errors (`InCsumErrors`).
    pub in_csum_errors: u64,
    /// Destination unreachable received (`InDestUnreachs`).
    pub in_dest_unreachs: u64,
    /// Time exceeded received (`InTimeExcds`).
    pub in_time_excds: u64,
    /// Parameter problems received (`InParmProbs`).
    pub in_parm_probs: u64,
    /// Echo requests received (`InEchos`).
    pub in_echos: u64,
    /// Echo replies received (`InEchoReps`).
    pub in_echo_reps: u64,
    /// ICMP messages sent (`OutMsgs`).
    pub out_msgs: u64,
    /// Errors that could not be sent: rate limited or no route (`OutErrors`; Linux counts
    /// the rate limited ones in `OutRateLimit*` too).
    pub out_errors: u64,
    /// Rate-limited errors not sent (`OutRateLimitHost` + `OutRateLimitGlobal`).
    pub out_rate_limited: u64,
    /// Destination unreachable sent (`OutDestUnreachs`).
    pub out_dest_unreachs: u64,
    /// Time exceeded sent (`OutTimeExcds`).
    pub out_time_excds: u64,
    /// Parameter problems sent (`OutParmProbs`).
    pub out_parm_probs: u64,
    /// Echo requests sent (`OutEchos`).
    pub out_echos: u64,
    /// Echo replies sent (`OutEchoReps`).
    pub out_echo_reps: u64,
}

/// The `Udp:` line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UdpMib {
    /// Datagrams delivered to sockets (`InDatagrams`).
    pub in_datagrams: u64,
    /// Unicast datagrams to a port nobody listens on (`NoPorts`).
    pub no_ports: u64,
    /// Datagrams dropped for errors: malformed, bad checksum, receive queue full
    /// (`InErrors`).
    pub in_errors: u64,
    /// Datagrams sent (`OutDatagrams`).
    pub out_datagrams: u64,
    /// Dropped because the socket's receive queue was full (`RcvbufErrors`; also in
    /// `in_errors`).
    pub rcvbuf_errors: u64,
    /// Checksum errors (`InCsumErrors`; also in `in_errors`).
    pub in_csum_errors: u64,
    /// Broadcast and multicast datagrams no socket took (`IgnoredMulti`, Linux
    /// `__udp4_lib_mcast_deliver`): not `NoPorts`, and never answered with a port unreachable.
    pub ignored_multi: u64,
}

/// Link-layer drops the stack counts (Linux keeps these per device: `rx_dropped`,
/// `rx_nohandler`, and the ARP-specific drops).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkMib {
    /// Frames shorter than an Ethernet header.
    pub rx_runt: u64,
    /// Frames with an EtherType this stack has no handler for (`rx_nohandler`).
    pub rx_nohandler: u64,
    /// Frames for another MAC address (`PACKET_OTHERHOST`).
    pub rx_otherhost: u64,
    /// Frames tagged with a VLAN the interface is not on.
    pub rx_vlan_unknown: u64,
    /// ARP packets that did not parse.
    pub arp_malformed: u64,
    /// Frames the qdisc refused.
    pub tx_qdisc_drops: u64,
    /// Packets that could not be built or finished for lack of buffer space.
    pub tx_errors: u64,
}

/// IGMP messages in and out (Linux keeps no `Igmp:` line in `/proc/net/snmp`; these are what
/// `IcmpMsg`-style counters would say about protocol 2).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IgmpMib {
    /// IGMP messages received, malformed ones included.
    pub in_msgs: u64,
    /// Messages dropped as malformed: too short, a bad length or checksum, an unknown type.
    pub in_errors: u64,
    /// Membership queries that parsed, of any version, whether answered or not: one about a
    /// group the interface did not join, or heard with no group joined, is counted and asks
    /// nothing of this host.
    pub in_queries: u64,
    /// Reports and leaves of other hosts received (a version 3 host ignores them).
    pub in_reports: u64,
    /// Reports sent (state-change and current-state).
    pub out_reports: u64,
}

/// All counters of one stack.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Snmp {
    /// `Ip:`.
    pub ip: IpMib,
    /// `Icmp:`.
    pub icmp: IcmpMib,
    /// `Udp:`.
    pub udp: UdpMib,
    /// `Tcp:` and the TCP part of `TcpExt:`.
    pub tcp: crate::tcp::TcpMib,
    /// Link-layer drops.
    pub link: LinkMib,
    /// IGMP (not printed: `/proc/net/snmp` has no such line).
    pub igmp: IgmpMib,
}

fn line(f: &mut fmt::Formatter<'_>, group: &str, cols: &[(&str, u64)]) -> fmt::Result {
    write!(f, "{group}:")?;
    for (name, _) in cols {
        write!(f, " {name}")?;
    }
    writeln!(f)?;
    write!(f, "{group}:")?;
    for (_, v) in cols {
        write!(f, " {v}")?;
    }
    writeln!(f)
}

impl fmt::Display for Snmp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ip = &self.ip;
        line(
            f,
            "Ip",
            &[
                ("InReceives", ip.in_receives),
                ("InHdrErrors", ip.in_hdr_errors),
                ("InAddrErrors", ip.in_addr_errors),
                ("ForwDatagrams", ip.forw_datagrams),
                ("InUnknownProtos", ip.in_unknown_protos),
                ("InDiscards", ip.in_discards),
                ("InDelivers", ip.in_delivers),
                ("OutRequests", ip.out_requests),
                ("OutDiscards", ip.out_discards),
                ("OutNoRoutes", ip.out_no_routes),
                ("ReasmTimeout", ip.reasm_timeout),
                ("ReasmReqds", ip.reasm_reqds),
                ("ReasmOKs", ip.reasm_oks),
                ("ReasmFails", ip.reasm_fails),
                ("FragOKs", ip.frag_oks),
                ("FragFails", ip.frag_fails),
                ("FragCreates", ip.frag_creates),
                ("InTruncatedPkts", ip.in_truncated_pkts),
                ("InCsumErrors", ip.in_csum_errors),
                ("InNoRoutes", ip.in_no_routes),
            ],
        )?;
        let ic = &self.icmp;
        line(
            f,
            "Icmp",
            &[
                ("InMsgs", ic.in_msgs),
                ("InErrors", ic.in_errors),
                ("InCsumErrors", ic.in_csum_errors),
                ("InDestUnreachs", ic.in_dest_unreachs),
                ("InTimeExcds", ic.in_time_excds),
                ("InParmProbs", ic.in_parm_probs),
                ("InEchos", ic.in_echos),
                ("InEchoReps", ic.in_echo_reps),
                ("OutMsgs", ic.out_msgs),
                ("OutErrors", ic.out_errors),
                ("OutRateLimit", ic.out_rate_limited),
                ("OutDestUnreachs", ic.out_dest_unreachs),
                ("OutTimeExcds", ic.out_time_excds),
                ("OutParmProbs", ic.out_parm_probs),
                ("OutEchos", ic.out_echos),
                ("OutEchoReps", ic.out_echo_reps),
            ],
        )?;
        let t = &self.tcp;
        line(
            f,
            "Tcp",
            &[
                ("RtoAlgorithm", 1),
                ("RtoMin", 200),
                ("RtoMax", 120_000),
                ("MaxConn", 0),
                ("ActiveOpens", t.active_opens),
                ("PassiveOpens", t.passive_opens),
                ("AttemptFails", t.attempt_fails),
                ("EstabResets", t.estab_resets),
                ("CurrEstab", t.curr_estab),
                ("InSegs", t.in_segs),
                ("OutSegs", t.out_segs),
                ("RetransSegs", t.retrans_segs),
                ("InErrs", t.in_errs),
                ("OutRsts", t.out_rsts),
                ("InCsumErrors", t.in_csum_errors),
            ],
        )?;
        let u = &self.udp;
        line(
            f,
            "Udp",
            &[
                ("InDatagrams", u.in_datagrams),
                ("NoPorts", u.no_ports),
                ("InErrors", u.in_errors),
                ("OutDatagrams", u.out_datagrams),
                ("RcvbufErrors", u.rcvbuf_errors),
                ("InCsumErrors", u.in_csum_errors),
                ("IgnoredMulti", u.ignored_multi),
            ],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_matches_proc_net_snmp_layout() {
        let mut s = Snmp::default();
        s.ip.in_receives = 7;
        s.udp.no_ports = 2;
        s.udp.ignored_multi = 5;
        s.tcp.active_opens = 3;
        let text = s.to_string();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 8);
        assert!(lines[4].starts_with("Tcp: RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens"));
        assert!(lines[5].starts_with("Tcp: 1 200 120000 0 3 "));
        assert!(lines[0].starts_with("Ip: InReceives InHdrErrors InAddrErrors"));
        assert!(lines[1].starts_with("Ip: 7 0 0"));
        assert_eq!(
            lines[6],
            "Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors InCsumErrors IgnoredMulti"
        );
        assert_eq!(lines[7], "Udp: 0 2 0 0 0 0 5");
        for pair in lines.chunks(2) {
            assert_eq!(pair[0].split(' ').count(), pair[1].split(' ').count());
        }
    }
}
