//! TCP reassembly benches: `Reassembler::on_segment` plus draining `next_chunk`, for one
//! connection sending 1 MiB in 1460-byte segments in order, and the same with every pair
//! of segments swapped (out-of-order buffering), and with every segment sent twice
//! (retransmissions compared against delivered data).

// Benches build fixed, known-good inputs: a panic is a broken bench, not a runtime error.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// criterion_group! generates an undocumented function.
#![allow(missing_docs)]

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use sensor::decode::TcpFlags;
use sensor::stream::{Reassembler, StreamConfig, TcpSegment, TcpStream};

const MSS: usize = 1460;
const TOTAL: usize = 1 << 20;

fn flags(syn: bool, ack: bool) -> TcpFlags {
    TcpFlags {
        bits: u8::from(syn) << 1 | u8::from(ack) << 4,
        syn,
        ack,
        fin: false,
        rst: false,
    }
}

/// (to_server, segment) list: handshake, then the data segments in `order`.
fn run(r: &mut Reassembler, data: &[u8], order: &[usize]) -> u64 {
    let (cisn, sisn) = (1_000u32, 5_000u32);
    let mut s = TcpStream::default();
    let hs = [
        (true, cisn, 0, flags(true, false)),
        (false, sisn, cisn + 1, flags(true, true)),
        (true, cisn + 1, sisn + 1, flags(false, true)),
    ];
    for (to_server, seq, ack, f) in hs {
        let seg = TcpSegment {
            seq,
            ack,
            flags: f,
            window: 64_240,
            ..TcpSegment::default()
        };
        r.on_segment(&mut s, to_server, &seg);
        while r.next_chunk(&mut s).is_some() {}
    }
    let mut delivered = 0u64;
    for &i in order {
        let start = i * MSS;
        let payload = &data[start..(start + MSS).min(data.len())];
        let seg = TcpSegment {
            seq: cisn + 1 + start as u32,
            ack: sisn + 1,
            flags: flags(false, true),
            window: 64_240,
            tfo: false,
            payload,
        };
        r.on_segment(&mut s, true, &seg);
        while let Some(chunk) = r.next_chunk(&mut s) {
            delivered += black_box(chunk.new_bytes()).len() as u64;
        }
    }
    r.release(&mut s);
    delivered
}

fn benches(c: &mut Criterion) {
    let data: Vec<u8> = (0..TOTAL).map(|i| (i * 31 % 251) as u8).collect();
    let n = TOTAL.div_ceil(MSS);
    let in_order: Vec<usize> = (0..n).collect();
    let swapped: Vec<usize> = (0..n)
        .map(|i| {
            if i % 2 == 0 {
                (i + 1).min(n - 1)
            } else {
                i - 1
            }
        })
        .collect();
    let twice: Vec<usize> = (0..n).flat_map(|i| [i, i]).collect();
    let mut r = Reassembler::new(StreamConfig {
        depth: 0,
        ..StreamConfig::default()
    });
    assert_eq!(run(&mut r, &data, &in_order), TOTAL as u64);
    let mut g = c.benchmark_group("reassembly");
    g.throughput(Throughput::Bytes(TOTAL as u64));
    g.bench_function("in_order_1mib", |b| {
        b.iter(|| run(&mut r, &data, &in_order))
    });
    g.bench_function("pairs_swapped_1mib", |b| {
        b.iter(|| run(&mut r, &data, &swapped))
    });
    g.bench_function("every_segment_twice_1mib", |b| {
        b.iter(|| run(&mut r, &data, &twice))
    });
    g.finish();
}

criterion_group!(reassembly_benches, benches);
criterion_main!(reassembly_benches);
