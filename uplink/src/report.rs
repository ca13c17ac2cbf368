//! Counters shared between producers, the uplink thread and the caller.
//!
//! They live in atomics behind an `Arc` so that a snapshot is available at
//! any time ([`crate::Uplink::stats`]) and even if the worker thread dies.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Outcome of an uplink run (or a live snapshot of it).
///
/// `accepted == acked + unacked`; events counted in a `dropped_*` field were
/// never accepted. `acked` counts each accepted event at most once, even if it
/// was published more than once because of a reconnect.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UplinkReport {
    /// Events accepted into the uplink channel.
    pub accepted: u64,
    /// Accepted events whose PUBACK was received.
    pub acked: u64,
    /// Accepted events not (yet) acknowledged: `accepted - acked`.
    pub unacked: u64,
    /// Events dropped by `try_send` because the channel was full.
    pub dropped_channel_full: u64,
    /// Events dropped because the MQTT packet would exceed `max_packet_size`.
    pub dropped_too_large: u64,
    /// Events dropped because the event type is not a valid topic level.
    pub dropped_invalid_event_type: u64,
    /// Events offered after the uplink was closed.
    pub dropped_closed: u64,
    /// Events dropped by `send_timeout` because the channel stayed full.
    pub dropped_send_timeout: u64,
    /// Failed connection attempts (TCP, CONNACK refused/missing, timeout).
    pub connect_failures: u64,
    /// Successful connections (CONNACK received).
    pub connections: u64,
    /// Established connections that were lost.
    pub disconnects: u64,
    /// Publishes sent again after a reconnect (may duplicate at subscribers).
    pub republished: u64,
    /// Protocol anomalies tolerated (unknown PUBACK ids, unexpected events).
    pub anomalies: u64,
    /// The most recent connection error, if any.
    pub last_error: Option<String>,
}

impl UplinkReport {
    /// True when every accepted event was acknowledged.
    pub fn all_acked(&self) -> bool {
        self.unacked == 0
    }
}

impl fmt::Display for UplinkReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "accepted {} acked {} unacked {} dropped(channel_full {} too_large {} invalid_event_type {} closed {} send_timeout {}) \
             connections {} connect_failures {} disconnects {} republished {}",
            self.accepted,
            self.acked,
            self.unacked,
            self.dropped_channel_full,
            self.dropped_too_large,
            self.dropped_invalid_event_type,
            self.dropped_closed,
            self.dropped_send_timeout,
            self.connections,
            self.connect_failures,
            self.disconnects,
            self.republished
        )?;
        if let Some(e) = &self.last_error {
            write!(f, " last_error: {e}")?;
        }
        Ok(())
    }
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub accepted: AtomicU64,
    pub acked: AtomicU64,
    pub dropped_channel_full: AtomicU64,
    pub dropped_too_large: AtomicU64,
    pub dropped_invalid_event_type: AtomicU64,
    pub dropped_closed: AtomicU64,
    pub dropped_send_timeout: AtomicU64,
    pub connect_failures: AtomicU64,
    pub connections: AtomicU64,
    pub disconnects: AtomicU64,
    pub republished: AtomicU64,
    pub anomalies: AtomicU64,
    pub last_error: Mutex<Option<String>>,
}

impl Counters {
    pub(crate) fn inc(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn set_error(&self, e: String) {
        if let Ok(mut g) = self.last_error.lock() {
            *g = Some(e);
        }
    }

    pub(crate) fn snapshot(&self) -> UplinkReport {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let accepted = get(&self.accepted);
        let acked = get(&self.acked);
        UplinkReport {
            accepted,
            acked,
            unacked: accepted.saturating_sub(acked),
            dropped_channel_full: get(&self.dropped_channel_full),
            dropped_too_large: get(&self.dropped_too_large),
            dropped_invalid_event_type: get(&self.dropped_invalid_event_type),
            dropped_closed: get(&self.dropped_closed),
            dropped_send_timeout: get(&self.dropped_send_timeout),
            connect_failures: get(&self.connect_failures),
            connections: get(&self.connections),
            disconnects: get(&self.disconnects),
            republished: get(&self.republished),
            anomalies: get(&self.anomalies),
            last_error: self.last_error.lock().ok().and_then(|g| g.clone()),
        }
    }
}
