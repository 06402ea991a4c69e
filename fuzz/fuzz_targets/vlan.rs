//! 802.1Q tag: any bytes parse or fail cleanly; a parsed tag emits and re-parses equal.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oxnic_stack::wire::vlan::VlanRepr;

fuzz_target!(|data: &[u8]| {
    if let Ok((repr, payload)) = VlanRepr::parse(data) {
        let mut buf = vec![0u8; VlanRepr::LEN + payload.len()];
        repr.emit(&mut buf).expect("emit a parsed tag");
        buf[VlanRepr::LEN..].copy_from_slice(payload);
        assert_eq!(buf, data, "vlan emit differs from its input");
        assert_eq!(VlanRepr::parse(&buf), Ok((repr, payload)));
    }
});
