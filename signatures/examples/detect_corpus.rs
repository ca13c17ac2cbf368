//! Runs ET Open detection over corpus capture payloads a fixed number of times, for
//! deterministic profiling (`perf stat -e instructions:u`), complementing the criterion bench.
//!
//! `cargo run --release -p signatures --example detect_corpus -- [PASSES]`

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../benches/support/pcapread.rs"]
mod pcapread;

use std::path::Path;
use std::time::Instant;

use signatures::{DetectInput, FlowState, RuleSetBuilder, Vars};

const CAPTURES: &[&str] = &[
    "/work/shared/corpus/pcaps/ndpi/1kxun.pcap",
    "/work/shared/corpus/pcaps/ndpi/netflix.pcap",
    "/work/shared/corpus/pcaps/ndpi/443-firefox.pcap",
    "/work/shared/corpus/pcaps/ndpi/gnutella.pcap",
    "/work/shared/corpus/pcaps/chrissanders-packets/http_espn.pcapng",
    "/work/shared/corpus/pcaps/chrissanders-packets/ek_to_cryptowall4.pcapng",
    "/work/shared/corpus/pcaps/chrissanders-packets/ratinfected.pcapng",
    "/work/shared/corpus/pcaps/chrissanders-packets/tcp_ports.pcapng",
];

fn main() {
    let passes: u32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20);
    let pkts = pcapread::packets(CAPTURES);
    let mut b = RuleSetBuilder::new(Vars::suricata_defaults());
    b.enable_byte_keywords(true).enable_extra_protocols(true);
    b.add_path(Path::new("/work/shared/corpus/rules/et-open-suricata-5.0"))
        .expect("ET Open");
    let (rules, _) = b.build();
    for (i, (pats, mem, always)) in rules.prefilter_stats().into_iter().enumerate() {
        println!(
            "group {i}: {pats} patterns, {} KiB automaton, {always} always",
            mem / 1024
        );
    }
    let inputs: Vec<DetectInput<'_>> = pkts
        .iter()
        .map(|p| {
            DetectInput::new(
                p.src,
                p.dst,
                p.sport,
                p.dport,
                p.proto,
                &p.payload,
                FlowState {
                    to_server: p.dport < p.sport,
                    established: true,
                    tracked: true,
                },
            )
        })
        .collect();
    let bytes: usize = pkts.iter().map(|p| p.payload.len()).sum();
    let mut scratch = rules.scratch();
    let mut alerts = 0u64;
    let t = Instant::now();
    for _ in 0..passes {
        for i in &inputs {
            rules.detect(i, &mut scratch, |_| alerts += 1);
        }
    }
    let el = t.elapsed();
    println!(
        "{} packets x {passes}: {alerts} alerts, {:.1} MiB/s",
        inputs.len(),
        (bytes as f64 * f64::from(passes)) / el.as_secs_f64() / 1048576.0
    );
}
