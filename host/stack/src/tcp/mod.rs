//! TCP (RFC 9293) on the sans-IO core.
//!
//! - [`seq`]: sequence-number arithmetic modulo 2³².
//! - [`rtt`]: the RFC 6298 retransmission timer estimator.

pub mod rtt;
pub mod seq;
