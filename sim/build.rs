//! Verilates every block of `oxnic_hdl::catalog` and generates safe Rust bindings for it.
//!
//! For each entry: write its Verilog, run `verilator --cc`, read the model's ports from the
//! generated header (`VL_IN8(&name,msb,lsb)` ...), generate a C++ shim with `extern "C"`
//! accessors and a Rust module wrapping them, and compile the shim and the model with `cc`.
//! Work is skipped for an entry whose Verilog (and this generator) did not change.

use std::collections::hash_map::DefaultHasher;
use std::fmt::Write as _;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Bump when the shim or binding generator changes, so cached models are rebuilt.
const GENERATOR_VERSION: u32 = 13;
const VERILATOR_FLAGS: &[&str] = &[
    "-Wno-WIDTH",
    "-Wno-UNOPTFLAT",
    "-Wno-fatal",
    "-O3",
    "--x-assign",
    "fast",
];
/// Models the hot loops run (the whole card): built twice, without tracing (`Model::new`) and
/// with it (`Model::new_traced`, for waveforms). Tracing makes Verilator keep and mark every
/// signal, which cost the card about 4 % of its instructions per cycle. The traced twin is
/// compiled without optimisation: writing a waveform is slow anyway, and it saves build time.
/// Every other model is built once, traced.
const TWINS: &[&str] = &["oxnic_nic"];
/// Optimisation of the traced twins (see [`TWINS`]).
const TWIN_TRACED_OPT: &str = "-O0";
/// Code generation flags for the models (part of the cache key): see [`cxx_build`].
fn cxx_codegen_flags() -> [&'static str; 2] {
    [march(), "-O3"]
}

/// x86-64-v3 (AVX2, BMI1/2, LZCNT, MOVBE; Haswell, 2013 on) where the machine that builds the
/// models has it, else x86-64-v2. The models are built on the machine that runs them (this
/// script runs on the build host and the models are never shipped). Not `-march=native`:
/// valgrind cannot run AVX-512 code, and callgrind measures the models.
fn march() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    {
        let v3 = std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("bmi1")
            && std::arch::is_x86_feature_detected!("bmi2")
            && std::arch::is_x86_feature_detected!("fma")
            && std::arch::is_x86_feature_detected!("lzcnt")
            && std::arch::is_x86_feature_detected!("movbe");
        if v3 {
            return "-march=x86-64-v3";
        }
    }
    "-march=x86-64-v2"
}
const VL_INCLUDE: &str = "/usr/share/verilator/include";

#[derive(Debug, Clone)]
struct Port {
    /// Verilog name (with `$` for interface fields).
    name: String,
    /// C++ member name (Verilator mangles `$` to `__024`).
    cname: String,
    input: bool,
    width: u32,
}

fn fail(msg: &str) -> ! {
    eprintln!("oxnic-sim build: {msg}");
    std::process::exit(1)
}

fn verilator_version() -> String {
    match Command::new("verilator").arg("--version").output() {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).trim().to_string(),
        _ => fail(
            "verilator not found: run `cargo xtask setup` (installs the Debian package verilator)",
        ),
    }
}

fn parse_ports(header: &str) -> Vec<Port> {
    let mut ports = Vec::new();
    for line in header.lines() {
        let t = line.trim();
        let Some(rest) = t.strip_prefix("VL_") else {
            continue;
        };
        let Some((kind, args)) = rest.split_once('(') else {
            continue;
        };
        let input = match kind {
            "IN8" | "IN16" | "IN" | "IN64" | "INW" => true,
            "OUT8" | "OUT16" | "OUT" | "OUT64" | "OUTW" => false,
            _ => continue,
        };
        let args: Vec<&str> = args
            .trim_end_matches(");")
            .split(',')
            .map(str::trim)
            .collect();
        let cname = args[0].trim_start_matches('&').to_string();
        let msb: u32 = args[1]
            .parse()
            .unwrap_or_else(|_| fail(&format!("bad port line {t}")));
        let lsb: u32 = args[2]
            .parse()
            .unwrap_or_else(|_| fail(&format!("bad port line {t}")));
        ports.push(Port {
            name: cname.replace("__024", "$"),
            cname,
            input,
            width: msb - lsb + 1,
        });
    }
    ports
}

fn rust_ident(verilog_name: &str) -> String {
    verilog_name.replace('$', "_").to_lowercase()
}

fn words32(width: u32) -> u32 {
    width.div_ceil(32)
}

/// Bytes of the C++ variable Verilator keeps a port of `width` bits in: `CData`, `SData`,
/// `IData`, `QData`, or `VlWide` (32-bit words).
fn port_bytes(width: u32) -> u32 {
    match width {
        0..=8 => 1,
        9..=16 => 2,
        17..=32 => 4,
        33..=64 => 8,
        _ => 4 * words32(width),
    }
}

/// Rust type of a port of up to 64 bits, as stored in the model.
fn port_rust_type(width: u32) -> &'static str {
    match port_bytes(width) {
        1 => "u8",
        2 => "u16",
        4 => "u32",
        _ => "u64",
    }
}

/// `direct_eval`: the untraced twin's root `_eval` function is defined as Verilator 5.006
/// writes it, so a clock edge can call it without the `eval_step` wrapper (see below).
fn gen_shim(
    name: &str,
    ports: &[Port],
    root_headers: &[String],
    twin: bool,
    direct_eval: bool,
) -> String {
    let mut s = String::new();
    let cls = format!("V{name}");
    let traced_cls = if twin {
        format!("V{name}_traced")
    } else {
        cls.clone()
    };
    let st = format!("OxModel_{name}");
    writeln!(s, "#include \"{cls}.h\"\n#include \"{cls}___024root.h\"").unwrap();
    if twin {
        writeln!(
            s,
            "#include \"{traced_cls}.h\"\n#include \"{traced_cls}___024root.h\""
        )
        .unwrap();
    }
    writeln!(s, "#include \"verilated.h\"\n#include \"verilated_vcd_c.h\"\n#include <cstdint>\n#include <type_traits>\n#include <utility>").unwrap();
    // `f`: the model without tracing (twins only); `t`: the traced one. Exactly one is set.
    writeln!(
        s,
        "struct {st} {{ VerilatedContext* ctx; {cls}* f; {traced_cls}* t; VerilatedVcdC* tfp; bool inited; }};"
    )
    .unwrap();
    // The evaluation of a clock edge. `eval()` is `eval_step()`: on the first call the model's
    // initial blocks, then the root `_eval` (the scheduling loop), then end-of-evaluation
    // work for multi-threaded models and DPI messages, which these single-threaded models
    // without DPI do not have. Once the model has been evaluated, the untraced twin calls
    // `_eval` directly (about 50 instructions a cycle less). A traced model goes through
    // `eval()`, which also marks trace activity.
    if direct_eval {
        writeln!(
            s,
            "void {cls}___024root___eval({cls}___024root* vlSelf);\n\
             static inline void ox_eval({st}* s, {cls}* m) {{ if (s->inited) {cls}___024root___eval(m->rootp); else {{ m->eval(); s->inited = true; }} }}"
        )
        .unwrap();
    } else {
        writeln!(
            s,
            "static inline void ox_eval({st}* s, {cls}* m) {{ m->eval(); s->inited = true; }}"
        )
        .unwrap();
    }
    if twin {
        writeln!(
            s,
            "static inline void ox_eval({st}* s, {traced_cls}* m) {{ m->eval(); s->inited = true; }}"
        )
        .unwrap();
    }
    // A rising clock edge. Verilator 5 finds an edge by comparing the clock with the value it
    // saw at the previous evaluation, so an edge normally takes two evaluations (clock low,
    // then high), and each one settles all logic fed by the inputs. Where the generated model
    // keeps that previous value in a member we know (`__Vtrigrprev__TOP__clock`, Verilator
    // 5.0xx), clearing it makes the one evaluation with the clock high an edge. Otherwise,
    // two evaluations.
    let has_clock = ports.iter().any(|p| p.input && p.cname == "clock");
    let one_eval_edge = has_clock
        && root_headers
            .iter()
            .all(|h| h.contains("__Vtrigrprev__TOP__clock;"));
    let (edge, evals) = if one_eval_edge {
        (
            "m->rootp->__Vtrigrprev__TOP__clock = 0; m->clock = 1; ox_eval(s, m);",
            1,
        )
    } else if has_clock {
        (
            "m->clock = 0; ox_eval(s, m); m->clock = 1; ox_eval(s, m);",
            2,
        )
    } else {
        ("ox_eval(s, m);", 1)
    };
    writeln!(
        s,
        "template <class M> static void ox_edge({st}* s, M* m) {{ {edge} }}"
    )
    .unwrap();
    // Every port's storage, by index: the Rust side reads and writes ports through these
    // addresses (one load or store, inlined) instead of calling a shim function per access.
    // The static_asserts check that each port's C++ type has the size the Rust side assumes.
    for c in [&cls, &traced_cls] {
        for p in ports {
            writeln!(
                s,
                "static_assert(sizeof(std::remove_reference_t<decltype(std::declval<{c}&>().{pc})>) == {b}, \"port {pc}: unexpected C++ type\");",
                pc = p.cname,
                b = port_bytes(p.width)
            )
            .unwrap();
        }
    }
    writeln!(
        s,
        "template <class M> static void* ox_port(M* m, int i) {{ switch (i) {{"
    )
    .unwrap();
    for (i, p) in ports.iter().enumerate() {
        writeln!(s, "  case {i}: return (void*)&m->{};", p.cname).unwrap();
    }
    writeln!(s, "  default: return nullptr; }} }}").unwrap();
    writeln!(s, "extern \"C\" {{").unwrap();
    // A model built once is always the traced one; a twin builds the untraced one unless
    // asked for the traced.
    let make_fast = if twin {
        format!("if (!traced) {{ s->f = new {cls}{{s->ctx, \"{name}\"}}; return s; }} ")
    } else {
        String::new()
    };
    writeln!(
        s,
        "void* oxvl_{name}_new(int traced) {{ auto* s = new {st}{{}}; s->ctx = new VerilatedContext; \
         {make_fast}s->ctx->traceEverOn(true); s->t = new {traced_cls}{{s->ctx, \"{name}\"}}; return s; }}"
    )
    .unwrap();
    writeln!(
        s,
        "int oxvl_{name}_traced(void* p) {{ return (({st}*)p)->t != nullptr ? 1 : 0; }}"
    )
    .unwrap();
    writeln!(
        s,
        "void oxvl_{name}_delete(void* p) {{ auto* s = ({st}*)p; if (s->tfp) {{ s->tfp->close(); delete s->tfp; }} \
         if (s->f) {{ s->f->final(); delete s->f; }} if (s->t) {{ s->t->final(); delete s->t; }} \
         delete s->ctx; delete s; }}"
    )
    .unwrap();
    writeln!(
        s,
        "void oxvl_{name}_eval(void* p) {{ auto* s = ({st}*)p; if (s->f) s->f->eval(); else s->t->eval(); s->inited = true; }}"
    )
    .unwrap();
    writeln!(
        s,
        "void oxvl_{name}_eval_edge(void* p) {{ auto* s = ({st}*)p; if (s->f) ox_edge(s, s->f); else ox_edge(s, s->t); }}\n\
         int oxvl_{name}_edge_evals() {{ return {evals}; }}"
    )
    .unwrap();
    writeln!(
        s,
        "int oxvl_{name}_trace_open(void* p, const char* path) {{ auto* s = ({st}*)p; if (!s->t) return 0; \
         if (s->tfp) {{ s->tfp->close(); delete s->tfp; }} s->tfp = new VerilatedVcdC; \
         s->t->trace(s->tfp, 99); s->tfp->open(path); return s->tfp->isOpen() ? 1 : 0; }}"
    )
    .unwrap();
    writeln!(s, "void oxvl_{name}_trace_dump(void* p, uint64_t t) {{ auto* s = ({st}*)p; if (s->tfp) s->tfp->dump(t); }}").unwrap();
    writeln!(
        s,
        "void oxvl_{name}_trace_close(void* p) {{ auto* s = ({st}*)p; \
         if (s->tfp) {{ s->tfp->close(); delete s->tfp; s->tfp = nullptr; }} }}"
    )
    .unwrap();
    writeln!(
        s,
        "void* oxvl_{name}_port_addr(void* p, int i) {{ auto* s = ({st}*)p; return s->f ? ox_port(s->f, i) : ox_port(s->t, i); }}"
    )
    .unwrap();
    writeln!(s, "}}").unwrap();
    s
}

fn gen_rust(name: &str, about: &str, ports: &[Port], twin: bool) -> String {
    let mut s = String::new();
    let w = &mut s;
    writeln!(w, "/// Verilator model of `{name}`: {about}.").unwrap();
    writeln!(w, "pub mod {name} {{").unwrap();
    writeln!(w, "    use std::ffi::c_void;").unwrap();
    writeln!(w, "    use crate::harness::{{Port, RawModel}};").unwrap();
    writeln!(w, "    extern \"C\" {{").unwrap();
    writeln!(w, "        fn oxvl_{name}_new(traced: i32) -> *mut c_void;").unwrap();
    writeln!(w, "        fn oxvl_{name}_traced(p: *mut c_void) -> i32;").unwrap();
    writeln!(w, "        fn oxvl_{name}_delete(p: *mut c_void);").unwrap();
    writeln!(w, "        fn oxvl_{name}_eval(p: *mut c_void);").unwrap();
    writeln!(w, "        fn oxvl_{name}_eval_edge(p: *mut c_void);").unwrap();
    writeln!(w, "        fn oxvl_{name}_edge_evals() -> i32;").unwrap();
    writeln!(
        w,
        "        fn oxvl_{name}_trace_open(p: *mut c_void, path: *const std::ffi::c_char) -> i32;"
    )
    .unwrap();
    writeln!(
        w,
        "        fn oxvl_{name}_trace_dump(p: *mut c_void, t: u64);"
    )
    .unwrap();
    writeln!(w, "        fn oxvl_{name}_trace_close(p: *mut c_void);").unwrap();
    writeln!(
        w,
        "        fn oxvl_{name}_port_addr(p: *mut c_void, i: i32) -> *mut c_void;"
    )
    .unwrap();
    writeln!(w, "    }}").unwrap();
    writeln!(
        w,
        "    /// Module name.\n    pub const NAME: &str = \"{name}\";"
    )
    .unwrap();
    writeln!(
        w,
        "    /// Ports in header order.\n    pub const PORTS: &[Port] = &["
    )
    .unwrap();
    for p in ports {
        writeln!(
            w,
            "        Port {{ name: \"{}\", input: {}, width: {} }},",
            p.name, p.input, p.width
        )
        .unwrap();
    }
    writeln!(w, "    ];").unwrap();
    writeln!(
        w,
        "    /// The verilated `{name}`; owns its C++ model and Verilator context.\n    \
         ///\n    \
         /// Ports are read and written through `addr`: the address of each port's variable in\n    \
         /// the model, of the type the shim's `static_assert`s check (`u8`, `u16`, `u32`, `u64`\n    \
         /// by width, or 32-bit words). The model's C++ code runs only inside `eval` and\n    \
         /// `eval_edge`, which take `&mut self`, so no access overlaps it.\n    \
         #[derive(Debug)]\n    pub struct Model {{ ptr: std::ptr::NonNull<c_void>, addr: [*mut c_void; {n}] }}",
        n = ports.len()
    )
    .unwrap();
    writeln!(
        w,
        "    // SAFETY: the C++ model has no thread affinity; it is only reached through `&mut self`\n    \
         // or `&self`, so moving it to another thread (behind a lock) is sound.\n    \
         unsafe impl Send for Model {{}}"
    )
    .unwrap();
    writeln!(w, "    impl Model {{").unwrap();
    let new_doc = if twin {
        "Creates the model, built without waveform support (faster; see [`Model::new_traced`])."
    } else {
        "Creates the model (with waveform support)."
    };
    writeln!(
        w,
        "        /// {new_doc} Inputs start at zero; nothing is evaluated yet.\n        \
         #[allow(clippy::new_without_default)]\n        pub fn new() -> Self {{\n            Self::create(0)\n        }}\n        \
         /// Creates the model with waveform support ([`crate::harness::Sim::trace_to`]).\n        \
         pub fn new_traced() -> Self {{\n            Self::create(1)\n        }}\n        \
         fn create(traced: i32) -> Self {{\n            \
         // SAFETY: the shim allocates a fresh model and context and returns an owned pointer.\n            \
         let raw = unsafe {{ oxvl_{name}_new(traced) }};\n            \
         let ptr = std::ptr::NonNull::new(raw).expect(\"verilated model allocation failed\");\n            \
         let addr = std::array::from_fn(|i| {{\n                \
         // SAFETY: `ptr` is the live model just created; the shim only takes an address.\n                \
         let a = unsafe {{ oxvl_{name}_port_addr(ptr.as_ptr(), i as i32) }};\n                \
         assert!(!a.is_null(), \"verilated model has no port {{i}}\");\n                a\n            }});\n            \
         Model {{ ptr, addr }}\n        }}"
    )
    .unwrap();
    for (i, p) in ports.iter().enumerate() {
        let id = rust_ident(&p.name);
        let what = if p.input { "input" } else { "output" };
        if p.width <= 64 {
            let t = port_rust_type(p.width);
            // No cast or conversion where the port is already a `u64` (clippy).
            let store = if t == "u64" {
                "v".to_string()
            } else {
                format!("v as {t}")
            };
            let load = format!("unsafe {{ self.addr[{i}].cast::<{t}>().read() }}");
            let load = if t == "u64" {
                load
            } else {
                format!("u64::from({load})")
            };
            if p.input {
                writeln!(
                    w,
                    "        /// Sets input `{}` ({} bits).\n        #[inline]\n        pub fn set_{id}(&mut self, v: u64) {{\n            \
                     // SAFETY: `addr[{i}]` is this port's `{t}` inside the model `self` owns (see\n            \
                     // [`Model`]); no model code runs during the store.\n            \
                     unsafe {{ self.addr[{i}].cast::<{t}>().write({store}) }}\n        }}",
                    p.name, p.width
                )
                .unwrap();
            }
            writeln!(
                w,
                "        /// Reads {what} `{}` ({} bits).\n        #[inline]\n        pub fn get_{id}(&self) -> u64 {{\n            \
                 // SAFETY: `addr[{i}]` is this port's `{t}` inside the model `self` owns (see\n            \
                 // [`Model`]); no model code runs during the load.\n            \
                 {load}\n        }}",
                p.name, p.width
            )
            .unwrap();
        } else {
            let n = words32(p.width);
            if p.input {
                writeln!(
                    w,
                    "        /// Sets input `{}` ({} bits) from 32-bit words, least significant first.\n        \
                     #[inline]\n        pub fn set_{id}(&mut self, v: &[u32; {n}]) {{\n            \
                     // SAFETY: `addr[{i}]` is this port's {n} 32-bit words inside the model `self`\n            \
                     // owns (see [`Model`]); no model code runs during the copy.\n            \
                     unsafe {{ self.addr[{i}].cast::<[u32; {n}]>().write_unaligned(*v) }}\n        }}",
                    p.name, p.width
                )
                .unwrap();
            }
            writeln!(
                w,
                "        /// Reads {what} `{}` ({} bits) as 32-bit words, least significant first.\n        \
                 #[inline]\n        pub fn get_{id}(&self) -> [u32; {n}] {{\n            \
                 // SAFETY: `addr[{i}]` is this port's {n} 32-bit words inside the model `self`\n            \
                 // owns (see [`Model`]); no model code runs during the copy.\n            \
                 unsafe {{ self.addr[{i}].cast::<[u32; {n}]>().read_unaligned() }}\n        }}",
                p.name, p.width
            )
            .unwrap();
        }
    }
    writeln!(w, "    }}").unwrap();
    // Generic, index-based access for the differential runner and by-name harness.
    writeln!(w, "    impl RawModel for Model {{").unwrap();
    writeln!(w, "        fn name(&self) -> &'static str {{ NAME }}").unwrap();
    writeln!(w, "        fn ports(&self) -> &'static [Port] {{ PORTS }}").unwrap();
    writeln!(
        w,
        "        fn eval(&mut self) {{\n            \
         // SAFETY: `ptr` is a live model owned by `self`.\n            \
         unsafe {{ oxvl_{name}_eval(self.ptr.as_ptr()) }}\n        }}"
    )
    .unwrap();
    writeln!(
        w,
        "        fn eval_edge(&mut self) {{\n            \
         // SAFETY: `ptr` is a live model owned by `self`.\n            \
         unsafe {{ oxvl_{name}_eval_edge(self.ptr.as_ptr()) }}\n        }}"
    )
    .unwrap();
    writeln!(
        w,
        "        fn edge_evals(&self) -> u32 {{\n            \
         // SAFETY: the shim function only returns a constant.\n            \
         unsafe {{ oxvl_{name}_edge_evals() as u32 }}\n        }}"
    )
    .unwrap();
    writeln!(
        w,
        "        fn traceable(&self) -> bool {{\n            \
         // SAFETY: `ptr` is a live model owned by `self`; the shim only reads a pointer.\n            \
         unsafe {{ oxvl_{name}_traced(self.ptr.as_ptr()) == 1 }}\n        }}"
    )
    .unwrap();
    writeln!(
        w,
        "        fn trace_open(&mut self, path: &std::ffi::CStr) -> bool {{\n            \
         // SAFETY: `ptr` is live and `path` is a NUL-terminated string that outlives the call.\n            \
         unsafe {{ oxvl_{name}_trace_open(self.ptr.as_ptr(), path.as_ptr()) == 1 }}\n        }}"
    )
    .unwrap();
    writeln!(
        w,
        "        fn trace_dump(&mut self, time: u64) {{\n            \
         // SAFETY: `ptr` is live; dumping without an open trace is a no-op in the shim.\n            \
         unsafe {{ oxvl_{name}_trace_dump(self.ptr.as_ptr(), time) }}\n        }}"
    )
    .unwrap();
    writeln!(
        w,
        "        fn trace_close(&mut self) {{\n            \
         // SAFETY: `ptr` is live; closing without an open trace is a no-op in the shim.\n            \
         unsafe {{ oxvl_{name}_trace_close(self.ptr.as_ptr()) }}\n        }}"
    )
    .unwrap();
    writeln!(w, "        #[allow(clippy::match_single_binding)]\n        fn set_port(&mut self, index: usize, words: &[u64]) {{").unwrap();
    writeln!(
        w,
        "            let word = |k: usize| words.get(k).copied().unwrap_or(0);"
    )
    .unwrap();
    writeln!(w, "            let _ = &word;\n            match index {{").unwrap();
    // Ports of up to 64 bits go through `set_u64`/`get_u64` below: only wide ones here.
    for (i, p) in ports.iter().enumerate() {
        if p.input && p.width > 64 {
            let (id, n) = (rust_ident(&p.name), words32(p.width));
            writeln!(
                w,
                "                {i} => self.set_{id}(&std::array::from_fn::<u32, {n}, _>(|k| (word(k / 2) >> (32 * (k % 2))) as u32)),"
            )
            .unwrap();
        }
    }
    writeln!(
        w,
        "                _ => self.set_u64(index, word(0)),\n            }}\n        }}"
    )
    .unwrap();
    writeln!(w, "        #[allow(clippy::match_single_binding)]\n        fn get_port(&self, index: usize, out: &mut Vec<u64>) {{\n            out.clear();\n            match index {{").unwrap();
    for (i, p) in ports.iter().enumerate() {
        if p.width > 64 {
            let id = rust_ident(&p.name);
            writeln!(
                w,
                "                {i} => {{ let v = self.get_{id}(); out.extend(v.chunks(2).map(|c| u64::from(c[0]) | c.get(1).map_or(0, |&h| u64::from(h) << 32))); }}"
            )
            .unwrap();
        }
    }
    writeln!(
        w,
        "                i if i < PORTS.len() => out.push(self.get_u64(i)),\n                _ => {{}}\n            }}\n        }}"
    )
    .unwrap();
    writeln!(
        w,
        "        #[allow(clippy::match_single_binding)]\n        fn set_u64(&mut self, index: usize, v: u64) {{\n            let _ = v;\n            match index {{"
    )
    .unwrap();
    for (i, p) in ports.iter().enumerate().filter(|(_, p)| p.input) {
        let id = rust_ident(&p.name);
        if p.width <= 64 {
            writeln!(w, "                {i} => self.set_{id}(v),").unwrap();
        } else {
            writeln!(w, "                {i} => self.set_port({i}, &[v]),").unwrap();
        }
    }
    writeln!(w, "                _ => {{}}\n            }}\n        }}").unwrap();
    writeln!(
        w,
        "        #[allow(clippy::match_single_binding)]\n        fn get_u64(&self, index: usize) -> u64 {{\n            match index {{"
    )
    .unwrap();
    for (i, p) in ports.iter().enumerate() {
        let id = rust_ident(&p.name);
        if p.width <= 64 {
            writeln!(w, "                {i} => self.get_{id}(),").unwrap();
        } else {
            writeln!(
                w,
                "                {i} => {{ let v = self.get_{id}(); u64::from(v[0]) | u64::from(v[1]) << 32 }}"
            )
            .unwrap();
        }
    }
    writeln!(
        w,
        "                _ => 0,\n            }}\n        }}\n    }}"
    )
    .unwrap();
    writeln!(
        w,
        "    impl Drop for Model {{\n        fn drop(&mut self) {{\n            \
         // SAFETY: `ptr` came from `oxvl_{name}_new` and is freed exactly once, here.\n            \
         unsafe {{ oxvl_{name}_delete(self.ptr.as_ptr()) }}\n        }}\n    }}"
    )
    .unwrap();
    writeln!(w, "}}").unwrap();
    s
}

/// A C++ build for the models: `fast` with [`cxx_codegen_flags`], else at [`TWIN_TRACED_OPT`].
fn cxx_build(out: &Path, fast: bool) -> cc::Build {
    let mut b = cc::Build::new();
    b.cpp(true)
        .std("gnu++17")
        .include(VL_INCLUDE)
        .include(format!("{VL_INCLUDE}/vltstd"))
        .define("VM_COVERAGE", "0")
        .define("VM_SC", "0")
        .define("VM_TRACE", "1")
        .define("VM_TRACE_FST", "0")
        .define("VM_TRACE_VCD", "1")
        .opt_level(2)
        .debug(debug_info())
        .warnings(false)
        .out_dir(out);
    // x86-64-v2 (2009 on) at least: the parity of a word — CRC, Toeplitz and checksum logic
    // are made of them — becomes one POPCNT instead of a bit-twiddling sequence; v3 where the
    // machine has it (`march`). -O3 (after cc's -O2, so it wins): a few % more.
    if fast {
        for f in cxx_codegen_flags() {
            b.flag_if_supported(f);
        }
    } else {
        b.flag_if_supported(TWIN_TRACED_OPT);
    }
    for f in [
        "-faligned-new",
        "-fcf-protection=none",
        "-Wno-bool-operation",
        "-Wno-sign-compare",
        "-Wno-uninitialized",
        "-Wno-unused-but-set-variable",
        "-Wno-unused-parameter",
        "-Wno-unused-variable",
        "-Wno-shadow",
    ] {
        b.flag_if_supported(f);
    }
    b
}

/// `OXNIC_SIM_DEBUGINFO=1` compiles the models with debug info, for line-level profiles of
/// the generated C++ (`valgrind --tool=callgrind`; also set `CARGO_PROFILE_BENCH_STRIP=none`).
fn debug_info() -> bool {
    std::env::var_os("OXNIC_SIM_DEBUGINFO").is_some()
}

fn link(out: &Path, lib: &str) {
    println!("cargo:rustc-link-search=native={}", out.display());
    println!("cargo:rustc-link-lib=static={lib}");
}

/// Runs `verilator --cc` on `vfile` into `obj` (emptied first), classes prefixed `prefix`.
fn verilate(name: &str, vfile: &Path, obj: &Path, prefix: &str, traced: bool) {
    let _ = std::fs::remove_dir_all(obj);
    let st = Command::new("verilator")
        .arg("--cc")
        .args(VERILATOR_FLAGS)
        .args(traced.then_some("--trace"))
        .args(["--top-module", name, "--prefix", prefix, "--Mdir"])
        .arg(obj)
        .arg(vfile)
        .status()
        .unwrap_or_else(|e| fail(&format!("running verilator: {e}")));
    if !st.success() {
        fail(&format!(
            "verilator failed on {name} ({st}); Verilog is in {}",
            vfile.display()
        ));
    }
}

/// The C++ files Verilator wrote into `obj`, sorted.
fn cpp_files(obj: &Path) -> Vec<PathBuf> {
    let mut cpps: Vec<PathBuf> = std::fs::read_dir(obj)
        .unwrap_or_else(|e| fail(&e.to_string()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "cpp"))
        .collect();
    cpps.sort();
    cpps
}

fn main() {
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    // Verilated models are cached beside the profiles (`target/oxnic-vl-cache`), not in this
    // build's OUT_DIR: `cargo clippy`, `cargo test` and `cargo bench` build this script in
    // different configurations, and each would otherwise verilate and compile every model
    // again. Entries are keyed by a stamp of the Verilog, Verilator version and flags. Cargo
    // holds the target directory's lock while it builds, so two builds never share an entry
    // at once.
    let cache = out
        .ancestors()
        .nth(4)
        .map(|target| target.join("oxnic-vl-cache"))
        .unwrap_or_else(|| out.clone());
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=OXNIC_SIM_SKIP");
    println!("cargo:rerun-if-env-changed=OXNIC_SIM_DEBUGINFO");
    let version = verilator_version();
    let mut bindings = String::from(
        "// Generated by oxnic-sim's build.rs from oxnic_hdl::catalog. Do not edit.\n\n",
    );
    let mut names = Vec::new();
    // The C++ compiler is part of each entry's key too (`CXX=clang++` builds other models).
    let compiler = cxx_build(&out, true).get_compiler().path().to_path_buf();
    println!("cargo:rerun-if-env-changed=CXX");
    for entry in oxnic_hdl::catalog::all() {
        let name = entry.name;
        let verilog = (entry.verilog)().unwrap_or_else(|e| fail(&format!("{name}: {e}")));
        let dir = cache.join(name);
        let twin = TWINS.contains(&name);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| fail(&format!("{}: {e}", dir.display())));
        let mut h = DefaultHasher::new();
        (
            GENERATOR_VERSION,
            &version,
            &compiler,
            &verilog,
            VERILATOR_FLAGS,
            cxx_codegen_flags(),
            debug_info(),
            twin,
            TWIN_TRACED_OPT,
        )
            .hash(&mut h);
        let stamp = format!("{:016x}\n", h.finish());
        let stamp_path = dir.join("stamp");
        let lib = format!("oxvl_{name}");
        let rs_path = dir.join("bindings.rs");
        let fresh = std::fs::read_to_string(&stamp_path).ok().as_deref() == Some(stamp.as_str())
            && rs_path.exists()
            && dir.join(format!("lib{lib}.a")).exists()
            && (!twin || dir.join(format!("lib{lib}_traced.a")).exists());
        if !fresh {
            let vfile = dir.join(format!("{name}.v"));
            std::fs::write(&vfile, &verilog)
                .unwrap_or_else(|e| fail(&format!("{}: {e}", vfile.display())));
            let obj = dir.join("obj");
            verilate(name, &vfile, &obj, &format!("V{name}"), !twin);
            let header = std::fs::read_to_string(obj.join(format!("V{name}.h")))
                .unwrap_or_else(|e| fail(&format!("{name}: reading the model header: {e}")));
            let ports = parse_ports(&header);
            let read_root = |obj: &Path, cls: &str| {
                std::fs::read_to_string(obj.join(format!("{cls}___024root.h"))).unwrap_or_else(
                    |e| fail(&format!("{name}: reading the model's root header: {e}")),
                )
            };
            let mut roots = vec![read_root(&obj, &format!("V{name}"))];
            let obj_traced = dir.join("obj_traced");
            if twin {
                let cls = format!("V{name}_traced");
                verilate(name, &vfile, &obj_traced, &cls, true);
                roots.push(read_root(&obj_traced, &cls));
            }
            let mut idents: Vec<String> = ports.iter().map(|p| rust_ident(&p.name)).collect();
            idents.sort();
            idents.dedup();
            if idents.len() != ports.len() {
                fail(&format!("{name}: two ports map to the same Rust name"));
            }
            let shim = dir.join("shim.cpp");
            let eval_def = format!("void V{name}___024root___eval(V{name}___024root* vlSelf) {{");
            let direct_eval = twin
                && cpp_files(&obj)
                    .iter()
                    .any(|f| std::fs::read_to_string(f).is_ok_and(|t| t.contains(&eval_def)));
            std::fs::write(&shim, gen_shim(name, &ports, &roots, twin, direct_eval))
                .unwrap_or_else(|e| fail(&e.to_string()));
            let mut b = cxx_build(&dir, true);
            b.include(&obj).file(&shim).cargo_metadata(false);
            if twin {
                b.include(&obj_traced);
            }
            b.files(cpp_files(&obj));
            b.compile(&lib);
            if twin {
                let mut b = cxx_build(&dir, false);
                b.include(&obj_traced).cargo_metadata(false);
                b.files(cpp_files(&obj_traced));
                b.compile(&format!("{lib}_traced"));
            }
            std::fs::write(&rs_path, gen_rust(name, entry.about, &ports, twin))
                .unwrap_or_else(|e| fail(&e.to_string()));
            std::fs::write(&stamp_path, &stamp).unwrap_or_else(|e| fail(&e.to_string()));
        }
        link(&dir, &lib);
        if twin {
            link(&dir, &format!("{lib}_traced"));
        }
        let rs = std::fs::read_to_string(&rs_path).unwrap_or_else(|e| fail(&e.to_string()));
        bindings.push_str(&rs);
        names.push(name);
    }
    // The Verilator runtime, once for all models (it only changes with Verilator itself).
    let rt_dir = cache.join("runtime");
    std::fs::create_dir_all(&rt_dir)
        .unwrap_or_else(|e| fail(&format!("{}: {e}", rt_dir.display())));
    let rt_stamp = rt_dir.join("verilated_rt.stamp");
    if std::fs::read_to_string(&rt_stamp).ok().as_deref() != Some(version.as_str())
        || !rt_dir.join("liboxvl_runtime.a").exists()
    {
        let mut b = cxx_build(&rt_dir, true);
        b.cargo_metadata(false);
        for f in [
            "verilated.cpp",
            "verilated_vcd_c.cpp",
            "verilated_threads.cpp",
        ] {
            b.file(format!("{VL_INCLUDE}/{f}"));
        }
        b.compile("oxvl_runtime");
        std::fs::write(&rt_stamp, &version).unwrap_or_else(|e| fail(&e.to_string()));
    }
    link(&rt_dir, "oxvl_runtime");
    println!("cargo:rustc-link-lib=dylib=stdc++");
    if compiler.to_string_lossy().contains("clang") {
        // clang calls libatomic where gcc inlines the lock-free test.
        println!("cargo:rustc-link-lib=dylib=atomic");
    }
    writeln!(
        bindings,
        "/// Names of all verilated models.\npub const ALL: &[&str] = &{names:?};"
    )
    .unwrap();
    std::fs::write(out.join("models.rs"), bindings).unwrap_or_else(|e| fail(&e.to_string()));
}
