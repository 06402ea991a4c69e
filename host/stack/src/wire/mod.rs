//! Wire formats: parse untrusted bytes (with nom) into plain values, emit values into buffers.

pub mod ethernet;

/// Why bytes could not be parsed or a value could not be emitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The input ended before the header did.
    #[error("truncated {what}: need {needed} bytes, got {got}")]
    Truncated {
        /// Which header.
        what: &'static str,
        /// Bytes needed.
        needed: usize,
        /// Bytes available.
        got: usize,
    },
    /// The output buffer is too small for the value.
    #[error("buffer too small: need {needed} bytes, have {have}")]
    BufferTooSmall {
        /// Bytes needed.
        needed: usize,
        /// Bytes available.
        have: usize,
    },
}
