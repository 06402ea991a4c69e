//! `oxnic stats`: the card's register blocks and every counter, like `ethtool -i` and
//! `ethtool -S`. On the simulated card (default) it first pushes `--frames` frames through the
//! card and the driver so the counters show traffic; with `--backend vfio --pci ADDR` it opens
//! a board through VFIO and reads it as it is.

use crate::host::{HostConfig, HostError, SimHost};
use oxnic_driver::device::Device;
use oxnic_driver::nic::{Nic, NicConfig, NicError};
use oxnic_driver::vfio::VfioDevice;
use oxnic_stack::time::Instant;
use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::sync::Arc;

/// Where the card is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    /// The verilated card.
    Sim {
        /// Frames to push through it first.
        frames: u32,
    },
    /// A board bound to vfio-pci at this PCI address (`DDDD:BB:DD.F`).
    Vfio {
        /// The PCI address.
        pci: String,
    },
}

/// Why `oxnic stats` failed.
#[derive(Debug, thiserror::Error)]
pub enum StatsError {
    /// The simulated card did not come up.
    #[error(transparent)]
    Host(#[from] HostError),
    /// The board could not be opened through VFIO.
    #[error("VFIO: {0}")]
    Vfio(String),
    /// The driver could not bring the board up.
    #[error(transparent)]
    Nic(#[from] NicError),
}

/// The report: device identity, register blocks, then `name: value` for every counter.
pub fn run(backend: &Backend) -> Result<String, StatsError> {
    match backend {
        Backend::Sim { frames } => {
            let mut host = SimHost::new(
                &HostConfig {
                    mac: [2, 0x0c, 0x5e, 0, 0, 1],
                    addr: Ipv4Addr::new(10, 0, 0, 1),
                    prefix: 24,
                    queues: 4,
                },
                Instant::ZERO,
            )?;
            for i in 0..*frames {
                host.dev.send_frame(&udp_frame(i));
                if i % 16 == 15 {
                    host.dev.run(4096);
                    host.receive(Instant::ZERO);
                }
            }
            host.dev.run_wire_empty(4096);
            host.receive(Instant::ZERO);
            let out = report("simulated card (oxnic-sim)", host.port.nic());
            host.port.close();
            Ok(out)
        }
        Backend::Vfio { pci } => {
            let dev: Arc<dyn Device> =
                Arc::new(VfioDevice::open(pci).map_err(|e| StatsError::Vfio(e.to_string()))?);
            let nic = Nic::open(dev, NicConfig::default())?;
            Ok(report(&format!("board at {pci} (vfio-pci)"), &nic))
        }
    }
}

fn report(what: &str, nic: &Nic) -> String {
    let i = nic.info();
    let mut s = String::new();
    let _ = writeln!(s, "device: {what}");
    let _ = writeln!(
        s,
        "  id {:04x}:{:04x}, version {}.{}, build {:#010x}, features {:#010x}",
        i.vendor,
        i.device,
        i.hw_version >> 16,
        i.hw_version & 0xffff,
        i.build_id,
        i.features
    );
    let _ = writeln!(
        s,
        "  {} RX / {} TX / {} completion queues, {} vectors, rings up to 2^{}, {}-bit datapath at {} kHz",
        i.num_rxq, i.num_txq, i.num_cq, i.num_vectors, i.max_ring_log2, i.datapath_bits, i.clock_khz
    );
    let _ = writeln!(s, "register blocks (BAR0):");
    for b in &i.blocks {
        let name = oxnic_abi::regs::block_by_kind(b.kind).map_or("?", |d| d.name);
        let _ = writeln!(
            s,
            "  {:#07x}  {name:<8} version {}.{}  {} bytes",
            b.base,
            b.version >> 16,
            b.version & 0xffff,
            b.len
        );
    }
    let _ = writeln!(s, "statistics:");
    for (name, v) in nic.statistics() {
        let _ = writeln!(s, "     {name}: {v}");
    }
    s
}

/// A broadcast UDP datagram numbered `i`, so RSS spreads them by port.
fn udp_frame(i: u32) -> Vec<u8> {
    let payload: Vec<u8> = (0..64 + (i as usize * 37) % 1200)
        .map(|k| (k as u32 ^ i) as u8)
        .collect();
    let mut f = oxnic_hdl::frame_gen::Ipv4Frame::udp(
        [10, 0, 0, 9],
        [10, 0, 0, 255],
        1024 + (i % 512) as u16,
        9,
        &payload,
    );
    f.dst_mac = [0xff; 6];
    f.build()
}
