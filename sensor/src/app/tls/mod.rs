//! TLS: an incremental SSL/TLS parser over reassembled TCP bytes, JA3/JA3S/JA4, the server
//! certificate, and Suricata 7's EVE `tls` record.
//!
//! The parser follows Suricata 7.0's `app-layer-ssl.c` closely, because its outputs (the
//! `tls.*`/`ja3.*` buffers rules inspect and the EVE record) are compared with Suricata's:
//! the same record checks end the parsing of a flow, the same hello fields are read in the
//! same order, and a session is logged under the same conditions. Where we depart from it,
//! it is to stay bounded or independent of how the stream was segmented (see
//! [`TlsParser`]'s notes).
//!
//! Layout: [`record`] frames records and reassembles handshake messages, [`hello`] decodes
//! hellos, [`ja3`]/[`ja4`] build fingerprints, [`cert`] decodes the certificate, [`eve`]
//! writes the record.

pub mod cert;
pub mod eve;
pub mod hello;
pub mod ja3;
pub mod ja4;
pub mod record;

#[cfg(test)]
mod tests;

use std::cell::Cell;

use signatures::{AppBuffer, BufferKind};

use super::{AppCounters, AppParser, Buffers, Probe, Transaction, TxSink};
use cert::CertInfo;
use hello::{Hello, Lists};
use ja3::Ja3;
use ja4::Ja4;
use record::RecordLayer;

/// Largest handshake message kept for decoding (a certificate chain, usually); longer ones
/// are skipped and counted as truncated.
pub const HS_MESSAGE_CAP: usize = 64 * 1024;

/// Session flags, named after Suricata's `SSL_AL_FLAG_*`.
pub(crate) mod flag {
    /// A ClientHello was decoded.
    pub const CLIENT_HELLO: u32 = 1 << 0;
    /// A ServerHello was decoded.
    pub const SERVER_HELLO: u32 = 1 << 1;
    /// The server asked for a client certificate.
    pub const NEED_CLIENT_CERT: u32 = 1 << 2;
    /// A ChangeCipherSpec was seen (either side).
    pub const CHANGE_CIPHER_SPEC: u32 = 1 << 3;
    /// The client sent ChangeCipherSpec.
    pub const CLIENT_CCS: u32 = 1 << 4;
    /// The server sent ChangeCipherSpec.
    pub const SERVER_CCS: u32 = 1 << 5;
    /// Certificates seen or application data flowing.
    pub const HANDSHAKE_DONE: u32 = 1 << 6;
    /// Session ticket offered or session id echoed.
    pub const SESSION_RESUMED: u32 = 1 << 7;
    /// TLS 1.3: there will be no clear-text certificate, log without one.
    pub const LOG_WITHOUT_CERT: u32 = 1 << 8;
    /// The ClientHello had supported_versions.
    pub const CH_VERSION_EXTENSION: u32 = 1 << 9;
    /// The ClientHello announced 0-RTT data.
    pub const EARLY_DATA: u32 = 1 << 10;
    /// A heartbeat request awaits its response.
    pub const HB_INFLIGHT: u32 = 1 << 11;
}

/// What the TLS record and EVE output include, like Suricata's tls settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TlsConfig {
    /// Log `ja3`/`ja3s` (Suricata: `app-layer.protocols.tls.ja3-fingerprints`, on when a
    /// rule uses ja3). The buffers are always offered to rules.
    pub ja3: bool,
    /// Log `ja4` (Suricata: eve `tls.ja4: on`, off by default).
    pub ja4: bool,
    /// Log resumed sessions that carried no certificate (eve `session-resumption`, on by
    /// default).
    pub session_resumption: bool,
}

impl Default for TlsConfig {
    fn default() -> Self {
        TlsConfig {
            ja3: true,
            ja4: false,
            session_resumption: true,
        }
    }
}

/// One direction's state (Suricata's `SSLStateConnp`).
#[derive(Debug, Default)]
pub struct Side {
    /// Record framing and handshake message reassembly.
    pub(crate) rec: RecordLayer,
    /// Protocol version as Suricata tracks it (record header, then hello, then
    /// supported_versions).
    pub version: u16,
    /// SNI host name (client side).
    pub sni: Vec<u8>,
    /// `sni` was set.
    pub sni_set: bool,
    /// Session id from the hello.
    pub sid: Vec<u8>,
    /// `sid` was set.
    pub sid_set: bool,
    /// JA3 (client) or JA3S (server).
    pub ja3: Ja3,
    /// JA4 (client hellos only).
    pub ja4: Ja4,
    /// This side's certificate.
    pub cert: CertInfo,
    /// A hello was decoded on this side.
    pub hello_seen: bool,
    /// ServerHelloDone was seen.
    pub hello_done: bool,
    /// Application data was seen.
    pub app_data: bool,
}

impl Side {
    fn clear(&mut self) {
        self.rec.clear();
        self.version = 0;
        self.sni.clear();
        self.sni_set = false;
        self.sid.clear();
        self.sid_set = false;
        self.ja3.clear();
        self.ja4.clear();
        self.cert.clear();
        self.hello_seen = false;
        self.hello_done = false;
        self.app_data = false;
    }
}

/// Which inspection point a [`TlsTx`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Point {
    /// After the ClientHello.
    Request,
    /// After the server's clear-text handshake flight.
    Response,
    /// Only to log (the session became loggable after both points were reported).
    LogOnly,
}

/// The TLS parser of one flow. Pooled: [`AppParser::reset`] keeps its buffers.
///
/// Inspection points: to_server once the ClientHello is decoded (`tls.sni`, `ja3.*`), and
/// to_client once the server's clear-text flight is in (ServerHello up to ServerHelloDone or
/// ChangeCipherSpec or, in TLS 1.3, the ServerHello alone: `ja3s.*`,
/// `tls.cert_*`, `tls.certs` and the request's `tls.sni`/`ja3.*`). The record is logged once,
/// when Suricata 7 would log it: once the handshake is done (certificate seen and the server's
/// flight over, or application data flowing) if a certificate was seen, the server chose TLS 1.3, or the session was
/// resumed; otherwise at the flow's end under the same condition. When that happens after
/// both points were reported, a point with no buffers carries the log.
///
/// Departures from Suricata, each for boundedness or segmentation independence: a server
/// certificate ends the handshake only once the server's flight is over (Suricata checks at
/// the end of each chunk it parses, and it parses the server's data when the client ACKs it,
/// which in practice is the whole flight; a CertificateRequest later in the flight makes it
/// wait for the client's certificate); handshake
/// messages over [`HS_MESSAGE_CAP`] are skipped (counted as truncated); an unknown record
/// type in a TLS 1.0/1.1 stream skips that record (Suricata drops the rest of the current
/// packet's data); heartbeats are checked as requests only; SSLv2 records are framed and
/// skipped (their content is never logged by Suricata either).
#[derive(Debug, Default)]
pub struct TlsParser {
    config: TlsConfig,
    sides: [Side; 2],
    flags: u32,
    lists: Lists,
    /// A fatal record error: Suricata stops the app layer of the flow.
    failed: bool,
    request_reported: bool,
    response_reported: bool,
    logged: bool,
    ended: bool,
    counters: AppCounters,
    /// Buffers that did not fit an inspection point's [`Buffers`].
    dropped_buffers: Cell<u64>,
    /// Direction that sent the heartbeat in flight.
    hb_from: usize,
    /// The ClientHello's JA4, written once at the request point for the `ja4.hash` buffer.
    ja4_text: Option<[u8; 36]>,
    /// Reused by the JA4 computation (sorted cipher and extension lists).
    ja4_scratch: Vec<u16>,
}

impl TlsParser {
    /// A parser with the default [`TlsConfig`].
    pub fn new() -> Self {
        Self::default()
    }

    /// A parser with the given configuration.
    pub fn with_config(config: TlsConfig) -> Self {
        TlsParser {
            config,
            ..Self::default()
        }
    }

    /// The configuration.
    pub fn config(&self) -> TlsConfig {
        self.config
    }

    /// The client's side (ClientHello, JA3, JA4, client certificate).
    pub fn client(&self) -> &Side {
        &self.sides[0]
    }

    /// The server's side (ServerHello, JA3S, certificate).
    pub fn server(&self) -> &Side {
        &self.sides[1]
    }

    /// The JA4 string of the ClientHello, when one was decoded.
    pub fn ja4(&self) -> Option<[u8; 36]> {
        let ja4 = &self.sides[0].ja4;
        if !ja4.active {
            return None;
        }
        let mut out = [0u8; 36];
        let mut scratch = Vec::new();
        ja4.write(&mut out, &mut scratch);
        Some(out)
    }

    /// The SNI as Suricata keeps it: a C string, so up to the first NUL.
    pub fn sni(&self) -> Option<&[u8]> {
        let c = &self.sides[0];
        if !c.sni_set {
            return None;
        }
        let end = c.sni.iter().position(|&b| b == 0).unwrap_or(c.sni.len());
        Some(&c.sni[..end])
    }

    /// Buffers that did not fit an inspection point (rules could not see them).
    pub fn dropped_buffers(&self) -> u64 {
        self.dropped_buffers.get()
    }

    /// Whether Suricata's logger condition holds (certificate names, resumption or TLS 1.3).
    fn loggable(&self) -> bool {
        self.sides[1].cert.has_names()
            || (self.flags & flag::SESSION_RESUMED != 0 && self.config.session_resumption)
            || self.flags & flag::LOG_WITHOUT_CERT != 0
    }

    /// Decodes one complete handshake message (`SSLv3ParseHandshakeType`).
    fn handshake_message(&mut self, d: usize, ty: u8, msg: &[u8]) {
        match ty {
            1 | 2 => {
                let client = ty == 1;
                let mut h = Hello {
                    client,
                    flags: &mut self.flags,
                    side: &mut self.sides[d],
                    sid_stored: false,
                    lists: &mut self.lists,
                };
                h.decode(msg);
                let stored = h.sid_stored;
                self.sides[d].hello_seen = true;
                if client {
                    self.flags |= flag::CLIENT_HELLO;
                } else {
                    self.flags |= flag::SERVER_HELLO;
                    let (c, s) = (&self.sides[0], &self.sides[1]);
                    if stored && c.sid_set && s.sid_set && c.sid == s.sid {
                        self.flags |= flag::SESSION_RESUMED;
                    }
                }
            }
            11 => {
                self.sides[d].cert.decode(msg);
                self.counters.truncated += std::mem::take(&mut self.sides[d].cert.dropped);
            }
            13 if d == 1 => self.flags |= flag::NEED_CLIENT_CERT,
            14 => self.sides[d].hello_done = true,
            _ => {}
        }
    }

    /// Reports the inspection points (and the log) due after a call's bytes.
    fn report(&mut self, to_server: bool, sink: &mut TxSink<'_>) {
        let s = &self.sides[1];
        // The server's clear-text flight is over (it may carry a CertificateRequest after
        // the Certificate, which changes when the handshake is done).
        let flight_done = s.hello_done
            || s.app_data
            || self.flags & (flag::SERVER_CCS | flag::LOG_WITHOUT_CERT | flag::HANDSHAKE_DONE) != 0;
        let need_client = self.flags & flag::NEED_CLIENT_CERT != 0;
        if (need_client && self.sides[0].cert.has_names())
            || (!need_client && flight_done && s.cert.has_names())
        {
            self.flags |= flag::HANDSHAKE_DONE;
        }
        let log = !self.logged && self.flags & flag::HANDSHAKE_DONE != 0 && self.loggable();
        let point = if to_server && !self.request_reported && self.sides[0].hello_seen {
            self.request_reported = true;
            if self.sides[0].ja4.active {
                let mut text = [0u8; 36];
                self.sides[0].ja4.write(&mut text, &mut self.ja4_scratch);
                self.ja4_text = Some(text);
            }
            Some(Point::Request)
        } else if !to_server
            && !self.response_reported
            && s.hello_seen
            && self.flags & flag::SERVER_HELLO != 0
            && flight_done
        {
            self.response_reported = true;
            Some(Point::Response)
        } else if log {
            Some(Point::LogOnly)
        } else {
            None
        };
        if let Some(point) = point {
            self.emit(point, to_server, log, sink);
        }
    }

    fn emit(&mut self, point: Point, to_server: bool, log: bool, sink: &mut TxSink<'_>) {
        if log {
            self.logged = true;
        }
        self.counters.tx += 1;
        let tx = TlsTx {
            p: self,
            point,
            to_server,
            log,
        };
        sink(&tx);
    }
}

impl AppParser for TlsParser {
    fn reset(&mut self) {
        for s in &mut self.sides {
            s.clear();
        }
        self.flags = 0;
        self.failed = false;
        self.request_reported = false;
        self.response_reported = false;
        self.logged = false;
        self.ended = false;
        self.counters = AppCounters::default();
        self.dropped_buffers.set(0);
        self.ja4_text = None;
    }

    fn parse(&mut self, to_server: bool, data: &[u8], sink: &mut TxSink<'_>) {
        if self.ended {
            return;
        }
        if !self.failed && !data.is_empty() {
            if let Err(record::Fatal) = record::feed(self, usize::from(!to_server), data) {
                self.failed = true;
                self.counters.parse_errors += 1;
            }
        }
        self.report(to_server, sink);
    }

    fn gap(&mut self, _to_server: bool, len: u64) {
        // Suricata's TLS parser does not accept gaps: the flow's app layer stops.
        if len > 0 {
            self.counters.gaps += 1;
            self.failed = true;
        }
    }

    fn end(&mut self, sink: &mut TxSink<'_>) {
        if self.ended {
            return;
        }
        self.ended = true;
        let log = !self.logged && self.loggable();
        if !self.response_reported && self.sides[1].hello_seen {
            self.response_reported = true;
            self.emit(Point::Response, false, log, sink);
        } else if log {
            self.emit(Point::LogOnly, false, log, sink);
        }
    }

    fn counters(&self) -> AppCounters {
        let mut c = self.counters;
        c.truncated += self.sides.iter().map(|s| s.rec.truncated).sum::<u64>();
        c.truncated += self
            .sides
            .iter()
            .map(|s| s.ja4.dropped + s.ja3.dropped)
            .sum::<u64>();
        c.truncated += self.dropped_buffers.get();
        c
    }
}

/// One TLS inspection point: a view of the parser.
pub struct TlsTx<'a> {
    p: &'a TlsParser,
    point: Point,
    to_server: bool,
    log: bool,
}

impl TlsTx<'_> {
    fn push<'s>(&'s self, out: &mut Buffers<'s>, kind: BufferKind, data: &'s [u8]) {
        if out.push(AppBuffer { kind, data }).is_err() {
            self.p.dropped_buffers.set(self.p.dropped_buffers.get() + 1);
        }
    }

    fn request_buffers<'s>(&'s self, out: &mut Buffers<'s>) {
        let p = self.p;
        if let Some(sni) = p.sni() {
            self.push(out, BufferKind::TlsSni, sni);
        }
        let c = &p.sides[0];
        if let Some(h) = c.ja3.hash() {
            self.push(out, BufferKind::Ja3Hash, h);
        }
        if let Some(s) = c.ja3.string() {
            self.push(out, BufferKind::Ja3String, s);
        }
        if let Some(j) = &p.ja4_text {
            self.push(out, BufferKind::Ja4Hash, j);
        }
    }
}

impl Transaction for TlsTx<'_> {
    fn event_type(&self) -> &'static str {
        "tls"
    }

    fn to_server(&self) -> bool {
        self.to_server
    }

    fn buffers<'s>(&'s self, out: &mut Buffers<'s>) {
        match self.point {
            Point::Request => self.request_buffers(out),
            Point::Response => {
                let s = &self.p.sides[1];
                if let Some(h) = s.ja3.hash() {
                    self.push(out, BufferKind::Ja3sHash, h);
                }
                if let Some(st) = s.ja3.string() {
                    self.push(out, BufferKind::Ja3sString, st);
                }
                let c = &s.cert;
                if let Some(v) = &c.subject {
                    self.push(out, BufferKind::TlsCertSubject, v.as_bytes());
                }
                if let Some(v) = &c.issuer {
                    self.push(out, BufferKind::TlsCertIssuer, v.as_bytes());
                }
                if !c.serial.is_empty() {
                    self.push(out, BufferKind::TlsCertSerial, &c.serial);
                }
                if !c.fingerprint.is_empty() {
                    self.push(out, BufferKind::TlsCertFingerprint, &c.fingerprint);
                }
                for der in c.certs() {
                    self.push(out, BufferKind::TlsCerts, der);
                }
                self.request_buffers(out);
            }
            Point::LogOnly => {}
        }
    }

    fn log(&self) -> bool {
        self.log
    }

    fn write_eve(&self, out: &mut Vec<u8>) -> std::io::Result<()> {
        eve::write(self.p, out);
        Ok(())
    }
}

/// Whether the first bytes of a direction look like SSL/TLS, by content (Suricata's
/// patterns): to the server a TLS record header `16 03 0x` (or `01 03 0x`) or an SSLv2
/// ClientHello; to the client a handshake, alert or application data record `1[5-7] 03 0x`.
pub fn probe(to_server: bool, data: &[u8]) -> Probe {
    let Some(&b0) = data.first() else {
        return Probe::NeedMore;
    };
    let tls_types: &[u8] = if to_server {
        &[0x16, 0x01]
    } else {
        &[0x15, 0x16, 0x17]
    };
    let tls_prefix = tls_types.contains(&b0)
        && data.get(1).is_none_or(|&b| b == 3)
        && data.get(2).is_none_or(|&b| b <= 3);
    if tls_prefix {
        return if data.len() >= 3 {
            Probe::Match
        } else {
            Probe::NeedMore
        };
    }
    if to_server && b0 & 0x80 != 0 {
        // SSLv2 ClientHello: 2-byte header, msg type 1, version 00 02 or 03 0x.
        let want: [Option<u8>; 3] = [
            data.get(2).copied(),
            data.get(3).copied(),
            data.get(4).copied(),
        ];
        return match want {
            [Some(1), Some(0), Some(2)] | [Some(1), Some(3), Some(0..=3)] => Probe::Match,
            [Some(1), None, _] | [Some(1), Some(0 | 3), None] | [None, _, _] => Probe::NeedMore,
            _ => Probe::NoMatch,
        };
    }
    Probe::NoMatch
}
