//! The rule header: action, protocol, address and port expressions, direction.
//!
//! Addresses and ports are evaluated at load time into sorted, merged interval sets (IPv4,
//! IPv6 and ports share one interval implementation over `u128`). That makes Suricata's list
//! semantics (`[a,!b]` = a minus b, lists of only negations start from "any", nested and
//! negated variables) a matter of set algebra, and matching a packet a binary search with no
//! allocation. Variables are expanded here, with a resolution stack to report cycles.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::lexer::{shown, Perr, Token};
use crate::{Action, DetectInput, Vars};

/// Inclusive interval list, sorted and non-overlapping.
type Ranges = Vec<(u128, u128)>;

const V4_MAX: u128 = u32::MAX as u128;
const V6_MAX: u128 = u128::MAX;
const PORT_MAX: u128 = u16::MAX as u128;
/// Bound on `[`/`!`/variable nesting so hostile input cannot exhaust the stack.
const MAX_NESTING: usize = 32;

fn normalize(mut v: Ranges) -> Ranges {
    v.sort_unstable();
    let mut out: Ranges = Vec::with_capacity(v.len());
    for (lo, hi) in v {
        match out.last_mut() {
            Some(last) if lo <= last.1.saturating_add(1) => last.1 = last.1.max(hi),
            _ => out.push((lo, hi)),
        }
    }
    out
}

fn complement(v: &[(u128, u128)], max: u128) -> Ranges {
    let mut out = Vec::new();
    let mut next = 0u128;
    let mut done = false;
    for &(lo, hi) in v {
        if lo > next {
            out.push((next, lo - 1));
        }
        if hi >= max {
            done = true;
            break;
        }
        next = hi + 1;
    }
    if !done {
        out.push((next, max));
    }
    out
}

fn intersect(a: &[(u128, u128)], b: &[(u128, u128)]) -> Ranges {
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::new();
    while i < a.len() && j < b.len() {
        let lo = a[i].0.max(b[j].0);
        let hi = a[i].1.min(b[j].1);
        if lo <= hi {
            out.push((lo, hi));
        }
        if a[i].1 < b[j].1 {
            i += 1;
        } else {
            j += 1;
        }
    }
    out
}

fn contains(v: &[(u128, u128)], x: u128) -> bool {
    let idx = v.partition_point(|r| r.1 < x);
    v.get(idx).is_some_and(|r| r.0 <= x)
}

/// A set of IPv4 and IPv6 addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IpSet {
    v4: Ranges,
    v6: Ranges,
}

impl IpSet {
    fn any() -> Self {
        IpSet {
            v4: vec![(0, V4_MAX)],
            v6: vec![(0, V6_MAX)],
        }
    }
    fn empty() -> Self {
        IpSet {
            v4: Vec::new(),
            v6: Vec::new(),
        }
    }
    fn is_empty(&self) -> bool {
        self.v4.is_empty() && self.v6.is_empty()
    }
    fn union(mut self, other: &IpSet) -> Self {
        self.v4.extend_from_slice(&other.v4);
        self.v6.extend_from_slice(&other.v6);
        IpSet {
            v4: normalize(self.v4),
            v6: normalize(self.v6),
        }
    }
    fn complement(&self) -> Self {
        IpSet {
            v4: complement(&self.v4, V4_MAX),
            v6: complement(&self.v6, V6_MAX),
        }
    }
    fn minus(&self, other: &IpSet) -> Self {
        IpSet {
            v4: intersect(&self.v4, &complement(&other.v4, V4_MAX)),
            v6: intersect(&self.v6, &complement(&other.v6, V6_MAX)),
        }
    }
    /// Whether the address is in the set.
    pub(crate) fn contains(&self, ip: IpAddr) -> bool {
        match ip {
            IpAddr::V4(a) => contains(&self.v4, u128::from(u32::from(a))),
            IpAddr::V6(a) => contains(&self.v6, u128::from(a)),
        }
    }
}

/// A set of ports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PortSet(Ranges);

impl PortSet {
    /// Whether the port is in the set.
    pub(crate) fn contains(&self, port: u16) -> bool {
        contains(&self.0, u128::from(port))
    }
}

/// Protocols a rule header may name that this engine matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Proto {
    Ip,
    Tcp,
    Udp,
    /// ICMP and ICMPv6, as in Suricata.
    Icmp,
    /// Opt-in extras (exact for a packet engine): `icmpv4`, `icmpv6`, `ipv4`/`ip4`,
    /// `ipv6`/`ip6`.
    IcmpV4,
    IcmpV6,
    Ipv4,
    Ipv6,
}

impl Proto {
    fn matches(self, input: &DetectInput<'_>) -> bool {
        let p = input.ip_proto;
        match self {
            Proto::Ip => true,
            Proto::Tcp => p == 6,
            Proto::Udp => p == 17,
            Proto::Icmp => p == 1 || p == 58,
            Proto::IcmpV4 => p == 1,
            Proto::IcmpV6 => p == 58,
            Proto::Ipv4 => input.src_ip.is_ipv4(),
            Proto::Ipv6 => input.src_ip.is_ipv6(),
        }
    }
}

/// A fully evaluated header.
#[derive(Debug, Clone)]
pub(crate) struct Header {
    pub(crate) action: Action,
    pub(crate) proto: Proto,
    src: IpSet,
    src_ports: PortSet,
    dst: IpSet,
    dst_ports: PortSet,
    bidirectional: bool,
    /// App-layer protocol named in the header (`http`, `dns`, ...), canonical name.
    pub(crate) app: Option<&'static str>,
}

impl Header {
    /// The narrower of the source and destination address sets as (v4, v6) interval lists,
    /// when it is narrow enough to index (at most 2^24 IPv4 and 2^64 IPv6 addresses): every
    /// packet the header matches has its source or destination address in it.
    pub(crate) fn index_addresses(&self) -> Option<(&Ranges, &Ranges)> {
        let size = |r: &[(u128, u128)]| -> u128 {
            r.iter().fold(0u128, |a, (lo, hi)| {
                a.saturating_add(hi - lo).saturating_add(1)
            })
        };
        let narrow = |s: &IpSet| size(&s.v4) <= 1 << 24 && size(&s.v6) <= 1 << 64;
        let pick = |s: &IpSet| (size(&s.v4), size(&s.v6));
        let cands = [&self.src, &self.dst];
        cands
            .into_iter()
            .filter(|s| narrow(s))
            .min_by_key(|s| pick(s))
            .map(|s| (&s.v4, &s.v6))
    }

    /// Whether the rule uses `<>`.
    pub(crate) fn bidirectional(&self) -> bool {
        self.bidirectional
    }

    /// Protocol, addresses and ports (both ways for `<>`).
    pub(crate) fn matches(&self, input: &DetectInput<'_>) -> bool {
        if !self.proto.matches(input) {
            return false;
        }
        if let Some(app) = self.app {
            if input.app_proto.map(canonical_app) != Some(app) {
                return false;
            }
        }
        let forward = self.src.contains(input.src_ip)
            && self.dst.contains(input.dst_ip)
            && self.src_ports.contains(input.src_port)
            && self.dst_ports.contains(input.dst_port);
        forward
            || (self.bidirectional
                && self.src.contains(input.dst_ip)
                && self.dst.contains(input.src_ip)
                && self.src_ports.contains(input.dst_port)
                && self.dst_ports.contains(input.src_port))
    }
}

/// Result of parsing a header: either a header, or a protocol we do not (yet) match.
pub(crate) enum HeaderOutcome {
    Parsed(Header),
    /// An app-layer protocol (`http`, `dns`, ...): the header is valid but the rule needs an
    /// app-layer parser, so it loads inactive with this reason.
    Inactive(Header, String),
    Unsupported(String),
}

/// The canonical name of an app-layer protocol (`ssl` is `tls`, `http1` is `http`). Does not
/// allocate: it runs per packet for rules with an app-layer protocol.
pub(crate) fn canonical_app(name: &str) -> &'static str {
    let alias = [("ssl", "tls"), ("http1", "http"), ("ike", "ikev2")]
        .iter()
        .find(|(a, _)| a.eq_ignore_ascii_case(name))
        .map(|(_, c)| *c);
    let name = alias.unwrap_or(name);
    APP_PROTOCOLS
        .iter()
        .find(|p| p.eq_ignore_ascii_case(name))
        .copied()
        .unwrap_or("?")
}

/// App-layer protocol names Suricata accepts in rule headers.
const APP_PROTOCOLS: &[&str] = &[
    "http",
    "http1",
    "http2",
    "ftp",
    "ftp-data",
    "smtp",
    "tls",
    "ssl",
    "ssh",
    "imap",
    "pop3",
    "dns",
    "smb",
    "dcerpc",
    "nfs",
    "ntp",
    "tftp",
    "ikev2",
    "ike",
    "krb5",
    "dhcp",
    "snmp",
    "sip",
    "rfb",
    "mqtt",
    "rdp",
    "modbus",
    "dnp3",
    "enip",
    "cip",
    "bittorrent-dht",
    "quic",
    "pgsql",
    "telnet",
    "websocket",
    "ldap",
    "doh2",
    "template",
    "irc",
    "jabber",
    "msn",
    "ntlmssp",
];

fn parse_action(tok: Token<'_>) -> Result<Action, Perr> {
    match tok.text {
        "alert" => Ok(Action::Alert),
        "pass" => Ok(Action::Pass),
        "drop" => Ok(Action::Drop),
        "reject" | "rejectsrc" | "rejectdst" | "rejectboth" => Ok(Action::Reject),
        other => Err(Perr::new(
            tok.start,
            format!(
                "expected an action (alert, pass, drop, reject), found '{}'",
                shown(other)
            ),
        )),
    }
}

/// Parses the seven header tokens. `open_paren` is where the options start (for "missing
/// token" messages).
pub(crate) fn parse_header(
    tokens: &[Token<'_>],
    open_paren: usize,
    vars: &Vars,
    extra_protocols: bool,
) -> Result<HeaderOutcome, Perr> {
    const WHAT: [&str; 7] = [
        "an action",
        "a protocol",
        "a source address",
        "a source port",
        "'->' or '<>'",
        "a destination address",
        "a destination port",
    ];
    if tokens.len() < WHAT.len() {
        return Err(Perr::new(
            open_paren,
            format!("expected {}, found '('", WHAT[tokens.len()]),
        ));
    }
    if let Some(extra) = tokens.get(WHAT.len()) {
        return Err(Perr::new(
            extra.start,
            format!("expected '(', found '{}'", shown(extra.text)),
        ));
    }
    let action = parse_action(tokens[0])?;
    let proto_tok = tokens[1];
    let proto = match proto_tok.text.to_ascii_lowercase().as_str() {
        "ip" => Some(Proto::Ip),
        "tcp" => Some(Proto::Tcp),
        "udp" => Some(Proto::Udp),
        "icmp" => Some(Proto::Icmp),
        // `tcp-pkt` restricts a tcp rule to packets (no reassembled stream); this engine only
        // ever inspects packets, so it is exactly `tcp` here.
        "tcp-pkt" | "tcp-stream" if extra_protocols => Some(Proto::Tcp),
        "icmpv4" if extra_protocols => Some(Proto::IcmpV4),
        "icmpv6" if extra_protocols => Some(Proto::IcmpV6),
        "ipv4" | "ip4" if extra_protocols => Some(Proto::Ipv4),
        "ipv6" | "ip6" if extra_protocols => Some(Proto::Ipv6),
        name if !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') =>
        {
            None
        }
        _ => {
            return Err(Perr::new(
                proto_tok.start,
                format!("expected a protocol, found '{}'", shown(proto_tok.text)),
            ))
        }
    };
    let src = parse_addresses(tokens[2], vars)?;
    let src_ports = parse_ports(tokens[3], vars)?;
    let mut unsupported_direction = None;
    let bidirectional = match tokens[4].text {
        "->" => false,
        "<>" => true,
        // Suricata 8 transactional rules: both directions of an app-layer transaction.
        "=>" => {
            unsupported_direction = Some("direction =>".to_string());
            true
        }
        other => {
            return Err(Perr::new(
                tokens[4].start,
                format!("expected '->' or '<>', found '{}'", shown(other)),
            ))
        }
    };
    let dst = parse_addresses(tokens[5], vars)?;
    let dst_ports = parse_ports(tokens[6], vars)?;
    if let Some(reason) = unsupported_direction {
        return Ok(HeaderOutcome::Unsupported(reason));
    }
    let name = proto_tok.text.to_ascii_lowercase();
    if proto.is_none() && APP_PROTOCOLS.contains(&name.as_str()) {
        let app = canonical_app(&name);
        return Ok(HeaderOutcome::Inactive(
            Header {
                action,
                proto: Proto::Ip,
                src,
                src_ports,
                dst,
                dst_ports,
                bidirectional,
                app: Some(app),
            },
            format!("protocol {name}"),
        ));
    }
    let Some(proto) = proto else {
        return Ok(HeaderOutcome::Unsupported(format!(
            "protocol {}",
            proto_tok.text.to_ascii_lowercase()
        )));
    };
    Ok(HeaderOutcome::Parsed(Header {
        action,
        proto,
        src,
        src_ports,
        dst,
        dst_ports,
        bidirectional,
        app: None,
    }))
}

/// Which kind of expression is being evaluated: they share the list/negation/variable
/// grammar and differ only in leaves and the "universe".
trait SetKind: Sized + Clone {
    const NOUN: &'static str;
    fn any() -> Self;
    fn empty() -> Self;
    fn is_empty(&self) -> bool;
    fn union(self, other: &Self) -> Self;
    fn complement(&self) -> Self;
    fn minus(&self, other: &Self) -> Self;
    fn leaf(text: &str) -> Result<Self, String>;
    fn var<'v>(vars: &'v Vars, name: &str) -> Option<&'v str>;
}

impl SetKind for IpSet {
    const NOUN: &'static str = "address";
    fn any() -> Self {
        IpSet::any()
    }
    fn empty() -> Self {
        IpSet::empty()
    }
    fn is_empty(&self) -> bool {
        IpSet::is_empty(self)
    }
    fn union(self, other: &Self) -> Self {
        IpSet::union(self, other)
    }
    fn complement(&self) -> Self {
        IpSet::complement(self)
    }
    fn minus(&self, other: &Self) -> Self {
        IpSet::minus(self, other)
    }
    fn leaf(text: &str) -> Result<Self, String> {
        parse_ip_leaf(text)
    }
    fn var<'v>(vars: &'v Vars, name: &str) -> Option<&'v str> {
        vars.address(name)
    }
}

impl SetKind for PortSet {
    const NOUN: &'static str = "port";
    fn any() -> Self {
        PortSet(vec![(0, PORT_MAX)])
    }
    fn empty() -> Self {
        PortSet(Vec::new())
    }
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    fn union(mut self, other: &Self) -> Self {
        self.0.extend_from_slice(&other.0);
        PortSet(normalize(self.0))
    }
    fn complement(&self) -> Self {
        PortSet(complement(&self.0, PORT_MAX))
    }
    fn minus(&self, other: &Self) -> Self {
        PortSet(intersect(&self.0, &complement(&other.0, PORT_MAX)))
    }
    fn leaf(text: &str) -> Result<Self, String> {
        parse_port_leaf(text)
    }
    fn var<'v>(vars: &'v Vars, name: &str) -> Option<&'v str> {
        vars.port(name)
    }
}

/// Evaluates an address or port expression; errors point at the header token, with the
/// variable chain in the message when the fault is inside a variable's value.
struct Eval<'v> {
    vars: &'v Vars,
    /// Variables being expanded (cycle detection).
    stack: Vec<String>,
}

impl Eval<'_> {
    fn expr<S: SetKind>(&mut self, text: &str, depth: usize) -> Result<S, String> {
        let text = text.trim();
        if depth > MAX_NESTING {
            return Err(format!("{} nested too deeply", S::NOUN));
        }
        if let Some(rest) = text.strip_prefix('!') {
            let inner: S = self.expr(rest, depth + 1)?;
            let out = inner.complement();
            return if out.is_empty() {
                Err(format!("'{}' negates every {}", shown(text), S::NOUN))
            } else {
                Ok(out)
            };
        }
        if let Some(inner) = text.strip_prefix('[') {
            let Some(inner) = inner.strip_suffix(']') else {
                return Err(format!(
                    "expected ']' to close {} list '{}'",
                    S::NOUN,
                    shown(text)
                ));
            };
            return self.list(inner, depth + 1);
        }
        if let Some(name) = text.strip_prefix('$') {
            let Some(value) = S::var(self.vars, name) else {
                return Err(format!("undefined {} variable '${}'", S::NOUN, shown(name)));
            };
            if self.stack.iter().any(|n| n == name) {
                return Err(format!(
                    "variable cycle: ${} -> ${}",
                    self.stack.join(" -> $"),
                    name
                ));
            }
            self.stack.push(name.to_string());
            let out = self
                .expr(value, depth + 1)
                .map_err(|e| format!("in variable ${name}: {e}"));
            self.stack.pop();
            return out;
        }
        if text.eq_ignore_ascii_case("any") {
            return Ok(S::any());
        }
        S::leaf(text)
    }

    fn list<S: SetKind>(&mut self, inner: &str, depth: usize) -> Result<S, String> {
        let mut positive: Option<S> = None;
        let mut negative = S::empty();
        for item in split_list(inner)? {
            let item = item.trim();
            if item.is_empty() {
                return Err(format!("empty element in {} list", S::NOUN));
            }
            if let Some(neg) = item.strip_prefix('!') {
                let set: S = self.expr(neg, depth + 1)?;
                negative = negative.union(&set);
            } else {
                let set: S = self.expr(item, depth + 1)?;
                positive = Some(match positive {
                    Some(p) => p.union(&set),
                    None => set,
                });
            }
        }
        let out = positive.unwrap_or_else(S::any).minus(&negative);
        if out.is_empty() {
            Err(format!(
                "{} list [{}] matches nothing",
                S::NOUN,
                shown(inner)
            ))
        } else {
            Ok(out)
        }
    }
}

/// Splits a list body on top-level commas.
fn split_list(inner: &str) -> Result<Vec<&str>, String> {
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (i, b) in inner.bytes().enumerate() {
        match b {
            b'[' => depth += 1,
            b']' => {
                depth = depth
                    .checked_sub(1)
                    .ok_or_else(|| format!("unbalanced ']' in '{}'", shown(inner)))?
            }
            b',' if depth == 0 => {
                out.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err(format!("expected ']' in '{}'", shown(inner)));
    }
    out.push(&inner[start..]);
    Ok(out)
}

fn parse_ip_leaf(text: &str) -> Result<IpSet, String> {
    // `a-b` address ranges (same family, low <= high).
    if let Some((lo, hi)) = text.split_once('-') {
        let (lo, hi) = (lo.trim(), hi.trim());
        return match (lo.parse::<IpAddr>(), hi.parse::<IpAddr>()) {
            (Ok(IpAddr::V4(a)), Ok(IpAddr::V4(b))) if a <= b => Ok(IpSet {
                v4: vec![(u128::from(u32::from(a)), u128::from(u32::from(b)))],
                v6: Vec::new(),
            }),
            (Ok(IpAddr::V6(a)), Ok(IpAddr::V6(b))) if a <= b => Ok(IpSet {
                v4: Vec::new(),
                v6: vec![(u128::from(a), u128::from(b))],
            }),
            _ => Err(format!(
                "expected an address range 'low-high' of one family, found '{}'",
                shown(text)
            )),
        };
    }
    let bad = || {
        format!(
            "expected an IP address, CIDR, list, variable or 'any', found '{}'",
            shown(text)
        )
    };
    let (addr, prefix) = match text.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (text, None),
    };
    if let Ok(v4) = addr.parse::<Ipv4Addr>() {
        let bits = match prefix {
            None => 32,
            Some(p) => match p.parse::<u32>() {
                Ok(n) if n <= 32 => n,
                Ok(_) => {
                    return Err(format!(
                        "IPv4 prefix length out of range in '{}'",
                        shown(text)
                    ))
                }
                Err(_) => match p.parse::<Ipv4Addr>() {
                    Ok(mask) => {
                        let m = u32::from(mask);
                        if m.leading_ones() + m.trailing_zeros() != 32 {
                            return Err(format!("non-contiguous netmask in '{}'", shown(text)));
                        }
                        m.leading_ones()
                    }
                    Err(_) => return Err(bad()),
                },
            },
        };
        let base = u128::from(u32::from(v4));
        let host = if bits == 32 {
            0
        } else {
            (1u128 << (32 - bits)) - 1
        };
        let lo = base & !host;
        return Ok(IpSet {
            v4: vec![(lo, lo | host)],
            v6: Vec::new(),
        });
    }
    if let Ok(v6) = addr.parse::<Ipv6Addr>() {
        let bits = match prefix {
            None => 128,
            Some(p) => match p.parse::<u32>() {
                Ok(n) if n <= 128 => n,
                _ => {
                    return Err(format!(
                        "IPv6 prefix length out of range in '{}'",
                        shown(text)
                    ))
                }
            },
        };
        let base = u128::from(v6);
        let host = if bits == 0 {
            u128::MAX
        } else {
            (1u128 << (128 - bits)).wrapping_sub(1)
        };
        let lo = base & !host;
        return Ok(IpSet {
            v4: Vec::new(),
            v6: vec![(lo, lo | host)],
        });
    }
    Err(bad())
}

fn parse_port_number(text: &str, whole: &str) -> Result<u128, String> {
    match text.trim().parse::<u16>() {
        Ok(n) => Ok(u128::from(n)),
        Err(_) => Err(format!(
            "expected a port (0-65535), range, list, variable or 'any', found '{}'",
            shown(whole)
        )),
    }
}

fn parse_port_leaf(text: &str) -> Result<PortSet, String> {
    if let Some((lo, hi)) = text.split_once(':') {
        let lo = if lo.trim().is_empty() {
            0
        } else {
            parse_port_number(lo, text)?
        };
        let hi = if hi.trim().is_empty() {
            PORT_MAX
        } else {
            parse_port_number(hi, text)?
        };
        if lo > hi {
            return Err(format!("port range '{}' is reversed", shown(text)));
        }
        return Ok(PortSet(vec![(lo, hi)]));
    }
    let n = parse_port_number(text, text)?;
    Ok(PortSet(vec![(n, n)]))
}

fn parse_addresses(tok: Token<'_>, vars: &Vars) -> Result<IpSet, Perr> {
    let mut eval = Eval {
        vars,
        stack: Vec::new(),
    };
    eval.expr(tok.text, 0).map_err(|m| Perr::new(tok.start, m))
}

fn parse_ports(tok: Token<'_>, vars: &Vars) -> Result<PortSet, Perr> {
    let mut eval = Eval {
        vars,
        stack: Vec::new(),
    };
    eval.expr(tok.text, 0).map_err(|m| Perr::new(tok.start, m))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ips(text: &str) -> Result<IpSet, Perr> {
        parse_addresses(Token { text, start: 0 }, &Vars::suricata_defaults())
    }
    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn home_and_external() {
        let home = ips("$HOME_NET").unwrap();
        let ext = ips("$EXTERNAL_NET").unwrap();
        assert!(home.contains(ip("10.1.2.3")));
        assert!(!ext.contains(ip("10.1.2.3")));
        assert!(ext.contains(ip("8.8.8.8")));
        assert!(ext.contains(ip("2001:db8::1")));
        assert!(!home.contains(ip("2001:db8::1")));
    }

    #[test]
    fn lists_with_negation() {
        let s = ips("[10.0.0.0/8,!10.1.1.1]").unwrap();
        assert!(s.contains(ip("10.1.1.2")));
        assert!(!s.contains(ip("10.1.1.1")));
        assert!(!s.contains(ip("11.0.0.1")));
        let only_neg = ips("[!1.2.3.4,!1.2.3.5]").unwrap();
        assert!(only_neg.contains(ip("1.2.3.6")));
        assert!(!only_neg.contains(ip("1.2.3.5")));
        assert!(ips("!any").is_err());
        assert!(ips("[1.2.3.4,!1.2.3.4]").is_err());
    }

    #[test]
    fn cycles_are_errors() {
        let mut v = Vars::default();
        v.set_address("A", "$B").set_address("B", "[1.2.3.4,$A]");
        let e = parse_addresses(
            Token {
                text: "$A",
                start: 5,
            },
            &v,
        )
        .unwrap_err();
        assert_eq!(e.offset, 5);
        assert!(e.message.contains("cycle"), "{}", e.message);
    }

    #[test]
    fn ipv6_cidr_and_netmask() {
        let s = ips("[2001:db8::/32,192.168.1.0/255.255.255.0]").unwrap();
        assert!(s.contains(ip("2001:db8:ffff::1")));
        assert!(!s.contains(ip("2001:db9::1")));
        assert!(s.contains(ip("192.168.1.200")));
        assert!(!s.contains(ip("192.168.2.1")));
        assert!(ips("::/0").unwrap().contains(ip("::1")));
        let r = ips("[1.2.3.4-1.2.3.6,fe80::1-fe80::3]").unwrap();
        assert!(r.contains(ip("1.2.3.5")) && !r.contains(ip("1.2.3.7")));
        assert!(r.contains(ip("fe80::2")) && !r.contains(ip("fe80::4")));
        assert!(ips("1.2.3.6-1.2.3.4").is_err());
        assert!(ips("1.2.3.4-::1").is_err());
    }
}
