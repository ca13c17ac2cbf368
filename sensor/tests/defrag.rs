//! The defragmenter on real captures from suricata-verify (reassembled bytes equal to what
//! Suricata logs, counters on crafted IPv6 fragmentation attacks, no panic on any of them),
//! and a check that it allocates nothing per packet once warm.
//!
//! The allocation check needs a counting global allocator, which Rust only offers through the
//! `unsafe` `GlobalAlloc` trait: that one impl, in this test binary only, is why unsafe code is
//! allowed here. The library itself has none.
#![allow(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::Path;

use base64::Engine;
use sensor::capture::{PcapFile, Timestamp};
use sensor::decode::{decode, LinkType, Transport, Vlans};
use sensor::defrag::{
    ip_layer, is_fragment, DefragConfig, DefragCounters, DefragOutcome, Defragmenter,
};

/// Counts allocations of the current thread, so that tests running in parallel do not
/// disturb each other.
struct CountingAlloc;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: forwards every call unchanged to the system allocator; the only addition is a
// thread-local counter, which does not allocate (const-initialised `Cell`).
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
        System.alloc(layout)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

/// Every frame of a capture through the defragmenter, as the worker will do it; returns the
/// reassembled packets and the link header length of the frame that completed each.
fn run(path: &Path, d: &mut Defragmenter) -> Vec<(Vec<u8>, usize)> {
    let mut pcap = PcapFile::open(path).unwrap_or_else(|e| panic!("{e}"));
    let mut out = Vec::new();
    while let Some(frame) = pcap.next_frame().expect("capture reads") {
        let Some(ip) = ip_layer(frame.link, frame.data) else {
            continue;
        };
        let vlans = decode(frame.link, frame.data, false)
            .map(|p| p.vlans)
            .unwrap_or_default();
        if let DefragOutcome::Reassembled(r) = d.push(ip, vlans, frame.ts) {
            out.push((r.to_vec(), frame.data.len() - ip.len()));
        }
    }
    out
}

fn expected_packet(test_yaml: &Path) -> Vec<u8> {
    let text = std::fs::read_to_string(test_yaml).expect("test.yaml");
    let line = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("packet: \""))
        .expect("a packet check");
    base64::engine::general_purpose::STANDARD
        .decode(line.trim_end_matches('"'))
        .expect("base64")
}

#[test]
fn suricata_verify_defrag_cases_reassemble_to_suricatas_packet() {
    let Some(corpus) = common::corpus_dir() else {
        return;
    };
    let dir = corpus.join("suricata-verify/tests/defrag");
    for (case, proto_is_tcp) in [
        ("bug-6887-defrag-ipv4-tcp-syn", true),
        ("bug-6887-defrag-ipv6-tcp", true),
        ("bug-6887-defrag-eth-vlan-ipv4-tcp-syn", true),
        ("bug-6887-defrag-eth-vlan-ipv6-tcp", true),
    ] {
        let case_dir = dir.join(case);
        let pcap = std::fs::read_dir(&case_dir)
            .expect("case dir")
            .filter_map(Result::ok)
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|x| x == "pcap"))
            .expect("a pcap");
        let mut d = Defragmenter::new(DefragConfig::default());
        let got = run(&pcap, &mut d);
        assert_eq!(got.len(), 1, "{case}: one datagram");
        let (packet, link_len) = &got[0];
        // Suricata logs the reassembled packet behind the link header of the first fragment.
        let expected = expected_packet(&case_dir.join("test.yaml"));
        assert_eq!(
            &expected[*link_len..],
            packet.as_slice(),
            "{case}: reassembled bytes"
        );
        let decoded = decode(LinkType::RawIp, packet, true).expect("reassembled decodes");
        assert_eq!(
            matches!(decoded.transport, Transport::Tcp(_)),
            proto_is_tcp,
            "{case}"
        );
        let c = d.counters();
        assert_eq!(c.ipv4_reassembled + c.ipv6_reassembled, 1, "{case}: {c:?}");
        assert_eq!(
            c.fragments_dropped + c.overlaps + c.invalid,
            0,
            "{case}: {c:?}"
        );
        assert_eq!(d.active_trackers(), 0);
    }
}

fn counters_of(path: &Path) -> (DefragCounters, usize) {
    let mut d = Defragmenter::new(DefragConfig::default());
    let n = run(path, &mut d).len();
    (d.counters(), n)
}

/// The crafted IPv6 fragmentation attacks (THC's fragmentation6 / ipv6-toolkit captures):
/// Suricata raises one decoder event per case; the matching counter here says the same.
#[test]
fn ipv6_fragmentation_attacks_are_counted() {
    let Some(corpus) = common::corpus_dir() else {
        return;
    };
    let dir = corpus.join("suricata-verify/tests/ipv6-evasion");
    // frag_overlap (sid 2200072) once.
    let (c, _) = counters_of(&dir.join("ipv6-malformed-fragments-1/frag-1.pcap"));
    assert_eq!(c.overlaps, 1, "{c:?}");
    // frag_pkt_too_large (sid 2200071) once each.
    for case in ["15", "16"] {
        let (c, _) =
            counters_of(&dir.join(format!("ipv6-malformed-fragments-{case}/frag-{case}.pcap")));
        assert_eq!(c.invalid, 1, "{case}: {c:?}");
    }
}

/// Every capture of the defrag and IPv6 evasion cases: no panic, bounded, counters add up.
#[test]
fn crafted_captures_never_panic() {
    let Some(corpus) = common::corpus_dir() else {
        return;
    };
    let tests = corpus.join("suricata-verify/tests");
    let mut pcaps = Vec::new();
    for group in ["defrag", "ipv6-evasion"] {
        for case in std::fs::read_dir(tests.join(group)).expect("group dir") {
            let case = case.expect("entry").path();
            for f in std::fs::read_dir(&case).expect("case dir") {
                let f = f.expect("entry").path();
                if f.extension().is_some_and(|x| x == "pcap") {
                    pcaps.push(f);
                }
            }
        }
    }
    pcaps.sort();
    assert!(pcaps.len() >= 10, "expected the defrag captures");
    for pcap in pcaps {
        if PcapFile::open(&pcap).is_err() {
            eprintln!("skipping {} (link type not decoded)", pcap.display());
            continue;
        }
        for policy in sensor::defrag::OverlapPolicy::ALL {
            let cfg = DefragConfig {
                policy,
                max_trackers: 4,
                max_bytes: 64 * 1024,
                max_fragments_per_tracker: 8,
                timeout_secs: 60,
            };
            let mut d = Defragmenter::new(cfg);
            let n = run(&pcap, &mut d).len() as u64;
            let c = d.counters();
            assert_eq!(c.ipv4_reassembled + c.ipv6_reassembled, n);
            assert!(d.bytes_in_use() <= cfg.max_bytes);
            assert!(d.active_trackers() <= cfg.max_trackers);
            if policy == sensor::defrag::OverlapPolicy::Bsd {
                eprintln!("{}: {c:?}", pcap.display());
            }
        }
    }
}

fn v4_fragment(id: u16, offset: u32, more: bool, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0u8; 20];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&((20 + payload.len()) as u16).to_be_bytes());
    p[4..6].copy_from_slice(&id.to_be_bytes());
    let frag = (offset / 8) as u16 | if more { 0x2000 } else { 0 };
    p[6..8].copy_from_slice(&frag.to_be_bytes());
    p[8] = 64;
    p[9] = 17;
    p[12..16].copy_from_slice(&[192, 0, 2, 1]);
    p[16..20].copy_from_slice(&[192, 0, 2, 2]);
    p.extend_from_slice(payload);
    p
}

#[test]
fn no_allocation_per_packet_once_warm() {
    let mut d = Defragmenter::new(DefragConfig {
        max_trackers: 64,
        ..DefragConfig::default()
    });
    // Three-fragment datagrams, ids cycling over more trackers than are live at once,
    // with an overlap, a duplicate and timeouts along the way.
    let payload = vec![0x5a; 3000];
    let mut datagrams = Vec::new();
    for id in 0..200u16 {
        datagrams.push([
            v4_fragment(id, 1480, true, &payload[1480..2960]),
            v4_fragment(id, 0, true, &payload[..1480]),
            v4_fragment(id, 1480, true, &payload[1480..2000]),
            v4_fragment(id, 2960, false, &payload[2960..]),
        ]);
    }
    let lones: Vec<Vec<u8>> = (0..4u16)
        .map(|k| v4_fragment(60_000 + k, 8, true, &payload[..8]))
        .collect();
    let mut secs = 1_700_000_000;
    let mut run_all = |d: &mut Defragmenter| {
        let mut done = 0;
        for (i, frags) in datagrams.iter().enumerate() {
            if i % 50 == 0 {
                // A jump in time expires the lone fragment left at the previous jump.
                secs += 120;
                let _ = d.push(
                    &lones[i / 50],
                    Vlans::default(),
                    Timestamp { secs, usecs: 0 },
                );
            }
            for f in frags {
                assert!(is_fragment(f));
                if let DefragOutcome::Reassembled(r) =
                    d.push(f, Vlans::default(), Timestamp { secs, usecs: 0 })
                {
                    assert_eq!(r.len(), 3020);
                    done += 1;
                }
            }
        }
        done
    };
    assert_eq!(run_all(&mut d), 200);
    let before = allocations();
    assert_eq!(run_all(&mut d), 200);
    let after = allocations();
    assert_eq!(after - before, 0, "allocations while warm");
    let c = d.counters();
    assert_eq!(c.ipv4_reassembled, 400);
    assert_eq!(c.overlaps, 400);
    assert_eq!(c.timeouts, 7, "{c:?}");
}

/// Throughput of the common case (MTU-sized, in-order, no overlap) and of an overlap-heavy
/// case; run with `cargo test --release -p sensor --test defrag -- --ignored --nocapture`.
#[test]
#[ignore = "benchmark"]
fn throughput() {
    let payload = vec![0x5a; 8800];
    for (name, frags) in [
        (
            "6 x 1480 in order",
            (0..6)
                .map(|i| {
                    let start = i * 1480;
                    let end = (start + 1480).min(payload.len());
                    v4_fragment(0, start as u32, end < payload.len(), &payload[start..end])
                })
                .collect::<Vec<_>>(),
        ),
        (
            "11 x 1480 overlapping halves",
            (0..11)
                .map(|i| {
                    let start = i * 736;
                    let end = (start + 1480).min(payload.len());
                    v4_fragment(0, start as u32, end < payload.len(), &payload[start..end])
                })
                .collect::<Vec<_>>(),
        ),
    ] {
        let mut d = Defragmenter::new(DefragConfig::default());
        let rounds = 20_000u32;
        let started = std::time::Instant::now();
        let mut bytes = 0usize;
        let mut frags = frags;
        for id in 0..rounds {
            for f in &mut frags {
                f[4..6].copy_from_slice(&(id as u16).to_be_bytes());
                bytes += f.len();
                let _ = d.push(f, Vlans::default(), Timestamp::default());
            }
        }
        let secs = started.elapsed().as_secs_f64();
        assert_eq!(d.counters().ipv4_reassembled, u64::from(rounds));
        eprintln!(
            "{name}: {:.0} fragments/s, {:.2} Gbit/s",
            f64::from(rounds) * frags.len() as f64 / secs,
            bytes as f64 * 8.0 / secs / 1e9
        );
    }
}
