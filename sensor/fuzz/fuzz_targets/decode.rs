//! Arbitrary bytes as a frame of every link type: the decoder must return, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sensor::decode::{decode, LinkType};

fuzz_target!(|data: &[u8]| {
    for link in [
        LinkType::Ethernet,
        LinkType::RawIp,
        LinkType::LinuxSll,
        LinkType::Null,
    ] {
        let _ = decode(link, data, true);
        let _ = decode(link, data, false);
    }
});
