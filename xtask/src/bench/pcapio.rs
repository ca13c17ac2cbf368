//! Capture files for the benchmark: a streaming classic-pcap writer and a small reader for
//! classic pcap and pcapng (SHB/IDB/EPB/SPB; other blocks skipped).
//!
//! Hand-written on purpose: xtask does not link libpcap or the sensor crate, and the reader
//! only needs to hand out frames of the link types the benchmark rewrites. Frames of other
//! link types are normalised here: raw IP and Linux cooked captures get an Ethernet header,
//! so the merged capture is a single Ethernet pcap both tools read the same way.

use anyhow::{bail, Context, Result};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

/// LINKTYPE_ETHERNET.
const ETHERNET: u32 = 1;

/// A classic pcap (microsecond, little-endian, Ethernet) written frame by frame.
pub struct PcapOut {
    out: BufWriter<File>,
    /// Frames written.
    pub packets: u64,
    /// Captured bytes of the frames written (record headers excluded).
    pub bytes: u64,
}

impl PcapOut {
    /// Creates `path` and writes the global header.
    pub fn create(path: &Path) -> Result<PcapOut> {
        let f = File::create(path).with_context(|| format!("creating {}", path.display()))?;
        let mut out = BufWriter::with_capacity(1 << 20, f);
        let mut h = Vec::with_capacity(24);
        h.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
        h.extend_from_slice(&2u16.to_le_bytes());
        h.extend_from_slice(&4u16.to_le_bytes());
        h.extend_from_slice(&0i32.to_le_bytes());
        h.extend_from_slice(&0u32.to_le_bytes());
        h.extend_from_slice(&262_144u32.to_le_bytes());
        h.extend_from_slice(&ETHERNET.to_le_bytes());
        out.write_all(&h)?;
        Ok(PcapOut {
            out,
            packets: 0,
            bytes: 0,
        })
    }

    /// Appends one frame at `ts_micros` (microseconds since the epoch).
    pub fn push(&mut self, ts_micros: u64, frame: &[u8]) -> Result<()> {
        let secs = u32::try_from(ts_micros / 1_000_000).unwrap_or(u32::MAX);
        let micros = (ts_micros % 1_000_000) as u32;
        let len = u32::try_from(frame.len()).context("frame too large")?;
        let mut rec = [0u8; 16];
        rec[..4].copy_from_slice(&secs.to_le_bytes());
        rec[4..8].copy_from_slice(&micros.to_le_bytes());
        rec[8..12].copy_from_slice(&len.to_le_bytes());
        rec[12..].copy_from_slice(&len.to_le_bytes());
        self.out.write_all(&rec)?;
        self.out.write_all(frame)?;
        self.packets += 1;
        self.bytes += u64::from(len);
        Ok(())
    }

    /// Flushes and closes the file.
    pub fn finish(mut self) -> Result<()> {
        self.out.flush()?;
        Ok(())
    }
}

/// One frame read from a capture, already Ethernet.
#[derive(Debug, Clone)]
pub struct Record {
    /// Microseconds since the epoch.
    pub ts_micros: u64,
    /// Ethernet frame.
    pub data: Vec<u8>,
}

/// Reads every frame of a pcap or pcapng file; frames of link types other than Ethernet, raw
/// IP and Linux SLL are skipped. A truncated tail ends the list (what came before is kept).
pub fn read_capture(path: &Path) -> Result<Vec<Record>> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let magic = bytes.get(..4).context("file too short")?;
    match magic {
        [0xd4, 0xc3, 0xb2, 0xa1]
        | [0xa1, 0xb2, 0xc3, 0xd4]
        | [0x4d, 0x3c, 0xb2, 0xa1]
        | [0xa1, 0xb2, 0x3c, 0x4d] => read_pcap(&bytes),
        [0x0a, 0x0d, 0x0d, 0x0a] => read_pcapng(&bytes),
        _ => bail!("{}: not a pcap or pcapng file", path.display()),
    }
}

fn u16_at(b: &[u8], off: usize, le: bool) -> Option<u16> {
    let s: [u8; 2] = b.get(off..off + 2)?.try_into().ok()?;
    Some(if le {
        u16::from_le_bytes(s)
    } else {
        u16::from_be_bytes(s)
    })
}

fn u32_at(b: &[u8], off: usize, le: bool) -> Option<u32> {
    let s: [u8; 4] = b.get(off..off + 4)?.try_into().ok()?;
    Some(if le {
        u32::from_le_bytes(s)
    } else {
        u32::from_be_bytes(s)
    })
}

/// Turns a frame of `linktype` into an Ethernet frame, `None` for link types we skip.
fn to_ethernet(linktype: u32, data: &[u8]) -> Option<Vec<u8>> {
    const MACS: [u8; 12] = [2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2];
    let with_header = |ethertype: u16, ip: &[u8]| {
        let mut f = Vec::with_capacity(14 + ip.len());
        f.extend_from_slice(&MACS);
        f.extend_from_slice(&ethertype.to_be_bytes());
        f.extend_from_slice(ip);
        f
    };
    match linktype {
        1 => Some(data.to_vec()),
        // Raw IP: the version nibble says which.
        12 | 14 | 101 | 228 | 229 => match data.first()? >> 4 {
            4 => Some(with_header(0x0800, data)),
            6 => Some(with_header(0x86dd, data)),
            _ => None,
        },
        // Linux cooked: 16-byte header, protocol at offset 14.
        113 => {
            let proto = u16::from_be_bytes([*data.get(14)?, *data.get(15)?]);
            Some(with_header(proto, data.get(16..)?))
        }
        _ => None,
    }
}

fn read_pcap(b: &[u8]) -> Result<Vec<Record>> {
    let le = b[0] == 0xd4 || b[0] == 0x4d;
    let nanos = matches!(b[0], 0x4d | 0xa1) && (b[1] == 0x3c || b[2] == 0x3c);
    let linktype = u32_at(b, 20, le).context("short pcap header")? & 0x0fff_ffff;
    let mut out = Vec::new();
    let mut off = 24;
    while let (Some(secs), Some(frac), Some(caplen)) = (
        u32_at(b, off, le),
        u32_at(b, off + 4, le),
        u32_at(b, off + 8, le),
    ) {
        let start = off + 16;
        let Some(data) = b.get(start..start + caplen as usize) else {
            break;
        };
        let micros = if nanos { frac / 1000 } else { frac };
        if let Some(frame) = to_ethernet(linktype, data) {
            out.push(Record {
                ts_micros: u64::from(secs) * 1_000_000 + u64::from(micros),
                data: frame,
            });
        }
        off = start + caplen as usize;
    }
    Ok(out)
}

#[derive(Debug, Clone, Copy)]
struct Interface {
    linktype: u32,
    /// Timestamp units per second.
    units: u64,
}

fn read_pcapng(b: &[u8]) -> Result<Vec<Record>> {
    let mut out = Vec::new();
    let mut le = true;
    let mut ifaces: Vec<Interface> = Vec::new();
    let mut off = 0;
    while off + 12 <= b.len() {
        // The section header's byte-order magic decides the endianness of what follows.
        if b[off..off + 4] == [0x0a, 0x0d, 0x0d, 0x0a] {
            le = b.get(off + 8..off + 12) == Some(&[0x4d, 0x3c, 0x2b, 0x1a]);
            ifaces.clear();
        }
        let (Some(kind), Some(len)) = (u32_at(b, off, le), u32_at(b, off + 4, le)) else {
            break;
        };
        let len = len as usize;
        if len < 12 || off + len > b.len() {
            break;
        }
        let body = &b[off + 8..off + len - 4];
        match kind {
            1 => {
                let linktype = u32::from(u16_at(body, 0, le).unwrap_or(0));
                ifaces.push(Interface {
                    linktype,
                    units: if_tsresol(body.get(8..).unwrap_or_default(), le),
                });
            }
            6 => {
                if let (Some(id), Some(hi), Some(lo), Some(caplen)) = (
                    u32_at(body, 0, le),
                    u32_at(body, 4, le),
                    u32_at(body, 8, le),
                    u32_at(body, 12, le),
                ) {
                    if let (Some(ifc), Some(data)) =
                        (ifaces.get(id as usize), body.get(20..20 + caplen as usize))
                    {
                        let raw = (u64::from(hi) << 32) | u64::from(lo);
                        let micros = if ifc.units == 1_000_000 {
                            raw
                        } else {
                            (u128::from(raw) * 1_000_000 / u128::from(ifc.units.max(1))) as u64
                        };
                        if let Some(frame) = to_ethernet(ifc.linktype, data) {
                            out.push(Record {
                                ts_micros: micros,
                                data: frame,
                            });
                        }
                    }
                }
            }
            3 => {
                // Simple packet block: no timestamp; interface 0; keep the previous time.
                let orig = u32_at(body, 0, le).unwrap_or(0) as usize;
                let data = body.get(4..4 + orig.min(body.len().saturating_sub(4)));
                if let (Some(ifc), Some(data)) = (ifaces.first(), data) {
                    if let Some(frame) = to_ethernet(ifc.linktype, data) {
                        let ts = out.last().map_or(0, |r: &Record| r.ts_micros);
                        out.push(Record {
                            ts_micros: ts,
                            data: frame,
                        });
                    }
                }
            }
            _ => {}
        }
        off += len;
    }
    Ok(out)
}

/// The `if_tsresol` option of an interface description block (default microseconds).
fn if_tsresol(mut opts: &[u8], le: bool) -> u64 {
    while let (Some(code), Some(len)) = (u16_at(opts, 0, le), u16_at(opts, 2, le)) {
        if code == 0 {
            break;
        }
        let len = usize::from(len);
        if code == 9 && len >= 1 {
            let v = opts.get(4).copied().unwrap_or(6);
            return if v & 0x80 != 0 {
                1u64.checked_shl(u32::from(v & 0x7f)).unwrap_or(1_000_000)
            } else {
                10u64.checked_pow(u32::from(v)).unwrap_or(1_000_000)
            };
        }
        opts = opts.get(4 + len.div_ceil(4) * 4..).unwrap_or_default();
    }
    1_000_000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pcap_round_trip() {
        let dir = std::env::temp_dir().join(format!("xtask-pcapio-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("a.pcap");
        let mut w = PcapOut::create(&p).unwrap();
        w.push(1_700_000_000_000_123, &[1, 2, 3]).unwrap();
        w.push(1_700_000_001_000_000, &[4; 70]).unwrap();
        w.finish().unwrap();
        let r = read_capture(&p).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].ts_micros, 1_700_000_000_000_123);
        assert_eq!(r[1].data, vec![4; 70]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn pcapng_blocks() {
        // SHB, IDB (Ethernet, tsresol 10^-9), EPB with 3 bytes, then an unknown block.
        let mut b = Vec::new();
        let block = |b: &mut Vec<u8>, kind: u32, body: &[u8]| {
            let len = (12 + body.len().div_ceil(4) * 4) as u32;
            b.extend_from_slice(&kind.to_le_bytes());
            b.extend_from_slice(&len.to_le_bytes());
            b.extend_from_slice(body);
            b.resize(b.len() + (4 - body.len() % 4) % 4, 0);
            b.extend_from_slice(&len.to_le_bytes());
        };
        let mut shb = vec![0x4d, 0x3c, 0x2b, 0x1a, 1, 0, 0, 0];
        shb.extend_from_slice(&[0xff; 8]);
        block(&mut b, 0x0a0d_0d0a, &shb);
        let mut idb = vec![1, 0, 0, 0, 0, 0, 4, 0];
        idb.extend_from_slice(&[9, 0, 1, 0, 9, 0, 0, 0, 0, 0, 0, 0]);
        block(&mut b, 1, &idb);
        let ns: u64 = 1_700_000_000_000_001_000;
        let mut epb = Vec::new();
        epb.extend_from_slice(&0u32.to_le_bytes());
        epb.extend_from_slice(&((ns >> 32) as u32).to_le_bytes());
        epb.extend_from_slice(&(ns as u32).to_le_bytes());
        epb.extend_from_slice(&3u32.to_le_bytes());
        epb.extend_from_slice(&3u32.to_le_bytes());
        epb.extend_from_slice(&[7, 8, 9]);
        block(&mut b, 6, &epb);
        block(&mut b, 5, &[1, 2, 3, 4]);
        let r = read_pcapng(&b).unwrap();
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].data, vec![7, 8, 9]);
        assert_eq!(r[0].ts_micros, 1_700_000_000_000_001);
    }
}
