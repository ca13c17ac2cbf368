//! Rules using what we cannot evaluate exactly are skipped and counted, never matched.

// Test helpers outside #[test] fns panic on purpose when a fixture is wrong.
#![allow(clippy::unwrap_used)]

mod common;
use common::{fired, load, tcp};

#[test]
fn unsupported_inactive_and_active_are_counted() {
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
alert tcp any any -> any any (content:\"a\"; asn1:oversize_length 10; sid:11;)
alert tcp any any -> any any (content:\"a\"; pcre:\"/x/U\"; sid:12;)
";
    let (rules, report) = load(src);
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(report.loaded, 5);
    assert_eq!(rules.len(), 5);
    assert_eq!(report.inactive, 5);
    let i = &report.inactive_reasons;
    assert_eq!(i.get("protocol http"), Some(&1));
    assert_eq!(i.get("protocol dns"), Some(&1));
    assert_eq!(i.get("buffer http.uri"), Some(&3));
    let u = &report.unsupported;
    assert_eq!(u.get("keyword byte_extract"), Some(&1));
    assert_eq!(u.get("keyword asn1"), Some(&1));
    assert_eq!(report.unsupported_total(), 2);
    assert_eq!(report.skipped_by_keyword().get("asn1"), Some(&1));
    assert_eq!(report.total(), 12);
    let st = &report.rules[2];
    assert_eq!(st.sid, Some(3));
    assert_eq!(st.skipped.as_deref(), Some("inactive: protocol http"));
    assert_eq!(st.inactive.as_deref(), Some("protocol http"));
    assert_eq!(report.rules[0].skipped, None);
    assert_eq!(
        report.rules[8].skipped.as_deref(),
        Some("unsupported: keyword byte_extract")
    );
    assert_eq!(rules.inactive_rules().count(), 5);
    // Inactive rules never fire, even on bytes their content would match.
    assert_eq!(fired(&rules, &tcp(b"a;b GET /x b")), vec![1, 6, 10]);
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
