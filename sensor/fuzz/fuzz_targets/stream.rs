//! Arbitrary TCP segment sequences (any flags, sequence and acknowledgment numbers near the
//! handshake's or anywhere, any payload, both directions, several flows sharing one pool)
//! through one reassembler with small limits. Checks: no panic; the pool never exceeds the
//! memcap; delivered chunks are consecutive per direction (each starts where the previous
//! ended, unless it follows a gap), their context is the tail of what was delivered, and no
//! direction gets more than the depth; after flush and release every chunk is back.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sensor::decode::TcpFlags;
use sensor::stream::{OverlapPolicy, Reassembler, StreamConfig, TcpSegment, TcpStream, CHUNK_SIZE};

const FLOWS: usize = 3;
const MEMCAP_CHUNKS: usize = 8;
const DEPTH: u64 = 6000;

#[derive(Default)]
struct Seen {
    delivered: [u64; 2],
    tail: [Vec<u8>; 2],
}

fn drain(r: &mut Reassembler, s: &mut TcpStream, seen: &mut Seen, lookbehind: usize) {
    while let Some(c) = r.next_chunk(s) {
        let d = usize::from(!c.to_server);
        assert!(c.new_from < c.data.len(), "a chunk has new bytes");
        if c.after_gap {
            assert!(c.context().is_empty());
            assert!(c.offset >= seen.delivered[d]);
        } else {
            assert_eq!(c.offset, seen.delivered[d], "chunks are consecutive");
            let t = &seen.tail[d];
            assert!(c.context().len() <= lookbehind);
            assert_eq!(c.context(), &t[t.len() - c.context().len()..]);
        }
        seen.delivered[d] = c.offset + c.new_bytes().len() as u64;
        assert!(seen.delivered[d] <= DEPTH, "depth respected");
        let t = &mut seen.tail[d];
        t.extend_from_slice(c.new_bytes());
        let excess = t.len().saturating_sub(lookbehind);
        t.drain(..excess);
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&cfg_byte, mut rest)) = data.split_first() else {
        return;
    };
    let policy = [
        OverlapPolicy::Bsd,
        OverlapPolicy::First,
        OverlapPolicy::Last,
        OverlapPolicy::Linux,
        OverlapPolicy::OldLinux,
        OverlapPolicy::Solaris,
        OverlapPolicy::Vista,
        OverlapPolicy::Bsd,
    ][usize::from(cfg_byte & 7)];
    let lookbehind = usize::from(cfg_byte >> 5) * 5;
    let mut r = Reassembler::new(StreamConfig {
        depth: DEPTH as usize,
        memcap: MEMCAP_CHUNKS * CHUNK_SIZE,
        midstream: cfg_byte & 8 != 0,
        async_oneside: cfg_byte & 16 != 0,
        policy,
        max_chunks_per_flow: 5,
        lookbehind,
        max_chunk: 700,
    });
    let mut flows: Vec<(TcpStream, Seen)> = (0..FLOWS)
        .map(|_| (TcpStream::default(), Seen::default()))
        .collect();
    let payload_src: Vec<u8> = (0..=255u8).cycle().take(3000).collect();
    // Records of 8 bytes: flow/direction/tfo, flags, seq delta (i16, scaled), ack delta,
    // payload length (u16), and whether the payload is the pattern or zeros.
    while let [who, fl, s0, s1, a0, a1, l0, l1, tail @ ..] = rest {
        rest = tail;
        let flow = usize::from(*who) % FLOWS;
        let to_server = who & 0x10 == 0;
        let scale = if who & 0x20 != 0 { 1 } else { 16 };
        let seq_delta = i32::from(i16::from_le_bytes([*s0, *s1])) * scale;
        let ack_delta = i32::from(i16::from_le_bytes([*a0, *a1])) * scale;
        let len = usize::from(u16::from_le_bytes([*l0, *l1])) % 2500;
        let (client_base, server_base) = (1000u32, 0xffff_f000u32);
        let (seq_base, ack_base) = if to_server {
            (client_base, server_base)
        } else {
            (server_base, client_base)
        };
        let payload = if who & 0x80 != 0 {
            &payload_src[..len]
        } else {
            &payload_src[3..3 + len.min(2997)]
        };
        let seg = TcpSegment {
            seq: seq_base.wrapping_add(seq_delta as u32),
            ack: ack_base.wrapping_add(ack_delta as u32),
            flags: TcpFlags {
                bits: *fl,
                fin: fl & 1 != 0,
                syn: fl & 2 != 0,
                rst: fl & 4 != 0,
                ack: fl & 16 != 0,
                ..TcpFlags::default()
            },
            tfo: who & 0x40 != 0,
            window: u16::from(*fl),
            payload,
        };
        let (s, seen) = &mut flows[flow];
        let out = r.on_segment(s, to_server, &seg);
        if out
            .events
            .contains(sensor::stream::StreamEvents::SESSION_REUSE)
        {
            *seen = Seen::default();
        }
        drain(&mut r, s, seen, lookbehind);
        let c = r.counters();
        assert!(
            c.chunks_in_use as usize <= MEMCAP_CHUNKS,
            "memcap respected"
        );
        assert!(s.chunks() <= 5, "per-flow limit respected");
    }
    for (s, seen) in &mut flows {
        r.flush(s);
        drain(&mut r, s, seen, lookbehind);
        r.release(s);
    }
    assert_eq!(r.counters().chunks_in_use, 0, "every chunk returned");
});
