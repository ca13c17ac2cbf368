//! Zero allocation per packet in steady state: after a warm-up pass, a worker processes a
//! large generated capture (new flows, evictions, timeouts, alerts) without touching the
//! allocator. Measured with a counting global allocator, so the test sees every allocation
//! of this process, including the ones libraries make.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use sensor::capture::{Frame, Timestamp};
use sensor::decode::LinkType;
use sensor::runtime::output::EventSink;
use sensor::runtime::worker::{Worker, WorkerConfig};
use signatures::{RuleSetBuilder, Vars};

struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards every call to the system allocator unchanged; it only counts.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Counts events without keeping them.
struct NullSink(u64);

impl EventSink for NullSink {
    fn emit(&mut self, _event_type: &'static str, _record: &[u8]) -> std::io::Result<()> {
        self.0 += 1;
        Ok(())
    }
}

/// A TCP handshake + request + FIN for flow `i`, or a DNS-like UDP exchange, alternating.
fn flow_frames(i: u32, out: &mut Vec<Vec<u8>>) {
    let client = [10, 1, (i >> 8) as u8, i as u8];
    let server = [203, 0, 113, (i % 200) as u8];
    let sport = 1024 + (i % 60_000) as u16;
    let build = |b: etherparse::PacketBuilderStep<etherparse::TcpHeader>, payload: &[u8]| {
        let mut f = Vec::new();
        b.write(&mut f, payload).unwrap();
        f
    };
    let eth = || etherparse::PacketBuilder::ethernet2([1; 6], [2; 6]);
    if i % 2 == 0 {
        out.push(build(
            eth().ipv4(client, server, 64).tcp(sport, 80, 1, 1000).syn(),
            &[],
        ));
        out.push(build(
            eth()
                .ipv4(server, client, 64)
                .tcp(80, sport, 9, 1000)
                .syn()
                .ack(2),
            &[],
        ));
        out.push(build(
            eth()
                .ipv4(client, server, 64)
                .tcp(sport, 80, 2, 1000)
                .ack(10),
            &[],
        ));
        out.push(build(
            eth()
                .ipv4(client, server, 64)
                .tcp(sport, 80, 2, 1000)
                .ack(10)
                .psh(),
            b"GET /admin/config.php?cmd=id HTTP/1.1\r\nUser-Agent: BlackSun\r\n\r\n",
        ));
        out.push(build(
            eth()
                .ipv4(client, server, 64)
                .tcp(sport, 80, 60, 1000)
                .ack(10)
                .fin(),
            &[],
        ));
    } else {
        let mut f = Vec::new();
        eth()
            .ipv4(client, [10, 0, 0, 53], 64)
            .udp(sport, 53)
            .write(&mut f, b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x05badc2\x04test\x00\x00\x01\x00\x01")
            .unwrap();
        if i % 4 == 1 {
            // Every other datagram travels in VXLAN: decapsulation must not allocate either.
            let mut vx = vec![0x08, 0, 0, 0, 0, 0, 42, 0];
            vx.extend_from_slice(&f);
            let mut outer = Vec::new();
            eth()
                .ipv4([192, 0, 2, 1], [192, 0, 2, 2], 64)
                .udp(sport, 4789)
                .write(&mut outer, &vx)
                .unwrap();
            f = outer;
        }
        out.push(f);
    }
}

#[test]
fn steady_state_processing_does_not_allocate() {
    let rules = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/demo/demo.rules"),
    )
    .unwrap();
    let mut builder = RuleSetBuilder::new(Vars::suricata_defaults());
    builder.add_source("demo.rules", &rules);
    let (rules, report) = builder.build();
    assert!(report.errors.is_empty() && !rules.is_empty());
    let cfg = WorkerConfig {
        verify_checksums: true,
        // Small, so the measured pass evicts and times out flows too.
        flow_capacity: 512,
        ..WorkerConfig::new(Arc::from("alloc-test"), 1)
    };
    let mut worker = Worker::new(Arc::new(rules), cfg);

    let mut frames = Vec::new();
    for i in 0..8_000 {
        flow_frames(i, &mut frames);
    }
    let mut sink = NullSink(0);
    let run = |worker: &mut Worker, sink: &mut NullSink, base_secs: i64| {
        for (n, f) in frames.iter().enumerate() {
            let frame = Frame {
                ts: Timestamp {
                    secs: base_secs + (n / 200) as i64,
                    usecs: (n % 200) as u32 * 5000,
                },
                wire_len: f.len() as u32,
                data: f,
                link: LinkType::Ethernet,
            };
            worker.process(&frame, n as u64 + 1, sink).unwrap();
        }
    };
    // Warm-up: tables, buffers and pools reach their working size.
    run(&mut worker, &mut sink, 1_700_000_000);
    let warm_events = sink.0;
    assert!(warm_events > 1000, "alerts and flow records were produced");

    // Measured: the same traffic an hour later, so every flow is new again and the old
    // ones end by timeout or eviction.
    COUNTING.store(true, Ordering::SeqCst);
    run(&mut worker, &mut sink, 1_700_003_600);
    COUNTING.store(false, Ordering::SeqCst);
    let allocs = ALLOCS.load(Ordering::SeqCst);
    let packets = frames.len();
    assert!(sink.0 - warm_events > 1000);
    assert_eq!(
        allocs, 0,
        "{allocs} allocations while processing {packets} packets in steady state"
    );
    let stats = worker.stats();
    assert!(stats.flows.evicted + stats.flows.timed_out > 4000);
}
