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

/// Second sample: the keywords added after the first cut.
const SAMPLE2: &str = "alert tcp any any -> any any (msg:\"k\"; flow:established,to_server,only_stream; \
content:\"ab\"; pcre:\"/(?<=a)b(c|d)\\1+/Ri\"; byte_extract:1,0,v,relative; byte_test:1,>,v,0,relative; \
flowbits:set,x; flowbits:isnotset,y|z; flowint:n,+,1; ttl:<200; flags:S+,12; itype:!3; ipopts:any; \
fragbits:!M; window:>0; stream_size:either,>,1; http.uri; content:\"/x\"; bsize:>1; urilen:<100; \
pcre:\"/x$/U\"; file_data; content:\"MZ\"; threshold:type both, track by_src, count 2, seconds 5; \
sid:2000; rev:1;)";

fn check(src: &str) {
    for bytes in [false, true] {
        let mut b = signatures::RuleSetBuilder::new(signatures::Vars::suricata_defaults());
        b.enable_byte_keywords(bytes);
        if bytes {
            for k in signatures::BufferKind::all() {
                b.enable_buffer(k);
            }
        }
        b.add_source("x.rules", src);
        let (rules, report) = b.build();
        assert_eq!(
            report.loaded + report.inactive + report.unsupported_total() + report.errors.len(),
            report.rules.len()
        );
        let mut scratch = rules.scratch();
        rules.detect(&tcp(src.as_bytes()), &mut scratch, |_| {});
        run_all(&rules, src.as_bytes());
    }
}

/// Packet + stream chunk + buffers + flow vars, then a further chunk.
fn run_all(rules: &signatures::RuleSet, data: &[u8]) {
    let mut scratch = rules.scratch();
    let mut vars = signatures::FlowVars::default();
    let bufs = [
        signatures::AppBuffer {
            kind: signatures::BufferKind::HttpUri,
            data,
        },
        signatures::AppBuffer {
            kind: signatures::BufferKind::FileData,
            data,
        },
    ];
    let half = data.len() / 2;
    let input = tcp(data)
        .with_stream(
            Some(signatures::StreamData {
                data,
                new_from: half,
                offset: half as u64,
                to_server: true,
            }),
            true,
        )
        .with_buffers(&bufs)
        .with_ts(1, 0);
    rules.detect_with_flow(&input, &mut vars, &mut scratch, |_| {});
    let next = input.with_stream(
        Some(signatures::StreamData {
            data,
            new_from: data.len(),
            offset: 7,
            to_server: true,
        }),
        true,
    );
    rules.detect_stream_chunk(&next, &mut vars, &mut scratch, |_| {});
}

#[test]
fn sample_loads() {
    let (_, report) = load(SAMPLE);
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(report.loaded, 1);
}

#[test]
fn sample2_loads() {
    let mut b = signatures::RuleSetBuilder::new(signatures::Vars::suricata_defaults());
    b.enable_byte_keywords(true);
    b.add_source("x.rules", SAMPLE2);
    let (_, report) = b.build();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(report.inactive, 1, "{:?}", report.rules);
}

#[test]
fn every_truncation_of_a_rule() {
    for sample in [SAMPLE, SAMPLE2] {
        for (i, _) in sample.char_indices() {
            check(&sample[..i]);
            check(&sample[i..]);
        }
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
        Just("pcre:\"/(a+)+$/R\";".to_string()),
        Just("pcre:\"/x/U\";".to_string()),
        Just("http.uri;".to_string()),
        Just("http_uri;".to_string()),
        Just("file_data;".to_string()),
        Just("bsize:3<>9;".to_string()),
        Just("flowbits:set,a&b;".to_string()),
        Just("flowbits:isset,a|b;".to_string()),
        Just("flowint:c,+,1;".to_string()),
        Just("threshold:type limit,track by_src,count 1,seconds 1;".to_string()),
        Just("byte_extract:1,0,v,relative;".to_string()),
        Just("flags:SA,12;".to_string()),
        Just("flow:only_stream;".to_string()),
        Just(" http ".to_string()),
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

    #[test]
    fn any_payload_against_sample2(payload in proptest::collection::vec(any::<u8>(), 0..300)) {
        let mut b = signatures::RuleSetBuilder::new(signatures::Vars::suricata_defaults());
        b.enable_byte_keywords(true);
        for k in signatures::BufferKind::all() {
            b.enable_buffer(k);
        }
        b.add_source("x.rules", SAMPLE2);
        let (rules, _) = b.build();
        run_all(&rules, &payload);
    }

    #[test]
    fn mutated_sample2(pos in 0usize..SAMPLE2.len(), byte in any::<u8>(), cut in 0usize..SAMPLE2.len()) {
        let mut bytes = SAMPLE2.as_bytes().to_vec();
        bytes[pos] = byte;
        bytes.truncate(cut.max(pos + 1));
        check(&String::from_utf8_lossy(&bytes));
    }
}
