//! Replay output is the same set of events whatever the number of workers.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

mod common;

use std::path::Path;

use common::{corpus_dir, demo_dir, run_sensor};

fn sorted_events(workers: &str, rules: &str, pcaps: &[&str]) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let eve = dir.path().join("eve.json");
    let mut args = vec![
        "replay",
        "--workers",
        workers,
        "--rules",
        rules,
        "--eve",
        eve.to_str().unwrap(),
    ];
    args.extend_from_slice(pcaps);
    let out = run_sensor(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut lines: Vec<String> = std::fs::read_to_string(&eve)
        .unwrap()
        .lines()
        // The stats record counts per-worker things (peaks, pools) and run time.
        .filter(|l| !l.contains("\"event_type\":\"stats\""))
        .map(str::to_string)
        .collect();
    lines.sort();
    lines
}

#[test]
fn demo_events_do_not_depend_on_worker_count() {
    let demo = demo_dir();
    let rules = demo.join("demo.rules");
    let pcap = demo.join("demo.pcap");
    let (rules, pcap) = (rules.to_str().unwrap(), pcap.to_str().unwrap());
    let one = sorted_events("1", rules, &[pcap]);
    assert!(!one.is_empty());
    for n in ["2", "3", "8"] {
        assert_eq!(sorted_events(n, rules, &[pcap]), one, "--workers {n}");
    }
}

/// Real captures and the ET Open rules: many flows, so every worker gets some.
#[test]
fn corpus_events_do_not_depend_on_worker_count() {
    let Some(corpus) = corpus_dir() else { return };
    let rules = corpus.join("rules/et-open-suricata-5.0");
    let pcaps: Vec<String> = [
        "ndpi/gnutella.pcap",
        "ndpi/whatsapp_login_call.pcap",
        "ndpi/iec60780-5-104.pcap",
        "ndpi/wa_video.pcap",
        "ndpi/stun.pcap",
        "ndpi/teams.pcap",
        "ndpi/irc.pcap",
        "ndpi/1kxun.pcap",
    ]
    .iter()
    .map(|p| corpus.join("pcaps").join(p))
    .filter(|p| p.is_file())
    .map(|p| p.to_string_lossy().into_owned())
    .collect();
    assert!(pcaps.len() >= 3, "expected nDPI captures in the corpus");
    let pcaps: Vec<&str> = pcaps.iter().map(String::as_str).collect();
    let rules = rules.to_str().unwrap();
    let one = sorted_events("1", rules, &pcaps);
    let four = sorted_events("4", rules, &pcaps);
    assert!(
        one.len() > 100,
        "these captures alert on ET Open: {}",
        one.len()
    );
    // Threshold and detection_filter state is shared by the workers, but which packet of a
    // thresholded rule alerts first within a window depends on thread timing. Everything
    // else must be identical.
    let thresholded = thresholded_sids(Path::new(rules));
    assert!(!thresholded.is_empty());
    let keep = |lines: Vec<String>| -> Vec<String> {
        lines
            .into_iter()
            .filter(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                v["alert"]["signature_id"]
                    .as_u64()
                    .is_none_or(|sid| !thresholded.contains(&sid))
            })
            .collect()
    };
    let (one, four) = (keep(one), keep(four));
    assert!(one.iter().any(|l| l.contains("\"event_type\":\"alert\"")));
    assert_eq!(one.len(), four.len());
    assert_eq!(one, four);
}

/// Sids of the rules in `dir` that use threshold or detection_filter.
fn thresholded_sids(dir: &Path) -> std::collections::HashSet<u64> {
    let mut sids = std::collections::HashSet::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
        for line in text.lines().filter(|l| !l.trim_start().starts_with('#')) {
            if !(line.contains("threshold:") || line.contains("detection_filter:")) {
                continue;
            }
            let sid = line
                .split("sid:")
                .nth(1)
                .and_then(|rest| rest.split(';').next())
                .and_then(|n| n.trim().parse().ok());
            if let Some(sid) = sid {
                sids.insert(sid);
            }
        }
    }
    sids
}
