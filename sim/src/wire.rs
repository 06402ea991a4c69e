//! Ethernet wire models for the card's MAC ports: a point-to-point link with line rate and
//! latency, a seeded impairment stage, and a pcap recorder Wireshark reads.
//!
//! Everything runs in virtual time (nanoseconds passed in by the caller): the same seed and the
//! same inputs give the same frames at the same times, bit for bit.

use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
use pcap_file::{DataLink, Endianness, TsResolution};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::VecDeque;
use std::io::Write;
use std::time::Duration;

/// Preamble + start-of-frame delimiter + minimum inter-frame gap, in bytes on the wire.
pub const WIRE_OVERHEAD_BYTES: u64 = 8 + 12;

/// A frame on a wire at a point in virtual time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Arrival (or departure) time in nanoseconds.
    pub time_ns: u64,
    /// Bytes as on the wire, FCS included when the MAC sends it.
    pub data: Vec<u8>,
}

/// Line rate and propagation delay of one direction of a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkParams {
    /// Line rate in bits per second.
    pub bits_per_sec: u64,
    /// Propagation latency in nanoseconds.
    pub latency_ns: u64,
}

impl Default for LinkParams {
    /// 10 Gb/s, 500 ns (100 m of fibre).
    fn default() -> Self {
        LinkParams {
            bits_per_sec: 10_000_000_000,
            latency_ns: 500,
        }
    }
}

/// One direction of a point-to-point Ethernet link.
///
/// A frame occupies the wire for its bytes plus preamble and inter-frame gap at the line rate;
/// a frame sent while the wire is busy waits its turn (the sender's MAC would). It arrives
/// `latency_ns` after its last bit left.
#[derive(Debug, Default)]
pub struct Channel {
    params: LinkParams,
    busy_until_ns: u64,
    in_flight: VecDeque<Frame>,
    /// Frames sent.
    pub frames: u64,
    /// Bytes sent (frame bytes only).
    pub bytes: u64,
}

impl Channel {
    /// An idle channel.
    pub fn new(params: LinkParams) -> Self {
        Channel {
            params,
            ..Default::default()
        }
    }

    /// Nanoseconds `len` frame bytes occupy the wire, overhead included (rounded up).
    pub fn wire_time_ns(&self, len: usize) -> u64 {
        let bits = (len as u64 + WIRE_OVERHEAD_BYTES) * 8;
        (bits * 1_000_000_000).div_ceil(self.params.bits_per_sec.max(1))
    }

    /// Puts a frame on the wire at `now_ns`; returns its arrival time at the far end.
    pub fn send(&mut self, now_ns: u64, data: Vec<u8>) -> u64 {
        let start = now_ns.max(self.busy_until_ns);
        let end = start + self.wire_time_ns(data.len());
        self.busy_until_ns = end;
        let arrival = end + self.params.latency_ns;
        self.frames += 1;
        self.bytes += data.len() as u64;
        self.in_flight.push_back(Frame {
            time_ns: arrival,
            data,
        });
        arrival
    }

    /// The next frame that has arrived by `now_ns`, in order.
    pub fn recv(&mut self, now_ns: u64) -> Option<Frame> {
        if self.in_flight.front()?.time_ns <= now_ns {
            self.in_flight.pop_front()
        } else {
            None
        }
    }

    /// When the next frame arrives, if any is in flight.
    pub fn next_arrival_ns(&self) -> Option<u64> {
        self.in_flight.front().map(|f| f.time_ns)
    }

    /// Time until which the wire is busy sending.
    pub fn busy_until_ns(&self) -> u64 {
        self.busy_until_ns
    }
}

/// A full-duplex link: two independent channels.
#[derive(Debug, Default)]
pub struct Link {
    /// From end A to end B.
    pub a_to_b: Channel,
    /// From end B to end A.
    pub b_to_a: Channel,
}

impl Link {
    /// A symmetric link.
    pub fn new(params: LinkParams) -> Self {
        Link {
            a_to_b: Channel::new(params),
            b_to_a: Channel::new(params),
        }
    }
}

/// Probabilities of each impairment, per frame, and the seed.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Impairments {
    /// Drop the frame.
    pub loss: f64,
    /// Deliver the frame twice.
    pub duplicate: f64,
    /// Hold the frame back and deliver it after the next one.
    pub reorder: f64,
    /// Flip one random bit.
    pub corrupt: f64,
    /// Seed of the random choices.
    pub seed: u64,
}

/// What the impairment stage did, by kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ImpairStats {
    /// Frames offered.
    pub offered: u64,
    /// Frames dropped.
    pub lost: u64,
    /// Extra copies delivered.
    pub duplicated: u64,
    /// Frames delivered out of order.
    pub reordered: u64,
    /// Frames with a flipped bit.
    pub corrupted: u64,
}

/// Why impairments were rejected.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("impairment probability {name} = {value} is not within 0..=1")]
pub struct BadProbability {
    /// Which one.
    pub name: &'static str,
    /// The value given.
    pub value: f64,
}

/// A seeded, reproducible impairment stage.
#[derive(Debug)]
pub struct Impair {
    cfg: Impairments,
    rng: ChaCha8Rng,
    held: Option<Vec<u8>>,
    /// Counts by kind.
    pub stats: ImpairStats,
}

impl Impair {
    /// A stage with these probabilities.
    pub fn new(cfg: Impairments) -> Result<Self, BadProbability> {
        for (name, value) in [
            ("loss", cfg.loss),
            ("duplicate", cfg.duplicate),
            ("reorder", cfg.reorder),
            ("corrupt", cfg.corrupt),
        ] {
            if !(0.0..=1.0).contains(&value) {
                return Err(BadProbability { name, value });
            }
        }
        Ok(Impair {
            cfg,
            rng: ChaCha8Rng::seed_from_u64(cfg.seed),
            held: None,
            stats: ImpairStats::default(),
        })
    }

    /// Passes one frame through; the frames to deliver now are appended to `out` in order.
    pub fn process(&mut self, mut frame: Vec<u8>, out: &mut Vec<Vec<u8>>) {
        self.stats.offered += 1;
        // Draw every decision each time so one impairment's setting does not shift the others.
        let lose = self.rng.gen_bool(self.cfg.loss);
        let dup = self.rng.gen_bool(self.cfg.duplicate);
        let reorder = self.rng.gen_bool(self.cfg.reorder);
        let corrupt = self.rng.gen_bool(self.cfg.corrupt);
        let bit: u64 = self.rng.gen();
        if lose {
            self.stats.lost += 1;
            return;
        }
        if corrupt && !frame.is_empty() {
            let bit = (bit % (frame.len() as u64 * 8)) as usize;
            frame[bit / 8] ^= 1 << (bit % 8);
            self.stats.corrupted += 1;
        }
        if reorder && self.held.is_none() {
            self.held = Some(frame);
            return;
        }
        if dup {
            self.stats.duplicated += 1;
            out.push(frame.clone());
        }
        out.push(frame);
        if let Some(h) = self.held.take() {
            self.stats.reordered += 1;
            out.push(h);
        }
    }

    /// Releases a held frame (end of traffic).
    pub fn flush(&mut self, out: &mut Vec<Vec<u8>>) {
        if let Some(h) = self.held.take() {
            out.push(h);
        }
    }
}

/// Writes frames to a pcap file (Ethernet link type, nanosecond timestamps).
#[derive(Debug)]
pub struct PcapRecorder<W: Write> {
    writer: PcapWriter<W>,
    strip_fcs: bool,
    /// Frames written.
    pub frames: u64,
}

impl<W: Write> PcapRecorder<W> {
    /// A recorder writing to `w`. With `strip_fcs` the last four bytes of each frame (the FCS a
    /// MAC sends) are left out, as a capture on a host interface shows frames.
    pub fn new(w: W, strip_fcs: bool) -> Result<Self, pcap_file::PcapError> {
        let header = PcapHeader {
            version_major: 2,
            version_minor: 4,
            ts_correction: 0,
            ts_accuracy: 0,
            snaplen: 65535,
            datalink: DataLink::ETHERNET,
            ts_resolution: TsResolution::NanoSecond,
            endianness: Endianness::Little,
        };
        Ok(PcapRecorder {
            writer: PcapWriter::with_header(w, header)?,
            strip_fcs,
            frames: 0,
        })
    }

    /// Records one frame seen at `time_ns`.
    pub fn record(&mut self, time_ns: u64, frame: &[u8]) -> Result<(), pcap_file::PcapError> {
        let data = if self.strip_fcs {
            &frame[..frame.len().saturating_sub(4)]
        } else {
            frame
        };
        let pkt = PcapPacket::new(Duration::from_nanos(time_ns), data.len() as u32, data);
        self.writer.write_packet(&pkt)?;
        self.frames += 1;
        Ok(())
    }

    /// The underlying writer.
    pub fn into_inner(self) -> W {
        self.writer.into_writer()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pcap_file::pcap::PcapReader;

    #[test]
    fn channel_serializes_at_line_rate_and_adds_latency() {
        let mut c = Channel::new(LinkParams {
            bits_per_sec: 10_000_000_000,
            latency_ns: 100,
        });
        // 64-byte frame + 20 bytes overhead = 672 bits = 67.2 ns at 10 Gb/s
        assert_eq!(c.wire_time_ns(64), 68);
        let a1 = c.send(0, vec![0; 64]);
        let a2 = c.send(0, vec![1; 64]); // queued behind the first
        assert_eq!(a1, 68 + 100);
        assert_eq!(a2, 68 + 68 + 100);
        assert_eq!(c.recv(a1 - 1), None);
        assert_eq!(c.recv(a1).unwrap().data[0], 0);
        assert_eq!(c.next_arrival_ns(), Some(a2));
        assert_eq!(c.recv(a2).unwrap().data[0], 1);
        // an idle wire starts at once
        let a3 = c.send(10_000, vec![2; 1518]);
        assert_eq!(a3, 10_000 + c.wire_time_ns(1518) + 100);
        assert_eq!((c.frames, c.bytes), (3, 64 + 64 + 1518));
    }

    fn run(cfg: Impairments, n: usize) -> (Vec<Vec<u8>>, ImpairStats) {
        let mut imp = Impair::new(cfg).unwrap();
        let mut out = Vec::new();
        for i in 0..n {
            imp.process(vec![(i % 256) as u8, (i / 256) as u8, 0xaa, 0x55], &mut out);
        }
        imp.flush(&mut out);
        (out, imp.stats)
    }

    #[test]
    fn impairments_are_reproducible_per_seed() {
        let cfg = Impairments {
            loss: 0.05,
            duplicate: 0.02,
            reorder: 0.03,
            corrupt: 0.01,
            seed: 9,
        };
        let (a, sa) = run(cfg, 5000);
        let (b, sb) = run(cfg, 5000);
        assert_eq!(a, b);
        assert_eq!(sa, sb);
        let (c, _) = run(Impairments { seed: 10, ..cfg }, 5000);
        assert_ne!(a, c, "another seed gives another run");
        // every kind happened, at roughly its rate
        assert!((150..350).contains(&sa.lost), "{sa:?}");
        assert!(
            sa.duplicated > 40 && sa.reordered > 60 && sa.corrupted > 20,
            "{sa:?}"
        );
        assert_eq!(a.len() as u64, 5000 - sa.lost + sa.duplicated);
    }

    #[test]
    fn no_impairment_is_identity() {
        let (out, s) = run(Impairments::default(), 300);
        assert_eq!(out.len(), 300);
        for (i, f) in out.iter().enumerate() {
            assert_eq!(f[..2], [(i % 256) as u8, (i / 256) as u8]);
        }
        assert_eq!(
            s,
            ImpairStats {
                offered: 300,
                ..Default::default()
            }
        );
    }

    #[test]
    fn reorder_swaps_neighbours_and_corrupt_flips_one_bit() {
        let (out, s) = run(
            Impairments {
                reorder: 1.0,
                seed: 1,
                ..Default::default()
            },
            4,
        );
        let firsts: Vec<u8> = out.iter().map(|f| f[0]).collect();
        assert_eq!(firsts, [1, 0, 3, 2]);
        assert_eq!(s.reordered, 2);
        let (out, _) = run(
            Impairments {
                corrupt: 1.0,
                seed: 1,
                ..Default::default()
            },
            50,
        );
        for (i, f) in out.iter().enumerate() {
            let orig = [(i % 256) as u8, (i / 256) as u8, 0xaa, 0x55];
            let flipped: u32 = f.iter().zip(orig).map(|(a, b)| (a ^ b).count_ones()).sum();
            assert_eq!(flipped, 1);
        }
    }

    #[test]
    fn bad_probabilities_are_rejected() {
        let e = Impair::new(Impairments {
            loss: 1.5,
            ..Default::default()
        })
        .unwrap_err();
        assert_eq!(
            e,
            BadProbability {
                name: "loss",
                value: 1.5
            }
        );
        assert!(Impair::new(Impairments {
            corrupt: -0.1,
            ..Default::default()
        })
        .is_err());
        assert!(Impair::new(Impairments {
            reorder: f64::NAN,
            ..Default::default()
        })
        .is_err());
    }

    #[test]
    fn pcap_reads_back_with_nanosecond_times() {
        let mut rec = PcapRecorder::new(Vec::new(), true).unwrap();
        rec.record(1_500_000_123, &[1, 2, 3, 4, 5, 6, 0xde, 0xad, 0xbe, 0xef])
            .unwrap();
        rec.record(2_000_000_000, &[7; 64]).unwrap();
        let bytes = rec.into_inner();
        // nanosecond-resolution pcap magic, little-endian
        assert_eq!(&bytes[..4], &[0x4d, 0x3c, 0xb2, 0xa1]);
        let mut r = PcapReader::new(&bytes[..]).unwrap();
        assert_eq!(r.header().datalink, DataLink::ETHERNET);
        let p = r.next_packet().unwrap().unwrap();
        assert_eq!(p.timestamp, Duration::from_nanos(1_500_000_123));
        assert_eq!(&p.data[..], &[1, 2, 3, 4, 5, 6]);
        let p = r.next_packet().unwrap().unwrap();
        assert_eq!(p.data.len(), 60);
        assert!(r.next_packet().is_none());
    }
}
