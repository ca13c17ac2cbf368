//! `cargo xtask bench`: the sensor against Suricata on the same large capture and rules.
//!
//! 1. Builds (once, cached under `target/bench/`, keyed by [`VERSION`] and the size) a mixed
//!    capture: the generator's own traffic (`gen.rs`: DNS, HTTP, TLS, scans, other; a
//!    heavy-tailed size mix) followed by the real captures of `../shared/corpus/pcaps/`
//!    replayed several times, each pass with its addresses shifted (`rewrite.rs`, checksums
//!    kept valid) so that every pass adds distinct flows. Also a one-packet capture (to time
//!    each tool's start-up, rule loading included), a capture of 64-byte frames, and, unless
//!    `--no-10x`, a capture ten times larger for the memory check.
//! 2. Runs `sensor replay --workers 1` and `suricata -r FILE -S RULES --runmode single -k none`
//!    with the ET Open rules of `../shared/corpus/rules/et-open-suricata-5.0/` (concatenated
//!    into one file for Suricata, whose `-S` takes one file), each `--runs` times; takes the
//!    median wall time, subtracts the median start-up, and prints Gbit/s, Mpps, peak RSS
//!    (GNU time), rules loaded, alerts and the per-sid alert differences.
//!
//! Reading the figures:
//! * Rates are computed from CPU time (user + system, GNU time) minus the start-up's, because
//!   on a shared 2-core box wall time mostly measures the neighbours; wall rates are printed
//!   alongside. A rate is `n/a` when the run is not clearly longer than the start-up (Suricata
//!   needs ~20 s of CPU to load all of ET Open, so `--quick` cannot measure it).
//! * `suricata-same-rules` runs Suricata with only the rules the sensor loads (from `sensor
//!   rules check --json`): the like-for-like detection load and the alert comparison that
//!   should agree. Full Suricata also parses HTTP/DNS/TLS and logs them; the sensor does not
//!   yet.
//! * Peak RSS grows with the flow table until it reaches its capacity (65,536 flows per
//!   worker by default), then stays flat: compare the 10x run's flow counters (evictions).
//!
//! These are figures, not a test: nothing here fails on a slow result.

mod gen;
mod pcapio;
mod rewrite;
mod run;

use crate::{install, paths, proc};
use anyhow::{bail, Context, Result};
use pcapio::{read_capture, PcapOut, Record};
use run::{measure, median, read_alerts, Alerts, Measured};
use serde_json::{json, Value as Json};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Bumped whenever the capture builder's output changes, so stale caches are rebuilt.
const VERSION: &str = "v1";
/// Start of the generated traffic: 2023-11-14T22:13:20Z.
const START_MICROS: u64 = 1_700_000_000 * 1_000_000;

/// Options of `cargo xtask bench`.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Small capture, one run each: a smoke test of the whole bench.
    #[arg(long)]
    quick: bool,
    /// Multiply the capture size (default: about 256 MiB generated + 2 corpus passes of about 85 MB, 2M 64-byte frames).
    #[arg(long, default_value_t = 1.0)]
    scale: f64,
    /// Timed runs per tool and capture (the median is reported).
    #[arg(long)]
    runs: Option<usize>,
    /// Only run the sensor.
    #[arg(long)]
    no_suricata: bool,
    /// Skip the run on the ten times larger capture.
    #[arg(long)]
    no_10x: bool,
    /// Use this sensor binary instead of building `target/release/sensor`.
    #[arg(long)]
    sensor: Option<PathBuf>,
}

/// Sizes of one bench configuration.
#[derive(Debug, Clone, Copy)]
struct Size {
    gen_bytes: u64,
    passes: u32,
    small_packets: u64,
}

impl Size {
    fn name(&self) -> String {
        format!("{VERSION}-g{}m-p{}", self.gen_bytes >> 20, self.passes)
    }
}

fn corpus_root() -> PathBuf {
    paths::workspace_root()
        .join("..")
        .join("shared")
        .join("corpus")
}

fn et_open_dir() -> PathBuf {
    corpus_root().join("rules").join("et-open-suricata-5.0")
}

/// Every capture file of the corpus, sorted, read once (frames already Ethernet).
fn corpus_captures() -> Result<Vec<(PathBuf, Vec<Record>)>> {
    let root = corpus_root().join("pcaps");
    let mut files = Vec::new();
    let mut dirs = vec![root.clone()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).with_context(|| format!("reading {}", d.display()))? {
            let p = e?.path();
            if p.is_dir() {
                dirs.push(p);
            } else {
                files.push(p);
            }
        }
    }
    files.sort();
    let mut out = Vec::new();
    for p in files {
        // Not every file is a capture (READMEs): those are skipped.
        if let Ok(records) = read_capture(&p) {
            if !records.is_empty() {
                out.push((p, records));
            }
        }
    }
    if out.is_empty() {
        bail!("no capture files under {}", root.display());
    }
    Ok(out)
}

/// What a built capture holds (stored next to it as JSON).
fn build_mixed(path: &Path, size: Size) -> Result<Json> {
    let meta_path = path.with_extension("json");
    if let (true, Ok(text)) = (path.is_file(), std::fs::read_to_string(&meta_path)) {
        if let Ok(meta) = serde_json::from_str::<Json>(&text) {
            eprintln!("xtask: bench: using cached {}", path.display());
            return Ok(meta);
        }
    }
    eprintln!("xtask: bench: building {} ...", path.display());
    let tmp = path.with_extension("partial");
    let mut out = PcapOut::create(&tmp)?;
    let (g, mut clock) = gen::generate(&mut out, size.gen_bytes, 1, START_MICROS)?;
    let corpus = corpus_captures()?;
    let corpus_packets_per_pass: usize = corpus.iter().map(|(_, r)| r.len()).sum();
    for pass in 0..size.passes {
        let shift = u8::try_from(pass % 256).unwrap_or(0);
        for (_, records) in &corpus {
            let first = records.first().map_or(0, |r| r.ts_micros);
            let base = clock + 1_000;
            for r in records {
                // Keep each file's own timing, moved to follow what came before.
                let ts = base + r.ts_micros.saturating_sub(first);
                let mut f = r.data.clone();
                rewrite::shift_frame(&mut f, shift);
                out.push(ts, &f)?;
                clock = clock.max(ts);
            }
        }
    }
    let meta = json!({
        "version": VERSION,
        "packets": out.packets,
        "bytes": out.bytes,
        "generated": {"flows": g.flows, "packets": g.packets, "bytes": g.bytes},
        "corpus": {"files": corpus.len(), "packets_per_pass": corpus_packets_per_pass, "passes": size.passes},
    });
    out.finish()?;
    std::fs::rename(&tmp, path)?;
    std::fs::write(&meta_path, serde_json::to_string_pretty(&meta)?)?;
    Ok(meta)
}

fn build_small(path: &Path, packets: u64) -> Result<Json> {
    let meta_path = path.with_extension("json");
    if let (true, Ok(text)) = (path.is_file(), std::fs::read_to_string(&meta_path)) {
        if let Ok(meta) = serde_json::from_str::<Json>(&text) {
            return Ok(meta);
        }
    }
    eprintln!("xtask: bench: building {} ...", path.display());
    let tmp = path.with_extension("partial");
    let mut out = PcapOut::create(&tmp)?;
    gen::generate_small(&mut out, packets, START_MICROS)?;
    let meta = json!({"version": VERSION, "packets": out.packets, "bytes": out.bytes});
    out.finish()?;
    std::fs::rename(&tmp, path)?;
    std::fs::write(&meta_path, serde_json::to_string_pretty(&meta)?)?;
    Ok(meta)
}

/// The first frame of `from`, alone: the start-up capture.
fn build_one(path: &Path) -> Result<()> {
    let mut out = PcapOut::create(path)?;
    let mut r = gen::Rng::new(3);
    let _ = r.next();
    let f = crate::traffic::frames::frame(
        crate::traffic::frames::Encap::Plain,
        &crate::traffic::frames::Host::new(1, "10.0.0.1")?,
        &crate::traffic::frames::Host::new(2, "10.0.0.53")?,
        64,
        crate::traffic::frames::L4::Udp {
            sport: 40_000,
            dport: 53,
            payload: b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x01a\x00\x00\x01\x00\x01",
        },
    )?;
    out.push(START_MICROS, &f)?;
    out.finish()
}

/// One tool's way of being run.
trait Tool {
    fn name(&self) -> &'static str;
    /// The command for one replay of `pcap`, writing EVE to `eve` (under `dir`).
    fn command(&self, pcap: &Path, dir: &Path) -> Command;
    /// Where that run's EVE file is.
    fn eve(&self, dir: &Path) -> PathBuf;
}

struct Sensor {
    bin: PathBuf,
    rules: PathBuf,
}

impl Tool for Sensor {
    fn name(&self) -> &'static str {
        "sensor"
    }
    fn command(&self, pcap: &Path, dir: &Path) -> Command {
        let mut c = Command::new(&self.bin);
        c.args([
            "replay",
            "--workers",
            "1",
            "--sensor-id",
            "bench",
            "--rules",
        ])
        .arg(&self.rules)
        .arg("--eve")
        .arg(self.eve(dir))
        .arg(pcap);
        c
    }
    fn eve(&self, dir: &Path) -> PathBuf {
        dir.join("eve.json")
    }
}

struct Suricata {
    /// `suricata` (every ET Open rule) or `suricata-same-rules` (the sensor's subset).
    label: &'static str,
    rules_file: PathBuf,
    classification: PathBuf,
}

impl Tool for Suricata {
    fn name(&self) -> &'static str {
        self.label
    }
    fn command(&self, pcap: &Path, dir: &Path) -> Command {
        let mut c = Command::new("suricata");
        c.arg("-r")
            .arg(pcap)
            .arg("-S")
            .arg(&self.rules_file)
            .args(["--runmode", "single", "-k", "none", "-l"])
            .arg(dir)
            .arg("--set")
            .arg(format!(
                "classification-file={}",
                self.classification.display()
            ));
        c
    }
    fn eve(&self, dir: &Path) -> PathBuf {
        dir.join("eve.json")
    }
}

/// Median wall and CPU time of a set of runs.
#[derive(Debug, Clone, Copy, Default)]
struct Times {
    wall: Duration,
    cpu: Duration,
}

impl Times {
    fn of(ms: &[Measured]) -> Times {
        Times {
            wall: median(ms.iter().map(|m| m.wall).collect()),
            cpu: median(ms.iter().map(|m| m.cpu).collect()),
        }
    }
}

/// Measured figures of one tool on one capture.
#[derive(Debug, Clone)]
struct Figures {
    /// Median times of the runs.
    wall: Times,
    /// Median start-up times (one-packet capture).
    startup: Times,
    rss_kib: u64,
    alerts: Alerts,
    packets: u64,
    bytes: u64,
}

impl Figures {
    /// Processing time: CPU time (user + system) minus the start-up's, or `None` when the
    /// difference is lost in the noise (under 5% of the start-up, or negative).
    fn net(&self) -> Option<f64> {
        let (all, start) = (self.wall.cpu.as_secs_f64(), self.startup.cpu.as_secs_f64());
        let net = all - start;
        (net > 0.0 && net > 0.05 * start).then_some(net)
    }
    /// The same from wall-clock times.
    fn net_wall(&self) -> Option<f64> {
        let (all, start) = (
            self.wall.wall.as_secs_f64(),
            self.startup.wall.as_secs_f64(),
        );
        let net = all - start;
        (net > 0.0 && net > 0.05 * start).then_some(net)
    }
    fn gbps(&self) -> Option<f64> {
        self.net().map(|n| self.bytes as f64 * 8.0 / n / 1e9)
    }
    fn mpps(&self) -> Option<f64> {
        self.net().map(|n| self.packets as f64 / n / 1e6)
    }
    fn gbps_wall(&self) -> Option<f64> {
        self.net_wall().map(|n| self.bytes as f64 * 8.0 / n / 1e9)
    }
}

fn run_dir(name: &str) -> Result<PathBuf> {
    let d = paths::target_dir().join("bench").join("runs").join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).with_context(|| format!("creating {}", d.display()))?;
    Ok(d)
}

/// Runs `tool` `runs` times on `pcap`; the alerts of the last run are kept.
fn time_runs(
    tool: &dyn Tool,
    pcap: &Path,
    label: &str,
    runs: usize,
) -> Result<(Vec<Measured>, Alerts)> {
    let mut all = Vec::new();
    let mut alerts = Alerts::default();
    for i in 0..runs.max(1) {
        let dir = run_dir(&format!("{}-{label}", tool.name()))?;
        let cmd = tool.command(pcap, &dir);
        eprintln!("$ {}", proc::display(&cmd));
        let m = measure(&cmd, &dir.join("log.txt"))?;
        eprintln!(
            "xtask: bench: {} {label} run {}: {:.2} s wall, {:.2} s CPU, peak RSS {} MiB",
            tool.name(),
            i + 1,
            m.wall.as_secs_f64(),
            m.cpu.as_secs_f64(),
            m.rss_kib / 1024
        );
        if i + 1 == runs.max(1) {
            alerts = read_alerts(&tool.eve(&dir))?;
            // The sensor's own summary (flows created, timed out, evicted) says why RSS is
            // what it is.
            let log = std::fs::read_to_string(dir.join("log.txt")).unwrap_or_default();
            if let Some(line) = log.lines().rev().find(|l| l.starts_with("replay:")) {
                println!("xtask: bench: {} {label}: {line}", tool.name());
            }
        }
        all.push(m);
    }
    Ok((all, alerts))
}

fn figures(
    tool: &dyn Tool,
    pcap: &Path,
    meta: &Json,
    label: &str,
    runs: usize,
    startup: Times,
) -> Result<Figures> {
    let (ms, alerts) = time_runs(tool, pcap, label, runs)?;
    Ok(Figures {
        wall: Times::of(&ms),
        startup,
        rss_kib: ms.iter().map(|m| m.rss_kib).max().unwrap_or(0),
        alerts,
        packets: meta["packets"].as_u64().unwrap_or(0),
        bytes: meta["bytes"].as_u64().unwrap_or(0),
    })
}

fn startup(tool: &dyn Tool, one: &Path, runs: usize) -> Result<(Times, u64)> {
    let (ms, _) = time_runs(tool, one, "startup", runs)?;
    Ok((
        Times::of(&ms),
        ms.iter().map(|m| m.rss_kib).max().unwrap_or(0),
    ))
}

/// Rules the sensor loads from `rules`: (loaded, skipped as unsupported, the text of each
/// loaded rule, read back from its `file:line` location).
fn sensor_rules_loaded(bin: &Path, rules: &Path) -> Result<(u64, u64, Vec<String>)> {
    let out = Command::new(bin)
        .args(["rules", "check", "--json", "--rules"])
        .arg(rules)
        .output()
        .context("running sensor rules check")?;
    let v: Json =
        serde_json::from_slice(&out.stdout).context("sensor rules check --json output")?;
    // Older sensors print `loaded` and an `unsupported` map; newer ones `rules_loaded`,
    // `rules_inactive` (loaded, but for a protocol not parsed yet) and `rules_skipped`.
    let unsupported: u64 = v["unsupported"]
        .as_object()
        .map(|m| m.values().filter_map(Json::as_u64).sum())
        .unwrap_or(0)
        .max(v["rules_skipped"].as_u64().unwrap_or(0) + v["rules_inactive"].as_u64().unwrap_or(0));
    let loaded = v["rules_loaded"]
        .as_u64()
        .or_else(|| v["loaded"].as_u64())
        .unwrap_or(0);
    let mut files: std::collections::HashMap<String, Vec<String>> = Default::default();
    let mut texts = Vec::new();
    for r in v["rules"].as_array().map(Vec::as_slice).unwrap_or_default() {
        if !r["skipped"].is_null() || !r["inactive"].is_null() {
            continue;
        }
        let Some((file, line)) = r["location"].as_str().and_then(|l| l.rsplit_once(':')) else {
            continue;
        };
        let lines = files.entry(file.to_string()).or_insert_with(|| {
            std::fs::read_to_string(file)
                .unwrap_or_default()
                .lines()
                .map(str::to_string)
                .collect()
        });
        if let Some(text) = line
            .parse::<usize>()
            .ok()
            .and_then(|n| lines.get(n.wrapping_sub(1)))
        {
            texts.push(text.clone());
        }
    }
    Ok((loaded, unsupported, texts))
}

/// "N rules successfully loaded, M rules failed" from Suricata's log of a run.
fn suricata_rules_loaded(dir: &Path) -> String {
    let text = std::fs::read_to_string(dir.join("log.txt")).unwrap_or_default()
        + &std::fs::read_to_string(dir.join("suricata.log")).unwrap_or_default();
    text.lines()
        .find(|l| l.contains("rules successfully loaded"))
        .map(|l| {
            let tail = l.split("processed.").nth(1).unwrap_or(l);
            tail.trim().to_string()
        })
        .unwrap_or_else(|| "unknown".to_string())
}

fn concat_rules(dir: &Path, out: &Path) -> Result<()> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "rules"))
        .collect();
    files.sort();
    let mut text = String::new();
    for f in files {
        text.push_str(
            &std::fs::read_to_string(&f).with_context(|| format!("reading {}", f.display()))?,
        );
        text.push('\n');
    }
    std::fs::write(out, text).with_context(|| format!("writing {}", out.display()))
}

fn mib(kib: u64) -> String {
    format!("{:.0} MiB", kib as f64 / 1024.0)
}

fn num(v: Option<f64>) -> String {
    v.map_or_else(|| "n/a".to_string(), |x| format!("{x:.3}"))
}

fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}x", a / b),
        _ => "n/a".to_string(),
    }
}

fn print_row(name: &str, f: &Figures) {
    println!(
        "  {name:<19} {:>7} Gbit/s {:>7} Mpps (CPU time)  {:>7} Gbit/s (wall)  CPU {:>7.2} s - {:>6.2} s start-up  wall {:>7.2} s - {:>6.2} s  peak RSS {:>8}  alerts {}",
        num(f.gbps()),
        num(f.mpps()),
        num(f.gbps_wall()),
        f.wall.cpu.as_secs_f64(),
        f.startup.cpu.as_secs_f64(),
        f.wall.wall.as_secs_f64(),
        f.startup.wall.as_secs_f64(),
        mib(f.rss_kib),
        f.alerts.total()
    );
}

fn print_alert_diff(ours: &Alerts, theirs: &Alerts) {
    let mut sids: Vec<u64> = ours
        .by_sid
        .keys()
        .chain(theirs.by_sid.keys())
        .copied()
        .collect();
    sids.sort_unstable();
    sids.dedup();
    let same = sids
        .iter()
        .filter(|s| ours.by_sid.get(s).map(|x| x.0) == theirs.by_sid.get(s).map(|x| x.0))
        .count();
    let mut diffs: Vec<(u64, u64, u64, String)> = sids
        .iter()
        .map(|s| {
            let o = ours.by_sid.get(s);
            let t = theirs.by_sid.get(s);
            let sig = o.or(t).map(|x| x.1.clone()).unwrap_or_default();
            (*s, o.map_or(0, |x| x.0), t.map_or(0, |x| x.0), sig)
        })
        .filter(|(_, o, t, _)| o != t)
        .collect();
    diffs.sort_by_key(|(s, o, t, _)| (std::cmp::Reverse(o.abs_diff(*t)), *s));
    println!(
        "  alerting sids: {} in all, {same} with equal counts, {} differ; top differences:",
        sids.len(),
        diffs.len()
    );
    println!(
        "    {:>10} {:>9} {:>9}  signature",
        "sid", "sensor", "suricata"
    );
    for (s, o, t, sig) in diffs.iter().take(10) {
        let sig: String = sig.chars().take(70).collect();
        println!("    {s:>10} {o:>9} {t:>9}  {sig}");
    }
}

/// `cargo xtask bench`.
pub fn run(args: &BenchArgs) -> Result<()> {
    let scale = if args.quick {
        0.05
    } else {
        args.scale.max(0.01)
    };
    let size = Size {
        gen_bytes: (256.0 * scale * (1u64 << 20) as f64) as u64,
        passes: ((2.0 * scale).ceil() as u32).clamp(1, 255),
        small_packets: (2_000_000.0 * scale) as u64,
    };
    let runs = args.runs.unwrap_or(if args.quick { 1 } else { 3 });
    let root = paths::workspace_root();
    let rules_dir = et_open_dir();
    if !rules_dir.is_dir() {
        bail!("{} is missing (the shared corpus)", rules_dir.display());
    }
    install::ensure(&[install::LIBPCAP_DEV], &[])?;
    if !args.no_suricata {
        install::ensure_suricata()?;
    }
    let sensor_bin = match &args.sensor {
        Some(bin) => bin.clone(),
        None => {
            proc::run(
                Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string()))
                    .args(["build", "--release", "-p", "sensor"])
                    .current_dir(&root),
            )
            .context("building the sensor (release)")?;
            paths::sensor_binary("release")
        }
    };
    let cache = paths::target_dir().join("bench");
    std::fs::create_dir_all(&cache)?;

    let mixed = cache.join(format!("mixed-{}.pcap", size.name()));
    let meta = build_mixed(&mixed, size)?;
    let small = cache.join(format!("small64-{VERSION}-{}.pcap", size.small_packets));
    let small_meta = build_small(&small, size.small_packets)?;
    let one = cache.join(format!("one-{VERSION}.pcap"));
    build_one(&one)?;
    let rules_file = cache.join("et-open.rules");
    concat_rules(&rules_dir, &rules_file)?;

    let sensor = Sensor {
        bin: sensor_bin,
        rules: rules_dir.clone(),
    };
    let suricata = Suricata {
        label: "suricata",
        rules_file,
        classification: rules_dir.join("classification.config"),
    };
    // Suricata again with only the rules the sensor loads: the like-for-like detection load.
    let (ours_loaded, ours_unsupported, subset) = sensor_rules_loaded(&sensor.bin, &rules_dir)?;
    let subset_file = cache.join("et-open-sensor-subset.rules");
    std::fs::write(&subset_file, subset.join("\n") + "\n")?;
    let suricata_same = Suricata {
        label: "suricata-same-rules",
        rules_file: subset_file,
        classification: rules_dir.join("classification.config"),
    };
    let mut tools: Vec<&dyn Tool> = vec![&sensor];
    if !args.no_suricata {
        tools.push(&suricata);
        tools.push(&suricata_same);
    }

    let mut main_figs = Vec::new();
    let mut small_figs = Vec::new();
    let mut startup_rss = Vec::new();
    for t in &tools {
        let (st, st_rss) = startup(*t, &one, runs)?;
        startup_rss.push(st_rss);
        main_figs.push(figures(*t, &mixed, &meta, "mixed", runs, st)?);
        small_figs.push(figures(*t, &small, &small_meta, "small64", runs, st)?);
    }
    let suricata_loaded = if args.no_suricata {
        String::new()
    } else {
        suricata_rules_loaded(&paths::target_dir().join("bench/runs/suricata-small64"))
    };
    let same_loaded = if args.no_suricata {
        String::new()
    } else {
        suricata_rules_loaded(&paths::target_dir().join("bench/runs/suricata-same-rules-small64"))
    };

    let ten = if args.no_10x {
        None
    } else {
        let big = Size {
            gen_bytes: size.gen_bytes * 10,
            passes: (size.passes * 10).min(255),
            small_packets: 0,
        };
        let path = cache.join(format!("mixed-{}.pcap", big.name()));
        let big_meta = build_mixed(&path, big)?;
        let f = figures(
            &sensor,
            &path,
            &big_meta,
            "mixed10x",
            1,
            main_figs[0].startup,
        )?;
        Some((big_meta, f))
    };

    println!();
    println!(
        "== cargo xtask bench ({}) ==",
        if args.quick { "quick" } else { "default size" }
    );
    println!(
        "capture {}: {} packets, {:.1} MB; generated {} flows ({} packets), corpus {} files x {} passes",
        mixed.display(),
        meta["packets"],
        meta["bytes"].as_f64().unwrap_or(0.0) / 1e6,
        meta["generated"]["flows"],
        meta["generated"]["packets"],
        meta["corpus"]["files"],
        meta["corpus"]["passes"],
    );
    println!(
        "rules: ET Open ({}): sensor loaded {ours_loaded} ({ours_unsupported} skipped or inactive); suricata: {}; suricata-same-rules (the sensor's {} rules): {}",
        rules_dir.display(),
        if args.no_suricata { "not run" } else { &suricata_loaded },
        subset.len(),
        if args.no_suricata { "not run" } else { &same_loaded },
    );
    println!("runs: {runs} per tool and capture; rates use the median CPU time (user+sys) minus the median start-up's (one-packet capture), wall-clock rates alongside (this machine is shared: wall times are noisy)");
    println!("\nmixed capture:");
    for (t, f) in tools.iter().zip(&main_figs) {
        print_row(t.name(), f);
    }
    if let [ours, rest @ ..] = main_figs.as_slice() {
        for (t, theirs) in tools.iter().skip(1).zip(rest) {
            println!(
                "  ratio sensor/{}: {} throughput (CPU time), {} (wall), {:.2}x peak RSS",
                t.name(),
                ratio(ours.gbps(), theirs.gbps()),
                ratio(ours.gbps_wall(), theirs.gbps_wall()),
                ours.rss_kib as f64 / theirs.rss_kib.max(1) as f64
            );
        }
        for (t, theirs) in tools.iter().skip(1).zip(rest) {
            println!("  alerts, sensor vs {}:", t.name());
            print_alert_diff(&ours.alerts, &theirs.alerts);
        }
    }
    println!("\n64-byte frames ({} packets):", small_meta["packets"]);
    for (t, f) in tools.iter().zip(&small_figs) {
        print_row(t.name(), f);
    }
    if let [ours, rest @ ..] = small_figs.as_slice() {
        for (t, theirs) in tools.iter().skip(1).zip(rest) {
            println!(
                "  ratio sensor/{}: {} Mpps",
                t.name(),
                ratio(ours.mpps(), theirs.mpps())
            );
        }
    }
    println!("\nstart-up (one packet, rules loaded): ");
    for ((t, f), rss) in tools.iter().zip(&main_figs).zip(&startup_rss) {
        println!(
            "  {:<19} {:.2} s wall, {:.2} s CPU, peak RSS {}",
            t.name(),
            f.startup.wall.as_secs_f64(),
            f.startup.cpu.as_secs_f64(),
            mib(*rss)
        );
    }
    if let Some((big_meta, f)) = ten {
        println!(
            "\nsensor on a capture ten times larger ({} packets, {:.1} GB, {} generated flows):",
            big_meta["packets"],
            big_meta["bytes"].as_f64().unwrap_or(0.0) / 1e9,
            big_meta["generated"]["flows"]
        );
        print_row("sensor", &f);
        println!(
            "  peak RSS {} at 1x, {} at 10x ({:+.1}%)",
            mib(main_figs[0].rss_kib),
            mib(f.rss_kib),
            (f.rss_kib as f64 / main_figs[0].rss_kib.max(1) as f64 - 1.0) * 100.0
        );
    }
    Ok(())
}
