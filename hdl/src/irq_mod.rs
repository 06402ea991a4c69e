//! `IrqModerator`: the card's interrupt vectors and their moderation.
//!
//! A queue whose completion ring is armed and has news *fires* (the card works that out: see
//! `nic`); the vector it is bound to becomes *pending*. A pending vector raises its interrupt
//! line for one cycle, and counts the raise, when its moderation allows: `frames` completions
//! counted since it became pending reach the frame limit, or `usecs` microseconds since then
//! reach the time limit (either limit zero: unused; both zero: at once). A masked vector stays
//! pending and raises nothing until unmasked. The raise clears both counts; the vector stays
//! pending only if a queue fired it again in that cycle.
//!
//! Inputs, for `n` queues and `v` vectors:
//! - `clock`;
//! - `any_fire`: some queue fires this cycle; `q_fire$i` (queue `i` fires) and `q_vec$i` (its
//!   vector) are looked at only then;
//! - `ev`, `ev_vec`: a completion was written for a queue bound to vector `ev_vec` (counted by
//!   a pending vector, or by one fired in the same cycle);
//! - `us_tick`: one cycle in each microsecond;
//! - per vector, its registers (`oxnic_abi::regs::irq`): `usecs$j` and `frames$j` (limits in
//!   bits 15:0) and `ctrl$j` (bit 0: masked).
//!
//! Outputs: `irq`, the interrupt lines (bit `j` for vector `j`, high for one cycle per raise),
//! and `count$j`, vector `j`'s raises so far (32 bits, wrapping).
//!
//! The Verilog is written by hand ([`IrqModerator`]'s `hdl`): all of it sits in one clocked
//! block that does nothing, beyond one test, in a cycle in which no queue fires and no vector is
//! pending — every cycle of a driver that polls with its interrupts unarmed. rust-hdl's Verilog
//! of the same logic made a simulator such as Verilator update five registers and test each
//! vector's limits in every cycle (about 430 instructions a cycle for the card's 16 vectors).
//! [`IrqModerator`]'s `update` is the same logic for rust-hdl's simulator, and the
//! differential test runs both.

use rust_hdl::prelude::*;
use std::fmt::Write as _;
use std::sync::Mutex;

/// Interrupt vectors with frame and time moderation.
#[derive(LogicBlock)]
pub struct IrqModerator {
    /// Clock.
    pub clock: Signal<In, Clock>,
    /// Some queue fires this cycle.
    pub any_fire: Signal<In, Bit>,
    /// Queue `i` fires.
    pub q_fire: Vec<Signal<In, Bit>>,
    /// Queue `i`'s vector.
    pub q_vec: Vec<Signal<In, Bits<4>>>,
    /// A completion was written this cycle...
    pub ev: Signal<In, Bit>,
    /// ...for a queue bound to this vector.
    pub ev_vec: Signal<In, Bits<4>>,
    /// One cycle in each microsecond.
    pub us_tick: Signal<In, Bit>,
    /// Vector `j`'s time limit in microseconds (bits 15:0; zero: none).
    pub usecs: Vec<Signal<In, Bits<32>>>,
    /// Vector `j`'s frame limit (bits 15:0; zero: none).
    pub frames: Vec<Signal<In, Bits<32>>>,
    /// Vector `j`'s control register (bit 0: masked).
    pub ctrl: Vec<Signal<In, Bits<32>>>,
    /// The interrupt lines, bit `j` for vector `j`.
    pub irq: Signal<Out, Bits<16>>,
    /// Vector `j`'s raises so far.
    pub count: Vec<Signal<Out, Bits<32>>>,
    pending: Vec<DFF<Bit>>,
    pulse: Vec<DFF<Bit>>,
    n_frames: Vec<DFF<Bits<16>>>,
    n_usecs: Vec<DFF<Bits<16>>>,
    n_count: Vec<DFF<Bits<32>>>,
}

fn sigs<T: Default>(n: usize) -> Vec<T> {
    (0..n).map(|_| T::default()).collect()
}

impl IrqModerator {
    /// `queues` queues, `vectors` vectors (at most 16: vector numbers are 4 bits).
    pub fn new(queues: usize, vectors: usize) -> Self {
        assert!(vectors <= 16, "vector numbers are 4 bits");
        IrqModerator {
            clock: Default::default(),
            any_fire: Default::default(),
            q_fire: sigs(queues),
            q_vec: sigs(queues),
            ev: Default::default(),
            ev_vec: Default::default(),
            us_tick: Default::default(),
            usecs: sigs(vectors),
            frames: sigs(vectors),
            ctrl: sigs(vectors),
            irq: Default::default(),
            count: sigs(vectors),
            pending: sigs(vectors),
            pulse: sigs(vectors),
            n_frames: sigs(vectors),
            n_usecs: sigs(vectors),
            n_count: sigs(vectors),
        }
    }
}

/// The input names of a configuration, made once per configuration.
fn input_names(queues: usize, vectors: usize) -> &'static [&'static str] {
    type Known = Vec<((usize, usize), &'static [&'static str])>;
    static KNOWN: Mutex<Known> = Mutex::new(Vec::new());
    let mut known = KNOWN.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, names)) = known.iter().find(|(k, _)| *k == (queues, vectors)) {
        return names;
    }
    let mut v: Vec<&'static str> = vec!["clock", "any_fire", "ev", "ev_vec", "us_tick"];
    for p in ["q_fire", "q_vec"] {
        for i in 0..queues {
            v.push(Box::leak(format!("{p}${i}").into_boxed_str()));
        }
    }
    for p in ["usecs", "frames", "ctrl"] {
        for j in 0..vectors {
            v.push(Box::leak(format!("{p}${j}").into_boxed_str()));
        }
    }
    let names: &'static [&'static str] = Box::leak(v.into_boxed_slice());
    known.push(((queues, vectors), names));
    names
}

impl Logic for IrqModerator {
    /// rust-hdl's simulation of the block; [`Logic::hdl`] is the same logic written as Verilog.
    fn update(&mut self) {
        let clock = self.clock.val();
        for j in 0..self.count.len() {
            self.pending[j].clock.next = clock;
            self.pending[j].d.next = self.pending[j].q.val();
            self.pulse[j].clock.next = clock;
            self.n_frames[j].clock.next = clock;
            self.n_frames[j].d.next = self.n_frames[j].q.val();
            self.n_usecs[j].clock.next = clock;
            self.n_usecs[j].d.next = self.n_usecs[j].q.val();
            self.n_count[j].clock.next = clock;
            self.n_count[j].d.next = self.n_count[j].q.val();
        }
        let mut lines = 0u64;
        for j in 0..self.count.len() {
            self.pulse[j].d.next = false;
            let fire = self.any_fire.val()
                && (0..self.q_fire.len())
                    .any(|i| self.q_fire[i].val() && self.q_vec[i].val().index() == j);
            let pending = self.pending[j].q.val();
            if fire {
                self.pending[j].d.next = true;
            }
            if self.ev.val() && self.ev_vec.val().index() == j && (pending || fire) {
                self.n_frames[j].d.next = self.n_frames[j].q.val() + 1;
            }
            if pending {
                if self.us_tick.val() {
                    self.n_usecs[j].d.next = self.n_usecs[j].q.val() + 1;
                }
                let usecs = self.usecs[j].val().get_bits::<16>(0);
                let frames = self.frames[j].val().get_bits::<16>(0);
                let due = (frames.any() && self.n_frames[j].q.val() >= frames)
                    || (usecs.any() && self.n_usecs[j].q.val() >= usecs)
                    || !(frames.any() || usecs.any());
                if !self.ctrl[j].val().get_bit(0) && due {
                    self.pending[j].d.next = fire;
                    self.n_frames[j].d.next = 0.into();
                    self.n_usecs[j].d.next = 0.into();
                    self.pulse[j].d.next = true;
                    self.n_count[j].d.next = self.n_count[j].q.val() + 1;
                }
            }
            lines |= u64::from(self.pulse[j].q.val()) << j;
            self.count[j].next = self.n_count[j].q.val();
        }
        self.irq.next = lines.into();
    }

    /// Marks what `update` drives (what `#[hdl_gen]` would derive from it).
    fn connect(&mut self) {
        self.irq.connect();
        for j in 0..self.count.len() {
            self.count[j].connect();
            for d in [&mut self.pending[j], &mut self.pulse[j]] {
                d.clock.connect();
                d.d.connect();
            }
            for d in [&mut self.n_frames[j], &mut self.n_usecs[j]] {
                d.clock.connect();
                d.d.connect();
            }
            self.n_count[j].clock.connect();
            self.n_count[j].d.connect();
        }
    }

    fn hdl(&self) -> Verilog {
        crate::verilog::hand_written(moderator_verilog(self.q_fire.len(), self.count.len()))
    }
}

/// The body of [`IrqModerator`]'s Verilog module.
fn moderator_verilog(queues: usize, vectors: usize) -> String {
    let m = vectors - 1;
    let mut v = format!(
        "reg [{m}:0] pending = 0;
reg [15:0] pulse = 0;
// Blocking temporaries of the clocked block: vectors fired, next pending, next pulses.
reg [{m}:0] f;
reg [{m}:0] np;
reg [15:0] npulse;
// Next frame and microsecond counts of one vector: each count register is then written at one
// place, which spares a simulator a copy of it in every cycle (Verilator keeps a shadow copy
// of a register written at two places).
reg [15:0] nf;
reg [15:0] nu;
assign irq = pulse;
"
    );
    for j in 0..vectors {
        let _ = writeln!(
            v,
            "reg [15:0] n_frames_{j} = 0;\nreg [15:0] n_usecs_{j} = 0;\nreg [31:0] n_count_{j} = 0;\n\
             assign count${j} = n_count_{j};"
        );
    }
    v.push_str(
        "always @(posedge clock) begin
    if (any_fire | (pending != 0)) begin
        f = 0;
        if (any_fire) begin
",
    );
    for i in 0..queues {
        // A vector number past the last raises nothing (no test needed with 16 vectors).
        let guard = if vectors < 16 {
            format!(" & (q_vec${i} < {vectors})")
        } else {
            String::new()
        };
        let _ = writeln!(v, "            if (q_fire${i}{guard}) f[q_vec${i}] = 1'b1;");
    }
    v.push_str(
        "        end
        np = pending | f;
        npulse = 0;
",
    );
    for j in 0..vectors {
        let _ = write!(
            v,
            "        nf = n_frames_{j};
        nu = n_usecs_{j};
        if (ev & (ev_vec == {j}) & (pending[{j}] | f[{j}]))
            nf = n_frames_{j} + 1;
        if (pending[{j}]) begin
            if (us_tick) nu = n_usecs_{j} + 1;
            if (!ctrl${j}[0]
                & (((frames${j}[15:0] != 0) & (n_frames_{j} >= frames${j}[15:0]))
                   | ((usecs${j}[15:0] != 0) & (n_usecs_{j} >= usecs${j}[15:0]))
                   | ((frames${j}[15:0] == 0) & (usecs${j}[15:0] == 0)))) begin
                np[{j}] = f[{j}];
                npulse[{j}] = 1'b1;
                nf = 0;
                nu = 0;
                n_count_{j} <= n_count_{j} + 1;
            end
        end
        n_frames_{j} <= nf;
        n_usecs_{j} <= nu;
"
        );
    }
    v.push_str(
        "        pending <= np;
        pulse <= npulse;
    end else begin
        pulse <= 0;
    end
end
",
    );
    v
}

impl crate::testbench::SetInputs for IrqModerator {
    fn input_names(&self) -> &'static [&'static str] {
        input_names(self.q_fire.len(), self.count.len())
    }

    fn set_input(&mut self, name: &str, words: &[u64]) -> Result<(), crate::testbench::TbError> {
        use crate::testbench::FromWords as F;
        match name {
            "clock" => self.clock.next = F::from_words(words),
            "any_fire" => self.any_fire.next = F::from_words(words),
            "ev" => self.ev.next = F::from_words(words),
            "ev_vec" => self.ev_vec.next = F::from_words(words),
            "us_tick" => self.us_tick.next = F::from_words(words),
            _ => {
                let bad = || crate::testbench::TbError::NoSuchInput(name.to_string());
                let (nq, nv) = (self.q_fire.len(), self.count.len());
                let (p, i) = crate::testbench::indexed_input(name, nq.max(nv))?;
                match p {
                    "q_fire" if i < nq => self.q_fire[i].next = F::from_words(words),
                    "q_vec" if i < nq => self.q_vec[i].next = F::from_words(words),
                    "usecs" if i < nv => self.usecs[i].next = F::from_words(words),
                    "frames" if i < nv => self.frames[i].next = F::from_words(words),
                    "ctrl" if i < nv => self.ctrl[i].next = F::from_words(words),
                    _ => return Err(bad()),
                }
            }
        }
        Ok(())
    }
}

/// The card's configuration: 16 queues (8 RX, 8 TX), 16 vectors.
pub fn card() -> IrqModerator {
    IrqModerator::new(16, 16)
}

/// Verilog of the catalogue entry `oxnic_irq_mod` (the card's configuration).
pub fn verilog() -> Result<String, crate::verilog::GenError> {
    let mut b = card();
    b.connect_all();
    crate::verilog::generate_named(&b, "oxnic_irq_mod")
}

/// Random traffic for the card's configuration: queues firing now and then on random vectors
/// completions, microsecond ticks, and limits small
/// enough to be reached, changed and masked from time to time.
pub fn random_stimulus(seed: u64, cycles: usize) -> crate::testbench::Stimulus {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let (nq, nv) = (16, 16);
    let mut limits: Vec<(u64, u64, u64)> = (0..nv).map(|_| (0, 0, 0)).collect();
    let mut vecs: Vec<u64> = (0..nq).map(|i| i as u64).collect();
    (0..cycles)
        .map(|_| {
            if rng.gen_bool(0.01) {
                let j = rng.gen_range(0..nv);
                limits[j] = (
                    rng.gen_range(0..6),
                    rng.gen_range(0..6),
                    u64::from(rng.gen_bool(0.2)),
                );
            }
            if rng.gen_bool(0.005) {
                vecs[rng.gen_range(0..nq)] = rng.gen_range(0..16);
            }
            let any = rng.gen_bool(0.15);
            let mut c: Vec<(&'static str, Vec<u64>)> = vec![
                ("any_fire", vec![u64::from(any)]),
                ("ev", vec![u64::from(rng.gen_bool(0.4))]),
                ("ev_vec", vec![rng.gen_range(0..16)]),
                ("us_tick", vec![u64::from(rng.gen_bool(0.1))]),
            ];
            let names = input_names(nq, nv);
            for i in 0..nq {
                let fire = any && rng.gen_bool(0.3);
                c.push((names[5 + i], vec![u64::from(fire)]));
                c.push((names[5 + nq + i], vec![vecs[i]]));
            }
            for (j, (us, fr, ctl)) in limits.iter().enumerate() {
                c.push((names[5 + 2 * nq + j], vec![*us]));
                c.push((names[5 + 2 * nq + nv + j], vec![*fr]));
                c.push((names[5 + 2 * nq + 2 * nv + j], vec![*ctl]));
            }
            c
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testbench::Bench;

    /// Runs the card's configuration for `cycles` cycles, with `setup` choosing the inputs
    /// of each cycle; returns the cycles in which vector 3 raised its line.
    fn raises(cycles: usize, setup: impl Fn(usize, &mut Bench<IrqModerator>)) -> Vec<usize> {
        let mut b = Bench::new(card()).unwrap();
        let mut out = Vec::new();
        for c in 0..cycles {
            setup(c, &mut b);
            b.settle().unwrap();
            b.tick().unwrap();
            if b.get("irq").unwrap()[0] >> 3 & 1 == 1 {
                out.push(c);
            }
        }
        assert_eq!(b.get("count$3").unwrap()[0], out.len() as u64);
        out
    }

    fn fire_q5_on_vector_3(c: usize, at: usize, b: &mut Bench<IrqModerator>) {
        let now = u64::from(c == at);
        b.set("any_fire", &[now]).unwrap();
        b.set("q_fire$5", &[now]).unwrap();
        b.set("q_vec$5", &[3]).unwrap();
    }

    #[test]
    fn without_limits_a_fire_raises_once_at_once() {
        let r = raises(20, |c, b| fire_q5_on_vector_3(c, 4, b));
        assert_eq!(r, vec![5]);
    }

    #[test]
    fn the_frame_limit_waits_for_that_many_completions() {
        let r = raises(40, |c, b| {
            fire_q5_on_vector_3(c, 2, b);
            b.set("frames$3", &[3]).unwrap();
            // Completions on vector 3 in cycles 10, 20 and 30; one on vector 4 in 15.
            let ev = [10, 15, 20, 30].contains(&c);
            b.set("ev", &[u64::from(ev)]).unwrap();
            b.set("ev_vec", &[if c == 15 { 4 } else { 3 }]).unwrap();
        });
        // The third completion is counted at the edge of cycle 30; the limit is seen next.
        assert_eq!(r, vec![31]);
    }

    #[test]
    fn the_time_limit_counts_microsecond_ticks_and_a_mask_holds_the_raise() {
        let r = raises(60, |c, b| {
            fire_q5_on_vector_3(c, 0, b);
            b.set("usecs$3", &[2]).unwrap();
            b.set("us_tick", &[u64::from(c % 10 == 9)]).unwrap();
            b.set("ctrl$3", &[u64::from(c < 40)]).unwrap();
        });
        // Two ticks by cycle 19; masked until cycle 40.
        assert_eq!(r, vec![40]);
    }

    #[test]
    fn the_last_vector_is_raised_and_no_other() {
        let mut b = Bench::new(card()).unwrap();
        for c in 0..10 {
            let now = u64::from(c == 1);
            b.set("any_fire", &[now]).unwrap();
            b.set("q_fire$0", &[now]).unwrap();
            b.set("q_vec$0", &[15]).unwrap();
            b.settle().unwrap();
            b.tick().unwrap();
        }
        assert_eq!(b.get("count$15").unwrap()[0], 1);
        let total: u64 = (0..16)
            .map(|j| b.get(&format!("count${j}")).unwrap()[0])
            .sum();
        assert_eq!(total, 1);
    }

    #[test]
    fn synthesizes_with_yosys() {
        let v = verilog().unwrap();
        let r = crate::synth::yosys_synth("oxnic_irq_mod", &v).unwrap();
        // Per vector: pending, pulse, 16 + 16 counts, a 32-bit raise count.
        assert_eq!(r.flops, 16 * (1 + 1 + 16 + 16 + 32), "{r:?}");
    }
}
