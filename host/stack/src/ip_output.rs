//! IPv4 output (Linux `net/ipv4/ip_output.c` and `route.c`'s output side):
//! `ip_route_output` picks the route and the source address (`inet_select_addr`),
//! `ip_local_out` builds the header and runs OUTPUT, `ip_output` runs POSTROUTING,
//! `ip_finish_output` fragments to the (path) MTU or refuses with DF, and
//! `ip_finish_output2`/`neigh_output` resolves the next hop's MAC and queues the frame.
//! Datagrams to one of our own addresses, all of 127.0.0.0/8 among them, loop back into
//! IPv4 input, as through `lo` ([`crate::loopback`]).

use crate::device::complete_tx_checksum;
use crate::frag::{fragment_plan, FragmentError, FragmentRequest};
use crate::hooks::{HookContext, Verdict};
use crate::loopback::{is_loopback, LOOPBACK_ADDR, LOOPBACK_IFINDEX};
use crate::neigh::Resolve;
use crate::pktbuf::{ChecksumState, PacketBuf, PacketType};
use crate::route::{IfIndex, LookupError, NextHop, Prefix, Route};
use crate::stack::Stack;
use crate::time::Instant;
use crate::wire::checksum::ChecksumMode;
use crate::wire::ethernet::{ethertype, EthernetAddress};
use crate::wire::ipv4::{fragment_options, Ipv4Options, Ipv4Repr};
use std::net::Ipv4Addr;

/// Why a locally generated datagram was not sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// No route to the destination (`ENETUNREACH`).
    #[error("network unreachable")]
    NetUnreachable,
    /// An unreachable route matched (`EHOSTUNREACH`).
    #[error("host unreachable")]
    HostUnreachable,
    /// A prohibit route matched or a hook dropped the packet (`EPERM`/`EACCES`).
    #[error("prohibited")]
    Prohibited,
    /// A blackhole route matched (`EINVAL`); nothing was sent.
    #[error("blackhole route")]
    Blackhole,
    /// The output interface has no address to send from (`EADDRNOTAVAIL`).
    #[error("no source address")]
    NoSourceAddress,
    /// The source is a loopback address (127/8) and the destination is not this host's
    /// (`EINVAL`, Linux `__mkroute_output`): a 127/8 source never leaves on a real
    /// interface. Nothing was sent.
    #[error("loopback source towards another host")]
    LoopbackSource,
    /// Too big for the path MTU with DF set (`EMSGSIZE`); `mtu` is the MTU in effect.
    #[error("message too big for path mtu {mtu}")]
    MessageTooBig {
        /// The path MTU.
        mtu: usize,
    },
    /// Bigger than an IPv4 datagram can be (`EMSGSIZE`).
    #[error("datagram too long")]
    TooLong,
    /// A buffer could not be written (`ENOBUFS`).
    #[error("no buffer space")]
    NoBuffers,
    /// The interface's queue (its qdisc) was full and refused the packet (`ENOBUFS` from
    /// Linux's `NET_XMIT_DROP`): nothing left the host, and trying again once the queue
    /// drains may succeed. The drop is counted in the qdisc's and the link's statistics.
    #[error("interface queue full")]
    QueueFull,
}

/// A route for locally generated traffic: the next hop and the source address to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutRoute {
    /// Where to send.
    pub nh: NextHop,
    /// The destination: the one asked for, or for 0.0.0.0 the address of this host it
    /// became (127.0.0.1 unless the source was bound).
    pub dst: Ipv4Addr,
    /// The source address.
    pub src: Ipv4Addr,
    /// True when the destination is one of our addresses, 127/8 included (loopback).
    pub local: bool,
}

impl OutRoute {
    /// Straight out of interface `ifindex` to `dst`, from `src`, with no gateway and no
    /// route looked up: how a group is reached on a chosen interface.
    pub(crate) fn on_link(dst: Ipv4Addr, src: Ipv4Addr, ifindex: IfIndex) -> OutRoute {
        OutRoute {
            nh: NextHop {
                addr: dst,
                gateway: None,
                ifindex,
                route: Route::connected(Prefix::host(dst), ifindex),
            },
            dst,
            src,
            local: false,
        }
    }
}

/// What `ip_local_out` needs besides the payload.
#[derive(Debug, Clone, Copy)]
pub(crate) struct IpParams {
    pub protocol: u8,
    pub tos: u8,
    pub ttl: u8,
    pub dont_frag: bool,
    /// The identification a connected socket numbers its datagrams with (Linux `inet_id`);
    /// `None`: [`Stack::select_ident`] picks it.
    pub ident: Option<u16>,
    /// IPv4 options to send (padded to a multiple of 4 bytes); empty for almost every
    /// datagram (an echo reply carries the request's record-route and timestamp back).
    pub options: Ipv4Options,
    /// A datagram to a multicast group this interface joined is also delivered here
    /// (`IP_MULTICAST_LOOP`, Linux `ip_mc_output` → `dev_loopback_xmit`).
    pub mc_loop: bool,
}

/// A socket's own IP header settings (`IP_TTL`, `IP_TOS`), kept by TCP connections and
/// listeners and by UDP sockets; the connections a listener accepts inherit its settings
/// (Linux copies the listener's `inet_sock` into each child, `inet_csk_clone_lock`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct SockIp {
    /// TTL of the socket's datagrams; `None`: the stack's default.
    pub(crate) ttl: Option<u8>,
    /// TOS byte of the socket's datagrams (TCP keeps its ECN bits clear).
    pub(crate) tos: u8,
}

impl SockIp {
    /// What a datagram of `protocol` sent with these settings gets from IP: DF as
    /// `dont_frag`, no options, the identification `ident` (`None`: 0, or a counter per
    /// destination for a fragmentable datagram; see [`IpParams`]).
    #[inline]
    pub(crate) fn params(
        self,
        protocol: u8,
        dont_frag: bool,
        ident: Option<u16>,
        default_ttl: u8,
    ) -> IpParams {
        IpParams {
            protocol,
            tos: self.tos,
            ttl: self.ttl.unwrap_or(default_ttl),
            dont_frag,
            ident,
            options: Ipv4Options::default(),
            mc_loop: false,
        }
    }
}

/// Identification counters for datagrams no socket numbers (Linux `IP_IDENTS_SZ`).
pub(crate) const IP_IDENTS: usize = 2048;

impl Stack {
    /// `ip_route_output`: the route towards `dst` and the source address, `src` when the
    /// caller bound one (it must be ours), else one of the output interface's.
    ///
    /// As Linux `ip_route_output_key_hash_rcu`, the local table comes first: a destination
    /// that is this host's leaves by no device and loops back into input. 127.0.0.0/8 goes by
    /// the implicit `lo` ([`LOOPBACK_IFINDEX`]), from 127.0.0.1 unless bound (the route's
    /// `src`); another of our addresses by `lo` as well, from itself unless bound. No
    /// destination (0.0.0.0) means this host too: it becomes the source asked for, or without
    /// one 127.0.0.1 (and so does the source), and [`OutRoute::dst`] is the address it
    /// became, which a connect takes as its peer. Anything else goes by the FIB, where a
    /// 127/8 source is refused ([`SendError::LoopbackSource`], `__mkroute_output`).
    ///
    /// A multicast group is routed like any destination (a `224.0.0.0/4` or default route
    /// names the interface), but never through a gateway: the group itself is the next hop,
    /// its MAC mapped from the address (`__mkroute_output` drops the route's gateway for
    /// multicast).
    pub(crate) fn ip_route_output(
        &mut self,
        dst: Ipv4Addr,
        src: Option<Ipv4Addr>,
    ) -> Result<OutRoute, SendError> {
        let src = src.filter(|s| !s.is_unspecified());
        if let Some(s) = src {
            if !self.is_local_addr(s) {
                return Err(SendError::NoSourceAddress);
            }
        }
        let dst = if dst.is_unspecified() {
            src.unwrap_or(LOOPBACK_ADDR)
        } else {
            dst
        };
        if is_loopback(dst) {
            return Ok(OutRoute {
                nh: NextHop {
                    addr: dst,
                    gateway: None,
                    ifindex: LOOPBACK_IFINDEX,
                    route: Route::connected(Prefix::LOOPBACK, LOOPBACK_IFINDEX),
                },
                dst,
                src: src.unwrap_or(LOOPBACK_ADDR),
                local: true,
            });
        }
        if self.is_local_addr(dst) {
            // `local 10.0.0.2 dev lo table local`: the route of an address assigned to an
            // interface leaves by `lo` too (`__mkroute_output` takes `net->loopback_dev` for
            // RTN_LOCAL), with `lo`'s MTU, and the hooks see `lo` both ways.
            return Ok(OutRoute {
                nh: NextHop {
                    addr: dst,
                    gateway: None,
                    ifindex: LOOPBACK_IFINDEX,
                    route: Route::connected(Prefix::host(dst), LOOPBACK_IFINDEX),
                },
                dst,
                src: src.unwrap_or(dst),
                local: true,
            });
        }
        let nh = match self.fib.lookup(dst) {
            Ok(nh) if dst.is_multicast() => NextHop {
                addr: dst,
                gateway: None,
                ..nh
            },
            Ok(nh) => nh,
            Err(e) => {
                self.snmp.ip.out_no_routes += 1;
                return Err(match e {
                    LookupError::NoRoute => SendError::NetUnreachable,
                    LookupError::Unreachable => SendError::HostUnreachable,
                    LookupError::Prohibit => SendError::Prohibited,
                    LookupError::Blackhole => SendError::Blackhole,
                });
            }
        };
        let src = match src {
            Some(s) if is_loopback(s) => return Err(SendError::LoopbackSource),
            Some(s) => s,
            None => self
                .iface(nh.ifindex)
                .and_then(|i| i.select_addr(nh.addr))
                .ok_or(SendError::NoSourceAddress)?,
        };
        Ok(OutRoute {
            nh,
            dst,
            src,
            local: false,
        })
    }

    /// The route of a datagram to multicast `group` that must leave by `ifindex`
    /// (`IP_MULTICAST_IF`, the `flowi4_oif` of `ip_route_output_key_hash_rcu`): the group is
    /// the next hop, the source `src` or one of the interface's addresses.
    pub(crate) fn ip_route_output_dev(
        &mut self,
        group: Ipv4Addr,
        src: Option<Ipv4Addr>,
        ifindex: IfIndex,
    ) -> Result<OutRoute, SendError> {
        let iface = self.iface(ifindex).ok_or(SendError::NetUnreachable)?;
        let src = match src.filter(|s| !s.is_unspecified()) {
            Some(s) if is_loopback(s) => return Err(SendError::LoopbackSource),
            Some(s) if !self.is_local_addr(s) => return Err(SendError::NoSourceAddress),
            Some(s) => s,
            None => iface.select_addr(group).ok_or(SendError::NoSourceAddress)?,
        };
        Ok(OutRoute::on_link(group, src, ifindex))
    }

    /// Linux `ip_select_ident_segs` for a datagram no connected socket numbers, `segs` the
    /// datagrams it becomes after segmentation (each takes the next value):
    /// - with DF set it gets 0: an atomic datagram's identification means nothing (RFC 6864
    ///   §4.1) and is never reassembled, and a counter would tell an observer how much this
    ///   host sends (RFC 7739 §5.1, the "idle scan");
    /// - otherwise it takes the next values of one of [`IP_IDENTS`] counters, chosen by a
    ///   keyed hash of source, destination and protocol and offset by it
    ///   (`ip_idents_reserve`): consecutive datagrams to one destination differ, as
    ///   reassembly needs, and what this host sends to one destination does not show in the
    ///   IDs another sees.
    pub(crate) fn select_ident(
        &mut self,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        p: IpParams,
        segs: u16,
    ) -> u16 {
        if p.dont_frag {
            return 0;
        }
        let h = self.tcp.isn.ip_idents_hash(src, dst, p.protocol);
        let counter = &mut self.ip_idents[h as usize % IP_IDENTS];
        let id = counter.wrapping_add((h >> 16) as u16);
        *counter = counter.wrapping_add(segs);
        id
    }

    /// `ip_local_out`: puts the IPv4 header in front of `pkt` (data at the transport header),
    /// runs OUTPUT, and sends it on (or loops it back).
    pub(crate) fn ip_local_out(
        &mut self,
        mut pkt: PacketBuf,
        rt: &OutRoute,
        p: IpParams,
        now: Instant,
    ) -> Result<(), SendError> {
        let repr = Ipv4Repr {
            src: rt.src,
            dst: rt.dst,
            protocol: p.protocol,
            ttl: p.ttl,
            dscp: p.tos >> 2,
            ecn: p.tos & 3,
            ident: match p.ident {
                Some(id) => id,
                None => self.select_ident(rt.src, rt.dst, p, pkt.meta.gso_segs.max(1)),
            },
            dont_frag: p.dont_frag,
            more_frags: false,
            frag_offset: 0,
            payload_len: pkt.len(),
            options: p.options,
        };
        let hlen = repr.header_len();
        if hlen + pkt.len() > crate::frag::MAX_DATAGRAM {
            return Err(SendError::TooLong);
        }
        let Ok(h) = pkt.push(hlen) else {
            return Err(SendError::NoBuffers);
        };
        repr.emit(h, ChecksumMode::Software)
            .map_err(|_| SendError::NoBuffers)?;
        if let ChecksumState::Partial { start, offset } = pkt.meta.csum {
            pkt.meta.csum = ChecksumState::Partial {
                start: start + hlen as u16,
                offset,
            };
        }
        pkt.meta.protocol = ethertype::IPV4;
        pkt.set_network_header();
        self.snmp.ip.out_requests += 1;
        match self.nf_hook(&mut pkt, HookContext::output(rt.nh.ifindex), now) {
            Verdict::Accept => {}
            Verdict::Drop => {
                self.snmp.ip.out_discards += 1;
                return Err(SendError::Prohibited);
            }
            Verdict::Stolen => return Ok(()),
        }
        if rt.local {
            return self.ip_loopback(pkt, rt.nh.ifindex, now);
        }
        if p.mc_loop && rt.dst.is_multicast() && self.ip_mc_joined(rt.nh.ifindex, rt.dst) {
            // `ip_mc_output`: a copy for this host's own members comes back in on the
            // interface (`dev_loopback_xmit`) before the datagram leaves. The copy shares the
            // bytes until one of them is written. A super-packet (`UDP_SEGMENT`) comes back as
            // the datagrams it stands for, as Linux's `udp_rcv_segment` splits it on receive:
            // loopback has no device to cut it.
            if pkt.meta.gso_size == 0 {
                let _ = self.ip_loopback(pkt.clone(), rt.nh.ifindex, now);
            } else {
                match crate::gso::segment_ip(&pkt, &self.pool) {
                    Ok(segs) => {
                        for seg in segs {
                            let _ = self.ip_loopback(seg, rt.nh.ifindex, now);
                        }
                    }
                    Err(_) => self.snmp.ip.out_discards += 1,
                }
            }
        }
        if rt.dst.is_multicast() && p.ttl == 0 {
            // `ip_mc_output`: a group's datagram with TTL 0 must not go beyond the host; only
            // the loopback copy above is delivered.
            return Ok(());
        }
        self.ip_output(pkt, rt.nh, None, now)
    }

    /// Delivers a locally addressed datagram back into input, through POSTROUTING and
    /// PREROUTING as `lo` would. Its checksums were never damaged by a wire.
    ///
    /// Input never runs inside the output that sent to it: as Linux's `loopback_xmit` queues
    /// on the backlog for the softirq, the datagram joins [`Stack::loopback_backlog`], and the
    /// outermost loopback delivers the backlog in order. So what input sends back to this host
    /// meanwhile (an ACK, an echo reply, the segments that ACK lets go) waits its turn rather
    /// than recursing: a bulk transfer to this host went a call level deeper per segment and
    /// overflowed the stack.
    fn ip_loopback(
        &mut self,
        mut pkt: PacketBuf,
        ifindex: IfIndex,
        now: Instant,
    ) -> Result<(), SendError> {
        match self.nf_hook(&mut pkt, HookContext::postrouting(None, ifindex), now) {
            Verdict::Accept => {}
            Verdict::Drop => {
                self.snmp.ip.out_discards += 1;
                return Err(SendError::Prohibited);
            }
            Verdict::Stolen => return Ok(()),
        }
        if complete_tx_checksum(&mut pkt).is_err() {
            return Err(SendError::NoBuffers);
        }
        pkt.meta.csum = ChecksumState::Unnecessary;
        pkt.meta.ifindex = ifindex;
        pkt.meta.pkt_type = PacketType::Loopback;
        self.loopback_backlog.push_back((ifindex, pkt));
        if self.loopback_draining {
            return Ok(());
        }
        self.loopback_draining = true;
        while let Some((ifindex, pkt)) = self.loopback_backlog.pop_front() {
            self.ip_rcv(ifindex, pkt, now);
        }
        self.loopback_draining = false;
        Ok(())
    }

    /// `ip_output`: POSTROUTING, then [`Self::ip_finish_output`]. `in_if` is set for forwarded
    /// packets.
    pub(crate) fn ip_output(
        &mut self,
        mut pkt: PacketBuf,
        nh: NextHop,
        in_if: Option<IfIndex>,
        now: Instant,
    ) -> Result<(), SendError> {
        match self.nf_hook(&mut pkt, HookContext::postrouting(in_if, nh.ifindex), now) {
            Verdict::Accept => {}
            Verdict::Drop => {
                self.snmp.ip.out_discards += 1;
                return Err(SendError::Prohibited);
            }
            Verdict::Stolen => return Ok(()),
        }
        self.ip_finish_output(pkt, nh, in_if.is_some(), now)
    }

    /// `ip_finish_output`: fragments to the MTU (the path MTU for local traffic) unless DF
    /// forbids it; super-packets go whole, to be segmented at the device.
    fn ip_finish_output(
        &mut self,
        mut pkt: PacketBuf,
        nh: NextHop,
        forwarded: bool,
        now: Instant,
    ) -> Result<(), SendError> {
        let Some(link_mtu) = self.iface(nh.ifindex).map(|i| i.mtu()) else {
            return Err(SendError::NetUnreachable);
        };
        let Some(dst) = pkt.data().get(16..20) else {
            return Err(SendError::NoBuffers);
        };
        let dst = Ipv4Addr::new(dst[0], dst[1], dst[2], dst[3]);
        let mtu = if forwarded {
            link_mtu
        } else {
            self.pmtu.path_mtu(dst, link_mtu, now)
        };
        if pkt.meta.gso_size != 0 || pkt.len() <= mtu {
            return self.neigh_output(pkt, nh, now);
        }
        let Ok((hdr, _)) = Ipv4Repr::parse_quoted(pkt.data()) else {
            return Err(SendError::NoBuffers);
        };
        // Fragments cannot carry a checksum the device finishes over the whole datagram
        // (`skb_checksum_help` in `ip_do_fragment`).
        if complete_tx_checksum(&mut pkt).is_err() {
            return Err(SendError::NoBuffers);
        }
        self.ip_fragment(pkt, &hdr, nh, mtu, now)
    }

    /// `ip_do_fragment`: cuts the datagram into MTU-sized fragments.
    fn ip_fragment(
        &mut self,
        pkt: PacketBuf,
        hdr: &Ipv4Repr,
        nh: NextHop,
        mtu: usize,
        now: Instant,
    ) -> Result<(), SendError> {
        let hl = hdr.header_len();
        // Only cutting a datagram that starts at offset 0 blanks the options of the pieces
        // after the first (Linux `ip_frag_ipcb` with `first_frag`); a later fragment cut
        // again already carries what later fragments carry.
        let later_options = if hdr.frag_offset == 0 {
            fragment_options(hdr.options.as_bytes())
        } else {
            hdr.options
        };
        let later_hdr = Ipv4Repr {
            options: later_options,
            ..*hdr
        };
        let req = FragmentRequest {
            payload_len: hdr.payload_len,
            header_len: hl,
            later_header_len: later_hdr.header_len(),
            mtu,
            dont_fragment: hdr.dont_frag,
            offset: usize::from(hdr.frag_offset),
            more_fragments: hdr.more_frags,
        };
        let plan = fragment_plan(&req);
        self.frag_out.record(&plan);
        let pieces = match plan {
            Ok(p) => p,
            Err(FragmentError::NeedsFragmentation { mtu }) => {
                return Err(SendError::MessageTooBig { mtu })
            }
            Err(_) => return Err(SendError::TooLong),
        };
        let mut whole = vec![0; pkt.len()];
        pkt.copy_to(&mut whole).map_err(|_| SendError::NoBuffers)?;
        let payload = whole.get(hl..).ok_or(SendError::NoBuffers)?;
        for piece in pieces {
            let rel = piece.offset - usize::from(hdr.frag_offset);
            let Some(bytes) = payload.get(rel..rel + piece.len) else {
                return Err(SendError::NoBuffers);
            };
            let mut f = self.alloc(piece.header_len + piece.len);
            let first = if piece.header_len == hl && piece.offset == usize::from(hdr.frag_offset) {
                hdr
            } else {
                &later_hdr
            };
            let repr = Ipv4Repr {
                frag_offset: piece.offset as u16,
                more_frags: piece.more_fragments,
                payload_len: piece.len,
                ..*first
            };
            let Ok(buf) = f.put(piece.header_len + piece.len) else {
                return Err(SendError::NoBuffers);
            };
            repr.emit(buf, ChecksumMode::Software)
                .map_err(|_| SendError::NoBuffers)?;
            buf[piece.header_len..].copy_from_slice(bytes);
            f.meta.protocol = ethertype::IPV4;
            f.meta.mark = pkt.meta.mark;
            f.meta.hash = pkt.meta.hash;
            f.set_network_header();
            // A refused fragment dooms the datagram: the rest would only fill the queue.
            self.neigh_output(f, nh, now)?;
        }
        Ok(())
    }

    /// An upper layer saw `dst` answer (Linux `dst_confirm_neigh`): the neighbour a datagram to
    /// it goes through, the gateway or `dst` itself, is confirmed reachable, so it is not
    /// probed while the traffic flows ([`crate::neigh::NeighTable::confirm`]). Nothing for
    /// this host's own addresses, which have no neighbour.
    pub(crate) fn neigh_confirm_path(&mut self, dst: Ipv4Addr, now: Instant) {
        if self.is_local_addr(dst) {
            return;
        }
        let Ok(nh) = self.fib.lookup(dst) else {
            return;
        };
        if let Some(iface) = self.iface_mut(nh.ifindex) {
            iface.neigh.confirm(nh.addr, now);
        }
    }

    /// `ip_finish_output2` + `neigh_output`: the next hop's MAC from the neighbour table (or
    /// broadcast), then the qdisc. Packets to an unresolved neighbour wait in its queue.
    /// Fails with [`SendError::QueueFull`] when the qdisc refused the packet.
    pub(crate) fn neigh_output(
        &mut self,
        mut pkt: PacketBuf,
        nh: NextHop,
        now: Instant,
    ) -> Result<(), SendError> {
        let ifindex = nh.ifindex;
        // Addresses whose MAC needs no resolution (`arp_mc_map`): a group's comes from the
        // group (RFC 1112 §6.4), a broadcast's is the broadcast MAC.
        let fixed_mac = if nh.addr.is_multicast() {
            Some(crate::wire::igmp::mc_mac(nh.addr))
        } else if self.is_broadcast_on(ifindex, nh.addr) {
            Some(EthernetAddress::BROADCAST)
        } else {
            None
        };
        if let Some(mac) = fixed_mac {
            if self.eth_header(ifindex, &mut pkt, mac, ethertype::IPV4) {
                return self.dev_queue_xmit(ifindex, pkt, now);
            }
            return Ok(());
        }
        let Some(iface) = self.iface_mut(ifindex) else {
            return Ok(());
        };
        let mut sent = Ok(());
        match iface.neigh.resolve(nh.addr, pkt, now) {
            Resolve::Ready(mac, mut pkt) => {
                if self.eth_header(ifindex, &mut pkt, mac, ethertype::IPV4) {
                    sent = self.dev_queue_xmit(ifindex, pkt, now);
                }
            }
            Resolve::Queued => {}
            Resolve::Failed(_, _) => self.snmp.ip.out_discards += 1,
        }
        self.run_neigh_actions(ifindex, now);
        sent
    }
}
