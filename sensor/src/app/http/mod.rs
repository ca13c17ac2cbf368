//! HTTP/1.0 and 1.1 over reassembled TCP streams, as Suricata 7 (libhtp) sees them.
//!
//! Each direction is a byte-driven state machine (start line, header lines, body by
//! `Content-Length`, chunked, or until the connection closes), so any segmentation of the
//! stream yields the same transactions. Requests queue up (pipelining) and responses pair
//! with them in order. What libhtp does that rules depend on is kept: headers repeated under
//! one name are combined with `", "`, folded lines are joined, the URI and host are
//! normalised (see [`uri`]), HEAD / 1xx / 204 / 304 responses have no body, interim 1xx
//! responses are skipped, and after a successful CONNECT or a `101 Switching Protocols`
//! nothing more is parsed (the bytes are another protocol).
//!
//! # Inspection points
//! * Request point (`to_server`, not logged): when the request is complete, that is its
//!   header section ends and it has no body, or its body ended, or its body reached the
//!   inspection depth. Suricata inspects request headers as soon as they arrive and the body
//!   as it grows; reporting once the body is there (or at depth) lets a rule that mixes
//!   `http.uri` and `http.request_body` see both, as it would in Suricata.
//! * Response point (logged): when the response is complete. A response whose body runs to
//!   the end of the connection completes in [`AppParser::end`].
//! * At flow end, a request whose response never came is reported (request point first if
//!   it was still pending) and then logged with no response, as Suricata logs such
//!   transactions when the flow times out.
//!
//! # Bounds
//! The header section of a message is kept up to [`HEADER_CAP`] bytes and [`message::MAX_HEADERS`]
//! headers; bodies up to [`REQUEST_BODY_DEPTH`] / [`RESPONSE_BODY_DEPTH`] (the rest is
//! counted, skipped); at most [`MAX_PENDING`] requests wait for responses. Response bodies
//! in `gzip` / `deflate` content coding are decoded (as libhtp does) up to the depth, so
//! `http.response_body` and `file.data` hold the decoded bytes; `length` in EVE stays the
//! bytes as transferred.
//!
//! # Gaps
//! A gap inside a `Content-Length` body is skipped and the message goes on (its inspected
//! body stops at the gap). A gap anywhere else ends the direction: the message in progress is
//! reported with what arrived and that direction is no longer parsed.

mod eve;
mod inflate;
mod message;
mod tx;
pub(crate) mod uri;

#[cfg(test)]
mod tests;

use std::collections::VecDeque;

use message::Message;
pub use tx::HttpTx;

use super::{AppCounters, AppParser, Probe, TxSink};

/// Most bytes of one message's start line and headers that are kept; more are counted.
pub const HEADER_CAP: usize = 32 * 1024;
/// Request body bytes kept for inspection (`http.request_body`, to-server `file.data`).
pub const REQUEST_BODY_DEPTH: usize = 64 * 1024;
/// Response body bytes kept for inspection (`http.response_body`, `file.data`).
pub const RESPONSE_BODY_DEPTH: usize = 64 * 1024;
/// Most requests waiting for their responses; more are reported but not logged.
pub const MAX_PENDING: usize = 32;
/// Longest chunk-size line kept (the digits come first; the rest is extensions).
const CHUNK_LINE_CAP: usize = 256;

/// Request methods libhtp knows; a stream starting with one of them and a space is HTTP.
const METHODS: &[&[u8]] = &[
    b"GET",
    b"POST",
    b"HEAD",
    b"PUT",
    b"DELETE",
    b"CONNECT",
    b"OPTIONS",
    b"TRACE",
    b"PATCH",
    b"PROPFIND",
    b"PROPPATCH",
    b"MKCOL",
    b"COPY",
    b"MOVE",
    b"LOCK",
    b"UNLOCK",
    b"VERSION-CONTROL",
    b"CHECKOUT",
    b"UNCHECKOUT",
    b"CHECKIN",
    b"UPDATE",
    b"LABEL",
    b"REPORT",
    b"MKWORKSPACE",
    b"MKACTIVITY",
    b"BASELINE-CONTROL",
    b"MERGE",
];

/// Detects HTTP by content, on any port: a request starts with a known method and a space
/// (or tab), a response with `HTTP/`. Case is ignored, as in Suricata's patterns.
pub fn probe(to_server: bool, data: &[u8]) -> Probe {
    fn prefix_state(data: &[u8], pat: &[u8]) -> Probe {
        let n = data.len().min(pat.len());
        match (data.get(..n), pat.get(..n)) {
            (Some(d), Some(p)) if d.eq_ignore_ascii_case(p) => {
                if data.len() >= pat.len() {
                    Probe::Match
                } else {
                    Probe::NeedMore
                }
            }
            _ => Probe::NoMatch,
        }
    }
    if to_server {
        let mut more = false;
        for m in METHODS {
            match prefix_state(data, m) {
                Probe::Match => match data.get(m.len()) {
                    Some(b' ' | b'\t') => return Probe::Match,
                    None => more = true,
                    Some(_) => {}
                },
                Probe::NeedMore => more = true,
                Probe::NoMatch => {}
            }
        }
        if more {
            Probe::NeedMore
        } else {
            Probe::NoMatch
        }
    } else {
        prefix_state(data, b"HTTP/")
    }
}

/// Where a direction's parser is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Before a start line (empty lines are skipped).
    Idle,
    /// Request side, after a start line without protocol: headers follow (a protocol was
    /// just missing) if the next line has a colon before any other whitespace, as libhtp
    /// probes; otherwise the request was HTTP/0.9.
    Probe09,
    /// Inside the header section.
    Headers,
    /// Identity body of known length; `Side::remaining` bytes left.
    Length,
    /// Identity body until the connection closes (responses).
    UntilClose,
    /// A chunk-size line.
    ChunkLen,
    /// Chunk data; `Side::remaining` bytes left.
    ChunkData,
    /// The line ending after chunk data.
    ChunkDataEnd,
    /// Trailer lines after the last chunk.
    Trailers,
    /// Request side: a CONNECT waits for its response; bytes are held.
    ConnectWait,
    /// After a gap outside a body: skipping to a line that starts a message.
    Resync,
    /// Nothing more is parsed in this direction (tunnel, upgrade, error).
    Stopped,
}

/// One direction's parsing state.
#[derive(Debug)]
struct Side {
    phase: Phase,
    /// The header section in progress (the response side also keeps its body here).
    msg: Message,
    /// Length of the current line so far, terminator excluded.
    cur_len: usize,
    /// The current line so far is exactly "\r".
    cur_cr: bool,
    /// Chunk-size line bytes.
    chunk_line: Vec<u8>,
    /// Bytes left in a `Length` body or chunk.
    remaining: u64,
    /// The body had a gap: inspected bytes stop there.
    body_gap: bool,
    /// Request bytes received while a CONNECT waits for its response.
    held: Vec<u8>,
    /// Resync: skipping the rest of a line that does not start a message.
    skip_line: bool,
    /// Response side: the front transaction's response fell into a gap.
    lost_front: bool,
    /// Response side: gzip / deflate decoding of the body.
    inflate: inflate::Inflate,
}

impl Side {
    fn new() -> Side {
        Side {
            phase: Phase::Idle,
            msg: Message::default(),
            cur_len: 0,
            cur_cr: false,
            chunk_line: Vec::new(),
            remaining: 0,
            body_gap: false,
            held: Vec::new(),
            skip_line: false,
            lost_front: false,
            inflate: inflate::Inflate::default(),
        }
    }

    fn reset(&mut self) {
        self.phase = Phase::Idle;
        self.msg.clear();
        self.cur_len = 0;
        self.cur_cr = false;
        self.chunk_line.clear();
        self.remaining = 0;
        self.body_gap = false;
        self.held.clear();
        self.skip_line = false;
        self.lost_front = false;
        self.inflate.start(None);
    }
}

/// A transaction waiting for (or receiving) its response.
#[derive(Debug, Default)]
struct Slot {
    /// Sequence number, to find the request's slot again while its body arrives.
    id: u64,
    req: Message,
    /// False for a response that came without a request.
    has_req: bool,
    /// The request (with its body) is complete.
    req_done: bool,
    /// The request point was reported.
    req_reported: bool,
    head: bool,
    connect: bool,
    http09: bool,
}

/// Incremental HTTP/1.x parser for one flow (see the module doc).
#[derive(Debug)]
pub struct HttpParser {
    req: Side,
    resp: Side,
    queue: VecDeque<Slot>,
    pool: Vec<Slot>,
    next_id: u64,
    /// Slot id the request side fills (its body), if it is still queued.
    cur_req: Option<u64>,
    counters: AppCounters,
}

impl Default for HttpParser {
    fn default() -> Self {
        Self::new()
    }
}

/// Result of scanning for the end of a line: bytes consumed, and whether a line ended.
fn scan_line(data: &[u8]) -> (usize, bool) {
    match data.iter().position(|&c| c == b'\n') {
        Some(p) => (p + 1, true),
        None => (data.len(), false),
    }
}

fn emit(sink: &mut TxSink<'_>, counters: &mut AppCounters, tx: &HttpTx<'_>) {
    counters.tx += 1;
    sink(tx);
}

/// Reports the request point of `slot` unless it was reported already (a response, a gap or
/// the flow's end can complete a transaction before its request point came).
fn report_request_point(slot: &mut Slot, sink: &mut TxSink<'_>, counters: &mut AppCounters) {
    if slot.has_req && !slot.req_reported {
        slot.req_reported = true;
        emit(
            sink,
            counters,
            &HttpTx {
                req: Some(&slot.req),
                resp: None,
                to_server: true,
                log: false,
            },
        );
    }
}

/// A transaction whose response never came: its request point if still pending, then the
/// logged record without a response.
fn log_without_response(slot: &mut Slot, sink: &mut TxSink<'_>, counters: &mut AppCounters) {
    report_request_point(slot, sink, counters);
    emit(
        sink,
        counters,
        &HttpTx {
            req: slot.has_req.then_some(&slot.req),
            resp: None,
            to_server: false,
            log: true,
        },
    );
}

fn parse_content_length(v: &[u8]) -> Option<u64> {
    let t = uri::trim(v);
    if t.is_empty() || t.len() > 19 || !t.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(t).ok()?.parse().ok()
}

fn parse_chunk_len(line: &[u8]) -> Option<u64> {
    let t = line
        .iter()
        .position(|c| !matches!(c, b' ' | b'\t'))
        .map_or(&[][..], |s| line.get(s..).unwrap_or(&[]));
    let n = t.iter().take_while(|c| c.is_ascii_hexdigit()).count();
    if n == 0 || n > 15 {
        return None;
    }
    u64::from_str_radix(std::str::from_utf8(t.get(..n)?).ok()?, 16).ok()
}

impl HttpParser {
    /// A parser with empty buffers.
    pub fn new() -> HttpParser {
        HttpParser {
            req: Side::new(),
            resp: Side::new(),
            queue: VecDeque::new(),
            pool: Vec::new(),
            next_id: 0,
            cur_req: None,
            counters: AppCounters::default(),
        }
    }

    fn take_slot(&mut self) -> Slot {
        let mut s = self.pool.pop().unwrap_or_default();
        s.req.clear();
        s.has_req = true;
        s.req_done = false;
        s.req_reported = false;
        s.head = false;
        s.connect = false;
        s.http09 = false;
        s.id = self.next_id;
        self.next_id += 1;
        s
    }

    fn release_front(&mut self) {
        if let Some(s) = self.queue.pop_front() {
            if self.cur_req == Some(s.id) {
                self.cur_req = None;
            }
            self.pool.push(s);
        }
    }

    /// The slot the request side is filling, if it is still queued (always the newest).
    fn cur_slot(&mut self) -> Option<&mut Slot> {
        let id = self.cur_req?;
        self.queue.back_mut().filter(|s| s.id == id)
    }

    // ---------------------------------------------------------------- request side

    /// A gap that ended exactly at the end of a body leaves it with nothing to read.
    fn finish_after_gap(&mut self, to_server: bool, sink: &mut TxSink<'_>) {
        let side = self.side(to_server);
        if side.remaining == 0 {
            match side.phase {
                Phase::Length => self.body_done(to_server, sink),
                Phase::ChunkData => side.phase = Phase::ChunkDataEnd,
                _ => {}
            }
        }
    }

    fn parse_request(&mut self, data: &[u8], sink: &mut TxSink<'_>) {
        self.finish_after_gap(true, sink);
        let mut data = data;
        while !data.is_empty() {
            let n = match self.req.phase {
                Phase::Stopped => return,
                Phase::ConnectWait => {
                    let room = HEADER_CAP.saturating_sub(self.req.held.len());
                    let keep = data.len().min(room);
                    self.req
                        .held
                        .extend_from_slice(data.get(..keep).unwrap_or(&[]));
                    self.counters.truncated += (data.len() - keep) as u64;
                    data.len()
                }
                Phase::Idle | Phase::Headers => self.request_header_bytes(data, sink),
                Phase::Probe09 => self.probe09_bytes(data, sink),
                Phase::Resync => self.resync_bytes(true, data, sink),
                _ => self.body_bytes(true, data, sink),
            };
            data = data.get(n..).unwrap_or(&[]);
        }
    }

    /// Feeds start-line / header bytes of either side; returns bytes consumed.
    fn header_bytes(side: &mut Side, counters: &mut AppCounters, data: &[u8]) -> (usize, bool) {
        let (n, eol) = scan_line(data);
        let seg = data.get(..n).unwrap_or(&[]);
        let content = if eol { n - 1 } else { n };
        if content > 0 {
            side.cur_cr = side.cur_len == 0 && content == 1 && seg.first() == Some(&b'\r');
        }
        side.cur_len += content;
        let room = HEADER_CAP.saturating_sub(side.msg.raw.len());
        let keep = n.min(room);
        side.msg
            .raw
            .extend_from_slice(seg.get(..keep).unwrap_or(&[]));
        if keep < n {
            counters.truncated += (n - keep) as u64;
            side.msg.truncated = true;
        }
        (n, eol)
    }

    fn request_header_bytes(&mut self, data: &[u8], sink: &mut TxSink<'_>) -> usize {
        let (n, eol) = Self::header_bytes(&mut self.req, &mut self.counters, data);
        if !eol {
            return n;
        }
        let empty = self.req.cur_len == 0 || (self.req.cur_len == 1 && self.req.cur_cr);
        self.req.cur_len = 0;
        self.req.cur_cr = false;
        if self.req.phase == Phase::Idle {
            if empty {
                self.req.msg.clear();
                return n;
            }
            self.req.msg.parse_start_line(true);
            self.req.phase = if self.req.msg.has_protocol {
                Phase::Headers
            } else {
                self.req.chunk_line.clear();
                Phase::Probe09
            };
            return n;
        }
        if empty {
            self.request_headers_done(false, sink);
        }
        n
    }

    /// Decides whether a protocol-less request line is HTTP/0.9 (see [`Phase::Probe09`]).
    fn probe09_bytes(&mut self, data: &[u8], sink: &mut TxSink<'_>) -> usize {
        const LOOK: usize = 256;
        let mut decision = None;
        let mut n = 0;
        for &b in data {
            n += 1;
            self.req.chunk_line.push(b);
            let after_spaces = self.req.cur_cr;
            if b == b':' {
                decision = Some(false);
            } else if b == b' ' || b == b'\t' {
                self.req.cur_cr = true;
            } else if b.is_ascii_whitespace()
                || b == 0x0b
                || after_spaces
                || self.req.chunk_line.len() >= LOOK
            {
                decision = Some(true);
            }
            if decision.is_some() {
                break;
            }
        }
        let Some(http09) = decision else {
            return n;
        };
        self.req.cur_cr = false;
        let held = std::mem::take(&mut self.req.chunk_line);
        if http09 {
            self.request_headers_done(true, sink);
        } else {
            self.req.phase = Phase::Headers;
        }
        self.parse_request(&held, sink);
        if self.req.chunk_line.is_empty() {
            self.req.chunk_line = held;
            self.req.chunk_line.clear();
        }
        n
    }

    fn request_headers_done(&mut self, http09: bool, sink: &mut TxSink<'_>) {
        self.req.msg.http09 = http09;
        let connect = self.req.msg.field(0).eq_ignore_ascii_case(b"CONNECT");
        self.req.msg.parse_headers();
        self.req.msg.derive(true, connect);
        if self.req.msg.truncated {
            self.counters.truncated += 1;
        }
        let chunked = self
            .req
            .msg
            .header(b"transfer-encoding")
            .is_some_and(|v| v.windows(7).any(|w| w.eq_ignore_ascii_case(b"chunked")));
        let length = self
            .req
            .msg
            .header(b"content-length")
            .map(parse_content_length);
        let mut slot = self.take_slot();
        std::mem::swap(&mut slot.req, &mut self.req.msg);
        self.req.msg.clear();
        slot.connect = connect;
        slot.http09 = http09;
        slot.head = slot.req.field(0).eq_ignore_ascii_case(b"HEAD");
        let id = slot.id;
        if self.queue.len() >= MAX_PENDING {
            // No room to wait for a response: inspect it now, never log it.
            self.counters.truncated += 1;
            emit(
                sink,
                &mut self.counters,
                &HttpTx {
                    req: Some(&slot.req),
                    resp: None,
                    to_server: true,
                    log: false,
                },
            );
            self.pool.push(slot);
            self.cur_req = None;
        } else {
            self.queue.push_back(slot);
            self.cur_req = Some(id);
        }
        self.req.body_gap = false;
        self.req.phase = if chunked {
            Phase::ChunkLen
        } else {
            match length {
                Some(Some(n)) if n > 0 => {
                    self.req.remaining = n;
                    Phase::Length
                }
                Some(None) => {
                    self.counters.parse_errors += 1;
                    Phase::Idle
                }
                _ => Phase::Idle,
            }
        };
        if self.req.phase == Phase::Idle {
            self.request_done(sink);
        }
    }

    /// Reports the request point of the slot the request side fills, if not yet done.
    fn report_request(&mut self, sink: &mut TxSink<'_>) {
        let counters = &mut self.counters;
        let Some(id) = self.cur_req else { return };
        let Some(slot) = self.queue.back_mut().filter(|s| s.id == id) else {
            return;
        };
        report_request_point(slot, sink, counters);
    }

    fn request_done(&mut self, sink: &mut TxSink<'_>) {
        self.report_request(sink);
        let connect = self.cur_slot().is_some_and(|s| {
            s.req_done = true;
            s.connect
        });
        self.req.phase = if connect {
            Phase::ConnectWait
        } else {
            Phase::Idle
        };
        self.cur_req = if connect { self.cur_req } else { None };
        self.req.msg.clear();
    }

    // ---------------------------------------------------------------- bodies

    /// Appends decoded body bytes to the message of `to_server`'s side.
    fn body_data(&mut self, to_server: bool, data: &[u8], sink: &mut TxSink<'_>) {
        let (depth, gap) = if to_server {
            (REQUEST_BODY_DEPTH, self.req.body_gap)
        } else {
            (RESPONSE_BODY_DEPTH, self.resp.body_gap)
        };
        if !to_server && self.resp.inflate.active() && !gap {
            let msg = &mut self.resp.msg;
            msg.body_len += data.len() as u64;
            if !self.resp.inflate.feed(data, &mut msg.body, depth) {
                self.counters.parse_errors += 1;
            }
            return;
        }
        let counters = &mut self.counters;
        let msg = if to_server {
            match self.cur_req {
                Some(id) => match self.queue.back_mut().filter(|s| s.id == id) {
                    Some(s) => &mut s.req,
                    None => return,
                },
                None => return,
            }
        } else {
            &mut self.resp.msg
        };
        msg.body_len += data.len() as u64;
        let room = if gap {
            0
        } else {
            depth.saturating_sub(msg.body.len())
        };
        let keep = data.len().min(room);
        msg.body.extend_from_slice(data.get(..keep).unwrap_or(&[]));
        counters.truncated += (data.len() - keep) as u64;
        let at_depth = msg.body.len() >= depth;
        if to_server && at_depth {
            self.report_request(sink);
        }
    }

    fn add_message_len(&mut self, to_server: bool, n: usize) {
        if to_server {
            if let Some(s) = self.cur_slot() {
                s.req.message_len += n as u64;
            }
        } else {
            self.resp.msg.message_len += n as u64;
        }
    }

    fn side(&mut self, to_server: bool) -> &mut Side {
        if to_server {
            &mut self.req
        } else {
            &mut self.resp
        }
    }

    fn body_done(&mut self, to_server: bool, sink: &mut TxSink<'_>) {
        if to_server {
            self.request_done(sink);
        } else {
            self.response_done(sink);
        }
    }

    /// Feeds body-phase bytes of either side; returns bytes consumed.
    fn body_bytes(&mut self, to_server: bool, data: &[u8], sink: &mut TxSink<'_>) -> usize {
        let phase = self.side(to_server).phase;
        match phase {
            Phase::Length | Phase::ChunkData => {
                let rem = self.side(to_server).remaining;
                let n = usize::try_from(rem).unwrap_or(usize::MAX).min(data.len());
                let chunk = data.get(..n).unwrap_or(&[]);
                self.add_message_len(to_server, n);
                self.body_data(to_server, chunk, sink);
                let side = self.side(to_server);
                side.remaining -= n as u64;
                if side.remaining == 0 {
                    if phase == Phase::Length {
                        self.body_done(to_server, sink);
                    } else {
                        side.phase = Phase::ChunkDataEnd;
                    }
                }
                n
            }
            Phase::UntilClose => {
                self.add_message_len(to_server, data.len());
                self.body_data(to_server, data, sink);
                data.len()
            }
            Phase::ChunkDataEnd => {
                let (n, eol) = scan_line(data);
                self.add_message_len(to_server, n);
                if eol {
                    self.side(to_server).phase = Phase::ChunkLen;
                }
                n
            }
            Phase::ChunkLen => {
                let (n, eol) = scan_line(data);
                self.add_message_len(to_server, n);
                let side = self.side(to_server);
                let room = CHUNK_LINE_CAP.saturating_sub(side.chunk_line.len());
                let keep = n.min(room);
                side.chunk_line
                    .extend_from_slice(data.get(..keep).unwrap_or(&[]));
                if !eol {
                    return n;
                }
                let line = std::mem::take(&mut side.chunk_line);
                let trimmed = uri::trim(&line);
                if trimmed.is_empty() {
                    // A stray line ending between chunks.
                    side.chunk_line = line;
                    side.chunk_line.clear();
                    return n;
                }
                let len = parse_chunk_len(trimmed);
                side.chunk_line = line;
                side.chunk_line.clear();
                match len {
                    Some(0) => side.phase = Phase::Trailers,
                    Some(l) => {
                        side.remaining = l;
                        side.phase = Phase::ChunkData;
                    }
                    None => {
                        self.counters.parse_errors += 1;
                        if to_server {
                            self.request_done(sink);
                            self.req.phase = Phase::Stopped;
                        } else {
                            // libhtp reads a response with a bad chunk length to the end.
                            self.resp.phase = Phase::UntilClose;
                        }
                    }
                }
                n
            }
            Phase::Trailers => {
                let (n, eol) = scan_line(data);
                let side = self.side(to_server);
                let content = if eol { n - 1 } else { n };
                if content > 0 {
                    side.cur_cr = side.cur_len == 0 && content == 1 && data.first() == Some(&b'\r');
                }
                side.cur_len += content;
                if eol {
                    let empty = side.cur_len == 0 || (side.cur_len == 1 && side.cur_cr);
                    side.cur_len = 0;
                    side.cur_cr = false;
                    if empty {
                        self.body_done(to_server, sink);
                    }
                }
                n
            }
            _ => data.len(),
        }
    }

    /// After a gap: looks at the start of each line for a request method or `HTTP/`, and
    /// resumes parsing there. Returns bytes consumed.
    fn resync_bytes(&mut self, to_server: bool, data: &[u8], sink: &mut TxSink<'_>) -> usize {
        const LOOK: usize = 24;
        let side = self.side(to_server);
        if side.skip_line {
            let (n, eol) = scan_line(data);
            if eol {
                side.skip_line = false;
                side.chunk_line.clear();
            }
            return n;
        }
        let want = LOOK.saturating_sub(side.chunk_line.len()).max(1);
        let (to_eol, eol) = scan_line(data);
        let n = to_eol.min(want);
        let line_ended = eol && n == to_eol;
        side.chunk_line
            .extend_from_slice(data.get(..n).unwrap_or(&[]));
        match probe(to_server, &side.chunk_line) {
            Probe::Match => {
                let start = std::mem::take(&mut side.chunk_line);
                side.phase = Phase::Idle;
                side.msg.clear();
                side.cur_len = 0;
                side.cur_cr = false;
                if !to_server && side.lost_front {
                    side.lost_front = false;
                    self.log_front_without_response(sink);
                }
                if to_server {
                    self.parse_request(&start, sink);
                } else {
                    self.parse_response(&start, sink);
                }
                let side = self.side(to_server);
                if side.chunk_line.is_empty() {
                    side.chunk_line = start;
                    side.chunk_line.clear();
                }
            }
            Probe::NoMatch => {
                side.chunk_line.clear();
                side.skip_line = !line_ended;
            }
            Probe::NeedMore => {
                if line_ended {
                    side.chunk_line.clear();
                }
            }
        }
        n
    }

    /// Logs the front transaction with no response (its response fell into a gap).
    fn log_front_without_response(&mut self, sink: &mut TxSink<'_>) {
        if let Some(slot) = self.queue.front_mut() {
            log_without_response(slot, sink, &mut self.counters);
        }
        self.release_front();
    }

    // ---------------------------------------------------------------- response side

    /// Ends a pending HTTP/0.9 probe: the request side said no more before the response.
    fn settle_probe09(&mut self, sink: &mut TxSink<'_>) {
        if self.req.phase == Phase::Probe09 {
            self.req.cur_cr = false;
            let held = std::mem::take(&mut self.req.chunk_line);
            self.request_headers_done(true, sink);
            self.parse_request(&held, sink);
            if self.req.chunk_line.is_empty() {
                self.req.chunk_line = held;
                self.req.chunk_line.clear();
            }
        }
    }

    fn parse_response(&mut self, data: &[u8], sink: &mut TxSink<'_>) {
        self.settle_probe09(sink);
        self.finish_after_gap(false, sink);
        let mut data = data;
        while !data.is_empty() {
            let n = match self.resp.phase {
                Phase::Stopped | Phase::ConnectWait => return,
                Phase::Idle | Phase::Headers => self.response_header_bytes(data, sink),
                Phase::Resync => self.resync_bytes(false, data, sink),
                _ => self.body_bytes(false, data, sink),
            };
            data = data.get(n..).unwrap_or(&[]);
        }
    }

    fn response_header_bytes(&mut self, data: &[u8], sink: &mut TxSink<'_>) -> usize {
        // A response to an HTTP/0.9 request is all body.
        if self.resp.phase == Phase::Idle
            && self.resp.cur_len == 0
            && self.queue.front().is_some_and(|s| s.http09)
        {
            self.resp.msg.clear();
            self.resp.phase = Phase::UntilClose;
            return 0;
        }
        let (n, eol) = Self::header_bytes(&mut self.resp, &mut self.counters, data);
        if !eol {
            return n;
        }
        let empty = self.resp.cur_len == 0 || (self.resp.cur_len == 1 && self.resp.cur_cr);
        self.resp.cur_len = 0;
        self.resp.cur_cr = false;
        if self.resp.phase == Phase::Idle {
            if empty {
                self.resp.msg.clear();
                return n;
            }
            let looks_http = self
                .resp
                .msg
                .raw
                .iter()
                .position(|c| !matches!(c, b' ' | b'\t'))
                .and_then(|s| self.resp.msg.raw.get(s..s + 4))
                .is_some_and(|p| p.eq_ignore_ascii_case(b"HTTP"));
            if !looks_http {
                // Not a status line: libhtp takes it and what follows as body.
                self.counters.parse_errors += 1;
                let line = std::mem::take(&mut self.resp.msg.raw);
                self.resp.msg.clear();
                self.ensure_front();
                self.resp.phase = Phase::UntilClose;
                self.add_message_len(false, line.len());
                self.body_data(false, &line, sink);
                self.resp.msg.raw = line;
                self.resp.msg.raw.clear();
                return n;
            }
            self.resp.msg.parse_start_line(false);
            self.resp.phase = Phase::Headers;
            return n;
        }
        if empty {
            self.response_headers_done(sink);
        }
        n
    }

    /// Makes sure a transaction waits at the front for the response being parsed.
    fn ensure_front(&mut self) {
        if self.queue.is_empty() {
            let mut s = self.take_slot();
            s.has_req = false;
            s.req_done = true;
            s.req_reported = true;
            self.queue.push_back(s);
        }
    }

    fn response_headers_done(&mut self, sink: &mut TxSink<'_>) {
        self.resp.msg.parse_headers();
        self.resp.msg.derive(false, false);
        if self.resp.msg.truncated {
            self.counters.truncated += 1;
        }
        let status = parse_status(self.resp.msg.field(1));
        if (100..200).contains(&status) && status != 101 {
            // Interim response: the final one follows for the same request.
            self.resp.msg.clear();
            self.resp.phase = Phase::Idle;
            return;
        }
        self.ensure_front();
        let (head, connect) = self
            .queue
            .front()
            .map_or((false, false), |s| (s.head, s.connect));
        self.resp.body_gap = false;
        if status == 101 || (connect && (200..300).contains(&status)) {
            // The connection now carries another protocol.
            self.response_done_inner(sink, true);
            self.req.phase = Phase::Stopped;
            self.resp.phase = Phase::Stopped;
            return;
        }
        let chunked = self
            .resp
            .msg
            .header(b"transfer-encoding")
            .is_some_and(|v| v.windows(7).any(|w| w.eq_ignore_ascii_case(b"chunked")));
        let length = self
            .resp
            .msg
            .header(b"content-length")
            .map(parse_content_length);
        let coding = self
            .resp
            .msg
            .header(b"content-encoding")
            .and_then(inflate::Coding::from_header);
        self.resp.inflate.start(coding);
        if head || status == 204 || status == 304 {
            self.response_done(sink);
            return;
        }
        if chunked {
            self.resp.phase = Phase::ChunkLen;
            return;
        }
        match length {
            Some(Some(0)) => self.response_done(sink),
            Some(Some(n)) => {
                self.resp.remaining = n;
                self.resp.phase = Phase::Length;
            }
            Some(None) => {
                self.counters.parse_errors += 1;
                self.resp.phase = Phase::UntilClose;
            }
            None => self.resp.phase = Phase::UntilClose,
        }
    }

    /// Reports the response point of the front transaction and retires it.
    fn response_done(&mut self, sink: &mut TxSink<'_>) {
        self.response_done_inner(sink, false);
    }

    fn response_done_inner(&mut self, sink: &mut TxSink<'_>, tunnel: bool) {
        let counters = &mut self.counters;
        if let Some(slot) = self.queue.front_mut() {
            report_request_point(slot, sink, counters);
            emit(
                sink,
                counters,
                &HttpTx {
                    req: slot.has_req.then_some(&slot.req),
                    resp: Some(&self.resp.msg),
                    to_server: false,
                    log: true,
                },
            );
        }
        let connect_wait = self.req.phase == Phase::ConnectWait
            && self
                .queue
                .front()
                .is_some_and(|s| self.cur_req == Some(s.id) && s.connect);
        self.release_front();
        self.resp.msg.clear();
        self.resp.inflate.start(None);
        self.resp.phase = Phase::Idle;
        if connect_wait && !tunnel {
            // The CONNECT failed: parse what the client sent meanwhile as HTTP.
            self.req.phase = Phase::Idle;
            self.cur_req = None;
            let held = std::mem::take(&mut self.req.held);
            self.parse_request(&held, sink);
            if self.req.held.is_empty() {
                self.req.held = held;
                self.req.held.clear();
            }
        }
    }
}

fn parse_status(t: &[u8]) -> u32 {
    let t = uri::trim(t);
    if t.len() != 3 || !t.iter().all(u8::is_ascii_digit) {
        return 0;
    }
    t.iter().fold(0, |v, &c| v * 10 + u32::from(c - b'0'))
}

impl AppParser for HttpParser {
    fn reset(&mut self) {
        self.req.reset();
        self.resp.reset();
        while let Some(s) = self.queue.pop_front() {
            self.pool.push(s);
        }
        self.next_id = 0;
        self.cur_req = None;
        self.counters = AppCounters::default();
    }

    fn parse(&mut self, to_server: bool, data: &[u8], sink: &mut TxSink<'_>) {
        if to_server {
            self.parse_request(data, sink);
        } else {
            self.parse_response(data, sink);
        }
    }

    fn gap(&mut self, to_server: bool, len: u64) {
        self.counters.gaps += 1;
        let side = self.side(to_server);
        match side.phase {
            Phase::Length | Phase::ChunkData if side.remaining >= len => {
                side.remaining -= len;
                side.body_gap = true;
                let n = usize::try_from(len).unwrap_or(usize::MAX);
                self.add_message_len(to_server, n);
                let msg = if to_server {
                    self.cur_slot().map(|s| &mut s.req)
                } else {
                    Some(&mut self.resp.msg)
                };
                if let Some(m) = msg {
                    m.body_len += len;
                }
            }
            Phase::UntilClose => {
                side.body_gap = true;
                if !to_server {
                    self.resp.msg.message_len += len;
                    self.resp.msg.body_len += len;
                }
            }
            Phase::Stopped | Phase::ConnectWait => {}
            Phase::Resync => {
                side.skip_line = false;
                side.chunk_line.clear();
            }
            _ => {
                // Give up on the message in progress and look for the next one. A request
                // already queued is reported at the latest when its response or the flow
                // end comes; a response in progress is lost to its transaction.
                let in_response = !to_server;
                side.phase = Phase::Resync;
                side.msg.clear();
                side.cur_len = 0;
                side.cur_cr = false;
                side.skip_line = false;
                side.chunk_line.clear();
                if in_response && !self.queue.is_empty() {
                    self.resp.lost_front = true;
                }
                if to_server {
                    self.cur_req = None;
                }
            }
        }
    }

    fn end(&mut self, sink: &mut TxSink<'_>) {
        self.settle_probe09(sink);
        // A response in its body (until close, or cut short) completes now.
        let resp_in_body = !matches!(
            self.resp.phase,
            Phase::Idle | Phase::Headers | Phase::Stopped | Phase::ConnectWait | Phase::Resync
        );
        if resp_in_body && !self.queue.is_empty() {
            self.response_done(sink);
        }
        self.resp.phase = Phase::Stopped;
        self.req.phase = Phase::Stopped;
        // Requests without a response: request point if still pending, then the record.
        for slot in self.queue.iter_mut() {
            log_without_response(slot, sink, &mut self.counters);
        }
        while !self.queue.is_empty() {
            self.release_front();
        }
    }

    fn counters(&self) -> AppCounters {
        self.counters
    }
}
