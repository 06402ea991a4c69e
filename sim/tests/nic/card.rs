//! A bare-hands host for the whole card: rings laid out in simulator-owned memory with the
//! oxnic-abi views, registers written by their abi offsets. No driver — these tests are about
//! the card; the driver has its own co-simulation tests.

use oxnic_abi::desc::{Cpl, CplView, RxDesc, TxDesc};
use oxnic_abi::features::{DEFAULT_RSS_KEY, RETA_SIZE, RSS_KEY_LEN};
use oxnic_abi::regs::{cq, port, rxq, txq};
use oxnic_driver::Bar;
use oxnic_sim::bare;
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
        bare::port_up(&c.dev, 9000);
        c.set_key(&DEFAULT_RSS_KEY);
        let reta: Vec<u8> = (0..RETA_SIZE).map(|i| (i % queues) as u8).collect();
        c.set_reta(&reta);
        c
    }

    pub fn set_key(&self, key: &[u8; RSS_KEY_LEN]) {
        bare::set_key(&self.dev, key);
    }

    pub fn set_reta(&self, reta: &[u8]) {
        bare::set_reta(&self.dev, reta);
    }

    pub fn counter(&self, off: u32) -> u64 {
        self.dev.read_ctr64(port::BASE + off)
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
        self.dev
            .with_memory(|m| bare::fill_rx_ring(m, w + RING, w + BUFS, n, buf_size));
        let cqn = q as u32;
        bare::program_cq(&self.dev, cqn, w + CQ_RING, log2, q as u32);
        bare::program_rxq(&self.dev, q as u32, w + RING, log2, cqn);
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
        let mut out = Vec::new();
        self.dev.with_memory(|m| {
            let m = &*m;
            bare::walk_cpls(m, w + CQ_RING, log2, &mut cons, |raw| {
                let cpl = Cpl::parse(&CplView::new_checked(raw).unwrap())
                    .expect("well-formed completion");
                let idx = u64::from(cpl.index);
                assert!(idx < 1 << log2, "completion index {idx} outside the ring");
                let data = m
                    .host_slice(w + BUFS + idx * u64::from(buf_size), cpl.len as usize)
                    .unwrap()
                    .to_vec();
                out.push((cpl, data));
            })
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
        bare::program_cq(&self.dev, cqn, w + CQ_RING, log2, q as u32);
        bare::program_txq(&self.dev, q as u32, w + RING, log2, cqn);
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
        self.dev.with_memory(|m| {
            bare::walk_cpls(m, w + CQ_RING, log2, &mut cons, |raw| {
                out.push(
                    Cpl::parse(&CplView::new_checked(raw).unwrap())
                        .expect("well-formed completion"),
                )
            })
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
