//! Suricata-compatible signatures: parse rule files, compile them once into an immutable
//! [`RuleSet`], and match packets against it.
//!
//! API CONTRACT (the `sensor` crate is written against exactly this surface; extend it, do not
//! rename it):
//!
//! ```ignore
//! let mut builder = RuleSetBuilder::new(Vars::suricata_defaults());
//! builder.add_path(Path::new("rules/"))?;          // file or directory of *.rules; Err if unreadable
//! builder.add_source("inline", "alert tcp ...");  // named text, e.g. for tests
//! let (rules, report) = builder.build();          // report: loaded, parse errors, unsupported
//! let mut scratch = rules.scratch();              // one per worker, reused for every packet
//! rules.detect(&input, &mut scratch, |rule: &RuleMeta| { /* emit an alert */ });
//! ```

#![allow(missing_docs)] // FIXME(helper): remove once every public item is documented.

use std::net::IpAddr;
use std::path::Path;

/// Address and port variables ($HOME_NET, $HTTP_PORTS, ...).
#[derive(Debug, Clone, Default)]
pub struct Vars {}

impl Vars {
    /// Suricata's default suricata.yaml values.
    pub fn suricata_defaults() -> Self {
        Vars {}
    }
}

/// What a rule does when it matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Alert,
    Pass,
    Drop,
    Reject,
}

impl Action {
    /// As EVE writes it in `alert.action`: "allowed" for alert/pass, "blocked" for drop/reject.
    pub fn eve_name(self) -> &'static str {
        match self {
            Action::Alert | Action::Pass => "allowed",
            Action::Drop | Action::Reject => "blocked",
        }
    }
}

/// The metadata of a loaded rule that events need.
#[derive(Debug, Clone)]
pub struct RuleMeta {
    pub action: Action,
    pub gid: u32,
    pub sid: u32,
    pub rev: u32,
    pub msg: String,
    /// Classification description from the classification table ("" when none), as
    /// EVE's `alert.category`.
    pub category: String,
    /// priority keyword, else the classtype's priority, else 3.
    pub severity: u8,
}

/// Per-packet view that detection reads. Built by the sensor from its decoded packet and flow.
#[derive(Debug, Clone, Copy)]
pub struct DetectInput<'a> {
    pub src_ip: IpAddr,
    pub dst_ip: IpAddr,
    /// 0 when the protocol has no ports.
    pub src_port: u16,
    pub dst_port: u16,
    /// IP protocol number (6 TCP, 17 UDP, 1 ICMP, 58 ICMPv6, ...).
    pub ip_proto: u8,
    /// L4 payload (TCP/UDP data, or the ICMP body after the 4/8-byte header).
    pub payload: &'a [u8],
    pub flow: FlowState,
}

/// What the flow tracker knows about the packet's flow.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlowState {
    /// Packet goes from the flow's client (initiator) to its server.
    pub to_server: bool,
    /// TCP: three-way handshake completed; UDP/other: packets seen in both directions.
    pub established: bool,
}

/// Per-worker reusable matching state; never shared between threads.
#[derive(Debug, Default)]
pub struct Scratch {}

/// The compiled, immutable rule set (shared by workers via `Arc`).
#[derive(Debug, Default)]
pub struct RuleSet {}

impl RuleSet {
    pub fn scratch(&self) -> Scratch {
        Scratch::default()
    }
    pub fn len(&self) -> usize {
        0
    }
    pub fn is_empty(&self) -> bool {
        true
    }
    /// Calls `on_match` once per matching rule, in rule-set order.
    pub fn detect(&self, _input: &DetectInput<'_>, _scratch: &mut Scratch, _on_match: impl FnMut(&RuleMeta)) {}
}

/// A rule that failed to parse: where and why.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{file}:{line}:{column}: {message}")]
pub struct RuleError {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// A rule file or directory that could not be read.
#[derive(Debug, thiserror::Error)]
#[error("cannot read rules from {path}: {source}")]
pub struct LoadError {
    pub path: String,
    #[source]
    pub source: std::io::Error,
}

/// What loading did, for the operator.
#[derive(Debug, Clone, Default)]
pub struct LoadReport {
    pub loaded: usize,
    pub errors: Vec<RuleError>,
    /// Rules skipped because they use something not yet supported: reason (e.g.
    /// "keyword http.uri", "protocol http") -> number of rules, sorted by reason.
    pub unsupported: std::collections::BTreeMap<String, usize>,
    /// Per-rule outcome for tools (verify harness, `sensor rules check --json`).
    pub rules: Vec<RuleStatus>,
}

/// Outcome of loading one rule.
#[derive(Debug, Clone)]
pub struct RuleStatus {
    pub sid: Option<u32>,
    pub location: String,
    /// None when loaded; Some(reason) when skipped (parse error message or unsupported reason).
    pub skipped: Option<String>,
}

pub struct RuleSetBuilder {
    _vars: Vars,
}

impl RuleSetBuilder {
    pub fn new(vars: Vars) -> Self {
        RuleSetBuilder { _vars: vars }
    }
    pub fn add_path(&mut self, _path: &Path) -> Result<(), LoadError> {
        Ok(())
    }
    pub fn add_source(&mut self, _name: &str, _text: &str) {}
    pub fn build(self) -> (RuleSet, LoadReport) {
        (RuleSet::default(), LoadReport::default())
    }
}
