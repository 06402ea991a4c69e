//! A behavioural model of the card's queue contract, for the driver's own tests.
//!
//! [`MockCard`] implements [`Device`] with a register image laid out by `oxnic-abi`, an IOMMU
//! that only lets the "card" reach mapped IOVA ranges, and the queue behaviour the hardware
//! promises (see `hdl/src/rx_engine.rs` and `tx_engine.rs`): RX buffers consumed in ring order
//! with one completion each, TX descriptor chains walked to LAST with one completion per frame,
//! phase bits that flip each wrap, and armed completion queues that raise their vector once.
//!
//! It exists so the driver's ring, NAPI and teardown logic can be tested without Verilator; the
//! co-simulation tests run the same driver against the verilated card (`SimDevice` in
//! `oxnic-sim`). It models no timing and no moderation. Tests can corrupt any completion it
//! writes ([`MockCard::rx_frame_with`]) to check that the driver treats the device as untrusted.

use crate::bar::Bar;
use crate::device::{Device, DeviceError, DmaPerm};
use crate::dma::DmaRegion;
use crate::iova::{IovaSpace, DEFAULT_IOVA_BASE, DEFAULT_IOVA_LEN};
use oxnic_abi::desc::{cpl_flags, tx_flags, Cpl, RxDesc, RxDescView, TxDesc, TxDescView};
use oxnic_abi::regs::{self, cq, device, queue_ctrl, rxq, txq};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// Queues of each kind the model has.
pub const QUEUES: u32 = 8;
/// Completion queues the model has (one per RX queue, then one per TX queue).
pub const CQS: u32 = 16;
/// Interrupt vectors the model has.
pub const VECTORS: u32 = 16;
/// log2 of the largest ring the model accepts.
pub const MAX_RING_LOG2: u32 = 12;

/// What happened to a frame offered to an RX queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RxOutcome {
    /// Written to a buffer, completion written.
    Delivered,
    /// Dropped: the queue is disabled or has no buffer posted.
    NoBuffer,
    /// Dropped: longer than the next buffer (which stays posted).
    TooLong,
    /// A DMA access hit an unmapped IOVA.
    Fault,
}

/// The model card. Share it as `Arc<MockCard>`; it is its own [`Device`].
#[derive(Debug)]
pub struct MockCard {
    regs: Mutex<Vec<u32>>,
    maps: Mutex<BTreeMap<u64, (Arc<DmaRegion>, DmaPerm)>>,
    irq_enabled: AtomicU64,
    irq_pending: AtomicU64,
    now: AtomicU64,
    rx_doorbells: [AtomicU32; QUEUES as usize],
    tx_doorbells: [AtomicU32; QUEUES as usize],
    cq_cons_writes: [AtomicU32; CQS as usize],
    scratch: Mutex<Vec<u8>>,
    faults: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Default for MockCard {
    fn default() -> Self {
        Self::new()
    }
}

impl MockCard {
    /// A card just out of reset: register chain, capabilities, all queues disabled.
    pub fn new() -> Self {
        let mut w = vec![0u32; regs::BAR0_SIZE as usize / 4];
        for (i, b) in regs::BLOCKS.iter().enumerate() {
            let at = (b.base / 4) as usize;
            w[at..at + 4].copy_from_slice(&[b.kind, b.version, regs::next_of(i), b.len]);
            for r in b.regs {
                w[((b.base + r.offset) / 4) as usize] = r.reset;
            }
        }
        let mut set = |off: u32, v: u32| w[(off / 4) as usize] = v;
        set(device::ID, 0x0c5e_10ee);
        set(device::HW_VERSION, 0x0001_0000);
        set(device::FEATURES, (1 << 10) - 1);
        set(device::NUM_TXQ, QUEUES);
        set(device::NUM_RXQ, QUEUES);
        set(device::NUM_CQ, CQS);
        set(device::NUM_VECTORS, VECTORS);
        set(device::MAX_RING_LOG2, MAX_RING_LOG2);
        set(device::DATAPATH_BITS, 64);
        set(device::MAX_TSO_BYTES, 65535);
        set(device::RETA_SIZE, oxnic_abi::features::RETA_SIZE as u32);
        set(device::MAX_SG_SEGS, oxnic_abi::features::MAX_SG_SEGS);
        set(device::CLOCK_KHZ, 250_000);
        set(device::MAX_MTU, 9000);
        for (base, count) in [
            (regs::irq::BASE, VECTORS),
            (txq::BASE, QUEUES),
            (rxq::BASE, QUEUES),
            (cq::BASE, CQS),
        ] {
            set(base + regs::hdr::COUNT, count);
        }
        set(
            regs::irq::BASE + regs::hdr::STRIDE,
            regs::irq::entry::STRIDE,
        );
        set(txq::BASE + regs::hdr::STRIDE, txq::entry::STRIDE);
        set(rxq::BASE + regs::hdr::STRIDE, rxq::entry::STRIDE);
        set(cq::BASE + regs::hdr::STRIDE, cq::entry::STRIDE);
        MockCard {
            regs: Mutex::new(w),
            maps: Mutex::new(BTreeMap::new()),
            irq_enabled: AtomicU64::new(0),
            irq_pending: AtomicU64::new(0),
            now: AtomicU64::new(0),
            rx_doorbells: Default::default(),
            tx_doorbells: Default::default(),
            cq_cons_writes: Default::default(),
            scratch: Mutex::new(Vec::with_capacity(1 << 17)),
            faults: AtomicU64::new(0),
        }
    }

    /// The card's IOVA space with the driver's default window.
    pub fn iova_space(self: &Arc<Self>) -> IovaSpace {
        IovaSpace::new(self.clone(), DEFAULT_IOVA_BASE, DEFAULT_IOVA_LEN)
    }

    fn reg(&self, off: u32) -> u32 {
        lock(&self.regs)[(off / 4) as usize]
    }

    fn set_reg(&self, off: u32, v: u32) {
        lock(&self.regs)[(off / 4) as usize] = v;
    }

    /// RX doorbell (PROD) writes seen on queue `q`.
    pub fn rx_doorbells(&self, q: u32) -> u32 {
        self.rx_doorbells[q as usize].load(Ordering::Relaxed)
    }

    /// TX doorbell (PROD) writes seen on queue `q`.
    pub fn tx_doorbells(&self, q: u32) -> u32 {
        self.tx_doorbells[q as usize].load(Ordering::Relaxed)
    }

    /// CONS register writes seen on completion queue `c`.
    pub fn cq_cons_writes(&self, c: u32) -> u32 {
        self.cq_cons_writes[c as usize].load(Ordering::Relaxed)
    }

    /// DMA accesses the IOMMU refused.
    pub fn faults(&self) -> u64 {
        self.faults.load(Ordering::Relaxed)
    }

    /// Mappings currently in place.
    pub fn mappings(&self) -> usize {
        lock(&self.maps).len()
    }

    /// True if `[iova, iova + len)` lies inside one mapping.
    pub fn is_mapped(&self, iova: u64, len: usize) -> bool {
        self.resolve(iova, len, DmaPerm::RW).is_some()
    }

    /// Interrupts raised and not yet taken by `irq_wait`.
    pub fn pending_irqs(&self) -> u64 {
        self.irq_pending.load(Ordering::Relaxed)
    }

    fn resolve(&self, iova: u64, len: usize, need: DmaPerm) -> Option<(Arc<DmaRegion>, usize)> {
        let maps = lock(&self.maps);
        let (&base, (region, perm)) = maps.range(..=iova).next_back()?;
        let off = (iova - base) as usize;
        let ok = off.checked_add(len).is_some_and(|e| e <= region.len())
            && (!need.read || perm.read)
            && (!need.write || perm.write);
        ok.then(|| (region.clone(), off))
    }

    /// Reads host memory as the card would (through the IOMMU).
    pub fn dma_read(&self, iova: u64, out: &mut [u8]) -> bool {
        match self.resolve(iova, out.len(), DmaPerm::TO_DEVICE) {
            Some((r, off)) => r.read(off, out).is_ok(),
            None => {
                self.faults.fetch_add(1, Ordering::Relaxed);
                false
            }
        }
    }

    /// Writes host memory as the card would (through the IOMMU).
    pub fn dma_write(&self, iova: u64, data: &[u8]) -> bool {
        match self.resolve(iova, data.len(), DmaPerm::FROM_DEVICE) {
            Some((r, off)) => r.write(off, data).is_ok(),
            None => {
                self.faults.fetch_add(1, Ordering::Relaxed);
                false
            }
        }
    }

    fn raise(&self, vector: u32) {
        if vector < VECTORS && self.irq_enabled.load(Ordering::Relaxed) & (1 << vector) != 0 {
            self.irq_pending.fetch_or(1 << vector, Ordering::Relaxed);
        }
    }

    /// Writes completion `c` (phase set by the model) into completion queue `n`, letting
    /// `corrupt` change its bytes first. Raises the queue's vector if it is armed.
    fn write_cpl(&self, n: u32, c: &Cpl, corrupt: &mut dyn FnMut(&mut [u8; 32])) -> bool {
        let ctrl = self.reg(cq::reg(n, cq::entry::CTRL));
        if ctrl & queue_ctrl::ENABLE == 0 {
            return false;
        }
        let base = u64::from(self.reg(cq::reg(n, cq::entry::BASE_LO)))
            | u64::from(self.reg(cq::reg(n, cq::entry::BASE_HI))) << 32;
        let log2 = self.reg(cq::reg(n, cq::entry::SIZE_LOG2));
        let prod = self.reg(cq::reg(n, cq::entry::PROD)) as u16;
        let mut rec = Cpl {
            phase: (prod >> log2) & 1 == 0,
            ..*c
        }
        .to_bytes();
        corrupt(&mut rec);
        let slot = u64::from(prod) & ((1u64 << log2) - 1);
        if !self.dma_write(base + slot * 32, &rec) {
            return false;
        }
        self.set_reg(cq::reg(n, cq::entry::PROD), u32::from(prod.wrapping_add(1)));
        if ctrl & queue_ctrl::ARM != 0 {
            self.set_reg(cq::reg(n, cq::entry::CTRL), ctrl & !queue_ctrl::ARM);
            self.raise(self.reg(cq::reg(n, cq::entry::VECTOR)));
        }
        true
    }

    /// Offers a received frame to RX queue `q` with completion fields from `meta` (its `len`,
    /// `index`, `queue` and `phase` are filled in by the model).
    pub fn rx_frame(&self, q: u32, frame: &[u8], meta: &Cpl) -> RxOutcome {
        self.rx_frame_with(q, frame, meta, &mut |_| {})
    }

    /// Like [`MockCard::rx_frame`], with `corrupt` applied to the completion bytes before they
    /// are written (a misbehaving card).
    pub fn rx_frame_with(
        &self,
        q: u32,
        frame: &[u8],
        meta: &Cpl,
        corrupt: &mut dyn FnMut(&mut [u8; 32]),
    ) -> RxOutcome {
        let ctrl = self.reg(rxq::reg(q, rxq::entry::CTRL));
        let prod = self.reg(rxq::reg(q, rxq::entry::PROD)) as u16;
        let cons = self.reg(rxq::reg(q, rxq::entry::CONS)) as u16;
        if q >= QUEUES || ctrl & queue_ctrl::ENABLE == 0 || prod == cons {
            return RxOutcome::NoBuffer;
        }
        let base = u64::from(self.reg(rxq::reg(q, rxq::entry::BASE_LO)))
            | u64::from(self.reg(rxq::reg(q, rxq::entry::BASE_HI))) << 32;
        let log2 = self.reg(rxq::reg(q, rxq::entry::SIZE_LOG2));
        let slot = cons & ((1u16 << log2) - 1);
        let mut d = [0u8; 16];
        if !self.dma_read(base + u64::from(slot) * 16, &mut d) {
            return RxOutcome::Fault;
        }
        let Ok(desc) = RxDescView::new_checked(&d[..])
            .map_err(|_| ())
            .and_then(|v| RxDesc::parse(&v).map_err(|_| ()))
        else {
            return RxOutcome::Fault;
        };
        if frame.len() > desc.len as usize {
            return RxOutcome::TooLong;
        }
        if !self.dma_write(desc.addr, frame) {
            return RxOutcome::Fault;
        }
        let c = Cpl {
            len: frame.len() as u32,
            index: slot,
            queue: q as u16,
            flags: meta.flags & !cpl_flags::TX,
            ..*meta
        };
        self.set_reg(
            rxq::reg(q, rxq::entry::CONS),
            u32::from(cons.wrapping_add(1)),
        );
        let n = self.reg(rxq::reg(q, rxq::entry::CQ));
        if !self.write_cpl(n, &c, corrupt) {
            return RxOutcome::Fault;
        }
        RxOutcome::Delivered
    }

    /// Sends every whole frame posted on TX queue `q` (up to `max`), calling `sent` with each
    /// frame's bytes and its first descriptor, and writes one completion per frame. Returns the
    /// frames completed (sent or errored).
    pub fn tx_process(&self, q: u32, max: usize, sent: &mut dyn FnMut(&[u8], &TxDesc)) -> usize {
        let ctrl = self.reg(txq::reg(q, txq::entry::CTRL));
        if q >= QUEUES || ctrl & queue_ctrl::ENABLE == 0 {
            return 0;
        }
        let base = u64::from(self.reg(txq::reg(q, txq::entry::BASE_LO)))
            | u64::from(self.reg(txq::reg(q, txq::entry::BASE_HI))) << 32;
        let log2 = self.reg(txq::reg(q, txq::entry::SIZE_LOG2));
        let cq_n = self.reg(txq::reg(q, txq::entry::CQ));
        let mut scratch = lock(&self.scratch);
        let mut done = 0;
        while done < max {
            let prod = self.reg(txq::reg(q, txq::entry::PROD)) as u16;
            let mut cons = self.reg(txq::reg(q, txq::entry::CONS)) as u16;
            if prod == cons {
                break;
            }
            scratch.clear();
            let mut first = None;
            let mut error = false;
            loop {
                let slot = u64::from(cons) & ((1u64 << log2) - 1);
                let mut d = [0u8; 32];
                let desc = self
                    .dma_read(base + slot * 32, &mut d)
                    .then(|| TxDescView::new_checked(&d[..]).ok())
                    .flatten()
                    .and_then(|v| TxDesc::parse(&v).ok());
                let Some(desc) = desc else {
                    error = true;
                    break;
                };
                if first.is_none() {
                    if desc.flags & tx_flags::FIRST == 0 {
                        error = true;
                        break;
                    }
                    first = Some(desc);
                }
                let at = scratch.len();
                scratch.resize(at + desc.len as usize, 0);
                if !self.dma_read(desc.addr, &mut scratch[at..]) {
                    error = true;
                }
                if desc.flags & tx_flags::LAST != 0 || cons.wrapping_add(1) == prod {
                    error |= desc.flags & tx_flags::LAST == 0;
                    break;
                }
                cons = cons.wrapping_add(1);
            }
            if !error {
                if let Some(f) = &first {
                    sent(&scratch, f);
                }
            }
            let c = Cpl {
                len: scratch.len() as u32,
                index: cons,
                queue: q as u16,
                gro_segs: 1,
                flags: cpl_flags::TX | if error { cpl_flags::ERROR } else { 0 },
                ..Default::default()
            };
            self.set_reg(
                txq::reg(q, txq::entry::CONS),
                u32::from(cons.wrapping_add(1)),
            );
            self.write_cpl(cq_n, &c, &mut |_| {});
            done += 1;
        }
        done
    }

    /// Model-owned registers the driver cannot write.
    fn read_only(off: u32) -> bool {
        let in_array = |base: u32, count: u32, stride: u32, regs_ro: &[u32]| {
            let start = base + regs::ARRAY_OFFSET;
            off >= start
                && off < start + count * stride
                && regs_ro.contains(&((off - start) % stride))
        };
        off < device::SCRATCH
            || in_array(
                txq::BASE,
                QUEUES,
                txq::entry::STRIDE,
                &[txq::entry::CONS, txq::entry::STATUS],
            )
            || in_array(
                rxq::BASE,
                QUEUES,
                rxq::entry::STRIDE,
                &[rxq::entry::CONS, rxq::entry::STATUS],
            )
            || in_array(
                cq::BASE,
                CQS,
                cq::entry::STRIDE,
                &[cq::entry::PROD, cq::entry::STATUS],
            )
    }

    fn reset_queues(&self) {
        let mut r = lock(&self.regs);
        for (base, count, stride) in [
            (txq::BASE, QUEUES, txq::entry::STRIDE),
            (rxq::BASE, QUEUES, rxq::entry::STRIDE),
            (cq::BASE, CQS, cq::entry::STRIDE),
        ] {
            let s = ((base + regs::ARRAY_OFFSET) / 4) as usize;
            r[s..s + (count * stride / 4) as usize].fill(0);
        }
    }
}

impl Bar for MockCard {
    fn size(&self) -> u32 {
        regs::BAR0_SIZE
    }

    fn read32(&self, offset: u32) -> u32 {
        if offset % 4 != 0 || offset >= regs::BAR0_SIZE {
            return !0;
        }
        // STATUS bit 0 (active) follows the enable bit: the model has no in-flight work.
        for (base, count, stride, ctrl, status) in [
            (
                txq::BASE,
                QUEUES,
                txq::entry::STRIDE,
                txq::entry::CTRL,
                txq::entry::STATUS,
            ),
            (
                rxq::BASE,
                QUEUES,
                rxq::entry::STRIDE,
                rxq::entry::CTRL,
                rxq::entry::STATUS,
            ),
            (
                cq::BASE,
                CQS,
                cq::entry::STRIDE,
                cq::entry::CTRL,
                cq::entry::STATUS,
            ),
        ] {
            let start = base + regs::ARRAY_OFFSET;
            if offset >= start
                && offset < start + count * stride
                && (offset - start) % stride == status
            {
                return self.reg(offset - status + ctrl) & 1;
            }
        }
        self.reg(offset)
    }

    fn write32(&self, offset: u32, value: u32) {
        if offset % 4 != 0 || offset >= regs::BAR0_SIZE || Self::read_only(offset) {
            return;
        }
        if offset == device::RESET {
            if value & 1 != 0 {
                self.reset_queues();
            }
            return;
        }
        for q in 0..QUEUES {
            if offset == rxq::reg(q, rxq::entry::PROD) {
                self.rx_doorbells[q as usize].fetch_add(1, Ordering::Relaxed);
            }
            if offset == txq::reg(q, txq::entry::PROD) {
                self.tx_doorbells[q as usize].fetch_add(1, Ordering::Relaxed);
            }
        }
        for c in 0..CQS {
            if offset == cq::reg(c, cq::entry::CONS) {
                self.cq_cons_writes[c as usize].fetch_add(1, Ordering::Relaxed);
            }
        }
        // Disabling a queue resets its indices, as the card does.
        for (base, count, stride, ctrl, idx) in [
            (
                txq::BASE,
                QUEUES,
                txq::entry::STRIDE,
                txq::entry::CTRL,
                [txq::entry::PROD, txq::entry::CONS],
            ),
            (
                rxq::BASE,
                QUEUES,
                rxq::entry::STRIDE,
                rxq::entry::CTRL,
                [rxq::entry::PROD, rxq::entry::CONS],
            ),
            (
                cq::BASE,
                CQS,
                cq::entry::STRIDE,
                cq::entry::CTRL,
                [cq::entry::CONS, cq::entry::PROD],
            ),
        ] {
            let start = base + regs::ARRAY_OFFSET;
            if offset >= start
                && offset < start + count * stride
                && (offset - start) % stride == ctrl
                && value & queue_ctrl::ENABLE == 0
            {
                let entry = offset - ctrl;
                for i in idx {
                    self.set_reg(entry + i, 0);
                }
            }
        }
        self.set_reg(offset, value);
    }
}

impl Device for MockCard {
    fn dma_map(
        &self,
        region: &Arc<DmaRegion>,
        iova: u64,
        perm: DmaPerm,
    ) -> Result<(), DeviceError> {
        let len = region.len() as u64;
        let bad = |why| DeviceError::BadMapping { iova, len, why };
        let end = iova.checked_add(len).ok_or(bad("wraps"))?;
        let mut maps = lock(&self.maps);
        if let Some((&b, (r, _))) = maps.range(..end).next_back() {
            if b + r.len() as u64 > iova {
                return Err(bad("overlaps an existing mapping"));
            }
        }
        maps.insert(iova, (region.clone(), perm));
        Ok(())
    }

    fn dma_unmap(&self, iova: u64) -> Result<(), DeviceError> {
        lock(&self.maps)
            .remove(&iova)
            .map(|_| ())
            .ok_or(DeviceError::NotMapped(iova))
    }

    fn num_vectors(&self) -> u32 {
        VECTORS
    }

    fn irq_enable(&self, vector: u32) -> Result<(), DeviceError> {
        if vector >= VECTORS {
            return Err(DeviceError::NoSuchVector {
                vector,
                count: VECTORS,
            });
        }
        self.irq_enabled.fetch_or(1 << vector, Ordering::Relaxed);
        Ok(())
    }

    fn irq_wait(&self, mask: u64, timeout: Duration) -> Result<u64, DeviceError> {
        let fired = self.irq_pending.fetch_and(!mask, Ordering::Relaxed) & mask;
        if fired == 0 {
            // Virtual time: nothing else will happen while the driver waits.
            self.now
                .fetch_add(timeout.as_nanos() as u64, Ordering::Relaxed);
        }
        Ok(fired)
    }

    fn relax(&self) {
        self.now.fetch_add(100, Ordering::Relaxed);
    }

    fn now_ns(&self) -> u64 {
        self.now.load(Ordering::Relaxed)
    }
}
