//! Loads rule files and prints the load report figures (what `sensor rules check` reports).
//!
//! `cargo run --release -p signatures --example rules_check -- [--all-buffers] PATH...`
//!
//! `--all-buffers` enables every app-layer buffer and the http/dns/tls protocols, as the
//! sensor does once its app-layer parsers run. CPU time (user+system, all threads) is read
//! from /proc/self/stat on Linux.

use std::path::Path;
use std::time::Instant;

use signatures::{BufferKind, RuleSetBuilder, Vars};

/// CPU seconds (user + system) of this process so far, when /proc says.
fn cpu_secs() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = after.split_whitespace().collect();
    // Fields 14 and 15 of stat (utime, stime) are 12 and 13 after the command name.
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

fn main() {
    let cpu0 = cpu_secs();
    let start = Instant::now();
    let mut b = RuleSetBuilder::new(Vars::suricata_defaults());
    b.enable_byte_keywords(true).enable_extra_protocols(true);
    for p in std::env::args().skip(1) {
        if p == "--all-buffers" {
            for k in BufferKind::all() {
                b.enable_buffer(k);
            }
            for a in ["http", "dns", "tls"] {
                b.enable_app_protocol(a);
            }
            continue;
        }
        if let Err(e) = b.add_path(Path::new(&p)) {
            eprintln!("{e}");
            std::process::exit(1);
        }
    }
    let parsed = start.elapsed();
    let parse_cpu = cpu0.zip(cpu_secs()).map(|(a, b)| b - a);
    let (rules, report) = b.build();
    let total = start.elapsed();
    let cpu = cpu0.zip(cpu_secs()).map(|(a, b)| b - a);
    println!(
        "rules_total {} loaded(active) {} inactive {} failed {} skipped {}",
        report.total(),
        report.loaded,
        report.inactive,
        report.failed(),
        report.unsupported_total()
    );
    println!(
        "parse {parsed:?} wall ({parse_cpu:?} s CPU), compile {} ms wall, total {total:?} wall, {cpu:?} s CPU; max stream span {}",
        report.compile_ms,
        rules.max_stream_match_span()
    );
    let mut sk: Vec<_> = report.skipped_by_keyword().into_iter().collect();
    sk.sort_by_key(|e| std::cmp::Reverse(e.1));
    println!(
        "app-layer rules {}; groups (patterns, automaton bytes, always): {:?}",
        rules.app_rules(),
        rules.prefilter_stats()
    );
    println!("skipped by keyword:");
    for (k, n) in sk.iter().take(25) {
        println!("  {n:6} {k}");
    }
    let mut ina: Vec<_> = report.inactive_reasons.iter().collect();
    ina.sort_by_key(|e| std::cmp::Reverse(*e.1));
    println!("inactive reasons:");
    for (k, n) in ina.iter().take(25) {
        println!("  {n:6} {k}");
    }
    println!("errors:");
    for e in report.errors.iter().take(40) {
        println!("  {e}");
    }
}
