//! Raw header parsing for the defragmenter: just the fields reassembly needs, read with
//! length-checked slices so that any byte string is either a fragment, not one, or invalid.

use crate::decode::LinkType;

/// IPv6 extension headers that may precede the fragment header (the "unfragmentable part" of
/// RFC 8200 4.5, plus AH and the mobility/HIP/shim6 headers that share the generic layout).
const HOP_BY_HOP: u8 = 0;
const ROUTING: u8 = 43;
const FRAGMENT: u8 = 44;
const AH: u8 = 51;
const DEST_OPTS: u8 = 60;
const MOBILITY: u8 = 135;
const HIP: u8 = 139;
const SHIM6: u8 = 140;

/// Where to find each part of one fragment inside the IP packet bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FragInfo {
    /// 4 or 6.
    pub version: u8,
    /// Source address (IPv4 in the first 4 bytes).
    pub src: [u8; 16],
    /// Destination address (IPv4 in the first 4 bytes).
    pub dst: [u8; 16],
    /// IPv4 identification (16 bits) or IPv6 fragment identification (32 bits).
    pub id: u32,
    /// IPv4 protocol; 0 for IPv6 (not part of the IPv6 key).
    pub proto: u8,
    /// Byte offset of this fragment's data in the original datagram's fragmentable part.
    pub offset: u32,
    /// More-fragments flag.
    pub more: bool,
    /// Bytes before the fragmentable data: the IPv4 header with options, or the IPv6 header
    /// with the extension headers before the fragment header.
    pub prefix_len: usize,
    /// IPv6: where the fragment header starts (== `prefix_len`); its 8 bytes are skipped.
    pub data_start: usize,
    /// End of the packet's data (the IP length, which may be shorter than the capture).
    pub data_end: usize,
    /// IPv6: index of the next-header byte that names the fragment header.
    pub nh_pos: usize,
    /// IPv6: the fragment header's next header (the protocol of the reassembled payload).
    pub next_header: u8,
}

/// What the header of a packet says about fragmentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Parsed {
    /// Not IP, not parseable far enough to tell, or a whole datagram.
    NotFragment,
    /// A fragment whose fields are given but whose lengths do not add up (truncated capture,
    /// IP length shorter than its header).
    Invalid {
        /// 4 or 6, for the per-family counter.
        version: u8,
    },
    /// A usable fragment.
    Fragment(FragInfo),
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    let s = b.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes([s[0], s[1]]))
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

fn addr<const N: usize>(b: &[u8], at: usize) -> Option<[u8; 16]> {
    let s = b.get(at..at + N)?;
    let mut out = [0u8; 16];
    out[..N].copy_from_slice(s);
    Some(out)
}

/// Reads an IP packet (IPv4 or IPv6 header first) as far as fragmentation is concerned.
pub(crate) fn parse(ip: &[u8]) -> Parsed {
    match ip.first().map(|b| b >> 4) {
        Some(4) => parse_v4(ip).unwrap_or(Parsed::NotFragment),
        Some(6) => parse_v6(ip).unwrap_or(Parsed::NotFragment),
        _ => Parsed::NotFragment,
    }
}

fn parse_v4(ip: &[u8]) -> Option<Parsed> {
    let ihl = usize::from(*ip.first()? & 0x0f) * 4;
    if ihl < 20 || ip.len() < 20 {
        return None;
    }
    let flags_frag = be16(ip, 6)?;
    let more = flags_frag & 0x2000 != 0;
    let offset = u32::from(flags_frag & 0x1fff) * 8;
    if !more && offset == 0 {
        return Some(Parsed::NotFragment);
    }
    let total = usize::from(be16(ip, 2)?);
    if total < ihl || ip.len() < total {
        return Some(Parsed::Invalid { version: 4 });
    }
    Some(Parsed::Fragment(FragInfo {
        version: 4,
        src: addr::<4>(ip, 12)?,
        dst: addr::<4>(ip, 16)?,
        id: u32::from(be16(ip, 4)?),
        proto: *ip.get(9)?,
        offset,
        more,
        prefix_len: ihl,
        data_start: ihl,
        data_end: total,
        nh_pos: 0,
        next_header: 0,
    }))
}

fn parse_v6(ip: &[u8]) -> Option<Parsed> {
    if ip.len() < 40 {
        return None;
    }
    let end = 40 + usize::from(be16(ip, 4)?);
    let full_len = ip.len();
    // Walk only the datagram, not link-layer padding after it.
    let ip = ip.get(..end).unwrap_or(ip);
    let mut nh = *ip.get(6)?;
    let mut nh_pos = 6;
    let mut pos = 40;
    loop {
        match nh {
            HOP_BY_HOP | ROUTING | DEST_OPTS | MOBILITY | HIP | SHIM6 | AH => {
                let unit = usize::from(*ip.get(pos + 1)?);
                let len = if nh == AH {
                    (unit + 2) * 4
                } else {
                    (unit + 1) * 8
                };
                nh_pos = pos;
                nh = *ip.get(pos)?;
                pos += len;
                if pos > ip.len() {
                    return None;
                }
            }
            FRAGMENT => break,
            _ => return Some(Parsed::NotFragment),
        }
    }
    let next_header = *ip.get(pos)?;
    let off_flags = be16(ip, pos + 2)?;
    let id = be32(ip, pos + 4)?;
    let offset = u32::from(off_flags & 0xfff8);
    let more = off_flags & 1 != 0;
    if !more && offset == 0 {
        // An atomic fragment (RFC 6946): processed on its own, never reassembled.
        return Some(Parsed::NotFragment);
    }
    if full_len < end || end < pos + 8 {
        return Some(Parsed::Invalid { version: 6 });
    }
    Some(Parsed::Fragment(FragInfo {
        version: 6,
        src: addr::<16>(ip, 8)?,
        dst: addr::<16>(ip, 24)?,
        id,
        proto: 0,
        offset,
        more,
        prefix_len: pos,
        data_start: pos + 8,
        data_end: end,
        nh_pos,
        next_header,
    }))
}

/// True when `ip` (bytes starting at an IPv4 or IPv6 header) is a fragment that
/// [`Defragmenter::push`](super::Defragmenter::push) would take: IPv4 with MF set or a
/// non-zero offset, or IPv6 with a non-atomic fragment header. Malformed fragments count as
/// fragments here (the defragmenter counts and drops them).
pub fn is_fragment(ip: &[u8]) -> bool {
    !matches!(parse(ip), Parsed::NotFragment)
}

/// The IP-layer bytes of a frame of the given link type: everything after the link header
/// and any 802.1Q/802.1ad tags, or `None` when the frame is not IPv4/IPv6 or is too short.
///
/// This walks the same link layers [`crate::decode::decode`] accepts, so that the worker can
/// hand the defragmenter exactly the IP packet of a frame it has already decoded.
pub fn ip_layer(link: LinkType, frame: &[u8]) -> Option<&[u8]> {
    const VLAN_TPIDS: [u16; 3] = [0x8100, 0x88a8, 0x9100];
    let ip = match link {
        LinkType::RawIp => frame,
        LinkType::Null => frame.get(4..)?,
        LinkType::Ppp => crate::decode::ppp_payload(frame).ok()?,
        LinkType::Ethernet => {
            let mut ethertype = be16(frame, 12)?;
            let mut pos = 14;
            while VLAN_TPIDS.contains(&ethertype) {
                ethertype = be16(frame, pos + 2)?;
                pos += 4;
            }
            match ethertype {
                0x0800 | 0x86dd => frame.get(pos..)?,
                _ => return None,
            }
        }
        LinkType::LinuxSll2 => match be16(frame, 0)? {
            0x0800 | 0x86dd => frame.get(20..)?,
            _ => return None,
        },
        LinkType::LinuxSll => match be16(frame, 14)? {
            0x0800 | 0x86dd => frame.get(16..)?,
            _ => return None,
        },
    };
    match ip.first().map(|b| b >> 4) {
        Some(4 | 6) => Some(ip),
        _ => None,
    }
}
