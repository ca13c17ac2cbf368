//! `sensor tail --mqtt URL [--topic T] [--json]`: an operator's live view of
//! what sensors publish, one line per event. Batches (zstd or plain JSON
//! lines, see `uplink::engine`) are expanded transparently, so the view is
//! the same whatever a destination's batching; `--json` prints each event's
//! JSON unchanged, one per line, for `jq`.
//!
//! The subscription is MQTT 5 with QoS 1 and a clean session: tail shows
//! what arrives while it runs, and never takes messages away from the
//! collectors (do not use a `$share/...` group here).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Args;
use serde_json::Value;
use uplink::collect::{Collector, Message};

/// `sensor tail`.
#[derive(Debug, Args)]
pub struct TailArgs {
    /// Broker, e.g. mqtt://127.0.0.1:1883 or mqtts://broker:8883 (with --ca).
    #[arg(long, value_name = "URL")]
    mqtt: String,
    /// Topic filter (default: the events of every sensor).
    #[arg(long, value_name = "T", default_value = "cirt/+/events/#")]
    topic: String,
    /// Print each event's JSON as received, one per line.
    #[arg(long)]
    json: bool,
    /// Exit after this many events.
    #[arg(long, value_name = "N")]
    count: Option<u64>,
    /// Exit after this many seconds.
    #[arg(long, value_name = "SECS")]
    duration: Option<u64>,
    /// CA file for mqtts://.
    #[arg(long, value_name = "PEM")]
    ca: Option<PathBuf>,
    /// Client certificate for mutual TLS.
    #[arg(long, value_name = "PEM", requires = "key")]
    cert: Option<PathBuf>,
    /// Client key for mutual TLS.
    #[arg(long, value_name = "PEM", requires = "cert")]
    key: Option<PathBuf>,
}

/// Runs `sensor tail` until interrupted (or `--count`/`--duration`).
pub fn run(a: &TailArgs) -> anyhow::Result<ExitCode> {
    let tls = a.ca.as_ref().map(|ca| uplink::TlsConfig {
        ca_file: ca.clone(),
        client_cert: a.cert.clone(),
        client_key: a.key.clone(),
    });
    let id = format!("sensor-tail-{}", std::process::id());
    let mut col = Collector::connect(&a.mqtt, &a.topic, &id, tls)?;
    eprintln!("sensor tail: subscribed to {} on {}", a.topic, a.mqtt);
    let end = a.duration.map(|s| Instant::now() + Duration::from_secs(s));
    let mut shown = 0u64;
    let stdout = std::io::stdout();
    loop {
        if a.count.is_some_and(|c| shown >= c) || end.is_some_and(|e| Instant::now() >= e) {
            return Ok(ExitCode::SUCCESS);
        }
        let msg = match col.next(Duration::from_millis(500)) {
            Ok(Some(m)) => m,
            Ok(None) => continue,
            Err(e) => {
                eprintln!("sensor tail: {e}; reconnecting");
                continue;
            }
        };
        let mut out = stdout.lock();
        for line in lines(&msg, a.json) {
            if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
                // The reader went away (`| head`): not an error.
                return Ok(ExitCode::SUCCESS);
            }
            shown += 1;
            if a.count.is_some_and(|c| shown >= c) {
                break;
            }
        }
    }
}

/// The output lines for one message (one per event).
pub fn lines(msg: &Message, json: bool) -> Vec<String> {
    match msg.events() {
        Ok(events) => events
            .iter()
            .map(|e| {
                if json {
                    String::from_utf8_lossy(e).trim_end().to_string()
                } else {
                    match serde_json::from_slice::<Value>(e) {
                        Ok(v) => one_line(&msg.topic, &v),
                        Err(_) => format!("{}: {} bytes, not JSON", msg.topic, e.len()),
                    }
                }
            })
            .collect(),
        Err(e) => vec![format!("{}: bad batch: {e}", msg.topic)],
    }
}

fn s<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(v, |v, k| v.get(*k))
}

fn text(v: &Value, path: &[&str]) -> String {
    match s(v, path) {
        Some(Value::String(x)) => x.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

fn endpoint(v: &Value, ip: &str, port: &str) -> String {
    let ip = text(v, &[ip]);
    let port = text(v, &[port]);
    match (ip.contains(':'), port.is_empty()) {
        (_, true) => ip,
        (true, false) => format!("[{ip}]:{port}"),
        (false, false) => format!("{ip}:{port}"),
    }
}

/// One event as `time type src -> dst proto detail`.
pub fn one_line(topic: &str, v: &Value) -> String {
    let ty = text(v, &["event_type"]);
    let ty = if ty.is_empty() {
        topic.rsplit('/').next().unwrap_or("").to_string()
    } else {
        ty
    };
    let mut time = text(v, &["timestamp"]);
    if time.is_empty() {
        time = text(v, &["last_seen"]);
    }
    let src = endpoint(v, "src_ip", "src_port");
    let dst = endpoint(v, "dest_ip", "dest_port");
    let proto = text(v, &["proto"]);
    let detail = match ty.as_str() {
        "alert" => format!(
            "[{}:{}:{}] {} (severity {})",
            text(v, &["alert", "gid"]),
            text(v, &["alert", "signature_id"]),
            text(v, &["alert", "rev"]),
            text(v, &["alert", "signature"]),
            text(v, &["alert", "severity"])
        ),
        "dns" => {
            let q = s(v, &["dns", "queries", "0"]).or_else(|| {
                s(v, &["dns", "queries"])
                    .and_then(|q| q.get(0))
                    .or_else(|| s(v, &["dns"]))
            });
            let q = q.unwrap_or(&Value::Null);
            format!(
                "{} {} {}",
                text(v, &["dns", "type"]),
                text(q, &["rrname"]),
                text(q, &["rrtype"])
            )
        }
        "http" => format!(
            "{} {}{} {}",
            text(v, &["http", "http_method"]),
            text(v, &["http", "hostname"]),
            text(v, &["http", "url"]),
            text(v, &["http", "status"])
        ),
        "tls" => format!(
            "sni={} {}",
            text(v, &["tls", "sni"]),
            text(v, &["tls", "version"])
        ),
        "flow" => format!(
            "pkts {}/{} bytes {}/{} {}",
            text(v, &["flow", "pkts_toserver"]),
            text(v, &["flow", "pkts_toclient"]),
            text(v, &["flow", "bytes_toserver"]),
            text(v, &["flow", "bytes_toclient"]),
            text(v, &["flow", "state"])
        ),
        "alert_summary" => format!(
            "x{} [{}] {} {}",
            text(v, &["count"]),
            text(v, &["signature_id"]),
            text(v, &["signature"]),
            text(v, &["tlp"])
        ),
        "command_result" => format!(
            "{} {} {} {}",
            text(v, &["command"]),
            text(v, &["status"]),
            text(v, &["version"]),
            text(v, &["reason"])
        ),
        _ => String::new(),
    };
    let flow = if src.is_empty() && dst.is_empty() {
        String::new()
    } else {
        format!(" {src} -> {dst} {proto}")
    };
    format!("{time} {ty:<13}{flow} {}", detail.trim_end())
        .trim_end()
        .to_string()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn lines_name_what_happened() {
        let v: Value = serde_json::from_str(
            r#"{"timestamp":"T","event_type":"alert","src_ip":"10.0.0.1","src_port":1234,"dest_ip":"::1","dest_port":80,"proto":"TCP","alert":{"gid":1,"signature_id":9,"rev":2,"signature":"ET X","severity":1}}"#,
        )
        .unwrap();
        assert_eq!(
            one_line("cirt/s/events/alert", &v),
            "T alert         10.0.0.1:1234 -> [::1]:80 TCP [1:9:2] ET X (severity 1)"
        );
        let v: Value = serde_json::from_str(
            r#"{"timestamp":"T","event_type":"tls","src_ip":"a","dest_ip":"b","tls":{"sni":"ex.org","version":"TLS 1.3"}}"#,
        )
        .unwrap();
        assert!(one_line("t", &v).ends_with("sni=ex.org TLS 1.3"));
        let v: Value = serde_json::from_str(
            r#"{"event_type":"dns","dns":{"type":"query","rrname":"a.example","rrtype":"A"}}"#,
        )
        .unwrap();
        assert!(
            one_line("t", &v).contains("query a.example A"),
            "{}",
            one_line("t", &v)
        );
    }

    #[test]
    fn batches_are_expanded_and_garbage_is_reported() {
        let lines_in = b"{\"event_type\":\"flow\"}\n{\"event_type\":\"dns\"}\n";
        let msg = Message {
            topic: "cirt/s/events/batch".into(),
            payload: zstd_frame(lines_in),
            ..Message::default()
        };
        assert_eq!(
            lines(&msg, true),
            vec!["{\"event_type\":\"flow\"}", "{\"event_type\":\"dns\"}"]
        );
        let bad = Message {
            topic: "x".into(),
            payload: vec![0x28, 0xb5, 0x2f, 0xfd, 1, 2],
            ..Message::default()
        };
        assert!(lines(&bad, false)[0].contains("bad batch"));
    }

    fn zstd_frame(data: &[u8]) -> Vec<u8> {
        // A raw (uncompressed) zstd frame, so that no zstd encoder is needed here.
        let mut f = vec![0x28, 0xb5, 0x2f, 0xfd, 0x20, data.len() as u8];
        let header = ((data.len() as u32) << 3) | 1; // last block, raw
        f.extend_from_slice(&header.to_le_bytes()[..3]);
        f.extend_from_slice(data);
        f
    }
}
