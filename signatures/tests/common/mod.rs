//! Shared helpers for the integration tests.
#![allow(dead_code)]

use signatures::{DetectInput, FlowState, LoadReport, RuleSet, RuleSetBuilder, Vars};

/// Builds a rule set from inline text named `x.rules`.
pub fn load(src: &str) -> (RuleSet, LoadReport) {
    let mut b = RuleSetBuilder::new(Vars::suricata_defaults());
    b.add_source("x.rules", src);
    b.build()
}

/// Error messages (with locations) from loading `src`.
pub fn errors(src: &str) -> Vec<String> {
    load(src).1.errors.iter().map(|e| e.to_string()).collect()
}

/// The only error from loading `src`.
pub fn error(src: &str) -> String {
    let e = errors(src);
    assert_eq!(e.len(), 1, "expected exactly one error, got {e:?}");
    e[0].clone()
}

/// A TCP packet 10.0.0.1:40000 -> 8.8.8.8:80, to_server, established.
pub fn tcp(payload: &[u8]) -> DetectInput<'_> {
    DetectInput {
        src_ip: "10.0.0.1".parse().unwrap(),
        dst_ip: "8.8.8.8".parse().unwrap(),
        src_port: 40000,
        dst_port: 80,
        ip_proto: 6,
        payload,
        flow: FlowState {
            tracked: true,
            to_server: true,
            established: true,
        },
        ..DetectInput::default()
    }
}

/// Sids firing for `input`, in callback order.
pub fn fired(rules: &RuleSet, input: &DetectInput<'_>) -> Vec<u32> {
    let mut scratch = rules.scratch();
    let mut out = Vec::new();
    rules.detect(input, &mut scratch, |m| out.push(m.sid));
    out
}

/// Sids firing in the app-layer pass for one inspection point (`input.buffers`, side
/// `input.flow.to_server`), in callback order.
pub fn fired_app(rules: &RuleSet, input: &DetectInput<'_>) -> Vec<u32> {
    let mut scratch = rules.scratch();
    let mut vars = signatures::FlowVars::default();
    let mut out = Vec::new();
    rules.detect_app(input, &mut vars, &mut scratch, |m| out.push(m.sid));
    out
}

/// Whether a single-rule source (all rules must load) fires on `payload` (default TCP packet).
pub fn matches(rule: &str, payload: &[u8]) -> bool {
    let (rules, report) = load(rule);
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(report.loaded, 1, "rule not loaded: {:?}", report.rules);
    !fired(&rules, &tcp(payload)).is_empty()
}
