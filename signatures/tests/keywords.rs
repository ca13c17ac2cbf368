//! Keyword semantics beyond content: pcre, header keywords, flowbits/flowint, threshold,
//! stream vs packet inspection. Cases follow Suricata's documentation and the
//! suricata-verify tests named in comments.

#![allow(clippy::unwrap_used)]

mod common;
use common::{fired, fired_app, load, tcp};
use signatures::{
    DetectInput, FlowState, FlowVars, IcmpFields, IpFields, RuleSet, RuleSetBuilder, StreamData,
    TcpFields, Vars,
};

fn one(rule: &str) -> RuleSet {
    let (rules, report) = load(rule);
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(report.loaded, 1, "{:?}", report.rules);
    rules
}

fn hit(rules: &RuleSet, input: &DetectInput<'_>) -> bool {
    !fired(rules, input).is_empty()
}

#[test]
fn pcre_flags_relative_and_negation() {
    let r = one(r#"alert tcp any any -> any any (pcre:"/^get\s+\/admin/i"; sid:1;)"#);
    assert!(hit(&r, &tcp(b"GET /admin")));
    assert!(!hit(&r, &tcp(b"xGET /admin")));
    // Relative: the subject starts after the previous match, so ^ anchors there.
    let r = one(r#"alert tcp any any -> any any (content:"user="; pcre:"/^[a-z]{3}\d/R"; sid:1;)"#);
    assert!(hit(&r, &tcp(b"x user=abc1")));
    assert!(!hit(&r, &tcp(b"x user=ab1")));
    // Retry: the first "user=" fails the relative pcre, the second one matches.
    assert!(hit(&r, &tcp(b"user=1 user=xyz9")));
    // Content relative to a pcre match.
    let r = one(r#"alert tcp any any -> any any (pcre:"/id=\d+/"; content:"&"; within:1; sid:1;)"#);
    assert!(hit(&r, &tcp(b"id=1x id=22&")));
    let r = one(r#"alert tcp any any -> any any (content:"a"; pcre:!"/evil/"; sid:1;)"#);
    assert!(hit(&r, &tcp(b"a good")));
    assert!(!hit(&r, &tcp(b"a evil")));
    // Lookarounds and backreferences (PCRE2).
    let r = one(r#"alert tcp any any -> any any (pcre:"/(?<=k=)(\w)\1(?!x)/"; sid:1;)"#);
    assert!(hit(&r, &tcp(b"k=aa.")));
    assert!(!hit(&r, &tcp(b"k=aax")));
    assert!(!hit(&r, &tcp(b"k=ab.")));
    // s and m flags.
    let r = one(r#"alert tcp any any -> any any (pcre:"/a.b/s"; sid:1;)"#);
    assert!(hit(&r, &tcp(b"a\nb")));
    let r = one(r#"alert tcp any any -> any any (pcre:"/^b$/m"; sid:1;)"#);
    assert!(hit(&r, &tcp(b"a\nb\nc")));
}

#[test]
fn pcre_errors_buffers_and_catastrophic_patterns() {
    let (_, report) = load(r#"alert tcp any any -> any any (pcre:"/(unclosed/"; sid:1;)"#);
    assert_eq!(report.errors.len(), 1);
    assert!(report.errors[0].message.contains("invalid pcre"));
    let (_, report) = load(r#"alert tcp any any -> any any (pcre:"/x/J"; sid:1;)"#);
    assert!(report.errors[0].message.contains("unknown pcre flag"));
    // Buffer flags select a sticky buffer: inactive until the sensor provides it.
    let (rules, report) = load(r#"alert tcp any any -> any any (pcre:"/\/x/U"; sid:1;)"#);
    assert_eq!(report.inactive, 1);
    assert_eq!(report.inactive_reasons.get("buffer http.uri"), Some(&1));
    assert!(!hit(&rules, &tcp(b"/x")));
    // Invalid regexes of inactive rules are still reported.
    let (_, report) = load(r#"alert http any any -> any any (pcre:"/(/U"; sid:1;)"#);
    assert_eq!(report.errors.len(), 1);
    let r = one(r#"alert tcp any any -> any any (pcre:"/(a|aa)+(b|bb)+c$/"; sid:1;)"#);
    let mut p = vec![b'a'; 20_000];
    p.extend_from_slice(&[b'b'; 20_000]);
    let t = std::time::Instant::now();
    assert!(!hit(&r, &tcp(&p)));
    assert!(t.elapsed().as_secs() < 5);
}

fn packet<'a>(payload: &'a [u8]) -> DetectInput<'a> {
    tcp(payload)
}

#[test]
fn header_keywords() {
    let mut p = packet(b"");
    p.ip = IpFields {
        version: 4,
        ttl: 128,
        tos: 0x10,
        id: 4242,
        frag_flags: 0x2,
        frag_offset: 0,
    };
    p.tcp = TcpFields {
        flags: 0x12,
        seq: 7,
        ack: 9,
        window: 1024,
    };
    let check = |kw: &str, want: bool| {
        let r = one(&format!("alert ip any any -> any any ({kw} sid:1;)"));
        assert_eq!(hit(&r, &p), want, "{kw}");
    };
    check("ttl:128;", true);
    check("ttl:<100;", false);
    check("ttl:100-200;", true);
    check("tos:16;", true);
    check("tos:!16;", false);
    check("id:4242;", true);
    check("fragbits:D;", true);
    check("fragbits:M;", false);
    check("fragbits:!M;", true);
    check("fragoffset:0;", true);
    check("flags:SA;", true);
    check("flags:S;", false);
    check("flags:S+;", true);
    check("flags:*RF;", false);
    check("seq:7;", true);
    check("ack:9;", true);
    check("window:1024;", true);
    check("window:!1024;", false);
    check("ip_proto:tcp;", true);
    check("ip_proto:6;", true);
    check("ip_proto:!6;", false);
    check("sameip;", false);
    check("itype:8;", false);
    check("ipopts:any;", false);
    // suricata-verify detect-ipopts: RR and LSRR options.
    let opts = [0x01, 0x07, 0x03, 0x04, 0x00];
    let q = p.with_ip(p.ip, &opts);
    let r = one("alert ip any any -> any any (ipopts:rr; sid:1;)");
    assert!(hit(&r, &q));
    let r = one("alert ip any any -> any any (ipopts:lsrr; sid:1;)");
    assert!(!hit(&r, &q));
    // suricata-verify detect-itype: itype 8, <15, >7, 7<>20.
    let mut icmp = DetectInput::new(
        "10.0.0.1".parse().unwrap(),
        "10.0.0.2".parse().unwrap(),
        0,
        0,
        1,
        b"ping",
        FlowState::default(),
    );
    icmp.icmp = IcmpFields {
        itype: 8,
        icode: 0,
        id: 5,
        seq: 1,
    };
    let (rules, _) = load(
        "alert icmp any any -> any any (itype:8; sid:1;)
alert icmp any any -> any any (itype:<15; sid:2;)
alert icmp any any -> any any (itype:>7; sid:3;)
alert icmp any any -> any any (itype:7<>20; sid:4;)
alert icmp any any -> any any (icode:0; icmp_id:5; icmp_seq:1; sid:5;)
alert icmp any any -> any any (itype:0; sid:6;)",
    );
    assert_eq!(fired(&rules, &icmp), vec![1, 2, 3, 4, 5]);
    assert!(
        load("alert ip any any -> any any (ttl:300; sid:1;)")
            .1
            .errors
            .len()
            == 1
    );
    assert!(
        load("alert ip any any -> any any (flags:Q; sid:1;)")
            .1
            .errors
            .len()
            == 1
    );
    assert!(
        load("alert ip any any -> any any (ipopts:foo; sid:1;)")
            .1
            .errors
            .len()
            == 1
    );
}

#[test]
fn flowbits_across_packets_and_within_one() {
    let (rules, report) = load(
        r#"alert tcp any any -> any any (content:"login"; flowbits:set,auth; flowbits:noalert; sid:1;)
alert tcp any any -> any any (content:"secret"; flowbits:isset,auth; sid:2;)
alert tcp any any -> any any (content:"secret"; flowbits:isnotset,auth; sid:3;)
alert tcp any any -> any any (content:"logout"; flowbits:unset,auth; sid:4;)
alert tcp any any -> any any (content:"flip"; flowbits:toggle,t; sid:5;)
alert tcp any any -> any any (content:"check"; flowbits:isset,t|auth; sid:6;)"#,
    );
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let mut scratch = rules.scratch();
    let mut vars = FlowVars::default();
    let mut run = |payload: &[u8], vars: &mut FlowVars| {
        let mut out = Vec::new();
        rules.detect_with_flow(&tcp(payload), vars, &mut scratch, |m| out.push(m.sid));
        out
    };
    assert_eq!(run(b"secret", &mut vars), vec![3]);
    assert_eq!(run(b"login", &mut vars), Vec::<u32>::new());
    assert_eq!(run(b"secret", &mut vars), vec![2]);
    assert_eq!(run(b"logout", &mut vars), vec![4]);
    assert_eq!(run(b"secret", &mut vars), vec![3]);
    assert_eq!(run(b"check", &mut vars), Vec::<u32>::new());
    assert_eq!(run(b"flip", &mut vars), vec![5]);
    assert_eq!(run(b"check", &mut vars), vec![6]);
    assert_eq!(run(b"flip check", &mut vars), vec![5]);
    // Setter before reader in the same packet (Suricata orders rules by flowbits).
    let mut fresh = FlowVars::default();
    assert_eq!(run(b"secret login", &mut fresh), vec![2]);
    // Another flow has its own bits.
    let mut other = FlowVars::default();
    assert_eq!(run(b"secret", &mut other), vec![3]);
    // Without flow vars, bits live for one packet only.
    assert_eq!(fired(&rules, &tcp(b"login secret")), vec![2]);
    assert_eq!(fired(&rules, &tcp(b"secret")), vec![3]);
}

#[test]
fn flowbit_ids_survive_a_reload() {
    let (old, _) = load(
        r#"alert tcp any any -> any any (content:"a"; flowbits:set,first; sid:1;)
alert tcp any any -> any any (content:"b"; flowbits:set,second; sid:2;)"#,
    );
    let mut vars = FlowVars::default();
    let mut s = old.scratch();
    old.detect_with_flow(&tcp(b"b"), &mut vars, &mut s, |_| {});
    let mut b = RuleSetBuilder::new(Vars::suricata_defaults());
    b.inherit_var_ids(&old);
    b.add_source(
        "new.rules",
        r#"alert tcp any any -> any any (content:"x"; flowbits:isset,newbit; sid:3;)
alert tcp any any -> any any (content:"x"; flowbits:isset,second; sid:4;)"#,
    );
    let (new, _) = b.build();
    let mut s = new.scratch();
    let mut out = Vec::new();
    new.detect_with_flow(&tcp(b"x"), &mut vars, &mut s, |m| out.push(m.sid));
    assert_eq!(out, vec![4]);
}

#[test]
fn flowint_counts() {
    // suricata-verify flowint-isnotset: notset then +1 fires once per flow.
    let (rules, report) = load(
        r#"alert tcp any any -> any any (flowint:c,notset; flowint:c,+,1; sid:1;)
alert tcp any any -> any any (content:"x"; flowint:n,+,1; noalert; sid:2;)
alert tcp any any -> any any (content:"x"; flowint:n,>=,3; sid:3;)"#,
    );
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let mut scratch = rules.scratch();
    let mut vars = FlowVars::default();
    let mut all = Vec::new();
    for _ in 0..4 {
        rules.detect_with_flow(&tcp(b"x"), &mut vars, &mut scratch, |m| all.push(m.sid));
    }
    assert_eq!(all, vec![1, 3, 3]);
    let (_, report) = load("alert tcp any any -> any any (flowint:c,+,other; sid:1;)");
    assert_eq!(report.unsupported_total(), 1);
    assert!(
        !load("alert tcp any any -> any any (flowint:c,~,1; sid:1;)")
            .1
            .errors
            .is_empty()
    );
}

#[test]
fn threshold_and_detection_filter_use_packet_time() {
    let (rules, report) = load(
        r#"alert tcp any any -> any any (content:"x"; threshold:type limit, track by_src, count 1, seconds 60; sid:1;)
alert tcp any any -> any any (content:"x"; detection_filter:track by_dst, count 2, seconds 60; sid:2;)
alert tcp any any -> any any (content:"x"; threshold: type both, track by_src, count 3, seconds 60; sid:3;)"#,
    );
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let mut scratch = rules.scratch();
    let mut at = |ts: u64| {
        let mut out = Vec::new();
        rules.detect(&tcp(b"x").with_ts(ts, 0), &mut scratch, |m| out.push(m.sid));
        out
    };
    // limit 1: first of each window; detection_filter 2: from the third on; both 3: the
    // third only.
    assert_eq!(at(100), vec![1]);
    assert_eq!(at(101), Vec::<u32>::new());
    assert_eq!(at(102), vec![2, 3]);
    assert_eq!(at(103), vec![2]);
    assert_eq!(at(200), vec![1]);
    assert!(!load(
        "alert tcp any any -> any any (threshold:type x, track by_src, count 1, seconds 1; sid:1;)"
    )
    .1
    .errors
    .is_empty());
}

/// `start` is the stream offset of `data[0]`.
fn stream<'a>(payload: &'a [u8], data: &'a [u8], new_from: usize, start: u64) -> DetectInput<'a> {
    tcp(payload).with_stream(
        Some(StreamData {
            data,
            new_from,
            offset: start + new_from as u64,
            to_server: true,
        }),
        true,
    )
}

#[test]
fn stream_matches_straddle_segments_once() {
    let r = one(r#"alert tcp any any -> any any (content:"attack"; sid:1;)"#);
    // "att" arrived in the previous segment, "ack" now: the chunk has 3 bytes of context.
    assert!(hit(&r, &stream(b"ack", b"xxattack", 5, 100)));
    // Entirely in the context: reported with the earlier chunk, not again.
    assert!(!hit(&r, &stream(b"zz", b"attackzz", 6, 100)));
    // A second occurrence in the new bytes is found even though the first is old.
    assert!(hit(&r, &stream(b"zattack", b"attackzattack", 6, 100)));
    // A chunk of the other direction is ignored.
    let mut other = stream(b"ack", b"xxattack", 5, 100);
    other.stream = other.stream.map(|st| StreamData {
        to_server: false,
        ..st
    });
    assert!(!hit(&r, &other));
    // Payload went into the stream: no packet fallback for a stream rule.
    assert!(!hit(&r, &stream(b"attack", b"zz", 0, 100)));
    // Not added to the stream (e.g. no reassembly for this flow): packet payload.
    let p = tcp(b"attack").with_stream(None, false);
    assert!(hit(&r, &p));
    // no_stream / tcp-pkt: the packet payload only.
    let r = one(r#"alert tcp any any -> any any (content:"attack"; flow:no_stream; sid:1;)"#);
    assert!(!hit(&r, &stream(b"ack", b"xxattack", 5, 100)));
    assert!(hit(&r, &stream(b"attack", b"attack", 0, 0)));
    // only_stream: never the packet payload.
    let r = one(r#"alert tcp any any -> any any (content:"attack"; flow:only_stream; sid:1;)"#);
    assert!(!hit(&r, &tcp(b"attack")));
    assert!(hit(&r, &stream(b"ack", b"attack", 3, 0)));
    // Anchored content (depth): stream only at stream offset 0, plus the packet.
    let r = one(r#"alert tcp any any -> any any (content:"GET"; depth:3; sid:1;)"#);
    assert!(hit(&r, &stream(b"T /", b"GET /", 2, 0)));
    assert!(!hit(&r, &stream(b"xx", b"GET xx", 4, 50)));
    assert!(hit(&r, &stream(b"GET /", b"zzGET /", 2, 50)));
    // dsize rules inspect packets only.
    let r = one(r#"alert tcp any any -> any any (dsize:<10; content:"ab"; sid:1;)"#);
    assert!(!hit(&r, &stream(b"b", b"ab", 1, 0)));
    // No payload and no stream data: payload rules are not evaluated (even negated-only);
    // with stream data they are.
    let r = one(r#"alert tcp any any -> any any (content:!"evil"; sid:1;)"#);
    assert!(!hit(&r, &tcp(b"")));
    assert!(hit(&r, &stream(b"", b"good", 0, 0)));
    // UDP rules ignore the stream.
    let r = one(r#"alert udp any any -> any any (content:"ab"; sid:1;)"#);
    let mut u = stream(b"ab", b"zz", 0, 0);
    u.ip_proto = 17;
    assert!(hit(&r, &u));
}

#[test]
fn further_chunks_of_a_packet_alert_once() {
    let (rules, _) = load(
        r#"alert tcp any any -> any any (content:"one"; sid:1;)
alert tcp any any -> any any (content:"two"; sid:2;)
alert tcp any any -> any any (flags:S; sid:3;)
alert tcp any any -> any any (pcre:"/thr[e]{2}/"; sid:4;)"#,
    );
    let mut scratch = rules.scratch();
    let mut vars = FlowVars::default();
    let mut out = Vec::new();
    let mut p = stream(b"..", b"one", 0, 0);
    p.tcp.flags = 0x02;
    rules.detect_with_flow(&p, &mut vars, &mut scratch, |m| out.push(m.sid));
    let next = p.with_stream(
        Some(StreamData {
            data: b"one two three",
            new_from: 3,
            offset: 3,
            to_server: true,
        }),
        true,
    );
    rules.detect_stream_chunk(&next, &mut vars, &mut scratch, |m| out.push(m.sid));
    assert_eq!(out, vec![1, 3, 2, 4]);
}

#[test]
fn stream_span_for_lookbehind() {
    let (rules, _) = load(
        r#"alert tcp any any -> any any (content:"abc"; content:"def"; distance:10; within:20; sid:1;)
alert tcp any any -> any any (content:"x"; content:"y"; distance:0; sid:2;)"#,
    );
    assert_eq!(rules.max_stream_match_span(), 33);
}

#[test]
fn sticky_buffers_and_modifiers_parse_and_load_inactive() {
    let src = r#"alert http any any -> any any (http.method; content:"POST"; http.uri; content:"/api"; bsize:4; fast_pattern; http_content_type; content:"json"; startswith; http.request_body; content:"k"; sid:1;)
alert http any any -> any any (urilen:8; http.uri; bsize:8; content:"/api.php"; sid:2;)
alert dns any any -> any any (dns.query; dotprefix; content:".evil.com"; endswith; sid:3;)
alert tcp any any -> any any (content:"x"; http_header; nocase; sid:4;)
alert tls any any -> any any (tls.sni; content:"bad"; tls.version:1.2; sid:5;)
alert tcp any any -> any any (file_data; content:"MZ"; within:2; sid:6;)
alert tcp any any -> any any (bsize:3; sid:7;)"#;
    let (rules, report) = load(src);
    assert_eq!(report.inactive, 6, "{:?}", report.rules);
    assert_eq!(report.errors.len(), 1, "{:?}", report.errors);
    assert!(report.errors[0].message.contains("sticky buffer"));
    assert_eq!(rules.len(), 0);
    assert_eq!(report.inactive_reasons.get("buffer file.data"), Some(&1));
    assert_eq!(report.inactive_reasons.get("buffer http.header"), Some(&1));
}

#[test]
fn enabled_buffers_match_their_bytes_only() {
    let mut b = RuleSetBuilder::new(Vars::suricata_defaults());
    b.enable_buffer(signatures::BufferKind::HttpUri);
    b.add_source(
        "x.rules",
        r#"alert tcp any any -> any any (http.uri; content:"/admin"; bsize:>5; sid:1;)
alert tcp any any -> any any (content:"/admin"; http_uri; pcre:"/\d$/U"; sid:2;)"#,
    );
    let (rules, report) = b.build();
    assert_eq!(report.loaded, 2, "{:?}", report.rules);
    let bufs = [signatures::AppBuffer {
        kind: signatures::BufferKind::HttpUri,
        data: b"/admin7",
    }];
    assert_eq!(
        fired_app(&rules, &tcp(b"/admin").with_buffers(&bufs)),
        vec![1, 2]
    );
    // Buffer rules are evaluated in the app-layer pass only.
    assert!(fired(&rules, &tcp(b"/admin").with_buffers(&bufs)).is_empty());
    // The same bytes in the payload do not satisfy a buffer rule.
    assert!(fired_app(&rules, &tcp(b"/admin7")).is_empty());
}

fn with_bytes(src: &str) -> (RuleSet, signatures::LoadReport) {
    let mut b = RuleSetBuilder::new(Vars::suricata_defaults());
    b.enable_byte_keywords(true);
    b.add_source("x.rules", src);
    b.build()
}

#[test]
fn byte_extract_feeds_byte_test() {
    // ET 2018372 shape (heartbleed): record length extracted, payload length compared to it.
    let (rules, report) = with_bytes(
        r#"alert tcp any any -> any any (content:"|18 03|"; depth:2; byte_extract:2,3,record_len; byte_test:2,>,record_len,6; sid:1;)
alert tcp any any -> any any (content:"|01|"; byte_extract:1,0,n,relative,multiplier 2; content:"|ff|"; within:1; byte_test:1,=,n,0,relative; sid:2;)
alert tcp any any -> any any (content:"a"; byte_extract:1,0,v,relative; content:"b"; distance:v; sid:3;)"#,
    );
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(
        report.unsupported.get("keyword byte_extract:distance"),
        Some(&1)
    );
    assert_eq!(rules.len(), 2);
    assert_eq!(
        fired(&rules, &tcp(b"\x18\x03\x02\x00\x10\x01\x40\x00")),
        vec![1]
    );
    assert!(fired(&rules, &tcp(b"\x18\x03\x02\x00\x10\x01\x00\x05")).is_empty());
    // n = 3 * 2 = 6; the byte after |ff| must be 6.
    assert_eq!(fired(&rules, &tcp(b"\x01\x03\xff\x06")), vec![2]);
    assert!(fired(&rules, &tcp(b"\x01\x03\xff\x03")).is_empty());
    let (_, report) =
        with_bytes("alert tcp any any -> any any (byte_extract:1,0,a; byte_extract:1,1,a; sid:1;)");
    assert_eq!(report.errors.len(), 1);
}

#[test]
fn stream_size_reads_session_progress() {
    let r = one("alert tcp any any -> any any (stream_size:server,<,5; sid:1;)");
    let mut p = tcp(b"");
    assert!(!hit(&r, &p));
    p.stream_size = Some(signatures::StreamSizes {
        client: 100,
        server: 1,
    });
    assert!(hit(&r, &p));
    let r = one("alert tcp any any -> any any (stream_size:both,>,50; sid:1;)");
    assert!(!hit(&r, &p));
    let r = one("alert tcp any any -> any any (stream_size:either,>,50; sid:1;)");
    assert!(hit(&r, &p));
    assert_eq!(
        load("alert tcp any any -> any any (stream_size:up,<,5; sid:1;)")
            .1
            .errors
            .len(),
        1
    );
}

#[test]
fn deferred_keywords_load_only_in_inactive_rules() {
    let (_, report) = load(
        r#"alert http any any -> any any (http.uri; content:"x"; asn1:oversize_length 10; sid:1;)
alert tcp any any -> any any (content:"x"; asn1:oversize_length 10; sid:2;)
alert smtp any any -> any any (base64_decode; base64_data; content:"MZ"; sid:3;)"#,
    );
    assert_eq!(report.inactive, 2);
    assert_eq!(report.unsupported.get("keyword asn1"), Some(&1));
}

#[test]
fn xbits_tie_flows_of_a_host() {
    // ET shapes: set on one flow by the source, tested on another flow by the destination
    // (one host table), or on the unordered address pair; expiry from the packet time.
    let (rules, report) = load(
        r#"alert tcp any any -> any any (content:"PROPFIND"; xbits:set, ET.PROPFIND, track ip_src, expire 360; noalert; sid:1;)
alert tcp any any -> any any (content:"207 Multi"; xbits:isset, ET.PROPFIND,track ip_dst; sid:2;)
alert tcp any any -> any any (content:"login"; xbits:set,p,track ip_pair,expire 10; noalert; sid:3;)
alert tcp any any -> any any (content:"token"; xbits:isset,p,track ip_pair; xbits:unset,p,track ip_pair; sid:4;)
alert tcp any any -> any any (content:"token"; xbits:isnotset,p,track ip_pair; sid:5;)"#,
    );
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(report.loaded, 5, "{:?}", report.rules);
    let mut scratch = rules.scratch();
    let run = |scratch: &mut signatures::Scratch, p: &signatures::DetectInput<'_>| {
        let mut vars = signatures::FlowVars::default();
        let mut out = Vec::new();
        rules.detect_with_flow(p, &mut vars, scratch, |m| out.push(m.sid));
        out
    };
    let client = tcp(b"PROPFIND / HTTP/1.1").with_ts(100, 0);
    let mut reply = tcp(b"HTTP/1.1 207 Multi-Status").with_ts(101, 0);
    assert!(run(&mut scratch, &reply).is_empty());
    assert!(run(&mut scratch, &client).is_empty());
    // Another flow, server -> client: the client is the destination now.
    std::mem::swap(&mut reply.src_ip, &mut reply.dst_ip);
    assert_eq!(run(&mut scratch, &reply), vec![2]);
    // Expired after 360 s.
    let late = reply.with_ts(461, 0);
    assert!(run(&mut scratch, &late).is_empty());

    let login = tcp(b"login").with_ts(200, 0);
    let mut token = tcp(b"token").with_ts(201, 0);
    assert_eq!(run(&mut scratch, &token), vec![5]);
    assert!(run(&mut scratch, &login).is_empty());
    std::mem::swap(&mut token.src_ip, &mut token.dst_ip);
    // Rules are evaluated in order: sid 4 unsets the bit before sid 5 tests it.
    assert_eq!(run(&mut scratch, &token), vec![4, 5]);
    // sid 4 unset the pair bit.
    assert_eq!(run(&mut scratch, &token), vec![5]);
    // Workers sharing the table see the same bits.
    let mut other = rules.scratch();
    other.share_thresholds(&scratch);
    assert!(run(&mut scratch, &login).is_empty());
    assert_eq!(run(&mut other, &token), vec![4, 5]);
    assert_eq!(scratch.xbits_evictions(), 0);
    assert_eq!(
        load("alert tcp any any -> any any (xbits:set,a; sid:1;)")
            .1
            .errors
            .len(),
        1
    );
}

#[test]
fn address_indexed_rules_without_content() {
    // IP reputation shape (ET tor/ciarmy/drop): no content, a list of addresses.
    let (rules, _) = load(
        "alert tcp [10.0.0.1,192.0.2.0/24] any -> $HOME_NET any (sid:1;)
alert ip 2001:db8::/32 any <> any any (sid:2;)
alert ip any any -> [8.8.8.8] any (sid:3;)
alert ip any any -> any any (ttl:64; sid:4;)",
    );
    let mut p = tcp(b"");
    p.dst_ip = "192.168.1.1".parse().unwrap();
    assert_eq!(fired(&rules, &p), vec![1]);
    p.src_ip = "192.0.2.77".parse().unwrap();
    assert_eq!(fired(&rules, &p), vec![1]);
    p.src_ip = "192.0.3.1".parse().unwrap();
    assert!(fired(&rules, &p).is_empty());
    p.dst_ip = "8.8.8.8".parse().unwrap();
    p.ip.ttl = 64;
    assert_eq!(fired(&rules, &p), vec![3, 4]);
    p.src_ip = "2001:db9::1".parse().unwrap();
    p.dst_ip = "2001:db8::1".parse().unwrap();
    assert_eq!(fired(&rules, &p), vec![2, 4]);
}

#[test]
fn transforms_on_enabled_buffers() {
    let mut b = RuleSetBuilder::new(Vars::suricata_defaults());
    b.enable_buffer(signatures::BufferKind::DnsQuery);
    b.add_source(
        "x.rules",
        r#"alert udp any any -> any any (dns.query; dotprefix; content:".evil.com"; endswith; sid:1;)
alert udp any any -> any any (dns.query; to_uppercase; content:"WWW."; startswith; bsize:12; sid:2;)
alert udp any any -> any any (dns.query; to_md5; content:"|00|"; sid:3;)"#,
    );
    let (rules, report) = b.build();
    assert_eq!(report.loaded, 2, "{:?}", report.rules);
    assert_eq!(report.inactive_reasons.get("transform to_md5"), Some(&1));
    let q = |name: &'static [u8]| {
        let bufs = vec![signatures::AppBuffer {
            kind: signatures::BufferKind::DnsQuery,
            data: name,
        }];
        let mut p = tcp(b"");
        p.ip_proto = 17;
        let bufs: &'static [signatures::AppBuffer<'static>] = Box::leak(bufs.into_boxed_slice());
        fired_app(&rules, &p.with_buffers(bufs))
    };
    assert_eq!(q(b"www.evil.com"), vec![1, 2]);
    assert_eq!(q(b"evil.com"), vec![1]);
    assert!(q(b"notevil.com").is_empty());
}

#[test]
fn uricontent_is_content_in_http_uri() {
    let mut b = RuleSetBuilder::new(Vars::suricata_defaults());
    b.enable_buffer(signatures::BufferKind::HttpUri);
    b.add_source(
        "x.rules",
        r#"alert tcp any any -> any any (uricontent:"/ADMIN"; nocase; sid:1;)"#,
    );
    let (rules, report) = b.build();
    assert_eq!(report.loaded, 1, "{:?}", report.rules);
    let bufs = [signatures::AppBuffer {
        kind: signatures::BufferKind::HttpUri,
        data: b"/admin/x",
    }];
    assert_eq!(fired_app(&rules, &tcp(b"").with_buffers(&bufs)), vec![1]);
    assert!(fired_app(&rules, &tcp(b"/admin")).is_empty());
    let (_, report) = load(r#"alert tcp any any -> any any (uricontent:"/x"; sid:1;)"#);
    assert_eq!(report.inactive_reasons.get("buffer http.uri"), Some(&1));
}

#[test]
fn app_layer_header_protocols_once_enabled() {
    let mut b = RuleSetBuilder::new(Vars::suricata_defaults());
    b.enable_app_protocol("http")
        .enable_app_protocol("ssl")
        .enable_buffer(signatures::BufferKind::HttpUri);
    b.add_source(
        "x.rules",
        r#"alert http any any -> any any (http.uri; content:"/x"; sid:1;)
alert tls any any -> any any (sid:2;)
alert dns any any -> any any (sid:3;)
alert http any any -> any any (http.method; content:"GET"; sid:4;)"#,
    );
    let (rules, report) = b.build();
    assert_eq!(report.loaded, 2, "{:?}", report.rules);
    assert_eq!(report.inactive_reasons.get("protocol dns"), Some(&1));
    assert_eq!(report.inactive_reasons.get("buffer http.method"), Some(&1));
    let bufs = [signatures::AppBuffer {
        kind: signatures::BufferKind::HttpUri,
        data: b"/x",
    }];
    let mut p = tcp(b"GET /x").with_buffers(&bufs);
    assert!(fired(&rules, &p).is_empty());
    assert!(fired_app(&rules, &p).is_empty());
    p.app_proto = Some("http");
    assert_eq!(fired_app(&rules, &p), vec![1]);
    assert!(fired(&rules, &p).is_empty());
    p.app_proto = Some("tls");
    assert_eq!(fired(&rules, &p), vec![2]);
    assert!(fired_app(&rules, &p).is_empty());
}
