//! Signed rule bundles: rule files plus a manifest, signed with ed25519,
//! in one byte blob that travels over MQTT (`cirt/<sensor>/cmd/rules`) or
//! a file.
//!
//! A bundle comes from the network, so [`verify`] treats it as hostile:
//! every size is bounded before anything is allocated, every refusal has
//! its own [`BundleError`] variant, and nothing in here panics (a fuzz
//! target, `uplink/fuzz/fuzz_targets/bundle.rs`, checks that).
//!
//! # What is signed
//!
//! The signature covers the *manifest* (prefixed with the domain string
//! [`SIGNING_CONTEXT`]); the manifest lists every file with its size and
//! SHA-256, so the files are covered through their hashes. This keeps the
//! signed part small and lets a refusal say which file was altered
//! ([`BundleError::HashMismatch`]) rather than only "bad signature".
//!
//! # Wire format (all integers big-endian)
//!
//! ```text
//! offset  size  field
//! 0       8     magic "CIRTBDL1"
//! 8       32    public key of the signer (ed25519)
//! 40      64    ed25519 signature of SIGNING_CONTEXT || manifest
//! 104     4     M = manifest length (<= MAX_MANIFEST)
//! 108     M     manifest, UTF-8 JSON (below)
//! ..      2     N = number of files (<= MAX_FILES)
//! then N times:
//!         2     L = name length (1..=MAX_NAME)
//!         L     name (UTF-8)
//!         4     S = data length
//!         S     data
//! ```
//!
//! Nothing may follow the last file. The manifest is
//! `{"format":1,"version":"2026.12.06-1","created":"2026-12-06T09:00:00+0000",
//! "files":[{"name":"local.rules","size":1234,"sha256":"<64 hex>"}]}`; the
//! files in the blob must be exactly those of the manifest, in the same
//! order. File names are flat (no directories): 1 to [`MAX_NAME`] bytes of
//! `[A-Za-z0-9._-]`, not starting with `.`; anything with `/`, `\` or `..`
//! is refused as [`BundleError::PathTraversal`], so a receiver can write
//! `dir.join(name)` safely.
//!
//! # Keys
//!
//! A key file holds the 32-byte key as 64 hex digits on one line
//! (`sensor keygen --out PREFIX` writes `PREFIX.key`, mode 0600, and
//! `PREFIX.pub`); see [`parse_signing_key`] and [`parse_verifying_key`].
//! The sensor's configuration lists the trusted public keys; the key in the
//! bundle header only selects which of them must verify the signature.

use std::collections::BTreeSet;

use ed25519_dalek::{Signature, Signer, Verifier};
pub use ed25519_dalek::{SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

/// First 8 bytes of every bundle.
pub const MAGIC: &[u8; 8] = b"CIRTBDL1";
/// Domain separation: the signed message is this followed by the manifest.
pub const SIGNING_CONTEXT: &[u8] = b"cirt-rule-bundle-v1\0";
/// Largest bundle accepted, in bytes.
pub const MAX_BUNDLE: usize = 16 << 20;
/// Largest manifest accepted, in bytes.
pub const MAX_MANIFEST: usize = 256 << 10;
/// Most files in one bundle.
pub const MAX_FILES: usize = 256;
/// Longest file name, in bytes.
pub const MAX_NAME: usize = 128;
/// Longest version or creation-time string in the manifest.
pub const MAX_LABEL: usize = 128;

const HEADER: usize = 8 + 32 + 64 + 4;

/// Why a bundle was refused (or could not be built).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BundleError {
    /// The blob is bigger than [`MAX_BUNDLE`] (or a part bigger than its own bound).
    #[error("bundle too large: {what} is {size} bytes, at most {max} allowed")]
    TooLarge {
        /// Which part.
        what: &'static str,
        /// Its size.
        size: usize,
        /// The bound.
        max: usize,
    },
    /// Not a bundle at all (wrong magic).
    #[error("not a rule bundle (bad magic)")]
    BadMagic,
    /// The framing is broken: truncated, trailing bytes, bad lengths.
    #[error("malformed bundle: {0}")]
    Malformed(String),
    /// The manifest is not the JSON described in the module docs.
    #[error("malformed manifest: {0}")]
    Manifest(String),
    /// The signer's key is not among the trusted keys.
    #[error("bundle signed by unknown key {key}")]
    UnknownKey {
        /// The signer's public key, hex.
        key: String,
    },
    /// The signature does not verify with the (trusted) signer key.
    #[error("bad signature: the manifest was not signed by key {key}")]
    BadSignature {
        /// The signer's public key, hex.
        key: String,
    },
    /// A file's content does not match its manifest entry.
    #[error("file {name:?}: {what} does not match the manifest")]
    HashMismatch {
        /// File name.
        name: String,
        /// `sha256` or `size`.
        what: &'static str,
    },
    /// The files in the blob are not exactly those of the manifest.
    #[error("file list does not match the manifest: {0}")]
    FileList(String),
    /// A file name tries to leave the bundle directory.
    #[error("file name {name:?} is a path traversal (only flat names are allowed)")]
    PathTraversal {
        /// The name, escaped.
        name: String,
    },
    /// A file name has characters outside `[A-Za-z0-9._-]`, or is empty or too long.
    #[error("file name {name:?} is invalid: {reason}")]
    InvalidName {
        /// The name, escaped.
        name: String,
        /// Why.
        reason: &'static str,
    },
    /// A key file or key text is not 64 hex digits of a valid key.
    #[error("bad key: {0}")]
    BadKey(String),
}

/// One file of a bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleFile {
    /// Flat file name (safe to join to a directory).
    pub name: String,
    /// Content.
    pub data: Vec<u8>,
}

/// A bundle whose signature, manifest, names and hashes all checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedBundle {
    /// The manifest's `version`.
    pub version: String,
    /// The manifest's `created` (as written by the signer).
    pub created: String,
    /// Who signed it (one of the trusted keys).
    pub signer: VerifyingKey,
    /// The files, in manifest order.
    pub files: Vec<BundleFile>,
}

impl VerifiedBundle {
    /// Hex of the signer's public key.
    pub fn signer_hex(&self) -> String {
        hex(self.signer.as_bytes())
    }
}

/// Builds and signs a bundle. `created` is free text (an ISO 8601 time by
/// convention). Names and sizes are checked like [`verify`] checks them.
pub fn create(
    key: &SigningKey,
    version: &str,
    created: &str,
    files: &[BundleFile],
) -> Result<Vec<u8>, BundleError> {
    check_label("version", version)?;
    check_label("created", created)?;
    if files.len() > MAX_FILES {
        return Err(BundleError::TooLarge {
            what: "file count",
            size: files.len(),
            max: MAX_FILES,
        });
    }
    let mut names = BTreeSet::new();
    let mut entries = Vec::with_capacity(files.len());
    for f in files {
        check_name(&f.name)?;
        if !names.insert(f.name.as_str()) {
            return Err(BundleError::FileList(format!("{:?} twice", f.name)));
        }
        entries.push(serde_json::json!({
            "name": f.name,
            "size": f.data.len(),
            "sha256": hex(&Sha256::digest(&f.data)),
        }));
    }
    let manifest = serde_json::json!({
        "format": 1,
        "version": version,
        "created": created,
        "files": entries,
    })
    .to_string()
    .into_bytes();
    if manifest.len() > MAX_MANIFEST {
        return Err(BundleError::TooLarge {
            what: "manifest",
            size: manifest.len(),
            max: MAX_MANIFEST,
        });
    }
    let sig = key.sign(&signed_message(&manifest));
    let mut out = Vec::new();
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(key.verifying_key().as_bytes());
    out.extend_from_slice(&sig.to_bytes());
    out.extend_from_slice(&u32_len(manifest.len()).to_be_bytes());
    out.extend_from_slice(&manifest);
    out.extend_from_slice(&u16_len(files.len()).to_be_bytes());
    for f in files {
        out.extend_from_slice(&u16_len(f.name.len()).to_be_bytes());
        out.extend_from_slice(f.name.as_bytes());
        out.extend_from_slice(&u32_len(f.data.len()).to_be_bytes());
        out.extend_from_slice(&f.data);
        if out.len() > MAX_BUNDLE {
            return Err(BundleError::TooLarge {
                what: "bundle",
                size: out.len(),
                max: MAX_BUNDLE,
            });
        }
    }
    Ok(out)
}

/// Checks a bundle against the trusted keys and returns its contents.
///
/// Order of the checks: size, framing, signer key trusted, signature over
/// the manifest, manifest syntax, file framing and names, file list and
/// hashes. The first failure is returned.
pub fn verify(bytes: &[u8], trusted: &[VerifyingKey]) -> Result<VerifiedBundle, BundleError> {
    let frame = Frame::parse(bytes)?;
    let key_hex = hex(&frame.key);
    let signer = trusted
        .iter()
        .find(|k| k.as_bytes() == &frame.key)
        .copied()
        .ok_or_else(|| BundleError::UnknownKey {
            key: key_hex.clone(),
        })?;
    let sig = Signature::from_bytes(&frame.sig);
    signer
        .verify(&signed_message(frame.manifest), &sig)
        .map_err(|_| BundleError::BadSignature { key: key_hex })?;
    let (version, created, files) = contents(&frame)?;
    Ok(VerifiedBundle {
        version,
        created,
        signer,
        files,
    })
}

/// Parses a bundle *without* checking the signature (for fuzzing and for
/// showing what a refused bundle claims to be): framing, manifest, names
/// and hashes are checked as in [`verify`]. Returns the claimed version
/// and the files. Never trust its result.
pub fn inspect_unverified(bytes: &[u8]) -> Result<(String, Vec<BundleFile>), BundleError> {
    let frame = Frame::parse(bytes)?;
    let (version, _, files) = contents(&frame)?;
    Ok((version, files))
}

/// A new random signing key (from the operating system's generator).
pub fn generate_key() -> Result<SigningKey, BundleError> {
    let mut seed = [0u8; 32];
    getrandom::getrandom(&mut seed)
        .map_err(|e| BundleError::BadKey(format!("no randomness from the OS: {e}")))?;
    Ok(SigningKey::from_bytes(&seed))
}

/// Parses a secret key file's text (64 hex digits; surrounding whitespace ignored).
pub fn parse_signing_key(text: &str) -> Result<SigningKey, BundleError> {
    Ok(SigningKey::from_bytes(&parse_hex32(text)?))
}

/// Parses a public key file's text (64 hex digits; surrounding whitespace ignored).
pub fn parse_verifying_key(text: &str) -> Result<VerifyingKey, BundleError> {
    VerifyingKey::from_bytes(&parse_hex32(text)?)
        .map_err(|e| BundleError::BadKey(format!("not an ed25519 public key: {e}")))
}

/// Hex text of a key for a key file (with a trailing newline).
pub fn key_file_text(bytes: &[u8; 32]) -> String {
    format!("{}\n", hex(bytes))
}

/// The current UTC time as `2026-12-06T09:00:00+0000`, for `created`.
pub fn utc_now() -> String {
    crate::engine::utc_timestamp(std::time::SystemTime::now())
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

fn parse_hex32(text: &str) -> Result<[u8; 32], BundleError> {
    let t = text.trim().as_bytes();
    if t.len() != 64 {
        return Err(BundleError::BadKey(format!(
            "expected 64 hex digits, got {} characters",
            t.len()
        )));
    }
    let mut out = [0u8; 32];
    for (o, pair) in out.iter_mut().zip(t.chunks_exact(2)) {
        let digit = |c: u8| (c as char).to_digit(16);
        match (
            pair.first().and_then(|&c| digit(c)),
            pair.get(1).and_then(|&c| digit(c)),
        ) {
            (Some(h), Some(l)) => *o = u8::try_from(h * 16 + l).unwrap_or(0),
            _ => return Err(BundleError::BadKey("not hex".into())),
        }
    }
    Ok(out)
}

fn signed_message(manifest: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(SIGNING_CONTEXT.len() + manifest.len());
    m.extend_from_slice(SIGNING_CONTEXT);
    m.extend_from_slice(manifest);
    m
}

fn u32_len(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn u16_len(n: usize) -> u16 {
    u16::try_from(n).unwrap_or(u16::MAX)
}

fn check_label(what: &'static str, s: &str) -> Result<(), BundleError> {
    if s.is_empty() || s.len() > MAX_LABEL || s.chars().any(char::is_control) {
        return Err(BundleError::Manifest(format!(
            "{what} must be 1..={MAX_LABEL} bytes without control characters"
        )));
    }
    Ok(())
}

/// Checks a file name: flat, `[A-Za-z0-9._-]`, not starting with a dot.
pub fn check_name(name: &str) -> Result<(), BundleError> {
    let esc = || name.escape_debug().to_string();
    if name.contains(['/', '\\']) || name.contains("..") || name == "." {
        return Err(BundleError::PathTraversal { name: esc() });
    }
    let reason = if name.is_empty() {
        Some("empty")
    } else if name.len() > MAX_NAME {
        Some("longer than 128 bytes")
    } else if name.starts_with('.') {
        Some("starts with '.'")
    } else if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        Some("only A-Z a-z 0-9 . _ - are allowed")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(BundleError::InvalidName {
            name: esc(),
            reason,
        }),
        None => Ok(()),
    }
}

/// A cursor over the blob that refuses to read past its end.
struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], BundleError> {
        if n > self.buf.len() {
            return Err(BundleError::Malformed(format!(
                "truncated in {what} (needs {n} bytes, {} left)",
                self.buf.len()
            )));
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    fn u16(&mut self, what: &str) -> Result<usize, BundleError> {
        let b = self.take(2, what)?;
        Ok(usize::from(u16::from_be_bytes([b[0], b[1]])))
    }

    fn u32(&mut self, what: &str) -> Result<usize, BundleError> {
        let b = self.take(4, what)?;
        Ok(usize::try_from(u32::from_be_bytes([b[0], b[1], b[2], b[3]])).unwrap_or(usize::MAX))
    }
}

/// The framing of a bundle, borrowed from the blob.
struct Frame<'a> {
    key: [u8; 32],
    sig: [u8; 64],
    manifest: &'a [u8],
    /// Everything after the manifest (file count and files).
    files: &'a [u8],
}

impl<'a> Frame<'a> {
    fn parse(bytes: &'a [u8]) -> Result<Self, BundleError> {
        if bytes.len() > MAX_BUNDLE {
            return Err(BundleError::TooLarge {
                what: "bundle",
                size: bytes.len(),
                max: MAX_BUNDLE,
            });
        }
        if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
            return Err(BundleError::BadMagic);
        }
        if bytes.len() < HEADER {
            return Err(BundleError::Malformed(format!(
                "{} bytes, shorter than the {HEADER}-byte header",
                bytes.len()
            )));
        }
        let mut r = Reader { buf: &bytes[8..] };
        let mut key = [0u8; 32];
        key.copy_from_slice(r.take(32, "key")?);
        let mut sig = [0u8; 64];
        sig.copy_from_slice(r.take(64, "signature")?);
        let m = r.u32("manifest length")?;
        if m > MAX_MANIFEST {
            return Err(BundleError::TooLarge {
                what: "manifest",
                size: m,
                max: MAX_MANIFEST,
            });
        }
        let manifest = r.take(m, "manifest")?;
        Ok(Frame {
            key,
            sig,
            manifest,
            files: r.buf,
        })
    }
}

struct Entry {
    name: String,
    size: usize,
    sha256: String,
}

fn manifest(bytes: &[u8]) -> Result<(String, String, Vec<Entry>), BundleError> {
    let bad = |s: &str| BundleError::Manifest(s.to_string());
    let v: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| BundleError::Manifest(e.to_string()))?;
    let obj = v.as_object().ok_or_else(|| bad("not a JSON object"))?;
    if obj.get("format").and_then(serde_json::Value::as_u64) != Some(1) {
        return Err(bad("\"format\" must be 1"));
    }
    let text = |k: &'static str| -> Result<String, BundleError> {
        let s = obj
            .get(k)
            .and_then(serde_json::Value::as_str)
            .ok_or_else(|| BundleError::Manifest(format!("\"{k}\" must be a string")))?;
        check_label(k, s)?;
        Ok(s.to_string())
    };
    let version = text("version")?;
    let created = text("created")?;
    let list = obj
        .get("files")
        .and_then(serde_json::Value::as_array)
        .ok_or_else(|| bad("\"files\" must be an array"))?;
    if list.len() > MAX_FILES {
        return Err(BundleError::TooLarge {
            what: "file count",
            size: list.len(),
            max: MAX_FILES,
        });
    }
    let mut entries = Vec::with_capacity(list.len());
    for e in list {
        let name = e
            .get("name")
            .and_then(serde_json::Value::as_str)
            .ok_or_else(|| bad("a file entry has no \"name\" string"))?;
        check_name(name)?;
        let size = e
            .get("size")
            .and_then(serde_json::Value::as_u64)
            .and_then(|s| usize::try_from(s).ok())
            .ok_or_else(|| bad("a file entry has no \"size\" number"))?;
        let sha256 = e
            .get("sha256")
            .and_then(serde_json::Value::as_str)
            .filter(|s| s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()))
            .ok_or_else(|| bad("a file entry has no 64-hex-digit \"sha256\""))?;
        entries.push(Entry {
            name: name.to_string(),
            size,
            sha256: sha256.to_ascii_lowercase(),
        });
    }
    Ok((version, created, entries))
}

fn contents(frame: &Frame<'_>) -> Result<(String, String, Vec<BundleFile>), BundleError> {
    let (version, created, entries) = manifest(frame.manifest)?;
    let mut r = Reader { buf: frame.files };
    let n = r.u16("file count")?;
    if n > MAX_FILES {
        return Err(BundleError::TooLarge {
            what: "file count",
            size: n,
            max: MAX_FILES,
        });
    }
    if n != entries.len() {
        return Err(BundleError::FileList(format!(
            "{n} files in the bundle, {} in the manifest",
            entries.len()
        )));
    }
    let mut files = Vec::with_capacity(n);
    let mut seen = BTreeSet::new();
    for e in &entries {
        let len = r.u16("file name length")?;
        let raw = r.take(len, "file name")?;
        let name = std::str::from_utf8(raw).map_err(|_| BundleError::InvalidName {
            name: String::from_utf8_lossy(raw).escape_debug().to_string(),
            reason: "not UTF-8",
        })?;
        check_name(name)?;
        if name != e.name {
            return Err(BundleError::FileList(format!(
                "file {:?} where the manifest has {:?}",
                name, e.name
            )));
        }
        if !seen.insert(name) {
            return Err(BundleError::FileList(format!("{name:?} twice")));
        }
        let size = r.u32("file length")?;
        let data = r.take(size, "file data")?;
        if size != e.size {
            return Err(BundleError::HashMismatch {
                name: name.to_string(),
                what: "size",
            });
        }
        if hex(&Sha256::digest(data)) != e.sha256 {
            return Err(BundleError::HashMismatch {
                name: name.to_string(),
                what: "sha256",
            });
        }
        files.push(BundleFile {
            name: name.to_string(),
            data: data.to_vec(),
        });
    }
    if !r.buf.is_empty() {
        return Err(BundleError::Malformed(format!(
            "{} bytes after the last file",
            r.buf.len()
        )));
    }
    Ok((version, created, files))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn key(b: u8) -> SigningKey {
        SigningKey::from_bytes(&[b; 32])
    }

    fn files() -> Vec<BundleFile> {
        vec![
            BundleFile {
                name: "local.rules".into(),
                data: b"alert tcp any any -> any any (msg:\"x\"; sid:1;)\n".to_vec(),
            },
            BundleFile {
                name: "threshold.config".into(),
                data: Vec::new(),
            },
        ]
    }

    fn bundle() -> Vec<u8> {
        create(&key(1), "v1", "2026-12-06T00:00:00+0000", &files()).unwrap()
    }

    #[test]
    fn round_trip() {
        let b = verify(&bundle(), &[key(2).verifying_key(), key(1).verifying_key()]).unwrap();
        assert_eq!(b.version, "v1");
        assert_eq!(b.files, files());
        assert_eq!(b.signer, key(1).verifying_key());
        let (v, f) = inspect_unverified(&bundle()).unwrap();
        assert_eq!((v.as_str(), f), ("v1", files()));
    }

    #[test]
    fn every_refusal_has_its_reason() {
        let good = bundle();
        let trusted = [key(1).verifying_key()];
        // Unknown key.
        let e = verify(&good, &[key(2).verifying_key()]).unwrap_err();
        assert!(matches!(e, BundleError::UnknownKey { .. }), "{e}");
        // Manifest altered: bad signature.
        let mut m = good.clone();
        let pos = good.windows(2).position(|w| w == b"v1").unwrap();
        m[pos + 1] = b'2';
        assert!(matches!(
            verify(&m, &trusted).unwrap_err(),
            BundleError::BadSignature { .. }
        ));
        // File content altered: hash mismatch naming the file.
        let mut f = good.clone();
        let at = good.windows(5).position(|w| w == b"sid:1").unwrap();
        f[at + 4] = b'2';
        let e = verify(&f, &trusted).unwrap_err();
        assert_eq!(
            e,
            BundleError::HashMismatch {
                name: "local.rules".into(),
                what: "sha256"
            }
        );
        // Header key swapped for a trusted one that did not sign.
        let mut s = good.clone();
        s[8..40].copy_from_slice(key(3).verifying_key().as_bytes());
        assert!(matches!(
            verify(&s, &[key(3).verifying_key()]).unwrap_err(),
            BundleError::BadSignature { .. }
        ));
        // Truncated, trailing bytes, bad magic, too large.
        for cut in [0, 7, 50, 120, good.len() - 1] {
            let e = verify(&good[..cut], &trusted).unwrap_err();
            assert!(
                matches!(e, BundleError::Malformed(_) | BundleError::BadMagic),
                "{cut}: {e}"
            );
        }
        let mut t = good.clone();
        t.push(0);
        assert!(matches!(
            verify(&t, &trusted).unwrap_err(),
            BundleError::Malformed(_)
        ));
        assert_eq!(
            verify(b"PK\x03\x04", &trusted).unwrap_err(),
            BundleError::BadMagic
        );
        let mut huge = MAGIC.to_vec();
        huge.resize(MAX_BUNDLE + 1, 0);
        assert!(matches!(
            verify(&huge, &trusted).unwrap_err(),
            BundleError::TooLarge { .. }
        ));
    }

    #[test]
    fn names_must_be_flat_and_plain() {
        for bad in ["../etc/passwd", "a/b", "..", "a\\b", "/abs", "x..y"] {
            assert!(
                matches!(check_name(bad), Err(BundleError::PathTraversal { .. })),
                "{bad}"
            );
        }
        for bad in ["", ".hidden", "a b", "é.rules", "a\0"] {
            assert!(
                matches!(check_name(bad), Err(BundleError::InvalidName { .. })),
                "{bad}"
            );
        }
        check_name("emerging-threats_7.0.rules").unwrap();
        let evil = vec![BundleFile {
            name: "../x".into(),
            data: vec![],
        }];
        assert!(matches!(
            create(&key(1), "v", "c", &evil),
            Err(BundleError::PathTraversal { .. })
        ));
    }

    #[test]
    fn a_signed_manifest_with_a_traversing_name_is_still_refused() {
        // A trusted but careless signer: the receiver still refuses.
        let manifest = serde_json::json!({"format":1,"version":"v","created":"c",
            "files":[{"name":"../x","size":0,"sha256":hex(&Sha256::digest(b""))}]})
        .to_string();
        let k = key(1);
        let sig = k.sign(&signed_message(manifest.as_bytes()));
        let mut b = MAGIC.to_vec();
        b.extend_from_slice(k.verifying_key().as_bytes());
        b.extend_from_slice(&sig.to_bytes());
        b.extend_from_slice(&(manifest.len() as u32).to_be_bytes());
        b.extend_from_slice(manifest.as_bytes());
        b.extend_from_slice(&1u16.to_be_bytes());
        b.extend_from_slice(&4u16.to_be_bytes());
        b.extend_from_slice(b"../x");
        b.extend_from_slice(&0u32.to_be_bytes());
        assert!(matches!(
            verify(&b, &[k.verifying_key()]).unwrap_err(),
            BundleError::PathTraversal { .. }
        ));
    }

    #[test]
    fn keys_round_trip_through_text() {
        let k = generate_key().unwrap();
        let s = parse_signing_key(&key_file_text(&k.to_bytes())).unwrap();
        assert_eq!(s.to_bytes(), k.to_bytes());
        let p = parse_verifying_key(&key_file_text(k.verifying_key().as_bytes())).unwrap();
        assert_eq!(p, k.verifying_key());
        assert!(parse_verifying_key("zz").is_err());
        assert!(parse_signing_key(&"g".repeat(64)).is_err());
    }
}
