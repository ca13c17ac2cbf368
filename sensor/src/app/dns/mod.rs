//! DNS over UDP and TCP: each message is one inspection point and one EVE `dns` record.
//!
//! DNS needs no state across messages, so the parser is thin: a UDP datagram is parsed in
//! place, a TCP direction is cut into messages by the two-byte length prefix (RFC 1035
//! 4.2.2) and a message is parsed in place from the segment when it lies in one, or from a
//! per-direction framing buffer when it straddles segments. Parsing and logging follow
//! Suricata 7.0 (`rust/src/dns/`) because the EVE records and the `dns.query` matches have
//! to agree with it:
//! * the client's messages are parsed as requests (questions only) and must not have the QR
//!   bit; the server's as responses (questions, answers, authorities), QR or not;
//! * every message that parses is a transaction and takes the next `tx_id` of the flow
//!   (both directions count); Suricata logs a request as its question and a response with
//!   its answers, in both cases only when the message has a question;
//! * `dns.query` is a multi-buffer: a request offers each question's name, up to the first
//!   empty (root) name; responses offer no buffer;
//! * the log differs from Suricata's in two bounded ways: a request with several questions
//!   gives one record (its first question) where Suricata writes one per question, and a
//!   section logs at most [`eve::MAX_LOGGED_ENTRIES`] entries;
//! * a message that does not parse yields nothing and counts in `parse_errors` (Suricata
//!   raises an anomaly event or, for UDP with an implausible header, nothing). Over TCP a bad
//!   message stops parsing of the flow, as Suricata's error state does, because the framing
//!   can no longer be trusted.
//!
//! Memory: a framing buffer never holds more than one frame (at most 2 + 65535 bytes, so
//! nothing is ever cut), keeps its capacity across [`AppParser::reset`], and after a gap the
//! direction resynchronises on the first chunk that looks like the start of a frame
//! (Suricata's probe); chunks before it are skipped and counted in `truncated`.

pub mod eve;
pub mod message;
#[cfg(test)]
mod tests;

use self::message::{Error, Header, Message, HEADER_LEN};
use super::{AppCounters, AppParser, Buffers, Probe, Transaction, TxSink};
use signatures::{AppBuffer, BufferKind};

/// Longest TCP frame: the length prefix and a message of up to 65535 bytes.
pub const MAX_FRAME: usize = 2 + u16::MAX as usize;

/// Most `dns.query` buffers one request offers (Suricata offers all its questions).
pub const MAX_QUERY_BUFFERS: usize = 16;

/// One direction of a TCP flow.
#[derive(Debug, Default)]
struct Direction {
    /// A frame started in an earlier chunk: its prefix and the bytes so far.
    frame: Vec<u8>,
    /// A gap lost bytes: wait for a chunk that starts a frame.
    resync: bool,
}

/// What the parser keeps besides the framing buffers (split so that a message borrowed
/// from a framing buffer and this state can be used together).
#[derive(Debug, Default)]
struct State {
    next_tx: u64,
    counters: AppCounters,
    /// Decoded `dns.query` names of the current request, back to back.
    names: Vec<u8>,
    name_ends: heapless::Vec<usize, MAX_QUERY_BUFFERS>,
}

/// The DNS parser of one flow (pooled: [`AppParser::reset`] keeps its buffers).
#[derive(Debug)]
pub struct DnsParser {
    tcp: bool,
    /// Index 0: to server, 1: to client.
    dirs: [Direction; 2],
    /// TCP only: a message did not parse, the rest of the flow is ignored.
    failed: bool,
    st: State,
}

impl DnsParser {
    /// A parser for DNS over UDP: each `parse` call is one datagram.
    pub fn udp() -> Self {
        Self::new(false)
    }

    /// A parser for DNS over TCP: length-prefixed messages, in order per direction.
    pub fn tcp() -> Self {
        Self::new(true)
    }

    fn new(tcp: bool) -> Self {
        DnsParser {
            tcp,
            dirs: Default::default(),
            failed: false,
            st: State::default(),
        }
    }

    fn parse_tcp(&mut self, to_server: bool, mut data: &[u8], sink: &mut TxSink<'_>) {
        let idx = usize::from(!to_server);
        let Some(dir) = self.dirs.get_mut(idx) else {
            return;
        };
        let st = &mut self.st;
        if dir.resync {
            if probe_tcp(to_server, data) == Probe::NoMatch {
                st.counters.truncated += data.len() as u64;
                return;
            }
            dir.resync = false;
        }
        loop {
            if !dir.frame.is_empty() {
                // Complete the frame started earlier.
                if dir.frame.len() < 2 {
                    let take = (2 - dir.frame.len()).min(data.len());
                    let (head, rest) = data.split_at(take);
                    dir.frame.extend_from_slice(head);
                    data = rest;
                    if dir.frame.len() < 2 {
                        return;
                    }
                }
                let need = frame_len(&dir.frame);
                if need == 2 {
                    // A zero length prefix: skipped, as Suricata does.
                    dir.frame.clear();
                    continue;
                }
                let take = need.saturating_sub(dir.frame.len()).min(data.len());
                let (head, rest) = data.split_at(take);
                dir.frame.extend_from_slice(head);
                data = rest;
                if dir.frame.len() < need {
                    return;
                }
                let ok = st.message(to_server, dir.frame.get(2..).unwrap_or(&[]), sink);
                dir.frame.clear();
                if !ok {
                    self.failed = true;
                    return;
                }
                continue;
            }
            if data.is_empty() {
                return;
            }
            if data.len() < 2 {
                dir.frame.extend_from_slice(data);
                return;
            }
            let need = frame_len(data);
            if need == 2 {
                // A zero length prefix: skipped, as Suricata does.
                data = data.get(2..).unwrap_or(&[]);
                continue;
            }
            match (data.get(2..need), data.get(need..)) {
                (Some(msg), Some(rest)) => {
                    if !st.message(to_server, msg, sink) {
                        self.failed = true;
                        return;
                    }
                    data = rest;
                }
                _ => {
                    dir.frame.extend_from_slice(data);
                    return;
                }
            }
        }
    }
}

/// Bytes of a frame, prefix included, from its first two bytes.
fn frame_len(b: &[u8]) -> usize {
    match b {
        [hi, lo, ..] => 2 + usize::from(u16::from_be_bytes([*hi, *lo])),
        _ => 2,
    }
}

impl State {
    /// Parses one message; reports it and returns true if it parsed.
    fn message(&mut self, to_server: bool, bytes: &[u8], sink: &mut TxSink<'_>) -> bool {
        let msg = match Message::parse(bytes, !to_server) {
            Ok(m) if to_server && m.header().is_response() => Err(Error::Header),
            r => r,
        };
        let Ok(msg) = msg else {
            self.counters.parse_errors += 1;
            return false;
        };
        self.names.clear();
        self.name_ends.clear();
        if to_server {
            for q in msg.questions() {
                let start = self.names.len();
                let _ = q.name.decode(&mut self.names);
                if self.names.len() == start || self.name_ends.push(self.names.len()).is_err() {
                    self.names.truncate(start);
                    break;
                }
            }
        }
        let tx = DnsTx {
            msg,
            to_server,
            tx_id: self.next_tx,
            names: &self.names,
            name_ends: &self.name_ends,
        };
        self.next_tx += 1;
        self.counters.tx += 1;
        sink(&tx);
        true
    }
}

impl AppParser for DnsParser {
    fn reset(&mut self) {
        for d in &mut self.dirs {
            d.frame.clear();
            d.resync = false;
        }
        self.failed = false;
        self.st.next_tx = 0;
        self.st.counters = AppCounters::default();
        self.st.names.clear();
        self.st.name_ends.clear();
    }

    fn parse(&mut self, to_server: bool, data: &[u8], sink: &mut TxSink<'_>) {
        if !self.tcp {
            let _ = self.st.message(to_server, data, sink);
        } else if !self.failed {
            self.parse_tcp(to_server, data, sink);
        }
    }

    fn gap(&mut self, to_server: bool, _len: u64) {
        if !self.tcp {
            return;
        }
        self.st.counters.gaps += 1;
        if let Some(d) = self.dirs.get_mut(usize::from(!to_server)) {
            d.frame.clear();
            d.resync = true;
        }
    }

    fn end(&mut self, _sink: &mut TxSink<'_>) {
        // Every complete message was reported when it arrived; a partial frame is dropped.
        for d in &mut self.dirs {
            d.frame.clear();
        }
    }

    fn counters(&self) -> AppCounters {
        self.st.counters
    }
}

/// One DNS message: the inspection point and the EVE record.
struct DnsTx<'a> {
    msg: Message<'a>,
    to_server: bool,
    tx_id: u64,
    names: &'a [u8],
    name_ends: &'a [usize],
}

impl Transaction for DnsTx<'_> {
    fn event_type(&self) -> &'static str {
        "dns"
    }

    fn to_server(&self) -> bool {
        self.to_server
    }

    fn buffers<'s>(&'s self, out: &mut Buffers<'s>) {
        let mut start = 0;
        for &end in self.name_ends {
            if let Some(data) = self.names.get(start..end) {
                let _ = out.push(AppBuffer {
                    kind: BufferKind::DnsQuery,
                    data,
                });
            }
            start = end;
        }
    }

    fn log(&self) -> bool {
        eve::logged(&self.msg)
    }

    fn write_eve(&self, out: &mut Vec<u8>) -> std::io::Result<()> {
        if self.to_server {
            eve::write_query(out, &self.msg, self.tx_id)
        } else {
            eve::write_answer(out, &self.msg)
        }
    }
}

/// Whether a UDP datagram looks like DNS (Suricata's `rs_dns_probe`): a header that does
/// not claim more records than the datagram can hold, and questions that do not break the
/// name rules (running out of bytes is tolerated).
///
/// What Suricata 7.0.10 does around it (seen on the corpus, for the caller): it probes only
/// flows whose server port (the first packet's destination) is 53, so a flow first seen
/// from port 53 to a high port is never DNS; when the first message to port 53 is a
/// response (QR set) it reverses the flow and logs that message as an answer (use
/// [`message::Header::is_response`]); and over UDP a datagram that does not match leaves the
/// flow undecided, so a later message of either direction can still make it DNS.
pub fn probe(_to_server: bool, data: &[u8]) -> Probe {
    if data.len() < HEADER_LEN {
        return Probe::NoMatch;
    }
    probe_message(data, data.len())
}

/// Whether the first bytes of a TCP direction look like DNS (Suricata's `rs_dns_probe_tcp`):
/// a length prefix and what [`probe`] accepts, with a message that may still be incomplete.
pub fn probe_tcp(_to_server: bool, data: &[u8]) -> Probe {
    if data.len() < 2 + HEADER_LEN {
        return Probe::NeedMore;
    }
    let len = frame_len(data) - 2;
    let msg = data.get(2..).unwrap_or(&[]);
    probe_message(msg.get(..len).unwrap_or(msg), len)
}

fn probe_message(input: &[u8], len: usize) -> Probe {
    let Some(header) = Header::parse(input) else {
        return Probe::NoMatch;
    };
    let check = if input.len() < len {
        Ok(())
    } else {
        match Message::parse(input, false) {
            Err(e) if !e.is_incomplete() && e != Error::Header => Err(()),
            _ => Ok(()),
        }
    };
    if check.is_ok() && header.plausible(len) {
        Probe::Match
    } else {
        Probe::NoMatch
    }
}
