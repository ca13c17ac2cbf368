//! Minimal classic-pcap writer (the libpcap "tcpdump" format).
//!
//! Written by hand rather than pulled from a crate because the format is 40
//! lines of code and we need byte-for-byte control: fixed timestamps, fixed
//! header fields, so the bundled capture is reproducible from its generator.

/// Classic pcap magic number for microsecond timestamps.
const MAGIC_MICROS: u32 = 0xa1b2_c3d4;
/// LINKTYPE_ETHERNET.
const LINKTYPE_ETHERNET: u32 = 1;
/// Snapshot length advertised in the global header.
const SNAPLEN: u32 = 65_535;

/// An in-memory pcap file being built, little-endian like most captures.
#[derive(Debug)]
pub struct PcapWriter {
    bytes: Vec<u8>,
}

impl PcapWriter {
    /// Start a capture with the 24-byte global header (Ethernet link type).
    pub fn new() -> Self {
        let mut bytes = Vec::with_capacity(64 * 1024);
        bytes.extend_from_slice(&MAGIC_MICROS.to_le_bytes());
        bytes.extend_from_slice(&2u16.to_le_bytes()); // version major
        bytes.extend_from_slice(&4u16.to_le_bytes()); // version minor
        bytes.extend_from_slice(&0i32.to_le_bytes()); // thiszone
        bytes.extend_from_slice(&0u32.to_le_bytes()); // sigfigs
        bytes.extend_from_slice(&SNAPLEN.to_le_bytes());
        bytes.extend_from_slice(&LINKTYPE_ETHERNET.to_le_bytes());
        Self { bytes }
    }

    /// Append one frame with a 16-byte record header; `ts_micros` is the
    /// absolute time in microseconds since the Unix epoch.
    pub fn push(&mut self, ts_micros: u64, frame: &[u8]) {
        let secs = u32::try_from(ts_micros / 1_000_000).unwrap_or(u32::MAX);
        let micros = u32::try_from(ts_micros % 1_000_000).unwrap_or(0);
        let len = u32::try_from(frame.len()).unwrap_or(u32::MAX);
        self.bytes.extend_from_slice(&secs.to_le_bytes());
        self.bytes.extend_from_slice(&micros.to_le_bytes());
        self.bytes.extend_from_slice(&len.to_le_bytes()); // captured length
        self.bytes.extend_from_slice(&len.to_le_bytes()); // original length
        self.bytes.extend_from_slice(frame);
    }

    /// The finished file contents.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_and_record_layout() {
        let mut w = PcapWriter::new();
        w.push(1_700_000_000_001_000, &[0xaa; 3]);
        let b = w.into_bytes();
        assert_eq!(b.len(), 24 + 16 + 3);
        assert_eq!(&b[..4], &[0xd4, 0xc3, 0xb2, 0xa1]);
        assert_eq!(u32::from_le_bytes([b[20], b[21], b[22], b[23]]), 1);
        assert_eq!(
            u32::from_le_bytes([b[24], b[25], b[26], b[27]]),
            1_700_000_000
        );
        assert_eq!(u32::from_le_bytes([b[28], b[29], b[30], b[31]]), 1_000);
    }
}
