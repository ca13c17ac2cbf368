//! `cargo xtask app-compare`: how closely the sensor's `dns`, `http` and `tls` records agree
//! with Suricata's on the corpus captures.
//!
//! For every capture under `../shared/corpus/pcaps` (or the paths given), it runs
//! `sensor replay --eve-types dns,http,tls --workers 1` and `suricata -r` with no rules, then
//! compares the records per protocol as multisets of the fields an analyst pivots on:
//! - dns: type, rrname, rrtype (and rcode for answers);
//! - http: hostname, url, http_method, status, http_user_agent;
//! - tls: sni, ja3 hash, ja3s hash, subject.
//!
//! It prints, per protocol, Suricata's record count, ours, how many records agree on every
//! field, and the agreement per field; `--verbose` lists the captures that differ. Captures
//! in which neither tool logs any of the three protocols are not counted.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};
use serde_json::Value as Json;

use crate::{install, paths, proc};

/// Options of `cargo xtask app-compare`.
#[derive(Debug, clap::Args)]
pub struct AppCompareArgs {
    /// Captures or directories (default: the corpus pcaps).
    pub paths: Vec<PathBuf>,
    /// List the captures whose records differ.
    #[arg(long)]
    pub verbose: bool,
    /// Only captures whose path contains this string.
    #[arg(long)]
    pub filter: Option<String>,
}

/// The protocols compared, with the fields compared for each (JSON paths inside the
/// protocol object).
const PROTOCOLS: &[(&str, &[&str])] = &[
    ("dns", &["type", "rrname", "rrtype", "rcode"]),
    (
        "http",
        &[
            "hostname",
            "url",
            "http_method",
            "status",
            "http_user_agent",
        ],
    ),
    ("tls", &["sni", "ja3.hash", "ja3s.hash", "subject"]),
];

/// Per-protocol totals.
#[derive(Debug, Default, Clone)]
struct Tally {
    theirs: usize,
    ours: usize,
    identical: usize,
    /// Per field: values in common (multiset intersection).
    fields: BTreeMap<&'static str, usize>,
    differing: Vec<String>,
}

/// Runs the comparison and prints the table.
pub fn run(args: &AppCompareArgs) -> Result<()> {
    install::ensure_suricata()?;
    proc::run(
        Command::new(env!("CARGO"))
            .current_dir(paths::workspace_root())
            .args(["build", "--release", "-p", "sensor"]),
    )
    .context("building the sensor (release)")?;
    let sensor = paths::sensor_binary("release");
    let roots = if args.paths.is_empty() {
        vec![paths::workspace_root()
            .join("..")
            .join("shared")
            .join("corpus")
            .join("pcaps")]
    } else {
        args.paths.clone()
    };
    let mut captures = Vec::new();
    for r in &roots {
        collect(r, &mut captures);
    }
    captures.sort();
    if let Some(f) = &args.filter {
        captures.retain(|p| p.to_string_lossy().contains(f.as_str()));
    }
    let work = paths::target_dir().join("app-compare");
    let mut tallies: Vec<Tally> = vec![Tally::default(); PROTOCOLS.len()];
    let mut used = 0;
    for (i, pcap) in captures.iter().enumerate() {
        let dir = work.join(i.to_string());
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        let theirs = run_suricata(pcap, &dir).unwrap_or_default();
        let ours = run_sensor(&sensor, pcap, &dir).unwrap_or_default();
        let _ = std::fs::remove_dir_all(&dir);
        if theirs.is_empty() && ours.is_empty() {
            continue;
        }
        used += 1;
        for ((proto, fields), tally) in PROTOCOLS.iter().zip(tallies.iter_mut()) {
            let a = keys(&theirs, proto, fields);
            let b = keys(&ours, proto, fields);
            if a.is_empty() && b.is_empty() {
                continue;
            }
            tally.theirs += a.len();
            tally.ours += b.len();
            let same = common(&a, &b);
            tally.identical += same;
            if same != a.len() || same != b.len() {
                tally.differing.push(format!(
                    "{}: suricata {} sensor {} identical {}",
                    pcap.display(),
                    a.len(),
                    b.len(),
                    same
                ));
            }
            for (fi, field) in fields.iter().enumerate() {
                let fa: Vec<Vec<String>> = a.iter().map(|k| vec![k[fi].clone()]).collect();
                let fb: Vec<Vec<String>> = b.iter().map(|k| vec![k[fi].clone()]).collect();
                *tally.fields.entry(field).or_default() += common(&fa, &fb);
            }
        }
    }
    println!(
        "app-compare: {used} of {} captures have dns/http/tls records",
        captures.len()
    );
    for ((proto, _), t) in PROTOCOLS.iter().zip(&tallies) {
        let pct = |n: usize| {
            if t.theirs == 0 {
                100.0
            } else {
                100.0 * n as f64 / t.theirs.max(t.ours) as f64
            }
        };
        println!(
            "{proto:5} suricata {:6} sensor {:6} identical {:6} ({:.1}%)",
            t.theirs,
            t.ours,
            t.identical,
            pct(t.identical)
        );
        for (field, n) in &t.fields {
            println!("        {field:16} {:.1}%", pct(*n));
        }
        if args.verbose {
            for d in &t.differing {
                println!("        differs: {d}");
            }
        }
    }
    Ok(())
}

/// Every capture file under `root` (or `root` itself).
fn collect(root: &Path, out: &mut Vec<PathBuf>) {
    if root.is_file() {
        out.push(root.to_path_buf());
        return;
    }
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            collect(&p, out);
        } else if matches!(
            p.extension().and_then(|x| x.to_str()),
            Some("pcap" | "pcapng" | "cap")
        ) {
            out.push(p);
        }
    }
}

fn read_records(path: &Path) -> Vec<Json> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Json>(l).ok())
        .filter(|r| {
            matches!(
                r.get("event_type").and_then(Json::as_str),
                Some("dns" | "http" | "tls")
            )
        })
        .collect()
}

fn run_suricata(pcap: &Path, dir: &Path) -> Result<Vec<Json>> {
    let rules = dir.join("empty.rules");
    std::fs::write(&rules, "")?;
    let status = Command::new("suricata")
        .arg("-r")
        .arg(pcap)
        .arg("-l")
        .arg(dir)
        .arg("-S")
        .arg(&rules)
        .args(["-k", "none", "--runmode", "single"])
        // JA3 is logged only when a rule uses it unless switched on; the sensor always has it.
        .args(["--set", "app-layer.protocols.tls.ja3-fingerprints=yes"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()?;
    anyhow::ensure!(status.success(), "suricata failed on {}", pcap.display());
    Ok(read_records(&dir.join("eve.json")))
}

fn run_sensor(sensor: &Path, pcap: &Path, dir: &Path) -> Result<Vec<Json>> {
    let eve = dir.join("sensor.json");
    let _ = Command::new(sensor)
        .arg("replay")
        .args(["--workers", "1", "--eve-types", "dns,http,tls", "--eve"])
        .arg(&eve)
        .arg(pcap)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()?;
    Ok(read_records(&eve))
}

/// One record's compared fields, as strings (absent fields as "").
fn keys(records: &[Json], proto: &str, fields: &[&str]) -> Vec<Vec<String>> {
    records
        .iter()
        .filter(|r| r.get("event_type").and_then(Json::as_str) == Some(proto))
        .filter_map(|r| r.get(proto))
        .map(|obj| {
            fields
                .iter()
                .map(|f| {
                    let v = f.split('.').try_fold(obj, |v, k| v.get(k));
                    match v {
                        Some(Json::String(s)) => s.clone(),
                        Some(Json::Null) | None => String::new(),
                        Some(other) => other.to_string(),
                    }
                })
                .collect()
        })
        .collect()
}

/// Size of the multiset intersection of `a` and `b`.
fn common(a: &[Vec<String>], b: &[Vec<String>]) -> usize {
    let mut counts: BTreeMap<&Vec<String>, usize> = BTreeMap::new();
    for k in a {
        *counts.entry(k).or_default() += 1;
    }
    let mut n = 0;
    for k in b {
        if let Some(c) = counts.get_mut(k) {
            if *c > 0 {
                *c -= 1;
                n += 1;
            }
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn multiset_agreement_counts_each_record_once() {
        let theirs = vec![
            json!({"event_type":"dns","dns":{"type":"query","rrname":"a.example","rrtype":"A"}}),
            json!({"event_type":"dns","dns":{"type":"query","rrname":"a.example","rrtype":"A"}}),
        ];
        let ours = vec![
            json!({"event_type":"dns","dns":{"type":"query","rrname":"a.example","rrtype":"A"}}),
        ];
        let f = &["type", "rrname", "rrtype", "rcode"];
        let (a, b) = (keys(&theirs, "dns", f), keys(&ours, "dns", f));
        assert_eq!(common(&a, &b), 1);
        assert_eq!(a[0], vec!["query", "a.example", "A", ""]);
    }
}
