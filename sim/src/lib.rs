//! # oxnic-sim — the co-simulation host around the verilated card
//!
//! - [`hostmem`]: host memory behind an IOMMU model. The card's DMA requests reach memory only
//!   through mapped IOVA ranges with the right permission; anything else is a recorded fault and
//!   touches nothing, as VFIO with VT-d behaves.

pub mod hostmem;
