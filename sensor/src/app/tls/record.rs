//! Record framing and handshake message reassembly for one direction.
//!
//! TLS records ([`RecordHeader`]) arrive split across TCP segments however the network
//! likes; handshake messages ([`HandshakeHeader`]) span records (a certificate chain often
//! does). Suricata 7 asks the stream engine for whole records and keeps a growing buffer for
//! a message spanning records; we do the same with two buffers per direction that are
//! reused for the life of the parser: `body` holds a record only while it is split across
//! calls (a record that is whole in the input is decoded in place), and `hs` holds a
//! handshake message only while it spans records, up to [`HS_MESSAGE_CAP`].
//! Application data records are never buffered: they are only counted and skipped.

use super::hello::version_valid;
use super::{flag, TlsParser, HS_MESSAGE_CAP};

/// Largest record body Suricata accepts (2^14 plus 1024, as for compressed records).
pub const RECORD_MAX: usize = (1 << 14) + 1024;

/// A fatal protocol error: Suricata stops parsing the flow's app layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fatal;

/// A typed view of a 5-byte TLS record header.
#[derive(Debug, Clone, Copy)]
pub struct RecordHeader<'a>(&'a [u8; 5]);

impl<'a> RecordHeader<'a> {
    /// Views the header bytes.
    pub fn new(b: &'a [u8; 5]) -> Self {
        RecordHeader(b)
    }
    /// Content type (20 CCS, 21 alert, 22 handshake, 23 application data, 24 heartbeat).
    pub fn content_type(&self) -> u8 {
        self.0[0]
    }
    /// Record-layer version.
    pub fn version(&self) -> u16 {
        u16::from_be_bytes([self.0[1], self.0[2]])
    }
    /// Body length.
    pub fn length(&self) -> usize {
        usize::from(u16::from_be_bytes([self.0[3], self.0[4]]))
    }
}

/// A typed view of a handshake message's 4-byte header.
#[derive(Debug, Clone, Copy)]
pub struct HandshakeHeader<'a>(&'a [u8]);

impl<'a> HandshakeHeader<'a> {
    /// Views the first 4 bytes of `b`, if there are 4.
    pub fn new(b: &'a [u8]) -> Option<Self> {
        b.get(..4).map(HandshakeHeader)
    }
    /// Message type.
    pub fn msg_type(&self) -> u8 {
        self.0.first().copied().unwrap_or(0)
    }
    /// Message length (24 bits).
    pub fn length(&self) -> usize {
        self.0
            .get(1..4)
            .map_or(0, |b| b.iter().fold(0, |a, &x| a << 8 | usize::from(x)))
    }
}

/// Handshake types Suricata decodes or skips without complaint.
fn supported_handshake(t: u8) -> bool {
    matches!(t, 0 | 1 | 2 | 4 | 11..=16 | 20 | 21 | 22)
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum State {
    /// At a record boundary.
    #[default]
    Start,
    /// Collecting a TLS record header.
    Header,
    /// Collecting an SSLv2 record header (2 or 3 bytes).
    V2Header,
    /// Collecting a record body to decode.
    Body,
    /// Skipping `skip` bytes (application data, SSLv2, records we drop).
    Skip,
}

/// One direction's framing state.
#[derive(Debug, Default)]
pub struct RecordLayer {
    state: State,
    hdr: [u8; 5],
    hdr_len: usize,
    content_type: u8,
    record_len: usize,
    skip: usize,
    /// The current record is application data (its first bytes set the session's flags).
    app_data: bool,
    body: Vec<u8>,
    hs: Vec<u8>,
    hs_active: bool,
    hs_type: u8,
    hs_size: usize,
    hs_got: usize,
    /// Records framed.
    pub records: u64,
    /// Bytes of handshake messages skipped because they exceeded the cap.
    pub truncated: u64,
}

impl RecordLayer {
    /// Forgets the flow, keeping capacity.
    pub fn clear(&mut self) {
        let (body, hs) = (std::mem::take(&mut self.body), std::mem::take(&mut self.hs));
        *self = RecordLayer {
            body,
            hs,
            ..RecordLayer::default()
        };
        self.body.clear();
        self.hs.clear();
    }
}

/// Feeds one call's bytes of direction `d` (0 client, 1 server).
pub fn feed(p: &mut TlsParser, d: usize, mut data: &[u8]) -> Result<(), Fatal> {
    while let Some(&b0) = data.first() {
        let rl = &mut p.sides[d].rec;
        match rl.state {
            State::Start => {
                rl.hdr_len = 0;
                rl.records += 1;
                if b0 & 0xc0 != 0 {
                    p.sides[d].version = 0x0200;
                    p.sides[d].rec.state = State::V2Header;
                } else {
                    if p.sides[d].version == 0x0200 {
                        p.sides[d].version = 0;
                    }
                    p.sides[d].rec.state = State::Header;
                }
            }
            State::V2Header => {
                let first = if rl.hdr_len == 0 { b0 } else { rl.hdr[0] };
                let need = if first & 0x80 != 0 { 2 } else { 3 };
                let n = (need - rl.hdr_len).min(data.len());
                rl.hdr[rl.hdr_len..rl.hdr_len + n].copy_from_slice(&data[..n]);
                rl.hdr_len += n;
                data = &data[n..];
                if rl.hdr_len == need {
                    let mask = if need == 2 { 0x7f } else { 0x3f };
                    let len = usize::from(rl.hdr[0] & mask) << 8 | usize::from(rl.hdr[1]);
                    rl.skip = len;
                    rl.app_data = false;
                    rl.state = if len == 0 { State::Start } else { State::Skip };
                }
            }
            State::Header => {
                let n = (5 - rl.hdr_len).min(data.len());
                rl.hdr[rl.hdr_len..rl.hdr_len + n].copy_from_slice(&data[..n]);
                rl.hdr_len += n;
                data = &data[n..];
                if rl.hdr_len == 5 {
                    header_done(p, d)?;
                }
            }
            State::Skip => {
                if rl.app_data {
                    rl.app_data = false;
                    application_data(p, d);
                }
                let rl = &mut p.sides[d].rec;
                let n = rl.skip.min(data.len());
                rl.skip -= n;
                data = &data[n..];
                if rl.skip == 0 {
                    rl.state = State::Start;
                }
            }
            State::Body => {
                let need = rl.record_len - rl.body.len();
                if rl.body.is_empty() && data.len() >= need {
                    let (rec, rest) = data.split_at(need);
                    data = rest;
                    p.sides[d].rec.state = State::Start;
                    let ct = p.sides[d].rec.content_type;
                    record(p, d, ct, rec)?;
                } else {
                    let n = need.min(data.len());
                    rl.body.extend_from_slice(&data[..n]);
                    data = &data[n..];
                    if rl.body.len() == rl.record_len {
                        rl.state = State::Start;
                        let ct = rl.content_type;
                        let body = std::mem::take(&mut rl.body);
                        let r = record(p, d, ct, &body);
                        let rl = &mut p.sides[d].rec;
                        rl.body = body;
                        rl.body.clear();
                        r?;
                    }
                }
            }
        }
    }
    Ok(())
}

/// The record header is complete: `SSLv3ParseRecord` and `SSLv3Decode`'s checks.
fn header_done(p: &mut TlsParser, d: usize) -> Result<(), Fatal> {
    let side = &mut p.sides[d];
    let hdr = side.rec.hdr;
    let h = RecordHeader::new(&hdr);
    let prev_version = side.version;
    let hello_flag = if d == 0 {
        flag::CLIENT_HELLO
    } else {
        flag::SERVER_HELLO
    };
    if !(p.flags & hello_flag != 0 && side.version != 0) {
        side.version = h.version();
    }
    let rl = &mut side.rec;
    rl.content_type = h.content_type();
    rl.record_len = h.length();
    rl.app_data = false;
    if !(20..=24).contains(&rl.content_type) {
        if matches!(prev_version, 0x0301 | 0x0302) {
            side.version = prev_version;
            rl.skip = rl.record_len;
            rl.state = if rl.skip == 0 {
                State::Start
            } else {
                State::Skip
            };
            return Ok(());
        }
        return Err(Fatal);
    }
    if rl.record_len == 0 || !version_valid(side.version) || rl.record_len > RECORD_MAX {
        return Err(Fatal);
    }
    if rl.content_type == 23 {
        rl.app_data = true;
        rl.skip = rl.record_len;
        rl.state = State::Skip;
    } else {
        rl.body.clear();
        rl.state = State::Body;
    }
    Ok(())
}

/// The first bytes of an application data record.
fn application_data(p: &mut TlsParser, d: usize) {
    p.sides[d].app_data = true;
    // 0-RTT data may come before the ServerHello: that does not end the handshake.
    if p.flags & flag::EARLY_DATA != 0 && p.flags & flag::SERVER_HELLO == 0 {
        return;
    }
    p.flags |= flag::HANDSHAKE_DONE;
}

/// A whole record body of content type `ct`.
fn record(p: &mut TlsParser, d: usize, ct: u8, body: &[u8]) -> Result<(), Fatal> {
    match ct {
        20 => {
            p.flags |= flag::CHANGE_CIPHER_SPEC
                | if d == 1 {
                    flag::SERVER_CCS
                } else {
                    flag::CLIENT_CCS
                };
            Ok(())
        }
        22 => {
            if p.flags & flag::CHANGE_CIPHER_SPEC != 0 {
                // TLS 1.3 middlebox compatibility CCS before the ServerHello: go on.
                let tls13_ccs = p.flags & flag::CLIENT_HELLO != 0
                    && p.sides[0].version > 0x0303
                    && p.flags & flag::SERVER_HELLO == 0;
                if !tls13_ccs {
                    return Ok(());
                }
            }
            if body.len() < 4 {
                return Err(Fatal);
            }
            handshake(p, d, body)
        }
        24 => heartbeat(p, d, body),
        _ => Ok(()),
    }
}

/// `SSLv3ParseHandshakeProtocol`: the messages of one handshake record.
fn handshake(p: &mut TlsParser, d: usize, mut input: &[u8]) -> Result<(), Fatal> {
    while !input.is_empty() {
        let rl = &mut p.sides[d].rec;
        if rl.hs_active {
            let add = (rl.hs_size - rl.hs_got).min(input.len());
            if rl.hs_size <= HS_MESSAGE_CAP {
                rl.hs.extend_from_slice(&input[..add]);
            } else {
                rl.truncated += add as u64;
            }
            rl.hs_got += add;
            input = &input[add..];
            if rl.hs_got >= rl.hs_size {
                rl.hs_active = false;
                if rl.hs_size <= HS_MESSAGE_CAP {
                    let ty = rl.hs_type;
                    let msg = std::mem::take(&mut rl.hs);
                    p.handshake_message(d, ty, &msg);
                    let rl = &mut p.sides[d].rec;
                    rl.hs = msg;
                    rl.hs.clear();
                }
            }
            continue;
        }
        let Some(h) = HandshakeHeader::new(input) else {
            return Err(Fatal);
        };
        let (ty, len) = (h.msg_type(), h.length());
        input = &input[4..];
        if !supported_handshake(ty) {
            // Unknown (or encrypted) message: skip what this record holds of it.
            input = &input[len.min(input.len())..];
            continue;
        }
        if len > input.len() {
            rl.hs_active = true;
            rl.hs_type = ty;
            rl.hs_size = len;
            rl.hs_got = input.len();
            rl.hs.clear();
            if len <= HS_MESSAGE_CAP {
                rl.hs.extend_from_slice(input);
            } else {
                rl.truncated += input.len() as u64;
            }
            return Ok(());
        }
        let (msg, rest) = input.split_at(len);
        p.handshake_message(d, ty, msg);
        input = rest;
    }
    Ok(())
}

/// `SSLv3ParseHeartbeatProtocol`, for requests (CVE-2014-0160 checks).
fn heartbeat(p: &mut TlsParser, d: usize, body: &[u8]) -> Result<(), Fatal> {
    let [hb_type, l0, l1, ..] = *body else {
        return Ok(());
    };
    let encrypted = p.flags & flag::CHANGE_CIPHER_SPEC != 0;
    if !(encrypted || hb_type == 1 || hb_type == 2) {
        return Err(Fatal);
    }
    if p.flags & flag::HB_INFLIGHT == 0 {
        p.flags |= flag::HB_INFLIGHT;
        p.hb_from = d;
        if encrypted {
            return Ok(());
        }
        let payload = usize::from(u16::from_be_bytes([l0, l1]));
        if payload + 3 > body.len() || body.len() - payload - 3 < 16 {
            return Err(Fatal);
        }
    } else if d != p.hb_from {
        p.flags &= !flag::HB_INFLIGHT;
    }
    Ok(())
}
