//! The match path does not allocate once warm, and the shared types are thread-safe.

#![allow(clippy::unwrap_used, unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

mod common;
use common::{load, tcp};
use signatures::{FlowVars, RuleSet, Scratch, StreamData};

struct Counting;

static ALLOCS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// Count only allocations of the measuring thread (the test harness runs others).
    static ON: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

// SAFETY: delegates to the system allocator; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if ON.with(std::cell::Cell::get) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn shared_types_are_thread_safe() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<RuleSet>();
    send::<Scratch>();
    send_sync::<FlowVars>();
}

#[test]
fn detect_does_not_allocate_once_warm() {
    let (rules, report) = load(
        r#"alert tcp any any -> any any (content:"GET"; pcre:"/^GET\s+\/(\w+)\/\1/R"; sid:1;)
alert tcp any any -> any any (content:"a"; content:"b"; distance:0; within:10; flowbits:set,x; sid:2;)
alert tcp any any -> any any (flowbits:isset,x; threshold:type limit,track by_src,count 1,seconds 60; sid:3;)
alert tcp [10.0.0.1,10.0.0.2] any -> any any (flowint:n,+,1; sid:4;)
alert ip any any -> any any (ttl:<5; sid:5;)"#,
    );
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let mut scratch = rules.scratch();
    let mut vars = FlowVars::default();
    let payload = b"GET /ab/ab a.....b";
    let input = tcp(payload).with_stream(
        Some(StreamData {
            data: payload,
            new_from: 4,
            offset: 4,
            to_server: true,
        }),
        true,
    );
    let mut hits = 0;
    // Warm up (pcre2 allocates its match data once per regex and thread).
    for ts in 0..3 {
        rules.detect_with_flow(&input.with_ts(ts, 0), &mut vars, &mut scratch, |_| {
            hits += 1
        });
    }
    ON.with(|c| c.set(true));
    let before = ALLOCS.load(Ordering::Relaxed);
    for ts in 3..1003 {
        let i = input.with_ts(ts, 0);
        rules.detect_with_flow(&i, &mut vars, &mut scratch, |_| hits += 1);
        rules.detect_stream_chunk(&i, &mut vars, &mut scratch, |_| hits += 1);
    }
    let after = ALLOCS.load(Ordering::Relaxed);
    ON.with(|c| c.set(false));
    assert!(hits > 1000);
    assert_eq!(after - before, 0, "allocations on the match path");
}
