//! The Certificate handshake message: the chain, and the first certificate's fields as
//! Suricata 7 logs and inspects them.
//!
//! Suricata 7 decodes X.509 with the `x509-parser` crate (0.15) and prints names with its
//! `Display` (`C=US, O=Example, CN=host`), serials as upper-case hex pairs joined by `:`,
//! and the SHA-1 of the DER as lower-case pairs. We use the same crate and version, so
//! names with unusual attributes or string types come out the same as in Suricata's logs.
//! A certificate is decoded once per session (the first Certificate message of a side).

use sha1::{Digest, Sha1};
use x509_parser::prelude::{FromDer, X509Certificate};

use super::ja3::hex_lower;

/// Most certificates of a chain offered to `tls.certs`; more are counted as truncated.
pub const MAX_CHAIN: usize = 16;

/// What one side's Certificate message said.
#[derive(Debug, Default)]
pub struct CertInfo {
    /// A Certificate message was decoded (Suricata decodes only the first).
    pub seen: bool,
    /// First certificate's subject (`Display` of x509-parser), when it decoded.
    pub subject: Option<String>,
    /// First certificate's issuer.
    pub issuer: Option<String>,
    /// First certificate's serial, `XX:XX:..`.
    pub serial: Vec<u8>,
    /// First certificate's SHA-1 fingerprint, `aa:bb:..` (empty when not decoded).
    pub fingerprint: Vec<u8>,
    /// Validity start, seconds since the epoch.
    pub not_before: i64,
    /// Validity end, seconds since the epoch.
    pub not_after: i64,
    /// DER of the chain's certificates, back to back.
    pub chain: Vec<u8>,
    /// Ranges of `chain`, one per certificate kept.
    pub ranges: heapless::Vec<(u32, u32), MAX_CHAIN>,
    /// Certificates beyond [`MAX_CHAIN`].
    pub dropped: u64,
}

impl CertInfo {
    /// Forgets everything, keeping capacity.
    pub fn clear(&mut self) {
        self.seen = false;
        self.subject = None;
        self.issuer = None;
        self.serial.clear();
        self.fingerprint.clear();
        self.not_before = 0;
        self.not_after = 0;
        self.chain.clear();
        self.ranges.clear();
        self.dropped = 0;
    }

    /// Whether the first certificate's names were decoded.
    pub fn has_names(&self) -> bool {
        self.subject.is_some() && self.issuer.is_some()
    }

    /// Each kept certificate's DER.
    pub fn certs(&self) -> impl Iterator<Item = &[u8]> {
        self.ranges
            .iter()
            .filter_map(|&(a, b)| self.chain.get(a as usize..b as usize))
    }

    /// Decodes a Certificate message body (`certificate_list` with its 3-byte length), as
    /// Suricata's `TlsDecodeHSCertificates` does. Returns false when Suricata would fail.
    pub fn decode(&mut self, body: &[u8]) -> bool {
        if self.seen {
            return false;
        }
        let Some(len_bytes) = body.get(..3) else {
            return false;
        };
        let chain_len = be24(len_bytes);
        let Some(list) = body.get(3..3 + chain_len) else {
            return false;
        };
        self.seen = true;
        let mut pos = 0usize;
        let mut certn = 0usize;
        while pos < list.len() {
            let rest = &list[pos..];
            let Some(len_bytes) = rest.get(..3) else {
                return false;
            };
            let cert_len = be24(len_bytes);
            let Some(der) = rest.get(3..3 + cert_len) else {
                return false;
            };
            let mut keep = true;
            if certn == 0 && self.subject.is_none() && self.issuer.is_none() {
                keep = self.decode_first(der);
            }
            if keep {
                if self.ranges.is_full() {
                    self.dropped += 1;
                } else {
                    let a = self.chain.len() as u32;
                    self.chain.extend_from_slice(der);
                    let _ = self.ranges.push((a, self.chain.len() as u32));
                }
            }
            certn += 1;
            pos += 3 + cert_len;
        }
        true
    }

    /// Decodes the first certificate's fields; false when the DER does not decode (Suricata
    /// then leaves it out of the chain).
    fn decode_first(&mut self, der: &[u8]) -> bool {
        let Ok((_, x509)) = X509Certificate::from_der(der) else {
            return false;
        };
        let tbs = &x509.tbs_certificate;
        self.subject = Some(tbs.subject.to_string());
        self.issuer = Some(tbs.issuer.to_string());
        self.serial.clear();
        const HEX: &[u8; 16] = b"0123456789ABCDEF";
        for (i, b) in tbs.raw_serial().iter().enumerate() {
            if i > 0 {
                self.serial.push(b':');
            }
            self.serial.push(HEX[usize::from(b >> 4)]);
            self.serial.push(HEX[usize::from(b & 0xf)]);
        }
        self.not_before = tbs.validity.not_before.timestamp();
        self.not_after = tbs.validity.not_after.timestamp();
        let digest = Sha1::digest(der);
        let mut hex = [0u8; 40];
        hex_lower(&digest, &mut hex);
        self.fingerprint.clear();
        for (i, pair) in hex.chunks(2).enumerate() {
            if i > 0 {
                self.fingerprint.push(b':');
            }
            self.fingerprint.extend_from_slice(pair);
        }
        true
    }
}

fn be24(b: &[u8]) -> usize {
    b.iter()
        .take(3)
        .fold(0usize, |acc, &x| acc << 8 | usize::from(x))
}

/// Writes a validity time the way Suricata does (`2016-07-04T23:59:59`, UTC, no zone).
pub fn format_time(out: &mut Vec<u8>, ts: i64) {
    use std::io::Write;
    let days = ts.div_euclid(86_400);
    let secs = ts.rem_euclid(86_400);
    let (y, m, d) = crate::event::civil_from_days(days);
    if y < 0 {
        let _ = write!(out, "-{:04}", -y);
    } else {
        let _ = write!(out, "{y:04}");
    }
    let _ = write!(
        out,
        "-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        secs / 3600,
        (secs / 60) % 60,
        secs % 60
    );
}

#[cfg(test)]
mod tests {
    use super::format_time;

    #[test]
    fn times_like_suricata() {
        let mut out = Vec::new();
        format_time(&mut out, -86400);
        assert_eq!(out, b"1969-12-31T00:00:00");
        out.clear();
        format_time(&mut out, 2177367003);
        assert_eq!(out, b"2038-12-31T00:10:03");
        out.clear();
        format_time(&mut out, 1467676799);
        assert_eq!(out, b"2016-07-04T23:59:59");
    }
}
