//! MQTT uplink of the sensor: publishes serialised EVE JSON events at QoS 1
//! to `cirt/<sensor-id>/events/<event_type>` and accounts for every PUBACK;
//! with [`Uplink::start_with`], through a crash-safe disk spool to any
//! number of destinations (TLS, MQTT 5, per-destination policy).
//!
//! The uplink knows nothing about packets. Producers get an
//! [`EventSender`]; live capture uses [`EventSender::try_send`] (never
//! blocks, drops and counts when the bounded channel is full), replay uses
//! [`EventSender::send`] (blocks, so nothing is dropped). At the end,
//! [`Uplink::finish`] waits for outstanding acknowledgements up to a timeout
//! and returns an [`UplinkReport`].
//!
//! ```no_run
//! use std::time::Duration;
//! use uplink::{MqttConfig, Uplink};
//!
//! let cfg = MqttConfig::new("mqtt://127.0.0.1:1883", &uplink::default_sensor_id())?;
//! let up = Uplink::start(cfg)?;
//! let tx = up.sender();
//! tx.send("alert", br#"{"event_type":"alert"}"#.to_vec())?;
//! let report = up.finish(Duration::from_secs(10))?;
//! if report.unacked > 0 {
//!     eprintln!("{} events were not acknowledged", report.unacked);
//!     std::process::exit(1);
//! }
//! # Ok::<(), uplink::UplinkError>(())
//! ```
//!
//! # Delivery semantics
//!
//! * **Accepted** = the event entered the channel (`send`/`try_send` returned
//!   `Ok`/`true`). Every accepted event is published until its PUBACK
//!   arrives or `finish`'s timeout expires; `acked` counts each event at most
//!   once, `unacked = accepted - acked`.
//! * The connection uses a clean session. If it drops (or the broker is
//!   down at start), the uplink reconnects with exponential backoff (100 ms
//!   doubling up to [`MqttConfig::reconnect_backoff_max`]) and republishes
//!   every unacknowledged event after the new CONNACK. A broker may thus
//!   have received an event twice (QoS 1 is at-least-once); subscribers must
//!   tolerate duplicates. `republished` says how many publishes were repeats.
//! * Order is preserved on one connection; after a reconnect, republished
//!   events precede newer ones.
//! * Live capture: use `try_send`; a full channel drops the event and counts
//!   it in `dropped_channel_full`. Replay: use `send` (blocks, nothing is
//!   dropped) or `send_timeout` (bounded wait when the broker is gone).
//! * Memory is bounded: at most `channel_capacity` events in the channel plus
//!   `max_inflight` events awaiting PUBACK (each held twice: once by the
//!   uplink for republishing, once by rumqttc). Events bigger than
//!   `max_packet_size` are dropped (`dropped_too_large`).
//! * A broken or hostile broker only shows up in counters and `last_error`;
//!   [`Uplink::finish`] always returns by its timeout.
//!
//! # Spooled, multi-destination uplink
//!
//! [`Uplink::start_with`] takes an [`UplinkConfig`]: a sensor id, a spool
//! directory with its bounds and fsync policy ([`SpoolOptions`],
//! [`SyncPolicy`]) and any number of [`DestinationConfig`]s (typically
//! `national` with [`Policy::Full`] and `grc` with [`Policy::Summary`]),
//! each with its own URL (`mqtt://` only with `allow_plaintext`,
//! `mqtts://` with a CA file and, for mutual TLS, a client certificate and
//! key), MQTT 3.1.1 or 5, client id, credentials, topic prefix, status
//! topic and event-type filter. The producer side ([`EventSender`],
//! [`Uplink::finish`], [`UplinkReport`]) is the same as for
//! [`Uplink::start`]; [`UplinkReport::destinations`] adds per-destination
//! counters and [`UplinkReport::spool`] the spool's.
//!
//! ```no_run
//! use std::time::Duration;
//! use uplink::{DestinationConfig, TlsConfig, Uplink, UplinkConfig};
//!
//! let mut national = DestinationConfig::new("national", "mqtts://cirt.example:8883", "s1");
//! national.tls = Some(TlsConfig {
//!     ca_file: "/etc/sensor/ca.pem".into(),
//!     client_cert: Some("/etc/sensor/sensor.pem".into()),
//!     client_key: Some("/etc/sensor/sensor.key".into()),
//! });
//! let mut cfg = UplinkConfig::new("s1", "/var/spool/sensor");
//! cfg.destinations = vec![national];
//! let up = Uplink::start_with(cfg)?;
//! up.sender().try_send("alert", br#"{"event_type":"alert"}"#.to_vec());
//! let report = up.finish(Duration::from_secs(10))?; // unacked events stay spooled
//! # Ok::<(), uplink::UplinkError>(())
//! ```
//!
//! What it guarantees, and how, is documented where it is implemented:
//! [`engine`] (data flow, event ids and duplicate removal, status and Last
//! Will, ack accounting), [`spool`] (on-disk format, bounds, what `kill -9`
//! and a power cut can lose), [`summary`] (what leaves the country),
//! [`destination`] (TLS and plaintext rules).
//!
//! # Batches, commands and rule bundles
//!
//! A destination may send zstd-compressed batches of JSON lines instead of
//! one message per event ([`DestinationConfig::batch`], [`BatchConfig`];
//! the collector one-liner is in [`engine`]). With
//! [`DestinationConfig::commands`] it also receives rule bundles on
//! `cirt/<sensor id>/cmd/rules`; the application takes them from
//! [`Uplink::commands`], checks them with [`bundle::verify`] and answers
//! with [`Uplink::publish_result`]:
//!
//! ```no_run
//! use std::time::Duration;
//! use uplink::{bundle, CommandResult, DestinationConfig, Protocol, Uplink, UplinkConfig};
//!
//! let mut d = DestinationConfig::new("national", "mqtt://127.0.0.1:1883", "s1");
//! d.allow_plaintext = true;
//! d.protocol = Protocol::V5;
//! d.commands = true;
//! let mut cfg = UplinkConfig::new("s1", "/var/spool/sensor");
//! cfg.destinations = vec![d];
//! let trusted = [bundle::parse_verifying_key(&std::fs::read_to_string("/etc/sensor/cirt.pub")?)?];
//! let up = Uplink::start_with(cfg)?;
//! let commands = up.commands().expect("a destination has commands = true");
//! while let Ok(cmd) = commands.recv_timeout(Duration::from_secs(1)) {
//!     let outcome = match bundle::verify(&cmd.payload, &trusted) {
//!         // Compile b.files; swap the rule set in only if they compile.
//!         Ok(b) => CommandResult { command: "rules".into(), applied: true,
//!                                  version: Some(b.version), reason: None },
//!         Err(e) => CommandResult { command: "rules".into(), applied: false,
//!                                   version: None, reason: Some(e.to_string()) },
//!     };
//!     if let Some(v) = outcome.version.as_deref().filter(|_| outcome.applied) {
//!         up.set_rules_version(v);
//!     }
//!     up.publish_result(outcome.to_json())?;
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # The CIRT side: brokers, bridges, clusters, collectors
//!
//! One mosquitto handles tens of thousands of QoS 1 messages per second;
//! with batches, one broker serves many sensors. When it is not enough, or
//! when events must flow between organisations:
//!
//! * **National -> GRC with a bridge.** The national broker forwards only
//!   summary topics to the global response centre; sensors publish their
//!   `summary` destination to the national broker under a prefix of its own
//!   (e.g. `cirt/<id>/summary`), and mosquitto.conf on the national broker
//!   has
//!   ```text
//!   connection grc
//!   address grc.example:8883
//!   topic cirt/+/summary/# out 1
//!   bridge_cafile /etc/mosquitto/grc-ca.pem
//!   bridge_certfile /etc/mosquitto/national.pem
//!   bridge_keyfile /etc/mosquitto/national.key
//!   cleansession false
//!   ```
//!   Nothing else crosses (tested in `tests/batch.rs` with two real brokers:
//!   every message the GRC receives is a summary, with no home-network
//!   address in clear). Alternatively a sensor's `grc` destination connects
//!   to the GRC broker directly; the bridge keeps one connection per country.
//! * **More brokers.** Sensors of one region each use their regional broker,
//!   and regional brokers bridge `cirt/+/events/#` (`out`) to a central
//!   one; mosquitto queues for a bridge that is down like for any
//!   persistent client (size its `max_queued_messages`). A clustered broker
//!   (EMQX, VerneMQ, HiveMQ) gives one logical broker over several nodes
//!   instead; the sensors need no change (a list of URLs behind a DNS name
//!   or a TCP load balancer).
//! * **More collectors.** Collectors scale out with an MQTT 5 shared
//!   subscription: every member of `$share/collectors/cirt/+/events/#`
//!   receives a share, and each message goes to exactly one of them (tested
//!   in `tests/tls.rs`). Collectors drop QoS 1 duplicates by `event_id`.
//! * **Operators** watch with `sensor tail --mqtt URL` (a plain subscription:
//!   it takes nothing away from the shared group).
//!
//! Not in this version: QoS 0 and 2 for events; a summary window survives
//! neither a crash nor a restart (the raw events of a partial window are
//! not re-aggregated; the summaries already spooled are); spool I/O runs on
//! the uplink thread (an `fdatasync` stalls publishing, not capture).
//! [`Uplink::start`] keeps the spool-less single-broker behaviour above.
//!
//! # Layout
//!
//! [`config`] (URL, ids, topics; pure), [`destination`] (multi-destination
//! configuration and TLS), `state` (ack bookkeeping; pure, unit-tested),
//! [`spool`] (disk queue), [`summary`] (aggregation and pseudonymisation;
//! pure), `client` (threads, producer handle, single-broker worker),
//! [`engine`] (spooled multi-destination worker, batches, commands),
//! [`bundle`] (signed rule bundles), [`collect`] (subscriber side, batch
//! expansion), `report` (counters), and,
//! behind the `test-broker` feature, `test_broker` (a real mosquitto, with
//! TLS and ACLs if asked, and MQTT 3.1.1/5 subscribers for tests).

pub mod bundle;
mod client;
pub mod collect;
pub mod config;
pub mod destination;
pub mod engine;
mod error;
mod report;
pub mod spool;
mod state;
pub mod summary;
#[cfg(feature = "test-broker")]
pub mod test_broker;

pub use client::{Command, CommandResult, RESULT_TOPIC_SUFFIX, RULES_TOPIC_SUFFIX};
pub use client::{EventSender, Uplink};
pub use config::{default_sensor_id, BrokerAddr, MqttConfig};
pub use destination::{BatchConfig, DestinationConfig, Policy, Protocol, TlsConfig, UplinkConfig};
pub use error::UplinkError;
pub use report::DestinationReport;
pub use report::UplinkReport;
pub use spool::{SpoolOptions, SpoolStats, SyncPolicy};
pub use summary::{IpNet, Pseudonymise, SummaryPolicy, Tlp};

#[cfg(test)]
mod tests {
    #[test]
    fn handles_are_thread_safe() {
        fn send_sync<T: Send + Sync + Clone>() {}
        fn send<T: Send>() {}
        send_sync::<crate::EventSender>();
        send::<crate::Uplink>();
        send_sync::<crate::UplinkReport>();
        send::<crate::UplinkError>();
    }
}
