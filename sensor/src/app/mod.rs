//! App layer: protocol detection and incremental DNS, HTTP/1.x and TLS parsers.
//!
//! The flow stage hands this stage bytes in order: whole datagrams for UDP, and for TCP the
//! new bytes of each reassembled stream chunk, per direction, with gaps announced. A parser
//! keeps only what it needs between calls (a partial header line, a partial TLS record) in
//! buffers it owns, bounded by a fixed cap, and reuses them for the whole life of the worker:
//! parsers are pooled, so a new flow takes a parser from the pool rather than allocating.
//!
//! A parser reports its progress as *inspection points*: one side of a transaction is
//! complete (a DNS message, an HTTP request or response, a TLS handshake message flight).
//! At each point the caller
//! 1. runs the rules that inspect app-layer buffers over [`Transaction::buffers`], and
//! 2. writes an EVE record of [`Transaction::event_type`] when [`Transaction::log`] says so,
//!    with [`Transaction::write_eve`] supplying the protocol object (`"dns":{...}`).
//!
//! Alerts raised at that point carry [`Transaction::write_eve`]'s object too, the way
//! Suricata's alert records carry app-layer metadata.
//!
//! # Which buffers an inspection point offers
//! A rule fires at most once per transaction, so each rule has one inspection point: the
//! request side (`to_server`) for rules that use only request buffers, the response side for
//! rules that need a response buffer or say `flow:to_client`. At the request point a
//! transaction offers its request's buffers. At the response point it offers the response's
//! buffers *and* the request's buffers of kinds that only requests have (`http.uri`,
//! `http.method`, `http.host`, `http.user_agent`, `http.cookie`, `http.request_line`, ...),
//! so that a rule on `http.uri` and `http.stat_code` together can match; kinds that both
//! sides have (`http.header`, `http.header_names`, `http.content_type`, `file.data`, ...) are
//! the response's there. DNS and TLS follow the same rule with their own message sides.
//!
//! Parsers never panic on input and never grow without bound: what does not fit their caps is
//! counted by the parser and skipped.

use signatures::{AppBuffer, BufferKind};

pub mod dns;
pub mod http;
mod session;
pub mod tls;

pub use session::{AppLayer, AppLayerCounters, AppSession};

/// The app-layer protocol of a flow, as EVE's `app_proto` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AppProto {
    /// Not decided yet (no payload seen, or still probing).
    #[default]
    Unknown,
    /// HTTP/1.x.
    Http,
    /// TLS (and SSL).
    Tls,
    /// DNS over UDP or TCP.
    Dns,
    /// Payload was seen both ways and no parser recognised it (EVE `"failed"`).
    Failed,
}

impl AppProto {
    /// EVE's `app_proto` value; `None` while unknown (Suricata then omits the field).
    pub fn eve_name(self) -> Option<&'static str> {
        match self {
            AppProto::Unknown => None,
            AppProto::Http => Some("http"),
            AppProto::Tls => Some("tls"),
            AppProto::Dns => Some("dns"),
            AppProto::Failed => Some("failed"),
        }
    }
}

/// App-layer protocols the sensor detects (rules with them in their header load active).
pub const PROVIDED_PROTOCOLS: &[&str] = &["dns", "http", "tls"];

/// Sticky buffers the parsers fill (rules inspecting other buffers load inactive).
pub const PROVIDED_BUFFERS: &[BufferKind] = &[
    BufferKind::DnsQuery,
    BufferKind::FileData,
    BufferKind::HttpAccept,
    BufferKind::HttpAcceptEnc,
    BufferKind::HttpAcceptLang,
    BufferKind::HttpConnection,
    BufferKind::HttpContentLen,
    BufferKind::HttpContentType,
    BufferKind::HttpCookie,
    BufferKind::HttpHeader,
    BufferKind::HttpHeaderNames,
    BufferKind::HttpHeaderRaw,
    BufferKind::HttpHost,
    BufferKind::HttpHostRaw,
    BufferKind::HttpLocation,
    BufferKind::HttpMethod,
    BufferKind::HttpProtocol,
    BufferKind::HttpReferer,
    BufferKind::HttpRequestBody,
    BufferKind::HttpRequestLine,
    BufferKind::HttpResponseBody,
    BufferKind::HttpResponseLine,
    BufferKind::HttpServer,
    BufferKind::HttpStart,
    BufferKind::HttpStatCode,
    BufferKind::HttpStatMsg,
    BufferKind::HttpUri,
    BufferKind::HttpUriRaw,
    BufferKind::HttpUserAgent,
    BufferKind::Ja3Hash,
    BufferKind::Ja3String,
    BufferKind::Ja3sHash,
    BufferKind::Ja3sString,
    BufferKind::Ja4Hash,
    BufferKind::TlsCertFingerprint,
    BufferKind::TlsCertIssuer,
    BufferKind::TlsCertSerial,
    BufferKind::TlsCertSubject,
    BufferKind::TlsCerts,
    BufferKind::TlsSni,
];

/// Most app-layer buffers one inspection point hands to detection (a few tls.certs and the
/// http.* buffers fit with room to spare); more are dropped and counted by the parser.
pub const MAX_BUFFERS: usize = 48;

/// The buffers of one inspection point, on the stack: detection borrows them from the parser.
pub type Buffers<'a> = heapless::Vec<AppBuffer<'a>, MAX_BUFFERS>;

/// One side of a transaction that is ready to inspect and log.
pub trait Transaction {
    /// EVE event type of its record: `"dns"`, `"http"` or `"tls"`.
    fn event_type(&self) -> &'static str;
    /// The direction whose bytes completed this inspection point: true for the client's.
    fn to_server(&self) -> bool;
    /// The sticky buffers rules may inspect at this point, pushed onto `out`.
    fn buffers<'s>(&'s self, out: &mut Buffers<'s>);
    /// Whether an EVE record of [`Transaction::event_type`] is written at this point (HTTP
    /// logs a transaction once, when its response is complete or its flow ends; DNS logs
    /// every message; TLS once per session when the handshake is done).
    fn log(&self) -> bool;
    /// Writes the protocol object, key included, with no surrounding comma:
    /// `"dns":{"type":"query",...}`.
    fn write_eve(&self, out: &mut Vec<u8>) -> std::io::Result<()>;
}

impl std::fmt::Debug for dyn Transaction + '_ {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transaction")
            .field("event_type", &self.event_type())
            .field("to_server", &self.to_server())
            .finish()
    }
}

/// Receives a parser's inspection points as they happen.
pub type TxSink<'s> = dyn FnMut(&dyn Transaction) + 's;

/// What a protocol probe says about the first bytes of a direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    /// The bytes are this protocol.
    Match,
    /// The bytes are not this protocol.
    NoMatch,
    /// Too few bytes to tell; ask again with more.
    NeedMore,
}

/// Counters a parser keeps for the stats record; summed by the worker when a flow ends.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AppCounters {
    /// Inspection points reported (transaction sides).
    pub tx: u64,
    /// Messages that did not parse (the parser resynchronised or gave up on the flow).
    pub parse_errors: u64,
    /// Bytes skipped because they did not fit a cap (header line, record, body depth).
    pub truncated: u64,
    /// Gaps in the stream the parser had to skip.
    pub gaps: u64,
}

/// An incremental parser for one flow, reused through a pool (`reset` keeps its buffers).
///
/// `parse` gets the bytes of one direction in order: for TCP the new bytes of each
/// reassembled chunk, for UDP one whole datagram per call. It never panics and never holds
/// more than its caps, whatever the bytes are.
pub trait AppParser {
    /// Forgets the flow, keeping allocated capacity for the next one.
    fn reset(&mut self);
    /// Feeds bytes of one direction; inspection points go to `sink` as they complete.
    fn parse(&mut self, to_server: bool, data: &[u8], sink: &mut TxSink<'_>);
    /// `len` bytes of this direction are missing (a hole the reassembler gave up on).
    fn gap(&mut self, to_server: bool, len: u64);
    /// The flow ended: reports what is still pending (e.g. an HTTP request without a
    /// response is logged now, as Suricata does).
    fn end(&mut self, sink: &mut TxSink<'_>);
    /// Counters since the last `reset`.
    fn counters(&self) -> AppCounters;
}

/// Writes bytes as a JSON string the way Suricata 7's EVE does (`JsonBuilder::
/// set_string_from_bytes`): bytes that are valid UTF-8 are kept as they are, with JSON
/// escapes for `"`, `\` and control characters (`\b \t \n \f \r`, others `\u00xx`);
/// when the bytes are not valid UTF-8, each byte from 0x80 up becomes the four characters
/// `\xHH` (so the JSON text holds `\\xHH`), and the rest is escaped the same way.
pub fn json_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let utf8 = std::str::from_utf8(bytes).is_ok();
    out.push(b'"');
    for &b in bytes {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            0x08 => out.extend_from_slice(b"\\b"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            0x0c => out.extend_from_slice(b"\\f"),
            b'\r' => out.extend_from_slice(b"\\r"),
            0x00..=0x1f => {
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(b >> 4)]);
                out.push(HEX[usize::from(b & 0xf)]);
            }
            0x80.. if !utf8 => {
                out.extend_from_slice(b"\\\\x");
                out.push(HEX[usize::from(b >> 4)]);
                out.push(HEX[usize::from(b & 0xf)]);
            }
            _ => out.push(b),
        }
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::json_bytes;

    #[test]
    fn json_bytes_escapes_like_suricata() {
        // Not UTF-8: high bytes as the text \xHH, control bytes as JSON escapes.
        let mut out = Vec::new();
        json_bytes(&mut out, b"a\"b\\c\x00\xff\n\x7f");
        let mut want = br#""a\"b\\c\u0000\\xff\n"#.to_vec();
        want.extend_from_slice(b"\x7f\"");
        assert_eq!(out, want);
        let parsed: String = serde_json::from_slice(&out).unwrap();
        assert_eq!(parsed, "a\"b\\c\u{0}\\xff\n\u{7f}");
        // UTF-8: kept as is.
        out.clear();
        json_bytes(&mut out, "h\u{e9}\x08\x0c\x1f".as_bytes());
        assert_eq!(out, "\"h\u{e9}\\b\\f\\u001f\"".as_bytes());
    }
}
