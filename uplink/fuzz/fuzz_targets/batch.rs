//! Batch expansion (`uplink::collect::expand`, used by `sensor tail` and
//! collectors) on arbitrary bytes, compressed or not: bounded output, no
//! panic.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut z = uplink::collect::ZSTD_MAGIC.to_vec();
    z.extend_from_slice(data);
    for (payload, batch) in [(data, true), (data, false), (&z[..], true)] {
        if let Ok(events) = uplink::collect::expand(payload, batch) {
            let total: usize = events.iter().map(Vec::len).sum();
            assert!(total <= uplink::collect::MAX_EXPANDED);
        }
    }
});
