//! Rules using what we cannot evaluate exactly are skipped and counted, never matched.

// Test helpers outside #[test] fns panic on purpose when a fixture is wrong.
#![allow(clippy::unwrap_used)]

mod common;
use common::{fired, load, tcp};

#[test]
fn unsupported_keywords_and_protocols_are_counted() {
    let src = "\
alert tcp any any -> any any (msg:\"p\"; content:\"a\"; pcre:\"/a\\;b/\"; sid:1;)
alert tcp any any -> any any (msg:\"p2\"; pcre:\"/[\"']x/i\"; sid:2;)
alert http any any -> any any (msg:\"h\"; http.uri; content:\"/x\"; sid:3;)
alert tcp any any -> any any (content:\"GET\"; http_uri; sid:4;)
alert tcp any any -> any any (http.uri; content:\"/x\"; nocase; sid:5;)
alert tcp any any -> any any (flow:established,only_stream; sid:6;)
alert tcp any any -> any any (flowbits:set,x; noalert; sid:7;)
alert dns any any -> any any (dns.query; content:\"x\"; sid:8;)
alert tcp any any -> any any (content:\"a\"; byte_extract:1,0,v; content:\"b\"; distance:v; sid:9;)
alert tcp any any -> any any (content:\"a\"; sid:10;)
";
    let (rules, report) = load(src);
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(report.loaded, 1);
    assert_eq!(rules.len(), 1);
    let u = &report.unsupported;
    assert_eq!(u.get("keyword pcre"), Some(&2));
    assert_eq!(u.get("protocol http"), Some(&1));
    assert_eq!(u.get("protocol dns"), Some(&1));
    assert_eq!(u.get("keyword http_uri"), Some(&1));
    assert_eq!(u.get("keyword http.uri"), Some(&1));
    assert_eq!(u.get("keyword flow:only_stream"), Some(&1));
    assert_eq!(u.get("keyword flowbits"), Some(&1));
    assert_eq!(u.get("keyword byte_extract"), Some(&1));
    assert_eq!(report.unsupported_total(), 9);
    let st = &report.rules[0];
    assert_eq!(st.sid, Some(1));
    assert_eq!(st.skipped.as_deref(), Some("unsupported: keyword pcre"));
    assert_eq!(report.rules[9].skipped, None);
    // Only the supported rule can fire.
    assert_eq!(fired(&rules, &tcp(b"a GET /x b")), vec![10]);
}

#[test]
fn identity_errors_still_reported_for_unsupported_rules() {
    let (_, report) = load("alert http any any -> any any (msg:\"x\"; classtype:bogus; sid:1;)");
    assert_eq!(report.errors.len(), 1);
    assert!(report.errors[0].message.contains("unknown classtype"));
    let (_, report) = load("alert tcp any any -> any any (pcre:\"/x/\";)");
    assert_eq!(report.errors.len(), 1);
    assert!(report.errors[0].message.contains("no sid"));
}

#[test]
fn unsupported_rules_keep_their_sid_reserved() {
    let (_, report) =
        load("alert http any any -> any any (sid:5;)\nalert tcp any any -> any any (sid:5;)");
    assert_eq!(report.errors.len(), 1);
    assert!(report.errors[0].to_string().starts_with("x.rules:2:"));
}
