//! # oxnic-abi — the one hardware/software contract
//!
//! Everything the card (`oxnic-hdl`), the driver (`oxnic-driver`), the simulator (`oxnic-sim`) and
//! the documentation must agree on is written here, once:
//!
//! - [`regs`]: BAR0 as a chain of self-describing register blocks. Each block starts with a header
//!   (type, version, offset of the next block, length) so the driver discovers features by walking
//!   the chain instead of hard-coding addresses. The register definitions are data
//!   ([`regs::BlockDef`]) from which the HDL lays out its register file and from which
//!   `docs/registers.md` is generated ([`doc::write_register_map`]).
//! - [`desc`]: TX descriptor, RX descriptor and completion records, each as a checked zero-copy
//!   view over bytes plus a plain value type. All multi-byte fields are little-endian, as on PCIe.
//! - [`features`]: feature bits and capability limits.
//! - [`toeplitz`] and [`checksum`]: reference models of the RSS hash and the Internet checksum
//!   that the HDL blocks, the simulator and the host stack test against.
//!
//! The crate is `no_std`, has no dependencies and contains no `unsafe`.
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[cfg(test)]
extern crate std;

pub mod checksum;
pub mod desc;
pub mod doc;
pub mod features;
pub mod regs;
pub mod toeplitz;

/// Errors from the checked views and the register-chain walker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// The byte buffer is shorter than the record it should hold.
    Truncated {
        /// Bytes the record needs.
        needed: usize,
        /// Bytes the buffer has.
        got: usize,
    },
    /// A field holds a value the format does not allow.
    BadField {
        /// Name of the field.
        field: &'static str,
        /// The raw value found.
        value: u32,
    },
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Error::Truncated { needed, got } => {
                write!(f, "record truncated: need {needed} bytes, got {got}")
            }
            Error::BadField { field, value } => write!(f, "bad value {value:#x} in field {field}"),
        }
    }
}
