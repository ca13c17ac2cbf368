//! `cargo xtask test`: the full local/CI gate in one command.
//!
//! Installs missing system packages, then runs formatting, clippy, the test
//! suite and the verify ratchet in that order, stopping at the first failure
//! and timing every step, so "it passes `cargo xtask test`" means the same
//! thing on a laptop and in CI (the environment, including `CI`, is passed
//! through untouched).

use crate::{install, paths, proc, verify};
use anyhow::{Context, Result};
use std::process::Command;
use std::time::Instant;

fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string()));
    cmd.current_dir(paths::workspace_root());
    cmd
}

/// Run one named step, report its duration, and label any error with it.
fn step(
    name: &str,
    timings: &mut Vec<(String, f64)>,
    f: impl FnOnce() -> Result<()>,
) -> Result<()> {
    println!("==> {name}");
    let started = Instant::now();
    let result = f();
    let secs = started.elapsed().as_secs_f64();
    timings.push((name.to_string(), secs));
    match result {
        Ok(()) => {
            println!("<== {name}: ok ({secs:.1}s)");
            Ok(())
        }
        Err(e) => {
            print_timings(timings);
            Err(e).with_context(|| format!("step `{name}` failed after {secs:.1}s"))
        }
    }
}

fn print_timings(timings: &[(String, f64)]) {
    println!("step timings:");
    for (name, secs) in timings {
        println!("  {secs:7.1}s  {name}");
    }
}

/// Run the whole gate.
pub fn run() -> Result<()> {
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        println!("xtask test: CI=true (a missing verify corpus is an error)");
    }
    let mut timings = Vec::new();
    step("install system packages", &mut timings, || {
        install::ensure(
            &[
                install::LIBPCAP_DEV,
                install::MOSQUITTO,
                install::MOSQUITTO_CLIENTS,
                install::IPROUTE2,
                install::ZSTD,
            ],
            &[],
        )
    })?;
    step("cargo fmt --all --check", &mut timings, || {
        proc::run(cargo().args(["fmt", "--all", "--check"]))
            .context("formatting differs; run `cargo fmt --all`")
    })?;
    step("cargo clippy", &mut timings, || {
        proc::run(cargo().args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--all-features",
            "--",
            "-D",
            "warnings",
        ]))
    })?;
    step("cargo test", &mut timings, || {
        proc::run(cargo().args(["test", "--workspace", "--all-features"]))
    })?;
    step("verify ratchet", &mut timings, || {
        // Same profile and features as `cargo test`, so this reuses its build.
        proc::run(cargo().args(["build", "-p", "sensor", "--all-features"]))?;
        verify::run(
            &verify::VerifyArgs {
                jobs: 2,
                ..Default::default()
            },
            &paths::sensor_binary("debug"),
        )
    })?;
    print_timings(&timings);
    println!("xtask test: all steps passed");
    Ok(())
}
