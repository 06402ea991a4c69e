//! The Linux kernel as a test peer: a throw-away network namespace holding the kernel end of
//! a TAP device whose other end is an oxnic [`Runtime`].
//!
//! ```text
//!   root namespace                 namespace oxnic-<pid>-<n>
//!   oxnic Runtime 10.77.0.2/24 ── TapPort fd ══ tap oxt<pid>n<n> 10.77.0.1/24 (kernel)
//! ```
//!
//! The TAP is created in the root namespace (the port's fd is opened there) and then moved
//! into the namespace; the fd keeps working. Everything is torn down on drop: the runtime
//! (and with it the TAP fd and device) first, then children started in the namespace, then
//! the namespace itself.
//!
//! Without root (or `ip`, or a tool a test names) setup fails: with `CI=true` the test fails
//! with the reason, otherwise it prints one "skipping: ..." line and returns.

use oxnic_runtime::{Runtime, TapPort, TapStats};
use oxnic_stack::wire::ethernet::EthernetAddress;
use oxnic_stack::DeviceCaps;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// The kernel's address on the TAP.
pub const KERNEL_IP: &str = "10.77.0.1";
/// oxnic's address on the TAP.
pub const OXNIC_IP: &str = "10.77.0.2";
/// oxnic's MAC on the TAP.
pub const OXNIC_MAC: EthernetAddress = EthernetAddress([0x02, 0, 0, 0x77, 0, 2]);

static NEXT: AtomicU32 = AtomicU32::new(0);

/// An oxnic runtime wired to the kernel through a TAP in a private namespace.
pub struct LinuxPeer {
    // Field order is drop order: the runtime (closing the TAP) before the namespace.
    /// The oxnic side: one interface `tap0` at [`OXNIC_IP`]/24.
    pub rt: Runtime,
    /// The TAP port's counters.
    pub tap_stats: TapStats,
    children: Vec<Option<Child>>,
    /// The namespace's name.
    pub ns: String,
    /// The TAP's name (the same inside the namespace).
    pub tap: String,
    /// A scratch directory for files the kernel-side tools read and write.
    pub dir: PathBuf,
}

/// Why the peer could not be set up.
fn fail_or_skip(reason: String) -> Option<LinuxPeer> {
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("Linux-peer test cannot run under CI: {reason}");
    }
    eprintln!("skipping: needs root for network namespaces: {reason}");
    None
}

/// Runs `cmd args` and turns a spawn failure or a non-zero exit into a message.
fn run(cmd: &str, args: &[&str]) -> Result<Output, String> {
    let out = Command::new(cmd)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("`{cmd}` could not run: {e}"))?;
    if out.status.success() {
        Ok(out)
    } else {
        Err(format!(
            "`{cmd} {}` failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn have(tool: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
}

impl LinuxPeer {
    /// Sets up a namespace, the TAP and the runtime; `tools` are the commands the test runs
    /// in the namespace (checked up front so a missing one skips rather than fails late).
    /// `None` means "skipped" (the line was printed).
    pub fn setup(tools: &[&str]) -> Option<LinuxPeer> {
        for t in ["ip"].iter().chain(tools) {
            if !have(t) {
                return fail_or_skip(format!("`{t}` is not installed (run scripts/setup.sh)"));
            }
        }
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        let ns = format!("oxnic-{pid}-{n}");
        let tap = format!("oxt{pid}n{n}");
        if let Err(e) = run("ip", &["netns", "add", &ns]) {
            return fail_or_skip(e);
        }
        // From here on a failure must delete the namespace again.
        let port = match TapPort::open(&tap) {
            Ok(p) => p,
            Err(e) => {
                let _ = run("ip", &["netns", "del", &ns]);
                return fail_or_skip(e.to_string());
            }
        };
        let tap_stats = port.stats();
        let dir = std::env::temp_dir().join(&ns);
        let configured = std::fs::create_dir_all(&dir)
            .map_err(|e| format!("creating {}: {e}", dir.display()))
            .and_then(|()| configure_kernel_side(&ns, &tap));
        if let Err(e) = configured {
            drop(port);
            let _ = run("ip", &["netns", "del", &ns]);
            let _ = std::fs::remove_dir_all(&dir);
            return fail_or_skip(e);
        }
        let rt = Runtime::builder()
            .interface(
                "tap0",
                OXNIC_MAC,
                DeviceCaps::default(),
                &format!("{OXNIC_IP}/24"),
                port,
            )
            .start()
            .expect("oxnic runtime starts");
        Some(LinuxPeer {
            rt,
            tap_stats,
            children: Vec::new(),
            ns,
            tap,
            dir,
        })
    }

    /// A command that runs `args` inside the namespace.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.ns]).args(args);
        c
    }

    /// Runs `args` in the namespace to completion (stdin empty) and returns its output.
    pub fn exec(&self, args: &[&str]) -> Output {
        self.cmd(args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("running {args:?} in {}: {e}", self.ns))
    }

    /// Runs the shell line `script` in the namespace (`sh -c`), to completion.
    pub fn sh(&self, script: &str) -> Output {
        self.exec(&["sh", "-c", script])
    }

    /// Starts `args` in the namespace in the background; it is killed (by its pid) when the
    /// peer drops. Returns the index for [`Self::stop`].
    pub fn spawn(&mut self, args: &[&str]) -> usize {
        let child = self
            .cmd(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {args:?} in {}: {e}", self.ns));
        self.children.push(Some(child));
        self.children.len() - 1
    }

    /// Waits up to `limit` for background child `i` to exit and returns its output; kills it
    /// (and says so in the panic) if it does not.
    pub fn wait_child(&mut self, i: usize, limit: Duration) -> Output {
        let mut child = self.children[i]
            .take()
            .unwrap_or_else(|| panic!("background command {i} was collected already"));
        let start = Instant::now();
        loop {
            match child.try_wait() {
                Ok(Some(_)) => break,
                Ok(None) if start.elapsed() < limit => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                Ok(None) => {
                    let _ = child.kill();
                    let out = child.wait_with_output();
                    panic!("background command {i} did not finish within {limit:?}: {out:?}");
                }
                Err(e) => panic!("waiting for background command {i}: {e}"),
            }
        }
        child.wait_with_output().expect("collect output")
    }

    /// Sends SIGINT to background child `i` (it is ours: we started it) so it can flush and
    /// exit, then collects it.
    pub fn interrupt(&mut self, i: usize, limit: Duration) -> Output {
        let pid = match &self.children[i] {
            Some(c) => c.id().to_string(),
            None => panic!("background command {i} was collected already"),
        };
        // `ip netns exec` execs the command, so the child's pid is the tool's own.
        let _ = Command::new("kill").args(["-INT", &pid]).status();
        self.wait_child(i, limit)
    }

    /// A path in the scratch directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// SHA-256 of `file` computed by `sha256sum` in the namespace, as lowercase hex.
    pub fn sha256sum(&self, file: &Path) -> String {
        let out = self.exec(&["sha256sum", &file.to_string_lossy()]);
        assert!(
            out.status.success(),
            "sha256sum {}: {:?}",
            file.display(),
            out
        );
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_owned()
    }
}

fn configure_kernel_side(ns: &str, tap: &str) -> Result<(), String> {
    run("ip", &["link", "set", tap, "netns", ns])?;
    let addr = format!("{KERNEL_IP}/24");
    run("ip", &["-n", ns, "addr", "add", &addr, "dev", tap])?;
    run("ip", &["-n", ns, "link", "set", "lo", "up"])?;
    // No IPv6 on the link: the kernel's router solicitations and MLD reports would only be
    // dropped (and counted) by the IPv4-only stack and clutter the captures.
    let _ = run(
        "ip",
        &[
            "netns",
            "exec",
            ns,
            "sysctl",
            "-qw",
            &format!("net.ipv6.conf.{tap}.disable_ipv6=1"),
        ],
    );
    run("ip", &["-n", ns, "link", "set", tap, "up"])?;
    Ok(())
}

impl Drop for LinuxPeer {
    fn drop(&mut self) {
        self.rt.shutdown();
        for c in self.children.iter_mut().flatten() {
            // Only children we started; `kill` targets that pid alone.
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = run("ip", &["netns", "del", &self.ns]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
