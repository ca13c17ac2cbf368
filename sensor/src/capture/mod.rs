//! Capture: sources of timestamped frames.
//!
//! A frame is borrowed from the source until the next call, so the pipeline never copies
//! packet bytes; a source that cannot go on says why in a [`CaptureError`].

pub mod afpacket;
pub mod live;
mod pcap_file;

pub use pcap_file::PcapFile;

use crate::decode::LinkType;

/// A capture time, microseconds precision (what libpcap hands out for pcap and pcapng).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timestamp {
    /// Seconds since the Unix epoch.
    pub secs: i64,
    /// Microseconds within the second.
    pub usecs: u32,
}

impl Timestamp {
    /// Microseconds since the epoch.
    pub fn as_micros(self) -> i64 {
        self.secs
            .saturating_mul(1_000_000)
            .saturating_add(i64::from(self.usecs))
    }
}

/// One captured frame, borrowed from its source.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    /// When it was captured.
    pub ts: Timestamp,
    /// Length on the wire (may exceed `data.len()` when the snap length cut it).
    pub wire_len: u32,
    /// The captured bytes.
    pub data: &'a [u8],
    /// How `data` starts.
    pub link: LinkType,
}

/// Why a capture source failed.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// The file could not be opened or is not a pcap/pcapng capture.
    #[error("{path}: cannot open capture: {reason}")]
    Open {
        /// The file.
        path: String,
        /// libpcap's explanation.
        reason: String,
    },
    /// The capture's link type is not one we decode.
    #[error("{path}: unsupported link type {linktype} (supported: Ethernet, raw IP, Linux SLL and SLL2, BSD loopback, PPP)")]
    LinkType {
        /// The file.
        path: String,
        /// The pcap linktype number.
        linktype: i32,
    },
    /// Reading stopped part way (truncated file, bad record).
    #[error("{path}: read error after {packets} packets: {reason}")]
    Read {
        /// The file.
        path: String,
        /// Packets read successfully before the error.
        packets: u64,
        /// libpcap's explanation.
        reason: String,
    },
}
