//! The `summary` policy: what a destination outside the country (the
//! global response centre) receives instead of raw events.
//!
//! Pure code (no I/O, no clock of its own), so that what leaves the country
//! is decided in one small, unit-tested place:
//!
//! * alerts are aggregated per (signature, source, destination) over a
//!   window into `alert_summary` messages with `count`, `first_seen`,
//!   `last_seen` (the events' own timestamps);
//! * flows become one `flow_summary` per window with totals (flows,
//!   packets, bytes, per protocol);
//! * every address inside the configured home networks is replaced by a
//!   keyed HMAC-SHA256 pseudonym (`anon:` + 16 hex digits, stable for one key,
//!   so repeated sightings still correlate) or truncated to a prefix;
//! * every message carries `"tlp":"TLP:..."`;
//! * nothing else leaves: other event types, ports, payloads, flow ids,
//!   HTTP/DNS/TLS details are dropped. Events that do not parse as JSON
//!   objects are counted and dropped.
//!
//! EVE parsing happens here, on the uplink thread, never on capture threads.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use hmac::{Hmac, Mac};
use serde_json::{json, Map, Value};
use sha2::Sha256;

use crate::error::UplinkError;

/// Traffic Light Protocol marking put on every summary message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tlp {
    /// `TLP:CLEAR`
    Clear,
    /// `TLP:GREEN`
    Green,
    /// `TLP:AMBER`
    Amber,
    /// `TLP:RED`
    Red,
}

impl Tlp {
    /// The marking as written in messages, e.g. `TLP:AMBER`.
    pub fn as_str(self) -> &'static str {
        match self {
            Tlp::Clear => "TLP:CLEAR",
            Tlp::Green => "TLP:GREEN",
            Tlp::Amber => "TLP:AMBER",
            Tlp::Red => "TLP:RED",
        }
    }

    /// Parses `TLP:CLEAR`, `clear`, `white` (TLP 1.0 name of CLEAR), ... case-insensitively.
    pub fn parse(s: &str) -> Result<Tlp, UplinkError> {
        let l = s.trim().to_ascii_lowercase();
        match l.strip_prefix("tlp:").unwrap_or(&l) {
            "clear" | "white" => Ok(Tlp::Clear),
            "green" => Ok(Tlp::Green),
            "amber" => Ok(Tlp::Amber),
            "red" => Ok(Tlp::Red),
            _ => Err(UplinkError::InvalidConfig(format!(
                "unknown TLP marking {s:?}; use TLP:CLEAR, TLP:GREEN, TLP:AMBER or TLP:RED"
            ))),
        }
    }
}

/// An IP network, `addr/prefix`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    /// Network address.
    pub addr: IpAddr,
    /// Prefix length in bits.
    pub prefix: u8,
}

impl IpNet {
    /// Parses `10.0.0.0/8`, `2001:db8::/32` or a single address.
    pub fn parse(s: &str) -> Result<IpNet, UplinkError> {
        let bad = |why: &str| UplinkError::InvalidConfig(format!("home network {s:?}: {why}"));
        let (a, p) = s.trim().split_once('/').unwrap_or((s.trim(), ""));
        let addr: IpAddr = a.parse().map_err(|_| bad("not an IP address"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = if p.is_empty() {
            max
        } else {
            p.parse::<u8>()
                .ok()
                .filter(|&n| n <= max)
                .ok_or_else(|| bad("bad prefix length"))?
        };
        Ok(IpNet { addr, prefix })
    }

    /// Whether `ip` lies in this network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                mask(u128::from(u32::from(n)), 32, self.prefix)
                    == mask(u128::from(u32::from(a)), 32, self.prefix)
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                mask(u128::from(n), 128, self.prefix) == mask(u128::from(a), 128, self.prefix)
            }
            _ => false,
        }
    }
}

fn mask(v: u128, bits: u8, prefix: u8) -> u128 {
    if prefix == 0 {
        return 0;
    }
    let keep = u32::from(prefix.min(bits));
    let shift = u32::from(bits) - keep;
    (v >> shift) << shift
}

/// How home-network addresses are hidden.
#[derive(Clone, PartialEq, Eq)]
pub enum Pseudonymise {
    /// `anon:` + first 8 bytes of HMAC-SHA256(key, address bytes), in hex.
    Hmac {
        /// Secret key from the configuration (at least 16 bytes).
        key: Vec<u8>,
    },
    /// Keep only the first bits: `10.1.0.0/16`.
    Truncate {
        /// Prefix length kept for IPv4.
        v4_prefix: u8,
        /// Prefix length kept for IPv6.
        v6_prefix: u8,
    },
}

impl std::fmt::Debug for Pseudonymise {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            // Never print the key.
            Pseudonymise::Hmac { .. } => f.write_str("Hmac { key: <redacted> }"),
            Pseudonymise::Truncate {
                v4_prefix,
                v6_prefix,
            } => write!(
                f,
                "Truncate {{ v4_prefix: {v4_prefix}, v6_prefix: {v6_prefix} }}"
            ),
        }
    }
}

/// Settings of the `summary` policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SummaryPolicy {
    /// Aggregation window (alerts) and flow totals period.
    pub window: Duration,
    /// Networks whose addresses are pseudonymised.
    pub home_nets: Vec<IpNet>,
    /// How they are pseudonymised.
    pub pseudonymise: Pseudonymise,
    /// Marking on every message.
    pub tlp: Tlp,
}

impl SummaryPolicy {
    /// Checks the window and the key.
    pub fn validate(&self) -> Result<(), UplinkError> {
        if self.window < Duration::from_secs(1) {
            return Err(UplinkError::InvalidConfig(
                "summary window must be at least one second".into(),
            ));
        }
        if let Pseudonymise::Hmac { key } = &self.pseudonymise {
            if key.len() < 16 {
                return Err(UplinkError::InvalidConfig(
                    "pseudonymisation key must be at least 16 bytes".into(),
                ));
            }
        }
        Ok(())
    }

    /// The address as it may leave: unchanged outside the home networks,
    /// pseudonymised inside. Unparsable addresses are withheld.
    pub fn hide(&self, ip: &str) -> String {
        let Ok(addr) = ip.parse::<IpAddr>() else {
            return "withheld".to_string();
        };
        if !self.home_nets.iter().any(|n| n.contains(addr)) {
            return addr.to_string();
        }
        match &self.pseudonymise {
            Pseudonymise::Hmac { key } => {
                let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
                    return "withheld".to_string();
                };
                match addr {
                    IpAddr::V4(a) => mac.update(&a.octets()),
                    IpAddr::V6(a) => mac.update(&a.octets()),
                }
                let tag = mac.finalize().into_bytes();
                let hex: String = tag[..8].iter().map(|b| format!("{b:02x}")).collect();
                format!("anon:{hex}")
            }
            Pseudonymise::Truncate {
                v4_prefix,
                v6_prefix,
            } => match addr {
                IpAddr::V4(a) => {
                    let p = (*v4_prefix).min(32);
                    let m = mask(u128::from(u32::from(a)), 32, p);
                    let v = u32::try_from(m).unwrap_or(0);
                    format!("{}/{p}", std::net::Ipv4Addr::from(v))
                }
                IpAddr::V6(a) => {
                    let p = (*v6_prefix).min(128);
                    format!(
                        "{}/{p}",
                        std::net::Ipv6Addr::from(mask(u128::from(a), 128, p))
                    )
                }
            },
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct AlertKey {
    signature_id: u64,
    signature: String,
    src: String,
    dest: String,
}

#[derive(Debug, Clone)]
struct AlertAgg {
    category: Value,
    severity: Value,
    count: u64,
    first_seen: String,
    last_seen: String,
}

#[derive(Debug, Default, Clone)]
struct FlowTotals {
    flows: u64,
    pkts: u64,
    bytes: u64,
    by_proto: BTreeMap<String, u64>,
}

/// Counters of an aggregator.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SummaryCounters {
    /// Events folded into a summary.
    pub summarised: u64,
    /// Events of other types, withheld by policy.
    pub withheld: u64,
    /// Events that are not JSON objects.
    pub unparsable: u64,
}

/// Aggregates events of one window. Feed it with [`Aggregator::add`];
/// [`Aggregator::flush`] returns the messages of the window and starts the next.
#[derive(Debug)]
pub struct Aggregator {
    policy: SummaryPolicy,
    sensor_id: String,
    alerts: BTreeMap<AlertKey, AlertAgg>,
    flows: FlowTotals,
    counters: SummaryCounters,
}

fn str_field<'a>(v: &'a Map<String, Value>, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("")
}

impl Aggregator {
    /// A new aggregator for `policy`, labelling messages with `sensor_id`.
    pub fn new(policy: SummaryPolicy, sensor_id: &str) -> Self {
        Aggregator {
            policy,
            sensor_id: sensor_id.to_string(),
            alerts: BTreeMap::new(),
            flows: FlowTotals::default(),
            counters: SummaryCounters::default(),
        }
    }

    /// Counters so far.
    pub fn counters(&self) -> SummaryCounters {
        self.counters
    }

    /// Whether nothing is waiting for the next flush.
    pub fn is_empty(&self) -> bool {
        self.alerts.is_empty() && self.flows.flows == 0
    }

    /// Folds one serialised EVE event into the current window.
    pub fn add(&mut self, event_type: &str, payload: &[u8]) {
        let Ok(Value::Object(ev)) = serde_json::from_slice::<Value>(payload) else {
            self.counters.unparsable += 1;
            return;
        };
        match event_type {
            "alert" => {
                let alert = ev.get("alert").and_then(Value::as_object);
                let get = |k: &str| alert.and_then(|a| a.get(k)).cloned();
                let key = AlertKey {
                    signature_id: get("signature_id").and_then(|v| v.as_u64()).unwrap_or(0),
                    signature: get("signature")
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_default(),
                    src: self.policy.hide(str_field(&ev, "src_ip")),
                    dest: self.policy.hide(str_field(&ev, "dest_ip")),
                };
                let ts = str_field(&ev, "timestamp").to_string();
                let agg = self.alerts.entry(key).or_insert_with(|| AlertAgg {
                    category: get("category").unwrap_or(Value::Null),
                    severity: get("severity").unwrap_or(Value::Null),
                    count: 0,
                    first_seen: ts.clone(),
                    last_seen: ts.clone(),
                });
                agg.count += 1;
                // EVE timestamps of one sensor share a format (UTC, fixed
                // width), so string order is time order.
                if ts < agg.first_seen {
                    agg.first_seen = ts.clone();
                }
                if ts > agg.last_seen {
                    agg.last_seen = ts;
                }
                self.counters.summarised += 1;
            }
            "flow" => {
                let f = ev.get("flow").and_then(Value::as_object);
                let n = |k: &str| {
                    f.and_then(|f| f.get(k))
                        .and_then(Value::as_u64)
                        .unwrap_or(0)
                };
                let t = &mut self.flows;
                t.flows += 1;
                t.pkts += n("pkts_toserver") + n("pkts_toclient");
                t.bytes += n("bytes_toserver") + n("bytes_toclient");
                *t.by_proto
                    .entry(str_field(&ev, "proto").to_string())
                    .or_default() += 1;
                self.counters.summarised += 1;
            }
            _ => self.counters.withheld += 1,
        }
    }

    /// Ends the window `[start, end]` (timestamps as the caller formats
    /// them) and returns its messages as `(event_type, JSON)`.
    pub fn flush(&mut self, start: &str, end: &str) -> Vec<(&'static str, Vec<u8>)> {
        let tlp = self.policy.tlp.as_str();
        let sensor = json!({ "id": self.sensor_id });
        let mut out = Vec::new();
        for (k, a) in std::mem::take(&mut self.alerts) {
            let msg = json!({
                "event_type": "alert_summary",
                "tlp": tlp,
                "window_start": start,
                "window_end": end,
                "signature_id": k.signature_id,
                "signature": k.signature,
                "category": a.category,
                "severity": a.severity,
                "src_ip": k.src,
                "dest_ip": k.dest,
                "count": a.count,
                "first_seen": a.first_seen,
                "last_seen": a.last_seen,
                "sensor": sensor,
            });
            out.push(("alert_summary", msg.to_string().into_bytes()));
        }
        let f = std::mem::take(&mut self.flows);
        if f.flows > 0 {
            let msg = json!({
                "event_type": "flow_summary",
                "tlp": tlp,
                "window_start": start,
                "window_end": end,
                "flows": f.flows,
                "pkts": f.pkts,
                "bytes": f.bytes,
                "by_proto": f.by_proto,
                "sensor": sensor,
            });
            out.push(("flow_summary", msg.to_string().into_bytes()));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn policy(p: Pseudonymise) -> SummaryPolicy {
        SummaryPolicy {
            window: Duration::from_secs(60),
            home_nets: vec![
                IpNet::parse("192.168.0.0/16").unwrap(),
                IpNet::parse("2001:db8::/32").unwrap(),
            ],
            pseudonymise: p,
            tlp: Tlp::Amber,
        }
    }

    fn hmac() -> SummaryPolicy {
        policy(Pseudonymise::Hmac {
            key: b"0123456789abcdef".to_vec(),
        })
    }

    fn alert(ts: &str, src: &str, dst: &str, sid: u64) -> Vec<u8> {
        json!({"timestamp": ts, "event_type": "alert", "src_ip": src, "src_port": 4444,
               "dest_ip": dst, "dest_port": 80, "proto": "TCP", "flow_id": 99,
               "payload": "c2VjcmV0",
               "alert": {"signature_id": sid, "signature": format!("SIG {sid}"),
                         "category": "Trojan", "severity": 1, "rev": 1}})
        .to_string()
        .into_bytes()
    }

    #[test]
    fn alerts_aggregate_per_signature_source_destination() {
        let mut a = Aggregator::new(hmac(), "s1");
        a.add(
            "alert",
            &alert(
                "2024-01-01T00:00:02.000000+0000",
                "203.0.113.5",
                "192.168.1.10",
                1,
            ),
        );
        a.add(
            "alert",
            &alert(
                "2024-01-01T00:00:01.000000+0000",
                "203.0.113.5",
                "192.168.1.10",
                1,
            ),
        );
        a.add(
            "alert",
            &alert(
                "2024-01-01T00:00:03.000000+0000",
                "203.0.113.5",
                "192.168.1.10",
                2,
            ),
        );
        a.add(
            "alert",
            &alert(
                "2024-01-01T00:00:04.000000+0000",
                "203.0.113.6",
                "192.168.1.10",
                1,
            ),
        );
        a.add(
            "dns",
            br#"{"event_type":"dns","dns":{"rrname":"internal.example"}}"#,
        );
        a.add("alert", b"not json");
        let out = a.flush("w0", "w1");
        assert_eq!(out.len(), 3);
        let msgs: Vec<Value> = out
            .iter()
            .map(|(t, p)| {
                assert_eq!(*t, "alert_summary");
                serde_json::from_slice(p).unwrap()
            })
            .collect();
        let first = &msgs[0];
        assert_eq!(first["count"], 2);
        assert_eq!(first["first_seen"], "2024-01-01T00:00:01.000000+0000");
        assert_eq!(first["last_seen"], "2024-01-01T00:00:02.000000+0000");
        assert_eq!(first["tlp"], "TLP:AMBER");
        assert_eq!(first["src_ip"], "203.0.113.5", "external addresses stay");
        let hidden = first["dest_ip"].as_str().unwrap();
        assert!(
            hidden.starts_with("anon:") && hidden.len() == 21,
            "{hidden}"
        );
        // Nothing else leaves: no ports, payload, flow id.
        for m in &msgs {
            let text = m.to_string();
            for secret in ["192.168.1.10", "4444", "c2VjcmV0", "flow_id", "dest_port"] {
                assert!(!text.contains(secret), "{secret} leaked: {text}");
            }
        }
        assert_eq!(
            a.counters(),
            SummaryCounters {
                summarised: 4,
                withheld: 1,
                unparsable: 1
            }
        );
        assert!(a.is_empty() && a.flush("w1", "w2").is_empty());
    }

    #[test]
    fn pseudonyms_are_keyed_and_stable() {
        let p = hmac();
        assert_eq!(p.hide("192.168.1.10"), p.hide("192.168.1.10"));
        assert_ne!(p.hide("192.168.1.10"), p.hide("192.168.1.11"));
        let other = policy(Pseudonymise::Hmac {
            key: b"another key 16 bytes".to_vec(),
        });
        assert_ne!(p.hide("192.168.1.10"), other.hide("192.168.1.10"));
        assert!(p.hide("2001:db8::1").starts_with("anon:"));
        assert_eq!(p.hide("2001:db9::1"), "2001:db9::1");
        assert_eq!(p.hide("bogus"), "withheld");
        assert!(!format!("{p:?}").contains("0123456789"), "key not in Debug");
    }

    #[test]
    fn truncation_keeps_a_prefix() {
        let p = policy(Pseudonymise::Truncate {
            v4_prefix: 16,
            v6_prefix: 48,
        });
        assert_eq!(p.hide("192.168.77.9"), "192.168.0.0/16");
        assert_eq!(p.hide("2001:db8:1:2:3::9"), "2001:db8:1::/48");
        assert_eq!(p.hide("8.8.8.8"), "8.8.8.8");
    }

    #[test]
    fn flows_become_totals() {
        let mut a = Aggregator::new(hmac(), "s1");
        for proto in ["TCP", "TCP", "UDP"] {
            let f = json!({"event_type":"flow","proto":proto,"src_ip":"192.168.1.1",
                           "flow":{"pkts_toserver":2,"pkts_toclient":3,"bytes_toserver":100,"bytes_toclient":50}});
            a.add("flow", f.to_string().as_bytes());
        }
        let out = a.flush("a", "b");
        assert_eq!(out.len(), 1);
        let m: Value = serde_json::from_slice(&out[0].1).unwrap();
        assert_eq!(
            (m["flows"].as_u64(), m["pkts"].as_u64(), m["bytes"].as_u64()),
            (Some(3), Some(15), Some(450))
        );
        assert_eq!(m["by_proto"]["TCP"], 2);
        assert_eq!(m["tlp"], "TLP:AMBER");
        assert!(!m.to_string().contains("192.168"));
    }

    #[test]
    fn parsing_config_values() {
        assert_eq!(Tlp::parse("tlp:amber").unwrap(), Tlp::Amber);
        assert_eq!(Tlp::parse("WHITE").unwrap(), Tlp::Clear);
        assert!(Tlp::parse("purple").is_err());
        assert!(IpNet::parse("10.0.0.0/33").is_err());
        assert!(IpNet::parse("x/8").is_err());
        let n = IpNet::parse("10.0.0.0/8").unwrap();
        assert!(n.contains("10.200.1.1".parse().unwrap()));
        assert!(!n.contains("11.0.0.1".parse().unwrap()));
        assert!(!n.contains("::1".parse().unwrap()));
        assert!(IpNet::parse("0.0.0.0/0")
            .unwrap()
            .contains("1.2.3.4".parse().unwrap()));
        let mut p = hmac();
        p.pseudonymise = Pseudonymise::Hmac {
            key: b"short".to_vec(),
        };
        assert!(p.validate().is_err());
    }
}
