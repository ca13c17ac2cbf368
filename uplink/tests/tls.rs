//! TLS, ACLs, MQTT 5 and shared subscriptions against real mosquitto
//! brokers, with certificates made by the test (rcgen).

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};
use uplink::test_broker::{mosquitto_or_skip, BrokerConfig, Mosquitto, Subscriber, TlsListener};
use uplink::{DestinationConfig, Protocol, TlsConfig, Uplink, UplinkConfig};

struct Ca {
    cert: rcgen::Certificate,
    key: KeyPair,
}

fn make_ca(name: &str) -> Ca {
    let key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name.push(DnType::CommonName, name);
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let cert = p.self_signed(&key).unwrap();
    Ca { cert, key }
}

/// (certificate PEM, key PEM) signed by `ca`.
fn leaf(ca: &Ca, name: &str, server: bool) -> (String, String) {
    let key = KeyPair::generate().unwrap();
    let sans = if server {
        vec!["localhost".to_string(), "127.0.0.1".to_string()]
    } else {
        Vec::new()
    };
    let mut p = CertificateParams::new(sans).unwrap();
    p.distinguished_name.push(DnType::CommonName, name);
    p.extended_key_usages = vec![if server {
        ExtendedKeyUsagePurpose::ServerAuth
    } else {
        ExtendedKeyUsagePurpose::ClientAuth
    }];
    let cert = p.signed_by(&key, &ca.cert, &ca.key).unwrap();
    (cert.pem(), key.serialize_pem())
}

struct Pki {
    dir: tempfile::TempDir,
    broker: Mosquitto,
}

impl Pki {
    fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    }
}

/// A broker requiring client certificates from `ca`, and a spool dir.
fn tls_broker(ca: &Ca) -> Pki {
    let (cert_pem, key_pem) = leaf(ca, "broker", true);
    let broker = Mosquitto::start_with_config(&BrokerConfig {
        tls: Some(TlsListener {
            ca_pem: ca.cert.pem(),
            cert_pem,
            key_pem,
            require_certificate: true,
        }),
        ..BrokerConfig::default()
    })
    .unwrap();
    Pki {
        dir: tempfile::tempdir().unwrap(),
        broker,
    }
}

fn dest(url: &str, sensor: &str, tls: Option<TlsConfig>) -> DestinationConfig {
    let mut d = DestinationConfig::new("national", url, sensor);
    d.allow_plaintext = tls.is_none();
    d.tls = tls;
    d.reconnect_backoff_max = Duration::from_millis(300);
    d.connect_timeout = Duration::from_secs(2);
    d
}

fn config(sensor: &str, dir: &Path, d: DestinationConfig) -> UplinkConfig {
    let mut c = UplinkConfig::new(sensor, dir.join("spool"));
    c.spool = uplink::SpoolOptions::with_max_bytes(16 << 20);
    c.destinations = vec![d];
    c
}

fn send(up: &Uplink, n: usize, event_type: &str) {
    let tx = up.sender();
    for i in 0..n {
        tx.send(
            event_type,
            format!(r#"{{"event_type":"{event_type}","seq":{i}}}"#).into_bytes(),
        )
        .unwrap();
    }
}

#[test]
fn mutual_tls_is_accepted() {
    if !mosquitto_or_skip("mutual_tls") {
        return;
    }
    let ca = make_ca("test CA");
    let pki = tls_broker(&ca);
    let (c, k) = leaf(&ca, "sensor-1", false);
    let tls = TlsConfig {
        ca_file: pki.write("ca.pem", &ca.cert.pem()),
        client_cert: Some(pki.write("client.pem", &c)),
        client_key: Some(pki.write("client.key", &k)),
    };
    let sub = Subscriber::start(&pki.broker.url(), "cirt/tls/events/#").unwrap();
    let url = pki.broker.tls_url().unwrap();
    let up =
        Uplink::start_with(config("tls", pki.dir.path(), dest(&url, "tls", Some(tls)))).unwrap();
    send(&up, 200, "alert");
    let report = up.finish(Duration::from_secs(10)).unwrap();
    assert_eq!(report.acked, 200, "{report}");
    assert_eq!(report.destinations[0].connect_failures, 0, "{report}");
    assert_eq!(sub.collect(200, Duration::from_secs(10)).len(), 200);
}

#[test]
fn wrong_client_certificate_or_unknown_server_ca_is_refused_with_a_clear_error() {
    if !mosquitto_or_skip("wrong_client_cert") {
        return;
    }
    let ca = make_ca("test CA");
    let rogue = make_ca("rogue CA");
    let pki = tls_broker(&ca);
    let url = pki.broker.tls_url().unwrap();

    // A client certificate the broker does not trust.
    let (c, k) = leaf(&rogue, "intruder", false);
    let tls = TlsConfig {
        ca_file: pki.write("ca.pem", &ca.cert.pem()),
        client_cert: Some(pki.write("rogue.pem", &c)),
        client_key: Some(pki.write("rogue.key", &k)),
    };
    let up =
        Uplink::start_with(config("bad", pki.dir.path(), dest(&url, "bad", Some(tls)))).unwrap();
    send(&up, 5, "alert");
    std::thread::sleep(Duration::from_millis(1500));
    let report = up.finish(Duration::from_secs(1)).unwrap();
    let d = &report.destinations[0];
    assert_eq!((d.acked, d.connections), (0, 0), "{report}");
    assert!(d.connect_failures >= 1, "{report}");
    let err = d.last_error.clone().unwrap_or_default();
    eprintln!("wrong client certificate: {err}");
    assert!(
        err.contains("TLS") && err.contains("client certificate") && err.contains("UnknownCA"),
        "{err}"
    );
    assert_eq!(report.unacked, 5, "kept in the spool, not lost");

    // A broker whose certificate does not chain to our CA.
    let (c, k) = leaf(&ca, "sensor", false);
    let tls = TlsConfig {
        ca_file: pki.write("rogue-ca.pem", &rogue.cert.pem()),
        client_cert: Some(pki.write("c.pem", &c)),
        client_key: Some(pki.write("c.key", &k)),
    };
    let dir = tempfile::tempdir().unwrap();
    let up = Uplink::start_with(config("bad2", dir.path(), dest(&url, "bad2", Some(tls)))).unwrap();
    std::thread::sleep(Duration::from_millis(800));
    let report = up.finish(Duration::from_secs(1)).unwrap();
    let err = report.destinations[0]
        .last_error
        .clone()
        .unwrap_or_default();
    eprintln!("unknown server CA: {err}");
    assert!(
        err.contains("TLS") && err.contains("UnknownIssuer"),
        "{err}"
    );

    // Plaintext to a TLS-only configuration is refused before any socket.
    let plain = DestinationConfig::new("national", &pki.broker.url(), "p");
    let e = Uplink::start_with(config("p", dir.path(), plain)).unwrap_err();
    assert!(e.to_string().contains("allow_plaintext"), "{e}");
}

#[test]
fn acl_denials_are_reported_with_mqtt5() {
    if !mosquitto_or_skip("acl_mqtt5") {
        return;
    }
    let broker = Mosquitto::start_with_config(&BrokerConfig {
        acl: Some(
            "topic readwrite cirt/acl/events/alert\ntopic readwrite cirt/acl/status\ntopic read #\n"
                .into(),
        ),
        ..BrokerConfig::default()
    })
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut d = dest(&broker.url(), "acl", None);
    d.protocol = Protocol::V5;
    let up = Uplink::start_with(config("acl", dir.path(), d)).unwrap();
    send(&up, 10, "alert");
    send(&up, 7, "dns");
    let report = up.finish(Duration::from_secs(10)).unwrap();
    let d = &report.destinations[0];
    eprintln!("acl: {report}");
    assert_eq!((d.acked, d.refused), (10, 7), "{report}");
    assert!(
        d.last_error
            .as_deref()
            .unwrap_or("")
            .contains("NotAuthorized"),
        "{report}"
    );
    assert_eq!(report.unacked, 0, "refused events are not retried forever");
}

#[test]
fn shared_subscription_group_receives_every_event_once() {
    if !mosquitto_or_skip("shared_subscription") {
        return;
    }
    let broker = Mosquitto::start().unwrap();
    let filter = "$share/collectors/cirt/+/events/#";
    let a = Subscriber::start_v5(&broker.url(), filter).unwrap();
    let b = Subscriber::start_v5(&broker.url(), filter).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut d = dest(&broker.url(), "sh", None);
    d.protocol = Protocol::V5;
    let up = Uplink::start_with(config("sh", dir.path(), d)).unwrap();
    let n = 1000;
    send(&up, n, "flow");
    let report = up.finish(Duration::from_secs(10)).unwrap();
    assert_eq!(report.acked, n as u64, "{report}");
    let mut got_a = a.collect(1, Duration::from_secs(5));
    got_a.extend(a.drain(Duration::from_millis(500)));
    let got_b = b.drain(Duration::from_millis(300));
    let ids = |m: &[(String, Vec<u8>)]| -> Vec<String> {
        m.iter()
            .map(|(_, p)| {
                let v: serde_json::Value = serde_json::from_slice(p).unwrap();
                v["event_id"].as_str().unwrap().to_string()
            })
            .collect()
    };
    let (ia, ib) = (ids(&got_a), ids(&got_b));
    eprintln!("shared: a {} b {}", ia.len(), ib.len());
    assert!(!ia.is_empty() && !ib.is_empty(), "both members get work");
    let all: BTreeSet<&String> = ia.iter().chain(&ib).collect();
    assert_eq!(ia.len() + ib.len(), n, "each event once");
    assert_eq!(all.len(), n);
}
