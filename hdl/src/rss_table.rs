//! `RssTable`: the RSS key and indirection table as the classifier reads them, each as one
//! vector, kept up to date by the bus writes to their registers (`oxnic_abi::regs::rss`).
//!
//! The register block stores the same words for reads; this copy exists because the
//! classifier needs all of them at once and rust-hdl has no concatenation to build the vectors
//! from the block's 42 separate words. A write lands here on the same edge as in the register
//! block.
//!
//! Inputs: `clock`; `write`, `address`, `write_data` (the MMIO bus's write side).
//! Outputs: `key` (key word `i` in bits `32i+31:32i`), `reta` (indirection word `i` in bits
//! `32i+31:32i`, entry `j` in bits `8j+7:8j`).
//!
//! The Verilog is written by hand: the two vectors load in one clocked block, and only the word
//! a write addresses. rust-hdl's own Verilog gives each vector a combinational copy of itself
//! (42 words) that a simulator such as Verilator copies twice every cycle.

use oxnic_abi::regs;
use rust_hdl::prelude::*;
use std::fmt::Write as _;

/// Bits of the RSS key vector.
pub const KEY_BITS: usize = 32 * regs::RSS_KEY_WORDS as usize;
/// Bits of the indirection table vector.
pub const RETA_BITS: usize = 32 * regs::RETA_WORDS as usize;

/// The RSS key and indirection table, written word by word over the bus.
#[derive(LogicBlock)]
pub struct RssTable {
    /// Clock.
    pub clock: Signal<In, Clock>,
    /// A bus write this cycle.
    pub write: Signal<In, Bit>,
    /// Its BAR0 offset.
    pub address: Signal<In, Bits<16>>,
    /// Its data.
    pub write_data: Signal<In, Bits<32>>,
    /// The RSS key.
    pub key: Signal<Out, Bits<KEY_BITS>>,
    /// The indirection table.
    pub reta: Signal<Out, Bits<RETA_BITS>>,
    key_reg: DFF<Bits<KEY_BITS>>,
    reta_reg: DFF<Bits<RETA_BITS>>,
    key_addr: Vec<Constant<Bits<16>>>,
    reta_addr: Vec<Constant<Bits<16>>>,
    key_mask: Vec<Constant<Bits<KEY_BITS>>>,
    reta_mask: Vec<Constant<Bits<RETA_BITS>>>,
    shift: Vec<Constant<Bits<16>>>,
}

impl RssTable {
    /// Builds the block for the register map of `oxnic_abi::regs`.
    pub fn new() -> Self {
        RssTable {
            clock: Default::default(),
            write: Default::default(),
            address: Default::default(),
            write_data: Default::default(),
            key: Default::default(),
            reta: Default::default(),
            key_reg: Default::default(),
            reta_reg: Default::default(),
            key_addr: (0..regs::RSS_KEY_WORDS)
                .map(|i| Constant::new(Bits::<16>::from(u64::from(regs::rss_key_word(i)))))
                .collect(),
            reta_addr: (0..regs::RETA_WORDS)
                .map(|i| Constant::new(Bits::<16>::from(u64::from(regs::reta_word(i)))))
                .collect(),
            key_mask: (0..regs::RSS_KEY_WORDS as usize)
                .map(|i| {
                    Constant::new(
                        !(bit_cast::<KEY_BITS, 32>(Bits::<32>::mask()) << (32 * i as u64)),
                    )
                })
                .collect(),
            reta_mask: (0..regs::RETA_WORDS as usize)
                .map(|i| {
                    Constant::new(
                        !(bit_cast::<RETA_BITS, 32>(Bits::<32>::mask()) << (32 * i as u64)),
                    )
                })
                .collect(),
            shift: (0..regs::RETA_WORDS as u64)
                .map(|i| Constant::new(Bits::<16>::from(32 * i)))
                .collect(),
        }
    }
}

impl Default for RssTable {
    fn default() -> Self {
        Self::new()
    }
}

impl Logic for RssTable {
    /// rust-hdl's simulation of the block; [`Logic::hdl`] is the same logic written as Verilog.
    fn update(&mut self) {
        dff_setup!(self, clock, key_reg, reta_reg);
        if self.write.val() {
            for i in 0..self.key_addr.len() {
                if self.address.val() == self.key_addr[i].val() {
                    self.key_reg.d.next = (self.key_reg.q.val() & self.key_mask[i].val())
                        | (bit_cast::<KEY_BITS, 32>(self.write_data.val()) << self.shift[i].val());
                }
            }
            for i in 0..self.reta_addr.len() {
                if self.address.val() == self.reta_addr[i].val() {
                    self.reta_reg.d.next = (self.reta_reg.q.val() & self.reta_mask[i].val())
                        | (bit_cast::<RETA_BITS, 32>(self.write_data.val()) << self.shift[i].val());
                }
            }
        }
        self.key.next = self.key_reg.q.val();
        self.reta.next = self.reta_reg.q.val();
    }

    /// Marks what `update` drives (what `#[hdl_gen]` would derive from it).
    fn connect(&mut self) {
        self.key.connect();
        self.reta.connect();
        self.key_reg.d.connect();
        self.key_reg.clock.connect();
        self.reta_reg.d.connect();
        self.reta_reg.clock.connect();
    }

    fn hdl(&self) -> Verilog {
        crate::verilog::hand_written(table_verilog())
    }
}

/// The body of [`RssTable`]'s Verilog module.
fn table_verilog() -> String {
    let mut v = format!(
        "reg [{km}:0] key_r = 0;
reg [{rm}:0] reta_r = 0;
assign key = key_r;
assign reta = reta_r;
always @(posedge clock) begin
    if (write) begin
        case (address)
",
        km = KEY_BITS - 1,
        rm = RETA_BITS - 1,
    );
    let key = (0..regs::RSS_KEY_WORDS).map(|i| ("key_r", i, regs::rss_key_word(i)));
    let reta = (0..regs::RETA_WORDS).map(|i| ("reta_r", i, regs::reta_word(i)));
    for (vector, i, address) in key.chain(reta) {
        let _ = writeln!(
            v,
            "            16'h{address:x}: {vector}[{}:{}] <= write_data;",
            32 * i + 31,
            32 * i
        );
    }
    v.push_str("            default: ;\n        endcase\n    end\nend\n");
    v
}

crate::impl_set_inputs!(RssTable {
    clock,
    write,
    address,
    write_data
});

/// Verilog of the catalogue entry `oxnic_rss_table`.
pub fn verilog() -> Result<String, crate::verilog::GenError> {
    let mut b = RssTable::new();
    b.connect_all();
    crate::verilog::generate_named(&b, "oxnic_rss_table")
}

/// Random bus writes (70 % of cycles), most to the key and table words, some elsewhere, for
/// `cycles` cycles.
pub fn random_stimulus(seed: u64, cycles: usize) -> crate::testbench::Stimulus {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    (0..cycles)
        .map(|_| {
            let address = match rng.gen_range(0..10) {
                0..=3 => regs::rss_key_word(rng.gen_range(0..regs::RSS_KEY_WORDS)),
                4..=7 => regs::reta_word(rng.gen_range(0..regs::RETA_WORDS)),
                _ => rng.gen_range(0..0x1_0000),
            };
            vec![
                ("write", vec![u64::from(rng.gen_bool(0.7))]),
                ("address", vec![u64::from(address)]),
                ("write_data", vec![u64::from(rng.gen::<u32>())]),
            ]
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testbench::Bench;

    /// The vectors hold exactly what was written, word by word, and nothing else moves them.
    #[test]
    fn holds_the_words_written_to_the_key_and_table_registers() {
        let mut b = Bench::new(RssTable::new()).unwrap();
        let stim = random_stimulus(3, 3000);
        let mut key = [0u32; regs::RSS_KEY_WORDS as usize];
        let mut reta = [0u32; regs::RETA_WORDS as usize];
        let mut writes = 0;
        for cycle in &stim {
            let get = |n: &str| cycle.iter().find(|(k, _)| *k == n).unwrap().1[0];
            for (name, v) in cycle {
                b.set(name, v).unwrap();
            }
            if get("write") == 1 {
                let a = get("address") as u32;
                let d = get("write_data") as u32;
                for i in 0..regs::RSS_KEY_WORDS {
                    if regs::rss_key_word(i) == a {
                        key[i as usize] = d;
                        writes += 1;
                    }
                }
                for i in 0..regs::RETA_WORDS {
                    if regs::reta_word(i) == a {
                        reta[i as usize] = d;
                        writes += 1;
                    }
                }
            }
            b.settle().unwrap();
            b.tick().unwrap();
            let words = |v: Vec<u64>| -> Vec<u32> {
                v.iter()
                    .flat_map(|w| [*w as u32, (*w >> 32) as u32])
                    .collect()
            };
            assert_eq!(words(b.get("key").unwrap()), key.to_vec());
            assert_eq!(words(b.get("reta").unwrap()), reta.to_vec());
        }
        assert!(writes > 1000, "{writes} writes to the table");
    }
}
