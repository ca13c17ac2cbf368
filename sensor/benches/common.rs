//! Frames shared by the benches: built with etherparse so every checksum is right.

// Each bench uses a subset of these builders.
#![allow(dead_code)]
// Benches build fixed, known-good inputs: a panic is a broken bench, not a runtime error.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use etherparse::PacketBuilder;

/// An Ethernet/IPv4/TCP frame with `payload`, from client `c` (last octet varies) to port 80.
pub fn ipv4_tcp(c: u32, sport: u16, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv4((0x0a00_0000 | c).to_be_bytes(), [198, 51, 100, 30], 64)
        .tcp(sport, 80, 1000, 64_240)
        .ack(1)
        .psh()
        .write(&mut out, payload)
        .unwrap();
    out
}

/// 802.1Q-tagged Ethernet/IPv4/UDP (a DNS-sized datagram).
pub fn vlan_ipv4_udp(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .single_vlan(100.try_into().unwrap())
        .ipv4([10, 0, 0, 1], [10, 0, 0, 53], 64)
        .udp(53_001, 53)
        .write(&mut out, payload)
        .unwrap();
    out
}

/// QinQ Ethernet/IPv4/UDP.
pub fn qinq_ipv4_udp(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .double_vlan(200.try_into().unwrap(), 300.try_into().unwrap())
        .ipv4([10, 0, 0, 1], [10, 0, 0, 53], 64)
        .udp(53_001, 53)
        .write(&mut out, payload)
        .unwrap();
    out
}

/// Ethernet/IPv6/TCP.
pub fn ipv6_tcp(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv6(
            [
                0x20, 0x01, 0x0d, 0xb8, 0, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5,
            ],
            [
                0x20, 0x01, 0x0d, 0xb8, 0xbe, 0xef, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
            ],
            64,
        )
        .tcp(52_000, 443, 7, 64_240)
        .ack(1)
        .write(&mut out, payload)
        .unwrap();
    out
}

/// An HTTP request, a typical first data segment.
pub const HTTP_GET: &[u8] = b"GET /index.html HTTP/1.1\r\nHost: news.example.org\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:119.0) Gecko/20100101 Firefox/119.0\r\nAccept: */*\r\n\r\n";
