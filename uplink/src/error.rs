//! Error type of the uplink.
//!
//! Connection problems are *not* errors of the public API: the uplink keeps
//! retrying and reports them through counters in [`crate::UplinkReport`]
//! (`connect_failures`, `disconnects`, `last_error`). Errors are returned for
//! bad configuration, for events that cannot be published, and when the
//! background thread itself failed.

use crate::report::UplinkReport;

/// Errors returned by the uplink API.
#[derive(Debug, thiserror::Error)]
pub enum UplinkError {
    /// The broker URL could not be used.
    #[error("invalid MQTT URL '{url}': {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The sensor id cannot be used as a topic level.
    #[error("invalid sensor id '{id}': {reason}")]
    InvalidSensorId {
        /// The id as given (escaped).
        id: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The event type cannot be used as a topic level; the event was dropped.
    #[error("invalid event type '{event_type}': {reason}")]
    InvalidEventType {
        /// The event type as given (escaped).
        event_type: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Another configuration field is out of range.
    #[error("invalid uplink configuration: {0}")]
    InvalidConfig(String),
    /// The event is larger than the configured maximum packet size; it was dropped.
    #[error("event of {size} bytes (with topic) exceeds the MQTT packet limit of {max} bytes")]
    TooLarge {
        /// Payload plus topic size in bytes.
        size: usize,
        /// Configured `max_packet_size`.
        max: usize,
    },
    /// [`crate::EventSender::send_timeout`] found no room in time; the event was dropped.
    #[error("uplink channel stayed full for {0:?}; event dropped")]
    SendTimeout(std::time::Duration),
    /// The uplink is finishing or gone; the event was dropped.
    #[error("uplink is closed; event dropped")]
    Closed,
    /// The TLS settings of a destination cannot be used.
    #[error("destination '{destination}': TLS: {what}")]
    Tls {
        /// Destination name.
        destination: String,
        /// What is wrong (file names included).
        what: String,
    },
    /// The disk spool could not be used.
    #[error("spool {path}: cannot {what}: {source}")]
    Spool {
        /// File or directory concerned.
        path: String,
        /// What was being done.
        what: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The background thread or its runtime could not be created.
    #[error("cannot start the uplink thread: {0}")]
    Spawn(#[source] std::io::Error),
    /// The background thread panicked or did not stop in time. The report
    /// holds the counters as last seen.
    #[error("uplink worker failed: {reason}")]
    Worker {
        /// What happened.
        reason: String,
        /// Counters at the time of failure.
        report: Box<UplinkReport>,
    },
}
