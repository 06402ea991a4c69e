//! BAR0 register access: the narrow door every backend (VFIO, simulator, test image) implements.

use oxnic_abi::regs::Access;

/// 32-bit register access to BAR0 at byte offsets.
pub trait Bar {
    /// Size of BAR0 in bytes.
    fn size(&self) -> u32;
    /// Reads the 32-bit register at `offset`.
    fn read32(&self, offset: u32) -> u32;
    /// Writes the 32-bit register at `offset`.
    fn write32(&self, offset: u32, value: u32);

    /// Reads a 64-bit counter: low word first (which latches the high word), then the high word.
    fn read_ctr64(&self, offset: u32) -> u64 {
        let lo = self.read32(offset);
        let hi = self.read32(offset + 4);
        (u64::from(hi) << 32) | u64::from(lo)
    }
}

/// Width in bytes of a register of kind `access` (re-exported for callers laying out reads).
pub fn reg_bytes(access: Access) -> u32 {
    access.bytes()
}
