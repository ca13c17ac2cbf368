//! Counters for one run, merged across workers and printed as the replay summary.

use std::time::Duration;

use crate::decode::{
    DecodeError, Decoded, Encap, InnerFrame, LinkLayers, LinkType, Transport, TunnelKind,
};
use crate::flow::FlowCounters;

/// Decoded packets by layer, as Suricata's `decoder` stats group counts them.
#[derive(Debug, Clone, Copy, Default)]
pub struct LayerCounters {
    /// Ethernet frames.
    pub ethernet: u64,
    /// IPv4 packets.
    pub ipv4: u64,
    /// IPv6 packets.
    pub ipv6: u64,
    /// TCP segments.
    pub tcp: u64,
    /// UDP datagrams.
    pub udp: u64,
    /// ICMPv4 messages.
    pub icmpv4: u64,
    /// ICMPv6 messages.
    pub icmpv6: u64,
    /// Frames with at least one VLAN tag.
    pub vlan: u64,
    /// Frames with two or more VLAN tags.
    pub vlan_qinq: u64,
    /// Largest frame seen.
    pub max_pkt_size: u64,
    /// Packets taken out of each kind of tunnel, indexed by [`TunnelKind::index`].
    pub tunnels: [u64; TunnelKind::ALL.len()],
    /// Packets that crossed a PPPoE session header.
    pub pppoe: u64,
    /// Packets that crossed an MPLS label stack.
    pub mpls: u64,
    /// Packets that crossed a PPP header.
    pub ppp: u64,
    /// Frames with a Linux cooked-capture header.
    pub sll: u64,
    /// Tunnels not opened because they were nested deeper than the decoder follows.
    pub too_many_layers: u64,
    /// Tunnels whose header or inner packet could not be decoded (also counted by kind in
    /// the truncated/malformed counters).
    pub tunnel_invalid: u64,
}

impl LayerCounters {
    /// Counts one decoded packet.
    pub fn count(&mut self, link: LinkType, p: &Decoded<'_>, frame_len: u64) {
        let outer = p.layer.depth == 0;
        self.ethernet += u64::from(outer && link == LinkType::Ethernet);
        self.sll += u64::from(outer && matches!(link, LinkType::LinuxSll | LinkType::LinuxSll2));
        self.pppoe += u64::from(p.layer.links.contains(LinkLayers::PPPOE));
        self.mpls += u64::from(p.layer.links.contains(LinkLayers::MPLS));
        self.ppp += u64::from(p.layer.links.contains(LinkLayers::PPP));
        if p.src_ip.is_ipv4() {
            self.ipv4 += 1;
        } else {
            self.ipv6 += 1;
        }
        match p.transport {
            Transport::Tcp(_) => self.tcp += 1,
            Transport::Udp => self.udp += 1,
            Transport::Icmp { .. } if p.src_ip.is_ipv4() => self.icmpv4 += 1,
            Transport::Icmp { .. } => self.icmpv6 += 1,
            Transport::Other => {}
        }
        let tags = p.vlans.as_slice().len();
        self.vlan += u64::from(tags >= 1);
        self.vlan_qinq += u64::from(tags >= 2);
        self.max_pkt_size = self.max_pkt_size.max(frame_len);
    }

    fn merge(&mut self, o: &LayerCounters) {
        self.ethernet += o.ethernet;
        self.ipv4 += o.ipv4;
        self.ipv6 += o.ipv6;
        self.tcp += o.tcp;
        self.udp += o.udp;
        self.icmpv4 += o.icmpv4;
        self.icmpv6 += o.icmpv6;
        self.vlan += o.vlan;
        self.vlan_qinq += o.vlan_qinq;
        self.max_pkt_size = self.max_pkt_size.max(o.max_pkt_size);
        for (a, b) in self.tunnels.iter_mut().zip(o.tunnels) {
            *a += b;
        }
        self.pppoe += o.pppoe;
        self.mpls += o.mpls;
        self.ppp += o.ppp;
        self.sll += o.sll;
        self.too_many_layers += o.too_many_layers;
        self.tunnel_invalid += o.tunnel_invalid;
    }

    /// Counts a tunnel whose header is valid (whether or not its inner packet decodes, as
    /// Suricata counts them).
    pub fn count_tunnel(&mut self, encap: &Encap<'_>) {
        if matches!(encap.inner, InnerFrame::Bad(_)) {
            return;
        }
        if let Some(n) = self.tunnels.get_mut(encap.kind.index()) {
            *n += 1;
        }
    }
}

/// Suricata's `app_layer` group: flows per protocol, transactions, and our parser counters.
fn app_layer(a: &crate::app::AppLayerCounters) -> serde_json::Value {
    let [http, tls, dns_tcp, dns_udp] = a.flows;
    let [p_http, p_tls, p_dns_tcp, p_dns_udp] = a.parsers;
    let parser = |c: crate::app::AppCounters| {
        serde_json::json!({
            "parse_errors": c.parse_errors, "truncated": c.truncated, "gaps": c.gaps,
        })
    };
    serde_json::json!({
        "flow": {
            "http": http, "tls": tls, "dns_tcp": dns_tcp, "dns_udp": dns_udp,
            "failed": a.failed,
        },
        "tx": {
            "http": p_http.tx, "tls": p_tls.tx, "dns_tcp": p_dns_tcp.tx, "dns_udp": p_dns_udp.tx,
        },
        "parser": {
            "http": parser(p_http), "tls": parser(p_tls),
            "dns_tcp": parser(p_dns_tcp), "dns_udp": parser(p_dns_udp),
        },
    })
}

/// `(name, value)` pairs as a JSON object; a dotted name (`ipv4.fragments`) nests, and a
/// leading `group.` (Suricata's full counter name) is dropped.
fn counter_map(group: &str, pairs: &[(&'static str, u64)]) -> serde_json::Value {
    let mut root = serde_json::Map::new();
    for (name, value) in pairs {
        let name = name
            .strip_prefix(group)
            .and_then(|n| n.strip_prefix('.'))
            .unwrap_or(name);
        let mut node = &mut root;
        let mut parts = name.split('.').peekable();
        while let Some(part) = parts.next() {
            if parts.peek().is_none() {
                node.insert(part.to_string(), serde_json::Value::from(*value));
                break;
            }
            let child = node
                .entry(part.to_string())
                .or_insert_with(|| serde_json::Value::Object(serde_json::Map::new()));
            match child {
                serde_json::Value::Object(m) => node = m,
                _ => break,
            }
        }
    }
    serde_json::Value::Object(root)
}

/// What one worker counted.
#[derive(Debug, Clone, Copy, Default)]
pub struct WorkerStats {
    /// Frames handed to the worker.
    pub packets: u64,
    /// Their captured bytes.
    pub bytes: u64,
    /// Frames cut short by libpcap's snap length.
    pub snaplen_cut: u64,
    /// Alerts emitted.
    pub alerts: u64,
    /// Decode failures by kind.
    pub truncated: u64,
    /// Malformed headers.
    pub malformed: u64,
    /// Non-IP frames (ARP, LLDP, ...), not inspected.
    pub not_ip: u64,
    /// Dropped for a wrong checksum (only with --verify-checksums).
    pub bad_checksum: u64,
    /// Flow table counters.
    pub flows: FlowCounters,
    /// Decoded packets by layer.
    pub layers: LayerCounters,
    /// TCP reassembly counters.
    pub stream: crate::stream::StreamCounters,
    /// Defragmentation counters.
    pub defrag: crate::defrag::DefragCounters,
    /// App-layer detection and parser counters.
    pub app: crate::app::AppLayerCounters,
}

impl WorkerStats {
    /// Counts one decode failure.
    pub fn count_decode_error(&mut self, e: DecodeError) {
        match e {
            DecodeError::Truncated => self.truncated += 1,
            DecodeError::Malformed => self.malformed += 1,
            DecodeError::NotIp => self.not_ip += 1,
            DecodeError::BadChecksum => self.bad_checksum += 1,
            DecodeError::TooManyLayers => self.layers.too_many_layers += 1,
        }
    }

    /// Counts a tunnel that could not be opened: nested too deep, carrying something else
    /// than IP (ARP in VXLAN), or invalid (also counted by kind, like outer packets).
    pub fn count_tunnel_error(&mut self, e: DecodeError) {
        match e {
            DecodeError::TooManyLayers | DecodeError::NotIp => self.count_decode_error(e),
            _ => {
                self.layers.tunnel_invalid += 1;
                self.count_decode_error(e);
            }
        }
    }

    /// Decode errors proper (not counting non-IP frames, which are valid but uninspected).
    pub fn decode_errors(&self) -> u64 {
        self.truncated + self.malformed + self.bad_checksum
    }

    /// Adds another worker's counters.
    pub fn merge(&mut self, o: &WorkerStats) {
        self.packets += o.packets;
        self.bytes += o.bytes;
        self.snaplen_cut += o.snaplen_cut;
        self.alerts += o.alerts;
        self.truncated += o.truncated;
        self.malformed += o.malformed;
        self.not_ip += o.not_ip;
        self.bad_checksum += o.bad_checksum;
        self.flows.merge(&o.flows);
        self.layers.merge(&o.layers);
        self.stream.merge(&o.stream);
        self.defrag.merge(&o.defrag);
        self.app.merge(&o.app);
    }

    /// The EVE `stats` record (Suricata's layout, for the groups the sensor has), without a
    /// trailing newline.
    pub fn eve_record(
        &self,
        ts: crate::capture::Timestamp,
        uptime: Duration,
        sensor_id: &str,
    ) -> Vec<u8> {
        let mut stamp = Vec::with_capacity(32);
        // Writing into a Vec cannot fail.
        let _ = crate::event::write_timestamp(&mut stamp, ts);
        let l = &self.layers;
        let mut decoder = serde_json::json!({
            "pkts": self.packets,
            "bytes": self.bytes,
            "invalid": self.decode_errors(),
            "ethernet": l.ethernet,
            "ipv4": l.ipv4,
            "ipv6": l.ipv6,
            "tcp": l.tcp,
            "udp": l.udp,
            "icmpv4": l.icmpv4,
            "icmpv6": l.icmpv6,
            "vlan": l.vlan,
            "vlan_qinq": l.vlan_qinq,
            "sll": l.sll,
            "ppp": l.ppp,
            "pppoe": l.pppoe,
            "mpls": l.mpls,
            "too_many_layers": l.too_many_layers,
            "tunnel_invalid": l.tunnel_invalid,
            "avg_pkt_size": self.bytes.checked_div(self.packets).unwrap_or(0),
            "max_pkt_size": l.max_pkt_size,
            "truncated": self.truncated,
            "malformed": self.malformed,
            "not_ip": self.not_ip,
            "bad_checksum": self.bad_checksum,
            "snaplen_cut": self.snaplen_cut,
        });
        if let Some(map) = decoder.as_object_mut() {
            for kind in TunnelKind::ALL {
                let n = l.tunnels.get(kind.index()).copied().unwrap_or(0);
                map.insert(kind.counter_name().to_string(), n.into());
            }
        }
        let record = serde_json::json!({
            "timestamp": String::from_utf8_lossy(&stamp),
            "event_type": "stats",
            "stats": {
                "uptime": uptime.as_secs(),
                "decoder": decoder,
                "flow": {
                    "total": self.flows.created,
                    "active": self.flows.created.saturating_sub(
                        self.flows.timed_out + self.flows.evicted + self.flows.shutdown),
                    "peak": self.flows.peak,
                    "end": {
                        "timeout": self.flows.timed_out,
                        "forced": self.flows.evicted,
                        "shutdown": self.flows.shutdown,
                    },
                },
                "tcp": counter_map("tcp", &self.stream.named()),
                "defrag": counter_map("defrag", &self.defrag.named()),
                "detect": {
                    "alert": self.alerts,
                },
                "app_layer": app_layer(&self.app),
            },
            "sensor": { "id": sensor_id },
        });
        serde_json::to_vec(&record).unwrap_or_default()
    }

    /// The human summary printed at the end of a replay.
    pub fn summary(&self, elapsed: Duration) -> String {
        let secs = elapsed.as_secs_f64().max(1e-9);
        format!(
            "replay: {} packets, {} bytes, {} alerts, {} decode errors \
             (truncated {}, malformed {}, bad checksum {}), {} non-IP, {} flows \
             ({} timed out, {} evicted, {} at shutdown), elapsed {:.3} s, {:.0} pkt/s, {:.1} Mbit/s",
            self.packets,
            self.bytes,
            self.alerts,
            self.decode_errors(),
            self.truncated,
            self.malformed,
            self.bad_checksum,
            self.not_ip,
            self.flows.created,
            self.flows.timed_out,
            self.flows.evicted,
            self.flows.shutdown,
            secs,
            self.packets as f64 / secs,
            self.bytes as f64 * 8.0 / secs / 1e6,
        )
    }
}
