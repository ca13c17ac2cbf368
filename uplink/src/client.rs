//! The public handle ([`Uplink`]), the producer handle ([`EventSender`]) and
//! the background worker that drives rumqttc.
//!
//! Threading model: producers (capture workers, replay loop) push into a
//! bounded tokio channel; one dedicated OS thread runs a current-thread tokio
//! runtime with two cooperating futures sharing state through a `RefCell`
//! (no locks, same task):
//!
//! * the *feeder* moves events from the channel into the [`Outbox`] while it
//!   has room and hands them to rumqttc's request channel when connected;
//! * the *poller* drives `EventLoop::poll`, feeds its notifications into the
//!   [`Outbox`], reconnects with capped exponential backoff, and stops at the
//!   deadline given by [`Uplink::finish`].
//!
//! `EventLoop::poll` is never cancelled except when the worker is exiting, so
//! rumqttc's internal state is never left half-updated. Protocol decisions
//! live in [`crate::state`]; this file only moves data between the pieces.

use std::cell::RefCell;
use std::pin::pin;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rumqttc::{
    AsyncClient, ConnectionError, Event as MqttEvent, EventLoop, MqttOptions, NetworkOptions,
    Outgoing, Packet, QoS,
};
use tokio::sync::{mpsc, watch, Notify};

use crate::config::{topic_for, BrokerAddr, MqttConfig, PACKET_OVERHEAD};
use crate::destination::UplinkConfig;
use crate::error::UplinkError;
use crate::report::{Counters, UplinkReport};
use crate::state::{Anomaly, Event, Outbox};

pub(crate) const BACKOFF_START: Duration = Duration::from_millis(100);
/// Longest time `finish` reserves for a clean DISCONNECT after the ack wait.
pub(crate) const DISCONNECT_GRACE: Duration = Duration::from_millis(250);
/// Longer `finish` timeouts are treated as this (one year).
const MAX_FINISH_TIMEOUT: Duration = Duration::from_secs(365 * 24 * 3600);
/// Time `finish` keeps for the worker to exit and be joined.
const EXIT_MARGIN: Duration = Duration::from_millis(30);

/// When the worker must stop waiting for acks, and when it must be gone.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Shutdown {
    pub(crate) ack_by: Instant,
    pub(crate) hard_stop: Instant,
}

/// A running MQTT uplink. Create with [`Uplink::start`], hand out
/// [`EventSender`]s, and call [`Uplink::finish`] at the end of the run.
///
/// Dropping an `Uplink` without `finish` stops the worker promptly; events
/// not yet acknowledged are abandoned.
#[derive(Debug)]
pub struct Uplink {
    sender: EventSender,
    shutdown: watch::Sender<Option<Shutdown>>,
    done: std::sync::mpsc::Receiver<()>,
    thread: Option<JoinHandle<()>>,
    counters: Arc<Counters>,
    commands: std::sync::Mutex<Option<std::sync::mpsc::Receiver<Command>>>,
    has_commands: bool,
}

/// Topic level(s) after `cirt/<sensor id>/` where rule bundles arrive.
pub const RULES_TOPIC_SUFFIX: &str = "cmd/rules";
/// Topic level(s) after `cirt/<sensor id>/` where command results go.
pub const RESULT_TOPIC_SUFFIX: &str = "cmd/result";
/// Channel marker of a command result (not a valid event type, so
/// producers cannot forge it).
pub(crate) const RESULT_MARKER: &str = "cmd/result";

/// Outcome of a command, for [`Uplink::publish_result`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandResult {
    /// Which command (`rules`).
    pub command: String,
    /// True if applied (e.g. the new rules run now).
    pub applied: bool,
    /// Version of what was applied or refused (the bundle's manifest version), if known.
    pub version: Option<String>,
    /// Why it was refused (or a note), if anything.
    pub reason: Option<String>,
}

impl CommandResult {
    /// `{"event_type":"command_result","timestamp":...,"command":"rules",
    /// "status":"applied"|"rejected","version":...,"reason":...}`.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::json!({
            "event_type": "command_result",
            "timestamp": crate::engine::utc_timestamp(std::time::SystemTime::now()),
            "command": self.command,
            "status": if self.applied { "applied" } else { "rejected" },
            "version": self.version,
            "reason": self.reason,
        })
        .to_string()
        .into_bytes()
    }
}

/// A message received on `cirt/<sensor id>/cmd/rules` of a destination with
/// [`crate::DestinationConfig::commands`] (see [`Uplink::commands`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// Destination (broker) it came from.
    pub destination: String,
    /// Full topic.
    pub topic: String,
    /// Payload as received (a signed bundle, for `cmd/rules`: verify it
    /// with [`crate::bundle::verify`]).
    pub payload: Vec<u8>,
    /// Whether the broker delivered it as a retained message.
    pub retained: bool,
    /// When it was received.
    pub received: std::time::SystemTime,
}

impl Uplink {
    /// Validates `cfg` and starts the background thread. Returns at once; the
    /// connection is made (and retried) in the background, so a broker that is
    /// down at start is not an error.
    pub fn start(cfg: MqttConfig) -> Result<Uplink, UplinkError> {
        cfg.validate()?;
        let addr = cfg.broker_addr()?;
        let counters = Arc::new(Counters::default());
        let shared = SenderShared {
            counters: Arc::clone(&counters),
            topic_prefix: Some(cfg.topic_prefix.clone()),
            max_packet_size: cfg.max_packet_size,
            overhead: PACKET_OVERHEAD,
        };
        let capacity = cfg.channel_capacity;
        Self::spawn(counters, shared, capacity, move |rx, shutdown_rx, c| {
            Box::pin(async move { run(cfg, addr, rx, shutdown_rx, &c).await })
        })
    }

    /// Starts the uplink with a disk spool and any number of destinations
    /// (see [`crate::engine`] for the delivery model).
    ///
    /// Validates the configuration, reads the TLS files and opens (and if
    /// needed recovers) the spool before returning, so that each of those
    /// problems is an error here, with the file or destination named.
    /// Events still spooled from an earlier run are sent again.
    pub fn start_with(cfg: UplinkConfig) -> Result<Uplink, UplinkError> {
        cfg.validate()?;
        let mut tls = Vec::new();
        for d in &cfg.destinations {
            tls.push(d.rustls_config()?);
        }
        let spool = crate::engine::open_spool(&cfg)?;
        let counters = Arc::new(Counters {
            dests: cfg
                .destinations
                .iter()
                .map(|d| crate::report::DestCounters {
                    name: d.name.clone(),
                    ..Default::default()
                })
                .collect(),
            rules_version: std::sync::Mutex::new(cfg.rules_version.clone()),
            ..Default::default()
        });
        let longest_prefix = cfg
            .destinations
            .iter()
            .map(|d| d.topic_prefix.len())
            .max()
            .unwrap_or(0);
        let shared = SenderShared {
            counters: Arc::clone(&counters),
            topic_prefix: None,
            max_packet_size: cfg.max_packet_size,
            overhead: PACKET_OVERHEAD
                + longest_prefix
                + 1
                + crate::engine::event_id_overhead(&cfg.sensor_id),
        };
        let capacity = cfg.channel_capacity;
        let has_commands = cfg.destinations.iter().any(|d| d.commands);
        let (cmd_tx, cmd_rx) = std::sync::mpsc::sync_channel(cfg.command_queue);
        let cmd_tx = has_commands.then_some(cmd_tx);
        let mut up = Self::spawn(counters, shared, capacity, move |rx, shutdown_rx, c| {
            Box::pin(crate::engine::run(
                cfg,
                tls,
                spool,
                rx,
                shutdown_rx,
                c,
                cmd_tx,
            ))
        })?;
        if has_commands {
            up.commands = std::sync::Mutex::new(Some(cmd_rx));
            up.has_commands = true;
        }
        Ok(up)
    }

    fn spawn(
        counters: Arc<Counters>,
        shared: SenderShared,
        capacity: usize,
        make: impl FnOnce(
                mpsc::Receiver<Event>,
                watch::Receiver<Option<Shutdown>>,
                Arc<Counters>,
            ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>
            + Send
            + 'static,
    ) -> Result<Uplink, UplinkError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(UplinkError::Spawn)?;
        let (tx, rx) = mpsc::channel(capacity);
        let (shutdown, shutdown_rx) = watch::channel(None);
        let (done_tx, done) = std::sync::mpsc::channel();
        let sender = EventSender {
            tx,
            shared: Arc::new(shared),
        };
        let worker_counters = Arc::clone(&counters);
        let thread = std::thread::Builder::new()
            .name("uplink-mqtt".to_string())
            .spawn(move || {
                let local = tokio::task::LocalSet::new();
                local.block_on(&runtime, make(rx, shutdown_rx, worker_counters));
                drop(local);
                runtime.shutdown_background();
                let _ = done_tx.send(());
            })
            .map_err(UplinkError::Spawn)?;
        Ok(Uplink {
            sender,
            shutdown,
            done,
            thread: Some(thread),
            counters,
            commands: std::sync::Mutex::new(None),
            has_commands: false,
        })
    }

    /// The receiver of commands (rule bundles) from destinations with
    /// [`crate::DestinationConfig::commands`]; `Some` on the first call only
    /// (and only for [`Uplink::start_with`] with such a destination).
    ///
    /// The queue is bounded ([`UplinkConfig::command_queue`]); payloads
    /// above [`UplinkConfig::max_command_bytes`] and commands arriving while
    /// the queue is full are dropped and counted in
    /// [`UplinkReport::commands_refused`]. The receiver may be moved to any
    /// thread; `recv` blocks, `try_recv`/`recv_timeout` do not.
    pub fn commands(&self) -> Option<std::sync::mpsc::Receiver<Command>> {
        self.commands.lock().ok().and_then(|mut g| g.take())
    }

    /// Publishes the outcome of a command to `cirt/<sensor id>/cmd/result`
    /// on every destination with commands, through the spool (so it
    /// survives an outage like an event; it gets an `event_id` too).
    /// `result` should be a JSON object (see [`crate::CommandResult`]).
    /// Never blocks: fails with [`UplinkError::SendTimeout`] (zero) if the
    /// channel is full, [`UplinkError::Closed`] after `finish`, and
    /// [`UplinkError::InvalidConfig`] if no destination takes commands.
    pub fn publish_result(&self, result: Vec<u8>) -> Result<(), UplinkError> {
        if !self.has_commands {
            return Err(UplinkError::InvalidConfig(
                "no destination has commands = true".into(),
            ));
        }
        self.sender
            .tx
            .try_send(Event {
                topic: RESULT_MARKER.to_string(),
                payload: result,
                batch: None,
            })
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => UplinkError::SendTimeout(Duration::ZERO),
                mpsc::error::TrySendError::Closed(_) => UplinkError::Closed,
            })
    }

    /// A new handle for producers. Cheap to clone; `Send + Sync`.
    pub fn sender(&self) -> EventSender {
        self.sender.clone()
    }

    /// Sets the rule set version reported in the next status messages
    /// (after a rule update; [`Uplink::start_with`] only).
    pub fn set_rules_version(&self, version: &str) {
        if let Ok(mut g) = self.counters.rules_version.lock() {
            *g = Some(version.to_string());
        }
    }

    /// Current counters (live; `unacked` includes events still in flight).
    pub fn stats(&self) -> UplinkReport {
        self.counters.snapshot()
    }

    /// Closes the input (later sends fail with [`UplinkError::Closed`]),
    /// publishes what is still queued, waits until every accepted event is
    /// acknowledged or `timeout` expires, disconnects cleanly and joins the
    /// thread. Always returns within about `timeout`.
    ///
    /// Not getting every ack is not an error: check
    /// [`UplinkReport::unacked`]. `Err` means the worker thread panicked or
    /// hung; the error still carries the counters.
    pub fn finish(mut self, timeout: Duration) -> Result<UplinkReport, UplinkError> {
        // Keep `Instant` arithmetic far from overflow for absurd timeouts.
        let timeout = timeout.min(MAX_FINISH_TIMEOUT);
        let start = Instant::now();
        // The worker must be done a little before `timeout` so that joining
        // it still fits.
        let hard_stop = start + timeout.saturating_sub(EXIT_MARGIN.min(timeout / 10));
        let grace = DISCONNECT_GRACE.min(timeout / 5);
        let _ = self.shutdown.send(Some(Shutdown {
            ack_by: hard_stop - grace,
            hard_stop,
        }));
        // Normally the worker reports before `timeout`; allow some scheduling
        // slack before declaring it hung.
        let wait = timeout + Duration::from_millis(100);
        let result = self.done.recv_timeout(wait);
        let report = self.counters.snapshot();
        match result {
            Ok(()) | Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                let joined = self.thread.take().map(JoinHandle::join);
                match joined {
                    Some(Err(_)) => Err(UplinkError::Worker {
                        reason: "uplink thread panicked".to_string(),
                        report: Box::new(report),
                    }),
                    _ => Ok(report),
                }
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => Err(UplinkError::Worker {
                reason: format!("uplink thread did not stop within {timeout:?}"),
                report: Box::new(report),
            }),
        }
    }
}

impl Drop for Uplink {
    fn drop(&mut self) {
        // Without `finish`, ask the worker to stop now; do not wait for it.
        let now = Instant::now();
        let _ = self.shutdown.send(Some(Shutdown {
            ack_by: now,
            hard_stop: now + Duration::from_millis(100),
        }));
    }
}

#[derive(Debug)]
struct SenderShared {
    counters: Arc<Counters>,
    /// `Some`: the channel carries whole topics (single-broker uplink).
    /// `None`: it carries the event type; destinations add their prefix.
    topic_prefix: Option<String>,
    max_packet_size: usize,
    /// Bytes added to topic + payload when checking the size limit.
    overhead: usize,
}

/// Producer handle: publishes serialised events through the uplink.
///
/// Use [`EventSender::try_send`] on live-capture paths (never blocks; a full
/// channel drops and counts the event) and [`EventSender::send`] in replay
/// (blocks until there is room, so nothing is dropped).
#[derive(Debug, Clone)]
pub struct EventSender {
    tx: mpsc::Sender<Event>,
    shared: Arc<SenderShared>,
}

impl EventSender {
    /// Queues `payload` for topic `<prefix>/<event_type>`, blocking while the
    /// channel is full (backpressure for replay).
    ///
    /// Errors: invalid event type, event too large, or uplink closed; each is
    /// counted as a drop in the report. If the broker never comes back this
    /// waits until [`Uplink::finish`] closes the uplink from another thread;
    /// use [`EventSender::send_timeout`] to bound the wait. Called on a tokio
    /// runtime thread it still works (by short sleeps instead of parking),
    /// but blocks that thread; prefer [`EventSender::send_async`] there.
    pub fn send(&self, event_type: &str, payload: Vec<u8>) -> Result<(), UplinkError> {
        let event = self.prepare(event_type, payload)?;
        self.count_accepted();
        if tokio::runtime::Handle::try_current().is_ok() {
            // `blocking_send` would panic inside a runtime.
            return self.send_polling(event, None);
        }
        self.tx
            .blocking_send(event)
            .map_err(|_| self.count_closed())
    }

    /// Like [`EventSender::send`], but gives up after `timeout` if the
    /// channel stays full (e.g. the broker is unreachable during a replay).
    /// A timed-out event is dropped and counted as `dropped_send_timeout`.
    /// Works on any thread; waits by short sleeps, not on a runtime.
    pub fn send_timeout(
        &self,
        event_type: &str,
        payload: Vec<u8>,
        timeout: Duration,
    ) -> Result<(), UplinkError> {
        let event = self.prepare(event_type, payload)?;
        self.count_accepted();
        self.send_polling(event, Instant::now().checked_add(timeout))
            .map_err(|e| match e {
                UplinkError::SendTimeout(_) => UplinkError::SendTimeout(timeout),
                other => other,
            })
    }

    /// Retries `try_send` with growing sleeps (100 µs .. 10 ms). `accepted`
    /// has already been counted by the caller.
    fn send_polling(&self, mut event: Event, deadline: Option<Instant>) -> Result<(), UplinkError> {
        let mut pause = Duration::from_micros(100);
        loop {
            match self.tx.try_send(event) {
                Ok(()) => return Ok(()),
                Err(mpsc::error::TrySendError::Closed(_)) => return Err(self.count_closed()),
                Err(mpsc::error::TrySendError::Full(back)) => {
                    event = back;
                    let now = Instant::now();
                    let mut nap = pause;
                    if let Some(deadline) = deadline {
                        if now >= deadline {
                            self.uncount_accepted();
                            Counters::inc(&self.shared.counters.dropped_send_timeout);
                            return Err(UplinkError::SendTimeout(Duration::ZERO));
                        }
                        nap = nap.min(deadline - now);
                    }
                    std::thread::sleep(nap);
                    pause = (pause * 2).min(Duration::from_millis(10));
                }
            }
        }
    }

    /// Like [`EventSender::send`], for async callers: waits for room.
    pub async fn send_async(&self, event_type: &str, payload: Vec<u8>) -> Result<(), UplinkError> {
        let event = self.prepare(event_type, payload)?;
        self.count_accepted();
        self.tx.send(event).await.map_err(|_| self.count_closed())
    }

    /// Queues the event if there is room right now. Never blocks. Returns
    /// false if the event was dropped; the reason is counted
    /// (`dropped_channel_full`, `dropped_too_large`,
    /// `dropped_invalid_event_type`, `dropped_closed`).
    pub fn try_send(&self, event_type: &str, payload: Vec<u8>) -> bool {
        let Ok(event) = self.prepare(event_type, payload) else {
            return false;
        };
        self.count_accepted();
        match self.tx.try_send(event) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.uncount_accepted();
                Counters::inc(&self.shared.counters.dropped_channel_full);
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                self.count_closed();
                false
            }
        }
    }

    /// Builds the topic and checks the size limit, counting rejections.
    fn prepare(&self, event_type: &str, payload: Vec<u8>) -> Result<Event, UplinkError> {
        let c = &self.shared.counters;
        let topic = match &self.shared.topic_prefix {
            Some(prefix) => topic_for(prefix, event_type),
            None => crate::config::check_level(event_type).map(|()| event_type.to_string()),
        }
        .inspect_err(|_| {
            Counters::inc(&c.dropped_invalid_event_type);
        })?;
        let size = topic.len() + payload.len();
        let max = self.shared.max_packet_size;
        if size + self.shared.overhead > max {
            Counters::inc(&c.dropped_too_large);
            return Err(UplinkError::TooLarge { size, max });
        }
        Ok(Event {
            topic,
            payload,
            batch: None,
        })
    }

    // `accepted` is raised before the event enters the channel so that a
    // snapshot never shows more acks than accepted events.
    fn count_accepted(&self) {
        Counters::inc(&self.shared.counters.accepted);
    }

    fn uncount_accepted(&self) {
        self.shared
            .counters
            .accepted
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }

    fn count_closed(&self) -> UplinkError {
        self.uncount_accepted();
        Counters::inc(&self.shared.counters.dropped_closed);
        UplinkError::Closed
    }
}

/// Worker state shared by the feeder and the poller (same task).
struct Core {
    outbox: Outbox,
    input_done: bool,
}

impl Core {
    fn finished(&self) -> bool {
        self.input_done && self.outbox.is_empty()
    }
}

fn mqtt_options(cfg: &MqttConfig, addr: &BrokerAddr) -> MqttOptions {
    let mut opts = MqttOptions::new(cfg.client_id.clone(), addr.host.clone(), addr.port);
    opts.set_keep_alive(cfg.keep_alive)
        // Clean session: rumqttc then drops its own copy of unacked publishes
        // on reconnect, and the Outbox republishes them exactly once.
        .set_clean_session(true)
        .set_inflight(cfg.max_inflight)
        .set_max_packet_size(cfg.max_packet_size, cfg.max_packet_size)
        .set_pending_throttle(Duration::ZERO);
    opts
}

async fn run(
    cfg: MqttConfig,
    addr: BrokerAddr,
    mut input: mpsc::Receiver<Event>,
    shutdown: watch::Receiver<Option<Shutdown>>,
    counters: &Counters,
) {
    let window = usize::from(cfg.max_inflight);
    // Room for every event the Outbox may hand over plus a DISCONNECT, so
    // `try_publish` never fails for lack of space.
    let (client, mut eventloop) = AsyncClient::new(mqtt_options(&cfg, &addr), window + 8);
    let mut net = NetworkOptions::new();
    net.set_connection_timeout(cfg.connect_timeout.as_secs().max(1));
    eventloop.set_network_options(net);

    let core = RefCell::new(Core {
        outbox: Outbox::new(window),
        input_done: false,
    });
    let feeder_wake = Notify::new();
    let poller_wake = Notify::new();
    let w = Worker {
        core: &core,
        client: &client,
        counters,
        feeder_wake: &feeder_wake,
        poller_wake: &poller_wake,
    };
    tokio::select! {
        () = w.feeder(&mut input, shutdown.clone()) => {}
        () = w.poller(&mut eventloop, shutdown, cfg.reconnect_backoff_max) => {}
    }
}

/// Resolves with the shutdown plan once `finish` (or drop) sent one.
pub(crate) async fn wait_shutdown(mut rx: watch::Receiver<Option<Shutdown>>) -> Shutdown {
    loop {
        if let Some(s) = *rx.borrow_and_update() {
            return s;
        }
        if rx.changed().await.is_err() {
            let now = Instant::now();
            return Shutdown {
                ack_by: now,
                hard_stop: now,
            };
        }
    }
}

struct Worker<'a> {
    core: &'a RefCell<Core>,
    client: &'a AsyncClient,
    counters: &'a Counters,
    feeder_wake: &'a Notify,
    poller_wake: &'a Notify,
}

impl Worker<'_> {
    /// Moves events from the input channel into the Outbox. Never returns;
    /// it is dropped when the poller ends.
    async fn feeder(
        &self,
        input: &mut mpsc::Receiver<Event>,
        shutdown: watch::Receiver<Option<Shutdown>>,
    ) {
        let mut shutdown_fut = pin!(wait_shutdown(shutdown));
        let mut closing = false;
        loop {
            let has_room = self.core.borrow().outbox.has_room();
            if !has_room {
                tokio::select! {
                    () = self.feeder_wake.notified() => {}
                    _ = &mut shutdown_fut, if !closing => {
                        input.close();
                        closing = true;
                    }
                }
                continue;
            }
            let msg = tokio::select! {
                m = input.recv() => m,
                _ = &mut shutdown_fut, if !closing => {
                    // Refuse new events; the ones already queued are drained.
                    input.close();
                    closing = true;
                    continue;
                }
            };
            let input_done = {
                let mut core = self.core.borrow_mut();
                match msg {
                    Some(event) => {
                        core.outbox.admit(event);
                        self.hand_over(&mut core.outbox);
                        false
                    }
                    None => {
                        core.input_done = true;
                        if core.outbox.is_empty() {
                            self.poller_wake.notify_one();
                        }
                        true
                    }
                }
            };
            if input_done {
                // Nothing more to feed; the poller decides when to stop.
                std::future::pending::<()>().await;
            }
        }
    }

    /// Gives every sendable Outbox event to rumqttc.
    fn hand_over(&self, outbox: &mut Outbox) {
        loop {
            let Some((topic, payload, again)) = outbox
                .next_to_send()
                .map(|(e, again)| (e.topic.clone(), e.payload.clone(), again))
            else {
                return;
            };
            match self
                .client
                .try_publish(topic, QoS::AtLeastOnce, false, payload)
            {
                Ok(()) => {
                    if again {
                        Counters::inc(&self.counters.republished);
                    }
                }
                Err(e) => {
                    // Only possible if the request channel is full or gone;
                    // keep the event and retry on the next hand-over.
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

    /// Applies one rumqttc notification. Returns false if the bookkeeping no
    /// longer matches rumqttc and the connection must be reset.
    fn on_event(&self, event: &MqttEvent, eventloop: &mut EventLoop) -> bool {
        let mut core = self.core.borrow_mut();
        let outbox = &mut core.outbox;
        let result = match event {
            MqttEvent::Incoming(Packet::ConnAck(ack)) => {
                Counters::inc(&self.counters.connections);
                if ack.session_present {
                    // We asked for a clean session; never let rumqttc replay
                    // its copy on top of ours.
                    self.anomaly("broker claimed a session for a clean-session connect".into());
                }
                eventloop.pending.clear();
                outbox.on_connected();
                self.hand_over(outbox);
                Ok(())
            }
            MqttEvent::Incoming(Packet::PubAck(ack)) => outbox.on_puback(ack.pkid).map(|_| {
                Counters::inc(&self.counters.acked);
                self.feeder_wake.notify_one();
            }),
            MqttEvent::Outgoing(Outgoing::Publish(pkid)) => outbox.on_outgoing_publish(*pkid),
            MqttEvent::Outgoing(Outgoing::AwaitAck(pkid)) => outbox.on_await_ack(*pkid),
            _ => Ok(()),
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

    /// The connection is gone (or is being reset): apply notifications rumqttc
    /// buffered before the failure, then queue everything unacked again.
    fn on_connection_lost(&self, eventloop: &mut EventLoop) {
        let buffered: Vec<MqttEvent> = eventloop.state.events.drain(..).collect();
        for event in &buffered {
            // Acks read before the failure are real; anything else is moot.
            if let MqttEvent::Incoming(Packet::PubAck(_)) = event {
                self.on_event(event, eventloop);
            }
        }
        eventloop.state.collision = None;
        eventloop.pending.clear();
        let mut core = self.core.borrow_mut();
        if core.outbox.is_connected() {
            Counters::inc(&self.counters.disconnects);
        } else {
            Counters::inc(&self.counters.connect_failures);
        }
        core.outbox.on_disconnected();
    }

    async fn poller(
        &self,
        eventloop: &mut EventLoop,
        shutdown: watch::Receiver<Option<Shutdown>>,
        backoff_max: Duration,
    ) {
        let plan = std::cell::Cell::new(None::<Shutdown>);
        let mut ack_deadline = pin!(async {
            let s = wait_shutdown(shutdown).await;
            plan.set(Some(s));
            tokio::time::sleep_until(s.ack_by.into()).await;
        });
        let mut backoff = BACKOFF_START;
        loop {
            if self.core.borrow().finished() {
                break;
            }
            let res = tokio::select! {
                r = eventloop.poll() => r,
                () = &mut ack_deadline => break,
                () = self.poller_wake.notified() => continue,
            };
            match res {
                Ok(event) => {
                    if matches!(event, MqttEvent::Incoming(Packet::ConnAck(_))) {
                        backoff = BACKOFF_START;
                    }
                    if !self.on_event(&event, eventloop) {
                        eventloop.clean();
                        self.on_connection_lost(eventloop);
                    }
                }
                Err(e) => {
                    self.counters.set_error(describe(&e));
                    self.on_connection_lost(eventloop);
                    tokio::select! {
                        () = tokio::time::sleep(backoff) => {}
                        () = &mut ack_deadline => break,
                    }
                    backoff = (backoff * 2).min(backoff_max.max(BACKOFF_START));
                }
            }
        }
        let hard_stop = plan
            .get()
            .map_or_else(|| Instant::now() + DISCONNECT_GRACE, |s| s.hard_stop);
        self.disconnect(eventloop, hard_stop).await;
    }

    /// Best-effort DISCONNECT, bounded by `hard_stop`. Late PUBACKs that
    /// arrive meanwhile are still counted.
    async fn disconnect(&self, eventloop: &mut EventLoop, hard_stop: Instant) {
        if !self.core.borrow().outbox.is_connected() || self.client.try_disconnect().is_err() {
            return;
        }
        let stop = tokio::time::sleep_until(hard_stop.into());
        let mut stop = pin!(stop);
        loop {
            tokio::select! {
                r = eventloop.poll() => match r {
                    Ok(MqttEvent::Outgoing(Outgoing::Disconnect)) | Err(_) => return,
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

fn describe(e: &ConnectionError) -> String {
    match e {
        ConnectionError::ConnectionRefused(code) => format!("broker refused connection: {code:?}"),
        ConnectionError::NetworkTimeout => "timed out connecting to broker".to_string(),
        other => other.to_string(),
    }
}
