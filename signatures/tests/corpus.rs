//! Loads the real ET Open and Snort 3 community rule sets: no panic, every rule accounted for,
//! parse errors rare. Run with `--nocapture` to see the figures.

// Test helpers outside #[test] fns panic on purpose when a fixture is wrong.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::time::Instant;

use signatures::{DetectInput, FlowState, RuleSetBuilder, Vars};

const ET_DIR: &str = "/work/shared/corpus/rules/et-open-suricata-5.0";
const SNORT_FILE: &str = "/work/shared/corpus/rules/snort3-community/snort3-community.rules";

fn available(path: &str) -> bool {
    if Path::new(path).exists() {
        return true;
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{path} is missing and CI=true");
    }
    eprintln!("skipping: {path} not present");
    false
}

#[test]
fn et_open_loads() {
    if !available(ET_DIR) {
        return;
    }
    let start = Instant::now();
    let mut b = RuleSetBuilder::new(Vars::suricata_defaults());
    b.add_path(Path::new(ET_DIR)).unwrap();
    let (rules, report) = b.build();
    let elapsed = start.elapsed();
    let unsupported = report.unsupported_total();
    let total = report.rules.len();
    println!(
        "ET Open: {total} rules: {} loaded, {unsupported} unsupported, {} errors ({elapsed:?})",
        report.loaded,
        report.errors.len()
    );
    let mut reasons: Vec<_> = report.unsupported.iter().collect();
    reasons.sort_by(|a, b| b.1.cmp(a.1));
    for (reason, n) in reasons.iter().take(20) {
        println!("  {n:6} {reason}");
    }
    for e in report.errors.iter().take(20) {
        println!("  error: {e}");
    }
    assert_eq!(report.loaded + unsupported + report.errors.len(), total);
    assert_eq!(rules.len(), report.loaded);
    assert!(report.loaded > 1000, "too few rules loaded");
    assert!(
        report.errors.len() * 200 < total,
        "parse errors are not rare: {}",
        report.errors.len()
    );

    // Smoke-run detection on a few payloads so the prefilter is exercised on real rules.
    let mut scratch = rules.scratch();
    let payloads: [&[u8]; 3] = [
        b"GET / HTTP/1.1\r\nHost: example.com\r\nUser-Agent: curl\r\n\r\n",
        b"\x00\x01\x02\x03 SSH-2.0-OpenSSH",
        &[0x41; 1500],
    ];
    let mut hits = 0;
    for p in payloads {
        let input = DetectInput {
            src_ip: "10.0.0.1".parse().unwrap(),
            dst_ip: "8.8.8.8".parse().unwrap(),
            src_port: 40000,
            dst_port: 80,
            ip_proto: 6,
            payload: p,
            flow: FlowState {
                to_server: true,
                established: true,
            },
        };
        rules.detect(&input, &mut scratch, |_| hits += 1);
    }
    println!("  smoke detect hits: {hits}");
}

#[test]
fn snort3_community_does_not_panic() {
    if !available(SNORT_FILE) {
        return;
    }
    let mut b = RuleSetBuilder::new(Vars::suricata_defaults());
    b.add_path(Path::new(SNORT_FILE)).unwrap();
    let (_rules, report) = b.build();
    println!(
        "Snort 3 community: {} rules: {} loaded, {} unsupported, {} errors",
        report.rules.len(),
        report.loaded,
        report.unsupported_total(),
        report.errors.len()
    );
    let mut reasons: Vec<_> = report.unsupported.iter().collect();
    reasons.sort_by(|a, b| b.1.cmp(a.1));
    for (reason, n) in reasons.iter().take(10) {
        println!("  {n:6} {reason}");
    }
    for e in report.errors.iter().take(5) {
        println!("  error: {e}");
    }
    assert_eq!(
        report.loaded + report.unsupported_total() + report.errors.len(),
        report.rules.len()
    );
}

#[test]
fn unreadable_path_is_a_load_error() {
    let mut b = RuleSetBuilder::new(Vars::suricata_defaults());
    let err = b
        .add_path(Path::new("/nonexistent/dir/x.rules"))
        .unwrap_err();
    assert!(err.to_string().contains("/nonexistent/dir/x.rules"));
}
