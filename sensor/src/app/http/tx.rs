//! The inspection points of an HTTP transaction and the buffers each offers.
//!
//! Suricata names the buffers after libhtp's transaction fields; this module maps a parsed
//! request and response onto them. At the request point only the request exists; at the
//! response point the response's buffers come first and the request contributes the kinds
//! that only requests have (see `app`'s module doc).

use signatures::{AppBuffer, BufferKind};

use super::eve;
use super::message::Message;
use crate::app::{Buffers, Transaction};

/// One side of an HTTP transaction, ready to inspect (and, at the response point, to log).
#[derive(Debug)]
pub struct HttpTx<'a> {
    /// The request; `None` for a response that came without one.
    pub(crate) req: Option<&'a Message>,
    /// The response; `None` at the request point and for a request whose response never
    /// came (reported when the flow ends).
    pub(crate) resp: Option<&'a Message>,
    /// True at the request point.
    pub(crate) to_server: bool,
    /// Whether this point writes the `http` record.
    pub(crate) log: bool,
}

fn push<'s>(out: &mut Buffers<'s>, kind: BufferKind, data: &'s [u8]) {
    // MAX_BUFFERS leaves room for every HTTP kind, so this never drops in practice.
    let _ = out.push(AppBuffer { kind, data });
}

fn push_header<'s>(out: &mut Buffers<'s>, m: &'s Message, kind: BufferKind, name: &[u8]) {
    if let Some(v) = m.header(name) {
        push(out, kind, v);
    }
}

/// Buffers both sides have, from `m` (`request` tells which side it is).
fn common<'s>(out: &mut Buffers<'s>, m: &'s Message, request: bool) {
    push(out, BufferKind::HttpHeader, m.derived_span(m.header_buf));
    push(out, BufferKind::HttpHeaderRaw, m.raw_headers());
    push(
        out,
        BufferKind::HttpHeaderNames,
        m.derived_span(m.header_names),
    );
    push(out, BufferKind::HttpStart, m.derived_span(m.start));
    let proto = if request { m.field(2) } else { m.field(0) };
    if !proto.is_empty() {
        push(out, BufferKind::HttpProtocol, proto);
    }
    push_header(out, m, BufferKind::HttpContentType, b"content-type");
    push_header(out, m, BufferKind::HttpContentLen, b"content-length");
    push_header(out, m, BufferKind::HttpConnection, b"connection");
    push_header(
        out,
        m,
        BufferKind::HttpCookie,
        if request { b"cookie" } else { b"set-cookie" },
    );
    if !m.body.is_empty() {
        push(out, BufferKind::FileData, &m.body);
    }
}

/// Buffers only requests have.
fn request_only<'s>(out: &mut Buffers<'s>, m: &'s Message) {
    if m.has_uri {
        push(out, BufferKind::HttpUriRaw, m.field(1));
    }
    if let Some(u) = m.uri_norm {
        push(out, BufferKind::HttpUri, m.derived_span(u));
    }
    push(out, BufferKind::HttpMethod, m.field(0));
    if let Some(h) = m.host {
        push(out, BufferKind::HttpHost, m.derived_span(h));
    }
    if let Some(h) = m.host_raw {
        push(out, BufferKind::HttpHostRaw, m.derived_span(h));
    }
    push(out, BufferKind::HttpRequestLine, m.start_line());
    push_header(out, m, BufferKind::HttpUserAgent, b"user-agent");
    push_header(out, m, BufferKind::HttpReferer, b"referer");
    push_header(out, m, BufferKind::HttpAccept, b"accept");
    push_header(out, m, BufferKind::HttpAcceptEnc, b"accept-encoding");
    push_header(out, m, BufferKind::HttpAcceptLang, b"accept-language");
    if !m.body.is_empty() {
        push(out, BufferKind::HttpRequestBody, &m.body);
    }
}

impl Transaction for HttpTx<'_> {
    fn event_type(&self) -> &'static str {
        "http"
    }

    fn to_server(&self) -> bool {
        self.to_server
    }

    fn buffers<'s>(&'s self, out: &mut Buffers<'s>) {
        if self.to_server {
            if let Some(req) = self.req {
                request_only(out, req);
                common(out, req, true);
            }
            return;
        }
        if let Some(resp) = self.resp {
            if resp.has_protocol {
                push(out, BufferKind::HttpResponseLine, resp.start_line());
                push(out, BufferKind::HttpStatCode, resp.field(1));
                push(out, BufferKind::HttpStatMsg, resp.field(2));
                common(out, resp, false);
                push_header(out, resp, BufferKind::HttpLocation, b"location");
                push_header(out, resp, BufferKind::HttpServer, b"server");
            }
            if !resp.body.is_empty() {
                push(out, BufferKind::HttpResponseBody, &resp.body);
                if !resp.has_protocol {
                    push(out, BufferKind::FileData, &resp.body);
                }
            }
        }
        if let Some(req) = self.req {
            request_only(out, req);
        }
    }

    fn log(&self) -> bool {
        self.log
    }

    fn write_eve(&self, out: &mut Vec<u8>) -> std::io::Result<()> {
        eve::write(out, self.req, self.resp);
        Ok(())
    }
}
