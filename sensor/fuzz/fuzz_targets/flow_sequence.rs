//! A sequence of arbitrary raw-IP packets with arbitrary times through one flow table:
//! no panic, and the table never holds more than its capacity.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sensor::capture::Timestamp;
use sensor::decode::{decode, LinkType};
use sensor::flow::FlowTable;

fuzz_target!(|data: &[u8]| {
    let mut table = FlowTable::with_capacity(8);
    // Records: 1 byte time step, 1 byte length, then that many bytes of packet.
    let mut rest = data;
    let mut secs = 0i64;
    while let [step, len, tail @ ..] = rest {
        let n = usize::from(*len).min(tail.len());
        let (pkt, next) = tail.split_at(n);
        secs += i64::from(*step) - 64;
        if let Ok(p) = decode(LinkType::RawIp, pkt, false) {
            let _ = table.track(&p, Timestamp { secs, usecs: 0 }, 64, &mut |_, _| {});
            assert!(table.len() <= 8);
        }
        rest = next;
    }
});
