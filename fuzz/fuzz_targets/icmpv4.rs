//! ICMPv4: any bytes parse or fail cleanly (checksum not checked on the way in); a parsed
//! message emits with a computed checksum and re-parses, verified, to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oxnic_stack::wire::checksum::ChecksumMode;
use oxnic_stack::wire::icmpv4::IcmpRepr;

fuzz_target!(|data: &[u8]| {
    let _ = IcmpRepr::parse(data, ChecksumMode::Software);
    if let Ok(repr) = IcmpRepr::parse(data, ChecksumMode::Offloaded) {
        let mut buf = vec![0u8; repr.buffer_len()];
        let n = repr
            .emit(&mut buf, ChecksumMode::Software)
            .expect("emit a parsed message");
        assert_eq!(n, buf.len());
        assert_eq!(IcmpRepr::parse(&buf, ChecksumMode::Software), Ok(repr));
    }
});
