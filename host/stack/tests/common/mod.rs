//! An in-memory network for stack tests and benches: stacks joined by point-to-point links
//! with latency and an MTU, driven by a virtual clock. The links also play the devices' part
//! of the offload contract: a frame asking for a partial checksum or TSO gets it here, as a
//! card would do it.
#![allow(dead_code)]

use oxnic_stack::device::complete_tx_checksum;
use oxnic_stack::gso;
use oxnic_stack::pktbuf::{PacketBuf, PacketPool};
use oxnic_stack::route::IfIndex;
use oxnic_stack::time::Instant;
use oxnic_stack::wire::ethernet::EthernetAddress;
use oxnic_stack::{DeviceCaps, IfaceConfig, Stack, StackConfig};
use std::net::Ipv4Addr;
use std::time::Duration;

/// One end of a link: a stack index and an interface of it.
pub type End = (usize, IfIndex);

pub struct Link {
    pub a: End,
    pub b: End,
    pub latency: Duration,
    /// Largest frame payload (IP packet) the wire carries; bigger frames are lost.
    pub mtu: usize,
    /// Frames lost for being too big.
    pub oversize: u64,
    /// Frames carried.
    pub carried: u64,
}

struct InFlight {
    at: Instant,
    to: End,
    frame: Vec<u8>,
}

pub struct Net {
    pub stacks: Vec<Stack>,
    pub links: Vec<Link>,
    pub now: Instant,
    in_flight: Vec<InFlight>,
    pool: PacketPool,
}

pub fn mac(stack: usize, ifindex: IfIndex) -> EthernetAddress {
    EthernetAddress([2, 0, 0, 0, stack as u8, ifindex as u8])
}

pub fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

impl Net {
    pub fn new() -> Self {
        Net {
            stacks: Vec::new(),
            links: Vec::new(),
            now: Instant::from_millis(1),
            in_flight: Vec::new(),
            pool: PacketPool::new(64, 2048),
        }
    }

    pub fn add_stack(&mut self, cfg: StackConfig) -> usize {
        self.stacks.push(Stack::new(cfg));
        self.stacks.len() - 1
    }

    /// Adds an interface with `addr` (e.g. "10.0.0.1/24") to stack `s`.
    pub fn add_iface(&mut self, s: usize, addr: &str, caps: DeviceCaps) -> IfIndex {
        let next = self.stacks[s].interfaces().count() as IfIndex + 1;
        let name = format!("eth{}", next - 1);
        let i = self.stacks[s].add_interface(IfaceConfig::new(&name, mac(s, next), caps));
        let (a, len) = addr.split_once('/').unwrap();
        let now = self.now;
        self.stacks[s]
            .add_address(i, ip(a), len.parse().unwrap(), now)
            .unwrap();
        i
    }

    pub fn connect(&mut self, a: End, b: End, latency: Duration, mtu: usize) -> usize {
        self.links.push(Link {
            a,
            b,
            latency,
            mtu,
            oversize: 0,
            carried: 0,
        });
        self.links.len() - 1
    }

    /// Takes every frame the devices have to send and puts it on its link.
    fn collect_tx(&mut self) -> bool {
        let mut any = false;
        for l in 0..self.links.len() {
            for (from, to) in [
                (self.links[l].a, self.links[l].b),
                (self.links[l].b, self.links[l].a),
            ] {
                let caps = self.stacks[from.0].device_caps(from.1).unwrap();
                while let Some(mut f) = self.stacks[from.0].device_mut(from.1).unwrap().pop_tx() {
                    any = true;
                    // The card's TSO engine, then its checksum insertion.
                    // The stack only hands over super-packets the device said it can cut.
                    let frames = if f.meta.gso_size != 0 {
                        gso::segment(&f, &self.pool).expect("device TSO")
                    } else {
                        if caps.tx_csum {
                            complete_tx_checksum(&mut f).expect("device checksum");
                        }
                        vec![f]
                    };
                    for f in frames {
                        let mut bytes = vec![0; f.len()];
                        f.copy_to(&mut bytes).unwrap();
                        let link = &mut self.links[l];
                        if bytes.len() > link.mtu + 18 {
                            link.oversize += 1;
                            continue;
                        }
                        link.carried += 1;
                        let at = self.now + link.latency;
                        self.in_flight.push(InFlight {
                            at,
                            to,
                            frame: bytes,
                        });
                    }
                }
            }
        }
        any
    }

    fn deliver_due(&mut self) -> bool {
        let now = self.now;
        let (due, later): (Vec<InFlight>, Vec<InFlight>) = std::mem::take(&mut self.in_flight)
            .into_iter()
            .partition(|f| f.at <= now);
        self.in_flight = later;
        let any = !due.is_empty();
        for f in due {
            let pkt = PacketBuf::from_slice(64, &f.frame);
            self.stacks[f.to.0].device_mut(f.to.1).unwrap().push_rx(pkt);
        }
        any
    }

    /// Runs the network until `until` or until nothing is left to do before it.
    pub fn run_until(&mut self, until: Instant) {
        for _ in 0..1_000_000 {
            self.deliver_due();
            for s in &mut self.stacks {
                s.poll(self.now);
            }
            if self.collect_tx() {
                continue;
            }
            let mut next = self.in_flight.iter().map(|f| f.at).min();
            for s in &self.stacks {
                if let Some(t) = s.poll_at(self.now) {
                    if t > self.now {
                        next = Some(next.map_or(t, |n| n.min(t)));
                    }
                }
            }
            match next {
                Some(t) if t <= until => self.now = t,
                _ => {
                    self.now = until;
                    return;
                }
            }
        }
        panic!("network did not settle");
    }

    pub fn run_for(&mut self, d: Duration) {
        let until = self.now + d;
        self.run_until(until);
    }

    /// Frames in flight.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }
}

/// Two stacks on one link: A = 10.0.0.1/24, B = 10.0.0.2/24.
pub fn two_hosts(caps: DeviceCaps, latency: Duration) -> (Net, IfIndex, IfIndex) {
    let mut net = Net::new();
    let a = net.add_stack(StackConfig::default());
    let b = net.add_stack(StackConfig::default());
    let ia = net.add_iface(a, "10.0.0.1/24", caps);
    let ib = net.add_iface(b, "10.0.0.2/24", caps);
    net.connect((a, ia), (b, ib), latency, caps.mtu);
    (net, ia, ib)
}

/// A — R — C: A = 10.0.1.1/24 (gw 10.0.1.254), R = 10.0.1.254/24 + 10.0.2.254/24 forwarding,
/// C = 10.0.2.1/24 (gw 10.0.2.254). `mtu_rc` is the MTU of the R—C link.
pub fn three_hosts(mtu_rc: usize) -> Net {
    let mut net = Net::new();
    let a = net.add_stack(StackConfig::default());
    let r = net.add_stack(StackConfig {
        forwarding: true,
        ..StackConfig::default()
    });
    let c = net.add_stack(StackConfig::default());
    let caps = DeviceCaps::default();
    let ia = net.add_iface(a, "10.0.1.1/24", caps);
    let r1 = net.add_iface(r, "10.0.1.254/24", caps);
    let r2 = net.add_iface(
        r,
        "10.0.2.254/24",
        DeviceCaps {
            mtu: mtu_rc,
            ..caps
        },
    );
    let ic = net.add_iface(
        c,
        "10.0.2.1/24",
        DeviceCaps {
            mtu: mtu_rc,
            ..caps
        },
    );
    use oxnic_stack::route::Route;
    net.stacks[a]
        .routes_mut()
        .add(Route::default_via(ip("10.0.1.254"), ia))
        .unwrap();
    net.stacks[c]
        .routes_mut()
        .add(Route::default_via(ip("10.0.2.254"), ic))
        .unwrap();
    let ms = Duration::from_micros(100);
    net.connect((a, ia), (r, r1), ms, 1500);
    net.connect((r, r2), (c, ic), ms, mtu_rc);
    net
}

use oxnic_stack::wire::checksum::ChecksumMode;
use oxnic_stack::wire::ethernet::{ethertype, EthernetRepr};
use oxnic_stack::wire::ipv4::{protocol, Ipv4Options, Ipv4Repr};
use oxnic_stack::wire::tcp::{TcpFlags, TcpOptions, TcpRepr, TcpTimestamps};
use oxnic_stack::wire::udp::UdpRepr;

/// Addresses of a hand-built frame.
#[derive(Clone, Copy)]
pub struct Addrs {
    pub src_mac: EthernetAddress,
    pub dst_mac: EthernetAddress,
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
}

pub fn ipv4(a: &Addrs, proto: u8, ident: u16, ttl: u8, payload_len: usize) -> Ipv4Repr {
    Ipv4Repr {
        src: a.src,
        dst: a.dst,
        protocol: proto,
        ttl,
        dscp: 0,
        ecn: 0,
        ident,
        dont_frag: false,
        more_frags: false,
        frag_offset: 0,
        payload_len,
        options: Ipv4Options::default(),
    }
}

/// Ethernet + the IPv4 header `ip` + `l4` bytes.
pub fn ip_frame(a: &Addrs, ip: &Ipv4Repr, l4: &[u8]) -> Vec<u8> {
    let mut f = vec![0; 14 + ip.header_len() + l4.len()];
    EthernetRepr {
        dst: a.dst_mac,
        src: a.src_mac,
        ethertype: ethertype::IPV4,
    }
    .emit(&mut f)
    .unwrap();
    let hl = ip.emit(&mut f[14..], ChecksumMode::Software).unwrap();
    f[14 + hl..].copy_from_slice(l4);
    f
}

pub fn udp_frame(a: &Addrs, sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut l4 = vec![0; 8 + payload.len()];
    l4[8..].copy_from_slice(payload);
    UdpRepr {
        src_port: sport,
        dst_port: dport,
    }
    .emit(&mut l4, payload.len(), a.src, a.dst, ChecksumMode::Software)
    .unwrap();
    ip_frame(a, &ipv4(a, protocol::UDP, 1, 64, l4.len()), &l4)
}

/// A TCP segment with the timestamp option (as Linux sends bulk data).
pub fn tcp_frame(a: &Addrs, ident: u16, seq: u32, flags: u16, payload: &[u8]) -> Vec<u8> {
    let repr = TcpRepr {
        src_port: 40000,
        dst_port: 5001,
        seq,
        ack: 1000,
        flags: TcpFlags(flags | TcpFlags::ACK),
        window: 502,
        urgent: 0,
        options: TcpOptions {
            timestamps: Some(TcpTimestamps {
                tsval: 77,
                tsecr: 88,
            }),
            ..TcpOptions::default()
        },
    };
    let hl = repr.header_len().unwrap();
    let mut l4 = vec![0; hl + payload.len()];
    l4[hl..].copy_from_slice(payload);
    repr.emit(&mut l4, payload.len(), a.src, a.dst, ChecksumMode::Software)
        .unwrap();
    ip_frame(a, &ipv4(a, protocol::TCP, ident, 64, l4.len()), &l4)
}
