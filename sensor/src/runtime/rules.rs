//! Loading rule files for a run, with Suricata's default variables.

use std::path::PathBuf;

use signatures::{LoadReport, RuleSet, RuleSetBuilder, Vars};

/// Loads every path (file or directory of `*.rules`); an unreadable path is an error, a rule
/// that does not parse or is unsupported is only reported.
pub fn load_rules(paths: &[PathBuf]) -> Result<(RuleSet, LoadReport), signatures::LoadError> {
    build_rules(Vars::suricata_defaults(), paths, None)
}

/// Builds a rule set the way every run does (`replay`, and `run` at start and on reload), so
/// live alerts equal replayed ones: the sensor's features, protocols and buffers enabled,
/// `vars` for the header variables, and `previous`'s flow-variable ids kept on a reload.
pub fn build_rules(
    vars: Vars,
    paths: &[PathBuf],
    previous: Option<&RuleSet>,
) -> Result<(RuleSet, LoadReport), signatures::LoadError> {
    let mut builder = RuleSetBuilder::new(vars);
    if let Some(p) = previous {
        builder.inherit_var_ids(p);
    }
    // Both are exact on per-packet inspection: byte_test/byte_jump read the payload, and the
    // extra header protocols (tcp-pkt, icmpv4, icmpv6, ipv4, ipv6) only narrow the header.
    builder.enable_byte_keywords(true);
    builder.enable_extra_protocols(true);
    // What the app layer detects and the buffers its parsers hand to detection.
    for name in crate::app::PROVIDED_PROTOCOLS {
        builder.enable_app_protocol(name);
    }
    for kind in crate::app::PROVIDED_BUFFERS {
        builder.enable_buffer(*kind);
    }
    for p in paths {
        builder.add_path(p)?;
    }
    Ok(builder.build())
}

/// Prints parse errors (file:line:column) and a one-line unsupported summary to stderr.
pub fn report_to_stderr(report: &LoadReport) {
    for e in &report.errors {
        eprintln!("sensor: rule skipped: {e}");
    }
    let unsupported: usize = report.unsupported.values().sum();
    if unsupported > 0 {
        let mut reasons: Vec<_> = report.unsupported.iter().collect();
        reasons.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        let top: Vec<String> = reasons
            .iter()
            .take(8)
            .map(|(r, n)| format!("{r} ({n})"))
            .collect();
        eprintln!(
            "sensor: {unsupported} rule(s) skipped as unsupported: {}{}",
            top.join(", "),
            if reasons.len() > 8 { ", ..." } else { "" }
        );
    }
}
