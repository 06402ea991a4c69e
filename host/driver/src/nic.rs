//! The device as a whole: bring-up from reset, queue set-up, teardown.
//!
//! [`Nic::open`] probes the card (walks the register chain, checks versions), resets it,
//! creates the buffer pool, enables the interrupt vectors, programs the port, offloads and RSS,
//! and creates and enables every queue:
//! - RX queue `i` reports to completion queue `i` and TX queue `i` to completion queue
//!   `tx_cq_base + i` (by default the card's RX queue count, so RX and TX completion queues
//!   never overlap; the card must then have `NUM_CQ >= NUM_RXQ + tx_queues`, otherwise the TX
//!   completion queues follow the RX queues in use);
//! - both queues of pair `i` raise vector `i mod vectors` (a "combined channel" as ethtool
//!   calls it), so one poller thread per pair serves both.
//!
//! The queues can then be used in place ([`Nic::rx`], [`Nic::tx`]), or taken out to other
//! threads ([`Nic::take_rx`], [`Nic::napi_group`]) and given back before the rings are resized.
//! Dropping the `Nic` (or [`Nic::close`]) stops the port, disables every queue it still holds,
//! returns their buffers to the pool and unmaps all ring memory.

use crate::bar::Bar;
use crate::cq::{CompletionQueue, QueueError};
use crate::device::Device;
use crate::ethtool::EthtoolError;
use crate::iova::{IovaSpace, DEFAULT_IOVA_BASE, DEFAULT_IOVA_LEN};
use crate::irq::{IrqError, IrqVector};
use crate::mempool::{Mempool, PoolError};
use crate::napi::{NapiGroup, PollMode, RxPoller};
use crate::port::{Port, PortError};
use crate::probe::{probe, DeviceInfo, ProbeError};
use crate::rxq::RxQueue;
use crate::stats::QueueStats;
use crate::txq::TxQueue;
use oxnic_abi::regs::{device, offload_en};
use std::sync::Arc;

/// How to bring the card up.
#[derive(Debug, Clone, PartialEq)]
pub struct NicConfig {
    /// RX queues to use; 0: all the card has.
    pub rx_queues: u32,
    /// TX queues to use; 0: all the card has.
    pub tx_queues: u32,
    /// log2 of each RX ring (its completion ring is as large).
    pub rx_ring_log2: u32,
    /// log2 of each TX ring (its completion ring is as large).
    pub tx_ring_log2: u32,
    /// Bytes per packet buffer.
    pub buf_size: usize,
    /// Buffers in the pool; 0: twice what the RX rings hold plus what the TX rings hold.
    pub pool_buffers: usize,
    /// How RX queues wait for work.
    pub mode: PollMode,
    /// First IOVA the driver may use.
    pub iova_base: u64,
    /// Bytes of IOVA space from `iova_base`.
    pub iova_len: u64,
    /// Station address to program; `None` keeps the card's.
    pub mac: Option<[u8; 6]>,
    /// MTU to program; `None` keeps the card's.
    pub mtu: Option<u32>,
    /// Accept frames to any destination.
    pub promisc: bool,
    /// `offload::ENABLE` bits; `None`: RX/TX checksum and (with more than one RX queue) RSS,
    /// as far as the card has them.
    pub offloads: Option<u32>,
    /// Completion queue of TX queue 0; `None`: see the module docs.
    pub tx_cq_base: Option<u32>,
}

impl Default for NicConfig {
    fn default() -> Self {
        NicConfig {
            rx_queues: 0,
            tx_queues: 0,
            rx_ring_log2: 10,
            tx_ring_log2: 10,
            buf_size: 2048,
            pool_buffers: 0,
            mode: PollMode::Interrupt,
            iova_base: DEFAULT_IOVA_BASE,
            iova_len: DEFAULT_IOVA_LEN,
            mac: None,
            mtu: None,
            promisc: false,
            offloads: None,
            tx_cq_base: None,
        }
    }
}

/// Why the card could not be brought up or reconfigured.
#[derive(Debug, thiserror::Error)]
pub enum NicError {
    /// The register chain is not an oxnic card this driver knows.
    #[error(transparent)]
    Probe(#[from] ProbeError),
    /// More queues asked for than the card has.
    #[error("{asked} {kind} asked for, the card has {have}")]
    TooManyQueues {
        /// "RX queues" / "TX queues".
        kind: &'static str,
        /// Requested.
        asked: u32,
        /// Available.
        have: u32,
    },
    /// Not enough completion queues for the queues asked for.
    #[error("{needed} completion queues needed (one per queue), the card has {have}")]
    NotEnoughCqs {
        /// Needed.
        needed: u32,
        /// Available.
        have: u32,
    },
    /// Buffers too small for the largest frame the MTU allows: the card would drop them.
    #[error("{buf}-byte buffers cannot hold {frame}-byte frames (MTU + 18)")]
    BufTooSmall {
        /// Buffer size.
        buf: usize,
        /// Largest frame.
        frame: usize,
    },
    /// The card has no interrupt vectors the device can deliver.
    #[error("the card has no usable interrupt vector")]
    NoVectors,
    /// The queues are in use elsewhere (taken out); give them back first.
    #[error("queues are in use: give them back to the Nic first")]
    QueuesInUse,
    /// A queue could not be created.
    #[error(transparent)]
    Queue(#[from] QueueError),
    /// The pool could not be created.
    #[error(transparent)]
    Pool(#[from] PoolError),
    /// An interrupt vector could not be enabled.
    #[error(transparent)]
    Irq(#[from] IrqError),
    /// A port setting was refused.
    #[error(transparent)]
    Port(#[from] PortError),
    /// An ethtool setting was refused.
    #[error(transparent)]
    Ethtool(#[from] EthtoolError),
}

/// A `&dyn Device` seen as its `Bar` (for the probe, which only needs registers).
struct BarOf<'a>(&'a dyn Device);

impl Bar for BarOf<'_> {
    fn size(&self) -> u32 {
        self.0.size()
    }
    fn read32(&self, offset: u32) -> u32 {
        self.0.read32(offset)
    }
    fn write32(&self, offset: u32, value: u32) {
        self.0.write32(offset, value)
    }
}

/// Resolved layout: counts and bindings.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Layout {
    pub(crate) rxq: u32,
    pub(crate) txq: u32,
    pub(crate) tx_cq_base: u32,
    pub(crate) vectors: u32,
}

/// An open card with its queues.
pub struct Nic {
    // Queues first: they must stop and release their buffers before the pool goes.
    pub(crate) rx: Vec<Option<RxPoller>>,
    pub(crate) tx: Vec<Option<TxQueue>>,
    pub(crate) vectors: Vec<IrqVector>,
    pub(crate) pool: Mempool,
    pub(crate) space: IovaSpace,
    pub(crate) port: Port,
    pub(crate) dev: Arc<dyn Device>,
    pub(crate) info: DeviceInfo,
    pub(crate) cfg: NicConfig,
    pub(crate) layout: Layout,
    pub(crate) rx_stats: Vec<Arc<QueueStats>>,
    pub(crate) tx_stats: Vec<Arc<QueueStats>>,
}

impl std::fmt::Debug for Nic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Nic")
            .field("info", &self.info)
            .field("layout", &self.layout)
            .field("pool", &self.pool)
            .finish_non_exhaustive()
    }
}

impl Nic {
    /// Brings the card behind `dev` up from reset as `cfg` says.
    pub fn open(dev: Arc<dyn Device>, cfg: NicConfig) -> Result<Nic, NicError> {
        let info = probe(&BarOf(&*dev))?;
        dev.write32(device::RESET, 1);
        let pick = |asked: u32, have: u32, kind| match asked {
            0 => Ok(have),
            n if n <= have => Ok(n),
            n => Err(NicError::TooManyQueues {
                kind,
                asked: n,
                have,
            }),
        };
        let rxq = pick(cfg.rx_queues, info.num_rxq, "RX queues")?;
        let txq = pick(cfg.tx_queues, info.num_txq, "TX queues")?;
        let tx_cq_base = cfg
            .tx_cq_base
            .unwrap_or(if info.num_rxq + txq <= info.num_cq {
                info.num_rxq
            } else {
                rxq
            });
        let needed = rxq.max(tx_cq_base) + txq;
        if needed > info.num_cq || tx_cq_base < rxq {
            return Err(NicError::NotEnoughCqs {
                needed,
                have: info.num_cq,
            });
        }
        let vectors = info.num_vectors.min(dev.num_vectors()).min(64);
        if vectors == 0 {
            return Err(NicError::NoVectors);
        }
        let layout = Layout {
            rxq,
            txq,
            tx_cq_base,
            vectors,
        };
        let space = IovaSpace::new(dev.clone(), cfg.iova_base, cfg.iova_len);
        let pool_buffers = match cfg.pool_buffers {
            0 => auto_pool_size(&cfg, layout),
            n => n,
        };
        let pool = Mempool::new(&space, cfg.buf_size, pool_buffers)?;
        let used_vectors = rxq.max(txq).min(vectors);
        let vecs = (0..used_vectors)
            .map(|v| IrqVector::open(dev.clone(), v, vectors))
            .collect::<Result<Vec<_>, _>>()?;
        let port = Port::open(dev.clone(), info_max_mtu(&*dev));
        if let Some(mac) = cfg.mac {
            port.set_mac(mac)?;
        }
        if let Some(mtu) = cfg.mtu {
            port.set_mtu(mtu)?;
        }
        // Largest frame delivered: MTU + 14-byte header + one 802.1Q tag (the FCS is stripped).
        let frame = port.mtu() as usize + 18;
        if pool.buf_size() < frame {
            return Err(NicError::BufTooSmall {
                buf: pool.buf_size(),
                frame,
            });
        }
        let mut nic = Nic {
            rx: Vec::new(),
            tx: Vec::new(),
            vectors: vecs,
            pool,
            space,
            port,
            dev,
            info,
            cfg,
            layout,
            rx_stats: (0..rxq).map(|_| Arc::default()).collect(),
            tx_stats: (0..txq).map(|_| Arc::default()).collect(),
        };
        let offloads = nic.cfg.offloads.unwrap_or_else(|| nic.default_offloads());
        if nic.info.features & oxnic_abi::features::RSS != 0 {
            nic.set_rss_key(&oxnic_abi::features::DEFAULT_RSS_KEY);
            nic.set_reta_even(rxq.max(1))?;
        }
        nic.set_offloads(offloads)?;
        nic.create_queues()?;
        nic.port.enable(nic.cfg.promisc);
        Ok(nic)
    }

    fn default_offloads(&self) -> u32 {
        use oxnic_abi::features as f;
        let mut want = 0;
        let have = self.info.features;
        if have & f::RX_CSUM != 0 {
            want |= offload_en::RX_CSUM;
        }
        if have & f::TX_CSUM != 0 {
            want |= offload_en::TX_CSUM;
        }
        if have & f::RSS != 0 && self.layout.rxq > 1 {
            want |= offload_en::RSS;
        }
        want
    }

    /// The pool size used when the configuration leaves it at 0.
    pub(crate) fn auto_pool_size(&self) -> usize {
        auto_pool_size(&self.cfg, self.layout)
    }

    /// Creates and enables every queue at the configured ring sizes.
    pub(crate) fn create_queues(&mut self) -> Result<(), NicError> {
        let l = self.layout;
        let max = self.info.max_ring_log2;
        let mut rx = Vec::new();
        for i in 0..l.rxq {
            let vector = i % l.vectors;
            let cq = CompletionQueue::create(
                &self.space,
                i,
                self.info.num_cq,
                self.cfg.rx_ring_log2,
                max,
                vector,
            )?;
            let q = RxQueue::create(
                &self.space,
                i,
                self.info.num_rxq,
                self.cfg.rx_ring_log2,
                max,
                i,
                &self.pool,
                self.rx_stats[i as usize].clone(),
            )?;
            let mut p = RxPoller::new(q, cq, self.cfg.mode)?;
            p.enable();
            rx.push(Some(p));
        }
        let mut tx = Vec::new();
        for i in 0..l.txq {
            let cq = CompletionQueue::create(
                &self.space,
                l.tx_cq_base + i,
                self.info.num_cq,
                self.cfg.tx_ring_log2,
                max,
                i % l.vectors,
            )?;
            let mut q = TxQueue::create(
                &self.space,
                i,
                self.info.num_txq,
                self.cfg.tx_ring_log2,
                max,
                self.dev.read32(device::MAX_SG_SEGS),
                cq,
                self.tx_stats[i as usize].clone(),
            )?;
            q.enable();
            tx.push(Some(q));
        }
        self.rx = rx;
        self.tx = tx;
        Ok(())
    }

    /// What the probe found.
    pub fn info(&self) -> &DeviceInfo {
        &self.info
    }

    /// The configuration in force (ring sizes follow ethtool changes).
    pub fn config(&self) -> &NicConfig {
        &self.cfg
    }

    /// The device.
    pub fn device(&self) -> &Arc<dyn Device> {
        &self.dev
    }

    /// The port.
    pub fn port(&self) -> &Port {
        &self.port
    }

    /// The packet buffer pool (TX frames are built from it).
    pub fn pool(&self) -> &Mempool {
        &self.pool
    }

    /// The IOVA space (to map more memory for the card).
    pub fn iova_space(&self) -> &IovaSpace {
        &self.space
    }

    /// RX queues in use.
    pub fn num_rx(&self) -> u32 {
        self.layout.rxq
    }

    /// TX queues in use.
    pub fn num_tx(&self) -> u32 {
        self.layout.txq
    }

    /// The enabled interrupt vectors.
    pub fn vectors(&self) -> &[IrqVector] {
        &self.vectors
    }

    /// RX queue `i`'s poller, if the Nic holds it.
    pub fn rx(&mut self, i: u32) -> Option<&mut RxPoller> {
        self.rx.get_mut(i as usize)?.as_mut()
    }

    /// TX queue `i`, if the Nic holds it.
    pub fn tx(&mut self, i: u32) -> Option<&mut TxQueue> {
        self.tx.get_mut(i as usize)?.as_mut()
    }

    /// Takes RX queue `i`'s poller out (to a poller thread).
    pub fn take_rx(&mut self, i: u32) -> Option<RxPoller> {
        self.rx.get_mut(i as usize)?.take()
    }

    /// Takes TX queue `i` out (to a sender thread).
    pub fn take_tx(&mut self, i: u32) -> Option<TxQueue> {
        self.tx.get_mut(i as usize)?.take()
    }

    /// Gives an RX poller back.
    pub fn put_rx(&mut self, p: RxPoller) {
        let i = p.rxq().index() as usize;
        if let Some(slot) = self.rx.get_mut(i) {
            *slot = Some(p);
        }
    }

    /// Gives a TX queue back.
    pub fn put_tx(&mut self, q: TxQueue) {
        let i = q.index() as usize;
        if let Some(slot) = self.tx.get_mut(i) {
            *slot = Some(q);
        }
    }

    /// Takes every RX poller the Nic holds into one [`NapiGroup`] (one thread serving them).
    pub fn napi_group(&mut self) -> NapiGroup {
        let pollers = self.rx.iter_mut().filter_map(Option::take).collect();
        NapiGroup::new(self.dev.clone(), pollers)
    }

    /// Gives a group's pollers back.
    pub fn put_group(&mut self, g: NapiGroup) {
        for p in g.into_pollers() {
            self.put_rx(p);
        }
    }

    /// True if the Nic holds every queue.
    pub fn holds_all_queues(&self) -> bool {
        self.rx.iter().all(Option::is_some) && self.tx.iter().all(Option::is_some)
    }

    /// Stops the port and every queue, returns all buffers and unmaps all ring memory.
    pub fn close(self) {
        drop(self);
    }
}

/// Twice what the RX rings hold (a ring's worth may sit in the stack while the ring is full
/// again) plus what the TX rings hold.
fn auto_pool_size(cfg: &NicConfig, l: Layout) -> usize {
    (((l.rxq as usize * 2) << cfg.rx_ring_log2) + ((l.txq as usize) << cfg.tx_ring_log2)).max(1)
}

fn info_max_mtu(dev: &dyn Device) -> u32 {
    dev.read32(device::MAX_MTU)
}

impl Drop for Nic {
    fn drop(&mut self) {
        self.port.disable();
        self.rx.clear();
        self.tx.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mock::MockCard;

    fn assert_send<T: Send>() {}
    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn queues_can_move_to_poller_threads() {
        assert_send::<RxPoller>();
        assert_send::<TxQueue>();
        assert_send::<NapiGroup>();
        assert_send::<Nic>();
        assert_send::<crate::mempool::PktBuf>();
        assert_send_sync::<Mempool>();
        assert_send_sync::<crate::vfio::VfioDevice>();
    }

    #[test]
    fn open_refuses_what_the_card_cannot_do() {
        let card = Arc::new(MockCard::new());
        let e = Nic::open(
            card.clone(),
            NicConfig {
                rx_queues: 9,
                ..Default::default()
            },
        )
        .unwrap_err();
        assert!(matches!(
            e,
            NicError::TooManyQueues {
                asked: 9,
                have: 8,
                ..
            }
        ));
        let e = Nic::open(
            card.clone(),
            NicConfig {
                rx_queues: 1,
                tx_queues: 1,
                rx_ring_log2: 4,
                tx_ring_log2: 4,
                mtu: Some(9000),
                ..Default::default()
            },
        )
        .unwrap_err();
        assert!(matches!(
            e,
            NicError::BufTooSmall {
                buf: 2048,
                frame: 9018
            }
        ));
        let e = Nic::open(
            card.clone(),
            NicConfig {
                tx_cq_base: Some(12),
                ..Default::default()
            },
        )
        .unwrap_err();
        assert!(matches!(
            e,
            NicError::NotEnoughCqs {
                needed: 20,
                have: 16
            }
        ));
        assert_eq!(card.mappings(), 0, "a failed open leaves nothing mapped");
    }

    #[test]
    fn layout_binds_queues_to_completion_queues_and_vectors() {
        use crate::Bar;
        use oxnic_abi::regs::{cq, rxq, txq};
        let card = Arc::new(MockCard::new());
        let nic = Nic::open(
            card.clone(),
            NicConfig {
                rx_queues: 3,
                tx_queues: 2,
                rx_ring_log2: 4,
                tx_ring_log2: 3,
                ..Default::default()
            },
        )
        .unwrap();
        for i in 0..3 {
            assert_eq!(card.read32(rxq::reg(i, rxq::entry::CQ)), i);
            assert_eq!(card.read32(cq::reg(i, cq::entry::VECTOR)), i);
            assert_eq!(
                card.read32(rxq::reg(i, rxq::entry::PROD)),
                16,
                "ring filled"
            );
        }
        for i in 0..2 {
            assert_eq!(card.read32(txq::reg(i, txq::entry::CQ)), 8 + i);
            assert_eq!(card.read32(cq::reg(8 + i, cq::entry::VECTOR)), i);
            assert_eq!(card.read32(txq::reg(i, txq::entry::CTRL)), 1);
        }
        assert_eq!(nic.pool().capacity(), 2 * 3 * 16 + 2 * 8);
        drop(nic);
        assert_eq!(card.mappings(), 0);
    }
}
