//! Arbitrary payloads (and stream chunks) against a compiled set of rules that exercise
//! content modifiers, pcre, byte_* keywords and flowbits: no panic, no hang, at most one
//! alert per rule per packet. The same bytes, cut into app-layer buffers, go through the
//! app-layer pass at both sides of a transaction: no panic, and each buffer rule alerts at
//! most once per transaction.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use signatures::{DetectInput, FlowState, FlowVars, RuleSet, RuleSetBuilder, StreamData, Vars};

const RULES: &str = r#"
alert tcp any any -> any any (msg:"a"; content:"GET"; depth:3; content:"/x"; distance:0; within:20; sid:1;)
alert tcp any any -> any any (msg:"b"; content:"abc"; nocase; content:!"def"; distance:1; sid:2;)
alert tcp any any -> any any (msg:"c"; pcre:"/(a+)+b/"; sid:3;)
alert tcp any any -> any any (msg:"d"; pcre:"/^\w+(?=:)(?<!x)/m"; sid:4;)
alert tcp any any -> any any (msg:"e"; content:"|00 01|"; byte_test:2,>,100,0,relative; byte_jump:1,0,relative; isdataat:2,relative; sid:5;)
alert tcp any any -> any any (msg:"f"; content:"set"; flowbits:set,seen; flowbits:noalert; sid:6;)
alert tcp any any -> any any (msg:"g"; content:"get"; flowbits:isset,seen; sid:7;)
alert tcp any any -> any any (msg:"h"; dsize:>10; content:"zz"; endswith; sid:8;)
alert tcp any any -> any any (msg:"i"; content:"st"; startswith; fast_pattern; content:"re"; within:8; sid:9;)
alert tcp any any -> any any (msg:"j"; flow:only_stream; content:"cross"; sid:10;)
alert http any any -> any any (msg:"k"; http.uri; content:"/a"; pcre:"/\/a\d+/"; sid:11;)
alert http any any -> any any (msg:"l"; http.uri; content:"/a"; http.stat_code; content:"2"; sid:12;)
alert dns any any -> any any (msg:"m"; dns.query; dotprefix; to_lowercase; content:".ev"; endswith; sid:13;)
alert http any any -> any any (msg:"n"; http.header; url_decode; compress_whitespace; content:"x y"; sid:14;)
alert tls any any -> any any (msg:"o"; tls.certs; content:"|30|"; bsize:>2; tls.sni; pcre:"/^a/"; sid:15;)
"#;

fn rules() -> &'static RuleSet {
    static RULES_SET: OnceLock<RuleSet> = OnceLock::new();
    RULES_SET.get_or_init(|| {
        let mut b = RuleSetBuilder::new(Vars::suricata_defaults());
        b.enable_byte_keywords(true);
        for k in signatures::BufferKind::all() {
            b.enable_buffer(k);
        }
        for a in ["http", "dns", "tls"] {
            b.enable_app_protocol(a);
        }
        b.add_source("fuzz.rules", RULES);
        b.build().0
    })
}

fuzz_target!(|data: &[u8]| {
    let rules = rules();
    let mut scratch = rules.scratch();
    let mut vars = FlowVars::default();
    let (split, payload) = match data.split_first() {
        Some((s, rest)) => (usize::from(*s), rest),
        None => (0, data),
    };
    let flow = FlowState {
        to_server: true,
        established: true,
        tracked: true,
    };
    let base = DetectInput::new(
        "10.0.0.1"
            .parse()
            .unwrap_or(std::net::IpAddr::from([0, 0, 0, 0])),
        "192.0.2.1"
            .parse()
            .unwrap_or(std::net::IpAddr::from([0, 0, 0, 0])),
        40000,
        80,
        6,
        payload,
        flow,
    );
    let mut hits = [0u32; 16];
    rules.detect_with_flow(&base, &mut vars, &mut scratch, |m| {
        if let Some(h) = hits.get_mut(m.sid as usize) {
            *h += 1;
        }
    });
    // The same bytes as a stream chunk with some context, as the reassembler delivers them.
    let new_from = split.min(payload.len());
    let chunk = StreamData {
        data: payload,
        new_from,
        offset: 0,
        to_server: true,
    };
    let input = base.with_stream(Some(chunk), true);
    rules.detect_stream_chunk(&input, &mut vars, &mut scratch, |m| {
        if let Some(h) = hits.get_mut(m.sid as usize) {
            *h += 1;
        }
    });
    assert!(
        hits.iter().all(|&n| n <= 1),
        "a rule alerted twice on one packet"
    );
    // App-layer pass: the payload cut into buffers of several kinds, request then response.
    use signatures::{AppBuffer, BufferKind};
    let cut = new_from;
    let (a, b) = payload.split_at(cut);
    let kinds = [
        BufferKind::HttpUri,
        BufferKind::HttpStatCode,
        BufferKind::DnsQuery,
        BufferKind::HttpHeader,
        BufferKind::TlsCerts,
        BufferKind::TlsSni,
    ];
    let mut bufs = Vec::new();
    for (i, k) in kinds.iter().enumerate() {
        bufs.push(AppBuffer {
            kind: *k,
            data: if i % 2 == 0 { a } else { b },
        });
    }
    bufs.push(AppBuffer {
        kind: BufferKind::TlsCerts,
        data: payload,
    });
    let mut tx_hits = [0u32; 16];
    for (proto, to_server) in [
        ("http", true),
        ("http", false),
        ("dns", true),
        ("dns", false),
        ("tls", true),
        ("tls", false),
    ] {
        if to_server {
            tx_hits = [0; 16];
        }
        let mut point = base.with_buffers(&bufs);
        point.app_proto = Some(proto);
        point.flow.to_server = to_server;
        rules.detect_app(&point, &mut vars, &mut scratch, |m| {
            if let Some(h) = tx_hits.get_mut(m.sid as usize) {
                *h += 1;
            }
        });
        assert!(
            tx_hits.iter().all(|&n| n <= 1),
            "a rule alerted twice in one transaction"
        );
    }
});
