//! Host memory and the IOMMU model.
//!
//! The driver maps regions (`map`) the way VFIO's `VFIO_IOMMU_MAP_DMA` does; the card's DMA reads
//! and writes (`dma_read`, `dma_write`) are translated through those mappings. A request that is
//! not wholly inside one mapping with the needed permission is refused: nothing is read or
//! written, and the fault is recorded for the test (and the card's DMA_FAULTS counter) to see.
//!
//! A mapping is backed either by bytes this model owns ([`HostMemory::map`], for block tests
//! that poke rings directly) or by the driver's own DMA memory ([`HostMemory::map_region`]: the
//! `oxnic_driver::DmaRegion` the driver allocated), so the card reads and writes exactly the
//! memory the driver uses, as on a real machine.

use oxnic_driver::DmaRegion;
use std::collections::BTreeMap;
use std::sync::Arc;

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
enum Backing {
    Owned(Vec<u8>),
    Shared(Arc<DmaRegion>),
}

#[derive(Debug)]
struct Region {
    perm: Perm,
    backing: Backing,
}

impl Region {
    fn len(&self) -> usize {
        match &self.backing {
            Backing::Owned(b) => b.len(),
            Backing::Shared(r) => r.len(),
        }
    }
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

    fn check_free(&self, iova: u64, len: u64) -> Result<(), MapError> {
        let end = iova
            .checked_add(len)
            .filter(|_| len > 0)
            .ok_or(MapError::BadRange { iova, len })?;
        let before = self.regions.range(..end).next_back();
        if let Some((&start, r)) = before {
            if start + r.len() as u64 > iova {
                return Err(MapError::Overlap { iova, len });
            }
        }
        Ok(())
    }

    /// Ranges currently mapped (what a teardown must bring back to zero).
    pub fn mappings(&self) -> usize {
        self.regions.len()
    }

    /// Maps `len` zeroed bytes, owned by this model, at `iova` with permission `perm`.
    pub fn map(&mut self, iova: u64, len: u64, perm: Perm) -> Result<(), MapError> {
        self.check_free(iova, len)?;
        let size = usize::try_from(len).map_err(|_| MapError::BadRange { iova, len })?;
        self.regions.insert(
            iova,
            Region {
                perm,
                backing: Backing::Owned(vec![0; size]),
            },
        );
        Ok(())
    }

    /// Maps the driver's DMA memory `region` at `iova`: the card reads and writes it directly.
    pub fn map_region(
        &mut self,
        iova: u64,
        region: Arc<DmaRegion>,
        perm: Perm,
    ) -> Result<(), MapError> {
        self.check_free(iova, region.len() as u64)?;
        self.regions.insert(
            iova,
            Region {
                perm,
                backing: Backing::Shared(region),
            },
        );
        Ok(())
    }

    /// Removes the mapping that starts at `iova`, returning its bytes (a copy, for memory the
    /// driver owns).
    pub fn unmap(&mut self, iova: u64) -> Result<Vec<u8>, MapError> {
        let r = self
            .regions
            .remove(&iova)
            .ok_or(MapError::NotMapped(iova))?;
        Ok(match r.backing {
            Backing::Owned(b) => b,
            Backing::Shared(region) => {
                let mut b = vec![0; region.len()];
                // In bounds by construction: the whole region.
                region
                    .read(0, &mut b)
                    .map_err(|_| MapError::NotMapped(iova))?;
                b
            }
        })
    }

    fn find(&self, iova: u64, len: usize) -> Option<(u64, &Region)> {
        let (&start, r) = self.regions.range(..=iova).next_back()?;
        let off = iova - start;
        let end = off.checked_add(len as u64)?;
        (end <= r.len() as u64).then_some((start, r))
    }

    /// Host-side view of memory this model owns (what the driver sees through its own
    /// mapping); `None` for unmapped ranges and for the driver's own regions.
    pub fn host_slice(&self, iova: u64, len: usize) -> Option<&[u8]> {
        let (start, r) = self.find(iova, len)?;
        let off = (iova - start) as usize;
        match &r.backing {
            Backing::Owned(b) => b.get(off..off + len),
            Backing::Shared(_) => None,
        }
    }

    /// Mutable host-side view of memory this model owns.
    pub fn host_slice_mut(&mut self, iova: u64, len: usize) -> Option<&mut [u8]> {
        let (start, _) = self.find(iova, len)?;
        let r = self.regions.get_mut(&start)?;
        let off = (iova - start) as usize;
        match &mut r.backing {
            Backing::Owned(b) => b.get_mut(off..off + len),
            Backing::Shared(_) => None,
        }
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
                match &r.backing {
                    Backing::Owned(b) => buf.copy_from_slice(&b[off..off + buf.len()]),
                    Backing::Shared(region) => {
                        // In bounds: `find` checked the range against the region's length.
                        if region.read(off, buf).is_err() {
                            self.faults.push(fault);
                            return Err(fault);
                        }
                    }
                }
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
        let start = match self.find(iova, data.len()) {
            Some((start, r)) if r.perm.write => start,
            _ => {
                self.faults.push(fault);
                return Err(fault);
            }
        };
        let off = (iova - start) as usize;
        let written = match self.regions.get_mut(&start).map(|r| &mut r.backing) {
            Some(Backing::Owned(b)) => {
                b[off..off + data.len()].copy_from_slice(data);
                true
            }
            Some(Backing::Shared(region)) => region.write(off, data).is_ok(),
            None => false,
        };
        if written {
            Ok(())
        } else {
            self.faults.push(fault);
            Err(fault)
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
    fn driver_memory_is_what_the_card_reads_and_writes() {
        let mut m = HostMemory::new();
        let region = Arc::new(DmaRegion::new(8192).unwrap());
        m.map_region(0x10_0000, region.clone(), Perm::RW).unwrap();
        region.write(100, b"descriptor").unwrap();
        let mut b = [0u8; 10];
        m.dma_read(0x10_0000 + 100, &mut b).unwrap();
        assert_eq!(&b, b"descriptor");
        m.dma_write(0x10_0000 + 200, b"completion").unwrap();
        region.read(200, &mut b).unwrap();
        assert_eq!(&b, b"completion");
        // Past the region's end: a fault, nothing touched.
        let end = 0x10_0000 + region.len() as u64;
        assert!(m.dma_write(end - 4, &[1; 8]).is_err());
        assert_eq!(m.faults().len(), 1);
        assert_eq!(m.unmap(0x10_0000).unwrap()[200..210], *b"completion");
        assert!(m.dma_read(0x10_0000, &mut b).is_err());
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
        let region = Arc::new(DmaRegion::new(4096).unwrap());
        assert!(matches!(
            m.map_region(0x0c00, region.clone(), Perm::RW),
            Err(MapError::Overlap { .. })
        ));
        let mut b = [0u8; 1];
        assert!(m.dma_read(0x1000, &mut b).is_err());
    }
}
