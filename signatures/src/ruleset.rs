//! Loading and compiling: the builder that turns sources into a [`RuleSet`] plus a report.
//!
//! Every rule ends in exactly one of four states — active, inactive (parsed and kept, but it
//! needs an app-layer parser the sensor lacks; counted by reason, never matched),
//! unsupported (counted by reason) or error (with file:line:column) — and one bad rule never
//! prevents the others from loading. Compilation orders rules for flowbits (setters first),
//! picks each rule's prefilter pattern (fast_pattern, else the longest positive content) and
//! builds, per transport/direction group, the automaton and address index that `detect` uses
//! to select candidate rules. Regexes of active rules are JIT-compiled at load.

use std::collections::HashMap;
use std::path::Path;

use aho_corasick::{AhoCorasick, AhoCorasickKind};

use crate::content::Elem;
use crate::detect::{
    app_group_of, group_of, AppGroup, BufferList, CompiledRule, PayloadMode, Prefilter, RuleSet,
    APP_GROUPS, GROUPS,
};
use crate::flowvars::{Flowbits, VarNames};
use crate::header::{parse_header, HeaderOutcome, Proto};
use crate::lexer::{lex_rule, Perr, RawRule};
use crate::options::{parse_options, Features, ListId, StreamMode};
use crate::source::{split_rules, RuleText};
use crate::transform::Transform;
use crate::BufferKind;
use crate::{LoadError, LoadReport, RuleError, RuleMeta, RuleStatus, Vars};

/// Collects rules from files and strings, then compiles them into a [`RuleSet`].
pub struct RuleSetBuilder {
    vars: Vars,
    rules: Vec<CompiledRule>,
    report: LoadReport,
    /// (gid, sid) -> location of the first rule that used it.
    seen: HashMap<(u32, u32), String>,
    features: Features,
    inactive: Vec<RuleMeta>,
    names: VarNames,
    /// App-layer protocols the sensor detects (canonical names).
    app_protocols: Vec<&'static str>,
}

impl RuleSetBuilder {
    /// A builder that resolves `$VARS` in rule headers with `vars`.
    pub fn new(vars: Vars) -> Self {
        RuleSetBuilder {
            vars,
            rules: Vec::new(),
            report: LoadReport::default(),
            seen: HashMap::new(),
            features: Features::default(),
            inactive: Vec::new(),
            names: VarNames::default(),
            app_protocols: Vec::new(),
        }
    }

    /// Declares that the sensor detects app-layer protocol `name` (`http`, `dns`, `tls`, ...)
    /// and sets [`crate::DetectInput::app_proto`] on the packets of such flows, so rules with
    /// that protocol in their header load active (if their buffers are enabled too) and match
    /// only those flows. Affects rules added afterwards.
    pub fn enable_app_protocol(&mut self, name: &str) -> &mut Self {
        let app = crate::header::canonical_app(name);
        if app != "?" && !self.app_protocols.contains(&app) {
            self.app_protocols.push(app);
        }
        self
    }

    /// Declares that the sensor provides app-layer buffer `kind` (fills it in
    /// [`crate::DetectInput::buffers`]), so rules inspecting it load active. By default no
    /// buffer is provided and such rules load inactive. Affects rules added afterwards.
    pub fn enable_buffer(&mut self, kind: BufferKind) -> &mut Self {
        self.features.buffers |= 1u64 << (kind as u32);
        self
    }

    /// Keeps the flowbit/flowint ids of `previous` (the rule set being replaced), so the
    /// [`crate::FlowVars`] stored in live flows keep their meaning after a reload. Call before
    /// adding rules.
    pub fn inherit_var_ids(&mut self, previous: &RuleSet) -> &mut Self {
        self.names = previous.names.clone();
        self
    }

    /// Also evaluate `byte_test` and `byte_jump` (off by default: outside the first-cut
    /// scope, so such rules are reported unsupported unless enabled). They are implemented
    /// with Suricata's arithmetic; see the `bytes` module. Affects rules added afterwards.
    pub fn enable_byte_keywords(&mut self, enabled: bool) -> &mut Self {
        self.features.byte_keywords = enabled;
        self
    }

    /// Also accept the header protocols `tcp-pkt` (packets only — all this engine inspects
    /// anyway), `icmpv4`, `icmpv6`, `ipv4`/`ip4` and `ipv6`/`ip6`. Off by default: the first
    /// cut supports ip/tcp/udp/icmp only. Affects rules added afterwards.
    pub fn enable_extra_protocols(&mut self, enabled: bool) -> &mut Self {
        self.features.extra_protocols = enabled;
        self
    }

    /// Loads a rules file, or every `*.rules` file of a directory (sorted by name, not
    /// recursive). Fails only when the path (or a file in it) cannot be read; bad rules are
    /// recorded in the report instead.
    pub fn add_path(&mut self, path: &Path) -> Result<(), LoadError> {
        let io_err = |p: &Path, source| LoadError {
            path: p.display().to_string(),
            source,
        };
        let meta = std::fs::metadata(path).map_err(|e| io_err(path, e))?;
        let mut files = Vec::new();
        if meta.is_dir() {
            for entry in std::fs::read_dir(path).map_err(|e| io_err(path, e))? {
                let entry = entry.map_err(|e| io_err(path, e))?;
                let p = entry.path();
                if p.extension().is_some_and(|e| e == "rules") && p.is_file() {
                    files.push(p);
                }
            }
            files.sort();
        } else {
            files.push(path.to_path_buf());
        }
        for file in files {
            let bytes = std::fs::read(&file).map_err(|e| io_err(&file, e))?;
            let text = String::from_utf8_lossy(&bytes);
            self.add_source(&file.display().to_string(), &text);
        }
        Ok(())
    }

    /// Loads rules from text; `name` is used as the file name in locations and errors.
    pub fn add_source(&mut self, name: &str, text: &str) {
        for rule in split_rules(text) {
            self.add_rule(name, &rule);
        }
    }

    /// Compiles the loaded rules. The report lists every rule's outcome.
    pub fn build(mut self) -> (RuleSet, LoadReport) {
        let start = std::time::Instant::now();
        // Packet rules first, then app-layer rules (each pass then walks only its own part
        // of the candidate bitset); within each, Suricata's flowbits (and host/ippair bits)
        // ordering: setters before readers, otherwise load order.
        self.rules.sort_by_key(|r| {
            let sets = r.flowbits.iter().any(|f| !f.is_condition())
                || r.xbits.iter().any(|x| !x.is_condition());
            let reads = r.flowbits.iter().any(Flowbits::is_condition)
                || r.xbits.iter().any(crate::xbits::Spec::is_condition);
            let class = match (sets, reads) {
                (true, false) => 0u8,
                (true, true) | (false, false) => 1,
                (false, true) => 2,
            };
            (r.app_side.is_some(), class)
        });
        // Only the packet pass inspects the stream: app-layer rules never widen the lookbehind.
        let max_span = self
            .rules
            .iter()
            .filter(|r| r.app_side.is_none())
            .map(stream_span)
            .max()
            .unwrap_or(0);
        let (groups, app_groups) = build_groups(&self.rules);
        let set = RuleSet::new(
            self.rules,
            groups,
            app_groups,
            self.inactive,
            self.names,
            max_span,
        );
        self.report.compile_ms = u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX);
        (set, self.report)
    }

    fn add_rule(&mut self, file: &str, rule: &RuleText) {
        let location = format!("{file}:{}", rule.first_line());
        let to_error = |p: Perr| {
            let (line, column) = rule.position(p.offset);
            RuleError {
                file: file.to_string(),
                line,
                column,
                message: p.message,
            }
        };
        let raw = match lex_rule(&rule.text) {
            Ok(raw) => raw,
            Err(e) => return self.fail(to_error(e), None, location),
        };
        let header = match parse_header(
            &raw.header,
            raw.open_paren,
            &self.vars,
            self.features.extra_protocols,
        ) {
            Ok(h) => h,
            Err(e) => return self.fail(to_error(e), sid_hint(&raw), location),
        };
        let opts = match parse_options(&raw, self.features) {
            Ok(o) => o,
            Err(e) => return self.fail(to_error(e), sid_hint(&raw), location),
        };
        let sid = opts.sid.unwrap_or(0);
        let gid = opts.gid.unwrap_or(1);
        if let Some(first) = self.seen.get(&(gid, sid)) {
            let at = raw
                .options
                .iter()
                .find(|o| o.name.text.eq_ignore_ascii_case("sid"))
                .map_or(raw.open_paren, |o| {
                    o.value.map_or(o.name.start, |v| v.start)
                });
            let msg = format!("duplicate sid {sid} (gid {gid}), first defined at {first}");
            return self.fail(to_error(Perr::new(at, msg)), Some(sid), location);
        }
        self.seen.insert((gid, sid), location.clone());
        let mut inactive = opts.inactive.clone();
        let header = match header {
            HeaderOutcome::Parsed(h) => Ok(h),
            HeaderOutcome::Inactive(h, reason) => {
                if !h.app.is_some_and(|a| self.app_protocols.contains(&a)) {
                    inactive = Some(reason);
                }
                Ok(h)
            }
            HeaderOutcome::Unsupported(reason) => Err(reason),
        };
        // A deferred keyword only loads in a rule that is inactive anyway.
        let unsupported = opts
            .unsupported
            .clone()
            .or_else(|| opts.deferred.clone().filter(|_| inactive.is_none()));
        let header = match (header, unsupported) {
            (Err(reason), _) | (Ok(_), Some(reason)) => {
                *self.report.unsupported.entry(reason.clone()).or_insert(0) += 1;
                self.report.rules.push(RuleStatus {
                    sid: Some(sid),
                    location,
                    skipped: Some(format!("unsupported: {reason}")),
                    inactive: None,
                });
                return;
            }
            (Ok(h), None) => h,
        };
        let proto_word = raw
            .header
            .get(1)
            .map(|t| t.text.to_ascii_lowercase())
            .unwrap_or_default();
        let priority = opts
            .priority
            .or(opts.class.map(|c| c.priority))
            .unwrap_or(3);
        let meta = RuleMeta {
            action: header.action,
            gid,
            sid,
            rev: opts.rev.unwrap_or(0),
            msg: opts.msg,
            category: opts
                .class
                .map(|c| c.description.to_string())
                .unwrap_or_default(),
            severity: priority,
            location: location.clone(),
        };
        let mut flowbits = Vec::new();
        for f in &opts.flowbits {
            let ids: Option<Vec<u16>> = f.names.iter().map(|n| self.names.bit(n)).collect();
            match ids {
                Some(ids) => flowbits.push(Flowbits {
                    op: f.op.clone(),
                    ids,
                    any: f.any,
                }),
                None => {
                    inactive.get_or_insert_with(|| "flowbits capacity".to_string());
                }
            }
        }
        let mut xbits = opts.xbits.clone();
        for x in &mut xbits {
            match self.names.xbit(&x.name) {
                Some(id) => x.id = id,
                None => {
                    inactive.get_or_insert_with(|| "xbits capacity".to_string());
                }
            }
        }
        let mut flowints = opts.flowints.clone();
        for f in &mut flowints {
            f.id = self.names.int(&f.name).unwrap_or(u16::MAX);
        }
        if let Some(reason) = inactive {
            *self
                .report
                .inactive_reasons
                .entry(reason.clone())
                .or_insert(0) += 1;
            self.report.inactive += 1;
            self.inactive.push(meta);
            self.report.rules.push(RuleStatus {
                sid: Some(sid),
                location,
                skipped: Some(format!("inactive: {reason}")),
                inactive: Some(reason),
            });
            return;
        }
        let payload = opts
            .lists
            .iter()
            .find(|l| l.id == ListId::Payload)
            .map(|l| l.chain.clone());
        let anchored = payload.as_ref().is_some_and(|c| {
            c.iter().any(|e| {
                matches!(e, Elem::Content(c) if c.offset.is_some() || c.depth.is_some() || c.startswith)
            })
        });
        let mode = match (opts.flow.stream, proto_word.as_str()) {
            (StreamMode::NoStream, _) | (_, "tcp-pkt") => PayloadMode::Packet,
            (StreamMode::OnlyStream, _) | (_, "tcp-stream") => PayloadMode::StreamOnly,
            _ if opts.dsize.is_some() => PayloadMode::Packet,
            _ if opts
                .header_tests
                .iter()
                .any(|t| matches!(t, crate::hdrkw::HeaderTest::StreamSize(..))) =>
            {
                PayloadMode::StreamPacket
            }
            _ if anchored => PayloadMode::StreamPacket,
            _ => PayloadMode::Stream,
        };
        let buffers = opts
            .lists
            .iter()
            .filter_map(|l| match l.id {
                ListId::Buffer(kind) => Some(BufferList {
                    kind,
                    transforms: l.compiled_transforms.clone(),
                    chain: l.chain.clone(),
                    bsize: l.bsize.clone(),
                }),
                ListId::Payload => None,
            })
            .collect::<Vec<BufferList>>();
        // One inspection side per app-layer rule (see `RuleSet::detect_app`).
        let app_side = (!buffers.is_empty()).then(|| {
            let response = opts.flow.to_server == Some(false)
                || buffers.iter().any(|b| b.kind.response_only());
            !response
        });
        self.rules.push(CompiledRule {
            header,
            flow: opts.flow,
            dsize: opts.dsize,
            header_tests: opts.header_tests.clone(),
            payload,
            mode,
            anchored,
            buffers,
            app_side,
            flowbits,
            flowints,
            noalert: opts.noalert,
            thresholds: opts.thresholds.clone(),
            xbits,
            meta,
        });
        self.report.loaded += 1;
        self.report.rules.push(RuleStatus {
            sid: Some(sid),
            location,
            skipped: None,
            inactive: None,
        });
    }

    fn fail(&mut self, err: RuleError, sid: Option<u32>, location: String) {
        self.report.rules.push(RuleStatus {
            sid,
            location,
            skipped: Some(err.to_string()),
            inactive: None,
        });
        self.report.errors.push(err);
    }
}

/// The sid of a rule that failed to parse, if it can be read, for the report.
fn sid_hint(raw: &RawRule<'_>) -> Option<u32> {
    raw.options
        .iter()
        .find(|o| o.name.text.eq_ignore_ascii_case("sid"))
        .and_then(|o| o.value)
        .and_then(|v| v.text.parse().ok())
}

/// The pattern a rule is prefiltered on: bytes and whether it is case-insensitive. Taken
/// from any of its lists (the prefilter scans payload, stream and buffers alike); a rule with
/// no positive content anywhere has none.
fn prefilter_pattern(rule: &CompiledRule) -> Option<(&[u8], bool)> {
    let positive = || {
        rule.payload
            .iter()
            .flatten()
            // Contents of transformed buffers match the transformed bytes, which the
            // prefilter (scanning raw buffers) never sees.
            .chain(
                rule.buffers
                    .iter()
                    .filter(|b| b.transforms.is_empty())
                    .flat_map(|b| b.chain.iter()),
            )
            .filter_map(|e| match e {
                Elem::Content(c) if !c.negated => Some(c),
                _ => None,
            })
    };
    let longest = positive().rev().max_by_key(|c| c.pattern.len())?;
    // `rev().max_by_key` keeps the first of equally long contents.
    let chosen = match positive().find(|c| c.fast_pattern) {
        // A 1-2 byte fast pattern hits on most packets; any positive content of the rule is
        // a valid prefilter, so a longer one is used when there is one.
        Some(fp)
            if fp
                .fast_chop
                .map_or(fp.pattern.len(), |(_, l)| usize::from(l))
                >= MIN_PATTERN =>
        {
            fp
        }
        _ => longest,
    };
    let bytes = match chosen.fast_chop {
        Some((off, len)) if chosen.fast_pattern => chosen
            .pattern
            .get(usize::from(off)..usize::from(off) + usize::from(len))
            .unwrap_or(&chosen.pattern),
        _ => &chosen.pattern,
    };
    if bytes.len() < MIN_PATTERN {
        // Still short: checking the rule on every packet of its group (header first) is
        // cheaper than an automaton hit on nearly every byte.
        return None;
    }
    Some((bytes, chosen.nocase))
}

/// The pattern an app-layer rule is prefiltered on: the buffer kind it is found in and its
/// bytes as they occur in the raw buffer (matched case-insensitively). Taken from the rule's
/// fast_pattern when usable, else its longest positive buffer content. Contents of buffers
/// with transforms count only when the transforms are `dotprefix` and case changes (a
/// leading `.` is dropped: the raw buffer holds the rest); None when no content qualifies.
fn app_pattern(rule: &CompiledRule) -> Option<(BufferKind, Vec<u8>)> {
    let mut best: Option<(bool, BufferKind, Vec<u8>)> = None;
    for list in &rule.buffers {
        let mut dotprefix = false;
        let usable = list.transforms.iter().all(|t| match t {
            Transform::DotPrefix => {
                dotprefix = true;
                true
            }
            Transform::ToLower | Transform::ToUpper => true,
            _ => false,
        });
        if !usable {
            continue;
        }
        for e in &list.chain {
            let Elem::Content(c) = e else { continue };
            if c.negated {
                continue;
            }
            let mut bytes: &[u8] = match c.fast_chop {
                Some((off, len)) if c.fast_pattern => c
                    .pattern
                    .get(usize::from(off)..usize::from(off) + usize::from(len))
                    .unwrap_or(&c.pattern),
                _ => &c.pattern,
            };
            if dotprefix {
                if let Some(rest) = bytes.strip_prefix(b".") {
                    bytes = rest;
                }
            }
            if bytes.len() < MIN_PATTERN {
                continue;
            }
            let better = match &best {
                None => true,
                Some((fp, _, b)) => {
                    (c.fast_pattern && !fp) || (c.fast_pattern == *fp && bytes.len() > b.len())
                }
            };
            if better {
                best = Some((c.fast_pattern, list.kind, bytes.to_ascii_lowercase()));
            }
        }
    }
    best.map(|(_, k, b)| (k, b))
}

/// Prefilter patterns shorter than this are not worth an automaton entry. Measured on ET Open
/// over corpus captures (`examples/detect_corpus.rs`): 3 was ~12% slower than 1 (the rules
/// then verified on every packet cost more than the extra automaton hits), so it stays 1.
const MIN_PATTERN: usize = 1;

/// Total pattern bytes up to which a packet-pass prefilter uses a DFA (tens of MB at most).
const DFA_MAX_PATTERN_BYTES: usize = 256 * 1024;

/// The same for the app-layer pass: its buffers are short (a URI, a host name) and it runs
/// per transaction, not per packet, so bigger groups use a contiguous NFA. Measured on ET
/// Open (every buffer enabled, bench `detect_app_http_requests`): at 256 KiB every app group
/// is a DFA and the pass is ~2x faster (13 vs 26 us per HTTP request), but loading takes
/// ~40% more CPU and the process 120 MB more memory (284 vs 164 MB RSS).
const APP_DFA_MAX_PATTERN_BYTES: usize = 16 * 1024;

/// Deduplicated prefilter patterns of one automaton and the rules that chose each.
#[derive(Default)]
struct PatternGroup {
    patterns: Vec<Vec<u8>>,
    owners: Vec<Vec<u32>>,
    index: HashMap<Vec<u8>, usize>,
}

impl PatternGroup {
    fn add(&mut self, key: Vec<u8>, rule: u32) {
        let pid = match self.index.get(&key) {
            Some(&pid) => pid,
            None => {
                self.patterns.push(key.clone());
                self.owners.push(Vec::new());
                self.index.insert(key, self.patterns.len() - 1);
                self.patterns.len() - 1
            }
        };
        if let Some(o) = self.owners.get_mut(pid) {
            o.push(rule);
        }
    }

    /// Builds the automaton; on failure (or no patterns) moves its rules to `always`.
    fn build(&mut self, ci: bool, dfa_max: usize, always: &mut Vec<u32>) -> Option<AhoCorasick> {
        if self.patterns.is_empty() {
            return None;
        }
        // A DFA scans fastest and every packet pays for this scan, but its memory grows with
        // states x byte classes; above a modest size let the library pick (contiguous NFA).
        let total: usize = self.patterns.iter().map(Vec::len).sum();
        let kind = if total <= dfa_max {
            Some(AhoCorasickKind::DFA)
        } else {
            Some(AhoCorasickKind::ContiguousNFA)
        };
        let ac = AhoCorasick::builder()
            .ascii_case_insensitive(ci)
            .kind(kind)
            .build(&self.patterns)
            .or_else(|_| {
                AhoCorasick::builder()
                    .ascii_case_insensitive(ci)
                    .build(&self.patterns)
            })
            .ok();
        if ac.is_none() {
            // Checking these rules on every packet is slower but still exact.
            always.extend(self.owners.iter().flatten().copied());
            self.owners.clear();
        }
        ac
    }
}

fn build_prefilter(rules: &[CompiledRule], members: &[u32]) -> Prefilter {
    let mut exact = PatternGroup::default();
    let mut nocase = PatternGroup::default();
    let mut always = Vec::new();
    let (mut v4, mut v6) = (Vec::new(), Vec::new());
    for &idx in members {
        let Some(rule) = rules.get(idx as usize) else {
            continue;
        };
        match prefilter_pattern(rule) {
            None => match rule.header.index_addresses() {
                Some((a4, a6)) => {
                    v4.extend(a4.iter().map(|&(lo, hi)| (lo, hi, idx)));
                    v6.extend(a6.iter().map(|&(lo, hi)| (lo, hi, idx)));
                }
                None => always.push(idx),
            },
            // One case-insensitive automaton for all: scanning once beats scanning twice,
            // and a case-only false hit is removed by verification.
            Some((bytes, _)) => nocase.add(bytes.to_ascii_lowercase(), idx),
        }
    }
    let exact_ac = exact.build(false, DFA_MAX_PATTERN_BYTES, &mut always);
    let nocase_ac = nocase.build(true, DFA_MAX_PATTERN_BYTES, &mut always);
    let mut bits = vec![0u64; crate::detect::words(rules.len())];
    for r in always {
        crate::detect::set_bit(&mut bits, r as usize);
    }
    Prefilter {
        always: bits,
        addr_v4: crate::detect::AddrIndex::build(&v4),
        addr_v6: crate::detect::AddrIndex::build(&v6),
        exact: exact_ac,
        exact_owners: exact.owners,
        nocase: nocase_ac,
        nocase_owners: nocase.owners,
    }
}

fn build_app_group(rules: &[CompiledRule], members: &[u32]) -> AppGroup {
    let mut pats = PatternGroup::default();
    let mut always = Vec::new();
    for &idx in members {
        match rules.get(idx as usize).and_then(app_pattern) {
            Some((_, bytes)) => pats.add(bytes, idx),
            None => always.push(idx),
        }
    }
    let ac = pats.build(true, APP_DFA_MAX_PATTERN_BYTES, &mut always);
    always.sort_unstable();
    AppGroup {
        ac,
        owners: pats.owners,
        always,
    }
}

/// Runs `f(0..n)` on the machine's cores (largest jobs should come first) and returns the
/// results in index order. A job whose thread panicked is run again here.
fn par_map<T: Send>(n: usize, f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let threads = std::thread::available_parallelism()
        .map_or(1, std::num::NonZeroUsize::get)
        .min(n);
    if threads <= 1 {
        return (0..n).map(f).collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut out: Vec<Option<T>> = (0..n).map(|_| None).collect();
    let done: Vec<(usize, T)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut got = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        if i >= n {
                            break got;
                        }
                        got.push((i, f(i)));
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    });
    for (i, t) in done {
        if let Some(slot) = out.get_mut(i) {
            *slot = Some(t);
        }
    }
    out.into_iter()
        .enumerate()
        .map(|(i, t)| t.unwrap_or_else(|| f(i)))
        .collect()
}

/// One prefilter per transport class and direction (see `detect::group_of`) for the packet
/// pass, and one app group per buffer kind and side (`detect::app_group_of`) for the app
/// pass; the automata are built in parallel, largest first.
fn build_groups(rules: &[CompiledRule]) -> (Vec<Prefilter>, Vec<AppGroup>) {
    let mut members: Vec<Vec<u32>> = vec![Vec::new(); GROUPS];
    let mut app_members: Vec<Vec<u32>> = vec![Vec::new(); APP_GROUPS];
    for (idx, rule) in rules.iter().enumerate() {
        let idx = u32::try_from(idx).unwrap_or(u32::MAX);
        if let Some(side) = rule.app_side {
            let kind = app_pattern(rule)
                .map(|(k, _)| k)
                .or(rule.buffers.first().map(|b| b.kind));
            if let Some(m) = kind.and_then(|k| app_members.get_mut(app_group_of(k, side))) {
                m.push(idx);
            }
            continue;
        }
        let protos: &[u8] = match rule.header.proto {
            Proto::Tcp => &[6],
            Proto::Udp => &[17],
            Proto::Icmp => &[1],
            Proto::IcmpV4 => &[1],
            Proto::IcmpV6 => &[58],
            Proto::Ip | Proto::Ipv4 | Proto::Ipv6 => &[6, 17, 1, 0],
        };
        let dirs: &[bool] = match rule.flow.to_server {
            Some(true) if !rule.header.bidirectional() => &[true],
            Some(false) if !rule.header.bidirectional() => &[false],
            _ => &[true, false],
        };
        for &p in protos {
            for &d in dirs {
                if let Some(m) = members.get_mut(group_of(p, d)) {
                    m.push(idx);
                }
            }
        }
    }
    // Jobs: packet groups then app groups, run largest first.
    let mut jobs: Vec<(bool, usize)> = (0..GROUPS)
        .map(|g| (false, g))
        .chain((0..APP_GROUPS).map(|g| (true, g)))
        .collect();
    let size = |&(app, g): &(bool, usize)| {
        let m = if app { &app_members } else { &members };
        m.get(g).map_or(0, Vec::len)
    };
    jobs.sort_by_key(|j| std::cmp::Reverse(size(j)));
    enum Built {
        Packet(Prefilter),
        App(AppGroup),
    }
    let built = par_map(jobs.len(), |i| {
        let (app, g) = jobs.get(i).copied().unwrap_or((false, usize::MAX));
        if app {
            Built::App(build_app_group(
                rules,
                app_members.get(g).map_or(&[], Vec::as_slice),
            ))
        } else {
            Built::Packet(build_prefilter(
                rules,
                members.get(g).map_or(&[], Vec::as_slice),
            ))
        }
    });
    let mut groups: Vec<Prefilter> = (0..GROUPS).map(|_| Prefilter::default()).collect();
    let mut app_groups: Vec<AppGroup> = (0..APP_GROUPS).map(|_| AppGroup::default()).collect();
    for (&(_, g), b) in jobs.iter().zip(built) {
        match b {
            Built::Packet(p) => {
                if let Some(slot) = groups.get_mut(g) {
                    *slot = p;
                }
            }
            Built::App(a) => {
                if let Some(slot) = app_groups.get_mut(g) {
                    *slot = a;
                }
            }
        }
    }
    (groups, app_groups)
}

/// Upper bound of the bytes a stream match of `rule` can span, or 0 when it does not inspect
/// the stream or its span is unbounded (then matches are found within one chunk only).
fn stream_span(rule: &CompiledRule) -> usize {
    let Some(chain) = &rule.payload else { return 0 };
    if rule.mode == PayloadMode::Packet {
        return 0;
    }
    let mut span: usize = 0;
    for (i, e) in chain.iter().enumerate() {
        match e {
            Elem::Content(c) if c.negated => {}
            Elem::Content(c) if i == 0 || !c.is_relative() => {
                if i > 0 {
                    return 0;
                }
                span = match (c.depth, c.offset) {
                    (Some(d), off) => d as usize + off.unwrap_or(0) as usize,
                    _ => c.pattern.len(),
                };
            }
            Elem::Content(c) => match c.within {
                Some(w) => {
                    span = span
                        .saturating_add(c.distance.unwrap_or(0).max(0) as usize)
                        .saturating_add(w as usize)
                }
                None => return 0,
            },
            Elem::IsDataAt {
                n, relative: true, ..
            } => span = span.saturating_add(*n as usize),
            Elem::IsDataAt { .. } => {}
            _ => return 0,
        }
    }
    span
}
