//! Suricata-compatible signatures: parse rule files, compile them once into an immutable
//! [`RuleSet`], and match packets against it.
//!
//! API CONTRACT (the `sensor` crate is written against exactly this surface; extend it, do not
//! rename it):
//!
//! ```ignore
//! let mut builder = RuleSetBuilder::new(Vars::suricata_defaults());
//! builder.enable_byte_keywords(true).enable_extra_protocols(true);
//! // builder.enable_app_protocol("http");         // once the sensor detects HTTP flows
//! // builder.enable_buffer(BufferKind::HttpUri);   // once an app-layer parser fills it
//! // builder.inherit_var_ids(&old_rules);          // on reload: keep flowbit ids stable
//! builder.add_path(Path::new("rules/"))?;          // file or directory of *.rules; Err if unreadable
//! builder.add_source("inline", "alert tcp ...");  // named text, e.g. for tests
//! let (rules, report) = builder.build();          // report: loaded, inactive, errors, unsupported
//! let mut scratch = rules.scratch();              // one per worker, reused for every packet
//!
//! // Per packet (FlowVars lives in the sensor's flow entry; Default = empty):
//! let input = DetectInput::new(src, dst, sport, dport, proto, payload, flow_state)
//!     .with_ts(secs, usecs)
//!     .with_ip(ip_fields, ipv4_options)
//!     .with_tcp(tcp_fields)                       // or .with_icmp(icmp_fields)
//!     .with_stream(first_chunk, payload_in_stream);
//! rules.detect_with_flow(&input, &mut flow.vars, &mut scratch, |rule: &RuleMeta| { /* alert */ });
//! // For each further stream chunk the same packet delivered:
//! rules.detect_stream_chunk(&input.with_stream(Some(next), true), &mut flow.vars, &mut scratch, |r| {});
//! // Packets without a flow entry: rules.detect(&input, &mut scratch, |rule| {}).
//!
//! // At each inspection point of an app-layer transaction (request side, response side):
//! let point = input.with_buffers(&buffers);      // that point's buffers; flow.to_server = side
//! rules.detect_app(&point, &mut flow.vars, &mut scratch, |rule| { /* alert */ });
//! ```
//!
//! Rules that inspect app-layer buffers are evaluated only by [`RuleSet::detect_app`], once
//! per transaction at one side (the response side when they need a response-only buffer,
//! [`BufferKind::response_only`], or say `flow:to_client`; else the request side); the packet
//! pass (`detect*`) ignores them. The response point should offer the request-only buffers
//! of its transaction too, so rules mixing both sides can match.
//!
//! The crate is split so that each stage can be tested and reasoned about on its own:
//! `source` turns text into logical rules with positions, `lexer` splits a rule into header
//! tokens and raw options, `header`/`vars` evaluate addresses and ports into interval sets,
//! `options` turns raw options into typed ones (deciding active / inactive / unsupported /
//! error), `content` runs payload chains (`bytes`: byte_test/byte_jump/byte_extract, `pcre`:
//! PCRE2), `hdrkw` packet-header keywords, `buffers` the sticky-buffer table, `flowvars`
//! flowbits/flowint state, `threshold` rate control, `ruleset` loads and builds the
//! prefilters, `detect` runs them. This file holds the plain data types of the contract.
//!
//! # Rule language supported
//!
//! Suricata 7 semantics are the reference.
//!
//! * Header: actions `alert`, `pass`, `drop`, `reject` (`rejectsrc`/`rejectdst`/`rejectboth`
//!   as reject); protocols `ip` (everything), `tcp`, `udp`, `icmp` (ICMP and ICMPv6); addresses
//!   `any`, IPv4/IPv6 addresses, CIDRs (also `a.b.c.d/netmask`), `low-high` ranges, `[lists]`,
//!   `!` negation and `$VARS` (nested, negated, cycles are errors); ports `any`, `80`, `1024:`,
//!   `:1023`, `[80,8000:8080]`, `!80`, `$VARS`; `->` and `<>`. App-layer protocols (`http`,
//!   `dns`, `tls`, `smtp`, `ftp`, `smb`, `ssh`, ...) parse and load *inactive* unless the
//!   sensor declares it detects them ([`RuleSetBuilder::enable_app_protocol`]); then they
//!   match flows whose [`DetectInput::app_proto`] names the protocol.
//! * Identity: `msg`, `sid` (required), `rev`, `gid`, `classtype` (Suricata's table),
//!   `priority`, `reference`, `metadata`, `target`; `tag` and `prefilter` are accepted (they do
//!   not change what matches).
//! * Payload: `content` (`|hex|`, escapes, `!`) with `nocase`, `offset`, `depth`, `distance`,
//!   `within`, `startswith`, `endswith`, `fast_pattern` (all forms), `rawbytes`; `isdataat`;
//!   `pcre` (PCRE2 with JIT: lookarounds, backreferences; flags `i s m x A E G R B O`, HTTP
//!   buffer flags `U I H D C M P Q S Y V W Z` select sticky buffers); `dsize`; `pkt_data`;
//!   `byte_test`, `byte_jump`, `byte_extract` (opt-in, [`RuleSetBuilder::enable_byte_keywords`];
//!   byte_extract variables as byte_test values).
//! * Sticky buffers and old-style modifiers ([`BufferKind`]: `http.uri`, `http.uri.raw`,
//!   `http.method`, `http.host`, `http.user_agent`, `http.header`, `http.cookie`,
//!   `http.request_body`, `http.response_body`, `http.stat_code`, `http.content_type`,
//!   `http.header_names`, `http.request_line`, `file.data`, `dns.query`, `tls.sni`,
//!   `tls.cert_subject`, `tls.certs`, `ja3.hash`, `ja4.hash`, ... and the Suricata 7
//!   aliases `http_uri`, `file_data`, `dns_query`, `tls_sni`, ...), `bsize`, `urilen`,
//!   transforms (`dotprefix`, ...): parsed; a rule is active only for buffers the sensor
//!   enabled ([`RuleSetBuilder::enable_buffer`]), otherwise inactive; active ones are
//!   matched by [`RuleSet::detect_app`] against the [`DetectInput::buffers`] of an
//!   inspection point. Transforms `dotprefix`, `to_lowercase`,
//!   `to_uppercase`, `strip_whitespace`, `compress_whitespace`, `url_decode` are applied; a
//!   rule with another transform (`to_md5`, `xor`, ...) stays inactive.
//! * Flow: `flow` (`to_server`, `to_client`, `from_server`, `from_client`, `established`,
//!   `not_established`, `stateless`, `only_stream`, `no_stream`), `flowbits` (`set`, `unset`,
//!   `toggle`, `isset`, `isnotset` with `&`/`|`, `noalert`), `flowint` (numeric values),
//!   `noalert`, `threshold` and `detection_filter` (limit/threshold/both; by_src, by_dst,
//!   by_rule, by_both), `stream_size`, `xbits` (set/unset/toggle/isset/isnotset; track
//!   ip_src/ip_dst/ip_pair; expire; bounded shared table, see
//!   [`Scratch::xbits_evictions`]).
//! * Header keywords: `ttl`, `tos`, `id`, `ip_proto`, `ipopts`, `fragbits`, `fragoffset`,
//!   `flags`, `seq`, `ack`, `window`, `itype`, `icode`, `icmp_id`, `icmp_seq`, `sameip`.
//! * Opt-in protocols ([`RuleSetBuilder::enable_extra_protocols`]): `tcp-pkt` (packet only),
//!   `tcp-stream` (stream only), `icmpv4`, `icmpv6`, `ipv4`, `ipv6`.
//!
//! Every rule read ends as exactly one of: active (`loaded`), inactive (needs an app-layer
//! parser; kept, counted in [`LoadReport::inactive_reasons`], never matched), unsupported
//! (skipped, counted in [`LoadReport::unsupported`] as `keyword <name>`, `protocol <name>` or
//! `direction =>`; e.g. `asn1` in otherwise active rules, byte_extract variables
//! outside byte_test) or error (with file:line:column). No rule ever matches with a condition
//! silently dropped.

use std::net::IpAddr;

mod buffers;
mod bytes;
mod classification;
mod content;
mod detect;
mod flowvars;
mod hdrkw;
mod header;
mod lexer;
mod options;
mod pcre;
mod ruleset;
mod source;
mod threshold;
mod transform;
mod vars;
mod xbits;

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
///
/// Every field added after the first cut has a neutral default, so build it with
/// [`DetectInput::new`] (or a struct literal ending in `..DetectInput::default()`) and fill
/// what the decoder knows with the setters.
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
    /// Packet timestamp, seconds since the epoch (threshold/detection_filter windows).
    pub ts_secs: u64,
    /// Microseconds part of the packet timestamp.
    pub ts_usecs: u32,
    /// IP header fields for ttl/tos/id/fragbits/fragoffset/ipopts.
    pub ip: IpFields,
    /// Raw IPv4 options bytes (after the 20-byte header; empty when none or IPv6).
    pub ipv4_options: &'a [u8],
    /// TCP header fields for flags/seq/ack/window (zero for other protocols).
    pub tcp: TcpFields,
    /// ICMP/ICMPv6 header fields for itype/icode/icmp_id/icmp_seq.
    pub icmp: IcmpFields,
    /// One reassembled TCP stream chunk of this packet's flow, if the reassembler delivered
    /// one (see [`StreamData`] and [`RuleSet::detect`]).
    pub stream: Option<StreamData<'a>>,
    /// The packet's TCP payload was accepted into the reassembled stream (Suricata's
    /// `PKT_STREAM_ADD`): stream-inspecting rules then do not fall back to the packet payload.
    pub payload_in_stream: bool,
    /// App-layer buffers (sticky buffers) of one inspection point of a transaction, as
    /// produced by the app-layer parsers, for [`RuleSet::detect_app`] (the packet pass does
    /// not read them). A kind may appear several times (multi-buffers such as tls.certs).
    pub buffers: &'a [AppBuffer<'a>],
    /// TCP session sizes for `stream_size` (None: no TCP session; such rules do not match).
    pub stream_size: Option<StreamSizes>,
    /// App-layer protocol detected on the flow (`"http"`, `"dns"`, `"tls"`, ...; None while
    /// unknown). Rules with an app-layer protocol in their header match only such flows (see
    /// [`RuleSetBuilder::enable_app_protocol`]).
    pub app_proto: Option<&'a str>,
}

/// Per-direction TCP sequence progress, as Suricata's `stream_size` reads it: for each side,
/// its next expected sequence number minus its initial sequence number (so data bytes plus
/// one for the SYN, plus one once a FIN was sent), wrapping in 32 bits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamSizes {
    /// Client (initiator) side.
    pub client: u32,
    /// Server side.
    pub server: u32,
}

impl Default for DetectInput<'_> {
    fn default() -> Self {
        DetectInput {
            src_ip: IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
            dst_ip: IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
            src_port: 0,
            dst_port: 0,
            ip_proto: 0,
            payload: &[],
            flow: FlowState::default(),
            ts_secs: 0,
            ts_usecs: 0,
            ip: IpFields::default(),
            ipv4_options: &[],
            tcp: TcpFields::default(),
            icmp: IcmpFields::default(),
            stream: None,
            payload_in_stream: false,
            buffers: &[],
            stream_size: None,
            app_proto: None,
        }
    }
}

impl<'a> DetectInput<'a> {
    /// The first-cut fields; everything else takes its default.
    pub fn new(
        src_ip: IpAddr,
        dst_ip: IpAddr,
        src_port: u16,
        dst_port: u16,
        ip_proto: u8,
        payload: &'a [u8],
        flow: FlowState,
    ) -> Self {
        DetectInput {
            src_ip,
            dst_ip,
            src_port,
            dst_port,
            ip_proto,
            payload,
            flow,
            ..DetectInput::default()
        }
    }

    /// Sets the packet timestamp.
    pub fn with_ts(mut self, secs: u64, usecs: u32) -> Self {
        self.ts_secs = secs;
        self.ts_usecs = usecs;
        self
    }

    /// Sets the IP header fields and the raw IPv4 options.
    pub fn with_ip(mut self, ip: IpFields, ipv4_options: &'a [u8]) -> Self {
        self.ip = ip;
        self.ipv4_options = ipv4_options;
        self
    }

    /// Sets the TCP header fields.
    pub fn with_tcp(mut self, tcp: TcpFields) -> Self {
        self.tcp = tcp;
        self
    }

    /// Sets the ICMP header fields.
    pub fn with_icmp(mut self, icmp: IcmpFields) -> Self {
        self.icmp = icmp;
        self
    }

    /// Sets the stream chunk and whether the packet's payload went into the stream.
    pub fn with_stream(mut self, stream: Option<StreamData<'a>>, payload_in_stream: bool) -> Self {
        self.stream = stream;
        self.payload_in_stream = payload_in_stream;
        self
    }

    /// Sets the app-layer buffers.
    pub fn with_buffers(mut self, buffers: &'a [AppBuffer<'a>]) -> Self {
        self.buffers = buffers;
        self
    }
}

/// IP header fields (IPv4; for IPv6 `ttl` is the hop limit and `tos` the traffic class).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IpFields {
    /// 4 or 6 (0: unknown).
    pub version: u8,
    /// TTL / hop limit.
    pub ttl: u8,
    /// Type of service / traffic class byte.
    pub tos: u8,
    /// IPv4 identification.
    pub id: u16,
    /// IPv4 flags, the 3 high bits of the flags/offset word shifted down: 0x4 reserved,
    /// 0x2 DF, 0x1 MF.
    pub frag_flags: u8,
    /// IPv4 fragment offset field (units of 8 bytes, as on the wire).
    pub frag_offset: u16,
}

/// TCP header fields.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TcpFields {
    /// Flags byte (CWR 0x80, ECE 0x40, URG 0x20, ACK 0x10, PSH 0x08, RST 0x04, SYN 0x02,
    /// FIN 0x01).
    pub flags: u8,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgement number.
    pub ack: u32,
    /// Window (unscaled, as on the wire).
    pub window: u16,
}

/// ICMP / ICMPv6 header fields.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IcmpFields {
    /// Type.
    pub itype: u8,
    /// Code.
    pub icode: u8,
    /// Identifier (echo request/reply and other id/seq messages; 0 otherwise).
    pub id: u16,
    /// Sequence number (echo request/reply; 0 otherwise).
    pub seq: u16,
}

/// One reassembled stream chunk, exactly the sensor's `StreamChunk` contract: `data` is
/// lookbehind context followed by new bytes starting at `new_from`; a stream match counts only
/// if it ends after `new_from` (so each occurrence is reported once).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamData<'a> {
    /// Context ++ new bytes.
    pub data: &'a [u8],
    /// Index in `data` where the new bytes start.
    pub new_from: usize,
    /// Stream offset (bytes since the start of this direction) of `data[new_from]`, exactly
    /// the sensor's `StreamChunk::offset`. Rules anchored with offset/depth/startswith
    /// inspect the stream only when `data[0]` is the first byte of the stream
    /// (`offset == new_from`).
    pub offset: u64,
    /// Direction of the chunk: true for client-to-server bytes. It must be the packet's
    /// direction (`flow.to_server`, with `flow.tracked`); a chunk of the other direction is
    /// ignored.
    pub to_server: bool,
}

/// An app-layer buffer handed to detection.
#[derive(Debug, Clone, Copy)]
pub struct AppBuffer<'a> {
    /// Which sticky buffer this is.
    pub kind: BufferKind,
    /// Its bytes.
    pub data: &'a [u8],
}

pub use buffers::BufferKind;
pub use flowvars::FlowVars;

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
///
/// Every rule read is counted exactly once in `loaded` (active), `inactive`, `errors`
/// (failed) or `unsupported` (skipped by keyword): `total() == loaded + inactive +
/// failed() + unsupported_total()`.
#[derive(Debug, Clone, Default)]
pub struct LoadReport {
    /// Number of rules compiled into the rule set and matched (active).
    pub loaded: usize,
    /// Rules parsed and kept in the rule set but never matched, because they need an
    /// app-layer protocol or buffer this sensor does not provide yet (see
    /// [`RuleSetBuilder::enable_buffer`]).
    pub inactive: usize,
    /// Why rules are inactive: reason (e.g. "buffer http.uri", "protocol http") -> rules,
    /// counting each rule once under its first reason.
    pub inactive_reasons: std::collections::BTreeMap<String, usize>,
    /// Rules that failed to parse, in load order.
    pub errors: Vec<RuleError>,
    /// Rules skipped because they use something not supported: reason (e.g.
    /// "keyword xbits", "protocol foo") -> number of rules, sorted by reason.
    pub unsupported: std::collections::BTreeMap<String, usize>,
    /// Per-rule outcome for tools (verify harness, `sensor rules check --json`).
    pub rules: Vec<RuleStatus>,
    /// Time spent compiling the rule set (prefilters, groups) in `build`, in milliseconds;
    /// parsing time is not included (measure around `add_path` + `build` for the total).
    pub compile_ms: u64,
}

impl LoadReport {
    /// Total number of rules skipped as unsupported.
    pub fn unsupported_total(&self) -> usize {
        self.unsupported.values().sum()
    }

    /// Rules that failed to parse.
    pub fn failed(&self) -> usize {
        self.errors.len()
    }

    /// Every rule read.
    pub fn total(&self) -> usize {
        self.rules.len()
    }

    /// Unsupported keywords only (`keyword x` reasons with the prefix removed), for
    /// `skipped_by_keyword`.
    pub fn skipped_by_keyword(&self) -> std::collections::BTreeMap<String, usize> {
        self.unsupported
            .iter()
            .map(|(k, v)| (k.strip_prefix("keyword ").unwrap_or(k).to_string(), *v))
            .collect()
    }
}

/// Outcome of loading one rule.
#[derive(Debug, Clone)]
pub struct RuleStatus {
    /// The rule's sid when it could be read.
    pub sid: Option<u32>,
    /// `file:line` of the rule's first line.
    pub location: String,
    /// None when the rule is active; otherwise why it will not match: the parse error
    /// message, `unsupported: <reason>`, or `inactive: <reason>` (tools that decide from
    /// this field, such as the verify harness, thus treat inactive rules like skipped ones).
    pub skipped: Option<String>,
    /// Loaded but inactive: why (e.g. "buffer http.uri"); `skipped` then says the same.
    pub inactive: Option<String>,
}
