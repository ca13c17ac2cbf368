//! MQTT uplink of the sensor: publishes serialised EVE JSON events at QoS 1
//! to `cirt/<sensor-id>/events/<event_type>` and accounts for every PUBACK.
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
//! Layout: [`config`] (URL, ids, topics; pure), `state` (ack bookkeeping;
//! pure, unit-tested), `client` (thread + tokio + rumqttc I/O), `report`
//! (counters), and, behind the `test-broker` feature, [`test_broker`]
//! (a real mosquitto for tests).

mod client;
pub mod config;
mod error;
mod report;
mod state;
#[cfg(feature = "test-broker")]
pub mod test_broker;

pub use client::{EventSender, Uplink};
pub use config::{default_sensor_id, BrokerAddr, MqttConfig};
pub use error::UplinkError;
pub use report::UplinkReport;
