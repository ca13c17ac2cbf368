//! `sensor rules check`: what an operator runs before deploying a rule file, and what the
//! conformance harness uses to decide skips before running a case.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::runtime::rules::load_rules;

/// Loads the rules and prints the load report, as text or one JSON object.
pub fn run(paths: &[PathBuf], json: bool) -> anyhow::Result<ExitCode> {
    let (rules, report) = load_rules(paths)?;
    if json {
        let v = serde_json::json!({
            "loaded": report.loaded,
            "errors": report.errors.iter().map(|e| serde_json::json!({
                "location": format!("{}:{}:{}", e.file, e.line, e.column),
                "message": e.message,
            })).collect::<Vec<_>>(),
            "unsupported": report.unsupported,
            "rules": report.rules.iter().map(|r| serde_json::json!({
                "sid": r.sid,
                "location": r.location,
                "skipped": r.skipped,
            })).collect::<Vec<_>>(),
        });
        println!("{v}");
    } else {
        for e in &report.errors {
            println!("{e}");
        }
        for (reason, n) in &report.unsupported {
            println!("unsupported: {reason}: {n} rule(s)");
        }
        println!(
            "{} rules loaded, {} failed to parse, {} unsupported",
            rules.len(),
            report.errors.len(),
            report.unsupported.values().sum::<usize>()
        );
    }
    Ok(ExitCode::SUCCESS)
}
