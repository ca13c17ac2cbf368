//! Arbitrary bytes through the HTTP/1.x parser: the input is split into operations (bytes to
//! either direction in arbitrary segments, gaps, resets), then the flow ends. Checks: no panic,
//! every inspection point's buffers and EVE object can be produced, the EVE object is valid
//! JSON, and feeding the same direction bytes whole gives the same logged records as the
//! segmented feed when there were no gaps.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sensor::app::http::HttpParser;
use sensor::app::{AppParser, Buffers, Transaction};

fn collect(out: &mut Vec<Vec<u8>>) -> impl FnMut(&dyn Transaction) + '_ {
    move |tx: &dyn Transaction| {
        let mut b = Buffers::new();
        tx.buffers(&mut b);
        for buf in &b {
            assert!(buf.data.len() <= 64 * 1024 + 40 * 1024);
        }
        let mut e = Vec::new();
        tx.write_eve(&mut e).expect("write to a Vec");
        let mut obj = b"{".to_vec();
        obj.extend_from_slice(&e);
        obj.push(b'}');
        assert!(
            serde_json::from_slice::<serde_json::Value>(&obj).is_ok(),
            "{}",
            String::from_utf8_lossy(&obj)
        );
        if tx.log() {
            out.push(e);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    // Ops: a control byte, then for data ops a length byte and that many bytes.
    let mut p = HttpParser::new();
    let mut seg_logs = Vec::new();
    let mut whole: [Vec<u8>; 2] = [Vec::new(), Vec::new()];
    let mut order: Vec<bool> = Vec::new();
    let mut had_gap = false;
    let mut i = 0;
    {
        let mut sink = collect(&mut seg_logs);
        while i < data.len() {
            let op = data[i];
            i += 1;
            match op % 8 {
                7 => {
                    p.gap(op & 0x10 != 0, u64::from(op >> 5) + 1);
                    had_gap = true;
                }
                _ => {
                    let to_server = op & 0x10 != 0;
                    let len = usize::from(data.get(i).copied().unwrap_or(0));
                    i += 1;
                    let end = (i + len).min(data.len());
                    let bytes = &data[i.min(end)..end];
                    i = end;
                    p.parse(to_server, bytes, &mut sink);
                    whole[usize::from(!to_server)].extend_from_slice(bytes);
                    order.push(to_server);
                }
            }
        }
        p.end(&mut sink);
    }
    // Same bytes, no segmentation: only comparable when the directions were not interleaved
    // (pairing depends on which side's bytes come first) and nothing was missing.
    let interleaved = order.windows(2).filter(|w| w[0] != w[1]).count() > 1;
    if !had_gap && !interleaved {
        let mut q = HttpParser::new();
        let mut logs = Vec::new();
        {
            let mut sink = collect(&mut logs);
            let first_server = order.first().copied().unwrap_or(true);
            for d in [first_server, !first_server] {
                q.parse(d, &whole[usize::from(!d)], &mut sink);
            }
            q.end(&mut sink);
        }
        assert_eq!(seg_logs, logs);
    }
    p.reset();
});
