//! The Verilator harness on a real block: typed and by-name access, clocking, waveforms, and the
//! differential runner (agreeing on random traffic, and catching a block that disagrees).

use oxnic_hdl::stream_register::{random_stimulus, StreamRegister};
use oxnic_sim::diff::{self, DiffError};
use oxnic_sim::harness::{HarnessError, RawModel, Sim};
use oxnic_sim::models::oxnic_stream_register64::{Model, PORTS};
use rust_hdl::prelude::*;

#[test]
fn ports_come_from_the_generated_header() {
    let names: Vec<(&str, bool, u32)> = PORTS.iter().map(|p| (p.name, p.input, p.width)).collect();
    for want in [
        ("clock", true, 1),
        ("sink$data", true, 64),
        ("sink$keep", true, 8),
        ("source$data", false, 64),
        ("words", false, 32),
    ] {
        assert!(names.contains(&want), "{want:?} missing from {names:?}");
    }
    assert!(oxnic_sim::models::ALL.contains(&"oxnic_stream_register64"));
}

#[test]
fn typed_access_moves_words_with_one_cycle_latency() {
    let mut sim = Sim::new(Model::new()).unwrap();
    sim.model.set_source_ready(1);
    sim.model.set_sink_valid(1);
    sim.model.set_sink_keep(0xff);
    for i in 0..1000u64 {
        sim.model.set_sink_data(i * 3);
        sim.eval();
        assert_eq!(sim.model.get_sink_ready(), 1);
        if i > 0 {
            assert_eq!(sim.model.get_source_valid(), 1);
            assert_eq!(sim.model.get_source_data(), (i - 1) * 3);
        }
        sim.tick();
    }
    assert_eq!(sim.model.get_words(), 999);
    assert_eq!(sim.cycle(), 1000);
}

#[test]
fn by_name_access_and_errors() {
    let mut sim = Sim::new(Model::new()).unwrap();
    sim.set("sink$data", &[0xdead_beef]).unwrap();
    sim.set("sink$valid", &[1]).unwrap();
    sim.tick();
    assert_eq!(sim.get("source$data").unwrap(), vec![0xdead_beef]);
    assert_eq!(sim.get("source$valid").unwrap(), vec![1]);
    assert!(matches!(
        sim.set("source$data", &[1]),
        Err(HarnessError::NoSuchPort { .. })
    ));
    assert!(matches!(
        sim.get("nope"),
        Err(HarnessError::NoSuchPort { .. })
    ));
    // the block has no reset input: it starts from its initial values
    assert!(!sim.reset(4));
}

#[test]
fn waveform_is_written_as_vcd() {
    let dir = std::env::temp_dir().join(format!("oxnic-waves-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("reg.vcd");
    {
        let mut sim = Sim::new(Model::new()).unwrap();
        sim.trace_to(&path).unwrap();
        sim.set("sink$valid", &[1]).unwrap();
        sim.run(20);
    }
    let vcd = std::fs::read_to_string(&path).unwrap();
    assert!(vcd.contains("$enddefinitions"), "not a VCD file");
    assert!(
        vcd.contains("sink$data") || vcd.contains("sink\\$data"),
        "ports not traced"
    );
    assert!(vcd.contains("#40"), "20 cycles are 40 half-periods");
    std::fs::remove_dir_all(&dir).unwrap();
    let mut sim = Sim::new(Model::new()).unwrap();
    assert!(matches!(
        sim.trace_to(std::path::Path::new("/nonexistent/dir/x.vcd")),
        Err(HarnessError::Trace(_))
    ));
}

#[test]
fn differential_run_agrees_on_random_traffic() {
    let stim = random_stimulus(42, 5000);
    let mut passed = 0u64;
    let mut last_words = 0;
    let cycles = diff::run(
        StreamRegister::<64, 8>::default(),
        Model::new(),
        &stim,
        |_, s| {
            last_words = s.get("words");
            passed += s.get("source$valid");
        },
    )
    .unwrap();
    assert_eq!(cycles, 5000);
    assert!(last_words > 1000, "traffic flowed: {last_words} words");
    assert!(passed > 0);
}

/// The register, except that its word counter is off by one from the seventh word on: the kind
/// of divergence the differential runner exists to catch.
#[derive(LogicBlock, Default)]
struct Miscounting {
    clock: Signal<In, Clock>,
    sink: oxnic_hdl::stream::StreamSink<64, 8>,
    source: oxnic_hdl::stream::StreamSource<64, 8>,
    words: Signal<Out, Bits<32>>,
    inner: StreamRegister<64, 8>,
}

impl Logic for Miscounting {
    #[hdl_gen]
    fn update(&mut self) {
        clock!(self, clock, inner);
        self.inner.sink.data.next = self.sink.data.val();
        self.inner.sink.keep.next = self.sink.keep.val();
        self.inner.sink.last.next = self.sink.last.val();
        self.inner.sink.user.next = self.sink.user.val();
        self.inner.sink.valid.next = self.sink.valid.val();
        self.sink.ready.next = self.inner.sink.ready.val();
        self.source.data.next = self.inner.source.data.val();
        self.source.keep.next = self.inner.source.keep.val();
        self.source.last.next = self.inner.source.last.val();
        self.source.user.next = self.inner.source.user.val();
        self.source.valid.next = self.inner.source.valid.val();
        self.inner.source.ready.next = self.source.ready.val();
        self.words.next = self.inner.words.val();
        if self.inner.words.val() > 6 {
            self.words.next = self.inner.words.val() + 1;
        }
    }
}

oxnic_hdl::impl_set_inputs!(Miscounting {
    clock, sink.data, sink.keep, sink.last, sink.user, sink.valid, source.ready
});

#[test]
fn differential_run_reports_cycle_signal_and_values() {
    let stim = random_stimulus(7, 2000);
    let err = diff::run(Miscounting::default(), Model::new(), &stim, |_, _| {}).unwrap_err();
    match &err {
        DiffError::Mismatch {
            cycle,
            signal,
            rhdl,
            verilator,
        } => {
            assert_eq!(signal, "words");
            assert_eq!(rhdl, "0x8");
            assert_eq!(verilator, "0x7");
            assert!(*cycle > 7);
        }
        other => panic!("expected a mismatch, got {other}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains("output words") && msg.contains("cycle"),
        "{msg}"
    );
}

#[test]
fn raw_model_reads_wide_ports_as_words() {
    let mut m = Model::new();
    let data = PORTS.iter().position(|p| p.name == "sink$data").unwrap();
    m.set_port(data, &[0x0123_4567_89ab_cdef]);
    m.eval();
    let mut out = Vec::new();
    m.get_port(data, &mut out);
    assert_eq!(out, vec![0x0123_4567_89ab_cdef]);
}

#[test]
fn the_card_runs_untraced_and_its_traced_twin_writes_waves() {
    use oxnic_sim::models::oxnic_nic;
    let mut fast = Sim::new(oxnic_nic::Model::new()).unwrap();
    assert!(!fast.model.traceable());
    let dir = std::env::temp_dir().join(format!("oxnic-twin-waves-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("card.vcd");
    let err = fast.trace_to(&path).unwrap_err();
    assert_eq!(err, HarnessError::NotTraced("oxnic_nic"));
    assert!(err.to_string().contains("new_traced"), "{err}");
    assert!(!path.exists(), "an untraced model wrote a waveform");
    let mut traced = Sim::new(oxnic_nic::Model::new_traced()).unwrap();
    assert!(traced.model.traceable());
    traced.trace_to(&path).unwrap();
    // The two builds are the same card: the same random inputs, the same outputs every cycle.
    let (inputs, outputs): (Vec<usize>, Vec<usize>) = (0..oxnic_nic::PORTS.len())
        .filter(|&i| oxnic_nic::PORTS[i].name != "clock")
        .partition(|&i| oxnic_nic::PORTS[i].input);
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let (mut a, mut b) = (Vec::new(), Vec::new());
    let mut changed = 0;
    let mut last = Vec::new();
    for cycle in 0..2000 {
        for &i in &inputs {
            let width = oxnic_nic::PORTS[i].width;
            let words: Vec<u64> = (0..width.div_ceil(64))
                .map(|k| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    let left = width - 64 * k;
                    if left >= 64 {
                        seed
                    } else {
                        seed & ((1u64 << left) - 1)
                    }
                })
                .collect();
            fast.model.set_port(i, &words);
            traced.model.set_port(i, &words);
        }
        fast.tick();
        traced.tick();
        for &i in &outputs {
            fast.model.get_port(i, &mut a);
            traced.model.get_port(i, &mut b);
            assert_eq!(a, b, "port {} at cycle {cycle}", oxnic_nic::PORTS[i].name);
        }
        let now: Vec<Vec<u64>> = outputs
            .iter()
            .map(|&i| {
                fast.model.get_port(i, &mut a);
                a.clone()
            })
            .collect();
        changed += usize::from(now != last);
        last = now;
    }
    assert!(
        changed > 100,
        "the outputs changed in only {changed} cycles"
    );
    traced.trace_close();
    let vcd = std::fs::read_to_string(&path).unwrap();
    assert!(vcd.contains("$enddefinitions"), "not a VCD file");
    assert!(
        vcd.contains("rx_engine"),
        "the card's inner blocks are not traced"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
