//! `sensor run`: the long-running daemon on live interfaces.
//!
//! Start-up order matters for privileges: the configuration and rules are read, every capture
//! socket is opened (that needs CAP_NET_RAW), then the process becomes the configured user
//! keeping only CAP_NET_RAW, and only then are the EVE file, the uplink spool and the worker
//! threads created, so nothing the daemon writes is owned by root and no thread ever runs
//! with more than it needs. Running as root without a user to become is refused unless the
//! configuration (or `--allow-root`) says otherwise.
//!
//! Each worker thread owns one capture source (a socket in the interface's fanout group) and
//! one [`Worker`]; workers share nothing on the packet path. Events go straight to the uplink
//! with [`uplink::EventSender::try_send`] (a live wire cannot wait: a full channel drops and
//! counts) and, batched per capture block, to an EVE writer thread through a bounded channel
//! (full: dropped and counted too). Counters are published by each worker about twice a
//! second under a lock of its own, which only the main thread also takes.
//!
//! The main thread receives signals synchronously (they are blocked in every thread) and runs
//! the periodic jobs: EVE `stats` records with the kernel's packet and drop counts, the
//! one-line health log, and the systemd watchdog. SIGHUP and [`Control::Reload`] go through
//! one entry point, [`Daemon::reload`]: the new rule set is compiled beside the running one
//! (keeping flowbit ids), and each worker swaps it in before its next packet; any error keeps the
//! old set. SIGTERM/SIGINT stop the workers, which end their flows (flushing streams and
//! writing flow records), and the daemon waits for them, the EVE writer and the uplink within
//! `sensor.shutdown_timeout`.
//!
//! Remote rule updates: with a destination that has `commands = true`, the uplink hands signed
//! rule bundles (from `cirt/<id>/cmd/rules`, usually retained) to the main thread, which
//! checks them against `rules.bundle_keys` ([`uplink::bundle::verify`]), unpacks the files into
//! a fresh directory under `rules.bundle_dir` (fsynced), and reloads from that directory through
//! the same [`Daemon::reload`] (so a bundle whose rules do not compile keeps the running set).
//! Every bundle gets a result on `cirt/<id>/cmd/result`. A retained bundle arrives again on
//! every reconnect: one whose version is already running is answered without a reload. The
//! workers never wait for any of this; the uplink's command queue is bounded
//! (`commands_refused` counts what did not fit), and the main thread takes at most that many
//! per tick. A SIGHUP goes back to the configuration's rule paths until the next bundle.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use signatures::{LoadReport, RuleSet, Scratch};
use tracing::{error, info, warn};

use super::output::EventSink;
use super::stats::WorkerStats;
use super::worker::{Worker, WorkerConfig};
use crate::capture::live::{CaptureCounters, LiveSource};
use crate::capture::Timestamp;
use crate::config::{compile_filter, Config, LogFormat};
use crate::sys;

/// How `sensor run` was started.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Configuration file.
    pub config: PathBuf,
    /// Log JSON lines whatever the configuration says.
    pub log_json: bool,
    /// Allow running as root without a user to become.
    pub allow_root: bool,
}

/// What a reload reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReloadSource {
    /// The configuration file again (SIGHUP): its rules and the settings that can change live.
    ConfigFile,
    /// These rule paths, with the running variables (e.g. a rule bundle from the uplink).
    RulePaths(Vec<PathBuf>),
}

/// A request to the running daemon, e.g. from the uplink's command channel.
#[derive(Debug)]
pub enum Control {
    /// Reload; the outcome (a summary or the error) is sent back if a channel is given.
    Reload(ReloadSource, Option<SyncSender<Result<String, String>>>),
    /// Stop as on SIGTERM.
    Shutdown,
}

/// A compiled rule set and the threshold table its workers share.
struct RuleGeneration {
    rules: Arc<RuleSet>,
    thresholds: Scratch,
}

/// The current rule set, swapped by the main thread and picked up by workers between packets.
struct RuleSlot {
    generation: AtomicU64,
    current: Mutex<Arc<RuleGeneration>>,
}

/// Counters a worker publishes for the main thread.
#[derive(Debug, Default, Clone, Copy)]
struct Published {
    stats: WorkerStats,
    kernel: CaptureCounters,
}

struct WorkerShared {
    published: Mutex<Published>,
    events_dropped: AtomicU64,
}

/// Serialised events of one worker batch, handed to the EVE writer in one piece.
struct LiveSink {
    uplink: Option<uplink::EventSender>,
    eve: Option<SyncSender<Vec<u8>>>,
    buf: Vec<u8>,
    records: u64,
    shared: Arc<WorkerShared>,
}

impl EventSink for LiveSink {
    fn emit(&mut self, event_type: &'static str, record: &[u8]) -> std::io::Result<()> {
        if self.eve.is_some() {
            self.buf.extend_from_slice(record);
            self.records += 1;
        }
        if let Some(up) = &self.uplink {
            let body = record.strip_suffix(b"\n").unwrap_or(record);
            if !up.try_send(event_type, body.to_vec()) {
                self.shared.events_dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
        Ok(())
    }
}

impl LiveSink {
    /// Hands the batch's EVE records to the writer without waiting.
    fn flush(&mut self) {
        let Some(tx) = &self.eve else { return };
        if self.buf.is_empty() {
            return;
        }
        let batch = std::mem::replace(&mut self.buf, Vec::with_capacity(16 * 1024));
        match tx.try_send(batch) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.shared
                    .events_dropped
                    .fetch_add(self.records, Ordering::Relaxed);
            }
        }
        self.records = 0;
    }
}

/// Wall-clock time as a capture timestamp.
fn now_ts() -> Timestamp {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    Timestamp {
        secs: i64::try_from(d.as_secs()).unwrap_or(0),
        usecs: d.subsec_micros(),
    }
}

/// Compiles the configured rules; with `previous`, flowbit/flowint ids are kept.
pub fn build_rules(
    cfg: &Config,
    paths: &[PathBuf],
    previous: Option<&RuleSet>,
) -> Result<(RuleSet, LoadReport), signatures::LoadError> {
    super::rules::build_rules(cfg.rule_vars(), paths, previous)
}

fn log_report(report: &LoadReport, paths: &[PathBuf]) {
    for e in &report.errors {
        warn!("rule skipped: {e}");
    }
    info!(
        loaded = report.loaded,
        inactive = report.inactive,
        failed = report.errors.len(),
        unsupported = report.unsupported_total(),
        "rules loaded from {:?}",
        paths
    );
}

/// Sends a message to systemd's notification socket, if there is one.
fn sd_notify(msg: &str) {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let Ok(sock) = std::os::unix::net::UnixDatagram::unbound() else {
        return;
    };
    let bytes = path.as_encoded_bytes();
    let _ = if let Some(name) = bytes.strip_prefix(b"@") {
        use std::os::linux::net::SocketAddrExt;
        match std::os::unix::net::SocketAddr::from_abstract_name(name) {
            Ok(addr) => sock.send_to_addr(msg.as_bytes(), &addr),
            Err(e) => Err(e),
        }
    } else {
        sock.send_to(msg.as_bytes(), Path::new(&path))
    };
}

fn init_logging(format: LogFormat, level: &str) {
    let level = level
        .parse::<tracing::Level>()
        .unwrap_or(tracing::Level::INFO);
    let builder = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_target(false);
    // A second init (tests calling run twice in one process) is harmless.
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Human => builder.with_ansi(false).try_init(),
    };
}

/// One interface's worker, before its thread starts.
struct PendingWorker {
    iface: String,
    index: usize,
    source: LiveSource,
}

/// Signed rule bundles: who may sign them, where they go, which one runs.
struct Bundles {
    trusted: Vec<uplink::bundle::VerifyingKey>,
    /// Version of the bundle whose rules run now; none while the configuration's rules run.
    running: Option<String>,
    /// Directories made by this process, for unique names.
    made: u64,
}

/// Prefix of the directories a bundle is unpacked into (older ones are removed by this name).
const BUNDLE_PREFIX: &str = "bundle-";

/// The running daemon, owned by the main thread.
pub struct Daemon {
    config_path: PathBuf,
    cfg: Config,
    slot: Arc<RuleSlot>,
    control_rx: Receiver<Control>,
    rule_reloads: u64,
    rule_reload_failures: u64,
    bundles: Bundles,
}

impl std::fmt::Debug for Daemon {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Daemon")
            .field("config", &self.config_path)
            .finish()
    }
}

impl Daemon {
    /// The one reload entry point (SIGHUP, [`Control::Reload`]): compiles the new rule set
    /// beside the running one and publishes it to the workers, which switch before their
    /// next packet. Rule files that cannot be read, rules that fail to parse, or a configuration
    /// that does not check keep everything as it was. Returns a one-line summary.
    pub fn reload(&mut self, source: ReloadSource) -> Result<String, String> {
        let result = self.try_reload(source);
        match &result {
            Ok(s) => {
                self.rule_reloads += 1;
                info!("reload: {s}");
            }
            Err(e) => {
                self.rule_reload_failures += 1;
                error!("reload refused, the running rules and settings stay: {e}");
            }
        }
        result
    }

    fn try_reload(&mut self, source: ReloadSource) -> Result<String, String> {
        let from_file = source == ReloadSource::ConfigFile;
        let (new_cfg, paths) = match source {
            ReloadSource::ConfigFile => {
                let c = Config::load(&self.config_path).map_err(|e| e.to_string())?;
                let paths = c.rules.paths.clone();
                (c, paths)
            }
            ReloadSource::RulePaths(p) => (self.cfg.clone(), p),
        };
        let diff = new_cfg.live_diff(&self.cfg);
        let previous = Arc::clone(&self.current_rules());
        let (rules, report) =
            build_rules(&new_cfg, &paths, Some(&previous.rules)).map_err(|e| e.to_string())?;
        if let Some(first) = report.errors.first() {
            return Err(format!(
                "{} rule(s) do not parse, first: {first}",
                report.errors.len()
            ));
        }
        if report.loaded == 0 && !paths.is_empty() {
            return Err(format!("no rule loaded from {paths:?}"));
        }
        let generation = Arc::new(RuleGeneration {
            thresholds: rules.scratch(),
            rules: Arc::new(rules),
        });
        if let Ok(mut cur) = self.slot.current.lock() {
            *cur = generation;
        }
        self.slot.generation.fetch_add(1, Ordering::Release);
        for section in &diff.need_restart {
            warn!("reload: [{section}] changed; it takes effect at the next restart");
        }
        // Live settings: rules (done) and intervals.
        let mut applied = self.cfg.clone();
        applied.rules = new_cfg.rules.clone();
        applied.rules.paths = paths.clone();
        applied.stats = new_cfg.stats.clone();
        applied.log.health_interval = new_cfg.log.health_interval;
        // Bundle settings are read at start only.
        applied.rules.bundle_keys = self.cfg.rules.bundle_keys.clone();
        applied.rules.bundle_dir = self.cfg.rules.bundle_dir.clone();
        self.cfg = applied;
        if from_file {
            // The configuration's rules run again; the next bundle is applied whatever its
            // version.
            self.bundles.running = None;
        }
        Ok(format!(
            "{} rules active ({} inactive, {} unsupported) from {:?}",
            report.loaded,
            report.inactive,
            report.unsupported_total(),
            paths
        ))
    }

    /// Checks a rule bundle (a command payload), unpacks it and reloads from it; the result
    /// says what happened (published by the caller on `cmd/result`). Anything refused keeps
    /// the running rules.
    pub fn apply_bundle(&mut self, payload: &[u8]) -> uplink::CommandResult {
        let refused = |version: Option<String>, reason: String| {
            warn!(
                version = version.as_deref().unwrap_or(""),
                "rule bundle refused, the running rules stay: {reason}"
            );
            uplink::CommandResult {
                command: "rules".into(),
                applied: false,
                version,
                reason: Some(reason),
            }
        };
        let b = match uplink::bundle::verify(payload, &self.bundles.trusted) {
            Ok(b) => b,
            Err(e) => return refused(None, format!("bundle refused: {e}")),
        };
        if self.bundles.running.as_deref() == Some(b.version.as_str()) {
            info!(version = %b.version, "rule bundle already running; not reloaded");
            return uplink::CommandResult {
                command: "rules".into(),
                applied: true,
                version: Some(b.version),
                reason: Some("this version is already running".into()),
            };
        }
        let dir = match self.unpack(&b) {
            Ok(d) => d,
            Err(e) => return refused(Some(b.version), format!("cannot unpack: {e}")),
        };
        match self.reload(ReloadSource::RulePaths(vec![dir.clone()])) {
            Ok(summary) => {
                info!(version = %b.version, signer = %b.signer_hex(), dir = %dir.display(),
                      "rule bundle applied: {summary}");
                self.bundles.running = Some(b.version.clone());
                self.remove_old_bundles(&dir);
                uplink::CommandResult {
                    command: "rules".into(),
                    applied: true,
                    version: Some(b.version),
                    reason: None,
                }
            }
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                refused(Some(b.version), e)
            }
        }
    }

    /// Writes the bundle's files into a new directory under `rules.bundle_dir`, fsynced.
    /// Names are safe to join: [`uplink::bundle::verify`] refuses anything but flat names.
    fn unpack(&mut self, b: &uplink::bundle::VerifiedBundle) -> std::io::Result<PathBuf> {
        let base = &self.cfg.rules.bundle_dir;
        std::fs::create_dir_all(base)?;
        let label: String = b
            .version
            .chars()
            .take(64)
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let stamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis();
        self.bundles.made += 1;
        let dir = base.join(format!(
            "{BUNDLE_PREFIX}{stamp}-{}-{label}",
            self.bundles.made
        ));
        std::fs::create_dir(&dir)?;
        let written = (|| {
            for f in &b.files {
                uplink::bundle::check_name(&f.name)
                    .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
                let mut out = OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(dir.join(&f.name))?;
                out.write_all(&f.data)?;
                out.sync_all()?;
            }
            std::fs::File::open(&dir)?.sync_all()?;
            std::fs::File::open(base)?.sync_all()
        })();
        match written {
            Ok(()) => Ok(dir),
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                Err(e)
            }
        }
    }

    /// Removes the bundle directories under `rules.bundle_dir` other than `keep`.
    fn remove_old_bundles(&self, keep: &Path) {
        let Ok(entries) = std::fs::read_dir(&self.cfg.rules.bundle_dir) else {
            return;
        };
        for e in entries.flatten() {
            let path = e.path();
            let ours = e.file_name().to_string_lossy().starts_with(BUNDLE_PREFIX);
            if ours && path != keep && e.file_type().is_ok_and(|t| t.is_dir()) {
                if let Err(err) = std::fs::remove_dir_all(&path) {
                    warn!("cannot remove old rule bundle {}: {err}", path.display());
                }
            }
        }
    }

    fn current_rules(&self) -> Arc<RuleGeneration> {
        match self.slot.current.lock() {
            Ok(g) => Arc::clone(&g),
            Err(p) => Arc::clone(&p.into_inner()),
        }
    }
}

/// Runs the daemon until SIGTERM/SIGINT; the exit code says whether it stopped cleanly.
pub fn run(opts: &RunOptions) -> anyhow::Result<ExitCode> {
    let (_keep, control) = mpsc::sync_channel(1);
    run_with_control(opts, control)
}

/// [`run`], also taking [`Control`] requests (a reload with new rule paths, a stop) from
/// `control`, e.g. from the uplink's command handler; they are handled by the main thread
/// like signals, within about 200 ms.
pub fn run_with_control(opts: &RunOptions, control: Receiver<Control>) -> anyhow::Result<ExitCode> {
    let cfg = Config::load(&opts.config)?;
    let format = if opts.log_json {
        LogFormat::Json
    } else {
        cfg.log.format
    };
    init_logging(format, &cfg.log.level);
    if cfg.interfaces.is_empty() {
        bail!("{}: no [[interface]] to capture on", opts.config.display());
    }

    // Privileges first: refuse before touching anything.
    let target_user = match &cfg.sensor.user {
        Some(name) => Some(
            sys::lookup_user(name)
                .with_context(|| format!("cannot look up user {name:?}"))?
                .with_context(|| format!("sensor.user {name:?} does not exist"))?,
        ),
        None => None,
    };
    let root = sys::euid() == 0;
    if root && target_user.is_none() && !(cfg.sensor.allow_root || opts.allow_root) {
        bail!(
            "refusing to run as root: set sensor.user to an unprivileged user (the sensor keeps \
             only CAP_NET_RAW), or allow_root = true / --allow-root"
        );
    }

    // Trusted bundle keys, read while still privileged (their files may be root's).
    let takes_commands = cfg
        .uplink
        .as_ref()
        .is_some_and(|u| u.destinations.iter().any(|d| d.commands));
    let trusted = if takes_commands {
        cfg.bundle_keys().map_err(anyhow::Error::msg)?
    } else {
        Vec::new()
    };

    // Signals are blocked before any thread exists, so only the main thread receives them.
    sys::block_signals(&sys::HANDLED_SIGNALS).context("cannot block signals")?;

    let (rules, report) =
        build_rules(&cfg, &cfg.rules.paths, None).context("cannot load the rules")?;
    log_report(&report, &cfg.rules.paths);
    let generation = Arc::new(RuleGeneration {
        thresholds: rules.scratch(),
        rules: Arc::new(rules),
    });

    // Capture sockets, while still privileged.
    let mut pending = Vec::new();
    for iface in &cfg.interfaces {
        let filter = match &iface.filter {
            Some(f) => Some(compile_filter(f).map_err(anyhow::Error::msg)?),
            None => None,
        };
        for index in 0..iface.workers {
            let source = LiveSource::open(iface, filter.as_deref())
                .with_context(|| format!("cannot capture on {}", iface.name))?;
            pending.push(PendingWorker {
                iface: iface.name.clone(),
                index,
                source,
            });
        }
        info!(
            interface = %iface.name,
            backend = ?iface.backend,
            workers = iface.workers,
            filter = iface.filter.as_deref().unwrap_or(""),
            "capture opened"
        );
    }

    if let Some(user) = &target_user {
        if root {
            sys::drop_privileges(user, &[sys::CAP_NET_RAW])
                .with_context(|| format!("cannot become user {:?}", user.name))?;
            info!(user = %user.name, uid = user.uid, "privileges dropped, keeping CAP_NET_RAW");
        }
    } else if root {
        warn!("running as root (allow_root)");
    }

    let uplink = match cfg.uplink_config().map_err(anyhow::Error::msg)? {
        Some(mut ucfg) => {
            ucfg.rules_version = Some(format!("{} rules active", report.loaded));
            Some(uplink::Uplink::start_with(ucfg).context("cannot start the uplink")?)
        }
        None => None,
    };
    let commands = uplink.as_ref().and_then(|u| u.commands());
    if commands.is_some() {
        info!(
            keys = trusted.len(),
            dir = %cfg.rules.bundle_dir.display(),
            "taking signed rule bundles from the uplink"
        );
    }

    // EVE writer thread.
    let (eve_tx, eve_thread) = match &cfg.eve.path {
        Some(path) => {
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .with_context(|| format!("cannot open EVE file {}", path.display()))?;
            let (tx, rx) = mpsc::sync_channel::<Vec<u8>>(1024);
            let t = std::thread::Builder::new()
                .name("eve-writer".into())
                .spawn(move || eve_writer(file, rx))?;
            (Some(tx), Some(t))
        }
        None => (None, None),
    };

    let slot = Arc::new(RuleSlot {
        generation: AtomicU64::new(0),
        current: Mutex::new(Arc::clone(&generation)),
    });
    let stop = Arc::new(AtomicBool::new(false));
    let types = cfg.eve.eve_types();
    let total_workers = pending.len();
    let mut threads: Vec<(String, JoinHandle<()>)> = Vec::new();
    let mut shared_all = Vec::new();
    for p in pending {
        let shared = Arc::new(WorkerShared {
            published: Mutex::new(Published::default()),
            events_dropped: AtomicU64::new(0),
        });
        shared_all.push(Arc::clone(&shared));
        let wcfg = WorkerConfig {
            verify_checksums: cfg.sensor.verify_checksums,
            flow_capacity: cfg.sensor.flow_capacity,
            log_flows: types.flow,
            log_alerts: types.alert,
            ..WorkerConfig::new(Arc::from(cfg.sensor.id.as_str()), total_workers)
        };
        let mut worker = Worker::new(Arc::clone(&generation.rules), wcfg);
        worker.replace_rules(Arc::clone(&generation.rules), &generation.thresholds);
        let sink = LiveSink {
            uplink: uplink.as_ref().map(|u| u.sender()),
            eve: eve_tx.clone(),
            buf: Vec::with_capacity(16 * 1024),
            records: 0,
            shared,
        };
        let name = format!("{}-{}", p.iface, p.index);
        let (slot, stop) = (Arc::clone(&slot), Arc::clone(&stop));
        let t = std::thread::Builder::new()
            .name(name.clone())
            .spawn(move || worker_loop(worker, p.source, sink, &slot, &stop))?;
        threads.push((name, t));
    }

    let mut daemon = Daemon {
        config_path: opts.config.clone(),
        cfg,
        slot,
        control_rx: control,
        rule_reloads: 0,
        rule_reload_failures: 0,
        bundles: Bundles {
            trusted,
            running: None,
            made: 0,
        },
    };
    let started = Instant::now();
    info!(
        workers = total_workers,
        sensor_id = %daemon.cfg.sensor.id,
        "sensor running"
    );
    sd_notify("READY=1\nSTATUS=capturing");

    let watchdog = std::env::var("WATCHDOG_USEC")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .map(|us| Duration::from_micros(us / 2));
    let mut last_stats = Instant::now();
    let mut last_health = Instant::now();
    let mut last_watchdog = Instant::now();
    let periodic = |d: &Daemon| Totals::gather(&shared_all, d);
    loop {
        let sig = sys::wait_signal(&sys::HANDLED_SIGNALS, Duration::from_millis(200));
        match sig {
            Some(s) if s == libc::SIGHUP => {
                sd_notify("RELOADING=1");
                if let (Ok(summary), Some(u)) = (daemon.reload(ReloadSource::ConfigFile), &uplink) {
                    u.set_rules_version(&summary);
                }
                sd_notify("READY=1");
            }
            Some(s) => {
                info!(signal = s, "stopping");
                break;
            }
            None => {}
        }
        let mut shutdown = false;
        while let Ok(c) = daemon.control_rx.try_recv() {
            match c {
                Control::Reload(src, reply) => {
                    let r = daemon.reload(src);
                    if let (Ok(summary), Some(u)) = (&r, &uplink) {
                        u.set_rules_version(summary);
                    }
                    if let Some(tx) = reply {
                        let _ = tx.try_send(r);
                    }
                }
                Control::Shutdown => shutdown = true,
            }
        }
        if shutdown {
            info!("stopping on request");
            break;
        }
        if let (Some(rx), Some(u)) = (&commands, &uplink) {
            // Bounded per tick (the uplink's queue holds a few anyway).
            for _ in 0..4 {
                let Ok(cmd) = rx.try_recv() else { break };
                info!(
                    destination = %cmd.destination,
                    bytes = cmd.payload.len(),
                    retained = cmd.retained,
                    "rule bundle received"
                );
                sd_notify("RELOADING=1");
                let result = daemon.apply_bundle(&cmd.payload);
                sd_notify("READY=1");
                if let (true, Some(v)) = (result.applied, &result.version) {
                    u.set_rules_version(v);
                }
                if let Err(e) = u.publish_result(result.to_json()) {
                    warn!("cannot publish the rule bundle result: {e}");
                }
            }
        }
        if threads.iter().all(|(_, t)| t.is_finished()) {
            error!("every capture worker stopped");
            break;
        }
        let stats_every = Duration::from_secs(daemon.cfg.stats.interval);
        if !stats_every.is_zero() && last_stats.elapsed() >= stats_every && types.stats {
            last_stats = Instant::now();
            let t = periodic(&daemon);
            emit_stats(&t, &daemon, started, eve_tx.as_ref(), uplink.as_ref());
        }
        let health_every = Duration::from_secs(daemon.cfg.log.health_interval);
        if !health_every.is_zero() && last_health.elapsed() >= health_every {
            last_health = Instant::now();
            periodic(&daemon).log_health(uplink.as_ref());
        }
        if let Some(w) = watchdog {
            if last_watchdog.elapsed() >= w {
                last_watchdog = Instant::now();
                sd_notify("WATCHDOG=1");
            }
        }
    }

    // Shutdown within the configured bound.
    sd_notify("STOPPING=1");
    let deadline = Instant::now() + Duration::from_secs(daemon.cfg.sensor.shutdown_timeout);
    stop.store(true, Ordering::Relaxed);
    let mut clean = true;
    for (name, t) in threads {
        while !t.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        if t.is_finished() {
            if t.join().is_err() {
                error!(worker = %name, "worker panicked");
                clean = false;
            }
        } else {
            error!(worker = %name, "worker did not stop in time");
            clean = false;
        }
    }
    let totals = periodic(&daemon);
    if types.stats {
        emit_stats(&totals, &daemon, started, eve_tx.as_ref(), uplink.as_ref());
    }
    drop(eve_tx);
    if let Some(t) = eve_thread {
        while !t.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        match t.is_finished().then(|| t.join()) {
            Some(Ok(Ok(()))) => {}
            Some(Ok(Err(e))) => {
                error!("EVE file: {e}");
                clean = false;
            }
            _ => {
                error!("EVE writer did not finish in time");
                clean = false;
            }
        }
    }
    totals.log_health(uplink.as_ref());
    if let Some(up) = uplink {
        let left = deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_secs(1));
        match up.finish(left) {
            Ok(r) => info!(
                accepted = r.accepted,
                acked = r.acked,
                unacked = r.unacked,
                dropped_channel_full = r.dropped_channel_full,
                spooled = r.spooled,
                "uplink closed (unacknowledged events stay spooled)"
            ),
            Err(e) => {
                error!("uplink: {e}");
                clean = false;
            }
        }
    }
    info!(
        packets = totals.stats.packets,
        kernel_packets = totals.kernel.packets,
        kernel_drops = totals.kernel.drops,
        alerts = totals.stats.alerts,
        events_dropped = totals.events_dropped,
        clean,
        "sensor stopped"
    );
    Ok(if clean {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Counters of every worker, merged.
#[derive(Debug, Default)]
struct Totals {
    stats: WorkerStats,
    kernel: CaptureCounters,
    events_dropped: u64,
    reloads: u64,
    reload_failures: u64,
}

impl Totals {
    fn gather(shared: &[Arc<WorkerShared>], d: &Daemon) -> Totals {
        let mut t = Totals {
            reloads: d.rule_reloads,
            reload_failures: d.rule_reload_failures,
            ..Totals::default()
        };
        for s in shared {
            if let Ok(p) = s.published.lock() {
                t.stats.merge(&p.stats);
                t.kernel.packets += p.kernel.packets;
                t.kernel.drops += p.kernel.drops;
            }
            t.events_dropped += s.events_dropped.load(Ordering::Relaxed);
        }
        t
    }

    fn log_health(&self, up: Option<&uplink::Uplink>) {
        let (acked, spool) = up.map_or((0, 0), |u| {
            let r = u.stats();
            (r.acked, r.spool.map_or(0, |s| s.bytes))
        });
        info!(
            packets = self.stats.packets,
            kernel_packets = self.kernel.packets,
            kernel_drops = self.kernel.drops,
            alerts = self.stats.alerts,
            flows = self.stats.flows.created,
            decode_errors = self.stats.decode_errors(),
            events_dropped = self.events_dropped,
            uplink_acked = acked,
            spool_bytes = spool,
            reloads = self.reloads,
            reload_failures = self.reload_failures,
            "health"
        );
    }
}

/// Writes an EVE `stats` record (Suricata's layout plus `capture.kernel_*`) to both outputs.
fn emit_stats(
    t: &Totals,
    d: &Daemon,
    started: Instant,
    eve: Option<&SyncSender<Vec<u8>>>,
    up: Option<&uplink::Uplink>,
) {
    let record = t
        .stats
        .eve_record(now_ts(), started.elapsed(), &d.cfg.sensor.id);
    let Ok(mut v) = serde_json::from_slice::<serde_json::Value>(&record) else {
        return;
    };
    if let Some(stats) = v.get_mut("stats").and_then(|s| s.as_object_mut()) {
        stats.insert(
            "capture".into(),
            serde_json::json!({
                "kernel_packets": t.kernel.packets,
                "kernel_drops": t.kernel.drops,
                "events_dropped": t.events_dropped,
            }),
        );
        stats.insert(
            "detect_reload".into(),
            serde_json::json!({ "ok": t.reloads, "failed": t.reload_failures }),
        );
    }
    let Ok(mut bytes) = serde_json::to_vec(&v) else {
        return;
    };
    if let Some(u) = up {
        let _ = u.sender().try_send("stats", bytes.clone());
    }
    bytes.push(b'\n');
    if let Some(tx) = eve {
        let _ = tx.try_send(bytes);
    }
}

fn eve_writer(file: std::fs::File, rx: Receiver<Vec<u8>>) -> std::io::Result<()> {
    let mut w = std::io::BufWriter::with_capacity(256 * 1024, file);
    while let Ok(batch) = rx.recv() {
        w.write_all(&batch)?;
        // Flush whenever the queue is empty, so the file is current when the wire is quiet.
        let mut more = rx.try_recv();
        while let Ok(b) = more {
            w.write_all(&b)?;
            more = rx.try_recv();
        }
        w.flush()?;
    }
    w.flush()
}

/// One worker thread: capture, process in place, pick up new rules between batches.
fn worker_loop(
    mut worker: Worker,
    mut source: LiveSource,
    mut sink: LiveSink,
    slot: &RuleSlot,
    stop: &AtomicBool,
) {
    let mut generation = 0u64;
    let mut last_expire = now_ts().secs;
    let mut last_publish = Instant::now();
    let publish = |worker: &Worker, source: &mut LiveSource, sink: &LiveSink| {
        if let Ok(mut p) = sink.shared.published.lock() {
            p.stats = worker.stats();
            p.kernel = source.counters();
        }
    };
    let mut failed = false;
    while !stop.load(Ordering::Relaxed) {
        let r = source.next_batch(Duration::from_millis(100), &mut |frame| {
            // A new rule set is taken before the next packet once the main thread published
            // it (one atomic load per packet), so no packet that arrives after a reload was
            // logged is inspected with the old set.
            let g = slot.generation.load(Ordering::Acquire);
            if g != generation {
                generation = g;
                let current = match slot.current.lock() {
                    Ok(c) => Arc::clone(&c),
                    Err(p) => Arc::clone(&p.into_inner()),
                };
                worker.replace_rules(Arc::clone(&current.rules), &current.thresholds);
            }
            // An EVE batch or the uplink channel never fails to take an event.
            let _ = worker.process(frame, 0, &mut sink);
        });
        // Wall-clock flow timeouts, once a second: idle flows end without waiting for a
        // packet to sweep them.
        let now = now_ts().secs;
        if now > last_expire {
            last_expire = now;
            let _ = worker.expire_idle(now, &mut sink);
        }
        sink.flush();
        if let Err(e) = r {
            error!("capture failed: {e}");
            failed = true;
            break;
        }
        if last_publish.elapsed() >= Duration::from_millis(500) {
            last_publish = Instant::now();
            publish(&worker, &mut source, &sink);
        }
    }
    // Take what is already queued, so that the kernel's count equals processed + drops.
    if !failed {
        let mut idle = 0;
        while idle < 2 {
            let r = source.next_batch(Duration::from_millis(30), &mut |frame| {
                let _ = worker.process(frame, 0, &mut sink);
            });
            match r {
                Ok(0) => idle += 1,
                Ok(_) => idle = 0,
                Err(_) => break,
            }
        }
    }
    let _ = worker.shutdown(now_ts().secs, &mut sink);
    sink.flush();
    publish(&worker, &mut source, &sink);
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn daemon_for(dir: &Path, rules: &str) -> (Daemon, SyncSender<Control>) {
        let rules_path = dir.join("r.rules");
        std::fs::write(&rules_path, rules).unwrap();
        let cfg_path = dir.join("s.toml");
        std::fs::write(
            &cfg_path,
            format!("[rules]\npaths = [\"{}\"]\n", rules_path.display()),
        )
        .unwrap();
        let cfg = Config::load(&cfg_path).unwrap();
        let (set, report) = build_rules(&cfg, &cfg.rules.paths, None).unwrap();
        assert!(report.errors.is_empty());
        let generation = Arc::new(RuleGeneration {
            thresholds: set.scratch(),
            rules: Arc::new(set),
        });
        let (tx, rx) = mpsc::sync_channel(4);
        let d = Daemon {
            config_path: cfg_path,
            cfg,
            slot: Arc::new(RuleSlot {
                generation: AtomicU64::new(0),
                current: Mutex::new(generation),
            }),
            control_rx: rx,
            rule_reloads: 0,
            rule_reload_failures: 0,
            bundles: Bundles {
                trusted: Vec::new(),
                running: None,
                made: 0,
            },
        };
        (d, tx)
    }

    const GOOD: &str = "alert udp any any -> any any (msg:\"a\"; flowbits:set,seen; sid:1;)\n";

    #[test]
    fn reload_swaps_good_rules_and_keeps_the_old_set_on_errors() {
        let dir = tempfile::tempdir().unwrap();
        let (mut d, _tx) = daemon_for(dir.path(), GOOD);
        let rules = dir.path().join("r.rules");

        // A rule that does not parse: refused, nothing published.
        std::fs::write(
            &rules,
            format!("{GOOD}alert udp any any -> any any (content:; sid:2;)\n"),
        )
        .unwrap();
        let e = d.reload(ReloadSource::ConfigFile).unwrap_err();
        assert!(e.contains("do not parse"), "{e}");
        assert_eq!(d.slot.generation.load(Ordering::Relaxed), 0);
        assert_eq!(d.rule_reload_failures, 1);

        // A missing file: refused too.
        let e = d
            .reload(ReloadSource::RulePaths(vec![dir.path().join("nope.rules")]))
            .unwrap_err();
        assert!(e.contains("nope.rules"), "{e}");
        assert_eq!(d.slot.generation.load(Ordering::Relaxed), 0);

        // Good rules: compiled (with the running set's flowbit ids) and published.
        std::fs::write(
            &rules,
            format!("{GOOD}alert udp any any -> any any (msg:\"b\"; flowbits:set,other; sid:3;)\n"),
        )
        .unwrap();
        let ok = d.reload(ReloadSource::ConfigFile).unwrap();
        assert!(ok.starts_with("2 rules active"), "{ok}");
        assert_eq!(d.slot.generation.load(Ordering::Relaxed), 1);
        assert_eq!(d.current_rules().rules.len(), 2);
    }

    #[test]
    fn bundles_are_verified_unpacked_and_reloaded_or_refused() {
        use uplink::bundle::{self, BundleFile};
        let dir = tempfile::tempdir().unwrap();
        let (mut d, _tx) = daemon_for(dir.path(), GOOD);
        d.cfg.rules.bundle_dir = dir.path().join("bundles");
        let key = bundle::generate_key().unwrap();
        d.bundles.trusted = vec![key.verifying_key()];
        let make = |key: &bundle::SigningKey, version: &str, rules: &str| {
            let files = [BundleFile {
                name: "remote.rules".into(),
                data: rules.as_bytes().to_vec(),
            }];
            bundle::create(key, version, "2026-12-06T10:00:00+0000", &files).unwrap()
        };
        let two = format!("{GOOD}alert udp any any -> any any (msg:\"b\"; sid:7;)\n");

        let r = d.apply_bundle(&make(&key, "v1", &two));
        assert!(r.applied, "{r:?}");
        assert_eq!(r.version.as_deref(), Some("v1"));
        assert_eq!(d.current_rules().rules.len(), 2);
        assert_eq!(d.slot.generation.load(Ordering::Relaxed), 1);
        let dirs = || {
            std::fs::read_dir(dir.path().join("bundles"))
                .unwrap()
                .count()
        };
        assert_eq!(dirs(), 1);

        // The same version again (a retained bundle after a reconnect): no reload.
        let r = d.apply_bundle(&make(&key, "v1", &two));
        assert!(r.applied && r.reason.is_some(), "{r:?}");
        assert_eq!(d.slot.generation.load(Ordering::Relaxed), 1);

        // An unknown signer, a tampered bundle, rules that do not parse: refused, old set kept.
        let other = bundle::generate_key().unwrap();
        let r = d.apply_bundle(&make(&other, "v2", GOOD));
        assert!(
            !r.applied && r.reason.as_deref().unwrap().contains("refused"),
            "{r:?}"
        );
        let mut tampered = make(&key, "v2", GOOD);
        let last = tampered.len() - 2;
        tampered[last] ^= 1;
        let r = d.apply_bundle(&tampered);
        assert!(!r.applied, "{r:?}");
        let r = d.apply_bundle(&make(
            &key,
            "v3",
            "alert udp any any -> any any (content:; sid:9;)\n",
        ));
        assert!(
            !r.applied && r.reason.as_deref().unwrap().contains("do not parse"),
            "{r:?}"
        );
        assert_eq!(r.version.as_deref(), Some("v3"));
        assert_eq!(d.slot.generation.load(Ordering::Relaxed), 1);
        assert_eq!(d.current_rules().rules.len(), 2);
        assert_eq!(dirs(), 1, "a refused bundle leaves no directory");

        // A newer good bundle replaces the old directory.
        let r = d.apply_bundle(&make(&key, "v4", GOOD));
        assert!(r.applied, "{r:?}");
        assert_eq!(d.current_rules().rules.len(), 1);
        assert_eq!(dirs(), 1);
    }

    #[test]
    fn a_config_that_does_not_check_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (mut d, _tx) = daemon_for(dir.path(), GOOD);
        std::fs::write(dir.path().join("s.toml"), "[stats]\ninterval = -5\n").unwrap();
        let e = d.reload(ReloadSource::ConfigFile).unwrap_err();
        assert!(e.contains("s.toml:2: stats.interval"), "{e}");
        assert_eq!(d.slot.generation.load(Ordering::Relaxed), 0);
    }
}
