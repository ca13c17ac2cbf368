//! Per-packet detection over a compiled [`RuleSet`].
//!
//! # Candidate selection
//!
//! Rules are grouped at compile time by transport (TCP, UDP, ICMP, other) and flow direction
//! (to_server, to_client; rules without a direction sit in both). Each group has one ASCII
//! case-insensitive Aho-Corasick automaton (a DFA up to 256 KiB of patterns) over one pattern
//! per rule (its fast_pattern, else its longest positive content; a case-only false hit is
//! removed by verification, and scanning once beats scanning an exact and a nocase automaton).
//! Rules without any positive content are either indexed by their narrow address set (IP
//! reputation lists: an interval-stabbing index looked up with the packet's source and
//! destination) or kept in a small "always" bitset (header-only rules on wide addresses).
//! Ports are not a grouping dimension: they are checked with the header after selection.
//! A packet scans its payload and its stream chunk once; hits set candidate bits. Walking the
//! bitset gives rule-set order and at-most-once per rule. All per-call state lives in
//! [`Scratch`]: no allocation and no lock on the match path (the pcre2 crate's per-regex
//! match-data pool is lock-free for the thread that first used it, an uncontended mutex for
//! others).
//!
//! # App-layer pass
//!
//! Rules that inspect app-layer buffers are not in those groups: [`RuleSet::detect_app`]
//! evaluates them at the inspection points of transactions (one request side, one response
//! side), so that each fires at most once per transaction, as in Suricata, rather than on
//! whichever packet happened to carry the buffers. Each such rule has one side (response
//! when it needs a response-only buffer or says `flow:to_client`, else request) and sits in
//! one group keyed by (buffer kind, side): the kind its fast pattern comes from, or, without
//! a usable one, its first buffer kind (always checked when that kind is offered; a rule
//! needs all its buffers anyway). A fast pattern from a buffer with `dotprefix` or case
//! transforms is mapped back to the raw buffer (leading `.` dropped; matching is
//! case-insensitive), so DNS rules on `dotprefix` prefilter too.
//!
//! # Payload vs stream (Suricata's `DetectEngineInspectRulePayloadMatches`)
//!
//! A TCP rule with payload keywords inspects, in Suricata's terms:
//! * `Packet` (SIG_FLAG_REQUIRE_PACKET only: `flow:no_stream`, `tcp-pkt`, `dsize`): the
//!   packet payload;
//! * `Stream` (the default): the reassembled stream chunk when the input has one; when that
//!   does not match, the packet payload, unless the packet's payload went into the stream
//!   (`payload_in_stream`, Suricata's PKT_STREAM_ADD);
//! * `StreamPacket` (a content with offset/depth, so REQUIRE_STREAM|REQUIRE_PACKET): stream,
//!   then always the packet payload;
//! * `StreamOnly` (`flow:only_stream`, `tcp-stream`): the stream chunk only.
//!
//! A stream match counts only when it ends after the chunk's `new_from` (the reassembler's
//! contract), so each occurrence alerts once. Chains anchored with offset/depth/startswith are
//! tried on the stream only when the chunk's data starts at stream offset 0. UDP/ICMP/other rules
//! inspect the packet payload.
//!
//! # Post-match
//!
//! A rule whose conditions all hold (xbits conditions last: they lock the shared table) runs
//! its flowbits/flowint/xbits actions (even with `noalert` or when thresholded, as in
//! Suricata), then its threshold/detection_filter, then alerts unless `noalert`. Rules are ordered flowbit setters first, then others, then flowbit readers
//! (Suricata's flowbits sig ordering), otherwise load order.

use aho_corasick::{AhoCorasick, Input};
use std::sync::{Arc, Mutex};

use crate::content::{inspect, inspect_stream, Elem};
use crate::flowvars::{FlowVars, Flowbits, Flowint, VarNames};
use crate::hdrkw::HeaderTest;
use crate::header::Header;
use crate::options::{FlowMatch, UintMatch};
use crate::threshold::{self, Table};
use crate::{BufferKind, DetectInput, RuleMeta};

/// Which payload a rule inspects (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PayloadMode {
    Packet,
    Stream,
    StreamPacket,
    StreamOnly,
}

/// A compiled app-layer buffer list.
#[derive(Debug, Clone)]
pub(crate) struct BufferList {
    pub(crate) kind: BufferKind,
    /// Applied to the buffer before inspection (and bsize).
    pub(crate) transforms: Vec<crate::transform::Transform>,
    pub(crate) chain: Vec<Elem>,
    pub(crate) bsize: Vec<UintMatch>,
}

/// One loaded rule, ready to match.
#[derive(Debug, Clone)]
pub(crate) struct CompiledRule {
    pub(crate) header: Header,
    pub(crate) flow: FlowMatch,
    pub(crate) dsize: Option<UintMatch>,
    pub(crate) header_tests: Vec<HeaderTest>,
    /// Payload chain; `None` when the rule has no payload keywords.
    pub(crate) payload: Option<Vec<Elem>>,
    pub(crate) mode: PayloadMode,
    /// The payload chain has an absolutely positioned content.
    pub(crate) anchored: bool,
    pub(crate) buffers: Vec<BufferList>,
    /// `None` for packet rules; for rules inspecting app-layer buffers, the one inspection
    /// side they are evaluated at by [`RuleSet::detect_app`]: true for the request side.
    pub(crate) app_side: Option<bool>,
    pub(crate) flowbits: Vec<Flowbits>,
    pub(crate) flowints: Vec<Flowint>,
    pub(crate) noalert: bool,
    pub(crate) thresholds: Vec<threshold::Spec>,
    pub(crate) xbits: Vec<crate::xbits::Spec>,
    pub(crate) meta: RuleMeta,
}

impl CompiledRule {
    /// Header, flow, dsize, header keywords, flow variables: everything but payload/buffers.
    fn pre_matches(&self, input: &DetectInput<'_>, vars: &FlowVars) -> bool {
        if !self.header.matches(input) || !self.flow.matches(input.flow) {
            return false;
        }
        if let Some(d) = self.dsize {
            if !d.matches(input.payload.len()) {
                return false;
            }
        }
        self.header_tests.iter().all(|t| t.matches(input))
            && self
                .flowbits
                .iter()
                .filter(|f| f.is_condition())
                .all(|f| f.check(vars))
            && self
                .flowints
                .iter()
                .filter(|f| f.is_condition())
                .all(|f| f.check(vars))
    }

    fn buffers_match(
        &self,
        input: &DetectInput<'_>,
        steps: &mut u32,
        tb: &mut TransformBufs,
    ) -> bool {
        self.buffers.iter().all(|list| {
            input
                .buffers
                .iter()
                .filter(|b| b.kind == list.kind)
                .any(|b| {
                    *steps = 0;
                    let data =
                        crate::transform::apply_all(&list.transforms, b.data, &mut tb.a, &mut tb.b);
                    list.bsize.iter().all(|m| m.matches(data.len()))
                        && (list.chain.is_empty() || inspect(&list.chain, data, steps))
                })
        })
    }

    /// Payload/stream inspection. `stream_only` restricts to the stream (follow-up chunks).
    fn payload_matches(&self, input: &DetectInput<'_>, steps: &mut u32, stream_only: bool) -> bool {
        let Some(chain) = &self.payload else {
            return !stream_only;
        };
        // Suricata's SIG_MASK_REQUIRE_PAYLOAD: a rule with payload keywords (even only
        // negated ones) is not evaluated on a packet with neither payload nor stream data.
        if input.payload.is_empty() && stream_of(input).is_none() {
            return false;
        }
        let tcp = input.ip_proto == 6;
        if !tcp || self.mode == PayloadMode::Packet {
            *steps = 0;
            return !stream_only && inspect(chain, input.payload, steps);
        }
        if let Some(st) = stream_of(input) {
            if !self.anchored || st.offset == st.new_from as u64 {
                *steps = 0;
                if inspect_stream(chain, st.data, st.new_from, steps) {
                    return true;
                }
            }
        }
        if stream_only
            || self.mode == PayloadMode::StreamOnly
            || (self.mode == PayloadMode::Stream && input.payload_in_stream)
        {
            return false;
        }
        *steps = 0;
        inspect(chain, input.payload, steps)
    }

    fn inspects_stream(&self) -> bool {
        self.payload.is_some() && self.mode != PayloadMode::Packet
    }
}

/// Interval-stabbing index from addresses to rules (for rules without content, such as IP
/// reputation lists): elementary segments between all interval bounds, each with the rules
/// whose indexed address set covers it.
#[derive(Debug, Default)]
pub(crate) struct AddrIndex {
    /// Segment starts, sorted; segment i is [bounds[i], bounds[i+1]).
    bounds: Vec<u128>,
    /// CSR offsets into `rules` per segment (len = bounds.len() + 1).
    offsets: Vec<u32>,
    rules: Vec<u32>,
}

impl AddrIndex {
    pub(crate) fn build(intervals: &[(u128, u128, u32)]) -> Self {
        let mut bounds: Vec<u128> = Vec::with_capacity(intervals.len() * 2);
        for &(lo, hi, _) in intervals {
            bounds.push(lo);
            if let Some(next) = hi.checked_add(1) {
                bounds.push(next);
            }
        }
        bounds.sort_unstable();
        bounds.dedup();
        let mut per: Vec<Vec<u32>> = vec![Vec::new(); bounds.len()];
        for &(lo, hi, rule) in intervals {
            let first = bounds.partition_point(|b| *b < lo);
            let end = match hi.checked_add(1) {
                Some(n) => bounds.partition_point(|b| *b < n),
                None => bounds.len(),
            };
            for seg in per.iter_mut().take(end).skip(first) {
                seg.push(rule);
            }
        }
        let mut offsets = Vec::with_capacity(per.len() + 1);
        let mut rules = Vec::new();
        offsets.push(0);
        for seg in per {
            rules.extend(seg);
            offsets.push(u32::try_from(rules.len()).unwrap_or(u32::MAX));
        }
        AddrIndex {
            bounds,
            offsets,
            rules,
        }
    }

    fn lookup(&self, x: u128) -> &[u32] {
        let idx = self.bounds.partition_point(|b| *b <= x);
        if idx == 0 {
            return &[];
        }
        let (Some(&a), Some(&b)) = (self.offsets.get(idx - 1), self.offsets.get(idx)) else {
            return &[];
        };
        self.rules.get(a as usize..b as usize).unwrap_or(&[])
    }
}

fn ip_key(ip: std::net::IpAddr) -> (bool, u128) {
    match ip {
        std::net::IpAddr::V4(a) => (true, u128::from(u32::from(a))),
        std::net::IpAddr::V6(a) => (false, u128::from(a)),
    }
}

/// Candidate selection for one group: automata over each rule's chosen pattern.
#[derive(Debug, Default)]
pub(crate) struct Prefilter {
    /// Bitset of rules checked on every packet of the group.
    pub(crate) always: Vec<u64>,
    /// Content-less rules indexed by an address set (IPv4, IPv6).
    pub(crate) addr_v4: AddrIndex,
    pub(crate) addr_v6: AddrIndex,
    pub(crate) exact: Option<AhoCorasick>,
    /// Pattern id -> rules that chose it.
    pub(crate) exact_owners: Vec<Vec<u32>>,
    pub(crate) nocase: Option<AhoCorasick>,
    pub(crate) nocase_owners: Vec<Vec<u32>>,
}

pub(crate) fn words(bits: usize) -> usize {
    bits.div_ceil(64)
}

pub(crate) fn set_bit(bits: &mut [u64], i: usize) -> bool {
    if let Some(w) = bits.get_mut(i / 64) {
        let mask = 1u64 << (i % 64);
        let was = *w & mask != 0;
        *w |= mask;
        !was
    } else {
        false
    }
}

fn get_bit(bits: &[u64], i: usize) -> bool {
    bits.get(i / 64)
        .is_some_and(|w| w & (1u64 << (i % 64)) != 0)
}

impl Prefilter {
    fn scan(&self, hay: &[u8], scratch: &mut Scratch) {
        if hay.is_empty() {
            return;
        }
        for (ac, owners, seen) in [
            (&self.exact, &self.exact_owners, &mut scratch.exact_seen),
            (&self.nocase, &self.nocase_owners, &mut scratch.nocase_seen),
        ] {
            let Some(ac) = ac else { continue };
            let Ok(iter) = ac.try_find_overlapping_iter(Input::new(hay)) else {
                // Cannot happen with the Standard match kind; stay exact by checking all owners.
                for o in owners.iter().flatten() {
                    set_bit(&mut scratch.candidates, *o as usize);
                }
                continue;
            };
            for m in iter {
                let pid = m.pattern().as_usize();
                if set_bit(seen, pid) {
                    for r in owners.get(pid).into_iter().flatten() {
                        set_bit(&mut scratch.candidates, *r as usize);
                    }
                }
            }
        }
    }

    /// Marks candidate rules for the input into `scratch.candidates`. For follow-up stream
    /// chunks (`stream_only`) the packet payload was already scanned. `end`: words of the
    /// bitset that hold packet rules (app-layer rules follow them and are left alone).
    fn select(
        &self,
        input: &DetectInput<'_>,
        scratch: &mut Scratch,
        stream_only: bool,
        end: usize,
    ) {
        let n = self.always.len().min(end);
        scratch.candidates[..n].copy_from_slice(&self.always[..n]);
        scratch.exact_seen.fill(0);
        scratch.nocase_seen.fill(0);
        for ip in [input.src_ip, input.dst_ip] {
            let (v4, key) = ip_key(ip);
            let idx = if v4 { &self.addr_v4 } else { &self.addr_v6 };
            for r in idx.lookup(key) {
                set_bit(&mut scratch.candidates, *r as usize);
            }
        }
        if !stream_only {
            self.scan(input.payload, scratch);
        }
        if let Some(st) = stream_of(input) {
            self.scan(st.data, scratch);
        }
    }
}

/// Candidate selection of the app-layer pass for one (buffer kind, side): one
/// case-insensitive automaton over the fast patterns rules take from that buffer kind, and
/// the rules without a usable one (checked whenever the kind is offered).
#[derive(Debug, Default)]
pub(crate) struct AppGroup {
    pub(crate) ac: Option<AhoCorasick>,
    /// Pattern id -> rules that chose it.
    pub(crate) owners: Vec<Vec<u32>>,
    /// Rules checked whenever a buffer of this kind is offered at this side.
    pub(crate) always: Vec<u32>,
}

impl AppGroup {
    /// Marks the rules whose pattern occurs in `hay` (and the always-checked ones).
    fn select(&self, hay: &[u8], seen: &mut [u64], candidates: &mut [u64]) {
        for &r in &self.always {
            set_bit(candidates, r as usize);
        }
        let Some(ac) = &self.ac else { return };
        if hay.is_empty() {
            return;
        }
        let used = words(self.owners.len()).min(seen.len());
        seen[..used].fill(0);
        let Ok(iter) = ac.try_find_overlapping_iter(Input::new(hay)) else {
            // Cannot happen with the Standard match kind; stay exact by checking all owners.
            for o in self.owners.iter().flatten() {
                set_bit(candidates, *o as usize);
            }
            return;
        };
        for m in iter {
            let pid = m.pattern().as_usize();
            if set_bit(seen, pid) {
                for r in self.owners.get(pid).into_iter().flatten() {
                    set_bit(candidates, *r as usize);
                }
            }
        }
    }
}

/// Index of the app-layer group of a buffer kind and side.
pub(crate) fn app_group_of(kind: BufferKind, to_server: bool) -> usize {
    kind as usize * 2 + usize::from(!to_server)
}

/// Number of app-layer groups.
pub(crate) const APP_GROUPS: usize = BufferKind::COUNT * 2;

/// The input's stream chunk when it belongs to the packet's direction (rules evaluate the
/// packet's flow direction; a chunk of the other direction is ignored).
fn stream_of<'a>(input: &DetectInput<'a>) -> Option<crate::StreamData<'a>> {
    input
        .stream
        .filter(|st| st.to_server == input.flow.to_server && input.flow.tracked)
}

/// Transport classes and directions of the groups.
pub(crate) const GROUPS: usize = 8;

/// Group index of a packet: transport class * 2 + (0 to_server, 1 to_client).
pub(crate) fn group_of(ip_proto: u8, to_server: bool) -> usize {
    let class = match ip_proto {
        6 => 0,
        17 => 1,
        1 | 58 => 2,
        _ => 3,
    };
    class * 2 + usize::from(!to_server)
}

/// Reusable transform output buffers.
#[derive(Debug, Default)]
struct TransformBufs {
    a: Vec<u8>,
    b: Vec<u8>,
}

/// State shared by workers behind one mutex: threshold counters and xbits.
#[derive(Debug, Default)]
struct Shared {
    thresholds: Table,
    xbits: crate::xbits::Table,
}

/// Per-worker reusable matching state; never shared between threads.
#[derive(Debug, Default)]
pub struct Scratch {
    transforms: TransformBufs,
    candidates: Vec<u64>,
    exact_seen: Vec<u64>,
    nocase_seen: Vec<u64>,
    /// Pattern ids already seen in the current app-layer buffer scan.
    app_seen: Vec<u64>,
    /// Rules that matched during the current packet (across its stream chunks).
    matched: Vec<u64>,
    /// Backtracking budget counter for the rule being inspected.
    steps: u32,
    /// Flow variables for calls without a flow (`detect`).
    no_flow: FlowVars,
    /// Threshold/detection_filter state and xbits. Scratches that
    /// [`Scratch::share_thresholds`] use one table, as Suricata keeps one global table; it is
    /// locked only when a rule with a threshold has matched or a rule with xbits is
    /// verified, never per packet.
    thresholds: Arc<Mutex<Shared>>,
}

impl Scratch {
    /// Threshold entries evicted so far because the table was full.
    pub fn threshold_evictions(&self) -> u64 {
        self.thresholds.lock().map_or(0, |t| t.thresholds.evictions)
    }

    /// Live xbits entries evicted so far because the shared xbits table was full (its
    /// capacity is fixed: 16384 host/pair bits).
    pub fn xbits_evictions(&self) -> u64 {
        self.thresholds.lock().map_or(0, |t| t.xbits.evictions)
    }

    /// Makes this scratch count thresholds (and keep xbits) in `other`'s table, so that
    /// several workers share host bits and rate-limit a rule together (by source, destination or rule) instead of each on its
    /// own. Which worker's packet alerts first within a window then depends on timing.
    pub fn share_thresholds(&mut self, other: &Scratch) {
        self.thresholds = Arc::clone(&other.thresholds);
    }
}

/// The compiled, immutable rule set (shared by workers via `Arc`).
#[derive(Debug, Default)]
pub struct RuleSet {
    rules: Vec<CompiledRule>,
    groups: Vec<Prefilter>,
    /// App-layer pass groups, by [`app_group_of`].
    app_groups: Vec<AppGroup>,
    inactive: Vec<RuleMeta>,
    pub(crate) names: VarNames,
    max_span: usize,
    max_patterns: usize,
    max_app_patterns: usize,
    /// Rules `0..packet_rules` are the packet pass's, the rest the app-layer pass's.
    packet_rules: usize,
}

impl RuleSet {
    pub(crate) fn new(
        rules: Vec<CompiledRule>,
        groups: Vec<Prefilter>,
        app_groups: Vec<AppGroup>,
        inactive: Vec<RuleMeta>,
        names: VarNames,
        max_span: usize,
    ) -> Self {
        let max_patterns = groups
            .iter()
            .map(|g| g.exact_owners.len().max(g.nocase_owners.len()))
            .max()
            .unwrap_or(0);
        let max_app_patterns = app_groups.iter().map(|g| g.owners.len()).max().unwrap_or(0);
        let packet_rules = rules.partition_point(|r| r.app_side.is_none());
        RuleSet {
            packet_rules,
            rules,
            groups,
            app_groups,
            inactive,
            names,
            max_span,
            max_patterns,
            max_app_patterns,
        }
    }

    /// A scratch sized for this rule set; create one per worker and reuse it.
    pub fn scratch(&self) -> Scratch {
        Scratch {
            candidates: vec![0; words(self.rules.len())],
            exact_seen: vec![0; words(self.max_patterns)],
            nocase_seen: vec![0; words(self.max_patterns)],
            app_seen: vec![0; words(self.max_app_patterns)],
            matched: vec![0; words(self.rules.len())],
            steps: 0,
            no_flow: FlowVars::default(),
            thresholds: Arc::new(Mutex::new(Shared::default())),
            transforms: TransformBufs::default(),
        }
    }

    /// Number of active (matched) rules.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// Whether no rule is active.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Metadata of every active rule, in rule-set order.
    pub fn rules(&self) -> impl Iterator<Item = &RuleMeta> + '_ {
        self.rules.iter().map(|r| &r.meta)
    }

    /// Metadata of the rules loaded inactive (never matched), in load order.
    pub fn inactive_rules(&self) -> impl Iterator<Item = &RuleMeta> + '_ {
        self.inactive.iter()
    }

    /// The longest span a stream match of this rule set can cover when it is bounded
    /// (contents chained with `within`, absolute ones, isdataat): size the reassembler's
    /// lookbehind to at least this minus one so such matches straddling chunks are found.
    /// Matches of unbounded rules (`distance` without `within`, pcre, byte_jump) are found
    /// only within one chunk (lookbehind + new bytes).
    pub fn max_stream_match_span(&self) -> usize {
        self.max_span
    }

    /// Number of active rules that inspect app-layer buffers: they are evaluated only by
    /// [`RuleSet::detect_app`].
    pub fn app_rules(&self) -> usize {
        self.rules.iter().filter(|r| r.app_side.is_some()).count()
    }

    /// Per prefilter group of the packet pass (transport x direction): (patterns, automaton
    /// heap bytes, always-checked rules), for tuning and reports. The app-layer pass's
    /// groups (buffer kind x side) follow, those without rules left out.
    pub fn prefilter_stats(&self) -> Vec<(usize, usize, usize)> {
        self.groups
            .iter()
            .map(|g| {
                let ac = |a: &Option<AhoCorasick>| a.as_ref().map_or(0, AhoCorasick::memory_usage);
                (
                    g.exact_owners.len() + g.nocase_owners.len(),
                    ac(&g.exact) + ac(&g.nocase),
                    g.always.iter().map(|w| w.count_ones() as usize).sum(),
                )
            })
            .chain(
                self.app_groups
                    .iter()
                    .filter(|g| !g.owners.is_empty() || !g.always.is_empty())
                    .map(|g| {
                        (
                            g.owners.len(),
                            g.ac.as_ref().map_or(0, AhoCorasick::memory_usage),
                            g.always.len(),
                        )
                    }),
            )
            .collect()
    }

    fn check_scratch(&self, scratch: &mut Scratch) {
        if scratch.candidates.len() != words(self.rules.len())
            || scratch.exact_seen.len() != words(self.max_patterns)
            || scratch.app_seen.len() != words(self.max_app_patterns)
            || scratch.matched.len() != words(self.rules.len())
        {
            // A scratch from another rule set: resize once (the only allocation path).
            let thresholds = Arc::clone(&scratch.thresholds);
            *scratch = self.scratch();
            scratch.thresholds = thresholds;
        }
    }

    /// Calls `on_match` once per matching rule, in rule-set order. Flowbits/flowint
    /// conditions see an empty flow (use [`RuleSet::detect_with_flow`] to keep them).
    pub fn detect(
        &self,
        input: &DetectInput<'_>,
        scratch: &mut Scratch,
        on_match: impl FnMut(&RuleMeta),
    ) {
        let mut vars = std::mem::take(&mut scratch.no_flow);
        vars.clear();
        self.run(input, &mut vars, scratch, false, on_match);
        scratch.no_flow = vars;
    }

    /// Like [`RuleSet::detect`], reading and updating the flow's variables. Call it once per
    /// packet, with `input.stream` set to the first stream chunk the packet delivered (if
    /// any); call [`RuleSet::detect_stream_chunk`] for each further chunk.
    pub fn detect_with_flow(
        &self,
        input: &DetectInput<'_>,
        vars: &mut FlowVars,
        scratch: &mut Scratch,
        on_match: impl FnMut(&RuleMeta),
    ) {
        self.run(input, vars, scratch, false, on_match);
    }

    /// For the second and later stream chunks delivered by the same packet: `input` is the
    /// packet's input with `stream` set to the next chunk. Only stream-inspecting rules that
    /// did not already match on this packet are evaluated, so a rule alerts at most once per
    /// packet, as in Suricata.
    pub fn detect_stream_chunk(
        &self,
        input: &DetectInput<'_>,
        vars: &mut FlowVars,
        scratch: &mut Scratch,
        on_match: impl FnMut(&RuleMeta),
    ) {
        if input.stream.is_some() {
            self.run(input, vars, scratch, true, on_match);
        }
    }

    /// The app-layer pass, at one inspection point of a transaction: `input.buffers` are the
    /// buffers that point offers and `input.flow.to_server` says its side (true: request).
    ///
    /// Only rules that inspect app-layer buffers are evaluated here (and never by the packet
    /// pass). Each has one side: the response side when it uses a buffer only responses
    /// have ([`BufferKind::response_only`]) or says `flow:to_client`/`from_server`, else
    /// the request side; at the other side it is not evaluated, so calling this once per
    /// inspection point fires a rule at most once per transaction. The rule's packet
    /// conditions (header, `flow`, flowbits, dsize, payload contents, ...) apply to `input`
    /// as given. Candidates come from one automaton per buffer kind and side over the rules'
    /// fast patterns in that buffer; rules without one are checked whenever their buffer is
    /// offered. No allocation and no lock once warm (except the threshold table when a
    /// thresholded rule matched).
    pub fn detect_app(
        &self,
        input: &DetectInput<'_>,
        vars: &mut FlowVars,
        scratch: &mut Scratch,
        mut on_match: impl FnMut(&RuleMeta),
    ) {
        self.check_scratch(scratch);
        let side = input.flow.to_server;
        let start = (self.packet_rules / 64).min(scratch.candidates.len());
        scratch.candidates[start..].fill(0);
        for b in input.buffers {
            if let Some(g) = self.app_groups.get(app_group_of(b.kind, side)) {
                g.select(b.data, &mut scratch.app_seen, &mut scratch.candidates);
            }
        }
        for wi in start..scratch.candidates.len() {
            let mut w = scratch.candidates[wi];
            while w != 0 {
                let bit = w.trailing_zeros() as usize;
                w &= w - 1;
                let idx = wi * 64 + bit;
                let Some(rule) = self.rules.get(idx) else {
                    continue;
                };
                if rule.app_side != Some(side)
                    || !rule.pre_matches(input, vars)
                    || !rule.payload_matches(input, &mut scratch.steps, false)
                    || !rule.buffers_match(input, &mut scratch.steps, &mut scratch.transforms)
                    || !xbits_hold(rule, input, scratch)
                {
                    continue;
                }
                fire(rule, input, vars, scratch, &mut on_match);
            }
        }
    }

    fn run(
        &self,
        input: &DetectInput<'_>,
        vars: &mut FlowVars,
        scratch: &mut Scratch,
        stream_only: bool,
        mut on_match: impl FnMut(&RuleMeta),
    ) {
        self.check_scratch(scratch);
        if !stream_only {
            scratch.matched.fill(0);
        }
        let to_server = !input.flow.tracked || input.flow.to_server;
        let Some(group) = self.groups.get(group_of(input.ip_proto, to_server)) else {
            return;
        };
        let end = words(self.packet_rules).min(scratch.candidates.len());
        group.select(input, scratch, stream_only, end);
        for wi in 0..end {
            let mut w = scratch.candidates[wi];
            while w != 0 {
                let bit = w.trailing_zeros() as usize;
                w &= w - 1;
                let idx = wi * 64 + bit;
                let Some(rule) = self.rules.get(idx) else {
                    continue;
                };
                if rule.app_side.is_some()
                    || (stream_only && (!rule.inspects_stream() || get_bit(&scratch.matched, idx)))
                {
                    continue;
                }
                if !rule.pre_matches(input, vars)
                    || !rule.payload_matches(input, &mut scratch.steps, stream_only)
                    || !rule.buffers_match(input, &mut scratch.steps, &mut scratch.transforms)
                    || !xbits_hold(rule, input, scratch)
                {
                    continue;
                }
                set_bit(&mut scratch.matched, idx);
                fire(rule, input, vars, scratch, &mut on_match);
            }
        }
    }
}

/// Post-match of a rule whose conditions all hold: flowbits/flowint actions, thresholds,
/// then the alert unless `noalert` or thresholded.
fn fire(
    rule: &CompiledRule,
    input: &DetectInput<'_>,
    vars: &mut FlowVars,
    scratch: &mut Scratch,
    on_match: &mut impl FnMut(&RuleMeta),
) {
    for f in &rule.flowbits {
        f.apply(vars);
    }
    for f in &rule.flowints {
        f.apply(vars);
    }
    let mut alert = !rule.noalert;
    if !rule.thresholds.is_empty() || rule.xbits.iter().any(|x| !x.is_condition()) {
        // A poisoned lock only means another worker panicked mid-update; the table is still
        // a valid table, so keep counting with it.
        let mut shared = scratch
            .thresholds
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = micros(input);
        for x in &rule.xbits {
            shared.xbits.apply(x, input.src_ip, input.dst_ip, now);
        }
        for t in &rule.thresholds {
            if !shared.thresholds.allow(
                t,
                rule.meta.gid,
                rule.meta.sid,
                input.src_ip,
                input.dst_ip,
                now,
            ) {
                alert = false;
            }
        }
    }
    if alert {
        on_match(&rule.meta);
    }
}

/// The packet time in microseconds since the epoch.
fn micros(input: &DetectInput<'_>) -> u64 {
    input
        .ts_secs
        .saturating_mul(1_000_000)
        .saturating_add(u64::from(input.ts_usecs))
}

/// The rule's xbits conditions (isset/isnotset) hold; checked last, after the rule's own
/// conditions, so the shared table is locked only for rules about to fire.
fn xbits_hold(rule: &CompiledRule, input: &DetectInput<'_>, scratch: &Scratch) -> bool {
    if !rule.xbits.iter().any(crate::xbits::Spec::is_condition) {
        return true;
    }
    let shared = scratch
        .thresholds
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let now = micros(input);
    rule.xbits
        .iter()
        .all(|x| shared.xbits.check(x, input.src_ip, input.dst_ip, now))
}
