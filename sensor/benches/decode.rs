//! Decode benches: one frame through `sensor::decode::decode` (etherparse slicing plus the
//! flattening into `Decoded`), per encapsulation, with and without checksum verification.

// Benches build fixed, known-good inputs: a panic is a broken bench, not a runtime error.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// criterion_group! generates an undocumented function.
#![allow(missing_docs)]

mod common;

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use sensor::decode::{decode, LinkType};

fn benches(c: &mut Criterion) {
    let payload_1460 = vec![b'x'; 1460];
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "eth_ipv4_tcp_http_get",
            common::ipv4_tcp(1, 40_000, common::HTTP_GET),
        ),
        (
            "eth_ipv4_tcp_1460",
            common::ipv4_tcp(1, 40_000, &payload_1460),
        ),
        ("eth_ipv4_tcp_empty_ack", common::ipv4_tcp(1, 40_000, &[])),
        ("vlan_ipv4_udp_dns", common::vlan_ipv4_udp(&[0u8; 40])),
        ("qinq_ipv4_udp_dns", common::qinq_ipv4_udp(&[0u8; 40])),
        ("eth_ipv6_tcp_512", common::ipv6_tcp(&[b'y'; 512])),
    ];
    let mut g = c.benchmark_group("decode");
    for (name, frame) in &cases {
        assert!(decode(LinkType::Ethernet, frame, true).is_ok(), "{name}");
        g.throughput(Throughput::Bytes(frame.len() as u64));
        g.bench_function(*name, |b| {
            b.iter(|| decode(LinkType::Ethernet, black_box(frame), false).map(|d| d.payload.len()))
        });
    }
    for (name, frame) in &cases[..2] {
        g.throughput(Throughput::Bytes(frame.len() as u64));
        g.bench_function(format!("{name}_verify_checksums"), |b| {
            b.iter(|| decode(LinkType::Ethernet, black_box(frame), true).map(|d| d.payload.len()))
        });
    }
    g.finish();
}

criterion_group!(decode_benches, benches);
criterion_main!(decode_benches);
