//! A scripted MQTT 3.1.1 broker on a raw socket that acknowledges publishes
//! out of order, to exercise rumqttc's packet-id collision path and the
//! uplink's ack bookkeeping (which a well-behaved mosquitto never triggers).

// Test helpers outside #[test] fns are not covered by allow-unwrap-in-tests.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use uplink::{MqttConfig, Uplink};

fn read_packet(s: &mut TcpStream) -> Option<(u8, Vec<u8>)> {
    let mut b = [0u8; 1];
    s.read_exact(&mut b).ok()?;
    let kind = b[0];
    let (mut len, mut mult) = (0usize, 1usize);
    loop {
        s.read_exact(&mut b).ok()?;
        len += usize::from(b[0] & 0x7f) * mult;
        mult *= 128;
        if b[0] & 0x80 == 0 {
            break;
        }
    }
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).ok()?;
    Some((kind, body))
}

/// Accepts one connection at a time; acks QoS 1 publishes in reversed
/// batches of `batch`. Records every payload received.
fn reversing_broker(batch: usize, seen: Arc<Mutex<Vec<Vec<u8>>>>) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(mut s) = conn else { return };
            let _ = s.set_read_timeout(Some(Duration::from_millis(30)));
            let mut held: Vec<u16> = Vec::new();
            loop {
                match read_packet(&mut s) {
                    Some((k, _)) if k >> 4 == 1 => {
                        s.write_all(&[0x20, 0x02, 0x00, 0x00]).unwrap();
                    }
                    Some((k, body)) if k >> 4 == 3 => {
                        let tlen = usize::from(u16::from_be_bytes([body[0], body[1]]));
                        let pkid = u16::from_be_bytes([body[2 + tlen], body[3 + tlen]]);
                        seen.lock().unwrap().push(body[4 + tlen..].to_vec());
                        held.push(pkid);
                        if held.len() >= batch {
                            for p in held.drain(..).rev() {
                                let [hi, lo] = p.to_be_bytes();
                                s.write_all(&[0x40, 0x02, hi, lo]).unwrap();
                            }
                        }
                    }
                    Some((0xc0, _)) => s.write_all(&[0xd0, 0x00]).unwrap(),
                    Some((0xe0, _)) => break,
                    Some(_) => {}
                    None => {
                        // Idle (or closed): flush what is held, newest first.
                        for p in held.drain(..).rev() {
                            let [hi, lo] = p.to_be_bytes();
                            if s.write_all(&[0x40, 0x02, hi, lo]).is_err() {
                                break;
                            }
                        }
                        let mut probe = [0u8; 1];
                        if matches!(s.peek(&mut probe), Ok(0)) {
                            break;
                        }
                    }
                }
            }
        }
    });
    port
}

#[test]
fn out_of_order_acks_with_packet_id_collisions_are_counted_exactly() {
    const N: usize = 400;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let port = reversing_broker(3, Arc::clone(&seen));
    let mut cfg = MqttConfig::new(&format!("mqtt://127.0.0.1:{port}"), "sooo").unwrap();
    cfg.max_inflight = 4;
    let up = Uplink::start(cfg).unwrap();
    let tx = up.sender();
    for i in 0..N {
        tx.send("flow", i.to_string().into_bytes()).unwrap();
    }
    let r = up.finish(Duration::from_secs(20)).unwrap();
    eprintln!("{r}");
    assert_eq!(
        (r.accepted, r.acked, r.unacked),
        (N as u64, N as u64, 0),
        "{r}"
    );
    assert_eq!(r.anomalies, 0, "{r}");
    assert_eq!(r.disconnects, 0, "{r}");
    let seen = seen.lock().unwrap();
    let distinct: BTreeSet<usize> = seen
        .iter()
        .map(|p| std::str::from_utf8(p).unwrap().parse().unwrap())
        .collect();
    assert_eq!(distinct, (0..N).collect());
    assert_eq!(seen.len(), N, "no republish without a reconnect");
}
