//! The EVE `tls` object, field for field as Suricata 7.0's extended tls logger writes it.
//!
//! Order: subject, issuerdn, session_resumed, serial, fingerprint, sni, version, notbefore,
//! notafter, ja3, ja3s, ja4, client. Strings go through [`json_str`], which escapes like
//! Suricata's JsonBuilder (UTF-8 passes through, control bytes become `\uXXXX`); a value
//! that is not UTF-8 (an SNI, say) is left out, as Suricata leaves it out. Names decoded
//! from certificates are always UTF-8. (The shared `json_bytes` escapes every non-ASCII
//! byte, which is right for DNS and HTTP but not what Suricata writes for certificate names.)

use super::cert::{format_time, CertInfo};
use super::{flag, TlsParser};

/// Writes `"tls":{...}`.
pub fn write(p: &TlsParser, out: &mut Vec<u8>) {
    out.extend_from_slice(b"\"tls\":{");
    let mut first = true;
    let s = p.server();
    let c = p.client();
    let cert = &s.cert;
    if let Some(v) = &cert.subject {
        field(out, &mut first, "subject", v.as_bytes());
    }
    if let Some(v) = &cert.issuer {
        field(out, &mut first, "issuerdn", v.as_bytes());
    }
    if p.flags & flag::SESSION_RESUMED != 0
        && cert.subject.is_none()
        && cert.issuer.is_none()
        && p.flags & flag::SERVER_HELLO != 0
        && p.flags & flag::LOG_WITHOUT_CERT == 0
    {
        key(out, &mut first, "session_resumed");
        out.extend_from_slice(b"true");
    }
    if !cert.serial.is_empty() {
        field(out, &mut first, "serial", &cert.serial);
    }
    if !cert.fingerprint.is_empty() {
        field(out, &mut first, "fingerprint", &cert.fingerprint);
    }
    if let Some(sni) = p.sni() {
        field(out, &mut first, "sni", sni);
    }
    field(
        out,
        &mut first,
        "version",
        version_name(s.version).as_bytes(),
    );
    times(out, &mut first, cert);
    if p.config.ja3 {
        for (name, j) in [("ja3", &c.ja3), ("ja3s", &s.ja3)] {
            if j.string().is_none() && j.hash().is_none() {
                continue;
            }
            key(out, &mut first, name);
            out.push(b'{');
            let mut f2 = true;
            if let Some(h) = j.hash() {
                field(out, &mut f2, "hash", h);
            }
            if let Some(st) = j.string() {
                field(out, &mut f2, "string", st);
            }
            out.push(b'}');
        }
    }
    if p.config.ja4 {
        if let Some(ja4) = p.ja4() {
            field(out, &mut first, "ja4", &ja4);
        }
    }
    let cc = &c.cert;
    if cc.subject.is_some() || cc.issuer.is_some() {
        key(out, &mut first, "client");
        out.push(b'{');
        let mut f2 = true;
        if let Some(v) = &cc.subject {
            field(out, &mut f2, "subject", v.as_bytes());
        }
        if let Some(v) = &cc.issuer {
            field(out, &mut f2, "issuerdn", v.as_bytes());
        }
        if !cc.fingerprint.is_empty() {
            field(out, &mut f2, "fingerprint", &cc.fingerprint);
        }
        if !cc.serial.is_empty() {
            field(out, &mut f2, "serial", &cc.serial);
        }
        times(out, &mut f2, cc);
        out.push(b'}');
    }
    out.push(b'}');
}

fn times(out: &mut Vec<u8>, first: &mut bool, cert: &CertInfo) {
    for (name, ts) in [("notbefore", cert.not_before), ("notafter", cert.not_after)] {
        if ts != 0 {
            key(out, first, name);
            out.push(b'"');
            format_time(out, ts);
            out.push(b'"');
        }
    }
}

fn key(out: &mut Vec<u8>, first: &mut bool, name: &str) {
    if !*first {
        out.push(b',');
    }
    *first = false;
    out.push(b'"');
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\":");
}

/// Writes `"name":"value"`, or nothing when the value is not UTF-8 (as Suricata).
fn field(out: &mut Vec<u8>, first: &mut bool, name: &str, value: &[u8]) {
    if std::str::from_utf8(value).is_err() {
        return;
    }
    key(out, first, name);
    json_str(out, value);
}

/// Writes a string as Suricata's JsonBuilder does (the app layer's one writer).
pub fn json_str(out: &mut Vec<u8>, value: &[u8]) {
    crate::app::json_bytes(out, value);
}

/// Suricata's `SSLVersionToString`.
pub fn version_name(v: u16) -> std::borrow::Cow<'static, str> {
    let s = match v {
        0x0000 => "UNDETERMINED",
        0x0200 => "SSLv2",
        0x0300 => "SSLv3",
        0x0301 => "TLSv1",
        0x0302 => "TLS 1.1",
        0x0303 => "TLS 1.2",
        0x0304 => "TLS 1.3",
        0x7f1c => "TLS 1.3 draft-28",
        0x7f1b => "TLS 1.3 draft-27",
        0x7f1a => "TLS 1.3 draft-26",
        0x7f19 => "TLS 1.3 draft-25",
        0x7f18 => "TLS 1.3 draft-24",
        0x7f17 => "TLS 1.3 draft-23",
        0x7f16 => "TLS 1.3 draft-22",
        0x7f15 => "TLS 1.3 draft-21",
        0x7f14 => "TLS 1.3 draft-20",
        0x7f13 => "TLS 1.3 draft-19",
        0x7f12 => "TLS 1.3 draft-18",
        0x7f11 => "TLS 1.3 draft-17",
        0x7f10 => "TLS 1.3 draft-16",
        0x7f01 => "TLS 1.3 draft-<16",
        0xfb14 => "TLS 1.3 draft-20-fb",
        0xfb15 => "TLS 1.3 draft-21-fb",
        0xfb16 => "TLS 1.3 draft-22-fb",
        0xfb17 => "TLS 1.3 draft-23-fb",
        0xfb1a => "TLS 1.3 draft-26-fb",
        _ => return std::borrow::Cow::Owned(format!("0x{v:04x}")),
    };
    std::borrow::Cow::Borrowed(s)
}
