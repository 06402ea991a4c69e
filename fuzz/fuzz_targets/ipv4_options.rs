//! IPv4 option rewriting: the first byte picks which addresses count as this host's, the rest
//! (cut to 40 bytes) is an option area as a header would carry it. It goes through the one
//! walk, the parser, the receive path's check and stamp (`compile_options` without and with a
//! stamp, Linux `ip_options_compile`), the echo of what was received (`echo_options`, Linux
//! `ip_options_echo`) and the options of later fragments (`fragment_options`, Linux
//! `ip_options_fragment`). Nothing may panic;
//! what comes out is a whole option area of at most 40 bytes and means what each function says.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oxnic_stack::wire::ipv4::{
    check_options, compile_options, echo_options, fragment_options, option_kind, walk_options,
    Ipv4Options, OptionStamp, OptionsInfo, MAX_OPTIONS_LEN,
};
use std::net::Ipv4Addr;

const ME: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const TIME: u32 = 0x8000_1234;

fuzz_target!(|data: &[u8]| {
    let Some((&ctl, area)) = data.split_first() else {
        return;
    };
    let area = &area[..area.len().min(MAX_OPTIONS_LEN)];
    let is_local = move |a: Ipv4Addr| a == ME || (ctl & 1 != 0 && a.octets()[0] == ctl);
    walk_covers_the_area(area);

    let parsed = Ipv4Options::new(area);
    if let Ok(o) = &parsed {
        // Checked lengths: the typed iterator sees every option the walk does.
        let walked = walk_options(area)
            .map(|o| o.expect("a parsed area walks"))
            .filter(|o| o.kind != option_kind::EOL)
            .count();
        assert_eq!(o.iter().count(), walked, "{area:?}");
    }
    let raw = Ipv4Options::raw(area).expect("at most 40 bytes");
    let _ = raw.iter().count();

    // Receive: checking only leaves the bytes alone; stamping finds the same and keeps every
    // option where it was.
    let checked = check_options(area);
    let mut unstamped = area.to_vec();
    assert_eq!(
        compile_options::<fn(Ipv4Addr) -> bool>(&mut unstamped, None),
        checked
    );
    assert_eq!(unstamped, area);
    let stamp = OptionStamp {
        addr: ME,
        time: TIME,
        is_local,
    };
    let mut received = area.to_vec();
    let compiled = compile_options(&mut received, Some(&stamp));
    assert_eq!(compiled, checked, "{area:?}");
    if let Ok(info) = compiled {
        // The parser never refuses what the receive path accepts.
        assert!(parsed.is_ok(), "{area:?}");
        assert_stamped(area, &received, &info);
        later_fragments_keep_copied_options(&received);
        echo_reply(&received);
    }
    later_fragments_keep_copied_options(area);
    // Echo must not panic on anything, received or not.
    let _ = echo_options(&raw, ME, TIME, is_local);
});

/// The walk tiles the area: each option starts where the one before ended, an end-of-list or
/// a malformed option is the last thing yielded, and only a malformed option leaves bytes
/// unwalked.
fn walk_covers_the_area(area: &[u8]) {
    let mut next = 0;
    let mut ended = false;
    for item in walk_options(area) {
        assert!(!ended, "{area:?}");
        match item {
            Ok(o) => {
                assert_eq!(o.offset, next, "{area:?}");
                assert_eq!(o.bytes.first(), Some(&o.kind), "{area:?}");
                next += o.bytes.len();
                ended = o.kind == option_kind::EOL;
            }
            Err(m) => {
                assert_eq!((m.offset, area.get(m.offset)), (next, Some(&m.kind)));
                return;
            }
        }
    }
    assert_eq!(next, area.len(), "{area:?}");
}

/// What stamping may change: the record-route and timestamp pointers, flags and slots, and
/// the padding after end-of-list (zeroed). Kinds and lengths stay, and our address is in the
/// slot `rr_needaddr`/`ts_needaddr` say was filled.
fn assert_stamped(sent: &[u8], received: &[u8], info: &OptionsInfo) {
    assert_eq!(sent.len(), received.len());
    let a: Vec<_> = walk_options(sent).map(Result::unwrap).collect();
    let b: Vec<_> = walk_options(received).map(Result::unwrap).collect();
    assert_eq!(a.len(), b.len(), "{sent:?} -> {received:?}");
    for (a, b) in a.iter().zip(&b) {
        assert_eq!((a.offset, a.kind), (b.offset, b.kind));
        assert_eq!(a.bytes.len(), b.bytes.len());
        match a.kind {
            option_kind::RECORD_ROUTE | option_kind::TIMESTAMP => {}
            option_kind::EOL => assert!(b.bytes.iter().all(|&x| x == 0)),
            _ => assert_eq!(a.bytes, b.bytes, "{sent:?} -> {received:?}"),
        }
    }
    assert!(Ipv4Options::new(received).is_ok(), "{received:?}");
    // Header offsets, with the slot just before the pointer the stamp advanced.
    let slot = |at: Option<u8>, back: usize| {
        let o = usize::from(at.expect("a filled slot has its option")) - 20;
        let ptr = usize::from(received[o + 2]);
        received[o + ptr - back..o + ptr - back + 4].to_vec()
    };
    if info.rr_needaddr {
        assert_eq!(slot(info.rr, 5), ME.octets());
    }
    if info.ts_needaddr {
        assert_eq!(slot(info.ts, 9), ME.octets());
    }
}

/// A reply carries the received record route and timestamp, in that order, with nothing
/// else but end-of-list padding, as a whole option area. It compiles again at its receiver,
/// except where Linux's reply does not either: a pointer that this host's stamp moved onto a
/// slot cut short by the option's end, or a full timestamp whose overflow count reached 15.
fn echo_reply(received: &[u8]) {
    let raw = Ipv4Options::raw(received).expect("at most 40 bytes");
    let Some(echo) = echo_options(&raw, ME, TIME, |a| a == ME) else {
        return;
    };
    let bytes = echo.as_bytes();
    assert!(bytes.len().is_multiple_of(4) && bytes.len() <= MAX_OPTIONS_LEN);
    let kinds: Vec<u8> = walk_options(bytes)
        .map(|o| o.expect("an echo walks").kind)
        .filter(|&k| k != option_kind::EOL)
        .collect();
    assert!(
        matches!(
            kinds[..],
            [] | [option_kind::RECORD_ROUTE]
                | [option_kind::TIMESTAMP]
                | [option_kind::RECORD_ROUTE, option_kind::TIMESTAMP]
        ),
        "{received:?} -> {bytes:?}"
    );
    assert!(Ipv4Options::new(bytes).is_ok(), "{bytes:?}");
    let Err(bad) = check_options(bytes) else {
        return;
    };
    let at = usize::from(bad.pointer) - 20;
    let opt = walk_options(bytes)
        .map(Result::unwrap)
        .find(|o| (o.offset..o.offset + o.bytes.len()).contains(&at))
        .expect("the bad byte is in an option");
    let (len, ptr) = (opt.bytes.len(), usize::from(opt.bytes[2]));
    let cut_slot = at == opt.offset + 2 && ptr <= len;
    let overflowed = at == opt.offset + 3 && opt.kind == option_kind::TIMESTAMP && ptr > len;
    assert!(cut_slot || overflowed, "{received:?} -> {bytes:?}: {bad:?}");
}

/// Later fragments carry an area as long as the first's: every option the walk reaches that
/// has the copied flag is where it was, every other one (end-of-list and NOPs aside) is NOPs,
/// and what the walk does not reach is untouched; doing it again changes nothing.
fn later_fragments_keep_copied_options(area: &[u8]) {
    let later = fragment_options(area);
    let bytes = later.as_bytes();
    assert_eq!(bytes.len(), area.len(), "{area:?}");
    let mut want = area.to_vec();
    for o in walk_options(area).map_while(Result::ok) {
        if o.kind != option_kind::EOL && o.kind & option_kind::COPIED == 0 {
            want[o.offset..o.offset + o.bytes.len()].fill(option_kind::NOP);
        }
    }
    assert_eq!(bytes, &want[..], "{area:?}");
    assert_eq!(fragment_options(bytes).as_bytes(), bytes, "{area:?}");
}
