//! One flow's state and what it learns from each packet.

use std::net::IpAddr;

use crate::capture::Timestamp;
use crate::decode::{ipproto, Decoded, Transport};

/// Idle timeouts in seconds, Suricata's defaults (flow-timeouts in suricata.yaml).
#[derive(Debug, Clone, Copy)]
pub(super) struct Timeouts {
    new: i64,
    established: i64,
    closed: i64,
}

pub(super) fn timeouts(proto: u8) -> Timeouts {
    match proto {
        ipproto::TCP => Timeouts {
            new: 60,
            established: 600,
            closed: 60,
        },
        _ => Timeouts {
            new: 30,
            established: 300,
            closed: 0,
        },
    }
}

/// How far a TCP connection got, as the flow tracker sees it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TcpProgress {
    /// No SYN seen (or not TCP).
    #[default]
    None,
    /// The client's SYN.
    Syn,
    /// The server's SYN/ACK.
    SynAck,
    /// Handshake complete.
    Established,
    /// FIN seen from one side.
    Closing,
    /// FIN from both sides, or RST.
    Closed,
}

impl TcpProgress {
    /// Suricata's TCP state name for EVE's `tcp.state`.
    pub fn eve_name(self) -> &'static str {
        match self {
            TcpProgress::None => "none",
            TcpProgress::Syn => "syn_sent",
            TcpProgress::SynAck => "syn_recv",
            TcpProgress::Established => "established",
            TcpProgress::Closing => "fin_wait1",
            TcpProgress::Closed => "closed",
        }
    }
}

/// EVE's `flow.state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowState {
    /// Not established yet.
    New,
    /// Established.
    Established,
    /// Closed by FIN/RST.
    Closed,
}

impl FlowState {
    /// As EVE writes it.
    pub fn eve_name(self) -> &'static str {
        match self {
            FlowState::New => "new",
            FlowState::Established => "established",
            FlowState::Closed => "closed",
        }
    }
}

/// Why a flow record was written (EVE's `flow.reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// Idle past its timeout.
    Timeout,
    /// Evicted to make room in a full table.
    Forced,
    /// Still open when the run ended.
    Shutdown,
}

impl EndReason {
    /// As EVE writes it.
    pub fn eve_name(self) -> &'static str {
        match self {
            EndReason::Timeout => "timeout",
            EndReason::Forced => "forced",
            EndReason::Shutdown => "shutdown",
        }
    }
}

/// A tracked flow. Index 0 of the per-direction arrays is to-server, 1 to-client.
#[derive(Debug, Clone)]
pub struct Flow {
    /// Stable id shared by every event of the flow.
    pub id: u64,
    /// IP protocol.
    pub proto: u8,
    /// The client's address and port.
    pub client: (IpAddr, u16),
    /// The server's address and port.
    pub server: (IpAddr, u16),
    /// VLAN ids of the first packet.
    pub vlans: crate::decode::Vlans,
    /// First packet time.
    pub start: Timestamp,
    /// Last packet time.
    pub last: Timestamp,
    /// Packets each way.
    pub pkts: [u64; 2],
    /// Captured bytes each way (whole frames, as Suricata counts them).
    pub bytes: [u64; 2],
    /// TCP flags seen each way, OR-ed.
    pub tcp_flags: [u8; 2],
    /// TCP progress.
    pub tcp: TcpProgress,
    /// FIN seen each way.
    fin: [bool; 2],
    /// Packets seen each way (for non-TCP establishment).
    seen: [bool; 2],
    /// Established as Suricata decides it.
    pub established: bool,
    /// An alert was raised on this flow.
    pub alerted: bool,
    /// ICMP type and code of the first packet each way (EVE's `icmp_*` and
    /// `response_icmp_*` on flow records).
    pub icmp: [Option<(u8, u8)>; 2],
}

impl Flow {
    pub(super) fn new(id: u64, p: &Decoded<'_>, ts: Timestamp) -> Flow {
        // A SYN/ACK seen first means we missed the SYN: its sender is the server.
        let reversed = matches!(p.transport, Transport::Tcp(f) if f.syn && f.ack);
        let (a, b) = ((p.src_ip, p.src_port), (p.dst_ip, p.dst_port));
        let (client, server) = if reversed { (b, a) } else { (a, b) };
        Flow {
            id,
            proto: p.ip_proto,
            client,
            server,
            vlans: p.vlans,
            start: ts,
            last: ts,
            pkts: [0; 2],
            bytes: [0; 2],
            tcp_flags: [0; 2],
            tcp: TcpProgress::None,
            fin: [false; 2],
            seen: [false; 2],
            established: false,
            alerted: false,
            icmp: [None; 2],
        }
    }

    /// EVE's `flow.state`.
    pub fn state(&self) -> FlowState {
        if self.tcp == TcpProgress::Closed {
            FlowState::Closed
        } else if self.established {
            FlowState::Established
        } else {
            FlowState::New
        }
    }

    /// True when the flow has been idle past its timeout at `now`.
    pub(super) fn expired(&self, now: i64) -> bool {
        let t = timeouts(self.proto);
        let limit = match self.state() {
            FlowState::Closed => t.closed,
            FlowState::Established => t.established,
            FlowState::New => t.new,
        };
        now.saturating_sub(self.last.secs) > limit
    }

    /// Learns from one packet of `frame_len` captured bytes; returns whether it goes to the
    /// server.
    pub(super) fn update(&mut self, p: &Decoded<'_>, ts: Timestamp, frame_len: u64) -> bool {
        self.last = self.last.max(ts);
        let to_server = (p.src_ip, p.src_port) == self.client;
        let dir = usize::from(!to_server);
        self.pkts[dir] += 1;
        self.bytes[dir] += frame_len;
        self.seen[dir] = true;
        match p.transport {
            Transport::Tcp(f) => {
                self.tcp_flags[dir] |= f.bits;
                self.tcp = match (self.tcp, to_server, f.syn, f.ack) {
                    (_, _, _, _) if f.rst => TcpProgress::Closed,
                    (TcpProgress::None | TcpProgress::Syn, true, true, false) => TcpProgress::Syn,
                    (TcpProgress::Syn, false, true, true) => TcpProgress::SynAck,
                    (TcpProgress::SynAck, true, false, true) => TcpProgress::Established,
                    (state, ..) => state,
                };
                if self.tcp == TcpProgress::Established {
                    self.established = true;
                }
                if f.fin && self.established {
                    self.fin[dir] = true;
                    self.tcp = if self.fin[0] && self.fin[1] {
                        TcpProgress::Closed
                    } else {
                        TcpProgress::Closing
                    };
                }
            }
            Transport::Icmp {
                icmp_type,
                icmp_code,
            } => {
                if let Some(slot) = self.icmp.get_mut(dir) {
                    slot.get_or_insert((icmp_type, icmp_code));
                }
                self.established |= self.seen[0] && self.seen[1];
            }
            _ => {
                if self.seen[0] && self.seen[1] {
                    self.established = true;
                }
            }
        }
        to_server
    }
}
