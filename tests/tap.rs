//! `oxnic tap` with the Linux kernel as the peer, through the whole path: kernel ⇄ TAP ⇄ the
//! verilated card (MAC, RSS, checksums, DMA, rings) ⇄ driver ⇄ NAPI ⇄ stack ⇄ servers.
//!
//! The test starts `oxnic tap`, which creates the TAP device in this namespace, then moves the
//! device into a network namespace of its own (the file descriptor stays valid), gives the
//! kernel side 10.79.0.1/24 and runs ping, curl, nc and socat there against oxnic at
//! 10.79.0.2. Needs root: with `CI=true` a failed setup fails the test, otherwise it skips with
//! one line.

use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Peer {
    ns: String,
    child: Option<Child>,
    dir: PathBuf,
}

fn sh(args: &[&str]) -> Result<std::process::Output, String> {
    Command::new(args[0])
        .args(&args[1..])
        .output()
        .map_err(|e| format!("{}: {e}", args.join(" ")))
}

fn ok(args: &[&str]) -> Result<(), String> {
    let o = sh(args)?;
    if o.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&o.stderr).trim()
        ))
    }
}

impl Peer {
    fn setup() -> Result<Peer, String> {
        for tool in ["ip", "ping", "curl", "nc", "socat", "tcpdump", "tshark"] {
            if sh(&["sh", "-c", &format!("command -v {tool}")])
                .map(|o| !o.status.success())
                .unwrap_or(true)
            {
                return Err(format!(
                    "{tool} is not installed (scripts/setup.sh installs it)"
                ));
            }
        }
        if !std::path::Path::new("/dev/net/tun").exists() {
            return Err("no /dev/net/tun".into());
        }
        let id = std::process::id();
        let ifname = format!("oxt{}", id % 100_000);
        let ns = format!("oxnic-tap-{id}");
        let dir = std::env::temp_dir().join(format!("oxnic-tap-test-{id}"));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let mut peer = Peer {
            ns: ns.clone(),
            child: None,
            dir: dir.clone(),
        };
        ok(&["ip", "netns", "add", &ns])?;
        let child = Command::new(env!("CARGO_BIN_EXE_oxnic"))
            .args([
                "tap",
                "--ifname",
                &ifname,
                "--addr",
                "10.79.0.2/24",
                "--http-root",
                dir.to_str().unwrap_or("."),
                "--seconds",
                "600",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("starting oxnic tap: {e}"))?;
        peer.child = Some(child);
        let t0 = Instant::now();
        while sh(&["ip", "link", "show", &ifname]).map(|o| !o.status.success())? {
            if t0.elapsed() > Duration::from_secs(120) {
                return Err(format!("oxnic tap did not create {ifname}"));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        ok(&["ip", "link", "set", &ifname, "netns", &ns])?;
        ok(&[
            "ip",
            "-n",
            &ns,
            "addr",
            "add",
            "10.79.0.1/24",
            "dev",
            &ifname,
        ])?;
        ok(&["ip", "-n", &ns, "link", "set", &ifname, "up"])?;
        ok(&["ip", "-n", &ns, "link", "set", "lo", "up"])?;
        Ok(peer)
    }

    fn exec(&self, cmd: &str) -> std::process::Output {
        Command::new("ip")
            .args(["netns", "exec", &self.ns, "sh", "-c", cmd])
            .output()
            .expect("ip netns exec runs")
    }

    /// Ends the test with `what`, the statistics `oxnic tap` prints on SIGINT and the
    /// kernel's TCP counters, so a failure shows what both sides saw.
    fn fail(&mut self, what: &str) -> ! {
        let kernel = self.exec("nstat -az | grep -E '^(Tcp|TcpExt)' | grep -v ' 0 '");
        let trace = std::fs::read_to_string(self.dir.join("ss.log")).unwrap_or_default();
        let (_, out) = self.stop();
        panic!(
            "{what}\n--- oxnic tap:\n{out}\n--- kernel (nstat):\n{}\n--- ss during the echo:\n{trace}",
            String::from_utf8_lossy(&kernel.stdout)
        );
    }

    /// SIGINT to `oxnic tap`; its exit status and what it printed.
    fn stop(&mut self) -> (bool, String) {
        let child = self.child.take().expect("running");
        let _ = sh(&["kill", "-INT", &child.id().to_string()]);
        let out = child.wait_with_output().expect("oxnic tap exits");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = sh(&["ip", "netns", "del", &self.ns]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn peer() -> Option<Peer> {
    let is_root = sh(&["id", "-u"])
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false);
    let r = if is_root {
        Peer::setup()
    } else {
        Err("not root".into())
    };
    match r {
        Ok(p) => Some(p),
        Err(e) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("kernel-peer setup failed in CI: {e}")
        }
        Err(e) => {
            eprintln!("skipping: needs root for network namespaces and TAP: {e}");
            None
        }
    }
}

fn sha(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

#[test]
fn the_kernel_talks_to_the_stack_on_the_verilated_card() {
    let Some(mut p) = peer() else {
        return;
    };
    // ping: a full-size echo and one fragmented both ways.
    for size in [56, 1472, 4000] {
        let o = p.exec(&format!("ping -c 2 -W 10 -s {size} 10.79.0.2"));
        assert!(
            o.status.success(),
            "ping -s {size}: {}",
            String::from_utf8_lossy(&o.stdout)
        );
    }
    // HTTP: a 16 MB file, SHA-256 equal; two 2 MB ones at once; a 404.
    let big: Vec<u8> = (0..16_000_000u32)
        .map(|i| (i.wrapping_mul(2_246_822_519) >> 11) as u8)
        .collect();
    std::fs::write(p.dir.join("big.bin"), &big).unwrap();
    let t0 = Instant::now();
    let o = p.exec("curl -s --max-time 600 http://10.79.0.2/big.bin | sha256sum");
    let got = String::from_utf8_lossy(&o.stdout);
    if !got.starts_with(&sha(&big)) {
        let got = got.into_owned();
        p.fail(&format!("curl 16 MB: {got}"));
    }
    eprintln!(
        "curl of 16 MB through the verilated card: {:.0} kB/s",
        16_000.0 / t0.elapsed().as_secs_f64()
    );
    let file: Vec<u8> = (0..2_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(p.dir.join("blob.bin"), &file).unwrap();
    let o = p.exec(
        "(curl -s --max-time 300 http://10.79.0.2/blob.bin | sha256sum > /tmp/oxnic-a.$$ &
          curl -s --max-time 300 http://10.79.0.2/blob.bin | sha256sum; wait; cat /tmp/oxnic-a.$$; rm -f /tmp/oxnic-a.$$)",
    );
    let got = String::from_utf8_lossy(&o.stdout);
    if got.matches(&sha(&file)).count() != 2 {
        let got = got.into_owned();
        p.fail(&format!("two curls: {got}"));
    }
    let o = p.exec("curl -s -o /dev/null -w '%{http_code}' http://10.79.0.2/missing");
    assert_eq!(String::from_utf8_lossy(&o.stdout), "404");
    // A closed port answers with a reset: curl's "could not connect" (7); a SYN left
    // unanswered would end in its timeout (28) instead.
    let o = p.exec("curl -s --max-time 20 http://10.79.0.2:81/");
    assert_eq!(o.status.code(), Some(7));
    // TCP echo of random bytes through nc, byte-exact.
    let data: Vec<u8> = (0..4_000_000u32)
        .map(|i| (i.wrapping_mul(40_503) >> 7) as u8)
        .collect();
    let input = p.dir.join("echo.in");
    std::fs::write(&input, &data).unwrap();
    let o = p.exec(&format!(
        "(while sleep 2; do date +%T; ss -tinm 'dport = :7' | tail -n +2; done > {}/ss.log 2>&1 &
          nc -N -w 120 10.79.0.2 7 < {} | sha256sum; kill $!)",
        p.dir.display(),
        input.display()
    ));
    let got = String::from_utf8_lossy(&o.stdout).into_owned();
    if !got.starts_with(&sha(&data)) {
        p.fail(&format!("nc echo: {got}"));
    }
    // UDP echo through socat.
    let o = p.exec("echo hello-oxnic | socat -t 10 - UDP:10.79.0.2:7");
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "hello-oxnic");
    // A capture on the kernel side of a transfer and a fragmented ping: tshark finds no bad
    // checksum (the card inserted the TCP ones) and no malformed packet, and it did verify.
    let pcap = p.dir.join("cap.pcap");
    let pcap = pcap.display();
    let o = p.exec(&format!(
        "tcpdump -i any -n -s 0 -U -Z root -w {pcap} 'host 10.79.0.2' 2>/dev/null & \
         sleep 2; curl -s --max-time 120 -o /dev/null http://10.79.0.2/blob.bin; \
         ping -c 1 -W 10 -s 3000 10.79.0.2 >/dev/null; sleep 1; kill -INT $!; wait $!"
    ));
    assert!(o.status.code().is_some(), "tcpdump run");
    let tshark = |filter: &str| {
        let o = p.exec(&format!(
            "tshark -n -r {pcap} -o ip.check_checksum:TRUE -o tcp.check_checksum:TRUE \
             -o udp.check_checksum:TRUE -Y '{filter}' 2>/dev/null | wc -l"
        ));
        String::from_utf8_lossy(&o.stdout)
            .trim()
            .parse::<usize>()
            .unwrap_or(usize::MAX)
    };
    let from_card = tshark("ip.src == 10.79.0.2 && tcp.len > 0");
    assert!(
        from_card > 1000,
        "segments from the card in the capture: {from_card}"
    );
    let good = tshark("ip.src == 10.79.0.2 && tcp.checksum.status == \"Good\"");
    assert!(good >= from_card, "verified: {good} of {from_card}");
    // A field of 0xffff where the sum works out to 0x0000 is the same one's-complement value
    // (RFC 1624), which receivers accept; tshark flags it "Bad". The kernel sends such TCP
    // segments now and then (about one in 65,536: those whose sum works out to zero), so it
    // is not counted.
    let bad_filter = "(ip.checksum.status == \"Bad\" && \
         !(ip.checksum == 0xffff && ip.checksum_calculated == 0x0000)) || \
         (tcp.checksum.status == \"Bad\" && \
         !(tcp.checksum == 0xffff && tcp.checksum_calculated == 0x0000)) || \
         udp.checksum.status == \"Bad\" || icmp.checksum.status == \"Bad\" || _ws.malformed";
    let bad = tshark(bad_filter);
    if bad != 0 {
        let o = p.exec(&format!(
            "tshark -n -r {pcap} -o ip.check_checksum:TRUE -o tcp.check_checksum:TRUE \
             -o udp.check_checksum:TRUE -Y '{bad_filter}' -V -x 2>&1 | head -c 20000"
        ));
        let kept = std::env::temp_dir().join("oxnic-tap-failed.pcap");
        let _ = std::fs::copy(p.dir.join("cap.pcap"), &kept);
        p.fail(&format!(
            "{bad} bad checksums or malformed packets (capture kept in {}):\n{}",
            kept.display(),
            String::from_utf8_lossy(&o.stdout)
        ));
    }
    // SIGINT: a clean exit with the statistics.
    let (clean, out) = p.stop();
    assert!(clean, "oxnic tap exit status; printed:\n{out}");
    assert!(out.contains("cycles per wall second"), "{out}");
    assert!(out.contains("Tcp:"), "{out}");
    let _ = std::io::stderr().write_all(out.as_bytes());
}
