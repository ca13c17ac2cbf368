//! Tests of the DNS parser on real messages from the corpus (expected EVE objects are what
//! Suricata 7.0.10 wrote for the same packets) and on hand-made hostile ones.

use super::message::{Message, MAX_NAME_LEN};
use super::{probe, probe_tcp, DnsParser};
use crate::app::{AppCounters, AppParser, Buffers, Probe, Transaction};
use proptest::prelude::*;
use signatures::BufferKind;

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// What one inspection point looked like.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    to_server: bool,
    log: bool,
    eve: String,
    queries: Vec<Vec<u8>>,
}

fn seen(tx: &dyn Transaction) -> Seen {
    assert_eq!(tx.event_type(), "dns");
    let mut eve = Vec::new();
    tx.write_eve(&mut eve).unwrap();
    let mut bufs = Buffers::new();
    tx.buffers(&mut bufs);
    let queries = bufs
        .iter()
        .map(|b| {
            assert_eq!(b.kind, BufferKind::DnsQuery);
            b.data.to_vec()
        })
        .collect();
    Seen {
        to_server: tx.to_server(),
        log: tx.log(),
        eve: String::from_utf8(eve).unwrap(),
        queries,
    }
}

fn feed(p: &mut DnsParser, to_server: bool, data: &[u8], out: &mut Vec<Seen>) {
    p.parse(to_server, data, &mut |tx| out.push(seen(tx)));
}

fn udp(msgs: &[(bool, &[u8])]) -> (Vec<Seen>, AppCounters) {
    let mut p = DnsParser::udp();
    let mut out = Vec::new();
    for (to_server, m) in msgs {
        feed(&mut p, *to_server, m, &mut out);
    }
    (out, p.counters())
}

// The messages below come from Chris Sanders' `packets` captures
// (https://github.com/chrissanders/packets), which its README lets anyone use with credit.

/// `dns_query_response.pcapng` packets 1 and 2.
const Q_WIRESHARK: &str = "180f010000010000000000000977697265736861726b036f72670000010001";
const R_WIRESHARK: &str = "180f818000010001000000000977697265736861726b036f72670000010001\
                           c00c000100010000384000048079327a";
/// `dns_query_nonexistent.pcapng` packet 2: NXDOMAIN with an SOA authority.
const R_NXDOMAIN: &str = "f23f81830001000000010000173132343938323833373139333031333832393731\
                          393734036e65740000010001c0240006000100000383003d01610c67746c642d73\
                          657276657273c024056e73746c640c766572697369676e2d67727303636f6d0058\
                          de667e000007080000038400093a8000015180";
/// `dns_tcp.pcapng` packet 6: a query over TCP, length prefix included.
const TCP_Q_RIPE: &str = "001ab4c3010000010000000000000472697065036e65740000ff0001";

#[test]
fn udp_query_and_answer_match_suricata() {
    let (q, r) = (hex(Q_WIRESHARK), hex(R_WIRESHARK));
    let (out, c) = udp(&[(true, &q), (false, &r)]);
    assert_eq!(out.len(), 2);
    assert_eq!(
        out[0].eve,
        r#""dns":{"version":2,"type":"query","id":6159,"rrname":"wireshark.org","rrtype":"A","tx_id":0,"opcode":0}"#
    );
    assert!(out[0].to_server && out[0].log);
    assert_eq!(out[0].queries, vec![b"wireshark.org".to_vec()]);
    assert_eq!(
        out[1].eve,
        r#""dns":{"version":2,"type":"answer","id":6159,"flags":"8180","qr":true,"rd":true,"ra":true,"opcode":0,"rrname":"wireshark.org","rrtype":"A","rcode":"NOERROR","answers":[{"rrname":"wireshark.org","rrtype":"A","ttl":14400,"rdata":"128.121.50.122"}],"grouped":{"A":["128.121.50.122"]}}"#
    );
    assert!(!out[1].to_server && out[1].log);
    assert!(out[1].queries.is_empty(), "dns.query is a request buffer");
    assert_eq!(
        c,
        AppCounters {
            tx: 2,
            ..Default::default()
        }
    );
}

#[test]
fn soa_authority_matches_suricata() {
    let (out, _) = udp(&[(false, &hex(R_NXDOMAIN))]);
    assert_eq!(
        out[0].eve,
        r#""dns":{"version":2,"type":"answer","id":62015,"flags":"8183","qr":true,"rd":true,"ra":true,"opcode":0,"rrname":"12498283719301382971974.net","rrtype":"A","rcode":"NXDOMAIN","authorities":[{"rrname":"net","rrtype":"SOA","ttl":899,"soa":{"mname":"a.gtld-servers.net","rname":"nstld.verisign-grs.com","serial":1490970238,"refresh":1800,"retry":900,"expire":604800,"minimum":86400}}]}"#
    );
}

#[test]
fn tx_id_counts_every_message_of_the_flow() {
    let q = hex(Q_WIRESHARK);
    let r = hex(R_WIRESHARK);
    let (out, _) = udp(&[(true, &q), (false, &r), (true, &q)]);
    assert!(out[2].eve.contains(r#""tx_id":2,"#), "{}", out[2].eve);
}

#[test]
fn tcp_query_is_framed() {
    let mut p = DnsParser::tcp();
    let mut out = Vec::new();
    feed(&mut p, true, &hex(TCP_Q_RIPE), &mut out);
    assert_eq!(
        out[0].eve,
        r#""dns":{"version":2,"type":"query","id":46275,"rrname":"ripe.net","rrtype":"ANY","tx_id":0,"opcode":0}"#
    );
    assert_eq!(out[0].queries, vec![b"ripe.net".to_vec()]);
}

/// Builds a message: header, then the given body bytes.
fn msg(id: u16, flags: u16, counts: [u16; 4], body: &[u8]) -> Vec<u8> {
    let mut m = Vec::new();
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(&flags.to_be_bytes());
    for c in counts {
        m.extend_from_slice(&c.to_be_bytes());
    }
    m.extend_from_slice(body);
    m
}

/// A record with an uncompressed owner name.
fn rr(name: &[u8], rrtype: u16, ttl: u32, rdata: &[u8]) -> Vec<u8> {
    let mut r = name.to_vec();
    r.extend_from_slice(&rrtype.to_be_bytes());
    r.extend_from_slice(&1u16.to_be_bytes());
    r.extend_from_slice(&ttl.to_be_bytes());
    r.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
    r.extend_from_slice(rdata);
    r
}

const EX: &[u8] = b"\x07example\x03com\x00";

#[test]
fn record_types_format_like_suricata() {
    let mut body = EX.to_vec();
    body.extend_from_slice(&[0, 255, 0, 1]);
    let records: Vec<Vec<u8>> = vec![
        rr(b"\xc0\x0c", 28, 60, &hex("2a00145040010808000000000000ff")),
        rr(
            b"\xc0\x0c",
            28,
            60,
            &hex("2a001450400108080000000000000200"),
        ),
        rr(b"\xc0\x0c", 15, 60, b"\x00\x0a\x04mail\xc0\x0c"),
        rr(b"\xc0\x0c", 16, 60, b"\x03v=1\x00\x02ab"),
        rr(
            b"\xc0\x0c",
            33,
            60,
            b"\x00\x01\x00\x02\x01\xbb\x03sip\xc0\x0c",
        ),
        rr(b"\xc0\x0c", 44, 60, b"\x01\x02\xab\xcd"),
        rr(b"\xc0\x0c", 65, 60, b"\x00\x01\x00"),
        rr(b"\xc0\x0c", 12345, 60, b"\x01"),
        rr(b"\xc0\x0c", 5, 60, b"\xc0\x0c"),
        rr(b"\xc0\x0c", 12, 60, b"\x01x\x00"),
        rr(b"\xc0\x0c", 2, 60, b"\x02ns\xc0\x0c"),
        rr(b"\xc0\x0c", 1, 60, b"\x01\x02\x03"),
    ];
    for r in &records {
        body.extend_from_slice(r);
    }
    let m = msg(7, 0x8580, [1, records.len() as u16, 0, 0], &body);
    let (out, c) = udp(&[(false, &m)]);
    assert_eq!(c.parse_errors, 0);
    let eve = &out[0].eve;
    let v: serde_json::Value = serde_json::from_str(&format!("{{{eve}}}")).unwrap();
    let d = &v["dns"];
    assert_eq!(d["flags"], "8580");
    assert_eq!(d["aa"], true);
    assert_eq!(d["rrtype"], "ANY");
    let a = d["answers"].as_array().unwrap();
    // 15 bytes of AAAA data print as nothing, 16 as eight full groups.
    assert_eq!(a[0]["rdata"], "");
    assert_eq!(a[1]["rdata"], "2a00:1450:4001:0808:0000:0000:0000:0200");
    assert_eq!(a[2]["rdata"], "mail.example.com");
    // One entry per TXT string.
    assert_eq!(a[3]["rdata"], "v=1");
    assert_eq!(a[4]["rdata"], "");
    assert_eq!(a[5]["rdata"], "ab");
    assert_eq!(
        a[6]["srv"],
        serde_json::json!({"priority":1,"weight":2,"port":443,"name":"sip.example.com"})
    );
    assert_eq!(
        a[7]["sshfp"],
        serde_json::json!({"fingerprint":"ab:cd","algo":1,"type":2})
    );
    assert_eq!(a[8]["rrtype"], "HTTPS");
    assert!(a[8].get("rdata").is_none());
    assert_eq!(a[9]["rrtype"], "12345");
    assert_eq!(a[10]["rdata"], "example.com");
    assert_eq!(a[11]["rdata"], "x");
    assert_eq!(a[12]["rdata"], "ns.example.com");
    assert_eq!(a[13]["rdata"], "");
    // Grouped keys in order of first appearance, unknown types left out.
    assert!(eve.contains(r#""grouped":{"AAAA":["","2a00:1450:4001:0808:0000:0000:0000:0200"],"MX":["mail.example.com"],"TXT":["v=1","","ab"],"SRV":[{"priority":1,"#), "{eve}");
    assert!(eve.contains(r#""SSHFP":[{"fingerprint":"ab:cd","algo":1,"type":2}],"CNAME":["example.com"],"PTR":["x"],"NS":["ns.example.com"],"A":[""]}"#), "{eve}");
}

#[test]
fn binary_names_escape_like_suricata() {
    let q = msg(
        1,
        0x0100,
        [1, 0, 0, 0],
        b"\x03a\"\xff\x02\x01\x7f\x00\x00\x01\x00\x01",
    );
    let (out, _) = udp(&[(true, &q)]);
    assert!(
        out[0].eve.contains(r#""rrname":"a\"\\xff.\u0001"#),
        "{}",
        out[0].eve
    );
    assert_eq!(out[0].queries, vec![b"a\"\xff.\x01\x7f".to_vec()]);
}

#[test]
fn zero_questions_are_transactions_but_not_logged() {
    let m = msg(1, 0x8180, [0, 0, 0, 0], b"");
    let q = msg(2, 0x0100, [0, 0, 0, 0], b"");
    let (out, c) = udp(&[(false, &m), (true, &q)]);
    assert_eq!(out.len(), 2);
    assert!(!out[0].log && !out[1].log);
    assert_eq!(c.tx, 2);
}

#[test]
fn a_response_from_the_client_is_an_error() {
    let (out, c) = udp(&[(true, &hex(R_WIRESHARK))]);
    assert!(out.is_empty());
    assert_eq!(c.parse_errors, 1);
    // From the server, a message without QR is still logged as an answer (Suricata).
    let (out, _) = udp(&[(false, &hex(Q_WIRESHARK))]);
    assert!(out[0]
        .eve
        .contains(r#""type":"answer","id":6159,"flags":"100","rd":true"#));
}

#[test]
fn malformed_messages_yield_nothing() {
    let cases: Vec<Vec<u8>> = vec![
        vec![],
        hex("180f0100"),
        // Claims more records than it could hold.
        msg(1, 0x0100, [1, 0, 0, 200], EX),
        // A label running past the end.
        msg(1, 0x0100, [1, 0, 0, 0], b"\x09abc"),
        // A pointer to itself as the first label.
        msg(1, 0x0100, [1, 0, 0, 0], b"\xc0\x0c\x00\x01\x00\x01"),
        // A pointer past the end.
        msg(1, 0x0100, [1, 0, 0, 0], b"\xc3\xff\x00\x01\x00\x01"),
        // Label types 01 and 10.
        msg(1, 0x0100, [1, 0, 0, 0], b"\x41a\x00\x00\x01\x00\x01"),
        // Question without its type and class.
        msg(1, 0x0100, [1, 0, 0, 0], b"\x01a\x00\x00"),
    ];
    for m in &cases {
        let (out, c) = udp(&[(true, m)]);
        assert!(out.is_empty(), "{m:02x?}");
        assert_eq!(c.parse_errors, 1);
    }
    // Empty record data, or an A record running past the message, break a response.
    let mut body = EX.to_vec();
    body.extend_from_slice(&[0, 1, 0, 1]);
    body.extend_from_slice(&rr(b"\xc0\x0c", 1, 5, b""));
    let (out, c) = udp(&[(false, &msg(1, 0x8180, [1, 1, 0, 0], &body))]);
    assert!(out.is_empty());
    assert_eq!(c.parse_errors, 1);
    let mut cut = body.clone();
    let n = cut.len();
    cut[n - 1] = 4;
    let (out, _) = udp(&[(false, &msg(1, 0x8180, [1, 1, 0, 0], &cut))]);
    assert!(out.is_empty());
    // Damage in the additional section is not looked at.
    let mut extra = EX.to_vec();
    extra.extend_from_slice(&[0, 1, 0, 1, 0xc0, 0xc0, 0xff]);
    let (out, c) = udp(&[(false, &msg(1, 0x8180, [1, 0, 0, 1], &extra))]);
    assert_eq!(out.len(), 1);
    assert_eq!(c.parse_errors, 0);
}

#[test]
fn pointer_loops_are_bounded() {
    // Question name: label "a", then a pointer to 14, which points to 12 (the label),
    // a loop that only the step limit ends.
    let q = msg(1, 0x0100, [1, 0, 0, 0], b"\x01a\xc0\x0c\x00\x01\x00\x01");
    let (out, c) = udp(&[(true, &q)]);
    assert_eq!(c.parse_errors, 0);
    let v: serde_json::Value = serde_json::from_str(&format!("{{{}}}", out[0].eve)).unwrap();
    assert_eq!(v["dns"]["rrname_truncated"], true);
    let name = v["dns"]["rrname"].as_str().unwrap();
    assert_eq!(name.len(), 2 * 128 - 1, "128 labels of the 256 steps");
    // Two pointers pointing at each other after a label: ends at the step limit.
    let body = b"\x01b\xc0\x10\xc0\x0e\x00\x01";
    let m = msg(1, 0x0100, [1, 0, 0, 0], body);
    assert!(Message::parse(&m, false).is_ok());
}

#[test]
fn long_names_are_cut_at_1025() {
    let mut name = Vec::new();
    for _ in 0..20 {
        name.push(63);
        name.extend_from_slice(&[b'x'; 63]);
    }
    name.push(0);
    name.extend_from_slice(&[0, 1, 0, 1]);
    let q = msg(1, 0x0100, [1, 0, 0, 0], &name);
    let (out, _) = udp(&[(true, &q)]);
    assert_eq!(out[0].queries[0].len(), MAX_NAME_LEN);
    assert!(out[0]
        .eve
        .contains(r#""rrname_truncated":true,"rrtype":"A""#));
}

#[test]
fn dns_query_offers_every_question_until_an_empty_one() {
    let body = b"\x01a\x00\x00\x01\x00\x01\x01b\x00\x00\x01\x00\x01\x00\x00\x01\x00\x01\x01c\x00\x00\x01\x00\x01";
    let q = msg(1, 0x0100, [4, 0, 0, 0], body);
    let (out, _) = udp(&[(true, &q)]);
    assert_eq!(out[0].queries, vec![b"a".to_vec(), b"b".to_vec()]);
    assert!(out[0].eve.contains(r#""rrname":"a""#));
}

#[test]
fn probes() {
    assert_eq!(probe(true, &hex(Q_WIRESHARK)), Probe::Match);
    assert_eq!(probe(false, &hex(R_WIRESHARK)), Probe::Match);
    assert_eq!(probe(true, b"GET / HTTP/1.1\r\n\r\n"), Probe::NoMatch);
    assert_eq!(probe(true, &hex("180f0100")), Probe::NoMatch);
    let tcp = hex(TCP_Q_RIPE);
    assert_eq!(probe_tcp(true, &tcp), Probe::Match);
    assert_eq!(probe_tcp(true, &tcp[..5]), Probe::NeedMore);
    assert_eq!(probe_tcp(true, &tcp[..16]), Probe::Match);
    assert_eq!(
        probe_tcp(
            true,
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\xaa\xbb\xcc"
        ),
        Probe::NoMatch
    );
}

/// A TCP stream of both directions: the query, a zero-length frame, two responses.
fn tcp_stream() -> (Vec<u8>, Vec<u8>) {
    let client = [hex(TCP_Q_RIPE), vec![0, 0], frame(&hex(Q_WIRESHARK))].concat();
    let server = [frame(&hex(R_WIRESHARK)), frame(&hex(R_NXDOMAIN))].concat();
    (client, server)
}

fn frame(m: &[u8]) -> Vec<u8> {
    let mut f = (m.len() as u16).to_be_bytes().to_vec();
    f.extend_from_slice(m);
    f
}

fn run_tcp(client: &[&[u8]], server: &[&[u8]]) -> (Vec<Seen>, AppCounters) {
    let mut p = DnsParser::tcp();
    let mut out = Vec::new();
    for c in client {
        feed(&mut p, true, c, &mut out);
    }
    for s in server {
        feed(&mut p, false, s, &mut out);
    }
    p.end(&mut |_| panic!("nothing pending"));
    (out, p.counters())
}

#[test]
fn tcp_stream_whole() {
    let (c, s) = tcp_stream();
    let (out, counters) = run_tcp(&[&c], &[&s]);
    assert_eq!(out.len(), 4);
    assert_eq!(counters.tx, 4);
    assert_eq!(counters.parse_errors, 0);
    assert_eq!(out[1].queries, vec![b"wireshark.org".to_vec()]);
    assert!(out[3].eve.contains("NXDOMAIN"));
}

fn split(data: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (data.len() + 1)).collect();
    cuts.sort_unstable();
    let mut out = Vec::new();
    let mut at = 0;
    for c in cuts.into_iter().chain([data.len()]) {
        out.push(data[at..c].to_vec());
        at = c;
    }
    out
}

proptest! {
    #[test]
    fn any_segmentation_gives_the_same_transactions(
        cc in proptest::collection::vec(any::<usize>(), 0..12),
        sc in proptest::collection::vec(any::<usize>(), 0..12),
    ) {
        let (c, s) = tcp_stream();
        let (want, _) = run_tcp(&[&c], &[&s]);
        let cs = split(&c, &cc);
        let ss = split(&s, &sc);
        let cr: Vec<&[u8]> = cs.iter().map(|v| v.as_slice()).collect();
        let sr: Vec<&[u8]> = ss.iter().map(|v| v.as_slice()).collect();
        let (got, counters) = run_tcp(&cr, &sr);
        prop_assert_eq!(got, want);
        prop_assert_eq!(counters.parse_errors, 0);
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..300), cut in any::<usize>()) {
        let mut u = DnsParser::udp();
        let mut t = DnsParser::tcp();
        let mut sink = |tx: &dyn Transaction| { let _ = seen(tx); };
        u.parse(true, &data, &mut sink);
        u.parse(false, &data, &mut sink);
        let cut = cut % (data.len() + 1);
        t.parse(false, &data[..cut], &mut sink);
        t.parse(false, &data[cut..], &mut sink);
        let _ = probe(true, &data);
        let _ = probe_tcp(true, &data);
    }
}

#[test]
fn tcp_gap_resyncs_on_a_frame_start() {
    let (c, _) = tcp_stream();
    let q = hex(TCP_Q_RIPE);
    let mut p = DnsParser::tcp();
    let mut out = Vec::new();
    // Half a frame, a gap, then garbage (skipped), then a whole frame.
    feed(&mut p, true, &c[..10], &mut out);
    p.gap(true, 100);
    feed(
        &mut p,
        true,
        b"\xff\xff\xff garbage that is not a frame",
        &mut out,
    );
    feed(&mut p, true, &q, &mut out);
    assert_eq!(out.len(), 1);
    let counters = p.counters();
    assert_eq!(counters.gaps, 1);
    assert_eq!(counters.tx, 1);
    assert!(counters.truncated > 0);
}

#[test]
fn tcp_bad_message_stops_the_flow() {
    let bad = frame(&msg(1, 0x0100, [1, 0, 0, 0], b"\x41a\x00\x00\x01\x00\x01"));
    let (out, c) = run_tcp(&[&bad, &hex(TCP_Q_RIPE)], &[&frame(&hex(R_WIRESHARK))]);
    assert!(out.is_empty());
    assert_eq!(c.parse_errors, 1);
}

#[test]
fn reset_keeps_capacity_and_forgets_the_flow() {
    let (c, s) = tcp_stream();
    let mut p = DnsParser::tcp();
    let mut out = Vec::new();
    feed(&mut p, false, &s[..s.len() - 3], &mut out);
    let cap = p.dirs[1].frame.capacity();
    assert!(cap > 0);
    p.reset();
    assert_eq!(p.counters(), AppCounters::default());
    assert_eq!(p.dirs[1].frame.capacity(), cap);
    out.clear();
    feed(&mut p, true, &c, &mut out);
    assert!(out[0].eve.contains(r#""tx_id":0"#));
}

/// Found by the segmentation proptest: a zero-length frame whose prefix straddles two
/// segments was taken for an empty message.
#[test]
fn zero_length_frame_split_across_segments() {
    let (c, s) = tcp_stream();
    let (want, _) = run_tcp(&[&c], &[&s]);
    let (got, counters) = run_tcp(&[&c[..29], &c[29..]], &[&s]);
    assert_eq!(got, want);
    assert_eq!(counters.parse_errors, 0);
}

#[test]
fn logged_entries_are_capped() {
    // One TXT record of 2000 empty strings: 2000 entries for Suricata, 1024 here.
    let mut body = EX.to_vec();
    body.extend_from_slice(&[0, 16, 0, 1]);
    body.extend_from_slice(&rr(b"\xc0\x0c", 16, 1, &[0u8; 2000]));
    let (out, _) = udp(&[(false, &msg(1, 0x8180, [1, 1, 0, 0], &body))]);
    let v: serde_json::Value = serde_json::from_str(&format!("{{{}}}", out[0].eve)).unwrap();
    assert_eq!(v["dns"]["answers"].as_array().unwrap().len(), 1024);
    assert_eq!(v["dns"]["grouped"]["TXT"].as_array().unwrap().len(), 1024);
}

#[test]
fn pointer_to_itself_after_a_pointer_ends_the_name() {
    // Owner names point at "a" + a pointer to itself: flagged as a loop but accepted, as
    // Suricata does, many times over in one message.
    let mut body = EX.to_vec();
    body.extend_from_slice(&[0, 1, 0, 1]);
    // The first record's data (an A record of 4 bytes) holds "a" and the self pointer.
    let loop_at = 12 + body.len() + 12;
    let self_ptr = (0xc000 | (loop_at + 2) as u16).to_be_bytes();
    body.extend_from_slice(&rr(b"\xc0\x0c", 1, 1, &[1, b'a', self_ptr[0], self_ptr[1]]));
    let mut n = 1u16;
    while body.len() < 60_000 {
        let owner = (0xc000 | loop_at as u16).to_be_bytes();
        body.extend_from_slice(&rr(&owner, 1, 1, &[1, 2, 3, 4]));
        n += 1;
    }
    let m = msg(1, 0x8180, [1, n, 0, 0], &body);
    let (out, c) = udp(&[(false, &m)]);
    assert_eq!(c.parse_errors, 0);
    assert!(out[0]
        .eve
        .contains(r#"{"rrname":"a","rrtype":"A","ttl":1,"rdata":"1.2.3.4"}"#));
}
