//! Replay with several workers: one reader spreads frames over worker threads by a symmetric
//! flow hash, so each flow lives on exactly one worker and no flow state is shared.
//!
//! Frames travel in batches (one copy of the bytes into a batch buffer, amortising channel
//! costs over many packets); batches and event buffers come back to their sender through
//! return channels and are reused, so once the pools are warm nothing is allocated per
//! packet. The channels are bounded: a slow worker slows the reader, it does not grow memory.
//! Workers never touch the EVE file or the uplink: they hand serialised events to the
//! caller's thread, which is the only writer, so there is no lock on the hot path.

use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::Arc;
use std::thread;

use signatures::RuleSet;

use super::output::EventSink;
use super::stats::WorkerStats;
use super::worker::{Worker, WorkerConfig};
use crate::capture::{Frame, Timestamp};
use crate::decode::{innermost, LinkType};
use crate::flow::FlowKey;

/// Frames per batch.
const BATCH_FRAMES: usize = 256;
/// Batches in flight per worker (the pool size; also bounds the memory per worker).
const BATCHES_PER_WORKER: usize = 4;

#[derive(Debug, Clone, Copy)]
struct FrameMeta {
    start: usize,
    end: usize,
    ts: Timestamp,
    wire_len: u32,
    link: LinkType,
    pcap_cnt: u64,
}

/// A run of frames for one worker, stored back to back.
#[derive(Debug, Default)]
struct FrameBatch {
    bytes: Vec<u8>,
    frames: Vec<FrameMeta>,
    /// Set on the last batch: end every flow at this packet time after the frames.
    shutdown_at: Option<i64>,
}

impl FrameBatch {
    fn with_capacity() -> FrameBatch {
        FrameBatch {
            bytes: Vec::with_capacity(BATCH_FRAMES * 1600),
            frames: Vec::with_capacity(BATCH_FRAMES),
            shutdown_at: None,
        }
    }

    fn push(&mut self, f: &Frame<'_>, pcap_cnt: u64) {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(f.data);
        self.frames.push(FrameMeta {
            start,
            end: self.bytes.len(),
            ts: f.ts,
            wire_len: f.wire_len,
            link: f.link,
            pcap_cnt,
        });
    }

    fn clear(&mut self) {
        self.bytes.clear();
        self.frames.clear();
        self.shutdown_at = None;
    }
}

/// Serialised events from one worker batch: records back to back, with their types.
#[derive(Debug, Default)]
struct EventBatch {
    worker: usize,
    bytes: Vec<u8>,
    records: Vec<(&'static str, usize)>,
}

impl EventSink for EventBatch {
    fn emit(&mut self, event_type: &'static str, record: &[u8]) -> std::io::Result<()> {
        self.bytes.extend_from_slice(record);
        self.records.push((event_type, self.bytes.len()));
        Ok(())
    }
}

struct WorkerHandle {
    to_worker: SyncSender<FrameBatch>,
    events_back: SyncSender<EventBatch>,
    free: Receiver<FrameBatch>,
    filling: FrameBatch,
    allocated: usize,
    thread: thread::JoinHandle<WorkerStats>,
}

/// The reader's side of a multi-worker replay.
pub struct Dispatcher {
    workers: Vec<WorkerHandle>,
    events: Receiver<EventBatch>,
}

impl std::fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dispatcher")
            .field("workers", &self.workers.len())
            .finish()
    }
}

impl Dispatcher {
    /// Starts `n` worker threads.
    pub fn start(
        n: usize,
        rules: &Arc<RuleSet>,
        cfg: &WorkerConfig,
    ) -> std::io::Result<Dispatcher> {
        let (events_tx, events) = mpsc::sync_channel::<EventBatch>(n * BATCHES_PER_WORKER);
        let mut workers = Vec::with_capacity(n);
        // Thresholds count across workers, as in Suricata: all share the first one's table.
        let mut pool: Vec<Worker> = Vec::with_capacity(n);
        for _ in 0..n {
            let mut worker = Worker::new(Arc::clone(rules), cfg.clone());
            if let Some(first) = pool.first() {
                worker.share_thresholds_with(first);
            }
            pool.push(worker);
        }
        for (i, mut worker) in pool.into_iter().enumerate() {
            let (to_worker, from_reader) = mpsc::sync_channel::<FrameBatch>(BATCHES_PER_WORKER);
            let (to_free, free) = mpsc::sync_channel::<FrameBatch>(BATCHES_PER_WORKER);
            let events_tx = events_tx.clone();
            let (events_back, events_free) = mpsc::sync_channel::<EventBatch>(BATCHES_PER_WORKER);
            let thread = thread::Builder::new()
                .name(format!("worker-{i}"))
                .spawn(move || {
                    for mut batch in from_reader {
                        // Recycled event buffers are taken without waiting; a worker that
                        // finds none starts a fresh one (bounded by the channel capacity).
                        let mut events = events_free.try_recv().unwrap_or(EventBatch {
                            worker: i,
                            ..EventBatch::default()
                        });
                        for m in &batch.frames {
                            let Some(data) = batch.bytes.get(m.start..m.end) else {
                                continue;
                            };
                            let frame = Frame {
                                ts: m.ts,
                                wire_len: m.wire_len,
                                data,
                                link: m.link,
                            };
                            // An EventBatch cannot fail to take an event.
                            let _ = worker.process(&frame, m.pcap_cnt, &mut events);
                        }
                        if let Some(now) = batch.shutdown_at {
                            let _ = worker.shutdown(now, &mut events);
                        }
                        if !events.records.is_empty() && events_tx.send(events).is_err() {
                            break;
                        }
                        batch.clear();
                        if to_free.send(batch).is_err() {
                            break;
                        }
                    }
                    worker.stats()
                })?;
            workers.push(WorkerHandle {
                to_worker,
                events_back,
                free,
                filling: FrameBatch::with_capacity(),
                allocated: 1,
                thread,
            });
        }
        Ok(Dispatcher { workers, events })
    }

    /// Queues a frame for the worker that owns its flow, delivering any finished events to
    /// `sink` meanwhile.
    pub fn dispatch(
        &mut self,
        frame: &Frame<'_>,
        pcap_cnt: u64,
        sink: &mut impl EventSink,
    ) -> std::io::Result<()> {
        let n = self.workers.len();
        let idx = match innermost(frame.link, frame.data) {
            Ok(p) => (FlowKey::of(&p).spread_hash() % n as u64) as usize,
            Err(_) => 0,
        };
        let Some(w) = self.workers.get_mut(idx) else {
            return Ok(());
        };
        w.filling.push(frame, pcap_cnt);
        if w.filling.frames.len() >= BATCH_FRAMES {
            self.send_batch(idx, sink)?;
        }
        self.deliver_ready(sink)
    }

    fn send_batch(&mut self, idx: usize, sink: &mut impl EventSink) -> std::io::Result<()> {
        loop {
            let Some(w) = self.workers.get_mut(idx) else {
                return Ok(());
            };
            let next = if let Ok(b) = w.free.try_recv() {
                b
            } else if w.allocated < BATCHES_PER_WORKER {
                w.allocated += 1;
                FrameBatch::with_capacity()
            } else {
                // All batches are out: deliver events (the worker may be waiting on us),
                // then wait a little for one to come back.
                self.deliver_ready(sink)?;
                match self
                    .workers
                    .get_mut(idx)
                    .map(|w| w.free.recv_timeout(std::time::Duration::from_millis(1)))
                {
                    Some(Ok(b)) => b,
                    Some(Err(mpsc::RecvTimeoutError::Timeout)) => continue,
                    _ => return Err(worker_gone()),
                }
            };
            let Some(w) = self.workers.get_mut(idx) else {
                return Ok(());
            };
            let full = std::mem::replace(&mut w.filling, next);
            return w.to_worker.send(full).map_err(|_| worker_gone());
        }
    }

    fn deliver_ready(&mut self, sink: &mut impl EventSink) -> std::io::Result<()> {
        while let Ok(batch) = self.events.try_recv() {
            self.deliver(batch, sink)?;
        }
        Ok(())
    }

    fn deliver(&self, mut batch: EventBatch, sink: &mut impl EventSink) -> std::io::Result<()> {
        let mut start = 0;
        for &(kind, end) in &batch.records {
            if let Some(record) = batch.bytes.get(start..end) {
                sink.emit(kind, record)?;
            }
            start = end;
        }
        batch.bytes.clear();
        batch.records.clear();
        if let Some(w) = self.workers.get(batch.worker) {
            // A full return channel just means the buffer is freed instead of reused.
            let _ = w.events_back.try_send(batch);
        }
        Ok(())
    }

    /// Sends the partial batches, has every worker end its flows at packet time `now`,
    /// waits for the workers, delivers their last events and returns their merged counters.
    pub fn finish(mut self, now: i64, sink: &mut impl EventSink) -> std::io::Result<WorkerStats> {
        for idx in 0..self.workers.len() {
            if let Some(w) = self.workers.get_mut(idx) {
                w.filling.shutdown_at = Some(now);
            }
            self.send_batch(idx, sink)?;
        }
        let mut threads = Vec::with_capacity(self.workers.len());
        for w in self.workers.drain(..) {
            threads.push((w.thread, w.free));
        }
        let mut total = WorkerStats::default();
        for (t, free) in threads {
            // Keep delivering while the worker drains, so it never blocks on a full channel.
            while !t.is_finished() {
                while let Ok(batch) = self.events.try_recv() {
                    self.deliver(batch, sink)?;
                }
                while free.try_recv().is_ok() {}
                thread::sleep(std::time::Duration::from_micros(200));
            }
            let stats = t.join().map_err(|_| worker_gone())?;
            total.merge(&stats);
        }
        while let Ok(batch) = self.events.try_recv() {
            self.deliver(batch, sink)?;
        }
        Ok(total)
    }
}

fn worker_gone() -> std::io::Error {
    std::io::Error::other("a worker thread stopped unexpectedly")
}
