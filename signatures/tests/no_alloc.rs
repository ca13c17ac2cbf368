//! The match path does not allocate once warm, and the shared types are thread-safe.

#![allow(clippy::unwrap_used, unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};

mod common;
use common::{load, tcp};
use signatures::{FlowVars, RuleSet, Scratch, StreamData};

struct Counting;

thread_local! {
    /// Count only allocations of the measuring thread (the test harness runs others, and
    /// the tests of this file run in parallel).
    static ON: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    static COUNT: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Allocations counted on this thread so far.
fn allocs() -> usize {
    COUNT.with(std::cell::Cell::get)
}

// SAFETY: delegates to the system allocator; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if ON.with(std::cell::Cell::get) {
            COUNT.with(|c| c.set(c.get() + 1));
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
    let before = allocs();
    for ts in 3..1003 {
        let i = input.with_ts(ts, 0);
        rules.detect_with_flow(&i, &mut vars, &mut scratch, |_| hits += 1);
        rules.detect_stream_chunk(&i, &mut vars, &mut scratch, |_| hits += 1);
    }
    let after = allocs();
    ON.with(|c| c.set(false));
    assert!(hits > 1000);
    assert_eq!(after - before, 0, "allocations on the match path");
}

#[test]
fn detect_app_does_not_allocate_once_warm() {
    use signatures::{AppBuffer, BufferKind, RuleSetBuilder, Vars};
    let mut b = RuleSetBuilder::new(Vars::suricata_defaults());
    for k in BufferKind::all() {
        b.enable_buffer(k);
    }
    b.enable_app_protocol("http").enable_app_protocol("dns");
    b.add_source(
        "x.rules",
        r#"alert http any any -> any any (http.uri; content:"/evil"; pcre:"/\/evil\d+$/"; sid:1;)
alert http any any -> any any (http.method; content:"GET"; http.stat_code; content:"200"; sid:2;)
alert http any any -> any any (http.user_agent; to_lowercase; content:"curl"; flowbits:set,c; sid:3;)
alert http any any -> any any (flowbits:isset,c; http.host; pcre:"/^a\./"; threshold:type limit,track by_src,count 1,seconds 60; sid:4;)
alert dns any any -> any any (dns.query; dotprefix; content:".evil.com"; endswith; sid:5;)
alert http any any -> any any (http.header; content:"X-A"; flowint:n,+,1; sid:6;)"#,
    );
    let (rules, report) = b.build();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(report.loaded, 6, "{:?}", report.rules);
    let mut scratch = rules.scratch();
    let mut vars = FlowVars::default();
    let req = [
        AppBuffer {
            kind: BufferKind::HttpMethod,
            data: b"GET",
        },
        AppBuffer {
            kind: BufferKind::HttpUri,
            data: b"/evil42",
        },
        AppBuffer {
            kind: BufferKind::HttpUserAgent,
            data: b"CURL/8.0",
        },
        AppBuffer {
            kind: BufferKind::HttpHost,
            data: b"a.example",
        },
        AppBuffer {
            kind: BufferKind::HttpHeader,
            data: b"X-A: 1\r\n",
        },
    ];
    let resp = [
        AppBuffer {
            kind: BufferKind::HttpStatCode,
            data: b"200",
        },
        AppBuffer {
            kind: BufferKind::HttpMethod,
            data: b"GET",
        },
    ];
    let mut input = tcp(b"");
    input.app_proto = Some("http");
    let request = input.with_buffers(&req);
    let mut response = input.with_buffers(&resp);
    response.flow.to_server = false;
    let mut hits = 0;
    for ts in 0..3 {
        rules.detect_app(&request.with_ts(ts, 0), &mut vars, &mut scratch, |_| {
            hits += 1
        });
        rules.detect_app(&response.with_ts(ts, 0), &mut vars, &mut scratch, |_| {
            hits += 1
        });
    }
    ON.with(|c| c.set(true));
    let before = allocs();
    for ts in 3..1003 {
        rules.detect_app(&request.with_ts(ts, 0), &mut vars, &mut scratch, |_| {
            hits += 1
        });
        rules.detect_app(&response.with_ts(ts, 0), &mut vars, &mut scratch, |_| {
            hits += 1
        });
    }
    let after = allocs();
    ON.with(|c| c.set(false));
    // sids 1, 3, 6 per request and 2 per response (4 is thresholded to one alert).
    assert!(hits >= 4 * 1000, "{hits}");
    assert_eq!(after - before, 0, "allocations on the app-layer match path");
}
