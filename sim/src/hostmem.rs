//! Host memory and the IOMMU model.
//!
//! The driver maps regions (`map`) the way VFIO's `VFIO_IOMMU_MAP_DMA` does; the card's DMA reads
//! and writes (`dma_read`, `dma_write`) are translated through those mappings. A request that is
//! not wholly inside one mapping with the needed permission is refused: nothing is read or
//! written, and the fault is recorded for the test (and the card's DMA_FAULTS counter) to see.

use std::collections::BTreeMap;

/// Permissions of a mapping, from the device's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Perm {
    /// The device may read (TX buffers, descriptor rings).
    pub read: bool,
    /// The device may write (RX buffers, completion rings).
    pub write: bool,
}

impl Perm {
    /// Read and write.
    pub const RW: Perm = Perm {
        read: true,
        write: true,
    };
    /// Device reads only.
    pub const RO: Perm = Perm {
        read: true,
        write: false,
    };
    /// Device writes only.
    pub const WO: Perm = Perm {
        read: false,
        write: true,
    };
}

/// A DMA request the IOMMU refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fault {
    /// First IOVA of the request.
    pub iova: u64,
    /// Length of the request.
    pub len: usize,
    /// True for a device write.
    pub write: bool,
}

/// Errors from mapping and unmapping.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MapError {
    /// The new range overlaps an existing mapping.
    #[error("IOVA range {iova:#x}+{len:#x} overlaps an existing mapping")]
    Overlap {
        /// Start of the new range.
        iova: u64,
        /// Its length.
        len: u64,
    },
    /// Zero length, or the range wraps past the end of the address space.
    #[error("IOVA range {iova:#x}+{len:#x} is empty or wraps")]
    BadRange {
        /// Start.
        iova: u64,
        /// Length.
        len: u64,
    },
    /// No mapping starts at this IOVA.
    #[error("no mapping at IOVA {0:#x}")]
    NotMapped(u64),
}

#[derive(Debug)]
struct Region {
    perm: Perm,
    bytes: Vec<u8>,
}

/// Host memory as the card sees it through the IOMMU.
#[derive(Debug, Default)]
pub struct HostMemory {
    regions: BTreeMap<u64, Region>,
    faults: Vec<Fault>,
}

impl HostMemory {
    /// Empty memory: every DMA faults.
    pub fn new() -> Self {
        Self::default()
    }

    /// Maps `len` zeroed bytes at `iova` with permission `perm`.
    pub fn map(&mut self, iova: u64, len: u64, perm: Perm) -> Result<(), MapError> {
        let end = iova
            .checked_add(len)
            .filter(|_| len > 0)
            .ok_or(MapError::BadRange { iova, len })?;
        let before = self.regions.range(..end).next_back();
        if let Some((&start, r)) = before {
            if start + r.bytes.len() as u64 > iova {
                return Err(MapError::Overlap { iova, len });
            }
        }
        let size = usize::try_from(len).map_err(|_| MapError::BadRange { iova, len })?;
        self.regions.insert(
            iova,
            Region {
                perm,
                bytes: vec![0; size],
            },
        );
        Ok(())
    }

    /// Removes the mapping that starts at `iova`, returning its bytes.
    pub fn unmap(&mut self, iova: u64) -> Result<Vec<u8>, MapError> {
        self.regions
            .remove(&iova)
            .map(|r| r.bytes)
            .ok_or(MapError::NotMapped(iova))
    }

    fn find(&self, iova: u64, len: usize) -> Option<(u64, &Region)> {
        let (&start, r) = self.regions.range(..=iova).next_back()?;
        let off = iova - start;
        let end = off.checked_add(len as u64)?;
        (end <= r.bytes.len() as u64).then_some((start, r))
    }

    /// Host-side view of mapped memory (what the driver sees through its own mapping).
    pub fn host_slice(&self, iova: u64, len: usize) -> Option<&[u8]> {
        let (start, r) = self.find(iova, len)?;
        let off = (iova - start) as usize;
        r.bytes.get(off..off + len)
    }

    /// Mutable host-side view of mapped memory.
    pub fn host_slice_mut(&mut self, iova: u64, len: usize) -> Option<&mut [u8]> {
        let (start, _) = self.find(iova, len)?;
        let r = self.regions.get_mut(&start)?;
        let off = (iova - start) as usize;
        r.bytes.get_mut(off..off + len)
    }

    /// A device read of `buf.len()` bytes at `iova`. On a fault `buf` is left untouched.
    pub fn dma_read(&mut self, iova: u64, buf: &mut [u8]) -> Result<(), Fault> {
        let fault = Fault {
            iova,
            len: buf.len(),
            write: false,
        };
        match self.find(iova, buf.len()) {
            Some((start, r)) if r.perm.read => {
                let off = (iova - start) as usize;
                buf.copy_from_slice(&r.bytes[off..off + buf.len()]);
                Ok(())
            }
            _ => {
                self.faults.push(fault);
                Err(fault)
            }
        }
    }

    /// A device write of `data` at `iova`. On a fault nothing is written.
    pub fn dma_write(&mut self, iova: u64, data: &[u8]) -> Result<(), Fault> {
        let fault = Fault {
            iova,
            len: data.len(),
            write: true,
        };
        let ok = matches!(self.find(iova, data.len()), Some((_, r)) if r.perm.write);
        if !ok {
            self.faults.push(fault);
            return Err(fault);
        }
        match self.host_slice_mut(iova, data.len()) {
            Some(dst) => {
                dst.copy_from_slice(data);
                Ok(())
            }
            None => {
                self.faults.push(fault);
                Err(fault)
            }
        }
    }

    /// Faults recorded so far, oldest first.
    pub fn faults(&self) -> &[Fault] {
        &self.faults
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapped_dma_round_trip() {
        let mut m = HostMemory::new();
        m.map(0x1000, 0x1000, Perm::RW).unwrap();
        m.dma_write(0x1ff0, &[1, 2, 3, 4]).unwrap();
        let mut b = [0u8; 4];
        m.dma_read(0x1ff0, &mut b).unwrap();
        assert_eq!(b, [1, 2, 3, 4]);
        assert_eq!(m.host_slice(0x1ff0, 4).unwrap(), &[1, 2, 3, 4]);
        assert!(m.faults().is_empty());
    }

    #[test]
    fn unmapped_and_straddling_requests_fault_and_touch_nothing() {
        let mut m = HostMemory::new();
        m.map(0x1000, 0x100, Perm::RW).unwrap();
        m.map(0x1100, 0x100, Perm::RW).unwrap();
        // crosses from one mapping into the next: refused even though both are mapped
        assert!(m.dma_write(0x10fe, &[9; 4]).is_err());
        assert!(m.host_slice(0x10fc, 8).is_none());
        assert_eq!(m.host_slice(0x10f8, 8).unwrap(), &[0; 8]);
        assert_eq!(m.host_slice(0x1100, 4).unwrap(), &[0; 4]);
        let mut b = [7u8; 4];
        assert!(m.dma_read(0x9000, &mut b).is_err());
        assert_eq!(b, [7; 4]);
        assert_eq!(
            m.faults(),
            &[
                Fault {
                    iova: 0x10fe,
                    len: 4,
                    write: true
                },
                Fault {
                    iova: 0x9000,
                    len: 4,
                    write: false
                }
            ]
        );
    }

    #[test]
    fn permissions_are_enforced() {
        let mut m = HostMemory::new();
        m.map(0, 64, Perm::RO).unwrap();
        m.map(64, 64, Perm::WO).unwrap();
        assert!(m.dma_write(0, &[1]).is_err());
        assert_eq!(m.host_slice(0, 1).unwrap(), &[0]);
        let mut b = [0u8; 1];
        assert!(m.dma_read(64, &mut b).is_err());
        assert!(m.dma_read(0, &mut b).is_ok());
        assert!(m.dma_write(64, &[1]).is_ok());
        assert_eq!(m.faults().len(), 2);
    }

    #[test]
    fn map_rejects_overlap_and_bad_ranges() {
        let mut m = HostMemory::new();
        m.map(0x1000, 0x1000, Perm::RW).unwrap();
        assert!(matches!(
            m.map(0x1800, 0x1000, Perm::RW),
            Err(MapError::Overlap { .. })
        ));
        assert!(matches!(
            m.map(0x0800, 0x1000, Perm::RW),
            Err(MapError::Overlap { .. })
        ));
        assert!(m.map(0x0800, 0x800, Perm::RW).is_ok());
        assert!(matches!(
            m.map(u64::MAX, 2, Perm::RW),
            Err(MapError::BadRange { .. })
        ));
        assert!(matches!(
            m.map(5, 0, Perm::RW),
            Err(MapError::BadRange { .. })
        ));
        assert_eq!(m.unmap(0x1000).unwrap().len(), 0x1000);
        assert_eq!(m.unmap(0x1000), Err(MapError::NotMapped(0x1000)));
        let mut b = [0u8; 1];
        assert!(m.dma_read(0x1000, &mut b).is_err());
    }
}
