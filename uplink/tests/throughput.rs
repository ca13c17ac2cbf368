//! Yardsticks (ignored by default; run in release):
//! `cargo test --release -p uplink --test throughput -- --ignored --nocapture --test-threads=1`
//!
//! * publish rate to a local mosquitto, QoS 1, without spool (`Uplink::start`)
//!   and with spool (`Uplink::start_with`), from first send to the last PUBACK;
//! * spool-only cost per event (no destination: append + write + fsync policy).

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use uplink::test_broker::{mosquitto_or_skip, Mosquitto};
use uplink::{DestinationConfig, MqttConfig, Uplink, UplinkConfig};

const N: usize = 200_000;

/// A flow-like EVE record of about 400 bytes.
fn payload(i: usize) -> Vec<u8> {
    let mut p = format!(
        r#"{{"timestamp":"2024-01-01T00:00:00.000000+0000","flow_id":{i},"event_type":"flow","src_ip":"192.168.1.10","src_port":51234,"dest_ip":"203.0.113.5","dest_port":443,"proto":"TCP","flow":{{"pkts_toserver":12,"pkts_toclient":10,"bytes_toserver":1500,"bytes_toclient":9000}},"pad":""#
    );
    while p.len() < 398 {
        p.push('x');
    }
    p.push_str("\"}");
    p.into_bytes()
}

fn wait_connected(up: &Uplink) {
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(5) {
        let s = up.stats();
        if s.connections > 0 || s.destinations.first().is_some_and(|d| d.connections > 0) {
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn run(up: Uplink, label: &str) {
    wait_connected(&up);
    let tx = up.sender();
    let t0 = Instant::now();
    for i in 0..N {
        tx.send("flow", payload(i)).unwrap();
    }
    let r = up.finish(Duration::from_secs(120)).unwrap();
    let secs = t0.elapsed().as_secs_f64();
    assert_eq!(r.acked, N as u64, "{r}");
    eprintln!(
        "{label}: {N} events x 400 B acked in {secs:.2}s = {:.0} events/s",
        N as f64 / secs
    );
    if let Some(s) = &r.spool {
        eprintln!(
            "{label}: spool {} B/event (framing + id included), {} fsyncs",
            s.appended_bytes / s.appended.max(1),
            s.syncs
        );
    }
}

#[test]
#[ignore = "yardstick; run in release with --ignored --nocapture"]
fn publish_rate_without_spool() {
    if !mosquitto_or_skip("publish_rate_without_spool") {
        return;
    }
    let broker = Mosquitto::start().unwrap();
    let mut cfg = MqttConfig::new(&broker.url(), "perf0").unwrap();
    cfg.max_inflight = 1024;
    run(Uplink::start(cfg).unwrap(), "no spool");
}

#[test]
#[ignore = "yardstick; run in release with --ignored --nocapture"]
fn publish_rate_with_spool() {
    if !mosquitto_or_skip("publish_rate_with_spool") {
        return;
    }
    let broker = Mosquitto::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut d = DestinationConfig::new("national", &broker.url(), "perf1");
    d.allow_plaintext = true;
    let mut cfg = UplinkConfig::new("perf1", dir.path());
    cfg.destinations = vec![d];
    run(Uplink::start_with(cfg).unwrap(), "spool");
}

#[test]
#[ignore = "yardstick; run in release with --ignored --nocapture"]
fn spool_write_cost() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = UplinkConfig::new("perf2", dir.path());
    let up = Uplink::start_with(cfg).unwrap();
    let tx = up.sender();
    let t0 = Instant::now();
    for i in 0..N {
        tx.send("flow", payload(i)).unwrap();
    }
    let r = up.finish(Duration::from_secs(120)).unwrap();
    let secs = t0.elapsed().as_secs_f64();
    let s = r.spool.unwrap();
    assert_eq!(s.appended, N as u64);
    eprintln!(
        "spool only: {N} events in {secs:.2}s = {:.2} us/event, {} B/event on disk, {} fsyncs",
        secs * 1e6 / N as f64,
        s.appended_bytes / s.appended,
        s.syncs
    );
}
