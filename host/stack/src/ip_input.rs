//! IPv4 input (Linux `net/ipv4/ip_input.c`): `ip_rcv` validates the header and runs
//! PREROUTING, `ip_rcv_finish` routes (local / forward / drop), `ip_local_deliver` reassembles
//! fragments and runs INPUT, `ip_local_deliver_finish` hands the payload to ICMP, UDP or TCP.
//!
//! As in Linux, reassembly happens in `ip_local_deliver` *before* the INPUT hook, so INPUT
//! sees each datagram once, whole (the seeds' stage list puts defrag after INPUT; Linux's code
//! is the reference here). Forwarded fragments are not reassembled.

use crate::frag::{FragKey, FragmentDesc};
use crate::hooks::{HookContext, HookPoint, Verdict};
use crate::icmp::IcmpError;
use crate::loopback::is_loopback;
use crate::packet_tap::TapPoint;
use crate::pktbuf::{ChecksumState, PacketBuf, PacketType};
use crate::route::IfIndex;
use crate::stack::Stack;
use crate::time::Instant;
use crate::wire::checksum::{self, ChecksumMode};
use crate::wire::ethernet::ethertype;
use crate::wire::icmpv4::DstUnreachable;
use crate::wire::ipv4::{
    compile_options, fill_header_checksum, protocol, Ipv4Options, Ipv4Repr, OptionStamp,
    OptionsInfo, MAX_OPTIONS_LEN,
};
use crate::wire::WireError;
use std::net::Ipv4Addr;

impl Stack {
    /// Runs the hooks of `ctx.hook` (after showing the packet to taps at that point).
    pub(crate) fn nf_hook(
        &mut self,
        pkt: &mut PacketBuf,
        ctx: HookContext,
        now: Instant,
    ) -> Verdict {
        let point = TapPoint::Hook(ctx.hook);
        if self.taps.any(point) {
            let ifindex = match ctx.hook {
                HookPoint::PreRouting | HookPoint::Input => ctx.in_if,
                _ => ctx.out_if,
            };
            self.taps.capture(point, ifindex, pkt, now);
        }
        self.hooks.run(pkt, &ctx)
    }

    /// `ip_rcv`: `pkt` starts at the IPv4 header. Version, IHL, options, total length and
    /// (unless the device vouched for it) the header checksum are checked here, each failure
    /// counted like `/proc/net/snmp`. The TTL is checked where it matters, on forwarding: like
    /// Linux, a host accepts a datagram addressed to it whatever its TTL.
    pub(crate) fn ip_rcv(&mut self, ifindex: IfIndex, mut pkt: PacketBuf, now: Instant) {
        self.snmp.ip.in_receives += 1;
        if pkt.may_pull(Ipv4Repr::MIN_LEN).is_err() {
            self.snmp.ip.in_hdr_errors += 1;
            return;
        }
        let hdr = match Ipv4Repr::parse_quoted(pkt.data()) {
            Ok((h, _)) => h,
            Err(_) => {
                self.snmp.ip.in_hdr_errors += 1;
                return;
            }
        };
        let hl = hdr.header_len();
        let total = hl + hdr.payload_len;
        if total > pkt.len() {
            self.snmp.ip.in_truncated_pkts += 1;
            return;
        }
        if pkt.meta.csum != ChecksumState::Unnecessary
            && !pkt.data().get(..hl).is_some_and(checksum::verify)
        {
            self.snmp.ip.in_csum_errors += 1;
            self.snmp.ip.in_hdr_errors += 1;
            return;
        }
        if pkt.len() > total {
            // Ethernet padding. A device sum over the padding no longer matches.
            let _ = pkt.trim_rcsum(total);
        }
        if hdr.src.is_multicast() || hdr.src.is_broadcast() {
            self.snmp.ip.in_addr_errors += 1;
            return;
        }
        pkt.meta.protocol = ethertype::IPV4;
        pkt.set_network_header();
        match self.nf_hook(&mut pkt, HookContext::prerouting(ifindex), now) {
            Verdict::Accept => {}
            Verdict::Drop => {
                self.snmp.ip.in_discards += 1;
                return;
            }
            Verdict::Stolen => return,
        }
        self.ip_rcv_finish(ifindex, pkt, hdr, now);
    }

    /// The header again when hooks at `point` may have rewritten it, else `hdr` as parsed.
    fn reparse(&self, point: HookPoint, pkt: &PacketBuf, hdr: Ipv4Repr) -> Option<Ipv4Repr> {
        if self.hooks.len(point) == 0 {
            return Some(hdr);
        }
        Ipv4Repr::parse_quoted(pkt.data()).ok().map(|(h, _)| h)
    }

    /// `ip_rcv_finish` + `ip_route_input`: local delivery, forwarding, or a counted drop. The
    /// header is parsed again since a PREROUTING hook may have rewritten it. As in Linux, the
    /// options are looked at once the datagram has a route (`ip_rcv_options`).
    fn ip_rcv_finish(&mut self, ifindex: IfIndex, mut pkt: PacketBuf, hdr: Ipv4Repr, now: Instant) {
        let Some(mut hdr) = self.reparse(HookPoint::PreRouting, &pkt, hdr) else {
            self.snmp.ip.in_hdr_errors += 1;
            return;
        };
        let route = self.ip_route_input(ifindex, &pkt, &hdr);
        match route {
            InputRoute::Drop => {
                self.snmp.ip.in_addr_errors += 1;
                return;
            }
            InputRoute::NotJoined => return,
            InputRoute::Local | InputRoute::Forward => {}
        }
        let opts = if hdr.options.is_empty() {
            OptionsInfo::default()
        } else {
            match self.ip_rcv_options(ifindex, &mut pkt, &mut hdr, now) {
                Some(o) => o,
                None => return,
            }
        };
        match route {
            InputRoute::Local => self.ip_local_deliver(ifindex, pkt, hdr, now),
            InputRoute::Forward => self.ip_forward(ifindex, pkt, hdr, opts, now),
            InputRoute::Drop | InputRoute::NotJoined => {}
        }
    }

    /// `ip_rcv_options`: checks the options like `ip_options_compile`. Malformed ones drop the
    /// datagram as a header error (`InHdrErrors`) and are answered with a parameter problem
    /// pointing at the offending byte, under `icmp_send`'s usual rules (nothing about an ICMP
    /// error, a later fragment or a broadcast). A loose or strict source route is dropped
    /// without an answer, whether the datagram is for us or would be forwarded: this stack
    /// does not accept source routing, which is Linux's default (`accept_source_route` is off
    /// in `conf/all`, and each interface's setting is ANDed with it).
    ///
    /// Well-formed options are updated as Linux updates them on receive, for local delivery
    /// and forwarding alike: our address (`fib_compute_spec_dst`) goes into the next free
    /// record-route slot and address-and-time stamp, a stamp into the timestamp option, a full
    /// timestamp's overflow count goes up; the header checksum is made right again, and `hdr`
    /// follows. Forwarding then overwrites the addresses with its outgoing one
    /// (`ip_forward_options`).
    fn ip_rcv_options(
        &mut self,
        ifindex: IfIndex,
        pkt: &mut PacketBuf,
        hdr: &mut Ipv4Repr,
        now: Instant,
    ) -> Option<OptionsInfo> {
        let raw = hdr.options.as_bytes();
        let n = raw.len();
        let mut area = [0u8; MAX_OPTIONS_LEN];
        area[..n].copy_from_slice(raw);
        let stamp = OptionStamp {
            addr: self.spec_dst(ifindex, hdr),
            time: option_timestamp(now),
            // Linux stamps a prespecified address unless `inet_addr_type` calls it unicast,
            // i.e. not local, broadcast or multicast.
            is_local: |a: Ipv4Addr| {
                self.is_local_addr(a) || self.is_broadcast_addr(a) || a.is_multicast()
            },
        };
        let compiled = compile_options(&mut area[..n], Some(&stamp));
        let info = match compiled {
            Ok(info) if info.srr.is_some() => {
                self.snmp.ip.in_src_route_drops += 1;
                return None;
            }
            Ok(info) => info,
            Err(bad) => {
                self.snmp.ip.in_hdr_errors += 1;
                let err = IcmpError::ParamProblem(bad.pointer);
                self.icmp_send(pkt, err, Some(ifindex), now);
                return None;
            }
        };
        if area[..n] != *hdr.options.as_bytes() {
            let Ok(d) = pkt.data_mut() else {
                self.snmp.ip.in_discards += 1;
                return None;
            };
            let Some(h) = d.get_mut(..Ipv4Repr::MIN_LEN + n) else {
                self.snmp.ip.in_hdr_errors += 1;
                return None;
            };
            h[Ipv4Repr::MIN_LEN..].copy_from_slice(&area[..n]);
            fill_header_checksum(h);
            hdr.options = Ipv4Options::raw(&area[..n]).unwrap_or(hdr.options);
        }
        Some(info)
    }

    /// `fib_compute_spec_dst`: the address a host records about itself in a datagram's
    /// options: the destination when it is one of ours, else the source address this host
    /// would use to answer the sender.
    fn spec_dst(&self, ifindex: IfIndex, hdr: &Ipv4Repr) -> Ipv4Addr {
        if self.is_local_addr(hdr.dst) {
            return hdr.dst;
        }
        self.fib
            .lookup(hdr.src)
            .ok()
            .and_then(|nh| self.iface(nh.ifindex)?.select_addr(nh.addr))
            .or_else(|| self.iface(ifindex)?.select_addr(hdr.src))
            .unwrap_or(Ipv4Addr::UNSPECIFIED)
    }

    /// `ip_route_input_slow`'s decision, in its order: martian sources and destinations are
    /// dropped (RFC 1122 §3.2.1.3, RFC 1812 §5.3.7); the limited broadcast, our addresses and
    /// the directed broadcast of any of our prefixes are received here; anything else is
    /// forwarded when forwarding is on. A source must be a unicast address that is not ours
    /// (`fib_validate_source` without reverse-path filtering), so not in 127/8 either. A 127/8
    /// source or destination is a martian on a real interface though 127/8 is this host's
    /// (`route_localnet` off): only `lo` carries it. Packets we looped back to ourselves
    /// carry our own addresses and skip the martian checks, as Linux's do (they come with
    /// their output route).
    ///
    /// A datagram to a multicast group is received only when the interface it came in on
    /// joined the group (`ip_check_mc_rcu`; 224.0.0.1 always), and otherwise dropped without
    /// a count, as Linux's `ip_route_input_rcu` does (it never forwards multicast without a
    /// multicast router). Its source must be a valid unicast one; a source in 0.0.0.0/8 (a
    /// host without an address) is allowed only for IGMP or a destination in 224.0.0.0/24,
    /// the link-local groups, as `ip_mc_validate_source` allows it.
    fn ip_route_input(&self, ifindex: IfIndex, pkt: &PacketBuf, hdr: &Ipv4Repr) -> InputRoute {
        let (src, dst) = (hdr.src, hdr.dst);
        let local = self.is_local_addr(dst) || self.is_broadcast_addr(dst);
        if dst.is_multicast() {
            if !self.ip_mc_joined(ifindex, dst) {
                return InputRoute::NotJoined;
            }
            if pkt.meta.pkt_type == PacketType::Loopback {
                return InputRoute::Local;
            }
            if src.octets()[0] == 0 {
                let link_local = dst.octets()[..3] == [224, 0, 0];
                return if hdr.protocol == protocol::IGMP || link_local {
                    InputRoute::Local
                } else {
                    InputRoute::Drop
                };
            }
        }
        if pkt.meta.pkt_type == PacketType::Loopback {
            return if local {
                InputRoute::Local
            } else {
                InputRoute::Drop
            };
        }
        let zeronet = |a: Ipv4Addr| a.octets()[0] == 0;
        let valid_source = || !self.is_local_addr(src) && !self.is_broadcast_addr(src);
        if src.is_multicast() || src.is_broadcast() {
            return InputRoute::Drop;
        }
        if dst.is_broadcast() || (src.is_unspecified() && dst.is_unspecified()) {
            // `brd_input`: a DHCP client sends from 0.0.0.0 before it has an address.
            return if zeronet(src) || valid_source() {
                InputRoute::Local
            } else {
                InputRoute::Drop
            };
        }
        if zeronet(src) || zeronet(dst) || is_loopback(src) || is_loopback(dst) {
            return InputRoute::Drop;
        }
        if !valid_source() {
            return InputRoute::Drop;
        }
        if local || dst.is_multicast() {
            InputRoute::Local
        } else if !self.cfg.forwarding {
            InputRoute::Drop
        } else {
            InputRoute::Forward
        }
    }

    /// `ip_local_deliver`: reassembles fragments, then runs INPUT.
    fn ip_local_deliver(&mut self, ifindex: IfIndex, pkt: PacketBuf, hdr: Ipv4Repr, now: Instant) {
        let (mut pkt, hdr) = if hdr.is_fragment() {
            let Some(p) = self.ip_defrag(ifindex, pkt, &hdr, now) else {
                return;
            };
            let Ok((h, _)) = Ipv4Repr::parse_quoted(p.data()) else {
                self.snmp.ip.in_hdr_errors += 1;
                return;
            };
            (p, h)
        } else {
            (pkt, hdr)
        };
        match self.nf_hook(&mut pkt, HookContext::input(ifindex), now) {
            Verdict::Accept => {}
            Verdict::Drop => {
                self.snmp.ip.in_discards += 1;
                return;
            }
            Verdict::Stolen => return,
        }
        self.ip_local_deliver_finish(ifindex, pkt, hdr, now);
    }

    /// `ip_defrag`: feeds a fragment to the reassembler; returns the whole datagram, rebuilt
    /// as one linear packet with a fresh header, when this fragment completed it.
    fn ip_defrag(
        &mut self,
        ifindex: IfIndex,
        mut pkt: PacketBuf,
        hdr: &Ipv4Repr,
        now: Instant,
    ) -> Option<PacketBuf> {
        if pkt.nr_frags() > 0 && pkt.linearize().is_err() {
            self.snmp.ip.in_discards += 1;
            return None;
        }
        let hl = hdr.header_len();
        let data = pkt.data();
        let desc = FragmentDesc {
            key: FragKey {
                src: hdr.src,
                dst: hdr.dst,
                protocol: hdr.protocol,
                id: hdr.ident,
            },
            offset: usize::from(hdr.frag_offset),
            more_fragments: hdr.more_frags,
            header: data.get(..hl)?,
            payload: data.get(hl..)?,
        };
        let whole = self.reasm.process(&desc, now).ok()??;
        let total = whole.header.len() + whole.payload.len();
        let mut out = self.alloc(total);
        let buf = out.put(total).ok()?;
        let (h, p) = buf.split_at_mut(whole.header.len());
        h.copy_from_slice(&whole.header);
        p.copy_from_slice(&whole.payload);
        h[2..4].copy_from_slice(&(total as u16).to_be_bytes());
        h[6] &= 0x40; // keep DF, clear MF and the offset
        h[7] = 0;
        fill_header_checksum(h);
        out.meta.ifindex = ifindex;
        out.meta.protocol = ethertype::IPV4;
        out.meta.mark = pkt.meta.mark;
        out.meta.pkt_type = pkt.meta.pkt_type;
        out.set_network_header();
        Some(out)
    }

    /// `ip_local_deliver_finish`: the protocol demux.
    fn ip_local_deliver_finish(
        &mut self,
        ifindex: IfIndex,
        mut pkt: PacketBuf,
        hdr: Ipv4Repr,
        now: Instant,
    ) {
        let Some(hdr) = self.reparse(HookPoint::Input, &pkt, hdr) else {
            self.snmp.ip.in_hdr_errors += 1;
            return;
        };
        if pkt.pull(hdr.header_len()).is_err() {
            self.snmp.ip.in_hdr_errors += 1;
            return;
        }
        pkt.set_transport_header();
        self.snmp.ip.in_delivers += 1;
        match hdr.protocol {
            protocol::ICMP => self.icmp_rcv(pkt, &hdr, now),
            protocol::IGMP => self.igmp_rcv(ifindex, pkt, now),
            protocol::UDP => self.udp_rcv(ifindex, pkt, &hdr, now),
            protocol::TCP => self.tcp_v4_rcv(pkt, &hdr, now),
            _ => {
                self.snmp.ip.in_unknown_protos += 1;
                self.snmp.ip.in_delivers -= 1;
                self.icmp_send(
                    &pkt,
                    IcmpError::DstUnreachable(DstUnreachable::ProtoUnreachable),
                    Some(ifindex),
                    now,
                );
            }
        }
    }
}

/// The time a host writes into a timestamp option. Linux writes milliseconds since midnight
/// UTC (`inet_current_timestamp`); a sans-IO stack has no wall clock, so this is the stack's
/// own milliseconds with the high-order bit set, which RFC 791 reserves for exactly that: a
/// time that is not milliseconds since midnight UT.
pub(crate) fn option_timestamp(now: Instant) -> u32 {
    let ms = now.as_nanos() / 1_000_000;
    0x8000_0000 | (ms & 0x7fff_ffff) as u32
}

/// Where input routing sends a datagram.
enum InputRoute {
    /// Received by this host.
    Local,
    /// Forwarded.
    Forward,
    /// Dropped as a martian, or not ours with forwarding off (`InAddrErrors`).
    Drop,
    /// To a multicast group the interface did not join: dropped, counted nowhere.
    NotJoined,
}

/// How the transport layer should treat its checksum, from what the device reported
/// (`skb_checksum_init`): verified by the device → not again; a complete sum from the network
/// header on → finish it with the pseudo-header (for UDP/TCP) and trust it when it checks out;
/// otherwise verify in software. A sum that does not check out falls back to software, which
/// also knows UDP's "no checksum" zero.
pub(crate) fn l4_checksum_mode(pkt: &PacketBuf, hdr: &Ipv4Repr) -> ChecksumMode {
    match pkt.meta.csum {
        ChecksumState::Unnecessary => ChecksumMode::Offloaded,
        ChecksumState::Complete { sum } => {
            let hl = hdr.header_len();
            let Some(iph) = pkt.network_header().and_then(|h| h.get(..hl)) else {
                return ChecksumMode::Software;
            };
            let l4 = checksum::add(sum, !checksum::sum(iph));
            let total = match hdr.protocol {
                protocol::UDP | protocol::TCP => checksum::add(
                    checksum::pseudo_header_v4(
                        hdr.src,
                        hdr.dst,
                        hdr.protocol,
                        hdr.payload_len as u16,
                    ),
                    l4,
                ),
                _ => l4,
            };
            if total == 0xffff {
                ChecksumMode::Offloaded
            } else {
                ChecksumMode::Software
            }
        }
        _ => ChecksumMode::Software,
    }
}

/// Maps a wire error to whether it was a checksum failure (counted as `InCsumErrors` by the
/// protocols).
pub(crate) fn is_csum_error(e: &WireError) -> bool {
    matches!(e, WireError::BadChecksum { .. })
}
