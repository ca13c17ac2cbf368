//! `sensor rules check`: what an operator runs before deploying a rule file, and what the
//! conformance harness uses to decide skips before running a case.
//!
//! Exit status: 0 when every rule loaded and is active, 1 when some failed, were skipped as
//! unsupported or loaded inactive (their app-layer parser is not built yet), 2 when a path
//! could not be read.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use crate::runtime::rules::load_rules;

/// Loads the rules and prints the load report, as text or one JSON object.
pub fn run(paths: &[PathBuf], json: bool) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let (rules, report) = match load_rules(paths) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("sensor: error: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    let load_ms = started.elapsed().as_millis();
    if json {
        let v = serde_json::json!({
            "rules_total": report.total(),
            "rules_loaded": report.loaded,
            "rules_inactive": report.inactive,
            "rules_failed": report.failed(),
            "rules_skipped": report.unsupported_total(),
            "skipped_by_keyword": report.skipped_by_keyword(),
            "unsupported": report.unsupported,
            "inactive_reasons": report.inactive_reasons,
            "errors": report.errors.iter().map(|e| serde_json::json!({
                "file": e.file,
                "line": e.line,
                "column": e.column,
                "message": e.message,
            })).collect::<Vec<_>>(),
            "compile_ms": report.compile_ms,
            "load_ms": load_ms,
            "rules": report.rules.iter().map(|r| serde_json::json!({
                "sid": r.sid,
                "location": r.location,
                "skipped": r.skipped,
                "inactive": r.inactive,
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
        for (reason, n) in &report.inactive_reasons {
            println!("inactive (no parser yet): {reason}: {n} rule(s)");
        }
        println!(
            "{} rules: {} loaded and active, {} inactive, {} failed to parse, {} unsupported; \
             loaded in {} ms (compile {} ms)",
            report.total(),
            rules.len(),
            report.inactive,
            report.failed(),
            report.unsupported_total(),
            load_ms,
            report.compile_ms
        );
    }
    let all_active =
        report.failed() == 0 && report.unsupported_total() == 0 && report.inactive == 0;
    Ok(if all_active {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
