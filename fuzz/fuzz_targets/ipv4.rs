//! IPv4: any bytes parse or fail cleanly. The checksum is not checked on the way in (random
//! bytes would almost never get past it); the emitted header carries a computed checksum and
//! must re-parse, verified, to the same header and payload.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oxnic_stack::wire::checksum::ChecksumMode;
use oxnic_stack::wire::ipv4::Ipv4Repr;

fuzz_target!(|data: &[u8]| {
    let _ = Ipv4Repr::parse(data, ChecksumMode::Software);
    let _ = Ipv4Repr::parse_quoted(data);
    if let Ok((repr, payload)) = Ipv4Repr::parse(data, ChecksumMode::Offloaded) {
        let mut buf = vec![0u8; repr.header_len() + payload.len()];
        let h = repr
            .emit(&mut buf, ChecksumMode::Software)
            .expect("emit a parsed header");
        buf[h..].copy_from_slice(payload);
        assert_eq!(
            Ipv4Repr::parse(&buf, ChecksumMode::Software),
            Ok((repr, payload))
        );
    }
});
