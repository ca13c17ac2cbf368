//! Disk spool: a bounded, append-only segment log that every event enters
//! before it is published, and leaves only once each destination that
//! wants it has acknowledged it (PUBACK).
//!
//! # Why a segment log (and not an embedded database)
//!
//! The access pattern is a queue: append at the tail, read forward per
//! destination, drop whole prefixes. A log of length-prefixed, CRC-checked
//! records in files of `segment_bytes` does exactly that with one buffered
//! `write` per batch and no write amplification; dropping a prefix is an
//! `unlink`. See the `record` module for the framing.
//!
//! # Layout of the spool directory
//!
//! * `seg-<first seq, 20 digits>.log`: segments, oldest first. Only the
//!   newest one is written to.
//! * `cursors.json`: per destination name, the sequence number below which
//!   every record for it was acknowledged (written to a temporary file and
//!   renamed, so it is always whole). A missing or unreadable file means
//!   "resend everything still spooled" (duplicates, never loss).
//! * `seq-reserve`: sequence numbers below it may have been handed out.
//!   It is raised (synced) a block of 2^20 ahead of use, and set to the exact
//!   next number at a clean close, so that after a crash that lost the end of
//!   a segment no sequence number, and so no event id, is ever reused.
//! * `spool-id`: a random id made when the spool is created; together with
//!   the sensor id and the record's sequence number it forms the event id.
//!
//! One process per spool directory: nothing locks it (an advisory lock
//! needs either `unsafe` or Rust 1.89's `File::try_lock`), so two sensors
//! configured with the same directory would corrupt each other's segments.
//!
//! # One shared log, one cursor per destination
//!
//! An event is written once, whatever the number of destinations; each
//! destination has its own read position and ack cursor and applies its
//! own event-type filter while reading. Records meant for one destination
//! only (summaries) carry its name. A segment is deleted once every
//! destination's cursor is past it. Destinations are identified by name,
//! so reordering them in the configuration is harmless; a destination
//! added later starts at the oldest record still spooled.
//!
//! # Bounds
//!
//! The total size of the segments is kept at or below `max_bytes` (one
//! segment of slack): when an append would exceed it, the oldest segment
//! is deleted whether acknowledged or not, and for each destination the
//! records it had not read yet are counted in `dropped_spool_full`.
//!
//! # Durability (what a crash or power cut can lose)
//!
//! Each batch taken from the channel is written to the OS with one
//! `write` before any of it is published, so a `kill -9` of the sensor
//! loses nothing that reached the spool (only events still in the
//! in-memory channel). `fdatasync` runs when [`SyncPolicy::records`] records
//! or [`SyncPolicy::interval`] have passed since the last one, whichever
//! is first; a power cut can therefore lose at most the records of that
//! last interval, and ack cursors written since the last sync (which
//! causes resending, not loss). On open, each segment is scanned; the
//! first torn or corrupt record and everything after it in that segment
//! are cut off (`truncated_bytes` in [`SpoolStats`]).

pub(crate) mod record;

use std::collections::{BTreeMap, VecDeque};
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use record::{Decoded, Record};

use crate::error::UplinkError;

/// When the spool forces its data to stable storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncPolicy {
    /// `fdatasync` at least this often while records are being written.
    pub interval: Duration,
    /// `fdatasync` after this many records (1 = after every batch).
    pub records: u64,
}

impl Default for SyncPolicy {
    /// Every 200 ms or 10,000 records.
    fn default() -> Self {
        SyncPolicy {
            interval: Duration::from_millis(200),
            records: 10_000,
        }
    }
}

/// Size limits and sync policy of a spool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpoolOptions {
    /// Upper bound of the segments' total size; oldest records are dropped
    /// beyond it.
    pub max_bytes: u64,
    /// A new segment is started once the current one reaches this size.
    pub segment_bytes: u64,
    /// When to `fdatasync`.
    pub sync: SyncPolicy,
}

impl SpoolOptions {
    /// Options for a spool of at most `max_bytes`, with segments of
    /// `max_bytes / 16` (between 64 KiB and 64 MiB) and the default sync policy.
    pub fn with_max_bytes(max_bytes: u64) -> Self {
        SpoolOptions {
            max_bytes,
            segment_bytes: (max_bytes / 16).clamp(64 << 10, 64 << 20),
            sync: SyncPolicy::default(),
        }
    }
}

/// Which spooled records a destination reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DestFilter {
    pub name: String,
    /// Reads untargeted events (policy `full`).
    pub full: bool,
    /// Event types to read; `None` = all.
    pub event_types: Option<Vec<String>>,
}

impl DestFilter {
    pub(crate) fn accepts(&self, target: Option<&str>, event_type: &str) -> bool {
        match target {
            Some(t) => t == self.name,
            None => {
                self.full
                    && self
                        .event_types
                        .as_ref()
                        .is_none_or(|ts| ts.iter().any(|t| t == event_type))
            }
        }
    }
}

/// Counters of a spool.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpoolStats {
    /// Records appended since open.
    pub appended: u64,
    /// Bytes appended since open (framing included).
    pub appended_bytes: u64,
    /// Current size of all segments in bytes.
    pub bytes: u64,
    /// Sequence number the next record gets.
    pub next_seq: u64,
    /// Records found intact when the spool was opened.
    pub recovered: u64,
    /// Bytes cut off at open because a record was torn or corrupt.
    pub truncated_bytes: u64,
    /// Segments deleted because the spool was full.
    pub evicted_segments: u64,
    /// `fdatasync` calls.
    pub syncs: u64,
}

#[derive(Debug)]
struct Segment {
    base: u64,
    path: PathBuf,
    len: u64,
    /// Sequence number of the last record, if any.
    last: Option<u64>,
}

#[derive(Debug, Clone, Copy, Default)]
struct ReadPos {
    /// Next sequence number to consider.
    seq: u64,
    seg_base: u64,
    offset: u64,
}

#[derive(Debug)]
struct Dest {
    filter: DestFilter,
    /// Every record for this destination below it is acknowledged.
    cursor: u64,
    read: ReadPos,
    dropped_full: u64,
}

/// An open spool directory. Single-threaded: owned by the uplink thread.
#[derive(Debug)]
pub(crate) struct Spool {
    dir: PathBuf,
    opts: SpoolOptions,
    instance: String,
    segments: VecDeque<Segment>,
    writer: BufWriter<File>,
    dests: Vec<Dest>,
    /// Cursors of destinations not configured now, kept in `cursors.json`.
    other_cursors: BTreeMap<String, u64>,
    stats: SpoolStats,
    unsynced: u64,
    last_sync: Instant,
    cursors_dirty: bool,
    encode_buf: Vec<u8>,
    read_buf: Vec<u8>,
    /// Sequence numbers below this are reserved on disk (`seq-reserve`).
    reserved: u64,
}

/// Sequence numbers reserved per synced write of `seq-reserve`.
const RESERVE_BLOCK: u64 = 1 << 20;

fn io_err(path: &Path, what: &str) -> impl FnOnce(io::Error) -> UplinkError {
    let path = path.display().to_string();
    let what = what.to_string();
    move |source| UplinkError::Spool { path, what, source }
}

fn seg_name(base: u64) -> String {
    format!("seg-{base:020}.log")
}

/// Scans a segment file, truncating it after the last intact record.
/// Returns (length, last seq, records, bytes cut).
fn recover_segment(path: &Path, base: u64) -> io::Result<(u64, Option<u64>, u64, u64)> {
    let data = fs::read(path)?;
    let mut off = 0;
    let mut last = None;
    let mut n = 0;
    while off < data.len() {
        match record::decode(&data[off..]) {
            Decoded::Record(r, used) => {
                let in_order = match last {
                    None => r.seq >= base,
                    Some(l) => r.seq > l,
                };
                if !in_order {
                    break;
                }
                last = Some(r.seq);
                n += 1;
                off += used;
            }
            Decoded::NeedMore(_) | Decoded::Corrupt(_) => break,
        }
    }
    let cut = (data.len() - off) as u64;
    if cut > 0 {
        let f = OpenOptions::new().write(true).open(path)?;
        f.set_len(off as u64)?;
        f.sync_all()?;
    }
    Ok((off as u64, last, n, cut))
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

impl Spool {
    /// Opens (or creates) the spool in `dir` for the given destinations,
    /// recovering from a crash if needed.
    pub(crate) fn open(
        dir: &Path,
        opts: SpoolOptions,
        filters: Vec<DestFilter>,
    ) -> Result<Spool, UplinkError> {
        if opts.max_bytes < 2 * opts.segment_bytes.max(1) || opts.segment_bytes < 4096 {
            return Err(UplinkError::InvalidConfig(format!(
                "spool max_bytes ({}) must be at least twice segment_bytes ({}), which must be at least 4096",
                opts.max_bytes, opts.segment_bytes
            )));
        }
        fs::create_dir_all(dir).map_err(io_err(dir, "create spool directory"))?;
        let instance = load_instance(dir)?;
        let mut stats = SpoolStats::default();
        let mut bases = Vec::new();
        for entry in fs::read_dir(dir).map_err(io_err(dir, "list spool directory"))? {
            let entry = entry.map_err(io_err(dir, "list spool directory"))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if let Some(base) = name
                .strip_prefix("seg-")
                .and_then(|s| s.strip_suffix(".log"))
                .and_then(|s| s.parse::<u64>().ok())
            {
                bases.push(base);
            }
        }
        bases.sort_unstable();
        let mut segments = VecDeque::new();
        let mut next_seq = 0;
        for base in bases {
            let path = dir.join(seg_name(base));
            if base < next_seq {
                // Overlaps the previous segment: cannot be trusted.
                let len = fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
                stats.truncated_bytes += len;
                fs::remove_file(&path).map_err(io_err(&path, "remove overlapping segment"))?;
                continue;
            }
            let (len, last, n, cut) =
                recover_segment(&path, base).map_err(io_err(&path, "recover segment"))?;
            stats.recovered += n;
            stats.truncated_bytes += cut;
            next_seq = last.map_or(base, |l| l + 1);
            segments.push_back(Segment {
                base,
                path,
                len,
                last,
            });
        }
        // Never reuse a sequence number (and so an event id) that may have
        // been published before a crash cut the segment that held it.
        let next_seq = next_seq.max(load_reserve(dir));
        let mut cursors = load_cursors(dir);
        let oldest = segments.front().map_or(next_seq, |s| s.base);
        let dests = filters
            .into_iter()
            .map(|filter| {
                let saved = cursors.remove(&filter.name);
                let cursor = saved.unwrap_or(oldest).clamp(oldest, next_seq);
                Dest {
                    filter,
                    cursor,
                    read: ReadPos {
                        seq: cursor,
                        ..ReadPos::default()
                    },
                    dropped_full: 0,
                }
            })
            .collect();
        let writer = match segments.back() {
            Some(s) => OpenOptions::new()
                .append(true)
                .open(&s.path)
                .map_err(io_err(&s.path, "open segment"))?,
            None => {
                let seg = new_segment(dir, next_seq)?;
                let f = OpenOptions::new()
                    .append(true)
                    .open(&seg.path)
                    .map_err(io_err(&seg.path, "open segment"))?;
                segments.push_back(seg);
                f
            }
        };
        stats.next_seq = next_seq;
        let mut spool = Spool {
            dir: dir.to_path_buf(),
            opts,
            instance,
            segments,
            writer: BufWriter::with_capacity(256 << 10, writer),
            dests,
            other_cursors: cursors,
            stats,
            unsynced: 0,
            last_sync: Instant::now(),
            cursors_dirty: true,
            encode_buf: Vec::new(),
            read_buf: Vec::new(),
            reserved: next_seq,
        };
        for d in 0..spool.dests.len() {
            spool.place_reader(d);
        }
        spool.stats.bytes = spool.segments.iter().map(|s| s.len).sum();
        spool.collect_garbage()?;
        Ok(spool)
    }

    /// The random id of this spool (part of every event id).
    pub(crate) fn instance(&self) -> &str {
        &self.instance
    }

    /// Sequence number the next appended record gets.
    pub(crate) fn next_seq(&self) -> u64 {
        self.stats.next_seq
    }

    pub(crate) fn stats(&self) -> SpoolStats {
        self.stats.clone()
    }

    /// Records for destination `d` that were dropped because the spool was full.
    pub(crate) fn dropped_full(&self, d: usize) -> u64 {
        self.dests.get(d).map_or(0, |x| x.dropped_full)
    }

    /// The ack cursor of destination `d`.
    pub(crate) fn cursor(&self, d: usize) -> u64 {
        self.dests.get(d).map_or(0, |x| x.cursor)
    }

    /// Next sequence number destination `d` will read.
    pub(crate) fn read_seq(&self, d: usize) -> u64 {
        self.dests.get(d).map_or(0, |x| x.read.seq)
    }

    /// Appends a record; the payload is written by `write_payload`, which
    /// gets the record's sequence number. Data reaches the OS at the next
    /// [`Spool::commit`] (or read).
    pub(crate) fn append(
        &mut self,
        target: Option<&str>,
        event_type: &str,
        write_payload: impl FnOnce(u64, &mut Vec<u8>),
    ) -> Result<u64, UplinkError> {
        let seq = self.stats.next_seq;
        let mut buf = std::mem::take(&mut self.encode_buf);
        buf.clear();
        let encoded = record::encode(&mut buf, seq, target, event_type, |b| write_payload(seq, b));
        if let Err(what) = encoded {
            self.encode_buf = buf;
            return Err(UplinkError::InvalidConfig(format!(
                "cannot spool event: {what}"
            )));
        }
        let len = buf.len() as u64;
        let result = self.write_record(seq, &buf, len);
        self.encode_buf = buf;
        result?;
        Ok(seq)
    }

    fn write_record(&mut self, seq: u64, buf: &[u8], len: u64) -> Result<(), UplinkError> {
        if seq >= self.reserved {
            self.reserve(seq + RESERVE_BLOCK)?;
        }
        if self.active().len > 0 && self.active().len + len > self.opts.segment_bytes {
            self.roll()?;
        }
        while self.stats.bytes + len > self.opts.max_bytes && self.segments.len() > 1 {
            self.evict_oldest()?;
        }
        let path = self.active().path.clone();
        self.writer
            .write_all(buf)
            .map_err(io_err(&path, "append to segment"))?;
        let seg = self.active_mut();
        seg.len += len;
        seg.last = Some(seq);
        self.stats.bytes += len;
        self.stats.appended += 1;
        self.stats.appended_bytes += len;
        self.stats.next_seq = seq + 1;
        self.unsynced += 1;
        Ok(())
    }

    fn active(&self) -> &Segment {
        // There is always at least one segment (the active one).
        &self.segments[self.segments.len() - 1]
    }

    fn active_mut(&mut self) -> &mut Segment {
        let n = self.segments.len() - 1;
        &mut self.segments[n]
    }

    /// Closes the active segment (synced) and starts a new one.
    fn roll(&mut self) -> Result<(), UplinkError> {
        let path = self.active().path.clone();
        self.writer
            .flush()
            .map_err(io_err(&path, "flush segment"))?;
        self.writer
            .get_ref()
            .sync_data()
            .map_err(io_err(&path, "sync segment"))?;
        self.stats.syncs += 1;
        let seg = new_segment(&self.dir, self.stats.next_seq)?;
        let f = OpenOptions::new()
            .append(true)
            .open(&seg.path)
            .map_err(io_err(&seg.path, "open segment"))?;
        self.writer = BufWriter::with_capacity(256 << 10, f);
        self.segments.push_back(seg);
        Ok(())
    }

    /// Deletes the oldest segment, counting what each destination loses.
    fn evict_oldest(&mut self) -> Result<(), UplinkError> {
        let Some(seg) = self.segments.pop_front() else {
            return Ok(());
        };
        let data = fs::read(&seg.path).map_err(io_err(&seg.path, "read evicted segment"))?;
        let mut off = 0;
        while let Decoded::Record(r, used) = record::decode(&data[off..]) {
            off += used;
            for d in &mut self.dests {
                if r.seq >= d.read.seq && d.filter.accepts(r.target.as_deref(), &r.event_type) {
                    d.dropped_full += 1;
                }
            }
        }
        fs::remove_file(&seg.path).map_err(io_err(&seg.path, "remove evicted segment"))?;
        self.stats.bytes -= seg.len;
        self.stats.evicted_segments += 1;
        let oldest = self
            .segments
            .front()
            .map_or(self.stats.next_seq, |s| s.base);
        for d in 0..self.dests.len() {
            if self.dests[d].cursor < oldest {
                self.dests[d].cursor = oldest;
                self.cursors_dirty = true;
            }
            if self.dests[d].read.seq < oldest || self.dests[d].read.seg_base == seg.base {
                self.dests[d].read.seq = self.dests[d].read.seq.max(oldest);
                self.place_reader(d);
            }
        }
        Ok(())
    }

    /// Positions destination `d`'s reader at the segment holding `read.seq`
    /// (at its start; records below `read.seq` are skipped while reading).
    fn place_reader(&mut self, d: usize) {
        let seq = self.dests[d].read.seq;
        let base = self
            .segments
            .iter()
            .rev()
            .find(|s| s.base <= seq)
            .or(self.segments.front())
            .map_or(seq, |s| s.base);
        let r = &mut self.dests[d].read;
        r.seg_base = base;
        r.offset = 0;
    }

    /// Hands written data to the OS and syncs it if the policy says so.
    pub(crate) fn commit(&mut self) -> Result<(), UplinkError> {
        let path = self.active().path.clone();
        self.writer
            .flush()
            .map_err(io_err(&path, "write segment"))?;
        let due = self.unsynced >= self.opts.sync.records
            || (self.unsynced > 0 && self.last_sync.elapsed() >= self.opts.sync.interval);
        if due {
            self.sync()?;
        } else if self.cursors_dirty && self.last_sync.elapsed() >= self.opts.sync.interval {
            self.save_cursors()?;
            self.last_sync = Instant::now();
        }
        Ok(())
    }

    /// Forces data and cursors to stable storage now.
    pub(crate) fn sync(&mut self) -> Result<(), UplinkError> {
        let path = self.active().path.clone();
        self.writer
            .flush()
            .map_err(io_err(&path, "write segment"))?;
        self.writer
            .get_ref()
            .sync_data()
            .map_err(io_err(&path, "sync segment"))?;
        self.stats.syncs += 1;
        self.unsynced = 0;
        self.last_sync = Instant::now();
        if self.cursors_dirty {
            self.save_cursors()?;
        }
        Ok(())
    }

    /// Reads up to `max` records for destination `d`, in order, advancing
    /// its read position.
    pub(crate) fn read(
        &mut self,
        d: usize,
        max: usize,
        out: &mut Vec<Record>,
    ) -> Result<(), UplinkError> {
        if d >= self.dests.len() {
            return Ok(());
        }
        let path = self.active().path.clone();
        self.writer
            .flush()
            .map_err(io_err(&path, "write segment"))?;
        let mut got = 0;
        let mut buf = std::mem::take(&mut self.read_buf);
        let result = self.read_inner(d, max, out, &mut got, &mut buf);
        self.read_buf = buf;
        result
    }

    fn read_inner(
        &mut self,
        d: usize,
        max: usize,
        out: &mut Vec<Record>,
        got: &mut usize,
        buf: &mut Vec<u8>,
    ) -> Result<(), UplinkError> {
        const CHUNK: usize = 256 << 10;
        while *got < max {
            let pos = self.dests[d].read;
            let Some(i) = self.segments.iter().position(|s| s.base == pos.seg_base) else {
                self.place_reader(d);
                if self.dests[d].read.seg_base == pos.seg_base {
                    return Ok(());
                }
                continue;
            };
            let seg = &self.segments[i];
            if pos.offset >= seg.len {
                if i + 1 < self.segments.len() {
                    let next = self.segments[i + 1].base;
                    let r = &mut self.dests[d].read;
                    r.seg_base = next;
                    r.offset = 0;
                    r.seq = r.seq.max(next);
                    continue;
                }
                // At the end of the log: nothing below next_seq is left to
                // read (numbering may skip after a crash).
                let next = self.stats.next_seq;
                let r = &mut self.dests[d].read;
                r.seq = r.seq.max(next);
                return Ok(());
            }
            let want = usize::try_from(seg.len - pos.offset)
                .unwrap_or(usize::MAX)
                .min(CHUNK.max(buf.len()));
            if buf.len() < want {
                buf.resize(want, 0);
            }
            let file = File::open(&seg.path).map_err(io_err(&seg.path, "open segment"))?;
            file.read_exact_at(&mut buf[..want], pos.offset)
                .map_err(io_err(&seg.path, "read segment"))?;
            let mut off = 0;
            while *got < max {
                match record::decode(&buf[off..want]) {
                    Decoded::Record(r, used) => {
                        off += used;
                        let dest = &mut self.dests[d];
                        if r.seq >= dest.read.seq {
                            dest.read.seq = r.seq + 1;
                            if dest.filter.accepts(r.target.as_deref(), &r.event_type) {
                                out.push(r);
                                *got += 1;
                            }
                        }
                    }
                    Decoded::NeedMore(n) => {
                        if off == 0 {
                            // A record larger than the chunk: read it whole.
                            if n > want && (n as u64) <= seg.len - pos.offset {
                                buf.resize(n, 0);
                                break;
                            }
                            return Err(UplinkError::Spool {
                                path: seg.path.display().to_string(),
                                what: format!("record at offset {} runs past the end", pos.offset),
                                source: io::Error::from(io::ErrorKind::UnexpectedEof),
                            });
                        }
                        break;
                    }
                    Decoded::Corrupt(why) => {
                        // Written by us in this run, so only a disk fault:
                        // skip the rest of this segment.
                        self.dests[d].read.offset = seg.len;
                        return Err(UplinkError::Spool {
                            path: seg.path.display().to_string(),
                            what: format!(
                                "corrupt record at offset {}: {why}",
                                pos.offset + off as u64
                            ),
                            source: io::Error::from(io::ErrorKind::InvalidData),
                        });
                    }
                }
            }
            self.dests[d].read.offset += off as u64;
        }
        Ok(())
    }

    /// Destination `d` has every record below `cursor` acknowledged.
    /// Deletes segments no destination needs any more.
    pub(crate) fn ack_until(&mut self, d: usize, cursor: u64) -> Result<(), UplinkError> {
        let Some(dest) = self.dests.get_mut(d) else {
            return Ok(());
        };
        let cursor = cursor.min(dest.read.seq);
        if cursor > dest.cursor {
            dest.cursor = cursor;
            self.cursors_dirty = true;
            self.collect_garbage()?;
        }
        Ok(())
    }

    /// Smallest ack cursor over all destinations (next_seq if none).
    pub(crate) fn min_cursor(&self) -> u64 {
        self.dests
            .iter()
            .map(|d| d.cursor)
            .min()
            .unwrap_or(self.stats.next_seq)
    }

    fn collect_garbage(&mut self) -> Result<(), UplinkError> {
        let min = self.min_cursor();
        while self.segments.len() > 1 {
            let Some(front) = self.segments.front() else {
                break;
            };
            let done = front.last.is_none_or(|l| l < min) && self.segments[1].base <= min;
            if !done {
                break;
            }
            if let Some(seg) = self.segments.pop_front() {
                fs::remove_file(&seg.path).map_err(io_err(&seg.path, "remove acked segment"))?;
                self.stats.bytes -= seg.len;
            }
        }
        Ok(())
    }

    /// Records that sequence numbers below `until` may be in use, so that a
    /// restart after a crash starts above them.
    fn reserve(&mut self, until: u64) -> Result<(), UplinkError> {
        let tmp = self.dir.join("seq-reserve.tmp");
        let path = self.dir.join("seq-reserve");
        let write = || -> io::Result<()> {
            let mut f = File::create(&tmp)?;
            f.write_all(until.to_string().as_bytes())?;
            f.sync_data()?;
            fs::rename(&tmp, &path)?;
            sync_dir(&self.dir)
        };
        write().map_err(io_err(&path, "reserve sequence numbers"))?;
        self.reserved = until;
        Ok(())
    }

    /// Clean shutdown: everything synced, and the next run continues the
    /// numbering exactly (a crash makes it skip up to one reserve block).
    pub(crate) fn close(&mut self) -> Result<(), UplinkError> {
        self.sync()?;
        let next = self.stats.next_seq;
        self.reserve(next)
    }

    fn save_cursors(&mut self) -> Result<(), UplinkError> {
        // A cursor must never be durable before the records it covers.
        let seg = self.active().path.clone();
        self.writer.flush().map_err(io_err(&seg, "write segment"))?;
        self.writer
            .get_ref()
            .sync_data()
            .map_err(io_err(&seg, "sync segment"))?;
        let mut all = self.other_cursors.clone();
        for d in &self.dests {
            all.insert(d.filter.name.clone(), d.cursor);
        }
        let json = serde_json::json!({ "cursors": all }).to_string();
        let tmp = self.dir.join("cursors.json.tmp");
        let path = self.dir.join("cursors.json");
        let write = || -> io::Result<()> {
            let mut f = File::create(&tmp)?;
            f.write_all(json.as_bytes())?;
            f.sync_data()?;
            fs::rename(&tmp, &path)
        };
        write().map_err(io_err(&path, "save cursors"))?;
        self.cursors_dirty = false;
        Ok(())
    }
}

fn new_segment(dir: &Path, base: u64) -> Result<Segment, UplinkError> {
    let path = dir.join(seg_name(base));
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(io_err(&path, "create segment"))?;
    sync_dir(dir).map_err(io_err(dir, "sync spool directory"))?;
    Ok(Segment {
        base,
        path,
        len: 0,
        last: None,
    })
}

/// Saved cursors; empty if the file is missing or unreadable (then
/// everything still spooled is sent again).
fn load_cursors(dir: &Path) -> BTreeMap<String, u64> {
    fs::read_to_string(dir.join("cursors.json"))
        .ok()
        .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
        .and_then(|v| v.get("cursors").cloned())
        .and_then(|c| serde_json::from_value(c).ok())
        .unwrap_or_default()
}

/// The reserved sequence number bound; 0 if none was written.
fn load_reserve(dir: &Path) -> u64 {
    fs::read_to_string(dir.join("seq-reserve"))
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or(0)
}

fn load_instance(dir: &Path) -> Result<String, UplinkError> {
    let path = dir.join("spool-id");
    if let Ok(id) = fs::read_to_string(&path) {
        let id = id.trim();
        if !id.is_empty() && id.len() <= 32 && id.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Ok(id.to_string());
        }
    }
    use sha2::Digest;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let digest = sha2::Sha256::digest(format!("{now}-{}-{:p}", std::process::id(), &path));
    let id: String = digest[..4].iter().map(|b| format!("{b:02x}")).collect();
    let tmp = dir.join("spool-id.tmp");
    let write = || -> io::Result<()> {
        fs::write(&tmp, &id)?;
        File::open(&tmp)?.sync_all()?;
        fs::rename(&tmp, &path)?;
        sync_dir(dir)
    };
    write().map_err(io_err(&path, "create spool id"))?;
    Ok(id)
}

#[cfg(test)]
mod tests;
