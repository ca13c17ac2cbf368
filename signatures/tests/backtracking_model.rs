//! Property test: Suricata's backtracking inspection against a brute-force model.
//!
//! The model enumerates occurrences directly: a positive content tries every occurrence in
//! its window when the next content is relative (Suricata's RELATIVE_NEXT), otherwise only
//! the first one; a negated content passes when its pattern is absent from its window and
//! does not move the inspection offset. For chains of positive contents this is an
//! exhaustive search; with a negated content in between it is deliberately not (Suricata
//! does not retry across it), and the model keeps that quirk.

// Test helpers outside #[test] fns panic on purpose when a fixture is wrong.
#![allow(clippy::unwrap_used)]

mod common;
use common::{fired, load, tcp};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Pos {
    Absolute {
        offset: Option<u32>,
        depth: Option<u32>,
    },
    Relative {
        distance: Option<i32>,
        within: Option<u32>,
    },
}

#[derive(Debug, Clone)]
struct C {
    pat: Vec<u8>,
    nocase: bool,
    negated: bool,
    pos: Pos,
}

fn window(c: &C, prev_end: usize, len: usize) -> Option<(usize, usize)> {
    let (start, end) = match c.pos {
        Pos::Absolute { offset, depth } => {
            let s = offset.unwrap_or(0) as usize;
            (s, depth.map_or(len, |d| s + d as usize))
        }
        Pos::Relative { distance, within } => {
            let d = i64::from(distance.unwrap_or(0));
            let s = (prev_end as i64 + d).max(0) as usize;
            let e = within.map_or(len as i64, |w| {
                (prev_end as i64 + d + i64::from(w)).min(len as i64)
            });
            (s, e.max(0) as usize)
        }
    };
    let end = end.min(len);
    (start <= end && end != 0).then_some((start, end))
}

fn eq(a: &[u8], b: &[u8], nocase: bool) -> bool {
    if nocase {
        a.eq_ignore_ascii_case(b)
    } else {
        a == b
    }
}

/// Does the chain match, following Suricata's retry rules (see the module doc)?
fn model(chain: &[C], buf: &[u8], prev_end: usize) -> bool {
    let Some(c) = chain.first() else { return true };
    let n = c.pat.len();
    let Some((start, end)) = window(c, prev_end, buf.len()) else {
        return c.negated && model(&chain[1..], buf, prev_end);
    };
    let mut occurrences = (start..=end.saturating_sub(n))
        .filter(|&p| p + n <= end)
        .filter(|&p| eq(&buf[p..p + n], &c.pat, c.nocase));
    let next_is_relative = chain
        .get(1)
        .is_some_and(|next| matches!(next.pos, Pos::Relative { .. }));
    if c.negated {
        occurrences.next().is_none() && model(&chain[1..], buf, prev_end)
    } else if next_is_relative {
        occurrences.any(|p| model(&chain[1..], buf, p + n))
    } else {
        occurrences
            .next()
            .is_some_and(|p| model(&chain[1..], buf, p + n))
    }
}

fn rule_text(chain: &[C]) -> String {
    let mut opts = String::new();
    for c in chain {
        let hex: Vec<String> = c.pat.iter().map(|b| format!("{b:02x}")).collect();
        let bang = if c.negated { "!" } else { "" };
        opts.push_str(&format!("content:{bang}\"|{}|\"; ", hex.join(" ")));
        if c.nocase {
            opts.push_str("nocase; ");
        }
        match c.pos {
            Pos::Absolute { offset, depth } => {
                if let Some(o) = offset {
                    opts.push_str(&format!("offset:{o}; "));
                }
                if let Some(d) = depth {
                    opts.push_str(&format!("depth:{d}; "));
                }
            }
            Pos::Relative { distance, within } => {
                if let Some(d) = distance {
                    opts.push_str(&format!("distance:{d}; "));
                }
                if let Some(w) = within {
                    opts.push_str(&format!("within:{w}; "));
                }
            }
        }
    }
    format!("alert tcp any any -> any any ({opts}sid:1;)")
}

fn content() -> impl Strategy<Value = C> {
    let pat = proptest::collection::vec(prop_oneof![Just(b'a'), Just(b'b'), Just(b'A')], 1..3);
    (
        pat,
        any::<bool>(),
        prop::bool::weighted(0.3),
        any::<bool>(),
        proptest::option::of(0u32..6),
        proptest::option::of(0u32..8),
        proptest::option::of(-4i32..5),
    )
        .prop_map(|(pat, nocase, negated, relative, o, d, dist)| {
            let n = pat.len() as u32;
            let pos = if relative {
                Pos::Relative {
                    distance: dist,
                    within: d.map(|w| w + n),
                }
            } else {
                Pos::Absolute {
                    offset: o,
                    depth: d.map(|x| x + n),
                }
            };
            C {
                pat,
                nocase,
                negated,
                pos,
            }
        })
        .prop_filter("a relative content needs distance or within", |c| {
            !matches!(
                c.pos,
                Pos::Relative {
                    distance: None,
                    within: None
                }
            )
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn engine_matches_exhaustive_model(
        chain in proptest::collection::vec(content(), 1..4),
        payload in proptest::collection::vec(prop_oneof![Just(b'a'), Just(b'b'), Just(b'A'), Just(b'x')], 0..14),
    ) {
        let text = rule_text(&chain);
        let (rules, report) = load(&text);
        prop_assert!(report.errors.is_empty(), "{:?} for {}", report.errors, text);
        let got = !fired(&rules, &tcp(&payload)).is_empty();
        // Suricata's SIG_MASK_REQUIRE_PAYLOAD: no payload, no payload rule.
        let want = !payload.is_empty() && model(&chain, &payload, 0);
        prop_assert_eq!(got, want, "rule {} payload {:?}", text, String::from_utf8_lossy(&payload));
    }
}
