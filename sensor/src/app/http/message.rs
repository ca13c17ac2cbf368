//! One HTTP message (request or response): its header section as received, the headers as
//! libhtp presents them, the body up to the inspection depth, and the derived buffers.
//!
//! Everything lives in a few `Vec`s owned by the message and reused for the next message, so
//! once a parser is warm no bytes are allocated per packet: lines and headers are spans into
//! those buffers, not owned strings.

use super::uri;

/// A byte range into one of a message's buffers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Span {
    start: u32,
    end: u32,
}

impl Span {
    /// The span `start..end` (saturating at `u32::MAX`, which the caps keep us far from).
    pub(crate) fn new(start: usize, end: usize) -> Span {
        Span {
            start: u32::try_from(start).unwrap_or(u32::MAX),
            end: u32::try_from(end).unwrap_or(u32::MAX),
        }
    }

    /// The bytes of this span in `buf` (empty when out of range).
    pub(crate) fn get<'a>(&self, buf: &'a [u8]) -> &'a [u8] {
        buf.get(self.start as usize..self.end as usize)
            .unwrap_or(&[])
    }
}

/// Most headers kept per message; more are counted as truncated.
pub(crate) const MAX_HEADERS: usize = 128;

/// A parsed message and its derived buffers.
#[derive(Debug, Default)]
pub(crate) struct Message {
    /// Start line and header lines as received, terminators included, up to the header cap.
    pub raw: Vec<u8>,
    /// The start line, without its terminator (into `raw`).
    pub line: Span,
    /// Request: method, URI, protocol. Response: protocol, status, message (into `raw`).
    pub fields: [Span; 3],
    /// Whether the start line had a protocol (a request without one is HTTP/0.9).
    pub has_protocol: bool,
    /// Whether a URI was present on the request line.
    pub has_uri: bool,
    /// A request without protocol and without headers (HTTP/0.9).
    pub http09: bool,
    /// Headers as libhtp keeps them: repeated names combined with `", "` (name into `hdr`,
    /// value into `hdr` too).
    pub headers: Vec<(Span, Span)>,
    /// Header names and values after unfolding and combining.
    pub hdr: Vec<u8>,
    /// Scratch list of header lines before combining (name, value) into `hdr`.
    lines: Vec<(Span, Span)>,
    /// Derived buffers (normalised URI, host, http.header, ...).
    pub derived: Vec<u8>,
    /// Normalised URI (into `derived`), when the request had one.
    pub uri_norm: Option<Span>,
    /// Normalised host name (into `derived`).
    pub host: Option<Span>,
    /// Raw host: URI host or the Host header's value (into `derived`).
    pub host_raw: Option<Span>,
    /// Port given in the URI or Host header.
    pub port: Option<u16>,
    /// `http.header` (into `derived`).
    pub header_buf: Span,
    /// `http.header_names` (into `derived`).
    pub header_names: Span,
    /// `http.start` (into `derived`).
    pub start: Span,
    /// The body after de-chunking, up to the inspection depth.
    pub body: Vec<u8>,
    /// Body bytes seen after de-chunking (beyond the depth too).
    pub body_len: u64,
    /// Body bytes as transferred (chunk framing included), libhtp's `message_len`.
    pub message_len: u64,
    /// Header bytes or headers that did not fit.
    pub truncated: bool,
    /// Scratch for URI normalisation.
    scratch: Vec<u8>,
}

fn trim_ows(mut t: &[u8]) -> &[u8] {
    while let Some((f, rest)) = t.split_first() {
        if *f == b' ' || *f == b'\t' {
            t = rest;
        } else {
            break;
        }
    }
    while let Some((l, rest)) = t.split_last() {
        if matches!(*l, b' ' | b'\t' | b'\r' | b'\n' | 0x0b | 0x0c) {
            t = rest;
        } else {
            break;
        }
    }
    t
}

fn strip_eol(line: &[u8]) -> &[u8] {
    let l = line.strip_suffix(b"\n").unwrap_or(line);
    l.strip_suffix(b"\r").unwrap_or(l)
}

/// Records the logical line at `hdr[ls..]` whose name ends at `ne` (== `ls` without colon).
fn finish_line(
    hdr: &[u8],
    lines: &mut Vec<(Span, Span)>,
    truncated: &mut bool,
    ls: usize,
    ne: usize,
) {
    let le = hdr.len();
    let line = hdr.get(ls..le).unwrap_or(&[]);
    let has_colon = hdr.get(ne) == Some(&b':');
    let (name, value) = if has_colon {
        let name = hdr.get(ls..ne).unwrap_or(&[]);
        let mut n_end = name.len();
        while n_end > 0 && matches!(name.get(n_end - 1), Some(b' ' | b'\t')) {
            n_end -= 1;
        }
        let vstart = ne + 1;
        let v = hdr.get(vstart..le).unwrap_or(&[]);
        let tv = trim_ows(v);
        let off = tv.as_ptr() as usize - v.as_ptr() as usize;
        (
            Span::new(ls, ls + n_end),
            Span::new(vstart + off, vstart + off + tv.len()),
        )
    } else {
        let tv = trim_ows(line);
        let off = tv.as_ptr() as usize - line.as_ptr() as usize;
        (Span::new(ls, ls), Span::new(ls + off, ls + off + tv.len()))
    };
    if lines.len() < MAX_HEADERS * 2 {
        lines.push((name, value));
    } else {
        *truncated = true;
    }
}

impl Message {
    /// Forgets the message, keeping capacity.
    pub(crate) fn clear(&mut self) {
        self.raw.clear();
        self.line = Span::default();
        self.fields = [Span::default(); 3];
        self.has_protocol = false;
        self.has_uri = false;
        self.http09 = false;
        self.headers.clear();
        self.hdr.clear();
        self.lines.clear();
        self.derived.clear();
        self.uri_norm = None;
        self.host = None;
        self.host_raw = None;
        self.port = None;
        self.header_buf = Span::default();
        self.header_names = Span::default();
        self.start = Span::default();
        self.body.clear();
        self.body_len = 0;
        self.message_len = 0;
        self.truncated = false;
    }

    /// Bytes of a span into `derived`.
    pub(crate) fn derived_span(&self, s: Span) -> &[u8] {
        s.get(&self.derived)
    }

    /// Request method or response protocol.
    pub(crate) fn field(&self, i: usize) -> &[u8] {
        self.fields.get(i).map_or(&[][..], |s| s.get(&self.raw))
    }

    /// The start line.
    pub(crate) fn start_line(&self) -> &[u8] {
        self.line.get(&self.raw)
    }

    /// The raw header lines after the start line, final empty line included.
    pub(crate) fn raw_headers(&self) -> &[u8] {
        let end = self.line.end as usize;
        let rest = self.raw.get(end..).unwrap_or(&[]);
        // Skip the start line's terminator.
        let skip = rest
            .iter()
            .position(|&c| c == b'\n')
            .map_or(rest.len(), |p| p + 1);
        rest.get(skip..).unwrap_or(&[])
    }

    /// Value of a header (case-insensitive name), combined as libhtp does.
    pub(crate) fn header(&self, name: &[u8]) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n.get(&self.hdr).eq_ignore_ascii_case(name))
            .map(|(_, v)| v.get(&self.hdr))
    }

    /// Parses the start line (the first line of `raw`). `request` picks the field layout.
    pub(crate) fn parse_start_line(&mut self, request: bool) {
        let end = self
            .raw
            .iter()
            .position(|&c| c == b'\n')
            .unwrap_or(self.raw.len());
        let line = strip_eol(self.raw.get(..end + 1).unwrap_or(&self.raw));
        let line_len = line.len();
        self.line = Span::new(0, line_len);
        let is_ws = |c: &u8| *c == b' ' || *c == b'\t';
        // Leading whitespace is ignored (libhtp IDS personality).
        let mut i = line.iter().position(|c| !is_ws(c)).unwrap_or(line_len);
        let f0s = i;
        while i < line_len && line.get(i).is_some_and(|c| !is_ws(c)) {
            i += 1;
        }
        self.fields[0] = Span::new(f0s, i);
        while i < line_len && line.get(i).is_some_and(is_ws) {
            i += 1;
        }
        let f1s = i;
        if request {
            // The URI runs to the last whitespace-separated word when a protocol follows.
            while i < line_len && line.get(i).is_some_and(|c| !is_ws(c)) {
                i += 1;
            }
        } else {
            while i < line_len && line.get(i).is_some_and(|c| !is_ws(c)) {
                i += 1;
            }
        }
        self.fields[1] = Span::new(f1s, i);
        self.has_uri = request && i > f1s;
        while i < line_len && line.get(i).is_some_and(is_ws) {
            i += 1;
        }
        let mut e = line_len;
        while e > i && line.get(e - 1).is_some_and(is_ws) {
            e -= 1;
        }
        self.fields[2] = Span::new(i, e.max(i));
        self.has_protocol = if request { e > i } else { f0s < line_len };
    }

    /// Builds the header list from the raw header lines: unfolds continuation lines, splits
    /// at the first colon, trims values and combines repeated names with `", "`.
    pub(crate) fn parse_headers(&mut self) {
        self.hdr.clear();
        self.lines.clear();
        self.headers.clear();
        let start = self.raw.len() - self.raw_headers().len();
        let mut pos = start;
        let raw_len = self.raw.len();
        // Pass 1: logical header lines into `hdr` as (name, value).
        let mut cur: Option<(usize, usize)> = None; // (line start in hdr, name end in hdr)
        while pos < raw_len {
            let rest = self.raw.get(pos..).unwrap_or(&[]);
            let nl = rest
                .iter()
                .position(|&c| c == b'\n')
                .map_or(rest.len(), |p| p + 1);
            let line = strip_eol(rest.get(..nl).unwrap_or(&[]));
            pos += nl;
            if line.is_empty() {
                break;
            }
            let folded = matches!(line.first(), Some(b' ' | b'\t')) && cur.is_some();
            if folded {
                self.hdr.extend_from_slice(line);
                continue;
            }
            if let Some((ls, ne)) = cur.take() {
                finish_line(&self.hdr, &mut self.lines, &mut self.truncated, ls, ne);
            }
            let ls = self.hdr.len();
            self.hdr.extend_from_slice(line);
            let ne = line.iter().position(|&c| c == b':').map_or(ls, |c| ls + c);
            cur = Some((ls, ne));
        }
        if let Some((ls, ne)) = cur.take() {
            finish_line(&self.hdr, &mut self.lines, &mut self.truncated, ls, ne);
        }
        // Pass 2: combine repeated names, first occurrence's name and order.
        let n = self.lines.len();
        for i in 0..n {
            let Some(&(name_i, val_i)) = self.lines.get(i) else {
                break;
            };
            let seen = self.lines.iter().take(i).any(|(nj, _)| {
                nj.get(&self.hdr)
                    .eq_ignore_ascii_case(name_i.get(&self.hdr))
            });
            if seen {
                continue;
            }
            let dups = self
                .lines
                .iter()
                .skip(i + 1)
                .filter(|(nj, _)| {
                    nj.get(&self.hdr)
                        .eq_ignore_ascii_case(name_i.get(&self.hdr))
                })
                .count();
            if dups == 0 {
                if self.headers.len() < MAX_HEADERS {
                    self.headers.push((name_i, val_i));
                } else {
                    self.truncated = true;
                }
                continue;
            }
            let vs = self.hdr.len();
            let mut first = true;
            for j in i..n {
                let Some(&(nj, vj)) = self.lines.get(j) else {
                    break;
                };
                if !nj
                    .get(&self.hdr)
                    .eq_ignore_ascii_case(name_i.get(&self.hdr))
                {
                    continue;
                }
                if !first {
                    self.hdr.extend_from_slice(b", ");
                }
                first = false;
                let (a, b) = (vj.start as usize, vj.end as usize);
                self.hdr.extend_from_within(a..b.min(vs));
            }
            let ve = self.hdr.len();
            if self.headers.len() < MAX_HEADERS {
                self.headers.push((name_i, Span::new(vs, ve)));
            } else {
                self.truncated = true;
            }
        }
    }

    /// Builds the derived buffers once the header section is complete.
    pub(crate) fn derive(&mut self, request: bool, connect: bool) {
        self.derived.clear();
        // http.header: "Name: value\r\n" per header, Cookie / Set-Cookie left out.
        let skip: &[u8] = if request { b"cookie" } else { b"set-cookie" };
        let s = self.derived.len();
        for (n, v) in &self.headers {
            let name = n.get(&self.hdr);
            if name.eq_ignore_ascii_case(skip) {
                continue;
            }
            self.derived.extend_from_slice(name);
            self.derived.extend_from_slice(b": ");
            self.derived.extend_from_slice(v.get(&self.hdr));
            self.derived.extend_from_slice(b"\r\n");
        }
        self.header_buf = Span::new(s, self.derived.len());
        // http.header_names: "\r\n" + "Name\r\n" per header + "\r\n".
        let s = self.derived.len();
        self.derived.extend_from_slice(b"\r\n");
        for (n, _) in &self.headers {
            self.derived.extend_from_slice(n.get(&self.hdr));
            self.derived.extend_from_slice(b"\r\n");
        }
        self.derived.extend_from_slice(b"\r\n");
        self.header_names = Span::new(s, self.derived.len());
        // http.start: start line, every header, empty line.
        let s = self.derived.len();
        self.derived.extend_from_slice(self.line.get(&self.raw));
        self.derived.extend_from_slice(b"\r\n");
        for (n, v) in &self.headers {
            self.derived.extend_from_slice(n.get(&self.hdr));
            self.derived.extend_from_slice(b": ");
            self.derived.extend_from_slice(v.get(&self.hdr));
            self.derived.extend_from_slice(b"\r\n");
        }
        self.derived.extend_from_slice(b"\r\n");
        self.start = Span::new(s, self.derived.len());
        if !request {
            return;
        }
        // URI, host, port.
        let uri_span = self.fields[1];
        let uri_bytes = uri_span.get(&self.raw);
        let parts = uri::split(uri_bytes, connect);
        if self.has_uri {
            let s = self.derived.len();
            uri::push_normalized(&mut self.derived, uri_bytes, &parts, &mut self.scratch);
            self.uri_norm = Some(Span::new(s, self.derived.len()));
        }
        let get = |r: (usize, usize)| uri_bytes.get(r.0..r.1).unwrap_or(&[]);
        if let Some(h) = parts.host {
            let s = self.derived.len();
            uri::push_host(&mut self.derived, get(h));
            let e = self.derived.len();
            self.host = Some(Span::new(s, e));
            self.host_raw = Some(Span::new(s, e));
            self.port = parts.port.and_then(|p| uri::parse_port(get(p)));
        } else if let Some(hv) = self
            .headers
            .iter()
            .find_map(|(n, v)| n.get(&self.hdr).eq_ignore_ascii_case(b"host").then_some(*v))
        {
            let value = hv.get(&self.hdr);
            let s = self.derived.len();
            self.derived.extend_from_slice(value);
            self.host_raw = Some(Span::new(s, self.derived.len()));
            let (h, p) = uri::host_port_spans(value, 0, value.len());
            if let Some(h) = h {
                // libhtp 0.5 (as Suricata 7.0.10 shows) lowercases a Host header's name
                // only when it carries no port, and keeps trailing dots either way.
                let name = value.get(h.0..h.1).unwrap_or(&[]);
                let s = self.derived.len();
                if p.is_some() {
                    self.derived.extend_from_slice(name);
                } else {
                    self.derived.extend(name.iter().map(u8::to_ascii_lowercase));
                }
                self.host = Some(Span::new(s, self.derived.len()));
            }
            self.port = p.and_then(|p| uri::parse_port(value.get(p.0..p.1).unwrap_or(&[])));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(raw: &[u8], request: bool) -> Message {
        let mut m = Message::default();
        m.raw.extend_from_slice(raw);
        m.parse_start_line(request);
        m.parse_headers();
        m.derive(request, false);
        m
    }

    #[test]
    fn headers_fold_trim_and_combine() {
        let m = msg(
            b"GET /x HTTP/1.1\r\nHost: A.example.COM.:8080\r\nX-A:  one \r\nCookie: c=1\r\nx-a: two\r\nX-F: a\r\n\tb\r\n\r\n",
            true,
        );
        assert_eq!(m.field(0), b"GET");
        assert_eq!(m.field(1), b"/x");
        assert_eq!(m.field(2), b"HTTP/1.1");
        assert_eq!(m.header(b"x-a"), Some(&b"one, two"[..]));
        assert_eq!(m.header(b"X-F"), Some(&b"a\tb"[..]));
        // With a port, libhtp keeps the Host header's name as sent.
        assert_eq!(
            m.derived_span(m.host.unwrap_or_default()),
            b"A.example.COM."
        );
        assert_eq!(m.port, Some(8080));
        assert_eq!(
            m.derived_span(m.header_buf),
            &b"Host: A.example.COM.:8080\r\nX-A: one, two\r\nX-F: a\tb\r\n"[..]
        );
        assert_eq!(
            m.derived_span(m.header_names),
            &b"\r\nHost\r\nX-A\r\nCookie\r\nX-F\r\n\r\n"[..]
        );
        assert!(m
            .derived_span(m.start)
            .starts_with(b"GET /x HTTP/1.1\r\nHost: "));
        assert!(m.derived_span(m.start).ends_with(b"X-F: a\tb\r\n\r\n"));
        assert_eq!(m.raw_headers().len(), m.raw.len() - 17);
    }

    #[test]
    fn response_line_fields() {
        let m = msg(b"HTTP/1.1 404 Not Found\r\nServer: x\r\n\r\n", false);
        assert_eq!(m.field(0), b"HTTP/1.1");
        assert_eq!(m.field(1), b"404");
        assert_eq!(m.field(2), b"Not Found");
        assert_eq!(m.start_line(), b"HTTP/1.1 404 Not Found");
    }
}
