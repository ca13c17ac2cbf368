//! Matching throughput with the whole ET Open rule set loaded (the sensor's options), over
//! L4 payloads taken from corpus captures, plus the time to load and compile the set.
//!
//! `cargo bench -p signatures --bench detect`. The captures are read by a tiny pcap/pcapng
//! reader below (Ethernet, 802.1Q, raw IP, Linux SLL; IPv4/IPv6; TCP/UDP/ICMP), so the crate
//! stays free of libpcap. Packets are fed as they are (no reassembly): every payload is
//! inspected as a packet, with flow direction guessed from the ports (lower port = server).
//!
//! `*_all_buffers` load the set as the sensor does with its app-layer parsers (every buffer
//! and http/dns/tls enabled): buffer rules then leave the packet pass for the app-layer pass.
//! `detect_app_http_requests` runs that pass over the HTTP requests of the captures, cut into
//! method/uri/host/user_agent/header buffers by a crude splitter below (request side only).

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use signatures::{
    AppBuffer, BufferKind, DetectInput, FlowState, FlowVars, IpFields, RuleSet, RuleSetBuilder,
    TcpFields, Vars,
};

const ET_DIR: &str = "/work/shared/corpus/rules/et-open-suricata-5.0";
const CAPTURES: &[&str] = &[
    "/work/shared/corpus/pcaps/ndpi/1kxun.pcap",
    "/work/shared/corpus/pcaps/ndpi/netflix.pcap",
    "/work/shared/corpus/pcaps/ndpi/443-firefox.pcap",
    "/work/shared/corpus/pcaps/ndpi/gnutella.pcap",
    "/work/shared/corpus/pcaps/chrissanders-packets/http_espn.pcapng",
    "/work/shared/corpus/pcaps/chrissanders-packets/ek_to_cryptowall4.pcapng",
    "/work/shared/corpus/pcaps/chrissanders-packets/ratinfected.pcapng",
    "/work/shared/corpus/pcaps/chrissanders-packets/tcp_ports.pcapng",
];

#[path = "support/pcapread.rs"]
mod pcapread;
use pcapread::packets;

fn load() -> RuleSet {
    load_with(false)
}

fn load_with(all_buffers: bool) -> RuleSet {
    let mut b = RuleSetBuilder::new(Vars::suricata_defaults());
    b.enable_byte_keywords(true).enable_extra_protocols(true);
    if all_buffers {
        for k in BufferKind::all() {
            b.enable_buffer(k);
        }
        for a in ["http", "dns", "tls"] {
            b.enable_app_protocol(a);
        }
    }
    b.add_path(Path::new(ET_DIR)).expect("ET Open rules");
    b.build().0
}

/// The request-side inspection point of an HTTP request carried by `base`.
fn point<'a>(base: &DetectInput<'a>, bufs: &'a [AppBuffer<'a>]) -> DetectInput<'a> {
    let mut input = base.with_buffers(bufs);
    input.app_proto = Some("http");
    input.flow.to_server = true;
    input
}

/// The request-side buffers of an HTTP request at the start of `p` (no normalisation).
fn http_request(p: &[u8]) -> Option<Vec<AppBuffer<'_>>> {
    let methods: [&[u8]; 4] = [b"GET ", b"POST ", b"HEAD ", b"PUT "];
    if !methods.iter().any(|m| p.starts_with(m)) {
        return None;
    }
    let line_end = p.windows(2).position(|w| w == b"\r\n")?;
    let line = &p[..line_end];
    let mut parts = line.split(|b| *b == b' ');
    let method = parts.next()?;
    let uri = parts.next()?;
    let head_end = p
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(p.len());
    let headers = p.get(line_end + 2..head_end.max(line_end + 2))?;
    let mut out = vec![
        AppBuffer {
            kind: BufferKind::HttpMethod,
            data: method,
        },
        AppBuffer {
            kind: BufferKind::HttpUri,
            data: uri,
        },
        AppBuffer {
            kind: BufferKind::HttpRequestLine,
            data: line,
        },
        AppBuffer {
            kind: BufferKind::HttpHeader,
            data: headers,
        },
    ];
    for h in headers.split(|b| *b == b'\n') {
        let h = h.strip_suffix(b"\r").unwrap_or(h);
        let Some(colon) = h.iter().position(|b| *b == b':') else {
            continue;
        };
        let (name, value) = (&h[..colon], h[colon + 1..].trim_ascii_start());
        let kind = match name.to_ascii_lowercase().as_slice() {
            b"host" => BufferKind::HttpHost,
            b"user-agent" => BufferKind::HttpUserAgent,
            b"cookie" => BufferKind::HttpCookie,
            b"referer" => BufferKind::HttpReferer,
            b"content-type" => BufferKind::HttpContentType,
            _ => continue,
        };
        out.push(AppBuffer { kind, data: value });
    }
    Some(out)
}

fn bench(c: &mut Criterion) {
    if !Path::new(ET_DIR).exists() {
        eprintln!("skipping: {ET_DIR} missing");
        return;
    }
    let pkts = packets(CAPTURES);
    let bytes: usize = pkts.iter().map(|p| p.payload.len()).sum();
    let with_payload = pkts.iter().filter(|p| !p.payload.is_empty()).count();
    eprintln!(
        "{} packets ({with_payload} with payload), {bytes} payload bytes",
        pkts.len()
    );
    let mut g = c.benchmark_group("et_open");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    g.bench_function("load_and_compile", |b| b.iter(load));
    g.bench_function("load_and_compile_all_buffers", |b| {
        b.iter(|| load_with(true))
    });
    let rules = load();
    let inputs: Vec<DetectInput<'_>> = pkts
        .iter()
        .map(|p| {
            DetectInput::new(
                p.src,
                p.dst,
                p.sport,
                p.dport,
                p.proto,
                &p.payload,
                FlowState {
                    to_server: p.dport < p.sport,
                    established: true,
                    tracked: true,
                },
            )
            .with_ip(
                IpFields {
                    version: if p.src.is_ipv4() { 4 } else { 6 },
                    ttl: p.ttl,
                    ..IpFields::default()
                },
                &[],
            )
            .with_tcp(TcpFields {
                flags: p.tcp_flags,
                ..TcpFields::default()
            })
        })
        .collect();
    let mut scratch = rules.scratch();
    let mut alerts = 0u64;
    for i in &inputs {
        rules.detect(i, &mut scratch, |_| alerts += 1);
    }
    eprintln!("{} active rules; {alerts} alerts per pass", rules.len());
    g.throughput(Throughput::Bytes(bytes as u64));
    g.bench_function("detect_corpus_packets", |b| {
        b.iter(|| {
            let mut n = 0u64;
            for i in &inputs {
                rules.detect(i, &mut scratch, |_| n += 1);
            }
            n
        })
    });
    g.throughput(Throughput::Elements(inputs.len() as u64));
    g.bench_function("detect_corpus_packets_per_packet", |b| {
        b.iter(|| {
            for i in &inputs {
                rules.detect(i, &mut scratch, |_| {});
            }
        })
    });
    // As the sensor will run: every buffer enabled, buffer rules in the app-layer pass.
    let all = load_with(true);
    let mut scratch = all.scratch();
    g.throughput(Throughput::Bytes(bytes as u64));
    g.bench_function("detect_corpus_packets_all_buffers", |b| {
        b.iter(|| {
            let mut n = 0u64;
            for i in &inputs {
                all.detect(i, &mut scratch, |_| n += 1);
            }
            n
        })
    });
    let requests: Vec<(usize, Vec<AppBuffer<'_>>)> = pkts
        .iter()
        .enumerate()
        .filter_map(|(i, p)| http_request(&p.payload).map(|b| (i, b)))
        .collect();
    let mut vars = FlowVars::default();
    let mut app_alerts = 0u64;
    for (i, bufs) in &requests {
        all.detect_app(&point(&inputs[*i], bufs), &mut vars, &mut scratch, |_| {
            app_alerts += 1
        });
    }
    eprintln!(
        "{} app-layer rules; {} HTTP requests, {app_alerts} app-layer alerts per pass",
        all.app_rules(),
        requests.len()
    );
    g.throughput(Throughput::Elements(requests.len() as u64));
    g.bench_function("detect_app_http_requests", |b| {
        b.iter(|| {
            let mut n = 0u64;
            for (i, bufs) in &requests {
                vars = FlowVars::default();
                all.detect_app(&point(&inputs[*i], bufs), &mut vars, &mut scratch, |_| {
                    n += 1
                });
            }
            n
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
