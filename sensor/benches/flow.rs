//! Flow table benches: `FlowTable::track` on an existing flow (lookup + LRU touch + state
//! update), among many flows in a random order, and on new flows in a full table (insert +
//! eviction of the least recently used), with a no-op end callback.

// Benches build fixed, known-good inputs: a panic is a broken bench, not a runtime error.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// criterion_group! generates an undocumented function.
#![allow(missing_docs)]

mod common;

use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use sensor::capture::Timestamp;
use sensor::decode::{decode, Decoded, LinkType};
use sensor::flow::{EndReason, FlowParts, FlowTable};

const TS: Timestamp = Timestamp {
    secs: 1_700_000_000,
    usecs: 0,
};

/// Frames of `n` distinct flows (client address and port vary).
fn flow_frames(n: u32) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| common::ipv4_tcp(i + 1, 1024 + (i % 60_000) as u16, common::HTTP_GET))
        .collect()
}

fn decoded(frames: &[Vec<u8>]) -> Vec<Decoded<'_>> {
    frames
        .iter()
        .map(|f| decode(LinkType::Ethernet, f, false).unwrap())
        .collect()
}

fn noop(_: FlowParts<'_>, _: EndReason) {}

fn benches(c: &mut Criterion) {
    let mut g = c.benchmark_group("flow_table");
    g.throughput(Throughput::Elements(1));

    let one = flow_frames(1);
    let one = decoded(&one);
    let mut table = FlowTable::with_capacity(65_536);
    g.bench_function("track_same_flow", |b| {
        b.iter(|| table.track(black_box(&one[0]), TS, 200, &mut noop).id)
    });

    // 50,000 live flows visited in a scrambled order: mostly cache misses, as on a busy link.
    let frames = flow_frames(50_000);
    let packets = decoded(&frames);
    let order: Vec<usize> = (0..packets.len())
        .map(|i| (i * 7_919) % packets.len())
        .collect();
    let mut table = FlowTable::with_capacity(65_536);
    for p in &packets {
        table.track(p, TS, 200, &mut noop);
    }
    let mut i = 0;
    g.bench_function("track_existing_among_50k", |b| {
        b.iter(|| {
            i = (i + 1) % order.len();
            table
                .track(black_box(&packets[order[i]]), TS, 200, &mut noop)
                .id
        })
    });

    // New flows into a full table of 4,096: every packet inserts and evicts one.
    g.throughput(Throughput::Elements(1_000));
    g.bench_function("insert_with_eviction_cap_4096", |b| {
        b.iter_batched_ref(
            || {
                let mut t = FlowTable::with_capacity(4_096);
                for p in &packets[..4_096] {
                    t.track(p, TS, 200, &mut noop);
                }
                (t, 4_096usize)
            },
            |(t, next)| {
                for p in &packets[*next..*next + 1_000] {
                    black_box(t.track(p, TS, 200, &mut noop).id);
                }
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

criterion_group!(flow_benches, benches);
criterion_main!(flow_benches);
