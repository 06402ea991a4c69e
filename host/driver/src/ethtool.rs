//! An ethtool-like control API on [`Nic`]: ring sizes (`-g/-G`), RSS key and indirection table
//! (`-x/-X`), hash types, offload toggles (`-k/-K`), interrupt coalescing (`-c/-C`) and
//! statistics (`-S`: the card's 64-bit port counters and the driver's per-queue counters).
//!
//! Every setter checks its input against the card's capabilities before touching a register,
//! so a refused setting changes nothing.

use crate::irq::{self, Coalesce, IrqError};
use crate::nic::{Nic, NicError};
use crate::ring::{Ring, RingSizeError};
use crate::stats;
use oxnic_abi::features::{self as f, RETA_SIZE, RSS_KEY_LEN};
use oxnic_abi::regs::{self, hash_types, offload, offload_en, rss};

/// Why an ethtool request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EthtoolError {
    /// The indirection table has the wrong number of entries.
    #[error("the indirection table has {expected} entries, {got} given")]
    RetaLen {
        /// Entries the card has.
        expected: usize,
        /// Entries given.
        got: usize,
    },
    /// An indirection entry names a queue that is not in use.
    #[error("indirection entry {entry} names RX queue {queue}, only {queues} are in use")]
    RetaQueue {
        /// Entry number.
        entry: usize,
        /// Queue named.
        queue: u8,
        /// RX queues in use.
        queues: u32,
    },
    /// Zero queues to spread over.
    #[error("cannot spread RSS over zero queues")]
    NoQueues,
    /// Undefined hash-type bits.
    #[error("hash types {0:#x} include undefined bits")]
    BadHashTypes(u32),
    /// Offload bits that are undefined or that the card lacks.
    #[error("offloads {asked:#x}: {bad:#x} undefined or not supported by the card")]
    Unsupported {
        /// Requested bits.
        asked: u32,
        /// The refused ones.
        bad: u32,
    },
    /// Ring size out of range.
    #[error(transparent)]
    RingSize(#[from] RingSizeError),
    /// Vector does not exist or values out of range.
    #[error("{0}")]
    Coalesce(String),
}

impl From<IrqError> for EthtoolError {
    fn from(e: IrqError) -> Self {
        EthtoolError::Coalesce(e.to_string())
    }
}

/// Ring sizes (log2 of the entry counts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RingParams {
    /// RX ring (and its completion ring).
    pub rx_log2: u32,
    /// TX ring (and its completion ring).
    pub tx_log2: u32,
    /// Largest the card accepts.
    pub max_log2: u32,
}

/// The card's feature bit that an `offload::ENABLE` bit needs.
const OFFLOAD_FEATURE: &[(u32, u32)] = &[
    (offload_en::RX_CSUM, f::RX_CSUM),
    (offload_en::TX_CSUM, f::TX_CSUM),
    (offload_en::TSO, f::TSO),
    (offload_en::GRO, f::GRO),
    (offload_en::VLAN_STRIP, f::VLAN_STRIP),
    (offload_en::VLAN_INSERT, f::VLAN_INSERT),
    (offload_en::RSS, f::RSS),
];

/// Names of the `offload::ENABLE` bits, ethtool style.
pub const OFFLOAD_NAMES: &[(u32, &str)] = &[
    (offload_en::RX_CSUM, "rx-checksumming"),
    (offload_en::TX_CSUM, "tx-checksumming"),
    (offload_en::TSO, "tcp-segmentation-offload"),
    (offload_en::GRO, "rx-gro-hw"),
    (offload_en::VLAN_STRIP, "rx-vlan-offload"),
    (offload_en::VLAN_INSERT, "tx-vlan-offload"),
    (offload_en::RSS, "receive-hashing"),
];

impl Nic {
    /// Current ring sizes.
    pub fn ring_params(&self) -> RingParams {
        RingParams {
            rx_log2: self.cfg.rx_ring_log2,
            tx_log2: self.cfg.tx_ring_log2,
            max_log2: self.info.max_ring_log2,
        }
    }

    /// Resizes the rings: every queue is torn down (buffers return to the pool) and created
    /// again. The Nic must hold all its queues. A pool sized automatically is replaced by a
    /// larger one when the new rings need it (buffers still held elsewhere go back to the old
    /// pool, which is freed when the last one returns); a pool of a configured size stays.
    pub fn set_ring_params(&mut self, rx_log2: u32, tx_log2: u32) -> Result<(), NicError> {
        Ring::new(rx_log2, self.info.max_ring_log2).map_err(EthtoolError::from)?;
        Ring::new(tx_log2, self.info.max_ring_log2).map_err(EthtoolError::from)?;
        if !self.holds_all_queues() {
            return Err(NicError::QueuesInUse);
        }
        self.rx.clear();
        self.tx.clear();
        self.cfg.rx_ring_log2 = rx_log2;
        self.cfg.tx_ring_log2 = tx_log2;
        let want = self.auto_pool_size();
        if self.cfg.pool_buffers == 0 && want > self.pool.capacity() {
            self.pool = crate::mempool::Mempool::new(&self.space, self.cfg.buf_size, want)?;
        }
        self.create_queues()
    }

    /// The RSS Toeplitz key.
    pub fn rss_key(&self) -> [u8; RSS_KEY_LEN] {
        let mut k = [0u8; RSS_KEY_LEN];
        for (i, c) in k.chunks_exact_mut(4).enumerate() {
            c.copy_from_slice(&self.dev.read32(regs::rss_key_word(i as u32)).to_le_bytes());
        }
        k
    }

    /// Programs the RSS Toeplitz key.
    pub fn set_rss_key(&mut self, key: &[u8; RSS_KEY_LEN]) {
        for (i, c) in key.chunks_exact(4).enumerate() {
            let w = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
            self.dev.write32(regs::rss_key_word(i as u32), w);
        }
    }

    /// The indirection table (hash bucket → RX queue).
    pub fn reta(&self) -> [u8; RETA_SIZE] {
        let mut t = [0u8; RETA_SIZE];
        for (i, c) in t.chunks_exact_mut(4).enumerate() {
            c.copy_from_slice(&self.dev.read32(regs::reta_word(i as u32)).to_le_bytes());
        }
        t
    }

    /// Programs the indirection table; every entry must name an RX queue in use.
    pub fn set_reta(&mut self, table: &[u8]) -> Result<(), EthtoolError> {
        if table.len() != RETA_SIZE {
            return Err(EthtoolError::RetaLen {
                expected: RETA_SIZE,
                got: table.len(),
            });
        }
        let queues = self.layout.rxq;
        if let Some((entry, &queue)) = table
            .iter()
            .enumerate()
            .find(|(_, &q)| u32::from(q) >= queues)
        {
            return Err(EthtoolError::RetaQueue {
                entry,
                queue,
                queues,
            });
        }
        for (i, c) in table.chunks_exact(4).enumerate() {
            let w = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
            self.dev.write32(regs::reta_word(i as u32), w);
        }
        Ok(())
    }

    /// Spreads the indirection table evenly over the first `n` RX queues (`ethtool -X equal n`).
    pub fn set_reta_even(&mut self, n: u32) -> Result<(), EthtoolError> {
        if n == 0 {
            return Err(EthtoolError::NoQueues);
        }
        let mut t = [0u8; RETA_SIZE];
        for (i, e) in t.iter_mut().enumerate() {
            *e = (i as u32 % n) as u8;
        }
        self.set_reta(&t)
    }

    /// Which tuples are hashed (`oxnic_abi::regs::hash_types` bits).
    pub fn hash_types(&self) -> u32 {
        self.dev.read32(rss::BASE + rss::HASH_TYPES)
    }

    /// Sets which tuples are hashed.
    pub fn set_hash_types(&mut self, bits: u32) -> Result<(), EthtoolError> {
        let known = hash_types::IPV4 | hash_types::IPV4_TCP | hash_types::IPV4_UDP;
        if bits & !known != 0 {
            return Err(EthtoolError::BadHashTypes(bits));
        }
        self.dev.write32(rss::BASE + rss::HASH_TYPES, bits);
        Ok(())
    }

    /// Enabled offloads (`offload::ENABLE` bits).
    pub fn offloads(&self) -> u32 {
        self.dev.read32(offload::BASE + offload::ENABLE)
    }

    /// Enables exactly the offloads in `bits`; each must be defined and supported by the card.
    pub fn set_offloads(&mut self, bits: u32) -> Result<(), EthtoolError> {
        let mut bad = bits;
        for &(bit, feature) in OFFLOAD_FEATURE {
            if self.info.features & feature != 0 {
                bad &= !bit;
            }
        }
        if bad != 0 {
            return Err(EthtoolError::Unsupported { asked: bits, bad });
        }
        self.dev.write32(offload::BASE + offload::ENABLE, bits);
        Ok(())
    }

    /// Turns one offload on or off, leaving the others.
    pub fn set_offload(&mut self, bit: u32, on: bool) -> Result<(), EthtoolError> {
        let cur = self.offloads();
        self.set_offloads(if on { cur | bit } else { cur & !bit })
    }

    /// Moderation of `vector`.
    pub fn coalesce(&self, vector: u32) -> Result<Coalesce, EthtoolError> {
        self.check_vector(vector)?;
        Ok(irq::coalesce(&*self.dev, vector))
    }

    /// Sets the moderation of `vector`.
    pub fn set_coalesce(&mut self, vector: u32, c: Coalesce) -> Result<(), EthtoolError> {
        self.check_vector(vector)?;
        Ok(irq::set_coalesce(&*self.dev, vector, c)?)
    }

    /// Sets the moderation of every vector in use.
    pub fn set_coalesce_all(&mut self, c: Coalesce) -> Result<(), EthtoolError> {
        for v in 0..self.vectors.len() as u32 {
            self.set_coalesce(v, c)?;
        }
        Ok(())
    }

    fn check_vector(&self, vector: u32) -> Result<(), EthtoolError> {
        if vector as usize >= self.vectors.len() {
            return Err(IrqError::NoSuchVector {
                vector,
                count: self.vectors.len() as u32,
            }
            .into());
        }
        Ok(())
    }

    /// All statistics: the card's port counters (register-map names) then, per queue, the
    /// driver's counters as `rx<N>.<name>` / `tx<N>.<name>` (zero counters of the other
    /// direction left out).
    pub fn statistics(&self) -> Vec<(String, u64)> {
        let mut out: Vec<(String, u64)> = self
            .port
            .counters()
            .into_iter()
            .map(|(n, v)| (n.to_string(), v))
            .collect();
        for (dir, other, list) in [("rx", "tx", &self.rx_stats), ("tx", "rx", &self.tx_stats)] {
            for (q, s) in list.iter().enumerate() {
                for (name, v) in stats::NAMES.iter().zip(s.values()) {
                    if v != 0 || !name.starts_with(other) {
                        out.push((format!("{dir}{q}.{name}"), v));
                    }
                }
            }
        }
        out
    }

    /// One driver counter summed over all queues (e.g. `rx_drop_bad_len`).
    pub fn driver_total(&self, name: &str) -> Option<u64> {
        let i = stats::NAMES.iter().position(|n| *n == name)?;
        Some(
            self.rx_stats
                .iter()
                .chain(&self.tx_stats)
                .map(|s| s.values()[i])
                .sum(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mock::MockCard;
    use crate::nic::NicConfig;
    use crate::Bar;
    use std::sync::Arc;

    fn nic(rx: u32) -> (Arc<MockCard>, Nic) {
        let card = Arc::new(MockCard::new());
        let cfg = NicConfig {
            rx_queues: rx,
            tx_queues: 2,
            rx_ring_log2: 4,
            tx_ring_log2: 4,
            ..Default::default()
        };
        let nic = Nic::open(card.clone(), cfg).unwrap();
        (card, nic)
    }

    #[test]
    fn rss_key_and_reta_round_trip_and_are_validated() {
        let (card, mut nic) = nic(4);
        assert_eq!(
            nic.rss_key(),
            f::DEFAULT_RSS_KEY,
            "open programs the default key"
        );
        assert_eq!(
            nic.reta()[..6],
            [0, 1, 2, 3, 0, 1],
            "spread over the 4 queues"
        );
        let key: [u8; 40] = std::array::from_fn(|i| i as u8 * 3);
        nic.set_rss_key(&key);
        assert_eq!(nic.rss_key(), key);
        assert_eq!(card.read32(regs::rss_key_word(0)), 0x0906_0300);
        let mut t = [0u8; RETA_SIZE];
        t[5] = 3;
        nic.set_reta(&t).unwrap();
        assert_eq!(nic.reta(), t);
        t[7] = 4;
        assert_eq!(
            nic.set_reta(&t),
            Err(EthtoolError::RetaQueue {
                entry: 7,
                queue: 4,
                queues: 4
            })
        );
        assert_eq!(nic.reta()[7], 0, "refused table not written");
        assert_eq!(
            nic.set_reta(&t[..100]),
            Err(EthtoolError::RetaLen {
                expected: 128,
                got: 100
            })
        );
        assert_eq!(nic.set_reta_even(0), Err(EthtoolError::NoQueues));
        assert_eq!(nic.set_hash_types(8), Err(EthtoolError::BadHashTypes(8)));
        nic.set_hash_types(hash_types::IPV4_TCP).unwrap();
        assert_eq!(nic.hash_types(), hash_types::IPV4_TCP);
    }

    #[test]
    fn offloads_coalescing_and_rings() {
        let (card, mut nic) = nic(2);
        assert_eq!(
            nic.offloads(),
            offload_en::RX_CSUM | offload_en::TX_CSUM | offload_en::RSS
        );
        nic.set_offload(offload_en::TSO, true).unwrap();
        assert_ne!(nic.offloads() & offload_en::TSO, 0);
        assert_eq!(
            nic.set_offloads(1 << 9),
            Err(EthtoolError::Unsupported {
                asked: 1 << 9,
                bad: 1 << 9
            })
        );
        let c = Coalesce {
            usecs: 20,
            frames: 32,
        };
        nic.set_coalesce_all(c).unwrap();
        assert_eq!(nic.coalesce(1).unwrap(), c);
        assert!(nic.set_coalesce(2, c).is_err(), "only 2 vectors in use");
        assert_eq!(nic.ring_params().rx_log2, 4);
        nic.set_ring_params(6, 5).unwrap();
        assert_eq!(
            card.read32(regs::rxq::reg(1, regs::rxq::entry::SIZE_LOG2)),
            6
        );
        assert_eq!(nic.rx(1).unwrap().rxq().posted(), 64);
        assert!(matches!(
            nic.set_ring_params(13, 5),
            Err(NicError::Ethtool(EthtoolError::RingSize(_)))
        ));
        let p = nic.take_rx(0).unwrap();
        assert!(matches!(
            nic.set_ring_params(5, 5),
            Err(NicError::QueuesInUse)
        ));
        nic.put_rx(p);
        nic.set_ring_params(5, 5).unwrap();
    }

    #[test]
    fn statistics_name_card_and_driver_counters() {
        let (_card, nic) = nic(2);
        let s = nic.statistics();
        assert_eq!(s[0].0, "RX_PACKETS");
        assert!(s.iter().any(|(n, _)| n == "DMA_FAULTS"));
        assert!(s.iter().any(|(n, v)| n == "rx1.rx_doorbells" && *v == 1));
        assert!(s.iter().any(|(n, _)| n == "tx0.tx_ring_full"));
        assert_eq!(nic.driver_total("rx_doorbells"), Some(2));
        assert_eq!(nic.driver_total("nope"), None);
    }
}
