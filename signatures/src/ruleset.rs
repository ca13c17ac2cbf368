//! Loading and compiling: the builder that turns sources into a [`RuleSet`] plus a report.
//!
//! Every rule ends in exactly one of three states — loaded, unsupported (counted by reason),
//! or error (with file:line:column) — and one bad rule never prevents the others from
//! loading. Compilation also picks each rule's prefilter pattern (fast_pattern, else the
//! longest positive content) and builds the two multi-pattern automata (exact and ASCII
//! case-insensitive) that `detect` uses to select candidate rules.

use std::collections::HashMap;
use std::path::Path;

use aho_corasick::{AhoCorasick, AhoCorasickKind};

use crate::content::Elem;
use crate::detect::{CompiledRule, Prefilter, RuleSet};
use crate::header::{parse_header, HeaderOutcome};
use crate::lexer::{lex_rule, Perr, RawRule};
use crate::options::{parse_options, Features};
use crate::source::{split_rules, RuleText};
use crate::{LoadError, LoadReport, RuleError, RuleMeta, RuleStatus, Vars};

/// Collects rules from files and strings, then compiles them into a [`RuleSet`].
pub struct RuleSetBuilder {
    vars: Vars,
    rules: Vec<CompiledRule>,
    report: LoadReport,
    /// (gid, sid) -> location of the first rule that used it.
    seen: HashMap<(u32, u32), String>,
    features: Features,
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
        }
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
    pub fn build(self) -> (RuleSet, LoadReport) {
        let prefilter = build_prefilter(&self.rules);
        (RuleSet::new(self.rules, prefilter), self.report)
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
        let header = match header {
            HeaderOutcome::Parsed(h) => Ok(h),
            HeaderOutcome::Unsupported(reason) => Err(reason),
        };
        let header = match (header, opts.unsupported.clone()) {
            (Err(reason), _) | (Ok(_), Some(reason)) => {
                *self.report.unsupported.entry(reason.clone()).or_insert(0) += 1;
                self.report.rules.push(RuleStatus {
                    sid: Some(sid),
                    location,
                    skipped: Some(format!("unsupported: {reason}")),
                });
                return;
            }
            (Ok(h), None) => h,
        };
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
        self.rules.push(CompiledRule {
            header,
            flow: opts.flow,
            dsize: opts.dsize,
            chain: opts.chain,
            meta,
        });
        self.report.loaded += 1;
        self.report.rules.push(RuleStatus {
            sid: Some(sid),
            location,
            skipped: None,
        });
    }

    fn fail(&mut self, err: RuleError, sid: Option<u32>, location: String) {
        self.report.rules.push(RuleStatus {
            sid,
            location,
            skipped: Some(err.to_string()),
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

/// The pattern a rule is prefiltered on: bytes and whether it is case-insensitive.
fn prefilter_pattern(chain: &[Elem]) -> Option<(&[u8], bool)> {
    let positive = || {
        chain.iter().filter_map(|e| match e {
            Elem::Content(c) if !c.negated => Some(c),
            _ => None,
        })
    };
    let chosen = positive()
        .find(|c| c.fast_pattern)
        .or_else(|| positive().rev().max_by_key(|c| c.pattern.len()))?;
    // `rev().max_by_key` keeps the first of equally long contents.
    let bytes = match chosen.fast_chop {
        Some((off, len)) => chosen
            .pattern
            .get(usize::from(off)..usize::from(off) + usize::from(len))
            .unwrap_or(&chosen.pattern),
        None => &chosen.pattern,
    };
    Some((bytes, chosen.nocase))
}

/// Total pattern bytes up to which the prefilter uses a DFA (tens of MB at most).
const DFA_MAX_PATTERN_BYTES: usize = 32 * 1024;

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
    fn build(&mut self, ci: bool, always: &mut Vec<u32>) -> Option<AhoCorasick> {
        if self.patterns.is_empty() {
            return None;
        }
        // A DFA scans fastest and every packet pays for this scan, but its memory grows with
        // states x byte classes; above a modest size let the library pick (contiguous NFA).
        let total: usize = self.patterns.iter().map(Vec::len).sum();
        let kind = (total <= DFA_MAX_PATTERN_BYTES).then_some(AhoCorasickKind::DFA);
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

fn build_prefilter(rules: &[CompiledRule]) -> Prefilter {
    let mut exact = PatternGroup::default();
    let mut nocase = PatternGroup::default();
    let mut always = Vec::new();
    for (idx, rule) in rules.iter().enumerate() {
        let idx = u32::try_from(idx).unwrap_or(u32::MAX);
        match prefilter_pattern(&rule.chain) {
            None => always.push(idx),
            Some((bytes, true)) => nocase.add(bytes.to_ascii_lowercase(), idx),
            Some((bytes, false)) => exact.add(bytes.to_vec(), idx),
        }
    }
    let exact_ac = exact.build(false, &mut always);
    let nocase_ac = nocase.build(true, &mut always);
    Prefilter::new(
        rules.len(),
        always,
        exact_ac,
        exact.owners,
        nocase_ac,
        nocase.owners,
    )
}
