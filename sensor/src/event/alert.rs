//! EVE `alert` records.
//!
//! Written field by field rather than through a serde struct so the field order matches
//! Suricata's (people diff our output against theirs) and nothing is allocated: strings are
//! escaped by serde_json straight into the output buffer.

use std::io::Write;

use signatures::RuleMeta;

use super::community_id::{community_id, COMMUNITY_ID_LEN};
use super::{json_str, proto_name, write_timestamp, EveIp};
use crate::app::Transaction;
use crate::capture::Timestamp;
use crate::decode::{Decoded, Transport};
use crate::flow::FlowView;

/// Where the packet an event is about came from: Suricata's `pkt_src`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PktSrc {
    /// A captured packet.
    #[default]
    Wire,
    /// A datagram rebuilt from IP fragments.
    Defrag,
    /// The pseudo packet that carries a flow's last stream bytes when it ends.
    FlowTimeout,
}

impl PktSrc {
    /// EVE's value.
    pub fn eve_name(self) -> &'static str {
        match self {
            PktSrc::Wire => "wire/pcap",
            PktSrc::Defrag => "defrag",
            PktSrc::FlowTimeout => "stream (flow timeout)",
        }
    }
}

/// Everything an alert record says besides the rule.
#[derive(Debug, Clone, Copy)]
pub struct AlertContext<'a, 'p> {
    /// Packet time.
    pub ts: Timestamp,
    /// 1-based packet number in the capture (EVE `pcap_cnt`), 0 when live.
    pub pcap_cnt: u64,
    /// The packet.
    pub packet: &'a Decoded<'p>,
    /// Its flow, when tracked.
    pub flow: Option<FlowView>,
    /// Where the packet came from.
    pub pkt_src: PktSrc,
    /// This sensor's id, for the `sensor` object.
    pub sensor_id: &'a str,
    /// The flow's app-layer protocol (EVE `app_proto`), when known.
    pub app_proto: Option<&'static str>,
    /// The transaction side the alert was raised on, for its app-layer object
    /// (`"http":{...}`), when the rule inspected app-layer buffers.
    pub tx: Option<&'a dyn Transaction>,
}

/// Appends one alert record (no trailing newline) to `out`.
pub fn write_alert(
    out: &mut Vec<u8>,
    ctx: &AlertContext<'_, '_>,
    rule: &RuleMeta,
) -> std::io::Result<()> {
    let p = ctx.packet;
    out.extend_from_slice(b"{\"timestamp\":\"");
    write_timestamp(out, ctx.ts)?;
    out.push(b'"');
    if let Some(flow) = ctx.flow {
        write!(out, ",\"flow_id\":{}", flow.id)?;
    }
    // A packet out of a tunnel has its capture number in `tunnel.pcap_cnt` only, as in
    // Suricata.
    if ctx.pcap_cnt > 0 && p.layer.tunnel.is_none() {
        write!(out, ",\"pcap_cnt\":{}", ctx.pcap_cnt)?;
    }
    write!(
        out,
        ",\"event_type\":\"alert\",\"src_ip\":\"{}\"",
        EveIp(p.src_ip)
    )?;
    let (sport, dport) = match p.transport {
        Transport::Tcp(_) | Transport::Udp => {
            write!(out, ",\"src_port\":{}", p.src_port)?;
            (p.src_port, p.dst_port)
        }
        Transport::Icmp {
            icmp_type,
            icmp_code,
        } => (u16::from(icmp_type), u16::from(icmp_code)),
        Transport::Other => (0, 0),
    };
    write!(out, ",\"dest_ip\":\"{}\"", EveIp(p.dst_ip))?;
    if matches!(p.transport, Transport::Tcp(_) | Transport::Udp) {
        write!(out, ",\"dest_port\":{}", p.dst_port)?;
    }
    write!(out, ",\"proto\":\"{}\"", proto_name(p.ip_proto))?;
    if let Transport::Icmp {
        icmp_type,
        icmp_code,
    } = p.transport
    {
        write!(out, ",\"icmp_type\":{icmp_type},\"icmp_code\":{icmp_code}")?;
    }
    match p.layer.tunnel {
        Some(t) => write!(out, ",\"pkt_src\":\"{}\"", t.via.pkt_src())?,
        None => write!(out, ",\"pkt_src\":\"{}\"", ctx.pkt_src.eve_name())?,
    }
    let vlans = p.vlans.as_slice();
    if let Some((first, rest)) = vlans.split_first() {
        write!(out, ",\"vlan\":[{first}")?;
        for v in rest {
            write!(out, ",{v}")?;
        }
        out.push(b']');
    }
    if let Some(flow) = ctx.flow {
        let dir = if flow.to_server {
            "to_server"
        } else {
            "to_client"
        };
        write!(out, ",\"direction\":\"{dir}\"")?;
    }
    let mut cid = [0u8; COMMUNITY_ID_LEN];
    let cid = community_id(p.src_ip, p.dst_ip, p.ip_proto, sport, dport, &mut cid);
    write!(out, ",\"community_id\":\"{cid}\"")?;
    write!(
        out,
        ",\"alert\":{{\"action\":\"{}\",\"gid\":{},\"signature_id\":{},\"rev\":{},\"signature\":",
        rule.action.eve_name(),
        rule.gid,
        rule.sid,
        rule.rev
    )?;
    json_str(out, &rule.msg)?;
    out.extend_from_slice(b",\"category\":");
    json_str(out, &rule.category)?;
    write!(out, ",\"severity\":{}}}", rule.severity)?;
    if let Some(t) = p.layer.tunnel {
        // Suricata's `tunnel` object: the outermost packet's tuple and this packet's depth.
        write!(
            out,
            ",\"tunnel\":{{\"src_ip\":\"{}\",\"src_port\":{},\"dest_ip\":\"{}\",\"dest_port\":{},\"proto\":\"{}\",\"depth\":{}",
            EveIp(t.src_ip),
            t.src_port,
            EveIp(t.dst_ip),
            t.dst_port,
            proto_name(t.proto),
            p.layer.depth
        )?;
        if ctx.pcap_cnt > 0 {
            write!(out, ",\"pcap_cnt\":{}", ctx.pcap_cnt)?;
        }
        out.extend_from_slice(b",\"pkt_src\":\"wire/pcap\"}");
    }
    if let Some(tx) = ctx.tx {
        out.push(b',');
        tx.write_eve(out)?;
    }
    if let Some(name) = ctx.app_proto {
        write!(out, ",\"app_proto\":\"{name}\"")?;
    }
    out.extend_from_slice(b",\"sensor\":{\"id\":");
    json_str(out, ctx.sensor_id)?;
    out.extend_from_slice(b"}}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::{decode, LinkType};
    use etherparse::PacketBuilder;
    use signatures::Action;

    #[test]
    fn alert_is_valid_json_with_suricata_fields() {
        let mut frame = Vec::new();
        PacketBuilder::ethernet2([1; 6], [2; 6])
            .single_vlan(7.try_into().unwrap())
            .ipv4([10, 0, 0, 1], [192, 0, 2, 1], 64)
            .tcp(40000, 80, 1, 1000)
            .write(&mut frame, b"x")
            .unwrap();
        let d = decode(LinkType::Ethernet, &frame, false).unwrap();
        let rule = RuleMeta {
            action: Action::Alert,
            gid: 1,
            sid: 42,
            rev: 3,
            msg: "quote \" and \\ backslash".into(),
            category: "A Network Trojan was detected".into(),
            severity: 1,
            location: "t.rules:1".into(),
        };
        let ctx = AlertContext {
            ts: Timestamp {
                secs: 1_700_000_000,
                usecs: 1000,
            },
            pcap_cnt: 4,
            packet: &d,
            flow: Some(FlowView {
                id: 99,
                to_server: true,
                established: true,
                slot: 0,
            }),
            pkt_src: PktSrc::Wire,
            sensor_id: "s\"1",
            app_proto: None,
            tx: None,
        };
        let mut out = Vec::new();
        write_alert(&mut out, &ctx, &rule).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["timestamp"], "2023-11-14T22:13:20.001000+0000");
        assert_eq!(v["flow_id"], 99);
        assert_eq!(v["pcap_cnt"], 4);
        assert_eq!(v["event_type"], "alert");
        assert_eq!(v["src_ip"], "10.0.0.1");
        assert_eq!(v["dest_port"], 80);
        assert_eq!(v["proto"], "TCP");
        assert_eq!(v["vlan"], serde_json::json!([7]));
        assert_eq!(v["alert"]["signature_id"], 42);
        assert_eq!(v["alert"]["signature"], "quote \" and \\ backslash");
        assert_eq!(v["alert"]["action"], "allowed");
        assert_eq!(v["sensor"]["id"], "s\"1");
        assert!(v["community_id"].as_str().unwrap().starts_with("1:"));
    }
}
