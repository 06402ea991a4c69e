//! `oxnic_nic`: the whole card — every block of this crate joined behind one register bus, one
//! pair of DMA ports, one Ethernet port and the interrupt lines. This is the module a board
//! wrapper instantiates and the simulator verilates as `SimDevice`'s card.
//!
//! # Data paths
//! - RX: `phy_rx` → [`MacRx`] (FCS check and strip, runt/oversize/filter verdicts) → the RX
//!   packet FIFO ([`PacketFifo`], 16 KiB: one 9018-byte jumbo frame fits) and, watching the
//!   same words, [`RxClassify`] (parse, checksums, RSS). A frame the FIFO drops (a MAC verdict,
//!   no room, or too many frames resident — see below) has its metadata record discarded too:
//!   the FIFO reports each frame's fate on its last word (`frame_end`/`frame_kept`) into a
//!   small in-order queue of keep bits beside the classifier, and only kept frames' records
//!   reach [`RxEngine`], which takes buffers from the RX rings and writes frames and
//!   completions by DMA.
//! - TX: [`TxEngine`] (doorbells, descriptor fetch, scatter-gather reads, completions) →
//!   [`TxChecksum`] (CHECKSUM_PARTIAL insertion; a 32 KiB store-and-forward ring, so jumbo
//!   frames get their checksum too and frames queue up ahead of the MAC) → [`MacTx`] (padding,
//!   FCS, inter-frame gap)
//!   → `phy_tx`.
//!
//! The RX engine holds [`crate::rx_engine::META_DEPTH`] metadata records, so the card never
//! lets more than [`MAX_RESIDENT`] frames wait in the RX FIFO: a frame that ends while that
//! many are waiting is dropped whole and counted as RX_MISSED, like a frame that found the FIFO
//! full.
//!
//! # DMA
//! Both engines share the card's read and write ports. Reads: the requesters alternate when
//! both ask; the TX engine's requests carry tag bit 7, and responses (in request order, see
//! [`crate::dma_if`]) are steered back by it. Writes: a request (a frame, a
//! completion) is granted whole, from its first word to its `last`, the two engines
//! alternating — so a frame's completion still lands after its data, as the RX engine needs.
//!
//! # The card's edges
//! No output depends combinationally on an input of the same cycle: the wire's words are
//! registered as they enter, and each stream with a `ready` from outside (DMA read requests,
//! DMA read responses, DMA writes, the wire out) passes a two-word skid buffer whose own
//! `ready` comes from a flop. That costs a cycle each way and lets a simulator take each
//! cycle's handshakes from the outputs the previous edge left (one evaluation per cycle; see
//! `oxnic_sim::SimDevice::set_output_check`), and it is how a board's I/O timing wants it.
//!
//! # Registers
//! Every register block of `oxnic_abi::regs` is a [`RegBlock`] on the bus; their read data are
//! OR-ed (a block answers 0 outside itself). The top reads configuration from their outputs and
//! drives their read-only words and counters. Which output word is which register is fixed by
//! the abi tables; the indices used below are checked against them when the card is built
//! ([`OxnicNic::new`] panics on a mismatch, so an abi change cannot silently rewire the card).
//!
//! Queue configuration (ring bases and sizes, bindings, enables) is copied into registers two
//! cycles after any bus write, not recomputed every cycle: it changes only by writes, and the
//! copy keeps the wide multiplexers out of the simulator's per-cycle work.
//!
//! # Queues, completion queues, interrupts
//! [`QUEUES`] RX and [`QUEUES`] TX queues; [`CQS`] completion queues; [`VECTORS`] interrupt
//! vectors. A queue reports to the completion queue named by its CQ register. The producer
//! index of a completion queue lives with the queue that writes it, so a completion queue
//! serves exactly one queue: a queue is active only when its CTRL enable is set, its CQ number
//! exists, that CQ is enabled, and no lower-numbered queue (RX queues before TX queues) is
//! bound to the same CQ. `*q.STATUS` bit 0 shows whether it is active.
//!
//! A completion queue is armed by writing CTRL with bit 1 set. An armed completion queue
//! whose producer index differs from the driver's CONS register — a new record arrived, or
//! records were already waiting when it was armed, so no wake-up is ever lost — fires once and
//! disarms. Firing makes its vector pending; a pending vector raises its interrupt line
//! (bit `v` of `irq`, a one-cycle pulse, one MSI-X message on a board) when
//! - MOD_FRAMES is non-zero and that many completions arrived on the vector's completion
//!   queues since it became pending (the one that fired included), or
//! - MOD_USECS is non-zero and that many microseconds passed since it became pending, or
//! - both are zero (at once),
//!
//! and it is not masked (MASK bit 0; a masked vector stays pending and raises when unmasked).
//! Raising clears pending and adds one to the vector's COUNT. `cq.STATUS` shows bit 0 active,
//! bit 1 overflow (the producer index is more than a ring ahead of CONS), bit 2 armed.
//!
//! Completions of the two engines finish on different cycles (they share the write port and a
//! completion is a whole request on it), so at most one completion event happens per cycle.
//!
//! # Reset
//! Writing 1 to `device.RESET` clears every statistics counter (to the value at that moment:
//! later reads count from zero) and deactivates every queue until the driver writes its CTRL
//! register again (which is how it re-enables a queue after a reset anyway).
//!
//! Ports:
//! - `clock`: the core clock, [`CLOCK_KHZ`] kHz;
//! - `bus`: the MMIO register bus (BAR0);
//! - `dma_rd`, `dma_wr`: the DMA ports ([`crate::dma_if`]);
//! - `phy_rx`: frames from the wire with FCS (never back-pressured);
//! - `phy_tx`: frames to the wire with FCS (honours `ready`);
//! - `irq`: interrupt pulses, bit `v` for vector `v`.

use crate::dma_if::{DmaReadMaster, DmaWriteMaster};
use crate::en_reg::EnReg;
use crate::irq_mod::IrqModerator;
use crate::mac_rx::MacRx;
use crate::mac_tx::MacTx;
use crate::packet_fifo::PacketFifo;
use crate::reg_bus::{Layout, RegBlock, RegBusTarget};
use crate::rss_table::RssTable;
use crate::rx_classify::RxClassify;
use crate::rx_engine::RxEngine;
use crate::stream::{StreamSink, StreamSource};
use crate::stream_register::Skid;
use crate::tx_checksum::TxChecksumJumbo;
use crate::tx_engine::TxEngine;
use oxnic_abi::{features, regs};
use rust_hdl::prelude::*;

/// The card's top module name.
pub const TOP: &str = "oxnic_nic";
/// RX queues, and TX queues.
pub const QUEUES: usize = 8;
// `any_armed` in `update` is written out for 2 × 8 queues.
const _: () = assert!(2 * QUEUES == 16);
/// Completion queues (one per RX and TX queue).
pub const CQS: usize = 16;
/// Interrupt vectors.
pub const VECTORS: usize = 16;
/// Core clock in kHz: 250 MHz, a 64-bit datapath is 16 Gb/s, above 10 GbE line rate.
pub const CLOCK_KHZ: u32 = 250_000;
/// Core clock cycles per microsecond (the moderation timers' tick).
pub const CYCLES_PER_US: u64 = CLOCK_KHZ as u64 / 1000;
/// log2 of the RX FIFO depth in 64-bit words (16 KiB).
pub const RX_FIFO_LOG2: usize = 11;
/// Frames that may wait in the RX FIFO (below the RX engine's metadata FIFO depth).
pub const MAX_RESIDENT: u64 = 120;
/// PCI vendor and device ID reported in `device.ID` (vendor in 15:0): the Xilinx vendor ID
/// the board's PCIe block presents, device 0x0c5e.
pub const PCI_ID: u32 = 0x0c5e_10ee;
/// Card version in `device.HW_VERSION`.
pub const HW_VERSION: u32 = 0x0001_0000;
/// `device.BUILD_ID`.
pub const BUILD_ID: u32 = 0x2026_1122;
/// Feature bits in `device.FEATURES`.
pub const FEATURES: u32 = features::RX_CSUM
    | features::TX_CSUM
    | features::RSS
    | features::TX_SG
    | features::IRQ_MODERATION
    | features::TIMESTAMP;

/// Read-write words per TX/RX/completion queue entry, read-only words per entry.
const Q_RW: usize = 6;
const Q_RO: usize = 2;
/// Read-write words per interrupt vector.
const V_RW: usize = 3;

/// Which register word each literal index in [`OxnicNic::update`] means: (block, register
/// name in the layout, kind, index). Checked against the abi tables by [`OxnicNic::new`].
const WIRING: &[(&str, &str, char, usize)] = &[
    ("port", "MAC_LO", 'w', 0),
    ("port", "MAC_HI", 'w', 1),
    ("port", "MTU", 'w', 2),
    ("port", "CTRL", 'w', 3),
    ("port", "STATUS", 'r', 0),
    ("port", "RX_PACKETS", 'c', 0),
    ("port", "RX_BYTES", 'c', 1),
    ("port", "TX_PACKETS", 'c', 2),
    ("port", "TX_BYTES", 'c', 3),
    ("port", "RX_FCS_ERRORS", 'c', 4),
    ("port", "RX_RUNTS", 'c', 5),
    ("port", "RX_OVERSIZE", 'c', 6),
    ("port", "RX_MISSED", 'c', 7),
    ("port", "RX_NO_BUFFER", 'c', 8),
    ("port", "RX_CSUM_ERRORS", 'c', 9),
    ("port", "TX_ERRORS", 'c', 10),
    ("port", "RX_FILTERED", 'c', 11),
    ("port", "RX_VLAN", 'c', 12),
    ("port", "TX_TSO_SEGMENTS", 'c', 13),
    ("port", "RX_GRO_MERGED", 'c', 14),
    ("port", "RX_BROADCAST", 'c', 15),
    ("port", "RX_MULTICAST", 'c', 16),
    ("port", "DMA_FAULTS", 'c', 17),
    ("rss", "HASH_TYPES", 'w', 0),
    ("rss", "DEFAULT_QUEUE", 'w', 1),
    ("rss", "KEY[0]", 'w', 2),
    ("rss", "RETA[0]", 'w', 12),
    ("rss", "RETA[31]", 'w', 43),
    ("offload", "ENABLE", 'w', 0),
    ("device", "RESET", 'o', 0),
];

/// Per-entry register order of the array blocks, as `(block, register, kind, index in entry)`.
const ENTRY_WIRING: &[(&str, &str, char, usize)] = &[
    ("txq", "BASE_LO", 'w', 0),
    ("txq", "BASE_HI", 'w', 1),
    ("txq", "SIZE_LOG2", 'w', 2),
    ("txq", "CQ", 'w', 3),
    ("txq", "CTRL", 'w', 4),
    ("txq", "PROD", 'w', 5),
    ("txq", "CONS", 'r', 0),
    ("txq", "STATUS", 'r', 1),
    ("rxq", "BASE_LO", 'w', 0),
    ("rxq", "BASE_HI", 'w', 1),
    ("rxq", "SIZE_LOG2", 'w', 2),
    ("rxq", "CQ", 'w', 3),
    ("rxq", "CTRL", 'w', 4),
    ("rxq", "PROD", 'w', 5),
    ("rxq", "CONS", 'r', 0),
    ("rxq", "STATUS", 'r', 1),
    ("cq", "BASE_LO", 'w', 0),
    ("cq", "BASE_HI", 'w', 1),
    ("cq", "SIZE_LOG2", 'w', 2),
    ("cq", "VECTOR", 'w', 3),
    ("cq", "CTRL", 'w', 4),
    ("cq", "CONS", 'w', 5),
    ("cq", "PROD", 'r', 0),
    ("cq", "STATUS", 'r', 1),
    ("irq", "MOD_USECS", 'w', 0),
    ("irq", "MOD_FRAMES", 'w', 1),
    ("irq", "MASK", 'w', 2),
    ("irq", "COUNT", 'r', 0),
];

/// The card.
#[derive(LogicBlock)]
pub struct OxnicNic {
    /// Core clock.
    pub clock: Signal<In, Clock>,
    /// MMIO register bus.
    pub bus: RegBusTarget,
    /// DMA reads.
    pub dma_rd: DmaReadMaster,
    /// DMA writes.
    pub dma_wr: DmaWriteMaster,
    /// Frames from the wire, FCS included.
    pub phy_rx: StreamSink<64, 8>,
    /// Frames to the wire, FCS included.
    pub phy_tx: StreamSource<64, 8>,
    /// Interrupt pulses, one line per vector.
    pub irq: Signal<Out, Bits<VECTORS>>,

    device_regs: RegBlock,
    port_regs: RegBlock,
    rss_regs: RegBlock,
    offload_regs: RegBlock,
    irq_regs: RegBlock,
    txq_regs: RegBlock,
    rxq_regs: RegBlock,
    cq_regs: RegBlock,
    mac_rx: MacRx,
    rx_fifo: PacketFifo<64, 8, RX_FIFO_LOG2, 12>,
    classify: RxClassify,
    rx_engine: RxEngine,
    tx_engine: TxEngine,
    tx_csum: TxChecksumJumbo,
    mac_tx: MacTx,

    // Constants.
    dev_ro: Vec<Constant<Bits<32>>>,
    cid: Vec<Constant<Bits<4>>>,
    qn: Vec<Constant<Bits<5>>>,
    us_last: Constant<Bits<8>>,
    max_resident: Constant<Bits<8>>,
    one16: Constant<Bits<16>>,

    // RSS configuration, kept whole (written a word at a time).
    rss_table: RssTable,

    // Configuration copies, refreshed two cycles after a bus write.
    wr_d1: DFF<Bit>,
    wr_d2: DFF<Bit>,
    // Per queue: RX queues 0..QUEUES, TX queues QUEUES..2*QUEUES.
    q_gate: Vec<EnReg<Bit>>,
    q_active: Vec<EnReg<Bit>>,
    q_cq: Vec<EnReg<Bits<4>>>,
    q_cq_base: Vec<EnReg<Bits<64>>>,
    q_cq_log2: Vec<EnReg<Bits<4>>>,
    q_cq_cons: Vec<EnReg<Bits<16>>>,
    q_vec: Vec<EnReg<Bits<4>>>,
    // The engines' completion events, registered: seen in the cycle the index has moved.
    ev_rx: DFF<Bit>,
    ev_rx_q: DFF<Bits<4>>,
    ev_tx: DFF<Bit>,
    ev_tx_q: DFF<Bits<4>>,
    // Armed queues, bit q for queue q (one register: a simulator copies it once a cycle).
    q_armed: DFF<Bits<16>>,
    // Queues armed and queues fired in this cycle, as bits (worked out only when one is).
    arm_bits: Signal<Local, Bits<16>>,
    fire_bits: Signal<Local, Bits<16>>,
    q_arm: Vec<Signal<Local, Bit>>,
    cq_gate: Vec<EnReg<Bit>>,
    // Local per-queue values.
    q_bind: Vec<Signal<Local, Bits<4>>>,
    q_cq_prod: Vec<Signal<Local, Bits<16>>>,
    q_fire: Vec<Signal<Local, Bit>>,
    // Width converters (rust-hdl cannot cast an indexed signal inside a loop).
    w64: Vec<Widen<32, 64>>,
    w32: Vec<Widen<16, 32>>,

    // Interrupt vectors.
    us_div: DFF<Bits<8>>,
    us_tick: Signal<Local, Bit>,
    irq_mod: IrqModerator,
    any_fire: Signal<Local, Bit>,
    any_armed: Signal<Local, Bit>,
    ev: Signal<Local, Bit>,
    ev_vec: Signal<Local, Bits<4>>,

    // RX frame bookkeeping.
    keep_bits: DFF<Bits<8>>,
    keep_wr: DFF<Bits<3>>,
    keep_rd: DFF<Bits<3>>,
    resident: DFF<Bits<8>>,
    crowded: Signal<Local, Bit>,
    rx_enter: Signal<Local, Bit>,
    rx_leave: Signal<Local, Bit>,
    meta_keep: Signal<Local, Bit>,
    csum_on: Signal<Local, Bit>,

    // DMA arbitration.
    rd_last_tx: DFF<Bit>,
    rd_sel_tx: Signal<Local, Bit>,
    rsp_tx: Signal<Local, Bit>,
    // Skid buffers at the card's edges (`Skid`: `in_ready` from a flop, so nothing inside
    // sees an outside `ready`): DMA read responses in (data | keep, tag << 16 | last, error
    // << 1), and out DMA write words (`wrs`: addr | data | keep, last << 16), DMA read
    // requests (`rqs`: addr | len | tag) and wire words (`txs`: data | keep | last, user << 1).
    rsp_skid: Skid<128, 24, 2>,
    rsp_taken: Signal<Local, Bit>,
    rsp_keep: Signal<Local, Bits<16>>,
    rsp_tag: Signal<Local, Bits<8>>,
    rsp_last: Signal<Local, Bit>,
    rsp_error: Signal<Local, Bit>,
    wrs_skid: Skid<64, 128, 17>,
    rqs_skid: Skid<64, 16, 8>,
    txs_skid: Skid<64, 8, 2>,
    // What the card offers to the outgoing skid buffers.
    wrs_in_valid: Signal<Local, Bit>,
    wrs_in_addr: Signal<Local, Bits<64>>,
    wrs_in_data: Signal<Local, Bits<128>>,
    wrs_in_keep: Signal<Local, Bits<16>>,
    wrs_in_last: Signal<Local, Bit>,
    rqs_in_valid: Signal<Local, Bit>,
    rqs_in_addr: Signal<Local, Bits<64>>,
    rqs_in_len: Signal<Local, Bits<16>>,
    rqs_in_tag: Signal<Local, Bits<8>>,
    // The wire's words are registered as they enter (as at an I/O pin): nothing in the MAC
    // is combinational from the card's inputs.
    rxin_data: DFF<Bits<64>>,
    rxin_keep: DFF<Bits<8>>,
    rxin_last: DFF<Bit>,
    rxin_user: DFF<Bit>,
    rxin_valid: DFF<Bit>,
    wr_busy: DFF<Bit>,
    wr_owner_tx: DFF<Bit>,
    wr_sel_tx: Signal<Local, Bit>,

    // Counters: the card's own, and the reset baseline.
    rx_missed: DFF<Bits<64>>,
    rx_vlan: DFF<Bits<64>>,
    dma_faults: DFF<Bits<64>>,
    ctr_raw: Vec<Signal<Local, Bits<64>>>,
    ctr_base: Vec<EnReg<Bits<64>>>,
    reset: Signal<Local, Bit>,
}

/// Zero-extends `inp` (`N` bits) to `out` (`M` bits). rust-hdl sizes a cast by evaluating its
/// argument when it writes Verilog, which fails for a signal indexed by a loop variable; a
/// child block per converted signal moves the cast out of the loop. Verilator inlines it.
#[derive(LogicBlock, Default)]
pub struct Widen<const N: usize, const M: usize> {
    /// The narrow value.
    pub inp: Signal<In, Bits<N>>,
    /// The same value, zero-extended.
    pub out: Signal<Out, Bits<M>>,
}

impl<const N: usize, const M: usize> Logic for Widen<N, M> {
    #[hdl_gen]
    fn update(&mut self) {
        self.out.next = bit_cast::<M, N>(self.inp.val());
    }
}

/// Port counters.
const CTRS: usize = 18;

fn en_regs<T: Synth>(n: usize) -> Vec<EnReg<T>> {
    (0..n).map(|_| EnReg::default()).collect()
}

fn locals<T: Synth>(n: usize) -> Vec<Signal<Local, T>> {
    (0..n).map(|_| Signal::default()).collect()
}

fn check_wiring(name: &str, l: &Layout, reg: &str, kind: char, index: usize) {
    let found = match kind {
        'w' => l.rw_index(reg),
        'r' => l.ro_index(reg),
        'c' => l.ctr_index(reg),
        'o' => l.wo_index(reg),
        _ => None,
    };
    assert_eq!(
        found,
        Some(index),
        "oxnic_nic wiring: {name}.{reg} ({kind}) is not word {index} of the abi layout"
    );
}

impl OxnicNic {
    /// Builds the card.
    ///
    /// # Panics
    /// If the abi's register layout no longer matches the indices the card is wired with.
    pub fn new() -> Self {
        let block =
            |def: &'static regs::BlockDef, entries: usize| RegBlock::new(def, entries as u32);
        let device_regs = block(&regs::device::DEF, 0);
        let port_regs = block(&regs::port::DEF, 0);
        let rss_regs = block(&regs::rss::DEF, 0);
        let offload_regs = block(&regs::offload::DEF, 0);
        let irq_regs = block(&regs::irq::DEF, VECTORS);
        let txq_regs = block(&regs::txq::DEF, QUEUES);
        let rxq_regs = block(&regs::rxq::DEF, QUEUES);
        let cq_regs = block(&regs::cq::DEF, CQS);
        let by_name = |n: &str| -> &Layout {
            match n {
                "device" => device_regs.layout(),
                "port" => port_regs.layout(),
                "rss" => rss_regs.layout(),
                "offload" => offload_regs.layout(),
                "irq" => irq_regs.layout(),
                "txq" => txq_regs.layout(),
                "rxq" => rxq_regs.layout(),
                _ => cq_regs.layout(),
            }
        };
        for &(b, reg, kind, index) in WIRING {
            check_wiring(b, by_name(b), reg, kind, index);
        }
        for &(b, reg, kind, index) in ENTRY_WIRING {
            let entries = match b {
                "irq" => VECTORS,
                "cq" => CQS,
                _ => QUEUES,
            };
            let per = match (b, kind) {
                ("irq", 'w') => V_RW,
                ("irq", _) => 1,
                (_, 'w') => Q_RW,
                _ => Q_RO,
            };
            for e in 0..entries {
                check_wiring(
                    b,
                    by_name(b),
                    &format!("ENTRY{e}.{reg}"),
                    kind,
                    e * per + index,
                );
            }
        }
        assert_eq!(port_regs.layout().ctr.len(), CTRS, "port counters");
        let dev = device_regs.layout();
        let dev_ro = dev
            .ro
            .iter()
            .map(|s| {
                let v = match s.name.as_str() {
                    "ID" => PCI_ID,
                    "HW_VERSION" => HW_VERSION,
                    "BUILD_ID" => BUILD_ID,
                    "FEATURES" => FEATURES,
                    "NUM_TXQ" | "NUM_RXQ" => QUEUES as u32,
                    "NUM_CQ" => CQS as u32,
                    "NUM_VECTORS" => VECTORS as u32,
                    "MAX_RING_LOG2" => features::MAX_RING_LOG2,
                    "DATAPATH_BITS" => 64,
                    "MAX_TSO_BYTES" => 0,
                    "RETA_SIZE" => features::RETA_SIZE as u32,
                    "MAX_SG_SEGS" => features::MAX_SG_SEGS,
                    "CLOCK_KHZ" => CLOCK_KHZ,
                    "MAX_MTU" => features::MAX_MTU,
                    other => panic!("oxnic_nic: no value for device.{other}"),
                };
                Constant::new(Bits::<32>::from(u64::from(v)))
            })
            .collect();
        let nq = 2 * QUEUES;
        OxnicNic {
            clock: Default::default(),
            bus: Default::default(),
            dma_rd: Default::default(),
            dma_wr: Default::default(),
            phy_rx: Default::default(),
            phy_tx: Default::default(),
            irq: Default::default(),
            device_regs,
            port_regs,
            rss_regs,
            offload_regs,
            irq_regs,
            txq_regs,
            rxq_regs,
            cq_regs,
            mac_rx: MacRx::new(),
            rx_fifo: PacketFifo::default(),
            classify: RxClassify::new(),
            rx_engine: RxEngine::new(QUEUES),
            tx_engine: TxEngine::new(QUEUES, features::MAX_SG_SEGS as usize),
            tx_csum: TxChecksumJumbo::new(),
            mac_tx: MacTx::new(),
            dev_ro,
            cid: (0..CQS as u64)
                .map(|c| Constant::new(Bits::<4>::from(c)))
                .collect(),
            qn: (0..nq as u64)
                .map(|q| Constant::new(Bits::<5>::from(q)))
                .collect(),
            us_last: Constant::new(Bits::<8>::from(CYCLES_PER_US - 1)),
            max_resident: Constant::new(Bits::<8>::from(MAX_RESIDENT)),
            one16: Constant::new(Bits::<16>::from(1u64)),
            rss_table: RssTable::new(),
            wr_d1: Default::default(),
            wr_d2: Default::default(),
            q_gate: en_regs(nq),
            q_active: en_regs(nq),
            q_cq: en_regs(nq),
            q_cq_base: en_regs(nq),
            q_cq_log2: en_regs(nq),
            q_cq_cons: en_regs(nq),
            q_vec: en_regs(nq),
            ev_rx: Default::default(),
            ev_rx_q: Default::default(),
            ev_tx: Default::default(),
            ev_tx_q: Default::default(),
            q_armed: Default::default(),
            arm_bits: Default::default(),
            fire_bits: Default::default(),
            q_arm: locals(nq),
            cq_gate: en_regs(CQS),
            q_bind: locals(nq),
            q_cq_prod: locals(nq),
            q_fire: locals(nq),
            w64: (0..64).map(|_| Widen::default()).collect(),
            w32: (0..32).map(|_| Widen::default()).collect(),
            us_div: Default::default(),
            us_tick: Default::default(),
            irq_mod: IrqModerator::new(nq, VECTORS),
            any_fire: Default::default(),
            any_armed: Default::default(),
            ev: Default::default(),
            ev_vec: Default::default(),
            keep_bits: Default::default(),
            keep_wr: Default::default(),
            keep_rd: Default::default(),
            resident: Default::default(),
            crowded: Default::default(),
            rx_enter: Default::default(),
            rx_leave: Default::default(),
            meta_keep: Default::default(),
            csum_on: Default::default(),
            rd_last_tx: Default::default(),
            rd_sel_tx: Default::default(),
            rsp_tx: Default::default(),
            rsp_taken: Default::default(),
            rsp_keep: Default::default(),
            rsp_tag: Default::default(),
            rsp_last: Default::default(),
            rsp_error: Default::default(),
            rsp_skid: Default::default(),
            wrs_skid: Default::default(),
            rqs_skid: Default::default(),
            txs_skid: Default::default(),
            wrs_in_valid: Default::default(),
            wrs_in_addr: Default::default(),
            wrs_in_data: Default::default(),
            wrs_in_keep: Default::default(),
            wrs_in_last: Default::default(),
            rqs_in_valid: Default::default(),
            rqs_in_addr: Default::default(),
            rqs_in_len: Default::default(),
            rqs_in_tag: Default::default(),
            rxin_data: Default::default(),
            rxin_keep: Default::default(),
            rxin_last: Default::default(),
            rxin_user: Default::default(),
            rxin_valid: Default::default(),
            wr_busy: Default::default(),
            wr_owner_tx: Default::default(),
            wr_sel_tx: Default::default(),
            rx_missed: Default::default(),
            rx_vlan: Default::default(),
            dma_faults: Default::default(),
            ctr_raw: locals(CTRS),
            ctr_base: en_regs(CTRS),
            reset: Default::default(),
        }
    }
}

impl Default for OxnicNic {
    fn default() -> Self {
        Self::new()
    }
}

impl Logic for OxnicNic {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self,
            clock,
            wr_d1,
            wr_d2,
            ev_rx,
            ev_rx_q,
            ev_tx,
            ev_tx_q,
            us_div,
            keep_bits,
            keep_wr,
            keep_rd,
            resident,
            rd_last_tx,
            rxin_data,
            rxin_keep,
            rxin_last,
            rxin_user,
            rxin_valid,
            wr_busy,
            wr_owner_tx,
            rx_missed,
            rx_vlan,
            dma_faults
        );
        clock!(
            self,
            clock,
            device_regs,
            port_regs,
            rss_regs,
            offload_regs,
            irq_regs,
            txq_regs,
            rxq_regs,
            cq_regs,
            mac_rx,
            rx_fifo,
            classify,
            rx_engine,
            tx_engine,
            tx_csum,
            mac_tx,
            rsp_skid,
            wrs_skid,
            rqs_skid,
            txs_skid
        );

        // ---- Register bus: every block sees every access; their answers are OR-ed.
        self.device_regs.bus.address.next = self.bus.address.val();
        self.device_regs.bus.write.next = self.bus.write.val();
        self.device_regs.bus.write_data.next = self.bus.write_data.val();
        self.device_regs.bus.read.next = self.bus.read.val();
        self.port_regs.bus.address.next = self.bus.address.val();
        self.port_regs.bus.write.next = self.bus.write.val();
        self.port_regs.bus.write_data.next = self.bus.write_data.val();
        self.port_regs.bus.read.next = self.bus.read.val();
        self.rss_regs.bus.address.next = self.bus.address.val();
        self.rss_regs.bus.write.next = self.bus.write.val();
        self.rss_regs.bus.write_data.next = self.bus.write_data.val();
        self.rss_regs.bus.read.next = self.bus.read.val();
        self.offload_regs.bus.address.next = self.bus.address.val();
        self.offload_regs.bus.write.next = self.bus.write.val();
        self.offload_regs.bus.write_data.next = self.bus.write_data.val();
        self.offload_regs.bus.read.next = self.bus.read.val();
        self.irq_regs.bus.address.next = self.bus.address.val();
        self.irq_regs.bus.write.next = self.bus.write.val();
        self.irq_regs.bus.write_data.next = self.bus.write_data.val();
        self.irq_regs.bus.read.next = self.bus.read.val();
        self.txq_regs.bus.address.next = self.bus.address.val();
        self.txq_regs.bus.write.next = self.bus.write.val();
        self.txq_regs.bus.write_data.next = self.bus.write_data.val();
        self.txq_regs.bus.read.next = self.bus.read.val();
        self.rxq_regs.bus.address.next = self.bus.address.val();
        self.rxq_regs.bus.write.next = self.bus.write.val();
        self.rxq_regs.bus.write_data.next = self.bus.write_data.val();
        self.rxq_regs.bus.read.next = self.bus.read.val();
        self.cq_regs.bus.address.next = self.bus.address.val();
        self.cq_regs.bus.write.next = self.bus.write.val();
        self.cq_regs.bus.write_data.next = self.bus.write_data.val();
        self.cq_regs.bus.read.next = self.bus.read.val();
        self.bus.read_data.next = self.device_regs.bus.read_data.val()
            | self.port_regs.bus.read_data.val()
            | self.rss_regs.bus.read_data.val()
            | self.offload_regs.bus.read_data.val()
            | self.irq_regs.bus.read_data.val()
            | self.txq_regs.bus.read_data.val()
            | self.rxq_regs.bus.read_data.val()
            | self.cq_regs.bus.read_data.val();
        self.bus.read_valid.next = self.device_regs.bus.read_valid.val();

        for i in 0..self.dev_ro.len() {
            self.device_regs.ro[i].next = self.dev_ro[i].val();
        }
        self.reset.next = self.device_regs.wo[0].val() & self.device_regs.wo_data.val().get_bit(0);
        // Link up: the simulated and board PHYs report no link state yet.
        self.port_regs.ro[0].next = 1.into();

        // ---- RSS key and indirection table, kept whole: the word a bus write carries lands
        // there on the same edge as in the register block.
        self.rss_table.clock.next = self.clock.val();
        self.rss_table.write.next = self.bus.write.val();
        self.rss_table.address.next = self.bus.address.val();
        self.rss_table.write_data.next = self.bus.write_data.val();

        // ---- Configuration copies.
        self.wr_d1.d.next = self.bus.write.val();
        self.wr_d2.d.next = self.wr_d1.q.val();
        for c in 0..self.cq_gate.len() {
            self.cq_gate[c].clock.next = self.clock.val();
            self.cq_gate[c].load.next = self.wr_d1.q.val();
            self.cq_gate[c].d.next = false;
        }
        for q in 0..self.q_gate.len() {
            self.q_gate[q].clock.next = self.clock.val();
            self.q_gate[q].load.next = self.wr_d1.q.val();
            self.q_gate[q].d.next = false;
            self.q_active[q].clock.next = self.clock.val();
            self.q_active[q].load.next = self.wr_d2.q.val();
            self.q_active[q].d.next = false;
            // The completion queue settings each queue copies: loaded in the cycle below
            // that decodes them, two cycles after a bus write, and held (at no cost to a
            // simulator) in between.
            self.q_cq[q].clock.next = self.clock.val();
            self.q_cq[q].load.next = self.wr_d2.q.val();
            self.q_cq[q].d.next = 0.into();
            self.q_cq_base[q].clock.next = self.clock.val();
            self.q_cq_base[q].load.next = self.wr_d2.q.val();
            self.q_cq_base[q].d.next = 0.into();
            self.q_cq_log2[q].clock.next = self.clock.val();
            self.q_cq_log2[q].load.next = self.wr_d2.q.val();
            self.q_cq_log2[q].d.next = 0.into();
            self.q_cq_cons[q].clock.next = self.clock.val();
            self.q_cq_cons[q].load.next = self.wr_d2.q.val();
            self.q_cq_cons[q].d.next = 0.into();
            self.q_vec[q].clock.next = self.clock.val();
            self.q_vec[q].load.next = self.wr_d2.q.val();
            self.q_vec[q].d.next = 0.into();
            self.q_arm[q].next = false;
        }
        // A reset and the registers' write strobes come in the cycle after a bus write, and
        // only then (looked at only then).
        // (The gates are loaded in exactly those cycles: held unless changed.)
        if self.wr_d1.q.val() {
            for c in 0..self.cq_gate.len() {
                self.cq_gate[c].d.next = self.cq_gate[c].q.val();
                if self.reset.val() {
                    self.cq_gate[c].d.next = false;
                }
                if self.cq_regs.rw_wr[c * 6 + 4].val() {
                    self.cq_gate[c].d.next = true;
                }
            }
            for q in 0..self.q_gate.len() {
                self.q_gate[q].d.next = self.q_gate[q].q.val();
                if self.reset.val() {
                    self.q_gate[q].d.next = false;
                }
            }
            for q in 0..QUEUES {
                if self.rxq_regs.rw_wr[q * 6 + 4].val() {
                    self.q_gate[q].d.next = true;
                }
                if self.txq_regs.rw_wr[q * 6 + 4].val() {
                    self.q_gate[q + 8].d.next = true;
                }
            }
        }
        for q in 0..QUEUES {
            self.q_bind[q].next = self.rxq_regs.rw[q * 6 + 3].val().get_bits::<4>(0);
            self.q_bind[q + 8].next = self.txq_regs.rw[q * 6 + 3].val().get_bits::<4>(0);
        }
        if self.wr_d2.q.val() {
            for q in 0..self.q_gate.len() {
                self.q_active[q].d.next = false;
                self.q_cq[q].d.next = self.q_bind[q].val();
                for c in 0..self.cq_gate.len() {
                    if self.q_bind[q].val() == self.cid[c].val() {
                        self.q_active[q].d.next = self.q_gate[q].q.val()
                            & self.cq_regs.rw[c * 6 + 4].val().get_bit(0)
                            & self.cq_gate[c].q.val();
                        self.q_cq_base[q].d.next =
                            self.w64[c + 32].out.val() | (self.w64[c + 48].out.val() << 32);
                        self.q_cq_log2[q].d.next =
                            self.cq_regs.rw[c * 6 + 2].val().get_bits::<4>(0);
                        self.q_vec[q].d.next = self.cq_regs.rw[c * 6 + 3].val().get_bits::<4>(0);
                        self.q_cq_cons[q].d.next =
                            self.cq_regs.rw[c * 6 + 5].val().get_bits::<16>(0);
                    }
                }
                // A completion queue serves one queue: the lowest-numbered one bound to it.
                for p in 0..self.q_gate.len() {
                    if (self.qn[p].val() < self.qn[q].val())
                        & (self.q_bind[p].val() == self.q_bind[q].val())
                    {
                        self.q_active[q].d.next = false;
                    }
                }
            }
            // A binding with bits above the completion queue number, or a queue not enabled.
            // (Decoded here, in the cycle that copies: a simulator evaluates every separate
            // signal every cycle.)
            for q in 0..QUEUES {
                if self.rxq_regs.rw[q * 6 + 3].val().get_bits::<28>(4).any()
                    | !self.rxq_regs.rw[q * 6 + 4].val().get_bit(0)
                {
                    self.q_active[q].d.next = false;
                }
                if self.txq_regs.rw[q * 6 + 3].val().get_bits::<28>(4).any()
                    | !self.txq_regs.rw[q * 6 + 4].val().get_bit(0)
                {
                    self.q_active[q + 8].d.next = false;
                }
            }
        }

        // ---- RX engine queues.
        for q in 0..QUEUES {
            self.w64[q].inp.next = self.rxq_regs.rw[q * 6].val();
            self.w64[q + 8].inp.next = self.rxq_regs.rw[q * 6 + 1].val();
            self.rx_engine.rxq_base[q].next =
                self.w64[q].out.val() | (self.w64[q + 8].out.val() << 32);
            self.rx_engine.rxq_size_log2[q].next =
                self.rxq_regs.rw[q * 6 + 2].val().get_bits::<4>(0);
            self.rx_engine.rxq_enable[q].next = self.q_active[q].q.val();
            self.rx_engine.rxq_prod[q].next = self.rxq_regs.rw[q * 6 + 5].val().get_bits::<16>(0);
            self.rx_engine.cq_base[q].next = self.q_cq_base[q].q.val();
            self.rx_engine.cq_size_log2[q].next = self.q_cq_log2[q].q.val();
            // The read-only words are worked out only in a read cycle: only the bus reads them.
            self.w32[q].inp.next = 0.into();
            self.rxq_regs.ro[q * 2 + 1].next = 0.into();
            if self.bus.read.val() {
                self.w32[q].inp.next = self.rx_engine.rxq_cons[q].val();
                // STATUS: bit 0 active, bit 1 fault.
                if self.rx_engine.rxq_fault[q].val() {
                    if self.q_active[q].q.val() {
                        self.rxq_regs.ro[q * 2 + 1].next = 3.into();
                    } else {
                        self.rxq_regs.ro[q * 2 + 1].next = 2.into();
                    }
                } else if self.q_active[q].q.val() {
                    self.rxq_regs.ro[q * 2 + 1].next = 1.into();
                }
            }
            self.rxq_regs.ro[q * 2].next = self.w32[q].out.val();
            self.q_cq_prod[q].next = self.rx_engine.cq_prod[q].val();
        }
        // ---- TX engine queues.
        for q in 0..QUEUES {
            self.w64[q + 16].inp.next = self.txq_regs.rw[q * 6].val();
            self.w64[q + 24].inp.next = self.txq_regs.rw[q * 6 + 1].val();
            self.tx_engine.ring_base[q].next =
                self.w64[q + 16].out.val() | (self.w64[q + 24].out.val() << 32);
            self.tx_engine.ring_log2[q].next = self.txq_regs.rw[q * 6 + 2].val().get_bits::<4>(0);
            self.tx_engine.enable[q].next = self.q_active[q + 8].q.val();
            self.tx_engine.prod[q].next = self.txq_regs.rw[q * 6 + 5].val().get_bits::<16>(0);
            self.tx_engine.cq_base[q].next = self.q_cq_base[q + 8].q.val();
            self.tx_engine.cq_log2[q].next = self.q_cq_log2[q + 8].q.val();
            self.w32[q + 8].inp.next = 0.into();
            self.txq_regs.ro[q * 2 + 1].next = 0.into();
            if self.bus.read.val() {
                self.w32[q + 8].inp.next = self.tx_engine.cons[q].val();
                // STATUS: bit 0 active.
                if self.q_active[q + 8].q.val() {
                    self.txq_regs.ro[q * 2 + 1].next = 1.into();
                }
            }
            self.txq_regs.ro[q * 2].next = self.w32[q + 8].out.val();
            self.q_cq_prod[q + 8].next = self.tx_engine.cq_prod[q].val();
        }

        // ---- Completion queues: arming, firing, and their read-only words.
        // A completion written: its queue's vector counts a frame (of two in one cycle, the
        // TX queue's).
        self.ev_rx.d.next = self.rx_engine.cq_event.val();
        self.ev_rx_q.d.next = self.rx_engine.cq_event_q.val();
        self.ev_tx.d.next = self.tx_engine.cq_event.val();
        self.ev_tx_q.d.next = self.tx_engine.cq_event_q.val();
        self.ev.next = self.ev_rx.q.val() | self.ev_tx.q.val();
        self.ev_vec.next = 0.into();
        if self.ev_rx.q.val() {
            for q in 0..QUEUES {
                if self.ev_rx_q.q.val() == self.cid[q].val() {
                    self.ev_vec.next = self.q_vec[q].q.val();
                }
            }
        }
        if self.ev_tx.q.val() {
            for q in 0..QUEUES {
                if self.ev_tx_q.q.val() == self.cid[q].val() {
                    self.ev_vec.next = self.q_vec[q + 8].q.val();
                }
            }
        }
        self.any_fire.next = false;
        for q in 0..self.q_gate.len() {
            self.w32[q + 16].inp.next = 0.into();
            if self.bus.read.val() {
                self.w32[q + 16].inp.next = self.q_cq_prod[q].val();
            }
            self.q_fire[q].next = false;
        }
        // Only an armed queue can fire: looked at only while one is (a busy driver polls with
        // its interrupts unarmed). One OR of all 16, written out: a kernel cannot accumulate.
        self.any_armed.next = self.q_armed.q.val().any();
        if self.any_armed.val() {
            for q in 0..self.q_gate.len() {
                if self.q_armed.q.val().get_bit(q) {
                    self.q_fire[q].next = self.q_active[q].q.val()
                        & (self.q_cq_prod[q].val() != self.q_cq_cons[q].q.val());
                    if self.q_fire[q].val() {
                        self.any_fire.next = true;
                    }
                }
            }
        }
        // Arming: a CTRL write with bit 1 (in the cycle after a bus write, and only then).
        if self.wr_d1.q.val() {
            for c in 0..self.cq_gate.len() {
                if self.cq_regs.rw_wr[c * 6 + 4].val() & self.cq_regs.rw[c * 6 + 4].val().get_bit(1)
                {
                    for q in 0..self.q_gate.len() {
                        if self.q_cq[q].q.val() == self.cid[c].val() {
                            self.q_arm[q].next = true;
                        }
                    }
                }
            }
        }
        // A fire disarms its queue; an arming write arms it (written out: a kernel cannot
        // accumulate the bits in a loop).
        self.q_armed.clock.next = self.clock.val();
        self.q_armed.d.next = self.q_armed.q.val();
        self.fire_bits.next = 0.into();
        self.arm_bits.next = 0.into();
        if self.any_fire.val() | self.wr_d1.q.val() {
            self.fire_bits.next = bit_cast::<16, 1>(self.q_fire[0].val().into())
                | (bit_cast::<16, 1>(self.q_fire[1].val().into()) << 1)
                | (bit_cast::<16, 1>(self.q_fire[2].val().into()) << 2)
                | (bit_cast::<16, 1>(self.q_fire[3].val().into()) << 3)
                | (bit_cast::<16, 1>(self.q_fire[4].val().into()) << 4)
                | (bit_cast::<16, 1>(self.q_fire[5].val().into()) << 5)
                | (bit_cast::<16, 1>(self.q_fire[6].val().into()) << 6)
                | (bit_cast::<16, 1>(self.q_fire[7].val().into()) << 7)
                | (bit_cast::<16, 1>(self.q_fire[8].val().into()) << 8)
                | (bit_cast::<16, 1>(self.q_fire[9].val().into()) << 9)
                | (bit_cast::<16, 1>(self.q_fire[10].val().into()) << 10)
                | (bit_cast::<16, 1>(self.q_fire[11].val().into()) << 11)
                | (bit_cast::<16, 1>(self.q_fire[12].val().into()) << 12)
                | (bit_cast::<16, 1>(self.q_fire[13].val().into()) << 13)
                | (bit_cast::<16, 1>(self.q_fire[14].val().into()) << 14)
                | (bit_cast::<16, 1>(self.q_fire[15].val().into()) << 15);
            self.arm_bits.next = bit_cast::<16, 1>(self.q_arm[0].val().into())
                | (bit_cast::<16, 1>(self.q_arm[1].val().into()) << 1)
                | (bit_cast::<16, 1>(self.q_arm[2].val().into()) << 2)
                | (bit_cast::<16, 1>(self.q_arm[3].val().into()) << 3)
                | (bit_cast::<16, 1>(self.q_arm[4].val().into()) << 4)
                | (bit_cast::<16, 1>(self.q_arm[5].val().into()) << 5)
                | (bit_cast::<16, 1>(self.q_arm[6].val().into()) << 6)
                | (bit_cast::<16, 1>(self.q_arm[7].val().into()) << 7)
                | (bit_cast::<16, 1>(self.q_arm[8].val().into()) << 8)
                | (bit_cast::<16, 1>(self.q_arm[9].val().into()) << 9)
                | (bit_cast::<16, 1>(self.q_arm[10].val().into()) << 10)
                | (bit_cast::<16, 1>(self.q_arm[11].val().into()) << 11)
                | (bit_cast::<16, 1>(self.q_arm[12].val().into()) << 12)
                | (bit_cast::<16, 1>(self.q_arm[13].val().into()) << 13)
                | (bit_cast::<16, 1>(self.q_arm[14].val().into()) << 14)
                | (bit_cast::<16, 1>(self.q_arm[15].val().into()) << 15);
            self.q_armed.d.next =
                (self.q_armed.q.val() & !self.fire_bits.val()) | self.arm_bits.val();
        }
        for c in 0..self.cq_gate.len() {
            self.w64[c + 32].inp.next = self.cq_regs.rw[c * 6].val();
            self.w64[c + 48].inp.next = self.cq_regs.rw[c * 6 + 1].val();
            self.cq_regs.ro[c * 2].next = 0.into();
            self.cq_regs.ro[c * 2 + 1].next = 0.into();
            if self.bus.read.val() {
                for q in 0..self.q_gate.len() {
                    if self.q_active[q].q.val() & (self.q_cq[q].q.val() == self.cid[c].val()) {
                        self.cq_regs.ro[c * 2].next = self.w32[q + 16].out.val();
                        // STATUS: bit 0 active (always, when reported), 1 overflow, 2 armed.
                        // (Worked out here, in a read cycle, for the queue read: only the bus
                        // reads it.)
                        if (self.q_cq_prod[q].val() - self.q_cq_cons[q].q.val())
                            > (self.one16.val() << self.q_cq_log2[q].q.val())
                        {
                            if self.q_armed.q.val().get_bit(q) {
                                self.cq_regs.ro[c * 2 + 1].next = 7.into();
                            } else {
                                self.cq_regs.ro[c * 2 + 1].next = 3.into();
                            }
                        } else if self.q_armed.q.val().get_bit(q) {
                            self.cq_regs.ro[c * 2 + 1].next = 5.into();
                        } else {
                            self.cq_regs.ro[c * 2 + 1].next = 1.into();
                        }
                    }
                }
            }
        }

        // ---- Interrupt vectors and moderation.
        self.us_tick.next = self.us_div.q.val() == self.us_last.val();
        self.us_div.d.next = self.us_div.q.val() + 1;
        if self.us_tick.val() {
            self.us_div.d.next = 0.into();
        }
        // The vectors and their moderation (see `irq_mod`): the queues that fire, the
        // completions, and each vector's registers.
        self.irq_mod.clock.next = self.clock.val();
        self.irq_mod.any_fire.next = self.any_fire.val();
        self.irq_mod.ev.next = self.ev.val();
        self.irq_mod.ev_vec.next = self.ev_vec.val();
        self.irq_mod.us_tick.next = self.us_tick.val();
        for q in 0..self.q_gate.len() {
            self.irq_mod.q_fire[q].next = self.q_fire[q].val();
            self.irq_mod.q_vec[q].next = self.q_vec[q].q.val();
        }
        for v in 0..VECTORS {
            self.irq_mod.usecs[v].next = self.irq_regs.rw[v * 3].val();
            self.irq_mod.frames[v].next = self.irq_regs.rw[v * 3 + 1].val();
            self.irq_mod.ctrl[v].next = self.irq_regs.rw[v * 3 + 2].val();
            self.irq_regs.ro[v].next = self.irq_mod.count[v].val();
        }
        self.irq.next = self.irq_mod.irq.val();

        // ---- RX path.
        self.rxin_data.d.next = self.phy_rx.data.val();
        self.rxin_keep.d.next = self.phy_rx.keep.val();
        self.rxin_last.d.next = self.phy_rx.last.val();
        self.rxin_user.d.next = self.phy_rx.user.val();
        self.rxin_valid.d.next = self.phy_rx.valid.val();
        self.mac_rx.phy.data.next = self.rxin_data.q.val();
        self.mac_rx.phy.keep.next = self.rxin_keep.q.val();
        self.mac_rx.phy.last.next = self.rxin_last.q.val();
        self.mac_rx.phy.user.next = self.rxin_user.q.val();
        self.mac_rx.phy.valid.next = self.rxin_valid.q.val();
        // The MAC never pushes back (`mac_rx` documents `phy$ready` as always high), so the
        // input register needs no skid.
        self.phy_rx.ready.next = self.mac_rx.phy.ready.val();
        self.mac_rx.mtu.next = self.port_regs.rw[2].val().get_bits::<16>(0);
        self.mac_rx.mac_addr.next = bit_cast::<48, 32>(self.port_regs.rw[0].val())
            | (bit_cast::<48, 16>(self.port_regs.rw[1].val().get_bits::<16>(0)) << 32);
        self.mac_rx.rx_enable.next = self.port_regs.rw[3].val().get_bit(0);
        self.mac_rx.promisc.next = self.port_regs.rw[3].val().get_bit(2);
        self.mac_rx.source.ready.next = true;

        self.crowded.next = self.resident.q.val() >= self.max_resident.val();
        self.rx_fifo.sink.data.next = self.mac_rx.source.data.val();
        self.rx_fifo.sink.keep.next = self.mac_rx.source.keep.val();
        self.rx_fifo.sink.last.next = self.mac_rx.source.last.val();
        self.rx_fifo.sink.user.next = self.mac_rx.source.user.val() | self.crowded.val();
        self.rx_fifo.sink.valid.next = self.mac_rx.source.valid.val();
        self.classify.sink.data.next = self.mac_rx.source.data.val();
        self.classify.sink.keep.next = self.mac_rx.source.keep.val();
        self.classify.sink.last.next = self.mac_rx.source.last.val();
        self.classify.sink.user.next = self.mac_rx.source.user.val();
        self.classify.sink.valid.next = self.mac_rx.source.valid.val();
        self.classify.key.next = self.rss_table.key.val();
        self.classify.reta.next = self.rss_table.reta.val();
        self.classify.hash_types.next = self.rss_regs.rw[0].val().get_bits::<3>(0);
        self.classify.default_queue.next = self.rss_regs.rw[1].val().get_bits::<8>(0);
        self.classify.enable.next = self.offload_regs.rw[0].val().get_bit(6);

        // Frames resident in the FIFO: in when kept, out when their last word leaves.
        self.rx_enter.next = self.rx_fifo.frame_kept.val();
        // (The RX engine's `ready` is the FIFO's `source.ready`, assigned below: read here
        // as the engine's, it is a value this block does not change again.)
        self.rx_leave.next = self.rx_fifo.source.valid.val()
            & self.rx_engine.sink.ready.val()
            & self.rx_fifo.source.last.val();
        if self.rx_enter.val() & !self.rx_leave.val() {
            self.resident.d.next = self.resident.q.val() + 1;
        }
        if !self.rx_enter.val() & self.rx_leave.val() {
            self.resident.d.next = self.resident.q.val() - 1;
        }
        if self.rx_fifo.frame_end.val() {
            self.keep_bits.d.next = self
                .keep_bits
                .q
                .val()
                .replace_bit(self.keep_wr.q.val().index(), self.rx_fifo.frame_kept.val());
            self.keep_wr.d.next = self.keep_wr.q.val() + 1;
            if !self.mac_rx.source.user.val() & !self.rx_fifo.frame_kept.val() {
                self.rx_missed.d.next = self.rx_missed.q.val() + 1;
            }
        }
        self.meta_keep.next = self.keep_bits.q.val().get_bit(self.keep_rd.q.val().index());
        if self.classify.meta_valid.val() {
            self.keep_rd.d.next = self.keep_rd.q.val() + 1;
            if self.meta_keep.val() & self.classify.vlan.val() {
                self.rx_vlan.d.next = self.rx_vlan.q.val() + 1;
            }
        }
        self.csum_on.next = self.offload_regs.rw[0].val().get_bit(0);
        self.rx_engine.meta_valid.next = self.classify.meta_valid.val() & self.meta_keep.val();
        self.rx_engine.meta_frame_len.next = self.classify.frame_len.val();
        self.rx_engine.meta_vlan.next = self.classify.vlan.val();
        self.rx_engine.meta_vlan_tci.next = self.classify.vlan_tci.val();
        self.rx_engine.meta_is_ipv4.next = self.classify.is_ipv4.val();
        self.rx_engine.meta_is_fragment.next = self.classify.is_fragment.val();
        self.rx_engine.meta_is_tcp.next = self.classify.is_tcp.val();
        self.rx_engine.meta_is_udp.next = self.classify.is_udp.val();
        self.rx_engine.meta_ip_csum.next = 0.into();
        self.rx_engine.meta_l4_csum.next = 0.into();
        if self.csum_on.val() {
            self.rx_engine.meta_ip_csum.next = self.classify.ip_csum.val();
            self.rx_engine.meta_l4_csum.next = self.classify.l4_csum.val();
        }
        self.rx_engine.meta_csum_complete.next = self.classify.csum_complete.val();
        self.rx_engine.meta_hash.next = self.classify.hash.val();
        self.rx_engine.meta_hash_type.next = self.classify.hash_type.val();
        self.rx_engine.meta_rx_queue.next = self.classify.rx_queue.val();
        self.rx_engine.sink.data.next = self.rx_fifo.source.data.val();
        self.rx_engine.sink.keep.next = self.rx_fifo.source.keep.val();
        self.rx_engine.sink.last.next = self.rx_fifo.source.last.val();
        self.rx_engine.sink.user.next = self.rx_fifo.source.user.val();
        self.rx_engine.sink.valid.next = self.rx_fifo.source.valid.val();
        self.rx_fifo.source.ready.next = self.rx_engine.sink.ready.val();

        // ---- TX path.
        self.tx_csum.sink.data.next = self.tx_engine.source.data.val();
        self.tx_csum.sink.keep.next = self.tx_engine.source.keep.val();
        self.tx_csum.sink.last.next = self.tx_engine.source.last.val();
        self.tx_csum.sink.user.next = self.tx_engine.source.user.val();
        self.tx_csum.sink.valid.next = self.tx_engine.source.valid.val();
        self.tx_engine.source.ready.next = self.tx_csum.sink.ready.val();
        self.tx_csum.csum_en.next =
            self.tx_engine.csum_en.val() & self.offload_regs.rw[0].val().get_bit(1);
        self.tx_csum.csum_start.next = self.tx_engine.csum_start.val();
        self.tx_csum.csum_offset.next = self.tx_engine.csum_offset.val();
        self.mac_tx.sink.data.next = self.tx_csum.source.data.val();
        self.mac_tx.sink.keep.next = self.tx_csum.source.keep.val();
        self.mac_tx.sink.last.next = self.tx_csum.source.last.val();
        self.mac_tx.sink.user.next = self.tx_csum.source.user.val();
        self.mac_tx.sink.valid.next = self.tx_csum.source.valid.val();
        self.tx_csum.source.ready.next = self.mac_tx.sink.ready.val();
        self.mac_tx.tx_enable.next = self.port_regs.rw[3].val().get_bit(1);
        self.txs_skid.in_a.next = self.mac_tx.phy.data.val();
        self.txs_skid.in_b.next = self.mac_tx.phy.keep.val();
        self.txs_skid.in_c.next = bit_cast::<2, 1>(self.mac_tx.phy.last.val().into())
            | (bit_cast::<2, 1>(self.mac_tx.phy.user.val().into()) << 1);
        self.txs_skid.in_valid.next = self.mac_tx.phy.valid.val();
        self.mac_tx.phy.ready.next = self.txs_skid.in_ready.val();
        self.phy_tx.data.next = self.txs_skid.out_a.val();
        self.phy_tx.keep.next = self.txs_skid.out_b.val();
        self.phy_tx.last.next = self.txs_skid.out_c.val().get_bit(0);
        self.phy_tx.user.next = self.txs_skid.out_c.val().get_bit(1);
        self.phy_tx.valid.next = self.txs_skid.out_valid.val();
        self.txs_skid.out_ready.next = self.phy_tx.ready.val();

        // ---- DMA reads: alternate between the engines; steer responses by tag bit 7.
        self.rd_sel_tx.next = self.tx_engine.rd.req_valid.val()
            & (!self.rx_engine.dma_rd.req_valid.val() | !self.rd_last_tx.q.val());
        self.rqs_in_addr.next = self.rx_engine.dma_rd.req_addr.val();
        self.rqs_in_len.next = self.rx_engine.dma_rd.req_len.val();
        self.rqs_in_tag.next = self.rx_engine.dma_rd.req_tag.val() & 0x7f;
        self.rqs_in_valid.next = self.rx_engine.dma_rd.req_valid.val();
        self.rx_engine.dma_rd.req_ready.next = self.rqs_skid.in_ready.val() & !self.rd_sel_tx.val();
        self.tx_engine.rd.req_ready.next = self.rqs_skid.in_ready.val() & self.rd_sel_tx.val();
        if self.rd_sel_tx.val() {
            self.rqs_in_addr.next = self.tx_engine.rd.req_addr.val();
            self.rqs_in_len.next = self.tx_engine.rd.req_len.val();
            self.rqs_in_tag.next = self.tx_engine.rd.req_tag.val() | 0x80;
            self.rqs_in_valid.next = true;
        }
        if self.rqs_in_valid.val() & self.rqs_skid.in_ready.val() {
            self.rd_last_tx.d.next = self.rd_sel_tx.val();
        }
        self.rqs_skid.in_a.next = self.rqs_in_addr.val();
        self.rqs_skid.in_b.next = self.rqs_in_len.val();
        self.rqs_skid.in_c.next = self.rqs_in_tag.val();
        self.rqs_skid.in_valid.next = self.rqs_in_valid.val();
        self.dma_rd.req_addr.next = self.rqs_skid.out_a.val();
        self.dma_rd.req_len.next = self.rqs_skid.out_b.val();
        self.dma_rd.req_tag.next = self.rqs_skid.out_c.val();
        self.dma_rd.req_valid.next = self.rqs_skid.out_valid.val();
        self.rqs_skid.out_ready.next = self.dma_rd.req_ready.val();
        // Responses: the skid buffer's word feeds the engines.
        self.rsp_skid.in_a.next = self.dma_rd.rsp_data.val();
        self.rsp_skid.in_b.next = bit_cast::<24, 16>(self.dma_rd.rsp_keep.val())
            | (bit_cast::<24, 8>(self.dma_rd.rsp_tag.val()) << 16);
        self.rsp_skid.in_c.next = bit_cast::<2, 1>(self.dma_rd.rsp_last.val().into())
            | (bit_cast::<2, 1>(self.dma_rd.rsp_error.val().into()) << 1);
        self.rsp_skid.in_valid.next = self.dma_rd.rsp_valid.val();
        self.dma_rd.rsp_ready.next = self.rsp_skid.in_ready.val();
        self.rsp_keep.next = self.rsp_skid.out_b.val().get_bits::<16>(0);
        self.rsp_tag.next = self.rsp_skid.out_b.val().get_bits::<8>(16);
        self.rsp_last.next = self.rsp_skid.out_c.val().get_bit(0);
        self.rsp_error.next = self.rsp_skid.out_c.val().get_bit(1);
        self.rsp_tx.next = self.rsp_tag.val().get_bit(7);
        self.rx_engine.dma_rd.rsp_data.next = self.rsp_skid.out_a.val();
        self.rx_engine.dma_rd.rsp_keep.next = self.rsp_keep.val();
        self.rx_engine.dma_rd.rsp_tag.next = self.rsp_tag.val() & 0x7f;
        self.rx_engine.dma_rd.rsp_last.next = self.rsp_last.val();
        self.rx_engine.dma_rd.rsp_error.next = self.rsp_error.val();
        self.rx_engine.dma_rd.rsp_valid.next = self.rsp_skid.out_valid.val() & !self.rsp_tx.val();
        self.tx_engine.rd.rsp_data.next = self.rsp_skid.out_a.val();
        self.tx_engine.rd.rsp_keep.next = self.rsp_keep.val();
        self.tx_engine.rd.rsp_tag.next = self.rsp_tag.val() & 0x7f;
        self.tx_engine.rd.rsp_last.next = self.rsp_last.val();
        self.tx_engine.rd.rsp_error.next = self.rsp_error.val();
        self.tx_engine.rd.rsp_valid.next = self.rsp_skid.out_valid.val() & self.rsp_tx.val();
        self.rsp_taken.next = self.rx_engine.dma_rd.rsp_ready.val();
        if self.rsp_tx.val() {
            self.rsp_taken.next = self.tx_engine.rd.rsp_ready.val();
        }
        self.rsp_skid.out_ready.next = self.rsp_taken.val();
        if self.rsp_skid.out_valid.val()
            & self.rsp_taken.val()
            & self.rsp_error.val()
            & self.rsp_last.val()
        {
            self.dma_faults.d.next = self.dma_faults.q.val() + 1;
        }

        // ---- DMA writes: whole requests, alternating.
        if self.wr_busy.q.val() {
            self.wr_sel_tx.next = self.wr_owner_tx.q.val();
        } else {
            self.wr_sel_tx.next = self.tx_engine.wr.valid.val()
                & (!self.rx_engine.dma_wr.valid.val() | !self.wr_owner_tx.q.val());
        }
        self.wrs_in_addr.next = self.rx_engine.dma_wr.addr.val();
        self.wrs_in_data.next = self.rx_engine.dma_wr.data.val();
        self.wrs_in_keep.next = self.rx_engine.dma_wr.keep.val();
        self.wrs_in_last.next = self.rx_engine.dma_wr.last.val();
        self.wrs_in_valid.next = self.rx_engine.dma_wr.valid.val();
        if self.wr_sel_tx.val() {
            self.wrs_in_addr.next = self.tx_engine.wr.addr.val();
            self.wrs_in_data.next = self.tx_engine.wr.data.val();
            self.wrs_in_keep.next = self.tx_engine.wr.keep.val();
            self.wrs_in_last.next = self.tx_engine.wr.last.val();
            self.wrs_in_valid.next = self.tx_engine.wr.valid.val();
        }
        self.rx_engine.dma_wr.ready.next = self.wrs_skid.in_ready.val() & !self.wr_sel_tx.val();
        self.tx_engine.wr.ready.next = self.wrs_skid.in_ready.val() & self.wr_sel_tx.val();
        if self.wrs_in_valid.val() & self.wrs_skid.in_ready.val() {
            self.wr_owner_tx.d.next = self.wr_sel_tx.val();
            self.wr_busy.d.next = !self.wrs_in_last.val();
        }

        self.wrs_skid.in_a.next = self.wrs_in_addr.val();
        self.wrs_skid.in_b.next = self.wrs_in_data.val();
        self.wrs_skid.in_c.next = bit_cast::<17, 16>(self.wrs_in_keep.val())
            | (bit_cast::<17, 1>(self.wrs_in_last.val().into()) << 16);
        self.wrs_skid.in_valid.next = self.wrs_in_valid.val();
        self.dma_wr.addr.next = self.wrs_skid.out_a.val();
        self.dma_wr.data.next = self.wrs_skid.out_b.val();
        self.dma_wr.keep.next = self.wrs_skid.out_c.val().get_bits::<16>(0);
        self.dma_wr.last.next = self.wrs_skid.out_c.val().get_bit(16);
        self.dma_wr.valid.next = self.wrs_skid.out_valid.val();
        self.wrs_skid.out_ready.next = self.dma_wr.ready.val();

        // ---- Statistics counters.
        self.ctr_raw[0].next = self.rx_engine.rx_packets.val();
        self.ctr_raw[1].next = self.rx_engine.rx_bytes.val();
        self.ctr_raw[2].next = self.mac_tx.frames.val();
        self.ctr_raw[3].next = self.mac_tx.bytes.val();
        self.ctr_raw[4].next = self.mac_rx.fcs_errors.val();
        self.ctr_raw[5].next = self.mac_rx.runts.val();
        self.ctr_raw[6].next = self.mac_rx.oversize.val();
        self.ctr_raw[7].next = self.rx_missed.q.val();
        self.ctr_raw[8].next = self.rx_engine.rx_no_buffer.val();
        self.ctr_raw[9].next = self.rx_engine.rx_csum_errors.val();
        self.ctr_raw[10].next = self.tx_engine.errors.val();
        self.ctr_raw[11].next = self.mac_rx.filtered.val();
        self.ctr_raw[12].next = self.rx_vlan.q.val();
        self.ctr_raw[13].next = 0.into();
        self.ctr_raw[14].next = 0.into();
        self.ctr_raw[15].next = self.mac_rx.broadcast.val();
        self.ctr_raw[16].next = self.mac_rx.multicast.val();
        self.ctr_raw[17].next = self.dma_faults.q.val();
        for i in 0..self.ctr_raw.len() {
            self.ctr_base[i].clock.next = self.clock.val();
            self.ctr_base[i].load.next = self.reset.val();
            self.ctr_base[i].d.next = self.ctr_raw[i].val();
            // Worked out in a bus read cycle: the register block takes a counter only then.
            self.port_regs.ctr[i].next = 0.into();
            if self.bus.read.val() {
                self.port_regs.ctr[i].next = self.ctr_raw[i].val() - self.ctr_base[i].q.val();
            }
        }
    }
}

crate::impl_set_inputs!(OxnicNic {
    clock,
    bus.address,
    bus.write,
    bus.write_data,
    bus.read,
    dma_rd.req_ready,
    dma_rd.rsp_data,
    dma_rd.rsp_keep,
    dma_rd.rsp_tag,
    dma_rd.rsp_last,
    dma_rd.rsp_error,
    dma_rd.rsp_valid,
    dma_wr.ready,
    phy_rx.data,
    phy_rx.keep,
    phy_rx.last,
    phy_rx.user,
    phy_rx.valid,
    phy_tx.ready,
});

/// Stimulus for comparing the whole card in rust-hdl's simulator and in Verilator: the port
/// brought up (MAC, MTU, RX/TX enables, checksum and RSS offloads, a random key), RX queue 0 and
/// TX queue 0 enabled on completion queues 0 and 8 with a doorbell rung, completion queue 0
/// armed; then random reads and occasional writes over every register of BAR0, random frames
/// with their FCS (some corrupted) on `phy_rx` with gaps, random `ready`s and, with
/// `responses`, random DMA read responses (the engines take them as descriptors and data). Both simulators see
/// the same inputs; the test compares every output on every cycle.
pub fn random_stimulus(seed: u64, cycles: usize, responses: bool) -> crate::testbench::Stimulus {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut key = [0u8; features::RSS_KEY_LEN];
    rng.fill(&mut key[..]);
    let mut config: Vec<(u32, u32)> = vec![
        (regs::port::BASE + regs::port::MAC_LO, 0x0000_0002),
        (regs::port::BASE + regs::port::MAC_HI, 0x0200),
        (regs::port::BASE + regs::port::MTU, 1500),
        (regs::port::BASE + regs::port::CTRL, 0x7),
        (regs::offload::BASE + regs::offload::ENABLE, 0x43),
    ];
    for (i, w) in key.chunks(4).enumerate() {
        config.push((
            regs::rss_key_word(i as u32),
            u32::from_le_bytes([w[0], w[1], w[2], w[3]]),
        ));
    }
    for i in 0..regs::RETA_WORDS {
        config.push((regs::reta_word(i), rng.gen::<u32>() & 0x0707_0707));
    }
    for (cqn, base) in [(0u32, 0x3000u32), (8, 0x4000)] {
        let r = |off| regs::cq::reg(cqn, off);
        config.extend([
            (r(regs::cq::entry::BASE_LO), base),
            (r(regs::cq::entry::SIZE_LOG2), 4),
            (r(regs::cq::entry::CTRL), 1),
        ]);
    }
    let rq = |off| regs::rxq::reg(0, off);
    let tq = |off| regs::txq::reg(0, off);
    config.extend([
        (rq(regs::rxq::entry::BASE_LO), 0x1000),
        (rq(regs::rxq::entry::SIZE_LOG2), 4),
        (rq(regs::rxq::entry::CTRL), 1),
        (rq(regs::rxq::entry::PROD), 12),
        (tq(regs::txq::entry::BASE_LO), 0x2000),
        (tq(regs::txq::entry::SIZE_LOG2), 4),
        (tq(regs::txq::entry::CQ), 8),
        (tq(regs::txq::entry::CTRL), 1),
        (tq(regs::txq::entry::PROD), 3),
        (regs::cq::reg(0, regs::cq::entry::CTRL), 3),
    ]);
    let mut owned: Vec<u32> = Vec::new();
    for def in regs::BLOCKS {
        let entries = match def.name {
            "irq" => VECTORS,
            "cq" => CQS,
            "txq" | "rxq" => QUEUES,
            _ => 0,
        };
        let l = Layout::of(def, entries as u32);
        for s in l.consts.iter().chain(&l.ro).chain(&l.rw).chain(&l.wo) {
            owned.push(s.address);
        }
        owned.extend(l.ctr.iter().flat_map(|s| [s.address, s.address + 4]));
    }
    let mut out: crate::testbench::Stimulus = Vec::with_capacity(cycles);
    let mut wire: std::collections::VecDeque<(u64, u64, bool)> = Default::default();
    let mut config = config.into_iter();
    for _ in 0..cycles {
        let mut set: Vec<(&'static str, Vec<u64>)> = Vec::new();
        let (read, write, addr, data) = match config.next() {
            Some((a, d)) => (false, true, a, d),
            None => {
                let op = rng.gen_range(0..20);
                let a = owned[rng.gen_range(0..owned.len())];
                (op < 5, op == 5, a, rng.gen())
            }
        };
        set.push(("bus$address", vec![u64::from(addr)]));
        set.push(("bus$read", vec![u64::from(read)]));
        set.push(("bus$write", vec![u64::from(write)]));
        set.push(("bus$write_data", vec![u64::from(data)]));
        if wire.is_empty() && rng.gen_ratio(1, 40) {
            let mut f = crate::frame_gen::random_frame(&mut rng, 200);
            let mut fcs = crc32fast::hash(&f);
            if rng.gen_ratio(1, 8) {
                fcs ^= 1;
            }
            f.extend_from_slice(&fcs.to_le_bytes());
            let n = f.len().div_ceil(8);
            for (i, c) in f.chunks(8).enumerate() {
                let mut w = [0u8; 8];
                w[..c.len()].copy_from_slice(c);
                wire.push_back((u64::from_le_bytes(w), (1u64 << c.len()) - 1, i + 1 == n));
            }
        }
        match wire.front() {
            Some(&(d, k, last)) if rng.gen_ratio(7, 8) => {
                wire.pop_front();
                set.push(("phy_rx$data", vec![d]));
                set.push(("phy_rx$keep", vec![k]));
                set.push(("phy_rx$last", vec![u64::from(last)]));
                set.push(("phy_rx$valid", vec![1]));
            }
            _ => set.push(("phy_rx$valid", vec![0])),
        }
        set.push(("dma_rd$req_ready", vec![u64::from(rng.gen_ratio(1, 2))]));
        let rsp = responses && rng.gen_ratio(1, 6);
        set.push(("dma_rd$rsp_valid", vec![u64::from(rsp)]));
        set.push(("dma_rd$rsp_data", vec![rng.gen(), rng.gen()]));
        set.push(("dma_rd$rsp_keep", vec![0xffff]));
        set.push(("dma_rd$rsp_tag", vec![rng.gen_range(0..2u64) << 7]));
        set.push(("dma_rd$rsp_last", vec![u64::from(rng.gen_ratio(1, 3))]));
        set.push(("dma_rd$rsp_error", vec![u64::from(rng.gen_ratio(1, 50))]));
        set.push(("dma_wr$ready", vec![u64::from(rng.gen_ratio(3, 4))]));
        set.push(("phy_tx$ready", vec![u64::from(rng.gen_ratio(7, 8))]));
        out.push(set);
    }
    out
}

/// Verilog of the card as `oxnic_nic`.
pub fn verilog() -> Result<String, crate::verilog::GenError> {
    let mut uut = OxnicNic::new();
    uut.connect_all();
    crate::verilog::generate_named(&uut, TOP)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wiring_matches_the_abi_and_the_card_generates() {
        // `new` checks every literal register index against the abi layout.
        let v = verilog().unwrap();
        assert!(v.contains("module oxnic_nic("));
        for port in [
            "bus$address",
            "dma_rd$req_addr",
            "dma_wr$data",
            "phy_rx$data",
            "[15:0] irq",
        ] {
            assert!(v.contains(port), "{port}");
        }
    }

    #[test]
    fn card_passes_strict_lint() {
        let v = verilog().unwrap();
        crate::synth::verilator_lint("oxnic_nic", &v).unwrap();
    }

    /// The card has no combinational loop as Verilator sees it (`UNOPTFLAT`): every handshake
    /// between blocks settles in one pass, so no block is evaluated again and again in a
    /// simulated cycle. Without `verilog::isolate_handshakes` and the hand-written FIFO there
    /// are six such loops.
    #[test]
    fn card_has_no_combinational_loops_for_verilator() {
        let v = verilog().unwrap();
        crate::synth::verilator_lint_no_loops("oxnic_nic", &v).unwrap();
    }
}
