//! The valid/ready stream interface every datapath block speaks, as a mirrored pair.
//!
//! A word moves when `valid` and `ready` are both high at a rising clock edge. `keep` has one bit
//! per data byte (byte 0 in bits 7:0 of `data`, enabled by bit 0 of `keep`); only the last word of
//! a frame may have a partial `keep`, and its enabled bytes are contiguous from byte 0. `last`
//! marks a frame's final word. `user` is the error bit: set on `last`, it marks the frame bad
//! (a packet FIFO drops such frames).
//!
//! Parameters:
//! - `W`: data width in bits (64 by default in the card; 512 must build);
//! - `K`: `keep` width, `W / 8` (rust-hdl cannot compute it from `W` on stable Rust).

use rust_hdl::prelude::*;

/// The sending side of a stream (a block's output port).
#[derive(LogicInterface, Clone, Debug, Default)]
#[join = "StreamSink"]
pub struct StreamSource<const W: usize, const K: usize> {
    /// Data word.
    pub data: Signal<Out, Bits<W>>,
    /// Byte enables, one bit per data byte.
    pub keep: Signal<Out, Bits<K>>,
    /// Last word of a frame.
    pub last: Signal<Out, Bit>,
    /// Error bit, meaningful with `last`.
    pub user: Signal<Out, Bit>,
    /// The word is valid.
    pub valid: Signal<Out, Bit>,
    /// The sink accepts a word this cycle.
    pub ready: Signal<In, Bit>,
}

/// The receiving side of a stream (a block's input port).
#[derive(LogicInterface, Clone, Debug, Default)]
#[join = "StreamSource"]
pub struct StreamSink<const W: usize, const K: usize> {
    /// Data word.
    pub data: Signal<In, Bits<W>>,
    /// Byte enables, one bit per data byte.
    pub keep: Signal<In, Bits<K>>,
    /// Last word of a frame.
    pub last: Signal<In, Bit>,
    /// Error bit, meaningful with `last`.
    pub user: Signal<In, Bit>,
    /// The word is valid.
    pub valid: Signal<In, Bit>,
    /// This block accepts a word this cycle.
    pub ready: Signal<Out, Bit>,
}

/// One word of a stream as test benches and reference models see it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Word {
    /// Data bytes, byte 0 first; only the first `len` are meaningful.
    pub bytes: Vec<u8>,
    /// Number of enabled bytes.
    pub len: usize,
    /// Last word of the frame.
    pub last: bool,
    /// Error bit.
    pub user: bool,
}

/// Splits a frame into stream words of `width_bytes` bytes (the last one partial), with the
/// error bit on the last word.
pub fn frame_to_words(frame: &[u8], width_bytes: usize, error: bool) -> Vec<Word> {
    let n = frame.len().div_ceil(width_bytes).max(1);
    (0..n)
        .map(|i| {
            let chunk = frame.get(i * width_bytes..).unwrap_or(&[]);
            let chunk = &chunk[..chunk.len().min(width_bytes)];
            let mut bytes = chunk.to_vec();
            bytes.resize(width_bytes, 0);
            Word {
                bytes,
                len: chunk.len(),
                last: i + 1 == n,
                user: error && i + 1 == n,
            }
        })
        .collect()
}

/// `keep` mask for `len` enabled bytes.
pub fn keep_mask(len: usize) -> u128 {
    if len >= 128 {
        u128::MAX
    } else {
        (1u128 << len) - 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A wire-through: the smallest block that has both sides of the pair as ports.
    #[derive(LogicBlock, Default)]
    struct Passthrough {
        clock: Signal<In, Clock>,
        sink: StreamSink<64, 8>,
        source: StreamSource<64, 8>,
    }

    impl Logic for Passthrough {
        #[hdl_gen]
        fn update(&mut self) {
            self.source.data.next = self.sink.data.val();
            self.source.keep.next = self.sink.keep.val();
            self.source.last.next = self.sink.last.val();
            self.source.user.next = self.sink.user.val();
            self.source.valid.next = self.sink.valid.val();
            self.sink.ready.next = self.source.ready.val();
        }
    }

    #[test]
    fn words_split_and_mask() {
        let w = frame_to_words(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 8, true);
        assert_eq!(w.len(), 2);
        assert_eq!((w[0].len, w[0].last, w[0].user), (8, false, false));
        assert_eq!((w[1].len, w[1].last, w[1].user), (2, true, true));
        assert_eq!(&w[1].bytes[..2], &[9, 10]);
        assert_eq!(keep_mask(3), 0b111);
        assert_eq!(keep_mask(64), u64::MAX as u128);
        assert_eq!(frame_to_words(&[], 8, false).len(), 1);
    }

    #[test]
    fn interface_links_and_generates_verilog() {
        let mut p = Passthrough::default();
        p.connect_all();
        let v = crate::verilog::generate_named(&p, "oxnic_stream_pass").unwrap();
        assert!(v.contains("sink$data"), "{v}");
        assert!(v.contains("source$ready"), "{v}");
    }
}
