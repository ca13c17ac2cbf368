//! Arbitrary text as a rule file: loading reports errors or skips, never panics or hangs.
#![no_main]

use libfuzzer_sys::fuzz_target;
use signatures::{RuleSetBuilder, Vars};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut b = RuleSetBuilder::new(Vars::suricata_defaults());
    b.enable_byte_keywords(true);
    b.enable_extra_protocols(true);
    b.add_source("fuzz.rules", &text);
    let (rules, report) = b.build();
    assert!(rules.len() <= report.total());
});
