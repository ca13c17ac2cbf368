//! Arbitrary bytes as a frame of every link type, and behind every tunnel header the decoder
//! opens: decoding and decapsulating must return, never panic, and stop at the depth bound.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sensor::decode::{decapsulate, decode, innermost, LinkType, MAX_TUNNEL_DEPTH};

/// Ethernet + IPv4 + UDP (checksum 0) headers up to the UDP payload, ports as given.
fn udp_prefix(dport: u16, len: usize) -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00];
    let total = u16::try_from(28 + len).unwrap_or(u16::MAX);
    f.extend_from_slice(&[0x45, 0]);
    f.extend_from_slice(&total.to_be_bytes());
    f.extend_from_slice(&[0, 1, 0, 0, 64, 17, 0, 0, 192, 0, 2, 1, 192, 0, 2, 2]);
    f.extend_from_slice(&40000u16.to_be_bytes());
    f.extend_from_slice(&dport.to_be_bytes());
    f.extend_from_slice(&u16::try_from(8 + len).unwrap_or(u16::MAX).to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f
}

/// The frame with `body` behind the tunnel header `which` selects.
fn wrapped(which: u8, body: &[u8]) -> Vec<u8> {
    let mut f = match which % 7 {
        0 => {
            let mut f = udp_prefix(4789, body.len() + 8);
            f.extend_from_slice(&[0x08, 0, 0, 0, 0, 0, 1, 0]);
            f
        }
        1 => udp_prefix(6081, body.len()),
        2 => udp_prefix(3544, body.len()),
        3 => {
            // IPv4 protocol 47: the body starts with the GRE header.
            let mut f = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00, 0x45, 0];
            let total = u16::try_from(20 + body.len()).unwrap_or(u16::MAX);
            f.extend_from_slice(&total.to_be_bytes());
            f.extend_from_slice(&[0, 1, 0, 0, 64, 47, 0, 0, 192, 0, 2, 1, 192, 0, 2, 2]);
            f
        }
        4 => vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x88, 0x64],
        5 => vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x88, 0x47],
        _ => vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x86, 0xdd],
    };
    f.extend_from_slice(body);
    f
}

fn walk(link: LinkType, frame: &[u8], verify: bool) {
    let Ok(mut p) = decode(link, frame, verify) else {
        return;
    };
    let mut steps = 0;
    while let Some(encap) = p.layer.encap {
        match decapsulate(&p, encap, verify) {
            Ok(inner) => {
                assert!(inner.layer.depth <= MAX_TUNNEL_DEPTH);
                assert!(inner.layer.tunnel.is_some());
                p = inner;
            }
            Err(_) => break,
        }
        steps += 1;
        assert!(steps <= usize::from(MAX_TUNNEL_DEPTH) + 1);
    }
    let _ = p.has_flow();
}

fuzz_target!(|data: &[u8]| {
    for link in [
        LinkType::Ethernet,
        LinkType::RawIp,
        LinkType::LinuxSll,
        LinkType::LinuxSll2,
        LinkType::Null,
        LinkType::Ppp,
    ] {
        walk(link, data, true);
        walk(link, data, false);
        let _ = innermost(link, data);
    }
    if let Some((&which, body)) = data.split_first() {
        let frame = wrapped(which, body);
        walk(LinkType::Ethernet, &frame, false);
        let _ = innermost(LinkType::Ethernet, &frame);
    }
});
