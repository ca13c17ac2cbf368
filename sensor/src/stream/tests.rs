//! Unit tests of the reassembler: state machine, ordering, overlaps, gaps, limits, delivery.

use super::*;

const C: bool = true; // client -> server
const S: bool = false; // server -> client

fn flags(syn: bool, ack: bool, fin: bool, rst: bool) -> TcpFlags {
    TcpFlags {
        syn,
        ack,
        fin,
        rst,
        ..TcpFlags::default()
    }
}

fn data(seq: u32, ack: u32, payload: &[u8]) -> TcpSegment<'_> {
    TcpSegment {
        seq,
        ack,
        flags: flags(false, true, false, false),
        window: 65535,
        payload,
        ..TcpSegment::default()
    }
}

/// A reassembler, one flow, and what detection received per direction.
struct H {
    r: Reassembler,
    s: TcpStream,
    out: [Vec<u8>; 2],
    gaps: [usize; 2],
    chunks: usize,
    events: StreamEvents,
    /// Expect full context on every chunk without a gap (false where data after a FIN or
    /// the depth may legitimately come without context).
    strict: bool,
}

impl H {
    fn new(cfg: StreamConfig) -> H {
        H {
            r: Reassembler::new(cfg),
            s: TcpStream::default(),
            out: [Vec::new(), Vec::new()],
            gaps: [0, 0],
            chunks: 0,
            events: StreamEvents::NONE,
            strict: true,
        }
    }

    fn feed(&mut self, to_server: bool, seg: TcpSegment<'_>) -> SegmentOutcome {
        let o = self.r.on_segment(&mut self.s, to_server, &seg);
        self.events |= o.events;
        if o.events.contains(StreamEvents::SESSION_REUSE) {
            self.out = [Vec::new(), Vec::new()];
            self.gaps = [0, 0];
        }
        self.drain();
        o
    }

    fn drain(&mut self) {
        let look = self.r.config().lookbehind;
        while let Some(c) = self.r.next_chunk(&mut self.s) {
            let d = usize::from(!c.to_server);
            let out = &mut self.out[d];
            assert!(!c.new_bytes().is_empty());
            if c.after_gap {
                self.gaps[d] += 1;
                assert!(c.context().is_empty());
            } else {
                // Context is exactly the tail of what was delivered before.
                let n = c.context().len();
                assert!(n <= look);
                assert_eq!(c.context(), &out[out.len() - n..]);
                assert!(!self.strict || n == look.min(out.len()) || self.gaps[d] > 0);
            }
            out.extend_from_slice(c.new_bytes());
            self.chunks += 1;
        }
    }

    /// SYN, SYN/ACK, ACK with the given initial sequence numbers.
    fn handshake(&mut self, cisn: u32, sisn: u32) {
        let syn = TcpSegment {
            seq: cisn,
            flags: flags(true, false, false, false),
            ..TcpSegment::default()
        };
        assert_eq!(self.feed(C, syn).state, TcpState::SynSent);
        let synack = TcpSegment {
            seq: sisn,
            ack: cisn.wrapping_add(1),
            flags: flags(true, true, false, false),
            ..TcpSegment::default()
        };
        assert_eq!(self.feed(S, synack).state, TcpState::SynRecv);
        let ack = data(cisn.wrapping_add(1), sisn.wrapping_add(1), b"");
        assert_eq!(self.feed(C, ack).state, TcpState::Established);
    }
}

const CISN: u32 = 1000;
const SISN: u32 = 5000;
const C0: u32 = CISN + 1;
const S0: u32 = SISN + 1;

#[test]
fn in_order_both_directions() {
    let mut h = H::new(StreamConfig::default());
    h.handshake(CISN, SISN);
    h.feed(C, data(C0, S0, b"GET / HTTP/1.1\r\n"));
    h.feed(C, data(C0 + 16, S0, b"Host: x\r\n\r\n"));
    h.feed(S, data(S0, C0 + 27, b"HTTP/1.1 200 OK\r\n"));
    assert_eq!(h.out[0], b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(h.out[1], b"HTTP/1.1 200 OK\r\n");
    let c = h.r.counters();
    assert_eq!((c.sessions, c.syn, c.synack), (1, 1, 1));
    assert_eq!(c.bytes_delivered, 27 + 17);
    assert_eq!((c.overlap, c.out_of_order, c.reassembly_gap), (0, 0, 0));
    assert!(h.s.is_established());
    // In-order data keeps at most the lookbehind buffered.
    assert!(h.s.chunks() <= 2);
}

#[test]
fn out_of_order_is_held_until_the_hole_fills() {
    let mut h = H::new(StreamConfig::default());
    h.handshake(CISN, SISN);
    let o = h.feed(C, data(C0 + 5, S0, b"world"));
    assert!(o.events.contains(StreamEvents::OUT_OF_ORDER));
    assert!(!o.pending);
    assert!(h.out[0].is_empty());
    h.feed(C, data(C0 + 10, S0, b"!"));
    h.feed(C, data(C0, S0, b"hello"));
    assert_eq!(h.out[0], b"helloworld!");
    assert_eq!(h.r.counters().out_of_order, 2);
    assert_eq!(h.gaps, [0, 0]);
}

#[test]
fn retransmission_same_and_different_data() {
    let mut h = H::new(StreamConfig::default());
    h.handshake(CISN, SISN);
    h.feed(C, data(C0, S0, b"abcdef"));
    let o = h.feed(C, data(C0, S0, b"abcdef"));
    assert!(o
        .events
        .contains(StreamEvents::RETRANSMISSION | StreamEvents::OVERLAP));
    assert!(!o.events.contains(StreamEvents::OVERLAP_DIFF_DATA));
    // Different data for bytes already delivered: counted, first copy stays.
    let o = h.feed(C, data(C0 + 2, S0, b"XYZW"));
    assert!(o.events.contains(StreamEvents::OVERLAP_DIFF_DATA));
    // Partly old, partly new.
    h.feed(C, data(C0 + 4, S0, b"efgh"));
    assert_eq!(h.out[0], b"abcdefgh");
    let c = h.r.counters();
    assert_eq!(c.retransmissions, 2);
    assert_eq!(c.overlap, 3);
    assert_eq!(c.overlap_diff_data, 1);
}

/// Stores "0123456789" at [10, 20) out of order, sends `new` at `at`, fills the hole before
/// them and returns what was delivered.
fn overlap_case(policy: OverlapPolicy, at: u32, new: &[u8]) -> (Vec<u8>, StreamCounters) {
    let mut h = H::new(StreamConfig {
        policy,
        ..StreamConfig::default()
    });
    h.handshake(CISN, SISN);
    h.feed(C, data(C0 + 10, S0, b"0123456789"));
    h.feed(C, data(C0 + at, S0, new));
    let fill = [b'_'; 10];
    h.feed(C, data(C0, S0, &fill[..at.min(10) as usize]));
    h.r.flush(&mut h.s);
    h.drain();
    (h.out[0].clone(), h.r.counters())
}

#[test]
fn overlap_policies_decide_out_of_order_conflicts() {
    // New segment [5, 25) starts before the stored one: BSD and Linux take it, First does not.
    let new = b"abcdefghijklmnopqrst";
    let (bsd, c) = overlap_case(OverlapPolicy::Bsd, 5, new);
    assert_eq!(bsd, b"_____abcdefghijklmnopqrst");
    assert_eq!((c.overlap, c.overlap_diff_data), (1, 1));
    let (first, _) = overlap_case(OverlapPolicy::First, 5, new);
    assert_eq!(first, b"_____abcde0123456789pqrst");
    let (last, _) = overlap_case(OverlapPolicy::Last, 5, new);
    assert_eq!(last, bsd);
    // New segment [10, 25): same start, ends beyond: Linux takes it, BSD keeps the old bytes.
    let new = b"ABCDEFGHIJKLMNO";
    let (linux, _) = overlap_case(OverlapPolicy::Linux, 10, new);
    assert_eq!(linux, b"__________ABCDEFGHIJKLMNO");
    let (bsd, _) = overlap_case(OverlapPolicy::Bsd, 10, new);
    assert_eq!(bsd, b"__________0123456789KLMNO");
    // New segment [12, 25): starts after: Solaris takes it (ends beyond), BSD does not.
    let (sol, _) = overlap_case(OverlapPolicy::Solaris, 12, b"abcdefghijklm");
    assert_eq!(sol, b"__________01abcdefghijklm");
    let (bsd, _) = overlap_case(OverlapPolicy::Bsd, 12, b"abcdefghijklm");
    assert_eq!(bsd, b"__________0123456789ijklm");
    // Same data: overlap without difference.
    let (_, c) = overlap_case(OverlapPolicy::Bsd, 12, b"23456789");
    assert_eq!((c.overlap, c.overlap_diff_data), (1, 0));
}

#[test]
fn hole_skipped_when_the_receiver_acks_past_it() {
    let mut h = H::new(StreamConfig::default());
    h.handshake(CISN, SISN);
    h.feed(C, data(C0, S0, b"aaaa"));
    h.feed(C, data(C0 + 8, S0, b"cccc")); // [4, 8) lost by the sensor
    assert_eq!(h.out[0], b"aaaa");
    // The server acknowledges everything: the bytes existed, we missed them.
    let o = h.feed(S, data(S0, C0 + 12, b""));
    assert!(o.events.contains(StreamEvents::GAP));
    assert_eq!(h.out[0], b"aaaacccc");
    assert_eq!(h.gaps[0], 1);
    assert_eq!(h.r.counters().reassembly_gap, 1);
    // The lost bytes arriving late are old news.
    let o = h.feed(C, data(C0 + 4, S0, b"bbbb"));
    assert!(o.events.contains(StreamEvents::RETRANSMISSION));
    assert_eq!(h.out[0], b"aaaacccc");
    // An ACK past everything we have skips to it.
    h.feed(S, data(S0, C0 + 20, b""));
    h.feed(C, data(C0 + 20, S0, b"dd"));
    assert_eq!(h.out[0], b"aaaaccccdd");
    assert_eq!(h.r.counters().reassembly_gap, 2);
}

#[test]
fn hole_never_filled_is_flushed_at_flow_end() {
    let mut h = H::new(StreamConfig::default());
    h.handshake(CISN, SISN);
    h.feed(C, data(C0 + 3, S0, b"xyz"));
    assert!(h.out[0].is_empty());
    h.r.flush(&mut h.s);
    h.drain();
    assert_eq!(h.out[0], b"xyz");
    assert_eq!(h.gaps[0], 1);
    h.r.release(&mut h.s);
    assert_eq!(h.r.counters().chunks_in_use, 0);
    assert_eq!(h.s.state(), TcpState::None);
}

#[test]
fn sequence_numbers_wrap() {
    for cisn in [u32::MAX - 5, u32::MAX, u32::MAX - 2048, 0x7fff_fffe] {
        let mut h = H::new(StreamConfig::default());
        h.handshake(cisn, u32::MAX);
        let c0 = cisn.wrapping_add(1);
        let msg: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
        // Out of order across the wrap point.
        h.feed(C, data(c0.wrapping_add(3000), 0, &msg[3000..]));
        h.feed(C, data(c0.wrapping_add(10), 0, &msg[10..3000]));
        h.feed(C, data(c0, 0, &msg[..10]));
        h.feed(S, data(0, c0.wrapping_add(5000), b"ok"));
        assert_eq!(h.out[0], msg, "isn {cisn:#x}");
        assert_eq!(h.out[1], b"ok");
        assert_eq!(h.r.counters().reassembly_gap, 0);
    }
}

#[test]
fn depth_stops_reassembly_per_direction() {
    let mut h = H::new(StreamConfig {
        depth: 100,
        ..StreamConfig::default()
    });
    h.handshake(CISN, SISN);
    let msg = [b'z'; 150];
    let o = h.feed(C, data(C0, S0, &msg[..60]));
    assert!(!o.events.contains(StreamEvents::DEPTH_REACHED));
    let o = h.feed(C, data(C0 + 60, S0, &msg[60..]));
    assert!(o.events.contains(StreamEvents::DEPTH_REACHED));
    h.feed(C, data(C0 + 150, S0, b"more"));
    assert_eq!(h.out[0].len(), 100);
    h.feed(S, data(S0, C0, b"reply"));
    assert_eq!(h.out[1], b"reply");
    assert_eq!(h.r.counters().stream_depth_reached, 1);
}

#[test]
fn memcap_drops_and_counts_never_grows() {
    let mut h = H::new(StreamConfig {
        memcap: 2 * CHUNK,
        ..StreamConfig::default()
    });
    h.handshake(CISN, SISN);
    for i in 1..6u32 {
        h.feed(C, data(C0 + i * 4096, S0, b"far ahead"));
    }
    let c = h.r.counters();
    assert_eq!(c.segment_memcap_drop, 3);
    assert!(c.chunks_in_use <= 2 && c.chunks_peak <= 2);
    assert!(h.events.contains(StreamEvents::MEMCAP_DROP));
    // Releasing the flow gives the memory back to the next one.
    h.r.release(&mut h.s);
    h.handshake(CISN, SISN);
    h.feed(C, data(C0, S0, b"fits"));
    assert_eq!(h.out[0], b"fits");
}

#[test]
fn per_flow_chunk_limit() {
    let mut h = H::new(StreamConfig {
        max_chunks_per_flow: 4,
        ..StreamConfig::default()
    });
    h.handshake(CISN, SISN);
    for i in 1..7u32 {
        h.feed(C, data(C0 + i * 4096, S0, b"x"));
    }
    assert_eq!(h.r.counters().segment_flow_limit_drop, 2);
    assert_eq!(h.s.chunks(), 4);
}

#[test]
fn midstream_off_ignores_and_on_picks_up() {
    let mut h = H::new(StreamConfig::default());
    let o = h.feed(C, data(777, 888, b"mid"));
    assert!(o.events.contains(StreamEvents::NOT_TRACKED));
    assert!(h.out[0].is_empty());
    assert_eq!(h.r.counters().not_tracked, 1);
    assert_eq!(h.r.counters().sessions, 0);

    let mut h = H::new(StreamConfig {
        midstream: true,
        ..StreamConfig::default()
    });
    let o = h.feed(C, data(777, 888, b"mid"));
    assert!(o.events.contains(StreamEvents::MIDSTREAM_PICKUP));
    assert_eq!(o.state, TcpState::Established);
    h.feed(S, data(888, 780, b"reply"));
    h.feed(C, data(780, 893, b"stream"));
    assert_eq!(h.out[0], b"midstream");
    assert_eq!(h.out[1], b"reply");
    assert_eq!(h.r.counters().midstream_pickups, 1);

    // Picked up on a SYN/ACK: the client's data starts at the acknowledged number.
    let mut h = H::new(StreamConfig {
        midstream: true,
        ..StreamConfig::default()
    });
    let synack = TcpSegment {
        seq: SISN,
        ack: C0,
        flags: flags(true, true, false, false),
        ..TcpSegment::default()
    };
    assert_eq!(h.feed(S, synack).state, TcpState::SynRecv);
    h.feed(C, data(C0, S0, b"hi"));
    assert_eq!(h.s.state(), TcpState::Established);
    assert_eq!(h.out[0], b"hi");
}

#[test]
fn client_data_before_synack_needs_async_oneside() {
    for async_oneside in [false, true] {
        let mut h = H::new(StreamConfig {
            async_oneside,
            ..StreamConfig::default()
        });
        let syn = TcpSegment {
            seq: CISN,
            flags: flags(true, false, false, false),
            ..TcpSegment::default()
        };
        h.feed(C, syn);
        h.feed(C, data(C0, S0, b"one side"));
        assert_eq!(h.out[0].is_empty(), !async_oneside);
        assert_eq!(h.s.is_established(), async_oneside);
    }
}

#[test]
fn fin_and_rst_close() {
    let mut h = H::new(StreamConfig::default());
    h.handshake(CISN, SISN);
    let mut fin = data(C0, S0, b"bye");
    fin.flags.fin = true;
    assert_eq!(h.feed(C, fin).state, TcpState::Closing);
    let mut fin = data(S0, C0 + 4, b"");
    fin.flags.fin = true;
    assert_eq!(h.feed(S, fin).state, TcpState::Closed);
    // The ACK of the FIN is not a gap.
    h.feed(C, data(C0 + 4, S0 + 1, b""));
    assert_eq!(h.out[0], b"bye");
    assert_eq!(h.r.counters().reassembly_gap, 0);

    let mut h = H::new(StreamConfig::default());
    h.handshake(CISN, SISN);
    h.feed(C, data(C0 + 4, S0, b"later"));
    // Out of the sender's sequence space: ignored.
    let mut rst = data(C0 + 900_000, S0, b"");
    rst.flags.rst = true;
    let o = h.feed(C, rst);
    assert!(o.events.contains(StreamEvents::INVALID_RST));
    assert_eq!(o.state, TcpState::Established);
    // A valid RST with data: the data is not stream data; the buffered data past the hole
    // is delivered after a gap.
    let mut rst = data(C0, S0, b"rst!");
    rst.flags.rst = true;
    let o = h.feed(C, rst);
    assert!(o.events.contains(StreamEvents::RST_WITH_DATA));
    assert_eq!(o.state, TcpState::Closed);
    assert_eq!(h.out[0], b"later");
    assert_eq!(h.gaps[0], 1);
    let c = h.r.counters();
    assert_eq!((c.rst, c.invalid_rst, c.rst_with_data), (2, 1, 1));
}

#[test]
fn syn_data_needs_fast_open() {
    for tfo in [false, true] {
        let mut h = H::new(StreamConfig::default());
        let syn = TcpSegment {
            seq: CISN,
            flags: flags(true, false, false, false),
            tfo,
            payload: b"early",
            ..TcpSegment::default()
        };
        let o = h.feed(C, syn);
        assert_eq!(o.events.contains(StreamEvents::SYN_DATA_IGNORED), !tfo);
        let synack = TcpSegment {
            seq: SISN,
            ack: C0 + if tfo { 5 } else { 0 },
            flags: flags(true, true, false, false),
            ..TcpSegment::default()
        };
        assert_eq!(h.feed(S, synack).state, TcpState::SynRecv);
        let next = if tfo { C0 + 5 } else { C0 };
        h.feed(C, data(next, S0, b" data"));
        if tfo {
            assert_eq!(h.out[0], b"early data");
        } else {
            assert_eq!(h.out[0], b" data");
            assert_eq!(h.r.counters().syn_data_ignored, 1);
        }
    }
}

#[test]
fn syn_ack_with_wrong_ack_is_invalid() {
    let mut h = H::new(StreamConfig::default());
    let syn = TcpSegment {
        seq: CISN,
        flags: flags(true, false, false, false),
        ..TcpSegment::default()
    };
    h.feed(C, syn);
    let synack = TcpSegment {
        seq: SISN,
        ack: 12345,
        flags: flags(true, true, false, false),
        ..TcpSegment::default()
    };
    let o = h.feed(S, synack);
    assert!(o.events.contains(StreamEvents::INVALID_HANDSHAKE));
    assert_eq!(o.state, TcpState::SynSent);
}

#[test]
fn new_syn_on_closed_session_starts_over() {
    let mut h = H::new(StreamConfig::default());
    h.handshake(CISN, SISN);
    h.feed(C, data(C0 + 10, S0, b"buffered"));
    let mut rst = data(C0, S0, b"");
    rst.flags.rst = true;
    h.feed(C, rst);
    let syn = TcpSegment {
        seq: 9_000_000,
        flags: flags(true, false, false, false),
        ..TcpSegment::default()
    };
    let o = h.feed(C, syn);
    assert!(o.events.contains(StreamEvents::SESSION_REUSE));
    assert_eq!(o.state, TcpState::SynSent);
    assert_eq!(h.r.counters().reused_ssn, 1);
    assert_eq!(h.r.counters().sessions, 2);
}

#[test]
fn zero_window_and_empty_segments_change_nothing() {
    let mut h = H::new(StreamConfig::default());
    h.handshake(CISN, SISN);
    for _ in 0..3 {
        let mut z = data(C0, S0, b"");
        z.window = 0;
        let o = h.feed(C, z);
        assert!(o.events.is_empty());
    }
    h.feed(C, data(C0, S0, b"x"));
    assert_eq!(h.out[0], b"x");
}

/// Every occurrence of `pat` found by scanning chunks and keeping only matches that end in
/// the new bytes, as the detection contract says.
fn matches_via_chunks(r: &mut Reassembler, s: &mut TcpStream, pat: &[u8], found: &mut Vec<u64>) {
    while let Some(c) = r.next_chunk(s) {
        for end in pat.len()..=c.data.len() {
            if &c.data[end - pat.len()..end] == pat && c.is_new_match(end) {
                // Stream offset of the match end.
                found.push(c.offset + (end - c.new_from) as u64);
            }
        }
    }
}

#[test]
fn pattern_across_segments_and_chunks_matches_exactly_once() {
    let pat = b"EVILPATTERN";
    let mut msg = Vec::new();
    let mut want = Vec::new();
    for i in 0..300usize {
        msg.extend(std::iter::repeat_n(b'.', i % 37));
        msg.extend_from_slice(pat);
        want.push(msg.len() as u64);
    }
    // Segment sizes 1..=13 so the pattern straddles segments in every possible way, and
    // chunks of at most 97 new bytes so it straddles chunks too.
    let mut h = H::new(StreamConfig {
        lookbehind: pat.len() - 1,
        max_chunk: 97,
        ..StreamConfig::default()
    });
    h.handshake(CISN, SISN);
    let mut found = Vec::new();
    let mut off = 0usize;
    let mut n = 1;
    while off < msg.len() {
        let end = (off + n).min(msg.len());
        let seg = data(C0 + off as u32, S0, &msg[off..end]);
        h.r.on_segment(&mut h.s, C, &seg);
        matches_via_chunks(&mut h.r, &mut h.s, pat, &mut found);
        off = end;
        n = n % 13 + 1;
    }
    assert_eq!(found, want);
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]

    /// Any segmentation of a byte stream, delivered in any order with duplicates, reassembles
    /// to the same bytes, starting at any ISN.
    #[test]
    fn any_segmentation_and_order_reassembles(
        msg in proptest::collection::vec(proptest::num::u8::ANY, 1..6000),
        cuts in proptest::collection::vec(1usize..1500, 1..40),
        order in proptest::collection::vec(proptest::num::usize::ANY, 1..80),
        isn in proptest::num::u32::ANY,
        policy in proptest::sample::select(vec![
            OverlapPolicy::Bsd, OverlapPolicy::First, OverlapPolicy::Last,
            OverlapPolicy::Linux, OverlapPolicy::OldLinux, OverlapPolicy::Solaris,
        ]),
    ) {
        // Segments: consecutive pieces, plus overlapping ones spanning two pieces.
        let mut bounds = vec![0usize];
        let mut at = 0;
        for c in cuts.iter().cycle() {
            at += c;
            if at >= msg.len() { break; }
            bounds.push(at);
        }
        bounds.push(msg.len());
        let mut segs: Vec<(usize, usize)> = bounds.windows(2).map(|w| (w[0], w[1])).collect();
        let spans: Vec<(usize, usize)> = bounds.windows(3).map(|w| (w[0], w[2])).collect();
        segs.extend(spans.iter().step_by(3));
        // Order: a permutation driven by `order`, with duplicates of some segments.
        let mut sched: Vec<(usize, usize)> = Vec::new();
        let mut pool = segs.clone();
        for (i, o) in order.iter().enumerate() {
            if pool.is_empty() { break; }
            let k = o % pool.len();
            sched.push(pool[k]);
            if i % 3 != 0 { pool.swap_remove(k); }
        }
        sched.extend(pool);
        let mut h = H::new(StreamConfig { policy, ..StreamConfig::default() });
        h.handshake(isn, 77);
        let c0 = isn.wrapping_add(1);
        for (a, b) in sched {
            h.feed(C, data(c0.wrapping_add(a as u32), 78, &msg[a..b]));
        }
        proptest::prop_assert_eq!(&h.out[0], &msg);
        proptest::prop_assert_eq!(h.gaps[0], 0);
        proptest::prop_assert_eq!(h.r.counters().overlap_diff_data, 0);
        h.r.release(&mut h.s);
        proptest::prop_assert_eq!(h.r.counters().chunks_in_use, 0);
    }

    /// Arbitrary segments (any flags, sequence numbers near each other or not) never panic,
    /// never deliver more than the depth, and never hold more chunks than the memcap allows.
    #[test]
    fn arbitrary_segments_keep_the_bounds(
        segs in proptest::collection::vec(
            (proptest::bool::ANY, proptest::num::u8::ANY, -3000i32..3000, -3000i32..3000, 0usize..3000),
            1..60),
        midstream in proptest::bool::ANY,
    ) {
        let mut h = H::new(StreamConfig {
            depth: 4000,
            memcap: 6 * CHUNK,
            midstream,
            max_chunks_per_flow: 5,
            ..StreamConfig::default()
        });
        h.strict = false;
        let bytes = vec![0x41u8; 3000];
        for (to_server, fl, ds, da, len) in segs {
            let seg = TcpSegment {
                seq: 1000u32.wrapping_add(ds as u32),
                ack: 9000u32.wrapping_add(da as u32),
                flags: flags(fl & 1 != 0, fl & 2 != 0, fl & 4 != 0, fl & 8 != 0),
                tfo: fl & 16 != 0,
                window: 0,
                payload: &bytes[..len],
            };
            h.feed(to_server, seg);
            proptest::prop_assert!(h.r.counters().chunks_in_use <= 5);
        }
        h.r.flush(&mut h.s);
        h.drain();
        proptest::prop_assert!(h.out[0].len() <= 4000 && h.out[1].len() <= 4000);
        h.r.release(&mut h.s);
        proptest::prop_assert_eq!(h.r.counters().chunks_in_use, 0);
    }
}

#[test]
fn split_handshake_establishes() {
    // SYN from the client, SYN from the server, SYN/ACK from the client, ACK from the server.
    let mut h = H::new(StreamConfig::default());
    let syn = |seq| TcpSegment {
        seq,
        flags: flags(true, false, false, false),
        ..TcpSegment::default()
    };
    h.feed(C, syn(CISN));
    h.feed(S, syn(SISN));
    let synack = TcpSegment {
        seq: CISN,
        ack: S0,
        flags: flags(true, true, false, false),
        ..TcpSegment::default()
    };
    assert_eq!(h.feed(C, synack).state, TcpState::SynRecv);
    assert_eq!(h.feed(S, data(S0, C0, b"")).state, TcpState::Established);
    h.feed(C, data(C0, S0, b"EVIL"));
    assert_eq!(h.out[0], b"EVIL");
    assert_eq!(h.r.counters().invalid_handshake, 0);
}

#[test]
fn ignored_syn_data_acknowledged_by_the_server_is_a_gap() {
    let mut h = H::new(StreamConfig::default());
    let syn = TcpSegment {
        seq: CISN,
        flags: flags(true, false, false, false),
        payload: b"cookie-less",
        ..TcpSegment::default()
    };
    h.feed(C, syn);
    let synack = TcpSegment {
        seq: SISN,
        ack: C0 + 11,
        flags: flags(true, true, false, false),
        ..TcpSegment::default()
    };
    assert_eq!(h.feed(S, synack).state, TcpState::SynRecv);
    h.feed(C, data(C0 + 11, S0, b"rest"));
    assert_eq!(h.out[0], b"rest");
    let c = h.r.counters();
    assert_eq!((c.syn_data_ignored, c.reassembly_gap), (1, 1));
}

#[test]
fn unacked_hole_skipped_at_rst_is_not_a_gap() {
    let mut h = H::new(StreamConfig::default());
    h.handshake(CISN, SISN);
    h.feed(S, data(S0, C0, b"Please "));
    h.feed(S, data(S0 + 11, C0, b"Me In!"));
    let mut rst = data(C0, S0 + 7, b"Access Denied");
    rst.flags.rst = true;
    h.feed(C, rst);
    assert_eq!(h.out[1], b"Please Me In!");
    assert_eq!(h.gaps[1], 1);
    let c = h.r.counters();
    assert_eq!(
        (c.reassembly_gap, c.holes_flushed, c.rst_with_data),
        (0, 1, 1)
    );
    assert!(h.out[0].is_empty());
}

#[test]
fn steady_state_reuses_pool_and_scratch() {
    let mut h = H::new(StreamConfig::default());
    let msg: Vec<u8> = (0..20_000u32).map(|i| (i * 7) as u8).collect();
    let run = |h: &mut H, isn: u32| {
        h.handshake(isn, SISN);
        let c0 = isn.wrapping_add(1);
        // Out of order in 1460-byte segments, pairs swapped.
        let segs: Vec<usize> = (0..msg.len()).step_by(1460).collect();
        for pair in segs.chunks(2) {
            for &at in pair.iter().rev() {
                let end = (at + 1460).min(msg.len());
                h.feed(C, data(c0.wrapping_add(at as u32), S0, &msg[at..end]));
            }
        }
        h.r.flush(&mut h.s);
        h.drain();
        h.r.release(&mut h.s);
        h.out = [Vec::new(), Vec::new()];
    };
    run(&mut h, 1);
    let warm = h.r.counters().chunks_allocated;
    let cap = h.r.scratch.capacity();
    for i in 0..50 {
        run(&mut h, i * 100_000);
    }
    assert_eq!(h.r.counters().chunks_allocated, warm);
    assert_eq!(h.r.scratch.capacity(), cap);
    assert_eq!(h.r.counters().chunks_in_use, 0);
    assert!(h.r.counters().chunks_peak <= 4);
}

#[test]
fn per_flow_state_is_small() {
    // Lives in every flow table entry.
    assert!(std::mem::size_of::<TcpStream>() <= 160);
}

#[test]
fn fin_and_depth_free_the_lookbehind() {
    let mut h = H::new(StreamConfig {
        depth: 3000,
        ..StreamConfig::default()
    });
    h.handshake(CISN, SISN);
    h.feed(S, data(S0, C0, b"banner"));
    assert_eq!(h.s.chunks(), 1);
    let mut fin = data(S0 + 6, C0, b"");
    fin.flags.fin = true;
    h.feed(S, fin);
    assert_eq!(h.s.chunks(), 0);
    h.feed(C, data(C0, S0 + 7, &[b'a'; 3500]));
    assert_eq!(h.out[0].len(), 3000);
    assert_eq!(h.s.chunks(), 0);
}

/// Reassembly throughput over many interleaved flows (in order, 1460-byte segments, every
/// eighth pair swapped). `cargo test --release -p sensor --lib stream::tests::throughput --
/// --ignored --nocapture`
#[test]
#[ignore]
fn throughput() {
    const FLOWS: usize = 2000;
    const PER_FLOW: usize = 256 * 1024;
    let mut r = Reassembler::new(StreamConfig::default());
    let mut streams: Vec<TcpStream> = (0..FLOWS).map(|_| TcpStream::default()).collect();
    let payload = vec![0x5au8; 1460];
    for (i, s) in streams.iter_mut().enumerate() {
        let isn = (i as u32).wrapping_mul(2_654_435_761);
        let syn = TcpSegment {
            seq: isn,
            flags: flags(true, false, false, false),
            ..TcpSegment::default()
        };
        r.on_segment(s, C, &syn);
        let synack = TcpSegment {
            seq: 7,
            ack: isn.wrapping_add(1),
            flags: flags(true, true, false, false),
            ..TcpSegment::default()
        };
        r.on_segment(s, S, &synack);
        r.on_segment(s, C, &data(isn.wrapping_add(1), 8, b""));
    }
    let segs = PER_FLOW / 1460;
    let start = std::time::Instant::now();
    let mut delivered = 0u64;
    for k in 0..segs {
        for (i, s) in streams.iter_mut().enumerate() {
            let base = (i as u32).wrapping_mul(2_654_435_761).wrapping_add(1);
            // Swap segments k and k+1 when k % 16 == 0.
            let j = match k % 16 {
                0 if k + 1 < segs => k + 1,
                1 => k - 1,
                _ => k,
            };
            let seg = data(base.wrapping_add((j * 1460) as u32), 8, &payload);
            r.on_segment(s, C, &seg);
            while let Some(c) = r.next_chunk(s) {
                delivered += c.new_bytes().len() as u64;
            }
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let c = r.counters();
    println!(
        "{} MB in {:.3} s = {:.2} Gbit/s; chunks peak {} allocated {}",
        delivered / 1_000_000,
        secs,
        delivered as f64 * 8.0 / secs / 1e9,
        c.chunks_peak,
        c.chunks_allocated
    );
    assert_eq!(delivered, (FLOWS * segs * 1460) as u64);
}

#[test]
fn fast_open_option_detection() {
    let f = TcpSegment::fast_open_option;
    assert!(f(&[34, 10, 1, 2, 3, 4, 5, 6, 7, 8]));
    assert!(f(&[1, 1, 34, 2]));
    assert!(f(&[2, 4, 5, 180, 254, 4, 0xf9, 0x89]));
    assert!(f(&[253, 6, 0xf9, 0x89, 0, 0]));
    assert!(!f(&[254, 4, 0x12, 0x34]));
    assert!(!f(&[2, 4, 5, 180, 4, 2, 8, 10, 0, 0, 0, 0, 0, 0, 0, 0]));
    assert!(!f(&[0, 34, 2]));
    assert!(!f(&[5, 0]));
    assert!(!f(&[8]));
    assert!(!f(&[]));
}

/// Worst case for overlap handling: every other byte of a 256 KiB window stored as its own
/// out-of-order 1-byte segment, then full-size segments overlapping them all.
/// `cargo test --release -p sensor --lib stream::tests::adversarial_overlaps -- --ignored --nocapture`
#[test]
#[ignore]
fn adversarial_overlaps() {
    let mut h = H::new(StreamConfig::default());
    h.handshake(CISN, SISN);
    let window = 256 * 1024u32;
    for i in (1..window).step_by(2) {
        h.feed(C, data(C0 + i, S0, b"x"));
    }
    let payload = [b'y'; 1460];
    let start = std::time::Instant::now();
    let mut n = 0;
    for at in (1..window - 1460).step_by(1460) {
        h.feed(C, data(C0 + at, S0, &payload));
        n += 1;
    }
    let per = start.elapsed() / n;
    println!(
        "{n} overlapping segments, {per:?} each; {:?}",
        h.r.counters()
    );
}
