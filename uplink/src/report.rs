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
    /// This and the next four fields sum over all destinations, if any.
    pub connect_failures: u64,
    /// Successful connections (CONNACK received).
    pub connections: u64,
    /// Established connections that were lost.
    pub disconnects: u64,
    /// Publishes sent again after a reconnect (may duplicate at subscribers).
    pub republished: u64,
    /// Protocol anomalies tolerated (unknown PUBACK ids, unexpected events).
    pub anomalies: u64,
    /// The most recent connection or spool error, if any (else the first
    /// destination's that has one).
    pub last_error: Option<String>,
    /// Events written to the disk spool in this run ([`crate::Uplink::start_with`] only).
    pub spooled: u64,
    /// Events lost because the spool could not be written (disk error).
    pub dropped_spool_error: u64,
    /// Spool counters, if a spool is used.
    pub spool: Option<crate::spool::SpoolStats>,
    /// Per-destination counters ([`crate::Uplink::start_with`] only).
    pub destinations: Vec<DestinationReport>,
    /// Commands handed to [`crate::Uplink::commands`].
    pub commands_received: u64,
    /// Commands dropped: too large, or the queue was full.
    pub commands_refused: u64,
}

/// Counters of one destination.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DestinationReport {
    /// Destination name.
    pub name: String,
    /// Spooled records for it that the broker acknowledged (PUBACK success).
    pub acked: u64,
    /// Records the broker refused (MQTT 5 PUBACK reason code, e.g. an ACL);
    /// they are not retried.
    pub refused: u64,
    /// Records dropped from the full spool before this destination read them.
    pub dropped_spool_full: u64,
    /// Publishes sent again after a reconnect.
    pub republished: u64,
    /// Successful connections.
    pub connections: u64,
    /// Failed connection attempts (TCP, TLS, CONNACK).
    pub connect_failures: u64,
    /// Established connections that were lost.
    pub disconnects: u64,
    /// Protocol anomalies tolerated.
    pub anomalies: u64,
    /// Records spooled but not yet acknowledged by it (sequence numbers between
    /// its cursor and the spool's end, including records it does not take).
    pub backlog: u64,
    /// Most recent error (connection, TLS, refused publish).
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
        if self.spool.is_some() {
            write!(
                f,
                " spooled {} spool_error {}",
                self.spooled, self.dropped_spool_error
            )?;
        }
        for d in &self.destinations {
            write!(
                f,
                "; [{}] acked {} refused {} dropped_spool_full {} backlog {} connections {} connect_failures {} disconnects {} republished {}",
                d.name, d.acked, d.refused, d.dropped_spool_full, d.backlog, d.connections,
                d.connect_failures, d.disconnects, d.republished
            )?;
            if let Some(e) = &d.last_error {
                write!(f, " last_error: {e}")?;
            }
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
    pub spooled: AtomicU64,
    pub dropped_spool_error: AtomicU64,
    pub spool: Mutex<Option<crate::spool::SpoolStats>>,
    pub dests: Vec<DestCounters>,
    /// Rule set version shown in status messages (changes on rule updates).
    pub rules_version: Mutex<Option<String>>,
    pub commands_received: AtomicU64,
    pub commands_refused: AtomicU64,
}

#[derive(Debug, Default)]
pub(crate) struct DestCounters {
    pub name: String,
    pub acked: AtomicU64,
    pub refused: AtomicU64,
    pub dropped_spool_full: AtomicU64,
    pub republished: AtomicU64,
    pub connections: AtomicU64,
    pub connect_failures: AtomicU64,
    pub disconnects: AtomicU64,
    pub anomalies: AtomicU64,
    pub backlog: AtomicU64,
    pub last_error: Mutex<Option<String>>,
}

impl DestCounters {
    pub(crate) fn set_error(&self, e: String) {
        if let Ok(mut g) = self.last_error.lock() {
            *g = Some(e);
        }
    }

    fn snapshot(&self) -> DestinationReport {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        DestinationReport {
            name: self.name.clone(),
            acked: get(&self.acked),
            refused: get(&self.refused),
            dropped_spool_full: get(&self.dropped_spool_full),
            republished: get(&self.republished),
            connections: get(&self.connections),
            connect_failures: get(&self.connect_failures),
            disconnects: get(&self.disconnects),
            anomalies: get(&self.anomalies),
            backlog: get(&self.backlog),
            last_error: self.last_error.lock().ok().and_then(|g| g.clone()),
        }
    }
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
        let destinations: Vec<DestinationReport> =
            self.dests.iter().map(DestCounters::snapshot).collect();
        // With destinations, the link counters are their sums.
        let sum = |own: &AtomicU64, f: fn(&DestinationReport) -> u64| {
            get(own) + destinations.iter().map(f).sum::<u64>()
        };
        let last_error = self
            .last_error
            .lock()
            .ok()
            .and_then(|g| g.clone())
            .or_else(|| destinations.iter().find_map(|d| d.last_error.clone()));
        UplinkReport {
            accepted,
            acked,
            unacked: accepted.saturating_sub(acked),
            dropped_channel_full: get(&self.dropped_channel_full),
            dropped_too_large: get(&self.dropped_too_large),
            dropped_invalid_event_type: get(&self.dropped_invalid_event_type),
            dropped_closed: get(&self.dropped_closed),
            dropped_send_timeout: get(&self.dropped_send_timeout),
            connect_failures: sum(&self.connect_failures, |d| d.connect_failures),
            connections: sum(&self.connections, |d| d.connections),
            disconnects: sum(&self.disconnects, |d| d.disconnects),
            republished: sum(&self.republished, |d| d.republished),
            anomalies: sum(&self.anomalies, |d| d.anomalies),
            last_error,
            spooled: get(&self.spooled),
            dropped_spool_error: get(&self.dropped_spool_error),
            spool: self.spool.lock().ok().and_then(|g| g.clone()),
            destinations,
            commands_received: get(&self.commands_received),
            commands_refused: get(&self.commands_refused),
        }
    }
}
