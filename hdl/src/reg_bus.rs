//! The MMIO register bus (the BAR0 side of the card) and the register block that lays out one
//! `oxnic_abi::regs` block on it.
//!
//! The bus ([`RegBusMaster`] / [`RegBusTarget`]) carries single 32-bit accesses at BAR0 byte
//! offsets. A write is `write` high for one cycle with `address` and `write_data` (whole words:
//! the PCIe or simulator side merges partial writes). A read is `read` high for one cycle with
//! `address`; exactly one cycle later `read_valid` is high for one cycle with `read_data`. Every
//! read is answered, and a target returns 0 for addresses it does not own, so the read data of
//! several targets on one bus can be OR-ed together.
//!
//! [`RegBlock`] is built at generation time from a `&'static BlockDef` of
//! [`oxnic_abi::regs::BLOCKS`]: the header (TYPE, VERSION, NEXT from [`regs::next_of`], LEN, and
//! COUNT and STRIDE for array blocks), every register's address and every reset value come from
//! the abi tables and are baked into the Verilog as constants. There is no second copy of the
//! register map here.

use std::collections::HashMap;
use std::sync::Mutex;

use oxnic_abi::regs::{self, Access, BlockDef, RegDef};
use rust_hdl::prelude::*;

use crate::testbench::{FromWords, SetInputs, Stimulus, TbError};

/// The bus as the PCIe side (or the simulator) drives it.
#[derive(LogicInterface, Clone, Debug, Default)]
#[join = "RegBusTarget"]
pub struct RegBusMaster {
    /// BAR0 byte offset of the access (BAR0 is 16 KiB).
    pub address: Signal<Out, Bits<16>>,
    /// Write `write_data` to `address` this cycle.
    pub write: Signal<Out, Bit>,
    /// Data of a write.
    pub write_data: Signal<Out, Bits<32>>,
    /// Read `address` this cycle; answered on the next.
    pub read: Signal<Out, Bit>,
    /// Data of the read issued on the previous cycle (0 when `read_valid` is low).
    pub read_data: Signal<In, Bits<32>>,
    /// `read_data` holds the answer to the previous cycle's read.
    pub read_valid: Signal<In, Bit>,
}

/// The bus as a register block sees it.
#[derive(LogicInterface, Clone, Debug, Default)]
#[join = "RegBusMaster"]
pub struct RegBusTarget {
    /// BAR0 byte offset of the access (BAR0 is 16 KiB).
    pub address: Signal<In, Bits<16>>,
    /// Write `write_data` to `address` this cycle.
    pub write: Signal<In, Bit>,
    /// Data of a write.
    pub write_data: Signal<In, Bits<32>>,
    /// Read `address` this cycle; answered on the next.
    pub read: Signal<In, Bit>,
    /// Data of the read issued on the previous cycle (0 when `read_valid` is low).
    pub read_data: Signal<Out, Bits<32>>,
    /// `read_data` holds the answer to the previous cycle's read.
    pub read_valid: Signal<Out, Bit>,
}

/// One 32-bit register word of a block, at its BAR0 address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    /// `NAME`, `NAME[i]` for a word of a multi-word register, `ENTRYn.NAME` in an array block,
    /// `NAME.LO`/`NAME.HI` for a 64-bit counter.
    pub name: String,
    /// BAR0 byte address.
    pub address: u32,
    /// Header constant or reset value.
    pub value: u32,
}

/// Where each register word of a block lives, computed from the abi tables. The index of a
/// register in its list is the index of its port (`ro$i`, `ctr$i`, `rw$i`, `wo$i`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Layout {
    /// Header words: read-only constants.
    pub consts: Vec<Slot>,
    /// Read-only words driven by the card.
    pub ro: Vec<Slot>,
    /// 64-bit counters (the low word's address; the high word is 4 bytes on).
    pub ctr: Vec<Slot>,
    /// Read-write words with their reset values.
    pub rw: Vec<Slot>,
    /// Write-only strobes.
    pub wo: Vec<Slot>,
}

/// Words a register spans. The abi's `RegDef` has no length field; the RSS key and the
/// indirection table are the two multi-word registers, and their lengths are abi constants.
fn words_of(def: &BlockDef, r: &RegDef) -> u32 {
    if def.kind == regs::rss::KIND && r.offset == regs::rss::KEY {
        regs::RSS_KEY_WORDS
    } else if def.kind == regs::rss::KIND && r.offset == regs::rss::RETA {
        regs::RETA_WORDS
    } else {
        1
    }
}

impl Layout {
    /// The layout of `def` with `entries` array entries (ignored for non-array blocks).
    ///
    /// # Panics
    /// If `def` is not in [`regs::BLOCKS`] (its NEXT would be unknown) or `entries` exceeds the
    /// block's capacity.
    pub fn of(def: &'static BlockDef, entries: u32) -> Self {
        let index = regs::BLOCKS
            .iter()
            .position(|b| b.kind == def.kind)
            .expect("block is not in regs::BLOCKS");
        let mut l = Layout::default();
        for h in regs::hdr::REGS {
            let value = match h.offset {
                regs::hdr::TYPE => def.kind,
                regs::hdr::VERSION => def.version,
                regs::hdr::NEXT => regs::next_of(index),
                regs::hdr::LEN => def.len,
                other => unreachable!("unknown header register at {other:#x}"),
            };
            l.consts.push(Slot {
                name: h.name.into(),
                address: def.base + h.offset,
                value,
            });
        }
        let add = |l: &mut Layout, r: &RegDef, name: String, address: u32| {
            let slot = Slot {
                name,
                address,
                value: r.reset,
            };
            match r.access {
                Access::Ro => l.ro.push(slot),
                Access::Rw => l.rw.push(slot),
                Access::Wo => l.wo.push(slot),
                Access::Ctr64 => l.ctr.push(slot),
            }
        };
        for r in def.regs {
            let n = words_of(def, r);
            for w in 0..n {
                let name = if n == 1 {
                    r.name.to_string()
                } else {
                    format!("{}[{w}]", r.name)
                };
                add(&mut l, r, name, def.base + r.offset + 4 * w);
            }
        }
        if let Some(a) = def.array {
            assert!(
                entries <= a.max_entries,
                "{} holds at most {} entries",
                def.name,
                a.max_entries
            );
            for h in regs::hdr::ARRAY_REGS {
                let value = match h.offset {
                    regs::hdr::COUNT => entries,
                    regs::hdr::STRIDE => a.stride,
                    other => unreachable!("unknown array header register at {other:#x}"),
                };
                l.consts.push(Slot {
                    name: h.name.into(),
                    address: def.base + h.offset,
                    value,
                });
            }
            for e in 0..entries {
                for r in a.regs {
                    add(
                        &mut l,
                        r,
                        format!("ENTRY{e}.{}", r.name),
                        def.entry_reg(e, r.offset),
                    );
                }
            }
        }
        l
    }

    /// Index of the read-write word `name` (its port is `rw$index`).
    pub fn rw_index(&self, name: &str) -> Option<usize> {
        self.rw.iter().position(|s| s.name == name)
    }

    /// Index of the read-only word `name` (its port is `ro$index`).
    pub fn ro_index(&self, name: &str) -> Option<usize> {
        self.ro.iter().position(|s| s.name == name)
    }

    /// Index of the counter `name` (its port is `ctr$index`).
    pub fn ctr_index(&self, name: &str) -> Option<usize> {
        self.ctr.iter().position(|s| s.name == name)
    }

    /// Index of the strobe `name` (its port is `wo$index`).
    pub fn wo_index(&self, name: &str) -> Option<usize> {
        self.wo.iter().position(|s| s.name == name)
    }
}

fn addr_consts(slots: &[Slot], offset: u32) -> Vec<Constant<Bits<16>>> {
    slots
        .iter()
        .map(|s| Constant::new(Bits::<16>::from(u64::from(s.address + offset))))
        .collect()
}

fn value_consts(slots: &[Slot]) -> Vec<Constant<Bits<32>>> {
    slots
        .iter()
        .map(|s| Constant::new(Bits::<32>::from(u64::from(s.value))))
        .collect()
}

fn signals<D: Direction, T: Synth>(n: usize) -> Vec<Signal<D, T>> {
    (0..n).map(|_| Signal::default()).collect()
}

/// One register block of BAR0 on the register bus.
///
/// Reads return, one cycle after the read strobe: header words from the abi constants;
/// read-only words from the `ro` inputs; read-write words from their registers; 64-bit
/// counters from the `ctr` inputs, where reading the low word latches the high word so that
/// `lo` then `hi` is a consistent snapshot; 0 for write-only strobes, for unused offsets inside
/// the block and for addresses outside it.
///
/// Writes change read-write words (which power up at their abi reset value) and fire strobes;
/// writes to anything else are ignored.
///
/// Inputs:
/// - `clock`;
/// - `bus`: the register bus;
/// - `ro$i`: value of read-only word `i` of [`Layout::ro`];
/// - `ctr$i`: value of 64-bit counter `i` of [`Layout::ctr`].
///
/// Outputs:
/// - `rw$i`: current value of read-write word `i` of [`Layout::rw`] (updated the cycle after the
///   write);
/// - `rw_wr$i`: one-cycle pulse, the cycle after a write to read-write word `i` (the cycle its
///   new value shows on `rw$i`), for registers whose writes are events (doorbells, arm bits);
/// - `wo$i`: one-cycle pulse, the cycle after a write to strobe `i` of [`Layout::wo`];
/// - `wo_data`: the data of the last strobe write, valid with its pulse.
#[derive(LogicBlock)]
pub struct RegBlock {
    /// Clock; everything is synchronous to its rising edge.
    pub clock: Signal<In, Clock>,
    /// The register bus.
    pub bus: RegBusTarget,
    /// Read-only words, driven by the card.
    pub ro: Vec<Signal<In, Bits<32>>>,
    /// 64-bit counters, driven by the card.
    pub ctr: Vec<Signal<In, Bits<64>>>,
    /// Read-write words, as configured by the driver.
    pub rw: Vec<Signal<Out, Bits<32>>>,
    /// Write pulses of the read-write words.
    pub rw_wr: Vec<Signal<Out, Bit>>,
    /// Strobe pulses.
    pub wo: Vec<Signal<Out, Bit>>,
    /// Data written with the last strobe.
    pub wo_data: Signal<Out, Bits<32>>,
    const_addr: Vec<Constant<Bits<16>>>,
    const_value: Vec<Constant<Bits<32>>>,
    ro_addr: Vec<Constant<Bits<16>>>,
    ctr_lo_addr: Vec<Constant<Bits<16>>>,
    ctr_hi_addr: Vec<Constant<Bits<16>>>,
    rw_addr: Vec<Constant<Bits<16>>>,
    rw_reset: Vec<Constant<Bits<32>>>,
    wo_addr: Vec<Constant<Bits<16>>>,
    // Stored XOR the reset value: DFFs power up at 0, the registers at their reset value.
    rw_store: Vec<DFF<Bits<32>>>,
    rw_pulse: Vec<DFF<Bit>>,
    ctr_latch: Vec<DFF<Bits<32>>>,
    wo_pulse: Vec<DFF<Bit>>,
    wo_data_reg: DFF<Bits<32>>,
    read_data_reg: DFF<Bits<32>>,
    read_valid_reg: DFF<Bit>,
    read_word: Signal<Local, Bits<32>>,
    _layout: Layout,
}

impl RegBlock {
    /// The register block of `def` (with `entries` entries if it is an array block).
    pub fn new(def: &'static BlockDef, entries: u32) -> Self {
        let l = Layout::of(def, entries);
        RegBlock {
            clock: Default::default(),
            bus: Default::default(),
            ro: signals(l.ro.len()),
            ctr: signals(l.ctr.len()),
            rw: signals(l.rw.len()),
            rw_wr: signals(l.rw.len()),
            wo: signals(l.wo.len()),
            wo_data: Default::default(),
            const_addr: addr_consts(&l.consts, 0),
            const_value: value_consts(&l.consts),
            ro_addr: addr_consts(&l.ro, 0),
            ctr_lo_addr: addr_consts(&l.ctr, 0),
            ctr_hi_addr: addr_consts(&l.ctr, 4),
            rw_addr: addr_consts(&l.rw, 0),
            rw_reset: value_consts(&l.rw),
            wo_addr: addr_consts(&l.wo, 0),
            rw_store: (0..l.rw.len()).map(|_| DFF::default()).collect(),
            rw_pulse: (0..l.rw.len()).map(|_| DFF::default()).collect(),
            ctr_latch: (0..l.ctr.len()).map(|_| DFF::default()).collect(),
            wo_pulse: (0..l.wo.len()).map(|_| DFF::default()).collect(),
            wo_data_reg: Default::default(),
            read_data_reg: Default::default(),
            read_valid_reg: Default::default(),
            read_word: Default::default(),
            _layout: l,
        }
    }

    /// The layout this block was built with.
    pub fn layout(&self) -> &Layout {
        &self._layout
    }
}

impl std::fmt::Debug for RegBlock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegBlock")
            .field("layout", &self._layout)
            .finish_non_exhaustive()
    }
}

impl Logic for RegBlock {
    /// The behaviour, for rust-hdl's simulator. The Verilog ([`Logic::hdl`]) is written out
    /// from the layout instead; `sim/tests/differential.rs` runs both on the same random bus
    /// traffic and requires the same outputs every cycle.
    fn update(&mut self) {
        dff_setup!(self, clock, wo_data_reg, read_data_reg, read_valid_reg);
        // Every register's flops hold by default. The address decoders run only in a cycle
        // with an access: in the verilated card this block is evaluated every cycle, and the
        // comparators of ~100 registers per block were most of its cost.
        for i in 0..self.ctr_lo_addr.len() {
            self.ctr_latch[i].clock.next = self.clock.val();
            self.ctr_latch[i].d.next = self.ctr_latch[i].q.val();
        }
        for i in 0..self.rw_addr.len() {
            self.rw_store[i].clock.next = self.clock.val();
            self.rw_store[i].d.next = self.rw_store[i].q.val();
            self.rw_pulse[i].clock.next = self.clock.val();
            self.rw_pulse[i].d.next = false;
            self.rw[i].next = self.rw_store[i].q.val() ^ self.rw_reset[i].val();
            self.rw_wr[i].next = self.rw_pulse[i].q.val();
        }
        for i in 0..self.wo_addr.len() {
            self.wo_pulse[i].clock.next = self.clock.val();
            self.wo_pulse[i].d.next = false;
            self.wo[i].next = self.wo_pulse[i].q.val();
        }
        self.read_word.next = 0.into();
        if self.bus.read.val() {
            for i in 0..self.const_addr.len() {
                if self.bus.address.val() == self.const_addr[i].val() {
                    self.read_word.next = self.const_value[i].val();
                }
            }
            for i in 0..self.ro_addr.len() {
                if self.bus.address.val() == self.ro_addr[i].val() {
                    self.read_word.next = self.ro[i].val();
                }
            }
            for i in 0..self.ctr_lo_addr.len() {
                if self.bus.address.val() == self.ctr_lo_addr[i].val() {
                    self.read_word.next = self.ctr[i].val().get_bits::<32>(0);
                    self.ctr_latch[i].d.next = self.ctr[i].val().get_bits::<32>(32);
                }
                if self.bus.address.val() == self.ctr_hi_addr[i].val() {
                    self.read_word.next = self.ctr_latch[i].q.val();
                }
            }
            for i in 0..self.rw_addr.len() {
                if self.bus.address.val() == self.rw_addr[i].val() {
                    self.read_word.next = self.rw_store[i].q.val() ^ self.rw_reset[i].val();
                }
            }
        }
        if self.bus.write.val() {
            for i in 0..self.rw_addr.len() {
                if self.bus.address.val() == self.rw_addr[i].val() {
                    self.rw_store[i].d.next = self.bus.write_data.val() ^ self.rw_reset[i].val();
                    self.rw_pulse[i].d.next = true;
                }
            }
            for i in 0..self.wo_addr.len() {
                if self.bus.address.val() == self.wo_addr[i].val() {
                    self.wo_pulse[i].d.next = true;
                    self.wo_data_reg.d.next = self.bus.write_data.val();
                }
            }
        }
        self.wo_data.next = self.wo_data_reg.q.val();
        self.read_valid_reg.d.next = self.bus.read.val();
        self.read_data_reg.d.next = 0.into();
        if self.bus.read.val() {
            self.read_data_reg.d.next = self.read_word.val();
        }
        self.bus.read_data.next = self.read_data_reg.q.val();
        self.bus.read_valid.next = self.read_valid_reg.q.val();
    }

    /// Marks what `update` drives (what `#[hdl_gen]` would derive from it).
    fn connect(&mut self) {
        self.bus.read_data.connect();
        self.bus.read_valid.connect();
        self.wo_data.connect();
        self.read_word.connect();
        for s in &mut self.rw {
            s.connect();
        }
        for s in &mut self.rw_wr {
            s.connect();
        }
        for s in &mut self.wo {
            s.connect();
        }
        for f in self.rw_store.iter_mut().chain(&mut self.ctr_latch) {
            f.d.connect();
            f.clock.connect();
        }
        for f in self.rw_pulse.iter_mut().chain(&mut self.wo_pulse) {
            f.d.connect();
            f.clock.connect();
        }
        for f in [&mut self.wo_data_reg, &mut self.read_data_reg] {
            f.d.connect();
            f.clock.connect();
        }
        self.read_valid_reg.d.connect();
        self.read_valid_reg.clock.connect();
    }

    /// Verilog of the block, generated from its layout: registers that hold by themselves and
    /// one `case` per access. rust-hdl's own Verilog of `update` keeps every register in a
    /// flip-flop module fed back through combinational logic — four assignments per register
    /// every cycle, most of a simulated card's work while its bus is idle; here an idle cycle
    /// costs a few statements per block.
    fn hdl(&self) -> Verilog {
        crate::verilog::hand_written(block_verilog(&self._layout))
    }
}

/// The body of [`RegBlock`]'s Verilog module (ports as rust-hdl declares them).
fn block_verilog(l: &Layout) -> String {
    use std::fmt::Write as _;
    let mut v = String::new();
    let (nrw, nwo) = (l.rw.len(), l.wo.len());
    v.push_str("// Registers power up at their abi reset values.\n");
    for (i, r) in l.rw.iter().enumerate() {
        let _ = writeln!(v, "reg [31:0] rv${i} = 32'h{:x};", r.value);
        let _ = writeln!(v, "assign rw${i} = rv${i};");
    }
    if nrw > 0 {
        let _ = writeln!(v, "reg [{}:0] rw_pulse = 0;", nrw - 1);
        for i in 0..nrw {
            let _ = writeln!(v, "assign rw_wr${i} = rw_pulse[{i}];");
        }
    }
    if nwo > 0 {
        let _ = writeln!(v, "reg [{}:0] wo_pulse = 0;", nwo - 1);
        for i in 0..nwo {
            let _ = writeln!(v, "assign wo${i} = wo_pulse[{i}];");
        }
    }
    for i in 0..l.ctr.len() {
        let _ = writeln!(v, "reg [31:0] ctr_hi${i} = 0;");
    }
    v.push_str(
        "reg [31:0] wo_data_r = 0;\nreg [31:0] read_data_r = 0;\nreg read_valid_r = 0;\n\
         assign wo_data = wo_data_r;\nassign bus$read_data = read_data_r;\n\
         assign bus$read_valid = read_valid_r;\n\
         always @(posedge clock) begin\n    read_valid_r <= bus$read;\n    read_data_r <= 32'h0;\n",
    );
    if nrw > 0 {
        v.push_str("    if (|rw_pulse) rw_pulse <= 0;\n");
    }
    if nwo > 0 {
        v.push_str("    if (|wo_pulse) wo_pulse <= 0;\n");
    }
    v.push_str("    if (bus$read) begin\n        case (bus$address)\n");
    for c in &l.consts {
        let _ = writeln!(
            v,
            "            16'h{:x}: read_data_r <= 32'h{:x};",
            c.address, c.value
        );
    }
    for (i, r) in l.ro.iter().enumerate() {
        let _ = writeln!(v, "            16'h{:x}: read_data_r <= ro${i};", r.address);
    }
    for (i, r) in l.ctr.iter().enumerate() {
        let _ = writeln!(
            v,
            "            16'h{:x}: begin read_data_r <= ctr${i}[31:0]; ctr_hi${i} <= ctr${i}[63:32]; end",
            r.address
        );
        let _ = writeln!(
            v,
            "            16'h{:x}: read_data_r <= ctr_hi${i};",
            r.address + 4
        );
    }
    for (i, r) in l.rw.iter().enumerate() {
        let _ = writeln!(v, "            16'h{:x}: read_data_r <= rv${i};", r.address);
    }
    v.push_str("            default: ;\n        endcase\n    end\n");
    if nrw + nwo > 0 {
        v.push_str("    if (bus$write) begin\n        case (bus$address)\n");
        for (i, r) in l.rw.iter().enumerate() {
            let _ = writeln!(
                v,
                "            16'h{:x}: begin rv${i} <= bus$write_data; rw_pulse[{i}] <= 1'b1; end",
                r.address
            );
        }
        for (i, r) in l.wo.iter().enumerate() {
            let _ = writeln!(
                v,
                "            16'h{:x}: begin wo_pulse[{i}] <= 1'b1; wo_data_r <= bus$write_data; end",
                r.address
            );
        }
        v.push_str("            default: ;\n        endcase\n    end\n");
    }
    v.push_str("end\n");
    v
}

/// Port names interned once per distinct list, because [`SetInputs::input_names`] and
/// [`Stimulus`] hold `&'static str`.
pub(crate) fn intern(names: Vec<String>) -> &'static [&'static str] {
    static TABLE: Mutex<Option<HashMap<Vec<String>, &'static [&'static str]>>> = Mutex::new(None);
    let mut t = TABLE.lock().unwrap_or_else(|e| e.into_inner());
    let t = t.get_or_insert_with(HashMap::new);
    if let Some(v) = t.get(&names) {
        return v;
    }
    let leaked: Vec<&'static str> = names
        .iter()
        .map(|n| &*Box::leak(n.clone().into_boxed_str()))
        .collect();
    let leaked: &'static [&'static str] = Box::leak(leaked.into_boxed_slice());
    t.insert(names, leaked);
    leaked
}

fn input_port_names(l: &Layout) -> &'static [&'static str] {
    let mut names: Vec<String> = [
        "clock",
        "bus$address",
        "bus$write",
        "bus$write_data",
        "bus$read",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    names.extend((0..l.ro.len()).map(|i| format!("ro${i}")));
    names.extend((0..l.ctr.len()).map(|i| format!("ctr${i}")));
    intern(names)
}

impl SetInputs for RegBlock {
    fn input_names(&self) -> &'static [&'static str] {
        input_port_names(&self._layout)
    }

    fn set_input(&mut self, name: &str, words: &[u64]) -> Result<(), TbError> {
        let bad = || TbError::NoSuchInput(name.to_string());
        let indexed = |prefix: &str, n: usize| {
            name.strip_prefix(prefix)
                .and_then(|i| i.parse::<usize>().ok())
                .filter(|&i| i < n)
        };
        match name {
            "clock" => self.clock.next = FromWords::from_words(words),
            "bus$address" => self.bus.address.next = FromWords::from_words(words),
            "bus$write" => self.bus.write.next = FromWords::from_words(words),
            "bus$write_data" => self.bus.write_data.next = FromWords::from_words(words),
            "bus$read" => self.bus.read.next = FromWords::from_words(words),
            _ => {
                if let Some(i) = indexed("ro$", self.ro.len()) {
                    self.ro[i].next = FromWords::from_words(words);
                } else if let Some(i) = indexed("ctr$", self.ctr.len()) {
                    self.ctr[i].next = FromWords::from_words(words);
                } else {
                    return Err(bad());
                }
            }
        }
        Ok(())
    }
}

/// Verilog of the register block of `def` as `name`.
pub fn verilog_of(
    def: &'static BlockDef,
    entries: u32,
    name: &str,
) -> Result<String, crate::verilog::GenError> {
    let mut b = RegBlock::new(def, entries);
    b.connect_all();
    crate::verilog::generate_named(&b, name)
}

/// Verilog of the device block as `oxnic_reg_block_device`.
pub fn verilog_device() -> Result<String, crate::verilog::GenError> {
    verilog_of(&regs::device::DEF, 0, "oxnic_reg_block_device")
}

/// Verilog of the port block as `oxnic_reg_block_port`.
pub fn verilog_port() -> Result<String, crate::verilog::GenError> {
    verilog_of(&regs::port::DEF, 0, "oxnic_reg_block_port")
}

/// Verilog of the RSS block as `oxnic_reg_block_rss`.
pub fn verilog_rss() -> Result<String, crate::verilog::GenError> {
    verilog_of(&regs::rss::DEF, 0, "oxnic_reg_block_rss")
}

/// Verilog of the offload block as `oxnic_reg_block_offload`.
pub fn verilog_offload() -> Result<String, crate::verilog::GenError> {
    verilog_of(&regs::offload::DEF, 0, "oxnic_reg_block_offload")
}

/// Random bus traffic for the register block of `def`: reads and writes (two thirds of them to
/// the block's registers and header, the rest to unused offsets and other blocks), idle cycles,
/// read-after-write to the same address, and changing `ro`/`ctr` inputs.
pub fn random_stimulus_for(
    def: &'static BlockDef,
    entries: u32,
    seed: u64,
    cycles: usize,
) -> Stimulus {
    use rand::{Rng, SeedableRng};
    let l = Layout::of(def, entries);
    let names = input_port_names(&l);
    let port =
        |n: String| -> &'static str { names.iter().find(|p| **p == n).copied().unwrap_or("") };
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut owned: Vec<u32> = l
        .consts
        .iter()
        .chain(&l.ro)
        .chain(&l.rw)
        .chain(&l.wo)
        .map(|s| s.address)
        .collect();
    owned.extend(l.ctr.iter().flat_map(|s| [s.address, s.address + 4]));
    let mut last = owned[0];
    let mut out = Vec::with_capacity(cycles);
    for _ in 0..cycles {
        let mut set: Vec<(&'static str, Vec<u64>)> = Vec::new();
        let address = match rng.gen_range(0..12) {
            0..=7 => owned[rng.gen_range(0..owned.len())],
            8 => last,
            9 => def.base + rng.gen_range(0..def.len / 4) * 4,
            10 => rng.gen_range(0..regs::BAR0_SIZE / 4) * 4,
            _ => rng.gen_range(0..regs::BAR0_SIZE),
        };
        last = address;
        let op = rng.gen_range(0..10);
        set.push(("bus$address", vec![u64::from(address)]));
        set.push(("bus$read", vec![u64::from(op < 4)]));
        set.push(("bus$write", vec![u64::from((4..7).contains(&op))]));
        set.push(("bus$write_data", vec![u64::from(rng.gen::<u32>())]));
        if !l.ro.is_empty() && rng.gen_ratio(1, 8) {
            let i = rng.gen_range(0..l.ro.len());
            set.push((port(format!("ro${i}")), vec![u64::from(rng.gen::<u32>())]));
        }
        if !l.ctr.is_empty() && rng.gen_ratio(1, 4) {
            let i = rng.gen_range(0..l.ctr.len());
            set.push((port(format!("ctr${i}")), vec![rng.gen::<u64>()]));
        }
        out.push(set);
    }
    out
}

/// Random bus traffic for `oxnic_reg_block_port` (see [`random_stimulus_for`]).
pub fn random_stimulus(seed: u64, cycles: usize) -> Stimulus {
    random_stimulus_for(&regs::port::DEF, 0, seed, cycles)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testbench::Bench;

    fn read(b: &mut Bench<RegBlock>, address: u32) -> u32 {
        b.set("bus$address", &[u64::from(address)]).unwrap();
        b.set("bus$read", &[1]).unwrap();
        b.tick().unwrap();
        b.set("bus$read", &[0]).unwrap();
        b.settle().unwrap();
        assert_eq!(b.get("bus$read_valid"), Some(vec![1]), "{address:#x}");
        let v = b.get("bus$read_data").unwrap()[0] as u32;
        b.tick().unwrap();
        assert_eq!(b.get("bus$read_valid"), Some(vec![0]));
        assert_eq!(
            b.get("bus$read_data"),
            Some(vec![0]),
            "data only with valid"
        );
        v
    }

    fn write(b: &mut Bench<RegBlock>, address: u32, value: u32) {
        b.set("bus$address", &[u64::from(address)]).unwrap();
        b.set("bus$write_data", &[u64::from(value)]).unwrap();
        b.set("bus$write", &[1]).unwrap();
        b.tick().unwrap();
        b.set("bus$write", &[0]).unwrap();
        b.settle().unwrap();
    }

    /// BAR0 addresses of the words of abi register `r`, from the abi's own helpers.
    fn words(def: &BlockDef, r: &RegDef) -> Vec<(String, u32)> {
        if def.kind == regs::rss::KIND && r.offset == regs::rss::KEY {
            (0..regs::RSS_KEY_WORDS)
                .map(|i| (format!("KEY[{i}]"), regs::rss_key_word(i)))
                .collect()
        } else if def.kind == regs::rss::KIND && r.offset == regs::rss::RETA {
            (0..regs::RETA_WORDS)
                .map(|i| (format!("RETA[{i}]"), regs::reta_word(i)))
                .collect()
        } else {
            vec![(r.name.to_string(), def.base + r.offset)]
        }
    }

    fn ro_value(i: usize) -> u32 {
        0x5a00_0000 + i as u32
    }

    fn ctr_value(i: usize) -> u64 {
        (0xc0de_0000 + i as u64) << 32 | (0x1000 + i as u64)
    }

    /// Checks every register word of `regs_` (offsets from `base`) through the bus: reset
    /// values, read-back of writes, ignored writes to read-only words, strobes, counters.
    fn check_regs(b: &mut Bench<RegBlock>, def: &BlockDef, regs_: &[(String, u32, RegDef)]) {
        let l = b.uut.layout().clone();
        for (name, addr, r) in regs_ {
            match r.access {
                Access::Rw => {
                    assert_eq!(read(b, *addr), r.reset, "{}.{name} reset", def.name);
                    let pattern = 0xa5a5_0000 ^ addr.wrapping_mul(0x9e37_79b9);
                    let i = l.rw_index(name).unwrap();
                    let pulse = format!("rw_wr${i}");
                    assert_eq!(b.get(&pulse), Some(vec![0]), "{pulse} idle");
                    write(b, *addr, pattern);
                    assert_eq!(
                        b.get(&pulse),
                        Some(vec![1]),
                        "{pulse} pulses with the write"
                    );
                    assert_eq!(read(b, *addr), pattern, "{}.{name} read back", def.name);
                    assert_eq!(b.get(&pulse), Some(vec![0]), "{pulse} pulse is one cycle");
                    let port = format!("rw${i}");
                    assert_eq!(b.get(&port), Some(vec![u64::from(pattern)]), "{port}");
                }
                Access::Ro => {
                    let v = ro_value(l.ro_index(name).unwrap());
                    assert_eq!(read(b, *addr), v, "{}.{name}", def.name);
                    write(b, *addr, !v);
                    assert_eq!(read(b, *addr), v, "{}.{name} written", def.name);
                }
                Access::Wo => {
                    let port = format!("wo${}", l.wo_index(name).unwrap());
                    assert_eq!(read(b, *addr), 0, "{}.{name}", def.name);
                    assert_eq!(b.get(&port), Some(vec![0]));
                    write(b, *addr, 0x1234_5671);
                    assert_eq!(b.get(&port), Some(vec![1]), "{port} pulses");
                    assert_eq!(b.get("wo_data"), Some(vec![0x1234_5671]));
                    b.tick().unwrap();
                    assert_eq!(b.get(&port), Some(vec![0]), "{port} pulse is one cycle");
                }
                Access::Ctr64 => {
                    let i = l.ctr_index(name).unwrap();
                    let v = ctr_value(i);
                    assert_eq!(read(b, *addr), v as u32, "{}.{name} lo", def.name);
                    // The counter moves between the two reads: hi is the latched value.
                    b.set(&format!("ctr${i}"), &[v + (1 << 40)]).unwrap();
                    assert_eq!(
                        read(b, addr + 4),
                        (v >> 32) as u32,
                        "{}.{name} hi",
                        def.name
                    );
                    assert_eq!(read(b, *addr), v as u32);
                    assert_eq!(read(b, addr + 4), ((v >> 32) + (1 << 8)) as u32);
                    write(b, *addr, 0);
                    assert_eq!(read(b, *addr), v as u32, "{}.{name} written", def.name);
                }
            }
        }
    }

    /// A bench for `def` with every `ro`/`ctr` input driven to a distinct value.
    fn bench(def: &'static BlockDef, entries: u32) -> Bench<RegBlock> {
        let mut b = Bench::new(RegBlock::new(def, entries)).unwrap();
        let l = b.uut.layout().clone();
        for i in 0..l.ro.len() {
            b.set(&format!("ro${i}"), &[u64::from(ro_value(i))])
                .unwrap();
        }
        for i in 0..l.ctr.len() {
            b.set(&format!("ctr${i}"), &[ctr_value(i)]).unwrap();
        }
        b.settle().unwrap();
        b
    }

    fn check_header(b: &mut Bench<RegBlock>, def: &BlockDef, index: usize) {
        let h = regs::hdr::TYPE;
        assert_eq!(read(b, def.base + h), def.kind, "{}", def.name);
        assert_eq!(read(b, def.base + regs::hdr::VERSION), def.version);
        assert_eq!(read(b, def.base + regs::hdr::NEXT), regs::next_of(index));
        assert_eq!(read(b, def.base + regs::hdr::LEN), def.len);
        write(b, def.base + h, 0);
        assert_eq!(read(b, def.base + h), def.kind, "header written");
    }

    #[test]
    fn every_non_array_block_reads_and_writes_as_the_abi_says() {
        for (index, def) in regs::BLOCKS.iter().enumerate() {
            if def.array.is_some() {
                continue;
            }
            let mut b = bench(def, 0);
            check_header(&mut b, def, index);
            let list: Vec<(String, u32, RegDef)> = def
                .regs
                .iter()
                .flat_map(|r| words(def, r).into_iter().map(|(n, a)| (n, a, *r)))
                .collect();
            check_regs(&mut b, def, &list);
            // Every word of the block that is no register reads 0, and so do the words
            // around the block and in other blocks.
            let mut owned: Vec<u32> = (0..4).map(|i| def.base + 4 * i).collect();
            for (_, a, r) in &list {
                owned.extend([*a, a + 4].iter().take(r.access.bytes() as usize / 4));
            }
            for a in (def.base..def.base + def.len).step_by(4) {
                if !owned.contains(&a) {
                    assert_eq!(read(&mut b, a), 0, "{} hole {a:#x}", def.name);
                }
            }
            let mut outside = vec![def.base + def.len, def.base + 1, regs::BAR0_SIZE - 4];
            if def.base > 0 {
                outside.push(def.base - 4);
            }
            for a in outside {
                assert_eq!(read(&mut b, a), 0, "{} outside {a:#x}", def.name);
            }
        }
    }

    #[test]
    fn array_block_has_count_stride_and_entries() {
        let def = &regs::irq::DEF;
        let index = regs::BLOCKS.iter().position(|b| b == def).unwrap();
        let a = def.array.unwrap();
        let mut b = bench(def, 3);
        check_header(&mut b, def, index);
        assert_eq!(read(&mut b, def.base + regs::hdr::COUNT), 3);
        assert_eq!(read(&mut b, def.base + regs::hdr::STRIDE), a.stride);
        let list: Vec<(String, u32, RegDef)> = (0..3)
            .flat_map(|e| {
                a.regs.iter().map(move |r| {
                    (
                        format!("ENTRY{e}.{}", r.name),
                        def.entry_reg(e, r.offset),
                        *r,
                    )
                })
            })
            .collect();
        check_regs(&mut b, def, &list);
        // Entry 3 is not implemented.
        for r in a.regs {
            assert_eq!(read(&mut b, def.entry_reg(3, r.offset)), 0);
        }
    }

    #[test]
    fn layout_names_ports_after_abi_registers() {
        let l = Layout::of(&regs::port::DEF, 0);
        assert_eq!(l.rw[l.rw_index("MTU").unwrap()].value, 1500);
        assert_eq!(l.ctr.len(), 18);
        assert_eq!(
            l.ctr[l.ctr_index("RX_MISSED").unwrap()].address,
            regs::port::BASE + regs::port::RX_MISSED
        );
        let l = Layout::of(&regs::rss::DEF, 0);
        assert_eq!(
            l.rw.len() as u32,
            2 + regs::RSS_KEY_WORDS + regs::RETA_WORDS
        );
        assert_eq!(
            l.rw_index("RETA[31]").map(|i| l.rw[i].address),
            Some(regs::reta_word(31))
        );
    }

    #[test]
    fn stimulus_is_reproducible_and_drives_the_bus() {
        let s = random_stimulus(3, 600);
        assert_eq!(s, random_stimulus(3, 600));
        let mut b = Bench::new(RegBlock::new(&regs::port::DEF, 0)).unwrap();
        let (mut answered, mut nonzero) = (0, 0);
        for cycle in &s {
            for (n, v) in cycle {
                b.set(n, v).unwrap();
            }
            b.tick().unwrap();
            if b.get("bus$read_valid") == Some(vec![1]) {
                answered += 1;
                nonzero += usize::from(b.get("bus$read_data") != Some(vec![0]));
            }
        }
        assert!(answered > 150 && nonzero > 50, "{answered} {nonzero}");
    }

    #[test]
    fn synthesizes_and_lints() {
        for (name, def, gen) in [
            (
                "oxnic_reg_block_device",
                &regs::device::DEF,
                verilog_device as fn() -> _,
            ),
            ("oxnic_reg_block_port", &regs::port::DEF, verilog_port),
            ("oxnic_reg_block_rss", &regs::rss::DEF, verilog_rss),
            (
                "oxnic_reg_block_offload",
                &regs::offload::DEF,
                verilog_offload,
            ),
        ] {
            let v = gen().unwrap();
            crate::synth::verilator_lint(name, &v).unwrap();
            let r = crate::synth::yosys_synth(name, &v).unwrap();
            let l = Layout::of(def, 0);
            // RW words and counter latches are 32 flops each, plus a write-pulse flop per RW
            // word; a strobe 1 plus the shared data; and the read data and valid registers.
            let strobes = if l.wo.is_empty() { 0 } else { l.wo.len() + 32 };
            let expected = 33 * l.rw.len() + 32 * l.ctr.len() + strobes + 33;
            assert!(
                r.flops as usize <= expected && r.flops as usize + 8 >= expected,
                "{name}: expected about {expected}: {r:?}"
            );
            eprintln!("{name}: {} cells, {} flops", r.cells, r.flops);
        }
    }
}
