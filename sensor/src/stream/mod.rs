//! TCP stream reassembly, per direction, with bounded memory.
//!
//! # Why it looks like this
//!
//! Rules that inspect TCP payload must see what the receiving host sees: the bytes of each
//! direction in sequence order, once, whatever the segmentation, retransmissions, overlaps or
//! reordering on the wire. Suricata (stream-tcp.c, stream-tcp-reassemble.c, stream-tcp-list.c)
//! is the reference for the semantics; this module keeps its defaults and counter names but
//! has its own, simpler memory design:
//!
//! * One [`Reassembler`] per worker owns a pool of fixed-size 2 KiB chunks (`pool.rs`).
//!   A chunk holds one aligned window of one direction's stream offsets plus two bitmaps
//!   (bytes present, segment starts). Chunks are allocated in blocks while the pool warms up,
//!   then recycled through a free list: **no allocation per packet or per flow in steady
//!   state**. The pool never exceeds `memcap` bytes; a segment that would need more is cut
//!   (counted as `segment_memcap_drop`), which leaves a hole that is later skipped as a gap.
//! * Per flow, a small [`TcpStream`] (about 150 bytes, `Default`, no heap) lives in the flow
//!   table's entry: the TCP state, and per direction the initial sequence number, the next
//!   expected offset, the delivery point and a sorted list of chunk handles.
//! * Sequence numbers are turned into 64-bit stream offsets with serial-number arithmetic
//!   (RFC 1982) relative to the next expected byte, so wraparound at 2^32 needs no special case.
//!
//! # Semantics
//!
//! * **State machine**: SYN -> SYN/ACK -> ACK establishes (Suricata's 3WHS; the split
//!   handshake SYN, SYN, SYN/ACK, ACK works too); data is
//!   reassembled once a direction's initial sequence number is known and the session is at
//!   least in SYN_RECV. `midstream` (default false, as `stream.midstream`) picks up sessions
//!   whose handshake was not seen; `async_oneside` (default false) lets a session whose
//!   SYN/ACK was never seen become established on the client's ACK. FIN marks a direction
//!   finished (`Closing`, then `Closed` when both sides sent FIN); a valid RST closes at once.
//! * **SYN with data** is reassembled only when the SYN carries the TCP Fast Open option
//!   ([`TcpSegment::tfo`]), as Suricata does; otherwise the data is ignored and counted.
//! * **RST with data**: counted, not reassembled: receivers never hand RST payload to the
//!   application, and Suricata keeps it out of the stream too (detection may still inspect it
//!   per packet).
//! * **In-order data is final**: once a byte is contiguous with the stream it cannot change;
//!   later copies of it are retransmissions (compared, and counted as `overlap_diff_data` when
//!   different). Every receiving stack behaves the same way for data it already accepted.
//! * **Out-of-order data** is buffered; when a segment overlaps buffered data that is not yet
//!   contiguous, the configured [`OverlapPolicy`] (Suricata's per-OS table, default BSD)
//!   decides which bytes win. Segment boundaries of buffered data are kept as start markers,
//!   so "the stored segment" is the run of bytes from a start marker to the next marker or
//!   hole (data written into a hole by a later segment has no marker of its own unless it
//!   starts that segment: a close approximation of Suricata's segment list).
//! * **Gaps**: a hole is skipped when the receiver acknowledged past it (the peer's ACK is
//!   beyond the missing bytes: the data existed and the sensor lost it; counted as
//!   `reassembly_gap`, event [`StreamEvents::GAP`]), and after a valid RST or when the caller
//!   flushes the stream at flow end (counted as `holes_flushed`: such data may never have been
//!   sent, and Suricata raises no gap for it either, see suricata-verify
//!   `tcp-rst-unacked-stream-03-gap`). Either way the next chunk has `after_gap` set and no
//!   context.
//! * **Depth**: bytes at stream offsets at or past `depth` (default 1 MiB, 0 = unlimited) are
//!   not kept; `stream_depth_reached` counts each direction once.
//! * **Memory** is bounded by `memcap` per worker and `max_chunks_per_flow` per flow (an
//!   out-of-order window limit); what they refuse is counted, never grown. Delivered data is
//!   freed at once except the `lookbehind` bytes, so an idle in-order direction pins one chunk
//!   (two when the lookbehind straddles a chunk boundary) until its FIN, the depth, or
//!   [`Reassembler::release`]: size `memcap` for about 2 x 2 KiB x concurrent TCP flows.
//!
//! # Delivery contract for detection
//!
//! After each [`Reassembler::on_segment`], the caller drains [`Reassembler::next_chunk`] until
//! it returns `None`. Each [`StreamChunk`] is `data` = *context* ++ *new bytes*:
//! `data[new_from..]` are bytes of one direction never delivered before, in stream order,
//! starting at stream offset `offset`; `data[..new_from]` are up to `lookbehind` bytes that
//! were delivered just before them, contiguous with them (empty at stream start and after a
//! gap). Every stream byte appears as a new byte in exactly one chunk. So a matcher that
//! scans all of `data` and **keeps only matches that end at an index greater than
//! `new_from`** (see [`StreamChunk::is_new_match`]) reports each occurrence of a pattern
//! exactly once, including one that straddles two segments or two chunks, as long as the
//! match is at most `lookbehind + 1` bytes long. Set `lookbehind` to at least the longest
//! stream match span the rule set can produce (the signatures crate knows it). Chunks hold at
//! most `max_chunk` new bytes; the data lives in a per-worker scratch buffer and is valid
//! until the next call on the reassembler.
//!
//! # Wiring
//!
//! One [`Reassembler`] per worker; one [`TcpStream`] per TCP flow entry (Default when the entry
//! is created). Per TCP packet, after the flow tracker decided the direction:
//! `on_segment(&mut stream, to_server, &segment)`, then `while let Some(chunk) =
//! next_chunk(&mut stream)` run stream detection on `chunk`. When the flow ends (timeout,
//! eviction, shutdown): `flush`, drain `next_chunk` the same way, then `release` before the
//! entry is reused. Packet-level detection keeps working on the packet payload as before.
//!
//! # Deviations from Suricata
//!
//! * Data is delivered as soon as it is contiguous, on the packet that completed it.
//!   Suricata in IDS mode inspects raw stream data only once the receiver ACKed it, so its
//!   stream alerts fire on the ACK packet of the opposite direction; ours fire on the data
//!   packet itself.
//! * Overlap policy is applied per configured policy, not per host (`host-os-policy` tables
//!   are not implemented); "stored segment" boundaries are approximated by start markers.
//! * Sequence validation is lighter: no window checks, no PAWS/timestamps; RST validity is
//!   "sequence within what the sender has sent, plus a 64 KiB window" for every policy.
//! * Urgent data is treated inline (Suricata's default `urgent.policy: inline`).
//! * `memcap` is per worker (Suricata's `stream.reassembly.memcap` is global).

mod policy;
mod pool;
#[cfg(test)]
mod tests;

pub use policy::OverlapPolicy;
pub use pool::CHUNK as CHUNK_SIZE;

use crate::decode::TcpFlags;
use pool::{bits, Handle, Pool, CHUNK, NONE};

/// Reassembly settings (Suricata's `stream` section where it has an equivalent).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamConfig {
    /// Bytes reassembled per direction (`stream.reassembly.depth`, default 1 MiB); 0 means
    /// unlimited.
    pub depth: usize,
    /// Bytes of stream data buffered across all flows of one worker (default 64 MiB).
    pub memcap: usize,
    /// Pick up sessions whose handshake was not seen (`stream.midstream`, default false).
    pub midstream: bool,
    /// Establish a session when only the client side is seen (`stream.async-oneside`,
    /// default false).
    pub async_oneside: bool,
    /// Which data wins when out-of-order segments overlap (default BSD, as Suricata).
    pub policy: OverlapPolicy,
    /// Chunks one flow may hold, both directions together (default 256, i.e. 512 KiB);
    /// bounds out-of-order buffering per flow.
    pub max_chunks_per_flow: usize,
    /// Previously delivered bytes repeated before new bytes in each chunk (default 1024).
    pub lookbehind: usize,
    /// New bytes per delivered chunk at most (default 16 KiB).
    pub max_chunk: usize,
}

impl Default for StreamConfig {
    fn default() -> Self {
        StreamConfig {
            depth: 1024 * 1024,
            memcap: 64 * 1024 * 1024,
            midstream: false,
            async_oneside: false,
            policy: OverlapPolicy::Bsd,
            max_chunks_per_flow: 256,
            lookbehind: 1024,
            max_chunk: 16 * 1024,
        }
    }
}

/// One TCP segment as the reassembler needs it.
#[derive(Debug, Clone, Copy, Default)]
pub struct TcpSegment<'a> {
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgment number (meaningful when `flags.ack`).
    pub ack: u32,
    /// SYN, ACK, FIN, RST.
    pub flags: TcpFlags,
    /// The segment carries a TCP Fast Open option (kind 34): SYN data is reassembled.
    pub tfo: bool,
    /// Window field, unscaled (kept for zero-window accounting; not enforced).
    pub window: u16,
    /// TCP payload.
    pub payload: &'a [u8],
}

impl TcpSegment<'_> {
    /// Whether raw TCP options (the bytes after the fixed 20-byte header) carry a Fast Open
    /// option, as Suricata's decoder decides it: kind 34, or the experimental kinds 253/254
    /// with magic 0xF989. For filling [`TcpSegment::tfo`].
    pub fn fast_open_option(mut options: &[u8]) -> bool {
        while let [kind, rest @ ..] = options {
            match kind {
                0 => return false,
                1 => options = rest,
                34 => return true,
                253 | 254 if rest.get(1..3) == Some(&[0xf9, 0x89]) => return true,
                _ => {
                    let Some(&len) = rest.first() else {
                        return false;
                    };
                    options = options.get(usize::from(len).max(2)..).unwrap_or_default();
                }
            }
        }
        false
    }
}

/// TCP session state, a condensed version of Suricata's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, PartialOrd, Ord)]
pub enum TcpState {
    /// Nothing tracked (no segment yet, or not picked up).
    #[default]
    None,
    /// SYN seen.
    SynSent,
    /// SYN/ACK seen (or picked up midstream on a SYN/ACK).
    SynRecv,
    /// Handshake completed, or picked up midstream.
    Established,
    /// One side sent FIN.
    Closing,
    /// Both sides sent FIN, or a valid RST.
    Closed,
}

/// What happened to one segment, as a set of flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StreamEvents(u32);

impl StreamEvents {
    /// No event.
    pub const NONE: StreamEvents = StreamEvents(0);
    /// No session to put it in (no handshake and midstream off, or before the handshake).
    pub const NOT_TRACKED: StreamEvents = StreamEvents(1);
    /// The session was picked up midstream on this segment.
    pub const MIDSTREAM_PICKUP: StreamEvents = StreamEvents(1 << 1);
    /// Data beyond the next expected byte (a hole before it).
    pub const OUT_OF_ORDER: StreamEvents = StreamEvents(1 << 2);
    /// All of the data was already received.
    pub const RETRANSMISSION: StreamEvents = StreamEvents(1 << 3);
    /// Part of the data overlapped data already received.
    pub const OVERLAP: StreamEvents = StreamEvents(1 << 4);
    /// ... and the overlapping bytes differed.
    pub const OVERLAP_DIFF_DATA: StreamEvents = StreamEvents(1 << 5);
    /// Data refused because the worker's memcap was reached.
    pub const MEMCAP_DROP: StreamEvents = StreamEvents(1 << 6);
    /// Data refused because the flow's chunk limit was reached.
    pub const FLOW_LIMIT_DROP: StreamEvents = StreamEvents(1 << 7);
    /// Data cut at the reassembly depth.
    pub const DEPTH_REACHED: StreamEvents = StreamEvents(1 << 8);
    /// A hole the receiver acknowledged was skipped (data lost before the sensor).
    pub const GAP: StreamEvents = StreamEvents(1 << 9);
    /// Data on a SYN without the Fast Open option was ignored.
    pub const SYN_DATA_IGNORED: StreamEvents = StreamEvents(1 << 10);
    /// A valid RST carried data (not added to the stream).
    pub const RST_WITH_DATA: StreamEvents = StreamEvents(1 << 11);
    /// An RST outside the sender's sequence space was ignored.
    pub const INVALID_RST: StreamEvents = StreamEvents(1 << 12);
    /// A handshake packet did not fit (wrong ACK, SYN in an established session, ...).
    pub const INVALID_HANDSHAKE: StreamEvents = StreamEvents(1 << 13);
    /// A new SYN on a closed session started a new session (port reuse).
    pub const SESSION_REUSE: StreamEvents = StreamEvents(1 << 14);
    /// Data before the session accepts data (e.g. client data before the SYN/ACK) ignored.
    pub const DATA_IGNORED: StreamEvents = StreamEvents(1 << 15);

    /// True when every flag of `other` is set.
    pub fn contains(self, other: StreamEvents) -> bool {
        self.0 & other.0 == other.0
    }

    /// True when no flag is set.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The raw bits.
    pub fn bits(self) -> u32 {
        self.0
    }
}

impl std::ops::BitOr for StreamEvents {
    type Output = StreamEvents;
    fn bitor(self, rhs: StreamEvents) -> StreamEvents {
        StreamEvents(self.0 | rhs.0)
    }
}

impl std::ops::BitOrAssign for StreamEvents {
    fn bitor_assign(&mut self, rhs: StreamEvents) {
        self.0 |= rhs.0;
    }
}

/// What [`Reassembler::on_segment`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentOutcome {
    /// Session state after the segment.
    pub state: TcpState,
    /// What happened.
    pub events: StreamEvents,
    /// Some direction has bytes waiting for [`Reassembler::next_chunk`].
    pub pending: bool,
}

/// Newly contiguous bytes of one direction, with context before them (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamChunk<'a> {
    /// The direction: client to server.
    pub to_server: bool,
    /// Context bytes, then new bytes.
    pub data: &'a [u8],
    /// Index in `data` of the first new byte.
    pub new_from: usize,
    /// Stream offset (bytes since the direction's first byte) of `data[new_from]`.
    pub offset: u64,
    /// The bytes before `offset` were never seen (a gap was skipped): no context.
    pub after_gap: bool,
}

impl<'a> StreamChunk<'a> {
    /// The bytes delivered for the first time.
    pub fn new_bytes(&self) -> &'a [u8] {
        self.data.get(self.new_from..).unwrap_or_default()
    }

    /// The context bytes (already delivered in an earlier chunk).
    pub fn context(&self) -> &'a [u8] {
        self.data.get(..self.new_from).unwrap_or_default()
    }

    /// Whether a match ending at `end` (exclusive index into `data`) is reported by this
    /// chunk: it must end in the new bytes, otherwise an earlier chunk reported it.
    pub fn is_new_match(&self, end: usize) -> bool {
        end > self.new_from && end <= self.data.len()
    }
}

/// Counters, named after Suricata's `tcp.*` stats where one exists.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamCounters {
    /// Sessions created (`tcp.sessions`).
    pub sessions: u64,
    /// SYN packets (`tcp.syn`).
    pub syn: u64,
    /// SYN/ACK packets (`tcp.synack`).
    pub synack: u64,
    /// RST packets (`tcp.rst`).
    pub rst: u64,
    /// Sessions picked up midstream (`tcp.midstream_pickups`).
    pub midstream_pickups: u64,
    /// Segments seen.
    pub segments: u64,
    /// Segments with no session to go to.
    pub not_tracked: u64,
    /// Segments that arrived ahead of a hole.
    pub out_of_order: u64,
    /// Segments whose data was all received before.
    pub retransmissions: u64,
    /// Segments overlapping received data (`tcp.overlap`).
    pub overlap: u64,
    /// ... with different bytes (`tcp.overlap_diff_data`).
    pub overlap_diff_data: u64,
    /// Holes skipped that the receiver had acknowledged: data the sensor lost
    /// (`tcp.reassembly_gap`).
    pub reassembly_gap: u64,
    /// Holes skipped at a valid RST or flow end without having been acknowledged.
    pub holes_flushed: u64,
    /// Segments (partly) refused by the memcap (`tcp.segment_memcap_drop`).
    pub segment_memcap_drop: u64,
    /// Segments (partly) refused by the per-flow chunk limit.
    pub segment_flow_limit_drop: u64,
    /// Directions that reached the depth (`tcp.stream_depth_reached`).
    pub stream_depth_reached: u64,
    /// RSTs ignored as out of sequence.
    pub invalid_rst: u64,
    /// Handshake packets that did not fit the session.
    pub invalid_handshake: u64,
    /// SYN payloads ignored (no Fast Open option).
    pub syn_data_ignored: u64,
    /// Valid RSTs that carried data.
    pub rst_with_data: u64,
    /// Closed sessions restarted by a new SYN (`tcp.reused_ssn`).
    pub reused_ssn: u64,
    /// Stream bytes delivered as new bytes.
    pub bytes_delivered: u64,
    /// Pool chunks in use now.
    pub chunks_in_use: u64,
    /// Most pool chunks in use at once.
    pub chunks_peak: u64,
    /// Pool chunks allocated from the system.
    pub chunks_allocated: u64,
}

impl StreamCounters {
    /// Adds another worker's counters (gauges add too: each worker has its own pool).
    pub fn merge(&mut self, o: &StreamCounters) {
        self.sessions += o.sessions;
        self.syn += o.syn;
        self.synack += o.synack;
        self.rst += o.rst;
        self.midstream_pickups += o.midstream_pickups;
        self.segments += o.segments;
        self.not_tracked += o.not_tracked;
        self.out_of_order += o.out_of_order;
        self.retransmissions += o.retransmissions;
        self.overlap += o.overlap;
        self.overlap_diff_data += o.overlap_diff_data;
        self.reassembly_gap += o.reassembly_gap;
        self.holes_flushed += o.holes_flushed;
        self.segment_memcap_drop += o.segment_memcap_drop;
        self.segment_flow_limit_drop += o.segment_flow_limit_drop;
        self.stream_depth_reached += o.stream_depth_reached;
        self.invalid_rst += o.invalid_rst;
        self.invalid_handshake += o.invalid_handshake;
        self.syn_data_ignored += o.syn_data_ignored;
        self.rst_with_data += o.rst_with_data;
        self.reused_ssn += o.reused_ssn;
        self.bytes_delivered += o.bytes_delivered;
        self.chunks_in_use += o.chunks_in_use;
        self.chunks_peak += o.chunks_peak;
        self.chunks_allocated += o.chunks_allocated;
    }

    /// `(name, value)` pairs for the EVE `stats` record's `tcp` group.
    pub fn named(&self) -> [(&'static str, u64); 25] {
        [
            ("sessions", self.sessions),
            ("syn", self.syn),
            ("synack", self.synack),
            ("rst", self.rst),
            ("midstream_pickups", self.midstream_pickups),
            ("segments", self.segments),
            ("not_tracked", self.not_tracked),
            ("out_of_order", self.out_of_order),
            ("retransmissions", self.retransmissions),
            ("overlap", self.overlap),
            ("overlap_diff_data", self.overlap_diff_data),
            ("reassembly_gap", self.reassembly_gap),
            ("holes_flushed", self.holes_flushed),
            ("segment_memcap_drop", self.segment_memcap_drop),
            ("segment_flow_limit_drop", self.segment_flow_limit_drop),
            ("stream_depth_reached", self.stream_depth_reached),
            ("invalid_rst", self.invalid_rst),
            ("invalid_handshake", self.invalid_handshake),
            ("syn_data_ignored", self.syn_data_ignored),
            ("rst_with_data", self.rst_with_data),
            ("reused_ssn", self.reused_ssn),
            ("bytes_delivered", self.bytes_delivered),
            ("chunks_in_use", self.chunks_in_use),
            ("chunks_peak", self.chunks_peak),
            ("chunks_allocated", self.chunks_allocated),
        ]
    }
}

const F_INIT: u8 = 1;
const F_FIN: u8 = 1 << 1;
const F_DEPTH: u8 = 1 << 2;
const F_GAP_PENDING: u8 = 1 << 3;
/// Holes may be skipped regardless of ACKs (valid RST, flow end).
const F_FLUSH: u8 = 1 << 4;

/// One direction of a session.
#[derive(Debug, Default)]
struct Half {
    /// Sequence number of stream offset 0.
    base_seq: u32,
    /// Initial sequence number (SYN), or the pickup sequence number.
    isn: u32,
    /// Offsets below this are contiguous (delivered or waiting for delivery).
    next: u64,
    /// Offsets below this were delivered.
    delivered: u64,
    /// Where the current contiguous run began (stream start or the end of the last gap).
    ctx_start: u64,
    /// The receiver acknowledged everything below this offset.
    acked: u64,
    /// Highest stream offset + 1 seen in data.
    high: u64,
    /// Offset of the FIN, when `F_FIN`.
    fin_at: u64,
    head: Handle,
    tail: Handle,
    flags: u8,
}

impl Half {
    fn init(&mut self, isn: u32, base_seq: u32) {
        *self = Half {
            base_seq,
            isn,
            flags: F_INIT,
            ..Half::default()
        };
    }

    fn is_init(&self) -> bool {
        self.flags & F_INIT != 0
    }

    /// The sequence number of the next expected byte.
    fn next_seq(&self) -> u32 {
        // Truncation is the point: offsets are sequence numbers modulo 2^32.
        self.base_seq.wrapping_add(self.next as u32)
    }

    /// Stream offset of `seq`, by serial arithmetic around the next expected byte; negative
    /// when it lies before the start of the stream.
    fn offset_of(&self, seq: u32) -> i64 {
        let rel = i64::from(seq.wrapping_sub(self.next_seq()) as i32);
        i64::try_from(self.next)
            .unwrap_or(i64::MAX)
            .saturating_add(rel)
    }
}

/// Per-flow TCP state: keep one in each TCP flow entry, hand it to the [`Reassembler`] of the
/// worker that owns the flow, and give it back with [`Reassembler::release`] before dropping
/// it (otherwise its chunks stay counted as in use).
#[derive(Debug, Default)]
pub struct TcpStream {
    state: TcpState,
    /// Which half sent the first SYN (0 = to_server).
    initiator: u8,
    /// Which half sent the SYN/ACK (the server, except in a split handshake).
    synack_from: u8,
    /// Chunks held, both directions.
    chunks: u32,
    half: [Half; 2],
}

impl TcpStream {
    /// The session state.
    pub fn state(&self) -> TcpState {
        self.state
    }

    /// Handshake completed (or picked up), possibly closed since.
    pub fn is_established(&self) -> bool {
        self.state >= TcpState::Established
    }

    /// Pool chunks this flow holds.
    pub fn chunks(&self) -> usize {
        self.chunks as usize
    }

    /// Bytes of a direction delivered so far (including skipped gaps), i.e. its next offset.
    pub fn delivered(&self, to_server: bool) -> u64 {
        self.half[usize::from(!to_server)].delivered
    }

    fn pending(&self) -> bool {
        // `on_segment` ends with `advance`, which skips a hole whenever it can: what remains
        // pending is contiguous data not yet delivered.
        self.half.iter().any(|h| h.delivered < h.next)
    }
}

/// The per-worker reassembler: settings, the chunk pool, the delivery scratch and counters.
#[derive(Debug)]
pub struct Reassembler {
    cfg: StreamConfig,
    depth: u64,
    pool: Pool,
    scratch: Vec<u8>,
    counters: StreamCounters,
}

impl Reassembler {
    /// A reassembler with its pool capped at `cfg.memcap`; the delivery scratch is allocated
    /// now, chunk memory as the pool warms up.
    pub fn new(cfg: StreamConfig) -> Reassembler {
        let cfg = StreamConfig {
            lookbehind: cfg.lookbehind.min(64 * 1024),
            // In-order data needs a chunk per direction, two when the lookbehind straddles.
            max_chunks_per_flow: cfg.max_chunks_per_flow.max(4),
            max_chunk: cfg.max_chunk.clamp(1, 1024 * 1024),
            ..cfg
        };
        Reassembler {
            depth: if cfg.depth == 0 {
                u64::MAX
            } else {
                cfg.depth as u64
            },
            pool: Pool::new(cfg.memcap),
            scratch: Vec::with_capacity(cfg.lookbehind + cfg.max_chunk),
            counters: StreamCounters::default(),
            cfg,
        }
    }

    /// The settings in force.
    pub fn config(&self) -> &StreamConfig {
        &self.cfg
    }

    /// Counters so far, with the pool gauges.
    pub fn counters(&self) -> StreamCounters {
        StreamCounters {
            chunks_in_use: self.pool.in_use() as u64,
            chunks_peak: self.pool.peak() as u64,
            chunks_allocated: self.pool.allocated() as u64,
            ..self.counters
        }
    }

    /// Processes one segment of the flow `s`; `to_server` is the flow tracker's direction.
    /// Then drain [`Reassembler::next_chunk`].
    pub fn on_segment(
        &mut self,
        s: &mut TcpStream,
        to_server: bool,
        seg: &TcpSegment<'_>,
    ) -> SegmentOutcome {
        self.counters.segments += 1;
        let mut ev = StreamEvents::NONE;
        let d = usize::from(!to_server);
        let o = 1 - d;
        let f = seg.flags;
        if f.syn && f.ack {
            self.counters.synack += 1;
        } else if f.syn {
            self.counters.syn += 1;
        }
        if f.rst {
            self.counters.rst += 1;
        }
        if s.state == TcpState::Closed
            && f.syn
            && !f.ack
            && s.half.get(d).is_some_and(|h| h.isn != seg.seq)
        {
            self.release(s);
            self.counters.reused_ssn += 1;
            ev |= StreamEvents::SESSION_REUSE;
        }
        let mut take_data = false;
        match s.state {
            TcpState::None => {
                if f.rst {
                    ev |= StreamEvents::NOT_TRACKED;
                } else if f.syn && !f.ack {
                    self.init_half(s, d, seg.seq, seg.seq.wrapping_add(1));
                    s.initiator = d as u8;
                    s.state = TcpState::SynSent;
                    self.counters.sessions += 1;
                    if !seg.payload.is_empty() {
                        if seg.tfo {
                            take_data = true;
                        } else {
                            // Not stream data; remembered only so that a SYN/ACK that
                            // acknowledges it is still recognised.
                            s.half[d].high = seg.payload.len() as u64;
                            self.counters.syn_data_ignored += 1;
                            ev |= StreamEvents::SYN_DATA_IGNORED;
                        }
                    }
                } else if !self.cfg.midstream {
                    ev |= StreamEvents::NOT_TRACKED;
                } else if f.syn {
                    // SYN/ACK first: its sender is the server, the ACK gives the client's base.
                    self.init_half(s, d, seg.seq, seg.seq.wrapping_add(1));
                    self.init_half(s, o, seg.ack.wrapping_sub(1), seg.ack);
                    s.initiator = o as u8;
                    s.synack_from = d as u8;
                    s.state = TcpState::SynRecv;
                    self.counters.sessions += 1;
                    self.counters.midstream_pickups += 1;
                    ev |= StreamEvents::MIDSTREAM_PICKUP;
                } else {
                    self.init_half(s, d, seg.seq, seg.seq);
                    if f.ack {
                        self.init_half(s, o, seg.ack, seg.ack);
                    }
                    s.initiator = 0;
                    s.state = TcpState::Established;
                    self.counters.sessions += 1;
                    self.counters.midstream_pickups += 1;
                    ev |= StreamEvents::MIDSTREAM_PICKUP;
                    take_data = true;
                }
            }
            TcpState::SynSent => {
                let init = usize::from(s.initiator);
                if f.rst {
                    s.state = TcpState::Closed;
                } else if f.syn && !f.ack {
                    if d == init {
                        if s.half[d].isn != seg.seq && s.half[d].next == 0 {
                            // A SYN retransmitted with a new ISN replaces the old one.
                            self.init_half(s, d, seg.seq, seg.seq.wrapping_add(1));
                        }
                    } else if !s.half[d].is_init() || s.half[d].next == 0 {
                        // Split handshake (4WHS): the server answers the SYN with a SYN of
                        // its own, and the client sends the SYN/ACK.
                        self.init_half(s, d, seg.seq, seg.seq.wrapping_add(1));
                    }
                } else if f.syn {
                    // SYN/ACK: it must acknowledge the other side's SYN (and any SYN data).
                    let h = &s.half[o];
                    let acked = i64::from(seg.ack.wrapping_sub(h.base_seq) as i32);
                    if h.is_init() && acked >= 0 && acked as u64 <= h.high {
                        if d != init {
                            self.init_half(s, d, seg.seq, seg.seq.wrapping_add(1));
                        }
                        s.synack_from = d as u8;
                        s.state = TcpState::SynRecv;
                    } else {
                        ev |= StreamEvents::INVALID_HANDSHAKE;
                    }
                } else if self.cfg.async_oneside && d == init && f.ack {
                    self.init_half(s, o, seg.ack, seg.ack);
                    s.state = TcpState::Established;
                    take_data = true;
                } else if !seg.payload.is_empty() {
                    ev |= StreamEvents::DATA_IGNORED;
                }
            }
            TcpState::SynRecv => {
                let sa = usize::from(s.synack_from);
                if f.rst {
                    s.state = TcpState::Closed;
                } else if f.syn {
                    // Retransmitted SYN or SYN/ACK: nothing new.
                } else {
                    if d != sa && f.ack {
                        let h = &s.half[sa];
                        if seg.ack.wrapping_sub(h.base_seq) as i32 >= 0 {
                            s.state = TcpState::Established;
                        } else {
                            ev |= StreamEvents::INVALID_HANDSHAKE;
                        }
                    }
                    take_data = s.half[d].is_init();
                }
            }
            TcpState::Established | TcpState::Closing | TcpState::Closed => {
                if f.syn {
                    if !(f.ack && d != usize::from(s.initiator)) {
                        ev |= StreamEvents::INVALID_HANDSHAKE;
                    }
                } else if f.rst {
                    if self.rst_valid(&s.half[d], seg.seq) {
                        // RST data (RFC 1122 4.2.2.12 "diagnostic text") never reaches the
                        // application, so it is not stream data (Suricata's bug 6244 cases).
                        s.state = TcpState::Closed;
                        if !seg.payload.is_empty() {
                            self.counters.rst_with_data += 1;
                            ev |= StreamEvents::RST_WITH_DATA;
                        }
                    } else {
                        self.counters.invalid_rst += 1;
                        ev |= StreamEvents::INVALID_RST;
                    }
                } else {
                    take_data = s.half[d].is_init();
                    if !s.half[d].is_init() && s.half[o].is_init() {
                        // Midstream session whose first packet had no ACK: this direction
                        // starts here.
                        self.init_half(s, d, seg.seq, seg.seq);
                        take_data = true;
                    }
                }
            }
        }
        if ev.contains(StreamEvents::NOT_TRACKED) {
            self.counters.not_tracked += 1;
            return SegmentOutcome {
                state: s.state,
                events: ev,
                pending: false,
            };
        }
        if ev.contains(StreamEvents::INVALID_HANDSHAKE) {
            self.counters.invalid_handshake += 1;
        }
        if take_data {
            // A SYN occupies one sequence number: its data starts after it.
            let data_seq = seg.seq.wrapping_add(u32::from(f.syn));
            if !seg.payload.is_empty() {
                ev |= self.insert(s, d, data_seq, seg.payload);
            }
            if seg.flags.fin && s.half[d].is_init() {
                let h = &mut s.half[d];
                let at = h
                    .offset_of(data_seq)
                    .saturating_add(seg.payload.len() as i64);
                if h.flags & F_FIN == 0 {
                    h.flags |= F_FIN;
                    h.fin_at = u64::try_from(at).unwrap_or(0);
                }
                let both = s.half.iter().all(|h| h.flags & F_FIN != 0);
                s.state = if both {
                    TcpState::Closed
                } else {
                    s.state.max(TcpState::Closing)
                };
            }
        }
        if f.rst && s.state == TcpState::Closed {
            // Nothing more will fill the holes: deliver what is buffered past them.
            for h in &mut s.half {
                h.flags |= F_FLUSH;
            }
        }
        if f.ack && s.state >= TcpState::SynRecv && s.half[o].is_init() {
            let h = &mut s.half[o];
            let rel = seg.ack.wrapping_sub(h.next_seq()) as i32;
            if rel > 0 {
                let mut to = h.next.saturating_add(rel as u64);
                if h.flags & F_FIN != 0 {
                    to = to.min(h.fin_at);
                }
                h.acked = h.acked.max(to);
            }
        }
        for i in [d, o] {
            ev |= self.advance(s, i);
            self.release_finished(s, i);
        }
        SegmentOutcome {
            state: s.state,
            events: ev,
            pending: s.pending(),
        }
    }

    /// Frees a direction's lookbehind once no further chunk can follow it: everything up to
    /// its FIN, or up to the depth, was delivered.
    fn release_finished(&mut self, s: &mut TcpStream, d: usize) {
        let Some(h) = s.half.get_mut(d) else {
            return;
        };
        let done = h.delivered == h.next
            && ((h.flags & F_FIN != 0 && h.delivered >= h.fin_at) || h.delivered >= self.depth);
        if done && h.head != NONE {
            // Anything after this is not contiguous with what came before.
            h.ctx_start = h.delivered;
            free_below(&mut self.pool, s, d, u64::MAX);
        }
    }

    /// (Re)starts direction `d` at `isn`, its data at `base_seq`, returning any chunks it held.
    fn init_half(&mut self, s: &mut TcpStream, d: usize, isn: u32, base_seq: u32) {
        free_below(&mut self.pool, s, d, u64::MAX);
        if let Some(h) = s.half.get_mut(d) {
            h.init(isn, base_seq);
        }
    }

    fn rst_valid(&self, h: &Half, seq: u32) -> bool {
        if !h.is_init() {
            return true;
        }
        let off = h.offset_of(seq);
        let lo = i64::try_from(h.next).unwrap_or(i64::MAX);
        let hi = i64::try_from(h.high.max(h.next))
            .unwrap_or(i64::MAX)
            .saturating_add(65_536);
        (lo..=hi).contains(&off)
    }

    /// Delivers the next piece of newly contiguous data of either direction, `None` when
    /// nothing is waiting. Call until `None` after every [`Reassembler::on_segment`] (and
    /// after [`Reassembler::flush`]).
    pub fn next_chunk(&mut self, s: &mut TcpStream) -> Option<StreamChunk<'_>> {
        for d in 0..2 {
            let _ = self.advance(s, d);
            let h = &mut s.half[d];
            if h.delivered >= h.next {
                continue;
            }
            let new = (h.next - h.delivered).min(self.cfg.max_chunk as u64);
            let after_gap = h.flags & F_GAP_PENDING != 0;
            let ctx = (h.delivered - h.ctx_start).min(self.cfg.lookbehind as u64);
            let from = h.delivered - ctx;
            let to = h.delivered + new;
            self.scratch.clear();
            let mut ctx = ctx;
            if !copy_out(&self.pool, h, from, to, &mut self.scratch) {
                // Context no longer buffered (cannot happen by construction): deliver the new
                // bytes alone.
                ctx = 0;
                self.scratch.clear();
                copy_out(&self.pool, h, h.delivered, to, &mut self.scratch);
            }
            let offset = h.delivered;
            h.delivered = to;
            h.flags &= !F_GAP_PENDING;
            self.counters.bytes_delivered += new;
            let keep = to.saturating_sub(self.cfg.lookbehind as u64);
            free_below(&mut self.pool, s, d, keep);
            self.release_finished(s, d);
            let new_from = ctx as usize;
            return Some(StreamChunk {
                to_server: d == 0,
                data: &self.scratch,
                new_from: new_from.min(self.scratch.len()),
                offset,
                after_gap,
            });
        }
        None
    }

    /// Flow end: lets [`Reassembler::next_chunk`] skip every hole and deliver all buffered
    /// data. Call it, drain, then [`Reassembler::release`].
    pub fn flush(&mut self, s: &mut TcpStream) {
        for h in &mut s.half {
            if h.is_init() {
                h.flags |= F_FLUSH;
            }
        }
    }

    /// Returns the flow's chunks to the pool and resets it to `Default`.
    pub fn release(&mut self, s: &mut TcpStream) {
        for d in 0..2 {
            free_below(&mut self.pool, s, d, u64::MAX);
        }
        *s = TcpStream::default();
    }

    /// Extends a direction's contiguous run over buffered data and, when everything before
    /// it was delivered, skips a hole the receiver acknowledged past.
    fn advance(&mut self, s: &mut TcpStream, d: usize) -> StreamEvents {
        let mut ev = StreamEvents::NONE;
        loop {
            let Some(h) = s.half.get_mut(d) else {
                return ev;
            };
            if !h.is_init() {
                return ev;
            }
            h.next = contiguous_end(&self.pool, h, h.next).min(self.depth);
            if h.next >= self.depth && h.flags & F_DEPTH == 0 {
                h.flags |= F_DEPTH;
                self.counters.stream_depth_reached += 1;
                ev |= StreamEvents::DEPTH_REACHED;
            }
            let limit = if h.flags & F_FLUSH != 0 {
                u64::MAX
            } else {
                h.acked
            };
            if h.delivered < h.next || limit <= h.next || h.next >= self.depth {
                return ev;
            }
            let target = match first_present(&self.pool, h, h.next) {
                Some(p) => p.min(limit),
                None if limit == u64::MAX => return ev,
                None => limit,
            }
            .min(self.depth);
            if target <= h.next {
                return ev;
            }
            // A hole the receiver acknowledged (partly) held data the sensor lost: a gap in
            // Suricata's sense. One skipped at RST or flow end may never have been sent.
            if h.next < h.acked {
                self.counters.reassembly_gap += 1;
                ev |= StreamEvents::GAP;
            } else {
                self.counters.holes_flushed += 1;
            }
            h.next = target;
            h.delivered = target;
            h.ctx_start = target;
            h.flags |= F_GAP_PENDING;
            free_below(&mut self.pool, s, d, target);
        }
    }

    /// Stores a segment's payload in direction `d`.
    fn insert(&mut self, s: &mut TcpStream, d: usize, seq: u32, payload: &[u8]) -> StreamEvents {
        let mut ev = StreamEvents::NONE;
        let policy = self.cfg.policy;
        let Some(h) = s.half.get(d).filter(|h| h.is_init()) else {
            return ev;
        };
        let start = h.offset_of(seq);
        let end = start.saturating_add(i64::try_from(payload.len()).unwrap_or(i64::MAX));
        if end <= 0 {
            // Entirely before the stream's first byte (e.g. the SYN's sequence number).
            return ev;
        }
        let skip = usize::try_from(start.min(0).unsigned_abs()).unwrap_or(usize::MAX);
        let payload = payload.get(skip..).unwrap_or_default();
        let start = start.max(0) as u64;
        let end = end as u64;
        let next = h.next;
        let mut overlap = false;
        let mut differ = false;

        // Already contiguous part: final; compare with what is still buffered.
        if start < next {
            overlap = true;
            let old_end = end.min(next);
            differ |= compare_old(&self.pool, h, start, old_end, payload);
            if end <= next {
                self.counters.retransmissions += 1;
                ev |= StreamEvents::RETRANSMISSION;
            }
        } else if start > next {
            self.counters.out_of_order += 1;
            ev |= StreamEvents::OUT_OF_ORDER;
        }
        let h_mut = &mut s.half[d];
        h_mut.high = h_mut.high.max(end.min(self.depth));
        let lo = start.max(next);
        let hi = end.min(self.depth);
        if end > self.depth && lo <= self.depth && h_mut.flags & F_DEPTH == 0 {
            h_mut.flags |= F_DEPTH;
            self.counters.stream_depth_reached += 1;
            ev |= StreamEvents::DEPTH_REACHED;
        }
        let mut pos = lo;
        let mut memcap_drop = false;
        let mut limit_drop = false;
        while pos < hi {
            let coff = pos / CHUNK as u64 * CHUNK as u64;
            let a = (pos - coff) as usize;
            let b = (hi - coff).min(CHUNK as u64) as usize;
            let piece_end = coff + b as u64;
            let handle = match chunk_for(&mut self.pool, s, d, coff, self.cfg.max_chunks_per_flow) {
                Ok(hd) => hd,
                Err(Refused::Memcap) => {
                    memcap_drop = true;
                    pos = piece_end;
                    continue;
                }
                Err(Refused::FlowLimit) => {
                    limit_drop = true;
                    pos = piece_end;
                    continue;
                }
            };
            let src_at = |off: u64| (off - start) as usize;
            // Walk the chunk piece as alternating runs of absent and present bytes.
            let mut i = a;
            while i < b {
                let present_here = self
                    .pool
                    .meta(handle)
                    .is_some_and(|m| bits::get(&m.present, i));
                if !present_here {
                    let j = self
                        .pool
                        .meta(handle)
                        .and_then(|m| bits::find(&m.present, i, b, true))
                        .unwrap_or(b);
                    let first = coff + i as u64;
                    let prev_present = if i > 0 {
                        self.pool
                            .meta(handle)
                            .is_some_and(|m| bits::get(&m.present, i - 1))
                    } else {
                        present_at(&self.pool, &s.half[d], first.wrapping_sub(1))
                    };
                    let mark = first == start || first == lo || !prev_present;
                    if let Some((buf, meta)) = self.pool.parts_mut(handle) {
                        if let (Some(dst), Some(src)) = (
                            buf.get_mut(i..j),
                            payload.get(src_at(first)..src_at(coff + j as u64)),
                        ) {
                            dst.copy_from_slice(src);
                        }
                        bits::set(&mut meta.present, i, j);
                        if mark {
                            bits::set_one(&mut meta.starts, i);
                        }
                    }
                    i = j;
                } else {
                    overlap = true;
                    let j = self
                        .pool
                        .meta(handle)
                        .and_then(|m| bits::find(&m.present, i, b, false))
                        .unwrap_or(b);
                    // Same bytes (a plain retransmission): nothing to decide.
                    let same = self.pool.data(handle).and_then(|buf| buf.get(i..j))
                        == payload.get(src_at(coff + i as u64)..src_at(coff + j as u64));
                    // Otherwise split [i, j) by the stored segments it belongs to.
                    let mut k = if same { j } else { i };
                    while k < j {
                        let x = coff + k as u64;
                        let (ls, le) = stored_segment(&self.pool, &s.half[d], handle, x);
                        let stop = (le.saturating_sub(coff) as usize).clamp(k + 1, j);
                        let src = payload
                            .get(src_at(x)..src_at(coff + stop as u64))
                            .unwrap_or_default();
                        if let Some((buf, _)) = self.pool.parts_mut(handle) {
                            if let Some(dst) = buf.get_mut(k..stop) {
                                if dst != src {
                                    differ = true;
                                    if policy.new_wins(start, end, ls, le) {
                                        dst.copy_from_slice(src);
                                    }
                                }
                            }
                        }
                        k = stop;
                    }
                    i = j;
                }
            }
            pos = piece_end;
        }
        if memcap_drop {
            self.counters.segment_memcap_drop += 1;
            ev |= StreamEvents::MEMCAP_DROP;
        }
        if limit_drop {
            self.counters.segment_flow_limit_drop += 1;
            ev |= StreamEvents::FLOW_LIMIT_DROP;
        }
        if overlap {
            self.counters.overlap += 1;
            ev |= StreamEvents::OVERLAP;
        }
        if differ {
            self.counters.overlap_diff_data += 1;
            ev |= StreamEvents::OVERLAP_DIFF_DATA;
        }
        ev
    }
}

enum Refused {
    Memcap,
    FlowLimit,
}

/// The chunk at aligned offset `coff` of direction `d`, allocated and linked in when missing.
fn chunk_for(
    pool: &mut Pool,
    s: &mut TcpStream,
    d: usize,
    coff: u64,
    max_chunks: usize,
) -> Result<Handle, Refused> {
    let h = &s.half[d];
    // Fast path: appending at or after the tail.
    let mut prev = NONE;
    let mut cur = h.head;
    if let Some(t) = pool.meta(h.tail) {
        if t.offset == coff {
            return Ok(h.tail);
        }
        if t.offset < coff {
            prev = h.tail;
            cur = NONE;
        }
    }
    while let Some(m) = pool.meta(cur) {
        if m.offset == coff {
            return Ok(cur);
        }
        if m.offset > coff {
            break;
        }
        prev = cur;
        cur = m.next;
    }
    if s.chunks as usize >= max_chunks {
        return Err(Refused::FlowLimit);
    }
    let new = pool.alloc(coff).ok_or(Refused::Memcap)?;
    if let Some(m) = pool.meta_mut(new) {
        m.next = cur;
    }
    let h = &mut s.half[d];
    match pool.meta_mut(prev) {
        Some(p) => p.next = new,
        None => h.head = new,
    }
    if cur == NONE {
        h.tail = new;
    }
    s.chunks += 1;
    Ok(new)
}

/// The chunk holding offset `x`, or `NONE`.
fn find(pool: &Pool, h: &Half, x: u64) -> Handle {
    if let Some(t) = pool.meta(h.tail) {
        if t.offset <= x && x < t.offset + CHUNK as u64 {
            return h.tail;
        }
    }
    let mut cur = h.head;
    while let Some(m) = pool.meta(cur) {
        if x < m.offset {
            return NONE;
        }
        if x < m.offset + CHUNK as u64 {
            return cur;
        }
        cur = m.next;
    }
    NONE
}

fn present_at(pool: &Pool, h: &Half, x: u64) -> bool {
    pool.meta(find(pool, h, x))
        .is_some_and(|m| bits::get(&m.present, (x - m.offset) as usize))
}

/// The first offset at or after `from` where a byte is missing.
fn contiguous_end(pool: &Pool, h: &Half, from: u64) -> u64 {
    let mut pos = from;
    let mut cur = find(pool, h, pos);
    while let Some(m) = pool.meta(cur) {
        if m.offset > pos {
            return pos;
        }
        let i = (pos - m.offset) as usize;
        if let Some(j) = bits::find(&m.present, i, CHUNK, false) {
            return m.offset + j as u64;
        }
        pos = m.offset + CHUNK as u64;
        cur = m.next;
    }
    pos
}

/// The first offset at or after `from` holding a byte.
fn first_present(pool: &Pool, h: &Half, from: u64) -> Option<u64> {
    let mut cur = h.head;
    while let Some(m) = pool.meta(cur) {
        if m.offset + (CHUNK as u64) > from {
            let i = from.saturating_sub(m.offset) as usize;
            if let Some(j) = bits::find(&m.present, i, CHUNK, true) {
                return Some(m.offset + j as u64);
            }
        }
        cur = m.next;
    }
    None
}

/// How far the stored-segment search looks around an overlapped byte.
const SEGMENT_SCAN: u64 = 8 * CHUNK as u64;

/// The stored segment holding the present byte `x`: from the last start marker (or hole) at
/// or before it to the next marker (or hole) after it, searched within `SEGMENT_SCAN` bytes.
/// `at` is the chunk holding `x`: the common case never walks the chunk list.
fn stored_segment(pool: &Pool, h: &Half, at: Handle, x: u64) -> (u64, u64) {
    let mut ls;
    let floor = x.saturating_sub(SEGMENT_SCAN);
    let mut pos = x;
    let mut cur = at;
    loop {
        let m = match pool.meta(cur) {
            Some(m) => m,
            None => {
                ls = pos.saturating_add(1).min(x);
                break;
            }
        };
        let i = (pos - m.offset) as usize;
        let marker = bits::rfind(&m.starts, 0, i + 1, true);
        let hole = bits::rfind(&m.present, 0, i + 1, false);
        match (marker, hole) {
            (Some(mk), Some(hl)) if hl > mk => {
                ls = m.offset + hl as u64 + 1;
                break;
            }
            (Some(mk), _) => {
                ls = m.offset + mk as u64;
                break;
            }
            (None, Some(hl)) => {
                ls = m.offset + hl as u64 + 1;
                break;
            }
            (None, None) => {
                ls = m.offset;
                if m.offset == 0 || m.offset <= floor {
                    break;
                }
                pos = m.offset - 1;
                // Singly linked: the previous chunk needs a walk (once per run at most).
                cur = find(pool, h, pos);
            }
        }
    }
    let ceil = x.saturating_add(SEGMENT_SCAN);
    let mut le;
    let mut pos = x + 1;
    let mut cur = at;
    loop {
        let m = match pool.meta(cur) {
            Some(m) if pos < m.offset + CHUNK as u64 => m,
            Some(m) if pos == m.offset + CHUNK as u64 => {
                // Continue into the next chunk if it is the adjacent one.
                cur = pool
                    .meta(m.next)
                    .map_or(NONE, |n| if n.offset == pos { m.next } else { NONE });
                continue;
            }
            _ => {
                le = pos;
                break;
            }
        };
        let i = (pos - m.offset) as usize;
        let marker = bits::find(&m.starts, i, CHUNK, true);
        let hole = bits::find(&m.present, i, CHUNK, false);
        match marker.into_iter().chain(hole).min() {
            Some(e) => {
                le = m.offset + e as u64;
                break;
            }
            None => {
                le = m.offset + CHUNK as u64;
                if le >= ceil {
                    break;
                }
                pos = le;
            }
        }
    }
    (ls, le.max(x + 1))
}

/// Compares `payload` (starting at stream offset `start`) with buffered bytes in
/// `[start, end)`; true when a buffered byte differs.
fn compare_old(pool: &Pool, h: &Half, start: u64, end: u64, payload: &[u8]) -> bool {
    let mut cur = h.head;
    while let Some(m) = pool.meta(cur) {
        let c0 = m.offset;
        let c1 = c0 + CHUNK as u64;
        if c0 >= end {
            break;
        }
        let a = start.max(c0);
        let b = end.min(c1);
        if a < b {
            if let Some(data) = pool.data(cur) {
                for x in a..b {
                    let i = (x - c0) as usize;
                    if bits::get(&m.present, i) && data.get(i) != payload.get((x - start) as usize)
                    {
                        return true;
                    }
                }
            }
        }
        cur = m.next;
    }
    false
}

/// Appends the bytes `[from, to)` of a direction to `out`; false when some were not buffered.
fn copy_out(pool: &Pool, h: &Half, from: u64, to: u64, out: &mut Vec<u8>) -> bool {
    let before = out.len();
    let mut cur = find(pool, h, from);
    let mut pos = from;
    while pos < to {
        let Some(m) = pool.meta(cur) else {
            break;
        };
        let i = (pos - m.offset) as usize;
        let j = (to - m.offset).min(CHUNK as u64) as usize;
        if let Some(bytes) = pool.data(cur).and_then(|d| d.get(i..j)) {
            out.extend_from_slice(bytes);
        }
        pos = m.offset + j as u64;
        cur = m.next;
    }
    (out.len() - before) as u64 == to - from
}

/// Returns the chunks of direction `d` that lie entirely below `limit` to the pool.
fn free_below(pool: &mut Pool, s: &mut TcpStream, d: usize, limit: u64) {
    let h = &mut s.half[d];
    while let Some(m) = pool.meta(h.head) {
        if m.offset.saturating_add(CHUNK as u64) > limit {
            break;
        }
        let next = m.next;
        pool.release(h.head);
        s.chunks = s.chunks.saturating_sub(1);
        h.head = next;
    }
    if h.head == NONE {
        h.tail = NONE;
    }
}
