//! The symmetric flow key: both directions of a connection map to the same key.

use std::net::IpAddr;

use crate::capture::Timestamp;
use crate::decode::{Decoded, Vlans};

/// Addresses and ports in a canonical order (lower endpoint first), protocol and VLANs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FlowKey {
    lo: (IpAddr, u16),
    hi: (IpAddr, u16),
    proto: u8,
    vlans: Vlans,
}

impl FlowKey {
    /// The key of a decoded packet; the same for both directions.
    pub fn of(p: &Decoded<'_>) -> FlowKey {
        let a = (p.src_ip, p.src_port);
        let b = (p.dst_ip, p.dst_port);
        let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
        FlowKey {
            lo,
            hi,
            proto: p.ip_proto,
            vlans: p.vlans,
        }
    }

    /// IP protocol number.
    pub fn proto(&self) -> u8 {
        self.proto
    }

    /// A hash of the key alone, to spread flows over workers: both directions of a flow
    /// land on the same worker.
    pub fn spread_hash(&self) -> u64 {
        let mut h = Fnv1a::default();
        self.write_to(&mut h);
        splitmix(h.0)
    }

    fn write_to(&self, h: &mut Fnv1a) {
        for (ip, port) in [self.lo, self.hi] {
            match ip {
                IpAddr::V4(v4) => h.write(&v4.octets()),
                IpAddr::V6(v6) => h.write(&v6.octets()),
            }
            h.write(&port.to_be_bytes());
        }
        h.write(&[self.proto]);
        for id in self.vlans.as_slice() {
            h.write(&id.to_be_bytes());
        }
    }

    /// A flow id that depends only on the key and the first packet's time, so it is the same
    /// however packets are spread over workers, and fits in 53 bits like a JSON-safe integer.
    pub fn flow_id(&self, first: Timestamp) -> u64 {
        let mut h = Fnv1a::default();
        self.write_to(&mut h);
        h.write(&first.as_micros().to_be_bytes());
        let id = splitmix(h.0) & ((1 << 53) - 1);
        id.max(1)
    }
}

/// FNV-1a: stable across Rust releases, unlike `DefaultHasher`, so flow ids are reproducible.
struct Fnv1a(u64);

impl Default for Fnv1a {
    fn default() -> Self {
        Fnv1a(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv1a {
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

/// A final avalanche so that nearby keys give unrelated ids.
fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
