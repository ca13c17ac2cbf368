//! URI and host normalisation the way Suricata 7 configures libhtp by default.
//!
//! Rules written for Suricata expect `http.uri` to hold libhtp's *normalised* URI, so an
//! evasion such as `/a/./b/%2e%2e/c` meets the same rule as the plain form. The host name of
//! an absolute URI is lowercased and loses trailing dots; a `Host` header's is lowercased only
//! when it has no port (a libhtp 0.5 quirk that Suricata 7.0.10 shows in `http.host` and
//! EVE `hostname`). Suricata 7 runs libhtp with
//! the IDS personality minus lowercasing, which for the path means: percent-decoding (invalid
//! escapes keep their `%`), `%u` decoding, `%2f` and backslashes become `/`, repeated `/`
//! compress to one, UTF-8 is mapped to single bytes (best fit, `?` when there is none), and
//! RFC 3986 dot segments are removed. The query is only percent-decoded (no `+` to space),
//! the fragment likewise. `http.uri` is then `path ["?" query] ["#" fragment]`.

/// A `start..end` pair of offsets.
pub(crate) type Range = (usize, usize);

/// Where the parts of a request target are, as offsets into it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct UriParts {
    /// Host name of an absolute URI (`http://host:port/...`) or of a CONNECT target.
    pub host: Option<(usize, usize)>,
    /// Port text after the host, without the colon.
    pub port: Option<(usize, usize)>,
    /// Path (absent for CONNECT and for an authority-only URI).
    pub path: Option<(usize, usize)>,
    /// Query, without the `?`.
    pub query: Option<(usize, usize)>,
    /// Fragment, without the `#`.
    pub fragment: Option<(usize, usize)>,
}

/// Splits a request target into its parts (libhtp's `htp_parse_uri`, simplified: an absolute
/// URI needs `scheme://`; anything else not starting with `/` is all path).
pub(crate) fn split(uri: &[u8], connect: bool) -> UriParts {
    let mut parts = UriParts::default();
    if connect {
        let (h, p) = host_port_spans(uri, 0, uri.len());
        parts.host = h;
        parts.port = p;
        return parts;
    }
    let mut pos = 0;
    if !uri.starts_with(b"/") {
        if let Some(i) = find(uri, b"://") {
            let scheme_ok = i > 0
                && uri.get(..i).is_some_and(|s| {
                    s.iter()
                        .all(|c| c.is_ascii_alphanumeric() || b"+-.".contains(c))
                });
            if scheme_ok {
                let start = i + 3;
                let rest = uri.get(start..).unwrap_or(&[]);
                let end = start
                    + rest
                        .iter()
                        .position(|c| matches!(c, b'/' | b'?' | b'#'))
                        .unwrap_or(rest.len());
                // Skip user info.
                let auth = uri.get(start..end).unwrap_or(&[]);
                let hstart = auth
                    .iter()
                    .rposition(|&c| c == b'@')
                    .map_or(start, |a| start + a + 1);
                let (h, p) = host_port_spans(uri, hstart, end);
                parts.host = h;
                parts.port = p;
                pos = end;
            }
        }
    }
    let rest = uri.get(pos..).unwrap_or(&[]);
    let path_end = pos
        + rest
            .iter()
            .position(|c| matches!(c, b'?' | b'#'))
            .unwrap_or(rest.len());
    if path_end > pos || pos == 0 {
        parts.path = Some((pos, path_end));
    }
    let mut p = path_end;
    if uri.get(p) == Some(&b'?') {
        let rest = uri.get(p + 1..).unwrap_or(&[]);
        let qend = p + 1 + rest.iter().position(|&c| c == b'#').unwrap_or(rest.len());
        parts.query = Some((p + 1, qend));
        p = qend;
    }
    if uri.get(p) == Some(&b'#') {
        parts.fragment = Some((p + 1, uri.len()));
    }
    parts
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Host and port spans of `buf[start..end]` in `host[:port]` or `[v6]:port` form, with
/// surrounding whitespace trimmed (libhtp's `htp_parse_hostport`).
pub(crate) fn host_port_spans(
    buf: &[u8],
    start: usize,
    end: usize,
) -> (Option<Range>, Option<Range>) {
    let mut s = start;
    let mut e = end.min(buf.len());
    while s < e && buf.get(s).is_some_and(|c| c.is_ascii_whitespace()) {
        s += 1;
    }
    while e > s && buf.get(e - 1).is_some_and(|c| c.is_ascii_whitespace()) {
        e -= 1;
    }
    if s >= e {
        return (None, None);
    }
    let text = buf.get(s..e).unwrap_or(&[]);
    let colon = if text.first() == Some(&b'[') {
        match text.iter().position(|&c| c == b']') {
            Some(close) => text.get(close + 1..).and_then(|r| {
                if r.first() == Some(&b':') {
                    Some(close + 1)
                } else {
                    None
                }
            }),
            None => None,
        }
    } else {
        text.iter().position(|&c| c == b':')
    };
    match colon {
        Some(c) => {
            let host = (c > 0).then_some((s, s + c));
            (host, Some((s + c + 1, e)))
        }
        None => (Some((s, e)), None),
    }
}

/// Parses a port the way libhtp does (digits with optional surrounding whitespace, 1..65535).
pub(crate) fn parse_port(text: &[u8]) -> Option<u16> {
    let t = trim(text);
    if t.is_empty() || !t.iter().all(u8::is_ascii_digit) || t.len() > 5 {
        return None;
    }
    let mut v: u32 = 0;
    for &c in t {
        v = v * 10 + u32::from(c - b'0');
    }
    if (1..65536).contains(&v) {
        u16::try_from(v).ok()
    } else {
        None
    }
}

/// Trims ASCII whitespace on both sides.
pub(crate) fn trim(mut t: &[u8]) -> &[u8] {
    while let Some((f, rest)) = t.split_first() {
        if f.is_ascii_whitespace() {
            t = rest;
        } else {
            break;
        }
    }
    while let Some((l, rest)) = t.split_last() {
        if l.is_ascii_whitespace() {
            t = rest;
        } else {
            break;
        }
    }
    t
}

/// Appends the normalised host (lowercase, trailing dots removed) to `out`.
pub(crate) fn push_host(out: &mut Vec<u8>, host: &[u8]) {
    let mut h = host;
    while let Some((b'.', rest)) = h.split_last() {
        h = rest;
    }
    out.extend(h.iter().map(u8::to_ascii_lowercase));
}

fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

fn hex2(a: Option<&u8>, b: Option<&u8>) -> Option<u8> {
    Some(hex(*a?)? << 4 | hex(*b?)?)
}

/// Best-fit byte for a code point above 0xff: full-width ASCII maps to ASCII, the rest to `?`.
fn best_fit(cp: u32) -> u8 {
    if (0xff01..=0xff5e).contains(&cp) {
        u8::try_from(cp - 0xff01 + 0x21).unwrap_or(b'?')
    } else {
        b'?'
    }
}

/// Appends the normalised path to `out` (decoding, separators, UTF-8 best fit, dot segments).
pub(crate) fn push_path(out: &mut Vec<u8>, path: &[u8], scratch: &mut Vec<u8>) {
    // 1. Percent and %u decoding, backslash conversion, separator compression.
    scratch.clear();
    let mut i = 0;
    let mut prev_sep = false;
    while i < path.len() {
        let c = path.get(i).copied().unwrap_or(0);
        let mut out_c = c;
        if c == b'%' && i + 2 < path.len() {
            let n1 = path.get(i + 1).copied().unwrap_or(0);
            if n1 == b'u' || n1 == b'U' {
                let d = (
                    hex2(path.get(i + 2), path.get(i + 3)),
                    hex2(path.get(i + 4), path.get(i + 5)),
                );
                match d {
                    (Some(hi), Some(lo)) => {
                        out_c = if hi == 0 {
                            lo
                        } else {
                            best_fit(u32::from(hi) << 8 | u32::from(lo))
                        };
                        i += 6;
                    }
                    _ => i += 1,
                }
            } else if let Some(v) = hex2(path.get(i + 1), path.get(i + 2)) {
                out_c = v;
                i += 3;
            } else {
                i += 1;
            }
        } else {
            i += 1;
        }
        if out_c == b'\\' {
            out_c = b'/';
        }
        if out_c == b'/' {
            if !prev_sep {
                scratch.push(b'/');
            }
            prev_sep = true;
        } else {
            scratch.push(out_c);
            prev_sep = false;
        }
    }
    // 2. UTF-8 to single bytes (overlong forms allowed, as libhtp does).
    let decoded_start = scratch.len();
    let mut j = 0;
    while j < decoded_start {
        let b = scratch.get(j).copied().unwrap_or(0);
        let (need, init) = match b {
            0x00..=0x7f => {
                scratch.push(b);
                j += 1;
                continue;
            }
            0xc0..=0xdf => (1, u32::from(b & 0x1f)),
            0xe0..=0xef => (2, u32::from(b & 0x0f)),
            0xf0..=0xf7 => (3, u32::from(b & 0x07)),
            _ => {
                scratch.push(b'?');
                j += 1;
                continue;
            }
        };
        let mut cp = init;
        let mut ok = true;
        for k in 1..=need {
            match scratch.get(j + k) {
                Some(&n) if j + k < decoded_start && n & 0xc0 == 0x80 => {
                    cp = cp << 6 | u32::from(n & 0x3f)
                }
                _ => {
                    ok = false;
                    // The bad byte starts the next character: consume only the lead.
                    scratch.push(b'?');
                    j += k;
                    break;
                }
            }
        }
        if ok {
            scratch.push(if cp < 0x100 {
                u8::try_from(cp).unwrap_or(b'?')
            } else {
                best_fit(cp)
            });
            j += need + 1;
        }
    }
    // 3. Dot segments (RFC 3986 5.2.4).
    let s = scratch.get(decoded_start..).unwrap_or(&[]);
    remove_dot_segments(out, s);
}

fn remove_dot_segments(out: &mut Vec<u8>, mut input: &[u8]) {
    let base = out.len();
    while !input.is_empty() {
        if let Some(r) = input.strip_prefix(b"../") {
            input = r;
        } else if let Some(r) = input.strip_prefix(b"./") {
            input = r;
        } else if input.starts_with(b"/./") {
            input = input.get(2..).unwrap_or(&[]);
        } else if input == b"/." {
            input = b"/";
        } else if input.starts_with(b"/../") || input == b"/.." {
            input = if input.len() == 3 {
                b"/"
            } else {
                input.get(3..).unwrap_or(&[])
            };
            let seg = out
                .get(base..)
                .and_then(|o| o.iter().rposition(|&c| c == b'/'))
                .map_or(base, |p| base + p);
            out.truncate(seg);
        } else if input == b"." || input == b".." {
            input = &[];
        } else {
            let first = usize::from(input.first() == Some(&b'/'));
            let rest = input.get(first..).unwrap_or(&[]);
            let end = first + rest.iter().position(|&c| c == b'/').unwrap_or(rest.len());
            out.extend_from_slice(input.get(..end).unwrap_or(&[]));
            input = input.get(end..).unwrap_or(&[]);
        }
    }
}

/// Appends percent-decoded `text` (invalid escapes keep their `%`, `+` stays).
pub(crate) fn push_urldecoded(out: &mut Vec<u8>, text: &[u8]) {
    let mut i = 0;
    while i < text.len() {
        let c = text.get(i).copied().unwrap_or(0);
        if c == b'%' {
            if let Some(v) = hex2(text.get(i + 1), text.get(i + 2)) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(c);
        i += 1;
    }
}

/// Appends the normalised URI (`path ["?" query] ["#" fragment]`) of `uri` to `out`.
pub(crate) fn push_normalized(
    out: &mut Vec<u8>,
    uri: &[u8],
    parts: &UriParts,
    scratch: &mut Vec<u8>,
) {
    let get = |r: (usize, usize)| uri.get(r.0..r.1).unwrap_or(&[]);
    if let Some(p) = parts.path {
        push_path(out, get(p), scratch);
    }
    if let Some(q) = parts.query {
        out.push(b'?');
        push_urldecoded(out, get(q));
    }
    if let Some(f) = parts.fragment {
        out.push(b'#');
        push_urldecoded(out, get(f));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(uri: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut scratch = Vec::new();
        push_normalized(&mut out, uri, &split(uri, false), &mut scratch);
        out
    }

    #[test]
    fn path_normalisation_like_libhtp_ids() {
        assert_eq!(norm(b"/index.html"), b"/index.html");
        assert_eq!(norm(b"/a/./b/../c"), b"/a/c");
        assert_eq!(norm(b"/a//b\\c"), b"/a/b/c");
        assert_eq!(norm(b"/%41%2fB%2F%5c"), b"/A/B/");
        assert_eq!(norm(b"/%u0041%uff21"), b"/AA");
        assert_eq!(norm(b"/x%zz%4"), b"/x%zz%4");
        assert_eq!(norm(b"/%2e%2e/%2e%2e/etc/passwd"), b"/etc/passwd");
        assert_eq!(norm(b"/caf\xc3\xa9/\xe2\x82\xac"), b"/caf\xe9/?");
        assert_eq!(norm(b"/\xff"), b"/?");
        assert_eq!(norm(b"/p?q=%41+b%2F#fr%41"), b"/p?q=A+b/#frA");
        assert_eq!(norm(b"http://Host.com:8080/a/../b?x"), b"/b?x");
    }

    #[test]
    fn split_absolute_and_connect() {
        let u = b"http://user@Example.com:81/p?q";
        let p = split(u, false);
        assert_eq!(p.host, Some((12, 23)));
        assert_eq!(p.port, Some((24, 26)));
        assert_eq!(p.path, Some((26, 28)));
        let c = b"example.com:443";
        let p = split(c, true);
        assert_eq!(p.host, Some((0, 11)));
        assert_eq!(p.port, Some((12, 15)));
        assert_eq!(p.path, None);
        assert_eq!(
            host_port_spans(b"[::1]:80", 0, 8),
            (Some((0, 5)), Some((6, 8)))
        );
        assert_eq!(parse_port(b" 8080 "), Some(8080));
        assert_eq!(parse_port(b"0"), None);
        assert_eq!(parse_port(b"x"), None);
    }
}
