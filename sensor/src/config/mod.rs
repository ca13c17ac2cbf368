//! The daemon's configuration file (`sensor run --config`, `sensor config check`).
//!
//! TOML, read in two steps: serde fills a raw mirror of the file (unknown keys and wrong
//! types are refused there), then [`Config::from_raw`] checks ranges and combinations and
//! builds the effective [`Config`] with every default filled in. Every error names the file,
//! the line and the key path (`t.toml:6: interface[1].workers: must be 1..=64`), because the
//! person reading it is at a console on an appliance, not in a debugger. Values that need a
//! range check keep their position ([`Spanned`]) for that reason.
//!
//! What may change on SIGHUP and what needs a restart is decided by [`Config::live_diff`].

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_spanned::Spanned;

/// Where the daemon looks for its configuration when `--config` is not given.
pub const DEFAULT_PATH: &str = "/etc/sensor/sensor.toml";

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{file}: cannot read: {source}")]
    Read {
        /// The file.
        file: String,
        /// Why.
        source: std::io::Error,
    },
    /// A syntax error, unknown key, wrong type or bad value.
    #[error("{file}:{line}: {}{message}", key_prefix(.key))]
    Invalid {
        /// The file.
        file: String,
        /// 1-based line (0 when unknown).
        line: usize,
        /// Dotted key path with array indexes (`interface[1].workers`), or empty.
        key: String,
        /// What is wrong.
        message: String,
    },
}

fn key_prefix(key: &str) -> String {
    if key.is_empty() {
        String::new()
    } else {
        format!("{key}: ")
    }
}

/// Capture backend of an interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Backend {
    /// TPACKET_V3 ring with fanout (Linux).
    #[serde(rename = "af-packet")]
    AfPacket,
    /// libpcap.
    #[serde(rename = "pcap")]
    Pcap,
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One human-readable line per event.
    Human,
    /// One JSON object per line.
    Json,
}

// ---------------------------------------------------------------------------------------
// Raw mirror of the file.

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    sensor: RawSensor,
    #[serde(default)]
    log: RawLog,
    #[serde(default)]
    stats: RawStats,
    #[serde(default)]
    rules: RawRules,
    #[serde(default)]
    eve: RawEve,
    #[serde(default)]
    uplink: Option<RawUplink>,
    #[serde(default)]
    interface: Vec<Spanned<RawInterface>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSensor {
    id: Option<Spanned<String>>,
    user: Option<Spanned<String>>,
    allow_root: Option<bool>,
    flow_capacity: Option<Spanned<i64>>,
    verify_checksums: Option<bool>,
    shutdown_timeout: Option<Spanned<i64>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLog {
    format: Option<LogFormat>,
    level: Option<Spanned<String>>,
    health_interval: Option<Spanned<i64>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStats {
    interval: Option<Spanned<i64>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRules {
    #[serde(default)]
    paths: Vec<Spanned<PathBuf>>,
    #[serde(default)]
    address_groups: BTreeMap<String, String>,
    #[serde(default)]
    port_groups: BTreeMap<String, String>,
    #[serde(default)]
    bundle_keys: Vec<Spanned<PathBuf>>,
    bundle_dir: Option<Spanned<PathBuf>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEve {
    path: Option<PathBuf>,
    types: Option<Spanned<Vec<String>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUplink {
    spool_dir: Option<PathBuf>,
    spool_max_bytes: Option<Spanned<i64>>,
    channel_capacity: Option<Spanned<i64>>,
    status_interval: Option<Spanned<i64>>,
    #[serde(default)]
    destination: Vec<Spanned<RawDestination>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDestination {
    name: String,
    url: String,
    protocol: Option<Spanned<String>>,
    client_id: Option<String>,
    allow_plaintext: Option<bool>,
    username: Option<String>,
    password: Option<String>,
    password_file: Option<PathBuf>,
    topic_prefix: Option<String>,
    status_topic: Option<String>,
    event_types: Option<Vec<String>>,
    policy: Option<Spanned<String>>,
    keep_alive: Option<Spanned<i64>>,
    max_inflight: Option<Spanned<i64>>,
    connect_timeout: Option<Spanned<i64>>,
    tls: Option<RawTls>,
    summary: Option<Spanned<RawSummary>>,
    commands: Option<Spanned<bool>>,
    batch: Option<Spanned<RawBatch>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBatch {
    max_events: Option<Spanned<i64>>,
    max_bytes: Option<Spanned<i64>>,
    linger_ms: Option<Spanned<i64>>,
    zstd_level: Option<Spanned<i64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTls {
    ca_file: PathBuf,
    client_cert: Option<PathBuf>,
    client_key: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSummary {
    window: Option<Spanned<i64>>,
    #[serde(default)]
    home_nets: Vec<Spanned<String>>,
    pseudonymise: Option<Spanned<String>>,
    key_file: Option<PathBuf>,
    v4_prefix: Option<Spanned<i64>>,
    v6_prefix: Option<Spanned<i64>>,
    tlp: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInterface {
    name: Spanned<String>,
    backend: Option<Backend>,
    workers: Option<Spanned<i64>>,
    filter: Option<Spanned<String>>,
    snaplen: Option<Spanned<i64>>,
    promiscuous: Option<bool>,
    block_size: Option<Spanned<i64>>,
    ring_size: Option<Spanned<i64>>,
    block_timeout: Option<Spanned<i64>>,
    fanout_group: Option<Spanned<i64>>,
}

// ---------------------------------------------------------------------------------------
// The effective configuration.

/// The effective configuration, every default filled in.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Config {
    /// `[sensor]`.
    pub sensor: SensorSection,
    /// `[log]`.
    pub log: LogSection,
    /// `[stats]`.
    pub stats: StatsSection,
    /// `[rules]`.
    pub rules: RulesSection,
    /// `[eve]`.
    pub eve: EveSection,
    /// `[uplink]`, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uplink: Option<UplinkSection>,
    /// `[[interface]]`.
    #[serde(rename = "interface")]
    pub interfaces: Vec<InterfaceSection>,
}

/// `[sensor]`: identity and process settings.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SensorSection {
    /// Sensor id (EVE `sensor.id`, MQTT topics); default: host name.
    pub id: String,
    /// User to become after opening the capture sockets.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Run as root without dropping privileges.
    pub allow_root: bool,
    /// Flows each worker tracks.
    pub flow_capacity: usize,
    /// Drop packets with wrong checksums.
    pub verify_checksums: bool,
    /// Seconds allowed for flushing at SIGTERM before the process exits anyway.
    pub shutdown_timeout: u64,
}

/// `[log]`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LogSection {
    /// Line format.
    pub format: LogFormat,
    /// `error`, `warn`, `info`, `debug` or `trace`.
    pub level: String,
    /// Seconds between one-line health logs; 0 turns them off.
    pub health_interval: u64,
}

/// `[stats]`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatsSection {
    /// Seconds between EVE `stats` records; 0 turns them off.
    pub interval: u64,
}

/// `[rules]`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RulesSection {
    /// Rule files or directories of `*.rules`.
    pub paths: Vec<PathBuf>,
    /// Address variables (`HOME_NET = "[10.0.0.0/8]"`) over Suricata's defaults.
    pub address_groups: BTreeMap<String, String>,
    /// Port variables (`HTTP_PORTS = "80"`) over Suricata's defaults.
    pub port_groups: BTreeMap<String, String>,
    /// Public keys (64-hex files from `sensor keygen`) whose signed rule bundles are
    /// accepted from a destination with `commands = true`; read at start.
    pub bundle_keys: Vec<PathBuf>,
    /// Where verified bundles are unpacked, one fresh directory per bundle.
    pub bundle_dir: PathBuf,
}

/// Where bundles are unpacked when neither `rules.bundle_dir` nor an `[uplink]` spool
/// directory of its own says otherwise.
pub const DEFAULT_BUNDLE_DIR: &str = "/var/lib/sensor/rules";
/// The default spool directory.
pub const DEFAULT_SPOOL_DIR: &str = "/var/spool/sensor";

/// `[eve]`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EveSection {
    /// EVE JSON file; none: events only go to the uplink.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// Event types produced: `alert`, `flow`, `stats`, `dns`, `http`, `tls`.
    pub types: Vec<String>,
}

/// Event types the sensor produces.
const EVE_TYPES: &[&str] = &["alert", "flow", "stats", "dns", "http", "tls"];

impl EveSection {
    /// The types as the replay runtime's flags.
    pub fn eve_types(&self) -> crate::runtime::replay::EveTypes {
        crate::runtime::replay::EveTypes {
            alert: self.types.iter().any(|t| t == "alert"),
            flow: self.types.iter().any(|t| t == "flow"),
            stats: self.types.iter().any(|t| t == "stats"),
            dns: self.types.iter().any(|t| t == "dns"),
            http: self.types.iter().any(|t| t == "http"),
            tls: self.types.iter().any(|t| t == "tls"),
        }
    }
}

/// `[uplink]` and its `[[uplink.destination]]` tables.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UplinkSection {
    /// Spool directory.
    pub spool_dir: PathBuf,
    /// Spool size bound in bytes.
    pub spool_max_bytes: u64,
    /// Events queued between the workers and the uplink thread.
    pub channel_capacity: usize,
    /// Seconds between retained status messages (0: only at connect).
    pub status_interval: u64,
    /// Destinations.
    #[serde(rename = "destination")]
    pub destinations: Vec<DestinationSection>,
}

/// One `[[uplink.destination]]`; mapped onto [`uplink::DestinationConfig`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DestinationSection {
    /// Name.
    pub name: String,
    /// Broker URL.
    pub url: String,
    /// `3.1.1` or `5`.
    pub protocol: String,
    /// MQTT client id.
    pub client_id: String,
    /// Accept `mqtt://`.
    pub allow_plaintext: bool,
    /// User name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Password (never printed).
    #[serde(skip)]
    pub password: Option<String>,
    /// Where the password was read from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password_file: Option<PathBuf>,
    /// Event topic prefix.
    pub topic_prefix: String,
    /// Retained status topic.
    pub status_topic: String,
    /// Event types sent (`full` policy); none: all.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_types: Option<Vec<String>>,
    /// `full` or `summary`.
    pub policy: String,
    /// Keep-alive seconds.
    pub keep_alive: u64,
    /// Publishes awaiting PUBACK at most.
    pub max_inflight: u16,
    /// Connect timeout seconds.
    pub connect_timeout: u64,
    /// TLS files.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsSection>,
    /// Summary policy settings (with policy `summary`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<SummarySection>,
    /// Take signed rule bundles from `cirt/<id>/cmd/rules` (MQTT 5, `rules.bundle_keys`).
    pub commands: bool,
    /// Batches instead of one message per event.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch: Option<BatchSection>,
}

/// `[uplink.destination.batch]`; mapped onto [`uplink::BatchConfig`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BatchSection {
    /// Most events in one batch.
    pub max_events: usize,
    /// Most uncompressed bytes in one batch.
    pub max_bytes: usize,
    /// Milliseconds the first event of a partial batch waits for more.
    pub linger_ms: u64,
    /// zstd level 1..=19; 0 sends plain JSON lines.
    pub zstd_level: i32,
}

/// `[uplink.destination.tls]`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TlsSection {
    /// CA certificates (PEM).
    pub ca_file: PathBuf,
    /// Client certificate (PEM), for mutual TLS.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_cert: Option<PathBuf>,
    /// Client key (PEM), for mutual TLS.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_key: Option<PathBuf>,
}

/// `[uplink.destination.summary]`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SummarySection {
    /// Aggregation window, seconds.
    pub window: u64,
    /// Networks whose addresses are hidden.
    pub home_nets: Vec<String>,
    /// `hmac` or `truncate`.
    pub pseudonymise: String,
    /// HMAC key file (with `hmac`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_file: Option<PathBuf>,
    /// IPv4 prefix kept (with `truncate`).
    pub v4_prefix: u8,
    /// IPv6 prefix kept (with `truncate`).
    pub v6_prefix: u8,
    /// TLP marking.
    pub tlp: String,
}

/// One `[[interface]]`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InterfaceSection {
    /// Interface name.
    pub name: String,
    /// Capture backend.
    pub backend: Backend,
    /// Worker threads (one socket each, in one fanout group).
    pub workers: usize,
    /// BPF filter in tcpdump syntax.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
    /// Bytes captured per frame.
    pub snaplen: u32,
    /// Promiscuous mode.
    pub promiscuous: bool,
    /// Ring block size in bytes (af-packet).
    pub block_size: u32,
    /// Ring size per worker in bytes (af-packet; the kernel buffer size for pcap).
    pub ring_size: u64,
    /// Milliseconds before a partly filled block is handed over.
    pub block_timeout: u32,
    /// Fanout group id; default derived from the process id and interface.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fanout_group: Option<u16>,
}

/// Configuration sections that differ between a running config and a reloaded one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LiveDiff {
    /// Rules or their variables changed (applied live).
    pub rules: bool,
    /// Stats or health intervals changed (applied live).
    pub intervals: bool,
    /// Sections that only take effect after a restart.
    pub need_restart: Vec<&'static str>,
}

/// Maps byte offsets of the text to 1-based lines.
struct Lines<'a> {
    text: &'a str,
    file: String,
}

impl Lines<'_> {
    fn line(&self, offset: usize) -> usize {
        let end = offset.min(self.text.len());
        self.text
            .as_bytes()
            .get(..end)
            .map_or(0, |b| b.iter().filter(|&&c| c == b'\n').count() + 1)
    }

    fn err(
        &self,
        span: Range<usize>,
        key: impl Into<String>,
        message: impl Into<String>,
    ) -> ConfigError {
        ConfigError::Invalid {
            file: self.file.clone(),
            line: self.line(span.start),
            key: key.into(),
            message: message.into(),
        }
    }

    /// A range check on an integer.
    fn range(
        &self,
        v: &Option<Spanned<i64>>,
        key: &str,
        lo: i64,
        hi: i64,
        default: i64,
    ) -> Result<i64, ConfigError> {
        match v {
            None => Ok(default),
            Some(s) => {
                let n = *s.get_ref();
                if n < lo || n > hi {
                    Err(self.err(s.span(), key, format!("must be {lo}..={hi} (is {n})")))
                } else {
                    Ok(n)
                }
            }
        }
    }

    /// The key path of the table (and key) at `offset`, from the headers above it: used for
    /// serde's errors, which only carry a position.
    fn key_path_at(&self, span: &Range<usize>) -> String {
        let start = span.start.min(self.text.len());
        let before = self.text.get(..start).unwrap_or("");
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let line = self.text.get(line_start..).unwrap_or("");
        let line = line.split('\n').next().unwrap_or("").trim();
        let mut header: Option<(String, bool)> = None;
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        let mut arrays: BTreeMap<String, usize> = BTreeMap::new();
        for l in self.text.get(..line_start).unwrap_or("").lines() {
            let l = l.trim();
            if let Some(name) = l.strip_prefix("[[").and_then(|r| r.split("]]").next()) {
                let name = name.trim().to_string();
                *counts.entry(name.clone()).or_insert(0) += 1;
                arrays.insert(name.clone(), counts[&name] - 1);
                header = Some((name, true));
            } else if let Some(name) = l.strip_prefix('[').and_then(|r| r.split(']').next()) {
                header = Some((name.trim().to_string(), false));
            }
        }
        // A header on the error's own line is the path itself.
        let own = if let Some(name) = line.strip_prefix("[[").and_then(|r| r.split("]]").next()) {
            let name = name.trim().to_string();
            let idx = counts.get(&name).copied().unwrap_or(0);
            arrays.insert(name.clone(), idx);
            header = Some((name, true));
            true
        } else if let Some(name) = line.strip_prefix('[').and_then(|r| r.split(']').next()) {
            header = Some((name.trim().to_string(), false));
            true
        } else {
            false
        };
        let mut path = String::new();
        if let Some((name, _)) = header {
            let mut prefix = String::new();
            for part in name.split('.') {
                if !prefix.is_empty() {
                    prefix.push('.');
                }
                prefix.push_str(part.trim());
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(part.trim());
                if let Some(i) = arrays.get(&prefix) {
                    path.push_str(&format!("[{i}]"));
                }
            }
        }
        if !own {
            if let Some((key, _)) = line.split_once('=') {
                let key = key.trim().trim_matches('"');
                if !key.is_empty() {
                    if !path.is_empty() {
                        path.push('.');
                    }
                    path.push_str(key);
                }
            }
        }
        path
    }
}

impl Config {
    /// Reads and checks `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            file: path.display().to_string(),
            source,
        })?;
        Config::parse(&text, &path.display().to_string())
    }

    /// Checks `text`, naming `file` in errors.
    pub fn parse(text: &str, file: &str) -> Result<Config, ConfigError> {
        let lines = Lines {
            text,
            file: file.to_string(),
        };
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            let span = e.span().unwrap_or(0..0);
            let message = e.message().trim().replace('\n', " ");
            lines.err(span.clone(), lines.key_path_at(&span), message)
        })?;
        Config::from_raw(raw, &lines)
    }

    fn from_raw(raw: RawConfig, l: &Lines<'_>) -> Result<Config, ConfigError> {
        let id = match raw.sensor.id {
            Some(s) => {
                // The uplink's rules for one topic level apply to the id.
                if let Err(e) = uplink::MqttConfig::new("mqtt://localhost", s.get_ref()) {
                    return Err(l.err(s.span(), "sensor.id", e.to_string()));
                }
                s.into_inner()
            }
            None => uplink::default_sensor_id(),
        };
        let sensor = SensorSection {
            id: id.clone(),
            user: match raw.sensor.user {
                Some(u) if u.get_ref().is_empty() => {
                    return Err(l.err(u.span(), "sensor.user", "must not be empty"))
                }
                u => u.map(Spanned::into_inner),
            },
            allow_root: raw.sensor.allow_root.unwrap_or(false),
            flow_capacity: l.range(
                &raw.sensor.flow_capacity,
                "sensor.flow_capacity",
                1024,
                1 << 26,
                crate::runtime::worker::DEFAULT_FLOW_CAPACITY as i64,
            )? as usize,
            verify_checksums: raw.sensor.verify_checksums.unwrap_or(false),
            shutdown_timeout: l.range(
                &raw.sensor.shutdown_timeout,
                "sensor.shutdown_timeout",
                1,
                600,
                10,
            )? as u64,
        };
        let level = match raw.log.level {
            Some(s) => {
                let v = s.get_ref().to_ascii_lowercase();
                if !["error", "warn", "info", "debug", "trace"].contains(&v.as_str()) {
                    return Err(l.err(
                        s.span(),
                        "log.level",
                        "must be one of error, warn, info, debug, trace",
                    ));
                }
                v
            }
            None => "info".into(),
        };
        let log = LogSection {
            format: raw.log.format.unwrap_or(LogFormat::Human),
            level,
            health_interval: l.range(
                &raw.log.health_interval,
                "log.health_interval",
                0,
                86_400,
                60,
            )? as u64,
        };
        let stats = StatsSection {
            interval: l.range(&raw.stats.interval, "stats.interval", 0, 86_400, 60)? as u64,
        };
        let mut paths = Vec::new();
        for (i, p) in raw.rules.paths.into_iter().enumerate() {
            if p.get_ref().as_os_str().is_empty() {
                return Err(l.err(p.span(), format!("rules.paths[{i}]"), "must not be empty"));
            }
            paths.push(p.into_inner());
        }
        let mut bundle_keys = Vec::new();
        for (i, p) in raw.rules.bundle_keys.into_iter().enumerate() {
            if p.get_ref().as_os_str().is_empty() {
                return Err(l.err(
                    p.span(),
                    format!("rules.bundle_keys[{i}]"),
                    "must not be empty",
                ));
            }
            bundle_keys.push(p.into_inner());
        }
        let bundle_dir = match raw.rules.bundle_dir {
            Some(d) if d.get_ref().as_os_str().is_empty() => {
                return Err(l.err(d.span(), "rules.bundle_dir", "must not be empty"))
            }
            Some(d) => d.into_inner(),
            None => default_bundle_dir(raw.uplink.as_ref().and_then(|u| u.spool_dir.as_deref())),
        };
        let rules = RulesSection {
            paths,
            address_groups: raw.rules.address_groups,
            port_groups: raw.rules.port_groups,
            bundle_keys,
            bundle_dir,
        };
        let types = match raw.eve.types {
            Some(t) => {
                for name in t.get_ref() {
                    if !EVE_TYPES.contains(&name.as_str()) {
                        return Err(l.err(
                            t.span(),
                            "eve.types",
                            format!(
                                "unknown event type {name:?} (known: {})",
                                EVE_TYPES.join(", ")
                            ),
                        ));
                    }
                }
                t.into_inner()
            }
            None => EVE_TYPES.iter().map(|t| t.to_string()).collect(),
        };
        let eve = EveSection {
            path: raw.eve.path,
            types,
        };
        let uplink = match raw.uplink {
            Some(u) => Some(uplink_section(u, &id, !rules.bundle_keys.is_empty(), l)?),
            None => None,
        };
        let mut interfaces = Vec::new();
        let mut names = std::collections::BTreeSet::new();
        for (i, s) in raw.interface.into_iter().enumerate() {
            let span = s.span();
            let r = s.into_inner();
            let k = |f: &str| format!("interface[{i}].{f}");
            let name = r.name.get_ref().clone();
            if name.is_empty() || name.len() > 15 || name.contains(['/', ' ', '\0']) {
                return Err(l.err(
                    r.name.span(),
                    k("name"),
                    "must be an interface name (1..=15 bytes, no '/' or space)",
                ));
            }
            if !names.insert(name.clone()) {
                return Err(l.err(
                    r.name.span(),
                    k("name"),
                    format!("interface {name:?} is listed twice"),
                ));
            }
            let block_size = l.range(&r.block_size, &k("block_size"), 4096, 1 << 30, 1 << 20)?;
            if (block_size as u64).count_ones() != 1 {
                if let Some(b) = &r.block_size {
                    return Err(l.err(b.span(), k("block_size"), "must be a power of two"));
                }
            }
            let ring_size = l.range(&r.ring_size, &k("ring_size"), 65_536, 1 << 34, 64 << 20)?;
            if ring_size % block_size != 0 || ring_size / block_size > 1 << 20 {
                let sp = r.ring_size.as_ref().map_or(span.clone(), Spanned::span);
                return Err(l.err(
                    sp,
                    k("ring_size"),
                    format!("must be a multiple of block_size ({block_size})"),
                ));
            }
            if let Some(f) = &r.filter {
                if let Err(e) = compile_filter(f.get_ref()) {
                    return Err(l.err(f.span(), k("filter"), e));
                }
            }
            interfaces.push(InterfaceSection {
                name,
                backend: r.backend.unwrap_or(Backend::AfPacket),
                workers: l.range(&r.workers, &k("workers"), 1, 64, 1)? as usize,
                filter: r.filter.map(Spanned::into_inner),
                snaplen: l.range(&r.snaplen, &k("snaplen"), 64, 262_144, 65_535)? as u32,
                promiscuous: r.promiscuous.unwrap_or(true),
                block_size: block_size as u32,
                ring_size: ring_size as u64,
                block_timeout: l.range(&r.block_timeout, &k("block_timeout"), 1, 1000, 10)? as u32,
                fanout_group: match &r.fanout_group {
                    Some(_) => {
                        Some(l.range(&r.fanout_group, &k("fanout_group"), 0, 65_535, 0)? as u16)
                    }
                    None => None,
                },
            });
        }
        Ok(Config {
            sensor,
            log,
            stats,
            rules,
            eve,
            uplink,
            interfaces,
        })
    }

    /// The effective configuration as TOML (passwords and keys are never printed).
    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_else(|e| format!("# cannot print the configuration: {e}\n"))
    }

    /// What differs from `old`, and whether it can be applied without a restart.
    pub fn live_diff(&self, old: &Config) -> LiveDiff {
        let bundles = |r: &RulesSection| (r.bundle_keys.clone(), r.bundle_dir.clone());
        let mut d = LiveDiff {
            rules: self.rules != old.rules,
            intervals: self.stats != old.stats
                || self.log.health_interval != old.log.health_interval,
            need_restart: Vec::new(),
        };
        if bundles(&self.rules) != bundles(&old.rules) {
            d.need_restart.push("rules.bundle_keys/bundle_dir");
        }
        if self.sensor != old.sensor {
            d.need_restart.push("sensor");
        }
        if self.log.format != old.log.format || self.log.level != old.log.level {
            d.need_restart.push("log");
        }
        if self.eve != old.eve {
            d.need_restart.push("eve");
        }
        if self.uplink != old.uplink {
            d.need_restart.push("uplink");
        }
        if self.interfaces != old.interfaces {
            d.need_restart.push("interface");
        }
        d
    }

    /// The uplink's own configuration, if an `[uplink]` section is present.
    pub fn uplink_config(&self) -> Result<Option<uplink::UplinkConfig>, String> {
        let Some(u) = &self.uplink else {
            return Ok(None);
        };
        let mut cfg = uplink::UplinkConfig::new(&self.sensor.id, &u.spool_dir);
        cfg.spool = uplink::SpoolOptions::with_max_bytes(u.spool_max_bytes);
        cfg.channel_capacity = u.channel_capacity;
        cfg.stats_interval = Duration::from_secs(u.status_interval);
        cfg.interfaces = self.interfaces.iter().map(|i| i.name.clone()).collect();
        for d in &u.destinations {
            cfg.destinations
                .push(destination_config(d, &self.sensor.id)?);
        }
        cfg.validate().map_err(|e| e.to_string())?;
        Ok(Some(cfg))
    }

    /// The trusted bundle signers of `rules.bundle_keys`, read from their files.
    pub fn bundle_keys(&self) -> Result<Vec<uplink::bundle::VerifyingKey>, String> {
        let mut keys = Vec::with_capacity(self.rules.bundle_keys.len());
        for p in &self.rules.bundle_keys {
            let text = std::fs::read_to_string(p)
                .map_err(|e| format!("rules.bundle_keys: {}: {e}", p.display()))?;
            let key = uplink::bundle::parse_verifying_key(&text)
                .map_err(|e| format!("rules.bundle_keys: {}: {e}", p.display()))?;
            keys.push(key);
        }
        Ok(keys)
    }

    /// The rule variables: Suricata's defaults with this file's groups over them.
    pub fn rule_vars(&self) -> signatures::Vars {
        let mut v = signatures::Vars::suricata_defaults();
        for (k, val) in &self.rules.address_groups {
            v.set_address(k, val);
        }
        for (k, val) in &self.rules.port_groups {
            v.set_port(k, val);
        }
        v
    }
}

fn destination_config(
    d: &DestinationSection,
    sensor_id: &str,
) -> Result<uplink::DestinationConfig, String> {
    let mut c = uplink::DestinationConfig::new(&d.name, &d.url, sensor_id);
    c.protocol = if d.protocol == "5" {
        uplink::Protocol::V5
    } else {
        uplink::Protocol::V311
    };
    c.client_id = d.client_id.clone();
    c.allow_plaintext = d.allow_plaintext;
    c.username = d.username.clone();
    c.password = match (&d.password, &d.password_file) {
        (Some(p), _) => Some(p.clone()),
        (None, Some(f)) => Some(
            std::fs::read_to_string(f)
                .map_err(|e| {
                    format!(
                        "destination '{}': password_file {}: {e}",
                        d.name,
                        f.display()
                    )
                })?
                .trim_end_matches(['\n', '\r'])
                .to_string(),
        ),
        (None, None) => None,
    };
    c.topic_prefix = d.topic_prefix.clone();
    c.status_topic = d.status_topic.clone();
    c.event_types = d.event_types.clone();
    c.keep_alive = Duration::from_secs(d.keep_alive);
    c.max_inflight = d.max_inflight;
    c.connect_timeout = Duration::from_secs(d.connect_timeout);
    c.tls = d.tls.as_ref().map(|t| uplink::TlsConfig {
        ca_file: t.ca_file.clone(),
        client_cert: t.client_cert.clone(),
        client_key: t.client_key.clone(),
    });
    c.commands = d.commands;
    c.batch = d.batch.as_ref().map(|b| uplink::BatchConfig {
        max_events: b.max_events,
        max_bytes: b.max_bytes,
        linger: Duration::from_millis(b.linger_ms),
        zstd_level: (b.zstd_level > 0).then_some(b.zstd_level),
    });
    if let Some(s) = &d.summary {
        let pseudonymise = if s.pseudonymise == "truncate" {
            uplink::Pseudonymise::Truncate {
                v4_prefix: s.v4_prefix,
                v6_prefix: s.v6_prefix,
            }
        } else {
            let key = match &s.key_file {
                Some(f) => std::fs::read(f).map_err(|e| {
                    format!("destination '{}': key_file {}: {e}", d.name, f.display())
                })?,
                None => Vec::new(),
            };
            uplink::Pseudonymise::Hmac { key }
        };
        let mut home_nets = Vec::new();
        for n in &s.home_nets {
            home_nets.push(uplink::IpNet::parse(n).map_err(|e| e.to_string())?);
        }
        c.policy = uplink::Policy::Summary(uplink::SummaryPolicy {
            window: Duration::from_secs(s.window),
            home_nets,
            pseudonymise,
            tlp: uplink::Tlp::parse(&s.tlp).map_err(|e| e.to_string())?,
        });
    }
    Ok(c)
}

/// `rules.bundle_dir` when not given: beside a spool directory of the configuration's own
/// (`<spool parent>/rules`), else [`DEFAULT_BUNDLE_DIR`].
fn default_bundle_dir(spool_dir: Option<&Path>) -> PathBuf {
    match spool_dir.filter(|s| *s != Path::new(DEFAULT_SPOOL_DIR)) {
        Some(s) => match s.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.join("rules"),
            _ => PathBuf::from(DEFAULT_BUNDLE_DIR),
        },
        None => PathBuf::from(DEFAULT_BUNDLE_DIR),
    }
}

fn uplink_section(
    u: RawUplink,
    sensor_id: &str,
    have_bundle_keys: bool,
    l: &Lines<'_>,
) -> Result<UplinkSection, ConfigError> {
    let mut destinations = Vec::new();
    for (i, s) in u.destination.into_iter().enumerate() {
        let span = s.span();
        let d = s.into_inner();
        let k = |f: &str| format!("uplink.destination[{i}].{f}");
        let protocol = match &d.protocol {
            Some(p) if ["3.1.1", "5"].contains(&p.get_ref().as_str()) => p.get_ref().clone(),
            Some(p) => return Err(l.err(p.span(), k("protocol"), "must be \"3.1.1\" or \"5\"")),
            None => "3.1.1".into(),
        };
        let policy = match &d.policy {
            Some(p) if ["full", "summary"].contains(&p.get_ref().as_str()) => p.get_ref().clone(),
            Some(p) => return Err(l.err(p.span(), k("policy"), "must be \"full\" or \"summary\"")),
            None => "full".into(),
        };
        if d.password.is_some() && d.password_file.is_some() {
            return Err(l.err(
                span,
                k("password"),
                "give password or password_file, not both",
            ));
        }
        let summary = match d.summary {
            Some(s) => {
                let sspan = s.span();
                let s = s.into_inner();
                let ks = |f: &str| format!("uplink.destination[{i}].summary.{f}");
                let pseudonymise = match &s.pseudonymise {
                    Some(p) if ["hmac", "truncate"].contains(&p.get_ref().as_str()) => {
                        p.get_ref().clone()
                    }
                    Some(p) => {
                        return Err(l.err(
                            p.span(),
                            ks("pseudonymise"),
                            "must be \"hmac\" or \"truncate\"",
                        ))
                    }
                    None => "hmac".into(),
                };
                if pseudonymise == "hmac" && s.key_file.is_none() {
                    return Err(l.err(
                        sspan,
                        ks("key_file"),
                        "pseudonymise = \"hmac\" needs a key_file",
                    ));
                }
                let mut home_nets = Vec::new();
                for (j, n) in s.home_nets.iter().enumerate() {
                    if let Err(e) = uplink::IpNet::parse(n.get_ref()) {
                        return Err(l.err(n.span(), ks(&format!("home_nets[{j}]")), e.to_string()));
                    }
                    home_nets.push(n.get_ref().clone());
                }
                let tlp = match &s.tlp {
                    Some(t) => {
                        if let Err(e) = uplink::Tlp::parse(t.get_ref()) {
                            return Err(l.err(t.span(), ks("tlp"), e.to_string()));
                        }
                        t.get_ref().clone()
                    }
                    None => "TLP:AMBER".into(),
                };
                Some(SummarySection {
                    window: l.range(&s.window, &ks("window"), 1, 86_400, 300)? as u64,
                    home_nets,
                    pseudonymise,
                    key_file: s.key_file,
                    v4_prefix: l.range(&s.v4_prefix, &ks("v4_prefix"), 0, 32, 16)? as u8,
                    v6_prefix: l.range(&s.v6_prefix, &ks("v6_prefix"), 0, 128, 48)? as u8,
                    tlp,
                })
            }
            None => None,
        };
        if policy == "summary" && summary.is_none() {
            return Err(l.err(
                span,
                k("summary"),
                "policy \"summary\" needs a [uplink.destination.summary] table",
            ));
        }
        let commands = match &d.commands {
            Some(c) if *c.get_ref() => {
                if protocol != "5" {
                    return Err(l.err(
                        c.span(),
                        k("commands"),
                        "commands need protocol = \"5\" (MQTT 5 bounds incoming packets)",
                    ));
                }
                if !have_bundle_keys {
                    return Err(l.err(
                        c.span(),
                        k("commands"),
                        "commands need rules.bundle_keys (the public keys bundles must be signed with)",
                    ));
                }
                true
            }
            _ => false,
        };
        let batch = match &d.batch {
            Some(b) => {
                let b = b.get_ref();
                let kb = |f: &str| format!("uplink.destination[{i}].batch.{f}");
                let def = uplink::BatchConfig::default();
                Some(BatchSection {
                    max_events: l.range(
                        &b.max_events,
                        &kb("max_events"),
                        1,
                        100_000,
                        def.max_events as i64,
                    )? as usize,
                    max_bytes: l.range(
                        &b.max_bytes,
                        &kb("max_bytes"),
                        1024,
                        64 << 20,
                        def.max_bytes as i64,
                    )? as usize,
                    linger_ms: l.range(
                        &b.linger_ms,
                        &kb("linger_ms"),
                        0,
                        3_600_000,
                        def.linger.as_millis() as i64,
                    )? as u64,
                    zstd_level: l.range(
                        &b.zstd_level,
                        &kb("zstd_level"),
                        0,
                        19,
                        i64::from(def.zstd_level.unwrap_or(0)),
                    )? as i32,
                })
            }
            None => None,
        };
        let defaults = uplink::DestinationConfig::new(&d.name, &d.url, sensor_id);
        let section = DestinationSection {
            name: d.name.clone(),
            url: d.url.clone(),
            protocol,
            client_id: d.client_id.unwrap_or(defaults.client_id),
            allow_plaintext: d.allow_plaintext.unwrap_or(false),
            username: d.username,
            password: d.password,
            password_file: d.password_file,
            topic_prefix: d.topic_prefix.unwrap_or(defaults.topic_prefix),
            status_topic: d.status_topic.unwrap_or(defaults.status_topic),
            event_types: d.event_types,
            policy,
            keep_alive: l.range(&d.keep_alive, &k("keep_alive"), 0, 65_535, 30)? as u64,
            max_inflight: l.range(&d.max_inflight, &k("max_inflight"), 1, 65_535, 1024)? as u16,
            connect_timeout: l.range(&d.connect_timeout, &k("connect_timeout"), 1, 600, 5)? as u64,
            tls: d.tls.map(|t| TlsSection {
                ca_file: t.ca_file,
                client_cert: t.client_cert,
                client_key: t.client_key,
            }),
            summary,
            commands,
            batch,
        };
        // The uplink crate's own checks (URL, TLS/plaintext, topics), on this destination.
        let mut probe = section.clone();
        probe.password_file = None;
        if probe.password.is_none() && section.password_file.is_some() {
            probe.password = Some(String::new());
        }
        if let Some(s) = &mut probe.summary {
            s.key_file = None;
        }
        match destination_config(&probe, sensor_id) {
            Ok(mut c) => {
                if let uplink::Policy::Summary(p) = &mut c.policy {
                    // The key is read at start; only its presence is checked here.
                    p.pseudonymise = uplink::Pseudonymise::Truncate {
                        v4_prefix: 16,
                        v6_prefix: 48,
                    };
                }
                if let Err(e) = c.validate() {
                    return Err(l.err(span, format!("uplink.destination[{i}]"), e.to_string()));
                }
            }
            Err(e) => return Err(l.err(span, format!("uplink.destination[{i}]"), e)),
        }
        if destinations
            .iter()
            .any(|x: &DestinationSection| x.name == section.name)
        {
            return Err(l.err(
                span,
                k("name"),
                format!("destination name {:?} is used twice", section.name),
            ));
        }
        destinations.push(section);
    }
    Ok(UplinkSection {
        spool_dir: u
            .spool_dir
            .unwrap_or_else(|| PathBuf::from(DEFAULT_SPOOL_DIR)),
        spool_max_bytes: l.range(
            &u.spool_max_bytes,
            "uplink.spool_max_bytes",
            1 << 20,
            1 << 44,
            1 << 30,
        )? as u64,
        channel_capacity: l.range(
            &u.channel_capacity,
            "uplink.channel_capacity",
            1,
            1 << 22,
            16_384,
        )? as usize,
        status_interval: l.range(&u.status_interval, "uplink.status_interval", 0, 86_400, 60)?
            as u64,
        destinations,
    })
}

/// Compiles a tcpdump-syntax filter for Ethernet with libpcap, as classic-BPF instructions.
pub fn compile_filter(expr: &str) -> Result<Vec<crate::sys::BpfInsn>, String> {
    let dead = pcap::Capture::dead(pcap::Linktype::ETHERNET).map_err(|e| e.to_string())?;
    let prog = dead
        .compile(expr, true)
        .map_err(|e| format!("bad filter {expr:?}: {e}"))?;
    // The pcap crate exposes instructions only through Display ("code jt jf k").
    let mut out = Vec::new();
    for insn in prog.get_instructions() {
        let text = insn.to_string();
        let mut it = text.split_whitespace().map(str::parse::<u64>);
        let mut next = || it.next().and_then(Result::ok);
        let (Some(code), Some(jt), Some(jf), Some(k)) = (next(), next(), next(), next()) else {
            return Err(format!("cannot read compiled filter instruction {text:?}"));
        };
        out.push(crate::sys::BpfInsn {
            code: u16::try_from(code).map_err(|_| "bad BPF opcode".to_string())?,
            jt: u8::try_from(jt).map_err(|_| "bad BPF jump".to_string())?,
            jf: u8::try_from(jf).map_err(|_| "bad BPF jump".to_string())?,
            k: u32::try_from(k).map_err(|_| "bad BPF operand".to_string())?,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
