//! The Linux kernel as the peer: oxnic at 10.77.0.2/24 on a TAP, the kernel at 10.77.0.1/24
//! on the TAP's other end inside a private network namespace, and the kernel's own tools
//! (`ping`, `curl`, `nc`, `socat`, `tcpdump`, `tshark`) talking to oxnic's sockets.
//!
//! Needs root (network namespaces, `/dev/net/tun`) and the tools `scripts/setup.sh`
//! installs; without them each test prints a "skipping: ..." line, or fails under `CI=true`.

#[path = "common/netns.rs"]
mod netns;

use netns::{LinuxPeer, KERNEL_IP, OXNIC_IP};
use oxnic_runtime::{Runtime, TcpListener, TcpStream, UdpSocket};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::Shutdown;
use std::process::Output;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Deterministic test bytes (xorshift64).
fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Panics with the command's output unless it exited 0.
fn check(what: &str, out: &Output) {
    assert!(
        out.status.success(),
        "{what} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
}

/// Files an HTTP server serves, by path.
type Files = Arc<HashMap<String, Arc<Vec<u8>>>>;

/// A small HTTP/1.1 server on oxnic's `TcpListener`: GET with Content-Length, persistent
/// connections unless the client says `Connection: close`, 404 for unknown paths. One
/// thread per connection. Returns the number of connections accepted so far; the accept
/// loop ends when the runtime shuts down.
fn http_server(rt: &Runtime, port: u16, files: Files) -> Arc<AtomicUsize> {
    let listener = TcpListener::bind(rt, (OXNIC_IP, port)).expect("bind HTTP port");
    let conns = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&conns);
    std::thread::spawn(move || {
        while let Ok((s, _)) = listener.accept() {
            counter.fetch_add(1, Ordering::SeqCst);
            let files = Arc::clone(&files);
            std::thread::spawn(move || {
                // A client that goes away mid-request is not the server's failure.
                let _ = serve_http_connection(s, &files);
            });
        }
    });
    conns
}

fn serve_http_connection(s: TcpStream, files: &Files) -> std::io::Result<()> {
    let mut reader = BufReader::new(s.try_clone()?);
    let mut out = s;
    loop {
        let mut request = String::new();
        if reader.read_line(&mut request)? == 0 {
            return Ok(());
        }
        let mut close = false;
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h)? == 0 {
                return Ok(());
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                if k.eq_ignore_ascii_case("connection") && v.trim().eq_ignore_ascii_case("close") {
                    close = true;
                }
            }
        }
        let mut parts = request.split_whitespace();
        let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        let conn = if close { "close" } else { "keep-alive" };
        match files.get(path).filter(|_| method == "GET") {
            Some(body) => {
                write!(
                    out,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n\
                     Content-Length: {}\r\nConnection: {conn}\r\n\r\n",
                    body.len()
                )?;
                for chunk in body.chunks(256 * 1024) {
                    out.write_all(chunk)?;
                }
            }
            None => write!(
                out,
                "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: {conn}\r\n\r\n"
            )?,
        }
        if close {
            return out.shutdown(Shutdown::Write);
        }
    }
}

/// A TCP echo server for any number of connections, one thread each.
fn tcp_echo_server(rt: &Runtime, port: u16) {
    let listener = TcpListener::bind(rt, (OXNIC_IP, port)).expect("bind echo port");
    std::thread::spawn(move || {
        while let Ok((mut s, _)) = listener.accept() {
            std::thread::spawn(move || -> std::io::Result<()> {
                let mut buf = vec![0; 64 * 1024];
                loop {
                    let n = s.read(&mut buf)?;
                    if n == 0 {
                        return s.shutdown(Shutdown::Write);
                    }
                    s.write_all(&buf[..n])?;
                }
            });
        }
    });
}

fn ping(size: usize) {
    let Some(peer) = LinuxPeer::setup(&["ping"]) else {
        return;
    };
    let out = peer.exec(&[
        "ping",
        "-c",
        "3",
        "-i",
        "0.2",
        "-W",
        "5",
        "-s",
        &size.to_string(),
        OXNIC_IP,
    ]);
    check(&format!("ping -s {size}"), &out);
    let report = text(&out.stdout);
    assert!(
        report.contains("3 received"),
        "ping -s {size}: all three replies expected:\n{report}"
    );
    // ping compares each reply's payload with what it sent and complains per byte.
    assert!(
        !report.contains("wrong data") && !report.contains("truncated"),
        "ping -s {size}: damaged replies:\n{report}"
    );
    let snmp = peer.rt.with_stack(|st, _| st.snmp());
    assert!(
        snmp.icmp.out_echo_reps >= 3,
        "oxnic answered {} echo requests",
        snmp.icmp.out_echo_reps
    );
    if size + 28 > 1500 {
        // 4000 + 8 + 20 bytes: three fragments each way.
        assert!(snmp.ip.reasm_oks >= 3, "reassembled: {:?}", snmp.ip);
        assert!(snmp.ip.frag_creates >= 9, "fragmented: {:?}", snmp.ip);
    }
}

#[test]
fn kernel_ping_56_bytes() {
    ping(56);
}

#[test]
fn kernel_ping_1472_bytes_fills_the_mtu() {
    ping(1472);
}

/// `ping -R` (record route) against oxnic: the kernel's request leaves with the kernel's
/// address in the option, oxnic records itself on receive and again in its reply
/// (`ip_options_echo`), and the kernel records itself on receive, so ping prints the route
/// out and back: 10.77.0.1, oxnic twice, 10.77.0.1.
#[test]
fn kernel_ping_record_route_shows_oxnic_both_ways() {
    let Some(peer) = LinuxPeer::setup(&["ping"]) else {
        return;
    };
    let out = peer.exec(&["ping", "-R", "-c", "1", "-W", "5", OXNIC_IP]);
    check("ping -R", &out);
    let report = text(&out.stdout);
    let route: Vec<&str> = report
        .split_once("RR:")
        .map(|(_, rest)| rest.split_whitespace().take(4).collect())
        .unwrap_or_default();
    assert_eq!(
        route,
        ["10.77.0.1", OXNIC_IP, OXNIC_IP, "10.77.0.1"],
        "ping -R:\n{report}"
    );
}

#[test]
fn kernel_ping_4000_bytes_is_fragmented_both_ways() {
    ping(4000);
}

const MB: usize = 1024 * 1024;

/// Fetches `url` with `curl` in the namespace into `file`; returns curl's `-w` report.
fn curl_to(peer: &LinuxPeer, file: &str, url: &str) -> String {
    let out = peer.exec(&[
        "curl",
        "-sS",
        "--max-time",
        "50",
        "-o",
        file,
        "-w",
        "%{http_code} %{speed_download} %{num_connects}",
        url,
    ]);
    check(&format!("curl {url}"), &out);
    text(&out.stdout)
}

#[test]
fn kernel_curl_16_mb_sha256_matches() {
    let Some(peer) = LinuxPeer::setup(&["curl", "sha256sum"]) else {
        return;
    };
    let body = Arc::new(pattern(16 * MB, 1));
    let want = sha256_hex(&body);
    let files: Files = Arc::new(HashMap::from([("/16m".to_owned(), body)]));
    http_server(&peer.rt, 80, files);
    let file = peer.path("16m");
    let start = Instant::now();
    let report = curl_to(
        &peer,
        &file.to_string_lossy(),
        &format!("http://{OXNIC_IP}/16m"),
    );
    let secs = start.elapsed().as_secs_f64();
    let fields: Vec<&str> = report.split_whitespace().collect();
    assert_eq!(fields.first(), Some(&"200"), "curl: {report}");
    assert_eq!(peer.sha256sum(&file), want, "downloaded bytes differ");
    let speed: f64 = fields.get(1).and_then(|s| s.parse().ok()).unwrap_or(0.0);
    eprintln!(
        "curl 16 MiB through the TAP: {:.1} MB/s (curl), {secs:.2} s wall with process start; tap {:?}",
        speed / 1e6,
        peer.tap_stats
    );
}

#[test]
fn kernel_curl_keep_alive_two_requests_on_one_connection() {
    let Some(peer) = LinuxPeer::setup(&["curl", "sha256sum"]) else {
        return;
    };
    let a = Arc::new(pattern(MB, 2));
    let b = Arc::new(pattern(3 * MB + 17, 3));
    let (want_a, want_b) = (sha256_hex(&a), sha256_hex(&b));
    let files: Files = Arc::new(HashMap::from([("/a".to_owned(), a), ("/b".to_owned(), b)]));
    let conns = http_server(&peer.rt, 80, files);
    let (fa, fb) = (peer.path("a"), peer.path("b"));
    let out = peer.exec(&[
        "curl",
        "-sS",
        "--max-time",
        "50",
        "-w",
        "%{http_code} %{num_connects}\\n",
        "-o",
        &fa.to_string_lossy(),
        &format!("http://{OXNIC_IP}/a"),
        "-o",
        &fb.to_string_lossy(),
        &format!("http://{OXNIC_IP}/b"),
    ]);
    check("curl url url", &out);
    // One new connection for the first transfer, none for the second: it reused it.
    assert_eq!(text(&out.stdout), "200 1\n200 0\n");
    assert_eq!(conns.load(Ordering::SeqCst), 1, "server saw one connection");
    assert_eq!(peer.sha256sum(&fa), want_a);
    assert_eq!(peer.sha256sum(&fb), want_b);
}

#[test]
fn kernel_four_curls_at_once() {
    let Some(mut peer) = LinuxPeer::setup(&["curl", "sha256sum"]) else {
        return;
    };
    let body = Arc::new(pattern(4 * MB, 4));
    let want = sha256_hex(&body);
    let files: Files = Arc::new(HashMap::from([("/4m".to_owned(), body)]));
    let conns = http_server(&peer.rt, 80, files);
    let url = format!("http://{OXNIC_IP}/4m");
    let paths: Vec<String> = (0..4)
        .map(|i| peer.path(&format!("4m-{i}")).to_string_lossy().into_owned())
        .collect();
    let kids: Vec<usize> = paths
        .iter()
        .map(|p| peer.spawn(&["curl", "-sS", "--max-time", "50", "-o", p, &url]))
        .collect();
    for (k, p) in kids.into_iter().zip(&paths) {
        let out = peer.wait_child(k, Duration::from_secs(55));
        check(&format!("curl -o {p}"), &out);
        assert_eq!(peer.sha256sum(p.as_ref()), want, "{p}");
    }
    assert_eq!(conns.load(Ordering::SeqCst), 4);
}

#[test]
fn kernel_nc_echo_4_mb_byte_exact() {
    let Some(peer) = LinuxPeer::setup(&["nc", "timeout"]) else {
        return;
    };
    tcp_echo_server(&peer.rt, 7);
    let data = pattern(4 * MB, 5);
    let (input, output) = (peer.path("in"), peer.path("out"));
    std::fs::write(&input, &data).expect("write input");
    // -N: shut down the sending side at end of input, so the echo server sees EOF, echoes
    // the rest and closes; nc then exits at the network EOF.
    let out = peer.sh(&format!(
        "timeout 50 nc -N {OXNIC_IP} 7 < {} > {}",
        input.display(),
        output.display()
    ));
    check("nc echo", &out);
    let got = std::fs::read(&output).expect("read output");
    assert_eq!(got.len(), data.len(), "echoed length");
    assert!(got == data, "echoed bytes differ");
}

#[test]
fn kernel_socat_udp_echo_including_fragmented_datagrams() {
    let Some(peer) = LinuxPeer::setup(&["socat"]) else {
        return;
    };
    let sock = UdpSocket::bind(&peer.rt, (OXNIC_IP, 9)).expect("bind UDP 9");
    std::thread::spawn(move || {
        let mut buf = vec![0; 65_536];
        while let Ok((n, from)) = sock.recv_from(&mut buf) {
            if sock.send_to(&buf[..n], from).is_err() {
                break;
            }
        }
    });
    for (i, len) in [5usize, 1472, 4000].into_iter().enumerate() {
        let data = pattern(len, 6 + i as u64);
        let (input, output) = (peer.path(&format!("u{i}")), peer.path(&format!("u{i}.out")));
        std::fs::write(&input, &data).expect("write input");
        // socat sends the file as one datagram (it reads 8 KiB at a time) and waits 1 s
        // after the end of input for the reply.
        let out = peer.sh(&format!(
            "socat -t 1 - UDP:{OXNIC_IP}:9 < {} > {}",
            input.display(),
            output.display()
        ));
        check("socat UDP", &out);
        let got = std::fs::read(&output).expect("read output");
        assert!(
            got == data,
            "{len}-byte datagram: got {} bytes back",
            got.len()
        );
    }
    let snmp = peer.rt.with_stack(|st, _| st.snmp());
    assert_eq!(snmp.udp.in_datagrams, 3, "{:?}", snmp.udp);
    assert!(snmp.ip.frag_creates >= 3, "{:?}", snmp.ip);
}

#[test]
fn kernel_curl_to_a_closed_port_is_refused_at_once() {
    let Some(peer) = LinuxPeer::setup(&["curl"]) else {
        return;
    };
    let out = peer.exec(&[
        "curl",
        "-sS",
        "--max-time",
        "20",
        "-o",
        "/dev/null",
        &format!("http://{OXNIC_IP}:81/"),
    ]);
    // 7: "Failed to connect" — a RST, not a timeout (28).
    assert_eq!(out.status.code(), Some(7), "curl: {}", text(&out.stderr));
}

#[test]
fn oxnic_client_echoes_4_mb_through_a_kernel_socat_listener() {
    let Some(mut peer) = LinuxPeer::setup(&["socat", "cat"]) else {
        return;
    };
    let listen = format!("TCP-LISTEN:5001,bind={KERNEL_IP},reuseaddr");
    let server = peer.spawn(&["socat", "-t", "30", &listen, "EXEC:cat"]);
    // The listener comes up asynchronously: until it does, connects are refused (RST).
    let deadline = Instant::now() + Duration::from_secs(20);
    let stream = loop {
        match TcpStream::connect(&peer.rt, (KERNEL_IP, 5001)) {
            Ok(s) => break s,
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => panic!("connect to the kernel's socat: {e}"),
        }
    };
    let data = pattern(4 * MB, 9);
    let want = sha256_hex(&data);
    let mut writer = stream.try_clone().expect("clone");
    let w = std::thread::spawn(move || -> std::io::Result<()> {
        writer.write_all(&data)?;
        writer.shutdown(Shutdown::Write)
    });
    stream
        .set_read_timeout(Some(Duration::from_secs(50)))
        .expect("timeout");
    let mut got = Vec::with_capacity(4 * MB);
    (&stream).read_to_end(&mut got).expect("read echo");
    w.join().expect("writer").expect("write 4 MB");
    assert_eq!(got.len(), 4 * MB);
    assert_eq!(sha256_hex(&got), want, "echoed bytes differ");
    check("socat", &peer.wait_child(server, Duration::from_secs(10)));
}

/// Runs `tshark -r pcap -Y filter` with checksum validation on and counts the matching
/// packets.
fn tshark_count(peer: &LinuxPeer, pcap: &str, filter: &str) -> usize {
    tshark_show(peer, pcap, filter, false).lines().count()
}

/// The packets of `pcap` that match `filter`, one summary line each, or with `verbose` every
/// layer of each dissected (`tshark -V`), checksum validation on.
fn tshark_show(peer: &LinuxPeer, pcap: &str, filter: &str, verbose: bool) -> String {
    let mut args = vec![
        "tshark",
        "-n",
        "-r",
        pcap,
        "-o",
        "ip.check_checksum:TRUE",
        "-o",
        "tcp.check_checksum:TRUE",
        "-o",
        "udp.check_checksum:TRUE",
        "-Y",
        filter,
    ];
    if verbose {
        args.push("-V");
    }
    let out = peer.exec(&args);
    check(&format!("tshark -Y '{filter}'"), &out);
    text(&out.stdout)
}

#[test]
fn kernel_side_capture_has_no_bad_checksums_or_malformed_packets() {
    let Some(mut peer) =
        LinuxPeer::setup(&["tcpdump", "tshark", "curl", "ping", "socat", "ethtool"])
    else {
        return;
    };
    // A TAP opened without IFF_VNET_HDR has no checksum offload: the kernel finishes its
    // checksums before the capture point sees the frame, so its packets are checked too
    // (on veth or lo they would show as "partial" and need filtering out).
    let features = peer.exec(&["ethtool", "-k", &peer.tap]);
    check("ethtool -k", &features);
    assert!(
        text(&features.stdout).contains("tx-checksumming: off"),
        "{}",
        text(&features.stdout)
    );
    let body = Arc::new(pattern(2 * MB, 10));
    let files: Files = Arc::new(HashMap::from([("/2m".to_owned(), body)]));
    http_server(&peer.rt, 80, files);
    let sock = UdpSocket::bind(&peer.rt, (OXNIC_IP, 9)).expect("bind UDP 9");
    std::thread::spawn(move || {
        let mut buf = vec![0; 65_536];
        while let Ok((n, from)) = sock.recv_from(&mut buf) {
            if sock.send_to(&buf[..n], from).is_err() {
                break;
            }
        }
    });
    let pcap = peer.path("cap.pcap").to_string_lossy().into_owned();
    // -U writes each packet as it comes; -Z root keeps the privileges to write the file.
    let tap = peer.tap.clone();
    let dump = peer.spawn(&[
        "tcpdump", "-i", &tap, "-n", "-s", "0", "-U", "-Z", "root", "-w", &pcap,
    ]);
    // The pcap file header is written once the capture is open.
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::metadata(&pcap).map_or(true, |m| m.len() < 24) {
        assert!(Instant::now() < deadline, "tcpdump did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(200));

    // Traffic of every kind oxnic sends: ARP, ICMP (fragmented), TCP bulk, handshake and
    // teardown, a RST, and a fragmented UDP datagram.
    check(
        "ping",
        &peer.exec(&["ping", "-c", "2", "-i", "0.2", "-s", "4000", OXNIC_IP]),
    );
    let report = curl_to(&peer, "/dev/null", &format!("http://{OXNIC_IP}/2m"));
    assert!(report.starts_with("200"), "curl: {report}");
    let refused = peer.exec(&[
        "curl",
        "-sS",
        "-o",
        "/dev/null",
        &format!("http://{OXNIC_IP}:81/"),
    ]);
    assert_eq!(refused.status.code(), Some(7));
    let udp_in = peer.path("udp");
    std::fs::write(&udp_in, pattern(4000, 11)).expect("write input");
    check(
        "socat",
        &peer.sh(&format!(
            "socat -t 1 - UDP:{OXNIC_IP}:9 < {} > /dev/null",
            udp_in.display()
        )),
    );
    std::thread::sleep(Duration::from_millis(200));
    check("tcpdump", &peer.interrupt(dump, Duration::from_secs(10)));

    let from_oxnic = format!("ip.src == {OXNIC_IP}");
    let total = tshark_count(&peer, &pcap, "frame");
    let oxnic_tcp = tshark_count(&peer, &pcap, &format!("{from_oxnic} && tcp.len > 0"));
    let oxnic_frags = tshark_count(&peer, &pcap, &format!("{from_oxnic} && ip.flags.mf == 1"));
    let rst = tshark_count(
        &peer,
        &pcap,
        &format!("{from_oxnic} && tcp.flags.reset == 1"),
    );
    // "Good" rather than "Unverified": tshark really checked them.
    let good = tshark_count(
        &peer,
        &pcap,
        &format!(
            "{from_oxnic} && tcp.checksum.status == \"Good\" && ip.checksum.status == \"Good\""
        ),
    );
    let arp = tshark_count(
        &peer,
        &pcap,
        "arp.opcode == 2 && arp.src.proto_ipv4 == 10.77.0.2",
    );
    eprintln!(
        "capture: {total} frames, {oxnic_tcp} TCP data segments and {oxnic_frags} non-final \
         fragments from oxnic, {rst} RST, {arp} ARP replies"
    );
    // Figures, not asserts: how the transfer went as tshark's TCP analysis sees it.
    let analysis: Vec<String> = [
        "tcp.analysis.retransmission",
        "tcp.analysis.fast_retransmission",
        "tcp.analysis.duplicate_ack",
        "tcp.analysis.lost_segment",
        "tcp.analysis.out_of_order",
        "tcp.analysis.zero_window",
        "tcp.analysis.window_full",
    ]
    .iter()
    .map(|f| format!("{f}={}", tshark_count(&peer, &pcap, f)))
    .collect();
    eprintln!("capture TCP analysis: {}", analysis.join(" "));
    if std::env::var_os("OXNIC_KEEP_PCAP").is_some() {
        let keep = std::env::temp_dir().join("oxnic-linux-peer.pcap");
        std::fs::copy(&pcap, &keep).expect("keep pcap");
        eprintln!("capture kept at {}", keep.display());
    }
    assert!(
        oxnic_tcp > 1000,
        "2 MiB should take > 1000 segments: {oxnic_tcp}"
    );
    assert!(
        oxnic_frags >= 3,
        "fragmented ICMP and UDP replies: {oxnic_frags}"
    );
    assert!(rst >= 1, "the closed port's RST");
    assert!(
        good > oxnic_tcp,
        "verified checksums: {good} of oxnic's TCP segments"
    );
    assert!(arp >= 1, "oxnic answered ARP");
    // Both directions are checked (see the ethtool check above).
    // One exception, for the kernel's packets only: a TCP checksum whose value works out to
    // zero is written by Linux as 0xffff (`skb_checksum_help` stores `csum_fold(..) ?:
    // CSUM_MANGLED_0`, the UDP rule, for every protocol), which any receiver accepts (the
    // two are the same number in one's complement) but tshark marks "Bad" with a note on
    // RFC 1624. It is one checksum value in 65,535, so a capture of about a thousand kernel
    // packets shows it now and then. Oxnic's own TCP must write 0x0000.
    let bad_filter = format!(
        "ip.checksum.status == \"Bad\" || \
         (tcp.checksum.status == \"Bad\" && !(ip.src == {KERNEL_IP} && tcp.checksum.ffff)) || \
         udp.checksum.status == \"Bad\" || icmp.checksum.status == \"Bad\" || _ws.malformed"
    );
    let bad = tshark_count(&peer, &pcap, &bad_filter);
    if bad > 0 {
        // Keep the evidence: the capture outlives the namespace, and the offending packets
        // are dissected in full in the failure message.
        let keep = std::env::temp_dir().join("oxnic-linux-peer-bad.pcap");
        let kept = std::fs::copy(&pcap, &keep).map_or_else(
            |e| format!("(could not keep the capture: {e})"),
            |_| format!("capture kept at {}", keep.display()),
        );
        let detail: String = tshark_show(&peer, &pcap, &bad_filter, true)
            .lines()
            .take(400)
            .collect::<Vec<_>>()
            .join("\n");
        panic!("{bad} bad checksums or malformed packets; {kept}:\n{detail}");
    }
}

/// Lets oxnic send to groups: `224.0.0.0/4 dev tap0`, as `ip route add` would on Linux (the
/// peer's runtime has only its connected route, and std has no `IP_MULTICAST_IF` call).
fn multicast_route(peer: &LinuxPeer) {
    let ifindex = peer.rt.ifindex("tap0").expect("tap0");
    peer.rt.with_stack(|st, _| {
        let mc = oxnic_stack::route::Prefix::new("224.0.0.0".parse().unwrap(), 4).unwrap();
        st.routes_mut()
            .add(oxnic_stack::route::Route::connected(mc, ifindex))
            .expect("224.0.0.0/4 route");
    });
}

#[test]
fn kernel_sends_to_a_group_an_oxnic_socket_joined() {
    let Some(peer) = LinuxPeer::setup(&["socat"]) else {
        return;
    };
    let group: std::net::Ipv4Addr = "239.77.1.1".parse().unwrap();
    let oxnic: std::net::Ipv4Addr = OXNIC_IP.parse().unwrap();
    let sock = UdpSocket::bind(&peer.rt, ("0.0.0.0", 5353)).expect("bind UDP 5353");
    assert_eq!(sock.multicast_ttl_v4().unwrap(), 1);
    assert!(sock.multicast_loop_v4().unwrap());
    sock.join_multicast_v4(&group, &oxnic).expect("join");
    assert_eq!(
        sock.join_multicast_v4(&group, &oxnic).unwrap_err().kind(),
        std::io::ErrorKind::AddrInUse
    );
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    // The kernel needs the interface named: its namespace has no route to 224.0.0.0/4.
    let out = peer.sh(&format!(
        "echo -n to-the-group | socat -u - UDP4-DATAGRAM:{group}:5353,ip-multicast-if={KERNEL_IP}"
    ));
    check("socat multicast send", &out);
    let mut buf = [0u8; 64];
    let (n, from) = sock.recv_from(&mut buf).expect("the group's datagram");
    assert_eq!(&buf[..n], b"to-the-group");
    assert_eq!(from.ip().to_string(), KERNEL_IP);

    // After leaving, the group's frames are dropped at the link layer.
    sock.leave_multicast_v4(&group, &oxnic).expect("leave");
    assert_eq!(
        sock.leave_multicast_v4(&group, &oxnic).unwrap_err().kind(),
        std::io::ErrorKind::AddrNotAvailable
    );
    // Proof the kernel did send it: oxnic's wire tap sees the frame arrive, and the link
    // layer counts it as another host's (rx_otherhost).
    let tap = peer
        .rt
        .with_stack(|st, _| st.add_tap(oxnic_stack::packet_tap::TapPoint::WireRx, None, 256));
    let otherhost = || peer.rt.with_stack(|st, _| st.snmp().link.rx_otherhost);
    let before = otherhost();
    let out = peer.sh(&format!(
        "echo -n after-leave | socat -u - UDP4-DATAGRAM:{group}:5353,ip-multicast-if={KERNEL_IP}"
    ));
    check("socat multicast send", &out);
    let group_mac = [0x01, 0x00, 0x5e, 0x4d, 0x01, 0x01];
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut seen = false;
    while !seen && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
        let frames = peer.rt.with_stack(|st, _| st.tap_take(tap).unwrap());
        seen = frames.iter().any(|c| {
            let d = c.packet.data();
            d.get(..6) == Some(&group_mac[..]) && d.ends_with(b"after-leave")
        });
    }
    assert!(
        seen,
        "the kernel's datagram to the group reached oxnic's wire"
    );
    assert!(otherhost() > before, "dropped at the link layer");
    sock.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    assert!(sock.recv_from(&mut buf).is_err(), "delivered after leave");
}

#[test]
fn oxnic_sends_to_a_group_the_kernel_joined() {
    let Some(mut peer) = LinuxPeer::setup(&["socat", "timeout"]) else {
        return;
    };
    multicast_route(&peer);
    let group = "239.77.1.2";
    // socat joins on the kernel's interface and prints the first datagram it gets.
    let rx = peer.spawn(&[
        "timeout",
        "10",
        "socat",
        "-u",
        &format!("UDP4-RECVFROM:5354,ip-add-membership={group}:{KERNEL_IP}"),
        "-",
    ]);
    let sock = UdpSocket::bind(&peer.rt, (OXNIC_IP, 0)).expect("bind");
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sender = {
        let (sock, stop) = (sock.try_clone().unwrap(), Arc::clone(&stop));
        std::thread::spawn(move || {
            // Until socat has joined and taken one.
            for _ in 0..80 {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                sock.send_to(b"from-oxnic", (group, 5354)).expect("send");
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };
    let out = peer.wait_child(rx, Duration::from_secs(15));
    stop.store(true, Ordering::SeqCst);
    sender.join().unwrap();
    check("socat multicast receive", &out);
    assert_eq!(out.stdout, b"from-oxnic");
}

#[test]
fn kernel_sees_oxnic_s_igmpv3_reports_for_a_join_and_a_leave() {
    let Some(mut peer) = LinuxPeer::setup(&["tcpdump", "tshark"]) else {
        return;
    };
    let pcap = peer.path("igmp.pcap").to_string_lossy().into_owned();
    let tap = peer.tap.clone();
    let dump = peer.spawn(&[
        "tcpdump", "-i", &tap, "-n", "-s", "0", "-U", "-Z", "root", "-w", &pcap, "igmp",
    ]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::metadata(&pcap).map_or(true, |m| m.len() < 24) {
        assert!(Instant::now() < deadline, "tcpdump did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(200));
    let group: std::net::Ipv4Addr = "239.77.1.3".parse().unwrap();
    let oxnic: std::net::Ipv4Addr = OXNIC_IP.parse().unwrap();
    let sock = UdpSocket::bind(&peer.rt, ("0.0.0.0", 5355)).expect("bind");
    sock.join_multicast_v4(&group, &oxnic).expect("join");
    // The report is repeated a second later (robustness 2).
    std::thread::sleep(Duration::from_millis(1600));
    drop(sock);
    std::thread::sleep(Duration::from_millis(1600));
    check("tcpdump", &peer.interrupt(dump, Duration::from_secs(10)));

    let from_oxnic = format!("ip.src == {OXNIC_IP} && ip.dst == 224.0.0.22 && ip.ttl == 1");
    let reports = |rec: u8| {
        tshark_count(
            &peer,
            &pcap,
            &format!(
                "{from_oxnic} && igmp.version == 3 && igmp.type == 0x22 && \
                 igmp.record_type == {rec} && igmp.maddr == {group} && \
                 ip.opt.type == 148 && ip.checksum.status == \"Good\" && \
                 igmp.checksum.status == \"Good\""
            ),
        )
    };
    let (joins, leaves) = (reports(4), reports(3));
    let all = tshark_show(&peer, &pcap, "igmp", true);
    assert_eq!((joins, leaves), (2, 2), "{all}");
    assert_eq!(tshark_count(&peer, &pcap, "_ws.malformed"), 0, "{all}");
}
