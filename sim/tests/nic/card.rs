//! A bare-hands host for the whole card: rings laid out in simulator-owned memory with the
//! oxnic-abi views, registers written by their abi offsets. No driver — these tests are about
//! the card; the driver has its own co-simulation tests.

use oxnic_abi::desc::{Cpl, CplView, RxDesc, TxDesc, PHASE_BIT};
use oxnic_abi::features::{DEFAULT_RSS_KEY, RETA_SIZE, RSS_KEY_LEN};
use oxnic_abi::regs::{self, cq, offload_en, port, port_ctrl, queue_ctrl, rxq, txq};
use oxnic_driver::Bar;
use oxnic_sim::hostmem::Perm;
use oxnic_sim::{SimConfig, SimDevice};

/// IOVA layout: each queue gets its own 16 MiB window.
pub const RX_BASE: u64 = 0x1_0000_0000;
pub const TX_BASE: u64 = 0x2_0000_0000;
pub const WINDOW: u64 = 0x100_0000;
/// Offsets inside a window.
const RING: u64 = 0;
const CQ_RING: u64 = 0x10_0000;
const BUFS: u64 = 0x20_0000;

pub const MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 2];

pub struct Rx {
    pub log2: u32,
    pub buf_size: u32,
    /// Buffers posted (driver's producer index).
    pub prod: u16,
    /// Completions consumed.
    pub cq_cons: u16,
    pub cq: u32,
}

pub struct Tx {
    pub log2: u32,
    pub prod: u16,
    pub cq_cons: u16,
    pub cq: u32,
    /// Next free byte in the queue's data area.
    pub data_at: u64,
}

pub struct Card {
    pub dev: SimDevice,
    pub rx: Vec<Option<Rx>>,
    pub tx: Vec<Option<Tx>>,
}

pub fn rx_window(q: usize) -> u64 {
    RX_BASE + q as u64 * WINDOW
}

pub fn tx_window(q: usize) -> u64 {
    TX_BASE + q as u64 * WINDOW
}

impl Card {
    /// The card with the port up (promiscuous), checksums and RSS on, default key, RETA
    /// spreading over `queues` queues.
    pub fn new(queues: usize) -> Card {
        let dev = SimDevice::new(SimConfig::default()).expect("verilated card");
        let c = Card {
            dev,
            rx: (0..8).map(|_| None).collect(),
            tx: (0..8).map(|_| None).collect(),
        };
        c.dev.write32(
            port::BASE + port::MAC_LO,
            u32::from_le_bytes([MAC[0], MAC[1], MAC[2], MAC[3]]),
        );
        c.dev.write32(
            port::BASE + port::MAC_HI,
            u32::from(u16::from_le_bytes([MAC[4], MAC[5]])),
        );
        c.dev.write32(port::BASE + port::MTU, 9000);
        c.dev.write32(
            port::BASE + port::CTRL,
            port_ctrl::RX_EN | port_ctrl::TX_EN | port_ctrl::PROMISC,
        );
        c.dev.write32(
            regs::offload::BASE + regs::offload::ENABLE,
            offload_en::RX_CSUM | offload_en::TX_CSUM | offload_en::RSS,
        );
        c.set_key(&DEFAULT_RSS_KEY);
        let reta: Vec<u8> = (0..RETA_SIZE).map(|i| (i % queues) as u8).collect();
        c.set_reta(&reta);
        c
    }

    pub fn set_key(&self, key: &[u8; RSS_KEY_LEN]) {
        for (i, w) in key.chunks(4).enumerate() {
            self.dev.write32(
                regs::rss_key_word(i as u32),
                u32::from_le_bytes([w[0], w[1], w[2], w[3]]),
            );
        }
    }

    pub fn set_reta(&self, reta: &[u8]) {
        for (i, w) in reta.chunks(4).enumerate() {
            self.dev.write32(
                regs::reta_word(i as u32),
                u32::from_le_bytes([w[0], w[1], w[2], w[3]]),
            );
        }
    }

    pub fn counter(&self, off: u32) -> u64 {
        self.dev.read_ctr64(port::BASE + off)
    }

    fn program_cq(&self, n: u32, base: u64, log2: u32, vector: u32) {
        let r = |off| cq::reg(n, off);
        self.dev.write32(r(cq::entry::BASE_LO), base as u32);
        self.dev.write32(r(cq::entry::BASE_HI), (base >> 32) as u32);
        self.dev.write32(r(cq::entry::SIZE_LOG2), log2);
        self.dev.write32(r(cq::entry::VECTOR), vector);
        self.dev.write32(r(cq::entry::CONS), 0);
        self.dev.write32(r(cq::entry::CTRL), queue_ctrl::ENABLE);
    }

    /// RX queue `q` with a ring of `2^log2` buffers of `buf_size` bytes, reporting to CQ `q`
    /// (vector `q`), every buffer posted when `post` is true.
    pub fn setup_rx(&mut self, q: usize, log2: u32, buf_size: u32, post: bool) {
        let w = rx_window(q);
        let n = 1u64 << log2;
        self.dev
            .map_owned(w + RING, n * RxDesc::LEN as u64, Perm::RO)
            .unwrap();
        self.dev
            .map_owned(w + CQ_RING, n * Cpl::LEN as u64, Perm::WO)
            .unwrap();
        self.dev
            .map_owned(w + BUFS, n * u64::from(buf_size), Perm::WO)
            .unwrap();
        self.dev.with_memory(|m| {
            for i in 0..n {
                let d = RxDesc {
                    addr: w + BUFS + i * u64::from(buf_size),
                    len: buf_size,
                };
                m.host_slice_mut(w + RING + i * 16, 16)
                    .unwrap()
                    .copy_from_slice(&d.to_bytes());
            }
        });
        let cqn = q as u32;
        self.program_cq(cqn, w + CQ_RING, log2, q as u32);
        let r = |off| rxq::reg(q as u32, off);
        self.dev.write32(r(rxq::entry::BASE_LO), (w + RING) as u32);
        self.dev
            .write32(r(rxq::entry::BASE_HI), ((w + RING) >> 32) as u32);
        self.dev.write32(r(rxq::entry::SIZE_LOG2), log2);
        self.dev.write32(r(rxq::entry::CQ), cqn);
        self.dev.write32(r(rxq::entry::PROD), 0);
        self.dev.write32(r(rxq::entry::CTRL), queue_ctrl::ENABLE);
        self.rx[q] = Some(Rx {
            log2,
            buf_size,
            prod: 0,
            cq_cons: 0,
            cq: cqn,
        });
        if post {
            self.post_rx(q, n as u16);
        }
    }

    /// Posts `count` more buffers on RX queue `q` (one doorbell).
    pub fn post_rx(&mut self, q: usize, count: u16) {
        let rx = self.rx[q].as_mut().unwrap();
        rx.prod = rx.prod.wrapping_add(count);
        let prod = rx.prod;
        self.dev
            .write32(rxq::reg(q as u32, rxq::entry::PROD), u32::from(prod));
    }

    /// Takes the new completions of RX queue `q` with their frames, reposts those buffers,
    /// frees the completion ring space.
    pub fn poll_rx(&mut self, q: usize) -> Vec<(Cpl, Vec<u8>)> {
        let w = rx_window(q);
        let (log2, buf_size, mut cons, cqn) = {
            let rx = self.rx[q].as_ref().unwrap();
            (rx.log2, rx.buf_size, rx.cq_cons, rx.cq)
        };
        let mask = (1u32 << log2) - 1;
        let mut out = Vec::new();
        self.dev.with_memory(|m| loop {
            let slot = u64::from(u32::from(cons) & mask);
            let phase = (u32::from(cons) >> log2) & 1 == 0;
            let raw = m.host_slice(w + CQ_RING + slot * 32, 32).unwrap();
            if (raw[31] & PHASE_BIT != 0) != phase {
                break;
            }
            let cpl =
                Cpl::parse(&CplView::new_checked(raw).unwrap()).expect("well-formed completion");
            let idx = u64::from(cpl.index);
            assert!(idx < 1 << log2, "completion index {idx} outside the ring");
            let data = m
                .host_slice(w + BUFS + idx * u64::from(buf_size), cpl.len as usize)
                .unwrap()
                .to_vec();
            out.push((cpl, data));
            cons = cons.wrapping_add(1);
        });
        if !out.is_empty() {
            self.rx[q].as_mut().unwrap().cq_cons = cons;
            self.dev
                .write32(cq::reg(cqn, cq::entry::CONS), u32::from(cons));
            self.post_rx(q, out.len() as u16);
        }
        out
    }

    /// TX queue `q` with a ring of `2^log2` descriptors, reporting to CQ `8 + q`.
    pub fn setup_tx(&mut self, q: usize, log2: u32) {
        let w = tx_window(q);
        let n = 1u64 << log2;
        self.dev
            .map_owned(w + RING, n * TxDesc::LEN as u64, Perm::RO)
            .unwrap();
        self.dev
            .map_owned(w + CQ_RING, n * Cpl::LEN as u64, Perm::WO)
            .unwrap();
        self.dev
            .map_owned(w + BUFS, WINDOW - BUFS, Perm::RO)
            .unwrap();
        let cqn = 8 + q as u32;
        self.program_cq(cqn, w + CQ_RING, log2, q as u32);
        let r = |off| txq::reg(q as u32, off);
        self.dev.write32(r(txq::entry::BASE_LO), (w + RING) as u32);
        self.dev
            .write32(r(txq::entry::BASE_HI), ((w + RING) >> 32) as u32);
        self.dev.write32(r(txq::entry::SIZE_LOG2), log2);
        self.dev.write32(r(txq::entry::CQ), cqn);
        self.dev.write32(r(txq::entry::PROD), 0);
        self.dev.write32(r(txq::entry::CTRL), queue_ctrl::ENABLE);
        self.tx[q] = Some(Tx {
            log2,
            prod: 0,
            cq_cons: 0,
            cq: cqn,
            data_at: 0,
        });
    }

    /// Writes descriptors for a frame made of `segments` (bytes each; an IOVA override for a
    /// segment places it elsewhere), with a checksum request, without ringing the doorbell.
    pub fn queue_tx(
        &mut self,
        q: usize,
        segments: &[Vec<u8>],
        csum: Option<(u16, u16)>,
        iova: Option<u64>,
    ) {
        let w = tx_window(q);
        let tx = self.tx[q].as_mut().unwrap();
        let mask = (1u64 << tx.log2) - 1;
        let mut descs = Vec::new();
        for (i, s) in segments.iter().enumerate() {
            if tx.data_at + s.len() as u64 > WINDOW - BUFS {
                tx.data_at = 0;
            }
            let addr = iova.unwrap_or(w + BUFS + tx.data_at);
            let at = tx.data_at;
            tx.data_at += (s.len() as u64).div_ceil(64) * 64;
            let mut flags = 0;
            if i == 0 {
                flags |= oxnic_abi::desc::tx_flags::FIRST;
            }
            if i + 1 == segments.len() {
                flags |= oxnic_abi::desc::tx_flags::LAST;
            }
            let (cs, co) = csum.unwrap_or((0, 0));
            if csum.is_some() {
                flags |= oxnic_abi::desc::tx_flags::CSUM;
            }
            let d = TxDesc {
                addr,
                len: s.len() as u32,
                flags,
                csum_start: cs,
                csum_offset: co,
                ..Default::default()
            };
            let slot = u64::from(tx.prod) & mask;
            tx.prod = tx.prod.wrapping_add(1);
            descs.push((slot, d, at, s.clone()));
        }
        self.dev.with_memory(|m| {
            for (slot, d, at, s) in descs {
                m.host_slice_mut(w + RING + slot * 32, 32)
                    .unwrap()
                    .copy_from_slice(&d.to_bytes());
                if let Some(buf) = m.host_slice_mut(w + BUFS + at, s.len()) {
                    buf.copy_from_slice(&s);
                }
            }
        });
    }

    /// Rings TX queue `q`'s doorbell.
    pub fn ring_tx(&mut self, q: usize) {
        let prod = self.tx[q].as_ref().unwrap().prod;
        self.dev
            .write32(txq::reg(q as u32, txq::entry::PROD), u32::from(prod));
    }

    /// New TX completions of queue `q`.
    pub fn poll_tx(&mut self, q: usize) -> Vec<Cpl> {
        let w = tx_window(q);
        let tx = self.tx[q].as_mut().unwrap();
        let log2 = tx.log2;
        let mut cons = tx.cq_cons;
        let mut out = Vec::new();
        self.dev.with_memory(|m| loop {
            let slot = u64::from(u32::from(cons) & ((1 << log2) - 1));
            let phase = (u32::from(cons) >> log2) & 1 == 0;
            let raw = m.host_slice(w + CQ_RING + slot * 32, 32).unwrap();
            if (raw[31] & PHASE_BIT != 0) != phase {
                break;
            }
            out.push(
                Cpl::parse(&CplView::new_checked(raw).unwrap()).expect("well-formed completion"),
            );
            cons = cons.wrapping_add(1);
        });
        tx.cq_cons = cons;
        let cqn = tx.cq;
        if !out.is_empty() {
            self.dev
                .write32(cq::reg(cqn, cq::entry::CONS), u32::from(cons));
        }
        out
    }
}

/// Ethernet FCS check of a frame from the wire: returns the frame without its FCS.
pub fn strip_fcs(wire: &[u8]) -> &[u8] {
    assert!(
        wire.len() >= 64,
        "frame on the wire shorter than 64 bytes: {}",
        wire.len()
    );
    let (f, fcs) = wire.split_at(wire.len() - 4);
    assert_eq!(crc32fast::hash(f).to_le_bytes(), fcs, "bad FCS on the wire");
    f
}
