//! JA4 (FoxIO's TLS client fingerprint) the way Suricata 7.0.10 computes it.
//!
//! Suricata 7.0.10 is built with JA4 support, computes it when a rule or the config asks for
//! it, and logs it in EVE only with `ja4: on` under the tls logger (off by default). Its JA4
//! differs from FoxIO's reference in small ways that we copy, because rules and logs are
//! compared with Suricata's: the version is the highest of the hello's legacy version and the
//! *first* valid `supported_versions` entry; an empty cipher or extension list hashes the
//! empty string (FoxIO writes `000000000000`); state added by a second ClientHello (after a
//! HelloRetryRequest) accumulates.

use sha2::{Digest, Sha256};

use super::ja3::{hex_lower, is_grease};

/// Most ciphers, extensions or signature algorithms kept; more are counted by the parser.
pub const JA4_MAX_ITEMS: usize = 1024;

/// JA4 input collected from the ClientHello.
#[derive(Debug, Default)]
pub struct Ja4 {
    /// Whether a ClientHello started it.
    pub active: bool,
    version: Option<u16>,
    ciphers: Vec<u16>,
    extensions: Vec<u16>,
    sigalgs: Vec<u16>,
    domain: bool,
    alpn: [u8; 2],
    nof_exts: u16,
    /// Items dropped because a list was full.
    pub dropped: u64,
}

fn push_capped(v: &mut Vec<u16>, x: u16, dropped: &mut u64) {
    if v.len() < JA4_MAX_ITEMS {
        v.push(x);
    } else {
        *dropped += 1;
    }
}

impl Ja4 {
    /// Forgets everything, keeping capacity.
    pub fn clear(&mut self) {
        self.active = false;
        self.version = None;
        self.ciphers.clear();
        self.extensions.clear();
        self.sigalgs.clear();
        self.domain = false;
        self.alpn = [b'0', b'0'];
        self.nof_exts = 0;
        self.dropped = 0;
    }

    /// Starts collecting (first ClientHello); later hellos add to the same state.
    pub fn activate(&mut self) {
        if !self.active {
            self.clear();
            self.active = true;
        }
    }

    /// Offers a version: the highest non-GREASE one wins.
    pub fn set_version(&mut self, v: u16) {
        if is_grease(v) {
            return;
        }
        match self.version {
            Some(cur) if cur >= v => {}
            _ => self.version = Some(v),
        }
    }

    /// Sets the first ALPN protocol.
    pub fn set_alpn(&mut self, alpn: &[u8]) {
        let (Some(&first), Some(&last)) = (alpn.first(), alpn.last()) else {
            return;
        };
        if alpn.len() == 2 && is_grease(u16::from(first) << 8 | u16::from(last)) {
            return;
        }
        if !first.is_ascii_alphanumeric() || !last.is_ascii_alphanumeric() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            self.alpn = [HEX[usize::from(first >> 4)], HEX[usize::from(last & 0xf)]];
            return;
        }
        self.alpn = [first, last];
    }

    /// Adds a cipher suite.
    pub fn add_cipher(&mut self, c: u16) {
        if !is_grease(c) {
            push_capped(&mut self.ciphers, c, &mut self.dropped);
        }
    }

    /// Adds an extension type.
    pub fn add_extension(&mut self, e: u16) {
        if is_grease(e) {
            return;
        }
        if e == 0 {
            self.domain = true;
        } else if e != 16 {
            push_capped(&mut self.extensions, e, &mut self.dropped);
        }
        self.nof_exts = self.nof_exts.saturating_add(1);
    }

    /// Adds a signature algorithm.
    pub fn add_sigalg(&mut self, s: u16) {
        if !is_grease(s) {
            push_capped(&mut self.sigalgs, s, &mut self.dropped);
        }
    }

    /// The 36-character JA4 string (`t13d1516h2_8daaf6152771_b186095e22b6`), written to `out`.
    pub fn write(&self, out: &mut [u8; 36], scratch: &mut Vec<u16>) {
        let version: &[u8; 2] = match self.version {
            Some(0x0304) => b"13",
            Some(0x0303) => b"12",
            Some(0x0302) => b"11",
            Some(0x0301) => b"10",
            Some(0x0300) => b"s3",
            _ => b"00",
        };
        out[0] = b't';
        out[1..3].copy_from_slice(version);
        out[3] = if self.domain { b'd' } else { b'i' };
        let nc = self.ciphers.len().min(99);
        let ne = usize::from(self.nof_exts).min(99);
        out[4] = b'0' + (nc / 10) as u8;
        out[5] = b'0' + (nc % 10) as u8;
        out[6] = b'0' + (ne / 10) as u8;
        out[7] = b'0' + (ne % 10) as u8;
        out[8] = self.alpn[0];
        out[9] = self.alpn[1];
        out[10] = b'_';

        scratch.clear();
        scratch.extend_from_slice(&self.ciphers);
        scratch.sort_unstable();
        let mut sha = Sha256::new();
        hash_list(&mut sha, scratch);
        let digest = sha.finalize_reset();
        let mut hex = [0u8; 64];
        hex_lower(&digest, &mut hex);
        out[11..23].copy_from_slice(&hex[..12]);
        out[23] = b'_';

        scratch.clear();
        scratch.extend_from_slice(&self.extensions);
        scratch.sort_unstable();
        hash_list(&mut sha, scratch);
        sha.update(b"_");
        hash_list(&mut sha, &self.sigalgs);
        let digest = sha.finalize();
        hex_lower(&digest, &mut hex);
        out[24..36].copy_from_slice(&hex[..12]);
    }
}

/// Feeds `0a0a,0b0b,...` (four lower-case hex digits each) to the hash.
fn hash_list(sha: &mut Sha256, list: &[u16]) {
    for (i, v) in list.iter().enumerate() {
        if i > 0 {
            sha.update(b",");
        }
        let mut hex = [0u8; 4];
        hex_lower(&v.to_be_bytes(), &mut hex);
        sha.update(hex);
    }
}
