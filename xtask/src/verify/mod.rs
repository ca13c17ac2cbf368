//! `cargo xtask verify`: run the suricata-verify corpus against the sensor.
//!
//! Each case is planned (skip or run) from its test.yaml and the sensor's own
//! `rules check`, then replayed with a timeout and judged by its `filter`
//! checks. The committed `xtask/verify-passing.txt` is a ratchet: cases listed
//! there must keep passing, so conformance can only go up.

mod case;
mod checks;

use crate::{paths, proc};
use anyhow::{bail, Context, Result};
use case::{Case, RulesVerdict, RunPlan};
use serde_json::Value as Json;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long one `sensor replay` may run before it is killed.
const REPLAY_TIMEOUT: Duration = Duration::from_secs(60);

/// Options of `cargo xtask verify`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct VerifyArgs {
    /// Rewrite xtask/verify-passing.txt with the cases that pass now.
    #[arg(long)]
    pub update: bool,
    /// Only run cases whose name contains this substring.
    #[arg(long)]
    pub filter: Option<String>,
    /// Print every case (PASS/FAIL/SKIP), not just failures.
    #[arg(short, long)]
    pub verbose: bool,
    /// Use this sensor binary instead of building target/debug/sensor.
    #[arg(long)]
    pub sensor: Option<PathBuf>,
    /// Number of cases to run in parallel.
    #[arg(long, default_value_t = 2)]
    pub jobs: usize,
}

/// Result of one case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Every check held.
    Pass,
    /// A check failed or the sensor misbehaved; the text says how.
    Fail(String),
    /// Not run; the text says why.
    Skip(String),
}

/// `cargo xtask verify` entry point: build the debug sensor unless one is given.
pub fn run_cli(args: &VerifyArgs) -> Result<()> {
    let sensor = match &args.sensor {
        Some(path) => path.clone(),
        None => {
            proc::run(
                Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string()))
                    .args(["build", "--quiet", "-p", "sensor"])
                    .current_dir(paths::workspace_root()),
            )
            .context("building the sensor for verify")?;
            paths::sensor_binary("debug")
        }
    };
    run(args, &sensor)
}

/// Run the corpus with `sensor` and enforce (or update) the ratchet.
pub fn run(args: &VerifyArgs, sensor: &Path) -> Result<()> {
    let corpus = paths::verify_corpus();
    let corpus = corpus.canonicalize().unwrap_or(corpus);
    let tests_root = corpus.join("tests");
    if !tests_root.is_dir() {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            bail!(
                "verify: corpus {} not found (required when CI=true)",
                corpus.display()
            );
        }
        println!("verify: corpus {} not found, skipping", corpus.display());
        return Ok(());
    }
    if !sensor.is_file() {
        bail!(
            "verify: sensor binary {} not found; build it with `cargo build -p sensor`",
            sensor.display()
        );
    }
    let sensor = sensor
        .canonicalize()
        .unwrap_or_else(|_| sensor.to_path_buf());
    let mut cases =
        case::discover(&tests_root).with_context(|| format!("listing {}", tests_root.display()))?;
    if let Some(f) = &args.filter {
        cases.retain(|c| c.name.contains(f.as_str()));
    }
    let scratch_root = paths::target_dir().join("xtask-verify");
    let started = Instant::now();
    let outcomes = run_all(&cases, &sensor, &scratch_root, args.jobs.max(1));
    report(&cases, &outcomes, args.verbose);
    println!("verify: took {:.1}s", started.elapsed().as_secs_f64());
    ratchet(&cases, &outcomes, args)
}

/// Run cases on `jobs` threads; outcomes come back in case order.
fn run_all(cases: &[Case], sensor: &Path, scratch_root: &Path, jobs: usize) -> Vec<Outcome> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Outcome>>> = Mutex::new(vec![None; cases.len()]);
    std::thread::scope(|s| {
        for _ in 0..jobs {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(case) = cases.get(i) else { break };
                let scratch = scratch_root.join(case.name.replace('/', "__"));
                let outcome = run_case(case, sensor, &scratch);
                let mut guard = results.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(slot) = guard.get_mut(i) {
                    *slot = Some(outcome);
                }
            });
        }
    });
    results
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .into_iter()
        .map(|o| o.unwrap_or_else(|| Outcome::Fail("case did not run".to_string())))
        .collect()
}

/// Plan, run and judge one case.
fn run_case(case: &Case, sensor: &Path, scratch: &Path) -> Outcome {
    let text = match std::fs::read_to_string(case.dir.join("test.yaml")) {
        Ok(t) => t,
        Err(e) => return Outcome::Skip(format!("unreadable test.yaml: {e}")),
    };
    let yaml: serde_yaml::Value = match serde_yaml::from_str(&text) {
        Ok(y) => y,
        Err(e) => return Outcome::Skip(format!("unparsable test.yaml: {e}")),
    };
    let plan = match case::plan_from_yaml(case, &yaml) {
        Ok(p) => p,
        Err(reason) => return Outcome::Skip(reason),
    };
    if let Err(e) = std::fs::create_dir_all(scratch) {
        return Outcome::Fail(format!("creating {}: {e}", scratch.display()));
    }
    if let Some(rules) = &plan.rules {
        match case::check_rules(sensor, rules, scratch) {
            Ok(()) => {}
            Err(RulesVerdict::Skip(reason)) => return Outcome::Skip(reason),
            Err(RulesVerdict::Broken(why)) => return Outcome::Fail(why),
        }
    }
    let outcome = match replay(sensor, &plan, scratch) {
        Ok(records) => judge(&plan, &records),
        Err(why) => Outcome::Fail(why),
    };
    match outcome {
        // A local config may enable outputs or settings we do not read; say so.
        Outcome::Fail(why) if case.dir.join("suricata.yaml").is_file() => {
            Outcome::Fail(format!("{why} (case ships its own suricata.yaml)"))
        }
        other => other,
    }
}

/// Replay the case's pcap and return the EVE records.
fn replay(sensor: &Path, plan: &RunPlan, scratch: &Path) -> Result<Vec<Json>, String> {
    let eve = scratch.join("eve.json");
    let _ = std::fs::remove_file(&eve);
    let err_path = scratch.join("replay.stderr");
    let stderr = std::fs::File::create(&err_path).map_err(|e| e.to_string())?;
    let mut cmd = Command::new(sensor);
    cmd.arg("replay");
    if let Some(rules) = &plan.rules {
        cmd.arg("--rules").arg(rules);
    }
    cmd.arg("--eve").arg(&eve).arg(&plan.pcap);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr);
    let status = run_with_timeout(&mut cmd, REPLAY_TIMEOUT)?;
    if !status.success() {
        let err = std::fs::read_to_string(&err_path).unwrap_or_default();
        let last = err
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
            .trim();
        return Err(format!("sensor replay exited with {status}: {last}"));
    }
    let text = std::fs::read_to_string(&eve).unwrap_or_default();
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(n, l)| {
            serde_json::from_str(l).map_err(|e| format!("eve.json line {} is not JSON: {e}", n + 1))
        })
        .collect()
}

/// Evaluate every filter; the first mismatch makes the case fail.
fn judge(plan: &RunPlan, records: &[Json]) -> Outcome {
    let total = plan.filters.len();
    let mut failures = Vec::new();
    for (i, f) in plan.filters.iter().enumerate() {
        let got = f.matching(records);
        if got != f.count {
            failures.push(format!(
                "check {}/{total} [{}]: expected {} got {got}",
                i + 1,
                f.describe(),
                f.count
            ));
        }
    }
    let alerts = records
        .iter()
        .filter(|r| r.get("event_type").and_then(Json::as_str) == Some("alert"))
        .count();
    match failures.len() {
        0 => Outcome::Pass,
        n => {
            let more = if n > 1 {
                format!(" (and {} more failing checks)", n - 1)
            } else {
                String::new()
            };
            Outcome::Fail(format!(
                "{}{more}; eve.json has {alerts} alert(s)",
                failures.remove(0)
            ))
        }
    }
}

/// Run a command, killing it if it outlives `timeout`.
pub fn run_with_timeout(cmd: &mut Command, timeout: Duration) -> Result<ExitStatus, String> {
    let mut child = cmd.spawn().map_err(|e| {
        format!(
            "could not start {}: {e}",
            cmd.get_program().to_string_lossy()
        )
    })?;
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Ok(status),
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("timeout after {}s", timeout.as_secs()));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(format!("waiting for child: {e}")),
        }
    }
}

/// The histogram key of a skip reason (rule errors grouped by their message).
fn skip_bucket(reason: &str) -> String {
    let max = 90;
    if reason.chars().count() > max {
        format!("{}...", reason.chars().take(max).collect::<String>())
    } else {
        reason.to_string()
    }
}

fn report(cases: &[Case], outcomes: &[Outcome], verbose: bool) {
    let mut histogram: BTreeMap<String, usize> = BTreeMap::new();
    let (mut pass, mut fail, mut skip) = (0, 0, 0);
    for (case, outcome) in cases.iter().zip(outcomes) {
        match outcome {
            Outcome::Pass => {
                pass += 1;
                if verbose {
                    println!("PASS {}", case.name);
                }
            }
            Outcome::Fail(why) => {
                fail += 1;
                println!("FAIL {}: {why}", case.name);
            }
            Outcome::Skip(why) => {
                skip += 1;
                *histogram.entry(skip_bucket(why)).or_default() += 1;
                if verbose {
                    println!("SKIP {}: {why}", case.name);
                }
            }
        }
    }
    if !verbose && !histogram.is_empty() {
        let mut buckets: Vec<_> = histogram.into_iter().collect();
        buckets.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        println!("skip reasons:");
        for (why, n) in buckets {
            println!("  {n:4}  {why}");
        }
    }
    println!("verify: {pass} pass, {fail} fail, {skip} skipped");
}

/// Read the ratchet list (missing file = empty list).
fn read_passing(path: &Path) -> Result<BTreeSet<String>> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(str::to_string)
            .collect()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeSet::new()),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// How the current run compares with the committed ratchet list.
#[derive(Debug, Default, PartialEq, Eq)]
struct RatchetDiff {
    /// Listed, ran, and did not pass.
    regressed: Vec<String>,
    /// Listed but no longer in the corpus (only judged on unfiltered runs).
    missing: Vec<String>,
    /// Passed but not listed yet.
    new: Vec<String>,
    /// The list `--update` would write.
    updated: BTreeSet<String>,
}

fn ratchet_diff(
    listed: &BTreeSet<String>,
    ran: &BTreeSet<&str>,
    passing: &BTreeSet<String>,
    filtered: bool,
) -> RatchetDiff {
    let regressed = listed
        .iter()
        .filter(|n| ran.contains(n.as_str()) && !passing.contains(*n))
        .cloned()
        .collect();
    let missing = if filtered {
        Vec::new()
    } else {
        listed
            .iter()
            .filter(|n| !ran.contains(n.as_str()))
            .cloned()
            .collect()
    };
    let new = passing
        .iter()
        .filter(|n| !listed.contains(*n))
        .cloned()
        .collect();
    // Entries outside a --filter selection are kept as they were.
    let mut updated: BTreeSet<String> = if filtered {
        listed
            .iter()
            .filter(|n| !ran.contains(n.as_str()))
            .cloned()
            .collect()
    } else {
        BTreeSet::new()
    };
    updated.extend(passing.iter().cloned());
    RatchetDiff {
        regressed,
        missing,
        new,
        updated,
    }
}

fn ratchet(cases: &[Case], outcomes: &[Outcome], args: &VerifyArgs) -> Result<()> {
    let path = paths::verify_passing_list();
    let listed = read_passing(&path)?;
    let ran: BTreeSet<&str> = cases.iter().map(|c| c.name.as_str()).collect();
    let passing: BTreeSet<String> = cases
        .iter()
        .zip(outcomes)
        .filter(|(_, o)| **o == Outcome::Pass)
        .map(|(c, _)| c.name.clone())
        .collect();
    let diff = ratchet_diff(&listed, &ran, &passing, args.filter.is_some());
    if args.update {
        let mut text = String::new();
        for name in &diff.updated {
            text.push_str(name);
            text.push('\n');
        }
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        println!(
            "verify: wrote {} ({} cases)",
            path.display(),
            diff.updated.len()
        );
        return Ok(());
    }
    if !diff.new.is_empty() {
        println!(
            "verify: {} newly passing cases not in {}:",
            diff.new.len(),
            path.display()
        );
        for name in &diff.new {
            println!("  {name}");
        }
        println!("  add them with: cargo xtask verify --update");
    }
    for name in &diff.missing {
        println!("MISSING {name} (listed but not in the corpus)");
    }
    for name in &diff.regressed {
        println!("REGRESSION {name}");
    }
    if !diff.regressed.is_empty() || !diff.missing.is_empty() {
        bail!(
            "verify: {} listed case(s) in {} no longer pass ({} regressed, {} missing); fix them or, if intended, run `cargo xtask verify --update`",
            diff.regressed.len() + diff.missing.len(),
            path.display(),
            diff.regressed.len(),
            diff.missing.len()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn ratchet_detects_regressions_and_new_passes() {
        let listed = set(&["a", "b", "gone"]);
        let ran: BTreeSet<&str> = ["a", "b", "c"].into_iter().collect();
        let passing = set(&["a", "c"]);
        let d = ratchet_diff(&listed, &ran, &passing, false);
        assert_eq!(d.regressed, vec!["b".to_string()]);
        assert_eq!(d.missing, vec!["gone".to_string()]);
        assert_eq!(d.new, vec!["c".to_string()]);
        assert_eq!(d.updated, set(&["a", "c"]));
    }

    #[test]
    fn filtered_update_keeps_unselected_entries() {
        let listed = set(&["a", "x"]);
        let ran: BTreeSet<&str> = ["a"].into_iter().collect();
        let d = ratchet_diff(&listed, &ran, &set(&[]), true);
        assert_eq!(d.regressed, vec!["a".to_string()]);
        assert!(d.missing.is_empty());
        assert_eq!(d.updated, set(&["x"]));
    }

    #[test]
    fn judge_reports_first_failing_check() {
        let f = |y: &str| checks::Filter::from_yaml(&serde_yaml::from_str(y).unwrap()).unwrap();
        let plan = RunPlan {
            pcap: PathBuf::new(),
            rules: None,
            filters: vec![
                f("count: 1\nmatch: {event_type: alert, alert.signature_id: 1}"),
                f("count: 0\nmatch: {event_type: alert, alert.signature_id: 2}"),
            ],
        };
        let ok = vec![serde_json::json!({"event_type":"alert","alert":{"signature_id":1}})];
        assert_eq!(judge(&plan, &ok), Outcome::Pass);
        let bad = vec![serde_json::json!({"event_type":"alert","alert":{"signature_id":2}})];
        let Outcome::Fail(why) = judge(&plan, &bad) else {
            panic!("expected failure")
        };
        assert!(why.starts_with("check 1/2"), "{why}");
        assert!(why.contains("and 1 more"), "{why}");
    }
}
