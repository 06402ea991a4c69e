//! IOVA space: where in the device's address space each DMA region lives.
//!
//! The card only ever sees IO virtual addresses. [`IovaAllocator`] hands out aligned ranges of
//! a fixed window (first fit, freed ranges coalesce and are reused), and [`IovaSpace`] joins it
//! to a [`Device`] so that [`IovaSpace::map`] allocates an IOVA range, maps a [`DmaRegion`] there
//! and returns a [`DmaMapping`] that unmaps and frees the range when dropped.
//!
//! IOVA 0 is never handed out by the default window: a zeroed descriptor then points nowhere
//! mapped, so a card reading a stale or cleared descriptor faults instead of scribbling.

use crate::device::{Device, DeviceError, DmaPerm};
use crate::dma::{DmaError, DmaRegion};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

/// Why an IOVA range could not be allocated or freed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IovaError {
    /// A zero-length range was asked for.
    #[error("an IOVA range cannot be empty")]
    Empty,
    /// The alignment is not a power of two.
    #[error("IOVA alignment {0:#x} is not a power of two")]
    BadAlign(u64),
    /// No free range of this size and alignment is left.
    #[error("IOVA space exhausted: no free {len:#x}-byte range aligned to {align:#x}")]
    Exhausted {
        /// Bytes asked for.
        len: u64,
        /// Alignment asked for.
        align: u64,
    },
    /// The range was not allocated (double free or a made-up address).
    #[error("IOVA {0:#x} was not allocated")]
    NotAllocated(u64),
}

/// First-fit allocator of aligned IOVA ranges in the window `[base, base + len)`.
#[derive(Debug, Clone)]
pub struct IovaAllocator {
    /// Free ranges: start → length, never adjacent (they coalesce).
    free: BTreeMap<u64, u64>,
    /// Allocated ranges: start → length.
    used: BTreeMap<u64, u64>,
    window: (u64, u64),
}

impl IovaAllocator {
    /// An allocator over `[base, base + len)`. `len` is clamped so the window does not wrap.
    pub fn new(base: u64, len: u64) -> Self {
        let len = len.min(u64::MAX - base);
        let mut free = BTreeMap::new();
        if len > 0 {
            free.insert(base, len);
        }
        IovaAllocator {
            free,
            used: BTreeMap::new(),
            window: (base, len),
        }
    }

    /// The window `(base, len)`.
    pub fn window(&self) -> (u64, u64) {
        self.window
    }

    /// Allocates `len` bytes aligned to `align` (a power of two).
    pub fn alloc(&mut self, len: u64, align: u64) -> Result<u64, IovaError> {
        if len == 0 {
            return Err(IovaError::Empty);
        }
        if !align.is_power_of_two() {
            return Err(IovaError::BadAlign(align));
        }
        let found = self.free.iter().find_map(|(&start, &flen)| {
            let aligned = start.checked_add(align - 1)? & !(align - 1);
            let end = aligned.checked_add(len)?;
            (end <= start + flen).then_some((start, flen, aligned))
        });
        let (start, flen, at) = found.ok_or(IovaError::Exhausted { len, align })?;
        self.free.remove(&start);
        if at > start {
            self.free.insert(start, at - start);
        }
        let tail = start + flen - (at + len);
        if tail > 0 {
            self.free.insert(at + len, tail);
        }
        self.used.insert(at, len);
        Ok(at)
    }

    /// Frees the range that starts at `iova`, returning its length.
    pub fn free(&mut self, iova: u64) -> Result<u64, IovaError> {
        let len = self
            .used
            .remove(&iova)
            .ok_or(IovaError::NotAllocated(iova))?;
        let mut start = iova;
        let mut flen = len;
        if let Some((&ps, &pl)) = self.free.range(..iova).next_back() {
            if ps + pl == iova {
                self.free.remove(&ps);
                start = ps;
                flen += pl;
            }
        }
        if let Some(&nl) = self.free.get(&(iova + len)) {
            self.free.remove(&(iova + len));
            flen += nl;
        }
        self.free.insert(start, flen);
        Ok(len)
    }

    /// Bytes currently free.
    pub fn free_bytes(&self) -> u64 {
        self.free.values().sum()
    }

    /// Ranges currently allocated.
    pub fn allocated(&self) -> usize {
        self.used.len()
    }
}

/// Why a region could not be mapped for the device.
#[derive(Debug, thiserror::Error)]
pub enum MapError {
    /// No DMA memory.
    #[error(transparent)]
    Dma(#[from] DmaError),
    /// No IOVA range.
    #[error(transparent)]
    Iova(#[from] IovaError),
    /// The device refused the mapping.
    #[error(transparent)]
    Device(#[from] DeviceError),
}

/// Default IOVA window start: 4 GiB, above anything a 32-bit-only bug could reach by accident.
pub const DEFAULT_IOVA_BASE: u64 = 1 << 32;
/// Default IOVA window length: 64 GiB.
pub const DEFAULT_IOVA_LEN: u64 = 64 << 30;
/// Alignment of every mapping: a hugepage, so 2 MiB regions map with one IOMMU entry each.
pub const MAP_ALIGN: u64 = crate::dma::HUGE_PAGE as u64;

/// The device's IOVA space: an allocator shared by everything that maps memory for one device.
#[derive(Clone)]
pub struct IovaSpace {
    dev: Arc<dyn Device>,
    alloc: Arc<Mutex<IovaAllocator>>,
}

impl std::fmt::Debug for IovaSpace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IovaSpace")
            .field("alloc", &self.alloc)
            .finish_non_exhaustive()
    }
}

impl IovaSpace {
    /// The IOVA window `[base, base + len)` of `dev`.
    pub fn new(dev: Arc<dyn Device>, base: u64, len: u64) -> Self {
        IovaSpace {
            dev,
            alloc: Arc::new(Mutex::new(IovaAllocator::new(base, len))),
        }
    }

    /// The device this space belongs to.
    pub fn device(&self) -> &Arc<dyn Device> {
        &self.dev
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, IovaAllocator> {
        // The allocator's maps stay consistent across a panic in another holder (each method
        // updates them before it can fail), so a poisoned lock is still usable.
        self.alloc.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Allocates `len` bytes of DMA memory and maps them for the device with `perm`.
    pub fn alloc_map(&self, len: usize, perm: DmaPerm) -> Result<DmaMapping, MapError> {
        let region = Arc::new(DmaRegion::new(len)?);
        self.map(region, perm)
    }

    /// Maps `region` at a fresh IOVA range.
    pub fn map(&self, region: Arc<DmaRegion>, perm: DmaPerm) -> Result<DmaMapping, MapError> {
        let iova = self.lock().alloc(region.len() as u64, MAP_ALIGN)?;
        if let Err(e) = self.dev.dma_map(&region, iova, perm) {
            // The range was never mapped: give it back before reporting.
            let _ = self.lock().free(iova);
            return Err(e.into());
        }
        Ok(DmaMapping {
            space: self.clone(),
            region,
            iova,
        })
    }

    /// Ranges currently mapped through this space.
    pub fn mapped(&self) -> usize {
        self.lock().allocated()
    }
}

/// A DMA region mapped for the device at an IOVA; unmapped and its range freed on drop.
pub struct DmaMapping {
    space: IovaSpace,
    region: Arc<DmaRegion>,
    iova: u64,
}

impl std::fmt::Debug for DmaMapping {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DmaMapping")
            .field("iova", &format_args!("{:#x}", self.iova))
            .field("len", &self.region.len())
            .finish()
    }
}

impl DmaMapping {
    /// IOVA of the first byte.
    pub fn iova(&self) -> u64 {
        self.iova
    }

    /// The memory.
    pub fn region(&self) -> &Arc<DmaRegion> {
        &self.region
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.region.len()
    }

    /// Never true: regions are at least a page.
    pub fn is_empty(&self) -> bool {
        self.region.is_empty()
    }
}

impl Drop for DmaMapping {
    fn drop(&mut self) {
        // Unmap first so the device can no longer reach the memory, then free the IOVA range.
        // A failing unmap means the device still holds the range: leaking the IOVA range is
        // then the safe choice (it can never be handed to another region).
        if self.space.dev.dma_unmap(self.iova).is_ok() {
            let _ = self.space.lock().free(self.iova);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alloc_aligns_and_reuses_freed_ranges() {
        let mut a = IovaAllocator::new(0x1000, 0x10_0000);
        let x = a.alloc(0x100, 0x1000).unwrap();
        assert_eq!(x, 0x1000);
        let y = a.alloc(0x2000, 0x1_0000).unwrap();
        assert_eq!(y, 0x1_0000, "aligned past the first allocation");
        let z = a.alloc(0x10, 0x10).unwrap();
        assert_eq!(
            z, 0x1100,
            "first fit uses the gap left before the aligned range"
        );
        assert_eq!(a.allocated(), 3);
        assert_eq!(a.free(y), Ok(0x2000));
        assert_eq!(a.alloc(0x2000, 0x1_0000).unwrap(), 0x1_0000, "reused");
        assert_eq!(a.free(0x1234), Err(IovaError::NotAllocated(0x1234)));
        assert_eq!(a.free(x), Ok(0x100));
        assert_eq!(a.free(x), Err(IovaError::NotAllocated(x)), "double free");
    }

    #[test]
    fn free_coalesces_back_to_one_window() {
        let mut a = IovaAllocator::new(0, 0x4000);
        let r: Vec<u64> = (0..4).map(|_| a.alloc(0x1000, 0x1000).unwrap()).collect();
        assert_eq!(r, vec![0, 0x1000, 0x2000, 0x3000]);
        assert!(matches!(
            a.alloc(1, 1),
            Err(IovaError::Exhausted { len: 1, align: 1 })
        ));
        for &i in &[r[1], r[3], r[0], r[2]] {
            a.free(i).unwrap();
        }
        assert_eq!(a.free_bytes(), 0x4000);
        assert_eq!(a.free.len(), 1, "neighbours merged into one range");
        assert_eq!(a.alloc(0x4000, 0x4000), Ok(0));
    }

    #[test]
    fn rejects_bad_requests_and_never_wraps() {
        let mut a = IovaAllocator::new(u64::MAX - 0x1000, u64::MAX);
        assert_eq!(a.window().1, 0x1000);
        assert_eq!(a.alloc(0, 8), Err(IovaError::Empty));
        assert_eq!(a.alloc(8, 3), Err(IovaError::BadAlign(3)));
        assert!(matches!(
            a.alloc(0x800, 1 << 63),
            Err(IovaError::Exhausted { .. })
        ));
        assert!(a.alloc(0x1000, 1).is_ok());
        assert!(a.alloc(1, 1).is_err());
    }
}
