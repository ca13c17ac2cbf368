//! EVE `flow` records, written when a flow ends.
//!
//! The tuple is the flow's (client first), not a packet's, as Suricata logs flows; the
//! record's `timestamp` is the flow's last packet time, so a replay's records do not depend
//! on when the sensor happened to notice the flow was over.

use std::io::Write;

use super::community_id::{community_id, COMMUNITY_ID_LEN};
use super::{json_str, proto_name, write_timestamp, EveIp};
use crate::decode::ipproto;
use crate::flow::{EndReason, Flow};

/// Appends one flow record (no trailing newline) to `out`.
pub fn write_flow(
    out: &mut Vec<u8>,
    flow: &Flow,
    reason: EndReason,
    app_proto: Option<&str>,
    sensor_id: &str,
) -> std::io::Result<()> {
    let has_ports = matches!(flow.proto, ipproto::TCP | ipproto::UDP);
    out.extend_from_slice(b"{\"timestamp\":\"");
    write_timestamp(out, flow.last)?;
    write!(
        out,
        "\",\"flow_id\":{},\"event_type\":\"flow\",\"src_ip\":\"{}\"",
        flow.id,
        EveIp(flow.client.0)
    )?;
    if has_ports {
        write!(out, ",\"src_port\":{}", flow.client.1)?;
    }
    write!(out, ",\"dest_ip\":\"{}\"", EveIp(flow.server.0))?;
    if has_ports {
        write!(out, ",\"dest_port\":{}", flow.server.1)?;
    }
    write!(out, ",\"proto\":\"{}\"", proto_name(flow.proto))?;
    let [request, response] = flow.icmp;
    if let Some((t, c)) = request {
        write!(out, ",\"icmp_type\":{t},\"icmp_code\":{c}")?;
    }
    if let Some((t, c)) = response {
        write!(
            out,
            ",\"response_icmp_type\":{t},\"response_icmp_code\":{c}"
        )?;
    }
    let vlans = flow.vlans.as_slice();
    if let Some((first, rest)) = vlans.split_first() {
        write!(out, ",\"vlan\":[{first}")?;
        for v in rest {
            write!(out, ",{v}")?;
        }
        out.push(b']');
    }
    if let Some(name) = app_proto {
        write!(out, ",\"app_proto\":\"{name}\"")?;
    }
    write!(
        out,
        ",\"flow\":{{\"pkts_toserver\":{},\"pkts_toclient\":{},\"bytes_toserver\":{},\"bytes_toclient\":{},\"start\":\"",
        flow.pkts[0], flow.pkts[1], flow.bytes[0], flow.bytes[1]
    )?;
    write_timestamp(out, flow.start)?;
    out.extend_from_slice(b"\",\"end\":\"");
    write_timestamp(out, flow.last)?;
    write!(
        out,
        "\",\"age\":{},\"state\":\"{}\",\"reason\":\"{}\",\"alerted\":{}}}",
        flow.last.secs.saturating_sub(flow.start.secs),
        flow.state().eve_name(),
        reason.eve_name(),
        flow.alerted
    )?;
    if flow.proto == ipproto::TCP {
        let [ts, tc] = flow.tcp_flags;
        let all = ts | tc;
        write!(
            out,
            ",\"tcp\":{{\"tcp_flags\":\"{all:02x}\",\"tcp_flags_ts\":\"{ts:02x}\",\"tcp_flags_tc\":\"{tc:02x}\""
        )?;
        for (bit, name) in [
            (0x01, "fin"),
            (0x02, "syn"),
            (0x04, "rst"),
            (0x08, "psh"),
            (0x10, "ack"),
            (0x20, "urg"),
            (0x40, "ecn"),
            (0x80, "cwr"),
        ] {
            if all & bit != 0 {
                write!(out, ",\"{name}\":true")?;
            }
        }
        write!(out, ",\"state\":\"{}\"}}", flow.tcp.eve_name())?;
    }
    let (sport, dport) = match (has_ports, request) {
        (true, _) => (flow.client.1, flow.server.1),
        // ICMP hashes type and code, as for the flow's alerts.
        (false, Some((t, c))) => (u16::from(t), u16::from(c)),
        (false, None) => (0, 0),
    };
    let mut cid = [0u8; COMMUNITY_ID_LEN];
    let cid = community_id(
        flow.client.0,
        flow.server.0,
        flow.proto,
        sport,
        dport,
        &mut cid,
    );
    write!(out, ",\"community_id\":\"{cid}\"")?;
    out.extend_from_slice(b",\"sensor\":{\"id\":");
    json_str(out, sensor_id)?;
    out.extend_from_slice(b"}}");
    Ok(())
}
