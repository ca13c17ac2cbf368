//! JA3 and JA3S the way Suricata 7 builds them.
//!
//! Suricata does not assemble the JA3 string from a parsed ClientHello afterwards: it appends
//! to it while decoding, so a hello that breaks off half way leaves a partial string (logged
//! without a hash). [`Ja3`] keeps that behaviour: the caller appends the version, then each
//! list as it decodes it, and asks for the MD5 only when the hello decoded to its end.

use md5::{Digest, Md5};

/// GREASE values (RFC 8701) that JA3 and JA4 leave out.
pub fn is_grease(v: u16) -> bool {
    (v & 0x0f0f) == 0x0a0a && (v >> 8) == (v & 0xff)
}

/// Longest JA3 string kept (Suricata's has no cap; repeated broken hellos could grow it).
pub const JA3_MAX: usize = 64 * 1024;

/// A JA3 (client) or JA3S (server) string under construction and its hash.
#[derive(Debug, Default)]
pub struct Ja3 {
    /// The string: `version,list,list,...`; meaningful only when `started`.
    string: Vec<u8>,
    /// Suricata's `ja3_str != NULL`: the version has been appended.
    started: bool,
    /// Lower-case hex MD5 of `string`, once the hello decoded completely.
    hash: Option<[u8; 32]>,
    /// Values left out because the string reached [`JA3_MAX`].
    pub dropped: u64,
}

impl Ja3 {
    /// Forgets everything, keeping capacity.
    pub fn clear(&mut self) {
        self.string.clear();
        self.started = false;
        self.hash = None;
        self.dropped = 0;
    }

    /// Whether the string was started (the hello's version was read).
    pub fn started(&self) -> bool {
        self.started
    }

    /// Whether the hash was computed (Suricata then ignores further hellos).
    pub fn has_hash(&self) -> bool {
        self.hash.is_some()
    }

    /// Starts the string with the hello's version, if not started yet.
    pub fn start(&mut self, version: u16) {
        if !self.started {
            self.string.clear();
            push_num(&mut self.string, version);
            self.started = true;
        }
    }

    /// Appends `,` and a `-`-joined list (already GREASE-filtered) held in `list`.
    pub fn append_list(&mut self, list: &[u16]) {
        if !self.started {
            return;
        }
        if self.string.len() + 6 * list.len() + 1 > JA3_MAX {
            self.dropped += list.len() as u64 + 1;
            return;
        }
        self.string.push(b',');
        for (i, v) in list.iter().enumerate() {
            if i > 0 {
                self.string.push(b'-');
            }
            push_num(&mut self.string, *v);
        }
    }

    /// Computes the hash of the string as it stands (Suricata's `Ja3GenerateHash`).
    pub fn finish(&mut self) {
        if !self.started || self.hash.is_some() {
            return;
        }
        let digest = Md5::digest(&self.string);
        let mut hex = [0u8; 32];
        hex_lower(&digest, &mut hex);
        self.hash = Some(hex);
    }

    /// The string, when started.
    pub fn string(&self) -> Option<&[u8]> {
        self.started.then_some(self.string.as_slice())
    }

    /// The hash, when computed.
    pub fn hash(&self) -> Option<&[u8]> {
        self.hash.as_ref().map(|h| h.as_slice())
    }
}

/// Appends the decimal digits of `v`.
fn push_num(out: &mut Vec<u8>, v: u16) {
    let mut buf = [0u8; 5];
    let mut n = v;
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

/// Lower-case hex of `bytes` into `out` (which must hold twice as many bytes).
pub fn hex_lower(bytes: &[u8], out: &mut [u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for (i, b) in bytes.iter().enumerate() {
        if 2 * i + 1 < out.len() {
            out[2 * i] = HEX[usize::from(b >> 4)];
            out[2 * i + 1] = HEX[usize::from(b & 0xf)];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grease_values() {
        assert!(is_grease(0x0a0a));
        assert!(is_grease(0xfafa));
        assert!(!is_grease(0x0a1a));
        assert!(!is_grease(0x0000));
        assert!(!is_grease(0x000a));
    }

    #[test]
    fn string_and_hash() {
        let mut j = Ja3::default();
        j.start(771);
        j.append_list(&[4]);
        j.append_list(&[65281]);
        j.finish();
        assert_eq!(j.string().unwrap(), b"771,4,65281");
        assert_eq!(j.hash().unwrap(), b"c253ec3ad88e42f8da4032682892f9a0");
        j.clear();
        j.start(769);
        j.append_list(&[]);
        assert_eq!(j.string().unwrap(), b"769,");
        assert!(j.hash().is_none());
    }
}
