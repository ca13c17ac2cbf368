//! The EVE `"http":{...}` object, field for field as Suricata 7 writes it with
//! `extended: yes` (its default configuration).
//!
//! Order and types follow Suricata's `EveHttpLogJSONBasic` and `EveHttpLogJSONExtended`:
//! `hostname`, `http_port`, `url`, `http_user_agent`, `http_content_type`, `content_range`,
//! `http_refer`, `http_method`, `protocol`, `status`, `redirect`, `length`. Strings are written
//! the way Suricata's JSON builder writes bytes (`set_string_from_bytes`), by
//! [`crate::app::json_bytes`].

use super::message::Message;
use crate::app::json_bytes as json_str;

fn key(out: &mut Vec<u8>, first: &mut bool, k: &str) {
    if !*first {
        out.push(b',');
    }
    *first = false;
    out.push(b'"');
    out.extend_from_slice(k.as_bytes());
    out.extend_from_slice(b"\":");
}

fn uint(out: &mut Vec<u8>, v: u64) {
    use std::io::Write;
    let _ = write!(out, "{v}");
}

/// Leading decimal digits after optional whitespace (C `strtoul`), 0 when there are none.
fn strtoul(t: &[u8]) -> u64 {
    let mut v: u64 = 0;
    for &c in t.iter().skip_while(|c| c.is_ascii_whitespace()) {
        if !c.is_ascii_digit() {
            break;
        }
        v = v.saturating_mul(10).saturating_add(u64::from(c - b'0'));
    }
    v
}

/// Parses `bytes START-END/SIZE` (`*` for an unknown size) like Suricata's
/// `HTPParseContentRange`: (start, end, size), -1 for a part that is unknown.
fn content_range(v: &[u8]) -> Option<(i64, i64, i64)> {
    let mut t = v;
    while let Some((b' ', r)) = t.split_first() {
        t = r;
    }
    if t.len() >= 5 && t.get(..5).is_some_and(|p| p.eq_ignore_ascii_case(b"bytes")) {
        t = t.get(5..).unwrap_or(&[]);
    }
    while let Some((b' ' | b'=', r)) = t.split_first() {
        t = r;
    }
    let num = |t: &mut &[u8]| -> Option<i64> {
        let n = t.iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 || n > 18 {
            return None;
        }
        let v = std::str::from_utf8(t.get(..n)?).ok()?.parse().ok()?;
        *t = t.get(n..)?;
        Some(v)
    };
    let (start, end) = if let Some(r) = t.strip_prefix(b"*") {
        t = r;
        (-1, -1)
    } else {
        let s = num(&mut t)?;
        t = t.strip_prefix(b"-")?;
        let e = num(&mut t)?;
        (s, e)
    };
    t = t.strip_prefix(b"/")?;
    let size = if t.starts_with(b"*") {
        -1
    } else {
        num(&mut t)?
    };
    Some((start, end, size))
}

/// Writes `"http":{...}` for a transaction.
pub(crate) fn write(out: &mut Vec<u8>, req: Option<&Message>, resp: Option<&Message>) {
    out.extend_from_slice(b"\"http\":{");
    let mut first = true;
    if let Some(r) = req {
        if let Some(h) = r.host {
            key(out, &mut first, "hostname");
            json_str(out, r.derived_span(h));
        }
        if let Some(p) = r.port {
            key(out, &mut first, "http_port");
            uint(out, u64::from(p));
        } else if r.http09 {
            // libhtp leaves the port number at 0 when no header processing happened.
            key(out, &mut first, "http_port");
            out.push(b'0');
        }
        if r.has_uri {
            key(out, &mut first, "url");
            json_str(out, r.field(1));
        }
        if let Some(ua) = r.header(b"user-agent") {
            key(out, &mut first, "http_user_agent");
            json_str(out, ua);
        }
    }
    if req.is_none() {
        // libhtp's placeholder transaction for a response without a request.
        key(out, &mut first, "http_port");
        out.push(b'0');
        key(out, &mut first, "url");
        out.extend_from_slice(b"\"/libhtp::request_uri_not_seen\"");
    }
    if let Some(s) = resp {
        if let Some(ct) = s.header(b"content-type") {
            let end = ct.iter().position(|&c| c == b';').unwrap_or(ct.len());
            key(out, &mut first, "http_content_type");
            json_str(out, ct.get(..end).unwrap_or(ct));
        }
        if let Some(cr) = s.header(b"content-range") {
            key(out, &mut first, "content_range");
            out.extend_from_slice(b"{\"raw\":");
            json_str(out, cr);
            if let Some((st, en, sz)) = content_range(cr) {
                for (k, v) in [("start", st), ("end", en), ("size", sz)] {
                    if let Ok(v) = u64::try_from(v) {
                        out.extend_from_slice(b",\"");
                        out.extend_from_slice(k.as_bytes());
                        out.extend_from_slice(b"\":");
                        uint(out, v);
                    }
                }
            }
            out.push(b'}');
        }
    }
    if let Some(r) = req {
        if let Some(rf) = r.header(b"referer") {
            key(out, &mut first, "http_refer");
            json_str(out, rf);
        }
        key(out, &mut first, "http_method");
        json_str(out, r.field(0));
        if r.has_protocol {
            key(out, &mut first, "protocol");
            json_str(out, r.field(2));
        }
    }
    if let Some(s) = resp {
        if s.has_protocol {
            key(out, &mut first, "status");
            uint(out, strtoul(s.field(1)));
        }
        if let Some(loc) = s.header(b"location") {
            key(out, &mut first, "redirect");
            json_str(out, loc);
        }
    }
    key(out, &mut first, "length");
    uint(out, resp.map_or(0, |s| s.message_len));
    out.push(b'}');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_like_suricata() {
        let mut out = Vec::new();
        json_str(&mut out, b"\xdd\x00\"a\\");
        assert_eq!(out, br#""\\xdd\u0000\"a\\""#.to_vec());
        out.clear();
        json_str(&mut out, "caf\u{e9}".as_bytes());
        assert_eq!(out, "\"caf\u{e9}\"".as_bytes());
    }

    #[test]
    fn content_range_parts() {
        assert_eq!(content_range(b"bytes 0-99/1000"), Some((0, 99, 1000)));
        assert_eq!(content_range(b"bytes */1000"), Some((-1, -1, 1000)));
        assert_eq!(content_range(b"bytes 5-9/*"), Some((5, 9, -1)));
        assert_eq!(content_range(b"junk"), None);
        assert_eq!(strtoul(b" 200x"), 200);
        assert_eq!(strtoul(b"abc"), 0);
    }
}
