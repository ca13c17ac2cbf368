//! Tests on real handshakes (zeek's BSD-licensed test traces `cert-no-cn.pcap` and
//! `tls13_wolfssl.pcap`, as per-direction payload chunks) against what Suricata 7.0.10 logged
//! for them, plus segmentation independence, probing and robustness.

use proptest::prelude::*;

use super::*;
use crate::app::{AppParser, Transaction};

const CERT_NO_CN: &str = include_str!("testdata/cert_no_cn.txt");
const TLS13_WOLFSSL: &str = include_str!("testdata/tls13_wolfssl.txt");

/// Suricata 7.0.10's `tls` object for cert-no-cn.pcap (ja3 and ja4 enabled).
const CERT_NO_CN_EVE: &str = r#""tls":{"subject":"O=TestCorp","issuerdn":"O=TestCorp","serial":"00:FA:17:A6:14:05:9B:1E:F3","fingerprint":"36:ff:d6:dc:09:f1:57:8d:3a:97:8c:29:fe:ed:84:c4:25:f1:e9:d4","version":"TLSv1","notbefore":"2015-03-04T00:31:05","notafter":"2016-03-03T00:31:05","ja3":{"hash":"6eca5d94b8020b2a51d96384782083b9","string":"771,49200-49196-49192-49188-49172-49162-163-159-107-106-57-56-136-135-49202-49198-49194-49190-49167-49157-157-61-53-132-49170-49160-22-19-49165-49155-10-49199-49195-49191-49187-49171-49161-162-158-103-64-51-50-154-153-69-68-49201-49197-49193-49189-49166-49156-156-60-47-150-65-7-49169-49159-49164-49154-5-4-255,11-10-35-13-15,25-24-23,0-1-2"},"ja3s":{"hash":"ae7ebaa87c327353949114a3b85f13cc","string":"769,57,65281-35"},"ja4":"t12i660500_00a40d0492ae_3eafcbe19126"}"#;

/// Suricata 7.0.10's `tls` object for tls13_wolfssl.pcap.
const TLS13_EVE: &str = r#""tls":{"version":"TLS 1.3","ja3":{"hash":"39cef737bf0cabc32c28f95d09b97702","string":"771,4866,51-43-13-11-10-23,25-24-23-21-19-16-256,0"},"ja3s":{"hash":"907bf3ecef1c987c889946b737b43de8","string":"771,4866,51-43"},"ja4":"t13i010600_ee47968ec53b_5af53a18c712"}"#;

fn chunks(text: &str) -> Vec<(bool, Vec<u8>)> {
    text.lines()
        .filter_map(|l| {
            let (dir, hex) = l.split_once(' ')?;
            let bytes = (0..hex.len() / 2)
                .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
                .collect();
            Some((dir == "C", bytes))
        })
        .collect()
}

fn with_ja4() -> TlsParser {
    TlsParser::with_config(TlsConfig {
        ja4: true,
        ..TlsConfig::default()
    })
}

/// One inspection point: (to_server, log, buffers as (kind, bytes)).
type PointSeen = (bool, bool, Vec<(String, Vec<u8>)>);

/// What a flow produced: each point's (to_server, log, buffers) and the logged records.
#[derive(Debug, Default, PartialEq, Eq)]
struct Seen {
    points: Vec<PointSeen>,
    logs: Vec<String>,
}

fn record(seen: &mut Seen, tx: &dyn Transaction) {
    let mut bufs = crate::app::Buffers::new();
    tx.buffers(&mut bufs);
    let b = bufs
        .iter()
        .map(|b| (format!("{:?}", b.kind), b.data.to_vec()))
        .collect();
    seen.points.push((tx.to_server(), tx.log(), b));
    if tx.log() {
        let mut out = Vec::new();
        tx.write_eve(&mut out).unwrap();
        seen.logs.push(String::from_utf8(out).unwrap());
    }
}

/// Runs a flow, each chunk split at the given cut sizes (cycled; 0 = whole chunk).
fn run(p: &mut TlsParser, flow: &[(bool, Vec<u8>)], cuts: &[usize]) -> Seen {
    let mut seen = Seen::default();
    let mut cut = cuts.iter().cycle();
    for (to_server, data) in flow {
        let mut rest = &data[..];
        while !rest.is_empty() {
            let n = match cut.next() {
                Some(&c) if c > 0 => c.min(rest.len()),
                _ => rest.len(),
            };
            p.parse(*to_server, &rest[..n], &mut |tx| record(&mut seen, tx));
            rest = &rest[n..];
        }
    }
    p.end(&mut |tx| record(&mut seen, tx));
    seen
}

fn kinds(point: &PointSeen) -> Vec<&str> {
    point.2.iter().map(|(k, _)| k.as_str()).collect()
}

#[test]
fn tls12_session_matches_suricata() {
    let flow = chunks(CERT_NO_CN);
    let mut p = with_ja4();
    let seen = run(&mut p, &flow, &[0]);
    assert_eq!(seen.logs, vec![CERT_NO_CN_EVE.to_string()]);
    assert_eq!(seen.points.len(), 2);
    assert!(seen.points[0].0 && !seen.points[0].1);
    assert_eq!(kinds(&seen.points[0]), ["Ja3Hash", "Ja3String", "Ja4Hash"]);
    assert!(!seen.points[1].0 && seen.points[1].1);
    assert_eq!(
        kinds(&seen.points[1]),
        [
            "Ja3sHash",
            "Ja3sString",
            "TlsCertSubject",
            "TlsCertIssuer",
            "TlsCertSerial",
            "TlsCertFingerprint",
            "TlsCerts",
            "Ja3Hash",
            "Ja3String",
            "Ja4Hash"
        ]
    );
    let der = &seen.points[1].2[6].1;
    assert_eq!(der.first(), Some(&0x30));
    assert_eq!(p.counters().tx, 2);
    assert_eq!(p.counters().parse_errors, 0);
    assert_eq!(&p.ja4().unwrap(), b"t12i660500_00a40d0492ae_3eafcbe19126");
    let ja4 = &seen.points[0].2[2].1;
    assert_eq!(ja4.as_slice(), b"t12i660500_00a40d0492ae_3eafcbe19126");
}

#[test]
fn tls13_session_matches_suricata() {
    let flow = chunks(TLS13_WOLFSSL);
    let mut p = with_ja4();
    let seen = run(&mut p, &flow, &[0]);
    assert_eq!(seen.logs, vec![TLS13_EVE.to_string()]);
    // No certificate in clear text: the response point has only JA3S and the request's.
    let resp = seen.points.iter().find(|pt| !pt.0).unwrap();
    assert_eq!(
        kinds(resp),
        ["Ja3sHash", "Ja3sString", "Ja3Hash", "Ja3String", "Ja4Hash"]
    );
}

#[test]
fn default_config_logs_ja3_not_ja4() {
    let flow = chunks(TLS13_WOLFSSL);
    let mut p = TlsParser::new();
    let seen = run(&mut p, &flow, &[0]);
    assert_eq!(seen.logs.len(), 1);
    assert!(seen.logs[0].contains("\"ja3\":{"));
    assert!(!seen.logs[0].contains("ja4"));
}

#[test]
fn reset_reuses_the_parser() {
    let mut p = with_ja4();
    let a = run(&mut p, &chunks(CERT_NO_CN), &[0]);
    p.reset();
    let b = run(&mut p, &chunks(TLS13_WOLFSSL), &[0]);
    p.reset();
    let c = run(&mut p, &chunks(CERT_NO_CN), &[7]);
    assert_eq!(a, c);
    assert_eq!(b.logs, vec![TLS13_EVE.to_string()]);
}

#[test]
fn client_hello_only_is_not_logged_unless_resuming() {
    // Suricata logs a session without certificate only when resumed (a session ticket
    // extension in the ClientHello counts) or TLS 1.3 was chosen.
    let flow = chunks(TLS13_WOLFSSL);
    let hello: Vec<_> = flow.iter().take(1).cloned().collect();
    let mut p = TlsParser::new();
    let seen = run(&mut p, &hello, &[0]);
    assert!(seen.logs.is_empty());
    assert_eq!(seen.points.len(), 1);

    let flow = chunks(CERT_NO_CN);
    let hello: Vec<_> = flow.iter().take(1).cloned().collect();
    let mut p = TlsParser::new();
    let seen = run(&mut p, &hello, &[0]);
    // cert-no-cn's ClientHello carries a session ticket extension (35).
    assert_eq!(seen.logs.len(), 1);
    assert!(seen.logs[0].starts_with("\"tls\":{\"version\":\"UNDETERMINED\""));
}

#[test]
fn probe_by_content() {
    let flow = chunks(CERT_NO_CN);
    assert_eq!(probe(true, &flow[0].1), Probe::Match);
    assert_eq!(probe(false, &flow[1].1), Probe::Match);
    assert_eq!(probe(true, &[0x16]), Probe::NeedMore);
    assert_eq!(probe(true, &[0x16, 0x03]), Probe::NeedMore);
    assert_eq!(probe(true, b"GET / HTTP/1.1\r\n"), Probe::NoMatch);
    assert_eq!(probe(false, b"HTTP/1.1 200 OK"), Probe::NoMatch);
    assert_eq!(probe(true, &[0x16, 0x03, 0x09]), Probe::NoMatch);
    // SSLv2 ClientHello (SSLv2 and SSLv2-compatible TLS).
    assert_eq!(probe(true, &[0x80, 0x2e, 0x01, 0x00, 0x02]), Probe::Match);
    assert_eq!(probe(true, &[0x80, 0x2e, 0x01, 0x03, 0x01]), Probe::Match);
    assert_eq!(probe(true, &[0x80, 0x2e]), Probe::NeedMore);
    assert_eq!(probe(true, &[]), Probe::NeedMore);
}

#[test]
fn garbage_stops_the_flow_with_a_counter() {
    let mut p = TlsParser::new();
    let mut seen = Seen::default();
    p.parse(true, b"\x16\x03\x01\x00\x00", &mut |tx| {
        record(&mut seen, tx)
    });
    assert_eq!(p.counters().parse_errors, 1);
    p.parse(true, &chunks(CERT_NO_CN)[0].1, &mut |tx| {
        record(&mut seen, tx)
    });
    assert!(seen.points.is_empty());
}

#[test]
fn oversized_handshake_message_is_truncated() {
    // A Certificate message announcing 100 KiB, sent in full-size records.
    let mut p = TlsParser::new();
    let mut data = Vec::new();
    let total = 100 * 1024;
    let mut msg = vec![11u8, 0x01, 0x90, 0x00];
    msg.resize(4 + total, 0);
    for rec in msg.chunks(16384) {
        data.extend_from_slice(&[0x16, 0x03, 0x03]);
        data.extend_from_slice(&(rec.len() as u16).to_be_bytes());
        data.extend_from_slice(rec);
    }
    p.parse(false, &data, &mut |_| {});
    assert_eq!(p.counters().parse_errors, 0);
    assert_eq!(p.counters().truncated, total as u64);
}

proptest! {
    #[test]
    fn any_segmentation_gives_the_same_result(
        cuts in proptest::collection::vec(1usize..300, 1..20),
        which in 0usize..2,
    ) {
        let text = if which == 0 { CERT_NO_CN } else { TLS13_WOLFSSL };
        let flow = chunks(text);
        let whole = run(&mut with_ja4(), &flow, &[0]);
        let split = run(&mut with_ja4(), &flow, &cuts);
        prop_assert_eq!(whole, split);
    }

    #[test]
    fn arbitrary_bytes_never_panic(
        chunks in proptest::collection::vec((any::<bool>(), proptest::collection::vec(any::<u8>(), 0..64)), 0..16),
    ) {
        let mut p = with_ja4();
        let mut seen = Seen::default();
        for (d, c) in &chunks {
            let mut data = vec![0x16, 0x03, 0x01, 0x00, c.len() as u8];
            data.extend_from_slice(c);
            p.parse(*d, &data, &mut |tx| record(&mut seen, tx));
        }
        p.end(&mut |tx| record(&mut seen, tx));
    }
}
