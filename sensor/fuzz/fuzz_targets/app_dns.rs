//! Arbitrary bytes through the DNS parser: as UDP datagrams in both directions, and as a TCP
//! stream cut into segments at points taken from the input, with and without a gap.
//! Checks: no panic; every record written is valid JSON; every `dns.query` buffer is
//! non-empty; a TCP stream gives the same transactions however it is segmented.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sensor::app::dns::{probe, probe_tcp, DnsParser};
use sensor::app::{AppParser, Buffers, Transaction};

fn record(tx: &dyn Transaction) -> Vec<u8> {
    let mut eve = b"{".to_vec();
    tx.write_eve(&mut eve).expect("write to a Vec");
    eve.push(b'}');
    if tx.log() {
        serde_json::from_slice::<serde_json::Value>(&eve).expect("valid JSON");
    }
    let mut bufs = Buffers::new();
    tx.buffers(&mut bufs);
    for b in &bufs {
        assert!(!b.data.is_empty());
        eve.extend_from_slice(b.data);
    }
    eve.push(u8::from(tx.to_server()));
    eve
}

fn run_tcp(segments: &[(bool, &[u8])], gap_at: Option<usize>) -> (Vec<Vec<u8>>, u64) {
    let mut p = DnsParser::tcp();
    let mut out = Vec::new();
    for (i, (to_server, seg)) in segments.iter().enumerate() {
        if gap_at == Some(i) {
            p.gap(*to_server, 10);
        }
        p.parse(*to_server, seg, &mut |tx| out.push(record(tx)));
    }
    p.end(&mut |tx| out.push(record(tx)));
    (out, p.counters().parse_errors)
}

fuzz_target!(|data: &[u8]| {
    let _ = probe(true, data);
    let _ = probe_tcp(false, data);
    let mut u = DnsParser::udp();
    let mut n = 0usize;
    u.parse(true, data, &mut |tx| n += record(tx).len());
    u.parse(false, data, &mut |tx| n += record(tx).len());
    u.reset();

    // First byte: how many cuts; then two bytes per cut. The rest is a client stream
    // followed, after the midpoint, by a server stream.
    let Some((&ncuts, rest)) = data.split_first() else {
        return;
    };
    let ncuts = usize::from(ncuts % 16);
    let (cut_bytes, stream) = rest.split_at((2 * ncuts).min(rest.len()));
    let mid = stream.len() / 2;
    let (client, server) = stream.split_at(mid);
    let whole = [(true, client), (false, server)];
    let (want, want_errors) = run_tcp(&whole, None);

    let mut cuts: Vec<usize> = cut_bytes
        .chunks(2)
        .map(|c| usize::from(u16::from_le_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .collect();
    let mut segs: Vec<(bool, &[u8])> = Vec::new();
    for (to_server, s) in whole {
        let mut at = 0;
        let mut cs: Vec<usize> = cuts
            .drain(..cuts.len() / 2)
            .map(|c| c % (s.len() + 1))
            .collect();
        cs.sort_unstable();
        for c in cs.into_iter().chain([s.len()]) {
            segs.push((to_server, &s[at..c]));
            at = c;
        }
    }
    let (got, got_errors) = run_tcp(&segs, None);
    assert_eq!(got, want, "segmentation changed the transactions");
    assert_eq!(got_errors, want_errors);
    let _ = run_tcp(&segs, Some(segs.len() / 2));
});
