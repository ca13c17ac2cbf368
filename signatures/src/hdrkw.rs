//! Packet header keywords: ttl, tos, id, ip_proto, ipopts, fragbits, fragoffset, flags, seq,
//! ack, window, itype, icode, icmp_id, icmp_seq, sameip.
//!
//! They read [`crate::DetectInput`]'s header fields, which the sensor fills from its decoder.
//! A keyword on a packet of the wrong protocol does not match (a `flags` test on a UDP
//! packet, `itype` on TCP, `tos`/`id`/`fragbits`/`ipopts` on IPv6), as in Suricata.

use crate::lexer::{shown, Perr, Token};
use crate::DetectInput;

/// Numeric comparison with Suricata's uint syntax (`n`, `!n`, `<n`, `<=n`, `>n`, `>=n`,
/// `a-b` and `a<>b` both exclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Num {
    Eq(u64),
    Ne(u64),
    Lt(u64),
    Le(u64),
    Gt(u64),
    Ge(u64),
    Between(u64, u64),
}

impl Num {
    pub(crate) fn matches(self, v: u64) -> bool {
        match self {
            Num::Eq(n) => v == n,
            Num::Ne(n) => v != n,
            Num::Lt(n) => v < n,
            Num::Le(n) => v <= n,
            Num::Gt(n) => v > n,
            Num::Ge(n) => v >= n,
            Num::Between(a, b) => v > a && v < b,
        }
    }
}

fn parse_u64(s: &str) -> Option<u64> {
    let s = s.trim();
    if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        u64::from_str_radix(h, 16).ok()
    } else {
        s.parse().ok()
    }
}

/// Parses a numeric comparison whose values must not exceed `max`.
pub(crate) fn parse_num(v: Token<'_>, max: u64, what: &str) -> Result<Num, Perr> {
    let t = v.text.trim();
    let err = || {
        Perr::new(
            v.start,
            format!(
                "expected a {what} value or comparison, found '{}'",
                shown(t)
            ),
        )
    };
    let val = |s: &str| parse_u64(s).filter(|n| *n <= max).ok_or_else(err);
    if let Some((a, b)) = t.split_once("<>") {
        let (a, b) = (val(a)?, val(b)?);
        return if a < b {
            Ok(Num::Between(a, b))
        } else {
            Err(err())
        };
    }
    for (p, make) in [
        ("<=", Num::Le as fn(u64) -> Num),
        (">=", Num::Ge),
        ("!=", Num::Ne),
        ("<", Num::Lt),
        (">", Num::Gt),
        ("!", Num::Ne),
        ("=", Num::Eq),
    ] {
        if let Some(rest) = t.strip_prefix(p) {
            return val(rest).map(make);
        }
    }
    if let Some((a, b)) = t.split_once('-') {
        let (a, b) = (val(a)?, val(b)?);
        return if a < b {
            Ok(Num::Between(a, b))
        } else {
            Err(err())
        };
    }
    val(t).map(Num::Eq)
}

/// `flags`/`fragbits` bit test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Bits {
    /// 0: exact, b'+': all of these plus any, b'*': any of these, b'!': not all of these.
    modifier: u8,
    bits: u8,
    /// Bits that take part in the comparison (the mask removes bits).
    care: u8,
}

impl Bits {
    fn matches(self, value: u8) -> bool {
        let v = value & self.care;
        match self.modifier {
            b'+' => v & self.bits == self.bits,
            b'*' => v & self.bits != 0,
            b'!' => v & self.bits != self.bits,
            _ => v == self.bits,
        }
    }
}

fn parse_bits(v: Token<'_>, table: &[(char, u8)], what: &str) -> Result<Bits, Perr> {
    let t = v.text.trim();
    let (main, mask) = match t.split_once(',') {
        Some((a, b)) => (a.trim(), Some(b.trim())),
        None => (t, None),
    };
    let letters = |s: &str| -> Result<(u8, u8), Perr> {
        let mut bits = 0u8;
        let mut modifier = 0u8;
        for ch in s.chars() {
            match ch {
                '+' | '*' | '!' => modifier = ch as u8,
                '0' => {}
                c => {
                    let Some((_, b)) = table.iter().find(|(l, _)| *l == c.to_ascii_uppercase())
                    else {
                        return Err(Perr::new(
                            v.start,
                            format!("unknown {what} '{c}' in '{}'", shown(t)),
                        ));
                    };
                    bits |= b;
                }
            }
        }
        Ok((bits, modifier))
    };
    let (bits, modifier) = letters(main)?;
    if main.is_empty() {
        return Err(Perr::new(v.start, format!("expected {what}")));
    }
    let care = match mask {
        Some(m) => !letters(m)?.0,
        None => 0xff,
    };
    Ok(Bits {
        modifier,
        bits,
        care,
    })
}

const TCP_FLAGS: &[(char, u8)] = &[
    ('F', 0x01),
    ('S', 0x02),
    ('R', 0x04),
    ('P', 0x08),
    ('A', 0x10),
    ('U', 0x20),
    ('E', 0x40),
    ('C', 0x80),
    ('2', 0x40),
    ('1', 0x80),
];
const FRAG_BITS: &[(char, u8)] = &[('M', 0x01), ('D', 0x02), ('R', 0x04)];

/// IPv4 option kinds for `ipopts`.
const IPOPTS: &[(&str, u8)] = &[
    ("eol", 0x00),
    ("nop", 0x01),
    ("rr", 0x07),
    ("ts", 0x44),
    ("sec", 0x82),
    ("esec", 0x85),
    ("lsrr", 0x83),
    ("ssrr", 0x89),
    ("satid", 0x88),
];

/// One header test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HeaderTest {
    Ttl(Num),
    Tos(Num),
    Id(Num),
    IpProto(Num),
    FragOffset(Num),
    FragBits(Bits),
    Flags(Bits),
    Seq(Num),
    Ack(Num),
    Window(Num),
    Itype(Num),
    Icode(Num),
    IcmpId(Num),
    IcmpSeq(Num),
    /// Some(kind) or None for `any`.
    IpOpts(Option<u8>),
    SameIp,
    /// `stream_size`: which side (0 server, 1 client, 2 both, 3 either) and comparison.
    StreamSize(u8, Num),
}

fn has_ipopt(opts: &[u8], want: Option<u8>) -> bool {
    let mut i = 0;
    while let Some(&kind) = opts.get(i) {
        if want.is_none_or(|w| w == kind) {
            return true;
        }
        match kind {
            0 => return false,
            1 => i += 1,
            _ => {
                let len = usize::from(opts.get(i + 1).copied().unwrap_or(0));
                if len < 2 {
                    return false;
                }
                i += len;
            }
        }
    }
    false
}

impl HeaderTest {
    pub(crate) fn matches(&self, p: &DetectInput<'_>) -> bool {
        let v4 = p.src_ip.is_ipv4();
        let tcp = p.ip_proto == 6;
        let icmp = p.ip_proto == 1 || p.ip_proto == 58;
        match *self {
            HeaderTest::Ttl(n) => n.matches(u64::from(p.ip.ttl)),
            HeaderTest::Tos(n) => v4 && n.matches(u64::from(p.ip.tos)),
            HeaderTest::Id(n) => v4 && n.matches(u64::from(p.ip.id)),
            HeaderTest::IpProto(n) => n.matches(u64::from(p.ip_proto)),
            HeaderTest::FragOffset(n) => v4 && n.matches(u64::from(p.ip.frag_offset)),
            HeaderTest::FragBits(b) => v4 && b.matches(p.ip.frag_flags),
            HeaderTest::Flags(b) => tcp && b.matches(p.tcp.flags),
            HeaderTest::Seq(n) => tcp && n.matches(u64::from(p.tcp.seq)),
            HeaderTest::Ack(n) => tcp && n.matches(u64::from(p.tcp.ack)),
            HeaderTest::Window(n) => tcp && n.matches(u64::from(p.tcp.window)),
            HeaderTest::Itype(n) => icmp && n.matches(u64::from(p.icmp.itype)),
            HeaderTest::Icode(n) => icmp && n.matches(u64::from(p.icmp.icode)),
            HeaderTest::IcmpId(n) => icmp && n.matches(u64::from(p.icmp.id)),
            HeaderTest::IcmpSeq(n) => icmp && n.matches(u64::from(p.icmp.seq)),
            HeaderTest::IpOpts(k) => v4 && has_ipopt(p.ipv4_options, k),
            HeaderTest::SameIp => p.src_ip == p.dst_ip,
            HeaderTest::StreamSize(side, n) => p.stream_size.is_some_and(|s| {
                let (sv, cl) = (
                    n.matches(u64::from(s.server)),
                    n.matches(u64::from(s.client)),
                );
                match side {
                    0 => sv,
                    1 => cl,
                    2 => sv && cl,
                    _ => sv || cl,
                }
            }),
        }
    }
}

/// Keywords this module parses.
pub(crate) const KEYWORDS: &[&str] = &[
    "ttl",
    "tos",
    "id",
    "ip_proto",
    "fragoffset",
    "fragbits",
    "flags",
    "seq",
    "ack",
    "window",
    "itype",
    "icode",
    "icmp_id",
    "icmp_seq",
    "ipopts",
    "sameip",
    "stream_size",
];

/// Parses one header keyword (`name` lowercased, in [`KEYWORDS`]).
pub(crate) fn parse(name: &str, v: Option<Token<'_>>, at: usize) -> Result<HeaderTest, Perr> {
    if name == "sameip" {
        return match v {
            None => Ok(HeaderTest::SameIp),
            Some(v) => Err(Perr::new(v.start, "'sameip' takes no value")),
        };
    }
    let Some(v) = v.filter(|v| !v.text.trim().is_empty()) else {
        return Err(Perr::new(
            at,
            format!("expected ':' and a value after '{name}'"),
        ));
    };
    Ok(match name {
        "ttl" => HeaderTest::Ttl(parse_num(v, 255, "ttl")?),
        "tos" => HeaderTest::Tos(parse_num(v, 255, "tos")?),
        "id" => HeaderTest::Id(parse_num(v, 65535, "ip id")?),
        "ip_proto" => {
            let t = v.text.trim();
            let (prefix, rest) = match t.find(|c: char| c.is_ascii_alphanumeric()) {
                Some(i) => t.split_at(i),
                None => ("", t),
            };
            let named = match rest.to_ascii_lowercase().as_str() {
                "tcp" => Some(6),
                "udp" => Some(17),
                "icmp" => Some(1),
                "ipv6-icmp" | "icmpv6" => Some(58),
                "gre" => Some(47),
                "esp" => Some(50),
                "ah" => Some(51),
                "sctp" => Some(132),
                "igmp" => Some(2),
                "ipip" => Some(4),
                "ipv6" => Some(41),
                _ => None,
            };
            match named {
                Some(n) => {
                    let text = format!("{prefix}{n}");
                    HeaderTest::IpProto(parse_num(
                        Token {
                            text: &text,
                            start: v.start,
                        },
                        255,
                        "ip_proto",
                    )?)
                }
                None => HeaderTest::IpProto(parse_num(v, 255, "ip_proto")?),
            }
        }
        "fragoffset" => HeaderTest::FragOffset(parse_num(v, 8191, "fragoffset")?),
        "fragbits" => HeaderTest::FragBits(parse_bits(v, FRAG_BITS, "fragbit")?),
        "flags" => HeaderTest::Flags(parse_bits(v, TCP_FLAGS, "TCP flag")?),
        "seq" => HeaderTest::Seq(parse_num(v, u64::from(u32::MAX), "seq")?),
        "ack" => HeaderTest::Ack(parse_num(v, u64::from(u32::MAX), "ack")?),
        "window" => HeaderTest::Window(parse_num(v, 65535, "window")?),
        "itype" => HeaderTest::Itype(parse_num(v, 255, "itype")?),
        "icode" => HeaderTest::Icode(parse_num(v, 255, "icode")?),
        "icmp_id" => HeaderTest::IcmpId(parse_num(v, 65535, "icmp_id")?),
        "icmp_seq" => HeaderTest::IcmpSeq(parse_num(v, 65535, "icmp_seq")?),
        "stream_size" => {
            let parts: Vec<&str> = v.text.split(',').map(str::trim).collect();
            let [side, op, num] = parts.as_slice() else {
                return Err(Perr::new(
                    v.start,
                    "expected stream_size:<server|client|both|either>,<op>,<number>",
                ));
            };
            let side = match *side {
                "server" => 0,
                "client" => 1,
                "both" => 2,
                "either" => 3,
                other => {
                    return Err(Perr::new(
                        v.start,
                        format!(
                            "expected server, client, both or either in stream_size, found '{}'",
                            shown(other)
                        ),
                    ))
                }
            };
            if !matches!(*op, "<" | ">" | "=" | "!=" | "<=" | ">=") {
                return Err(Perr::new(
                    v.start,
                    format!("expected a stream_size operator, found '{}'", shown(op)),
                ));
            }
            let text = format!("{op}{num}");
            HeaderTest::StreamSize(
                side,
                parse_num(
                    Token {
                        text: &text,
                        start: v.start,
                    },
                    u64::from(u32::MAX),
                    "stream_size",
                )?,
            )
        }
        _ => {
            let t = v.text.trim().to_ascii_lowercase();
            if t == "any" {
                HeaderTest::IpOpts(None)
            } else if let Some((_, k)) = IPOPTS.iter().find(|(n, _)| *n == t) {
                HeaderTest::IpOpts(Some(*k))
            } else {
                return Err(Perr::new(
                    v.start,
                    format!(
                        "expected an IP option (rr, eol, nop, ts, sec, esec, lsrr, ssrr, satid, any), found '{}'",
                        shown(&t)
                    ),
                ));
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tok(s: &str) -> Token<'_> {
        Token { text: s, start: 0 }
    }

    #[test]
    fn flags_semantics() {
        let f = |s| match parse("flags", Some(tok(s)), 0).unwrap() {
            HeaderTest::Flags(b) => b,
            _ => unreachable!(),
        };
        assert!(f("S").matches(0x02));
        assert!(!f("S").matches(0x12));
        assert!(f("S,12").matches(0x02 | 0xc0));
        assert!(f("S+").matches(0x12) || f("+S").matches(0x12));
        assert!(f("*SA").matches(0x10));
        assert!(f("!R").matches(0x10));
        assert!(!f("!R").matches(0x14));
        assert!(f("0").matches(0));
        assert!(parse("flags", Some(tok("X")), 0).is_err());
    }

    #[test]
    fn numbers_and_opts() {
        let n = |s| parse_num(tok(s), 255, "x").unwrap();
        assert!(n("<5").matches(4) && !n("<5").matches(5));
        assert!(n("3-6").matches(4) && !n("3-6").matches(3));
        assert!(n("0x10").matches(16));
        assert!(parse_num(tok("300"), 255, "x").is_err());
        assert!(has_ipopt(&[1, 7, 3, 0], Some(7)));
        assert!(!has_ipopt(&[1, 1, 0, 7], Some(7)));
        assert!(has_ipopt(&[1], None));
        assert!(!has_ipopt(&[], None));
    }
}
