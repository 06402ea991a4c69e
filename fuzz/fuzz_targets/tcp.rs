//! TCP: the first 8 bytes are the pseudo-header's source and destination addresses, the rest
//! the segment. Any bytes parse or fail cleanly; a parsed segment (options normalised: unknown
//! and malformed ones dropped, the list cut where a length cannot be stepped over, duplicates
//! merged) emits with a computed checksum and re-parses, verified, to the same header and
//! payload.
#![no_main]

use core::net::Ipv4Addr;
use libfuzzer_sys::fuzz_target;
use oxnic_stack::wire::checksum::ChecksumMode;
use oxnic_stack::wire::tcp::TcpRepr;

fuzz_target!(|data: &[u8]| {
    let Some((addrs, seg)) = data.split_first_chunk::<8>() else {
        return;
    };
    let src = Ipv4Addr::new(addrs[0], addrs[1], addrs[2], addrs[3]);
    let dst = Ipv4Addr::new(addrs[4], addrs[5], addrs[6], addrs[7]);
    let _ = TcpRepr::parse(seg, src, dst, ChecksumMode::Software);
    if let Ok((repr, payload)) = TcpRepr::parse(seg, src, dst, ChecksumMode::Offloaded) {
        let hlen = repr
            .header_len()
            .expect("options that arrived in a header fit in one");
        let mut buf = vec![0u8; hlen + payload.len()];
        buf[hlen..].copy_from_slice(payload);
        repr.emit(&mut buf, payload.len(), src, dst, ChecksumMode::Software)
            .expect("emit a parsed header");
        assert_eq!(
            TcpRepr::parse(&buf, src, dst, ChecksumMode::Software),
            Ok((repr, payload))
        );
    }
});
