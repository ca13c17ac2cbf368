//! Decode: a captured frame becomes a [`Decoded`] view over the same bytes.
//!
//! Slicing is delegated to etherparse's `SlicedPacket`, which borrows the frame and never
//! allocates; this module only flattens what the later stages need (addresses, ports, TCP
//! flags, VLAN ids, L4 payload) into one small `Copy` struct so that flow tracking, detection
//! and event building do not each re-walk etherparse's enums. Anything malformed becomes a
//! [`DecodeError`] kind that the caller counts; nothing here can panic on input bytes.
//!
//! Tunnels are opened one layer at a time, as Suricata 7 does by default: [`decode`] returns
//! the outermost IP packet and, in [`Layer::encap`], the frame it carries (VXLAN, GENEVE,
//! GRE, Teredo, IP-in-IP); [`decapsulate`] decodes that frame into the next packet. The
//! worker inspects every layer (the outer one without its payload, which is the inner
//! packet) so outer and inner flows both exist, as in Suricata's EVE output. Link-level
//! encapsulations (VLAN, PPPoE, MPLS, Linux SLL) are crossed in [`tunnel`] without a
//! layer of their own.

mod checksum;
pub mod tunnel;

use std::net::IpAddr;

use etherparse::{NetSlice, SlicedPacket, TransportSlice};

pub use tunnel::{Encap, InnerFrame, LinkLayers, TunnelKind};

/// Tunnels opened at most on the way to one packet; deeper ones are counted, not opened.
pub const MAX_TUNNEL_DEPTH: u8 = 4;

/// IP protocol numbers used across the sensor.
pub mod ipproto {
    /// ICMP for IPv4.
    pub const ICMP: u8 = 1;
    /// TCP.
    pub const TCP: u8 = 6;
    /// UDP.
    pub const UDP: u8 = 17;
    /// ICMP for IPv6.
    pub const ICMPV6: u8 = 58;
}

/// The link layer a capture delivers, from its pcap linktype.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkType {
    /// DLT_EN10MB.
    Ethernet,
    /// DLT_RAW / LINKTYPE_RAW, LINKTYPE_IPV4, LINKTYPE_IPV6: the frame starts at the IP header.
    RawIp,
    /// LINKTYPE_LINUX_SLL (cooked capture, `tcpdump -i any`).
    LinuxSll,
    /// LINKTYPE_LINUX_SLL2 (cooked capture v2, with the interface index).
    LinuxSll2,
    /// DLT_NULL / DLT_LOOP: a 4-byte address family, then IP.
    Null,
    /// DLT_PPP / PPP in HDLC-like framing: optional address/control, a protocol, then IP.
    Ppp,
}

impl LinkType {
    /// Maps a pcap linktype number; unknown ones are kept as `Err(number)` so the caller can
    /// name it in an error instead of guessing.
    pub fn from_pcap(linktype: i32) -> Result<LinkType, i32> {
        match linktype {
            1 => Ok(LinkType::Ethernet),
            12 | 14 | 101 | 228 | 229 => Ok(LinkType::RawIp),
            113 => Ok(LinkType::LinuxSll),
            276 => Ok(LinkType::LinuxSll2),
            0 | 108 => Ok(LinkType::Null),
            9 | 50 => Ok(LinkType::Ppp),
            other => Err(other),
        }
    }
}

/// Why a frame could not be decoded far enough to be inspected; each kind is a counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
    /// Shorter than its headers claim, or cut by the snap length.
    Truncated,
    /// A header field is invalid (bad version, bad header length, ...).
    Malformed,
    /// Not IP (ARP, LLDP, ...): not an error of the packet, but nothing to inspect.
    NotIp,
    /// TCP/UDP/IP checksum wrong while checksum verification is on.
    BadChecksum,
    /// More nested tunnels than [`MAX_TUNNEL_DEPTH`].
    TooManyLayers,
}

impl DecodeError {
    /// Counter name in the summary and, later, the EVE stats event.
    pub fn counter_name(self) -> &'static str {
        match self {
            DecodeError::Truncated => "truncated",
            DecodeError::Malformed => "malformed",
            DecodeError::NotIp => "not_ip",
            DecodeError::BadChecksum => "bad_checksum",
            DecodeError::TooManyLayers => "too_many_layers",
        }
    }
}

/// TCP header fields the flow tracker needs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TcpFlags {
    /// The flags byte as on the wire (CWR ECE URG ACK PSH RST SYN FIN), for EVE's `tcp_flags`.
    pub bits: u8,
    /// SYN bit.
    pub syn: bool,
    /// ACK bit.
    pub ack: bool,
    /// FIN bit.
    pub fin: bool,
    /// RST bit.
    pub rst: bool,
}

/// What the transport layer was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// TCP with its flags.
    Tcp(TcpFlags),
    /// UDP.
    Udp,
    /// ICMP or ICMPv6 with type and code.
    Icmp {
        /// ICMP type.
        icmp_type: u8,
        /// ICMP code.
        icmp_code: u8,
    },
    /// Another protocol, or a non-first fragment: only IP fields are known.
    Other,
}

/// Up to three VLAN ids (outer first), as EVE's `vlan` list; Suricata also keeps three.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Vlans {
    ids: [u16; 3],
    len: u8,
}

impl Vlans {
    /// The ids, outer first.
    pub fn as_slice(&self) -> &[u16] {
        &self.ids[..usize::from(self.len).min(3)]
    }

    pub(crate) fn push(&mut self, id: u16) {
        if let Some(slot) = self.ids.get_mut(usize::from(self.len)) {
            *slot = id;
            self.len += 1;
        }
    }
}

/// IP header fields that header keywords (ttl, tos, id, fragbits, ipopts) read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IpInfo {
    /// 4 or 6.
    pub version: u8,
    /// TTL or hop limit.
    pub ttl: u8,
    /// TOS byte or traffic class.
    pub tos: u8,
    /// IPv4 identification (0 for IPv6).
    pub id: u16,
    /// IPv4 flags: 0x4 reserved, 0x2 DF, 0x1 MF.
    pub frag_flags: u8,
    /// IPv4 fragment offset in 8-byte units.
    pub frag_offset: u16,
}

/// TCP header fields beyond the flags.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TcpInfo<'a> {
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgement number.
    pub ack: u32,
    /// Window, unscaled.
    pub window: u16,
    /// Raw options bytes (after the 20-byte header).
    pub options: &'a [u8],
}

/// A decoded packet: a flat, borrowed view of the fields later stages read.
#[derive(Debug, Clone, Copy)]
pub struct Decoded<'a> {
    /// Source address.
    pub src_ip: IpAddr,
    /// Destination address.
    pub dst_ip: IpAddr,
    /// IP protocol number of the transport (after IPv6 extension headers).
    pub ip_proto: u8,
    /// Source port (0 for portless protocols).
    pub src_port: u16,
    /// Destination port (0 for portless protocols).
    pub dst_port: u16,
    /// Transport kind and its header fields.
    pub transport: Transport,
    /// VLAN ids, outer first.
    pub vlans: Vlans,
    /// L4 payload: TCP/UDP data, the ICMP body after its header, or the IP payload for others.
    pub payload: &'a [u8],
    /// IP header fields.
    pub ip: IpInfo,
    /// Raw IPv4 options (empty for IPv6 or when none).
    pub ipv4_options: &'a [u8],
    /// TCP header fields (zero unless TCP).
    pub tcp: TcpInfo<'a>,
    /// ICMP echo identifier and sequence (zero unless an echo request/reply).
    pub icmp_id_seq: (u16, u16),
    /// The IP payload is a fragment (not the whole datagram).
    pub fragmented: bool,
    /// Where the packet sits among encapsulations.
    pub layer: Layer<'a>,
}

impl Decoded<'_> {
    /// Whether Suricata 7 tracks a flow for this packet: not for GRE, IPv4-in-IPv4, nor the
    /// outer packet of an IPv6-carried tunnel (it does for the UDP carriers and 6in4).
    pub fn has_flow(&self) -> bool {
        match self.layer.encap {
            Some(e) => e.kind.outer_flow(),
            None => self.ip_proto != 47 && !(self.ip.version == 4 && self.ip_proto == 4),
        }
    }
}

/// The outermost packet of a tunnelled one: what EVE's `tunnel` object reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TunnelParent {
    /// Source address of the outermost packet.
    pub src_ip: IpAddr,
    /// Destination address of the outermost packet.
    pub dst_ip: IpAddr,
    /// Its source port (0 for portless protocols).
    pub src_port: u16,
    /// Its destination port (0 for portless protocols).
    pub dst_port: u16,
    /// Its IP protocol.
    pub proto: u8,
    /// The encapsulation this packet came out of (the innermost one), for `pkt_src`.
    pub via: TunnelKind,
}

/// A packet's place among encapsulations.
#[derive(Debug, Clone, Copy, Default)]
pub struct Layer<'a> {
    /// The IP packet this view was decoded from (from its IP header to the end of the
    /// frame), for the defragmenter.
    pub ip_packet: &'a [u8],
    /// The tunnel payload this packet carries, not decoded yet (never set on fragments).
    pub encap: Option<Encap<'a>>,
    /// Set on a packet that came out of a tunnel: the outermost packet's tuple.
    pub tunnel: Option<TunnelParent>,
    /// Tunnels opened to reach this packet (0 for the packet on the wire).
    pub depth: u8,
    /// Link-level encapsulations crossed before this packet's IP header.
    pub links: LinkLayers,
    /// For a packet out of a tunnel, its length as Suricata counts it in flow bytes: the
    /// encapsulated frame from its first header (the IP header for VXLAN, whose Ethernet
    /// header Suricata skips). 0 on the outer packet, whose frame length counts.
    pub len: usize,
}

/// Decodes one frame of the given link type.
///
/// The result is the outermost IP packet; when it carries a tunnel, [`Layer::encap`] says
/// so and its payload is empty (the payload is the inner packet, inspected on its own).
pub fn decode(link: LinkType, frame: &[u8], verify: bool) -> Result<Decoded<'_>, DecodeError> {
    let mut vlans = Vlans::default();
    let mut links = LinkLayers::default();
    let ip = match link {
        LinkType::Ethernet => tunnel::ethernet_ip(frame, &mut vlans, &mut links)?,
        LinkType::RawIp => frame,
        LinkType::LinuxSll => tunnel::sll_ip(frame, &mut vlans, &mut links)?,
        LinkType::LinuxSll2 => tunnel::sll2_ip(frame, &mut vlans, &mut links)?,
        LinkType::Null => frame.get(4..).ok_or(DecodeError::Truncated)?,
        LinkType::Ppp => tunnel::ppp_ip(frame, &mut links)?,
    };
    decode_ip(ip, vlans, links, verify)
}

/// Decodes the packet a tunnel carries. `outer` is the packet whose [`Layer::encap`] it is;
/// its VLAN ids carry over (as in Suricata) and the result names the outermost packet in
/// [`Layer::tunnel`]. Errors are those of the inner packet (or of the tunnel header).
pub fn decapsulate<'a>(
    outer: &Decoded<'a>,
    encap: Encap<'a>,
    verify: bool,
) -> Result<Decoded<'a>, DecodeError> {
    if outer.layer.depth >= MAX_TUNNEL_DEPTH {
        return Err(DecodeError::TooManyLayers);
    }
    let mut vlans = outer.vlans;
    let mut links = LinkLayers::default();
    let ip = tunnel::inner_ip(encap.inner, &mut vlans, &mut links)?;
    let mut inner = decode_ip(ip, vlans, links, verify)?;
    let root = outer.layer.tunnel.unwrap_or(TunnelParent {
        src_ip: outer.src_ip,
        dst_ip: outer.dst_ip,
        src_port: outer.src_port,
        dst_port: outer.dst_port,
        proto: outer.ip_proto,
        via: encap.kind,
    });
    inner.layer.tunnel = Some(TunnelParent {
        via: encap.kind,
        ..root
    });
    inner.layer.depth = outer.layer.depth + 1;
    inner.layer.len = match encap.inner {
        InnerFrame::Ethernet(b) if encap.kind == TunnelKind::Vxlan => b.len().saturating_sub(14),
        // Suricata's ERSPAN packet starts at the 8-byte ERSPAN header.
        InnerFrame::Ethernet(b) if encap.kind == TunnelKind::Erspan => b.len() + 8,
        InnerFrame::Ethernet(b) | InnerFrame::Ip(b) | InnerFrame::Ppp(b) | InnerFrame::Mpls(b) => {
            b.len()
        }
        InnerFrame::Bad(_) => 0,
    };
    Ok(inner)
}

/// Decodes a frame and every tunnel in it, down to the innermost packet that can be decoded
/// (the outer packet when a fragment or a broken tunnel stops the walk). The dispatcher
/// hashes this one so that an inner flow always lands on the same worker.
pub fn innermost(link: LinkType, frame: &[u8]) -> Result<Decoded<'_>, DecodeError> {
    let mut p = decode(link, frame, false)?;
    while let Some(encap) = p.layer.encap {
        match decapsulate(&p, encap, false) {
            Ok(inner) => p = inner,
            Err(_) => break,
        }
    }
    Ok(p)
}

/// The IP packet inside a PPP frame (RFC 1661/1662); see [`tunnel::ppp_ip`].
pub(crate) fn ppp_payload(frame: &[u8]) -> Result<&[u8], DecodeError> {
    tunnel::ppp_ip(frame, &mut LinkLayers::default())
}

/// Decodes an IP packet (from its header on) and looks for a tunnel in it.
fn decode_ip(
    ip: &[u8],
    vlans: Vlans,
    links: LinkLayers,
    verify: bool,
) -> Result<Decoded<'_>, DecodeError> {
    match ip.first().map(|b| b >> 4) {
        Some(4 | 6) => {}
        Some(_) => return Err(DecodeError::Malformed),
        None => return Err(DecodeError::Truncated),
    }
    let sliced = SlicedPacket::from_ip(ip).map_err(|e| match e {
        etherparse::err::packet::SliceError::Len(_) => DecodeError::Truncated,
        _ => DecodeError::Malformed,
    })?;
    let mut p = from_sliced(ip, &sliced, vlans, verify)?;
    p.layer.ip_packet = ip;
    p.layer.links = links;
    if !p.fragmented {
        p.layer.encap = match p.transport {
            Transport::Udp => tunnel::udp(p.src_port, p.dst_port, p.payload),
            Transport::Other if p.ip_proto == 47 => tunnel::gre(p.payload),
            Transport::Other => tunnel::ip_in_ip(p.ip.version == 6, p.ip_proto, p.payload),
            _ => None,
        };
        if p.layer.encap.is_some() {
            // Suricata inspects the outer packet's headers but not its payload, which is
            // the inner packet.
            p.payload = &[];
        }
    }
    Ok(p)
}

/// Where `inner` starts within `outer`, when it lies inside it. Slices that etherparse hands
/// out with a shorter lifetime still point into the frame; this recovers them as frame
/// sub-slices without `unsafe`.
fn offset_in(outer: &[u8], inner: &[u8]) -> Option<usize> {
    let start = (inner.as_ptr() as usize).checked_sub(outer.as_ptr() as usize)?;
    (start.checked_add(inner.len())? <= outer.len()).then_some(start)
}

fn from_sliced<'a>(
    frame: &'a [u8],
    p: &SlicedPacket<'a>,
    vlans: Vlans,
    verify: bool,
) -> Result<Decoded<'a>, DecodeError> {
    let ip;
    let mut ipv4_options: &[u8] = &[];
    let (src_ip, dst_ip, ip_payload) = match &p.net {
        Some(NetSlice::Ipv4(v4)) => {
            let h = v4.header();
            if verify && !checksum::ipv4_header_ok(h.slice()) {
                return Err(DecodeError::BadChecksum);
            }
            let raw = h.slice();
            ip = IpInfo {
                version: 4,
                ttl: h.ttl(),
                tos: raw.get(1).copied().unwrap_or(0),
                id: h.identification(),
                frag_flags: raw.get(6).map_or(0, |b| b >> 5),
                frag_offset: h.fragments_offset().value(),
            };
            ipv4_options = offset_in(frame, raw)
                .and_then(|at| frame.get(at + 20..at + raw.len()))
                .unwrap_or(&[]);
            (
                IpAddr::from(h.source_addr()),
                IpAddr::from(h.destination_addr()),
                v4.payload(),
            )
        }
        Some(NetSlice::Ipv6(v6)) => {
            let h = v6.header();
            ip = IpInfo {
                version: 6,
                ttl: h.hop_limit(),
                tos: h.traffic_class(),
                ..IpInfo::default()
            };
            (
                IpAddr::from(h.source_addr()),
                IpAddr::from(h.destination_addr()),
                v6.payload(),
            )
        }
        Some(NetSlice::Arp(_)) | None => return Err(DecodeError::NotIp),
    };
    let ip_proto = ip_payload.ip_number.0;
    let mut tcp = TcpInfo::default();
    let mut icmp_id_seq = (0, 0);
    let echo_id_seq = |b: [u8; 4]| {
        (
            u16::from_be_bytes([b[0], b[1]]),
            u16::from_be_bytes([b[2], b[3]]),
        )
    };
    let (transport, src_port, dst_port, payload) = match &p.transport {
        Some(TransportSlice::Tcp(t)) => {
            let header = t.header_slice();
            tcp = TcpInfo {
                seq: t.sequence_number(),
                ack: t.acknowledgment_number(),
                window: t.window_size(),
                options: header.get(20..).unwrap_or(&[]),
            };
            (
                Transport::Tcp(TcpFlags {
                    bits: header.get(13).copied().unwrap_or(0),
                    syn: t.syn(),
                    ack: t.ack(),
                    fin: t.fin(),
                    rst: t.rst(),
                }),
                t.source_port(),
                t.destination_port(),
                t.payload(),
            )
        }
        Some(TransportSlice::Udp(u)) => (
            Transport::Udp,
            u.source_port(),
            u.destination_port(),
            u.payload(),
        ),
        Some(TransportSlice::Icmpv4(i)) => {
            if matches!(i.type_u8(), 0 | 8 | 13 | 14 | 15 | 16 | 17 | 18) {
                icmp_id_seq = echo_id_seq(i.bytes5to8());
            }
            (
                Transport::Icmp {
                    icmp_type: i.type_u8(),
                    icmp_code: i.code_u8(),
                },
                0,
                0,
                i.payload(),
            )
        }
        Some(TransportSlice::Icmpv6(i)) => {
            if matches!(i.type_u8(), 128 | 129) {
                icmp_id_seq = echo_id_seq(i.bytes5to8());
            }
            (
                Transport::Icmp {
                    icmp_type: i.type_u8(),
                    icmp_code: i.code_u8(),
                },
                0,
                0,
                i.payload(),
            )
        }
        None => (Transport::Other, 0, 0, ip_payload.payload),
    };
    if verify
        && !ip_payload.fragmented
        && !checksum::transport_ok(src_ip, dst_ip, ip_proto, ip_payload.payload)
    {
        return Err(DecodeError::BadChecksum);
    }
    Ok(Decoded {
        src_ip,
        dst_ip,
        ip_proto,
        src_port,
        dst_port,
        transport,
        vlans,
        payload,
        ip,
        ipv4_options,
        tcp,
        icmp_id_seq,
        fragmented: ip_payload.fragmented,
        layer: Layer::default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::PacketBuilder;

    fn tcp_frame(payload: &[u8]) -> Vec<u8> {
        let b = PacketBuilder::ethernet2([1; 6], [2; 6])
            .single_vlan(100.try_into().unwrap())
            .ipv4([10, 0, 0, 1], [192, 0, 2, 1], 64)
            .tcp(40000, 80, 1, 1000)
            .syn();
        let mut out = Vec::new();
        b.write(&mut out, payload).unwrap();
        out
    }

    #[test]
    fn decodes_vlan_tcp() {
        let f = tcp_frame(b"hello");
        let d = decode(LinkType::Ethernet, &f, true).unwrap();
        assert_eq!(d.src_port, 40000);
        assert_eq!(d.dst_port, 80);
        assert_eq!(d.ip_proto, ipproto::TCP);
        assert_eq!(d.payload, b"hello");
        assert_eq!(d.vlans.as_slice(), &[100]);
        assert!(matches!(d.transport, Transport::Tcp(f) if f.syn && !f.ack));
    }

    #[test]
    fn ppp_with_and_without_address_control() {
        let mut ip = Vec::new();
        PacketBuilder::ipv4([10, 0, 0, 1], [192, 0, 2, 1], 64)
            .udp(1, 2)
            .write(&mut ip, b"x")
            .unwrap();
        for prefix in [&[0xff, 0x03, 0x00, 0x21][..], &[0x00, 0x21], &[0x21]] {
            let frame = [prefix, &ip].concat();
            let d = decode(LinkType::Ppp, &frame, true).unwrap();
            assert_eq!(d.dst_port, 2);
        }
        assert_eq!(
            decode(LinkType::Ppp, &[0xc0, 0x21, 1, 2], false).unwrap_err(),
            DecodeError::NotIp
        );
    }

    #[test]
    fn bad_checksum_only_when_verifying() {
        let mut f = tcp_frame(b"hello");
        let last = f.len() - 1;
        f[last] ^= 0xff; // payload byte changes, TCP checksum no longer matches
        assert!(decode(LinkType::Ethernet, &f, false).is_ok());
        assert_eq!(
            decode(LinkType::Ethernet, &f, true).unwrap_err(),
            DecodeError::BadChecksum
        );
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            for link in [LinkType::Ethernet, LinkType::RawIp, LinkType::LinuxSll, LinkType::LinuxSll2, LinkType::Null, LinkType::Ppp] {
                let _ = decode(link, &bytes, true);
            }
        }

        /// A valid frame with bytes flipped: the decoder may refuse it, never panic.
        #[test]
        fn corrupted_frames_never_panic(flips in proptest::collection::vec((0usize..80, proptest::num::u8::ANY), 1..8)) {
            let mut f = tcp_frame(b"payload bytes here");
            for (at, v) in flips {
                if let Some(b) = f.get_mut(at) {
                    *b = v;
                }
            }
            let _ = decode(LinkType::Ethernet, &f, true);
        }
    }

    #[test]
    fn every_truncation_is_an_error_or_a_packet_never_a_panic() {
        let f = tcp_frame(b"hello world");
        for n in 0..f.len() {
            let _ = decode(LinkType::Ethernet, &f[..n], true);
            let _ = decode(LinkType::RawIp, &f[..n], true);
            let _ = decode(LinkType::LinuxSll, &f[..n], true);
            let _ = decode(LinkType::Null, &f[..n], true);
            let _ = decode(LinkType::Ppp, &f[..n], true);
        }
        assert_eq!(
            decode(LinkType::Ethernet, &f[..10], false).unwrap_err(),
            DecodeError::Truncated
        );
    }
}
