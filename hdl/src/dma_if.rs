//! The card's DMA ports: a read port and a write port, as mirrored interface pairs.
//!
//! Both carry *packed* data: byte 0 of a request is in bits 7:0 of its first word whatever the
//! address alignment, and only a request's last word may be partial (`keep` contiguous from
//! byte 0). The host side — the simulator here, a board wrapper around the vendor's PCIe IP on
//! hardware — splits requests into TLPs of the max payload / max read request size and realigns
//! completions. Keeping alignment out of the card keeps every engine a simple word streamer.
//!
//! Reads: a request (`rd$req_*`: address, length 1..=4096 bytes, tag) is accepted on
//! `req_valid & req_ready`; its data comes back on `rd$rsp_*` in order within the request, tagged,
//! `rsp_last` on its final word. Responses come back in the order the requests were taken, each
//! whole: PCIe may return the completions of different tags out of order, and the host side
//! (the board wrapper's completion buffer, as a PCIe DMA engine has one; the simulator's host
//! answers in order) puts them back in request order, so the card's engines can stream data
//! as it arrives without a reorder buffer each. The tag carries the requester's own meaning
//! (which engine, which queue, the last piece of a frame). The number of requests in flight is
//! bounded by the host (it holds `req_ready` low). A request the IOMMU refuses comes back as
//! one word with `rsp_error` and `rsp_last` set and zero data.
//!
//! Writes: a request is a run of words on `wr$*`; `wr$addr` is the byte address of the request's
//! first byte and is read with its first word (it is ignored on the others); `last` ends the
//! request.
//!
//! Words are 128 bits ([`DMA_BYTES`]) on both ports, twice the 64-bit datapath, as a PCIe DMA
//! engine's are wider than the MAC it feeds: a frame's bytes take half the port's cycles, which
//! leaves room for the descriptors and completions that travel beside them (32 bytes each per
//! TX frame, 16 + 32 per RX frame), so neither port is what holds the datapath below line
//! rate. Writes are posted and applied in order, so a completion written after a frame's data
//! lands after it, as PCIe orders posted writes. A write the IOMMU refuses is dropped whole and
//! recorded by the host.

use rust_hdl::prelude::*;

/// Bytes in a DMA word, both ports (`data` is `8 * DMA_BYTES` bits, `keep` `DMA_BYTES` bits).
pub const DMA_BYTES: usize = 16;

/// The card's side of the DMA read port.
#[derive(LogicInterface, Clone, Debug, Default)]
#[join = "DmaReadHost"]
pub struct DmaReadMaster {
    /// Byte address (IOVA) of the first byte to read.
    pub req_addr: Signal<Out, Bits<64>>,
    /// Bytes to read, 1..=4096.
    pub req_len: Signal<Out, Bits<16>>,
    /// Tag the response words carry.
    pub req_tag: Signal<Out, Bits<8>>,
    /// A request is offered.
    pub req_valid: Signal<Out, Bit>,
    /// The host takes the request this cycle.
    pub req_ready: Signal<In, Bit>,
    /// Response word, packed from the request's first byte.
    pub rsp_data: Signal<In, Bits<128>>,
    /// Bytes of `rsp_data` that belong to the request.
    pub rsp_keep: Signal<In, Bits<16>>,
    /// Tag of the request this word answers.
    pub rsp_tag: Signal<In, Bits<8>>,
    /// Last word of the request's response.
    pub rsp_last: Signal<In, Bit>,
    /// The request was refused (IOMMU fault); the word carries no data.
    pub rsp_error: Signal<In, Bit>,
    /// A response word is offered.
    pub rsp_valid: Signal<In, Bit>,
    /// The card takes the response word.
    pub rsp_ready: Signal<Out, Bit>,
}

/// The host's side of the DMA read port.
#[derive(LogicInterface, Clone, Debug, Default)]
#[join = "DmaReadMaster"]
pub struct DmaReadHost {
    /// Byte address (IOVA) of the first byte to read.
    pub req_addr: Signal<In, Bits<64>>,
    /// Bytes to read, 1..=4096.
    pub req_len: Signal<In, Bits<16>>,
    /// Tag the response words carry.
    pub req_tag: Signal<In, Bits<8>>,
    /// A request is offered.
    pub req_valid: Signal<In, Bit>,
    /// The host takes the request this cycle.
    pub req_ready: Signal<Out, Bit>,
    /// Response word, packed from the request's first byte.
    pub rsp_data: Signal<Out, Bits<128>>,
    /// Bytes of `rsp_data` that belong to the request.
    pub rsp_keep: Signal<Out, Bits<16>>,
    /// Tag of the request this word answers.
    pub rsp_tag: Signal<Out, Bits<8>>,
    /// Last word of the request's response.
    pub rsp_last: Signal<Out, Bit>,
    /// The request was refused (IOMMU fault); the word carries no data.
    pub rsp_error: Signal<Out, Bit>,
    /// A response word is offered.
    pub rsp_valid: Signal<Out, Bit>,
    /// The card takes the response word.
    pub rsp_ready: Signal<In, Bit>,
}

/// The card's side of the DMA write port.
#[derive(LogicInterface, Clone, Debug, Default)]
#[join = "DmaWriteHost"]
pub struct DmaWriteMaster {
    /// Byte address of the request's first byte (read with its first word).
    pub addr: Signal<Out, Bits<64>>,
    /// Data word, packed from the request's first byte.
    pub data: Signal<Out, Bits<128>>,
    /// Bytes of `data` to write.
    pub keep: Signal<Out, Bits<16>>,
    /// Last word of the request.
    pub last: Signal<Out, Bit>,
    /// A word is offered.
    pub valid: Signal<Out, Bit>,
    /// The host takes the word.
    pub ready: Signal<In, Bit>,
}

/// The host's side of the DMA write port.
#[derive(LogicInterface, Clone, Debug, Default)]
#[join = "DmaWriteMaster"]
pub struct DmaWriteHost {
    /// Byte address of the request's first byte (read with its first word).
    pub addr: Signal<In, Bits<64>>,
    /// Data word, packed from the request's first byte.
    pub data: Signal<In, Bits<128>>,
    /// Bytes of `data` to write.
    pub keep: Signal<In, Bits<16>>,
    /// Last word of the request.
    pub last: Signal<In, Bit>,
    /// A word is offered.
    pub valid: Signal<In, Bit>,
    /// The host takes the word.
    pub ready: Signal<Out, Bit>,
}
