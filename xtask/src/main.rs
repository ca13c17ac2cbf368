//! `cargo xtask`: build, test and demo glue for the sensor workspace.
//!
//! Everything that would otherwise live in shell scripts lives here, in plain
//! Rust driving `cargo` and the `sensor` binary through `std::process`, so it
//! runs the same on every machine and is checked by the compiler and clippy.
//! This crate deliberately does not depend on the other workspace crates: it
//! treats the sensor as a black box, exactly like a user would.

mod app_compare;
mod bench;
mod ci;
mod demo;
mod install;
mod paths;
mod proc;
#[cfg(test)]
mod tidy;
mod traffic;
mod verify;

use anyhow::Result;
use clap::{Parser, Subcommand};

/// Command-line interface of `cargo xtask`.
#[derive(Debug, Parser)]
#[command(
    name = "cargo xtask",
    about = "Build, test and demo tasks for the sensor workspace"
)]
struct Cli {
    /// The task to run.
    #[command(subcommand)]
    task: Task,
}

/// The tasks `cargo xtask` knows.
#[derive(Debug, Subcommand)]
enum Task {
    /// Regenerate sensor/testdata/demo/demo.pcap (deterministic synthetic traffic).
    GenDemo,
    /// Install what is missing, build the sensor in release mode and replay the demo capture.
    Demo,
    /// Install what is missing, then run fmt, clippy, tests and the verify ratchet.
    Test,
    /// Run the suricata-verify conformance corpus against the sensor.
    Verify(verify::VerifyArgs),
    /// Throughput and memory of the sensor against Suricata on a large mixed capture.
    Bench(bench::BenchArgs),
    /// Agreement of the sensor's dns/http/tls records with Suricata's on the corpus captures.
    AppCompare(app_compare::AppCompareArgs),
}

fn main() {
    let cli = Cli::parse();
    if let Err(err) = run(cli.task) {
        // One readable cause chain, no backtrace noise.
        eprintln!("xtask: error: {err}");
        for cause in err.chain().skip(1) {
            eprintln!("  caused by: {cause}");
        }
        std::process::exit(1);
    }
}

fn run(task: Task) -> Result<()> {
    match task {
        Task::GenDemo => traffic::write_demo_files(),
        Task::Demo => demo::run(),
        Task::Test => ci::run(),
        Task::Verify(args) => verify::run_cli(&args),
        Task::Bench(args) => bench::run(&args),
        Task::AppCompare(args) => app_compare::run(&args),
    }
}
