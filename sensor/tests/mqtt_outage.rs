//! A broker that never answers must not hang a replay, however many events it produces.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

mod common;

use common::{pcap_bytes, run_sensor, tcp_frame};

#[test]
fn absent_broker_and_more_events_than_the_uplink_holds() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("t.rules");
    std::fs::write(
        &rules,
        "alert tcp any any -> any any (msg:\"marker\"; content:\"MARKER\"; sid:1;)\n",
    )
    .unwrap();
    // More alerts than the uplink's channel (4096) can hold while nobody drains it.
    let frames: Vec<Vec<u8>> = (0..6000).map(|_| tcp_frame(b"MARKER")).collect();
    let pcap = dir.path().join("many.pcap");
    std::fs::write(&pcap, pcap_bytes(&frames)).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("mqtt://127.0.0.1:{port}");
    let eve = dir.path().join("eve.json");
    let out = run_sensor(&[
        "replay",
        "--workers",
        "1",
        "--eve-types",
        "alert",
        "--rules",
        rules.to_str().unwrap(),
        "--mqtt",
        &url,
        "--mqtt-timeout",
        "1",
        "--eve",
        eve.to_str().unwrap(),
        pcap.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("6000 event(s) were not acknowledged"), "{err}");
    // The EVE file still has every event: the outage costs the uplink, not the record.
    assert_eq!(std::fs::read_to_string(&eve).unwrap().lines().count(), 6000);
}
