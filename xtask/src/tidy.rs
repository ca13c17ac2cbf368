//! Tidy tests (rust-analyzer style): repository-wide conventions checked as
//! ordinary unit tests, so `cargo test` enforces them without extra tooling.
//!
//! * every source file starts with a `//!` module doc saying why it exists;
//! * no `.unwrap()` in production code (text before the first `#[cfg(test)]`;
//!   files under `tests/` directories and unit-test files named `tests.rs`,
//!   which their parent includes as `#[cfg(test)] mod tests;`, excluded).

use crate::paths;
use std::path::{Path, PathBuf};

/// What we look for; spelled in two halves so this file does not flag itself.
const UNWRAP: &str = concat!(".unw", "rap()");

/// Source trees covered by the tidy checks.
const SOURCE_DIRS: [&str; 4] = ["sensor/src", "signatures/src", "uplink/src", "xtask/src"];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n == "tests") {
                continue;
            }
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn all_sources() -> Vec<PathBuf> {
    let root = paths::workspace_root();
    let mut files = Vec::new();
    for dir in SOURCE_DIRS {
        rust_files(&root.join(dir), &mut files);
    }
    files.sort();
    files
}

fn relative(path: &Path) -> String {
    path.strip_prefix(paths::workspace_root())
        .unwrap_or(path)
        .display()
        .to_string()
}

/// The production part of a file: everything before the first `#[cfg(test)]`;
/// nothing for a unit-test file (`tests.rs`).
fn production_part<'t>(path: &Path, text: &'t str) -> &'t str {
    if path.file_name().is_some_and(|n| n == "tests.rs") {
        return "";
    }
    text.find("#[cfg(test)]").map_or(text, |i| &text[..i])
}

#[test]
fn every_file_has_module_docs() {
    let offenders: Vec<String> = all_sources()
        .into_iter()
        .filter(|p| {
            let text = std::fs::read_to_string(p).unwrap_or_default();
            !text.trim_start().starts_with("//!")
        })
        .map(|p| relative(&p))
        .collect();
    assert!(
        offenders.is_empty(),
        "these files do not start with a `//!` module doc comment:\n  {}",
        offenders.join("\n  ")
    );
}

#[test]
fn no_unwrap_in_production_code() {
    let mut offenders = Vec::new();
    for path in all_sources() {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        for (n, line) in production_part(&path, &text).lines().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            if code.contains(UNWRAP) {
                offenders.push(format!("{}:{}: {}", relative(&path), n + 1, line.trim()));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "`.unwrap()` outside tests (use `?`, `.context(..)` or a fallback):\n  {}",
        offenders.join("\n  ")
    );
}

#[test]
fn production_part_stops_at_test_module() {
    let lib = Path::new("src/lib.rs");
    assert_eq!(production_part(lib, "a\n#[cfg(test)]\nmod t {}"), "a\n");
    assert_eq!(production_part(lib, "a"), "a");
    assert_eq!(production_part(Path::new("src/x/tests.rs"), "a"), "");
}

/// A submission's size is capped, and build output or captures that a script can make
/// again do not belong in the repository: no tracked file may exceed 512 KiB, and no
/// tracked path may sit in a build or fuzzing output directory.
#[test]
fn no_large_or_generated_files_tracked() {
    let root = crate::paths::workspace_root();
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(&root)
        .args(["ls-files", "-z"])
        .output();
    let Ok(out) = out else {
        eprintln!("tidy: git not available, skipping");
        return;
    };
    let mut offenders = Vec::new();
    for name in out.stdout.split(|b| *b == 0).filter(|n| !n.is_empty()) {
        let name = String::from_utf8_lossy(name).into_owned();
        let generated = ["target/", "fuzz/corpus/", "fuzz/artifacts/"]
            .iter()
            .any(|d| name.starts_with(d) || name.contains(&format!("/{d}")));
        let size = std::fs::metadata(root.join(&name)).map_or(0, |m| m.len());
        if generated || size > 512 * 1024 {
            offenders.push(format!("{name} ({size} bytes)"));
        }
    }
    assert!(
        offenders.is_empty(),
        "tracked files that are too large or generated:\n{}",
        offenders.join("\n")
    );
}
