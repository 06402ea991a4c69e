//! The device layer (Linux `net/core/dev.c`): the RX entry point `netif_receive_skb` with the
//! early hook, capture taps, GRO and the L2 demux (`__netif_receive_skb_core`,
//! `eth_type_trans`); and the TX exit `dev_queue_xmit` → qdisc → `validate_xmit_skb`
//! (software checksum and GSO when the device lacks them) → device TX queue.

use crate::device::complete_tx_checksum;
use crate::gro::GroOutcome;
use crate::iface::Interface;
use crate::ip_output::SendError;
use crate::packet_tap::TapPoint;
use crate::pktbuf::{ChecksumState, PacketBuf, PacketType};
use crate::route::IfIndex;
use crate::stack::Stack;
use crate::time::Instant;
use crate::wire::ethernet::{ethertype, EthernetAddress, EthernetRepr};
use crate::wire::vlan::VlanRepr;
use crate::xdp::XdpAction;

impl Stack {
    /// One frame from a device (`netif_receive_skb`): early hook, wire taps, GRO, then
    /// [`Self::netif_receive_core`].
    pub(crate) fn netif_receive(&mut self, ifindex: IfIndex, mut frame: PacketBuf, now: Instant) {
        let Some(iface) = self.iface_mut(ifindex) else {
            return;
        };
        iface.stats.rx_packets += 1;
        iface.stats.rx_bytes += frame.len() as u64;
        frame.meta.ifindex = ifindex;
        frame.set_mac_header();

        if let Some(mut prog) = iface.xdp.take() {
            let action = prog(&mut frame, ifindex);
            // The program is put back before acting, so a redirect to this same interface
            // or a later frame finds it in place.
            if let Some(iface) = self.iface_mut(ifindex) {
                iface.xdp = Some(prog);
            }
            match action {
                XdpAction::Pass => {}
                XdpAction::Drop => {
                    if let Some(i) = self.iface_mut(ifindex) {
                        i.stats.xdp_drop += 1;
                    }
                    return;
                }
                XdpAction::Tx => {
                    if let Some(i) = self.iface_mut(ifindex) {
                        i.stats.xdp_tx += 1;
                    }
                    self.xdp_xmit(ifindex, frame, now);
                    return;
                }
                XdpAction::Redirect(to) => {
                    if let Some(i) = self.iface_mut(ifindex) {
                        i.stats.xdp_redirect += 1;
                    }
                    self.xdp_xmit(to, frame, now);
                    return;
                }
            }
        }

        if self.taps.any(TapPoint::WireRx) {
            self.taps
                .capture(TapPoint::WireRx, Some(ifindex), &frame, now);
        }

        let Some(iface) = self.iface_mut(ifindex) else {
            return;
        };
        if iface.gro_enabled && !iface.dev.caps().gro_hw {
            if iface.gro.receive_to_out(frame, now) == GroOutcome::Merged {
                iface.stats.gro_merged += 1;
            }
            // Most frames join a held flow: nothing to deliver.
            if iface.gro.out.is_empty() {
                return;
            }
            let mut out = std::mem::take(&mut iface.gro.out);
            for f in out.drain(..) {
                self.netif_receive_core(ifindex, f, now);
            }
            if let Some(iface) = self.iface_mut(ifindex) {
                iface.gro.out = out;
            }
        } else {
            self.netif_receive_core(ifindex, frame, now);
        }
    }

    /// Delivers the super-packets GRO holds for `ifindex` at the end of a poll
    /// (`napi_gro_flush`): all of them when the poll emptied the device's queue (`complete`),
    /// else only those held for [`GRO_MAX_AGE`](crate::gro::GRO_MAX_AGE) or longer.
    pub(crate) fn gro_flush(&mut self, ifindex: IfIndex, now: Instant, complete: bool) {
        let Some(iface) = self.iface_mut(ifindex) else {
            return;
        };
        let mut out = std::mem::take(&mut iface.gro.out);
        if complete {
            iface.gro.flush(&mut out);
        } else {
            iface.gro.flush_older(now, &mut out);
        }
        for f in out.drain(..) {
            self.netif_receive_core(ifindex, f, now);
        }
        if let Some(iface) = self.iface_mut(ifindex) {
            iface.gro.out = out;
        }
    }

    /// A frame sent by the early hook: straight to the device queue, no qdisc (XDP frames
    /// bypass the stack both ways). Counted as a TX drop when the ring is full.
    fn xdp_xmit(&mut self, ifindex: IfIndex, frame: PacketBuf, now: Instant) {
        let Some(iface) = self.iface_mut(ifindex) else {
            // A redirect to an interface that does not exist: the frame is lost, and counted
            // where it came from.
            let from = frame.meta.ifindex;
            self.link_drop(from);
            return;
        };
        if iface.dev.tx_room() == 0 {
            iface.stats.tx_dropped += 1;
            return;
        }
        self.device_xmit(ifindex, frame, now);
    }

    /// The L2 demux (`eth_type_trans` + `__netif_receive_skb_core`): strips the Ethernet
    /// header (and an 802.1Q tag), drops frames for other hosts and unknown VLANs, and hands
    /// ARP and IPv4 to their handlers. Everything else is counted as `rx_nohandler`. A frame
    /// to a multicast MAC passes only when it is the MAC of a group the interface joined
    /// (or of 224.0.0.1), as a NIC's multicast filter programmed by `dev_mc_add` lets it;
    /// others are dropped and counted with the frames for other hosts.
    pub(crate) fn netif_receive_core(
        &mut self,
        ifindex: IfIndex,
        mut frame: PacketBuf,
        now: Instant,
    ) {
        let Some(iface) = self.iface(ifindex) else {
            return;
        };
        let (mac, vlan) = (iface.mac, iface.vlan);
        let parsed = EthernetRepr::parse(frame.data()).map(|(e, _)| e);
        let Ok(eth) = parsed else {
            self.snmp.link.rx_runt += 1;
            self.link_drop(ifindex);
            return;
        };
        let wanted = eth.dst == mac
            || eth.dst.is_broadcast()
            || (eth.dst.is_multicast() && iface.mc_mac_wanted(eth.dst));
        if !wanted {
            self.snmp.link.rx_otherhost += 1;
            self.link_drop(ifindex);
            return;
        }
        let mut proto = eth.ethertype;
        let _ = frame.pull(EthernetRepr::LEN);
        if proto == ethertype::VLAN {
            let Ok((tag, _)) = VlanRepr::parse(frame.data()) else {
                self.snmp.link.rx_runt += 1;
                self.link_drop(ifindex);
                return;
            };
            let _ = frame.pull(VlanRepr::LEN);
            frame.meta.vlan_tci = tag.tci().ok();
            proto = tag.ethertype;
        }
        if let Some(tci) = frame.meta.vlan_tci {
            let vid = tci & 0x0fff;
            if vid != 0 && Some(vid) != vlan {
                self.snmp.link.rx_vlan_unknown += 1;
                self.link_drop(ifindex);
                return;
            }
        }
        frame.meta.protocol = proto;
        frame.set_network_header();
        let unicast = eth.dst == mac;
        frame.meta.pkt_type = if unicast {
            PacketType::Host
        } else {
            PacketType::LinkBroadcast
        };
        match proto {
            ethertype::ARP => self.arp_rcv(ifindex, frame, unicast, now),
            ethertype::IPV4 => self.ip_rcv(ifindex, frame, now),
            _ => {
                self.snmp.link.rx_nohandler += 1;
                self.link_drop(ifindex);
            }
        }
    }

    fn link_drop(&mut self, ifindex: IfIndex) {
        if let Some(i) = self.iface_mut(ifindex) {
            i.stats.rx_dropped += 1;
        }
    }

    /// Puts the Ethernet header (and the interface's VLAN tag) in front of a packet whose
    /// data starts at the network header. A partial checksum's start moves with the data.
    pub(crate) fn eth_header(
        &mut self,
        ifindex: IfIndex,
        pkt: &mut PacketBuf,
        dst: EthernetAddress,
        proto: u16,
    ) -> bool {
        let Some(iface) = self.iface(ifindex) else {
            return false;
        };
        let (src, vlan) = (iface.mac, iface.vlan);
        let tag = vlan.map(|vid| VlanRepr::from_tci(vid, proto));
        let hlen = EthernetRepr::LEN + if tag.is_some() { VlanRepr::LEN } else { 0 };
        pkt.meta.protocol = proto;
        let Ok(h) = pkt.push(hlen) else {
            self.snmp.link.tx_errors += 1;
            return false;
        };
        let eth = EthernetRepr {
            dst,
            src,
            ethertype: if tag.is_some() {
                ethertype::VLAN
            } else {
                proto
            },
        };
        let ok =
            eth.emit(h).is_ok() && tag.is_none_or(|t| t.emit(&mut h[EthernetRepr::LEN..]).is_ok());
        if !ok {
            self.snmp.link.tx_errors += 1;
            return false;
        }
        if let ChecksumState::Partial { start, offset } = pkt.meta.csum {
            pkt.meta.csum = ChecksumState::Partial {
                start: start + hlen as u16,
                offset,
            };
        }
        pkt.set_mac_header();
        true
    }

    /// `dev_queue_xmit`: a frame (Ethernet header on) into the interface's qdisc, then as many
    /// frames as the device takes from the qdisc to the device. Fails with
    /// [`SendError::QueueFull`] when the qdisc refused the frame (Linux `NET_XMIT_DROP`), so
    /// a sender that can hold on to its data (TCP) stops and tries again later.
    pub(crate) fn dev_queue_xmit(
        &mut self,
        ifindex: IfIndex,
        frame: PacketBuf,
        now: Instant,
    ) -> Result<(), SendError> {
        let Some(iface) = self.iface_mut(ifindex) else {
            return Ok(());
        };
        let queued = iface.qdisc.enqueue(frame, now);
        if queued.is_err() {
            iface.stats.tx_dropped += 1;
            self.snmp.link.tx_qdisc_drops += 1;
        }
        self.qdisc_run(ifindex, now);
        queued.map_err(|_| SendError::QueueFull)
    }

    /// `__qdisc_run`: dequeues while the device has room.
    pub(crate) fn qdisc_run(&mut self, ifindex: IfIndex, now: Instant) {
        loop {
            let Some(iface) = self.iface_mut(ifindex) else {
                return;
            };
            if iface.dev.tx_room() == 0 {
                return;
            }
            let Some(frame) = iface.qdisc.dequeue(now) else {
                return;
            };
            self.validate_xmit(ifindex, frame, now);
        }
    }

    /// `validate_xmit_skb`: what the device cannot do is done here in software — GSO for
    /// super-packets when the device has no TSO, checksums when it has no TX checksum.
    fn validate_xmit(&mut self, ifindex: IfIndex, mut frame: PacketBuf, now: Instant) {
        let Some(iface) = self.iface_mut(ifindex) else {
            return;
        };
        let caps = *iface.dev.caps();
        let device_segments = match frame.network_header().and_then(|h| h.get(9)) {
            Some(&crate::wire::ipv4::protocol::TCP) => caps.tso,
            Some(&crate::wire::ipv4::protocol::UDP) => caps.gso_udp,
            _ => false,
        };
        if frame.meta.gso_size != 0 && !device_segments {
            let mut segs = std::mem::take(&mut self.gso_scratch);
            let pools = crate::gso::GsoPools {
                linear: &self.pool,
                headers: &self.gso_hdr_pool,
            };
            match crate::gso::segment_counting_sums(&frame, pools, &mut segs, caps.tx_csum) {
                Ok((_, sums_used)) => {
                    if let Some(iface) = self.iface_mut(ifindex) {
                        iface.stats.gso_segmented += 1;
                        iface.stats.gso_sums_from_copy += sums_used as u64;
                    }
                    self.device_xmit_all(ifindex, &mut segs, now);
                    self.gso_scratch = segs;
                }
                Err(_) => {
                    self.gso_scratch = segs;
                    if let Some(iface) = self.iface_mut(ifindex) {
                        iface.stats.tx_dropped += 1;
                    }
                    self.snmp.link.tx_errors += 1;
                }
            }
            return;
        }
        if matches!(frame.meta.csum, ChecksumState::Partial { .. })
            && !caps.tx_csum
            && complete_tx_checksum(&mut frame).is_err()
        {
            if let Some(iface) = self.iface_mut(ifindex) {
                iface.stats.tx_dropped += 1;
            }
            self.snmp.link.tx_errors += 1;
            return;
        }
        self.device_xmit(ifindex, frame, now);
    }

    /// [`Self::device_xmit`] for every frame of `frames` (the segments of one super-packet),
    /// in order, leaving it empty: the taps and the interface are looked up once for all.
    fn device_xmit_all(&mut self, ifindex: IfIndex, frames: &mut Vec<PacketBuf>, now: Instant) {
        if self.taps.any(TapPoint::WireTx) {
            for f in frames.drain(..) {
                self.device_xmit(ifindex, f, now);
            }
            return;
        }
        let Some(iface) = self.iface_mut(ifindex) else {
            frames.clear();
            return;
        };
        for frame in frames.drain(..) {
            hand_to_device(iface, frame);
        }
    }

    /// Hands a finished frame to the device (`dev_hard_start_xmit`), showing it to TX taps.
    fn device_xmit(&mut self, ifindex: IfIndex, frame: PacketBuf, now: Instant) {
        if self.taps.any(TapPoint::WireTx) {
            self.taps
                .capture(TapPoint::WireTx, Some(ifindex), &frame, now);
        }
        if let Some(iface) = self.iface_mut(ifindex) {
            hand_to_device(iface, frame);
        }
    }
}

/// The last step of [`Stack::device_xmit`]: the frame counted and in the device's queue. The
/// device gets bytes: sums the stack kept beside them stay behind.
#[inline(always)]
fn hand_to_device(iface: &mut Interface, mut frame: PacketBuf) {
    frame.clear_seg_sums();
    iface.stats.tx_packets += 1;
    iface.stats.tx_bytes += frame.len() as u64;
    iface.dev.push_tx(frame);
}
