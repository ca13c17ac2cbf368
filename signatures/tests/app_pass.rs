//! The app-layer pass (`RuleSet::detect_app`): which side of a transaction a buffer rule is
//! evaluated at, at most one alert per rule and transaction, request buffers offered at the
//! response side, packet conditions still applying, and prefilter selection per buffer kind.

#![allow(clippy::unwrap_used)]

mod common;
use common::{fired, tcp};
use signatures::{AppBuffer, BufferKind, DetectInput, FlowVars, RuleSet, RuleSetBuilder, Vars};

fn all_buffers(src: &str) -> RuleSet {
    let mut b = RuleSetBuilder::new(Vars::suricata_defaults());
    for k in BufferKind::all() {
        b.enable_buffer(k);
    }
    b.enable_app_protocol("http")
        .enable_app_protocol("dns")
        .enable_app_protocol("tls");
    b.add_source("x.rules", src);
    let (rules, report) = b.build();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(report.inactive, 0, "{:?}", report.inactive_reasons);
    rules
}

fn buf(kind: BufferKind, data: &'static [u8]) -> AppBuffer<'static> {
    AppBuffer { kind, data }
}

/// The request-side inspection point of an HTTP transaction.
fn request<'a>(bufs: &'a [AppBuffer<'a>]) -> DetectInput<'a> {
    let mut p = tcp(b"").with_buffers(bufs);
    p.app_proto = Some("http");
    p
}

/// The response-side point: server -> client.
fn response<'a>(bufs: &'a [AppBuffer<'a>]) -> DetectInput<'a> {
    let mut p = request(bufs);
    std::mem::swap(&mut p.src_ip, &mut p.dst_ip);
    std::mem::swap(&mut p.src_port, &mut p.dst_port);
    p.flow.to_server = false;
    p
}

/// Runs one transaction (request point, then response point) with shared flow variables and
/// returns the sids of each point.
fn transaction(
    rules: &RuleSet,
    req: &[AppBuffer<'_>],
    resp: &[AppBuffer<'_>],
) -> (Vec<u32>, Vec<u32>) {
    let mut scratch = rules.scratch();
    let mut vars = FlowVars::default();
    let (mut a, mut b) = (Vec::new(), Vec::new());
    rules.detect_app(&request(req), &mut vars, &mut scratch, |m| a.push(m.sid));
    rules.detect_app(&response(resp), &mut vars, &mut scratch, |m| b.push(m.sid));
    (a, b)
}

const HTTP_RULES: &str = r#"alert http any any -> any any (msg:"uri"; flow:established,to_server; http.uri; content:"/evil"; sid:1;)
alert http any any -> any any (msg:"uri, no flow"; http.uri; content:"/evil"; sid:2;)
alert http any any -> any any (msg:"stat code"; http.stat_code; content:"404"; sid:3;)
alert http any any -> any any (msg:"uri and stat code"; http.uri; content:"/evil"; http.stat_code; content:"200"; sid:4;)
alert http any any -> any any (msg:"uri, to_client"; flow:to_client; http.uri; content:"/evil"; sid:5;)
alert http any any -> any any (msg:"header either side"; http.header; content:"X-Bad"; sid:6;)
alert http any any -> any any (msg:"header, from_server"; flow:from_server; http.header; content:"X-Bad"; sid:7;)
alert http any any -> any any (msg:"method and body, no fast pattern"; http.method; pcre:"/^POST$/"; sid:8;)
alert http any any -> any any (msg:"server"; http.server; content:"nginx"; http.uri; content:"/evil"; sid:9;)"#;

#[test]
fn rules_fire_at_their_side_only() {
    let rules = all_buffers(HTTP_RULES);
    assert_eq!(rules.app_rules(), 9);
    let req = [
        buf(BufferKind::HttpMethod, b"POST"),
        buf(BufferKind::HttpUri, b"/evil.php"),
        buf(BufferKind::HttpHeader, b"Host: a\r\nX-Bad: 1\r\n"),
    ];
    // The response point offers the request-only kinds too, the shared kinds are the
    // response's.
    let resp = [
        buf(BufferKind::HttpStatCode, b"200"),
        buf(BufferKind::HttpHeader, b"Server: nginx\r\nX-Bad: 2\r\n"),
        buf(BufferKind::HttpServer, b"nginx"),
        buf(BufferKind::HttpMethod, b"POST"),
        buf(BufferKind::HttpUri, b"/evil.php"),
    ];
    let (a, b) = transaction(&rules, &req, &resp);
    assert_eq!(a, vec![1, 2, 6, 8]);
    assert_eq!(b, vec![4, 5, 7, 9]);
}

#[test]
fn one_alert_per_rule_and_transaction() {
    let rules = all_buffers(HTTP_RULES);
    // Everything offered at both points: each rule still fires at exactly one of them.
    let all = [
        buf(BufferKind::HttpMethod, b"POST"),
        buf(BufferKind::HttpUri, b"/evil"),
        buf(BufferKind::HttpUri, b"/evil/again"),
        buf(BufferKind::HttpHeader, b"X-Bad: 1"),
        buf(BufferKind::HttpStatCode, b"404"),
        buf(BufferKind::HttpServer, b"nginx"),
    ];
    let (a, b) = transaction(&rules, &all, &all);
    let mut both: Vec<u32> = a.iter().chain(&b).copied().collect();
    both.sort_unstable();
    let mut dedup = both.clone();
    dedup.dedup();
    assert_eq!(both, dedup, "a rule fired twice: {a:?} {b:?}");
    assert_eq!(a, vec![1, 2, 6, 8]);
    assert_eq!(b, vec![3, 5, 7, 9]);
}

#[test]
fn buffer_rules_are_not_in_the_packet_pass() {
    let rules = all_buffers(
        r#"alert http any any -> any any (http.uri; content:"/evil"; sid:1;)
alert tcp any any -> any any (content:"/evil"; sid:2;)
alert http any any -> any any (content:"/evil"; sid:3;)"#,
    );
    assert_eq!(rules.app_rules(), 1);
    let bufs = [buf(BufferKind::HttpUri, b"/evil")];
    let mut p = tcp(b"GET /evil HTTP/1.1").with_buffers(&bufs);
    p.app_proto = Some("http");
    assert_eq!(fired(&rules, &p), vec![2, 3]);
    assert_eq!(common::fired_app(&rules, &p), vec![1]);
}

#[test]
fn packet_conditions_apply_to_the_input() {
    let rules = all_buffers(
        r#"alert http any any -> any 8080 (http.uri; content:"/x"; sid:1;)
alert http any any -> any any (flow:established,to_server; http.uri; content:"/x"; sid:2;)
alert http any any -> any any (flowbits:isset,seen; http.uri; content:"/x"; sid:3;)
alert http any any -> any any (http.host; content:"a.example"; flowbits:set,seen; flowbits:noalert; sid:4;)
alert http any any -> any any (content:"MAGIC"; http.uri; content:"/x"; sid:5;)"#,
    );
    let bufs = [
        buf(BufferKind::HttpUri, b"/x"),
        buf(BufferKind::HttpHost, b"a.example"),
    ];
    let mut scratch = rules.scratch();
    let mut vars = FlowVars::default();
    let mut out = Vec::new();
    let mut p = request(&bufs);
    p.flow.established = false;
    rules.detect_app(&p, &mut vars, &mut scratch, |m| out.push(m.sid));
    // Port 80, not established; sid 4 (flowbit setter, ordered first) sets the bit that
    // sid 3 reads at the same point.
    assert_eq!(out, vec![3]);
    out.clear();
    p.flow.established = true;
    p.dst_port = 8080;
    p.payload = b"..MAGIC..";
    rules.detect_app(&p, &mut vars, &mut scratch, |m| out.push(m.sid));
    // Flowbit readers come last in rule-set order.
    assert_eq!(out, vec![1, 2, 5, 3]);
    // Other app protocols do not match http rules.
    out.clear();
    p.app_proto = Some("tls");
    rules.detect_app(&p, &mut vars, &mut scratch, |m| out.push(m.sid));
    assert!(out.is_empty());
}

#[test]
fn prefilter_per_buffer_kind() {
    // The pattern must be found in the buffer kind it belongs to; dotprefix patterns are
    // found in the raw name; multi-buffers (tls.certs) are each scanned.
    let rules = all_buffers(
        r#"alert dns any any -> any any (dns.query; dotprefix; content:".evil.com"; endswith; sid:1;)
alert dns any any -> any any (dns.query; content:"evil"; nocase; sid:2;)
alert tls any any -> any any (tls.sni; content:"evil.com"; sid:3;)
alert tls any any -> any any (tls.certs; content:"|de ad|"; sid:4;)
alert tls any any -> any any (ja4.hash; content:"t13d1516h2_8daaf6152771_e5627efa2ab1"; sid:5;)
alert tls any any -> any any (ja3.hash; content:"e7d705a3286e19ea42f587b344ee6865"; sid:6;)"#,
    );
    let dns = |name: &'static [u8]| {
        let bufs = vec![buf(BufferKind::DnsQuery, name)];
        let bufs: &'static [AppBuffer<'static>] = Box::leak(bufs.into_boxed_slice());
        let mut p = tcp(b"").with_buffers(bufs);
        p.ip_proto = 17;
        p.app_proto = Some("dns");
        common::fired_app(&rules, &p)
    };
    assert_eq!(dns(b"www.EVIL.com"), vec![2]);
    assert_eq!(dns(b"www.evil.com"), vec![1, 2]);
    assert_eq!(dns(b"evil.com"), vec![1, 2]);
    assert!(dns(b"notevil.co").len() == 1);
    let tls = [
        buf(BufferKind::TlsSni, b"x.evil.org"),
        buf(BufferKind::DnsQuery, b"evil.com"),
        buf(BufferKind::Ja4Hash, b"t13d1516h2_8daaf6152771_e5627efa2ab1"),
        buf(BufferKind::Ja3Hash, b"e7d705a3286e19ea42f587b344ee6865"),
    ];
    let mut p = tcp(b"").with_buffers(&tls);
    p.app_proto = Some("tls");
    assert_eq!(common::fired_app(&rules, &p), vec![5, 6]);
    let certs = [
        buf(BufferKind::TlsCerts, b"\x30\x82\x01"),
        buf(BufferKind::TlsCerts, b"\x30\xde\xad"),
        buf(BufferKind::TlsSni, b"evil.com"),
    ];
    let mut p = tcp(b"").with_buffers(&certs);
    p.app_proto = Some("tls");
    // tls.certs is response-only: the request point does not evaluate sid 4.
    assert_eq!(common::fired_app(&rules, &p), vec![3]);
    p.flow.to_server = false;
    assert_eq!(common::fired_app(&rules, &p), vec![4]);
}
