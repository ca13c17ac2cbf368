//! The multi-destination uplink with a disk spool ([`crate::Uplink::start_with`]).
//!
//! # Data flow
//!
//! ```text
//! producers ──try_send──> channel ──> ingest ──append──> spool ──read──> destination 1 ──> broker
//!                                       │                   └─────read──> destination 2 ──> broker
//!                                       └─ summary aggregators ──append (targeted)──┘
//! ```
//!
//! One OS thread runs a current-thread tokio runtime with a `LocalSet`:
//!
//! * **ingest** takes batches from the channel, gives each event its id,
//!   appends it to the spool and hands the batch to the OS with one
//!   `write` *before* any destination may read it; it folds events into
//!   the aggregators of `summary` destinations and, when a window ends,
//!   appends their messages as records targeted at that destination. It
//!   also drives the fsync policy.
//! * **one task per destination** reads its records from the spool into its
//!   Outbox (at most `max_inflight` in memory), publishes them through
//!   rumqttc (MQTT 3.1.1 or 5) and moves its spool cursor when PUBACKs
//!   arrive; its cursor is the smallest unacknowledged sequence number.
//!
//! Capture never waits for this: the channel is bounded, `try_send` counts
//! what a full channel refuses, and the ingest task never waits for the
//! network (a full spool drops its oldest segment instead).
//!
//! # Event ids
//!
//! Each record gets the id `<sensor id>:<spool id>:<sequence number>`,
//! written as the first member of the JSON object:
//! `{"event_id":"s1:9f2c01ab:1234","timestamp":...}` (a payload that is not a
//! JSON object is sent unchanged, without id). QoS 1 may deliver an event
//! twice (after a reconnect or a restart); a collector removes duplicates
//! with e.g. `jq -s 'unique_by(.event_id)'` or by keeping the last sequence
//! number seen per `<sensor>:<spool>`.
//!
//! # Status and Last Will
//!
//! Each destination publishes a retained JSON status (`online`, version,
//! rules version, uptime, interfaces, spool depth and drops, its own
//! counters) to its status topic at every CONNACK and every
//! `stats_interval`, and registers a retained Last Will `{"status":"offline"}`
//! on the same topic. At a clean finish it publishes `offline` itself
//! before DISCONNECT (the broker sends the Will only when the link dies).
//! Status messages use QoS 0: a newer one follows soon, and they stay out
//! of the spool and the ack accounting.
//!
//! # Acknowledgement accounting
//!
//! [`crate::UplinkReport::acked`] counts events of this run that no
//! destination still owes: every destination that takes the event
//! acknowledged it (or lost it to a full spool, counted per destination
//! in `dropped_spool_full`). MQTT 5 PUBACKs with a failure reason
//! (e.g. "not authorized" from an ACL) count in `refused`, set
//! `last_error`, and are not retried.

//!
//! # Batches (thin links)
//!
//! With [`crate::DestinationConfig::batch`] a destination publishes
//! *batches* instead of one message per event: up to `max_events` events
//! (or `max_bytes` of JSON), each one JSON line ending in `\n` and carrying
//! its `event_id`, zstd-compressed unless `zstd_level` is `None`, to
//! `<topic_prefix>/batch` at QoS 1. A batch is cut when it is full, when its
//! first event has waited `linger`, or at shutdown. Over MQTT 5 it carries
//! the content type `application/x-ndjson` and the user properties
//! `content-encoding: zstd` (when compressed), `count`, `first_event_id` and
//! `last_event_id`; over MQTT 3.1.1 the payload is the same without
//! properties (a zstd frame starts with the bytes `28 b5 2f fd`, which no
//! JSON text does). Accounting stays per event: a batch's PUBACK
//! acknowledges `count` events (`acked`), the spool cursor moves past all of
//! them, and a batch republished after a reconnect holds the same events
//! with the same ids, so duplicates are removed by id as before.
//!
//! A collector needs no code of its own to read batches; zstd decompresses
//! concatenated frames, and `-N` keeps mosquitto_sub from adding newlines:
//!
//! ```text
//! mosquitto_sub -V 5 -h broker -p 8883 --cafile ca.pem --cert c.pem --key c.key \
//!     -q 1 -t 'cirt/+/events/batch' -N | zstd -dcq | jq -c 'select(.event_type=="alert")'
//! ```
//!
//! (tested with the real binaries in `tests/batch.rs`). `sensor tail` and
//! [`crate::collect`] expand batches transparently. Subscribers that filter
//! by event type in the topic (`.../events/alert`) see nothing from a
//! batching destination: subscribe to `.../events/batch` and filter on
//! `event_type` after decompression.
//!
//! # Commands (remote rule updates)
//!
//! A destination with [`crate::DestinationConfig::commands`] (MQTT 5 only)
//! subscribes at every CONNACK to `cirt/<sensor id>/cmd/rules` (QoS 1) and
//! hands each message to [`crate::Uplink::commands`]'s receiver. Bounds:
//! CONNECT asks the broker for packets of at most `max_command_bytes` +
//! 64 KiB (larger ones the broker drops without telling us); payloads above
//! `max_command_bytes`, and commands arriving while `command_queue` are
//! still waiting, are dropped and counted in `commands_refused`. The uplink
//! does not interpret payloads: the application verifies them
//! ([`crate::bundle::verify`]), applies them, and reports with
//! [`crate::Uplink::publish_result`], which goes through the spool (with an
//! event id) to `cirt/<sensor id>/cmd/result` on every command destination.
//! Sessions are clean, so a bundle published while the sensor is offline is
//! only delivered if it was published *retained*; a CIRT should publish
//! bundles retained (a reconnect then redelivers the current one, so the
//! application should skip a bundle whose version already runs).
//!
//! # Throughput (measured, see `tests/throughput.rs`)
//!
//! On the 2-core development machine shared with six other engineers'
//! builds (load average 15-22 during the runs, so these are pessimistic),
//! flow events of about 420 bytes with varying fields to a local mosquitto
//! at QoS 1, from the first send to the last PUBACK, release build, 200,000
//! events, two runs:
//!
//! | mode | events/s |
//! | --- | --- |
//! | spool-less [`crate::Uplink::start`], one message per event | 52,000-73,000 |
//! | spool, one message per event | 15,800-20,100 |
//! | spool, zstd batches of 500 (linger 20 ms), MQTT 5, with a subscriber | 72,000-95,700 |
//!
//! Batches put about 95 bytes per event on the wire (zstd level 3). The
//! spool itself costs 4.8-7.6 µs per event (2-4 µs at load 5-9), 479
//! bytes per event on disk (record framing and event id included), with 22
//! `fdatasync`s per 200,000 events at the default policy. One message per
//! event is limited by rumqttc 0.25 writing each publish with its own
//! syscall and by mosquitto's CPU; batches remove both, which is how the
//! spooled uplink goes past 50,000 events/s. Latency from `send` to a
//! subscriber at a steady 5,000 events/s (20,000 events): p50 0.4-1.5 ms,
//! p99 21-90 ms one message per event; with batches the linger dominates:
//! p50 11-30 ms, p99 25 ms at load 15 (the p99 rises to hundreds of ms at
//! load 20+, when the uplink thread waits for a CPU or an `fdatasync`).
//!
//! With no destination at all, events are only spooled and count as
//! acknowledged at once.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::pin::pin;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use rumqttc::{Outgoing, QoS, TlsConfiguration, Transport};
use serde_json::json;
use tokio::sync::{mpsc, watch, Notify};

use crate::client::{
    wait_shutdown, Command, Shutdown, BACKOFF_START, DISCONNECT_GRACE, RESULT_MARKER,
    RESULT_TOPIC_SUFFIX, RULES_TOPIC_SUFFIX,
};
use crate::destination::{BatchConfig, DestinationConfig, Policy, Protocol, UplinkConfig};
use crate::error::UplinkError;
use crate::report::{Counters, DestCounters};
use crate::spool::record::Record;
use crate::spool::{DestFilter, Spool};
use crate::state::{Anomaly, BatchInfo, Event, Outbox};
use crate::summary::Aggregator;

/// How long past the publishing deadline the input may still take to reach the spool.
const INGEST_GRACE: Duration = Duration::from_secs(10);
/// Events taken from the channel per spool write.
const BATCH: usize = 1024;

/// Spool event type of command results (not a topic level, so no producer
/// event can have it).
const RESULT_TYPE: &str = "cmd/result";

/// Last topic level of batch publishes: `<topic_prefix>/batch`.
pub const BATCH_LEVEL: &str = "batch";

/// MQTT 5 content type of batch publishes.
pub const BATCH_CONTENT_TYPE: &str = "application/x-ndjson";

/// Uncompressed bytes of batches held in one destination's Outbox, at most
/// (the Outbox window shrinks to fit).
const BATCH_MEMORY: usize = 16 << 20;

/// Opens the spool of `cfg` with one reader per destination.
pub(crate) fn open_spool(cfg: &UplinkConfig) -> Result<Spool, UplinkError> {
    let filters = cfg
        .destinations
        .iter()
        .map(|d| DestFilter {
            name: d.name.clone(),
            full: matches!(d.policy, Policy::Full),
            event_types: d.event_types.clone(),
        })
        .collect();
    Spool::open(&cfg.spool_dir, cfg.spool.clone(), filters)
}

/// Bytes the event id adds to a payload, at most.
pub(crate) fn event_id_overhead(sensor_id: &str) -> usize {
    // {"event_id":"<sensor>:<8 hex>:<u64>",
    16 + json_escaped(sensor_id).len() + 1 + 8 + 1 + 20
}

fn json_escaped(s: &str) -> String {
    let quoted = serde_json::Value::String(s.to_string()).to_string();
    quoted[1..quoted.len() - 1].to_string()
}

/// Writes `payload` with `"event_id":"<prefix><seq>"` as its first member.
pub(crate) fn write_with_id(buf: &mut Vec<u8>, id_prefix: &str, seq: u64, payload: &[u8]) {
    let trimmed = payload.trim_ascii_start();
    let Some(rest) = trimmed.strip_prefix(b"{") else {
        buf.extend_from_slice(payload);
        return;
    };
    buf.extend_from_slice(b"{\"event_id\":\"");
    buf.extend_from_slice(id_prefix.as_bytes());
    buf.extend_from_slice(seq.to_string().as_bytes());
    buf.push(b'"');
    if !rest.trim_ascii_start().starts_with(b"}") {
        buf.push(b',');
    }
    buf.extend_from_slice(rest);
}

/// UTC time as `2024-01-01T00:00:00+0000` (EVE style, whole seconds).
pub(crate) fn utc_timestamp(t: SystemTime) -> String {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}+0000",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Ranges of sequence numbers of this run's events, to count `acked`.
#[derive(Debug, Default)]
struct RunTracker {
    ranges: VecDeque<(u64, u64)>,
}

impl RunTracker {
    fn push(&mut self, seq: u64) {
        match self.ranges.back_mut() {
            Some((_, end)) if *end == seq => *end += 1,
            _ => self.ranges.push_back((seq, seq + 1)),
        }
    }

    /// Events below `cursor` are done; returns how many became done now.
    fn advance(&mut self, cursor: u64) -> u64 {
        let mut done = 0;
        while let Some((start, end)) = self.ranges.front_mut() {
            if *end <= cursor {
                done += *end - *start;
                self.ranges.pop_front();
            } else {
                if *start < cursor {
                    done += cursor - *start;
                    *start = cursor;
                }
                break;
            }
        }
        done
    }
}

struct Shared {
    spool: Spool,
    input_done: bool,
    run: RunTracker,
    started: Instant,
}

struct Ctx {
    cfg: UplinkConfig,
    shared: RefCell<Shared>,
    counters: Arc<Counters>,
    feeder_wakes: Vec<Notify>,
    poller_wakes: Vec<Notify>,
    /// `<sensor id>:<spool id>:`, the event id without the sequence number.
    id_prefix: String,
    commands: Option<std::sync::mpsc::SyncSender<Command>>,
}

impl Ctx {
    /// Destination `d` owes nothing below `cursor`: persist that and count
    /// this run's events that nobody owes any more.
    fn ack_until(&self, d: usize, cursor: u64) {
        let mut sh = self.shared.borrow_mut();
        if let Err(e) = sh.spool.ack_until(d, cursor) {
            self.counters.set_error(e.to_string());
        }
        let min = sh.spool.min_cursor();
        let done = sh.run.advance(min);
        if done > 0 {
            self.counters.acked.fetch_add(done, Ordering::Relaxed);
        }
        let next = sh.spool.next_seq();
        if let Some(c) = self.counters.dests.get(d) {
            c.backlog
                .store(next.saturating_sub(sh.spool.cursor(d)), Ordering::Relaxed);
        }
    }

    fn status_json(&self, d: usize, online: bool) -> Vec<u8> {
        let sh = self.shared.borrow();
        let st = sh.spool.stats();
        let report = self.counters.snapshot();
        let dest = report.destinations.get(d).cloned().unwrap_or_default();
        json!({
            "status": if online { "online" } else { "offline" },
            "sensor": self.cfg.sensor_id,
            "version": self.cfg.version,
            "rules_version": self.counters.rules_version.lock().ok().and_then(|g| g.clone()),
            "uptime_s": sh.started.elapsed().as_secs(),
            "interfaces": self.cfg.interfaces,
            "timestamp": utc_timestamp(SystemTime::now()),
            "events": {
                "accepted": report.accepted,
                "acked": report.acked,
                "dropped_channel_full": report.dropped_channel_full,
                "dropped_too_large": report.dropped_too_large,
                "dropped_spool_error": report.dropped_spool_error,
            },
            "spool": {
                "bytes": st.bytes,
                "records_pending": dest.backlog,
                "dropped_full": dest.dropped_spool_full,
                "evicted_segments": st.evicted_segments,
            },
            "commands": {
                "received": report.commands_received,
                "refused": report.commands_refused,
            },
            "destination": {
                "name": dest.name,
                "acked": dest.acked,
                "refused": dest.refused,
                "connections": dest.connections,
                "disconnects": dest.disconnects,
            },
        })
        .to_string()
        .into_bytes()
    }
}

/// Runs the engine until every destination is done or the shutdown plan's
/// deadline passes. Must run inside a `LocalSet`.
pub(crate) async fn run(
    cfg: UplinkConfig,
    tls: Vec<Option<Arc<rustls::ClientConfig>>>,
    spool: Spool,
    input: mpsc::Receiver<Event>,
    shutdown: watch::Receiver<Option<Shutdown>>,
    counters: Arc<Counters>,
    commands: Option<std::sync::mpsc::SyncSender<Command>>,
) {
    let n = cfg.destinations.len();
    let dests = cfg.destinations.clone();
    let id_prefix = format!("{}:{}:", json_escaped(&cfg.sensor_id), spool.instance());
    let ctx = Rc::new(Ctx {
        id_prefix,
        commands,
        shared: RefCell::new(Shared {
            spool,
            input_done: false,
            run: RunTracker::default(),
            started: Instant::now(),
        }),
        cfg,
        counters,
        feeder_wakes: (0..n).map(|_| Notify::new()).collect(),
        poller_wakes: (0..n).map(|_| Notify::new()).collect(),
    });
    for d in 0..n {
        // Cursors were loaded from disk: bring counters in line.
        let cursor = ctx.shared.borrow().spool.cursor(d);
        ctx.ack_until(d, cursor);
    }
    let mut tasks = Vec::new();
    for (i, (dcfg, tls)) in dests.into_iter().zip(tls).enumerate() {
        let ctx = Rc::clone(&ctx);
        let shutdown = shutdown.clone();
        tasks.push(tokio::task::spawn_local(async move {
            destination(ctx, i, dcfg, tls, shutdown).await;
        }));
    }
    let ingest_ctx = Rc::clone(&ctx);
    let ingest = tokio::task::spawn_local(ingest(ingest_ctx, input, shutdown.clone()));
    for t in tasks {
        let _ = t.await;
    }
    // Destinations are done (or out of time): make sure the input is
    // drained into the spool before leaving, within the deadline.
    // Appending to the local spool does not wait on any network, so it gets a grace period
    // past the publishing deadline (a loaded machine can take longer than `finish`'s
    // timeout); a disk that stalls even then is reported, never silently skipped.
    let plan = wait_shutdown(shutdown).await;
    let spool_by = plan.hard_stop + INGEST_GRACE;
    if tokio::time::timeout_at(spool_by.into(), ingest)
        .await
        .is_err()
    {
        ctx.counters
            .set_error("shutdown: events still in the channel could not be spooled in time".into());
    }
    let mut sh = ctx.shared.borrow_mut();
    if let Err(e) = sh.spool.close() {
        ctx.counters.set_error(e.to_string());
    }
    publish_spool_stats(&ctx.counters, &sh.spool);
}

fn publish_spool_stats(counters: &Counters, spool: &Spool) {
    if let Ok(mut g) = counters.spool.lock() {
        *g = Some(spool.stats());
    }
    for (d, c) in counters.dests.iter().enumerate() {
        c.dropped_spool_full
            .store(spool.dropped_full(d), Ordering::Relaxed);
    }
}

async fn ingest(
    ctx: Rc<Ctx>,
    mut input: mpsc::Receiver<Event>,
    shutdown: watch::Receiver<Option<Shutdown>>,
) {
    let id_prefix = ctx.id_prefix.clone();
    let mut aggs: Vec<Option<Aggregator>> = ctx
        .cfg
        .destinations
        .iter()
        .map(|d| match &d.policy {
            Policy::Summary(p) => Some(Aggregator::new(p.clone(), &ctx.cfg.sensor_id)),
            Policy::Full => None,
        })
        .collect();
    let windows: Vec<Duration> = ctx
        .cfg
        .destinations
        .iter()
        .map(|d| match &d.policy {
            Policy::Summary(p) => p.window,
            Policy::Full => Duration::MAX,
        })
        .collect();
    let mut window_start = vec![(Instant::now(), SystemTime::now()); aggs.len()];
    let any_summary = aggs.iter().any(Option::is_some);
    let tick_every = ctx
        .cfg
        .spool
        .sync
        .interval
        .clamp(Duration::from_millis(10), Duration::from_secs(1));
    let mut tick = tokio::time::interval(tick_every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut shutdown_fut = pin!(wait_shutdown(shutdown));
    let mut closing = false;
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        tokio::select! {
            n = input.recv_many(&mut batch, BATCH) => {
                if n == 0 {
                    break;
                }
                {
                    let mut sh = ctx.shared.borrow_mut();
                    for ev in batch.drain(..) {
                        let event_type = ev.topic.as_str();
                        if event_type == RESULT_MARKER {
                            append_result(&ctx, &mut sh, &id_prefix, &ev.payload);
                            continue;
                        }
                        if any_summary {
                            for agg in aggs.iter_mut().flatten() {
                                agg.add(event_type, &ev.payload);
                            }
                        }
                        let res = sh.spool.append(None, event_type, |seq, buf| {
                            write_with_id(buf, &id_prefix, seq, &ev.payload);
                        });
                        match res {
                            Ok(seq) => {
                                sh.run.push(seq);
                                Counters::inc(&ctx.counters.spooled);
                            }
                            Err(e) => {
                                // The event was accepted but cannot be kept:
                                // count it as acked-or-lost so `finish` does
                                // not wait for it, and say why.
                                Counters::inc(&ctx.counters.dropped_spool_error);
                                Counters::inc(&ctx.counters.acked);
                                ctx.counters.set_error(e.to_string());
                            }
                        }
                    }
                    if let Err(e) = sh.spool.commit() {
                        ctx.counters.set_error(e.to_string());
                    }
                }
                for w in &ctx.feeder_wakes {
                    w.notify_one();
                }
            }
            _ = tick.tick() => {
                if any_summary {
                    flush_windows(&ctx, &mut aggs, &windows, &mut window_start, &id_prefix, false);
                }
                let mut sh = ctx.shared.borrow_mut();
                if let Err(e) = sh.spool.commit() {
                    ctx.counters.set_error(e.to_string());
                }
                publish_spool_stats(&ctx.counters, &sh.spool);
            }
            _ = &mut shutdown_fut, if !closing => {
                input.close();
                closing = true;
            }
        }
    }
    // Input closed and drained: the last (partial) summary windows go out too.
    flush_windows(
        &ctx,
        &mut aggs,
        &windows,
        &mut window_start,
        &id_prefix,
        true,
    );
    {
        let mut sh = ctx.shared.borrow_mut();
        if let Err(e) = sh.spool.sync() {
            ctx.counters.set_error(e.to_string());
        }
        sh.input_done = true;
        publish_spool_stats(&ctx.counters, &sh.spool);
    }
    for w in ctx.feeder_wakes.iter().chain(&ctx.poller_wakes) {
        w.notify_one();
    }
}

/// A command result goes, through the spool, to every destination with commands.
fn append_result(ctx: &Ctx, sh: &mut Shared, id_prefix: &str, payload: &[u8]) {
    for d in ctx.cfg.destinations.iter().filter(|d| d.commands) {
        let res = sh.spool.append(Some(&d.name), RESULT_TYPE, |seq, buf| {
            write_with_id(buf, id_prefix, seq, payload);
        });
        if let Err(e) = res {
            ctx.counters.set_error(e.to_string());
        }
    }
}

fn flush_windows(
    ctx: &Ctx,
    aggs: &mut [Option<Aggregator>],
    windows: &[Duration],
    starts: &mut [(Instant, SystemTime)],
    id_prefix: &str,
    force: bool,
) {
    let now = (Instant::now(), SystemTime::now());
    let mut wrote = false;
    for (d, agg) in aggs.iter_mut().enumerate() {
        let Some(agg) = agg else { continue };
        if !force && now.0.duration_since(starts[d].0) < windows[d] {
            continue;
        }
        let msgs = agg.flush(&utc_timestamp(starts[d].1), &utc_timestamp(now.1));
        starts[d] = now;
        let name = ctx.cfg.destinations[d].name.as_str();
        let mut sh = ctx.shared.borrow_mut();
        for (event_type, payload) in msgs {
            let res = sh.spool.append(Some(name), event_type, |seq, buf| {
                write_with_id(buf, id_prefix, seq, &payload);
            });
            if let Err(e) = res {
                ctx.counters.set_error(e.to_string());
            }
            wrote = true;
        }
    }
    if wrote {
        if let Err(e) = ctx.shared.borrow_mut().spool.commit() {
            ctx.counters.set_error(e.to_string());
        }
        for w in &ctx.feeder_wakes {
            w.notify_one();
        }
    }
}

// ---------------------------------------------------------------------------
// One destination: rumqttc v4 or v5 behind a small enum.

enum Client {
    V4(rumqttc::AsyncClient),
    V5(rumqttc::v5::AsyncClient),
}

enum Loop {
    V4(Box<rumqttc::EventLoop>),
    V5(Box<rumqttc::v5::EventLoop>),
}

/// What the destination task needs to know from either protocol.
#[derive(Debug)]
enum LinkEvent {
    ConnAck {
        session_present: bool,
    },
    PubAck {
        pkid: u16,
        refused: Option<String>,
    },
    OutPublish(u16),
    AwaitAck(u16),
    OutDisconnect,
    /// A message from a subscription (commands).
    Message {
        topic: String,
        payload: Vec<u8>,
        retained: bool,
    },
    /// SUBACK with the failures' reasons, if any.
    SubAck(Option<String>),
    Other,
}

impl Client {
    fn try_publish(
        &self,
        topic: String,
        qos: QoS,
        retain: bool,
        payload: Vec<u8>,
    ) -> Result<(), String> {
        match self {
            Client::V4(c) => c
                .try_publish(topic, qos, retain, payload)
                .map_err(|e| e.to_string()),
            Client::V5(c) => c
                .try_publish(topic, v5_qos(qos), retain, payload)
                .map_err(|e| e.to_string()),
        }
    }

    /// A QoS 1 publish; a batch carries its MQTT 5 properties.
    fn try_publish_event(
        &self,
        topic: String,
        payload: Vec<u8>,
        batch: Option<&BatchInfo>,
    ) -> Result<(), String> {
        match (self, batch) {
            (Client::V5(c), Some(b)) => {
                let mut user = vec![("count".to_string(), b.count.to_string())];
                if b.zstd {
                    user.insert(0, ("content-encoding".to_string(), "zstd".to_string()));
                }
                user.push(("first_event_id".to_string(), b.first_id.clone()));
                user.push(("last_event_id".to_string(), b.last_id.clone()));
                let props = rumqttc::v5::mqttbytes::v5::PublishProperties {
                    content_type: Some(BATCH_CONTENT_TYPE.to_string()),
                    user_properties: user,
                    ..Default::default()
                };
                c.try_publish_with_properties(
                    topic,
                    v5_qos(QoS::AtLeastOnce),
                    false,
                    payload,
                    props,
                )
                .map_err(|e| e.to_string())
            }
            _ => self.try_publish(topic, QoS::AtLeastOnce, false, payload),
        }
    }

    fn try_subscribe(&self, topic: &str) -> Result<(), String> {
        match self {
            Client::V4(c) => c
                .try_subscribe(topic, QoS::AtLeastOnce)
                .map_err(|e| e.to_string()),
            Client::V5(c) => c
                .try_subscribe(topic, v5_qos(QoS::AtLeastOnce))
                .map_err(|e| e.to_string()),
        }
    }

    fn try_disconnect(&self) -> bool {
        match self {
            Client::V4(c) => c.try_disconnect().is_ok(),
            Client::V5(c) => c.try_disconnect().is_ok(),
        }
    }
}

fn v5_qos(q: QoS) -> rumqttc::v5::mqttbytes::QoS {
    match q {
        QoS::AtMostOnce => rumqttc::v5::mqttbytes::QoS::AtMostOnce,
        QoS::AtLeastOnce => rumqttc::v5::mqttbytes::QoS::AtLeastOnce,
        QoS::ExactlyOnce => rumqttc::v5::mqttbytes::QoS::ExactlyOnce,
    }
}

impl Loop {
    async fn poll(&mut self) -> Result<LinkEvent, String> {
        match self {
            Loop::V4(l) => l.poll().await.map(v4_event).map_err(|e| describe_v4(&e)),
            Loop::V5(l) => l.poll().await.map(v5_event).map_err(|e| describe_v5(&e)),
        }
    }

    /// Acks rumqttc read before the connection failed.
    fn buffered_acks(&mut self) -> Vec<LinkEvent> {
        match self {
            Loop::V4(l) => l.state.events.drain(..).map(v4_event).collect::<Vec<_>>(),
            Loop::V5(l) => l.state.events.drain(..).map(v5_event).collect::<Vec<_>>(),
        }
        .into_iter()
        .filter(|e| matches!(e, LinkEvent::PubAck { .. }))
        .collect()
    }

    /// Forget rumqttc's own copies of unacked publishes (the Outbox resends).
    fn forget_pending(&mut self) {
        match self {
            Loop::V4(l) => {
                l.state.collision = None;
                l.pending.clear();
            }
            Loop::V5(l) => {
                l.state.collision = None;
                l.pending.clear();
            }
        }
    }

    fn clean(&mut self) {
        match self {
            Loop::V4(l) => l.clean(),
            Loop::V5(l) => l.clean(),
        }
    }
}

fn v4_event(e: rumqttc::Event) -> LinkEvent {
    use rumqttc::{Event as E, Packet as P};
    match e {
        E::Incoming(P::ConnAck(a)) => LinkEvent::ConnAck {
            session_present: a.session_present,
        },
        E::Incoming(P::PubAck(a)) => LinkEvent::PubAck {
            pkid: a.pkid,
            refused: None,
        },
        E::Outgoing(o) => outgoing(o),
        _ => LinkEvent::Other,
    }
}

fn v5_event(e: rumqttc::v5::Event) -> LinkEvent {
    use rumqttc::v5::mqttbytes::v5::{Packet as P, PubAckReason};
    use rumqttc::v5::Event as E;
    match e {
        E::Incoming(P::ConnAck(a)) => LinkEvent::ConnAck {
            session_present: a.session_present,
        },
        E::Incoming(P::PubAck(a)) => {
            let refused = match a.reason {
                PubAckReason::Success | PubAckReason::NoMatchingSubscribers => None,
                other => {
                    let why = a
                        .properties
                        .and_then(|p| p.reason_string)
                        .map(|s| format!(" ({s})"))
                        .unwrap_or_default();
                    Some(format!("{other:?}{why}"))
                }
            };
            LinkEvent::PubAck {
                pkid: a.pkid,
                refused,
            }
        }
        E::Incoming(P::Publish(p)) => LinkEvent::Message {
            topic: String::from_utf8_lossy(&p.topic).into_owned(),
            payload: p.payload.to_vec(),
            retained: p.retain,
        },
        E::Incoming(P::SubAck(a)) => {
            use rumqttc::v5::mqttbytes::v5::SubscribeReasonCode as R;
            let bad: Vec<String> = a
                .return_codes
                .iter()
                .filter(|c| !matches!(c, R::Success(_)))
                .map(|c| format!("{c:?}"))
                .collect();
            LinkEvent::SubAck((!bad.is_empty()).then(|| bad.join(", ")))
        }
        E::Outgoing(o) => outgoing(o),
        _ => LinkEvent::Other,
    }
}

fn outgoing(o: Outgoing) -> LinkEvent {
    match o {
        Outgoing::Publish(p) => LinkEvent::OutPublish(p),
        Outgoing::AwaitAck(p) => LinkEvent::AwaitAck(p),
        Outgoing::Disconnect => LinkEvent::OutDisconnect,
        _ => LinkEvent::Other,
    }
}

fn describe_v4(e: &rumqttc::ConnectionError) -> String {
    use rumqttc::ConnectionError as C;
    match e {
        C::ConnectionRefused(code) => format!("broker refused connection: {code:?}"),
        C::NetworkTimeout => "timed out connecting to broker".to_string(),
        C::Tls(t) => format!("TLS handshake failed: {t}"),
        other => tls_alert_hint(other.to_string()),
    }
}

fn describe_v5(e: &rumqttc::v5::ConnectionError) -> String {
    use rumqttc::v5::ConnectionError as C;
    match e {
        C::ConnectionRefused(code) => format!("broker refused connection: {code:?}"),
        C::Tls(t) => format!("TLS handshake failed: {t}"),
        other => tls_alert_hint(other.to_string()),
    }
}

/// With TLS 1.3 the broker checks our certificate after the handshake, so
/// its refusal arrives as an alert on the first read; say what it means.
fn tls_alert_hint(e: String) -> String {
    if e.contains("received fatal alert") {
        format!(
            "TLS: the broker refused the connection ({e}); check the client certificate and key"
        )
    } else {
        e
    }
}

fn connect(
    cfg: &DestinationConfig,
    tls: Option<Arc<rustls::ClientConfig>>,
    status: Vec<u8>,
    window: usize,
    max_incoming: usize,
) -> Result<(Client, Loop), UplinkError> {
    let (host, port, _) = cfg.endpoint()?;
    let transport = tls.map(|c| Transport::tls_with_config(TlsConfiguration::Rustls(c)));
    let offline = status;
    let cap = window + 16;
    match cfg.protocol {
        Protocol::V311 => {
            let mut o = rumqttc::MqttOptions::new(cfg.client_id.clone(), host, port);
            o.set_keep_alive(cfg.keep_alive)
                .set_clean_session(true)
                .set_inflight(cfg.max_inflight)
                .set_max_packet_size(usize::MAX >> 1, usize::MAX >> 1)
                .set_pending_throttle(Duration::ZERO)
                .set_last_will(rumqttc::LastWill::new(
                    cfg.status_topic.clone(),
                    offline,
                    QoS::AtLeastOnce,
                    true,
                ));
            if let Some(t) = transport {
                o.set_transport(t);
            }
            if let Some(u) = &cfg.username {
                o.set_credentials(u.clone(), cfg.password.clone().unwrap_or_default());
            }
            let (c, mut l) = rumqttc::AsyncClient::new(o, cap);
            let mut net = rumqttc::NetworkOptions::new();
            net.set_connection_timeout(cfg.connect_timeout.as_secs().max(1));
            l.set_network_options(net);
            Ok((Client::V4(c), Loop::V4(Box::new(l))))
        }
        Protocol::V5 => {
            let mut o = rumqttc::v5::MqttOptions::new(cfg.client_id.clone(), host, port);
            o.set_keep_alive(cfg.keep_alive)
                .set_clean_start(true)
                .set_outgoing_inflight_upper_limit(cfg.max_inflight)
                .set_pending_throttle(Duration::ZERO)
                .set_connection_timeout(cfg.connect_timeout.as_secs().max(1))
                .set_last_will(rumqttc::v5::mqttbytes::v5::LastWill::new(
                    cfg.status_topic.clone(),
                    offline,
                    rumqttc::v5::mqttbytes::QoS::AtLeastOnce,
                    true,
                    None,
                ));
            // Also tells the broker not to send us anything bigger (MQTT 5).
            o.set_max_packet_size(Some(u32::try_from(max_incoming).unwrap_or(u32::MAX)));
            if let Some(t) = transport {
                o.set_transport(t);
            }
            if let Some(u) = &cfg.username {
                o.set_credentials(u.clone(), cfg.password.clone().unwrap_or_default());
            }
            let (c, l) = rumqttc::v5::AsyncClient::new(o, cap);
            Ok((Client::V5(c), Loop::V5(Box::new(l))))
        }
    }
}

struct Dest<'a> {
    ctx: &'a Ctx,
    idx: usize,
    cfg: &'a DestinationConfig,
    client: &'a Client,
    outbox: RefCell<Outbox>,
    counters: &'a DestCounters,
    /// Records read from the spool for the next batch (batch mode only).
    pending: RefCell<VecDeque<Record>>,
    /// `cirt/<sensor id>/cmd/rules` and `.../cmd/result`.
    rules_topic: String,
    result_topic: String,
}

async fn destination(
    ctx: Rc<Ctx>,
    idx: usize,
    cfg: DestinationConfig,
    tls: Option<Arc<rustls::ClientConfig>>,
    shutdown: watch::Receiver<Option<Shutdown>>,
) {
    let Some(counters) = ctx.counters.dests.get(idx) else {
        return;
    };
    let window = match &cfg.batch {
        None => usize::from(cfg.max_inflight),
        Some(b) => usize::from(cfg.max_inflight)
            .min(BATCH_MEMORY / b.max_bytes.max(1))
            .max(2),
    };
    let max_incoming = if cfg.commands {
        ctx.cfg.max_command_bytes.saturating_add(64 << 10)
    } else {
        64 << 10
    };
    let offline = json!({"status": "offline", "sensor": ctx.cfg.sensor_id})
        .to_string()
        .into_bytes();
    let (client, mut eventloop) = match connect(&cfg, tls, offline, window, max_incoming) {
        Ok(x) => x,
        Err(e) => {
            counters.set_error(e.to_string());
            return;
        }
    };
    let d = Dest {
        ctx: &ctx,
        idx,
        cfg: &cfg,
        client: &client,
        outbox: RefCell::new(Outbox::new(window)),
        counters,
        pending: RefCell::new(VecDeque::new()),
        rules_topic: format!("cirt/{}/{RULES_TOPIC_SUFFIX}", ctx.cfg.sensor_id),
        result_topic: format!("cirt/{}/{RESULT_TOPIC_SUFFIX}", ctx.cfg.sensor_id),
    };
    tokio::select! {
        () = d.feeder() => {}
        () = d.poller(&mut eventloop, shutdown) => {}
    }
}

impl Dest<'_> {
    fn finished(&self) -> bool {
        let sh = self.ctx.shared.borrow();
        sh.input_done
            && self.outbox.borrow().is_empty()
            && self.pending.borrow().is_empty()
            && sh.spool.read_seq(self.idx) >= sh.spool.next_seq()
    }

    /// Moves records from the spool into the Outbox while it has room.
    async fn feeder(&self) {
        if let Some(b) = self.cfg.batch.clone() {
            return self.batch_feeder(&b).await;
        }
        let mut recs: Vec<Record> = Vec::new();
        // Refill in batches: one spool read per ack would cost a read
        // syscall per event.
        let refill_at = (usize::from(self.cfg.max_inflight) / 8).max(1);
        loop {
            let (room, empty) = {
                let ob = self.outbox.borrow();
                (ob.room(), ob.is_empty())
            };
            if room >= refill_at || (room > 0 && empty) {
                recs.clear();
                let res =
                    self.ctx
                        .shared
                        .borrow_mut()
                        .spool
                        .read(self.idx, room.min(BATCH), &mut recs);
                if let Err(e) = res {
                    self.counters.set_error(e.to_string());
                }
                let read_all = recs.len() < room.min(BATCH);
                {
                    let mut ob = self.outbox.borrow_mut();
                    for r in recs.drain(..) {
                        let topic = self.topic_of(&r);
                        ob.admit_id(
                            r.seq,
                            Event {
                                topic,
                                payload: r.payload,
                                batch: None,
                            },
                        );
                    }
                    self.hand_over(&mut ob);
                }
                self.update_cursor();
                if !read_all {
                    tokio::task::yield_now().await;
                    continue;
                }
                if self.finished() {
                    self.ctx.poller_wakes[self.idx].notify_one();
                }
            }
            self.ctx.feeder_wakes[self.idx].notified().await;
        }
    }

    fn topic_of(&self, r: &Record) -> String {
        if r.event_type == RESULT_TYPE {
            self.result_topic.clone()
        } else {
            format!("{}/{}", self.cfg.topic_prefix, r.event_type)
        }
    }

    /// Batch mode: reads up to `max_events` records, and cuts a batch when
    /// it is full or its first record waited `linger` (or input ended).
    async fn batch_feeder(&self, b: &BatchConfig) {
        let mut recs: Vec<Record> = Vec::new();
        let mut since: Option<Instant> = None;
        loop {
            let need = b.max_events.saturating_sub(self.pending.borrow().len());
            let mut more = false;
            if need > 0 {
                recs.clear();
                let want = need.min(BATCH);
                let res = self
                    .ctx
                    .shared
                    .borrow_mut()
                    .spool
                    .read(self.idx, want, &mut recs);
                if let Err(e) = res {
                    self.counters.set_error(e.to_string());
                }
                more = recs.len() == want;
                if !recs.is_empty() && since.is_none() {
                    since = Some(Instant::now());
                }
                self.pending.borrow_mut().extend(recs.drain(..));
            }
            let drained = {
                let sh = self.ctx.shared.borrow();
                sh.input_done && sh.spool.read_seq(self.idx) >= sh.spool.next_seq()
            };
            {
                let mut ob = self.outbox.borrow_mut();
                let mut pending = self.pending.borrow_mut();
                while ob.room() > 0 && !pending.is_empty() {
                    let bytes: usize = pending.iter().map(|r| r.payload.len() + 1).sum();
                    let full = pending.len() >= b.max_events || bytes >= b.max_bytes;
                    let due = drained || since.is_some_and(|t| t.elapsed() >= b.linger);
                    let result_first = pending.front().is_some_and(|r| r.event_type == RESULT_TYPE);
                    if !(full || due || result_first) {
                        break;
                    }
                    if let Some((id, ev)) = self.cut_batch(&mut pending, b) {
                        ob.admit_id(id, ev);
                    }
                }
                if pending.is_empty() {
                    since = None;
                }
                self.hand_over(&mut ob);
            }
            self.update_cursor();
            if more && self.outbox.borrow().room() > 0 {
                tokio::task::yield_now().await;
                continue;
            }
            if self.finished() {
                self.ctx.poller_wakes[self.idx].notify_one();
            }
            let wait_linger = since
                .filter(|_| self.outbox.borrow().room() > 0)
                .map(|t| t + b.linger);
            match wait_linger {
                Some(at) => {
                    tokio::select! {
                        () = self.ctx.feeder_wakes[self.idx].notified() => {}
                        () = tokio::time::sleep_until(at.into()) => {}
                    }
                }
                None => self.ctx.feeder_wakes[self.idx].notified().await,
            }
        }
    }

    /// Takes the next batch (or a lone command result) off `pending`.
    fn cut_batch(&self, pending: &mut VecDeque<Record>, b: &BatchConfig) -> Option<(u64, Event)> {
        let first = pending.front()?;
        if first.event_type == RESULT_TYPE {
            let r = pending.pop_front()?;
            let topic = self.topic_of(&r);
            let ev = Event {
                topic,
                payload: r.payload,
                batch: None,
            };
            return Some((r.seq, ev));
        }
        let first_seq = first.seq;
        let mut last_seq = first_seq;
        let mut lines = Vec::new();
        let mut count = 0u64;
        while let Some(r) = pending.front() {
            let too_big = count > 0
                && (count >= b.max_events as u64
                    || lines.len() + r.payload.len() + 1 > b.max_bytes);
            if r.event_type == RESULT_TYPE || too_big {
                break;
            }
            let Some(r) = pending.pop_front() else { break };
            lines.extend_from_slice(&r.payload);
            lines.push(b'\n');
            last_seq = r.seq;
            count += 1;
        }
        let (payload, zstd) = match b.zstd_level {
            Some(level) => match zstd::bulk::compress(&lines, level) {
                Ok(z) => (z, true),
                Err(e) => {
                    self.anomaly(format!("zstd failed, batch sent uncompressed: {e}"));
                    (lines, false)
                }
            },
            None => (lines, false),
        };
        let p = &self.ctx.id_prefix;
        let ev = Event {
            topic: format!("{}/{BATCH_LEVEL}", self.cfg.topic_prefix),
            payload,
            batch: Some(Box::new(BatchInfo {
                count,
                first_id: format!("{p}{first_seq}"),
                last_id: format!("{p}{last_seq}"),
                zstd,
            })),
        };
        Some((first_seq, ev))
    }

    /// Hands a received command to the application, within bounds.
    fn on_command(&self, topic: &str, payload: Vec<u8>, retained: bool) {
        if topic != self.rules_topic {
            return;
        }
        let c = &self.ctx.counters;
        if payload.len() > self.ctx.cfg.max_command_bytes {
            Counters::inc(&c.commands_refused);
            c.set_error(format!(
                "command on {topic} of {} bytes refused (max_command_bytes {})",
                payload.len(),
                self.ctx.cfg.max_command_bytes
            ));
            return;
        }
        let Some(tx) = &self.ctx.commands else { return };
        let cmd = Command {
            destination: self.cfg.name.clone(),
            topic: topic.to_string(),
            payload,
            retained,
            received: SystemTime::now(),
        };
        match tx.try_send(cmd) {
            Ok(()) => Counters::inc(&c.commands_received),
            Err(_) => {
                Counters::inc(&c.commands_refused);
                c.set_error(format!(
                    "command on {topic} refused: queue full or receiver gone"
                ));
            }
        }
    }

    /// The cursor is the first unacknowledged record, or the read position.
    fn update_cursor(&self) {
        let first = self
            .outbox
            .borrow()
            .first_id()
            .or_else(|| self.pending.borrow().front().map(|r| r.seq));
        let cursor = match first {
            Some(id) => id,
            None => self.ctx.shared.borrow().spool.read_seq(self.idx),
        };
        self.ctx.ack_until(self.idx, cursor);
    }

    fn hand_over(&self, outbox: &mut Outbox) {
        loop {
            let Some((topic, payload, batch, again)) = outbox
                .next_to_send()
                .map(|(e, again)| (e.topic.clone(), e.payload.clone(), e.batch.clone(), again))
            else {
                return;
            };
            match self
                .client
                .try_publish_event(topic, payload, batch.as_deref())
            {
                Ok(()) => {
                    if again {
                        Counters::inc(&self.counters.republished);
                    }
                }
                Err(e) => {
                    outbox.unhand();
                    self.anomaly(format!("rumqttc refused a publish: {e}"));
                    return;
                }
            }
        }
    }

    fn anomaly(&self, what: String) {
        Counters::inc(&self.counters.anomalies);
        self.counters.set_error(what);
    }

    fn publish_status(&self) {
        let status = self.ctx.status_json(self.idx, true);
        // QoS 0: yields `Outgoing::Publish(0)`, which the Outbox ignores.
        let _ =
            self.client
                .try_publish(self.cfg.status_topic.clone(), QoS::AtMostOnce, true, status);
    }

    /// Applies one notification; false if the connection must be reset.
    fn on_event(&self, event: &LinkEvent, eventloop: &mut Loop) -> bool {
        let result = match event {
            LinkEvent::ConnAck { session_present } => {
                Counters::inc(&self.counters.connections);
                if *session_present {
                    self.anomaly("broker claimed a session for a clean-session connect".into());
                }
                eventloop.forget_pending();
                self.publish_status();
                if self.cfg.commands {
                    if let Err(e) = self.client.try_subscribe(&self.rules_topic) {
                        self.anomaly(format!("cannot subscribe to {}: {e}", self.rules_topic));
                    }
                }
                let mut ob = self.outbox.borrow_mut();
                ob.on_connected();
                self.hand_over(&mut ob);
                Ok(())
            }
            LinkEvent::PubAck { pkid, refused } => {
                let weight = self.outbox.borrow().weight(*pkid);
                let r = self.outbox.borrow_mut().on_puback(*pkid);
                r.map(|seq| {
                    match refused {
                        None => {
                            self.counters.acked.fetch_add(weight, Ordering::Relaxed);
                        }
                        Some(why) => {
                            self.counters.refused.fetch_add(weight, Ordering::Relaxed);
                            self.counters.set_error(format!(
                                "broker refused event {seq} on {}/...: {why}",
                                self.cfg.topic_prefix
                            ));
                        }
                    }
                    self.update_cursor();
                    self.ctx.feeder_wakes[self.idx].notify_one();
                })
            }
            LinkEvent::OutPublish(0) => Ok(()),
            LinkEvent::OutPublish(p) => self.outbox.borrow_mut().on_outgoing_publish(*p),
            LinkEvent::AwaitAck(p) => self.outbox.borrow_mut().on_await_ack(*p),
            LinkEvent::Message {
                topic,
                payload,
                retained,
            } => {
                self.on_command(topic, payload.clone(), *retained);
                Ok(())
            }
            LinkEvent::SubAck(Some(why)) => {
                self.counters.set_error(format!(
                    "broker refused the subscription to {}: {why}",
                    self.rules_topic
                ));
                Ok(())
            }
            LinkEvent::SubAck(None) | LinkEvent::OutDisconnect | LinkEvent::Other => Ok(()),
        };
        match result {
            Ok(()) => true,
            Err(a) => {
                self.anomaly(match a {
                    Anomaly::UnexpectedPublish(p) => format!("unexpected publish notice pkid {p}"),
                    Anomaly::PkidInUse(p) => format!("packet id {p} reused while unacked"),
                    Anomaly::UnknownAck(p) => format!("PUBACK for unknown packet id {p}"),
                });
                false
            }
        }
    }

    fn on_connection_lost(&self, eventloop: &mut Loop) {
        for event in eventloop.buffered_acks() {
            self.on_event(&event, eventloop);
        }
        eventloop.forget_pending();
        let mut ob = self.outbox.borrow_mut();
        if ob.is_connected() {
            Counters::inc(&self.counters.disconnects);
        } else {
            Counters::inc(&self.counters.connect_failures);
        }
        ob.on_disconnected();
    }

    async fn poller(&self, eventloop: &mut Loop, shutdown: watch::Receiver<Option<Shutdown>>) {
        let plan = std::cell::Cell::new(None::<Shutdown>);
        let mut ack_deadline = pin!(async {
            let s = wait_shutdown(shutdown).await;
            plan.set(Some(s));
            tokio::time::sleep_until(s.ack_by.into()).await;
        });
        let stats_every = if self.ctx.cfg.stats_interval.is_zero() {
            Duration::from_secs(86_400 * 365)
        } else {
            self.ctx.cfg.stats_interval
        };
        let mut stats = tokio::time::interval(stats_every);
        stats.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        stats.tick().await;
        let mut backoff = BACKOFF_START;
        let backoff_max = self.cfg.reconnect_backoff_max.max(BACKOFF_START);
        loop {
            if self.finished() {
                break;
            }
            let res = tokio::select! {
                r = eventloop.poll() => r,
                () = &mut ack_deadline => break,
                () = self.ctx.poller_wakes[self.idx].notified() => continue,
                _ = stats.tick() => {
                    if self.outbox.borrow().is_connected() {
                        self.publish_status();
                    }
                    continue;
                }
            };
            match res {
                Ok(event) => {
                    if matches!(event, LinkEvent::ConnAck { .. }) {
                        backoff = BACKOFF_START;
                    }
                    if !self.on_event(&event, eventloop) {
                        eventloop.clean();
                        self.on_connection_lost(eventloop);
                    }
                }
                Err(e) => {
                    self.counters.set_error(e);
                    self.on_connection_lost(eventloop);
                    tokio::select! {
                        () = tokio::time::sleep(backoff) => {}
                        () = &mut ack_deadline => break,
                    }
                    backoff = (backoff * 2).min(backoff_max);
                }
            }
        }
        let hard_stop = plan
            .get()
            .map_or_else(|| Instant::now() + DISCONNECT_GRACE, |s| s.hard_stop);
        self.disconnect(eventloop, hard_stop).await;
    }

    /// Retained `offline`, then DISCONNECT, bounded by `hard_stop`.
    async fn disconnect(&self, eventloop: &mut Loop, hard_stop: Instant) {
        if !self.outbox.borrow().is_connected() {
            return;
        }
        let offline = self.ctx.status_json(self.idx, false);
        let _ = self.client.try_publish(
            self.cfg.status_topic.clone(),
            QoS::AtMostOnce,
            true,
            offline,
        );
        if !self.client.try_disconnect() {
            return;
        }
        let mut stop = pin!(tokio::time::sleep_until(hard_stop.into()));
        loop {
            tokio::select! {
                r = eventloop.poll() => match r {
                    Ok(LinkEvent::OutDisconnect) | Err(_) => return,
                    Ok(event) => {
                        if !self.on_event(&event, eventloop) {
                            return;
                        }
                    }
                },
                () = &mut stop => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn with_id(p: &[u8]) -> String {
        let mut b = Vec::new();
        write_with_id(&mut b, "s1:ab:", 7, p);
        String::from_utf8(b).unwrap()
    }

    #[test]
    fn event_id_is_the_first_member() {
        assert_eq!(with_id(br#"{"a":1}"#), r#"{"event_id":"s1:ab:7","a":1}"#);
        assert_eq!(with_id(b" {}"), r#"{"event_id":"s1:ab:7"}"#);
        assert_eq!(with_id(b"[1]"), "[1]");
        let v: serde_json::Value =
            serde_json::from_str(&with_id(br#"{"event_type":"alert","x":{"y":2}}"#)).unwrap();
        assert_eq!(v["event_id"], "s1:ab:7");
        assert!(
            event_id_overhead("s1") >= r#"{"event_id":"s1:12345678:18446744073709551615","#.len()
        );
    }

    #[test]
    fn timestamps_are_utc_civil_dates() {
        let t = |s: u64| utc_timestamp(SystemTime::UNIX_EPOCH + Duration::from_secs(s));
        assert_eq!(t(0), "1970-01-01T00:00:00+0000");
        assert_eq!(t(1_700_000_000), "2023-11-14T22:13:20+0000");
        assert_eq!(t(951_782_400), "2000-02-29T00:00:00+0000");
    }

    #[test]
    fn run_tracker_counts_ranges() {
        let mut r = RunTracker::default();
        for s in [5, 6, 7, 10, 11] {
            r.push(s);
        }
        assert_eq!(r.advance(4), 0);
        assert_eq!(r.advance(7), 2);
        assert_eq!(r.advance(11), 2);
        assert_eq!(r.advance(100), 1);
        assert_eq!(r.advance(200), 0);
    }
}
