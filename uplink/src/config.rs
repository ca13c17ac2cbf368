//! Broker URL, identifiers and topic naming.
//!
//! Everything here is pure validation with no I/O, so that a bad
//! `--mqtt` argument or sensor id is rejected with a clear message before
//! any thread or socket exists, and so that the topic rules are unit-tested.
//! TLS (`mqtts://`) is recognised and rejected explicitly so that adding it
//! later is a matter of extending [`BrokerAddr`], not changing callers.

use std::time::Duration;

use crate::error::UplinkError;

/// Default MQTT port for `mqtt://` URLs without an explicit port.
pub const DEFAULT_PORT: u16 = 1883;

/// Largest MQTT packet (header + topic + payload) the uplink will send.
/// Events whose packet would exceed this are dropped with reason `too_large`.
pub const DEFAULT_MAX_PACKET_SIZE: usize = 1024 * 1024;

/// Bytes reserved for the fixed header, topic length and packet id when
/// checking an event against [`MqttConfig::max_packet_size`].
pub(crate) const PACKET_OVERHEAD: usize = 16;

/// Configuration of the MQTT uplink. Build it with [`MqttConfig::new`] and
/// adjust the public fields if the defaults do not fit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MqttConfig {
    /// Broker URL, `mqtt://host[:port]` (port defaults to 1883).
    pub url: String,
    /// MQTT client id, `sensor-<id>-<pid>` by default.
    pub client_id: String,
    /// Topic prefix, `cirt/<sensor-id>/events`; events go to `<prefix>/<event_type>`.
    pub topic_prefix: String,
    /// Capacity of the bounded channel between producers and the uplink thread.
    pub channel_capacity: usize,
    /// MQTT keep-alive; zero disables it, otherwise it must be at least one second.
    pub keep_alive: Duration,
    /// Maximum number of QoS 1 publishes awaiting PUBACK (1..=65535).
    pub max_inflight: u16,
    /// Maximum size of one MQTT packet; larger events are dropped (`too_large`).
    pub max_packet_size: usize,
    /// Upper bound of the exponential reconnect backoff (starts at 100 ms).
    pub reconnect_backoff_max: Duration,
    /// Time allowed for TCP connect + CONNACK (whole seconds, at least 1).
    pub connect_timeout: Duration,
}

impl MqttConfig {
    /// Parses and validates `url` and `sensor_id` and fills in defaults.
    ///
    /// Only `mqtt://` is accepted in this version; `mqtts://` and other
    /// schemes, credentials, paths, empty hosts and bad ports are rejected.
    /// The sensor id must be non-empty and free of `/`, `+`, `#` and NUL,
    /// because it becomes one topic level.
    pub fn new(url: &str, sensor_id: &str) -> Result<Self, UplinkError> {
        BrokerAddr::parse(url)?;
        validate_sensor_id(sensor_id)?;
        Ok(MqttConfig {
            url: url.to_string(),
            client_id: format!("sensor-{sensor_id}-{}", std::process::id()),
            topic_prefix: format!("cirt/{sensor_id}/events"),
            channel_capacity: 4096,
            keep_alive: Duration::from_secs(30),
            max_inflight: 256,
            max_packet_size: DEFAULT_MAX_PACKET_SIZE,
            reconnect_backoff_max: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(5),
        })
    }

    /// The parsed broker address of [`MqttConfig::url`].
    pub fn broker_addr(&self) -> Result<BrokerAddr, UplinkError> {
        BrokerAddr::parse(&self.url)
    }

    /// Checks every field, including ones changed after [`MqttConfig::new`].
    pub fn validate(&self) -> Result<(), UplinkError> {
        self.broker_addr()?;
        let bad = |reason: &str| Err(UplinkError::InvalidConfig(reason.to_string()));
        if self.client_id.is_empty() || self.client_id.starts_with(' ') {
            return bad("client_id must be non-empty and must not start with a space");
        }
        if self.client_id.len() > 65535 {
            return bad("client_id is longer than 65535 bytes");
        }
        validate_topic_prefix(&self.topic_prefix)?;
        if self.channel_capacity == 0 {
            return bad("channel_capacity must be at least 1");
        }
        if self.max_inflight == 0 {
            return bad("max_inflight must be at least 1");
        }
        if !self.keep_alive.is_zero() && self.keep_alive < Duration::from_secs(1) {
            return bad("keep_alive must be zero (off) or at least one second");
        }
        if self.keep_alive.as_secs() > u64::from(u16::MAX) {
            return bad("keep_alive must be at most 65535 seconds");
        }
        if self.max_packet_size < 1024 {
            return bad("max_packet_size must be at least 1024 bytes");
        }
        if self.connect_timeout < Duration::from_secs(1) {
            return bad("connect_timeout must be at least one second");
        }
        Ok(())
    }

    /// Topic for an event type: `<topic_prefix>/<event_type>`.
    ///
    /// The event type must be one non-empty topic level (no `/`, `+`, `#`, NUL).
    pub fn topic_for(&self, event_type: &str) -> Result<String, UplinkError> {
        topic_for(&self.topic_prefix, event_type)
    }
}

pub(crate) fn topic_for(prefix: &str, event_type: &str) -> Result<String, UplinkError> {
    check_level(event_type)?;
    Ok(format!("{prefix}/{event_type}"))
}

/// An event type must be one topic level.
pub(crate) fn check_level(event_type: &str) -> Result<(), UplinkError> {
    match level_problem(event_type) {
        Some(reason) => Err(UplinkError::InvalidEventType {
            event_type: event_type.escape_debug().to_string(),
            reason,
        }),
        None => Ok(()),
    }
}

/// Why `s` cannot be a single MQTT topic level, if it cannot.
pub(crate) fn level_problem(s: &str) -> Option<&'static str> {
    if s.is_empty() {
        Some("must not be empty")
    } else if s.contains('/') {
        Some("must not contain '/'")
    } else if s.contains('+') || s.contains('#') {
        Some("must not contain MQTT wildcards '+' or '#'")
    } else if s.contains('\0') {
        Some("must not contain NUL")
    } else if s.len() > 1024 {
        Some("must be at most 1024 bytes")
    } else {
        None
    }
}

fn validate_sensor_id(id: &str) -> Result<(), UplinkError> {
    match level_problem(id) {
        Some(reason) => Err(UplinkError::InvalidSensorId {
            id: id.escape_debug().to_string(),
            reason,
        }),
        None => Ok(()),
    }
}

pub(crate) fn validate_topic_prefix(prefix: &str) -> Result<(), UplinkError> {
    let ok = !prefix.is_empty()
        && !prefix.ends_with('/')
        && !prefix.contains(['+', '#', '\0'])
        && prefix.len() < 60000;
    if ok {
        Ok(())
    } else {
        Err(UplinkError::InvalidConfig(format!(
            "topic_prefix {:?} must be non-empty, not end with '/', and contain no '+', '#' or NUL",
            prefix
        )))
    }
}

/// The sensor id used when none is configured: the host name
/// (from `/proc/sys/kernel/hostname`, `/etc/hostname`, `$HOSTNAME`), with
/// characters that are not valid in a topic level replaced by `_`;
/// `"sensor"` if nothing is found.
pub fn default_sensor_id() -> String {
    let candidates = [
        std::fs::read_to_string("/proc/sys/kernel/hostname").ok(),
        std::fs::read_to_string("/etc/hostname").ok(),
        std::env::var("HOSTNAME").ok(),
    ];
    for name in candidates.into_iter().flatten() {
        let name: String = name
            .trim()
            .chars()
            .map(|c| {
                if matches!(c, '/' | '+' | '#' | '\0') {
                    '_'
                } else {
                    c
                }
            })
            .collect();
        if !name.is_empty() && level_problem(&name).is_none() {
            return name;
        }
    }
    "sensor".to_string()
}

/// Parses `mqtt://` or `mqtts://` URLs; the flag says whether TLS is used
/// (default port 8883 then).
pub(crate) fn parse_url(url: &str) -> Result<(BrokerAddr, bool), UplinkError> {
    let lower = url.to_ascii_lowercase();
    for tls_scheme in ["mqtts://", "ssl://", "tls://"] {
        if lower.starts_with(tls_scheme) {
            let plain = format!("mqtt://{}", &url[tls_scheme.len()..]);
            let mut addr = BrokerAddr::parse(&plain).map_err(|e| match e {
                UplinkError::InvalidUrl { reason, .. } => UplinkError::InvalidUrl {
                    url: url.to_string(),
                    reason,
                },
                other => other,
            })?;
            let explicit_port = url[tls_scheme.len()..]
                .trim_end_matches('/')
                .rsplit_once(':')
                .is_some_and(|(_, p)| !p.contains(']'));
            if !explicit_port {
                addr.port = DEFAULT_TLS_PORT;
            }
            return Ok((addr, true));
        }
    }
    Ok((BrokerAddr::parse(url)?, false))
}

/// Default MQTT port for `mqtts://` URLs without an explicit port.
pub const DEFAULT_TLS_PORT: u16 = 8883;

/// A parsed broker address. A future `Tls` variant or field will carry TLS
/// settings; for now only plain TCP exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerAddr {
    /// Host name or IP address (IPv6 without brackets).
    pub host: String,
    /// TCP port.
    pub port: u16,
}

impl BrokerAddr {
    /// Parses `mqtt://host[:port][/]`. IPv6 literals use brackets: `mqtt://[::1]:1883`.
    pub fn parse(url: &str) -> Result<Self, UplinkError> {
        let err = |reason: String| UplinkError::InvalidUrl {
            url: url.to_string(),
            reason,
        };
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| err("expected mqtt://HOST[:PORT]".to_string()))?;
        match scheme.to_ascii_lowercase().as_str() {
            "mqtt" | "tcp" => {}
            "mqtts" | "ssl" | "tls" => {
                return Err(err(format!(
                    "scheme '{scheme}' (TLS) needs a DestinationConfig with TLS settings (Uplink::start_with)"
                )))
            }
            other => return Err(err(format!("unsupported scheme '{other}'; use mqtt://"))),
        }
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.contains('@') {
            return Err(err("credentials in the URL are not supported".to_string()));
        }
        if authority.contains(['/', '?', '#']) {
            return Err(err("a path, query or fragment is not allowed".to_string()));
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (host, after) = v6
                .split_once(']')
                .ok_or_else(|| err("unterminated '[' in IPv6 host".to_string()))?;
            let port = match after {
                "" => None,
                p => Some(
                    p.strip_prefix(':')
                        .ok_or_else(|| err(format!("unexpected '{p}' after IPv6 host")))?,
                ),
            };
            (host, port)
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            }
        };
        if host.is_empty() {
            return Err(err("host is empty".to_string()));
        }
        if host.contains(':') && !authority.starts_with('[') {
            return Err(err("IPv6 hosts must be written in brackets".to_string()));
        }
        let port = match port {
            None => DEFAULT_PORT,
            Some(p) => match p.parse::<u16>() {
                Ok(0) | Err(_) => {
                    return Err(err(format!("port '{p}' is not a number in 1..=65535")))
                }
                Ok(n) => n,
            },
        };
        Ok(BrokerAddr {
            host: host.to_string(),
            port,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls() {
        let a = BrokerAddr::parse("mqtt://broker.local").unwrap();
        assert_eq!((a.host.as_str(), a.port), ("broker.local", 1883));
        let a = BrokerAddr::parse("mqtt://127.0.0.1:18830/").unwrap();
        assert_eq!((a.host.as_str(), a.port), ("127.0.0.1", 18830));
        let a = BrokerAddr::parse("MQTT://[::1]:99").unwrap();
        assert_eq!((a.host.as_str(), a.port), ("::1", 99));
        let a = BrokerAddr::parse("mqtt://[::1]").unwrap();
        assert_eq!(a.port, 1883);
    }

    #[test]
    fn rejects_bad_urls() {
        for bad in [
            "",
            "localhost:1883",
            "http://h:1",
            "mqtts://h:8883",
            "mqtt://",
            "mqtt://:1883",
            "mqtt://h:0",
            "mqtt://h:65536",
            "mqtt://h:x",
            "mqtt://h:",
            "mqtt://u:p@h",
            "mqtt://h/path",
            "mqtt://::1",
            "mqtt://[::1",
            "mqtt://[::1]x",
        ] {
            let e = BrokerAddr::parse(bad).unwrap_err();
            assert!(matches!(e, UplinkError::InvalidUrl { .. }), "{bad}: {e}");
        }
        let msg = BrokerAddr::parse("mqtts://h").unwrap_err().to_string();
        assert!(msg.contains("TLS"), "{msg}");
    }

    #[test]
    fn config_defaults_and_sensor_id_rules() {
        let c = MqttConfig::new("mqtt://h", "s-1").unwrap();
        assert_eq!(c.topic_prefix, "cirt/s-1/events");
        assert_eq!(c.client_id, format!("sensor-s-1-{}", std::process::id()));
        c.validate().unwrap();
        for bad in ["", "a/b", "a+", "#", "a\0b"] {
            assert!(matches!(
                MqttConfig::new("mqtt://h", bad),
                Err(UplinkError::InvalidSensorId { .. })
            ));
        }
    }

    #[test]
    fn topics() {
        let c = MqttConfig::new("mqtt://h", "s1").unwrap();
        assert_eq!(c.topic_for("alert").unwrap(), "cirt/s1/events/alert");
        for bad in ["", "a/b", "+", "x#", "\0"] {
            assert!(matches!(
                c.topic_for(bad),
                Err(UplinkError::InvalidEventType { .. })
            ));
        }
    }

    #[test]
    fn validate_catches_edited_fields() {
        let mut c = MqttConfig::new("mqtt://h", "s1").unwrap();
        c.keep_alive = Duration::from_millis(500);
        assert!(c.validate().is_err());
        c.keep_alive = Duration::ZERO;
        c.validate().unwrap();
        c.max_inflight = 0;
        assert!(c.validate().is_err());
        c.max_inflight = 10;
        c.topic_prefix = "a/+/b".into();
        assert!(c.validate().is_err());
    }

    #[test]
    fn default_sensor_id_is_a_valid_level() {
        let id = default_sensor_id();
        assert!(level_problem(&id).is_none(), "{id}");
    }
}
