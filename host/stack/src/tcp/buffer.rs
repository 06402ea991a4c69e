//! Byte ring buffers for a connection's send queue (bytes from `snd_una` on: unsent and
//! unacknowledged) and receive queue (in-order bytes the application has not read).
//! Storage is allocated once per size and grows only when autotuning asks for more.

/// A growable byte ring.
#[derive(Debug, Default)]
pub struct RingBuf {
    buf: Vec<u8>,
    head: usize,
    len: usize,
    limit: usize,
}

impl RingBuf {
    /// A ring that holds at most `limit` bytes; storage is allocated as data arrives.
    pub fn new(limit: usize) -> Self {
        RingBuf {
            buf: Vec::new(),
            head: 0,
            len: 0,
            limit,
        }
    }

    /// Bytes held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Most bytes the ring may hold.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Room left under the limit.
    pub fn free(&self) -> usize {
        self.limit - self.len
    }

    /// Changes the limit; never below what is held.
    pub fn set_limit(&mut self, limit: usize) {
        self.limit = limit.max(self.len);
    }

    fn reserve(&mut self, need: usize) {
        if need <= self.buf.len() {
            return;
        }
        let cap = need.next_power_of_two().max(4096).min(self.limit.max(need));
        let mut nb = vec![0u8; cap];
        let (a, b) = self.slices(0, self.len);
        nb[..a.len()].copy_from_slice(a);
        nb[a.len()..a.len() + b.len()].copy_from_slice(b);
        self.buf = nb;
        self.head = 0;
    }

    /// Appends as much of `data` as fits; returns the bytes taken.
    pub fn push(&mut self, data: &[u8]) -> usize {
        let n = data.len().min(self.free());
        if n == 0 {
            return 0;
        }
        self.reserve(self.len + n);
        let cap = self.buf.len();
        let tail = (self.head + self.len) % cap;
        let first = n.min(cap - tail);
        self.buf[tail..tail + first].copy_from_slice(&data[..first]);
        self.buf[..n - first].copy_from_slice(&data[first..n]);
        self.len += n;
        n
    }

    /// The bytes `[off, off + n)` as up to two slices (clamped to what is held).
    pub fn slices(&self, off: usize, n: usize) -> (&[u8], &[u8]) {
        let off = off.min(self.len);
        let n = n.min(self.len - off);
        if n == 0 || self.buf.is_empty() {
            return (&[], &[]);
        }
        let cap = self.buf.len();
        let start = (self.head + off) % cap;
        let first = n.min(cap - start);
        (&self.buf[start..start + first], &self.buf[..n - first])
    }

    /// Copies bytes from offset `off` into `out`; returns how many.
    pub fn peek(&self, off: usize, out: &mut [u8]) -> usize {
        let (a, b) = self.slices(off, out.len());
        out[..a.len()].copy_from_slice(a);
        out[a.len()..a.len() + b.len()].copy_from_slice(b);
        a.len() + b.len()
    }

    /// Drops `n` bytes from the front (clamped).
    pub fn consume(&mut self, n: usize) {
        let n = n.min(self.len);
        if self.buf.is_empty() {
            return;
        }
        self.head = (self.head + n) % self.buf.len();
        self.len -= n;
        if self.len == 0 {
            self.head = 0;
        }
    }

    /// Reads up to `out.len()` bytes from the front.
    pub fn read(&mut self, out: &mut [u8]) -> usize {
        let n = self.peek(0, out);
        self.consume(n);
        n
    }

    /// Drops everything.
    pub fn clear(&mut self) {
        self.head = 0;
        self.len = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_and_grows_without_losing_bytes() {
        let mut r = RingBuf::new(10_000);
        let data: Vec<u8> = (0..=255u8).cycle().take(20_000).collect();
        let mut out = Vec::new();
        let mut fed = 0;
        let mut tmp = [0u8; 777];
        while out.len() < data.len() {
            fed += r.push(&data[fed..(fed + 3001).min(data.len())]);
            let n = r.read(&mut tmp);
            out.extend_from_slice(&tmp[..n]);
        }
        assert_eq!(out, data);
        assert!(r.is_empty());
    }

    #[test]
    fn limit_caps_push_and_peek_clamps() {
        let mut r = RingBuf::new(8);
        assert_eq!(r.push(b"0123456789"), 8);
        assert_eq!(r.free(), 0);
        let mut o = [0u8; 4];
        assert_eq!(r.peek(6, &mut o), 2);
        assert_eq!(&o[..2], b"67");
        r.consume(100);
        assert!(r.is_empty());
        r.set_limit(2);
        assert_eq!(r.push(b"abc"), 2);
    }
}
