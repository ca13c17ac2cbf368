//! Parser tests on real request/response bytes.

use signatures::BufferKind;

use super::*;
use crate::app::{Buffers, Transaction};

/// What one inspection point showed: direction, log flag, buffers and (if logged) EVE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Seen {
    pub to_server: bool,
    pub log: bool,
    pub buffers: Vec<(BufferKind, Vec<u8>)>,
    pub eve: Option<String>,
}

pub(super) fn record(out: &mut Vec<Seen>) -> impl FnMut(&dyn Transaction) + '_ {
    move |tx: &dyn Transaction| {
        let mut b = Buffers::new();
        tx.buffers(&mut b);
        let eve = tx.log().then(|| {
            let mut v = Vec::new();
            tx.write_eve(&mut v).unwrap();
            String::from_utf8(v).unwrap()
        });
        out.push(Seen {
            to_server: tx.to_server(),
            log: tx.log(),
            buffers: b.iter().map(|a| (a.kind, a.data.to_vec())).collect(),
            eve,
        });
    }
}

/// Runs a conversation given as (to_server, bytes) chunks, then ends the flow.
pub(super) fn run(chunks: &[(bool, &[u8])]) -> (Vec<Seen>, AppCounters) {
    let mut p = HttpParser::new();
    let mut seen = Vec::new();
    {
        let mut sink = record(&mut seen);
        for (d, c) in chunks {
            p.parse(*d, c, &mut sink);
        }
        p.end(&mut sink);
    }
    (seen, p.counters())
}

fn buf(s: &Seen, k: BufferKind) -> Option<&[u8]> {
    s.buffers
        .iter()
        .find(|(kk, _)| *kk == k)
        .map(|(_, v)| &v[..])
}

const REQ: &[u8] = b"GET /download/CHANGES.bro-aux.txt HTTP/1.1\r\nUser-Agent: Wget/1.14 (darwin12.2.0)\r\nAccept: */*\r\nHost: bro.org\r\nConnection: Keep-Alive\r\n\r\n";
const RESP: &[u8] = b"HTTP/1.1 200 OK\r\nDate: Thu, 07 Mar 2013 21:43:07 GMT\r\nServer: Apache/2.4.3 (Fedora)\r\nContent-Length: 5\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\nhello";

#[test]
fn simple_get_like_suricata() {
    let (seen, c) = run(&[(true, REQ), (false, RESP)]);
    assert_eq!(seen.len(), 2);
    assert!(seen[0].to_server && !seen[0].log);
    assert_eq!(buf(&seen[0], BufferKind::HttpMethod), Some(&b"GET"[..]));
    assert_eq!(buf(&seen[0], BufferKind::HttpHost), Some(&b"bro.org"[..]));
    assert_eq!(
        buf(&seen[0], BufferKind::HttpUserAgent),
        Some(&b"Wget/1.14 (darwin12.2.0)"[..])
    );
    assert_eq!(
        buf(&seen[0], BufferKind::HttpRequestLine),
        Some(&b"GET /download/CHANGES.bro-aux.txt HTTP/1.1"[..])
    );
    assert!(!seen[1].to_server && seen[1].log);
    assert_eq!(buf(&seen[1], BufferKind::HttpStatCode), Some(&b"200"[..]));
    assert_eq!(buf(&seen[1], BufferKind::HttpStatMsg), Some(&b"OK"[..]));
    assert_eq!(
        buf(&seen[1], BufferKind::HttpResponseBody),
        Some(&b"hello"[..])
    );
    assert_eq!(buf(&seen[1], BufferKind::FileData), Some(&b"hello"[..]));
    assert_eq!(
        buf(&seen[1], BufferKind::HttpUri),
        Some(&b"/download/CHANGES.bro-aux.txt"[..])
    );
    assert_eq!(
        buf(&seen[1], BufferKind::HttpServer),
        Some(&b"Apache/2.4.3 (Fedora)"[..])
    );
    assert_eq!(
        seen[1].eve.as_deref(),
        Some(
            r#""http":{"hostname":"bro.org","url":"/download/CHANGES.bro-aux.txt","http_user_agent":"Wget/1.14 (darwin12.2.0)","http_content_type":"text/plain","http_method":"GET","protocol":"HTTP/1.1","status":200,"length":5}"#
        )
    );
    assert_eq!(c.tx, 2);
}

#[test]
fn pipelined_requests_pair_in_order() {
    let reqs = b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nHEAD /b HTTP/1.1\r\nHost: x\r\n\r\nPOST /c HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc";
    let resps = b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nAHTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nHTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n";
    let (seen, _) = run(&[(true, reqs), (false, resps)]);
    let logs: Vec<_> = seen.iter().filter_map(|s| s.eve.clone()).collect();
    assert_eq!(logs.len(), 3, "{logs:?}");
    assert!(logs[0].contains(r#""url":"/a""#) && logs[0].contains(r#""length":1"#));
    assert!(logs[1].contains(r#""url":"/b""#) && logs[1].contains(r#""http_method":"HEAD""#));
    assert!(logs[2].contains(r#""url":"/c""#) && logs[2].contains(r#""status":201"#));
    // Chunk framing counts in length, as libhtp's response_message_len.
    assert!(logs[2].contains(r#""length":10"#), "{}", logs[2]);
    let post = seen
        .iter()
        .find(|s| s.to_server && buf(s, BufferKind::HttpMethod) == Some(b"POST"))
        .unwrap();
    assert_eq!(buf(post, BufferKind::HttpRequestBody), Some(&b"abc"[..]));
    let last = seen.last().unwrap();
    assert_eq!(buf(last, BufferKind::HttpResponseBody), Some(&b"ok"[..]));
}

#[test]
fn unanswered_request_logged_at_end() {
    let (seen, _) = run(&[(true, REQ)]);
    assert_eq!(seen.len(), 2);
    assert!(seen[1].log);
    assert_eq!(
        seen[1].eve.as_deref(),
        Some(
            r#""http":{"hostname":"bro.org","url":"/download/CHANGES.bro-aux.txt","http_user_agent":"Wget/1.14 (darwin12.2.0)","http_method":"GET","protocol":"HTTP/1.1","length":0}"#
        )
    );
}

#[test]
fn body_until_close_ends_with_flow() {
    let (seen, _) = run(&[
        (true, b"GET / HTTP/1.0\r\n\r\n"),
        (false, b"HTTP/1.0 200 OK\r\nLocation: /x\r\n\r\nsome"),
        (false, b" body"),
    ]);
    let last = seen.last().unwrap();
    assert_eq!(
        buf(last, BufferKind::HttpResponseBody),
        Some(&b"some body"[..])
    );
    let eve = last.eve.as_deref().unwrap();
    assert!(
        eve.ends_with(r#""status":200,"redirect":"/x","length":9}"#),
        "{eve}"
    );
}

#[test]
fn connect_and_upgrade_stop_parsing() {
    let (seen, _) = run(&[
        (
            true,
            b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
        ),
        (false, b"HTTP/1.1 200 Connection established\r\n\r\n"),
        (true, b"\x16\x03\x01GET / HTTP/1.1\r\n\r\n"),
        (false, b"\x16\x03\x03HTTP/1.1 200 OK\r\n\r\n"),
    ]);
    assert_eq!(seen.iter().filter(|s| s.log).count(), 1);
    let eve = seen[1].eve.as_deref().unwrap();
    assert!(
        eve.contains(r#""hostname":"example.com","http_port":443,"url":"example.com:443""#),
        "{eve}"
    );

    let (seen, _) = run(&[
        (
            true,
            b"GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\r\n",
        ),
        (
            false,
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x05hello",
        ),
        (true, b"\x81\x85abcdGET / HTTP/1.1\r\n\r\n"),
    ]);
    assert_eq!(seen.iter().filter(|s| s.log).count(), 1);
}

#[test]
fn failed_connect_resumes_http() {
    let (seen, _) = run(&[
        (true, b"CONNECT example.com:443 HTTP/1.1\r\n\r\nGET /x HTTP/1.1\r\nHost: a\r\n\r\n"),
        (false, b"HTTP/1.1 407 Proxy Auth\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
    ]);
    let logs: Vec<_> = seen.iter().filter_map(|s| s.eve.clone()).collect();
    assert_eq!(logs.len(), 2, "{logs:?}");
    assert!(logs[0].contains(r#""status":407"#));
    assert!(logs[1].contains(r#""url":"/x""#) && logs[1].contains(r#""status":200"#));
}

#[test]
fn headers_buffers_and_cookie_exclusion() {
    let (seen, _) = run(&[(
        true,
        b"GET /a%2Fb/../c?q=%41 HTTP/1.1\r\nHost: WWW.Example.COM:8080\r\nCookie: s=1\r\nReferer: http://r/\r\nAccept-Language: en\r\n\r\n",
    )]);
    let r = &seen[0];
    assert_eq!(buf(r, BufferKind::HttpUri), Some(&b"/a/c?q=A"[..]));
    assert_eq!(
        buf(r, BufferKind::HttpUriRaw),
        Some(&b"/a%2Fb/../c?q=%41"[..])
    );
    // A Host header with a port keeps its case (libhtp 0.5, checked with Suricata 7.0.10).
    assert_eq!(buf(r, BufferKind::HttpHost), Some(&b"WWW.Example.COM"[..]));
    assert_eq!(
        buf(r, BufferKind::HttpHostRaw),
        Some(&b"WWW.Example.COM:8080"[..])
    );
    assert_eq!(buf(r, BufferKind::HttpCookie), Some(&b"s=1"[..]));
    assert_eq!(buf(r, BufferKind::HttpAcceptLang), Some(&b"en"[..]));
    assert_eq!(
        buf(r, BufferKind::HttpHeader),
        Some(&b"Host: WWW.Example.COM:8080\r\nReferer: http://r/\r\nAccept-Language: en\r\n"[..])
    );
    assert_eq!(
        buf(r, BufferKind::HttpHeaderRaw),
        Some(&b"Host: WWW.Example.COM:8080\r\nCookie: s=1\r\nReferer: http://r/\r\nAccept-Language: en\r\n\r\n"[..])
    );
}

#[test]
fn probe_by_content() {
    assert_eq!(probe(true, b"GET / HTTP/1.1\r\n"), Probe::Match);
    assert_eq!(probe(true, b"get /"), Probe::Match);
    assert_eq!(probe(true, b"PROPFIND\t/"), Probe::Match);
    assert_eq!(probe(true, b"PO"), Probe::NeedMore);
    assert_eq!(probe(true, b"POST"), Probe::NeedMore);
    assert_eq!(probe(true, b""), Probe::NeedMore);
    assert_eq!(probe(true, b"GETX /"), Probe::NoMatch);
    assert_eq!(probe(true, b"\x16\x03\x01"), Probe::NoMatch);
    assert_eq!(probe(false, b"HTTP/1.1 200"), Probe::Match);
    assert_eq!(probe(false, b"HTT"), Probe::NeedMore);
    assert_eq!(probe(false, b"SSH-2.0"), Probe::NoMatch);
}

#[test]
fn gaps_and_caps_are_counted() {
    let mut p = HttpParser::new();
    let mut seen = Vec::new();
    {
        let mut sink = record(&mut seen);
        p.parse(
            true,
            b"POST /u HTTP/1.1\r\nContent-Length: 10\r\n\r\nab",
            &mut sink,
        );
        p.gap(true, 4);
        p.parse(true, b"cdef", &mut sink);
        p.parse(
            false,
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
            &mut sink,
        );
        p.gap(false, 3);
        p.parse(false, b"garbage\r\nmore HTTP/1.1", &mut sink);
        p.end(&mut sink);
    }
    let c = p.counters();
    assert_eq!(c.gaps, 2);
    assert_eq!(seen.iter().filter(|s| s.log).count(), 1);
    assert_eq!(buf(&seen[0], BufferKind::HttpRequestBody), Some(&b"ab"[..]));

    let mut big = b"GET / HTTP/1.1\r\n".to_vec();
    for i in 0..5000 {
        big.extend_from_slice(format!("X-{i}: value\r\n").as_bytes());
    }
    big.extend_from_slice(b"\r\n");
    let (seen, c) = run(&[(true, &big), (false, b"HTTP/1.1 204 No Content\r\n\r\n")]);
    assert!(c.truncated > 0);
    assert_eq!(seen.iter().filter(|s| s.log).count(), 1);
}

#[test]
fn reset_keeps_capacity_and_forgets() {
    let mut p = HttpParser::new();
    let mut seen = Vec::new();
    {
        let mut sink = record(&mut seen);
        p.parse(true, REQ, &mut sink);
        p.reset();
        p.parse(false, RESP, &mut sink);
        p.end(&mut sink);
    }
    // The response after reset has no request.
    let eve = seen.last().unwrap().eve.as_deref().unwrap();
    assert!(
        eve.contains(r#""http_port":0,"url":"/libhtp::request_uri_not_seen""#),
        "{eve}"
    );
    assert_eq!(p.counters().tx, 1);
}

#[test]
fn http09_request() {
    let (seen, _) = run(&[(true, b"GET /\r\n"), (false, b"<html>hi</html>")]);
    let last = seen.last().unwrap();
    assert_eq!(
        buf(last, BufferKind::HttpResponseBody),
        Some(&b"<html>hi</html>"[..])
    );
    let eve = last.eve.as_deref().unwrap();
    assert_eq!(
        eve,
        r#""http":{"http_port":0,"url":"/","http_method":"GET","length":15}"#
    );
}

proptest::proptest! {
    /// Any segmentation of either direction gives the same inspection points.
    #[test]
    fn segmentation_does_not_matter(
        cuts_req in proptest::collection::vec(1usize..40, 0..20),
        cuts_resp in proptest::collection::vec(1usize..40, 0..20),
    ) {
        let reqs: &[u8] = b"\r\nGET /a/./b%41?x=1 HTTP/1.1\r\nHost: Ex.com\r\nX: 1\r\n 2\r\n\r\nPOST /p HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;e=1\r\nabc\r\n0\r\nT: 1\r\n\r\nGET /09\n";
        let resps: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\nContent-Length: 4\n\nbodyHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n";
        fn split<'a>(data: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
            let mut out = Vec::new();
            let mut rest = data;
            for &c in cuts {
                if rest.is_empty() { break; }
                let (a, b) = rest.split_at(c.min(rest.len()));
                out.push(a);
                rest = b;
            }
            if !rest.is_empty() { out.push(rest); }
            out
        }
        let whole = run(&[(true, reqs), (false, resps)]);
        let mut chunks: Vec<(bool, &[u8])> = split(reqs, &cuts_req).into_iter().map(|c| (true, c)).collect();
        chunks.extend(split(resps, &cuts_resp).into_iter().map(|c| (false, c)));
        let pieces = run(&chunks);
        proptest::prop_assert_eq!(&whole.0, &pieces.0);
        proptest::prop_assert_eq!(whole.0.iter().filter(|s| s.log).count(), 3);
    }

    /// Arbitrary bytes in both directions never panic.
    #[test]
    fn arbitrary_bytes_never_panic(
        chunks in proptest::collection::vec((proptest::bool::ANY, proptest::collection::vec(proptest::num::u8::ANY, 0..64)), 0..16),
        gaps in proptest::collection::vec((proptest::bool::ANY, 0u64..100), 0..3),
    ) {
        let mut p = HttpParser::new();
        let mut sink = |_: &dyn Transaction| {};
        for (i, (d, c)) in chunks.iter().enumerate() {
            p.parse(*d, c, &mut sink);
            if let Some((gd, gl)) = gaps.get(i) {
                p.gap(*gd, *gl);
            }
        }
        p.end(&mut sink);
    }
}

#[test]
fn resync_after_gap_in_headers() {
    let mut p = HttpParser::new();
    let mut seen = Vec::new();
    {
        let mut sink = record(&mut seen);
        p.parse(
            true,
            b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n",
            &mut sink,
        );
        // The first response is lost in a gap; the second one resynchronises.
        p.gap(false, 40);
        p.parse(
            false,
            b"tail of body\r\nHTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
            &mut sink,
        );
        p.gap(true, 10);
        p.parse(
            true,
            b"xx\r\nPOST /3 HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
            &mut sink,
        );
        p.end(&mut sink);
    }
    let logs: Vec<_> = seen.iter().filter_map(|s| s.eve.clone()).collect();
    assert_eq!(logs.len(), 3, "{logs:?}");
    assert!(logs[0].contains(r#""url":"/1""#) && !logs[0].contains("status"));
    assert!(logs[1].contains(r#""url":"/2""#) && logs[1].contains(r#""status":404"#));
    assert!(logs[2].contains(r#""url":"/3""#));
}

#[test]
fn missing_protocol_with_headers_is_not_http09() {
    let (seen, _) = run(&[
        (true, b"OPTIONS HTTP/1.1\r\nHost: www.google.com\r\n\r\n"),
        (
            false,
            b"HTTP/1.1 400 Bad Request\r\nContent-Length: 2\r\n\r\nno",
        ),
    ]);
    let eve = seen.last().unwrap().eve.as_deref().unwrap();
    assert_eq!(
        eve,
        r#""http":{"hostname":"www.google.com","url":"HTTP/1.1","http_method":"OPTIONS","status":400,"length":2}"#
    );
}

#[test]
fn gzip_response_body_is_decoded() {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(b"<html>compressed page</html>").unwrap();
    let z = e.finish().unwrap();
    let mut resp = format!(
        "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\n\r\n",
        z.len()
    )
    .into_bytes();
    resp.extend_from_slice(&z);
    let (seen, _) = run(&[(true, REQ), (false, &resp)]);
    let last = seen.last().unwrap();
    assert_eq!(
        buf(last, BufferKind::HttpResponseBody),
        Some(&b"<html>compressed page</html>"[..])
    );
    assert!(last
        .eve
        .as_deref()
        .unwrap()
        .ends_with(&format!("\"length\":{}}}", z.len())));
}

#[test]
fn host_header_normalisation_quirks_of_libhtp() {
    for (host, want) in [
        (&b"WWW.Ex.COM"[..], &b"www.ex.com"[..]),
        (b"WWW.Ex.COM:8080", b"WWW.Ex.COM"),
        (b"www.ex.com.", b"www.ex.com."),
    ] {
        let mut req = b"GET / HTTP/1.1\r\nHost: ".to_vec();
        req.extend_from_slice(host);
        req.extend_from_slice(b"\r\n\r\n");
        let (seen, _) = run(&[(true, &req)]);
        assert_eq!(buf(&seen[0], BufferKind::HttpHost), Some(want));
    }
    let (seen, _) = run(&[(
        true,
        b"GET http://Abs.Example.ORG.:81/x HTTP/1.1\r\nHost: other\r\n\r\n",
    )]);
    assert_eq!(
        buf(&seen[0], BufferKind::HttpHost),
        Some(&b"abs.example.org"[..])
    );
    assert_eq!(buf(&seen[0], BufferKind::HttpUri), Some(&b"/x"[..]));
}

#[test]
fn buffers_checked_against_suricata_rules() {
    // The same request and response were run through Suricata 7.0.10 with rules on each
    // buffer (bsize / startswith / endswith); these are the buffers that matched there.
    let req = b"GET /a/./b/%2e%2e/c%41//d\\e?x=%41+%2F&y=%zz HTTP/1.1\r\nHost: WWW.Ex.COM.:8080\r\nCookie: sess=1\r\nX-Dup: one\r\nUser-Agent: UA1\r\nx-dup: two\r\nX-Fold: a\r\n b\r\n\r\n";
    let resp = b"HTTP/1.1 200 OK\r\nSet-Cookie: k=v\r\nContent-Length: 2\r\nServer: srv\r\n\r\nok";
    let (seen, _) = run(&[(true, req), (false, resp)]);
    let r = &seen[0];
    assert_eq!(
        buf(r, BufferKind::HttpUri),
        Some(&b"/a/cA/d/e?x=A+/&y=%zz"[..])
    );
    assert_eq!(buf(r, BufferKind::HttpHost), Some(&b"WWW.Ex.COM."[..]));
    assert_eq!(
        buf(r, BufferKind::HttpHostRaw),
        Some(&b"WWW.Ex.COM.:8080"[..])
    );
    assert_eq!(
        buf(r, BufferKind::HttpHeader),
        Some(
            &b"Host: WWW.Ex.COM.:8080\r\nX-Dup: one, two\r\nUser-Agent: UA1\r\nX-Fold: a b\r\n"[..]
        )
    );
    assert_eq!(
        buf(r, BufferKind::HttpHeaderNames),
        Some(&b"\r\nHost\r\nCookie\r\nX-Dup\r\nUser-Agent\r\nX-Fold\r\n\r\n"[..])
    );
    assert!(buf(r, BufferKind::HttpHeaderRaw)
        .unwrap()
        .ends_with(b"\r\n\r\n"));
    assert_eq!(buf(r, BufferKind::HttpCookie), Some(&b"sess=1"[..]));
    let s = seen.last().unwrap();
    assert_eq!(
        buf(s, BufferKind::HttpHeader),
        Some(&b"Content-Length: 2\r\nServer: srv\r\n"[..])
    );
    assert_eq!(buf(s, BufferKind::HttpCookie), Some(&b"k=v"[..]));
    assert!(buf(s, BufferKind::HttpStart)
        .unwrap()
        .starts_with(b"HTTP/1.1 200 OK\r\nSet-Cookie"));
    assert_eq!(
        s.eve.as_deref(),
        Some(
            r#""http":{"hostname":"WWW.Ex.COM.","http_port":8080,"url":"/a/./b/%2e%2e/c%41//d\\e?x=%41+%2F&y=%zz","http_user_agent":"UA1","http_method":"GET","protocol":"HTTP/1.1","status":200,"length":2}"#
        )
    );
}
