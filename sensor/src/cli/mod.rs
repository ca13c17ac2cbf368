//! The command line: `sensor replay ...`, `sensor rules check ...`, `sensor run` and
//! `sensor config check`.
//!
//! Argument shapes live here and nowhere else; each command turns its arguments into the
//! runtime's own option struct, so the runtime can be driven from tests without clap.

mod bundle;
mod rules_check;
mod tail;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

use crate::runtime::replay::{self, EveTypes, ReplayOptions};
use crate::runtime::worker::DEFAULT_FLOW_CAPACITY;

/// Edge network sensor: Suricata-compatible rules, EVE JSON events, MQTT uplink.
#[derive(Debug, Parser)]
#[command(name = "sensor", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Read pcap/pcapng files, detect, and write EVE JSON events.
    Replay(ReplayArgs),
    /// Rule file tools.
    #[command(subcommand)]
    Rules(RulesCommand),
    /// Capture on live interfaces as a daemon (configuration file; SIGHUP reloads rules).
    Run(RunArgs),
    /// Configuration file tools.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Create an ed25519 key pair for signing rule bundles.
    Keygen(bundle::KeygenArgs),
    /// Live view of the events on a broker, one line each (batches expanded).
    Tail(tail::TailArgs),
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Check a configuration file and print the effective configuration (defaults filled in).
    Check {
        /// The configuration file.
        #[arg(value_name = "PATH", default_value = crate::config::DEFAULT_PATH)]
        path: PathBuf,
    },
}

#[derive(Debug, Args)]
struct RunArgs {
    /// Configuration file.
    #[arg(long, value_name = "PATH", default_value = crate::config::DEFAULT_PATH)]
    config: PathBuf,
    /// Log JSON lines instead of human-readable ones.
    #[arg(long)]
    log_json: bool,
    /// Run as root without becoming sensor.user (not recommended).
    #[arg(long)]
    allow_root: bool,
}

#[derive(Debug, Subcommand)]
enum RulesCommand {
    /// Load rules and report what loaded, what failed (file:line:column) and what is unsupported.
    Check(RulesCheckArgs),
    /// Signed rule bundles (create, verify).
    #[command(subcommand)]
    Bundle(bundle::BundleCommand),
}

#[derive(Debug, Args)]
struct ReplayArgs {
    /// Rule file, or directory of *.rules files (repeatable).
    #[arg(long = "rules", value_name = "PATH")]
    rules: Vec<PathBuf>,
    /// Where to write EVE JSON lines; `-` is standard output (the default).
    #[arg(long, value_name = "PATH")]
    eve: Option<PathBuf>,
    /// Publish every event to this broker, e.g. mqtt://127.0.0.1:1883.
    #[arg(long, value_name = "URL")]
    mqtt: Option<String>,
    /// How long to wait at the end for the broker to acknowledge every event.
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    mqtt_timeout: u64,
    /// Sensor id for the `sensor` object and the MQTT topic (default: host name).
    #[arg(long, value_name = "ID")]
    sensor_id: Option<String>,
    /// Worker threads (default: number of cores).
    #[arg(long, value_name = "N")]
    workers: Option<usize>,
    /// EVE event types to write, comma-separated (default: all the sensor produces).
    #[arg(long, value_name = "LIST", default_value = "alert,flow,stats,dns,http,tls", value_parser = EveTypes::parse)]
    eve_types: EveTypes,
    /// Flows each worker tracks before evicting the least recently seen one.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_FLOW_CAPACITY)]
    flow_capacity: usize,
    /// Drop packets with a wrong IP/TCP/UDP/ICMP checksum (off by default, like `suricata -k none`).
    #[arg(long)]
    verify_checksums: bool,
    /// Capture files (pcap or pcapng), read in order.
    #[arg(required = true, value_name = "PCAP")]
    pcaps: Vec<PathBuf>,
}

#[derive(Debug, Args)]
struct RulesCheckArgs {
    /// Rule file, or directory of *.rules files (repeatable).
    #[arg(long = "rules", value_name = "PATH", required = true)]
    rules: Vec<PathBuf>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Replay(a) => {
            let sensor_id = match a.sensor_id {
                Some(id) => id,
                None => host_name(),
            };
            let opts = ReplayOptions {
                rules: a.rules,
                eve: a.eve.filter(|p| p.as_os_str() != "-"),
                mqtt: a.mqtt,
                mqtt_timeout: Duration::from_secs(a.mqtt_timeout),
                sensor_id,
                workers: a.workers.unwrap_or_else(default_workers).max(1),
                verify_checksums: a.verify_checksums,
                flow_capacity: a.flow_capacity,
                eve_types: a.eve_types,
                pcaps: a.pcaps,
            };
            let outcome = replay::run(&opts).context("replay failed")?;
            eprintln!("{}", outcome.summary);
            Ok(if outcome.ok() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Command::Rules(RulesCommand::Check(a)) => rules_check::run(&a.rules, a.json),
        Command::Run(a) => crate::runtime::daemon::run(&crate::runtime::daemon::RunOptions {
            config: a.config,
            log_json: a.log_json,
            allow_root: a.allow_root,
        }),
        Command::Config(ConfigCommand::Check { path }) => {
            let cfg = crate::config::Config::load(&path)?;
            print!("{}", cfg.to_toml());
            eprintln!("sensor: {}: configuration is valid", path.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Rules(RulesCommand::Bundle(b)) => bundle::run(&b),
        Command::Keygen(a) => bundle::keygen(&a),
        Command::Tail(a) => tail::run(&a),
    }
}

fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The host name, which identifies the sensor when no id is given.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "sensor".to_string())
}
