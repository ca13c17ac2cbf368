//! Yardsticks (ignored by default; run in release):
//! `cargo test --release -p uplink --test throughput -- --ignored --nocapture --test-threads=1`
//!
//! * publish rate to a local mosquitto, QoS 1, without spool (`Uplink::start`)
//!   and with spool (`Uplink::start_with`), from first send to the last PUBACK;
//! * the same with zstd batches (MQTT 5, 500 events or 20 ms per batch);
//! * latency from `send` to a subscriber (p50/p99), paced at 5,000 events/s,
//!   one message per event and batched;
//! * spool-only cost per event (no destination: append + write + fsync policy).

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use uplink::test_broker::{mosquitto_or_skip, Mosquitto};
use uplink::{DestinationConfig, MqttConfig, Uplink, UplinkConfig};

const N: usize = 200_000;

/// A flow EVE record of about 400 bytes with varying addresses, ports,
/// counters and times (so that compression figures are not flattered by
/// repeated bytes).
fn payload(i: usize) -> Vec<u8> {
    let mut x = (i as u64).wrapping_mul(6_364_136_223_846_793_005) ^ 0x9e37_79b9_7f4a_7c15;
    let mut next = |m: u64| {
        x ^= x >> 33;
        x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
        x ^= x >> 29;
        x % m
    };
    let (us, dur) = (next(1_000_000), next(300));
    let mut p = format!(
        r#"{{"timestamp":"2024-01-01T00:{:02}:{:02}.{us:06}+0000","flow_id":{},"event_type":"flow","src_ip":"192.168.{}.{}","src_port":{},"dest_ip":"{}.{}.{}.{}","dest_port":{},"proto":"TCP","app_proto":"tls","flow":{{"pkts_toserver":{},"pkts_toclient":{},"bytes_toserver":{},"bytes_toclient":{},"start":"2024-01-01T00:00:00.{us:06}+0000","age":{dur},"state":"closed"}},"community_id":"1:"#,
        next(60),
        next(60),
        next(1 << 50),
        next(256),
        next(256),
        1024 + next(60000),
        next(224),
        next(256),
        next(256),
        next(256),
        [443, 80, 53, 8443][next(4) as usize],
        next(100),
        next(100),
        next(100_000),
        next(10_000_000),
    );
    const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for _ in 0..28 {
        p.push(char::from(B64[next(64) as usize]));
    }
    p.push_str("=\"}");
    while p.len() < 400 {
        p.insert(p.len() - 1, ' ');
    }
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
        "{label}: {N} events x {} B acked in {secs:.2}s = {:.0} events/s",
        payload(0).len(),
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

fn batched(url: &str, sensor: &str, linger_ms: u64) -> DestinationConfig {
    let mut d = DestinationConfig::new("national", url, sensor);
    d.allow_plaintext = true;
    d.protocol = uplink::Protocol::V5;
    d.batch = Some(uplink::BatchConfig {
        max_events: 500,
        linger: Duration::from_millis(linger_ms),
        ..uplink::BatchConfig::default()
    });
    d
}

#[test]
#[ignore = "yardstick; run in release with --ignored --nocapture"]
fn publish_rate_with_spool_and_zstd_batches() {
    if !mosquitto_or_skip("publish_rate_batched") {
        return;
    }
    let sample = payload(7);
    serde_json::from_slice::<serde_json::Value>(&sample).unwrap();
    eprintln!("payload: {} bytes", sample.len());
    let broker = Mosquitto::start().unwrap();
    // A subscriber, so that the broker really forwards every batch.
    let mut col = uplink::collect::Collector::connect(
        &broker.url(),
        "cirt/perf3/events/#",
        "perf3-col",
        None,
    )
    .unwrap();
    let counter = std::thread::spawn(move || {
        let (mut events, mut bytes) = (0usize, 0usize);
        while events < N {
            match col.next(Duration::from_secs(10)) {
                Ok(Some(m)) => {
                    bytes += m.payload.len();
                    events += m.events().unwrap().len();
                }
                Ok(None) => break,
                Err(_) => {}
            }
        }
        (events, bytes)
    });
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = UplinkConfig::new("perf3", dir.path());
    cfg.destinations = vec![batched(&broker.url(), "perf3", 20)];
    let t0 = Instant::now();
    run(Uplink::start_with(cfg).unwrap(), "spool + zstd batches");
    let (events, bytes) = counter.join().unwrap();
    eprintln!(
        "spool + zstd batches: subscriber got {events} events in {:.2}s, {:.1} B/event on the wire",
        t0.elapsed().as_secs_f64(),
        bytes as f64 / events.max(1) as f64
    );
    assert_eq!(events, N);
}

/// Sends `n` events paced at `rate`/s, each with its send time, and returns
/// the latencies seen by a subscriber, sorted.
fn latencies(up: Uplink, url: &str, filter: &str, n: usize, rate: u64) -> Vec<Duration> {
    let mut col = uplink::collect::Collector::connect(url, filter, "lat-col", None).unwrap();
    let epoch = Instant::now();
    let rx = std::thread::spawn(move || {
        let mut lat = Vec::with_capacity(n);
        while lat.len() < n {
            match col.next(Duration::from_secs(10)) {
                Ok(Some(m)) => {
                    let now = epoch.elapsed();
                    for e in m.events().unwrap() {
                        let v: serde_json::Value = serde_json::from_slice(&e).unwrap();
                        let sent = Duration::from_nanos(v["sent_ns"].as_u64().unwrap());
                        lat.push(now.saturating_sub(sent));
                    }
                }
                Ok(None) => break,
                Err(_) => {}
            }
        }
        lat
    });
    wait_connected(&up);
    let tx = up.sender();
    let gap = Duration::from_nanos(1_000_000_000 / rate);
    for i in 0..n {
        let due = gap * u32::try_from(i).unwrap();
        if let Some(wait) = due.checked_sub(epoch.elapsed()) {
            std::thread::sleep(wait);
        }
        let sent = u64::try_from(epoch.elapsed().as_nanos()).unwrap();
        let p = format!(r#"{{"event_type":"flow","flow_id":{i},"sent_ns":{sent}}}"#);
        tx.send("flow", p.into_bytes()).unwrap();
    }
    let r = up.finish(Duration::from_secs(30)).unwrap();
    assert_eq!(r.acked, n as u64, "{r}");
    let mut lat = rx.join().unwrap();
    lat.sort();
    lat
}

fn pct(l: &[Duration], p: f64) -> f64 {
    let i = ((l.len() as f64 - 1.0) * p).round() as usize;
    l[i].as_secs_f64() * 1e3
}

#[test]
#[ignore = "yardstick; run in release with --ignored --nocapture"]
fn latency_send_to_subscriber() {
    if !mosquitto_or_skip("latency") {
        return;
    }
    let broker = Mosquitto::start().unwrap();
    let (n, rate) = (20_000, 5_000);
    for (label, linger) in [
        ("one message per event", None),
        ("zstd batches, linger 20 ms", Some(20)),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let sensor = if linger.is_some() { "lat2" } else { "lat1" };
        let d = match linger {
            Some(ms) => batched(&broker.url(), sensor, ms),
            None => {
                let mut d = DestinationConfig::new("national", &broker.url(), sensor);
                d.allow_plaintext = true;
                d
            }
        };
        let mut cfg = UplinkConfig::new(sensor, dir.path());
        cfg.destinations = vec![d];
        let filter = format!("cirt/{sensor}/events/#");
        let lat = latencies(
            Uplink::start_with(cfg).unwrap(),
            &broker.url(),
            &filter,
            n,
            rate,
        );
        assert_eq!(lat.len(), n);
        eprintln!(
            "latency send -> subscriber, {label}, {rate} events/s: p50 {:.2} ms p99 {:.2} ms max {:.2} ms",
            pct(&lat, 0.5),
            pct(&lat, 0.99),
            pct(&lat, 1.0)
        );
    }
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
