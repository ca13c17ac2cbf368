//! pcap and pcapng files read through libpcap (the `pcap` crate).
//!
//! libpcap is the reference reader for both formats and already copes with byte order,
//! nanosecond files and pcapng's block zoo (unknown blocks are skipped by it), so we do not
//! re-implement the formats here. It reports a truncated last record as an error, which we
//! surface with the count of packets read before it.

use std::path::Path;

use super::{CaptureError, Frame, Timestamp};
use crate::decode::LinkType;

/// An open capture file.
pub struct PcapFile {
    cap: pcap::Capture<pcap::Offline>,
    link: LinkType,
    path: String,
    packets: u64,
}

impl std::fmt::Debug for PcapFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PcapFile")
            .field("path", &self.path)
            .field("link", &self.link)
            .field("packets", &self.packets)
            .finish()
    }
}

impl PcapFile {
    /// Opens `path`; fails with a readable reason for a missing, empty, truncated-header or
    /// non-capture file, or a link type we do not decode.
    pub fn open(path: &Path) -> Result<PcapFile, CaptureError> {
        let shown = path.display().to_string();
        // libpcap says "unknown file format" for an empty file; say what it is.
        match std::fs::metadata(path) {
            Err(e) => {
                return Err(CaptureError::Open {
                    path: shown,
                    reason: e.to_string(),
                })
            }
            Ok(m) if m.is_dir() => {
                return Err(CaptureError::Open {
                    path: shown,
                    reason: "is a directory".into(),
                })
            }
            Ok(m) if m.len() == 0 => {
                return Err(CaptureError::Open {
                    path: shown,
                    reason: "file is empty".into(),
                })
            }
            Ok(_) => {}
        }
        let cap = pcap::Capture::from_file(path).map_err(|e| CaptureError::Open {
            path: shown.clone(),
            reason: e.to_string(),
        })?;
        let linktype = cap.get_datalink().0;
        let link = LinkType::from_pcap(linktype).map_err(|linktype| CaptureError::LinkType {
            path: shown.clone(),
            linktype,
        })?;
        Ok(PcapFile {
            cap,
            link,
            path: shown,
            packets: 0,
        })
    }

    /// The next frame, `Ok(None)` at the end of the file.
    pub fn next_frame(&mut self) -> Result<Option<Frame<'_>>, CaptureError> {
        match self.cap.next_packet() {
            Ok(p) => {
                self.packets += 1;
                let ts = Timestamp {
                    secs: p.header.ts.tv_sec,
                    usecs: u32::try_from(p.header.ts.tv_usec.clamp(0, 999_999)).unwrap_or(0),
                };
                Ok(Some(Frame {
                    ts,
                    wire_len: p.header.len,
                    data: p.data,
                    link: self.link,
                }))
            }
            Err(pcap::Error::NoMorePackets) => Ok(None),
            Err(e) => Err(CaptureError::Read {
                path: self.path.clone(),
                packets: self.packets,
                reason: e.to_string(),
            }),
        }
    }

    /// The file as given on the command line.
    pub fn path(&self) -> &str {
        &self.path
    }
}
