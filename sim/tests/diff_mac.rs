//! The MAC, differentially: rust-hdl's simulator and the Verilator model of `oxnic_mac_rx` and
//! `oxnic_mac_tx` on the same random stimulus, every output compared on every cycle; the agreed
//! outputs are also checked against the reference models (frames out of `mac_rx` are the input
//! frames minus FCS with the right verdict, counters add up; `mac_tx` wire frames are the frames
//! it took, padded, with a `crc32fast` FCS and the idle time the deficit formula gives).

use oxnic_hdl::mac_rx::{self, RxConfig};
use oxnic_hdl::mac_tx;
use oxnic_hdl::stream_stimulus::{decode_frames, value_at};
use oxnic_sim::diff;
use oxnic_sim::models;

fn keep_bytes(data: u64, keep: u64) -> impl Iterator<Item = u8> {
    let d = data.to_le_bytes();
    (0..8)
        .filter(move |i| keep >> i & 1 != 0)
        .map(move |i| d[i])
}

#[test]
fn mac_rx_agrees_and_matches_the_reference() {
    let mut stim = mac_rx::random_stimulus(901, 12_000);
    stim.extend((0..2).map(|_| vec![("phy$valid", vec![0])]));
    let sent = decode_frames(&stim, mac_rx::PHY);
    let mut got: Vec<(Vec<u8>, bool, usize)> = vec![];
    let mut cur = vec![];
    let mut counters = vec![];
    diff::run(
        mac_rx::MacRx::new(),
        models::oxnic_mac_rx::Model::new(),
        &stim,
        |c, s| {
            assert_eq!(s.get("phy$ready"), 1);
            if s.get("source$valid") == 1 {
                cur.extend(keep_bytes(s.get("source$data"), s.get("source$keep")));
                if s.get("source$last") == 1 {
                    got.push((
                        std::mem::take(&mut cur),
                        s.get("source$user") == 1,
                        c as usize,
                    ));
                }
            }
            counters = mac_rx::COUNTERS.iter().map(|n| s.get(n)).collect();
        },
    )
    .unwrap();
    let judged: Vec<(Vec<u8>, RxConfig)> = sent
        .iter()
        .map(|f| (f.bytes.clone(), RxConfig::at(&stim, f.first_cycle)))
        .collect();
    let want: Vec<(Vec<u8>, bool, usize)> = sent
        .iter()
        .zip(&judged)
        .filter(|(f, _)| f.bytes.len() > 4)
        .map(|(f, (b, cfg))| {
            let good = mac_rx::reference_verdict(b, cfg).good();
            (
                f.bytes[..f.bytes.len() - 4].to_vec(),
                !good,
                f.last_cycle + mac_rx::LATENCY,
            )
        })
        .collect();
    assert!(want.len() > 100, "{} frames", want.len());
    assert_eq!(got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_eq!(g, w, "frame {i}");
    }
    let expect = mac_rx::reference_counters(&judged);
    assert_eq!(counters, expect, "{:?}", mac_rx::COUNTERS);
    // The stimulus exercises every counter.
    assert!(expect.iter().all(|&c| c > 0), "{expect:?}");
}

#[test]
fn mac_tx_agrees_and_matches_the_reference() {
    let stim = mac_tx::random_stimulus(902, 12_000);
    let (mut taken, mut cur_in) = (Vec::<Vec<u8>>::new(), vec![]);
    let (mut wire, mut cur_out) = (Vec::<(Vec<u8>, usize)>::new(), vec![]);
    let mut valid = vec![];
    let mut counters = (0, 0);
    diff::run(
        mac_tx::MacTx::new(),
        models::oxnic_mac_tx::Model::new(),
        &stim,
        |c, s| {
            let c = c as usize;
            if c < stim.len() {
                let v = |p| value_at(&stim, p, c)[0];
                if v("sink$valid") == 1 && s.get("sink$ready") == 1 {
                    cur_in.extend(keep_bytes(v("sink$data"), v("sink$keep")));
                    if v("sink$last") == 1 {
                        taken.push(std::mem::take(&mut cur_in));
                    }
                }
                valid.push(s.get("phy$valid") == 1);
                if s.get("phy$valid") == 1 && v("phy$ready") == 1 {
                    cur_out.extend(keep_bytes(s.get("phy$data"), s.get("phy$keep")));
                    if s.get("phy$last") == 1 {
                        wire.push((std::mem::take(&mut cur_out), c));
                    }
                }
            }
            counters = (s.get("frames"), s.get("bytes"));
        },
    )
    .unwrap();
    assert!(wire.len() > 20, "{} frames on the wire", wire.len());
    assert!(taken.len() >= wire.len());
    let gaps = mac_tx::reference_gaps(wire.iter().map(|w| w.0.len()));
    for (i, ((w, last), t)) in wire.iter().zip(&taken).enumerate() {
        assert_eq!(w, &mac_tx::wire_bytes(t), "frame {i} of {} bytes", t.len());
        assert_eq!(
            crc32fast::hash(&w[..w.len() - 4]).to_le_bytes(),
            w[w.len() - 4..]
        );
        let mut gap = valid.iter().skip(last + 1).take(gaps[i]);
        assert!(
            gap.all(|v| !v),
            "frame {i}: valid in its gap after cycle {last}"
        );
    }
    let bytes: usize = taken.iter().map(Vec::len).sum::<usize>() + cur_in.len();
    assert_eq!(counters, (taken.len() as u64, bytes as u64));
}
