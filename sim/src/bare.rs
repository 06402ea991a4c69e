//! A bare-hands host for the whole card: register programming and completion-ring walking by
//! the oxnic-abi offsets and views, with rings in simulator-owned memory. The card's own
//! co-simulation tests and its bench drive it this way, without the driver, so that they test
//! the card alone (the driver has its own co-simulation tests).

use crate::hostmem::HostMemory;
use crate::SimDevice;
use oxnic_abi::desc::{Cpl, RxDesc, PHASE_BIT};
use oxnic_abi::features::RSS_KEY_LEN;
use oxnic_abi::regs::{self, cq, offload_en, port, port_ctrl, queue_ctrl, rxq, txq};
use oxnic_driver::Bar;

/// Port up (RX, TX, promiscuous) with `mtu`, and checksum offload and RSS on.
pub fn port_up(dev: &SimDevice, mtu: u32) {
    dev.write32(port::BASE + port::MTU, mtu);
    dev.write32(
        port::BASE + port::CTRL,
        port_ctrl::RX_EN | port_ctrl::TX_EN | port_ctrl::PROMISC,
    );
    dev.write32(
        regs::offload::BASE + regs::offload::ENABLE,
        offload_en::RX_CSUM | offload_en::TX_CSUM | offload_en::RSS,
    );
}

/// Writes the RSS key.
pub fn set_key(dev: &SimDevice, key: &[u8; RSS_KEY_LEN]) {
    for (i, w) in key.chunks(4).enumerate() {
        dev.write32(
            regs::rss_key_word(i as u32),
            u32::from_le_bytes([w[0], w[1], w[2], w[3]]),
        );
    }
}

/// Writes the indirection table (a multiple of 4 entries).
pub fn set_reta(dev: &SimDevice, reta: &[u8]) {
    for (i, w) in reta.chunks(4).enumerate() {
        dev.write32(
            regs::reta_word(i as u32),
            u32::from_le_bytes([w[0], w[1], w[2], w[3]]),
        );
    }
}

/// Programs and enables completion queue `n`: ring at `base`, `2^log2` records, `vector`.
pub fn program_cq(dev: &SimDevice, n: u32, base: u64, log2: u32, vector: u32) {
    let r = |off| cq::reg(n, off);
    dev.write32(r(cq::entry::BASE_LO), base as u32);
    dev.write32(r(cq::entry::BASE_HI), (base >> 32) as u32);
    dev.write32(r(cq::entry::SIZE_LOG2), log2);
    dev.write32(r(cq::entry::VECTOR), vector);
    dev.write32(r(cq::entry::CONS), 0);
    dev.write32(r(cq::entry::CTRL), queue_ctrl::ENABLE);
}

/// Programs and enables RX queue `q`: ring at `ring`, `2^log2` descriptors, reporting to
/// completion queue `cqn`, producer index 0.
pub fn program_rxq(dev: &SimDevice, q: u32, ring: u64, log2: u32, cqn: u32) {
    let r = |off| rxq::reg(q, off);
    dev.write32(r(rxq::entry::BASE_LO), ring as u32);
    dev.write32(r(rxq::entry::BASE_HI), (ring >> 32) as u32);
    dev.write32(r(rxq::entry::SIZE_LOG2), log2);
    dev.write32(r(rxq::entry::CQ), cqn);
    dev.write32(r(rxq::entry::PROD), 0);
    dev.write32(r(rxq::entry::CTRL), queue_ctrl::ENABLE);
}

/// Programs and enables TX queue `q` like [`program_rxq`].
pub fn program_txq(dev: &SimDevice, q: u32, ring: u64, log2: u32, cqn: u32) {
    let r = |off| txq::reg(q, off);
    dev.write32(r(txq::entry::BASE_LO), ring as u32);
    dev.write32(r(txq::entry::BASE_HI), (ring >> 32) as u32);
    dev.write32(r(txq::entry::SIZE_LOG2), log2);
    dev.write32(r(txq::entry::CQ), cqn);
    dev.write32(r(txq::entry::PROD), 0);
    dev.write32(r(txq::entry::CTRL), queue_ctrl::ENABLE);
}

/// Fills an RX ring of `n` descriptors at `ring` with buffers of `buf_size` bytes laid out
/// back to back from `bufs`.
///
/// # Panics
/// If the ring is not mapped as simulator-owned memory.
pub fn fill_rx_ring(m: &mut HostMemory, ring: u64, bufs: u64, n: u64, buf_size: u32) {
    for i in 0..n {
        let d = RxDesc {
            addr: bufs + i * u64::from(buf_size),
            len: buf_size,
        };
        m.host_slice_mut(ring + i * RxDesc::LEN as u64, RxDesc::LEN)
            .expect("RX ring mapped by the simulator")
            .copy_from_slice(&d.to_bytes());
    }
}

/// Walks the completion ring at `base` (`2^log2` records) from consumer index `cons` by phase
/// bit, handing each new record to `f` and advancing `cons`; returns how many were new.
pub fn walk_cpls(
    m: &HostMemory,
    base: u64,
    log2: u32,
    cons: &mut u16,
    mut f: impl FnMut(&[u8]),
) -> u16 {
    let start = *cons;
    let mask = (1u32 << log2) - 1;
    loop {
        let slot = u64::from(u32::from(*cons) & mask);
        let phase = (u32::from(*cons) >> log2) & 1 == 0;
        let Some(raw) = m.host_slice(base + slot * Cpl::LEN as u64, Cpl::LEN) else {
            break;
        };
        if (raw[Cpl::LEN - 1] & PHASE_BIT != 0) != phase {
            break;
        }
        f(raw);
        *cons = cons.wrapping_add(1);
    }
    cons.wrapping_sub(start)
}
