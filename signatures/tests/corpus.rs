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
    let mut with_bytes = RuleSetBuilder::new(Vars::suricata_defaults());
    with_bytes
        .enable_byte_keywords(true)
        .enable_extra_protocols(true);
    with_bytes.add_path(Path::new(ET_DIR)).unwrap();
    let (_, bytes_report) = with_bytes.build();
    println!(
        "ET Open with byte_test/byte_jump and extra protocols enabled: {} loaded, {} errors",
        bytes_report.loaded,
        bytes_report.errors.len()
    );
    assert!(bytes_report.errors.is_empty());
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
    println!(
        "  inactive {}, loaded+inactive {:.2}%",
        report.inactive,
        100.0 * (report.loaded + report.inactive) as f64 / total as f64
    );
    assert_eq!(
        report.loaded + report.inactive + unsupported + report.errors.len(),
        total
    );
    assert_eq!(rules.len(), report.loaded);
    assert_eq!(rules.inactive_rules().count(), report.inactive);
    assert!(report.loaded > 1000, "too few rules loaded");
    // With the sensor's options, at least 95% of ET Open loads (active or inactive).
    let with = &bytes_report;
    assert!(
        (with.loaded + with.inactive) * 100 >= with.total() * 95,
        "{} active + {} inactive of {}",
        with.loaded,
        with.inactive,
        with.total()
    );
    assert!(
        report.errors.len() * 200 < total,
        "parse errors are not rare: {}",
        report.errors.len()
    );

    // Real rules fire on crafted packets (and only where they should).
    let mut scratch = rules.scratch();
    let mut run = |dport: u16, payload: &[u8]| {
        let input = DetectInput {
            src_ip: "10.0.0.1".parse().unwrap(),
            dst_ip: "8.8.8.8".parse().unwrap(),
            src_port: 40000,
            dst_port: dport,
            ip_proto: 6,
            payload,
            flow: FlowState {
                tracked: true,
                to_server: true,
                established: true,
            },
            ..DetectInput::default()
        };
        let mut sids = Vec::new();
        rules.detect(&input, &mut scratch, |m| sids.push(m.sid));
        sids
    };
    // sid 2008402: dsize:<30; content:"|43 01 00|"; depth:4; content:"Casino"; nocase;
    assert!(run(20000, b"\x43\x01\x00xcaSINO").contains(&2008402));
    assert!(!run(20000, b"xx\x43\x01\x00casino").contains(&2008402));
    assert!(!run(20001, b"\x43\x01\x00xcasino").contains(&2008402));
    // sid 2013956: two UTF-16 contents, the second at distance:0.
    let smart = b"S\0M\0A\0R\0T\0P\0O\0P";
    let db = b"D\0B\0_\0S\0M\0A\0R\0T\0P\0O\0P";
    assert!(run(5217, &[&smart[..], b"..", &db[..]].concat()).contains(&2013956));
    assert!(!run(5217, &[&db[..], b"..", &smart[..]].concat()).contains(&2013956));
    let hits: usize = [
        &b"GET / HTTP/1.1\r\nHost: example.com\r\nUser-Agent: curl\r\n\r\n"[..],
        &[0x41; 1500][..],
    ]
    .iter()
    .map(|p| run(80, p).len())
    .sum();
    println!("  smoke detect hits: {hits}");
}

/// As the sensor loads ET Open once its DNS, HTTP and TLS parsers run: every buffer and those
/// protocols enabled. What stays inactive is only protocols (and app-layer keywords) the sensor
/// does not parse; buffer rules sit in the app-layer pass.
#[test]
fn et_open_with_all_buffers() {
    if !available(ET_DIR) {
        return;
    }
    let start = Instant::now();
    let mut b = RuleSetBuilder::new(Vars::suricata_defaults());
    b.enable_byte_keywords(true).enable_extra_protocols(true);
    for k in signatures::BufferKind::all() {
        b.enable_buffer(k);
    }
    for a in ["http", "dns", "tls"] {
        b.enable_app_protocol(a);
    }
    b.add_path(Path::new(ET_DIR)).unwrap();
    let (rules, report) = b.build();
    println!(
        "ET Open, all buffers: {} active ({} in the app-layer pass), {} inactive, {} unsupported, {} errors; compile {} ms, total {:?}",
        report.loaded,
        rules.app_rules(),
        report.inactive,
        report.unsupported_total(),
        report.errors.len(),
        report.compile_ms,
        start.elapsed()
    );
    for (reason, n) in &report.inactive_reasons {
        println!("  inactive {n:6} {reason}");
    }
    for (reason, n) in &report.unsupported {
        println!("  unsupported {n:6} {reason}");
    }
    assert!(report.errors.is_empty());
    assert!(
        rules.app_rules() * 2 > report.loaded,
        "most ET rules are app-layer rules"
    );
    for reason in report.inactive_reasons.keys() {
        assert!(
            reason.starts_with("protocol ") || reason.starts_with("keyword "),
            "inactive for {reason} with every buffer enabled"
        );
        for parsed in ["http", "dns", "tls"] {
            assert_ne!(reason, &format!("protocol {parsed}"));
        }
    }
    assert!(report.loaded * 100 >= report.total() * 99);
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
        report.loaded + report.inactive + report.unsupported_total() + report.errors.len(),
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

/// Rough detection throughput on the ET Open rules that load (run with `--release --ignored`).
#[test]
#[ignore]
fn et_open_detect_throughput() {
    if !available(ET_DIR) {
        return;
    }
    let mut b = RuleSetBuilder::new(Vars::suricata_defaults());
    b.add_path(Path::new(ET_DIR)).unwrap();
    let (rules, _) = b.build();
    let mut scratch = rules.scratch();
    let mut payload = Vec::new();
    for i in 0..1400u32 {
        payload.push(b"GET /index.html HTTP/1.1\r\nHost: a\r\n\x00\x01"[(i % 37) as usize]);
    }
    let n = 20_000;
    let start = Instant::now();
    let mut hits = 0usize;
    for i in 0..n {
        let input = DetectInput {
            src_ip: std::net::IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0001 + i)),
            dst_ip: std::net::IpAddr::V4(std::net::Ipv4Addr::from(0x5db8_d822 + i)),
            src_port: 40000,
            dst_port: 80,
            ip_proto: 6,
            payload: if std::env::var("BENCH_EMPTY").is_ok() {
                &[]
            } else {
                &payload[..(i as usize % 1400)]
            },
            flow: FlowState {
                tracked: true,
                to_server: true,
                established: true,
            },
            ..DetectInput::default()
        };
        rules.detect(&input, &mut scratch, |_| hits += 1);
    }
    let el = start.elapsed();
    println!(
        "{} rules, {n} packets in {el:?}: {:.1} us/packet, {hits} hits",
        rules.len(),
        el.as_secs_f64() * 1e6 / f64::from(n)
    );
}

/// The suricata-verify test rules are valid Suricata 7/8 rules: report what we reject.
#[test]
fn suricata_verify_rules() {
    let root = Path::new("/work/shared/corpus/suricata-verify/tests");
    if !available(&root.display().to_string()) {
        return;
    }
    let mut dirs: Vec<_> = std::fs::read_dir(root)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    dirs.sort();
    // One builder per test: sids repeat across tests.
    let (mut total, mut loaded, mut unsupported, mut inactive) = (0, 0, 0, 0);
    let mut errors = Vec::new();
    let mut reasons = std::collections::BTreeMap::<String, usize>::new();
    for d in dirs {
        let f = d.join("test.rules");
        if !f.exists() {
            continue;
        }
        let mut b = RuleSetBuilder::new(Vars::suricata_defaults());
        b.add_path(&f).unwrap();
        let (_, report) = b.build();
        total += report.rules.len();
        loaded += report.loaded;
        inactive += report.inactive;
        unsupported += report.unsupported_total();
        for (r, n) in report.unsupported {
            *reasons.entry(r).or_default() += n;
        }
        errors.extend(report.errors);
    }
    println!(
        "suricata-verify: {total} rules: {loaded} loaded, {inactive} inactive, {unsupported} unsupported, {} errors",
        errors.len()
    );
    let mut reasons: Vec<_> = reasons.into_iter().collect();
    reasons.sort_by_key(|r| std::cmp::Reverse(r.1));
    for (reason, n) in reasons.iter().take(25) {
        println!("  {n:6} {reason}");
    }
    for e in &errors {
        println!("  error: {e}");
    }
    assert!(errors.is_empty(), "valid Suricata rules rejected");
}
