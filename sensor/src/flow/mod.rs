//! Flow: per-connection state keyed by a symmetric 5-tuple plus VLAN ids.
//!
//! This first cut tracks only what detection and EVE need today: a stable `flow_id`, which
//! side is the client (so `flow:to_server` works), and whether the flow is established
//! (three-way handshake for TCP, both directions seen for the rest), following Suricata.
//! The table has a fixed capacity allocated up front: when it is full and a timeout sweep
//! frees nothing, the new flow is refused and counted rather than growing memory. TCP
//! reassembly, defragmentation and flow events arrive with the hot-path work.

mod key;

pub use key::FlowKey;

use std::collections::HashMap;
use std::net::IpAddr;

use crate::capture::Timestamp;
use crate::decode::{Decoded, Transport};

/// Seconds of packet time between timeout sweeps.
const SWEEP_INTERVAL_SECS: i64 = 5;

/// Idle timeouts in seconds, Suricata's defaults (flow-timeouts in suricata.yaml).
#[derive(Debug, Clone, Copy)]
struct Timeouts {
    new: i64,
    established: i64,
    closed: i64,
}

fn timeouts(proto: u8) -> Timeouts {
    match proto {
        crate::decode::ipproto::TCP => Timeouts {
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

/// What one packet learns about its flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowView {
    /// Stable id shared by every event of the flow (EVE `flow_id`).
    pub id: u64,
    /// The packet goes from the client to the server.
    pub to_server: bool,
    /// Handshake done (TCP) or both directions seen (others), including this packet.
    pub established: bool,
}

#[derive(Debug, Clone)]
struct Flow {
    id: u64,
    client_ip: IpAddr,
    client_port: u16,
    last_seen: i64,
    tcp: TcpProgress,
    seen_to_server: bool,
    seen_to_client: bool,
    established: bool,
    closed: bool,
}

/// How far a TCP handshake got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TcpProgress {
    None,
    Syn,
    SynAck,
}

/// Counters the summary and stats report.
#[derive(Debug, Clone, Copy, Default)]
pub struct FlowCounters {
    /// Flows created.
    pub created: u64,
    /// Flows removed by idle timeout.
    pub timed_out: u64,
    /// New flows refused because the table was full.
    pub refused_full: u64,
}

/// The flow table of one worker.
#[derive(Debug)]
pub struct FlowTable {
    flows: HashMap<FlowKey, Flow>,
    capacity: usize,
    next_sweep: i64,
    counters: FlowCounters,
}

impl FlowTable {
    /// A table that holds at most `capacity` flows, allocated now.
    pub fn with_capacity(capacity: usize) -> FlowTable {
        FlowTable {
            flows: HashMap::with_capacity(capacity),
            capacity,
            next_sweep: i64::MIN,
            counters: FlowCounters::default(),
        }
    }

    /// Counters so far.
    pub fn counters(&self) -> FlowCounters {
        self.counters
    }

    /// Flows currently held.
    pub fn len(&self) -> usize {
        self.flows.len()
    }

    /// True when no flow is held.
    pub fn is_empty(&self) -> bool {
        self.flows.is_empty()
    }

    /// Updates the packet's flow and says what detection needs; `None` when the table is
    /// full and the flow could not be created.
    pub fn track(&mut self, p: &Decoded<'_>, ts: Timestamp) -> Option<FlowView> {
        let now = ts.secs;
        if now >= self.next_sweep {
            self.sweep(now);
        }
        let key = FlowKey::of(p);
        // A flow idle past its timeout is over even if no sweep has removed it yet: which
        // packets trigger sweeps depends on how flows are spread over workers, and the
        // result must not.
        if self
            .flows
            .get(&key)
            .is_some_and(|f| f.expired(key.proto(), now))
        {
            self.flows.remove(&key);
            self.counters.timed_out += 1;
        }
        if !self.flows.contains_key(&key) {
            if self.flows.len() >= self.capacity {
                self.sweep(now);
                if self.flows.len() >= self.capacity {
                    self.counters.refused_full += 1;
                    return None;
                }
            }
            self.counters.created += 1;
            self.flows.insert(key, new_flow(&key, p, ts));
        }
        let flow = self.flows.get_mut(&key)?;
        Some(flow.update(p, now))
    }

    fn sweep(&mut self, now: i64) {
        let before = self.flows.len();
        self.flows.retain(|k, f| !f.expired(k.proto(), now));
        let removed = before - self.flows.len();
        self.counters.timed_out += removed as u64;
        self.next_sweep = now.saturating_add(SWEEP_INTERVAL_SECS);
    }
}

fn new_flow(key: &FlowKey, p: &Decoded<'_>, ts: Timestamp) -> Flow {
    // A SYN/ACK seen first means we missed the SYN: its sender is the server.
    let reversed = matches!(p.transport, Transport::Tcp(f) if f.syn && f.ack);
    let (client_ip, client_port) = if reversed {
        (p.dst_ip, p.dst_port)
    } else {
        (p.src_ip, p.src_port)
    };
    Flow {
        id: key.flow_id(ts),
        client_ip,
        client_port,
        last_seen: ts.secs,
        tcp: TcpProgress::None,
        seen_to_server: false,
        seen_to_client: false,
        established: false,
        closed: false,
    }
}

impl Flow {
    fn expired(&self, proto: u8, now: i64) -> bool {
        let t = timeouts(proto);
        let limit = if self.closed {
            t.closed
        } else if self.established {
            t.established
        } else {
            t.new
        };
        now.saturating_sub(self.last_seen) > limit
    }

    fn update(&mut self, p: &Decoded<'_>, now: i64) -> FlowView {
        self.last_seen = self.last_seen.max(now);
        let to_server = p.src_ip == self.client_ip && p.src_port == self.client_port;
        if to_server {
            self.seen_to_server = true;
        } else {
            self.seen_to_client = true;
        }
        match p.transport {
            Transport::Tcp(f) => {
                // FIN/RST-driven flow end arrives with the flow events; RST at least
                // lets the shorter closed timeout apply.
                self.closed |= f.rst;
                if !self.established {
                    self.tcp = match (self.tcp, to_server, f.syn, f.ack) {
                        (_, true, true, false) => TcpProgress::Syn,
                        (TcpProgress::Syn, false, true, true) => TcpProgress::SynAck,
                        (TcpProgress::SynAck, true, false, true) => {
                            self.established = true;
                            TcpProgress::SynAck
                        }
                        (state, ..) => state,
                    };
                }
            }
            _ => {
                if self.seen_to_server && self.seen_to_client {
                    self.established = true;
                }
            }
        }
        FlowView {
            id: self.id,
            to_server,
            established: self.established,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::{decode, LinkType};
    use etherparse::PacketBuilder;

    const C: [u8; 4] = [10, 0, 0, 1];
    const S: [u8; 4] = [192, 0, 2, 1];

    fn tcp(from_client: bool, syn: bool, ack: bool) -> Vec<u8> {
        let (s, d, sp, dp) = if from_client {
            (C, S, 40000, 80)
        } else {
            (S, C, 80, 40000)
        };
        let mut b = PacketBuilder::ipv4(s, d, 64).tcp(sp, dp, 1, 1000);
        if syn {
            b = b.syn();
        }
        if ack {
            b = b.ack(1);
        }
        let mut out = Vec::new();
        b.write(&mut out, &[]).unwrap();
        out
    }

    fn step(t: &mut FlowTable, frame: &[u8], secs: i64) -> FlowView {
        let d = decode(LinkType::RawIp, frame, false).unwrap();
        t.track(&d, Timestamp { secs, usecs: 0 }).unwrap()
    }

    #[test]
    fn handshake_establishes_on_third_packet() {
        let mut t = FlowTable::with_capacity(4);
        let a = step(&mut t, &tcp(true, true, false), 0);
        let b = step(&mut t, &tcp(false, true, true), 0);
        let c = step(&mut t, &tcp(true, false, true), 0);
        assert!(a.to_server && !a.established);
        assert!(!b.to_server && !b.established);
        assert!(c.to_server && c.established);
        assert_eq!(a.id, c.id);
        assert_eq!(t.counters().created, 1);
    }

    #[test]
    fn idle_flow_is_new_on_its_next_packet_without_waiting_for_a_sweep() {
        let mut t = FlowTable::with_capacity(4);
        let a = step(&mut t, &tcp(true, true, false), 0);
        // Within the sweep interval of the last sweep, but past TCP's 60 s "new" timeout.
        t.next_sweep = i64::MAX;
        let b = step(&mut t, &tcp(true, true, false), 61);
        assert_ne!(a.id, b.id);
        assert_eq!(t.counters().created, 2);
        assert_eq!(t.counters().timed_out, 1);
    }

    #[test]
    fn synack_first_makes_its_sender_the_server() {
        let mut t = FlowTable::with_capacity(4);
        let v = step(&mut t, &tcp(false, true, true), 0);
        assert!(!v.to_server);
    }

    #[test]
    fn full_table_refuses_and_counts_then_timeouts_free_it() {
        let mut t = FlowTable::with_capacity(1);
        step(&mut t, &tcp(true, true, false), 0);
        let mut other = Vec::new();
        PacketBuilder::ipv4([10, 0, 0, 9], S, 64)
            .udp(5353, 53)
            .write(&mut other, b"x")
            .unwrap();
        let d = decode(LinkType::RawIp, &other, false).unwrap();
        assert!(t.track(&d, Timestamp { secs: 1, usecs: 0 }).is_none());
        assert_eq!(t.counters().refused_full, 1);
        assert!(t
            .track(
                &d,
                Timestamp {
                    secs: 100,
                    usecs: 0
                }
            )
            .is_some());
        assert_eq!(t.counters().timed_out, 1);
    }
}
