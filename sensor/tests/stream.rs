//! TCP reassembly over real captures from Suricata's verification corpus: no panic, memory
//! given back, counters and reassembled bytes as Suricata's own test expectations imply.
//!
//! The corpus lives outside the repository (`../shared/corpus/suricata-verify`); without it
//! these tests skip with a message, unless `CI=true`, where its absence is a failure.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use etherparse::{NetSlice, SlicedPacket, TransportSlice};
use sensor::capture::PcapFile;
use sensor::decode::{LinkType, TcpFlags};
use sensor::stream::{Reassembler, StreamConfig, StreamCounters, TcpSegment, TcpStream};

fn corpus() -> Option<PathBuf> {
    let dir =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus/suricata-verify/tests");
    if dir.is_dir() {
        return Some(dir);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("suricata-verify corpus missing at {}", dir.display());
    }
    eprintln!("skipping: no suricata-verify corpus at {}", dir.display());
    None
}

type Endpoint = (IpAddr, u16);

/// One flow's reassembly state and what was delivered per direction.
#[derive(Default)]
struct Flow {
    client: Option<Endpoint>,
    stream: TcpStream,
    to_server: Vec<u8>,
    to_client: Vec<u8>,
}

struct Replay {
    counters: StreamCounters,
    /// Per flow, in order of first packet: (to_server bytes, to_client bytes).
    flows: Vec<(Vec<u8>, Vec<u8>)>,
    payload_bytes: u64,
}

fn drain(r: &mut Reassembler, f: &mut Flow) {
    while let Some(c) = r.next_chunk(&mut f.stream) {
        let out = if c.to_server {
            &mut f.to_server
        } else {
            &mut f.to_client
        };
        assert!(c.context().len() <= out.len());
        out.extend_from_slice(c.new_bytes());
    }
}

fn replay(pcap: &Path, cfg: StreamConfig) -> Replay {
    let mut r = Reassembler::new(cfg);
    let mut flows: HashMap<(Endpoint, Endpoint), Flow> = HashMap::new();
    let mut order = Vec::new();
    let mut payload_bytes = 0u64;
    let mut cap = PcapFile::open(pcap).expect("capture opens");
    while let Ok(Some(frame)) = cap.next_frame() {
        let sliced = match frame.link {
            LinkType::Ethernet => SlicedPacket::from_ethernet(frame.data),
            LinkType::RawIp => SlicedPacket::from_ip(frame.data),
            LinkType::LinuxSll => SlicedPacket::from_linux_sll(frame.data),
            LinkType::Null => SlicedPacket::from_ip(frame.data.get(4..).unwrap_or_default()),
            LinkType::Ppp | LinkType::LinuxSll2 => continue,
        };
        let Ok(p) = sliced else { continue };
        let (src, dst): (IpAddr, IpAddr) = match &p.net {
            Some(NetSlice::Ipv4(v4)) => (
                v4.header().source_addr().into(),
                v4.header().destination_addr().into(),
            ),
            Some(NetSlice::Ipv6(v6)) => (
                v6.header().source_addr().into(),
                v6.header().destination_addr().into(),
            ),
            _ => continue,
        };
        let Some(TransportSlice::Tcp(t)) = &p.transport else {
            continue;
        };
        let a = (src, t.source_port());
        let b = (dst, t.destination_port());
        let key = if a <= b { (a, b) } else { (b, a) };
        let flow = flows.entry(key).or_insert_with(|| {
            order.push(key);
            Flow::default()
        });
        // As the flow table does: the first packet's sender is the client, unless it is a
        // SYN/ACK.
        let client = *flow
            .client
            .get_or_insert(if t.syn() && t.ack() { b } else { a });
        let tfo = TcpSegment::fast_open_option(t.options());
        let seg = TcpSegment {
            seq: t.sequence_number(),
            ack: t.acknowledgment_number(),
            flags: TcpFlags {
                syn: t.syn(),
                ack: t.ack(),
                fin: t.fin(),
                rst: t.rst(),
                ..TcpFlags::default()
            },
            tfo,
            window: t.window_size(),
            payload: t.payload(),
        };
        payload_bytes += t.payload().len() as u64;
        r.on_segment(&mut flow.stream, a == client, &seg);
        drain(&mut r, flow);
    }
    let mut out = Vec::new();
    for key in order {
        let mut f = flows.remove(&key).expect("flow kept");
        r.flush(&mut f.stream);
        drain(&mut r, &mut f);
        r.release(&mut f.stream);
        out.push((f.to_server, f.to_client));
    }
    let counters = r.counters();
    assert_eq!(counters.chunks_in_use, 0, "{}", pcap.display());
    assert!(counters.bytes_delivered <= payload_bytes);
    Replay {
        counters,
        flows: out,
        payload_bytes,
    }
}

fn find(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len()).filter(|w| *w == needle).count()
}

#[test]
fn rst_with_data_is_not_stream_data() {
    let Some(dir) = corpus() else { return };
    for case in [
        "bug-6244-tcp-rst-with-data/tcp-rst-with-data.pcap",
        "bug-6244-tcp-rst-with-data-02/input.pcap",
    ] {
        let path = dir.join(case);
        if !path.exists() {
            continue;
        }
        let r = replay(&path, StreamConfig::default());
        assert_eq!(r.counters.sessions, 1, "{case}");
        assert_eq!(r.counters.rst_with_data, 1, "{case}");
        let (ts, tc) = &r.flows[0];
        assert_eq!(find(tc, b"Please Let Me In!"), 1, "{case}");
        assert_eq!(find(ts, b"Access Denied"), 0, "{case}");
    }
}

#[test]
fn exact_overlap_keeps_the_first_copy() {
    let Some(dir) = corpus() else { return };
    // GOOD then EVIL at the same sequence number: the stream says GOOD (Suricata's sid 2
    // alerts on the stream, sid 1 does not).
    let r = replay(
        &dir.join("eve-payload-01-tcp-exact-overlap/tcp-overlap.pcap"),
        StreamConfig::default(),
    );
    assert_eq!(r.flows[0].0, b"GOOD");
    assert_eq!((r.counters.overlap, r.counters.overlap_diff_data), (1, 1));
}

#[test]
fn midstream_pickup_only_when_enabled() {
    let Some(dir) = corpus() else { return };
    let path = dir.join("alert-testmyids-midstream/input.pcap");
    let off = replay(&path, StreamConfig::default());
    assert_eq!(off.counters.sessions, 0);
    assert_eq!(off.counters.not_tracked, off.counters.segments);
    assert_eq!(off.counters.bytes_delivered, 0);
    let on = replay(
        &path,
        StreamConfig {
            midstream: true,
            ..StreamConfig::default()
        },
    );
    assert_eq!(on.counters.midstream_pickups, 1);
    assert_eq!(on.counters.bytes_delivered, on.payload_bytes);
    let all: Vec<u8> = on
        .flows
        .iter()
        .flat_map(|f| [&f.0[..], &f.1[..]].concat())
        .collect();
    assert_eq!(find(&all, b"uid=0(root)"), 1);
}

#[test]
fn split_handshake_and_fast_open_are_reassembled() {
    let Some(dir) = corpus() else { return };
    let r = replay(
        &dir.join("tcp-split-handshake-01-4whs/split-handshake-4whs.pcap"),
        StreamConfig::default(),
    );
    assert_eq!(find(&r.flows[0].0, b"EVIL"), 1);
    // Second connection: SYN with 86 bytes of data and an experimental TFO option, acked
    // by the SYN/ACK; the HTTP request is in the stream.
    let r = replay(
        &dir.join("tcp-fastopen-01/tfo.pcap"),
        StreamConfig::default(),
    );
    assert_eq!(r.counters.invalid_handshake, 0);
    assert_eq!(r.counters.syn_data_ignored, 0);
    assert_eq!(r.counters.bytes_delivered, r.payload_bytes);
    assert_eq!(find(&r.flows[1].0, b"GET "), 1);
}

#[test]
fn rst_before_ack_flushes_without_a_gap() {
    let Some(dir) = corpus() else { return };
    // Server data with a hole, then the client's RST (acking only the part before the hole):
    // the data after the hole is inspected, and Suricata reports no reassembly gap.
    let r = replay(
        &dir.join("tcp-rst-unacked-stream-03-gap/input.pcap"),
        StreamConfig::default(),
    );
    assert_eq!(r.counters.reassembly_gap, 0);
    assert_eq!(r.counters.holes_flushed, 1);
    assert_eq!(find(&r.flows[0].1, b"Me In"), 1);
}

/// Every stream-related capture of the corpus: no panic, memory given back, delivered bytes
/// never exceed the payload seen, with and without midstream pickup.
#[test]
fn corpus_stream_captures_replay_cleanly() {
    let Some(dir) = corpus() else { return };
    let mut seen = 0;
    let mut entries: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("corpus readable")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for case in entries {
        let name = case.file_name().unwrap().to_string_lossy().to_string();
        if !["tcp", "stream", "bug-3286", "overlap"]
            .iter()
            .any(|k| name.contains(k))
        {
            continue;
        }
        let Ok(files) = std::fs::read_dir(&case) else {
            continue;
        };
        for f in files.filter_map(|e| e.ok().map(|e| e.path())) {
            if f.extension().is_some_and(|e| e == "pcap" || e == "pcapng") {
                for midstream in [false, true] {
                    let r = replay(
                        &f,
                        StreamConfig {
                            midstream,
                            ..StreamConfig::default()
                        },
                    );
                    eprintln!(
                        "{name} midstream={midstream}: payload {} delivered {} {:?}",
                        r.payload_bytes, r.counters.bytes_delivered, r.counters
                    );
                }
                seen += 1;
            }
        }
    }
    assert!(seen >= 10, "only {seen} stream captures found");
}

/// Classic pcap (Ethernet, microseconds) holding `frames`.
fn write_pcap(path: &Path, frames: &[Vec<u8>]) {
    let mut out = Vec::new();
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&[0; 8]);
    out.extend_from_slice(&65535u32.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes());
    for (i, f) in frames.iter().enumerate() {
        out.extend_from_slice(&(1_700_000_000u32 + i as u32).to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&(f.len() as u32).to_le_bytes());
        out.extend_from_slice(&(f.len() as u32).to_le_bytes());
        out.extend_from_slice(f);
    }
    std::fs::write(path, out).unwrap();
}

struct Tcp<'a> {
    client: bool,
    seq: u32,
    ack: Option<u32>,
    syn: bool,
    fin: bool,
    window: u16,
    options: &'a [u8],
    payload: &'a [u8],
}

fn frame(t: Tcp<'_>) -> Vec<u8> {
    let (src, dst, sp, dp) = if t.client {
        ([10, 0, 0, 1], [192, 0, 2, 1], 40000, 80)
    } else {
        ([192, 0, 2, 1], [10, 0, 0, 1], 80, 40000)
    };
    let mut b = etherparse::PacketBuilder::ethernet2([1; 6], [2; 6])
        .ipv4(src, dst, 64)
        .tcp(sp, dp, t.seq, t.window);
    if t.syn {
        b = b.syn();
    }
    if let Some(a) = t.ack {
        b = b.ack(a);
    }
    if t.fin {
        b = b.fin();
    }
    let b = b.options_raw(t.options).unwrap();
    let mut out = Vec::new();
    b.write(&mut out, t.payload).unwrap();
    out
}

/// A crafted capture: sequence numbers wrapping through 2^32, TCP Fast Open data on the SYN,
/// 40 bytes of options on every packet (the maximum), a zero window throughout, a segment
/// out of order and one duplicated.
#[test]
fn crafted_capture_wrap_fast_open_giant_options_zero_window() {
    const CISN: u32 = 0xffff_ff00;
    const SISN: u32 = 0xffff_ffff;
    let mut tfo_opts = vec![34u8, 10, 1, 2, 3, 4, 5, 6, 7, 8];
    tfo_opts.resize(40, 1);
    let mut sack_opts = vec![1u8, 1, 5, 34];
    sack_opts.extend((0..32).map(|i| i as u8));
    sack_opts.extend([1, 1, 1, 1]);
    assert_eq!(sack_opts.len(), 40);
    let msg: Vec<u8> = (0..1000u32).map(|i| b'a' + (i % 26) as u8).collect();
    let c = CISN.wrapping_add(1);
    let s = SISN.wrapping_add(1);
    let seg = |client, seq, ack, payload| {
        frame(Tcp {
            client,
            seq,
            ack: Some(ack),
            syn: false,
            fin: false,
            window: 0,
            options: &sack_opts,
            payload,
        })
    };
    let mut frames = vec![
        frame(Tcp {
            client: true,
            seq: CISN,
            ack: None,
            syn: true,
            fin: false,
            window: 0,
            options: &tfo_opts,
            payload: b"SYNDATA:",
        }),
        frame(Tcp {
            client: false,
            seq: SISN,
            ack: Some(c.wrapping_add(8)),
            syn: true,
            fin: false,
            window: 0,
            options: &tfo_opts,
            payload: b"",
        }),
        seg(true, c.wrapping_add(8), s, b""),
        // [300, 700) before [0, 300), then [700, 1000) twice.
        seg(true, c.wrapping_add(8 + 300), s, &msg[300..700]),
        seg(true, c.wrapping_add(8), s, &msg[..300]),
        seg(true, c.wrapping_add(8 + 700), s, &msg[700..]),
        seg(true, c.wrapping_add(8 + 700), s, &msg[700..]),
        seg(false, s, c.wrapping_add(1008), b"reply"),
    ];
    let mut fin = |client: bool, seq: u32, ack: u32| {
        frames.push(frame(Tcp {
            client,
            seq,
            ack: Some(ack),
            syn: false,
            fin: true,
            window: 0,
            options: &sack_opts,
            payload: b"",
        }))
    };
    fin(true, c.wrapping_add(1008), s.wrapping_add(5));
    fin(false, s.wrapping_add(5), c.wrapping_add(1009));
    frames.push(seg(true, c.wrapping_add(1009), s.wrapping_add(6), b""));

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crafted.pcap");
    write_pcap(&path, &frames);
    let r = replay(&path, StreamConfig::default());
    let mut want = b"SYNDATA:".to_vec();
    want.extend_from_slice(&msg);
    assert_eq!(r.flows.len(), 1);
    assert_eq!(r.flows[0].0, want);
    assert_eq!(r.flows[0].1, b"reply");
    let k = r.counters;
    assert_eq!((k.sessions, k.syn, k.synack), (1, 1, 1));
    assert_eq!((k.out_of_order, k.retransmissions, k.overlap), (1, 1, 1));
    assert_eq!(
        (k.overlap_diff_data, k.reassembly_gap, k.holes_flushed),
        (0, 0, 0)
    );
    assert_eq!((k.syn_data_ignored, k.invalid_handshake), (0, 0));
    // Everything once; the duplicate 300 bytes are not delivered again.
    assert_eq!(k.bytes_delivered, r.payload_bytes - 300);
}
