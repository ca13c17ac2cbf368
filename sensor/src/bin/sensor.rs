//! The `sensor` binary: parses the command line and runs the chosen command.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = sensor::cli::Cli::parse();
    match sensor::cli::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("sensor: error: {e:#}");
            ExitCode::from(1)
        }
    }
}
