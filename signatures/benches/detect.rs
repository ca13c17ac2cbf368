//! Matching throughput with the whole ET Open rule set loaded (the sensor's options), over
//! L4 payloads taken from corpus captures, plus the time to load and compile the set.
//!
//! `cargo bench -p signatures --bench detect`. The captures are read by a tiny pcap/pcapng
//! reader below (Ethernet, 802.1Q, raw IP, Linux SLL; IPv4/IPv6; TCP/UDP/ICMP), so the crate
//! stays free of libpcap. Packets are fed as they are (no reassembly): every payload is
//! inspected as a packet, with flow direction guessed from the ports (lower port = server).

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use signatures::{DetectInput, FlowState, IpFields, RuleSet, RuleSetBuilder, TcpFields, Vars};

const ET_DIR: &str = "/work/shared/corpus/rules/et-open-suricata-5.0";
const CAPTURES: &[&str] = &[
    "/work/shared/corpus/pcaps/ndpi/1kxun.pcap",
    "/work/shared/corpus/pcaps/ndpi/netflix.pcap",
    "/work/shared/corpus/pcaps/ndpi/443-firefox.pcap",
    "/work/shared/corpus/pcaps/ndpi/gnutella.pcap",
    "/work/shared/corpus/pcaps/chrissanders-packets/http_espn.pcapng",
    "/work/shared/corpus/pcaps/chrissanders-packets/ek_to_cryptowall4.pcapng",
    "/work/shared/corpus/pcaps/chrissanders-packets/ratinfected.pcapng",
    "/work/shared/corpus/pcaps/chrissanders-packets/tcp_ports.pcapng",
];

/// One decoded packet, owning its payload.
struct Pkt {
    src: IpAddr,
    dst: IpAddr,
    sport: u16,
    dport: u16,
    proto: u8,
    ttl: u8,
    tcp_flags: u8,
    payload: Vec<u8>,
}

fn u16be(b: &[u8], i: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(i)?, *b.get(i + 1)?]))
}

fn rd32(b: &[u8], i: usize, le: bool) -> Option<u32> {
    let a: [u8; 4] = b.get(i..i + 4)?.try_into().ok()?;
    Some(if le {
        u32::from_le_bytes(a)
    } else {
        u32::from_be_bytes(a)
    })
}

/// Frames (link type, bytes) of a classic pcap or pcapng file.
fn frames(data: &[u8]) -> Vec<(u32, &[u8])> {
    let mut out = Vec::new();
    let Some(magic) = rd32(data, 0, true) else {
        return out;
    };
    match magic {
        0xa1b2_c3d4 | 0xd4c3_b2a1 | 0xa1b2_3c4d | 0x4d3c_b2a1 => {
            let le = magic == 0xa1b2_c3d4 || magic == 0xa1b2_3c4d;
            let link = rd32(data, 20, le).unwrap_or(1);
            let mut i = 24;
            while let Some(caplen) = rd32(data, i + 8, le) {
                let start = i + 16;
                let end = start + caplen as usize;
                let Some(f) = data.get(start..end) else { break };
                out.push((link, f));
                i = end;
            }
        }
        0x0a0d_0d0a => {
            let mut links = Vec::new();
            let mut le = true;
            let mut i = 0;
            while i + 12 <= data.len() {
                let Some(bt) = rd32(data, i, le) else { break };
                if bt == 0x0a0d_0d0a {
                    le = rd32(data, i + 8, true) == Some(0x1a2b_3c4d);
                }
                let Some(len) = rd32(data, i + 4, le) else {
                    break;
                };
                let len = len as usize;
                if len < 12 || i + len > data.len() {
                    break;
                }
                let body = &data[i + 8..i + len - 4];
                match bt {
                    1 => links.push(u32::from(u16::from_le_bytes([body[0], body[1]]))),
                    6 => {
                        let iface = rd32(body, 0, le).unwrap_or(0) as usize;
                        let cap = rd32(body, 12, le).unwrap_or(0) as usize;
                        if let Some(f) = body.get(20..20 + cap) {
                            out.push((links.get(iface).copied().unwrap_or(1), f));
                        }
                    }
                    3 => {
                        let cap = body.len().saturating_sub(4);
                        if let Some(f) = body.get(4..4 + cap) {
                            out.push((links.first().copied().unwrap_or(1), f));
                        }
                    }
                    _ => {}
                }
                i += len;
            }
        }
        _ => {}
    }
    out
}

fn decode(link: u32, f: &[u8]) -> Option<Pkt> {
    let (mut ethertype, mut off) = match link {
        1 => (u16be(f, 12)?, 14),
        101 | 12 | 14 => (if f.first()? >> 4 == 6 { 0x86dd } else { 0x0800 }, 0),
        113 => (u16be(f, 14)?, 16),
        _ => return None,
    };
    while ethertype == 0x8100 || ethertype == 0x88a8 {
        ethertype = u16be(f, off + 2)?;
        off += 4;
    }
    let ip = f.get(off..)?;
    let (src, dst, proto, ttl, l4) = match ethertype {
        0x0800 => {
            let ihl = usize::from(ip.first()? & 0x0f) * 4;
            let total = usize::from(u16be(ip, 2)?).min(ip.len());
            let s: [u8; 4] = ip.get(12..16)?.try_into().ok()?;
            let d: [u8; 4] = ip.get(16..20)?.try_into().ok()?;
            (
                IpAddr::from(s),
                IpAddr::from(d),
                *ip.get(9)?,
                *ip.get(8)?,
                ip.get(ihl..total)?,
            )
        }
        0x86dd => {
            let s: [u8; 16] = ip.get(8..24)?.try_into().ok()?;
            let d: [u8; 16] = ip.get(24..40)?.try_into().ok()?;
            let plen = usize::from(u16be(ip, 4)?);
            (
                IpAddr::from(s),
                IpAddr::from(d),
                *ip.get(6)?,
                *ip.get(7)?,
                ip.get(40..(40 + plen).min(ip.len()))?,
            )
        }
        _ => return None,
    };
    let (sport, dport, flags, payload) = match proto {
        6 => {
            let doff = usize::from(l4.get(12)? >> 4) * 4;
            (u16be(l4, 0)?, u16be(l4, 2)?, *l4.get(13)?, l4.get(doff..)?)
        }
        17 => (u16be(l4, 0)?, u16be(l4, 2)?, 0, l4.get(8..)?),
        1 | 58 => (0, 0, 0, l4.get(8..).unwrap_or(&[])),
        _ => (0, 0, 0, l4),
    };
    Some(Pkt {
        src,
        dst,
        sport,
        dport,
        proto,
        ttl,
        tcp_flags: flags,
        payload: payload.to_vec(),
    })
}

fn packets() -> Vec<Pkt> {
    let mut out = Vec::new();
    for c in CAPTURES {
        let Ok(data) = std::fs::read(c) else { continue };
        out.extend(frames(&data).into_iter().filter_map(|(l, f)| decode(l, f)));
    }
    out
}

fn load() -> RuleSet {
    let mut b = RuleSetBuilder::new(Vars::suricata_defaults());
    b.enable_byte_keywords(true).enable_extra_protocols(true);
    b.add_path(Path::new(ET_DIR)).expect("ET Open rules");
    b.build().0
}

fn bench(c: &mut Criterion) {
    if !Path::new(ET_DIR).exists() {
        eprintln!("skipping: {ET_DIR} missing");
        return;
    }
    let pkts = packets();
    let bytes: usize = pkts.iter().map(|p| p.payload.len()).sum();
    let with_payload = pkts.iter().filter(|p| !p.payload.is_empty()).count();
    eprintln!(
        "{} packets ({with_payload} with payload), {bytes} payload bytes",
        pkts.len()
    );
    let mut g = c.benchmark_group("et_open");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    g.bench_function("load_and_compile", |b| b.iter(load));
    let rules = load();
    let inputs: Vec<DetectInput<'_>> = pkts
        .iter()
        .map(|p| {
            DetectInput::new(
                p.src,
                p.dst,
                p.sport,
                p.dport,
                p.proto,
                &p.payload,
                FlowState {
                    to_server: p.dport < p.sport,
                    established: true,
                    tracked: true,
                },
            )
            .with_ip(
                IpFields {
                    version: if p.src.is_ipv4() { 4 } else { 6 },
                    ttl: p.ttl,
                    ..IpFields::default()
                },
                &[],
            )
            .with_tcp(TcpFields {
                flags: p.tcp_flags,
                ..TcpFields::default()
            })
        })
        .collect();
    let mut scratch = rules.scratch();
    let mut alerts = 0u64;
    for i in &inputs {
        rules.detect(i, &mut scratch, |_| alerts += 1);
    }
    eprintln!("{} active rules; {alerts} alerts per pass", rules.len());
    g.throughput(Throughput::Bytes(bytes as u64));
    g.bench_function("detect_corpus_packets", |b| {
        b.iter(|| {
            let mut n = 0u64;
            for i in &inputs {
                rules.detect(i, &mut scratch, |_| n += 1);
            }
            n
        })
    });
    g.throughput(Throughput::Elements(inputs.len() as u64));
    g.bench_function("detect_corpus_packets_per_packet", |b| {
        b.iter(|| {
            for i in &inputs {
                rules.detect(i, &mut scratch, |_| {});
            }
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
