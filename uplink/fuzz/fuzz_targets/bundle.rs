//! The rule bundle parser (`uplink::bundle`) on arbitrary bytes: never a
//! panic, a hang or an unbounded allocation, only a `BundleError`.
//!
//! Bytes from the network are verified (signature first, so they rarely get
//! past it) and also parsed without the signature check, so that the
//! manifest and file framing parsers are reached. A valid bundle signed by
//! a fixed key is spliced in when the input starts with 0xff, so that
//! mutations of the real format are explored too.

#![no_main]

use libfuzzer_sys::fuzz_target;
use uplink::bundle::{self, BundleFile, SigningKey};

fuzz_target!(|data: &[u8]| {
    let key = SigningKey::from_bytes(&[7; 32]);
    let trusted = [key.verifying_key()];
    let _ = bundle::verify(data, &trusted);
    let _ = bundle::inspect_unverified(data);
    if let Some((&0xff, rest)) = data.split_first() {
        // Build a real bundle whose file content comes from the input, then
        // flip the byte the input points at.
        let (at, content) = rest.split_at(rest.len().min(2));
        let file = BundleFile {
            name: "f.rules".into(),
            data: content.to_vec(),
        };
        if let Ok(mut b) = bundle::create(&key, "v", "c", &[file]) {
            assert!(bundle::verify(&b, &trusted).is_ok());
            let i = at.iter().fold(0usize, |a, &x| a * 256 + usize::from(x)) % b.len();
            b[i] ^= 0x41;
            let _ = bundle::verify(&b, &trusted);
            let _ = bundle::inspect_unverified(&b);
        }
    }
});
