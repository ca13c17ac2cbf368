//! Tiny classic pcap / pcapng reader and L2-L4 decoder for benches and examples (keeps the
//! crate free of libpcap).

#![allow(dead_code, missing_docs)]

use std::net::IpAddr;

/// One decoded packet, owning its payload.
pub struct Pkt {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub sport: u16,
    pub dport: u16,
    pub proto: u8,
    pub ttl: u8,
    pub tcp_flags: u8,
    pub payload: Vec<u8>,
}

fn u16be(b: &[u8], i: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(i)?, *b.get(i + 1)?]))
}

fn rd32(b: &[u8], i: usize, le: bool) -> Option<u32> {
    let a: [u8; 4] = b.get(i..i + 4)?.try_into().ok()?;
    Some(if le {
        u32::from_le_bytes(a)
    } else {
        u32::from_be_bytes(a)
    })
}

/// Frames (link type, bytes) of a classic pcap or pcapng file.
fn frames(data: &[u8]) -> Vec<(u32, &[u8])> {
    let mut out = Vec::new();
    let Some(magic) = rd32(data, 0, true) else {
        return out;
    };
    match magic {
        0xa1b2_c3d4 | 0xd4c3_b2a1 | 0xa1b2_3c4d | 0x4d3c_b2a1 => {
            let le = magic == 0xa1b2_c3d4 || magic == 0xa1b2_3c4d;
            let link = rd32(data, 20, le).unwrap_or(1);
            let mut i = 24;
            while let Some(caplen) = rd32(data, i + 8, le) {
                let start = i + 16;
                let end = start + caplen as usize;
                let Some(f) = data.get(start..end) else { break };
                out.push((link, f));
                i = end;
            }
        }
        0x0a0d_0d0a => {
            let mut links = Vec::new();
            let mut le = true;
            let mut i = 0;
            while i + 12 <= data.len() {
                let Some(bt) = rd32(data, i, le) else { break };
                if bt == 0x0a0d_0d0a {
                    le = rd32(data, i + 8, true) == Some(0x1a2b_3c4d);
                }
                let Some(len) = rd32(data, i + 4, le) else {
                    break;
                };
                let len = len as usize;
                if len < 12 || i + len > data.len() {
                    break;
                }
                let body = &data[i + 8..i + len - 4];
                match bt {
                    1 => links.push(u32::from(u16::from_le_bytes([body[0], body[1]]))),
                    6 => {
                        let iface = rd32(body, 0, le).unwrap_or(0) as usize;
                        let cap = rd32(body, 12, le).unwrap_or(0) as usize;
                        if let Some(f) = body.get(20..20 + cap) {
                            out.push((links.get(iface).copied().unwrap_or(1), f));
                        }
                    }
                    3 => {
                        let cap = body.len().saturating_sub(4);
                        if let Some(f) = body.get(4..4 + cap) {
                            out.push((links.first().copied().unwrap_or(1), f));
                        }
                    }
                    _ => {}
                }
                i += len;
            }
        }
        _ => {}
    }
    out
}

fn decode(link: u32, f: &[u8]) -> Option<Pkt> {
    let (mut ethertype, mut off) = match link {
        1 => (u16be(f, 12)?, 14),
        101 | 12 | 14 => (if f.first()? >> 4 == 6 { 0x86dd } else { 0x0800 }, 0),
        113 => (u16be(f, 14)?, 16),
        _ => return None,
    };
    while ethertype == 0x8100 || ethertype == 0x88a8 {
        ethertype = u16be(f, off + 2)?;
        off += 4;
    }
    let ip = f.get(off..)?;
    let (src, dst, proto, ttl, l4) = match ethertype {
        0x0800 => {
            let ihl = usize::from(ip.first()? & 0x0f) * 4;
            let total = usize::from(u16be(ip, 2)?).min(ip.len());
            let s: [u8; 4] = ip.get(12..16)?.try_into().ok()?;
            let d: [u8; 4] = ip.get(16..20)?.try_into().ok()?;
            (
                IpAddr::from(s),
                IpAddr::from(d),
                *ip.get(9)?,
                *ip.get(8)?,
                ip.get(ihl..total)?,
            )
        }
        0x86dd => {
            let s: [u8; 16] = ip.get(8..24)?.try_into().ok()?;
            let d: [u8; 16] = ip.get(24..40)?.try_into().ok()?;
            let plen = usize::from(u16be(ip, 4)?);
            (
                IpAddr::from(s),
                IpAddr::from(d),
                *ip.get(6)?,
                *ip.get(7)?,
                ip.get(40..(40 + plen).min(ip.len()))?,
            )
        }
        _ => return None,
    };
    let (sport, dport, flags, payload) = match proto {
        6 => {
            let doff = usize::from(l4.get(12)? >> 4) * 4;
            (u16be(l4, 0)?, u16be(l4, 2)?, *l4.get(13)?, l4.get(doff..)?)
        }
        17 => (u16be(l4, 0)?, u16be(l4, 2)?, 0, l4.get(8..)?),
        1 | 58 => (0, 0, 0, l4.get(8..).unwrap_or(&[])),
        _ => (0, 0, 0, l4),
    };
    Some(Pkt {
        src,
        dst,
        sport,
        dport,
        proto,
        ttl,
        tcp_flags: flags,
        payload: payload.to_vec(),
    })
}

pub fn packets(captures: &[&str]) -> Vec<Pkt> {
    let mut out = Vec::new();
    for c in captures {
        let Ok(data) = std::fs::read(c) else { continue };
        out.extend(frames(&data).into_iter().filter_map(|(l, f)| decode(l, f)));
    }
    out
}
