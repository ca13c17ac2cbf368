//! Arbitrary packet sequences through a whole worker (decode, defrag, flow, reassembly,
//! detection with the demo rules, flow records): no panic, no hang, flow table bounded.
#![no_main]

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use sensor::capture::{Frame, Timestamp};
use sensor::decode::LinkType;
use sensor::runtime::output::EventSink;
use sensor::runtime::worker::{Worker, WorkerConfig};
use signatures::{RuleSet, RuleSetBuilder, Vars};

const RULES: &str = include_str!("../../testdata/demo/demo.rules");

fn rules() -> Arc<RuleSet> {
    static SET: OnceLock<Arc<RuleSet>> = OnceLock::new();
    SET.get_or_init(|| {
        let mut b = RuleSetBuilder::new(Vars::suricata_defaults());
        b.add_source("demo.rules", RULES);
        Arc::new(b.build().0)
    })
    .clone()
}

struct Discard;

impl EventSink for Discard {
    fn emit(&mut self, _: &'static str, record: &[u8]) -> std::io::Result<()> {
        assert!(record.ends_with(b"\n"));
        Ok(())
    }
}

fuzz_target!(|data: &[u8]| {
    let mut cfg = WorkerConfig::new(Arc::from("fuzz"), 1);
    // Small limits: cheap to set up per input, and the limits themselves get exercised.
    cfg.flow_capacity = 8;
    cfg.stream.memcap = 64 * 1024;
    cfg.stream.max_chunks_per_flow = 8;
    cfg.defrag.max_bytes = 16 * 1024;
    cfg.defrag.max_trackers = 8;
    let mut worker = Worker::new(rules(), cfg);
    // Records: time step, link type selector, length, then the frame bytes.
    let mut rest = data;
    let mut secs = 1_700_000_000i64;
    let mut n = 0u64;
    while let [step, link, len, tail @ ..] = rest {
        let take = usize::from(*len).min(tail.len());
        let (frame, next) = tail.split_at(take);
        secs += i64::from(*step) - 32;
        let link = match link % 3 {
            0 => LinkType::RawIp,
            1 => LinkType::Ethernet,
            _ => LinkType::Ppp,
        };
        n += 1;
        let f = Frame {
            ts: Timestamp { secs, usecs: 0 },
            wire_len: frame.len() as u32,
            data: frame,
            link,
        };
        let _ = worker.process(&f, n, &mut Discard);
        rest = next;
    }
    let _ = worker.shutdown(secs, &mut Discard);
});
