//! Ethernet header: any bytes parse or fail cleanly; a parsed header emits and re-parses equal.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oxnic_stack::wire::ethernet::EthernetRepr;

fuzz_target!(|data: &[u8]| {
    if let Ok((repr, payload)) = EthernetRepr::parse(data) {
        let mut buf = vec![0u8; EthernetRepr::LEN + payload.len()];
        repr.emit(&mut buf).expect("emit a parsed header");
        buf[EthernetRepr::LEN..].copy_from_slice(payload);
        assert_eq!(buf, data, "ethernet emit differs from its input");
        assert_eq!(EthernetRepr::parse(&buf), Ok((repr, payload)));
    }
});
