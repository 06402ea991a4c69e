//! The card on a real PCIe slot, through VFIO.
//!
//! [`VfioDevice`] implements [`Device`] by wrapping `pci-driver`'s `VfioPciDevice` (its own
//! `PciDevice`/`PciRegion` traits are sealed, so this wraps the concrete type): BAR0 is mapped
//! into the process, DMA memory is mapped into the device's IOMMU domain
//! (`VFIO_IOMMU_MAP_DMA` with the region's host address), and each MSI-X vector signals an
//! eventfd that [`Device::irq_wait`] polls. `vfio-bindings` supplies what `pci-driver` does not
//! expose: the API-version and IOMMU-type checks and the group viability check, which let
//! [`VfioDevice::open`] say exactly which binding step is missing instead of a bare errno.
//!
//! # Binding the card to vfio-pci
//!
//! Run once per boot, as root (`0000:03:00.0` is the card's PCI address, from `lspci -D -d 10ee:`):
//!
//! 1. The IOMMU must be on: boot with `intel_iommu=on` (Intel) or `amd_iommu=on` (AMD) on the
//!    kernel command line, and VT-d/AMD-Vi enabled in the firmware. Then
//!    `/sys/bus/pci/devices/0000:03:00.0/iommu_group` exists.
//! 2. Load the driver: `modprobe vfio-pci` (this creates `/dev/vfio/vfio`).
//! 3. Hand the card to it, either by device ID:
//!    `echo 10ee 0c5e > /sys/bus/pci/drivers/vfio-pci/new_id`,
//!    or for this one device only:
//!    `echo vfio-pci > /sys/bus/pci/devices/0000:03:00.0/driver_override` and, if another
//!    driver holds it, `echo 0000:03:00.0 > /sys/bus/pci/devices/0000:03:00.0/driver/unbind`,
//!    then `echo 0000:03:00.0 > /sys/bus/pci/drivers_probe`.
//! 4. Every other device in the card's IOMMU group
//!    (`ls /sys/bus/pci/devices/0000:03:00.0/iommu_group/devices`) must be bound to vfio-pci
//!    too, or to no driver (PCIe bridges excepted); otherwise the group is not viable.
//! 5. Let the user run the driver: `chown $USER /dev/vfio/<group>` (the group number is the
//!    name of the `iommu_group` link's target), and raise the locked-memory limit, which DMA
//!    mappings count against (`ulimit -l unlimited`, or `memlock` in
//!    `/etc/security/limits.conf`). Running as root needs neither.

use crate::bar::Bar;
use crate::device::{Device, DeviceError, DmaPerm};
use crate::dma::DmaRegion;
use pci_driver::backends::vfio::VfioPciDevice;
use pci_driver::device::PciDevice;
use pci_driver::regions::{MappedOwningPciRegion, PciRegion, Permissions};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use vfio_bindings::bindings::vfio as vb;

/// The binding steps, as one paragraph for error messages.
pub const BINDING_STEPS: &str = "to bind it: enable the IOMMU (intel_iommu=on or amd_iommu=on \
on the kernel command line); modprobe vfio-pci; echo <vendor> <device> > \
/sys/bus/pci/drivers/vfio-pci/new_id (or echo vfio-pci > /sys/bus/pci/devices/<addr>/driver_override, \
unbind the current driver and echo <addr> > /sys/bus/pci/drivers_probe); bind every device of \
its IOMMU group to vfio-pci; give the user /dev/vfio/<group> and an unlimited locked-memory \
limit (ulimit -l), or run as root";

/// Most MSI-X vectors used (interrupt masks are 64 bits wide).
pub const MAX_VECTORS: usize = 64;

const fn vfio_io(n: u32) -> u64 {
    // _IO(VFIO_TYPE, VFIO_BASE + n): no direction, no size.
    (((vb::VFIO_TYPE as u32) << 8) | (vb::VFIO_BASE + n)) as u64
}
const VFIO_GET_API_VERSION: u64 = vfio_io(0);
const VFIO_CHECK_EXTENSION: u64 = vfio_io(1);
const VFIO_GROUP_GET_STATUS: u64 = vfio_io(3);

/// Where the kernel's files live (swapped for a fake tree in tests).
#[derive(Debug, Clone)]
struct Roots {
    sys_pci: PathBuf,
    dev_vfio: PathBuf,
}

impl Default for Roots {
    fn default() -> Self {
        Roots {
            sys_pci: PathBuf::from("/sys/bus/pci/devices"),
            dev_vfio: PathBuf::from("/dev/vfio"),
        }
    }
}

/// Normalises a PCI address (`03:00.0` → `0000:03:00.0`), or says what is wrong with it.
pub fn parse_pci_address(addr: &str) -> Result<String, DeviceError> {
    let full = if addr.len() == 7 {
        format!("0000:{addr}")
    } else {
        addr.to_string()
    };
    let b = full.as_bytes();
    let hex = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_hexdigit);
    let ok = b.len() == 12
        && hex(0..4)
        && b[4] == b':'
        && hex(5..7)
        && b[7] == b':'
        && hex(8..10)
        && b[10] == b'.'
        && (b'0'..=b'7').contains(&b[11])
        && u8::from_str_radix(&full[8..10], 16).is_ok_and(|d| d < 32);
    if !ok {
        return Err(DeviceError::Open {
            what: addr.to_string(),
            why: "not a PCI address: expected domain:bus:device.function such as 0000:03:00.0 \
                  (lspci -D lists them)"
                .into(),
        });
    }
    Ok(full.to_ascii_lowercase())
}

fn open_err(addr: &str, why: impl Into<String>) -> DeviceError {
    DeviceError::Open {
        what: format!("PCI device {addr}"),
        why: format!("{}; {BINDING_STEPS}", why.into()),
    }
}

fn link_name(p: &Path) -> Option<String> {
    std::fs::read_link(p)
        .ok()?
        .file_name()?
        .to_str()
        .map(str::to_string)
}

/// Checks every binding step in order and names the first one missing. Returns the IOMMU
/// group number.
fn preflight(roots: &Roots, addr: &str) -> Result<u32, DeviceError> {
    let dev = roots.sys_pci.join(addr);
    if !dev.exists() {
        return Err(open_err(
            addr,
            format!(
                "no such device in {} (lspci -D lists devices)",
                roots.sys_pci.display()
            ),
        ));
    }
    match link_name(&dev.join("driver")) {
        Some(d) if d == "vfio-pci" => {}
        Some(d) => {
            return Err(open_err(
                addr,
                format!("it is bound to {d}, not vfio-pci (unbind it first)"),
            ))
        }
        None => return Err(open_err(addr, "it is not bound to vfio-pci")),
    }
    let group: u32 = link_name(&dev.join("iommu_group"))
        .and_then(|g| g.parse().ok())
        .ok_or_else(|| {
            open_err(
                addr,
                "it has no IOMMU group: the IOMMU is off (intel_iommu=on / amd_iommu=on)",
            )
        })?;
    let container = roots.dev_vfio.join("vfio");
    if !container.exists() {
        return Err(open_err(
            addr,
            format!("{} is missing: modprobe vfio-pci", container.display()),
        ));
    }
    let group_path = roots.dev_vfio.join(group.to_string());
    let gfile = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&group_path)
        .map_err(|e| {
            open_err(
                addr,
                format!(
                    "cannot open {} (IOMMU group {group}): {e}{}",
                    group_path.display(),
                    if e.kind() == std::io::ErrorKind::PermissionDenied {
                        " — chown it to this user or run as root"
                    } else if e.raw_os_error() == Some(libc::EBUSY) {
                        " — another process has the group open"
                    } else {
                        ""
                    }
                ),
            )
        })?;
    check_vfio_api(&container).map_err(|why| open_err(addr, why))?;
    let mut status = vb::vfio_group_status {
        argsz: std::mem::size_of::<vb::vfio_group_status>() as u32,
        flags: 0,
    };
    // SAFETY: VFIO_GROUP_GET_STATUS writes one vfio_group_status, whose argsz we set; the fd
    // is an open VFIO group file that lives across the call.
    let r = unsafe { libc::ioctl(gfile.as_raw_fd(), VFIO_GROUP_GET_STATUS as _, &mut status) };
    if r < 0 {
        return Err(open_err(
            addr,
            format!(
                "{} is not a VFIO group: {}",
                group_path.display(),
                std::io::Error::last_os_error()
            ),
        ));
    }
    if status.flags & vb::VFIO_GROUP_FLAGS_VIABLE == 0 {
        let members = std::fs::read_dir(dev.join("iommu_group").join("devices"))
            .map(|d| {
                d.filter_map(|e| e.ok()?.file_name().into_string().ok())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default();
        return Err(open_err(
            addr,
            format!(
                "IOMMU group {group} is not viable: bind every device in it ({members}) to \
                 vfio-pci or to no driver"
            ),
        ));
    }
    Ok(group)
}

/// Checks the VFIO API version and type-1 IOMMU support on the container device.
fn check_vfio_api(container: &Path) -> Result<(), String> {
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(container)
        .map_err(|e| format!("cannot open {}: {e}", container.display()))?;
    // SAFETY: VFIO_GET_API_VERSION takes no argument; the fd is open for the call.
    let v = unsafe { libc::ioctl(f.as_raw_fd(), VFIO_GET_API_VERSION as _) };
    if v < 0 {
        return Err(format!(
            "{} is not the VFIO container device: {}",
            container.display(),
            std::io::Error::last_os_error()
        ));
    }
    if v != vb::VFIO_API_VERSION as i32 {
        return Err(format!(
            "{} speaks VFIO API {v}, this driver needs {}",
            container.display(),
            vb::VFIO_API_VERSION
        ));
    }
    // SAFETY: VFIO_CHECK_EXTENSION takes an integer argument by value.
    let t1 = unsafe {
        libc::ioctl(
            f.as_raw_fd(),
            VFIO_CHECK_EXTENSION as _,
            vb::VFIO_TYPE1v2_IOMMU as libc::c_ulong,
        )
    };
    if t1 <= 0 {
        return Err("the kernel's VFIO has no type-1 v2 IOMMU (is the IOMMU on?)".into());
    }
    Ok(())
}

/// A card opened through VFIO.
pub struct VfioDevice {
    addr: String,
    // Field order is drop order: the BAR mapping and the eventfds go before the device.
    bar0: MappedOwningPciRegion,
    eventfds: Vec<File>,
    enabled: AtomicU64,
    maps: Mutex<BTreeMap<u64, Arc<DmaRegion>>>,
    pci: VfioPciDevice,
    start: Instant,
}

impl std::fmt::Debug for VfioDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VfioDevice")
            .field("addr", &self.addr)
            .field("bar0_len", &self.bar0.len())
            .field("vectors", &self.eventfds.len())
            .finish()
    }
}

impl VfioDevice {
    /// Opens the card at PCI address `addr` (`0000:03:00.0` or `03:00.0`): checks the binding,
    /// opens the VFIO group and device, enables bus mastering, maps BAR0 and wires one eventfd
    /// per MSI-X vector. Without `/dev/vfio` or the device, the error names the address and the
    /// binding step that is missing (see the module docs).
    pub fn open(addr: &str) -> Result<Self, DeviceError> {
        Self::open_with(&Roots::default(), addr)
    }

    fn open_with(roots: &Roots, addr: &str) -> Result<Self, DeviceError> {
        let addr = parse_pci_address(addr)?;
        preflight(roots, &addr)?;
        let pci = VfioPciDevice::open(roots.sys_pci.join(&addr))
            .map_err(|e| open_err(&addr, format!("VFIO refused the device: {e}")))?;
        let cmd = pci.config().command();
        cmd.memory_space_enable()
            .write(true)
            .and_then(|_| cmd.bus_master_enable().write(true))
            .map_err(|e| open_err(&addr, format!("cannot enable bus mastering: {e}")))?;
        let bar = pci
            .bar(0)
            .ok_or_else(|| open_err(&addr, "the device has no BAR0 (is it an oxnic card?)"))?;
        let bar0 = bar
            .map(.., Permissions::ReadWrite)
            .map_err(|e| open_err(&addr, format!("cannot map BAR0: {e}")))?;
        let irqs = pci.interrupts();
        let msix = irqs.msi_x();
        let n = msix.max().min(MAX_VECTORS);
        let mut eventfds = Vec::with_capacity(n);
        for _ in 0..n {
            // SAFETY: eventfd(2) has no memory arguments; a negative result is an error.
            let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
            if fd < 0 {
                return Err(DeviceError::Os {
                    op: "eventfd",
                    source: std::io::Error::last_os_error(),
                });
            }
            // SAFETY: `fd` is a fresh descriptor that nothing else owns.
            eventfds.push(File::from(unsafe { OwnedFd::from_raw_fd(fd) }));
        }
        if n > 0 {
            let raw: Vec<i32> = eventfds.iter().map(AsRawFd::as_raw_fd).collect();
            msix.enable(&raw).map_err(|source| DeviceError::Os {
                op: "VFIO_DEVICE_SET_IRQS (MSI-X)",
                source,
            })?;
        }
        Ok(VfioDevice {
            addr,
            bar0,
            eventfds,
            enabled: AtomicU64::new(0),
            maps: Mutex::new(BTreeMap::new()),
            pci,
            start: Instant::now(),
        })
    }

    /// The PCI address.
    pub fn address(&self) -> &str {
        &self.addr
    }

    /// IOVA ranges the IOMMU accepts (give `NicConfig::iova_base`/`iova_len` one of them).
    pub fn valid_iova_ranges(&self) -> Vec<std::ops::Range<u64>> {
        self.pci.iommu().valid_iova_ranges().to_vec()
    }

    fn drain(&self, v: usize) -> bool {
        let mut b = [0u8; 8];
        // Non-blocking eventfd: a read either takes the count or fails with WouldBlock.
        (&self.eventfds[v]).read(&mut b).is_ok_and(|n| n == 8)
    }
}

impl Bar for VfioDevice {
    fn size(&self) -> u32 {
        self.bar0.len().min(u32::MAX as usize) as u32
    }

    fn read32(&self, offset: u32) -> u32 {
        // Out of range or unaligned reads return all-ones, like a PCIe master abort.
        self.bar0.read_le_u32(u64::from(offset)).unwrap_or(!0)
    }

    fn write32(&self, offset: u32, value: u32) {
        // Out of range writes are dropped, as the bus would.
        let _ = self.bar0.write_le_u32(u64::from(offset), value);
    }
}

impl Device for VfioDevice {
    fn dma_map(
        &self,
        region: &Arc<DmaRegion>,
        iova: u64,
        perm: DmaPerm,
    ) -> Result<(), DeviceError> {
        let len = region.len() as u64;
        let bad = |why| DeviceError::BadMapping { iova, len, why };
        let perms = Permissions::new(perm.read, perm.write).ok_or(bad("no access requested"))?;
        let end = iova.checked_add(len).ok_or(bad("wraps"))?;
        let iommu = self.pci.iommu();
        let align = iommu.alignment() as u64;
        if iova % align != 0 || region.host_addr() % align != 0 || len % align != 0 {
            return Err(bad("not aligned to the IOMMU page size"));
        }
        if !iommu
            .valid_iova_ranges()
            .iter()
            .any(|r| r.start <= iova && end <= r.end)
        {
            return Err(bad("outside the IOMMU's valid IOVA ranges"));
        }
        let mut maps = self.maps.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((&b, r)) = maps.range(..end).next_back() {
            if b + r.len() as u64 > iova {
                return Err(bad("overlaps an existing mapping"));
            }
        }
        // SAFETY: the region's memory stays alive while mapped: `maps` holds an Arc to it until
        // `dma_unmap` (or drop) has removed the IOMMU mapping.
        unsafe { iommu.map(iova, region.len(), region.host_addr() as *const u8, perms) }.map_err(
            |source| DeviceError::Os {
                op: "VFIO_IOMMU_MAP_DMA",
                source,
            },
        )?;
        maps.insert(iova, region.clone());
        Ok(())
    }

    fn dma_unmap(&self, iova: u64) -> Result<(), DeviceError> {
        let mut maps = self.maps.lock().unwrap_or_else(PoisonError::into_inner);
        let len = maps.get(&iova).ok_or(DeviceError::NotMapped(iova))?.len();
        self.pci
            .iommu()
            .unmap(iova, len)
            .map_err(|source| DeviceError::Os {
                op: "VFIO_IOMMU_UNMAP_DMA",
                source,
            })?;
        maps.remove(&iova);
        Ok(())
    }

    fn num_vectors(&self) -> u32 {
        self.eventfds.len() as u32
    }

    fn irq_enable(&self, vector: u32) -> Result<(), DeviceError> {
        if vector as usize >= self.eventfds.len() {
            return Err(DeviceError::NoSuchVector {
                vector,
                count: self.eventfds.len() as u32,
            });
        }
        // Interrupts raised before enabling are not delivered: forget them.
        self.drain(vector as usize);
        self.enabled.fetch_or(1 << vector, Ordering::AcqRel);
        Ok(())
    }

    fn irq_wait(&self, mask: u64, timeout: Duration) -> Result<u64, DeviceError> {
        let mask = mask & self.enabled.load(Ordering::Acquire);
        let mut fds = [libc::pollfd {
            fd: -1,
            events: 0,
            revents: 0,
        }; MAX_VECTORS];
        let mut which = [0u32; MAX_VECTORS];
        let mut n = 0;
        for v in 0..self.eventfds.len() {
            if mask & (1 << v) != 0 {
                fds[n] = libc::pollfd {
                    fd: self.eventfds[v].as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                };
                which[n] = v as u32;
                n += 1;
            }
        }
        if n == 0 {
            std::thread::sleep(timeout);
            return Ok(0);
        }
        let ms = timeout.as_nanos().div_ceil(1_000_000).min(i32::MAX as u128) as i32;
        // SAFETY: `fds[..n]` is a valid array of pollfd that outlives the call.
        let r = unsafe { libc::poll(fds.as_mut_ptr(), n as libc::nfds_t, ms) };
        if r < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                return Ok(0);
            }
            return Err(DeviceError::Os {
                op: "poll",
                source: e,
            });
        }
        let mut fired = 0;
        for k in 0..n {
            if fds[k].revents & libc::POLLIN != 0 && self.drain(which[k] as usize) {
                fired |= 1 << which[k];
            }
        }
        Ok(fired)
    }

    fn relax(&self) {
        std::hint::spin_loop();
    }

    fn now_ns(&self) -> u64 {
        self.start.elapsed().as_nanos() as u64
    }
}

impl Drop for VfioDevice {
    fn drop(&mut self) {
        let _ = self.pci.interrupts().msi_x().disable();
        let maps = std::mem::take(&mut *self.maps.lock().unwrap_or_else(PoisonError::into_inner));
        for (iova, r) in maps {
            let _ = self.pci.iommu().unmap(iova, r.len());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU32;

    fn why(e: DeviceError) -> (String, String) {
        match e {
            DeviceError::Open { what, why } => (what, why),
            other => panic!("expected an Open error, got {other}"),
        }
    }

    /// A fake sysfs and /dev tree under the temp directory.
    struct Tree(PathBuf);

    impl Tree {
        fn new() -> Self {
            static N: AtomicU32 = AtomicU32::new(0);
            let p = std::env::temp_dir().join(format!(
                "oxnic-vfio-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            std::fs::create_dir_all(p.join("sys/bus/pci/devices")).unwrap();
            std::fs::create_dir_all(p.join("dev/vfio")).unwrap();
            Tree(p)
        }
        fn roots(&self) -> Roots {
            Roots {
                sys_pci: self.0.join("sys/bus/pci/devices"),
                dev_vfio: self.0.join("dev/vfio"),
            }
        }
        fn device(&self, addr: &str, driver: Option<&str>, group: Option<u32>) {
            let d = self.0.join("sys/bus/pci/devices").join(addr);
            std::fs::create_dir_all(&d).unwrap();
            if let Some(drv) = driver {
                let target = self.0.join("sys/bus/pci/drivers").join(drv);
                std::fs::create_dir_all(&target).unwrap();
                std::os::unix::fs::symlink(&target, d.join("driver")).unwrap();
            }
            if let Some(g) = group {
                let target = self.0.join("sys/kernel/iommu_groups").join(g.to_string());
                std::fs::create_dir_all(&target).unwrap();
                std::os::unix::fs::symlink(&target, d.join("iommu_group")).unwrap();
            }
        }
    }

    impl Drop for Tree {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn addresses_are_checked_and_normalised() {
        assert_eq!(parse_pci_address("03:00.0").unwrap(), "0000:03:00.0");
        assert_eq!(parse_pci_address("0000:AF:1f.7").unwrap(), "0000:af:1f.7");
        for bad in [
            "",
            "03:00",
            "0000:03:00.8",
            "0000:03:20.0",
            "zz00:03:00.0",
            "0000-03:00.0",
        ] {
            let (what, why) = why(parse_pci_address(bad).unwrap_err());
            assert_eq!(what, bad);
            assert!(why.contains("0000:03:00.0"), "{why}");
        }
    }

    #[test]
    fn open_without_the_device_names_it_and_the_binding_steps() {
        // No oxnic card exists on this machine (nor at this address on any machine).
        let (what, why) = why(VfioDevice::open("0000:ff:1f.7").unwrap_err());
        assert_eq!(what, "PCI device 0000:ff:1f.7");
        for step in [
            "modprobe vfio-pci",
            "new_id",
            "driver_override",
            "IOMMU group",
            "intel_iommu=on",
            "ulimit -l",
        ] {
            assert!(why.contains(step), "missing {step:?} in: {why}");
        }
    }

    #[test]
    fn each_missing_step_is_named() {
        let t = Tree::new();
        let r = t.roots();
        let a = "0000:03:00.0";
        let (_, w) = why(VfioDevice::open_with(&r, a).unwrap_err());
        assert!(w.starts_with("no such device"), "{w}");
        t.device(a, None, None);
        let (_, w) = why(VfioDevice::open_with(&r, a).unwrap_err());
        assert!(w.starts_with("it is not bound to vfio-pci"), "{w}");

        let b = "0000:04:00.0";
        t.device(b, Some("e1000e"), Some(7));
        let (_, w) = why(VfioDevice::open_with(&r, b).unwrap_err());
        assert!(w.starts_with("it is bound to e1000e, not vfio-pci"), "{w}");

        let c = "0000:05:00.0";
        t.device(c, Some("vfio-pci"), None);
        let (_, w) = why(VfioDevice::open_with(&r, c).unwrap_err());
        assert!(w.starts_with("it has no IOMMU group"), "{w}");

        let d = "0000:06:00.0";
        t.device(d, Some("vfio-pci"), Some(12));
        let (_, w) = why(VfioDevice::open_with(&r, d).unwrap_err());
        assert!(w.contains("vfio is missing: modprobe vfio-pci"), "{w}");

        std::fs::write(t.0.join("dev/vfio/vfio"), b"").unwrap();
        let (_, w) = why(VfioDevice::open_with(&r, d).unwrap_err());
        assert!(w.contains("(IOMMU group 12)"), "{w}");

        // Plain files where the VFIO devices should be: the API check's ioctl fails.
        std::fs::write(t.0.join("dev/vfio/12"), b"").unwrap();
        let (_, w) = why(VfioDevice::open_with(&r, d).unwrap_err());
        assert!(w.contains("is not the VFIO container device"), "{w}");
    }
}
