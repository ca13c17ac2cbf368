//! `sensor replay`: capture files through the pipeline, events to EVE and MQTT.
//!
//! Every file is opened before the first packet is read, so a missing or non-capture file
//! fails the run before any output. A file that breaks part way (truncated) stops the run
//! after the events of the packets before the break have been delivered, and the run fails.
//! With an uplink, replay returns only once the broker acknowledged every event or the
//! timeout passed; unacknowledged events fail the run.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;

use super::dispatch::Dispatcher;
use super::output::EveOutput;
use super::output::EventSink;
use super::rules::{load_rules, report_to_stderr};
use super::stats::WorkerStats;
use super::worker::{AppLog, Worker, WorkerConfig};
use crate::capture::{PcapFile, Timestamp};

/// What `replay` was asked to do.
#[derive(Debug, Clone)]
pub struct ReplayOptions {
    /// Rule files or directories.
    pub rules: Vec<PathBuf>,
    /// EVE output file; `None` is standard output.
    pub eve: Option<PathBuf>,
    /// Broker URL.
    pub mqtt: Option<String>,
    /// How long to wait for the broker's acknowledgements at the end.
    pub mqtt_timeout: Duration,
    /// Sensor id.
    pub sensor_id: String,
    /// Worker threads.
    pub workers: usize,
    /// Drop packets with wrong checksums.
    pub verify_checksums: bool,
    /// Flows each worker tracks before it evicts the least recently seen.
    pub flow_capacity: usize,
    /// Which event types to write.
    pub eve_types: EveTypes,
    /// Capture files, in order.
    pub pcaps: Vec<PathBuf>,
}

/// Which EVE event types a run writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EveTypes {
    /// `alert` records.
    pub alert: bool,
    /// `flow` records.
    pub flow: bool,
    /// One `stats` record at the end of the run.
    pub stats: bool,
    /// `dns` records.
    pub dns: bool,
    /// `http` records.
    pub http: bool,
    /// `tls` records.
    pub tls: bool,
}

impl EveTypes {
    /// Every type the sensor produces (Suricata's default eve-log types, as far as we have them).
    pub const ALL: EveTypes = EveTypes {
        alert: true,
        flow: true,
        stats: true,
        dns: true,
        http: true,
        tls: true,
    };

    /// Parses a comma-separated list such as `alert,flow`.
    pub fn parse(list: &str) -> Result<EveTypes, String> {
        let mut t = EveTypes {
            alert: false,
            flow: false,
            stats: false,
            dns: false,
            http: false,
            tls: false,
        };
        for name in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            match name {
                "alert" => t.alert = true,
                "flow" => t.flow = true,
                "stats" => t.stats = true,
                "dns" => t.dns = true,
                "http" => t.http = true,
                "tls" => t.tls = true,
                other => {
                    return Err(format!(
                    "unknown EVE event type '{other}' (known: alert, flow, stats, dns, http, tls)"
                ))
                }
            }
        }
        Ok(t)
    }
}

/// How a replay went.
#[derive(Debug, Clone)]
pub struct ReplayOutcome {
    /// Merged counters.
    pub stats: WorkerStats,
    /// The human summary (also printed by the CLI).
    pub summary: String,
    /// Problems that make the run a failure (read errors, unacknowledged events).
    pub failures: Vec<String>,
}

impl ReplayOutcome {
    /// True when nothing failed.
    pub fn ok(&self) -> bool {
        self.failures.is_empty()
    }
}

/// One worker on the reader's thread, or several behind a dispatcher.
enum Pipeline {
    Inline(Box<Worker>),
    Threads(Dispatcher),
}

/// Runs a replay.
pub fn run(opts: &ReplayOptions) -> anyhow::Result<ReplayOutcome> {
    let (rules, report) = load_rules(&opts.rules)?;
    report_to_stderr(&report);
    let rules = Arc::new(rules);

    let mut files = Vec::with_capacity(opts.pcaps.len());
    for p in &opts.pcaps {
        files.push(PcapFile::open(p)?);
    }

    let uplink = match &opts.mqtt {
        Some(url) => {
            let cfg = uplink::MqttConfig::new(url, &opts.sensor_id)
                .with_context(|| format!("bad --mqtt {url}"))?;
            Some(uplink::Uplink::start(cfg).context("cannot start the MQTT uplink")?)
        }
        None => None,
    };
    let mut out = EveOutput::open(
        opts.eve.as_deref(),
        uplink.as_ref().map(|u| u.sender()),
        opts.mqtt_timeout,
    )?;

    let started = Instant::now();
    let cfg = WorkerConfig {
        verify_checksums: opts.verify_checksums,
        flow_capacity: opts.flow_capacity,
        log_flows: opts.eve_types.flow,
        log_alerts: opts.eve_types.alert,
        log_app: AppLog {
            dns: opts.eve_types.dns,
            http: opts.eve_types.http,
            tls: opts.eve_types.tls,
        },
        ..WorkerConfig::new(Arc::from(opts.sensor_id.as_str()), opts.workers)
    };
    let mut failures = Vec::new();
    let mut pcap_cnt = 0u64;
    let mut last_ts = Timestamp::default();
    let mut pipeline = if opts.workers > 1 {
        Pipeline::Threads(Dispatcher::start(opts.workers, &rules, &cfg)?)
    } else {
        Pipeline::Inline(Box::new(Worker::new(rules, cfg)))
    };
    'files: for file in &mut files {
        loop {
            match file.next_frame() {
                Ok(Some(frame)) => {
                    pcap_cnt += 1;
                    last_ts = last_ts.max(frame.ts);
                    match &mut pipeline {
                        Pipeline::Inline(w) => w.process(&frame, pcap_cnt, &mut out),
                        Pipeline::Threads(d) => d.dispatch(&frame, pcap_cnt, &mut out),
                    }
                    .context("cannot write events")?;
                }
                Ok(None) => break,
                Err(e) => {
                    failures.push(e.to_string());
                    break 'files;
                }
            }
        }
    }
    let stats = match pipeline {
        Pipeline::Inline(mut w) => {
            w.shutdown(last_ts.secs, &mut out)
                .context("cannot write events")?;
            w.stats()
        }
        Pipeline::Threads(d) => d
            .finish(last_ts.secs, &mut out)
            .context("cannot write events")?,
    };
    if opts.eve_types.stats {
        let mut record = stats.eve_record(last_ts, started.elapsed(), &opts.sensor_id);
        record.push(b'\n');
        out.emit("stats", &record).context("cannot write events")?;
    }
    out.flush().context("cannot write events")?;
    let offered = out.offered_to_uplink();
    drop(out);
    let elapsed = started.elapsed();
    let mut summary = stats.summary(elapsed);

    if let Some(up) = uplink {
        let r = up.finish(opts.mqtt_timeout).context("MQTT uplink failed")?;
        let missing = offered.saturating_sub(r.acked);
        summary.push_str(&format!(
            "\nuplink: {offered} events offered, {} acknowledged, {missing} not acknowledged",
            r.acked
        ));
        if missing > 0 {
            failures.push(format!(
                "{missing} event(s) were not acknowledged by the broker within {} s ({r})",
                opts.mqtt_timeout.as_secs()
            ));
        }
    }
    for f in &failures {
        summary.push_str(&format!("\nerror: {f}"));
    }
    Ok(ReplayOutcome {
        stats,
        summary,
        failures,
    })
}
