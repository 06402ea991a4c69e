//! The host side of the card's DMA ports: PCIe timing around host memory.
//!
//! `DmaHost` answers a verilated card's DMA read port and takes its write port, cycle by cycle,
//! through [`HostMemory`] (so the IOMMU model applies: an unmapped or read-protected IOVA is a
//! recorded fault and touches nothing). Timing follows PCIe closely enough for figures to mean
//! something: reads complete after a round-trip latency; each direction of the link moves a
//! bounded number of bytes per card cycle, with a TLP header's overhead per max-payload (writes,
//! read completions) or per max-read-request (read requests) chunk; the number of reads in
//! flight is bounded, like a root complex's tags.
//!
//! The data on the ports is packed (see `oxnic_hdl::dma_if`): byte 0 of a request in bits 7:0
//! of its first word; this side does the realignment a board wrapper does on hardware.

use crate::harness::RawModel;
use crate::hostmem::HostMemory;
use std::collections::VecDeque;

/// PCIe link and host parameters, in card clock cycles and bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PcieParams {
    /// Cycles from a read request leaving the card to its first completion word arriving.
    pub read_latency: u64,
    /// Bytes per card cycle each direction carries (including TLP overhead).
    pub bytes_per_cycle: u32,
    /// Largest payload of one write or completion TLP.
    pub max_payload: u32,
    /// Largest read request TLP.
    pub max_read_request: u32,
    /// TLP header and framing bytes per TLP.
    pub tlp_overhead: u32,
    /// Read requests in flight at most.
    pub max_reads_in_flight: usize,
}

impl Default for PcieParams {
    /// PCIe Gen3 x8 (≈7.9 GB/s each way) seen from a 250 MHz card clock: 31 bytes per cycle,
    /// 1 µs read round trip, 256-byte max payload, 512-byte max read request, 24 bytes per TLP.
    fn default() -> Self {
        PcieParams {
            read_latency: 250,
            bytes_per_cycle: 31,
            max_payload: 256,
            max_read_request: 512,
            tlp_overhead: 24,
            max_reads_in_flight: 32,
        }
    }
}

/// Port indices of one DMA read and one DMA write interface on a model.
#[derive(Debug, Clone, Copy)]
pub struct DmaPorts {
    rd_req_addr: usize,
    rd_req_len: usize,
    rd_req_tag: usize,
    rd_req_valid: usize,
    rd_req_ready: usize,
    rd_rsp_data: usize,
    rd_rsp_keep: usize,
    rd_rsp_tag: usize,
    rd_rsp_last: usize,
    rd_rsp_error: usize,
    rd_rsp_valid: usize,
    rd_rsp_ready: usize,
    wr_addr: usize,
    wr_data: usize,
    wr_keep: usize,
    wr_last: usize,
    wr_valid: usize,
    wr_ready: usize,
    /// Bytes in a read response word (the width of `<rd>$rsp_data`: 8 or 16).
    rd_bytes: usize,
}

/// A port the DMA model needs is missing from the model.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("model {model} has no port {port}")]
pub struct MissingPort {
    /// Model name.
    pub model: &'static str,
    /// Port name.
    pub port: String,
}

impl DmaPorts {
    /// Finds `<rd>$req_addr` ... and `<wr>$addr` ... on `model`.
    pub fn resolve(model: &dyn RawModel, rd: &str, wr: &str) -> Result<Self, MissingPort> {
        let find = |p: String| {
            model
                .ports()
                .iter()
                .position(|x| x.name == p)
                .ok_or(MissingPort {
                    model: model.name(),
                    port: p,
                })
        };
        let rsp_data = find(format!("{rd}$rsp_data"))?;
        Ok(DmaPorts {
            rd_bytes: if model.ports()[rsp_data].width > 64 {
                16
            } else {
                8
            },
            rd_req_addr: find(format!("{rd}$req_addr"))?,
            rd_req_len: find(format!("{rd}$req_len"))?,
            rd_req_tag: find(format!("{rd}$req_tag"))?,
            rd_req_valid: find(format!("{rd}$req_valid"))?,
            rd_req_ready: find(format!("{rd}$req_ready"))?,
            rd_rsp_data: rsp_data,
            rd_rsp_keep: find(format!("{rd}$rsp_keep"))?,
            rd_rsp_tag: find(format!("{rd}$rsp_tag"))?,
            rd_rsp_last: find(format!("{rd}$rsp_last"))?,
            rd_rsp_error: find(format!("{rd}$rsp_error"))?,
            rd_rsp_valid: find(format!("{rd}$rsp_valid"))?,
            rd_rsp_ready: find(format!("{rd}$rsp_ready"))?,
            wr_addr: find(format!("{wr}$addr"))?,
            wr_data: find(format!("{wr}$data"))?,
            wr_keep: find(format!("{wr}$keep"))?,
            wr_last: find(format!("{wr}$last"))?,
            wr_valid: find(format!("{wr}$valid"))?,
            wr_ready: find(format!("{wr}$ready"))?,
        })
    }
}

/// One response word on its way to the card.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct RspWord {
    at: u64,
    data: [u64; 2],
    keep: u16,
    tag: u8,
    last: bool,
    error: bool,
}

/// Counts of what crossed the link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DmaStats {
    /// Read requests accepted.
    pub reads: u64,
    /// Bytes read.
    pub read_bytes: u64,
    /// Read requests refused by the IOMMU.
    pub read_faults: u64,
    /// Write requests completed.
    pub writes: u64,
    /// Bytes written.
    pub write_bytes: u64,
    /// Write requests refused by the IOMMU.
    pub write_faults: u64,
}

/// A token bucket for one link direction.
#[derive(Debug, Clone, Copy, Default)]
struct Budget {
    credit: i64,
}

impl Budget {
    fn refill(&mut self, per_cycle: u32) {
        // Let unused credit pile up only a little: an idle link does not bank bandwidth.
        self.credit = (self.credit + i64::from(per_cycle)).min(i64::from(per_cycle) * 4);
    }
    fn can_send(&self) -> bool {
        self.credit > 0
    }
    fn spend(&mut self, bytes: u64) {
        self.credit -= bytes as i64;
    }
}

/// Sees every DMA write request of the card (IOVA, bytes) before it reaches memory, and may
/// change it: how tests play a card that writes a corrupted completion.
pub struct WriteHook(pub Box<WriteFn>);

/// The function inside a [`WriteHook`]: the request's IOVA and its bytes.
pub type WriteFn = dyn FnMut(u64, &mut Vec<u8>) + Send;

impl std::fmt::Debug for WriteHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WriteHook")
    }
}

/// The host's answers to a card's DMA ports.
#[derive(Debug)]
pub struct DmaHost {
    /// Host memory behind the IOMMU.
    pub mem: HostMemory,
    params: PcieParams,
    ports: DmaPorts,
    now: u64,
    in_flight: usize,
    rsp: VecDeque<RspWord>,
    /// Bytes already sent of the completion TLP now streaming (for per-TLP overhead).
    rsp_tlp_bytes: u32,
    down: Budget,
    up: Budget,
    wr_cur: Option<(u64, Vec<u8>)>,
    /// The last write's buffer, reused by the next.
    wr_spare: Vec<u8>,
    wr_tlp_bytes: u32,
    /// What crossed the link.
    pub stats: DmaStats,
    /// Optional tap on write requests.
    pub write_hook: Option<WriteHook>,
    buf: Vec<u64>,
    /// A read request's bytes, reused by the next.
    scratch: Vec<u8>,
    /// The handshake inputs as [`DmaHost::before_eval`] set them this cycle: what the card
    /// sees (`None` before the first cycle, so the first cycle sets them all).
    set: Option<Handshakes>,
}

/// The host's `ready`/`valid` inputs to the card in one cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Handshakes {
    req_ready: bool,
    rsp_valid: bool,
    wr_ready: bool,
}

impl DmaHost {
    /// A host with `mem` behind the ports `ports` of a model.
    pub fn new(mem: HostMemory, params: PcieParams, ports: DmaPorts) -> Self {
        DmaHost {
            mem,
            params,
            ports,
            now: 0,
            in_flight: 0,
            rsp: VecDeque::new(),
            rsp_tlp_bytes: 0,
            down: Budget::default(),
            up: Budget::default(),
            wr_cur: None,
            wr_spare: Vec::new(),
            wr_tlp_bytes: 0,
            stats: DmaStats::default(),
            write_hook: None,
            buf: Vec::with_capacity(2),
            scratch: Vec::new(),
            set: None,
        }
    }

    /// Drives the host's side of the ports for this cycle. Call with the card's inputs set,
    /// before `eval`; then call [`DmaHost::after_eval`] before the clock edge.
    pub fn before_eval<M: RawModel + ?Sized>(&mut self, model: &mut M) {
        let p = &self.ports;
        self.down.refill(self.params.bytes_per_cycle);
        self.up.refill(self.params.bytes_per_cycle);
        let now = Handshakes {
            req_ready: self.in_flight < self.params.max_reads_in_flight,
            rsp_valid: matches!(self.rsp.front(), Some(w) if w.at <= self.now)
                && self.down.can_send(),
            wr_ready: self.up.can_send(),
        };
        if let (true, Some(w)) = (now.rsp_valid, self.rsp.front()) {
            model.set_port(p.rd_rsp_data, &w.data[..p.rd_bytes / 8]);
            model.set_u64(p.rd_rsp_keep, u64::from(w.keep));
            model.set_u64(p.rd_rsp_tag, u64::from(w.tag));
            model.set_u64(p.rd_rsp_last, u64::from(w.last));
            model.set_u64(p.rd_rsp_error, u64::from(w.error));
        }
        // The handshake inputs hold between cycles: stored only when they change.
        let last = self.set;
        if last.map(|l| l.req_ready) != Some(now.req_ready) {
            model.set_u64(p.rd_req_ready, u64::from(now.req_ready));
        }
        if last.map(|l| l.rsp_valid) != Some(now.rsp_valid) {
            model.set_u64(p.rd_rsp_valid, u64::from(now.rsp_valid));
        }
        if last.map(|l| l.wr_ready) != Some(now.wr_ready) {
            model.set_u64(p.wr_ready, u64::from(now.wr_ready));
        }
        self.set = Some(now);
    }

    /// Takes what the card offered this cycle (handshakes that complete at the coming edge),
    /// and advances the host's clock by one cycle. A handshake is what the card saw: the
    /// `ready` and `valid` the model holds now, never the host's state worked out again after
    /// this cycle's work changed it (a read request spends upstream credit too, so a write
    /// word the card saw taken would otherwise be dropped, and the rest of its write run
    /// into the next one's address).
    pub fn after_eval<M: RawModel + ?Sized>(&mut self, model: &M) {
        let p = &self.ports;
        let set = self.set.unwrap_or(Handshakes {
            req_ready: false,
            rsp_valid: false,
            wr_ready: false,
        });
        let req_taken = set.req_ready && model.get_u64(p.rd_req_valid) == 1;
        let word_taken = set.wr_ready && model.get_u64(p.wr_valid) == 1;
        if req_taken {
            let addr = model.get_u64(p.rd_req_addr);
            let len = model.get_u64(p.rd_req_len) as usize;
            let tag = model.get_u64(p.rd_req_tag) as u8;
            self.accept_read(addr, len, tag);
        }
        let p = &self.ports;
        if set.rsp_valid && model.get_u64(p.rd_rsp_ready) == 1 {
            if let Some(w) = self.rsp.pop_front() {
                let bytes = u32::from(w.keep.count_ones() as u8);
                let mut cost = u64::from(bytes);
                if self.rsp_tlp_bytes == 0 {
                    cost += u64::from(self.params.tlp_overhead);
                }
                self.rsp_tlp_bytes += bytes;
                if self.rsp_tlp_bytes >= self.params.max_payload || w.last {
                    self.rsp_tlp_bytes = 0;
                }
                self.down.spend(cost);
                if w.last {
                    self.in_flight -= 1;
                }
            }
        }
        if word_taken {
            // Any word width: `keep` has a bit per byte of `data`'s 64-bit words.
            let keep = model.get_u64(p.wr_keep);
            let last = model.get_u64(p.wr_last) == 1;
            if self.wr_cur.is_none() {
                let addr = model.get_u64(p.wr_addr);
                // The buffer of the last write, emptied, so a write costs no allocation.
                let mut bytes = std::mem::take(&mut self.wr_spare);
                bytes.clear();
                self.wr_cur = Some((addr, bytes));
            }
            model.get_port(p.wr_data, &mut self.buf);
            let n = (keep.trailing_ones() as usize).min(self.buf.len() * 8);
            let mut cost = n as u64;
            if self.wr_tlp_bytes == 0 {
                cost += u64::from(self.params.tlp_overhead);
            }
            self.wr_tlp_bytes += n as u32;
            if self.wr_tlp_bytes >= self.params.max_payload || last {
                self.wr_tlp_bytes = 0;
            }
            self.up.spend(cost);
            if let Some((_, bytes)) = &mut self.wr_cur {
                let at = bytes.len();
                for w in &self.buf {
                    bytes.extend_from_slice(&w.to_le_bytes());
                }
                bytes.truncate(at + n);
            }
            if last {
                if let Some((addr, mut bytes)) = self.wr_cur.take() {
                    if let Some(hook) = &mut self.write_hook {
                        (hook.0)(addr, &mut bytes);
                    }
                    self.stats.writes += 1;
                    if self.mem.dma_write(addr, &bytes).is_ok() {
                        self.stats.write_bytes += bytes.len() as u64;
                    } else {
                        self.stats.write_faults += 1;
                    }
                    self.wr_spare = bytes;
                }
            }
        }
        self.now += 1;
    }

    fn accept_read(&mut self, addr: u64, len: usize, tag: u8) {
        self.in_flight += 1;
        self.stats.reads += 1;
        let len = len.clamp(1, 4096);
        // The request itself goes upstream: one small TLP per max-read-request chunk.
        let chunks = len.div_ceil(self.params.max_read_request as usize) as u64;
        self.up.spend(chunks * u64::from(self.params.tlp_overhead));
        let at = self.now + self.params.read_latency;
        let mut data = std::mem::take(&mut self.scratch);
        data.clear();
        data.resize(len, 0);
        if self.mem.dma_read(addr, &mut data).is_err() {
            self.stats.read_faults += 1;
            self.rsp.push_back(RspWord {
                at,
                data: [0; 2],
                keep: 0,
                tag,
                last: true,
                error: true,
            });
            self.scratch = data;
            return;
        }
        self.stats.read_bytes += len as u64;
        let wb = self.ports.rd_bytes;
        let n = len.div_ceil(wb);
        for (i, c) in data.chunks(wb).enumerate() {
            self.rsp.push_back(RspWord {
                at,
                data: oxnic_hdl::stream::bytes_to_words(c),
                keep: ((1u32 << c.len()) - 1) as u16,
                tag,
                last: i + 1 == n,
                error: false,
            });
        }
        self.scratch = data;
    }

    /// Cycles the host has seen.
    pub fn now(&self) -> u64 {
        self.now
    }

    /// Read requests whose data has not all reached the card.
    pub fn reads_in_flight(&self) -> usize {
        self.in_flight
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::harness::Port;
    use crate::hostmem::Perm;

    const PORTS: &[Port] = &[
        Port {
            name: "dma_rd$req_addr",
            input: false,
            width: 64,
        },
        Port {
            name: "dma_rd$req_len",
            input: false,
            width: 16,
        },
        Port {
            name: "dma_rd$req_tag",
            input: false,
            width: 8,
        },
        Port {
            name: "dma_rd$req_valid",
            input: false,
            width: 1,
        },
        Port {
            name: "dma_rd$req_ready",
            input: true,
            width: 1,
        },
        Port {
            name: "dma_rd$rsp_data",
            input: true,
            width: 64,
        },
        Port {
            name: "dma_rd$rsp_keep",
            input: true,
            width: 8,
        },
        Port {
            name: "dma_rd$rsp_tag",
            input: true,
            width: 8,
        },
        Port {
            name: "dma_rd$rsp_last",
            input: true,
            width: 1,
        },
        Port {
            name: "dma_rd$rsp_error",
            input: true,
            width: 1,
        },
        Port {
            name: "dma_rd$rsp_valid",
            input: true,
            width: 1,
        },
        Port {
            name: "dma_rd$rsp_ready",
            input: false,
            width: 1,
        },
        Port {
            name: "dma_wr$addr",
            input: false,
            width: 64,
        },
        Port {
            name: "dma_wr$data",
            input: false,
            width: 64,
        },
        Port {
            name: "dma_wr$keep",
            input: false,
            width: 8,
        },
        Port {
            name: "dma_wr$last",
            input: false,
            width: 1,
        },
        Port {
            name: "dma_wr$valid",
            input: false,
            width: 1,
        },
        Port {
            name: "dma_wr$ready",
            input: true,
            width: 1,
        },
    ];

    /// A card reduced to its DMA ports, driven by a script: it offers the queued read requests
    /// and write words, always takes response words, and logs what it got and when.
    #[derive(Default)]
    struct ScriptedCard {
        v: [u64; 18],
        reads: VecDeque<(u64, u64, u64)>,
        writes: VecDeque<(u64, u64, u64, bool)>,
        got: Vec<(u64, u64, u64, u64, bool, bool)>,
        cycle: u64,
    }

    impl ScriptedCard {
        fn drive(&mut self) {
            let (a, l, t) = self.reads.front().copied().unwrap_or((0, 0, 0));
            self.v[0] = a;
            self.v[1] = l;
            self.v[2] = t;
            self.v[3] = u64::from(!self.reads.is_empty());
            self.v[11] = 1;
            let (addr, data, keep, last) = self.writes.front().copied().unwrap_or_default();
            self.v[12] = addr;
            self.v[13] = data;
            self.v[14] = keep;
            self.v[15] = u64::from(last);
            self.v[16] = u64::from(!self.writes.is_empty());
        }
        /// The clock edge: handshakes complete.
        fn edge(&mut self) {
            if self.v[3] == 1 && self.v[4] == 1 {
                self.reads.pop_front();
            }
            if self.v[10] == 1 {
                let v = &self.v;
                self.got
                    .push((self.cycle, v[5], v[6], v[7], v[8] == 1, v[9] == 1));
            }
            if self.v[16] == 1 && self.v[17] == 1 {
                self.writes.pop_front();
            }
            self.cycle += 1;
        }
    }

    impl RawModel for ScriptedCard {
        fn name(&self) -> &'static str {
            "scripted_card"
        }
        fn ports(&self) -> &'static [Port] {
            PORTS
        }
        fn eval(&mut self) {
            self.drive();
        }
        fn eval_edge(&mut self) {
            self.drive();
            self.edge();
        }
        fn edge_evals(&self) -> u32 {
            1
        }
        fn traceable(&self) -> bool {
            false
        }
        fn trace_open(&mut self, _path: &std::ffi::CStr) -> bool {
            false
        }
        fn trace_dump(&mut self, _time: u64) {}
        fn trace_close(&mut self) {}
        fn set_port(&mut self, index: usize, words: &[u64]) {
            self.v[index] = words.first().copied().unwrap_or(0);
        }
        fn get_port(&self, index: usize, out: &mut Vec<u64>) {
            out.clear();
            out.push(self.v[index]);
        }
    }

    fn setup(params: PcieParams) -> (ScriptedCard, DmaHost) {
        let card = ScriptedCard::default();
        let mut mem = HostMemory::new();
        mem.map(0x10_000, 0x10_000, Perm::RW).unwrap();
        for i in 0..0x10_000u64 {
            mem.host_slice_mut(0x10_000 + i, 1).unwrap()[0] = (i * 7 + 3) as u8;
        }
        let ports = DmaPorts::resolve(&card, "dma_rd", "dma_wr").unwrap();
        (card, DmaHost::new(mem, params, ports))
    }

    fn run(card: &mut ScriptedCard, host: &mut DmaHost, cycles: u64) {
        for _ in 0..cycles {
            card.drive();
            host.before_eval(card);
            card.eval();
            host.after_eval(card);
            card.edge();
        }
    }

    #[test]
    fn unaligned_read_comes_back_packed_after_the_latency() {
        let (mut card, mut host) = setup(PcieParams::default());
        card.reads.push_back((0x10_003, 13, 5));
        run(&mut card, &mut host, 300);
        assert_eq!(card.got.len(), 2);
        let (c0, d0, k0, t0, l0, e0) = card.got[0];
        assert!(c0 >= 250, "first word at cycle {c0}");
        let want: Vec<u8> = (3..16u64).map(|i| (i * 7 + 3) as u8).collect();
        assert_eq!(d0.to_le_bytes(), want[..8]);
        assert_eq!((k0, t0, l0, e0), (0xff, 5, false, false));
        let (_, d1, k1, _, l1, _) = card.got[1];
        assert_eq!(&d1.to_le_bytes()[..5], &want[8..]);
        assert_eq!((k1, l1), (0x1f, true));
        assert_eq!(host.reads_in_flight(), 0);
        assert_eq!(host.stats.read_bytes, 13);
    }

    #[test]
    fn bandwidth_bounds_the_word_rate() {
        // 8 bytes per cycle of payload, plus 24 bytes per 256-byte TLP: under one word a cycle.
        let params = PcieParams {
            bytes_per_cycle: 8,
            read_latency: 10,
            ..Default::default()
        };
        let (mut card, mut host) = setup(params);
        card.reads.push_back((0x10_000, 4096, 1));
        run(&mut card, &mut host, 2000);
        assert_eq!(card.got.len(), 512);
        let span = card.got[511].0 - card.got[0].0 + 1;
        let min = (4096 + 16 * 24) / 8;
        // The link banks at most four cycles of credit, so it can run a few cycles ahead.
        assert!(
            span + 4 >= min && span <= min + 40,
            "4 KiB took {span} cycles, expected ≈{min}"
        );
        // with the default link the card's 8 bytes per cycle are the limit
        let (mut card, mut host) = setup(PcieParams::default());
        card.reads.push_back((0x10_000, 4096, 1));
        run(&mut card, &mut host, 1000);
        let span = card.got[511].0 - card.got[0].0 + 1;
        assert_eq!(span, 512, "one word per cycle");
    }

    #[test]
    fn reads_in_flight_are_bounded() {
        let params = PcieParams {
            max_reads_in_flight: 3,
            ..Default::default()
        };
        let (mut card, mut host) = setup(params);
        for t in 0..5 {
            card.reads.push_back((0x10_000 + 64 * t, 8, t));
        }
        run(&mut card, &mut host, 20);
        assert_eq!(card.reads.len(), 2, "two requests wait for a free slot");
        assert_eq!(host.reads_in_flight(), 3);
        run(&mut card, &mut host, 600);
        let tags: Vec<u64> = card.got.iter().map(|g| g.3).collect();
        assert_eq!(tags, vec![0, 1, 2, 3, 4]);
    }

    #[test]
    fn faults_touch_nothing() {
        let (mut card, mut host) = setup(PcieParams::default());
        card.reads.push_back((0x9_0000, 64, 7));
        card.writes.push_back((0x9_0000, 0xdead_beef, 0xff, true));
        // A write that starts inside the mapping and runs past its end.
        card.writes
            .push_back((0x1_fffc, 0x1111_1111_1111_1111, 0xff, true));
        run(&mut card, &mut host, 400);
        assert_eq!(card.got.len(), 1);
        let (_, data, _, tag, last, error) = card.got[0];
        assert_eq!((data, tag, last, error), (0, 7, true, true));
        assert_eq!(host.stats.read_faults, 1);
        assert_eq!(host.stats.write_faults, 2);
        assert_eq!(
            host.mem.host_slice(0x1_fffc, 4).unwrap(),
            &[0xfc * 7 + 3, 0xfd * 7 + 3, 0xfe * 7 + 3, 0xff * 7 + 3].map(|x: u32| x as u8)
        );
        assert_eq!(host.mem.faults().len(), 3);
    }

    #[test]
    fn writes_land_packed_at_any_alignment() {
        let (mut card, mut host) = setup(PcieParams::default());
        card.writes
            .push_back((0x10_005, u64::from_le_bytes(*b"abcdefgh"), 0xff, false));
        card.writes
            .push_back((0, u64::from_le_bytes(*b"ijk\0\0\0\0\0"), 0x07, true));
        run(&mut card, &mut host, 10);
        assert_eq!(host.mem.host_slice(0x10_005, 11).unwrap(), b"abcdefghijk");
        assert_eq!(
            host.mem.host_slice(0x10_004, 1).unwrap(),
            &[(4 * 7 + 3) as u8]
        );
        assert_eq!((host.stats.writes, host.stats.write_bytes), (1, 11));
    }

    #[test]
    fn a_write_word_the_card_saw_taken_lands_when_a_read_request_spends_the_credit() {
        // Little upstream credit: a 4 KiB read request (eight TLP headers) taken in the same
        // cycle as a write word leaves the link in debt. The word was taken all the same.
        let params = PcieParams {
            bytes_per_cycle: 24,
            ..Default::default()
        };
        let (mut card, mut host) = setup(params);
        for i in 0..8 {
            card.reads.push_back((0x10_000 + 0x1000 * (i % 2), 4096, i));
        }
        for i in 0..16u64 {
            card.writes.push_back((
                0x18_000 + 64 * i,
                0x0101_0101_0101_0101 * (i + 1),
                0xff,
                true,
            ));
        }
        run(&mut card, &mut host, 4000);
        assert!(card.writes.is_empty() && card.reads.is_empty());
        assert_eq!((host.stats.writes, host.stats.write_bytes), (16, 128));
        for i in 0..16u64 {
            assert_eq!(
                host.mem.host_slice(0x18_000 + 64 * i, 8).unwrap(),
                &[(i + 1) as u8; 8],
                "write {i}"
            );
        }
    }

    #[test]
    fn missing_ports_are_named() {
        let card = ScriptedCard::default();
        let e = DmaPorts::resolve(&card, "dma_rd", "nope").unwrap_err();
        assert_eq!(e.port, "nope$addr");
    }
}
