//! EVE app-layer records (`dns`, `http`, `tls`): the common envelope around the object a
//! parser's [`Transaction`] writes.
//!
//! Records name the flow's client as `src`, as Suricata 7 logs transactions (a DNS answer
//! too: checked against Suricata 7.0.10).

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
    // Client first: Suricata logs transactions in the flow's direction, answers included.
    let event_type = tx.event_type();
    let ((sip, sport), (dip, dport)) = if ctx.flow.is_none_or(|f| f.to_server) {
        ((p.src_ip, p.src_port), (p.dst_ip, p.dst_port))
    } else {
        ((p.dst_ip, p.dst_port), (p.src_ip, p.src_port))
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
