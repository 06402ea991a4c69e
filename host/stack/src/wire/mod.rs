//! Wire formats: parse untrusted bytes (with nom) into plain values, emit values into buffers.

pub mod arp;
pub mod checksum;
pub mod ethernet;
pub mod icmpv4;
pub mod igmp;
pub mod ipv4;
pub mod tcp;
pub mod udp;
pub mod vlan;

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
    /// A version field names a version this parser does not handle (IPv4 `version != 4`).
    #[error("{what}: unsupported version {got}")]
    BadVersion {
        /// Which header.
        what: &'static str,
        /// The version found.
        got: u8,
    },
    /// A header-length field is below the format's minimum (IPv4 IHL < 5, TCP data offset < 5)
    /// or points past the end of the packet.
    #[error("{what}: bad header length {len}")]
    BadHeaderLen {
        /// Which header.
        what: &'static str,
        /// The header length in bytes that the field claims.
        len: usize,
    },
    /// A length field disagrees with the packet: shorter than the header, or longer than the
    /// bytes that arrived.
    #[error("{what}: length field says {claimed} bytes, packet has {got}")]
    BadLength {
        /// Which header.
        what: &'static str,
        /// What the length field says.
        claimed: usize,
        /// Bytes available.
        got: usize,
    },
    /// The checksum does not verify.
    #[error("{what}: bad checksum")]
    BadChecksum {
        /// Which header.
        what: &'static str,
    },
    /// An option has a length below 2, runs past the option area, or has the wrong length for
    /// its kind (IPv4; TCP options never fail a parse, as in Linux).
    #[error("{what}: malformed option kind {kind}")]
    BadOption {
        /// Which header.
        what: &'static str,
        /// The option kind byte.
        kind: u8,
    },
    /// A field holds a value this parser does not handle (ARP hardware type, ICMP type, ...).
    #[error("{what}: unsupported value {value}")]
    Unsupported {
        /// Which field.
        what: &'static str,
        /// The value found.
        value: u32,
    },
    /// A value cannot be written in the format (VLAN id > 4095, a fragment offset that is not
    /// a multiple of 8, a payload over 65535 bytes, options that do not fit in 40 bytes, ...).
    #[error("{what} cannot be represented")]
    Unrepresentable {
        /// Which field.
        what: &'static str,
    },
}
