//! ARP on the wire (Linux `net/ipv4/arp.c`: `arp_rcv`, `arp_process`, `arp_send`,
//! `arp_solicit`), joined to the neighbour state machine in [`crate::neigh`]: received ARP
//! feeds the table, requests for our addresses are answered, and the table's actions (send a
//! request, release a waiting packet, report a failed resolution) are carried out here.

use crate::loopback::is_loopback;
use crate::neigh::{ArpOp, ArpSeen, NeighAction};
use crate::pktbuf::PacketBuf;
use crate::route::IfIndex;
use crate::stack::Stack;
use crate::time::Instant;
use crate::wire::arp::{ArpOperation, ArpRepr};
use crate::wire::ethernet::{ethertype, EthernetAddress};
use crate::wire::icmpv4::DstUnreachable;
use std::net::Ipv4Addr;

impl Stack {
    /// `arp_rcv` + `arp_process`: `pkt` starts at the ARP header.
    pub(crate) fn arp_rcv(
        &mut self,
        ifindex: IfIndex,
        pkt: PacketBuf,
        unicast: bool,
        now: Instant,
    ) {
        let Ok(arp) = ArpRepr::parse(pkt.data()) else {
            self.snmp.link.arp_malformed += 1;
            return;
        };
        // `arp_process`: a request for a loopback address is bad and dropped whole, before
        // the table learns anything from it; 127/8 is local but never on a link. One from a
        // loopback sender too: its input route fails as a martian source.
        if is_loopback(arp.target_ip) || is_loopback(arp.source_ip) {
            return;
        }
        // Linux's default `arp_ignore=0`: answer for any local address, whichever interface
        // it is on.
        let for_us = self.is_local_addr(arp.target_ip);
        let Some(iface) = self.iface_mut(ifindex) else {
            return;
        };
        let op = match arp.operation {
            ArpOperation::Request => ArpOp::Request,
            ArpOperation::Reply => ArpOp::Reply,
            ArpOperation::Other(_) => {
                self.snmp.link.arp_malformed += 1;
                return;
            }
        };
        let seen = ArpSeen {
            op,
            sender_ip: arp.source_ip,
            sender_mac: arp.source_hw,
            target_ip: arp.target_ip,
            for_us,
            unicast,
        };
        iface.neigh.on_arp(&seen, now);
        let is_probe_or_announce = arp.source_ip == arp.target_ip;
        if op == ArpOp::Request && for_us && !is_probe_or_announce {
            let reply = ArpRepr {
                operation: ArpOperation::Reply,
                source_hw: iface.mac,
                source_ip: arp.target_ip,
                target_hw: arp.source_hw,
                target_ip: arp.source_ip,
            };
            self.arp_xmit(ifindex, &reply, arp.source_hw, now);
        }
        self.run_neigh_actions(ifindex, now);
    }

    /// Builds and queues one ARP packet to `dst`.
    fn arp_xmit(&mut self, ifindex: IfIndex, arp: &ArpRepr, dst: EthernetAddress, now: Instant) {
        let mut pkt = self.alloc(ArpRepr::LEN);
        let ok = pkt
            .put(ArpRepr::LEN)
            .ok()
            .is_some_and(|b| arp.emit(b).is_ok());
        if !ok {
            self.snmp.link.tx_errors += 1;
            return;
        }
        pkt.set_network_header();
        if self.eth_header(ifindex, &mut pkt, dst, ethertype::ARP) {
            // A refused request is counted by the qdisc; the neighbour timer asks again.
            let _ = self.dev_queue_xmit(ifindex, pkt, now);
        }
    }

    /// Announces `addr` on `ifindex` (gratuitous ARP: a broadcast request with sender = target),
    /// so neighbours with a stale entry for it update at once.
    pub(crate) fn arp_send_gratuitous(&mut self, ifindex: IfIndex, addr: Ipv4Addr, now: Instant) {
        let Some(iface) = self.iface(ifindex) else {
            return;
        };
        let arp = ArpRepr {
            operation: ArpOperation::Request,
            source_hw: iface.mac,
            source_ip: addr,
            target_hw: EthernetAddress([0; 6]),
            target_ip: addr,
        };
        self.arp_xmit(ifindex, &arp, EthernetAddress::BROADCAST, now);
    }

    /// Carries out what the neighbour table of `ifindex` asked for.
    pub(crate) fn run_neigh_actions(&mut self, ifindex: IfIndex, now: Instant) {
        loop {
            let Some(iface) = self.iface_mut(ifindex) else {
                return;
            };
            let Some(action) = iface.neigh.pop_action() else {
                return;
            };
            match action {
                NeighAction::Solicit { target, dest } => {
                    let Some(src) = iface.select_addr(target) else {
                        continue;
                    };
                    let arp = ArpRepr {
                        operation: ArpOperation::Request,
                        source_hw: iface.mac,
                        source_ip: src,
                        target_hw: dest.unwrap_or(EthernetAddress([0; 6])),
                        target_ip: target,
                    };
                    let to = dest.unwrap_or(EthernetAddress::BROADCAST);
                    self.arp_xmit(ifindex, &arp, to, now);
                }
                NeighAction::Transmit {
                    mac, mut packet, ..
                } => {
                    if self.eth_header(ifindex, &mut packet, mac, ethertype::IPV4) {
                        // Released packets have no sender waiting on them any more: a
                        // refusal is only counted (by the qdisc).
                        let _ = self.dev_queue_xmit(ifindex, packet, now);
                    }
                }
                NeighAction::Unreachable { packet, .. } => {
                    // `arp_error_report`: tell the sender the host is unreachable.
                    self.icmp_send(
                        &packet,
                        crate::icmp::IcmpError::DstUnreachable(DstUnreachable::HostUnreachable),
                        None,
                        now,
                    );
                }
            }
        }
    }
}
