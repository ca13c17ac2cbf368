//! ClientHello and ServerHello decoding, step by step as Suricata 7's `TLSDecodeHandshakeHello`.
//!
//! The order of checks matters for compatibility: Suricata builds JA3 while it decodes, stops
//! at the first malformed field, and an error inside one extension ends the extension walk
//! but still hashes what was collected. It also advances by the bytes an extension decoder
//! consumed rather than by the extension's declared length (SNI, curves, point formats,
//! supported_versions), which matters only for malformed hellos but changes their JA3.
//! Each step below names the Suricata function it follows.

use super::ja3::is_grease;
use super::{flag, Side};

/// Scratch lists reused between hellos (no allocation once warm).
#[derive(Debug, Default)]
pub struct Lists {
    ciphers: Vec<u16>,
    exts: Vec<u16>,
    curves: Vec<u16>,
    pfs: Vec<u16>,
}

/// One hello being decoded.
pub struct Hello<'a> {
    /// ClientHello (else ServerHello).
    pub client: bool,
    /// Session-wide flags (`SSLState.flags`).
    pub flags: &'a mut u32,
    /// The side that sent the hello.
    pub side: &'a mut Side,
    /// Set when this hello stored the side's session id (Suricata then compares the two
    /// sides' ids for resumption; the caller does that with both sides at hand).
    pub sid_stored: bool,
    /// Scratch lists.
    pub lists: &'a mut Lists,
}

/// Suricata's `HAS_SPACE`: `n` more bytes after `pos` fit in `len`.
fn has(pos: usize, n: usize, len: usize) -> bool {
    pos.checked_add(n).is_some_and(|e| e <= len)
}

fn be16(b: &[u8], pos: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(pos)?, *b.get(pos + 1)?]))
}

/// Versions Suricata's `TLSVersionValid` accepts.
pub fn version_valid(v: u16) -> bool {
    matches!(v, 0x0300..=0x0304 | 0x7f01 | 0x7f10..=0x7f1c | 0xfb14..=0xfb17 | 0xfb1a)
}

impl Hello<'_> {
    fn ja3_on(&self) -> bool {
        !self.side.ja3.has_hash()
    }

    /// `TLSDecodeHandshakeHello`: never fails as a whole; decoding just stops.
    pub fn decode(&mut self, msg: &[u8]) {
        if self.client {
            self.side.ja4.activate();
        }
        let _ = self.decode_inner(msg);
    }

    fn decode_inner(&mut self, msg: &[u8]) -> Option<()> {
        let mut pos = self.version(msg)?;
        // Random.
        if !has(pos, 32, msg.len()) {
            return None;
        }
        pos += 32;
        let log_without_cert = *self.flags & flag::LOG_WITHOUT_CERT != 0;
        if self.client || !log_without_cert {
            pos += self.session_id(msg.get(pos..)?)?;
        }
        pos += self.ciphers(msg.get(pos..)?)?;
        if self.client || !log_without_cert {
            pos += self.compression(msg.get(pos..)?)?;
        }
        self.extensions(msg.get(pos..)?)?;
        self.side.ja3.finish();
        Some(())
    }

    /// `TLSDecodeHSHelloVersion`.
    fn version(&mut self, b: &[u8]) -> Option<usize> {
        let version = be16(b, 0)?;
        self.side.version = version;
        if self.client {
            self.side.ja4.set_version(version);
        }
        if !self.client && (version == 0x0304 || (version >> 8) == 0x7f) {
            *self.flags |= flag::LOG_WITHOUT_CERT;
        }
        if (0x7f01..0x7f10).contains(&version) || version == 0x0304 {
            self.side.version = 0x7f01;
        }
        self.side.ja3.start(version);
        Some(2)
    }

    /// `TLSDecodeHSHelloSessionID`.
    fn session_id(&mut self, b: &[u8]) -> Option<usize> {
        let len = usize::from(*b.first()?);
        let id = b.get(1..1 + len)?;
        if len != 0 && !self.side.sid_set {
            self.side.sid.clear();
            self.side.sid.extend_from_slice(id);
            self.side.sid_set = true;
            self.sid_stored = true;
        }
        Some(1 + len)
    }

    /// `TLSDecodeHSHelloCipherSuites`.
    fn ciphers(&mut self, b: &[u8]) -> Option<usize> {
        let (mut pos, len) = if self.client {
            (2, usize::from(be16(b, 0)?))
        } else {
            (0, 2)
        };
        if !has(pos, len, b.len()) || len % 2 != 0 {
            return None;
        }
        let ja3 = self.ja3_on();
        self.lists.ciphers.clear();
        let end = pos + len;
        while pos < end {
            let c = be16(b, pos)?;
            pos += 2;
            if !is_grease(c) {
                if self.client {
                    self.side.ja4.add_cipher(c);
                }
                if ja3 {
                    self.lists.ciphers.push(c);
                }
            }
        }
        if ja3 {
            self.side.ja3.append_list(&self.lists.ciphers);
        }
        Some(pos)
    }

    /// `TLSDecodeHSHelloCompressionMethods`.
    fn compression(&mut self, b: &[u8]) -> Option<usize> {
        let n = usize::from(*b.first()?);
        if !self.client {
            return Some(1);
        }
        if !has(1, n, b.len()) {
            return None;
        }
        Some(1 + n)
    }

    /// `TLSDecodeHSHelloExtensions`; `None` where Suricata returns an error (no JA3 hash).
    fn extensions(&mut self, b: &[u8]) -> Option<()> {
        let ja3 = self.ja3_on();
        self.lists.exts.clear();
        self.lists.curves.clear();
        self.lists.pfs.clear();
        if let Some(total) = be16(b, 0) {
            let total = usize::from(total);
            let mut pos = 2usize;
            if !has(pos, total, b.len()) {
                return None;
            }
            let mut processed = 0usize;
            while processed < total {
                let ext_type = be16(b, pos)?;
                pos += 2;
                let ext_len = usize::from(be16(b, pos)?);
                pos += 2;
                let data = b.get(pos..pos + ext_len)?;
                let step = match ext_type {
                    0x0000 => self.ext_sni(data),
                    0x000a => self.ext_curves(data, ja3),
                    0x000b => self.ext_point_formats(data, ja3),
                    0x000d => self.ext_sigalgs(data),
                    0x0010 => self.ext_alpn(data).map(|_| ext_len),
                    0x002a => {
                        if self.client {
                            *self.flags |= flag::EARLY_DATA;
                        }
                        Some(ext_len)
                    }
                    0x002b => self.ext_supported_versions(data),
                    0x0023 => {
                        if self.client {
                            *self.flags |= flag::SESSION_RESUMED;
                        }
                        Some(ext_len)
                    }
                    _ => Some(ext_len),
                };
                let Some(step) = step else {
                    break;
                };
                pos += step;
                if !is_grease(ext_type) {
                    if ja3 {
                        self.lists.exts.push(ext_type);
                    }
                    if self.client {
                        self.side.ja4.add_extension(ext_type);
                    }
                }
                processed += ext_len + 4;
            }
        }
        if ja3 {
            self.side.ja3.append_list(&self.lists.exts);
            if self.client {
                self.side.ja3.append_list(&self.lists.curves);
                self.side.ja3.append_list(&self.lists.pfs);
            }
        }
        Some(())
    }

    /// `TLSDecodeHSHelloExtensionSni`.
    fn ext_sni(&mut self, b: &[u8]) -> Option<usize> {
        if b.is_empty() {
            return Some(0);
        }
        if *b.get(2)? != 0 {
            return None;
        }
        let len = usize::from(be16(b, 3)?);
        if !has(5, len, b.len()) || len > 255 || len == 0 {
            return None;
        }
        if !self.side.sni_set {
            self.side.sni.clear();
            self.side.sni.extend_from_slice(&b[5..5 + len]);
            self.side.sni_set = true;
        }
        Some(5 + len)
    }

    /// `TLSDecodeHSHelloExtensionEllipticCurves`.
    fn ext_curves(&mut self, b: &[u8], ja3: bool) -> Option<usize> {
        if b.is_empty() {
            return Some(0);
        }
        let len = usize::from(be16(b, 0)?);
        if !has(2, len, b.len()) {
            return None;
        }
        if self.client && ja3 {
            let mut pos = 2;
            while pos < 2 + len {
                let c = be16(b, pos)?;
                pos += 2;
                if !is_grease(c) {
                    self.lists.curves.push(c);
                }
            }
            Some(pos)
        } else {
            Some(2 + len)
        }
    }

    /// `TLSDecodeHSHelloExtensionEllipticCurvePF`.
    fn ext_point_formats(&mut self, b: &[u8], ja3: bool) -> Option<usize> {
        if b.is_empty() {
            return Some(0);
        }
        let len = usize::from(*b.first()?);
        let pfs = b.get(1..1 + len)?;
        if self.client && ja3 {
            self.lists.pfs.extend(pfs.iter().map(|&p| u16::from(p)));
        }
        Some(1 + len)
    }

    /// `TLSDecodeHSHelloExtensionSigAlgorithms`.
    fn ext_sigalgs(&mut self, b: &[u8]) -> Option<usize> {
        if b.is_empty() {
            return Some(0);
        }
        let len = usize::from(be16(b, 0)?);
        if len % 2 != 0 || !has(2, len, b.len()) {
            return None;
        }
        if self.client {
            for pair in b[2..2 + len].chunks_exact(2) {
                self.side
                    .ja4
                    .add_sigalg(u16::from_be_bytes([pair[0], pair[1]]));
            }
        }
        Some(2 + len)
    }

    /// `TLSDecodeHSHelloExtensionALPN` (only JA4 uses it).
    fn ext_alpn(&mut self, b: &[u8]) -> Option<usize> {
        if b.is_empty() {
            return Some(0);
        }
        let len = usize::from(be16(b, 0)?);
        if !has(2, len, b.len()) {
            return None;
        }
        if !self.client {
            return Some(2 + len);
        }
        let mut pos = 2usize;
        let mut processed = 0usize;
        while processed < len {
            let plen = usize::from(*b.get(pos)?);
            pos += 1;
            processed += 1;
            if !has(pos, plen, b.len()) {
                return None;
            }
            if processed + plen > len {
                pos += len - processed;
                break;
            }
            if processed == 1 {
                self.side.ja4.set_alpn(&b[pos..pos + plen]);
            }
            processed += plen;
            pos += plen;
        }
        Some(pos)
    }

    /// `TLSDecodeHSHelloExtensionSupportedVersions`.
    fn ext_supported_versions(&mut self, b: &[u8]) -> Option<usize> {
        if b.is_empty() {
            return Some(0);
        }
        if self.client {
            let len = usize::from(*b.first()?);
            if len < 2 || !has(1, len, b.len()) {
                return None;
            }
            let list = &b[1..1 + len];
            for pair in list.chunks_exact(2) {
                let v = u16::from_be_bytes([pair[0], pair[1]]);
                if version_valid(v) {
                    self.side.version = v;
                    self.side.ja4.set_version(v);
                    break;
                }
            }
            *self.flags |= flag::CH_VERSION_EXTENSION;
            Some(1 + len)
        } else {
            let v = be16(b, 0)?;
            if *self.flags & flag::CH_VERSION_EXTENSION != 0 && v > 0x0303 {
                *self.flags |= flag::LOG_WITHOUT_CERT;
            }
            self.side.version = v;
            Some(2)
        }
    }
}
