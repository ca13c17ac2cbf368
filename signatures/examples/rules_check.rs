//! Loads rule files and prints the load report figures (what `sensor rules check` reports).
//!
//! `cargo run --release -p signatures --example rules_check -- PATH...`

use std::path::Path;
use std::time::Instant;

use signatures::{RuleSetBuilder, Vars};

fn main() {
    let start = Instant::now();
    let mut b = RuleSetBuilder::new(Vars::suricata_defaults());
    b.enable_byte_keywords(true).enable_extra_protocols(true);
    for p in std::env::args().skip(1) {
        if let Err(e) = b.add_path(Path::new(&p)) {
            eprintln!("{e}");
            std::process::exit(1);
        }
    }
    let parsed = start.elapsed();
    let (rules, report) = b.build();
    let total = start.elapsed();
    println!(
        "rules_total {} loaded(active) {} inactive {} failed {} skipped {}",
        report.total(),
        report.loaded,
        report.inactive,
        report.failed(),
        report.unsupported_total()
    );
    println!(
        "parse {parsed:?}, compile {} ms, total {total:?}; max stream span {}",
        report.compile_ms,
        rules.max_stream_match_span()
    );
    let mut sk: Vec<_> = report.skipped_by_keyword().into_iter().collect();
    sk.sort_by_key(|e| std::cmp::Reverse(e.1));
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
