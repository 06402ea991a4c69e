//! ARP: any bytes parse or fail cleanly; a parsed packet emits and re-parses equal.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oxnic_stack::wire::arp::ArpRepr;

fuzz_target!(|data: &[u8]| {
    if let Ok(repr) = ArpRepr::parse(data) {
        let mut buf = [0u8; ArpRepr::LEN];
        repr.emit(&mut buf).expect("emit a parsed packet");
        assert_eq!(
            &buf[..],
            &data[..ArpRepr::LEN],
            "arp emit differs from its input"
        );
        assert_eq!(ArpRepr::parse(&buf), Ok(repr));
    }
});
