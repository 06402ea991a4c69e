//! ICMPv4 (Linux `net/ipv4/icmp.c`): `icmp_rcv` answers echo requests, learns path MTUs from
//! fragmentation-needed, and reports errors to the UDP or TCP socket they concern and to the
//! stack's ICMP event queue (what ping sockets and traceroute read); `icmp_send` builds errors
//! about a packet, following RFC 1122's never-answer rules and the rate limiter.

use crate::frag::ReassemblyTimedOut;
use crate::ip_input::{is_csum_error, l4_checksum_mode};
use crate::ip_output::{IpParams, SendError};
use crate::pktbuf::{PacketBuf, PacketType};
use crate::route::IfIndex;
use crate::stack::Stack;
use crate::time::Instant;
use crate::wire::checksum::ChecksumMode;
use crate::wire::icmpv4::{
    self, msg_type, DstUnreachable, IcmpRepr, TimeExceeded, QUOTED_PAYLOAD_LEN,
};
use crate::wire::ipv4::{protocol, Ipv4Repr};
use std::net::Ipv4Addr;

/// Largest ICMP error datagram, header included: what every host must accept (RFC 791),
/// and the cap Linux `icmp_send` puts on the quote.
const ICMP_ERROR_MAX_LEN: usize = 576;

/// TOS of ICMP errors (`IPTOS_PREC_INTERNETCONTROL`), so they leave in the first qdisc band.
const ICMP_ERROR_TOS: u8 = 0xc0;

/// An ICMP message received (or, for errors about our own packets, generated locally).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IcmpEvent {
    /// An echo reply.
    EchoReply {
        /// Who answered.
        from: Ipv4Addr,
        /// Identifier.
        ident: u16,
        /// Sequence number.
        seq: u16,
        /// The payload echoed back.
        data: Vec<u8>,
    },
    /// Destination unreachable about a packet we sent.
    DstUnreachable {
        /// Who reported it.
        from: Ipv4Addr,
        /// The code.
        reason: DstUnreachable,
        /// Destination of the packet that failed.
        original_dst: Ipv4Addr,
        /// Its protocol.
        original_protocol: u8,
        /// The next-hop MTU for fragmentation needed, else 0.
        next_hop_mtu: u16,
    },
    /// Time exceeded about a packet we sent.
    TimeExceeded {
        /// Who reported it (the router where the TTL ran out).
        from: Ipv4Addr,
        /// The code.
        reason: TimeExceeded,
        /// Destination of the packet that failed.
        original_dst: Ipv4Addr,
    },
    /// Parameter problem about a packet we sent: a router or the destination found a bad
    /// header field in it.
    ParamProblem {
        /// Who reported it.
        from: Ipv4Addr,
        /// The offending byte's offset in the quoted header.
        pointer: u8,
        /// Destination of the packet that failed.
        original_dst: Ipv4Addr,
        /// Its protocol.
        original_protocol: u8,
    },
}

/// An error `icmp_send` can report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IcmpError {
    /// Destination unreachable with this code (not fragmentation needed).
    DstUnreachable(DstUnreachable),
    /// Fragmentation needed and DF set, with the next-hop MTU.
    FragNeeded(u16),
    /// Time exceeded.
    TimeExceeded(TimeExceeded),
    /// Parameter problem (code 0) with the offset of the offending header byte
    /// (`ip_options_compile`).
    ParamProblem(u8),
}

impl IcmpError {
    fn type_code(self) -> (u8, u8) {
        match self {
            IcmpError::DstUnreachable(r) => (msg_type::DST_UNREACHABLE, r.code()),
            IcmpError::FragNeeded(_) => (
                msg_type::DST_UNREACHABLE,
                DstUnreachable::FragRequired.code(),
            ),
            IcmpError::TimeExceeded(r) => (msg_type::TIME_EXCEEDED, r as u8),
            IcmpError::ParamProblem(_) => (msg_type::PARAM_PROBLEM, 0),
        }
    }
}

/// Echo request parameters beyond the destination and payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PingOptions {
    /// Identifier.
    pub ident: u16,
    /// Sequence number.
    pub seq: u16,
    /// TTL; the stack default when `None`.
    pub ttl: Option<u8>,
    /// Set DF (`ping -M do`).
    pub dont_frag: bool,
}

impl Stack {
    /// Sends an echo request (what `ping` does through a ping socket). Replies and errors
    /// arrive as [`IcmpEvent`]s.
    pub fn ping(
        &mut self,
        dst: Ipv4Addr,
        opts: PingOptions,
        data: &[u8],
        now: Instant,
    ) -> Result<(), SendError> {
        let rt = self.ip_route_output(dst, None)?;
        let msg = IcmpRepr::EchoRequest {
            ident: opts.ident,
            seq_no: opts.seq,
            data,
        };
        let pkt = self.icmp_build(&msg)?;
        let p = IpParams {
            protocol: protocol::ICMP,
            tos: 0,
            ttl: opts.ttl.unwrap_or(self.cfg.default_ttl),
            dont_frag: opts.dont_frag,
            ident: None,
            options: crate::wire::ipv4::Ipv4Options::default(),
            mc_loop: false,
        };
        self.snmp.icmp.out_msgs += 1;
        self.snmp.icmp.out_echos += 1;
        self.ip_local_out(pkt, &rt, p, now)
    }

    /// Fragmentation needed said the path to `dst` carries `mtu` bytes: the PMTU cache learns
    /// it against the link towards `dst`. Returns the path MTU before and after.
    pub(crate) fn pmtu_learn(
        &mut self,
        dst: Ipv4Addr,
        mtu: u16,
        now: Instant,
    ) -> Option<(usize, usize)> {
        let link = self.route_link_mtu(dst)?;
        let before = self.pmtu.path_mtu(dst, link, now);
        let after = self.pmtu.learn(dst, usize::from(mtu), link, now);
        Some((before, after))
    }

    /// Takes the ICMP events received so far, oldest first.
    pub fn icmp_events(&mut self) -> Vec<IcmpEvent> {
        self.icmp_events.drain(..).collect()
    }

    fn push_icmp_event(&mut self, e: IcmpEvent) {
        if self.icmp_events.len() < self.cfg.icmp_event_queue {
            self.icmp_events.push_back(e);
        }
    }

    fn icmp_build(&self, msg: &IcmpRepr<'_>) -> Result<PacketBuf, SendError> {
        let len = msg.buffer_len();
        let mut pkt = self.alloc(len);
        let buf = pkt.put(len).map_err(|_| SendError::NoBuffers)?;
        msg.emit(buf, ChecksumMode::Software)
            .map_err(|_| SendError::NoBuffers)?;
        pkt.set_transport_header();
        Ok(pkt)
    }

    /// `icmp_rcv`: `pkt` starts at the ICMP header.
    pub(crate) fn icmp_rcv(&mut self, mut pkt: PacketBuf, hdr: &Ipv4Repr, now: Instant) {
        self.snmp.icmp.in_msgs += 1;
        if pkt.nr_frags() > 0 && pkt.linearize().is_err() {
            self.snmp.icmp.in_errors += 1;
            return;
        }
        let mode = l4_checksum_mode(&pkt, hdr);
        let msg = match IcmpRepr::parse(pkt.data(), mode) {
            Ok(m) => m,
            Err(e) => {
                self.snmp.icmp.in_errors += 1;
                if is_csum_error(&e) {
                    self.snmp.icmp.in_csum_errors += 1;
                }
                return;
            }
        };
        // Linux `icmp_rcv` for a datagram routed RTCF_BROADCAST or RTCF_MULTICAST (224.0.0.1
        // reaches here without anyone joining it): only an echo request is taken, and only
        // when `icmp_echo_ignore_broadcasts` is off; the rest, errors quoting a datagram of
        // ours above all, would let any host on the link reach every host's sockets at once.
        // Each is counted under its type, then in InErrors.
        let to_group = self.is_broadcast_addr(hdr.dst) || hdr.dst.is_multicast();
        match msg {
            IcmpRepr::EchoRequest {
                ident,
                seq_no,
                data,
            } => {
                self.snmp.icmp.in_echos += 1;
                if to_group && !self.cfg.icmp_echo_broadcasts {
                    self.snmp.icmp.in_errors += 1;
                    return;
                }
                // The reply goes from the interface's address: never from a group's or a
                // broadcast address.
                let src = if to_group { None } else { Some(hdr.dst) };
                let reply = IcmpRepr::EchoReply {
                    ident,
                    seq_no,
                    data,
                };
                let Ok(out) = self.icmp_build(&reply) else {
                    self.snmp.icmp.out_errors += 1;
                    return;
                };
                let Ok(rt) = self.ip_route_output(hdr.src, src) else {
                    self.snmp.icmp.out_errors += 1;
                    return;
                };
                // The request's record route and timestamp go back with this host in them
                // again (`ip_options_echo`): what `ping -R` shows.
                let options = if hdr.options.is_empty() {
                    crate::wire::ipv4::Ipv4Options::default()
                } else {
                    let time = crate::ip_input::option_timestamp(now);
                    let is_local = |a: Ipv4Addr| {
                        self.is_local_addr(a) || self.is_broadcast_addr(a) || a.is_multicast()
                    };
                    match crate::wire::ipv4::echo_options(&hdr.options, rt.src, time, is_local) {
                        Some(o) => o,
                        None => return,
                    }
                };
                let p = IpParams {
                    protocol: protocol::ICMP,
                    tos: hdr.tos(),
                    ttl: self.cfg.default_ttl,
                    dont_frag: false,
                    ident: None,
                    options,
                    mc_loop: false,
                };
                self.snmp.icmp.out_msgs += 1;
                self.snmp.icmp.out_echo_reps += 1;
                if self.ip_local_out(out, &rt, p, now).is_err() {
                    self.snmp.icmp.out_errors += 1;
                }
            }
            IcmpRepr::EchoReply {
                ident,
                seq_no,
                data,
            } => {
                self.snmp.icmp.in_echo_reps += 1;
                if to_group {
                    self.snmp.icmp.in_errors += 1;
                    return;
                }
                let e = IcmpEvent::EchoReply {
                    from: hdr.src,
                    ident,
                    seq: seq_no,
                    data: data.to_vec(),
                };
                self.push_icmp_event(e);
            }
            IcmpRepr::DstUnreachable {
                reason,
                next_hop_mtu,
                header,
                data,
            } => {
                self.snmp.icmp.in_dest_unreachs += 1;
                if to_group {
                    self.snmp.icmp.in_errors += 1;
                    return;
                }
                let err = if reason == DstUnreachable::FragRequired {
                    IcmpError::FragNeeded(next_hop_mtu)
                } else {
                    IcmpError::DstUnreachable(reason)
                };
                // About TCP, the connection checks the quoted sequence before the PMTU is
                // learnt (Linux `tcp_v4_err`); a forged error cannot shrink it.
                // About UDP, only once a socket matches (Linux `__udp4_lib_err` looks the
                // socket up before `ipv4_sk_update_pmtu`).
                if let (IcmpError::FragNeeded(mtu), false) = (
                    err,
                    matches!(header.protocol, protocol::TCP | protocol::UDP),
                ) {
                    self.pmtu_learn(header.dst, mtu, now);
                }
                self.icmp_err_deliver(&header, data, err, now);
                let e = IcmpEvent::DstUnreachable {
                    from: hdr.src,
                    reason,
                    original_dst: header.dst,
                    original_protocol: header.protocol,
                    next_hop_mtu,
                };
                self.push_icmp_event(e);
            }
            IcmpRepr::TimeExceeded {
                reason,
                header,
                data,
            } => {
                self.snmp.icmp.in_time_excds += 1;
                if to_group {
                    self.snmp.icmp.in_errors += 1;
                    return;
                }
                // `icmp_unreach` hands it to the quoted protocol's handler: TCP keeps it as a
                // soft error, UDP drops it (soft, `__udp4_lib_err`).
                self.icmp_err_deliver(&header, data, IcmpError::TimeExceeded(reason), now);
                let e = IcmpEvent::TimeExceeded {
                    from: hdr.src,
                    reason,
                    original_dst: header.dst,
                };
                self.push_icmp_event(e);
            }
            IcmpRepr::ParamProblem {
                pointer,
                header,
                data,
            } => {
                self.snmp.icmp.in_parm_probs += 1;
                if to_group {
                    self.snmp.icmp.in_errors += 1;
                    return;
                }
                // `icmp_unreach` hands a parameter problem to the quoted protocol's error
                // handler like an unreachable: EPROTO for TCP and connected UDP sockets.
                self.icmp_err_deliver(&header, data, IcmpError::ParamProblem(pointer), now);
                let e = IcmpEvent::ParamProblem {
                    from: hdr.src,
                    pointer,
                    original_dst: header.dst,
                    original_protocol: header.protocol,
                };
                self.push_icmp_event(e);
            }
        }
    }

    /// `icmp_socket_deliver`: hands a received ICMP error about a datagram of ours to the
    /// quoted protocol's error handler (TCP's or UDP's; other protocols have none). One that
    /// concerns no socket of that protocol, or quotes too little to tell which, counts in
    /// InErrors, as Linux's `tcp_v4_err` and `__udp4_lib_err` count it.
    fn icmp_err_deliver(&mut self, header: &Ipv4Repr, data: &[u8], err: IcmpError, now: Instant) {
        let delivered = match header.protocol {
            protocol::TCP => self.tcp_err(header, data, err, now),
            protocol::UDP => self.udp_err(header, quoted_ports(header, data), err, now),
            _ => return,
        };
        if !delivered {
            self.snmp.icmp.in_errors += 1;
        }
    }

    /// `icmp_send`: reports `err` about `orig` (whose network header is recorded) to its
    /// source. Never about an ICMP error, a non-first fragment, a packet that came in a
    /// link-layer broadcast, or a packet from or to a broadcast/multicast/unspecified address
    /// (RFC 1122 3.2.2); errors about our own packets
    /// are reported locally; the rest pass the rate limiter.
    pub(crate) fn icmp_send(
        &mut self,
        orig: &PacketBuf,
        err: IcmpError,
        in_if: Option<IfIndex>,
        now: Instant,
    ) {
        let bytes = orig.network_header().unwrap_or(orig.data());
        let Ok((ohdr, opayload)) = Ipv4Repr::parse_quoted(bytes) else {
            return;
        };
        if ohdr.frag_offset != 0
            || orig.meta.pkt_type == PacketType::LinkBroadcast
            || ohdr.src.is_unspecified()
            || ohdr.src.is_broadcast()
            || ohdr.src.is_multicast()
            || ohdr.dst.is_multicast()
            || self.is_broadcast_addr(ohdr.dst)
        {
            return;
        }
        if ohdr.protocol == protocol::ICMP {
            let is_query = opayload.first().is_some_and(|&t| {
                matches!(t, msg_type::ECHO_REQUEST | msg_type::ECHO_REPLY | 13..=18)
            });
            if !is_query {
                return;
            }
        }
        // As much of the datagram as fits in a 576-byte error (RFC 1812 4.3.2.3, Linux
        // `icmp_send`); never less than RFC 792's 8 bytes.
        let room = ICMP_ERROR_MAX_LEN - Ipv4Repr::MIN_LEN - icmpv4::HEADER_LEN - ohdr.header_len();
        let quoted = &opayload[..opayload.len().min(room.max(QUOTED_PAYLOAD_LEN))];
        if self.is_local_addr(ohdr.src) {
            if let IcmpError::ParamProblem(_) = err {
                // The stack sends IP options only in echo replies, which echo what a check
                // already passed, so its own packets never fail one: nothing to report.
                return;
            }
            // Our own packet: the error goes straight to whoever sent it.
            let ports = quoted_ports(&ohdr, quoted);
            self.udp_err(&ohdr, ports, err, now);
            if ohdr.protocol == protocol::TCP {
                self.tcp_err(&ohdr, quoted, err, now);
            }
            let from = ohdr.src;
            let e = match err {
                IcmpError::DstUnreachable(reason) => IcmpEvent::DstUnreachable {
                    from,
                    reason,
                    original_dst: ohdr.dst,
                    original_protocol: ohdr.protocol,
                    next_hop_mtu: 0,
                },
                IcmpError::FragNeeded(mtu) => IcmpEvent::DstUnreachable {
                    from,
                    reason: DstUnreachable::FragRequired,
                    original_dst: ohdr.dst,
                    original_protocol: ohdr.protocol,
                    next_hop_mtu: mtu,
                },
                IcmpError::TimeExceeded(reason) => IcmpEvent::TimeExceeded {
                    from,
                    reason,
                    original_dst: ohdr.dst,
                },
                IcmpError::ParamProblem(_) => return,
            };
            self.push_icmp_event(e);
            return;
        }
        let (ty, code) = err.type_code();
        if !self.icmp_limit.allow(ohdr.src, ty, code, now) {
            self.snmp.icmp.out_rate_limited += 1;
            return;
        }
        let src = if self.is_local_addr(ohdr.dst) {
            Some(ohdr.dst)
        } else {
            in_if
                .and_then(|i| self.iface(i))
                .and_then(|i| i.select_addr(ohdr.src))
        };
        let msg = match err {
            IcmpError::DstUnreachable(reason) => IcmpRepr::DstUnreachable {
                reason,
                next_hop_mtu: 0,
                header: ohdr,
                data: quoted,
            },
            IcmpError::FragNeeded(mtu) => IcmpRepr::DstUnreachable {
                reason: DstUnreachable::FragRequired,
                next_hop_mtu: mtu,
                header: ohdr,
                data: quoted,
            },
            IcmpError::TimeExceeded(reason) => IcmpRepr::TimeExceeded {
                reason,
                header: ohdr,
                data: quoted,
            },
            IcmpError::ParamProblem(pointer) => IcmpRepr::ParamProblem {
                pointer,
                header: ohdr,
                data: quoted,
            },
        };
        let sent = self.icmp_build(&msg).and_then(|pkt| {
            let rt = self.ip_route_output(ohdr.src, src)?;
            let p = IpParams {
                protocol: protocol::ICMP,
                tos: ICMP_ERROR_TOS,
                ttl: self.cfg.default_ttl,
                dont_frag: false,
                ident: None,
                options: crate::wire::ipv4::Ipv4Options::default(),
                mc_loop: false,
            };
            self.ip_local_out(pkt, &rt, p, now)
        });
        match sent {
            Ok(()) => {
                self.snmp.icmp.out_msgs += 1;
                match err {
                    IcmpError::TimeExceeded(_) => self.snmp.icmp.out_time_excds += 1,
                    IcmpError::ParamProblem(_) => self.snmp.icmp.out_parm_probs += 1,
                    _ => self.snmp.icmp.out_dest_unreachs += 1,
                }
            }
            Err(_) => self.snmp.icmp.out_errors += 1,
        }
    }

    /// A reassembly timed out after its first fragment: ICMP time exceeded, code 1.
    pub(crate) fn icmp_reasm_timeout(&mut self, t: &ReassemblyTimedOut, now: Instant) {
        let mut quoted = Vec::with_capacity(t.header.len() + t.leading.len());
        quoted.extend_from_slice(&t.header);
        quoted.extend_from_slice(&t.leading);
        let mut orig = PacketBuf::from_slice(0, &quoted);
        orig.set_network_header();
        self.icmp_send(
            &orig,
            IcmpError::TimeExceeded(TimeExceeded::FragReassembly),
            None,
            now,
        );
    }
}

/// The UDP ports quoted in an ICMP error, when the quoted datagram was UDP.
fn quoted_ports(h: &Ipv4Repr, data: &[u8]) -> Option<(u16, u16)> {
    if h.protocol != protocol::UDP || data.len() < 4 {
        return None;
    }
    Some((
        u16::from_be_bytes([data[0], data[1]]),
        u16::from_be_bytes([data[2], data[3]]),
    ))
}
