//! Reference model of the card's receive classification (`rx_parse`, `rx_checksum`, `rx_hash`,
//! `rx_classify`), by plain byte parsing: what the blocks' simulation tests, the differential
//! tests and the card's co-simulation check the hardware against.
//!
//! The rules (the blocks' contract, in one place):
//! - Bytes past the end of a frame read as zero (a runt with `81 00` at bytes 12..14 is tagged).
//! - 802.1Q: bytes 12..14 are `0x8100`; the IPv4 header then starts at 18, else at 14.
//! - IPv4 for offload purposes: ethertype 0x0800, version 4, IHL >= 5,
//!   IHL*4 <= total length, and `l3_offset + total length <= frame length`. Anything else is
//!   "not IPv4": no checksum is checked, no hash is computed, only CHECKSUM_COMPLETE is reported.
//! - Fragment: MF set or fragment offset not zero (DF and the reserved bit do not count).
//! - TCP/UDP: IPv4, not a fragment, protocol 6/17, and the 20-byte TCP or 8-byte UDP header fits
//!   in the datagram (`total length >= IHL*4 + 20` or `+ 8`).
//! - Checksums: the IPv4 header sum over IHL*4 bytes; TCP/UDP over the pseudo-header and
//!   `[l4_offset, l3_offset + total length)` (Ethernet padding excluded); UDP with checksum
//!   field 0 is not checked. CHECKSUM_COMPLETE: the folded, uncomplemented sum of
//!   `[l3_offset, frame end)`, padding INCLUDED — what Linux expects of a device in
//!   `skb->csum` (it subtracts any trailing bytes it trims).
//! - Fields that do not apply are zero: `vlan_tci` without a tag, the IPv4 fields when not IPv4,
//!   ports when neither TCP nor UDP.

use oxnic_abi::checksum::{fold, pseudo_header, sum};
use oxnic_abi::desc::{CsumStatus, HashType};
use oxnic_abi::features::{RETA_SIZE, RSS_KEY_LEN};
use oxnic_abi::regs::hash_types;

/// What the RX classification reports for one frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RxMeta {
    /// Bytes in the frame.
    pub frame_len: u16,
    /// An 802.1Q tag is present.
    pub vlan: bool,
    /// Its tag control information (0 when untagged).
    pub vlan_tci: u16,
    /// Offset of the L3 header (14 or 18).
    pub l3_offset: u8,
    /// IPv4 for offload purposes (see the module rules).
    pub is_ipv4: bool,
    /// IHL in 32-bit words.
    pub ihl: u8,
    /// IPv4 total length.
    pub ip_total_len: u16,
    /// IPv4 protocol.
    pub proto: u8,
    /// MF or a non-zero fragment offset.
    pub is_fragment: bool,
    /// Source address, bytes as on the wire.
    pub src_ip: [u8; 4],
    /// Destination address, bytes as on the wire.
    pub dst_ip: [u8; 4],
    /// A TCP segment whose header fits.
    pub is_tcp: bool,
    /// A UDP datagram whose header fits.
    pub is_udp: bool,
    /// Source port.
    pub sport: u16,
    /// Destination port.
    pub dport: u16,
    /// UDP with checksum field 0.
    pub udp_csum_zero: bool,
    /// IPv4 header checksum status.
    pub ip_csum: CsumStatus,
    /// TCP/UDP checksum status.
    pub l4_csum: CsumStatus,
    /// CHECKSUM_COMPLETE: folded sum of the bytes from `l3_offset` to the frame's end.
    pub csum_complete: u16,
}

/// Parses and checks one frame (without FCS).
pub fn classify(frame: &[u8]) -> RxMeta {
    let b = |i: usize| frame.get(i).copied().unwrap_or(0);
    let be16 = |i: usize| u16::from_be_bytes([b(i), b(i + 1)]);
    let len = frame.len();
    let mut m = RxMeta {
        frame_len: len as u16,
        ..Default::default()
    };
    m.vlan = be16(12) == 0x8100;
    let l3 = if m.vlan { 18 } else { 14 };
    m.l3_offset = l3 as u8;
    if m.vlan {
        m.vlan_tci = be16(14);
    }
    m.csum_complete = fold(sum(frame.get(l3..).unwrap_or(&[]), 0));
    let ethertype = be16(l3 - 2);
    let ihl = b(l3) & 0xf;
    let hlen = usize::from(ihl) * 4;
    let tlen = usize::from(be16(l3 + 2));
    m.is_ipv4 =
        ethertype == 0x0800 && b(l3) >> 4 == 4 && ihl >= 5 && tlen >= hlen && l3 + tlen <= len;
    if !m.is_ipv4 {
        return m;
    }
    m.ihl = ihl;
    m.ip_total_len = tlen as u16;
    m.proto = b(l3 + 9);
    m.is_fragment = be16(l3 + 6) & 0x3fff != 0;
    m.src_ip = [b(l3 + 12), b(l3 + 13), b(l3 + 14), b(l3 + 15)];
    m.dst_ip = [b(l3 + 16), b(l3 + 17), b(l3 + 18), b(l3 + 19)];
    m.ip_csum = if fold(sum(&frame[l3..l3 + hlen], 0)) == 0xffff {
        CsumStatus::Ok
    } else {
        CsumStatus::Bad
    };
    let l4 = l3 + hlen;
    m.is_tcp = !m.is_fragment && m.proto == 6 && tlen >= hlen + 20;
    m.is_udp = !m.is_fragment && m.proto == 17 && tlen >= hlen + 8;
    if m.is_tcp || m.is_udp {
        m.sport = be16(l4);
        m.dport = be16(l4 + 2);
    }
    m.udp_csum_zero = m.is_udp && be16(l4 + 6) == 0;
    if m.is_tcp || (m.is_udp && !m.udp_csum_zero) {
        let seg = &frame[l4..l3 + tlen];
        let acc = pseudo_header(m.src_ip, m.dst_ip, m.proto, seg.len() as u16);
        m.l4_csum = if fold(sum(seg, acc)) == 0xffff {
            CsumStatus::Ok
        } else {
            CsumStatus::Bad
        };
    }
    m
}

/// The RSS configuration, as the `rss` register block holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RssConfig {
    /// Toeplitz key.
    pub key: [u8; RSS_KEY_LEN],
    /// `oxnic_abi::regs::hash_types` bits.
    pub hash_types: u32,
    /// RSS enabled at all.
    pub enable: bool,
    /// Indirection table.
    pub reta: [u8; RETA_SIZE],
    /// Queue of frames that are not hashed.
    pub default_queue: u8,
}

/// RSS result of a frame: hash (0 when not hashed), hash type, queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rss {
    /// Toeplitz hash, 0 when not hashed.
    pub hash: u32,
    /// Which tuple was hashed.
    pub hash_type: HashType,
    /// RX queue.
    pub queue: u8,
}

/// Which tuple an RSS engine hashes for a frame with these flags under `hash_types`.
pub fn hash_type(
    enable: bool,
    types: u32,
    is_ipv4: bool,
    is_fragment: bool,
    is_tcp: bool,
    is_udp: bool,
) -> HashType {
    if !enable || !is_ipv4 {
        HashType::None
    } else if !is_fragment && is_tcp && types & hash_types::IPV4_TCP != 0 {
        HashType::Ipv4Tcp
    } else if !is_fragment && is_udp && types & hash_types::IPV4_UDP != 0 {
        HashType::Ipv4Udp
    } else if types & hash_types::IPV4 != 0 {
        HashType::Ipv4
    } else {
        HashType::None
    }
}

/// RSS of a classified frame.
pub fn rss(m: &RxMeta, cfg: &RssConfig) -> Rss {
    let t = hash_type(
        cfg.enable,
        cfg.hash_types,
        m.is_ipv4,
        m.is_fragment,
        m.is_tcp,
        m.is_udp,
    );
    let tuple = oxnic_abi::toeplitz::ipv4_4tuple(m.src_ip, m.dst_ip, m.sport, m.dport);
    let hash = match t {
        HashType::None => 0,
        HashType::Ipv4 => oxnic_abi::toeplitz::hash(&cfg.key, &tuple[..8]),
        HashType::Ipv4Tcp | HashType::Ipv4Udp => oxnic_abi::toeplitz::hash(&cfg.key, &tuple),
    };
    let queue = if t == HashType::None {
        cfg.default_queue
    } else {
        oxnic_abi::toeplitz::reta_queue(&cfg.reta, hash)
    };
    Rss {
        hash,
        hash_type: t,
        queue,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame_gen::{apply, Defect, Ipv4Frame};

    #[test]
    fn classifies_a_udp_frame_with_padding() {
        let mut spec = Ipv4Frame::udp([10, 0, 0, 1], [10, 0, 0, 2], 1234, 80, b"hi");
        spec.padding = vec![0xee; 4];
        let f = spec.build();
        let m = classify(&f);
        assert!(m.is_ipv4 && m.is_udp && !m.is_tcp && !m.vlan);
        assert_eq!((m.sport, m.dport, m.ip_total_len, m.ihl), (1234, 80, 30, 5));
        assert_eq!((m.ip_csum, m.l4_csum), (CsumStatus::Ok, CsumStatus::Ok));
        assert_eq!(m.csum_complete, fold(sum(&f[14..], 0)));
        let mut bad = f.clone();
        apply(&mut bad, Defect::L4Byte { at: 9, xor: 1 });
        assert_eq!(classify(&bad).l4_csum, CsumStatus::Bad);
        // Padding is not part of the datagram.
        let mut pad = f;
        pad[50] ^= 0xff;
        assert_eq!(classify(&pad).l4_csum, CsumStatus::Ok);
    }
}
