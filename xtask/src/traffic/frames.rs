//! Frame builders: hosts, encapsulation (plain, 802.1Q, QinQ), a capture
//! timeline, and a TCP session helper that keeps sequence numbers honest.
//!
//! etherparse's `PacketBuilder` does the header layout and the checksums; this
//! module only decides *what* to send, so every frame in the demo capture is a
//! well-formed packet a real stack could have produced.

use super::pcap::PcapWriter;
use anyhow::{Context, Result};
use etherparse::{IpHeaders, PacketBuilder, PacketBuilderStep, VlanId};
use std::net::IpAddr;

/// An endpoint: MAC and IP address.
#[derive(Debug, Clone, Copy)]
pub struct Host {
    /// Ethernet address of the host (or of the router in front of it).
    pub mac: [u8; 6],
    /// IP address (v4 or v6; both ends of a packet must use the same family).
    pub ip: IpAddr,
}

impl Host {
    /// A host from a MAC and an address literal known to be valid.
    pub fn new(mac_last: u8, ip: &str) -> Result<Self> {
        Ok(Self {
            mac: [0x02, 0x00, 0x5e, 0x10, 0x00, mac_last],
            ip: ip
                .parse()
                .with_context(|| format!("bad demo address {ip}"))?,
        })
    }
}

/// Link-layer encapsulation of a flow.
#[derive(Debug, Clone, Copy)]
pub enum Encap {
    /// Untagged Ethernet II.
    Plain,
    /// One 802.1Q tag.
    Vlan(u16),
    /// 802.1ad QinQ: outer and inner tag.
    QinQ(u16, u16),
}

/// Transport-layer content of one packet.
#[derive(Debug, Clone, Copy)]
pub enum L4<'a> {
    /// A TCP segment.
    Tcp {
        /// Source port.
        sport: u16,
        /// Destination port.
        dport: u16,
        /// Sequence number.
        seq: u32,
        /// Acknowledgement number, when the ACK flag is set.
        ack: Option<u32>,
        /// SYN flag.
        syn: bool,
        /// FIN flag.
        fin: bool,
        /// Payload bytes (PSH is set when non-empty).
        payload: &'a [u8],
    },
    /// A UDP datagram.
    Udp {
        /// Source port.
        sport: u16,
        /// Destination port.
        dport: u16,
        /// Payload bytes.
        payload: &'a [u8],
    },
    /// ICMP (v4 or v6, following the IP family) echo request or reply.
    Echo {
        /// True for a reply, false for a request.
        reply: bool,
        /// Echo identifier.
        id: u16,
        /// Echo sequence number.
        seq: u16,
        /// Echo data.
        payload: &'a [u8],
    },
}

fn vlan_id(id: u16) -> Result<VlanId> {
    VlanId::try_new(id).map_err(|e| anyhow::anyhow!("bad vlan id {id}: {e}"))
}

fn ip_step(encap: Encap, src: &Host, dst: &Host, ttl: u8) -> Result<PacketBuilderStep<IpHeaders>> {
    let eth = PacketBuilder::ethernet2(src.mac, dst.mac);
    Ok(match (encap, src.ip, dst.ip) {
        (Encap::Plain, IpAddr::V4(s), IpAddr::V4(d)) => eth.ipv4(s.octets(), d.octets(), ttl),
        (Encap::Plain, IpAddr::V6(s), IpAddr::V6(d)) => eth.ipv6(s.octets(), d.octets(), ttl),
        (Encap::Vlan(v), IpAddr::V4(s), IpAddr::V4(d)) => {
            eth.single_vlan(vlan_id(v)?)
                .ipv4(s.octets(), d.octets(), ttl)
        }
        (Encap::Vlan(v), IpAddr::V6(s), IpAddr::V6(d)) => {
            eth.single_vlan(vlan_id(v)?)
                .ipv6(s.octets(), d.octets(), ttl)
        }
        (Encap::QinQ(o, i), IpAddr::V4(s), IpAddr::V4(d)) => eth
            .double_vlan(vlan_id(o)?, vlan_id(i)?)
            .ipv4(s.octets(), d.octets(), ttl),
        (Encap::QinQ(o, i), IpAddr::V6(s), IpAddr::V6(d)) => eth
            .double_vlan(vlan_id(o)?, vlan_id(i)?)
            .ipv6(s.octets(), d.octets(), ttl),
        _ => anyhow::bail!("mixed IPv4/IPv6 endpoints {} -> {}", src.ip, dst.ip),
    })
}

/// Build one complete Ethernet frame with correct IP/L4 checksums.
pub fn frame(encap: Encap, src: &Host, dst: &Host, ttl: u8, l4: L4<'_>) -> Result<Vec<u8>> {
    let step = ip_step(encap, src, dst, ttl)?;
    let mut out = Vec::new();
    match l4 {
        L4::Tcp {
            sport,
            dport,
            seq,
            ack,
            syn,
            fin,
            payload,
        } => {
            let mut b = step.tcp(sport, dport, seq, 64_240);
            if syn {
                b = b.syn();
            }
            if fin {
                b = b.fin();
            }
            if let Some(a) = ack {
                b = b.ack(a);
            }
            if !payload.is_empty() {
                b = b.psh();
            }
            b.write(&mut out, payload)?;
        }
        L4::Udp {
            sport,
            dport,
            payload,
        } => step.udp(sport, dport).write(&mut out, payload)?,
        L4::Echo {
            reply,
            id,
            seq,
            payload,
        } => match (src.ip, reply) {
            (IpAddr::V4(_), false) => step.icmpv4_echo_request(id, seq).write(&mut out, payload)?,
            (IpAddr::V4(_), true) => step.icmpv4_echo_reply(id, seq).write(&mut out, payload)?,
            (IpAddr::V6(_), false) => step.icmpv6_echo_request(id, seq).write(&mut out, payload)?,
            (IpAddr::V6(_), true) => step.icmpv6_echo_reply(id, seq).write(&mut out, payload)?,
        },
    }
    Ok(out)
}

/// The capture being recorded: a clock plus the pcap writer.
#[derive(Debug)]
pub struct Capture {
    now_micros: u64,
    writer: PcapWriter,
}

impl Capture {
    /// Start an empty capture whose clock reads `start_micros`.
    pub fn new(start_micros: u64) -> Self {
        Self {
            now_micros: start_micros,
            writer: PcapWriter::new(),
        }
    }

    /// Advance the clock without emitting anything (think time between flows).
    pub fn wait_ms(&mut self, ms: u64) {
        self.now_micros += ms * 1_000;
    }

    /// Emit one frame `delay_us` after the previous one.
    pub fn emit(&mut self, delay_us: u64, frame: &[u8]) {
        self.now_micros += delay_us;
        self.writer.push(self.now_micros, frame);
    }

    /// The finished pcap bytes.
    pub fn into_bytes(self) -> Vec<u8> {
        self.writer.into_bytes()
    }
}

/// A TCP connection between a client and a server, tracking both sequence
/// spaces so every segment acknowledges exactly what the peer sent.
#[derive(Debug)]
pub struct TcpSession {
    encap: Encap,
    client: Host,
    server: Host,
    cport: u16,
    sport: u16,
    /// Next sequence number the client will send.
    cseq: u32,
    /// Next sequence number the server will send.
    sseq: u32,
    /// One-way latency in microseconds (half the RTT).
    latency_us: u64,
}

impl TcpSession {
    /// Describe a connection; nothing is emitted until [`TcpSession::handshake`].
    pub fn new(
        encap: Encap,
        client: Host,
        cport: u16,
        server: Host,
        sport: u16,
        isn: (u32, u32),
    ) -> Self {
        Self {
            encap,
            client,
            server,
            cport,
            sport,
            cseq: isn.0,
            sseq: isn.1,
            latency_us: 18_000,
        }
    }

    fn segment(
        &self,
        from_client: bool,
        syn: bool,
        fin: bool,
        ack: bool,
        payload: &[u8],
    ) -> Result<Vec<u8>> {
        let (src, dst, sp, dp, seq, peer) = if from_client {
            (
                &self.client,
                &self.server,
                self.cport,
                self.sport,
                self.cseq,
                self.sseq,
            )
        } else {
            (
                &self.server,
                &self.client,
                self.sport,
                self.cport,
                self.sseq,
                self.cseq,
            )
        };
        let ttl = if from_client { 64 } else { 52 };
        frame(
            self.encap,
            src,
            dst,
            ttl,
            L4::Tcp {
                sport: sp,
                dport: dp,
                seq,
                ack: ack.then_some(peer),
                syn,
                fin,
                payload,
            },
        )
    }

    /// SYN, SYN/ACK, ACK.
    pub fn handshake(&mut self, cap: &mut Capture) -> Result<()> {
        let syn = self.segment(true, true, false, false, &[])?;
        cap.emit(1_000, &syn);
        self.cseq = self.cseq.wrapping_add(1);
        let synack = self.segment(false, true, false, true, &[])?;
        cap.emit(self.latency_us, &synack);
        self.sseq = self.sseq.wrapping_add(1);
        let ack = self.segment(true, false, false, true, &[])?;
        cap.emit(self.latency_us, &ack);
        Ok(())
    }

    /// The client sends `data` in one segment; the server acknowledges it.
    pub fn client_sends(&mut self, cap: &mut Capture, data: &[u8]) -> Result<()> {
        self.send(cap, true, data)
    }

    /// The server sends `data` in one segment; the client acknowledges it.
    pub fn server_sends(&mut self, cap: &mut Capture, data: &[u8]) -> Result<()> {
        self.send(cap, false, data)
    }

    fn send(&mut self, cap: &mut Capture, from_client: bool, data: &[u8]) -> Result<()> {
        let seg = self.segment(from_client, false, false, true, data)?;
        cap.emit(2_000, &seg);
        let advance = u32::try_from(data.len()).context("segment too large")?;
        if from_client {
            self.cseq = self.cseq.wrapping_add(advance);
        } else {
            self.sseq = self.sseq.wrapping_add(advance);
        }
        let ack = self.segment(!from_client, false, false, true, &[])?;
        cap.emit(self.latency_us, &ack);
        Ok(())
    }

    /// Orderly close started by the client: FIN/ACK, FIN/ACK, ACK.
    pub fn close(&mut self, cap: &mut Capture) -> Result<()> {
        let fin = self.segment(true, false, true, true, &[])?;
        cap.emit(3_000, &fin);
        self.cseq = self.cseq.wrapping_add(1);
        let finack = self.segment(false, false, true, true, &[])?;
        cap.emit(self.latency_us, &finack);
        self.sseq = self.sseq.wrapping_add(1);
        let ack = self.segment(true, false, false, true, &[])?;
        cap.emit(self.latency_us, &ack);
        Ok(())
    }
}
