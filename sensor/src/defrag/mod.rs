//! IP defragmentation: IPv4 and IPv6 fragments become whole datagrams before flow tracking
//! and detection, so that a signature cannot be evaded by splitting its content over
//! fragments, and overlapping fragments are resolved the way the protected host would.
//!
//! Semantics follow Suricata's defrag.c: trackers keyed by (source, destination, IP id,
//! protocol) for IPv4 and (source, destination, fragment id) for IPv6, plus the VLAN ids; a
//! tracker lives until its datagram is complete or for `timeout_secs` after its last fragment
//! (60 s by default); when every tracker is taken, the least recently used one is recycled
//! (Suricata recycles an unused tracker once its memcap is reached). Overlapping data is
//! resolved by a selectable [`OverlapPolicy`] (BSD by default), see
//! [`OverlapPolicy::new_wins`] for the exact rule. The reassembled datagram
//! carries the header of the fragment that supplied its first byte, with the lengths fixed,
//! the IPv4 fragment field cleared and checksum recomputed, and the IPv6 fragment header
//! removed (the unfragmentable extension headers before it are kept).
//!
//! Memory is bounded and allocated once, in [`Defragmenter::new`]: a fixed pool of trackers
//! (looked up through a hash map sized so it never grows), a byte arena of `max_bytes` cut
//! into 256-byte chunks that hold the fragments (so the memcap is exact and the arena never
//! fragments), and reassembly scratch (one 64 KiB output buffer and a per-byte owner map).
//! Nothing is allocated per packet. A fragment is stored whole on arrival and the overlap
//! policy is applied once, when the datagram is complete, by replaying the fragments in
//! arrival order; this costs each stored byte one pass, so work stays linear in input.
//!
//! Deliberate differences from Suricata, each counted:
//! - a datagram whose last fragment (MF clear) is contradicted by another last fragment with
//!   a different end keeps the first one; the contradicting fragment is `invalid`;
//! - when the global memcap or the per-tracker fragment limit is hit, the whole datagram is
//!   dropped (Suricata does so on pool exhaustion too) and counted;
//! - Suricata limits fragments globally (`defrag.max-frags`); here the arena bounds them
//!   globally and `max_fragments_per_tracker` bounds one datagram;
//! - data beyond the end given by the last fragment is ignored, and a datagram completes as
//!   soon as `[0, end)` is covered (Suricata's Mf tests behave the same way);
//! - IPv4 and IPv6 non-last fragments whose length is not a multiple of 8 are kept (as
//!   Suricata does) and counted as `unaligned`.

mod parse;
mod policy;
#[cfg(test)]
mod tests;

pub use parse::{ip_layer, is_fragment};
pub use policy::{OverlapPolicy, UnknownPolicy};

use std::collections::HashMap;

use crate::capture::Timestamp;
use crate::decode::{LinkType, Vlans};
use parse::{parse, FragInfo, Parsed};

/// Bytes per arena chunk. Small enough that tiny fragments waste little, large enough that
/// a full-size fragment is a handful of chunks.
pub const CHUNK_SIZE: usize = 256;

/// Largest IP datagram (IPv4 total length, IPv6 payload length).
const MAX_DATAGRAM: u32 = 65_535;
/// IPv6 fixed header.
const IPV6_HEADER: usize = 40;
/// No index.
const NIL: u32 = u32::MAX;
/// No owner in the per-byte owner map.
const NO_OWNER: u16 = u16::MAX;

/// Limits and policy of a [`Defragmenter`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DefragConfig {
    /// Datagrams reassembled at the same time (Suricata's `defrag.trackers`).
    pub max_trackers: usize,
    /// Bytes of fragment data held at most over all trackers (Suricata's `defrag.memcap`),
    /// counted in [`CHUNK_SIZE`] units and allocated up front.
    pub max_bytes: usize,
    /// Fragments one datagram may hold (2..=65534); more drops the datagram.
    pub max_fragments_per_tracker: usize,
    /// Seconds after its last fragment that an incomplete datagram is dropped (clamped to
    /// Suricata's 1..=86400).
    pub timeout_secs: i64,
    /// How overlapping data is resolved.
    pub policy: OverlapPolicy,
}

impl Default for DefragConfig {
    /// Per-worker defaults: 8192 trackers, 16 MiB, 128 fragments per datagram (a 64 KiB
    /// datagram at IPv6's minimum MTU needs 52), Suricata's 60 s timeout and BSD policy.
    fn default() -> Self {
        DefragConfig {
            max_trackers: 8192,
            max_bytes: 16 << 20,
            max_fragments_per_tracker: 128,
            timeout_secs: 60,
            policy: OverlapPolicy::Bsd,
        }
    }
}

/// Counters of one defragmenter; every fragment handed to [`Defragmenter::push`] is counted
/// once in `ipv4_fragments` or `ipv6_fragments`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DefragCounters {
    /// IPv4 fragments seen (including those then refused).
    pub ipv4_fragments: u64,
    /// IPv6 fragments seen (including those then refused).
    pub ipv6_fragments: u64,
    /// IPv4 datagrams reassembled.
    pub ipv4_reassembled: u64,
    /// IPv6 datagrams reassembled.
    pub ipv6_reassembled: u64,
    /// Fragments whose range overlapped a fragment already held for their datagram
    /// (exact duplicates included); the policy decided which bytes survive.
    pub overlaps: u64,
    /// Non-last fragments whose length is not a multiple of 8 (kept; an anomaly).
    pub unaligned: u64,
    /// Fragments refused as malformed: IP length beyond the captured bytes or shorter than
    /// the headers, no data, end beyond 65535, or a second last fragment with another end.
    pub invalid: u64,
    /// Fragments refused because no tracker could be had (only with `max_trackers` 0).
    pub tracker_full: u64,
    /// Incomplete datagrams dropped to make room for a new one (least recently used first).
    pub evicted: u64,
    /// Datagrams dropped because the global memcap could not hold their next fragment.
    pub memcap: u64,
    /// Datagrams dropped for exceeding `max_fragments_per_tracker`.
    pub too_many_fragments: u64,
    /// Datagrams dropped because the reassembled packet would exceed 65535 bytes.
    pub oversized: u64,
    /// Incomplete datagrams dropped by timeout.
    pub timeouts: u64,
    /// Fragments that will never be part of a reassembled packet because they were refused
    /// (`invalid`, `tracker_full`) or their datagram was dropped (memcap, fragment limit,
    /// oversized, timeout, eviction); the fragment that triggered a drop is included.
    pub fragments_dropped: u64,
}

impl DefragCounters {
    /// Adds another worker's counters.
    pub fn merge(&mut self, o: &DefragCounters) {
        // Destructured so that a new counter cannot be forgotten here.
        let DefragCounters {
            ipv4_fragments,
            ipv6_fragments,
            ipv4_reassembled,
            ipv6_reassembled,
            overlaps,
            unaligned,
            invalid,
            tracker_full,
            evicted,
            memcap,
            too_many_fragments,
            oversized,
            timeouts,
            fragments_dropped,
        } = *o;
        self.ipv4_fragments += ipv4_fragments;
        self.ipv6_fragments += ipv6_fragments;
        self.ipv4_reassembled += ipv4_reassembled;
        self.ipv6_reassembled += ipv6_reassembled;
        self.overlaps += overlaps;
        self.unaligned += unaligned;
        self.invalid += invalid;
        self.tracker_full += tracker_full;
        self.evicted += evicted;
        self.memcap += memcap;
        self.too_many_fragments += too_many_fragments;
        self.oversized += oversized;
        self.timeouts += timeouts;
        self.fragments_dropped += fragments_dropped;
    }

    /// Every counter with its stats name (Suricata's where it has one:
    /// `defrag.ipv4.fragments`, `defrag.ipv4.reassembled`, `defrag.ipv6.*`,
    /// `defrag.max_trackers_reached`, `defrag.max_frags_reached`, `defrag.tracker_timeout`).
    pub fn named(&self) -> [(&'static str, u64); 14] {
        let DefragCounters {
            ipv4_fragments,
            ipv6_fragments,
            ipv4_reassembled,
            ipv6_reassembled,
            overlaps,
            unaligned,
            invalid,
            tracker_full,
            evicted,
            memcap,
            too_many_fragments,
            oversized,
            timeouts,
            fragments_dropped,
        } = *self;
        [
            ("defrag.ipv4.fragments", ipv4_fragments),
            ("defrag.ipv6.fragments", ipv6_fragments),
            ("defrag.ipv4.reassembled", ipv4_reassembled),
            ("defrag.ipv6.reassembled", ipv6_reassembled),
            ("defrag.overlaps", overlaps),
            ("defrag.unaligned", unaligned),
            ("defrag.invalid", invalid),
            ("defrag.max_trackers_reached", tracker_full),
            ("defrag.tracker_evicted", evicted),
            ("defrag.memcap", memcap),
            ("defrag.max_frags_reached", too_many_fragments),
            ("defrag.oversized", oversized),
            ("defrag.tracker_timeout", timeouts),
            ("defrag.fragments_dropped", fragments_dropped),
        ]
    }
}

/// Why [`Defragmenter::push`] did not keep a fragment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// Malformed (see [`DefragCounters::invalid`]).
    Invalid,
    /// No tracker could be had (`max_trackers` is 0).
    TrackerFull,
    /// Global memcap reached; the datagram was dropped.
    Memcap,
    /// Too many fragments for one datagram; the datagram was dropped.
    TooManyFragments,
    /// The reassembled datagram would exceed 65535 bytes; the datagram was dropped.
    Oversized,
}

/// What happened to one packet handed to [`Defragmenter::push`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefragOutcome<'a> {
    /// Not a fragment (or not IP): process the packet as it is.
    NotFragment,
    /// Stored; its datagram is not complete yet. Nothing to process.
    Held,
    /// This fragment completed a datagram: the whole IP packet, borrowed from the
    /// defragmenter until its next call. Process it (as raw IP) instead of the fragment.
    Reassembled(&'a [u8]),
    /// Refused or its datagram dropped, and counted. Nothing to process.
    Dropped(DropReason),
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
struct Key {
    version: u8,
    proto: u8,
    id: u32,
    src: [u8; 16],
    dst: [u8; 16],
    vlans: Vlans,
}

#[derive(Debug, Clone, Copy)]
struct Tracker {
    key: Key,
    last_seen: i64,
    /// Length of the fragmentable part, known once the last fragment arrived.
    total: Option<u32>,
    frags: u32,
    data_bytes: u64,
    /// Some fragment overlapped another: reassembly must apply the policy.
    overlapped: bool,
    head: u32,
    tail: u32,
    lru_prev: u32,
    lru_next: u32,
}

impl Default for Tracker {
    fn default() -> Self {
        Tracker {
            key: Key::default(),
            last_seen: 0,
            total: None,
            frags: 0,
            data_bytes: 0,
            overlapped: false,
            head: NIL,
            tail: NIL,
            lru_prev: NIL,
            lru_next: NIL,
        }
    }
}

/// One stored fragment: `prefix_len` header bytes (first fragments only), then `len` bytes
/// of data at datagram offset `offset`, in a chain of arena chunks.
#[derive(Debug, Clone, Copy)]
struct FragRec {
    offset: u32,
    len: u32,
    prefix_len: u32,
    nh_pos: u32,
    next_header: u8,
    first_chunk: u32,
    next: u32,
}

impl Default for FragRec {
    fn default() -> Self {
        FragRec {
            offset: 0,
            len: 0,
            prefix_len: 0,
            nh_pos: 0,
            next_header: 0,
            first_chunk: NIL,
            next: NIL,
        }
    }
}

impl FragRec {
    fn end(&self) -> u32 {
        self.offset + self.len
    }
}

/// The defragmenter of one worker; see the module documentation.
#[derive(Debug)]
pub struct Defragmenter {
    cfg: DefragConfig,
    trackers: Vec<Tracker>,
    free_trackers: Vec<u32>,
    index: HashMap<Key, u32>,
    lru_head: u32,
    lru_tail: u32,
    frags: Vec<FragRec>,
    free_frags: Vec<u32>,
    arena: Vec<u8>,
    chunk_next: Vec<u32>,
    free_chunks: Vec<u32>,
    spans: Vec<(u32, u32)>,
    order: Vec<u32>,
    owner: Vec<u16>,
    out: Vec<u8>,
    counters: DefragCounters,
}

impl Defragmenter {
    /// A defragmenter with every pool allocated now (`max_fragments_per_tracker` is clamped
    /// to 2..=65534, `timeout_secs` to 1..=86400).
    pub fn new(cfg: DefragConfig) -> Defragmenter {
        let mut cfg = cfg;
        cfg.max_fragments_per_tracker = cfg.max_fragments_per_tracker.clamp(2, 65_534);
        cfg.timeout_secs = cfg.timeout_secs.clamp(1, 86_400);
        let n_trackers = cfg.max_trackers.min(NIL as usize - 1);
        let n_chunks = (cfg.max_bytes / CHUNK_SIZE).min(NIL as usize - 1);
        // Every fragment holds at least one byte, hence one chunk: as many records as chunks.
        let n_frags = n_chunks;
        Defragmenter {
            cfg,
            trackers: vec![Tracker::default(); n_trackers],
            free_trackers: (0..n_trackers as u32).rev().collect(),
            // Twice the live maximum: hashbrown then always rehashes in place, never grows.
            index: HashMap::with_capacity(n_trackers.saturating_mul(2)),
            lru_head: NIL,
            lru_tail: NIL,
            frags: vec![FragRec::default(); n_frags],
            free_frags: (0..n_frags as u32).rev().collect(),
            arena: vec![0; n_chunks * CHUNK_SIZE],
            chunk_next: vec![NIL; n_chunks],
            free_chunks: (0..n_chunks as u32).rev().collect(),
            spans: Vec::with_capacity(cfg.max_fragments_per_tracker),
            order: Vec::with_capacity(cfg.max_fragments_per_tracker),
            owner: vec![NO_OWNER; MAX_DATAGRAM as usize + 1],
            out: Vec::with_capacity(IPV6_HEADER + MAX_DATAGRAM as usize),
            counters: DefragCounters::default(),
        }
    }

    /// The configuration in effect.
    pub fn config(&self) -> &DefragConfig {
        &self.cfg
    }

    /// Counters so far.
    pub fn counters(&self) -> DefragCounters {
        self.counters
    }

    /// Datagrams being reassembled now.
    pub fn active_trackers(&self) -> usize {
        self.index.len()
    }

    /// Arena bytes holding fragments now (whole chunks), at most `max_bytes`.
    pub fn bytes_in_use(&self) -> usize {
        (self.chunk_next.len() - self.free_chunks.len()) * CHUNK_SIZE
    }

    /// Takes one IP packet (from its IPv4/IPv6 header on, as [`ip_layer`] returns it) seen at
    /// `ts` on VLANs `vlans`. Fragments are stored until their datagram is complete; the
    /// fragment that completes it returns the reassembled packet. Incomplete datagrams older
    /// than the timeout (in packet time) are expired first.
    pub fn push(&mut self, ip: &[u8], vlans: Vlans, ts: Timestamp) -> DefragOutcome<'_> {
        let info = match parse(ip) {
            Parsed::NotFragment => return DefragOutcome::NotFragment,
            Parsed::Invalid { version } => {
                self.count_fragment(version);
                return self.refuse(DropReason::Invalid);
            }
            Parsed::Fragment(info) => info,
        };
        self.count_fragment(info.version);
        self.expire(ts);
        let Some(data) = ip.get(info.data_start..info.data_end) else {
            return self.refuse(DropReason::Invalid);
        };
        let len = data.len() as u32; // at most 65535 (an IP length field)
        let end = info.offset + len;
        let max_end = if info.version == 4 {
            MAX_DATAGRAM - 20
        } else {
            MAX_DATAGRAM
        };
        if len == 0 || end > max_end {
            return self.refuse(DropReason::Invalid);
        }
        let key = Key {
            version: info.version,
            proto: info.proto,
            id: info.id,
            src: info.src,
            dst: info.dst,
            vlans,
        };
        let slot = match self.index.get(&key) {
            Some(&slot) => slot,
            None => {
                if self.free_trackers.is_empty() && self.lru_head != NIL {
                    let freed = self.free_tracker(self.lru_head);
                    self.counters.evicted += 1;
                    self.counters.fragments_dropped += freed;
                }
                match self.new_tracker(key) {
                    Some(slot) => slot,
                    None => {
                        self.counters.tracker_full += 1;
                        return self.refuse(DropReason::TrackerFull);
                    }
                }
            }
        };
        self.touch(slot, ts.secs);
        let t = self.trackers[slot as usize];
        if !info.more && t.total.is_some_and(|total| total != end) {
            return self.refuse(DropReason::Invalid);
        }
        if info.more && len % 8 != 0 {
            self.counters.unaligned += 1;
        }
        if t.frags as usize >= self.cfg.max_fragments_per_tracker {
            self.counters.too_many_fragments += 1;
            return self.drop_datagram(slot, DropReason::TooManyFragments);
        }
        let overlapped = self.overlaps_held(slot, info.offset, end);
        if overlapped {
            self.counters.overlaps += 1;
        }
        let Some(rec) = self.store(ip, &info) else {
            self.counters.memcap += 1;
            return self.drop_datagram(slot, DropReason::Memcap);
        };
        let t = &mut self.trackers[slot as usize];
        if t.tail == NIL {
            t.head = rec;
        } else {
            self.frags[t.tail as usize].next = rec;
        }
        t.tail = rec;
        t.frags += 1;
        t.data_bytes += u64::from(len);
        t.overlapped |= overlapped;
        if !info.more {
            t.total = Some(end);
        }
        let t = *t;
        match t.total {
            Some(total) if t.data_bytes >= u64::from(total) && self.covered(slot, total) => {
                self.reassemble(slot, total)
            }
            _ => DefragOutcome::Held,
        }
    }

    /// [`push`](Self::push) for a whole captured frame: finds its IP layer with [`ip_layer`]
    /// (`NotFragment` when there is none).
    pub fn push_frame(
        &mut self,
        link: LinkType,
        frame: &[u8],
        vlans: Vlans,
        ts: Timestamp,
    ) -> DefragOutcome<'_> {
        match ip_layer(link, frame) {
            Some(ip) => self.push(ip, vlans, ts),
            None => DefragOutcome::NotFragment,
        }
    }

    /// Drops every incomplete datagram whose last fragment is more than `timeout_secs` older
    /// than `now`. [`push`](Self::push) does this too; call it when no packets arrive.
    pub fn expire(&mut self, now: Timestamp) {
        while self.lru_head != NIL {
            let slot = self.lru_head;
            let age = now
                .secs
                .saturating_sub(self.trackers[slot as usize].last_seen);
            if age <= self.cfg.timeout_secs {
                break;
            }
            self.counters.timeouts += 1;
            let freed = self.free_tracker(slot);
            self.counters.fragments_dropped += freed;
        }
    }

    fn count_fragment(&mut self, version: u8) {
        if version == 4 {
            self.counters.ipv4_fragments += 1;
        } else {
            self.counters.ipv6_fragments += 1;
        }
    }

    /// Counts a refused fragment (the specific counter is the caller's).
    fn refuse(&mut self, reason: DropReason) -> DefragOutcome<'static> {
        if reason == DropReason::Invalid {
            self.counters.invalid += 1;
        }
        self.counters.fragments_dropped += 1;
        DefragOutcome::Dropped(reason)
    }

    /// Drops a datagram and the fragment that was being added to it.
    fn drop_datagram(&mut self, slot: u32, reason: DropReason) -> DefragOutcome<'static> {
        let freed = self.free_tracker(slot);
        self.counters.fragments_dropped += freed + 1;
        DefragOutcome::Dropped(reason)
    }

    fn new_tracker(&mut self, key: Key) -> Option<u32> {
        let slot = self.free_trackers.pop()?;
        self.trackers[slot as usize] = Tracker {
            key,
            ..Tracker::default()
        };
        self.index.insert(key, slot);
        self.lru_push_tail(slot);
        Some(slot)
    }

    /// Marks a tracker as just seen: its timeout restarts and it moves to the LRU tail.
    fn touch(&mut self, slot: u32, secs: i64) {
        self.trackers[slot as usize].last_seen = secs;
        if self.lru_tail != slot {
            self.lru_unlink(slot);
            self.lru_push_tail(slot);
        }
    }

    fn lru_push_tail(&mut self, slot: u32) {
        let tail = self.lru_tail;
        {
            let t = &mut self.trackers[slot as usize];
            t.lru_prev = tail;
            t.lru_next = NIL;
        }
        if tail == NIL {
            self.lru_head = slot;
        } else {
            self.trackers[tail as usize].lru_next = slot;
        }
        self.lru_tail = slot;
    }

    fn lru_unlink(&mut self, slot: u32) {
        let Tracker {
            lru_prev, lru_next, ..
        } = self.trackers[slot as usize];
        if lru_prev == NIL {
            self.lru_head = lru_next;
        } else {
            self.trackers[lru_prev as usize].lru_next = lru_next;
        }
        if lru_next == NIL {
            self.lru_tail = lru_prev;
        } else {
            self.trackers[lru_next as usize].lru_prev = lru_prev;
        }
    }

    /// Gives a tracker, its fragments and their chunks back; returns how many fragments it held.
    fn free_tracker(&mut self, slot: u32) -> u64 {
        let t = self.trackers[slot as usize];
        let mut rec = t.head;
        while rec != NIL {
            let r = self.frags[rec as usize];
            let mut chunk = r.first_chunk;
            while chunk != NIL {
                let next = self.chunk_next[chunk as usize];
                self.chunk_next[chunk as usize] = NIL;
                self.free_chunks.push(chunk);
                chunk = next;
            }
            self.frags[rec as usize] = FragRec::default();
            self.free_frags.push(rec);
            rec = r.next;
        }
        self.lru_unlink(slot);
        self.index.remove(&t.key);
        self.trackers[slot as usize] = Tracker::default();
        self.free_trackers.push(slot);
        u64::from(t.frags)
    }

    fn overlaps_held(&self, slot: u32, start: u32, end: u32) -> bool {
        let mut rec = self.trackers[slot as usize].head;
        while rec != NIL {
            let r = &self.frags[rec as usize];
            if r.offset < end && start < r.end() {
                return true;
            }
            rec = r.next;
        }
        false
    }

    /// Copies a fragment into arena chunks: its header part (first fragments only) and data.
    /// `None` when the memcap cannot hold it.
    fn store(&mut self, ip: &[u8], info: &FragInfo) -> Option<u32> {
        let prefix = if info.offset == 0 {
            ip.get(..info.prefix_len)?
        } else {
            &[]
        };
        let data = ip.get(info.data_start..info.data_end)?;
        let total = prefix.len() + data.len();
        let needed = total.div_ceil(CHUNK_SIZE);
        if needed > self.free_chunks.len() || self.free_frags.is_empty() {
            return None;
        }
        let rec = self.free_frags.pop()?;
        let mut first = NIL;
        let mut prev = NIL;
        let mut written = 0;
        for _ in 0..needed {
            let chunk = self.free_chunks.pop()?;
            let base = chunk as usize * CHUNK_SIZE;
            let mut filled = 0;
            while filled < CHUNK_SIZE && written < total {
                let (src, at) = if written < prefix.len() {
                    (prefix, written)
                } else {
                    (data, written - prefix.len())
                };
                let n = (CHUNK_SIZE - filled).min(src.len() - at);
                self.arena[base + filled..base + filled + n].copy_from_slice(&src[at..at + n]);
                filled += n;
                written += n;
            }
            if prev == NIL {
                first = chunk;
            } else {
                self.chunk_next[prev as usize] = chunk;
            }
            prev = chunk;
        }
        self.frags[rec as usize] = FragRec {
            offset: info.offset,
            len: data.len() as u32,
            prefix_len: prefix.len() as u32,
            nh_pos: info.nh_pos as u32,
            next_header: info.next_header,
            first_chunk: first,
            next: NIL,
        };
        Some(rec)
    }

    /// True when the held fragments cover `[0, total)` without a hole.
    fn covered(&mut self, slot: u32, total: u32) -> bool {
        self.spans.clear();
        let mut rec = self.trackers[slot as usize].head;
        while rec != NIL {
            let r = &self.frags[rec as usize];
            self.spans.push((r.offset, r.end()));
            rec = r.next;
        }
        self.spans.sort_unstable();
        let mut reach = 0;
        for &(start, end) in &self.spans {
            if start > reach {
                break;
            }
            reach = reach.max(end);
        }
        reach >= total
    }

    /// Builds the datagram of a complete tracker into `out`, then frees the tracker.
    fn reassemble(&mut self, slot: u32, total: u32) -> DefragOutcome<'_> {
        let t = self.trackers[slot as usize];
        let total_us = total as usize;
        // Replay the fragments in arrival order over a per-byte owner map.
        self.order.clear();
        let mut rec = t.head;
        while rec != NIL {
            self.order.push(rec);
            rec = self.frags[rec as usize].next;
        }
        let owner = &mut self.owner[..total_us];
        owner.fill(NO_OWNER);
        for (k, &ri) in self.order.iter().enumerate() {
            let new = self.frags[ri as usize];
            let start = new.offset.min(total) as usize;
            let end = new.end().min(total) as usize;
            if !t.overlapped {
                // Common case: no byte was sent twice, so no policy decision to make.
                owner[start..end].fill(k as u16);
                continue;
            }
            // Runs of bytes held by the same fragment get one policy decision.
            let mut b = start;
            while b < end {
                let held = owner[b];
                let mut e = b + 1;
                while e < end && owner[e] == held {
                    e += 1;
                }
                let wins = match self.order.get(usize::from(held)) {
                    None => true,
                    Some(&old) => {
                        let old = &self.frags[old as usize];
                        self.cfg
                            .policy
                            .new_wins(old.offset, old.end(), new.offset, new.end())
                    }
                };
                if wins {
                    owner[b..e].fill(k as u16);
                }
                b = e;
            }
        }
        // The header comes from the fragment that supplied the first byte (offset 0).
        let first_owner = owner.first().copied().unwrap_or(NO_OWNER);
        let Some(&head) = self.order.get(usize::from(first_owner)) else {
            return self.drop_oversized(slot); // unreachable: coverage starts at 0
        };
        let head = self.frags[head as usize];
        let prefix = head.prefix_len as usize;
        let too_big = if t.key.version == 4 {
            prefix + total_us > MAX_DATAGRAM as usize
        } else {
            prefix - IPV6_HEADER.min(prefix) + total_us > MAX_DATAGRAM as usize
        };
        if too_big || prefix == 0 {
            return self.drop_oversized(slot);
        }
        self.out.clear();
        self.out.resize(prefix + total_us, 0);
        read_chunks(
            &self.arena,
            &self.chunk_next,
            head.first_chunk,
            0,
            &mut self.out[..prefix],
        );
        let mut b = 0;
        let owner = &self.owner[..total_us];
        while b < total_us {
            let o = owner[b];
            let mut e = b + 1;
            while e < total_us && owner[e] == o {
                e += 1;
            }
            if let Some(&ri) = self.order.get(usize::from(o)) {
                let r = self.frags[ri as usize];
                let src = r.prefix_len as usize + (b - r.offset as usize);
                read_chunks(
                    &self.arena,
                    &self.chunk_next,
                    r.first_chunk,
                    src,
                    &mut self.out[prefix + b..prefix + e],
                );
            }
            b = e;
        }
        if t.key.version == 4 {
            fix_ipv4_header(&mut self.out[..prefix], (prefix + total_us) as u16);
            self.counters.ipv4_reassembled += 1;
        } else {
            let plen = ((prefix - IPV6_HEADER) + total_us) as u16;
            self.out[4..6].copy_from_slice(&plen.to_be_bytes());
            if let Some(nh) = self.out.get_mut(head.nh_pos as usize) {
                *nh = head.next_header;
            }
            self.counters.ipv6_reassembled += 1;
        }
        self.free_tracker(slot);
        DefragOutcome::Reassembled(&self.out)
    }

    fn drop_oversized(&mut self, slot: u32) -> DefragOutcome<'static> {
        self.counters.oversized += 1;
        let freed = self.free_tracker(slot);
        self.counters.fragments_dropped += freed;
        DefragOutcome::Dropped(DropReason::Oversized)
    }
}

/// Copies `dst.len()` bytes starting `from` bytes into a chunk chain.
fn read_chunks(arena: &[u8], chunk_next: &[u32], first: u32, from: usize, dst: &mut [u8]) {
    let mut chunk = first;
    let mut skip = from;
    while skip >= CHUNK_SIZE && chunk != NIL {
        chunk = chunk_next.get(chunk as usize).copied().unwrap_or(NIL);
        skip -= CHUNK_SIZE;
    }
    let mut done = 0;
    while done < dst.len() && chunk != NIL {
        let base = chunk as usize * CHUNK_SIZE;
        let Some(src) = arena.get(base + skip..base + CHUNK_SIZE) else {
            return;
        };
        let n = src.len().min(dst.len() - done);
        dst[done..done + n].copy_from_slice(&src[..n]);
        done += n;
        skip = 0;
        chunk = chunk_next.get(chunk as usize).copied().unwrap_or(NIL);
    }
}

/// Total length set, fragment field (flags and offset) cleared, checksum recomputed.
fn fix_ipv4_header(h: &mut [u8], total_len: u16) {
    if h.len() < 20 {
        return;
    }
    h[2..4].copy_from_slice(&total_len.to_be_bytes());
    h[6] = 0;
    h[7] = 0;
    h[10] = 0;
    h[11] = 0;
    let mut sum = 0u32;
    for pair in h.chunks(2) {
        let word = u16::from_be_bytes([pair[0], pair.get(1).copied().unwrap_or(0)]);
        sum += u32::from(word);
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    h[10..12].copy_from_slice(&(!(sum as u16)).to_be_bytes());
}
