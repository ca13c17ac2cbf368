//! Content matching with Suricata semantics: modifiers, hex, negation, relative backtracking,
//! and the detection order / once-per-rule guarantees.

// Test helpers outside #[test] fns panic on purpose when a fixture is wrong.
#![allow(clippy::unwrap_used)]

mod common;
use common::{fired, load, matches, tcp};

fn rule(opts: &str) -> String {
    format!("alert tcp any any -> any any ({opts} sid:1;)")
}

#[test]
fn plain_hex_and_escapes() {
    assert!(matches(&rule("content:\"abc\";"), b"xxabcxx"));
    assert!(!matches(&rule("content:\"abc\";"), b"xxABCxx"));
    assert!(matches(&rule("content:\"a|62 63|d\";"), b"zabcd"));
    assert!(matches(&rule("content:\"|00 FF|\";"), b"\x01\x00\xff"));
    assert!(matches(
        &rule("content:\"a\\;b\\\"c\\\\d\\:\";"),
        b"a;b\"c\\d:"
    ));
    assert!(!matches(&rule("content:\"abc\";"), b""));
}

#[test]
fn nocase() {
    assert!(matches(&rule("content:\"AbC\"; nocase;"), b"xxaBcxx"));
    assert!(matches(&rule("content:\"|41|bc\"; nocase;"), b"ABC"));
    assert!(!matches(&rule("content:\"abd\"; nocase;"), b"ABC"));
}

#[test]
fn offset_and_depth() {
    let r = rule("content:\"abc\"; offset:2;");
    assert!(matches(&r, b"xxabc"));
    assert!(!matches(&r, b"xabcx"));
    let r = rule("content:\"abc\"; depth:4;");
    assert!(matches(&r, b"xabc"));
    assert!(!matches(&r, b"xxabc"));
    // depth counts from offset: window [2, 2+4).
    let r = rule("content:\"abc\"; offset:2; depth:4;");
    assert!(matches(&r, b"xxxabc"));
    assert!(!matches(&r, b"xxxxabc"));
    assert!(!matches(&r, b"abcxxxx"));
    let r = rule("content:\"abc\"; depth:4; offset:2;");
    assert!(matches(&r, b"xxxabc"));
    // offset beyond the buffer.
    assert!(!matches(&rule("content:\"a\"; offset:10;"), b"aaaa"));
}

#[test]
fn distance_and_within() {
    let r = rule("content:\"ab\"; content:\"cd\"; distance:2;");
    assert!(matches(&r, b"abxxcd"));
    assert!(!matches(&r, b"abxcd"));
    let r = rule("content:\"ab\"; content:\"cd\"; within:4;");
    assert!(matches(&r, b"abxxcd"));
    assert!(!matches(&r, b"abxxxcd"));
    // within counts from distance: window [end+1, end+1+3).
    let r = rule("content:\"ab\"; content:\"cd\"; distance:1; within:3;");
    assert!(matches(&r, b"abxcd"));
    assert!(matches(&r, b"abxxcd"));
    assert!(!matches(&r, b"abcd"));
    assert!(!matches(&r, b"abxxxcd"));
    // Negative distance reaches back before the end of the previous match.
    let r = rule("content:\"cd\"; content:\"bc\"; distance:-3; within:2;");
    assert!(matches(&r, b"abcd"));
    let r = rule("content:\"cd\"; content:\"ab\"; distance:-10;");
    assert!(matches(&r, b"abcd"));
    // A relative first content is relative to the buffer start.
    assert!(matches(&rule("content:\"ab\"; distance:0;"), b"xab"));
    assert!(!matches(&rule("content:\"ab\"; within:2;"), b"xab"));
}

#[test]
fn relative_matching_backtracks() {
    // First "a" is followed by "x"; the retry at the second "a" succeeds.
    let r = rule("content:\"a\"; content:\"b\"; distance:0; within:1;");
    assert!(matches(&r, b"axab"));
    assert!(!matches(&r, b"axaxb"));
    // Three levels: only the third "GET" has "/x" right after and "HTTP" within 10.
    let r = rule(
        "content:\"GET\"; content:\"/x\"; distance:1; within:2; content:\"HTTP\"; distance:0; within:10;",
    );
    assert!(matches(&r, b"GET /y GET /x----------- HTTP GET /x HTTP"));
    assert!(!matches(&r, b"GET /y GET /x----------- HTTP"));
    // isdataat relative participates in backtracking.
    let r = rule("content:\"k=\"; isdataat:3,relative;");
    assert!(matches(&r, b"k=1 k=123"));
    assert!(!matches(&r, b"k=12"));
}

#[test]
fn backtracking_is_bounded() {
    // Pathological: many "a" with a failing relative tail; must finish quickly.
    let r = rule("content:\"a\"; content:\"a\"; distance:0; content:\"a\"; distance:0; content:\"b\"; distance:0; within:1;");
    let payload = vec![b'a'; 4000];
    let start = std::time::Instant::now();
    assert!(!matches(&r, &payload));
    assert!(start.elapsed().as_secs() < 2);
}

#[test]
fn negated_content() {
    assert!(matches(&rule("content:!\"evil\";"), b"good"));
    assert!(!matches(&rule("content:!\"evil\";"), b"so evil"));
    // Suricata's SIG_MASK_REQUIRE_PAYLOAD: a payload rule is not evaluated without payload.
    assert!(!matches(&rule("content:!\"evil\";"), b""));
    let r = rule("content:\"user\"; content:!\"admin\"; distance:0; within:6;");
    assert!(matches(&r, b"user bob"));
    assert!(!matches(&r, b"user admin"));
    // Negated relative content retries the earlier content at its next occurrence.
    let r = rule("content:\"a\"; content:!\"b\"; distance:0; within:1;");
    assert!(matches(&r, b"abac"));
    assert!(!matches(&r, b"abab"));
    let r = rule("content:\"x\"; content:!\"y\"; depth:3;");
    assert!(matches(&r, b"xaaay"));
    assert!(!matches(&r, b"xyz"));
    let r = rule("content:!\"AB\"; nocase; offset:1;");
    assert!(!matches(&r, b"xab"));
    assert!(matches(&r, b"abx"));
}

#[test]
fn startswith_endswith_isdataat_dsize() {
    assert!(matches(&rule("content:\"GET\"; startswith;"), b"GET /"));
    assert!(!matches(&rule("content:\"GET\"; startswith;"), b" GET /"));
    assert!(matches(&rule("content:\"end\"; endswith;"), b"the end"));
    assert!(!matches(&rule("content:\"end\"; endswith;"), b"end of it"));
    assert!(matches(
        &rule("content:\"ab\"; content:\"cd\"; distance:0; endswith;"),
        b"abcdxcd"
    ));
    assert!(matches(&rule("isdataat:4;"), b"12345"));
    assert!(!matches(&rule("isdataat:5;"), b"12345"));
    assert!(matches(&rule("isdataat:!5;"), b"12345"));
    assert!(matches(
        &rule("content:\"12\"; isdataat:3,relative;"),
        b"12345"
    ));
    assert!(!matches(
        &rule("content:\"12\"; isdataat:4,relative;"),
        b"12345"
    ));
    assert!(matches(
        &rule("content:\"12\"; isdataat:!4,relative;"),
        b"12345"
    ));
    assert!(matches(&rule("dsize:5;"), b"12345"));
    assert!(matches(&rule("dsize:>4;"), b"12345"));
    assert!(!matches(&rule("dsize:<5;"), b"12345"));
    assert!(matches(&rule("dsize:4<>6;"), b"12345"));
    assert!(!matches(&rule("dsize:5<>6;"), b"12345"));
    assert!(matches(&rule("dsize:!4;"), b"12345"));
    assert!(matches(&rule("dsize:>=5;"), b"12345"));
}

#[test]
fn fast_pattern_forms_are_exact() {
    let r = rule("content:\"abc\"; content:\"zzzz\"; fast_pattern;");
    assert!(matches(&r, b"abc zzzz"));
    assert!(!matches(&r, b"zzzz"));
    assert!(matches(
        &rule("content:\"abcdef\"; fast_pattern:2,3;"),
        b"abcdef"
    ));
    assert!(!matches(
        &rule("content:\"abcdef\"; fast_pattern:2,3;"),
        b"cde"
    ));
    assert!(matches(
        &rule("content:\"abc\"; fast_pattern:only;"),
        b"abc"
    ));
    assert!(matches(
        &rule("content:\"ABC\"; nocase; fast_pattern; rawbytes;"),
        b"abc"
    ));
    // Negated fast_pattern does not make the rule need the pattern.
    assert!(matches(&rule("content:!\"abc\"; fast_pattern;"), b"xyz"));
}

#[test]
fn deterministic_order_and_once_per_rule() {
    let src = "alert tcp any any -> any any (content:\"b\"; sid:30;)\n\
               alert tcp any any -> any any (sid:10;)\n\
               alert tcp any any -> any any (content:\"a\"; nocase; sid:20;)\n\
               alert tcp any any -> any any (content:\"a\"; sid:40;)\n\
               alert tcp any any -> any any (content:\"zz\"; sid:50;)\n";
    let (rules, report) = load(src);
    assert_eq!(report.loaded, 5);
    let got = fired(&rules, &tcp(b"aaaa bbbb AAAA"));
    assert_eq!(got, vec![30, 10, 20, 40]);
    // Scratch reuse across packets.
    let mut scratch = rules.scratch();
    for _ in 0..3 {
        let mut n = 0;
        rules.detect(&tcp(b"zz"), &mut scratch, |_| n += 1);
        assert_eq!(n, 2);
    }
}

#[test]
fn rule_set_is_shareable_between_workers() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<signatures::RuleSet>();
    fn assert_send<T: Send>() {}
    assert_send::<signatures::Scratch>();
}

/// suricata-verify issue-8031: absolute isdataat needs `n < len`, relative `end + n <= len`.
#[test]
fn isdataat_boundaries_match_suricata() {
    let payload = [b'a'; 32];
    let cases = [
        ("isdataat:31;", true),
        ("isdataat:32;", false),
        ("isdataat:31,relative;", true),
        ("isdataat:32,relative;", true),
        ("isdataat:33,relative;", false),
        ("content:\"a\"; depth:1; isdataat:31,relative;", true),
        ("content:\"a\"; depth:1; isdataat:32,relative;", false),
    ];
    for (opts, expect) in cases {
        assert_eq!(matches(&rule(opts), &payload), expect, "{opts}");
    }
}

#[test]
fn extra_protocols_are_opt_in() {
    let (_, report) = load("alert tcp-pkt any any -> any any (content:\"x\"; sid:1;)");
    assert_eq!(report.unsupported.get("protocol tcp-pkt"), Some(&1));
    let (_, report) = load("alert icmpv6 any any -> any any (sid:1;)");
    assert_eq!(report.unsupported.get("protocol icmpv6"), Some(&1));
    let mut b = signatures::RuleSetBuilder::new(signatures::Vars::suricata_defaults());
    b.enable_extra_protocols(true);
    b.add_source(
        "x.rules",
        "alert tcp-pkt any any -> any any (content:\"x\"; sid:1;)\n\
         alert icmpv4 any any -> any any (sid:2;)\n\
         alert icmpv6 any any -> any any (sid:3;)\n\
         alert ipv4 any any -> any any (sid:4;)\n\
         alert ip6 any any -> any any (sid:5;)\n",
    );
    let (rules, report) = b.build();
    assert_eq!(report.loaded, 5, "{:?}", report.rules);
    assert_eq!(fired(&rules, &tcp(b"x")), vec![1, 4]);
    let mut icmp6 = tcp(b"");
    icmp6.src_ip = "::1".parse().unwrap();
    icmp6.dst_ip = "::2".parse().unwrap();
    icmp6.ip_proto = 58;
    assert_eq!(fired(&rules, &icmp6), vec![3, 5]);
    let (_, report) = load("alert tcp any any => any any (sid:1;)");
    assert_eq!(report.unsupported.get("direction =>"), Some(&1));
}

/// suricata-verify detect-bytejump-01 / detect-bytetest-01/02, as whole rules (opt-in).
#[test]
fn byte_jump_and_byte_test_in_the_chain() {
    let byte_matches = |opts: &str, payload: &[u8]| {
        let mut b = signatures::RuleSetBuilder::new(signatures::Vars::suricata_defaults());
        b.enable_byte_keywords(true);
        b.add_source("x.rules", &rule(opts));
        let (rules, report) = b.build();
        assert!(report.errors.is_empty(), "{:?}", report.errors);
        assert_eq!(report.loaded, 1, "{:?}", report.rules);
        !fired(&rules, &tcp(payload)).is_empty()
    };
    let p = b"Question?13When will the pandemic end?";
    let r = "content:\"Question?\"; byte_jump:2,0,relative,string,from_end,post_offset -26; content:\"pandemic\"; distance:0;";
    assert!(byte_matches(r, p));
    let r = "content:\"Question?\"; byte_jump:0,0,relative,string,from_end,post_offset -3; content:\"pandemic\"; distance:0;";
    assert!(!byte_matches(r, p));
    // Jump lands after "pandemic": the relative content must not be found.
    let r = "content:\"Question?\"; byte_jump:2,0,relative,string,from_end,post_offset -2; content:\"pandemic\"; distance:0;";
    assert!(!byte_matches(r, p));
    let r = "content:\"|48 54 54 50|\"; byte_test:1,=,0x9,0, bitmask 0xf8;";
    assert!(byte_matches(r, b"HTTP/1.1"));
    assert!(!byte_matches("byte_test:1,=,65,214748364;", b"AAAA"));
    // byte_test relative to a content, with backtracking to the second occurrence.
    let r = "content:\"len=\"; byte_test:1,>,5,0,relative,string,dec;";
    assert!(byte_matches(r, b"len=2 len=7"));
    assert!(!byte_matches(r, b"len=2 len=3"));
    let mut b = signatures::RuleSetBuilder::new(signatures::Vars::suricata_defaults());
    b.enable_byte_keywords(true);
    b.add_source(
        "x.rules",
        "alert tcp any any -> any any (byte_test:4,=,1,0,dce; sid:1;)",
    );
    assert_eq!(
        b.build().1.unsupported.get("keyword byte_test:dce"),
        Some(&1)
    );
    // Off by default: first-cut scope.
    let (_, report) = load(&rule("byte_test:1,=,1,0;"));
    assert_eq!(report.unsupported.get("keyword byte_test"), Some(&1));
}
