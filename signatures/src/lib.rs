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
//!
//! The crate is split so that each stage can be tested and reasoned about on its own:
//! `source` turns text into logical rules with positions, `lexer` splits a rule into header
//! tokens and raw options, `header`/`vars` evaluate addresses and ports into interval sets,
//! `options` turns raw options into typed ones (deciding "unsupported" vs "error"),
//! `content` compiles and matches payload patterns (`bytes` adds the opt-in byte_test and
//! byte_jump), `ruleset` loads and builds the prefilter, `detect` runs it. This file holds
//! the plain data types of the contract; [`Vars`], [`RuleSetBuilder`], [`RuleSet`] and
//! [`Scratch`] live with their behaviour and are re-exported here.
//!
//! # Rule language supported
//!
//! Suricata 7 semantics are the reference.
//!
//! * Header: actions `alert`, `pass`, `drop`, `reject` (`rejectsrc`/`rejectdst`/`rejectboth`
//!   as reject); protocols `ip` (everything), `tcp`, `udp`, `icmp` (ICMP and ICMPv6); addresses
//!   `any`, IPv4/IPv6 addresses, CIDRs (also `a.b.c.d/netmask`), `low-high` ranges, `[lists]`,
//!   `!` negation and `$VARS` (nested, negated, cycles are errors); ports `any`, `80`, `1024:`,
//!   `:1023`, `[80,8000:8080]`, `!80`, `$VARS`; `->` and `<>`.
//! * Options: `msg`, `sid` (required), `rev` (default 0), `gid` (default 1), `classtype`
//!   (Suricata's classification table), `priority`, `reference`, `metadata`, `target`;
//!   `content` (`|hex|`, `\"` `\\` `\;` `\:` escapes, `!`) with `nocase`, `offset`, `depth`,
//!   `distance`, `within`, `startswith`, `endswith`, `fast_pattern` (all forms), `rawbytes`;
//!   `isdataat` (`!`, `relative`), `dsize`, `pkt_data`, and `flow` with `to_server`,
//!   `to_client`, `from_client`, `from_server`, `established`, `not_established`, `stateless`.
//! * Opt-in ([`RuleSetBuilder::enable_byte_keywords`], [`RuleSetBuilder::enable_extra_protocols`]):
//!   `byte_test`, `byte_jump`; protocols `tcp-pkt`, `icmpv4`, `icmpv6`, `ipv4`, `ipv6`.
//!
//! Anything else makes the rule *unsupported*: it is skipped and counted in
//! [`LoadReport::unsupported`] as `keyword <name>`, `keyword flow:<option>`, `protocol <name>`
//! or `direction =>`, so no rule ever matches with a condition silently dropped. Detection
//! inspects packet payloads only (no stream reassembly, no app-layer buffers).

use std::net::IpAddr;

mod bytes;
mod classification;
mod content;
mod detect;
mod header;
mod lexer;
mod options;
mod ruleset;
mod source;
mod vars;

pub use detect::{RuleSet, Scratch};
pub use ruleset::RuleSetBuilder;
pub use vars::Vars;

/// What a rule does when it matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Raise an alert.
    Alert,
    /// Let the packet pass (Suricata: stop inspecting it); reported as "allowed".
    Pass,
    /// Drop the packet (IPS mode); reported as "blocked".
    Drop,
    /// Drop and send a reset/ICMP unreachable (IPS mode); reported as "blocked".
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
    /// The rule's action keyword.
    pub action: Action,
    /// Generator id (`gid`, default 1).
    pub gid: u32,
    /// Signature id (`sid`, mandatory).
    pub sid: u32,
    /// Revision (`rev`, default 0).
    pub rev: u32,
    /// The `msg` text with escapes resolved ("" when absent).
    pub msg: String,
    /// Classification description from the classification table ("" when none), as
    /// EVE's `alert.category`.
    pub category: String,
    /// priority keyword, else the classtype's priority, else 3.
    pub severity: u8,
    /// `file:line` of the rule's first line, so an alert can be traced to its source.
    pub location: String,
}

/// Per-packet view that detection reads. Built by the sensor from its decoded packet and flow.
#[derive(Debug, Clone, Copy)]
pub struct DetectInput<'a> {
    /// Source address of the packet.
    pub src_ip: IpAddr,
    /// Destination address of the packet.
    pub dst_ip: IpAddr,
    /// 0 when the protocol has no ports.
    pub src_port: u16,
    /// Destination port; 0 when the protocol has no ports.
    pub dst_port: u16,
    /// IP protocol number (6 TCP, 17 UDP, 1 ICMP, 58 ICMPv6, ...).
    pub ip_proto: u8,
    /// L4 payload (TCP/UDP data, or the ICMP body after the 4/8-byte header).
    pub payload: &'a [u8],
    /// The flow tracker's view of this packet.
    pub flow: FlowState,
}

/// What the flow tracker knows about the packet's flow.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlowState {
    /// Packet goes from the flow's client (initiator) to its server.
    pub to_server: bool,
    /// TCP: three-way handshake completed; UDP/other: packets seen in both directions.
    pub established: bool,
    /// The sensor tracks a flow for this packet. When it could not (table full), no
    /// direction or state is known and every `flow:` direction/state condition fails, as in
    /// Suricata for packets without a flow.
    pub tracked: bool,
}

/// A rule that failed to parse: where and why.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{file}:{line}:{column}: {message}")]
pub struct RuleError {
    /// Source name (path or the name given to `add_source`).
    pub file: String,
    /// 1-based physical line of the offending token.
    pub line: usize,
    /// 1-based column (in characters) of the offending token.
    pub column: usize,
    /// What was expected / what is wrong.
    pub message: String,
}

/// A rule file or directory that could not be read.
#[derive(Debug, thiserror::Error)]
#[error("cannot read rules from {path}: {source}")]
pub struct LoadError {
    /// The path that failed.
    pub path: String,
    /// The underlying I/O error.
    #[source]
    pub source: std::io::Error,
}

/// What loading did, for the operator.
#[derive(Debug, Clone, Default)]
pub struct LoadReport {
    /// Number of rules compiled into the rule set.
    pub loaded: usize,
    /// Rules that failed to parse, in load order.
    pub errors: Vec<RuleError>,
    /// Rules skipped because they use something not yet supported: reason (e.g.
    /// "keyword http.uri", "protocol http") -> number of rules, sorted by reason.
    pub unsupported: std::collections::BTreeMap<String, usize>,
    /// Per-rule outcome for tools (verify harness, `sensor rules check --json`).
    pub rules: Vec<RuleStatus>,
}

impl LoadReport {
    /// Total number of rules skipped as unsupported.
    pub fn unsupported_total(&self) -> usize {
        self.unsupported.values().sum()
    }
}

/// Outcome of loading one rule.
#[derive(Debug, Clone)]
pub struct RuleStatus {
    /// The rule's sid when it could be read.
    pub sid: Option<u32>,
    /// `file:line` of the rule's first line.
    pub location: String,
    /// None when loaded; Some(reason) when skipped (parse error message or unsupported reason).
    pub skipped: Option<String>,
}
