//! Counters for one run, merged across workers and printed as the replay summary.

use std::time::Duration;

use crate::decode::DecodeError;
use crate::flow::FlowCounters;

/// What one worker counted.
#[derive(Debug, Clone, Copy, Default)]
pub struct WorkerStats {
    /// Frames handed to the worker.
    pub packets: u64,
    /// Their captured bytes.
    pub bytes: u64,
    /// Frames cut short by libpcap's snap length.
    pub snaplen_cut: u64,
    /// Alerts emitted.
    pub alerts: u64,
    /// Decode failures by kind.
    pub truncated: u64,
    /// Malformed headers.
    pub malformed: u64,
    /// Non-IP frames (ARP, LLDP, ...), not inspected.
    pub not_ip: u64,
    /// Dropped for a wrong checksum (only with --verify-checksums).
    pub bad_checksum: u64,
    /// Flow table counters.
    pub flows: FlowCounters,
}

impl WorkerStats {
    /// Counts one decode failure.
    pub fn count_decode_error(&mut self, e: DecodeError) {
        match e {
            DecodeError::Truncated => self.truncated += 1,
            DecodeError::Malformed => self.malformed += 1,
            DecodeError::NotIp => self.not_ip += 1,
            DecodeError::BadChecksum => self.bad_checksum += 1,
        }
    }

    /// Decode errors proper (not counting non-IP frames, which are valid but uninspected).
    pub fn decode_errors(&self) -> u64 {
        self.truncated + self.malformed + self.bad_checksum
    }

    /// Adds another worker's counters.
    pub fn merge(&mut self, o: &WorkerStats) {
        self.packets += o.packets;
        self.bytes += o.bytes;
        self.snaplen_cut += o.snaplen_cut;
        self.alerts += o.alerts;
        self.truncated += o.truncated;
        self.malformed += o.malformed;
        self.not_ip += o.not_ip;
        self.bad_checksum += o.bad_checksum;
        self.flows.merge(&o.flows);
    }

    /// The human summary printed at the end of a replay.
    pub fn summary(&self, elapsed: Duration) -> String {
        let secs = elapsed.as_secs_f64().max(1e-9);
        format!(
            "replay: {} packets, {} bytes, {} alerts, {} decode errors \
             (truncated {}, malformed {}, bad checksum {}), {} non-IP, {} flows \
             ({} timed out, {} evicted, {} at shutdown), elapsed {:.3} s, {:.0} pkt/s, {:.1} Mbit/s",
            self.packets,
            self.bytes,
            self.alerts,
            self.decode_errors(),
            self.truncated,
            self.malformed,
            self.bad_checksum,
            self.not_ip,
            self.flows.created,
            self.flows.timed_out,
            self.flows.evicted,
            self.flows.shutdown,
            secs,
            self.packets as f64 / secs,
            self.bytes as f64 * 8.0 / secs / 1e6,
        )
    }
}
