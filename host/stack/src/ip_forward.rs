//! IPv4 forwarding (Linux `net/ipv4/ip_forward.c`, and the reject routes of `ip_error`):
//! route lookup, TTL check (ICMP time exceeded), MTU check (ICMP fragmentation needed when DF
//! is set), TTL decrement with an incremental checksum update (RFC 1624), FORWARD, then IP
//! output (POSTROUTING, fragmentation, neighbour).

use crate::hooks::{HookContext, Verdict};
use crate::icmp::IcmpError;
use crate::pktbuf::{ChecksumState, PacketBuf, PacketType};
use crate::route::{IfIndex, LookupError};
use crate::stack::Stack;
use crate::time::Instant;
use crate::wire::checksum;
use crate::wire::icmpv4::{DstUnreachable, TimeExceeded};
use crate::wire::ipv4::{fill_header_checksum, protocol, Ipv4Repr, OptionsInfo};
use std::net::Ipv4Addr;

impl Stack {
    /// `ip_forward`: `pkt` starts at the IPv4 header, `hdr` is its parsed header and `opts`
    /// what `ip_rcv_options` found in its options.
    pub(crate) fn ip_forward(
        &mut self,
        in_if: IfIndex,
        mut pkt: PacketBuf,
        hdr: Ipv4Repr,
        opts: OptionsInfo,
        now: Instant,
    ) {
        // A unicast datagram in a link-layer broadcast is not for a router to pass on (RFC 1812
        // §5.3.4, RFC 1122 §3.3.6); like Linux, the drop is not counted in the IP MIB.
        if pkt.meta.pkt_type != PacketType::Host {
            return;
        }
        let nh = match self.fib.lookup(hdr.dst) {
            Ok(nh) => nh,
            Err(e) => {
                self.snmp.ip.in_no_routes += 1;
                let reason = match e {
                    LookupError::NoRoute => DstUnreachable::NetUnreachable,
                    LookupError::Unreachable => DstUnreachable::HostUnreachable,
                    LookupError::Prohibit => DstUnreachable::CommProhibited,
                    LookupError::Blackhole => return,
                };
                self.icmp_send(&pkt, IcmpError::DstUnreachable(reason), Some(in_if), now);
                return;
            }
        };
        if hdr.ttl <= 1 {
            self.snmp.ip.in_hdr_errors += 1;
            self.icmp_send(
                &pkt,
                IcmpError::TimeExceeded(TimeExceeded::TtlExpired),
                Some(in_if),
                now,
            );
            return;
        }
        let Some(mtu) = self.iface(nh.ifindex).map(|i| i.mtu()) else {
            self.snmp.ip.in_discards += 1;
            return;
        };
        let hl = hdr.header_len();
        // A GRO super-packet is judged by the segments it will be cut back into
        // (`skb_gso_validate_network_len`).
        let net_len = if pkt.meta.gso_size != 0 {
            let l4h = match hdr.protocol {
                protocol::TCP => pkt
                    .data()
                    .get(hl + 12)
                    .map_or(20, |b| usize::from(b >> 4) * 4),
                _ => 8,
            };
            hl + l4h + usize::from(pkt.meta.gso_size)
        } else {
            pkt.len()
        };
        if net_len > mtu && hdr.dont_frag {
            self.frag_out.fails += 1;
            self.icmp_send(&pkt, IcmpError::FragNeeded(mtu as u16), Some(in_if), now);
            return;
        }
        if net_len > mtu && pkt.meta.gso_size != 0 {
            // Segments too big for the next link and allowed to fragment: cut the
            // super-packet here and forward each segment, to be fragmented on output
            // (`ip_finish_output_gso`).
            let Ok(segs) = crate::gso::segment_ip(&pkt, &self.pool) else {
                self.snmp.ip.in_discards += 1;
                return;
            };
            for seg in segs {
                self.ip_forward(in_if, seg, hdr, opts, now);
            }
            return;
        }
        let Ok(d) = pkt.data_mut() else {
            self.snmp.ip.in_discards += 1;
            return;
        };
        let old = u16::from_be_bytes([d[8], d[9]]);
        d[8] -= 1;
        let new = u16::from_be_bytes([d[8], d[9]]);
        let check = u16::from_be_bytes([d[10], d[11]]);
        d[10..12].copy_from_slice(&checksum::update16(check, old, new).to_be_bytes());
        // The L4 checksum was checked (or not) for this host; on the way out it is complete.
        pkt.meta.csum = ChecksumState::None;
        match self.nf_hook(&mut pkt, HookContext::forward(in_if, nh.ifindex), now) {
            Verdict::Accept => {}
            Verdict::Drop => {
                self.snmp.ip.in_discards += 1;
                return;
            }
            Verdict::Stolen => return,
        }
        if opts.rr_needaddr || opts.ts_needaddr {
            // `ip_forward_finish` → `ip_forward_options` (`ip_rt_get_source`): the address
            // this router sends from towards the next hop replaces the one receive recorded.
            let out_addr = self.iface(nh.ifindex).and_then(|i| i.select_addr(nh.addr));
            let Some(out_addr) = out_addr else {
                self.snmp.ip.in_discards += 1;
                return;
            };
            let Ok(d) = pkt.data_mut() else {
                self.snmp.ip.in_discards += 1;
                return;
            };
            ip_forward_options(d, &opts, out_addr);
        }
        self.snmp.ip.forw_datagrams += 1;
        let _ = self.ip_output(pkt, nh, Some(in_if), now);
    }
}

/// `ip_forward_options` for record route and timestamp: `header` (the IPv4 header and what
/// follows) had its slots filled on receive (`rr_needaddr`, `ts_needaddr`, pointers already
/// past them); `addr` overwrites the address in each, and the header checksum is recomputed.
fn ip_forward_options(header: &mut [u8], opts: &OptionsInfo, addr: Ipv4Addr) {
    let mut write = |at: Option<u8>, back: usize| {
        let Some(o) = at.map(usize::from) else {
            return;
        };
        let Some(&ptr) = header.get(o + 2) else {
            return;
        };
        let slot = (o + usize::from(ptr)).checked_sub(back);
        if let Some(s) = slot.and_then(|s| header.get_mut(s..s + 4)) {
            s.copy_from_slice(&addr.octets());
        }
    };
    if opts.rr_needaddr {
        write(opts.rr, 5);
    }
    if opts.ts_needaddr {
        write(opts.ts, 9);
    }
    let hl = header.first().map_or(0, |v| usize::from(v & 0x0f) * 4);
    if let Some(h) = header
        .get_mut(..hl)
        .filter(|h| h.len() >= Ipv4Repr::MIN_LEN)
    {
        fill_header_checksum(h);
    }
}
