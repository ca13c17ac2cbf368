//! Link-layer walks and tunnel headers: where the IP packet starts inside a frame, and what
//! an IP packet carries when it is itself a tunnel.
//!
//! Suricata 7 decapsulates VXLAN, GENEVE, GRE (with ERSPAN and PPTP's enhanced GRE), PPPoE
//! sessions, MPLS, IP-in-IP and Teredo by default, and inspects the inner packets as packets
//! of their own flows while the outer packet keeps its flow but loses payload inspection.
//! This module only finds boundaries: every function takes a slice and returns sub-slices of
//! it, so decoding stays zero-copy and allocation-free. Nothing here indexes unchecked.

use super::{DecodeError, Vlans};

/// What kind of encapsulation a packet was found inside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TunnelKind {
    /// VXLAN over UDP (port 4789).
    Vxlan,
    /// GENEVE over UDP (port 6081).
    Geneve,
    /// GRE (IP protocol 47), including PPTP's enhanced GRE.
    Gre,
    /// ERSPAN type II or III inside GRE.
    Erspan,
    /// Teredo: IPv6 in UDP (port 3544).
    Teredo,
    /// IPv6 inside IPv4 (IP protocol 41, 6in4).
    Ipv6InIpv4,
    /// IPv4 inside IPv6 (4in6).
    Ipv4InIpv6,
    /// IPv6 inside IPv6.
    Ipv6InIpv6,
}

impl TunnelKind {
    /// Every kind, in counter order.
    pub const ALL: [TunnelKind; 8] = [
        TunnelKind::Vxlan,
        TunnelKind::Geneve,
        TunnelKind::Gre,
        TunnelKind::Erspan,
        TunnelKind::Teredo,
        TunnelKind::Ipv6InIpv4,
        TunnelKind::Ipv4InIpv6,
        TunnelKind::Ipv6InIpv6,
    ];

    /// Suricata's `decoder` counter name (6in4 has none there; it gets one of the same
    /// pattern).
    pub fn counter_name(self) -> &'static str {
        match self {
            TunnelKind::Vxlan => "vxlan",
            TunnelKind::Geneve => "geneve",
            TunnelKind::Gre => "gre",
            TunnelKind::Erspan => "erspan",
            TunnelKind::Teredo => "teredo",
            TunnelKind::Ipv6InIpv4 => "ipv6_in_ipv4",
            TunnelKind::Ipv4InIpv6 => "ipv4_in_ipv6",
            TunnelKind::Ipv6InIpv6 => "ipv6_in_ipv6",
        }
    }

    /// Whether the outer packet gets a flow of its own: Suricata 7 sets one up for the UDP
    /// carriers and for 6in4, not for GRE or the IPv6-carried tunnels.
    pub fn outer_flow(self) -> bool {
        matches!(
            self,
            TunnelKind::Vxlan | TunnelKind::Geneve | TunnelKind::Teredo | TunnelKind::Ipv6InIpv4
        )
    }

    /// Index into [`TunnelKind::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// Suricata's EVE `pkt_src` for a packet that came out of this tunnel.
    pub fn pkt_src(self) -> &'static str {
        match self {
            TunnelKind::Vxlan => "vxlan encapsulation",
            TunnelKind::Geneve => "geneve encapsulation",
            TunnelKind::Gre | TunnelKind::Erspan => "gre tunnel",
            TunnelKind::Teredo => "teredo tunnel",
            // Suricata names the decoder of the outer packet.
            TunnelKind::Ipv6InIpv4 => "ipv4 tunnel",
            TunnelKind::Ipv4InIpv6 | TunnelKind::Ipv6InIpv6 => "ipv6 tunnel",
        }
    }
}

/// Where an encapsulated packet starts and what its first header is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InnerFrame<'a> {
    /// An Ethernet frame (VXLAN, GENEVE, GRE transparent bridging, ERSPAN).
    Ethernet(&'a [u8]),
    /// An IPv4 or IPv6 packet.
    Ip(&'a [u8]),
    /// A PPP frame (PPTP's enhanced GRE).
    Ppp(&'a [u8]),
    /// An MPLS label stack.
    Mpls(&'a [u8]),
    /// The tunnel header was recognised but is invalid or cut short.
    Bad(DecodeError),
}

/// A tunnel payload found in a packet, not decoded yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Encap<'a> {
    /// The encapsulation.
    pub kind: TunnelKind,
    /// The encapsulated frame.
    pub inner: InnerFrame<'a>,
}

/// Link-level encapsulations crossed on the way to an IP header, as bits (for counters).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkLayers(u8);

impl LinkLayers {
    /// A PPPoE session header.
    pub const PPPOE: LinkLayers = LinkLayers(1);
    /// An MPLS label stack.
    pub const MPLS: LinkLayers = LinkLayers(2);
    /// A PPP header.
    pub const PPP: LinkLayers = LinkLayers(4);
    /// A Linux cooked-capture header.
    pub const SLL: LinkLayers = LinkLayers(8);
    /// An Ethernet header.
    pub const ETHERNET: LinkLayers = LinkLayers(16);

    /// Whether all bits of `other` are set.
    pub fn contains(self, other: LinkLayers) -> bool {
        self.0 & other.0 == other.0
    }

    fn insert(&mut self, other: LinkLayers) {
        self.0 |= other.0;
    }
}

/// VLAN tags Suricata follows: 802.1Q, 802.1ad and the old QinQ 0x9100.
const VLAN_TPIDS: [u16; 3] = [0x8100, 0x88a8, 0x9100];
/// Labels or VLAN tags followed before giving up (the bound on a crafted stack).
const MAX_STACK: usize = 16;

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes([
        *b.get(at)?,
        *b.get(at + 1)?,
        *b.get(at + 2)?,
        *b.get(at + 3)?,
    ]))
}

/// The IP packet after an Ethernet header: VLAN tags, PPPoE sessions and MPLS are crossed.
pub(crate) fn ethernet_ip<'a>(
    frame: &'a [u8],
    vlans: &mut Vlans,
    links: &mut LinkLayers,
) -> Result<&'a [u8], DecodeError> {
    links.insert(LinkLayers::ETHERNET);
    let ethertype = be16(frame, 12).ok_or(DecodeError::Truncated)?;
    ethertype_ip(ethertype, frame.get(14..).unwrap_or(&[]), vlans, links)
}

/// The IP packet after a Linux cooked-capture (SLL) header. The protocol field is read as
/// an ethertype whatever the ARPHRD type says, as Suricata does: captures on tunnel or
/// `any` interfaces carry unusual ARPHRD types over plain IP.
pub(crate) fn sll_ip<'a>(
    frame: &'a [u8],
    vlans: &mut Vlans,
    links: &mut LinkLayers,
) -> Result<&'a [u8], DecodeError> {
    links.insert(LinkLayers::SLL);
    let ethertype = be16(frame, 14).ok_or(DecodeError::Truncated)?;
    ethertype_ip(ethertype, frame.get(16..).unwrap_or(&[]), vlans, links)
}

/// The IP packet after a Linux cooked-capture v2 (SLL2) header: the protocol comes first,
/// the header is 20 bytes long.
pub(crate) fn sll2_ip<'a>(
    frame: &'a [u8],
    vlans: &mut Vlans,
    links: &mut LinkLayers,
) -> Result<&'a [u8], DecodeError> {
    links.insert(LinkLayers::SLL);
    let ethertype = be16(frame, 0).ok_or(DecodeError::Truncated)?;
    let rest = frame.get(20..).ok_or(DecodeError::Truncated)?;
    ethertype_ip(ethertype, rest, vlans, links)
}

/// Follows an ethertype to the IP packet.
fn ethertype_ip<'a>(
    mut ethertype: u16,
    mut rest: &'a [u8],
    vlans: &mut Vlans,
    links: &mut LinkLayers,
) -> Result<&'a [u8], DecodeError> {
    for _ in 0..MAX_STACK {
        match ethertype {
            0x0800 | 0x86dd => return Ok(rest),
            t if VLAN_TPIDS.contains(&t) => {
                let tci = be16(rest, 0).ok_or(DecodeError::Truncated)?;
                vlans.push(tci & 0x0fff);
                ethertype = be16(rest, 2).ok_or(DecodeError::Truncated)?;
                rest = rest.get(4..).unwrap_or(&[]);
            }
            0x8864 => {
                links.insert(LinkLayers::PPPOE);
                return pppoe_session_ip(rest, links);
            }
            0x8847 | 0x8848 => {
                links.insert(LinkLayers::MPLS);
                return mpls_ip(rest, vlans, links);
            }
            _ => return Err(DecodeError::NotIp),
        }
    }
    Err(DecodeError::Malformed)
}

/// PPPoE session stage (RFC 2516): version/type 0x11, code 0, session id, length, then PPP.
fn pppoe_session_ip<'a>(b: &'a [u8], links: &mut LinkLayers) -> Result<&'a [u8], DecodeError> {
    let (Some(&ver_type), Some(&code)) = (b.first(), b.get(1)) else {
        return Err(DecodeError::Truncated);
    };
    if ver_type != 0x11 || code != 0 {
        return Err(DecodeError::Malformed);
    }
    // The length field is not trusted (real captures carry IP packets longer than it says,
    // and Suricata decodes them); the IP header's own length bounds the packet.
    let body = b.get(6..).ok_or(DecodeError::Truncated)?;
    ppp_ip(body, links)
}

/// The IP packet inside a PPP frame (RFC 1661/1662): an optional `ff 03` address/control
/// pair, then a one- or two-byte protocol field (one byte when its low bit is set).
pub(crate) fn ppp_ip<'a>(frame: &'a [u8], links: &mut LinkLayers) -> Result<&'a [u8], DecodeError> {
    links.insert(LinkLayers::PPP);
    let rest = frame.strip_prefix(&[0xff, 0x03]).unwrap_or(frame);
    let (proto, rest) = match rest {
        [p, tail @ ..] if p & 1 == 1 => (u16::from(*p), tail),
        [hi, lo, tail @ ..] => (u16::from_be_bytes([*hi, *lo]), tail),
        _ => return Err(DecodeError::Truncated),
    };
    match proto {
        0x0021 | 0x0057 => Ok(rest),
        _ => Err(DecodeError::NotIp),
    }
}

/// The IP packet after an MPLS label stack: labels up to the bottom-of-stack bit, then the
/// payload's version nibble decides (label 0 means IPv4 and 2 IPv6, RFC 3032); a pseudowire
/// control word (first nibble 0) is followed by an Ethernet frame, as Suricata assumes.
fn mpls_ip<'a>(
    mut b: &'a [u8],
    vlans: &mut Vlans,
    links: &mut LinkLayers,
) -> Result<&'a [u8], DecodeError> {
    for _ in 0..MAX_STACK {
        let entry = be32(b, 0).ok_or(DecodeError::Truncated)?;
        b = b.get(4..).unwrap_or(&[]);
        if entry & 0x100 == 0 {
            continue;
        }
        let label = entry >> 12;
        return match (label, b.first().map(|v| v >> 4)) {
            (0 | 2, Some(_)) | (_, Some(4 | 6)) => Ok(b),
            (_, Some(0)) => ethernet_ip(b.get(4..).unwrap_or(&[]), vlans, links),
            (_, None) => Err(DecodeError::Truncated),
            _ => Err(DecodeError::NotIp),
        };
    }
    Err(DecodeError::Malformed)
}

/// The frame inside an encapsulation, decoded down to its IP packet.
pub(crate) fn inner_ip<'a>(
    inner: InnerFrame<'a>,
    vlans: &mut Vlans,
    links: &mut LinkLayers,
) -> Result<&'a [u8], DecodeError> {
    match inner {
        InnerFrame::Ethernet(b) => ethernet_ip(b, vlans, links),
        InnerFrame::Ip(b) => Ok(b),
        InnerFrame::Ppp(b) => ppp_ip(b, links),
        InnerFrame::Mpls(b) => {
            links.insert(LinkLayers::MPLS);
            mpls_ip(b, vlans, links)
        }
        InnerFrame::Bad(e) => Err(e),
    }
}

/// What an IP protocol 4 or 41 payload is, by the outer IP version. IPv4 in IPv4 stays
/// data, as in Suricata 7 (which logs it as an `IP-in-IP` packet and does not open it).
pub(crate) fn ip_in_ip(outer_v6: bool, proto: u8, payload: &[u8]) -> Option<Encap<'_>> {
    let kind = match (outer_v6, proto) {
        (false, 41) => TunnelKind::Ipv6InIpv4,
        (true, 4) => TunnelKind::Ipv4InIpv6,
        (true, 41) => TunnelKind::Ipv6InIpv6,
        _ => return None,
    };
    Some(Encap {
        kind,
        inner: InnerFrame::Ip(payload),
    })
}

/// A GRE header (RFC 2784/2890, and RFC 2637's enhanced GRE version 1 for PPTP).
pub(crate) fn gre(b: &[u8]) -> Option<Encap<'_>> {
    let bad = |e| {
        Some(Encap {
            kind: TunnelKind::Gre,
            inner: InnerFrame::Bad(e),
        })
    };
    let (Some(flags), Some(proto)) = (be16(b, 0), be16(b, 2)) else {
        return bad(DecodeError::Truncated);
    };
    let (checksum, routing, key, seq) = (
        flags & 0x8000 != 0,
        flags & 0x4000 != 0,
        flags & 0x2000 != 0,
        flags & 0x1000 != 0,
    );
    let mut len = 4;
    match flags & 0x7 {
        0 => {
            // Source routing (deprecated) and recursion are not followed, as in Suricata.
            if routing || flags & 0x0700 != 0 {
                return bad(DecodeError::Malformed);
            }
            len += 4 * (usize::from(checksum || routing) + usize::from(key) + usize::from(seq));
        }
        1 => {
            // PPTP: key mandatory (payload length + call id), optional ack number.
            if proto != 0x880b || !key || checksum || routing {
                return bad(DecodeError::Malformed);
            }
            let ack = flags & 0x0080 != 0;
            len += 4 + 4 * (usize::from(seq) + usize::from(ack));
            let payload_len = be16(b, 4).unwrap_or(0);
            if payload_len == 0 {
                // An acknowledgement alone: nothing is encapsulated.
                return None;
            }
        }
        _ => return bad(DecodeError::Malformed),
    }
    let Some(payload) = b.get(len..) else {
        return bad(DecodeError::Truncated);
    };
    let (kind, inner) = match proto {
        0x0800 | 0x86dd => (TunnelKind::Gre, InnerFrame::Ip(payload)),
        0x6558 => (TunnelKind::Gre, InnerFrame::Ethernet(payload)),
        0x880b => (TunnelKind::Gre, InnerFrame::Ppp(payload)),
        0x8847 => (TunnelKind::Gre, InnerFrame::Mpls(payload)),
        // ERSPAN type II (with the sequence bit) has an 8-byte header; type I (none, no
        // sequence number) is off by default in Suricata 7 and stays data here.
        0x88be if !seq => return None,
        0x88be => match payload.first().map(|v| v >> 4) {
            Some(1) => (
                TunnelKind::Erspan,
                InnerFrame::Ethernet(payload.get(8..).unwrap_or(&[])),
            ),
            Some(_) => (TunnelKind::Erspan, InnerFrame::Bad(DecodeError::Malformed)),
            None => (TunnelKind::Erspan, InnerFrame::Bad(DecodeError::Truncated)),
        },
        // Unknown payload types stay data: the GRE packet is inspected as it is. ERSPAN type
        // III (0x22eb) is one of them, as in Suricata 7.
        _ => return None,
    };
    Some(Encap { kind, inner })
}

/// UDP-carried tunnels Suricata 7 decodes by default: VXLAN to port 4789, GENEVE to port
/// 6081, Teredo from or to port 3544. `None` when the datagram is not (validly) one of them,
/// so it stays an ordinary datagram, as in Suricata.
pub(crate) fn udp(src_port: u16, dst_port: u16, payload: &[u8]) -> Option<Encap<'_>> {
    if dst_port == 4789 {
        // Flags with the I bit (valid VNI), 3 reserved bytes, VNI, reserved.
        let flags = *payload.first()?;
        if flags & 0x08 == 0 || payload.len() < 8 {
            return None;
        }
        return Some(Encap {
            kind: TunnelKind::Vxlan,
            inner: InnerFrame::Ethernet(payload.get(8..)?),
        });
    }
    if dst_port == 6081 {
        return geneve(payload);
    }
    if src_port == 3544 || dst_port == 3544 {
        return teredo(payload);
    }
    None
}

/// GENEVE (RFC 8926): version 0, option length in 4-byte words, a protocol type.
fn geneve(b: &[u8]) -> Option<Encap<'_>> {
    let first = *b.first()?;
    if first >> 6 != 0 {
        return None;
    }
    let hdr = 8 + 4 * usize::from(first & 0x3f);
    let payload = b.get(hdr..)?;
    let inner = match be16(b, 2)? {
        0x6558 => InnerFrame::Ethernet(payload),
        0x0800 | 0x86dd => InnerFrame::Ip(payload),
        _ => InnerFrame::Bad(DecodeError::NotIp),
    };
    Some(Encap {
        kind: TunnelKind::Geneve,
        inner,
    })
}

/// Teredo (RFC 4380), recognised as Suricata does: an optional origin indication, then an
/// IPv6 header whose payload length accounts exactly for the rest of the datagram.
fn teredo(b: &[u8]) -> Option<Encap<'_>> {
    let ip = match b {
        [0, 0, ..] => b.get(8..)?,
        [0, ..] => return None,
        _ => b,
    };
    if ip.len() < 40 || ip.first()? >> 4 != 6 {
        return None;
    }
    let (plen, next, hlim) = (be16(ip, 4)?, *ip.get(6)?, *ip.get(7)?);
    if hlim == 0 || (next == 0 && plen < 8) || ip.len() != 40 + usize::from(plen) {
        return None;
    }
    Some(Encap {
        kind: TunnelKind::Teredo,
        inner: InnerFrame::Ip(ip),
    })
}

#[cfg(test)]
mod tests {
    use super::super::{decapsulate, decode, innermost, Decoded, LinkType, Transport};
    use super::*;
    use etherparse::PacketBuilder;

    /// An IPv4/UDP packet 10.0.0.1:1234 -> 10.0.0.2:53 with `data`.
    fn inner_udp4(data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        PacketBuilder::ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .udp(1234, 53)
            .write(&mut out, data)
            .unwrap();
        out
    }

    fn inner_udp6(data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        PacketBuilder::ipv6([0x20; 16], [0x21; 16], 64)
            .udp(1234, 53)
            .write(&mut out, data)
            .unwrap();
        out
    }

    fn eth(ethertype: u16, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2];
        f.extend_from_slice(&ethertype.to_be_bytes());
        f.extend_from_slice(payload);
        f
    }

    /// Ethernet/IPv4 from 192.0.2.1 to 192.0.2.2 with IP protocol `proto`.
    fn outer_ip4(proto: u8, payload: &[u8]) -> Vec<u8> {
        let mut ip = Vec::new();
        let total = u16::try_from(20 + payload.len()).unwrap();
        ip.extend_from_slice(&[0x45, 0]);
        ip.extend_from_slice(&total.to_be_bytes());
        ip.extend_from_slice(&[0, 1, 0, 0, 64, proto, 0, 0, 192, 0, 2, 1, 192, 0, 2, 2]);
        let sum: u32 = ip
            .chunks(2)
            .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
            .sum();
        let folded = (sum & 0xffff) + (sum >> 16);
        let check = !u16::try_from((folded & 0xffff) + (folded >> 16)).unwrap();
        ip[10..12].copy_from_slice(&check.to_be_bytes());
        ip.extend_from_slice(payload);
        eth(0x0800, &ip)
    }

    fn outer_ip6(next: u8, payload: &[u8]) -> Vec<u8> {
        let mut ip = vec![0x60, 0, 0, 0];
        ip.extend_from_slice(&u16::try_from(payload.len()).unwrap().to_be_bytes());
        ip.extend_from_slice(&[next, 64]);
        ip.extend_from_slice(&[0xfe; 16]);
        ip.extend_from_slice(&[0xfd; 16]);
        ip.extend_from_slice(payload);
        eth(0x86dd, &ip)
    }

    fn outer_udp(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        PacketBuilder::ethernet2([1; 6], [2; 6])
            .ipv4([192, 0, 2, 1], [192, 0, 2, 2], 64)
            .udp(sport, dport)
            .write(&mut out, payload)
            .unwrap();
        out
    }

    /// Decodes `frame`, checks the outer packet carries a `kind` tunnel with its payload
    /// withheld, and returns the inner packet.
    fn open(frame: &[u8], kind: TunnelKind) -> Decoded<'_> {
        let outer = decode(LinkType::Ethernet, frame, true).unwrap();
        let encap = outer.layer.encap.expect("a tunnel");
        assert_eq!(encap.kind, kind);
        assert!(
            outer.payload.is_empty(),
            "outer payload is the inner packet"
        );
        let inner = decapsulate(&outer, encap, true).unwrap();
        assert_eq!(inner.layer.depth, 1);
        let parent = inner.layer.tunnel.unwrap();
        assert_eq!(parent.src_ip, outer.src_ip);
        assert_eq!(parent.via, kind);
        inner
    }

    fn assert_dns4(p: &Decoded<'_>) {
        assert_eq!(p.src_ip.to_string(), "10.0.0.1");
        assert_eq!((p.src_port, p.dst_port), (1234, 53));
        assert_eq!(p.transport, Transport::Udp);
        assert_eq!(p.payload, b"query");
    }

    fn vxlan(inner_frame: &[u8]) -> Vec<u8> {
        let mut v = vec![0x08, 0, 0, 0, 0, 0, 42, 0];
        v.extend_from_slice(inner_frame);
        v
    }

    #[test]
    fn vxlan_inner_packet_is_decoded_with_its_parent() {
        let inner_ip = inner_udp4(b"query");
        let f = outer_udp(40000, 4789, &vxlan(&eth(0x0800, &inner_ip)));
        let inner = open(&f, TunnelKind::Vxlan);
        assert_dns4(&inner);
        let parent = inner.layer.tunnel.unwrap();
        assert_eq!(
            (parent.src_port, parent.dst_port, parent.proto),
            (40000, 4789, 17)
        );
        // Suricata counts the inner packet from its IP header for VXLAN.
        assert_eq!(inner.layer.len, inner_ip.len());
        assert_eq!(innermost(LinkType::Ethernet, &f).unwrap().dst_port, 53);
    }

    #[test]
    fn vxlan_without_the_vni_flag_stays_a_datagram() {
        let mut body = vxlan(&eth(0x0800, &inner_udp4(b"query")));
        body[0] = 0;
        let f = outer_udp(40000, 4789, &body);
        let p = decode(LinkType::Ethernet, &f, true).unwrap();
        assert!(p.layer.encap.is_none());
        assert_eq!(p.payload, body.as_slice());
        assert!(p.has_flow());
    }

    #[test]
    fn vxlan_with_inner_vlan_and_arp() {
        let mut tagged = vec![0x00, 0x07, 0x08, 0x00];
        tagged.extend_from_slice(&inner_udp4(b"query"));
        let f = outer_udp(1, 4789, &vxlan(&eth(0x8100, &tagged)));
        let inner = open(&f, TunnelKind::Vxlan);
        assert_eq!(inner.vlans.as_slice(), &[7]);
        let arp = outer_udp(1, 4789, &vxlan(&eth(0x0806, &[0; 28])));
        let outer = decode(LinkType::Ethernet, &arp, true).unwrap();
        let e = decapsulate(&outer, outer.layer.encap.unwrap(), true).unwrap_err();
        assert_eq!(e, DecodeError::NotIp);
    }

    #[test]
    fn geneve_with_options() {
        let mut g = vec![0x01, 0, 0x65, 0x58, 0, 0, 1, 0];
        g.extend_from_slice(&[0xaa; 4]); // one 4-byte option
        g.extend_from_slice(&eth(0x0800, &inner_udp4(b"query")));
        let f = outer_udp(5000, 6081, &g);
        let inner = open(&f, TunnelKind::Geneve);
        assert_dns4(&inner);
        assert!(decode(LinkType::Ethernet, &f, true).unwrap().has_flow());
        // Version 1 is not GENEVE as Suricata knows it: an ordinary datagram.
        g[0] |= 0x40;
        let f = outer_udp(5000, 6081, &g);
        assert!(decode(LinkType::Ethernet, &f, true)
            .unwrap()
            .layer
            .encap
            .is_none());
    }

    #[test]
    fn gre_variants() {
        let ip = inner_udp4(b"query");
        // Plain, then with checksum, key and sequence number.
        for (flags, extra) in [(0x0000u16, 0usize), (0xb000, 12)] {
            let mut g = flags.to_be_bytes().to_vec();
            g.extend_from_slice(&0x0800u16.to_be_bytes());
            g.extend(std::iter::repeat_n(0, extra));
            g.extend_from_slice(&ip);
            let f = outer_ip4(47, &g);
            let outer = decode(LinkType::Ethernet, &f, true).unwrap();
            assert!(!outer.has_flow(), "Suricata sets up no flow for GRE");
            assert_dns4(&open(&f, TunnelKind::Gre));
        }
        // Transparent Ethernet bridging.
        let mut g = vec![0, 0, 0x65, 0x58];
        g.extend_from_slice(&eth(0x0800, &ip));
        assert_dns4(&open(&outer_ip4(47, &g), TunnelKind::Gre));
        // ERSPAN type II: sequence number, then an 8-byte header with version 1.
        let mut g = vec![0x10, 0, 0x88, 0xbe, 0, 0, 0, 1, 0x10, 0, 0, 1, 0, 0, 0, 0];
        g.extend_from_slice(&eth(0x0800, &ip));
        let f = outer_ip4(47, &g);
        let inner = open(&f, TunnelKind::Erspan);
        assert_dns4(&inner);
        assert_eq!(inner.layer.len, 8 + 14 + ip.len());
        // An unknown payload type stays data.
        let f = outer_ip4(47, &[0, 0, 0x12, 0x34, 1, 2, 3]);
        let p = decode(LinkType::Ethernet, &f, true).unwrap();
        assert!(p.layer.encap.is_none());
        assert_eq!(p.payload, &[0, 0, 0x12, 0x34, 1, 2, 3]);
    }

    #[test]
    fn pptp_enhanced_gre_carries_ppp() {
        let ip = inner_udp4(b"query");
        let ppp = [&[0xff, 0x03, 0x00, 0x21][..], &ip].concat();
        let mut g = vec![0x30, 0x81, 0x88, 0x0b];
        g.extend_from_slice(&u16::try_from(ppp.len()).unwrap().to_be_bytes());
        g.extend_from_slice(&[0, 9, 0, 0, 0, 1, 0, 0, 0, 1]);
        g.extend_from_slice(&ppp);
        let frame = outer_ip4(47, &g);
        let inner = open(&frame, TunnelKind::Gre);
        assert_dns4(&inner);
        assert!(inner.layer.links.contains(LinkLayers::PPP));
        // An acknowledgement without payload encapsulates nothing.
        let ack = outer_ip4(47, &[0x20, 0x81, 0x88, 0x0b, 0, 0, 0, 9, 0, 0, 0, 1]);
        assert!(decode(LinkType::Ethernet, &ack, true)
            .unwrap()
            .layer
            .encap
            .is_none());
    }

    #[test]
    fn broken_gre_headers_are_errors_of_the_tunnel() {
        for g in [
            &[0x00, 0x00, 0x08][..],                   // cut in the header
            &[0xb0, 0x00, 0x08, 0x00, 0, 0, 0, 0][..], // options announced, missing
            &[0x40, 0x00, 0x08, 0x00, 0, 0, 0, 0][..], // source routing
            &[0x00, 0x05, 0x08, 0x00][..],             // version 5
        ] {
            let f = outer_ip4(47, g);
            let outer = decode(LinkType::Ethernet, &f, true).unwrap();
            let encap = outer.layer.encap.unwrap();
            let e = decapsulate(&outer, encap, true).unwrap_err();
            assert!(
                matches!(e, DecodeError::Truncated | DecodeError::Malformed),
                "{g:?}"
            );
        }
    }

    #[test]
    fn ip_in_ip_kinds() {
        let v4 = inner_udp4(b"query");
        let v6 = inner_udp6(b"query");
        let frame = outer_ip4(41, &v6);
        let inner = open(&frame, TunnelKind::Ipv6InIpv4);
        assert_eq!(inner.dst_port, 53);
        assert_eq!(inner.layer.tunnel.unwrap().via.pkt_src(), "ipv4 tunnel");
        assert!(decode(LinkType::Ethernet, &outer_ip4(41, &v6), true)
            .unwrap()
            .has_flow());
        let frame = outer_ip6(4, &v4);
        let inner = open(&frame, TunnelKind::Ipv4InIpv6);
        assert_dns4(&inner);
        assert!(!decode(LinkType::Ethernet, &outer_ip6(41, &v6), true)
            .unwrap()
            .has_flow());
        assert_eq!(
            open(&outer_ip6(41, &v6), TunnelKind::Ipv6InIpv6).dst_port,
            53
        );
        // Suricata 7 does not open IPv4 in IPv4 and sets up no flow for it.
        let frame = outer_ip4(4, &v4);
        let p = decode(LinkType::Ethernet, &frame, true).unwrap();
        assert!(p.layer.encap.is_none() && !p.has_flow());
        assert_eq!(p.payload, v4.as_slice());
    }

    #[test]
    fn nesting_stops_at_the_depth_bound() {
        let mut pkt = inner_udp6(b"query");
        for _ in 0..6 {
            let mut outer = vec![0x60, 0, 0, 0];
            outer.extend_from_slice(&u16::try_from(pkt.len()).unwrap().to_be_bytes());
            outer.extend_from_slice(&[41, 64]);
            outer.extend_from_slice(&[0x30; 32]);
            outer.extend_from_slice(&pkt);
            pkt = outer;
        }
        let mut p = decode(LinkType::RawIp, &pkt, true).unwrap();
        let mut opened = 0;
        let err = loop {
            match decapsulate(&p, p.layer.encap.unwrap(), true) {
                Ok(inner) => {
                    p = inner;
                    opened += 1;
                }
                Err(e) => break e,
            }
        };
        assert_eq!(opened, usize::from(super::super::MAX_TUNNEL_DEPTH));
        assert_eq!(err, DecodeError::TooManyLayers);
        assert_eq!(p.layer.depth, super::super::MAX_TUNNEL_DEPTH);
    }

    #[test]
    fn teredo_as_suricata_recognises_it() {
        let v6 = inner_udp6(b"query");
        let frame = outer_udp(3544, 40000, &v6);
        let inner = open(&frame, TunnelKind::Teredo);
        assert_eq!(inner.dst_port, 53);
        // With an origin indication.
        let body = [&[0, 0, 0, 0, 0, 0, 0, 0][..], &v6].concat();
        assert_eq!(
            open(&outer_udp(40000, 3544, &body), TunnelKind::Teredo).dst_port,
            53
        );
        // Authentication headers, trailing bytes, hop limit 0 or no IPv6: a datagram.
        let auth = [&[0, 1, 0, 0, 0, 0, 0, 0][..], &v6].concat();
        let trailing = [&v6[..], &[0]].concat();
        let mut hlim0 = v6.clone();
        hlim0[7] = 0;
        for body in [
            auth,
            trailing,
            hlim0,
            b"not ipv6 at all, just some data here".repeat(2),
        ] {
            let f = outer_udp(3544, 40000, &body);
            let p = decode(LinkType::Ethernet, &f, true).unwrap();
            assert!(p.layer.encap.is_none());
            assert_eq!(p.payload, body.as_slice());
        }
    }

    #[test]
    fn pppoe_session_and_mpls() {
        let ip = inner_udp4(b"query");
        let mut s = vec![0x11, 0x00, 0x12, 0x34];
        s.extend_from_slice(&u16::try_from(ip.len() + 2).unwrap().to_be_bytes());
        s.extend_from_slice(&[0x00, 0x21]);
        s.extend_from_slice(&ip);
        s.extend_from_slice(&[0; 6]); // Ethernet padding after the PPP frame
        let frame = eth(0x8864, &s);
        let p = decode(LinkType::Ethernet, &frame, true).unwrap();
        assert_dns4(&p);
        // A PPPoE length shorter than the IP packet is not trusted (as in Suricata).
        s[5] -= 4;
        let frame = eth(0x8864, &s);
        assert_dns4(&decode(LinkType::Ethernet, &frame, true).unwrap());
        s[5] += 4;
        assert!(p.layer.links.contains(LinkLayers::PPPOE));
        // Discovery stage (code != 0) is not IP.
        s[1] = 0x09;
        let e = decode(LinkType::Ethernet, &eth(0x8864, &s), true).unwrap_err();
        assert_eq!(e, DecodeError::Malformed);

        let mut m = vec![0x00, 0x06, 0x40, 0x40, 0x00, 0x0c, 0x81, 0x40];
        m.extend_from_slice(&ip);
        let frame = eth(0x8847, &m);
        let p = decode(LinkType::Ethernet, &frame, true).unwrap();
        assert_dns4(&p);
        assert!(p.layer.links.contains(LinkLayers::MPLS));
        // A pseudowire control word, then Ethernet.
        let mut m = vec![0x00, 0x06, 0x41, 0x40, 0, 0, 0, 0];
        m.extend_from_slice(&eth(0x0800, &ip));
        assert_dns4(&decode(LinkType::Ethernet, &eth(0x8847, &m), true).unwrap());
        // A label stack that never ends.
        let e = decode(LinkType::Ethernet, &eth(0x8847, &[0; 80]), true).unwrap_err();
        assert_eq!(e, DecodeError::Malformed);
    }

    #[test]
    fn sll_with_any_arphrd_type() {
        // ARPHRD 0x0212 (as in ndpi's KakaoTalk capture), no link address, IPv4.
        let mut f = vec![0, 4, 0x02, 0x12, 0, 0];
        f.extend_from_slice(&[0; 8]);
        f.extend_from_slice(&0x0800u16.to_be_bytes());
        f.extend_from_slice(&inner_udp4(b"query"));
        let p = decode(LinkType::LinuxSll, &f, true).unwrap();
        assert_dns4(&p);
        assert!(p.layer.links.contains(LinkLayers::SLL));
    }

    #[test]
    fn sll2() {
        let mut f = vec![0x86, 0xdd, 0, 0, 0, 0, 0, 3, 0, 1, 0, 6];
        f.extend_from_slice(&[0; 8]);
        f.extend_from_slice(&inner_udp6(b"query"));
        let p = decode(LinkType::LinuxSll2, &f, true).unwrap();
        assert_eq!(p.dst_port, 53);
        assert_eq!(LinkType::from_pcap(276), Ok(LinkType::LinuxSll2));
        let e = decode(LinkType::LinuxSll2, &f[..19], true).unwrap_err();
        assert_eq!(e, DecodeError::Truncated);
    }

    #[test]
    fn tunnel_inside_tunnel() {
        let vx = outer_udp(40000, 4789, &vxlan(&eth(0x0800, &inner_udp4(b"query"))));
        // The VXLAN packet's IP layer inside GRE.
        let mut g = vec![0, 0, 0x08, 0x00];
        g.extend_from_slice(vx.get(14..).unwrap());
        let f = outer_ip4(47, &g);
        let outer = decode(LinkType::Ethernet, &f, true).unwrap();
        let mid = decapsulate(&outer, outer.layer.encap.unwrap(), true).unwrap();
        assert_eq!(mid.dst_port, 4789);
        let inner = decapsulate(&mid, mid.layer.encap.unwrap(), true).unwrap();
        assert_dns4(&inner);
        assert_eq!(inner.layer.depth, 2);
        let root = inner.layer.tunnel.unwrap();
        assert_eq!((root.proto, root.via), (47, TunnelKind::Vxlan));
        assert_dns4(&innermost(LinkType::Ethernet, &f).unwrap());
    }

    proptest::proptest! {
        /// Any bytes after a tunnel header: the inner decode may refuse them, never panic.
        #[test]
        fn arbitrary_inner_bytes_never_panic(body in proptest::collection::vec(proptest::num::u8::ANY, 0..120), which in 0u8..6) {
            let f = match which {
                0 => outer_udp(1, 4789, &[&[0x08, 0, 0, 0, 0, 0, 1, 0][..], &body].concat()),
                1 => outer_udp(1, 6081, &[&[0, 0, 0x65, 0x58, 0, 0, 1, 0][..], &body].concat()),
                2 => outer_ip4(47, &body),
                3 => outer_udp(3544, 1, &body),
                4 => eth(0x8864, &body),
                _ => eth(0x8847, &body),
            };
            if let Ok(p) = decode(LinkType::Ethernet, &f, true) {
                if let Some(e) = p.layer.encap {
                    let _ = decapsulate(&p, e, true);
                }
            }
            let _ = innermost(LinkType::Ethernet, &f);
        }
    }
}
