//! DMA memory: pinned, page-aligned host memory the card reads and writes.
//!
//! A [`DmaRegion`] is an anonymous mapping from memmap2, made of 2 MiB hugepages when the
//! system has them reserved and of 4 KiB pages otherwise (which one is reported once, on the
//! first allocation, and per region by [`DmaRegion::pages`]). The driver maps it for the
//! device with [`crate::Device::dma_map`]; from then on the device and the CPU share it.
//!
//! Because the device writes this memory behind the compiler's back, every access goes through
//! the methods here, which use volatile or explicitly fenced copies and check bounds. This is
//! the only place in the driver that touches DMA memory through raw pointers.

use memmap2::{MmapMut, MmapOptions};
use std::sync::atomic::{fence, Ordering};
use std::sync::Once;

/// The page size backing a region.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pages {
    /// 2 MiB hugepages (physically contiguous per page; fewer IOMMU entries).
    Huge2M,
    /// Ordinary 4 KiB pages.
    Small4K,
}

/// Size of a hugepage.
pub const HUGE_PAGE: usize = 2 << 20;
/// Size of an ordinary page.
pub const SMALL_PAGE: usize = 4 << 10;

/// Why DMA memory could not be had or used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DmaError {
    /// Zero-length region requested.
    #[error("a DMA region cannot be empty")]
    Empty,
    /// The system would not map the memory.
    #[error("cannot allocate {len} bytes of DMA memory: {why}")]
    Alloc {
        /// Bytes asked for.
        len: usize,
        /// The OS error.
        why: String,
    },
    /// An access outside the region.
    #[error("DMA access at {offset}+{len} is outside the {size}-byte region")]
    OutOfBounds {
        /// Offset of the access.
        offset: usize,
        /// Its length.
        len: usize,
        /// Region size.
        size: usize,
    },
}

/// A region of DMA memory. Shared (`Arc`) between its owner and the device that has it mapped.
#[derive(Debug)]
pub struct DmaRegion {
    map: MmapMut,
    ptr: *mut u8,
    len: usize,
    pages: Pages,
}

// SAFETY: the region is plain memory; all access goes through methods that copy with raw
// pointers and fences, exactly as a device does concurrently. No references into it escape.
unsafe impl Send for DmaRegion {}
// SAFETY: as above: concurrent use only through copying methods, never through references.
unsafe impl Sync for DmaRegion {}

static ANNOUNCE: Once = Once::new();

fn round_up(n: usize, to: usize) -> usize {
    n.div_ceil(to) * to
}

impl DmaRegion {
    /// Allocates at least `len` zeroed bytes (rounded up to whole pages), hugepages first.
    pub fn new(len: usize) -> Result<Self, DmaError> {
        if len == 0 {
            return Err(DmaError::Empty);
        }
        let huge_len = round_up(len, HUGE_PAGE);
        let (map, pages) = match MmapOptions::new()
            .len(huge_len)
            .huge(Some(21))
            .populate()
            .map_anon()
        {
            Ok(m) => (m, Pages::Huge2M),
            Err(_) => {
                let small = round_up(len, SMALL_PAGE);
                let m = MmapOptions::new()
                    .len(small)
                    .populate()
                    .map_anon()
                    .map_err(|e| DmaError::Alloc {
                        len: small,
                        why: e.to_string(),
                    })?;
                (m, Pages::Small4K)
            }
        };
        ANNOUNCE.call_once(|| {
            eprintln!(
                "oxnic-driver: DMA memory uses {}",
                match pages {
                    Pages::Huge2M => "2 MiB hugepages",
                    Pages::Small4K =>
                        "4 KiB pages (no hugepages reserved: echo N > /proc/sys/vm/nr_hugepages)",
                }
            );
        });
        let mut map = map;
        let ptr = map.as_mut_ptr();
        let len = map.len();
        Ok(DmaRegion {
            map,
            ptr,
            len,
            pages,
        })
    }

    /// Size in bytes (whole pages).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Never true: regions are at least one page.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The pages backing the region.
    pub fn pages(&self) -> Pages {
        self.pages
    }

    /// Host virtual address of the first byte, for VFIO_IOMMU_MAP_DMA.
    pub fn host_addr(&self) -> u64 {
        self.map.as_ptr() as u64
    }

    fn check(&self, offset: usize, len: usize) -> Result<(), DmaError> {
        match offset.checked_add(len) {
            Some(end) if end <= self.len => Ok(()),
            _ => Err(DmaError::OutOfBounds {
                offset,
                len,
                size: self.len,
            }),
        }
    }

    /// Copies `buf.len()` bytes at `offset` out of the region. Ordered after earlier reads
    /// (acquire), so a record read after its valid bit was seen is the record the device wrote.
    pub fn read(&self, offset: usize, buf: &mut [u8]) -> Result<(), DmaError> {
        self.check(offset, buf.len())?;
        fence(Ordering::Acquire);
        // SAFETY: `check` proved offset..offset+len lies inside the live mapping; `buf` is a
        // distinct Rust allocation, so the ranges cannot overlap.
        unsafe { std::ptr::copy_nonoverlapping(self.ptr.add(offset), buf.as_mut_ptr(), buf.len()) };
        Ok(())
    }

    /// Copies `data` into the region at `offset`. Ordered before later writes (release), so a
    /// doorbell written after it finds the data in memory.
    pub fn write(&self, offset: usize, data: &[u8]) -> Result<(), DmaError> {
        self.check(offset, data.len())?;
        // SAFETY: bounds checked above; `data` is a distinct allocation.
        unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), self.ptr.add(offset), data.len()) };
        fence(Ordering::Release);
        Ok(())
    }

    /// Reads one byte with a volatile load (polling a phase bit the device may be writing).
    pub fn read_u8_volatile(&self, offset: usize) -> Result<u8, DmaError> {
        self.check(offset, 1)?;
        // SAFETY: bounds checked; a byte load cannot tear.
        let v = unsafe { std::ptr::read_volatile(self.ptr.add(offset)) };
        Ok(v)
    }

    /// Fills `len` bytes at `offset` with `byte`.
    pub fn fill(&self, offset: usize, len: usize, byte: u8) -> Result<(), DmaError> {
        self.check(offset, len)?;
        // SAFETY: bounds checked.
        unsafe { std::ptr::write_bytes(self.ptr.add(offset), byte, len) };
        fence(Ordering::Release);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_is_zeroed_whole_pages_and_bounds_checked() {
        let r = DmaRegion::new(100).unwrap();
        assert!(r.len() >= SMALL_PAGE && r.len() % SMALL_PAGE == 0);
        let mut b = [0xffu8; 16];
        r.read(r.len() - 16, &mut b).unwrap();
        assert_eq!(b, [0; 16]);
        r.write(8, b"oxnic").unwrap();
        let mut back = [0u8; 5];
        r.read(8, &mut back).unwrap();
        assert_eq!(&back, b"oxnic");
        assert_eq!(r.read_u8_volatile(9).unwrap(), b'x');
        assert_eq!(
            r.write(r.len() - 2, b"abc"),
            Err(DmaError::OutOfBounds {
                offset: r.len() - 2,
                len: 3,
                size: r.len()
            })
        );
        assert!(r.read(usize::MAX, &mut back).is_err());
        assert_eq!(DmaRegion::new(0).unwrap_err(), DmaError::Empty);
    }
}
