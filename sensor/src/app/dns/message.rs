//! A typed, zero-copy view over one DNS message (RFC 1035 section 4).
//!
//! [`Message::parse`] walks the message once to check that every section the sensor uses
//! (questions, and for responses answers and authorities) parses, then hands out iterators
//! that decode fields from the original bytes on demand. Nothing is copied except a name's
//! labels, which a caller decompresses into a sink of its own ([`NameBuf`] on the stack, or a
//! reused `Vec<u8>`).
//!
//! The acceptance rules follow Suricata 7.0's DNS parser (`rust/src/dns/parser.rs`), so that
//! what the sensor logs and inspects agrees with it message for message:
//! * the header must claim no more records than the message could hold (two bytes each);
//! * a request is its questions only, a response its questions, answers and authorities
//!   (the additional section is never parsed, so damage there does not matter);
//! * a name ends at a zero label, at the end of its input, or at a compression pointer that
//!   points at itself (after another pointer was followed); more than 255 labels/pointers
//!   end it too (an error unless a pointer was followed, which is what bounds pointer loops);
//!   its dotted form is cut at 1025 bytes ([`MAX_NAME_LEN`], as dnsmasq does) and flagged;
//! * each resource record's data must parse for its type and consume at least one byte, a
//!   TXT record's data is a list of strings, each logged as an entry of its own.

use std::ops::Range;

/// Bytes of the fixed header.
pub const HEADER_LEN: usize = 12;
/// Longest dotted name kept; longer ones are cut here and flagged as truncated.
pub const MAX_NAME_LEN: usize = 1025;
/// Labels and pointers followed in one name before it is cut (or rejected).
pub const MAX_NAME_STEPS: usize = 255;
/// Most strings one TXT record yields (Suricata's `many_m_n(1, 32767, ..)`).
pub const MAX_TXT_STRINGS: usize = 32767;
/// Room a decoded name can need: the cut is applied after a label is appended, and the
/// step limit can stop a name before that check, so one label may stick out past the cut.
pub const NAME_BUF_LEN: usize = MAX_NAME_LEN + 1 + 63;

/// Why a message did not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Shorter than the header, or claims more records than it could hold.
    #[error("bad DNS header")]
    Header,
    /// A field runs past the end of its message or record.
    #[error("DNS message truncated")]
    Truncated,
    /// A label type other than a length or a compression pointer.
    #[error("bad DNS label type")]
    LabelType,
    /// A compression pointer past the end of the message.
    #[error("DNS compression pointer out of range")]
    Pointer,
    /// A name that is a pointer to itself.
    #[error("DNS compression pointer loop")]
    Loop,
    /// More than [`MAX_NAME_STEPS`] labels without a pointer.
    #[error("too many labels in a DNS name")]
    Labels,
    /// A resource record's data does not parse for its type (or is empty).
    #[error("bad DNS record data")]
    Rdata,
}

impl Error {
    /// True when more bytes could have made it parse (what Suricata's probe calls
    /// incomplete, as opposed to bytes that are not DNS at all).
    pub fn is_incomplete(self) -> bool {
        matches!(self, Error::Truncated)
    }
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    let s = b.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes([*s.first()?, *s.get(1)?]))
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    let mut v = [0u8; 4];
    v.copy_from_slice(s);
    Some(u32::from_be_bytes(v))
}

/// The fixed 12-byte header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Message id chosen by the client.
    pub id: u16,
    /// The flags word: QR, opcode, AA, TC, RD, RA, Z, AD, CD, rcode.
    pub flags: u16,
    /// Question count.
    pub qdcount: u16,
    /// Answer count.
    pub ancount: u16,
    /// Authority count.
    pub nscount: u16,
    /// Additional count.
    pub arcount: u16,
}

impl Header {
    /// Reads the header, if there are 12 bytes.
    pub fn parse(b: &[u8]) -> Option<Header> {
        Some(Header {
            id: be16(b, 0)?,
            flags: be16(b, 2)?,
            qdcount: be16(b, 4)?,
            ancount: be16(b, 6)?,
            nscount: be16(b, 8)?,
            arcount: be16(b, 10)?,
        })
    }

    /// The QR bit: a response.
    pub fn is_response(&self) -> bool {
        self.flags & 0x8000 != 0
    }

    /// The opcode (0 query, 1 inverse query, 2 status, 4 notify, 5 update).
    pub fn opcode(&self) -> u8 {
        ((self.flags >> 11) & 0xf) as u8
    }

    /// The 4-bit response code.
    pub fn rcode(&self) -> u8 {
        (self.flags & 0xf) as u8
    }

    /// Suricata's sanity check: every record takes at least two bytes, so a message of
    /// `len` bytes cannot hold more than `(len - 12) / 2` of them.
    pub fn plausible(&self, len: usize) -> bool {
        let records = usize::from(self.qdcount)
            + usize::from(self.ancount)
            + usize::from(self.nscount)
            + usize::from(self.arcount);
        HEADER_LEN + 2 * records <= len
    }
}

/// What happened while a name was decoded (Suricata's `DNSNameFlags`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NameFlags {
    /// Cut at [`MAX_NAME_LEN`] or at the step limit.
    pub truncated: bool,
    /// Ended at a pointer to itself.
    pub pointer_loop: bool,
    /// Hit [`MAX_NAME_STEPS`].
    pub label_limit: bool,
}

/// Receives a name's dotted form as it is decompressed.
pub trait NameSink {
    /// Appends bytes (a label or a dot).
    fn push(&mut self, bytes: &[u8]);
    /// Cuts what was pushed to `len` bytes.
    fn truncate(&mut self, len: usize);
}

/// Discards the name (used to validate a message).
impl NameSink for () {
    fn push(&mut self, _: &[u8]) {}
    fn truncate(&mut self, _: usize) {}
}

impl NameSink for Vec<u8> {
    fn push(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
    fn truncate(&mut self, len: usize) {
        Vec::truncate(self, len);
    }
}

/// A decoded name on the stack, large enough for any name this module produces.
pub struct NameBuf {
    buf: [u8; NAME_BUF_LEN],
    len: usize,
}

impl Default for NameBuf {
    fn default() -> Self {
        NameBuf {
            buf: [0; NAME_BUF_LEN],
            len: 0,
        }
    }
}

impl NameBuf {
    /// The dotted name.
    pub fn as_bytes(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or(&[])
    }
}

impl NameSink for NameBuf {
    fn push(&mut self, bytes: &[u8]) {
        let room = NAME_BUF_LEN - self.len;
        let n = bytes.len().min(room);
        if let (Some(dst), Some(src)) = (self.buf.get_mut(self.len..self.len + n), bytes.get(..n)) {
            dst.copy_from_slice(src);
            self.len += n;
        }
    }
    fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }
}

/// Decodes the name at `msg[start..]`, reading its first labels no further than `end`
/// (the end of the record data it sits in, or of the message); pointers lead anywhere in
/// `msg`. Returns where the data after the name starts.
fn walk_name(
    msg: &[u8],
    start: usize,
    end: usize,
    sink: &mut dyn NameSink,
) -> Result<(usize, NameFlags), Error> {
    let mut pos = start;
    let mut lim = end.min(msg.len());
    // Where the data continues after the first pointer followed.
    let mut pivot: Option<usize> = None;
    let mut steps = 0usize;
    let mut len = 0usize;
    let mut flags = NameFlags::default();
    loop {
        if pos >= lim {
            break;
        }
        let Some(&b) = msg.get(pos) else { break };
        if b == 0 {
            pos += 1;
            break;
        } else if b & 0xc0 == 0 {
            let n = usize::from(b);
            if lim - pos < 1 + n {
                return Err(Error::Truncated);
            }
            if !flags.truncated {
                if len > 0 {
                    sink.push(b".");
                    len += 1;
                }
                sink.push(msg.get(pos + 1..pos + 1 + n).unwrap_or(&[]));
                len += n;
            }
            pos += 1 + n;
        } else if b & 0xc0 == 0xc0 {
            let Some(word) = be16(msg.get(..lim).unwrap_or(&[]), pos) else {
                return Err(Error::Truncated);
            };
            let offset = usize::from(word & 0x3fff);
            if offset > msg.len() {
                return Err(Error::Pointer);
            }
            // Suricata compares the bytes from the target to the message end with the
            // bytes left in the current input: equal means a pointer to itself. When the
            // input runs to the message end, equal lengths mean the same start, so skip the
            // comparison (a memcmp of up to 64 KiB per name otherwise); inside record data
            // the comparison is bounded by the record's length.
            let same = if lim == msg.len() {
                offset == pos
            } else {
                msg.get(offset..) == msg.get(pos..lim)
            };
            if same {
                flags.pointer_loop = true;
                if pivot.is_some() {
                    break;
                }
                return Err(Error::Loop);
            }
            if pivot.is_none() {
                pivot = Some(pos + 2);
            }
            pos = offset;
            lim = msg.len();
        } else {
            return Err(Error::LabelType);
        }
        steps += 1;
        if steps > MAX_NAME_STEPS {
            flags.label_limit = true;
            if pivot.is_some() {
                flags.truncated = true;
                break;
            }
            return Err(Error::Labels);
        }
        if len > MAX_NAME_LEN {
            sink.truncate(MAX_NAME_LEN);
            len = MAX_NAME_LEN;
            flags.truncated = true;
            if pivot.is_some() {
                break;
            }
        }
    }
    Ok((pivot.unwrap_or(pos), flags))
}

/// How a parse finds where a name ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Walk {
    /// Follow every pointer and apply every rule: what [`Message::parse`] does once.
    Check,
    /// The message was checked: scan the inline labels up to the end or the first pointer,
    /// which gives the same position in O(name length) instead of up to 256 steps.
    Skip,
}

/// Where the data after the name at `msg[at..]` starts.
fn name_end(msg: &[u8], at: usize, end: usize, walk: Walk) -> Result<usize, Error> {
    if walk == Walk::Check {
        return walk_name(msg, at, end, &mut ()).map(|(next, _)| next);
    }
    let lim = end.min(msg.len());
    let mut pos = at;
    loop {
        let Some(&b) = msg.get(pos).filter(|_| pos < lim) else {
            return Ok(pos);
        };
        match b & 0xc0 {
            0 if b == 0 => return Ok(pos + 1),
            0 if lim - pos > usize::from(b) => pos += 1 + usize::from(b),
            0xc0 if lim - pos >= 2 => return Ok(pos + 2),
            _ => return Err(Error::Truncated),
        }
    }
}

/// A name somewhere in a message, decoded on demand.
#[derive(Debug, Clone, Copy)]
pub struct Name<'a> {
    msg: &'a [u8],
    start: usize,
    end: usize,
}

impl<'a> Name<'a> {
    /// Decompresses the dotted name into `sink`; returns its flags. A name inside a message
    /// that [`Message::parse`] accepted always decodes; otherwise what decoded before the
    /// error stays in the sink.
    pub fn decode(&self, sink: &mut dyn NameSink) -> NameFlags {
        walk_name(self.msg, self.start, self.end, sink)
            .map(|(_, f)| f)
            .unwrap_or_default()
    }

    /// Decodes into a [`NameBuf`].
    pub fn to_buf(&self, buf: &mut NameBuf) -> NameFlags {
        buf.len = 0;
        self.decode(buf)
    }
}

/// One question.
#[derive(Debug, Clone, Copy)]
pub struct Question<'a> {
    /// Queried name.
    pub name: Name<'a>,
    /// Queried type.
    pub rrtype: u16,
    /// Queried class.
    pub rrclass: u16,
}

fn parse_question(msg: &[u8], at: usize, walk: Walk) -> Result<(Question<'_>, usize), Error> {
    let next = name_end(msg, at, msg.len(), walk)?;
    let rrtype = be16(msg, next).ok_or(Error::Truncated)?;
    let rrclass = be16(msg, next + 2).ok_or(Error::Truncated)?;
    let name = Name {
        msg,
        start: at,
        end: msg.len(),
    };
    Ok((
        Question {
            name,
            rrtype,
            rrclass,
        },
        next + 4,
    ))
}

/// A resource record's data, as Suricata types it.
#[derive(Debug, Clone, Copy)]
pub enum Rdata<'a> {
    /// A or AAAA: the address bytes (whatever their length).
    Addr(&'a [u8]),
    /// CNAME, NS, PTR, and MX (whose preference is skipped): a name.
    Name(Name<'a>),
    /// One string of a TXT record.
    Txt(&'a [u8]),
    /// NULL: the raw bytes.
    Null(&'a [u8]),
    /// SOA.
    Soa {
        /// Primary name server.
        mname: Name<'a>,
        /// Responsible mailbox.
        rname: Name<'a>,
        /// Serial number.
        serial: u32,
        /// Refresh interval.
        refresh: u32,
        /// Retry interval.
        retry: u32,
        /// Expiry.
        expire: u32,
        /// Minimum (negative caching) TTL.
        minimum: u32,
    },
    /// SRV.
    Srv {
        /// Priority.
        priority: u16,
        /// Weight.
        weight: u16,
        /// Port.
        port: u16,
        /// Target host.
        target: Name<'a>,
    },
    /// SSHFP.
    Sshfp {
        /// Key algorithm.
        algo: u8,
        /// Fingerprint type.
        fp_type: u8,
        /// Fingerprint bytes.
        fingerprint: &'a [u8],
    },
    /// Any other type: not decoded.
    Other(&'a [u8]),
}

/// Record types with data the log decodes.
pub mod rrtype {
    /// A.
    pub const A: u16 = 1;
    /// NS.
    pub const NS: u16 = 2;
    /// CNAME.
    pub const CNAME: u16 = 5;
    /// SOA.
    pub const SOA: u16 = 6;
    /// NULL.
    pub const NULL: u16 = 10;
    /// PTR.
    pub const PTR: u16 = 12;
    /// MX.
    pub const MX: u16 = 15;
    /// TXT.
    pub const TXT: u16 = 16;
    /// AAAA.
    pub const AAAA: u16 = 28;
    /// SRV.
    pub const SRV: u16 = 33;
    /// SSHFP.
    pub const SSHFP: u16 = 44;
}

/// Parses one item of record data of `rrtype` at `msg[at..end]`; returns it and where the
/// next item starts. Consuming nothing is an error (nom's `many_m_n` rule).
fn parse_rdata(
    msg: &[u8],
    rrtype: u16,
    at: usize,
    end: usize,
    walk: Walk,
) -> Result<(Rdata<'_>, usize), Error> {
    let data = msg.get(at..end).ok_or(Error::Rdata)?;
    let name_at = |start: usize| Name { msg, start, end };
    let (item, next) = match rrtype {
        rrtype::A | rrtype::AAAA => (Rdata::Addr(data), end),
        rrtype::NULL => (Rdata::Null(data), end),
        rrtype::CNAME | rrtype::NS | rrtype::PTR => {
            let next = name_end(msg, at, end, walk).map_err(|_| Error::Rdata)?;
            (Rdata::Name(name_at(at)), next)
        }
        rrtype::MX => {
            if data.len() < 2 {
                return Err(Error::Rdata);
            }
            let next = name_end(msg, at + 2, end, walk).map_err(|_| Error::Rdata)?;
            (Rdata::Name(name_at(at + 2)), next)
        }
        rrtype::SOA => {
            let r = name_end(msg, at, end, walk).map_err(|_| Error::Rdata)?;
            let fixed = name_end(msg, r, end, walk).map_err(|_| Error::Rdata)?;
            let fields = msg.get(fixed..end).ok_or(Error::Rdata)?;
            let v = |i: usize| be32(fields, 4 * i).ok_or(Error::Rdata);
            let soa = Rdata::Soa {
                mname: name_at(at),
                rname: name_at(r),
                serial: v(0)?,
                refresh: v(1)?,
                retry: v(2)?,
                expire: v(3)?,
                minimum: v(4)?,
            };
            (soa, fixed + 20)
        }
        rrtype::SRV => {
            let f = |i: usize| be16(data, 2 * i).ok_or(Error::Rdata);
            let (priority, weight, port) = (f(0)?, f(1)?, f(2)?);
            let next = name_end(msg, at + 6, end, walk).map_err(|_| Error::Rdata)?;
            let target = name_at(at + 6);
            let srv = Rdata::Srv {
                priority,
                weight,
                port,
                target,
            };
            (srv, next)
        }
        rrtype::SSHFP => match data {
            [algo, fp_type, fingerprint @ ..] => (
                Rdata::Sshfp {
                    algo: *algo,
                    fp_type: *fp_type,
                    fingerprint,
                },
                end,
            ),
            _ => return Err(Error::Rdata),
        },
        rrtype::TXT => {
            let n = usize::from(*data.first().ok_or(Error::Rdata)?);
            let s = data.get(1..1 + n).ok_or(Error::Rdata)?;
            (Rdata::Txt(s), at + 1 + n)
        }
        _ => (Rdata::Other(data), end),
    };
    if next <= at {
        return Err(Error::Rdata);
    }
    Ok((item, next))
}

/// A resource record's fixed part and where its data lies.
#[derive(Debug, Clone, Copy)]
struct RecordHead<'a> {
    name: Name<'a>,
    rrtype: u16,
    rrclass: u16,
    ttl: u32,
    data: (usize, usize),
}

fn parse_record_head(msg: &[u8], at: usize, walk: Walk) -> Result<(RecordHead<'_>, usize), Error> {
    let p = name_end(msg, at, msg.len(), walk)?;
    let rrtype = be16(msg, p).ok_or(Error::Truncated)?;
    let rrclass = be16(msg, p + 2).ok_or(Error::Truncated)?;
    let ttl = be32(msg, p + 4).ok_or(Error::Truncated)?;
    let rdlen = usize::from(be16(msg, p + 8).ok_or(Error::Truncated)?);
    let start = p + 10;
    let end = start + rdlen;
    if end > msg.len() {
        return Err(Error::Truncated);
    }
    let name = Name {
        msg,
        start: at,
        end: msg.len(),
    };
    let head = RecordHead {
        name,
        rrtype,
        rrclass,
        ttl,
        data: (start, end),
    };
    Ok((head, end))
}

/// Checks one record the way the log will read it; returns where the next one starts.
fn check_record(msg: &[u8], at: usize) -> Result<usize, Error> {
    let (head, next) = parse_record_head(msg, at, Walk::Check)?;
    let (start, end) = head.data;
    let (_, mut p) = parse_rdata(msg, head.rrtype, start, end, Walk::Check)?;
    if head.rrtype == rrtype::TXT {
        let mut strings = 1;
        while strings < MAX_TXT_STRINGS && p < end {
            match parse_rdata(msg, head.rrtype, p, end, Walk::Check) {
                Ok((_, q)) => p = q,
                Err(_) => break,
            }
            strings += 1;
        }
    }
    Ok(next)
}

/// A DNS message that parsed, with the bounds of its sections.
#[derive(Debug, Clone)]
pub struct Message<'a> {
    bytes: &'a [u8],
    header: Header,
    answers: Range<usize>,
    authorities: Range<usize>,
}

impl<'a> Message<'a> {
    /// Parses a request (`response == false`: header and questions) or a response (also
    /// answers and authorities). The QR bit is not checked here.
    pub fn parse(bytes: &'a [u8], response: bool) -> Result<Message<'a>, Error> {
        let header = Header::parse(bytes).ok_or(Error::Header)?;
        if !header.plausible(bytes.len()) {
            return Err(Error::Header);
        }
        let mut at = HEADER_LEN;
        for _ in 0..header.qdcount {
            at = parse_question(bytes, at, Walk::Check)?.1;
        }
        let an = at;
        if response {
            for _ in 0..header.ancount {
                at = check_record(bytes, at)?;
            }
        }
        let ns = at;
        if response {
            for _ in 0..header.nscount {
                at = check_record(bytes, at)?;
            }
        }
        Ok(Message {
            bytes,
            header,
            answers: an..ns,
            authorities: ns..at,
        })
    }

    /// The message's bytes.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The header.
    pub fn header(&self) -> Header {
        self.header
    }

    /// The questions.
    pub fn questions(&self) -> Questions<'a> {
        Questions {
            msg: self.bytes,
            at: HEADER_LEN,
            left: self.header.qdcount,
        }
    }

    /// The answer entries (a TXT record gives one entry per string); empty for a request.
    pub fn answers(&self) -> Entries<'a> {
        self.entries(self.answers.clone(), self.header.ancount)
    }

    /// The authority entries; empty for a request.
    pub fn authorities(&self) -> Entries<'a> {
        self.entries(self.authorities.clone(), self.header.nscount)
    }

    fn entries(&self, range: Range<usize>, count: u16) -> Entries<'a> {
        let left = if range.is_empty() { 0 } else { count };
        Entries {
            msg: self.bytes,
            at: range.start,
            left,
            txt: None,
        }
    }
}

/// Iterator over a message's questions.
#[derive(Debug, Clone)]
pub struct Questions<'a> {
    msg: &'a [u8],
    at: usize,
    left: u16,
}

impl<'a> Iterator for Questions<'a> {
    type Item = Question<'a>;
    fn next(&mut self) -> Option<Question<'a>> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        match parse_question(self.msg, self.at, Walk::Skip) {
            Ok((q, next)) => {
                self.at = next;
                Some(q)
            }
            Err(_) => {
                self.left = 0;
                None
            }
        }
    }
}

/// One logged entry of a resource record.
#[derive(Debug, Clone, Copy)]
pub struct Entry<'a> {
    /// Owner name.
    pub name: Name<'a>,
    /// Record type.
    pub rrtype: u16,
    /// Record class.
    pub rrclass: u16,
    /// Time to live.
    pub ttl: u32,
    /// The data.
    pub data: Rdata<'a>,
}

/// Iterator over the entries of a section.
#[derive(Debug, Clone)]
pub struct Entries<'a> {
    msg: &'a [u8],
    at: usize,
    left: u16,
    /// A TXT record being expanded: its head, the next string, and strings given so far.
    txt: Option<(RecordHead<'a>, usize, usize)>,
}

impl<'a> Iterator for Entries<'a> {
    type Item = Entry<'a>;
    fn next(&mut self) -> Option<Entry<'a>> {
        if let Some((head, p, n)) = self.txt.take() {
            let end = head.data.1;
            if n < MAX_TXT_STRINGS && p < end {
                if let Ok((data, q)) = parse_rdata(self.msg, head.rrtype, p, end, Walk::Skip) {
                    self.txt = Some((head, q, n + 1));
                    return Some(entry(head, data));
                }
            }
        }
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let parsed = parse_record_head(self.msg, self.at, Walk::Skip).and_then(|(head, next)| {
            let (start, end) = head.data;
            parse_rdata(self.msg, head.rrtype, start, end, Walk::Skip)
                .map(|(d, p)| (head, next, d, p))
        });
        match parsed {
            Ok((head, next, data, p)) => {
                self.at = next;
                if head.rrtype == rrtype::TXT {
                    self.txt = Some((head, p, 1));
                }
                Some(entry(head, data))
            }
            Err(_) => {
                self.left = 0;
                None
            }
        }
    }
}

fn entry<'a>(head: RecordHead<'a>, data: Rdata<'a>) -> Entry<'a> {
    Entry {
        name: head.name,
        rrtype: head.rrtype,
        rrclass: head.rrclass,
        ttl: head.ttl,
        data,
    }
}
