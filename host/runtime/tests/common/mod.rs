//! Two runtimes joined by an in-memory wire: A = 10.0.0.1/24, B = 10.0.0.2/24.

use oxnic_runtime::{mem_wire, Runtime};
use oxnic_stack::wire::ethernet::EthernetAddress;
use oxnic_stack::DeviceCaps;
use std::sync::mpsc;
use std::time::Duration;

/// Generous bound for anything that should take milliseconds, on a loaded 2-core machine.
#[allow(dead_code)]
pub const PATIENCE: Duration = Duration::from_secs(20);

pub fn pair_with(caps: DeviceCaps) -> (Runtime, Runtime) {
    let (pa, pb) = mem_wire();
    let a = Runtime::builder()
        .interface(
            "eth0",
            EthernetAddress([2, 0, 0, 0, 0, 1]),
            caps,
            "10.0.0.1/24",
            pa,
        )
        .start()
        .expect("runtime A starts");
    let b = Runtime::builder()
        .interface(
            "eth0",
            EthernetAddress([2, 0, 0, 0, 0, 2]),
            caps,
            "10.0.0.2/24",
            pb,
        )
        .start()
        .expect("runtime B starts");
    (a, b)
}

pub fn pair() -> (Runtime, Runtime) {
    pair_with(DeviceCaps::default())
}

/// Runs `f` on a thread and returns its result, failing the test if it takes longer than
/// `limit` (a hang becomes a failure instead of a stuck test run).
#[allow(dead_code)]
pub fn within<T: Send + 'static>(limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(limit).expect("finished in time")
}
