//! `cargo xtask demo`: the one-command tour on a fresh Debian machine.
//!
//! Installs libpcap-dev if missing, builds the sensor in release mode,
//! replays the bundled demo capture with the bundled rules and prints the
//! alerts as a table, so a newcomer sees the sensor work end to end without
//! knowing any of its flags.

use crate::{install, paths, proc};
use anyhow::{bail, Context, Result};
use serde_json::Value as Json;
use std::collections::BTreeMap;
use std::process::Command;

/// Run the demo end to end.
pub fn run() -> Result<()> {
    let root = paths::workspace_root();
    install::ensure(&[install::LIBPCAP_DEV], &[])?;
    proc::run(
        Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string()))
            .args(["build", "--release", "-p", "sensor"])
            .current_dir(&root),
    )
    .context("building the sensor (release)")?;

    let sensor = paths::sensor_binary("release");
    let demo = paths::demo_dir();
    let rules = demo.join("demo.rules");
    let pcap = demo.join("demo.pcap");
    for input in [&rules, &pcap] {
        if !input.is_file() {
            bail!(
                "{} is missing (run `cargo xtask gen-demo`?)",
                input.display()
            );
        }
    }
    let out_dir = paths::target_dir().join("demo");
    std::fs::create_dir_all(&out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    let eve = out_dir.join("eve.json");
    let _ = std::fs::remove_file(&eve);
    proc::run(
        Command::new(&sensor)
            .arg("replay")
            .arg("--rules")
            .arg(&rules)
            .arg("--eve")
            .arg(&eve)
            .arg(&pcap)
            .current_dir(&root),
    )
    .context("replaying the demo capture")?;

    let text = std::fs::read_to_string(&eve)
        .with_context(|| format!("the sensor did not write {}", eve.display()))?;
    let mut alerts = Vec::new();
    for (n, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let record: Json = serde_json::from_str(line)
            .with_context(|| format!("{} line {} is not JSON", eve.display(), n + 1))?;
        if record.get("event_type").and_then(Json::as_str) == Some("alert") {
            alerts.push(record);
        }
    }
    // Workers finish out of order; show alerts in capture order.
    alerts.sort_by_key(|a| {
        (
            a.get("pcap_cnt").and_then(Json::as_u64).unwrap_or(u64::MAX),
            a.get("alert")
                .and_then(|x| x.get("signature_id"))
                .and_then(Json::as_u64)
                .unwrap_or(0),
        )
    });
    println!();
    print_table(&alerts);
    println!();
    print_counts(&alerts);
    compare_with_expected(&alerts, &demo.join("expected-alerts.json"));
    println!("\nfull EVE output: {}", eve.display());
    Ok(())
}

fn text(record: &Json, path: &[&str]) -> String {
    let mut v = record;
    for p in path {
        match v.get(p) {
            Some(next) => v = next,
            None => return String::new(),
        }
    }
    match v {
        Json::String(s) => s.clone(),
        Json::Null => String::new(),
        other => other.to_string(),
    }
}

/// `2023-11-14T22:13:20.001000+0000` -> `22:13:20.001`.
fn short_time(ts: &str) -> String {
    let time = ts.split_once('T').map_or(ts, |(_, t)| t);
    let time = time.split(['+', 'Z']).next().unwrap_or(time);
    match time.split_once('.') {
        Some((hms, frac)) => format!("{hms}.{}", &frac[..frac.len().min(3)]),
        None => time.to_string(),
    }
}

fn endpoint(record: &Json, ip: &str, port: &str) -> String {
    // EVE writes IPv6 expanded, as Suricata does; a table reads better compressed.
    let ip_text = text(record, &[ip]);
    let ip_text = ip_text
        .parse::<std::net::IpAddr>()
        .map_or(ip_text, |a| a.to_string());
    let port_text = text(record, &[port]);
    let ip_text = if ip_text.contains(':') {
        format!("[{ip_text}]")
    } else {
        ip_text
    };
    if port_text.is_empty() {
        ip_text
    } else {
        format!("{ip_text}:{port_text}")
    }
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(max - 1).collect::<String>())
    }
}

/// Print rows as left-aligned columns under a header.
fn print_columns(header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c}{}", " ".repeat(w.saturating_sub(c.chars().count()))))
            .collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(header.iter().map(|h| h.to_string()).collect());
    line(widths.iter().map(|w| "-".repeat(*w)).collect());
    for row in rows {
        line(row.clone());
    }
}

fn print_table(alerts: &[Json]) {
    if alerts.is_empty() {
        println!("no alerts");
        return;
    }
    let rows: Vec<Vec<String>> = alerts
        .iter()
        .map(|a| {
            let vlan = a
                .get("vlan")
                .and_then(Json::as_array)
                .map(|v| {
                    format!(
                        " vlan {}",
                        v.iter()
                            .map(|x| x.to_string())
                            .collect::<Vec<_>>()
                            .join("/")
                    )
                })
                .unwrap_or_default();
            vec![
                short_time(&text(a, &["timestamp"])),
                text(a, &["alert", "signature_id"]),
                text(a, &["alert", "severity"]),
                truncate(&text(a, &["alert", "signature"]), 56),
                format!(
                    "{} -> {}",
                    endpoint(a, "src_ip", "src_port"),
                    endpoint(a, "dest_ip", "dest_port")
                ),
                format!("{}{vlan}", text(a, &["proto"])),
            ]
        })
        .collect();
    println!("{} alert(s):", alerts.len());
    print_columns(
        &["TIME", "SID", "SEV", "SIGNATURE", "SRC -> DEST", "PROTO"],
        &rows,
    );
}

fn print_counts(alerts: &[Json]) {
    let mut counts: BTreeMap<(String, String), usize> = BTreeMap::new();
    for a in alerts {
        let key = (
            text(a, &["alert", "signature_id"]),
            text(a, &["alert", "signature"]),
        );
        *counts.entry(key).or_default() += 1;
    }
    let mut rows: Vec<_> = counts.into_iter().collect();
    rows.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let rows: Vec<Vec<String>> = rows
        .into_iter()
        .map(|((sid, sig), n)| vec![n.to_string(), sid, sig])
        .collect();
    println!("alerts by signature:");
    print_columns(&["COUNT", "SID", "SIGNATURE"], &rows);
}

/// Tell the user whether the run matches what the capture was designed to
/// trigger (informational: the sensor's own tests enforce it).
fn compare_with_expected(alerts: &[Json], expected_path: &std::path::Path) {
    let Ok(text) = std::fs::read_to_string(expected_path) else {
        return;
    };
    let Ok(Json::Array(expected)) = serde_json::from_str::<Json>(&text) else {
        return;
    };
    let mut diffs = Vec::new();
    for e in &expected {
        let (Some(sid), Some(count)) = (
            e.get("sid").and_then(Json::as_u64),
            e.get("count").and_then(Json::as_u64),
        ) else {
            continue;
        };
        let got = alerts
            .iter()
            .filter(|a| {
                a.get("alert")
                    .and_then(|x| x.get("signature_id"))
                    .and_then(Json::as_u64)
                    == Some(sid)
            })
            .count() as u64;
        if got != count {
            diffs.push(format!("sid {sid}: expected {count}, got {got}"));
        }
    }
    if diffs.is_empty() {
        println!(
            "\nmatches {} ({} sids)",
            expected_path.display(),
            expected.len()
        );
    } else {
        println!("\ndiffers from {}:", expected_path.display());
        for d in diffs {
            println!("  {d}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_and_endpoint_formatting() {
        assert_eq!(
            short_time("2023-11-14T22:13:20.001000+0000"),
            "22:13:20.001"
        );
        let r = serde_json::json!({"src_ip":"2001:db8::1","src_port":80,"dest_ip":"10.0.0.1"});
        assert_eq!(endpoint(&r, "src_ip", "src_port"), "[2001:db8::1]:80");
        assert_eq!(endpoint(&r, "dest_ip", "dest_port"), "10.0.0.1");
        let r = serde_json::json!({"src_ip":"2001:0db8:0000:0000:0000:0000:0000:0001"});
        assert_eq!(endpoint(&r, "src_ip", "src_port"), "[2001:db8::1]");
        assert_eq!(truncate("abcdef", 4), "abc…");
    }
}
