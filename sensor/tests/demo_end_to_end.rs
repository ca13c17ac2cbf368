//! End to end on real parts: the bundled capture and rules through the `sensor` binary, EVE
//! alerts to a file and, through a real mosquitto started here, to an MQTT subscriber.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{demo_dir, replay_eve};
use uplink::test_broker::{mosquitto_or_skip, Mosquitto, Subscriber};

fn alerts_by_sid(eve: &str) -> BTreeMap<u64, usize> {
    let mut by_sid = BTreeMap::new();
    for line in eve.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("each EVE line is JSON");
        if v["event_type"] == "alert" {
            let sid = v["alert"]["signature_id"].as_u64().expect("sid");
            *by_sid.entry(sid).or_insert(0) += 1;
        }
    }
    by_sid
}

fn expected_by_sid() -> BTreeMap<u64, usize> {
    let text = std::fs::read_to_string(demo_dir().join("expected-alerts.json")).unwrap();
    let list: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
    list.iter()
        .map(|e| {
            (
                e["sid"].as_u64().unwrap(),
                e["count"].as_u64().unwrap() as usize,
            )
        })
        .filter(|(_, n)| *n > 0)
        .collect()
}

fn replay_demo(extra: &[&str]) -> (std::process::Output, String) {
    let demo = demo_dir();
    replay_eve(
        &demo.join("demo.rules"),
        "demo-1",
        extra,
        &demo.join("demo.pcap"),
    )
}

#[test]
fn demo_capture_raises_exactly_the_designed_alerts() {
    let (out, eve) = replay_demo(&[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert_eq!(alerts_by_sid(&eve), expected_by_sid(), "stderr: {err}");
    assert!(err.contains("replay:") && err.contains("alerts"), "{err}");
    let records: Vec<serde_json::Value> = eve
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let has = |f: &dyn Fn(&serde_json::Value) -> bool| records.iter().any(f);
    assert!(has(&|v| v["vlan"] == serde_json::json!([100])), "802.1Q");
    assert!(has(&|v| v["vlan"] == serde_json::json!([200, 300])), "QinQ");
    assert!(has(&|v| v["proto"] == "IPv6-ICMP" && v["icmp_type"] == 128));
    assert!(has(&|v| v["proto"] == "ICMP" && v.get("src_port").is_none()));
    assert!(has(&|v| v["direction"] == "to_client"));
    let of_type = |t: &str| records.iter().filter(|v| v["event_type"] == t).count();
    assert_eq!(of_type("stats"), 1);
    // The demo's web and DNS traffic is logged by the app layer.
    assert!(of_type("http") > 0, "http records");
    assert!(of_type("dns") > 0, "dns records");
    assert_eq!(
        of_type("flow") + of_type("alert") + of_type("http") + of_type("dns") + of_type("tls") + 1,
        records.len(),
        "only alert, flow, app-layer and stats records"
    );
    for v in &records {
        assert_eq!(v["sensor"]["id"], "demo-1");
        let ts = v["timestamp"].as_str().unwrap();
        assert!(ts.ends_with("+0000") && ts.len() == 31, "{ts}");
        if v["event_type"] != "stats" {
            assert!(v["flow_id"].as_u64().is_some());
            assert!(v["community_id"].as_str().unwrap().starts_with("1:"));
        }
    }
    // Every alert's flow has a flow record, marked alerted, with the same id and tuple.
    for a in records.iter().filter(|v| v["event_type"] == "alert") {
        let f = records
            .iter()
            .find(|v| v["event_type"] == "flow" && v["flow_id"] == a["flow_id"])
            .expect("a flow record for the alert's flow");
        assert_eq!(f["flow"]["alerted"], true);
        assert_eq!(f["community_id"], a["community_id"]);
    }
    let stats = records.iter().find(|v| v["event_type"] == "stats").unwrap();
    assert_eq!(stats["stats"]["decoder"]["pkts"], 104);
    assert_eq!(stats["stats"]["detect"]["alert"], 14);
    assert_eq!(stats["stats"]["flow"]["total"], of_type("flow"));
}

#[test]
fn every_alert_reaches_the_broker_exactly_once() {
    if !mosquitto_or_skip("every_alert_reaches_the_broker_exactly_once") {
        return;
    }
    let broker = Mosquitto::start().expect("mosquitto starts");
    let sub = Subscriber::start(&broker.url(), "cirt/demo-1/events/#").expect("subscribed");
    let (out, eve) = replay_demo(&["--mqtt", &broker.url()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}\nbroker log:\n{}", broker.log());
    assert!(
        err.contains("not acknowledged") && err.contains(" 0 not acknowledged"),
        "{err}"
    );

    let lines: Vec<&str> = eve.lines().collect();
    assert!(!lines.is_empty());
    let got = sub.collect(lines.len(), Duration::from_secs(20));
    // Anything beyond the expected number would be a duplicate; give it a moment to show.
    let extra = sub.drain(Duration::from_millis(300));
    assert!(extra.is_empty(), "duplicates arrived: {}", extra.len());
    let mut received: Vec<String> = got
        .iter()
        .map(|(topic, payload)| {
            let v: serde_json::Value = serde_json::from_slice(payload).unwrap();
            let kind = v["event_type"].as_str().unwrap();
            assert_eq!(topic, &format!("cirt/demo-1/events/{kind}"));
            String::from_utf8(payload.clone()).unwrap()
        })
        .collect();
    let mut sent: Vec<String> = lines.iter().map(|s| s.to_string()).collect();
    received.sort();
    sent.sort();
    assert_eq!(received, sent, "the broker carried exactly the EVE records");
}

#[test]
fn unreachable_broker_fails_the_run_with_a_count() {
    // A port nothing listens on: bind, learn the port, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("mqtt://127.0.0.1:{port}");
    let (out, eve) = replay_demo(&["--mqtt", &url, "--mqtt-timeout", "2"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let n = eve.lines().count();
    assert!(
        err.contains(&format!("{n} event(s) were not acknowledged")),
        "{err}"
    );
}
