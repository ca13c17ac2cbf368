//! Address shifting for the corpus passes: every pass moves the IPv4/IPv6 addresses of each
//! frame by the pass number, so replaying the same capture again adds distinct flows, and
//! keeps every checksum exactly as valid (or as invalid) as it was.
//!
//! * IPv4: the third octet gets `+ pass` (mod 256), which keeps the address inside its /16,
//!   so RFC 1918 hosts stay in `$HOME_NET` and rules with network variables judge the shifted
//!   copy as they judged the original. Multicast, broadcast and 0.0.0.0 are left alone.
//! * IPv6: byte 7 gets `+ pass` (stays inside its /56); multicast (ff00::/8) is left alone.
//! * Checksums are updated incrementally (RFC 1624) with the 16-bit words that changed: the
//!   IPv4 header checksum and, through the pseudo-header, the TCP, UDP (when not zero) and
//!   ICMPv6 checksums. A checksum that was right stays right; one that was wrong (offloaded
//!   captures) stays wrong by the same amount, and a non-first fragment needs nothing because
//!   the transport checksum lives in the first one.
//!
//! Frames that do not parse this far (non-IP, truncated, exotic encapsulations) are copied
//! unchanged.

/// One's-complement 16-bit sum update: the checksum field `ck` after words `old` became `new`.
fn update(ck: u16, old: &[u16], new: &[u16]) -> u16 {
    // RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m').
    let mut sum = u32::from(!ck);
    for w in old {
        sum += u32::from(!w);
    }
    for w in new {
        sum += u32::from(*w);
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn words(b: &[u8]) -> Vec<u16> {
    b.chunks(2)
        .map(|c| u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]))
        .collect()
}

fn read16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

fn write16(b: &mut [u8], at: usize, v: u16) {
    if let Some(s) = b.get_mut(at..at + 2) {
        s.copy_from_slice(&v.to_be_bytes());
    }
}

/// Fixes the transport checksum at `l4` (protocol `proto`) for the address words that changed.
fn fix_l4(f: &mut [u8], l4: usize, proto: u8, old: &[u16], new: &[u16], v6: bool) {
    let at = match proto {
        6 => l4 + 16,
        17 => l4 + 6,
        58 if v6 => l4 + 2,
        _ => return,
    };
    let Some(ck) = read16(f, at) else { return };
    if proto == 17 && ck == 0 {
        return; // no UDP checksum (IPv4)
    }
    let mut fixed = update(ck, old, new);
    if proto == 17 && fixed == 0 {
        fixed = 0xffff;
    }
    write16(f, at, fixed);
}

/// Shifts the addresses of one Ethernet frame in place for pass `pass`; returns whether the
/// frame was changed. `pass` 0 changes nothing.
pub fn shift_frame(f: &mut [u8], pass: u8) -> bool {
    if pass == 0 {
        return false;
    }
    // Ethernet, then any number of 802.1Q / 802.1ad tags.
    let mut off = 12;
    let mut ethertype = match read16(f, off) {
        Some(t) => t,
        None => return false,
    };
    off += 2;
    while matches!(ethertype, 0x8100 | 0x88a8 | 0x9100) {
        ethertype = match read16(f, off + 2) {
            Some(t) => t,
            None => return false,
        };
        off += 4;
    }
    match ethertype {
        0x0800 => shift_v4(f, off, pass),
        0x86dd => shift_v6(f, off, pass),
        _ => false,
    }
}

fn shift_v4(f: &mut [u8], ip: usize, pass: u8) -> bool {
    let Some(&vihl) = f.get(ip) else { return false };
    let ihl = usize::from(vihl & 0x0f) * 4;
    if vihl >> 4 != 4 || ihl < 20 || f.len() < ip + ihl {
        return false;
    }
    let old = words(&f[ip + 12..ip + 20]);
    let mut changed = false;
    for a in [ip + 12, ip + 16] {
        let first = f[a];
        let all = &f[a..a + 4];
        if first >= 224 || all == [0, 0, 0, 0] {
            continue;
        }
        f[a + 2] = f[a + 2].wrapping_add(pass);
        changed = true;
    }
    if !changed {
        return false;
    }
    let new = words(&f[ip + 12..ip + 20]);
    if let Some(ck) = read16(f, ip + 10) {
        write16(f, ip + 10, update(ck, &old, &new));
    }
    let frag = read16(f, ip + 6).unwrap_or(0);
    if frag & 0x1fff == 0 {
        fix_l4(f, ip + ihl, f[ip + 9], &old, &new, false);
    }
    true
}

fn shift_v6(f: &mut [u8], ip: usize, pass: u8) -> bool {
    if f.len() < ip + 40 || f[ip] >> 4 != 6 {
        return false;
    }
    let old = words(&f[ip + 8..ip + 40]);
    let mut changed = false;
    for a in [ip + 8, ip + 24] {
        if f[a] == 0xff {
            continue;
        }
        f[a + 7] = f[a + 7].wrapping_add(pass);
        changed = true;
    }
    if !changed {
        return false;
    }
    let new = words(&f[ip + 8..ip + 40]);
    // Walk the extension headers that can precede the transport header.
    let mut next = f[ip + 6];
    let mut off = ip + 40;
    loop {
        match next {
            0 | 43 | 60 => {
                let (Some(&n), Some(&len)) = (f.get(off), f.get(off + 1)) else {
                    return true;
                };
                next = n;
                off += (usize::from(len) + 1) * 8;
            }
            44 => {
                let (Some(&n), Some(frag)) = (f.get(off), read16(f, off + 2)) else {
                    return true;
                };
                if frag & 0xfff8 != 0 {
                    return true; // not the first fragment: no transport header here
                }
                next = n;
                off += 8;
            }
            _ => break,
        }
    }
    fix_l4(f, off, next, &old, &new, true);
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::{PacketBuilder, SlicedPacket, TransportSlice};

    /// RFC 1071 over the pseudo-header and the segment, from scratch.
    fn l4_sum(pseudo: &[u8], seg: &[u8]) -> u16 {
        let mut sum: u32 = 0;
        for c in pseudo.chunks(2).chain(seg.chunks(2)) {
            sum += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
        }
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        !(sum as u16)
    }

    /// Every checksum of the frame verifies (recomputed from scratch: the sum is zero).
    fn checksums_valid(f: &[u8]) -> bool {
        let p = SlicedPacket::from_ethernet(f).unwrap();
        let (pseudo, seg) = match &p.net {
            Some(etherparse::NetSlice::Ipv4(v4)) => {
                let h = v4.header().slice();
                if l4_sum(&[], h) != 0 {
                    return false;
                }
                let seg = v4.payload().payload;
                let mut ps = Vec::new();
                ps.extend_from_slice(&h[12..20]);
                ps.extend_from_slice(&[0, h[9]]);
                ps.extend_from_slice(&(seg.len() as u16).to_be_bytes());
                (ps, seg)
            }
            Some(etherparse::NetSlice::Ipv6(v6)) => {
                let h = v6.header().slice();
                let pl = v6.payload();
                let mut ps = Vec::new();
                ps.extend_from_slice(&h[8..40]);
                ps.extend_from_slice(&(pl.payload.len() as u32).to_be_bytes());
                ps.extend_from_slice(&[0, 0, 0, pl.ip_number.0]);
                (ps, pl.payload)
            }
            _ => return false,
        };
        match &p.transport {
            Some(TransportSlice::Icmpv4(_)) => l4_sum(&[], seg) == 0,
            Some(_) => l4_sum(&pseudo, seg) == 0,
            None => true,
        }
    }

    fn frames() -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let payload = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
        let mut v = Vec::new();
        PacketBuilder::ethernet2([1; 6], [2; 6])
            .ipv4([192, 168, 10, 20], [203, 0, 113, 250], 64)
            .tcp(40000, 80, 12345, 1000)
            .write(&mut v, payload)
            .unwrap();
        out.push(v);
        let mut v = Vec::new();
        PacketBuilder::ethernet2([1; 6], [2; 6])
            .single_vlan(7.try_into().unwrap())
            .ipv4([10, 0, 255, 1], [8, 8, 8, 8], 64)
            .udp(5353, 53)
            .write(&mut v, b"\x12\x34\x01\x00odd")
            .unwrap();
        out.push(v);
        let mut v = Vec::new();
        PacketBuilder::ethernet2([1; 6], [2; 6])
            .ipv6(
                [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0xff, 0, 0, 0, 0, 0, 0, 0, 1],
                [0x20, 1, 0xd, 0xb8, 0xbe, 0xef, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2],
                64,
            )
            .tcp(1, 443, 7, 100)
            .write(&mut v, b"\x16\x03\x01")
            .unwrap();
        out.push(v);
        let mut v = Vec::new();
        PacketBuilder::ethernet2([1; 6], [2; 6])
            .ipv6(
                [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
                [0x20; 16],
                64,
            )
            .icmpv6_echo_request(1, 2)
            .write(&mut v, b"ping")
            .unwrap();
        out.push(v);
        let mut v = Vec::new();
        PacketBuilder::ethernet2([1; 6], [2; 6])
            .ipv4([172, 16, 3, 4], [198, 51, 100, 9], 64)
            .icmpv4_echo_request(1, 2)
            .write(&mut v, b"ping")
            .unwrap();
        out.push(v);
        out
    }

    #[test]
    fn shifted_frames_keep_valid_checksums_and_move_addresses() {
        for original in frames() {
            assert!(checksums_valid(&original));
            for pass in [1u8, 2, 7, 200, 255] {
                let mut f = original.clone();
                assert!(shift_frame(&mut f, pass));
                assert_ne!(f, original);
                assert!(checksums_valid(&f), "pass {pass}: {f:02x?}");
                let p = SlicedPacket::from_ethernet(&f).unwrap();
                if let Some(etherparse::NetSlice::Ipv4(v4)) = &p.net {
                    let s = v4.header().source_addr().octets();
                    let o = SlicedPacket::from_ethernet(&original).unwrap();
                    if let Some(etherparse::NetSlice::Ipv4(o4)) = &o.net {
                        let os = o4.header().source_addr().octets();
                        assert_eq!(s[..2], os[..2]);
                        assert_eq!(s[2], os[2].wrapping_add(pass));
                        assert_eq!(s[3], os[3]);
                    }
                }
            }
        }
    }

    #[test]
    fn wrong_checksums_stay_wrong_and_pass_zero_is_identity() {
        let mut f = frames().remove(0);
        let last = f.len() - 1;
        f[last] ^= 0x55;
        assert!(!checksums_valid(&f));
        let before = f.clone();
        assert!(!shift_frame(&mut f, 0));
        assert_eq!(f, before);
        assert!(shift_frame(&mut f, 3));
        assert!(!checksums_valid(&f));
        // Undo the corruption: the shifted frame is then valid, so the error was carried as is.
        f[last] ^= 0x55;
        assert!(checksums_valid(&f));
    }

    #[test]
    fn non_ip_and_truncated_frames_are_left_alone() {
        let mut arp = vec![0xff; 12];
        arp.extend_from_slice(&[0x08, 0x06, 0, 1]);
        assert!(!shift_frame(&mut arp.clone(), 1));
        let mut short = frames().remove(0);
        short.truncate(20);
        let copy = short.clone();
        assert!(!shift_frame(&mut short, 1));
        assert_eq!(short, copy);
    }
}
