//! Bounded, streaming gzip / deflate decoding of response bodies for `http.response_body` and
//! `file.data`, as libhtp decompresses them for Suricata.
//!
//! One decompressor per parser, reset for each message (no allocation per message once
//! warm). Output stops at the inspection depth; the rest of the body is only counted. A
//! corrupt stream stops decoding and keeps what was decoded so far.

use flate2::{Decompress, FlushDecompress, Status};

/// The body's content coding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Coding {
    /// `gzip` / `x-gzip`.
    Gzip,
    /// `deflate` (zlib-wrapped or raw, told apart by the first bytes).
    Deflate,
}

impl Coding {
    /// The coding a `Content-Encoding` value names, if it is one we decode.
    pub(crate) fn from_header(v: &[u8]) -> Option<Coding> {
        let v = super::uri::trim(v);
        if v.eq_ignore_ascii_case(b"gzip") || v.eq_ignore_ascii_case(b"x-gzip") {
            Some(Coding::Gzip)
        } else if v.eq_ignore_ascii_case(b"deflate") {
            Some(Coding::Deflate)
        } else {
            None
        }
    }
}

/// Most gzip header bytes (with file name and comment) we wait for.
const GZIP_HEADER_CAP: usize = 1024;

/// Streaming decoder state.
#[derive(Debug)]
pub(crate) struct Inflate {
    d: Decompress,
    coding: Option<Coding>,
    /// Header bytes seen so far (gzip header, or the first two bytes of a deflate stream).
    head: Vec<u8>,
    /// The compressed stream proper has started.
    started: bool,
    /// Decoding stopped (error or end of stream).
    done: bool,
}

impl Default for Inflate {
    fn default() -> Self {
        Inflate {
            d: Decompress::new(false),
            coding: None,
            head: Vec::new(),
            started: false,
            done: false,
        }
    }
}

/// Length of a complete gzip header at the start of `h`, `Some(None)` if `h` is not gzip,
/// `None` if more bytes are needed.
fn gzip_header_len(h: &[u8]) -> Option<Option<usize>> {
    if h.len() < 10 {
        if h.first().is_some_and(|&b| b != 0x1f) || h.get(1).is_some_and(|&b| b != 0x8b) {
            return Some(None);
        }
        return None;
    }
    if h.first() != Some(&0x1f) || h.get(1) != Some(&0x8b) || h.get(2) != Some(&8) {
        return Some(None);
    }
    let flags = h.get(3).copied().unwrap_or(0);
    let mut pos = 10;
    if flags & 0x04 != 0 {
        let xlen = usize::from(*h.get(pos)?) | usize::from(*h.get(pos + 1)?) << 8;
        pos += 2 + xlen;
    }
    for bit in [0x08, 0x10] {
        if flags & bit != 0 {
            let rest = h.get(pos..)?;
            pos += rest.iter().position(|&b| b == 0)? + 1;
        }
    }
    if flags & 0x02 != 0 {
        pos += 2;
    }
    (h.len() >= pos).then_some(Some(pos))
}

impl Inflate {
    /// Starts a new body in `coding` (or none).
    pub(crate) fn start(&mut self, coding: Option<Coding>) {
        self.coding = coding;
        self.head.clear();
        self.started = false;
        self.done = false;
    }

    /// Whether bodies pass through this decoder.
    pub(crate) fn active(&self) -> bool {
        self.coding.is_some()
    }

    /// Decodes `input` into `body` up to `depth` bytes. Returns false when the stream turned
    /// out corrupt (decoding then stops).
    pub(crate) fn feed(&mut self, input: &[u8], body: &mut Vec<u8>, depth: usize) -> bool {
        if self.done || body.len() >= depth {
            return true;
        }
        let mut input = input;
        if !self.started {
            let room = GZIP_HEADER_CAP.saturating_sub(self.head.len());
            let take = input.len().min(room);
            let before = self.head.len();
            self.head
                .extend_from_slice(input.get(..take).unwrap_or(&[]));
            let (skip, zlib) = match self.coding {
                Some(Coding::Gzip) => match gzip_header_len(&self.head) {
                    None if self.head.len() < GZIP_HEADER_CAP => return true,
                    Some(Some(n)) => (n, false),
                    _ => {
                        self.done = true;
                        return false;
                    }
                },
                Some(Coding::Deflate) => {
                    if self.head.len() < 2 {
                        return true;
                    }
                    let (a, b) = (
                        u16::from(self.head.first().copied().unwrap_or(0)),
                        u16::from(self.head.get(1).copied().unwrap_or(0)),
                    );
                    (0, a & 0x0f == 8 && (a << 8 | b) % 31 == 0)
                }
                None => return true,
            };
            self.d.reset(zlib);
            self.started = true;
            // Continue with the bytes after the header, from this call's input.
            let consumed_here = skip.saturating_sub(before);
            input = input.get(consumed_here..).unwrap_or(&[]);
            if before > skip {
                // Earlier calls buffered stream bytes past the header: decode them first.
                let early = std::mem::take(&mut self.head);
                let ok = self.run(early.get(skip..before).unwrap_or(&[]), body, depth);
                self.head = early;
                if !ok {
                    return false;
                }
            }
        }
        self.run(input, body, depth)
    }

    fn run(&mut self, mut input: &[u8], body: &mut Vec<u8>, depth: usize) -> bool {
        if body.capacity() < depth {
            body.reserve(depth - body.len());
        }
        while !input.is_empty() && body.len() < depth && !self.done {
            let in_before = self.d.total_in();
            let out_before = body.len();
            // decompress_vec writes only into spare capacity; output past the depth is cut.
            let res = self.d.decompress_vec(input, body, FlushDecompress::None);
            body.truncate(depth);
            let used = usize::try_from(self.d.total_in() - in_before).unwrap_or(input.len());
            input = input.get(used..).unwrap_or(&[]);
            match res {
                Ok(Status::StreamEnd) => self.done = true,
                Ok(_) => {
                    if used == 0 && body.len() == out_before {
                        break;
                    }
                }
                Err(_) => {
                    self.done = true;
                    return false;
                }
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn gzip_in_any_pieces_and_bounded() {
        let plain: Vec<u8> = (0..5000u32).flat_map(|i| i.to_le_bytes()).collect();
        let z = gzip(&plain);
        for step in [1, 7, 100, z.len()] {
            let mut inf = Inflate::default();
            inf.start(Some(Coding::Gzip));
            let mut body = Vec::new();
            for c in z.chunks(step) {
                assert!(inf.feed(c, &mut body, 1 << 20));
            }
            assert_eq!(body, plain, "step {step}");
        }
        let mut inf = Inflate::default();
        inf.start(Some(Coding::Gzip));
        let mut body = Vec::new();
        inf.feed(&z, &mut body, 1000);
        assert_eq!(body, &plain[..1000]);
    }

    #[test]
    fn deflate_zlib_and_raw_and_garbage() {
        let plain = b"hello hello hello hello".repeat(20);
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(&plain).unwrap();
        let z = e.finish().unwrap();
        let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(&plain).unwrap();
        let r = e.finish().unwrap();
        for data in [z, r] {
            let mut inf = Inflate::default();
            inf.start(Some(Coding::Deflate));
            let mut body = Vec::new();
            assert!(inf.feed(&data, &mut body, 1 << 16));
            assert_eq!(body, plain);
        }
        let mut inf = Inflate::default();
        inf.start(Some(Coding::Gzip));
        let mut body = Vec::new();
        assert!(!inf.feed(b"not gzip at all", &mut body, 100));
        assert!(body.is_empty());
    }
}
