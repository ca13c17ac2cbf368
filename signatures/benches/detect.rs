//! Matching throughput with the whole ET Open rule set loaded (the sensor's options), over
//! L4 payloads taken from corpus captures, plus the time to load and compile the set.
//!
//! `cargo bench -p signatures --bench detect`. The captures are read by a tiny pcap/pcapng
//! reader below (Ethernet, 802.1Q, raw IP, Linux SLL; IPv4/IPv6; TCP/UDP/ICMP), so the crate
//! stays free of libpcap. Packets are fed as they are (no reassembly): every payload is
//! inspected as a packet, with flow direction guessed from the ports (lower port = server).

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use signatures::{DetectInput, FlowState, IpFields, RuleSet, RuleSetBuilder, TcpFields, Vars};

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
    let mut b = RuleSetBuilder::new(Vars::suricata_defaults());
    b.enable_byte_keywords(true).enable_extra_protocols(true);
    b.add_path(Path::new(ET_DIR)).expect("ET Open rules");
    b.build().0
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
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
