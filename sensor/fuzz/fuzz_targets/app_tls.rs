//! The TLS app-layer parser over arbitrary bytes: the input is cut into chunks for both
//! directions (each chunk: a direction bit and a length, then its bytes), optionally split
//! again into small segments. No panic; every inspection point's buffers and EVE object can
//! be produced, and the object is valid JSON.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sensor::app::tls::{TlsConfig, TlsParser};
use sensor::app::{AppParser, Buffers, Transaction};

fn check(tx: &dyn Transaction) {
    let mut bufs = Buffers::new();
    tx.buffers(&mut bufs);
    let mut out = b"{".to_vec();
    tx.write_eve(&mut out).unwrap();
    out.push(b'}');
    if let Err(e) = serde_json::from_slice::<serde_json::Value>(&out) {
        panic!("invalid EVE {e}: {}", String::from_utf8_lossy(&out));
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&cfg, mut rest)) = data.split_first() else {
        return;
    };
    let mut p = TlsParser::with_config(TlsConfig {
        ja3: cfg & 1 != 0,
        ja4: cfg & 2 != 0,
        session_resumption: cfg & 4 != 0,
    });
    let segment = usize::from(cfg >> 4);
    for round in 0..2 {
        let mut input = rest;
        while let Some((&op, tail)) = input.split_first() {
            let to_server = op & 0x80 == 0;
            let len = usize::from(op & 0x7f) * 8 + 1;
            let (chunk, tail) = tail.split_at(len.min(tail.len()));
            input = tail;
            if segment == 0 {
                p.parse(to_server, chunk, &mut |tx| check(tx));
            } else {
                for piece in chunk.chunks(segment) {
                    p.parse(to_server, piece, &mut |tx| check(tx));
                }
            }
            if op == 0x7f {
                p.gap(to_server, 10);
            }
        }
        p.end(&mut |tx| check(tx));
        let _ = p.counters();
        let _ = p.ja4();
        // Second round on the same (reset) parser: pooling must not leak state.
        p.reset();
        if round == 1 {
            rest = &[];
        }
    }
});
