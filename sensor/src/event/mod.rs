//! Event: EVE JSON records, in Suricata's field names and formats.
//!
//! Each record is serialised once into a reused buffer; the same bytes go to the EVE file and
//! to the uplink, so what a collector receives over MQTT is exactly what is on disk.

mod alert;
mod app;
mod community_id;
mod flow;
mod timestamp;

pub use alert::{write_alert, AlertContext, PktSrc};
pub use app::write_app_record;
pub use community_id::community_id;
pub use flow::write_flow;
pub(crate) use timestamp::civil_from_days;
pub use timestamp::write_timestamp;

/// Displays an address as Suricata's EVE does: IPv4 dotted, IPv6 as eight groups of four
/// hex digits without `::` compression (`2001:0db8:0000:...`), so that string matches on
/// `src_ip`/`dest_ip` written for Suricata keep working.
#[derive(Debug, Clone, Copy)]
pub struct EveIp(pub std::net::IpAddr);

impl std::fmt::Display for EveIp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            std::net::IpAddr::V4(v4) => write!(f, "{v4}"),
            std::net::IpAddr::V6(v6) => {
                let s = v6.segments();
                write!(
                    f,
                    "{:04x}:{:04x}:{:04x}:{:04x}:{:04x}:{:04x}:{:04x}:{:04x}",
                    s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]
                )
            }
        }
    }
}

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
            4 => "IP-in-IP",
            17 => "UDP",
            // As Suricata 7.0.10 writes them for 6in4 and IPv4-in-IPv4 packets.
            41 => "IPv6",
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

#[cfg(test)]
mod tests {
    use super::EveIp;

    #[test]
    fn ipv6_is_written_expanded_like_suricata() {
        let ip: std::net::IpAddr = "2001:db8:10::5".parse().unwrap();
        assert_eq!(
            EveIp(ip).to_string(),
            "2001:0db8:0010:0000:0000:0000:0000:0005"
        );
        let ip: std::net::IpAddr = "10.0.0.1".parse().unwrap();
        assert_eq!(EveIp(ip).to_string(), "10.0.0.1");
    }
}
