//! EVE app-layer records (`dns`, `http`, `tls`): the common envelope around the object a
//! parser's [`Transaction`] writes.
//!
//! HTTP and TLS records name the flow's client as `src`, as Suricata logs transactions; DNS
//! records keep the message's own direction (an answer comes from the server), as Suricata's
//! DNS logger does.

use std::io::Write;

use super::community_id::{community_id, COMMUNITY_ID_LEN};
use super::{json_str, proto_name, write_timestamp, AlertContext, EveIp};
use crate::app::Transaction;
use crate::decode::Transport;

/// Appends one app-layer record (no trailing newline) for `tx`, seen on `ctx.packet`.
pub fn write_app_record(
    out: &mut Vec<u8>,
    ctx: &AlertContext<'_, '_>,
    tx: &dyn Transaction,
) -> std::io::Result<()> {
    let p = ctx.packet;
    let packet_to_server = ctx.flow.is_none_or(|f| f.to_server);
    let event_type = tx.event_type();
    // Client first, except for DNS, which logs each message in its own direction.
    let swap = if event_type == "dns" {
        packet_to_server != tx.to_server()
    } else {
        !packet_to_server
    };
    let ((sip, sport), (dip, dport)) = if swap {
        ((p.dst_ip, p.dst_port), (p.src_ip, p.src_port))
    } else {
        ((p.src_ip, p.src_port), (p.dst_ip, p.dst_port))
    };
    out.extend_from_slice(b"{\"timestamp\":\"");
    write_timestamp(out, ctx.ts)?;
    out.push(b'"');
    if let Some(flow) = ctx.flow {
        write!(out, ",\"flow_id\":{}", flow.id)?;
    }
    if ctx.pcap_cnt > 0 {
        write!(out, ",\"pcap_cnt\":{}", ctx.pcap_cnt)?;
    }
    write!(
        out,
        ",\"event_type\":\"{event_type}\",\"src_ip\":\"{}\"",
        EveIp(sip)
    )?;
    let ports = matches!(p.transport, Transport::Tcp(_) | Transport::Udp);
    if ports {
        write!(out, ",\"src_port\":{sport}")?;
    }
    write!(out, ",\"dest_ip\":\"{}\"", EveIp(dip))?;
    if ports {
        write!(out, ",\"dest_port\":{dport}")?;
    }
    write!(
        out,
        ",\"proto\":\"{}\",\"pkt_src\":\"{}\"",
        proto_name(p.ip_proto),
        ctx.pkt_src.eve_name()
    )?;
    let vlans = p.vlans.as_slice();
    if let Some((first, rest)) = vlans.split_first() {
        write!(out, ",\"vlan\":[{first}")?;
        for v in rest {
            write!(out, ",{v}")?;
        }
        out.push(b']');
    }
    let mut cid = [0u8; COMMUNITY_ID_LEN];
    let cid = community_id(sip, dip, p.ip_proto, sport, dport, &mut cid);
    write!(out, ",\"community_id\":\"{cid}\",")?;
    tx.write_eve(out)?;
    out.extend_from_slice(b",\"sensor\":{\"id\":");
    json_str(out, ctx.sensor_id)?;
    out.extend_from_slice(b"}}");
    Ok(())
}
