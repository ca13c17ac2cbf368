//! Full packet processing: `Worker::process` (decode, flow, detect, alert serialisation) with
//! a sink that discards, over the bundled demo capture with its rules, and over 2,000
//! interleaved HTTP flows with the demo rules and, when the shared corpus is next to the
//! workspace, the ET Open rules the sensor supports.

// Benches build fixed, known-good inputs: a panic is a broken bench, not a runtime error.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// criterion_group! generates an undocumented function.
#![allow(missing_docs)]

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sensor::capture::{Frame, PcapFile, Timestamp};
use sensor::decode::LinkType;
use sensor::runtime::output::EventSink;
use sensor::runtime::rules::load_rules;
use sensor::runtime::worker::{Worker, WorkerConfig};

/// Drops every event.
struct Discard;

impl EventSink for Discard {
    fn emit(&mut self, _: &'static str, record: &[u8]) -> std::io::Result<()> {
        criterion::black_box(record);
        Ok(())
    }
}

fn config() -> WorkerConfig {
    WorkerConfig::new(Arc::from("bench"), 1)
}

fn demo_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/demo")
}

/// Every frame of a capture, copied out with its timestamp.
fn read_frames(path: &Path) -> Vec<(Timestamp, u32, Vec<u8>)> {
    let mut f = PcapFile::open(path).unwrap();
    let mut out = Vec::new();
    while let Some(fr) = f.next_frame().unwrap() {
        out.push((fr.ts, fr.wire_len, fr.data.to_vec()));
    }
    out
}

/// 2,000 HTTP flows, interleaved: each sends a request and gets a 1460-byte segment back,
/// repeated; packet time advances 10 µs per packet.
fn http_frames() -> Vec<(Timestamp, u32, Vec<u8>)> {
    let body = vec![b'a'; 1460];
    let mut out = Vec::new();
    let mut t = 1_700_000_000_000_000i64;
    for round in 0..4 {
        for c in 0..2_000u32 {
            let f = if round % 2 == 0 {
                common::ipv4_tcp(c + 1, 40_000 + (c % 20_000) as u16, common::HTTP_GET)
            } else {
                common::ipv4_tcp(c + 1, 40_000 + (c % 20_000) as u16, &body)
            };
            t += 10;
            let ts = Timestamp {
                secs: t / 1_000_000,
                usecs: (t % 1_000_000) as u32,
            };
            out.push((ts, f.len() as u32, f));
        }
    }
    out
}

fn bench_set(
    c: &mut Criterion,
    name: &str,
    rules: &[PathBuf],
    frames: &[(Timestamp, u32, Vec<u8>)],
) {
    let (ruleset, _report) = load_rules(rules).unwrap();
    let ruleset = Arc::new(ruleset);
    let bytes: u64 = frames.iter().map(|f| f.2.len() as u64).sum();
    let mut g = c.benchmark_group("pipeline");
    g.throughput(Throughput::Bytes(bytes));
    g.sample_size(20);
    g.bench_function(name, |b| {
        b.iter(|| {
            // A fresh worker per pass, so every pass sees the flows start and end.
            let mut w = Worker::new(ruleset.clone(), config());
            let mut sink = Discard;
            let mut last = Timestamp::default();
            for (n, (ts, wire_len, data)) in frames.iter().enumerate() {
                let frame = Frame {
                    ts: *ts,
                    wire_len: *wire_len,
                    data,
                    link: LinkType::Ethernet,
                };
                w.process(&frame, n as u64 + 1, &mut sink).unwrap();
                last = *ts;
            }
            w.shutdown(last.secs, &mut sink).unwrap();
            w.stats().alerts
        })
    });
    g.finish();
}

fn benches(c: &mut Criterion) {
    let demo_rules = vec![demo_dir().join("demo.rules")];
    let demo = read_frames(&demo_dir().join("demo.pcap"));
    let http = http_frames();
    bench_set(c, "demo_pcap_demo_rules", &demo_rules, &demo);
    bench_set(c, "http_2000_flows_demo_rules", &demo_rules, &http);
    let et = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/corpus/rules/et-open-suricata-5.0");
    if et.is_dir() {
        bench_set(c, "demo_pcap_et_open", std::slice::from_ref(&et), &demo);
        bench_set(c, "http_2000_flows_et_open", &[et], &http);
    }
}

criterion_group!(pipeline_benches, benches);
criterion_main!(pipeline_benches);
