//! IGMP: any bytes parse or fail cleanly; a version 3 report's records, checked at parse
//! time, are all there when walked; a report emitted from those records re-parses to them.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oxnic_stack::wire::igmp::{emit_v3_report, v3_report_len, IgmpRepr};

fuzz_target!(|data: &[u8]| {
    if let Ok(IgmpRepr::V3Report(r)) = IgmpRepr::parse(data) {
        let count = usize::from(u16::from_be_bytes([data[6], data[7]]));
        let records: Vec<(u8, std::net::Ipv4Addr)> =
            r.records().map(|g| (g.record_type, g.group)).collect();
        assert_eq!(records.len(), count);
        let mut buf = vec![0u8; v3_report_len(records.len())];
        emit_v3_report(&mut buf, &records).expect("emit the records");
        let Ok(IgmpRepr::V3Report(again)) = IgmpRepr::parse(&buf) else {
            panic!("an emitted report does not parse");
        };
        let back: Vec<_> = again.records().map(|g| (g.record_type, g.group)).collect();
        assert_eq!(back, records);
    }
});
