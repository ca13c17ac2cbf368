//! Helpers shared by the sensor's integration tests: run the built binary, write captures.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// `sensor replay --rules RULES --eve FILE --sensor-id ID EXTRA... PCAP`: the process output and
/// the EVE text it wrote.
pub fn replay_eve(rules: &Path, sensor_id: &str, extra: &[&str], pcap: &Path) -> (Output, String) {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let eve = dir.path().join("eve.json");
    let (rules, eve_s, pcap) = (
        rules.to_string_lossy(),
        eve.to_string_lossy().into_owned(),
        pcap.to_string_lossy(),
    );
    let mut args = vec![
        "replay",
        "--rules",
        &rules,
        "--eve",
        &eve_s,
        "--sensor-id",
        sensor_id,
    ];
    args.extend_from_slice(extra);
    args.push(&pcap);
    let out = run_sensor(&args);
    let text = std::fs::read_to_string(&eve).unwrap_or_default();
    (out, text)
}

/// The `sensor` binary cargo built for this test run.
pub fn sensor_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_sensor"))
}

/// Runs the sensor with `args`.
pub fn run_sensor(args: &[&str]) -> Output {
    Command::new(sensor_bin())
        .args(args)
        .output()
        .expect("sensor binary runs")
}

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The bundled demo capture and rules.
pub fn demo_dir() -> PathBuf {
    workspace_root().join("sensor/testdata/demo")
}

/// Classic pcap bytes (microsecond, Ethernet) holding `frames`, one second apart.
pub fn pcap_bytes(frames: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&0i32.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&65535u32.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes());
    for (i, f) in frames.iter().enumerate() {
        out.extend_from_slice(&(1_700_000_000u32 + i as u32).to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&(f.len() as u32).to_le_bytes());
        out.extend_from_slice(&(f.len() as u32).to_le_bytes());
        out.extend_from_slice(f);
    }
    out
}

/// An Ethernet/IPv4/TCP frame from 10.0.0.1:40000 to 203.0.113.5:80 with `payload`.
pub fn tcp_frame(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    etherparse::PacketBuilder::ethernet2([1; 6], [2; 6])
        .ipv4([10, 0, 0, 1], [203, 0, 113, 5], 64)
        .tcp(40000, 80, 1, 1000)
        .ack(1)
        .write(&mut out, payload)
        .expect("frame builds");
    out
}

/// True when the shared corpus is here; absent, tests skip, except under CI=true.
pub fn corpus_dir() -> Option<PathBuf> {
    let dir = workspace_root().join("../shared/corpus");
    if dir.is_dir() {
        return Some(dir);
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "the shared corpus {} is required under CI=true",
        dir.display()
    );
    eprintln!("skipping: shared corpus not found at {}", dir.display());
    None
}
