//! Bad input never panics or hangs: broken captures give a clear error and a non-zero exit,
//! broken rules are reported with file:line:column and skipped while the rest load.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

mod common;

use common::{pcap_bytes, run_sensor, tcp_frame};

fn alert_lines(eve: &str) -> usize {
    eve.lines()
        .filter(|l| l.contains("\"event_type\":\"alert\""))
        .count()
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn assert_clean_failure(o: &std::process::Output, needle: &str) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(1), "exit code, stderr: {err}");
    assert!(err.contains(needle), "expected {needle:?} in: {err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn missing_file() {
    let o = run_sensor(&["replay", "/nonexistent/x.pcap"]);
    assert_clean_failure(&o, "/nonexistent/x.pcap: cannot open capture");
}

#[test]
fn empty_file() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("empty.pcap");
    std::fs::write(&p, b"").unwrap();
    let o = run_sensor(&["replay", p.to_str().unwrap()]);
    assert_clean_failure(&o, "file is empty");
}

#[test]
fn random_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("random.pcap");
    // A fixed pseudo-random sequence, so a failure reproduces.
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let bytes: Vec<u8> = (0..4096)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    std::fs::write(&p, bytes).unwrap();
    let o = run_sensor(&["replay", p.to_str().unwrap()]);
    assert_clean_failure(&o, "cannot open capture");
}

#[test]
fn truncated_pcap_keeps_earlier_events_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("t.rules");
    std::fs::write(
        &rules,
        "alert tcp any any -> any any (msg:\"marker\"; content:\"MARKER\"; sid:1;)\n",
    )
    .unwrap();
    let full = pcap_bytes(&[tcp_frame(b"MARKER one"), tcp_frame(b"MARKER two")]);
    // Cut in the middle of the second record.
    let cut = &full[..full.len() - 5];
    let p = dir.path().join("cut.pcap");
    std::fs::write(&p, cut).unwrap();
    let eve = dir.path().join("eve.json");
    let o = run_sensor(&[
        "replay",
        "--rules",
        rules.to_str().unwrap(),
        "--eve",
        eve.to_str().unwrap(),
        p.to_str().unwrap(),
    ]);
    assert_clean_failure(&o, "read error after 1 packets");
    let eve = std::fs::read_to_string(&eve).unwrap();
    assert_eq!(alert_lines(&eve), 1, "the packet before the cut alerted");
}

#[test]
fn every_prefix_of_a_capture_is_handled() {
    let dir = tempfile::tempdir().unwrap();
    let full = pcap_bytes(&[tcp_frame(b"abc"), tcp_frame(b"def")]);
    let p = dir.path().join("prefix.pcap");
    for n in [
        1,
        10,
        23,
        24,
        30,
        39,
        40,
        41,
        60,
        full.len() - 1,
        full.len(),
    ] {
        std::fs::write(&p, &full[..n]).unwrap();
        let o = run_sensor(&["replay", "--eve", "/dev/null", p.to_str().unwrap()]);
        let err = stderr(&o);
        assert!(matches!(o.status.code(), Some(0 | 1)), "len {n}: {err}");
        assert!(!err.contains("panicked"), "len {n}: {err}");
    }
}

/// pcapng with a block type nobody defines between two packets: libpcap skips it.
#[test]
fn pcapng_with_unknown_block_is_read_past() {
    fn block(kind: u32, body: &[u8]) -> Vec<u8> {
        let mut body = body.to_vec();
        while body.len() % 4 != 0 {
            body.push(0);
        }
        let total = (12 + body.len()) as u32;
        let mut b = Vec::new();
        b.extend_from_slice(&kind.to_le_bytes());
        b.extend_from_slice(&total.to_le_bytes());
        b.extend_from_slice(&body);
        b.extend_from_slice(&total.to_le_bytes());
        b
    }
    fn epb(frame: &[u8]) -> Vec<u8> {
        let mut body = Vec::new();
        body.extend_from_slice(&0u32.to_le_bytes()); // interface
        body.extend_from_slice(&0u32.to_le_bytes()); // ts high
        body.extend_from_slice(&1_000_000u32.to_le_bytes()); // ts low
        body.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        body.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        body.extend_from_slice(frame);
        block(6, &body)
    }
    let mut shb = Vec::new();
    shb.extend_from_slice(&0x1a2b_3c4du32.to_le_bytes());
    shb.extend_from_slice(&1u16.to_le_bytes());
    shb.extend_from_slice(&0u16.to_le_bytes());
    shb.extend_from_slice(&(-1i64).to_le_bytes());
    let mut idb = Vec::new();
    idb.extend_from_slice(&1u16.to_le_bytes()); // Ethernet
    idb.extend_from_slice(&0u16.to_le_bytes());
    idb.extend_from_slice(&65535u32.to_le_bytes());
    let mut file = block(0x0a0d_0d0a, &shb);
    file.extend(block(1, &idb));
    file.extend(epb(&tcp_frame(b"MARKER one")));
    file.extend(block(0x0000_0bad, b"nobody knows this block"));
    file.extend(epb(&tcp_frame(b"MARKER two")));

    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("unknown-block.pcapng");
    std::fs::write(&p, file).unwrap();
    let rules = dir.path().join("t.rules");
    std::fs::write(
        &rules,
        "alert tcp any any -> any any (msg:\"marker\"; content:\"MARKER\"; sid:1;)\n",
    )
    .unwrap();
    let o = run_sensor(&[
        "replay",
        "--rules",
        rules.to_str().unwrap(),
        p.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let eve = String::from_utf8(o.stdout).unwrap();
    assert_eq!(alert_lines(&eve), 2, "{eve}");
}

#[test]
fn unreadable_rules_path_fails_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("ok.pcap");
    std::fs::write(&p, pcap_bytes(&[tcp_frame(b"x")])).unwrap();
    let o = run_sensor(&[
        "replay",
        "--rules",
        "/nonexistent.rules",
        p.to_str().unwrap(),
    ]);
    assert_clean_failure(&o, "/nonexistent.rules");
}

#[test]
fn broken_rule_is_reported_with_location_and_the_rest_load() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("mixed.rules");
    std::fs::write(
        &rules,
        "# a comment\n\
         alert tcp any any -> any any (msg:\"good\"; content:\"MARKER\"; sid:1;)\n\
         alert tcp any any -> any any (msg:\"bad sid\"; sid:two;)\n",
    )
    .unwrap();
    let p = dir.path().join("ok.pcap");
    std::fs::write(&p, pcap_bytes(&[tcp_frame(b"MARKER")])).unwrap();
    let o = run_sensor(&[
        "replay",
        "--rules",
        rules.to_str().unwrap(),
        p.to_str().unwrap(),
    ]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    let loc = format!("{}:3:", rules.display());
    assert!(err.contains(&loc), "expected {loc} in: {err}");
    let eve = String::from_utf8(o.stdout).unwrap();
    assert_eq!(alert_lines(&eve), 1, "{eve}");
}

#[test]
fn checksums_are_ignored_unless_asked() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("t.rules");
    std::fs::write(
        &rules,
        "alert tcp any any -> any any (msg:\"m\"; content:\"MARKER\"; sid:1;)\n",
    )
    .unwrap();
    let mut f = tcp_frame(b"MARKER!");
    let n = f.len();
    f[n - 1] = b'?'; // payload changed after the checksum was computed
    let p = dir.path().join("badsum.pcap");
    std::fs::write(&p, pcap_bytes(&[f])).unwrap();
    let o = run_sensor(&[
        "replay",
        "--rules",
        rules.to_str().unwrap(),
        p.to_str().unwrap(),
    ]);
    assert_eq!(alert_lines(&String::from_utf8_lossy(&o.stdout)), 1);
    let o = run_sensor(&[
        "replay",
        "--verify-checksums",
        "--rules",
        rules.to_str().unwrap(),
        p.to_str().unwrap(),
    ]);
    assert_eq!(alert_lines(&String::from_utf8_lossy(&o.stdout)), 0);
    assert!(stderr(&o).contains("bad checksum 1"), "{}", stderr(&o));
}
