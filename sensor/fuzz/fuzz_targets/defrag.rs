//! Arbitrary sequences of IPv4/IPv6 fragments (well-formed headers with arbitrary offsets,
//! lengths, flags, ids and times, plus raw byte strings) through one defragmenter with small
//! limits: no panic, memory and trackers within bounds, and every reassembled packet has
//! consistent lengths, cleared fragment fields and a valid IPv4 header checksum.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sensor::capture::Timestamp;
use sensor::decode::{decode, LinkType, Vlans};
use sensor::defrag::{DefragConfig, DefragOutcome, Defragmenter, OverlapPolicy, CHUNK_SIZE};

fn v4(id: u16, offset: u32, more: bool, payload: &[u8], corrupt: Option<(usize, u8)>) -> Vec<u8> {
    let mut p = vec![0u8; 20];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&((20 + payload.len()) as u16).to_be_bytes());
    p[4..6].copy_from_slice(&id.to_be_bytes());
    let frag = ((offset / 8) as u16 & 0x1fff) | if more { 0x2000 } else { 0 };
    p[6..8].copy_from_slice(&frag.to_be_bytes());
    p[8] = 64;
    p[9] = 17;
    p[12..16].copy_from_slice(&[10, 0, 0, 1]);
    p[16..20].copy_from_slice(&[10, 0, 0, 2]);
    p.extend_from_slice(payload);
    if let Some((at, v)) = corrupt {
        let n = p.len();
        p[at % n] = v;
    }
    p
}

fn v6(
    id: u32,
    offset: u32,
    more: bool,
    payload: &[u8],
    ext: bool,
    corrupt: Option<(usize, u8)>,
) -> Vec<u8> {
    let mut p = vec![0u8; 40];
    p[0] = 0x60;
    let unfrag: &[u8] = if ext { &[44, 0, 1, 4, 0, 0, 0, 0] } else { &[] };
    p[4..6].copy_from_slice(&((unfrag.len() + 8 + payload.len()) as u16).to_be_bytes());
    p[6] = if ext { 60 } else { 44 };
    p[7] = 64;
    p[8] = 0x20;
    p[24] = 0x20;
    p[39] = 2;
    p.extend_from_slice(unfrag);
    p.extend_from_slice(&[17, 0]);
    p.extend_from_slice(&(((offset as u16) & 0xfff8) | u16::from(more)).to_be_bytes());
    p.extend_from_slice(&id.to_be_bytes());
    p.extend_from_slice(payload);
    if let Some((at, v)) = corrupt {
        let n = p.len();
        p[at % n] = v;
    }
    p
}

fn check(r: &[u8]) {
    match r[0] >> 4 {
        4 => {
            let ihl = usize::from(r[0] & 0x0f) * 4;
            assert_eq!(usize::from(u16::from_be_bytes([r[2], r[3]])), r.len());
            assert_eq!(u16::from_be_bytes([r[6], r[7]]), 0);
            let mut sum = 0u32;
            for pair in r[..ihl].chunks(2) {
                sum += u32::from(u16::from_be_bytes([pair[0], pair[1]]));
            }
            while sum > 0xffff {
                sum = (sum & 0xffff) + (sum >> 16);
            }
            assert_eq!(sum, 0xffff, "IPv4 header checksum");
        }
        6 => assert_eq!(usize::from(u16::from_be_bytes([r[4], r[5]])) + 40, r.len()),
        v => panic!("reassembled version {v}"),
    }
    let _ = decode(LinkType::RawIp, r, true);
}

fuzz_target!(|data: &[u8]| {
    let Some((&setup, mut rest)) = data.split_first() else {
        return;
    };
    let cfg = DefragConfig {
        max_trackers: 1 + usize::from(setup & 3),
        max_bytes: (4 + usize::from(setup >> 5)) * CHUNK_SIZE,
        max_fragments_per_tracker: 2 + usize::from((setup >> 2) & 7),
        timeout_secs: 10,
        policy: OverlapPolicy::ALL[usize::from(setup) % OverlapPolicy::ALL.len()],
    };
    let mut d = Defragmenter::new(cfg);
    let mut secs = 1_700_000_000i64;
    let mut fill = 0u8;
    while let [op, a, b, c, tail @ ..] = rest {
        rest = tail;
        secs += i64::from(op & 0x0f) - 2;
        let ts = Timestamp { secs, usecs: 0 };
        let packet = if op & 0x80 != 0 {
            // Raw bytes: `a` of them.
            let n = usize::from(*a).min(rest.len());
            let (p, next) = rest.split_at(n);
            rest = next;
            p.to_vec()
        } else {
            fill = fill.wrapping_add(1);
            let offset = (u32::from(*a) | (u32::from(op & 0x10) << 4)) * 8;
            let len = usize::from(*b) + 1;
            let payload = vec![fill; len];
            let more = c & 1 != 0;
            let id = (c >> 1) & 3;
            let corrupt = (c & 0x80 != 0).then_some((usize::from(*b), *a));
            if op & 0x40 != 0 {
                v6(
                    u32::from(id),
                    offset,
                    more,
                    &payload,
                    op & 0x20 != 0,
                    corrupt,
                )
            } else {
                v4(u16::from(id), offset, more, &payload, corrupt)
            }
        };
        if let DefragOutcome::Reassembled(r) = d.push(&packet, Vlans::default(), ts) {
            check(r);
        }
        assert!(d.bytes_in_use() <= cfg.max_bytes);
        assert!(d.active_trackers() <= cfg.max_trackers);
    }
    d.expire(Timestamp {
        secs: secs + 1_000_000,
        usecs: 0,
    });
    assert_eq!(d.active_trackers(), 0);
    assert_eq!(d.bytes_in_use(), 0);
});
