//! The TCP state machine under arbitrary segments: two stacks with an established connection
//! (and a listener), then each input record becomes a segment injected into B — any flags,
//! sequence and acknowledgment numbers near or far from the connection's, any window, any
//! option bytes, any payload — interleaved with user calls (send, recv, shutdown, close) and
//! time passing. Nothing may panic, and the connection's counters must stay consistent.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oxnic_stack::netsim::{mac, tcp_frame, two_hosts, Net};
use oxnic_stack::pktbuf::PacketBuf;
use oxnic_stack::tcp::{Shutdown, TcpHandle};
use oxnic_stack::wire::ethernet::EthernetAddress;
use oxnic_stack::wire::tcp::{TcpFlags, TcpOptions, TcpRepr};
use oxnic_stack::DeviceCaps;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

struct Bytes<'a>(&'a [u8]);

impl<'a> Bytes<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Some(a)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_be_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Option<u32> {
        self.take(4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
}

fn inject(net: &mut Net, src: SocketAddrV4, dst: SocketAddrV4, repr: &TcpRepr, payload: &[u8]) {
    let from = EthernetAddress([2, 0, 0, 0, 9, 9]);
    let Ok(f) = tcp_frame(from, mac(1, 1), src, dst, repr, payload) else {
        return;
    };
    if let Some(dev) = net.stacks[1].device_mut(1) {
        dev.push_rx(PacketBuf::from_slice(64, &f));
    }
}

fn setup() -> Option<(Net, TcpHandle, TcpHandle)> {
    let (mut net, _, _) = two_hosts(DeviceCaps::default(), Duration::from_micros(100));
    let now = net.now();
    let l = net.stacks[1]
        .tcp_listen(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 80), 4)
        .ok()?;
    let c = net.stacks[0]
        .tcp_connect(SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 80), now)
        .ok()?;
    net.run_for(Duration::from_millis(2)).ok()?;
    let (s, _) = net.stacks[1].tcp_accept(l).ok()?;
    Some((net, c, s))
}

fuzz_target!(|data: &[u8]| {
    let Some((mut net, c, s)) = setup() else {
        panic!("the two stacks must connect");
    };
    let a = net.stacks[0].tcp_local_addr(c).expect("open");
    let b = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 80);
    let mut input = Bytes(data);
    let mut buf = [0u8; 4096];
    for _ in 0..64 {
        let Some(op) = input.u8() else {
            break;
        };
        let now = net.now();
        match op % 8 {
            0..=3 => {
                let (Some(flags), Some(dseq), Some(dack), Some(window)) =
                    (input.u16(), input.u32(), input.u32(), input.u16())
                else {
                    break;
                };
                let olen = usize::from(input.u8().unwrap_or(0) % 41);
                let opts = input.take(olen).unwrap_or(&[]);
                let plen = usize::from(input.u16().unwrap_or(0) % 3000);
                let payload = input.take(plen).unwrap_or(&[]);
                let info = net.stacks[1].tcp_info(s).ok();
                let (rcv_nxt, snd_una) = info.map_or((0, 0), |i| (i.rcv_nxt, i.snd_una));
                // Near the connection's numbers (small offsets) or anywhere (op 3).
                let (seq, ack) = if op % 8 == 3 {
                    (dseq, dack)
                } else {
                    (
                        rcv_nxt.wrapping_add((dseq as i32 >> 16) as u32),
                        snd_una.wrapping_add((dack as i32 >> 16) as u32),
                    )
                };
                let repr = TcpRepr {
                    src_port: a.port(),
                    dst_port: if op % 8 == 2 {
                        b.port() ^ (flags >> 12)
                    } else {
                        b.port()
                    },
                    seq,
                    ack,
                    flags: TcpFlags(flags & 0x1ff),
                    window,
                    urgent: 0,
                    options: TcpOptions::parse(opts),
                };
                inject(&mut net, a, b, &repr, payload);
            }
            4 => {
                let n = usize::from(input.u16().unwrap_or(0) % 20_000);
                let data = vec![0x5a; n];
                let _ = net.stacks[0].tcp_send(c, &data, now);
                let _ = net.stacks[1].tcp_send(s, &data, now);
            }
            5 => {
                let _ = net.stacks[0].tcp_recv(c, &mut buf, now);
                let _ = net.stacks[1].tcp_recv(s, &mut buf, now);
            }
            6 => {
                let how = match input.u8().unwrap_or(0) % 4 {
                    0 => Shutdown::Read,
                    1 => Shutdown::Write,
                    2 => Shutdown::Both,
                    _ => {
                        let _ = net.stacks[1].tcp_close(s, now);
                        continue;
                    }
                };
                let _ = net.stacks[1].tcp_shutdown(s, how, now);
            }
            _ => {
                let ms = u64::from(input.u16().unwrap_or(0));
                if net.run_for(Duration::from_millis(ms)).is_err() {
                    return;
                }
            }
        }
        if net.run_for(Duration::from_micros(500)).is_err() {
            return;
        }
        for (stack, h) in [(0, c), (1, s)] {
            if let Ok(i) = net.stacks[stack].tcp_info(h) {
                assert!(i.unacked as usize <= i.sndbuf + 2, "{i:?}");
            }
        }
    }
    // Whatever happened, time running out settles every connection without a panic.
    let _ = net.run_for(Duration::from_secs(300));
});
