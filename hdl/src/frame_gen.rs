//! Realistic received frames for the RX classification blocks and the card's co-simulation:
//! Ethernet II (optionally 802.1Q-tagged) carrying IPv4 with TCP, UDP or another protocol, with
//! correct checksums, plus ARP, and the defects a receiver must classify correctly.
//!
//! Frames are as the MAC hands them to the card: without FCS, padded to [`MIN_FRAME`] bytes.
//! Padding is whatever [`Ipv4Frame::padding`] holds (random in [`random_frame`]), because
//! padding that is not zero is what tells a checksum that wrongly covers it from one that
//! does not.
//!
//! - [`Ipv4Frame`]: one IPv4 frame described field by field; [`Ipv4Frame::build`] emits it.
//! - [`arp_request`]: an ARP request (a frame that is not IP).
//! - [`Defect`] and [`apply`]: corruptions applied to a built frame (bad checksums, bad IHL,
//!   bad total length, bad version, truncation).
//! - [`random_frame`]: the mix the tests use, every case above in realistic proportions.

use oxnic_abi::checksum::{checksum, fold, pseudo_header, sum};
use rand::Rng;

/// Shortest Ethernet frame without FCS; shorter frames are padded up to it.
pub const MIN_FRAME: usize = 60;
/// 802.1Q tag protocol identifier.
pub const TPID_8021Q: u16 = 0x8100;
/// Ethertype of IPv4.
pub const ETHERTYPE_IPV4: u16 = 0x0800;
/// Ethertype of ARP.
pub const ETHERTYPE_ARP: u16 = 0x0806;
/// IPv4 protocol number of TCP.
pub const PROTO_TCP: u8 = 6;
/// IPv4 protocol number of UDP.
pub const PROTO_UDP: u8 = 17;

/// The transport layer of an [`Ipv4Frame`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum L4 {
    /// A TCP segment (PSH|ACK) with `options` (padded to a multiple of 4 bytes, at most 40).
    Tcp {
        /// Source port.
        sport: u16,
        /// Destination port.
        dport: u16,
        /// Sequence number.
        seq: u32,
        /// TCP options.
        options: Vec<u8>,
    },
    /// A UDP datagram.
    Udp {
        /// Source port.
        sport: u16,
        /// Destination port.
        dport: u16,
        /// Send checksum 0 ("no checksum", allowed over IPv4).
        no_checksum: bool,
    },
    /// Any other protocol: the payload follows the IPv4 header directly.
    Other {
        /// IPv4 protocol number.
        proto: u8,
    },
}

impl L4 {
    /// IPv4 protocol number.
    pub fn proto(&self) -> u8 {
        match self {
            L4::Tcp { .. } => PROTO_TCP,
            L4::Udp { .. } => PROTO_UDP,
            L4::Other { proto } => *proto,
        }
    }
}

/// One Ethernet + IPv4 frame, field by field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ipv4Frame {
    /// Destination MAC address.
    pub dst_mac: [u8; 6],
    /// Source MAC address.
    pub src_mac: [u8; 6],
    /// 802.1Q tag control information, when tagged.
    pub vlan_tci: Option<u16>,
    /// Type of service byte.
    pub tos: u8,
    /// Identification.
    pub id: u16,
    /// Don't-fragment flag.
    pub dont_fragment: bool,
    /// More-fragments flag.
    pub more_fragments: bool,
    /// Fragment offset in 8-byte units (13 bits); not zero means no L4 header is emitted.
    pub fragment_offset: u16,
    /// Time to live.
    pub ttl: u8,
    /// Source address.
    pub src: [u8; 4],
    /// Destination address.
    pub dst: [u8; 4],
    /// IPv4 options (padded with zero to a multiple of 4 bytes, at most 40).
    pub options: Vec<u8>,
    /// Transport header.
    pub l4: L4,
    /// Transport payload.
    pub payload: Vec<u8>,
    /// Bytes after the datagram (Ethernet padding or trailing junk); zeros are added after them
    /// up to [`MIN_FRAME`].
    pub padding: Vec<u8>,
}

fn padded4(v: &[u8]) -> Vec<u8> {
    let mut v = v[..v.len().min(40)].to_vec();
    v.resize(v.len().div_ceil(4) * 4, 0);
    v
}

impl Ipv4Frame {
    /// A UDP frame between two hosts with everything else at plain defaults.
    pub fn udp(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16, payload: &[u8]) -> Self {
        Ipv4Frame {
            dst_mac: [0x02, 0, 0, 0, 0, 2],
            src_mac: [0x02, 0, 0, 0, 0, 1],
            vlan_tci: None,
            tos: 0,
            id: 1,
            dont_fragment: true,
            more_fragments: false,
            fragment_offset: 0,
            ttl: 64,
            src,
            dst,
            options: vec![],
            l4: L4::Udp {
                sport,
                dport,
                no_checksum: false,
            },
            payload: payload.to_vec(),
            padding: vec![],
        }
    }

    /// The same frame carrying TCP (no options) instead.
    pub fn tcp(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16, payload: &[u8]) -> Self {
        Ipv4Frame {
            l4: L4::Tcp {
                sport,
                dport,
                seq: 1,
                options: vec![],
            },
            ..Self::udp(src, dst, sport, dport, payload)
        }
    }

    /// Offset of the IPv4 header in the frame (14, or 18 when tagged).
    pub fn l3_offset(&self) -> usize {
        if self.vlan_tci.is_some() {
            18
        } else {
            14
        }
    }

    /// IPv4 header length in bytes.
    pub fn ip_header_len(&self) -> usize {
        20 + padded4(&self.options).len()
    }

    /// Offset of the transport header in the frame.
    pub fn l4_offset(&self) -> usize {
        self.l3_offset() + self.ip_header_len()
    }

    /// A fragment (MF set or a non-zero offset).
    pub fn is_fragment(&self) -> bool {
        self.more_fragments || self.fragment_offset != 0
    }

    /// The transport header and payload, checksum filled in (none for later fragments).
    fn segment(&self) -> Vec<u8> {
        let mut s = vec![];
        if self.fragment_offset != 0 {
            s.extend_from_slice(&self.payload);
            return s;
        }
        let csum_at = match &self.l4 {
            L4::Tcp {
                sport,
                dport,
                seq,
                options,
            } => {
                let opts = padded4(options);
                s.extend(sport.to_be_bytes());
                s.extend(dport.to_be_bytes());
                s.extend(seq.to_be_bytes());
                s.extend(0x1000_0001u32.to_be_bytes()); // ack
                s.push(((5 + opts.len() / 4) as u8) << 4);
                s.push(0x18); // PSH|ACK
                s.extend(0xfaf0u16.to_be_bytes()); // window
                s.extend([0, 0, 0, 0]); // checksum, urgent pointer
                s.extend(opts);
                Some(16)
            }
            L4::Udp {
                sport,
                dport,
                no_checksum,
            } => {
                s.extend(sport.to_be_bytes());
                s.extend(dport.to_be_bytes());
                s.extend(((8 + self.payload.len()) as u16).to_be_bytes());
                s.extend([0, 0]);
                (!no_checksum).then_some(6)
            }
            L4::Other { .. } => None,
        };
        s.extend_from_slice(&self.payload);
        if let Some(at) = csum_at {
            let acc = pseudo_header(self.src, self.dst, self.l4.proto(), s.len() as u16);
            let mut c = !fold(sum(&s, acc));
            if c == 0 && matches!(self.l4, L4::Udp { .. }) {
                // UDP sends a computed zero as all ones: zero means "no checksum".
                c = 0xffff;
            }
            s[at..at + 2].copy_from_slice(&c.to_be_bytes());
        }
        s
    }

    /// The frame's bytes: Ethernet header, IPv4 header with its checksum, transport header with
    /// its checksum, payload, padding.
    pub fn build(&self) -> Vec<u8> {
        let mut f = vec![];
        f.extend(self.dst_mac);
        f.extend(self.src_mac);
        if let Some(tci) = self.vlan_tci {
            f.extend(TPID_8021Q.to_be_bytes());
            f.extend(tci.to_be_bytes());
        }
        f.extend(ETHERTYPE_IPV4.to_be_bytes());
        let seg = self.segment();
        let opts = padded4(&self.options);
        let hlen = 20 + opts.len();
        let mut h = vec![0x40 | (hlen / 4) as u8, self.tos];
        h.extend(((hlen + seg.len()) as u16).to_be_bytes());
        h.extend(self.id.to_be_bytes());
        let flags = (u16::from(self.dont_fragment) << 14)
            | (u16::from(self.more_fragments) << 13)
            | (self.fragment_offset & 0x1fff);
        h.extend(flags.to_be_bytes());
        h.push(self.ttl);
        h.push(self.l4.proto());
        h.extend([0, 0]);
        h.extend(self.src);
        h.extend(self.dst);
        h.extend(opts);
        let c = checksum(&h);
        h[10..12].copy_from_slice(&c.to_be_bytes());
        f.extend(h);
        f.extend(seg);
        f.extend_from_slice(&self.padding);
        if f.len() < MIN_FRAME {
            f.resize(MIN_FRAME, 0);
        }
        f
    }

    /// A random frame: TCP (45 %), UDP (40 %, one in eight without checksum) or another
    /// protocol; tagged one time in three; IPv4 options one time in three; a fragment one time
    /// in ten; payload of 0 to `max_payload` bytes, short ones most often; random padding.
    pub fn random(rng: &mut impl Rng, max_payload: usize) -> Self {
        let mac = |rng: &mut dyn rand::RngCore| -> [u8; 6] {
            let mut m: [u8; 6] = rand::Rng::gen(rng);
            m[0] &= 0xfe;
            m
        };
        let dst_mac = mac(rng);
        let src_mac = mac(rng);
        let plen = match rng.gen_range(0..4) {
            0 => rng.gen_range(0..=max_payload.min(8)),
            1 | 2 => rng.gen_range(0..=max_payload.min(64)),
            _ => rng.gen_range(0..=max_payload),
        };
        let l4 = match rng.gen_range(0..20) {
            0..=8 => L4::Tcp {
                sport: rng.gen(),
                dport: rng.gen(),
                seq: rng.gen(),
                options: if rng.gen_bool(0.3) {
                    (0..rng.gen_range(1..=40)).map(|_| rng.gen()).collect()
                } else {
                    vec![]
                },
            },
            9..=16 => L4::Udp {
                sport: rng.gen(),
                dport: rng.gen(),
                no_checksum: rng.gen_ratio(1, 8),
            },
            _ => L4::Other {
                proto: [1u8, 2, 47, 50, 132, 255][rng.gen_range(0..6)],
            },
        };
        let fragment = rng.gen_ratio(1, 10);
        Ipv4Frame {
            dst_mac,
            src_mac,
            vlan_tci: rng.gen_ratio(1, 3).then(|| rng.gen()),
            tos: rng.gen(),
            id: rng.gen(),
            dont_fragment: !fragment && rng.gen(),
            more_fragments: fragment && rng.gen(),
            fragment_offset: if fragment && rng.gen() {
                rng.gen_range(1..0x2000)
            } else {
                0
            },
            ttl: rng.gen(),
            src: rng.gen(),
            dst: rng.gen(),
            options: if rng.gen_ratio(1, 3) {
                (0..rng.gen_range(1..=40)).map(|_| rng.gen()).collect()
            } else {
                vec![]
            },
            l4,
            payload: (0..plen).map(|_| rng.gen()).collect(),
            padding: (0..rng.gen_range(0..=MIN_FRAME))
                .map(|_| rng.gen())
                .collect(),
        }
    }
}

/// An ARP request from `sender` (MAC, IPv4) for `target`, optionally tagged.
pub fn arp_request(
    sender_mac: [u8; 6],
    sender_ip: [u8; 4],
    target_ip: [u8; 4],
    vlan_tci: Option<u16>,
) -> Vec<u8> {
    let mut f = vec![0xff; 6];
    f.extend(sender_mac);
    if let Some(tci) = vlan_tci {
        f.extend(TPID_8021Q.to_be_bytes());
        f.extend(tci.to_be_bytes());
    }
    f.extend(ETHERTYPE_ARP.to_be_bytes());
    f.extend([0, 1, 0x08, 0, 6, 4, 0, 1]);
    f.extend(sender_mac);
    f.extend(sender_ip);
    f.extend([0; 6]);
    f.extend(target_ip);
    f.resize(f.len().max(MIN_FRAME), 0);
    f
}

/// A corruption of a built frame. Offsets are found from the frame itself (its tag and IHL), so
/// any frame [`Ipv4Frame::build`] made can take any defect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Defect {
    /// Flip bits of the IPv4 header checksum.
    Ipv4HeaderChecksum(u16),
    /// XOR a non-zero value into byte `at % len` of the transport segment (header or payload).
    L4Byte {
        /// Position in the segment, reduced modulo its length.
        at: usize,
        /// Non-zero XOR value.
        xor: u8,
    },
    /// Set the IHL field (the header checksum is fixed up, so only the length is wrong).
    Ihl(u8),
    /// Set the total length field (checksum fixed up).
    TotalLength(u16),
    /// Set the version field (checksum fixed up).
    Version(u8),
    /// Cut the frame to this many bytes.
    Truncate(usize),
}

fn l3_of(frame: &[u8]) -> usize {
    if frame.get(12..14) == Some(&TPID_8021Q.to_be_bytes()[..]) {
        18
    } else {
        14
    }
}

/// Re-computes the IPv4 header checksum after a field change, over the IHL the header claims
/// (clamped to what the frame holds).
fn fix_header_checksum(frame: &mut [u8], l3: usize) {
    let Some(&vihl) = frame.get(l3) else { return };
    let end = (l3 + usize::from(vihl & 0xf) * 4).min(frame.len());
    if l3 + 12 > end {
        return;
    }
    frame[l3 + 10] = 0;
    frame[l3 + 11] = 0;
    let c = checksum(&frame[l3..end]);
    frame[l3 + 10..l3 + 12].copy_from_slice(&c.to_be_bytes());
}

/// Applies `defect` to a built IPv4 frame (frames too short for it are left alone).
pub fn apply(frame: &mut Vec<u8>, defect: Defect) {
    let l3 = l3_of(frame);
    if frame.len() < l3 + 20 {
        return;
    }
    match defect {
        Defect::Ipv4HeaderChecksum(x) => {
            let x = if x == 0 { 1 } else { x };
            let c = u16::from_be_bytes([frame[l3 + 10], frame[l3 + 11]]) ^ x;
            frame[l3 + 10..l3 + 12].copy_from_slice(&c.to_be_bytes());
        }
        Defect::L4Byte { at, xor } => {
            let l4 = l3 + usize::from(frame[l3] & 0xf) * 4;
            let tlen = usize::from(u16::from_be_bytes([frame[l3 + 2], frame[l3 + 3]]));
            let end = (l3 + tlen).min(frame.len());
            if l4 < end {
                frame[l4 + at % (end - l4)] ^= xor.max(1);
            }
        }
        Defect::Ihl(ihl) => {
            frame[l3] = (frame[l3] & 0xf0) | (ihl & 0xf);
            fix_header_checksum(frame, l3);
        }
        Defect::TotalLength(len) => {
            frame[l3 + 2..l3 + 4].copy_from_slice(&len.to_be_bytes());
            fix_header_checksum(frame, l3);
        }
        Defect::Version(v) => {
            frame[l3] = (frame[l3] & 0x0f) | (v << 4);
            fix_header_checksum(frame, l3);
        }
        Defect::Truncate(n) => frame.truncate(n.max(1)),
    }
}

/// A random defect for `frame` (lengths and offsets drawn around the frame's real ones).
pub fn random_defect(rng: &mut impl Rng, frame: &[u8]) -> Defect {
    let l3 = l3_of(frame);
    let tlen = frame
        .get(l3 + 2..l3 + 4)
        .map_or(20, |b| u16::from_be_bytes([b[0], b[1]]));
    match rng.gen_range(0..9) {
        0 | 1 => Defect::Ipv4HeaderChecksum(rng.gen()),
        2..=4 => Defect::L4Byte {
            at: rng.gen(),
            xor: rng.gen_range(1..=255),
        },
        5 => Defect::Ihl(rng.gen_range(0..16)),
        6 => Defect::TotalLength(match rng.gen_range(0..4) {
            0 => rng.gen_range(0..20),
            1 => tlen.saturating_sub(rng.gen_range(1..=12)),
            2 => tlen.saturating_add(rng.gen_range(1..=64)),
            _ => rng.gen(),
        }),
        7 => Defect::Version(rng.gen_range(0..16)),
        _ => Defect::Truncate(rng.gen_range(1..=frame.len())),
    }
}

/// One frame of the mix the RX tests use: valid IPv4 (about 60 %, see [`Ipv4Frame::random`]),
/// IPv4 with a [`Defect`] (about 25 %), ARP (about 8 %), or random bytes of a random length
/// (runts included).
pub fn random_frame(rng: &mut impl Rng, max_payload: usize) -> Vec<u8> {
    match rng.gen_range(0..100) {
        0..=59 => Ipv4Frame::random(rng, max_payload).build(),
        60..=84 => {
            let mut f = Ipv4Frame::random(rng, max_payload).build();
            let d = random_defect(rng, &f);
            apply(&mut f, d);
            f
        }
        85..=92 => arp_request(
            [2, 0, 0, 0, 0, rng.gen()],
            rng.gen(),
            rng.gen(),
            rng.gen_ratio(1, 3).then(|| rng.gen()),
        ),
        _ => {
            let len = rng.gen_range(1..=80);
            let mut f: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
            // Now and then an IPv4 or VLAN ethertype over garbage.
            if len >= 14 && rng.gen() {
                let t = [TPID_8021Q, ETHERTYPE_IPV4][rng.gen_range(0..2)];
                f[12..14].copy_from_slice(&t.to_be_bytes());
            }
            f
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn built_frames_verify() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
        for _ in 0..500 {
            let spec = Ipv4Frame::random(&mut rng, 300);
            let f = spec.build();
            assert!(f.len() >= MIN_FRAME);
            let l3 = spec.l3_offset();
            let hlen = spec.ip_header_len();
            assert_eq!(checksum(&f[l3..l3 + hlen]), 0, "header checksum");
            let tlen = usize::from(u16::from_be_bytes([f[l3 + 2], f[l3 + 3]]));
            let seg = &f[l3 + hlen..l3 + tlen];
            if spec.fragment_offset == 0 {
                let acc = pseudo_header(spec.src, spec.dst, spec.l4.proto(), seg.len() as u16);
                match spec.l4 {
                    L4::Tcp { .. } => assert_eq!(!fold(sum(seg, acc)), 0),
                    L4::Udp { no_checksum, .. } => {
                        let field = u16::from_be_bytes([seg[6], seg[7]]);
                        assert_eq!(no_checksum, field == 0);
                        if !no_checksum {
                            assert_eq!(!fold(sum(seg, acc)), 0);
                        }
                    }
                    L4::Other { .. } => {}
                }
            }
        }
    }

    #[test]
    fn defects_break_what_they_say() {
        let spec = Ipv4Frame::udp([10, 0, 0, 1], [10, 0, 0, 2], 1234, 80, b"hello");
        let good = spec.build();
        let mut f = good.clone();
        apply(&mut f, Defect::Ipv4HeaderChecksum(0x10));
        assert_ne!(checksum(&f[14..34]), 0);
        let mut f = good.clone();
        apply(&mut f, Defect::TotalLength(19));
        assert_eq!(&f[16..18], &[0, 19]);
        assert_eq!(checksum(&f[14..34]), 0, "length wrong, checksum fixed up");
        let mut f = good.clone();
        apply(&mut f, Defect::Truncate(30));
        assert_eq!(f.len(), 30);
        let arp = arp_request([2, 0, 0, 0, 0, 1], [10, 0, 0, 1], [10, 0, 0, 2], Some(5));
        assert_eq!(&arp[12..14], &TPID_8021Q.to_be_bytes());
        assert_eq!(&arp[16..18], &ETHERTYPE_ARP.to_be_bytes());
    }
}
