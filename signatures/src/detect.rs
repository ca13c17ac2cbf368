//! Per-packet detection over a compiled [`RuleSet`].
//!
//! A packet first runs through two Aho-Corasick automata (exact and ASCII case-insensitive)
//! holding one pattern per rule; the rules whose pattern occurs, plus the rules without any
//! positive content, become candidates in a bitset. Walking the bitset in index order gives
//! load order and at-most-once per rule for free. All per-call state (bitsets, the
//! backtracking step budget) lives in [`Scratch`], so `detect` does not allocate.

use aho_corasick::{AhoCorasick, Input};

use crate::content::{inspect, Elem};
use crate::header::Header;
use crate::options::{FlowMatch, UintMatch};
use crate::{DetectInput, RuleMeta};

/// One loaded rule, ready to match.
#[derive(Debug, Clone)]
pub(crate) struct CompiledRule {
    pub(crate) header: Header,
    pub(crate) flow: FlowMatch,
    pub(crate) dsize: Option<UintMatch>,
    pub(crate) chain: Vec<Elem>,
    pub(crate) meta: RuleMeta,
}

impl CompiledRule {
    fn matches(&self, input: &DetectInput<'_>, steps: &mut u32) -> bool {
        if !self.header.matches(input) || !self.flow.matches(input.flow) {
            return false;
        }
        if let Some(d) = self.dsize {
            if !d.matches(input.payload.len()) {
                return false;
            }
        }
        *steps = 0;
        self.chain.is_empty() || inspect(&self.chain, input.payload, steps)
    }
}

/// Candidate selection: automata over each rule's chosen pattern.
#[derive(Debug, Default)]
pub(crate) struct Prefilter {
    /// Bitset of rules checked on every packet.
    always: Vec<u64>,
    exact: Option<AhoCorasick>,
    /// Pattern id -> rules that chose it.
    exact_owners: Vec<Vec<u32>>,
    nocase: Option<AhoCorasick>,
    nocase_owners: Vec<Vec<u32>>,
}

fn words(bits: usize) -> usize {
    bits.div_ceil(64)
}

fn set_bit(bits: &mut [u64], i: usize) -> bool {
    if let Some(w) = bits.get_mut(i / 64) {
        let mask = 1u64 << (i % 64);
        let was = *w & mask != 0;
        *w |= mask;
        !was
    } else {
        false
    }
}

impl Prefilter {
    pub(crate) fn new(
        rules: usize,
        always: Vec<u32>,
        exact: Option<AhoCorasick>,
        exact_owners: Vec<Vec<u32>>,
        nocase: Option<AhoCorasick>,
        nocase_owners: Vec<Vec<u32>>,
    ) -> Self {
        let mut bits = vec![0u64; words(rules)];
        for r in always {
            set_bit(&mut bits, r as usize);
        }
        Prefilter {
            always: bits,
            exact,
            exact_owners,
            nocase,
            nocase_owners,
        }
    }

    /// Marks candidate rules for `payload` into `scratch.candidates`.
    fn select(&self, payload: &[u8], scratch: &mut Scratch) {
        scratch.candidates.copy_from_slice(&self.always);
        if payload.is_empty() {
            return;
        }
        for (ac, owners, seen) in [
            (&self.exact, &self.exact_owners, &mut scratch.exact_seen),
            (&self.nocase, &self.nocase_owners, &mut scratch.nocase_seen),
        ] {
            let Some(ac) = ac else { continue };
            seen.fill(0);
            let Ok(iter) = ac.try_find_overlapping_iter(Input::new(payload)) else {
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
}

/// Per-worker reusable matching state; never shared between threads.
#[derive(Debug, Default)]
pub struct Scratch {
    candidates: Vec<u64>,
    exact_seen: Vec<u64>,
    nocase_seen: Vec<u64>,
    /// Backtracking budget counter for the rule being inspected.
    steps: u32,
}

/// The compiled, immutable rule set (shared by workers via `Arc`).
#[derive(Debug, Default)]
pub struct RuleSet {
    rules: Vec<CompiledRule>,
    prefilter: Prefilter,
}

impl RuleSet {
    pub(crate) fn new(rules: Vec<CompiledRule>, prefilter: Prefilter) -> Self {
        RuleSet { rules, prefilter }
    }

    /// A scratch sized for this rule set; create one per worker and reuse it.
    pub fn scratch(&self) -> Scratch {
        Scratch {
            candidates: vec![0; words(self.rules.len())],
            exact_seen: vec![0; words(self.prefilter.exact_owners.len())],
            nocase_seen: vec![0; words(self.prefilter.nocase_owners.len())],
            steps: 0,
        }
    }

    /// Number of loaded rules.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// Whether no rule was loaded.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Metadata of every loaded rule, in rule-set order.
    pub fn rules(&self) -> impl Iterator<Item = &RuleMeta> + '_ {
        self.rules.iter().map(|r| &r.meta)
    }

    /// Calls `on_match` once per matching rule, in rule-set order.
    pub fn detect(
        &self,
        input: &DetectInput<'_>,
        scratch: &mut Scratch,
        mut on_match: impl FnMut(&RuleMeta),
    ) {
        if scratch.candidates.len() != self.prefilter.always.len()
            || scratch.exact_seen.len() != words(self.prefilter.exact_owners.len())
            || scratch.nocase_seen.len() != words(self.prefilter.nocase_owners.len())
        {
            // A scratch from another rule set: resize once (the only allocation path).
            *scratch = self.scratch();
        }
        self.prefilter.select(input.payload, scratch);
        for (wi, word) in scratch.candidates.iter().enumerate() {
            let mut w = *word;
            while w != 0 {
                let bit = w.trailing_zeros() as usize;
                w &= w - 1;
                if let Some(rule) = self.rules.get(wi * 64 + bit) {
                    if rule.matches(input, &mut scratch.steps) {
                        on_match(&rule.meta);
                    }
                }
            }
        }
    }
}
