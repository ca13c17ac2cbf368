//! Event: EVE JSON records, in Suricata's field names and formats.
//!
//! Each record is serialised once into a reused buffer; the same bytes go to the EVE file and
//! to the uplink, so what a collector receives over MQTT is exactly what is on disk.

mod alert;
mod community_id;
mod flow;
mod timestamp;

pub use alert::{write_alert, AlertContext};
pub use community_id::community_id;
pub use flow::write_flow;
pub use timestamp::write_timestamp;

/// Writes `s` as a JSON string (quoted, escaped) into `out`.
pub(crate) fn json_str(out: &mut Vec<u8>, s: &str) -> std::io::Result<()> {
    serde_json::to_writer(&mut *out, s).map_err(std::io::Error::other)
}

/// EVE's `proto` string for an IP protocol number, as Suricata names them.
pub fn proto_name(proto: u8) -> ProtoName {
    ProtoName(proto)
}

/// Displays a protocol number the way Suricata does: a name when it knows one, else digits.
#[derive(Debug, Clone, Copy)]
pub struct ProtoName(u8);

impl std::fmt::Display for ProtoName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self.0 {
            1 => "ICMP",
            2 => "IGMP",
            6 => "TCP",
            17 => "UDP",
            41 => "IPV6",
            47 => "GRE",
            50 => "ESP",
            51 => "AH",
            58 => "IPv6-ICMP",
            103 => "PIM",
            132 => "SCTP",
            other => return write!(f, "{other}"),
        };
        f.write_str(name)
    }
}
