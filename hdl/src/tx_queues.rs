//! `TxQueues`: the transmit engine's per-queue indices, the round-robin pick of a queue with
//! work, and the lookups of one queue's state.
//!
//! For each of `n` TX queues (at most [`MAX`]) the block holds what
//! [`crate::tx_engine::TxEngine`] keeps per queue: descriptors fetched (or being fetched),
//! parsed, and completed (the consumer index), completions written, and whether a pick of the
//! queue is in the parser (`busy`).
//!
//! The pick (combinational, only while `search` is high; else `found` low and `pick` zero): a
//! queue has work when it is enabled, its driver producer index differs from its fetched index
//! and it is not busy. `pick` is the lowest such queue above `rr`, else the lowest; `found`
//! says there is one. `p_*` look up queue `pick`: ring base and size, fetched and producer
//! index.
//!
//! Updates, at the rising edge, in this order (a later one wins for the same register):
//! - `take`: queue `pick`, if `found`, is fetched up to its producer index and is busy;
//! - `unbusy`: queue `w_q` is no longer busy;
//! - `refetch`: queue `w_q`'s fetched index becomes `refetch_to`;
//! - `done`: queue `sel_q`'s parsed index becomes `parsed_to`;
//! - `cpl_done`: queue `c_q`'s consumer index moves on by `c_segs` and its completion producer
//!   index by one; `cq_event` is high in that cycle.
//!
//! Other lookups: `pp`, the parsed index of `sel_q`; and while `c_look` is high (else zero),
//! `c_base`, `c_log2` and `c_prod`: queue `c_q`'s completion ring and producer index.
//!
//! Per queue outputs: `cons$i`, `cq_prod$i`.
//!
//! The Verilog is written by hand ([`TxQueues`]'s `hdl`), with the state in arrays indexed by
//! queue number: each event is one indexed update and each lookup one indexed read. In
//! rust-hdl's `#[hdl_gen]` a vector of signals can be indexed only with a loop variable, so the
//! same logic inside the engine compared the queue number with every queue's, for each lookup
//! and event, in every cycle. `update` is the same logic for rust-hdl's simulator, and the
//! differential test `tx_queues_agrees` runs both.

use rust_hdl::prelude::*;
use std::fmt::Write as _;

use crate::testbench::SetInputs;

/// Most queues (queue numbers are 4 bits).
pub const MAX: usize = 16;

/// The per-queue state, the pick and the lookups; see the module documentation.
#[derive(LogicBlock)]
pub struct TxQueues {
    /// Clock.
    pub clock: Signal<In, Clock>,
    /// Per queue: enabled.
    pub enable: Vec<Signal<In, Bit>>,
    /// Per queue: the driver's producer index.
    pub prod: Vec<Signal<In, Bits<16>>>,
    /// Per queue: descriptor ring IOVA.
    pub ring_base: Vec<Signal<In, Bits<64>>>,
    /// Per queue: log2 of the ring size.
    pub ring_log2: Vec<Signal<In, Bits<4>>>,
    /// Per queue: completion ring IOVA.
    pub cq_base: Vec<Signal<In, Bits<64>>>,
    /// Per queue: log2 of the completion ring size.
    pub cq_log2: Vec<Signal<In, Bits<4>>>,
    /// Look for a queue with work.
    pub search: Signal<In, Bit>,
    /// The queue picked last.
    pub rr: Signal<In, Bits<16>>,
    /// Queue `pick` is taken.
    pub take: Signal<In, Bit>,
    /// Queue of the descriptor word the parser takes.
    pub w_q: Signal<In, Bits<4>>,
    /// Queue `w_q`'s pick ends.
    pub unbusy: Signal<In, Bit>,
    /// Queue `w_q`'s fetched index is set back.
    pub refetch: Signal<In, Bit>,
    /// To this.
    pub refetch_to: Signal<In, Bits<16>>,
    /// Queue whose chain the parser works on.
    pub sel_q: Signal<In, Bits<4>>,
    /// A chain of `sel_q` is done.
    pub done: Signal<In, Bit>,
    /// `sel_q`'s parsed index becomes this.
    pub parsed_to: Signal<In, Bits<16>>,
    /// Queue of the completion at the head.
    pub c_q: Signal<In, Bits<4>>,
    /// A completion is at the head (the `c_*` lookups).
    pub c_look: Signal<In, Bit>,
    /// The completion's last word is taken.
    pub cpl_done: Signal<In, Bit>,
    /// Descriptors the completion consumed.
    pub c_segs: Signal<In, Bits<4>>,
    /// A queue with work was found.
    pub found: Signal<Out, Bit>,
    /// That queue.
    pub pick: Signal<Out, Bits<16>>,
    /// `pick`'s ring IOVA.
    pub p_base: Signal<Out, Bits<64>>,
    /// `pick`'s ring size, log2.
    pub p_log2: Signal<Out, Bits<4>>,
    /// `pick`'s fetched index.
    pub p_fetched: Signal<Out, Bits<16>>,
    /// `pick`'s producer index.
    pub p_prod: Signal<Out, Bits<16>>,
    /// `sel_q`'s parsed index.
    pub pp: Signal<Out, Bits<16>>,
    /// `c_q`'s completion ring IOVA.
    pub c_base: Signal<Out, Bits<64>>,
    /// `c_q`'s completion ring size, log2.
    pub c_log2: Signal<Out, Bits<4>>,
    /// `c_q`'s completion producer index.
    pub c_prod: Signal<Out, Bits<16>>,
    /// `cpl_done` moves an index this cycle.
    pub cq_event: Signal<Out, Bit>,
    /// Per queue: consumer index.
    pub cons: Vec<Signal<Out, Bits<16>>>,
    /// Per queue: completion producer index.
    pub cq_prod: Vec<Signal<Out, Bits<16>>>,
    fetched: Vec<DFF<Bits<16>>>,
    parsed: Vec<DFF<Bits<16>>>,
    busy: Vec<DFF<Bit>>,
    cons_r: Vec<DFF<Bits<16>>>,
    cqp_r: Vec<DFF<Bits<16>>>,
}

fn sigs<T: Default>(n: usize) -> Vec<T> {
    (0..n).map(|_| T::default()).collect()
}

impl TxQueues {
    /// A block for `queues` queues (1..=[`MAX`]).
    pub fn new(queues: usize) -> Self {
        assert!((1..=MAX).contains(&queues), "1..={MAX} queues");
        TxQueues {
            clock: Default::default(),
            enable: sigs(queues),
            prod: sigs(queues),
            ring_base: sigs(queues),
            ring_log2: sigs(queues),
            cq_base: sigs(queues),
            cq_log2: sigs(queues),
            search: Default::default(),
            rr: Default::default(),
            take: Default::default(),
            w_q: Default::default(),
            unbusy: Default::default(),
            refetch: Default::default(),
            refetch_to: Default::default(),
            sel_q: Default::default(),
            done: Default::default(),
            parsed_to: Default::default(),
            c_q: Default::default(),
            c_look: Default::default(),
            cpl_done: Default::default(),
            c_segs: Default::default(),
            found: Default::default(),
            pick: Default::default(),
            p_base: Default::default(),
            p_log2: Default::default(),
            p_fetched: Default::default(),
            p_prod: Default::default(),
            pp: Default::default(),
            c_base: Default::default(),
            c_log2: Default::default(),
            c_prod: Default::default(),
            cq_event: Default::default(),
            cons: sigs(queues),
            cq_prod: sigs(queues),
            fetched: sigs(queues),
            parsed: sigs(queues),
            busy: sigs(queues),
            cons_r: sigs(queues),
            cqp_r: sigs(queues),
        }
    }

    /// Number of queues.
    pub fn queues(&self) -> usize {
        self.enable.len()
    }

    fn queue(&self, q: usize) -> Option<usize> {
        Some(q).filter(|&i| i < self.queues())
    }
}

impl Logic for TxQueues {
    /// rust-hdl's simulation of the block; [`Logic::hdl`] is the same logic written as Verilog.
    fn update(&mut self) {
        let clock = self.clock.val();
        for i in 0..self.queues() {
            for d in [
                &mut self.fetched[i],
                &mut self.parsed[i],
                &mut self.cons_r[i],
                &mut self.cqp_r[i],
            ] {
                d.clock.next = clock;
                d.d.next = d.q.val();
            }
            self.busy[i].clock.next = clock;
            self.busy[i].d.next = self.busy[i].q.val();
            self.cons[i].next = self.cons_r[i].q.val();
            self.cq_prod[i].next = self.cqp_r[i].q.val();
        }

        let want = |s: &Self, i: usize| {
            s.enable[i].val() && s.prod[i].val() != s.fetched[i].q.val() && !s.busy[i].q.val()
        };
        let mut pick = None;
        if self.search.val() {
            let rr = self.rr.val().index();
            pick = (1..self.queues())
                .find(|&i| i > rr && want(self, i))
                .or_else(|| (0..self.queues()).find(|&i| want(self, i)));
        }
        self.found.next = pick.is_some();
        let p = pick.unwrap_or(0);
        self.pick.next = (p as u64).into();
        self.p_base.next = self.ring_base[p].val();
        self.p_log2.next = self.ring_log2[p].val();
        self.p_fetched.next = self.fetched[p].q.val();
        self.p_prod.next = self.prod[p].val();
        if let Some(i) = pick.filter(|_| self.take.val()) {
            self.fetched[i].d.next = self.prod[i].val();
            self.busy[i].d.next = true;
        }

        let w = self.queue(self.w_q.val().index());
        if let Some(i) = w.filter(|_| self.unbusy.val()) {
            self.busy[i].d.next = false;
        }
        if let Some(i) = w.filter(|_| self.refetch.val()) {
            self.fetched[i].d.next = self.refetch_to.val();
        }
        let sel = self.queue(self.sel_q.val().index());
        self.pp.next = sel.map_or(0.into(), |i| self.parsed[i].q.val());
        if let Some(i) = sel.filter(|_| self.done.val()) {
            self.parsed[i].d.next = self.parsed_to.val();
        }

        let c = self
            .queue(self.c_q.val().index())
            .filter(|_| self.c_look.val());
        self.c_base.next = c.map_or(0.into(), |i| self.cq_base[i].val());
        self.c_log2.next = c.map_or(0.into(), |i| self.cq_log2[i].val());
        self.c_prod.next = c.map_or(0.into(), |i| self.cqp_r[i].q.val());
        self.cq_event.next = false;
        if let Some(i) = self
            .queue(self.c_q.val().index())
            .filter(|_| self.cpl_done.val())
        {
            self.cons_r[i].d.next = self.cons_r[i].q.val() + bit_cast::<16, 4>(self.c_segs.val());
            self.cqp_r[i].d.next = self.cqp_r[i].q.val() + 1;
            self.cq_event.next = true;
        }
    }

    /// Marks what `update` drives (what `#[hdl_gen]` would derive from it).
    fn connect(&mut self) {
        for s in [&mut self.found, &mut self.cq_event] {
            s.connect();
        }
        for s in [
            &mut self.pick,
            &mut self.p_fetched,
            &mut self.p_prod,
            &mut self.pp,
            &mut self.c_prod,
        ] {
            s.connect();
        }
        for s in [&mut self.p_base, &mut self.c_base] {
            s.connect();
        }
        for s in [&mut self.p_log2, &mut self.c_log2] {
            s.connect();
        }
        for i in 0..self.queues() {
            self.cons[i].connect();
            self.cq_prod[i].connect();
            for d in [
                &mut self.fetched[i],
                &mut self.parsed[i],
                &mut self.cons_r[i],
                &mut self.cqp_r[i],
            ] {
                d.clock.connect();
                d.d.connect();
            }
            self.busy[i].clock.connect();
            self.busy[i].d.connect();
        }
    }

    fn hdl(&self) -> Verilog {
        crate::verilog::hand_written(queues_verilog(self.queues()))
    }
}

/// The body of [`TxQueues`]' Verilog module for `n` queues.
fn queues_verilog(n: usize) -> String {
    let mut v = String::from(
        "// State, indexed by queue number (entries past the last queue stay zero).
reg [15:0] fetched_r [0:15];
reg [15:0] parsed_r [0:15];
reg [15:0] cons_r [0:15];
reg [15:0] cqp_r [0:15];
reg [15:0] busy_r = 0;
integer i;
initial begin
    for (i = 0; i < 16; i = i + 1) begin
        fetched_r[i] = 0;
        parsed_r[i] = 0;
        cons_r[i] = 0;
        cqp_r[i] = 0;
    end
end
",
    );
    for i in 0..n {
        let _ = writeln!(
            v,
            "assign cons${i} = cons_r[{i}];\nassign cq_prod${i} = cqp_r[{i}];"
        );
    }
    // The pick: the lowest queue with work above `rr`, else the lowest; tested from the highest
    // down so that the lowest is the last assignment.
    v.push_str(
        "reg found_c;
reg [3:0] pick_c;
always @(*) begin
    found_c = 1'b0;
    pick_c = 4'd0;
    if (search) begin
",
    );
    let want = |i: usize| format!("enable${i} & !busy_r[{i}] & (prod${i} != fetched_r[{i}])");
    for i in (1..n).rev() {
        let _ = writeln!(
            v,
            "        if ({} & (rr < 16'd{i})) begin found_c = 1'b1; pick_c = 4'd{i}; end",
            want(i)
        );
    }
    v.push_str("        if (!found_c) begin\n");
    for i in (0..n).rev() {
        let _ = writeln!(
            v,
            "            if ({}) begin found_c = 1'b1; pick_c = 4'd{i}; end",
            want(i)
        );
    }
    // The configuration of the queues `pick` and `c_q` name: one `case` each (a simulator tests
    // the number's bits), rather than arrays of the ports that a simulator would copy every
    // cycle.
    v.push_str(
        "        end
    end
end
reg [63:0] p_base_c;
reg [3:0] p_log2_c;
reg [15:0] p_prod_c;
always @(*) begin
    p_base_c = ring_base$0;
    p_log2_c = ring_log2$0;
    p_prod_c = prod$0;
    case (pick_c)
",
    );
    for i in 1..n {
        let _ = writeln!(
            v,
            "        4'd{i}: begin p_base_c = ring_base${i}; p_log2_c = ring_log2${i}; \
             p_prod_c = prod${i}; end"
        );
    }
    v.push_str(
        "        default: ;
    endcase
end
reg [63:0] c_base_c;
reg [3:0] c_log2_c;
always @(*) begin
    c_base_c = 64'd0;
    c_log2_c = 4'd0;
    if (c_look) begin
        case (c_q)
",
    );
    for i in 0..n {
        let _ = writeln!(
            v,
            "            4'd{i}: begin c_base_c = cq_base${i}; c_log2_c = cq_log2${i}; end"
        );
    }
    v.push_str("            default: ;\n        endcase\n    end\nend\n");
    let _ = write!(
        v,
        "assign found = found_c;
assign pick = {{12'd0, pick_c}};
assign p_base = p_base_c;
assign p_log2 = p_log2_c;
assign p_fetched = fetched_r[pick_c];
assign p_prod = p_prod_c;
assign pp = parsed_r[sel_q];
assign c_base = c_base_c;
assign c_log2 = c_log2_c;
assign c_prod = c_look ? cqp_r[c_q] : 16'd0;
wire c_in = c_q < 4'd{n};
assign cq_event = cpl_done & c_in;
wire tk = take & found_c;
wire rel = unbusy & (w_q < 4'd{n});
always @(posedge clock) begin
    if (tk) fetched_r[pick_c] <= p_prod_c;
    if (tk | rel) busy_r <= (busy_r | ({{15'd0, tk}} << pick_c)) & ~({{15'd0, rel}} << w_q);
    if (refetch & (w_q < 4'd{n})) fetched_r[w_q] <= refetch_to;
    if (done & (sel_q < 4'd{n})) parsed_r[sel_q] <= parsed_to;
    if (cq_event) begin
        cons_r[c_q] <= cons_r[c_q] + {{12'd0, c_segs}};
        cqp_r[c_q] <= cqp_r[c_q] + 16'd1;
    end
end
"
    );
    v
}

crate::impl_set_inputs!(TxQueues { clock, search, rr, take, w_q, unbusy, refetch, refetch_to, sel_q, done, parsed_to, c_q, c_look, cpl_done, c_segs } per queues { enable, prod, ring_base, ring_log2, cq_base, cq_log2 });

/// The catalogued configuration: 6 queues, so that queue numbers 6 to 15 name none.
pub fn catalogued() -> TxQueues {
    TxQueues::new(6)
}

/// Verilog of the catalogue entry `oxnic_tx_queues` ([`catalogued`]).
pub fn verilog() -> Result<String, crate::verilog::GenError> {
    let mut b = catalogued();
    b.connect_all();
    crate::verilog::generate_named(&b, "oxnic_tx_queues")
}

/// Random events on all 16 queue numbers for the catalogued configuration; producer indices
/// move now and then, queues are disabled and enabled now and then, a pick is taken in about a
/// third of the cycles that search.
pub fn random_stimulus(seed: u64, cycles: usize) -> crate::testbench::Stimulus {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let n = catalogued().queues();
    let names = catalogued().input_names();
    // The fixed inputs come first, then 6 per queue.
    let fixed = names.len() - 6 * n;
    let mut on = vec![true; n];
    let mut prod = vec![0u64; n];
    let mut cfg: Vec<[u64; 4]> = (0..n).map(|_| rng.gen()).collect();
    (0..cycles)
        .map(|_| {
            if rng.gen_bool(0.01) {
                let i = rng.gen_range(0..n);
                on[i] = !on[i];
            }
            if rng.gen_bool(0.2) {
                let i = rng.gen_range(0..n);
                prod[i] = (prod[i] + rng.gen_range(1..5)) & 0xffff;
            }
            if rng.gen_bool(0.01) {
                cfg[rng.gen_range(0..n)] = rng.gen();
            }
            let mut c: Vec<(&'static str, Vec<u64>)> = Vec::new();
            for (k, name) in names.iter().enumerate().take(fixed).skip(1) {
                let v = match *name {
                    "rr" => rng.gen_range(0..18),
                    "w_q" | "sel_q" | "c_q" | "c_segs" => rng.gen_range(0..16),
                    "refetch_to" | "parsed_to" => rng.gen_range(0..100),
                    "search" | "c_look" => u64::from(rng.gen_bool(0.7)),
                    _ => u64::from(rng.gen_bool(0.3)),
                };
                c.push((names[k], vec![v]));
            }
            for i in 0..n {
                c.push((names[fixed + i], vec![u64::from(on[i])]));
                c.push((names[fixed + n + i], vec![prod[i]]));
                // ring_base, ring_log2, cq_base, cq_log2, at their widths.
                let masks = [u64::MAX, 0xf, u64::MAX, 0xf];
                for (k, v) in cfg[i].iter().enumerate() {
                    c.push((names[fixed + (k + 2) * n + i], vec![*v & masks[k]]));
                }
            }
            c
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testbench::Bench;

    fn get(b: &Bench<TxQueues>, name: &str) -> u64 {
        b.get(name).unwrap()[0]
    }

    #[test]
    fn picks_round_robin_above_the_last_and_a_busy_queue_waits() {
        let mut b = Bench::new(catalogued()).unwrap();
        for i in [1, 3, 4] {
            b.set(&format!("enable${i}"), &[1]).unwrap();
            b.set(&format!("prod${i}"), &[5]).unwrap();
        }
        b.set("search", &[1]).unwrap();
        b.set("rr", &[1]).unwrap();
        b.settle().unwrap();
        assert_eq!((get(&b, "found"), get(&b, "pick")), (1, 3));
        assert_eq!(get(&b, "p_prod"), 5);
        b.set("rr", &[4]).unwrap();
        b.settle().unwrap();
        assert_eq!(get(&b, "pick"), 1, "wraps to the lowest");
        // Take queue 1: fetched up to 5 and busy, so the next search finds 3.
        b.set("take", &[1]).unwrap();
        b.settle().unwrap();
        b.tick().unwrap();
        b.set("take", &[0]).unwrap();
        b.set("rr", &[0]).unwrap();
        b.settle().unwrap();
        assert_eq!(get(&b, "pick"), 3);
        // Queue 1 released with more posted: it has work again.
        b.set("prod$1", &[7]).unwrap();
        b.set("w_q", &[1]).unwrap();
        b.set("unbusy", &[1]).unwrap();
        b.set("enable$3", &[0]).unwrap();
        b.set("enable$4", &[0]).unwrap();
        b.settle().unwrap();
        assert_eq!(get(&b, "found"), 0, "queue 1 is busy until the edge");
        b.tick().unwrap();
        b.set("unbusy", &[0]).unwrap();
        b.settle().unwrap();
        assert_eq!((get(&b, "found"), get(&b, "pick")), (1, 1));
        assert_eq!(get(&b, "p_fetched"), 5);
    }

    #[test]
    fn completions_move_the_consumer_and_producer_indices() {
        let mut b = Bench::new(catalogued()).unwrap();
        b.set("cq_base$2", &[0x9000]).unwrap();
        for segs in [3, 1] {
            b.set("c_q", &[2]).unwrap();
            b.set("c_segs", &[segs]).unwrap();
            b.set("cpl_done", &[1]).unwrap();
            b.settle().unwrap();
            assert_eq!(get(&b, "cq_event"), 1);
            b.tick().unwrap();
        }
        b.set("cpl_done", &[0]).unwrap();
        b.set("c_look", &[1]).unwrap();
        b.settle().unwrap();
        assert_eq!(get(&b, "cons$2"), 4);
        assert_eq!(get(&b, "cq_prod$2"), 2);
        assert_eq!(get(&b, "c_prod"), 2);
        assert_eq!(get(&b, "c_base"), 0x9000);
        // A completion for a queue number past the last moves nothing.
        b.set("c_q", &[9]).unwrap();
        b.set("cpl_done", &[1]).unwrap();
        b.settle().unwrap();
        assert_eq!(get(&b, "cq_event"), 0);
    }
}
