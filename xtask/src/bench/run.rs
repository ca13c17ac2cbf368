//! Running one tool over one capture and measuring it: wall time around the child, peak RSS
//! from GNU time (`%M`, the child's maximum resident set in KiB), alerts from its EVE file.

use crate::proc;
use anyhow::{bail, Context, Result};
use serde_json::Value as Json;
use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// One measured run.
#[derive(Debug, Clone)]
pub struct Measured {
    /// Wall-clock time of the whole process.
    pub wall: Duration,
    /// Peak resident set size, KiB.
    pub rss_kib: u64,
    /// User plus system CPU time (less disturbed than wall time on a shared machine).
    pub cpu: Duration,
}

/// Runs `cmd` under `/usr/bin/time -f "%M %U %S"`, output to `log` (stdout and stderr), and fails
/// with the log's tail when it exits unsuccessfully.
pub fn measure(cmd: &Command, log: &Path) -> Result<Measured> {
    let rss_file = log.with_extension("rss");
    let mut timed = Command::new("/usr/bin/time");
    timed
        .args(["-f", "%M %U %S", "-o"])
        .arg(&rss_file)
        .arg(cmd.get_program())
        .args(cmd.get_args());
    if let Some(dir) = cmd.get_current_dir() {
        timed.current_dir(dir);
    }
    let out = std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
    let err = out.try_clone()?;
    let shown = proc::display(cmd);
    let started = Instant::now();
    let status = timed
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .status()
        .with_context(|| {
            format!("could not start `/usr/bin/time {shown}` (GNU time installed?)")
        })?;
    let wall = started.elapsed();
    if !status.success() {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(15).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        bail!(
            "`{shown}` failed ({status}); last lines of {}:\n{}",
            log.display(),
            tail.join("\n")
        );
    }
    let rss_text = std::fs::read_to_string(&rss_file).unwrap_or_default();
    // GNU time may print a "Command exited..." line first; ours is the last line.
    let last = rss_text.lines().last().unwrap_or_default();
    let fields: Vec<&str> = last.split_whitespace().collect();
    let (Some(rss), Some(user), Some(sys)) = (fields.first(), fields.get(1), fields.get(2)) else {
        bail!("no figures in {}", rss_file.display());
    };
    let rss_kib = rss.parse::<u64>().context("peak RSS")?;
    let secs = user.parse::<f64>().unwrap_or(0.0) + sys.parse::<f64>().unwrap_or(0.0);
    Ok(Measured {
        wall,
        rss_kib,
        cpu: Duration::from_secs_f64(secs),
    })
}

/// Median of the durations (the lower middle for an even count).
pub fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v.get(v.len().saturating_sub(1) / 2)
        .copied()
        .unwrap_or_default()
}

/// Alerts of one EVE file: count and signature text per sid.
#[derive(Debug, Clone, Default)]
pub struct Alerts {
    /// sid -> (count, signature).
    pub by_sid: BTreeMap<u64, (u64, String)>,
}

impl Alerts {
    /// Total alerts.
    pub fn total(&self) -> u64 {
        self.by_sid.values().map(|(n, _)| n).sum()
    }
}

/// Reads the alerts of an EVE file (other event types are skipped without parsing them).
pub fn read_alerts(eve: &Path) -> Result<Alerts> {
    let f = std::fs::File::open(eve).with_context(|| format!("opening {}", eve.display()))?;
    let mut alerts = Alerts::default();
    for line in std::io::BufReader::with_capacity(1 << 20, f).lines() {
        let line = line?;
        if !line.contains("\"event_type\":\"alert\"") {
            continue;
        }
        let Ok(v) = serde_json::from_str::<Json>(&line) else {
            continue;
        };
        let a = v.get("alert");
        let sid = a
            .and_then(|a| a.get("signature_id"))
            .and_then(Json::as_u64)
            .unwrap_or(0);
        let sig = a
            .and_then(|a| a.get("signature"))
            .and_then(Json::as_str)
            .unwrap_or("");
        let e = alerts.by_sid.entry(sid).or_insert((0, sig.to_string()));
        e.0 += 1;
    }
    Ok(alerts)
}
