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
//! Not in this version: QoS 0 and 2 for events; MQTT 5 user properties
//! (the event id is in the payload); a summary window survives neither a
//! crash nor a restart (the raw events of a partial window are not
//! re-aggregated; the summaries already spooled are); spool I/O runs on the
//! uplink thread (an `fdatasync` stalls publishing, not capture).
//! [`Uplink::start`] keeps the spool-less single-broker behaviour above.
//!
//! # Layout
//!
//! [`config`] (URL, ids, topics; pure), [`destination`] (multi-destination
//! configuration and TLS), `state` (ack bookkeeping; pure, unit-tested),
//! [`spool`] (disk queue), [`summary`] (aggregation and pseudonymisation;
//! pure), `client` (threads, producer handle, single-broker worker),
//! [`engine`] (spooled multi-destination worker), `report` (counters), and,
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
