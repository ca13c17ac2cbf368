//! Batches, the command channel and a national -> GRC bridge, against real
//! mosquitto brokers (and the real `mosquitto_sub`/`mosquitto_pub`/`zstd`
//! binaries for the collector one-liner).

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{config, dest};
use uplink::bundle::{self, BundleError, BundleFile};
use uplink::collect::{Collector, ZSTD_MAGIC};
use uplink::test_broker::{mosquitto_or_skip, BrokerConfig, Mosquitto, Subscriber};
use uplink::{
    BatchConfig, CommandResult, IpNet, Policy, Protocol, Pseudonymise, SummaryPolicy, Tlp, Uplink,
};

/// The command-line tools the one-liner needs; missing is a skip, or a
/// failure under CI=true.
fn tools_or_skip(test: &str) -> bool {
    let ok = [
        "/usr/bin/mosquitto_sub",
        "/usr/bin/mosquitto_pub",
        "/usr/bin/zstd",
    ]
    .iter()
    .all(|p| Path::new(p).exists());
    if !ok {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{test}: mosquitto-clients and zstd are required under CI=true"
        );
        eprintln!("SKIP {test}: mosquitto_sub/mosquitto_pub/zstd not installed");
    }
    ok
}

fn wait_for_log(broker: &Mosquitto, needle: &str) {
    let t0 = Instant::now();
    while !broker.log().contains(needle) && t0.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        broker.log().contains(needle),
        "{needle} not in {}",
        broker.log()
    );
    // SUBSCRIBE follows CONNECT at once; give the broker a moment for it.
    std::thread::sleep(Duration::from_millis(300));
}

#[test]
fn zstd_batches_carry_properties_and_the_collector_one_liner_reads_them() {
    if !mosquitto_or_skip("zstd_batches") || !tools_or_skip("zstd_batches") {
        return;
    }
    let broker = Mosquitto::start().unwrap();
    let (n, per) = (2000usize, 200usize);
    let batches = n / per;
    // The documented collector one-liner, for exactly `batches` messages.
    let mut one_liner = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "mosquitto_sub -h 127.0.0.1 -p {} -V 5 -q 1 -i zcollector -t 'cirt/zb/events/batch' -N -C {batches} | zstd -dcq",
            broker.port()
        ))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = one_liner.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        out.read_to_string(&mut s).unwrap();
        s
    });
    wait_for_log(&broker, "as zcollector");
    let mut col = Collector::connect(&broker.url(), "cirt/zb/events/#", "zb-col", None).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let mut d = dest("national", &broker.url(), "zb");
    d.protocol = Protocol::V5;
    d.batch = Some(BatchConfig {
        max_events: per,
        linger: Duration::from_secs(5),
        ..BatchConfig::default()
    });
    let up = Uplink::start_with(config("zb", dir.path(), vec![d])).unwrap();
    let tx = up.sender();
    for i in 0..n {
        tx.send(
            "flow",
            format!(r#"{{"event_type":"flow","seq":{i}}}"#).into_bytes(),
        )
        .unwrap();
    }
    let report = up.finish(Duration::from_secs(20)).unwrap();
    assert_eq!(report.acked, n as u64, "{report}");
    assert_eq!(
        report.destinations[0].acked, n as u64,
        "acks per event: {report}"
    );

    let mut ids = BTreeSet::new();
    let mut seqs = BTreeSet::new();
    let mut msgs = 0;
    while seqs.len() < n {
        let Some(m) = col.next(Duration::from_secs(5)).unwrap() else {
            break;
        };
        msgs += 1;
        assert_eq!(m.topic, "cirt/zb/events/batch");
        assert_eq!(m.content_type.as_deref(), Some("application/x-ndjson"));
        assert!(m.payload.starts_with(&ZSTD_MAGIC));
        let prop = |k: &str| {
            m.user_properties
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.clone())
                .unwrap()
        };
        assert_eq!(prop("content-encoding"), "zstd");
        let events = m.events().unwrap();
        assert_eq!(prop("count"), events.len().to_string());
        let parsed: Vec<serde_json::Value> = events
            .iter()
            .map(|e| serde_json::from_slice(e).unwrap())
            .collect();
        assert_eq!(
            parsed[0]["event_id"].as_str().unwrap(),
            prop("first_event_id")
        );
        assert_eq!(
            parsed.last().unwrap()["event_id"].as_str().unwrap(),
            prop("last_event_id")
        );
        for v in parsed {
            ids.insert(v["event_id"].as_str().unwrap().to_string());
            seqs.insert(v["seq"].as_u64().unwrap());
        }
    }
    assert_eq!(msgs, batches, "full batches of {per}");
    assert_eq!(seqs, (0..n as u64).collect());
    assert_eq!(ids.len(), n);

    let t0 = Instant::now();
    while one_liner.try_wait().unwrap().is_none() && t0.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = one_liner.kill();
    let _ = one_liner.wait();
    let text = reader.join().unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let via_cli: BTreeSet<u64> = lines.iter().map(|v| v["seq"].as_u64().unwrap()).collect();
    assert_eq!(
        lines.len(),
        n,
        "mosquitto_sub -N | zstd -dcq gives one line per event"
    );
    assert_eq!(via_cli, (0..n as u64).collect());
}

fn mosquitto_pub(broker: &Mosquitto, topic: &str, file: &Path, retain: bool) {
    let port = broker.port().to_string();
    let mut args = vec![
        "-h",
        "127.0.0.1",
        "-p",
        &port,
        "-V",
        "5",
        "-q",
        "1",
        "-t",
        topic,
    ];
    if retain {
        args.push("-r");
    }
    let f = file.to_str().unwrap();
    args.extend(["-f", f]);
    let st = Command::new("mosquitto_pub").args(&args).status().unwrap();
    assert!(st.success());
}

#[test]
fn rule_bundles_arrive_on_the_command_channel_and_results_go_back() {
    if !mosquitto_or_skip("commands") || !tools_or_skip("commands") {
        return;
    }
    let broker = Mosquitto::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut d = dest("national", &broker.url(), "c1");
    d.protocol = Protocol::V5;
    d.commands = true;
    let mut cfg = config("c1", &dir.path().join("spool"), vec![d]);
    cfg.command_queue = 2;
    cfg.max_command_bytes = 4096;
    let up = Uplink::start_with(cfg).unwrap();
    let rx = up.commands().unwrap();
    assert!(up.commands().is_none(), "one receiver");

    let key = bundle::generate_key().unwrap();
    let files = vec![BundleFile {
        name: "local.rules".into(),
        data: b"alert tcp any any -> any 80 (msg:\"t\"; sid:1;)\n".to_vec(),
    }];
    let signed = bundle::create(&key, "2026.1", "2026-12-06T00:00:00+0000", &files).unwrap();
    let path = dir.path().join("b.bin");
    std::fs::write(&path, &signed).unwrap();
    // Retained, as the CIRT should publish it: a sensor that (re)connects
    // later still gets the current bundle.
    mosquitto_pub(&broker, "cirt/c1/cmd/rules", &path, true);
    let cmd = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(cmd.topic, "cirt/c1/cmd/rules");
    assert_eq!(cmd.destination, "national");
    let ok = bundle::verify(&cmd.payload, &[key.verifying_key()]).unwrap();
    assert_eq!((ok.version.as_str(), ok.files), ("2026.1", files));

    // Tampered on the way: refused with a reason.
    let mut bad = signed.clone();
    let last = bad.len() - 3;
    bad[last] ^= 0x20;
    std::fs::write(&path, &bad).unwrap();
    mosquitto_pub(&broker, "cirt/c1/cmd/rules", &path, false);
    let cmd = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    assert!(matches!(
        bundle::verify(&cmd.payload, &[key.verifying_key()]),
        Err(BundleError::HashMismatch { .. })
    ));

    // Results travel through the spool to cmd/result.
    let results = Subscriber::start(&broker.url(), "cirt/c1/cmd/result").unwrap();
    up.publish_result(
        CommandResult {
            command: "rules".into(),
            applied: true,
            version: Some("2026.1".into()),
            reason: None,
        }
        .to_json(),
    )
    .unwrap();
    up.publish_result(
        CommandResult {
            command: "rules".into(),
            applied: false,
            version: Some("2026.1".into()),
            reason: Some("sha256 mismatch".into()),
        }
        .to_json(),
    )
    .unwrap();
    let got = results.collect(2, Duration::from_secs(10));
    assert_eq!(got.len(), 2);
    let v: Vec<serde_json::Value> = got
        .iter()
        .map(|(_, p)| serde_json::from_slice(p).unwrap())
        .collect();
    assert_eq!(v[0]["status"], "applied");
    assert_eq!(v[1]["status"], "rejected");
    assert!(v[0]["event_id"].is_string());

    // Bounds: too large, and a full queue, are counted.
    std::fs::write(&path, vec![b'x'; 5000]).unwrap();
    mosquitto_pub(&broker, "cirt/c1/cmd/rules", &path, false);
    std::fs::write(&path, b"small").unwrap();
    for _ in 0..4 {
        mosquitto_pub(&broker, "cirt/c1/cmd/rules", &path, false);
    }
    let t0 = Instant::now();
    let want = (2 + 2, 1 + 2);
    let mut s = up.stats();
    while (s.commands_received, s.commands_refused) != want
        && t0.elapsed() < Duration::from_secs(10)
    {
        std::thread::sleep(Duration::from_millis(20));
        s = up.stats();
    }
    assert_eq!((s.commands_received, s.commands_refused), want, "{s:?}");
    let report = up.finish(Duration::from_secs(10)).unwrap();
    assert!(report.all_acked(), "{report}");
}

#[test]
fn bridged_grc_broker_gets_only_pseudonymised_summaries() {
    if !mosquitto_or_skip("bridge") || !tools_or_skip("bridge") {
        return;
    }
    let grc = Mosquitto::start().unwrap();
    // The national broker forwards summary topics only (see the uplink docs).
    let national = Mosquitto::start_with_config(&BrokerConfig {
        extra: Some(format!(
            "connection grc\naddress 127.0.0.1:{}\ntopic cirt/+/summary/# out 1\n\
             bridge_protocol_version mqttv311\ncleansession true\nrestart_timeout 1\n\
             try_private true\n",
            grc.port()
        )),
        ..BrokerConfig::default()
    })
    .unwrap();
    let everything_at_grc = Subscriber::start(&grc.url(), "#").unwrap();
    // Wait until the bridge forwards (a probe on a summary topic).
    let probe = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(probe.path(), b"probe").unwrap();
    let t0 = Instant::now();
    loop {
        mosquitto_pub(&national, "cirt/probe/summary/x", probe.path(), false);
        if !everything_at_grc
            .collect(1, Duration::from_millis(300))
            .is_empty()
        {
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(15), "{}", national.log());
    }
    everything_at_grc.drain(Duration::from_millis(300));
    let national_sub = Subscriber::start(&national.url(), "cirt/s9/events/#").unwrap();

    let dir = tempfile::tempdir().unwrap();
    let full = dest("national", &national.url(), "s9");
    let mut sum = dest("grc", &national.url(), "s9");
    sum.topic_prefix = "cirt/s9/summary".into();
    sum.status_topic = "cirt/s9/status/grc".into();
    sum.policy = Policy::Summary(SummaryPolicy {
        window: Duration::from_secs(1),
        home_nets: vec![
            IpNet::parse("10.0.0.0/8").unwrap(),
            IpNet::parse("192.168.0.0/16").unwrap(),
        ],
        pseudonymise: Pseudonymise::Hmac {
            key: b"national secret key".to_vec(),
        },
        tlp: Tlp::Amber,
    });
    let up = Uplink::start_with(config("s9", dir.path(), vec![full, sum])).unwrap();
    let tx = up.sender();
    let home = ["10.20.30.40", "192.168.77.88"];
    let n = 300;
    for i in 0..n {
        let (src, dst) = if i % 2 == 0 {
            ("203.0.113.9", home[i % 4 / 2])
        } else {
            (home[i % 4 / 2], "198.51.100.3")
        };
        let alert = format!(
            r#"{{"timestamp":"2026-12-06T09:00:00.000000+0000","event_type":"alert","src_ip":"{src}","src_port":{},"dest_ip":"{dst}","dest_port":443,"proto":"TCP","alert":{{"signature_id":{},"signature":"ET TEST {}","category":"c","severity":2}}}}"#,
            1024 + i,
            i % 3,
            i % 3
        );
        tx.send("alert", alert.into_bytes()).unwrap();
        let flow = format!(
            r#"{{"event_type":"flow","src_ip":"{src}","dest_ip":"{dst}","proto":"TCP","flow":{{"pkts_toserver":3,"pkts_toclient":2,"bytes_toserver":300,"bytes_toclient":200}}}}"#
        );
        tx.send("flow", flow.into_bytes()).unwrap();
        let dns = format!(
            r#"{{"event_type":"dns","src_ip":"{src}","dest_ip":"{dst}","dns":{{"rrname":"intranet.example"}}}}"#
        );
        tx.send("dns", dns.into_bytes()).unwrap();
    }
    let report = up.finish(Duration::from_secs(20)).unwrap();
    assert_eq!(report.acked, 3 * n as u64, "{report}");

    let national_got = national_sub.collect(3 * n, Duration::from_secs(10));
    assert_eq!(
        national_got.len(),
        3 * n,
        "the national CIRT gets every event"
    );
    assert!(
        national_got
            .iter()
            .any(|(_, p)| String::from_utf8_lossy(p).contains(home[0])),
        "the scan below would see a home address"
    );
    let mut got = everything_at_grc.collect(1, Duration::from_secs(10));
    got.extend(everything_at_grc.drain(Duration::from_secs(2)));
    assert!(!got.is_empty(), "summaries reach the GRC");
    let mut alerts = 0;
    for (topic, payload) in &got {
        assert!(
            topic.starts_with("cirt/s9/summary/"),
            "only summaries: {topic}"
        );
        let text = String::from_utf8_lossy(payload);
        for h in home {
            assert!(!text.contains(h), "home address {h} in clear: {text}");
        }
        assert!(
            !text.contains("\"10.") && !text.contains("\"192.168."),
            "{text}"
        );
        assert!(!text.contains("intranet.example"), "{text}");
        let v: serde_json::Value = serde_json::from_slice(payload).unwrap();
        assert_eq!(v["tlp"], "TLP:AMBER", "{text}");
        if topic.ends_with("alert_summary") {
            alerts += v["count"].as_u64().unwrap();
        }
    }
    assert_eq!(alerts, n as u64, "every alert is counted in a summary");
    eprintln!("bridge: GRC received {} messages, all summaries", got.len());
}
