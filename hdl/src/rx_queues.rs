//! `RxQueues`: the receive engine's per-queue indices, and the lookups of one queue's state.
//!
//! For each of `n` RX queues (at most [`MAX`]) the block holds what
//! [`crate::rx_engine::RxEngine`] keeps per queue: descriptors asked for (read issued),
//! fetched (landed in the cache) and used (the consumer index), completions written, a fault
//! flag, and the enable-period count (mod 4) that lets the engine ignore a read issued before
//! the queue was disabled. It looks up, for the queue numbers the engine presents, that queue's
//! state and configuration.
//!
//! Index updates, all at the rising edge:
//! - a queue whose `enable$i` is low has its indices and fault cleared;
//! - `enable$i` rising counts an enable period (`s_epoch` reports it from the next cycle);
//! - `bump_cons`: the consumer index of queue `cur_q` moves on by one;
//! - `bump_cqp`: the completion producer index of queue `cw_q` moves on by one, and
//!   `cq_event` is high in that cycle;
//! - `bump_asked`: queue `f_q`'s descriptors asked for move on by `f_count`, if `f_epoch` is
//!   its current enable period;
//! - `fetch_done`: queue `h_q`'s fetched descriptors move on by `h_count`;
//! - `fetch_fail`: queue `h_q` is faulted.
//!
//! Each event changes only an enabled queue below `n`; others are ignored.
//!
//! Lookups (combinational; zero, or false, for a queue number of `n` or more):
//! - `head_cons`: the consumer index of queue `head_q`;
//! - `m_*` for queue `cur_q`: `m_hit` (the queue exists), its enable, fault, fetched, driver
//!   producer index, consumer index, completion producer index plus `cw_inc`, ring size,
//!   completion ring base and size;
//! - `s_*` for queue `scan_q`: enabled since last cycle too (`s_enable`), fault, producer index,
//!   asked, epoch, consumer index, ring base and size;
//! - `h_live` for queue `h_q`: enabled, not faulted, in enable period `h_epoch`, with `h_idx`
//!   descriptors fetched — the read at the head of the engine's read FIFO is still wanted.
//!
//! Per queue outputs: `cons$i`, `cqp$i`, `fault$i`.
//!
//! The Verilog is written by hand ([`RxQueues`]'s `hdl`): the state is a set of arrays
//! indexed by queue number, so each event is one indexed update and each lookup one indexed
//! read, and the clocked block does nothing for a queue that no event names. rust-hdl's
//! `#[hdl_gen]` can index a vector of signals only with a loop variable, so the same logic
//! inside the engine compared the queue number with each queue's, for every lookup and event
//! in every cycle. [`RxQueues`]'s `update` is the same logic for rust-hdl's simulator, and the
//! differential test `rx_queues_agrees` runs both.

use rust_hdl::prelude::*;
use std::fmt::Write as _;

use crate::testbench::SetInputs;

/// Most queues (queue numbers index the arrays with their low 3 bits).
pub const MAX: usize = 8;

/// The per-queue state and its lookups; see the module documentation.
#[derive(LogicBlock)]
pub struct RxQueues {
    /// Clock.
    pub clock: Signal<In, Clock>,
    /// Per queue: enabled (low clears its indices and fault).
    pub enable: Vec<Signal<In, Bit>>,
    /// Per queue: the driver's producer index.
    pub prod: Vec<Signal<In, Bits<16>>>,
    /// Per queue: descriptor ring IOVA.
    pub base: Vec<Signal<In, Bits<64>>>,
    /// Per queue: log2 of the ring size.
    pub log2: Vec<Signal<In, Bits<4>>>,
    /// Per queue: completion ring IOVA.
    pub cq_base: Vec<Signal<In, Bits<64>>>,
    /// Per queue: log2 of the completion ring size.
    pub cq_log2: Vec<Signal<In, Bits<4>>>,
    /// Queue of the next metadata record.
    pub head_q: Signal<In, Bits<8>>,
    /// Queue of the current frame (the `m_*` lookups; `bump_cons`).
    pub cur_q: Signal<In, Bits<8>>,
    /// Added to the `m_cqp` lookup (a completion still being written for `cur_q`).
    pub cw_inc: Signal<In, Bits<16>>,
    /// Queue the fetcher looks at (the `s_*` lookups).
    pub scan_q: Signal<In, Bits<8>>,
    /// Queue of the read at the head of the read FIFO (`h_live`, `fetch_done`, `fetch_fail`).
    pub h_q: Signal<In, Bits<8>>,
    /// That read's enable period.
    pub h_epoch: Signal<In, Bits<2>>,
    /// That read's first index.
    pub h_idx: Signal<In, Bits<16>>,
    /// That read's descriptor count.
    pub h_count: Signal<In, Bits<16>>,
    /// `cur_q`'s consumer index moves on by one.
    pub bump_cons: Signal<In, Bit>,
    /// `cw_q`'s completion producer index moves on by one.
    pub bump_cqp: Signal<In, Bit>,
    /// Queue of the completion being written.
    pub cw_q: Signal<In, Bits<8>>,
    /// A descriptor read for `f_q` is issued.
    pub bump_asked: Signal<In, Bit>,
    /// Queue of that read.
    pub f_q: Signal<In, Bits<8>>,
    /// Its enable period.
    pub f_epoch: Signal<In, Bits<2>>,
    /// Its descriptor count.
    pub f_count: Signal<In, Bits<16>>,
    /// The head read completed without error.
    pub fetch_done: Signal<In, Bit>,
    /// The head read completed with an error.
    pub fetch_fail: Signal<In, Bit>,
    /// Consumer index of `head_q`.
    pub head_cons: Signal<Out, Bits<16>>,
    /// `cur_q` is a queue of the block.
    pub m_hit: Signal<Out, Bit>,
    /// `cur_q` is enabled.
    pub m_enable: Signal<Out, Bit>,
    /// `cur_q` is faulted.
    pub m_fault: Signal<Out, Bit>,
    /// `cur_q`'s descriptors fetched.
    pub m_fetched: Signal<Out, Bits<16>>,
    /// `cur_q`'s driver producer index.
    pub m_prod: Signal<Out, Bits<16>>,
    /// `cur_q`'s consumer index.
    pub m_cons: Signal<Out, Bits<16>>,
    /// `cur_q`'s completion producer index plus `cw_inc`.
    pub m_cqp: Signal<Out, Bits<16>>,
    /// `cur_q`'s ring size, log2.
    pub m_rx_log2: Signal<Out, Bits<4>>,
    /// `cur_q`'s completion ring IOVA.
    pub m_cq_base: Signal<Out, Bits<64>>,
    /// `cur_q`'s completion ring size, log2.
    pub m_cq_log2: Signal<Out, Bits<4>>,
    /// `scan_q` is enabled, and was last cycle.
    pub s_enable: Signal<Out, Bit>,
    /// `scan_q` is faulted.
    pub s_fault: Signal<Out, Bit>,
    /// `scan_q`'s driver producer index.
    pub s_prod: Signal<Out, Bits<16>>,
    /// `scan_q`'s descriptors asked for.
    pub s_asked: Signal<Out, Bits<16>>,
    /// `scan_q`'s enable period.
    pub s_epoch: Signal<Out, Bits<2>>,
    /// `scan_q`'s consumer index.
    pub s_cons: Signal<Out, Bits<16>>,
    /// `scan_q`'s ring IOVA.
    pub s_base: Signal<Out, Bits<64>>,
    /// `scan_q`'s ring size, log2.
    pub s_log2: Signal<Out, Bits<4>>,
    /// The head read is still wanted by its queue.
    pub h_live: Signal<Out, Bit>,
    /// `bump_cqp` moves an index in this cycle.
    pub cq_event: Signal<Out, Bit>,
    /// Per queue: consumer index.
    pub cons: Vec<Signal<Out, Bits<16>>>,
    /// Per queue: completion producer index.
    pub cqp: Vec<Signal<Out, Bits<16>>>,
    /// Per queue: faulted.
    pub fault: Vec<Signal<Out, Bit>>,
    asked_r: Vec<DFF<Bits<16>>>,
    fetched_r: Vec<DFF<Bits<16>>>,
    cons_r: Vec<DFF<Bits<16>>>,
    cqp_r: Vec<DFF<Bits<16>>>,
    fault_r: Vec<DFF<Bit>>,
    was_on: Vec<DFF<Bit>>,
    epoch: Vec<DFF<Bits<2>>>,
}

fn sigs<T: Default>(n: usize) -> Vec<T> {
    (0..n).map(|_| T::default()).collect()
}

impl RxQueues {
    /// A block for `queues` queues (1..=[`MAX`]).
    pub fn new(queues: usize) -> Self {
        assert!((1..=MAX).contains(&queues), "1..={MAX} queues");
        RxQueues {
            clock: Default::default(),
            enable: sigs(queues),
            prod: sigs(queues),
            base: sigs(queues),
            log2: sigs(queues),
            cq_base: sigs(queues),
            cq_log2: sigs(queues),
            head_q: Default::default(),
            cur_q: Default::default(),
            cw_inc: Default::default(),
            scan_q: Default::default(),
            h_q: Default::default(),
            h_epoch: Default::default(),
            h_idx: Default::default(),
            h_count: Default::default(),
            bump_cons: Default::default(),
            bump_cqp: Default::default(),
            cw_q: Default::default(),
            bump_asked: Default::default(),
            f_q: Default::default(),
            f_epoch: Default::default(),
            f_count: Default::default(),
            fetch_done: Default::default(),
            fetch_fail: Default::default(),
            head_cons: Default::default(),
            m_hit: Default::default(),
            m_enable: Default::default(),
            m_fault: Default::default(),
            m_fetched: Default::default(),
            m_prod: Default::default(),
            m_cons: Default::default(),
            m_cqp: Default::default(),
            m_rx_log2: Default::default(),
            m_cq_base: Default::default(),
            m_cq_log2: Default::default(),
            s_enable: Default::default(),
            s_fault: Default::default(),
            s_prod: Default::default(),
            s_asked: Default::default(),
            s_epoch: Default::default(),
            s_cons: Default::default(),
            s_base: Default::default(),
            s_log2: Default::default(),
            h_live: Default::default(),
            cq_event: Default::default(),
            cons: sigs(queues),
            cqp: sigs(queues),
            fault: sigs(queues),
            asked_r: sigs(queues),
            fetched_r: sigs(queues),
            cons_r: sigs(queues),
            cqp_r: sigs(queues),
            fault_r: sigs(queues),
            was_on: sigs(queues),
            epoch: sigs(queues),
        }
    }

    /// Number of queues.
    pub fn queues(&self) -> usize {
        self.enable.len()
    }

    /// The queue a queue number names, if it is one of the block's.
    fn queue(&self, q: Bits<8>) -> Option<usize> {
        Some(q.index()).filter(|&i| i < self.queues())
    }
}

impl Logic for RxQueues {
    /// rust-hdl's simulation of the block; [`Logic::hdl`] is the same logic written as Verilog.
    fn update(&mut self) {
        let clock = self.clock.val();
        for i in 0..self.queues() {
            self.asked_r[i].clock.next = clock;
            self.fetched_r[i].clock.next = clock;
            self.cons_r[i].clock.next = clock;
            self.cqp_r[i].clock.next = clock;
            self.fault_r[i].clock.next = clock;
            self.was_on[i].clock.next = clock;
            self.epoch[i].clock.next = clock;
            let on = self.enable[i].val();
            self.was_on[i].d.next = on;
            self.epoch[i].d.next = self.epoch[i].q.val();
            if on && !self.was_on[i].q.val() {
                self.epoch[i].d.next = self.epoch[i].q.val() + 1;
            }
            if on {
                self.asked_r[i].d.next = self.asked_r[i].q.val();
                self.fetched_r[i].d.next = self.fetched_r[i].q.val();
                self.cons_r[i].d.next = self.cons_r[i].q.val();
                self.cqp_r[i].d.next = self.cqp_r[i].q.val();
                self.fault_r[i].d.next = self.fault_r[i].q.val();
            } else {
                self.asked_r[i].d.next = 0.into();
                self.fetched_r[i].d.next = 0.into();
                self.cons_r[i].d.next = 0.into();
                self.cqp_r[i].d.next = 0.into();
                self.fault_r[i].d.next = false;
            }
            self.cons[i].next = self.cons_r[i].q.val();
            self.cqp[i].next = self.cqp_r[i].q.val();
            self.fault[i].next = self.fault_r[i].q.val();
        }
        let live = |s: &Self, q: Bits<8>| s.queue(q).filter(|&i| s.enable[i].val());

        self.cq_event.next = false;
        if let Some(i) = live(self, self.cur_q.val()).filter(|_| self.bump_cons.val()) {
            self.cons_r[i].d.next = self.cons_r[i].q.val() + 1;
        }
        if let Some(i) = live(self, self.cw_q.val()).filter(|_| self.bump_cqp.val()) {
            self.cqp_r[i].d.next = self.cqp_r[i].q.val() + 1;
            self.cq_event.next = true;
        }
        if let Some(i) = live(self, self.f_q.val()).filter(|_| self.bump_asked.val()) {
            if self.f_epoch.val() == self.epoch[i].q.val() {
                self.asked_r[i].d.next = self.asked_r[i].q.val() + self.f_count.val();
            }
        }
        if let Some(i) = live(self, self.h_q.val()) {
            if self.fetch_done.val() {
                self.fetched_r[i].d.next = self.fetched_r[i].q.val() + self.h_count.val();
            }
            if self.fetch_fail.val() {
                self.fault_r[i].d.next = true;
            }
        }

        self.head_cons.next = match self.queue(self.head_q.val()) {
            Some(i) => self.cons_r[i].q.val(),
            None => 0.into(),
        };

        let m = self.queue(self.cur_q.val());
        self.m_hit.next = m.is_some();
        self.m_enable.next = m.is_some_and(|i| self.enable[i].val());
        self.m_fault.next = m.is_some_and(|i| self.fault_r[i].q.val());
        let pick16 = |v: &[DFF<Bits<16>>]| m.map_or(0.into(), |i| v[i].q.val());
        self.m_fetched.next = pick16(&self.fetched_r);
        self.m_cons.next = pick16(&self.cons_r);
        self.m_cqp.next = m.map_or(0.into(), |i| self.cqp_r[i].q.val() + self.cw_inc.val());
        self.m_prod.next = m.map_or(0.into(), |i| self.prod[i].val());
        self.m_rx_log2.next = m.map_or(0.into(), |i| self.log2[i].val());
        self.m_cq_base.next = m.map_or(0.into(), |i| self.cq_base[i].val());
        self.m_cq_log2.next = m.map_or(0.into(), |i| self.cq_log2[i].val());

        let s = self.queue(self.scan_q.val());
        self.s_enable.next = s.is_some_and(|i| self.enable[i].val() && self.was_on[i].q.val());
        self.s_fault.next = s.is_some_and(|i| self.fault_r[i].q.val());
        self.s_prod.next = s.map_or(0.into(), |i| self.prod[i].val());
        self.s_asked.next = s.map_or(0.into(), |i| self.asked_r[i].q.val());
        self.s_epoch.next = s.map_or(0.into(), |i| self.epoch[i].q.val());
        self.s_cons.next = s.map_or(0.into(), |i| self.cons_r[i].q.val());
        self.s_base.next = s.map_or(0.into(), |i| self.base[i].val());
        self.s_log2.next = s.map_or(0.into(), |i| self.log2[i].val());

        self.h_live.next = self.queue(self.h_q.val()).is_some_and(|i| {
            self.enable[i].val()
                && !self.fault_r[i].q.val()
                && self.epoch[i].q.val() == self.h_epoch.val()
                && self.fetched_r[i].q.val() == self.h_idx.val()
        });
    }

    /// Marks what `update` drives (what `#[hdl_gen]` would derive from it).
    fn connect(&mut self) {
        for s in [&mut self.head_cons, &mut self.m_fetched, &mut self.m_prod] {
            s.connect();
        }
        for s in [&mut self.m_cons, &mut self.m_cqp, &mut self.s_prod] {
            s.connect();
        }
        for s in [&mut self.s_asked, &mut self.s_cons] {
            s.connect();
        }
        for s in [&mut self.m_hit, &mut self.m_enable, &mut self.m_fault] {
            s.connect();
        }
        for s in [&mut self.s_enable, &mut self.s_fault, &mut self.h_live] {
            s.connect();
        }
        self.cq_event.connect();
        self.m_rx_log2.connect();
        self.m_cq_log2.connect();
        self.s_log2.connect();
        self.m_cq_base.connect();
        self.s_base.connect();
        self.s_epoch.connect();
        for i in 0..self.queues() {
            self.cons[i].connect();
            self.cqp[i].connect();
            self.fault[i].connect();
            for d in [
                &mut self.asked_r[i],
                &mut self.fetched_r[i],
                &mut self.cons_r[i],
                &mut self.cqp_r[i],
            ] {
                d.clock.connect();
                d.d.connect();
            }
            for d in [&mut self.fault_r[i], &mut self.was_on[i]] {
                d.clock.connect();
                d.d.connect();
            }
            self.epoch[i].clock.connect();
            self.epoch[i].d.connect();
        }
    }

    fn hdl(&self) -> Verilog {
        crate::verilog::hand_written(queues_verilog(self.queues()))
    }
}

/// The body of [`RxQueues`]' Verilog module for `n` queues.
///
/// Each index array is written at one place (its event), so that Verilator keeps one
/// pending-write flag per array rather than one per queue and array. A disabled queue's
/// indices are not written to zero: a bit per queue and array (`v_*`) says whether the entry
/// holds a value since the queue was last enabled, and an entry without it reads as zero. The
/// bits are cleared at the edge of a cycle in which the queue is disabled, as the registers
/// of the rust-hdl model are.
fn queues_verilog(n: usize) -> String {
    let all = (1u32 << n) - 1;
    let m = n - 1;
    let mut v = String::from(
        "// State, indexed by queue number.
reg [15:0] asked_r [0:7];
reg [15:0] fetched_r [0:7];
reg [15:0] cons_r [0:7];
reg [15:0] cqp_r [0:7];
// Entry written since the queue was enabled (else it reads as zero).
reg [7:0] v_asked = 0;
reg [7:0] v_fetched = 0;
reg [7:0] v_cons = 0;
reg [7:0] v_cqp = 0;
// Enable periods, two bits per queue.
reg [15:0] epoch_v = 0;
reg [15:0] ep;
reg [7:0] fault_r = 0;
reg [7:0] was_on = 0;
integer i;
initial begin
    for (i = 0; i < 8; i = i + 1) begin
        asked_r[i] = 0;
        fetched_r[i] = 0;
        cons_r[i] = 0;
        cqp_r[i] = 0;
    end
end
",
    );
    let mut en = String::new();
    for i in (0..MAX).rev() {
        en.push_str(&if i < n {
            format!("enable${i}")
        } else {
            "1'b0".to_string()
        });
        en.push_str(if i > 0 { ", " } else { "" });
    }
    let _ = writeln!(v, "wire [7:0] en = {{{en}}};");
    // The configuration of the queues `cur_q` and `scan_q` name: one `case` each (a
    // simulator tests the number's bits), rather than arrays of the ports that a simulator
    // would copy every cycle.
    v.push_str(
        "reg [15:0] m_prod_c;
reg [3:0] m_log2_c;
reg [63:0] m_cqb_c;
reg [3:0] m_cql_c;
always @(*) begin
    m_prod_c = 16'd0;
    m_log2_c = 4'd0;
    m_cqb_c = 64'd0;
    m_cql_c = 4'd0;
    case (cur_q)
",
    );
    for i in 0..n {
        let _ = writeln!(
            v,
            "        8'd{i}: begin m_prod_c = prod${i}; m_log2_c = log2${i}; \
             m_cqb_c = cq_base${i}; m_cql_c = cq_log2${i}; end"
        );
    }
    v.push_str(
        "        default: ;
    endcase
end
reg [15:0] s_prod_c;
reg [63:0] s_base_c;
reg [3:0] s_log2_c;
always @(*) begin
    s_prod_c = 16'd0;
    s_base_c = 64'd0;
    s_log2_c = 4'd0;
    case (scan_q)
",
    );
    for i in 0..n {
        let _ = writeln!(
            v,
            "        8'd{i}: begin s_prod_c = prod${i}; s_base_c = base${i}; s_log2_c = log2${i}; end"
        );
    }
    v.push_str("        default: ;\n    endcase\nend\n");
    for i in 0..n {
        let _ = writeln!(
            v,
            "assign cons${i} = v_cons[{i}] ? cons_r[{i}] : 16'd0;\n\
             assign cqp${i} = v_cqp[{i}] ? cqp_r[{i}] : 16'd0;\n\
             assign fault${i} = fault_r[{i}];"
        );
    }
    let _ = write!(
        v,
        "// A queue number below 8 indexes the arrays with its low bits; entries past the last
// queue read as zero.
wire hd_in = head_q[7:3] == 5'd0;
wire cu_in = cur_q[7:3] == 5'd0;
wire sc_in = scan_q[7:3] == 5'd0;
wire hq_in = h_q[7:3] == 5'd0;
wire cw_in = cw_q[7:3] == 5'd0;
wire fq_in = f_q[7:3] == 5'd0;
wire [2:0] hd = head_q[2:0];
wire [2:0] cu = cur_q[2:0];
wire [2:0] sc = scan_q[2:0];
wire [2:0] hq = h_q[2:0];
wire [2:0] cw = cw_q[2:0];
wire [2:0] fq = f_q[2:0];
wire [15:0] cu_cons = v_cons[cu] ? cons_r[cu] : 16'd0;
wire [15:0] cu_cqp = v_cqp[cu] ? cqp_r[cu] : 16'd0;
wire [15:0] hq_fetched = v_fetched[hq] ? fetched_r[hq] : 16'd0;
wire [1:0] hq_epoch = epoch_v[{{hq, 1'b0}} +: 2];
wire [1:0] fq_epoch = epoch_v[{{fq, 1'b0}} +: 2];
assign head_cons = (hd_in & v_cons[hd]) ? cons_r[hd] : 16'd0;
assign m_hit = cur_q < 8'd{n};
assign m_enable = cu_in & en[cu];
assign m_fault = cu_in & fault_r[cu];
assign m_fetched = (cu_in & v_fetched[cu]) ? fetched_r[cu] : 16'd0;
assign m_prod = m_prod_c;
assign m_cons = cu_in ? cu_cons : 16'd0;
assign m_cqp = m_hit ? cu_cqp + cw_inc : 16'd0;
assign m_rx_log2 = m_log2_c;
assign m_cq_base = m_cqb_c;
assign m_cq_log2 = m_cql_c;
assign s_enable = sc_in & en[sc] & was_on[sc];
assign s_fault = sc_in & fault_r[sc];
assign s_prod = s_prod_c;
assign s_asked = (sc_in & v_asked[sc]) ? asked_r[sc] : 16'd0;
assign s_epoch = sc_in ? epoch_v[{{sc, 1'b0}} +: 2] : 2'd0;
assign s_cons = (sc_in & v_cons[sc]) ? cons_r[sc] : 16'd0;
assign s_base = s_base_c;
assign s_log2 = s_log2_c;
assign h_live = hq_in & en[hq] & !fault_r[hq] & (hq_epoch == h_epoch) & (hq_fetched == h_idx);
assign cq_event = bump_cqp & cw_in & en[cw];
wire e_cons = bump_cons & cu_in & en[cu];
wire e_asked = bump_asked & fq_in & en[fq] & (f_epoch == fq_epoch);
wire e_fetched = fetch_done & hq_in & en[hq];
wire e_fail = fetch_fail & hq_in & en[hq];
// Some queue is disabled: its bits are cleared.
wire off = en[{m}:0] != {n}'d{all};
always @(posedge clock) begin
    if (e_cons) cons_r[cu] <= cu_cons + 16'd1;
    if (off | e_cons) v_cons <= (v_cons & en) | ({{7'd0, e_cons}} << cu);
    if (cq_event) cqp_r[cw] <= (v_cqp[cw] ? cqp_r[cw] : 16'd0) + 16'd1;
    if (off | cq_event) v_cqp <= (v_cqp & en) | ({{7'd0, cq_event}} << cw);
    if (e_asked) asked_r[fq] <= (v_asked[fq] ? asked_r[fq] : 16'd0) + f_count;
    if (off | e_asked) v_asked <= (v_asked & en) | ({{7'd0, e_asked}} << fq);
    if (e_fetched) fetched_r[hq] <= hq_fetched + h_count;
    if (off | e_fetched) v_fetched <= (v_fetched & en) | ({{7'd0, e_fetched}} << hq);
    if (off | e_fail) fault_r <= (fault_r & en) | ({{7'd0, e_fail}} << hq);
    if (en != was_on) begin
        was_on <= en;
        ep = epoch_v;
"
    );
    for i in 0..n {
        let (hi, lo) = (2 * i + 1, 2 * i);
        let _ = writeln!(
            v,
            "        if (en[{i}] & !was_on[{i}]) ep[{hi}:{lo}] = ep[{hi}:{lo}] + 2'd1;"
        );
    }
    v.push_str("        epoch_v <= ep;\n    end\nend\n");
    v
}

crate::impl_set_inputs!(RxQueues { clock, head_q, cur_q, cw_inc, scan_q, h_q, h_epoch, h_idx, h_count, bump_cons, bump_cqp, cw_q, bump_asked, f_q, f_epoch, f_count, fetch_done, fetch_fail } per queues { enable, prod, base, log2, cq_base, cq_log2 });

/// The catalogued configuration: 6 queues, so that queue numbers 6 and 7 name array entries
/// past the last queue and 8 and up name none.
pub fn catalogued() -> RxQueues {
    RxQueues::new(6)
}

/// Verilog of the catalogue entry `oxnic_rx_queues` ([`catalogued`]).
pub fn verilog() -> Result<String, crate::verilog::GenError> {
    let mut b = catalogued();
    b.connect_all();
    crate::verilog::generate_named(&b, "oxnic_rx_queues")
}

/// Random events on queue numbers 0..10 for the catalogued configuration: queues disabled and
/// enabled now and then, every event in about a third of the cycles, configuration changing.
pub fn random_stimulus(seed: u64, cycles: usize) -> crate::testbench::Stimulus {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let n = catalogued().queues();
    let names = catalogued().input_names();
    // The fixed inputs come first, then 6 per queue.
    let fixed = names.len() - 6 * n;
    let mut on = vec![true; n];
    let mut cfg: Vec<[u64; 5]> = (0..n).map(|_| rng.gen()).collect();
    (0..cycles)
        .map(|_| {
            if rng.gen_bool(0.02) {
                let i = rng.gen_range(0..n);
                on[i] = !on[i];
            }
            if rng.gen_bool(0.02) {
                cfg[rng.gen_range(0..n)] = rng.gen();
            }
            let mut c: Vec<(&'static str, Vec<u64>)> = Vec::new();
            for (k, name) in names.iter().enumerate().take(fixed).skip(1) {
                let v = match *name {
                    "head_q" | "cur_q" | "scan_q" | "h_q" | "cw_q" | "f_q" => rng.gen_range(0..10),
                    "h_epoch" | "f_epoch" => rng.gen_range(0..4),
                    "cw_inc" => rng.gen_range(0..2),
                    // Reads mostly of nothing, so that a queue's fetched index stays near
                    // zero and the head read is often the one the queue waits for.
                    "h_idx" => rng.gen_range(0..3),
                    "h_count" => {
                        if rng.gen_bool(0.9) {
                            0
                        } else {
                            rng.gen_range(1..3)
                        }
                    }
                    "f_count" => rng.gen_range(0..40),
                    // A fault holds until the queue is disabled: rare.
                    "fetch_fail" => u64::from(rng.gen_bool(0.01)),
                    _ => u64::from(rng.gen_bool(0.35)),
                };
                c.push((names[k], vec![v]));
            }
            for i in 0..n {
                c.push((names[fixed + i], vec![u64::from(on[i])]));
                // prod, base, log2, cq_base, cq_log2, at their widths.
                let masks = [0xffff, u64::MAX, 0xf, u64::MAX, 0xf];
                for (k, v) in cfg[i].iter().enumerate() {
                    c.push((names[fixed + (k + 1) * n + i], vec![*v & masks[k]]));
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

    fn get(b: &Bench<RxQueues>, name: &str) -> u64 {
        b.get(name).unwrap()[0]
    }

    #[test]
    fn events_move_only_the_named_enabled_queue() {
        let mut b = Bench::new(catalogued()).unwrap();
        for i in 0..6 {
            b.set(&format!("enable${i}"), &[u64::from(i != 4)]).unwrap();
        }
        b.set("prod$2", &[77]).unwrap();
        // Three consumer bumps on queue 2, one on disabled queue 4, one on queue 9.
        for q in [2, 2, 4, 9, 2] {
            b.set("cur_q", &[q]).unwrap();
            b.set("bump_cons", &[1]).unwrap();
            b.settle().unwrap();
            b.tick().unwrap();
        }
        b.set("bump_cons", &[0]).unwrap();
        // A completion on queue 2: the event is seen in its cycle.
        b.set("cw_q", &[2]).unwrap();
        b.set("bump_cqp", &[1]).unwrap();
        b.settle().unwrap();
        assert_eq!(get(&b, "cq_event"), 1);
        b.tick().unwrap();
        b.set("bump_cqp", &[0]).unwrap();
        b.set("cur_q", &[2]).unwrap();
        b.set("cw_inc", &[1]).unwrap();
        b.settle().unwrap();
        assert_eq!(get(&b, "cons$2"), 3);
        assert_eq!(get(&b, "cons$4"), 0);
        assert_eq!(get(&b, "cqp$2"), 1);
        assert_eq!(get(&b, "m_cons"), 3);
        assert_eq!(get(&b, "m_cqp"), 2);
        assert_eq!(get(&b, "m_prod"), 77);
        assert_eq!(get(&b, "m_hit"), 1);
        assert_eq!(get(&b, "m_enable"), 1);
        b.set("cur_q", &[9]).unwrap();
        b.settle().unwrap();
        assert_eq!(get(&b, "m_hit"), 0);
        assert_eq!(get(&b, "m_cqp"), 0);
    }

    #[test]
    fn a_read_of_an_earlier_enable_period_is_not_live_and_disabling_clears() {
        let mut b = Bench::new(catalogued()).unwrap();
        b.set("enable$1", &[1]).unwrap();
        b.settle().unwrap();
        b.tick().unwrap();
        b.set("scan_q", &[1]).unwrap();
        b.settle().unwrap();
        assert_eq!(get(&b, "s_epoch"), 1);
        assert_eq!(get(&b, "s_enable"), 1);
        // Ask for 5 in period 1; a read of period 0 asks for nothing.
        b.set("f_q", &[1]).unwrap();
        b.set("bump_asked", &[1]).unwrap();
        b.set("f_count", &[5]).unwrap();
        b.set("f_epoch", &[1]).unwrap();
        b.settle().unwrap();
        b.tick().unwrap();
        b.set("f_epoch", &[0]).unwrap();
        b.settle().unwrap();
        b.tick().unwrap();
        b.set("bump_asked", &[0]).unwrap();
        b.settle().unwrap();
        assert_eq!(get(&b, "s_asked"), 5);
        b.set("h_q", &[1]).unwrap();
        b.set("h_idx", &[0]).unwrap();
        b.set("h_epoch", &[1]).unwrap();
        b.settle().unwrap();
        assert_eq!(get(&b, "h_live"), 1);
        b.set("h_epoch", &[0]).unwrap();
        b.settle().unwrap();
        assert_eq!(get(&b, "h_live"), 0);
        // A failed read faults the queue; disabling clears fault and indices.
        b.set("fetch_fail", &[1]).unwrap();
        b.settle().unwrap();
        b.tick().unwrap();
        b.set("fetch_fail", &[0]).unwrap();
        b.settle().unwrap();
        assert_eq!(get(&b, "fault$1"), 1);
        b.set("enable$1", &[0]).unwrap();
        b.settle().unwrap();
        b.tick().unwrap();
        b.set("enable$1", &[1]).unwrap();
        b.settle().unwrap();
        b.tick().unwrap();
        b.settle().unwrap();
        assert_eq!(get(&b, "fault$1"), 0);
        assert_eq!(get(&b, "s_asked"), 0);
        assert_eq!(get(&b, "s_epoch"), 2);
    }
}
