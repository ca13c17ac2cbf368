//! `sensor keygen`, `sensor rules bundle create|verify` and `sensor tail`
//! (against a real mosquitto, with single and zstd-batched destinations).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{run_sensor, sensor_bin};
use uplink::test_broker::{mosquitto_or_skip, Mosquitto};
use uplink::{BatchConfig, DestinationConfig, Protocol, Uplink, UplinkConfig};

fn s(o: &[u8]) -> String {
    String::from_utf8_lossy(o).into_owned()
}

#[test]
fn keygen_bundle_create_verify_and_every_refusal() {
    let dir = tempfile::tempdir().unwrap();
    let d = |n: &str| dir.path().join(n).to_str().unwrap().to_string();
    let out = run_sensor(&["keygen", "--out", &d("cirt")]);
    assert!(out.status.success(), "{}", s(&out.stderr));
    let again = run_sensor(&["keygen", "--out", &d("cirt")]);
    assert!(!again.status.success(), "keys are never overwritten");
    assert!(run_sensor(&["keygen", "--out", &d("other")])
        .status
        .success());
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(d("cirt.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    std::fs::write(
        d("local.rules"),
        "alert tcp any any -> any 80 (msg:\"x\"; sid:1;)\n",
    )
    .unwrap();
    std::fs::write(d("extra.rules"), "").unwrap();
    let out = run_sensor(&[
        "rules",
        "bundle",
        "create",
        "--key",
        &d("cirt.key"),
        "--version",
        "2026.12.06-1",
        &d("local.rules"),
        &d("extra.rules"),
        "--out",
        &d("b.bin"),
    ]);
    assert!(out.status.success(), "{}", s(&out.stderr));

    let ok = run_sensor(&[
        "rules",
        "bundle",
        "verify",
        "--pubkey",
        &d("cirt.pub"),
        &d("b.bin"),
    ]);
    assert!(ok.status.success(), "{}", s(&ok.stderr));
    let text = s(&ok.stdout);
    assert!(text.contains("OK: version 2026.12.06-1"), "{text}");
    assert!(text.contains("local.rules (46 bytes)"), "{text}");

    let unknown = run_sensor(&[
        "rules",
        "bundle",
        "verify",
        "--pubkey",
        &d("other.pub"),
        &d("b.bin"),
    ]);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(
        s(&unknown.stderr).contains("unknown key"),
        "{}",
        s(&unknown.stderr)
    );

    let mut bytes = std::fs::read(d("b.bin")).unwrap();
    let at = bytes.windows(5).position(|w| w == b"sid:1").unwrap();
    bytes[at + 4] = b'2';
    std::fs::write(d("tampered.bin"), &bytes).unwrap();
    let bad = run_sensor(&[
        "rules",
        "bundle",
        "verify",
        "--json",
        "--pubkey",
        &d("cirt.pub"),
        &d("tampered.bin"),
    ]);
    assert_eq!(bad.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&bad.stdout).unwrap();
    assert_eq!(v["ok"], false);
    assert!(v["reason"].as_str().unwrap().contains("local.rules"), "{v}");

    std::fs::write(d("junk.bin"), b"not a bundle").unwrap();
    let junk = run_sensor(&[
        "rules",
        "bundle",
        "verify",
        "--pubkey",
        &d("cirt.pub"),
        &d("junk.bin"),
    ]);
    assert_eq!(junk.status.code(), Some(1));
    assert!(s(&junk.stderr).contains("bad magic"), "{}", s(&junk.stderr));
}

/// Starts `sensor tail` and returns once it is subscribed.
fn tail(url: &str, extra: &[&str]) -> (Child, std::thread::JoinHandle<String>) {
    let mut child = Command::new(sensor_bin())
        .args(["tail", "--mqtt", url, "--duration", "20"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    err.read_line(&mut line).unwrap();
    assert!(line.contains("subscribed"), "{line}");
    let mut out = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut out, &mut s).unwrap();
        s
    });
    (child, reader)
}

fn wait(mut child: Child, reader: std::thread::JoinHandle<String>) -> String {
    let t0 = Instant::now();
    while child.try_wait().unwrap().is_none() && t0.elapsed() < Duration::from_secs(15) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    reader.join().unwrap()
}

#[test]
fn tail_prints_single_and_batched_events_one_line_each() {
    if !mosquitto_or_skip("tail") {
        return;
    }
    let broker = Mosquitto::start().unwrap();
    let (json_tail, json_out) = tail(&broker.url(), &["--json", "--count", "6"]);
    let (text_tail, text_out) = tail(&broker.url(), &["--count", "6"]);

    let dir = tempfile::tempdir().unwrap();
    let mut single = DestinationConfig::new("single", &broker.url(), "t1");
    single.allow_plaintext = true;
    let mut batched = DestinationConfig::new("batched", &broker.url(), "t1");
    batched.allow_plaintext = true;
    batched.protocol = Protocol::V5;
    batched.topic_prefix = "cirt/t2/events".into();
    batched.status_topic = "cirt/t2/status".into();
    batched.batch = Some(BatchConfig::default());
    let mut cfg = UplinkConfig::new("t1", dir.path());
    cfg.destinations = vec![single, batched];
    let up = Uplink::start_with(cfg).unwrap();
    let tx = up.sender();
    tx.send("alert", br#"{"timestamp":"2026-12-06T09:00:00.000000+0000","event_type":"alert","src_ip":"10.0.0.1","src_port":1234,"dest_ip":"203.0.113.5","dest_port":80,"proto":"TCP","alert":{"gid":1,"signature_id":2000001,"rev":3,"signature":"ET TEST tail","severity":2}}"#.to_vec()).unwrap();
    tx.send("dns", br#"{"timestamp":"2026-12-06T09:00:01.000000+0000","event_type":"dns","src_ip":"10.0.0.1","src_port":5353,"dest_ip":"10.0.0.53","dest_port":53,"proto":"UDP","dns":{"type":"query","rrname":"tail.example","rrtype":"A"}}"#.to_vec()).unwrap();
    tx.send("tls", br#"{"timestamp":"2026-12-06T09:00:02.000000+0000","event_type":"tls","src_ip":"10.0.0.1","src_port":40000,"dest_ip":"203.0.113.7","dest_port":443,"proto":"TCP","tls":{"sni":"sni.example","version":"TLS 1.3"}}"#.to_vec()).unwrap();
    let report = up.finish(Duration::from_secs(10)).unwrap();
    assert!(report.all_acked(), "{report}");

    let json = wait(json_tail, json_out);
    let events: Vec<serde_json::Value> = json
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.len(), 6, "{json}");
    for t in ["alert", "dns", "tls"] {
        assert_eq!(
            events.iter().filter(|e| e["event_type"] == t).count(),
            2,
            "{json}"
        );
    }
    let text = wait(text_tail, text_out);
    assert_eq!(text.lines().count(), 6, "{text}");
    assert_eq!(
        text.lines()
            .filter(|l| l.contains("10.0.0.1:1234 -> 203.0.113.5:80 TCP [1:2000001:3] ET TEST tail"))
            .count(),
        2,
        "{text}"
    );
    assert!(text.contains("query tail.example A"), "{text}");
    assert!(text.contains("sni=sni.example"), "{text}");
}
