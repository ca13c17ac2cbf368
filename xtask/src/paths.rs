//! Where things live: the workspace root, the cargo target directory and the
//! files the tasks read or write. Centralised so no task hard-codes a path.

use std::path::{Path, PathBuf};

/// Root of the Cargo workspace (the parent of this crate's manifest directory).
pub fn workspace_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| manifest_dir.to_path_buf())
}

/// Cargo's target directory, honouring `CARGO_TARGET_DIR` (relative values are
/// resolved against the workspace root, which is where we run cargo from).
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => {
            let dir = PathBuf::from(dir);
            if dir.is_absolute() {
                dir
            } else {
                workspace_root().join(dir)
            }
        }
        _ => workspace_root().join("target"),
    }
}

/// Path of the `sensor` binary for a cargo profile directory (`debug`/`release`).
pub fn sensor_binary(profile_dir: &str) -> PathBuf {
    target_dir()
        .join(profile_dir)
        .join(format!("sensor{}", std::env::consts::EXE_SUFFIX))
}

/// Directory holding the bundled demo capture and rules.
pub fn demo_dir() -> PathBuf {
    workspace_root()
        .join("sensor")
        .join("testdata")
        .join("demo")
}

/// The suricata-verify corpus: `$XTASK_VERIFY_CORPUS` if set, else the shared
/// checkout next to the workspace (`../shared/corpus/suricata-verify`).
pub fn verify_corpus() -> PathBuf {
    if let Some(dir) = std::env::var_os("XTASK_VERIFY_CORPUS").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    workspace_root()
        .join("..")
        .join("shared")
        .join("corpus")
        .join("suricata-verify")
}

/// The committed ratchet list of verify cases that must keep passing.
pub fn verify_passing_list() -> PathBuf {
    workspace_root().join("xtask").join("verify-passing.txt")
}
