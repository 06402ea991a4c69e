//! Renders the register map as Markdown (`docs/registers.md`), from the same definitions the HDL
//! and the driver use. `oxnic regmap` writes it; a test fails when the checked-in copy is stale.

use crate::regs::{self, hdr, Access, RegDef, BLOCKS};
use core::fmt::{Result, Write};

fn reg_table(f: &mut impl Write, base: Option<u32>, regs: &[RegDef]) -> Result {
    writeln!(f, "| offset | name | access | reset | description |")?;
    writeln!(f, "|---|---|---|---|---|")?;
    for r in regs {
        match base {
            Some(b) => write!(f, "| `{:#06x}` ", b + r.offset)?,
            None => write!(f, "| `+{:#04x}` ", r.offset)?,
        }
        let reset = match r.access {
            Access::Rw => {
                if r.reset > 0xffff {
                    DecOrHex::Hex(r.reset)
                } else {
                    DecOrHex::Dec(r.reset)
                }
            }
            _ => DecOrHex::None,
        };
        writeln!(
            f,
            "| {} | {} | {} | {} |",
            r.name,
            r.access.name(),
            reset,
            r.doc
        )?;
    }
    Ok(())
}

enum DecOrHex {
    Dec(u32),
    Hex(u32),
    None,
}

impl core::fmt::Display for DecOrHex {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> Result {
        match self {
            DecOrHex::Dec(v) => write!(f, "{v}"),
            DecOrHex::Hex(v) => write!(f, "{v:#x}"),
            DecOrHex::None => f.write_str("–"),
        }
    }
}

/// Writes the whole register map as Markdown.
pub fn write_register_map(f: &mut impl Write) -> Result {
    writeln!(f, "# oxnic BAR0 register map")?;
    writeln!(f)?;
    writeln!(
        f,
        "Generated from `hdl/abi/src/regs.rs` by `oxnic regmap -o docs/registers.md`; do not edit."
    )?;
    writeln!(f, "A test fails when this file is stale.")?;
    writeln!(f)?;
    writeln!(
        f,
        "BAR0 is {} bytes: a chain of self-describing blocks. Every block starts with the same \
         header; the driver walks `NEXT` from offset 0 and finds features by `TYPE`. Registers are \
         32-bit little-endian; `RO64` counters span two registers and reading the low word latches \
         the high word.",
        regs::BAR0_SIZE
    )?;
    writeln!(f)?;
    writeln!(f, "| block | type | version | offset | length | next |")?;
    writeln!(f, "|---|---|---|---|---|---|")?;
    for (i, b) in BLOCKS.iter().enumerate() {
        writeln!(
            f,
            "| [{0}](#{0}) | `{1:#010x}` | {2}.{3} | `{4:#06x}` | `{5:#x}` | `{6:#06x}` |",
            b.name,
            b.kind,
            b.version >> 16,
            b.version & 0xffff,
            b.base,
            b.len,
            regs::next_of(i)
        )?;
    }
    writeln!(f)?;
    writeln!(f, "## Common header")?;
    writeln!(f)?;
    reg_table(f, None, hdr::REGS)?;
    writeln!(f)?;
    writeln!(
        f,
        "Array blocks (one register set per queue or vector) add:"
    )?;
    writeln!(f)?;
    reg_table(f, None, hdr::ARRAY_REGS)?;
    for b in BLOCKS {
        writeln!(f)?;
        writeln!(f, "## {}", b.name)?;
        writeln!(f)?;
        for line in b.doc.lines() {
            writeln!(f, "{}", line.trim())?;
        }
        if !b.regs.is_empty() {
            writeln!(f)?;
            reg_table(f, Some(b.base), b.regs)?;
        }
        if let Some(a) = b.array {
            writeln!(f)?;
            writeln!(
                f,
                "One entry per {} at `{:#06x} + {:#x} × n` (room for {} entries; `COUNT` says how many exist):",
                a.entry,
                b.base + regs::ARRAY_OFFSET,
                a.stride,
                a.max_entries
            )?;
            writeln!(f)?;
            reg_table(f, None, a.regs)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::String;

    #[test]
    fn every_register_is_documented() {
        let mut s = String::new();
        write_register_map(&mut s).unwrap();
        for b in BLOCKS {
            assert!(s.contains(&std::format!("## {}", b.name)));
            for r in b
                .regs
                .iter()
                .chain(b.array.iter().flat_map(|a| a.regs.iter()))
            {
                assert!(
                    s.contains(&std::format!("| {} |", r.name)),
                    "{} missing",
                    r.name
                );
            }
        }
        assert!(s.contains("| `0x0118` | MTU | RW | 1500 |"));
    }
}
