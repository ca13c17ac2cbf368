//! Integration tests against a real mosquitto (no mocks), plus fake hostile
//! brokers on raw TCP sockets. Tests that need mosquitto print a skip message
//! when it is missing, and fail under `CI=true`.

// Test helpers outside #[test] fns are not covered by allow-unwrap-in-tests.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

use uplink::test_broker::{mosquitto_or_skip, Mosquitto, Subscriber};
use uplink::{MqttConfig, Uplink, UplinkError};

const TYPES: [&str; 3] = ["alert", "flow", "dns"];

fn config(url: &str, sensor: &str) -> MqttConfig {
    let mut cfg = MqttConfig::new(url, sensor).unwrap();
    cfg.reconnect_backoff_max = Duration::from_millis(300);
    cfg.connect_timeout = Duration::from_secs(1);
    cfg
}

fn event(i: usize) -> (&'static str, Vec<u8>) {
    let t = TYPES[i % TYPES.len()];
    (
        t,
        format!(r#"{{"event_type":"{t}","seq":{i}}}"#).into_bytes(),
    )
}

/// Checks topic/payload agreement and returns the distinct sequence numbers.
fn seqs(sensor: &str, msgs: &[(String, Vec<u8>)]) -> BTreeSet<usize> {
    msgs.iter()
        .map(|(topic, payload)| {
            let text = std::str::from_utf8(payload).unwrap();
            let t = text.split('"').nth(3).unwrap();
            assert_eq!(topic, &format!("cirt/{sensor}/events/{t}"), "{text}");
            let seq = text.rsplit(':').next().unwrap().trim_end_matches('}');
            seq.parse().unwrap()
        })
        .collect()
}

/// A port nothing listens on (bound then released).
fn dead_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn publishes_500_events_each_once_on_the_right_topic() {
    if !mosquitto_or_skip("publishes_500_events") {
        return;
    }
    let broker = Mosquitto::start().unwrap();
    let sub = Subscriber::start(&broker.url(), "cirt/s500/events/#").unwrap();
    let up = Uplink::start(config(&broker.url(), "s500")).unwrap();
    let tx = up.sender();
    for i in 0..500 {
        let (t, p) = event(i);
        tx.send(t, p).unwrap();
    }
    let report = up.finish(Duration::from_secs(10)).unwrap();
    assert_eq!(
        (report.accepted, report.acked, report.unacked),
        (500, 500, 0),
        "{report}"
    );
    assert_eq!(report.republished, 0, "{report}");
    // `finish` ends with an MQTT DISCONNECT, not a dropped socket.
    // (mosquitto logs it asynchronously: give it a moment under load.)
    let clean = format!("Client sensor-s500-{} disconnected", std::process::id());
    let t0 = Instant::now();
    let mut log = broker.log();
    while !log.contains(&clean) && t0.elapsed() < Duration::from_secs(3) {
        std::thread::sleep(Duration::from_millis(50));
        log = broker.log();
    }
    assert!(log.contains(&clean), "{log}");
    let mut got = sub.collect(500, Duration::from_secs(10));
    got.extend(sub.drain(Duration::from_millis(300)));
    assert_eq!(got.len(), 500, "exactly once at the subscriber");
    assert_eq!(seqs("s500", &got), (0..500).collect());
    // Sends after finish are refused and counted.
    assert!(matches!(
        tx.send("alert", b"{}".to_vec()),
        Err(UplinkError::Closed)
    ));
    assert!(!tx.try_send("alert", b"{}".to_vec()));
}

#[test]
fn broker_down_at_start_then_up_delivers_everything() {
    if !mosquitto_or_skip("broker_down_at_start") {
        return;
    }
    let mut broker = Mosquitto::start_persistent().unwrap();
    let sub_id = format!("sub-down-{}", std::process::id());
    let sub = Subscriber::start_persistent(&broker.url(), "cirt/sdown/events/#", &sub_id).unwrap();
    broker.stop().unwrap();

    let up = Uplink::start(config(&broker.url(), "sdown")).unwrap();
    let tx = up.sender();
    for i in 0..300 {
        let (t, p) = event(i);
        tx.send(t, p).unwrap();
    }
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(up.stats().acked, 0);
    broker.restart().unwrap();
    let report = up.finish(Duration::from_secs(15)).unwrap();
    assert_eq!(
        (report.accepted, report.acked, report.unacked),
        (300, 300, 0),
        "{report}"
    );
    assert!(report.connect_failures >= 1, "{report}");
    let got = sub.collect(300, Duration::from_secs(10));
    assert_eq!(seqs("sdown", &got), (0..300).collect());
}

#[test]
fn broker_restart_mid_stream_loses_nothing_and_counts_once() {
    if !mosquitto_or_skip("broker_restart_mid_stream") {
        return;
    }
    const N: usize = 3000;
    let mut broker = Mosquitto::start_persistent().unwrap();
    let sub_id = format!("sub-restart-{}", std::process::id());
    let sub = Subscriber::start_persistent(&broker.url(), "cirt/srs/events/#", &sub_id).unwrap();
    let up = Uplink::start(config(&broker.url(), "srs")).unwrap();
    let tx = up.sender();
    let producer = std::thread::spawn(move || {
        for i in 0..N {
            let (t, p) = event(i);
            tx.send(t, p).unwrap();
            if i % 100 == 0 {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    });
    let t0 = Instant::now();
    while up.stats().acked < 300 && t0.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(5));
    }
    broker.stop().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    broker.restart().unwrap();
    producer.join().unwrap();
    let report = up.finish(Duration::from_secs(20)).unwrap();
    assert_eq!(report.accepted, N as u64, "{report}");
    assert_eq!((report.acked, report.unacked), (N as u64, 0), "{report}");
    assert!(report.disconnects >= 1, "{report}");
    // QoS 1: the subscriber may see republished events twice, never zero times.
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(15);
    while seqs("srs", &got).len() < N && Instant::now() < deadline {
        got.extend(sub.collect(N, Duration::from_millis(500)));
    }
    let distinct = seqs("srs", &got);
    assert_eq!(
        distinct.len(),
        N,
        "missing {:?}",
        (0..N)
            .filter(|i| !distinct.contains(i))
            .take(10)
            .collect::<Vec<_>>()
    );
    eprintln!(
        "restart: {} messages at the subscriber for {N} events ({} duplicates), report: {report}",
        got.len(),
        got.len() - N
    );
}

#[test]
fn broker_never_available_finish_returns_by_timeout() {
    let url = format!("mqtt://127.0.0.1:{}", dead_port());
    let up = Uplink::start(config(&url, "snever")).unwrap();
    let tx = up.sender();
    for i in 0..50 {
        let (t, p) = event(i);
        tx.send(t, p).unwrap();
    }
    let t0 = Instant::now();
    let report = up.finish(Duration::from_secs(2)).unwrap();
    let took = t0.elapsed();
    assert!(took <= Duration::from_millis(2150), "finish took {took:?}");
    assert_eq!(
        (report.accepted, report.acked, report.unacked),
        (50, 0, 50),
        "{report}"
    );
    assert!(report.connect_failures >= 1, "{report}");
    assert!(report.last_error.is_some(), "{report}");
}

#[test]
fn unresolvable_host_is_retried_not_fatal() {
    let up = Uplink::start(config("mqtt://no-such-host.invalid:1883", "sdns")).unwrap();
    assert!(up.sender().try_send("alert", b"{}".to_vec()));
    let t0 = Instant::now();
    let report = up.finish(Duration::from_secs(1)).unwrap();
    assert!(t0.elapsed() < Duration::from_millis(1200));
    assert_eq!(report.unacked, 1);
}

#[test]
fn bad_urls_and_ids_are_errors() {
    for url in [
        "mqtts://h:8883",
        "http://h",
        "mqtt://",
        "mqtt://h:0",
        "mqtt://h:99999",
        "h:1883",
    ] {
        let e = MqttConfig::new(url, "s").unwrap_err();
        assert!(matches!(e, UplinkError::InvalidUrl { .. }), "{url}: {e}");
        assert!(e.to_string().contains(url), "{e}");
    }
    assert!(matches!(
        MqttConfig::new("mqtt://h", "a/b"),
        Err(UplinkError::InvalidSensorId { .. })
    ));
    let mut cfg = MqttConfig::new("mqtt://h", "s").unwrap();
    cfg.url = "mqtt://h:x".into();
    assert!(matches!(
        Uplink::start(cfg),
        Err(UplinkError::InvalidUrl { .. })
    ));
}

#[test]
fn oversized_and_invalid_events_are_dropped_and_counted() {
    let url = format!("mqtt://127.0.0.1:{}", dead_port());
    let mut cfg = config(&url, "sbig");
    cfg.max_packet_size = 2048;
    let up = Uplink::start(cfg).unwrap();
    let tx = up.sender();
    let e = tx.send("alert", vec![b'x'; 4096]).unwrap_err();
    assert!(matches!(e, UplinkError::TooLarge { max: 2048, .. }), "{e}");
    assert!(!tx.try_send("alert", vec![b'x'; 2040]));
    assert!(matches!(
        tx.send("a/b", b"{}".to_vec()),
        Err(UplinkError::InvalidEventType { .. })
    ));
    assert!(tx.try_send("alert", vec![b'x'; 1000]));
    let r = up.finish(Duration::from_millis(300)).unwrap();
    assert_eq!(
        (r.dropped_too_large, r.dropped_invalid_event_type),
        (2, 1),
        "{r}"
    );
    assert_eq!((r.accepted, r.unacked), (1, 1), "{r}");
}

#[test]
fn try_send_never_blocks_and_counts_full_channel() {
    let url = format!("mqtt://127.0.0.1:{}", dead_port());
    let mut cfg = config(&url, "sfull");
    cfg.channel_capacity = 4;
    cfg.max_inflight = 4;
    let up = Uplink::start(cfg).unwrap();
    let tx = up.sender();
    let t0 = Instant::now();
    let ok = (0..1000)
        .filter(|i| tx.try_send("flow", event(*i).1))
        .count() as u64;
    assert!(t0.elapsed() < Duration::from_millis(500));
    let r = up.finish(Duration::from_millis(300)).unwrap();
    assert_eq!(r.accepted, ok, "{r}");
    assert_eq!(r.accepted + r.dropped_channel_full, 1000, "{r}");
    assert!(r.accepted <= 8 + 2 && r.dropped_channel_full >= 990, "{r}");
}

#[test]
fn send_inside_tokio_runtime_works_without_panicking() {
    let url = format!("mqtt://127.0.0.1:{}", dead_port());
    let up = Uplink::start(config(&url, "sasync")).unwrap();
    let tx = up.sender();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        tx.send("alert", b"{}".to_vec()).unwrap();
        tx.send_async("alert", b"{}".to_vec()).await.unwrap();
    });
    let r = up.finish(Duration::from_millis(200)).unwrap();
    assert_eq!(r.accepted, 2);
}

/// What a fake broker does with each connection.
#[derive(Clone, Copy, Debug)]
enum Hostile {
    Garbage,
    Silent,
    Close,
    Refuse,
    AckNonsense,
    PartialConnack,
    ConnackThenSilent,
}

fn hostile_broker(mode: Hostile) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(mut s) = conn else { return };
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
                let _ = s.read(&mut buf); // CONNECT
                let _ = match mode {
                    Hostile::Garbage => s.write_all(&[0xff; 64]),
                    Hostile::Silent => {
                        std::thread::sleep(Duration::from_secs(5));
                        Ok(())
                    }
                    Hostile::Close => Ok(()),
                    Hostile::Refuse => s.write_all(&[0x20, 0x02, 0x00, 0x05]),
                    Hostile::AckNonsense => {
                        let _ = s.write_all(&[0x20, 0x02, 0x00, 0x00]);
                        let _ = s.read(&mut buf);
                        // PUBACK for ids never used, then a bogus huge length.
                        let _ = s.write_all(&[0x40, 0x02, 0x03, 0xe7, 0x40, 0x02, 0x00, 0x01]);
                        s.write_all(&[0x30, 0xff, 0xff, 0xff, 0xff, 0x01])
                    }
                    Hostile::ConnackThenSilent => {
                        let _ = s.write_all(&[0x20, 0x02, 0x00, 0x00]);
                        while s.read(&mut buf).is_ok_and(|n| n > 0) {}
                        Ok(())
                    }
                    Hostile::PartialConnack => {
                        let _ = s.write_all(&[0x20]);
                        std::thread::sleep(Duration::from_secs(5));
                        Ok(())
                    }
                };
            });
        }
    });
    port
}

#[test]
fn hostile_brokers_give_counters_not_panics_or_hangs() {
    for mode in [
        Hostile::Garbage,
        Hostile::Silent,
        Hostile::Close,
        Hostile::Refuse,
        Hostile::AckNonsense,
        Hostile::PartialConnack,
        Hostile::ConnackThenSilent,
    ] {
        let port = hostile_broker(mode);
        let up = Uplink::start(config(&format!("mqtt://127.0.0.1:{port}"), "shostile")).unwrap();
        let tx = up.sender();
        for i in 0..20 {
            let (t, p) = event(i);
            tx.send(t, p).unwrap();
        }
        std::thread::sleep(Duration::from_millis(300));
        let t0 = Instant::now();
        let r = up.finish(Duration::from_millis(1500)).unwrap();
        let took = t0.elapsed();
        assert!(
            took <= Duration::from_millis(1650),
            "{mode:?}: finish took {took:?}"
        );
        assert_eq!(
            (r.accepted, r.acked, r.unacked),
            (20, 0, 20),
            "{mode:?}: {r}"
        );
        assert!(
            r.connect_failures + r.disconnects >= 1
                || matches!(
                    mode,
                    Hostile::Silent | Hostile::PartialConnack | Hostile::ConnackThenSilent
                ),
            "{mode:?}: {r}"
        );
        eprintln!("{mode:?}: {r}");
    }
}

#[test]
fn throughput_10k_events() {
    if !mosquitto_or_skip("throughput_10k_events") {
        return;
    }
    const N: usize = 10_000;
    let broker = Mosquitto::start().unwrap();
    let payload = vec![b'x'; 400];
    let up = Uplink::start(config(&broker.url(), "sperf")).unwrap();
    let tx = up.sender();
    // Wait for the connection so we time publishing, not connecting.
    let t0 = Instant::now();
    while up.stats().connections == 0 && t0.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(5));
    }
    let t0 = Instant::now();
    for _ in 0..N {
        tx.send("flow", payload.clone()).unwrap();
    }
    let r = up.finish(Duration::from_secs(60)).unwrap();
    let secs = t0.elapsed().as_secs_f64();
    assert_eq!(r.acked, N as u64, "{r}");
    eprintln!(
        "throughput: {N} events x 400 B acked in {secs:.3}s = {:.0} events/s",
        N as f64 / secs
    );
}

#[test]
fn send_timeout_gives_up_when_broker_is_unreachable() {
    let url = format!("mqtt://127.0.0.1:{}", dead_port());
    let mut cfg = config(&url, "stimeout");
    cfg.channel_capacity = 2;
    cfg.max_inflight = 2;
    let up = Uplink::start(cfg).unwrap();
    let tx = up.sender();
    let t0 = Instant::now();
    let results: Vec<_> = (0..10)
        .map(|i| tx.send_timeout("flow", event(i).1, Duration::from_millis(50)))
        .collect();
    assert!(t0.elapsed() < Duration::from_secs(2));
    let failed = results
        .iter()
        .filter(|r| matches!(r, Err(UplinkError::SendTimeout(_))))
        .count();
    assert!(failed >= 5, "{results:?}");
    let r = up.finish(Duration::from_millis(200)).unwrap();
    assert_eq!(r.dropped_send_timeout, failed as u64, "{r}");
    assert_eq!(r.accepted + r.dropped_send_timeout, 10, "{r}");
}

#[test]
fn dropping_without_finish_does_not_hang() {
    let url = format!("mqtt://127.0.0.1:{}", dead_port());
    let up = Uplink::start(config(&url, "sdrop")).unwrap();
    let tx = up.sender();
    tx.send("alert", b"{}".to_vec()).unwrap();
    drop(up);
    // The worker stops and closes the channel soon after.
    let t0 = Instant::now();
    while tx.try_send("alert", b"{}".to_vec()) && t0.elapsed() < Duration::from_secs(2) {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(matches!(
        tx.send("alert", b"{}".to_vec()),
        Err(UplinkError::Closed)
    ));
}

#[test]
fn huge_timeouts_do_not_overflow() {
    if !mosquitto_or_skip("huge_timeouts_do_not_overflow") {
        return;
    }
    let broker = Mosquitto::start().unwrap();
    let up = Uplink::start(config(&broker.url(), "shuge")).unwrap();
    up.sender()
        .send_timeout("alert", b"{}".to_vec(), Duration::MAX)
        .unwrap();
    let r = up.finish(Duration::MAX).unwrap();
    assert_eq!(r.acked, 1, "{r}");
}
