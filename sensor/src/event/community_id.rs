//! Community ID flow hashing, version 1 (https://github.com/corelight/community-id-spec).
//!
//! SHA-1 over seed, the ordered endpoints, protocol and ports, base64-encoded and prefixed
//! with `1:`. ICMP uses type/code as ports, with request/reply types paired so that both
//! directions of an exchange hash alike; unpaired ICMP types are one-way and keep their order.

use std::net::IpAddr;

use base64::Engine;
use sha1::{Digest, Sha1};

use crate::decode::ipproto;

/// Largest output: "1:" plus 28 base64 characters.
pub const COMMUNITY_ID_LEN: usize = 30;

/// The request/reply counterpart of an ICMP type, if it has one.
fn icmp_counterpart(proto: u8, t: u8) -> Option<u8> {
    let pairs: &[(u8, u8)] = if proto == ipproto::ICMP {
        &[(8, 0), (13, 14), (15, 16), (10, 9), (17, 18)]
    } else {
        &[(128, 129), (133, 134), (135, 136), (130, 131), (144, 145)]
    };
    pairs.iter().find_map(|&(a, b)| {
        if t == a {
            Some(b)
        } else if t == b {
            Some(a)
        } else {
            None
        }
    })
}

fn ip_bytes(ip: &IpAddr, buf: &mut [u8; 16]) -> usize {
    match ip {
        IpAddr::V4(v4) => {
            buf[..4].copy_from_slice(&v4.octets());
            4
        }
        IpAddr::V6(v6) => {
            buf.copy_from_slice(&v6.octets());
            16
        }
    }
}

/// Computes the Community ID with seed 0 into `out`, returning the written prefix as `&str`.
/// For ICMP pass type and code as `sport` and `dport`.
pub fn community_id(
    src: IpAddr,
    dst: IpAddr,
    proto: u8,
    sport: u16,
    dport: u16,
    out: &mut [u8; COMMUNITY_ID_LEN],
) -> &str {
    let (mut sport, mut dport, mut one_way) = (sport, dport, false);
    if proto == ipproto::ICMP || proto == ipproto::ICMPV6 {
        let t = u8::try_from(sport).unwrap_or(u8::MAX);
        match icmp_counterpart(proto, t) {
            Some(peer) => dport = u16::from(peer),
            None => one_way = true,
        }
        sport = u16::from(t);
    }
    let (mut a, mut b) = ((src, sport), (dst, dport));
    if !one_way && b < a {
        std::mem::swap(&mut a, &mut b);
    }
    let mut h = Sha1::new();
    h.update(0u16.to_be_bytes());
    let mut buf = [0u8; 16];
    let n = ip_bytes(&a.0, &mut buf);
    h.update(&buf[..n]);
    let n = ip_bytes(&b.0, &mut buf);
    h.update(&buf[..n]);
    h.update([proto, 0]);
    let has_ports = matches!(
        proto,
        ipproto::TCP | ipproto::UDP | ipproto::ICMP | ipproto::ICMPV6 | 132
    );
    if has_ports {
        h.update(a.1.to_be_bytes());
        h.update(b.1.to_be_bytes());
    }
    let digest = h.finalize();
    out[0] = b'1';
    out[1] = b':';
    let n = base64::engine::general_purpose::STANDARD
        .encode_slice(digest, &mut out[2..])
        .unwrap_or(0);
    std::str::from_utf8(&out[..2 + n]).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cid(src: &str, dst: &str, proto: u8, sp: u16, dp: u16) -> String {
        let mut out = [0; COMMUNITY_ID_LEN];
        community_id(
            src.parse().unwrap(),
            dst.parse().unwrap(),
            proto,
            sp,
            dp,
            &mut out,
        )
        .to_string()
    }

    // Expected values from the community-id-spec reference baseline (seed 0).
    #[test]
    fn spec_baseline() {
        assert_eq!(
            cid("128.232.110.120", "66.35.250.204", 6, 34855, 80),
            "1:LQU9qZlK+B5F3KDmev6m5PMibrg="
        );
        assert_eq!(
            cid("66.35.250.204", "128.232.110.120", 6, 80, 34855),
            "1:LQU9qZlK+B5F3KDmev6m5PMibrg="
        );
        assert_eq!(
            cid("192.168.0.89", "192.168.0.1", 1, 8, 0),
            "1:X0snYXpgwiv9TZtqg64sgzUn6Dk="
        );
        assert_eq!(
            cid("192.168.0.1", "192.168.0.89", 1, 0, 8),
            "1:X0snYXpgwiv9TZtqg64sgzUn6Dk="
        );
    }
}
