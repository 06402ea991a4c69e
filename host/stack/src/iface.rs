//! Interfaces (Linux `struct net_device` plus its `in_device`): a device's queues and
//! capabilities, a MAC, an MTU, IPv4 addresses with prefixes, a neighbour table, a qdisc, the
//! early RX program, the software GRO state and counters.

use crate::device::{DeviceCaps, NetDevice};
use crate::gro::Gro;
use crate::neigh::{NeighParams, NeighTable};
use crate::pktbuf::PacketBuf;
use crate::qdisc::{PfifoFast, Qdisc, QdiscStats, QueuedPacket};
use crate::route::IfIndex;
use crate::wire::ethernet::{ethertype, EthernetAddress};
use crate::xdp::XdpProg;
use std::net::Ipv4Addr;

/// What an interface is made of.
#[derive(Debug, Clone)]
pub struct IfaceConfig {
    /// Name, for listings (`eth0`).
    pub name: String,
    /// MAC address.
    pub mac: EthernetAddress,
    /// What the device can do; `caps.mtu` is the interface MTU.
    pub caps: DeviceCaps,
    /// When set, the interface sends and accepts frames tagged with this 802.1Q VLAN id only
    /// (untagged and priority-tagged frames are accepted too).
    pub vlan: Option<u16>,
}

impl IfaceConfig {
    /// An untagged interface.
    pub fn new(name: &str, mac: EthernetAddress, caps: DeviceCaps) -> Self {
        IfaceConfig {
            name: name.to_string(),
            mac,
            caps,
            vlan: None,
        }
    }
}

/// Interface counters as `ip -s link` shows them, plus the early-hook verdicts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IfStats {
    /// Frames received from the device.
    pub rx_packets: u64,
    /// Bytes received from the device.
    pub rx_bytes: u64,
    /// Frames dropped at the link layer (runt, other host, unknown VLAN or EtherType).
    pub rx_dropped: u64,
    /// Frames handed to the device.
    pub tx_packets: u64,
    /// Bytes handed to the device.
    pub tx_bytes: u64,
    /// Frames dropped on the way out (qdisc full, failed offload fallback).
    pub tx_dropped: u64,
    /// Frames the early RX program dropped.
    pub xdp_drop: u64,
    /// Frames it sent back out of this interface.
    pub xdp_tx: u64,
    /// Frames it redirected to another interface.
    pub xdp_redirect: u64,
    /// Segments software GRO merged into super-packets.
    pub gro_merged: u64,
    /// Super-packets software GSO cut up.
    pub gso_segmented: u64,
    /// Segments software GSO cut whose payload sum TCP had taken while copying the bytes
    /// into its send queue, so GSO did not read that payload (the others it summed itself).
    pub gso_sums_from_copy: u64,
}

/// One interface.
pub struct Interface {
    pub(crate) index: IfIndex,
    pub(crate) name: String,
    pub(crate) mac: EthernetAddress,
    pub(crate) vlan: Option<u16>,
    pub(crate) addrs: Vec<(Ipv4Addr, u8)>,
    pub(crate) dev: NetDevice,
    pub(crate) qdisc: Box<dyn Qdisc<PacketBuf> + Send>,
    pub(crate) neigh: NeighTable<PacketBuf>,
    pub(crate) xdp: Option<XdpProg>,
    pub(crate) gro: Gro,
    pub(crate) gro_enabled: bool,
    pub(crate) stats: IfStats,
    /// Multicast groups joined here and how many sockets hold each (Linux `in_device`'s
    /// `mc_list` of `ip_mc_list` with their `users`); 224.0.0.1 is implicit.
    pub(crate) mc_list: Vec<(Ipv4Addr, u32)>,
}

impl core::fmt::Debug for Interface {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Interface")
            .field("index", &self.index)
            .field("name", &self.name)
            .field("mac", &self.mac)
            .field("mtu", &self.mtu())
            .field("addrs", &self.addrs)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl Interface {
    pub(crate) fn new(index: IfIndex, cfg: IfaceConfig, neigh: NeighParams) -> Self {
        Interface {
            index,
            name: cfg.name,
            mac: cfg.mac,
            vlan: cfg.vlan,
            addrs: Vec::new(),
            dev: NetDevice::new(cfg.caps),
            qdisc: Box::new(PfifoFast::default()),
            neigh: NeighTable::new(neigh),
            xdp: None,
            gro: Gro::default(),
            gro_enabled: true,
            stats: IfStats::default(),
            mc_list: Vec::new(),
        }
    }

    /// Index.
    pub fn index(&self) -> IfIndex {
        self.index
    }

    /// Name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// MAC address.
    pub fn mac(&self) -> EthernetAddress {
        self.mac
    }

    /// MTU (largest IP packet).
    pub fn mtu(&self) -> usize {
        self.dev.caps().mtu
    }

    /// Addresses with their prefix lengths, in the order they were added.
    pub fn addresses(&self) -> &[(Ipv4Addr, u8)] {
        &self.addrs
    }

    /// Counters.
    pub fn stats(&self) -> &IfStats {
        &self.stats
    }

    /// The qdisc's counters (`tc -s qdisc`).
    pub fn qdisc_stats(&self) -> &QdiscStats {
        self.qdisc.stats()
    }

    /// Software GRO counters.
    pub fn gro_stats(&self) -> &crate::gro::GroStats {
        self.gro.stats()
    }

    /// The neighbour table (`ip neigh`).
    pub fn neigh(&self) -> &NeighTable<PacketBuf> {
        &self.neigh
    }

    /// The neighbour table, to add permanent entries or tune it.
    pub fn neigh_mut(&mut self) -> &mut NeighTable<PacketBuf> {
        &mut self.neigh
    }

    /// Multicast groups joined on this interface with the number of sockets holding each
    /// (`ip maddr show`, `/proc/net/igmp`), not counting the implicit 224.0.0.1.
    pub fn multicast_groups(&self) -> &[(Ipv4Addr, u32)] {
        &self.mc_list
    }

    /// True when this interface receives `group`: joined, or the all-hosts group 224.0.0.1
    /// (Linux `ip_check_mc_rcu`'s lookup).
    pub(crate) fn mc_joined(&self, group: Ipv4Addr) -> bool {
        group == crate::wire::igmp::ALL_HOSTS || self.mc_list.iter().any(|&(g, _)| g == group)
    }

    /// True when a frame to multicast MAC `mac` is for a group this interface receives: the
    /// link layer's filter (a NIC's multicast hash, Linux `dev_mc_add` of `ip_eth_mc_map`).
    pub(crate) fn mc_mac_wanted(&self, mac: EthernetAddress) -> bool {
        mac == crate::wire::igmp::mc_mac(crate::wire::igmp::ALL_HOSTS)
            || self
                .mc_list
                .iter()
                .any(|&(g, _)| crate::wire::igmp::mc_mac(g) == mac)
    }

    /// The device queues.
    pub fn device(&self) -> &NetDevice {
        &self.dev
    }

    /// The source address for talking to `peer` from this interface (Linux
    /// `inet_select_addr`): an address whose prefix holds `peer`, else the first one.
    pub(crate) fn select_addr(&self, peer: Ipv4Addr) -> Option<Ipv4Addr> {
        self.addrs
            .iter()
            .find(|&&(a, l)| crate::stack::mask(a, l) == crate::stack::mask(peer, l))
            .or(self.addrs.first())
            .map(|a| a.0)
    }
}

/// Frames wait in qdiscs with their Ethernet header on and the network header recorded, so the
/// TOS is read from there. The flow hash is the RSS hash when the device gave one, else a hash
/// of the addresses (and ports when present), computed here so fq_codel works on locally
/// generated traffic too.
impl QueuedPacket for PacketBuf {
    fn len(&self) -> usize {
        PacketBuf::len(self)
    }

    fn tos(&self) -> u8 {
        if self.meta.protocol != ethertype::IPV4 {
            return 0;
        }
        self.network_header()
            .and_then(|h| h.get(1).copied())
            .unwrap_or(0)
    }

    fn flow_hash(&self) -> u32 {
        if self.meta.hash != 0 {
            return self.meta.hash;
        }
        let Some(h) = self.network_header() else {
            return 0;
        };
        let Some(addrs) = h.get(12..20) else {
            return 0;
        };
        let ihl = usize::from(h[0] & 0x0f) * 4;
        let ports = h.get(ihl..ihl + 4).unwrap_or(&[]);
        let mut x: u32 = 0x811c_9dc5;
        for &b in addrs.iter().chain(ports).chain(h.get(9..10).unwrap_or(&[])) {
            x = (x ^ u32::from(b)).wrapping_mul(0x0100_0193);
        }
        x
    }
}
