//! Never panic, never hang: random, truncated and mutated rules thrown at the loader.

// Test helpers outside #[test] fns panic on purpose when a fixture is wrong.
#![allow(clippy::unwrap_used)]

mod common;
use common::{load, tcp};
use proptest::prelude::*;

const SAMPLE: &str = "alert tcp [$HOME_NET,!10.0.0.1] ![80,1024:] <> $EXTERNAL_NET $HTTP_PORTS \
(msg:\"sample \\\"rule\\\" \\; x\"; flow:established,to_server; content:\"GET |20 2F|\"; nocase; \
offset:0; depth:10; content:!\"x\"; distance:-2; within:5; isdataat:!2,relative; dsize:>3; \
fast_pattern:only; reference:url,example.com; classtype:trojan-activity; metadata:a b, c d; \
priority:2; sid:1000; rev:2;)";

fn check(src: &str) {
    for bytes in [false, true] {
        let mut b = signatures::RuleSetBuilder::new(signatures::Vars::suricata_defaults());
        b.enable_byte_keywords(bytes);
        b.add_source("x.rules", src);
        let (rules, report) = b.build();
        assert_eq!(
            report.loaded + report.unsupported_total() + report.errors.len(),
            report.rules.len()
        );
        let mut scratch = rules.scratch();
        rules.detect(&tcp(src.as_bytes()), &mut scratch, |_| {});
    }
}

#[test]
fn sample_loads() {
    let (_, report) = load(SAMPLE);
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(report.loaded, 1);
}

#[test]
fn every_truncation_of_a_rule() {
    for (i, _) in SAMPLE.char_indices() {
        check(&SAMPLE[..i]);
        check(&SAMPLE[i..]);
    }
}

fn fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("alert".to_string()),
        Just(" tcp ".to_string()),
        Just("any".to_string()),
        Just("->".to_string()),
        Just("<>".to_string()),
        Just("(".to_string()),
        Just(")".to_string()),
        Just(";".to_string()),
        Just(":".to_string()),
        Just("\"".to_string()),
        Just("\\".to_string()),
        Just("|".to_string()),
        Just("[".to_string()),
        Just("]".to_string()),
        Just("!".to_string()),
        Just(",".to_string()),
        Just("$HOME_NET".to_string()),
        Just("content:".to_string()),
        Just("sid:1;".to_string()),
        Just("distance:-5;".to_string()),
        Just("within:3;".to_string()),
        Just("nocase;".to_string()),
        Just("byte_test:2,>,5,-1,relative,string,hex;".to_string()),
        Just("byte_jump:1,0,relative,multiplier 3,post_offset -4,align;".to_string()),
        Just("isdataat:!1,relative;".to_string()),
        Just("\n".to_string()),
        Just("\\\n".to_string()),
        Just("#".to_string()),
        "[ -~]{0,8}",
        "\\PC{0,3}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_fragments(parts in proptest::collection::vec(fragment(), 0..40)) {
        check(&parts.concat());
    }

    #[test]
    fn mutated_sample(pos in 0usize..SAMPLE.len(), byte in any::<u8>(), cut in 0usize..SAMPLE.len()) {
        let mut bytes = SAMPLE.as_bytes().to_vec();
        bytes[pos] = byte;
        bytes.truncate(cut.max(pos + 1));
        check(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn arbitrary_text(s in "\\PC{0,200}") {
        check(&s);
    }

    #[test]
    fn any_payload_against_sample(payload in proptest::collection::vec(any::<u8>(), 0..300)) {
        let (rules, _) = load(SAMPLE);
        let mut scratch = rules.scratch();
        rules.detect(&tcp(&payload), &mut scratch, |_| {});
    }
}
