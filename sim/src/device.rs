//! `SimDevice`: the verilated card (`oxnic_nic`) as an `oxnic_driver::Device`.
//!
//! BAR0 reads and writes become accesses on the card's register bus; the card's DMA ports are
//! served by [`DmaHost`] from host memory behind the IOMMU model — including the driver's own
//! `DmaRegion`s, mapped with [`Device::dma_map`], so the card reads and writes the very memory
//! the driver uses; the interrupt lines are latched per vector like MSI-X messages; the
//! Ethernet port is a wire with line-rate timing: frames queued with [`SimDevice::send_frame`]
//! enter `phy_rx` one 64-bit word per cycle with the preamble and inter-frame gap kept, and
//! frames the card sends are collected from `phy_tx` with the cycle they finished.
//!
//! Time is lock-step and virtual: the card runs only inside calls — BAR accesses (a read costs
//! [`SimConfig::mmio_read_cycles`], a PCIe round trip), [`Device::relax`],
//! [`Device::irq_wait`] and [`SimDevice::run`] — so the same calls give the same run, cycle for
//! cycle. One cycle is [`NS_PER_CYCLE`] ns of device time (the card's 250 MHz clock).

use crate::harness::{HarnessError, RawModel, Sim};
use crate::hostmem::{Fault, HostMemory, MapError, Perm};
use crate::models::oxnic_nic::Model;
use crate::pcie::{DmaHost, DmaPorts, DmaStats, PcieParams, WriteHook};
use oxnic_driver::{Bar, Device, DeviceError, DmaPerm, DmaRegion};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// Nanoseconds per card clock cycle (250 MHz).
pub const NS_PER_CYCLE: u64 = 1_000_000 / oxnic_hdl::nic::CLOCK_KHZ as u64;
/// Preamble, start delimiter and inter-frame gap, in bytes, between frames on the wire.
pub const WIRE_GAP_BYTES: u64 = 20;

/// How the simulated machine behaves.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// PCIe link timing for DMA.
    pub pcie: PcieParams,
    /// Cycles a BAR read stalls the CPU (a non-posted PCIe round trip; the card keeps running).
    pub mmio_read_cycles: u64,
    /// Cycles [`Device::relax`] lets pass.
    pub relax_cycles: u64,
    /// Line rate of the wire into the card, in bits per card cycle: 40 is 10 GbE at 250 MHz;
    /// 64 is the datapath's own rate (one full word every cycle, for line-rate benches).
    pub line_bits_per_cycle: u64,
}

impl Default for SimConfig {
    /// PCIe Gen3 x8 timing, a 1 µs MMIO read, 64 cycles per relax.
    fn default() -> Self {
        SimConfig {
            pcie: PcieParams::default(),
            mmio_read_cycles: 250,
            relax_cycles: 64,
            line_bits_per_cycle: 40,
        }
    }
}

/// Why the simulated device could not be built.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The harness refused the model.
    #[error("verilated oxnic_nic: {0}")]
    Harness(#[from] HarnessError),
    /// The model lacks a DMA port the host needs.
    #[error("verilated oxnic_nic: {0}")]
    Ports(#[from] crate::pcie::MissingPort),
}

/// A frame the card sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxFrame {
    /// Cycle in which its last word left the card.
    pub cycle: u64,
    /// The bytes on the wire, FCS included.
    pub bytes: Vec<u8>,
}

/// Why a frame the card sent is not a good Ethernet frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireFrameError {
    /// Shorter than the 64-byte minimum (FCS included): the MAC did not pad it.
    #[error("runt on the wire: {0} bytes")]
    Runt(usize),
    /// The FCS does not match the bytes.
    #[error("bad FCS on the wire")]
    BadFcs,
}

impl TxFrame {
    /// The frame without its FCS, after checking the minimum length and the FCS.
    pub fn frame(&self) -> Result<&[u8], WireFrameError> {
        if self.bytes.len() < 64 {
            return Err(WireFrameError::Runt(self.bytes.len()));
        }
        let (f, fcs) = self.bytes.split_at(self.bytes.len() - 4);
        if crc32fast::hash(f).to_le_bytes() != fcs {
            return Err(WireFrameError::BadFcs);
        }
        Ok(f)
    }
}

struct Inner {
    sim: Sim<Model>,
    dma: DmaHost,
    cfg: SimConfig,
    /// Words of frames still to enter `phy_rx`: (data, keep, last).
    rx_words: VecDeque<(u64, u64, bool)>,
    /// Frames queued (not yet fully on the wire).
    rx_frames: usize,
    /// Wire credit in bits: a word goes when the credit covers it; a frame's end costs the
    /// preamble and gap. Kept byte-exact over time.
    rx_credit: i64,
    tx_cur: Vec<u8>,
    tx_done: Vec<TxFrame>,
    irq_fired: u64,
    irq_enabled: u64,
    irq_raised: [u64; 64],
    /// Check every cycle that the card's outputs do not depend on this cycle's inputs.
    check_outputs: bool,
    /// What the check found (see [`SimDevice::set_output_check`]).
    output_check: OutputCheck,
}

/// What [`SimDevice::set_output_check`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutputCheck {
    /// Cycles checked.
    pub cycles: u64,
    /// Cycles in which an output followed an input of the same cycle.
    pub mismatches: u64,
    /// The outputs that did, by name, each once.
    pub ports: Vec<&'static str>,
}

/// Every output port's value, for [`SimDevice::set_output_check`].
fn outputs(m: &Model) -> Vec<(&'static str, Vec<u64>)> {
    let mut all = Vec::new();
    for (i, p) in m.ports().iter().enumerate() {
        if !p.input {
            let mut v = Vec::new();
            m.get_port(i, &mut v);
            all.push((p.name, v));
        }
    }
    all
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimDevice")
            .field("cycle", &self.sim.cycle())
            .field("rx_frames", &self.rx_frames)
            .field("irq_fired", &self.irq_fired)
            .finish_non_exhaustive()
    }
}

impl Inner {
    /// One card clock cycle with the register bus inputs as they are set.
    fn step(&mut self) {
        let m = &mut self.sim.model;
        self.rx_credit = (self.rx_credit + self.cfg.line_bits_per_cycle as i64).min(64);
        let offered = self.rx_credit > 0 && !self.rx_words.is_empty();
        if let (true, Some(&(data, keep, last))) = (offered, self.rx_words.front()) {
            m.set_phy_rx_data(data);
            m.set_phy_rx_keep(keep);
            m.set_phy_rx_last(u64::from(last));
            m.set_phy_rx_valid(1);
        } else {
            m.set_phy_rx_valid(0);
        }
        self.dma.before_eval(m);
        // One evaluation per cycle, at the rising edge. The card's outputs are a function of
        // its registers alone (no input reaches an output without a flop between), so the
        // values the previous edge left are this cycle's outputs: the host can take this
        // cycle's handshakes before the edge without settling the new inputs first. That
        // halves the evaluations; `set_output_check` verifies the premise.
        if self.check_outputs {
            let before = outputs(&self.sim.model);
            self.sim.eval();
            let after = outputs(&self.sim.model);
            let c = &mut self.output_check;
            c.cycles += 1;
            if after != before {
                c.mismatches += 1;
                for ((name, a), (_, b)) in after.iter().zip(&before) {
                    if a != b && !c.ports.contains(name) {
                        c.ports.push(name);
                    }
                }
            }
        }
        let cycle = self.sim.cycle();
        let m = &mut self.sim.model;
        self.dma.after_eval(m);
        if m.get_phy_tx_valid() == 1 {
            let keep = m.get_phy_tx_keep() as u8;
            let n = (keep.trailing_ones() as usize).min(8);
            self.tx_cur
                .extend_from_slice(&m.get_phy_tx_data().to_le_bytes()[..n]);
            if m.get_phy_tx_last() == 1 {
                self.tx_done.push(TxFrame {
                    cycle,
                    bytes: std::mem::take(&mut self.tx_cur),
                });
            }
        }
        let irqs = m.get_irq();
        if irqs != 0 {
            for v in 0..64 {
                if irqs >> v & 1 == 1 {
                    self.irq_raised[v] += 1;
                }
            }
            self.irq_fired |= irqs & self.irq_enabled;
        }
        if offered {
            if let Some((_, keep, last)) = self.rx_words.pop_front() {
                self.rx_credit -= 8 * i64::from((keep as u8).count_ones());
                if last {
                    self.rx_credit -= 8 * WIRE_GAP_BYTES as i64;
                    self.rx_frames -= 1;
                }
            }
        }
        self.sim.tick_rise();
    }

    fn run(&mut self, cycles: u64) {
        for _ in 0..cycles {
            self.step();
        }
    }

    fn read32(&mut self, offset: u32) -> u32 {
        let m = &mut self.sim.model;
        m.set_bus_address(u64::from(offset));
        m.set_bus_read(1);
        self.step();
        let m = &mut self.sim.model;
        m.set_bus_read(0);
        let v = if m.get_bus_read_valid() == 1 {
            m.get_bus_read_data() as u32
        } else {
            u32::MAX
        };
        let rest = self.cfg.mmio_read_cycles.saturating_sub(1);
        self.run(rest);
        v
    }

    fn write32(&mut self, offset: u32, value: u32) {
        let m = &mut self.sim.model;
        m.set_bus_address(u64::from(offset));
        m.set_bus_write_data(u64::from(value));
        m.set_bus_write(1);
        self.step();
        self.sim.model.set_bus_write(0);
    }
}

/// The verilated card behind a simulated PCIe link, IOMMU, MSI-X and Ethernet wire.
#[derive(Debug)]
pub struct SimDevice {
    inner: Mutex<Inner>,
}

impl SimDevice {
    /// A card fresh from power-up, with nothing mapped and nothing on the wire.
    pub fn new(cfg: SimConfig) -> Result<Self, SimError> {
        // Waveforms need the card's traced build, which runs slower.
        let model = if crate::harness::waves_requested() {
            Model::new_traced()
        } else {
            Model::new()
        };
        let mut sim = Sim::new(model)?;
        // The wire out of the card never pushes back.
        sim.model.set_phy_tx_ready(1);
        let ports = DmaPorts::resolve(&sim.model, "dma_rd", "dma_wr")?;
        let dma = DmaHost::new(HostMemory::new(), cfg.pcie, ports);
        Ok(SimDevice {
            inner: Mutex::new(Inner {
                sim,
                dma,
                cfg,
                rx_words: VecDeque::new(),
                rx_frames: 0,
                rx_credit: 0,
                tx_cur: Vec::new(),
                tx_done: Vec::new(),
                irq_fired: 0,
                irq_enabled: 0,
                irq_raised: [0; 64],
                check_outputs: false,
                output_check: OutputCheck::default(),
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves a card mid-cycle; the state is still a valid
        // model, so later calls may go on (the panicking test has failed anyway).
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues `frame` (without FCS) for the wire into the card; the FCS is appended.
    pub fn send_frame(&self, frame: &[u8]) {
        let mut f = frame.to_vec();
        f.extend_from_slice(&crc32fast::hash(frame).to_le_bytes());
        self.send_raw(&f);
    }

    /// Queues bytes exactly as given (FCS included, or deliberately wrong).
    pub fn send_raw(&self, bytes: &[u8]) {
        let mut g = self.lock();
        let n = bytes.len().div_ceil(8);
        g.rx_words.extend(bytes.chunks(8).enumerate().map(|(i, c)| {
            let mut w = [0u8; 8];
            w[..c.len()].copy_from_slice(c);
            (u64::from_le_bytes(w), (1u64 << c.len()) - 1, i + 1 == n)
        }));
        if n > 0 {
            g.rx_frames += 1;
        }
    }

    /// Turns on (or off) a check, every cycle, of the premise behind one evaluation per
    /// cycle: that the card's outputs depend on its registers only, never combinationally on
    /// the inputs of the same cycle. When on, each cycle also settles the new inputs before
    /// the edge and counts the cycles in which any output changed
    /// ([`SimDevice::output_check`]). Costs an extra evaluation per cycle.
    pub fn set_output_check(&self, on: bool) {
        self.lock().check_outputs = on;
    }

    /// What the check of [`SimDevice::set_output_check`] found so far.
    pub fn output_check(&self) -> OutputCheck {
        self.lock().output_check.clone()
    }

    /// Evaluations of the verilated model per card cycle: 1 where the Verilator build lets one
    /// evaluation make a clock edge, 2 otherwise.
    pub fn evals_per_cycle(&self) -> u32 {
        self.lock().sim.model.edge_evals()
    }

    /// Frames queued for the card that have not fully entered it yet.
    pub fn rx_backlog(&self) -> usize {
        self.lock().rx_frames
    }

    /// Takes the frames the card has sent so far (FCS included), oldest first.
    pub fn take_tx_frames(&self) -> Vec<TxFrame> {
        std::mem::take(&mut self.lock().tx_done)
    }

    /// Runs the card for `cycles` cycles.
    pub fn run(&self, cycles: u64) {
        self.lock().run(cycles);
    }

    /// Runs until the wire backlog is empty, then `extra` more cycles (for the frames to
    /// drain through the card).
    pub fn run_wire_empty(&self, extra: u64) {
        let mut g = self.lock();
        while g.rx_frames > 0 {
            g.step();
        }
        g.run(extra);
    }

    /// Cycles since power-up.
    pub fn cycle(&self) -> u64 {
        self.lock().sim.cycle()
    }

    /// DMA requests the IOMMU refused, oldest first.
    pub fn faults(&self) -> Vec<Fault> {
        self.lock().dma.mem.faults().to_vec()
    }

    /// IOVA ranges mapped for the card right now (0 after a clean teardown).
    pub fn mappings(&self) -> usize {
        self.lock().dma.mem.mappings()
    }

    /// What crossed the PCIe link.
    pub fn dma_stats(&self) -> DmaStats {
        self.lock().dma.stats
    }

    /// Interrupts each vector raised (whether enabled or not).
    pub fn irq_raised(&self, vector: usize) -> u64 {
        self.lock().irq_raised.get(vector).copied().unwrap_or(0)
    }

    /// Maps `len` bytes of memory owned by the simulator (for tests that lay out rings by
    /// hand, without the driver).
    pub fn map_owned(&self, iova: u64, len: u64, perm: Perm) -> Result<(), MapError> {
        self.lock().dma.mem.map(iova, len, perm)
    }

    /// Runs `f` on the host memory model (reading and writing simulator-owned mappings).
    pub fn with_memory<R>(&self, f: impl FnOnce(&mut HostMemory) -> R) -> R {
        f(&mut self.lock().dma.mem)
    }

    /// Installs a hook that sees (and may change) every DMA write the card makes, by IOVA,
    /// before it reaches memory — how tests play a misbehaving card. `None` removes it.
    pub fn set_write_hook(&self, hook: Option<WriteHook>) {
        self.lock().dma.write_hook = hook;
    }
}

impl Bar for SimDevice {
    fn size(&self) -> u32 {
        oxnic_abi::regs::BAR0_SIZE
    }

    fn read32(&self, offset: u32) -> u32 {
        self.lock().read32(offset)
    }

    fn write32(&self, offset: u32, value: u32) {
        self.lock().write32(offset, value)
    }
}

fn perm(p: DmaPerm) -> Perm {
    Perm {
        read: p.read,
        write: p.write,
    }
}

impl Device for SimDevice {
    fn dma_map(&self, region: &Arc<DmaRegion>, iova: u64, p: DmaPerm) -> Result<(), DeviceError> {
        let len = region.len() as u64;
        self.lock()
            .dma
            .mem
            .map_region(iova, region.clone(), perm(p))
            .map_err(|e| DeviceError::BadMapping {
                iova,
                len,
                why: match e {
                    MapError::Overlap { .. } => "it overlaps an existing mapping",
                    _ => "the range is empty or wraps",
                },
            })
    }

    fn dma_unmap(&self, iova: u64) -> Result<(), DeviceError> {
        self.lock()
            .dma
            .mem
            .unmap(iova)
            .map(|_| ())
            .map_err(|_| DeviceError::NotMapped(iova))
    }

    fn num_vectors(&self) -> u32 {
        oxnic_hdl::nic::VECTORS as u32
    }

    fn irq_enable(&self, vector: u32) -> Result<(), DeviceError> {
        if vector >= self.num_vectors() {
            return Err(DeviceError::NoSuchVector {
                vector,
                count: self.num_vectors(),
            });
        }
        self.lock().irq_enabled |= 1 << vector;
        Ok(())
    }

    fn irq_wait(&self, mask: u64, timeout: Duration) -> Result<u64, DeviceError> {
        let mut g = self.lock();
        let cycles = (timeout.as_nanos() as u64).div_ceil(NS_PER_CYCLE).max(1);
        for _ in 0..cycles {
            let hit = g.irq_fired & mask;
            if hit != 0 {
                g.irq_fired &= !hit;
                return Ok(hit);
            }
            g.step();
        }
        let hit = g.irq_fired & mask;
        g.irq_fired &= !hit;
        Ok(hit)
    }

    fn relax(&self) {
        let mut g = self.lock();
        let n = g.cfg.relax_cycles;
        g.run(n);
    }

    fn now_ns(&self) -> u64 {
        self.cycle() * NS_PER_CYCLE
    }
}
