//! Suricata's default classification table (`classification.config`), embedded as data.
//!
//! `classtype` must resolve at load time to a description (EVE `alert.category`) and a
//! default priority (EVE `alert.severity`). The table is static Rust data rather than a file
//! read at run time so a deployed sensor cannot silently run with a different table; an
//! unknown classtype is a rule error, as in Suricata.

/// One `config classification: shortname,description,priority` entry.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Classification {
    pub(crate) name: &'static str,
    pub(crate) description: &'static str,
    pub(crate) priority: u8,
}

const fn c(name: &'static str, description: &'static str, priority: u8) -> Classification {
    Classification {
        name,
        description,
        priority,
    }
}

/// Suricata's (and ET Open's) default classifications.
const TABLE: &[Classification] = &[
    c("not-suspicious", "Not Suspicious Traffic", 3),
    c("unknown", "Unknown Traffic", 3),
    c("bad-unknown", "Potentially Bad Traffic", 2),
    c("attempted-recon", "Attempted Information Leak", 2),
    c("successful-recon-limited", "Information Leak", 2),
    c(
        "successful-recon-largescale",
        "Large Scale Information Leak",
        2,
    ),
    c("attempted-dos", "Attempted Denial of Service", 2),
    c("successful-dos", "Denial of Service", 2),
    c("attempted-user", "Attempted User Privilege Gain", 1),
    c("unsuccessful-user", "Unsuccessful User Privilege Gain", 1),
    c("successful-user", "Successful User Privilege Gain", 1),
    c(
        "attempted-admin",
        "Attempted Administrator Privilege Gain",
        1,
    ),
    c(
        "successful-admin",
        "Successful Administrator Privilege Gain",
        1,
    ),
    c("rpc-portmap-decode", "Decode of an RPC Query", 2),
    c("shellcode-detect", "Executable code was detected", 1),
    c("string-detect", "A suspicious string was detected", 3),
    c(
        "suspicious-filename-detect",
        "A suspicious filename was detected",
        2,
    ),
    c(
        "suspicious-login",
        "An attempted login using a suspicious username was detected",
        2,
    ),
    c("system-call-detect", "A system call was detected", 2),
    c("tcp-connection", "A TCP connection was detected", 4),
    c("trojan-activity", "A Network Trojan was detected", 1),
    c(
        "unusual-client-port-connection",
        "A client was using an unusual port",
        2,
    ),
    c("network-scan", "Detection of a Network Scan", 3),
    c(
        "denial-of-service",
        "Detection of a Denial of Service Attack",
        2,
    ),
    c(
        "non-standard-protocol",
        "Detection of a non-standard protocol or event",
        2,
    ),
    c(
        "protocol-command-decode",
        "Generic Protocol Command Decode",
        3,
    ),
    c(
        "web-application-activity",
        "access to a potentially vulnerable web application",
        2,
    ),
    c("web-application-attack", "Web Application Attack", 1),
    c("misc-activity", "Misc activity", 3),
    c("misc-attack", "Misc Attack", 2),
    c("icmp-event", "Generic ICMP event", 3),
    c(
        "inappropriate-content",
        "Inappropriate Content was Detected",
        1,
    ),
    c(
        "policy-violation",
        "Potential Corporate Privacy Violation",
        1,
    ),
    c(
        "default-login-attempt",
        "Attempt to login by a default username and password",
        2,
    ),
    c(
        "targeted-activity",
        "Targeted Malicious Activity was Detected",
        1,
    ),
    c("exploit-kit", "Exploit Kit Activity Detected", 1),
    c(
        "external-ip-check",
        "Device Retrieving External IP Address Detected",
        2,
    ),
    c("domain-c2", "Domain Observed Used for C2 Detected", 1),
    c("pup-activity", "Possibly Unwanted Program Detected", 2),
    c(
        "credential-theft",
        "Successful Credential Theft Detected",
        1,
    ),
    c(
        "social-engineering",
        "Possible Social Engineering Attempted",
        2,
    ),
    c("coin-mining", "Crypto Currency Mining Activity Detected", 2),
    c(
        "command-and-control",
        "Malware Command and Control Activity Detected",
        1,
    ),
];

/// Looks up a classtype short name (case-insensitive, as Suricata lowercases it).
pub(crate) fn lookup(name: &str) -> Option<&'static Classification> {
    TABLE.iter().find(|c| c.name.eq_ignore_ascii_case(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_entries() {
        let t = lookup("trojan-activity").unwrap();
        assert_eq!(t.description, "A Network Trojan was detected");
        assert_eq!(t.priority, 1);
        assert_eq!(lookup("tcp-connection").unwrap().priority, 4);
        assert!(lookup("no-such-class").is_none());
    }
}
