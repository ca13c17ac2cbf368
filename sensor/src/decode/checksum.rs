//! Internet checksums (RFC 1071) for `--verify-checksums`.
//!
//! Off by default in replay, like Suricata's `-k none`: captures taken on the sending host
//! carry checksums the NIC would have filled in, so verifying them would drop real traffic.

use std::net::IpAddr;

use super::ipproto;

/// One's-complement sum of 16-bit big-endian words; an odd trailing byte is padded with zero.
fn sum_words(mut acc: u32, bytes: &[u8]) -> u32 {
    let mut chunks = bytes.chunks_exact(2);
    for c in &mut chunks {
        acc = acc.wrapping_add(u32::from(u16::from_be_bytes([c[0], c[1]])));
    }
    if let [last] = chunks.remainder() {
        acc = acc.wrapping_add(u32::from(*last) << 8);
    }
    acc
}

fn fold(mut acc: u32) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

/// True when an IPv4 header's checksum field is right.
pub(super) fn ipv4_header_ok(header: &[u8]) -> bool {
    fold(sum_words(0, header)) == 0xffff
}

/// True when the TCP/UDP/ICMP checksum of `segment` (header and data) is right, or when the
/// protocol has none we check. A UDP checksum of zero over IPv4 means "not computed".
pub(super) fn transport_ok(src: IpAddr, dst: IpAddr, proto: u8, segment: &[u8]) -> bool {
    let Ok(len) = u32::try_from(segment.len()) else {
        return false;
    };
    let pseudo = |acc: u32| -> u32 {
        let acc = match (src, dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => sum_words(sum_words(acc, &s.octets()), &d.octets()),
            (IpAddr::V6(s), IpAddr::V6(d)) => sum_words(sum_words(acc, &s.octets()), &d.octets()),
            _ => acc,
        };
        acc.wrapping_add(len >> 16)
            .wrapping_add(len & 0xffff)
            .wrapping_add(u32::from(proto))
    };
    match proto {
        ipproto::TCP => fold(sum_words(pseudo(0), segment)) == 0xffff,
        ipproto::UDP => {
            if src.is_ipv4() && segment.get(6..8) == Some(&[0, 0]) {
                return true;
            }
            fold(sum_words(pseudo(0), segment)) == 0xffff
        }
        ipproto::ICMP => fold(sum_words(0, segment)) == 0xffff,
        ipproto::ICMPV6 => fold(sum_words(pseudo(0), segment)) == 0xffff,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc1071_example_header() {
        // An IPv4 header with a correct checksum (0xb861), from RFC 1071-style worked examples.
        let h = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        assert!(ipv4_header_ok(&h));
        let mut bad = h;
        bad[11] ^= 1;
        assert!(!ipv4_header_ok(&bad));
    }
}
