//! Address and port variables (`$HOME_NET`, `$HTTP_PORTS`, ...).
//!
//! Variables are stored as the *text* suricata.yaml would hold and are expanded by the header
//! parser at the point of use, so a variable may reference other variables, be negated, or be
//! a list, exactly like Suricata. Expansion (with cycle detection) lives in `header`; this
//! module only owns the two name spaces and the defaults.

use std::collections::BTreeMap;

/// Address and port variables ($HOME_NET, $HTTP_PORTS, ...).
#[derive(Debug, Clone, Default)]
pub struct Vars {
    addresses: BTreeMap<String, String>,
    ports: BTreeMap<String, String>,
}

const DEFAULT_ADDRESSES: &[(&str, &str)] = &[
    ("HOME_NET", "[192.168.0.0/16,10.0.0.0/8,172.16.0.0/12]"),
    ("EXTERNAL_NET", "!$HOME_NET"),
    ("HTTP_SERVERS", "$HOME_NET"),
    ("SMTP_SERVERS", "$HOME_NET"),
    ("SQL_SERVERS", "$HOME_NET"),
    ("DNS_SERVERS", "$HOME_NET"),
    ("TELNET_SERVERS", "$HOME_NET"),
    ("AIM_SERVERS", "$EXTERNAL_NET"),
    ("DC_SERVERS", "$HOME_NET"),
    ("DNP3_SERVER", "$HOME_NET"),
    ("DNP3_CLIENT", "$HOME_NET"),
    ("MODBUS_CLIENT", "$HOME_NET"),
    ("MODBUS_SERVER", "$HOME_NET"),
    ("ENIP_CLIENT", "$HOME_NET"),
    ("ENIP_SERVER", "$HOME_NET"),
];

const DEFAULT_PORTS: &[(&str, &str)] = &[
    ("HTTP_PORTS", "80"),
    ("SHELLCODE_PORTS", "!80"),
    ("ORACLE_PORTS", "1521"),
    ("SSH_PORTS", "22"),
    ("DNP3_PORTS", "20000"),
    ("MODBUS_PORTS", "502"),
    ("FILE_DATA_PORTS", "[$HTTP_PORTS,110,143]"),
    ("FTP_PORTS", "21"),
    ("GENEVE_PORTS", "6081"),
    ("VXLAN_PORTS", "4789"),
    ("TEREDO_PORTS", "3544"),
];

impl Vars {
    /// Suricata's default suricata.yaml values.
    pub fn suricata_defaults() -> Self {
        let mut vars = Vars::default();
        for (name, value) in DEFAULT_ADDRESSES {
            vars.set_address(name, value);
        }
        for (name, value) in DEFAULT_PORTS {
            vars.set_port(name, value);
        }
        vars
    }

    /// Defines or replaces an address variable; `name` is given without the `$`. The value is
    /// Suricata address syntax and may use other variables; it is checked when a rule uses it.
    pub fn set_address(&mut self, name: &str, value: &str) -> &mut Self {
        self.addresses
            .insert(name.trim_start_matches('$').to_string(), value.to_string());
        self
    }

    /// Defines or replaces a port variable; `name` is given without the `$`.
    pub fn set_port(&mut self, name: &str, value: &str) -> &mut Self {
        self.ports
            .insert(name.trim_start_matches('$').to_string(), value.to_string());
        self
    }

    /// The text of an address variable.
    pub fn address(&self, name: &str) -> Option<&str> {
        self.addresses.get(name).map(String::as_str)
    }

    /// The text of a port variable.
    pub fn port(&self, name: &str) -> Option<&str> {
        self.ports.get(name).map(String::as_str)
    }
}
