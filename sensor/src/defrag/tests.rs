//! Unit tests of the defragmenter: Suricata's defrag unit-test patterns (Sturges/Novak and
//! the later regression cases) with their expected bytes, limits and counters, IPv6
//! extension headers, and property tests.

use super::*;
use crate::decode::{decode, LinkType};

const TS: Timestamp = Timestamp {
    secs: 1_700_000_000,
    usecs: 0,
};

fn at(secs: i64) -> Timestamp {
    Timestamp {
        secs: TS.secs + secs,
        usecs: 0,
    }
}

fn ipv4_checksum(h: &[u8]) -> u16 {
    let mut sum = 0u32;
    for (i, pair) in h.chunks(2).enumerate() {
        if i == 5 {
            continue;
        }
        sum += u32::from(u16::from_be_bytes([pair[0], pair[1]]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An IPv4 packet 10.0.0.1 -> 10.0.0.2 with a valid checksum.
fn v4(id: u16, proto: u8, offset: u32, more: bool, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0u8; 20];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&((20 + payload.len()) as u16).to_be_bytes());
    p[4..6].copy_from_slice(&id.to_be_bytes());
    let frag = (offset / 8) as u16 | if more { 0x2000 } else { 0 };
    p[6..8].copy_from_slice(&frag.to_be_bytes());
    p[8] = 64;
    p[9] = proto;
    p[12..16].copy_from_slice(&[10, 0, 0, 1]);
    p[16..20].copy_from_slice(&[10, 0, 0, 2]);
    let c = ipv4_checksum(&p);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

/// An IPv6 fragment 2001:db8::1 -> 2001:db8::2: header, `unfrag` extension headers (whose
/// first next-header is `unfrag_nh`, the last pointing at the fragment header), fragment
/// header (next header `nh`), payload.
fn v6_ext(id: u32, offset: u32, more: bool, payload: &[u8], unfrag: &[u8], nh: u8) -> Vec<u8> {
    let mut p = vec![0u8; 40];
    p[0] = 0x60;
    let plen = unfrag.len() + 8 + payload.len();
    p[4..6].copy_from_slice(&(plen as u16).to_be_bytes());
    p[6] = if unfrag.is_empty() { 44 } else { 0 };
    p[7] = 64;
    p[8..24].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    p[24..40].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
    p.extend_from_slice(unfrag);
    let off = (offset as u16 & 0xfff8) | u16::from(more);
    p.extend_from_slice(&[nh, 0]);
    p.extend_from_slice(&off.to_be_bytes());
    p.extend_from_slice(&id.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

fn v6(id: u32, offset: u32, more: bool, payload: &[u8]) -> Vec<u8> {
    v6_ext(id, offset, more, payload, &[], 58)
}

fn defrag(policy: OverlapPolicy) -> Defragmenter {
    Defragmenter::new(DefragConfig {
        policy,
        ..DefragConfig::default()
    })
}

fn push(d: &mut Defragmenter, p: &[u8]) -> Option<Vec<u8>> {
    match d.push(p, Vlans::default(), TS) {
        DefragOutcome::Reassembled(r) => Some(r.to_vec()),
        _ => None,
    }
}

fn fill(c: u8, n: usize) -> Vec<u8> {
    vec![c; n]
}

/// Sturges/Novak fragments from Suricata's `DefragDoSturgesNovakTest`: (offset, byte, len,
/// more fragments).
const NOVAK: [(u32, u8, usize, bool); 17] = [
    (0, b'A', 24, true),
    (32, b'B', 16, true),
    (48, b'C', 24, true),
    (80, b'D', 8, true),
    (104, b'E', 16, true),
    (120, b'F', 24, true),
    (144, b'G', 16, true),
    (160, b'H', 16, true),
    (176, b'I', 8, true),
    (8, b'J', 32, true),
    (48, b'K', 24, true),
    (72, b'L', 24, true),
    (96, b'M', 24, true),
    (128, b'N', 8, true),
    (152, b'O', 8, true),
    (160, b'P', 8, true),
    (176, b'Q', 16, false),
];

/// Expected data, one letter per 8 bytes, from Suricata's `DefragSturgesNovak*Test`; bsd-right
/// (which Suricata does not test) from the rule documented on `OverlapPolicy::BsdRight`.
fn novak_expected(p: OverlapPolicy) -> &'static str {
    match p {
        OverlapPolicy::Bsd => "AAAJJBCCCLLLMMMFFFGGHHIQ",
        OverlapPolicy::Linux => "AAAJJBKKKLLLMMMFFFGGPHQQ",
        OverlapPolicy::Windows => "AAAJBBCCCLLLMEEFFFGGHHIQ",
        OverlapPolicy::Solaris => "AAAJBBCCCLLLMMMFFFGGHHIQ",
        OverlapPolicy::First => "AAAJBBCCCLDLMEEFFFGGHHIQ",
        OverlapPolicy::Last => "AJJJJBKKKLLLMMMFNFGOPHQQ",
        OverlapPolicy::BsdRight => "AJJJBBKKKLDLMEEFNFGOPHQQ",
    }
}

fn blocks(letters: &str) -> Vec<u8> {
    letters.bytes().flat_map(|c| [c; 8]).collect()
}

#[test]
fn sturges_novak_every_policy_ipv4_and_ipv6() {
    for policy in OverlapPolicy::ALL {
        for version in [4, 6] {
            let mut d = defrag(policy);
            let mut result = None;
            for (i, &(off, c, len, more)) in NOVAK.iter().enumerate() {
                let p = if version == 4 {
                    v4(1, 1, off, more, &fill(c, len))
                } else {
                    v6(1, off, more, &fill(c, len))
                };
                let r = push(&mut d, &p);
                if i < NOVAK.len() - 1 {
                    assert!(r.is_none(), "{policy} v{version}: early completion at {i}");
                }
                result = r;
            }
            let r = result.unwrap_or_else(|| panic!("{policy} v{version}: not reassembled"));
            let hlen = if version == 4 { 20 } else { 40 };
            assert_eq!(r.len(), hlen + 192, "{policy} v{version}");
            assert_eq!(
                String::from_utf8_lossy(&r[hlen..]),
                String::from_utf8_lossy(&blocks(novak_expected(policy))),
                "{policy} v{version}"
            );
            let c = d.counters();
            assert_eq!(c.overlaps, 8, "{policy} v{version}");
            assert_eq!(c.ipv4_fragments + c.ipv6_fragments, 17);
            assert_eq!(c.ipv4_reassembled + c.ipv6_reassembled, 1);
            assert_eq!(c.fragments_dropped, 0);
            assert_eq!(d.active_trackers(), 0);
            assert_eq!(d.bytes_in_use(), 0, "all chunks returned");
        }
    }
}

#[test]
fn reassembled_ipv4_header_is_fixed() {
    let mut d = defrag(OverlapPolicy::Bsd);
    assert!(push(&mut d, &v4(7, 17, 8, false, b"world!!!")).is_none());
    let r = push(&mut d, &v4(7, 17, 0, true, b"hello, w")).expect("complete");
    assert_eq!(r, v4(7, 17, 0, false, b"hello, wworld!!!"));
    assert_eq!(ipv4_checksum(&r[..20]), u16::from_be_bytes([r[10], r[11]]));
    let c = d.counters();
    assert_eq!(
        (c.ipv4_fragments, c.ipv4_reassembled, c.overlaps),
        (2, 1, 0)
    );
}

/// Suricata's DefragMfIpv4Test/DefragMfIpv6Test: data after the last fragment is dropped.
#[test]
fn data_after_last_fragment_is_not_included() {
    for version in [4, 6] {
        let mk = |off, more, c| {
            if version == 4 {
                v4(9, 1, off, more, &fill(c, 8))
            } else {
                v6(9, off, more, &fill(c, 8))
            }
        };
        let mut d = defrag(OverlapPolicy::Bsd);
        assert!(push(&mut d, &mk(16, true, b'C')).is_none());
        assert!(push(&mut d, &mk(0, true, b'A')).is_none());
        let r = push(&mut d, &mk(8, false, b'B')).expect("complete");
        let hlen = if version == 4 { 20 } else { 40 };
        assert_eq!(&r[hlen..], b"AAAAAAAABBBBBBBB");
        if version == 4 {
            assert_eq!(u16::from_be_bytes([r[2], r[3]]), 36);
        } else {
            assert_eq!(u16::from_be_bytes([r[4], r[5]]), 16);
            assert_eq!(r[6], 58, "next header restored from the fragment header");
        }
    }
}

/// Suricata's DefragBsdFragmentAfterNoMfIpv{4,6}Test.
#[test]
fn bsd_fragment_after_last() {
    for version in [4, 6] {
        let mk = |off, more, c, n| {
            if version == 4 {
                v4(0x96, 1, off, more, &fill(c, n))
            } else {
                v6(0x96, off, more, &fill(c, n))
            }
        };
        let mut d = defrag(OverlapPolicy::Bsd);
        assert!(push(&mut d, &mk(24, false, b'A', 16)).is_none());
        assert!(push(&mut d, &mk(8, true, b'B', 16)).is_none());
        assert!(push(&mut d, &mk(16, true, b'C', 16)).is_none());
        let r = push(&mut d, &mk(0, true, b'D', 8)).expect("complete");
        let hlen = if version == 4 { 20 } else { 40 };
        assert_eq!(&r[hlen..], blocks("DBBCA").as_slice());
        assert_eq!(d.counters().overlaps, 1);
    }
}

/// Suricata's DefragBsdSubsequentOverlapsStartOfOriginal tests (both variants).
#[test]
fn bsd_subsequent_overlaps_start_of_original() {
    for version in [4, 6] {
        let mk = |off, more, data: &[u8]| {
            if version == 4 {
                v4(6, 1, off, more, data)
            } else {
                v6(6, off, more, data)
            }
        };
        let hlen = if version == 4 { 20 } else { 40 };
        let mut d = defrag(OverlapPolicy::Bsd);
        assert!(push(&mut d, &mk(8, false, &fill(b'E', 24))).is_none());
        let r = push(&mut d, &mk(0, true, &fill(b'M', 24))).expect("complete");
        assert_eq!(&r[hlen..], blocks("MMME").as_slice());

        let mut d = defrag(OverlapPolicy::Bsd);
        assert!(push(&mut d, &mk(16, true, b"AABBCCDDAABBDDCC")).is_none());
        assert!(push(&mut d, &mk(8, true, b"AACCBBDDAACCDDBB")).is_none());
        assert!(push(&mut d, &mk(0, true, b"ZZZZZZZZ")).is_none());
        let r = push(&mut d, &mk(32, false, b"DDCCBBAA")).expect("complete");
        assert_eq!(&r[hlen + 8..], b"AACCBBDDAACCDDBBAABBDDCCDDCCBBAA");
    }
}

/// Suricata's DefragTestJeremyLinux.
#[test]
fn jeremy_linux() {
    let mut d = defrag(OverlapPolicy::Linux);
    assert!(push(&mut d, &v4(1, 1, 0, true, &fill(b'A', 24))).is_none());
    assert!(push(&mut d, &v4(1, 1, 40, true, &fill(b'B', 48))).is_none());
    assert!(push(&mut d, &v4(1, 1, 24, true, &fill(b'C', 48))).is_none());
    let r = push(&mut d, &v4(1, 1, 88, false, &fill(b'D', 14))).expect("complete");
    let mut expected = blocks("AAACCCCCCBB");
    expected.extend_from_slice(&fill(b'D', 14));
    assert_eq!(&r[20..], expected.as_slice());
}

/// Suricata's DefragBsdMissingFragment tests: a hole, so no datagram.
#[test]
fn missing_fragment_never_completes() {
    for version in [4, 6] {
        let mk = |off, more, data: &[u8]| {
            if version == 4 {
                v4(189, 1, off, more, data)
            } else {
                v6(189, off, more, data)
            }
        };
        let mut d = defrag(OverlapPolicy::Bsd);
        for p in [
            mk(16, true, b"AABBCCDDAABBDDCC"),
            mk(40, true, b"AACCBBDD"),
            mk(8, true, b"AACCDDBBAADDBBCC"),
            mk(0, true, b"ZZZZZZZZ"),
            mk(48, false, b"DDCCBBAA"),
        ] {
            assert!(push(&mut d, &p).is_none());
        }
        assert_eq!(d.active_trackers(), 1);
        d.expire(at(61));
        let c = d.counters();
        assert_eq!((c.timeouts, c.fragments_dropped), (1, 5));
        assert_eq!(d.bytes_in_use(), 0);
    }
}

#[test]
fn in_order_reverse_and_duplicates() {
    let payload: Vec<u8> = (0..100u8).collect();
    let whole = v4(3, 17, 0, false, &payload);
    let pieces = [
        v4(3, 17, 0, true, &payload[..40]),
        v4(3, 17, 40, true, &payload[40..80]),
        v4(3, 17, 80, false, &payload[80..]),
    ];
    let mut d = defrag(OverlapPolicy::Bsd);
    assert!(push(&mut d, &pieces[0]).is_none());
    assert!(push(&mut d, &pieces[1]).is_none());
    assert_eq!(push(&mut d, &pieces[2]), Some(whole.clone()));
    assert!(push(&mut d, &pieces[2]).is_none());
    assert!(push(&mut d, &pieces[1]).is_none());
    assert!(push(&mut d, &pieces[1]).is_none(), "duplicate");
    assert_eq!(push(&mut d, &pieces[0]), Some(whole));
    let c = d.counters();
    assert_eq!(c.ipv4_fragments, 7);
    assert_eq!(c.ipv4_reassembled, 2);
    assert_eq!(c.overlaps, 1);
}

#[test]
fn ipv6_extension_headers_before_the_fragment_header() {
    // Hop-by-hop (8 bytes, PadN) then destination options (8 bytes) then the fragment header.
    let hop = [60u8, 0, 1, 4, 0, 0, 0, 0];
    let dst = [44u8, 0, 1, 4, 0, 0, 0, 0];
    let unfrag: Vec<u8> = hop.iter().chain(dst.iter()).copied().collect();
    let payload: Vec<u8> = (0..64u8).collect();
    let mut d = defrag(OverlapPolicy::Bsd);
    let p2 = v6_ext(0xdead_beef, 32, false, &payload[32..], &unfrag, 17);
    let p1 = v6_ext(0xdead_beef, 0, true, &payload[..32], &unfrag, 17);
    assert!(push(&mut d, &p2).is_none());
    let r = push(&mut d, &p1).expect("complete");
    // Expected: the same packet without the fragment header, destination options now naming UDP.
    let mut expected = v6_ext(0, 0, false, &[], &unfrag, 0)[..56].to_vec();
    expected[4..6].copy_from_slice(&((16 + 64) as u16).to_be_bytes());
    expected[48] = 17;
    expected.extend_from_slice(&payload);
    assert_eq!(r, expected);
    assert_eq!(d.counters().ipv6_reassembled, 1);
}

#[test]
fn timeouts_follow_the_last_fragment() {
    let mut d = defrag(OverlapPolicy::Bsd);
    let a = v4(5, 1, 0, true, &fill(b'A', 8));
    let b = v4(5, 1, 8, false, &fill(b'B', 8));
    assert_eq!(d.push(&a, Vlans::default(), at(0)), DefragOutcome::Held);
    d.expire(at(60));
    assert_eq!(d.active_trackers(), 1, "60 s is not older than the timeout");
    assert!(matches!(
        d.push(&b, Vlans::default(), at(60)),
        DefragOutcome::Reassembled(_)
    ));
    assert_eq!(d.push(&a, Vlans::default(), at(100)), DefragOutcome::Held);
    // Another datagram pushed 61 s later expires the first before being stored.
    let other = v4(6, 1, 0, true, &fill(b'X', 8));
    assert_eq!(
        d.push(&other, Vlans::default(), at(161)),
        DefragOutcome::Held
    );
    assert_eq!(d.push(&b, Vlans::default(), at(161)), DefragOutcome::Held);
    let c = d.counters();
    assert_eq!((c.timeouts, c.fragments_dropped), (1, 1));
    assert_eq!(d.active_trackers(), 2);
}

#[test]
fn memcap_drops_the_datagram_and_never_exceeds() {
    let mut d = Defragmenter::new(DefragConfig {
        max_bytes: 2 * CHUNK_SIZE,
        ..DefragConfig::default()
    });
    // 20 + 400 header and data bytes: two chunks, the whole arena.
    assert_eq!(
        d.push(&v4(1, 1, 0, true, &fill(b'A', 400)), Vlans::default(), TS),
        DefragOutcome::Held
    );
    assert_eq!(d.bytes_in_use(), 2 * CHUNK_SIZE);
    // A second datagram's fragment does not fit: refused, its (new) datagram dropped.
    assert_eq!(
        d.push(&v4(2, 1, 8, false, &fill(b'B', 8)), Vlans::default(), TS),
        DefragOutcome::Dropped(DropReason::Memcap)
    );
    // The first datagram's next fragment does not fit either: the datagram is dropped.
    assert_eq!(
        d.push(&v4(1, 1, 400, false, &fill(b'A', 8)), Vlans::default(), TS),
        DefragOutcome::Dropped(DropReason::Memcap)
    );
    let c = d.counters();
    assert_eq!((c.memcap, c.fragments_dropped), (2, 3));
    assert_eq!(d.bytes_in_use(), 0);
    assert_eq!(d.active_trackers(), 0);
}

#[test]
fn fragment_limit_per_tracker() {
    let mut d = Defragmenter::new(DefragConfig {
        max_fragments_per_tracker: 2,
        ..DefragConfig::default()
    });
    assert!(push(&mut d, &v4(1, 1, 0, true, &fill(b'A', 8))).is_none());
    assert!(push(&mut d, &v4(1, 1, 8, true, &fill(b'B', 8))).is_none());
    assert_eq!(
        d.push(&v4(1, 1, 16, false, &fill(b'C', 8)), Vlans::default(), TS),
        DefragOutcome::Dropped(DropReason::TooManyFragments)
    );
    let c = d.counters();
    assert_eq!((c.too_many_fragments, c.fragments_dropped), (1, 3));
    assert_eq!(d.active_trackers(), 0);
}

#[test]
fn full_tracker_pool_recycles_the_least_recently_used() {
    let mut d = Defragmenter::new(DefragConfig {
        max_trackers: 2,
        ..DefragConfig::default()
    });
    assert!(push(&mut d, &v4(1, 1, 0, true, &fill(b'A', 8))).is_none());
    assert!(push(&mut d, &v4(2, 1, 0, true, &fill(b'A', 8))).is_none());
    // Datagram 1 is touched again, so datagram 2 is the least recently used.
    assert!(push(&mut d, &v4(1, 1, 8, true, &fill(b'B', 8))).is_none());
    assert_eq!(
        d.push(&v4(3, 1, 0, true, &fill(b'A', 8)), Vlans::default(), TS),
        DefragOutcome::Held
    );
    let c = d.counters();
    assert_eq!((c.evicted, c.fragments_dropped), (1, 1));
    // Datagram 1 survived and completes; datagram 2's tail now starts a new tracker.
    assert!(push(&mut d, &v4(1, 1, 16, false, &fill(b'C', 8))).is_some());
    assert!(push(&mut d, &v4(2, 1, 8, false, &fill(b'B', 8))).is_none());
    assert_eq!(d.active_trackers(), 2);

    let mut none = Defragmenter::new(DefragConfig {
        max_trackers: 0,
        ..DefragConfig::default()
    });
    assert_eq!(
        none.push(&v4(1, 1, 0, true, &fill(b'A', 8)), Vlans::default(), TS),
        DefragOutcome::Dropped(DropReason::TrackerFull)
    );
    let c = none.counters();
    assert_eq!((c.tracker_full, c.fragments_dropped), (1, 1));
}

#[test]
fn invalid_fragments_are_refused_and_counted() {
    let mut d = defrag(OverlapPolicy::Bsd);
    let refuse = |d: &mut Defragmenter, p: &[u8]| {
        assert_eq!(
            d.push(p, Vlans::default(), TS),
            DefragOutcome::Dropped(DropReason::Invalid),
            "{p:02x?}"
        );
    };
    // IPv4 end beyond 65535 - 20 (Suricata's DefragTooLargeIpv4Test: offset 8183*8, 71 bytes).
    refuse(&mut d, &v4(1, 1, 8183 * 8, false, &fill(b'A', 71)));
    // Zero-length fragment (Suricata's DefragNoDataIpv4Test).
    refuse(&mut d, &v4(12, 1, 8, false, &[]));
    // IP length beyond the captured bytes.
    let mut cut = v4(2, 1, 0, true, &fill(b'A', 16));
    cut.truncate(30);
    refuse(&mut d, &cut);
    // IP length shorter than the header.
    let mut short = v4(2, 1, 0, true, &fill(b'A', 16));
    short[2..4].copy_from_slice(&10u16.to_be_bytes());
    refuse(&mut d, &short);
    // IPv6 end beyond 65535.
    refuse(&mut d, &v6(1, 65528, false, &fill(b'A', 16)));
    refuse(&mut d, &v6(1, 8, false, &[]));
    let mut cut6 = v6(1, 0, true, &fill(b'A', 16));
    cut6.truncate(50);
    refuse(&mut d, &cut6);
    // A second last fragment with another end.
    assert!(push(&mut d, &v4(4, 1, 16, false, &fill(b'C', 8))).is_none());
    refuse(&mut d, &v4(4, 1, 32, false, &fill(b'C', 8)));
    let c = d.counters();
    assert_eq!(c.invalid, 8);
    assert_eq!(c.fragments_dropped, 8);
    assert_eq!((c.ipv4_fragments, c.ipv6_fragments), (6, 3));
    assert_eq!(d.active_trackers(), 1);
}

#[test]
fn oversized_reassembly_is_dropped() {
    // 60-byte header (options) on the first fragment, data up to 65515: 65575 > 65535.
    let mut d = defrag(OverlapPolicy::Bsd);
    let mut first = v4(1, 1, 0, true, &fill(b'A', 65_000));
    first[0] = 0x4f;
    let mut with_opts = first[..20].to_vec();
    with_opts.extend_from_slice(&[1u8; 40]); // NOP options
    with_opts.extend_from_slice(&first[20..]);
    let total = with_opts.len() as u16;
    with_opts[2..4].copy_from_slice(&total.to_be_bytes());
    assert!(push(&mut d, &with_opts).is_none());
    assert_eq!(
        d.push(
            &v4(1, 1, 65_000, false, &fill(b'B', 515)),
            Vlans::default(),
            TS
        ),
        DefragOutcome::Dropped(DropReason::Oversized)
    );
    let c = d.counters();
    assert_eq!((c.oversized, c.fragments_dropped), (1, 2));
    assert_eq!(d.bytes_in_use(), 0);
}

#[test]
fn unaligned_middle_fragment_is_kept_and_counted() {
    let mut d = defrag(OverlapPolicy::Bsd);
    assert!(push(&mut d, &v4(1, 1, 0, true, &fill(b'A', 13))).is_none());
    assert!(push(&mut d, &v4(1, 1, 16, false, &fill(b'C', 8))).is_none());
    assert_eq!(d.counters().unaligned, 1);
    // The hole 13..16 is filled by a fragment at 8 (BSD: A keeps 8..13).
    let r = push(&mut d, &v4(1, 1, 8, true, &fill(b'B', 8))).expect("complete");
    assert_eq!(&r[20..], b"AAAAAAAAAAAAABBBCCCCCCCC");
    let c = d.counters();
    assert_eq!((c.unaligned, c.overlaps), (1, 1));
}

#[test]
fn vlan_and_protocol_are_part_of_the_key() {
    let tagged = |id: u16| {
        let mut f = Vec::new();
        etherparse::PacketBuilder::ethernet2([1; 6], [2; 6])
            .single_vlan(id.try_into().unwrap())
            .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .udp(1, 2)
            .write(&mut f, b"x")
            .unwrap();
        decode(LinkType::Ethernet, &f, false).unwrap().vlans
    };
    let (vlan1, vlan2) = (tagged(1), tagged(2));
    let a = v4(1, 1, 0, true, &fill(b'A', 8));
    let b = v4(1, 1, 8, false, &fill(b'B', 8));
    let mut d = defrag(OverlapPolicy::Bsd);
    assert_eq!(d.push(&a, vlan1, TS), DefragOutcome::Held);
    assert_eq!(d.push(&b, vlan2, TS), DefragOutcome::Held);
    // Suricata's DefragTestBadProto: same id, other protocol.
    assert_eq!(
        d.push(&v4(1, 17, 8, false, b"BBBBBBBB"), vlan1, TS),
        DefragOutcome::Held
    );
    assert_eq!(d.active_trackers(), 3);
    assert!(matches!(
        d.push(&b, vlan1, TS),
        DefragOutcome::Reassembled(_)
    ));
}

#[test]
fn whole_packets_are_not_fragments() {
    let mut d = defrag(OverlapPolicy::Bsd);
    for p in [
        v4(1, 6, 0, false, b"whole"),
        v6_ext(1, 0, false, b"atomic", &[], 6),
        vec![0x45, 0, 0],
        vec![],
        b"\x60 too short for ipv6".to_vec(),
    ] {
        assert!(!is_fragment(&p));
        assert_eq!(d.push(&p, Vlans::default(), TS), DefragOutcome::NotFragment);
    }
    assert!(is_fragment(&v4(1, 6, 8, false, b"tail")));
    assert!(is_fragment(&v6(1, 0, true, b"head")));
    assert_eq!(d.counters(), DefragCounters::default());
}

#[test]
fn ip_layer_walks_every_link_type() {
    let ip = v4(1, 1, 0, true, b"payload!");
    let mut eth = vec![0u8; 12];
    eth.extend_from_slice(&[0x88, 0xa8, 0, 1, 0x81, 0x00, 0, 2, 0x08, 0x00]);
    eth.extend_from_slice(&ip);
    assert_eq!(ip_layer(LinkType::Ethernet, &eth), Some(ip.as_slice()));
    let mut sll = vec![0u8; 14];
    sll.extend_from_slice(&[0x86, 0xdd]);
    let ip6 = v6(1, 0, true, b"payload!");
    sll.extend_from_slice(&ip6);
    assert_eq!(ip_layer(LinkType::LinuxSll, &sll), Some(ip6.as_slice()));
    let mut null = vec![2, 0, 0, 0];
    null.extend_from_slice(&ip);
    assert_eq!(ip_layer(LinkType::Null, &null), Some(ip.as_slice()));
    assert_eq!(ip_layer(LinkType::RawIp, &ip), Some(ip.as_slice()));
    let mut d = defrag(OverlapPolicy::Bsd);
    assert_eq!(
        d.push_frame(LinkType::Ethernet, &eth, Vlans::default(), TS),
        DefragOutcome::Held
    );
    assert_eq!(
        d.push_frame(LinkType::Ethernet, &eth[..20], Vlans::default(), TS),
        DefragOutcome::NotFragment
    );
    let mut arp = vec![0u8; 12];
    arp.extend_from_slice(&[0x08, 0x06, 0, 1]);
    assert_eq!(ip_layer(LinkType::Ethernet, &arp), None);
    assert_eq!(ip_layer(LinkType::Ethernet, &eth[..15]), None);
}

#[test]
fn counters_merge_and_name_every_field() {
    let mut d = defrag(OverlapPolicy::Bsd);
    assert!(push(&mut d, &v4(1, 1, 0, true, &fill(b'A', 8))).is_none());
    assert!(push(&mut d, &v4(1, 1, 0, true, &fill(b'A', 8))).is_none());
    let one = d.counters();
    let mut sum = one;
    sum.merge(&one);
    assert_eq!((sum.ipv4_fragments, sum.overlaps), (4, 2));
    let named = sum.named();
    assert!(named.contains(&("defrag.ipv4.fragments", 4)));
    assert!(named.contains(&("defrag.overlaps", 2)));
    let mut names: Vec<_> = named.iter().map(|(n, _)| *n).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), named.len());
}

#[test]
fn policy_names_round_trip() {
    for p in OverlapPolicy::ALL {
        assert_eq!(p.name().parse::<OverlapPolicy>(), Ok(p));
    }
    assert_eq!("macos".parse::<OverlapPolicy>(), Ok(OverlapPolicy::First));
    assert!("beos".parse::<OverlapPolicy>().is_err());
    assert_eq!(OverlapPolicy::default(), OverlapPolicy::Bsd);
}

/// Splits `payload` into fragments of `sizes` (rounded to 8, last takes the rest).
fn cut(payload: &[u8], sizes: &[usize]) -> Vec<(u32, bool, Vec<u8>)> {
    let mut out = Vec::new();
    let mut at = 0;
    let mut sizes = sizes.iter().cycle();
    while at < payload.len() {
        let n = (sizes.next().copied().unwrap_or(8) / 8).max(1) * 8;
        let end = (at + n).min(payload.len());
        out.push((at as u32, end < payload.len(), payload[at..end].to_vec()));
        at = end;
    }
    out
}

proptest::proptest! {
    /// Any permutation of a fragment set (with some fragments repeated) reassembles to the
    /// original packet, IPv4 and IPv6, under every policy (the copies agree, so policy does not
    /// matter), and gives back all memory.
    #[test]
    fn any_permutation_reassembles(
        len in 9usize..3000,
        sizes in proptest::collection::vec(8usize..1500, 1..6),
        seed in proptest::num::u64::ANY,
        dups in proptest::collection::vec(0usize..64, 0..4),
        policy in proptest::sample::select(OverlapPolicy::ALL.to_vec()),
        version in proptest::sample::select(vec![4u8, 6]),
    ) {
        let payload: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
        // At least two fragments: a single one would be a whole packet.
        let sizes: Vec<usize> = sizes.iter().map(|s| (*s).min(len - 1)).collect();
        let mut frags = cut(&payload, &sizes);
        let n = frags.len();
        for d in &dups {
            let f = frags[d % n].clone();
            frags.push(f);
        }
        // Fisher-Yates with a small LCG.
        let mut s = seed;
        for i in (1..frags.len()).rev() {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            frags.swap(i, (s >> 33) as usize % (i + 1));
        }
        let mk = |off: u32, more: bool, data: &[u8]| {
            if version == 4 { v4(77, 17, off, more, data) } else { v6(77, off, more, data) }
        };
        let whole = if version == 4 {
            v4(77, 17, 0, false, &payload)
        } else {
            let mut w = v6(77, 0, false, &payload);
            w.drain(40..48);
            w[4..6].copy_from_slice(&(len as u16).to_be_bytes());
            w[6] = 58;
            w
        };
        // Up to 3000 / 8 fragments plus duplicates: above the default per-datagram limit.
        let mut d = Defragmenter::new(DefragConfig {
            policy,
            max_fragments_per_tracker: 1024,
            ..DefragConfig::default()
        });
        let mut got = Vec::new();
        for (off, more, data) in &frags {
            if let Some(r) = push(&mut d, &mk(*off, *more, data)) {
                got.push(r);
            }
        }
        // The first completion is the datagram; fragments after it start a new tracker.
        proptest::prop_assert!(!got.is_empty());
        proptest::prop_assert_eq!(&got[0], &whole);
        let c = d.counters();
        proptest::prop_assert_eq!(c.fragments_dropped, 0);
        d.expire(at(3600));
        proptest::prop_assert_eq!(d.bytes_in_use(), 0);
        proptest::prop_assert_eq!(d.active_trackers(), 0);
    }

    /// Overlapping fragments with different content: the result equals a byte-by-byte model of
    /// the policy, and the overlap counter equals the model's.
    #[test]
    fn overlaps_match_the_model(
        frags in proptest::collection::vec((0u32..16, 1usize..40, proptest::num::u8::ANY), 1..12),
        policy in proptest::sample::select(OverlapPolicy::ALL.to_vec()),
    ) {
        // Always a first and a last fragment so that a completion is possible.
        let total = 128u32;
        let mut list: Vec<(u32, Vec<u8>, bool)> = vec![(0, fill(0xaa, 64), true)];
        for (off8, len, byte) in &frags {
            list.push((off8 * 8, fill(*byte, *len), true));
        }
        list.push((64, fill(0xbb, 64), false));
        let mut owner: Vec<Option<usize>> = vec![None; total as usize];
        let mut model_overlaps = 0;
        let mut d = defrag(policy);
        let mut result = None;
        for (i, (off, data, more)) in list.iter().enumerate() {
            let end = *off + data.len() as u32;
            if list[..i].iter().any(|(o, dd, _)| *o < end && *off < *o + dd.len() as u32) {
                model_overlaps += 1;
            }
            for b in *off..end.min(total) {
                let wins = match owner[b as usize] {
                    None => true,
                    Some(k) => {
                        let (o, dd, _) = &list[k];
                        policy.new_wins(*o, *o + dd.len() as u32, *off, end)
                    }
                };
                if wins {
                    owner[b as usize] = Some(i);
                }
            }
            let r = push(&mut d, &v4(5, 1, *off, *more, data));
            if i + 1 < list.len() {
                proptest::prop_assert!(r.is_none());
            } else {
                result = r;
            }
        }
        let expected: Vec<u8> = owner.iter().map(|o| o.map_or(0, |k| list[k].1[0])).collect();
        let r = result.expect("complete");
        proptest::prop_assert_eq!(&r[20..], expected.as_slice());
        proptest::prop_assert_eq!(d.counters().overlaps, model_overlaps);
    }

    /// Arbitrary byte strings never panic and never exceed the configured bounds.
    #[test]
    fn arbitrary_packets_stay_bounded(
        packets in proptest::collection::vec(proptest::collection::vec(proptest::num::u8::ANY, 0..120), 0..40),
        fragments in proptest::collection::vec((0u32..64, 1usize..200, proptest::bool::ANY, 0u16..4), 0..60),
    ) {
        let cfg = DefragConfig {
            max_trackers: 3,
            max_bytes: 8 * CHUNK_SIZE,
            max_fragments_per_tracker: 4,
            timeout_secs: 5,
            policy: OverlapPolicy::Bsd,
        };
        let mut d = Defragmenter::new(cfg);
        let mut pushed = 0u64;
        let (mut reassembled, mut invalid, mut full) = (0u64, 0u64, 0u64);
        let mut all: Vec<(Vec<u8>, i64)> = packets.iter().enumerate().map(|(i, p)| (p.clone(), i as i64)).collect();
        for (i, (off8, len, more, id)) in fragments.iter().enumerate() {
            let p = if i % 2 == 0 {
                v4(*id, 1, off8 * 8, *more, &fill(1, *len))
            } else {
                v6(u32::from(*id), off8 * 8, *more, &fill(2, *len))
            };
            all.push((p, i as i64 / 8));
        }
        for (p, secs) in &all {
            if is_fragment(p) {
                pushed += 1;
            }
            match d.push(p, Vlans::default(), at(*secs)) {
                DefragOutcome::Reassembled(_) => reassembled += 1,
                DefragOutcome::Dropped(DropReason::Invalid) => invalid += 1,
                DefragOutcome::Dropped(DropReason::TrackerFull) => full += 1,
                _ => {}
            }
            proptest::prop_assert!(d.bytes_in_use() <= cfg.max_bytes);
            proptest::prop_assert!(d.active_trackers() <= cfg.max_trackers);
        }
        let c = d.counters();
        proptest::prop_assert_eq!(c.ipv4_reassembled + c.ipv6_reassembled, reassembled);
        proptest::prop_assert_eq!(c.invalid, invalid);
        proptest::prop_assert_eq!(c.tracker_full, full);
        proptest::prop_assert_eq!(c.ipv4_fragments + c.ipv6_fragments, pushed);
    }
}
