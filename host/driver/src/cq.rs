//! Completion queue: a ring the card writes 32-byte records into, each with a phase bit.
//!
//! The driver finds new records by their phase bit (never by reading the card's `PROD`
//! register), consumes them in order, and tells the card how far it got by writing `CONS` once
//! per batch ([`CompletionQueue::commit`]). Arming ([`CompletionQueue::arm`]) asks the card to
//! raise the queue's interrupt vector once, on the next record.
//!
//! Lifecycle: [`create`](CompletionQueue::create) (ring memory, registers) →
//! [`enable`](CompletionQueue::enable) → [`arm`](CompletionQueue::arm) /
//! [`poll`](CompletionQueue::poll) / [`commit`](CompletionQueue::commit) →
//! [`close`](CompletionQueue::close) (or drop).
//!
//! # A record whose phase is stale
//! The card writes records in order, so if the record after the expected one carries the new
//! phase while the expected one still carries the old phase (checked twice, in order), the
//! expected record was corrupted: it is reported as [`Next::Stale`] and skipped, and the caller
//! counts it. Without this a single corrupted phase bit would stop the queue forever. Its phase
//! byte is then rewritten to this pass's value, or the bad record would look new one pass later.

use crate::device::{Device, DmaPerm};
use crate::iova::{DmaMapping, IovaSpace, MapError};
use crate::ring::{Ring, RingSizeError};
use oxnic_abi::desc::{cpl_field, Cpl, PHASE_BIT};
use oxnic_abi::regs::{cq, queue_ctrl};
use std::sync::atomic::{fence, Ordering};
use std::sync::Arc;

/// Why a queue could not be created.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The queue number is beyond what the card has.
    #[error("{kind} {index} does not exist (the card has {count})")]
    NoSuchQueue {
        /// "TX queue", "RX queue", "completion queue".
        kind: &'static str,
        /// Requested number.
        index: u32,
        /// How many the card has.
        count: u32,
    },
    /// The ring size is out of range.
    #[error(transparent)]
    RingSize(#[from] RingSizeError),
    /// A completion ring smaller than the ring it serves could overflow.
    #[error("completion ring 2^{cq} is smaller than the 2^{ring}-entry ring it serves")]
    CqTooSmall {
        /// Completion ring log2.
        cq: u32,
        /// Served ring log2.
        ring: u32,
    },
    /// Ring memory could not be had or mapped.
    #[error(transparent)]
    Map(#[from] MapError),
}

/// A kind of hardware queue: its register array in BAR0 and its ring's records. The card's RX,
/// TX and completion queues share the entry layout (ring base, size, a binding word, CTRL, an
/// index register), so one function creates any of them.
pub(crate) struct QueueKind {
    /// "RX queue", "TX queue", "completion queue" (for errors).
    pub name: &'static str,
    /// BAR0 offset of register `off` of entry `index` (`rxq::reg`, ...).
    pub reg: fn(u32, u32) -> u32,
    /// Offsets inside an entry.
    pub base_lo: u32,
    pub size_log2: u32,
    /// The CQ (RX/TX queues) or VECTOR (completion queues) register.
    pub binding: u32,
    pub ctrl: u32,
    /// The driver's index register (PROD, or CONS for completion queues).
    pub index: u32,
    /// Bytes per ring entry.
    pub record: usize,
    /// What the card does with the ring.
    pub perm: DmaPerm,
}

/// Checks `index` against `count`, allocates and maps a ring of `2^log2` entries of `kind`,
/// and programs the entry (disabled, base, size, `binding`, index 0).
pub(crate) fn create_ring(
    space: &IovaSpace,
    kind: &QueueKind,
    index: u32,
    count: u32,
    log2: u32,
    card_max_log2: u32,
    binding: u32,
) -> Result<(Arc<dyn Device>, Ring, DmaMapping), QueueError> {
    if index >= count {
        return Err(QueueError::NoSuchQueue {
            kind: kind.name,
            index,
            count,
        });
    }
    let ring = Ring::new(log2, card_max_log2)?;
    let mem = space.alloc_map(ring.size() * kind.record, kind.perm)?;
    let dev = space.device().clone();
    let reg = |off| (kind.reg)(index, off);
    dev.write32(reg(kind.ctrl), 0);
    dev.write64(reg(kind.base_lo), mem.iova());
    dev.write32(reg(kind.size_log2), log2);
    dev.write32(reg(kind.binding), binding);
    dev.write32(reg(kind.index), 0);
    Ok((dev, ring, mem))
}

const CQ_KIND: QueueKind = QueueKind {
    name: "completion queue",
    reg: cq::reg,
    base_lo: cq::entry::BASE_LO,
    size_log2: cq::entry::SIZE_LOG2,
    binding: cq::entry::VECTOR,
    ctrl: cq::entry::CTRL,
    index: cq::entry::CONS,
    record: Cpl::LEN,
    perm: DmaPerm::FROM_DEVICE,
};

/// What [`CompletionQueue::poll`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// A new record (bytes as the card wrote them; not yet validated).
    Record([u8; Cpl::LEN]),
    /// The expected record has a stale phase but a later one is new: it was skipped.
    Stale,
    /// Nothing new.
    Empty,
}

/// One completion queue.
pub struct CompletionQueue {
    dev: Arc<dyn Device>,
    index: u32,
    ring: Ring,
    mem: DmaMapping,
    vector: u32,
    cons: u16,
    committed: u16,
}

impl std::fmt::Debug for CompletionQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompletionQueue")
            .field("index", &self.index)
            .field("size", &self.ring.size())
            .field("vector", &self.vector)
            .field("cons", &self.cons)
            .finish()
    }
}

impl CompletionQueue {
    /// Allocates a ring of `2^log2` records for completion queue `index` (of `count` the card
    /// has), raising `vector` when armed, and programs its registers (not yet enabled).
    pub fn create(
        space: &IovaSpace,
        index: u32,
        count: u32,
        log2: u32,
        card_max_log2: u32,
        vector: u32,
    ) -> Result<Self, QueueError> {
        let (dev, ring, mem) =
            create_ring(space, &CQ_KIND, index, count, log2, card_max_log2, vector)?;
        Ok(CompletionQueue {
            dev,
            index,
            ring,
            mem,
            vector,
            cons: 0,
            committed: 0,
        })
    }

    /// The card's number for this queue.
    pub fn index(&self) -> u32 {
        self.index
    }

    /// The interrupt vector it raises.
    pub fn vector(&self) -> u32 {
        self.vector
    }

    /// Ring geometry.
    pub fn ring(&self) -> Ring {
        self.ring
    }

    /// The driver's consumer index (free-running).
    pub fn cons(&self) -> u16 {
        self.cons
    }

    /// Lets the card write records.
    pub fn enable(&mut self) {
        self.dev
            .write32(cq::reg(self.index, cq::entry::CTRL), queue_ctrl::ENABLE);
    }

    /// Asks the card to raise the vector once, on the next record.
    pub fn arm(&mut self) {
        self.dev.write32(
            cq::reg(self.index, cq::entry::CTRL),
            queue_ctrl::ENABLE | queue_ctrl::ARM,
        );
    }

    /// Stops the queue; the card resets its producer index, so the driver restarts at zero.
    pub fn disable(&mut self) {
        self.dev.write32(cq::reg(self.index, cq::entry::CTRL), 0);
        self.cons = 0;
        self.committed = 0;
        // Old records would look new on the next first pass: clear them.
        let _ = self.mem.region().fill(0, self.mem.len(), 0);
    }

    fn phase_at(&self, i: u16) -> bool {
        let off = self.ring.slot(i) * Cpl::LEN + cpl_field::PHASE;
        // The offset is inside the ring by construction; a failed read counts as "not new".
        match self.mem.region().read_u8_volatile(off) {
            Ok(b) => (b & PHASE_BIT != 0) == self.ring.phase(i),
            Err(_) => false,
        }
    }

    /// True if a new record is waiting.
    pub fn has_work(&self) -> bool {
        self.phase_at(self.cons) || self.phase_at(self.cons.wrapping_add(1))
    }

    /// Takes the next record, if the card has written one.
    pub fn poll(&mut self) -> Next {
        let i = self.cons;
        if !self.phase_at(i) {
            if !self.phase_at(i.wrapping_add(1)) {
                return Next::Empty;
            }
            // The later record is new; read ours again now that the card has moved past it.
            fence(Ordering::Acquire);
            if !self.phase_at(i) {
                // Its phase is the next pass's "new" value: one pass later it would pass as a
                // fresh record. Give it this pass's value so it reads as old until rewritten.
                let off = self.ring.slot(i) * Cpl::LEN + cpl_field::PHASE;
                let old = if self.ring.phase(i) { PHASE_BIT } else { 0 };
                let _ = self.mem.region().write(off, &[old]);
                self.cons = i.wrapping_add(1);
                return Next::Stale;
            }
        }
        let mut rec = [0u8; Cpl::LEN];
        let off = self.ring.slot(i) * Cpl::LEN;
        if self.mem.region().read(off, &mut rec).is_err() {
            return Next::Empty;
        }
        self.cons = i.wrapping_add(1);
        Next::Record(rec)
    }

    /// Tells the card how far the driver has consumed (one register write per batch).
    pub fn commit(&mut self) {
        if self.cons != self.committed {
            self.dev
                .write32(cq::reg(self.index, cq::entry::CONS), u32::from(self.cons));
            self.committed = self.cons;
        }
    }

    /// Disables the queue and releases its ring.
    pub fn close(mut self) {
        self.disable();
    }
}

impl Drop for CompletionQueue {
    fn drop(&mut self) {
        // The ring is unmapped right after this (DmaMapping's drop): stop the card first.
        self.dev.write32(cq::reg(self.index, cq::entry::CTRL), 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mock::{MockCard, CQS, MAX_RING_LOG2};
    use crate::Bar;
    use oxnic_abi::desc::Cpl;

    fn setup(log2: u32) -> (Arc<MockCard>, CompletionQueue) {
        let card = Arc::new(MockCard::new());
        let mut q =
            CompletionQueue::create(&card.iova_space(), 2, CQS, log2, MAX_RING_LOG2, 5).unwrap();
        q.enable();
        (card, q)
    }

    /// Writes a record at free-running position `i` with the phase `good` or stale.
    fn put(card: &MockCard, q: &CompletionQueue, i: u16, len: u32, good: bool) {
        let base = card.read32(cq::reg(2, cq::entry::BASE_LO)) as u64
            | (card.read32(cq::reg(2, cq::entry::BASE_HI)) as u64) << 32;
        let c = Cpl {
            len,
            phase: q.ring().phase(i) == good,
            ..Default::default()
        };
        assert!(card.dma_write(base + q.ring().slot(i) as u64 * 32, &c.to_bytes()));
    }

    #[test]
    fn walks_records_by_phase_across_wraps() {
        let (card, mut q) = setup(3);
        assert_eq!(q.poll(), Next::Empty);
        for round in 0..5u16 {
            for k in 0..8u16 {
                let i = round * 8 + k;
                put(&card, &q, i, u32::from(i) + 1, true);
            }
            for k in 0..8u16 {
                let Next::Record(r) = q.poll() else {
                    panic!("record {k} of round {round} missing")
                };
                assert_eq!(
                    u32::from_le_bytes(r[..4].try_into().unwrap()),
                    u32::from(round * 8 + k) + 1
                );
            }
            assert_eq!(
                q.poll(),
                Next::Empty,
                "old records of the previous pass are not new"
            );
            q.commit();
        }
        assert_eq!(card.read32(cq::reg(2, cq::entry::CONS)), 40);
        assert_eq!(
            card.cq_cons_writes(2),
            1 + 5,
            "reset at create, then one CONS write per batch"
        );
    }

    #[test]
    fn stale_record_followed_by_a_new_one_is_skipped() {
        let (card, mut q) = setup(3);
        put(&card, &q, 0, 10, true);
        put(&card, &q, 1, 11, false);
        assert!(matches!(q.poll(), Next::Record(_)));
        assert_eq!(
            q.poll(),
            Next::Empty,
            "a stale record alone looks like nothing yet"
        );
        put(&card, &q, 2, 12, true);
        assert!(q.has_work());
        assert_eq!(q.poll(), Next::Stale);
        let Next::Record(r) = q.poll() else { panic!() };
        assert_eq!(r[0], 12);
        assert_eq!(q.cons(), 3);
    }

    #[test]
    fn arm_and_disable_program_the_card() {
        let (card, mut q) = setup(4);
        assert_eq!(card.read32(cq::reg(2, cq::entry::SIZE_LOG2)), 4);
        assert_eq!(card.read32(cq::reg(2, cq::entry::VECTOR)), 5);
        q.arm();
        assert_eq!(card.read32(cq::reg(2, cq::entry::CTRL)), 3);
        put(&card, &q, 0, 1, true);
        assert!(matches!(q.poll(), Next::Record(_)));
        q.disable();
        assert_eq!(q.cons(), 0);
        assert_eq!(q.poll(), Next::Empty, "ring cleared on disable");
        let maps = card.mappings();
        drop(q);
        assert_eq!(card.mappings(), maps - 1, "ring unmapped");
        assert!(CompletionQueue::create(&card.iova_space(), 16, CQS, 4, 12, 0).is_err());
        assert!(CompletionQueue::create(&card.iova_space(), 0, CQS, 13, 12, 0).is_err());
    }
}
