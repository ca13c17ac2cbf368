//! The spooled, multi-destination uplink (`Uplink::start_with`) against real
//! mosquitto brokers: delivery with event ids, no resend of acked events,
//! a broker outage, a SIGKILL of the publisher, summaries, status/Last Will.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{config, dest};
use uplink::test_broker::{mosquitto_or_skip, Mosquitto, Subscriber};
use uplink::{IpNet, Policy, Pseudonymise, SummaryPolicy, Tlp, Uplink};

const TYPES: [&str; 3] = ["alert", "flow", "dns"];

fn event(i: usize) -> (&'static str, Vec<u8>) {
    let t = TYPES[i % TYPES.len()];
    (
        t,
        format!(r#"{{"event_type":"{t}","seq":{i}}}"#).into_bytes(),
    )
}

/// (event_id, producer seq) of each message, checking the topic.
fn parse(prefix: &str, msgs: &[(String, Vec<u8>)]) -> Vec<(String, u64)> {
    msgs.iter()
        .map(|(topic, payload)| {
            let v: serde_json::Value = serde_json::from_slice(payload).unwrap();
            let t = v["event_type"].as_str().unwrap();
            assert_eq!(topic, &format!("{prefix}/{t}"));
            (
                v["event_id"].as_str().unwrap().to_string(),
                v["seq"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn dead_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn two_destinations_get_their_events_with_ids_and_acked_ones_are_not_resent() {
    if !mosquitto_or_skip("two_destinations") {
        return;
    }
    let broker = Mosquitto::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let sub_all = Subscriber::start(&broker.url(), "cirt/s2/events/#").unwrap();
    let sub_alerts = Subscriber::start(&broker.url(), "alerts/s2/events/#").unwrap();
    let national = dest("national", &broker.url(), "s2");
    let mut alerts = dest("alerts", &broker.url(), "s2");
    alerts.topic_prefix = "alerts/s2/events".into();
    alerts.status_topic = "alerts/s2/status".into();
    alerts.event_types = Some(vec!["alert".into()]);
    let cfg = config("s2", dir.path(), vec![national, alerts]);

    let up = Uplink::start_with(cfg.clone()).unwrap();
    let tx = up.sender();
    for i in 0..300 {
        let (t, p) = event(i);
        tx.send(t, p).unwrap();
    }
    let report = up.finish(Duration::from_secs(10)).unwrap();
    assert_eq!(
        (report.accepted, report.acked, report.unacked),
        (300, 300, 0),
        "{report}"
    );
    assert_eq!(report.spooled, 300);
    assert_eq!(report.destinations[0].acked, 300, "{report}");
    assert_eq!(report.destinations[1].acked, 100, "{report}");

    let all = parse(
        "cirt/s2/events",
        &sub_all.collect(300, Duration::from_secs(10)),
    );
    let ids: BTreeSet<&String> = all.iter().map(|(id, _)| id).collect();
    assert_eq!(ids.len(), 300, "300 distinct ids");
    assert_eq!(
        all.iter().map(|x| x.1).collect::<BTreeSet<_>>(),
        (0..300).collect()
    );
    let only = parse(
        "alerts/s2/events",
        &sub_alerts.collect(100, Duration::from_secs(10)),
    );
    assert_eq!(only.len(), 100);
    // Both destinations see the same id for the same event.
    let by_seq: BTreeMap<u64, &String> = all.iter().map(|(id, s)| (*s, id)).collect();
    for (id, s) in &only {
        assert_eq!(by_seq[s], id);
        assert_eq!(s % 3, 0);
    }
    assert!(ids.iter().all(|id| id.starts_with("s2:")), "{ids:?}");

    // Retained status says offline after a clean finish.
    let st = Subscriber::start(&broker.url(), "cirt/s2/status").unwrap();
    let msg = st.collect(1, Duration::from_secs(5));
    let v: serde_json::Value = serde_json::from_slice(&msg[0].1).unwrap();
    assert_eq!(v["status"], "offline");

    // A restart on the same spool resends nothing that was acknowledged.
    let mut cfg = cfg;
    cfg.rules_version = Some("r1".into());
    cfg.interfaces = vec!["eth1".into()];
    cfg.stats_interval = Duration::from_millis(200);
    let up = Uplink::start_with(cfg).unwrap();
    let online = st.collect(1, Duration::from_secs(5));
    let v: serde_json::Value = serde_json::from_slice(&online[0].1).unwrap();
    assert_eq!(v["status"], "online", "{v}");
    assert_eq!(
        (v["sensor"].as_str(), v["rules_version"].as_str()),
        (Some("s2"), Some("r1"))
    );
    assert_eq!(v["interfaces"][0], "eth1");
    assert!(
        v["uptime_s"].is_u64() && v["spool"]["bytes"].is_u64(),
        "{v}"
    );
    // Periodic stats carry a rules version changed at run time.
    up.set_rules_version("r2");
    let later = st.collect(2, Duration::from_secs(5));
    let v: serde_json::Value = serde_json::from_slice(&later.last().unwrap().1).unwrap();
    assert_eq!(v["rules_version"], "r2", "{v}");
    let report = up.finish(Duration::from_secs(5)).unwrap();
    assert_eq!(report.accepted, 0);
    assert!(sub_all.drain(Duration::from_millis(500)).is_empty());
    assert!(sub_alerts.drain(Duration::from_millis(100)).is_empty());
}

/// Runs this test binary again as a child in the given mode; returns it
/// once it printed `READY <n>` (the test harness may print before it on
/// the same line), with `n`.
fn spawn_child(test: &str, mode: &str) -> (std::process::Child, usize) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env("UPLINK_TEST_CHILD", mode)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let n = loop {
        let line = lines.next().unwrap().unwrap();
        if let Some((_, n)) = line.split_once("READY ") {
            break n.trim().parse::<usize>().unwrap();
        }
    };
    (child, n)
}

/// Child side: `crash,<dir>,<n>` spools n events with the broker down;
/// `live,<dir>,<url>,<n>` spools n events while publishing them;
/// `will,<dir>,<url>` connects. Then says READY and waits to be killed.
fn child_main(mode: &str) {
    let parts: Vec<&str> = mode.split(',').collect();
    let (url, n) = match parts[0] {
        "crash" => (
            format!("mqtt://127.0.0.1:{}", dead_port()),
            parts[2].parse().unwrap(),
        ),
        "live" => (parts[2].to_string(), parts[3].parse().unwrap()),
        _ => (parts[2].to_string(), 0),
    };
    let mut d = dest("national", &url, "crash");
    if parts[0] == "live" {
        // Slow publishing down so that the kill surely lands mid-stream,
        // after some ack cursors were saved (every 200 ms by default).
        d.max_inflight = 1;
    }
    let up = Uplink::start_with(config("crash", Path::new(parts[1]), vec![d])).unwrap();
    let tx = up.sender();
    for i in 0..n {
        let (t, p) = event(i);
        tx.send(t, p).unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let s = up.stats();
        let ready = if parts[0] == "live" {
            // Kill mid-stream: some acknowledged, many not.
            s.spooled >= n as u64 && s.destinations[0].acked >= n as u64 / 4
        } else if n > 0 {
            s.spooled >= n as u64
        } else {
            s.destinations[0].connections > 0
        };
        if ready || Instant::now() > deadline {
            if parts[0] == "live" {
                // Let the sync policy save the ack cursor at least once.
                std::thread::sleep(Duration::from_millis(450));
            }
            println!("READY {}", s.spooled);
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    loop {
        std::thread::sleep(Duration::from_secs(1));
    }
}

#[test]
fn last_will_marks_the_sensor_offline_when_the_publisher_dies() {
    if let Ok(mode) = std::env::var("UPLINK_TEST_CHILD") {
        return child_main(&mode);
    }
    if !mosquitto_or_skip("last_will") {
        return;
    }
    let broker = Mosquitto::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let st = Subscriber::start(&broker.url(), "cirt/crash/status").unwrap();
    let mode = format!("will,{},{}", dir.path().display(), broker.url());
    let (mut child, _) = spawn_child(
        "last_will_marks_the_sensor_offline_when_the_publisher_dies",
        &mode,
    );
    let online = st.collect(1, Duration::from_secs(5));
    let v: serde_json::Value = serde_json::from_slice(&online[0].1).unwrap();
    assert_eq!(v["status"], "online");
    child.kill().unwrap(); // SIGKILL: no DISCONNECT, the broker sends the Will
    child.wait().unwrap();
    let will = st.collect(1, Duration::from_secs(5));
    assert_eq!(will.len(), 1, "the Last Will arrives");
    let v: serde_json::Value = serde_json::from_slice(&will[0].1).unwrap();
    assert_eq!(v["status"], "offline");
    // ... and it is retained for collectors that connect later.
    let late = Subscriber::start(&broker.url(), "cirt/crash/status").unwrap();
    let v: serde_json::Value =
        serde_json::from_slice(&late.collect(1, Duration::from_secs(5))[0].1).unwrap();
    assert_eq!(v["status"], "offline");
}

#[test]
fn sigkill_of_the_publisher_then_restart_delivers_the_whole_spool() {
    if let Ok(mode) = std::env::var("UPLINK_TEST_CHILD") {
        return child_main(&mode);
    }
    if !mosquitto_or_skip("sigkill_then_restart") {
        return;
    }
    let n = 3000;
    let dir = tempfile::tempdir().unwrap();
    let mode = format!("crash,{},{n}", dir.path().display());
    let (mut child, spooled) = spawn_child(
        "sigkill_of_the_publisher_then_restart_delivers_the_whole_spool",
        &mode,
    );
    assert_eq!(spooled, n, "the child spooled everything before the kill");
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    let broker = Mosquitto::start().unwrap();
    let sub = Subscriber::start(&broker.url(), "cirt/crash/events/#").unwrap();
    let d = dest("national", &broker.url(), "crash");
    let up = Uplink::start_with(config("crash", dir.path(), vec![d])).unwrap();
    let report = up.finish(Duration::from_secs(20)).unwrap();
    let mut got = sub.collect(n, Duration::from_secs(10));
    got.extend(sub.drain(Duration::from_millis(300)));
    let parsed = parse("cirt/crash/events", &got);
    let ids: BTreeSet<&String> = parsed.iter().map(|(id, _)| id).collect();
    let seqs: BTreeSet<u64> = parsed.iter().map(|x| x.1).collect();
    eprintln!(
        "crash: produced {n} delivered {} distinct {} duplicates {} lost {}",
        got.len(),
        ids.len(),
        got.len() - ids.len(),
        n - seqs.len()
    );
    assert_eq!(seqs, (0..n as u64).collect(), "exactly the produced set");
    assert_eq!(ids.len(), n, "one id per event");
    assert_eq!(report.destinations[0].acked, n as u64, "{report}");
}

#[test]
fn broker_outage_of_30_seconds_mid_stream_loses_nothing() {
    if !mosquitto_or_skip("outage") {
        return;
    }
    let mut broker = Mosquitto::start_persistent().unwrap();
    let sub_id = format!("sub-outage-{}", std::process::id());
    let sub = Subscriber::start_persistent(&broker.url(), "cirt/out/#", &sub_id).unwrap();
    let dir = tempfile::tempdir().unwrap();
    // One destination sends event by event, the other zstd batches (MQTT 5).
    let single = dest("national", &broker.url(), "out");
    let mut batched = dest("batched", &broker.url(), "out");
    batched.topic_prefix = "cirt/out/zevents".into();
    batched.status_topic = "cirt/out/zstatus".into();
    batched.protocol = uplink::Protocol::V5;
    batched.batch = Some(uplink::BatchConfig {
        max_events: 100,
        linger: Duration::from_millis(100),
        ..uplink::BatchConfig::default()
    });
    let up = Uplink::start_with(config("out", dir.path(), vec![single, batched])).unwrap();
    let tx = up.sender();
    let outage = Duration::from_secs(31);
    let mut i = 0;
    let mut send = |count: usize| {
        for _ in 0..count {
            let (t, p) = event(i);
            tx.send(t, p).unwrap();
            i += 1;
        }
    };
    send(2000);
    // Stop the broker while publishes are in flight.
    let t0 = Instant::now();
    while up.stats().acked < 500 && t0.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(1));
    }
    broker.stop().unwrap();
    // The stream goes on during the outage: 100 events every 250 ms.
    let down = Instant::now();
    while down.elapsed() < outage {
        send(100);
        std::thread::sleep(Duration::from_millis(250));
    }
    broker.restart().unwrap();
    send(2000);
    let n = i;
    let report = up.finish(Duration::from_secs(30)).unwrap();
    // n single messages plus at least n / 100 batches.
    let mut got = sub.collect(n + n / 100, Duration::from_secs(20));
    got.extend(sub.drain(Duration::from_millis(500)));
    let mut singles = Vec::new();
    let mut from_batches = Vec::new();
    let mut batch_msgs = 0;
    for (topic, payload) in got {
        if topic.starts_with("cirt/out/events/") {
            singles.push((topic, payload));
        } else if topic == "cirt/out/zevents/batch" {
            batch_msgs += 1;
            for e in uplink::collect::expand(&payload, true).unwrap() {
                let v: serde_json::Value = serde_json::from_slice(&e).unwrap();
                let t = v["event_type"].as_str().unwrap().to_string();
                from_batches.push((format!("cirt/out/zevents/{t}"), e));
            }
        }
    }
    for (label, prefix, msgs) in [
        ("single", "cirt/out/events", &singles),
        ("batched", "cirt/out/zevents", &from_batches),
    ] {
        let parsed = parse(prefix, msgs);
        let ids: BTreeSet<&String> = parsed.iter().map(|(id, _)| id).collect();
        let seqs: BTreeSet<u64> = parsed.iter().map(|x| x.1).collect();
        eprintln!(
            "outage {}s, {label}: produced {n} delivered {} duplicates {} lost {}",
            outage.as_secs(),
            msgs.len(),
            msgs.len() - ids.len(),
            n - seqs.len()
        );
        assert_eq!(seqs.len(), n, "{label}: lost must be 0");
        assert_eq!(ids.len(), n, "{label}: one id per event");
    }
    eprintln!("outage: {batch_msgs} batch messages; {report}");
    assert_eq!(report.acked, n as u64, "{report}");
    for d in &report.destinations {
        assert!(d.connections >= 2, "{report}");
        assert_eq!(d.acked, n as u64, "{report}");
    }
}

#[test]
fn summary_destination_receives_only_marked_pseudonymised_aggregates() {
    if !mosquitto_or_skip("summary") {
        return;
    }
    let broker = Mosquitto::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let grc_sub = Subscriber::start(&broker.url(), "grc/#").unwrap();
    let mut grc = dest("grc", &broker.url(), "sum");
    grc.topic_prefix = "grc/sum/events".into();
    grc.status_topic = "grc/sum/status".into();
    grc.policy = Policy::Summary(SummaryPolicy {
        window: Duration::from_secs(60),
        home_nets: vec![IpNet::parse("192.168.0.0/16").unwrap()],
        pseudonymise: Pseudonymise::Hmac {
            key: b"a key of 16+ bytes".to_vec(),
        },
        tlp: Tlp::Green,
    });
    let up = Uplink::start_with(config("sum", dir.path(), vec![grc])).unwrap();
    let tx = up.sender();
    for i in 0..50 {
        let a = format!(
            r#"{{"timestamp":"2024-01-01T00:00:{:02}.000000+0000","event_type":"alert","src_ip":"198.51.100.7","src_port":{},"dest_ip":"192.168.3.4","dest_port":80,"alert":{{"signature_id":7,"signature":"X","category":"c","severity":2}}}}"#,
            i % 60,
            1000 + i
        );
        tx.send("alert", a.into_bytes()).unwrap();
        tx.send(
            "dns",
            br#"{"event_type":"dns","src_ip":"192.168.3.4"}"#.to_vec(),
        )
        .unwrap();
    }
    let report = up.finish(Duration::from_secs(10)).unwrap();
    assert_eq!(report.acked, 100, "{report}");
    let mut got = grc_sub.collect(2, Duration::from_secs(5));
    got.extend(grc_sub.drain(Duration::from_millis(300)));
    let events: Vec<_> = got.iter().filter(|(t, _)| t.contains("/events/")).collect();
    assert_eq!(events.len(), 1, "one aggregate: {got:?}");
    assert_eq!(events[0].0, "grc/sum/events/alert_summary");
    let v: serde_json::Value = serde_json::from_slice(&events[0].1).unwrap();
    assert_eq!(v["count"], 50);
    assert_eq!(v["tlp"], "TLP:GREEN");
    assert!(v["event_id"].is_string());
    let text = String::from_utf8_lossy(&events[0].1);
    assert!(!text.contains("192.168.3.4"), "{text}");
    assert!(text.contains("198.51.100.7"), "{text}");
}

#[test]
fn full_spool_drops_oldest_and_counts_them_per_destination() {
    if !mosquitto_or_skip("full_spool") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let small = |url: &str| {
        let mut c = config("full", dir.path(), vec![dest("national", url, "full")]);
        c.spool = uplink::SpoolOptions {
            max_bytes: 256 << 10,
            segment_bytes: 32 << 10,
            sync: uplink::SyncPolicy::default(),
        };
        c
    };
    // Broker unreachable: 4000 events of ~100 B do not fit in 256 KiB.
    let n = 4000;
    let up = Uplink::start_with(small(&format!("mqtt://127.0.0.1:{}", dead_port()))).unwrap();
    let tx = up.sender();
    for i in 0..n {
        let (t, p) = event(i);
        tx.send(t, p).unwrap();
    }
    let report = up.finish(Duration::from_millis(500)).unwrap();
    let dropped = report.destinations[0].dropped_spool_full;
    let spool = report.spool.clone().unwrap();
    assert!(spool.bytes <= 256 << 10, "{spool:?}");
    assert!(dropped > 0 && spool.evicted_segments > 0, "{report}");

    // Broker back: what was not dropped arrives, and it is the newest.
    let broker = Mosquitto::start().unwrap();
    let sub = Subscriber::start(&broker.url(), "cirt/full/events/#").unwrap();
    let up = Uplink::start_with(small(&broker.url())).unwrap();
    let report2 = up.finish(Duration::from_secs(10)).unwrap();
    let mut got = sub.collect(n - dropped as usize, Duration::from_secs(5));
    got.extend(sub.drain(Duration::from_millis(300)));
    let seqs: BTreeSet<u64> = parse("cirt/full/events", &got)
        .into_iter()
        .map(|x| x.1)
        .collect();
    eprintln!(
        "full spool: produced {n} dropped {dropped} delivered {} ({report2})",
        seqs.len()
    );
    assert_eq!(
        seqs.len() as u64 + dropped,
        n as u64,
        "delivered + dropped = produced"
    );
    assert_eq!(
        seqs,
        (n as u64 - seqs.len() as u64..n as u64).collect(),
        "oldest dropped first"
    );
}

#[test]
fn sigkill_while_publishing_then_restart_resends_the_unacknowledged() {
    if let Ok(mode) = std::env::var("UPLINK_TEST_CHILD") {
        return child_main(&mode);
    }
    if !mosquitto_or_skip("sigkill_while_publishing") {
        return;
    }
    let n = 40_000;
    let broker = Mosquitto::start().unwrap();
    let sub = Subscriber::start(&broker.url(), "cirt/crash/events/#").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mode = format!("live,{},{},{n}", dir.path().display(), broker.url());
    let (mut child, spooled) = spawn_child(
        "sigkill_while_publishing_then_restart_resends_the_unacknowledged",
        &mode,
    );
    assert_eq!(spooled, n);
    child.kill().unwrap(); // SIGKILL, publishes in flight
    child.wait().unwrap();
    let first = sub.drain(Duration::from_millis(300));

    let d = dest("national", &broker.url(), "crash");
    let up = Uplink::start_with(config("crash", dir.path(), vec![d])).unwrap();
    let report = up.finish(Duration::from_secs(20)).unwrap();
    let second = sub.drain(Duration::from_millis(500));
    let before: BTreeSet<u64> = parse("cirt/crash/events", &first)
        .into_iter()
        .map(|x| x.1)
        .collect();
    let resent: BTreeSet<u64> = parse("cirt/crash/events", &second)
        .into_iter()
        .map(|x| x.1)
        .collect();
    let all: BTreeSet<u64> = before.union(&resent).copied().collect();
    let delivered = first.len() + second.len();
    eprintln!(
        "crash mid-stream: produced {n} delivered {delivered} (before kill {}, after restart {}) \
         duplicates {} lost {}",
        first.len(),
        second.len(),
        delivered - all.len(),
        n - all.len()
    );
    assert_eq!(all, (0..n as u64).collect(), "lost must be 0");
    assert!(!before.is_empty() && before.len() < n, "killed mid-stream");
    assert!(
        resent.len() < n,
        "acknowledged events are not resent: {report}"
    );
    assert_eq!(
        *resent.iter().max().unwrap(),
        n as u64 - 1,
        "the tail was resent"
    );
}
