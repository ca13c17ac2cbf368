//! The benchmark's own traffic: many flows of a realistic mix, generated deterministically
//! and streamed to the capture.
//!
//! Per flow (by count): DNS over UDP 50%, HTTP 17%, TLS 18%, unanswered SYNs (scans) 8%,
//! other 7% (NTP, ICMP echo, an interactive SSH-like TCP session). HTTP and TLS response sizes
//! are heavy-tailed (most under 2 KB, a few up to 2 MB), so most flows are small while most
//! bytes are in large transfers, as on a real uplink. Clients are in 10.0.0.0/8 (inside the
//! default `$HOME_NET`), servers at addresses outside it; 10% of flows are IPv6, 10% carry
//! an 802.1Q tag. Flows overlap: packets are drawn from 512 open flows at a time. The packet
//! clock advances as on a 1 Gbit/s link.
//!
//! Frames are built by the demo generator's `frame` (etherparse does layout and checksums).

use super::pcapio::PcapOut;
use crate::traffic::dns;
use crate::traffic::frames::{frame, Encap, Host, L4};
use anyhow::Result;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Deterministic PRNG (splitmix64).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// Next 64 random bits.
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// What the generator wrote.
#[derive(Debug, Clone, Copy, Default)]
pub struct GenStats {
    /// Flows generated.
    pub flows: u64,
    /// Frames written.
    pub packets: u64,
    /// Frame bytes written.
    pub bytes: u64,
}

const NAMES: &[&str] = &[
    "www", "mail", "cdn", "api", "static", "login", "update", "img", "news", "shop", "docs",
    "video", "auth", "m", "app",
];
const DOMAINS: &[&str] = &[
    "example.com",
    "example.org",
    "example.net",
    "contoso.test",
    "fabrikam.test",
    "wikipedia.org",
    "debian.org",
    "gouv.example",
    "bank.example",
    "weather.test",
];
const PATHS: &[&str] = &[
    "/",
    "/index.html",
    "/favicon.ico",
    "/css/site.css",
    "/js/app.js",
    "/api/v1/items",
    "/images/logo.png",
    "/search?q=weather",
    "/login",
    "/news/2023/11/14/story.html",
];
const AGENTS: &[&str] = &[
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.0.0 Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64; rv:119.0) Gecko/20100101 Firefox/119.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
    "curl/8.4.0",
    "Debian APT-HTTP/1.3 (2.6.1)",
];

/// Filler for bodies: text-like bytes, sliced at random offsets.
fn filler() -> Vec<u8> {
    let words = b"lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut labore et dolore magna aliqua ";
    let mut v = Vec::with_capacity(4 << 20);
    let mut r = Rng::new(7);
    while v.len() < (4 << 20) {
        let start = r.below(words.len() as u64 / 2) as usize;
        v.extend_from_slice(&words[start..]);
        if r.below(8) == 0 {
            v.extend_from_slice(b"<p>\n");
        }
    }
    v
}

/// Heavy-tailed response size.
fn body_size(r: &mut Rng) -> usize {
    let u = r.below(1000);
    (match u {
        0..=549 => r.range(120, 1_800),
        550..=849 => r.range(1_800, 16_000),
        850..=979 => r.range(16_000, 160_000),
        980..=997 => r.range(160_000, 800_000),
        _ => r.range(800_000, 2_000_000),
    }) as usize
}

struct Ctx {
    rng: Rng,
    fill: Vec<u8>,
    next_client: u32,
}

impl Ctx {
    fn client(&mut self, v6: bool) -> Host {
        // Clients walk through 10.0.0.0/8 (and 2001:db8:10::/48): distinct per flow mostly.
        self.next_client = self.next_client.wrapping_add(1);
        let n = self.next_client % 0x00ff_fffe + 1;
        let ip = if v6 {
            let mut o = [
                0x20, 0x01, 0x0d, 0xb8, 0x00, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            ];
            o[12..].copy_from_slice(&n.to_be_bytes());
            IpAddr::V6(Ipv6Addr::from(o))
        } else {
            IpAddr::V4(Ipv4Addr::from(0x0a00_0000 | n))
        };
        Host {
            mac: [0x02, 0x00, 0x5e, 0x10, 0x00, 0x01],
            ip,
        }
    }

    fn server(&mut self, v6: bool) -> Host {
        let ip = if v6 {
            let mut o = [0u8; 16];
            o[..4].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
            o[4] = 0xbe;
            o[14] = self.rng.below(256) as u8;
            o[15] = self.rng.range(1, 254) as u8;
            IpAddr::V6(Ipv6Addr::from(o))
        } else {
            // A public-looking unicast address (first octet 11..=223, not 10/127/172/192).
            let mut first = self.rng.range(11, 223) as u8;
            if matches!(first, 100 | 127 | 169 | 172 | 192) {
                first = 45;
            }
            IpAddr::V4(Ipv4Addr::new(
                first,
                self.rng.below(256) as u8,
                self.rng.below(256) as u8,
                self.rng.range(1, 254) as u8,
            ))
        };
        Host {
            mac: [0x02, 0x00, 0x5e, 0x10, 0x00, 0xfe],
            ip,
        }
    }

    fn body(&mut self, n: usize) -> &[u8] {
        let n = n.min(self.fill.len());
        let start = self.rng.below((self.fill.len() - n) as u64 + 1) as usize;
        &self.fill[start..start + n]
    }
}

/// Builds the frames of one TCP connection.
struct Tcp {
    encap: Encap,
    c: Host,
    s: Host,
    cp: u16,
    sp: u16,
    cseq: u32,
    sseq: u32,
    mss: usize,
    frames: Vec<Vec<u8>>,
}

impl Tcp {
    fn new(ctx: &mut Ctx, encap: Encap, c: Host, s: Host, sp: u16) -> Tcp {
        let v6 = c.ip.is_ipv6();
        Tcp {
            encap,
            c,
            s,
            cp: ctx.rng.range(32_768, 60_999) as u16,
            sp,
            cseq: ctx.rng.next() as u32,
            sseq: ctx.rng.next() as u32,
            mss: if v6 { 1440 } else { 1460 },
            frames: Vec::new(),
        }
    }

    fn seg(
        &mut self,
        from_client: bool,
        syn: bool,
        fin: bool,
        ack: bool,
        data: &[u8],
    ) -> Result<()> {
        let (src, dst, sp, dp, seq, peer) = if from_client {
            (self.c, self.s, self.cp, self.sp, self.cseq, self.sseq)
        } else {
            (self.s, self.c, self.sp, self.cp, self.sseq, self.cseq)
        };
        let f = frame(
            self.encap,
            &src,
            &dst,
            if from_client { 64 } else { 55 },
            L4::Tcp {
                sport: sp,
                dport: dp,
                seq,
                ack: ack.then_some(peer),
                syn,
                fin,
                payload: data,
            },
        )?;
        self.frames.push(f);
        let adv = data.len() as u32 + u32::from(syn) + u32::from(fin);
        if from_client {
            self.cseq = self.cseq.wrapping_add(adv);
        } else {
            self.sseq = self.sseq.wrapping_add(adv);
        }
        Ok(())
    }

    fn handshake(&mut self) -> Result<()> {
        self.seg(true, true, false, false, &[])?;
        self.seg(false, true, false, true, &[])?;
        self.seg(true, false, false, true, &[])
    }

    /// Sends `data` in MSS-sized segments; the peer ACKs every second one and the last.
    fn send(&mut self, from_client: bool, data: &[u8]) -> Result<()> {
        let chunks: Vec<&[u8]> = data.chunks(self.mss).collect();
        let n = chunks.len();
        for (i, c) in chunks.into_iter().enumerate() {
            self.seg(from_client, false, false, true, c)?;
            if i % 2 == 1 || i + 1 == n {
                self.seg(!from_client, false, false, true, &[])?;
            }
        }
        Ok(())
    }

    fn close(&mut self) -> Result<()> {
        self.seg(true, false, true, true, &[])?;
        self.seg(false, false, true, true, &[])?;
        self.seg(true, false, false, true, &[])
    }
}

fn udp_pair(
    encap: Encap,
    c: &Host,
    cp: u16,
    s: &Host,
    sp: u16,
    q: &[u8],
    a: &[u8],
) -> Result<Vec<Vec<u8>>> {
    Ok(vec![
        frame(
            encap,
            c,
            s,
            64,
            L4::Udp {
                sport: cp,
                dport: sp,
                payload: q,
            },
        )?,
        frame(
            encap,
            s,
            c,
            57,
            L4::Udp {
                sport: sp,
                dport: cp,
                payload: a,
            },
        )?,
    ])
}

fn tls_client_hello(r: &mut Rng, sni: &str) -> Vec<u8> {
    let mut ext = Vec::new();
    // server_name
    let name = sni.as_bytes();
    ext.extend_from_slice(&0u16.to_be_bytes());
    ext.extend_from_slice(&((name.len() + 5) as u16).to_be_bytes());
    ext.extend_from_slice(&((name.len() + 3) as u16).to_be_bytes());
    ext.push(0);
    ext.extend_from_slice(&(name.len() as u16).to_be_bytes());
    ext.extend_from_slice(name);
    // supported_versions (TLS 1.3, 1.2), and a padding-ish key_share blob
    ext.extend_from_slice(&[0x00, 0x2b, 0x00, 0x05, 0x04, 0x03, 0x04, 0x03, 0x03]);
    ext.extend_from_slice(&[0x00, 0x33, 0x00, 0x26, 0x00, 0x24, 0x00, 0x1d, 0x00, 0x20]);
    ext.extend((0..32).map(|_| r.next() as u8));
    let mut body = vec![0x03, 0x03];
    body.extend((0..32).map(|_| r.next() as u8));
    body.push(32);
    body.extend((0..32).map(|_| r.next() as u8));
    body.extend_from_slice(&[0x00, 0x06, 0x13, 0x01, 0x13, 0x02, 0xc0, 0x2f, 0x01, 0x00]);
    body.extend_from_slice(&(ext.len() as u16).to_be_bytes());
    body.extend_from_slice(&ext);
    let mut hs = vec![0x01, 0];
    hs.extend_from_slice(&(body.len() as u16).to_be_bytes());
    hs.extend_from_slice(&body);
    let mut rec = vec![0x16, 0x03, 0x01];
    rec.extend_from_slice(&(hs.len() as u16).to_be_bytes());
    rec.extend_from_slice(&hs);
    rec
}

/// TLS records of `n` bytes of application data (random bytes, as ciphertext looks).
fn tls_records(r: &mut Rng, ctx_fill: &[u8], n: usize, kind: u8) -> Vec<u8> {
    let mut out = Vec::with_capacity(n + n / 16_000 * 5 + 5);
    let mut left = n;
    let salt = r.next();
    while left > 0 {
        let len = left.min(16_384);
        out.extend_from_slice(&[kind, 0x03, 0x03]);
        out.extend_from_slice(&(len as u16).to_be_bytes());
        let start = (salt as usize) % (ctx_fill.len() - len);
        // Scramble the text filler so records look random and never match text rules.
        out.extend(
            ctx_fill[start..start + len]
                .iter()
                .enumerate()
                .map(|(i, b)| b ^ (i as u8).wrapping_mul(151) ^ (salt as u8)),
        );
        left -= len;
    }
    out
}

fn one_flow(ctx: &mut Ctx) -> Result<Vec<Vec<u8>>> {
    let v6 = ctx.rng.below(10) == 0;
    let encap = if ctx.rng.below(10) == 0 {
        Encap::Vlan(ctx.rng.range(2, 40) as u16)
    } else {
        Encap::Plain
    };
    let c = ctx.client(v6);
    let kind = ctx.rng.below(100);
    let name = format!("{}.{}", ctx.rng.pick(NAMES), ctx.rng.pick(DOMAINS));
    Ok(match kind {
        0..=49 => {
            let resolver = Host {
                mac: [0x02, 0x00, 0x5e, 0x10, 0x00, 0x35],
                ip: if v6 {
                    IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0x10, 0, 0, 0, 0, 0x53))
                } else {
                    IpAddr::V4(Ipv4Addr::new(10, 0, 0, 53 + (ctx.rng.below(4) as u8)))
                },
            };
            let id = ctx.rng.next() as u16;
            let (rt, rdata): (dns::RecordType, Vec<u8>) = if ctx.rng.below(3) == 0 {
                (
                    dns::RecordType::Aaaa,
                    (0..16).map(|_| ctx.rng.next() as u8).collect(),
                )
            } else {
                (
                    dns::RecordType::A,
                    (0..4).map(|_| ctx.rng.next() as u8).collect(),
                )
            };
            let q = dns::query(id, &name, rt);
            let a = dns::response(id, &name, rt, 300, &rdata);
            let cp = ctx.rng.range(1024, 65_535) as u16;
            udp_pair(encap, &c, cp, &resolver, 53, &q, &a)?
        }
        50..=66 => {
            let s = ctx.server(v6);
            let mut t = Tcp::new(ctx, encap, c, s, 80);
            t.handshake()?;
            let req = format!(
                "GET {} HTTP/1.1\r\nHost: {name}\r\nUser-Agent: {}\r\nAccept: */*\r\nAccept-Encoding: gzip, deflate\r\nConnection: keep-alive\r\n\r\n",
                ctx.rng.pick(PATHS),
                ctx.rng.pick(AGENTS)
            );
            t.send(true, req.as_bytes())?;
            let n = body_size(&mut ctx.rng);
            let mut resp = format!(
                "HTTP/1.1 200 OK\r\nServer: nginx/1.24.0\r\nDate: Tue, 14 Nov 2023 22:13:20 GMT\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {n}\r\nCache-Control: max-age=3600\r\n\r\n"
            )
            .into_bytes();
            resp.extend_from_slice(ctx.body(n));
            t.send(false, &resp)?;
            t.close()?;
            t.frames
        }
        67..=84 => {
            let s = ctx.server(v6);
            let mut t = Tcp::new(ctx, encap, c, s, 443);
            t.handshake()?;
            let hello = tls_client_hello(&mut ctx.rng, &name);
            t.send(true, &hello)?;
            let cert_len = ctx.rng.range(2_500, 4_500) as usize;
            let mut server = vec![
                0x16, 0x03, 0x03, 0x00, 0x5a, 0x02, 0x00, 0x00, 0x56, 0x03, 0x03,
            ];
            server.extend((0..86).map(|_| ctx.rng.next() as u8));
            server.extend(tls_records(&mut ctx.rng, &ctx.fill, cert_len, 0x17));
            t.send(false, &server)?;
            let n = ctx.rng.range(80, 900) as usize;
            let req = tls_records(&mut ctx.rng, &ctx.fill, n, 0x17);
            t.send(true, &req)?;
            let n = body_size(&mut ctx.rng);
            let resp = tls_records(&mut ctx.rng, &ctx.fill, n, 0x17);
            t.send(false, &resp)?;
            t.close()?;
            t.frames
        }
        85..=92 => {
            // A scan probe nobody answers (filtered port): SYN and one retransmission.
            let s = ctx.server(v6);
            let port = *ctx
                .rng
                .pick(&[22u16, 23, 445, 3389, 8080, 5900, 1433, 6379]);
            let mut t = Tcp::new(ctx, encap, s, c, port);
            t.seg(true, true, false, false, &[])?;
            t.cseq = t.cseq.wrapping_sub(1);
            t.seg(true, true, false, false, &[])?;
            t.frames
        }
        93..=95 => {
            let s = ctx.server(v6);
            let mut q = vec![0x23, 0, 6, 0xec];
            q.resize(48, 0);
            let mut a = vec![0x24, 2, 6, 0xec];
            a.extend((0..44).map(|_| ctx.rng.next() as u8));
            udp_pair(encap, &c, 123, &s, 123, &q, &a)?
        }
        96..=97 => {
            let s = ctx.server(v6);
            let id = ctx.rng.next() as u16;
            let payload: Vec<u8> = (0x10u8..0x38).collect();
            let mut out = Vec::new();
            for seq in 1..=4 {
                out.push(frame(
                    encap,
                    &c,
                    &s,
                    64,
                    L4::Echo {
                        reply: false,
                        id,
                        seq,
                        payload: &payload,
                    },
                )?);
                out.push(frame(
                    encap,
                    &s,
                    &c,
                    57,
                    L4::Echo {
                        reply: true,
                        id,
                        seq,
                        payload: &payload,
                    },
                )?);
            }
            out
        }
        _ => {
            let s = ctx.server(v6);
            let mut t = Tcp::new(ctx, encap, c, s, 22);
            t.handshake()?;
            t.send(false, b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u1\r\n")?;
            t.send(true, b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u1\r\n")?;
            for _ in 0..ctx.rng.range(10, 60) {
                let n = ctx.rng.range(36, 120) as usize;
                let keys = tls_records(&mut ctx.rng, &ctx.fill, n, 0x00);
                t.send(true, &keys)?;
                let n = ctx.rng.range(36, 400) as usize;
                let echo = tls_records(&mut ctx.rng, &ctx.fill, n, 0x00);
                t.send(false, &echo)?;
            }
            t.close()?;
            t.frames
        }
    })
}

/// Writes about `target_bytes` of traffic to `out`, starting at `start_micros`; returns the
/// stats and the packet clock at the end.
pub fn generate(
    out: &mut PcapOut,
    target_bytes: u64,
    seed: u64,
    start_micros: u64,
) -> Result<(GenStats, u64)> {
    const OPEN: usize = 512;
    let mut ctx = Ctx {
        rng: Rng::new(seed),
        fill: filler(),
        next_client: (seed as u32).wrapping_mul(2_654_435_761),
    };
    let mut stats = GenStats::default();
    let mut open: Vec<(Vec<Vec<u8>>, usize)> = Vec::with_capacity(OPEN);
    // Clock in nanoseconds: each frame takes its serialisation time at 1 Gbit/s (8 ns/byte,
    // plus 20 bytes of preamble and gap), so the capture looks like a busy gigabit link.
    let mut clock_ns = start_micros * 1_000;
    let mut written = 0u64;
    loop {
        while open.len() < OPEN && written < target_bytes {
            open.push((one_flow(&mut ctx)?, 0));
            stats.flows += 1;
        }
        if open.is_empty() {
            break;
        }
        let i = ctx.rng.below(open.len() as u64) as usize;
        let (frames, next) = &mut open[i];
        if let Some(f) = frames.get(*next) {
            clock_ns += (f.len() as u64 + 24) * 8;
            out.push(clock_ns / 1_000, f)?;
            written += f.len() as u64;
            stats.packets += 1;
            stats.bytes += f.len() as u64;
            *next += 1;
        }
        if *next >= frames.len() {
            open.swap_remove(i);
        }
    }
    Ok((stats, clock_ns / 1_000))
}

/// Writes `packets` minimum-size frames (60 bytes captured, 64 on the wire with the FCS):
/// UDP datagrams with an 18-byte payload over 4096 client/server pairs.
pub fn generate_small(out: &mut PcapOut, packets: u64, start_micros: u64) -> Result<()> {
    let mut rng = Rng::new(64);
    let mut ctx = Ctx {
        rng: Rng::new(65),
        fill: Vec::new(),
        next_client: 0,
    };
    let pairs: Vec<(Host, Host, u16)> = (0..4096)
        .map(|_| {
            let c = ctx.client(false);
            let s = ctx.server(false);
            (c, s, ctx.rng.range(1024, 65_535) as u16)
        })
        .collect();
    let mut clock_ns = start_micros * 1_000;
    for n in 0..packets {
        let (c, s, port) = &pairs[rng.below(pairs.len() as u64) as usize];
        let mut payload = [0u8; 18];
        payload[..8].copy_from_slice(&n.to_le_bytes());
        payload[8..16].copy_from_slice(&n.wrapping_mul(0x9e37_79b9_7f4a_7c15).to_le_bytes());
        let f = frame(
            Encap::Plain,
            c,
            s,
            64,
            L4::Udp {
                sport: *port,
                dport: 9_999,
                payload: &payload,
            },
        )?;
        clock_ns += 84 * 8;
        out.push(clock_ns / 1_000, &f)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flows_are_deterministic_and_parse() {
        let mut a = Ctx {
            rng: Rng::new(1),
            fill: filler(),
            next_client: 0,
        };
        let mut b = Ctx {
            rng: Rng::new(1),
            fill: filler(),
            next_client: 0,
        };
        for _ in 0..200 {
            let fa = one_flow(&mut a).unwrap();
            assert_eq!(fa, one_flow(&mut b).unwrap());
            for f in &fa {
                let p = etherparse::SlicedPacket::from_ethernet(f).unwrap();
                assert!(p.transport.is_some());
            }
        }
    }
}
