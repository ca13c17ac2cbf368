//! The EVE `dns` object, version 2, as Suricata 7.0 writes it (`rust/src/dns/log.rs` and
//! `src/output-json-dns.c` with the default configuration: queries and answers, every
//! record type, both the detailed and the grouped answer formats).
//!
//! A query record describes one question: `{"version":2,"type":"query","id":..,"rrname":..,
//! "rrtype":..,"tx_id":..,"opcode":..}`. Suricata writes one such record per question of a
//! message; the sensor writes the first question only (the interface gives one record per
//! inspection point, and a DNS query with several questions is essentially unknown on port
//! 53). An answer record describes a whole response: header flags, the first question, the
//! rcode, every answer entry (`answers`), the same grouped by type (`grouped`, keys in order
//! of first appearance where Suricata's order is that of a hash map) and the authority
//! entries (`authorities`); the additional section is not logged.
//!
//! Writing allocates nothing beyond `out`'s growth: names are decompressed into a stack
//! buffer and escaped from there.

use std::io::Write;

use super::message::{Entries, Entry, Message, Name, NameBuf, Rdata};
use crate::app::json_bytes;

/// Most entries logged per section. Suricata logs them all, but an entry repeats its owner
/// name, which a pointer makes cost two bytes on the wire and up to 1025 in the log, and a
/// TXT record of empty strings gives an entry per byte: a 64 KiB message could otherwise
/// make a record of tens of megabytes. Real responses (an AXFR message included) stay far
/// below this.
pub const MAX_LOGGED_ENTRIES: usize = 1024;

/// Suricata's name for a record type, or `None` where it prints the number.
pub fn rrtype_name(t: u16) -> Option<&'static str> {
    Some(match t {
        1 => "A",
        2 => "NS",
        3 => "ND", // sic: Suricata 7 prints MD as "ND"
        4 => "MF",
        5 => "CNAME",
        6 => "SOA",
        7 => "MB",
        8 => "MG",
        9 => "MR",
        10 => "NULL",
        11 => "WKS",
        12 => "PTR",
        13 => "HINFO",
        14 => "MINFO",
        15 => "MX",
        16 => "TXT",
        17 => "RP",
        18 => "AFSDB",
        19 => "X25",
        20 => "ISDN",
        21 => "RT",
        22 => "NSAP",
        23 => "NSAPPT", // sic
        24 => "SIG",
        25 => "KEY",
        26 => "PX",
        27 => "GPOS",
        28 => "AAAA",
        29 => "LOC",
        30 => "NXT",
        33 => "SRV",
        34 => "ATMA",
        35 => "NAPTR",
        36 => "KX",
        37 => "CERT",
        38 => "A6",
        39 => "DNAME",
        41 => "OPT",
        42 => "APL",
        43 => "DS",
        44 => "SSHFP",
        45 => "IPSECKEY",
        46 => "RRSIG",
        47 => "NSEC",
        48 => "DNSKEY",
        49 => "DHCID",
        50 => "NSEC3",
        51 => "NSEC3PARAM",
        52 => "TLSA",
        55 => "HIP",
        59 => "CDS",
        60 => "CDSNKEY", // sic
        65 => "HTTPS",
        99 => "SPF",
        249 => "TKEY",
        250 => "TSIG",
        254 => "MAILA",
        255 => "ANY",
        256 => "URI",
        _ => return None,
    })
}

/// Suricata's name for a 4-bit rcode, or `None` where it prints the number.
pub fn rcode_name(rcode: u8) -> Option<&'static str> {
    Some(match rcode {
        0 => "NOERROR",
        1 => "FORMERR",
        2 => "SERVFAIL",
        3 => "NXDOMAIN",
        4 => "NOTIMP",
        5 => "REFUSED",
        6 => "YXDOMAIN",
        7 => "YXRRSET",
        8 => "NXRRSET",
        9 => "NOTAUTH",
        10 => "NOTZONE",
        _ => return None,
    })
}

fn key(out: &mut Vec<u8>, k: &str) {
    out.push(b'"');
    out.extend_from_slice(k.as_bytes());
    out.extend_from_slice(b"\":");
}

fn num(out: &mut Vec<u8>, k: &str, v: u64) -> std::io::Result<()> {
    key(out, k);
    write!(out, "{v}")
}

fn rrtype_str(out: &mut Vec<u8>, t: u16) -> std::io::Result<()> {
    match rrtype_name(t) {
        Some(n) => {
            out.push(b'"');
            out.extend_from_slice(n.as_bytes());
            out.push(b'"');
            Ok(())
        }
        None => write!(out, "\"{t}\""),
    }
}

/// Writes `"k":"name"` and, when the name was cut, `,"k_truncated":true`.
fn name_field(out: &mut Vec<u8>, buf: &mut NameBuf, k: &str, name: &Name<'_>) {
    let flags = name.to_buf(buf);
    key(out, k);
    json_bytes(out, buf.as_bytes());
    if flags.truncated {
        out.extend_from_slice(b",\"");
        out.extend_from_slice(k.as_bytes());
        out.extend_from_slice(b"_truncated\":true");
    }
}

/// An address as Suricata prints it: dotted quad, eight uncompressed groups of four hex
/// digits, or nothing for any other length.
fn addr(out: &mut Vec<u8>, a: &[u8]) -> std::io::Result<()> {
    out.push(b'"');
    match a {
        [a, b, c, d] => write!(out, "{a}.{b}.{c}.{d}")?,
        _ if a.len() == 16 => {
            for (i, pair) in a.chunks(2).enumerate() {
                if i > 0 {
                    out.push(b':');
                }
                for b in pair {
                    write!(out, "{b:02x}")?;
                }
            }
        }
        _ => {}
    }
    out.push(b'"');
    Ok(())
}

fn soa(out: &mut Vec<u8>, buf: &mut NameBuf, d: &Rdata<'_>) -> std::io::Result<()> {
    if let Rdata::Soa {
        mname,
        rname,
        serial,
        refresh,
        retry,
        expire,
        minimum,
    } = d
    {
        out.push(b'{');
        name_field(out, buf, "mname", mname);
        out.push(b',');
        name_field(out, buf, "rname", rname);
        for (k, v) in [
            ("serial", serial),
            ("refresh", refresh),
            ("retry", retry),
            ("expire", expire),
            ("minimum", minimum),
        ] {
            out.push(b',');
            num(out, k, u64::from(*v))?;
        }
        out.push(b'}');
    }
    Ok(())
}

fn sshfp(out: &mut Vec<u8>, algo: u8, fp_type: u8, fp: &[u8]) -> std::io::Result<()> {
    key(out, "fingerprint");
    out.push(b'"');
    for (i, b) in fp.iter().enumerate() {
        if i > 0 {
            out.push(b':');
        }
        write!(out, "{b:02x}")?;
    }
    out.extend_from_slice(b"\",");
    num(out, "algo", u64::from(algo))?;
    out.push(b',');
    num(out, "type", u64::from(fp_type))
}

fn srv(out: &mut Vec<u8>, buf: &mut NameBuf, d: &Rdata<'_>) -> std::io::Result<()> {
    if let Rdata::Srv {
        priority,
        weight,
        port,
        target,
    } = d
    {
        out.push(b'{');
        num(out, "priority", u64::from(*priority))?;
        out.push(b',');
        num(out, "weight", u64::from(*weight))?;
        out.push(b',');
        num(out, "port", u64::from(*port))?;
        out.push(b',');
        let _ = target.to_buf(buf);
        key(out, "name");
        json_bytes(out, buf.as_bytes());
        out.push(b'}');
    }
    Ok(())
}

/// One entry of `answers` or `authorities`.
fn detail(out: &mut Vec<u8>, buf: &mut NameBuf, e: &Entry<'_>) -> std::io::Result<()> {
    out.push(b'{');
    name_field(out, buf, "rrname", &e.name);
    out.push(b',');
    key(out, "rrtype");
    rrtype_str(out, e.rrtype)?;
    out.push(b',');
    num(out, "ttl", u64::from(e.ttl))?;
    match &e.data {
        Rdata::Addr(a) => {
            out.push(b',');
            key(out, "rdata");
            addr(out, a)?;
        }
        Rdata::Name(n) => {
            out.push(b',');
            name_field(out, buf, "rdata", n);
        }
        Rdata::Txt(b) | Rdata::Null(b) => {
            out.push(b',');
            key(out, "rdata");
            json_bytes(out, b);
        }
        d @ Rdata::Soa { .. } => {
            out.push(b',');
            key(out, "soa");
            soa(out, buf, d)?;
        }
        Rdata::Sshfp {
            algo,
            fp_type,
            fingerprint,
        } => {
            out.push(b',');
            key(out, "sshfp");
            out.push(b'{');
            sshfp(out, *algo, *fp_type, fingerprint)?;
            out.push(b'}');
        }
        d @ Rdata::Srv { .. } => {
            out.push(b',');
            key(out, "srv");
            srv(out, buf, d)?;
        }
        Rdata::Other(_) => {}
    }
    out.push(b'}');
    Ok(())
}

/// The value an entry adds to `grouped`, if its type is grouped.
fn grouped_value(out: &mut Vec<u8>, buf: &mut NameBuf, e: &Entry<'_>) -> std::io::Result<()> {
    match &e.data {
        Rdata::Addr(a) => addr(out, a),
        Rdata::Name(n) => {
            let _ = n.to_buf(buf);
            json_bytes(out, buf.as_bytes());
            Ok(())
        }
        Rdata::Txt(b) | Rdata::Null(b) => {
            json_bytes(out, b);
            Ok(())
        }
        d @ Rdata::Soa { .. } => soa(out, buf, d),
        Rdata::Sshfp {
            algo,
            fp_type,
            fingerprint,
        } => {
            out.push(b'{');
            sshfp(out, *algo, *fp_type, fingerprint)?;
            out.push(b'}');
            Ok(())
        }
        d @ Rdata::Srv { .. } => srv(out, buf, d),
        Rdata::Other(_) => Ok(()),
    }
}

fn entries_array(
    out: &mut Vec<u8>,
    buf: &mut NameBuf,
    k: &str,
    entries: Entries<'_>,
) -> std::io::Result<()> {
    out.push(b',');
    key(out, k);
    out.push(b'[');
    for (i, e) in entries.take(MAX_LOGGED_ENTRIES).enumerate() {
        if i > 0 {
            out.push(b',');
        }
        detail(out, buf, &e)?;
    }
    out.push(b']');
    Ok(())
}

/// `"grouped":{"A":[..],"CNAME":[..]}`: one key per grouped record type, in order of first
/// appearance. At most 11 types have a grouped form, so the key list fits on the stack.
fn grouped(out: &mut Vec<u8>, buf: &mut NameBuf, msg: &Message<'_>) -> std::io::Result<()> {
    let mut types: heapless::Vec<u16, 16> = heapless::Vec::new();
    for e in msg.answers().take(MAX_LOGGED_ENTRIES) {
        if !matches!(e.data, Rdata::Other(_)) && !types.contains(&e.rrtype) {
            let _ = types.push(e.rrtype);
        }
    }
    out.push(b',');
    key(out, "grouped");
    out.push(b'{');
    for (i, t) in types.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        rrtype_str(out, *t)?;
        out.extend_from_slice(b":[");
        let mut first = true;
        let group = msg.answers().take(MAX_LOGGED_ENTRIES);
        for e in group.filter(|e| e.rrtype == *t) {
            if !first {
                out.push(b',');
            }
            first = false;
            grouped_value(out, buf, &e)?;
        }
        out.push(b']');
    }
    out.push(b'}');
    Ok(())
}

/// Writes `"dns":{...}` for a request: its first question, or nothing without one (the
/// caller does not log those).
pub fn write_query(out: &mut Vec<u8>, msg: &Message<'_>, tx_id: u64) -> std::io::Result<()> {
    let Some(q) = msg.questions().next() else {
        return Ok(());
    };
    let h = msg.header();
    let mut buf = NameBuf::default();
    out.extend_from_slice(b"\"dns\":{\"version\":2,\"type\":\"query\",");
    num(out, "id", u64::from(h.id))?;
    out.push(b',');
    name_field(out, &mut buf, "rrname", &q.name);
    out.push(b',');
    key(out, "rrtype");
    rrtype_str(out, q.rrtype)?;
    out.push(b',');
    num(out, "tx_id", tx_id)?;
    if h.flags & 0x0040 != 0 {
        out.extend_from_slice(b",\"z\":true");
    }
    out.push(b',');
    num(out, "opcode", u64::from(h.opcode()))?;
    out.push(b'}');
    Ok(())
}

/// Writes `"dns":{...}` for a response.
pub fn write_answer(out: &mut Vec<u8>, msg: &Message<'_>) -> std::io::Result<()> {
    let h = msg.header();
    let mut buf = NameBuf::default();
    out.extend_from_slice(b"\"dns\":{\"version\":2,\"type\":\"answer\",");
    num(out, "id", u64::from(h.id))?;
    write!(out, ",\"flags\":\"{:x}\"", h.flags)?;
    for (bit, name) in [
        (0x8000, "qr"),
        (0x0400, "aa"),
        (0x0200, "tc"),
        (0x0100, "rd"),
        (0x0080, "ra"),
        (0x0040, "z"),
    ] {
        if h.flags & bit != 0 {
            write!(out, ",\"{name}\":true")?;
        }
    }
    out.push(b',');
    num(out, "opcode", u64::from(h.opcode()))?;
    if let Some(q) = msg.questions().next() {
        out.push(b',');
        name_field(out, &mut buf, "rrname", &q.name);
        out.push(b',');
        key(out, "rrtype");
        rrtype_str(out, q.rrtype)?;
    }
    out.push(b',');
    key(out, "rcode");
    match rcode_name(h.rcode()) {
        Some(n) => write!(out, "\"{n}\"")?,
        None => write!(out, "\"{}\"", h.rcode())?,
    }
    if msg.answers().next().is_some() {
        entries_array(out, &mut buf, "answers", msg.answers())?;
        grouped(out, &mut buf, msg)?;
    }
    if msg.authorities().next().is_some() {
        entries_array(out, &mut buf, "authorities", msg.authorities())?;
    }
    out.push(b'}');
    Ok(())
}

/// Whether Suricata writes a record for this message: a request with a question, a
/// response with a question (its answer logger keys on the questions).
pub fn logged(msg: &Message<'_>) -> bool {
    msg.header().qdcount > 0
}
