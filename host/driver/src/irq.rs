//! Interrupt vectors: delivery through the device (MSI-X eventfds on VFIO) and the card's
//! per-vector moderation registers.
//!
//! Completion queues are bound to a vector when they are created ([`crate::cq`]); this object
//! enables the vector's delivery, sets its moderation and waits on it.
//!
//! Lifecycle: [`open`](IrqVector::open) (enables delivery) → [`set_coalesce`](IrqVector::set_coalesce)
//! / [`wait`](IrqVector::wait) → [`mask`](IrqVector::mask) / drop.

use crate::device::{Device, DeviceError};
use oxnic_abi::regs::irq;
use std::sync::Arc;
use std::time::Duration;

/// Longest moderation interval accepted, in microseconds (one second).
pub const MAX_COALESCE_USECS: u32 = 1_000_000;
/// Most completions a vector may wait for before raising.
pub const MAX_COALESCE_FRAMES: u32 = 65_535;

/// Interrupt moderation of one vector (ethtool's `rx-usecs` / `rx-frames`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Coalesce {
    /// Raise at most once per this many microseconds (0: no time limit).
    pub usecs: u32,
    /// Raise only after this many completions (0 or 1: at once).
    pub frames: u32,
}

/// Why an interrupt vector operation failed.
#[derive(Debug, thiserror::Error)]
pub enum IrqError {
    /// The vector does not exist on the card or the device.
    #[error("interrupt vector {vector} does not exist (the card has {count})")]
    NoSuchVector {
        /// Requested vector.
        vector: u32,
        /// Vectors available.
        count: u32,
    },
    /// Moderation values out of range.
    #[error("coalescing {usecs} us / {frames} frames is out of range (at most {MAX_COALESCE_USECS} us, {MAX_COALESCE_FRAMES} frames)")]
    BadCoalesce {
        /// Requested interval.
        usecs: u32,
        /// Requested frame count.
        frames: u32,
    },
    /// The device refused.
    #[error(transparent)]
    Device(#[from] DeviceError),
}

/// One interrupt vector.
pub struct IrqVector {
    dev: Arc<dyn Device>,
    vector: u32,
}

impl std::fmt::Debug for IrqVector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IrqVector")
            .field("vector", &self.vector)
            .finish()
    }
}

impl IrqVector {
    /// Enables delivery of `vector`; `card_vectors` is the card's `NUM_VECTORS`.
    pub fn open(dev: Arc<dyn Device>, vector: u32, card_vectors: u32) -> Result<Self, IrqError> {
        let count = card_vectors.min(dev.num_vectors()).min(irq::MAX_ENTRIES);
        if vector >= count {
            return Err(IrqError::NoSuchVector { vector, count });
        }
        dev.irq_enable(vector)?;
        dev.write32(irq::reg(vector, irq::entry::MASK), 0);
        Ok(IrqVector { dev, vector })
    }

    /// The vector number.
    pub fn vector(&self) -> u32 {
        self.vector
    }

    /// Sets the vector's moderation.
    pub fn set_coalesce(&self, c: Coalesce) -> Result<(), IrqError> {
        set_coalesce(&*self.dev, self.vector, c)
    }

    /// The vector's moderation as the card holds it.
    pub fn coalesce(&self) -> Coalesce {
        coalesce(&*self.dev, self.vector)
    }

    /// Masks (true) or unmasks the vector on the card.
    pub fn mask(&self, masked: bool) {
        self.dev
            .write32(irq::reg(self.vector, irq::entry::MASK), u32::from(masked));
    }

    /// Interrupts the card has raised on this vector (wrapping).
    pub fn count(&self) -> u32 {
        self.dev.read32(irq::reg(self.vector, irq::entry::COUNT))
    }

    /// Waits up to `timeout` (device time) for the vector; true if it fired.
    pub fn wait(&self, timeout: Duration) -> Result<bool, IrqError> {
        Ok(self.dev.irq_wait(1 << self.vector, timeout)? != 0)
    }
}

/// Writes the moderation registers of `vector` after checking the values.
pub(crate) fn set_coalesce(dev: &dyn Device, vector: u32, c: Coalesce) -> Result<(), IrqError> {
    if c.usecs > MAX_COALESCE_USECS || c.frames > MAX_COALESCE_FRAMES {
        return Err(IrqError::BadCoalesce {
            usecs: c.usecs,
            frames: c.frames,
        });
    }
    dev.write32(irq::reg(vector, irq::entry::MOD_USECS), c.usecs);
    dev.write32(irq::reg(vector, irq::entry::MOD_FRAMES), c.frames);
    Ok(())
}

/// Reads the moderation registers of `vector`.
pub(crate) fn coalesce(dev: &dyn Device, vector: u32) -> Coalesce {
    Coalesce {
        usecs: dev.read32(irq::reg(vector, irq::entry::MOD_USECS)),
        frames: dev.read32(irq::reg(vector, irq::entry::MOD_FRAMES)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mock::{MockCard, VECTORS};

    #[test]
    fn moderation_round_trips_and_is_checked() {
        let card = Arc::new(MockCard::new());
        let v = IrqVector::open(card.clone(), 3, VECTORS).unwrap();
        let c = Coalesce {
            usecs: 50,
            frames: 16,
        };
        v.set_coalesce(c).unwrap();
        assert_eq!(v.coalesce(), c);
        assert!(matches!(
            v.set_coalesce(Coalesce {
                usecs: 2_000_000,
                frames: 0
            }),
            Err(IrqError::BadCoalesce { .. })
        ));
        assert_eq!(v.coalesce(), c, "a refused setting changes nothing");
        assert!(matches!(
            IrqVector::open(card.clone(), VECTORS, VECTORS),
            Err(IrqError::NoSuchVector { .. })
        ));
        assert!(!v.wait(Duration::from_micros(10)).unwrap());
    }
}
