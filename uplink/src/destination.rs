//! Configuration of the multi-destination uplink with a disk spool
//! ([`UplinkConfig`], [`DestinationConfig`]), its validation and the TLS
//! client setup. Pure except for reading the certificate files named in
//! the configuration, so that a bad file is reported at start, by name.
//!
//! Transport security is explicit: `mqtts://` needs a [`TlsConfig`]
//! (a CA file; a client certificate and key for mutual TLS), and a
//! plaintext `mqtt://` destination is refused unless
//! [`DestinationConfig::allow_plaintext`] is set.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::config::{level_problem, parse_url, validate_topic_prefix, DEFAULT_MAX_PACKET_SIZE};
use crate::error::UplinkError;
use crate::spool::SpoolOptions;
use crate::summary::SummaryPolicy;

/// MQTT protocol version of a destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// MQTT 3.1.1. A broker that denies a publish by ACL still acknowledges
    /// it (mosquitto does), so denials cannot be seen: use [`Protocol::V5`]
    /// where that matters.
    V311,
    /// MQTT 5 (reason codes on PUBACK, so refused publishes are reported).
    V5,
}

/// TLS settings of a destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsConfig {
    /// PEM file with the CA certificate(s) the broker's certificate must chain to.
    pub ca_file: PathBuf,
    /// PEM client certificate (chain) for mutual TLS.
    pub client_cert: Option<PathBuf>,
    /// PEM private key of the client certificate (PKCS#8, PKCS#1 or SEC1).
    pub client_key: Option<PathBuf>,
}

/// What a destination receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Policy {
    /// Every event as produced (national CIRT).
    Full,
    /// Aggregated, pseudonymised, TLP-marked summaries only (see [`crate::summary`]).
    Summary(SummaryPolicy),
}

/// One MQTT destination. Build with [`DestinationConfig::new`] and adjust fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DestinationConfig {
    /// Name (`national`, `grc`): identifies the spool cursor, so keep it stable.
    pub name: String,
    /// `mqtt://host[:port]` (1883) or `mqtts://host[:port]` (8883).
    pub url: String,
    /// MQTT version.
    pub protocol: Protocol,
    /// MQTT client id; `sensor-<sensor id>-<name>` by default.
    pub client_id: String,
    /// TLS settings; required for `mqtts://`.
    pub tls: Option<TlsConfig>,
    /// Must be true for a `mqtt://` (unencrypted) destination.
    pub allow_plaintext: bool,
    /// Optional user name.
    pub username: Option<String>,
    /// Optional password (only with a user name).
    pub password: Option<String>,
    /// Events go to `<topic_prefix>/<event_type>`; default `cirt/<sensor id>/events`.
    pub topic_prefix: String,
    /// Retained status topic (with Last Will); default `cirt/<sensor id>/status`.
    pub status_topic: String,
    /// QoS of event publishes; only 1 is supported.
    pub qos: u8,
    /// Event types sent (policy `full`); `None` = all.
    pub event_types: Option<Vec<String>>,
    /// What the destination receives.
    pub policy: Policy,
    /// MQTT keep-alive (at least 1 s, or zero for none).
    pub keep_alive: Duration,
    /// Publishes awaiting PUBACK at most.
    pub max_inflight: u16,
    /// Upper bound of the reconnect backoff (starts at 100 ms).
    pub reconnect_backoff_max: Duration,
    /// TCP + TLS + CONNACK timeout (whole seconds, at least 1).
    pub connect_timeout: Duration,
    /// Publish batches of JSON lines (optionally zstd-compressed) instead of
    /// one message per event; `None` (default) = one message per event.
    /// See [`crate::engine`] ("Batches").
    pub batch: Option<BatchConfig>,
    /// Subscribe to `cirt/<sensor id>/cmd/rules` and hand what arrives to
    /// [`crate::Uplink::commands`]; results go to `cirt/<sensor id>/cmd/result`
    /// ([`crate::Uplink::publish_result`]). MQTT 5 only. Default false.
    pub commands: bool,
}

/// Batching of a destination ([`DestinationConfig::batch`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchConfig {
    /// Most events in one batch (1..=100,000; default 500).
    pub max_events: usize,
    /// Most uncompressed bytes in one batch (default 256 KiB; an event larger
    /// than this travels alone in its batch).
    pub max_bytes: usize,
    /// How long the first event of a partial batch may wait for more (default 200 ms).
    pub linger: Duration,
    /// zstd level (1..=19, default 3); `None` sends plain JSON lines.
    pub zstd_level: Option<i32>,
}

impl Default for BatchConfig {
    fn default() -> Self {
        BatchConfig {
            max_events: 500,
            max_bytes: 256 << 10,
            linger: Duration::from_millis(200),
            zstd_level: Some(3),
        }
    }
}

impl DestinationConfig {
    /// A `full`, MQTT 3.1.1, QoS 1 destination with default topics.
    pub fn new(name: &str, url: &str, sensor_id: &str) -> Self {
        DestinationConfig {
            name: name.to_string(),
            url: url.to_string(),
            protocol: Protocol::V311,
            client_id: format!("sensor-{sensor_id}-{name}"),
            tls: None,
            allow_plaintext: false,
            username: None,
            password: None,
            topic_prefix: format!("cirt/{sensor_id}/events"),
            status_topic: format!("cirt/{sensor_id}/status"),
            qos: 1,
            event_types: None,
            policy: Policy::Full,
            keep_alive: Duration::from_secs(30),
            max_inflight: 1024,
            reconnect_backoff_max: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(5),
            batch: None,
            commands: false,
        }
    }

    /// Checks every field (files are read by [`DestinationConfig::rustls_config`]).
    pub fn validate(&self) -> Result<(), UplinkError> {
        let bad = |why: String| {
            Err(UplinkError::InvalidConfig(format!(
                "destination '{}': {why}",
                self.name
            )))
        };
        if let Some(why) = level_problem(&self.name) {
            return bad(format!("name {why}"));
        }
        if self.name.len() > 64 {
            return bad("name must be at most 64 bytes".into());
        }
        let (_, tls) = parse_url(&self.url)?;
        if tls && self.tls.is_none() {
            return bad(
                "mqtts:// needs a tls section (ca_file, and client_cert/client_key for mutual TLS)"
                    .into(),
            );
        }
        if !tls && self.tls.is_some() {
            return bad("a tls section needs an mqtts:// URL".into());
        }
        if !tls && !self.allow_plaintext {
            return bad(format!(
                "{} is unencrypted; use mqtts:// or set allow_plaintext explicitly",
                self.url
            ));
        }
        if let Some(t) = &self.tls {
            if t.client_cert.is_some() != t.client_key.is_some() {
                return bad("client_cert and client_key go together".into());
            }
        }
        if self.password.is_some() && self.username.is_none() {
            return bad("a password needs a username".into());
        }
        if self.client_id.is_empty() || self.client_id.len() > 65535 {
            return bad("client_id must be 1..=65535 bytes".into());
        }
        validate_topic_prefix(&self.topic_prefix)?;
        validate_topic_prefix(&self.status_topic)?;
        if self.qos != 1 {
            return bad(format!("qos {} is not supported (only 1)", self.qos));
        }
        if self.max_inflight == 0 {
            return bad("max_inflight must be at least 1".into());
        }
        if !self.keep_alive.is_zero() && self.keep_alive < Duration::from_secs(1) {
            return bad("keep_alive must be zero or at least one second".into());
        }
        if self.keep_alive.as_secs() > u64::from(u16::MAX) {
            return bad("keep_alive must be at most 65535 seconds".into());
        }
        if self.connect_timeout < Duration::from_secs(1) {
            return bad("connect_timeout must be at least one second".into());
        }
        if let Some(types) = &self.event_types {
            if let Some(t) = types.iter().find(|t| level_problem(t).is_some()) {
                return bad(format!("event type {t:?} is not a topic level"));
            }
        }
        if let Policy::Summary(s) = &self.policy {
            s.validate()?;
        }
        if let Some(b) = &self.batch {
            if !(1..=100_000).contains(&b.max_events) {
                return bad("batch.max_events must be in 1..=100000".into());
            }
            if !(1024..=64 << 20).contains(&b.max_bytes) {
                return bad("batch.max_bytes must be in 1 KiB..=64 MiB".into());
            }
            if b.linger > Duration::from_secs(3600) {
                return bad("batch.linger must be at most one hour".into());
            }
            if b.zstd_level.is_some_and(|l| !(1..=19).contains(&l)) {
                return bad("batch.zstd_level must be in 1..=19".into());
            }
        }
        if self.commands && self.protocol != Protocol::V5 {
            return bad("commands need protocol MQTT 5 (bounded incoming packet size)".into());
        }
        Ok(())
    }

    /// Host, port and whether TLS is used.
    pub(crate) fn endpoint(&self) -> Result<(String, u16, bool), UplinkError> {
        let (addr, tls) = parse_url(&self.url)?;
        Ok((addr.host, addr.port, tls))
    }

    /// The rustls client configuration (ring provider) for this
    /// destination, or `None` for plaintext. Reads the PEM files.
    pub fn rustls_config(&self) -> Result<Option<Arc<rustls::ClientConfig>>, UplinkError> {
        let Some(t) = &self.tls else { return Ok(None) };
        let tls_err = |what: String| UplinkError::Tls {
            destination: self.name.clone(),
            what,
        };
        let mut roots = rustls::RootCertStore::empty();
        for cert in read_certs(&t.ca_file).map_err(&tls_err)? {
            roots
                .add(cert)
                .map_err(|e| tls_err(format!("CA file {}: {e}", t.ca_file.display())))?;
        }
        if roots.is_empty() {
            return Err(tls_err(format!(
                "CA file {} holds no certificate",
                t.ca_file.display()
            )));
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| tls_err(e.to_string()))?
            .with_root_certificates(roots);
        let cfg = match (&t.client_cert, &t.client_key) {
            (Some(cert), Some(key)) => {
                let chain = read_certs(cert).map_err(&tls_err)?;
                let key = read_key(key).map_err(&tls_err)?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|e| tls_err(format!("client certificate/key: {e}")))?
            }
            _ => builder.with_no_client_auth(),
        };
        Ok(Some(Arc::new(cfg)))
    }
}

fn read_certs(path: &Path) -> Result<Vec<rustls::pki_types::CertificateDer<'static>>, String> {
    let f = File::open(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let certs = rustls_pemfile::certs(&mut BufReader::new(f))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{}: not PEM certificates: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{} holds no PEM certificate", path.display()));
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<rustls::pki_types::PrivateKeyDer<'static>, String> {
    let f = File::open(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    rustls_pemfile::private_key(&mut BufReader::new(f))
        .map_err(|e| format!("{}: not a PEM key: {e}", path.display()))?
        .ok_or_else(|| format!("{} holds no PEM private key", path.display()))
}

/// Configuration of [`crate::Uplink::start_with`]: one spool, any number of destinations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UplinkConfig {
    /// Sensor id (one topic level; part of every event id).
    pub sensor_id: String,
    /// Directory of the disk spool (created if missing).
    pub spool_dir: PathBuf,
    /// Spool size bound, segment size and fsync policy.
    pub spool: SpoolOptions,
    /// Capacity of the channel between producers and the uplink thread.
    pub channel_capacity: usize,
    /// Largest event accepted (larger ones are dropped, `too_large`).
    pub max_packet_size: usize,
    /// Where events go.
    pub destinations: Vec<DestinationConfig>,
    /// Sensor software version for the status message.
    pub version: String,
    /// Rule set version for the status message.
    pub rules_version: Option<String>,
    /// Capture interfaces for the status message.
    pub interfaces: Vec<String>,
    /// Period of the retained status/stats message (zero: only at connect).
    pub stats_interval: Duration,
    /// Largest command payload handed to [`crate::Uplink::commands`]; larger
    /// ones are counted (`commands_refused`) and dropped. Default 16 MiB
    /// ([`crate::bundle::MAX_BUNDLE`]).
    pub max_command_bytes: usize,
    /// Commands waiting for the application at most; more are counted
    /// (`commands_refused`) and dropped. Default 4.
    pub command_queue: usize,
}

impl UplinkConfig {
    /// Defaults: 1 GiB spool, channel of 16,384 events, stats every 60 s, no destinations.
    pub fn new(sensor_id: &str, spool_dir: impl Into<PathBuf>) -> Self {
        UplinkConfig {
            sensor_id: sensor_id.to_string(),
            spool_dir: spool_dir.into(),
            spool: SpoolOptions::with_max_bytes(1 << 30),
            channel_capacity: 16_384,
            max_packet_size: DEFAULT_MAX_PACKET_SIZE,
            destinations: Vec::new(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            rules_version: None,
            interfaces: Vec::new(),
            stats_interval: Duration::from_secs(60),
            max_command_bytes: crate::bundle::MAX_BUNDLE,
            command_queue: 4,
        }
    }

    /// Checks the whole configuration, including every destination.
    pub fn validate(&self) -> Result<(), UplinkError> {
        if let Some(reason) = level_problem(&self.sensor_id) {
            return Err(UplinkError::InvalidSensorId {
                id: self.sensor_id.escape_debug().to_string(),
                reason,
            });
        }
        if self.channel_capacity == 0 {
            return Err(UplinkError::InvalidConfig(
                "channel_capacity must be at least 1".into(),
            ));
        }
        if self.max_packet_size < 1024 {
            return Err(UplinkError::InvalidConfig(
                "max_packet_size must be at least 1024 bytes".into(),
            ));
        }
        if self.max_command_bytes == 0 || self.max_command_bytes > 256 << 20 {
            return Err(UplinkError::InvalidConfig(
                "max_command_bytes must be in 1..=256 MiB".into(),
            ));
        }
        if self.command_queue == 0 {
            return Err(UplinkError::InvalidConfig(
                "command_queue must be at least 1".into(),
            ));
        }
        let mut names = std::collections::BTreeSet::new();
        for d in &self.destinations {
            d.validate()?;
            if !names.insert(d.name.as_str()) {
                return Err(UplinkError::InvalidConfig(format!(
                    "destination name '{}' is used twice",
                    d.name
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn plaintext_needs_explicit_consent_and_tls_needs_a_ca() {
        let mut d = DestinationConfig::new("national", "mqtt://h", "s1");
        let e = d.validate().unwrap_err().to_string();
        assert!(e.contains("allow_plaintext"), "{e}");
        d.allow_plaintext = true;
        d.validate().unwrap();
        d.url = "mqtts://h".into();
        let e = d.validate().unwrap_err().to_string();
        assert!(e.contains("tls section"), "{e}");
        d.tls = Some(TlsConfig {
            ca_file: "/nonexistent/ca.pem".into(),
            client_cert: Some("c.pem".into()),
            client_key: None,
        });
        assert!(d
            .validate()
            .unwrap_err()
            .to_string()
            .contains("go together"));
        d.tls = Some(TlsConfig {
            ca_file: "/nonexistent/ca.pem".into(),
            client_cert: None,
            client_key: None,
        });
        d.validate().unwrap();
        let e = d.rustls_config().unwrap_err().to_string();
        assert!(e.contains("/nonexistent/ca.pem"), "{e}");
        assert_eq!(d.endpoint().unwrap(), ("h".to_string(), 8883, true));
    }

    #[test]
    fn batch_and_command_settings_are_checked() {
        let mut d = DestinationConfig::new("n", "mqtt://h", "s1");
        d.allow_plaintext = true;
        d.batch = Some(BatchConfig::default());
        d.validate().unwrap();
        for bad in [
            BatchConfig {
                max_events: 0,
                ..BatchConfig::default()
            },
            BatchConfig {
                max_bytes: 10,
                ..BatchConfig::default()
            },
            BatchConfig {
                zstd_level: Some(40),
                ..BatchConfig::default()
            },
            BatchConfig {
                linger: Duration::from_secs(7200),
                ..BatchConfig::default()
            },
        ] {
            d.batch = Some(bad.clone());
            assert!(d.validate().is_err(), "{bad:?}");
        }
        d.batch = None;
        d.commands = true;
        let e = d.validate().unwrap_err().to_string();
        assert!(e.contains("MQTT 5"), "{e}");
        d.protocol = Protocol::V5;
        d.validate().unwrap();
        let mut c = UplinkConfig::new("s1", "/tmp/x");
        c.command_queue = 0;
        assert!(c.validate().is_err());
        c.command_queue = 1;
        c.max_command_bytes = 0;
        assert!(c.validate().is_err());
    }

    #[test]
    fn uplink_config_checks_names_and_fields() {
        let mut c = UplinkConfig::new("s1", "/tmp/x");
        let mut d = DestinationConfig::new("a", "mqtt://h", "s1");
        d.allow_plaintext = true;
        c.destinations = vec![d.clone(), d.clone()];
        assert!(c.validate().unwrap_err().to_string().contains("twice"));
        c.destinations.pop();
        c.validate().unwrap();
        c.destinations[0].qos = 2;
        assert!(c.validate().is_err());
        c.destinations[0].qos = 1;
        c.destinations[0].event_types = Some(vec!["a/b".into()]);
        assert!(c.validate().is_err());
        c.sensor_id = "a/b".into();
        assert!(c.validate().is_err());
    }
}
