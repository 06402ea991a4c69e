//! The Ethernet port: MAC address, MTU, enables, link state and the card's 64-bit counters.
//!
//! Lifecycle: [`open`](Port::open) → [`set_mac`](Port::set_mac) / [`set_mtu`](Port::set_mtu) →
//! [`enable`](Port::enable) → [`disable`](Port::disable).

use crate::device::Device;
use oxnic_abi::regs::{port, port_ctrl, Access};
use std::sync::Arc;

/// Why a port setting was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PortError {
    /// MTU outside 68..=the card's MAX_MTU.
    #[error("MTU {mtu} is outside 68..={max}")]
    BadMtu {
        /// Requested MTU.
        mtu: u32,
        /// The card's largest.
        max: u32,
    },
    /// A multicast or all-zero address cannot be a station address.
    #[error("{0:02x?} is not a unicast station address")]
    BadMac([u8; 6]),
}

/// The card's port.
pub struct Port {
    dev: Arc<dyn Device>,
    max_mtu: u32,
}

impl std::fmt::Debug for Port {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Port")
            .field("mac", &self.mac())
            .field("mtu", &self.mtu())
            .finish()
    }
}

impl Port {
    /// The port of `dev`; `max_mtu` is the card's `MAX_MTU`.
    pub fn open(dev: Arc<dyn Device>, max_mtu: u32) -> Self {
        let max_mtu = if max_mtu == 0 {
            oxnic_abi::features::MAX_MTU
        } else {
            max_mtu.min(oxnic_abi::features::MAX_MTU)
        };
        Port { dev, max_mtu }
    }

    /// The station MAC address.
    pub fn mac(&self) -> [u8; 6] {
        let lo = self.dev.read32(port::BASE + port::MAC_LO).to_le_bytes();
        let hi = self.dev.read32(port::BASE + port::MAC_HI).to_le_bytes();
        [lo[0], lo[1], lo[2], lo[3], hi[0], hi[1]]
    }

    /// Sets the station MAC address (the card's destination filter).
    pub fn set_mac(&self, mac: [u8; 6]) -> Result<(), PortError> {
        if mac[0] & 1 != 0 || mac == [0; 6] {
            return Err(PortError::BadMac(mac));
        }
        self.dev.write32(
            port::BASE + port::MAC_LO,
            u32::from_le_bytes([mac[0], mac[1], mac[2], mac[3]]),
        );
        self.dev.write32(
            port::BASE + port::MAC_HI,
            u32::from_le_bytes([mac[4], mac[5], 0, 0]),
        );
        Ok(())
    }

    /// The MTU.
    pub fn mtu(&self) -> u32 {
        self.dev.read32(port::BASE + port::MTU)
    }

    /// Largest MTU the card accepts.
    pub fn max_mtu(&self) -> u32 {
        self.max_mtu
    }

    /// Sets the MTU (IPv4 minimum 68 up to the card's maximum).
    pub fn set_mtu(&self, mtu: u32) -> Result<(), PortError> {
        if !(68..=self.max_mtu).contains(&mtu) {
            return Err(PortError::BadMtu {
                mtu,
                max: self.max_mtu,
            });
        }
        self.dev.write32(port::BASE + port::MTU, mtu);
        Ok(())
    }

    /// Starts receive and transmit, optionally promiscuous.
    pub fn enable(&self, promisc: bool) {
        let p = if promisc { port_ctrl::PROMISC } else { 0 };
        self.dev.write32(
            port::BASE + port::CTRL,
            port_ctrl::RX_EN | port_ctrl::TX_EN | p,
        );
    }

    /// Stops receive and transmit.
    pub fn disable(&self) {
        self.dev.write32(port::BASE + port::CTRL, 0);
    }

    /// True if the port is enabled in promiscuous mode.
    pub fn promisc(&self) -> bool {
        self.dev.read32(port::BASE + port::CTRL) & port_ctrl::PROMISC != 0
    }

    /// Link state.
    pub fn link_up(&self) -> bool {
        self.dev.read32(port::BASE + port::STATUS) & 1 != 0
    }

    /// Every 64-bit counter of the port block, named as in the register map.
    pub fn counters(&self) -> Vec<(&'static str, u64)> {
        port::REGS
            .iter()
            .filter(|r| r.access == Access::Ctr64)
            .map(|r| (r.name, self.dev.read_ctr64(port::BASE + r.offset)))
            .collect()
    }

    /// The counter called `name` (as in the register map, e.g. `RX_NO_BUFFER`).
    pub fn counter(&self, name: &str) -> Option<u64> {
        let r = port::REGS
            .iter()
            .find(|r| r.access == Access::Ctr64 && r.name == name)?;
        Some(self.dev.read_ctr64(port::BASE + r.offset))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mock::MockCard;
    use crate::Bar;

    #[test]
    fn mac_mtu_and_counters() {
        let card = Arc::new(MockCard::new());
        let p = Port::open(card.clone(), 9000);
        p.set_mac([0x02, 0, 0, 0xaa, 0xbb, 0xcc]).unwrap();
        assert_eq!(p.mac(), [0x02, 0, 0, 0xaa, 0xbb, 0xcc]);
        assert_eq!(card.read32(port::BASE + port::MAC_HI), 0xccbb);
        assert_eq!(
            p.set_mac([0x01, 0, 0x5e, 0, 0, 1]),
            Err(PortError::BadMac([0x01, 0, 0x5e, 0, 0, 1]))
        );
        assert_eq!(p.mtu(), 1500, "reset value");
        p.set_mtu(9000).unwrap();
        assert_eq!(
            p.set_mtu(9001),
            Err(PortError::BadMtu {
                mtu: 9001,
                max: 9000
            })
        );
        assert_eq!(p.set_mtu(67), Err(PortError::BadMtu { mtu: 67, max: 9000 }));
        p.enable(true);
        assert!(p.promisc());
        let c = p.counters();
        assert_eq!(c.len(), 18);
        assert_eq!(c[0], ("RX_PACKETS", 0));
        assert_eq!(p.counter("DMA_FAULTS"), Some(0));
        assert_eq!(p.counter("MTU"), None, "not a counter");
    }
}
