//! The data path must not allocate per packet once warm: buffers come from the pool and go back
//! to it, clones for capture taps only bump reference counts, a copy on write takes a pool
//! buffer, and GRO-style fragment chaining moves references. Counted with dhat's heap profiler
//! installed as the global allocator (this test binary only).

use core::net::Ipv4Addr;
use oxnic_stack::pktbuf::{ChecksumState, HashType, PacketBuf, PacketPool};
use oxnic_stack::wire::checksum::ChecksumMode;
use oxnic_stack::wire::ethernet::{ethertype, EthernetAddress, EthernetRepr};
use oxnic_stack::wire::ipv4::{protocol, Ipv4Repr};
use oxnic_stack::wire::udp::UdpRepr;
use std::sync::{Barrier, Mutex};

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

const SRC: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const DST: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

/// One packet's life: built for TX (payload, UDP, IPv4, Ethernet pushed in front), tapped,
/// received (parsed and pulled header by header, metadata set), rewritten after the tap
/// (copy on write), chained as a GRO fragment onto another packet, trimmed, linearized, dropped.
fn one_packet(pool: &PacketPool, i: u32) -> usize {
    let mut b = pool.alloc(128).expect("pool buffer");
    b.put_slice(&i.to_be_bytes()).unwrap();
    b.put(28).unwrap().fill(0x5a);
    let payload_len = b.len();
    let udp = UdpRepr {
        src_port: 1000,
        dst_port: 2000,
    };
    b.push(UdpRepr::HEADER_LEN).unwrap();
    udp.emit(
        b.data_mut().unwrap(),
        payload_len,
        SRC,
        DST,
        ChecksumMode::Software,
    )
    .unwrap();
    let ip = Ipv4Repr {
        src: SRC,
        dst: DST,
        protocol: protocol::UDP,
        ttl: 64,
        dscp: 0,
        ecn: 0,
        ident: i as u16,
        dont_frag: true,
        more_frags: false,
        frag_offset: 0,
        payload_len: b.len(),
        options: Default::default(),
    };
    ip.emit(b.push(20).unwrap(), ChecksumMode::Software)
        .unwrap();
    let eth = EthernetRepr {
        dst: EthernetAddress([2, 0, 0, 0, 0, 2]),
        src: EthernetAddress([2, 0, 0, 0, 0, 1]),
        ethertype: ethertype::IPV4,
    };
    eth.emit(b.push(EthernetRepr::LEN).unwrap()).unwrap();

    let tap = b.clone();

    // RX side on the same buffer.
    b.set_mac_header();
    let (e, _) = EthernetRepr::parse(b.data()).unwrap();
    b.meta.protocol = e.ethertype;
    b.meta.hash = i.wrapping_mul(0x9e37_79b9);
    b.meta.hash_type = HashType::L4;
    b.meta.csum = ChecksumState::Unnecessary;
    b.pull(EthernetRepr::LEN).unwrap();
    b.set_network_header();
    let (ip, _) = Ipv4Repr::parse(b.data(), ChecksumMode::Software).unwrap();
    b.trim(ip.header_len() + ip.payload_len).unwrap();
    b.pull(ip.header_len()).unwrap();
    b.set_transport_header();
    let (u, payload) = UdpRepr::parse(b.data(), ip.src, ip.dst, ChecksumMode::Software).unwrap();
    assert_eq!(u, udp);
    assert_eq!(&payload[..4], &i.to_be_bytes());

    // Rewrite after the tap: copy on write from the pool.
    b.data_mut().unwrap()[0] ^= 0xff;
    assert_eq!(tap.data()[34], 0x03);

    // GRO-style: chain this packet's payload onto another head, then make it linear.
    b.pull(UdpRepr::HEADER_LEN).unwrap();
    let mut head = pool.alloc(64).expect("pool buffer");
    head.put_slice(b"head").unwrap();
    head.append_frags(b).unwrap();
    head.trim(head.len() - 1).unwrap();
    head.may_pull(8).unwrap();
    head.linearize().unwrap();
    let mut out = [0u8; 128];
    let n = tap.copy_to(&mut out).unwrap();
    n + head.len()
}

/// A test binary without libtest's harness (`harness = false`): the harness's own thread
/// allocates now and then while it waits, and dhat counts the whole process.
fn main() {
    pktbuf_data_path_does_not_allocate();
    println!("pktbuf_data_path_does_not_allocate: ok");
    many_lazy_pools_on_one_thread_do_not_allocate();
    println!("many_lazy_pools_on_one_thread_do_not_allocate: ok");
    buffers_made_on_one_thread_and_dropped_on_another_do_not_allocate();
    println!("buffers_made_on_one_thread_and_dropped_on_another_do_not_allocate: ok");
}

/// A poller makes the buffers of received frames and an application thread drops them after
/// reading: once warm, the buffers' boxes come back to the making thread (through the shared
/// spare list) instead of being freed on one side and allocated on the other.
fn buffers_made_on_one_thread_and_dropped_on_another_do_not_allocate() {
    const PER_ROUND: usize = 64;
    const WARM: usize = 40;
    const ROUNDS: usize = 200;
    let _profiler = dhat::Profiler::builder().testing().build();
    let handoff: Mutex<Vec<PacketBuf>> = Mutex::new(Vec::with_capacity(PER_ROUND));
    let (made, dropped) = (Barrier::new(2), Barrier::new(2));
    let mut before = None;
    std::thread::scope(|scope| {
        scope.spawn(|| {
            for round in 0..ROUNDS {
                let mut q = handoff.lock().unwrap();
                for i in 0..PER_ROUND {
                    let mut b = PacketBuf::with_inline_head(32);
                    b.put_slice(&[(round + i) as u8; 54]).unwrap();
                    q.push(b);
                }
                drop(q);
                made.wait();
                dropped.wait();
            }
        });
        for round in 0..ROUNDS {
            made.wait();
            if round == WARM {
                before = Some(dhat::HeapStats::get());
            }
            let mut q = handoff.lock().unwrap();
            assert_eq!(q.len(), PER_ROUND);
            assert!(q.iter().all(|b| b.len() == 54));
            q.clear();
            drop(q);
            dropped.wait();
        }
    });
    let after = dhat::HeapStats::get();
    let before = before.expect("the warm-up ended");
    dhat::assert_eq!(after.total_blocks - before.total_blocks, 0);
}

/// A thread that takes buffers from more lazy pools than it keeps magazines for (a poller
/// with many connections, each with its own send-queue pool) turns its magazines over all the
/// time: once warm, that reuses the magazines' vectors and the pools' buffers, and allocates
/// nothing.
fn many_lazy_pools_on_one_thread_do_not_allocate() {
    let _profiler = dhat::Profiler::builder().testing().build();
    let pools: Vec<PacketPool> = (0..20).map(|_| PacketPool::lazy(4, 256)).collect();
    let round = |n: u8| {
        for p in &pools {
            let mut b = p.alloc(0).expect("pool buffer");
            b.put_slice(&[n; 8]).unwrap();
            drop(b);
        }
    };
    for n in 0..3 {
        round(n);
    }
    let before = dhat::HeapStats::get();
    for n in 0..100 {
        round(n);
    }
    let after = dhat::HeapStats::get();
    dhat::assert_eq!(after.total_blocks - before.total_blocks, 0);
    assert!(pools.iter().all(|p| p.available() == 4));
}

fn pktbuf_data_path_does_not_allocate() {
    let _profiler = dhat::Profiler::builder().testing().build();
    let pool = PacketPool::new(64, 2048);
    // Warm up: first uses may touch lazily initialised state outside the stack.
    for i in 0..100 {
        one_packet(&pool, i);
    }
    let before = dhat::HeapStats::get();
    let mut bytes = 0;
    for i in 0..10_000 {
        bytes += one_packet(&pool, i);
    }
    let after = dhat::HeapStats::get();
    assert_eq!(bytes, 10_000 * ((14 + 20 + 8 + 32) + (4 + 32 - 1)));
    dhat::assert_eq!(after.total_blocks - before.total_blocks, 0);
    assert_eq!(pool.available(), 64, "every buffer came back");
    // The counter does see allocations (the assertion above is not vacuous).
    let v = vec![0u8; 16];
    assert_eq!(dhat::HeapStats::get().total_blocks, after.total_blocks + 1);
    drop(v);
}
